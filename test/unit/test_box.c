/* The box module: board file parsing, the simulated (file) relay and watchdog, and the bypass
 * policy on a real libuv loop with the sim board in a temp dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "box/board.h"
#include "box/bypass.h"
#include "core/schedule.h"
#include "box/relay.h"
#include "box/watchdog.h"
#include "core/log.h"
#include "check.h"

struct sim {
    char dir[64];
    char board[128], relay[128], wd[128];
    struct board_config cfg;
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The file's content, "" when missing (at most n-1 bytes). */
static const char *slurp(const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t got = fread(buf, 1, n - 1, f);
        buf[got] = '\0';
        fclose(f);
    }
    return buf;
}

static bool file_is(const char *path, const char *want)
{
    char buf[128];
    slurp(path, buf, sizeof buf);
    if (strcmp(buf, want)) {
        fprintf(stderr, "  %s holds '%s', expected '%s'\n", path, buf, want);
        return false;
    }
    return true;
}

static int64_t mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* A sim board in a fresh temp dir, loaded through board_load. */
static bool sim_setup(struct sim *s, unsigned settle_ms, unsigned timeout_s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/tapbox-box-XXXXXX");
    if (!mkdtemp(s->dir)) {
        CHECK(!"mkdtemp");
        return false;
    }
    snprintf(s->board, sizeof s->board, "%s/board.conf", s->dir);
    snprintf(s->relay, sizeof s->relay, "%s/sim/relay", s->dir); /* sim/ is created on demand */
    snprintf(s->wd, sizeof s->wd, "%s/sim/watchdog", s->dir);
    char text[1024];
    snprintf(text, sizeof text,
             "BOARD_NAME=sim\nRELAY_GPIO_CHIP=file:%s\nRELAY_GPIO_LINE=0\nRELAY_GPIO_ACTIVE=1\n"
             "RELAY_SETTLE_MS=%u\nWATCHDOG_DEVICE=\"file:%s\"\nWATCHDOG_TIMEOUT=%u\n",
             s->relay, settle_ms, s->wd, timeout_s);
    write_text(s->board, text);
    char err[256];
    int rc = board_load(s->board, &s->cfg, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "  %s\n", err);
    CHECK(rc == 0);
    return rc == 0;
}

static void sim_cleanup(struct sim *s)
{
    char path[200];
    unlink(s->relay);
    unlink(s->wd);
    snprintf(path, sizeof path, "%s/sim", s->dir);
    rmdir(path);
    unlink(s->board);
    CHECK(rmdir(s->dir) == 0); /* no stray temp files left behind */
}

static void stop_loop_cb(uv_timer_t *t) { uv_stop(t->loop); }

