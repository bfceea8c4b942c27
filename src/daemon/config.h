/*
 * tapboxd's options, from the command line and from a config file (one "--option=value" a line,
 * "#" comments), with ntopng's letters where the meaning is the same.
 */
#ifndef TAPBOX_CONFIG_H
#define TAPBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "flow/engine.h"
#include "store/store.h"
#include "web/web.h"

#define CONFIG_MAX_INTERFACES 16
#define CONFIG_MAX_POLICIES 256

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
    char *oui_file;                /* --oui-file (NULL: the engine's default) */
    char *ndpi_files[4];           /* --ndpi-protocols, -risky-domains, -malicious-ja3, -sha1 */
    char *ntap_tun;          /* --ntap-tun: re-emit nTap packets on this TAP device */
    unsigned ntap_max_taps;  /* --ntap-max-taps (0: 64) */
    /* The two wire ports (-i inline:A,B, bridge:A,B, tap:A,B) and the box around them. */
    char *port_names;        /* --port-names=lan,wan */
    char *bridge_name;       /* --bridge-name (bridge mode; default br0) */
    unsigned port_queue;     /* --port-queue: frames waiting per direction (0: default) */
    char *policies[CONFIG_MAX_POLICIES]; /* --policy rules, in order */
    char *policy_where[CONFIG_MAX_POLICIES]; /* "file:line" or "option" of each, for errors */
    int policy_count;
    char *policy_undetected; /* --policy-undetected=pass|drop */
    char *board;             /* --board: the board file (relay, watchdog) */
    char *bypass;            /* --bypass=auto|on|off */
    unsigned watchdog_stall_ms; /* --watchdog-stall-ms (0: half the watchdog timeout) */
    char *config_file;       /* the file the options came from, for SIGHUP */
    int verbosity;           /* 0 info, 1+ debug */
    bool daemonize;
    bool once;
    bool loop;
    bool history;            /* -F: ended flows into SQLite (src/store/) */
    unsigned history_max_mb; /* --history-max-mb (0: half the free space) */
    unsigned history_save_s; /* --history-save-s (0: STORE_STATE_S) */
    struct store_retention history_keep; /* --history-retention (0s: the defaults) */
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

/* Apply one web option by its long name ("http-port", "data-dir"...). Returns 0, -1 with a
 * message in err (without the option's name), or 1 when name is not a web option. */
int config_apply_web_option(struct web_options *o, const char *name, const char *value,
                            char *err, size_t errsize);

/* Cross-checks of the web options: --https-cert and --https-key go together, HTTP and HTTPS on
 * different ports. */
int config_validate_web_options(const struct web_options *o, char *err, size_t errsize);

/* The web server's paths not given (--http-root, --lua-dir, --data-dir) get their defaults:
 * the source tree's www/, lua/ and build/data when run from it, else /usr/share/tapbox/www,
 * /usr/share/tapbox/lua and /data on the box. -1 when out of memory. */
int config_resolve_paths(struct web_options *o);

#endif
