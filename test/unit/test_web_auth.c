/* Login and the REST dispatch: sessions, inactivity, CSRF, roles, tokens, rate limits, the
 * forced change of the factory password, the users file, and the status codes of bad requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_web.h"

#define GET(t, p, q) web_test_call(t, &(struct web_test_req){.path = p, .query = q})
#define POST(t, p, b) web_test_call(t, &(struct web_test_req){.method = "POST", .path = p, .body = b})

static const char *error_text(void)
{
    cJSON *e = cJSON_GetObjectItem(web_test_json(), "error");
    return cJSON_IsString(e) ? e->valuestring : "";
}

TEST(web_auth_names_passwords_roles)
{
    CHECK(auth_name_valid("admin") && auth_name_valid("a.b-c_9"));
    CHECK(!auth_name_valid("") && !auth_name_valid("a b") && !auth_name_valid("x/y"));
    CHECK(!auth_name_valid("123456789012345678901234567890123")); /* 33 */
    CHECK(auth_password_problem("short") != NULL);
    CHECK(auth_password_problem("admin") != NULL);
    CHECK(auth_password_problem("a good long one") == NULL);
    enum auth_role r;
    CHECK(auth_role_parse("viewer", &r) == 0 && r == AUTH_VIEWER);
    CHECK(auth_role_parse("root", &r) < 0);
}

static bool try_login(struct auth *a, const char *client, const char *user, uint64_t now,
                      enum auth_login_outcome outcome)
{
    unsigned retry;
    bool known;
    if (auth_login_admit(a, client, user, now, &retry, &known) != AUTH_ADMITTED)
        return false;
    auth_login_done(a, client, user, outcome, now);
    return true;
}

