#include "capture/port_pair.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "box/bypass.h"
#include "core/log.h"
#include "capture/live_open.h"
#include "capture/netdev.h"
#include "capture/source.h"

#define SNAPLEN 65535
#define CAPTURE_BUFFER_BYTES (4 * 1024 * 1024)
#define SEND_BUFFER_BYTES (1024 * 1024)
#define RX_BATCH 256              /* frames per pcap_dispatch */
#define RX_BATCHES_PER_WAKEUP 8   /* then let the loop run other work */
#define TX_BATCH 64               /* frames per sendmmsg */
#define L2_OVERHEAD 26            /* Ethernet header + two VLAN tags + FCS room over the MTU */

/* Frames waiting to go out of one port: a ring of fixed slots sized for the largest frame the
 * port can send, so memory is fixed at open (queue_frames x slot). */
struct tx_queue {
    uint8_t *slots;
    uint32_t *lens;
    unsigned cap, head, count;
    uint32_t slot_size;
};

struct port {
    struct port_pair *pair;
    int side;
    char ifname[IFNAMSIZ];
    pcap_t *pcap;
    uv_poll_t *rx_poll;        /* one per opening, freed on its close callback */
    int tx_fd;                 /* inline: AF_PACKET socket that sends out of this port */
    uv_poll_t *tx_poll;        /* waits for room when the socket's buffer is full */
    bool tx_waiting;
    bool open;
    bool ever_open;
    struct netdev_offloads saved_offloads;
    bool offloads_changed;
    int mtu;
    struct tx_queue q;
    struct port_counters c;
    uint32_t last_ps_drop;      /* pcap_stats' 32-bit counter: counted by differences */
    char last_error[200];
    struct live_retry retry;   /* the outage being retried, for its log */
    /* Rates over the last monitor tick. */
    uint64_t last_rx_packets, last_rx_bytes, last_tx_packets, last_tx_bytes;
    double rx_pps, rx_bps, tx_pps, tx_bps;
};

struct port_mirror {
    port_mirror_fn fn;         /* NULL: free slot */
    void *ctx;
};

struct port_pair {
    uv_loop_t *loop;
    struct engine *engine;
    int source;
    enum port_mode mode;
    struct port port[2];
    char *bpf;
    char bridge[IFNAMSIZ];
    struct bypass *bypass;
    unsigned queue_frames;     /* per direction (inline) */
    char side_name[2][PORT_SIDE_NAME]; /* "lan", "wan"; the interface names by default */
    uv_idle_t closer;          /* never started: its close callback, queued after the ports'
                                * handles, frees the pair */
    bool closing;
    bool was_ready;
    bool keep_forwarding;      /* stopping: the relay is switching, frames still go through us */
    uint64_t last_monitor_ms;
    struct port_mirror mirrors[PORT_PAIR_MIRRORS];
    unsigned mirror_count;     /* slots in use: on_frame skips the loop when 0 */
};

bool port_spec_is(const char *spec)
{
    return !strncmp(spec, "inline:", 7) || !strncmp(spec, "bridge:", 7) || !strncmp(spec, "tap:", 4);
}

const char *port_mode_name(enum port_mode m)
{
    return m == PORT_MODE_INLINE ? "inline" : m == PORT_MODE_BRIDGE ? "bridge" : "tap";
}

int port_spec_parse(const char *spec, enum port_mode *mode, char a[IFNAMSIZ], char b[IFNAMSIZ],
                    char *err, size_t errsize)
{
    const char *rest;
    if (!strncmp(spec, "inline:", 7)) {
        *mode = PORT_MODE_INLINE;
        rest = spec + 7;
    } else if (!strncmp(spec, "bridge:", 7)) {
        *mode = PORT_MODE_BRIDGE;
        rest = spec + 7;
    } else if (!strncmp(spec, "tap:", 4)) {
        *mode = PORT_MODE_TAP;
        rest = spec + 4;
    } else {
        snprintf(err, errsize, "'%s': not inline:A,B, bridge:A,B or tap:A,B", spec);
        return -1;
    }
    const char *comma = strchr(rest, ',');
    size_t la = comma ? (size_t)(comma - rest) : 0;
    size_t lb = comma ? strlen(comma + 1) : 0;
    if (!comma || la == 0 || lb == 0 || la >= IFNAMSIZ || lb >= IFNAMSIZ || strchr(comma + 1, ',')) {
        snprintf(err, errsize, "'%s': expected two interface names (at most %d characters) "
                               "separated by a comma", spec, IFNAMSIZ - 1);
        return -1;
    }
    memcpy(a, rest, la);
    a[la] = '\0';
    memcpy(b, comma + 1, lb);
    b[lb] = '\0';
    if (!strcmp(a, b)) {
        snprintf(err, errsize, "'%s': the two ports must differ", spec);
        return -1;
    }
    return 0;
}

