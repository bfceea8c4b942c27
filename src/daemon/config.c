#include "daemon/config.h"
#include "web/http.h"
#include "core/clock.h"

#include "capture/port_pair.h"
#include "capture/source.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <limits.h>
#include <libgen.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum option_id {
    OPT_INTERFACE,
    OPT_LOCAL_NETWORKS,
    OPT_MAX_FLOWS,
    OPT_MAX_HOSTS,
    OPT_FILTER,
    OPT_USER,
    OPT_DAEMON,
    OPT_PID_FILE,
    OPT_VERBOSE,
    OPT_VERSION,
    OPT_HELP,
    OPT_ONCE,
    OPT_FLOWS_OUT,
    OPT_STATS_OUT,
    OPT_REPLAY,
    OPT_LOOP,
    OPT_HISTORY,
    OPT_HISTORY_MAX_MB,
    OPT_HISTORY_SAVE_S,
    OPT_HISTORY_RETENTION,
    OPT_IDLE_TCP,
    OPT_IDLE_TCP_CLOSED,
    OPT_IDLE_UDP,
    OPT_IDLE_OTHER,
    OPT_IDLE_HOST,
    OPT_NDPI_PROTOCOLS,
    OPT_NDPI_RISKY_DOMAINS,
    OPT_NDPI_MALICIOUS_JA3,
    OPT_NDPI_MALICIOUS_SHA1,
    OPT_MAX_DPI_FLOWS,
    OPT_MAX_NAMES,
    OPT_OUI_FILE,
    OPT_MAX_STRINGS,
    OPT_DPI_EXTRA_PACKETS,
    OPT_NTAP_TUN,
    OPT_NTAP_MAX_TAPS,
    OPT_PORT_NAMES,
    OPT_BRIDGE_NAME,
    OPT_PORT_QUEUE,
    OPT_POLICY,
    OPT_POLICY_UNDETECTED,
    OPT_BOARD,
    OPT_BYPASS,
    OPT_WATCHDOG_STALL,
    OPT_WEB, /* every web option: config_apply_web_option applies them by name */
};

struct option_spec {
    enum option_id id;
    char letter;        /* 0: long form only */
    const char *name;
    bool has_value;
    const char *value_name;
    const char *help;
};

