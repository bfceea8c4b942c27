#include "capture/source.h"
#include "core/clock.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "capture/file_reader.h"
#include "capture/live_open.h"

#define LIVE_SNAPLEN 65535
#define LIVE_BUFFER_BYTES (8 * 1024 * 1024)
#define LIVE_BATCH 256           /* packets per pcap_dispatch */
#define LIVE_BATCHES_PER_WAKEUP 8 /* then yield to the loop */
#define FILE_BATCH 1024          /* packets per loop iteration when reading at full speed */
#define FILE_RUN 32              /* packets handed to the engine at once */
#define RETRY_MS 5000

struct capture_source {
    uv_loop_t *loop;
    struct engine *engine;
    int id;                     /* engine source id */
    char *spec;
    char *bpf;
    bool is_file;
    enum source_replay replay;
    bool loop_file;
    pcap_t *pcap;               /* live */
    struct file_reader *reader; /* file */
    int linktype;
    uv_poll_t *poll;            /* live: one per activation, freed on its close callback */
    uv_timer_t timer;           /* live: retry and required-timeout; file: realtime pacing */
    uv_idle_t idle;             /* file at full speed: one batch per loop iteration */
    int handles_open;           /* timer and idle handles not yet closed */
    source_done_fn on_done;
    void *ctx;
    bool (*hold_back)(void *ctx);
    bool closing;
    /* File replay: timestamps are shifted so that time keeps rising across loops and, in
     * realtime mode, so that packets carry the wall-clock time of their replay. */
    int64_t ts_shift_us;
    uint64_t file_first_us, file_last_us;
    bool have_first;
    uint64_t replay_origin_us;  /* wall clock when the first packet was replayed */
    unsigned loops_done;
    uint64_t pass_start_packets; /* the source's packet count when the current pass began */
    /* Realtime: the next packet, read but not yet due (its data stays in the reader's batch
     * until the next file_reader_next). */
    struct file_packet pending_packet;
    bool pending;
    struct live_retry retry;    /* live: the outage being retried, for its log */
};

static const struct source_info *info(const struct capture_source *s)
{
    return engine_source(s->engine, (unsigned)s->id);
}

static void pcap_handler_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct capture_source *s = (struct capture_source *)user;
    engine_process_packet(s->engine, (unsigned)s->id, s->linktype,
                          (uint64_t)h->ts.tv_sec * US_PER_S + (uint64_t)h->ts.tv_usec, data,
                          h->caplen, h->len);
}

/* A file packet's time as replayed: the pass's first and last times are noted (a new pass
 * starts after the last), and the shift of replay and passes is added. */
static uint64_t file_replay_time(struct capture_source *s, uint64_t ts)
{
    if (!s->have_first) {
        s->file_first_us = ts;
        s->have_first = true;
    }
    if (ts > s->file_last_us)
        s->file_last_us = ts;
    return (uint64_t)((int64_t)ts + s->ts_shift_us);
}

/* A new pass of a file may have brought a new link type (the file was replaced). */
static void source_note_linktype(struct capture_source *s, int linktype)
{
    if (linktype != s->linktype) {
        s->linktype = linktype;
        engine_source_set_linktype(s->engine, (unsigned)s->id, linktype);
    }
}

static void source_deliver_file(struct capture_source *s, const struct file_packet *p)
{
    source_note_linktype(s, p->linktype);
    engine_process_packet(s->engine, (unsigned)s->id, s->linktype, file_replay_time(s, p->ts_us),
                          p->data, p->caplen, p->len);
}

/* A run of file packets (one link type) at full speed: handed to the engine together so that
 * it can overlap their flow lookups. */
static void source_deliver_file_run(struct capture_source *s, const struct file_packet *p,
                                    size_t n)
{
    struct engine_frame frames[FILE_RUN];
    source_note_linktype(s, p[0].linktype);
    for (size_t i = 0; i < n; i++)
        frames[i] = (struct engine_frame){file_replay_time(s, p[i].ts_us), p[i].data,
                                          p[i].caplen, p[i].len, p[i].prepared};
    engine_process_frames(s->engine, (unsigned)s->id, s->linktype, frames, n);
}

