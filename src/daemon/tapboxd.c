/*
 * tapboxd: one process, one libuv loop. Capture sources feed the flow engine; timers drive the
 * per-second work; signals stop (flushing every flow) or reload. Everything below runs on the
 * loop thread except the flow export's writes, which libuv's thread pool performs on buffers
 * handed over whole (see ndjson_writer.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pcap/pcap.h>
#include <uv.h>

#include "box/board.h"
#include "box/bypass.h"
#include "capture/port_pair.h"
#include "capture/source.h"
#include "policy/policy.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/schedule.h"
#include "core/version.h"
#include "export/ndjson_writer.h"
#include "store/store.h"
#include "ntap/ntap_collector.h"
#include "query/query_json.h"
#include "web/web.h"
#include "daemon/config.h"
#include "daemon/policies.h"


#define EXPORT_BACKLOG_LIMIT (4u << 20) /* bytes of flow lines queued before producers wait */
#define DRAIN_FLOWS_PER_STEP 2048
#define DEFAULT_BOARD_FILE "/run/tapbox/board.conf" /* written by the image's rcS */

struct daemon_state {
    uv_loop_t *loop;
    struct tapbox_config config;
    struct engine *engine;
    struct capture_source *sources[CONFIG_MAX_INTERFACES];
    int source_count;
    int sources_running;
    bool clock_from_packets;
    struct ndjson_writer *flows_out;
    uint64_t flows_out_dropped; /* kept when the writer closes, for --stats-out */
    struct schedule schedule;      /* the one schedule: every periodic job, the stall measure */
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_idle_t drain; /* at exit: ends the flows step by step as the export keeps up */
    uv_timer_t drain_wait; /* ... and sleeps while it does not, instead of spinning the loop */
    bool stopping;
    struct port_pair *ports;       /* -i inline:A,B, bridge:A,B or tap:A,B (one at most) */
    struct bypass *bypass;         /* relay and watchdog of the board (NULL: no board) */
    struct policies policies;      /* inline rules (src/daemon/policies.h) */
    struct flow_sides sides;       /* the port pair's side names, for the flow export */
    struct web *web;               /* the web server (NULL: none) */
    struct store *history;         /* -F: ended flows into SQLite (NULL: off) */
    struct store_stats history_stats; /* kept when it closes, for --stats-out */
    struct ntap_collector *ntap;   /* -i ntap:PORT[:PASSPHRASE] (one at most) */
    cJSON *ntap_stats;             /* its counters, kept at stop for --stats-out */
    int exit_code;
};

static void on_host_end(void *ctx, const struct engine_host_record *r)
{
    struct daemon_state *d = ctx;
    if (d->history)
        store_add_host(d->history, r);
}

