/* fake_cuda.c - stand-ins for libcuda, libnvrtc and libcublas, linked into tests/cuda/test_cuda_backend.c
   (make test-cuda; the backend finds them with dlopen(NULL) when it_cuda_desc names "" as the
   libraries). They check what the real ones would reject, then run the work on the MSL emulator:
   - device memory is host memory the fake tracks: every kernel argument and copy must lie inside
     an allocation (pinned host memory is not device memory), frees must match allocations;
   - work is queued on the stream and runs at cuStreamSynchronize, so results read without a
     wait are stale, as on a GPU; a failing kernel fails the synchronize (719, the emulator's text);
   - cuLaunchKernel checks the argument count and sizes against shaders_cuda.h's signature, and the
     hidden dispatch argument against the grid (a dispatchThreads grid must round up to it);
   - stream capture records instead of queueing; a synchronize, allocation or free during capture
     fails (900, as CUDA's capture does); cuGraphLaunch queues the captured work, whose kernel
     arguments were copied at capture and whose host copies read their source when they run;
   - cuBLAS: column-major cublasGemmEx on fp32 matrices (strided batches) in double accumulation, fp32
     operands (compute type fp32 or TF32, TF32 not modelled) or bf16 ones, leading dimensions and operand bounds checked; capture needs
     cublasSetWorkspace first;
   - NVRTC "compiles" by checking that every kernel of the table is defined in the source, for the
     architecture the fake device reports (sm_90), and returns a marker the module loader checks.
   FAKE_CUDA_DEVICES=0, FAKE_CUDA_COMPILE_FAIL=1 and FAKE_CUDA_FAIL_KERNEL=name inject failures. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../metal/itemu.h"
#include "../../shaders/it_kernel_args.h"
#include "../../shaders_cuda.h"
#include "fake_cuda.h"

#define OK 0
#define E_INVALID_VALUE 1
#define E_OUT_OF_MEMORY 2
#define E_NO_DEVICE 100
#define E_INVALID_IMAGE 200
#define E_INVALID_HANDLE 400
#define E_NOT_FOUND 500
#define E_LAUNCH_FAILED 719
#define E_CAPTURE_UNSUPPORTED 900

fake_cuda_counters fake_cuda_counts;
static char g_msg[1024];
const char *fake_cuda_message(void) { return g_msg; }
static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fake_cuda: %s\n", g_msg);
}

/* ---- memory ---- */
typedef struct { unsigned char *p; size_t n; int pinned; } block;
static block g_blocks[4096];
static int g_nblocks;
static const block *find_block(unsigned long long addr, size_t need, int pinned) {
    int i;
    for (i = 0; i < g_nblocks; i++)
        if (g_blocks[i].pinned == pinned && addr >= (unsigned long long)(uintptr_t)g_blocks[i].p &&
            addr + need <= (unsigned long long)(uintptr_t)g_blocks[i].p + g_blocks[i].n)
            return &g_blocks[i];
    return NULL;
}
static int g_capturing;
static int track(void **out, size_t n, int pinned) {
    if (g_capturing) {
        note("allocation during stream capture");
        return E_CAPTURE_UNSUPPORTED;
    }
    if (g_nblocks == 4096 || !(*out = calloc(1, n ? n : 1))) return E_OUT_OF_MEMORY;
    g_blocks[g_nblocks].p = (unsigned char *)*out;
    g_blocks[g_nblocks].n = n;
    g_blocks[g_nblocks++].pinned = pinned;
    fake_cuda_counts.allocations++;
    return OK;
}
static int untrack(void *p, int pinned) {
    int i;
    if (g_capturing) {
        note("free during stream capture");
        return E_CAPTURE_UNSUPPORTED;
    }
    for (i = 0; i < g_nblocks; i++)
        if (g_blocks[i].p == p && g_blocks[i].pinned == pinned) {
            free(p);
            g_blocks[i] = g_blocks[--g_nblocks];
            fake_cuda_counts.frees++;
            return OK;
        }
    note("free of %p, which is not a %s allocation", p, pinned ? "pinned host" : "device");
    return E_INVALID_VALUE;
}
int fake_cuda_live_allocations(void) { return g_nblocks; }

