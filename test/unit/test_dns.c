/* DNS decoder and name table: real responses from the shared captures, hand-built malformed
 * messages (compression loops, overruns, long labels and names, odd bytes, bad RDLENGTHs),
 * and the table's cap, expiry, precedence and budgeted expiry. */
#include <arpa/inet.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "decode/dns.h"
#include "flow/name_table.h"
#include "check.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 S(1700000000)

/* ---- building messages ---- */

struct msg {
    uint8_t b[2048];
    size_t len;
};

static void put8(struct msg *m, uint8_t v)
{
    if (m->len < sizeof m->b)
        m->b[m->len++] = v;
}
static void put16(struct msg *m, uint16_t v)
{
    put8(m, (uint8_t)(v >> 8));
    put8(m, (uint8_t)v);
}
static void put32(struct msg *m, uint32_t v)
{
    put16(m, (uint16_t)(v >> 16));
    put16(m, (uint16_t)v);
}
static void put_bytes(struct msg *m, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(m, ((const uint8_t *)p)[i]);
}

enum { RESPONSE = 0x8180, QUERY = 0x0100 }; /* QR RD RA / RD */

static void put_header(struct msg *m, uint16_t flags, uint16_t qd, uint16_t an)
{
    m->len = 0;
    put16(m, 0x1234);
    put16(m, flags);
    put16(m, qd);
    put16(m, an);
    put16(m, 0);
    put16(m, 0);
}

/* A name of dot-separated labels, uncompressed ("" is the root). */
static void put_name(struct msg *m, const char *text)
{
    while (*text) {
        const char *dot = strchr(text, '.');
        size_t n = dot ? (size_t)(dot - text) : strlen(text);
        put8(m, (uint8_t)n);
        put_bytes(m, text, n);
        text += n + (dot ? 1 : 0);
    }
    put8(m, 0);
}

static void put_label(struct msg *m, const void *bytes, size_t n)
{
    put8(m, (uint8_t)n);
    put_bytes(m, bytes, n);
}

static void put_pointer(struct msg *m, uint16_t offset) { put16(m, (uint16_t)(0xC000 | offset)); }

static void put_question(struct msg *m, const char *name, uint16_t qtype)
{
    put_name(m, name);
    put16(m, qtype);
    put16(m, DNS_CLASS_IN);
}

/* Owner as a pointer to the question name at offset 12, then type, class, TTL, RDLENGTH. */
static void put_rr(struct msg *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
    put_pointer(m, 12);
    put16(m, type);
    put16(m, DNS_CLASS_IN);
    put32(m, ttl);
    put16(m, rdlen);
}

static void put_a(struct msg *m, uint32_t ttl, const char *ip)
{
    uint8_t a[4];
    inet_pton(AF_INET, ip, a);
    put_rr(m, DNS_TYPE_A, ttl, 4);
    put_bytes(m, a, 4);
}

/* Decode as a response from an exact-size copy, so that ASan sees any read past the end. */
static enum dns_status decode(const struct msg *m, struct dns_response *r, struct dns_answer *a,
                              size_t max)
{
    uint8_t *copy = malloc(m->len ? m->len : 1);
    memcpy(copy, m->b, m->len);
    enum dns_status st = dns_decode_response(copy, m->len, r, a, max);
    free(copy);
    return st;
}

static enum dns_status decode_query(const struct msg *m, struct dns_query *q)
{
    uint8_t *copy = malloc(m->len ? m->len : 1);
    memcpy(copy, m->b, m->len);
    enum dns_status st = dns_decode_query(copy, m->len, q);
    free(copy);
    return st;
}

static int addr_is(const uint8_t addr[16], int family, const char *text)
{
    uint8_t want[16] = {0};
    inet_pton(family, text, want);
    return memcmp(addr, want, 16) == 0;
}

/* ---- real captures ---- */

struct real_dns {
    int responses, queries, ok, statuses[DNS_STATUS_COUNT];
    int (*visit)(void *ctx, const uint8_t *msg, size_t len, bool response);
    void *ctx;
};

/* Every DNS message of a capture (UDP or TCP port 53), each in an exact-size copy. */
static void real_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    void **u = (void **)user;
    struct real_dns *r = u[0];
    int linktype = *(int *)u[1];
    struct decoded_packet d;
    if (decode_packet(linktype, data, h->caplen, h->len, &d) != DECODE_OK || d.fragment ||
        (d.l4_proto != 6 && d.l4_proto != 17) || (d.src_port != 53 && d.dst_port != 53) ||
        d.l4_payload_len == 0 || d.l4_payload_len > d.l3_caplen)
        return;
    const uint8_t *payload = d.l3 + d.l3_caplen - d.l4_payload_len;
    size_t len = d.l4_payload_len;
    if (d.l4_proto == 6 && dns_tcp_unframe(payload, len, &payload, &len) != DNS_OK)
        return;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, payload, len);
    bool response = len > 2 && (copy[2] & 0x80);
    enum dns_status st;
    if (response) {
        struct dns_response resp;
        struct dns_answer answers[4];
        st = dns_decode_response(copy, len, &resp, answers, 4);
        r->responses++;
    } else {
        struct dns_query q;
        st = dns_decode_query(copy, len, &q);
        r->queries++;
    }
    r->statuses[st]++;
    r->ok += st == DNS_OK;
    if (r->visit)
        r->visit(r->ctx, copy, len, response);
    free(copy);
}

