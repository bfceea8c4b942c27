#include "web/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/atomic_file.h"
#include "core/log.h"

#define USERS_FILE "users.json"
#define USERS_FILE_MAX (1u << 20)
#define TOKEN_PREFIX "tbx_"

const char *auth_role_name(enum auth_role r) { return r == AUTH_ADMIN ? "admin" : "viewer"; }

int auth_role_parse(const char *s, enum auth_role *out)
{
    if (s && strcmp(s, "admin") == 0)
        *out = AUTH_ADMIN;
    else if (s && strcmp(s, "viewer") == 0)
        *out = AUTH_VIEWER;
    else
        return -1;
    return 0;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];
    randombytes_buf(raw, bytes);
    sodium_bin2hex(out, bytes * 2 + 1, raw, bytes);
    sodium_memzero(raw, sizeof raw);
}

bool auth_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AUTH_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
            return false;
    return true;
}

const char *auth_password_problem(const char *password)
{
    size_t n = strlen(password);
    if (n < AUTH_PASSWORD_MIN)
        return "the password must have at least 8 characters";
    if (n > AUTH_PASSWORD_MAX)
        return "the password must have at most 128 characters";
    if (strcmp(password, AUTH_FACTORY_PASSWORD) == 0)
        return "the factory password cannot be kept";
    return NULL;
}

/* ---- the users file ---- */

static bool hash_looks_right(const char *h)
{
    return strncmp(h, "$argon2id$", 10) == 0 && strlen(h) < crypto_pwhash_STRBYTES;
}

static int load_users(struct auth *a, const char *text, char *err, size_t errsize)
{
    cJSON *root = cJSON_Parse(text);
    cJSON *users = root ? cJSON_GetObjectItem(root, "users") : NULL;
    if (!cJSON_IsArray(users)) {
        snprintf(err, errsize, "%s: not a tapbox users file (JSON with a \"users\" array)",
                 a->users_path);
        cJSON_Delete(root);
        return -1;
    }
    int i = 0;
    const cJSON *u;
    cJSON_ArrayForEach(u, users)
    {
        i++;
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(u, "name"));
        const char *role = cJSON_GetStringValue(cJSON_GetObjectItem(u, "role"));
        const char *hash = cJSON_GetStringValue(cJSON_GetObjectItem(u, "hash"));
        enum auth_role r;
        if (!name || !auth_name_valid(name) || auth_role_parse(role, &r) < 0 || !hash ||
            !hash_looks_right(hash)) {
            snprintf(err, errsize, "%s: user %d: needs a valid name, role admin|viewer and an "
                     "Argon2id hash", a->users_path, i);
            cJSON_Delete(root);
            return -1;
        }
        if (auth_user_add(a, name, r, hash, cJSON_IsTrue(cJSON_GetObjectItem(u, "must_change")),
                          err, errsize) < 0) {
            cJSON_Delete(root);
            return -1;
        }
        a->users[a->user_count - 1].created =
            (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(u, "created"));
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tokens"))
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(t, "id"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
        const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(t, "user"));
        const char *hash = cJSON_GetStringValue(cJSON_GetObjectItem(t, "hash"));
        struct auth_token tok;
        memset(&tok, 0, sizeof tok);
        size_t bin_len = 0;
        if (!id || strlen(id) != 16 || !name || strlen(name) > AUTH_NAME_MAX || !user ||
            !auth_user_find(a, user) || !hash ||
            sodium_hex2bin(tok.hash, sizeof tok.hash, hash, strlen(hash), NULL, &bin_len, NULL) <
                0 ||
            bin_len != sizeof tok.hash || a->token_count == AUTH_MAX_TOKENS) {
            log_warn("web", "%s: skipping a malformed API token entry", a->users_path);
            continue;
        }
        snprintf(tok.id, sizeof tok.id, "%s", id);
        snprintf(tok.name, sizeof tok.name, "%s", name);
        snprintf(tok.user, sizeof tok.user, "%s", user);
        tok.created = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(t, "created"));
        a->tokens[a->token_count++] = tok;
    }
    cJSON_Delete(root);
    return 0;
}

