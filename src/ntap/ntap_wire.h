/*
 * nTap wire format, version 1 (docs/ntap-protocol.md is the normative text). No crypto and no
 * state here: byte layouts, their encoders and a bounds-checked record parser.
 *
 *   datagram = header (24) [ephemeral public key (32), flag KEY] ciphertext tag (16)
 *   plaintext = record*          record = type (1) flags (1) length (2) body (length)
 *
 * Every integer is big-endian. The header (and the key when present) is the AEAD's associated
 * data; the nonce is 4 zero bytes and the 64-bit sequence number.
 */
#ifndef TAPBOX_NTAP_WIRE_H
#define TAPBOX_NTAP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NTAP_MAGIC0 0x6e /* 'n' */
#define NTAP_MAGIC1 0x54 /* 'T' */
#define NTAP_VERSION 1

#define NTAP_HEADER_LEN 24
#define NTAP_PUBKEY_LEN 32
#define NTAP_TAG_LEN 16
#define NTAP_KEY_LEN 32
#define NTAP_NONCE_LEN 12

/* Header flags. */
#define NTAP_FLAG_PUBKEY 0x01 /* public-key mode (the session key comes from X25519) */
#define NTAP_FLAG_KEY 0x02    /* the tap's ephemeral public key follows the header */
#define NTAP_FLAGS_KNOWN (NTAP_FLAG_PUBKEY | NTAP_FLAG_KEY)

/* Records. */
#define NTAP_REC_HEADER_LEN 4
#define NTAP_REC_PACKET 1
#define NTAP_REC_STATUS 2
#define NTAP_PACKET_FIXED 12 /* original length (4) + capture time in ns (8) */
#define NTAP_PACKET_HEADER_LEN (NTAP_REC_HEADER_LEN + NTAP_PACKET_FIXED)
#define NTAP_STATUS_FIXED 48 /* six 64-bit counters, then the tap's name */
#define NTAP_NAME_MAX 64

/* Packet record flags: the direction, as the tap saw it. */
#define NTAP_DIR_MASK 0x03
enum ntap_direction { NTAP_DIR_UNKNOWN = 0, NTAP_DIR_IN = 1, NTAP_DIR_OUT = 2 };

/* The largest UDP payload over IPv4 (and what we allow over IPv6). */
#define NTAP_DATAGRAM_MAX 65507
/* What is left for records in the largest datagram (with the key). */
#define NTAP_PLAINTEXT_MAX (NTAP_DATAGRAM_MAX - NTAP_HEADER_LEN - NTAP_PUBKEY_LEN - NTAP_TAG_LEN)
/* The largest frame that can cross (one packet record alone in the largest datagram). */
#define NTAP_FRAME_MAX (NTAP_PLAINTEXT_MAX - NTAP_PACKET_HEADER_LEN)

struct ntap_header {
    uint8_t version;
    uint8_t flags;
    uint32_t tap_id;
    uint64_t session;
    uint64_t seq;
};

/* Why a datagram was refused. Every reason is a counter (collector-wide and, when the datagram
 * names a known tap, for that tap). */
enum ntap_drop {
    NTAP_OK = 0,
    NTAP_DROP_TRUNCATED,       /* shorter than header (+ key) + tag */
    NTAP_DROP_BAD_VERSION,     /* wrong magic, version or unknown flag bits */
    NTAP_DROP_WRONG_MODE,      /* public-key datagram at a passphrase collector, or the reverse */
    NTAP_DROP_UNKNOWN_SESSION, /* public-key mode: a session whose key was never seen */
    NTAP_DROP_STALE_SESSION,   /* an older session of a tap whose newer session is live */
    NTAP_DROP_REPLAYED,        /* sequence number already seen, or older than the window */
    NTAP_DROP_FORGED,          /* authentication failed (wrong key, tampered, garbage) */
    NTAP_DROP_MALFORMED,       /* authentic, but the records do not parse */
    NTAP_DROP_TAP_REFUSED,     /* a new tap beyond the cap on taps */
    NTAP_DROP_HANDSHAKE_LIMIT, /* public-key mode: too many new sessions this second */
    NTAP_DROP_COUNT
};
const char *ntap_drop_name(enum ntap_drop d);

static inline void ntap_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void ntap_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void ntap_put64(uint8_t *p, uint64_t v)
{
    ntap_put32(p, (uint32_t)(v >> 32));
    ntap_put32(p + 4, (uint32_t)v);
}
static inline uint16_t ntap_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t ntap_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ntap_get64(const uint8_t *p)
{
    return (uint64_t)ntap_get32(p) << 32 | ntap_get32(p + 4);
}

void ntap_header_encode(const struct ntap_header *h, uint8_t out[NTAP_HEADER_LEN]);
/* Checks the length, magic, version and flags: NTAP_OK or TRUNCATED / BAD_VERSION. */
enum ntap_drop ntap_header_decode(const uint8_t *data, size_t len, struct ntap_header *h);
/* The AEAD nonce of a sequence number: 4 zero bytes, then seq big-endian. */
void ntap_nonce(uint64_t seq, uint8_t out[NTAP_NONCE_LEN]);

/* A packet record's fields (data points into the plaintext). */
struct ntap_packet {
    uint64_t ts_ns;        /* capture time, ns since the Unix epoch (the tap's clock) */
    uint32_t wirelen;      /* original length on the wire */
    uint32_t caplen;       /* bytes present */
    uint8_t direction;     /* enum ntap_direction */
    const uint8_t *data;
};

/* A status record: the tap's own counters since its session began, and its name. */
struct ntap_status {
    uint64_t captured;      /* packets the tap's capture delivered */
    uint64_t sent;          /* packet records sent */
    uint64_t kernel_drops;  /* pcap ps_drop */
    uint64_t if_drops;      /* pcap ps_ifdrop */
    uint64_t rate_limited;  /* packets dropped by --rate-limit */
    uint64_t send_errors;   /* datagrams the socket refused */
    char name[NTAP_NAME_MAX + 1]; /* "host/iface" */
};

/* Append a record to buf (capacity cap, used *len). Returns false (and changes nothing) when it
 * does not fit. caplen must be <= 65535 - NTAP_PACKET_FIXED. */
bool ntap_record_put_packet(uint8_t *buf, size_t cap, size_t *len, const struct ntap_packet *p);
bool ntap_record_put_status(uint8_t *buf, size_t cap, size_t *len, const struct ntap_status *s);
static inline size_t ntap_packet_record_size(uint32_t caplen)
{
    return NTAP_PACKET_HEADER_LEN + caplen;
}

/* Walk the records of a plaintext. */
struct ntap_record_iter {
    const uint8_t *p, *end;
};
enum ntap_rec_kind { NTAP_REC_END, NTAP_REC_IS_PACKET, NTAP_REC_IS_STATUS, NTAP_REC_SKIPPED, NTAP_REC_BAD };
void ntap_records_begin(struct ntap_record_iter *it, const uint8_t *plain, size_t len);
/* The next record: END when none is left, BAD when the rest does not parse (a length beyond the
 * end, a packet with caplen > wirelen, a short status), SKIPPED for a record type this version
 * does not know (skipped by its length, as the spec asks). */
enum ntap_rec_kind ntap_records_next(struct ntap_record_iter *it, struct ntap_packet *pkt,
                                     struct ntap_status *st);

/* Hex helpers for keys: 2*n lowercase hex digits plus NUL into out. */
void ntap_hex_encode(const uint8_t *bin, size_t n, char *out);
/* Exactly 2*n hex digits (either case), else -1. */
int ntap_hex_decode(const char *hex, uint8_t *bin, size_t n);

#endif
