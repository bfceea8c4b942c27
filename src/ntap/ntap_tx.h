/*
 * The sending half of nTap (used by tapbox-tap, the tests and the benchmark): packet records
 * are batched into one datagram up to a size budget, then sealed and handed to a send
 * callback. Time is the caller's business: it calls ntap_tx_flush() at its deadline and
 * ntap_tx_announce() once a second (public-key mode: the next datagram carries the key).
 */
#ifndef TAPBOX_NTAP_TX_H
#define TAPBOX_NTAP_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntap/ntap_wire.h"

/* Public-key mode: the first datagrams of a session carry the key, then one a second. */
#define NTAP_TX_KEY_FIRST 4

struct ntap_tx_config {
    bool pubkey_mode;
    uint8_t psk_master[NTAP_KEY_LEN];     /* passphrase mode: from ntap_psk_master() */
    uint8_t collector_pk[NTAP_PUBKEY_LEN]; /* public-key mode */
    uint32_t tap_id;
    uint64_t session;          /* 0: Unix seconds << 32 | 32 random bits */
    uint64_t first_seq;        /* normally 0 */
    size_t max_datagram;       /* UDP payload budget for a batch (e.g. MTU - 28) */
    const uint8_t *ephemeral_seed; /* 32 bytes, test vectors only; NULL: random */
};

typedef void (*ntap_tx_send_fn)(void *ctx, const uint8_t *dgram, size_t len);

struct ntap_tx_stats {
    uint64_t datagrams;
    uint64_t bytes;          /* UDP payload bytes */
    uint64_t records;
    uint64_t oversize;       /* datagrams above max_datagram (one big frame; IP fragments them) */
    uint64_t truncated;      /* frames cut to NTAP_FRAME_MAX */
};

struct ntap_tx {
    bool pubkey_mode;
    uint32_t tap_id;
    uint64_t session;
    uint64_t next_seq;
    size_t max_datagram;
    uint8_t key[NTAP_KEY_LEN];
    uint8_t ephemeral_pk[NTAP_PUBKEY_LEN];
    unsigned key_left;       /* datagrams that must still carry the key */
    bool batch_key;          /* the batch being filled will carry the key */
    size_t plain_len;
    unsigned batch_records;
    ntap_tx_send_fn send;
    void *send_ctx;
    struct ntap_tx_stats stats;
    uint8_t plain[NTAP_PLAINTEXT_MAX];
    uint8_t out[NTAP_DATAGRAM_MAX];
};

/* 0, or -1 with a reason (a bad public key, a budget too small for any frame). */
int ntap_tx_init(struct ntap_tx *tx, const struct ntap_tx_config *c, ntap_tx_send_fn send,
                 void *ctx, char *err, size_t errsize);
/* Add a packet; sends the batch first when the packet does not fit. A frame too big for a
 * datagram of max_datagram goes alone in a bigger one; beyond NTAP_FRAME_MAX it is cut. */
void ntap_tx_add_packet(struct ntap_tx *tx, const struct ntap_packet *p);
/* Add a status record and send the batch (the heartbeat). */
void ntap_tx_send_status(struct ntap_tx *tx, const struct ntap_status *s);
/* Send the batch if it holds any record. */
void ntap_tx_flush(struct ntap_tx *tx);
static inline bool ntap_tx_pending(const struct ntap_tx *tx) { return tx->batch_records > 0; }
/* Public-key mode: make the next datagram carry the ephemeral key. */
void ntap_tx_announce(struct ntap_tx *tx);
/* Forget the keys. */
void ntap_tx_wipe(struct ntap_tx *tx);

#endif
