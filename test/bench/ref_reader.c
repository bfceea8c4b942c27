/* ref_reader: the minimal reference reader of the tapbox benchmark.
 *
 *   ref_reader [-g GIVEUP] FILE.pcap
 *
 * libpcap pcap_loop over an Ethernet capture (read through a 1 MiB stdio buffer, as tapboxd
 * does); Ethernet + 802.1Q/802.1ad tags,
 * IPv4/IPv6 (IPv6 extension headers skipped), TCP/UDP ports (0 for other
 * protocols and non-first fragments); a bidirectional flow table keyed on
 * (VLAN, L4 protocol, the two address/port endpoints) -- open addressing
 * with linear probing over a slot array of (hash, index), flow records in a
 * separate dense array; nDPI 4.2 is fed each packet of a flow until it names
 * a protocol or GIVEUP packets were seen (then ndpi_detection_giveup), after
 * which the nDPI flow state is freed.  Nothing else: no expiry, no
 * counters per direction, no output per flow.
 *
 * Prints:  packets=N flows=N detected=N skipped=N elapsed_s=S
 * (skipped = frames that are not IPv4/IPv6 after Ethernet/VLAN, or malformed)
 * (detected = flows with a protocol other than Unknown after nDPI, guesses
 * included).  Part of the tapbox benchmark (test/bench); not shipped. */
#define _DEFAULT_SOURCE /* u_char & co. for pcap.h under -std=c11 */
#include <ndpi/ndpi_api.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct key {            /* 40 bytes, no padding: compared with memcmp */
    uint8_t a[16], b[16];   /* endpoint a <= endpoint b (address, then port) */
    uint16_t pa, pb;
    uint16_t vlan;
    uint8_t proto, ipv;
};

_Static_assert(sizeof(struct key) == 40, "key must have no padding");

struct flow {
    struct key k;
    struct ndpi_flow_struct *nd;   /* NULL once nDPI is done */
    uint64_t packets;
    uint16_t app, master;
    uint8_t dpi_pkts, done;
};

static struct ndpi_detection_module_struct *mod;
static struct flow *flows;
static uint32_t nflows, capflows;
static uint64_t *slots;          /* hash << 32 | (index + 1); 0 = empty */
static uint32_t mask;            /* slots - 1 */
static uint64_t npackets, skipped, ndetected; /* skipped: not IP, or malformed */
static unsigned giveup = 32;

static void *xalloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "ref_reader: out of memory\n");
        exit(1);
    }
    return p;
}