int source_apply_filter(pcap_t *p, const char *bpf, char *err, size_t errsize)
{
    struct bpf_program prog;
    if (pcap_compile(p, &prog, bpf ? bpf : "", 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errsize, "bad filter '%s': %s", bpf ? bpf : "", pcap_geterr(p));
        return -1;
    }
    int rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
        snprintf(err, errsize, "cannot set filter: %s", pcap_geterr(p));
        return -1;
    }
    return 0;
}

/* ---- files ---- */

static void file_finish(struct capture_source *s, const char *error)
{
    uv_idle_stop(&s->idle);
    uv_timer_stop(&s->timer);
    if (error) {
        engine_source_set_state(s->engine, (unsigned)s->id, SOURCE_FAILED, error);
        log_error("capture", "%s: %s (the packets before it were processed)", s->spec, error);
    } else {
        engine_source_set_state(s->engine, (unsigned)s->id, SOURCE_DONE, NULL);
        log_info("capture", "%s: end of file, %llu packets", s->spec,
                 (unsigned long long)info(s)->counters.packets);
    }
    file_reader_close(s->reader);
    s->reader = NULL;
    if (s->on_done)
        s->on_done(s, s->ctx);
}

/*
 * The reader has no packet to give: FILE_READ_WAIT (on_ready resumes us), the end of the file or
 * an error. At the end in loop mode, the next pass starts with time shifted past the last packet
 * plus a second of silence, as a real capture restarting would show. True when the caller should
 * ask again (a new pass began), false when it should stop.
 */
static bool file_at_stall(struct capture_source *s, enum file_read_status st)
{
    if (st == FILE_READ_WAIT)
        return false;
    if (st == FILE_READ_END && s->loop_file && info(s)->counters.packets > s->pass_start_packets) {
        s->pass_start_packets = info(s)->counters.packets;
        file_reader_rewind(s->reader);
        s->loops_done++;
        s->ts_shift_us += (int64_t)(s->file_last_us - s->file_first_us) + (int64_t)US_PER_S;
        log_debug("capture", "%s: pass %u", s->spec, s->loops_done + 1);
        return true;
    }
    if (st == FILE_READ_END && s->loop_file && s->loops_done > 0) {
        /* A pass that gave nothing (the file was emptied, or a new filter matches nothing):
         * looping on would only spin. */
        log_warn("capture", "%s: pass %u gave no packets (emptied, or a filter that matches "
                 "nothing): looping stopped", s->spec, s->loops_done + 1);
        file_finish(s, NULL);
        return false;
    }
    file_finish(s, st == FILE_READ_ERROR ? file_reader_error(s->reader) : NULL);
    return false;
}

static void file_idle_cb(uv_idle_t *handle);

static void file_resume_cb(uv_timer_t *handle)
{
    struct capture_source *s = handle->data;
    uv_idle_start(&s->idle, file_idle_cb);
}

/* Full speed: up to FILE_BATCH packets per loop iteration, so the loop still serves the rest. */
static void file_idle_cb(uv_idle_t *handle)
{
    struct capture_source *s = handle->data;
    if (s->hold_back && s->hold_back(s->ctx)) {
        /* Sleep a little rather than spin: the thread pool is draining the backlog. */
        uv_idle_stop(&s->idle);
        uv_timer_start(&s->timer, file_resume_cb, 2, 0);
        return;
    }
    for (size_t done = 0; done < FILE_BATCH;) {
        struct file_packet run[FILE_RUN];
        enum file_read_status st;
        size_t n = file_reader_next_run(s->reader, run, FILE_RUN, &st);
        if (n > 0) {
            source_deliver_file_run(s, run, n);
            done += n;
            continue;
        }
        if (!file_at_stall(s, st)) {
            if (st == FILE_READ_WAIT)
                uv_idle_stop(&s->idle); /* file_ready_cb starts it again */
            return;
        }
    }
}

