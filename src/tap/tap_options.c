#include "tap/tap_options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntap/ntap_wire.h"

void tap_options_init(struct tap_options *o)
{
    memset(o, 0, sizeof *o);
    o->snaplen = TAP_DEFAULT_SNAPLEN;
    o->buffer_mib = TAP_DEFAULT_BUFFER_MIB;
    o->mtu = TAP_DEFAULT_MTU;
    o->stats_interval_s = TAP_DEFAULT_STATS_INTERVAL;
}

void tap_options_free(struct tap_options *o)
{
    free(o->interface);
    free(o->collector_host);
    if (o->passphrase) {
        sodium_memzero(o->passphrase, strlen(o->passphrase));
        free(o->passphrase);
    }
    free(o->bpf);
    free(o->genkey_path);
    sodium_memzero(o, sizeof *o);
}

/* "@FILE": the first line of FILE (keys stay out of `ps`); otherwise the text itself. */
static char *value_or_file(const char *v, const char *opt, char *err, size_t errsize)
{
    if (v[0] != '@')
        return strdup(v);
    FILE *f = fopen(v + 1, "r");
    if (!f) {
        snprintf(err, errsize, "%s: cannot read %s: %s", opt, v + 1, strerror(errno));
        return NULL;
    }
    char line[1024] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    char *r = strdup(line);
    sodium_memzero(line, sizeof line);
    return r;
}

static int parse_collector(struct tap_options *o, const char *v, char *err, size_t errsize)
{
    const char *host = v, *colon;
    size_t host_len;
    if (v[0] == '[') { /* [v6]:port */
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errsize, "-c %s: expected [ADDRESS]:PORT", v);
            return -1;
        }
        host = v + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || strchr(v, ':') != colon) {
            snprintf(err, errsize, "-c %s: expected HOST:PORT (an IPv6 address in brackets)", v);
            return -1;
        }
        host_len = (size_t)(colon - v);
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (host_len == 0 || !colon[1] || *end || errno || port == 0 || port > 65535) {
        snprintf(err, errsize, "-c %s: expected HOST:PORT with a port 1..65535", v);
        return -1;
    }
    free(o->collector_host);
    o->collector_host = strndup(host, host_len);
    o->collector_port = (uint16_t)port;
    return 0;
}

