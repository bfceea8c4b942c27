/*
 * tapboxd's inline rule set: the config's --policy rules, then those an admin added over the
 * REST API (kept in DATA_DIR/policies.conf), built into the engine's policy set. A change over
 * the API is installed at once and the file rewritten in libuv's thread pool (the answer waits
 * for it; a failed write undoes the change). Loop thread only, but for that write job, which
 * touches nothing but its own copy.
 */
#ifndef TAPBOX_POLICIES_H
#define TAPBOX_POLICIES_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "flow/engine.h"
#include "policy/policy.h"
#include "web/web.h"
#include "daemon/config.h"

/* Rule texts with where each came from ("file:line"), for the log. */
struct rule_list {
    char **text;
    char **where;
    int count;
};

struct policies {
    uv_loop_t *loop;
    struct engine *engine;
    struct tapbox_config *config;  /* the daemon's: its rules come first (a reload replaces them) */
    struct policy_set *set;        /* in force in the engine, or NULL */
    struct rule_list ui;           /* the rules added over the API, after the config's */
    char *path;                    /* DATA_DIR/policies.conf; NULL: no API rules (--once) */
    char *dir;                     /* DATA_DIR */
    bool saving;                   /* a write of the file is in the thread pool */
    bool stopping;                 /* changes are refused */
    void (*installed)(void *ctx);  /* after each new set: the daemon points the web layer at it */
    void *ctx;
    struct policy_admin admin;     /* what the web layer calls to change the rules */
};

/* Build and install the set of config c (and, with data_dir, of its policies.conf). -1 with err
 * naming the config rule's file:line when a rule is bad (tapboxd then exits 2). */
int policies_start(struct policies *ps, uv_loop_t *loop, struct engine *e,
                   struct tapbox_config *c, const char *data_dir, void (*installed)(void *ctx),
                   void *ctx, char *err, size_t errsize);
/* SIGHUP: the rules of fresh (moved into the daemon's config when they are installed) and the
 * file again. -1 with err: the running set stays. */
int policies_reload(struct policies *ps, struct tapbox_config *fresh, char *err, size_t errsize);
void policies_stop(struct policies *ps);
/* History across restarts: the counters saved before, added to the rule with the same name and
 * text (false: no such rule now); every rule's counters and the default bucket's, into out. */
bool policies_restore_counters(struct policies *ps, const struct policy_rule_stats *saved);
size_t policies_counters(const struct policies *ps, struct policy_rule_stats *out, size_t cap);
void policies_fini(struct policies *ps);

#endif
