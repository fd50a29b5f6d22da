/* test_kernels.c - every kernel in shaders/ on the MSL emulator against the CPU reference kernels
   (it_cpu_* in irontensor.h), small odd shapes; then the negative tests that prove the emulator
   catches what it claims to. Prints one line per kernel, "kernel NAME ok max_err=...", and ends
   with "N passed, N failed"; fails when a kernel of shaders/ has no test.
   Fiber order from ITEMU_ORDER (0 ascending, 1 descending, >= 2 shuffled), threadgroup order
   from ITEMU_GROUP_SEED. */
#define _POSIX_C_SOURCE 200809L
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#include "itemu.h"
#include "it_kernel_args.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_pass, g_fail;
static itemu_options g_opt;
static it_rng g_rng;
static const char *g_tested[512];
static int g_ntested;
static itemu_dispatch g_d;

/* ---- small helpers ---------------------------------------------------------------------------- */
static void *g_allocs[256];
static int g_nallocs;
static void *talloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p || g_nallocs == 256) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(2);
    }
    g_allocs[g_nallocs++] = p;
    return p;
}
static void tfree_all(void) {
    while (g_nallocs) free(g_allocs[--g_nallocs]);
}
static float *fzeros(size_t n) { return (float *)talloc(n * sizeof(float)); }
static float *frandn(size_t n, float scale) {
    float *p = fzeros(n);
    size_t i;
    for (i = 0; i < n; i++) p[i] = scale * it_rng_normal(&g_rng);
    return p;
}
static float *fcopy(const float *x, size_t n) {
    float *p = fzeros(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}
/* max |got - ref| / max(1, |ref|): absolute near zero, relative for large values */
static double max_err(const float *got, const float *ref, size_t n) {
    double e = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double r = fabs((double)ref[i]), d = fabs((double)got[i] - (double)ref[i]) / (r > 1.0 ? r : 1.0);
        if (!(d <= e)) e = d; /* NaN propagates */
    }
    return e;
}
static itemu_dispatch *dispatch(void) {
    itemu_dispatch_init(&g_d);
    return &g_d;
}
#define BUF(i, p, n) itemu_bind_buffer(&g_d, (i), (void *)(p), (n) * sizeof(*(p)))
#define ARGS(i, a) itemu_bind_bytes(&g_d, (i), &(a), sizeof(a))
static void mark_tested(const char *name) {
    int i;
    for (i = 0; i < g_ntested; i++)
        if (!strcmp(g_tested[i], name)) return;
    if (g_ntested < 512) g_tested[g_ntested++] = name;
}
static struct {
    const char *name;
    double ms;
    int runs;
} g_time[256];
static int g_ntime;
static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
static void add_time(const char *name, double ms) {
    int i;
    for (i = 0; i < g_ntime; i++)
        if (!strcmp(g_time[i].name, name)) break;
    if (i == g_ntime) {
        if (g_ntime == 256) return;
        g_time[g_ntime].name = name;
        g_time[g_ntime].ms = 0.0;
        g_time[g_ntime++].runs = 0;
    }
    g_time[i].ms += ms;
    g_time[i].runs++;
}
static double time_of(const char *name, int *runs) {
    int i;
    for (i = 0; i < g_ntime; i++)
        if (!strcmp(g_time[i].name, name)) {
            *runs = g_time[i].runs;
            return g_time[i].ms;
        }
    *runs = 0;
    return 0.0;
}
static int run(const char *name) {
    const itemu_kernel *k = itemu_kernel_find(name);
    itemu_report rep;
    double t0 = now_ms();
    int ok;
    if (!k) {
        printf("kernel %s MISSING from the emulator registry\n", name);
        return 0;
    }
    ok = itemu_run(k, &g_d, &g_opt, &rep);
    add_time(k->name, now_ms() - t0);
    if (!ok) printf("  emulator: %s\n", rep.msg);
    return ok;
}
/* one result line per kernel (a kernel tested in several shapes reports its worst error) */
static struct {
    const char *name;
    double err, tol;
    int ran_ok;
} g_res[256];
static int g_nres;
static void result(const char *name, int ran_ok, double err, double tol) {
    int i;
    mark_tested(name);
    for (i = 0; i < g_nres; i++)
        if (!strcmp(g_res[i].name, name)) break;
    if (i == g_nres) {
        g_nres++;
        g_res[i].name = name;
        g_res[i].err = 0.0;
        g_res[i].tol = tol;
        g_res[i].ran_ok = 1;
    }
    if (!ran_ok) g_res[i].ran_ok = 0;
    if (!(err <= g_res[i].err)) g_res[i].err = err;
    if (tol > g_res[i].tol) g_res[i].tol = tol;
    if (!ran_ok || !(err <= tol)) printf("  %s: max_err=%.3g tol=%.3g%s\n", name, err, tol, ran_ok ? "" : " (did not run)");
}
static void print_results(void) {
    int i;
    for (i = 0; i < g_nres; i++) {
        int ok = g_res[i].ran_ok && g_res[i].err <= g_res[i].tol, runs;
        double ms = time_of(g_res[i].name, &runs);
        printf("kernel %s %s max_err=%.3g (tol %.0e; %d dispatches, %.1f ms)\n", g_res[i].name, ok ? "ok" : "FAILED", g_res[i].err,
               g_res[i].tol, runs, ms);
        if (ok) g_pass++;
        else g_fail++;
    }
}
static void check(int cond, const char *what) {
    printf("%s %s\n", cond ? "ok    " : "FAILED", what);
    if (cond) g_pass++;
    else g_fail++;
}

/* run first, then measure (argument evaluation order is unspecified) */
#define RUNCHECK(name, err, tol)              \
    do {                                        \
        int ok_ = run(name);                    \
        result(name, ok_, (err), (tol));        \
    } while (0)
#define TOL 2e-5  /* fp32 kernels: reordered sums, fma, libm vs fast math */

/* ---- column reductions: a first pass writes partials [n_blocks, C], it_sum_rows_f32 adds them
   (the backends' block rule, IT_COLUMN_BLOCK_ROWS, unless block_rows is given) ------------------ */
static it_column_sum_args column_args(unsigned N, unsigned C, unsigned block_rows, unsigned *n_blocks) {
    it_column_sum_args q;
    memset(&q, 0, sizeof q);
    q.N = N;
    q.C = C;
    q.block_rows = block_rows ? block_rows : IT_COLUMN_BLOCK_ROWS(N);
    *n_blocks = (N + q.block_rows - 1) / q.block_rows;
    return q;
}
/* Long fp32 column sums in two orders (the CPU's row by row, the GPU's by blocks) each err by up
   to ~N eps sum|term|: past a few hundred rows that exceeds TOL on columns whose sum is near 1 */
#define COLUMN_TOL(N) ((N) > 256 ? 1e-4 : TOL)
/* partials start as NaN: a block the first pass leaves unwritten poisons the result */
static float *fnan(size_t n) {
    float *p = fzeros(n);
    size_t i;
    for (i = 0; i < n; i++) p[i] = nanf("");
    return p;
}
/* the second pass: out [C] += partials [n_blocks, C], blocks in order */
static int sum_partials(float *out, const float *partials, unsigned n_blocks, unsigned C) {
    unsigned nb;
    it_column_sum_args q = column_args(n_blocks, C, n_blocks, &nb);
    q.accumulate = 1;
    dispatch(); BUF(0, out, C); BUF(1, partials, (size_t)n_blocks * C); ARGS(2, q); itemu_set_threads(&g_d, C, 1, 1, 64, 1, 1);
    return run("it_sum_rows_f32");
}
/* The first pass over (C, n_blocks) threads: into the outputs out[0..n_out-1] themselves
   (accumulate) for one block, else into NaN-poisoned partials that sum_partials then adds. The
   caller has bound its inputs (and the argument struct goes at index `at`); out[j] NULL: never
   written. */
