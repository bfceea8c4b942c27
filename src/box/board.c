/* The board file reader (shell KEY=VALUE lines, strict about the keys it knows) and the atomic
 * file writes of the simulated relay and watchdog. No state, no threads. */
#include "box/board.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_CHARS 1024
#define VALUE_MAX_CHARS 256
#define RELAY_LINE_MAX 65535u
#define SETTLE_MS_MAX 10000u
#define WATCHDOG_TIMEOUT_MAX 3600u

struct parser {
    const char *path;
    unsigned lineno;
    char *err;
    size_t errsize;
    bool line_set;
    char open_quote;      /* an ignored key's value goes on past this line, until this quote */
    unsigned quote_line;  /* where it opened */
};

static const char *const known_keys[] = {
    "BOARD_NAME",        "RELAY_GPIO_CHIP", "RELAY_GPIO_LINE",  "RELAY_GPIO_ACTIVE",
    "RELAY_SETTLE_MS",   "WATCHDOG_DEVICE", "WATCHDOG_TIMEOUT",
};

static bool is_known(const char *key)
{
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (!strcmp(key, known_keys[i]))
            return true;
    return false;
}

/* The value of a key we ignore may use any shell syntax; all we must know is whether a quote
 * stays open past the end of the line (a multi-line value), so that its next lines are not
 * read as assignments. */
static void skip_quoted(struct parser *p, const char *s)
{
    char q = p->open_quote;
    for (const char *start = s; *s; s++) {
        if (!q) {
            if (*s == '#' && s > start && isspace((unsigned char)s[-1]))
                break; /* a comment: quotes in it do not count */
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"' || *s == '\'')
                q = *s;
        } else if (q == '"' && *s == '\\' && s[1]) {
            s++;
        } else if (*s == q) {
            q = 0;
        }
    }
    if (q && !p->open_quote)
        p->quote_line = p->lineno;
    p->open_quote = q;
}

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errsize, "%s:%u: %s", p->path, p->lineno, why);
    return -1;
}

/* Decimal, no sign, no blanks, at most max. */
static int parse_uint(struct parser *p, const char *key, const char *s, unsigned max,
                      unsigned *out)
{
    unsigned long long v = 0;
    if (!*s)
        return fail(p, "%s: not a number", key);
    for (const char *c = s; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return fail(p, "%s: not a number: '%s'", key, s);
        v = v * 10 + (unsigned)(*c - '0');
        if (v > max)
            return fail(p, "%s: %s is out of range (0..%u)", key, s, max);
    }
    *out = (unsigned)v;
    return 0;
}

