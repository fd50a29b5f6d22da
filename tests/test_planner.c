/* Planner tests: liveness packing on a 4-layer Llama-shaped graph (embedding, RMSNorm, RoPE, GQA
   attention, SwiGLU, fused head + loss). Planned bytes must be strictly below the no-reuse sum,
   and a run with the packed arena must be bit-identical to a run where every buffer has its own
   bytes. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

enum { VOCAB = 67, DIM = 32, LAYERS = 4, HEADS = 4, KV_HEADS = 2, FFN = 48, BATCH = 2, SEQ = 9 };

typedef struct built { it_graph *g; it_tensor *ids, *targets, *loss; } built;

static it_tensor *linear(it_graph *g, it_tensor *x, it_tensor *w) { return it_matmul(g, x, w, 0, 1); }

static void declare_params(it_context *ctx) {
    char name[64];
    int l, hd = DIM / HEADS;
    it_param(ctx, "embed", 2, (int[]){VOCAB, DIM});
    for (l = 0; l < LAYERS; l++) {
#define P(suffix, ...) (snprintf(name, sizeof name, "l%d.%s", l, suffix), it_param(ctx, name, __VA_ARGS__))
        P("attn_norm", 1, (int[]){DIM});
        P("wq", 2, (int[]){HEADS * hd, DIM});
        P("wk", 2, (int[]){KV_HEADS * hd, DIM});
        P("wv", 2, (int[]){KV_HEADS * hd, DIM});
        P("wo", 2, (int[]){DIM, HEADS * hd});
        P("mlp_norm", 1, (int[]){DIM});
        P("wgate", 2, (int[]){FFN, DIM});
        P("wup", 2, (int[]){FFN, DIM});
        P("wdown", 2, (int[]){DIM, FFN});
#undef P
    }
    it_param(ctx, "norm", 1, (int[]){DIM});
}

static it_tensor *param(it_context *ctx, int layer, const char *suffix) {
    char name[64];
    snprintf(name, sizeof name, "l%d.%s", layer, suffix);
    return it_param_find(ctx, name);
}

static built build(it_context *ctx) {
    built b;
    int l, hd = DIM / HEADS;
    it_tensor *x;
    b.g = it_graph_create(ctx);
    b.ids = it_input(b.g, "ids", IT_I32, 2, (int[]){BATCH, SEQ});
    b.targets = it_input(b.g, "targets", IT_I32, 2, (int[]){BATCH, SEQ});
    x = it_embedding(b.g, it_param_find(ctx, "embed"), b.ids);
    for (l = 0; l < LAYERS; l++) {
        it_tensor *h = it_rmsnorm(b.g, x, param(ctx, l, "attn_norm"), 1e-5f);
        it_tensor *q = it_reshape(b.g, linear(b.g, h, param(ctx, l, "wq")), 4, (int[]){BATCH, SEQ, HEADS, hd});
        it_tensor *k = it_reshape(b.g, linear(b.g, h, param(ctx, l, "wk")), 4, (int[]){BATCH, SEQ, KV_HEADS, hd});
        it_tensor *v = it_reshape(b.g, linear(b.g, h, param(ctx, l, "wv")), 4, (int[]){BATCH, SEQ, KV_HEADS, hd});
        it_tensor *att = it_attention(b.g, it_rope(b.g, q, 10000.0f, 0), it_rope(b.g, k, 10000.0f, 0), v);
        att = it_reshape(b.g, att, 3, (int[]){BATCH, SEQ, DIM});
        x = it_add(b.g, x, linear(b.g, att, param(ctx, l, "wo")));
        h = it_rmsnorm(b.g, x, param(ctx, l, "mlp_norm"), 1e-5f);
        h = it_swiglu(b.g, linear(b.g, h, param(ctx, l, "wgate")), linear(b.g, h, param(ctx, l, "wup")));
        x = it_add(b.g, x, linear(b.g, h, param(ctx, l, "wdown")));
    }
    x = it_rmsnorm(b.g, x, it_param_find(ctx, "norm"), 1e-5f);
    b.loss = it_linear_cross_entropy(b.g, x, it_param_find(ctx, "embed"), b.targets, -1, 16); /* tied head */
    it_graph_backward(b.g, b.loss);
    return b;
}

/* Plans (packed or not), runs one forward+backward on fixed data, returns the loss. */
static float run(it_context *ctx, built *b, int no_reuse, it_plan_stats *stats) {
    int i;
    it_result r = it_graph_plan_ex(b->g, no_reuse);
    CHECK(r == IT_OK, "plan: %s", it_context_last_error(ctx));
    it_param_init_normal(ctx, 0.1f, 42);
    for (i = 0; i < it_param_count(ctx); i++)
        if (strstr(it_tensor_name(it_param_at(ctx, i)), "norm")) it_param_fill(it_param_at(ctx, i), 1.0f);
    for (i = 0; i < BATCH * SEQ; i++) {
        it_data_i32(b->ids)[i] = (i * 7 + 3) % VOCAB;
        it_data_i32(b->targets)[i] = (i * 5 + 1) % VOCAB;
    }
    it_zero_grads(ctx);
    r = it_graph_run(b->g, IT_RUN_FORWARD_BACKWARD);
    CHECK(r == IT_OK, "run: %s", it_context_last_error(ctx));
    *stats = it_graph_stats(b->g);
    return it_data(b->loss)[0];
}

