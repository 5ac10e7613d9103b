/* Software prefetch of a byte range into the cache (a no-op where the compiler has no builtin).
 * Used by the epoch loop to start fetching shuffled rows a few rows before it copies them: rows are
 * contiguous (the hardware prefetcher follows them) but the jump from one row to the next is random. */
#ifndef FASTMLP_PREFETCH_H
#define FASTMLP_PREFETCH_H

#include <stddef.h>

static inline void fm_prefetch_range(const void *p, size_t nbytes)
{
#if defined(__GNUC__)
    const char *c = (const char *)p;
    for (size_t off = 0; off < nbytes; off += 64)
        __builtin_prefetch(c + off, 0, 3);
#else
    (void)p;
    (void)nbytes;
#endif
}

#endif
