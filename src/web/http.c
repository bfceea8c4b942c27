#include "web/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long web_url_decode(char *s, size_t len, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return -1;
        s[o++] = c;
    }
    s[o] = '\0';
    return (long)o;
}

static int params_find(const struct web_params *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->item[i].name, name) == 0)
            return i;
    return -1;
}

static void set_bad(struct web_params *p, const char *name)
{
    snprintf(p->bad, sizeof p->bad, "%s", name);
}

int web_params_parse(struct web_params *p, const char *query, size_t len, char *err,
                     size_t errsize)
{
    memset(p, 0, sizeof *p);
    if (len > WEB_MAX_QUERY) {
        snprintf(err, errsize, "query string too long (over %d bytes)", WEB_MAX_QUERY);
        return -1;
    }
    p->buf = malloc(len + 1);
    if (!p->buf) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    memcpy(p->buf, query, len);
    p->buf[len] = '\0';
    char *s = p->buf, *end = p->buf + len;
    while (s < end) {
        char *amp = memchr(s, '&', (size_t)(end - s));
        char *stop = amp ? amp : end;
        *stop = '\0';
        if (stop == s) { /* "a=1&&b=2": tolerated */
            s = stop + 1;
            continue;
        }
        char *eq = strchr(s, '=');
        char *value = eq ? eq + 1 : stop;
        if (eq)
            *eq = '\0';
        long nlen = web_url_decode(s, strlen(s), true);
        long vlen = nlen < 0 ? -1 : web_url_decode(value, strlen(value), true);
        if (nlen <= 0) {
            snprintf(err, errsize, "malformed query string: bad parameter name");
            return -1;
        }
        if (vlen < 0) {
            set_bad(p, s);
            snprintf(err, errsize, "parameter '%.40s': malformed value (bad %% escape)", s);
            return -1;
        }
        if (nlen > 40) {
            snprintf(err, errsize, "parameter name too long");
            return -1;
        }
        if (vlen > WEB_MAX_PARAM_VALUE) {
            set_bad(p, s);
            snprintf(err, errsize, "parameter '%s': value too long (over %d bytes)", s,
                     WEB_MAX_PARAM_VALUE);
            return -1;
        }
        if (params_find(p, s) >= 0) {
            set_bad(p, s);
            snprintf(err, errsize, "parameter '%s' given more than once", s);
            return -1;
        }
        if (p->count == WEB_MAX_PARAMS) {
            snprintf(err, errsize, "too many parameters (over %d)", WEB_MAX_PARAMS);
            return -1;
        }
        p->item[p->count].name = s;
        p->item[p->count].value = value;
        p->count++;
        s = stop + 1;
    }
    return 0;
}

/* Parameters added one by one live in their own blocks, chained from p->added. */
struct added_param {
    struct added_param *next;
    char text[];
};

int web_params_add(struct web_params *p, const char *name, const char *value, char *err,
                   size_t errsize)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    if (nlen == 0 || nlen > 40) {
        snprintf(err, errsize, "bad parameter name");
        return -1;
    }
    if (vlen > WEB_MAX_PARAM_VALUE) {
        set_bad(p, name);
        snprintf(err, errsize, "parameter '%s': value too long (over %d bytes)", name,
                 WEB_MAX_PARAM_VALUE);
        return -1;
    }
    if (params_find(p, name) >= 0) {
        set_bad(p, name);
        snprintf(err, errsize, "parameter '%s' given more than once", name);
        return -1;
    }
    if (p->count == WEB_MAX_PARAMS) {
        snprintf(err, errsize, "too many parameters (over %d)", WEB_MAX_PARAMS);
        return -1;
    }
    struct added_param *a = malloc(sizeof *a + nlen + vlen + 2);
    if (!a) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    a->next = p->added;
    memcpy(a->text, name, nlen + 1);
    memcpy(a->text + nlen + 1, value, vlen + 1);
    p->added = a;
    p->item[p->count].name = a->text;
    p->item[p->count].value = a->text + nlen + 1;
    p->count++;
    return 0;
}

