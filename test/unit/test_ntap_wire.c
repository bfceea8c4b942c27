/* nTap wire format, replay window and crypto (including the spec's byte-exact test vectors). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ntap/ntap_crypto.h"
#include "ntap/ntap_replay.h"
#include "ntap/ntap_tx.h"
#include "ntap/ntap_wire.h"
#include "check.h"

TEST(ntap_header_roundtrip)
{
    struct ntap_header h = {NTAP_VERSION, NTAP_FLAG_PUBKEY | NTAP_FLAG_KEY, 0xdeadbeef,
                            0x0102030405060708ull, 0x1112131415161718ull};
    uint8_t buf[NTAP_HEADER_LEN + NTAP_PUBKEY_LEN + NTAP_TAG_LEN] = {0};
    ntap_header_encode(&h, buf);
    static const uint8_t want[NTAP_HEADER_LEN] = {
        0x6e, 0x54, 0x01, 0x03, 0xde, 0xad, 0xbe, 0xef, 1,    2,    3,    4,
        5,    6,    7,    8,    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
    CHECK(memcmp(buf, want, sizeof want) == 0);
    struct ntap_header d;
    CHECK(ntap_header_decode(buf, sizeof buf, &d) == NTAP_OK);
    CHECK_EQ_U(d.tap_id, 0xdeadbeef);
    CHECK_EQ_U(d.session, 0x0102030405060708ull);
    CHECK_EQ_U(d.seq, 0x1112131415161718ull);
    CHECK_EQ_U(d.flags, 3);
    /* The key must be there when the flag says so. */
    CHECK(ntap_header_decode(buf, sizeof buf - 1, &d) == NTAP_DROP_TRUNCATED);
    CHECK(ntap_header_decode(buf, NTAP_HEADER_LEN - 1, &d) == NTAP_DROP_TRUNCATED);
    CHECK(ntap_header_decode(buf, 0, &d) == NTAP_DROP_TRUNCATED);
    buf[3] = 0; /* without the key: header + tag is enough */
    CHECK(ntap_header_decode(buf, NTAP_HEADER_LEN + NTAP_TAG_LEN, &d) == NTAP_OK);
    CHECK(ntap_header_decode(buf, NTAP_HEADER_LEN + NTAP_TAG_LEN - 1, &d) == NTAP_DROP_TRUNCATED);
}

TEST(ntap_header_rejects_other_versions)
{
    uint8_t buf[64] = {0};
    struct ntap_header h = {NTAP_VERSION, 0, 1, 2, 3}, d;
    ntap_header_encode(&h, buf);
    buf[0] = 'x';
    CHECK(ntap_header_decode(buf, sizeof buf, &d) == NTAP_DROP_BAD_VERSION);
    CHECK(ntap_header_decode(buf, 1, &d) == NTAP_DROP_BAD_VERSION); /* even when short */
    ntap_header_encode(&h, buf);
    buf[2] = 2;
    CHECK(ntap_header_decode(buf, sizeof buf, &d) == NTAP_DROP_BAD_VERSION);
    ntap_header_encode(&h, buf);
    buf[3] = 0x80; /* unknown flag */
    CHECK(ntap_header_decode(buf, sizeof buf, &d) == NTAP_DROP_BAD_VERSION);
    buf[3] = NTAP_FLAG_KEY; /* a key without public-key mode */
    CHECK(ntap_header_decode(buf, sizeof buf, &d) == NTAP_DROP_BAD_VERSION);
}

