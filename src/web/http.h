/*
 * HTTP plumbing that does not need h2o, so that unit tests reach it directly: query-string
 * parameters and their validation (errors name the parameter), cookies, listen addresses, a
 * growable text buffer, and the request/response pair every web handler works on.
 */
#ifndef TAPBOX_WEB_HTTP_H
#define TAPBOX_WEB_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define WEB_MAX_PARAMS 24
#define WEB_MAX_QUERY 4096          /* bytes of query string */
#define WEB_MAX_PARAM_VALUE 256     /* bytes of one decoded value */

struct web_params {
    char *buf;                      /* decoded copy of the query string */
    struct added_param *added;      /* parameters from web_params_add */
    int count;
    struct {
        const char *name;
        const char *value;
    } item[WEB_MAX_PARAMS];
    char bad[48];                   /* the parameter a check refused last ("" if none) */
};

/* Parse "a=1&b=x%20y" (len bytes, no leading '?'). Returns 0, or -1 with a message in err
 * (malformed escape, NUL byte, too many or repeated parameters, too long). Free with
 * web_params_free even on failure. */
int web_params_parse(struct web_params *p, const char *query, size_t len, char *err,
                     size_t errsize);
/* Add one parameter (copies); used to build parameters from Lua tables. Start from a zeroed
 * struct web_params. */
int web_params_add(struct web_params *p, const char *name, const char *value, char *err,
                   size_t errsize);
void web_params_free(struct web_params *p);
const char *web_param(const struct web_params *p, const char *name);

/* Every parameter must be in known (NULL-terminated); "_" (a cache buster) is always allowed. */
int web_params_only(struct web_params *p, const char *const *known, char *err,
                    size_t errsize);
/* An unsigned number in [min, max]; def when absent. */
int web_param_uint(struct web_params *p, const char *name, uint64_t min, uint64_t max,
                   uint64_t def, uint64_t *out, char *err, size_t errsize);
/* "true"/"false"/"1"/"0"; *out stays -1 when absent. */
int web_param_bool(struct web_params *p, const char *name, int *out, char *err,
                   size_t errsize);
/* One of choices (NULL-terminated): its index, def when absent. */
int web_param_choice(struct web_params *p, const char *name, const char *const *choices,
                     int def, int *out, char *err, size_t errsize);

/* Decode %XX and '+' in place; returns the new length, or -1 on a bad escape or a NUL byte. */
long web_url_decode(char *s, size_t len, bool plus_is_space);

/* The value of cookie name in a Cookie header ("a=1; b=2"); 0 when found and it fits. */
int web_cookie_get(const char *header, const char *name, char *out, size_t outsize);

/* "[ADDR:]PORT", "[v6]:PORT" or "PORT" (0 disables). addr gets "" when none was given. */
int web_parse_listen(const char *spec, char *addr, size_t addrsize, int *port, char *err,
                     size_t errsize);

/* Growable text buffer: appends never fail visibly; oom is set instead. */
struct web_buf {
    char *data;
    size_t len, cap;
    bool oom;
};
void web_buf_append(struct web_buf *b, const char *s, size_t len);
void web_buf_printf(struct web_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void web_buf_free(struct web_buf *b);

/* ---- one request and its response, independent of the HTTP library ---- */

struct web_request {
    const char *method;             /* "GET", "POST"... */
    const char *path;               /* normalised, without the query */
    const char *query;              /* after '?', "" when none */
    size_t query_len;
    const char *body;
    size_t body_len;
    const char *cookie;             /* Cookie header(s) joined by "; ", or NULL */
    const char *authorization;
    const char *csrf_token;         /* X-CSRF-Token */
    const char *content_type;
    char client[64];                /* peer address, for rate limits and logs */
    bool https;
};

#define WEB_MAX_HEADERS 6

struct web_response {
    int status;
    const char *content_type;       /* static string */
    char *body;                     /* malloc'd */
    size_t body_len;
    int header_count;
    struct {
        const char *name;           /* static string */
        char *value;                /* malloc'd */
    } header[WEB_MAX_HEADERS];
};

void web_response_free(struct web_response *r);
void web_response_header(struct web_response *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Body from JSON (the object is deleted). */
void web_respond_json(struct web_response *r, int status, cJSON *json);
/* {"error": "..."} with the status. */
void web_respond_error(struct web_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* {"error": "...", "parameter": name}, status 400 (name from web_params.bad when NULL). */
void web_respond_bad_param(struct web_response *r, const char *param, const char *message);
void web_respond_text(struct web_response *r, int status, const char *content_type, char *body,
                      size_t len); /* takes body */

#endif
