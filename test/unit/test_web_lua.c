/* Lua pages: results, the read API, the sandbox, the instruction budget and memory cap, and
 * reloading when a page's file changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "web/lua.h"
#include "test_web.h"

static char lua_dir[64];

static void page(const char *name, const char *text)
{
    char path[160];
    snprintf(path, sizeof path, "%s/pages/%s.lua", lua_dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int start(struct web_test *t)
{
    snprintf(lua_dir, sizeof lua_dir, "/tmp/tapbox-lua.XXXXXX");
    if (!mkdtemp(lua_dir))
        return -1;
    char pages[96];
    snprintf(pages, sizeof pages, "%s/pages", lua_dir);
    mkdir(pages, 0755);
    return web_test_start(t, 12, true, lua_dir);
}

static void finish(struct web_test *t)
{
    web_test_finish(t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", lua_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  cannot remove %s\n", lua_dir);
}

static int run(struct web_test *t, const char *name, const char *query)
{
    char path[96];
    snprintf(path, sizeof path, "/lua/%s", name);
    return web_test_call(t, &(struct web_test_req){.path = path, .query = query});
}

static const char *error_text(void)
{
    cJSON *e = cJSON_GetObjectItem(web_test_json(), "error");
    return cJSON_IsString(e) ? e->valuestring : "";
}

TEST(web_lua_results_and_read_api)
{
    static struct web_test t;
    if (start(&t) < 0)
        return;
    page("j", "return { n = tonumber(request.params.n), user = request.user, list = {1, 2, 3} }");
    CHECK(run(&t, "j", "n=5") == 200);
    cJSON *j = web_test_json();
    CHECK(cJSON_GetObjectItem(j, "n")->valueint == 5);
    CHECK(strcmp(cJSON_GetObjectItem(j, "user")->valuestring, "admin") == 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "list")) == 3);

    page("h", "return '<b>' .. tapbox.html('<x>') .. '</b>'");
    CHECK(run(&t, "h", "") == 200);
    CHECK(strcmp(web_test_body(), "<b>&lt;x&gt;</b>") == 0);
    page("csv", "return 'a,b\\n', 'text/csv', 201");
    CHECK(run(&t, "csv", "") == 201);
    page("badtype", "return 'x', 'application/x-evil'");
    CHECK(run(&t, "badtype", "") == 500);

    page("hosts", "local h = tapbox.hosts{limit = 3, ['local'] = true}\n"
                  "local one = tapbox.host(h.items[1].ip)\n"
                  "local none, why = tapbox.host('10.9.9.9')\n"
                  "return { total = h.total, count = #h.items, first = h.items[1].ip,\n"
                  "         peers = #one.peers, none = none == nil, why = why,\n"
                  "         flows = tapbox.flows{port = 1003}.total, l7 = tapbox.l7().total,\n"
                  "         up = tapbox.status().uptime_s >= 0, src = tapbox.sources().total,\n"
                  "         pts = tapbox.series{}.count, json = tapbox.json({a = {true}}) }");
    CHECK(run(&t, "hosts", "") == 200);
    j = web_test_json();
    CHECK(cJSON_GetObjectItem(j, "total")->valueint == 12);
    CHECK(cJSON_GetObjectItem(j, "count")->valueint == 3);
    CHECK(strcmp(cJSON_GetObjectItem(j, "first")->valuestring, "10.0.0.12") == 0);
    CHECK(cJSON_GetObjectItem(j, "peers")->valueint == 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "none")));
    CHECK(cJSON_GetObjectItem(j, "flows")->valueint == 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "up")));
    CHECK(strcmp(cJSON_GetObjectItem(j, "json")->valuestring, "{\"a\":[true]}") == 0);

    /* parameters are checked exactly as in the REST API */
    page("badparam", "return tapbox.hosts{limit = 5000}");
    CHECK(run(&t, "badparam", "") == 500);
    CHECK(strstr(error_text(), "parameter 'limit'") != NULL);
    page("err", "local x = nil\nreturn x.y");
    CHECK(run(&t, "err", "") == 500);
    CHECK(strstr(error_text(), "err.lua:2:") != NULL);
    page("syntax", "return {");
    CHECK(run(&t, "syntax", "") == 500);
    CHECK(strstr(error_text(), "syntax.lua") != NULL);
    page("nothing", "local x = 1");
    CHECK(run(&t, "nothing", "") == 500);
    page("fn", "return { f = tostring }");
    CHECK(run(&t, "fn", "") == 500);
    CHECK(run(&t, "missing", "") == 404);
    CHECK(run(&t, "a.b", "") == 400);
    CHECK(run(&t, "x%2fy", "") == 400);
    finish(&t);
}

