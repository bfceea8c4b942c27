#include "flow/l7.h"
#include "flow/name_table.h"

#include <malloc.h>
#include <ndpi/ndpi_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Give-up points, as nDPI's reference reader: a flow still unknown after this many packets
 * (both directions) is settled by guessing. Extra dissection stops there too. */
#define L7_MAX_TCP_PACKETS 32
#define L7_MAX_UDP_PACKETS 24
#define L7_MAX_OTHER_PACKETS 24

struct l7_module {
    struct ndpi_detection_module_struct *ndpi;
};

/* nDPI's memory is counted with malloc_usable_size() rather than a size header: nDPI itself
 * sometimes frees with free() what came from ndpi_malloc() (and the reverse), which a header
 * would turn into heap corruption. Only the loop thread calls nDPI, so no atomics. */
static long long l7_bytes_in_use;

static void *l7_counted_malloc(size_t size)
{
    void *p = malloc(size);
    if (p)
        l7_bytes_in_use += (long long)malloc_usable_size(p);
    return p;
}

static void l7_counted_free(void *ptr)
{
    if (!ptr)
        return;
    l7_bytes_in_use -= (long long)malloc_usable_size(ptr);
    free(ptr);
}

size_t l7_memory_in_use(void) { return l7_bytes_in_use > 0 ? (size_t)l7_bytes_in_use : 0; }

/* Detection states of ended detections, kept for the next flows: a new flow then gets a state
 * still in the cache instead of a malloc and a cold memset, and an ended one skips free. The
 * kept states stay counted in l7_bytes_in_use. Loop thread only, like every nDPI call. */
#define STATE_CACHE 256
static struct ndpi_flow_struct *state_cache[STATE_CACHE];
static unsigned state_cached;

struct l7_module *l7_module_create(const struct l7_files *files, char *err, size_t errsize)
{
    set_ndpi_malloc(l7_counted_malloc);
    set_ndpi_free(l7_counted_free);
    set_ndpi_flow_malloc(l7_counted_malloc);
    set_ndpi_flow_free(l7_counted_free);

    struct l7_module *mod = calloc(1, sizeof *mod);
    if (!mod)
        return NULL;
    mod->ndpi = ndpi_init_detection_module(ndpi_no_prefs);
    if (!mod->ndpi) {
        snprintf(err, errsize, "nDPI failed to start");
        free(mod);
        return NULL;
    }
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(mod->ndpi, &all);
    const char *bad = NULL, *what = NULL;
    if (files->protocols && ndpi_load_protocols_file(mod->ndpi, files->protocols) < 0)
        bad = files->protocols, what = "protocols file";
    else if (files->risky_domains &&
             ndpi_load_risk_domain_file(mod->ndpi, files->risky_domains) < 0)
        bad = files->risky_domains, what = "risky domains list";
    else if (files->malicious_ja3 &&
             ndpi_load_malicious_ja3_file(mod->ndpi, files->malicious_ja3) < 0)
        bad = files->malicious_ja3, what = "JA3 fingerprint list";
    else if (files->malicious_sha1 &&
             ndpi_load_malicious_sha1_file(mod->ndpi, files->malicious_sha1) < 0)
        bad = files->malicious_sha1, what = "certificate fingerprint list";
    if (bad) {
        snprintf(err, errsize, "%s: nDPI cannot load this %s", bad, what);
        ndpi_exit_detection_module(mod->ndpi);
        free(mod);
        return NULL;
    }
    ndpi_finalize_initialization(mod->ndpi);
    return mod;
}

void l7_module_destroy(struct l7_module *mod)
{
    if (!mod)
        return;
    while (state_cached > 0)
        l7_counted_free(state_cache[--state_cached]);
    ndpi_exit_detection_module(mod->ndpi);
    free(mod);
}

struct ndpi_flow_struct *l7_flow_state_new(void)
{
    struct ndpi_flow_struct *state =
        state_cached > 0 ? state_cache[--state_cached] : ndpi_flow_malloc(SIZEOF_FLOW_STRUCT);
    if (state)
        memset(state, 0, SIZEOF_FLOW_STRUCT);
    return state;
}

void l7_flow_state_free(struct ndpi_flow_struct *state)
{
    /* ndpi_free_flow_data() releases the state's own buffers; the struct goes back to the
     * cache, or to the counted allocator (what ndpi_free_flow would do) when it is full. */
    if (!state)
        return;
    ndpi_free_flow_data(state);
    if (state_cached < STATE_CACHE)
        state_cache[state_cached++] = state;
    else
        l7_counted_free(state);
}

