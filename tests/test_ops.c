/* Graph-op tests: every op of the graph API, run through it_graph_run on the CPU backend.
   For each case the op's output O is multiplied by a fixed random tensor R and summed, so the
   loss L = sum(R * O) sends a non-trivial upstream gradient into the op. Then:
     1. forward: O against a naive double-precision loop implementation written here;
     2. backward: it_grad() of every float input (it_input activations and it_param weights)
        against central finite differences of the same double-precision reference loss;
     3. tensors feeding several nodes (x used twice, tied embeddings, views) accumulate correctly;
     4. every case runs on a 1-thread and a 3-thread context and must be bit-identical (the CPU
        backend promises disjoint output partitions and fixed-order reductions); the "large"
        cases are sized past the backend's threading thresholds so the pool really splits work.
   The direct it_cpu_* kernels, sampling, optimizers, bf16 and rng live in test_ops_cpu.c. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#define MAXF 6 /* float tensors per case */
#define MAXI 2 /* int tensors per case */
#define FWD_RTOL 1e-5
#define GRAD_RTOL 1e-3
#define FD_H 1e-5

/* ---- a test-local generator, so data does not depend on the library under test ---- */
static uint64_t t_state = 0x1234567ull;
static uint64_t t_next(void) {
    uint64_t z = (t_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double t_uniform(void) { return (double)(t_next() >> 11) * (1.0 / 9007199254740992.0); } /* [0, 1) */
static int t_below(int n) { return (int)(t_next() % (uint64_t)n); }

/* ---- cases ---- */
typedef struct tcase tcase;
typedef it_tensor *(*build_fn)(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c);
typedef void (*ref_fn)(const tcase *c, double *const *f, int32_t *const *ids, double *out);

struct tcase {
    const char *name;
    int nf, fnd[MAXF], fdims[MAXF][4], fparam[MAXF];
    double fscale[MAXF], fshift[MAXF];
    int ni, ind[MAXI], idims[MAXI][4], ilimit[MAXI], iignore_every[MAXI];
    int ip[8];       /* op integer parameters; ip[7] is the ignore value written into int tensors */
    double dp[4];    /* op float parameters (stored as the float the library sees) */
    build_fn build;
    ref_fn ref;
    int fd_samples;  /* 0 = finite differences at every coordinate, else this many per tensor */
    int large;       /* sized to cross the thread thresholds */
};

static tcase mk(const char *name, build_fn b, ref_fn r) {
    tcase c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.build = b;
    c.ref = r;
    return c;
}
/* float tensor: it_param (is_param) or it_input; values uniform in shift + scale * [-1, 1) */
static void addf(tcase *c, int is_param, double scale, int nd, int d0, int d1, int d2, int d3) {
    int j = c->nf++;
    c->fparam[j] = is_param;
    c->fscale[j] = scale;
    c->fnd[j] = nd;
    c->fdims[j][0] = d0;
    c->fdims[j][1] = d1;
    c->fdims[j][2] = d2;
    c->fdims[j][3] = d3;
}
/* int tensor with ids in [0, limit); every `ignore_every`-th entry (1, 1 + k, ...) is ip[7] */
static void addi(tcase *c, int limit, int ignore_every, int nd, int d0, int d1, int d2, int d3) {
    int j = c->ni++;
    c->ilimit[j] = limit;
    c->iignore_every[j] = ignore_every;
    c->ind[j] = nd;
    c->idims[j][0] = d0;
    c->idims[j][1] = d1;
    c->idims[j][2] = d2;
    c->idims[j][3] = d3;
}
static size_t fnum(const tcase *c, int j) {
    size_t n = 1;
    int i;
    for (i = 0; i < c->fnd[j]; i++) n *= (size_t)c->fdims[j][i];
    return n;
}
static size_t inum(const tcase *c, int j) {
    size_t n = 1;
    int i;
    for (i = 0; i < c->ind[j]; i++) n *= (size_t)c->idims[j][i];
    return n;
}
static int flast(const tcase *c, int j) { return c->fdims[j][c->fnd[j] - 1]; }

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
    t_state = seed;
    for (j = 0; j < c->nf; j++) {
        size_t n = fnum(c, j);
        d->f[j] = (float *)malloc(n * sizeof(float));
        for (i = 0; i < n; i++) d->f[j][i] = (float)(c->fshift[j] + c->fscale[j] * (2.0 * t_uniform() - 1.0));
    }
    for (j = 0; j < c->ni; j++) {
        size_t n = inum(c, j);
        d->ids[j] = (int32_t *)malloc(n * sizeof(int32_t));
        for (i = 0; i < n; i++)
            d->ids[j][i] = (c->iignore_every[j] && i % (size_t)c->iignore_every[j] == 1) ? c->ip[7]
                                                                                       : t_below(c->ilimit[j]);
    }
    d->r = (float *)malloc(nout * sizeof(float));
    for (i = 0; i < nout; i++) d->r[i] = (float)(2.0 * t_uniform() - 1.0);
}
static void free_data(const tcase *c, case_data *d) {
    int j;
    for (j = 0; j < c->nf; j++) free(d->f[j]);
    for (j = 0; j < c->ni; j++) free(d->ids[j]);
    free(d->r);
}
static void free_result(run_result *r) {
    int j;
    free(r->out);
    free(r->rgrad);
    for (j = 0; j < MAXF; j++) free(r->grad[j]);
    memset(r, 0, sizeof *r);
}

static size_t case_nout(const tcase *c) {
    it_context *ctx;
    it_context_desc desc;
    it_tensor *f[MAXF], *ids[MAXI], *out;
    it_graph *g;
    size_t n;
    int j;
    char name[16];
    memset(&desc, 0, sizeof desc);
    desc.n_threads = 1;
    it_context_create(&desc, &ctx);
    g = it_graph_create(ctx);
    for (j = 0; j < c->nf; j++) {
        snprintf(name, sizeof name, "f%d", j);
        f[j] = c->fparam[j] ? it_param(ctx, name, c->fnd[j], c->fdims[j]) : it_input(g, name, IT_F32, c->fnd[j], c->fdims[j]);
    }
    for (j = 0; j < c->ni; j++) {
        snprintf(name, sizeof name, "i%d", j);
        ids[j] = it_input(g, name, IT_I32, c->ind[j], c->idims[j]);
    }
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
    char name[16];
    memset(res, 0, sizeof *res);
    memset(&desc, 0, sizeof desc);
    desc.n_threads = n_threads;
    if (it_context_create(&desc, &ctx) != IT_OK) {
        res->status = IT_ERR_OUT_OF_MEMORY;
        return;
    }
    g = it_graph_create(ctx);
    for (j = 0; j < c->nf; j++) {
        snprintf(name, sizeof name, "f%d", j);
        f[j] = c->fparam[j] ? it_param(ctx, name, c->fnd[j], c->fdims[j]) : it_input(g, name, IT_F32, c->fnd[j], c->fdims[j]);
    }
    for (j = 0; j < c->ni; j++) {
        snprintf(name, sizeof name, "i%d", j);
        ids[j] = it_input(g, name, IT_I32, c->ind[j], c->idims[j]);
    }
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
    for (j = 0; j < c->nf; j++) memcpy(it_data(f[j]), d->f[j], fnum(c, j) * sizeof(float));
    for (j = 0; j < c->ni; j++) memcpy(it_data_i32(ids[j]), d->ids[j], inum(c, j) * sizeof(int32_t));
    res->nout = it_tensor_numel(out);
    memcpy(it_data(r), d->r, res->nout * sizeof(float));
    it_graph_zero_grads(g);
    res->status = it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
    res->out = (float *)malloc(res->nout * sizeof(float));
    memcpy(res->out, it_data(out), res->nout * sizeof(float));
    res->rgrad = (float *)malloc(res->nout * sizeof(float));
    memcpy(res->rgrad, it_grad(r), res->nout * sizeof(float));
    res->loss = it_data(loss)[0];
    for (j = 0; j < c->nf; j++) {
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
    for (j = 0; j < c->nf; j++) {
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
    for (j = 0; j < c->nf; j++) {
        size_t n = fnum(c, j), k, count = c->fd_samples && (size_t)c->fd_samples < n ? (size_t)c->fd_samples : n;
        double *want = (double *)malloc(count * sizeof(double));
        float *got = (float *)malloc(count * sizeof(float));
        CHECK(r1.has_grad[j], "%s: float tensor %d has no gradient", c->name, j);
        t_state = seed ^ 0xABCDEFull ^ (uint64_t)j;
        for (k = 0; k < count; k++) {
            size_t idx = count == n ? k : (k == 0 ? 0 : k == 1 ? n - 1 : (size_t)t_below((int)n));
            double keep = fd[j][idx], lp, lm;
            fd[j][idx] = keep + FD_H;
            lp = ref_loss(c, fd, d.ids, d.r, scratch, nout);
            fd[j][idx] = keep - FD_H;
            lm = ref_loss(c, fd, d.ids, d.r, scratch, nout);
            fd[j][idx] = keep;
            want[k] = (lp - lm) / (2.0 * FD_H);
            got[k] = r1.grad[j][idx];
        }
        snprintf(what, sizeof what, "d/d%s%d vs finite differences", c->fparam[j] ? "param" : "input", j);
        check_tensor(c->name, what, got, want, count, GRAD_RTOL, 1e-4 * (maxabs_d(want, count) > 1 ? maxabs_d(want, count) : 1.0));
        free(want);
        free(got);
    }

    /* 4. 1 thread vs 3 threads: bit-identical output and gradients */
    {
        int same = memcmp(r1.out, r3.out, nout * sizeof(float)) == 0, which = -1;
        for (j = 0; j < c->nf; j++)
            if (memcmp(r1.grad[j], r3.grad[j], fnum(c, j) * sizeof(float)) != 0) {
                same = 0;
                which = j;
            }
        CHECK(same, "%s: 1-thread and 3-thread results differ (%s)", c->name, which < 0 ? "forward output" : "gradient");
    }

    for (j = 0; j < c->nf; j++) free(fd[j]);
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
static void run(tcase c) {
    g_cases++;
    check_case(&c, g_seed++);
}

/* ================================================================================================
   Reference implementations (double, straightforward loops) and graph builders
================================================================================================ */

/* --- matmul: ip[0] = trans_a, ip[1] = trans_b; f0 = a, f1 = b --- */
static void ref_matmul(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    const int *ad = c->fdims[0], *bd = c->fdims[1];
    int an = c->fnd[0], bn = c->fnd[1], ta = c->ip[0], tb = c->ip[1];
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
/* a [lead..., M, K] (or [.., K, M]); b 2-D shared or same rank batched */
static void matmul_case(int ta, int tb, int nlead, int l0, int l1, int M, int K, int N, int batched_b, int b_param,
                        int large) {
    tcase c = mk(batched_b ? "matmul batched" : (nlead ? "matmul shared-b" : "matmul 2-D"), build_matmul, ref_matmul);
    int ad[4] = {0, 0, 0, 0}, bd[4] = {0, 0, 0, 0}, i = 0;
    if (nlead >= 1) ad[i++] = l0;
    if (nlead >= 2) ad[i++] = l1;
    ad[i] = ta ? K : M;
    ad[i + 1] = ta ? M : K;
    addf(&c, 0, 1.0, nlead + 2, ad[0], ad[1], ad[2], ad[3]);
    i = 0;
    if (batched_b) {
        if (nlead >= 1) bd[i++] = l0;
        if (nlead >= 2) bd[i++] = l1;
    }
    bd[i] = tb ? N : K;
    bd[i + 1] = tb ? K : N;
    addf(&c, b_param, 1.0, i + 2, bd[0], bd[1], bd[2], bd[3]);
    c.ip[0] = ta;
    c.ip[1] = tb;
    c.large = large;
    c.fd_samples = large ? 24 : 0;
    run(c);
}
static void test_matmul(void) {
    static const int shapes[][3] = {{3, 5, 4}, {1, 17, 3}, {17, 1, 2}, {4, 3, 1}};
    int ta, tb, s;
    group_begin();
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) {
            for (s = 0; s < 4; s++) matmul_case(ta, tb, 0, 0, 0, shapes[s][0], shapes[s][1], shapes[s][2], 0, 1, 0);
            matmul_case(ta, tb, 2, 2, 3, 3, 4, 5, 1, 0, 0);  /* batched, same-rank b (both inputs) */
            matmul_case(ta, tb, 1, 3, 0, 1, 5, 3, 1, 0, 0);  /* batched with M = 1 */
            matmul_case(ta, tb, 1, 2, 0, 3, 5, 4, 0, 1, 0);  /* 3-D a, shared 2-D weight b */
            matmul_case(ta, tb, 2, 2, 3, 17, 3, 2, 0, 1, 0); /* 4-D a, shared b: trans_a with leading dims */
        }
    /* past the backend's gemm threshold (M N K >= 2^20) so 3 threads split the tile grid; sizes
       that are not multiples of any micro-tile, K beyond one 256-deep block, and M < 4 with
       trans_b (the few-rows path) */
    matmul_case(0, 1, 1, 2, 0, 100, 96, 120, 0, 1, 1); /* a linear layer, folded M = 200 */
    matmul_case(1, 0, 1, 2, 0, 100, 96, 121, 0, 1, 1); /* trans_a with a shared b */
    matmul_case(0, 0, 1, 2, 0, 101, 130, 90, 1, 0, 1);
    matmul_case(1, 1, 1, 2, 0, 99, 130, 91, 1, 0, 1);
    matmul_case(0, 0, 0, 0, 0, 37, 300, 101, 0, 1, 1); /* K = 300 > 256 */
    matmul_case(0, 1, 0, 0, 0, 3, 600, 701, 0, 1, 1);  /* few rows, trans_b */
    /* between the old and new thresholds */
    matmul_case(0, 1, 1, 2, 0, 40, 48, 36, 0, 1, 1);
    matmul_case(1, 0, 1, 2, 0, 64, 48, 40, 0, 1, 1);
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
static void binary_case(int mul, int na, const int *ad, int nb, int b_param, int large) {
    tcase c = mk(mul ? "mul" : "add", build_binary, ref_binary);
    addf(&c, 0, 1.0, na, ad[0], ad[1], ad[2], ad[3]);
    addf(&c, b_param, 1.0, nb, ad[na - nb], nb > 1 ? ad[na - nb + 1] : 0, nb > 2 ? ad[na - nb + 2] : 0,
         nb > 3 ? ad[na - nb + 3] : 0);
    c.ip[0] = mul;
    c.large = large;
    c.fd_samples = large ? 24 : 0;
    run(c);
}
static void test_add_mul(void) {
    static const int s1[4] = {3, 17}, s2[4] = {2, 3, 5}, s3[4] = {1}, s4[4] = {2, 1, 3, 4}, big[4] = {128, 300};
    int mul;
    group_begin();
    for (mul = 0; mul < 2; mul++) {
        binary_case(mul, 2, s1, 2, 0, 0); /* same shape */
        binary_case(mul, 1, s3, 1, 0, 0); /* a single element */
        binary_case(mul, 3, s2, 3, 0, 0);
        binary_case(mul, 3, s2, 1, 1, 0); /* bias-like suffix */
        binary_case(mul, 3, s2, 2, 1, 0);
        binary_case(mul, 4, s4, 2, 0, 0);
        binary_case(mul, 2, big, 1, 1, 1); /* rows and columns past the thread threshold */
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
static void test_scale(void) {
    tcase c;
    group_begin();
    c = mk("scale", build_scale, ref_scale);
    addf(&c, 0, 1.0, 2, 3, 7, 0, 0);
    c.dp[0] = -1.75;
    run(c);
    c = mk("scale", build_scale, ref_scale);
    addf(&c, 1, 1.0, 1, 1, 0, 0, 0);
    c.dp[0] = 0.3f;
    run(c);
    c = mk("scale large", build_scale, ref_scale);
    addf(&c, 0, 1.0, 1, 5000, 0, 0, 0);
    c.dp[0] = 2.5;
    c.fd_samples = 24;
    c.large = 1;
    run(c);
    group_end("scale");
}

/* --- embedding: f0 table [V, C] (param), i0 ids --- */
static void ref_embedding(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = c->fdims[0][1];
    size_t n, N = inum(c, 0);
    int k;
    for (n = 0; n < N; n++)
        for (k = 0; k < C; k++) out[n * C + k] = f[0][(size_t)ids[0][n] * C + k];
}
static it_tensor *build_embedding(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)c;
    return it_embedding(g, f[0], ids[0]);
}
static void test_embedding(void) {
    tcase c;
    group_begin();
    c = mk("embedding", build_embedding, ref_embedding);
    addf(&c, 1, 1.0, 2, 11, 5, 0, 0);
    addi(&c, 4, 0, 2, 2, 3, 0, 0); /* ids from a few rows only: repeated ids accumulate */
    run(c);
    c = mk("embedding", build_embedding, ref_embedding);
    addf(&c, 1, 1.0, 2, 1, 3, 0, 0);
    addi(&c, 1, 0, 1, 5, 0, 0, 0); /* V = 1 */
    run(c);
    c = mk("embedding", build_embedding, ref_embedding);
    addf(&c, 1, 1.0, 2, 17, 1, 0, 0);
    addi(&c, 17, 0, 3, 2, 3, 2, 0); /* C = 1, 3-D ids */
    run(c);
    c = mk("embedding input table", build_embedding, ref_embedding);
    addf(&c, 0, 1.0, 2, 7, 4, 0, 0); /* an it_input table gets a gradient too */
    addi(&c, 7, 0, 1, 9, 0, 0, 0);
    run(c);
    c = mk("embedding large", build_embedding, ref_embedding);
    addf(&c, 1, 1.0, 2, 50, 64, 0, 0);
    addi(&c, 50, 0, 1, 600, 0, 0, 0);
    c.fd_samples = 32;
    c.large = 1;
    run(c);
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
            for (k = 0; k < C; k++) out[r * C + k] = (x[k] - m) * rs * f[1][k] + (c->nf > 2 ? f[2][k] : 0.0);
        } else {
            for (k = 0; k < C; k++) v += x[k] * x[k];
            rs = 1.0 / sqrt(v / C + c->dp[0]);
            for (k = 0; k < C; k++) out[r * C + k] = x[k] * rs * f[1][k];
        }
    }
}
static it_tensor *build_norm(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    if (c->ip[0]) return it_layernorm(g, f[0], f[1], c->nf > 2 ? f[2] : NULL, (float)c->dp[0]);
    return it_rmsnorm(g, f[0], f[1], (float)c->dp[0]);
}
static void norm_case(int layer, int bias, int nd, int d0, int d1, int d2, float eps, int large) {
    tcase c = mk(layer ? (bias ? "layernorm+bias" : "layernorm") : "rmsnorm", build_norm, ref_norm);
    int C = nd == 2 ? d1 : d2;
    addf(&c, 0, 1.0, nd, d0, d1, d2, 0);
    c.fshift[0] = 0.3; /* a non-zero mean for layernorm to remove */
    addf(&c, 1, 0.5, 1, C, 0, 0, 0);
    c.fshift[1] = 1.0;
    if (bias) addf(&c, 1, 0.5, 1, C, 0, 0, 0);
    c.ip[0] = layer;
    c.dp[0] = eps;
    c.large = large;
    c.fd_samples = large ? 24 : 0;
    run(c);
}
static void test_norms(void) {
    int layer, bias;
    group_begin();
    for (layer = 0; layer < 2; layer++)
        for (bias = 0; bias <= layer; bias++) {
            norm_case(layer, bias, 2, 3, 17, 0, 1e-5f, 0);
            norm_case(layer, bias, 3, 2, 3, 5, 1e-5f, 0);
            norm_case(layer, bias, 2, 1, 3, 0, 1e-3f, 0);
            norm_case(layer, bias, 2, 64, 128, 0, 1e-5f, 1);
        }
    norm_case(0, 0, 2, 4, 1, 0, 1e-2f, 0); /* C = 1 for rmsnorm (layernorm output is constant then) */
    group_end("rmsnorm, layernorm (+/- bias)");
}

/* --- rope: x [B, T, H, D]; dp[0] theta, ip[0] pos_offset --- */
static void ref_rope(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int B = c->fdims[0][0], T = c->fdims[0][1], H = c->fdims[0][2], D = c->fdims[0][3], half = D / 2, b, t, h, i;
    (void)ids;
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (h = 0; h < H; h++)
                for (i = 0; i < half; i++) {
                    size_t base = (((size_t)b * T + t) * H + h) * D;
                    double ang = (double)(c->ip[0] + t) * pow(c->dp[0], -2.0 * i / D);
                    double x0 = f[0][base + i], x1 = f[0][base + i + half];
                    out[base + i] = x0 * cos(ang) - x1 * sin(ang);
                    out[base + i + half] = x1 * cos(ang) + x0 * sin(ang);
                }
}
static it_tensor *build_rope(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_rope(g, f[0], (float)c->dp[0], c->ip[0]);
}
static void rope_case(int B, int T, int H, int D, float theta, int pos, int large) {
    tcase c = mk("rope", build_rope, ref_rope);
    addf(&c, 0, 1.0, 4, B, T, H, D);
    c.dp[0] = theta;
    c.ip[0] = pos;
    c.large = large;
    c.fd_samples = large ? 24 : 0;
    run(c);
}
static void test_rope(void) {
    group_begin();
    rope_case(2, 3, 2, 4, 10000.0f, 0, 0);
    rope_case(1, 5, 3, 6, 100.0f, 7, 0);
    rope_case(1, 3, 1, 2, 10000.0f, 3, 0);
    rope_case(3, 1, 1, 8, 500000.0f, 17, 0);
    rope_case(2, 64, 4, 32, 10000.0f, 5, 1);
    group_end("rope (theta, pos_offset)");
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
static void test_softmax(void) {
    tcase c;
    group_begin();
    c = mk("softmax", build_softmax, ref_softmax);
    addf(&c, 0, 3.0, 2, 3, 17, 0, 0);
    run(c);
    c = mk("softmax", build_softmax, ref_softmax);
    addf(&c, 0, 3.0, 2, 5, 1, 0, 0);
    run(c);
    c = mk("softmax", build_softmax, ref_softmax);
    addf(&c, 1, 2.0, 3, 2, 1, 3, 0);
    run(c);
    c = mk("softmax large", build_softmax, ref_softmax);
    addf(&c, 0, 3.0, 2, 64, 100, 0, 0);
    c.fd_samples = 24;
    c.large = 1;
    run(c);
    group_end("softmax");
}

/* --- causal attention, GQA: q [B, T, Hq, D], k, v [B, T, Hkv, D] --- */
static void ref_attention(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int B = c->fdims[0][0], T = c->fdims[0][1], Hq = c->fdims[0][2], D = c->fdims[0][3], Hkv = c->fdims[1][2];
    int b, t, s, h, d;
    double sc = 1.0 / sqrt((double)D), *p = (double *)malloc(sizeof(double) * (size_t)T);
    (void)ids;
    for (b = 0; b < B; b++)
        for (h = 0; h < Hq; h++) {
            int kh = h / (Hq / Hkv);
            for (t = 0; t < T; t++) {
                const double *q = f[0] + (((size_t)b * T + t) * Hq + h) * D;
                double m = -1e300, z = 0.0;
                for (s = 0; s <= t; s++) {
                    const double *k = f[1] + (((size_t)b * T + s) * Hkv + kh) * D;
                    double dot = 0.0;
                    for (d = 0; d < D; d++) dot += q[d] * k[d];
                    p[s] = dot * sc;
                    m = p[s] > m ? p[s] : m;
                }
                for (s = 0; s <= t; s++) z += (p[s] = exp(p[s] - m));
                for (d = 0; d < D; d++) {
                    double acc = 0.0;
                    for (s = 0; s <= t; s++) acc += p[s] / z * f[2][(((size_t)b * T + s) * Hkv + kh) * D + d];
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
static void attention_case(int B, int T, int Hq, int Hkv, int D, int large) {
    tcase c = mk("attention", build_attention, ref_attention);
    addf(&c, 0, 1.5, 4, B, T, Hq, D);
    addf(&c, 0, 1.5, 4, B, T, Hkv, D);
    addf(&c, 0, 1.0, 4, B, T, Hkv, D);
    c.large = large;
    c.fd_samples = large ? 24 : 0;
    run(c);
}
static void test_attention(void) {
    static const int ratios[3] = {1, 2, 4};
    int r;
    group_begin();
    for (r = 0; r < 3; r++) {
        attention_case(2, 5, 4, 4 / ratios[r], 4, 0);
        attention_case(1, 3, 2 * ratios[r], 2, 3, 0); /* odd head dim, two kv heads */
        attention_case(1, 1, ratios[r], 1, 2, 0);     /* T = 1: attends only to itself */
        attention_case(1, 17, ratios[r], 1, 1, 0);    /* D = 1, T = 17 */
    }
    attention_case(2, 32, 4, 2, 16, 1);
    attention_case(1, 24, 4, 1, 32, 1);
    attention_case(1, 24, 2, 2, 32, 1);
    group_end("attention (causal, GQA 1/2/4)");
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
static void act_case(int which, int nd, int d0, int d1, int large) {
    static const char *names[3] = {"silu", "gelu", "swiglu"};
    tcase c = mk(names[which], build_act, ref_act);
    addf(&c, 0, 4.0, nd, d0, d1, 0, 0);
    if (which == 2) addf(&c, 1, 1.0, nd, d0, d1, 0, 0);
    c.ip[0] = which;
    c.large = large;
    c.fd_samples = large ? 24 : 0;
    run(c);
}
static void test_activations(void) {
    int w;
    group_begin();
    for (w = 0; w < 3; w++) {
        act_case(w, 2, 3, 17, 0);
        act_case(w, 1, 1, 0, 0);
        act_case(w, 2, 60, 100, 1);
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
static void ce_case(int nd, int d0, int d1, int d2, int ignore, int ignore_every, int large) {
    tcase c = mk("cross_entropy", build_ce, ref_ce);
    int V = nd == 2 ? d1 : d2;
    addf(&c, 0, 3.0, nd, d0, d1, d2, 0);
    if (nd == 2) addi(&c, V, ignore_every, 1, d0, 0, 0, 0);
    else addi(&c, V, ignore_every, 2, d0, d1, 0, 0);
    c.ip[0] = ignore;
    c.ip[7] = ignore;
    c.large = large;
    c.fd_samples = large ? 32 : 0;
    run(c);
}
static void test_cross_entropy(void) {
    group_begin();
    ce_case(2, 7, 5, 0, -100, 3, 0);   /* rows 1 and 4 ignored */
    ce_case(2, 7, 5, 0, -100, 0, 0);   /* none ignored */
    ce_case(3, 2, 3, 17, -1, 2, 0);    /* 3-D logits, ignore_index -1 */
    ce_case(2, 1, 1, 0, -100, 0, 0);   /* V = 1: loss 0, gradient 0 */
    ce_case(2, 3, 4, 0, -100, 1, 0);   /* every row ignored: loss 0, no NaN */
    ce_case(2, 64, 200, 0, -100, 5, 1);
    group_end("cross_entropy (ignore_index)");
}

/* --- linear_cross_entropy: f0 x [..., C], f1 w [V, C], i0 targets; ip[0] ignore, ip[1] chunk --- */
static void ref_lce(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int C = flast(c, 0), V = c->fdims[1][0], v, k;
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
static void lce_case(int N, int C, int V, int chunk, int ignore_every, int three_d, int large) {
    tcase c = mk("linear_cross_entropy", build_lce, ref_lce);
    if (three_d) addf(&c, 0, 1.0, 3, 2, N / 2, C, 0);
    else addf(&c, 0, 1.0, 2, N, C, 0, 0);
    addf(&c, 1, 1.0, 2, V, C, 0, 0);
    if (three_d) addi(&c, V, ignore_every, 2, 2, N / 2, 0, 0);
    else addi(&c, V, ignore_every, 1, N, 0, 0, 0);
    c.ip[0] = -100;
    c.ip[7] = -100;
    c.ip[1] = chunk;
    c.large = large;
    c.fd_samples = large ? 32 : 0;
    run(c);
}
static void test_linear_cross_entropy(void) {
    static const int chunks[] = {7, 1, 2, 3, 4, 6, 16, 0};
    size_t i;
    group_begin();
    for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) lce_case(6, 5, 7, chunks[i], 4, 0, 0);
    lce_case(6, 3, 17, 5, 0, 1, 0); /* 3-D x, 17 = 3 * 5 + 2 */
    lce_case(1, 1, 1, 1, 0, 0, 0);
    lce_case(3, 4, 5, 2, 1, 0, 0); /* every row ignored */
    lce_case(64, 32, 300, 64, 7, 0, 1);
    lce_case(128, 64, 300, 128, 7, 0, 1); /* chunk gemm past the thread threshold, tail of 44 */
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
static void test_reduce(void) {
    int mean;
    tcase c;
    group_begin();
    for (mean = 0; mean < 2; mean++) {
        c = mk(mean ? "mean" : "sum", build_reduce, ref_reduce);
        addf(&c, 0, 1.0, 2, 3, 17, 0, 0);
        c.ip[0] = mean;
        run(c);
        c = mk(mean ? "mean" : "sum", build_reduce, ref_reduce);
        addf(&c, 1, 1.0, 1, 1, 0, 0, 0);
        c.ip[0] = mean;
        run(c);
        c = mk(mean ? "mean large" : "sum large", build_reduce, ref_reduce);
        addf(&c, 0, 1.0, 2, 20, 1000, 0, 0);
        c.ip[0] = mean;
        c.fd_samples = 24;
        c.large = 1;
        run(c);
    }
    group_end("sum, mean");
}

/* --- reshape: views between ops, so gradients flow through a view --- */
/* x [2, 3, 4] -> [6, 4] -> rmsnorm(w [4]) */
static void ref_reshape_norm(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    tcase t = *c;
    t.fnd[0] = 2;
    t.fdims[0][0] = 6;
    t.fdims[0][1] = 4;
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
    r = mk("", NULL, NULL);
    addf(&r, 0, 1.0, 4, 2, 3, 2, 4);
    r.dp[0] = 10000.0f;
    r.ip[0] = 2;
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
static void test_reshape(void) {
    tcase c;
    group_begin();
    c = mk("reshape -> rmsnorm", build_reshape_norm, ref_reshape_norm);
    addf(&c, 0, 1.0, 3, 2, 3, 4, 0);
    addf(&c, 1, 1.0, 1, 4, 0, 0, 0);
    run(c);
    c = mk("matmul -> reshape -> rope -> reshape", build_reshape_rope, ref_reshape_rope);
    addf(&c, 0, 1.0, 2, 6, 5, 0, 0);
    addf(&c, 1, 1.0, 2, 8, 5, 0, 0);
    run(c);
    c = mk("reshape of a param", build_reshape_param, ref_reshape_param);
    addf(&c, 0, 1.0, 3, 2, 3, 4, 0);
    addf(&c, 1, 1.0, 1, 12, 0, 0, 0);
    run(c);
    c = mk("x direct and through views", build_reshape_twice, ref_reshape_twice);
    addf(&c, 0, 1.0, 2, 6, 4, 0, 0);
    run(c);
    c = mk("reshape as the op output", build_reshape_out, ref_reshape_out);
    addf(&c, 0, 2.0, 2, 3, 5, 0, 0);
    run(c);
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
    int V = c->fdims[0][0], C = c->fdims[0][1];
    size_t N = inum(c, 0);
    double *h = (double *)malloc(sizeof(double) * N * (size_t)C), *hn = (double *)malloc(sizeof(double) * N * (size_t)C);
    double *ff[2];
    tcase t = *c;
    (void)V;
    ref_embedding(c, f, ids, h);
    t.nf = 2;
    t.fnd[0] = 2;
    t.fdims[0][0] = (int)N;
    t.fdims[0][1] = C;
    t.ip[0] = 0;
    t.dp[0] = 1e-5f;
    ff[0] = h;
    ff[1] = f[1];
    ref_norm(&t, ff, ids, hn);
    t.fdims[1][0] = c->fdims[0][0];
    t.fdims[1][1] = C;
    t.fnd[1] = 2;
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
    int V = c->fdims[0][0], C = c->fdims[0][1], v, k;
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
    int C = c->fdims[0][1], n, k, j, N = c->fdims[0][0];
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
    t.fnd[1] = t.fnd[2] = 4;
    memcpy(t.fdims[1], c->fdims[0], sizeof t.fdims[1]);
    memcpy(t.fdims[2], c->fdims[0], sizeof t.fdims[2]);
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
    t.fnd[1] = c->fnd[0];
    memcpy(t.fdims[1], c->fdims[0], sizeof t.fdims[1]);
    ref_matmul(&t, ff, ids, out);
}
static it_tensor *build_self_mm(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    (void)ids;
    return it_matmul(g, f[0], f[0], c->ip[0], c->ip[1]);
}
/* out = a^T b + silu(a): silu's backward runs first, so matmul's dA must add to it */
static void ref_mm_then_silu(const tcase *c, double *const *f, int32_t *const *ids, double *out) {
    int M = c->fdims[0][0], i;
    ref_matmul(c, f, ids, out);
    for (i = 0; i < M * M; i++) out[i] += f[0][i] * d_sigmoid(f[0][i]);
}
static it_tensor *build_mm_then_silu(it_graph *g, it_tensor **f, it_tensor **ids, const tcase *c) {
    it_tensor *y = it_matmul(g, f[0], f[1], c->ip[0], c->ip[1]);
    (void)ids;
    return it_add(g, y, it_silu(g, f[0]));
}
static void test_accumulation(void) {
    tcase c;
    int i;
    group_begin();
    c = mk("add(mul(x, x), x)", build_twice, ref_twice);
    addf(&c, 0, 1.0, 2, 3, 17, 0, 0);
    run(c);
    c = mk("add(mul(w, w), w) param", build_twice, ref_twice);
    addf(&c, 1, 1.0, 1, 5, 0, 0, 0);
    run(c);
    c = mk("add(mul(x, x), x) large", build_twice, ref_twice);
    addf(&c, 0, 1.0, 1, 9000, 0, 0, 0);
    c.fd_samples = 24;
    run(c);
    c = mk("tied embedding + linear_cross_entropy", build_tied_lce, ref_tied_lce);
    addf(&c, 1, 1.0, 2, 9, 6, 0, 0);
    addf(&c, 1, 0.5, 1, 6, 0, 0, 0);
    c.fshift[1] = 1.0;
    addi(&c, 9, 0, 2, 2, 5, 0, 0);
    addi(&c, 9, 4, 2, 2, 5, 0, 0);
    c.ip[7] = -100;
    c.ip[1] = 4;
    run(c);
    c = mk("tied embedding + matmul head", build_tied_matmul, ref_tied_matmul);
    addf(&c, 1, 1.0, 2, 7, 5, 0, 0);
    addi(&c, 7, 0, 1, 6, 0, 0, 0);
    run(c);
    c = mk("residual x + silu(x W^T)", build_residual, ref_residual);
    addf(&c, 0, 1.0, 2, 4, 6, 0, 0);
    addf(&c, 1, 0.5, 2, 6, 6, 0, 0);
    run(c);
    c = mk("matmul(a, a) a^T a", build_self_mm, ref_self_mm);
    addf(&c, 0, 1.0, 3, 2, 5, 3, 0);
    c.ip[0] = 1;
    run(c);
    c = mk("matmul(a, a) a a^T", build_self_mm, ref_self_mm);
    addf(&c, 1, 1.0, 2, 4, 7, 0, 0);
    c.ip[1] = 1;
    run(c);
    for (i = 0; i < 4; i++) {
        c = mk("matmul(a, b) + silu(a)", build_mm_then_silu, ref_mm_then_silu);
        addf(&c, 0, 1.0, 2, 5, 5, 0, 0);
        addf(&c, i & 1, 1.0, 2, 5, 5, 0, 0);
        c.ip[0] = i & 1;
        c.ip[1] = i >> 1;
        run(c);
    }
    c = mk("attention(x, x, x)", build_self3, ref_self3);
    addf(&c, 0, 1.0, 4, 2, 5, 2, 3);
    run(c);
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
    it_graph_zero_grads(g);
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "first run");
    memcpy(gx1, it_grad(x), sizeof gx1);
    memcpy(gw1, it_grad(w), sizeof gw1);
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "second run");
    for (i = 0; i < 12; i++) ok_x &= it_grad(x)[i] == gx1[i];
    for (i = 0; i < 16; i++) ok_w &= it_test_close(it_grad(w)[i], 2.0 * gw1[i], 1e-6, 1e-7);
    CHECK(ok_x, "input gradient changed on a second run (it must be recomputed, not accumulated)");
    CHECK(ok_w, "parameter gradient did not accumulate over two runs");
    it_graph_zero_grads(g);
    for (i = 0; i < 16; i++) ok_w &= it_grad(w)[i] == 0.0f;
    CHECK(ok_w, "it_graph_zero_grads left a non-zero parameter gradient");
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
    test_reshape();
    test_accumulation();
    test_run_twice();
    test_input_grad_kept();
    test_unconsumed_view_output();
    test_embedding_range();
    return it_test_finish();
}
