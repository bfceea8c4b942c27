/*
 * tapboxd: one process, one libuv loop. Capture sources feed the flow engine; timers drive the
 * per-second work; signals stop (flushing every flow) or reload. Everything below runs on the
 * loop thread except the flow export's writes, which libuv's thread pool performs on buffers
 * handed over whole (see ndjson_writer.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#include "../box/board.h"
#include "../box/bypass.h"
#include "../capture/port_pair.h"
#include "../capture/source.h"
#include "../policy/policy.h"
#include "../core/log.h"
#include "../export/ndjson_writer.h"
#include "../ntap/ntap_collector.h"
#include "../query/query_json.h"
#include "../web/web.h"
#include "config.h"

#ifndef TAPBOX_VERSION
#define TAPBOX_VERSION "0.1.0"
#endif

#define TICK_MS 1000
#define STALL_MS 1500 /* a 1 s tick arriving this late means the loop was blocked */
#define EXPORT_BACKLOG_LIMIT (4u << 20) /* bytes of flow lines queued before producers wait */
#define DRAIN_FLOWS_PER_STEP 2048
#define DEFAULT_BOARD_FILE "/run/tapbox/board.conf" /* written by the image's rcS */

/* Rule texts with where each came from ("file:line"), for the log. */
struct rule_list {
    char **text;
    char **where;
    int count;
};

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
    uv_timer_t tick;
    uint64_t last_tick_ms;
    uint64_t loop_stalls;
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_idle_t drain; /* at exit: ends the flows step by step as the export keeps up */
    bool stopping;
    struct port_pair *ports;       /* -i inline:A,B, bridge:A,B or tap:A,B (one at most) */
    struct bypass *bypass;         /* relay and watchdog of the board (NULL: no board) */
    struct policy_set *policy;     /* inline rules (NULL: none) */
    struct rule_list ui_rules;     /* the rules added over the REST API, after the config's */
    char *policies_path;           /* DATA_DIR/policies.conf; NULL: no UI rules (--once) */
    char *policies_dir;            /* DATA_DIR */
    bool policies_saving;          /* a write of it is in the thread pool */
    struct policy_admin policy_admin; /* what the web layer calls to change the rules */
    struct ntap_collector *ntap;   /* -i ntap:PORT[:PASSPHRASE] (one at most) */
    cJSON *ntap_stats;             /* its counters, kept at stop for --stats-out */
    int exit_code;
};