static void realtime_schedule(struct capture_source *s);

static void realtime_timer_cb(uv_timer_t *handle) { realtime_schedule(handle->data); }

/* Deliver every packet that is due, then sleep until the next one. */
static void realtime_schedule(struct capture_source *s)
{
    for (int burst = 0; burst < FILE_BATCH; burst++) {
        if (!s->pending) {
            enum file_read_status st = file_reader_next(s->reader, &s->pending_packet);
            if (st != FILE_READ_PACKET) {
                if (file_at_stall(s, st))
                    continue;
                return; /* waiting: file_ready_cb calls again */
            }
            s->pending = true;
        }
        uint64_t ts = s->pending_packet.ts_us;
        if (!s->have_first) {
            /* Map the file's first packet to now: replayed traffic looks current. */
            s->replay_origin_us = clock_wall_us();
            s->ts_shift_us = (int64_t)s->replay_origin_us - (int64_t)ts;
        }
        uint64_t due = (uint64_t)((int64_t)ts + s->ts_shift_us);
        uint64_t now = clock_wall_us();
        if (due > now + 1000) {
            uint64_t wait_ms = (due - now) / 1000;
            uv_timer_start(&s->timer, realtime_timer_cb, wait_ms, 0);
            return;
        }
        s->pending = false;
        source_deliver_file(s, &s->pending_packet);
    }
    uv_timer_start(&s->timer, realtime_timer_cb, 0, 0); /* let the loop breathe */
}

/* Worker thread: the engine's decoding of a packet, done next to its read (arg: the seed). */
static void file_prepare(uint64_t flow_seed, int linktype, const uint8_t *data, uint32_t caplen,
                         uint32_t len, void *out)
{
    engine_prepare_frame(flow_seed, linktype, data, caplen, len, out);
}

/* The reader has the batch we waited for. */
static void file_ready_cb(void *ctx)
{
    struct capture_source *s = ctx;
    if (s->closing)
        return;
    if (s->replay == SOURCE_REPLAY_REALTIME)
        realtime_schedule(s);
    else if (!uv_is_active((uv_handle_t *)&s->timer)) /* not sleeping on hold_back */
        uv_idle_start(&s->idle, file_idle_cb);
}

/* ---- live interfaces ---- */

static void live_start(struct capture_source *s);

static void live_retry_cb(uv_timer_t *handle) { live_start(handle->data); }

static void free_handle_cb(uv_handle_t *handle) { free(handle); }

static void live_stop_pcap(struct capture_source *s)
{
    /* The poll handle must stop before pcap_close closes its descriptor. */
    if (s->poll) {
        uv_poll_stop(s->poll);
        uv_close((uv_handle_t *)s->poll, free_handle_cb);
        s->poll = NULL;
    }
    if (s->pcap) {
        pcap_close(s->pcap);
        s->pcap = NULL;
    }
}

static void live_fail(struct capture_source *s, const char *why, bool missing)
{
    live_stop_pcap(s);
    engine_source_set_state(s->engine, (unsigned)s->id, SOURCE_WAITING, why);
    /* Log the first failure and then only changes: a USB NIC may take a while to appear. */
    if (live_retry_failed(&s->retry, why)) {
        if (missing)
            log_warn("capture", "%s: %s; retrying every %d s", s->spec, why, RETRY_MS / 1000);
        else
            log_error("capture", "%s: %s; retrying every %d s", s->spec, why, RETRY_MS / 1000);
    }
    uv_timer_start(&s->timer, live_retry_cb, RETRY_MS, 0);
}

static void live_dispatch(struct capture_source *s)
{
    for (int i = 0; i < LIVE_BATCHES_PER_WAKEUP && s->pcap; i++) {
        int n = pcap_dispatch(s->pcap, LIVE_BATCH, pcap_handler_cb, (u_char *)s);
        if (n < 0 && n != PCAP_ERROR_BREAK) {
            char why[PCAP_ERRBUF_SIZE + 16];
            snprintf(why, sizeof why, "capture stopped: %s", pcap_geterr(s->pcap));
            live_retry_recovered(&s->retry); /* it was capturing: a new outage */
            live_fail(s, why, false);
            return;
        }
        if (n < LIVE_BATCH)
            return;
    }
}