static int columns(const char *kernel, it_column_sum_args q, int at, int n_out, float *const *out) {
    unsigned nb = (q.N + q.block_rows - 1) / q.block_rows;
    float *part[2];
    int j, ok;
    q.accumulate = nb == 1;
    for (j = 0; j < n_out; j++) {
        part[j] = nb == 1 ? (out[j] ? out[j] : out[0]) : fnan((size_t)nb * q.C);
        BUF(j, part[j], (size_t)nb * q.C);
    }
    ARGS(at, q);
    itemu_set_threads(&g_d, q.C, nb, 1, 64, 1, 1);
    ok = run(kernel);
    for (j = 0; nb > 1 && j < n_out; j++)
        if (out[j]) ok &= sum_partials(out[j], part[j], nb, q.C);
    return ok;
}
/* a bias gradient: db [C] += the column sums of dout [N, C] */
static void test_sum_rows(unsigned N, unsigned C, unsigned block_rows) {
    unsigned nb, r, c;
    it_column_sum_args q = column_args(N, C, block_rows, &nb);
    float *dout = frandn((size_t)N * C, 1.0f), *db = frandn(C, 1.0f), *rdb = fzeros(C);
    int ok;
    for (c = 0; c < C; c++) {
        double s = db[c];
        for (r = 0; r < N; r++) s += dout[(size_t)r * C + c];
        rdb[c] = (float)s;
    }
    dispatch(); BUF(1, dout, (size_t)N * C);
    ok = columns("it_sum_rows_f32", q, 2, 1, &db);
    result("it_sum_rows_f32", ok, max_err(db, rdb, C), COLUMN_TOL(N));
    tfree_all();
}

/* ---- elementwise ------------------------------------------------------------------------------- */
static void test_elementwise(void) {
    const unsigned n = 1003, nb = 17 * 59 == (int)n ? 59 : 1003;
    unsigned C = 59, rows = 17;
    size_t N = (size_t)rows * C;
    float *a = frandn(N, 1.0f), *b = frandn(N, 1.0f), *bias = frandn(C, 1.0f), *bx = fzeros(N);
    float *out = fzeros(N), *ref = fzeros(N), *dout = frandn(N, 1.0f);
    float *da = frandn(N, 1.0f), *db = frandn(N, 1.0f), *rda = fcopy(da, N), *rdb = fcopy(db, N);
    it_elementwise_args p = {(unsigned)N, (unsigned)N, 0.75f, 0.0f};
    size_t i;
    (void)n;
    (void)nb;
    for (i = 0; i < N; i++) bx[i] = bias[i % C];
    /* plain and broadcast add / mul */
    dispatch(); BUF(0, out, N); BUF(1, a, N); BUF(2, b, N); ARGS(3, p); itemu_set_threads(&g_d, (unsigned)N, 1, 1, 256, 1, 1);
    it_cpu_add_forward(ref, a, b, N);
    RUNCHECK("it_add_f32", max_err(out, ref, N), TOL);
    p.nb = C;
    dispatch(); BUF(0, out, N); BUF(1, a, N); BUF(2, bias, C); ARGS(3, p); itemu_set_threads(&g_d, (unsigned)N, 1, 1, 256, 1, 1);
    it_cpu_add_forward(ref, a, bx, N);
    RUNCHECK("it_add_f32", max_err(out, ref, N), TOL);
    dispatch(); BUF(0, out, N); BUF(1, a, N); BUF(2, bias, C); ARGS(3, p); itemu_set_threads(&g_d, (unsigned)N, 1, 1, 256, 1, 1);
    it_cpu_mul_forward(ref, a, bx, N);
    RUNCHECK("it_mul_f32", max_err(out, ref, N), TOL);
    p.nb = (unsigned)N;
    dispatch(); BUF(0, da, N); BUF(1, db, N); BUF(2, dout, N); BUF(3, a, N); BUF(4, b, N); ARGS(5, p);
    itemu_set_threads(&g_d, (unsigned)N, 1, 1, 256, 1, 1);
    it_cpu_mul_backward(rda, rdb, dout, a, b, N);
    {
        int ok = run("it_mul_backward_f32");
        double e1 = max_err(da, rda, N), e2 = max_err(db, rdb, N);
        result("it_mul_backward_f32", ok, e1 > e2 ? e1 : e2, TOL);
    }
    dispatch(); BUF(0, out, N); BUF(1, a, N); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)N, 1, 1, 256, 1, 1);
    it_cpu_scale_forward(ref, a, p.alpha, N);
    RUNCHECK("it_scale_f32", max_err(out, ref, N), TOL);
    memcpy(out, b, N * 4);
    memcpy(ref, b, N * 4);
    dispatch(); BUF(0, out, N); BUF(1, a, N); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)N, 1, 1, 256, 1, 1);
    it_cpu_axpy(ref, p.alpha, a, N);
    RUNCHECK("it_axpy_f32", max_err(out, ref, N), TOL);
    tfree_all();
}

/* ---- activations ------------------------------------------------------------------------------- */
typedef void (*act_fwd)(float *, const float *, size_t);
typedef void (*act_bwd)(float *, const float *, const float *, size_t);
static void test_activation(const char *fname, const char *bname, act_fwd f, act_bwd bw) {
    const size_t n = 777;
    float *x = frandn(n, 3.0f), *out = fzeros(n), *ref = fzeros(n), *dout = frandn(n, 1.0f);
    float *dx = frandn(n, 1.0f), *rdx = fcopy(dx, n);
    it_elementwise_args p = {(unsigned)n, (unsigned)n, 1.0f, 0.0f};
    x[0] = 40.0f; /* saturated tails */
    x[1] = -40.0f;
    dispatch(); BUF(0, out, n); BUF(1, x, n); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    f(ref, x, n);
    RUNCHECK(fname, max_err(out, ref, n), TOL);
    dispatch(); BUF(0, dx, n); BUF(1, dout, n); BUF(2, x, n); ARGS(3, p); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    bw(rdx, dout, x, n);
    RUNCHECK(bname, max_err(dx, rdx, n), TOL);
    tfree_all();
}
static void test_swiglu(void) {
    const size_t n = 901;
    float *g = frandn(n, 2.0f), *u = frandn(n, 1.0f), *out = fzeros(n), *ref = fzeros(n), *dout = frandn(n, 1.0f);
    float *dg = frandn(n, 1.0f), *du = frandn(n, 1.0f), *rdg = fcopy(dg, n), *rdu = fcopy(du, n);
    it_elementwise_args p = {(unsigned)n, (unsigned)n, 1.0f, 0.0f};
    dispatch(); BUF(0, out, n); BUF(1, g, n); BUF(2, u, n); ARGS(3, p); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    it_cpu_swiglu_forward(ref, g, u, n);
    RUNCHECK("it_swiglu_forward_f32", max_err(out, ref, n), TOL);
    dispatch(); BUF(0, dg, n); BUF(1, du, n); BUF(2, dout, n); BUF(3, g, n); BUF(4, u, n); ARGS(5, p);
    itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    it_cpu_swiglu_backward(rdg, rdu, dout, g, u, n);
    {
        int ok = run("it_swiglu_backward_f32");
        double e1 = max_err(dg, rdg, n), e2 = max_err(du, rdu, n);
        result("it_swiglu_backward_f32", ok, e1 > e2 ? e1 : e2, TOL);
    }
    tfree_all();
}