static void factory_state(struct auth *a)
{
    a->user_count = 1;
    memset(&a->users[0], 0, sizeof a->users[0]);
    snprintf(a->users[0].name, sizeof a->users[0].name, "%s", AUTH_FACTORY_USER);
    a->users[0].role = AUTH_ADMIN;
    a->users[0].factory = true;
    a->users[0].created = (uint64_t)time(NULL);
}

static void job_hash_done(void *ctx, bool ok, const char *hash)
{
    struct auth *a = ctx;
    if (ok)
        snprintf(a->dummy_hash, sizeof a->dummy_hash, "%s", hash);
}

int auth_init(struct auth *a, uv_loop_t *loop, const char *data_dir, unsigned session_timeout_s,
              bool disabled, char *err, size_t errsize)
{
    memset(a, 0, sizeof *a);
    if (sodium_init() < 0) {
        snprintf(err, errsize, "libsodium cannot start");
        return -1;
    }
    a->loop = loop;
    a->disabled = disabled;
    a->session_timeout_ms = (uint64_t)session_timeout_s * 1000;
    a->data_dir = strdup(data_dir);
    if (!a->data_dir || asprintf(&a->users_path, "%s/%s", data_dir, USERS_FILE) < 0) {
        a->users_path = NULL;
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    random_hex(a->disabled_csrf, AUTH_ID_HEX / 2);
    /* Read once at start, before the loop runs. */
    FILE *f = fopen(a->users_path, "r");
    if (!f) {
        if (errno != ENOENT) {
            snprintf(err, errsize, "cannot read %s: %s", a->users_path, strerror(errno));
            return -1;
        }
        factory_state(a);
        if (!disabled)
            log_info("web", "no %s: factory login %s/%s, its password must be changed",
                     a->users_path, AUTH_FACTORY_USER, AUTH_FACTORY_PASSWORD);
    } else {
        char *text = malloc(USERS_FILE_MAX + 1);
        size_t n = text ? fread(text, 1, USERS_FILE_MAX + 1, f) : 0;
        bool bad = !text || ferror(f) || n > USERS_FILE_MAX;
        fclose(f);
        if (bad) {
            snprintf(err, errsize, "cannot read %s (or larger than 1 MiB)", a->users_path);
            free(text);
            return -1;
        }
        text[n] = '\0';
        int rc = load_users(a, text, err, errsize);
        sodium_memzero(text, n);
        free(text);
        if (rc < 0)
            return -1;
        if (a->user_count == 0)
            factory_state(a);
    }
    return 0;
}

void auth_start(struct auth *a)
{
    /* A hash to verify against for unknown users, so that they cost the same time. */
    char pw[33];
    random_hex(pw, 16);
    auth_hash_async(a, pw, job_hash_done, a);
    sodium_memzero(pw, sizeof pw);
}

void auth_fini(struct auth *a)
{
    /* Jobs and saves hold the loop alive, so none is left when the loop has ended. */
    free(a->users_path);
    free(a->data_dir);
    sodium_memzero(a, sizeof *a);
}

/* ---- users ---- */

struct auth_user *auth_user_find(struct auth *a, const char *name)
{
    for (unsigned i = 0; i < a->user_count; i++)
        if (strcmp(a->users[i].name, name) == 0)
            return &a->users[i];
    return NULL;
}

unsigned auth_admin_count(const struct auth *a)
{
    unsigned n = 0;
    for (unsigned i = 0; i < a->user_count; i++)
        n += a->users[i].role == AUTH_ADMIN;
    return n;
}

int auth_user_add(struct auth *a, const char *name, enum auth_role role, const char *hash,
                  bool must_change, char *err, size_t errsize)
{
    if (!auth_name_valid(name)) {
        snprintf(err, errsize, "a user name is 1 to 32 letters, digits, '.', '_' or '-'");
        return -1;
    }
    if (auth_user_find(a, name)) {
        snprintf(err, errsize, "user '%s' exists", name);
        return -1;
    }
    if (a->user_count == AUTH_MAX_USERS) {
        snprintf(err, errsize, "at most %d users", AUTH_MAX_USERS);
        return -1;
    }
    struct auth_user *u = &a->users[a->user_count++];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->hash, sizeof u->hash, "%s", hash);
    u->role = role;
    u->must_change = must_change;
    u->created = (uint64_t)time(NULL);
    return 0;
}