void web_params_free(struct web_params *p)
{
    free(p->buf);
    for (struct added_param *a = p->added, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    p->buf = NULL;
    p->added = NULL;
    p->count = 0;
}

const char *web_param(const struct web_params *p, const char *name)
{
    int i = params_find(p, name);
    return i >= 0 ? p->item[i].value : NULL;
}

int web_params_only(struct web_params *p, const char *const *known, char *err, size_t errsize)
{
    for (int i = 0; i < p->count; i++) {
        const char *name = p->item[i].name;
        if (strcmp(name, "_") == 0)
            continue;
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = strcmp(*k, name) == 0;
        if (!ok) {
            set_bad(p, name);
            snprintf(err, errsize, "unknown parameter '%s'", name);
            return -1;
        }
    }
    return 0;
}

int web_param_uint(struct web_params *p, const char *name, uint64_t min, uint64_t max,
                   uint64_t def, uint64_t *out, char *err, size_t errsize)
{
    const char *v = web_param(p, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = isdigit((unsigned char)v[0]) ? strtoull(v, &end, 10) : 0;
    if (!isdigit((unsigned char)v[0]) || errno || *end || n < min || n > max) {
        set_bad(p, name);
        snprintf(err, errsize, "parameter '%s': '%.64s' is not a number from %llu to %llu", name,
                 v, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

int web_param_bool(struct web_params *p, const char *name, int *out, char *err, size_t errsize)
{
    const char *v = web_param(p, name);
    *out = -1;
    if (!v)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else {
        set_bad(p, name);
        snprintf(err, errsize, "parameter '%s': '%.64s' is not true or false", name, v);
        return -1;
    }
    return 0;
}

int web_param_choice(struct web_params *p, const char *name, const char *const *choices,
                     int def, int *out, char *err, size_t errsize)
{
    const char *v = web_param(p, name);
    if (!v) {
        *out = def;
        return 0;
    }
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], v) == 0) {
            *out = i;
            return 0;
        }
    set_bad(p, name);
    int n = snprintf(err, errsize, "parameter '%s': '%.64s' is not one of", name, v);
    for (int i = 0; choices[i] && n > 0 && (size_t)n < errsize; i++)
        n += snprintf(err + n, errsize - (size_t)n, "%s %s", i ? "," : "", choices[i]);
    return -1;
}

/* ---- cookies ---- */

int web_cookie_get(const char *header, const char *name, char *out, size_t outsize)
{
    if (!header)
        return -1;
    size_t nlen = strlen(name);
    const char *s = header;
    while (*s) {
        while (*s == ' ' || *s == ';' || *s == '\t')
            s++;
        const char *end = strchr(s, ';');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len > nlen && strncmp(s, name, nlen) == 0 && s[nlen] == '=') {
            const char *v = s + nlen + 1;
            size_t vlen = len - nlen - 1;
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (vlen + 1 > outsize)
                return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
        s += len;
    }
    return -1;
}

/* ---- listen addresses ---- */

int web_parse_listen(const char *spec, char *addr, size_t addrsize, int *port, char *err,
                     size_t errsize)
{
    const char *portstr = spec;
    addr[0] = '\0';
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= addrsize) {
            snprintf(err, errsize, "'%s' is not [IPv6]:PORT", spec);
            return -1;
        }
        memcpy(addr, spec + 1, (size_t)(close - spec - 1));
        addr[close - spec - 1] = '\0';
        portstr = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon) {
            if (strchr(spec, ':') != colon) {
                snprintf(err, errsize, "'%s': write an IPv6 address as [ADDR]:PORT", spec);
                return -1;
            }
            if ((size_t)(colon - spec) >= addrsize) {
                snprintf(err, errsize, "'%s': address too long", spec);
                return -1;
            }
            memcpy(addr, spec, (size_t)(colon - spec));
            addr[colon - spec] = '\0';
            portstr = colon + 1;
        }
    }
    if (addr[0]) {
        unsigned char tmp[16];
        if (inet_pton(AF_INET, addr, tmp) != 1 && inet_pton(AF_INET6, addr, tmp) != 1) {
            snprintf(err, errsize, "'%s' is not an IP address", addr);
            return -1;
        }
    }
    char *end;
    errno = 0;
    long n = isdigit((unsigned char)portstr[0]) ? strtol(portstr, &end, 10) : -1;
    if (n < 0 || errno || *end || n > 65535) {
        snprintf(err, errsize, "'%s' is not a port from 0 to 65535 (0 disables)", portstr);
        return -1;
    }
    *port = (int)n;
    return 0;
}

/* ---- text buffer ---- */

static bool buf_reserve(struct web_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void web_buf_append(struct web_buf *b, const char *s, size_t len)
{
    if (!buf_reserve(b, len))
        return;
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void web_buf_printf(struct web_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        web_buf_append(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void web_buf_free(struct web_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- responses ---- */

void web_response_free(struct web_response *r)
{
    free(r->body);
    for (int i = 0; i < r->header_count; i++)
        free(r->header[i].value);
    memset(r, 0, sizeof *r);
}

void web_response_header(struct web_response *r, const char *name, const char *fmt, ...)
{
    if (r->header_count == WEB_MAX_HEADERS)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *value = NULL;
    int n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    r->header[r->header_count].name = name;
    r->header[r->header_count].value = value;
    r->header_count++;
}

void web_respond_text(struct web_response *r, int status, const char *content_type, char *body,
                      size_t len)
{
    free(r->body);
    r->status = status;
    r->content_type = content_type;
    r->body = body;
    r->body_len = body ? len : 0;
}

void web_respond_json(struct web_response *r, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        web_respond_error(r, 500, "out of memory");
        return;
    }
    /* cJSON's allocator is malloc (never changed here), so free() releases it. */
    web_respond_text(r, status, "application/json", text, strlen(text));
}

static void respond_error_text(struct web_response *r, int status, const char *message,
                               const char *param)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    if (param)
        cJSON_AddStringToObject(o, "parameter", param);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        text = strdup(oom);
        status = 500;
    }
    web_respond_text(r, status, "application/json", text, text ? strlen(text) : 0);
}

void web_respond_error(struct web_response *r, int status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    respond_error_text(r, status, message, NULL);
}

void web_respond_bad_param(struct web_response *r, const char *param, const char *message)
{
    respond_error_text(r, 400, message, param && param[0] ? param : NULL);
}