static int copy_str(struct parser *p, const char *key, const char *s, char *dst, size_t size)
{
    if (strlen(s) >= size)
        return fail(p, "%s: longer than %zu characters", key, size - 1);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* One shell word: bare characters, "double quoted" and 'single quoted' parts, a backslash
 * escapes the next character (not inside single quotes). No expansion: the files we read never
 * need it, and a `$` would mean a value we cannot know. */
static int parse_value(struct parser *p, const char *key, const char *s, char *out, size_t size)
{
    size_t n = 0;
    while (*s && !isspace((unsigned char)*s)) {
        char c = *s++;
        char quote = 0;
        if (c == '"' || c == '\'') {
            quote = c;
            while (*s && *s != quote) {
                c = *s++;
                if (quote == '"' && c == '\\' && *s && strchr("\"\\$`", *s))
                    c = *s++;
                if (c == '$' || c == '`')
                    return fail(p, "%s: shell expansion is not supported", key);
                if (n + 1 >= size)
                    return fail(p, "%s: value longer than %zu characters", key, size - 1);
                out[n++] = c;
            }
            if (*s != quote)
                return fail(p, "%s: unterminated %c quote", key, quote);
            s++;
            continue;
        }
        if (c == '\\' && *s)
            c = *s++;
        else if (c == '$' || c == '`' || c == ';' || c == '|' || c == '&')
            return fail(p, "%s: shell syntax '%c' is not supported", key, c);
        if (n + 1 >= size)
            return fail(p, "%s: value longer than %zu characters", key, size - 1);
        out[n++] = c;
    }
    out[n] = '\0';
    while (isspace((unsigned char)*s))
        s++;
    if (*s && *s != '#')
        return fail(p, "%s: unexpected text after the value: '%.40s'", key, s);
    return 0;
}

static int apply_key(struct parser *p, struct board_config *b, const char *key, const char *v)
{
    if (!strcmp(key, "BOARD_NAME"))
        return copy_str(p, key, v, b->name, sizeof b->name);
    if (!strcmp(key, "RELAY_GPIO_CHIP")) {
        b->has_relay = *v != '\0';
        return copy_str(p, key, v, b->relay_chip, sizeof b->relay_chip);
    }
    if (!strcmp(key, "WATCHDOG_DEVICE")) {
        b->has_watchdog = *v != '\0';
        return copy_str(p, key, v, b->watchdog_device, sizeof b->watchdog_device);
    }
    /* Numbers: an empty value means "not set", as in the shell. */
    if (!strcmp(key, "RELAY_GPIO_LINE")) {
        p->line_set = *v != '\0';
        b->relay_line = 0;
        return *v ? parse_uint(p, key, v, RELAY_LINE_MAX, &b->relay_line) : 0;
    }
    if (!strcmp(key, "RELAY_GPIO_ACTIVE")) {
        if (!*v) {
            b->relay_active = 1;
            return 0;
        }
        if (strcmp(v, "0") && strcmp(v, "1"))
            return fail(p, "%s: must be 1 (high takes the link out of bypass) or 0, not '%s'",
                        key, v);
        b->relay_active = v[0] - '0';
        return 0;
    }
    if (!strcmp(key, "RELAY_SETTLE_MS")) {
        b->relay_settle_ms = BOARD_SETTLE_MS_DEFAULT;
        return *v ? parse_uint(p, key, v, SETTLE_MS_MAX, &b->relay_settle_ms) : 0;
    }
    if (!strcmp(key, "WATCHDOG_TIMEOUT")) {
        b->watchdog_timeout_s = BOARD_WATCHDOG_TIMEOUT_DEFAULT;
        if (!*v)
            return 0;
        if (parse_uint(p, key, v, WATCHDOG_TIMEOUT_MAX, &b->watchdog_timeout_s) < 0)
            return -1;
        if (b->watchdog_timeout_s == 0)
            return fail(p, "%s: must be at least 1 second", key);
        return 0;
    }
    return 0; /* a key for the shell scripts */
}

static int parse_line(struct parser *p, struct board_config *b, char *line)
{
    char *s = line;
    if (p->open_quote) {
        skip_quoted(p, s);
        return 0;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (!*s || *s == '#')
        return 0;
    if (!strncmp(s, "export", 6) && (s[6] == ' ' || s[6] == '\t')) {
        s += 6;
        while (isspace((unsigned char)*s))
            s++;
    }
    char key[64];
    size_t k = 0;
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return fail(p, "not a KEY=VALUE line: '%.40s'", s);
    while (isalnum((unsigned char)*s) || *s == '_') {
        if (k + 1 >= sizeof key)
            return fail(p, "key longer than %zu characters", sizeof key - 1);
        key[k++] = *s++;
    }
    key[k] = '\0';
    if (*s != '=')
        return fail(p, "not a KEY=VALUE line (no '=' right after %s)", key);
    if (!is_known(key)) {
        skip_quoted(p, s + 1);
        return 0;
    }
    char value[VALUE_MAX_CHARS];
    if (parse_value(p, key, s + 1, value, sizeof value) < 0)
        return -1;
    return apply_key(p, b, key, value);
}

int board_load(const char *path, struct board_config *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    out->relay_active = 1;
    out->relay_settle_ms = BOARD_SETTLE_MS_DEFAULT;
    out->watchdog_timeout_s = BOARD_WATCHDOG_TIMEOUT_DEFAULT;
    struct parser p = {.path = path, .err = err, .errsize = errsize};

    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "%s: cannot open board file: %s", path, strerror(errno));
        return -1;
    }
    char line[LINE_MAX_CHARS];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        p.lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            rc = fail(&p, "line longer than %d characters", LINE_MAX_CHARS - 2);
            break;
        }
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        rc = parse_line(&p, out, line);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errsize, "%s: read error: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    if (rc == 0 && p.open_quote) {
        snprintf(err, errsize, "%s:%u: unterminated %c quote", path, p.quote_line,
                 p.open_quote);
        rc = -1;
    }
    if (rc == 0 && out->has_relay && !p.line_set) {
        snprintf(err, errsize, "%s: RELAY_GPIO_CHIP is set but RELAY_GPIO_LINE is not", path);
        rc = -1;
    }
    return rc;
}

const char *board_sim_path(const char *spec)
{
    return strncmp(spec, "file:", 5) ? NULL : spec + 5;
}

static int write_whole(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    return close(fd);
}

int board_sim_write(const char *path, const char *text, char *err, size_t errsize)
{
    char tmp[PATH_MAX];
    if (!*path || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errsize, "bad simulated device path '%s'", path);
        return -1;
    }
    int rc = write_whole(tmp, text);
    if (rc < 0 && errno == ENOENT) {
        /* /run is a tmpfs: the sim directory vanishes at every boot. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0755) == 0 || errno == EEXIST)
                rc = write_whole(tmp, text);
        }
    }
    if (rc < 0) {
        snprintf(err, errsize, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errsize, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
