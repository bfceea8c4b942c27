#include "decode/dns.h"

#include <string.h>

#define DNS_HEADER_LEN 12
#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_OPCODE_QUERY 0
#define DNS_RR_FIXED_LEN 10 /* type, class, TTL, RDLENGTH after the owner name */

static const char *const status_names[DNS_STATUS_COUNT] = {
    [DNS_OK] = "ok",
    [DNS_TCP_INCOMPLETE] = "tcp_incomplete",
    [DNS_TRUNCATED_HEADER] = "truncated_header",
    [DNS_NOT_RESPONSE] = "not_response",
    [DNS_NOT_QUERY] = "not_query",
    [DNS_UNSUPPORTED_OPCODE] = "unsupported_opcode",
    [DNS_NO_QUESTION] = "no_question",
    [DNS_TRUNCATED_NAME] = "truncated_name",
    [DNS_LABEL_TOO_LONG] = "label_too_long",
    [DNS_NAME_TOO_LONG] = "name_too_long",
    [DNS_NAME_TEXT_TOO_LONG] = "name_text_too_long",
    [DNS_BAD_POINTER] = "bad_pointer",
    [DNS_TOO_MANY_POINTERS] = "too_many_pointers",
    [DNS_TRUNCATED_QUESTION] = "truncated_question",
    [DNS_TRUNCATED_RECORD] = "truncated_record",
    [DNS_BAD_RDLENGTH] = "bad_rdlength",
};

const char *dns_status_name(enum dns_status status)
{
    return (unsigned)status < DNS_STATUS_COUNT ? status_names[status] : "unknown";
}

const char *dns_type_name(uint16_t type)
{
    switch (type) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 13: return "HINFO";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 41: return "OPT";
    case 43: return "DS";
    case 46: return "RRSIG";
    case 47: return "NSEC";
    case 48: return "DNSKEY";
    case 52: return "TLSA";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 99: return "SPF";
    case 252: return "AXFR";
    case 255: return "ANY";
    case 257: return "CAA";
    default: return NULL;
    }
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes that stand for themselves in a name's text; every other one becomes \DDD. */
static inline bool byte_is_plain(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}

/* Text being built in a DNS_NAME_TEXT_SIZE buffer; len stays below the size, for the NUL. */
struct name_text {
    char *out;
    size_t len;
    bool escaped;
};

static bool text_put_byte(struct name_text *t, uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        c = (uint8_t)(c - 'A' + 'a');
    if (byte_is_plain(c)) {
        if (t->len + 1 >= DNS_NAME_TEXT_SIZE)
            return false;
        t->out[t->len++] = (char)c;
        return true;
    }
    if (t->len + 4 >= DNS_NAME_TEXT_SIZE)
        return false;
    t->out[t->len++] = '\\';
    t->out[t->len++] = (char)('0' + c / 100);
    t->out[t->len++] = (char)('0' + c / 10 % 10);
    t->out[t->len++] = (char)('0' + c % 10);
    t->escaped = true;
    return true;
}

/* A label's bytes: plain ones copied in one pass while they fit, escapes one by one. */
static bool text_put_label(struct name_text *t, const uint8_t *label, size_t n)
{
    size_t i = 0;
    if (t->len + n < DNS_NAME_TEXT_SIZE) {
        char *o = t->out + t->len;
        for (; i < n; i++) {
            uint8_t c = label[i];
            if (c >= 'A' && c <= 'Z')
                c = (uint8_t)(c - 'A' + 'a');
            if (!byte_is_plain(c))
                break;
            o[i] = (char)c;
        }
        t->len += i;
    }
    for (; i < n; i++)
        if (!text_put_byte(t, label[i]))
            return false;
    return true;
}

static bool text_put_dot(struct name_text *t)
{
    if (t->len + 1 >= DNS_NAME_TEXT_SIZE)
        return false;
    t->out[t->len++] = '.';
    return true;
}

/* Read the name at *pos into text (DNS_NAME_TEXT_SIZE bytes). On DNS_OK, *pos is just past the
 * name where it began (after its first pointer, if any). */