TEST(web_auth_rate_limit_per_address_and_user)
{
    static struct auth a;
    uv_loop_t loop;
    char err[200], dir[] = "/tmp/tapbox-auth.XXXXXX";
    uv_loop_init(&loop);
    CHECK(mkdtemp(dir) != NULL);
    CHECK(auth_init(&a, &loop, dir, 60, false, err, sizeof err) == 0);
    auth_start(&a);
    CHECK(auth_user_add(&a, "viewer1", AUTH_VIEWER, "$argon2id$x", false, err, sizeof err) == 0);
    unsigned retry;
    bool known;
    for (int i = 0; i < AUTH_LOGIN_FAILURES; i++)
        CHECK(try_login(&a, "198.51.100.1", "admin", 1000 + (uint64_t)i, AUTH_LOGIN_WRONG));
    CHECK(auth_login_admit(&a, "198.51.100.1", "admin", 2000, &retry, &known) ==
              AUTH_REFUSED_PAIR && retry == 60);
    CHECK(a.logins.limited == 1 && a.logins.failed == AUTH_LOGIN_FAILURES);
    CHECK(try_login(&a, "198.51.100.2", "admin", 2000, AUTH_LOGIN_ABORTED)); /* another address */
    CHECK(try_login(&a, "198.51.100.1", "admin", 1004 + AUTH_LOGIN_WINDOW_MS, AUTH_LOGIN_ABORTED));
    /* failures spread over more than the window never block */
    for (int i = 0; i < 10; i++)
        CHECK(try_login(&a, "198.51.100.3", "admin",
                        500000 + (uint64_t)i * (AUTH_LOGIN_WINDOW_MS / 3), AUTH_LOGIN_WRONG));

    /* a success clears only its own pair: the viewer's guesses at admin stay counted */
    uint64_t t = 10000000;
    for (int i = 0; i < AUTH_LOGIN_FAILURES - 1; i++)
        CHECK(try_login(&a, "198.51.100.4", "admin", t, AUTH_LOGIN_WRONG));
    CHECK(try_login(&a, "198.51.100.4", "viewer1", t, AUTH_LOGIN_OK));
    CHECK(try_login(&a, "198.51.100.4", "admin", t, AUTH_LOGIN_WRONG));
    CHECK(!try_login(&a, "198.51.100.4", "admin", t, AUTH_LOGIN_WRONG));

    /* a burst: checks in progress count, so no more than the limit are ever admitted */
    t += 10 * AUTH_LOGIN_WINDOW_MS;
    unsigned admitted = 0;
    for (int round = 0; round < 4; round++) {
        unsigned now_in = 0;
        for (int i = 0; i < 9; i++)
            if (auth_login_admit(&a, "198.51.100.5", "admin", t, &retry, &known) == AUTH_ADMITTED)
                now_in++;
        CHECK(now_in <= AUTH_ADDRESS_JOBS);
        for (unsigned i = 0; i < now_in; i++)
            auth_login_done(&a, "198.51.100.5", "admin", AUTH_LOGIN_WRONG, t);
        admitted += now_in;
    }
    CHECK(admitted == AUTH_LOGIN_FAILURES - 1 || admitted == AUTH_LOGIN_FAILURES);
    CHECK(admitted <= AUTH_LOGIN_FAILURES);

    /* a pause survives failures from many other addresses (no eviction of a pause) */
    t += 10 * AUTH_LOGIN_WINDOW_MS;
    for (int i = 0; i < AUTH_LOGIN_FAILURES; i++)
        try_login(&a, "198.51.100.6", "admin", t, AUTH_LOGIN_WRONG);
    for (int i = 0; i < 3 * AUTH_LIMIT_SLOTS; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "203.0.113.%d:%d", i % 250, i);
        a.budget_used = 0; /* the budget is checked below: here every slot is wanted */
        try_login(&a, addr, "nobody", t + 1 + (uint64_t)i, AUTH_LOGIN_WRONG);
    }
    CHECK(auth_login_admit(&a, "198.51.100.6", "admin", t + 5000, &retry, &known) ==
          AUTH_REFUSED_PAIR);

    /* strangers pause a user after AUTH_USER_FAILURES; a pair that logged in keeps its way */
    t += 10 * AUTH_LOGIN_WINDOW_MS;
    CHECK(try_login(&a, "192.0.2.1", "viewer1", t, AUTH_LOGIN_OK));
    for (int i = 0; i < AUTH_USER_FAILURES; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "192.0.2.%d", 10 + i);
        CHECK(try_login(&a, addr, "viewer1", t, AUTH_LOGIN_WRONG));
    }
    CHECK(auth_login_admit(&a, "192.0.2.200", "viewer1", t, &retry, &known) == AUTH_REFUSED_USER);
    CHECK(auth_login_admit(&a, "192.0.2.1", "viewer1", t, &retry, &known) == AUTH_ADMITTED &&
          known);
    auth_login_done(&a, "192.0.2.1", "viewer1", AUTH_LOGIN_OK, t);
    /* and the box's budget for strangers ends too, while the known pair stays admitted */
    unsigned refused_budget = 0;
    uint64_t refused_before = a.logins.budget_refused;
    for (int i = 0; i < 2 * AUTH_LOGIN_BUDGET; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "10.9.%d.%d", i / 200, i % 200);
        if (auth_login_admit(&a, addr, "guess", t, &retry, &known) == AUTH_REFUSED_BUDGET)
            refused_budget++;
        else
            auth_login_done(&a, addr, "guess", AUTH_LOGIN_ABORTED, t);
    }
    CHECK(refused_budget > 0 && a.logins.budget_refused - refused_before == refused_budget);
    CHECK(try_login(&a, "192.0.2.1", "viewer1", t, AUTH_LOGIN_OK));
    uv_run(&loop, UV_RUN_DEFAULT);
    auth_fini(&a);
    uv_loop_close(&loop);
    rmdir(dir);
}

