/*
 * tapbox-tap: the remote tap agent. Captures an interface and sends its packets, encrypted and
 * batched, to a tapbox collector over UDP, one way. One libuv loop; see tap_agent.h.
 */
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/log.h"
#include "core/version.h"
#include "ntap/ntap_crypto.h"
#include "tap/tap_agent.h"
#include "tap/tap_options.h"


struct main_state {
    uv_loop_t *loop;
    struct tap_agent *agent;
    uv_signal_t sig_int, sig_term, sig_usr1;
    int exit_code;
    bool stopping;
};

static void stop(struct main_state *m, const char *why)
{
    if (m->stopping)
        return;
    m->stopping = true;
    log_info("tap", "stopping (%s)", why);
    tap_agent_stop(m->agent);
    uv_close((uv_handle_t *)&m->sig_int, NULL);
    uv_close((uv_handle_t *)&m->sig_term, NULL);
    uv_close((uv_handle_t *)&m->sig_usr1, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct main_state *m = h->data;
    if (signum == SIGUSR1)
        tap_agent_log_stats(m->agent);
    else
        stop(m, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_fatal(void *ctx)
{
    struct main_state *m = ctx;
    m->exit_code = 1;
    stop(m, "a fatal error");
}

int main(int argc, char **argv)
{
    static struct main_state m;
    struct tap_options o;
    char err[1024];
    tap_options_init(&o);
    if (tap_options_parse(&o, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "tapbox-tap: %s\n", err);
        tap_options_free(&o);
        return 2;
    }
    if (o.show_help) {
        tap_options_print_help(argv[0]);
        tap_options_free(&o);
        return 0;
    }
    if (o.show_version) {
        printf("tapbox-tap %s (nTap v1, %s, libuv %s)\n", TAPBOX_VERSION, pcap_lib_version(),
               uv_version_string());
        tap_options_free(&o);
        return 0;
    }
    if (o.genkey_path) {
        /* Like `wg genkey | wg pubkey`: the public half on stdout, for the collector's
         * allow-list; the secret stays in the file. */
        uint8_t pk[NTAP_PUBKEY_LEN];
        char hex[2 * NTAP_PUBKEY_LEN + 1];
        int rc = ntap_identity_create(o.genkey_path, pk, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "tapbox-tap: %s\n", err);
        } else {
            ntap_hex_encode(pk, sizeof pk, hex);
            printf("%s\n", hex);
            fprintf(stderr, "tapbox-tap: secret key written to %s (mode 0600); tap id %08x\n",
                    o.genkey_path, ntap_tap_id_of(pk));
        }
        tap_options_free(&o);
        return rc < 0 ? 1 : 0;
    }
    log_set_level(o.verbosity > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    signal(SIGPIPE, SIG_IGN);
    m.loop = uv_default_loop();
    m.agent = tap_agent_start(m.loop, &o, on_fatal, &m, err, sizeof err);
    tap_options_free(&o);
    if (!m.agent) {
        log_error("tap", "%s", err);
        uv_loop_close(m.loop);
        return 1;
    }
    uv_signal_init(m.loop, &m.sig_int);
    uv_signal_init(m.loop, &m.sig_term);
    uv_signal_init(m.loop, &m.sig_usr1);
    m.sig_int.data = m.sig_term.data = m.sig_usr1.data = &m;
    uv_signal_start(&m.sig_int, on_signal, SIGINT);
    uv_signal_start(&m.sig_term, on_signal, SIGTERM);
    uv_signal_start(&m.sig_usr1, on_signal, SIGUSR1);
    uv_run(m.loop, UV_RUN_DEFAULT);
    uv_loop_close(m.loop);
    return m.exit_code;
}