static void l7_store(struct l7_result *r, ndpi_protocol p)
{
    r->master = p.master_protocol;
    r->app = p.app_protocol;
    r->category = (uint16_t)p.category;
}

static uint64_t l7_packet_limit(uint8_t l4_proto)
{
    switch (l4_proto) {
    case IPPROTO_TCP:
        return L7_MAX_TCP_PACKETS;
    case IPPROTO_UDP:
        return L7_MAX_UDP_PACKETS;
    default:
        return L7_MAX_OTHER_PACKETS;
    }
}

bool l7_flow_past_giveup(uint64_t flow_packets, uint8_t l4_proto)
{
    return flow_packets > l7_packet_limit(l4_proto);
}

enum l7_progress l7_flow_feed(struct l7_module *mod, struct ndpi_flow_struct *state,
                              const uint8_t *l3, uint32_t len, uint64_t time_ms,
                              uint64_t flow_packets, uint8_t l4_proto, struct l7_result *result,
                              uint8_t *extra_packets, uint8_t max_extra_packets, bool counts)
{
    bool detected_before = result->app != NDPI_PROTOCOL_UNKNOWN;
    if (len > 0xFFFF)
        len = 0xFFFF; /* nDPI takes a 16-bit length; an IP packet is never longer */
    ndpi_protocol p = ndpi_detection_process_packet(mod->ndpi, state, l3, (unsigned short)len,
                                                    time_ms);
    /* During extra dissection nDPI may refine the answer (HTTP -> HTTP.Google) but an unknown
     * answer never erases one we had. */
    if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN)
        l7_store(result, p);

    bool detected = result->app != NDPI_PROTOCOL_UNKNOWN;
    bool over_limit = flow_packets > l7_packet_limit(l4_proto);
    if (detected) {
        if (detected_before && counts && ++*extra_packets >= max_extra_packets)
            return L7_DONE;
        if (!ndpi_extra_dissection_possible(mod->ndpi, state) || over_limit)
            return L7_DONE;
        return L7_CONTINUE;
    }
    if (over_limit) {
        l7_flow_giveup(mod, state, result);
        return L7_DONE;
    }
    return L7_CONTINUE;
}

void l7_flow_giveup(struct l7_module *mod, struct ndpi_flow_struct *state,
                    struct l7_result *result)
{
    if (result->app != NDPI_PROTOCOL_UNKNOWN)
        return;
    uint8_t guessed = 0;
    ndpi_protocol p = ndpi_detection_giveup(mod->ndpi, state, 1, &guessed);
    l7_store(result, p);
    result->guessed = guessed != 0;
}

void l7_result_name(const struct l7_module *mod, const struct l7_result *r, char *buf,
                    size_t size)
{
    ndpi_protocol p = {.master_protocol = r->master,
                       .app_protocol = r->app,
                       .category = (ndpi_protocol_category_t)r->category};
    ndpi_protocol2name(mod->ndpi, p, buf, (u_int)size);
}

const char *l7_protocol_name(const struct l7_module *mod, uint16_t id)
{
    return ndpi_get_proto_name(mod->ndpi, id);
}

int l7_protocol_id(const struct l7_module *mod, const char *name)
{
    uint16_t n = l7_protocol_count(mod);
    for (uint16_t id = 0; id < n; id++) {
        const char *proto = ndpi_get_proto_name(mod->ndpi, id);
        if (proto && strcasecmp(proto, name) == 0)
            return id;
    }
    return -1;
}

const char *l7_category_name(const struct l7_module *mod, uint16_t category)
{
    return ndpi_category_get_name(mod->ndpi, (ndpi_protocol_category_t)category);
}

uint16_t l7_protocol_count(const struct l7_module *mod)
{
    return (uint16_t)ndpi_get_num_supported_protocols(mod->ndpi);
}

/* ---- what nDPI parsed besides the protocol ---- */

static bool l7_is(const struct l7_result *r, uint16_t proto)
{
    return r->master == proto || r->app == proto;
}

/* The protocols whose detection state keeps its TLS/QUIC fields (the union member of
 * ndpi_flow_struct.protos in use), as nDPI's reference reader reads them. */
