#include "tap/tap_agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "capture/live_open.h"
#include "core/log.h"
#include "ntap/ntap_crypto.h"
#include "ntap/ntap_tx.h"

#define SOCKET_BUFFER_BYTES (4 * 1024 * 1024)
#define DISPATCH_BATCH 256
#define DISPATCHES_PER_WAKEUP 8
#define ETH_HLEN 14
#define SEND_QUIET_NS (5ull * 1000000000) /* no send error this long: "reachable again" */

struct tap_agent {
    uv_loop_t *loop;
    char *iface, *user_bpf, *host;
    uint16_t port;
    uint32_t tap_id;
    char name[NTAP_NAME_MAX + 1];
    bool pubkey_mode;
    uint8_t psk_master[NTAP_KEY_LEN];
    uint8_t collector_pk[NTAP_PUBKEY_LEN];
    int mtu, snaplen, buffer_mib;
    unsigned stats_interval_s;
    /* --rate-limit: a token bucket in bytes on the wire (IP and UDP headers included) */
    double rate_bytes_per_ns, burst, tokens;
    uint64_t refill_ns;
    /* the collector */
    uv_getaddrinfo_t gai;
    bool resolving;
    bool resolved;
    struct sockaddr_storage dst;
    int dst_family;
    char dst_text[INET6_ADDRSTRLEN + 8];
    int sock;
    bool connected;
    struct ntap_tx *tx;
    bool send_failing;
    uint64_t last_send_error_ns;
    /* the capture */
    pcap_t *pcap;
    uv_poll_t *poll;
    int linktype;
    bool nano;
    uint8_t own_mac[6];
    bool have_mac;
    uint64_t base_kernel_drops, base_if_drops;
    char filter[4096];
    struct live_retry outage;      /* the outage being retried (capture or resolve), for its log */
    bool capture_was_up;
    uint8_t *conv;
    /* timers */
    uv_timer_t retry, tick;
    int tfd;
    uv_poll_t flush_poll;
    bool flush_armed;
    int handles_open;
    bool stopping;
    uint64_t ticks;
    struct tap_stats stats;
    void (*on_fatal)(void *ctx);
    void *ctx;
};

static void capture_start(struct tap_agent *a);
static void agent_free(struct tap_agent *a);
static void resolve_start(struct tap_agent *a);

const struct tap_stats *tap_agent_stats(struct tap_agent *a) { return &a->stats; }
const char *tap_agent_filter(const struct tap_agent *a) { return a->filter; }

void tap_build_filter(const char *user, const char *addr, int family, uint16_t port, char *out,
                      size_t outsize)
{
    /* Our datagrams, and their IP fragments (which carry no UDP header), to the collector. */
    char own[512];
    if (family == AF_INET6)
        snprintf(own, sizeof own, "ip6 dst host %s and ((udp dst port %u) or ip6[6] == 44)", addr,
                 port);
    else
        snprintf(own, sizeof own,
                 "ip dst host %s and ((udp dst port %u) or (ip[6:2] & 0x1fff != 0 and ip[9] == 17))",
                 addr, port);
    if (user && *user)
        snprintf(out, outsize, "(%s) and not (%s)", user, own);
    else
        snprintf(out, outsize, "not (%s)", own);
}

static uint64_t mono_ns(void) { return uv_hrtime(); }

/* ---- sending ---- */

static void send_datagram(void *ctx, const uint8_t *d, size_t len)
{
    struct tap_agent *a = ctx;
    if (a->rate_bytes_per_ns > 0)
        a->tokens -= (double)len + (a->dst_family == AF_INET6 ? 48 : 28);
    if (!a->connected) /* there was no route when we started */
        a->connected = connect(a->sock, (struct sockaddr *)&a->dst,
                               a->dst_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                         : sizeof(struct sockaddr_in)) == 0;
    ssize_t n = a->connected ? send(a->sock, d, len, MSG_DONTWAIT | MSG_NOSIGNAL) : -1;
    if (n == (ssize_t)len) {
        a->stats.datagrams++;
        a->stats.bytes += len;
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        a->stats.send_dropped++;
        return;
    }
    a->stats.send_errors++;
    a->last_send_error_ns = mono_ns();
    if (!a->send_failing) {
        a->send_failing = true;
        log_warn("tap", "sending to %s: %s; going on (failed datagrams are counted)", a->dst_text,
                 n < 0 ? strerror(errno) : "short write");
    }
}

