/* mkinput: build the benchmark input from real Ethernet captures.
 *
 *   mkinput [-n REPLICAS] [-g MAXGAP_US] -o OUT.pcap CAPTURE...
 *
 * 1. Timeline: the captures (pcap or pcapng, read with libpcap) are appended
 *    in the order given onto one rising timeline.  Inside a capture the gap
 *    to the previous packet is kept but clamped to [0, MAXGAP_US] (some
 *    captures jump years or go backwards); consecutive captures are
 *    MAXGAP_US apart.  Non-Ethernet captures are skipped with a note, a
 *    truncated one contributes what is readable.  This "base" is held in
 *    memory (the ndpi-4.2 set is ~20 MB).
 * 2. Replicas: replica k (0..REPLICAS-1) is the base with every IPv4/IPv6
 *    address XORed with k in its lowest 16 bits (so the /24 of IPv4 and the
 *    /112 of IPv6 are kept: nDPI's by-IP matches still mostly work; both
 *    directions of a flow map alike), the IPv4 header and TCP/UDP checksums
 *    patched incrementally, and its timestamps shifted by k * D / REPLICAS
 *    (D = base duration).  Replica 0 is the base itself.
 *    Addresses are found after Ethernet, 802.1Q/802.1ad tags, MPLS and
 *    PPPoE session headers; tunnelled inner headers are left as they are.
 * 3. The replicas are merged by time (a heap over REPLICAS cursors) into
 *    OUT.pcap, so all replicas run concurrently: a busy link with REPLICAS
 *    similar sites behind it.
 *
 * tcprewrite --seed was the first choice for step 2, but it aborts on the
 * malformed packets of the fuzz captures ("Expected IPv4 packet: got 5").
 *
 * Prints one line:  packets=N base_packets=N replicas=N files=N skipped=N
 *                   base_duration_s=S span_s=S
 * Part of the tapbox benchmark (test/bench); not shipped. */
#define _DEFAULT_SOURCE /* u_char & co. for pcap.h under -std=c11 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pkt {
    int64_t ts;      /* µs on the base timeline */
    uint32_t caplen, len;
    size_t off;      /* into data */
};

static struct pkt *pk;
static size_t npk, cappk;
static u_char *data;
static size_t ndata, capdata;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "mkinput: out of memory\n");
        exit(1);
    }
    return p;
}

static void add(int64_t ts, const struct pcap_pkthdr *h, const u_char *d)
{
    if (npk == cappk) {
        cappk = cappk ? cappk * 2 : 65536;
        pk = xrealloc(pk, cappk * sizeof *pk);
    }
    while (ndata + h->caplen > capdata) {
        capdata = capdata ? capdata * 2 : (32u << 20);
        data = xrealloc(data, capdata);
    }
    pk[npk++] = (struct pkt){ ts, h->caplen, h->len, ndata };
    memcpy(data + ndata, d, h->caplen);
    ndata += h->caplen;
}

/* ---- address rewriting ------------------------------------------------ */

static inline uint16_t rd16(const u_char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void wr16(u_char *p, uint16_t v) { p[0] = (u_char)(v >> 8); p[1] = (u_char)v; }

/* RFC 1624: HC' = ~(~HC + ~m + m'); delta accumulates ~m + m'. */
static void csum_fix(u_char *p, uint32_t delta)
{
    uint32_t s = (uint16_t)~rd16(p) + delta;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    wr16(p, (uint16_t)~s);
}

/* XOR key into the 16-bit word at p, return the checksum delta. */
static uint32_t xor16(u_char *p, uint16_t key)
{
    uint16_t o = rd16(p), n = o ^ key;
    wr16(p, n);
    return (uint16_t)~o + (uint32_t)n;
}

static void fix_l4(u_char *l4, size_t avail, int proto, uint32_t delta)
{
    if (proto == 6 && avail >= 18)
        csum_fix(l4 + 16, delta);
    else if (proto == 17 && avail >= 8 && rd16(l4 + 6) != 0) {
        csum_fix(l4 + 6, delta);
        if (rd16(l4 + 6) == 0)
            wr16(l4 + 6, 0xffff);
    }
}

static void rewrite(u_char *p, size_t n, uint16_t key)
{
    size_t o = 14;
    if (n < o)
        return;
    uint16_t et = rd16(p + 12);
    while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && o + 4 <= n) {
        et = rd16(p + o + 2);
        o += 4;
    }
    if (et == 0x8864 && o + 8 <= n) { /* PPPoE session */
        uint16_t ppp = rd16(p + o + 6);
        o += 8;
        et = ppp == 0x0021 ? 0x0800 : ppp == 0x0057 ? 0x86dd : 0;
    } else if (et == 0x8847 || et == 0x8848) { /* MPLS: up to bottom of stack */
        while (o + 4 <= n && !(p[o + 2] & 1))
            o += 4;
        o += 4;
        if (o >= n)
            return;
        et = (p[o] >> 4) == 4 ? 0x0800 : (p[o] >> 4) == 6 ? 0x86dd : 0;
    }
    if (et == 0x0800 && o + 20 <= n && (p[o] >> 4) == 4) {
        u_char *ip = p + o;
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        uint32_t d = xor16(ip + 14, key) + xor16(ip + 18, key);
        csum_fix(ip + 10, d);
        if (ihl >= 20 && o + ihl <= n && (rd16(ip + 6) & 0x1fff) == 0)
            fix_l4(ip + ihl, n - o - ihl, ip[9], d);
    } else if (et == 0x86dd && o + 40 <= n && (p[o] >> 4) == 6) {
        u_char *ip = p + o;
        uint32_t d = xor16(ip + 22, key) + xor16(ip + 38, key);
        fix_l4(ip + 40, n - o - 40, ip[6], d);
    }
}

