/*
 * A pcap/pcapng file read ahead in libuv's thread pool: the loop thread takes packets from one
 * batch while a worker fills the other, so disk reads and libpcap's record parsing never block
 * the loop (and, on a multi-core box, run beside the flow engine).
 *
 * Ownership: at most one read is in flight. While it is, the pcap handle and the batch being
 * filled belong to the worker; the loop thread touches neither until the hand-back (the work's
 * after-callback, on the loop thread). Everything else is the loop thread's.
 */
#ifndef TAPBOX_FILE_READER_H
#define TAPBOX_FILE_READER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct file_reader;

struct file_packet {
    uint64_t ts_us;
    uint32_t caplen;
    uint32_t len;          /* length on the wire */
    const uint8_t *data;   /* valid until the next file_reader_next */
    int linktype;          /* of the pass the packet came from */
    const void *prepared;  /* what file_reader_prepare made of it, or NULL */
};

/* Work the worker does on each packet next to reading it (the engine decodes it there): fn
 * fills size bytes at out. It runs on a worker thread, so it gets only arg, a value the reader
 * keeps, and the packet. */
struct file_reader_prepare {
    size_t size;
    void (*fn)(uint64_t arg, int linktype, const uint8_t *data, uint32_t caplen, uint32_t len,
               void *out);
    uint64_t arg;
};

enum file_read_status {
    FILE_READ_PACKET, /* *p is the next packet */
    FILE_READ_WAIT,   /* the next batch is still being read: on_ready will be called */
    FILE_READ_END,    /* end of the file: file_reader_rewind may start a new pass */
    FILE_READ_ERROR,  /* a read error after the packets before it: file_reader_error says why */
};

/* Open the file (and set the BPF filter, NULL for none) on the calling thread so that a missing
 * or unreadable file is reported at once, then start reading ahead. on_ready is called on the
 * loop thread when the first batch arrives, and then each time a batch the consumer was waiting
 * for (FILE_READ_WAIT) arrives. Returns
 * NULL with the reason in err. prepare may be NULL. */
struct file_reader *file_reader_open(uv_loop_t *loop, const char *path, const char *bpf,
                                     const struct file_reader_prepare *prepare,
                                     void (*on_ready)(void *ctx), void *ctx, char *err,
                                     size_t errsize);
int file_reader_linktype(const struct file_reader *r);
/* The next packet, in file order. */
enum file_read_status file_reader_next(struct file_reader *r, struct file_packet *p);
/* Up to max next packets, all valid until the next call of either function. Returns 0 when there
 * is none, with the reason (FILE_READ_WAIT, _END or _ERROR) in *why. */
size_t file_reader_next_run(struct file_reader *r, struct file_packet *out, size_t max,
                            enum file_read_status *why);
/* After FILE_READ_END: read the file again from its start (the worker reopens it; a failure
 * then shows as FILE_READ_ERROR). */
void file_reader_rewind(struct file_reader *r);
const char *file_reader_error(const struct file_reader *r);
/* Use this BPF filter (NULL: none) from the next pass on (a file is read with one filter per
 * pass). 0, or -1 with the reason in err (a filter that does not compile: nothing changes). */
int file_reader_set_filter(struct file_reader *r, const char *bpf, char *err, size_t errsize);
/* Free now, or when the read in flight comes back. */
void file_reader_close(struct file_reader *r);

#endif