/* ---- embedding --------------------------------------------------------------------------------- */
static void test_embedding(void) {
    const int N = 45, C = 29, V = 37;
    int32_t *ids = (int32_t *)talloc(N * 4);
    uint32_t *order = (uint32_t *)talloc(N * 4);
    float *table = frandn((size_t)V * C, 1.0f), *out = fzeros((size_t)N * C), *ref = fzeros((size_t)N * C);
    float *dout = frandn((size_t)N * C, 1.0f), *dt = frandn((size_t)V * C, 1.0f), *rdt = fcopy(dt, (size_t)V * C);
    it_embedding_args p = {(unsigned)N, (unsigned)C, (unsigned)V, 0};
    int i, v, k = 0;
    for (i = 0; i < N; i++) ids[i] = (int32_t)it_rng_below(&g_rng, 12); /* many repeats */
    ids[3] = V - 1;
    for (v = 0; v < V; v++) /* stable counting sort: what the host does before encoding */
        for (i = 0; i < N; i++)
            if (ids[i] == v) order[k++] = (uint32_t)i;
    dispatch(); BUF(0, out, (size_t)N * C); BUF(1, ids, N); BUF(2, table, (size_t)V * C); ARGS(3, p);
    itemu_set_threads(&g_d, (unsigned)C, (unsigned)N, 1, 16, 4, 1);
    it_cpu_embedding_forward(ref, ids, table, N, C, V);
    RUNCHECK("it_embedding_forward_f32", max_err(out, ref, (size_t)N * C), TOL);
    dispatch(); BUF(0, dt, (size_t)V * C); BUF(1, dout, (size_t)N * C); BUF(2, ids, N); BUF(3, order, N); ARGS(4, p);
    itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, 24, 1, 1);
    it_cpu_embedding_backward(rdt, dout, ids, N, C);
    RUNCHECK("it_embedding_backward_f32", max_err(dt, rdt, (size_t)V * C), TOL);
    tfree_all();
}

/* ---- norms, softmax ---------------------------------------------------------------------------- */
static void test_rmsnorm(int N, int C, unsigned tg) {
    size_t NC = (size_t)N * C;
    float *x = frandn(NC, 2.0f), *w = frandn((size_t)C, 1.0f), *out = fzeros(NC), *ref = fzeros(NC);
    float *rstd = fzeros((size_t)N), *rrstd = fzeros((size_t)N), *dout = frandn(NC, 1.0f);
    float *dx = frandn(NC, 1.0f), *rdx = fcopy(dx, NC), *dw = frandn((size_t)C, 1.0f), *rdw = fcopy(dw, (size_t)C);
    it_norm_args p = {(unsigned)N, (unsigned)C, 1e-5f, 0};
    double e1, e2;
    int ok;
    dispatch(); BUF(0, out, NC); BUF(1, rstd, N); BUF(2, x, NC); BUF(3, w, C); ARGS(4, p);
    itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, tg, 1, 1);
    it_cpu_rmsnorm_forward(ref, rrstd, x, w, N, C, 1e-5f);
    ok = run("it_rmsnorm_forward_f32");
    e1 = max_err(out, ref, NC);
    e2 = max_err(rstd, rrstd, (size_t)N);
    result("it_rmsnorm_forward_f32", ok, e1 > e2 ? e1 : e2, TOL);
    dispatch(); BUF(0, dx, NC); BUF(1, dout, NC); BUF(2, x, NC); BUF(3, w, C); BUF(4, rrstd, N); ARGS(5, p);
    itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, tg, 1, 1);
    it_cpu_rmsnorm_backward(rdx, rdw, dout, x, w, rrstd, N, C);
    RUNCHECK("it_rmsnorm_backward_f32", max_err(dx, rdx, NC), TOL);
    {
        unsigned nb;
        it_column_sum_args q = column_args((unsigned)N, (unsigned)C, 0, &nb);
        dispatch(); BUF(1, dout, NC); BUF(2, x, NC); BUF(3, rrstd, N);
        ok = columns("it_rmsnorm_backward_dw_partial_f32", q, 4, 1, &dw);
        result("it_rmsnorm_backward_dw_partial_f32", ok, max_err(dw, rdw, (size_t)C), COLUMN_TOL(N));
    }
    tfree_all();
}
static void test_layernorm(int N, int C, unsigned tg, int has_bias) {
    size_t NC = (size_t)N * C;
    float *x = frandn(NC, 2.0f), *w = frandn((size_t)C, 1.0f), *b = frandn((size_t)C, 1.0f);
    float *out = fzeros(NC), *ref = fzeros(NC), *mean = fzeros(N), *rstd = fzeros(N), *rmean = fzeros(N), *rrstd = fzeros(N);
    float *dout = frandn(NC, 1.0f), *dx = frandn(NC, 1.0f), *rdx = fcopy(dx, NC);
    float *dw = frandn(C, 1.0f), *rdw = fcopy(dw, C), *db = frandn(C, 1.0f), *rdb = fcopy(db, C);
    it_norm_args p = {(unsigned)N, (unsigned)C, 1e-5f, (unsigned)has_bias};
    double e;
    int ok;
    x[5] += 30.0f; /* an offset row mean: the two-pass variance matters */
    dispatch(); BUF(0, out, NC); BUF(1, mean, N); BUF(2, rstd, N); BUF(3, x, NC); BUF(4, w, C); BUF(5, b, C); ARGS(6, p);
    itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, tg, 1, 1);
    it_cpu_layernorm_forward(ref, rmean, rrstd, x, w, has_bias ? b : NULL, N, C, 1e-5f);
    ok = run("it_layernorm_forward_f32");
    e = max_err(out, ref, NC);
    if (max_err(mean, rmean, N) > e) e = max_err(mean, rmean, N);
    if (max_err(rstd, rrstd, N) > e) e = max_err(rstd, rrstd, N);
    result("it_layernorm_forward_f32", ok, e, TOL);
    dispatch(); BUF(0, dx, NC); BUF(1, dout, NC); BUF(2, x, NC); BUF(3, w, C); BUF(4, rmean, N); BUF(5, rrstd, N); ARGS(6, p);
    itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, tg, 1, 1);
    it_cpu_layernorm_backward(rdx, rdw, has_bias ? rdb : NULL, dout, x, w, rmean, rrstd, N, C);
    RUNCHECK("it_layernorm_backward_f32", max_err(dx, rdx, NC), TOL);
    {
        unsigned nb;
        it_column_sum_args q = column_args((unsigned)N, (unsigned)C, 0, &nb);
        float *out[2];
        out[0] = dw;
        out[1] = has_bias ? db : NULL;
        q.has_bias = (unsigned)has_bias;
        dispatch(); BUF(2, dout, NC); BUF(3, x, NC); BUF(4, rmean, N); BUF(5, rrstd, N);
        ok = columns("it_layernorm_backward_dwdb_partial_f32", q, 6, 2, out);
        e = max_err(dw, rdw, C);
        if (max_err(db, rdb, C) > e) e = max_err(db, rdb, C); /* without a bias: db untouched on both sides */
        result("it_layernorm_backward_dwdb_partial_f32", ok, e, COLUMN_TOL(N));
    }
    tfree_all();
}
static void test_softmax(void) {
    const int N = 5, C = 203;
    size_t NC = (size_t)N * C;
    float *x = frandn(NC, 4.0f), *out = fzeros(NC), *ref = fzeros(NC), *dout = frandn(NC, 1.0f);
    float *dx = frandn(NC, 1.0f), *rdx = fcopy(dx, NC);
    it_norm_args p = {(unsigned)N, (unsigned)C, 0.0f, 0};
    dispatch(); BUF(0, out, NC); BUF(1, x, NC); ARGS(2, p); itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, 80, 1, 1);
    it_cpu_softmax_forward(ref, x, N, C);
    RUNCHECK("it_softmax_forward_f32", max_err(out, ref, NC), TOL);
    dispatch(); BUF(0, dx, NC); BUF(1, dout, NC); BUF(2, ref, NC); ARGS(3, p); itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, 80, 1, 1);
    it_cpu_softmax_backward(rdx, dout, ref, N, C);
    RUNCHECK("it_softmax_backward_f32", max_err(dx, rdx, NC), TOL);
    tfree_all();
}

