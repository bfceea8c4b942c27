#include "ntap/ntap_wire.h"

#include <string.h>

const char *ntap_drop_name(enum ntap_drop d)
{
    static const char *const names[NTAP_DROP_COUNT] = {
        [NTAP_OK] = "ok",
        [NTAP_DROP_TRUNCATED] = "truncated",
        [NTAP_DROP_BAD_VERSION] = "bad_version",
        [NTAP_DROP_WRONG_MODE] = "wrong_mode",
        [NTAP_DROP_UNKNOWN_SESSION] = "unknown_session",
        [NTAP_DROP_STALE_SESSION] = "stale_session",
        [NTAP_DROP_REPLAYED] = "replayed",
        [NTAP_DROP_FORGED] = "forged",
        [NTAP_DROP_MALFORMED] = "malformed",
        [NTAP_DROP_TAP_REFUSED] = "tap_refused",
        [NTAP_DROP_HANDSHAKE_LIMIT] = "handshake_limited",
    };
    return (unsigned)d < NTAP_DROP_COUNT ? names[d] : "?";
}

void ntap_header_encode(const struct ntap_header *h, uint8_t out[NTAP_HEADER_LEN])
{
    out[0] = NTAP_MAGIC0;
    out[1] = NTAP_MAGIC1;
    out[2] = h->version;
    out[3] = h->flags;
    ntap_put32(out + 4, h->tap_id);
    ntap_put64(out + 8, h->session);
    ntap_put64(out + 16, h->seq);
}

enum ntap_drop ntap_header_decode(const uint8_t *data, size_t len, struct ntap_header *h)
{
    /* Magic and version first: a short datagram that is not ours at all is "bad version". */
    if (len >= 1 && data[0] != NTAP_MAGIC0)
        return NTAP_DROP_BAD_VERSION;
    if (len >= 2 && data[1] != NTAP_MAGIC1)
        return NTAP_DROP_BAD_VERSION;
    if (len >= 3 && data[2] != NTAP_VERSION)
        return NTAP_DROP_BAD_VERSION;
    /* Unknown flag bits, or a key outside public-key mode. */
    if (len >= 4 && ((data[3] & ~NTAP_FLAGS_KNOWN) ||
                     ((data[3] & NTAP_FLAG_KEY) && !(data[3] & NTAP_FLAG_PUBKEY))))
        return NTAP_DROP_BAD_VERSION;
    if (len < NTAP_HEADER_LEN)
        return NTAP_DROP_TRUNCATED;
    h->version = data[2];
    h->flags = data[3];
    h->tap_id = ntap_get32(data + 4);
    h->session = ntap_get64(data + 8);
    h->seq = ntap_get64(data + 16);
    size_t need = NTAP_HEADER_LEN + NTAP_TAG_LEN + ((h->flags & NTAP_FLAG_KEY) ? NTAP_PUBKEY_LEN : 0);
    if (len < need)
        return NTAP_DROP_TRUNCATED;
    return NTAP_OK;
}

void ntap_nonce(uint64_t seq, uint8_t out[NTAP_NONCE_LEN])
{
    memset(out, 0, 4);
    ntap_put64(out + 4, seq);
}

bool ntap_record_put_packet(uint8_t *buf, size_t cap, size_t *len, const struct ntap_packet *p)
{
    size_t need = ntap_packet_record_size(p->caplen);
    if (p->caplen > 0xffff - NTAP_PACKET_FIXED || *len + need > cap)
        return false;
    uint8_t *r = buf + *len;
    r[0] = NTAP_REC_PACKET;
    r[1] = p->direction & NTAP_DIR_MASK;
    ntap_put16(r + 2, (uint16_t)(NTAP_PACKET_FIXED + p->caplen));
    ntap_put32(r + 4, p->wirelen);
    ntap_put64(r + 8, p->ts_ns);
    if (p->caplen)
        memcpy(r + NTAP_PACKET_HEADER_LEN, p->data, p->caplen);
    *len += need;
    return true;
}

bool ntap_record_put_status(uint8_t *buf, size_t cap, size_t *len, const struct ntap_status *s)
{
    size_t name_len = strnlen(s->name, NTAP_NAME_MAX);
    size_t need = NTAP_REC_HEADER_LEN + NTAP_STATUS_FIXED + name_len;
    if (*len + need > cap)
        return false;
    uint8_t *r = buf + *len;
    r[0] = NTAP_REC_STATUS;
    r[1] = 0;
    ntap_put16(r + 2, (uint16_t)(NTAP_STATUS_FIXED + name_len));
    const uint64_t v[6] = {s->captured,     s->sent,         s->kernel_drops,
                           s->if_drops,     s->rate_limited, s->send_errors};
    for (int i = 0; i < 6; i++)
        ntap_put64(r + 4 + 8 * i, v[i]);
    memcpy(r + 4 + NTAP_STATUS_FIXED, s->name, name_len);
    *len += need;
    return true;
}

void ntap_records_begin(struct ntap_record_iter *it, const uint8_t *plain, size_t len)
{
    it->p = plain;
    it->end = plain + len;
}

enum ntap_rec_kind ntap_records_next(struct ntap_record_iter *it, struct ntap_packet *pkt,
                                     struct ntap_status *st)
{
    size_t left = (size_t)(it->end - it->p);
    if (left == 0)
        return NTAP_REC_END;
    if (left < NTAP_REC_HEADER_LEN)
        return NTAP_REC_BAD;
    const uint8_t *r = it->p;
    size_t body = ntap_get16(r + 2);
    if (body > left - NTAP_REC_HEADER_LEN)
        return NTAP_REC_BAD;
    it->p += NTAP_REC_HEADER_LEN + body;
    switch (r[0]) {
    case NTAP_REC_PACKET:
        if (body < NTAP_PACKET_FIXED || (r[1] & ~NTAP_DIR_MASK) || (r[1] & NTAP_DIR_MASK) == 3)
            return NTAP_REC_BAD;
        pkt->direction = r[1];
        pkt->wirelen = ntap_get32(r + 4);
        pkt->ts_ns = ntap_get64(r + 8);
        pkt->caplen = (uint32_t)(body - NTAP_PACKET_FIXED);
        pkt->data = r + NTAP_PACKET_HEADER_LEN;
        if (pkt->caplen > pkt->wirelen)
            return NTAP_REC_BAD;
        return NTAP_REC_IS_PACKET;
    case NTAP_REC_STATUS: {
        if (body < NTAP_STATUS_FIXED || body > NTAP_STATUS_FIXED + NTAP_NAME_MAX)
            return NTAP_REC_BAD;
        uint64_t *v[6] = {&st->captured, &st->sent,         &st->kernel_drops,
                          &st->if_drops, &st->rate_limited, &st->send_errors};
        for (int i = 0; i < 6; i++)
            *v[i] = ntap_get64(r + 4 + 8 * i);
        size_t n = body - NTAP_STATUS_FIXED;
        /* The name is shown in logs and JSON: keep printable ASCII only. */
        for (size_t i = 0; i < n; i++) {
            uint8_t c = r[4 + NTAP_STATUS_FIXED + i];
            st->name[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
        }
        st->name[n] = '\0';
        return NTAP_REC_IS_STATUS;
    }
    default:
        return NTAP_REC_SKIPPED;
    }
}

void ntap_hex_encode(const uint8_t *bin, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ntap_hex_decode(const char *hex, uint8_t *bin, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        bin[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
