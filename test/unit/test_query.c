/* The query module: sorting, filtering, paging and totals over real engine state. */
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "query/query_json.h"
#include "check.h"
#include "packet_builder.h"

static struct engine *engine_with_hosts(int n)
{
    struct engine_config c;
    char err[256];
    engine_config_defaults(&c);
    struct engine *e = engine_create(&c, err, sizeof err);
    if (!e)
        return NULL;
    engine_add_source(e, "q", "file");
    /* Host 10.0.0.i sends i packets to 203.0.113.1 port 1000+i. */
    for (int i = 1; i <= n; i++) {
        char src[32];
        snprintf(src, sizeof src, "10.0.0.%d", i);
        for (int k = 0; k < i; k++) {
            struct pb p;
            pb_init(&p);
            pb_ethernet(&p, 0x0800);
            pb_ipv4(&p, src, "203.0.113.1", 17);
            pb_udp(&p, (uint16_t)(1000 + i), 9999);
            pb_bytes(&p, "x", 1);
            pb_finish(&p);
            engine_process_packet(e, 0, DLT_EN10MB, 1700000000000000ull + (uint64_t)i * 1000,
                                  p.buf, (uint32_t)p.len, (uint32_t)p.len);
        }
    }
    return e;
}

static const char *host_ip(const struct query_page *page, size_t i, char *buf)
{
    const struct host *h = page->items[i];
    query_address_text(h->key.ip_version, h->key.addr, buf, 64);
    return buf;
}

TEST(query_hosts_sorted_paged_with_total)
{
    struct engine *e = engine_with_hosts(30);
    CHECK(e != NULL);
    if (!e)
        return;
    struct host_query q;
    struct query_page page;
    char ip[64];
    host_query_init(&q);
    q.locality = HOST_LOCAL;
    q.limit = 5;
    CHECK(query_hosts(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 30);
    CHECK_EQ_U(page.count, 5);
    CHECK(strcmp(host_ip(&page, 0, ip), "10.0.0.30") == 0); /* most bytes first */
    CHECK(strcmp(host_ip(&page, 4, ip), "10.0.0.26") == 0);
    query_page_free(&page);

    q.offset = 28;
    CHECK(query_hosts(e, &q, &page) == 0);
    CHECK_EQ_U(page.count, 2);
    CHECK(strcmp(host_ip(&page, 1, ip), "10.0.0.1") == 0);
    query_page_free(&page);

    q.offset = 0;
    q.order = QUERY_ASC;
    q.sort = HOST_SORT_PACKETS;
    CHECK(query_hosts(e, &q, &page) == 0);
    CHECK(strcmp(host_ip(&page, 0, ip), "10.0.0.1") == 0);
    query_page_free(&page);

    q.offset = 100; /* past the end: an empty page, the total still right */
    CHECK(query_hosts(e, &q, &page) == 0);
    CHECK_EQ_U(page.count, 0);
    CHECK_EQ_U(page.total, 30);
    query_page_free(&page);
    engine_destroy(e);
}

TEST(query_hosts_filters_locality_and_text)
{
    struct engine *e = engine_with_hosts(12);
    if (!e)
        return;
    struct host_query q;
    struct query_page page;
    host_query_init(&q);
    q.locality = HOST_REMOTE;
    CHECK(query_hosts(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 1);
    query_page_free(&page);
    host_query_init(&q);
    q.text = "10.0.0.1";
    CHECK(query_hosts(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 4); /* .1, .10, .11, .12 */
    query_page_free(&page);
    engine_destroy(e);
}

TEST(query_flows_filters_and_json)
{
    struct engine *e = engine_with_hosts(10);
    if (!e)
        return;
    struct flow_query q;
    struct query_page page;
    flow_query_init(&q);
    CHECK(query_flows(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 10);
    const struct flow *top = page.items[0];
    CHECK_EQ_U(top->packets[0], 10);
    query_page_free(&page);

    flow_query_init(&q);
    q.port = 1003;
    CHECK(query_flows(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 1);
    query_page_free(&page);

    flow_query_init(&q);
    q.l4_proto = 6;
    CHECK(query_flows(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 0);
    query_page_free(&page);

    flow_query_init(&q);
    q.has_host = true;
    q.host_version = 4;
    inet_pton(AF_INET, "10.0.0.7", q.host_addr);
    CHECK(query_flows(e, &q, &page) == 0);
    CHECK_EQ_U(page.total, 1);
    if (page.count == 1) {
        cJSON *j = query_flow_json(e, NULL, page.items[0]);
        cJSON *client = cJSON_GetObjectItem(j, "client");
        CHECK(strcmp(cJSON_GetObjectItem(client, "ip")->valuestring, "10.0.0.7") == 0);
        CHECK(cJSON_GetObjectItem(client, "port")->valueint == 1007);
        CHECK(strcmp(cJSON_GetObjectItem(j, "protocol")->valuestring, "UDP") == 0);
        CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "client_to_server"), "packets")->valueint == 7);
        cJSON_Delete(j);
    }
    query_page_free(&page);

    enum flow_sort fs;
    enum host_sort hs;
    CHECK(query_flow_sort_parse("last_seen", &fs) == 0 && fs == FLOW_SORT_LAST_SEEN);
    CHECK(query_flow_sort_parse("nope", &fs) < 0);
    CHECK(query_host_sort_parse("flows", &hs) == 0 && hs == HOST_SORT_FLOWS);

    struct l7_row *rows;
    int n = query_l7(e, &rows);
    CHECK(n >= 0);
    free(rows);

    cJSON *status = query_status_json(e);
    cJSON *caps = cJSON_GetObjectItem(status, "caps");
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "flows"), "used")->valueint == 10);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "hosts"), "refused")->valueint == 0);
    cJSON_Delete(status);
    engine_destroy(e);
}