static bool l7_uses_tls_fields(const struct l7_result *r)
{
    static const uint16_t tls_like[] = {NDPI_PROTOCOL_TLS,        NDPI_PROTOCOL_DTLS,
                                        NDPI_PROTOCOL_MAIL_SMTPS, NDPI_PROTOCOL_MAIL_IMAPS,
                                        NDPI_PROTOCOL_MAIL_POPS,
                                        NDPI_PROTOCOL_QUIC};
    for (size_t i = 0; i < sizeof tls_like / sizeof tls_like[0]; i++)
        if (l7_is(r, tls_like[i]))
            return true;
    return false;
}

void l7_flow_details(const struct ndpi_flow_struct *state, const struct l7_result *r,
                     struct l7_details *out)
{
    memset(out, 0, sizeof *out);
    if (!state)
        return;
    out->host_name = state->host_server_name;
    out->user_agent = state->http.user_agent;
    out->risks = state->risk;
    if (l7_uses_tls_fields(r)) {
        out->ja3c = state->protos.tls_quic.ja3_client;
        out->ja3s = state->protos.tls_quic.ja3_server;
        out->issuer = state->protos.tls_quic.issuerDN;
        out->subject = state->protos.tls_quic.subjectDN;
        out->not_before = state->protos.tls_quic.notBefore;
        out->not_after = state->protos.tls_quic.notAfter;
    } else if (l7_is(r, NDPI_PROTOCOL_DNS)) {
        out->dns_qtype = state->protos.dns.query_type;
        /* is_query tells the last packet nDPI parsed; a guess parsed none */
        out->dns_reply = !r->guessed && (!state->protos.dns.is_query ||
                                         state->protos.dns.num_answers > 0 ||
                                         state->protos.dns.reply_code != 0);
        out->dns_rcode = state->protos.dns.reply_code;
    }
    if (l7_is(r, NDPI_PROTOCOL_HTTP) || l7_is(r, NDPI_PROTOCOL_HTTP_PROXY) ||
        l7_is(r, NDPI_PROTOCOL_HTTP_CONNECT)) {
        out->url = state->http.url;
        out->http_status = state->http.response_status_code;
        /* nDPI leaves the URL's own risks (SQL injection, XSS, RCE in the query) to its caller:
         * its reference reader and ntopng both ask ndpi_validate_url, so do we. It wants a
         * writable string. */
        if (out->url && *out->url) {
            char url[2048];
            snprintf(url, sizeof url, "%s", out->url);
            ndpi_risk_enum risk = ndpi_validate_url(url);
            if (risk != NDPI_NO_RISK && risk < NDPI_MAX_RISK)
                out->risks |= 1ull << risk;
        }
    }
    out->risk_score = l7_risk_score(out->risks);
}

const char *l7_risk_name(unsigned bit)
{
    if (bit == 0 || bit >= NDPI_MAX_RISK)
        return NULL; /* bit 0 is NDPI_NO_RISK */
    return ndpi_risk2str((ndpi_risk_enum)bit);
}

uint16_t l7_risk_score(uint64_t risks)
{
    u_int16_t client = 0, server = 0;
    return ndpi_risk2score((ndpi_risk)risks, &client, &server);
}

int l7_risk_id(const char *name)
{
    for (unsigned bit = 1; bit < NDPI_MAX_RISK; bit++) {
        const char *n = ndpi_risk2str((ndpi_risk_enum)bit);
        if (n && strcasecmp(n, name) == 0)
            return (int)bit;
    }
    return -1;
}

bool l7_names_server(uint16_t app, uint16_t master, bool tls)
{
    struct l7_result r = {.master = master, .app = app};
    if (tls)
        return l7_uses_tls_fields(&r);
    return l7_is(&r, NDPI_PROTOCOL_HTTP) || l7_is(&r, NDPI_PROTOCOL_HTTP_PROXY) ||
           l7_is(&r, NDPI_PROTOCOL_HTTP_CONNECT);
}

bool l7_names_client(uint16_t app, uint16_t master, unsigned *source_out)
{
    struct l7_result r = {.master = master, .app = app};
    if (l7_is(&r, NDPI_PROTOCOL_DHCP))
        *source_out = NAME_SOURCE_DHCP;
    else if (l7_is(&r, NDPI_PROTOCOL_NETBIOS))
        *source_out = NAME_SOURCE_NETBIOS;
    else
        return false;
    return true;
}
