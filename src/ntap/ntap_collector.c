#include "ntap/ntap_collector.h"
#include "core/clock.h"

#include <errno.h>
#include <pcap/dlt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "ntap/ntap_crypto.h"
#include "ntap/ntap_tun.h"

#define RECV_CHUNK 65536  /* libuv's recvmmsg slot size (the largest UDP datagram) */
#define RECV_CHUNKS 20    /* libuv's most datagrams per recvmmsg */
#define DROP_REPORT_S 60
#define DEFAULT_RECV_BUFFER (4u << 20)

struct ntap_collector {
    uv_loop_t *loop;
    struct engine *engine;
    struct ntap_rx *rx;
    uv_udp_t udp;
    int handles_open;
    bool closing;
    uint16_t port;
    bool pubkey_mode;
    char pubkey_hex[2 * NTAP_PUBKEY_LEN + 1];
    struct ntap_tun tun;
    bool have_tun;
    unsigned long socket_inode;
    uint64_t socket_drops;
    uint64_t ticks;
    uint64_t reported_drops[NTAP_DROP_COUNT];
    uint64_t reported_socket_drops;
    uint64_t tun_reported_drops;
    uint64_t recv_errors;
    uint8_t *recv_buf;
};

void ntap_options_init(struct ntap_options *o) { memset(o, 0, sizeof *o); }

bool ntap_spec_is(const char *spec) { return spec && strncmp(spec, "ntap:", 5) == 0; }

int ntap_spec_parse(const char *spec, struct ntap_options *o, char *err, size_t errsize)
{
    /* Messages never repeat the spec: it holds the passphrase. */
    if (!ntap_spec_is(spec)) {
        snprintf(err, errsize, "not an nTap input (ntap:PORT[:PASSPHRASE])");
        return -1;
    }
    const char *p = spec + 5;
    char *end;
    errno = 0;
    unsigned long port = strtoul(p, &end, 10);
    if (end == p || errno || port == 0 || port > 65535 || (*end && *end != ':')) {
        snprintf(err, errsize, "ntap: the port must be 1..65535 (ntap:PORT[:PASSPHRASE])");
        return -1;
    }
    o->port = (uint16_t)port;
    o->passphrase = NULL;
    if (*end == ':') {
        if (!end[1]) {
            snprintf(err, errsize, "ntap:%lu: empty passphrase (ntap:PORT for public-key mode)",
                     port);
            return -1;
        }
        o->passphrase = end + 1;
    }
    return 0;
}

static void tap_source_name(const struct ntap_tap *t, char *out, size_t outsize)
{
    snprintf(out, outsize, "ntap:%08x@%s", t->tap_id, t->addr_text);
}

/* ---- rx callbacks ---- */

static void on_packet(void *ctx, struct ntap_tap *t, const struct ntap_packet *p, uint64_t ts_us)
{
    struct ntap_collector *c = ctx;
    if (t->source_id >= 0)
        engine_process_packet(c->engine, (unsigned)t->source_id, DLT_EN10MB, ts_us, p->data,
                              p->caplen, p->wirelen);
    if (c->have_tun)
        ntap_tun_write(&c->tun, p->data, p->caplen);
}

