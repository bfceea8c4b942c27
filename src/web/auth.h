/*
 * Login: users (admin, viewer) in DATA_DIR/users.json with libsodium Argon2id hashes, sessions in
 * memory (cookie + CSRF token, logged out after inactivity), API tokens for scripts (only a
 * BLAKE2b hash of the secret is stored), and per-address rate limiting of login attempts.
 *
 * Without a users file the box is in factory state: one user admin whose password "admin" only
 * opens a session that can do nothing but change it.
 *
 * Password hashing is slow by design (Argon2id, AUTH_PWHASH_MEMLIMIT of memory): it runs in
 * libuv's thread pool, one hash at a time (a 512 MB box cannot afford four at once), with a short
 * queue. Saving the users file is done in the pool as well. Everything else is loop-thread only.
 */
#ifndef TAPBOX_WEB_AUTH_H
#define TAPBOX_WEB_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>
#include <uv.h>

#include "web/http.h"

#define AUTH_NAME_MAX 32
#define AUTH_MAX_USERS 64
#define AUTH_MAX_TOKENS 64
#define AUTH_MAX_SESSIONS 64
#define AUTH_LIMIT_SLOTS 128
#define AUTH_LOGIN_FAILURES 5          /* failed logins per (address, user) before a pause */
#define AUTH_LOGIN_WINDOW_MS 60000      /* ...counted over this window; the pause lasts as long */
#define AUTH_USER_FAILURES 20           /* failures per user from addresses it never logged in
                                         * from, before those addresses pause for that user */
#define AUTH_LOGIN_BUDGET 120           /* checks per window from such addresses, all users */
#define AUTH_ADDRESS_JOBS 1             /* logins of one address in progress at once */
#define AUTH_KNOWN_SLOTS 64             /* (address, user) pairs that logged in: the admin's
                                         * path in while strangers are paused */
#define AUTH_JOB_QUEUE 8                /* password hashes waiting for the pool */
#define AUTH_JOB_RESERVED 2             /* ...of which kept for known (address, user) pairs */
#define AUTH_PWHASH_OPSLIMIT 2          /* OWASP's Argon2id floor: t=2, m=19 MiB, p=1 */
#define AUTH_PWHASH_MEMLIMIT (19u << 20)
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 128
#define AUTH_FACTORY_USER "admin"
#define AUTH_FACTORY_PASSWORD "admin"
#define AUTH_SESSION_COOKIE "tapbox_session"
#define AUTH_ID_HEX 64                  /* session ids and CSRF tokens: 32 random bytes */

enum auth_role { AUTH_VIEWER = 0, AUTH_ADMIN = 1 };
const char *auth_role_name(enum auth_role r);
int auth_role_parse(const char *s, enum auth_role *out);

struct auth_user {
    char name[AUTH_NAME_MAX + 1];
    enum auth_role role;
    char hash[crypto_pwhash_STRBYTES]; /* "" for the factory admin */
    bool factory;                      /* admin/admin: only the password change is allowed */
    bool must_change;                  /* an admin asked for a new password at next login */
    uint64_t created;                  /* Unix seconds */
};

struct auth_token {
    char id[17];                       /* 16 hex digits, public */
    char name[AUTH_NAME_MAX + 1];
    char user[AUTH_NAME_MAX + 1];
    uint8_t hash[32];                  /* BLAKE2b of the secret */
    uint64_t created;
};

struct auth_session {
    bool in_use;
    char id[AUTH_ID_HEX + 1];
    char csrf[AUTH_ID_HEX + 1];
    char user[AUTH_NAME_MAX + 1];
    uint64_t created_ms, last_ms;      /* loop time */
};

enum auth_via { AUTH_VIA_NONE, AUTH_VIA_SESSION, AUTH_VIA_TOKEN, AUTH_VIA_DISABLED };

struct auth_identity {
    char user[AUTH_NAME_MAX + 1];
    enum auth_role role;
    bool must_change;
    enum auth_via via;
    struct auth_session *session;      /* AUTH_VIA_SESSION */
};

/* One (address, user) pair's login failures. */
struct auth_limit {
    char client[64];
    char user[AUTH_NAME_MAX + 1];
    unsigned failures;
    unsigned pending;                  /* checks in progress: they count against the burst */
    uint64_t window_start_ms;
    uint64_t blocked_until_ms;
    uint64_t last_ms;
};

/* An (address, user) pair that logged in: it keeps its way in while the user is paused. */
struct auth_known {
    char client[64];
    char user[AUTH_NAME_MAX + 1];
    uint64_t last_ms;
};

/* Failures against one existing user from addresses it never logged in from. */
struct auth_user_limit {
    unsigned failures;
    uint64_t window_start_ms;
    uint64_t blocked_until_ms;
};

struct auth_login_stats {
    uint64_t failed;                   /* wrong user or password */
    uint64_t limited;                  /* refused (429): the (address, user) pair is paused */
    uint64_t user_limited;             /* refused (429): the user is paused for strangers */
    uint64_t budget_refused;           /* refused (429): the global budget was spent */
    uint64_t address_busy;             /* refused (429): that address has a login in progress */
    uint64_t slots_full;               /* refused (429): every pair slot holds a pause */
    uint64_t busy;                     /* refused (503): the hash queue was full */
};

struct auth_job;
struct auth_save_waiter;

