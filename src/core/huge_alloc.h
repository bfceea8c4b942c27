/*
 * Memory for big tables (hash bucket arrays, flow chunks): zeroed, 2 MiB-aligned anonymous
 * memory marked for transparent huge pages where the kernel offers them. A random lookup in a
 * table of tens of megabytes otherwise costs a TLB miss (a page walk) on top of its cache miss.
 * Sizes under 2 MiB come from aligned_alloc. Always at least cache-line (64-byte) aligned. Any
 * thread.
 */
#ifndef TAPBOX_HUGE_ALLOC_H
#define TAPBOX_HUGE_ALLOC_H

#include <stddef.h>

#define HUGE_ALLOC_PAGE ((size_t)2 * 1024 * 1024)

/* Zeroed memory for bytes, or NULL. Free with huge_free and the same size. */
void *huge_alloc(size_t bytes);
void huge_free(void *p, size_t bytes);

#endif