static void on_event(void *ctx, struct ntap_tap *t, enum ntap_tap_event ev)
{
    struct ntap_collector *c = ctx;
    char name[ENGINE_SOURCE_NAME];
    tap_source_name(t, name, sizeof name);
    switch (ev) {
    case NTAP_TAP_NEW:
        t->source_id = engine_add_source(c->engine, name, "ntap");
        if (t->source_id < 0) {
            log_error("ntap", "tap %08x from %s: no engine source left (%d); its packets are "
                      "not accounted", t->tap_id, t->addr_text, ENGINE_MAX_SOURCES);
            return;
        }
        engine_source_set_linktype(c->engine, (unsigned)t->source_id, DLT_EN10MB);
        engine_source_set_state(c->engine, (unsigned)t->source_id, SOURCE_UP, NULL);
        log_info("ntap", "new tap %08x from %s (source %s; %u of %u taps)", t->tap_id,
                 t->addr_text, name, ntap_rx_tap_count(c->rx), ntap_rx_max_taps(c->rx));
        break;
    case NTAP_TAP_SESSION:
        if (t->stats.sessions > 1)
            log_info("ntap", "tap %08x: new session %016llx from %s (the tap restarted)",
                     t->tap_id, (unsigned long long)t->session, t->addr_text);
        else
            log_debug("ntap", "tap %08x: session %016llx", t->tap_id,
                      (unsigned long long)t->session);
        break;
    case NTAP_TAP_MOVED:
        log_info("ntap", "tap %08x now sends from %s", t->tap_id, t->addr_text);
        if (t->source_id >= 0)
            engine_source_set_name(c->engine, (unsigned)t->source_id, name);
        break;
    case NTAP_TAP_CLOCK:
        log_warn("ntap", "tap %08x: its clock is %+.3f s off ours; its capture times are "
                 "shifted by that much", t->tap_id, (double)t->clock_offset_us / 1e6);
        break;
    }
}

static void on_refused(void *ctx, uint32_t tap_id, const char *addr)
{
    struct ntap_collector *c = ctx;
    log_warn("ntap", "tap %08x from %s refused: %u taps already (the cap; refused datagrams "
             "are counted)", tap_id, addr, ntap_rx_max_taps(c->rx));
}

/* ---- the socket ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct ntap_collector *c = h->data;
    *buf = uv_buf_init((char *)c->recv_buf, RECV_CHUNK * RECV_CHUNKS);
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    struct ntap_collector *c = h->data;
    if (nread < 0) {
        if (c->recv_errors++ == 0)
            log_warn("ntap", "receive error on port %u: %s (counted, logged once)", c->port,
                     uv_strerror((int)nread));
        return;
    }
    if (!addr)
        return; /* nothing more to read, or the recvmmsg buffer is handed back (ours) */
    size_t len = (size_t)nread;
    if (flags & UV_UDP_PARTIAL)
        len = 0; /* cannot happen with 64 KiB slots; counted as truncated if it does */
    ntap_rx_datagram(c->rx, (const uint8_t *)buf->base, len, addr, clock_wall_us());
}

static unsigned long socket_inode(uv_udp_t *udp)
{
    uv_os_fd_t fd;
    struct stat st;
    if (uv_fileno((uv_handle_t *)udp, &fd) < 0 || fstat(fd, &st) < 0)
        return 0;
    return (unsigned long)st.st_ino;
}

/* The kernel's drop count of our socket (receive buffer overflows): the last column of
 * /proc/net/udp{,6}, on the line of our socket's inode. */
static uint64_t read_socket_drops(unsigned long inode)
{
    static const char *const files[] = {"/proc/net/udp6", "/proc/net/udp"};
    if (!inode)
        return 0;
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            continue;
        char line[512];
        while (fgets(line, sizeof line, f)) {
            unsigned long ino = 0;
            unsigned long long drops = 0;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
            if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %llu", &ino, &drops) == 2 &&
                ino == inode) {
                fclose(f);
                return drops;
            }
        }
        fclose(f);
    }
    return 0;
}