TEST(ntap_records_roundtrip_and_bounds)
{
    uint8_t buf[256];
    size_t len = 0;
    uint8_t frame[20];
    for (int i = 0; i < 20; i++)
        frame[i] = (uint8_t)i;
    struct ntap_packet p = {1700000000123456789ull, 1514, 20, NTAP_DIR_OUT, frame};
    CHECK(ntap_record_put_packet(buf, sizeof buf, &len, &p));
    CHECK_EQ_U(len, 36);
    struct ntap_status s = {1, 2, 3, 4, 5, 6, "host/eth0"};
    CHECK(ntap_record_put_status(buf, sizeof buf, &len, &s));
    CHECK_EQ_U(len, 36 + 4 + 48 + 9);
    CHECK(!ntap_record_put_packet(buf, len + 35, &len, &p)); /* no room: unchanged */
    CHECK_EQ_U(len, 97);
    /* An unknown record type is skipped by its length. */
    buf[len] = 0x7f; buf[len + 1] = 0; buf[len + 2] = 0; buf[len + 3] = 2;
    buf[len + 4] = 0xaa; buf[len + 5] = 0xbb;
    len += 6;

    struct ntap_record_iter it;
    struct ntap_packet q;
    struct ntap_status st;
    ntap_records_begin(&it, buf, len);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_IS_PACKET);
    CHECK_EQ_U(q.ts_ns, 1700000000123456789ull);
    CHECK_EQ_U(q.wirelen, 1514);
    CHECK_EQ_U(q.caplen, 20);
    CHECK_EQ_U(q.direction, NTAP_DIR_OUT);
    CHECK(memcmp(q.data, frame, 20) == 0);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_IS_STATUS);
    CHECK_EQ_U(st.kernel_drops, 3);
    CHECK_EQ_U(st.send_errors, 6);
    CHECK(strcmp(st.name, "host/eth0") == 0);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_SKIPPED);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_END);

    /* Every cut of the first record is refused, never read past. */
    for (size_t cut = 1; cut < 36; cut++) {
        uint8_t *copy = malloc(cut);
        memcpy(copy, buf, cut);
        ntap_records_begin(&it, copy, cut);
        CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_BAD);
        free(copy);
    }
    /* caplen above the original length */
    uint8_t bad[36];
    memcpy(bad, buf, 36);
    ntap_put32(bad + 4, 19);
    ntap_records_begin(&it, bad, 36);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_BAD);
    /* direction 3, or reserved flag bits */
    memcpy(bad, buf, 36);
    bad[1] = 3;
    ntap_records_begin(&it, bad, 36);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_BAD);
    /* a packet body shorter than its fixed part */
    memcpy(bad, buf, 36);
    ntap_put16(bad + 2, 11);
    ntap_records_begin(&it, bad, 15);
    CHECK(ntap_records_next(&it, &q, &st) == NTAP_REC_BAD);
}

TEST(ntap_hex)
{
    uint8_t b[3] = {0x00, 0xab, 0xff}, d[3];
    char h[7];
    ntap_hex_encode(b, 3, h);
    CHECK(strcmp(h, "00abff") == 0);
    CHECK(ntap_hex_decode("00ABff", d, 3) == 0 && memcmp(b, d, 3) == 0);
    CHECK(ntap_hex_decode("00abf", d, 3) < 0);
    CHECK(ntap_hex_decode("00abfg", d, 3) < 0);
    CHECK(ntap_hex_decode("00abff00", d, 3) < 0);
}

TEST(ntap_replay_window)
{
    struct ntap_replay r;
    ntap_replay_init(&r);
    CHECK(ntap_replay_check(&r, 100));
    ntap_replay_accept(&r, 100); /* first seen: nothing before it counts as lost... */
    CHECK_EQ_U(r.lost, 0);
    CHECK(!ntap_replay_check(&r, 100));
    CHECK(!ntap_replay_check(&r, 99)); /* ...and older ones may be replays from before */
    CHECK(!ntap_replay_check(&r, 0));
    CHECK(ntap_replay_check(&r, 101));
    ntap_replay_accept(&r, 101);
    ntap_replay_accept(&r, 105); /* 102..104 missing */
    CHECK_EQ_U(r.lost, 3);
    CHECK(ntap_replay_check(&r, 103));
    ntap_replay_accept(&r, 103); /* late, not lost after all */
    CHECK_EQ_U(r.lost, 2);
    CHECK_EQ_U(r.reordered, 1);
    CHECK(!ntap_replay_check(&r, 103));
    CHECK(!ntap_replay_check(&r, 105));
    CHECK(ntap_replay_check(&r, 102));
    /* Slide far: everything older than the window is refused, the window's own is tracked. */
    uint64_t top = 105 + NTAP_REPLAY_WINDOW + 10;
    ntap_replay_accept(&r, top);
    CHECK_EQ_U(r.lost, 2 + NTAP_REPLAY_WINDOW + 9);
    CHECK(!ntap_replay_check(&r, 102));
    CHECK(!ntap_replay_check(&r, top - NTAP_REPLAY_WINDOW));
    CHECK(ntap_replay_check(&r, top - NTAP_REPLAY_WINDOW + 1));
    CHECK(!ntap_replay_check(&r, top));
    /* Walk a long sequence with every 7th number late by 100: none refused, none lost. */
    struct ntap_replay w;
    ntap_replay_init(&w);
    uint64_t refused = 0;
    for (uint64_t s = 0; s < 50000; s++) {
        if (s % 7 == 3)
            continue;
        if (!ntap_replay_check(&w, s))
            refused++;
        ntap_replay_accept(&w, s);
        if (s >= 100 && (s - 100) % 7 == 3) {
            if (!ntap_replay_check(&w, s - 100))
                refused++;
            ntap_replay_accept(&w, s - 100);
        }
    }
    CHECK_EQ_U(refused, 0);
    /* the last late ones (within 100 of the end) never came */
    uint64_t never = 0;
    for (uint64_t s = 49900; s < 50000; s++)
        never += s % 7 == 3;
    CHECK_EQ_U(w.lost, never);
    /* and each seen number is refused a second time, within the window */
    for (uint64_t s = 50000 - NTAP_REPLAY_WINDOW + 1; s < 50000; s++)
        if (s % 7 != 3 && s < 49900)
            CHECK(!ntap_replay_check(&w, s));
}

