/*
 * Lua pages in one lua_State on the loop thread (see lua.h).
 *
 * Safety: only base (without dofile, loadfile, load, require, collectgarbage, rawset, print),
 * string (without dump), table, math, utf8, coroutine and os.time/clock/date/difftime are
 * visible, through read-only proxies, and each call gets a fresh global table on top of them;
 * the string metatable is hidden. A count hook every SCRIPT_HOOK_STEP instructions enforces the
 * instruction budget and a wall-time limit; the allocator enforces the memory cap.
 */
#include "web/lua.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <uv.h>

#include "core/log.h"
#include "core/version.h"

#define SCRIPT_HOOK_STEP 1000
#define SCRIPT_MAX_JSON_NODES 200000 /* values in a page's JSON result */
#define SCRIPT_MAX_DEPTH 32
#define PAGE_NAME_MAX 48


struct page {
    char name[PAGE_NAME_MAX + 1];
    int ref;                       /* the compiled chunk in the registry, LUA_NOREF if none */
    struct timespec mtime;
    off_t size;
    ino_t ino;
    uint64_t last_used;
};

struct web_lua {
    lua_State *L;
    char *dir;
    uint64_t budget;
    size_t memory_limit;
    size_t memory_used;
    int sandbox_ref;               /* read-only globals every page sees */
    struct page pages[WEB_LUA_MAX_PAGES];
    unsigned page_count;
    uint64_t tick;
    /* the call in progress */
    bool running;
    uint64_t executed;
    uint64_t deadline_ns;
    const char *abort_reason;
    const struct web_view_ctx *view;
    uint64_t calls, aborts;
};

static struct web_lua *web_lua_of(lua_State *L) { return *(struct web_lua **)lua_getextraspace(L); }

static void count_hook(lua_State *L, lua_Debug *ar);

/* ---- memory cap and budget ---- */

static void *web_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct web_lua *s = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        s->memory_used -= old;
        return NULL;
    }
    if (nsize > old && s->memory_used - old + nsize > s->memory_limit) {
        if (s->running && !s->abort_reason)
            s->abort_reason = "memory cap";
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        s->memory_used = s->memory_used - old + nsize;
    return p;
}

/* Stop the page: from now on every instruction fails, so that a page catching the error
 * (pcall) cannot go on. */
static void stop_page(lua_State *L, struct web_lua *s, const char *reason)
{
    if (!s->abort_reason)
        s->abort_reason = reason;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    if (s->abort_reason == reason && strcmp(reason, "instruction budget") == 0)
        luaL_error(L, "stopped: instruction budget (%I) exceeded", (lua_Integer)s->budget);
    if (s->abort_reason == reason && strcmp(reason, "time limit") == 0)
        luaL_error(L, "stopped: ran longer than %d ms", WEB_LUA_TIME_LIMIT_MS);
    luaL_error(L, "stopped: %s", s->abort_reason);
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct web_lua *s = web_lua_of(L);
    if (!s->running)
        return;
    s->executed += SCRIPT_HOOK_STEP;
    if (s->abort_reason)
        stop_page(L, s, s->abort_reason);
    if (s->executed > s->budget)
        stop_page(L, s, "instruction budget");
    if (uv_hrtime() > s->deadline_ns)
        stop_page(L, s, "time limit");
}

/* ---- cJSON <-> Lua ---- */

static void push_json(lua_State *L, const cJSON *j, int depth)
{
    luaL_checkstack(L, 4, "JSON too deep");
    if (depth > SCRIPT_MAX_DEPTH || !j || cJSON_IsNull(j)) {
        lua_pushnil(L);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == (double)(lua_Integer)d && d > -9007199254740992.0 && d < 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            push_json(L, e, depth + 1);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsObject(j)) {
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            push_json(L, e, depth + 1);
            lua_setfield(L, -2, e->string);
        }
    } else {
        lua_pushnil(L);
    }
}

struct encode {
    int nodes;
    char err[160];
};

