/* fake_metal.c - see fake_metal.h. Build: gcc -std=gnu11 -DIT_METAL_FAKE -c fake_metal.c (-lobjc).
   GNU runtime notes (differences from Apple's that bit here):
   - a root class from objc_allocateClassPair(Nil, ...) has instance size 0, so it gets an explicit
     isa ivar, otherwise object_getIndexedIvars() would alias the isa pointer;
   - class methods go on the metaclass, object_getClass((id)cls), before registration;
   - libobjc has no autorelease pools: objc_autoreleasePoolPush/Pop are defined here. */
#define IT_METAL_OBJC_ONLY
#include "../../../irontensor_metal.h"
#include "../itemu.h"
#include "fake_metal.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static fake_metal_config g_cfg;
static fake_metal_counters g_count;
static int g_errors;
static char g_last[512];
/* dispatches encoded per kernel, by the kernel's index in the emulator's registry */
#define FAKE_MAX_KERNELS 256
static unsigned long g_kernel_dispatches[FAKE_MAX_KERNELS];
static void count_kernel_dispatch(const itemu_kernel *k) {
    int i;
    for (i = 0; i < itemu_kernel_count() && i < FAKE_MAX_KERNELS; i++)
        if (itemu_kernel_at(i) == k) {
            g_kernel_dispatches[i]++;
            return;
        }
}

static void verr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last, sizeof g_last, fmt, ap);
    va_end(ap);
    g_errors++;
    if (!g_cfg.quiet) fprintf(stderr, "fake-metal VALIDATION: %s\n", g_last);
}

enum { K_PLAIN, K_STRING, K_ERROR, K_OPTIONS, K_DEVICE, K_QUEUE, K_BUFFER, K_LIBRARY, K_FUNCTION, K_PIPELINE,
       K_CMDBUF, K_ENCODER, K_MPSDESC, K_MPSMATRIX, K_MPSMATMUL };
#define MAGIC 0x46414b45u
#define NB ITEMU_MAX_BIND

typedef struct Cmd {
    int type; /* 1 dispatch, 2 MPS */
    const itemu_kernel *k;
    id bufs[NB];
    size_t offs[NB];
    unsigned char *bytes[NB];
    size_t nbytes[NB], tg_len[NB];
    it__MTLSize grid, tg;
    int threads;
    id mm, a, b, c; /* MPS */
} Cmd;

typedef struct Obj {
    unsigned magic;
    int rc, dead, kind;
    struct Obj *next_all;
    id self;
    char *str;                               /* NSString, NSError text, library source */
    unsigned char *contents; size_t length;  /* buffer */
    const itemu_kernel *kernel;              /* function, pipeline */
    it__NSUInteger max_threads;              /* pipeline */
    id queue; Cmd *cmds; int ncmds, ran, encoding, committed; it__NSUInteger status; id err; /* cmd buffer */
    id cb; Cmd cur; int ended;               /* encoder */
    it__NSUInteger rows, cols, rowbytes; size_t off; id buf; /* MPS descriptor / matrix */
    BOOL tl, tr; it__NSUInteger M, N, K; double alpha, beta; /* MPS matmul */
    id pending[64]; int npending;            /* queue */
    int fast_math; it__NSUInteger lang;       /* compile options */
} Obj;

static Obj *g_all;
static int g_live;
static Obj *raw(id self) { return (Obj *)object_getIndexedIvars(self); }
static Obj *O(id self, SEL cmd) {
    Obj *o;
    if (!self) { verr("%s sent to nil where an object is required", cmd ? sel_getName(cmd) : "?"); abort(); }
    o = raw(self);
    if (o->magic != MAGIC) { verr("%s sent to a foreign object %p", cmd ? sel_getName(cmd) : "?", (void *)self); abort(); }
    if (o->dead) verr("%s sent to a released %s (use after release)", cmd ? sel_getName(cmd) : "?", object_getClassName(self));
    return o;
}
static id new_obj(const char *cls, int kind) {
    id x = class_createInstance(objc_getClass(cls), sizeof(Obj));
    Obj *o = raw(x);
    memset(o, 0, sizeof *o);
    o->magic = MAGIC;
    o->rc = 1;
    o->kind = kind;
    o->self = x;
    o->next_all = g_all;
    g_all = o;
    g_live++;
    return x;
}
static void obj_release(id self);
static void drop_cmd(Cmd *c) {
    int j;
    if (c->type == 1)
        for (j = 0; j < NB; j++) {
            if (c->bufs[j]) obj_release(c->bufs[j]);
            c->bufs[j] = NULL;
            free(c->bytes[j]);
            c->bytes[j] = NULL;
        }
    else if (c->type == 2) {
        obj_release(c->mm);
        obj_release(c->a);
        obj_release(c->b);
        obj_release(c->c);
    }
    c->type = 0;
}
static void obj_release(id self) {
    Obj *o = O(self, NULL);
    int i;
    if (o->dead) { verr("release of an already released %s (over-release)", object_getClassName(self)); return; }
    if (--o->rc > 0) return;
    o->dead = 1;
    g_live--;
    /* memory stays (dead objects must stay recognisable); contents are poisoned */
    if (o->kind == K_BUFFER && o->contents) { memset(o->contents, 0xAB, o->length); free(o->contents); o->contents = NULL; }
    if (o->kind == K_MPSMATRIX && o->buf) obj_release(o->buf);
    if (o->kind == K_QUEUE) while (o->npending) obj_release(o->pending[--o->npending]);
    if (o->kind == K_CMDBUF) {
        for (i = o->ran; i < o->ncmds; i++) drop_cmd(&o->cmds[i]);
        free(o->cmds);
        if (o->err) obj_release(o->err);
    }
    if (o->kind == K_ENCODER) drop_cmd(&o->cur);
    free(o->str);
    o->str = NULL;
}