/* ---- rope -------------------------------------------------------------------------------------- */
static void test_rope(void) {
    const int B = 2, T = 7, H = 3, D = 10, pos = 5;
    const float theta = 10000.0f;
    size_t n = (size_t)B * T * H * D;
    float *x = frandn(n, 1.0f), *out = fzeros(n), *ref = fzeros(n), *dout = frandn(n, 1.0f);
    float *dx = frandn(n, 1.0f), *rdx = fcopy(dx, n), *inplace = fcopy(x, n);
    it_rope_args p;
    static const it_rope_scaling scalings[2] = {{IT_ROPE_LINEAR, 4.0f, 0.0f, 0.0f, 0}, {IT_ROPE_LLAMA3, 8.0f, 1.0f, 4.0f, 64}};
    int k;
    memset(&p, 0, sizeof p);
    p.B = (unsigned)B, p.T = (unsigned)T, p.H = (unsigned)H, p.D = (unsigned)D, p.theta = theta, p.pos_offset = pos;
    dispatch(); BUF(0, out, n); BUF(1, x, n); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)D / 2, (unsigned)H, (unsigned)(B * T), 5, 2, 1);
    it_cpu_rope_forward(ref, x, B, T, H, D, theta, NULL, pos);
    RUNCHECK("it_rope_forward_f32", max_err(out, ref, n), 1e-4);
    dispatch(); BUF(0, inplace, n); BUF(1, inplace, n); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)D / 2, (unsigned)H, (unsigned)(B * T), 5, 2, 1);
    RUNCHECK("it_rope_forward_f32", max_err(inplace, ref, n), 1e-4);
    dispatch(); BUF(0, dx, n); BUF(1, dout, n); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)D / 2, (unsigned)H, (unsigned)(B * T), 5, 2, 1);
    it_cpu_rope_backward(rdx, dout, B, T, H, D, theta, NULL, pos);
    RUNCHECK("it_rope_backward_f32", max_err(dx, rdx, n), 1e-4);
    for (k = 0; k < 2; k++) { /* scaled frequencies: linear, and llama3 with all three bands at D = 10 */
        p.kind = (unsigned)scalings[k].kind;
        p.factor = scalings[k].factor;
        p.low_freq_factor = scalings[k].low_freq_factor;
        p.high_freq_factor = scalings[k].high_freq_factor;
        p.original_max_positions = scalings[k].original_max_positions;
        p.theta = 500.0f; /* wavelengths 6 .. 780: below, inside and above llama3's 16 .. 64 band */
        dispatch(); BUF(0, out, n); BUF(1, x, n); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)D / 2, (unsigned)H, (unsigned)(B * T), 5, 2, 1);
        it_cpu_rope_forward(ref, x, B, T, H, D, p.theta, &scalings[k], pos);
        RUNCHECK("it_rope_forward_f32", max_err(out, ref, n), 1e-4);
        memcpy(rdx, dx, n * sizeof(float));
        dispatch(); BUF(0, dx, n); BUF(1, dout, n); ARGS(2, p); itemu_set_threads(&g_d, (unsigned)D / 2, (unsigned)H, (unsigned)(B * T), 5, 2, 1);
        it_cpu_rope_backward(rdx, dout, B, T, H, D, p.theta, &scalings[k], pos);
        RUNCHECK("it_rope_backward_f32", max_err(dx, rdx, n), 1e-4);
    }
    tfree_all();
}

/* ---- paged attention (decode rows over a block-table KV cache) ------------------------------------ */
static void test_paged_attention(int n, int Hq, int Hkv, int D, int block_size, int window) {
    enum { NSEQ = 3, TABLE = 10 };
    int n_blocks = NSEQ * TABLE, i, ok;
    size_t block_stride = (size_t)block_size * Hkv * D, nq = (size_t)n * Hq * D;
    float *k = frandn((size_t)n_blocks * block_stride, 1.0f), *v = frandn((size_t)n_blocks * block_stride, 1.0f);
    float *q = frandn(nq, 1.0f), *out = fzeros(nq), *ref = fzeros(nq);
    int32_t *tables = (int32_t *)talloc(sizeof(int32_t) * (size_t)n_blocks);
    int32_t *row_seq = (int32_t *)talloc(sizeof(int32_t) * (size_t)n), *row_pos = (int32_t *)talloc(sizeof(int32_t) * (size_t)n);
    it_paged_attention_args p = {(unsigned)n, (unsigned)Hq, (unsigned)Hkv, (unsigned)D, (unsigned)block_size, TABLE,
                                 (unsigned)block_stride, (unsigned)window, 1.0f / sqrtf((float)D), {0, 0, 0}};
    for (i = 0; i < n_blocks; i++) tables[i] = i;
    for (i = n_blocks - 1; i > 0; i--) { /* a sequence's blocks anywhere in the pool */
        int r = (int)it_rng_below(&g_rng, (uint32_t)i + 1), t = tables[i];
        tables[i] = tables[r], tables[r] = t;
    }
    for (i = 0; i < n; i++) {
        row_seq[i] = i % NSEQ;
        row_pos[i] = (int)it_rng_below(&g_rng, (uint32_t)(block_size * TABLE < 80 ? block_size * TABLE : 80));
    }
    row_pos[0] = 0; /* one key */
    if (n > 1) row_pos[1] = block_size * TABLE < 80 ? block_size * TABLE - 1 : 79; /* several tiles of 32 */
    it_cpu_paged_attention_forward(ref, q, k, v, tables, TABLE, row_seq, row_pos, n, block_size, block_stride, Hq, Hkv, D, window);
    dispatch();
    BUF(0, out, nq); BUF(1, q, nq); BUF(2, k, (size_t)n_blocks * block_stride); BUF(3, v, (size_t)n_blocks * block_stride);
    BUF(4, tables, (size_t)n_blocks); BUF(5, row_seq, (size_t)n); BUF(6, row_pos, (size_t)n); ARGS(7, p);
    itemu_set_threadgroups(&g_d, (unsigned)n, (unsigned)Hq, 1, 32, 1, 1);
    ok = run("it_paged_attention_f32");
    result("it_paged_attention_f32", ok, max_err(out, ref, nq), TOL);
}

