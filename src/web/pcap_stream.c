/*
 * GET /api/v1/pcap?source=NAME&filter=BPF&duration=S&max_bytes=N&snaplen=N
 *
 * Two ways to get the packets, one output path:
 * - an interface source (-i eth0): a capture handle of its own on the interface (the engine's
 *   source is untouched), non-blocking, polled by the loop. When the client is slower than the
 *   traffic, polling pauses and the kernel's buffer (then its drop counter) absorbs it.
 * - the port pair (-i inline:A,B, bridge:A,B, tap:A,B), or one side of it (source=lan or a0):
 *   a mirror registered with the pair (port_pair_add_mirror) gets every frame received on
 *   either port once, before the policy verdict; the filter runs here (pcap_offline_filter over
 *   a program compiled for Ethernet) and frames are cut to snaplen. A capture handle on one port
 *   would miss what tapboxd sends out of it (PACKET_QDISC_BYPASS) and cost a kernel socket. The
 *   loop cannot wait for the client here: a frame that does not fit in the filling buffer is
 *   dropped and counted (logged at the end). What the frames of one loop turn added goes out in
 *   one send (a check handle flushes after the poll phase).
 * Packets become pcap records in a buffer that the transport sends while the next one fills (two
 * buffers, one send in flight). The stream ends after duration seconds or max_bytes bytes,
 * whichever comes first, when the client goes, when the server stops, or when the pair closes
 * (tapboxd stopping: the mirror's last call).
 *
 * Loop thread only: the downloads, their buffers, handles and mirrors are touched by nothing else.
 */
#include "web/pcap_stream.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/live_open.h"
#include "capture/port_pair.h"
#include "core/log.h"
#include "web/call.h"
#include "web/stream.h"
#include "web/web_internal.h"

#define PCAP_BUF_BYTES (1u << 20) /* two per download */
#define PCAP_BATCH 256
#define PCAP_DEFAULT_DURATION 60
#define PCAP_MAX_DURATION 3600
#define PCAP_DEFAULT_MAX_BYTES (100ull << 20)
#define PCAP_MAX_MAX_BYTES (1ull << 30)

struct pcap_dl {
    struct web_stream stream;      /* first: the transport's callbacks get it */
    struct web *w;
    struct pcap_dl *next;
    /* an interface source: a capture handle of its own */
    pcap_t *pcap;
    uv_poll_t poll;
    bool has_poll;
    bool polling;
    /* the port pair: a mirror of its frames */
    struct port_pair *pp;          /* NULL once the mirror is removed or the pair closed */
    int mirror;                    /* the pair's handle, -1: none */
    int side;                      /* 0, 1: frames received on that port only; -1: both */
    struct bpf_program prog;
    bool has_prog;
    uv_check_t flush_check;        /* sends what the frames of this loop turn added */
    bool has_check;
    bool check_active;
    uv_timer_t timer;
    int handles_open;              /* handles not yet closed */
    bool ready;                    /* the transport waits for data */
    bool finished;                 /* time or size reached: flush, then end */
    bool ended;                    /* final piece sent, or the client gone */
    char *fill, *out;              /* filling, and being sent */
    size_t fill_len;
    uint64_t bytes, max_bytes, packets, dropped;
    unsigned snaplen;
    char source[ENGINE_SOURCE_NAME + PORT_SIDE_NAME + IFNAMSIZ + 16];
};

static void pcap_dl_flush(struct pcap_dl *d);

static void on_handle_closed(uv_handle_t *h)
{
    struct pcap_dl *d = h->data;
    if (--d->handles_open > 0)
        return;
    free(d->fill);
    free(d->out);
    free(d);
}