int auth_user_delete(struct auth *a, const char *name)
{
    struct auth_user *u = auth_user_find(a, name);
    if (!u)
        return -1;
    char copy[AUTH_NAME_MAX + 1];
    snprintf(copy, sizeof copy, "%s", name);
    auth_sessions_end_user(a, copy, NULL);
    for (unsigned i = 0; i < a->token_count;) {
        if (strcmp(a->tokens[i].user, copy) == 0)
            a->tokens[i] = a->tokens[--a->token_count];
        else
            i++;
    }
    for (unsigned i = 0; i < AUTH_KNOWN_SLOTS; i++)
        if (strcmp(a->known[i].user, copy) == 0)
            memset(&a->known[i], 0, sizeof a->known[i]);
    unsigned idx = (unsigned)(u - a->users);
    memmove(&a->users[idx], &a->users[idx + 1], (a->user_count - idx - 1) * sizeof *u);
    memmove(&a->user_limits[idx], &a->user_limits[idx + 1],
            (a->user_count - idx - 1) * sizeof a->user_limits[0]);
    memset(&a->user_limits[a->user_count - 1], 0, sizeof a->user_limits[0]);
    a->user_count--;
    return 0;
}

/* ---- sessions ---- */

struct auth_session *auth_session_create(struct auth *a, const char *user, uint64_t now_ms)
{
    struct auth_session *slot = NULL;
    for (unsigned i = 0; i < AUTH_MAX_SESSIONS && !slot; i++)
        if (!a->sessions[i].in_use ||
            now_ms - a->sessions[i].last_ms > a->session_timeout_ms)
            slot = &a->sessions[i];
    if (!slot) { /* full of live sessions: the least recently used one goes */
        slot = &a->sessions[0];
        for (unsigned i = 1; i < AUTH_MAX_SESSIONS; i++)
            if (a->sessions[i].last_ms < slot->last_ms)
                slot = &a->sessions[i];
        log_info("web", "session table full: %s's oldest session ended", slot->user);
    }
    memset(slot, 0, sizeof *slot);
    slot->in_use = true;
    random_hex(slot->id, AUTH_ID_HEX / 2);
    random_hex(slot->csrf, AUTH_ID_HEX / 2);
    snprintf(slot->user, sizeof slot->user, "%s", user);
    slot->created_ms = slot->last_ms = now_ms;
    return slot;
}

void auth_session_end(struct auth *a, struct auth_session *s)
{
    (void)a;
    sodium_memzero(s, sizeof *s);
}

void auth_sessions_end_user(struct auth *a, const char *user, const struct auth_session *keep)
{
    for (unsigned i = 0; i < AUTH_MAX_SESSIONS; i++)
        if (a->sessions[i].in_use && &a->sessions[i] != keep &&
            strcmp(a->sessions[i].user, user) == 0)
            auth_session_end(a, &a->sessions[i]);
}

unsigned auth_session_count(struct auth *a, uint64_t now_ms)
{
    unsigned n = 0;
    for (unsigned i = 0; i < AUTH_MAX_SESSIONS; i++)
        n += a->sessions[i].in_use && now_ms - a->sessions[i].last_ms <= a->session_timeout_ms;
    return n;
}

static struct auth_session *session_find(struct auth *a, const char *id)
{
    if (strlen(id) != AUTH_ID_HEX)
        return NULL;
    for (unsigned i = 0; i < AUTH_MAX_SESSIONS; i++)
        if (a->sessions[i].in_use && sodium_memcmp(a->sessions[i].id, id, AUTH_ID_HEX) == 0)
            return &a->sessions[i];
    return NULL;
}

/* ---- tokens ---- */