/* ---- attention --------------------------------------------------------------------------------- */
static void test_attention(int B, int T, int Hq, int Hkv, int D, int window) {
    size_t nq = (size_t)B * T * Hq * D, nk = (size_t)B * T * Hkv * D, nl = (size_t)B * Hq * T;
    float *q = frandn(nq, 1.0f), *k = frandn(nk, 1.0f), *v = frandn(nk, 1.0f);
    float *out = fzeros(nq), *lse = fzeros(nl), *rout = fzeros(nq), *rlse = fzeros(nl), *delta = fzeros(nl);
    float *dout = frandn(nq, 1.0f), *dq = frandn(nq, 0.1f), *dk = frandn(nk, 0.1f), *dv = frandn(nk, 0.1f);
    float *rdq = fcopy(dq, nq), *rdk = fcopy(dk, nk), *rdv = fcopy(dv, nk);
    it_attention_args p = {(unsigned)B, (unsigned)T, (unsigned)Hq, (unsigned)Hkv, (unsigned)D, 1.0f / sqrtf((float)D),
                           (unsigned)window, 0};
    double e;
    int ok;
    dispatch(); BUF(0, out, nq); BUF(1, lse, nl); BUF(2, q, nq); BUF(3, k, nk); BUF(4, v, nk); ARGS(5, p);
    itemu_set_threadgroups(&g_d, (unsigned)(T + 3) / 4, (unsigned)Hq, (unsigned)B, 128, 1, 1);
    it_cpu_attention_forward(rout, rlse, q, k, v, B, T, Hq, Hkv, D, window);
    ok = run("it_attention_forward_f32");
    e = max_err(out, rout, nq);
    if (max_err(lse, rlse, nl) > e) e = max_err(lse, rlse, nl);
    result("it_attention_forward_f32", ok, e, TOL);
    /* backward from the reference's out and lse, so each kernel is judged on its own */
    dispatch(); BUF(0, delta, nl); BUF(1, dout, nq); BUF(2, rout, nq); ARGS(3, p);
    itemu_set_threads(&g_d, (unsigned)Hq, (unsigned)T, (unsigned)B, (unsigned)Hq, 4, 1);
    ok = run("it_attention_backward_delta_f32");
    {
        float *rdelta = fzeros(nl);
        int b, t, h, d;
        for (b = 0; b < B; b++)
            for (t = 0; t < T; t++)
                for (h = 0; h < Hq; h++) {
                    double s = 0.0;
                    size_t base = (((size_t)b * T + t) * Hq + h) * D;
                    for (d = 0; d < D; d++) s += (double)dout[base + d] * rout[base + d];
                    rdelta[((size_t)b * Hq + h) * T + t] = (float)s;
                }
        result("it_attention_backward_delta_f32", ok, max_err(delta, rdelta, nl), TOL);
    }
    it_cpu_attention_backward(rdq, rdk, rdv, dout, q, k, v, rout, rlse, B, T, Hq, Hkv, D, window);
    dispatch(); BUF(0, dq, nq); BUF(1, dout, nq); BUF(2, q, nq); BUF(3, k, nk); BUF(4, v, nk); BUF(5, rlse, nl); BUF(6, delta, nl); ARGS(7, p);
    itemu_set_threadgroups(&g_d, (unsigned)(T + 3) / 4, (unsigned)Hq, (unsigned)B, 128, 1, 1);
    RUNCHECK("it_attention_backward_dq_f32", max_err(dq, rdq, nq), 5e-5);
    dispatch(); BUF(0, dk, nk); BUF(1, dv, nk); BUF(2, dout, nq); BUF(3, q, nq); BUF(4, k, nk); BUF(5, v, nk); BUF(6, rlse, nl);
    BUF(7, delta, nl); ARGS(8, p);
    itemu_set_threadgroups(&g_d, (unsigned)(T + 3) / 4, (unsigned)Hkv, (unsigned)B, 128, 1, 1);
    ok = run("it_attention_backward_dkv_f32");
    e = max_err(dk, rdk, nk);
    if (max_err(dv, rdv, nk) > e) e = max_err(dv, rdv, nk);
    result("it_attention_backward_dkv_f32", ok, e, 5e-5);
    tfree_all();
}

/* ---- matmul ------------------------------------------------------------------------------------ */
/* x rounded to bf16 (it_f32_to_bf16, the CPU's rounding), as floats: the operands a bf16 product
   sees; with a tie (1 + 2^-8, halfway: to even, 1) and a value rounding up at index 1, 2 */
static float *fbf16(const float *x, size_t n) {
    float *p = fzeros(n);
    size_t i;
    for (i = 0; i < n; i++) p[i] = it_bf16_to_f32(it_f32_to_bf16(x[i]));
    return p;
}
/* bf16: 0 fp32 (it_matmul_f32), 1 bf16 operands on it_matmul_f32's tiles, 2 bf16 operands on the
   simdgroup-matrix kernel it_matmul_bf16_sg (same arguments, 128 threads per group) */
static void test_matmul(int M, int N, int K, int ta, int tb, int acc, int batch, int bf16) {
    const char *kernel = bf16 == 2 ? "it_matmul_bf16_sg" : "it_matmul_f32";
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *a = frandn(na * batch, 1.0f), *b = frandn(nb, 1.0f), *c = frandn(nc * batch, 1.0f), *ref = fcopy(c, nc * batch);
    const float *ra = a, *rb = b;
    it_matmul_args p;
    int i;
    memset(&p, 0, sizeof p);
    p.M = (unsigned)M; p.N = (unsigned)N; p.K = (unsigned)K;
    p.trans_a = (unsigned)ta; p.trans_b = (unsigned)tb; p.accumulate = (unsigned)acc;
    p.batch_stride_a = (unsigned)na; p.batch_stride_b = 0; p.batch_stride_c = (unsigned)nc; /* b shared: a linear layer */
    p.bf16 = (unsigned)(bf16 != 0);
    if (bf16) { /* the reference multiplies the rounded operands in fp32 */
        a[1] = 1.00390625f;      /* a tie: to even (1) */
        a[2] = 1.01171875f;      /* halfway above an odd bf16: up (1.015625) */
        ra = fbf16(a, na * batch);
        rb = fbf16(b, nb);
    }
    for (i = 0; i < batch; i++) it_cpu_matmul(ref + nc * i, ra + na * i, rb, M, N, K, ta, tb, acc);
    dispatch(); BUF(0, c, nc * batch); BUF(1, a, na * batch); BUF(2, b, nb); ARGS(3, p);
    itemu_set_threadgroups(&g_d, (unsigned)(N + 31) / 32, (unsigned)(M + 31) / 32, (unsigned)batch, bf16 == 2 ? 128 : 256, 1, 1);
    RUNCHECK(kernel, max_err(c, ref, nc * batch), 2e-5 * sqrt((double)K));
    tfree_all();
}

