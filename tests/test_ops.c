/* Graph-op tests: every op of the graph API, run through it_graph_run on the CPU backend.
   For each case the op's output O is multiplied by a fixed random tensor R and summed, so the
   loss L = sum(R * O) sends a non-trivial upstream gradient into the op. Then:
     1. forward: O against a naive double-precision loop implementation written here;
     2. backward: it_grad() of every float input (it_input activations and it_param weights)
        against central finite differences of the same double-precision reference loss;
     3. tensors feeding several nodes (x used twice, tied embeddings, views) accumulate correctly;
     4. every case runs on a 1-thread and a 3-thread context and must be bit-identical (the CPU
        backend promises disjoint output partitions and fixed-order reductions); the large
        cases (finite differences at sampled coordinates) are sized past the backend's threading
        thresholds so the pool really splits work.
   The cases are data: each op group is a static table (of tcase, or of a shape struct where one
   geometry fans out into several tensors), written with designated initialisers, so a case reads
   as its shapes and parameters. Adding a case is adding a row.
   The direct it_cpu_* kernels, sampling, optimizers, bf16 and rng live in test_ops_cpu.c. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#define MAXF 6 /* float tensors per case */
#define MAXI 2 /* int tensors per case */
#define FWD_RTOL 1e-5
#define GRAD_RTOL 1e-3
#define FD_H 1e-5

/* ---- cases: each group of ops is a static table of these, written with designated initialisers ---- */
typedef struct tcase tcase;
typedef it_tensor *(*build_fn)(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c);
typedef void (*ref_fn)(const tcase *c, double *const *f, int32_t *const *ids, double *out);

/* A float tensor of a case: shape `dims` (outermost first; a 0 ends the shape), an it_param when
   `param` is 1 and an it_input otherwise, values shift + scale * uniform[-1, 1) (scale 0 means 1). */
typedef struct fspec {
    int dims[4];
    int param;
    double scale, shift;
} fspec;
/* An i32 tensor: ids uniform in [0, limit); with ignore_every k, the entries 1, 1 + k, 1 + 2k, ...
   hold the case's `ignore` value instead. packed: the positions of packed rows instead
   (it_attention_packed): each row of the last dim a run of examples of random lengths 1 .. limit,
   each counting 0, 1, 2, ... */
typedef struct ispec {
    int dims[4];
    int limit, ignore_every, packed;
} ispec;

struct tcase {
    const char *name;
    build_fn build; /* the graph: out = op(f..., ids...) */
    ref_fn ref;     /* the same in double-precision loops */
    fspec f[MAXF];  /* float tensors in argument order; the first with no dims ends the list */
    ispec i[MAXI];  /* int tensors, likewise */
    int ip[4];      /* op integer parameters */
    double dp[4];   /* op float parameters (stored as the float the library sees) */
    int ignore;     /* the id written at the ignored positions of int tensors */
    int fd_samples; /* 0 = finite differences at every coordinate, else this many per float tensor
                       (the large cases, sized past the backend's threading thresholds) */
};

static int rank_of(const int *dims) {
    int n = 0;
    while (n < 4 && dims[n]) n++;
    return n;
}
static int f_count(const tcase *c) {
    int j = 0;
    while (j < MAXF && c->f[j].dims[0]) j++;
    return j;
}
static int i_count(const tcase *c) {
    int j = 0;
    while (j < MAXI && c->i[j].dims[0]) j++;
    return j;
}
static int fnd(const tcase *c, int j) { return rank_of(c->f[j].dims); }
static size_t numel_of(const int *dims) {
    size_t n = 1;
    int i, nd = rank_of(dims);
    for (i = 0; i < nd; i++) n *= (size_t)dims[i];
    return n;
}
static size_t fnum(const tcase *c, int j) { return numel_of(c->f[j].dims); }
static size_t inum(const tcase *c, int j) { return numel_of(c->i[j].dims); }
static int flast(const tcase *c, int j) { return c->f[j].dims[fnd(c, j) - 1]; }

/* ---- the driver ---- */
typedef struct run_result {
    it_result status;
    size_t nout;
    float *out, *grad[MAXF], *rgrad, loss;
    int has_grad[MAXF];
} run_result;

typedef struct case_data {
    float *f[MAXF];
    int32_t *ids[MAXI];
    float *r;
} case_data;

static void make_data(const tcase *c, case_data *d, size_t nout, uint64_t seed) {
    int j;
    size_t i;
    it_test_rng_state = seed;
    for (j = 0; j < f_count(c); j++) {
        size_t n = fnum(c, j);
        double scale = c->f[j].scale != 0.0 ? c->f[j].scale : 1.0;
        d->f[j] = (float *)malloc(n * sizeof(float));
        for (i = 0; i < n; i++) d->f[j][i] = (float)(c->f[j].shift + scale * (2.0 * it_test_uniform() - 1.0));
    }
    for (j = 0; j < i_count(c); j++) {
        size_t n = inum(c, j), every = (size_t)c->i[j].ignore_every;
        d->ids[j] = (int32_t *)malloc(n * sizeof(int32_t));
        if (c->i[j].packed) { /* examples of 1 .. limit tokens, restarting at every row */
            size_t T = (size_t)c->i[j].dims[rank_of(c->i[j].dims) - 1];
            int len = 0, at = 0;
            for (i = 0; i < n; i++) {
                if (i % T == 0 || at == len) len = 1 + it_test_below(c->i[j].limit), at = 0;
                d->ids[j][i] = at++;
            }
            continue;
        }
        for (i = 0; i < n; i++) d->ids[j][i] = (every && i % every == 1) ? c->ignore : it_test_below(c->i[j].limit);
    }
    d->r = (float *)malloc(nout * sizeof(float));
    for (i = 0; i < nout; i++) d->r[i] = (float)(2.0 * it_test_uniform() - 1.0);
}
static void free_data(const tcase *c, case_data *d) {
    int j;
    for (j = 0; j < f_count(c); j++) free(d->f[j]);
    for (j = 0; j < i_count(c); j++) free(d->ids[j]);
    free(d->r);
}
static void free_result(run_result *r) {
    int j;
    free(r->out);
    free(r->rgrad);
    for (j = 0; j < MAXF; j++) free(r->grad[j]);
    memset(r, 0, sizeof *r);
}

/* The case's float tensors (parameters in ctx, inputs in g) and int tensors, named f0.. and i0.. */
static void declare_case_tensors(it_context *ctx, it_graph *g, const tcase *c, it_tensor **f, it_tensor **ids) {
    char name[16];
    int j;
    for (j = 0; j < f_count(c); j++) {
        const int *dims = c->f[j].dims;
        snprintf(name, sizeof name, "f%d", j);
        f[j] = c->f[j].param ? it_param(ctx, name, rank_of(dims), dims) : it_input(g, name, IT_F32, rank_of(dims), dims);
    }
    for (j = 0; j < i_count(c); j++) {
        snprintf(name, sizeof name, "i%d", j);
        ids[j] = it_input(g, name, IT_I32, rank_of(c->i[j].dims), c->i[j].dims);
    }
}
static size_t case_nout(const tcase *c) {
    it_context *ctx;
    it_context_desc desc;
    it_tensor *f[MAXF], *ids[MAXI], *out;
    it_graph *g;
    size_t n;
    memset(&desc, 0, sizeof desc);
    desc.n_threads = 1;
    it_context_create(&desc, &ctx);
    g = it_graph_create(ctx);
    declare_case_tensors(ctx, g, c, f, ids);
    out = c->build(g, f, ids, c);
    n = it_tensor_numel(out);
    it_context_destroy(ctx);
    return n;
}

/* Builds out = op(...), loss = sum(out * R), runs forward + backward once, copies results out. */
static void run_case(const tcase *c, const case_data *d, int n_threads, run_result *res) {
    it_context *ctx;
    it_context_desc desc;
    it_tensor *f[MAXF], *ids[MAXI], *out, *r, *loss;
    it_graph *g;
    int j, dims[IT_MAX_DIMS];
    memset(res, 0, sizeof *res);
    memset(&desc, 0, sizeof desc);
    desc.n_threads = n_threads;
    if (it_context_create(&desc, &ctx) != IT_OK) {
        res->status = IT_ERR_OUT_OF_MEMORY;
        return;
    }
    g = it_graph_create(ctx);
    declare_case_tensors(ctx, g, c, f, ids);
    out = it_keep(c->build(g, f, ids, c));
    for (j = 0; j < it_tensor_ndim(out); j++) dims[j] = it_tensor_dim(out, j);
    r = it_input(g, "R", IT_F32, it_tensor_ndim(out), dims);
    loss = it_sum(g, it_mul(g, out, r));
    it_graph_backward(g, loss);
    res->status = it_graph_plan(g);
    if (res->status != IT_OK) {
        it_context_destroy(ctx);
        return;
    }
    for (j = 0; j < f_count(c); j++) memcpy(it_data(f[j]), d->f[j], fnum(c, j) * sizeof(float));
    for (j = 0; j < i_count(c); j++) memcpy(it_data_i32(ids[j]), d->ids[j], inum(c, j) * sizeof(int32_t));
    res->nout = it_tensor_numel(out);
    memcpy(it_data(r), d->r, res->nout * sizeof(float));
    it_zero_grads(ctx);
    res->status = it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
    res->out = (float *)malloc(res->nout * sizeof(float));
    memcpy(res->out, it_data(out), res->nout * sizeof(float));
    res->rgrad = (float *)malloc(res->nout * sizeof(float));
    memcpy(res->rgrad, it_grad(r), res->nout * sizeof(float));
    res->loss = it_data(loss)[0];
    for (j = 0; j < f_count(c); j++) {
        float *gr = it_grad(f[j]);
        res->has_grad[j] = gr != NULL;
        res->grad[j] = (float *)calloc(fnum(c, j), sizeof(float));
        if (gr) memcpy(res->grad[j], gr, fnum(c, j) * sizeof(float));
    }
    it_context_destroy(ctx);
}

