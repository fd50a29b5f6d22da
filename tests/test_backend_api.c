/* The backend implementer's API (the >>backend section), used the way a new backend uses it: a
   "reference" backend, the CPU table with its matmul replaced by kernels that only run the
   products it_matmul_gemms describes through the single-threaded reference it_cpu_matmul, must
   give the outputs and gradients of the matmul written out as loops, for every transpose and
   batch layout; so must the CPU backend, which runs the same products through its SGEMM. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

static it_result reference_matmul(const it_node *n, int backward) {
    it_gemm gemms[2];
    int count = it_matmul_gemms(n, backward, gemms), k, i;
    for (k = 0; k < count; k++) {
        const it_gemm *p = &gemms[k];
        for (i = 0; i < p->batch; i++)
            it_cpu_matmul(it_data(p->c) + i * p->stride_c, it_data(p->a) + i * p->stride_a,
                          it_data(p->b) + i * p->stride_b, p->M, p->N, p->K, p->trans_a, p->trans_b, p->accumulate);
    }
    return IT_OK;
}
static it_result reference_matmul_forward(it_backend *be, it_graph *g, const it_node *n) {
    (void)be, (void)g;
    return reference_matmul(n, 0);
}
static it_result reference_matmul_backward(it_backend *be, it_graph *g, const it_node *n) {
    (void)be, (void)g;
    return reference_matmul(n, 1);
}
static void free_backend(it_backend *be) { free(be); }

typedef struct matmul_case { int a_ndim, a_dims[4], b_ndim, b_dims[4], trans_a, trans_b; } matmul_case;
typedef struct matmul_result {
    float a[256], b[256], r[256], y[256], da[256], db[256];
    size_t ny, na, nb;
    it_gemm fwd, bwd[2];
    int n_bwd;
} matmul_result;

/* y = op(a) @ op(b) slice by slice (b shared when 2-D) and, for loss = sum(y * r), d(a) and d(b),
   in double straight from the definition */
static void matmul_by_loops(const matmul_case *c, const matmul_result *in, double *y, double *da, double *db) {
    int ta = c->trans_a, tb = c->trans_b, an = c->a_ndim, bn = c->b_ndim;
    int M = ta ? c->a_dims[an - 1] : c->a_dims[an - 2], K = ta ? c->a_dims[an - 2] : c->a_dims[an - 1];
    int N = tb ? c->b_dims[bn - 2] : c->b_dims[bn - 1], batch = (int)(in->na / ((size_t)M * K)), s, m, n, k;
    memset(da, 0, in->na * sizeof(double));
    memset(db, 0, in->nb * sizeof(double));
    for (s = 0; s < batch; s++)
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) {
                size_t yi = ((size_t)s * M + m) * N + n;
                double acc = 0.0;
                for (k = 0; k < K; k++) {
                    size_t ai = (size_t)s * M * K + (ta ? (size_t)k * M + m : (size_t)m * K + k);
                    size_t bi = (bn == 2 ? 0 : (size_t)s * K * N) + (tb ? (size_t)n * K + k : (size_t)k * N + n);
                    acc += (double)in->a[ai] * in->b[bi];
                    da[ai] += (double)in->r[yi] * in->b[bi];
                    db[bi] += (double)in->a[ai] * in->r[yi];
                }
                y[yi] = acc;
            }
}