int auth_token_create(struct auth *a, const char *user, const char *name, char *out,
                      size_t outsize, char *err, size_t errsize)
{
    if (a->token_count == AUTH_MAX_TOKENS) {
        snprintf(err, errsize, "at most %d API tokens", AUTH_MAX_TOKENS);
        return -1;
    }
    if (!auth_name_valid(name)) {
        snprintf(err, errsize, "a token name is 1 to 32 letters, digits, '.', '_' or '-'");
        return -1;
    }
    struct auth_token *t = &a->tokens[a->token_count];
    memset(t, 0, sizeof *t);
    char secret[65];
    random_hex(t->id, 8);
    random_hex(secret, 32);
    crypto_generichash(t->hash, sizeof t->hash, (const unsigned char *)secret, 64, NULL, 0);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->user, sizeof t->user, "%s", user);
    t->created = (uint64_t)time(NULL);
    snprintf(out, outsize, TOKEN_PREFIX "%s_%s", t->id, secret);
    sodium_memzero(secret, sizeof secret);
    a->token_count++;
    return 0;
}

int auth_token_delete(struct auth *a, const char *id)
{
    for (unsigned i = 0; i < a->token_count; i++)
        if (strcmp(a->tokens[i].id, id) == 0) {
            a->tokens[i] = a->tokens[--a->token_count];
            return 0;
        }
    return -1;
}

static const struct auth_token *token_check(struct auth *a, const char *text)
{
    /* tbx_<16 hex id>_<64 hex secret> */
    size_t plen = strlen(TOKEN_PREFIX);
    if (strlen(text) != plen + 16 + 1 + 64 || strncmp(text, TOKEN_PREFIX, plen) != 0 ||
        text[plen + 16] != '_')
        return NULL;
    uint8_t hash[32];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)text + plen + 17, 64, NULL, 0);
    for (unsigned i = 0; i < a->token_count; i++)
        if (strncmp(a->tokens[i].id, text + plen, 16) == 0 &&
            sodium_memcmp(a->tokens[i].hash, hash, sizeof hash) == 0)
            return &a->tokens[i];
    return NULL;
}

/* ---- identification ---- */

static void identity_from_user(struct auth_identity *who, const struct auth_user *u,
                               enum auth_via via)
{
    snprintf(who->user, sizeof who->user, "%s", u->name);
    who->role = u->role;
    who->must_change = u->factory || u->must_change;
    who->via = via;
}

int auth_identify(struct auth *a, const struct web_request *req, bool background, uint64_t now_ms,
                  struct auth_identity *who, const char **why)
{
    memset(who, 0, sizeof *who);
    if (a->disabled) {
        snprintf(who->user, sizeof who->user, "admin");
        who->role = AUTH_ADMIN;
        who->via = AUTH_VIA_DISABLED;
        return 0;
    }
    if (req->authorization && req->authorization[0]) {
        const char *v = req->authorization;
        if (strncasecmp(v, "Bearer ", 7) != 0) {
            *why = "unsupported Authorization scheme (use Bearer)";
            return -1;
        }
        v += 7;
        while (*v == ' ')
            v++;
        const struct auth_token *t = token_check(a, v);
        const struct auth_user *u = t ? auth_user_find(a, t->user) : NULL;
        if (!u) {
            *why = "bad API token";
            return -1;
        }
        identity_from_user(who, u, AUTH_VIA_TOKEN);
        return 0;
    }
    char id[AUTH_ID_HEX + 2];
    if (web_cookie_get(req->cookie, AUTH_SESSION_COOKIE, id, sizeof id) < 0) {
        *why = "login required";
        return -1;
    }
    struct auth_session *s = session_find(a, id);
    if (!s) {
        *why = "login required (unknown or ended session)";
        return -1;
    }
    if (now_ms - s->last_ms > a->session_timeout_ms) {
        auth_session_end(a, s);
        *why = "session expired after inactivity; log in again";
        return -1;
    }
    const struct auth_user *u = auth_user_find(a, s->user);
    if (!u) {
        auth_session_end(a, s);
        *why = "login required (the user was removed)";
        return -1;
    }
    if (!background)
        s->last_ms = now_ms;
    identity_from_user(who, u, AUTH_VIA_SESSION);
    who->session = s;
    return 0;
}

bool auth_csrf_ok(const struct auth *a, const struct auth_identity *who, const char *header)
{
    const char *want;
    switch (who->via) {
    case AUTH_VIA_TOKEN:
        return true; /* no ambient authority: nothing a foreign page can forge */
    case AUTH_VIA_SESSION:
        want = who->session ? who->session->csrf : NULL;
        break;
    case AUTH_VIA_DISABLED:
        want = a->disabled_csrf;
        break;
    default:
        return false;
    }
    return want && header && strlen(header) == AUTH_ID_HEX &&
           sodium_memcmp(want, header, AUTH_ID_HEX) == 0;
}

