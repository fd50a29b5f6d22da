/* Planner tests: liveness packing on a 4-layer Llama-shaped graph (embedding, RMSNorm, RoPE, GQA
   attention, SwiGLU, fused head + loss). Planned bytes must be strictly below the no-reuse sum,
   and a run with the packed arena must be bit-identical to a run where every buffer has its own
   bytes. The packer gives the offsets a quadratic reference search gives (random lifetimes, some
   with a second, recomputed life), no two buffers alive at one step share a byte, model graphs
   reach the lower bound (the most bytes alive at one step), and a 4000-layer model packs in
   O(n log n) counted steps. */
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


/* ---- the packing against a reference ---------------------------------------------------------- */
static int lives_meet(const it__lifetime *a, const it__lifetime *b) {
    int ai, bi;
    for (ai = 0; ai < (a->first2 >= 0 ? 2 : 1); ai++)
        for (bi = 0; bi < (b->first2 >= 0 ? 2 : 1); bi++) {
            int a0 = ai ? a->first2 : a->first, a1 = ai ? a->last2 : a->last;
            int b0 = bi ? b->first2 : b->first, b1 = bi ? b->last2 : b->last;
            if (a0 <= b1 && b0 <= a1) return 1;
        }
    return 0;
}
/* The specification, quadratic: in order, each item at the lowest offset clear of every placed
   item alive at one of its steps (candidates: 0 and the end of each placed item). */
static size_t reference_pack(const it__lifetime *items, int n, size_t *offsets) {
    size_t total = 0;
    int i, j, k;
    for (i = 0; i < n; i++) {
        size_t best = (size_t)-1;
        for (k = -1; k < i; k++) {
            size_t at = k < 0 ? 0 : offsets[k] + items[k].size;
            int clear = 1;
            if (at >= best) continue;
            for (j = 0; j < i && clear; j++)
                if (lives_meet(&items[i], &items[j]) && at < offsets[j] + items[j].size && offsets[j] < at + items[i].size)
                    clear = 0;
            if (clear) best = at;
        }
        offsets[i] = best;
        if (best + items[i].size > total) total = best + items[i].size;
    }
    return total;
}
/* 1 when no two items alive at one step share a byte. */
static int pack_valid(const it__lifetime *items, int n, const size_t *offsets) {
    int i, j;
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (items[i].size && items[j].size && lives_meet(&items[i], &items[j]) &&
                offsets[i] < offsets[j] + items[j].size && offsets[j] < offsets[i] + items[i].size)
                return 0;
    return 1;
}
static void test_pack_random(void) {
    enum { MAX_ITEMS = 300 };
    static it__lifetime items[MAX_ITEMS];
    static size_t got[MAX_ITEMS], want[MAX_ITEMS];
    it_context *ctx = it_test_context(1);
    int round, mismatches = 0, invalid = 0;
    for (round = 0; round < 200; round++) {
        int n = 1 + it_test_below(MAX_ITEMS), n_steps = 1 + it_test_below(3 * n), i;
        size_t total, ref_total, work;
        for (i = 0; i < n; i++) {
            it__lifetime *t = &items[i];
            int len = it_test_below(round % 2 ? n_steps : 1 + n_steps / 8);
            /* sizes from a few classes (as in a model: many buffers of one shape) or any multiple of 64 */
            t->size = round % 3 ? (size_t)64 << it_test_below(4) : (size_t)64 * (size_t)(1 + it_test_below(50));
            t->first = it_test_below(n_steps);
            t->last = IT__MIN(t->first + len, n_steps - 1);
            t->first2 = t->last2 = -1;
            if (t->last + 2 < n_steps && it_test_below(3) == 0) { /* recomputed later, same offset */
                t->first2 = t->last + 2 + it_test_below(n_steps - t->last - 2);
                t->last2 = IT__MIN(t->first2 + it_test_below(1 + n_steps / 8), n_steps - 1);
            }
        }
        total = it__pack_lifetimes(ctx, items, n, n_steps, got, &work);
        ref_total = reference_pack(items, n, want);
        if (total != ref_total || memcmp(got, want, sizeof(size_t) * (size_t)n) != 0) mismatches++;
        if (!pack_valid(items, n, got)) invalid++;
    }
    CHECK(mismatches == 0, "packer: %d of 200 random sets differ from the reference greedy search", mismatches);
    CHECK(invalid == 0, "packer: %d of 200 random sets share bytes between buffers alive at one step", invalid);
    it_context_destroy(ctx);
}