static int read_capture(const char *name, struct real_dns *r)
{
    char path[1024], err[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/%s", test_pcap_dir(), name);
    pcap_t *p = pcap_open_offline(path, err);
    if (!p)
        return -1;
    int linktype = pcap_datalink(p);
    void *user[2] = {r, &linktype};
    pcap_loop(p, -1, real_packet, (u_char *)user);
    pcap_close(p);
    return 0;
}

/* The response whose question is qname, decoded into *resp and answers. */
struct find_response {
    const char *qname;
    int found;
    enum dns_status status;
    struct dns_response resp;
    struct dns_answer answers[8];
};

static int find_visit(void *ctx, const uint8_t *msg, size_t len, bool response)
{
    struct find_response *f = ctx;
    struct dns_response resp;
    struct dns_answer answers[8];
    if (!response || f->found)
        return 0;
    enum dns_status st = dns_decode_response(msg, len, &resp, answers, 8);
    if (resp.has_question && strcmp(resp.question.name, f->qname) == 0) {
        f->found = 1;
        f->status = st;
        f->resp = resp;
        memcpy(f->answers, answers, sizeof answers);
    }
    return 0;
}

static int find_in_capture(const char *capture, struct find_response *f)
{
    struct real_dns r;
    memset(&r, 0, sizeof r);
    r.visit = find_visit;
    r.ctx = f;
    return read_capture(capture, &r) == 0 && f->found;
}

TEST(dns_real_cname_chain)
{
    if (!test_pcap_dir()) {
        test_skip("../shared/pcaps not present");
        return;
    }
    struct find_response f = {.qname = "api.teams.skype.com"};
    CHECK(find_in_capture("dns_ambiguous_names.pcap", &f));
    CHECK(f.status == DNS_OK);
    CHECK_EQ_U(f.resp.rcode, DNS_RCODE_NOERROR);
    CHECK_EQ_U(f.resp.question.qtype, DNS_TYPE_A);
    CHECK_EQ_U(f.resp.answers_kept, 4);
    CHECK_EQ_U(f.answers[0].type, DNS_TYPE_CNAME);
    CHECK(strcmp(f.answers[0].owner, "api.teams.skype.com") == 0);
    CHECK(strcmp(f.answers[0].cname, "teams-afd.trafficmanager.net") == 0);
    CHECK_EQ_U(f.answers[0].ttl_s, 3219);
    CHECK(strcmp(f.answers[2].cname, "s-0004.s-msedge.net") == 0);
    CHECK_EQ_U(f.answers[3].type, DNS_TYPE_A);
    CHECK(strcmp(f.answers[3].owner, "s-0004.s-msedge.net") == 0);
    CHECK(addr_is(f.answers[3].addr, AF_INET, "52.113.194.131"));

    /* 17 answers into an array of 8: the rest are walked and counted, the status unchanged. */
    struct find_response many = {.qname = "android.clients.google.com"};
    CHECK(find_in_capture("dns_ambiguous_names.pcap", &many));
    CHECK(many.status == DNS_OK);
    CHECK_EQ_U(many.resp.answer_records, 17);
    CHECK_EQ_U(many.resp.answers_kept, 8);
    CHECK_EQ_U(many.resp.answers_dropped, 9);

    /* NXDOMAIN for a wildcard question: no answers, the name as asked. */
    struct find_response nx = {.qname = "*.teams.microsoft.com"};
    CHECK(find_in_capture("dns_ambiguous_names.pcap", &nx));
    CHECK(nx.status == DNS_OK);
    CHECK_EQ_U(nx.resp.rcode, DNS_RCODE_NXDOMAIN);
    CHECK_EQ_U(nx.resp.answers_kept, 0);
}

TEST(dns_real_aaaa_tcp_servfail)
{
    if (!test_pcap_dir()) {
        test_skip("../shared/pcaps not present");
        return;
    }
    struct find_response f = {.qname = "fg2-mgmt.weberlab.de"};
    CHECK(find_in_capture("dns_fragmented.pcap", &f));
    CHECK(f.status == DNS_OK);
    CHECK_EQ_U(f.resp.question.qtype, DNS_TYPE_AAAA);
    CHECK_EQ_U(f.answers[0].type, DNS_TYPE_AAAA);
    CHECK(addr_is(f.answers[0].addr, AF_INET6, "2001:470:1f0b:16b0::1"));
    CHECK_EQ_U(f.answers[0].ttl_s, 60);

    struct find_response fail = {.qname = "sigfail.verteiltesysteme.net"};
    CHECK(find_in_capture("dns_fragmented.pcap", &fail));
    CHECK(fail.status == DNS_OK);
    CHECK_EQ_U(fail.resp.rcode, DNS_RCODE_SERVFAIL);

    /* DNSKEY answers over TCP (1732-byte segments with their length prefix) decode whole; the
     * same answer over UDP arrives as IP fragments, the first one truncated. */
    struct real_dns r;
    memset(&r, 0, sizeof r);
    CHECK(read_capture("dns_fragmented.pcap", &r) == 0);
    CHECK(r.responses >= 20);
    CHECK(r.statuses[DNS_TRUNCATED_RECORD] >= 1);
    CHECK_EQ_U(r.ok + r.statuses[DNS_TRUNCATED_RECORD], r.responses + r.queries);
    struct find_response key = {.qname = "weberlab.de"};
    CHECK(find_in_capture("dns_fragmented.pcap", &key));
    CHECK_EQ_U(key.resp.question.qtype, 48);
}

TEST(dns_real_odd_names)
{
    if (!test_pcap_dir()) {
        test_skip("../shared/pcaps not present");
        return;
    }
    /* Control characters inside a label: kept, escaped. */
    struct find_response f = {.qname = "www.allyourbasesare\\001\\002\\003ongto.cn"};
    CHECK(find_in_capture("dns-invalid-chars.pcap", &f));
    CHECK(f.status == DNS_OK);
    CHECK_EQ_U(f.resp.names_escaped, 2); /* the question and the answer's owner */
    CHECK(addr_is(f.answers[0].addr, AF_INET, "19.185.141.241"));

    /* A long NXDOMAIN name (a tunnel's look). */
    struct find_response nx = {.qname = "gmr02c.16.0.fhkfhsdkfhsk.tunnel.example.com"};
    CHECK(find_in_capture("dns_long_domainname.pcap", &nx));
    CHECK(nx.status == DNS_OK);
    CHECK_EQ_U(nx.resp.rcode, DNS_RCODE_NXDOMAIN);

    /* A second question of 63 NUL and '?' bytes: 252 characters escaped, over the limit. */
    struct real_dns r;
    memset(&r, 0, sizeof r);
    CHECK(read_capture("malformed_dns.pcap", &r) == 0);
    CHECK_EQ_U(r.responses, 4);
    CHECK_EQ_U(r.statuses[DNS_NAME_TEXT_TOO_LONG], 4);
    CHECK_EQ_U(r.queries, 2);
}

TEST(dns_every_real_capture)
{
    const char *dir = test_pcap_dir();
    if (!dir) {
        test_skip("../shared/pcaps not present");
        return;
    }
    DIR *dh = opendir(dir);
    CHECK(dh != NULL);
    if (!dh)
        return;
    struct real_dns all;
    memset(&all, 0, sizeof all);
    struct dirent *de;
    while ((de = readdir(dh)))
        if (strstr(de->d_name, ".pcap"))
            read_capture(de->d_name, &all);
    closedir(dh);
    CHECK(all.responses > 50);
    CHECK(all.queries > 50);
    CHECK(all.ok > (all.responses + all.queries) * 9 / 10); /* real DNS: nearly all decodes */
}

/* ---- crafted responses ---- */

TEST(dns_response_basics)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[4];
    put_header(&m, RESPONSE, 1, 3);
    put_question(&m, "WWW.Example.COM", DNS_TYPE_A);
    put_a(&m, 300, "192.0.2.1");
    put_rr(&m, DNS_TYPE_AAAA, 60, 16);
    put_bytes(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    put_rr(&m, 16 /* TXT */, 60, 3);
    put_bytes(&m, "\x02hi", 3);
    CHECK(decode(&m, &r, a, 4) == DNS_OK);
    CHECK(r.has_question);
    CHECK(strcmp(r.question.name, "www.example.com") == 0);
    CHECK_EQ_U(r.id, 0x1234);
    CHECK_EQ_U(r.answer_records, 3);
    CHECK_EQ_U(r.answers_kept, 2);
    CHECK_EQ_U(r.answers_other, 1);
    CHECK_EQ_U(r.names_escaped, 0);
    CHECK(addr_is(a[0].addr, AF_INET, "192.0.2.1"));
    CHECK_EQ_U(a[0].ttl_s, 300);
    CHECK(strcmp(a[0].owner, "www.example.com") == 0);
    CHECK(addr_is(a[1].addr, AF_INET6, "2001:db8::1"));

    /* No room at all: every answer still checked, none kept. */
    CHECK(decode(&m, &r, NULL, 0) == DNS_OK);
    CHECK_EQ_U(r.answers_kept, 0);
    CHECK_EQ_U(r.answers_dropped, 2);

    /* Zero answers, and NXDOMAIN with none. */
    put_header(&m, RESPONSE, 1, 0);
    put_question(&m, "nothing.example", DNS_TYPE_AAAA);
    CHECK(decode(&m, &r, a, 4) == DNS_OK);
    CHECK_EQ_U(r.answers_kept, 0);
    CHECK_EQ_U(r.rcode, 0);
    put_header(&m, RESPONSE | DNS_RCODE_NXDOMAIN, 1, 0);
    put_question(&m, "nope.example", DNS_TYPE_A);
    CHECK(decode(&m, &r, a, 4) == DNS_OK);
    CHECK_EQ_U(r.rcode, DNS_RCODE_NXDOMAIN);
    CHECK(strcmp(r.question.name, "nope.example") == 0);

    /* A query is not a response; NOTIFY (opcode 4) is not read; the header needs 12 bytes. */
    put_header(&m, QUERY, 1, 0);
    put_question(&m, "a.example", DNS_TYPE_A);
    CHECK(decode(&m, &r, a, 4) == DNS_NOT_RESPONSE);
    put_header(&m, 0x8000 | 4 << 11, 1, 0);
    put_question(&m, "a.example", 6);
    CHECK(decode(&m, &r, a, 4) == DNS_UNSUPPORTED_OPCODE);
    m.len = 11;
    CHECK(decode(&m, &r, a, 4) == DNS_TRUNCATED_HEADER);
    m.len = 0;
    CHECK(decode(&m, &r, a, 4) == DNS_TRUNCATED_HEADER);
}

TEST(dns_response_cname_and_mdns)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[4];
    put_header(&m, RESPONSE, 1, 2);
    put_question(&m, "www.example.com", DNS_TYPE_A);
    size_t target = m.len + 12; /* the CNAME's RDATA starts after the owner pointer and fixed part */
    put_rr(&m, DNS_TYPE_CNAME, 100, 10);
    put_label(&m, "edge", 4);
    put_pointer(&m, 16); /* "example.com" inside the question */
    put8(&m, 0);         /* RDATA says 10 bytes: the name's own 7 plus this, so not exact */
    put8(&m, 0);
    put8(&m, 0);
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_RDLENGTH);

    put_header(&m, RESPONSE, 1, 2);
    put_question(&m, "www.example.com", DNS_TYPE_A);
    put_rr(&m, DNS_TYPE_CNAME, 100, 7);
    put_label(&m, "edge", 4);
    put_pointer(&m, 16);
    put_pointer(&m, (uint16_t)target); /* the A's owner: the CNAME target */
    put16(&m, DNS_TYPE_A);
    put16(&m, DNS_CLASS_IN);
    put32(&m, 20);
    put16(&m, 4);
    put_bytes(&m, "\x0a\0\0\x07", 4);
    CHECK(decode(&m, &r, a, 4) == DNS_OK);
    CHECK_EQ_U(r.answers_kept, 2);
    CHECK(strcmp(a[0].cname, "edge.example.com") == 0);
    CHECK(strcmp(a[1].owner, "edge.example.com") == 0);
    CHECK(addr_is(a[1].addr, AF_INET, "10.0.0.7"));

    /* An mDNS announcement: no question, the cache-flush bit in the class. */
    put_header(&m, 0x8400, 0, 1);
    put_name(&m, "printer.local");
    put16(&m, DNS_TYPE_A);
    put16(&m, 0x8001);
    put32(&m, 120);
    put16(&m, 4);
    put_bytes(&m, "\xc0\xa8\x01\x05", 4);
    CHECK(decode(&m, &r, a, 4) == DNS_OK);
    CHECK(!r.has_question);
    CHECK(r.authoritative);
    CHECK_EQ_U(r.answers_kept, 1);
    CHECK(strcmp(a[0].owner, "printer.local") == 0);
}

