/* The read-ahead pcap reader: packets come back whole and in order across batch boundaries (a
 * packet that does not fit is carried to the next batch, a batch of tiny packets is capped by
 * its record count), a second pass after a rewind, a truncated file, closing with a read in
 * flight, and the open errors. */
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "capture/file_reader.h"
#include "check.h"

#define BIG 262144 /* libpcap's largest snapshot length */

/* Packet i of the test file: its length and its bytes are functions of i. */
static uint32_t packet_len(unsigned i)
{
    if (i % 700 == 350)
        return BIG;                     /* does not fit a half-full batch: carried */
    if (i >= 1000 && i < 3600)
        return 60;                      /* 2600 in a row: more than a batch's record cap */
    return 60 + (i * 97) % 1500;
}

static unsigned char packet_byte(unsigned i, uint32_t j) { return (unsigned char)(i * 31 + j * 7); }

#define PACKETS 5000u

static void write_capture(const char *path, int linktype, unsigned packets)
{
    pcap_t *dead = pcap_open_dead(linktype, BIG);
    pcap_dumper_t *d = pcap_dump_open(dead, path);
    CHECK(d != NULL);
    unsigned char *buf = malloc(BIG);
    for (unsigned i = 0; d && i < packets; i++) {
        uint32_t len = packet_len(i);
        for (uint32_t j = 0; j < len; j++)
            buf[j] = packet_byte(i, j);
        struct pcap_pkthdr h = {.ts = {.tv_sec = 1000 + i / 1000, .tv_usec = (i % 1000) * 1000},
                                .caplen = len, .len = len + (i & 1)};
        pcap_dump((u_char *)d, &h, buf);
    }
    free(buf);
    if (d)
        pcap_dump_close(d);
    pcap_close(dead);
}

/* What the test's prepare hook writes for each packet. */
struct prepared_note {
    uint64_t arg;
    int linktype;
    uint32_t caplen, len;
    uint8_t last;
};

static void note_packet(uint64_t arg, int linktype, const uint8_t *data, uint32_t caplen,
                        uint32_t len, void *out)
{
    *(struct prepared_note *)out =
        (struct prepared_note){arg, linktype, caplen, len, caplen ? data[caplen - 1] : 0};
}

struct consumer {
    uv_loop_t loop;
    struct file_reader *r;
    unsigned expect;         /* index of the next packet wanted */
    unsigned passes;         /* passes wanted before closing */
    unsigned passes_done;
    unsigned bad;            /* packets that were not what the file holds */
    unsigned wake_ups;
    enum file_read_status last;
    const struct file_reader_prepare *prepare;
    char error[512];
    size_t run_max;
};

static void check_packet(struct consumer *c, const struct file_packet *p)
{
    unsigned i = c->expect % PACKETS;
    uint32_t len = packet_len(i);
    bool ok = p->caplen == len && p->len == len + (i & 1) && p->linktype == DLT_EN10MB &&
              p->ts_us == (uint64_t)(1000 + i / 1000) * 1000000u + (i % 1000) * 1000u;
    for (uint32_t j = 0; ok && j < len; j++)
        ok = p->data[j] == packet_byte(i, j);
    if (c->prepare) { /* the worker's work on this very packet */
        const struct prepared_note *note = p->prepared;
        ok = ok && note && note->arg == c->prepare->arg && note->linktype == DLT_EN10MB &&
             note->caplen == len && note->len == p->len && note->last == p->data[len - 1];
    } else {
        ok = ok && p->prepared == NULL;
    }
    if (!ok)
        c->bad++;
    c->expect++;
}

static void consume(void *ctx)
{
    struct consumer *c = ctx;
    c->wake_ups++;
    for (;;) {
        struct file_packet run[40];
        enum file_read_status st;
        size_t n = file_reader_next_run(c->r, run, c->run_max, &st);
        for (size_t k = 0; k < n; k++)
            check_packet(c, &run[k]);
        if (n > 0) {
            c->run_max = c->run_max % 40 + 1; /* runs of every length */
            continue;
        }
        c->last = st;
        if (st == FILE_READ_WAIT)
            return;
        if (st == FILE_READ_END && ++c->passes_done < c->passes) {
            file_reader_rewind(c->r);
            continue;
        }
        if (st == FILE_READ_ERROR)
            snprintf(c->error, sizeof c->error, "%s", file_reader_error(c->r));
        file_reader_close(c->r);
        c->r = NULL;
        return;
    }
}

/* Read the file with c's settings (passes, prepare) to the end on a loop of its own. */
static void consume_file(struct consumer *c, const char *path, const char *bpf)
{
    uv_loop_init(&c->loop);
    char err[512] = "";
    c->r = file_reader_open(&c->loop, path, bpf, c->prepare, consume, c, err, sizeof err);
    CHECK(c->r != NULL);
    if (c->r)
        CHECK_EQ_U(file_reader_linktype(c->r), DLT_EN10MB);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    CHECK(c->r == NULL);
    CHECK(uv_loop_close(&c->loop) == 0);
}

static void make_path(char *path, size_t size, const char *name)
{
    snprintf(path, size, "/tmp/tapbox-test-reader-%d-%s.pcap", (int)getpid(), name);
}