/* ---- queued work ---- */
enum { OP_KERNEL = 1, OP_COPY, OP_MEMSET, OP_GEMM };
typedef struct {
    int kind, kernel;
    unsigned grid[3], block[3];
    unsigned char params[256];
    size_t off[IT_CUDA_MAX_BINDS + 1];
    unsigned char *dst;
    const unsigned char *src;
    size_t n;
    unsigned value;
    int ta, tb, m, nn, k, lda, ldb, ldc, batch;
    long long sa, sb, sc;
    int compute; /* cuBLAS compute type */
    int abtype;  /* CUDA_R_32F (0) or CUDA_R_16BF (14) operands */
    float alpha, beta;
    const void *a, *b;
    float *c;
} op;
typedef struct { op *ops; int n, cap; } oplist;
static oplist g_queue, g_capture;
static int g_stream_error;
static void push(oplist *l, const op *o) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ops = (op *)realloc(l->ops, (size_t)l->cap * sizeof *l->ops);
        if (!l->ops) abort();
    }
    l->ops[l->n++] = *o;
}
static int enqueue(const op *o) {
    push(g_capturing ? &g_capture : &g_queue, o);
    return OK;
}
/* operand element e: an fp32 value, or a bf16 one (its 16 bits, the top half of an fp32) */
static double gemm_elem(const void *base, size_t e, int type) {
    if (type == 14) {
        uint32_t u = (uint32_t)((const uint16_t *)base)[e] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return ((const float *)base)[e];
}
static void gemm_run(const op *o) {
    int bi, i, j, l;
    for (bi = 0; bi < o->batch; bi++) {
        size_t A = (size_t)bi * o->sa, B = (size_t)bi * o->sb; /* element offsets of this item */
        float *C = o->c + bi * o->sc;
        for (j = 0; j < o->nn; j++)
            for (i = 0; i < o->m; i++) {
                double s = 0;
                for (l = 0; l < o->k; l++) {
                    double x = gemm_elem(o->a, A + (o->ta ? l + (size_t)i * o->lda : i + (size_t)l * o->lda), o->abtype); /* TF32 is not modelled */
                    double y = gemm_elem(o->b, B + (o->tb ? j + (size_t)l * o->ldb : l + (size_t)j * o->ldb), o->abtype);
                    s += x * y;
                }
                C[i + (size_t)j * o->ldc] = (float)(o->alpha * s + (o->beta != 0.0f ? o->beta * C[i + (size_t)j * o->ldc] : 0.0));
            }
    }
}
static int run_kernel(const op *o) {
    const it_cuda_kernel_info *info = &it_cuda_kernels[o->kernel];
    const itemu_kernel *k = itemu_kernel_find(info->name);
    itemu_dispatch d;
    itemu_report rep;
    unsigned disp[4];
    int i;
    const char *bad = getenv("FAKE_CUDA_FAIL_KERNEL");
    if (bad && !strcmp(bad, info->name)) {
        note("%s: injected failure", info->name);
        return 0;
    }
    if (!k) {
        note("%s: not in the emulator", info->name);
        return 0;
    }
    itemu_dispatch_init(&d);
    for (i = 0; i < info->n_binds; i++) {
        if (info->value_size[i]) {
            itemu_bind_bytes(&d, i, o->params + o->off[i], info->value_size[i]);
        } else {
            unsigned long long a;
            const block *b;
            memcpy(&a, o->params + o->off[i], sizeof a);
            b = find_block(a, 0, 0);
            itemu_bind_buffer(&d, i, (void *)(uintptr_t)a, b ? (size_t)((unsigned long long)(uintptr_t)b->p + b->n - a) : 0);
        }
    }
    memcpy(disp, o->params + o->off[info->n_binds], sizeof disp);
    if (disp[3]) itemu_set_threads(&d, disp[0], disp[1], disp[2], o->block[0], o->block[1], o->block[2]);
    else itemu_set_threadgroups(&d, o->grid[0], o->grid[1], o->grid[2], o->block[0], o->block[1], o->block[2]);
    if (!itemu_run(k, &d, NULL, &rep)) {
        note("%s", rep.msg);
        return 0;
    }
    return 1;
}
static unsigned long g_kernel_runs[IT_CUDA_KERNEL_COUNT];
unsigned long fake_cuda_kernel_runs(const char *name) {
    int i;
    for (i = 0; i < IT_CUDA_KERNEL_COUNT; i++)
        if (!strcmp(it_cuda_kernels[i].name, name)) return g_kernel_runs[i];
    return 0;
}
static int drain(void) {
    int i;
    for (i = 0; i < g_queue.n; i++) {
        const op *o = &g_queue.ops[i];
        if (g_stream_error) break;
        switch (o->kind) {
        case OP_KERNEL:
            if (!run_kernel(o)) g_stream_error = E_LAUNCH_FAILED;
            fake_cuda_counts.kernels_run++;
            g_kernel_runs[o->kernel]++;
            break;
        case OP_COPY: memcpy(o->dst, o->src, o->n); break;
        case OP_MEMSET: {
            size_t j;
            for (j = 0; j < o->n; j++) memcpy(o->dst + 4 * j, &o->value, 4);
            break;
        }
        case OP_GEMM: gemm_run(o); break;
        }
    }
    g_queue.n = 0;
    return g_stream_error;
}

/* ---- the driver API ---- */
static int g_inited;
int cuInit(unsigned flags) { (void)flags; g_inited = 1; return OK; }
int cuDriverGetVersion(int *v) { *v = 13000; return OK; }
int cuDeviceGetCount(int *n) {
    const char *e = getenv("FAKE_CUDA_DEVICES");
    if (!g_inited) return 3;
    *n = e ? atoi(e) : 1;
    return *n ? OK : E_NO_DEVICE;
}
int cuDeviceGet(int *d, int i) { *d = i; return i == 0 ? OK : E_INVALID_VALUE; }
int cuDeviceGetName(char *s, int n, int d) { (void)d; snprintf(s, (size_t)n, "fake CUDA device (MSL emulator)"); return OK; }
int cuDeviceGetAttribute(int *v, int attr, int d) {
    (void)d;
    *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 4 : 0;
    return OK;
}
static int g_ctx_refs;
int cuDevicePrimaryCtxRetain(void **ctx, int d) { (void)d; g_ctx_refs++; *ctx = &g_ctx_refs; return OK; }
int cuDevicePrimaryCtxRelease_v2(int d) { (void)d; g_ctx_refs--; return OK; }
int cuCtxSetCurrent(void *ctx) { return ctx == &g_ctx_refs ? OK : E_INVALID_HANDLE; }
static int g_stream_obj;
int cuStreamCreate(void **s, unsigned flags) { (void)flags; *s = &g_stream_obj; return OK; }
int cuStreamDestroy_v2(void *s) { return s == &g_stream_obj ? OK : E_INVALID_HANDLE; }
int cuStreamSynchronize(void *s) {
    if (s != &g_stream_obj) return E_INVALID_HANDLE;
    if (g_capturing) {
        note("cuStreamSynchronize during stream capture");
        return E_CAPTURE_UNSUPPORTED;
    }
    fake_cuda_counts.synchronizes++;
    return drain();
}
int cuMemAlloc_v2(unsigned long long *p, size_t n) {
    void *q;
    int r = track(&q, n, 0);
    *p = r ? 0 : (unsigned long long)(uintptr_t)q;
    return r;
}
int cuMemFree_v2(unsigned long long p) { return untrack((void *)(uintptr_t)p, 0); }
int cuMemAllocHost_v2(void **p, size_t n) { return track(p, n, 1); }
int cuMemFreeHost(void *p) { return untrack(p, 1); }
int cuMemcpyHtoDAsync_v2(unsigned long long dst, const void *src, size_t n, void *s) {
    op o;
    if (s != &g_stream_obj) return E_INVALID_HANDLE;
    if (!find_block(dst, n, 0)) {
        note("cuMemcpyHtoDAsync: %zu bytes at 0x%llx are not device memory", n, dst);
        return E_INVALID_VALUE;
    }
    if (g_capturing && !find_block((unsigned long long)(uintptr_t)src, n, 1)) {
        note("cuMemcpyHtoDAsync in a capture from pageable memory");
        return E_CAPTURE_UNSUPPORTED;
    }
    memset(&o, 0, sizeof o);
    o.kind = OP_COPY;
    o.dst = (unsigned char *)(uintptr_t)dst;
    o.src = (const unsigned char *)src;
    o.n = n;
    fake_cuda_counts.bytes_up += n;
    return enqueue(&o);
}
int cuMemcpyDtoHAsync_v2(void *dst, unsigned long long src, size_t n, void *s) {
    op o;
    if (s != &g_stream_obj) return E_INVALID_HANDLE;
    if (!find_block(src, n, 0)) {
        note("cuMemcpyDtoHAsync: %zu bytes at 0x%llx are not device memory", n, src);
        return E_INVALID_VALUE;
    }
    memset(&o, 0, sizeof o);
    o.kind = OP_COPY;
    o.dst = (unsigned char *)dst;
    o.src = (const unsigned char *)(uintptr_t)src;
    o.n = n;
    fake_cuda_counts.bytes_down += n;
    return enqueue(&o);
}
int cuMemsetD32Async(unsigned long long dst, unsigned v, size_t n, void *s) {
    op o;
    if (s != &g_stream_obj) return E_INVALID_HANDLE;
    if (!find_block(dst, n * 4, 0)) {
        note("cuMemsetD32Async: %zu words at 0x%llx are not device memory", n, dst);
        return E_INVALID_VALUE;
    }
    memset(&o, 0, sizeof o);
    o.kind = OP_MEMSET;
    o.dst = (unsigned char *)(uintptr_t)dst;
    o.n = n;
    o.value = v;
    return enqueue(&o);
}
static const char g_cubin[] = "IT-FAKE-CUBIN sm_90";
static int g_module;
int cuModuleLoadData(void **m, const void *image) {
    if (memcmp(image, g_cubin, sizeof g_cubin) != 0) return E_INVALID_IMAGE;
    *m = &g_module;
    return OK;
}
int cuModuleUnload(void *m) { return m == &g_module ? OK : E_INVALID_HANDLE; }
int cuModuleGetFunction(void **f, void *m, const char *name) {
    int i;
    if (m != &g_module) return E_INVALID_HANDLE;
    for (i = 0; i < IT_CUDA_KERNEL_COUNT; i++)
        if (!strcmp(it_cuda_kernels[i].name, name) && itemu_kernel_find(name)) {
            *f = (void *)&it_cuda_kernels[i];
            return OK;
        }
    return E_NOT_FOUND;
}
int cuFuncGetAttribute(int *v, int attr, void *f) {
    (void)f;
    *v = attr == 0 ? 1024 : 0;
    return OK;
}
/* a kernel launch as an op, its arguments copied and checked (cuLaunchKernel, a graph's kernel node) */
static int kernel_op(const it_cuda_kernel_info *info, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                     unsigned shmem, void **params, void **extra, op *out) {
    op o;
    unsigned disp[4];
    size_t off = 0;
    int i;
    if (!info) return E_INVALID_HANDLE;
    if (extra || shmem || !params) return E_INVALID_VALUE;
    if (bx * by * bz > 1024 || bz > 64 || !gx || !gy || !gz || gy > 65535 || gz > 65535) {
        note("%s: launch %u x %u x %u blocks of %u x %u x %u", info->name, gx, gy, gz, bx, by, bz);
        return E_INVALID_VALUE;
    }
    memset(&o, 0, sizeof o);
    o.kind = OP_KERNEL;
    o.kernel = (int)(info - it_cuda_kernels);
    o.grid[0] = gx, o.grid[1] = gy, o.grid[2] = gz, o.block[0] = bx, o.block[1] = by, o.block[2] = bz;
    for (i = 0; i <= info->n_binds; i++) { /* the arguments are copied now, as cuLaunchKernel does */
        size_t n = i == info->n_binds ? sizeof disp : info->value_size[i] ? info->value_size[i] : 8;
        o.off[i] = off;
        memcpy(o.params + off, params[i], n);
        if (i < info->n_binds && !info->value_size[i]) {
            unsigned long long a;
            memcpy(&a, params[i], 8);
            if (!find_block(a, 4, 0)) {
                note("%s: argument %d (0x%llx) is not device memory", info->name, i, a);
                return E_INVALID_VALUE;
            }
        }
        off += (n + 7) & ~(size_t)7;
    }
    memcpy(disp, o.params + o.off[info->n_binds], sizeof disp);
    if (disp[3] ? ((disp[0] + bx - 1) / bx != gx || (disp[1] + by - 1) / by != gy || (disp[2] + bz - 1) / bz != gz)
                : (disp[0] || disp[1] || disp[2])) {
        note("%s: the dispatch argument (%u, %u, %u, nonuniform %u) does not match the grid", info->name, disp[0], disp[1],
             disp[2], disp[3]);
        return E_INVALID_VALUE;
    }
    *out = o;
    return OK;
}
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shmem,
                   void *s, void **params, void **extra) {
    op o;
    int r;
    if (s != &g_stream_obj) return E_INVALID_HANDLE;
    if ((r = kernel_op((const it_cuda_kernel_info *)f, gx, gy, gz, bx, by, bz, shmem, params, extra, &o)) != OK) return r;
    fake_cuda_counts.launches++;
    return enqueue(&o);
}
typedef struct { oplist ops; } graph;
int cuStreamBeginCapture_v2(void *s, int mode) {
    if (s != &g_stream_obj || mode != 1 || g_capturing) return E_INVALID_VALUE;
    if (g_queue.n) drain(); /* what came before runs first (stream order) */
    g_capturing = 1;
    g_capture.n = 0;
    return OK;
}
int cuStreamEndCapture(void *s, void **out) {
    graph *g;
    if (s != &g_stream_obj || !g_capturing) return E_INVALID_VALUE;
    g_capturing = 0;
    g = (graph *)calloc(1, sizeof *g);
    if (!g) return E_OUT_OF_MEMORY;
    g->ops = g_capture;
    memset(&g_capture, 0, sizeof g_capture);
    *out = g;
    fake_cuda_counts.captures++;
    fake_cuda_counts.graphs_live++; /* graphs and executable graphs alike, until destroyed */
    return OK;
}
int cuGraphInstantiateWithFlags(void **exec, void *g, unsigned long long flags) {
    graph *e, *src = (graph *)g;
    if (!g || flags) return E_INVALID_VALUE;
    e = (graph *)calloc(1, sizeof *e);
    if (!e) return E_OUT_OF_MEMORY;
    e->ops.n = e->ops.cap = src->ops.n;
    e->ops.ops = (op *)malloc((size_t)(src->ops.n ? src->ops.n : 1) * sizeof(op));
    if (!e->ops.ops) return E_OUT_OF_MEMORY;
    memcpy(e->ops.ops, src->ops.ops, (size_t)src->ops.n * sizeof(op));
    *exec = e;
    fake_cuda_counts.graphs_live++;
    return OK;
}
int cuGraphLaunch(void *exec, void *s) {
    graph *e = (graph *)exec;
    int i;
    if (s != &g_stream_obj || !e) return E_INVALID_HANDLE;
    for (i = 0; i < e->ops.n; i++) push(&g_queue, &e->ops.ops[i]);
    fake_cuda_counts.graph_launches++;
    return OK;
}
int cuGraphExecDestroy(void *exec) {
    graph *e = (graph *)exec;
    if (!e) return E_INVALID_HANDLE;
    free(e->ops.ops);
    free(e);
    fake_cuda_counts.graphs_live--;
    return OK;
}
/* A graph built node by node: CUDA_KERNEL_NODE_PARAMS_v2 as cuda.h lays it out; a node is its
   index + 1, and each node must depend on exactly the one before (the order the backend builds). */