/* Reference loss sum(R * ref(x)) in double. */
static double ref_loss(const tcase *c, double *const *fd, int32_t *const *ids, const float *r, double *scratch,
                       size_t nout) {
    double s = 0.0;
    size_t i;
    c->ref(c, fd, ids, scratch);
    for (i = 0; i < nout; i++) s += (double)r[i] * scratch[i];
    return s;
}

static double maxabs_d(const double *x, size_t n) {
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* One CHECK per compared tensor: all elements within atol + rtol |want|, reporting the worst. */
static void check_tensor(const char *cname, const char *what, const float *got, const double *want, size_t n,
                         double rtol, double atol) {
    size_t i, worst = 0, bad = 0;
    double worst_excess = -1.0;
    for (i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]), lim = atol + rtol * fabs(want[i]);
        if (!(err <= lim)) bad++;
        if (!(err - lim <= worst_excess)) {
            worst_excess = err - lim;
            worst = i;
        }
    }
    CHECK(bad == 0, "%s: %s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g (rtol %g atol %g)", cname, what,
          bad, n, worst, n ? (double)got[worst] : 0.0, n ? want[worst] : 0.0, rtol, atol);
}

static void check_case(const tcase *c, uint64_t seed) {
    case_data d;
    run_result r1, r3;
    size_t nout = case_nout(c), i;
    double *fd[MAXF], *out_ref, *scratch, loss_ref;
    int j;
    char what[64];
    make_data(c, &d, nout, seed);
    run_case(c, &d, 1, &r1);
    run_case(c, &d, 3, &r3);
    CHECK(r1.status == IT_OK && r3.status == IT_OK, "%s: run failed: %s / %s", c->name, it_result_string(r1.status),
          it_result_string(r3.status));
    if (r1.status != IT_OK || r3.status != IT_OK) goto done;
    CHECK(r1.nout == nout, "%s: output numel %zu, expected %zu", c->name, r1.nout, nout);

    /* 1. forward against the double reference (inputs are the exact floats the library saw) */
    for (j = 0; j < f_count(c); j++) {
        size_t n = fnum(c, j);
        fd[j] = (double *)malloc(n * sizeof(double));
        for (i = 0; i < n; i++) fd[j][i] = d.f[j][i];
    }
    out_ref = (double *)malloc(nout * sizeof(double));
    scratch = (double *)malloc(nout * sizeof(double));
    c->ref(c, fd, d.ids, out_ref);
    check_tensor(c->name, "forward", r1.out, out_ref, nout, FWD_RTOL, 1e-5 * maxabs_d(out_ref, nout) + 1e-7);
    loss_ref = ref_loss(c, fd, d.ids, d.r, scratch, nout);
    {
        double lw = 0.0;
        for (i = 0; i < nout; i++) lw += fabs(d.r[i] * out_ref[i]);
        CHECK_CLOSE(r1.loss, loss_ref, FWD_RTOL, 1e-5 * lw + 1e-7, c->name);
    }
    /* d(loss)/dR is the op output itself: mul's backward times d(sum) = 1, exactly */
    {
        size_t bad = 0, first = 0;
        for (i = 0; i < nout; i++)
            if (memcmp(&r1.rgrad[i], &r1.out[i], sizeof(float)) != 0 && !bad++) first = i;
        CHECK(bad == 0, "%s: dL/dR differs from the output at %zu of %zu elements; [%zu] %.9g vs %.9g", c->name, bad,
              nout, first, (double)r1.rgrad[first], (double)r1.out[first]);
    }

    /* 2. backward against central differences of the double reference loss */
    for (j = 0; j < f_count(c); j++) {
        size_t n = fnum(c, j), k, count = c->fd_samples && (size_t)c->fd_samples < n ? (size_t)c->fd_samples : n;
        double *want = (double *)malloc(count * sizeof(double));
        float *got = (float *)malloc(count * sizeof(float));
        CHECK(r1.has_grad[j], "%s: float tensor %d has no gradient", c->name, j);
        it_test_rng_state = seed ^ 0xABCDEFull ^ (uint64_t)j;
        for (k = 0; k < count; k++) {
            size_t idx = count == n ? k : (k == 0 ? 0 : k == 1 ? n - 1 : (size_t)it_test_below((int)n));
            double keep = fd[j][idx], lp, lm;
            fd[j][idx] = keep + FD_H;
            lp = ref_loss(c, fd, d.ids, d.r, scratch, nout);
            fd[j][idx] = keep - FD_H;
            lm = ref_loss(c, fd, d.ids, d.r, scratch, nout);
            fd[j][idx] = keep;
            want[k] = (lp - lm) / (2.0 * FD_H);
            got[k] = r1.grad[j][idx];
        }
        snprintf(what, sizeof what, "d/d%s%d vs finite differences", c->f[j].param ? "param" : "input", j);
        check_tensor(c->name, what, got, want, count, GRAD_RTOL, 1e-4 * (maxabs_d(want, count) > 1 ? maxabs_d(want, count) : 1.0));
        free(want);
        free(got);
    }

    /* 4. 1 thread vs 3 threads: bit-identical output and gradients */
    {
        int same = memcmp(r1.out, r3.out, nout * sizeof(float)) == 0, which = -1;
        for (j = 0; j < f_count(c); j++)
            if (memcmp(r1.grad[j], r3.grad[j], fnum(c, j) * sizeof(float)) != 0) {
                same = 0;
                which = j;
            }
        CHECK(same, "%s: 1-thread and 3-thread results differ (%s)", c->name, which < 0 ? "forward output" : "gradient");
    }

    for (j = 0; j < f_count(c); j++) free(fd[j]);
    free(out_ref);
    free(scratch);
done:
    free_result(&r1);
    free_result(&r3);
    free_data(c, &d);
}

/* ---- group bookkeeping: one line per op group ---- */
static int g_passed, g_failed, g_cases;
static uint64_t g_seed = 1000;
static void group_begin(void) {
    g_passed = it_test_passed;
    g_failed = it_test_failed;
    g_cases = 0;
}
static void group_end(const char *name) {
    printf("%-34s %3d cases %4d checks  %s\n", name, g_cases, it_test_passed - g_passed + it_test_failed - g_failed,
           it_test_failed == g_failed ? "ok" : "FAILED");
    fflush(stdout);
}
static void run(const tcase *c) {
    g_cases++;
    check_case(c, g_seed++);
}
/* Every case of a table, in order; a case without its own build / ref uses the group's. */
static void run_table(const tcase *cases, size_t n, build_fn build, ref_fn ref) {
    size_t k;
    for (k = 0; k < n; k++) {
        tcase c = cases[k];
        if (!c.build) c.build = build;
        if (!c.ref) c.ref = ref;
        run(&c);
    }
}
#define RUN_TABLE(cases, build, ref) run_table(cases, sizeof cases / sizeof cases[0], build, ref)

/* ================================================================================================
   Reference implementations (double, straightforward loops) and graph builders
================================================================================================ */

/* --- matmul: ip[0] = trans_a, ip[1] = trans_b; f0 = a, f1 = b --- */
static void ref_matmul(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    const int *ad = c->f[0].dims, *bd = c->f[1].dims;
    int an = fnd(c, 0), bn = fnd(c, 1), ta = c->ip[0], tb = c->ip[1];
    int M = ta ? ad[an - 1] : ad[an - 2], K = ta ? ad[an - 2] : ad[an - 1], N = tb ? bd[bn - 2] : bd[bn - 1];
    size_t batch = fnum(c, 0) / ((size_t)M * K), bi;
    int m, n, k, shared = bn == 2;
    (void)ids;
    for (bi = 0; bi < batch; bi++)
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) {
                double s = 0.0;
                for (k = 0; k < K; k++) {
                    double av = f[0][bi * M * K + (ta ? (size_t)k * M + m : (size_t)m * K + k)];
                    double bv = f[1][(shared ? 0 : bi * K * N) + (tb ? (size_t)n * K + k : (size_t)k * N + n)];
                    s += av * bv;
                }
                out[(bi * M + m) * N + n] = s;
            }
}
static it_tensor *build_matmul(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_matmul(g, f[0], f[1], c->ip[0], c->ip[1]);
}
/* a [lead..., M, K] ([lead..., K, M] with trans_a); b [K, N] ([N, K] with trans_b) shared by every
   leading index, or batched_b: [lead..., K, N], one matrix per leading index */
