#include "ntap/ntap_tx.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ntap/ntap_crypto.h"

int ntap_tx_init(struct ntap_tx *tx, const struct ntap_tx_config *c, ntap_tx_send_fn send,
                 void *ctx, char *err, size_t errsize)
{
    memset(tx, 0, offsetof(struct ntap_tx, plain));
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return -1;
    }
    size_t min = NTAP_HEADER_LEN + NTAP_PUBKEY_LEN + NTAP_TAG_LEN + NTAP_PACKET_HEADER_LEN + 64;
    if (c->max_datagram < min || c->max_datagram > NTAP_DATAGRAM_MAX) {
        snprintf(err, errsize, "datagram budget %zu out of range (%zu..%d)", c->max_datagram, min,
                 NTAP_DATAGRAM_MAX);
        return -1;
    }
    tx->pubkey_mode = c->pubkey_mode;
    tx->tap_id = c->tap_id;
    tx->session = c->session;
    if (!tx->session)
        tx->session = (uint64_t)time(NULL) << 32 | randombytes_random();
    tx->next_seq = c->first_seq;
    tx->max_datagram = c->max_datagram;
    tx->send = send;
    tx->send_ctx = ctx;
    if (c->pubkey_mode) {
        if (ntap_pk_tap_session(c->collector_pk, c->ephemeral_seed, tx->ephemeral_pk, tx->key) < 0) {
            snprintf(err, errsize, "unusable collector public key");
            return -1;
        }
        tx->key_left = NTAP_TX_KEY_FIRST;
    } else {
        ntap_psk_session_key(c->psk_master, tx->tap_id, tx->session, tx->key);
    }
    return 0;
}

void ntap_tx_wipe(struct ntap_tx *tx)
{
    sodium_memzero(tx->key, sizeof tx->key);
    sodium_memzero(tx->plain, sizeof tx->plain);
}

void ntap_tx_announce(struct ntap_tx *tx)
{
    if (tx->pubkey_mode && tx->key_left == 0)
        tx->key_left = 1;
}

static size_t overhead(bool with_key)
{
    return NTAP_HEADER_LEN + NTAP_TAG_LEN + (with_key ? NTAP_PUBKEY_LEN : 0);
}

/* Room for records in the batch being filled. */
static size_t budget(const struct ntap_tx *tx) { return tx->max_datagram - overhead(tx->batch_key); }

static void batch_begin(struct ntap_tx *tx)
{
    if (tx->batch_records == 0 && tx->plain_len == 0)
        tx->batch_key = tx->pubkey_mode && tx->key_left > 0;
}

void ntap_tx_flush(struct ntap_tx *tx)
{
    if (tx->batch_records == 0)
        return;
    struct ntap_header h = {
        .version = NTAP_VERSION,
        .flags = (uint8_t)((tx->pubkey_mode ? NTAP_FLAG_PUBKEY : 0) |
                           (tx->batch_key ? NTAP_FLAG_KEY : 0)),
        .tap_id = tx->tap_id,
        .session = tx->session,
        .seq = tx->next_seq++,
    };
    size_t len = ntap_seal(tx->key, &h, tx->ephemeral_pk, tx->plain, tx->plain_len, tx->out);
    if (tx->batch_key && tx->key_left)
        tx->key_left--;
    tx->stats.datagrams++;
    tx->stats.bytes += len;
    tx->stats.records += tx->batch_records;
    if (len > tx->max_datagram)
        tx->stats.oversize++;
    tx->plain_len = 0;
    tx->batch_records = 0;
    tx->send(tx->send_ctx, tx->out, len);
}

void ntap_tx_add_packet(struct ntap_tx *tx, const struct ntap_packet *p)
{
    struct ntap_packet q = *p;
    batch_begin(tx);
    if (tx->plain_len + ntap_packet_record_size(q.caplen) > budget(tx) && tx->batch_records) {
        ntap_tx_flush(tx); /* it may fit in a fresh batch */
        batch_begin(tx);
    }
    size_t room = budget(tx);
    if (ntap_packet_record_size(q.caplen) > room) {
        /* Alone and still too big: one datagram beyond the budget (IP fragments it). */
        size_t max_caplen = NTAP_DATAGRAM_MAX - overhead(tx->batch_key) - NTAP_PACKET_HEADER_LEN;
        if (q.caplen > max_caplen) {
            q.caplen = (uint32_t)max_caplen;
            tx->stats.truncated++;
        }
        room = NTAP_DATAGRAM_MAX - overhead(tx->batch_key);
    }
    if (q.wirelen < q.caplen)
        q.wirelen = q.caplen;
    ntap_record_put_packet(tx->plain, room, &tx->plain_len, &q);
    tx->batch_records++;
    if (tx->plain_len + NTAP_PACKET_HEADER_LEN + 1 > budget(tx))
        ntap_tx_flush(tx); /* nothing more fits (or an oversize datagram): send now */
}

void ntap_tx_send_status(struct ntap_tx *tx, const struct ntap_status *s)
{
    batch_begin(tx);
    size_t need = NTAP_REC_HEADER_LEN + NTAP_STATUS_FIXED + strnlen(s->name, NTAP_NAME_MAX);
    if (tx->plain_len + need > budget(tx)) {
        ntap_tx_flush(tx);
        batch_begin(tx);
    }
    ntap_record_put_status(tx->plain, budget(tx), &tx->plain_len, s);
    tx->batch_records++;
    ntap_tx_flush(tx);
}