typedef struct {
    void *func;
    unsigned gx, gy, gz, bx, by, bz, shmem;
    void **params, **extra;
    void *kern, *ctx;
} fake_kernel_node_params;
int cuGraphCreate(void **g, unsigned flags) {
    if (flags) return E_INVALID_VALUE;
    *g = calloc(1, sizeof(graph));
    if (!*g) return E_OUT_OF_MEMORY;
    fake_cuda_counts.captures++; /* graphs made, captured or built */
    fake_cuda_counts.graphs_live++;
    return OK;
}
int cuGraphAddKernelNode_v2(void **node, void *g, void *const *deps, size_t n_deps, const fake_kernel_node_params *p) {
    graph *gr = (graph *)g;
    op o;
    int r;
    if (!gr || !p || p->kern || p->ctx) return E_INVALID_VALUE;
    if (n_deps != (gr->ops.n ? 1u : 0u) || (n_deps && deps[0] != (void *)(uintptr_t)gr->ops.n)) {
        note("cuGraphAddKernelNode: node %d does not follow the one before", gr->ops.n + 1);
        return E_INVALID_VALUE;
    }
    if ((r = kernel_op((const it_cuda_kernel_info *)p->func, p->gx, p->gy, p->gz, p->bx, p->by, p->bz, p->shmem, p->params, p->extra, &o)) != OK)
        return r;
    push(&gr->ops, &o);
    *node = (void *)(uintptr_t)gr->ops.n;
    return OK;
}
int cuGraphExecKernelNodeSetParams_v2(void *exec, void *node, const fake_kernel_node_params *p) {
    graph *e = (graph *)exec;
    size_t k = (size_t)(uintptr_t)node;
    op o;
    int r;
    if (!e || !p || !k || k > (size_t)e->ops.n) return E_INVALID_VALUE;
    if ((r = kernel_op((const it_cuda_kernel_info *)p->func, p->gx, p->gy, p->gz, p->bx, p->by, p->bz, p->shmem, p->params, p->extra, &o)) != OK)
        return r;
    if (o.kernel != e->ops.ops[k - 1].kernel) {
        note("cuGraphExecKernelNodeSetParams: node %zu's function changed", k);
        return E_INVALID_VALUE;
    }
    e->ops.ops[k - 1] = o;
    fake_cuda_counts.node_updates++;
    return OK;
}
int cuGraphDestroy(void *g) {
    graph *e = (graph *)g;
    if (!e) return E_INVALID_HANDLE;
    free(e->ops.ops);
    free(e);
    fake_cuda_counts.graphs_live--;
    return OK;
}
int cuGetErrorString(int r, const char **s) {
    *s = r == E_LAUNCH_FAILED ? "unspecified launch failure (fake: see its message)" : r == E_CAPTURE_UNSUPPORTED ? "operation not permitted when stream is capturing"
       : r == E_INVALID_VALUE ? "invalid argument" : r == E_NO_DEVICE ? "no CUDA-capable device is detected" : "fake error";
    return OK;
}

