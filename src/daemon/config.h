/*
 * tapboxd's options, from the command line and from a config file (one "--option=value" a line,
 * "#" comments), with ntopng's letters where the meaning is the same.
 */
#ifndef TAPBOX_CONFIG_H
#define TAPBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../flow/engine.h"
#include "../web/web.h"

#define CONFIG_MAX_INTERFACES 16

enum replay_mode { REPLAY_MAX = 0, REPLAY_REALTIME };

struct tapbox_config {
    char *interfaces[CONFIG_MAX_INTERFACES];
    int interface_count;
    struct engine_config engine;
    struct web_options web;  /* -w, -W, -d, --http-root... (see src/web/web.h) */
    char *bpf;
    char *user;
    char *pid_file;
    char *flows_out;
    char *stats_out;
    char *ndpi_protocols;
    char *ntap_tun;          /* --ntap-tun: re-emit nTap packets on this TAP device */
    unsigned ntap_max_taps;  /* --ntap-max-taps (0: 64) */
    char *config_file;       /* the file the options came from, for SIGHUP */
    int verbosity;           /* 0 info, 1+ debug */
    bool daemonize;
    bool once;
    bool loop;
    enum replay_mode replay;
    bool show_help;
    bool show_version;
};

/* Exit status for bad options and config lines. */
#define CONFIG_EXIT_USAGE 2

void config_init(struct tapbox_config *c);
void config_free(struct tapbox_config *c);

/* Parse argv. Returns 0, or -1 with a message naming the option or file:line in err. */
int config_parse_args(struct tapbox_config *c, int argc, char **argv, char *err, size_t errsize);
/* Parse a config file into c (used at start and on SIGHUP). */
int config_parse_file(struct tapbox_config *c, const char *path, char *err, size_t errsize);
/* Cross-option checks once everything is read (e.g. an input is required). */
int config_validate(const struct tapbox_config *c, char *err, size_t errsize);

void config_print_help(const char *prog);

#endif
