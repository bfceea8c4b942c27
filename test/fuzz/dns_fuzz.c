/*
 * libFuzzer target for the DNS decoder (src/decode/dns.c) and the name table it feeds
 * (src/flow/name_table.c). Build and run: test/fuzz/run.sh [SECONDS].
 *
 * The first input byte picks what the rest is:
 *   0: a UDP payload, decoded as a response (then as a query if it is not one);
 *   1: a TCP payload: length prefix, then the same;
 *   2: raw text for dns_name_from_text;
 *   3..255: a response whose names are learned into a small name table, time moving by the
 *      value of the byte, with sources and TTLs taken from the message (cap, precedence,
 *      eviction and expiry under fire).
 * Every result is checked against what the header promises (a violation aborts): names
 * NUL-terminated inside their buffers and clean, TTLs clamped, counts consistent.
 * Built without libFuzzer (-DDNS_FUZZ_MAIN) it replays files given on the command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/dns.h"
#include "flow/name_table.h"

#define MAX_ANSWERS 4

static uint64_t sink;

static void check_name(const char *name)
{
    size_t n = strnlen(name, DNS_NAME_TEXT_SIZE);
    if (n == DNS_NAME_TEXT_SIZE || !dns_name_text_is_clean(name))
        abort();
    sink += n;
}

static void check_response(enum dns_status st, const struct dns_response *r,
                           const struct dns_answer *a)
{
    if ((unsigned)st >= DNS_STATUS_COUNT || r->answers_kept > MAX_ANSWERS)
        abort();
    if (st == DNS_OK && r->answers_kept + r->answers_dropped + r->answers_other != r->answer_records)
        abort();
    if (r->has_question)
        check_name(r->question.name);
    for (unsigned i = 0; i < r->answers_kept; i++) {
        check_name(a[i].owner);
        if (a[i].ttl_s > DNS_TTL_MAX_S)
            abort();
        if (a[i].type == DNS_TYPE_CNAME)
            check_name(a[i].cname);
        else if (a[i].type != DNS_TYPE_A && a[i].type != DNS_TYPE_AAAA)
            abort();
    }
}

static enum dns_status decode_message(const uint8_t *msg, size_t len, struct dns_response *r,
                                      struct dns_answer *a)
{
    enum dns_status st = dns_decode_response(msg, len, r, a, MAX_ANSWERS);
    check_response(st, r, a);
    if (st == DNS_NOT_RESPONSE) {
        struct dns_query q;
        enum dns_status qs = dns_decode_query(msg, len, &q);
        if ((unsigned)qs >= DNS_STATUS_COUNT)
            abort();
        if (qs == DNS_OK)
            check_name(q.question.name);
    }
    sink += (uint64_t)strlen(dns_status_name(st));
    return st;
}

static void learn_answers(const struct dns_response *r, const struct dns_answer *a, uint8_t step)
{
    static struct name_table table;
    static int ready;
    static uint64_t now = 1700000000000000ull;
    if (!ready) {
        if (name_table_init(&table, 8) != 0)
            abort();
        ready = 1;
    }
    now += (uint64_t)step * 7000000u; /* up to half an hour a message */
    for (unsigned i = 0; i < r->answers_kept; i++) {
        if (a[i].type == DNS_TYPE_CNAME)
            continue;
        struct host_key k;
        uint8_t addr[16];
        memcpy(addr, a[i].addr, 16);
        addr[0] &= 0x0F; /* few distinct addresses, so that entries collide and get replaced */
        host_key_make(&k, (uint16_t)(a[i].ttl_s & 1), a[i].type == DNS_TYPE_A ? 4 : 6, addr);
        enum name_source source = (enum name_source)(a[i].ttl_s % NAME_SOURCE_COUNT);
        const char *name = r->has_question ? r->question.name : a[i].owner;
        name_table_learn(&table, &k, name, source, a[i].ttl_s, now);
        const struct name_entry *e = name_table_lookup(&table, &k, now);
        if (e)
            check_name(e->name);
    }
    name_table_expire(&table, now, step);
    struct name_table_stats s = name_table_stats(&table);
    if (s.count > s.cap)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* A private copy of exactly size-1 bytes: ASan catches any read past it. */
    size_t len = size - 1;
    uint8_t *d = malloc(len ? len : 1);
    memcpy(d, data + 1, len);
    struct dns_response r;
    struct dns_answer a[MAX_ANSWERS];
    if (data[0] == 0) {
        decode_message(d, len, &r, a);
    } else if (data[0] == 1) {
        const uint8_t *msg;
        size_t msg_len;
        if (dns_tcp_unframe(d, len, &msg, &msg_len) == DNS_OK)
            decode_message(msg, msg_len, &r, a);
    } else if (data[0] == 2) {
        char out[DNS_NAME_TEXT_SIZE];
        int n = dns_name_from_text((const char *)d, len, out);
        if (n >= DNS_NAME_TEXT_SIZE || (n >= 0 && (size_t)n != strlen(out)) ||
            (n >= 0 && !dns_name_text_is_clean(out)) || (n < 0 && out[0]))
            abort();
    } else if (decode_message(d, len, &r, a) == DNS_OK) {
        learn_answers(&r, a, data[0]);
    }
    free(d);
    return 0;
}

#ifdef DNS_FUZZ_MAIN
/* Without libFuzzer: run each file named on the command line once (corpus regression). */
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("%d inputs, %llu name bytes checked\n", argc - 1, (unsigned long long)sink);
    return 0;
}
#endif