/* events: recorded in stream order, each a running count of the work queued before it */
typedef struct { int recorded; } event;
int cuEventCreate(void **e, unsigned flags) { (void)flags; *e = calloc(1, sizeof(event)); return *e ? OK : E_OUT_OF_MEMORY; }
int cuEventRecord(void *e, void *s) { if (s != &g_stream_obj || !e) return E_INVALID_HANDLE; ((event *)e)->recorded = 1; return OK; }
int cuEventSynchronize(void *e) { if (!e || !((event *)e)->recorded) return E_INVALID_HANDLE; return drain(); }
int cuEventElapsedTime(float *ms, void *a, void *b) { *ms = a && b ? 0.001f : 0.0f; return a && b ? OK : E_INVALID_HANDLE; }
int cuEventDestroy_v2(void *e) { free(e); return OK; }

/* ---- NVRTC ---- */
typedef struct { char *src; int compiled; char log[512]; } program;
int nvrtcCreateProgram(void **p, const char *src, const char *name, int nh, const char *const *h, const char *const *hn) {
    program *q = (program *)calloc(1, sizeof *q);
    (void)name, (void)h, (void)hn;
    if (!q || nh) return 1;
    q->src = (char *)malloc(strlen(src) + 1);
    if (!q->src) return 1;
    strcpy(q->src, src);
    *p = q;
    return 0;
}
int nvrtcCompileProgram(void *p, int n, const char *const *opts) {
    program *q = (program *)p;
    int i, arch = 0;
    for (i = 0; i < n; i++) arch |= !strcmp(opts[i], "--gpu-architecture=sm_90");
    if (!arch) {
        snprintf(q->log, sizeof q->log, "fake nvrtc: no --gpu-architecture=sm_90 among the options");
        return 6;
    }
    if (getenv("FAKE_CUDA_COMPILE_FAIL")) {
        snprintf(q->log, sizeof q->log, "shaders/rmsnorm.metal(20): error: injected by the fake");
        return 6;
    }
    for (i = 0; i < IT_CUDA_KERNEL_COUNT; i++) {
        char want[256];
        snprintf(want, sizeof want, "extern \"C\" __global__ void %s(", it_cuda_kernels[i].name);
        if (!strstr(q->src, want)) {
            snprintf(q->log, sizeof q->log, "fake nvrtc: %s is not defined in the source", it_cuda_kernels[i].name);
            return 6;
        }
    }
    q->compiled = 1;
    return 0;
}
int nvrtcGetProgramLogSize(void *p, size_t *n) { *n = strlen(((program *)p)->log) + 1; return 0; }
int nvrtcGetProgramLog(void *p, char *out) { strcpy(out, ((program *)p)->log); return 0; }
int nvrtcGetCUBINSize(void *p, size_t *n) { *n = sizeof g_cubin; return ((program *)p)->compiled ? 0 : 5; }
int nvrtcGetCUBIN(void *p, char *out) { memcpy(out, g_cubin, sizeof g_cubin); return ((program *)p)->compiled ? 0 : 5; }
int nvrtcDestroyProgram(void **p) {
    program *q = (program *)*p;
    free(q->src);
    free(q);
    *p = NULL;
    return 0;
}

