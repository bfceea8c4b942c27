#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static int to_syslog;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(enum log_level level) { current_level = level; }

enum log_level log_get_level(void) { return current_level; }

void log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    to_syslog = 1;
}

void log_msg(enum log_level level, const char *subsystem, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (to_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s %s: %s", level_names[level], subsystem, text);
    } else {
        fprintf(stderr, "%s %s: %s\n", level_names[level], subsystem, text);
    }
}