/* Stop capturing and forget the stream (the memory goes once the handles are closed). */
static void pcap_dl_release(struct pcap_dl *d)
{
    struct web *w = d->w;
    for (struct pcap_dl **p = &w->pcap_streams; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            w->pcap_stream_count--;
            break;
        }
    if (d->dropped)
        log_info("web", "pcap download of %s ended: %llu packets, %llu bytes, %llu dropped (the "
                        "client was slower than the link)", d->source,
                 (unsigned long long)d->packets, (unsigned long long)d->bytes,
                 (unsigned long long)d->dropped);
    else
        log_info("web", "pcap download of %s ended: %llu packets, %llu bytes", d->source,
                 (unsigned long long)d->packets, (unsigned long long)d->bytes);
    if (d->pp) {
        port_pair_remove_mirror(d->pp, d->mirror);
        d->pp = NULL;
        d->mirror = -1;
    }
    if (d->has_prog) {
        pcap_freecode(&d->prog);
        d->has_prog = false;
    }
    if (d->has_poll)
        uv_close((uv_handle_t *)&d->poll, on_handle_closed);
    if (d->has_check)
        uv_close((uv_handle_t *)&d->flush_check, on_handle_closed);
    uv_close((uv_handle_t *)&d->timer, on_handle_closed);
    if (d->pcap) {
        pcap_close(d->pcap);
        d->pcap = NULL;
    }
}

static void put32(char *p, uint32_t v) { memcpy(p, &v, 4); } /* host order, as the magic says */

/* One record into the filling buffer (the caller made sure it fits). */
static void put_record(struct pcap_dl *d, const struct pcap_pkthdr *h, uint32_t caplen,
                       const u_char *bytes)
{
    char *p = d->fill + d->fill_len;
    put32(p, (uint32_t)h->ts.tv_sec);
    put32(p + 4, (uint32_t)h->ts.tv_usec);
    put32(p + 8, caplen);
    put32(p + 12, h->len);
    memcpy(p + 16, bytes, caplen);
    d->fill_len += 16 + (size_t)caplen;
    d->bytes += 16 + (uint64_t)caplen;
    d->packets++;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct pcap_dl *d = (struct pcap_dl *)user;
    size_t rec = 16 + h->caplen;
    if (d->finished || d->fill_len + rec > PCAP_BUF_BYTES)
        return; /* cannot happen: dispatch stops while a record might not fit */
    if (d->bytes + rec > d->max_bytes) {
        d->finished = true;
        return;
    }
    put_record(d, h, h->caplen, bytes);
}