/* ---- login limits ----
 * Failures count per (address, user): a viewer's own login cannot wash away its guesses at the
 * admin. Strangers (pairs that never logged in) also count per user and against one budget for
 * the box, so rotating addresses pause at those instead of filling the hash queue; pairs that
 * did log in keep their way in, and two places of that queue. */

static bool window_over(uint64_t *start_ms, uint64_t now_ms)
{
    if (now_ms - *start_ms <= AUTH_LOGIN_WINDOW_MS)
        return false;
    *start_ms = now_ms;
    return true;
}

static struct auth_limit *limit_find(struct auth *a, const char *client, const char *user)
{
    for (unsigned i = 0; i < AUTH_LIMIT_SLOTS; i++) {
        struct auth_limit *l = &a->limits[i];
        if (l->client[0] && strcmp(l->client, client) == 0 && strcmp(l->user, user) == 0)
            return l;
    }
    return NULL;
}

/* A slot for a new pair: a free one, else the least recent that holds neither a pause nor a check
 * in progress (evicting a pause would lift it). NULL when every slot holds one. */
static struct auth_limit *limit_new(struct auth *a, const char *client, const char *user,
                                    uint64_t now_ms)
{
    struct auth_limit *pick = NULL;
    for (unsigned i = 0; i < AUTH_LIMIT_SLOTS; i++) {
        struct auth_limit *l = &a->limits[i];
        if (!l->client[0]) {
            pick = l;
            break;
        }
        if (l->pending || l->blocked_until_ms > now_ms)
            continue;
        if (!pick || l->last_ms < pick->last_ms)
            pick = l;
    }
    if (!pick)
        return NULL;
    memset(pick, 0, sizeof *pick);
    snprintf(pick->client, sizeof pick->client, "%s", client);
    snprintf(pick->user, sizeof pick->user, "%s", user);
    pick->window_start_ms = now_ms;
    pick->last_ms = now_ms;
    return pick;
}

static struct auth_known *known_find(struct auth *a, const char *client, const char *user)
{
    for (unsigned i = 0; i < AUTH_KNOWN_SLOTS; i++) {
        struct auth_known *k = &a->known[i];
        if (k->client[0] && strcmp(k->client, client) == 0 && strcmp(k->user, user) == 0)
            return k;
    }
    return NULL;
}

static void known_remember(struct auth *a, const char *client, const char *user, uint64_t now_ms)
{
    struct auth_known *k = known_find(a, client, user);
    if (!k) {
        k = &a->known[0];
        for (unsigned i = 1; i < AUTH_KNOWN_SLOTS && k->client[0]; i++)
            if (!a->known[i].client[0] || a->known[i].last_ms < k->last_ms)
                k = &a->known[i];
        snprintf(k->client, sizeof k->client, "%s", client);
        snprintf(k->user, sizeof k->user, "%s", user);
    }
    k->last_ms = now_ms;
}

static struct auth_user_limit *user_limit(struct auth *a, const char *user)
{
    const struct auth_user *u = auth_user_find(a, user);
    return u ? &a->user_limits[u - a->users] : NULL;
}

static unsigned address_pending(const struct auth *a, const char *client)
{
    unsigned n = 0;
    for (unsigned i = 0; i < AUTH_LIMIT_SLOTS; i++)
        if (a->limits[i].pending && strcmp(a->limits[i].client, client) == 0)
            n += a->limits[i].pending;
    return n;
}

static unsigned retry_after(uint64_t until_ms, uint64_t now_ms)
{
    return (unsigned)((until_ms - now_ms + 999) / 1000);
}