static struct port *other(struct port *p) { return &p->pair->port[1 - p->side]; }

static void port_error(struct port *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void port_error(struct port *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->last_error, sizeof p->last_error, fmt, ap);
    va_end(ap);
    if (live_retry_failed(&p->retry, p->last_error)) /* port_pair_tick retries every second */
        log_warn("ports", "%s", p->last_error);
}

/* ---- sending ---- */

static void queue_free(struct tx_queue *q)
{
    free(q->slots);
    free(q->lens);
    memset(q, 0, sizeof *q);
}

#define QUEUE_MAX_BYTES ((size_t)256 << 20) /* per direction: a jumbo MTU times a deep queue */

/* 0, or -1 with the queue empty (no slots: nothing may be queued). */
static int queue_init(struct tx_queue *q, unsigned cap, uint32_t slot_size)
{
    memset(q, 0, sizeof *q);
    if (cap == 0 || slot_size == 0 || (size_t)cap > QUEUE_MAX_BYTES / slot_size)
        return -1; /* also guards the multiplication on 32-bit size_t */
    q->slots = malloc((size_t)cap * slot_size);
    q->lens = calloc(cap, sizeof *q->lens);
    if (!q->slots || !q->lens) {
        queue_free(q);
        return -1;
    }
    q->cap = cap;
    q->slot_size = slot_size;
    return 0;
}

static void tx_flush(struct port *p);

static void on_tx_writable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct port *p = h->data;
    uv_poll_stop(h);
    p->tx_waiting = false;
    tx_flush(p);
}

/* Send what is queued for port p, in sendmmsg batches. A full socket buffer waits for room (the
 * queue keeps filling and drops at its cap); a frame the kernel refuses is counted and skipped. */
static void tx_flush(struct port *p)
{
    struct tx_queue *q = &p->q;
    if (p->tx_waiting || p->tx_fd < 0)
        return;
    while (q->count > 0) {
        struct mmsghdr msgs[TX_BATCH];
        struct iovec iov[TX_BATCH];
        unsigned n = 0, idx = q->head;
        while (n < TX_BATCH && n < q->count) {
            iov[n].iov_base = q->slots + (size_t)idx * q->slot_size;
            iov[n].iov_len = q->lens[idx];
            memset(&msgs[n], 0, sizeof msgs[n]);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            n++;
            idx = idx + 1 == q->cap ? 0 : idx + 1;
        }
        int sent = sendmmsg(p->tx_fd, msgs, n, MSG_DONTWAIT);
        unsigned done;
        if (sent > 0) {
            done = (unsigned)sent;
            for (unsigned i = 0; i < done; i++) {
                p->c.tx_packets++;
                p->c.tx_bytes += iov[i].iov_len;
            }
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            p->tx_waiting = true;
            uv_poll_start(p->tx_poll, UV_WRITABLE, on_tx_writable);
            return;
        } else if (errno == EINTR) {
            continue;
        } else {
            done = 1; /* the first frame was refused (ENOBUFS, ENETDOWN, EMSGSIZE): skip it */
            p->c.tx_errors++;
        }
        q->head = (q->head + done) % q->cap;
        q->count -= done;
    }
}

static void tx_enqueue(struct port *out, const uint8_t *frame, uint32_t len)
{
    struct tx_queue *q = &out->q;
    if (!out->open || !q->slots || q->count == q->cap) {
        out->c.queue_drops++;
        return;
    }
    unsigned idx = (q->head + q->count) % q->cap;
    memcpy(q->slots + (size_t)idx * q->slot_size, frame, len);
    q->lens[idx] = len;
    q->count++;
}