/* ---- cross-entropy ----------------------------------------------------------------------------- */
static void set_cross_entropy_args(it_cross_entropy_args *p, int N, int V, int v0, int chunk, int ignore, int acc) {
    p->N = (unsigned)N; p->V = (unsigned)V; p->v0 = (unsigned)v0; p->chunk = (unsigned)chunk; p->ld = (unsigned)chunk;
    p->ignore_index = ignore; p->accumulate = (unsigned)acc;
}
static void gemm(float *c, const float *a, const float *b, int M, int N, int K, int ta, int tb, int acc, const char **fail) {
    it_matmul_args p;
    memset(&p, 0, sizeof p);
    p.M = (unsigned)M; p.N = (unsigned)N; p.K = (unsigned)K; p.trans_a = (unsigned)ta; p.trans_b = (unsigned)tb; p.accumulate = (unsigned)acc;
    dispatch();
    itemu_bind_buffer(&g_d, 0, c, (size_t)M * N * 4);
    itemu_bind_buffer(&g_d, 1, (void *)a, (size_t)M * K * 4);
    itemu_bind_buffer(&g_d, 2, (void *)b, (size_t)K * N * 4);
    ARGS(3, p);
    itemu_set_threadgroups(&g_d, (unsigned)(N + 31) / 32, (unsigned)(M + 31) / 32, 1, 256, 1, 1);
    if (!run("it_matmul_f32")) *fail = "it_matmul_f32";
}
static void test_cross_entropy(void) {
    const int N = 9, V = 53, C = 24, chunk = 16, ignore = -100;
    int32_t *t = (int32_t *)talloc(N * 4);
    float *logits = frandn((size_t)N * V, 3.0f), *state = fzeros(3 * (size_t)N), *loss = fzeros(N), *lse = fzeros(N);
    float *rloss = fzeros(N), *rlse = fzeros(N), *dl = frandn((size_t)N * V, 1.0f), *rdl = fcopy(dl, (size_t)N * V);
    float dscale[1] = {1.0f / 8.0f}; /* the loss gradient's factor, a device value */
    it_cross_entropy_args p;
    int n, ok = 1, v0;
    double e;
    const char *gfail = NULL;
    for (n = 0; n < N; n++) t[n] = (int32_t)it_rng_below(&g_rng, (uint32_t)V);
    t[2] = ignore;
    t[4] = V - 1;
    /* plain cross-entropy: one chunk of the whole vocabulary */
    set_cross_entropy_args(&p, N, V, 0, V, ignore, 1);
    dispatch(); BUF(0, state, 3 * N); BUF(1, logits, (size_t)N * V); BUF(2, t, N); ARGS(3, p);
    itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, 48, 1, 1);
    ok &= run("it_cross_entropy_stats_f32");
    dispatch(); BUF(0, loss, N); BUF(1, lse, N); BUF(2, state, 3 * N); BUF(3, t, N); ARGS(4, p);
    itemu_set_threads(&g_d, (unsigned)N, 1, 1, 64, 1, 1);
    ok &= run("it_cross_entropy_finish_f32");
    it_cpu_cross_entropy_forward(rloss, rlse, logits, t, N, V, ignore);
    lse[2] = rlse[2] = 0.0f; /* ignored row: the CPU reference writes 0, the kernel the real lse */
    e = max_err(loss, rloss, N);
    if (max_err(lse, rlse, N) > e) e = max_err(lse, rlse, N);
    result("it_cross_entropy_stats_f32", ok, e, TOL);
    result("it_cross_entropy_finish_f32", ok, e, TOL);
    dispatch(); BUF(0, dl, (size_t)N * V); BUF(1, logits, (size_t)N * V); BUF(2, rlse, N); BUF(3, t, N); BUF(4, dscale, 1);
    ARGS(5, p); itemu_set_threads(&g_d, (unsigned)V, (unsigned)N, 1, 16, 4, 1);
    it_cpu_cross_entropy_backward(rdl, logits, rlse, t, dscale[0], N, V, ignore);
    RUNCHECK("it_cross_entropy_dlogits_scaled_f32", max_err(dl, rdl, (size_t)N * V), TOL);

    /* fused linear + cross-entropy over vocabulary chunks: GEMM, stats; GEMM, dlogits, GEMMs */
    {
        float *x = frandn((size_t)N * C, 1.0f), *w = frandn((size_t)V * C, 0.5f), *scratch = fzeros((size_t)N * chunk);
        float *cscr = fzeros((size_t)N * chunk), *dx = frandn((size_t)N * C, 0.1f), *dw = frandn((size_t)V * C, 0.1f);
        float *rdx = fcopy(dx, (size_t)N * C), *rdw = fcopy(dw, (size_t)V * C);
        ok = 1;
        dscale[0] = 0.5f;
        for (v0 = 0; v0 < V; v0 += chunk) {
            int cv = V - v0 < chunk ? V - v0 : chunk;
            gemm(scratch, x, w + (size_t)v0 * C, N, cv, C, 0, 1, 0, &gfail);
            set_cross_entropy_args(&p, N, V, v0, cv, ignore, 0);
            dispatch(); BUF(0, state, 3 * N); BUF(1, scratch, (size_t)N * cv); BUF(2, t, N); ARGS(3, p);
            itemu_set_threadgroups(&g_d, (unsigned)N, 1, 1, 32, 1, 1);
            ok &= run("it_cross_entropy_stats_f32");
        }
        dispatch(); BUF(0, loss, N); BUF(1, lse, N); BUF(2, state, 3 * N); BUF(3, t, N); ARGS(4, p);
        itemu_set_threads(&g_d, (unsigned)N, 1, 1, 64, 1, 1);
        ok &= run("it_cross_entropy_finish_f32");
        it_cpu_linear_cross_entropy_forward(rloss, rlse, cscr, x, w, t, N, C, V, chunk, ignore);
        e = max_err(loss, rloss, N);
        if (max_err(lse, rlse, N) > e) e = max_err(lse, rlse, N);
        result("it_cross_entropy_stats_f32", ok && !gfail, e, TOL);
        for (v0 = 0; v0 < V; v0 += chunk) {
            int cv = V - v0 < chunk ? V - v0 : chunk;
            gemm(scratch, x, w + (size_t)v0 * C, N, cv, C, 0, 1, 0, &gfail);
            set_cross_entropy_args(&p, N, V, v0, cv, ignore, 0);
            dispatch(); BUF(0, scratch, (size_t)N * cv); BUF(1, scratch, (size_t)N * cv); BUF(2, lse, N); BUF(3, t, N);
            BUF(4, dscale, 1); ARGS(5, p); itemu_set_threads(&g_d, (unsigned)cv, (unsigned)N, 1, 16, 4, 1);
            ok &= run("it_cross_entropy_dlogits_scaled_f32");
            gemm(dx, scratch, w + (size_t)v0 * C, N, C, cv, 0, 0, 1, &gfail);
            gemm(dw + (size_t)v0 * C, scratch, x, cv, C, N, 1, 0, 1, &gfail);
        }
        it_cpu_linear_cross_entropy_backward(rdx, rdw, cscr, x, w, t, rlse, 0.5f, N, C, V, chunk, ignore);
        e = max_err(dx, rdx, (size_t)N * C);
        if (max_err(dw, rdw, (size_t)V * C) > e) e = max_err(dw, rdw, (size_t)V * C);
        result("it_cross_entropy_dlogits_scaled_f32", ok && !gfail, e, TOL);
        if (gfail) printf("  linear cross-entropy: %s failed\n", gfail);
    }
    tfree_all();
}

