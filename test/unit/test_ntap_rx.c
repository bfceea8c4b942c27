/* nTap sender and receiver together, without sockets: batching, both key modes, every drop
 * reason, loss, sessions, the tap cap and clock correction. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ntap/ntap_crypto.h"
#include "ntap/ntap_rx.h"
#include "ntap/ntap_tx.h"
#include "check.h"

#define MAX_DGRAMS 4096
#define NOW_US 1700000000000000ull

/* Datagrams the sender emitted, kept for replay and tampering. */
struct wire {
    uint8_t *d[MAX_DGRAMS];
    size_t len[MAX_DGRAMS];
    int n;
};
static void wire_send(void *ctx, const uint8_t *d, size_t len)
{
    struct wire *w = ctx;
    if (w->n == MAX_DGRAMS)
        return;
    w->d[w->n] = malloc(len);
    memcpy(w->d[w->n], d, len);
    w->len[w->n++] = len;
}
static void wire_free(struct wire *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->d[i]);
    w->n = 0;
}

/* What the receiver delivered. */
struct sink {
    uint64_t packets, bytes, status;
    uint32_t last_caplen, last_wirelen;
    uint64_t last_ts_us;
    uint8_t first_byte_sum;
    int events[4];
    int refused;
    uint64_t order_errors, next_marker;
};
static void sink_packet(void *ctx, struct ntap_tap *t, const struct ntap_packet *p, uint64_t ts_us)
{
    struct sink *s = ctx;
    s->packets++;
    s->bytes += p->wirelen;
    s->last_caplen = p->caplen;
    s->last_wirelen = p->wirelen;
    s->last_ts_us = ts_us;
    /* Test frames carry a running marker in bytes 0..3. */
    if (p->caplen >= 4) {
        uint64_t m = ntap_get32(p->data);
        if (m != s->next_marker)
            s->order_errors++;
        s->next_marker = m + 1;
    }
}
static void sink_event(void *ctx, struct ntap_tap *t, enum ntap_tap_event ev)
{
    ((struct sink *)ctx)->events[ev]++;
}
static void sink_refused(void *ctx, uint32_t tap_id, const char *addr)
{
    ((struct sink *)ctx)->refused++;
}

