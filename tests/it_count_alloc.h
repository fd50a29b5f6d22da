/* it_count_alloc.h - include FIRST, before the implementation of irontensor.h (and
   irontensor_metal.h): a counting allocator for it_context_desc.allocator, and a trap that counts
   every malloc / calloc / realloc the libraries' implementations call directly.
   The system headers the implementations use come in here, before the trap's macros, so only the
   libraries' own calls are renamed (free is not trapped: it_allocator has a member named free).
     d.allocator.alloc = count_alloc; d.allocator.free = count_free; d.allocator.user = &g_count;
     ... it_context_destroy(ctx);   then g_count.live == 0 and g_raw_allocs == 0
   After the implementations, #undef malloc, calloc and realloc before the test's own code. */
#ifndef IT_COUNT_ALLOC_H
#define IT_COUNT_ALLOC_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__APPLE__) || defined(IT_METAL_FAKE)
#include <objc/runtime.h>
#include <objc/message.h>
#endif

static long g_raw_allocs;
static void *trap_malloc(size_t n) { g_raw_allocs++; return malloc(n); }
static void *trap_calloc(size_t n, size_t k) { g_raw_allocs++; return calloc(n, k); }
static void *trap_realloc(void *p, size_t n) { g_raw_allocs++; return realloc(p, n); }
/* referenced only if a library calls them */
static void count_alloc_trap_unused(void) { (void)trap_calloc; (void)trap_realloc; (void)count_alloc_trap_unused; }

/* The counting allocator: a 64-byte header in front of each block holds its size. Calls with
   another user pointer than &g_count are counted in wrong_user. */
typedef struct count_stats {
    long allocs, frees, null_frees, wrong_user;
    size_t live, peak, total;
    long fail_at; /* > 0: the call that would be allocation number fail_at returns NULL (once) */
    long failed;  /* allocations refused that way */
} count_stats;
static count_stats g_count;
static void *count_alloc(size_t size, void *user) {
    void *base;
    if (user != &g_count) g_count.wrong_user++;
    if (g_count.fail_at > 0 && g_count.allocs + 1 == g_count.fail_at) {
        g_count.fail_at = 0;
        g_count.failed++;
        return NULL;
    }
    if (posix_memalign(&base, 64, 64 + size) != 0) return NULL;
    memcpy(base, &size, sizeof size);
    g_count.allocs++;
    g_count.live += size;
    g_count.total += size;
    if (g_count.live > g_count.peak) g_count.peak = g_count.live;
    return (unsigned char *)base + 64;
}
static void count_free(void *ptr, void *user) {
    size_t size;
    if (user != &g_count) g_count.wrong_user++;
    if (!ptr) {
        g_count.null_frees++;
        return;
    }
    memcpy(&size, (unsigned char *)ptr - 64, sizeof size);
    g_count.frees++;
    g_count.live -= size;
    free((unsigned char *)ptr - 64);
}

#define malloc(n) trap_malloc(n)
#define calloc(n, k) trap_calloc(n, k)
#define realloc(p, n) trap_realloc(p, n)
#endif