static void flush_arm(struct tap_agent *a)
{
    if (a->flush_armed || !ntap_tx_pending(a->tx) || a->tfd < 0)
        return;
    struct itimerspec its = {{0, 0}, {0, TAP_FLUSH_US * 1000}};
    if (timerfd_settime(a->tfd, 0, &its, NULL) == 0)
        a->flush_armed = true;
}

static void flush_cb(uv_poll_t *h, int status, int events)
{
    struct tap_agent *a = h->data;
    uint64_t expirations;
    if (read(a->tfd, &expirations, sizeof expirations) < 0) {
        /* EAGAIN: a stale wakeup */
    }
    a->flush_armed = false;
    if (a->tx)
        ntap_tx_flush(a->tx);
}

/* ---- capture ---- */

static bool rate_admit(struct tap_agent *a)
{
    if (a->rate_bytes_per_ns <= 0)
        return true;
    return a->tokens > 0;
}

static void rate_refill(struct tap_agent *a)
{
    if (a->rate_bytes_per_ns <= 0)
        return;
    uint64_t now = mono_ns();
    a->tokens += (double)(now - a->refill_ns) * a->rate_bytes_per_ns;
    if (a->tokens > a->burst)
        a->tokens = a->burst;
    a->refill_ns = now;
}

static uint8_t eth_direction(const struct tap_agent *a, const uint8_t *frame, uint32_t caplen)
{
    if (!a->have_mac || caplen < 12)
        return NTAP_DIR_UNKNOWN;
    if (memcmp(frame + 6, a->own_mac, 6) == 0)
        return NTAP_DIR_OUT;
    if (memcmp(frame, a->own_mac, 6) == 0 || (frame[0] & 1))
        return NTAP_DIR_IN;
    return NTAP_DIR_UNKNOWN;
}

static uint8_t sll_direction(uint16_t pkttype)
{
    switch (pkttype) {
    case 0: case 1: case 2: return NTAP_DIR_IN; /* to us, broadcast, multicast */
    case 4: return NTAP_DIR_OUT;
    default: return NTAP_DIR_UNKNOWN;
    }
}

/* Frames cross as Ethernet: other link types get an Ethernet header made up from theirs. */
static const uint8_t *to_ethernet(struct tap_agent *a, const uint8_t *data, uint32_t *caplen,
                                  uint32_t *wirelen, uint8_t *dir)
{
    uint32_t hlen;
    uint16_t type;
    const uint8_t *src = NULL;
    switch (a->linktype) {
    case DLT_EN10MB:
        *dir = eth_direction(a, data, *caplen);
        return data;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        hlen = 0;
        if (*caplen < 1)
            return NULL;
        type = (data[0] >> 4) == 6 ? 0x86dd : 0x0800;
        *dir = NTAP_DIR_UNKNOWN;
        break;
    case DLT_LINUX_SLL:
        hlen = 16;
        if (*caplen < hlen)
            return NULL;
        type = ntap_get16(data + 14);
        *dir = sll_direction(ntap_get16(data));
        if (ntap_get16(data + 4) == 6)
            src = data + 6;
        break;
    case DLT_LINUX_SLL2:
        hlen = 20;
        if (*caplen < hlen)
            return NULL;
        type = ntap_get16(data);
        *dir = sll_direction(data[10]);
        if (data[11] == 6)
            src = data + 12;
        break;
    default:
        return NULL;
    }
    uint8_t *e = a->conv;
    memset(e, 0, 12);
    if (src)
        memcpy(e + 6, src, 6);
    ntap_put16(e + 12, type);
    memcpy(e + ETH_HLEN, data + hlen, *caplen - hlen);
    *caplen = *caplen - hlen + ETH_HLEN;
    *wirelen = (*wirelen > hlen ? *wirelen - hlen : 0) + ETH_HLEN;
    return e;
}

