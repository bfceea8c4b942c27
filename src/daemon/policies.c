#include "daemon/policies.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/log.h"
#include "policy/policy.h"

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
static void install_policy(struct policies *ps, struct policy_set *policy)
{
    if (policy && ps->set)
        policy_set_carry_counters(policy, ps->set);
    engine_set_policy(ps->engine, policy);
    if (ps->set)
        policy_set_destroy(ps->set);
    ps->set = policy;
    if (ps->installed)
        ps->installed(ps->ctx);
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
    struct policies *p;
    char *text, *path, *dir;
    int rc;
    char err[300];
    struct rule_list old; /* the UI rules before the change, restored if the write fails */
    policy_admin_done done;
    void *call;
};

/* Thread pool: the whole file to PATH.tmp, fsync, rename over PATH. Touches only the job. */
static void policies_save_work(uv_work_t *w)
{
    struct policies_save *s = w->data;
    s->rc = atomic_file_write(s->dir, 0755, s->path, 0644, s->text, strlen(s->text), s->err,
                              sizeof s->err);
}

/* The UI rules back to old (moved in), and the rule set rebuilt from them. */
static void revert_ui_rules(struct policies *ps, struct rule_list *old)
{
    rule_list_free(&ps->ui);
    ps->ui = *old;
    memset(old, 0, sizeof *old);
    struct policy_set *policy = NULL;
    char err[512];
    if (build_policy(ps->engine, ps->config, &ps->ui, NULL, &policy, err, sizeof err) < 0)
        log_error("tapboxd", "policies: cannot restore the previous rules: %s", err);
    else
        install_policy(ps, policy);
}