TEST(dns_compression_loops)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[4];
    /* The answer's owner points at itself. */
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_pointer(&m, (uint16_t)m.len);
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_POINTER);

    /* Two pointers pointing at each other: the second is a forward jump. */
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    size_t first = m.len;
    put_pointer(&m, (uint16_t)(first + 2));
    put_pointer(&m, (uint16_t)first);
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_POINTER);

    /* A label then a pointer back to that label: a loop through a label. */
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    first = m.len;
    put_label(&m, "x", 1);
    put_pointer(&m, (uint16_t)first);
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_POINTER);

    /* A forward pointer to a name that exists further on, one past the end, one into the
     * header, and a pointer cut after its first byte. */
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_pointer(&m, (uint16_t)(m.len + 2));
    put_name(&m, "later.example");
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_POINTER);
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_pointer(&m, 0x3FFF);
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_POINTER);
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_pointer(&m, 4);
    CHECK(decode(&m, &r, a, 4) == DNS_BAD_POINTER);
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put8(&m, 0xC0);
    CHECK(decode(&m, &r, a, 4) == DNS_TRUNCATED_NAME);

    /* A question name may not point anywhere: nothing before it but the header. */
    put_header(&m, QUERY, 1, 0);
    put_pointer(&m, 12);
    put16(&m, 1);
    put16(&m, 1);
    struct dns_query q;
    CHECK(decode_query(&m, &q) == DNS_BAD_POINTER);
}