TEST(web_auth_sessions_expire_and_tokens_check)
{
    static struct auth a;
    uv_loop_t loop;
    char err[200], dir[] = "/tmp/tapbox-auth.XXXXXX";
    uv_loop_init(&loop);
    CHECK(mkdtemp(dir) != NULL);
    CHECK(auth_init(&a, &loop, dir, 60, false, err, sizeof err) == 0);
    auth_start(&a);
    CHECK(a.user_count == 1 && a.users[0].factory); /* no file: factory state */
    CHECK(auth_user_add(&a, "ann", AUTH_VIEWER, "$argon2id$x", false, err, sizeof err) == 0);
    CHECK(auth_user_add(&a, "ann", AUTH_VIEWER, "$argon2id$x", false, err, sizeof err) < 0);

    struct auth_session *s = auth_session_create(&a, "ann", 1000);
    char cookie[200];
    snprintf(cookie, sizeof cookie, "x=1; %s=%s", AUTH_SESSION_COOKIE, s->id);
    struct web_request req = {.cookie = cookie};
    struct auth_identity who;
    const char *why = NULL;
    CHECK(auth_identify(&a, &req, false, 30000, &who, &why) == 0);
    CHECK(strcmp(who.user, "ann") == 0 && who.role == AUTH_VIEWER && who.via == AUTH_VIA_SESSION);
    CHECK(auth_csrf_ok(&a, &who, s->csrf));
    CHECK(!auth_csrf_ok(&a, &who, NULL) && !auth_csrf_ok(&a, &who, "00"));
    /* polling does not refresh the inactivity clock; a real request does */
    CHECK(auth_identify(&a, &req, true, 80000, &who, &why) == 0);
    why = "";
    CHECK(auth_identify(&a, &req, false, 90001, &who, &why) < 0); /* idle 60 s since 30 s */
    CHECK(strstr(why, "expired") != NULL);
    why = "";
    CHECK(auth_identify(&a, &req, false, 90002, &who, &why) < 0); /* and it is gone */
    CHECK(strstr(why, "login required") != NULL);

    req.cookie = "tapbox_session=0000";
    CHECK(auth_identify(&a, &req, false, 1, &who, &why) < 0);

    char token[128];
    CHECK(auth_token_create(&a, "ann", "grafana", token, sizeof token, err, sizeof err) == 0);
    char bearer[160];
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    struct web_request treq = {.authorization = bearer};
    CHECK(auth_identify(&a, &treq, false, 1, &who, &why) == 0 && who.via == AUTH_VIA_TOKEN);
    CHECK(auth_csrf_ok(&a, &who, NULL)); /* tokens need no CSRF header */
    bearer[strlen(bearer) - 1] ^= 1;
    CHECK(auth_identify(&a, &treq, false, 1, &who, &why) < 0);
    treq.authorization = "Basic YWRtaW46YWRtaW4=";
    CHECK(auth_identify(&a, &treq, false, 1, &who, &why) < 0);
    /* deleting the user takes its token and sessions */
    bearer[strlen(bearer) - 1] ^= 1;
    treq.authorization = bearer;
    CHECK(auth_user_delete(&a, "ann") == 0);
    CHECK(auth_identify(&a, &treq, false, 1, &who, &why) < 0);
    CHECK(a.token_count == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    auth_fini(&a);
    uv_loop_close(&loop);
    rmdir(dir);
}

TEST(web_auth_users_file_refuses_garbage)
{
    static struct auth a;
    uv_loop_t loop;
    char err[300], dir[] = "/tmp/tapbox-auth.XXXXXX", path[100];
    uv_loop_init(&loop);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/users.json", dir);
    const char *bad[] = {"not json", "{\"users\":{}}",
                         "{\"users\":[{\"name\":\"a\",\"role\":\"root\",\"hash\":\"$argon2id$\"}]}",
                         "{\"users\":[{\"name\":\"a\",\"role\":\"admin\",\"hash\":\"$1$md5\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        CHECK(auth_init(&a, &loop, dir, 60, false, err, sizeof err) < 0);
        CHECK(strstr(err, "users.json") != NULL);
        auth_fini(&a);
    }
    unlink(path);
    uv_loop_close(&loop);
    rmdir(dir);
}

TEST(web_api_factory_login_forces_password_change)
{
    static struct web_test t;
    if (web_test_start(&t, 10, false, NULL) < 0)
        return;
    CHECK(GET(&t, "/api/v1/status", "") == 401);
    CHECK(strstr(error_text(), "login required") != NULL);
    CHECK(web_test_login(&t, "admin", "wrong") == 401);
    CHECK(web_test_login(&t, "nobody", "whatever1") == 401);
    CHECK(web_test_login(&t, "admin", "admin") == 200);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(web_test_json(), "must_change_password")));
    const char *cookie = web_test_header("set-cookie");
    CHECK(cookie && strstr(cookie, "HttpOnly") && strstr(cookie, "SameSite=Strict"));
    CHECK(cookie && !strstr(cookie, "Secure")); /* plain HTTP */
    /* only the password change, the session and logout are allowed now */
    CHECK(GET(&t, "/api/v1/hosts", "") == 403);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(web_test_json(), "password_change_required")));
    CHECK(GET(&t, "/api/v1/session", "") == 200);
    CHECK(POST(&t, "/api/v1/tokens", "{\"name\":\"x\"}") == 403);
    /* CSRF: a state change without the token is refused */
    CHECK(web_test_call(&t, &(struct web_test_req){
              .method = "POST", .path = "/api/v1/password", .csrf = "",
              .body = "{\"old_password\":\"admin\",\"new_password\":\"n3w-password\"}"}) == 403);
    CHECK(strstr(error_text(), "CSRF") != NULL);
    CHECK(POST(&t, "/api/v1/password", "{\"old_password\":\"admin\",\"new_password\":\"admin\"}") ==
          400);
    CHECK(POST(&t, "/api/v1/password", "{\"old_password\":\"admin\",\"new_password\":\"short\"}") ==
          400);
    CHECK(strcmp(cJSON_GetObjectItem(web_test_json(), "parameter")->valuestring, "new_password") ==
          0);
    CHECK(POST(&t, "/api/v1/password",
               "{\"old_password\":\"nope\",\"new_password\":\"n3w-password\"}") == 403);
    CHECK(POST(&t, "/api/v1/password",
               "{\"old_password\":\"admin\",\"new_password\":\"n3w-password\"}") == 200);
    CHECK(GET(&t, "/api/v1/hosts", "limit=3") == 200); /* the same session goes on */
    CHECK(cJSON_GetObjectItem(web_test_json(), "total")->valueint == 11);
    /* the hash is stored, never the password */
    uv_run(&t.loop, UV_RUN_NOWAIT);
    char path[128];
    snprintf(path, sizeof path, "%s/users.json", t.dir);
    for (int i = 0; i < 200 && access(path, R_OK) != 0; i++)
        uv_run(&t.loop, UV_RUN_ONCE);
    FILE *f = fopen(path, "r");
    char text[4096] = "";
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK(strstr(text, "$argon2id$") != NULL && strstr(text, "n3w-password") == NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
    /* admin/admin no longer works; the new password does */
    t.cookie[0] = t.csrf[0] = '\0';
    CHECK(web_test_login(&t, "admin", "admin") == 401);
    CHECK(web_test_login(&t, "admin", "n3w-password") == 200);
    CHECK(!cJSON_IsTrue(cJSON_GetObjectItem(web_test_json(), "must_change_password")));
    CHECK(POST(&t, "/api/v1/logout", "{}") == 200);
    CHECK(GET(&t, "/api/v1/status", "") == 401);
    web_test_finish(&t);
}