/* ---- autorelease pools ------------------------------------------------------------------------
   A stack of pools as in Apple's runtime: popping a pool releases what was autoreleased since its
   push, and pops every pool pushed after it too (an outer pool popped first, e.g. the host's
   @autoreleasepool around a library call that left its own pool open). Popping a pool that is no
   longer open is objc's fatal "Invalid or prematurely-freed autorelease pool": reported here. */
#define FAKE_MAX_POOLS 256
static id g_pool[8192];
static int g_pool_top, g_pool_depth;
static long g_pool_token[FAKE_MAX_POOLS], g_pool_serial;
static int g_pool_mark[FAKE_MAX_POOLS];
void *objc_autoreleasePoolPush(void) {
    if (g_pool_depth >= FAKE_MAX_POOLS) { verr("objc_autoreleasePoolPush: over %d nested pools", FAKE_MAX_POOLS); return NULL; }
    g_pool_token[g_pool_depth] = ++g_pool_serial;
    g_pool_mark[g_pool_depth] = g_pool_top;
    g_pool_depth++;
    return (void *)(intptr_t)g_pool_serial;
}
void objc_autoreleasePoolPop(void *token) {
    int k;
    for (k = g_pool_depth - 1; k >= 0 && g_pool_token[k] != (long)(intptr_t)token; k--) continue;
    if (k < 0) {
        verr("objc_autoreleasePoolPop: pool %ld is not open (an outer pool was popped first: \"Invalid or "
             "prematurely-freed autorelease pool\", fatal on macOS)", (long)(intptr_t)token);
        return;
    }
    while (g_pool_top > g_pool_mark[k]) obj_release(g_pool[--g_pool_top]);
    g_pool_depth = k; /* the pools pushed after it go with it */
}
int fake_metal_pool_depth(void) { return g_pool_depth; }
static id autoreleased(id x) {
    if (!g_pool_depth) verr("%s autoreleased with no autorelease pool in place (leaks on macOS)", object_getClassName(x));
    else if (g_pool_top < 8192) g_pool[g_pool_top++] = x;
    return x;
}

/* ---- root ---------------------------------------------------------------------------------------- */
static int kind_of_class(const char *n) {
    if (!strcmp(n, "MTLCompileOptions")) return K_OPTIONS;
    if (!strcmp(n, "MPSMatrix")) return K_MPSMATRIX;
    if (!strcmp(n, "MPSMatrixMultiplication")) return K_MPSMATMUL;
    return K_PLAIN;
}
static id root_alloc(id cls, SEL cmd) {
    (void)cmd;
    return new_obj(class_getName((Class)cls), kind_of_class(class_getName((Class)cls)));
}
static id root_init(id self, SEL cmd) { O(self, cmd); return self; }
static id root_retain(id self, SEL cmd) { O(self, cmd)->rc++; return self; }
static void root_release(id self, SEL cmd) { (void)cmd; obj_release(self); }

/* ---- Foundation ---------------------------------------------------------------------------------- */
static id make_string(const char *s) {
    id x = new_obj("NSString", K_STRING);
    raw(x)->str = strdup(s ? s : "");
    return x;
}
static id str_with_utf8(id cls, SEL cmd, const char *s) {
    (void)cls; (void)cmd;
    if (!s) verr("stringWithUTF8String: NULL (raises on macOS)");
    return autoreleased(make_string(s));
}
static const char *str_utf8(id self, SEL cmd) { return O(self, cmd)->str; }
static id make_error(const char *msg) {
    id e = new_obj("NSError", K_ERROR);
    raw(e)->str = strdup(msg);
    return e;
}
static id err_desc(id self, SEL cmd) { return autoreleased(make_string(O(self, cmd)->str)); }
static void opt_fast_math(id self, SEL cmd, BOOL on) {
    Obj *o = O(self, cmd);
    if ((unsigned)on > 1) verr("setFastMathEnabled: %u is not a BOOL", (unsigned)on);
    o->fast_math = on;
}
static void opt_lang(id self, SEL cmd, it__NSUInteger v) {
    Obj *o = O(self, cmd);
    if ((v >> 16) < 1 || (v >> 16) > 4 || (v & 0xffff) > 9) verr("setLanguageVersion: 0x%lx is not an MTLLanguageVersion", v);
    o->lang = v;
}