/* A response whose second answer's owner is a chain of hops pointer-to-pointer jumps, each to
 * the one before, ending at a root byte inside the first answer's TXT RDATA. */
static void chain_message(struct msg *m, int hops)
{
    put_header(m, RESPONSE, 1, 2);
    put_question(m, "x", DNS_TYPE_A);
    put_rr(m, 16, 60, (uint16_t)(1 + 2 * (hops - 1)));
    size_t prev = m->len;
    put8(m, 0); /* the root */
    for (int i = 1; i < hops; i++) {
        size_t here = m->len;
        put_pointer(m, (uint16_t)prev);
        prev = here;
    }
    put_pointer(m, (uint16_t)prev); /* the second answer's owner: one more hop */
    put16(m, DNS_TYPE_A);
    put16(m, DNS_CLASS_IN);
    put32(m, 60);
    put16(m, 4);
    put32(m, 0x0A000001);
}

TEST(dns_pointer_hops_bounded)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[2];
    chain_message(&m, DNS_MAX_POINTER_HOPS);
    CHECK(decode(&m, &r, a, 2) == DNS_OK);
    CHECK_EQ_U(r.answers_kept, 1);
    CHECK(strcmp(a[0].owner, ".") == 0);
    chain_message(&m, DNS_MAX_POINTER_HOPS + 1);
    CHECK(decode(&m, &r, a, 2) == DNS_TOO_MANY_POINTERS);
}

TEST(dns_lengths_past_the_end)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[2];
    /* A label longer than what is left, a name without its root byte. */
    put_header(&m, RESPONSE, 1, 0);
    put8(&m, 10);
    put_bytes(&m, "abc", 3);
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_NAME);
    put_header(&m, RESPONSE, 1, 0);
    put_label(&m, "abc", 3);
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_NAME);
    /* A question without its class; more questions or answers than the message holds. */
    put_header(&m, RESPONSE, 1, 0);
    put_name(&m, "a.example");
    put16(&m, DNS_TYPE_A);
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_QUESTION);
    put_header(&m, RESPONSE, 2, 0);
    put_question(&m, "a.example", DNS_TYPE_A);
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_NAME);
    put_header(&m, RESPONSE, 1, 2);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_a(&m, 60, "192.0.2.1");
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_NAME);
    CHECK_EQ_U(r.answers_kept, 1); /* what came before the error stays */
    /* A record cut inside its fixed part, an RDLENGTH past the end. */
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_pointer(&m, 12);
    put16(&m, DNS_TYPE_A);
    put16(&m, DNS_CLASS_IN);
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_RECORD);
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_rr(&m, DNS_TYPE_A, 60, 4);
    put_bytes(&m, "\1\2\3", 3);
    CHECK(decode(&m, &r, a, 2) == DNS_TRUNCATED_RECORD);
}

TEST(dns_rdlength_and_ttl)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[2];
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_rr(&m, DNS_TYPE_A, 60, 5);
    put_bytes(&m, "\1\2\3\4\5", 5);
    CHECK(decode(&m, &r, a, 2) == DNS_BAD_RDLENGTH);
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_AAAA);
    put_rr(&m, DNS_TYPE_AAAA, 60, 4);
    put_bytes(&m, "\1\2\3\4", 4);
    CHECK(decode(&m, &r, a, 2) == DNS_BAD_RDLENGTH);
    /* A CNAME whose target runs past its RDATA into the next bytes. */
    put_header(&m, RESPONSE, 1, 1);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_rr(&m, DNS_TYPE_CNAME, 60, 2);
    put_name(&m, "b.example");
    CHECK(decode(&m, &r, a, 2) == DNS_BAD_RDLENGTH);

    /* TTL 0xFFFFFFFF: clamped to a week and counted; 0 stays 0. */
    put_header(&m, RESPONSE, 1, 2);
    put_question(&m, "a.example", DNS_TYPE_A);
    put_a(&m, 0xFFFFFFFFu, "192.0.2.9");
    put_a(&m, 0, "192.0.2.10");
    CHECK(decode(&m, &r, a, 2) == DNS_OK);
    CHECK_EQ_U(a[0].ttl_s, DNS_TTL_MAX_S);
    CHECK_EQ_U(a[1].ttl_s, 0);
    CHECK_EQ_U(r.ttls_clamped, 1);
}