static cJSON *to_json(lua_State *L, int idx, int depth, struct encode *enc)
{
    if (++enc->nodes > SCRIPT_MAX_JSON_NODES) {
        snprintf(enc->err, sizeof enc->err, "result too large (over %d values)",
                 SCRIPT_MAX_JSON_NODES);
        return NULL;
    }
    if (depth > SCRIPT_MAX_DEPTH) {
        snprintf(enc->err, sizeof enc->err, "result nested deeper than %d", SCRIPT_MAX_DEPTH);
        return NULL;
    }
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return cJSON_CreateNull();
    case LUA_TBOOLEAN:
        return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        return d != d || d > 1.7e308 || d < -1.7e308 ? cJSON_CreateNull() : cJSON_CreateNumber(d);
    }
    case LUA_TSTRING:
        return cJSON_CreateString(lua_tostring(L, idx));
    case LUA_TTABLE:
        break;
    default:
        snprintf(enc->err, sizeof enc->err, "cannot encode a %s", luaL_typename(L, idx));
        return NULL;
    }
    if (!lua_checkstack(L, 4)) {
        snprintf(enc->err, sizeof enc->err, "out of stack");
        return NULL;
    }
    /* An array when its keys are exactly 1..n (n > 0); an object otherwise. */
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), keys = 0;
    bool array = n > 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        keys++;
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n)
            array = false;
        lua_pop(L, 1);
    }
    array = array && keys == n;
    cJSON *out = array ? cJSON_CreateArray() : cJSON_CreateObject();
    if (array) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            cJSON *v = to_json(L, -1, depth + 1, enc);
            lua_pop(L, 1);
            if (!v) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToArray(out, v);
        }
        return out;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char key[64];
        if (lua_type(L, -2) == LUA_TSTRING)
            snprintf(key, sizeof key, "%s", lua_tostring(L, -2));
        else if (lua_isinteger(L, -2))
            snprintf(key, sizeof key, "%lld", (long long)lua_tointeger(L, -2));
        else if (lua_type(L, -2) == LUA_TNUMBER)
            snprintf(key, sizeof key, "%.14g", lua_tonumber(L, -2));
        else {
            snprintf(enc->err, sizeof enc->err, "cannot encode a %s key",
                     luaL_typename(L, -2));
            lua_pop(L, 2);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *v = to_json(L, -1, depth + 1, enc);
        lua_pop(L, 1);
        if (!v) {
            lua_pop(L, 1);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToObject(out, key, v);
    }
    return out;
}

/* ---- the tapbox read API ---- */

/* Parameters from an optional table argument: values as text, as if from a query string. */
static void table_params(lua_State *L, int idx, const char *fn, struct web_params *p)
{
    memset(p, 0, sizeof *p);
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    char err[200];
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            web_params_free(p);
            luaL_error(L, "tapbox.%s: parameter names are strings", fn);
        }
        char value[WEB_MAX_PARAM_VALUE + 2];
        int t = lua_type(L, -1);
        if (t == LUA_TBOOLEAN)
            snprintf(value, sizeof value, "%s", lua_toboolean(L, -1) ? "true" : "false");
        else if (t == LUA_TNUMBER && lua_isinteger(L, -1))
            snprintf(value, sizeof value, "%lld", (long long)lua_tointeger(L, -1));
        else if (t == LUA_TNUMBER)
            snprintf(value, sizeof value, "%.17g", lua_tonumber(L, -1));
        else if (t == LUA_TSTRING)
            snprintf(value, sizeof value, "%s", lua_tostring(L, -1));
        else {
            char name[48];
            snprintf(name, sizeof name, "%s", lua_tostring(L, -2));
            web_params_free(p);
            luaL_error(L, "tapbox.%s: parameter '%s' must be a string, number or boolean", fn,
                       name);
        }
        if (web_params_add(p, lua_tostring(L, -2), value, err, sizeof err) < 0) {
            web_params_free(p);
            luaL_error(L, "tapbox.%s: %s", fn, err);
        }
        lua_pop(L, 1);
    }
}

static int push_json_protected(lua_State *L)
{
    push_json(L, lua_touserdata(L, 1), 0);
    return 1;
}