static const struct option_spec options[] = {
    {OPT_INTERFACE, 'i', "interface", true, "IF|FILE",
     "capture from a network interface or read a pcap/pcapng file (repeatable); "
     "ntap:PORT[:PASSPHRASE] receives remote taps (tapbox-tap) on UDP PORT"},
    {OPT_PORT_NAMES, 0, "port-names", true, "A,B",
     "names of the two wire ports' sides, e.g. lan,wan (default: the interface names)"},
    {OPT_BRIDGE_NAME, 0, "bridge-name", true, "NAME", "bridge mode: the kernel bridge to use (default br0)"},
    {OPT_PORT_QUEUE, 0, "port-queue", true, "N",
     "inline: frames waiting per direction when a port is busy (default 1024)"},
    {OPT_POLICY, 0, "policy", true, "'NAME drop|pass MATCH...'",
     "inline rule (repeatable, first match wins); MATCH: proto=, host=, vlan=, port=, l4="},
    {OPT_POLICY_UNDETECTED, 0, "policy-undetected", true, "pass|drop",
     "verdict for flows nDPI cannot identify (default pass)"},
    {OPT_BOARD, 0, "board", true, "FILE",
     "board file naming the bypass relay and watchdog (default /run/tapbox/board.conf if present)"},
    {OPT_BYPASS, 0, "bypass", true, "auto|on|off",
     "bypass relay: auto (engaged while not forwarding), on (always), off (never by software)"},
    {OPT_WATCHDOG_STALL, 0, "watchdog-stall-ms", true, "MS",
     "a loop stall this long engages the bypass and stops the watchdog (default half its timeout)"},
    {OPT_NTAP_TUN, 0, "ntap-tun", true, "NAME", "re-emit remote taps' packets on TAP device NAME"},
    {OPT_NTAP_MAX_TAPS, 0, "ntap-max-taps", true, "N", "remote taps at most (default 64)"},
    {OPT_LOCAL_NETWORKS, 'm', "local-networks", true, "CIDRS",
     "local networks, comma separated (default private ranges)"},
    {OPT_MAX_FLOWS, 'X', "max-flows", true, "N", "flow table cap (default 131072)"},
    {OPT_MAX_HOSTS, 'x', "max-hosts", true, "N", "host table cap (default 65536)"},
    {OPT_FILTER, 'B', "packet-filter", true, "BPF", "capture filter for every input"},
    {OPT_USER, 'U', "user", true, "USER", "drop privileges to USER once the inputs are open"},
    {OPT_DAEMON, 'e', "daemon", false, NULL, "run in the background, log to syslog"},
    {OPT_PID_FILE, 'G', "pid-path", true, "PATH", "write the process id to PATH"},
    {OPT_VERBOSE, 'v', "verbose", false, NULL, "more logging (repeat for more)"},
    {OPT_VERSION, 'V', "version", false, NULL, "print the version and exit"},
    {OPT_HELP, 'h', "help", false, NULL, "print this help and exit"},
    {OPT_ONCE, 0, "once", false, NULL, "read the file inputs to the end as fast as possible, then exit"},
    {OPT_FLOWS_OUT, 0, "flows-out", true, "PATH",
     "write each ended flow as a JSON line to PATH ('-' for stdout)"},
    {OPT_STATS_OUT, 0, "stats-out", true, "PATH", "write the final counters as JSON to PATH at exit"},
    {OPT_REPLAY, 0, "replay", true, "realtime|max", "file replay speed (default max)"},
    {OPT_LOOP, 0, "loop", false, NULL, "replay the files forever"},
    {OPT_HISTORY, 'F', "history", false, NULL,
     "keep every ended flow in SQLite (DATA_DIR/history.db), queried by /api/v1/history/flows"},
    {OPT_HISTORY_MAX_MB, 0, "history-max-mb", true, "MB",
     "size cap of the history; the oldest flows go first (default half the free space)"},
    {OPT_HISTORY_RETENTION, 0, "history-retention", true, "KIND:DAYS,...",
     "ages kept: flows (default: none, the size cap decides), minutes (7), hours (90), days "
     "(1830), hosts (90)"},
    {OPT_HISTORY_SAVE_S, 0, "history-save-s", true, "SECONDS",
     "how often hosts and counters are saved for the next start (default 300; also at a stop)"},
    {OPT_IDLE_TCP, 0, "idle-timeout-tcp", true, "S", "idle timeout of TCP flows (default 300)"},
    {OPT_IDLE_TCP_CLOSED, 0, "idle-timeout-tcp-closed", true, "S",
     "idle timeout of closed TCP flows (default 10)"},
    {OPT_IDLE_UDP, 0, "idle-timeout-udp", true, "S", "idle timeout of UDP flows (default 60)"},
    {OPT_IDLE_OTHER, 0, "idle-timeout-other", true, "S",
     "idle timeout of other flows (default 60)"},
    {OPT_IDLE_HOST, 0, "idle-timeout-host", true, "S",
     "idle time before a host without flows is forgotten (default 300)"},
    {OPT_DPI_EXTRA_PACKETS, 0, "dpi-extra-packets", true, "N",
     "packets with payload nDPI still sees after it knows the protocol (default 5, 0-64)"},
    {OPT_MAX_DPI_FLOWS, 0, "max-dpi-flows", true, "N",
     "flows in protocol detection at once; the oldest settles for a guess (default 16384)"},
    {OPT_MAX_NAMES, 0, "max-names", true, "N",
     "addresses with a learned name (DNS answers, SNI, HTTP Host, DHCP) at once (default 16384)"},
    {OPT_OUI_FILE, 0, "oui-file", true, "FILE",
     "MAC vendor names, Wireshark's manuf format (default /usr/share/wireshark/manuf; '' for none)"},
    {OPT_MAX_STRINGS, 0, "max-strings", true, "N",
     "distinct texts flows keep (names, fingerprints, URLs, user agents; 16 MiB at most) (default 131072)"},
    {OPT_NDPI_PROTOCOLS, 'p', "ndpi-protocols", true, "FILE",
     "extra nDPI protocol rules (nDPI's protos.txt format)"},
    {OPT_NDPI_RISKY_DOMAINS, 0, "ndpi-risky-domains", true, "FILE",
     "domain names (one per line, '.tk' for a whole suffix) whose flows carry the Risky Domain risk"},
    {OPT_NDPI_MALICIOUS_JA3, 0, "ndpi-malicious-ja3", true, "FILE",
     "malicious TLS client fingerprints (abuse.ch JA3 CSV: MD5 first)"},
    {OPT_NDPI_MALICIOUS_SHA1, 0, "ndpi-malicious-sha1", true, "FILE",
     "malicious TLS certificates (abuse.ch SSL blacklist CSV: SHA-1 first)"},
    {OPT_WEB, 'w', "http-port", true, "[ADDR:]PORT", "web UI and API over HTTP (default 3000, 0: off)"},
    {OPT_WEB, 'W', "https-port", true, "[ADDR:]PORT", "web UI and API over HTTPS (default 3001, 0: off)"},
    {OPT_WEB, 'd', "data-dir", true, "DIR",
     "users, HTTPS certificate (default /data; build/data in the source tree)"},
    {OPT_WEB, 0, "http-root", true, "DIR", "static web UI files (default /usr/share/tapbox/www)"},
    {OPT_WEB, 0, "lua-dir", true, "DIR", "Lua pages in DIR/pages (default /usr/share/tapbox/lua)"},
    {OPT_WEB, 0, "https-cert", true, "FILE", "HTTPS certificate chain, PEM (default: self-signed)"},
    {OPT_WEB, 0, "https-key", true, "FILE", "HTTPS private key, PEM"},
    {OPT_WEB, 0, "disable-login", false, NULL, "no login: anyone reaching the web port is admin"},
    {OPT_WEB, 0, "http-session-timeout", true, "S", "log out after S idle seconds (default 1800)"},
    {OPT_WEB, 0, "config-status-file", true, "FILE",
     "a one-line note from the supervisor on which config runs, shown in the API and UI"},
    {OPT_WEB, 0, "lua-budget", true, "N", "Lua instructions per page call (default 10000000)"},
};