TEST(dns_label_and_name_lengths)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[2];
    uint8_t x[64];
    memset(x, 'x', sizeof x);
    /* A label of 64, and the reserved 0x80 label type. */
    put_header(&m, RESPONSE, 1, 0);
    put_label(&m, x, 64);
    put8(&m, 0);
    put32(&m, 0x00010001);
    CHECK(decode(&m, &r, a, 2) == DNS_LABEL_TOO_LONG);
    put_header(&m, RESPONSE, 1, 0);
    put8(&m, 0x80);
    put8(&m, 0);
    put32(&m, 0x00010001);
    CHECK(decode(&m, &r, a, 2) == DNS_LABEL_TOO_LONG);

    /* 255 bytes on the wire (3 x 63 + 61 and the length bytes and root) is the longest name. */
    put_header(&m, RESPONSE, 1, 0);
    for (int i = 0; i < 3; i++)
        put_label(&m, x, 63);
    put_label(&m, x, 61);
    put8(&m, 0);
    put32(&m, 0x00010001);
    CHECK(decode(&m, &r, a, 2) == DNS_OK);
    CHECK_EQ_U(strlen(r.question.name), 253);
    /* 256 bytes, and 257 reached through a pointer to the question. */
    put_header(&m, RESPONSE, 1, 0);
    for (int i = 0; i < 3; i++)
        put_label(&m, x, 63);
    put_label(&m, x, 62);
    put8(&m, 0);
    put32(&m, 0x00010001);
    CHECK(decode(&m, &r, a, 2) == DNS_NAME_TOO_LONG);
    put_header(&m, RESPONSE, 1, 1);
    for (int i = 0; i < 3; i++)
        put_label(&m, x, 63);
    put8(&m, 0);
    put32(&m, 0x00010001);
    put_label(&m, x, 63);
    put_pointer(&m, 12);
    put16(&m, DNS_TYPE_A);
    put16(&m, DNS_CLASS_IN);
    put32(&m, 60);
    put16(&m, 4);
    put32(&m, 1);
    CHECK(decode(&m, &r, a, 2) == DNS_NAME_TOO_LONG);
}

TEST(dns_odd_bytes_escaped)
{
    struct msg m;
    struct dns_response r;
    struct dns_answer a[2];
    put_header(&m, RESPONSE, 1, 1);
    put8(&m, 8);
    put_bytes(&m, "<script>", 8);
    put_label(&m, "a\0b\x01.c\\", 7);
    put_label(&m, "\"Q&'\x7f\xff", 6);
    put8(&m, 0);
    put32(&m, 0x00010001);
    put_a(&m, 60, "192.0.2.1");
    CHECK(decode(&m, &r, a, 2) == DNS_OK);
    const char *want = "\\060script\\062.a\\000b\\001\\046c\\092.\\034q\\038\\039\\127\\255";
    CHECK(strcmp(r.question.name, want) == 0);
    CHECK(strcmp(a[0].owner, want) == 0);
    CHECK_EQ_U(r.names_escaped, 2);
    CHECK(dns_name_text_is_clean(r.question.name));
    CHECK(!strpbrk(r.question.name, "<>&\"' "));

    /* Three labels of 63 control bytes: 193 bytes on the wire, 758 characters escaped. */
    uint8_t ctl[63];
    memset(ctl, 0x01, sizeof ctl);
    put_header(&m, RESPONSE, 1, 0);
    for (int i = 0; i < 3; i++)
        put_label(&m, ctl, 63);
    put8(&m, 0);
    put32(&m, 0x00010001);
    CHECK(decode(&m, &r, a, 2) == DNS_NAME_TEXT_TOO_LONG);
}

TEST(dns_query_question)
{
    struct msg m;
    struct dns_query q;
    put_header(&m, QUERY, 1, 0);
    put_question(&m, "Mail.Example.ORG", 15);
    CHECK(decode_query(&m, &q) == DNS_OK);
    CHECK(strcmp(q.question.name, "mail.example.org") == 0);
    CHECK_EQ_U(q.question.qtype, 15);
    CHECK(strcmp(dns_type_name(q.question.qtype), "MX") == 0);
    CHECK(!q.name_escaped);
    put_header(&m, RESPONSE, 1, 0);
    put_question(&m, "a.example", DNS_TYPE_A);
    CHECK(decode_query(&m, &q) == DNS_NOT_QUERY);
    put_header(&m, QUERY, 0, 0);
    CHECK(decode_query(&m, &q) == DNS_NO_QUESTION);
    put_header(&m, 5 << 11, 1, 0); /* UPDATE */
    put_question(&m, "zone.example", 6);
    CHECK(decode_query(&m, &q) == DNS_UNSUPPORTED_OPCODE);
    put_header(&m, QUERY, 1, 0);
    put_name(&m, "a.example");
    put8(&m, 0);
    CHECK(decode_query(&m, &q) == DNS_TRUNCATED_QUESTION);
    m.len = 5;
    CHECK(decode_query(&m, &q) == DNS_TRUNCATED_HEADER);
}

TEST(dns_tcp_framing)
{
    uint8_t buf[64] = {0, 12};
    const uint8_t *msg = NULL;
    size_t len = 0;
    CHECK(dns_tcp_unframe(buf, 1, &msg, &len) == DNS_TCP_INCOMPLETE);
    CHECK(dns_tcp_unframe(buf, 13, &msg, &len) == DNS_TCP_INCOMPLETE); /* 11 of 12 bytes */
    CHECK(dns_tcp_unframe(buf, 14, &msg, &len) == DNS_OK);
    CHECK(msg == buf + 2);
    CHECK_EQ_U(len, 12);
    CHECK(dns_tcp_unframe(buf, 40, &msg, &len) == DNS_OK); /* a second message follows */
    CHECK_EQ_U(len, 12);
}

