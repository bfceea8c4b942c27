#include "ntap/ntap_rx.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntap/ntap_crypto.h"

struct ntap_rx {
    struct ntap_rx_config config;
    struct ntap_rx_callbacks cb;
    void *ctx;
    struct ntap_tap *taps;
    unsigned tap_count;
    uint32_t *slots;          /* open addressing: tap index + 1, 0 = empty */
    uint32_t slot_mask;
    struct ntap_rx_totals totals;
    uint64_t handshake_second;
    unsigned handshakes_this_second;
    uint64_t refused_log_second;
    uint8_t plain[NTAP_DATAGRAM_MAX];
};

struct ntap_rx *ntap_rx_create(const struct ntap_rx_config *c, const struct ntap_rx_callbacks *cb,
                               void *ctx, char *err, size_t errsize)
{
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return NULL;
    }
    struct ntap_rx *rx = calloc(1, sizeof *rx);
    if (!rx) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    rx->config = *c;
    if (!rx->config.max_taps)
        rx->config.max_taps = NTAP_DEFAULT_MAX_TAPS;
    if (!rx->config.max_handshakes_per_s)
        rx->config.max_handshakes_per_s = NTAP_DEFAULT_HANDSHAKES_PER_S;
    if (rx->config.max_taps > NTAP_MAX_TAPS_LIMIT)
        rx->config.max_taps = NTAP_MAX_TAPS_LIMIT;
    if (cb)
        rx->cb = *cb;
    rx->ctx = ctx;
    uint32_t slots = 16;
    while (slots < 2 * rx->config.max_taps)
        slots *= 2;
    rx->slot_mask = slots - 1;
    rx->taps = calloc(rx->config.max_taps, sizeof *rx->taps);
    rx->slots = calloc(slots, sizeof *rx->slots);
    if (!rx->taps || !rx->slots) {
        snprintf(err, errsize, "out of memory");
        ntap_rx_destroy(rx);
        return NULL;
    }
    return rx;
}

void ntap_rx_destroy(struct ntap_rx *rx)
{
    if (!rx)
        return;
    if (rx->taps)
        sodium_memzero(rx->taps, rx->config.max_taps * sizeof *rx->taps);
    sodium_memzero(&rx->config, sizeof rx->config);
    sodium_memzero(rx->plain, sizeof rx->plain);
    free(rx->taps);
    free(rx->slots);
    free(rx);
}

static uint32_t slot_of(const struct ntap_rx *rx, uint32_t tap_id)
{
    return (tap_id * 2654435761u) & rx->slot_mask;
}

struct ntap_tap *ntap_rx_find(struct ntap_rx *rx, uint32_t tap_id)
{
    for (uint32_t s = slot_of(rx, tap_id);; s = (s + 1) & rx->slot_mask) {
        uint32_t v = rx->slots[s];
        if (!v)
            return NULL;
        if (rx->taps[v - 1].tap_id == tap_id)
            return &rx->taps[v - 1];
    }
}

static struct ntap_tap *tap_add(struct ntap_rx *rx, uint32_t tap_id)
{
    if (rx->tap_count == rx->config.max_taps)
        return NULL;
    struct ntap_tap *t = &rx->taps[rx->tap_count++];
    memset(t, 0, sizeof *t);
    t->tap_id = tap_id;
    t->source_id = -1;
    uint32_t s = slot_of(rx, tap_id);
    while (rx->slots[s])
        s = (s + 1) & rx->slot_mask;
    rx->slots[s] = rx->tap_count;
    return t;
}

const struct ntap_rx_totals *ntap_rx_totals(const struct ntap_rx *rx) { return &rx->totals; }
unsigned ntap_rx_tap_count(const struct ntap_rx *rx) { return rx->tap_count; }
unsigned ntap_rx_max_taps(const struct ntap_rx *rx) { return rx->config.max_taps; }
struct ntap_tap *ntap_rx_tap(struct ntap_rx *rx, unsigned i)
{
    return i < rx->tap_count ? &rx->taps[i] : NULL;
}
uint64_t ntap_tap_lost(const struct ntap_tap *t) { return t->lost_before + t->replay.lost; }

void ntap_sockaddr_text(const struct sockaddr *sa, char *out, size_t outsize)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (!sa) {
        snprintf(out, outsize, "-");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        snprintf(out, outsize, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, sizeof ip);
            snprintf(out, outsize, "%s:%u", ip, ntohs(s6->sin6_port));
        } else {
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            snprintf(out, outsize, "[%s]:%u", ip, ntohs(s6->sin6_port));
        }
    } else {
        snprintf(out, outsize, "family-%d", sa->sa_family);
    }
}