static void run_ms(uv_loop_t *loop, unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_loop_cb, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void finish_loop(uv_loop_t *loop, struct bypass *b)
{
    bypass_destroy(b);
    uv_run(loop, UV_RUN_DEFAULT); /* the close callbacks free b */
    CHECK(uv_loop_close(loop) == 0);
}

/* A sim board, a loop of its own and a quieter log: what each bypass test starts from. */
struct rig {
    struct sim s;
    enum log_level saved;
    uv_loop_t loop;
};

static bool rig_begin(struct rig *r, unsigned settle_ms, unsigned timeout_s, enum log_level level)
{
    if (!sim_setup(&r->s, settle_ms, timeout_s))
        return false;
    r->saved = log_get_level();
    log_set_level(level);
    uv_loop_init(&r->loop);
    return true;
}

static void rig_end(struct rig *r)
{
    log_set_level(r->saved);
    sim_cleanup(&r->s);
}

/* ---- board files ---- */

TEST(box_board_good)
{
    struct sim s;
    if (!sim_setup(&s, 50, 2))
        return;
    const char *text = "# a comment\n"
                       "\n"
                       "BOARD_NAME=\"my board\"   # trailing comment\n"
                       "  RELAY_GPIO_CHIP=gpio-32-63\n"
                       "RELAY_GPIO_LINE=12\r\n"
                       "RELAY_GPIO_ACTIVE=0\n"
                       "BOARD_MODULES=\"a b\n"
                       "RELAY_GPIO_LINE=nonsense inside a multi-line value\"\n"
                       "OTHER=$(uname -r) ; echo ignored\n"
                       "export WATCHDOG_DEVICE='/dev/watchdog1'\n"
                       "WATCHDOG_TIMEOUT=30\n"
                       "USB_GADGET=\n";
    write_text(s.board, text);
    struct board_config b;
    char err[256] = "";
    int rc = board_load(s.board, &b, err, sizeof err);
    if (rc)
        fprintf(stderr, "  %s\n", err);
    CHECK(rc == 0);
    CHECK(!strcmp(b.name, "my board"));
    CHECK(b.has_relay && !strcmp(b.relay_chip, "gpio-32-63"));
    CHECK_EQ_U(b.relay_line, 12);
    CHECK_EQ_U(b.relay_active, 0);
    CHECK_EQ_U(b.relay_settle_ms, BOARD_SETTLE_MS_DEFAULT);
    CHECK(b.has_watchdog && !strcmp(b.watchdog_device, "/dev/watchdog1"));
    CHECK_EQ_U(b.watchdog_timeout_s, 30);

    /* No relay, no watchdog: fine, and said so. */
    write_text(s.board, "BOARD_NAME=bare\nRELAY_GPIO_CHIP=\n");
    CHECK(board_load(s.board, &b, err, sizeof err) == 0);
    CHECK(!b.has_relay && !b.has_watchdog);

    /* The boards in the repo (the tests run from the repo root). */
    static const char *const repo[] = {"board/beaglebone/board.conf", "board/qemu/board.conf",
                                       "board/sim/board.conf"};
    for (size_t i = 0; i < 3; i++) {
        if (access(repo[i], R_OK) != 0) {
            test_skip("board/*/board.conf not found from the current directory");
            continue;
        }
        rc = board_load(repo[i], &b, err, sizeof err);
        if (rc)
            fprintf(stderr, "  %s\n", err);
        CHECK(rc == 0);
        CHECK(b.has_relay && b.has_watchdog);
        if (i == 0) {
            CHECK(!strcmp(b.relay_chip, "gpio-32-63") && b.relay_line == 12);
            CHECK(b.relay_active == 1 && b.watchdog_timeout_s == 15);
        }
        if (i == 2) {
            CHECK(!strcmp(b.relay_chip, "file:/run/tapbox-sim/relay"));
            CHECK(b.relay_settle_ms == 300 && b.watchdog_timeout_s == 2);
        }
    }
    sim_cleanup(&s);
}

/* One bad line; the error must carry "board.conf:LINE: want". */
static void expect_bad(const char *board, const char *text, unsigned line, const char *want)
{
    write_text(board, text);
    struct board_config b;
    char err[256] = "";
    CHECK(board_load(board, &b, err, sizeof err) == -1);
    char at[32];
    if (line)
        snprintf(at, sizeof at, "board.conf:%u: ", line);
    else
        snprintf(at, sizeof at, "board.conf: ");
    if (!strstr(err, at) || !strstr(err, want)) {
        fprintf(stderr, "  error '%s' lacks '%s' or '%s'\n", err, at, want);
        check_failures++;
    }
}

TEST(box_board_bad)
{
    struct sim s;
    if (!sim_setup(&s, 50, 2))
        return;
    expect_bad(s.board, "# x\nBOARD_NAME=a\nRELAY_GPIO_CHIP=gpio0\nRELAY_GPIO_LINE=twelve\n", 4,
               "RELAY_GPIO_LINE: not a number");
    expect_bad(s.board, "RELAY_GPIO_LINE=-1\n", 1, "RELAY_GPIO_LINE: not a number");
    expect_bad(s.board, "\n\nRELAY_GPIO_LINE=99999999\n", 3, "out of range");
    expect_bad(s.board, "RELAY_GPIO_ACTIVE=high\n", 1, "RELAY_GPIO_ACTIVE: must be 1");
    expect_bad(s.board, "WATCHDOG_TIMEOUT=0\n", 1, "WATCHDOG_TIMEOUT: must be at least 1");
    expect_bad(s.board, "RELAY_SETTLE_MS=50ms\n", 1, "RELAY_SETTLE_MS: not a number");
    expect_bad(s.board, "BOARD_NAME=\"open\n", 1, "unterminated \" quote");
    expect_bad(s.board, "A=1\nFOO=\"open\nstill open\n", 2, "unterminated \" quote");
    expect_bad(s.board, "BOARD_NAME=a b\n", 1, "unexpected text after the value");
    expect_bad(s.board, "WATCHDOG_DEVICE=$DEV\n", 1, "not supported");
    expect_bad(s.board, "A=1\nthis is not shell assignment\n", 2, "not a KEY=VALUE line");
    expect_bad(s.board, "BOARD_NAME=0123456789012345678901234567890123456789\n", 1,
               "BOARD_NAME: longer than 31");
    expect_bad(s.board, "RELAY_GPIO_CHIP=gpio-32-63\n", 0, "RELAY_GPIO_LINE is not");

    char err[256];
    struct board_config b;
    char missing[200];
    snprintf(missing, sizeof missing, "%s/nope.conf", s.dir);
    CHECK(board_load(missing, &b, err, sizeof err) == -1);
    CHECK(strstr(err, missing) && strstr(err, "No such file"));
    sim_cleanup(&s);
}

/* ---- relay and watchdog backends ---- */

TEST(box_relay_file)
{
    struct sim s;
    if (!sim_setup(&s, 50, 2))
        return;
    char err[256] = "";
    struct relay *r = relay_open(&s.cfg, err, sizeof err);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "  %s\n", err);
        sim_cleanup(&s);
        return;
    }
    CHECK(relay_is_bypass(r));
    CHECK(file_is(s.relay, "0\n")); /* active high: bypass is level 0 */
    CHECK(strstr(relay_describe(r), s.relay) && strstr(relay_describe(r), "active high"));
    CHECK(relay_set_bypass(r, false, err, sizeof err) == 0);
    CHECK(!relay_is_bypass(r));
    CHECK(file_is(s.relay, "1\n"));
    relay_close(r);
    CHECK(file_is(s.relay, "1\n")); /* closing leaves the line as it is */

    s.cfg.relay_active = 0; /* active low: bypass is level 1 */
    r = relay_open(&s.cfg, err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        CHECK(file_is(s.relay, "1\n"));
        CHECK(relay_set_bypass(r, false, err, sizeof err) == 0);
        CHECK(file_is(s.relay, "0\n"));
        CHECK(strstr(relay_describe(r), "active low") != NULL);
        relay_close(r);
    }

    /* A directory that cannot be made: a clear error. */
    snprintf(s.cfg.relay_chip, sizeof s.cfg.relay_chip, "file:%s/no/such/dir/relay", s.dir);
    CHECK(relay_open(&s.cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "no/such/dir/relay.tmp") != NULL);
    sim_cleanup(&s);
}

