#include "core/huge_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t round_up(size_t n) { return (n + HUGE_ALLOC_PAGE - 1) & ~(HUGE_ALLOC_PAGE - 1); }

void *huge_alloc(size_t bytes)
{
    if (bytes < HUGE_ALLOC_PAGE) {
        size_t n = (bytes + 63) & ~(size_t)63; /* cache-line aligned, as the tables want */
        void *p = aligned_alloc(64, n ? n : 64);
        if (p)
            memset(p, 0, n ? n : 64);
        return p;
    }
    size_t len = round_up(bytes);
    if (len < bytes) /* overflow */
        return NULL;
    /* Map one huge page more than needed, then trim both ends to a 2 MiB boundary. */
    size_t span = len + HUGE_ALLOC_PAGE;
    unsigned char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + HUGE_ALLOC_PAGE - 1) & ~(uintptr_t)(HUGE_ALLOC_PAGE - 1);
    size_t head = start - (uintptr_t)raw;
    if (head)
        munmap(raw, head);
    if (span - head > len)
        munmap((void *)(start + len), span - head - len);
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)start, len, MADV_HUGEPAGE); /* a hint: without THP, small pages */
#endif
    return (void *)start;
}

void huge_free(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < HUGE_ALLOC_PAGE)
        free(p);
    else
        munmap(p, round_up(bytes));
}
