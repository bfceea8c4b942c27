#include "export/ndjson_writer.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define CHUNK_BYTES (256 * 1024)
#define QUEUE_LIMIT_BYTES (32 * 1024 * 1024)

struct chunk {
    struct chunk *next;
    size_t len;
    size_t lines;
    char data[CHUNK_BYTES];
};

struct ndjson_writer {
    uv_loop_t *loop;
    uv_file fd;
    int owns_fd;
    char *path;
    struct chunk *head, *tail;   /* tail is being filled; chunks before it wait to be written */
    size_t queued_bytes;
    uv_fs_t req;
    struct chunk *in_flight;     /* owned by the thread pool until the callback */
    int closing;
    uint64_t dropped;
    uint64_t errors;
    uint64_t *dropped_total;     /* where the final count goes when closed */
};

static void writer_kick(struct ndjson_writer *w);

static void writer_free(struct ndjson_writer *w)
{
    if (w->dropped_total)
        *w->dropped_total = w->dropped;
    while (w->head) {
        struct chunk *next = w->head->next;
        free(w->head);
        w->head = next;
    }
    if (w->owns_fd)
        close(w->fd);
    free(w->path);
    free(w);
}

static void writer_done_cb(uv_fs_t *req)
{
    struct ndjson_writer *w = req->data;
    if (req->result < 0) {
        if (w->errors++ == 0)
            log_error("export", "%s: write failed: %s", w->path, uv_strerror((int)req->result));
        w->dropped += w->in_flight->lines; /* those lines are lost: counted with the others */
    } else if ((size_t)req->result < w->in_flight->len) {
        /* A short write: keep the rest at the front of the queue. */
        size_t done = (size_t)req->result;
        for (size_t i = 0; i < done; i++) /* whole lines written leave the count */
            if (w->in_flight->data[i] == '\n' && w->in_flight->lines > 0)
                w->in_flight->lines--;
        memmove(w->in_flight->data, w->in_flight->data + done, w->in_flight->len - done);
        w->in_flight->len -= done;
        w->queued_bytes -= done;
        w->in_flight->next = w->head;
        w->head = w->in_flight;
        if (!w->tail)
            w->tail = w->head;
        w->in_flight = NULL;
        uv_fs_req_cleanup(req);
        writer_kick(w);
        return;
    }
    w->queued_bytes -= w->in_flight->len;
    free(w->in_flight);
    w->in_flight = NULL;
    uv_fs_req_cleanup(req);
    if (w->head && (w->head != w->tail || w->closing))
        writer_kick(w);
    else if (w->closing && !w->head)
        writer_free(w);
}

/* Send the oldest full chunk (or, when flushing, the one being filled) to the thread pool. */
static void writer_kick(struct ndjson_writer *w)
{
    if (w->in_flight || !w->head)
        return;
    struct chunk *c = w->head;
    if (c->len == 0) {
        if (c == w->tail && w->closing) {
            w->head = w->tail = NULL;
            free(c);
            writer_free(w);
        }
        return;
    }
    w->head = c->next;
    if (w->tail == c)
        w->tail = NULL;
    c->next = NULL;
    w->in_flight = c;
    uv_buf_t buf = uv_buf_init(c->data, (unsigned)c->len);
    w->req.data = w;
    if (uv_fs_write(w->loop, &w->req, w->fd, &buf, 1, -1, writer_done_cb) < 0) {
        w->errors++;
        w->dropped += c->lines;
        w->queued_bytes -= c->len;
        free(c);
        w->in_flight = NULL;
    }
}

struct ndjson_writer *ndjson_writer_open(uv_loop_t *loop, const char *path, char *err,
                                         size_t errsize)
{
    struct ndjson_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    w->loop = loop;
    w->path = strdup(path);
    if (strcmp(path, "-") == 0) {
        w->fd = STDOUT_FILENO;
    } else {
        w->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (w->fd < 0) {
            snprintf(err, errsize, "%s: %s", path, strerror(errno));
            free(w->path);
            free(w);
            return NULL;
        }
        w->owns_fd = 1;
    }
    return w;
}

void ndjson_writer_append(struct ndjson_writer *w, const char *line, size_t len)
{
    if (len + 1 > CHUNK_BYTES || w->queued_bytes + len + 1 > QUEUE_LIMIT_BYTES) {
        if (w->dropped++ == 0)
            log_warn("export", "%s: writer is behind, dropping lines (counted)", w->path);
        return;
    }
    if (!w->tail || w->tail->len + len + 1 > CHUNK_BYTES) {
        struct chunk *c = malloc(sizeof *c);
        if (!c) {
            w->dropped++;
            return;
        }
        c->next = NULL;
        c->len = 0;
        c->lines = 0;
        if (w->tail)
            w->tail->next = c;
        else
            w->head = c;
        w->tail = c;
        writer_kick(w); /* a chunk just filled up */
    }
    memcpy(w->tail->data + w->tail->len, line, len);
    w->tail->data[w->tail->len + len] = '\n';
    w->tail->len += len + 1;
    w->tail->lines++;
    w->queued_bytes += len + 1;
}

void ndjson_writer_flush(struct ndjson_writer *w)
{
    if (w->tail && w->tail->len && !w->in_flight) {
        /* Close the partial chunk so that the next line starts a new one. */
        w->tail = NULL;
        writer_kick(w);
    }
}

void ndjson_writer_close(struct ndjson_writer *w, uint64_t *dropped_total)
{
    if (!w)
        return;
    w->dropped_total = dropped_total;
    w->closing = 1;
    w->tail = NULL;
    if (!w->in_flight) {
        if (w->head)
            writer_kick(w);
        else
            writer_free(w);
    }
}

uint64_t ndjson_writer_dropped(const struct ndjson_writer *w) { return w->dropped; }
size_t ndjson_writer_backlog(const struct ndjson_writer *w) { return w->queued_bytes; }