static void set_recv_buffer(uv_udp_t *udp, size_t bytes)
{
    uv_os_fd_t fd;
    int v = (int)bytes;
    if (uv_fileno((uv_handle_t *)udp, &fd) < 0)
        return;
    /* Beyond net.core.rmem_max needs CAP_NET_ADMIN (SO_RCVBUFFORCE); else take what we get. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
}

void ntap_collector_tick(struct ntap_collector *c)
{
    if (c->closing)
        return;
    uint64_t now = clock_wall_us();
    c->ticks++;
    c->socket_drops = read_socket_drops(c->socket_inode);
    for (unsigned i = 0; i < ntap_rx_tap_count(c->rx); i++) {
        struct ntap_tap *t = ntap_rx_tap(c->rx, i);
        if (t->source_id < 0)
            continue;
        unsigned id = (unsigned)t->source_id;
        const struct source_info *s = engine_source(c->engine, id);
        uint64_t silent_s = now > t->stats.last_seen_us ? (now - t->stats.last_seen_us) / 1000000 : 0;
        if (silent_s >= NTAP_TAP_SILENT_S) {
            if (s->state == SOURCE_UP)
                log_warn("ntap", "tap %08x (%s): nothing for %llu s", t->tap_id, t->addr_text,
                         (unsigned long long)silent_s);
            char why[64];
            snprintf(why, sizeof why, "no datagram for %llu s", (unsigned long long)silent_s);
            engine_source_set_state(c->engine, id, SOURCE_WAITING, why);
        } else {
            if (s->state == SOURCE_WAITING)
                log_info("ntap", "tap %08x (%s): back", t->tap_id, t->addr_text);
            engine_source_set_state(c->engine, id, SOURCE_UP, "");
        }
        if (t->have_status) {
            engine_source_set_drops(c->engine, id, t->status.kernel_drops, t->status.if_drops);
        }
    }
    /* Refused datagrams are logged once a minute at most, by reason, when there are new ones. */
    if (c->ticks % DROP_REPORT_S == 0) {
        const struct ntap_rx_totals *tot = ntap_rx_totals(c->rx);
        char line[512];
        size_t n = 0;
        line[0] = '\0';
        for (int r = 1; r < NTAP_DROP_COUNT; r++) {
            uint64_t d = tot->drops[r] - c->reported_drops[r];
            if (d && n < sizeof line)
                n += (size_t)snprintf(line + n, sizeof line - n, " %s=%llu", ntap_drop_name(r),
                                      (unsigned long long)d);
            c->reported_drops[r] = tot->drops[r];
        }
        uint64_t sd = c->socket_drops - c->reported_socket_drops;
        c->reported_socket_drops = c->socket_drops;
        if (sd && n < sizeof line)
            n += (size_t)snprintf(line + n, sizeof line - n, " socket_overflow=%llu",
                                  (unsigned long long)sd);
        if (c->have_tun && c->tun.dropped != c->tun_reported_drops && n < sizeof line) {
            n += (size_t)snprintf(line + n, sizeof line - n, " tun_dropped=%llu",
                                  (unsigned long long)(c->tun.dropped - c->tun_reported_drops));
            c->tun_reported_drops = c->tun.dropped;
        }
        if (n)
            log_warn("ntap", "port %u: datagrams dropped in the last %d s:%s", c->port,
                     DROP_REPORT_S, line);
    }
}

static void handle_closed(uv_handle_t *h)
{
    struct ntap_collector *c = h->data;
    if (--c->handles_open > 0)
        return;
    ntap_rx_destroy(c->rx);
    free(c->recv_buf);
    free(c);
}

static int bind_socket(struct ntap_collector *c, const struct ntap_options *o, char *err,
                       size_t errsize)
{
    struct sockaddr_storage ss;
    int rc;
    const char *bind = o->bind_address && *o->bind_address ? o->bind_address : NULL;
    int family = AF_INET6;
    if (bind) {
        if (uv_ip4_addr(bind, o->port, (struct sockaddr_in *)&ss) == 0) {
            family = AF_INET;
        } else if (uv_ip6_addr(bind, o->port, (struct sockaddr_in6 *)&ss) != 0) {
            snprintf(err, errsize, "bad bind address '%s'", bind);
            return -1;
        }
    } else {
        uv_ip6_addr("::", o->port, (struct sockaddr_in6 *)&ss);
    }
    rc = uv_udp_init_ex(c->loop, &c->udp, (unsigned)family | UV_UDP_RECVMMSG);
    if (rc < 0 && !bind) { /* no IPv6 here: IPv4 only */
        family = AF_INET;
        uv_ip4_addr("0.0.0.0", o->port, (struct sockaddr_in *)&ss);
        rc = uv_udp_init_ex(c->loop, &c->udp, (unsigned)family | UV_UDP_RECVMMSG);
    }
    if (rc < 0) {
        snprintf(err, errsize, "cannot create a UDP socket: %s", uv_strerror(rc));
        return -1;
    }
    c->udp.data = c;
    c->handles_open++;
    rc = uv_udp_bind(&c->udp, (const struct sockaddr *)&ss, 0);
    if (rc < 0) {
        snprintf(err, errsize, "cannot listen on UDP port %u: %s", o->port, uv_strerror(rc));
        return -1;
    }
    int namelen = sizeof ss;
    if (uv_udp_getsockname(&c->udp, (struct sockaddr *)&ss, &namelen) == 0)
        c->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    set_recv_buffer(&c->udp, o->recv_buffer ? o->recv_buffer : DEFAULT_RECV_BUFFER);
    c->socket_inode = socket_inode(&c->udp);
    return 0;
}