static const uint8_t master[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static struct ntap_tx *tx_new(bool pk, const uint8_t *collector_pk, uint32_t tap_id,
                              uint64_t session, size_t max_datagram, struct wire *w)
{
    struct ntap_tx_config c;
    memset(&c, 0, sizeof c);
    c.pubkey_mode = pk;
    memcpy(c.psk_master, master, 32);
    if (collector_pk)
        memcpy(c.collector_pk, collector_pk, 32);
    c.tap_id = tap_id;
    c.session = session;
    c.max_datagram = max_datagram;
    struct ntap_tx *tx = malloc(sizeof *tx);
    char err[128];
    if (ntap_tx_init(tx, &c, wire_send, w, err, sizeof err) < 0) {
        fprintf(stderr, "  tx: %s\n", err);
        free(tx);
        return NULL;
    }
    return tx;
}

static struct ntap_rx *rx_new(bool pk, const uint8_t *pkey, const uint8_t *skey, unsigned max_taps,
                              struct sink *s)
{
    struct ntap_rx_config c;
    memset(&c, 0, sizeof c);
    c.pubkey_mode = pk;
    memcpy(c.psk_master, master, 32);
    if (pk) {
        memcpy(c.pk, pkey, 32);
        memcpy(c.sk, skey, 32);
    }
    c.max_taps = max_taps;
    struct ntap_rx_callbacks cb = {sink_packet, sink_event, sink_refused};
    char err[128];
    memset(s, 0, sizeof *s);
    return ntap_rx_create(&c, &cb, s, err, sizeof err);
}

static void send_packets(struct ntap_tx *tx, int n, uint32_t caplen, uint32_t *marker)
{
    static uint8_t frame[70000];
    for (int i = 0; i < n; i++) {
        ntap_put32(frame, (*marker)++);
        struct ntap_packet p = {(NOW_US + (uint64_t)i) * 1000, caplen, caplen, NTAP_DIR_IN, frame};
        ntap_tx_add_packet(tx, &p);
    }
    ntap_tx_flush(tx);
}

static void feed(struct ntap_rx *rx, struct wire *w, uint64_t now, enum ntap_drop want,
                 int *mismatches)
{
    for (int i = 0; i < w->n; i++)
        if (ntap_rx_datagram(rx, w->d[i], w->len[i], NULL, now) != want)
            (*mismatches)++;
}

TEST(ntap_rx_passphrase_batching)
{
    struct wire w = {0};
    struct sink s;
    uint32_t marker = 0;
    struct ntap_tx *tx = tx_new(false, NULL, 42, 0, 1472, &w);
    struct ntap_rx *rx = rx_new(false, NULL, NULL, 0, &s);
    CHECK(tx && rx);
    if (!tx || !rx)
        return;
    /* 60-byte frames make 76-byte records: 18 fit in 1472 - 24 - 16 bytes. */
    send_packets(tx, 1000, 60, &marker);
    CHECK_EQ_U(w.n, (1000 + 17) / 18);
    for (int i = 0; i < w.n; i++)
        CHECK(w.len[i] <= 1472);
    int bad = 0;
    feed(rx, &w, NOW_US, NTAP_OK, &bad);
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(s.packets, 1000);
    CHECK_EQ_U(s.order_errors, 0);
    CHECK_EQ_U(s.bytes, 60000);
    CHECK_EQ_U(s.events[NTAP_TAP_NEW], 1);
    CHECK_EQ_U(s.events[NTAP_TAP_SESSION], 1);
    struct ntap_tap *t = ntap_rx_find(rx, 42);
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_U(t->stats.datagrams, (uint64_t)w.n);
        CHECK_EQ_U(t->stats.packets, 1000);
        CHECK_EQ_U(t->stats.lost, 0);
    }
    /* Everything again: all replays, nothing delivered. */
    feed(rx, &w, NOW_US, NTAP_DROP_REPLAYED, &bad);
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(s.packets, 1000);
    CHECK_EQ_U(ntap_rx_totals(rx)->drops[NTAP_DROP_REPLAYED], (uint64_t)w.n);
    if (t)
        CHECK_EQ_U(t->stats.drops[NTAP_DROP_REPLAYED], (uint64_t)w.n);
    wire_free(&w);
    ntap_tx_wipe(tx);
    free(tx);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_full_size_and_jumbo_frames_cross_intact)
{
    struct wire w = {0};
    struct sink s;
    uint32_t marker = 0;
    struct ntap_tx *tx = tx_new(false, NULL, 7, 0, 1472, &w);
    struct ntap_rx *rx = rx_new(false, NULL, NULL, 0, &s);
    if (!tx || !rx)
        return;
    send_packets(tx, 3, 1514, &marker); /* each alone, beyond the budget: IP fragments it */
    CHECK_EQ_U(w.n, 3);
    CHECK_EQ_U(tx->stats.oversize, 3);
    send_packets(tx, 1, 9000, &marker);
    send_packets(tx, 1, 70000, &marker); /* beyond any datagram: cut, original length kept */
    CHECK_EQ_U(tx->stats.truncated, 1);
    int bad = 0;
    feed(rx, &w, NOW_US, NTAP_OK, &bad);
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(s.packets, 5);
    CHECK_EQ_U(s.order_errors, 0);
    CHECK_EQ_U(s.last_wirelen, 70000);
    CHECK_EQ_U(s.last_caplen, NTAP_DATAGRAM_MAX - 24 - 16 - 16);
    CHECK(w.len[w.n - 1] <= NTAP_DATAGRAM_MAX);
    wire_free(&w);
    free(tx);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_wrong_key_tampered_truncated)
{
    struct wire w = {0};
    struct sink s;
    uint32_t marker = 0;
    struct ntap_tx *tx = tx_new(false, NULL, 9, 0, 1472, &w);
    if (!tx)
        return;
    send_packets(tx, 200, 100, &marker);
    /* A collector with another passphrase: every datagram forged. */
    struct ntap_rx_config c;
    memset(&c, 0, sizeof c);
    c.psk_master[0] = 0xee;
    struct ntap_rx_callbacks cb = {sink_packet, sink_event, sink_refused};
    char err[64];
    memset(&s, 0, sizeof s);
    struct ntap_rx *other = ntap_rx_create(&c, &cb, &s, err, sizeof err);
    int bad = 0;
    feed(other, &w, NOW_US, NTAP_DROP_FORGED, &bad);
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(s.packets, 0);
    CHECK_EQ_U(ntap_rx_tap_count(other), 0); /* nothing remembered of forgeries */
    ntap_rx_destroy(other);

    struct ntap_rx *rx = rx_new(false, NULL, NULL, 0, &s);
    /* Flip each byte of the first datagram in turn: never accepted. */
    uint8_t *d = malloc(w.len[0]);
    int accepted = 0;
    for (size_t i = 0; i < w.len[0]; i++) {
        memcpy(d, w.d[0], w.len[0]);
        d[i] ^= 0x20;
        if (ntap_rx_datagram(rx, d, w.len[0], NULL, NOW_US) == NTAP_OK)
            accepted++;
    }
    CHECK_EQ_U(accepted, 0);
    CHECK(ntap_rx_totals(rx)->drops[NTAP_DROP_FORGED] > 0);
    CHECK(ntap_rx_totals(rx)->drops[NTAP_DROP_BAD_VERSION] >= 4);
    /* Every truncation of it: dropped, as truncated or forged. */
    uint64_t before = ntap_rx_totals(rx)->drops[NTAP_DROP_TRUNCATED];
    for (size_t n = 0; n < w.len[0]; n++) {
        memcpy(d, w.d[0], n);
        enum ntap_drop r = ntap_rx_datagram(rx, d, n, NULL, NOW_US);
        if (r != NTAP_DROP_TRUNCATED && r != NTAP_DROP_FORGED)
            accepted++;
    }
    CHECK_EQ_U(accepted, 0);
    CHECK_EQ_U(ntap_rx_totals(rx)->drops[NTAP_DROP_TRUNCATED] - before, NTAP_HEADER_LEN + NTAP_TAG_LEN);
    free(d);
    /* The genuine datagrams still pass afterwards. */
    feed(rx, &w, NOW_US, NTAP_OK, &bad);
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(s.packets, 200);
    wire_free(&w);
    free(tx);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_loss_and_reordering)
{
    struct wire w = {0};
    struct sink s;
    uint32_t marker = 0;
    struct ntap_tx *tx = tx_new(false, NULL, 5, 0, 200, &w);
    struct ntap_rx *rx = rx_new(false, NULL, NULL, 0, &s);
    if (!tx || !rx)
        return;
    send_packets(tx, 100, 100, &marker); /* one packet per datagram at this budget */
    CHECK_EQ_U(w.n, 100);
    for (int i = 0; i < 100; i++) {
        if (i % 10 == 5)
            continue; /* lost on the way */
        if (i % 10 == 8 && i + 1 < 100) { /* 8 and 9 swapped */
            ntap_rx_datagram(rx, w.d[i + 1], w.len[i + 1], NULL, NOW_US);
            ntap_rx_datagram(rx, w.d[i], w.len[i], NULL, NOW_US);
            i++;
            continue;
        }
        ntap_rx_datagram(rx, w.d[i], w.len[i], NULL, NOW_US);
    }
    struct ntap_tap *t = ntap_rx_find(rx, 5);
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_U(t->stats.lost, 10);
        CHECK_EQ_U(t->stats.reordered, 10);
        CHECK_EQ_U(t->stats.datagrams, 90);
    }
    /* One of the lost arrives very late, inside the window: taken back. */
    CHECK(ntap_rx_datagram(rx, w.d[95], w.len[95], NULL, NOW_US) == NTAP_OK);
    if (t)
        CHECK_EQ_U(t->stats.lost, 9);
    wire_free(&w);
    free(tx);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_public_key_sessions)
{
    uint8_t pk[32], sk[32];
    ntap_crypto_init();
    crypto_kx_keypair(pk, sk);
    struct wire w = {0};
    struct sink s;
    uint32_t marker = 0;
    struct ntap_tx *tx = tx_new(true, pk, 77, 0, 1472, &w);
    struct ntap_rx *rx = rx_new(true, pk, sk, 0, &s);
    if (!tx || !rx)
        return;
    send_packets(tx, 400, 60, &marker);
    CHECK(w.n > NTAP_TX_KEY_FIRST + 2);
    /* The first datagrams carry the key, the rest do not. */
    for (int i = 0; i < w.n; i++)
        CHECK(!!(w.d[i][3] & NTAP_FLAG_KEY) == (i < NTAP_TX_KEY_FIRST));
    /* The key-bearing ones lost: the rest is an unknown session. */
    for (int i = NTAP_TX_KEY_FIRST; i < w.n; i++)
        CHECK(ntap_rx_datagram(rx, w.d[i], w.len[i], NULL, NOW_US) == NTAP_DROP_UNKNOWN_SESSION);
    CHECK_EQ_U(s.packets, 0);
    CHECK_EQ_U(ntap_rx_tap_count(rx), 0);
    /* The tap announces again (once a second): from then on the session is known. */
    ntap_tx_announce(tx);
    int before = w.n;
    send_packets(tx, 100, 60, &marker);
    CHECK(w.d[before][3] & NTAP_FLAG_KEY);
    CHECK(!(w.d[before + 1][3] & NTAP_FLAG_KEY));
    s.next_marker = 400;
    for (int i = before; i < w.n; i++)
        CHECK(ntap_rx_datagram(rx, w.d[i], w.len[i], NULL, NOW_US) == NTAP_OK);
    CHECK_EQ_U(s.packets, 100);
    CHECK_EQ_U(s.order_errors, 0);
    CHECK_EQ_U(ntap_rx_totals(rx)->handshakes, 1);
    /* The session's earlier datagrams, arriving now, come from before the first one accepted:
     * refused as possible replays, with no new handshake. */
    for (int i = 0; i < NTAP_TX_KEY_FIRST; i++)
        CHECK(ntap_rx_datagram(rx, w.d[i], w.len[i], NULL, NOW_US) == NTAP_DROP_REPLAYED);
    CHECK_EQ_U(ntap_rx_totals(rx)->handshakes, 1);
    /* Someone else's key under this session: forged. */
    uint8_t *d = malloc(w.len[0]);
    memcpy(d, w.d[0], w.len[0]);
    d[NTAP_HEADER_LEN] ^= 1;
    ntap_put64(d + 16, 1000000); /* a fresh sequence number */
    CHECK(ntap_rx_datagram(rx, d, w.len[0], NULL, NOW_US) == NTAP_DROP_FORGED);
    free(d);
    /* A passphrase datagram at a public-key collector. */
    struct wire w2 = {0};
    struct ntap_tx *tx2 = tx_new(false, NULL, 78, 0, 1472, &w2);
    send_packets(tx2, 1, 60, &marker);
    CHECK(ntap_rx_datagram(rx, w2.d[0], w2.len[0], NULL, NOW_US) == NTAP_DROP_WRONG_MODE);
    wire_free(&w2);
    free(tx2);

    /* The tap restarts: a new (newer) session with a new ephemeral key takes over. */
    struct wire w3 = {0};
    struct ntap_tx *tx3 = tx_new(true, pk, 77, tx->session + 1, 1472, &w3);
    marker = 0;
    send_packets(tx3, 50, 60, &marker);
    s.next_marker = 0;
    for (int i = 0; i < w3.n; i++)
        CHECK(ntap_rx_datagram(rx, w3.d[i], w3.len[i], NULL, NOW_US + 1000) == NTAP_OK);
    struct ntap_tap *t = ntap_rx_find(rx, 77);
    CHECK(t && t->stats.sessions == 2);
    CHECK_EQ_U(s.events[NTAP_TAP_SESSION], 2);
    CHECK_EQ_U(s.events[NTAP_TAP_NEW], 1);
    /* The old session's traffic is now stale... */
    before = w.n;
    send_packets(tx, 10, 60, &marker);
    CHECK(ntap_rx_datagram(rx, w.d[before], w.len[before], NULL, NOW_US + 2000) ==
          NTAP_DROP_STALE_SESSION);
    /* ...and stays so after any silence: 35 s, and an hour (v1 accepted it again after 30 s,
     * so a recorded session could be replayed whenever the tap paused; issue 15). */
    ntap_tx_announce(tx);
    before = w.n;
    send_packets(tx, 1, 60, &marker);
    CHECK(ntap_rx_datagram(rx, w.d[before], w.len[before], NULL, NOW_US + 35000000ull) ==
          NTAP_DROP_STALE_SESSION);
    CHECK(ntap_rx_datagram(rx, w.d[before], w.len[before], NULL, NOW_US + 3600000000ull) ==
          NTAP_DROP_STALE_SESSION);
    CHECK(t && t->stats.sessions == 2);
    CHECK_EQ_U(t->stats.drops[NTAP_DROP_STALE_SESSION], 3);
    wire_free(&w);
    wire_free(&w3);
    free(tx);
    free(tx3);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_handshake_budget)
{
    uint8_t pk[32], sk[32];
    ntap_crypto_init();
    crypto_kx_keypair(pk, sk);
    struct sink s;
    struct ntap_rx *rx = rx_new(true, pk, sk, 1000, &s);
    uint32_t marker = 0;
    int limited = 0, ok = 0;
    for (uint32_t i = 0; i < NTAP_DEFAULT_HANDSHAKES_PER_S + 10; i++) {
        struct wire w = {0};
        struct ntap_tx *tx = tx_new(true, pk, 1000 + i, 0, 1472, &w);
        send_packets(tx, 1, 60, &marker);
        enum ntap_drop r = ntap_rx_datagram(rx, w.d[0], w.len[0], NULL, NOW_US);
        limited += r == NTAP_DROP_HANDSHAKE_LIMIT;
        ok += r == NTAP_OK;
        wire_free(&w);
        free(tx);
    }
    CHECK_EQ_U(ok, NTAP_DEFAULT_HANDSHAKES_PER_S);
    CHECK_EQ_U(limited, 10);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_tap_cap)
{
    struct sink s;
    struct ntap_rx *rx = rx_new(false, NULL, NULL, 3, &s);
    uint32_t marker = 0;
    for (uint32_t id = 1; id <= 5; id++) {
        struct wire w = {0};
        struct ntap_tx *tx = tx_new(false, NULL, id, 0, 1472, &w);
        send_packets(tx, 10, 60, &marker);
        int bad = 0;
        feed(rx, &w, NOW_US, id <= 3 ? NTAP_OK : NTAP_DROP_TAP_REFUSED, &bad);
        CHECK_EQ_U(bad, 0);
        wire_free(&w);
        free(tx);
    }
    CHECK_EQ_U(ntap_rx_tap_count(rx), 3);
    CHECK_EQ_U(ntap_rx_totals(rx)->drops[NTAP_DROP_TAP_REFUSED], 2);
    CHECK_EQ_U(s.refused, 1); /* reported at most once a second */
    CHECK_EQ_U(s.packets, 30);
    /* The known taps keep working (here tap 2 restarted: a newer session). */
    struct wire w = {0};
    struct ntap_tx *tx = tx_new(false, NULL, 2, ntap_rx_find(rx, 2)->session + 1, 1472, &w);
    send_packets(tx, 1, 60, &marker);
    CHECK(ntap_rx_datagram(rx, w.d[0], w.len[0], NULL, NOW_US) == NTAP_OK);
    wire_free(&w);
    free(tx);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_status_and_clock)
{
    struct wire w = {0};
    struct sink s;
    uint32_t marker = 0;
    struct ntap_tx *tx = tx_new(false, NULL, 3, 0, 1472, &w);
    struct ntap_rx *rx = rx_new(false, NULL, NULL, 0, &s);
    if (!tx || !rx)
        return;
    struct ntap_status st = {10, 9, 8, 7, 6, 5, "vm1/eth0"};
    ntap_tx_send_status(tx, &st);
    send_packets(tx, 1, 60, &marker);
    /* The tap's clock is exact: its times are kept. */
    int bad = 0;
    feed(rx, &w, NOW_US + 500, NTAP_OK, &bad);
    struct ntap_tap *t = ntap_rx_find(rx, 3);
    CHECK(t && t->have_status && strcmp(t->status.name, "vm1/eth0") == 0);
    CHECK(t && t->status.kernel_drops == 8);
    CHECK_EQ_U(s.last_ts_us, NOW_US);
    CHECK_EQ_U(s.events[NTAP_TAP_CLOCK], 0);
    /* An hour behind: shifted onto our clock. */
    wire_free(&w);
    struct ntap_tx *tx2 = tx_new(false, NULL, 4, 0, 1472, &w);
    send_packets(tx2, 1, 60, &marker);
    feed(rx, &w, NOW_US + 3600000000ull, NTAP_OK, &bad);
    CHECK_EQ_U(s.last_ts_us, NOW_US + 3600000000ull);
    CHECK_EQ_U(s.events[NTAP_TAP_CLOCK], 1);
    CHECK_EQ_U(bad, 0);
    wire_free(&w);
    free(tx);
    free(tx2);
    ntap_rx_destroy(rx);
}

TEST(ntap_rx_malformed_records_after_authentication)
{
    /* A sender with the right key but broken records: authentic, refused whole. */
    struct sink s;
    struct ntap_rx *rx = rx_new(false, NULL, NULL, 0, &s);
    uint8_t key[32], plain[64], out[256];
    ntap_psk_session_key(master, 11, 99, key);
    memset(plain, 0, sizeof plain);
    plain[0] = NTAP_REC_PACKET;
    ntap_put16(plain + 2, 200); /* beyond the end */
    struct ntap_header h = {NTAP_VERSION, 0, 11, 99, 0};
    size_t len = ntap_seal(key, &h, NULL, plain, sizeof plain, out);
    CHECK(ntap_rx_datagram(rx, out, len, NULL, NOW_US) == NTAP_DROP_MALFORMED);
    CHECK_EQ_U(ntap_rx_tap_count(rx), 0);
    /* An empty datagram (a heartbeat without records) is fine. */
    h.seq = 1;
    len = ntap_seal(key, &h, NULL, plain, 0, out);
    CHECK(ntap_rx_datagram(rx, out, len, NULL, NOW_US) == NTAP_OK);
    CHECK_EQ_U(ntap_rx_tap_count(rx), 1);
    ntap_rx_destroy(rx);
}