/* ---- optimizers, gradient norm ------------------------------------------------------------------ */
static void test_optimizers(void) {
    const size_t n = 1003;
    float *p0 = frandn(n, 1.0f), *g = frandn(n, 1.0f), *m0 = frandn(n, 0.1f), *v0 = fzeros(n), *gs = fzeros(2);
    float *p = fcopy(p0, n), *m = fcopy(m0, n), *v, *rp = fcopy(p0, n), *rm = fcopy(m0, n), *rv;
    it_optimizer_args a;
    double e;
    int ok;
    size_t i;
    for (i = 0; i < n; i++) v0[i] = 0.01f * fabsf(it_rng_normal(&g_rng));
    v = fcopy(v0, n);
    rv = fcopy(v0, n);
    g[7] = 0.0f;
    m[7] = rm[7] = 0.0f; /* sign(0) = 0 */
    gs[0] = 0.8f;        /* the device-side scale (from clipping); gs[1] = 0: not skipped */
    memset(&a, 0, sizeof a);
    a.n = (unsigned)n; a.lr = 3e-4f; a.beta1 = 0.9f; a.beta2 = 0.99f; a.wd = 0.1f; a.grad_scale = 0.5f;
    dispatch(); BUF(0, p, n); BUF(1, m, n); BUF(2, g, n); BUF(3, gs, 2); ARGS(4, a); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    it_cpu_lion_update(rp, rm, g, n, a.lr, a.beta1, a.beta2, a.wd, a.grad_scale * gs[0]);
    ok = run("it_lion_update_f32");
    e = max_err(p, rp, n);
    if (max_err(m, rm, n) > e) e = max_err(m, rm, n);
    result("it_lion_update_f32", ok, e, 1e-6);
    a.beta2 = 0.999f; a.eps = 1e-8f; a.step = 3; a.lr = 1e-3f;
    dispatch(); BUF(0, p, n); BUF(1, m, n); BUF(2, v, n); BUF(3, g, n); BUF(4, gs, 2); ARGS(5, a); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    it_cpu_adamw_update(rp, rm, rv, g, n, a.lr, a.beta1, a.beta2, a.eps, a.wd, a.step, a.grad_scale * gs[0]);
    ok = run("it_adamw_update_f32");
    e = max_err(p, rp, n);
    if (max_err(m, rm, n) > e) e = max_err(m, rm, n);
    if (max_err(v, rv, n) > e) e = max_err(v, rv, n);
    result("it_adamw_update_f32", ok, e, 1e-6);
    a.momentum = 0.9f; a.lr = 0.01f;
    dispatch(); BUF(0, p, n); BUF(1, m, n); BUF(2, g, n); BUF(3, gs, 2); ARGS(4, a); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
    it_cpu_sgd_update(rp, rm, g, n, a.lr, a.momentum, a.wd, a.grad_scale * gs[0]);
    ok = run("it_sgd_update_f32");
    e = max_err(p, rp, n);
    if (max_err(m, rm, n) > e) e = max_err(m, rm, n);
    result("it_sgd_update_f32", ok, e, 1e-6);
    gs[1] = 1.0f; /* a non-finite norm: every update leaves parameters and state as they were */
    {
        float *p1 = fcopy(p, n), *m1 = fcopy(m, n), *v1 = fcopy(v, n);
        dispatch(); BUF(0, p, n); BUF(1, m, n); BUF(2, g, n); BUF(3, gs, 2); ARGS(4, a); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
        ok = run("it_lion_update_f32");
        dispatch(); BUF(0, p, n); BUF(1, m, n); BUF(2, v, n); BUF(3, g, n); BUF(4, gs, 2); ARGS(5, a); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
        ok &= run("it_adamw_update_f32");
        dispatch(); BUF(0, p, n); BUF(1, m, n); BUF(2, g, n); BUF(3, gs, 2); ARGS(4, a); itemu_set_threads(&g_d, (unsigned)n, 1, 1, 256, 1, 1);
        ok &= run("it_sgd_update_f32");
        e = max_err(p, p1, n);
        if (max_err(m, m1, n) > e) e = max_err(m, m1, n);
        if (max_err(v, v1, n) > e) e = max_err(v, v1, n);
        result("it_sgd_update_f32", ok, e, 0.0); /* skip flag: all three kernels */
    }
    tfree_all();
}
static void test_grad_norm(void) {
    const size_t n = 5003;
    const unsigned G = 7;
    float *x = frandn(n, 1.0f), *partials = fzeros(G), *out = fzeros(3);
    it_grad_norm_args a = {(unsigned)n, G, 0.0f, 0.5f};
    /* expected values computed the way it_optimizer_step does (norm of the scaled gradient) */
    double norm = sqrt(it_cpu_sum_squares(x, n)) * a.extra_scale, e;
    int ok;
    dispatch(); BUF(0, partials, G); BUF(1, x, n); ARGS(2, a); itemu_set_threadgroups(&g_d, G, 1, 1, 96, 1, 1);
    ok = run("it_sum_squares_partial_f32");
    a.max_norm = (float)(norm / 3.0);
    dispatch(); BUF(0, out, 3); BUF(1, partials, G); ARGS(2, a); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
    ok &= run("it_grad_clip_scale_f32");
    e = fabs(out[0] - norm) / norm;
    result("it_sum_squares_partial_f32", ok, e, TOL);
    e = fabs(out[1] - a.extra_scale * (norm / 3.0) / norm) / (0.5 / 3.0);
    result("it_grad_clip_scale_f32", ok, e, TOL);
    a.max_norm = (float)(norm * 2.0); /* no clipping: only the extra scale */
    dispatch(); BUF(0, out, 3); BUF(1, partials, G); ARGS(2, a); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
    ok = run("it_grad_clip_scale_f32");
    result("it_grad_clip_scale_f32", ok, fabs(out[1] - 0.5) + out[2], TOL);
    /* a non-finite gradient value (Inf, then NaN) in the middle: skip = 1, scale 0, norm +Inf */
    {
        int k;
        for (k = 0; k < 2; k++) {
            x[2501] = k == 0 ? INFINITY : NAN;
            dispatch(); BUF(0, partials, G); BUF(1, x, n); ARGS(2, a); itemu_set_threadgroups(&g_d, G, 1, 1, 96, 1, 1);
            ok = run("it_sum_squares_partial_f32");
            dispatch(); BUF(0, out, 3); BUF(1, partials, G); ARGS(2, a); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
            ok &= run("it_grad_clip_scale_f32");
            result("it_grad_clip_scale_f32", ok && out[2] == 1.0f && out[1] == 0.0f && isinf(out[0]), 0.0, 0.0);
        }
    }
    tfree_all();
}