struct ntap_collector *ntap_collector_open(uv_loop_t *loop, struct engine *e,
                                           const struct ntap_options *o, char *err,
                                           size_t errsize)
{
    struct ntap_rx_config rc;
    memset(&rc, 0, sizeof rc);
    rc.max_taps = o->max_taps;
    rc.max_handshakes_per_s = o->max_handshakes_per_s;
    int created = 0;
    const char *dir = o->data_dir ? o->data_dir : NTAP_DEFAULT_DATA_DIR;
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return NULL;
    }
    if (o->passphrase) {
        if (ntap_psk_master(o->passphrase, rc.psk_master) < 0) {
            snprintf(err, errsize, "cannot derive the key from the passphrase (memory)");
            return NULL;
        }
    } else {
        rc.pubkey_mode = true;
        if (ntap_keypair_load_or_create(dir, rc.pk, rc.sk, &created, err, errsize) < 0)
            return NULL;
    }
    struct ntap_collector *c = calloc(1, sizeof *c);
    uint8_t *buf = malloc(RECV_CHUNK * RECV_CHUNKS);
    if (!c || !buf) {
        free(c);
        free(buf);
        sodium_memzero(&rc, sizeof rc);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    c->recv_buf = buf;
    c->loop = loop;
    c->engine = e;
    c->port = o->port;
    c->pubkey_mode = rc.pubkey_mode;
    c->tun.fd = -1;
    if (rc.pubkey_mode)
        ntap_hex_encode(rc.pk, NTAP_PUBKEY_LEN, c->pubkey_hex);
    struct ntap_rx_callbacks cb = {.packet = on_packet, .event = on_event, .refused = on_refused};
    c->rx = ntap_rx_create(&rc, &cb, c, err, errsize);
    sodium_memzero(&rc, sizeof rc);
    if (!c->rx) {
        free(c->recv_buf);
        free(c);
        return NULL;
    }
    if (o->tun_name) {
        if (ntap_tun_open(&c->tun, o->tun_name, err, errsize) < 0) {
            ntap_rx_destroy(c->rx);
            free(c->recv_buf);
            free(c);
            return NULL;
        }
        c->have_tun = true;
    }
    if (bind_socket(c, o, err, errsize) < 0)
        goto fail;
    int rc2 = uv_udp_recv_start(&c->udp, alloc_cb, recv_cb);
    if (rc2 < 0) {
        snprintf(err, errsize, "cannot receive on port %u: %s", c->port, uv_strerror(rc2));
        goto fail;
    }
    if (c->pubkey_mode) {
        if (created)
            log_info("ntap", "made a new collector key pair in %s/%s", dir, NTAP_KEYFILE_NAME);
        log_info("ntap", "listening on UDP port %u, public-key mode; public key %s "
                 "(give it to taps: tapbox-tap -K %s)", c->port, c->pubkey_hex, c->pubkey_hex);
    } else {
        log_info("ntap", "listening on UDP port %u, passphrase mode", c->port);
    }
    if (c->have_tun)
        log_info("ntap", "re-emitting decrypted frames on TAP device %s", c->tun.name);
    return c;
fail:
    ntap_collector_close(c);
    return NULL;
}