static enum dns_status read_name_text(const uint8_t *msg, size_t len, size_t *pos, char *text,
                                      bool *escaped)
{
    struct name_text t = {text, 0, false};
    size_t p = *pos;
    size_t segment_start = p; /* a pointer must land before this: each jump goes further back */
    size_t resume = 0;        /* where the caller goes on, once a pointer was followed */
    unsigned hops = 0;
    size_t wire_len = 1;      /* the root byte */
    text[0] = '\0';
    for (;;) {
        if (p >= len)
            return DNS_TRUNCATED_NAME;
        uint8_t b = msg[p];
        if (b == 0) {
            p++;
            break;
        }
        if ((b & 0xC0) == 0xC0) {
            if (p + 1 >= len)
                return DNS_TRUNCATED_NAME;
            size_t target = (size_t)(b & 0x3F) << 8 | msg[p + 1];
            if (target >= segment_start || target < DNS_HEADER_LEN)
                return DNS_BAD_POINTER;
            if (++hops > DNS_MAX_POINTER_HOPS)
                return DNS_TOO_MANY_POINTERS;
            if (!resume)
                resume = p + 2;
            p = segment_start = target;
            continue;
        }
        if (b > DNS_LABEL_MAX)
            return DNS_LABEL_TOO_LONG; /* 0x40..0xBF: too long, or the obsolete label types */
        if (b >= len - p) /* the label's b bytes after its length byte must be inside */
            return DNS_TRUNCATED_NAME;
        wire_len += 1u + b;
        if (wire_len > DNS_NAME_WIRE_MAX)
            return DNS_NAME_TOO_LONG;
        if ((t.len && !text_put_dot(&t)) || !text_put_label(&t, msg + p + 1, b))
            return DNS_NAME_TEXT_TOO_LONG;
        p += 1u + b;
    }
    if (t.len == 0)
        t.out[t.len++] = '.'; /* the root */
    t.out[t.len] = '\0';
    *pos = resume ? resume : p;
    if (escaped)
        *escaped = t.escaped;
    return DNS_OK;
}

/* read_name_text, leaving "" rather than a partial name when it fails. */
static enum dns_status read_name(const uint8_t *msg, size_t len, size_t *pos, char *text,
                                 bool *escaped)
{
    enum dns_status st = read_name_text(msg, len, pos, text, escaped);
    if (st != DNS_OK)
        text[0] = '\0';
    return st;
}

static enum dns_status read_question(const uint8_t *msg, size_t len, size_t *pos,
                                     struct dns_question *q, bool *escaped)
{
    enum dns_status st = read_name(msg, len, pos, q->name, escaped);
    if (st != DNS_OK)
        return st;
    if (len - *pos < 4)
        return DNS_TRUNCATED_QUESTION;
    q->qtype = rd16(msg + *pos);
    q->qclass = rd16(msg + *pos + 2);
    *pos += 4;
    return DNS_OK;
}

enum dns_status dns_tcp_unframe(const uint8_t *payload, size_t len, const uint8_t **msg,
                                size_t *msg_len)
{
    if (len < 2)
        return DNS_TCP_INCOMPLETE;
    size_t n = rd16(payload);
    if (n > len - 2)
        return DNS_TCP_INCOMPLETE;
    *msg = payload + 2;
    *msg_len = n;
    return DNS_OK;
}

enum dns_status dns_decode_query(const uint8_t *msg, size_t len, struct dns_query *out)
{
    memset(out, 0, sizeof *out);
    if (len < DNS_HEADER_LEN)
        return DNS_TRUNCATED_HEADER;
    uint16_t flags = rd16(msg + 2);
    out->id = rd16(msg);
    out->question_count = rd16(msg + 4);
    if (flags & DNS_FLAG_QR)
        return DNS_NOT_QUERY;
    if ((flags >> 11 & 0xF) != DNS_OPCODE_QUERY)
        return DNS_UNSUPPORTED_OPCODE;
    if (out->question_count == 0)
        return DNS_NO_QUESTION;
    size_t pos = DNS_HEADER_LEN;
    return read_question(msg, len, &pos, &out->question, &out->name_escaped);
}