enum auth_admit auth_login_admit(struct auth *a, const char *client, const char *user,
                                 uint64_t now_ms, unsigned *retry_s, bool *known)
{
    *retry_s = 0;
    *known = known_find(a, client, user) != NULL;
    struct auth_limit *l = limit_find(a, client, user);
    if (l && l->blocked_until_ms > now_ms) {
        *retry_s = retry_after(l->blocked_until_ms, now_ms);
        a->logins.limited++;
        return AUTH_REFUSED_PAIR;
    }
    if (l && window_over(&l->window_start_ms, now_ms))
        l->failures = 0;
    if (l && l->failures + l->pending >= AUTH_LOGIN_FAILURES) {
        /* The guesses in progress would reach the limit: a burst waits for their answers. */
        *retry_s = 1;
        a->logins.limited++;
        return AUTH_REFUSED_PAIR;
    }
    if (address_pending(a, client) >= AUTH_ADDRESS_JOBS) {
        *retry_s = 1;
        a->logins.address_busy++;
        return AUTH_REFUSED_ADDRESS;
    }
    if (!*known) {
        struct auth_user_limit *ul = user_limit(a, user);
        if (ul && ul->blocked_until_ms > now_ms) {
            *retry_s = retry_after(ul->blocked_until_ms, now_ms);
            a->logins.user_limited++;
            return AUTH_REFUSED_USER;
        }
        if (window_over(&a->budget_window_ms, now_ms))
            a->budget_used = 0;
        if (a->budget_used >= AUTH_LOGIN_BUDGET) {
            *retry_s = retry_after(a->budget_window_ms + AUTH_LOGIN_WINDOW_MS, now_ms);
            a->logins.budget_refused++;
            return AUTH_REFUSED_BUDGET;
        }
    }
    if (!l && !(l = limit_new(a, client, user, now_ms))) {
        *retry_s = retry_after(now_ms + AUTH_LOGIN_WINDOW_MS, now_ms);
        a->logins.slots_full++;
        return AUTH_REFUSED_SLOTS;
    }
    if (!*known)
        a->budget_used++;
    l->pending++;
    l->last_ms = now_ms;
    return AUTH_ADMITTED;
}

void auth_login_done(struct auth *a, const char *client, const char *user,
                     enum auth_login_outcome outcome, uint64_t now_ms)
{
    struct auth_limit *l = limit_find(a, client, user);
    if (l && l->pending)
        l->pending--;
    if (outcome == AUTH_LOGIN_OK) {
        if (l)
            memset(l, 0, sizeof *l);
        known_remember(a, client, user, now_ms);
        return;
    }
    if (outcome != AUTH_LOGIN_WRONG)
        return;
    a->logins.failed++;
    if (l) {
        l->last_ms = now_ms;
        if (window_over(&l->window_start_ms, now_ms))
            l->failures = 0;
        if (++l->failures >= AUTH_LOGIN_FAILURES) {
            l->blocked_until_ms = now_ms + AUTH_LOGIN_WINDOW_MS;
            l->failures = 0;
            l->window_start_ms = now_ms;
            log_warn("web", "%u failed logins for '%s' from %s: they pause for %u s",
                     AUTH_LOGIN_FAILURES, user, client, AUTH_LOGIN_WINDOW_MS / 1000);
        }
    }
    struct auth_user_limit *ul = known_find(a, client, user) ? NULL : user_limit(a, user);
    if (ul) {
        if (window_over(&ul->window_start_ms, now_ms))
            ul->failures = 0;
        if (++ul->failures >= AUTH_USER_FAILURES) {
            ul->blocked_until_ms = now_ms + AUTH_LOGIN_WINDOW_MS;
            ul->failures = 0;
            ul->window_start_ms = now_ms;
            log_warn("web", "%u failed logins for '%s' from addresses it never logged in from: "
                     "those pause for %u s", AUTH_USER_FAILURES, user,
                     AUTH_LOGIN_WINDOW_MS / 1000);
        }
    }
}

/* ---- password jobs in the pool ---- */

enum job_kind { JOB_HASH, JOB_VERIFY };

struct auth_job {
    uv_work_t work;
    bool reserved;                     /* may take the queue's reserved places */
    struct auth *a;
    enum job_kind kind;
    char password[AUTH_PASSWORD_MAX + 1];
    char hash[crypto_pwhash_STRBYTES];
    bool ok;
    auth_job_cb cb;
    void *ctx;
    struct auth_job *next;
};

static void job_after_cb(uv_work_t *w, int status);