TEST(box_relay_gpio_errors)
{
    struct board_config b;
    memset(&b, 0, sizeof b);
    char err[256] = "";
    CHECK(relay_open(&b, err, sizeof err) == NULL);
    CHECK(strstr(err, "no bypass relay") != NULL);
    b.has_relay = true;
    snprintf(b.relay_chip, sizeof b.relay_chip, "no-such-label-xyz");
    CHECK(relay_open(&b, err, sizeof err) == NULL);
    CHECK(strstr(err, "no GPIO chip labelled 'no-such-label-xyz'") != NULL);
    snprintf(b.relay_chip, sizeof b.relay_chip, "gpiochip999");
    CHECK(relay_open(&b, err, sizeof err) == NULL);
    CHECK(strstr(err, "/dev/gpiochip999") != NULL);
}

TEST(box_watchdog_file)
{
    struct sim s;
    if (!sim_setup(&s, 50, 2))
        return;
    char err[256] = "";
    struct watchdog *w = watchdog_open(&s.cfg, err, sizeof err);
    CHECK(w != NULL);
    if (!w) {
        fprintf(stderr, "  %s\n", err);
        sim_cleanup(&s);
        return;
    }
    CHECK_EQ_U(watchdog_timeout_s(w), 2);
    CHECK(!watchdog_resets_board(w));
    CHECK(strstr(watchdog_describe(w), s.wd) && strstr(watchdog_describe(w), "timeout 2 s"));
    CHECK(file_is(s.wd, "armed 2 0\n"));
    CHECK(watchdog_pet(w, err, sizeof err) == 0);
    CHECK(watchdog_pet(w, err, sizeof err) == 0);
    CHECK(file_is(s.wd, "armed 2 2\n"));
    CHECK_EQ_U(watchdog_pets(w), 2);
    watchdog_disarm(w);
    CHECK(file_is(s.wd, "disarmed\n"));

    w = watchdog_open(&s.cfg, err, sizeof err);
    CHECK(w != NULL);
    CHECK(watchdog_pet(w, err, sizeof err) == 0);
    watchdog_close_armed(w); /* a crash: the file stays armed */
    CHECK(file_is(s.wd, "armed 2 1\n"));

    struct board_config none;
    memset(&none, 0, sizeof none);
    CHECK(watchdog_open(&none, err, sizeof err) == NULL && strstr(err, "no watchdog"));
    sim_cleanup(&s);
}

