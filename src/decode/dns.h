/*
 * DNS message decoder: the question of a query, and the question, header and A/AAAA/CNAME
 * answers of a response, from the payload of a UDP datagram (or of a TCP segment once
 * dns_tcp_unframe has removed the 2-byte length). Every length, label and compression pointer
 * is checked here, so nothing that reads the results needs to. Pure functions, no state, no
 * allocation: safe to call from any thread.
 *
 * Names leave the decoder as text in caller buffers of DNS_NAME_TEXT_SIZE bytes, lowercased,
 * labels joined by '.', no trailing dot (the root is "."), NUL-terminated. Bytes other than
 * a-z 0-9 '-' '_' '*' are kept but escaped as \DDD (decimal, as in zone files: a '.' inside a
 * label is \046, a backslash \092, NUL \000), so a name that went through here holds no control
 * character, no quote, no '<' or '&' and cannot be mistaken for another name. Names are kept
 * rather than refused because odd names are what a monitor wants to show; a name whose escaped
 * text does not fit in DNS_NAME_TEXT_SIZE is refused (DNS_NAME_TEXT_TOO_LONG).
 *
 * Compression pointers must point strictly before the start of the labels being read (so
 * every jump goes further back and no loop is possible) and after the header, at most
 * DNS_MAX_POINTER_HOPS of them per name.
 */
#ifndef TAPBOX_DNS_H
#define TAPBOX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_TEXT_SIZE 256           /* 255 characters of text and the NUL */
#define DNS_NAME_WIRE_MAX 255            /* RFC 1035: a name's uncompressed wire form */
#define DNS_LABEL_MAX 63
#define DNS_MAX_POINTER_HOPS 127         /* a name has at most 127 labels: no honest chain is longer */
#define DNS_TTL_MAX_S (7u * 24 * 3600)   /* longer TTLs are clamped to a week and counted */

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3

/* Why a message was not decoded. Callers keep one counter per reason (dns_status_name). */
enum dns_status {
    DNS_OK = 0,
    DNS_TCP_INCOMPLETE,      /* TCP: no length prefix, or the message goes on in a later segment */
    DNS_TRUNCATED_HEADER,    /* under the 12 bytes of a header */
    DNS_NOT_RESPONSE,        /* QR clear where a response was expected */
    DNS_NOT_QUERY,           /* QR set where a query was expected */
    DNS_UNSUPPORTED_OPCODE,  /* NOTIFY, UPDATE...: their sections mean other things */
    DNS_NO_QUESTION,         /* a query with QDCOUNT 0 */
    DNS_TRUNCATED_NAME,      /* a name (or its pointer) runs past the end of the message */
    DNS_LABEL_TOO_LONG,      /* a label length 64..191: over 63, or a reserved label type */
    DNS_NAME_TOO_LONG,       /* over 255 bytes in uncompressed wire form */
    DNS_NAME_TEXT_TOO_LONG,  /* the escaped text does not fit in DNS_NAME_TEXT_SIZE */
    DNS_BAD_POINTER,         /* a compression pointer not strictly backwards, or into the header */
    DNS_TOO_MANY_POINTERS,   /* more than DNS_MAX_POINTER_HOPS jumps in one name */
    DNS_TRUNCATED_QUESTION,  /* QTYPE/QCLASS past the end */
    DNS_TRUNCATED_RECORD,    /* a record's type/class/TTL/RDLENGTH or its RDATA past the end */
    DNS_BAD_RDLENGTH,        /* A not 4 bytes, AAAA not 16, a CNAME target not filling its RDATA */
    DNS_STATUS_COUNT
};

const char *dns_status_name(enum dns_status status);
/* "A", "AAAA", "CNAME", "MX", "HTTPS"... for the common types; NULL for the others. */
const char *dns_type_name(uint16_t type);

struct dns_question {
    char name[DNS_NAME_TEXT_SIZE];
    uint16_t qtype;
    uint16_t qclass;
};

struct dns_query {
    uint16_t id;
    uint16_t question_count;         /* QDCOUNT; only the first question is decoded */
    struct dns_question question;
    bool name_escaped;               /* the name held bytes outside a-z0-9-_* */
};

struct dns_answer {
    uint16_t type;                   /* DNS_TYPE_A, DNS_TYPE_AAAA or DNS_TYPE_CNAME */
    uint32_t ttl_s;                  /* at most DNS_TTL_MAX_S */
    char owner[DNS_NAME_TEXT_SIZE];
    union {
        uint8_t addr[16];            /* A: 4 bytes then zeros; AAAA: 16 bytes */
        char cname[DNS_NAME_TEXT_SIZE]; /* CNAME: the target */
    };
};

struct dns_response {
    uint16_t id;
    uint8_t opcode;
    uint8_t rcode;                   /* the header's 4 bits (EDNS extended bits not read) */
    bool authoritative;
    bool truncated;                  /* TC: the server cut the answer, the client will retry */
    bool has_question;               /* false for QDCOUNT 0 (mDNS announcements) */
    struct dns_question question;    /* the first question */
    uint16_t answer_records;         /* ANCOUNT */
    uint16_t answers_kept;           /* A/AAAA/CNAME answers written to the caller's array */
    uint16_t answers_dropped;        /* A/AAAA/CNAME answers beyond the array: checked, not kept */
    uint16_t answers_other;          /* other types or classes: checked owner, RDATA skipped */
    uint16_t ttls_clamped;           /* answers whose TTL was over DNS_TTL_MAX_S */
    uint16_t names_escaped;          /* names (question, owners, targets) that needed escapes */
};

/* The first message of a DNS-over-TCP payload: skips the 2-byte length and checks that the
 * whole message is in this payload (segments are not reassembled). Pipelined messages after
 * the first are left alone. DNS_OK or DNS_TCP_INCOMPLETE. */
enum dns_status dns_tcp_unframe(const uint8_t *payload, size_t len, const uint8_t **msg,
                                size_t *msg_len);

/* A query (QR clear, opcode QUERY, QDCOUNT >= 1): its id and first question. */
enum dns_status dns_decode_query(const uint8_t *msg, size_t len, struct dns_query *out);

/* A response (QR set, opcode QUERY): header, first question (if any) and
 * the answer section, whose A, AAAA and CNAME records of class IN go to answers[0..max_answers)
 * in message order. The authority and additional sections are not read. Every answer record is
 * walked and checked whether or not there is room to keep it, so the status does not depend on
 * max_answers. On an error the fields and answers decoded before it are left in place; callers
 * should learn from a response only on DNS_OK. */
enum dns_status dns_decode_response(const uint8_t *msg, size_t len, struct dns_response *out,
                                    struct dns_answer *answers, size_t max_answers);

/* A host name seen elsewhere (TLS SNI, HTTP Host, DHCP option 12, NetBIOS) in the decoder's text
 * form: lowercased, '.' separating labels, one trailing dot dropped, every other byte outside
 * a-z0-9-_* escaped as \DDD. Returns the text length, or -1 for an empty name, an empty label
 * or a text over DNS_NAME_TEXT_SIZE - 1 characters (out is then ""). */
int dns_name_from_text(const char *raw, size_t len, char out[DNS_NAME_TEXT_SIZE]);

/* True if every byte of the NUL-terminated text is one dns_name_from_text or the decoder can
 * produce (a-z 0-9 - _ * . \), and it is not empty. */
bool dns_name_text_is_clean(const char *text);

#endif
