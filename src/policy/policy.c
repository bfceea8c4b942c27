/*
 * Inline policies (see policy.h): rule parsing, the per-flow verdict and per-rule counters.
 * Owned by the policy module; loop thread only.
 *
 * Rules are parsed once into flat arrays so that policy_decide is a few compares per match and
 * never allocates. Host matches reuse src/flow/netlist (same CIDR parsing and address layout as
 * the local networks).
 */
#include "policy/policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netlist.h"

enum match_key { MATCH_PROTO, MATCH_HOST, MATCH_VLAN, MATCH_PORT, MATCH_L4 };

/* A host match is one netlist: its cap must hold a match's values. */
_Static_assert(NETLIST_MAX >= POLICY_MAX_VALUES, "netlist too small for a host= match");

static const char *const key_names[] = {"proto", "host", "vlan", "port", "l4"};

struct policy_match {
    uint8_t key;   /* enum match_key */
    uint8_t count; /* values in v (or in nets, for host) */
    /* proto: nDPI ids in v[i][0]; vlan, l4: v[i][0]; port: the range v[i][0]..v[i][1]. */
    uint16_t v[POLICY_MAX_VALUES][2];
    struct netlist *nets; /* host only */
};

struct policy_rule {
    struct policy_rule_stats st;
    char *text;            /* normalised text in full (st.text may be cut): carry-over compares it */
    bool drop;
    bool needs_l7;         /* has a proto= match */
    uint8_t match_count;
    struct policy_match *m;
};

struct policy_set {
    size_t count, cap;
    struct policy_rule *rules;
    bool undetected_drop;
    struct policy_rule_stats def;
};

static void set_err(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || errsize == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

static void set_default_text(struct policy_set *s)
{
    snprintf(s->def.name, sizeof s->def.name, "default");
    snprintf(s->def.text, sizeof s->def.text, "undetected=%s", s->undetected_drop ? "drop" : "pass");
}

struct policy_set *policy_set_create(void)
{
    struct policy_set *s = calloc(1, sizeof *s);
    if (s)
        set_default_text(s);
    return s;
}

static void rule_free(struct policy_rule *r)
{
    for (size_t i = 0; i < r->match_count; i++)
        free(r->m[i].nets);
    free(r->m);
    free(r->text);
}

void policy_set_destroy(struct policy_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        rule_free(&s->rules[i]);
    free(s->rules);
    free(s);
}

int policy_set_undetected(struct policy_set *s, const char *pass_or_drop, char *err,
                          size_t errsize)
{
    if (pass_or_drop && strcmp(pass_or_drop, "drop") == 0) {
        s->undetected_drop = true;
    } else if (pass_or_drop && strcmp(pass_or_drop, "pass") == 0) {
        s->undetected_drop = false;
    } else {
        set_err(err, errsize, "undetected must be 'pass' or 'drop', not '%s'",
                pass_or_drop ? pass_or_drop : "");
        return -1;
    }
    set_default_text(s);
    return 0;
}

/* ---- parsing ---- */

/* Strict decimal: digits only (no sign, no spaces), value <= max. */
static bool parse_uint(const char *p, size_t len, unsigned long max, unsigned long *out)
{
    if (len == 0 || len > 10)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > POLICY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '.' && n[i] != '-')
            return false;
    return true;
}

static bool l4_by_name(const char *v, unsigned long *out)
{
    static const struct {
        const char *name;
        unsigned long proto;
    } names[] = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmp6", 58}, {"icmpv6", 58}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(v, names[i].name) == 0) {
            *out = names[i].proto;
            return true;
        }
    return parse_uint(v, strlen(v), 255, out);
}