#define OPTION_COUNT (sizeof options / sizeof options[0])

void config_init(struct tapbox_config *c)
{
    memset(c, 0, sizeof *c);
    engine_config_defaults(&c->engine);
    web_options_init(&c->web);
}

static void replace_string(char **slot, const char *value)
{
    free(*slot);
    *slot = strdup(value);
}

void config_free(struct tapbox_config *c)
{
    for (int i = 0; i < c->interface_count; i++)
        free(c->interfaces[i]);
    free(c->bpf);
    free(c->user);
    free(c->pid_file);
    free(c->flows_out);
    free(c->stats_out);
    free(c->config_file);
    for (size_t i = 0; i < sizeof c->ndpi_files / sizeof c->ndpi_files[0]; i++)
        free(c->ndpi_files[i]);
    free(c->oui_file);
    free(c->ntap_tun);
    free(c->port_names);
    free(c->bridge_name);
    for (int i = 0; i < c->policy_count; i++) {
        free(c->policies[i]);
        free(c->policy_where[i]);
    }
    free(c->policy_undetected);
    free(c->board);
    free(c->bypass);
    web_options_free(&c->web);
    memset(c, 0, sizeof *c);
}

static int parse_number(const char *value, unsigned long long min, unsigned long long max,
                        unsigned long long *out);

/* --history-retention=flows:30,minutes:7,...: each kind once at most, 1 to 36500 days. */
static int parse_retention(const char *value, struct store_retention *keep, const char *where,
                           char *err, size_t errsize)
{
    static const char *const kinds[] = {"flows", "minutes", "hours", "days", "hosts"};
    struct store_retention k = {0};
    unsigned *slot[] = {&k.flow_days, &k.minute_days, &k.hour_days, &k.day_days, &k.host_days};
    char copy[256];
    if (strlen(value) >= sizeof copy) {
        snprintf(err, errsize, "%s: too long", where);
        return -1;
    }
    snprintf(copy, sizeof copy, "%s", value);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        size_t i = 0;
        if (colon) {
            *colon = '\0';
            while (i < sizeof kinds / sizeof kinds[0] && strcmp(item, kinds[i]) != 0)
                i++;
        }
        unsigned long long days;
        if (!colon || i == sizeof kinds / sizeof kinds[0]) {
            if (colon)
                *colon = ':';
            snprintf(err, errsize, "%s: '%s' is not KIND:DAYS with KIND flows, minutes, hours, "
                     "days or hosts", where, item);
            return -1;
        }
        if (*slot[i] || parse_number(colon + 1, 1, 36500, &days) < 0) {
            snprintf(err, errsize, "%s: %s: '%s' is %s", where, item, colon + 1,
                     *slot[i] ? "given twice" : "not a number of days from 1 to 36500");
            return -1;
        }
        *slot[i] = (unsigned)days;
    }
    *keep = k;
    return 0;
}