/* ---- merge ------------------------------------------------------------- */

struct cur {
    int64_t t;       /* timestamp of pk[i] in this replica */
    int64_t shift;
    size_t i;
    uint16_t key;
};

static int before(const struct cur *a, const struct cur *b)
{
    return a->t < b->t || (a->t == b->t && a->key < b->key);
}

static void sift(struct cur *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && before(&h[l], &h[m])) m = l;
        if (r < n && before(&h[r], &h[m])) m = r;
        if (m == i)
            return;
        struct cur t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

int main(int argc, char **argv)
{
    long reps = 80;
    int64_t maxgap = 10000;
    const char *out = NULL;
    int c;
    while ((c = getopt(argc, argv, "n:g:o:")) != -1) {
        switch (c) {
        case 'n': reps = strtol(optarg, NULL, 10); break;
        case 'g': maxgap = strtoll(optarg, NULL, 10); break;
        case 'o': out = optarg; break;
        default: goto usage;
        }
    }
    if (!out || optind >= argc || maxgap < 0 || reps < 1 || reps > 65536)
        goto usage;

    char err[PCAP_ERRBUF_SIZE];
    int64_t now = 0;
    unsigned nfiles = 0, nskip = 0;
    for (int a = optind; a < argc; a++) {
        pcap_t *p = pcap_open_offline(argv[a], err);
        if (!p) {
            fprintf(stderr, "mkinput: skip %s: %s\n", argv[a], err);
            nskip++;
            continue;
        }
        if (pcap_datalink(p) != DLT_EN10MB) {
            fprintf(stderr, "mkinput: skip %s: link type %s, not Ethernet\n", argv[a],
                    pcap_datalink_val_to_name(pcap_datalink(p)));
            pcap_close(p);
            nskip++;
            continue;
        }
        struct pcap_pkthdr *h;
        const u_char *d;
        int64_t prev = INT64_MIN;
        int r;
        while ((r = pcap_next_ex(p, &h, &d)) == 1) {
            int64_t t = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
            if (prev != INT64_MIN) {
                int64_t gap = t - prev;
                now += gap < 0 ? 0 : gap > maxgap ? maxgap : gap;
            }
            prev = t;
            add(now, h, d);
        }
        if (r == PCAP_ERROR)
            fprintf(stderr, "mkinput: %s: %s (kept the %s)\n", argv[a], pcap_geterr(p),
                    "packets before it");
        pcap_close(p);
        nfiles++;
        now += maxgap;
    }
    if (npk == 0) {
        fprintf(stderr, "mkinput: no Ethernet packets in the inputs\n");
        return 1;
    }

    FILE *f = fopen(out, "wb");
    if (f)
        setvbuf(f, NULL, _IOFBF, 1 << 20);
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
    pcap_dumper_t *dump = f && dead ? pcap_dump_fopen(dead, f) : NULL;
    if (!dump) {
        fprintf(stderr, "mkinput: cannot write %s\n", out);
        return 1;
    }

    const int64_t t0 = 1700000000LL * 1000000; /* 2023-11-14, arbitrary */
    int64_t dur = pk[npk - 1].ts;
    struct cur *heap = xrealloc(NULL, (size_t)reps * sizeof *heap);
    size_t nh = 0;
    for (long k = 0; k < reps; k++) {
        int64_t sh = t0 + (dur + maxgap) * k / reps;
        heap[nh++] = (struct cur){ pk[0].ts + sh, sh, 0, (uint16_t)k };
    }
    for (size_t i = nh / 2; i-- > 0;)
        sift(heap, nh, i);

    u_char *buf = xrealloc(NULL, 262144);
    uint64_t written = 0;
    int64_t last = 0;
    while (nh) {
        struct cur *cu = &heap[0];
        const struct pkt *q = &pk[cu->i];
        uint32_t cl = q->caplen < 262144 ? q->caplen : 262144;
        memcpy(buf, data + q->off, cl);
        if (cu->key)
            rewrite(buf, cl, cu->key);
        struct pcap_pkthdr oh;
        memset(&oh, 0, sizeof oh);
        oh.ts.tv_sec = (time_t)(cu->t / 1000000);
        oh.ts.tv_usec = (suseconds_t)(cu->t % 1000000);
        oh.caplen = cl;
        oh.len = q->len;
        pcap_dump((u_char *)dump, &oh, buf);
        written++;
        last = cu->t;
        if (++cu->i < npk) {
            cu->t = pk[cu->i].ts + cu->shift;
        } else {
            heap[0] = heap[--nh];
        }
        sift(heap, nh, 0);
    }
    if (pcap_dump_flush(dump) != 0 || ferror(f)) {
        fprintf(stderr, "mkinput: write error on %s\n", out);
        return 1;
    }
    pcap_dump_close(dump); /* closes f */
    pcap_close(dead);
    printf("packets=%llu base_packets=%zu replicas=%ld files=%u skipped=%u "
           "base_duration_s=%.1f span_s=%.1f\n",
           (unsigned long long)written, npk, reps, nfiles, nskip, dur / 1e6,
           (last - t0) / 1e6);
    free(buf);
    free(heap);
    free(pk);
    free(data);
    return 0;
usage:
    fprintf(stderr, "usage: mkinput [-n REPLICAS] [-g MAXGAP_US] -o OUT.pcap CAPTURE...\n");
    return 2;
}