/* ---- plans of model graphs ---------------------------------------------------------------------- */
/* The arena buffers of a planned graph as lifetimes with their planned offsets; returns the count. */
static int plan_lifetimes(const it_graph *g, it__lifetime *items, size_t *offsets) {
    int i, n = 0;
    for (i = 0; i < g->n_tensors; i++) {
        const it_tensor *t = g->tensors[i];
        if (t->view_of || t->block != IT_BLOCK_ARENA || t->first_step < 0) continue;
        if (items) {
            items[n].size = IT__ALIGN_UP(it_tensor_nbytes(t), (size_t)IT__ALIGN);
            items[n].first = t->first_step, items[n].last = t->last_step;
            items[n].first2 = t->first2, items[n].last2 = t->last2;
            offsets[n] = t->offset;
        }
        n++;
    }
    return n;
}
/* No packing can do better than the most bytes alive at one step. */
static size_t plan_lower_bound(const it__lifetime *items, int n, int n_steps) {
    long long *delta = (long long *)calloc((size_t)n_steps + 1, sizeof(long long)), live = 0, most = 0;
    int i;
    for (i = 0; i < n; i++) {
        delta[items[i].first] += (long long)items[i].size;
        delta[items[i].last + 1] -= (long long)items[i].size;
        if (items[i].first2 >= 0) {
            delta[items[i].first2] += (long long)items[i].size;
            delta[items[i].last2 + 1] -= (long long)items[i].size;
        }
    }
    for (i = 0; i < n_steps; i++) {
        live += delta[i];
        if (live > most) most = live;
    }
    free(delta);
    return (size_t)most;
}
/* A training graph (recompute: checkpointed layers) planned: no overlaps, the reference search's
   offsets, and for a preset the lower bound itself. */
