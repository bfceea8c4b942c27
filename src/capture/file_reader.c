#include "capture/file_reader.h"
#include "core/clock.h"

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

/* Small enough to stay in the caches between the worker's write and the engine's read, large
 * enough that a hand-back is rare (~1000 packets of the usual mix). */
#define BATCH_DATA_BYTES (512 * 1024)
#define BATCH_RECORDS 2048
#define STDIO_BUFFER_BYTES (1024 * 1024) /* see open_offline */
#define MAX_CAPLEN 262144                /* libpcap's largest snapshot length */

/* A batch keeps its packets' headers in one dense array and their bytes in another: the
 * consumer walks the headers without touching packet bytes, and the engine can start loading the
 * bytes of the packets ahead (engine_process_frames). */
struct record {
    uint64_t ts_us;
    uint32_t caplen;
    uint32_t len;
    uint32_t offset;            /* of the bytes in the batch's data */
};

#define DATA_SPACE(caplen) (((size_t)(caplen) + 7) & ~(size_t)7)
_Static_assert(BATCH_DATA_BYTES >= DATA_SPACE(MAX_CAPLEN), "the largest packet fits a batch");

enum batch_state { BATCH_EMPTY, BATCH_FILLING, BATCH_READY };

struct batch {
    struct record *recs;        /* BATCH_RECORDS */
    unsigned char *data;        /* BATCH_DATA_BYTES */
    unsigned char *prepared;    /* BATCH_RECORDS entries of prepared_stride bytes, or NULL */
    size_t count;               /* records filled */
    size_t data_used;
    size_t next;                /* consumer's next record */
    int linktype;
    enum batch_state state;
    enum file_read_status end;  /* FILE_READ_PACKET: the file goes on after this batch */
    char error[PCAP_ERRBUF_SIZE + 64];
};

struct file_reader {
    uv_loop_t *loop;
    uv_work_t work;
    char *path;
    char *bpf;
    pcap_t *pcap;               /* the worker's while a read is in flight */
    char *stdio_buffer;
    int linktype;
    /* The worker's: a packet read that did not fit in the batch, first in the next one. */
    struct record carry;
    unsigned char *carry_data;  /* MAX_CAPLEN bytes */
    bool have_carry;
    struct batch batch[2];
    int current;                /* the batch the consumer reads */
    int filling;                /* the batch a worker fills, or -1 */
    bool reopen;                /* the next fill starts a new pass */
    char *next_bpf;             /* a new filter for the next pass (file_reader_set_filter) */
    bool next_bpf_set;
    bool finished;              /* the end or an error is in a batch: no more fills */
    bool waiting;               /* the consumer was told FILE_READ_WAIT */
    bool closing;
    struct file_reader_prepare prepare; /* fn NULL: none */
    size_t prepared_stride;
    void (*on_ready)(void *ctx);
    void *ctx;
};

/* libpcap reads a savefile through stdio, two freads per packet, and stdio's default buffer is
 * the file system block (4 KiB): a read() every few packets. The same reader over a FILE with a
 * larger buffer of ours makes that one read() per megabyte. Stdin ('-') and files fopen cannot
 * open go to pcap_open_offline, which reports the error as it always has. pcap_close closes the
 * FILE; the buffer lives as long as the reader. */
static pcap_t *open_offline(struct file_reader *r, char *perr)
{
    if (strcmp(r->path, "-") != 0) {
        FILE *f = fopen(r->path, "rb");
        if (f) {
            setvbuf(f, r->stdio_buffer, _IOFBF, STDIO_BUFFER_BYTES);
            pcap_t *p = pcap_fopen_offline(f, perr);
            if (!p)
                fclose(f);
            return p;
        }
    }
    return pcap_open_offline(r->path, perr);
}

/* Open the file, check its link type, set the filter: 0, or -1 with the reason in err. */
static int reader_open_pcap(struct file_reader *r, char *err, size_t errsize)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    r->pcap = open_offline(r, perr);
    if (!r->pcap) {
        snprintf(err, errsize, "%s", perr);
        return -1;
    }
    r->linktype = pcap_datalink(r->pcap);
    const char *why = NULL;
    struct bpf_program prog;
    if (!decode_linktype_supported(r->linktype)) {
        const char *name = pcap_datalink_val_to_name(r->linktype);
        snprintf(err, errsize, "link type %s (%d) carries no IP we can read", name ? name : "?",
                 r->linktype);
    } else if (r->bpf && pcap_compile(r->pcap, &prog, r->bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        why = "bad filter";
    } else if (r->bpf) {
        int rc = pcap_setfilter(r->pcap, &prog);
        pcap_freecode(&prog);
        if (rc == 0)
            return 0;
        why = "cannot set filter";
    } else {
        return 0;
    }
    if (why)
        snprintf(err, errsize, "%s '%s': %s", why, r->bpf, pcap_geterr(r->pcap));
    pcap_close(r->pcap);
    r->pcap = NULL;
    return -1;
}