static uint32_t hash_key(const struct key *k)
{
    /* FNV-1a over the 40 bytes, 8 at a time, then a final mix */
    uint64_t h = 0xcbf29ce484222325ULL, w;
    const uint8_t *p = (const uint8_t *)k;
    for (size_t i = 0; i < sizeof *k; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

static void grow(void)
{
    uint32_t n = (mask + 1) * 2;
    uint64_t *s = calloc(n, sizeof *s);
    if (!s) {
        fprintf(stderr, "ref_reader: out of memory\n");
        exit(1);
    }
    for (uint32_t i = 0; i <= mask; i++) {
        if (!slots[i])
            continue;
        uint32_t j = (uint32_t)(slots[i] >> 32) & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = slots[i];
    }
    free(slots);
    slots = s;
    mask = n - 1;
}

static struct flow *lookup(const struct key *k)
{
    uint32_t h = hash_key(k);
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t s = slots[i];
        if (!s)
            break;
        if ((uint32_t)(s >> 32) == h) {
            struct flow *f = &flows[(uint32_t)s - 1];
            if (!memcmp(&f->k, k, sizeof *k))
                return f;
        }
    }
    /* new flow */
    if ((uint64_t)(nflows + 1) * 2 > (uint64_t)mask + 1)
        grow();
    if (nflows == capflows) {
        capflows *= 2;
        flows = xalloc(flows, (size_t)capflows * sizeof *flows);
    }
    uint32_t i = h & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = (uint64_t)h << 32 | (nflows + 1);
    struct flow *f = &flows[nflows++];
    memset(f, 0, sizeof *f);
    f->k = *k;
    return f;
}

static void ndpi_done(struct flow *f, ndpi_protocol p)
{
    f->app = p.app_protocol;
    f->master = p.master_protocol;
    if (f->app != NDPI_PROTOCOL_UNKNOWN || f->master != NDPI_PROTOCOL_UNKNOWN)
        ndetected++;
    ndpi_free_flow(f->nd);
    f->nd = NULL;
    f->done = 1;
}

static void ndpi_stop(struct flow *f)
{
    uint8_t guessed = 0;
    ndpi_done(f, ndpi_detection_giveup(mod, f->nd, 1, &guessed));
}

static inline uint16_t rd16(const u_char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *p)
{
    (void)user;
    npackets++;
    uint32_t n = h->caplen, o = 14;
    if (n < o) {
        skipped++;
        return;
    }
    struct key k;
    memset(&k, 0, sizeof k);
    uint16_t et = rd16(p + 12);
    while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && o + 4 <= n) {
        if (!k.vlan)
            k.vlan = rd16(p + o) & 0x0fff;
        et = rd16(p + o + 2);
        o += 4;
    }
    const u_char *l3 = p + o, *l4 = NULL;
    uint32_t l3len = 0, l4len = 0;
    uint8_t sa[16] = {0}, da[16] = {0};
    if (et == 0x0800 && o + 20 <= n && (l3[0] >> 4) == 4) {
        uint32_t ihl = (l3[0] & 15) * 4u, tot = rd16(l3 + 2);
        l3len = n - o;
        if (tot >= 20 && tot < l3len)
            l3len = tot;
        if (ihl < 20 || ihl > l3len) {
            skipped++;
            return;
        }
        k.ipv = 4;
        k.proto = l3[9];
        memcpy(sa, l3 + 12, 4);
        memcpy(da, l3 + 16, 4);
        if ((rd16(l3 + 6) & 0x1fff) == 0) {
            l4 = l3 + ihl;
            l4len = l3len - ihl;
        }
    } else if (et == 0x86dd && o + 40 <= n && (l3[0] >> 4) == 6) {
        l3len = n - o;
        if (40u + rd16(l3 + 4) < l3len)
            l3len = 40u + rd16(l3 + 4);
        k.ipv = 6;
        memcpy(sa, l3 + 8, 16);
        memcpy(da, l3 + 24, 16);
        uint8_t nh = l3[6];
        uint32_t off = 40;
        int first = 1;
        /* hop-by-hop, routing, destination options, fragment, mobility */
        while ((nh == 0 || nh == 43 || nh == 60 || nh == 44 || nh == 135) &&
               off + 8 <= l3len) {
            if (nh == 44 && (rd16(l3 + off + 2) & 0xfff8))
                first = 0;
            uint32_t len = nh == 44 ? 8 : (l3[off + 1] + 1u) * 8;
            nh = l3[off];
            off += len;
        }
        k.proto = nh;
        if (first && off <= l3len) {
            l4 = l3 + off;
            l4len = l3len - off;
        }
    } else {
        skipped++;
        return;
    }
    uint16_t sp = 0, dp = 0;
    if (l4 && (k.proto == 6 || k.proto == 17) && l4len >= 4) {
        sp = rd16(l4);
        dp = rd16(l4 + 2);
    }
    /* bidirectional: the smaller (address, port) endpoint goes first */
    int c = memcmp(sa, da, 16);
    if (c < 0 || (c == 0 && sp <= dp)) {
        memcpy(k.a, sa, 16); memcpy(k.b, da, 16); k.pa = sp; k.pb = dp;
    } else {
        memcpy(k.a, da, 16); memcpy(k.b, sa, 16); k.pa = dp; k.pb = sp;
    }

    struct flow *f = lookup(&k);
    f->packets++;
    if (f->done)
        return;
    if (!f->nd) {
        f->nd = ndpi_calloc(1, SIZEOF_FLOW_STRUCT);
        if (!f->nd) {
            fprintf(stderr, "ref_reader: out of memory\n");
            exit(1);
        }
    }
    uint64_t ms = (uint64_t)h->ts.tv_sec * 1000 + (uint64_t)h->ts.tv_usec / 1000;
    ndpi_protocol pr = ndpi_detection_process_packet(
        mod, f->nd, l3, (unsigned short)(l3len > 65535 ? 65535 : l3len), ms);
    if (pr.app_protocol != NDPI_PROTOCOL_UNKNOWN ||
        pr.master_protocol != NDPI_PROTOCOL_UNKNOWN)
        ndpi_done(f, pr);
    else if (++f->dpi_pkts >= giveup)
        ndpi_stop(f);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "g:")) != -1) {
        if (c == 'g' && atoi(optarg) > 0 && atoi(optarg) < 256)
            giveup = (unsigned)atoi(optarg);
        else
            goto usage;
    }
    if (optind + 1 != argc)
        goto usage;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    char err[PCAP_ERRBUF_SIZE];
    /* The same file reading as tapboxd (a 1 MiB stdio buffer under libpcap), so that the
     * comparison is of what each does with the packets, not of read() sizes. */
    static char iobuf[1 << 20];
    FILE *file = fopen(argv[optind], "rb");
    if (!file) {
        fprintf(stderr, "ref_reader: %s: cannot open\n", argv[optind]);
        return 1;
    }
    setvbuf(file, iobuf, _IOFBF, sizeof iobuf);
    pcap_t *pc = pcap_fopen_offline(file, err);
    if (!pc) {
        fprintf(stderr, "ref_reader: %s\n", err);
        return 1;
    }
    if (pcap_datalink(pc) != DLT_EN10MB) {
        fprintf(stderr, "ref_reader: %s: link type %s, only Ethernet is read\n",
                argv[optind], pcap_datalink_val_to_name(pcap_datalink(pc)));
        return 1;
    }
    mod = ndpi_init_detection_module(ndpi_no_prefs);
    if (!mod) {
        fprintf(stderr, "ref_reader: ndpi_init_detection_module failed\n");
        return 1;
    }
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(mod, &all);
    ndpi_finalize_initialization(mod);

    capflows = 1u << 16;
    flows = xalloc(NULL, (size_t)capflows * sizeof *flows);
    mask = (1u << 17) - 1;
    slots = calloc((size_t)mask + 1, sizeof *slots);
    if (!slots)
        return 1;

    int r = pcap_loop(pc, -1, on_packet, NULL);
    if (r == PCAP_ERROR)
        fprintf(stderr, "ref_reader: %s: %s (counted what was read)\n", argv[optind],
                pcap_geterr(pc));
    for (uint32_t i = 0; i < nflows; i++)
        if (flows[i].nd)
            ndpi_stop(&flows[i]);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("packets=%llu flows=%u detected=%llu skipped=%llu elapsed_s=%.3f\n",
           (unsigned long long)npackets, nflows, (unsigned long long)ndetected,
           (unsigned long long)skipped,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    pcap_close(pc);
    ndpi_exit_detection_module(mod);
    free(slots);
    free(flows);
    return 0;
usage:
    fprintf(stderr, "usage: ref_reader [-g GIVEUP(1..255)] FILE.pcap\n");
    return 2;
}