typedef struct matmul_shape {
    int lead[2], M, K, N;
    int batched_b, b_param;
    int ta, tb; /* the transposes of the large cases (the small ones run all four) */
    int fd_samples;
} matmul_shape;
static const matmul_shape matmul_small[] = {
    {.M = 3, .K = 5, .N = 4, .b_param = 1},
    {.M = 1, .K = 17, .N = 3, .b_param = 1},
    {.M = 17, .K = 1, .N = 2, .b_param = 1},
    {.M = 4, .K = 3, .N = 1, .b_param = 1},
    {.lead = {2, 3}, .M = 3, .K = 4, .N = 5, .batched_b = 1},   /* batched, same-rank b (both inputs) */
    {.lead = {3}, .M = 1, .K = 5, .N = 3, .batched_b = 1},      /* batched with M = 1 */
    {.lead = {2}, .M = 3, .K = 5, .N = 4, .b_param = 1},        /* 3-D a, shared 2-D weight b */
    {.lead = {2, 3}, .M = 17, .K = 3, .N = 2, .b_param = 1},    /* 4-D a, shared b: trans_a with leading dims */
};
/* past the backend's gemm threshold (M N K >= 2^20) so 3 threads split the tile grid; sizes that
   are not multiples of any micro-tile, K beyond one 256-deep block, and M < 4 with trans_b (the
   few-rows path) */
static const matmul_shape matmul_large[] = {
    {.lead = {2}, .M = 100, .K = 96, .N = 120, .b_param = 1, .tb = 1, .fd_samples = 24}, /* a linear layer, folded M = 200 */
    {.lead = {2}, .M = 100, .K = 96, .N = 121, .b_param = 1, .ta = 1, .fd_samples = 24}, /* trans_a with a shared b */
    {.lead = {2}, .M = 101, .K = 130, .N = 90, .batched_b = 1, .fd_samples = 24},
    {.lead = {2}, .M = 99, .K = 130, .N = 91, .batched_b = 1, .ta = 1, .tb = 1, .fd_samples = 24},
    {.M = 37, .K = 300, .N = 101, .b_param = 1, .fd_samples = 24},        /* K = 300 > 256 */
    {.M = 3, .K = 600, .N = 701, .b_param = 1, .tb = 1, .fd_samples = 24}, /* few rows, trans_b */
    /* between the old and new thresholds */
    {.lead = {2}, .M = 40, .K = 48, .N = 36, .b_param = 1, .tb = 1, .fd_samples = 24},
    {.lead = {2}, .M = 64, .K = 48, .N = 40, .b_param = 1, .ta = 1, .fd_samples = 24},
};
static void matmul_case(const matmul_shape *s, int ta, int tb) {
    int nlead = s->lead[0] ? (s->lead[1] ? 2 : 1) : 0, i = 0, k;
    tcase c = {.name = s->batched_b ? "matmul batched" : (nlead ? "matmul shared-b" : "matmul 2-D"),
               .build = build_matmul,
               .ref = ref_matmul,
               .ip = {ta, tb},
               .fd_samples = s->fd_samples};
    for (k = 0; k < nlead; k++) c.f[0].dims[i++] = s->lead[k];
    c.f[0].dims[i] = ta ? s->K : s->M;
    c.f[0].dims[i + 1] = ta ? s->M : s->K;
    i = 0;
    if (s->batched_b)
        for (k = 0; k < nlead; k++) c.f[1].dims[i++] = s->lead[k];
    c.f[1].dims[i] = tb ? s->N : s->K;
    c.f[1].dims[i + 1] = tb ? s->K : s->N;
    c.f[1].param = s->b_param;
    run(&c);
}
static void test_matmul(void) {
    size_t s;
    int ta, tb;
    group_begin();
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (s = 0; s < sizeof matmul_small / sizeof matmul_small[0]; s++) matmul_case(&matmul_small[s], ta, tb);
    for (s = 0; s < sizeof matmul_large / sizeof matmul_large[0]; s++)
        matmul_case(&matmul_large[s], matmul_large[s].ta, matmul_large[s].tb);
    group_end("matmul (4 transposes, batched, shared b)");
}

/* --- add / mul: ip[0] = 1 for mul; b equals a or is a suffix of it --- */
static void ref_binary(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t na = fnum(c, 0), nb = fnum(c, 1), i;
    (void)ids;
    for (i = 0; i < na; i++) out[i] = c->ip[0] ? f[0][i] * f[1][i % nb] : f[0][i] + f[1][i % nb];
}
static it_tensor *build_binary(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return c->ip[0] ? it_mul(g, f[0], f[1]) : it_add(g, f[0], f[1]);
}
/* b has the last b_rank dims of a */
typedef struct binary_shape {
    int a[4], b_rank, b_param, fd_samples;
} binary_shape;
static const binary_shape binary_shapes[] = {
    {.a = {3, 17}, .b_rank = 2}, /* same shape */
    {.a = {1}, .b_rank = 1},     /* a single element */
    {.a = {2, 3, 5}, .b_rank = 3},
    {.a = {2, 3, 5}, .b_rank = 1, .b_param = 1}, /* bias-like suffix */
    {.a = {2, 3, 5}, .b_rank = 2, .b_param = 1},
    {.a = {2, 1, 3, 4}, .b_rank = 2},
    {.a = {128, 300}, .b_rank = 1, .b_param = 1, .fd_samples = 24}, /* rows and columns past the thread threshold */
};
static void test_add_mul(void) {
    size_t s;
    int mul, k;
    group_begin();
    for (mul = 0; mul < 2; mul++)
        for (s = 0; s < sizeof binary_shapes / sizeof binary_shapes[0]; s++) {
            const binary_shape *b = &binary_shapes[s];
            int na = rank_of(b->a);
            tcase c = {.name = mul ? "mul" : "add", .build = build_binary, .ref = ref_binary, .ip = {mul},
                       .fd_samples = b->fd_samples};
            memcpy(c.f[0].dims, b->a, sizeof b->a);
            for (k = 0; k < b->b_rank; k++) c.f[1].dims[k] = b->a[na - b->b_rank + k];
            c.f[1].param = b->b_param;
            run(&c);
        }
    group_end("add, mul (same shape, suffix broadcast)");
}

/* --- scale: dp[0] --- */
static void ref_scale(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t i;
    (void)ids;
    for (i = 0; i < fnum(c, 0); i++) out[i] = c->dp[0] * f[0][i];
}
static it_tensor *build_scale(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_scale(g, f[0], (float)c->dp[0]);
}
static const tcase scale_cases[] = {
    {.name = "scale", .f = {{.dims = {3, 7}}}, .dp = {-1.75}},
    {.name = "scale", .f = {{.dims = {1}, .param = 1}}, .dp = {0.3f}},
    {.name = "scale large", .f = {{.dims = {5000}}}, .dp = {2.5}, .fd_samples = 24},
};
static void test_scale(void) {
    group_begin();
    RUN_TABLE(scale_cases, build_scale, ref_scale);
    group_end("scale");
}

/* --- embedding: f0 table [V, C] (param), i0 ids --- */
static void ref_embedding(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = c->f[0].dims[1];
    size_t n, N = inum(c, 0);
    int k;
    for (n = 0; n < N; n++)
        for (k = 0; k < C; k++) out[n * C + k] = f[0][(size_t)ids[0][n] * C + k];
}
static it_tensor *build_embedding(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)c;
    return it_embedding(g, f[0], ids[0]);
}
static const tcase embedding_cases[] = {
    /* ids from a few rows only: repeated ids accumulate */
    {.name = "embedding", .f = {{.dims = {11, 5}, .param = 1}}, .i = {{.dims = {2, 3}, .limit = 4}}},
    {.name = "embedding", .f = {{.dims = {1, 3}, .param = 1}}, .i = {{.dims = {5}, .limit = 1}}},       /* V = 1 */
    {.name = "embedding", .f = {{.dims = {17, 1}, .param = 1}}, .i = {{.dims = {2, 3, 2}, .limit = 17}}}, /* C = 1, 3-D ids */
    /* an it_input table gets a gradient too */
    {.name = "embedding input table", .f = {{.dims = {7, 4}}}, .i = {{.dims = {9}, .limit = 7}}},
    {.name = "embedding large", .f = {{.dims = {50, 64}, .param = 1}}, .i = {{.dims = {600}, .limit = 50}}, .fd_samples = 32},
};
static void test_embedding(void) {
    group_begin();
    RUN_TABLE(embedding_cases, build_embedding, ref_embedding);
    group_end("embedding");
}

