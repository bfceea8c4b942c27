/* What detection finds besides the protocol (issue 13): the string pool the texts live in, the
 * fields flows keep after their detection state is freed, the hosts' risks and remote hosts'
 * L7 breakdown, on real captures. */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "flow/engine.h"
#include "flow/oui.h"
#include "flow/string_pool.h"
#include "query/query.h"
#include "query/query_json.h"

TEST(string_pool_interns_refcounts_and_caps)
{
    struct string_pool p;
    CHECK(string_pool_init(&p, 3, 1 << 20) == 0);
    uint32_t a = string_pool_intern(&p, "example.com", 11, 255);
    uint32_t b = string_pool_intern(&p, "example.com", 11, 255);
    CHECK(a != 0 && a == b && p.count == 1);
    CHECK(strcmp(string_pool_text(&p, a), "example.com") == 0);
    CHECK(string_pool_intern(&p, "", 0, 255) == 0);
    uint32_t c = string_pool_intern(&p, "two", 3, 255);
    uint32_t d = string_pool_intern(&p, "three", 5, 255);
    CHECK(c && d && p.count == 3);
    CHECK(string_pool_intern(&p, "four", 4, 255) == 0 && p.refused == 1); /* the count cap */
    string_pool_release(&p, a);
    CHECK(p.count == 3); /* b still holds it */
    string_pool_release(&p, b);
    CHECK(p.count == 2 && strcmp(string_pool_text(&p, a), "") == 0);
    uint32_t e = string_pool_intern(&p, "four", 4, 255); /* the freed id is reused */
    CHECK(e == a && strcmp(string_pool_text(&p, e), "four") == 0);
    string_pool_release(&p, c);
    string_pool_release(&p, d);
    string_pool_release(&p, e);
    CHECK(p.count == 0 && p.bytes == 0);
    string_pool_fini(&p);

    /* the byte budget refuses too */
    CHECK(string_pool_init(&p, 100, 64) == 0);
    CHECK(string_pool_intern(&p, "0123456789012345678901234567890123456789", 40, 255) != 0);
    CHECK(string_pool_intern(&p, "abcdefghijabcdefghijabcdefghij", 30, 255) == 0);
    CHECK(p.refused == 1);
    string_pool_fini(&p);
}

TEST(string_pool_keeps_text_printable_and_bounded)
{
    struct string_pool p;
    CHECK(string_pool_init(&p, 16, 1 << 16) == 0);
    const char ctl[] = "a\x01" "b\nc\x7f";
    CHECK(strcmp(string_pool_text(&p, string_pool_intern(&p, ctl, sizeof ctl - 1, 255)),
                 "a?b?c?") == 0);
    const char bad_utf8[] = "x\xc3(y\xed\xa0\x80z"; /* a broken pair, a surrogate */
    CHECK(strcmp(string_pool_text(&p, string_pool_intern(&p, bad_utf8, sizeof bad_utf8 - 1, 255)),
                 "x?(y???z") == 0);
    const char good[] = "caf\xc3\xa9.example";
    CHECK(strcmp(string_pool_text(&p, string_pool_intern(&p, good, sizeof good - 1, 255)), good) ==
          0);
    /* cut at a character boundary: "caf" + "é" would pass 4 bytes */
    CHECK(strcmp(string_pool_text(&p, string_pool_intern(&p, good, sizeof good - 1, 4)), "caf") ==
          0);
    /* an embedded NUL ends the text */
    CHECK(strcmp(string_pool_text(&p, string_pool_intern(&p, "ab\0cd", 5, 255)), "ab") == 0);
    /* markup stays text: escaping is the JSON writer's and the page's job */
    uint32_t s = string_pool_intern(&p, "<script>x</script>", 18, 255);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "host_name", string_pool_text(&p, s));
    char *json = cJSON_PrintUnformatted(o);
    cJSON *back = cJSON_Parse(json);
    CHECK(back && strcmp(cJSON_GetObjectItem(back, "host_name")->valuestring,
                         "<script>x</script>") == 0);
    cJSON_Delete(back);
    cJSON_free(json);
    cJSON_Delete(o);
    string_pool_fini(&p);
}

struct seen_flows {
    cJSON *flows; /* every ended flow, as --flows-out writes it */
};

static void keep_flow(void *ctx, const struct engine *e, const struct flow *f)
{
    struct seen_flows *s = ctx;
    cJSON_AddItemToArray(s->flows, query_flow_json(e, NULL, f));
}