/* long long: on armhf a long is 32 bits and tap ids go to 0xffffffff. */
static int parse_long(const char *opt, const char *v, long long min, long long max, long long *out,
                      char *err, size_t errsize)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 0);
    if (!*v || *end || errno || n < min || n > max) {
        snprintf(err, errsize, "%s %s: expected a number %lld..%lld", opt, v, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

enum { OPT_RATE = 256, OPT_MTU, OPT_TAP_ID, OPT_STATS, OPT_GENKEY };

int tap_options_parse(struct tap_options *o, int argc, char **argv, char *err, size_t errsize)
{
    static const struct option longs[] = {
        {"interface", required_argument, NULL, 'i'},
        {"collector", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"public-key", required_argument, NULL, 'K'},
        {"filter", required_argument, NULL, 'f'},
        {"snaplen", required_argument, NULL, 's'},
        {"buffer", required_argument, NULL, 'B'},
        {"rate-limit", required_argument, NULL, OPT_RATE},
        {"mtu", required_argument, NULL, OPT_MTU},
        {"tap-id", required_argument, NULL, OPT_TAP_ID},
        {"stats-interval", required_argument, NULL, OPT_STATS},
        {"genkey", required_argument, NULL, OPT_GENKEY},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    long long n;
    bool have_k = false, have_K = false;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":i:c:k:K:f:s:B:vhV", longs, NULL)) != -1) {
        switch (ch) {
        case 'i':
            free(o->interface);
            o->interface = strdup(optarg);
            break;
        case 'c':
            if (parse_collector(o, optarg, err, errsize) < 0)
                return -1;
            break;
        case 'k':
            if (o->passphrase) {
                sodium_memzero(o->passphrase, strlen(o->passphrase));
                free(o->passphrase);
            }
            o->passphrase = value_or_file(optarg, "-k", err, errsize);
            if (!o->passphrase)
                return -1;
            if (!*o->passphrase) {
                snprintf(err, errsize, "-k: empty passphrase");
                return -1;
            }
            have_k = true;
            break;
        case 'K': {
            char *v = value_or_file(optarg, "-K", err, errsize);
            if (!v)
                return -1;
            v[strcspn(v, " \t")] = '\0';
            int rc = ntap_hex_decode(v, o->collector_pk, sizeof o->collector_pk);
            free(v);
            if (rc < 0) {
                snprintf(err, errsize, "-K: expected the collector's public key, 64 hex digits "
                         "(tapboxd logs it; also DATA_DIR/ntap.pub)");
                return -1;
            }
            o->pubkey_mode = true;
            have_K = true;
            break;
        }
        case 'f':
            free(o->bpf);
            o->bpf = strdup(optarg);
            break;
        case 's':
            if (parse_long("-s", optarg, 64, 262144, &n, err, errsize) < 0)
                return -1;
            o->snaplen = (int)n;
            break;
        case 'B':
            if (parse_long("-B", optarg, 1, 1024, &n, err, errsize) < 0)
                return -1;
            o->buffer_mib = (int)n;
            break;
        case OPT_RATE: {
            char *end;
            errno = 0;
            double d = strtod(optarg, &end);
            if (!*optarg || *end || errno || !(d >= 0) || d > 1e6 || isnan(d)) {
                snprintf(err, errsize, "--rate-limit %s: expected megabits per second (0: none)",
                         optarg);
                return -1;
            }
            o->rate_limit_mbit = d;
            break;
        }
        case OPT_MTU:
            if (parse_long("--mtu", optarg, 576, 65535, &n, err, errsize) < 0)
                return -1;
            o->mtu = (int)n;
            break;
        case OPT_TAP_ID:
            if (parse_long("--tap-id", optarg, 0, 0xffffffffll, &n, err, errsize) < 0)
                return -1;
            o->tap_id = (uint32_t)n;
            o->tap_id_set = true;
            break;
        case OPT_STATS:
            if (parse_long("--stats-interval", optarg, 0, 86400, &n, err, errsize) < 0)
                return -1;
            o->stats_interval_s = (unsigned)n;
            break;
        case OPT_GENKEY:
            free(o->genkey_path);
            o->genkey_path = strdup(optarg);
            break;
        case 'v':
            o->verbosity++;
            break;
        case 'h':
            o->show_help = true;
            return 0;
        case 'V':
            o->show_version = true;
            return 0;
        case ':':
            snprintf(err, errsize, "%s needs a value", argv[optind - 1]);
            return -1;
        default:
            snprintf(err, errsize, "unknown option '%s' (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errsize, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (o->genkey_path)
        return 0; /* an action of its own: no capture, no collector */
    if (!o->interface) {
        snprintf(err, errsize, "-i IFACE is required");
        return -1;
    }
    if (!o->collector_host) {
        snprintf(err, errsize, "-c HOST:PORT is required");
        return -1;
    }
    if (have_k == have_K) {
        snprintf(err, errsize, have_k ? "-k and -K exclude each other"
                                      : "a key is required: -k PASSPHRASE or -K PUBKEY");
        return -1;
    }
    return 0;
}

uint32_t tap_default_id(const char *host, const char *iface)
{
    uint8_t h[8];
    char name[512];
    snprintf(name, sizeof name, "%s/%s", host, iface);
    crypto_generichash(h, sizeof h, (const uint8_t *)name, strlen(name), NULL, 0);
    return ntap_get32(h);
}

void tap_options_print_help(const char *prog)
{
    printf("usage: %s -i IFACE -c HOST:PORT (-k PASSPHRASE | -K PUBKEY) [options]\n"
           "\n"
           "Captures IFACE and sends every packet, encrypted, to a tapbox collector (tapboxd\n"
           "-i ntap:PORT[:PASSPHRASE]) over UDP. One way: nothing is ever read back.\n"
           "\n"
           "  -i, --interface=IFACE     interface to capture (retried while missing or down)\n"
           "  -c, --collector=HOST:PORT the collector ([IPv6]:PORT for an IPv6 address)\n"
           "  -k, --key=PASSPHRASE      passphrase mode (the collector has the same); @FILE reads it\n"
           "                            from the first line of FILE\n"
           "  -K, --public-key=HEX      public-key mode: the collector's public key (64 hex digits,\n"
           "                            logged by tapboxd, also in its DATA_DIR/ntap.pub); @FILE\n"
           "  -f, --filter=BPF          capture filter (our own datagrams are always excluded)\n"
           "  -s, --snaplen=BYTES       bytes kept of each frame (default %d: jumbo frames\n"
           "                            whole). Up to 262144 keeps GRO/TSO super-frames whole,\n"
           "                            but on an interface with offloads each slot of the\n"
           "                            kernel's ring then takes that much: give a bigger -B\n"
           "  -B, --buffer=MIB          the kernel's capture ring in MiB (default %d)\n"
           "      --rate-limit=MBIT     send at most this many megabits per second; packets beyond\n"
           "                            are dropped and counted (default: no limit)\n"
           "      --mtu=BYTES           path MTU toward the collector; packets are batched into\n"
           "                            datagrams that fit it (default %d)\n"
           "      --tap-id=N            this tap's id (default: from the host name and IFACE)\n"
           "      --stats-interval=S    log statistics every S seconds (default %d; 0: never)\n"
           "      --genkey=FILE         make this tap's identity key pair: the secret key goes to\n"
           "                            FILE (mode 0600, never overwritten), the public key is\n"
           "                            printed (the tap id is derived from it); then exit\n"
           "  -v, --verbose             debug logging\n"
           "  -V, --version, -h, --help\n"
           "\n"
           "Signals: SIGUSR1 logs statistics; SIGTERM and SIGINT send what is batched and exit.\n",
           prog, TAP_DEFAULT_SNAPLEN, TAP_DEFAULT_BUFFER_MIB, TAP_DEFAULT_MTU,
           TAP_DEFAULT_STATS_INTERVAL);
}