static size_t sockaddr_len(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
           : sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                      : 0;
}

static enum ntap_drop drop(struct ntap_rx *rx, struct ntap_tap *t, enum ntap_drop why)
{
    rx->totals.drops[why]++;
    if (t)
        t->stats.drops[why]++;
    return why;
}

/* Validate every record first: an authentic datagram is accounted whole or not at all. */
static bool records_valid(const uint8_t *plain, size_t len)
{
    struct ntap_record_iter it;
    struct ntap_packet p;
    struct ntap_status st;
    enum ntap_rec_kind k;
    ntap_records_begin(&it, plain, len);
    while ((k = ntap_records_next(&it, &p, &st)) != NTAP_REC_END)
        if (k == NTAP_REC_BAD)
            return false;
    return true;
}

static void deliver(struct ntap_rx *rx, struct ntap_tap *t, const uint8_t *plain, size_t len,
                    uint64_t now_us)
{
    struct ntap_record_iter it;
    struct ntap_packet p;
    struct ntap_status st;
    enum ntap_rec_kind k;
    ntap_records_begin(&it, plain, len);
    while ((k = ntap_records_next(&it, &p, &st)) != NTAP_REC_END) {
        if (k == NTAP_REC_IS_STATUS) {
            t->status = st;
            t->have_status = true;
            continue;
        }
        if (k != NTAP_REC_IS_PACKET)
            continue;
        int64_t ts = (int64_t)(p.ts_ns / 1000);
        int64_t skew = (int64_t)now_us - (ts + t->clock_offset_us);
        if (!t->clock_set || skew > NTAP_CLOCK_SLACK_US || skew < -NTAP_CLOCK_SLACK_US) {
            int64_t raw = (int64_t)now_us - ts;
            int64_t offset = raw > NTAP_CLOCK_SLACK_US || raw < -NTAP_CLOCK_SLACK_US ? raw : 0;
            bool changed = !t->clock_set ? offset != 0 : offset != t->clock_offset_us;
            t->clock_offset_us = offset;
            t->clock_set = true;
            if (changed) {
                t->stats.clock_corrections++;
                if (rx->cb.event)
                    rx->cb.event(rx->ctx, t, NTAP_TAP_CLOCK);
            }
        }
        t->stats.packets++;
        t->stats.bytes += p.wirelen;
        rx->totals.packets++;
        rx->totals.bytes += p.wirelen;
        if (rx->cb.packet)
            rx->cb.packet(rx->ctx, t, &p, (uint64_t)(ts + t->clock_offset_us));
    }
}

/* A datagram whose session is not the tap's current one (or of a tap not seen yet): its key. */
static enum ntap_drop session_key(struct ntap_rx *rx, struct ntap_tap *t,
                                  const struct ntap_header *h, const uint8_t *data, uint64_t now_us,
                                  uint8_t key[32])
{
    if (!rx->config.pubkey_mode) {
        ntap_psk_session_key(rx->config.psk_master, h->tap_id, h->session, key);
        return NTAP_OK;
    }
    if (!(h->flags & NTAP_FLAG_KEY))
        return drop(rx, t, NTAP_DROP_UNKNOWN_SESSION);
    uint64_t second = now_us / 1000000;
    if (second != rx->handshake_second) {
        rx->handshake_second = second;
        rx->handshakes_this_second = 0;
    }
    if (rx->handshakes_this_second >= rx->config.max_handshakes_per_s)
        return drop(rx, t, NTAP_DROP_HANDSHAKE_LIMIT);
    rx->handshakes_this_second++;
    rx->totals.handshakes++;
    if (ntap_pk_collector_session(rx->config.pk, rx->config.sk, data + NTAP_HEADER_LEN, key) < 0)
        return drop(rx, t, NTAP_DROP_FORGED);
    return NTAP_OK;
}