/* --- rmsnorm / layernorm: f0 x, f1 w, (f2 b); dp[0] eps; ip[0] = 1 for layernorm --- */
static void ref_norm(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = flast(c, 0), k;
    size_t rows = fnum(c, 0) / (size_t)C, r;
    (void)ids;
    for (r = 0; r < rows; r++) {
        const double *x = f[0] + r * C;
        double m = 0.0, v = 0.0, rs;
        if (c->ip[0]) {
            for (k = 0; k < C; k++) m += x[k];
            m /= C;
            for (k = 0; k < C; k++) v += (x[k] - m) * (x[k] - m);
            rs = 1.0 / sqrt(v / C + c->dp[0]);
            for (k = 0; k < C; k++) out[r * C + k] = (x[k] - m) * rs * f[1][k] + (f_count(c) > 2 ? f[2][k] : 0.0);
        } else {
            for (k = 0; k < C; k++) v += x[k] * x[k];
            rs = 1.0 / sqrt(v / C + c->dp[0]);
            for (k = 0; k < C; k++) out[r * C + k] = x[k] * rs * f[1][k];
        }
    }
}
static it_tensor *build_norm(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    if (c->ip[0]) return it_layernorm(g, f[0], f[1], f_count(c) > 2 ? f[2] : NULL, (float)c->dp[0]);
    return it_rmsnorm(g, f[0], f[1], (float)c->dp[0]);
}
/* x [..., C] with a non-zero mean for layernorm to remove, w [C] around 1, b [C] */
typedef struct norm_shape {
    int layer, bias; /* rmsnorm, layernorm, layernorm + bias */
    int x[4];
    float eps;
    int fd_samples;
} norm_shape;
static const norm_shape norm_shapes[] = {
    {.x = {3, 17}, .eps = 1e-5f},
    {.x = {2, 3, 5}, .eps = 1e-5f},
    {.x = {1, 3}, .eps = 1e-3f},
    {.x = {64, 128}, .eps = 1e-5f, .fd_samples = 24},
    {.layer = 1, .x = {3, 17}, .eps = 1e-5f},
    {.layer = 1, .x = {2, 3, 5}, .eps = 1e-5f},
    {.layer = 1, .x = {1, 3}, .eps = 1e-3f},
    {.layer = 1, .x = {64, 128}, .eps = 1e-5f, .fd_samples = 24},
    {.layer = 1, .bias = 1, .x = {3, 17}, .eps = 1e-5f},
    {.layer = 1, .bias = 1, .x = {2, 3, 5}, .eps = 1e-5f},
    {.layer = 1, .bias = 1, .x = {1, 3}, .eps = 1e-3f},
    {.layer = 1, .bias = 1, .x = {64, 128}, .eps = 1e-5f, .fd_samples = 24},
    {.x = {4, 1}, .eps = 1e-2f}, /* C = 1 for rmsnorm (layernorm output is constant then) */
};
static void test_norms(void) {
    size_t s;
    group_begin();
    for (s = 0; s < sizeof norm_shapes / sizeof norm_shapes[0]; s++) {
        const norm_shape *n = &norm_shapes[s];
        int C = n->x[rank_of(n->x) - 1];
        tcase c = {.name = n->layer ? (n->bias ? "layernorm+bias" : "layernorm") : "rmsnorm",
                   .build = build_norm,
                   .ref = ref_norm,
                   .f = {{.shift = 0.3}, {.dims = {C}, .param = 1, .scale = 0.5, .shift = 1.0}},
                   .ip = {n->layer},
                   .dp = {n->eps},
                   .fd_samples = n->fd_samples};
        memcpy(c.f[0].dims, n->x, sizeof n->x);
        if (n->bias) c.f[2] = (fspec){.dims = {C}, .param = 1, .scale = 0.5};
        run(&c);
    }
    group_end("rmsnorm, layernorm (+/- bias)");
}

/* --- rope: x [B, T, H, D]; dp[0] theta, ip[0] pos_offset; packed: positions i32 [B, T] --- */
static void ref_rope(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int B = c->f[0].dims[0], T = c->f[0].dims[1], H = c->f[0].dims[2], D = c->f[0].dims[3], half = D / 2, b, t, h, i;
    const int32_t *positions = c->i[0].packed ? ids[0] : NULL;
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (h = 0; h < H; h++)
                for (i = 0; i < half; i++) {
                    size_t base = (((size_t)b * T + t) * H + h) * D;
                    double p = positions ? positions[b * T + t] : c->ip[0] + t;
                    double ang = p * pow(c->dp[0], -2.0 * i / D);
                    double x0 = f[0][base + i], x1 = f[0][base + i + half];
                    out[base + i] = x0 * cos(ang) - x1 * sin(ang);
                    out[base + i + half] = x1 * cos(ang) + x0 * sin(ang);
                }
}
static it_tensor *build_rope(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_rope(g, f[0], (float)c->dp[0], c->ip[0]);
}
static const tcase rope_cases[] = {
    {.name = "rope", .f = {{.dims = {2, 3, 2, 4}}}, .dp = {10000.0f}, .ip = {0}},
    {.name = "rope", .f = {{.dims = {1, 5, 3, 6}}}, .dp = {100.0f}, .ip = {7}},
    {.name = "rope", .f = {{.dims = {1, 3, 1, 2}}}, .dp = {10000.0f}, .ip = {3}},
    {.name = "rope", .f = {{.dims = {3, 1, 1, 8}}}, .dp = {500000.0f}, .ip = {17}},
    {.name = "rope", .f = {{.dims = {2, 64, 4, 32}}}, .dp = {10000.0f}, .ip = {5}, .fd_samples = 24},
};
static it_tensor *build_rope_packed(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    return it_rope_packed(g, f[0], (float)c->dp[0], NULL, ids[0]);
}
static const tcase rope_packed_cases[] = {
    {.name = "rope_packed", .f = {{.dims = {2, 9, 2, 4}}}, .i = {{.dims = {2, 9}, .limit = 4, .packed = 1}}, .dp = {10000.0f}},
    {.name = "rope_packed", .f = {{.dims = {3, 5, 1, 6}}}, .i = {{.dims = {3, 5}, .limit = 2, .packed = 1}}, .dp = {100.0f}},
    {.name = "rope_packed", .f = {{.dims = {2, 64, 4, 32}}}, .i = {{.dims = {2, 64}, .limit = 20, .packed = 1}},
     .dp = {10000.0f}, .fd_samples = 24},
};
static void test_rope(void) {
    group_begin();
    RUN_TABLE(rope_cases, build_rope, ref_rope);
    RUN_TABLE(rope_packed_cases, build_rope_packed, ref_rope);
    group_end("rope (theta, pos_offset), rope_packed (positions per token)");
}

/* --- softmax over the last dim --- */
static void ref_softmax(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = flast(c, 0), k;
    size_t rows = fnum(c, 0) / (size_t)C, r;
    (void)ids;
    for (r = 0; r < rows; r++) {
        double m = -1e300, s = 0.0;
        for (k = 0; k < C; k++) m = f[0][r * C + k] > m ? f[0][r * C + k] : m;
        for (k = 0; k < C; k++) s += exp(f[0][r * C + k] - m);
        for (k = 0; k < C; k++) out[r * C + k] = exp(f[0][r * C + k] - m) / s;
    }
}
static it_tensor *build_softmax(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_softmax(g, f[0]);
}
static const tcase softmax_cases[] = {
    {.name = "softmax", .f = {{.dims = {3, 17}, .scale = 3.0}}},
    {.name = "softmax", .f = {{.dims = {5, 1}, .scale = 3.0}}},
    {.name = "softmax", .f = {{.dims = {2, 1, 3}, .param = 1, .scale = 2.0}}},
    {.name = "softmax large", .f = {{.dims = {64, 100}, .scale = 3.0}}, .fd_samples = 24},
};
static void test_softmax(void) {
    group_begin();
    RUN_TABLE(softmax_cases, build_softmax, ref_softmax);
    group_end("softmax");
}

/* --- causal attention, GQA: q [B, T, Hq, D], k, v [B, T, Hkv, D]; packed: positions i32 [B, T]
   (query t sees keys t - positions[t] .. t), ip[0] a sliding window --- */