static void pause_polling(struct pcap_dl *d)
{
    if (d->polling) {
        uv_poll_stop(&d->poll);
        d->polling = false;
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct pcap_dl *d = h->data;
    if (status < 0) {
        d->finished = true; /* the interface went away */
    } else {
        /* Dispatch only as many packets as surely fit (records of up to snaplen bytes). */
        size_t rec_max = 16 + (size_t)d->snaplen;
        while (!d->finished && d->fill_len + rec_max <= PCAP_BUF_BYTES) {
            size_t room = (PCAP_BUF_BYTES - d->fill_len) / rec_max;
            int want = room < PCAP_BATCH ? (int)room : PCAP_BATCH;
            int n = pcap_dispatch(d->pcap, want, on_packet, (u_char *)d);
            if (n < 0) {
                log_warn("web", "pcap download of %s: %s", d->source, pcap_geterr(d->pcap));
                d->finished = true;
            }
            if (n < want)
                break;
        }
        if (!d->finished && d->fill_len + rec_max > PCAP_BUF_BYTES)
            pause_polling(d); /* full: wait for the client */
    }
    if (d->finished)
        pause_polling(d);
    if (d->ready)
        pcap_dl_flush(d);
}

static void on_flush_check(uv_check_t *c)
{
    struct pcap_dl *d = c->data;
    uv_check_stop(c);
    d->check_active = false;
    if (d->ready)
        pcap_dl_flush(d);
}

/* Mirror mode: send at the end of this loop turn, if the transport waits. */
static void schedule_flush(struct pcap_dl *d)
{
    if (d->ready && !d->check_active && !d->ended) {
        uv_check_start(&d->flush_check, on_flush_check);
        d->check_active = true;
    }
}

/* Called by the port pair for each frame received on either port (see port_pair.h). */
static void on_mirror(void *ctx, int side, const struct pcap_pkthdr *h, const uint8_t *frame)
{
    struct pcap_dl *d = ctx;
    if (side == PORT_MIRROR_CLOSED) { /* tapboxd stops: end with what we have */
        d->pp = NULL;
        d->mirror = -1;
        d->finished = true;
        if (d->ready)
            pcap_dl_flush(d);
        return;
    }
    if (d->finished || (d->side >= 0 && side != d->side))
        return;
    if (d->has_prog && !pcap_offline_filter(&d->prog, h, frame))
        return;
    uint32_t caplen = h->caplen < d->snaplen ? h->caplen : d->snaplen;
    size_t rec = 16 + (size_t)caplen;
    if (d->bytes + rec > d->max_bytes) {
        d->finished = true;
        schedule_flush(d);
        return;
    }
    if (d->fill_len + rec > PCAP_BUF_BYTES) {
        d->dropped++; /* the client is behind: the loop does not wait for it */
        return;
    }
    put_record(d, h, caplen, frame);
    schedule_flush(d);
}

static void on_timer(uv_timer_t *t)
{
    struct pcap_dl *d = t->data;
    d->finished = true;
    pause_polling(d);
    if (d->ready)
        pcap_dl_flush(d);
}

static void pcap_dl_flush(struct pcap_dl *d)
{
    if (d->ended || (!d->fill_len && !d->finished))
        return;
    char *tmp = d->out;
    d->out = d->fill;
    d->fill = tmp;
    size_t len = d->fill_len;
    d->fill_len = 0;
    d->ready = false;
    bool final = d->finished;
    if (final)
        d->ended = true;
    if (!final && !d->polling && d->pcap) { /* room again */
        uv_poll_start(&d->poll, UV_READABLE, on_readable);
        d->polling = true;
    }
    web_stream_send(&d->stream, d->out, len, final);
    if (final)
        pcap_dl_release(d);
}

static void on_ready(struct web_stream *s)
{
    struct pcap_dl *d = (struct pcap_dl *)s;
    d->ready = true;
    pcap_dl_flush(d);
}

static void on_gone(struct web_stream *s)
{
    struct pcap_dl *d = (struct pcap_dl *)s;
    if (d->ended)
        return;
    d->ended = true;
    pcap_dl_release(d);
}

void web_pcap_stop_all(struct web *w)
{
    for (struct pcap_dl *d = w->pcap_streams, *next; d; d = next) {
        next = d->next;
        d->finished = true;
        pause_polling(d);
        if (d->ready)
            pcap_dl_flush(d); /* ends it; otherwise the next ready() does */
    }
}

/* The port pair's side named NAME (its name, "lan", or its interface, "a0"): 0, 1, or -1. */
static int pair_side(const struct port_pair *pp, const char *name)
{
    for (int side = 0; pp && name && side < 2; side++) {
        struct port_status st;
        port_pair_status(pp, side, &st);
        if (!strcmp(name, st.name) || !strcmp(name, st.ifname))
            return side;
    }
    return -1;
}

int web_pcap_start(struct web_call *c)
{
    static const char *const known[] = {"source", "filter", "duration", "max_bytes", "snaplen",
                                        NULL};
    struct web *w = c->web;
    struct web_params *p = &c->params;
    char err[PCAP_ERRBUF_SIZE + 200];
    uint64_t duration, max_bytes, snaplen;
    if (web_params_only(p, known, err, sizeof err) < 0 ||
        web_param_uint(p, "duration", 1, PCAP_MAX_DURATION, PCAP_DEFAULT_DURATION, &duration, err,
                       sizeof err) < 0 ||
        web_param_uint(p, "max_bytes", 1024, PCAP_MAX_MAX_BYTES, PCAP_DEFAULT_MAX_BYTES,
                       &max_bytes, err, sizeof err) < 0 ||
        web_param_uint(p, "snaplen", 64, 65535, 65535, &snaplen, err, sizeof err) < 0) {
        web_respond_bad_param(&c->res, p->bad, err);
        return 0;
    }
    const struct engine *e = w->engine;
    /* The views hold the pair read-only; a download is the one thing here that registers with
     * it (a mirror, loop thread), so the constness is dropped for that alone. */
    struct port_pair *pp = (struct port_pair *)w->view.ports;
    const char *name = web_param(p, "source");
    int id = -1, side = -1;
    if (name)
        id = engine_source_find(e, name);
    if (id < 0 && (side = pair_side(pp, name)) >= 0)
        id = port_pair_source(pp);
    if (!name && engine_source_count(e) == 1)
        id = 0;
    if (id < 0) {
        web_respond_bad_param(&c->res, "source",
                              name ? "parameter 'source': no such source or port (see "
                                     "/api/v1/sources and /api/v1/ports)"
                                   : "parameter 'source': which source (see /api/v1/sources)?");
        return 0;
    }
    const struct source_info *src = engine_source(e, (unsigned)id);
    bool mirror = pp && id == port_pair_source(pp);
    if (!mirror && strcmp(src->kind, "interface") != 0) {
        snprintf(err, sizeof err, "parameter 'source': a %s source cannot be captured live",
                 src->kind);
        web_respond_bad_param(&c->res, "source", err);
        return 0;
    }
    if (!c->can_stream) {
        web_respond_error(&c->res, 501, "this transport cannot stream");
        return 0;
    }
    if (w->pcap_stream_count >= WEB_PCAP_STREAMS) {
        web_respond_error(&c->res, 503, "%d pcap downloads are running already; retry later",
                          WEB_PCAP_STREAMS);
        return 0;
    }

    const char *filter = web_param(p, "filter");
    bool filtered = filter && filter[0];
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pc = NULL;
    struct bpf_program prog = {0};
    int fd = -1, linktype = DLT_EN10MB;
    if (mirror) {
        /* The ports are Ethernet: compile for that, filter each mirrored frame ourselves. */
        pcap_t *dead = pcap_open_dead(DLT_EN10MB, (int)snaplen);
        if (!dead) {
            web_respond_error(&c->res, 500, "out of memory");
            return 0;
        }
        if (filtered && pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            snprintf(err, sizeof err, "parameter 'filter': not a valid BPF filter: %s",
                     pcap_geterr(dead));
            pcap_close(dead);
            web_respond_bad_param(&c->res, "filter", err);
            return 0;
        }
        pcap_close(dead);
    } else {
        bool missing;
        char why[PCAP_ERRBUF_SIZE + 64];
        struct live_open lo = {src->name, (int)snaplen, 4 << 20, false, false};
        pc = live_open(&lo, &missing, why, sizeof why);
        if (!pc) {
            web_respond_error(&c->res, 503, "cannot capture on %s: %s", src->name, why);
            return 0;
        }
        if (filtered) {
            if (pcap_compile(pc, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
                snprintf(err, sizeof err, "parameter 'filter': not a valid BPF filter: %s",
                         pcap_geterr(pc));
                pcap_close(pc);
                web_respond_bad_param(&c->res, "filter", err);
                return 0;
            }
            int rc = pcap_setfilter(pc, &prog);
            pcap_freecode(&prog);
            filtered = false; /* in the kernel now */
            if (rc < 0) {
                web_respond_error(&c->res, 503, "cannot set the filter: %s", pcap_geterr(pc));
                pcap_close(pc);
                return 0;
            }
        }
        fd = pcap_setnonblock(pc, 1, perr) < 0 ? -1 : pcap_get_selectable_fd(pc);
        linktype = pcap_datalink(pc);
    }
    bool have_input = mirror || fd >= 0;
    struct pcap_dl *d = have_input ? calloc(1, sizeof *d) : NULL;
    if (d) {
        d->fill = malloc(PCAP_BUF_BYTES);
        d->out = malloc(PCAP_BUF_BYTES);
    }
    if (d && d->fill && d->out && mirror) /* no frame reaches it before the loop turns */
        d->mirror = port_pair_add_mirror(pp, on_mirror, d);
    if (!d || !d->fill || !d->out || (mirror && d->mirror < 0)) {
        if (!have_input)
            web_respond_error(&c->res, 503, "no selectable descriptor");
        else if (d && d->fill && d->out)
            web_respond_error(&c->res, 503, "%d captures of the ports are running already; "
                                            "retry later", PORT_PAIR_MIRRORS);
        else
            web_respond_error(&c->res, 500, "out of memory");
        if (d) {
            free(d->fill);
            free(d->out);
        }
        free(d);
        if (filtered)
            pcap_freecode(&prog);
        if (pc)
            pcap_close(pc);
        return 0;
    }
    d->w = w;
    d->pcap = pc;
    d->snaplen = (unsigned)snaplen;
    d->max_bytes = max_bytes;
    d->stream.ready = on_ready;
    d->stream.gone = on_gone;
    uv_timer_init(w->loop, &d->timer);
    d->timer.data = d;
    d->handles_open = 1;
    if (mirror) {
        d->pp = pp;
        d->side = side;
        d->prog = prog;
        d->has_prog = filtered;
        uv_check_init(w->loop, &d->flush_check);
        d->flush_check.data = d;
        d->has_check = true;
        d->handles_open++;
    } else {
        d->mirror = -1;
        d->side = -1;
        uv_poll_init(w->loop, &d->poll, fd);
        d->poll.data = d;
        d->has_poll = true;
        d->handles_open++;
    }
    /* For the log and the file name: the source, or the port ("lan (a0) of inline:a0,b0"). */
    const char *label = src->name;
    struct port_status st;
    if (side >= 0) {
        port_pair_status(pp, side, &st);
        snprintf(d->source, sizeof d->source, "%s (%s) of %s", st.name, st.ifname, src->name);
        label = st.name;
    } else {
        snprintf(d->source, sizeof d->source, "%s", src->name);
    }

    /* The file header: microsecond timestamps, the link type. */
    char *h = d->fill;
    put32(h, 0xa1b2c3d4);
    uint16_t major = 2, minor = 4;
    memcpy(h + 4, &major, 2);
    memcpy(h + 6, &minor, 2);
    put32(h + 8, 0);
    put32(h + 12, 0);
    put32(h + 16, (uint32_t)snaplen);
    put32(h + 20, (uint32_t)linktype);
    d->fill_len = 24;
    d->bytes = 24;

    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    char safe[ENGINE_SOURCE_NAME];
    snprintf(safe, sizeof safe, "%s", label);
    for (char *q = safe; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '-' || *q == '_' || *q == '.'))
            *q = '_';
    c->res.status = 200;
    c->res.content_type = "application/vnd.tcpdump.pcap";
    web_response_header(&c->res, "content-disposition",
                        "attachment; filename=\"tapbox-%s-%s.pcap\"", safe, stamp);
    log_info("web", "pcap download of %s by %s: %s, %llu s, at most %llu bytes", d->source,
             c->who.user, filter && filter[0] ? filter : "all packets",
             (unsigned long long)duration, (unsigned long long)max_bytes);

    d->next = w->pcap_streams;
    w->pcap_streams = d;
    w->pcap_stream_count++;
    if (d->has_poll) {
        uv_poll_start(&d->poll, UV_READABLE, on_readable);
        d->polling = true;
    }
    uv_timer_start(&d->timer, on_timer, duration * 1000, 0);
    if (web_stream_begin(c, &d->stream) < 0) { /* never: can_stream was checked */
        d->ended = true;
        pcap_dl_release(d);
        web_respond_error(&c->res, 501, "this transport cannot stream");
        return 0;
    }
    return 1;
}