TEST(web_lua_sandbox)
{
    static struct web_test t;
    if (start(&t) < 0)
        return;
    page("s", "return { io = io == nil, exec = os.execute == nil, popen = io == nil,\n"
              "  load = load == nil, loadfile = loadfile == nil, dofile = dofile == nil,\n"
              "  require = require == nil, dump = string.dump == nil, debug = debug == nil,\n"
              "  package = package == nil, rawset = rawset == nil, smeta = getmetatable('') == false,\n"
              "  time = type(os.time()) == 'number' }");
    CHECK(run(&t, "s", "") == 200);
    cJSON *j = web_test_json(), *e;
    cJSON_ArrayForEach(e, j)
    {
        if (!cJSON_IsTrue(e))
            fprintf(stderr, "  sandbox: %s is not false\n", e->string);
        CHECK(cJSON_IsTrue(e));
    }
    page("w", "string.upper = nil return 'x'");
    CHECK(run(&t, "w", "") == 500);
    CHECK(strstr(error_text(), "read-only") != NULL);
    /* globals do not leak from one call to the next */
    page("g1", "leak = (leak or 0) + 1 return { leak = leak }");
    CHECK(run(&t, "g1", "") == 200);
    CHECK(run(&t, "g1", "") == 200);
    CHECK(cJSON_GetObjectItem(web_test_json(), "leak")->valueint == 1);
    finish(&t);
}

TEST(web_lua_runaway_pages_stop)
{
    static struct web_test t;
    if (start(&t) < 0)
        return;
    page("ok", "return {ok = true}");
    page("spin", "while true do end");
    page("catch", "for i = 1, 100 do pcall(function() while true do end end) end return {x=1}");
    page("co", "local c = coroutine.wrap(function() while true do end end) c() return {}");
    /* 1 MiB a step: the memory cap is reached in a few dozen steps, long before the time limit
     * even under emulation. */
    page("eat", "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1 << 20) .. i end");
    page("rep", "return string.rep('x', 1 << 40)");
    CHECK(run(&t, "spin", "") == 500);
    CHECK(strstr(error_text(), "instruction budget") != NULL);
    CHECK(run(&t, "ok", "") == 200);
    CHECK(run(&t, "catch", "") == 500); /* catching the stop does not help */
    CHECK(run(&t, "co", "") == 500);
    CHECK(run(&t, "ok", "") == 200);
    CHECK(run(&t, "eat", "") == 500);
    CHECK(strstr(error_text(), "memory") != NULL);
    CHECK(run(&t, "rep", "") == 500);
    CHECK(run(&t, "ok", "") == 200);
    CHECK(web_lua_aborts(t.web.lua) >= 4);
    finish(&t);
}

TEST(web_lua_reloads_changed_pages)
{
    static struct web_test t;
    if (start(&t) < 0)
        return;
    page("v", "return {v = 1}");
    CHECK(run(&t, "v", "") == 200);
    CHECK(cJSON_GetObjectItem(web_test_json(), "v")->valueint == 1);
    CHECK(run(&t, "v", "") == 200);
    page("v", "return {v = 22}"); /* another size: seen even within the same second */
    CHECK(run(&t, "v", "") == 200);
    CHECK(cJSON_GetObjectItem(web_test_json(), "v")->valueint == 22);
    char path[160];
    snprintf(path, sizeof path, "%s/pages/v.lua", lua_dir);
    unlink(path);
    CHECK(run(&t, "v", "") == 404);
    finish(&t);
}

TEST(web_lua_shipped_pages)
{
    if (access("lua/pages/top_talkers.lua", R_OK) != 0) {
        test_skip("run from the repository root");
        return;
    }
    static struct web_test t;
    if (web_test_start(&t, 8, true, "lua") < 0)
        return;
    CHECK(run(&t, "top_talkers", "n=3") == 200);
    cJSON *items = cJSON_GetObjectItem(web_test_json(), "items");
    CHECK(cJSON_GetArraySize(items) == 3);
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "ip")->valuestring,
                 "203.0.113.1") == 0);
    CHECK(run(&t, "top_talkers", "n=0") == 400);
    CHECK(run(&t, "top_talkers", "local=maybe") == 400);
    CHECK(run(&t, "host_report", "ip=10.0.0.3") == 200);
    CHECK(strstr(web_test_body(), "<h1>10.0.0.3 (local)</h1>") != NULL);
    CHECK(strstr(web_test_body(), "203.0.113.1") != NULL);
    CHECK(run(&t, "host_report", "ip=10.9.9.9") == 404);
    CHECK(run(&t, "host_report", "ip=<script>") == 400);
    CHECK(strstr(web_test_body(), "<script>") == NULL);
    CHECK(run(&t, "host_report", "") == 400);
    web_test_finish(&t);
}