/* ---- the bypass policy on a loop ---- */

TEST(box_mode_parse)
{
    enum bypass_mode m = BYPASS_AUTO;
    CHECK(bypass_mode_parse("on", &m) == 0 && m == BYPASS_ON);
    CHECK(bypass_mode_parse("off", &m) == 0 && m == BYPASS_OFF);
    CHECK(bypass_mode_parse("auto", &m) == 0 && m == BYPASS_AUTO);
    CHECK(bypass_mode_parse("On", &m) == -1 && bypass_mode_parse("", &m) == -1);
    CHECK(bypass_mode_parse(NULL, &m) == -1);
    CHECK(!strcmp(bypass_mode_name(BYPASS_OFF), "off"));
}

static void note_done(void *ctx) { (*(int *)ctx)++; }

TEST(box_bypass_auto)
{
    struct rig r;
    if (!rig_begin(&r, 50, 2, LOG_LEVEL_WARN))
        return;
    char err[256] = "";
    struct bypass *b = bypass_create(&r.loop, &r.s.cfg, BYPASS_AUTO, 0, NULL, err, sizeof err);
    CHECK(b != NULL);
    if (!b) {
        fprintf(stderr, "  %s\n", err);
        uv_loop_close(&r.loop);
        rig_end(&r);
        return;
    }
    struct bypass_status st;
    bypass_get_status(b, &st);
    CHECK(st.engaged && st.have_relay && st.have_watchdog && st.watchdog_armed);
    CHECK(st.mode == BYPASS_AUTO && st.stall_threshold_ms == 1000); /* half of 2 s */
    CHECK(strstr(st.reason, "not ready") != NULL);
    CHECK(file_is(r.s.relay, "0\n"));
    CHECK(!strncmp(slurp(r.s.wd, err, sizeof err), "armed 2 ", 8));

    bypass_set_ready(b, true, "ports up");
    CHECK(!bypass_engaged(b));
    CHECK(file_is(r.s.relay, "1\n"));
    bypass_get_status(b, &st);
    CHECK(!st.engaged && !strcmp(st.reason, "ports up") && st.engage_count == 0);

    bypass_set_ready(b, false, "port B down");
    CHECK(file_is(r.s.relay, "0\n"));
    bypass_get_status(b, &st);
    CHECK(st.engaged && !strcmp(st.reason, "port B down") && st.engage_count == 1);
    CHECK(st.last_change_unix_ms > 0);
    CHECK(!bypass_engaged(b)); /* the relay is still switching: forwarders keep going */
    run_ms(&r.loop, 120);
    CHECK(bypass_engaged(b));  /* settled after 50 ms */

    /* Petting: every 500 ms (2 s / 4), in the file too. */
    bypass_get_status(b, &st);
    uint64_t pets0 = st.pets;
    char before[64], after[64];
    slurp(r.s.wd, before, sizeof before);
    run_ms(&r.loop, 1100);
    bypass_get_status(b, &st);
    CHECK(st.pets >= pets0 + 2);
    CHECK(strcmp(slurp(r.s.wd, after, sizeof after), before) != 0);
    CHECK(!st.stall_latched && st.stalls == 0);

    /* A clean stop from out of bypass: engage, keep forwarding while settling, disarm. */
    bypass_set_ready(b, true, NULL);
    CHECK(file_is(r.s.relay, "1\n"));
    int done = 0;
    bypass_stop(b, note_done, &done);
    CHECK(file_is(r.s.relay, "0\n"));
    CHECK(!bypass_engaged(b) && done == 0);
    CHECK(bypass_set_mode(b, BYPASS_OFF, err, sizeof err) == -1 && strstr(err, "stopping"));
    run_ms(&r.loop, 200);
    CHECK(done == 1);
    CHECK(bypass_engaged(b));
    CHECK(file_is(r.s.wd, "disarmed\n"));
    bypass_get_status(b, &st);
    CHECK(st.engaged && !st.watchdog_armed && st.have_watchdog);
    CHECK(!strcmp(st.reason, "tapboxd stopping"));
    finish_loop(&r.loop, b);
    CHECK(file_is(r.s.relay, "0\n"));
    rig_end(&r);
}