TEST(file_reader_two_passes_whole_and_in_order)
{
    char path[128];
    make_path(path, sizeof path, "good");
    write_capture(path, DLT_EN10MB, PACKETS);
    const struct file_reader_prepare prepare = {sizeof(struct prepared_note), note_packet,
                                                0x1234567890ull};
    struct consumer c = {.passes = 2, .run_max = 1, .prepare = &prepare};
    consume_file(&c, path, NULL);
    CHECK_EQ_U(c.last, FILE_READ_END);
    CHECK_EQ_U(c.passes_done, 2);
    CHECK_EQ_U(c.expect, 2 * PACKETS);
    CHECK_EQ_U(c.bad, 0);
    CHECK(c.wake_ups >= 2); /* the first batch, and the second pass's */
    unlink(path);
}

TEST(file_reader_filter)
{
    char path[128];
    make_path(path, sizeof path, "filter");
    write_capture(path, DLT_EN10MB, 100);
    struct consumer c = {.passes = 1, .run_max = 1};
    /* The filter runs in the worker: none of the first 100 packets is that long. */
    consume_file(&c, path, "greater 100000");
    CHECK_EQ_U(c.last, FILE_READ_END);
    CHECK_EQ_U(c.expect, 0);
    c = (struct consumer){.passes = 1, .run_max = 1};
    uv_loop_init(&c.loop);
    char err[512] = "";
    CHECK(file_reader_open(&c.loop, path, "no such words", NULL, consume, &c, err, sizeof err) ==
          NULL);
    CHECK(strstr(err, "bad filter 'no such words'") != NULL);
    CHECK(uv_loop_close(&c.loop) == 0);
    unlink(path);
}

TEST(file_reader_truncated_file)
{
    char path[128];
    make_path(path, sizeof path, "cut");
    write_capture(path, DLT_EN10MB, 400);
    /* Cut in the middle of packet 350 (the big one): 350 whole packets before it. */
    size_t keep = 24;
    for (unsigned i = 0; i < 350; i++)
        keep += 16 + packet_len(i);
    CHECK(truncate(path, (off_t)(keep + 16 + 1000)) == 0);
    struct consumer c = {.passes = 1, .run_max = 1};
    consume_file(&c, path, NULL);
    CHECK_EQ_U(c.last, FILE_READ_ERROR);
    CHECK_EQ_U(c.expect, 350);
    CHECK_EQ_U(c.bad, 0);
    CHECK(strstr(c.error, "read error") != NULL);
    unlink(path);
}

static void never(void *ctx) { *(int *)ctx += 1; }

TEST(file_reader_close_while_reading)
{
    char path[128];
    make_path(path, sizeof path, "close");
    write_capture(path, DLT_EN10MB, PACKETS);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int called = 0;
    char err[512] = "";
    struct file_reader *r = file_reader_open(&loop, path, NULL, NULL, never, &called, err,
                                             sizeof err);
    CHECK(r != NULL);
    file_reader_close(r); /* the first read is in flight: freed when it comes back */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_U(called, 0);
    CHECK(uv_loop_close(&loop) == 0);
    unlink(path);
}

TEST(file_reader_open_errors)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512] = "";
    int called = 0;
    CHECK(file_reader_open(&loop, "/nonexistent/x.pcap", NULL, NULL, never, &called, err,
                           sizeof err) ==
          NULL);
    CHECK(strstr(err, "No such file") != NULL);
    char path[128];
    make_path(path, sizeof path, "usb");
    write_capture(path, DLT_USB_LINUX, 3);
    CHECK(file_reader_open(&loop, path, NULL, NULL, never, &called, err, sizeof err) == NULL);
    CHECK(strstr(err, "carries no IP") != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_U(called, 0);
    CHECK(uv_loop_close(&loop) == 0);
    unlink(path);
}

/* A filter set while reading takes effect at the next pass; a bad one is refused at once. */
struct filter_pass {
    uv_loop_t loop;
    struct file_reader *r;
    unsigned packets[2];
    unsigned pass;
    int set_rc;
};

static void filter_consume(void *ctx)
{
    struct filter_pass *c = ctx;
    for (;;) {
        struct file_packet p;
        enum file_read_status st = file_reader_next(c->r, &p);
        if (st == FILE_READ_PACKET) {
            c->packets[c->pass]++;
            continue;
        }
        if (st == FILE_READ_WAIT)
            return;
        if (st == FILE_READ_END && c->pass == 0) {
            char err[256];
            c->set_rc = file_reader_set_filter(c->r, "greater 100000", err, sizeof err);
            c->pass = 1;
            file_reader_rewind(c->r);
            continue;
        }
        file_reader_close(c->r);
        c->r = NULL;
        return;
    }
}

TEST(file_reader_filter_for_the_next_pass)
{
    char path[128];
    make_path(path, sizeof path, "refilter");
    write_capture(path, DLT_EN10MB, 1500);
    struct filter_pass c = {0};
    uv_loop_init(&c.loop);
    char err[256] = "";
    c.r = file_reader_open(&c.loop, path, NULL, NULL, filter_consume, &c, err, sizeof err);
    CHECK(c.r != NULL);
    if (c.r) {
        CHECK(file_reader_set_filter(c.r, "no such words", err, sizeof err) < 0);
        CHECK(strstr(err, "bad filter 'no such words'") != NULL);
    }
    uv_run(&c.loop, UV_RUN_DEFAULT);
    CHECK_EQ_U(c.set_rc, 0);
    CHECK_EQ_U(c.packets[0], 1500); /* the refused filter changed nothing */
    CHECK_EQ_U(c.packets[1], 2);    /* packets 350 and 1050: the only ones over 100000 bytes */
    CHECK(uv_loop_close(&c.loop) == 0);
    unlink(path);
}