static void live_poll_cb(uv_poll_t *handle, int status, int events)
{
    (void)events;
    struct capture_source *s = handle->data;
    if (status < 0) {
        /* POLLERR on a capture socket: the interface went away (unplugged, renamed). */
        char why[128];
        snprintf(why, sizeof why, "interface gone (%s)", uv_strerror(status));
        live_retry_recovered(&s->retry);
        live_fail(s, why, true);
        return;
    }
    live_dispatch(s);
}

static void live_required_timeout_cb(uv_timer_t *handle) { live_dispatch(handle->data); }

static void live_start(struct capture_source *s)
{
    char perr[PCAP_ERRBUF_SIZE] = "", err[PCAP_ERRBUF_SIZE + 64];
    bool missing;
    struct live_open lo = {s->spec, LIVE_SNAPLEN, LIVE_BUFFER_BYTES, true, false};
    pcap_t *p = live_open(&lo, &missing, err, sizeof err);
    if (!p) {
        live_fail(s, err, missing);
        return;
    }
    s->pcap = p;
    if (s->bpf && source_apply_filter(p, s->bpf, err, sizeof err) < 0) {
        live_fail(s, err, false);
        return;
    }
    if (pcap_setnonblock(p, 1, perr) < 0) {
        live_fail(s, perr, false);
        return;
    }
    s->linktype = pcap_datalink(p);
    engine_source_set_linktype(s->engine, (unsigned)s->id, s->linktype);
    int fd = pcap_get_selectable_fd(p);
    s->poll = fd >= 0 ? malloc(sizeof *s->poll) : NULL;
    if (!s->poll || uv_poll_init(s->loop, s->poll, fd) < 0) {
        free(s->poll);
        s->poll = NULL;
        live_fail(s, "no selectable descriptor", false);
        return;
    }
    s->poll->data = s;
    uv_poll_start(s->poll, UV_READABLE, live_poll_cb);
    const struct timeval *tmo = pcap_get_required_select_timeout(p);
    if (tmo) {
        uint64_t ms = (uint64_t)tmo->tv_sec * 1000 + (uint64_t)tmo->tv_usec / 1000;
        uv_timer_start(&s->timer, live_required_timeout_cb, ms ? ms : 1, ms ? ms : 1);
    }
    engine_source_set_state(s->engine, (unsigned)s->id, SOURCE_UP, "");
    live_retry_recovered(&s->retry);
    log_info("capture", "%s: capturing (link type %s)", s->spec,
             pcap_datalink_val_to_name(s->linktype) ? pcap_datalink_val_to_name(s->linktype) : "?");
}

/* ---- lifecycle ---- */

bool source_spec_is_file(const char *spec)
{
    struct stat st;
    if (stat(spec, &st) == 0)
        return !S_ISCHR(st.st_mode); /* a directory is a (bad) file, not an interface */
    /* Not there: a path-looking spec is a file that is missing, a bare name an interface. */
    size_t n = strlen(spec);
    return strchr(spec, '/') || (n > 5 && strcmp(spec + n - 5, ".pcap") == 0) ||
           (n > 7 && strcmp(spec + n - 7, ".pcapng") == 0) ||
           (n > 4 && strcmp(spec + n - 4, ".cap") == 0);
}

