/* itemu_cuda.c - the emulator's C API (tests/metal/itemu.h) on a real GPU: the kernel suite
   tests/metal/test_kernels.c, unchanged but for its emulator-only negative tests, runs every
   translated kernel of shaders_cuda.h through the CUDA driver against the CPU reference kernels,
   in the same shapes and tolerances (make -f tests/cuda/device.mk; the device machine only).
   The kernels are compiled and loaded by irontensor_cuda.h itself (a private copy of both
   headers, IRONTENSOR_STATIC); a dispatch copies its bound host buffers to device memory
   (one allocation per distinct buffer, so aliased bindings stay aliased), launches exactly as the
   backend does (bindings in order, the argument bytes by value, the dispatch last), waits,
   and copies every buffer back. */
#define IRONTENSOR_STATIC
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "../../irontensor_cuda.h"
#include "../metal/itemu.h"
#include <stdlib.h>

static it_context *g_ctx;
static it__cuda *g_m;
static itemu_kernel g_kernels[IT_CUDA_KERNEL_COUNT];
static int g_ready;

static void setup(void) {
    it_backend *be;
    int i;
    if (g_ready) return;
    g_ready = 1;
    setenv("ITEMU_CUDA", "1", 1); /* the suite skips the emulator's own negative tests */
    if (it_context_create(NULL, &g_ctx) != IT_OK || it_cuda_backend_create(g_ctx, NULL, &be) != IT_OK) {
        fprintf(stderr, "itemu_cuda: no CUDA backend: %s\n", it_context_last_error(g_ctx));
        exit(2);
    }
    it_context_set_backend(g_ctx, be);
    g_m = (it__cuda *)be->impl;
    for (i = 0; i < IT_CUDA_KERNEL_COUNT; i++) {
        static char files[IT_CUDA_KERNEL_COUNT][256];
        const char *w = it_cuda_kernels[i].where, *colon = strrchr(w, ':');
        snprintf(files[i], sizeof files[i], "%.*s", (int)(colon - w), w);
        g_kernels[i].name = it_cuda_kernels[i].name;
        g_kernels[i].file = files[i];
        g_kernels[i].line = atoi(colon + 1);
    }
    printf("itemu_cuda: %s, sm_%d%d, driver %d: %d translated kernels\n", g_m->stats.device_name, g_m->stats.sm_major,
           g_m->stats.sm_minor, g_m->stats.driver_version, IT_CUDA_KERNEL_COUNT);
}
int itemu_kernel_count(void) { setup(); return IT_CUDA_KERNEL_COUNT; }
const itemu_kernel *itemu_kernel_at(int i) { setup(); return i >= 0 && i < IT_CUDA_KERNEL_COUNT ? &g_kernels[i] : NULL; }
const itemu_kernel *itemu_kernel_find(const char *name) {
    int i;
    setup();
    for (i = 0; i < IT_CUDA_KERNEL_COUNT; i++)
        if (!strcmp(g_kernels[i].name, name)) return &g_kernels[i];
    return NULL;
}
void itemu_register(const itemu_kernel *k) { (void)k; }
void itemu_dispatch_init(itemu_dispatch *d) { memset(d, 0, sizeof *d); }
void itemu_bind_buffer(itemu_dispatch *d, int index, void *ptr, size_t len) {
    d->buf[index] = ptr;
    d->buf_len[index] = len;
}
int itemu_bind_bytes(itemu_dispatch *d, int index, const void *ptr, size_t len) {
    if (len > ITEMU_MAX_BYTES || d->bytes_used + len > sizeof d->bytes) return 0;
    memcpy(d->bytes + d->bytes_used, ptr, len);
    d->buf[index] = d->bytes + d->bytes_used;
    d->buf_len[index] = len;
    d->bytes_used += (len + 15) & ~(size_t)15;
    return 1;
}
void itemu_bind_tgmem(itemu_dispatch *d, int index, size_t len) { d->tg_len[index] = len; }
void itemu_set_threadgroups(itemu_dispatch *d, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t tx, uint32_t ty, uint32_t tz) {
    d->groups[0] = gx, d->groups[1] = gy, d->groups[2] = gz;
    d->tptg[0] = tx, d->tptg[1] = ty, d->tptg[2] = tz;
    d->grid[0] = d->grid[1] = d->grid[2] = 0;
}
void itemu_set_threads(itemu_dispatch *d, uint32_t nx, uint32_t ny, uint32_t nz, uint32_t tx, uint32_t ty, uint32_t tz) {
    d->grid[0] = nx, d->grid[1] = ny, d->grid[2] = nz;
    d->tptg[0] = tx, d->tptg[1] = ty, d->tptg[2] = tz;
    d->groups[0] = (nx + tx - 1) / tx, d->groups[1] = (ny + ty - 1) / ty, d->groups[2] = (nz + tz - 1) / tz;
}
void itemu_default_options(itemu_options *o) { memset(o, 0, sizeof *o); }