/* One value of a match, NUL-terminated in val. Fills m->v[m->count] (or m->nets). */
static int parse_value(struct policy_match *m, const char *val,
                       int (*l7_id)(void *ctx, const char *name), void *ctx, char *err,
                       size_t errsize)
{
    const char *key = key_names[m->key];
    unsigned long a, b;
    switch ((enum match_key)m->key) {
    case MATCH_PROTO: {
        if (!l7_id) {
            set_err(err, errsize, "cannot resolve protocol '%s' in %s= (no protocol list)", val,
                    key);
            return -1;
        }
        int id = l7_id(ctx, val);
        if (id < 0 || id > UINT16_MAX) {
            set_err(err, errsize, "unknown protocol '%s' in %s=", val, key);
            return -1;
        }
        m->v[m->count][0] = (uint16_t)id;
        break;
    }
    case MATCH_HOST: {
        struct netlist one;
        char why[160];
        /* netlist_parse also splits on ',' and ' ', but val has neither: one network. */
        if (netlist_parse(&one, val, why, sizeof why) < 0) {
            set_err(err, errsize, "%s in %s=", why, key);
            return -1;
        }
        if (one.count != 1) { /* cannot happen (val is non-empty), but never index past it */
            set_err(err, errsize, "bad network '%s' in %s=", val, key);
            return -1;
        }
        m->nets->entries[m->nets->count++] = one.entries[0];
        break;
    }
    case MATCH_VLAN:
        if (!parse_uint(val, strlen(val), 4095, &a)) {
            set_err(err, errsize, "bad VLAN '%s' in %s= (0-4095, 0 = untagged)", val, key);
            return -1;
        }
        m->v[m->count][0] = (uint16_t)a;
        break;
    case MATCH_PORT: {
        const char *dash = strchr(val, '-');
        if (!dash) {
            if (!parse_uint(val, strlen(val), 65535, &a)) {
                set_err(err, errsize, "bad port '%s' in %s= (0-65535 or LOW-HIGH)", val, key);
                return -1;
            }
            b = a;
        } else if (!parse_uint(val, (size_t)(dash - val), 65535, &a) ||
                   !parse_uint(dash + 1, strlen(dash + 1), 65535, &b) || a > b) {
            set_err(err, errsize, "bad port range '%s' in %s= (LOW-HIGH, 0-65535, LOW <= HIGH)",
                    val, key);
            return -1;
        }
        m->v[m->count][0] = (uint16_t)a;
        m->v[m->count][1] = (uint16_t)b;
        break;
    }
    case MATCH_L4:
        if (!l4_by_name(val, &a)) {
            set_err(err, errsize,
                    "unknown L4 protocol '%s' in %s= (tcp, udp, icmp, icmp6 or 0-255)", val, key);
            return -1;
        }
        m->v[m->count][0] = (uint8_t)a;
        break;
    }
    m->count++;
    return 0;
}

/* "key=v1,v2" into m. token is writable (it is the caller's copy). */
static int parse_match(struct policy_match *m, char *token,
                       int (*l7_id)(void *ctx, const char *name), void *ctx, char *err,
                       size_t errsize)
{
    char *eq = strchr(token, '=');
    if (!eq || eq == token) {
        set_err(err, errsize, "'%s' is not a match (key=value[,value...])", token);
        return -1;
    }
    *eq = '\0';
    const char *key = token;
    int k = -1;
    for (int i = 0; i < (int)(sizeof key_names / sizeof key_names[0]); i++)
        if (strcmp(key, key_names[i]) == 0)
            k = i;
    if (k < 0) {
        set_err(err, errsize, "unknown match '%s=' (proto, host, vlan, port or l4)", key);
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->key = (uint8_t)k;
    if (k == MATCH_HOST) {
        m->nets = calloc(1, sizeof *m->nets);
        if (!m->nets) {
            set_err(err, errsize, "out of memory");
            return -1;
        }
    }
    char *p = eq + 1;
    if (*p == '\0') {
        set_err(err, errsize, "no value in %s=", key);
        return -1;
    }
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p == '\0') {
            set_err(err, errsize, "empty value in %s= (stray ',')", key);
            return -1;
        }
        if (m->count == POLICY_MAX_VALUES) {
            set_err(err, errsize, "more than %d values in %s=", POLICY_MAX_VALUES, key);
            return -1;
        }
        if (parse_value(m, p, l7_id, ctx, err, errsize) < 0)
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int policy_set_add(struct policy_set *s, const char *rule_text,
                   int (*l7_id)(void *ctx, const char *name), void *ctx, char *err,
                   size_t errsize)
{
    if (!rule_text) {
        set_err(err, errsize, "empty rule");
        return -1;
    }
    if (s->count == POLICY_MAX_RULES) {
        set_err(err, errsize, "more than %d rules", POLICY_MAX_RULES);
        return -1;
    }
    char *copy = strdup(rule_text);
    /* Normalised text: the tokens joined by single spaces, so that reformatting a rule keeps
     * its counters over a reload and the action is always the second word. */
    char *norm = malloc(strlen(rule_text) + 1);
    struct policy_rule r;
    memset(&r, 0, sizeof r);
    r.m = calloc(POLICY_MAX_MATCHES, sizeof *r.m);
    int rc = -1;
    if (!copy || !norm || !r.m) {
        set_err(err, errsize, "out of memory");
        goto out;
    }
    norm[0] = '\0';

    char *tokens[2 + POLICY_MAX_MATCHES];
    size_t ntok = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (ntok == sizeof tokens / sizeof tokens[0]) {
            set_err(err, errsize, "more than %d matches in one rule", POLICY_MAX_MATCHES);
            goto out;
        }
        if (ntok)
            strcat(norm, " ");
        strcat(norm, t);
        tokens[ntok++] = t;
    }
    if (ntok == 0) {
        set_err(err, errsize, "empty rule (NAME drop|pass MATCH...)");
        goto out;
    }
    if (!valid_name(tokens[0])) {
        set_err(err, errsize, "bad rule name '%s' (1-%d of A-Z a-z 0-9 _ . -)", tokens[0],
                POLICY_NAME_MAX);
        goto out;
    }
    if (strcmp(tokens[0], "default") == 0) { /* the name of the no-match bucket in the API */
        set_err(err, errsize, "'default' is reserved for traffic no rule matches");
        goto out;
    }
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->rules[i].st.name, tokens[0]) == 0) {
            set_err(err, errsize, "duplicate rule name '%s'", tokens[0]);
            goto out;
        }
    if (ntok < 2) {
        set_err(err, errsize, "rule '%s' has no action (drop or pass)", tokens[0]);
        goto out;
    }
    if (strcmp(tokens[1], "drop") == 0) {
        r.drop = true;
    } else if (strcmp(tokens[1], "pass") != 0) {
        set_err(err, errsize, "unknown action '%s' in rule '%s' (drop or pass)", tokens[1],
                tokens[0]);
        goto out;
    }
    if (ntok < 3) {
        set_err(err, errsize, "rule '%s' has no match (proto=, host=, vlan=, port=, l4=)",
                tokens[0]);
        goto out;
    }
    for (size_t i = 2; i < ntok; i++) {
        struct policy_match *m = &r.m[r.match_count];
        if (parse_match(m, tokens[i], l7_id, ctx, err, errsize) < 0) {
            r.match_count++; /* so that rule_free frees its netlist */
            goto out;
        }
        r.match_count++;
        if (m->key == MATCH_PROTO)
            r.needs_l7 = true;
    }

    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct policy_rule *grown = realloc(s->rules, cap * sizeof *grown);
        if (!grown) {
            set_err(err, errsize, "out of memory");
            goto out;
        }
        s->rules = grown;
        s->cap = cap;
    }
    snprintf(r.st.name, sizeof r.st.name, "%s", tokens[0]);
    size_t len = strlen(norm);
    if (len < sizeof r.st.text) {
        memcpy(r.st.text, norm, len + 1);
    } else {
        memcpy(r.st.text, norm, sizeof r.st.text - 4);
        memcpy(r.st.text + sizeof r.st.text - 4, "...", 4);
    }
    r.text = norm;
    norm = NULL;
    s->rules[s->count++] = r;
    memset(&r, 0, sizeof r);
    rc = 0;