static void ref_attention(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int B = c->f[0].dims[0], T = c->f[0].dims[1], Hq = c->f[0].dims[2], D = c->f[0].dims[3], Hkv = c->f[1].dims[2];
    int b, t, s, h, d, s0;
    double sc = 1.0 / sqrt((double)D), *p = (double *)malloc(sizeof(double) * (size_t)T);
    const int32_t *positions = c->i[0].packed ? ids[0] : NULL;
    for (b = 0; b < B; b++)
        for (h = 0; h < Hq; h++) {
            int kh = h / (Hq / Hkv);
            for (t = 0; t < T; t++) {
                const double *q = f[0] + (((size_t)b * T + t) * Hq + h) * D;
                double m = -1e300, z = 0.0;
                s0 = positions ? t - positions[b * T + t] : 0; /* the first key of t's example */
                if (c->ip[0] > 0 && t - c->ip[0] + 1 > s0) s0 = t - c->ip[0] + 1;
                for (s = 0; s < s0; s++) p[s] = 0.0;
                for (s = s0; s <= t; s++) {
                    const double *k = f[1] + (((size_t)b * T + s) * Hkv + kh) * D;
                    double dot = 0.0;
                    for (d = 0; d < D; d++) dot += q[d] * k[d];
                    p[s] = dot * sc;
                    m = p[s] > m ? p[s] : m;
                }
                for (s = s0; s <= t; s++) z += (p[s] = exp(p[s] - m));
                for (d = 0; d < D; d++) {
                    double acc = 0.0;
                    for (s = s0; s <= t; s++) acc += p[s] / z * f[2][(((size_t)b * T + s) * Hkv + kh) * D + d];
                    out[(((size_t)b * T + t) * Hq + h) * D + d] = acc;
                }
            }
        }
    free(p);
}
static it_tensor *build_attention(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_attention(g, f[0], f[1], f[2]);
}
static it_tensor *build_attention_packed(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    return it_attention_packed(g, f[0], f[1], f[2], ids[0], c->ip[0]);
}
/* q [B, T, Hq, D], k and v [B, T, Hkv, D]: Hq / Hkv query heads share a kv head */
typedef struct attention_shape {
    int B, T, Hq, Hkv, D, fd_samples;
} attention_shape;
static const attention_shape attention_shapes[] = {
    /* GQA ratio 1 */
    {.B = 2, .T = 5, .Hq = 4, .Hkv = 4, .D = 4},
    {.B = 1, .T = 3, .Hq = 2, .Hkv = 2, .D = 3},  /* odd head dim, two kv heads */
    {.B = 1, .T = 1, .Hq = 1, .Hkv = 1, .D = 2},  /* T = 1: attends only to itself */
    {.B = 1, .T = 17, .Hq = 1, .Hkv = 1, .D = 1}, /* D = 1, T = 17 */
    /* ratio 2 */
    {.B = 2, .T = 5, .Hq = 4, .Hkv = 2, .D = 4},
    {.B = 1, .T = 3, .Hq = 4, .Hkv = 2, .D = 3},
    {.B = 1, .T = 1, .Hq = 2, .Hkv = 1, .D = 2},
    {.B = 1, .T = 17, .Hq = 2, .Hkv = 1, .D = 1},
    /* ratio 4 */
    {.B = 2, .T = 5, .Hq = 4, .Hkv = 1, .D = 4},
    {.B = 1, .T = 3, .Hq = 8, .Hkv = 2, .D = 3},
    {.B = 1, .T = 1, .Hq = 4, .Hkv = 1, .D = 2},
    {.B = 1, .T = 17, .Hq = 4, .Hkv = 1, .D = 1},
    /* past the thread threshold */
    {.B = 2, .T = 32, .Hq = 4, .Hkv = 2, .D = 16, .fd_samples = 24},
    {.B = 1, .T = 24, .Hq = 4, .Hkv = 1, .D = 32, .fd_samples = 24},
    {.B = 1, .T = 24, .Hq = 2, .Hkv = 2, .D = 32, .fd_samples = 24},
};
static void test_attention(void) {
    size_t s;
    group_begin();
    for (s = 0; s < sizeof attention_shapes / sizeof attention_shapes[0]; s++) {
        const attention_shape *a = &attention_shapes[s];
        tcase c = {.name = "attention",
                   .f = {{.dims = {a->B, a->T, a->Hq, a->D}, .scale = 1.5},
                         {.dims = {a->B, a->T, a->Hkv, a->D}, .scale = 1.5},
                         {.dims = {a->B, a->T, a->Hkv, a->D}}},
                   .build = build_attention,
                   .ref = ref_attention,
                   .fd_samples = a->fd_samples};
        run(&c);
    }
    /* packed rows: examples of random lengths, the flash kernel's 64-row tiles crossing them */
    for (s = 0; s < sizeof attention_shapes / sizeof attention_shapes[0]; s++) {
        const attention_shape *a = &attention_shapes[s];
        tcase c = {.name = "attention_packed",
                   .f = {{.dims = {a->B, a->T, a->Hq, a->D}, .scale = 1.5},
                         {.dims = {a->B, a->T, a->Hkv, a->D}, .scale = 1.5},
                         {.dims = {a->B, a->T, a->Hkv, a->D}}},
                   .i = {{.dims = {a->B, a->T}, .limit = 1 + a->T / 3, .packed = 1}},
                   .ip = {(int)(s % 3 == 2) * 3}, /* a window of 3 on some */
                   .build = build_attention_packed,
                   .ref = ref_attention,
                   .fd_samples = a->fd_samples};
        run(&c);
    }
    {
        tcase c = {.name = "attention_packed across tiles",
                   .f = {{.dims = {2, 150, 2, 8}, .scale = 1.5}, {.dims = {2, 150, 1, 8}, .scale = 1.5}, {.dims = {2, 150, 1, 8}}},
                   .i = {{.dims = {2, 150}, .limit = 70, .packed = 1}},
                   .build = build_attention_packed,
                   .ref = ref_attention,
                   .fd_samples = 24};
        run(&c);
    }
    group_end("attention (causal, GQA 1/2/4), attention_packed (a document mask, +/- window)");
}

/* --- silu, gelu, swiglu: ip[0] = 0 silu, 1 gelu, 2 swiglu --- */
static double d_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static void ref_act(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t i, n = fnum(c, 0);
    (void)ids;
    for (i = 0; i < n; i++) {
        double x = f[0][i];
        if (c->ip[0] == 0) out[i] = x * d_sigmoid(x);
        else if (c->ip[0] == 1) out[i] = 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
        else out[i] = x * d_sigmoid(x) * f[1][i];
    }
}
static it_tensor *build_act(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    if (c->ip[0] == 0) return it_silu(g, f[0]);
    if (c->ip[0] == 1) return it_gelu(g, f[0]);
    return it_swiglu(g, f[0], f[1]);
}
/* x (and swiglu's up, the same shape) */
typedef struct act_shape {
    int act; /* ip[0] */
    int x[2], fd_samples;
} act_shape;
static const act_shape act_shapes[] = {
    {.act = 0, .x = {3, 17}}, {.act = 0, .x = {1}}, {.act = 0, .x = {60, 100}, .fd_samples = 24},
    {.act = 1, .x = {3, 17}}, {.act = 1, .x = {1}}, {.act = 1, .x = {60, 100}, .fd_samples = 24},
    {.act = 2, .x = {3, 17}}, {.act = 2, .x = {1}}, {.act = 2, .x = {60, 100}, .fd_samples = 24},
};
static void test_activations(void) {
    static const char *names[3] = {"silu", "gelu", "swiglu"};
    size_t s;
    group_begin();
    for (s = 0; s < sizeof act_shapes / sizeof act_shapes[0]; s++) {
        const act_shape *a = &act_shapes[s];
        tcase c = {.name = names[a->act],
                   .build = build_act,
                   .ref = ref_act,
                   .f = {{.dims = {a->x[0], a->x[1]}, .scale = 4.0}},
                   .ip = {a->act},
                   .fd_samples = a->fd_samples};
        if (a->act == 2) c.f[1] = (fspec){.dims = {a->x[0], a->x[1]}, .param = 1};
        run(&c);
    }
    group_end("silu, gelu, swiglu");
}

/* --- cross_entropy: f0 logits [..., V], i0 targets; ip[0] ignore_index --- */
static void ref_ce_rows(const double *logits, const int32_t *t, size_t N, int V, int ignore, double *out) {
    size_t n;
    double sum = 0.0;
    int k, count = 0;
    for (n = 0; n < N; n++) {
        const double *l = logits + n * V;
        double m = -1e300, z = 0.0;
        if (t[n] == ignore) continue;
        for (k = 0; k < V; k++) m = l[k] > m ? l[k] : m;
        for (k = 0; k < V; k++) z += exp(l[k] - m);
        sum += m + log(z) - l[t[n]];
        count++;
    }
    out[0] = count ? sum / count : 0.0;
}
static void ref_ce(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    ref_ce_rows(f[0], ids[0], inum(c, 0), flast(c, 0), c->ip[0], out);
}
static it_tensor *build_ce(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    return it_cross_entropy(g, f[0], ids[0], c->ip[0]);
}
/* logits [..., V] with targets [...]; ip[0] is the op's ignore_index, also written into the targets */
static const tcase ce_cases[] = {
    /* rows 1 and 4 ignored */
    {.name = "cross_entropy", .f = {{.dims = {7, 5}, .scale = 3.0}}, .i = {{.dims = {7}, .limit = 5, .ignore_every = 3}},
     .ip = {-100}, .ignore = -100},
    /* none ignored */
    {.name = "cross_entropy", .f = {{.dims = {7, 5}, .scale = 3.0}}, .i = {{.dims = {7}, .limit = 5}}, .ip = {-100},
     .ignore = -100},
    /* 3-D logits, ignore_index -1 */
    {.name = "cross_entropy", .f = {{.dims = {2, 3, 17}, .scale = 3.0}}, .i = {{.dims = {2, 3}, .limit = 17, .ignore_every = 2}},
     .ip = {-1}, .ignore = -1},
    /* V = 1: loss 0, gradient 0 */
    {.name = "cross_entropy", .f = {{.dims = {1, 1}, .scale = 3.0}}, .i = {{.dims = {1}, .limit = 1}}, .ip = {-100},
     .ignore = -100},
    /* every row ignored: loss 0, no NaN */
    {.name = "cross_entropy", .f = {{.dims = {3, 4}, .scale = 3.0}}, .i = {{.dims = {3}, .limit = 4, .ignore_every = 1}},
     .ip = {-100}, .ignore = -100},
    {.name = "cross_entropy", .f = {{.dims = {64, 200}, .scale = 3.0}}, .i = {{.dims = {64}, .limit = 200, .ignore_every = 5}},
     .ip = {-100}, .ignore = -100, .fd_samples = 32},
};
static void test_cross_entropy(void) {
    group_begin();
    RUN_TABLE(ce_cases, build_ce, ref_ce);
    group_end("cross_entropy (ignore_index)");
}