TEST(web_api_roles_tokens_and_users)
{
    static struct web_test t;
    if (web_test_start(&t, 3, false, NULL) < 0)
        return;
    CHECK(web_test_login(&t, "admin", "admin") == 200);
    CHECK(POST(&t, "/api/v1/password", "{\"old_password\":\"admin\",\"new_password\":\"adm1n-pass\"}") ==
          200);
    CHECK(POST(&t, "/api/v1/users", "{\"name\":\"vic\",\"password\":\"viewer-pass\",\"role\":\"viewer\"}") ==
          201);
    CHECK(POST(&t, "/api/v1/users", "{\"name\":\"vic\",\"password\":\"viewer-pass\"}") == 409);
    CHECK(POST(&t, "/api/v1/users", "{\"name\":\"b d\",\"password\":\"viewer-pass\"}") == 400);
    CHECK(POST(&t, "/api/v1/users", "{\"name\":\"x\",\"password\":\"viewer-pass\",\"role\":\"god\"}") ==
          400);
    CHECK(strcmp(cJSON_GetObjectItem(web_test_json(), "parameter")->valuestring, "role") == 0);
    CHECK(GET(&t, "/api/v1/users", "") == 200);
    CHECK(cJSON_GetObjectItem(web_test_json(), "total")->valueint == 2);
    CHECK(strstr(web_test_body(), "hash") == NULL);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "DELETE",
                                                    .path = "/api/v1/users/admin"}) == 409);

    /* an admin token works without cookie or CSRF */
    CHECK(POST(&t, "/api/v1/tokens", "{\"name\":\"prometheus\"}") == 201);
    char bearer[200];
    snprintf(bearer, sizeof bearer, "Bearer %s",
             cJSON_GetObjectItem(web_test_json(), "token")->valuestring);
    CHECK(web_test_call(&t, &(struct web_test_req){.path = "/metrics", .cookie = "",
                                                    .authorization = bearer}) == 200);
    CHECK(strstr(web_test_body(), "tapbox_flows ") != NULL);
    CHECK(web_test_call(&t, &(struct web_test_req){.path = "/metrics", .cookie = "",
                                                    .authorization = "Bearer tbx_nope"}) == 401);

    /* a viewer reads, but is no admin */
    char admin_cookie[128], admin_csrf[80];
    strcpy(admin_cookie, t.cookie);
    strcpy(admin_csrf, t.csrf);
    CHECK(web_test_login(&t, "vic", "viewer-pass") == 200);
    CHECK(GET(&t, "/api/v1/flows", "limit=1") == 200);
    CHECK(GET(&t, "/api/v1/users", "") == 403);
    CHECK(strstr(error_text(), "admins only") != NULL);
    CHECK(GET(&t, "/api/v1/pcap", "duration=1") == 403);
    CHECK(POST(&t, "/api/v1/users", "{\"name\":\"z\",\"password\":\"zzzzzzzzzz\"}") == 403);
    CHECK(GET(&t, "/api/v1/tokens", "") == 200);
    CHECK(cJSON_GetObjectItem(web_test_json(), "total")->valueint == 0); /* not the admin's */

    /* the admin demotes... the last admin cannot be demoted; vic can be deleted */
    strcpy(t.cookie, admin_cookie);
    strcpy(t.csrf, admin_csrf);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "PUT", .path = "/api/v1/users/admin",
                                                    .body = "{\"role\":\"viewer\"}"}) == 409);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "PUT", .path = "/api/v1/users/vic",
                                                    .body = "{\"role\":\"admin\"}"}) == 200);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "DELETE",
                                                    .path = "/api/v1/users/vic"}) == 200);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "DELETE",
                                                    .path = "/api/v1/users/vic"}) == 404);
    web_test_finish(&t);
}