/* Run a view and push its JSON as a Lua value; errors become Lua errors (404: nil, message). */
static int push_view(lua_State *L, const char *fn, int rc, cJSON *json, const char *err,
                     struct web_params *p)
{
    web_params_free(p);
    if (rc == 404) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    if (rc != 0)
        return luaL_error(L, "tapbox.%s: %s", fn, err);
    /* The tables may hit the memory cap: build them protected, so that json is freed. */
    lua_pushcfunction(L, push_json_protected);
    lua_pushlightuserdata(L, json);
    rc = lua_pcall(L, 1, 1, 0);
    cJSON_Delete(json);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static const struct web_view_ctx *view_of(lua_State *L, const char *fn)
{
    struct web_lua *s = web_lua_of(L);
    if (!s->view)
        luaL_error(L, "tapbox.%s: only while a page runs", fn);
    return s->view;
}

#define LUA_VIEW(name, viewfn)                                                                     \
    static int l_##name(lua_State *L)                                                              \
    {                                                                                              \
        const struct web_view_ctx *v = view_of(L, #name);                                          \
        struct web_params p;                                                                       \
        table_params(L, 1, #name, &p);                                                             \
        cJSON *json = NULL;                                                                        \
        char err[300] = "";                                                                        \
        int rc = viewfn(v, &p, &json, err, sizeof err);                                            \
        return push_view(L, #name, rc, json, err, &p);                                             \
    }

LUA_VIEW(status, web_view_status)
LUA_VIEW(sources, web_view_sources)
LUA_VIEW(series, web_view_series)
LUA_VIEW(hosts, web_view_hosts)
LUA_VIEW(flows, web_view_flows)
LUA_VIEW(l7, web_view_l7)

static int l_host(lua_State *L)
{
    const struct web_view_ctx *v = view_of(L, "host");
    const char *ip = luaL_checkstring(L, 1);
    struct web_params p;
    table_params(L, 2, "host", &p);
    cJSON *json = NULL;
    char err[300] = "";
    int rc = web_view_host(v, ip, &p, &json, err, sizeof err);
    return push_view(L, "host", rc, json, err, &p);
}

static int l_html(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&': luaL_addstring(&b, "&amp;"); break;
        case '<': luaL_addstring(&b, "&lt;"); break;
        case '>': luaL_addstring(&b, "&gt;"); break;
        case '"': luaL_addstring(&b, "&quot;"); break;
        case '\'': luaL_addstring(&b, "&#39;"); break;
        default: luaL_addchar(&b, s[i]);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

static int l_json(lua_State *L)
{
    luaL_checkany(L, 1);
    struct encode enc = {0};
    cJSON *j = to_json(L, 1, 0, &enc);
    if (!j)
        return luaL_error(L, "tapbox.json: %s", enc.err);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text)
        return luaL_error(L, "tapbox.json: out of memory");
    lua_pushstring(L, text);
    cJSON_free(text);
    return 1;
}

static int l_log(lua_State *L)
{
    log_info("lua", "%s", luaL_checkstring(L, 1));
    return 0;
}

static const luaL_Reg tapbox_api[] = {
    {"status", l_status}, {"sources", l_sources}, {"series", l_series}, {"hosts", l_hosts},
    {"host", l_host},     {"flows", l_flows},     {"l7", l_l7},         {"html", l_html},
    {"json", l_json},     {"log", l_log},         {NULL, NULL},
};

/* ---- the sandbox ---- */

static int readonly_newindex(lua_State *L) { return luaL_error(L, "read-only table"); }

/* Replace the table at the top by a read-only proxy of it. */
static void make_readonly(lua_State *L)
{
    lua_newtable(L);               /* proxy */
    lua_newtable(L);               /* its metatable */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

/* Copy the named fields of the library table at the top into a new table (kept on top). */
static void keep_fields(lua_State *L, const char *const *names)
{
    lua_newtable(L);
    for (const char *const *n = names; *n; n++) {
        lua_getfield(L, -2, *n);
        lua_setfield(L, -2, *n);
    }
    lua_remove(L, -2);
}

static int build_sandbox(lua_State *L)
{
    static const char *const base[] = {"assert",   "error",        "ipairs",   "next",
                                       "pairs",    "pcall",        "rawequal", "rawget",
                                       "rawlen",   "select",       "tonumber", "tostring",
                                       "type",     "xpcall",       "getmetatable",
                                       "setmetatable", "_VERSION", NULL};
    static const char *const os_fields[] = {"time", "clock", "date", "difftime", NULL};
    luaL_requiref(L, "_G", luaopen_base, 1);
    lua_pop(L, 1);
    luaL_requiref(L, "string", luaopen_string, 1);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    luaL_requiref(L, "table", luaopen_table, 1);
    lua_pop(L, 1);
    luaL_requiref(L, "math", luaopen_math, 1);
    lua_pop(L, 1);
    luaL_requiref(L, "utf8", luaopen_utf8, 1);
    lua_pop(L, 1);
    luaL_requiref(L, "coroutine", luaopen_coroutine, 1);
    lua_pop(L, 1);
    luaL_requiref(L, "os", luaopen_os, 1);
    lua_pop(L, 1);

    /* The string metatable stays (s:upper()), hidden from getmetatable. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    lua_newtable(L); /* the sandbox */
    lua_pushglobaltable(L);
    keep_fields(L, base);
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* copy the kept base functions */
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);
    const char *libs[] = {"string", "table", "math", "utf8", "coroutine", NULL};
    for (const char **lib = libs; *lib; lib++) {
        lua_getglobal(L, *lib);
        make_readonly(L);
        lua_setfield(L, -2, *lib);
    }
    lua_getglobal(L, "os");
    keep_fields(L, os_fields);
    make_readonly(L);
    lua_setfield(L, -2, "os");
    luaL_newlib(L, tapbox_api);
    lua_pushstring(L, TAPBOX_VERSION);
    lua_setfield(L, -2, "version");
    make_readonly(L);
    lua_setfield(L, -2, "tapbox");
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* ---- lifetime ---- */

struct web_lua *web_lua_create(const struct web_lua_options *o, char *err, size_t errsize)
{
    struct web_lua *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(o->pages_dir))) {
        free(s);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    s->budget = o->budget;
    s->memory_limit = o->memory_limit;
    s->L = lua_newstate(web_lua_alloc, s);
    if (!s->L) {
        snprintf(err, errsize, "cannot create a Lua state");
        free(s->dir);
        free(s);
        return NULL;
    }
    *(struct web_lua **)lua_getextraspace(s->L) = s;
    s->sandbox_ref = build_sandbox(s->L);
    lua_sethook(s->L, count_hook, LUA_MASKCOUNT, SCRIPT_HOOK_STEP);
    for (unsigned i = 0; i < WEB_LUA_MAX_PAGES; i++)
        s->pages[i].ref = LUA_NOREF;
    struct stat st;
    if (stat(s->dir, &st) < 0)
        log_warn("lua", "%s: %s (no Lua pages until it exists)", s->dir, strerror(errno));
    return s;
}

void web_lua_destroy(struct web_lua *s)
{
    if (!s)
        return;
    lua_close(s->L);
    free(s->dir);
    free(s);
}

uint64_t web_lua_calls(const struct web_lua *s) { return s ? s->calls : 0; }
uint64_t web_lua_aborts(const struct web_lua *s) { return s ? s->aborts : 0; }

/* ---- pages ---- */

static bool name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > PAGE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static struct page *page_slot(struct web_lua *s, const char *name)
{
    for (unsigned i = 0; i < s->page_count; i++)
        if (strcmp(s->pages[i].name, name) == 0)
            return &s->pages[i];
    struct page *p;
    if (s->page_count < WEB_LUA_MAX_PAGES) {
        p = &s->pages[s->page_count++];
    } else { /* the least recently used page makes room */
        p = &s->pages[0];
        for (unsigned i = 1; i < WEB_LUA_MAX_PAGES; i++)
            if (s->pages[i].last_used < p->last_used)
                p = &s->pages[i];
        luaL_unref(s->L, LUA_REGISTRYINDEX, p->ref);
    }
    memset(p, 0, sizeof *p);
    p->ref = LUA_NOREF;
    snprintf(p->name, sizeof p->name, "%s", name);
    return p;
}

/* Compile a page's file under the chunk name "NAME.lua", not its path: error messages and
 * tracebacks reach clients and must not tell them where the pages directory is. */
static int page_compile(lua_State *L, const char *path, const char *name, off_t size)
{
    if (size < 0 || size > (1 << 20)) {
        lua_pushfstring(L, "%s.lua: larger than 1 MiB", name);
        return LUA_ERRFILE;
    }
    FILE *f = fopen(path, "rb");
    char *text = f ? malloc((size_t)size + 1) : NULL;
    size_t len = text ? fread(text, 1, (size_t)size, f) : 0;
    if (f)
        fclose(f);
    if (!text) {
        lua_pushfstring(L, "%s.lua: cannot read", name);
        return LUA_ERRFILE;
    }
    char chunkname[300];
    snprintf(chunkname, sizeof chunkname, "@%s.lua", name);
    int rc = luaL_loadbufferx(L, text, len, chunkname, "t");
    free(text);
    return rc;
}

/* The page's compiled chunk, compiled again if its file changed. 0, or an HTTP status with a
 * message in err. */
static int page_load(struct web_lua *s, const char *name, struct page **out, char *err,
                     size_t errsize)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.lua", s->dir, name);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsize, "no Lua page '%s'", name);
        return 404;
    }
    struct page *p = page_slot(s, name);
    p->last_used = ++s->tick;
    if (p->ref != LUA_NOREF && p->size == st.st_size && p->ino == st.st_ino &&
        p->mtime.tv_sec == st.st_mtim.tv_sec && p->mtime.tv_nsec == st.st_mtim.tv_nsec) {
        *out = p;
        return 0;
    }
    luaL_unref(s->L, LUA_REGISTRYINDEX, p->ref);
    p->ref = LUA_NOREF;
    /* Text only: precompiled bytecode can crash the VM. The file is small and read once per
     * change (a stat per call otherwise). */
    int rc = page_compile(s->L, path, name, st.st_size);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(s->L, -1);
        const char *shown = msg ? strstr(msg, name) : NULL;
        snprintf(err, errsize, "lua: %s", shown ? shown : msg ? msg : "cannot load the page");
        lua_pop(s->L, 1);
        return 500;
    }
    p->ref = luaL_ref(s->L, LUA_REGISTRYINDEX);
    p->size = st.st_size;
    p->ino = st.st_ino;
    p->mtime = st.st_mtim;
    log_debug("lua", "compiled %s", path);
    *out = p;
    return 0;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

/* The first line of a message, with the pages directory cut from "DIR/NAME.lua:3: ...". */
static void short_message(const struct web_lua *s, const char *msg, char *out, size_t size)
{
    if (!msg)
        msg = "(no message)";
    size_t dlen = strlen(s->dir);
    if (strncmp(msg, s->dir, dlen) == 0 && msg[dlen] == '/')
        msg += dlen + 1;
    const char *nl = strchr(msg, '\n');
    int n = nl ? (int)(nl - msg) : (int)strlen(msg);
    snprintf(out, size, "%.*s", n, msg);
}

void web_lua_run_page(struct web_lua *s, const struct web_view_ctx *view, const char *name,
                     struct web_params *params, const struct auth_identity *who,
                     struct web_response *res)
{
    char err[600];
    if (!name_valid(name)) {
        web_respond_error(res, 400, "bad Lua page name (letters, digits, '_' and '-')");
        return;
    }
    struct page *page;
    int rc = page_load(s, name, &page, err, sizeof err);
    if (rc) {
        web_respond_error(res, rc, "%s", err);
        return;
    }
    lua_State *L = s->L;
    lua_settop(L, 0);
    lua_pushcfunction(L, traceback);                  /* 1 */
    lua_rawgeti(L, LUA_REGISTRYINDEX, page->ref);     /* 2: the chunk */
    lua_newtable(L);                                  /* its fresh globals */
    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->sandbox_ref);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_newtable(L);                                  /* request */
    lua_newtable(L);
    for (int i = 0; i < params->count; i++) {
        lua_pushstring(L, params->item[i].value);
        lua_setfield(L, -2, params->item[i].name);
    }
    lua_setfield(L, -2, "params");
    lua_pushstring(L, who->user);
    lua_setfield(L, -2, "user");
    lua_pushstring(L, auth_role_name(who->role));
    lua_setfield(L, -2, "role");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "page");
    lua_setfield(L, -2, "request");
    if (!lua_setupvalue(L, 2, 1))                     /* _ENV of the chunk */
        lua_pop(L, 1);

