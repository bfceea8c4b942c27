/* Logging: one line per event, "LEVEL subsystem: message", to stderr or syslog. */
#ifndef TAPBOX_LOG_H
#define TAPBOX_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* After daemonising, lines go to syslog (facility daemon) instead of stderr. */
void log_use_syslog(const char *ident);

void log_msg(enum log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(sub, ...) log_msg(LOG_LEVEL_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...) log_msg(LOG_LEVEL_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...) log_msg(LOG_LEVEL_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...)                                                                        \
    do {                                                                                           \
        if (log_get_level() >= LOG_LEVEL_DEBUG)                                                    \
            log_msg(LOG_LEVEL_DEBUG, sub, __VA_ARGS__);                                            \
    } while (0)

#endif
