/* The plan made for the compute dtype (>>planner, it__plan_storage): under bf16 the tensors that only
   matrix products and SwiGLU read are stored in bf16. Checked here: which tensors the rule picks and
   which it must leave in fp32 (another reader, a kept tensor, a gradient with two writers, an f32
   plan, a backend without bf16 storage); the no-reuse sum falls by exactly the halved buffers' bytes
   less the matmuls' staging; each op's bf16 output (RMSNorm, matmul through its staging rows) is the
   rounded fp32 value bit for bit, and SwiGLU's bf16 output and input gradients are those of its bf16
   inputs widened, rounded, bit for bit; the bf16 plan's step differs from the fp32 plan's run in bf16
   only by SwiGLU reading rounded gate and up (as autocast's bf16 linear outputs do), at every bf16
   kernel this CPU has, and a Llama's loss and gradients stay within test_bf16's tolerances of the
   fp32 mode's; a bf16 plan refuses an f32 run, naming why. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

enum { N = 37, C = 300, F = 70, C2 = 19 }; /* C > IT__EW_BLOCK: the kernels' blocks are crossed */

typedef struct mlp { it_graph *g; it_tensor *x, *h, *gate, *up, *s, *y, *loss; } mlp;

/* loss = mean(swiglu(norm(x) Wg^T, norm(x) Wu^T) Wd^T), planned without reuse so every buffer
   keeps its value after the run */
static mlp build_mlp(it_context *ctx, it_tensor **p, it_dtype plan_dtype) {
    mlp m;
    it_context_set_compute_dtype(ctx, plan_dtype);
    m.g = it_graph_create(ctx);
    m.x = it_input(m.g, "x", IT_F32, 2, (int[]){N, C});
    m.h = it_rmsnorm(m.g, m.x, p[0], 1e-5f);
    m.gate = it_matmul(m.g, m.h, p[1], 0, 1);
    m.up = it_matmul(m.g, m.h, p[2], 0, 1);
    m.s = it_swiglu(m.g, m.gate, m.up);
    m.y = it_matmul(m.g, m.s, p[3], 0, 1);
    m.loss = it_mean(m.g, m.y);
    it_graph_backward(m.g, m.loss);
    CHECK(it_graph_plan_ex(m.g, 1) == IT_OK, "plan: %s", it_context_last_error(ctx));
    return m;
}
/* the arena bytes a buffer of n values saves in bf16 (each buffer starts on an IT__ALIGN boundary) */
static size_t halved(size_t n) { return IT__ALIGN_UP(n * 4, (size_t)IT__ALIGN) - IT__ALIGN_UP(n * 2, (size_t)IT__ALIGN); }
/* t's stored bf16 bits equal the rounding of the n fp32 values w */
static void check_rounded_values(it_tensor *t, const float *w, size_t n, const char *what, const char *level) {
    const uint16_t *got = (const uint16_t *)it_data_raw(t);
    size_t i, bad = 0;
    for (i = 0; i < n && i < t->numel; i++) bad += got[i] != it_f32_to_bf16(w[i]);
    CHECK(t->dtype == IT_BF16 && t->numel == n && bad == 0, "%s: %s in bf16 is the rounded fp32 value (%zu of %zu differ)", level,
          what, bad, t->numel);
}
/* ... of the fp32 tensor `want` */
static void check_rounded(it_tensor *t, it_tensor *want, const char *what, const char *level) {
    CHECK(want->dtype == IT_F32, "%s: %s's reference is fp32", level, what);
    check_rounded_values(t, it_data(want), want->numel, what, level);
}
/* a bf16 tensor's values widened to fp32 (malloc'd) */
static float *widened(it_tensor *t) {
    float *f = (float *)malloc(t->numel * sizeof(float));
    it_bf16_to_f32_array(f, (const uint16_t *)it_data_raw(t), t->numel);
    return f;
}
/* the arena bytes of a bf16 matmul output's fp32 staging rows (it__matmul_staging) in g */
static size_t staging_bytes(const it_graph *g) {
    size_t b = 0;
    int i;
    for (i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == IT_OP_MATMUL && g->nodes[i].scratch) b += IT__ALIGN_UP(g->nodes[i].scratch->numel * 4, (size_t)IT__ALIGN);
    return b;
}