static void packet_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct tap_agent *a = (struct tap_agent *)user;
    a->stats.captured++;
    if (!rate_admit(a)) {
        a->stats.rate_limited++;
        return;
    }
    struct ntap_packet p;
    p.caplen = h->caplen;
    p.wirelen = h->len;
    p.data = to_ethernet(a, data, &p.caplen, &p.wirelen, &p.direction);
    if (!p.data) {
        a->stats.not_ethernet++;
        return;
    }
    p.ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
              (uint64_t)h->ts.tv_usec * (a->nano ? 1u : 1000u);
    ntap_tx_add_packet(a->tx, &p);
    a->stats.sent_packets++;
}

static void read_mac(struct tap_agent *a)
{
    struct ifreq ifr;
    a->have_mac = false;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", a->iface);
    if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0) {
        memcpy(a->own_mac, ifr.ifr_hwaddr.sa_data, 6);
        a->have_mac = true;
    }
    close(s);
}

static void free_handle_cb(uv_handle_t *h) { free(h); }

static void capture_stop(struct tap_agent *a)
{
    if (a->poll) {
        uv_poll_stop(a->poll);
        uv_close((uv_handle_t *)a->poll, free_handle_cb);
        a->poll = NULL;
    }
    if (a->pcap) {
        struct pcap_stat st;
        if (pcap_stats(a->pcap, &st) == 0) {
            a->base_kernel_drops += st.ps_drop;
            a->base_if_drops += st.ps_ifdrop;
        }
        pcap_close(a->pcap);
        a->pcap = NULL;
    }
}

static void retry_cb(uv_timer_t *t)
{
    struct tap_agent *a = t->data;
    if (!a->resolved)
        resolve_start(a);
    else
        capture_start(a);
}

/* The capture could not start or stopped: log it (once per distinct reason), retry. */
static void capture_failed(struct tap_agent *a, const char *why)
{
    capture_stop(a);
    if (live_retry_failed(&a->outage, why))
        log_warn("tap", "%s: %s; retrying every %d s", a->iface, why, TAP_RETRY_MS / 1000);
    if (!a->stopping)
        uv_timer_start(&a->retry, retry_cb, TAP_RETRY_MS, 0);
}

static void fatal(struct tap_agent *a, const char *why)
{
    capture_stop(a);
    log_error("tap", "%s", why);
    if (a->on_fatal)
        a->on_fatal(a->ctx);
}

static void dispatch(struct tap_agent *a)
{
    rate_refill(a);
    for (int i = 0; i < DISPATCHES_PER_WAKEUP && a->pcap; i++) {
        int n = pcap_dispatch(a->pcap, DISPATCH_BATCH, packet_cb, (u_char *)a);
        if (n < 0 && n != PCAP_ERROR_BREAK) {
            char why[PCAP_ERRBUF_SIZE + 32];
            snprintf(why, sizeof why, "capture stopped: %s", pcap_geterr(a->pcap));
            a->stats.capture_restarts++;
            capture_failed(a, why);
            break;
        }
        if (n < DISPATCH_BATCH)
            break;
    }
    if (a->tx)
        flush_arm(a);
}

static void capture_poll_cb(uv_poll_t *h, int status, int events)
{
    struct tap_agent *a = h->data;
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "capture stopped: %s", uv_strerror(status));
        a->stats.capture_restarts++;
        capture_failed(a, why);
        return;
    }
    dispatch(a);
}

static bool linktype_supported(int lt)
{
    return lt == DLT_EN10MB || lt == DLT_RAW || lt == DLT_IPV4 || lt == DLT_IPV6 ||
           lt == DLT_LINUX_SLL || lt == DLT_LINUX_SLL2;
}