void ntap_collector_close(struct ntap_collector *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    for (unsigned i = 0; i < ntap_rx_tap_count(c->rx); i++) {
        struct ntap_tap *t = ntap_rx_tap(c->rx, i);
        if (t->source_id >= 0)
            engine_source_set_state(c->engine, (unsigned)t->source_id, SOURCE_DONE, NULL);
    }
    if (c->have_tun)
        ntap_tun_close(&c->tun);
    c->have_tun = false;
    if (c->handles_open == 0) {
        ntap_rx_destroy(c->rx);
        free(c->recv_buf);
        free(c);
        return;
    }
    uv_udp_recv_stop(&c->udp);
    uv_close((uv_handle_t *)&c->udp, handle_closed);
}

const char *ntap_collector_public_key(const struct ntap_collector *c) { return c->pubkey_hex; }
uint16_t ntap_collector_port(const struct ntap_collector *c) { return c->port; }
unsigned ntap_collector_tap_count(const struct ntap_collector *c) { return ntap_rx_tap_count(c->rx); }
const struct ntap_tap *ntap_collector_tap(const struct ntap_collector *c, unsigned i)
{
    return ntap_rx_tap(c->rx, i);
}
const struct ntap_rx_totals *ntap_collector_totals(const struct ntap_collector *c)
{
    return ntap_rx_totals(c->rx);
}
uint64_t ntap_collector_socket_drops(const struct ntap_collector *c) { return c->socket_drops; }

static cJSON *drops_json(const uint64_t drops[NTAP_DROP_COUNT])
{
    cJSON *o = cJSON_CreateObject();
    for (int r = 1; r < NTAP_DROP_COUNT; r++)
        cJSON_AddNumberToObject(o, ntap_drop_name(r), (double)drops[r]);
    return o;
}

cJSON *ntap_collector_stats_json(const struct ntap_collector *c)
{
    const struct ntap_rx_totals *tot = ntap_rx_totals(c->rx);
    cJSON *o = cJSON_CreateObject();
    char hex[32];
    cJSON_AddNumberToObject(o, "port", c->port);
    cJSON_AddStringToObject(o, "mode", c->pubkey_mode ? "public-key" : "passphrase");
    if (c->pubkey_mode)
        cJSON_AddStringToObject(o, "public_key", c->pubkey_hex);
    cJSON_AddNumberToObject(o, "datagrams", (double)tot->datagrams);
    cJSON_AddNumberToObject(o, "accepted", (double)tot->accepted);
    cJSON_AddNumberToObject(o, "packets", (double)tot->packets);
    cJSON_AddNumberToObject(o, "bytes", (double)tot->bytes);
    cJSON_AddNumberToObject(o, "handshakes", (double)tot->handshakes);
    cJSON_AddNumberToObject(o, "socket_drops", (double)c->socket_drops);
    cJSON_AddItemToObject(o, "drops", drops_json(tot->drops));
    cJSON *cap = cJSON_AddObjectToObject(o, "taps_cap");
    cJSON_AddNumberToObject(cap, "used", ntap_rx_tap_count(c->rx));
    cJSON_AddNumberToObject(cap, "max", ntap_rx_max_taps(c->rx));
    cJSON_AddNumberToObject(cap, "refused", (double)tot->drops[NTAP_DROP_TAP_REFUSED]);
    if (c->have_tun) {
        cJSON *tun = cJSON_AddObjectToObject(o, "tun");
        cJSON_AddStringToObject(tun, "name", c->tun.name);
        cJSON_AddNumberToObject(tun, "frames", (double)c->tun.frames);
        cJSON_AddNumberToObject(tun, "bytes", (double)c->tun.bytes);
        cJSON_AddNumberToObject(tun, "dropped", (double)c->tun.dropped);
    }
    cJSON *taps = cJSON_AddArrayToObject(o, "taps");
    for (unsigned i = 0; i < ntap_rx_tap_count(c->rx); i++) {
        const struct ntap_tap *t = ntap_rx_tap(c->rx, i);
        cJSON *to = cJSON_CreateObject();
        snprintf(hex, sizeof hex, "%08x", t->tap_id);
        cJSON_AddStringToObject(to, "tap_id", hex);
        cJSON_AddStringToObject(to, "address", t->addr_text);
        if (t->source_id >= 0)
            cJSON_AddStringToObject(to, "source",
                                    engine_source(c->engine, (unsigned)t->source_id)->name);
        if (t->have_status)
            cJSON_AddStringToObject(to, "name", t->status.name);
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)t->session);
        cJSON_AddStringToObject(to, "session", hex);
        cJSON_AddNumberToObject(to, "sessions", (double)t->stats.sessions);
        cJSON_AddNumberToObject(to, "datagrams", (double)t->stats.datagrams);
        cJSON_AddNumberToObject(to, "wire_bytes", (double)t->stats.wire_bytes);
        cJSON_AddNumberToObject(to, "packets", (double)t->stats.packets);
        cJSON_AddNumberToObject(to, "bytes", (double)t->stats.bytes);
        cJSON_AddNumberToObject(to, "lost", (double)t->stats.lost);
        cJSON_AddNumberToObject(to, "reordered", (double)t->stats.reordered);
        cJSON_AddNumberToObject(to, "replayed", (double)t->stats.drops[NTAP_DROP_REPLAYED]);
        cJSON_AddNumberToObject(to, "forged", (double)t->stats.drops[NTAP_DROP_FORGED]);
        cJSON_AddItemToObject(to, "drops", drops_json(t->stats.drops));
        cJSON_AddNumberToObject(to, "first_seen", (double)t->stats.first_seen_us / 1e6);
        cJSON_AddNumberToObject(to, "last_seen", (double)t->stats.last_seen_us / 1e6);
        cJSON_AddNumberToObject(to, "clock_offset_s", (double)t->clock_offset_us / 1e6);
        if (t->have_status) {
            cJSON *st = cJSON_AddObjectToObject(to, "tap_status");
            cJSON_AddNumberToObject(st, "captured", (double)t->status.captured);
            cJSON_AddNumberToObject(st, "sent", (double)t->status.sent);
            cJSON_AddNumberToObject(st, "kernel_drops", (double)t->status.kernel_drops);
            cJSON_AddNumberToObject(st, "interface_drops", (double)t->status.if_drops);
            cJSON_AddNumberToObject(st, "rate_limited", (double)t->status.rate_limited);
            cJSON_AddNumberToObject(st, "send_errors", (double)t->status.send_errors);
        }
        cJSON_AddItemToArray(taps, to);
    }
    return o;
}