TEST(box_bypass_modes)
{
    struct rig r;
    if (!rig_begin(&r, 20, 2, LOG_LEVEL_WARN))
        return;
    char err[256] = "";
    struct bypass *b = bypass_create(&r.loop, &r.s.cfg, BYPASS_ON, 0, NULL, err, sizeof err);
    CHECK(b != NULL);
    if (!b) {
        fprintf(stderr, "  %s\n", err);
        uv_loop_close(&r.loop);
        rig_end(&r);
        return;
    }
    struct bypass_status st;
    bypass_set_ready(b, true, "ports up");
    CHECK(file_is(r.s.relay, "0\n")); /* ON: ready changes nothing */
    bypass_get_status(b, &st);
    CHECK(st.engaged && st.mode == BYPASS_ON && strstr(st.reason, "mode on"));

    CHECK(bypass_set_mode(b, BYPASS_AUTO, err, sizeof err) == 0);
    CHECK(file_is(r.s.relay, "1\n")); /* AUTO and ready: out of bypass */
    CHECK(bypass_set_mode(b, BYPASS_OFF, err, sizeof err) == 0);
    bypass_set_ready(b, false, "port A down");
    CHECK(file_is(r.s.relay, "1\n")); /* OFF: never engaged by software */
    bypass_get_status(b, &st);
    CHECK(!st.engaged && strstr(st.reason, "mode off"));
    CHECK(bypass_set_mode(b, BYPASS_AUTO, err, sizeof err) == 0);
    CHECK(file_is(r.s.relay, "0\n")); /* AUTO, not ready */
    bypass_get_status(b, &st);
    CHECK(!strcmp(st.reason, "port A down") && st.engage_count == 1);
    CHECK(bypass_set_mode(b, (enum bypass_mode)7, err, sizeof err) == -1);

    /* OFF at stop: the relay stays out, the watchdog is still disarmed cleanly. */
    CHECK(bypass_set_mode(b, BYPASS_OFF, err, sizeof err) == 0);
    CHECK(file_is(r.s.relay, "1\n"));
    int done = 0;
    bypass_stop(b, note_done, &done);
    CHECK(done == 0); /* never from inside the call */
    run_ms(&r.loop, 100);
    CHECK(done == 1);
    CHECK(file_is(r.s.relay, "1\n"));
    CHECK(file_is(r.s.wd, "disarmed\n"));
    finish_loop(&r.loop, b);
    rig_end(&r);
}