/* ---- device, library, pipelines ---------------------------------------------------------------- */
static id g_device;
id MTLCreateSystemDefaultDevice(void) {
    if (g_cfg.no_device) return NULL;
    if (!g_device || raw(g_device)->dead) g_device = new_obj("FakeMTLDevice", K_DEVICE);
    else raw(g_device)->rc++;
    return g_device; /* +1: a Create function */
}
BOOL MPSSupportsMTLDevice(id device) { return device != NULL; }
static id dev_name(id self, SEL cmd) { O(self, cmd); return autoreleased(make_string("Fake Metal (itemu emulator)")); }
static id dev_queue(id self, SEL cmd) { O(self, cmd); return new_obj("FakeMTLCommandQueue", K_QUEUE); }
static id dev_buffer(id self, SEL cmd, it__NSUInteger len, it__NSUInteger opts) {
    id b;
    Obj *o;
    O(self, cmd);
    if (!len) { verr("newBufferWithLength: length 0 (nil on Metal)"); return NULL; }
    if ((opts & 0xf0) != 0) verr("newBufferWithLength: storage mode 0x%lx is not shared: contents would be NULL", opts & 0xf0);
    if (opts & ~0x3ffUL) verr("newBufferWithLength: unknown option bits 0x%lx", opts);
    b = new_obj("FakeMTLBuffer", K_BUFFER);
    o = raw(b);
    if (posix_memalign((void **)&o->contents, 4096, len)) o->contents = NULL;
    else memset(o->contents, 0, len);
    o->length = len;
    g_count.buffer_allocs++;
    return b;
}
static it__MTLSize dev_max_threads(id self, SEL cmd) { O(self, cmd); return it__size(1024, 1024, 1024); }
/* MTLGPUFamily: Apple1..9 = 1001..1009, Common1..3 = 3001..3003, Mac2 = 5002, Metal3 = 5001 */
static BOOL dev_family(id self, SEL cmd, long family) {
    int apple = g_cfg.apple_family ? g_cfg.apple_family : 9;
    O(self, cmd);
    if (family >= 1001 && family <= 1009) return (BOOL)(apple > 0 && family - 1000 <= apple);
    return (BOOL)((family >= 3001 && family <= 3003) || family == 5001 || family == 5002);
}
/* The source as a compiler at language version lang sees it: below MSL 3.1 __HAVE_BFLOAT__ is not
   defined, so the lines between "#if defined(__HAVE_BFLOAT__)" and its #endif drop out (nested
   #if/#endif counted). A fresh malloc'd string. */
static it__NSUInteger g_last_language, g_prev_language;
unsigned long fake_metal_last_language(void) { return g_last_language; }
unsigned long fake_metal_prev_language(void) { return g_prev_language; }
static char *preprocess_bfloat(const char *src, it__NSUInteger lang) {
    char *out = strdup(src), *w = out;
    const char *p = src;
    int skip = 0; /* depth inside a dropped region */
    if (!lang || lang >= 0x30001) return out;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t')) q++;
        if (!skip && !strncmp(q, "#if defined(__HAVE_BFLOAT__)", 28)) skip = 1;
        else if (skip && !strncmp(q, "#if", 3)) skip++;
        else if (skip && !strncmp(q, "#endif", 6)) { skip--; p += len; continue; }
        if (!skip) { memcpy(w, p, len); w += len; }
        p += len;
    }
    *w = 0;
    return out;
}
/* does code (not a // or block comment) of src use the word w? (comments may mention anything) */
static int code_uses(const char *src, const char *w) {
    size_t n = strlen(w);
    const char *p = src;
    while (*p) {
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n') p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (!strncmp(p, w, n)) {
            return 1;
        } else {
            p++;
        }
    }
    return 0;
}
static id dev_library(id self, SEL cmd, id source, id options, id *error) {
    const char *p;
    char *src;
    int found = 0;
    id lib;
    it__NSUInteger lang = 0;
    O(self, cmd);
    if (options) lang = O(options, cmd)->lang;
    g_prev_language = g_last_language;
    g_last_language = lang;
    src = preprocess_bfloat(O(source, cmd)->str, lang);
    if (g_cfg.max_language && lang > g_cfg.max_language) { /* an older OS: its compiler lacks this version */
        if (error) *error = autoreleased(make_error("program_source: error: languageVersion is newer than this OS's Metal compiler supports"));
        free(src);
        return NULL;
    }
    if (g_cfg.compile_error || (lang && lang < 0x30001 && code_uses(src, "bfloat"))) {
        if (error) *error = autoreleased(make_error(g_cfg.compile_error ? g_cfg.compile_error :
                                                    "program_source: error: 'bfloat' requires Metal 3.1 (languageVersion too low)"));
        free(src);
        return NULL;
    }
    /* the source must be what the emulator was built from: every kernel in it is registered */
    for (p = src; (p = strstr(p, "kernel void ")) != NULL;) {
        char name[128];
        int n = 0;
        p += 12;
        while (n < 127 && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9'))) {
            name[n] = p[n];
            n++;
        }
        name[n] = 0;
        found++;
        if (!itemu_kernel_find(name)) {
            char m[300];
            snprintf(m, sizeof m, "program_source: kernel '%s' is not built into the emulator", name);
            if (error) *error = autoreleased(make_error(m));
            free(src);
            return NULL;
        }
    }
    if (!found) {
        if (error) *error = autoreleased(make_error("program_source: no kernels"));
        free(src);
        return NULL;
    }
    lib = new_obj("FakeMTLLibrary", K_LIBRARY);
    raw(lib)->str = src;
    return lib;
}
static id lib_function(id self, SEL cmd, id name) {
    Obj *l = O(self, cmd);
    const char *n = O(name, cmd)->str;
    const itemu_kernel *k = itemu_kernel_find(n);
    char pat[160];
    id f;
    snprintf(pat, sizeof pat, "kernel void %s(", n);
    if (!k || !strstr(l->str, pat)) return NULL; /* nil for a name not in this library */
    f = new_obj("FakeMTLFunction", K_FUNCTION);
    raw(f)->kernel = k;
    return f;
}
static id dev_pipeline(id self, SEL cmd, id fn, id *error) {
    id p;
    O(self, cmd);
    if (!fn) {
        if (error) *error = autoreleased(make_error("nil function"));
        return NULL;
    }
    p = new_obj("FakeMTLComputePipelineState", K_PIPELINE);
    raw(p)->kernel = O(fn, cmd)->kernel;
    raw(p)->max_threads = g_cfg.max_threads ? g_cfg.max_threads : 1024;
    return p;
}
static it__NSUInteger pso_max(id self, SEL cmd) { return O(self, cmd)->max_threads; }
static it__NSUInteger pso_width(id self, SEL cmd) { O(self, cmd); return g_cfg.simd_width ? g_cfg.simd_width : 32; }
static it__NSUInteger pso_static(id self, SEL cmd) { O(self, cmd); return 0; }
static void *buf_contents(id self, SEL cmd) { return O(self, cmd)->contents; }
static it__NSUInteger buf_length(id self, SEL cmd) { return O(self, cmd)->length; }

