/*
 * ntap-collector: a test stand-in for tapboxd's nTap input, until tapboxd has it. It takes the
 * same options tapboxd will (a subset), opens the flow engine and one nTap collector on the
 * loop exactly as tapboxd's start_sources() will, and on SIGTERM/SIGINT ends every flow and
 * writes the flows (JSON lines) and the counters (tapboxd's JSON, plus "ntap").
 *
 *   ntap-collector -i ntap:PORT[:PASSPHRASE] [--flows-out=F] [--stats-out=F] [--ntap-tun=NAME]
 *                  [--data-dir=DIR] [--ntap-max-taps=N] [--ntap-bind=ADDR] [-v]
 *
 * Built by test/integration/ntap.sh (and test/bench/ntap-bench.sh) from the library.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/log.h"
#include "ntap/ntap_collector.h"
#include "query/query_json.h"

struct state {
    uv_loop_t *loop;
    struct engine *engine;
    struct ntap_collector *ntap;
    FILE *flows_out;
    const char *stats_out;
    uv_timer_t tick;
    uv_signal_t sig_int, sig_term, sig_usr1;
};

static uint64_t wall_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static void on_flow_end(void *ctx, const struct engine *e, const struct flow *f)
{
    struct state *s = ctx;
    if (!s->flows_out)
        return;
    cJSON *j = query_flow_json(e, NULL, f);
    char *text = cJSON_PrintUnformatted(j);
    fprintf(s->flows_out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(j);
}

static void on_tick(uv_timer_t *t)
{
    struct state *s = t->data;
    engine_advance(s->engine, wall_clock_us());
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct state *s = h->data;
    if (signum == SIGUSR1) {
        ntap_collector_log_stats(s->ntap);
        return;
    }
    log_info("ntap-collector", "stopping (%s)", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_usr1, NULL);
    uv_stop(s->loop); /* the collector closes after the stats are written */
}

static int write_stats(struct state *s)
{
    cJSON *status = query_status_json(s->engine);
    cJSON_AddItemToObject(status, "ntap", ntap_collector_stats_json(s->ntap));
    char *text = cJSON_Print(status);
    cJSON_Delete(status);
    FILE *f = strcmp(s->stats_out, "-") ? fopen(s->stats_out, "w") : stdout;
    if (!f) {
        cJSON_free(text);
        return -1;
    }
    fprintf(f, "%s\n", text);
    if (f != stdout)
        fclose(f);
    cJSON_free(text);
    return 0;
}

int main(int argc, char **argv)
{
    static struct state s;
    static const struct option longs[] = {
        {"interface", required_argument, NULL, 'i'},  {"flows-out", required_argument, NULL, 'F'},
        {"stats-out", required_argument, NULL, 'S'},  {"ntap-tun", required_argument, NULL, 'T'},
        {"data-dir", required_argument, NULL, 'D'},   {"ntap-max-taps", required_argument, NULL, 'M'},
        {"ntap-bind", required_argument, NULL, 'B'},  {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    struct ntap_options o;
    const char *spec = NULL, *flows_out = NULL;
    char err[512];
    int ch, verbose = 0;
    ntap_options_init(&o);
    while ((ch = getopt_long(argc, argv, "i:v", longs, NULL)) != -1) {
        switch (ch) {
        case 'i': spec = optarg; break;
        case 'F': flows_out = optarg; break;
        case 'S': s.stats_out = optarg; break;
        case 'T': o.tun_name = optarg; break;
        case 'D': o.data_dir = optarg; break;
        case 'M': o.max_taps = (unsigned)atoi(optarg); break;
        case 'B': o.bind_address = optarg; break;
        case 'v': verbose++; break;
        default: fprintf(stderr, "ntap-collector: bad option (see the source)\n"); return 2;
        }
    }
    if (!spec || ntap_spec_parse(spec, &o, err, sizeof err) < 0) {
        fprintf(stderr, "ntap-collector: %s\n", spec ? err : "-i ntap:PORT[:PASSPHRASE] is required");
        return 2;
    }
    log_set_level(verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    signal(SIGPIPE, SIG_IGN);
    s.loop = uv_default_loop();
    struct engine_config ec;
    engine_config_defaults(&ec);
    s.engine = engine_create(&ec, err, sizeof err);
    if (!s.engine) {
        log_error("ntap-collector", "engine: %s", err);
        return 1;
    }
    engine_set_flow_end(s.engine, on_flow_end, &s);
    if (flows_out) {
        s.flows_out = strcmp(flows_out, "-") ? fopen(flows_out, "w") : stdout;
        if (!s.flows_out) {
            log_error("ntap-collector", "cannot write %s", flows_out);
            return 1;
        }
    }
    s.ntap = ntap_collector_open(s.loop, s.engine, &o, err, sizeof err);
    if (!s.ntap) {
        log_error("ntap", "%s: %s", spec, err);
        engine_destroy(s.engine);
        return 1;
    }
    uv_timer_init(s.loop, &s.tick);
    s.tick.data = &s;
    uv_timer_start(&s.tick, on_tick, 1000, 1000);
    uv_signal_init(s.loop, &s.sig_int);
    uv_signal_init(s.loop, &s.sig_term);
    uv_signal_init(s.loop, &s.sig_usr1);
    s.sig_int.data = s.sig_term.data = s.sig_usr1.data = &s;
    uv_signal_start(&s.sig_int, on_signal, SIGINT);
    uv_signal_start(&s.sig_term, on_signal, SIGTERM);
    uv_signal_start(&s.sig_usr1, on_signal, SIGUSR1);
    log_info("ntap-collector", "started");
    uv_run(s.loop, UV_RUN_DEFAULT);

    engine_sync(s.engine);
    int rc = 0;
    if (s.stats_out && write_stats(&s) < 0)
        rc = 1;
    ntap_collector_log_stats(s.ntap);
    ntap_collector_close(s.ntap);
    uv_run(s.loop, UV_RUN_DEFAULT);
    engine_expire_all(s.engine);
    engine_destroy(s.engine);
    if (s.flows_out && s.flows_out != stdout)
        fclose(s.flows_out);
    uv_loop_close(s.loop);
    return rc;
}