/* --- linear_cross_entropy: f0 x [..., C], f1 w [V, C], i0 targets; ip[0] ignore, ip[1] chunk --- */
static void ref_lce(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = flast(c, 0), V = c->f[1].dims[0], v, k;
    size_t N = fnum(c, 0) / (size_t)C, n;
    double *logits = (double *)malloc(sizeof(double) * N * (size_t)V);
    for (n = 0; n < N; n++)
        for (v = 0; v < V; v++) {
            double s = 0.0;
            for (k = 0; k < C; k++) s += f[0][n * C + k] * f[1][(size_t)v * C + k];
            logits[n * V + v] = s;
        }
    ref_ce_rows(logits, ids[0], N, V, c->ip[0], out);
    free(logits);
}
static it_tensor *build_lce(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    return it_linear_cross_entropy(g, f[0], f[1], ids[0], c->ip[0], c->ip[1]);
}
/* x [N, C] (three_d: [2, N / 2, C]), w [V, C] a param, targets like x without C; ignore_index
   -100; ip[1] = chunk, the rows of logits materialised at a time (0 = all) */
typedef struct lce_shape {
    int N, C, V, chunk, ignore_every, three_d, fd_samples;
} lce_shape;
static const lce_shape lce_shapes[] = {
    {.N = 6, .C = 5, .V = 7, .chunk = 7, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 1, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 2, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 3, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 4, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 6, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 16, .ignore_every = 4},
    {.N = 6, .C = 5, .V = 7, .chunk = 0, .ignore_every = 4},
    {.N = 6, .C = 3, .V = 17, .chunk = 5, .three_d = 1}, /* 3-D x, 17 = 3 * 5 + 2 */
    {.N = 1, .C = 1, .V = 1, .chunk = 1},
    {.N = 3, .C = 4, .V = 5, .chunk = 2, .ignore_every = 1}, /* every row ignored */
    {.N = 64, .C = 32, .V = 300, .chunk = 64, .ignore_every = 7, .fd_samples = 32},
    {.N = 128, .C = 64, .V = 300, .chunk = 128, .ignore_every = 7, .fd_samples = 32}, /* chunk gemm past the thread threshold, tail of 44 */
};
static void test_linear_cross_entropy(void) {
    size_t s;
    group_begin();
    for (s = 0; s < sizeof lce_shapes / sizeof lce_shapes[0]; s++) {
        const lce_shape *l = &lce_shapes[s];
        tcase c = {.name = "linear_cross_entropy",
                   .build = build_lce,
                   .ref = ref_lce,
                   .f = {{.dims = {l->N, l->C}}, {.dims = {l->V, l->C}, .param = 1}},
                   .i = {{.dims = {l->N}, .limit = l->V, .ignore_every = l->ignore_every}},
                   .ip = {-100, l->chunk},
                   .ignore = -100,
                   .fd_samples = l->fd_samples};
        if (l->three_d) {
            c.f[0] = (fspec){.dims = {2, l->N / 2, l->C}};
            c.i[0].dims[0] = 2;
            c.i[0].dims[1] = l->N / 2;
        }
        run(&c);
    }
    group_end("linear_cross_entropy (chunks, ignore)");
}

/* --- sum / mean: ip[0] = 1 for mean --- */
static void ref_reduce(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t n = fnum(c, 0), i;
    double s = 0.0;
    (void)ids;
    for (i = 0; i < n; i++) s += f[0][i];
    out[0] = c->ip[0] ? s / (double)n : s;
}
static it_tensor *build_reduce(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return c->ip[0] ? it_mean(g, f[0]) : it_sum(g, f[0]);
}
static const tcase reduce_cases[] = {
    {.name = "sum", .f = {{.dims = {3, 17}}}},
    {.name = "sum", .f = {{.dims = {1}, .param = 1}}},
    {.name = "sum large", .f = {{.dims = {20, 1000}}}, .fd_samples = 24},
    {.name = "mean", .f = {{.dims = {3, 17}}}, .ip = {1}},
    {.name = "mean", .f = {{.dims = {1}, .param = 1}}, .ip = {1}},
    {.name = "mean large", .f = {{.dims = {20, 1000}}}, .ip = {1}, .fd_samples = 24},
};
/* --- lora: f0 = x [..., in], f1 = W ([out, in], or [in, out] with ip[0] = 1), f2 = A [r, in],
   f3 = B [out, r]; dp[0] = scale. y = x W^T + scale (x A^T) B^T, the unfused formula in double.
   W is a trainable parameter here, so the base product's dW is checked too. --- */
static void ref_lora(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int in = flast(c, 0), r = c->f[2].dims[0], w_in_out = c->ip[0];
    int out_dim = w_in_out ? c->f[1].dims[1] : c->f[1].dims[0];
    size_t N = fnum(c, 0) / (size_t)in, n;
    int o, k, i;
    (void)ids;
    for (n = 0; n < N; n++) {
        const double *x = f[0] + n * in;
        for (o = 0; o < out_dim; o++) {
            double base = 0.0, branch = 0.0;
            for (i = 0; i < in; i++) base += x[i] * (w_in_out ? f[1][(size_t)i * out_dim + o] : f[1][(size_t)o * in + i]);
            for (k = 0; k < r; k++) {
                double xa = 0.0;
                for (i = 0; i < in; i++) xa += x[i] * f[2][(size_t)k * in + i];
                branch += xa * f[3][(size_t)o * r + k];
            }
            out[n * out_dim + o] = base + (double)(float)c->dp[0] * branch;
        }
    }
}
static it_tensor *build_lora(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_lora_linear(g, f[0], f[1], f[2], f[3], (float)c->dp[0], c->ip[0]);
}
static const tcase lora_cases[] = {
    {.name = "lora 2-D", .f = {{{5, 7}}, {{6, 7}, 1}, {{3, 7}, 1}, {{6, 3}, 1}}, .dp = {2.0}},
    {.name = "lora rank 1, leading dims", .f = {{{2, 3, 4}}, {{5, 4}, 1}, {{1, 4}, 1}, {{5, 1}, 1}}, .dp = {0.5}},
    {.name = "lora Conv1D [in, out]", .f = {{{4, 6}}, {{6, 9}, 1}, {{2, 6}, 1}, {{9, 2}, 1}}, .ip = {1}, .dp = {1.5}},
    /* past the gemm threading threshold: 3 threads split every product */
    {.name = "lora large", .f = {{{2, 64, 96}}, {{160, 96}, 1}, {{8, 96}, 1}, {{160, 8}, 1}}, .dp = {2.0}, .fd_samples = 24},
    {.name = "lora large Conv1D", .f = {{{130, 96}}, {{96, 100}, 1}, {{16, 96}, 1}, {{100, 16}, 1}}, .ip = {1}, .dp = {0.25},
     .fd_samples = 24},
};
static void test_lora(void) {
    group_begin();
    RUN_TABLE(lora_cases, build_lora, ref_lora);
    group_end("lora (fused base + branch)");
}

static void test_reduce(void) {
    group_begin();
    RUN_TABLE(reduce_cases, build_reduce, ref_reduce);
    group_end("sum, mean");
}