/* ---- negative tests: the emulator must catch these --------------------------------------------- */
static int run_expect_fail(const char *name, const char *needle, const char *needle2, itemu_options *o) {
    itemu_report rep;
    const itemu_kernel *k = itemu_kernel_find(name);
    int ok = k ? itemu_run(k, &g_d, o ? o : &g_opt, &rep) : 1;
    int caught = k && !ok && strstr(rep.msg, needle) && (!needle2 || strstr(rep.msg, needle2));
    printf("  %s -> %s\n", name, k ? (ok ? "ran cleanly" : rep.msg) : "missing");
    return caught;
}
static void test_negative(void) {
    float *out = fzeros(256), *down = fzeros(64);
    unsigned n = 100;
    int i, wrong_orders = 0, order_runs = 0;
    static const int orders[] = {0, 1, 7};
    for (i = 0; i < 3; i++) { /* a missing barrier shows up as NaN / wrong values in some order */
        itemu_options o = g_opt;
        int j, wrong = 0;
        o.order = orders[i];
        dispatch(); BUF(0, out, 256); itemu_set_threadgroups(&g_d, 1, 1, 1, 256, 1, 1);
        order_runs += itemu_run(itemu_kernel_find("itbad_missing_barrier"), &g_d, &o, NULL);
        for (j = 0; j < 256; j++) wrong += out[j] != (float)((j + 1) % 256);
        printf("  itbad_missing_barrier, order %d -> %d/256 outputs wrong\n", orders[i], wrong);
        wrong_orders += wrong > 0;
    }
    check(order_runs == 3 && wrong_orders >= 2, "missing barrier exposed by NaN-poisoned threadgroup memory");
    dispatch(); BUF(0, out, 256); ARGS(1, n); itemu_set_threadgroups(&g_d, 1, 1, 1, 256, 1, 1);
    check(run_expect_fail("itbad_return_before_barrier", "already returned", "bad_kernels.metal:", NULL), "early return before a barrier reported with its .metal line");
    dispatch(); BUF(0, out, 64); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
    check(run_expect_fail("itbad_divergent_barrier", "divergent", "bad_kernels.metal:", NULL), "barrier in divergent control flow reported");
    dispatch(); BUF(0, out, 64); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
    check(run_expect_fail("itbad_unbound", "'in'", "not bound", NULL), "unbound [[buffer(1)]] reported with the parameter name");
    dispatch(); BUF(0, out, 64); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
    check(run_expect_fail("itbad_oob", "out-of-bounds", "bad_kernels.metal:", NULL), "device buffer overrun reported with kernel name and .metal line");
    dispatch(); BUF(0, out, 256); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
    check(run_expect_fail("itbad_tg_too_big", "32 KiB", "bad_kernels.metal:", NULL), "threadgroup memory over 32 KiB reported");
    dispatch(); BUF(0, out, 4); itemu_set_threadgroups(&g_d, 1, 1, 1, 2, 1, 1);
    check(run_expect_fail("itbad_stack_overflow", "stack overflow", NULL, NULL), "fiber stack overflow reported (not a crash)");
    dispatch(); BUF(0, out, 64); itemu_set_threadgroups(&g_d, 1, 1, 1, 2048, 1, 1);
    check(run_expect_fail("itok_partial_simd", "1..1024", NULL, NULL), "more than 1024 threads per threadgroup rejected");
    {
        int good;
        dispatch(); BUF(0, out, 64); BUF(1, down, 64); itemu_set_threadgroups(&g_d, 1, 1, 1, 64, 1, 1);
        good = run("itok_partial_simd");
        for (i = 0; i < 64; i++) {
            int lane = i % 32;
            good &= out[i] == (lane < 16 ? 16.0f : -1.0f);
            good &= down[i] == (float)(lane + 4 < 32 ? lane + 4 : lane);
        }
        check(good, "simd_sum over a divergent half-simdgroup (partial mask), simd_shuffle_down edges");
    }
    tfree_all();
}

static void check_coverage(void) {
    int i, j, missing = 0, total = 0;
    for (i = 0; i < itemu_kernel_count(); i++) {
        const itemu_kernel *k = itemu_kernel_at(i);
        int found = 0;
        if (strncmp(k->file, "shaders/", 8) != 0) continue;
        total++;
        for (j = 0; j < g_ntested; j++) found |= !strcmp(g_tested[j], k->name);
        if (!found) {
            printf("kernel %s (%s:%d) has NO TEST\n", k->name, k->file, k->line);
            missing++;
        }
    }
    printf("%d kernels in shaders/, %d without a test\n", total, missing);
    check(missing == 0 && total > 0, "every kernel in shaders/ is tested");
}

#include "test_backend_kernels.inc" /* the glue kernels irontensor_metal.h adds (shaders/backend.metal) */
#include "test_decode_kernels.inc"  /* the KV-cache decoder's kernels (shaders/decode.metal) */
#include "test_bf16_kernels.inc"    /* the bf16 operands' conversion (shaders/bf16.metal) */
#include "test_lora_kernels.inc"    /* the LoRA branch (shaders/lora.metal) */
#include "test_attention_scores_kernels.inc" /* attention as products: the CUDA backend's row steps */
#include "test_simdgroup_matrix.inc" /* the emulator's simdgroup matrices against plain loops, and their misuse */

int main(void) {
    double t0 = now_ms();
    setvbuf(stdout, NULL, _IOLBF, 0); /* a sanitizer abort keeps the lines printed so far */
    itemu_default_options(&g_opt);
    it_rng_seed(&g_rng, 20240611u);
    printf("emulator: %d kernels registered; fiber order %d, threadgroup order seed %u\n", itemu_kernel_count(), g_opt.order, g_opt.group_seed);
    test_elementwise();
    test_activation("it_silu_forward_f32", "it_silu_backward_f32", it_cpu_silu_forward, it_cpu_silu_backward);
    test_activation("it_gelu_forward_f32", "it_gelu_backward_f32", it_cpu_gelu_forward, it_cpu_gelu_backward);
    test_swiglu();
    test_embedding();
    test_rmsnorm(7, 203, 80); /* 80 threads: a partial last simdgroup */
    test_rmsnorm(3, 1000, 256);
    test_rmsnorm(1000, 37, 64); /* 16 row blocks for dw, the last one partial */
    test_layernorm(6, 150, 96, 1);
    test_layernorm(4, 77, 32, 0);
    test_layernorm(1000, 45, 64, 1);
    test_layernorm(300, 19, 32, 0);
    test_sum_rows(17, 59, 0);     /* one block: straight into db */
    test_sum_rows(17, 59, 5);     /* 4 blocks, the last one of 2 rows */
    test_sum_rows(1000, 37, 0);   /* the backends' 64-row blocks */
    test_sum_rows(66000, 5, 0);   /* past 1024 blocks of 64: taller blocks (65 rows, 1016 blocks) */
    test_softmax();
    test_rope();
    test_attention(2, 37, 4, 2, 16, 0);
    test_attention(1, 9, 3, 1, 64, 0);
    test_attention(1, 70, 2, 2, 40, 0);
    test_attention(2, 45, 4, 2, 16, 7);  /* a sliding window shorter than a key tile */
    test_attention(1, 70, 2, 1, 24, 40); /* ... and longer than one */
    test_paged_attention(7, 4, 2, 16, 16, 0);
    test_paged_attention(5, 3, 1, 64, 5, 0);
    test_paged_attention(6, 2, 2, 40, 1, 9); /* one-token blocks, a sliding window */
    test_matmul(37, 45, 29, 0, 0, 0, 1, 0);
    test_matmul(37, 45, 29, 1, 0, 1, 1, 0);
    test_matmul(33, 17, 40, 0, 1, 0, 2, 0);
    test_matmul(5, 70, 19, 1, 1, 1, 1, 0);
    test_matmul(37, 45, 29, 0, 1, 0, 1, 1); /* bf16 operands, fp32 sums: against the rounded operands */
    test_matmul(33, 17, 40, 1, 0, 1, 2, 1);
    test_matmul(37, 45, 29, 0, 0, 0, 1, 2); /* the simdgroup-matrix kernel: every transpose, edges, a batch */
    test_matmul(37, 45, 29, 0, 1, 1, 1, 2);
    test_matmul(33, 17, 40, 1, 0, 1, 2, 2);
    test_matmul(5, 70, 19, 1, 1, 0, 1, 2);
    test_matmul(64, 64, 48, 0, 1, 0, 1, 2); /* whole tiles only */
    test_simdgroup_matrix();
    test_cross_entropy();
    test_optimizers();
    test_grad_norm();
    test_backend_kernels();
    test_decode_kernels();
    test_bf16_kernels();
    test_lora_kernels();
    test_attention_scores_kernels();
    print_results();
    if (!getenv("ITEMU_CUDA")) /* the emulator's own diagnostics: tests/cuda/itemu_cuda.c runs the suite on a GPU */
        test_negative();
    check_coverage();
    printf("emulator suite: %.2f s\n", (now_ms() - t0) * 1e-3);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