static void on_flow_end(void *ctx, const struct engine *e, const struct flow *f)
{
    struct daemon_state *d = ctx;
    if (d->history)
        store_add_flow(d->history, e, &d->sides, f);
    if (!d->flows_out)
        return;
    cJSON *json = query_flow_json(e, &d->sides, f);
    char *text = cJSON_PrintUnformatted(json);
    if (text)
        ndjson_writer_append(d->flows_out, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(json);
}

static int write_stats_file(struct daemon_state *d)
{
    cJSON *status = query_status_json(d->engine);
    cJSON_AddNumberToObject(status, "loop_stalls", (double)schedule_stalls(&d->schedule)->count);
    if (d->config.flows_out)
        cJSON_AddNumberToObject(status, "flows_out_dropped",
                                (double)(d->flows_out ? ndjson_writer_dropped(d->flows_out)
                                                      : d->flows_out_dropped));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cJSON_AddNumberToObject(status, "peak_rss_kib", (double)ru.ru_maxrss);
    /* Bytes this process made the kernel write to block devices (the SD card's wear). */
    FILE *io = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long wb;
    while (io && fgets(line, sizeof line, io))
        if (sscanf(line, "write_bytes: %llu", &wb) == 1)
            cJSON_AddNumberToObject(status, "write_bytes", (double)wb);
    if (io)
        fclose(io);
    cJSON_AddItemToObject(status, "l7", query_l7_json(d->engine));
    if (d->config.history) {
        cJSON *h = cJSON_AddObjectToObject(status, "history");
        cJSON_AddNumberToObject(h, "rows_committed", (double)d->history_stats.rows_committed);
        cJSON_AddNumberToObject(h, "rows_dropped", (double)d->history_stats.rows_dropped);
        cJSON_AddNumberToObject(h, "batches_committed", (double)d->history_stats.batches_committed);
        cJSON_AddNumberToObject(h, "writer_busy_s", (double)d->history_stats.writer_busy_us / 1e6);
        cJSON_AddNumberToObject(h, "state_saves", (double)d->history_stats.state_saves);
        cJSON_AddNumberToObject(h, "hosts_saved", (double)d->history_stats.hosts_saved);
        if (d->history_stats.last_error[0])
            cJSON_AddStringToObject(h, "last_error", d->history_stats.last_error);
    }
    if (d->ntap_stats) {
        cJSON_AddItemToObject(status, "ntap", d->ntap_stats);
        d->ntap_stats = NULL;
    }
    char *text = cJSON_Print(status);
    cJSON_Delete(status);
    if (!text)
        return -1;
    /* Written once at exit, after the loop has stopped: nothing else is waiting on it. */
    FILE *f = strcmp(d->config.stats_out, "-") ? fopen(d->config.stats_out, "w") : stdout;
    int rc = -1;
    if (f) {
        rc = fputs(text, f) >= 0 && fputc('\n', f) != EOF ? 0 : -1;
        if (f != stdout)
            rc |= fclose(f);
        else
            fflush(f);
    }
    if (rc < 0)
        log_error("tapboxd", "cannot write %s: %s", d->config.stats_out, strerror(errno));
    cJSON_free(text);
    return rc;
}

/* File sources wait, and the drain at exit pauses, while the flow file or the history writer
 * is this far behind: they lose nothing by waiting. */
static bool export_is_behind(void *ctx)
{
    struct daemon_state *d = ctx;
    if (d->history && store_backlog(d->history) > STORE_DEFAULT_QUEUE_ROWS / 2)
        return true;
    return d->flows_out && ndjson_writer_backlog(d->flows_out) > EXPORT_BACKLOG_LIMIT;
}

static void on_history_closed(void *ctx, const struct store_stats *final)
{
    struct daemon_state *d = ctx;
    d->history_stats = *final;
}

static void history_save_state(struct daemon_state *d);

static void drain_step(uv_idle_t *h);

static void drain_resume(uv_timer_t *t)
{
    struct daemon_state *d = t->data;
    uv_idle_start(&d->drain, drain_step);
}

static void drain_step(uv_idle_t *h)
{
    struct daemon_state *d = h->data;
    if (export_is_behind(d)) {
        /* The pool is writing. An idle handle that returns at once makes the loop poll with a
         * zero timeout, over and over: on one core that spinning is taken from the writer. */
        uv_idle_stop(h);
        uv_timer_start(&d->drain_wait, drain_resume, 2, 0);
        return;
    }
    if (engine_expire_some(d->engine, DRAIN_FLOWS_PER_STEP) > 0)
        return;
    uv_close((uv_handle_t *)h, NULL);
    uv_close((uv_handle_t *)&d->drain_wait, NULL);
    if (d->flows_out) {
        ndjson_writer_close(d->flows_out, &d->flows_out_dropped);
        d->flows_out = NULL;
    }
    if (d->history) {
        /* Writes what is queued, then closes; the loop runs until that is on disk. */
        if (!d->config.once) /* a replay is not the box: no host state (see store_open) */
            history_save_state(d);
        store_close(d->history, on_history_closed, d);
        d->history = NULL;
    }
}

static void daemon_stop_inputs(struct daemon_state *d);

/* The relay has joined the wires (or there is none): the ports can close without cutting the
 * link. */
static void on_bypass_stopped(void *ctx)
{
    struct daemon_state *d = ctx;
    daemon_stop_inputs(d);
}

static void daemon_stop(struct daemon_state *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    log_info("tapboxd", "stopping (%s)", why);
    if (d->bypass) {
        /* Engage the bypass first and keep forwarding while the relay switches. */
        if (d->ports && !bypass_engaged(d->bypass))
            port_pair_keep_forwarding(d->ports);
        bypass_stop(d->bypass, on_bypass_stopped, d);
        return;
    }
    daemon_stop_inputs(d);
}

static void daemon_stop_inputs(struct daemon_state *d)
{
    web_server_set_box(d->web, NULL, NULL, d->policies.set); /* the views must not see what closes below */
    web_server_set_policy_admin(d->web, NULL);
    web_server_set_history(d->web, NULL); /* it closes once the last flows are written */
    policies_stop(&d->policies);
    if (d->ports) {
        port_pair_close(d->ports);
        d->ports = NULL;
    }
    if (d->bypass) {
        bypass_destroy(d->bypass);
        d->bypass = NULL;
    }
    for (int i = 0; i < d->source_count; i++) {
        source_close(d->sources[i]);
        d->sources[i] = NULL;
    }
    if (d->ntap) {
        if (d->config.stats_out)
            d->ntap_stats = ntap_collector_stats_json(d->ntap);
        ntap_collector_log_stats(d->ntap);
        web_server_set_ntap(d->web, NULL);
        ntap_collector_close(d->ntap);
        d->ntap = NULL;
    }
    schedule_close(&d->schedule);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    web_server_stop(d->web);
    /* Every flow ends now and goes to the export, in steps the writer can follow. */
    uv_idle_init(d->loop, &d->drain);
    uv_timer_init(d->loop, &d->drain_wait);
    d->drain.data = d->drain_wait.data = d;
    uv_idle_start(&d->drain, drain_step);
}

static void on_source_done(struct capture_source *s, void *ctx)
{
    (void)s;
    struct daemon_state *d = ctx;
    if (--d->sources_running > 0)
        return;
    if (d->config.once)
        daemon_stop(d, "all inputs read");
    else
        log_info("tapboxd", "all inputs finished; still running (SIGTERM to stop)");
}

/* ---- the jobs of the one schedule (see schedule_jobs below) ---- */

static void job_bypass(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    if (d->bypass)
        bypass_tick(d->bypass, tick);
}

/* Engine time follows the wall clock when live (files drive it from their packets): rates,
 * idle expiry and host purge. */
static void job_engine(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    if (!d->clock_from_packets)
        engine_advance(d->engine, clock_wall_us());
}

static void job_capture(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    for (int i = 0; i < d->source_count; i++)
        if (d->sources[i])
            source_update_stats(d->sources[i]);
    if (d->ports)
        port_pair_tick(d->ports);
    if (d->ntap)
        ntap_collector_tick(d->ntap);
}

static void job_web(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    web_server_tick(d->web);
}

/* What the pair's ports received and lost, for the history's per-port series. */
static size_t history_port_figures(const struct daemon_state *d,
                                   struct store_port_figures out[STORE_MAX_PORTS])
{
    if (!d->ports)
        return 0;
    for (int side = 0; side < STORE_MAX_PORTS; side++) {
        struct port_status st;
        port_pair_status(d->ports, side, &st);
        snprintf(out[side].name, sizeof out[side].name, "%s", st.name);
        out[side].bytes = st.c.rx_bytes;
        out[side].packets = st.c.rx_packets;
        out[side].drops = st.c.queue_drops + st.c.tx_errors + st.c.kernel_drops;
    }
    return STORE_MAX_PORTS;
}

/* The minute's time-series points of the history. */
static void job_history_minute(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    struct store_port_figures ports[STORE_MAX_PORTS];
    size_t nports = history_port_figures(d, ports);
    if (d->history)
        store_sample_minute(d->history, d->engine, ports, nports, (uint64_t)time(NULL));
}

/* Hosts that changed and every counter (sources, rules) into the history, for the next start. */
static void history_save_state(struct daemon_state *d)
{
    if (!d->history)
        return;
    enum { MAX_COUNTERS = ENGINE_MAX_SOURCES + POLICY_MAX_RULES + 1 };
    struct store_counter *c = calloc(MAX_COUNTERS, sizeof *c);
    struct policy_rule_stats *rules = calloc(POLICY_MAX_RULES + 1, sizeof *rules);
    size_t n = 0;
    if (c && rules) {
        for (unsigned i = 0; i < engine_source_count(d->engine); i++) {
            const struct source_info *src = engine_source(d->engine, i);
            c[n] = (struct store_counter){.kind = STORE_COUNTER_SOURCE,
                                          .flows = src->counters.flows,
                                          .packets = src->counters.packets,
                                          .bytes = src->counters.bytes};
            snprintf(c[n++].name, sizeof c->name, "%s", src->name);
        }
        size_t nrules = policies_counters(&d->policies, rules, POLICY_MAX_RULES + 1);
        for (size_t i = 0; i < nrules; i++) {
            c[n] = (struct store_counter){.kind = STORE_COUNTER_RULE, .flows = rules[i].flows,
                                          .packets = rules[i].packets, .bytes = rules[i].bytes};
            snprintf(c[n].name, sizeof c->name, "%s", rules[i].name);
            snprintf(c[n++].text, sizeof c->text, "%s", rules[i].text);
        }
        engine_sync(d->engine);
        store_save_state(d->history, d->engine, c, n, (uint64_t)time(NULL));
    }
    free(c);
    free(rules);
}

static void job_history_state(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    if (!d->config.once)
        history_save_state(d);
}

/* What the history saved before this start: hosts (first seen, totals), sources' and rules'
 * counters. The minute's series start again from the restored counters. */
static void on_history_restored(void *ctx, const struct store_restore *r)
{
    struct daemon_state *d = ctx;
    size_t hosts = 0, counters = 0;
    for (size_t i = 0; i < r->nhosts; i++)
        hosts += engine_restore_host(d->engine, &r->hosts[i]) == 0;
    for (size_t i = 0; i < r->ncounters; i++) {
        const struct store_counter *c = &r->counters[i];
        if (c->kind == STORE_COUNTER_SOURCE) {
            int id = engine_source_find(d->engine, c->name);
            if (id >= 0)
                engine_restore_source_counters(d->engine, (unsigned)id, c->packets, c->bytes,
                                               c->flows);
            counters += id >= 0;
        } else {
            struct policy_rule_stats saved = {.flows = c->flows, .packets = c->packets,
                                              .bytes = c->bytes};
            snprintf(saved.name, sizeof saved.name, "%s", c->name);
            snprintf(saved.text, sizeof saved.text, "%s", c->text);
            counters += policies_restore_counters(&d->policies, &saved);
        }
    }
    log_info("tapboxd", "history: %zu of %zu hosts and %zu of %zu counters restored", hosts,
             r->nhosts, counters, r->ncounters);
    struct store_port_figures ports[STORE_MAX_PORTS];
    size_t nports = history_port_figures(d, ports);
    store_sample_rebase(d->history, d->engine, ports, nports, (uint64_t)time(NULL));
}

static void job_export(void *ctx, const struct schedule_tick *tick)
{
    struct daemon_state *d = ctx;
    if (d->flows_out)
        ndjson_writer_flush(d->flows_out);
    if (d->history)
        store_tick(d->history);
}

/* Every periodic job of tapboxd, with its period, in the order a tick runs them. */
static void schedule_jobs(struct daemon_state *d)
{
    schedule_every(&d->schedule, "bypass", SCHEDULE_TICK_MS, job_bypass, d);
    schedule_every(&d->schedule, "engine", SCHEDULE_SECOND, job_engine, d);
    schedule_every(&d->schedule, "capture", SCHEDULE_SECOND, job_capture, d);
    schedule_every(&d->schedule, "export", SCHEDULE_SECOND, job_export, d);
    schedule_every(&d->schedule, "web", SCHEDULE_SECOND, job_web, d);
    schedule_every(&d->schedule, "history-minute", SCHEDULE_MINUTE, job_history_minute, d);
    schedule_every(&d->schedule, "history-state",
                   (d->config.history_save_s ? d->config.history_save_s : STORE_STATE_S) *
                       SCHEDULE_SECOND,
                   job_history_state, d);
}

/* A new rule set is in force (a reload, a change over the API): the views follow it. */
static void on_policies_installed(void *ctx)
{
    struct daemon_state *d = ctx;
    web_server_set_box(d->web, d->ports, d->bypass, d->policies.set);
}

static void reload_config(struct daemon_state *d)
{
    if (!d->config.config_file) {
        log_warn("tapboxd", "SIGHUP: started without a config file, nothing to reload");
        return;
    }
    struct tapbox_config fresh;
    char err[512];
    config_init(&fresh);
    if (config_parse_file(&fresh, d->config.config_file, err, sizeof err) < 0) {
        log_error("tapboxd", "reload refused, keeping the running config: %s", err);
        config_free(&fresh);
        return;
    }
    if (policies_reload(&d->policies, &fresh, err, sizeof err) < 0) {
        log_error("tapboxd", "reload refused, keeping the running config: %s", err);
        config_free(&fresh);
        return;
    }
    engine_reconfigure(d->engine, &fresh.engine);
    /* Only a mode written in the file changes it: a mode set from the UI (maintenance) survives
     * a reload of a file that does not say. */
    enum bypass_mode mode;
    if (d->bypass && fresh.bypass && bypass_mode_parse(fresh.bypass, &mode) == 0 &&
        bypass_set_mode(d->bypass, mode, err, sizeof err) < 0)
        log_error("tapboxd", "reload: %s", err);
    log_set_level(fresh.verbosity > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    for (int i = 0; i < d->source_count; i++) {
        if (d->sources[i] && source_set_filter(d->sources[i], fresh.bpf, err, sizeof err) < 0)
            log_error("tapboxd", "reload: %s", err);
    }
    if (d->ports && port_pair_set_filter(d->ports, fresh.bpf, err, sizeof err) < 0)
        log_error("tapboxd", "reload: %s", err);
    if (fresh.interface_count != d->config.interface_count)
        log_warn("tapboxd", "reload: inputs changed; they take effect on restart");
    /* Keep what was reloaded so that the next SIGHUP compares against it. */
    free(d->config.bpf);
    d->config.bpf = fresh.bpf ? strdup(fresh.bpf) : NULL;
    d->config.engine = d->engine->config;
    config_free(&fresh);
    log_info("tapboxd", "configuration reloaded from %s", d->config.config_file);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon_state *d = h->data;
    if (signum == SIGHUP)
        reload_config(d);
    else
        daemon_stop(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        log_error("tapboxd", "-U %s: no such user", user);
        return -1;
    }
    if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        log_error("tapboxd", "-U %s: cannot drop privileges: %s", user, strerror(errno));
        return -1;
    }
    log_info("tapboxd", "running as %s; interfaces that appear later need root to open", user);
    return 0;
}

static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    pid = fork(); /* never reacquire a controlling terminal */
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        return -1;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    log_use_syslog("tapboxd");
    return 0;
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        log_error("tapboxd", "cannot write pid file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static int start_sources(struct daemon_state *d)
{
    struct tapbox_config *c = &d->config;
    for (int i = 0; i < c->interface_count; i++) {
        if (ntap_spec_is(c->interfaces[i])) {
            struct ntap_options no;
            char err[512];
            ntap_options_init(&no);
            if (c->once || d->ntap || ntap_spec_parse(c->interfaces[i], &no, err, sizeof err) < 0) {
                log_error("ntap", "%s", c->once   ? "--once reads files only; ntap: is a live input"
                                        : d->ntap ? "one ntap: input at most"
                                                  : err);
                return -1;
            }
            no.data_dir = c->web.data_dir;
            no.tun_name = c->ntap_tun;
            no.max_taps = c->ntap_max_taps;
            d->ntap = ntap_collector_open(d->loop, d->engine, &no, err, sizeof err);
            if (!d->ntap) {
                log_error("ntap", "%s", err);
                return -1;
            }
            continue;
        }
        if (port_spec_is(c->interfaces[i])) {
            struct port_pair_options po = {.bpf = c->bpf, .bridge = c->bridge_name,
                                           .queue_frames = c->port_queue, .bypass = d->bypass};
            char err[512];
            port_spec_parse(c->interfaces[i], &po.mode, po.ifname[0], po.ifname[1], err, sizeof err);
            if (c->port_names) {
                const char *comma = strchr(c->port_names, ',');
                snprintf(po.name[0], sizeof po.name[0], "%.*s", (int)(comma - c->port_names),
                         c->port_names);
                snprintf(po.name[1], sizeof po.name[1], "%s", comma + 1);
            }
            d->ports = port_pair_open(d->loop, d->engine, &po, err, sizeof err);
            if (!d->ports) {
                log_error("ports", "%s", err);
                return -1;
            }
            query_flow_sides(d->ports, &d->sides);
            continue;
        }
        struct source_options opts = {
            .spec = c->interfaces[i],
            .bpf = c->bpf,
            .replay = c->replay == REPLAY_REALTIME ? SOURCE_REPLAY_REALTIME : SOURCE_REPLAY_MAX,
            .loop = c->loop,
            .hold_back = export_is_behind,
        };
        char err[512];
        struct capture_source *s = source_open(d->loop, d->engine, &opts, on_source_done, d, err,
                                               sizeof err);
        if (!s) {
            log_error("capture", "%s", err);
            return -1;
        }
        if (source_drives_clock(s))
            d->clock_from_packets = true;
        d->sources[d->source_count++] = s;
        d->sources_running++;
    }
    return 0;
}

/* The board's relay and watchdog: before the ports open, so the link stays in bypass until they
 * forward. Never in --once (a file run must not touch the hardware). */
static int start_box(struct daemon_state *d)
{
    const char *path = d->config.board;
    if (!path && access(DEFAULT_BOARD_FILE, R_OK) == 0)
        path = DEFAULT_BOARD_FILE;
    if (!path || d->config.once)
        return 0;
    struct board_config board;
    char err[512];
    if (board_load(path, &board, err, sizeof err) < 0) {
        log_error("box", "%s", err);
        return -1;
    }
    enum bypass_mode mode = BYPASS_AUTO;
    if (d->config.bypass)
        bypass_mode_parse(d->config.bypass, &mode);
    d->bypass = bypass_create(d->loop, &board, mode, d->config.watchdog_stall_ms, &d->schedule,
                              err, sizeof err);
    if (!d->bypass) {
        log_error("box", "%s: %s", path, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct daemon_state d;
    char err[1024];
    config_init(&d.config);
    if (config_parse_args(&d.config, argc, argv, err, sizeof err) < 0 ||
        config_validate(&d.config, err, sizeof err) < 0) {
        fprintf(stderr, "tapboxd: %s\n", err);
        config_free(&d.config);
        return CONFIG_EXIT_USAGE;
    }
    if (config_resolve_paths(&d.config.web) < 0) {
        fprintf(stderr, "tapboxd: out of memory\n");
        config_free(&d.config);
        return 1;
    }
    if (d.config.show_help) {
        config_print_help(argv[0]);
        config_free(&d.config);
        return 0;
    }
    if (d.config.show_version) {
        printf("tapboxd %s (%s, libuv %s)\n", TAPBOX_VERSION, pcap_lib_version(), uv_version_string());
        config_free(&d.config);
        return 0;
    }
    log_set_level(d.config.verbosity > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    signal(SIGPIPE, SIG_IGN);

    if (d.config.daemonize && daemonize() < 0) {
        fprintf(stderr, "tapboxd: cannot daemonize: %s\n", strerror(errno));
        return 1;
    }
    d.loop = uv_default_loop();
    d.sides.source = -1;
    d.engine = engine_create(&d.config.engine, err, sizeof err);
    if (!d.engine) {
        log_error("tapboxd", "cannot start the flow engine: %s", err);
        return 1;
    }
    engine_set_flow_end(d.engine, on_flow_end, &d);
    if (!d.config.once)
        engine_set_host_end(d.engine, on_host_end, &d);
    if (d.config.flows_out) {
        d.flows_out = ndjson_writer_open(d.loop, d.config.flows_out, err, sizeof err);
        if (!d.flows_out) {
            log_error("tapboxd", "--flows-out: %s", err);
            engine_destroy(d.engine);
            return 1;
        }
    }
    if (d.config.history) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", d.config.web.data_dir, STORE_FILE_NAME);
        if (mkdir(d.config.web.data_dir, 0700) < 0 && errno != EEXIST)
            log_warn("store", "cannot make %s: %s", d.config.web.data_dir, strerror(errno));
        /* A file replay (--once) is not the box: its flows and series are stored, but hosts
         * and counters are neither saved nor restored (like DATA_DIR/policies.conf). */
        d.history = store_open(d.loop, &(struct store_options){
                                           .path = path,
                                           .max_bytes = (uint64_t)d.config.history_max_mb << 20,
                                           .restored = d.config.once ? NULL : on_history_restored,
                                           .restored_ctx = &d,
                                           .restore_hosts = d.config.engine.max_hosts / 2,
                                           .keep = d.config.history_keep});
        if (!d.history) {
            log_error("tapboxd", "-F: out of memory");
            engine_destroy(d.engine);
            return 1;
        }
        store_sample_minute(d.history, d.engine, NULL, 0, (uint64_t)time(NULL)); /* the baseline */
    }
    /* The rules added over the API live in DATA_DIR/policies.conf, after the config's (not in
     * --once runs: a file replay is not the box). */
    const char *data_dir = d.config.once ? NULL : d.config.web.data_dir;
    int prc = policies_start(&d.policies, d.loop, d.engine, &d.config, data_dir, on_policies_installed,
                             &d, err, sizeof err);
    if (prc < 0) {
        log_error("tapboxd", "%s", err);
        engine_destroy(d.engine);
        return CONFIG_EXIT_USAGE;
    }
    schedule_init(&d.schedule, d.loop);
    schedule_jobs(&d);
    uv_signal_init(d.loop, &d.sig_int);
    uv_signal_init(d.loop, &d.sig_term);
    uv_signal_init(d.loop, &d.sig_hup);
    d.sig_int.data = d.sig_term.data = d.sig_hup.data = &d;
    /* Before the relay and the ports: a signal during start-up waits for the loop (and a clean
     * stop) instead of killing us with the relay released and the watchdog armed. */
    uv_signal_start(&d.sig_int, on_signal, SIGINT);
    uv_signal_start(&d.sig_term, on_signal, SIGTERM);
    uv_signal_start(&d.sig_hup, on_signal, SIGHUP);

    if (start_box(&d) < 0 || start_sources(&d) < 0) {
        daemon_stop(&d, "an input cannot be opened");
        uv_run(d.loop, UV_RUN_DEFAULT);
        d.exit_code = 1;
        goto out;
    }
    /* The web server starts before privileges drop (it may bind a low port). With --once it
     * only starts when a port is given explicitly. */
    d.config.web.loop_stalls = &schedule_stalls(&d.schedule)->count;
    err[0] = '\0';
    if (!d.config.once || d.config.web.http_set || d.config.web.https_set)
        d.web = web_server_start(d.loop, d.engine, &d.config.web, err, sizeof err);
    if (!d.web && err[0]) {
        log_error("web", "%s", err);
        daemon_stop(&d, "the web server cannot start");
        uv_run(d.loop, UV_RUN_DEFAULT);
        d.exit_code = 1;
        goto out;
    }
    if (d.config.pid_file) /* before dropping root: /run is root's */
        write_pid_file(d.config.pid_file);
    if (d.config.user && drop_privileges(d.config.user) < 0) {
        daemon_stop(&d, "privileges");
        uv_run(d.loop, UV_RUN_DEFAULT);
        d.exit_code = 1;
        goto out;
    }
    web_server_set_box(d.web, d.ports, d.bypass, d.policies.set);
    web_server_set_ntap(d.web, d.ntap);
    web_server_set_history(d.web, d.history);
    if (d.policies.path)
        web_server_set_policy_admin(d.web, &d.policies.admin);
    schedule_start(&d.schedule);
    log_info("tapboxd", "started: %d input(s), max %zu flows, %zu hosts",
             d.source_count + (d.ports != NULL) + (d.ntap != NULL),
             d.config.engine.max_flows, d.config.engine.max_hosts);

    uv_run(d.loop, UV_RUN_DEFAULT);

out:
    if (d.config.stats_out && write_stats_file(&d) < 0 && d.exit_code == 0)
        d.exit_code = 1;
    for (unsigned i = 0; i < engine_source_count(d.engine); i++)
        if (!strcmp(engine_source(d.engine, i)->kind, "file") &&
            engine_source(d.engine, i)->state == SOURCE_FAILED && d.exit_code == 0)
            d.exit_code = 3; /* a corrupt or truncated file: processed, but reported */
    web_server_free(d.web); /* after uv_run: h2o's context runs the loop to release its handles */
    policies_fini(&d.policies);
    engine_destroy(d.engine);
    if (d.config.pid_file)
        unlink(d.config.pid_file);
    uv_loop_close(d.loop);
    config_free(&d.config);
    return d.exit_code;
}