static void test_model_plan(const char *what, it_model_config c, int batch, int seq, int recompute, int want_bound) {
    it_context *ctx = it_test_context(1);
    it_model *m;
    it_model_graph mg;
    it__lifetime *items, key;
    size_t *offsets, *want, bound, ref_total, ref_offset;
    it_plan_stats st;
    int n, i, j;
    CHECK(it_model_create(ctx, &c, &m) == IT_OK, "%s: model: %s", what, it_context_last_error(ctx));
    it_model_set_recompute_layers(m, recompute);
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, batch, seq, &mg) == IT_OK, "%s: graph: %s", what,
          it_context_last_error(ctx));
    st = it_graph_stats(mg.graph);
    n = plan_lifetimes(mg.graph, NULL, NULL);
    items = (it__lifetime *)malloc(sizeof(it__lifetime) * (size_t)n);
    offsets = (size_t *)malloc(sizeof(size_t) * (size_t)n);
    want = (size_t *)malloc(sizeof(size_t) * (size_t)n);
    plan_lifetimes(mg.graph, items, offsets);
    bound = plan_lower_bound(items, n, st.n_steps);
    printf("planner: %s%s: %d buffers, arena %zu bytes, lower bound %zu\n", what, recompute ? " (recomputed layers)" : "",
           n, st.arena_bytes, bound);
    CHECK(pack_valid(items, n, offsets), "%s, recompute %d: two buffers alive at one step share bytes", what, recompute);
    for (i = 1; i < n; i++) { /* the planner's order: largest first, ties in graph order (stable) */
        key = items[i], ref_offset = offsets[i];
        for (j = i; j > 0 && items[j - 1].size < key.size; j--) items[j] = items[j - 1], offsets[j] = offsets[j - 1];
        items[j] = key, offsets[j] = ref_offset;
    }
    ref_total = reference_pack(items, n, want);
    CHECK(ref_total == st.arena_bytes && memcmp(want, offsets, sizeof(size_t) * (size_t)n) == 0,
          "%s, recompute %d: offsets differ from the reference search (arena %zu vs %zu)", what, recompute,
          st.arena_bytes, ref_total);
    if (want_bound)
        CHECK(st.arena_bytes == bound, "%s, recompute %d: arena %zu above the lower bound %zu", what, recompute,
              st.arena_bytes, bound);
    if (recompute) { /* the embedding lookup is in the first layer's segment: its output is redone, not kept */
        const it_tensor *e = it__root(mg.graph->nodes[0].out);
        CHECK(mg.graph->nodes[0].op == IT_OP_EMBEDDING && e->last_step < mg.graph->n_nodes && e->first2 >= mg.graph->n_nodes,
              "%s: the embedding's output lives [%d..%d] and [%d..%d] (want: dead after the forward, recomputed in the backward)",
              what, e->first_step, e->last_step, e->first2, e->last2);
    }
    free(items);
    free(offsets);
    free(want);
    it_context_destroy(ctx);
}
static void test_model_plans(void) {
    it_model_config c = it_test_llama();
    int recompute;
    for (recompute = 0; recompute < 2; recompute++) {
        c = it_test_llama();
        c.n_layers = 4;
        test_model_plan("4-layer test Llama", c, 2, 16, recompute, 0);
        it_model_preset("shakespeare", &c);
        test_model_plan("shakespeare preset, batch 2 x 64", c, 2, 64, recompute, 1);
        it_model_preset("gpt2-tiny", &c);
        test_model_plan("gpt2-tiny preset, batch 2 x 64", c, 2, 64, recompute, 1);
    }
}
/* The packing's counted steps on a deep model with tiny dims: n log n, not n^2 (the old search
   took minutes at 4000 layers). Returns the steps; *n_buffers gets the buffer count. */
static size_t deep_plan_steps(int layers, int recompute, int *n_buffers) {
    it_context *ctx = it_test_context(1);
    it_model_config c = it_test_llama();
    it_model *m;
    it_model_graph mg;
    it_plan_stats st;
    c.vocab_size = 16, c.dim = 8, c.n_heads = 2, c.n_kv_heads = 1, c.ffn_dim = 8, c.n_layers = layers;
    CHECK(it_model_create(ctx, &c, &m) == IT_OK, "deep model");
    it_model_set_recompute_layers(m, recompute);
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 1, 4, &mg) == IT_OK, "deep graph: %s", it_context_last_error(ctx));
    st = it_graph_stats(mg.graph);
    *n_buffers = st.n_buffers;
    printf("planner: %d layers%s: %d buffers over %d steps packed in %zu steps (%.1f per buffer), arena %zu bytes\n",
           layers, recompute ? " recomputed" : "", st.n_buffers, st.n_steps, st.pack_steps,
           (double)st.pack_steps / st.n_buffers, st.arena_bytes);
    {
        double bound = 16.0 * st.n_buffers * log2((double)st.n_steps);
        CHECK((double)st.pack_steps < bound, "%d layers: %zu packing steps, above 16 n log2(steps) = %.0f", layers,
              st.pack_steps, bound);
    }
    it_context_destroy(ctx);
    return st.pack_steps;
}
static void test_deep(void) {
    int recompute;
    for (recompute = 0; recompute < 2; recompute++) {
        int n_small, n_big;
        size_t small = deep_plan_steps(1000, recompute, &n_small), big = deep_plan_steps(4000, recompute, &n_big);
        /* 4x the buffers: n log n gives a bit over 4x the steps, n^2 would give 16x */
        CHECK((double)big / (double)small < 5.0 * n_big / (4.0 * n_small), "4x the layers took %.1fx the packing steps",
              (double)big / (double)small);
    }
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
    test_pack_random();
    test_model_plans();
    test_deep();
    return it_test_finish();
}