/* Worker thread: fill r->batch[r->filling] with records until it has no room for the largest
 * one, or the file ends. */
static bool batch_has_room(const struct batch *b, uint32_t caplen)
{
    return b->count < BATCH_RECORDS && b->data_used + DATA_SPACE(caplen) <= BATCH_DATA_BYTES;
}

static void batch_put(const struct file_reader *r, struct batch *b, struct record rec,
                      const unsigned char *bytes)
{
    rec.offset = (uint32_t)b->data_used;
    memcpy(b->data + b->data_used, bytes, rec.caplen);
    b->data_used += DATA_SPACE(rec.caplen);
    if (r->prepare.fn)
        r->prepare.fn(r->prepare.arg, b->linktype, b->data + rec.offset, rec.caplen, rec.len,
                      b->prepared + b->count * r->prepared_stride);
    b->recs[b->count++] = rec;
}

static void fill_work(uv_work_t *req)
{
    struct file_reader *r = req->data;
    struct batch *b = &r->batch[r->filling];
    b->count = b->data_used = b->next = 0;
    b->end = FILE_READ_PACKET;
    if (r->reopen) { /* a new pass: nothing is carried over from the old one */
        r->reopen = false;
        if (r->pcap)
            pcap_close(r->pcap);
        r->pcap = NULL;
        if (reader_open_pcap(r, b->error, sizeof b->error) < 0) {
            b->end = FILE_READ_ERROR;
            return;
        }
    }
    b->linktype = r->linktype;
    if (r->have_carry) {
        batch_put(r, b, r->carry, r->carry_data);
        r->have_carry = false;
    }
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc = pcap_next_ex(r->pcap, &h, &data);
        if (rc == 1) {
            struct record rec = {
                .ts_us = (uint64_t)h->ts.tv_sec * US_PER_S + (uint64_t)h->ts.tv_usec,
                .caplen = h->caplen < MAX_CAPLEN ? h->caplen : MAX_CAPLEN,
                .len = h->len,
            };
            if (!batch_has_room(b, rec.caplen)) {
                r->carry = rec;
                memcpy(r->carry_data, data, rec.caplen);
                r->have_carry = true;
                return;
            }
            batch_put(r, b, rec, data);
        } else if (rc == 0 || rc == PCAP_ERROR_BREAK) {
            b->end = FILE_READ_END;
            return;
        } else {
            snprintf(b->error, sizeof b->error, "read error: %s", pcap_geterr(r->pcap));
            b->end = FILE_READ_ERROR;
            return;
        }
    }
}

static void reader_free(struct file_reader *r)
{
    if (r->pcap)
        pcap_close(r->pcap);
    for (int i = 0; i < 2; i++) {
        free(r->batch[i].recs);
        free(r->batch[i].data);
        free(r->batch[i].prepared);
    }
    free(r->stdio_buffer);
    free(r->carry_data);
    free(r->next_bpf);
    free(r->path);
    free(r->bpf);
    free(r);
}

static void fill_done(uv_work_t *req, int status);

static void start_fill(struct file_reader *r, int i)
{
    r->filling = i;
    r->batch[i].state = BATCH_FILLING;
    r->work.data = r;
    int rc = uv_queue_work(r->loop, &r->work, fill_work, fill_done);
    if (rc < 0) { /* cannot happen with a valid loop and callbacks; say so rather than hang */
        struct batch *b = &r->batch[i];
        b->count = b->data_used = b->next = 0;
        b->end = FILE_READ_ERROR;
        snprintf(b->error, sizeof b->error, "cannot queue a read: %s", uv_strerror(rc));
        b->state = BATCH_READY;
        r->filling = -1;
        r->finished = true;
    }
}

/* Loop thread: the hand-back. */
static void fill_done(uv_work_t *req, int status)
{
    (void)status; /* reads are never cancelled */
    struct file_reader *r = req->data;
    struct batch *b = &r->batch[r->filling];
    int other = !r->filling;
    r->filling = -1;
    if (r->closing) {
        reader_free(r);
        return;
    }
    b->state = BATCH_READY;
    if (b->end != FILE_READ_PACKET)
        r->finished = true;
    else if (r->batch[other].state == BATCH_EMPTY)
        start_fill(r, other); /* the consumer is done with it: read ahead */
    if (r->waiting) {
        r->waiting = false;
        r->on_ready(r->ctx);
    }
}