out:
    rule_free(&r);
    free(norm);
    free(copy);
    return rc;
}

/* ---- deciding ---- */

static bool match_l7(const struct policy_match *m, const struct policy_subject *f)
{
    for (size_t i = 0; i < m->count; i++) {
        uint16_t id = m->v[i][0];
        /* Id 0 is nDPI's Unknown, but master 0 also means "no master": only a flow with
         * neither a master nor an app is Unknown. */
        if (id == 0 ? (f->l7_master == 0 && f->l7_app == 0)
                    : (id == f->l7_master || id == f->l7_app))
            return true;
    }
    return false;
}

/* Every match but proto=. */
static bool match_static(const struct policy_match *m, const struct policy_subject *f)
{
    switch ((enum match_key)m->key) {
    case MATCH_PROTO:
        return true; /* decided separately, once L7 is final */
    case MATCH_HOST:
        return netlist_contains(m->nets, f->ip_version, f->addr[0]) ||
               netlist_contains(m->nets, f->ip_version, f->addr[1]);
    case MATCH_VLAN:
        for (size_t i = 0; i < m->count; i++)
            if (m->v[i][0] == f->vlan)
                return true;
        return false;
    case MATCH_PORT:
        if (f->l4_proto != 6 && f->l4_proto != 17)
            return false;
        for (size_t i = 0; i < m->count; i++)
            for (int e = 0; e < 2; e++)
                if (f->port[e] >= m->v[i][0] && f->port[e] <= m->v[i][1])
                    return true;
        return false;
    case MATCH_L4:
        for (size_t i = 0; i < m->count; i++)
            if (m->v[i][0] == f->l4_proto)
                return true;
        return false;
    }
    return false;
}

enum policy_verdict policy_decide(const struct policy_set *s, const struct policy_subject *f,
                                  int *rule)
{
    int dummy;
    if (!rule)
        rule = &dummy;
    *rule = -1;
    if (!s)
        return POLICY_PASS;
    for (size_t i = 0; i < s->count; i++) {
        const struct policy_rule *r = &s->rules[i];
        bool hit = true;
        /* The matches that do not need L7 first: if one fails, the rule is out whatever nDPI
         * says later, so it cannot block the rules after it. */
        for (size_t j = 0; hit && j < r->match_count; j++)
            hit = match_static(&r->m[j], f);
        if (!hit)
            continue;
        if (r->needs_l7) {
            if (!f->l7_final)
                return POLICY_PENDING; /* this rule may still match: later ones must wait */
            for (size_t j = 0; hit && j < r->match_count; j++)
                if (r->m[j].key == MATCH_PROTO)
                    hit = match_l7(&r->m[j], f);
            if (!hit)
                continue;
        }
        *rule = (int)i;
        return r->drop ? POLICY_DROP : POLICY_PASS;
    }
    if (!s->undetected_drop)
        return POLICY_PASS;
    if (!f->l7_final)
        return POLICY_PENDING; /* it may yet end Unknown */
    return f->l7_master == 0 && f->l7_app == 0 ? POLICY_DROP : POLICY_PASS;
}