static struct engine *run_capture(const char *name, struct seen_flows *seen)
{
    const char *dir = test_pcap_dir();
    if (!dir)
        return NULL;
    char path[1024], err[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    pcap_t *p = pcap_open_offline(path, err);
    if (!p)
        return NULL;
    struct engine_config c;
    engine_config_defaults(&c);
    char why[256];
    struct engine *e = engine_create(&c, why, sizeof why);
    if (!e) {
        pcap_close(p);
        return NULL;
    }
    unsigned src = (unsigned)engine_add_source(e, name, "file");
    seen->flows = cJSON_CreateArray();
    engine_set_flow_end(e, keep_flow, seen);
    struct pcap_pkthdr *h;
    const u_char *data;
    while (pcap_next_ex(p, &h, &data) == 1)
        engine_process_packet(e, src, pcap_datalink(p),
                              (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec, data,
                              h->caplen, h->len);
    pcap_close(p);
    engine_sync(e);
    return e;
}

static const cJSON *flow_to_port(const cJSON *flows, int server_port)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, flows)
    {
        const cJSON *server = cJSON_GetObjectItem(f, "server");
        if (cJSON_GetObjectItem(server, "port")->valueint == server_port)
            return f;
    }
    return NULL;
}

static bool has_string(const cJSON *array, const char *s)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, array) if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0) return true;
    return false;
}

static const char *text_of(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(x) ? x->valuestring : "";
}

TEST(engine_keeps_tls_names_fingerprints_and_risks)
{
    struct seen_flows seen = {0};
    struct engine *e = run_capture("tls-rdn-extract.pcap", &seen);
    if (!e) {
        test_skip("../shared/pcaps not present");
        return;
    }
    /* the hosts hold the flow's risks while it is alive: look before the flows end */
    struct host_key k;
    uint8_t client[16] = {10, 0, 0, 1}, server[16] = {213, 199, 149, 251};
    host_key_make(&k, 0, 4, client);
    const struct host *hc = host_table_find(&e->hosts, &k);
    host_key_make(&k, 0, 4, server);
    const struct host *hs = host_table_find(&e->hosts, &k);
    engine_expire_all(e);
    const cJSON *f = flow_to_port(seen.flows, 443);
    CHECK(f != NULL);
    CHECK(strcmp(text_of(f, "host_name"), "ads1.msads.net") == 0);
    CHECK(strcmp(text_of(f, "ja3c"), "2201d8e006f8f005a6b415f61e677532") == 0);
    CHECK(strcmp(text_of(f, "ja3s"), "18e962e106761869a61045bed0e81c2c") == 0);
    CHECK(has_string(cJSON_GetObjectItem(f, "risks"), "Weak TLS Cipher"));
    CHECK(cJSON_GetObjectItem(f, "risk_score")->valueint >= 100);
    CHECK(hc && hc->risky_flows == 1 && hc->risk_used >= 2 && hc->risk_score >= 100);
    /* the remote server keeps an L7 breakdown too (issue 13: remote hosts) */
    CHECK(hs && !hs->local && hs->l7 && hs->l7_used == 1 && hs->l7_slots == HOST_L7_SLOTS_REMOTE);
    CHECK(e->strings.count == 0); /* every flow ended: every text released */
    cJSON_Delete(seen.flows);
    engine_destroy(e);
}

TEST(engine_keeps_http_and_dns_fields)
{
    struct seen_flows seen = {0};
    struct engine *e = run_capture("http-manipulated.pcap", &seen);
    if (!e) {
        test_skip("../shared/pcaps not present");
        return;
    }
    engine_expire_all(e);
    const cJSON *f = cJSON_GetArrayItem(seen.flows, 1);
    CHECK(strcmp(text_of(f, "host_name"), "www.lan") == 0);
    CHECK(strcmp(text_of(f, "url"), "www.lan:8080/aaaaaaaaaaaaaaaaaaaaaaaa_very_long_uri") == 0);
    CHECK(strncmp(text_of(f, "user_agent"), "Mozilla/5.0 (X11; Linux x86_64", 30) == 0);
    CHECK(cJSON_GetObjectItem(f, "http_status")->valueint == 200);
    CHECK(has_string(cJSON_GetObjectItem(f, "risks"), "Known Protocol on Non Standard Port"));
    cJSON_Delete(seen.flows);
    engine_destroy(e);

    e = run_capture("dns_long_domainname.pcap", &seen);
    CHECK(e != NULL);
    if (!e)
        return;
    engine_expire_all(e);
    f = cJSON_GetArrayItem(seen.flows, 0);
    CHECK(strcmp(text_of(f, "host_name"), "gmr02c.16.0.fhkfhsdkfhsk.tunnel.example.com") == 0);
    CHECK(strcmp(text_of(f, "dns_qtype"), "A") == 0);
    CHECK(strcmp(text_of(f, "dns_rcode"), "NXDOMAIN") == 0);
    cJSON_Delete(seen.flows);
    engine_destroy(e);
}