static uint64_t wall_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static void on_flow_end(void *ctx, const struct engine *e, const struct flow *f)
{
    struct daemon_state *d = ctx;
    if (!d->flows_out)
        return;
    cJSON *json = query_flow_json(e, f);
    char *text = cJSON_PrintUnformatted(json);
    if (text)
        ndjson_writer_append(d->flows_out, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(json);
}

static int write_stats_file(struct daemon_state *d)
{
    cJSON *status = query_status_json(d->engine);
    cJSON_AddNumberToObject(status, "loop_stalls", (double)d->loop_stalls);
    if (d->config.flows_out)
        cJSON_AddNumberToObject(status, "flows_out_dropped",
                                (double)(d->flows_out ? ndjson_writer_dropped(d->flows_out)
                                                      : d->flows_out_dropped));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cJSON_AddNumberToObject(status, "peak_rss_kib", (double)ru.ru_maxrss);
    cJSON_AddItemToObject(status, "l7", query_l7_json(d->engine));
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

static bool export_is_behind(void *ctx)
{
    struct daemon_state *d = ctx;
    return d->flows_out && ndjson_writer_backlog(d->flows_out) > EXPORT_BACKLOG_LIMIT;
}

static void drain_step(uv_idle_t *h)
{
    struct daemon_state *d = h->data;
    if (export_is_behind(d))
        return; /* the pool is writing; the loop polls its completions meanwhile */
    if (engine_expire_some(d->engine, DRAIN_FLOWS_PER_STEP) > 0)
        return;
    uv_close((uv_handle_t *)h, NULL);
    if (d->flows_out) {
        ndjson_writer_close(d->flows_out, &d->flows_out_dropped);
        d->flows_out = NULL;
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
    web_server_set_box(NULL, NULL, d->policy); /* the views must not see what closes below */
    web_server_set_policy_admin(NULL);
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
        web_server_set_ntap(NULL);
        ntap_collector_close(d->ntap);
        d->ntap = NULL;
    }
    uv_close((uv_handle_t *)&d->tick, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    web_server_stop();
    /* Every flow ends now and goes to the export, in steps the writer can follow. */
    uv_idle_init(d->loop, &d->drain);
    d->drain.data = d;
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

static void on_tick(uv_timer_t *t)
{
    struct daemon_state *d = t->data;
    uint64_t now_ms = uv_now(d->loop);
    if (d->last_tick_ms && now_ms - d->last_tick_ms > STALL_MS) {
        d->loop_stalls++;
        log_warn("tapboxd", "loop stalled: tick %llu ms late",
                 (unsigned long long)(now_ms - d->last_tick_ms - TICK_MS));
    }
    d->last_tick_ms = now_ms;
    if (!d->clock_from_packets)
        engine_advance(d->engine, wall_clock_us());
    for (int i = 0; i < d->source_count; i++)
        if (d->sources[i])
            source_update_stats(d->sources[i]);
    if (d->flows_out)
        ndjson_writer_flush(d->flows_out);
}

static int l7_id_of(void *ctx, const char *name)
{
    return l7_protocol_id(((struct engine *)ctx)->l7, name);
}

static void rule_list_free(struct rule_list *l)
{
    for (int i = 0; i < l->count; i++) {
        free(l->text[i]);
        free(l->where[i]);
    }
    free(l->text);
    free(l->where);
    memset(l, 0, sizeof *l);
}

static int rule_list_push(struct rule_list *l, const char *text, const char *where)
{
    char **t = realloc(l->text, (size_t)(l->count + 1) * sizeof *t);
    if (t)
        l->text = t;
    char **w = realloc(l->where, (size_t)(l->count + 1) * sizeof *w);
    if (w)
        l->where = w;
    char *tc = strdup(text), *wc = strdup(where);
    if (!t || !w || !tc || !wc) {
        free(tc);
        free(wc);
        return -1;
    }
    l->text[l->count] = tc;
    l->where[l->count++] = wc;
    return 0;
}

static void rule_list_remove(struct rule_list *l, int i)
{
    free(l->text[i]);
    free(l->where[i]);
    memmove(&l->text[i], &l->text[i + 1], (size_t)(l->count - i - 1) * sizeof *l->text);
    memmove(&l->where[i], &l->where[i + 1], (size_t)(l->count - i - 1) * sizeof *l->where);
    l->count--;
}

static int rule_list_copy(struct rule_list *dst, const struct rule_list *src)
{
    memset(dst, 0, sizeof *dst);
    for (int i = 0; i < src->count; i++)
        if (rule_list_push(dst, src->text[i], src->where[i]) < 0) {
            rule_list_free(dst);
            return -1;
        }
    return 0;
}

/* The name of a rule: its first word, in out (empty if none). */
static void rule_name(const char *text, char *out, size_t size)
{
    text += strspn(text, " \t\r\n");
    size_t n = strcspn(text, " \t\r\n");
    snprintf(out, size, "%.*s", (int)n, text);
}

/*
 * The rule set: the config's rules (an error in one is fatal: returns -1, err names its
 * file:line), then the UI rules (one that no longer fits, say a name the config now uses, is
 * logged with its file:line and dropped from *ui), then extra, a rule being added over the API
 * (its error fails the call: returns -2, err is the parse error alone). NULL in *out when there
 * is neither a rule nor an undetected verdict.
 */
static int build_policy(struct engine *e, const struct tapbox_config *c, struct rule_list *ui,
                        const char *extra, struct policy_set **out, char *err, size_t errsize)
{
    *out = NULL;
    if (c->policy_count == 0 && !c->policy_undetected && (!ui || ui->count == 0) && !extra)
        return 0;
    struct policy_set *set = policy_set_create();
    if (!set) {
        snprintf(err, errsize, "out of memory for the policies");
        return -1;
    }
    char why[300];
    for (int i = 0; i < c->policy_count; i++) {
        if (policy_set_add(set, c->policies[i], l7_id_of, e, why, sizeof why) < 0) {
            snprintf(err, errsize, "%s: --policy: %s", c->policy_where[i], why);
            policy_set_destroy(set);
            return -1;
        }
    }
    for (int i = 0; ui && i < ui->count; i++) {
        if (policy_set_add(set, ui->text[i], l7_id_of, e, why, sizeof why) < 0) {
            log_warn("tapboxd", "%s: --policy: %s; rule skipped", ui->where[i], why);
            rule_list_remove(ui, i--);
            continue;
        }
        policy_rule_set_ui(set, policy_rule_count(set) - 1, true);
    }
    if (extra) {
        if (policy_set_add(set, extra, l7_id_of, e, why, sizeof why) < 0) {
            snprintf(err, errsize, "%s", why);
            policy_set_destroy(set);
            return -2;
        }
        policy_rule_set_ui(set, policy_rule_count(set) - 1, true);
    }
    if (c->policy_undetected &&
        policy_set_undetected(set, c->policy_undetected, why, sizeof why) < 0) {
        snprintf(err, errsize, "--policy-undetected: %s", why);
        policy_set_destroy(set);
        return -1;
    }
    if (policy_rule_count(set) == 0 && !c->policy_undetected) { /* every UI rule dropped */
        policy_set_destroy(set);
        set = NULL;
    }
    *out = set;
    return 0;
}

/* A new rule set in force: the counters of the rules kept carry over. */
static void install_policy(struct daemon_state *d, struct policy_set *policy)
{
    if (policy && d->policy)
        policy_set_carry_counters(policy, d->policy);
    engine_set_policy(d->engine, policy);
    if (d->policy)
        policy_set_destroy(d->policy);
    d->policy = policy;
    web_server_set_box(d->ports, d->bypass, d->policy);
}

/*
 * DATA_DIR/policies.conf: one --policy=RULE line per rule added over the API, '#' comments and
 * blank lines. Read at start and on SIGHUP, on the loop like the config file (it is small). A
 * line that is not --policy= is logged with file:line and skipped; a missing file is no rule.
 */
static void load_ui_rules(const char *path, struct rule_list *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT)
            log_warn("tapboxd", "cannot read %s: %s; no UI policies", path, strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line + strspn(line, " \t");
        size_t n = strlen(p);
        while (n && strchr(" \t\r\n", p[n - 1]))
            p[--n] = '\0';
        if (!n || p[0] == '#')
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (strncmp(p, "--policy=", 9) != 0) {
            log_warn("tapboxd", "%s: not a --policy=RULE line; skipped", where);
            continue;
        }
        p += 9;
        n -= 9;
        if (n >= 2 && (p[0] == '\'' || p[0] == '"') && p[n - 1] == p[0]) {
            p[n - 1] = '\0';
            p++;
        }
        if (rule_list_push(out, p, where) < 0) {
            log_error("tapboxd", "%s: out of memory; rule skipped", where);
            break;
        }
    }
    free(line);
    fclose(f);
}

/* ---- the policies added over the REST API (web.h: struct policy_admin) ---- */

struct policies_save {
    uv_work_t work;
    struct daemon_state *d;
    char *text, *path, *dir;
    int rc;
    char err[300];
    struct rule_list old; /* the UI rules before the change, restored if the write fails */
    policy_admin_done done;
    void *call;
};

static int mkdir_p(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Thread pool: the whole file to PATH.tmp, fsync, rename over PATH. Touches only the job. */
static void policies_save_work(uv_work_t *w)
{
    struct policies_save *s = w->data;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    s->rc = -1;
    if (mkdir_p(s->dir) < 0) {
        snprintf(s->err, sizeof s->err, "cannot create %s: %s", s->dir, strerror(errno));
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(s->err, sizeof s->err, "cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    size_t len = strlen(s->text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s->text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    bool ok = off == len && fsync(fd) == 0;
    if (close(fd) < 0)
        ok = false;
    if (!ok || rename(tmp, s->path) < 0) {
        snprintf(s->err, sizeof s->err, "cannot write %s: %s", s->path, strerror(errno));
        unlink(tmp);
        return;
    }
    s->rc = 0;
}

/* The UI rules back to old (moved in), and the rule set rebuilt from them. */
static void revert_ui_rules(struct daemon_state *d, struct rule_list *old)
{
    rule_list_free(&d->ui_rules);
    d->ui_rules = *old;
    memset(old, 0, sizeof *old);
    struct policy_set *policy = NULL;
    char err[512];
    if (build_policy(d->engine, &d->config, &d->ui_rules, NULL, &policy, err, sizeof err) < 0)
        log_error("tapboxd", "policies: cannot restore the previous rules: %s", err);
    else
        install_policy(d, policy);
}

static void policies_save_after(uv_work_t *w, int status)
{
    struct policies_save *s = w->data;
    struct daemon_state *d = s->d;
    d->policies_saving = false;
    char why[400] = "";
    if (status != 0 || s->rc != 0) {
        snprintf(why, sizeof why, "the change was not saved (%s) and is undone",
                 s->err[0] ? s->err : "cancelled");
        log_error("tapboxd", "policies: %s", why);
        revert_ui_rules(d, &s->old);
    }
    rule_list_free(&s->old);
    free(s->text);
    free(s->path);
    free(s->dir);
    policy_admin_done done = s->done;
    void *call = s->call;
    free(s);
    done(call, why[0] ? 500 : 0, why);
}

/* The file for the UI rules now in d->ui_rules; old is what to go back to if it fails (moved
 * in). done follows in every case (at once when the job cannot even start). */
static void save_ui_rules(struct daemon_state *d, struct rule_list *old, policy_admin_done done,
                          void *call)
{
    static const char header[] =
        "# Inline policies added in the web UI or with POST /api/v1/policies.\n"
        "# Written by tapboxd: read at start and on SIGHUP after the config file's rules;\n"
        "# rewritten whenever a rule is added or deleted over the API.\n";
    struct policies_save *s = calloc(1, sizeof *s);
    if (!s) {
        revert_ui_rules(d, old);
        rule_list_free(old);
        done(call, 500, "out of memory");
        return;
    }
    size_t len = sizeof header + 1;
    for (int i = 0; i < d->ui_rules.count; i++)
        len += strlen(d->ui_rules.text[i]) + 12;
    s->text = malloc(len);
    if (s->text) {
        size_t off = (size_t)snprintf(s->text, len, "%s", header);
        for (int i = 0; i < d->ui_rules.count; i++)
            off += (size_t)snprintf(s->text + off, len - off, "--policy=%s\n", d->ui_rules.text[i]);
    }
    s->path = strdup(d->policies_path);
    s->dir = strdup(d->policies_dir);
    s->d = d;
    s->old = *old;
    memset(old, 0, sizeof *old);
    s->done = done;
    s->call = call;
    s->work.data = s;
    d->policies_saving = true;
    if (!s->text || !s->path || !s->dir) {
        snprintf(s->err, sizeof s->err, "out of memory");
        policies_save_after(&s->work, -1);
        return;
    }
    if (uv_queue_work(d->loop, &s->work, policies_save_work, policies_save_after) != 0) {
        snprintf(s->err, sizeof s->err, "cannot queue the write");
        policies_save_after(&s->work, -1);
    }
}

static int find_rule(const struct policy_set *p, const char *name)
{
    for (size_t i = 0; i < policy_rule_count(p); i++)
        if (strcmp(policy_rule_stats(p, i)->name, name) == 0)
            return (int)i;
    return -1;
}

static int admin_busy(struct daemon_state *d, char *err, size_t errsize)
{
    if (d->stopping) {
        snprintf(err, errsize, "tapboxd is stopping");
        return 503;
    }
    if (d->policies_saving) {
        snprintf(err, errsize, "another policy change is being saved; retry in a moment");
        return 503;
    }
    return 0;
}

static int admin_add(void *ctx, const char *rule, const char *who, policy_admin_done done,
                     void *call, char *err, size_t errsize)
{
    struct daemon_state *d = ctx;
    /* One line of the file: the words joined by single spaces. */
    char *norm = malloc(strlen(rule) + 1);
    if (!norm) {
        snprintf(err, errsize, "out of memory");
        return 500;
    }
    norm[0] = '\0';
    for (const char *p = rule + strspn(rule, " \t\r\n"); *p; p += strspn(p, " \t\r\n")) {
        size_t n = strcspn(p, " \t\r\n");
        strncat(norm, p, n);
        p += n;
        if (p[strspn(p, " \t\r\n")])
            strcat(norm, " ");
    }
    char name[64];
    rule_name(norm, name, sizeof name);
    int i = name[0] ? find_rule(d->policy, name) : -1;
    int rc = 0;
    if (!norm[0]) {
        snprintf(err, errsize, "empty rule (NAME drop|pass MATCH...)");
        rc = 400;
    } else if (i >= 0) {
        snprintf(err, errsize, "a rule named '%s' exists (%s)", name,
                 policy_rule_stats(d->policy, (size_t)i)->ui ? "added in the UI"
                                                             : "in the config file");
        rc = 409;
    } else if (policy_rule_count(d->policy) >= POLICY_MAX_RULES) {
        snprintf(err, errsize, "at most %d rules", POLICY_MAX_RULES);
        rc = 409;
    } else {
        rc = admin_busy(d, err, errsize);
    }
    struct rule_list ui;
    if (!rc && rule_list_copy(&ui, &d->ui_rules) < 0) {
        snprintf(err, errsize, "out of memory");
        rc = 500;
    }
    struct policy_set *policy = NULL;
    if (!rc) {
        int b = build_policy(d->engine, &d->config, &ui, norm, &policy, err, errsize);
        if (b == 0 && rule_list_push(&ui, norm, d->policies_path) < 0) {
            policy_set_destroy(policy);
            snprintf(err, errsize, "out of memory");
            b = -1;
        }
        if (b < 0) {
            rule_list_free(&ui);
            rc = b == -2 ? 400 : 500;
        }
    }
    if (rc) {
        free(norm);
        return rc;
    }
    log_info("tapboxd", "policy %s added by %s: %s", name, who, norm);
    free(norm);
    struct rule_list old = d->ui_rules;
    d->ui_rules = ui;
    install_policy(d, policy);
    save_ui_rules(d, &old, done, call);
    return 0;
}

static int admin_remove(void *ctx, const char *name, const char *who, policy_admin_done done,
                        void *call, char *err, size_t errsize)
{
    struct daemon_state *d = ctx;
    int at = -1;
    for (int i = 0; i < d->ui_rules.count && at < 0; i++) {
        char n[64];
        rule_name(d->ui_rules.text[i], n, sizeof n);
        if (strcmp(n, name) == 0)
            at = i;
    }
    if (at < 0) {
        bool config = find_rule(d->policy, name) >= 0;
        snprintf(err, errsize,
                 config ? "rule '%.40s' is defined in the config file: edit it there"
                        : "no rule '%.40s'",
                 name);
        return config ? 409 : 404;
    }
    int rc = admin_busy(d, err, errsize);
    if (rc)
        return rc;
    struct rule_list ui;
    struct policy_set *policy = NULL;
    if (rule_list_copy(&ui, &d->ui_rules) < 0) {
        snprintf(err, errsize, "out of memory");
        return 500;
    }
    rule_list_remove(&ui, at);
    if (build_policy(d->engine, &d->config, &ui, NULL, &policy, err, errsize) < 0) {
        rule_list_free(&ui);
        return 500;
    }
    log_info("tapboxd", "policy %s deleted by %s", name, who);
    struct rule_list old = d->ui_rules;
    d->ui_rules = ui;
    install_policy(d, policy);
    save_ui_rules(d, &old, done, call);
    return 0;
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
    /* The UI rules come from their file again, after the config's; while a change of them is
     * being written the file is behind: the rules in memory are the truth. */
    struct rule_list ui = {0};
    if (d->policies_path) {
        if (d->policies_saving)
            rule_list_copy(&ui, &d->ui_rules);
        else
            load_ui_rules(d->policies_path, &ui);
    }
    struct policy_set *policy = NULL;
    if (build_policy(d->engine, &fresh, &ui, NULL, &policy, err, sizeof err) < 0) {
        log_error("tapboxd", "reload refused, keeping the running config: %s", err);
        rule_list_free(&ui);
        config_free(&fresh);
        return;
    }
    engine_reconfigure(d->engine, &fresh.engine);
    install_policy(d, policy);
    rule_list_free(&d->ui_rules);
    d->ui_rules = ui;
    if (policy)
        log_info("tapboxd", "reload: %zu polic%s (%d added in the UI)", policy_rule_count(policy),
                 policy_rule_count(policy) == 1 ? "y" : "ies", d->ui_rules.count);
    /* The config's rules as reloaded: what a change made over the API is built on. */
    for (int i = 0; i < d->config.policy_count; i++) {
        free(d->config.policies[i]);
        free(d->config.policy_where[i]);
    }
    memcpy(d->config.policies, fresh.policies, sizeof fresh.policies);
    memcpy(d->config.policy_where, fresh.policy_where, sizeof fresh.policy_where);
    d->config.policy_count = fresh.policy_count;
    fresh.policy_count = 0;
    free(d->config.policy_undetected);
    d->config.policy_undetected = fresh.policy_undetected;
    fresh.policy_undetected = NULL;
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
            char *data_dir = c->web.data_dir ? strdup(c->web.data_dir) : web_default_data_dir();
            no.data_dir = data_dir;
            no.tun_name = c->ntap_tun;
            no.max_taps = c->ntap_max_taps;
            d->ntap = ntap_collector_open(d->loop, d->engine, &no, err, sizeof err);
            free(data_dir); /* the collector keeps what it needs */
            if (!d->ntap) {
                log_error("ntap", "%s", err);
                return -1;
            }
            web_server_set_ntap(d->ntap);
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
    d->bypass = bypass_create(d->loop, &board, mode, d->config.watchdog_stall_ms, err, sizeof err);
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
    d.engine = engine_create(&d.config.engine, err, sizeof err);
    if (!d.engine) {
        log_error("tapboxd", "cannot start the flow engine: %s", err);
        return 1;
    }
    d.engine->on_flow_end = on_flow_end;
    d.engine->on_flow_end_ctx = &d;
    if (d.config.flows_out) {
        d.flows_out = ndjson_writer_open(d.loop, d.config.flows_out, err, sizeof err);
        if (!d.flows_out) {
            log_error("tapboxd", "--flows-out: %s", err);
            engine_destroy(d.engine);
            return 1;
        }
    }
    /* The rules added over the API live in DATA_DIR/policies.conf, after the config's (not in
     * --once runs: a file replay is not the box). */
    if (!d.config.once) {
        d.policies_dir = d.config.web.data_dir ? strdup(d.config.web.data_dir)
                                               : web_default_data_dir();
        size_t len = d.policies_dir ? strlen(d.policies_dir) + sizeof "/policies.conf" : 0;
        d.policies_path = len ? malloc(len) : NULL;
        if (d.policies_path) {
            snprintf(d.policies_path, len, "%s/policies.conf", d.policies_dir);
            load_ui_rules(d.policies_path, &d.ui_rules);
        }
    }
    if (build_policy(d.engine, &d.config, &d.ui_rules, NULL, &d.policy, err, sizeof err) < 0) {
        log_error("tapboxd", "%s", err);
        rule_list_free(&d.ui_rules);
        free(d.policies_path);
        free(d.policies_dir);
        engine_destroy(d.engine);
        return CONFIG_EXIT_USAGE;
    }
    if (d.ui_rules.count)
        log_info("tapboxd", "%d polic%s added in the UI, from %s", d.ui_rules.count,
                 d.ui_rules.count == 1 ? "y" : "ies", d.policies_path);
    d.policy_admin = (struct policy_admin){.ctx = &d, .add = admin_add, .remove = admin_remove};
    if (d.policies_path)
        web_server_set_policy_admin(&d.policy_admin);
    engine_set_policy(d.engine, d.policy);
    uv_timer_init(d.loop, &d.tick);
    d.tick.data = &d;
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
    d.config.web.loop_stalls = &d.loop_stalls;
    if ((!d.config.once || d.config.web.http_set || d.config.web.https_set) &&
        web_server_start(d.loop, d.engine, &d.config.web, err, sizeof err) < 0) {
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
    web_server_set_box(d.ports, d.bypass, d.policy);
    uv_timer_start(&d.tick, on_tick, TICK_MS, TICK_MS);
    log_info("tapboxd", "started: %d input(s), max %zu flows, %zu hosts",
             d.source_count + (d.ports != NULL) + (d.ntap != NULL),
             d.config.engine.max_flows, d.config.engine.max_hosts);

    uv_run(d.loop, UV_RUN_DEFAULT);

out:
    if (d.config.stats_out && write_stats_file(&d) < 0 && d.exit_code == 0)
        d.exit_code = 1;
    for (unsigned i = 0; i < d.engine->source_count; i++)
        if (!strcmp(d.engine->sources[i].kind, "file") &&
            d.engine->sources[i].state == SOURCE_FAILED && d.exit_code == 0)
            d.exit_code = 3; /* a corrupt or truncated file: processed, but reported */
    web_server_free(); /* after uv_run: h2o's context runs the loop to release its handles */
    if (d.policy)
        policy_set_destroy(d.policy);
    rule_list_free(&d.ui_rules);
    free(d.policies_path);
    free(d.policies_dir);
    engine_destroy(d.engine);
    if (d.config.pid_file)
        unlink(d.config.pid_file);
    uv_loop_close(d.loop);
    config_free(&d.config);
    return d.exit_code;
}