/* ---- queue, command buffer, encoder ------------------------------------------------------------- */
static id q_cb(id self, SEL cmd) {
    id cb;
    O(self, cmd);
    cb = new_obj("FakeMTLCommandBuffer", K_CMDBUF);
    raw(cb)->queue = self;
    g_count.command_buffers++;
    return autoreleased(cb); /* +0 */
}
static id cb_encoder(id self, SEL cmd) {
    Obj *o = O(self, cmd);
    id e;
    if (o->encoding) verr("computeCommandEncoder while another encoder of this command buffer has no endEncoding");
    if (o->committed) verr("computeCommandEncoder on a committed command buffer");
    o->encoding = 1;
    e = new_obj("FakeMTLComputeCommandEncoder", K_ENCODER);
    raw(e)->cb = self;
    return autoreleased(e);
}
static void push_cmd(Obj *cb, const Cmd *c) {
    cb->cmds = (Cmd *)realloc(cb->cmds, sizeof(Cmd) * (size_t)(cb->ncmds + 1));
    cb->cmds[cb->ncmds++] = *c;
}
static Obj *live_encoder(id self, SEL cmd) {
    Obj *e = O(self, cmd);
    if (e->ended) verr("%s after endEncoding", sel_getName(cmd));
    return e;
}
static void enc_pso(id self, SEL cmd, id pso) {
    Obj *e = live_encoder(self, cmd);
    e->cur.k = O(pso, cmd)->kernel;
}
static void enc_buffer(id self, SEL cmd, id buf, it__NSUInteger off, it__NSUInteger idx) {
    Obj *e = live_encoder(self, cmd);
    if (idx >= NB) { verr("setBuffer: index %lu >= 31", idx); return; }
    if (buf) {
        Obj *b = O(buf, cmd);
        if (off >= b->length) verr("setBuffer: offset %lu >= buffer length %zu", off, b->length);
        if (off % 4) verr("setBuffer: offset %lu is not 4-byte aligned", off);
    }
    free(e->cur.bytes[idx]);
    e->cur.bytes[idx] = NULL;
    e->cur.bufs[idx] = buf;
    e->cur.offs[idx] = off;
}
static void enc_bytes(id self, SEL cmd, const void *p, it__NSUInteger len, it__NSUInteger idx) {
    Obj *e = live_encoder(self, cmd);
    if (idx >= NB) { verr("setBytes: index %lu >= 31", idx); return; }
    if (len > ITEMU_MAX_BYTES) { verr("setBytes: %lu bytes (over 4 KiB: use a buffer)", len); return; }
    if (!p) { verr("setBytes: NULL pointer"); return; }
    free(e->cur.bytes[idx]);
    e->cur.bytes[idx] = (unsigned char *)malloc(len ? len : 1);
    memcpy(e->cur.bytes[idx], p, len); /* copied at the call, like Metal */
    e->cur.nbytes[idx] = len;
    e->cur.bufs[idx] = NULL;
}
static void enc_tgmem(id self, SEL cmd, it__NSUInteger len, it__NSUInteger idx) {
    Obj *e = live_encoder(self, cmd);
    if (idx >= NB) { verr("setThreadgroupMemoryLength: index %lu >= 31", idx); return; }
    if (len % 16) verr("setThreadgroupMemoryLength: %lu is not a multiple of 16", len);
    if (len > 32768) verr("setThreadgroupMemoryLength: %lu bytes (over 32 KiB)", len);
    e->cur.tg_len[idx] = len;
}
static void encode_dispatch(id self, SEL cmd, it__MTLSize grid, it__MTLSize tg, int threads) {
    Obj *e = live_encoder(self, cmd), *cbo;
    Cmd c;
    size_t tgsum = 0;
    it__NSUInteger n = tg.width * tg.height * tg.depth;
    int i;
    const char *what = sel_getName(cmd);
    if (e->ended) return;
    if (!e->cur.k) { verr("%s without setComputePipelineState:", what); return; }
    if ((grid.width | grid.height | grid.depth | tg.width | tg.height | tg.depth) >> 32) {
        verr("%s: an MTLSize component >= 2^32 (wrong MTLSize layout or calling convention?)", what);
        return;
    }
    if (!n || n > 1024) { verr("%s: threadsPerThreadgroup %lux%lux%lu = %lu (1..1024)", what, tg.width, tg.height, tg.depth, n); return; }
    if (!grid.width || !grid.height || !grid.depth) { verr("%s: empty grid %lux%lux%lu", what, grid.width, grid.height, grid.depth); return; }
    for (i = 0; i < NB; i++) tgsum += e->cur.tg_len[i];
    if (tgsum > 32768) { verr("%s: threadgroup memory %zu bytes (over 32 KiB)", what, tgsum); return; }
    for (i = 0; i < e->cur.k->nbinds; i++) {
        const itemu_binding *b = &e->cur.k->binds[i];
        if (b->kind == ITEMU_BIND_THREADGROUP) {
            if (!e->cur.tg_len[b->index]) verr("%s: %s needs [[threadgroup(%d)]] memory", what, e->cur.k->name, b->index);
            continue;
        }
        if (!e->cur.bufs[b->index] && !e->cur.bytes[b->index]) {
            verr("%s: %s argument '%s' [[buffer(%d)]] is not bound", what, e->cur.k->name, b->name, b->index);
            return;
        }
        if (e->cur.bufs[b->index] && b->elem_size) {
            size_t need = b->elem_size < 16 ? b->elem_size : 16;
            if (e->cur.offs[b->index] % need)
                verr("%s: %s argument '%s' (%s %s) bound at offset %zu, not a multiple of %zu", what, e->cur.k->name, b->name,
                     b->aspace, b->type, e->cur.offs[b->index], need);
        }
        if (b->kind == ITEMU_BIND_REFERENCE && e->cur.bytes[b->index] && e->cur.nbytes[b->index] < b->elem_size)
            verr("%s: %s argument '%s' needs %zu bytes (sizeof %s), setBytes gave %zu", what, e->cur.k->name, b->name,
                 b->elem_size, b->type, e->cur.nbytes[b->index]);
    }
    c = e->cur;
    c.type = 1;
    c.grid = grid;
    c.tg = tg;
    c.threads = threads;
    for (i = 0; i < NB; i++) { /* the command keeps what it uses: buffers retained, bytes copied */
        if (c.bufs[i]) root_retain(c.bufs[i], NULL);
        if (c.bytes[i]) {
            c.bytes[i] = (unsigned char *)malloc(c.nbytes[i] ? c.nbytes[i] : 1);
            memcpy(c.bytes[i], e->cur.bytes[i], c.nbytes[i]);
        }
    }
    cbo = O(e->cb, cmd);
    push_cmd(cbo, &c);
    g_count.dispatches++;
    count_kernel_dispatch(c.k);
}
static void enc_groups(id self, SEL cmd, it__MTLSize groups, it__MTLSize tg) { encode_dispatch(self, cmd, groups, tg, 0); }
static void enc_threads(id self, SEL cmd, it__MTLSize grid, it__MTLSize tg) { encode_dispatch(self, cmd, grid, tg, 1); }
static void enc_end(id self, SEL cmd) {
    Obj *e = O(self, cmd);
    if (e->ended) { verr("endEncoding called twice"); return; }
    e->ended = 1;
    raw(e->cb)->encoding = 0;
}