static void job_work(uv_work_t *w)
{
    struct auth_job *j = w->data;
    size_t len = strlen(j->password);
    if (j->kind == JOB_HASH)
        j->ok = crypto_pwhash_str(j->hash, j->password, len, AUTH_PWHASH_OPSLIMIT,
                                  AUTH_PWHASH_MEMLIMIT) == 0;
    else
        j->ok = j->hash[0] && crypto_pwhash_str_verify(j->hash, j->password, len) == 0;
}

/* Hand a job to the pool; -1 (job untouched) when libuv refuses. */
static int job_queue(struct auth *a, struct auth_job *j)
{
    j->work.data = j;
    if (uv_queue_work(a->loop, &j->work, job_work, job_after_cb) != 0)
        return -1;
    a->job_running = true;
    return 0;
}

static void job_free(struct auth_job *j)
{
    sodium_memzero(j, sizeof *j);
    free(j);
}

static void job_after_cb(uv_work_t *w, int status)
{
    struct auth_job *j = w->data;
    struct auth *a = j->a;
    a->job_running = false;
    if (status != 0)
        j->ok = false;
    j->cb(j->ctx, j->ok, j->kind == JOB_HASH && j->ok ? j->hash : NULL);
    job_free(j);
    /* The next waiting job (the callback may have started one already). */
    while (!a->job_running && a->job_head) {
        struct auth_job *next = a->job_head;
        a->job_head = next->next;
        if (!a->job_head)
            a->job_tail = NULL;
        a->jobs_waiting--;
        if (job_queue(a, next) < 0) {
            next->cb(next->ctx, false, NULL);
            job_free(next);
        }
    }
}

/* Callbacks never run before this returns 0 (always from the loop, later). */
static int job_submit(struct auth *a, enum job_kind kind, const char *hash, const char *password,
                      bool reserved, auth_job_cb cb, void *ctx)
{
    unsigned room = reserved ? AUTH_JOB_QUEUE : AUTH_JOB_QUEUE - AUTH_JOB_RESERVED;
    if (a->job_running && a->jobs_waiting >= room) {
        a->logins.busy++;
        return -1;
    }
    struct auth_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->a = a;
    j->kind = kind;
    snprintf(j->password, sizeof j->password, "%s", password);
    if (hash)
        snprintf(j->hash, sizeof j->hash, "%s", hash);
    j->cb = cb;
    j->ctx = ctx;
    if (!a->job_running) {
        if (job_queue(a, j) < 0) {
            job_free(j);
            return -1;
        }
        return 0;
    }
    if (a->job_tail)
        a->job_tail->next = j;
    else
        a->job_head = j;
    a->job_tail = j;
    a->jobs_waiting++;
    return 0;
}

int auth_hash_async(struct auth *a, const char *password, auth_job_cb cb, void *ctx)
{
    if (strlen(password) > AUTH_PASSWORD_MAX)
        return -1;
    return job_submit(a, JOB_HASH, NULL, password, true, cb, ctx);
}

int auth_verify_async(struct auth *a, const char *hash, const char *password, bool reserved,
                      auth_job_cb cb, void *ctx)
{
    /* An over-long password cannot match (the policy caps them): still verify a dummy, so that
     * the answer takes as long. */
    bool too_long = strlen(password) > AUTH_PASSWORD_MAX;
    return job_submit(a, JOB_VERIFY, too_long ? "" : hash, too_long ? "x" : password, reserved, cb,
                      ctx);
}

int auth_check_login_async(struct auth *a, const char *user, const char *password, bool known,
                           auth_job_cb cb, void *ctx)
{
    const struct auth_user *u = auth_user_find(a, user);
    if (u && u->factory) {
        bool ok = strlen(password) == strlen(AUTH_FACTORY_PASSWORD) &&
                  sodium_memcmp(password, AUTH_FACTORY_PASSWORD, strlen(password)) == 0;
        cb(ctx, ok, NULL);
        return 0;
    }
    if (!u) {
        /* Same work as a real check, and never a match. */
        return job_submit(a, JOB_VERIFY, a->dummy_hash, "\x01nouser", false, cb, ctx);
    }
    return auth_verify_async(a, u->hash, password, known, cb, ctx);
}

/* ---- saving ---- */

struct save_job {
    uv_work_t work;
    struct auth *a;
    uint64_t generation;               /* the changes this write holds */
    char *text;
    char *path;
    char *dir;
    int rc;
    char err[200];
};