struct file_reader *file_reader_open(uv_loop_t *loop, const char *path, const char *bpf,
                                     const struct file_reader_prepare *prepare,
                                     void (*on_ready)(void *ctx), void *ctx, char *err,
                                     size_t errsize)
{
    struct file_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->on_ready = on_ready;
    if (prepare && prepare->fn && prepare->size) {
        r->prepare = *prepare;
        r->prepared_stride = (prepare->size + 15) & ~(size_t)15;
    }
    r->ctx = ctx;
    r->filling = -1;
    r->path = strdup(path);
    r->bpf = bpf && *bpf ? strdup(bpf) : NULL;
    r->stdio_buffer = malloc(STDIO_BUFFER_BYTES);
    bool batches = true;
    for (int i = 0; i < 2; i++) {
        r->batch[i].recs = malloc(BATCH_RECORDS * sizeof *r->batch[i].recs);
        r->batch[i].data = malloc(BATCH_DATA_BYTES);
        if (r->prepare.fn)
            r->batch[i].prepared = malloc(BATCH_RECORDS * r->prepared_stride);
        batches = batches && r->batch[i].recs && r->batch[i].data &&
                  (!r->prepare.fn || r->batch[i].prepared);
    }
    r->carry_data = malloc(MAX_CAPLEN);
    if (!r->path || (bpf && *bpf && !r->bpf) || !r->stdio_buffer || !batches ||
        !r->carry_data) {
        snprintf(err, errsize, "out of memory");
        reader_free(r);
        return NULL;
    }
    if (reader_open_pcap(r, err, errsize) < 0) {
        reader_free(r);
        return NULL;
    }
    r->waiting = true; /* on_ready says when the first batch is there */
    start_fill(r, 0);
    if (r->filling < 0) { /* the read could not even be queued */
        snprintf(err, errsize, "%s", r->batch[0].error);
        reader_free(r);
        return NULL;
    }
    return r;
}

int file_reader_linktype(const struct file_reader *r) { return r->linktype; }

enum file_read_status file_reader_next(struct file_reader *r, struct file_packet *p)
{
    for (;;) {
        struct batch *b = &r->batch[r->current];
        if (b->state != BATCH_READY) {
            r->waiting = true;
            return FILE_READ_WAIT;
        }
        if (b->next < b->count) {
            const struct record *rec = &b->recs[b->next++];
            p->ts_us = rec->ts_us;
            p->caplen = rec->caplen;
            p->len = rec->len;
            p->data = b->data + rec->offset;
            p->linktype = b->linktype;
            p->prepared = b->prepared ? b->prepared + (b->next - 1) * r->prepared_stride : NULL;
            return FILE_READ_PACKET;
        }
        if (b->end != FILE_READ_PACKET)
            return b->end; /* stays so until a rewind */
        /* Done with this batch: hand it to the worker and go on with the other. */
        int done = r->current;
        b->state = BATCH_EMPTY;
        r->current = !done;
        if (r->filling < 0 && !r->finished)
            start_fill(r, done);
    }
}

size_t file_reader_next_run(struct file_reader *r, struct file_packet *out, size_t max,
                            enum file_read_status *why)
{
    if (max == 0)
        return 0;
    enum file_read_status st = file_reader_next(r, &out[0]);
    if (st != FILE_READ_PACKET) {
        *why = st;
        return 0;
    }
    size_t n = 1;
    const struct batch *b = &r->batch[r->current];
    while (n < max && b->next < b->count) /* the rest from the same batch: no release */
        file_reader_next(r, &out[n++]);
    *why = FILE_READ_PACKET;
    return n;
}

void file_reader_rewind(struct file_reader *r)
{
    struct batch *b = &r->batch[r->current];
    if (r->filling >= 0 || b->state != BATCH_READY || b->next < b->count ||
        b->end == FILE_READ_PACKET)
        return; /* only at the end of a pass */
    b->state = BATCH_EMPTY;
    r->finished = false;
    r->reopen = true;
    if (r->next_bpf_set) { /* nothing is in flight: the worker sees it with the reopen */
        free(r->bpf);
        r->bpf = r->next_bpf;
        r->next_bpf = NULL;
        r->next_bpf_set = false;
    }
    start_fill(r, r->current);
}

int file_reader_set_filter(struct file_reader *r, const char *bpf, char *err, size_t errsize)
{
    if (bpf && *bpf) { /* refuse a bad filter now, not at the next pass */
        pcap_t *dead = pcap_open_dead(r->linktype, MAX_CAPLEN);
        struct bpf_program prog;
        int rc = dead ? pcap_compile(dead, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) : -1;
        if (rc == 0)
            pcap_freecode(&prog);
        else
            snprintf(err, errsize, "bad filter '%s': %s", bpf, dead ? pcap_geterr(dead) : "?");
        if (dead)
            pcap_close(dead);
        if (rc < 0)
            return -1;
    }
    char *copy = bpf && *bpf ? strdup(bpf) : NULL;
    if (bpf && *bpf && !copy) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    free(r->next_bpf);
    r->next_bpf = copy;
    r->next_bpf_set = true;
    return 0;
}

const char *file_reader_error(const struct file_reader *r)
{
    return r->batch[r->current].error;
}

void file_reader_close(struct file_reader *r)
{
    if (!r)
        return;
    if (r->filling >= 0) {
        r->closing = true; /* fill_done frees it */
        return;
    }
    reader_free(r);
}