/* ---- MPS ----------------------------------------------------------------------------------------- */
static id mps_desc(id cls, SEL cmd, it__NSUInteger rows, it__NSUInteger cols, it__NSUInteger rowbytes, it__MPSDataType dt) {
    id d;
    (void)cls; (void)cmd;
    if (dt != 0x10000020u) verr("matrixDescriptorWithRows: dataType 0x%x (only float32 here)", dt);
    if (rowbytes < cols * 4) verr("matrixDescriptorWithRows: rowBytes %lu < columns %lu * 4", rowbytes, cols);
    if (rowbytes % 4) verr("matrixDescriptorWithRows: rowBytes %lu not a multiple of 4", rowbytes);
    d = new_obj("MPSMatrixDescriptor", K_MPSDESC);
    raw(d)->rows = rows;
    raw(d)->cols = cols;
    raw(d)->rowbytes = rowbytes;
    return autoreleased(d);
}
static id mps_matrix(id self, SEL cmd, id buf, it__NSUInteger off, id desc) {
    Obj *m = O(self, cmd), *b = O(buf, cmd), *d = O(desc, cmd);
    m->rows = d->rows;
    m->cols = d->cols;
    m->rowbytes = d->rowbytes;
    m->off = off;
    m->buf = buf;
    if (off % 4) verr("MPSMatrix initWithBuffer: offset %lu not 4-byte aligned", off);
    if (d->rows && off + (d->rows - 1) * d->rowbytes + d->cols * 4 > b->length)
        verr("MPSMatrix initWithBuffer: %lux%lu matrix at offset %lu overruns the %zu-byte buffer", d->rows, d->cols, off, b->length);
    root_retain(buf, NULL);
    return self;
}
static id mps_mm(id self, SEL cmd, id dev, BOOL tl, BOOL tr, it__NSUInteger M, it__NSUInteger N, it__NSUInteger K,
                 double alpha, double beta) {
    Obj *o = O(self, cmd);
    O(dev, cmd);
    if ((unsigned)tl > 1 || (unsigned)tr > 1) verr("MPSMatrixMultiplication: transpose flags %u/%u are not BOOLs", (unsigned)tl, (unsigned)tr);
    if (!isfinite(alpha) || !isfinite(beta) || fabs(alpha) > 1e30 || fabs(beta) > 1e30 || (alpha != 0 && fabs(alpha) < 1e-30) ||
        (beta != 0 && fabs(beta) < 1e-30))
        verr("MPSMatrixMultiplication: alpha %g beta %g look like garbage (float passed as double?)", alpha, beta);
    o->tl = tl;
    o->tr = tr;
    o->M = M;
    o->N = N;
    o->K = K;
    o->alpha = alpha;
    o->beta = beta;
    return self;
}
static int overlap(const Obj *x, const Obj *y) {
    size_t x0 = x->off, x1 = x->off + x->rows * x->rowbytes, y0 = y->off, y1 = y->off + y->rows * y->rowbytes;
    return x->buf == y->buf && x0 < y1 && y0 < x1;
}
static void mps_encode(id self, SEL cmd, id cb, id a, id b, id c) {
    Obj *o = O(self, cmd), *A = O(a, cmd), *B = O(b, cmd), *C = O(c, cmd), *cbo = O(cb, cmd);
    it__NSUInteger ar = o->tl ? o->K : o->M, ac = o->tl ? o->M : o->K, br = o->tr ? o->N : o->K, bc = o->tr ? o->K : o->N;
    Cmd k;
    if (A->rows < ar || A->cols < ac) verr("MPS matmul: left matrix %lux%lu too small for %lux%lu", A->rows, A->cols, ar, ac);
    if (B->rows < br || B->cols < bc) verr("MPS matmul: right matrix %lux%lu too small for %lux%lu", B->rows, B->cols, br, bc);
    if (C->rows < o->M || C->cols < o->N) verr("MPS matmul: result matrix %lux%lu smaller than %lux%lu", C->rows, C->cols, o->M, o->N);
    if (overlap(C, A) || overlap(C, B)) verr("MPS matmul: the result overlaps an input");
    if (cbo->encoding) verr("MPS encode while a compute encoder of the command buffer is still open");
    if (cbo->committed) verr("MPS encode into a committed command buffer");
    memset(&k, 0, sizeof k);
    k.type = 2;
    k.mm = root_retain(self, NULL);
    k.a = root_retain(a, NULL);
    k.b = root_retain(b, NULL);
    k.c = root_retain(c, NULL);
    push_cmd(cbo, &k);
    g_count.mps_encodes++;
}
static float *at(const Obj *m, it__NSUInteger r, it__NSUInteger c) {
    return (float *)(raw(m->buf)->contents + m->off + r * m->rowbytes + c * 4);
}
static void run_gemm(const Cmd *k) {
    const Obj *o = raw(k->mm), *A = raw(k->a), *B = raw(k->b), *C = raw(k->c);
    it__NSUInteger r, c, i;
    for (r = 0; r < o->M; r++)
        for (c = 0; c < o->N; c++) {
            double acc = 0;
            for (i = 0; i < o->K; i++)
                acc += (double)(o->tl ? *at(A, i, r) : *at(A, r, i)) * (double)(o->tr ? *at(B, c, i) : *at(B, i, c));
            /* MPS does not promise to skip C at beta 0: the fake reads it (0 * NaN = NaN stays) */
            *at(C, r, c) = (float)(o->alpha * acc + o->beta * (double)*at(C, r, c));
        }
}