static void save_work(uv_work_t *w)
{
    struct save_job *s = w->data;
    s->rc = atomic_file_write(s->dir, 0700, s->path, 0600, s->text, strlen(s->text), s->err,
                              sizeof s->err);
}

struct auth_save_waiter {
    auth_saved_cb cb;
    void *ctx;
    uint64_t generation;
    struct auth_save_waiter *next;
};

/* Tell the waiters whose changes a finished write held. Unlinked first: a callback may save. */
static void waiters_finish(struct auth *a, uint64_t generation, bool ok)
{
    struct auth_save_waiter *done = NULL, **p = &a->save_waiters;
    while (*p) {
        struct auth_save_waiter *w = *p;
        if (w->generation <= generation) {
            *p = w->next;
            w->next = done;
            done = w;
        } else {
            p = &w->next;
        }
    }
    while (done) {
        struct auth_save_waiter *w = done;
        done = w->next;
        w->cb(w->ctx, ok);
        free(w);
    }
}

static void save_after(uv_work_t *w, int status)
{
    struct save_job *s = w->data;
    struct auth *a = s->a;
    a->save_running = false;
    bool ok = status == 0 && s->rc == 0;
    if (!ok) {
        a->saves_failed++;
        log_error("web", "users not saved: %s", s->err[0] ? s->err : "cancelled");
    }
    uint64_t generation = s->generation;
    sodium_memzero(s->text, strlen(s->text));
    free(s->text);
    free(s->path);
    free(s->dir);
    free(s);
    waiters_finish(a, generation, ok);
    if (a->save_again) {
        a->save_again = false;
        auth_save(a);
    }
}

static char *users_text(const struct auth *a)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "format", 1);
    cJSON *users = cJSON_AddArrayToObject(root, "users");
    for (unsigned i = 0; i < a->user_count; i++) {
        const struct auth_user *u = &a->users[i];
        if (u->factory)
            continue; /* the factory admin is the absence of a file, never a stored hash */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", u->name);
        cJSON_AddStringToObject(o, "role", auth_role_name(u->role));
        cJSON_AddStringToObject(o, "hash", u->hash);
        cJSON_AddBoolToObject(o, "must_change", u->must_change);
        cJSON_AddNumberToObject(o, "created", (double)u->created);
        cJSON_AddItemToArray(users, o);
    }
    cJSON *tokens = cJSON_AddArrayToObject(root, "tokens");
    for (unsigned i = 0; i < a->token_count; i++) {
        const struct auth_token *t = &a->tokens[i];
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, t->hash, sizeof t->hash);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", t->id);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "user", t->user);
        cJSON_AddStringToObject(o, "hash", hex);
        cJSON_AddNumberToObject(o, "created", (double)t->created);
        cJSON_AddItemToArray(tokens, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

void auth_save(struct auth *a)
{
    a->save_generation++;
    if (a->save_running) {
        a->save_again = true;
        return;
    }
    struct save_job *s = calloc(1, sizeof *s);
    if (s) {
        s->a = a;
        s->generation = a->save_generation;
        s->text = users_text(a);
        s->path = strdup(a->users_path);
        s->dir = strdup(a->data_dir);
    }
    if (!s || !s->text || !s->path || !s->dir) {
        a->saves_failed++;
        log_error("web", "users not saved: out of memory");
        if (s) {
            free(s->text);
            free(s->path);
            free(s->dir);
            free(s);
        }
        waiters_finish(a, a->save_generation, false);
        return;
    }
    s->work.data = s;
    a->save_running = true;
    if (uv_queue_work(a->loop, &s->work, save_work, save_after) != 0) {
        s->rc = -1;
        snprintf(s->err, sizeof s->err, "cannot queue the write");
        save_after(&s->work, -1);
    }
}

void auth_save_durable(struct auth *a, auth_saved_cb cb, void *ctx)
{
    struct auth_save_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        auth_save(a);
        cb(ctx, false);
        return;
    }
    w->cb = cb;
    w->ctx = ctx;
    w->generation = a->save_generation + 1; /* the one auth_save is about to take */
    w->next = a->save_waiters;
    a->save_waiters = w;
    auth_save(a);
}