static void capture_start(struct tap_agent *a)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    if (a->stopping)
        return;
    char failed[PCAP_ERRBUF_SIZE + 64];
    bool missing;
    struct live_open lo = {a->iface, a->snaplen, a->buffer_mib << 20, true, true};
    pcap_t *p = live_open(&lo, &missing, failed, sizeof failed);
    if (!p) {
        capture_failed(a, failed);
        return;
    }
    a->pcap = p;
    int rc;
    a->linktype = pcap_datalink(p);
    if (!linktype_supported(a->linktype)) {
        char why[256];
        snprintf(why, sizeof why, "%s: link type %s cannot be sent (Ethernet, raw IP and Linux "
                 "cooked captures can)", a->iface,
                 pcap_datalink_val_to_name(a->linktype) ? pcap_datalink_val_to_name(a->linktype) : "?");
        fatal(a, why);
        return;
    }
    struct bpf_program prog;
    if (pcap_compile(p, &prog, a->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        char why[PCAP_ERRBUF_SIZE + 4200];
        snprintf(why, sizeof why, "bad filter '%s': %s", a->filter, pcap_geterr(p));
        fatal(a, why);
        return;
    }
    rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc < 0 || pcap_setnonblock(p, 1, perr) < 0) {
        capture_failed(a, rc < 0 ? pcap_geterr(p) : perr);
        return;
    }
    a->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
    read_mac(a);
    int fd = pcap_get_selectable_fd(p);
    a->poll = fd >= 0 ? malloc(sizeof *a->poll) : NULL;
    if (!a->poll || uv_poll_init(a->loop, a->poll, fd) < 0) {
        free(a->poll);
        a->poll = NULL;
        capture_failed(a, "no selectable descriptor");
        return;
    }
    a->poll->data = a;
    uv_poll_start(a->poll, UV_READABLE, capture_poll_cb);
    log_info("tap", "%s: capturing (%s%s), sending to %s as tap %08x", a->iface,
             pcap_datalink_val_to_name(a->linktype) ? pcap_datalink_val_to_name(a->linktype) : "?",
             a->capture_was_up ? ", again" : "", a->dst_text, a->tap_id);
    a->capture_was_up = true;
    live_retry_recovered(&a->outage);
    dispatch(a); /* anything already queued */
}

/* ---- the collector's address and our socket ---- */

static int open_socket(struct tap_agent *a, char *err, size_t errsize)
{
    int fam = a->dst.ss_family;
    int s = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errsize, "socket: %s", strerror(errno));
        return -1;
    }
    /* Let IP fragment a datagram bigger than the path MTU (a jumbo or GRO frame) rather than
     * refuse it. */
    int v = fam == AF_INET6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT;
    if (fam == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v);
    else
        setsockopt(s, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
    v = SOCKET_BUFFER_BYTES;
    if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0)
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    v = 1; /* we never read: keep the receive queue at the kernel's minimum */
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    socklen_t len = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    a->connected = connect(s, (struct sockaddr *)&a->dst, len) == 0;
    if (!a->connected) /* no route yet (the interface is down): connected at the next send */
        log_warn("tap", "collector %s: %s; going on", a->dst_text, strerror(errno));
    a->sock = s;
    return 0;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tap_agent *a = req->data;
    a->resolving = false;
    a->handles_open--;
    if (a->stopping) { /* cancelled by tap_agent_stop */
        uv_freeaddrinfo(res);
        if (a->handles_open == 0)
            agent_free(a);
        return;
    }
    if (status < 0 || !res) {
        char why[256];
        snprintf(why, sizeof why, "cannot resolve the collector %s: %s", a->host,
                 uv_strerror(status));
        if (live_retry_failed(&a->outage, why))
            log_warn("tap", "%s; retrying every %d s", why, TAP_RESOLVE_RETRY_MS / 1000);
        uv_freeaddrinfo(res);
        uv_timer_start(&a->retry, retry_cb, TAP_RESOLVE_RETRY_MS, 0);
        return;
    }
    memset(&a->dst, 0, sizeof a->dst);
    memcpy(&a->dst, res->ai_addr, res->ai_addrlen);
    a->dst_family = res->ai_family;
    uv_freeaddrinfo(res);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->dst_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->dst)->sin6_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&a->dst)->sin_addr, ip, sizeof ip);
    snprintf(a->dst_text, sizeof a->dst_text, a->dst_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
             a->port);
    char err[256];
    if (open_socket(a, err, sizeof err) < 0) {
        fatal(a, err);
        return;
    }
    struct ntap_tx_config tc;
    memset(&tc, 0, sizeof tc);
    tc.pubkey_mode = a->pubkey_mode;
    memcpy(tc.psk_master, a->psk_master, sizeof tc.psk_master);
    memcpy(tc.collector_pk, a->collector_pk, sizeof tc.collector_pk);
    tc.tap_id = a->tap_id;
    size_t budget = (size_t)a->mtu - (a->dst_family == AF_INET6 ? 48 : 28);
    tc.max_datagram = budget;
    a->tx = malloc(sizeof *a->tx);
    int rc = a->tx ? ntap_tx_init(a->tx, &tc, send_datagram, a, err, sizeof err) : -1;
    sodium_memzero(&tc, sizeof tc);
    if (rc < 0) {
        fatal(a, a->tx ? err : "out of memory");
        return;
    }
    a->resolved = true;
    live_retry_recovered(&a->outage);
    tap_build_filter(a->user_bpf, ip, a->dst_family, a->port, a->filter, sizeof a->filter);
    log_info("tap", "collector %s, %s mode, session %016llx, batches up to %zu bytes", a->dst_text,
             a->pubkey_mode ? "public-key" : "passphrase", (unsigned long long)a->tx->session,
             budget);
    log_debug("tap", "capture filter: %s", a->filter);
    capture_start(a);
}