/* ---- execution at waitUntilCompleted --------------------------------------------------------------- */
static void execute(id cbid) {
    Obj *cb = raw(cbid);
    int i, j;
    cb->status = 3; /* scheduled */
    for (i = cb->ran; i < cb->ncmds; i++) {
        Cmd *c = &cb->cmds[i];
        cb->ran = i + 1;
        if (c->type == 2) {
            run_gemm(c);
            drop_cmd(c);
            continue;
        }
        {
            itemu_dispatch d;
            itemu_report rep;
            int ok;
            itemu_dispatch_init(&d);
            for (j = 0; j < NB; j++) {
                if (c->bufs[j]) {
                    Obj *b = raw(c->bufs[j]);
                    if (b->dead || !b->contents) { verr("dispatch of %s uses a released buffer at index %d", c->k->name, j); continue; }
                    itemu_bind_buffer(&d, j, b->contents + c->offs[j], b->length - c->offs[j]);
                } else if (c->bytes[j]) {
                    itemu_bind_bytes(&d, j, c->bytes[j], c->nbytes[j]);
                }
                if (c->tg_len[j]) itemu_bind_tgmem(&d, j, c->tg_len[j]);
            }
            if (c->threads)
                itemu_set_threads(&d, (uint32_t)c->grid.width, (uint32_t)c->grid.height, (uint32_t)c->grid.depth,
                                  (uint32_t)c->tg.width, (uint32_t)c->tg.height, (uint32_t)c->tg.depth);
            else
                itemu_set_threadgroups(&d, (uint32_t)c->grid.width, (uint32_t)c->grid.height, (uint32_t)c->grid.depth,
                                       (uint32_t)c->tg.width, (uint32_t)c->tg.height, (uint32_t)c->tg.depth);
            if (g_cfg.fail_dispatch > 0 && --g_cfg.fail_dispatch == 0) {
                ok = 0;
                snprintf(rep.msg, sizeof rep.msg, "Execution of the command buffer was aborted due to an error during "
                         "execution. (injected fault in %s)", c->k->name);
            } else {
                ok = itemu_run(c->k, &d, NULL, &rep);
                if (ok && rep.threadgroup_static_bytes > 32768) {
                    ok = 0;
                    snprintf(rep.msg, sizeof rep.msg, "%s uses %zu bytes of threadgroup memory (over 32 KiB)", c->k->name,
                             rep.threadgroup_static_bytes);
                }
            }
            drop_cmd(c);
            if (!ok) { /* like the GPU: the command buffer ends in error, later commands do not run */
                cb->status = 5;
                cb->err = make_error(rep.msg);
                for (j = i + 1; j < cb->ncmds; j++) drop_cmd(&cb->cmds[j]);
                cb->ran = cb->ncmds;
                return;
            }
        }
    }
    cb->status = 4;
}
static void cb_commit(id self, SEL cmd) {
    Obj *o = O(self, cmd), *q;
    if (o->encoding) verr("commit with an encoder that has no endEncoding");
    if (o->committed) { verr("commit called twice on one command buffer"); return; }
    o->committed = 1;
    o->status = 2;
    q = O(o->queue, cmd);
    if (q->npending >= 64) { verr("more than 64 command buffers in flight"); return; }
    q->pending[q->npending++] = root_retain(self, NULL); /* the queue keeps it until it ran */
}
static void cb_wait(id self, SEL cmd) {
    Obj *o = O(self, cmd), *q;
    if (!o->committed) { verr("waitUntilCompleted on a command buffer that was never committed (hangs on Metal)"); return; }
    g_count.waits++;
    q = O(o->queue, cmd);
    while (q->npending) { /* everything committed before it, in order */
        id c = q->pending[0];
        memmove(q->pending, q->pending + 1, sizeof(id) * (size_t)--q->npending);
        execute(c);
        obj_release(c);
        if (c == self) break;
    }
}
static it__NSUInteger cb_status(id self, SEL cmd) { return O(self, cmd)->status; }
static id cb_error(id self, SEL cmd) { return O(self, cmd)->err; }

