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
#ifndef TAPBOX_SCRIPT_H
#define TAPBOX_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "web/auth.h"
#include "web/http.h"
#include "web/views.h"

#define SCRIPT_MAX_PAGES 64
#define SCRIPT_MEMORY_LIMIT (32u << 20)
#define SCRIPT_TIME_LIMIT_MS 500 /* wall time per call, checked with the instruction count */

struct script_options {
    const char *pages_dir;     /* directory of NAME.lua */
    uint64_t budget;           /* Lua instructions per call */
    size_t memory_limit;       /* bytes the Lua state may hold */
};

struct script;

struct script *script_create(const struct script_options *o, char *err, size_t errsize);
void script_destroy(struct script *s);

/* Run a page and fill res (200 with its output; 404 unknown page; 400 bad name or parameter;
 * 500 with {"error": ...} when it fails or exceeds its budget). */
void script_run_page(struct script *s, const struct web_view_ctx *view, const char *name,
                     struct web_params *params, const struct auth_identity *who,
                     struct web_response *res);

/* Calls made, and calls stopped by the budget, memory cap or time limit. */
uint64_t script_calls(const struct script *s);
uint64_t script_aborts(const struct script *s);

#endif