TEST(engine_url_risks_come_from_the_url)
{
    /* nDPI leaves the URL's query to its caller (ndpi_validate_url): SQL injection */
    struct seen_flows seen = {0};
    struct engine *e = run_capture("WebattackSQLinj.pcap", &seen);
    if (!e) {
        test_skip("../shared/pcaps not present");
        return;
    }
    engine_expire_all(e);
    int sqli = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, seen.flows) sqli += has_string(cJSON_GetObjectItem(f, "risks"), "SQL Injection");
    CHECK(sqli >= 7);
    cJSON_Delete(seen.flows);
    engine_destroy(e);
}

TEST(engine_names_hosts_from_dns_answers_and_sni)
{
    struct seen_flows seen = {0};
    struct engine *e = run_capture("dns_ambiguous_names.pcap", &seen);
    if (!e) {
        test_skip("../shared/pcaps not present");
        return;
    }
    /* ndpiReader: android.clients.google.com answered with 108.177.14.101 */
    struct host_key k;
    uint8_t addr[16] = {108, 177, 14, 101};
    host_key_make(&k, 0, 4, addr);
    const struct name_entry *n = name_table_lookup(&e->names, &k, e->now_us);
    CHECK(n && strcmp(n->name, "android.clients.google.com") == 0 &&
          n->source == NAME_SOURCE_DNS);
    CHECK(e->dns_responses > 0 && e->dns_answers_learned > 0);
    cJSON *status = query_status_json(e);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(status, "names"), "count")->valueint > 0);
    cJSON_Delete(status);
    engine_expire_all(e);
    cJSON_Delete(seen.flows);
    engine_destroy(e);

    /* TLS: the server is named by the client's SNI, and the hosts search matches names */
    e = run_capture("tls-rdn-extract.pcap", &seen);
    CHECK(e != NULL);
    if (!e)
        return;
    engine_expire_all(e); /* names are learned when detection ends */
    uint8_t server[16] = {213, 199, 149, 251};
    host_key_make(&k, 0, 4, server);
    n = name_table_lookup(&e->names, &k, e->now_us);
    CHECK(n && strcmp(n->name, "ads1.msads.net") == 0 && n->source == NAME_SOURCE_TLS_SNI);
    struct host_query q;
    host_query_init(&q);
    q.text = "msads";
    struct query_page page;
    CHECK(query_hosts(e, &q, &page) == 0 && page.total == 1);
    query_page_free(&page);
    cJSON_Delete(seen.flows);
    engine_destroy(e);
}

TEST(oui_loads_wireshark_manuf_and_looks_up)
{
    char path[] = "/tmp/tapbox-oui-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char text[] = "# comment\n\n"
                        "00:00:0C\tCisco\tCisco Systems, Inc\n"
                        "00:1B:C5:00:00:00/36\tConvergi\tConverging Systems Inc.\n"
                        "not a line\n"
                        "AC:DE:48\tPrivate\n"          /* no long name: the short one */
                        "00:00:0C\tDup\tDuplicate\n"   /* the first line wins */
                        "FC-FB-FB\tCisco\tCisco Systems, Inc \r\n";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    struct oui_table t;
    CHECK(oui_load(&t, path) == 0);
    unlink(path);
    CHECK_EQ_U(t.count, 3);
    CHECK_EQ_U(t.bad_lines, 1);
    const uint8_t cisco[6] = {0x00, 0x00, 0x0c, 1, 2, 3}, priv[6] = {0xac, 0xde, 0x48, 0, 0, 1},
                  dash[6] = {0xfc, 0xfb, 0xfb, 9, 9, 9}, none[6] = {0x00, 0x1b, 0xc5, 0, 0, 1};
    CHECK(oui_vendor(&t, cisco) && strcmp(oui_vendor(&t, cisco), "Cisco Systems, Inc") == 0);
    CHECK(oui_vendor(&t, priv) && strcmp(oui_vendor(&t, priv), "Private") == 0);
    CHECK(oui_vendor(&t, dash) && strcmp(oui_vendor(&t, dash), "Cisco Systems, Inc") == 0);
    CHECK(oui_vendor(&t, none) == NULL);
    oui_free(&t);
    CHECK(oui_load(&t, "/nonexistent/manuf") < 0 && t.count == 0 && oui_vendor(&t, cisco) == NULL);
    if (oui_load(&t, OUI_DEFAULT_FILE) == 0) { /* Debian's wireshark-common */
        CHECK(t.count > 10000);
        CHECK(oui_vendor(&t, cisco) != NULL);
        oui_free(&t);
    }
}