TEST(box_bypass_no_board)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256] = "";
    enum log_level saved = log_get_level();
    log_set_level(LOG_LEVEL_WARN);
    CHECK(bypass_create(&loop, NULL, BYPASS_ON, 0, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "needs a board with a bypass relay") != NULL);
    struct bypass *b = bypass_create(&loop, NULL, BYPASS_AUTO, 0, NULL, err, sizeof err);
    CHECK(b != NULL);
    if (!b) {
        uv_loop_close(&loop);
        return;
    }
    struct bypass_status st;
    bypass_get_status(b, &st);
    CHECK(!st.engaged && !st.have_relay && !st.have_watchdog && !st.watchdog_armed);
    CHECK(strstr(st.reason, "no board") && strstr(st.relay, "no board"));
    CHECK(st.stall_threshold_ms == BYPASS_STALL_DEFAULT_MS);
    CHECK(!bypass_engaged(b)); /* nothing else carries the link: forwarders forward */
    CHECK(bypass_set_mode(b, BYPASS_ON, err, sizeof err) == -1 && strstr(err, "needs a relay"));
    int done = 0;
    bypass_stop(b, note_done, &done);
    run_ms(&loop, 50);
    CHECK(done == 1);
    finish_loop(&loop, b);
    log_set_level(saved);
}

static void rig_bypass_tick(void *ctx, const struct schedule_tick *tick) { bypass_tick(ctx, tick); }

static void block_cb(uv_timer_t *t) { usleep(*(unsigned *)t->data * 1000u); }

TEST(box_bypass_stall)
{
    struct rig r;
    if (!rig_begin(&r, 20, 2, LOG_LEVEL_WARN))
        return;
    char err[256] = "";
    /* The daemon's one schedule measures the stall and hands each tick to the bypass. */
    struct schedule sched;
    schedule_init(&sched, &r.loop);
    struct bypass *b = bypass_create(&r.loop, &r.s.cfg, BYPASS_AUTO, 300, &sched, err, sizeof err);
    schedule_every(&sched, "bypass", SCHEDULE_TICK_MS, rig_bypass_tick, b);
    schedule_start(&sched);
    CHECK(b != NULL);
    if (!b) {
        fprintf(stderr, "  %s\n", err);
        schedule_close(&sched);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        uv_loop_close(&r.loop);
        rig_end(&r);
        return;
    }
    bypass_set_ready(b, true, "ports up");
    CHECK(file_is(r.s.relay, "1\n"));

    /* Healthy first: petting advances (the control for the check below). */
    struct bypass_status st;
    char wd1[64], wd2[64];
    slurp(r.s.wd, wd1, sizeof wd1);
    run_ms(&r.loop, 600);
    bypass_get_status(b, &st);
    CHECK(strcmp(slurp(r.s.wd, wd2, sizeof wd2), wd1) != 0);
    CHECK(st.stalls == 0 && !st.stall_latched && st.stall_threshold_ms == 300);

    /* Block the loop thread for 800 ms, well past the 300 ms threshold. */
    unsigned block_ms = 800;
    uv_timer_t blocker;
    uv_timer_init(&r.loop, &blocker);
    blocker.data = &block_ms;
    uv_timer_start(&blocker, block_cb, 50, 0);
    run_ms(&r.loop, 1100);
    uv_close((uv_handle_t *)&blocker, NULL);
    bypass_get_status(b, &st);
    CHECK(st.stall_latched);
    CHECK(st.stalls >= 1);
    CHECK(st.worst_stall_ms >= 600 && st.worst_stall_ms < 5000);
    CHECK(st.engaged && !strncmp(st.reason, "loop stalled ", 13));
    CHECK(strstr(st.reason, "latched until restart") != NULL); /* the sim resets nothing */
    CHECK(file_is(r.s.relay, "0\n"));
    CHECK(st.watchdog_armed);

    /* Latched: no more pets, the watchdog file ages (what relay-sim.py reads as a reset). */
    uint64_t pets = st.pets;
    char wd3[64], wd4[64];
    slurp(r.s.wd, wd3, sizeof wd3);
    int64_t m3 = mtime_ns(r.s.wd);
    run_ms(&r.loop, 1200); /* more than two pet periods (500 ms) */
    bypass_get_status(b, &st);
    CHECK_EQ_U(st.pets, pets);
    CHECK(!strcmp(slurp(r.s.wd, wd4, sizeof wd4), wd3));
    CHECK(mtime_ns(r.s.wd) == m3 && m3 > 0);

    /* The latch holds whatever the ports say. */
    bypass_set_ready(b, true, "ports up again");
    CHECK(file_is(r.s.relay, "0\n") && bypass_engaged(b));

    int done = 0;
    bypass_stop(b, note_done, &done);
    run_ms(&r.loop, 100);
    CHECK(done == 1);
    CHECK(file_is(r.s.wd, "disarmed\n"));
    schedule_close(&sched);
    finish_loop(&r.loop, b);
    rig_end(&r);
}