    lua_sethook(L, count_hook, LUA_MASKCOUNT, SCRIPT_HOOK_STEP);
    s->running = true;
    s->executed = 0;
    s->abort_reason = NULL;
    s->deadline_ns = uv_hrtime() + (uint64_t)WEB_LUA_TIME_LIMIT_MS * 1000000u;
    s->view = view;
    s->calls++;
    rc = lua_pcall(L, 0, 3, 1);
    s->running = false;
    s->view = NULL;
    if (rc == LUA_OK && s->abort_reason) { /* caught, and finished before the next check */
        lua_settop(L, 0);
        lua_pushfstring(L, "page '%s' stopped: %s", name, s->abort_reason);
        rc = LUA_ERRRUN;
    }
    if (rc != LUA_OK) {
        char msg[400];
        short_message(s, lua_tostring(L, -1), msg, sizeof msg);
        if (s->abort_reason) {
            s->aborts++;
            log_warn("lua", "page %s stopped (%s)", name, s->abort_reason);
        }
        if (rc == LUA_ERRMEM || s->abort_reason) {
            lua_settop(L, 0);
            lua_gc(L, LUA_GCCOLLECT); /* give the next call its memory back */
        }
        const char *why = s->abort_reason ? s->abort_reason : rc == LUA_ERRMEM ? "memory cap" : NULL;
        if (why && strcmp(why, "instruction budget") == 0)
            web_respond_error(res, 500, "lua: page '%s' stopped: instruction budget (%llu) exceeded",
                              name, (unsigned long long)s->budget);
        else if (why && strcmp(why, "time limit") == 0)
            web_respond_error(res, 500, "lua: page '%s' stopped: ran longer than %d ms", name,
                              WEB_LUA_TIME_LIMIT_MS);
        else if (why)
            web_respond_error(res, 500, "lua: page '%s' stopped: memory cap (%zu bytes) reached",
                              name, s->memory_limit);
        else
            web_respond_error(res, 500, "lua: %s", msg);
        lua_settop(L, 0);
        return;
    }
    /* results at 2, 3, 4 */
    int status = 200;
    if (lua_type(L, 2) == LUA_TTABLE) {
        if (lua_isinteger(L, 3))
            status = (int)lua_tointeger(L, 3);
        struct encode enc = {0};
        cJSON *j = to_json(L, 2, 0, &enc);
        if (!j)
            web_respond_error(res, 500, "lua: page '%s': %s", name, enc.err);
        else
            web_respond_json(res, status >= 200 && status <= 599 ? status : 200, j);
    } else if (lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, 2, &len);
        const char *type = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : NULL;
        static const char *const types[] = {"text/html; charset=utf-8", "text/plain; charset=utf-8",
                                            "application/json", "text/csv; charset=utf-8",
                                            "image/svg+xml", NULL};
        const char *ctype = types[0];
        if (type) { /* the response keeps a static string: one of the known types */
            ctype = NULL;
            for (int i = 0; types[i] && !ctype; i++)
                if (strncmp(types[i], type, strlen(type)) == 0)
                    ctype = types[i];
        }
        if (lua_isinteger(L, 4))
            status = (int)lua_tointeger(L, 4);
        char *body = malloc(len + 1);
        if (!ctype)
            web_respond_error(res, 500, "lua: page '%s': content type '%.60s' is not one of "
                              "text/html, text/plain, application/json, text/csv, image/svg+xml",
                              name, type);
        else if (!body)
            web_respond_error(res, 500, "out of memory");
        else {
            memcpy(body, text, len);
            body[len] = '\0';
            web_respond_text(res, status >= 200 && status <= 599 ? status : 200, ctype, body,
                             len);
            body = NULL;
        }
        free(body);
    } else {
        web_respond_error(res, 500, "lua: page '%s' returned %s (a table or a string is needed)",
                          name, luaL_typename(L, 2));
    }
    lua_settop(L, 0);
}