/* ---- the spec's test vectors (docs/ntap-protocol.md, "Test vectors") ---- */

static void hex_of(const uint8_t *b, size_t n, char *out) { ntap_hex_encode(b, n, out); }

static const uint8_t vector_frame[60] = {
    /* Ethernet: ff:ff:ff:ff:ff:ff <- 02:00:00:00:00:01, ARP request 10.0.0.1 asks 10.0.0.2 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02};

struct capture {
    uint8_t d[2048];
    size_t len;
    int count;
};
static void capture_send(void *ctx, const uint8_t *d, size_t len)
{
    struct capture *c = ctx;
    memcpy(c->d, d, len);
    c->len = len;
    c->count++;
}

#define VECTOR_PASSPHRASE "correct horse battery staple"
#define VECTOR_TAP_ID 0x0a0b0c0du
#define VECTOR_SESSION 0x655f1a0012345678ull
#define VECTOR_SEQ 7
#define VECTOR_TS_NS 1700000000123456789ull

/* Filled in from the reference run and checked independently (test/ntap/vector.py). */
static const char *const VECTOR_PSK_MASTER =
    "09ed39aaa50874246ca5053fabfdfa6e2657ef5573c255d8484f933f6cf048b2";
static const char *const VECTOR_PSK_SESSION_KEY =
    "2e2fa20321c29bed60450653a8f74f2380cd73399a4be8e68895454fa80be6bb";
static const char *const VECTOR_PSK_DATAGRAM =
    "6e5401000a0b0c0d655f1a00123456780000000000000007593c22acce54b1c32525c849acceb23d"
    "b1b7fd6d3c6e2b45d4c794a5a3d02f2ba8fa83ccfc04eb0e967b6c2a0344708918946a64fc7e15ec"
    "9e7d5728827d2ede466d3e805d02ca227b7f8ddb970fef1d7576fcd8f8bb0a22f9dd3d2d";
static const char *const VECTOR_PK_COLLECTOR_PK =
    "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a";
static const char *const VECTOR_PK_EPHEMERAL_PK =
    "7dde4ebc7e6bb3293a4643423b22ca4df3542b90c1779230bd777a9ee6d3d92f";
static const char *const VECTOR_PK_SESSION_KEY =
    "71d534078ce6d93e261e7b4fd11512c67450348c98bd8b70e804bc92e0234606";
static const char *const VECTOR_PK_DATAGRAM =
    "6e5401030a0b0c0d655f1a001234567800000000000000077dde4ebc7e6bb3293a4643423b22ca4d"
    "f3542b90c1779230bd777a9ee6d3d92f2d07a2c63ca895e4b24ccc7583f5efc1bce6d27719514aba"
    "636356ecc51afeed8620e86583f6bfafb422a4a7fdf5a0ff8ce6fb4d613da908cfe435ff912aa1f9"
    "e77c7fa38dc1627ab919d9c696e4d0605932c0bf3b6660e866e52694";

static void vector_datagram(bool pk, const uint8_t master[32], const uint8_t collector_pk[32],
                            const uint8_t seed[32], struct capture *cap, struct ntap_tx *tx)
{
    struct ntap_tx_config c;
    memset(&c, 0, sizeof c);
    c.pubkey_mode = pk;
    if (master)
        memcpy(c.psk_master, master, 32);
    if (collector_pk)
        memcpy(c.collector_pk, collector_pk, 32);
    c.tap_id = VECTOR_TAP_ID;
    c.session = VECTOR_SESSION;
    c.first_seq = VECTOR_SEQ;
    c.max_datagram = 1472;
    c.ephemeral_seed = seed;
    char err[128];
    memset(cap, 0, sizeof *cap);
    CHECK(ntap_tx_init(tx, &c, capture_send, cap, err, sizeof err) == 0);
    struct ntap_packet p = {VECTOR_TS_NS, 60, 60, NTAP_DIR_IN, vector_frame};
    ntap_tx_add_packet(tx, &p);
    ntap_tx_flush(tx);
    CHECK_EQ_U(cap->count, 1);
}

static void check_hex(const char *what, const uint8_t *b, size_t n, const char *want)
{
    char *got = malloc(2 * n + 1);
    hex_of(b, n, got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  %s:\n    got  %s\n    want %s\n", what, got, want);
        check_failures++;
    }
    free(got);
}

TEST(ntap_vector_passphrase)
{
    uint8_t master[32], key[32];
    CHECK(ntap_psk_master(VECTOR_PASSPHRASE, master) == 0);
    check_hex("psk master", master, 32, VECTOR_PSK_MASTER);
    ntap_psk_session_key(master, VECTOR_TAP_ID, VECTOR_SESSION, key);
    check_hex("psk session key", key, 32, VECTOR_PSK_SESSION_KEY);
    struct capture *cap = malloc(sizeof *cap);
    struct ntap_tx *tx = malloc(sizeof *tx);
    vector_datagram(false, master, NULL, NULL, cap, tx);
    CHECK_EQ_U(cap->len, 24 + 16 + 60 + 16);
    check_hex("psk datagram", cap->d, cap->len, VECTOR_PSK_DATAGRAM);
    free(cap);
    free(tx);
}

TEST(ntap_vector_public_key)
{
    uint8_t sk[32], pk[32], seed[32], key[32], epk[32];
    for (int i = 0; i < 32; i++) {
        sk[i] = (uint8_t)(0x40 + i);
        seed[i] = (uint8_t)(0x80 + i);
    }
    ntap_crypto_init();
    crypto_scalarmult_base(pk, sk);
    check_hex("collector public key", pk, 32, VECTOR_PK_COLLECTOR_PK);
    CHECK(ntap_pk_tap_session(pk, seed, epk, key) == 0);
    check_hex("ephemeral public key", epk, 32, VECTOR_PK_EPHEMERAL_PK);
    check_hex("pk session key (tap)", key, 32, VECTOR_PK_SESSION_KEY);
    uint8_t key2[32];
    CHECK(ntap_pk_collector_session(pk, sk, epk, key2) == 0);
    CHECK(memcmp(key, key2, 32) == 0);
    struct capture *cap = malloc(sizeof *cap);
    struct ntap_tx *tx = malloc(sizeof *tx);
    vector_datagram(true, NULL, pk, seed, cap, tx);
    CHECK_EQ_U(cap->len, 24 + 32 + 16 + 60 + 16);
    check_hex("pk datagram", cap->d, cap->len, VECTOR_PK_DATAGRAM);
    /* A low-order public key is refused on both sides. */
    uint8_t zero[32] = {0};
    CHECK(ntap_pk_collector_session(pk, sk, zero, key2) < 0);
    CHECK(ntap_pk_tap_session(zero, seed, epk, key2) < 0);
    free(cap);
    free(tx);
}

/* The tap id of a public key (nTap v2 identity): that of the collector vector's key 40..5f,
 * checked by test/ntap/vector.py and in the spec. */
static const char *const VECTOR_V2_TAP_ID = "8f220da9";

TEST(ntap_vector_tap_id_of_public_key)
{
    uint8_t sk[32], pk[32], id[4];
    for (int i = 0; i < 32; i++)
        sk[i] = (uint8_t)(0x40 + i);
    ntap_crypto_init();
    crypto_scalarmult_base(pk, sk);
    ntap_put32(id, ntap_tap_id_of(pk));
    check_hex("tap id of a public key", id, 4, VECTOR_V2_TAP_ID);
    pk[31] ^= 1; /* another key, another id */
    ntap_put32(id, ntap_tap_id_of(pk));
    CHECK(memcmp(id, "\x8f\x22\x0d\xa9", 4) != 0);
}