/* --- reshape: views between ops, so gradients flow through a view --- */
/* x [2, 3, 4] -> [6, 4] -> rmsnorm(w [4]) */
static void ref_reshape_norm(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    tcase t = *c;
    t.f[0] = (fspec){.dims = {6, 4}};
    t.ip[0] = 0;
    t.dp[0] = 1e-5f;
    ref_norm(&t, f, ids, out);
}
static it_tensor *build_reshape_norm(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_rmsnorm(g, it_reshape(g, f[0], 2, (int[]){-1, 4}), f[1], 1e-5f);
}
/* a [6, 5] @ w [8, 5]^T -> [6, 8] -> reshape [2, 3, 2, 4] -> rope -> reshape [12, 4] */
static void ref_reshape_rope(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    tcase t = *c, r;
    double *mm = (double *)malloc(sizeof(double) * 48), *fx[1];
    t.ip[0] = 0;
    t.ip[1] = 1;
    ref_matmul(&t, f, ids, mm);
    r = (tcase){.f = {{.dims = {2, 3, 2, 4}}}, .dp = {10000.0f}, .ip = {2}};
    fx[0] = mm;
    ref_rope(&r, fx, ids, out);
    free(mm);
}
static it_tensor *build_reshape_rope(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    it_tensor *y = it_matmul(g, f[0], f[1], 0, 1);
    (void)ids;
    (void)c;
    y = it_rope(g, it_reshape(g, y, 4, (int[]){2, 3, 2, 4}), 10000.0f, 2);
    return it_reshape(g, y, 2, (int[]){12, -1});
}
/* a parameter viewed: x [2, 3, 4] * reshape(w [12], [3, 4]) */
static void ref_reshape_param(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t i;
    (void)c;
    (void)ids;
    for (i = 0; i < 24; i++) out[i] = f[0][i] * f[1][i % 12];
}
static it_tensor *build_reshape_param(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_mul(g, f[0], it_reshape(g, f[1], 2, (int[]){3, 4}));
}
/* x [6, 4] used directly and through views: reshape(reshape(x) * reshape(x)) + x */
static void ref_reshape_twice(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t i;
    (void)c;
    (void)ids;
    for (i = 0; i < 24; i++) out[i] = f[0][i] * f[0][i] + f[0][i];
}
static it_tensor *build_reshape_twice(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    it_tensor *v = it_reshape(g, f[0], 3, (int[]){2, 3, 4});
    (void)ids;
    (void)c;
    return it_add(g, it_reshape(g, it_mul(g, v, v), 2, (int[]){6, 4}), f[0]);
}
/* an op output viewed and summed: sum(reshape(silu(x), [-1])) */
static void ref_reshape_out(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t i;
    (void)c;
    (void)ids;
    for (i = 0; i < 15; i++) out[i] = f[0][i] * d_sigmoid(f[0][i]);
}
static it_tensor *build_reshape_out(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_reshape(g, it_silu(g, f[0]), 1, (int[]){-1});
}
static const tcase reshape_cases[] = {
    {.name = "reshape -> rmsnorm", .build = build_reshape_norm, .ref = ref_reshape_norm,
     .f = {{.dims = {2, 3, 4}}, {.dims = {4}, .param = 1}}},
    {.name = "matmul -> reshape -> rope -> reshape", .build = build_reshape_rope, .ref = ref_reshape_rope,
     .f = {{.dims = {6, 5}}, {.dims = {8, 5}, .param = 1}}},
    {.name = "reshape of a param", .build = build_reshape_param, .ref = ref_reshape_param,
     .f = {{.dims = {2, 3, 4}}, {.dims = {12}, .param = 1}}},
    {.name = "x direct and through views", .build = build_reshape_twice, .ref = ref_reshape_twice, .f = {{.dims = {6, 4}}}},
    {.name = "reshape as the op output", .build = build_reshape_out, .ref = ref_reshape_out,
     .f = {{.dims = {3, 5}, .scale = 2.0}}},
};
static void test_reshape(void) {
    group_begin();
    RUN_TABLE(reshape_cases, NULL, NULL);
    group_end("reshape (views between ops)");
}

/* --- gradient accumulation: one tensor feeding several nodes --- */
static void ref_twice(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    size_t i;
    (void)ids;
    for (i = 0; i < fnum(c, 0); i++) out[i] = f[0][i] * f[0][i] + f[0][i];
}
static it_tensor *build_twice(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_add(g, it_mul(g, f[0], f[0]), f[0]);
}
/* tied head: loss = lce(rmsnorm(embedding(E, ids), w), E, targets) */
static void ref_tied_lce(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int V = c->f[0].dims[0], C = c->f[0].dims[1];
    size_t N = inum(c, 0);
    double *h = (double *)malloc(sizeof(double) * N * (size_t)C), *hn = (double *)malloc(sizeof(double) * N * (size_t)C);
    double *ff[2];
    tcase t = *c;
    ref_embedding(c, f, ids, h);
    t.f[0] = (fspec){.dims = {(int)N, C}};
    t.ip[0] = 0;
    t.dp[0] = 1e-5f;
    ff[0] = h;
    ff[1] = f[1];
    ref_norm(&t, ff, ids, hn);
    t.f[1] = (fspec){.dims = {V, C}};
    t.ip[0] = -100;
    ff[0] = hn;
    ff[1] = f[0];
    {
        int32_t *tg[1];
        tg[0] = ids[1];
        ref_lce(&t, ff, tg, out);
    }
    free(h);
    free(hn);
}
static it_tensor *build_tied_lce(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    it_tensor *h = it_rmsnorm(g, it_embedding(g, f[0], ids[0]), f[1], 1e-5f);
    return it_linear_cross_entropy(g, h, f[0], ids[1], -100, c->ip[1]);
}
/* tied head through matmul: logits = embedding(E, ids) @ E^T */
static void ref_tied_matmul(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int V = c->f[0].dims[0], C = c->f[0].dims[1], v, k;
    size_t N = inum(c, 0), n;
    (void)f;
    for (n = 0; n < N; n++)
        for (v = 0; v < V; v++) {
            double s = 0.0;
            for (k = 0; k < C; k++) s += f[0][(size_t)ids[0][n] * C + k] * f[0][(size_t)v * C + k];
            out[n * V + v] = s;
        }
}
static it_tensor *build_tied_matmul(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)c;
    return it_matmul(g, it_embedding(g, f[0], ids[0]), f[0], 0, 1);
}
/* residual: h = x + silu(x @ W^T) with x feeding the matmul and the add */
static void ref_residual(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = c->f[0].dims[1], n, k, j, N = c->f[0].dims[0];
    (void)ids;
    for (n = 0; n < N; n++)
        for (j = 0; j < C; j++) {
            double s = 0.0;
            for (k = 0; k < C; k++) s += f[0][n * C + k] * f[1][j * C + k];
            out[n * C + j] = f[0][n * C + j] + s * d_sigmoid(s);
        }
}
static it_tensor *build_residual(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_add(g, f[0], it_silu(g, it_matmul(g, f[0], f[1], 0, 1)));
}
/* attention with q = k = v = x (one tensor, three roles) */
static void ref_self3(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    double *ff[3];
    tcase t = *c;
    ff[0] = ff[1] = ff[2] = f[0];
    t.f[1] = t.f[2] = c->f[0];
    ref_attention(&t, ff, ids, out);
}
static it_tensor *build_self3(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    (void)c;
    return it_attention(g, f[0], f[0], f[0]);
}
/* a tensor as both matmul operands: a^T a (trans_a) and a a^T (trans_b), dA from both paths */
static void ref_self_mm(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    double *ff[2];
    tcase t = *c;
    ff[0] = ff[1] = f[0];
    t.f[1] = c->f[0];
    ref_matmul(&t, ff, ids, out);
}
static it_tensor *build_self_mm(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_matmul(g, f[0], f[0], c->ip[0], c->ip[1]);
}
/* out = a^T b + silu(a): silu's backward runs first, so matmul's dA must add to it */
static void ref_mm_then_silu(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int M = c->f[0].dims[0], i;
    ref_matmul(c, f, ids, out);
    for (i = 0; i < M * M; i++) out[i] += f[0][i] * d_sigmoid(f[0][i]);
}
static it_tensor *build_mm_then_silu(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    it_tensor *y = it_matmul(g, f[0], f[1], c->ip[0], c->ip[1]);
    (void)ids;
    return it_add(g, y, it_silu(g, f[0]));
}
static const tcase accumulation_cases[] = {
    {.name = "add(mul(x, x), x)", .build = build_twice, .ref = ref_twice, .f = {{.dims = {3, 17}}}},
    {.name = "add(mul(w, w), w) param", .build = build_twice, .ref = ref_twice, .f = {{.dims = {5}, .param = 1}}},
    {.name = "add(mul(x, x), x) large", .build = build_twice, .ref = ref_twice, .f = {{.dims = {9000}}}, .fd_samples = 24},
    /* E [9, 6] is the embedding table and the head; ids and targets [2, 5], every 4th target ignored;
       ip[1] = the head's chunk */
    {.name = "tied embedding + linear_cross_entropy", .build = build_tied_lce, .ref = ref_tied_lce,
     .f = {{.dims = {9, 6}, .param = 1}, {.dims = {6}, .param = 1, .scale = 0.5, .shift = 1.0}},
     .i = {{.dims = {2, 5}, .limit = 9}, {.dims = {2, 5}, .limit = 9, .ignore_every = 4}},
     .ip = {0, 4},
     .ignore = -100},
    {.name = "tied embedding + matmul head", .build = build_tied_matmul, .ref = ref_tied_matmul,
     .f = {{.dims = {7, 5}, .param = 1}}, .i = {{.dims = {6}, .limit = 7}}},
    {.name = "residual x + silu(x W^T)", .build = build_residual, .ref = ref_residual,
     .f = {{.dims = {4, 6}}, {.dims = {6, 6}, .param = 1, .scale = 0.5}}},
    {.name = "matmul(a, a) a^T a", .build = build_self_mm, .ref = ref_self_mm, .f = {{.dims = {2, 5, 3}}}, .ip = {1, 0}},
    {.name = "matmul(a, a) a a^T", .build = build_self_mm, .ref = ref_self_mm, .f = {{.dims = {4, 7}, .param = 1}},
     .ip = {0, 1}},
    /* ip = {trans_a, trans_b}; b is a param when trans_a */
    {.name = "matmul(a, b) + silu(a)", .build = build_mm_then_silu, .ref = ref_mm_then_silu,
     .f = {{.dims = {5, 5}}, {.dims = {5, 5}}}, .ip = {0, 0}},
    {.name = "matmul(a, b) + silu(a)", .build = build_mm_then_silu, .ref = ref_mm_then_silu,
     .f = {{.dims = {5, 5}}, {.dims = {5, 5}, .param = 1}}, .ip = {1, 0}},
    {.name = "matmul(a, b) + silu(a)", .build = build_mm_then_silu, .ref = ref_mm_then_silu,
     .f = {{.dims = {5, 5}}, {.dims = {5, 5}}}, .ip = {0, 1}},
    {.name = "matmul(a, b) + silu(a)", .build = build_mm_then_silu, .ref = ref_mm_then_silu,
     .f = {{.dims = {5, 5}}, {.dims = {5, 5}, .param = 1}}, .ip = {1, 1}},
    {.name = "attention(x, x, x)", .build = build_self3, .ref = ref_self3, .f = {{.dims = {2, 5, 2, 3}}}},
};
static void test_accumulation(void) {
    group_begin();
    RUN_TABLE(accumulation_cases, NULL, NULL);
    group_end("accumulation (multi-use, tied, residual)");
}

