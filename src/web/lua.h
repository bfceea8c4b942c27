/*
 * Lua 5.4 pages: /lua/NAME runs DIR/pages/NAME.lua in the one Lua state of the loop. A page is
 * compiled once and compiled again when its file changes (mtime or size). It sees the request
 * (request.params, request.user, request.role), a read API over the engine (tapbox.status(),
 * tapbox.hosts{...}, tapbox.host(ip), tapbox.flows{...}, tapbox.l7(), tapbox.series{...},
 * tapbox.sources()) that goes through the same views as the REST API, and safe libraries only
 * (no io, os.execute, package, debug, load of bytecode). Each call has an instruction budget
 * and a memory cap: a runaway page ends with an error, the loop goes on.
 *
 * A page returns a table (sent as JSON), or a string and optionally its content type (default
 * text/html). A third value, a number, sets the HTTP status.
 */
#ifndef TAPBOX_WEB_LUA_H
#define TAPBOX_WEB_LUA_H

#include <stddef.h>
#include <stdint.h>

#include "web/auth.h"
#include "web/http.h"
#include "web/views.h"

#define WEB_LUA_MAX_PAGES 64
#define WEB_LUA_MEMORY_LIMIT (32u << 20)
#define WEB_LUA_TIME_LIMIT_MS 500 /* wall time per call, checked with the instruction count */

struct web_lua_options {
    const char *pages_dir;     /* directory of NAME.lua */
    uint64_t budget;           /* Lua instructions per call */
    size_t memory_limit;       /* bytes the Lua state may hold */
};

struct web_lua;

struct web_lua *web_lua_create(const struct web_lua_options *o, char *err, size_t errsize);
void web_lua_destroy(struct web_lua *s);

/* Run a page and fill res (200 with its output; 404 unknown page; 400 bad name or parameter;
 * 500 with {"error": ...} when it fails or exceeds its budget). */
void web_lua_run_page(struct web_lua *s, const struct web_view_ctx *view, const char *name,
                     struct web_params *params, const struct auth_identity *who,
                     struct web_response *res);

/* Calls made, and calls stopped by the budget, memory cap or time limit. */
uint64_t web_lua_calls(const struct web_lua *s);
uint64_t web_lua_aborts(const struct web_lua *s);

#endif
