/* The account endpoints: login, logout, session, password, users (admins), API tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "web/endpoint.h"
#include "web/web_internal.h"

static cJSON *user_json(const struct auth_user *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "role", auth_role_name(u->role));
    cJSON_AddBoolToObject(o, "must_change_password", u->factory || u->must_change);
    cJSON_AddBoolToObject(o, "factory", u->factory);
    cJSON_AddNumberToObject(o, "created", (double)u->created);
    return o;
}

static void set_session_cookie(struct web_call *c, const char *id)
{
    if (id)
        web_response_header(&c->res, "set-cookie",
                            AUTH_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", id,
                            c->req.https ? "; Secure" : "");
    else
        web_response_header(&c->res, "set-cookie",
                            AUTH_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
                            c->req.https ? "; Secure" : "");
}

static cJSON *session_json(struct web_call *c, const struct auth_identity *who,
                           const char *csrf)
{
    struct auth *a = &c->web->auth;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", who->user);
    cJSON_AddStringToObject(o, "role", auth_role_name(who->role));
    cJSON_AddBoolToObject(o, "must_change_password", who->must_change);
    static const char *const vias[] = {"none", "session", "token", "disabled"};
    cJSON_AddStringToObject(o, "via", vias[who->via]);
    if (csrf)
        cJSON_AddStringToObject(o, "csrf_token", csrf);
    cJSON_AddBoolToObject(o, "login_disabled", a->disabled);
    cJSON_AddNumberToObject(o, "session_timeout_s", (double)(a->session_timeout_ms / 1000));
    return o;
}

/* ---- answers after the users file is on disk ---- */

static void saved_then_answer(void *ctx, bool ok)
{
    struct web_call *c = ctx;
    if (!ok)
        web_respond_error(&c->res, 500, "the change was not written to disk (see the log)");
    endpoint_finish(c);
}

/* The answer is ready in c->res: send it once the change is durable (500 if the write failed).
 * Returns 1: the call is answered from the save's callback (perhaps already). */
static int finish_when_saved(struct web_call *c)
{
    auth_save_durable(&c->web->auth, saved_then_answer, c);
    return 1;
}

/* ---- login, logout, session, password ---- */

static void login_checked(void *ctx, bool ok, const char *hash)
{
    (void)hash;
    struct web_call *c = ctx;
    struct auth *a = &c->web->auth;
    uint64_t now = uv_now(c->web->loop);
    const struct auth_user *u = ok ? auth_user_find(a, c->target) : NULL;
    auth_login_done(a, c->req.client, c->target, u ? AUTH_LOGIN_OK : AUTH_LOGIN_WRONG, now);
    if (!u) {
        log_info("web", "failed login for '%s' from %s", c->target, c->req.client);
        web_respond_error(&c->res, 401, "wrong user or password");
        endpoint_finish(c);
        return;
    }
    struct auth_session *s = auth_session_create(a, u->name, now);
    struct auth_identity who;
    memset(&who, 0, sizeof who);
    snprintf(who.user, sizeof who.user, "%s", u->name);
    who.role = u->role;
    who.must_change = u->factory || u->must_change;
    who.via = AUTH_VIA_SESSION;
    set_session_cookie(c, s->id);
    log_info("web", "%s logged in from %s%s", u->name, c->req.client,
             who.must_change ? " (must change the password)" : "");
    web_respond_json(&c->res, 200, session_json(c, &who, s->csrf));
    endpoint_finish(c);
}

/* Admit a password check for (this client, user) or answer 429 saying why. */
static bool login_admitted(struct web_call *c, const char *user, bool *known)
{
    static const char *const whys[] = {
        [AUTH_REFUSED_PAIR] = "too many failed logins for this user from this address",
        [AUTH_REFUSED_USER] = "too many failed logins for this user from unknown addresses",
        [AUTH_REFUSED_BUDGET] = "too many failed logins on this box",
        [AUTH_REFUSED_ADDRESS] = "a login from this address is in progress",
        [AUTH_REFUSED_SLOTS] = "too many addresses are paused",
    };
    unsigned retry;
    enum auth_admit r = auth_login_admit(&c->web->auth, c->req.client, user, c->now_ms, &retry,
                                         known);
    if (r == AUTH_ADMITTED)
        return true;
    web_response_header(&c->res, "retry-after", "%u", retry);
    web_respond_error(&c->res, 429, "%s; retry in %u s", whys[r], retry);
    return false;
}