TEST(engine_keeps_the_mac_of_local_hosts)
{
    struct seen_flows seen = {0};
    struct engine *e = run_capture("1kxun.pcap", &seen);
    if (!e) {
        test_skip("../shared/pcaps not present");
        return;
    }
    /* the MAC of 192.168.115.8's first frame, read straight from the file */
    char path[1024], err[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/1kxun.pcap", test_pcap_dir());
    pcap_t *p = pcap_open_offline(path, err);
    struct pcap_pkthdr *h;
    const u_char *data;
    uint8_t want[6] = {0}, ip[16] = {192, 168, 115, 8};
    while (p && pcap_next_ex(p, &h, &data) == 1)
        if (h->caplen >= 34 && data[12] == 0x08 && data[13] == 0 && memcmp(data + 26, ip, 4) == 0) {
            memcpy(want, data + 6, 6);
            break;
        }
    if (p)
        pcap_close(p);
    struct host_key k;
    host_key_make(&k, 0, 4, ip);
    const struct host *host = host_table_find(&e->hosts, &k);
    CHECK(host && host->local && host->has_mac && memcmp(host->mac, want, 6) == 0);
    CHECK(host && host->mac_changes == 0 && host->mac_first_us <= host->mac_last_us);
    cJSON *j = host ? query_host_json(e, host) : NULL;
    CHECK(j && cJSON_IsString(cJSON_GetObjectItem(j, "mac")));
    cJSON_Delete(j);
    /* remote hosts keep none: their frames carry a router's MAC */
    uint8_t remote[16] = {106, 185, 35, 110};
    host_key_make(&k, 0, 4, remote);
    host = host_table_find(&e->hosts, &k);
    CHECK(host && !host->has_mac);
    engine_expire_all(e);
    cJSON_Delete(seen.flows);
    engine_destroy(e);
}

static const struct engine_host_record *record_of(const struct engine_host_record *r, size_t n,
                                                  bool (*want)(const struct engine_host_record *))
{
    for (size_t i = 0; i < n; i++)
        if (want(&r[i]))
            return &r[i];
    return NULL;
}
static bool named(const struct engine_host_record *r) { return r->name[0] != 0; }
static bool with_device(const struct engine_host_record *r) { return r->has_mac; }

TEST(engine_hands_names_and_devices_to_history_and_takes_them_back)
{
    struct seen_flows seen = {0};
    struct engine *e = run_capture("1kxun.pcap", &seen);
    if (!e) {
        test_skip("../shared/pcaps not present");
        return;
    }
    engine_expire_all(e); /* names from flows are learned when detection ends */
    size_t cap = 4096;
    struct engine_host_record *saved = calloc(cap, sizeof *saved);
    size_t n = saved ? engine_take_changed_hosts(e, saved, cap) : 0;
    const struct engine_host_record *name = record_of(saved, n, named);
    const struct engine_host_record *dev = record_of(saved, n, with_device);
    CHECK(name && dev);
    if (!name || !dev)
        goto out;
    const struct name_entry *live = name_table_lookup(&e->names, &name->key, e->now_us);
    CHECK(live && strcmp(live->name, name->name) == 0 && live->expires_us == name->name_expires_us);

    /* A restart: a new engine at the same time takes the records back. */
    struct engine_config c;
    engine_config_defaults(&c);
    char why[256];
    struct engine *e2 = engine_create(&c, why, sizeof why);
    CHECK(e2 != NULL);
    if (!e2)
        goto out;
    engine_advance(e2, e->now_us);
    for (size_t i = 0; i < n; i++)
        CHECK(engine_restore_host(e2, &saved[i]) == 0);
    const struct name_entry *back = name_table_lookup(&e2->names, &name->key, e2->now_us);
    CHECK(back && strcmp(back->name, name->name) == 0 && back->source == name->name_source &&
          back->expires_us == name->name_expires_us);
    const struct host *h = host_table_find(&e2->hosts, &dev->key);
    CHECK(h && h->has_mac && memcmp(h->mac, dev->mac, 6) == 0 &&
          h->mac_first_us == dev->mac_first_us && h->mac_changes == dev->mac_changes);
    cJSON *j = h ? query_host_json(e2, h) : NULL;
    CHECK(j && cJSON_IsString(cJSON_GetObjectItem(j, "mac")));
    cJSON_Delete(j);
    engine_destroy(e2);

    /* The device changed while the box was down: the live MAC stays, one change more. */
    e2 = engine_create(&c, why, sizeof why);
    CHECK(e2 != NULL);
    if (!e2)
        goto out;
    struct engine_host_record other = *dev;
    other.mac[5] ^= 0x01;
    other.mac[0] &= 0xfe; /* still unicast */
    other.mac_changes = 2;
    struct host *made = NULL;
    bool created;
    made = host_table_get(&e2->hosts, &dev->key, &created);
    CHECK(made != NULL);
    if (made) {
        made->local = true;
        host_note_mac(made, dev->mac, e->now_us);
        CHECK(engine_restore_host(e2, &other) == 0);
        CHECK(memcmp(made->mac, dev->mac, 6) == 0 && made->mac_changes == 3);
    }
    engine_destroy(e2);
out:
    free(saved);
    cJSON_Delete(seen.flows);
    engine_destroy(e);
}