static void resolve_start(struct tap_agent *a)
{
    char port[8];
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(port, sizeof port, "%u", a->port);
    a->gai.data = a;
    int rc = uv_getaddrinfo(a->loop, &a->gai, resolved_cb, a->host, port, &hints);
    if (rc < 0) {
        log_warn("tap", "cannot resolve %s: %s; retrying", a->host, uv_strerror(rc));
        uv_timer_start(&a->retry, retry_cb, TAP_RESOLVE_RETRY_MS, 0);
        return;
    }
    a->resolving = true;
    a->handles_open++;
}

/* ---- once a second ---- */

static void update_pcap_stats(struct tap_agent *a)
{
    struct pcap_stat st;
    a->stats.kernel_drops = a->base_kernel_drops;
    a->stats.if_drops = a->base_if_drops;
    if (a->pcap && pcap_stats(a->pcap, &st) == 0) {
        a->stats.kernel_drops += st.ps_drop;
        a->stats.if_drops += st.ps_ifdrop;
    }
    if (a->tx) {
        a->stats.oversize = a->tx->stats.oversize;
        a->stats.truncated = a->tx->stats.truncated;
    }
}

/* Our counters to the collector, with whatever is batched. */
static void send_status(struct tap_agent *a)
{
    struct ntap_status st = {
        .captured = a->stats.captured,
        .sent = a->stats.sent_packets,
        .kernel_drops = a->stats.kernel_drops,
        .if_drops = a->stats.if_drops,
        .rate_limited = a->stats.rate_limited,
        .send_errors = a->stats.send_errors + a->stats.send_dropped,
    };
    snprintf(st.name, sizeof st.name, "%s", a->name);
    ntap_tx_send_status(a->tx, &st);
}

static void tick_cb(uv_timer_t *t)
{
    struct tap_agent *a = t->data;
    a->ticks++;
    update_pcap_stats(a);
    if (a->tx) {
        /* The heartbeat: our counters (and, in public-key mode, the key) once a second, so
         * that a collector that (re)starts learns the session and sees the tap alive. */
        ntap_tx_announce(a->tx);
        send_status(a);
    }
    if (a->send_failing && mono_ns() - a->last_send_error_ns > SEND_QUIET_NS) {
        a->send_failing = false;
        log_info("tap", "sending to %s works again", a->dst_text);
    }
    if (a->stats_interval_s && a->ticks % a->stats_interval_s == 0)
        tap_agent_log_stats(a);
}

void tap_agent_log_stats(struct tap_agent *a)
{
    update_pcap_stats(a);
    const struct tap_stats *s = &a->stats;
    log_info("tap", "%s: captured %llu, sent %llu packets in %llu datagrams (%llu bytes), "
             "rate-limited %llu, send errors %llu, socket full %llu, kernel drops %llu, "
             "interface drops %llu, oversize %llu, cut %llu, capture restarts %llu, "
             "not ethernet %llu", a->iface,
             (unsigned long long)s->captured, (unsigned long long)s->sent_packets,
             (unsigned long long)s->datagrams, (unsigned long long)s->bytes,
             (unsigned long long)s->rate_limited, (unsigned long long)s->send_errors,
             (unsigned long long)s->send_dropped, (unsigned long long)s->kernel_drops,
             (unsigned long long)s->if_drops, (unsigned long long)s->oversize,
             (unsigned long long)s->truncated, (unsigned long long)s->capture_restarts,
             (unsigned long long)s->not_ethernet);
}