static void test_ops_and_step(void) {
    it_context *ctx = it_test_context(2);
    it_tensor *p[4];
    mlp a, b;
    size_t n, i;
    float *grad_a;
    int level;
    p[0] = it_param(ctx, "norm", 1, (int[]){C});
    p[1] = it_param(ctx, "wg", 2, (int[]){F, C});
    p[2] = it_param(ctx, "wu", 2, (int[]){F, C});
    p[3] = it_param(ctx, "wd", 2, (int[]){C2, F});
    a = build_mlp(ctx, p, IT_F32);
    b = build_mlp(ctx, p, IT_BF16);
    CHECK(it_graph_stats(a.g).n_bf16_buffers == 0 && it_graph_stats(b.g).n_bf16_buffers == 6,
          "bf16 buffers: %d in the f32 plan (0), %d in the bf16 plan (6: norm out, gate, up, swiglu out, d gate, d up)",
          it_graph_stats(a.g).n_bf16_buffers, it_graph_stats(b.g).n_bf16_buffers);
    CHECK(b.h->dtype == IT_BF16 && b.gate->dtype == IT_BF16 && b.up->dtype == IT_BF16 && b.s->dtype == IT_BF16 &&
              b.gate->grad->dtype == IT_BF16 && b.up->grad->dtype == IT_BF16,
          "bf16: the norm output, gate and up (products made them, swiglu reads them), the swiglu output and the gate / up gradients");
    CHECK(b.h->grad->dtype == IT_F32 && b.s->grad->dtype == IT_F32 && b.y->dtype == IT_F32,
          "f32: d(norm out) (three products add into it), d(swiglu out), y");
    CHECK(staging_bytes(a.g) == 0 && staging_bytes(b.g) == 2 * IT__ALIGN_UP((size_t)N * F * 4, (size_t)IT__ALIGN),
          "the bf16 gate and up each have fp32 staging rows (%zu bytes in all; the f32 plan %zu)", staging_bytes(b.g), staging_bytes(a.g));
    CHECK(it_graph_stats(a.g).unplanned_bytes - it_graph_stats(b.g).unplanned_bytes ==
              halved((size_t)N * C) + 5 * halved((size_t)N * F) - staging_bytes(b.g),
          "the buffers' sum falls by the halved buffers' bytes less the staging (%zu -> %zu)", it_graph_stats(a.g).unplanned_bytes,
          it_graph_stats(b.g).unplanned_bytes);
    it_test_fill(it_param_block(ctx), it_param_numel(ctx), 0.5f);
    for (i = 0; i < C; i++) it_param_block(ctx)[i] = 1.0f + 0.25f * it_test_signed(); /* norm weight near 1 */
    it_test_fill(it_data(a.x), (size_t)N * C, 2.0f);
    memcpy(it_data(b.x), it_data(a.x), (size_t)N * C * sizeof(float));
    n = it_grad_numel(ctx);
    grad_a = (float *)malloc(n * sizeof(float));
    for (level = IT__BF16_PORTABLE; level < IT__BF16_LEVEL_COUNT; level++) {
        const char *name = it__bf16_level_names[level];
        if (!it__bgemm_level_available(level)) {
            printf("  %s: not on this CPU, skipped\n", name);
            continue;
        }
        it__bgemm_force_isa = level;
        it_context_set_compute_dtype(ctx, IT_BF16); /* the f32 plan run in bf16: the same products */
        it_zero_grads(ctx);
        CHECK(it_graph_run(a.g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "f32 plan, bf16 run: %s", it_context_last_error(ctx));
        memcpy(grad_a, it_grad_block(ctx), n * sizeof(float));
        it_zero_grads(ctx);
        CHECK(it_graph_run(b.g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16 plan: %s", it_context_last_error(ctx));
        check_rounded(b.h, a.h, "rmsnorm output", name);
        check_rounded(b.gate, a.gate, "matmul output (gate)", name);
        check_rounded(b.up, a.up, "matmul output (up)", name);
        { /* swiglu of the bf16 gate and up, widened: the output and (from the plan's own d(out)) d(gate), d(up) */
            size_t m = b.s->numel;
            float *g = widened(b.gate), *u = widened(b.up), *y = (float *)malloc(m * 4), *dg = (float *)calloc(m, 4), *du = (float *)calloc(m, 4);
            it__swiglu_forward_fast(y, g, u, m);
            it__swiglu_backward_fast(dg, 0, du, 0, it_grad(b.s), g, u, m);
            check_rounded_values(b.s, y, m, "swiglu output (of the bf16 gate and up)", name);
            check_rounded_values(b.gate->grad, dg, m, "swiglu's d(gate)", name);
            check_rounded_values(b.up->grad, du, m, "swiglu's d(up)", name);
            free(g), free(u), free(y), free(dg), free(du);
        }
        it_test_check_bf16_grads(name, it_data(b.loss)[0], it_data(a.loss)[0], it_grad_block(ctx), grad_a, n);
        it__bgemm_force_isa = IT__BF16_AUTO;
    }
    it_context_set_compute_dtype(ctx, IT_F32);
    CHECK(it_graph_run(b.g, IT_RUN_FORWARD) == IT_ERR_STATE && strstr(it_context_last_error(ctx), "planned under compute dtype bf16"),
          "a bf16 plan refuses an f32 run: %s", it_context_last_error(ctx));
    CHECK(it_graph_run(a.g, IT_RUN_FORWARD) == IT_OK, "the f32 plan still runs in f32: %s", it_context_last_error(ctx));
    free(grad_a);
    it_graph_destroy(a.g);
    it_graph_destroy(b.g);
    it_context_destroy(ctx);
}

/* The rule's exclusions: each graph is one change away from the bf16 case above. */
static void test_rule(void) {
    it_context *ctx = it_test_context(1);
    it_tensor *norm = it_param(ctx, "norm", 1, (int[]){C}), *wg = it_param(ctx, "wg", 2, (int[]){F, C});
    it_tensor *wd = it_param(ctx, "wd", 2, (int[]){C2, F}), *x, *h, *gate, *s, *y, *loss;
    it_graph *g;
    int kind;
    for (kind = 0; kind < 5; kind++) {
        it_context_set_compute_dtype(ctx, kind == 3 ? IT_F32 : IT_BF16);
        it_context_backend(ctx)->bf16_storage = kind != 4;
        g = it_graph_create(ctx);
        x = it_input(g, "x", IT_F32, 2, (int[]){N, C});
        h = it_rmsnorm(g, x, norm, 1e-5f);
        gate = it_matmul(g, h, wg, 0, 1);
        s = it_swiglu(g, gate, gate); /* one input twice: two writers of d(gate) */
        y = it_matmul(g, s, wd, 0, 1);
        loss = it_mean(g, y);
        if (kind == 0) loss = it_add(g, loss, it_mean(g, h)); /* the norm output read by a non-product too */
        if (kind == 1) it_keep(h);                            /* the caller reads it after the run */
        it_graph_backward(g, loss);
        CHECK(it_graph_plan(g) == IT_OK, "plan %d: %s", kind, it_context_last_error(ctx));
        CHECK(gate->grad->dtype == IT_F32, "case %d: d(gate) with two writers (swiglu(gate, gate)) stays f32", kind);
        CHECK(y->dtype == IT_F32, "case %d: a matmul output a mean reads stays f32", kind);
        if (kind <= 2) CHECK(gate->dtype == IT_BF16, "case %d: a matmul output only swiglu reads is bf16", kind);
        if (kind <= 1) CHECK(h->dtype == IT_F32 && s->dtype == IT_BF16, "case %d: the norm output %s stays f32, swiglu's is bf16", kind,
                             kind ? "kept" : "read by a mean");
        if (kind == 2) CHECK(h->dtype == IT_BF16 && s->dtype == IT_BF16, "only products read them: bf16");
        if (kind >= 3)
            CHECK(it_graph_stats(g).n_bf16_buffers == 0 && h->dtype == IT_F32 && s->dtype == IT_F32 && it_graph_stats(g).bf16_bytes == 0,
                  "%s: everything f32", kind == 3 ? "an f32 plan" : "a backend without bf16 storage");
        it_graph_destroy(g);
    }
    it_context_backend(ctx)->bf16_storage = 1;
    it_context_destroy(ctx);
}

/* The graph's fused head + loss node */
static const it_node *head_node(const it_graph *g) {
    int i;
    for (i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == IT_OP_LINEAR_CROSS_ENTROPY) return &g->nodes[i];
    return NULL;
}
/* whether a bf16 product made parameter p's bf16 copy (it__param_bf16) */
static int has_bf16_copy(it_context *ctx, const it_tensor *p) {
    int i;
    for (i = 0; i < ctx->n_params; i++)
        if (ctx->params[i] == p) return ctx->param_bf16 && ctx->param_bf16[i].bits;
    return 0;
}
/* A Llama with its layers recomputed in the backward (the bench's configuration): planned under
   bf16 it stores 7 buffers a layer in bf16 (two norm outputs, gate, up, the SwiGLU output, d gate, d up)
   and the final norm's output (the fused head reads it), its
   fused head + loss's scratch also holds the tied head's W in bf16 (so no parameter gets a bf16
   copy of the context's: the layers' weights are rounded by the products' packing), its arena is smaller, and its
   loss and gradients are within test_bf16's tolerances of the fp32-planned graph's in bf16 and of
   the fp32 mode's. */
static void test_model(void) {
    it_context *ctx = it_test_context(2);
    it_model_config cfg = it_test_llama();
    it_model *m = NULL;
    it_model_graph g32, g16;
    it_plan_stats s32, s16;
    size_t n, i, saved = 0, stored = 0, w_bytes, w_need;
    const it_node *head16, *head32;
    it_tensor *embed, *wq;
    float *grad32, *grad16;
    double loss32, loss16;
    int t;
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK, "model: %s", it_context_last_error(ctx));
    it_model_set_recompute_layers(m, 1);
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 16, &g32) == IT_OK, "f32 graph: %s", it_context_last_error(ctx));
    it_context_set_compute_dtype(ctx, IT_BF16);
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 16, &g16) == IT_OK, "bf16 graph: %s", it_context_last_error(ctx));
    it_model_init(m, 3);
    s32 = it_graph_stats(g32.graph), s16 = it_graph_stats(g16.graph);
    CHECK(s32.n_bf16_buffers == 0 && s16.n_bf16_buffers == 7 * cfg.n_layers + 1, "bf16 buffers %d (want %d), f32 plan %d",
          s16.n_bf16_buffers, 7 * cfg.n_layers + 1, s32.n_bf16_buffers);
    for (i = 0; i < (size_t)g16.graph->n_tensors; i++) {
        it_tensor *b = g16.graph->tensors[i];
        if (!b->view_of && b->dtype == IT_BF16) saved += halved(b->numel), stored += IT__ALIGN_UP(b->numel * 2, (size_t)IT__ALIGN);
    }
    head16 = head_node(g16.graph), head32 = head_node(g32.graph);
    CHECK(head16 && head32, "both graphs end in the fused head + loss");
    w_need = (size_t)cfg.vocab_size * (size_t)cfg.dim * 2; /* W [vocab, dim] in bf16 */
    w_bytes = IT__ALIGN_UP(head16->scratch->numel * 4, (size_t)IT__ALIGN) - IT__ALIGN_UP(head32->scratch->numel * 4, (size_t)IT__ALIGN);
    CHECK(head32->iparam[2] == 0 && head16->iparam[2] > 0 && w_bytes >= w_need && w_bytes < w_need + 4 * (size_t)head16->iparam[1] + IT__ALIGN &&
              it__linear_cross_entropy_logit_floats(head16) == head32->scratch->numel,
          "the bf16 plan's head scratch adds %zu bytes (%d rows of %d) for W in bf16 (%zu bytes, less than a row more), its logits "
          "keep the f32 plan's %zu floats", w_bytes, head16->iparam[2], head16->iparam[1], w_need, head32->scratch->numel);
    CHECK(s16.arena_bytes < s32.arena_bytes && s32.unplanned_bytes - s16.unplanned_bytes == saved - w_bytes - staging_bytes(g16.graph) &&
              s16.bf16_bytes == stored && staging_bytes(g16.graph) > 0,
          "arena %zu -> %zu bytes; buffers' sum %zu -> %zu (the halved buffers save %zu, the head's W adds %zu, the staging %zu); bf16 "
          "bytes %zu (want %zu)", s32.arena_bytes, s16.arena_bytes, s32.unplanned_bytes, s16.unplanned_bytes, saved, w_bytes,
          staging_bytes(g16.graph), s16.bf16_bytes, stored);
    for (t = 0; t < 32; t++) {
        it_data_i32(g32.tokens)[t] = it_data_i32(g16.tokens)[t] = it_test_below(cfg.vocab_size);
        it_data_i32(g32.targets)[t] = it_data_i32(g16.targets)[t] = it_test_below(cfg.vocab_size);
    }
    n = it_grad_numel(ctx);
    grad32 = (float *)malloc(n * sizeof(float)), grad16 = (float *)malloc(n * sizeof(float));
    embed = head16->in[1], wq = NULL; /* the tied embedding, and the first weight a layer's product reads */
    for (t = 0; t < g16.graph->n_nodes && !wq; t++)
        if (g16.graph->nodes[t].op == IT_OP_MATMUL && g16.graph->nodes[t].in[1]->block == IT_BLOCK_PARAMS) wq = g16.graph->nodes[t].in[1];
    CHECK(embed->block == IT_BLOCK_PARAMS && wq && wq != embed, "the head reads a parameter, so does a layer's product");
    it_zero_grads(ctx);
    CHECK(it_graph_run(g16.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16 plan: %s", it_context_last_error(ctx));
    CHECK(!has_bf16_copy(ctx, wq) && !has_bf16_copy(ctx, embed),
          "a bf16 plan's step keeps no bf16 copy of a layer's weight (wq: %d) nor of the head's W, which its scratch holds (%d)",
          has_bf16_copy(ctx, wq), has_bf16_copy(ctx, embed));
    loss16 = it_data(g16.loss)[0];
    memcpy(grad16, it_grad_block(ctx), n * sizeof(float));
    it_zero_grads(ctx); /* the f32 plan in bf16: the same products as the bf16 plan's, W from the context's copy */
    CHECK(it_graph_run(g32.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "f32 plan, bf16 run: %s", it_context_last_error(ctx));
    CHECK(has_bf16_copy(ctx, embed) && !has_bf16_copy(ctx, wq),
          "the f32 plan's head, without room in its scratch, reads the context's bf16 copy of W (%d); the layers' weights need none (%d)",
          has_bf16_copy(ctx, embed), has_bf16_copy(ctx, wq));
    loss32 = it_data(g32.loss)[0];
    memcpy(grad32, it_grad_block(ctx), n * sizeof(float));
    it_zero_grads(ctx);
    CHECK(it_graph_run(g16.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16 plan: %s", it_context_last_error(ctx));
    loss16 = it_data(g16.loss)[0];
    memcpy(grad16, it_grad_block(ctx), n * sizeof(float));
    it_test_check_bf16_grads("the bf16 plan against the f32 plan in bf16", loss16, loss32, grad16, grad32, n);
    it_context_set_compute_dtype(ctx, IT_F32);
    it_zero_grads(ctx);
    CHECK(it_graph_run(g32.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "f32 run: %s", it_context_last_error(ctx));
    loss32 = it_data(g32.loss)[0];
    memcpy(grad32, it_grad_block(ctx), n * sizeof(float));
    it_test_check_bf16_grads("the bf16 plan", loss16, loss32, grad16, grad32, n);
    free(grad32), free(grad16);
    it_model_graph_destroy(&g32);
    it_model_graph_destroy(&g16);
    it_context_destroy(ctx);
}

/* A bf16 matmul output made in several blocks of staging rows (5 rows, so 37 rows take 8 blocks, the
   last one short), from a row-major a and from a transposed one (a stored [K, M]): each block's rows
   of a are found at the right offset, so gate and up are the rounded fp32 products bit for bit. */
static void test_staging_blocks(void) {
    it_context *ctx = it_test_context(2);
    it_tensor *wg = it_param(ctx, "wg", 2, (int[]){F, C}), *wu = it_param(ctx, "wu", 2, (int[]){F, C});
    it_tensor *wd = it_param(ctx, "wd", 2, (int[]){C2, F});
    it_tensor *x[2], *xt[2], *gate[2], *up[2];
    it_graph *g[2];
    size_t saved = it__bf16_staging_bytes, i;
    int k;
    it__bf16_staging_bytes = 5 * F * sizeof(float);
    for (k = 0; k < 2; k++) { /* 0: the f32 plan (the reference, run in bf16), 1: the bf16 plan */
        it_context_set_compute_dtype(ctx, k ? IT_BF16 : IT_F32);
        g[k] = it_graph_create(ctx);
        x[k] = it_input(g[k], "x", IT_F32, 2, (int[]){N, C});
        xt[k] = it_input(g[k], "xt", IT_F32, 2, (int[]){C, N}); /* a transposed: op(a) = xt^T [N, C] */
        gate[k] = it_matmul(g[k], xt[k], wg, 1, 1);
        up[k] = it_matmul(g[k], x[k], wu, 0, 1);
        it_graph_backward(g[k], it_mean(g[k], it_matmul(g[k], it_swiglu(g[k], gate[k], up[k]), wd, 0, 1)));
        CHECK(it_graph_plan_ex(g[k], 1) == IT_OK, "plan %d: %s", k, it_context_last_error(ctx));
    }
    it__bf16_staging_bytes = saved;
    CHECK(gate[1]->dtype == IT_BF16 && up[1]->dtype == IT_BF16 && g[1]->nodes[gate[1]->producer].scratch->dims[0] == 5,
          "gate and up in bf16, 5 staging rows each");
    it_test_fill(it_param_block(ctx), it_param_numel(ctx), 0.5f);
    it_test_fill(it_data(x[0]), (size_t)N * C, 2.0f);
    it_test_fill(it_data(xt[0]), (size_t)N * C, 2.0f);
    memcpy(it_data(x[1]), it_data(x[0]), (size_t)N * C * sizeof(float));
    memcpy(it_data(xt[1]), it_data(xt[0]), (size_t)N * C * sizeof(float));
    it_context_set_compute_dtype(ctx, IT_BF16);
    for (k = 0; k < 2; k++) CHECK(it_graph_run(g[k], IT_RUN_FORWARD) == IT_OK, "run %d: %s", k, it_context_last_error(ctx));
    check_rounded(gate[1], gate[0], "gate from a transposed a, 8 staging blocks", it_bf16_kernel_name());
    check_rounded(up[1], up[0], "up from a row-major a, 8 staging blocks", it_bf16_kernel_name());
    for (i = 0, k = 0; i < up[1]->numel; i++) k += ((const uint16_t *)it_data_raw(up[1]))[i] != 0;
    CHECK(k > (int)up[1]->numel / 2, "the products are not zero (%d of %zu nonzero)", k, up[1]->numel);
    for (k = 0; k < 2; k++) it_graph_destroy(g[k]);
    it_context_destroy(ctx);
}

int main(void) {
    test_ops_and_step();
    test_rule();
    test_model();
    test_staging_blocks();
    return it_test_finish();
}
