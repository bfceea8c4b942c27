/*
 * Capture sources: a live interface (non-blocking libpcap on uv_poll, immediate mode, retried
 * while the interface does not exist) or a pcap/pcapng file (read as fast as possible in bounded
 * batches, or replayed at capture speed, optionally in a loop). A source hands frames to the
 * engine and knows nothing of flows. Loop thread only.
 */
#ifndef TAPBOX_SOURCE_H
#define TAPBOX_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <pcap/pcap.h>
#include <uv.h>

#include "flow/engine.h"

enum source_replay { SOURCE_REPLAY_MAX, SOURCE_REPLAY_REALTIME };

struct source_options {
    const char *spec;          /* interface name or file path */
    const char *bpf;           /* may be NULL */
    enum source_replay replay;
    bool loop;
    /* Files read at full speed ask this before each batch and wait while it says so
     * (a consumer such as the flow export is behind). May be NULL. */
    bool (*hold_back)(void *ctx);
};

struct capture_source;
typedef void (*source_done_fn)(struct capture_source *s, void *ctx);

/* Open a source and start it on the loop. Returns NULL with a reason in err when the spec can
 * never work (a missing file, a bad filter); a missing interface is not an error: it is retried. */
struct capture_source *source_open(uv_loop_t *loop, struct engine *e,
                                   const struct source_options *opts, source_done_fn on_done,
                                   void *ctx, char *err, size_t errsize);
/* Stop and free (the handles close asynchronously; run the loop to finish). */
void source_close(struct capture_source *s);
/* Apply a new BPF filter (NULL: none) to a live source; 0 or -1 with err. */
int source_set_filter(struct capture_source *s, const char *bpf, char *err, size_t errsize);
/* Compile and set a BPF filter (NULL or "": none) on an open handle; 0 or -1 with err. */
int source_apply_filter(pcap_t *p, const char *bpf, char *err, size_t errsize);
/* Refresh kernel drop counters (live sources). */
void source_update_stats(struct capture_source *s);
/* Whether an -i spec names a file (it exists and is not a device, or looks like a path or a
 * capture file name) rather than an interface. */
bool source_spec_is_file(const char *spec);
/* True for a file read at full speed: the engine clock then follows packet time. */
bool source_drives_clock(const struct capture_source *s);

#endif
