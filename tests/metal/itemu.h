/* itemu.h - IronTensor's MSL emulator: runs the .metal kernels of shaders/ on the CPU (Linux tests only).

   Every simulated GPU thread is a cooperative fiber. threadgroup_barrier, simdgroup_barrier and
   the simd_* collectives really synchronize; threadgroup memory is poisoned with NaN before each
   group; barrier divergence, early return before a barrier, unbound arguments and device-buffer
   overruns are reported with the kernel name and the .metal line.

   The C API below is what the tests and the "fake Metal" objc layer use:
       const itemu_kernel *k = itemu_kernel_find("it_rmsnorm_forward_f32");
       itemu_dispatch d; itemu_dispatch_init(&d);
       itemu_bind_buffer(&d, 0, out, out_bytes);        // setBuffer:offset:atIndex:
       itemu_bind_bytes(&d, 3, &args, sizeof args);      // setBytes:length:atIndex: (copied)
       itemu_bind_tgmem(&d, 0, 1024);                    // setThreadgroupMemoryLength:atIndex:
       itemu_set_threadgroups(&d, rows, 1, 1, 128, 1, 1); // dispatchThreadgroups:
       if (!itemu_run(k, &d, NULL, &rep)) puts(rep.msg);
   Kernel registration is automatic: every kernel object file built from mslprep output registers
   its kernels (name, trampoline, argument table) at start-up. */
#ifndef ITEMU_H
#define ITEMU_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ITEMU_MAX_BIND 31
#define ITEMU_MAX_BYTES 4096 /* Metal's documented setBytes limit */

typedef enum itemu_bind_kind {
    ITEMU_BIND_POINTER = 0,  /* device/constant T *x [[buffer(n)]] */
    ITEMU_BIND_REFERENCE,    /* constant T &x [[buffer(n)]]: needs sizeof(T) bytes */
    ITEMU_BIND_THREADGROUP   /* threadgroup T *x [[threadgroup(n)]] */
} itemu_bind_kind;

typedef struct itemu_binding { /* one kernel parameter with [[buffer(n)]] / [[threadgroup(n)]] */
    int index;
    itemu_bind_kind kind;
    const char *aspace;  /* "device", "constant", "threadgroup" */
    const char *type;    /* pointee type as written */
    size_t elem_size;    /* sizeof(pointee) in the emulator; 0 for void */
    int is_const;
    const char *name;
    int line;            /* .metal line of the parameter */
} itemu_binding;

typedef struct itemu_kernel {
    const char *name;
    void (*fn)(void);    /* all parameters are defaulted by the shim: called with no arguments */
    const itemu_binding *binds;
    int nbinds;
    const char *file;    /* the .metal file */
    int line;            /* line of `kernel void` */
} itemu_kernel;

typedef struct itemu_dispatch {
    void *buf[ITEMU_MAX_BIND];       /* base + offset */
    size_t buf_len[ITEMU_MAX_BIND];  /* bytes available from buf[i] */
    size_t tg_len[ITEMU_MAX_BIND];   /* dynamic threadgroup memory per index */
    uint32_t groups[3];              /* threadgroups per grid */
    uint32_t tptg[3];                /* threads per threadgroup */
    uint32_t grid[3];                /* dispatchThreads: total threads (edge groups smaller); 0 = uniform */
    size_t bytes_used;
    unsigned char bytes[2 * ITEMU_MAX_BYTES]; /* setBytes copies live here */
} itemu_dispatch;

typedef struct itemu_options {
    int order;          /* fiber order inside a group: 0 ascending, 1 descending, >= 2 shuffled (seed) */
    unsigned group_seed;/* threadgroups run in a shuffled order from this seed (0 = a fixed default) */
    int no_poison;      /* 1 = do not fill threadgroup memory with NaN */
    int no_guard;       /* 1 = run on the caller's buffers directly (no guard pages, no OOB check) */
    size_t stack_size;  /* per fiber; 0 = 64 KiB */
    int fast_math_ulps; /* > 0: exp, log, rsqrt, tanh, ... (not precise::) err by up to this many ulp,
                           a stand-in for Apple's fast math, to prove the tolerances hold */
} itemu_options;

typedef struct itemu_report {
    int ok;
    char msg[768];
    uint64_t switches, barriers, simd_syncs, partial_simd_syncs, groups;
    size_t threadgroup_static_bytes; /* kernel-scope threadgroup arrays (pipeline staticThreadgroupMemoryLength) */
} itemu_report;

int itemu_kernel_count(void);
const itemu_kernel *itemu_kernel_at(int i);
const itemu_kernel *itemu_kernel_find(const char *name);
void itemu_register(const itemu_kernel *k);

void itemu_dispatch_init(itemu_dispatch *d);
void itemu_bind_buffer(itemu_dispatch *d, int index, void *ptr, size_t len);
/* copies len bytes (Metal: setBytes, <= 4 KiB); returns 0 when it does not fit */
int itemu_bind_bytes(itemu_dispatch *d, int index, const void *ptr, size_t len);
void itemu_bind_tgmem(itemu_dispatch *d, int index, size_t len);
void itemu_set_threadgroups(itemu_dispatch *d, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t tx, uint32_t ty, uint32_t tz);
void itemu_set_threads(itemu_dispatch *d, uint32_t nx, uint32_t ny, uint32_t nz, uint32_t tx, uint32_t ty, uint32_t tz);
/* Runs the dispatch to completion. Returns 1 when it ran cleanly; otherwise 0 and rep->msg says
   what went wrong, naming the kernel and, where it can, the .metal line. */
int itemu_run(const itemu_kernel *k, const itemu_dispatch *d, const itemu_options *opt, itemu_report *rep);
/* Default options for itemu_run(..., NULL, ...): from ITEMU_ORDER / ITEMU_GROUP_SEED if set. */
void itemu_default_options(itemu_options *o);

#ifdef __cplusplus
}

namespace itemu {
struct ThreadState { /* the builtins of one simulated thread */
    uint32_t tpig[3], tpitg[3], tgpig[3], tptg[3], tgpg[3], tpg[3];
    uint32_t tiitg, tiisg, sgitg, sgptg, width;
};
ThreadState *cur();
void *buffer_arg(int index);
void *tgmem_arg(int index);
void *tg_static(const void *site, size_t size, size_t align, const char *file, int line);
void barrier(const char *file, int line);
void simd_barrier(const char *file, int line);
/* Deposits this lane's value, waits until the active lanes of the simdgroup arrive at the same
   call site, then returns the released values packed by lane (inactive lanes: undefined) and the
   active mask. */
const void *simd_exchange(const void *val, size_t bytes, const char *file, int line, uint64_t *mask, int *lanes);
[[noreturn]] void fail(const char *fmt, ...);
float fast_math(float exact); /* exact, or off by a few ulp when fast_math_ulps is set */
} // namespace itemu
#endif
#endif