/* ---- counters ---- */

static struct policy_rule_stats *bucket(struct policy_set *s, int rule)
{
    if (!s)
        return NULL;
    if (rule == -1)
        return &s->def;
    if (rule < 0 || (size_t)rule >= s->count)
        return NULL;
    return &s->rules[rule].st;
}

void policy_count_flow(struct policy_set *s, int rule)
{
    struct policy_rule_stats *b = bucket(s, rule);
    if (b)
        b->flows++;
}

void policy_count_packet(struct policy_set *s, int rule, uint32_t bytes)
{
    struct policy_rule_stats *b = bucket(s, rule);
    if (b) {
        b->packets++;
        b->bytes += bytes;
    }
}

size_t policy_rule_count(const struct policy_set *s)
{
    return s ? s->count : 0;
}

void policy_rule_set_ui(struct policy_set *s, size_t i, bool ui)
{
    if (s && i < s->count)
        s->rules[i].st.ui = ui;
}

const struct policy_rule_stats *policy_rule_stats(const struct policy_set *s, size_t i)
{
    return s && i < s->count ? &s->rules[i].st : NULL;
}

void policy_default_stats(const struct policy_set *s, struct policy_rule_stats *out,
                          bool *undetected_drop)
{
    if (out) {
        if (s) {
            *out = s->def;
        } else {
            memset(out, 0, sizeof *out);
            snprintf(out->name, sizeof out->name, "default");
            snprintf(out->text, sizeof out->text, "undetected=pass");
        }
    }
    if (undetected_drop)
        *undetected_drop = s && s->undetected_drop;
}

void policy_set_carry_counters(struct policy_set *dst, const struct policy_set *src)
{
    if (!dst || !src)
        return;
    /* Quadratic, but at most 256 x 256 string compares once per reload. */
    for (size_t i = 0; i < dst->count; i++) {
        struct policy_rule *d = &dst->rules[i];
        for (size_t j = 0; j < src->count; j++) {
            const struct policy_rule *o = &src->rules[j];
            if (strcmp(d->st.name, o->st.name) == 0 && strcmp(d->text, o->text) == 0) {
                d->st.flows = o->st.flows;
                d->st.packets = o->st.packets;
                d->st.bytes = o->st.bytes;
                break;
            }
        }
    }
    /* The default bucket counts passes under undetected=pass and also drops under
     * undetected=drop: its totals only continue when that meaning is the same. */
    if (dst->undetected_drop == src->undetected_drop) {
        dst->def.flows = src->def.flows;
        dst->def.packets = src->def.packets;
        dst->def.bytes = src->def.bytes;
    }
}

bool policy_set_restore_counters(struct policy_set *s, const struct policy_rule_stats *saved)
{
    struct policy_rule_stats *to = NULL;
    for (size_t i = 0; i < s->count && !to; i++)
        if (strcmp(s->rules[i].st.name, saved->name) == 0 &&
            strcmp(s->rules[i].st.text, saved->text) == 0)
            to = &s->rules[i].st;
    if (!to && strcmp(saved->name, "default") == 0 &&
        strcmp(saved->text, s->undetected_drop ? "undetected=drop" : "undetected=pass") == 0)
        to = &s->def;
    if (!to)
        return false;
    to->flows += saved->flows;
    to->packets += saved->packets;
    to->bytes += saved->bytes;
    return true;
}

int policy_set_map_rule(const struct policy_set *dst, const struct policy_set *src, int src_rule)
{
    if (!dst || !src)
        return POLICY_RULE_NONE;
    if (src_rule < 0) /* the default bucket continues when its meaning does (see carry_counters) */
        return dst->undetected_drop == src->undetected_drop ? -1 : POLICY_RULE_NONE;
    if ((size_t)src_rule >= src->count)
        return POLICY_RULE_NONE;
    const struct policy_rule *o = &src->rules[src_rule];
    for (size_t i = 0; i < dst->count; i++)
        if (strcmp(dst->rules[i].st.name, o->st.name) == 0 && strcmp(dst->rules[i].text, o->text) == 0)
            return (int)i;
    return POLICY_RULE_NONE;
}