TEST(web_api_bad_requests_get_the_right_status)
{
    static struct web_test t;
    if (web_test_start(&t, 3, true, NULL) < 0) /* --disable-login */
        return;
    CHECK(GET(&t, "/api/v1/status", "") == 200);
    CHECK(GET(&t, "/api/v1/nothing", "") == 404);
    CHECK(GET(&t, "/api/v2/status", "") == 404);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "DELETE", .path = "/api/v1/hosts"}) ==
          405);
    CHECK(web_test_header("allow") && strcmp(web_test_header("allow"), "GET") == 0);
    CHECK(GET(&t, "/api/v1/hosts", "limit=abc") == 400);
    CHECK(strcmp(cJSON_GetObjectItem(web_test_json(), "parameter")->valuestring, "limit") == 0);
    CHECK(GET(&t, "/api/v1/hosts", "offset=%zz") == 400);
    CHECK(GET(&t, "/api/v1/hosts/10.0.0.1", "") == 200);
    CHECK(GET(&t, "/api/v1/hosts/10.0.0.99", "") == 404);
    CHECK(GET(&t, "/api/v1/hosts/10%2E0.0.1", "") == 200);
    CHECK(GET(&t, "/api/v1/hosts/2001%3Adb8%3A%3A1", "") == 404); /* decoded, then unknown */
    CHECK(GET(&t, "/api/v1/hosts/1%zz", "") == 400);
    CHECK(GET(&t, "/api/v1/hosts/10.0.0.1/x", "") == 404);
    CHECK(GET(&t, "/api/v1/hosts/", "") == 200); /* the list, trailing slash */
    CHECK(GET(&t, "/api/v1/series", "since=x") == 400);
    CHECK(GET(&t, "/api/v1/series", "") == 200);
    CHECK(GET(&t, "/api/v1/l7", "") == 200);
    CHECK(GET(&t, "/api/v1/sources", "") == 200);

    /* state changes need the CSRF token even without login */
    CHECK(GET(&t, "/api/v1/session", "") == 200);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(web_test_json(), "login_disabled")));
    char csrf[80];
    snprintf(csrf, sizeof csrf, "%s", cJSON_GetObjectItem(web_test_json(), "csrf_token")->valuestring);
    CHECK(POST(&t, "/api/v1/users", "{}") == 403);
    strcpy(t.csrf, csrf);
    CHECK(POST(&t, "/api/v1/users", "not json") == 400);
    CHECK(web_test_call(&t, &(struct web_test_req){.method = "POST", .path = "/api/v1/users",
                                                    .body = "{}", .content_type = "text/plain"}) ==
          415);
    CHECK(POST(&t, "/api/v1/users", "{\"name\":5}") == 400);
    CHECK(strcmp(cJSON_GetObjectItem(web_test_json(), "parameter")->valuestring, "name") == 0);
    char *big = malloc(WEB_MAX_BODY + 100);
    memset(big, ' ', WEB_MAX_BODY + 99);
    big[0] = '{';
    big[WEB_MAX_BODY + 98] = '}';
    big[WEB_MAX_BODY + 99] = '\0';
    CHECK(POST(&t, "/api/v1/users", big) == 413);
    free(big);
    CHECK(POST(&t, "/api/v1/login", "{\"user\":\"a\",\"password\":\"b\"}") == 400);
    CHECK(GET(&t, "/lua/x", "") == 503 || GET(&t, "/lua/x", "") == 404);
    /* live pcap: parameters checked, a file source refused */
    CHECK(GET(&t, "/api/v1/pcap", "duration=0") == 400);
    CHECK(strcmp(cJSON_GetObjectItem(web_test_json(), "parameter")->valuestring, "duration") == 0);
    CHECK(GET(&t, "/api/v1/pcap", "max_bytes=10") == 400);
    CHECK(GET(&t, "/api/v1/pcap", "source=nope") == 400);
    CHECK(GET(&t, "/api/v1/pcap", "source=q") == 400);
    CHECK(strstr(error_text(), "file source") != NULL);
    CHECK(GET(&t, "/metrics", "") == 200);
    const char *m = web_test_body();
    CHECK(strstr(m, "# TYPE tapbox_source_packets_total counter") != NULL);
    CHECK(strstr(m, "tapbox_source_packets_total{source=\"q\"} 6\n") != NULL);
    CHECK(strstr(m, "tapbox_cap_refused_total{cap=\"flows\"} 0\n") != NULL);
    CHECK(t.web.stats.errors_4xx > 5);
    web_test_finish(&t);
}