int main(void) {
    it_context *packed_ctx, *plain_ctx;
    built packed, plain;
    it_plan_stats ps, us;
    float packed_loss, plain_loss;
    size_t n;

    it_context_create(&(it_context_desc){.n_threads = 2}, &packed_ctx);
    it_context_create(&(it_context_desc){.n_threads = 2}, &plain_ctx);
    declare_params(packed_ctx);
    declare_params(plain_ctx);
    packed = build(packed_ctx);
    plain = build(plain_ctx);

    packed_loss = run(packed_ctx, &packed, 0, &ps);
    plain_loss = run(plain_ctx, &plain, 1, &us);
    printf("planner: %d nodes, %d steps, %d buffers: arena %zu bytes planned vs %zu without reuse (%.1f%%)\n",
           ps.n_nodes, ps.n_steps, ps.n_buffers, ps.arena_bytes, ps.unplanned_bytes,
           100.0 * (double)ps.arena_bytes / (double)ps.unplanned_bytes);

    CHECK(ps.arena_bytes < ps.unplanned_bytes, "planned %zu must be below the sum %zu", ps.arena_bytes,
          ps.unplanned_bytes);
    CHECK(ps.arena_bytes * 2 < ps.unplanned_bytes, "reuse should at least halve the arena here: %zu of %zu",
          ps.arena_bytes, ps.unplanned_bytes);
    CHECK(us.arena_bytes == us.unplanned_bytes, "no-reuse plan is %zu, sum %zu", us.arena_bytes, us.unplanned_bytes);
    CHECK(ps.n_nodes == us.n_nodes && ps.n_buffers == us.n_buffers, "both graphs have the same shape");
    CHECK(isfinite(packed_loss) && packed_loss > 0.0f, "loss %f", packed_loss);
    CHECK(memcmp(&packed_loss, &plain_loss, sizeof(float)) == 0, "loss differs: packed %.9g, no reuse %.9g",
          packed_loss, plain_loss);
    n = it_param_numel(packed_ctx);
    CHECK(n == it_param_numel(plain_ctx), "same parameter count");
    CHECK(memcmp(it_grad_block(packed_ctx), it_grad_block(plain_ctx), n * sizeof(float)) == 0,
          "gradients differ between the packed and the no-reuse arena");
    {   /* every parameter got a nonzero gradient: the backward reached all of them */
        int i, all = 1;
        for (i = 0; i < it_param_count(packed_ctx); i++) {
            it_tensor *p = it_param_at(packed_ctx, i);
            double ss = it_cpu_sum_squares(it_grad(p), it_tensor_numel(p));
            if (!(ss > 0.0)) {
                all = 0;
                fprintf(stderr, "parameter %s has a zero gradient\n", it_tensor_name(p));
            }
        }
        CHECK(all, "every parameter receives a gradient");
    }
    {   /* a second run on the same plan gives the same loss: nothing stale survives in the arena */
        float again;
        it_zero_grads(packed_ctx);
        it_graph_run(packed.g, IT_RUN_FORWARD_BACKWARD);
        again = it_data(packed.loss)[0];
        CHECK(memcmp(&again, &packed_loss, sizeof(float)) == 0, "second run loss %.9g vs %.9g", again, packed_loss);
        CHECK(memcmp(it_grad_block(packed_ctx), it_grad_block(plain_ctx), n * sizeof(float)) == 0,
              "second run gradients differ");
    }
    {   /* forward-only graph: activations die as soon as they are read, so the arena is far smaller */
        it_graph *fwd = it_graph_create(packed_ctx);
        it_tensor *ids = it_input(fwd, "ids", IT_I32, 2, (int[]){BATCH, SEQ});
        it_tensor *x = it_embedding(fwd, it_param_find(packed_ctx, "embed"), ids);
        it_tensor *y = it_rmsnorm(fwd, it_rmsnorm(fwd, it_rmsnorm(fwd, x, it_param_find(packed_ctx, "norm"), 1e-5f),
                                                  it_param_find(packed_ctx, "norm"), 1e-5f),
                                  it_param_find(packed_ctx, "norm"), 1e-5f);
        it_plan_stats fs;
        CHECK(it_graph_plan(fwd) == IT_OK, "forward-only plan");
        fs = it_graph_stats(fwd);
        CHECK(fs.arena_bytes < fs.unplanned_bytes, "forward chain reuses buffers: %zu of %zu", fs.arena_bytes,
              fs.unplanned_bytes);
        CHECK(it_graph_run(fwd, IT_RUN_FORWARD) == IT_OK, "forward-only run");
        CHECK(isfinite(it_data(y)[0]), "output readable after the run (unconsumed outputs are kept)");
        CHECK(it_graph_run(fwd, IT_RUN_FORWARD_BACKWARD) == IT_ERR_STATE, "backward on a graph without one");
    }
    it_context_destroy(packed_ctx);
    it_context_destroy(plain_ctx);
    return it_test_finish();
}