static int post_login(struct web_call *c, const char *arg)
{
    (void)arg;
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    if (a->disabled) {
        web_respond_error(&c->res, 400, "login is disabled (--disable-login)");
        return 0;
    }
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *user = endpoint_body_string(c, body, "user", true, &failed);
    const char *password = failed ? NULL : endpoint_body_string(c, body, "password", true, &failed);
    if (failed) {
        cJSON_Delete(body);
        return 0;
    }
    /* Over-long names are counted under their first AUTH_NAME_MAX characters (and never match). */
    snprintf(c->target, sizeof c->target, "%s", user);
    bool known;
    if (!login_admitted(c, c->target, &known)) {
        sodium_memzero((char *)password, strlen(password));
        cJSON_Delete(body);
        return 0;
    }
    int rc = strlen(user) > AUTH_NAME_MAX
                 ? (login_checked(c, false, NULL), 0)
                 : auth_check_login_async(a, user, password, known, login_checked, c);
    sodium_memzero((char *)password, strlen(password));
    cJSON_Delete(body);
    if (rc < 0) {
        auth_login_done(a, c->req.client, c->target, AUTH_LOGIN_ABORTED, c->now_ms);
        web_respond_error(&c->res, 503, "too many logins in progress; retry in a moment");
        return 0;
    }
    return 1; /* login_checked answers (possibly already has) */
}