/* ---- registration: every IMP must have exactly the type the backend casts to -------------------- */
#define ADD(cls, nm, fn)                                                                                  \
    do {                                                                                                  \
        _Static_assert(__builtin_types_compatible_p(__typeof__(&fn), it__ft_##nm),                        \
                       "fake " #fn " does not have the C type irontensor_metal.h sends " #nm " with");   \
        class_addMethod((cls), it__sel.nm, (IMP)(void (*)(void))fn, "v@:");                                \
    } while (0)
static Class mk(const char *name, Class super) { return objc_allocateClassPair(super, name, 0); }
#define META(c) ((Class)object_getClass((id)(c)))

int fake_metal_install(void) {
    static int done;
    Class root, c;
    if (done) return 0;
    done = 1;
    it__mtl_objc_init();
    root = mk("FakeNSObject", Nil);
    class_addIvar(root, "isa", sizeof(Class), 3, "#"); /* see the notes at the top */
    ADD(META(root), alloc, root_alloc);
    ADD(root, init, root_init);
    ADD(root, retain, root_retain);
    ADD(root, release, root_release);
    objc_registerClassPair(root);
    c = mk("NSString", root); ADD(META(c), stringWithUTF8String, str_with_utf8); ADD(c, UTF8String, str_utf8); objc_registerClassPair(c);
    c = mk("NSError", root); ADD(c, localizedDescription, err_desc); objc_registerClassPair(c);
    c = mk("MTLCompileOptions", root); ADD(c, setFastMathEnabled, opt_fast_math); ADD(c, setLanguageVersion, opt_lang); objc_registerClassPair(c);
    c = mk("FakeMTLDevice", root);
    ADD(c, name, dev_name); ADD(c, newCommandQueue, dev_queue); ADD(c, newBufferWithLength, dev_buffer);
    ADD(c, newLibraryWithSource, dev_library); ADD(c, newComputePipelineState, dev_pipeline);
    ADD(c, maxThreadsPerThreadgroup, dev_max_threads); ADD(c, supportsFamily, dev_family);
    objc_registerClassPair(c);
    c = mk("FakeMTLLibrary", root); ADD(c, newFunctionWithName, lib_function); objc_registerClassPair(c);
    c = mk("FakeMTLFunction", root); objc_registerClassPair(c);
    c = mk("FakeMTLComputePipelineState", root);
    ADD(c, maxTotalThreadsPerThreadgroup, pso_max); ADD(c, threadExecutionWidth, pso_width); ADD(c, staticThreadgroupMemoryLength, pso_static);
    objc_registerClassPair(c);
    c = mk("FakeMTLBuffer", root); ADD(c, contents, buf_contents); ADD(c, length, buf_length); objc_registerClassPair(c);
    c = mk("FakeMTLCommandQueue", root); ADD(c, commandBuffer, q_cb); objc_registerClassPair(c);
    c = mk("FakeMTLCommandBuffer", root);
    ADD(c, computeCommandEncoder, cb_encoder); ADD(c, commit, cb_commit); ADD(c, waitUntilCompleted, cb_wait);
    ADD(c, status, cb_status); ADD(c, error, cb_error);
    objc_registerClassPair(c);
    c = mk("FakeMTLComputeCommandEncoder", root);
    ADD(c, setComputePipelineState, enc_pso); ADD(c, setBuffer, enc_buffer); ADD(c, setBytes, enc_bytes);
    ADD(c, setThreadgroupMemoryLength, enc_tgmem); ADD(c, dispatchThreadgroups, enc_groups);
    ADD(c, dispatchThreads, enc_threads); ADD(c, endEncoding, enc_end);
    objc_registerClassPair(c);
    c = mk("MPSMatrixDescriptor", root); ADD(META(c), matrixDescriptor, mps_desc); objc_registerClassPair(c);
    c = mk("MPSMatrix", root); ADD(c, initWithBuffer, mps_matrix); objc_registerClassPair(c);
    c = mk("MPSMatrixMultiplication", root); ADD(c, initMatMul, mps_mm); ADD(c, encodeMatMul, mps_encode); objc_registerClassPair(c);
    return 0;
}
fake_metal_config *fake_metal_config_get(void) { return &g_cfg; }
fake_metal_counters fake_metal_counters_get(void) { return g_count; }
int fake_metal_validation_errors(void) { return g_errors; }
const char *fake_metal_last_validation(void) { return g_last; }
int fake_metal_live_objects(char *buf, size_t size) {
    Obj *o;
    int shown = 0;
    size_t used = 0;
    if (size) buf[0] = 0;
    for (o = g_all; o; o = o->next_all)
        if (!o->dead && shown < 8 && used < size) {
            used += (size_t)snprintf(buf + used, size - used, "%s%s", shown ? ", " : "", object_getClassName(o->self));
            shown++;
        }
    return g_live;
}
unsigned long fake_metal_kernel_dispatches(const char *name) {
    int i;
    for (i = 0; i < itemu_kernel_count() && i < FAKE_MAX_KERNELS; i++)
        if (!strcmp(itemu_kernel_at(i)->name, name)) return g_kernel_dispatches[i];
    return 0;
}
int fake_metal_undispatched_kernels(int *total, char *buf, size_t size) {
    int i, missing = 0;
    size_t used = 0;
    if (size) buf[0] = 0;
    *total = 0;
    for (i = 0; i < itemu_kernel_count(); i++) {
        const itemu_kernel *k = itemu_kernel_at(i);
        if (strncmp(k->file, "shaders/", 8) != 0) continue;
        ++*total;
        if (i < FAKE_MAX_KERNELS && g_kernel_dispatches[i]) continue;
        if (used < size) used += (size_t)snprintf(buf + used, size - used, "%s%s", missing ? ", " : "", k->name);
        missing++;
    }
    return missing;
}