/* One answer record at *pos: kept in *a when it is an A, AAAA or CNAME of class IN. */
static enum dns_status read_answer(const uint8_t *msg, size_t len, size_t *pos,
                                   struct dns_answer *a, bool *wanted, struct dns_response *out)
{
    bool escaped = false;
    enum dns_status st = read_name(msg, len, pos, a->owner, &escaped);
    if (st != DNS_OK)
        return st;
    out->names_escaped += escaped;
    size_t p = *pos;
    if (len - p < DNS_RR_FIXED_LEN)
        return DNS_TRUNCATED_RECORD;
    uint16_t type = rd16(msg + p), rclass = rd16(msg + p + 2);
    uint32_t ttl = rd32(msg + p + 4);
    size_t rdlen = rd16(msg + p + 8);
    p += DNS_RR_FIXED_LEN;
    if (rdlen > len - p)
        return DNS_TRUNCATED_RECORD;
    *pos = p + rdlen;
    /* mDNS sets the top bit of the class (cache flush): the class is the other 15. */
    *wanted = (rclass & 0x7FFF) == DNS_CLASS_IN &&
              (type == DNS_TYPE_A || type == DNS_TYPE_AAAA || type == DNS_TYPE_CNAME);
    if (!*wanted)
        return DNS_OK;
    a->type = type;
    if (ttl > DNS_TTL_MAX_S) {
        ttl = DNS_TTL_MAX_S;
        out->ttls_clamped++;
    }
    a->ttl_s = ttl;
    if (type == DNS_TYPE_A || type == DNS_TYPE_AAAA) {
        size_t want = type == DNS_TYPE_A ? 4 : 16;
        if (rdlen != want)
            return DNS_BAD_RDLENGTH;
        memset(a->addr, 0, sizeof a->addr);
        memcpy(a->addr, msg + p, want);
        return DNS_OK;
    }
    size_t target = p;
    st = read_name(msg, len, &target, a->cname, &escaped);
    if (st != DNS_OK)
        return st;
    if (target != p + rdlen)
        return DNS_BAD_RDLENGTH;
    out->names_escaped += escaped;
    return DNS_OK;
}

enum dns_status dns_decode_response(const uint8_t *msg, size_t len, struct dns_response *out,
                                    struct dns_answer *answers, size_t max_answers)
{
    memset(out, 0, sizeof *out);
    if (len < DNS_HEADER_LEN)
        return DNS_TRUNCATED_HEADER;
    uint16_t flags = rd16(msg + 2);
    out->id = rd16(msg);
    out->opcode = (uint8_t)(flags >> 11 & 0xF);
    out->rcode = (uint8_t)(flags & 0xF);
    out->authoritative = flags & DNS_FLAG_AA;
    out->truncated = flags & DNS_FLAG_TC;
    out->answer_records = rd16(msg + 6);
    if (!(flags & DNS_FLAG_QR))
        return DNS_NOT_RESPONSE;
    if (out->opcode != DNS_OPCODE_QUERY)
        return DNS_UNSUPPORTED_OPCODE;
    size_t pos = DNS_HEADER_LEN;
    uint16_t questions = rd16(msg + 4);
    for (uint16_t i = 0; i < questions; i++) {
        /* Later questions (rare) are walked into a scratch copy, to reach the answers. */
        struct dns_question scratch;
        struct dns_question *q = i == 0 ? &out->question : &scratch;
        bool escaped = false;
        enum dns_status st = read_question(msg, len, &pos, q, &escaped);
        if (st != DNS_OK)
            return st;
        out->names_escaped += escaped;
        out->has_question = true;
    }
    for (uint16_t i = 0; i < out->answer_records; i++) {
        struct dns_answer scratch;
        struct dns_answer *a = out->answers_kept < max_answers ? &answers[out->answers_kept]
                                                               : &scratch;
        bool wanted = false;
        enum dns_status st = read_answer(msg, len, &pos, a, &wanted, out);
        if (st != DNS_OK)
            return st;
        if (!wanted)
            out->answers_other++;
        else if (a == &scratch)
            out->answers_dropped++;
        else
            out->answers_kept++;
    }
    return DNS_OK;
}

int dns_name_from_text(const char *raw, size_t len, char out[DNS_NAME_TEXT_SIZE])
{
    struct name_text t = {out, 0, false};
    if (len && raw[len - 1] == '.')
        len--;
    bool label_empty = true;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)raw[i];
        bool fits;
        if (c == '.') {
            fits = !label_empty && text_put_dot(&t); /* "a..b" and ".a" have an empty label */
            label_empty = true;
        } else {
            fits = text_put_byte(&t, c);
            label_empty = false;
        }
        if (!fits) {
            out[0] = '\0';
            return -1;
        }
    }
    if (label_empty) { /* empty, or ending in an empty label */
        out[0] = '\0';
        return -1;
    }
    out[t.len] = '\0';
    return (int)t.len;
}

bool dns_name_text_is_clean(const char *text)
{
    if (!*text)
        return false;
    for (const char *s = text; *s; s++)
        if (!byte_is_plain((uint8_t)*s) && *s != '.' && *s != '\\')
            return false;
    return true;
}