TEST(dns_names_from_text_and_status_names)
{
    char out[DNS_NAME_TEXT_SIZE];
    CHECK(dns_name_from_text("WWW.Example.COM.", 16, out) == 15);
    CHECK(strcmp(out, "www.example.com") == 0);
    CHECK(dns_name_from_text("<b>.x:8080", 10, out) > 0);
    CHECK(strcmp(out, "\\060b\\062.x\\0588080") == 0);
    CHECK(dns_name_from_text("a..b", 4, out) == -1);
    CHECK(dns_name_from_text(".a", 2, out) == -1);
    CHECK(dns_name_from_text("a..", 3, out) == -1);
    CHECK(dns_name_from_text(".", 1, out) == -1);
    CHECK(dns_name_from_text("", 0, out) == -1);
    CHECK(dns_name_from_text("a\0b", 3, out) == 6);
    char big[300];
    memset(big, 'a', sizeof big);
    CHECK(dns_name_from_text(big, 255, out) == 255);
    CHECK(dns_name_from_text(big, 256, out) == -1);
    CHECK(out[0] == '\0');
    CHECK(dns_name_text_is_clean("a-b_c.*.x\\001"));
    CHECK(!dns_name_text_is_clean(""));
    CHECK(!dns_name_text_is_clean("A.example"));
    CHECK(!dns_name_text_is_clean("a<b"));

    for (int i = 0; i < DNS_STATUS_COUNT; i++) {
        CHECK(strcmp(dns_status_name((enum dns_status)i), "unknown") != 0);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(dns_status_name((enum dns_status)i), dns_status_name((enum dns_status)j)));
    }
    CHECK(strcmp(dns_status_name(DNS_STATUS_COUNT), "unknown") == 0);
    CHECK(dns_type_name(9999) == NULL);
}

TEST(dns_random_and_mutated_messages)
{
    /* Random bytes, and a valid response with bytes changed: never a read past the end (ASan),
     * always a known status. */
    struct msg base;
    put_header(&base, RESPONSE, 1, 2);
    put_question(&base, "www.example.com", DNS_TYPE_A);
    put_rr(&base, DNS_TYPE_CNAME, 60, 7);
    put_label(&base, "edge", 4);
    put_pointer(&base, 16);
    put_a(&base, 60, "192.0.2.1");
    uint32_t seed = 12345;
    int ok = 0;
    for (int i = 0; i < 20000; i++) {
        struct msg m = base;
        int flips = 1 + i % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            m.b[12 + (seed >> 8) % (m.len - 12)] = (uint8_t)(seed >> 24);
        }
        seed = seed * 1103515245u + 12345u;
        if (i % 3 == 0)
            m.len = (seed >> 8) % (m.len + 1);
        struct dns_response r;
        struct dns_answer a[1];
        enum dns_status st = decode(&m, &r, a, 1);
        CHECK((unsigned)st < DNS_STATUS_COUNT);
        ok += st == DNS_OK;
        if (st == DNS_OK && r.has_question)
            CHECK(dns_name_text_is_clean(r.question.name));
    }
    CHECK(ok > 0);
}

/* ---- name table ---- */

static struct host_key v4(const char *ip, uint16_t vlan)
{
    uint8_t addr[16] = {0};
    inet_pton(AF_INET, ip, addr);
    struct host_key k;
    host_key_make(&k, vlan, 4, addr);
    return k;
}

TEST(name_table_learn_lookup_and_keys)
{
    struct name_table t;
    CHECK(name_table_init(&t, 0) == -1);
    CHECK(name_table_init(&t, 8) == 0);
    struct host_key a = v4("192.0.2.1", 0), a_vlan = v4("192.0.2.1", 7);
    uint8_t six[16] = {192, 0, 2, 1}; /* the same 16 bytes as an IPv6 address */
    struct host_key a6;
    host_key_make(&a6, 0, 6, six);
    CHECK(name_table_learn(&t, &a, "www.example.com", NAME_SOURCE_DNS, 300, T0));
    const struct name_entry *e = name_table_lookup(&t, &a, T0 + S(1));
    CHECK(e != NULL);
    if (e) {
        CHECK(strcmp(e->name, "www.example.com") == 0);
        CHECK(e->source == NAME_SOURCE_DNS);
        CHECK_EQ_U(e->expires_us, T0 + S(300));
        CHECK_EQ_U(e->updated_us, T0);
    }
    CHECK(name_table_lookup(&t, &a_vlan, T0) == NULL);
    CHECK(name_table_lookup(&t, &a6, T0) == NULL);
    CHECK(name_table_learn(&t, &a_vlan, "other.example", NAME_SOURCE_DNS, 300, T0));
    CHECK(strcmp(name_table_lookup(&t, &a, T0)->name, "www.example.com") == 0);

    /* Names not in the decoder's text form are refused. */
    CHECK(!name_table_learn(&t, &a6, "<script>", NAME_SOURCE_HTTP_HOST, 0, T0));
    CHECK(!name_table_learn(&t, &a6, "", NAME_SOURCE_DNS, 0, T0));
    CHECK(!name_table_learn(&t, &a6, "Upper.example", NAME_SOURCE_TLS_SNI, 0, T0));
    CHECK(!name_table_learn(&t, &a6, "x.example", NAME_SOURCE_COUNT, 0, T0));
    struct name_table_stats s = name_table_stats(&t);
    CHECK_EQ_U(s.bad_name, 4);
    CHECK_EQ_U(s.count, 2);
    CHECK_EQ_U(s.cap, 8);
    CHECK_EQ_U(s.learned, 2);
    CHECK(s.memory_bytes >= 8 * sizeof(struct name_entry));
    for (int i = 0; i < NAME_SOURCE_COUNT; i++)
        CHECK(strcmp(name_source_name((enum name_source)i), "unknown") != 0);
    CHECK(strcmp(name_source_name(NAME_SOURCE_TLS_SNI), "tls_sni") == 0);
    CHECK(strcmp(name_source_name(NAME_SOURCE_COUNT), "unknown") == 0);
    name_table_fini(&t);
}