/* ---- receiving ---- */

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct port *p = (struct port *)user;
    struct port_pair *pp = p->pair;
    p->c.rx_packets++;
    p->c.rx_bytes += h->len;
    if (pp->mirror_count) /* each slot read afresh: a mirror may remove itself or another */
        for (int i = 0; i < PORT_PAIR_MIRRORS; i++)
            if (pp->mirrors[i].fn)
                pp->mirrors[i].fn(pp->mirrors[i].ctx, p->side, h, data);
    uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
    bool pass = engine_process_frame(pp->engine, (unsigned)pp->source, (unsigned)p->side,
                                     DLT_EN10MB, ts, data, h->caplen, h->len);
    if (pp->mode != PORT_MODE_INLINE)
        return;
    if (pp->bypass && !pp->keep_forwarding && bypass_engaged(pp->bypass)) {
        p->c.bypassed++; /* the relay joins the wires: forwarding too would duplicate */
        return;
    }
    if (!pass) {
        p->c.policy_drops++;
        p->c.policy_drop_bytes += h->len;
        return;
    }
    struct port *out = other(p);
    if (h->caplen < h->len || h->caplen > out->q.slot_size) {
        p->c.oversize++; /* merged by an offload we could not turn off, or over the MTU */
        return;
    }
    tx_enqueue(out, data, h->caplen);
}

static void port_shut(struct port *p);
static void update_readiness(struct port_pair *pp);

static void on_rx_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct port *p = h->data;
    if (status < 0) {
        /* The poll only says "error" (EBADF, EIO); the link state says why. */
        if (!netdev_is_running(p->ifname))
            port_error(p, "%s: link down", p->ifname);
        else
            port_error(p, "%s: capture error: %s", p->ifname, uv_strerror(status));
        port_shut(p);
        update_readiness(p->pair);
        return;
    }
    for (int i = 0; i < RX_BATCHES_PER_WAKEUP; i++) {
        int n = pcap_dispatch(p->pcap, RX_BATCH, on_frame, (u_char *)p);
        if (p->pair->mode == PORT_MODE_INLINE)
            tx_flush(other(p));
        if (n < 0) {
            port_error(p, "%s: %s", p->ifname, pcap_geterr(p->pcap));
            port_shut(p);
            update_readiness(p->pair);
            return;
        }
        if (n < RX_BATCH)
            break;
    }
}

/* ---- opening and closing a port ---- */

static void free_poll(uv_handle_t *h) { free(h); }

static void port_shut(struct port *p)
{
    if (p->rx_poll) {
        uv_close((uv_handle_t *)p->rx_poll, free_poll);
        p->rx_poll = NULL;
    }
    if (p->tx_poll) {
        uv_close((uv_handle_t *)p->tx_poll, free_poll);
        p->tx_poll = NULL;
    }
    if (p->pcap) {
        struct pcap_stat st;
        if (pcap_stats(p->pcap, &st) == 0)
            p->c.kernel_drops += (uint32_t)(st.ps_drop - p->last_ps_drop);
        p->last_ps_drop = 0; /* the next opening starts from zero */
        pcap_close(p->pcap);
        p->pcap = NULL;
    }
    if (p->tx_fd >= 0) {
        close(p->tx_fd);
        p->tx_fd = -1;
    }
    p->tx_waiting = false;
    p->c.queue_drops += p->q.count; /* what waited for a port that went away is lost */
    p->q.head = p->q.count = 0;
    p->open = false;
}

/* Checks that no retry can fix: they stop tapboxd at start. */
static int port_check_fatal(struct port *p, char *err, size_t errsize)
{
    struct port_pair *pp = p->pair;
    char addr[64];
    if (pp->mode == PORT_MODE_TAP)
        return 0;
    if (netdev_first_address(p->ifname, false, addr, sizeof addr)) {
        snprintf(err, errsize, "%s has the address %s: a port of %s mode must have none (the box "
                               "must not be a host on the customer's link); remove it with "
                               "'ip address flush dev %s'", p->ifname, addr,
                 port_mode_name(pp->mode), p->ifname);
        return -1;
    }
    /* A link-local IPv6 address only: the kernel made it; turning IPv6 off removes it. */
    if (netdev_first_address(p->ifname, true, addr, sizeof addr) &&
        netdev_disable_ipv6(p->ifname, err, errsize) < 0)
        return -1;
    return 0;
}