struct capture_source *source_open(uv_loop_t *loop, struct engine *e,
                                   const struct source_options *opts, source_done_fn on_done,
                                   void *ctx, char *err, size_t errsize)
{
    struct capture_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->engine = e;
    s->spec = strdup(opts->spec);
    s->bpf = opts->bpf ? strdup(opts->bpf) : NULL;
    s->is_file = source_spec_is_file(opts->spec);
    s->replay = opts->replay;
    s->loop_file = opts->loop;
    s->on_done = on_done;
    s->ctx = ctx;
    s->hold_back = opts->hold_back;
    s->id = engine_add_source(e, opts->spec, s->is_file ? "file" : "interface");
    if (s->id < 0) {
        snprintf(err, errsize, "%s: too many sources (%d)", opts->spec, ENGINE_MAX_SOURCES);
        goto fail;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->handles_open++;
    if (s->is_file) {
        char why[PCAP_ERRBUF_SIZE + 64];
        /* At full speed the worker also decodes (realtime replay delivers one by one). */
        struct file_reader_prepare prep = {sizeof(struct engine_prepared), file_prepare,
                                           engine_flow_seed(e)};
        s->reader = file_reader_open(loop, opts->spec, s->bpf,
                                     s->replay == SOURCE_REPLAY_REALTIME ? NULL : &prep,
                                     file_ready_cb, s, why, sizeof why);
        if (!s->reader) {
            /* libpcap's messages usually start with the path already */
            if (strncmp(why, opts->spec, strlen(opts->spec)) == 0)
                snprintf(err, errsize, "%s", why);
            else
                snprintf(err, errsize, "%s: %s", opts->spec, why);
            engine_source_set_state(s->engine, (unsigned)s->id, SOURCE_FAILED, why);
            source_close(s);
            return NULL;
        }
        s->linktype = file_reader_linktype(s->reader);
        engine_source_set_linktype(s->engine, (unsigned)s->id, s->linktype);
        engine_source_set_state(s->engine, (unsigned)s->id, SOURCE_UP, NULL);
        if (s->replay != SOURCE_REPLAY_REALTIME) {
            uv_idle_init(loop, &s->idle);
            s->idle.data = s;
            s->handles_open++;
        }
        /* Both modes start when the reader hands back its first batch (file_ready_cb). */
        log_info("capture", "%s: reading file (link type %s, %s)", s->spec,
                 pcap_datalink_val_to_name(s->linktype) ? pcap_datalink_val_to_name(s->linktype) : "?",
                 s->replay == SOURCE_REPLAY_REALTIME ? "real time" : "full speed");
    } else {
        live_start(s);
    }
    return s;
fail:
    free(s->spec);
    free(s->bpf);
    free(s);
    return NULL;
}

static void source_handle_closed(uv_handle_t *handle)
{
    struct capture_source *s = handle->data;
    if (--s->handles_open > 0)
        return;
    free(s->spec);
    free(s->bpf);
    free(s);
}

void source_close(struct capture_source *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->on_done = NULL;
    if (!s->is_file && s->pcap)
        live_dispatch(s); /* what the kernel already holds is ours too */
    live_stop_pcap(s);
    file_reader_close(s->reader);
    s->reader = NULL;
    if (s->handles_open == 0) { /* failed before any handle existed */
        free(s->spec);
        free(s->bpf);
        free(s);
        return;
    }
    uv_close((uv_handle_t *)&s->timer, source_handle_closed);
    if (s->handles_open > 1)
        uv_close((uv_handle_t *)&s->idle, source_handle_closed);
}

int source_set_filter(struct capture_source *s, const char *bpf, char *err, size_t errsize)
{
    if (s->is_file) { /* from the next pass of a looping file on */
        if (s->reader && file_reader_set_filter(s->reader, bpf, err, errsize) < 0)
            return -1;
        free(s->bpf);
        s->bpf = bpf ? strdup(bpf) : NULL;
        return 0;
    }
    free(s->bpf);
    s->bpf = bpf ? strdup(bpf) : NULL;
    if (!s->pcap)
        return 0;
    return source_apply_filter(s->pcap, bpf, err, errsize);
}

void source_update_stats(struct capture_source *s)
{
    struct pcap_stat st;
    if (s->is_file || !s->pcap || pcap_stats(s->pcap, &st) < 0)
        return;
    engine_source_set_drops(s->engine, (unsigned)s->id, st.ps_drop, st.ps_ifdrop);
}

bool source_drives_clock(const struct capture_source *s)
{
    return s->is_file && s->replay == SOURCE_REPLAY_MAX;
}
