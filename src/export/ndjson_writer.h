/*
 * Appends lines to a file (or stdout) without blocking the loop: lines collect in a buffer that
 * is written by libuv's thread pool (uv_fs_write), one write in flight, in order. The queue is
 * bounded; lines beyond it are dropped and counted. Loop thread only.
 */
#ifndef TAPBOX_NDJSON_WRITER_H
#define TAPBOX_NDJSON_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ndjson_writer;

/* path "-" is stdout. NULL with a reason in err when the file cannot be opened. */
struct ndjson_writer *ndjson_writer_open(uv_loop_t *loop, const char *path, char *err,
                                         size_t errsize);
/* Queue one line (a newline is added). */
void ndjson_writer_append(struct ndjson_writer *w, const char *line, size_t len);
/* Start writing what is buffered. */
void ndjson_writer_flush(struct ndjson_writer *w);
/* Flush, then free once every write has finished (run the loop to let it finish). When it is
 * freed, the final count of lost lines goes to *dropped_total (if not NULL). */
void ndjson_writer_close(struct ndjson_writer *w, uint64_t *dropped_total);
uint64_t ndjson_writer_dropped(const struct ndjson_writer *w);
/* Bytes queued and not yet written: producers that can wait (file replay, the exit drain) hold
 * back while this is large, so nothing is dropped for them. */
size_t ndjson_writer_backlog(const struct ndjson_writer *w);

#endif