struct auth {
    uv_loop_t *loop;
    char *users_path;
    char *data_dir;
    bool disabled;                     /* --disable-login: everyone is admin */
    uint64_t session_timeout_ms;
    struct auth_user users[AUTH_MAX_USERS];
    unsigned user_count;
    struct auth_token tokens[AUTH_MAX_TOKENS];
    unsigned token_count;
    struct auth_session sessions[AUTH_MAX_SESSIONS];
    struct auth_limit limits[AUTH_LIMIT_SLOTS];
    struct auth_known known[AUTH_KNOWN_SLOTS];
    struct auth_user_limit user_limits[AUTH_MAX_USERS]; /* parallel to users[] */
    unsigned budget_used;              /* checks from unknown pairs in this window */
    uint64_t budget_window_ms;
    char disabled_csrf[AUTH_ID_HEX + 1];
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified for unknown users (same timing) */
    struct auth_job *job_head, *job_tail;
    unsigned jobs_waiting;
    bool job_running;
    bool save_running, save_again;
    uint64_t save_generation;          /* bumped by every change to save */
    struct auth_save_waiter *save_waiters;
    uint64_t saves_failed;
    struct auth_login_stats logins;
};

/* Load DATA_DIR/users.json (absent: factory state). A file that cannot be read or parsed is an
 * error: falling back to admin/admin would open the box. Nothing is queued yet: auth_fini may
 * follow at once. */
int auth_init(struct auth *a, uv_loop_t *loop, const char *data_dir, unsigned session_timeout_s,
              bool disabled, char *err, size_t errsize);
/* The first work in the thread pool: the hash that unknown users are checked against. */
void auth_start(struct auth *a);
void auth_fini(struct auth *a);

/* Who sent this request: a Bearer token, the session cookie, or anyone with --disable-login.
 * Returns 0, or -1 with why ("login required", "session expired", "bad API token"). A session's
 * inactivity clock restarts unless background is set (polling by an open page). */
int auth_identify(struct auth *a, const struct web_request *req, bool background, uint64_t now_ms,
                  struct auth_identity *who, const char **why);
/* A state-changing request carries the session's CSRF token (tokens need none). */
bool auth_csrf_ok(const struct auth *a, const struct auth_identity *who, const char *header);

struct auth_user *auth_user_find(struct auth *a, const char *name);
bool auth_name_valid(const char *name);
/* NULL when the password is acceptable, else why not. */
const char *auth_password_problem(const char *password);
/* Add a user with a ready hash; -1 (err) when the name is taken or the table full. */
int auth_user_add(struct auth *a, const char *name, enum auth_role role, const char *hash,
                  bool must_change, char *err, size_t errsize);
/* Remove a user, its sessions and tokens. */
int auth_user_delete(struct auth *a, const char *name);
unsigned auth_admin_count(const struct auth *a);

struct auth_session *auth_session_create(struct auth *a, const char *user, uint64_t now_ms);
void auth_session_end(struct auth *a, struct auth_session *s);
/* End every session of user except keep (after a password change or deletion). */
void auth_sessions_end_user(struct auth *a, const char *user, const struct auth_session *keep);
unsigned auth_session_count(struct auth *a, uint64_t now_ms);

/* A new token for user; the secret text ("tbx_ID_SECRET", shown once) goes to out. */
int auth_token_create(struct auth *a, const char *user, const char *name, char *out,
                      size_t outsize, char *err, size_t errsize);
int auth_token_delete(struct auth *a, const char *id);

/* A password check by client for user: admitted, or refused with why (retry_s: seconds to wait).
 * An admitted check holds a place until auth_login_done (pending checks count as failures, so a
 * burst gets no more guesses than a sequence). *known says the pair has logged in before: its
 * password job may use the queue's reserved places. */
enum auth_admit {
    AUTH_ADMITTED,
    AUTH_REFUSED_PAIR,                 /* this (address, user) failed too often */
    AUTH_REFUSED_USER,                 /* this user failed too often from strangers */
    AUTH_REFUSED_BUDGET,               /* strangers spent the box's budget */
    AUTH_REFUSED_ADDRESS,              /* this address has a check in progress */
    AUTH_REFUSED_SLOTS,                /* no slot to count this pair in */
};
enum auth_admit auth_login_admit(struct auth *a, const char *client, const char *user,
                                 uint64_t now_ms, unsigned *retry_s, bool *known);
enum auth_login_outcome { AUTH_LOGIN_OK, AUTH_LOGIN_WRONG, AUTH_LOGIN_ABORTED };
/* The end of an admitted check: a success clears only this pair's failures and remembers it. */
void auth_login_done(struct auth *a, const char *client, const char *user,
                     enum auth_login_outcome outcome, uint64_t now_ms);

/* Off-loop password work. cb runs on the loop: ok, and for a hash the new hash string.
 * Returns -1 when the queue is full (answer 503). password is copied and wiped after use. */
typedef void (*auth_job_cb)(void *ctx, bool ok, const char *hash);
int auth_hash_async(struct auth *a, const char *password, auth_job_cb cb, void *ctx);
int auth_verify_async(struct auth *a, const char *hash, const char *password, bool reserved,
                      auth_job_cb cb, void *ctx);
/* Check a login: the factory password at once, a real hash in the pool, an unknown user against
 * a dummy hash (same delay). cb's ok says whether user/password match. -1: queue full. */
int auth_check_login_async(struct auth *a, const char *user, const char *password, bool known,
                           auth_job_cb cb, void *ctx);

/* Write users.json in the pool (0600, through a temporary file, fsync and rename). */
void auth_save(struct auth *a);
/* auth_save, and cb(ctx, ok) on the loop once a write holding the state as it is now is durable
 * (ok false: that write failed). cb may run before this returns (a write that cannot start). */
typedef void (*auth_saved_cb)(void *ctx, bool ok);
void auth_save_durable(struct auth *a, auth_saved_cb cb, void *ctx);

#endif
