/* tapbox-tap's command line. */
#ifndef TAPBOX_TAP_OPTIONS_H
#define TAPBOX_TAP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAP_DEFAULT_MTU 1500
/* Jumbo frames (9000 + headers) cross whole; beyond, only GRO/TSO super-frames, which are cut
 * (their original length kept) unless -s says more. */
#define TAP_DEFAULT_SNAPLEN 9216
#define TAP_DEFAULT_STATS_INTERVAL 60
#define TAP_DEFAULT_BUFFER_MIB 32

struct tap_options {
    char *interface;
    char *collector_host;     /* name or address, without brackets */
    uint16_t collector_port;
    char *passphrase;         /* -k (read from a file when given as @FILE) */
    uint8_t collector_pk[32]; /* -K */
    bool pubkey_mode;
    char *bpf;                /* -f, may be NULL */
    int snaplen;
    int buffer_mib;           /* -B: the kernel capture ring */
    double rate_limit_mbit;   /* 0: none */
    int mtu;
    bool tap_id_set;
    uint32_t tap_id;
    unsigned stats_interval_s;
    int verbosity;
    char *genkey_path;        /* --genkey FILE: make this tap's identity key, print it, exit */
    bool show_help, show_version;
};

void tap_options_init(struct tap_options *o);
void tap_options_free(struct tap_options *o);
/* 0, or -1 with a message naming the option in err. */
int tap_options_parse(struct tap_options *o, int argc, char **argv, char *err, size_t errsize);
void tap_options_print_help(const char *prog);
/* The default tap id: 32 bits of BLAKE2b("host/iface"). */
uint32_t tap_default_id(const char *host, const char *iface);

#endif