/* loss = sum(matmul(a, b) * r), r fixed and varied, so each output element has its own gradient */
static void run_case(const matmul_case *c, int reference, matmul_result *res) {
    it_context *ctx = it_test_context(2);
    it_tensor *a, *b, *y, *r;
    it_graph *g;
    size_t i;
    int dims[4], d;
    if (reference) {
        it_backend *be = (it_backend *)malloc(sizeof *be);
        *be = *it_context_backend(ctx);
        be->name = "reference";
        be->destroy = free_backend;
        it_backend_set_op(be, IT_OP_MATMUL, reference_matmul_forward, reference_matmul_backward);
        it_context_set_backend(ctx, be);
    }
    a = it_param(ctx, "a", c->a_ndim, c->a_dims);
    b = it_param(ctx, "b", c->b_ndim, c->b_dims);
    it_param_init_normal(ctx, 1.0f, 7);
    g = it_graph_create(ctx);
    y = it_matmul(g, a, b, c->trans_a, c->trans_b);
    for (d = 0; d < it_tensor_ndim(y); d++) dims[d] = it_tensor_dim(y, d);
    r = it_input(g, "r", IT_F32, it_tensor_ndim(y), dims);
    it_keep(y);
    it_graph_backward(g, it_sum(g, it_mul(g, y, r)));
    CHECK(it_graph_plan(g) == IT_OK, "plan: %s", it_context_last_error(ctx));
    for (i = 0; i < it_tensor_numel(r); i++) it_data(r)[i] = 0.25f * (float)((i * 7) % 11) - 1.0f;
    it_zero_grads(ctx);
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "run: %s", it_context_last_error(ctx));
    res->ny = it_tensor_numel(y), res->na = it_tensor_numel(a), res->nb = it_tensor_numel(b);
    memcpy(res->a, it_data(a), res->na * sizeof(float));
    memcpy(res->b, it_data(b), res->nb * sizeof(float));
    memcpy(res->r, it_data(r), res->ny * sizeof(float));
    memcpy(res->y, it_data(y), res->ny * sizeof(float));
    memcpy(res->da, it_grad(a), res->na * sizeof(float));
    memcpy(res->db, it_grad(b), res->nb * sizeof(float));
    {
        it_node n; /* the node as the graph holds it: it_matmul_gemms reads only the node */
        it_gemm fwd[2];
        memset(&n, 0, sizeof n);
        n.op = IT_OP_MATMUL, n.out = y, n.in[0] = a, n.in[1] = b, n.n_in = 2;
        n.iparam[0] = c->trans_a, n.iparam[1] = c->trans_b;
        CHECK(it_matmul_gemms(&n, 0, fwd) == 1, "one forward product");
        res->fwd = fwd[0];
        res->n_bwd = it_matmul_gemms(&n, 1, res->bwd);
    }
    it_context_destroy(ctx);
}

int main(void) {
    static const matmul_case cases[] = {
        {2, {5, 7}, 2, {7, 3}, 0, 0},
        {2, {7, 5}, 2, {7, 3}, 1, 0},
        {2, {5, 7}, 2, {3, 7}, 0, 1},
        {2, {7, 5}, 2, {3, 7}, 1, 1},
        {4, {2, 2, 5, 7}, 2, {3, 7}, 0, 1},   /* a linear layer: leading dims fold into M */
        {3, {2, 7, 5}, 2, {7, 3}, 1, 0},      /* shared b under a transposed a: two slices */
        {4, {2, 3, 5, 4}, 4, {2, 3, 4, 2}, 0, 0},
        {4, {2, 3, 4, 5}, 4, {2, 3, 2, 4}, 1, 1},
    };
    int k;
    size_t i;
    for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        static matmul_result res;
        static double y[256], da[256], db[256];
        int reference;
        for (reference = 0; reference < 2; reference++) {
            char what[64];
            run_case(&cases[k], reference, &res);
            matmul_by_loops(&cases[k], &res, y, da, db);
            snprintf(what, sizeof what, "case %d, %s backend", k, reference ? "reference" : "cpu");
            for (i = 0; i < res.ny; i++) CHECK_CLOSE(res.y[i], y[i], 1e-5, 1e-5, what);
            for (i = 0; i < res.na; i++) CHECK_CLOSE(res.da[i], da[i], 1e-5, 1e-5, what);
            for (i = 0; i < res.nb; i++) CHECK_CLOSE(res.db[i], db[i], 1e-5, 1e-5, what);
            CHECK(res.n_bwd == 2 && res.bwd[0].accumulate && res.bwd[1].accumulate && !res.fwd.accumulate,
                  "%s: a backward product per input, accumulating into the gradient; forward overwrites", what);
        }
    }
    /* the geometry itself, where it is not just M, N, K of the 2-D case */
    {
        static matmul_result res;
        run_case(&cases[4], 1, &res);
        CHECK(res.fwd.M == 20 && res.fwd.N == 3 && res.fwd.K == 7 && res.fwd.batch == 1 && res.fwd.trans_b,
              "linear layer: one [20, 7] x [7, 3] product, got M %d N %d K %d batch %d", res.fwd.M, res.fwd.N,
              res.fwd.K, res.fwd.batch);
        run_case(&cases[5], 1, &res);
        CHECK(res.fwd.M == 5 && res.fwd.batch == 2 && res.fwd.stride_b == 0 && res.fwd.stride_a == 35 &&
                  res.fwd.stride_c == 15,
              "transposed a over a shared b: 2 slices of [5, 3], b shared (stride 0)");
        CHECK(res.bwd[1].batch == 2 && res.bwd[1].stride_c == 0 && res.bwd[1].accumulate,
              "d(b) of a shared b: every slice accumulates into the one gradient");
    }
    return it_test_finish();
}