static int parse_number(const char *value, unsigned long long min, unsigned long long max,
                        unsigned long long *out)
{
    if (!isdigit((unsigned char)value[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- the web server's options and the default paths ---- */

#define BOX_SHARE "/usr/share/tapbox"
#define BOX_DATA "/data"

static int set_path(char **slot, const char *value, char *err, size_t errsize)
{
    if (!value[0]) {
        snprintf(err, errsize, "empty path");
        return -1;
    }
    free(*slot);
    *slot = strdup(value);
    return 0;
}

int config_apply_web_option(struct web_options *o, const char *name, const char *value, char *err,
                      size_t errsize)
{
    unsigned long long n;
    if (strcmp(name, "http-port") == 0 || strcmp(name, "https-port") == 0) {
        bool https = name[4] == 's';
        char addr[64];
        int port;
        if (web_parse_listen(value, addr, sizeof addr, &port, err, errsize) < 0)
            return -1;
        snprintf(https ? o->https_addr : o->http_addr, sizeof addr, "%s", addr);
        *(https ? &o->https_port : &o->http_port) = port;
        *(https ? &o->https_set : &o->http_set) = true;
        return 0;
    }
    if (strcmp(name, "http-root") == 0)
        return set_path(&o->http_root, value, err, errsize);
    if (strcmp(name, "lua-dir") == 0)
        return set_path(&o->lua_dir, value, err, errsize);
    if (strcmp(name, "data-dir") == 0)
        return set_path(&o->data_dir, value, err, errsize);
    if (strcmp(name, "https-cert") == 0)
        return set_path(&o->https_cert, value, err, errsize);
    if (strcmp(name, "https-key") == 0)
        return set_path(&o->https_key, value, err, errsize);
    if (strcmp(name, "config-status-file") == 0)
        return set_path(&o->config_status_file, value, err, errsize);
    if (strcmp(name, "disable-login") == 0) {
        o->disable_login = true;
        return 0;
    }
    if (strcmp(name, "http-session-timeout") == 0) {
        if (parse_number(value, 10, 7 * 86400, &n) < 0) {
            snprintf(err, errsize, "'%s' is not a number of seconds from 10 to 604800", value);
            return -1;
        }
        o->session_timeout_s = (unsigned)n;
        return 0;
    }
    if (strcmp(name, "lua-budget") == 0) {
        if (parse_number(value, 1000, 1000000000ull, &n) < 0) {
            snprintf(err, errsize, "'%s' is not a number of instructions from 1000 to 1000000000",
                     value);
            return -1;
        }
        o->lua_budget = n;
        return 0;
    }
    return 1;
}

int config_validate_web_options(const struct web_options *o, char *err, size_t errsize)
{
    if (!o->https_cert != !o->https_key) {
        snprintf(err, errsize, "--https-cert and --https-key must be given together");
        return -1;
    }
    if (o->http_port && o->http_port == o->https_port &&
        strcmp(o->http_addr, o->https_addr) == 0) {
        snprintf(err, errsize, "--http-port and --https-port are the same port (%d)",
                 o->http_port);
        return -1;
    }
    return 0;
}

/* The source tree this binary was built in (build/tapboxd, build/asan/tapboxd), or NULL. */
static char *repo_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *dir = dirname(exe);
    for (int up = 0; up < 3; up++) {
        char probe[PATH_MAX + 32];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/src/daemon/config.c", dir);
        if (stat(probe, &st) == 0)
            return strdup(dir);
        dir = dirname(dir);
        if (strcmp(dir, "/") == 0)
            break;
    }
    return NULL;
}

static char *default_path(const char *repo, const char *in_repo, const char *on_box)
{
    char *p = NULL;
    if (repo) {
        if (asprintf(&p, "%s/%s", repo, in_repo) < 0)
            p = NULL;
    } else {
        p = strdup(on_box);
    }
    return p;
}

int config_resolve_paths(struct web_options *o)
{
    if (o->http_root && o->lua_dir && o->data_dir)
        return 0;
    char *repo = repo_dir();
    if (!o->http_root)
        o->http_root = default_path(repo, "www", BOX_SHARE "/www");
    if (!o->lua_dir)
        o->lua_dir = default_path(repo, "lua", BOX_SHARE "/lua");
    if (!o->data_dir)
        o->data_dir = default_path(repo, "build/data", BOX_DATA);
    free(repo);
    return o->http_root && o->lua_dir && o->data_dir ? 0 : -1;
}


/* Apply one option. where is "option '-X'" or "file:line" for messages. */
static int apply_option(struct tapbox_config *c, const struct option_spec *o, const char *value,
                        const char *where, char *err, size_t errsize)
{
    unsigned long long n;
    switch (o->id) {
    case OPT_INTERFACE:
        if (c->interface_count == CONFIG_MAX_INTERFACES) {
            snprintf(err, errsize, "%s: more than %d inputs", where, CONFIG_MAX_INTERFACES);
            return -1;
        }
        if (!value[0]) {
            snprintf(err, errsize, "%s: empty interface name", where);
            return -1;
        }
        c->interfaces[c->interface_count++] = strdup(value);
        return 0;
    case OPT_LOCAL_NETWORKS: {
        char why[160];
        if (netlist_parse(&c->engine.local_networks, value, why, sizeof why) < 0) {
            snprintf(err, errsize, "%s: %s", where, why);
            return -1;
        }
        return 0;
    }
    case OPT_DPI_EXTRA_PACKETS:
        if (parse_number(value, 0, 64, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number from 0 to 64", where, value);
            return -1;
        }
        c->engine.dpi_extra_packets = (uint8_t)n;
        return 0;
    case OPT_MAX_FLOWS:
    case OPT_MAX_HOSTS:
    case OPT_MAX_DPI_FLOWS:
    case OPT_MAX_NAMES:
    case OPT_MAX_STRINGS:
        if (parse_number(value, 1, 16777216, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number from 1 to 16777216", where, value);
            return -1;
        }
        if (o->id == OPT_MAX_FLOWS)
            c->engine.max_flows = n;
        else if (o->id == OPT_MAX_HOSTS)
            c->engine.max_hosts = n;
        else if (o->id == OPT_MAX_NAMES)
            c->engine.max_names = n;
        else if (o->id == OPT_MAX_STRINGS)
            c->engine.max_strings = n;
        else
            c->engine.max_dpi_flows = n;
        return 0;
    case OPT_FILTER: {
        struct bpf_program prog;
        /* Checked here so that a typo is an exit-2 error, not a runtime surprise. */
        pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
        int rc = dead ? pcap_compile(dead, &prog, value, 1, PCAP_NETMASK_UNKNOWN) : -1;
        if (rc < 0) {
            snprintf(err, errsize, "%s: '%s' is not a valid BPF filter%s%s", where, value,
                     dead ? ": " : "", dead ? pcap_geterr(dead) : "");
            if (dead)
                pcap_close(dead);
            return -1;
        }
        pcap_freecode(&prog);
        pcap_close(dead);
        replace_string(&c->bpf, value);
        return 0;
    }
    case OPT_NDPI_PROTOCOLS:
    case OPT_NDPI_RISKY_DOMAINS:
    case OPT_NDPI_MALICIOUS_JA3:
    case OPT_NDPI_MALICIOUS_SHA1: {
        if (access(value, R_OK) < 0) {
            snprintf(err, errsize, "%s: cannot read '%s': %s", where, value, strerror(errno));
            return -1;
        }
        int i = (int)o->id - OPT_NDPI_PROTOCOLS;
        replace_string(&c->ndpi_files[i], value);
        const char **slot[] = {&c->engine.ndpi_files.protocols, &c->engine.ndpi_files.risky_domains,
                               &c->engine.ndpi_files.malicious_ja3,
                               &c->engine.ndpi_files.malicious_sha1};
        *slot[i] = c->ndpi_files[i];
        return 0;
    }
    case OPT_OUI_FILE:
        if (value[0] && access(value, R_OK) < 0) {
            snprintf(err, errsize, "%s: cannot read '%s': %s", where, value, strerror(errno));
            return -1;
        }
        replace_string(&c->oui_file, value);
        c->engine.oui_file = c->oui_file;
        return 0;
    case OPT_NTAP_TUN:
        replace_string(&c->ntap_tun, value);
        return 0;
    case OPT_NTAP_MAX_TAPS:
        if (parse_number(value, 1, 65536, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number from 1 to 65536", where, value);
            return -1;
        }
        c->ntap_max_taps = (unsigned)n;
        return 0;
    case OPT_PORT_NAMES: {
        const char *comma = strchr(value, ',');
        if (!comma || comma == value || !comma[1] || strchr(comma + 1, ',') ||
            (size_t)(comma - value) >= PORT_SIDE_NAME || strlen(comma + 1) >= PORT_SIDE_NAME) {
            snprintf(err, errsize, "%s: '%s' is not two names (at most %d characters) separated "
                     "by a comma", where, value, PORT_SIDE_NAME - 1);
            return -1;
        }
        replace_string(&c->port_names, value);
        return 0;
    }
    case OPT_BRIDGE_NAME:
        if (strlen(value) >= 16) {
            snprintf(err, errsize, "%s: interface names have at most 15 characters", where);
            return -1;
        }
        replace_string(&c->bridge_name, value);
        return 0;
    case OPT_PORT_QUEUE:
        if (parse_number(value, 16, 65536, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number from 16 to 65536", where, value);
            return -1;
        }
        c->port_queue = (unsigned)n;
        return 0;
    case OPT_POLICY:
        /* Checked when the daemon builds the rule set: protocol names need nDPI. */
        if (c->policy_count == CONFIG_MAX_POLICIES) {
            snprintf(err, errsize, "%s: more than %d policies", where, CONFIG_MAX_POLICIES);
            return -1;
        }
        c->policies[c->policy_count] = strdup(value);
        c->policy_where[c->policy_count++] = strdup(where);
        return 0;
    case OPT_POLICY_UNDETECTED:
        if (strcmp(value, "pass") && strcmp(value, "drop")) {
            snprintf(err, errsize, "%s: '%s' is not 'pass' or 'drop'", where, value);
            return -1;
        }
        replace_string(&c->policy_undetected, value);
        return 0;
    case OPT_BOARD:
        if (access(value, R_OK) < 0) {
            snprintf(err, errsize, "%s: cannot read '%s': %s", where, value, strerror(errno));
            return -1;
        }
        replace_string(&c->board, value);
        return 0;
    case OPT_BYPASS:
        if (strcmp(value, "auto") && strcmp(value, "on") && strcmp(value, "off")) {
            snprintf(err, errsize, "%s: '%s' is not 'auto', 'on' or 'off'", where, value);
            return -1;
        }
        replace_string(&c->bypass, value);
        return 0;
    case OPT_WATCHDOG_STALL:
        if (parse_number(value, 100, 600000, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number of milliseconds from 100 to 600000",
                     where, value);
            return -1;
        }
        c->watchdog_stall_ms = (unsigned)n;
        return 0;
    case OPT_USER:
        replace_string(&c->user, value);
        return 0;
    case OPT_DAEMON:
        c->daemonize = true;
        return 0;
    case OPT_PID_FILE:
        replace_string(&c->pid_file, value);
        return 0;
    case OPT_VERBOSE:
        c->verbosity++;
        return 0;
    case OPT_VERSION:
        c->show_version = true;
        return 0;
    case OPT_HELP:
        c->show_help = true;
        return 0;
    case OPT_ONCE:
        c->once = true;
        return 0;
    case OPT_FLOWS_OUT:
        replace_string(&c->flows_out, value);
        return 0;
    case OPT_STATS_OUT:
        replace_string(&c->stats_out, value);
        return 0;
    case OPT_REPLAY:
        if (strcmp(value, "realtime") == 0)
            c->replay = REPLAY_REALTIME;
        else if (strcmp(value, "max") == 0)
            c->replay = REPLAY_MAX;
        else {
            snprintf(err, errsize, "%s: '%s' is not 'realtime' or 'max'", where, value);
            return -1;
        }
        return 0;
    case OPT_LOOP:
        c->loop = true;
        return 0;
    case OPT_HISTORY:
        c->history = true;
        return 0;
    case OPT_HISTORY_MAX_MB:
        if (parse_number(value, 1, 1000000, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number of MB from 1 to 1000000", where, value);
            return -1;
        }
        c->history_max_mb = (unsigned)n;
        return 0;
    case OPT_HISTORY_RETENTION:
        return parse_retention(value, &c->history_keep, where, err, errsize);
    case OPT_HISTORY_SAVE_S:
        if (parse_number(value, 10, 3600, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number of seconds from 10 to 3600", where,
                     value);
            return -1;
        }
        c->history_save_s = (unsigned)n;
        return 0;
    case OPT_WEB: {
        char why[300];
        if (config_apply_web_option(&c->web, o->name, value, why, sizeof why) != 0) {
            snprintf(err, errsize, "%s: %s", where, why);
            return -1;
        }
        return 0;
    }
    case OPT_IDLE_TCP:
    case OPT_IDLE_TCP_CLOSED:
    case OPT_IDLE_UDP:
    case OPT_IDLE_OTHER:
    case OPT_IDLE_HOST:
        if (parse_number(value, 1, 86400, &n) < 0) {
            snprintf(err, errsize, "%s: '%s' is not a number of seconds from 1 to 86400", where,
                     value);
            return -1;
        }
        if (o->id == OPT_IDLE_HOST)
            c->engine.host_idle_timeout_us = n * US_PER_S;
        else
            c->engine.idle_timeout_us[o->id == OPT_IDLE_TCP          ? FLOW_TIMEOUT_TCP
                                      : o->id == OPT_IDLE_TCP_CLOSED ? FLOW_TIMEOUT_TCP_CLOSED
                                      : o->id == OPT_IDLE_UDP        ? FLOW_TIMEOUT_UDP
                                                                     : FLOW_TIMEOUT_OTHER] =
                n * US_PER_S;
        return 0;
    }
    return -1;
}

static const struct option_spec *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static const struct option_spec *find_letter(char letter)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (options[i].letter && options[i].letter == letter)
            return &options[i];
    return NULL;
}

/*
 * Split "--name=value", "--name", "-X=value", "-Xvalue", "-X" into the option and an inline
 * value (NULL if none). Returns NULL and fills err if the option is unknown.
 */
static const struct option_spec *split_option(const char *arg, const char **inline_value,
                                              const char *where, char *err, size_t errsize)
{
    *inline_value = NULL;
    const struct option_spec *o = NULL;
    if (arg[0] == '-' && arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        o = find_long(name, len);
        if (o && eq)
            *inline_value = eq + 1;
    } else if (arg[0] == '-' && arg[1] && arg[1] != '-') {
        o = find_letter(arg[1]);
        if (o && arg[2])
            *inline_value = arg[2] == '=' ? arg + 3 : arg + 2;
    }
    if (!o) {
        snprintf(err, errsize, "%s: unknown option '%s' (see --help)", where, arg);
        return NULL;
    }
    if (!o->has_value && *inline_value) {
        snprintf(err, errsize, "%s: option '%s' takes no value", where, arg);
        return NULL;
    }
    return o;
}

int config_parse_file(struct tapbox_config *c, const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    char *read_line = NULL;
    size_t read_size = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    /* getline, not fgets: it gives the length read, so a NUL byte inside a line is seen (fgets'
     * strlen would stop there and hide what follows, e.g. an option after a '#'). */
    while ((got = getline(&read_line, &read_size, f)) >= 0) {
        lineno++;
        char where[512];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if ((size_t)got >= sizeof line) {
            snprintf(err, errsize, "%s: line too long", where);
            rc = -1;
            break;
        }
        if (memchr(read_line, '\0', (size_t)got)) {
            snprintf(err, errsize, "%s: a NUL byte in the line", where);
            rc = -1;
            break;
        }
        memcpy(line, read_line, (size_t)got + 1);
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        char *end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        if (*s != '-') {
            snprintf(err, errsize, "%s: expected '--option=value', got '%s'", where, s);
            rc = -1;
            break;
        }
        /* "-i eth0" is accepted as well as "-i=eth0" and "--interface=eth0". */
        char *space = strpbrk(s, " \t");
        char *spaced_value = NULL;
        if (space && (!strchr(s, '=') || strchr(s, '=') > space)) {
            *space = '\0';
            spaced_value = space + 1;
            while (isspace((unsigned char)*spaced_value))
                spaced_value++;
        }
        const char *value;
        const struct option_spec *o = split_option(s, &value, where, err, errsize);
        if (!o) {
            rc = -1;
            break;
        }
        if (!value)
            value = spaced_value;
        else if (spaced_value) {
            snprintf(err, errsize, "%s: unexpected text after the value of '%s'", where, s);
            rc = -1;
            break;
        }
        if (o->has_value && (!value || !*value)) {
            snprintf(err, errsize, "%s: option '--%s' needs a value", where, o->name);
            rc = -1;
            break;
        }
        if (!o->has_value && value) {
            snprintf(err, errsize, "%s: option '--%s' takes no value", where, o->name);
            rc = -1;
            break;
        }
        if (apply_option(c, o, value ? value : "", where, err, errsize) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errsize, "%s: read error: %s", path, strerror(errno));
        rc = -1;
    }
    free(read_line);
    fclose(f);
    return rc;
}

/* "-vv" and the like: several value-less letters in one word. 0 when applied, -1 otherwise. */
static int apply_letter_cluster(struct tapbox_config *c, const char *arg)
{
    if (arg[0] != '-' || arg[1] == '-' || !arg[1] || !arg[2])
        return -1;
    for (const char *p = arg + 1; *p; p++) {
        const struct option_spec *o = find_letter(*p);
        if (!o || o->has_value)
            return -1;
    }
    char err[16];
    for (const char *p = arg + 1; *p; p++)
        apply_option(c, find_letter(*p), "", arg, err, sizeof err);
    return 0;
}

int config_parse_args(struct tapbox_config *c, int argc, char **argv, char *err, size_t errsize)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            /* A bare argument is a config file, as with ntopng. */
            if (c->config_file) {
                snprintf(err, errsize, "only one config file may be given ('%s' and '%s')",
                         c->config_file, arg);
                return -1;
            }
            c->config_file = strdup(arg);
            if (config_parse_file(c, arg, err, errsize) < 0)
                return -1;
            continue;
        }
        if (apply_letter_cluster(c, arg) == 0) /* -vv */
            continue;
        char where[300];
        snprintf(where, sizeof where, "option '%s'", arg);
        const char *value;
        const struct option_spec *o = split_option(arg, &value, where, err, errsize);
        if (!o)
            return -1;
        if (o->has_value && !value) {
            if (i + 1 >= argc) {
                snprintf(err, errsize, "%s: needs a value (%s)", where, o->value_name);
                return -1;
            }
            value = argv[++i];
        }
        if (apply_option(c, o, value ? value : "", where, err, errsize) < 0)
            return -1;
    }
    return 0;
}

int config_validate(const struct tapbox_config *c, char *err, size_t errsize)
{
    if (c->show_help || c->show_version)
        return 0;
    if (c->interface_count == 0) {
        snprintf(err, errsize, "no input given: use -i INTERFACE or -i FILE.pcap");
        return -1;
    }
    if (c->once && c->loop) {
        snprintf(err, errsize, "--once and --loop cannot be combined");
        return -1;
    }
    if (c->once && c->replay == REPLAY_REALTIME) {
        snprintf(err, errsize, "--once reads as fast as possible; drop --replay=realtime");
        return -1;
    }
    int pairs = 0;
    for (int i = 0; i < c->interface_count; i++) {
        if (!port_spec_is(c->interfaces[i]))
            continue;
        enum port_mode mode;
        char a[IFNAMSIZ], b[IFNAMSIZ], why[200];
        if (port_spec_parse(c->interfaces[i], &mode, a, b, why, sizeof why) < 0) {
            snprintf(err, errsize, "-i %s", why);
            return -1;
        }
        if (++pairs > 1) {
            snprintf(err, errsize, "one port pair (inline:, bridge: or tap:) at most");
            return -1;
        }
        if (mode == PORT_MODE_INLINE && c->bpf) {
            snprintf(err, errsize, "-B cannot apply to inline ports: every frame must be forwarded");
            return -1;
        }
    }
    for (int i = 0; c->once && i < c->interface_count; i++) {
        if (!source_spec_is_file(c->interfaces[i])) {
            snprintf(err, errsize, "--once reads files only; '%s' is an interface",
                     c->interfaces[i]);
            return -1;
        }
    }
    return config_validate_web_options(&c->web, err, errsize);
}

void config_print_help(const char *prog)
{
    printf("Usage: %s [options] | %s CONFIG_FILE\n\n", prog, prog);
    printf("tapbox flow engine: packets from interfaces and pcap files become flows and hosts\n"
           "with their application protocol (nDPI).\n\nOptions:\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *o = &options[i];
        char left[64];
        if (o->letter)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->letter, o->name,
                     o->has_value ? "=" : "", o->has_value ? o->value_name : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->has_value ? "=" : "",
                     o->has_value ? o->value_name : "");
        printf("  %-36s %s\n", left, o->help);
    }
    printf("\nA config file holds one option a line ('--option=value' or '-X=value'),\n"
           "'#' starts a comment. SIGHUP re-reads it: local networks, idle timeouts, the\n"
           "filter and verbosity change at once; inputs and caps need a restart.\n");
}