/* Work between bypass_create and the loop's first turn (startup) is not a stall. */
TEST(box_bypass_startup_not_stall)
{
    struct rig r;
    if (!rig_begin(&r, 20, 2, LOG_LEVEL_WARN))
        return;
    char err[256] = "";
    struct schedule sched;
    schedule_init(&sched, &r.loop);
    struct bypass *b = bypass_create(&r.loop, &r.s.cfg, BYPASS_AUTO, 200, &sched, err, sizeof err);
    CHECK(b != NULL);
    if (b) {
        schedule_every(&sched, "bypass", SCHEDULE_TICK_MS, rig_bypass_tick, b);
        schedule_start(&sched);
        usleep(500 * 1000);
        run_ms(&r.loop, 350);
        struct bypass_status st;
        bypass_get_status(b, &st);
        CHECK(!st.stall_latched && st.stalls == 0);
        schedule_close(&sched);
        finish_loop(&r.loop, b);
    } else {
        schedule_close(&sched);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        uv_loop_close(&r.loop);
    }
    rig_end(&r);
}

/* What tapboxd does: destroy the bypass from inside the stop's done callback. */
struct destroy_in_done {
    struct bypass *b;
    int calls;
};

static void destroy_in_done_cb(void *ctx)
{
    struct destroy_in_done *x = ctx;
    x->calls++;
    bypass_destroy(x->b);
}

TEST(box_bypass_destroy_in_done)
{
    struct rig r;
    if (!rig_begin(&r, 30, 2, LOG_LEVEL_WARN))
        return;
    char err[256] = "";
    struct destroy_in_done x = {bypass_create(&r.loop, &r.s.cfg, BYPASS_AUTO, 0, NULL, err, sizeof err), 0};
    CHECK(x.b != NULL);
    if (x.b) {
        bypass_set_ready(x.b, true, NULL);
        bypass_stop(x.b, destroy_in_done_cb, &x);
        uv_run(&r.loop, UV_RUN_DEFAULT); /* ends once every handle is closed */
        CHECK(x.calls == 1);
        CHECK(file_is(r.s.relay, "0\n") && file_is(r.s.wd, "disarmed\n"));
    }
    CHECK(uv_loop_close(&r.loop) == 0);
    rig_end(&r);
}

TEST(box_bypass_destroy_armed)
{
    struct rig r;
    if (!rig_begin(&r, 20, 2, LOG_LEVEL_ERROR))
        return;
    char err[256] = "";
    struct bypass *b = bypass_create(&r.loop, &r.s.cfg, BYPASS_OFF, 0, NULL, err, sizeof err);
    CHECK(b != NULL);
    if (b) {
        CHECK(file_is(r.s.relay, "1\n")); /* OFF: out of bypass from the start */
        finish_loop(&r.loop, b);          /* no stop: what a crash leaves */
        CHECK(!strncmp(slurp(r.s.wd, err, sizeof err), "armed 2 ", 8));
        CHECK(file_is(r.s.relay, "1\n"));
    } else {
        uv_loop_close(&r.loop);
    }
    rig_end(&r);
}