/* ---- lifecycle ---- */

static void agent_free(struct tap_agent *a)
{
    if (a->tx) {
        ntap_tx_wipe(a->tx);
        free(a->tx);
    }
    if (a->sock >= 0)
        close(a->sock);
    sodium_memzero(a->psk_master, sizeof a->psk_master);
    free(a->conv);
    free(a->iface);
    free(a->user_bpf);
    free(a->host);
    free(a);
}

static void close_cb(uv_handle_t *h)
{
    struct tap_agent *a = h->data;
    if (--a->handles_open == 0)
        agent_free(a);
}

struct tap_agent *tap_agent_start(uv_loop_t *loop, const struct tap_options *o,
                                  void (*on_fatal)(void *ctx), void *ctx, char *err,
                                  size_t errsize)
{
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return NULL;
    }
    struct tap_agent *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->sock = -1;
    a->tfd = -1;
    a->iface = strdup(o->interface);
    a->host = strdup(o->collector_host);
    a->user_bpf = o->bpf ? strdup(o->bpf) : NULL;
    a->port = o->collector_port;
    a->mtu = o->mtu;
    a->snaplen = o->snaplen;
    a->buffer_mib = o->buffer_mib;
    a->stats_interval_s = o->stats_interval_s;
    a->on_fatal = on_fatal;
    a->ctx = ctx;
    a->conv = malloc((size_t)o->snaplen + ETH_HLEN);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    a->tap_id = o->tap_id_set ? o->tap_id : tap_default_id(host, o->interface);
    snprintf(a->name, sizeof a->name, "%s/%s", host, o->interface);
    a->pubkey_mode = o->pubkey_mode;
    if (o->pubkey_mode) {
        memcpy(a->collector_pk, o->collector_pk, sizeof a->collector_pk);
    } else if (ntap_psk_master(o->passphrase, a->psk_master) < 0) {
        snprintf(err, errsize, "cannot derive the key from the passphrase (memory)");
        agent_free(a);
        return NULL;
    }
    if (o->rate_limit_mbit > 0) {
        double bytes_per_s = o->rate_limit_mbit * 1e6 / 8;
        a->rate_bytes_per_ns = bytes_per_s / 1e9;
        a->burst = bytes_per_s / 20 > 131072 ? bytes_per_s / 20 : 131072; /* 50 ms or 128 KiB */
        a->tokens = a->burst;
        a->refill_ns = mono_ns();
    }
    if (!a->conv || !a->iface || !a->host) {
        snprintf(err, errsize, "out of memory");
        agent_free(a);
        return NULL;
    }
    a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (a->tfd < 0 || uv_poll_init(loop, &a->flush_poll, a->tfd) < 0) {
        snprintf(err, errsize, "timerfd: %s", strerror(errno));
        if (a->tfd >= 0)
            close(a->tfd);
        agent_free(a);
        return NULL;
    }
    a->flush_poll.data = a;
    uv_poll_start(&a->flush_poll, UV_READABLE, flush_cb);
    uv_timer_init(loop, &a->retry);
    uv_timer_init(loop, &a->tick);
    a->retry.data = a->tick.data = a;
    a->handles_open = 3;
    uv_timer_start(&a->tick, tick_cb, 1000, 1000);
    log_info("tap", "tap %08x (%s) starting: collector %s:%u", a->tap_id, a->name, a->host,
             a->port);
    resolve_start(a);
    return a;
}

void tap_agent_stop(struct tap_agent *a)
{
    if (!a || a->stopping)
        return;
    a->stopping = true;
    update_pcap_stats(a);
    if (a->tx)
        send_status(a); /* the last counters, with what is batched */
    tap_agent_log_stats(a);
    capture_stop(a);
    if (a->resolving)
        uv_cancel((uv_req_t *)&a->gai); /* its callback still runs (and counts down) */
    uv_poll_stop(&a->flush_poll);
    uv_close((uv_handle_t *)&a->flush_poll, close_cb);
    close(a->tfd);
    a->tfd = -1;
    uv_close((uv_handle_t *)&a->retry, close_cb);
    uv_close((uv_handle_t *)&a->tick, close_cb);
}