enum ntap_drop ntap_rx_datagram(struct ntap_rx *rx, const uint8_t *data, size_t len,
                                const struct sockaddr *from, uint64_t now_us)
{
    struct ntap_header h;
    rx->totals.datagrams++;
    enum ntap_drop why = ntap_header_decode(data, len, &h);
    if (why != NTAP_OK)
        return drop(rx, NULL, why);
    if (!(h.flags & NTAP_FLAG_PUBKEY) != !rx->config.pubkey_mode)
        return drop(rx, NULL, NTAP_DROP_WRONG_MODE);

    struct ntap_tap *t = ntap_rx_find(rx, h.tap_id);
    bool current = t && t->session == h.session && t->stats.sessions > 0;
    uint8_t fresh_key[32];
    const uint8_t *key;
    if (current) {
        if (!ntap_replay_check(&t->replay, h.seq))
            return drop(rx, t, NTAP_DROP_REPLAYED);
        /* A key-bearing datagram of the current session must bring the same key. */
        if ((h.flags & NTAP_FLAG_KEY) &&
            sodium_memcmp(data + NTAP_HEADER_LEN, t->ephemeral_pk, NTAP_PUBKEY_LEN) != 0)
            return drop(rx, t, NTAP_DROP_FORGED);
        key = t->key;
    } else {
        /* Never an older session, however long the tap has been silent: accepting one after a
         * silence let anyone replay a recorded session once the tap paused (issue 15). */
        if (t && t->stats.sessions > 0 && h.session < t->session)
            return drop(rx, t, NTAP_DROP_STALE_SESSION);
        if ((why = session_key(rx, t, &h, data, now_us, fresh_key)) != NTAP_OK)
            return why;
        key = fresh_key;
    }
    long plain_len = ntap_open(key, &h, data, len, rx->plain);
    if (plain_len < 0) {
        sodium_memzero(fresh_key, sizeof fresh_key);
        return drop(rx, t, NTAP_DROP_FORGED);
    }
    if (!records_valid(rx->plain, (size_t)plain_len)) {
        sodium_memzero(fresh_key, sizeof fresh_key);
        return drop(rx, t, NTAP_DROP_MALFORMED);
    }

    /* Authentic: from here on the datagram may change state. */
    bool is_new_tap = false;
    if (!t) {
        t = tap_add(rx, h.tap_id);
        if (!t) {
            sodium_memzero(fresh_key, sizeof fresh_key);
            if (rx->cb.refused && now_us / 1000000 != rx->refused_log_second) {
                char addr[64];
                ntap_sockaddr_text(from, addr, sizeof addr);
                rx->refused_log_second = now_us / 1000000;
                rx->cb.refused(rx->ctx, h.tap_id, addr);
            }
            return drop(rx, NULL, NTAP_DROP_TAP_REFUSED);
        }
        t->stats.first_seen_us = now_us;
        is_new_tap = true;
    }
    bool moved = false;
    size_t alen = sockaddr_len(from);
    if (alen && memcmp(&t->addr, from, alen) != 0) {
        moved = !is_new_tap;
        memset(&t->addr, 0, sizeof t->addr);
        memcpy(&t->addr, from, alen);
        ntap_sockaddr_text(from, t->addr_text, sizeof t->addr_text);
    } else if (!alen && is_new_tap) {
        snprintf(t->addr_text, sizeof t->addr_text, "-");
    }
    if (!current) {
        t->lost_before += t->replay.lost;
        t->reordered_before += t->replay.reordered;
        ntap_replay_init(&t->replay);
        t->session = h.session;
        memcpy(t->key, fresh_key, sizeof t->key);
        sodium_memzero(fresh_key, sizeof fresh_key);
        if (h.flags & NTAP_FLAG_KEY)
            memcpy(t->ephemeral_pk, data + NTAP_HEADER_LEN, NTAP_PUBKEY_LEN);
        t->have_status = false;
        t->stats.sessions++;
    }
    ntap_replay_accept(&t->replay, h.seq);
    t->stats.lost = t->lost_before + t->replay.lost;
    t->stats.reordered = t->reordered_before + t->replay.reordered;
    t->stats.datagrams++;
    t->stats.wire_bytes += len;
    t->stats.last_seen_us = now_us;
    rx->totals.accepted++;
    if (rx->cb.event) {
        if (is_new_tap)
            rx->cb.event(rx->ctx, t, NTAP_TAP_NEW);
        else if (moved)
            rx->cb.event(rx->ctx, t, NTAP_TAP_MOVED);
        if (!current)
            rx->cb.event(rx->ctx, t, NTAP_TAP_SESSION);
    }
    deliver(rx, t, rx->plain, (size_t)plain_len, now_us);
    return NTAP_OK;
}