void ntap_collector_log_stats(const struct ntap_collector *c)
{
    const struct ntap_rx_totals *tot = ntap_rx_totals(c->rx);
    char drops[512];
    size_t n = 0;
    drops[0] = '\0';
    for (int r = 1; r < NTAP_DROP_COUNT; r++)
        if (tot->drops[r] && n < sizeof drops)
            n += (size_t)snprintf(drops + n, sizeof drops - n, " %s=%llu", ntap_drop_name(r),
                                  (unsigned long long)tot->drops[r]);
    log_info("ntap", "port %u: %u taps, %llu datagrams (%llu accepted), %llu packets, socket "
             "drops %llu; refused:%s", c->port, ntap_rx_tap_count(c->rx),
             (unsigned long long)tot->datagrams, (unsigned long long)tot->accepted,
             (unsigned long long)tot->packets, (unsigned long long)c->socket_drops,
             n ? drops : " none");
    for (unsigned i = 0; i < ntap_rx_tap_count(c->rx); i++) {
        const struct ntap_tap *t = ntap_rx_tap(c->rx, i);
        log_info("ntap", "tap %08x %s (%s): %llu datagrams, %llu packets, %llu bytes, lost %llu, "
                 "replayed %llu, forged %llu", t->tap_id, t->addr_text,
                 t->have_status ? t->status.name : "?", (unsigned long long)t->stats.datagrams,
                 (unsigned long long)t->stats.packets, (unsigned long long)t->stats.bytes,
                 (unsigned long long)t->stats.lost,
                 (unsigned long long)t->stats.drops[NTAP_DROP_REPLAYED],
                 (unsigned long long)t->stats.drops[NTAP_DROP_FORGED]);
    }
}