int itemu_run(const itemu_kernel *k, const itemu_dispatch *d, const itemu_options *opt, itemu_report *rep) {
    const it_cuda_kernel_info *info;
    it__CUdeviceptr dev[ITEMU_MAX_BIND], ptrs[ITEMU_MAX_BIND];
    void *params[ITEMU_MAX_BIND + 1];
    struct { unsigned x, y, z, nonuniform; } disp;
    it__CUfunction fn;
    int i, j, owner[ITEMU_MAX_BIND], ok = 1;
    it__CUresult r = 0;
    (void)opt;
    if (rep) memset(rep, 0, sizeof *rep);
    if (!k) {
        if (rep) snprintf(rep->msg, sizeof rep->msg, "no such kernel on CUDA");
        return 0;
    }
    setup();
    info = &it_cuda_kernels[k - g_kernels];
    if (g_m->cu.ModuleGetFunction(&fn, g_m->module, k->name) != 0) {
        if (rep) snprintf(rep->msg, sizeof rep->msg, "%s: not in the CUDA module", k->name);
        return 0;
    }
    for (i = 0; i < info->n_binds; i++) { /* one device copy per distinct host buffer (aliases share it) */
        owner[i] = i;
        dev[i] = 0;
        if (info->value_size[i]) {
            if (d->buf_len[i] != info->value_size[i]) {
                if (rep) snprintf(rep->msg, sizeof rep->msg, "%s: binding %d has %zu bytes, the kernel takes %lu", k->name, i, d->buf_len[i], info->value_size[i]);
                return 0;
            }
            params[i] = d->buf[i];
            continue;
        }
        if (!d->buf[i]) {
            if (rep) snprintf(rep->msg, sizeof rep->msg, "%s: reads [[buffer(%d)]] but nothing is bound", k->name, i);
            return 0;
        }
        for (j = 0; j < i; j++)
            if (!info->value_size[j] && d->buf[j] == d->buf[i]) owner[i] = j;
        if (owner[i] == i) {
            r = g_m->cu.MemAlloc(&dev[i], d->buf_len[i] ? d->buf_len[i] : 4);
            if (!r && d->buf_len[i]) r = g_m->cu.MemcpyHtoDAsync(dev[i], d->buf[i], d->buf_len[i], g_m->stream);
            if (r) break;
        }
        ptrs[i] = dev[owner[i]];
        params[i] = &ptrs[i];
    }
    memset(&disp, 0, sizeof disp);
    if (d->grid[0]) disp.x = d->grid[0], disp.y = d->grid[1], disp.z = d->grid[2], disp.nonuniform = 1;
    params[info->n_binds] = &disp;
    if (!r)
        r = g_m->cu.LaunchKernel(fn, d->groups[0], d->groups[1], d->groups[2], d->tptg[0], d->tptg[1], d->tptg[2], 0, g_m->stream,
                                 params, NULL);
    if (!r) r = g_m->cu.StreamSynchronize(g_m->stream);
    for (i = 0; i < info->n_binds; i++)
        if (!info->value_size[i] && owner[i] == i && dev[i]) {
            if (!r && d->buf_len[i]) r = g_m->cu.MemcpyDtoHAsync(d->buf[i], dev[i], d->buf_len[i], g_m->stream);
            if (!r) r = g_m->cu.StreamSynchronize(g_m->stream);
            g_m->cu.MemFree(dev[i]);
        }
    if (r) {
        const char *s = "?";
        g_m->cu.GetErrorString(r, &s);
        if (rep) snprintf(rep->msg, sizeof rep->msg, "%s: CUDA error %d (%s)", k->name, r, s);
        ok = 0;
    }
    if (rep) rep->ok = ok, rep->groups = (uint64_t)d->groups[0] * d->groups[1] * d->groups[2];
    return ok;
}