/* ================================================================================================
   Behaviour beyond the per-op contract
================================================================================================ */

/* Running twice without zeroing: parameter gradients accumulate (documented), input gradients
   are recomputed from zero. */
static void test_run_twice(void) {
    it_context *ctx;
    it_graph *g;
    it_tensor *x, *w, *loss;
    float gx1[12], gw1[16];
    int i, ok_x = 1, ok_w = 1;
    group_begin();
    it_context_create(&(it_context_desc){0}, &ctx);
    w = it_param(ctx, "w", 2, (int[]){4, 4});
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){3, 4});
    loss = it_sum(g, it_mul(g, it_silu(g, it_matmul(g, x, w, 0, 1)), it_silu(g, x)));
    it_graph_backward(g, loss);
    CHECK(it_graph_plan(g) == IT_OK, "plan");
    for (i = 0; i < 12; i++) it_data(x)[i] = (float)(0.1 * i - 0.5);
    for (i = 0; i < 16; i++) it_data(w)[i] = (float)(0.1 * i - 0.4);
    it_zero_grads(ctx);
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "first run");
    memcpy(gx1, it_grad(x), sizeof gx1);
    memcpy(gw1, it_grad(w), sizeof gw1);
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "second run");
    for (i = 0; i < 12; i++) ok_x &= it_grad(x)[i] == gx1[i];
    for (i = 0; i < 16; i++) ok_w &= it_test_close(it_grad(w)[i], 2.0 * gw1[i], 1e-6, 1e-7);
    CHECK(ok_x, "input gradient changed on a second run (it must be recomputed, not accumulated)");
    CHECK(ok_w, "parameter gradient did not accumulate over two runs");
    it_zero_grads(ctx);
    for (i = 0; i < 16; i++) ok_w &= it_grad(w)[i] == 0.0f;
    CHECK(ok_w, "it_zero_grads left a non-zero parameter gradient");
    it_context_destroy(ctx);
    group_end("two runs (param grads accumulate)");
}

/* A forward-only graph whose output is a reshape view that nobody consumes: the header promises
   "graph outputs nobody consumes ... are kept automatically", so the view's bytes must survive
   later nodes (here silu(x) is a same-size buffer created after the view's last use). */
static void test_unconsumed_view_output(void) {
    it_context *ctx;
    it_graph *g;
    it_tensor *x, *v, *s;
    int i, ok = 1;
    group_begin();
    it_context_create(&(it_context_desc){0}, &ctx);
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 1, (int[]){16});
    v = it_reshape(g, it_scale(g, x, 2.0f), 2, (int[]){4, 4});
    s = it_silu(g, x);
    CHECK(it_graph_plan(g) == IT_OK, "plan");
    for (i = 0; i < 16; i++) it_data(x)[i] = (float)i + 1.0f;
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_OK, "run");
    for (i = 0; i < 16; i++) ok &= it_data(v)[i] == 2.0f * ((float)i + 1.0f);
    CHECK(ok, "unconsumed reshape output was overwritten by a later node: v[0] = %g, want 2 (silu(x)[0] = %g)",
          (double)it_data(v)[0], (double)it_data(s)[0]);
    it_context_destroy(ctx);
    group_end("unconsumed view output kept");
}

/* Input gradients are read after the run (header: it_grad "for parameters and inputs after a
   run"), so the planner must keep them alive to the end. Here dR is final after mul's backward
   and the larger dx, written later by matmul's backward, must not take its bytes. */
static void test_input_grad_kept(void) {
    it_context *ctx;
    it_graph *g;
    it_tensor *x, *w, *r, *y, *loss;
    int i, ok = 1;
    group_begin();
    it_context_create(&(it_context_desc){0}, &ctx);
    w = it_param(ctx, "w", 2, (int[]){17, 3});
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){1, 17});
    r = it_input(g, "r", IT_F32, 2, (int[]){1, 3});
    y = it_keep(it_matmul(g, x, w, 0, 0));
    loss = it_sum(g, it_mul(g, y, r));
    it_graph_backward(g, loss);
    CHECK(it_graph_plan(g) == IT_OK, "plan");
    for (i = 0; i < 17; i++) it_data(x)[i] = 1.0f;
    for (i = 0; i < 51; i++) it_data(w)[i] = 1.0f;
    for (i = 0; i < 3; i++) it_data(r)[i] = 2.0f;
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "run");
    for (i = 0; i < 3; i++) ok &= it_grad(r)[i] == 17.0f; /* dL/dr = y = 17 */
    for (i = 0; i < 17; i++) ok &= it_grad(x)[i] == 6.0f; /* dL/dx = r @ w^T = 3 * 2 */
    CHECK(ok, "input gradient overwritten after its last write: dL/dr = [%g %g %g] (want 17), dL/dx[0] = %g (want 6)",
          (double)it_grad(r)[0], (double)it_grad(r)[1], (double)it_grad(r)[2], (double)it_grad(x)[0]);
    it_context_destroy(ctx);
    group_end("input gradients kept after the run");
}

/* Ids outside [0, V) must fail the run with IT_ERR_RANGE (header: it_embedding). */
static void test_embedding_range(void) {
    static const int32_t bad[3] = {5, -1, -7};
    int i;
    group_begin();
    for (i = 0; i < 3; i++) {
        it_context *ctx;
        it_graph *g;
        it_tensor *table, *ids;
        it_result r;
        ctx = it_test_context(0); /* quiet: the expected error is not news */
        table = it_param(ctx, "table", 2, (int[]){5, 3});
        g = it_graph_create(ctx);
        ids = it_input(g, "ids", IT_I32, 1, (int[]){4});
        it_embedding(g, table, ids);
        it_graph_plan(g);
        it_data_i32(ids)[0] = 0;
        it_data_i32(ids)[1] = 1;
        it_data_i32(ids)[2] = bad[i];
        it_data_i32(ids)[3] = 2;
        r = it_graph_run(g, IT_RUN_FORWARD);
        CHECK(r == IT_ERR_RANGE, "embedding id %d in a table of 5 rows: run returned %s, want IT_ERR_RANGE", (int)bad[i],
              it_result_string(r));
        it_context_destroy(ctx);
    }
    group_end("embedding ids out of range");
}

int main(void) {
    test_matmul();
    test_add_mul();
    test_scale();
    test_embedding();
    test_norms();
    test_rope();
    test_softmax();
    test_attention();
    test_activations();
    test_cross_entropy();
    test_linear_cross_entropy();
    test_reduce();
    test_lora();
    test_reshape();
    test_accumulation();
    test_run_twice();
    test_input_grad_kept();
    test_unconsumed_view_output();
    test_embedding_range();
    return it_test_finish();
}