TEST(name_table_ttl_clamped_and_expiry)
{
    struct name_table t;
    CHECK(name_table_init(&t, 8) == 0);
    struct host_key a = v4("10.0.0.1", 0), b = v4("10.0.0.2", 0), c = v4("10.0.0.3", 0);
    CHECK(name_table_learn(&t, &a, "short.example", NAME_SOURCE_DNS, 5, T0));
    CHECK(name_table_lookup(&t, &a, T0 + S(NAME_TABLE_MIN_TTL_S) - 1) != NULL);
    CHECK(name_table_lookup(&t, &a, T0 + S(NAME_TABLE_MIN_TTL_S)) == NULL);
    CHECK(name_table_learn(&t, &b, "long.example", NAME_SOURCE_DNS, DNS_TTL_MAX_S, T0));
    CHECK_EQ_U(name_table_lookup(&t, &b, T0)->expires_us, T0 + S(NAME_TABLE_MAX_TTL_S));
    /* SNI names live an hour whatever the caller passes. */
    CHECK(name_table_learn(&t, &c, "sni.example", NAME_SOURCE_TLS_SNI, 5, T0));
    CHECK_EQ_U(name_table_lookup(&t, &c, T0)->expires_us, T0 + S(NAME_TABLE_OBSERVED_TTL_S));

    /* An expired entry learned again is a new one (its old self counted as expired). */
    CHECK(name_table_learn(&t, &a, "again.example", NAME_SOURCE_TLS_SNI, 0, T0 + S(120)));
    struct name_table_stats s = name_table_stats(&t);
    CHECK_EQ_U(s.expired, 1);
    CHECK_EQ_U(s.learned, 4);
    CHECK_EQ_U(s.count, 3);
    CHECK(strcmp(name_table_lookup(&t, &a, T0 + S(120))->name, "again.example") == 0);
    name_table_fini(&t);
}

TEST(name_table_precedence)
{
    struct name_table t;
    CHECK(name_table_init(&t, 8) == 0);
    struct host_key a = v4("10.0.0.1", 0);
    CHECK(name_table_learn(&t, &a, "cdn.example", NAME_SOURCE_TLS_SNI, 0, T0));
    /* DNS beats SNI, the host's own name beats DNS... */
    CHECK(name_table_learn(&t, &a, "www.example", NAME_SOURCE_DNS, 600, T0 + S(1)));
    CHECK(name_table_lookup(&t, &a, T0 + S(1))->source == NAME_SOURCE_DNS);
    CHECK(name_table_learn(&t, &a, "laptop", NAME_SOURCE_DHCP, 3600, T0 + S(2)));
    /* ...and lower sources are ignored while it lives. */
    CHECK(!name_table_learn(&t, &a, "www.example", NAME_SOURCE_DNS, 600, T0 + S(3)));
    CHECK(!name_table_learn(&t, &a, "cdn.example", NAME_SOURCE_HTTP_HOST, 0, T0 + S(3)));
    const struct name_entry *e = name_table_lookup(&t, &a, T0 + S(3));
    CHECK(e && strcmp(e->name, "laptop") == 0 && e->source == NAME_SOURCE_DHCP);
    /* The same rank replaces (mDNS after DHCP); the same name and source refreshes. */
    CHECK(name_table_learn(&t, &a, "laptop.local", NAME_SOURCE_MDNS, 120, T0 + S(4)));
    CHECK(name_table_learn(&t, &a, "laptop.local", NAME_SOURCE_MDNS, 120, T0 + S(100)));
    e = name_table_lookup(&t, &a, T0 + S(100));
    CHECK(e && e->source == NAME_SOURCE_MDNS);
    CHECK(e && e->updated_us == T0 + S(100) && e->expires_us == T0 + S(220));
    /* Once the host's own name has expired, DNS may name it again. */
    CHECK(name_table_learn(&t, &a, "www.example", NAME_SOURCE_DNS, 600, T0 + S(300)));
    struct name_table_stats s = name_table_stats(&t);
    CHECK_EQ_U(s.replaced, 3);   /* SNI->DNS, DNS->DHCP, DHCP->mDNS */
    CHECK_EQ_U(s.refreshed, 1);
    CHECK_EQ_U(s.outranked, 2);
    CHECK_EQ_U(s.expired, 1);
    CHECK_EQ_U(s.learned, 2);
    CHECK_EQ_U(s.count, 1);

    /* Two DNS answers for one address: the latest wins. */
    CHECK(name_table_learn(&t, &a, "other.example", NAME_SOURCE_DNS, 600, T0 + S(301)));
    CHECK(strcmp(name_table_lookup(&t, &a, T0 + S(301))->name, "other.example") == 0);
    name_table_fini(&t);
}

TEST(name_table_cap_refusal_and_eviction)
{
    struct name_table t;
    CHECK(name_table_init(&t, 4) == 0);
    char name[32];
    for (int i = 0; i < 4; i++) {
        struct host_key k = v4("10.0.0.0", 0);
        k.addr[3] = (uint8_t)i;
        snprintf(name, sizeof name, "h%d.example", i);
        CHECK(name_table_learn(&t, &k, name, NAME_SOURCE_DNS, i == 0 ? 60 : 3600, T0));
    }
    struct host_key extra = v4("10.0.1.1", 0);
    CHECK(!name_table_learn(&t, &extra, "late.example", NAME_SOURCE_DNS, 600, T0 + S(1)));
    CHECK_EQ_U(name_table_stats(&t).refused, 1);
    /* Once h0 expired, a newcomer takes its place. */
    CHECK(name_table_learn(&t, &extra, "late.example", NAME_SOURCE_DNS, 600, T0 + S(61)));
    struct host_key h0 = v4("10.0.0.0", 0);
    CHECK(name_table_lookup(&t, &h0, T0 + S(61)) == NULL);
    CHECK(name_table_lookup(&t, &extra, T0 + S(61)) != NULL);
    struct name_table_stats s = name_table_stats(&t);
    CHECK_EQ_U(s.count, 4);
    CHECK_EQ_U(s.expired, 1);
    CHECK_EQ_U(s.refused, 1);
    struct host_key more = v4("10.0.1.2", 0);
    CHECK(!name_table_learn(&t, &more, "more.example", NAME_SOURCE_DNS, 600, T0 + S(62)));
    CHECK_EQ_U(name_table_stats(&t).refused, 2);
    name_table_fini(&t);
}