static void policies_save_after(uv_work_t *w, int status)
{
    struct policies_save *s = w->data;
    struct policies *ps = s->p;
    ps->saving = false;
    char why[400] = "";
    if (status != 0 || s->rc != 0) {
        snprintf(why, sizeof why, "the change was not saved (%s) and is undone",
                 s->err[0] ? s->err : "cancelled");
        log_error("tapboxd", "policies: %s", why);
        revert_ui_rules(ps, &s->old);
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

/* The file for the UI rules now in ps->ui; old is what to go back to if it fails (moved
 * in). done follows in every case (at once when the job cannot even start). */
static void save_ui_rules(struct policies *ps, struct rule_list *old, policy_admin_done done,
                          void *call)
{
    static const char header[] =
        "# Inline policies added in the web UI or with POST /api/v1/policies.\n"
        "# Written by tapboxd: read at start and on SIGHUP after the config file's rules;\n"
        "# rewritten whenever a rule is added or deleted over the API.\n";
    struct policies_save *s = calloc(1, sizeof *s);
    if (!s) {
        revert_ui_rules(ps, old);
        rule_list_free(old);
        done(call, 500, "out of memory");
        return;
    }
    size_t len = sizeof header + 1;
    for (int i = 0; i < ps->ui.count; i++)
        len += strlen(ps->ui.text[i]) + 12;
    s->text = malloc(len);
    if (s->text) {
        size_t off = (size_t)snprintf(s->text, len, "%s", header);
        for (int i = 0; i < ps->ui.count; i++)
            off += (size_t)snprintf(s->text + off, len - off, "--policy=%s\n", ps->ui.text[i]);
    }
    s->path = strdup(ps->path);
    s->dir = strdup(ps->dir);
    s->p = ps;
    s->old = *old;
    memset(old, 0, sizeof *old);
    s->done = done;
    s->call = call;
    s->work.data = s;
    ps->saving = true;
    if (!s->text || !s->path || !s->dir) {
        snprintf(s->err, sizeof s->err, "out of memory");
        policies_save_after(&s->work, -1);
        return;
    }
    if (uv_queue_work(ps->loop, &s->work, policies_save_work, policies_save_after) != 0) {
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

static int admin_busy(struct policies *ps, char *err, size_t errsize)
{
    if (ps->stopping) {
        snprintf(err, errsize, "tapboxd is stopping");
        return 503;
    }
    if (ps->saving) {
        snprintf(err, errsize, "another policy change is being saved; retry in a moment");
        return 503;
    }
    return 0;
}

static int admin_add(void *ctx, const char *rule, const char *who, policy_admin_done done,
                     void *call, char *err, size_t errsize)
{
    struct policies *ps = ctx;
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
    int i = name[0] ? find_rule(ps->set, name) : -1;
    int rc = 0;
    if (!norm[0]) {
        snprintf(err, errsize, "empty rule (NAME drop|pass MATCH...)");
        rc = 400;
    } else if (i >= 0) {
        snprintf(err, errsize, "a rule named '%s' exists (%s)", name,
                 policy_rule_stats(ps->set, (size_t)i)->ui ? "added in the UI"
                                                             : "in the config file");
        rc = 409;
    } else if (policy_rule_count(ps->set) >= POLICY_MAX_RULES) {
        snprintf(err, errsize, "at most %d rules", POLICY_MAX_RULES);
        rc = 409;
    } else {
        rc = admin_busy(ps, err, errsize);
    }
    struct rule_list ui;
    if (!rc && rule_list_copy(&ui, &ps->ui) < 0) {
        snprintf(err, errsize, "out of memory");
        rc = 500;
    }
    struct policy_set *policy = NULL;
    if (!rc) {
        int b = build_policy(ps->engine, ps->config, &ui, norm, &policy, err, errsize);
        if (b == 0 && rule_list_push(&ui, norm, ps->path) < 0) {
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
    struct rule_list old = ps->ui;
    ps->ui = ui;
    install_policy(ps, policy);
    save_ui_rules(ps, &old, done, call);
    return 0;
}

static int admin_remove(void *ctx, const char *name, const char *who, policy_admin_done done,
                        void *call, char *err, size_t errsize)
{
    struct policies *ps = ctx;
    int at = -1;
    for (int i = 0; i < ps->ui.count && at < 0; i++) {
        char n[64];
        rule_name(ps->ui.text[i], n, sizeof n);
        if (strcmp(n, name) == 0)
            at = i;
    }
    if (at < 0) {
        bool config = find_rule(ps->set, name) >= 0;
        snprintf(err, errsize,
                 config ? "rule '%.40s' is defined in the config file: edit it there"
                        : "no rule '%.40s'",
                 name);
        return config ? 409 : 404;
    }
    int rc = admin_busy(ps, err, errsize);
    if (rc)
        return rc;
    struct rule_list ui;
    struct policy_set *policy = NULL;
    if (rule_list_copy(&ui, &ps->ui) < 0) {
        snprintf(err, errsize, "out of memory");
        return 500;
    }
    rule_list_remove(&ui, at);
    if (build_policy(ps->engine, ps->config, &ui, NULL, &policy, err, errsize) < 0) {
        rule_list_free(&ui);
        return 500;
    }
    log_info("tapboxd", "policy %s deleted by %s", name, who);
    struct rule_list old = ps->ui;
    ps->ui = ui;
    install_policy(ps, policy);
    save_ui_rules(ps, &old, done, call);
    return 0;
}

/* ---- start, reload, stop ---- */

int policies_start(struct policies *ps, uv_loop_t *loop, struct engine *e,
                   struct tapbox_config *c, const char *data_dir, void (*installed)(void *ctx),
                   void *ctx, char *err, size_t errsize)
{
    memset(ps, 0, sizeof *ps);
    ps->loop = loop;
    ps->engine = e;
    ps->config = c;
    if (data_dir) {
        ps->dir = strdup(data_dir);
        size_t len = ps->dir ? strlen(ps->dir) + sizeof "/policies.conf" : 0;
        ps->path = len ? malloc(len) : NULL;
        if (ps->path) {
            snprintf(ps->path, len, "%s/policies.conf", ps->dir);
            load_ui_rules(ps->path, &ps->ui);
        }
    }
    if (build_policy(e, c, &ps->ui, NULL, &ps->set, err, errsize) < 0) {
        policies_fini(ps);
        return -1;
    }
    if (ps->ui.count)
        log_info("tapboxd", "%d polic%s added in the UI, from %s", ps->ui.count,
                 ps->ui.count == 1 ? "y" : "ies", ps->path);
    engine_set_policy(e, ps->set);
    ps->installed = installed;
    ps->ctx = ctx;
    ps->admin = (struct policy_admin){.ctx = ps, .add = admin_add, .remove = admin_remove};
    return 0;
}

int policies_reload(struct policies *ps, struct tapbox_config *fresh, char *err, size_t errsize)
{
    /* The UI rules come from their file again, after the config's; while a change of them is
     * being written the file is behind: the rules in memory are the truth. */
    struct rule_list ui = {0};
    if (ps->path) {
        if (ps->saving)
            rule_list_copy(&ui, &ps->ui);
        else
            load_ui_rules(ps->path, &ui);
    }
    struct policy_set *policy = NULL;
    if (build_policy(ps->engine, fresh, &ui, NULL, &policy, err, errsize) < 0) {
        rule_list_free(&ui);
        return -1;
    }
    install_policy(ps, policy);
    rule_list_free(&ps->ui);
    ps->ui = ui;
    if (policy)
        log_info("tapboxd", "reload: %zu polic%s (%d added in the UI)", policy_rule_count(policy),
                 policy_rule_count(policy) == 1 ? "y" : "ies", ps->ui.count);
    /* The config's rules as reloaded: what a change made over the API is built on. */
    struct tapbox_config *c = ps->config;
    for (int i = 0; i < c->policy_count; i++) {
        free(c->policies[i]);
        free(c->policy_where[i]);
    }
    memcpy(c->policies, fresh->policies, sizeof fresh->policies);
    memcpy(c->policy_where, fresh->policy_where, sizeof fresh->policy_where);
    c->policy_count = fresh->policy_count;
    fresh->policy_count = 0;
    free(c->policy_undetected);
    c->policy_undetected = fresh->policy_undetected;
    fresh->policy_undetected = NULL;
    return 0;
}

void policies_stop(struct policies *ps) { ps->stopping = true; }

bool policies_restore_counters(struct policies *ps, const struct policy_rule_stats *saved)
{
    return ps->set && policy_set_restore_counters(ps->set, saved);
}

size_t policies_counters(const struct policies *ps, struct policy_rule_stats *out, size_t cap)
{
    size_t n = 0;
    if (!ps->set)
        return 0;
    for (size_t i = 0; i < policy_rule_count(ps->set) && n < cap; i++)
        out[n++] = *policy_rule_stats(ps->set, i);
    bool undetected_drop;
    if (n < cap)
        policy_default_stats(ps->set, &out[n++], &undetected_drop);
    return n;
}

void policies_fini(struct policies *ps)
{
    if (ps->set)
        policy_set_destroy(ps->set);
    ps->set = NULL;
    rule_list_free(&ps->ui);
    free(ps->path);
    free(ps->dir);
    ps->path = ps->dir = NULL;
}