static int post_logout(struct web_call *c, const char *arg)
{
    (void)arg;
    if (c->who.via == AUTH_VIA_SESSION && c->who.session) {
        log_info("web", "%s logged out", c->who.user);
        auth_session_end(&c->web->auth, c->who.session);
    }
    set_session_cookie(c, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", true);
    web_respond_json(&c->res, 200, o);
    return 0;
}

static int get_session(struct web_call *c, const char *arg)
{
    (void)arg;
    if (endpoint_no_params(c) < 0)
        return 0;
    const char *csrf = c->who.via == AUTH_VIA_SESSION    ? c->who.session->csrf
                       : c->who.via == AUTH_VIA_DISABLED ? c->web->auth.disabled_csrf
                                                         : NULL;
    web_respond_json(&c->res, 200, session_json(c, &c->who, csrf));
    return 0;
}

static void password_hashed(void *ctx, bool ok, const char *hash)
{
    struct web_call *c = ctx;
    struct auth *a = &c->web->auth;
    struct auth_user *u = auth_user_find(a, c->target);
    if (!ok || !u) {
        web_respond_error(&c->res, ok ? 404 : 500, ok ? "the user was removed meanwhile"
                                                      : "password hashing failed");
        endpoint_finish(c);
        return;
    }
    snprintf(u->hash, sizeof u->hash, "%s", hash);
    u->factory = false;
    u->must_change = c->must_change > 0;
    if (c->role >= 0)
        u->role = (enum auth_role)c->role;
    /* Other sessions of this user end; the caller's own (if it is this user's) stays. */
    const struct auth_session *keep = NULL;
    for (unsigned i = 0; i < AUTH_MAX_SESSIONS; i++)
        if (a->sessions[i].in_use && c->session_id[0] &&
            strcmp(a->sessions[i].id, c->session_id) == 0)
            keep = &a->sessions[i];
    auth_sessions_end_user(a, u->name, keep);
    log_info("web", "password of %s changed by %s", u->name, c->who.user);
    cJSON *o = user_json(u);
    cJSON_AddBoolToObject(o, "ok", true);
    web_respond_json(&c->res, 200, o);
    finish_when_saved(c);
}

/* Argon2id runs in the thread pool with a bounded queue: beyond it, a clear 503. */
static void respond_busy(struct web_call *c)
{
    web_respond_error(&c->res, 503, "too many password operations in progress; retry");
}

static void start_hash(struct web_call *c)
{
    int rc = auth_hash_async(&c->web->auth, c->secret, password_hashed, c);
    sodium_memzero(c->secret, strlen(c->secret)); /* the job has its own copy */
    if (rc < 0) {
        respond_busy(c);
        endpoint_finish(c);
    }
}

static void old_password_checked(void *ctx, bool ok, const char *hash)
{
    (void)hash;
    struct web_call *c = ctx;
    auth_login_done(&c->web->auth, c->req.client, c->who.user,
                    ok ? AUTH_LOGIN_OK : AUTH_LOGIN_WRONG, uv_now(c->web->loop));
    if (!ok) {
        web_respond_error(&c->res, 403, "the current password is wrong");
        endpoint_finish(c);
        return;
    }
    start_hash(c);
}

static int post_password(struct web_call *c, const char *arg)
{
    (void)arg;
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    if (c->who.via == AUTH_VIA_DISABLED) {
        web_respond_error(&c->res, 400, "login is disabled (--disable-login)");
        return 0;
    }
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *old = endpoint_body_string(c, body, "old_password", true, &failed);
    const char *fresh = failed ? NULL : endpoint_body_string(c, body, "new_password", true, &failed);
    const char *problem = failed ? NULL : auth_password_problem(fresh);
    if (!failed && !problem && strcmp(old, fresh) == 0)
        problem = "the new password must differ from the current one";
    if (!failed && problem)
        web_respond_bad_param(&c->res, "new_password", problem);
    if (failed || problem) {
        cJSON_Delete(body);
        return 0;
    }
    snprintf(c->target, sizeof c->target, "%s", c->who.user);
    if (c->who.session)
        snprintf(c->session_id, sizeof c->session_id, "%s", c->who.session->id);
    bool known;
    if (!login_admitted(c, c->who.user, &known)) {
        sodium_memzero((char *)old, strlen(old));
        sodium_memzero((char *)fresh, strlen(fresh));
        cJSON_Delete(body);
        return 0;
    }
    c->secret = strdup(fresh);
    c->role = -1;
    c->must_change = 0;
    /* The caller has a session: its check may take the queue's reserved places. */
    int rc = c->secret ? auth_check_login_async(a, c->who.user, old, true, old_password_checked, c)
                       : -1;
    sodium_memzero((char *)old, strlen(old));
    sodium_memzero((char *)fresh, strlen(fresh));
    cJSON_Delete(body);
    if (rc < 0) {
        auth_login_done(a, c->req.client, c->who.user, AUTH_LOGIN_ABORTED, c->now_ms);
        respond_busy(c);
        return 0;
    }
    return 1;
}

/* ---- users (admins) ---- */

static int get_users(struct web_call *c, const char *arg)
{
    (void)arg;
    if (endpoint_no_params(c) < 0)
        return 0;
    struct auth *a = &c->web->auth;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", a->user_count);
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (unsigned i = 0; i < a->user_count; i++)
        cJSON_AddItemToArray(items, user_json(&a->users[i]));
    web_respond_json(&c->res, 200, o);
    return 0;
}

static void user_created(void *ctx, bool ok, const char *hash)
{
    struct web_call *c = ctx;
    struct auth *a = &c->web->auth;
    char err[160];
    if (!ok) {
        web_respond_error(&c->res, 500, "password hashing failed");
    } else if (auth_user_add(a, c->target, (enum auth_role)c->role, hash, c->must_change > 0, err,
                             sizeof err) < 0) {
        web_respond_error(&c->res, 409, "%s", err);
    } else {
        log_info("web", "user %s (%s) created by %s", c->target,
                 auth_role_name((enum auth_role)c->role), c->who.user);
        web_respond_json(&c->res, 201, user_json(auth_user_find(a, c->target)));
        finish_when_saved(c);
        return;
    }
    endpoint_finish(c);
}

/* role and must_change_password members (optional). */
static int body_role_flags(struct web_call *c, cJSON *body, bool *failed)
{
    const char *role = endpoint_body_string(c, body, "role", false, failed);
    enum auth_role r;
    c->role = -1;
    c->must_change = -1;
    if (*failed)
        return -1;
    if (role) {
        if (auth_role_parse(role, &r) < 0) {
            web_respond_bad_param(&c->res, "role", "'role' must be admin or viewer");
            *failed = true;
            return -1;
        }
        c->role = (int)r;
    }
    cJSON *mc = cJSON_GetObjectItem(body, "must_change_password");
    if (mc) {
        if (!cJSON_IsBool(mc)) {
            web_respond_bad_param(&c->res, "must_change_password",
                                  "'must_change_password' must be true or false");
            *failed = true;
            return -1;
        }
        c->must_change = cJSON_IsTrue(mc);
    }
    return 0;
}

static int post_users(struct web_call *c, const char *arg)
{
    (void)arg;
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *name = endpoint_body_string(c, body, "name", true, &failed);
    const char *password = failed ? NULL : endpoint_body_string(c, body, "password", true, &failed);
    if (!failed)
        body_role_flags(c, body, &failed);
    if (failed) {
        cJSON_Delete(body);
        return 0;
    }
    const char *problem = auth_password_problem(password);
    int status = 0;
    if (!auth_name_valid(name)) {
        web_respond_bad_param(&c->res, "name",
                              "a user name is 1 to 32 letters, digits, '.', '_' or '-'");
        status = 400;
    } else if (problem) {
        web_respond_bad_param(&c->res, "password", problem);
        status = 400;
    } else if (auth_user_find(a, name)) {
        web_respond_error(&c->res, 409, "user '%s' exists", name);
        status = 409;
    } else if (a->user_count >= AUTH_MAX_USERS) {
        web_respond_error(&c->res, 409, "at most %d users", AUTH_MAX_USERS);
        status = 409;
    }
    if (status) {
        cJSON_Delete(body);
        return 0;
    }
    snprintf(c->target, sizeof c->target, "%s", name);
    if (c->role < 0)
        c->role = AUTH_VIEWER;
    int rc = auth_hash_async(a, password, user_created, c);
    sodium_memzero((char *)password, strlen(password));
    cJSON_Delete(body);
    if (rc < 0) {
        respond_busy(c);
        return 0;
    }
    return 1;
}

static int put_user(struct web_call *c, const char *name)
{
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    struct auth_user *u = auth_user_find(a, name);
    if (!u) {
        web_respond_error(&c->res, 404, "no user '%.40s'", name);
        return 0;
    }
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *password = endpoint_body_string(c, body, "password", false, &failed);
    if (!failed)
        body_role_flags(c, body, &failed);
    const char *problem = !failed && password ? auth_password_problem(password) : NULL;
    if (problem)
        web_respond_bad_param(&c->res, "password", problem);
    else if (!failed && c->role == AUTH_VIEWER && u->role == AUTH_ADMIN &&
             auth_admin_count(a) == 1) {
        web_respond_error(&c->res, 409, "'%s' is the last admin", u->name);
        problem = "last admin";
    } else if (!failed && u->factory && !password) {
        web_respond_bad_param(&c->res, "password", "the factory admin needs a new password");
        problem = "factory";
    }
    if (failed || problem) {
        cJSON_Delete(body);
        return 0;
    }
    if (password) {
        snprintf(c->target, sizeof c->target, "%s", u->name);
        c->secret = strdup(password);
        if (c->must_change < 0)
            c->must_change = u->must_change;
        sodium_memzero((char *)password, strlen(password));
        cJSON_Delete(body);
        if (!c->secret) {
            web_respond_error(&c->res, 500, "out of memory");
            return 0;
        }
        start_hash(c);
        return 1;
    }
    cJSON_Delete(body);
    if (c->role >= 0)
        u->role = (enum auth_role)c->role;
    if (c->must_change >= 0)
        u->must_change = c->must_change;
    web_respond_json(&c->res, 200, user_json(u));
    return finish_when_saved(c);
}

static int delete_user(struct web_call *c, const char *name)
{
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    struct auth_user *u = auth_user_find(a, name);
    if (!u) {
        web_respond_error(&c->res, 404, "no user '%.40s'", name);
        return 0;
    }
    if (strcmp(u->name, c->who.user) == 0) {
        web_respond_error(&c->res, 409, "you cannot delete yourself");
        return 0;
    }
    if (u->role == AUTH_ADMIN && auth_admin_count(a) == 1) {
        web_respond_error(&c->res, 409, "'%s' is the last admin", u->name);
        return 0;
    }
    log_info("web", "user %s deleted by %s", u->name, c->who.user);
    auth_user_delete(a, name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", true);
    web_respond_json(&c->res, 200, o);
    return finish_when_saved(c);
}

/* ---- API tokens ---- */

static int get_tokens(struct web_call *c, const char *arg)
{
    (void)arg;
    if (endpoint_no_params(c) < 0)
        return 0;
    struct auth *a = &c->web->auth;
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_CreateArray();
    int n = 0;
    for (unsigned i = 0; i < a->token_count; i++) {
        const struct auth_token *t = &a->tokens[i];
        if (c->who.role != AUTH_ADMIN && strcmp(t->user, c->who.user) != 0)
            continue;
        cJSON *ti = cJSON_CreateObject();
        cJSON_AddStringToObject(ti, "id", t->id);
        cJSON_AddStringToObject(ti, "name", t->name);
        cJSON_AddStringToObject(ti, "user", t->user);
        cJSON_AddNumberToObject(ti, "created", (double)t->created);
        cJSON_AddItemToArray(items, ti);
        n++;
    }
    cJSON_AddNumberToObject(o, "total", n);
    cJSON_AddItemToObject(o, "items", items);
    web_respond_json(&c->res, 200, o);
    return 0;
}

static int post_tokens(struct web_call *c, const char *arg)
{
    (void)arg;
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    if (c->who.via == AUTH_VIA_DISABLED) {
        web_respond_error(&c->res, 400, "login is disabled (--disable-login): no tokens needed");
        return 0;
    }
    cJSON *body = endpoint_body_object(c);
    if (!body)
        return 0;
    bool failed = false;
    const char *name = endpoint_body_string(c, body, "name", true, &failed);
    char token[128], err[160];
    if (!failed && auth_token_create(a, c->who.user, name, token, sizeof token, err, sizeof err) < 0)
        web_respond_bad_param(&c->res, "name", err);
    else if (!failed) {
        const struct auth_token *t = &a->tokens[a->token_count - 1];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", t->id);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "user", t->user);
        cJSON_AddStringToObject(o, "token", token);
        web_respond_json(&c->res, 201, o);
        log_info("web", "API token %s (%s) created by %s", t->id, t->name, c->who.user);
        sodium_memzero(token, sizeof token);
        cJSON_Delete(body);
        return finish_when_saved(c);
    }
    cJSON_Delete(body);
    return 0;
}

static int delete_token(struct web_call *c, const char *id)
{
    struct auth *a = &c->web->auth;
    if (endpoint_no_params(c) < 0)
        return 0;
    for (unsigned i = 0; i < a->token_count; i++) {
        if (strcmp(a->tokens[i].id, id) != 0)
            continue;
        if (c->who.role != AUTH_ADMIN && strcmp(a->tokens[i].user, c->who.user) != 0)
            break; /* someone else's: as if it did not exist */
        auth_token_delete(a, id);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "ok", true);
        web_respond_json(&c->res, 200, o);
        return finish_when_saved(c);
    }
    web_respond_error(&c->res, 404, "no token '%.20s'", id);
    return 0;
}

const struct endpoint account_endpoints[] = {
    {"POST", API "/login", false, PUBLIC, post_login},
    {"POST", API "/logout", false, LOGGED_IN, post_logout},
    {"GET", API "/session", false, LOGGED_IN, get_session},
    {"POST", API "/password", false, LOGGED_IN, post_password},
    {"GET", API "/users", false, ADMIN, get_users},
    {"POST", API "/users", false, ADMIN, post_users},
    {"PUT", API "/users", true, ADMIN, put_user},
    {"DELETE", API "/users", true, ADMIN, delete_user},
    {"GET", API "/tokens", false, VIEWER, get_tokens},
    {"POST", API "/tokens", false, VIEWER, post_tokens},
    {"DELETE", API "/tokens", true, VIEWER, delete_token},
};
const size_t account_endpoints_count = sizeof account_endpoints / sizeof account_endpoints[0];