/* ---- cuBLAS ---- */
typedef struct { void *stream, *workspace; size_t ws; int math; } blas;
int cublasCreate_v2(void **h) { *h = calloc(1, sizeof(blas)); return *h ? 0 : 3; }
int cublasDestroy_v2(void *h) { free(h); return 0; }
int cublasSetStream_v2(void *h, void *s) { ((blas *)h)->stream = s; return s == &g_stream_obj ? 0 : 7; }
int cublasSetMathMode(void *h, int mode) { ((blas *)h)->math = mode; return mode == 0 || mode == 3 ? 0 : 7; }
int cublasSetWorkspace_v2(void *h, void *w, size_t n) {
    if (!find_block((unsigned long long)(uintptr_t)w, n, 0)) return 7;
    ((blas *)h)->workspace = w, ((blas *)h)->ws = n;
    return 0;
}
static int gemm_check(blas *h, const op *o) {
    long long last_a = (long long)(o->batch - 1) * o->sa, last_b = (long long)(o->batch - 1) * o->sb, last_c = (long long)(o->batch - 1) * o->sc;
    size_t es = o->abtype == 14 ? 2 : 4;
    int ra = o->ta ? o->k : o->m, ca = o->ta ? o->m : o->k, rb = o->tb ? o->nn : o->k, cb = o->tb ? o->k : o->nn;
    if (g_capturing && !h->workspace) {
        note("cuBLAS in a capture without cublasSetWorkspace");
        return 14;
    }
    if (o->m <= 0 || o->nn <= 0 || o->k <= 0 || o->lda < ra || o->ldb < rb || o->ldc < o->m) {
        note("gemm: m %d n %d k %d lda %d ldb %d ldc %d", o->m, o->nn, o->k, o->lda, o->ldb, o->ldc);
        return 7;
    }
    if (!find_block((unsigned long long)(uintptr_t)o->a + (unsigned long long)last_a * es, ((size_t)(ca - 1) * o->lda + ra) * es, 0) ||
        !find_block((unsigned long long)(uintptr_t)o->b + (unsigned long long)last_b * es, ((size_t)(cb - 1) * o->ldb + rb) * es, 0) ||
        !find_block((unsigned long long)(uintptr_t)(o->c + last_c), ((size_t)(o->nn - 1) * o->ldc + o->m) * 4, 0)) {
        note("gemm: an operand is outside device memory");
        return 7;
    }
    return 0;
}
/* c fp32 (CUDA_R_32F = 0); a and b both fp32 with compute type fp32 (68) or fast TF32 (77), or both bf16
   (CUDA_R_16BF = 14) with compute type fp32; the default algorithm */
int cublasGemmStridedBatchedEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int at, int lda,
                               long long sa, const void *B, int bt, int ldb, long long sb, const void *beta, void *C, int ct,
                               int ldc, long long sc, int batch, int compute, int algo) {
    op o;
    int r;
    if (at != bt || (at != 0 && at != 14) || ct != 0 || (compute != 68 && (compute != 77 || at != 0)) || algo != -1) {
        note("gemm: types %d %d %d, compute type %d, algorithm %d", at, bt, ct, compute, algo);
        return 7;
    }
    memset(&o, 0, sizeof o);
    o.kind = OP_GEMM;
    o.ta = ta, o.tb = tb, o.m = m, o.nn = n, o.k = k, o.lda = lda, o.ldb = ldb, o.ldc = ldc, o.batch = batch, o.compute = compute;
    o.abtype = at;
    o.sa = sa, o.sb = sb, o.sc = sc, o.alpha = *(const float *)alpha, o.beta = *(const float *)beta;
    o.a = A, o.b = B, o.c = (float *)C;
    if (batch < 1 || (batch > 1 && sc == 0)) return 7;
    if ((r = gemm_check((blas *)h, &o)) != 0) return r;
    fake_cuda_counts.gemms++;
    return enqueue(&o);
}
int cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int at, int lda, const void *B,
                 int bt, int ldb, const void *beta, void *C, int ct, int ldc, int compute, int algo) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1, compute, algo);
}