static int port_open_tx(struct port *p, char *err, size_t errsize)
{
    /* Protocol 0: this socket only sends; the capture handle receives. */
    p->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->tx_fd < 0) {
        snprintf(err, errsize, "%s: packet socket: %s", p->ifname, strerror(errno));
        return -1;
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(p->ifname)};
    /* Through the port's qdisc (not PACKET_QDISC_BYPASS): its queue absorbs bursts and a
     * faster port feeding a slower one; a full socket buffer makes us wait (our queue fills),
     * a full qdisc drops (counted as a send error). */
    int sndbuf = SEND_BUFFER_BYTES;
    setsockopt(p->tx_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (bind(p->tx_fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        snprintf(err, errsize, "%s: bind: %s", p->ifname, strerror(errno));
        return -1;
    }
    p->tx_poll = malloc(sizeof *p->tx_poll);
    if (!p->tx_poll || uv_poll_init(p->pair->loop, p->tx_poll, p->tx_fd) < 0) {
        free(p->tx_poll);
        p->tx_poll = NULL;
        snprintf(err, errsize, "%s: cannot poll the send socket", p->ifname);
        return -1;
    }
    p->tx_poll->data = p;
    return 0;
}

static int port_open_capture(struct port *p, char *err, size_t errsize)
{
    char perr[PCAP_ERRBUF_SIZE] = "", why[PCAP_ERRBUF_SIZE + 64];
    bool missing;
    struct live_open lo = {p->ifname, SNAPLEN, CAPTURE_BUFFER_BYTES, true, false};
    p->pcap = live_open(&lo, &missing, why, sizeof why);
    if (!p->pcap) {
        snprintf(err, errsize, "%s: %s", p->ifname, why);
        return -1;
    }
    if (pcap_datalink(p->pcap) != DLT_EN10MB) {
        snprintf(err, errsize, "%s: not an Ethernet port", p->ifname);
        return -1;
    }
    /* Inbound only: our own injections (inline) and the kernel bridge's copies (bridge) go out
     * of the port and must not be seen, and counted, a second time. */
    if (pcap_setdirection(p->pcap, PCAP_D_IN) < 0) {
        snprintf(err, errsize, "%s: cannot capture inbound only: %s", p->ifname, pcap_geterr(p->pcap));
        return -1;
    }
    /* libpcap filters direction after the kernel copied the frame into the ring; the kernel
     * can skip outgoing frames itself (Linux 4.20+; older ones fall back to libpcap). */
    int one = 1;
    setsockopt(pcap_fileno(p->pcap), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    if (p->pair->bpf && source_apply_filter(p->pcap, p->pair->bpf, err, errsize) < 0)
        return -1;
    if (pcap_setnonblock(p->pcap, 1, perr) < 0) {
        snprintf(err, errsize, "%s: %s", p->ifname, perr);
        return -1;
    }
    p->rx_poll = malloc(sizeof *p->rx_poll);
    if (!p->rx_poll || uv_poll_init(p->pair->loop, p->rx_poll, pcap_get_selectable_fd(p->pcap)) < 0) {
        free(p->rx_poll);
        p->rx_poll = NULL;
        snprintf(err, errsize, "%s: cannot poll the capture", p->ifname);
        return -1;
    }
    p->rx_poll->data = p;
    uv_poll_start(p->rx_poll, UV_READABLE, on_rx_readable);
    return 0;
}

/* Open a port that exists and is up. 0 when open; -1 with err (retried by the monitor). */
static int port_open(struct port *p, char *err, size_t errsize)
{
    struct port_pair *pp = p->pair;
    if (!p->offloads_changed) {
        netdev_get_offloads(p->ifname, &p->saved_offloads);
        p->offloads_changed = true;
    }
    /* Merged frames are bigger than the wire's MTU: they could not be re-sent (inline), and
     * would be counted as one packet (all modes). */
    if (netdev_disable_offloads(p->ifname, err, errsize) < 0)
        return -1;
    p->mtu = netdev_mtu(p->ifname);
    if (pp->mode == PORT_MODE_INLINE && port_open_tx(p, err, errsize) < 0)
        goto fail;
    if (port_open_capture(p, err, errsize) < 0)
        goto fail;
    p->open = true;
    return 0;
fail:
    port_shut(p);
    return -1;
}

/* The queue towards a port holds frames up to the largest the port can send. */
static uint32_t slot_size_for(int mtu) { return (uint32_t)(mtu > 0 ? mtu : 1500) + L2_OVERHEAD; }

static void port_try_open(struct port *p)
{
    char err[256];
    if (!netdev_exists(p->ifname)) {
        port_error(p, "%s: no such interface (waiting for it)", p->ifname);
        return;
    }
    if (!p->ever_open && netdev_set_up(p->ifname, err, sizeof err) < 0) {
        port_error(p, "%s", err);
        return;
    }
    if (!netdev_is_running(p->ifname)) {
        port_error(p, "%s: link down (waiting for it)", p->ifname);
        return;
    }
    struct port_pair *pp = p->pair;
    if (pp->mode == PORT_MODE_INLINE) {
        /* The queue towards this port, sized for its MTU now (it may have changed while down). */
        uint32_t slot = slot_size_for(netdev_mtu(p->ifname));
        if (!p->q.slots || p->q.slot_size != slot) {
            queue_free(&p->q);
            if (queue_init(&p->q, pp->queue_frames, slot) < 0) {
                port_error(p, "%s: no memory for a send queue of %u frames of %u bytes", p->ifname,
                           pp->queue_frames, slot);
                return;
            }
        }
    }
    /* A port that appears late (a USB NIC plugged in again) must join the bridge before the
     * relay lets the link through us. */
    if (pp->mode == PORT_MODE_BRIDGE && netdev_bridge_add_port(pp->bridge, p->ifname, err, sizeof err) < 0) {
        port_error(p, "%s", err);
        return;
    }
    if (port_check_fatal(p, err, sizeof err) < 0 || port_open(p, err, sizeof err) < 0) {
        port_error(p, "%s", err);
        return;
    }
    if (p->ever_open) {
        p->c.reopens++;
        log_info("ports", "%s (%s) is back: reopened (%llu time(s))", p->ifname,
                 p->pair->side_name[p->side], (unsigned long long)p->c.reopens);
    } else {
        log_info("ports", "%s (%s) open, MTU %d", p->ifname,
                 p->pair->side_name[p->side], p->mtu);
    }
    p->ever_open = true;
    live_retry_recovered(&p->retry);
    p->last_error[0] = '\0';
}

/* An operator who raises the MTU (jumbo frames) expects them through at once, but the capture
 * ring's frames and the send queue's slots were sized for the MTU at opening: the port is
 * reopened at the new size (not counted as a reopen: it never went down). */
static void port_follow_mtu(struct port *p)
{
    int mtu = netdev_mtu(p->ifname);
    if (mtu <= 0 || mtu == p->mtu)
        return;
    log_info("ports", "%s: MTU %d (was %d): reopening at the new size", p->ifname, mtu, p->mtu);
    port_shut(p);
    p->ever_open = false; /* a fresh opening, not a comeback */
    port_try_open(p);
    if (!p->open)
        p->ever_open = true; /* it failed: the monitor retries, and that is a comeback */
}

static void update_readiness(struct port_pair *pp)
{
    bool ready = port_pair_ready(pp);
    const struct port *down = !pp->port[0].open ? &pp->port[0] : &pp->port[1];
    engine_source_set_state(pp->engine, (unsigned)pp->source, ready ? SOURCE_UP : SOURCE_WAITING,
                            ready ? "" : down->last_error);
    if (!pp->bypass || pp->mode == PORT_MODE_TAP)
        return;
    if (ready != pp->was_ready || !ready) {
        char why[220];
        snprintf(why, sizeof why, "port %s: %s", pp->side_name[down->side],
                 down->last_error[0] ? down->last_error : "not open");
        bypass_set_ready(pp->bypass, ready, ready ? "both ports forward" : why);
    }
    pp->was_ready = ready;
}

void port_pair_tick(struct port_pair *pp)
{
    if (pp->closing)
        return;
    uint64_t now = uv_now(pp->loop);
    uint64_t kernel_drops = 0;
    double secs = pp->last_monitor_ms && now > pp->last_monitor_ms
                      ? (double)(now - pp->last_monitor_ms) / 1000.0 : 0;
    pp->last_monitor_ms = now;
    for (int i = 0; i < 2; i++) {
        struct port *p = &pp->port[i];
        if (secs > 0) {
            p->rx_pps = (double)(p->c.rx_packets - p->last_rx_packets) / secs;
            p->rx_bps = 8.0 * (double)(p->c.rx_bytes - p->last_rx_bytes) / secs;
            p->tx_pps = (double)(p->c.tx_packets - p->last_tx_packets) / secs;
            p->tx_bps = 8.0 * (double)(p->c.tx_bytes - p->last_tx_bytes) / secs;
        }
        p->last_rx_packets = p->c.rx_packets;
        p->last_rx_bytes = p->c.rx_bytes;
        p->last_tx_packets = p->c.tx_packets;
        p->last_tx_bytes = p->c.tx_bytes;
        if (p->open && !netdev_is_running(p->ifname)) {
            port_error(p, "%s: link down", p->ifname);
            port_shut(p);
        }
        if (!p->open)
            port_try_open(p);
        else
            port_follow_mtu(p);
        struct pcap_stat st;
        if (p->pcap && pcap_stats(p->pcap, &st) == 0) {
            p->c.kernel_drops += (uint32_t)(st.ps_drop - p->last_ps_drop); /* wraps cleanly */
            p->last_ps_drop = st.ps_drop;
        }
        kernel_drops += p->c.kernel_drops;
    }
    const struct source_info *si = engine_source(pp->engine, (unsigned)pp->source);
    engine_source_set_drops(pp->engine, (unsigned)pp->source, kernel_drops, si->interface_drops);
    update_readiness(pp);
}

/* ---- the pair ---- */

struct port_pair *port_pair_open(uv_loop_t *loop, struct engine *e,
                                 const struct port_pair_options *o, char *err, size_t errsize)
{
    struct port_pair *pp = calloc(1, sizeof *pp);
    if (!pp) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    pp->loop = loop;
    pp->engine = e;
    pp->mode = o->mode;
    pp->bypass = o->bypass;
    pp->queue_frames = o->queue_frames ? o->queue_frames : PORT_QUEUE_DEFAULT;
    if (o->mode == PORT_MODE_INLINE && o->bpf) {
        snprintf(err, errsize, "-B cannot apply to inline ports: every frame must be forwarded");
        free(pp);
        return NULL;
    }
    pp->bpf = o->bpf ? strdup(o->bpf) : NULL;
    snprintf(pp->bridge, sizeof pp->bridge, "%s", o->bridge ? o->bridge : "br0");
    char name[ENGINE_SOURCE_NAME];
    snprintf(name, sizeof name, "%s:%s,%s", port_mode_name(o->mode), o->ifname[0], o->ifname[1]);
    pp->source = engine_add_source(e, name, port_mode_name(o->mode));
    if (pp->source < 0) {
        snprintf(err, errsize, "too many sources");
        free(pp->bpf);
        free(pp);
        return NULL;
    }
    engine_source_set_linktype(e, (unsigned)pp->source, DLT_EN10MB);
    for (int i = 0; i < 2; i++) {
        struct port *p = &pp->port[i];
        p->pair = pp;
        p->side = i;
        p->tx_fd = -1;
        snprintf(p->ifname, sizeof p->ifname, "%s", o->ifname[i]);
        snprintf(pp->side_name[i], sizeof pp->side_name[i], "%s",
                 o->name[i][0] ? o->name[i] : o->ifname[i]);
    }
    /* Fatal checks first, so a misconfigured box says so at start instead of retrying. */
    for (int i = 0; i < 2; i++) {
        struct port *p = &pp->port[i];
        if (netdev_exists(p->ifname) && port_check_fatal(p, err, errsize) < 0)
            goto fail;
    }
    if (o->mode == PORT_MODE_BRIDGE) {
        if (netdev_bridge_create(pp->bridge, err, errsize) < 0)
            goto fail;
        for (int i = 0; i < 2; i++)
            if (netdev_exists(pp->port[i].ifname) &&
                netdev_bridge_add_port(pp->bridge, pp->port[i].ifname, err, errsize) < 0)
                goto fail;
    }
    for (int i = 0; i < 2; i++) {
        struct port *p = &pp->port[i];
        port_try_open(p);
        /* A bad filter fails the same way on every retry. */
        if (!p->open && !strncmp(p->last_error, "bad filter", 10)) {
            snprintf(err, errsize, "%s", p->last_error);
            goto fail;
        }
    }
    uv_idle_init(loop, &pp->closer);
    pp->closer.data = pp;
    update_readiness(pp);
    return pp;
fail:
    for (int i = 0; i < 2; i++) {
        port_shut(&pp->port[i]);
        queue_free(&pp->port[i].q);
        if (pp->port[i].offloads_changed)
            netdev_restore_offloads(pp->port[i].ifname, &pp->port[i].saved_offloads);
    }
    engine_source_set_state(e, (unsigned)pp->source, SOURCE_FAILED, NULL);
    free(pp->bpf);
    free(pp);
    return NULL;
}

static void free_pair(uv_handle_t *h)
{
    struct port_pair *pp = h->data;
    free(pp->bpf);
    free(pp);
}

void port_pair_close(struct port_pair *pp)
{
    if (!pp || pp->closing)
        return;
    pp->closing = true;
    /* Mirrors first, while the pair is whole: each learns it has ended and forgets its handle. */
    for (int i = 0; i < PORT_PAIR_MIRRORS; i++) {
        struct port_mirror m = pp->mirrors[i];
        if (!m.fn)
            continue;
        pp->mirrors[i].fn = NULL;
        pp->mirrors[i].ctx = NULL;
        pp->mirror_count--;
        m.fn(m.ctx, PORT_MIRROR_CLOSED, NULL, NULL);
    }
    for (int i = 0; i < 2; i++) {
        struct port *p = &pp->port[i];
        port_shut(p);
        queue_free(&p->q);
        if (p->offloads_changed && netdev_exists(p->ifname))
            netdev_restore_offloads(p->ifname, &p->saved_offloads);
    }
    engine_source_set_state(pp->engine, (unsigned)pp->source, SOURCE_DONE, NULL);
    uv_close((uv_handle_t *)&pp->closer, free_pair);
}

enum port_mode port_pair_mode(const struct port_pair *pp) { return pp->mode; }

void port_pair_keep_forwarding(struct port_pair *pp) { pp->keep_forwarding = true; }

bool port_pair_ready(const struct port_pair *pp)
{
    return pp->port[0].open && pp->port[1].open;
}

void port_pair_status(const struct port_pair *pp, int side, struct port_status *out)
{
    const struct port *p = &pp->port[side & 1];
    memset(out, 0, sizeof *out);
    snprintf(out->ifname, sizeof out->ifname, "%s", p->ifname);
    snprintf(out->name, sizeof out->name, "%s", pp->side_name[p->side]);
    out->up = p->open;
    out->mtu = p->mtu;
    snprintf(out->last_error, sizeof out->last_error, "%s", p->last_error);
    out->queue_len = p->q.count;
    out->queue_cap = p->q.cap;
    out->rx_pps = p->rx_pps;
    out->rx_bps = p->rx_bps;
    out->tx_pps = p->tx_pps;
    out->tx_bps = p->tx_bps;
    out->c = p->c;
}

int port_pair_set_filter(struct port_pair *pp, const char *bpf, char *err, size_t errsize)
{
    if (pp->mode == PORT_MODE_INLINE) {
        if (!bpf)
            return 0;
        snprintf(err, errsize, "-B cannot apply to inline ports: every frame must be forwarded");
        return -1;
    }
    /* Both ports take the same link type: a filter that compiles for one compiles for the
     * other, so a typo fails before either changes (no half-applied reload). */
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, SNAPLEN);
    struct bpf_program prog;
    int ok = dead && pcap_compile(dead, &prog, bpf ? bpf : "", 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (ok)
        pcap_freecode(&prog);
    else
        snprintf(err, errsize, "bad filter '%s': %s", bpf ? bpf : "", dead ? pcap_geterr(dead) : "");
    if (dead)
        pcap_close(dead);
    if (!ok)
        return -1;
    for (int i = 0; i < 2; i++)
        if (pp->port[i].pcap && source_apply_filter(pp->port[i].pcap, bpf, err, errsize) < 0)
            return -1;
    free(pp->bpf);
    pp->bpf = bpf ? strdup(bpf) : NULL;
    return 0;
}

int port_pair_source(const struct port_pair *pp) { return pp->source; }

int port_pair_add_mirror(struct port_pair *pp, port_mirror_fn fn, void *ctx)
{
    if (!pp || !fn || pp->closing)
        return -1;
    for (int i = 0; i < PORT_PAIR_MIRRORS; i++)
        if (!pp->mirrors[i].fn) {
            pp->mirrors[i].fn = fn;
            pp->mirrors[i].ctx = ctx;
            pp->mirror_count++;
            return i;
        }
    return -1;
}

void port_pair_remove_mirror(struct port_pair *pp, int handle)
{
    if (!pp || handle < 0 || handle >= PORT_PAIR_MIRRORS || !pp->mirrors[handle].fn)
        return;
    pp->mirrors[handle].fn = NULL;
    pp->mirrors[handle].ctx = NULL;
    pp->mirror_count--;
}

const char *port_pair_side_name(const struct port_pair *pp, int side)
{
    return pp->side_name[side & 1];
}