TEST(name_table_expire_budget)
{
    struct name_table t;
    CHECK(name_table_init(&t, 64) == 0);
    for (int round = 0; round < 2; round++) {
        uint64_t now = T0 + S(round * 10000);
        for (int i = 0; i < 64; i++) {
            struct host_key k = v4("10.1.0.0", 0);
            k.addr[3] = (uint8_t)i;
            CHECK(name_table_learn(&t, &k, "x.example", NAME_SOURCE_DNS, 60, now));
        }
        CHECK_EQ_U(name_table_stats(&t).count, 64);
        CHECK_EQ_U(name_table_expire(&t, now + S(59), 64), 0); /* nothing due yet */
        size_t calls = 0, dropped = 0;
        while (name_table_stats(&t).count && calls < 100) {
            size_t n = name_table_expire(&t, now + S(60), 10);
            CHECK(n <= 10);
            dropped += n;
            calls++;
        }
        CHECK_EQ_U(dropped, 64);
        CHECK(calls >= 7 && calls <= 8); /* 64 slots, 10 a call */
    }
    CHECK_EQ_U(name_table_stats(&t).expired, 128);
    CHECK_EQ_U(name_table_expire(&t, T0 + S(99999), 1000), 0);
    name_table_fini(&t);
}

TEST(name_table_long_names_shortened)
{
    struct name_table t;
    CHECK(name_table_init(&t, 4) == 0);
    char name[DNS_NAME_TEXT_SIZE];
    char label[40];
    name[0] = '\0';
    for (int i = 0; i < 8; i++) { /* 8 labels of 25 characters, then example.com: 219 in all */
        snprintf(label, sizeof label, "%slabel-%02d-abcdefghijklmnop", i ? "." : "", i);
        strcat(name, label);
    }
    strcat(name, ".example.com");
    struct host_key k = v4("10.0.0.9", 0);
    CHECK(name_table_learn(&t, &k, name, NAME_SOURCE_DNS, 60, T0));
    const struct name_entry *e = name_table_lookup(&t, &k, T0);
    CHECK(e != NULL);
    if (e) {
        CHECK(strlen(e->name) <= NAME_TABLE_NAME_MAX);
        CHECK(strncmp(e->name, "..label-", 8) == 0); /* starts on a whole label */
        size_t n = strlen(e->name);
        CHECK(n > 12 && strcmp(e->name + n - 12, ".example.com") == 0);
    }
    CHECK_EQ_U(name_table_stats(&t).shortened, 1);
    /* The same long name again is a refresh, not a change. */
    CHECK(name_table_learn(&t, &k, name, NAME_SOURCE_DNS, 60, T0 + S(1)));
    CHECK_EQ_U(name_table_stats(&t).refreshed, 1);
    name_table_fini(&t);
}

TEST(name_table_restore_keeps_the_old_expiry_and_yields_to_live_names)
{
    struct name_table t;
    CHECK(name_table_init(&t, 2) == 0);
    struct host_key a = v4("10.0.0.1", 0), b = v4("10.0.0.2", 0), c = v4("10.0.0.3", 0);
    /* Saved with an expiry still ahead: back until then, whatever its source's own TTL. */
    CHECK(name_table_restore(&t, &a, "nas.lan", NAME_SOURCE_MDNS, T0 + S(500), T0));
    const struct name_entry *e = name_table_lookup(&t, &a, T0);
    CHECK(e && strcmp(e->name, "nas.lan") == 0 && e->source == NAME_SOURCE_MDNS &&
          e->expires_us == T0 + S(500));
    CHECK(name_table_lookup(&t, &a, T0 + S(500)) == NULL);
    /* Expired while the box was down: not taken. */
    CHECK(!name_table_restore(&t, &b, "old.lan", NAME_SOURCE_DNS, T0, T0));
    CHECK(name_table_lookup(&t, &b, T0) == NULL);
    /* A name learned since the start is newer: the saved one does not replace it. */
    CHECK(name_table_learn(&t, &b, "fresh.example", NAME_SOURCE_TLS_SNI, 0, T0));
    CHECK(!name_table_restore(&t, &b, "old.lan", NAME_SOURCE_DHCP, T0 + S(60), T0));
    CHECK(strcmp(name_table_lookup(&t, &b, T0)->name, "fresh.example") == 0);
    /* A saved expiry past the longest TTL (a clock that jumped, a bad file) is cut to it. */
    CHECK(name_table_restore(&t, &a, "nas.lan", NAME_SOURCE_MDNS, T0 + S(10u * 86400),
                             T0 + S(600)));
    CHECK_EQ_U(name_table_lookup(&t, &a, T0 + S(600))->expires_us,
               T0 + S(600) + S(NAME_TABLE_MAX_TTL_S));
    /* Bad text and a full table are refused and counted like a learn's. */
    CHECK(!name_table_restore(&t, &c, "<b>", NAME_SOURCE_DNS, T0 + S(900), T0 + S(600)));
    CHECK(!name_table_restore(&t, &c, "c.lan", NAME_SOURCE_DNS, T0 + S(900), T0 + S(600)));
    struct name_table_stats s = name_table_stats(&t);
    CHECK_EQ_U(s.restored, 2);
    CHECK_EQ_U(s.bad_name, 1);
    CHECK_EQ_U(s.refused, 1);
    name_table_fini(&t);
}
