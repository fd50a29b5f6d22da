/* test_lora.c - LoRA adapters (>>lora) against PEFT and against the library's own unfused graph.
   1. PEFT parity, on the adapters peft itself wrote (tests/fixtures/peft/, made by
      tests/fixtures/make_peft_fixtures.py): Llama with every projection, rsLoRA on the last layer
      only, Qwen2 (biased q/v) and GPT-2's Conv1D layers. Logits with the adapter unmerged to 1e-5
      relative, the causal-LM loss, the gradient of every A and B to 1e-4, the KV-cache decoder
      with the adapter, merge_and_unload's logits after it_lora_merge (and merged == unmerged).
   2. The fused op inside a model against the same model built from plain ops (x W^T + s (x A^T)
      B^T), forward and every gradient; activation checkpointing gives the same bits.
   3. Only A and B have gradients and optimizer state (the base is frozen).
   4. Save -> load keeps every bit and PEFT's key names and shapes; a resumed run (optimizer state
      of A and B, trainer state) continues bit-exactly; saves refuse a directory PEFT wrote.
   5. Hostile adapters: every corrupt, truncated, wrong or unsupported input is refused, naming it.
   6. JSONL instruction data, masks, truncation, bad lines.
   7. Packed rows (--pack): each example in a packed row gets the logits, the loss share and the
      gradient share it gets alone in a row (Llama with GQA across flash-attention tiles, GPT-2's
      learned positions), to 1e-5; it_sft_pack_row's layout; bad positions refused.
   8. QLoRA: a base stored as bf16 / Q8_0 / Q4_0 gives the loss, logits and A / B gradients of the
      f32 model whose weights are the dequantised ones (1e-5), no base gradient, a smaller
      parameter block; what such a model cannot do is refused. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#include <sys/stat.h>

#define PEFT "tests/fixtures/peft/"
#define HF "tests/fixtures/hf_models/"

static it_context *ctx_new(void) { return it_test_context(2); }
static const it_optimizer_desc adamw = {.kind = IT_OPTIMIZER_ADAMW};
/* it_test_worst with the absolute tolerance relative to the tensor's scale: rtol (|want| + max|want|),
   so elements near zero are held to the precision of the tensor as a whole (float32 sums in another
   order differ by that much, not by rtol of each tiny element). */
static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs((double)x[i]) > m ? fabs((double)x[i]) : m;
    return m;
}
static double worst_scaled(const float *got, const float *want, size_t n, double rtol) {
    return it_test_worst(got, want, n, rtol, rtol * max_abs(want, n) + 1e-30);
}

/* A model from an HF fixture with the adapter in adapter_dir attached (NULL: none). */
static it_model *load_model(it_context *ctx, const char *base, const char *adapter_dir, it_lora **lora) {
    char dir[256];
    it_model_config cfg;
    it_model *m = NULL;
    snprintf(dir, sizeof dir, HF "%s", base);
    if (lora) *lora = NULL;
    if (it_checkpoint_read_config(ctx, dir, &cfg) != IT_OK || it_model_create(ctx, &cfg, &m) != IT_OK) return NULL;
    if (adapter_dir && it_lora_attach(m, adapter_dir, lora) != IT_OK) return NULL;
    if (it_checkpoint_load(ctx, m, NULL, NULL, dir) != IT_OK) return NULL;
    return m;
}
/* A's and B's file name (PEFT's key) for a parameter: B0/B1/B2 (GPT-2's c_attn) share one key. */
static void peft_key(const char *param, char *out, size_t size, int *part) {
    size_t n = strlen(param);
    *part = -1;
    if (n > 3 && param[n - 3] == '.' && param[n - 2] == 'B' && param[n - 1] >= '0' && param[n - 1] <= '2') {
        *part = param[n - 1] - '0';
        n -= 1;
    }
    /* "lora.PATH.A" -> "base_model.model.PATH.lora_A.weight" */
    snprintf(out, size, "base_model.model.%.*s.lora_%c.weight", (int)(n - 7), param + 5, param[n - 1]);
}
static int logits_of(it_model *m, const int32_t *ids, int T, float *out) {
    it_model_graph lg;
    int ok;
    if (it_model_graph_create(m, IT_PURPOSE_LOGITS, 1, T, &lg) != IT_OK) return 0;
    memcpy(it_data_i32(lg.tokens), ids, sizeof(int32_t) * (size_t)T);
    ok = it_graph_run(lg.graph, IT_RUN_FORWARD) == IT_OK;
    if (ok) memcpy(out, it_data(lg.logits), sizeof(float) * (size_t)T * (size_t)m->config.vocab_size);
    it_model_graph_destroy(&lg);
    return ok;
}

/* ---- 1. PEFT parity ------------------------------------------------------------------------- */
static void check_peft(const char *name, const char *base, const char *tmp) {
    it_context *ctx = ctx_new();
    it_test_reference ref;
    it_lora *lora;
    it_model *m;
    char adapter[256], saved[512];
    int32_t ids[32];
    int T, V, i, p, checked = 0, n_lora = 0;
    int64_t n;
    const float *want;
    float *got;
    snprintf(adapter, sizeof adapter, PEFT "%s", name);
    if (!it_test_ref_load(ctx, adapter, "reference.safetensors", &ref)) {
        CHECK(0, "%s: cannot read reference.safetensors: %s", name, it_context_last_error(ctx));
        it_context_destroy(ctx);
        return;
    }
    T = it_test_ref_ids(&ref, "input_ids", ids, 32);
    m = load_model(ctx, base, adapter, &lora);
    CHECK(m && lora && T == 12, "%s: load: %s", name, it_context_last_error(ctx));
    if (!m || !lora) goto done;
    V = m->config.vocab_size;
    got = (float *)malloc(sizeof(float) * (size_t)T * (size_t)V);
    /* logits with the adapter, unmerged */
    want = it_test_ref_f32(&ref, "logits", &n);
    CHECK(want && n == (int64_t)T * V && logits_of(m, ids, T, got), "%s: logits run: %s", name, it_context_last_error(ctx));
    if (want) {
        double w = worst_scaled(got, want, (size_t)n, 1e-5);
        CHECK(w <= 1.0, "%s: logits with the adapter differ from PEFT's: %.3g of the tolerance (1e-5 rel)", name, w);
    }
    /* the KV-cache decoder with the adapter: the whole prompt, then the last position alone */
    {
        it_decoder *d;
        const float *dl;
        CHECK(it_decoder_create(m, 0, &d) == IT_OK, "%s: decoder", name);
        CHECK(it_decoder_feed(d, ids, T - 1, &dl) == IT_OK, "%s: decoder feed", name);
        CHECK(it_decoder_feed(d, ids + T - 1, 1, &dl) == IT_OK, "%s: decoder feed 1", name);
        if (want) CHECK(worst_scaled(dl, want + (size_t)(T - 1) * V, (size_t)V, 1e-5) <= 1.0,
                        "%s: the decoder's logits with the adapter differ from PEFT's", name);
        it_decoder_destroy(d);
    }
    /* the loss and d loss / d A, B on the same batch (labels = input_ids, shifted) */
    {
        it_model_graph tg;
        CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 1, T - 1, &tg) == IT_OK, "%s: train graph", name);
        for (i = 0; i < T - 1; i++) {
            it_data_i32(tg.tokens)[i] = ids[i];
            it_data_i32(tg.targets)[i] = ids[i + 1];
        }
        it_zero_grads(ctx);
        CHECK(it_graph_run(tg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "%s: train run", name);
        want = it_test_ref_f32(&ref, "loss", NULL);
        if (want) CHECK_CLOSE(it_data(tg.loss)[0], want[0], 1e-5, 1e-6, "loss with the adapter");
        for (p = 0; p < it_param_count(ctx); p++) {
            it_tensor *t = it_param_at(ctx, p);
            char key[200], grad_key[210];
            int part;
            size_t cnt = it_tensor_numel(t);
            if (strncmp(it_tensor_name(t), "lora.", 5) == 0) n_lora++;
            else {
                CHECK(it_grad(t) == NULL, "%s: frozen base parameter %s has a gradient", name, it_tensor_name(t));
                continue;
            }
            peft_key(it_tensor_name(t), key, sizeof key, &part);
            snprintf(grad_key, sizeof grad_key, "grad.%s", key);
            want = it_test_ref_f32(&ref, grad_key, &n);
            CHECK(want != NULL && it_grad(t) != NULL, "%s: no reference gradient or no gradient for %s", name, grad_key);
            if (!want || !it_grad(t)) continue;
            {   /* GPT-2's B0..B2 are the rows q | k | v of one PEFT tensor: held to that tensor's scale */
                double scale = max_abs(want, (size_t)n), w;
                if (part >= 0) want += (size_t)part * cnt;
                w = it_test_worst(it_grad(t), want, cnt, 1e-4, 1e-4 * scale);
                CHECK(w <= 1.0, "%s: gradient of %s differs from PEFT's: %.3g of the tolerance (1e-4 rel)", name,
                      it_tensor_name(t), w);
            }
            checked++;
        }
        CHECK(checked > 0 && checked == n_lora, "%s: %d of %d adapter tensors checked", name, checked, n_lora);
        it_model_graph_destroy(&tg);
    }
    /* save: PEFT's key names and shapes, every bit back */
    snprintf(saved, sizeof saved, "%s/%s", tmp, name);
    CHECK(it_lora_save(ctx, lora, NULL, NULL, saved, NULL) == IT_OK, "%s: save: %s", name, it_context_last_error(ctx));
    {
        it_test_reference mine, theirs;
        int k, same = it_test_ref_load(ctx, saved, "adapter_model.safetensors", &mine) &&
                      it_test_ref_load(ctx, adapter, "adapter_model.safetensors", &theirs) && mine.n == theirs.n;
        for (k = 0; same && k < mine.n; k++) {
            const it_test_ref_tensor *t = it_test_ref_find(&theirs, mine.t[k].name);
            same = t && t->numel == mine.t[k].numel &&
                   memcmp(mine.file + mine.data_start + mine.t[k].begin, theirs.file + theirs.data_start + t->begin,
                          (size_t)t->numel * 4) == 0;
        }
        CHECK(same, "%s: the saved adapter's keys, shapes or values differ from PEFT's file", name);
        free(mine.file);
        free(theirs.file);
    }
    {
        it_lora_config a, b;
        CHECK(it_lora_read_config(ctx, adapter, &a) == IT_OK && it_lora_read_config(ctx, saved, &b) == IT_OK &&
                  a.rank == b.rank && a.alpha == b.alpha && a.use_rslora == b.use_rslora,
              "%s: the saved adapter_config.json reads back differently", name);
    }
    /* merge: W += scale B A equals PEFT's merge_and_unload, and the unmerged logits */
    {
        float *merged = (float *)malloc(sizeof(float) * (size_t)T * (size_t)V), *unmerged = got;
        CHECK(it_lora_merge(lora) == IT_OK && m->lora == NULL, "%s: merge: %s", name, it_context_last_error(ctx));
        CHECK(logits_of(m, ids, T, merged), "%s: merged logits run", name);
        want = it_test_ref_f32(&ref, "merged_logits", &n);
        if (want) CHECK(worst_scaled(merged, want, (size_t)n, 1e-5) <= 1.0,
                        "%s: merged logits differ from PEFT's merge_and_unload", name);
        CHECK(worst_scaled(merged, unmerged, (size_t)T * V, 1e-5) <= 1.0, "%s: merged != unmerged", name);
        CHECK(it_lora_merge(lora) == IT_ERR_STATE, "%s: a second merge must be refused", name);
        free(merged);
    }
    free(got);
done:
    free(ref.file);
    it_context_destroy(ctx);
}

/* ---- 2. the fused op against plain ops ------------------------------------------------------ */
/* One projection, fused (it_lora_linear, or it_lora_linear_dropout when p > 0) against
   x W^T + s (x A^T) B^T from it_matmul / it_scale / it_add (with dropout: x * M from it_mul, M the
   mask it_cpu_dropout_mask gives for the graph's stream): forward, dA, dB, dx. With dropout, a new
   run draws a new mask and the same seed the same one. */
static void fused_vs_unfused(int w_in_out, float p) {
    it_context *cs[2];
    int N = 20, in = 24, out_dim = 18, r = 4, k, zeros = 0;
    float scale = 1.75f, *x = (float *)malloc(sizeof(float) * (size_t)N * in), *dy = (float *)malloc(sizeof(float) * (size_t)N * out_dim);
    float *mask = (float *)malloc(sizeof(float) * (size_t)N * in), *first = (float *)malloc(sizeof(float) * (size_t)N * out_dim);
    it_tensor *w[2], *a[2], *b[2], *xi[2], *y[2], *rr[2], *loss[2], *mi = NULL;
    it_graph *g[2];
    it_test_rng_state = 77;
    it_test_fill(x, (size_t)N * in, 1.0f);
    it_test_fill(dy, (size_t)N * out_dim, 1.0f);
    for (k = 0; k < 2; k++) {
        int wd[2];
        cs[k] = ctx_new();
        wd[0] = w_in_out ? in : out_dim;
        wd[1] = w_in_out ? out_dim : in;
        w[k] = it_param(cs[k], "w", 2, wd);
        a[k] = it_param(cs[k], "lora.a.A", 2, (int[]){r, in});
        b[k] = it_param(cs[k], "b", 2, (int[]){out_dim, r});
        it_param_set_trainable(w[k], 0);
        g[k] = it_graph_create(cs[k]);
        xi[k] = it_input(g[k], "x", IT_F32, 2, (int[]){N, in});
        rr[k] = it_input(g[k], "r", IT_F32, 2, (int[]){N, out_dim});
        if (k == 0)
            y[k] = p > 0.0f ? it_lora_linear_dropout(g[k], xi[k], w[k], a[k], b[k], scale, w_in_out, p)
                            : it_lora_linear(g[k], xi[k], w[k], a[k], b[k], scale, w_in_out);
        else {
            it_tensor *branch_x = xi[k];
            if (p > 0.0f) {
                mi = it_input(g[k], "mask", IT_F32, 2, (int[]){N, in});
                branch_x = it_mul(g[k], xi[k], mi);
            }
            y[k] = it_add(g[k], it_matmul(g[k], xi[k], w[k], 0, !w_in_out),
                          it_scale(g[k], it_matmul(g[k], it_matmul(g[k], branch_x, a[k], 0, 1), b[k], 0, 1), scale));
        }
        it_keep(y[k]);
        loss[k] = it_sum(g[k], it_mul(g[k], y[k], rr[k]));
        it_graph_backward(g[k], loss[k]);
        CHECK(it_graph_plan(g[k]) == IT_OK, "plan");
        it_param_init_normal(cs[k], 0.3f, 5);
        memcpy(it_data(xi[k]), x, sizeof(float) * (size_t)N * in);
        memcpy(it_data(rr[k]), dy, sizeof(float) * (size_t)N * out_dim);
    }
    if (p > 0.0f) {
        it_graph_set_dropout_seed(g[0], 42);
        it_cpu_dropout_mask(mask, it_graph_dropout_stream(g[0], a[0], 0), (size_t)N * in, p);
        memcpy(it_data(mi), mask, sizeof(float) * (size_t)N * in);
        for (k = 0; k < N * in; k++) zeros += mask[k] == 0.0f;
        CHECK(zeros > N * in * p / 2 && zeros < N * in * p * 3 / 2 && mask[0] * (1.0f - p) == (mask[0] != 0.0f),
              "about p of the mask is 0, the rest 1 / (1 - p): %d of %d", zeros, N * in);
    }
    for (k = 0; k < 2; k++) {
        it_zero_grads(cs[k]);
        CHECK(it_graph_run(g[k], IT_RUN_FORWARD_BACKWARD) == IT_OK, "run");
    }
    CHECK(worst_scaled(it_data(y[0]), it_data(y[1]), (size_t)N * out_dim, 1e-5) <= 1.0, "fused forward != unfused (%d, p %g)", w_in_out, (double)p);
    CHECK(worst_scaled(it_grad(a[0]), it_grad(a[1]), a[0]->numel, 1e-5) <= 1.0, "fused dA != unfused (%d, p %g)", w_in_out, (double)p);
    CHECK(worst_scaled(it_grad(b[0]), it_grad(b[1]), b[0]->numel, 1e-5) <= 1.0, "fused dB != unfused (%d, p %g)", w_in_out, (double)p);
    CHECK(worst_scaled(it_grad(xi[0]), it_grad(xi[1]), (size_t)N * in, 1e-5) <= 1.0, "fused dx != unfused (%d, p %g)", w_in_out, (double)p);
    CHECK(it_grad(w[0]) == NULL, "the frozen base weight has a gradient");
    if (p > 0.0f) {
        memcpy(first, it_data(y[0]), sizeof(float) * (size_t)N * out_dim);
        it_graph_run(g[0], IT_RUN_FORWARD);
        CHECK(memcmp(first, it_data(y[0]), sizeof(float) * (size_t)N * out_dim) != 0, "the next run draws another mask");
        it_graph_set_dropout_seed(g[0], 42);
        it_graph_run(g[0], IT_RUN_FORWARD);
        CHECK(memcmp(first, it_data(y[0]), sizeof(float) * (size_t)N * out_dim) == 0, "the same seed replays the mask");
    }
    free(x);
    free(dy);
    free(mask);
    free(first);
    it_context_destroy(cs[0]);
    it_context_destroy(cs[1]);
}
/* Reference kernels (it_cpu_lora_*) against the backend's fused kernel, through a graph. */
static void reference_kernels(void) {
    it_context *ctx = ctx_new();
    int N = 9, in = 11, out_dim = 7, r = 3, w_in_out;
    for (w_in_out = 0; w_in_out < 2; w_in_out++) {
        it_tensor *w, *a, *b, *x, *y, *rr, *loss;
        it_graph *g;
        float *out = (float *)malloc(sizeof(float) * (size_t)N * out_dim), *xa = (float *)malloc(sizeof(float) * (size_t)N * r);
        float *dx = (float *)calloc((size_t)N * in, sizeof(float)), *da = (float *)calloc((size_t)r * in, sizeof(float));
        float *db = (float *)calloc((size_t)out_dim * r, sizeof(float));
        it_context *c = ctx_new();
        char nm[16]; /* room for any int: -O1 with sanitizers checks the worst case */
        snprintf(nm, sizeof nm, "w%d", w_in_out);
        w = it_param(c, nm, 2, w_in_out ? (int[]){in, out_dim} : (int[]){out_dim, in});
        a = it_param(c, "a", 2, (int[]){r, in});
        b = it_param(c, "b", 2, (int[]){out_dim, r});
        it_param_set_trainable(w, 0);
        g = it_graph_create(c);
        x = it_input(g, "x", IT_F32, 2, (int[]){N, in});
        rr = it_input(g, "r", IT_F32, 2, (int[]){N, out_dim});
        y = it_keep(it_lora_linear(g, x, w, a, b, 0.5f, w_in_out));
        loss = it_sum(g, it_mul(g, y, rr));
        it_graph_backward(g, loss);
        it_graph_plan(g);
        it_param_init_normal(c, 0.5f, 9);
        it_test_fill(it_data(x), (size_t)N * in, 1.0f);
        it_test_fill(it_data(rr), (size_t)N * out_dim, 1.0f);
        it_zero_grads(c);
        it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
        it_cpu_lora_forward(out, xa, it_data(x), it_data(w), it_data(a), it_data(b), N, in, out_dim, r, 0.5f, w_in_out);
        it_cpu_lora_backward(dx, da, db, it_data(rr), it_data(x), it_data(w), it_data(a), it_data(b), xa, N, in, out_dim, r, 0.5f,
                             w_in_out);
        CHECK(worst_scaled(it_data(y), out, (size_t)N * out_dim, 1e-5) <= 1.0, "reference forward (%d)", w_in_out);
        CHECK(worst_scaled(it_grad(x), dx, (size_t)N * in, 1e-5) <= 1.0, "reference dx (%d)", w_in_out);
        CHECK(worst_scaled(it_grad(a), da, (size_t)r * in, 1e-5) <= 1.0, "reference dA (%d)", w_in_out);
        CHECK(worst_scaled(it_grad(b), db, (size_t)out_dim * r, 1e-5) <= 1.0, "reference dB (%d)", w_in_out);
        free(out);
        free(xa);
        free(dx);
        free(da);
        free(db);
        it_context_destroy(c);
    }
    it_context_destroy(ctx);
}

/* ---- 3. lazy gradients and the model-level adapter ------------------------------------------ */
static void model_adapter(int gpt2, float dropout) {
    it_context *ctx = ctx_new(), *ctx2 = ctx_new();
    it_model_config mc = gpt2 ? it_test_gpt2() : it_test_llama();
    it_lora_config lc;
    it_model *m, *m2;
    it_lora *l, *l2;
    it_model_graph tg, tg2;
    it_optimizer *opt;
    size_t expect = 0;
    int i, t;
    memset(&lc, 0, sizeof lc);
    lc.rank = 4;
    lc.alpha = 8.0f;
    lc.dropout = dropout;
    snprintf(lc.targets, sizeof lc.targets, "all-linear");
    CHECK(it_model_create(ctx, &mc, &m) == IT_OK && it_lora_create(m, &lc, &l) == IT_OK, "create: %s", it_context_last_error(ctx));
    CHECK(it_lora_count(l) == mc.n_layers * (gpt2 ? 6 : 7), "all-linear adapts %d projections", it_lora_count(l));
    for (i = 0; i < it_param_count(ctx); i++) {
        it_tensor *p = it_param_at(ctx, i);
        int is_lora = strncmp(it_tensor_name(p), "lora.", 5) == 0;
        CHECK(it_param_trainable(p) == is_lora, "%s trainable %d", it_tensor_name(p), it_param_trainable(p));
        if (is_lora) expect += (it_tensor_numel(p) + 15) / 16 * 16;
    }
    it_model_init(m, 1);
    it_lora_init(l, 2);
    {
        it_tensor *a, *b;
        it_lora_pair(l, 0, IT_LP_V, &a, &b);
        CHECK(a && b && it_data(b)[0] == 0.0f && fabsf(it_data(a)[0]) <= 1.0f / sqrtf((float)mc.dim),
              "init: B = 0, A within 1/sqrt(in)");
        it_test_fill(it_data(b), it_tensor_numel(b), 0.1f); /* so the branch matters below */
    }
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 8, &tg) == IT_OK, "train graph");
    CHECK(it_optimizer_create(ctx, &adamw, &opt) == IT_OK, "opt");
    CHECK(it_grad_numel(ctx) == expect && opt->state_numel == 2 * expect,
          "gradients %zu and state %zu floats: want %zu and %zu (A and B only)", it_grad_numel(ctx), opt->state_numel, expect,
          2 * expect);
    /* the same model with recomputed layers: identical loss and adapter gradients */
    CHECK(it_model_create(ctx2, &mc, &m2) == IT_OK && it_lora_create(m2, &lc, &l2) == IT_OK, "create 2");
    it_model_set_recompute_layers(m2, 1);
    CHECK(it_model_graph_create(m2, IT_PURPOSE_TRAIN, 2, 8, &tg2) == IT_OK, "train graph 2");
    memcpy(it_param_block(ctx2), it_param_block(ctx), it_param_numel(ctx) * sizeof(float));
    for (t = 0; t < 16; t++) {
        it_data_i32(tg.tokens)[t] = it_data_i32(tg2.tokens)[t] = (t * 7 + 3) % mc.vocab_size;
        it_data_i32(tg.targets)[t] = it_data_i32(tg2.targets)[t] = (t * 5 + 1) % mc.vocab_size;
    }
    it_zero_grads(ctx);
    it_zero_grads(ctx2);
    it_graph_set_dropout_seed(tg.graph, 7); /* with dropout: the recomputed layers replay the masks */
    it_graph_set_dropout_seed(tg2.graph, 7);
    CHECK(it_graph_run(tg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK && it_graph_run(tg2.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK,
          "runs");
    CHECK(memcmp(it_data(tg.loss), it_data(tg2.loss), 4) == 0 &&
              memcmp(it_grad_block(ctx), it_grad_block(ctx2), it_grad_numel(ctx) * sizeof(float)) == 0,
          "%s (dropout %g): recomputed layers change the loss or the adapter gradients", gpt2 ? "gpt2" : "llama", (double)dropout);
    if (dropout > 0.0f) { /* the masks matter: another run's differ, and eval graphs have none */
        float first = it_data(tg.loss)[0];
        it_model_graph eg;
        CHECK(it_graph_run(tg.graph, IT_RUN_FORWARD) == IT_OK && it_data(tg.loss)[0] != first, "a second run draws new masks");
        CHECK(it_model_graph_create(m, IT_PURPOSE_EVAL, 2, 8, &eg) == IT_OK, "eval graph");
        memcpy(it_data_i32(eg.tokens), it_data_i32(tg.tokens), 16 * sizeof(int32_t));
        memcpy(it_data_i32(eg.targets), it_data_i32(tg.targets), 16 * sizeof(int32_t));
        it_graph_run(eg.graph, IT_RUN_FORWARD);
        it_graph_run(tg.graph, IT_RUN_FORWARD);
        first = it_data(eg.loss)[0];
        it_graph_run(eg.graph, IT_RUN_FORWARD);
        CHECK(it_data(eg.loss)[0] == first && it_data(tg.loss)[0] != first, "evaluation runs without dropout");
    }
    it_context_destroy(ctx);
    it_context_destroy(ctx2);
}

/* ---- 4. resume: optimizer and trainer state of the adapter ---------------------------------- */
static void train_steps(it_context *ctx, it_model_graph *tg, it_optimizer *opt, int from, int to) {
    int s, t;
    for (s = from; s < to; s++) {
        for (t = 0; t < tg->batch * tg->seq; t++) {
            it_data_i32(tg->tokens)[t] = (t * 11 + s * 3) % 64;
            it_data_i32(tg->targets)[t] = (t * 13 + s * 5 + 1) % 64;
        }
        it_zero_grads(ctx);
        it_graph_run(tg->graph, IT_RUN_FORWARD_BACKWARD);
        it_optimizer_step(opt, 1e-2f, 1.0f, NULL);
    }
}
static it_trainer_state state_at(int step) {
    it_trainer_state ts;
    memset(&ts, 0, sizeof ts);
    ts.step = step;
    ts.batch = 2;
    ts.seq = 8;
    ts.accum_steps = 1;
    ts.optimizer.kind = IT_OPTIMIZER_ADAMW;
    ts.schedule.kind = IT_SCHEDULE_CONSTANT;
    ts.schedule.base_lr = 1e-2f;
    ts.schedule.total_steps = 10;
    ts.best_val_loss = NAN;
    it_rng_seed(&ts.data_rng, 1);
    it_rng_seed(&ts.rng, 2);
    return ts;
}
static void resume(const char *tmp) {
    char dir[512];
    it_model_config mc = it_test_llama();
    it_lora_config lc;
    float *want = NULL;
    int k;
    size_t nb = 0;
    memset(&lc, 0, sizeof lc);
    lc.rank = 2;
    lc.alpha = 4.0f;
    snprintf(lc.targets, sizeof lc.targets, "q_proj,v_proj,down_proj");
    lc.last_layers = 1;
    snprintf(dir, sizeof dir, "%s/resume", tmp);
    for (k = 0; k < 2; k++) { /* k = 0: 4 steps straight (saving at 2); k = 1: load at 2, 2 more */
        it_context *ctx = ctx_new();
        it_model *m;
        it_lora *l;
        it_model_graph tg;
        it_optimizer *opt;
        it_trainer_state ts = state_at(2), back;
        it_model_create(ctx, &mc, &m);
        CHECK(it_lora_create(m, &lc, &l) == IT_OK && it_lora_count(l) == 3, "last layer q, v, down: %d", l ? it_lora_count(l) : 0);
        it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 8, &tg);
        it_optimizer_create(ctx, &adamw, &opt);
        it_model_init(m, 3);
        it_lora_init(l, 4);
        if (k == 0) {
            train_steps(ctx, &tg, opt, 0, 2);
            CHECK(it_lora_save(ctx, l, opt, &ts, dir, NULL) == IT_OK, "save with state: %s", it_context_last_error(ctx));
            train_steps(ctx, &tg, opt, 2, 4);
            nb = it_param_numel(ctx);
            want = (float *)malloc(nb * sizeof(float));
            memcpy(want, it_param_block(ctx), nb * sizeof(float));
        } else {
            CHECK(it_lora_load(ctx, l, opt, &back, dir) == IT_OK, "load with state: %s", it_context_last_error(ctx));
            CHECK(back.step == 2 && opt->step == 2, "resumed at step %lld / optimizer step %d", (long long)back.step, opt->step);
            train_steps(ctx, &tg, opt, 2, 4);
            CHECK(memcmp(want, it_param_block(ctx), nb * sizeof(float)) == 0, "a resumed adapter run differs from the straight run");
            free(want);
        }
        it_context_destroy(ctx);
    }
}

/* ---- 5. hostile adapters ---------------------------------------------------------------------- */
static void write_text(const char *dir, const char *file, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    it_test_write_file(p, text, strlen(text));
}
static void copy_file(const char *from_dir, const char *to_dir, const char *file) {
    char a[600], b[600];
    size_t n;
    unsigned char *buf;
    snprintf(a, sizeof a, "%s/%s", from_dir, file);
    snprintf(b, sizeof b, "%s/%s", to_dir, file);
    buf = it_test_read_file(a, &n);
    if (buf) it_test_write_file(b, buf, n);
    free(buf);
}
/* Attaching dir to the llama_llama3 fixture model must fail with a message containing fragment. */
static void expect_refused(const char *dir, const char *fragment, const char *what) {
    it_context *ctx = ctx_new();
    it_lora *l = NULL;
    it_model *m = load_model(ctx, "llama_llama3", dir, &l);
    CHECK(m == NULL && strstr(it_context_last_error(ctx), fragment) != NULL, "%s: '%s' (want a message naming '%s')", what,
          it_context_last_error(ctx), fragment);
    it_context_destroy(ctx);
}
static void hostile(const char *tmp) {
    static const struct { const char *edit_from, *edit_to, *fragment, *what; } edits[] = {
        {"\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "peft_type", "another PEFT method"},
        {"\"r\": 4", "\"r\": 0", "\"r\"", "rank 0"},
        {"\"r\": 4", "\"r\": 100000000", "\"r\"", "huge rank"},
        {"\"r\": 4", "\"r\": 4.5", "\"r\"", "fractional rank"},
        {"\"r\": 4", "\"r\": \"4\"", "\"r\"", "rank as a string"},
        {"\"r\": 4", "\"r\": 8", "shape", "rank that does not match the file's shapes"},
        {"\"lora_alpha\": 8", "\"lora_alpha\": -8", "lora_alpha", "negative alpha"},
        {"\"lora_dropout\": 0.0", "\"lora_dropout\": 1.5", "lora_dropout", "dropout past 1"},
        {"\"k_proj\",", "\"kv_proj\",", "kv_proj", "unknown target"},
        {"\"use_dora\": false", "\"use_dora\": true", "use_dora", "DoRA"},
        {"\"bias\": \"none\"", "\"bias\": \"all\"", "bias", "trained biases"},
        {"\"layers_to_transform\": null", "\"layers_to_transform\": [7]", "layer 7", "a layer the model lacks"},
        {"\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 2}", "rank_pattern", "per-layer ranks"},
        {"\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]", "modules_to_save", "modules_to_save"},
        {"\"target_modules\": [", "\"target_modules\": \".*proj\", \"x\": [", "pattern", "a regex target"},
        {"\"peft_type\": \"LORA\",", "\"peft_type\": \"LORA\"", "JSON", "invalid JSON"},
        {"\"k_proj\",", "\"k_proj\", \"c_attn\",", "c_attn", "a GPT-2 target on a Llama model"},
    };
    const char *src = PEFT "llama_all";
    char dir[512], path[600];
    size_t i, n;
    char *config;
    snprintf(path, sizeof path, "%s/adapter_config.json", src);
    config = (char *)it_test_read_file(path, &n);
    for (i = 0; config && i < sizeof edits / sizeof edits[0]; i++) {
        char text[8192];
        const char *at;
        config[n] = 0;
        at = strstr(config, edits[i].edit_from);
        CHECK(at != NULL, "fixture lacks '%s'", edits[i].edit_from);
        if (!at) continue;
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - config), config, edits[i].edit_to, at + strlen(edits[i].edit_from));
        snprintf(dir, sizeof dir, "%s/edit%zu", tmp, i);
        mkdir(dir, 0755);
        write_text(dir, "adapter_config.json", text);
        copy_file(src, dir, "adapter_model.safetensors");
        expect_refused(dir, edits[i].fragment, edits[i].what);
    }
    free(config);
    /* the weights file: missing, truncated, a NaN, an extra tensor, a missing tensor */
    {
        unsigned char *st;
        size_t sn, hl = 0;
        int k;
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", src);
        st = it_test_read_file(path, &sn);
        for (k = 0; k < 8; k++) hl |= (size_t)st[k] << (8 * k);
        snprintf(dir, sizeof dir, "%s/nofile", tmp);
        mkdir(dir, 0755);
        copy_file(src, dir, "adapter_config.json");
        expect_refused(dir, "adapter_model.safetensors", "missing weights file");
        snprintf(dir, sizeof dir, "%s/truncated", tmp);
        mkdir(dir, 0755);
        copy_file(src, dir, "adapter_config.json");
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        it_test_write_file(path, st, sn - 100);
        expect_refused(dir, "adapter_model.safetensors", "truncated weights file");
        snprintf(dir, sizeof dir, "%s/nan", tmp);
        mkdir(dir, 0755);
        copy_file(src, dir, "adapter_config.json");
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        {
            float nan = NAN;
            memcpy(st + 8 + hl + 4, &nan, 4);
            it_test_write_file(path, st, sn);
        }
        expect_refused(dir, "finite", "a NaN weight");
        free(st);
        /* the base_model-less config of a qwen2 adapter (two targets) against llama_all's file:
           the file holds tensors the config does not name */
        snprintf(dir, sizeof dir, "%s/extra", tmp);
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/adapter_config.json", src);
        config = (char *)it_test_read_file(path, &n);
        config[n] = 0;
        {
            char text[8192];
            const char *at = strstr(config, "\"target_modules\": [");
            const char *end = strchr(at, ']');
            snprintf(text, sizeof text, "%.*s\"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", "
                     "\"up_proj\"%s", (int)(at - config), config, end);
            write_text(dir, "adapter_config.json", text);
            copy_file(src, dir, "adapter_model.safetensors");
            expect_refused(dir, "unknown tensor", "a tensor the config does not name");
            snprintf(dir, sizeof dir, "%s/missing", tmp);
            mkdir(dir, 0755);
            snprintf(text, sizeof text, "%.*s\"target_modules\": [\"q_proj\"]%s", (int)(at - config), config, end + 1);
            write_text(dir, "adapter_config.json", text);
            copy_file(PEFT "qwen2_qv", dir, "adapter_model.safetensors"); /* r 2: q and v only */
            expect_refused(dir, "", "another model's adapter");
        }
        free(config);
    }
    snprintf(dir, sizeof dir, "%s/none-such", tmp);
    expect_refused(dir, "none-such", "a missing directory");
    /* saves: a directory PEFT wrote (README.md) is never replaced; a diverged adapter is not saved */
    {
        it_context *ctx = ctx_new();
        it_lora *l;
        it_model *m = load_model(ctx, "llama_llama3", src, &l);
        struct stat st;
        snprintf(dir, sizeof dir, "%s/peft_copy", tmp);
        mkdir(dir, 0755);
        copy_file(src, dir, "adapter_config.json");
        copy_file(src, dir, "adapter_model.safetensors");
        copy_file(src, dir, "README.md");
        CHECK(m && it_lora_save(ctx, l, NULL, NULL, dir, NULL) != IT_OK && strstr(it_context_last_error(ctx), "README.md"),
              "saving over PEFT's own directory: '%s'", it_context_last_error(ctx));
        snprintf(path, sizeof path, "%s/README.md", dir);
        CHECK(stat(path, &st) == 0, "the refused save removed README.md");
        if (m) {
            it_tensor *a, *b;
            it_lora_pair(l, 1, IT_LP_UP, &a, &b);
            it_data(b)[3] = INFINITY;
            snprintf(dir, sizeof dir, "%s/diverged", tmp);
            CHECK(it_lora_save(ctx, l, NULL, NULL, dir, NULL) == IT_ERR_RANGE && strstr(it_context_last_error(ctx), "up_proj"),
                  "a non-finite adapter is refused, naming the tensor: '%s'", it_context_last_error(ctx));
            CHECK(stat(dir, &st) != 0, "a refused save left %s", dir);
        }
        it_context_destroy(ctx);
    }
    /* the library's own config checks */
    {
        it_context *ctx = ctx_new();
        it_model_config mc = it_test_llama();
        it_model *m;
        it_lora *l;
        it_lora_config lc;
        it_model_create(ctx, &mc, &m);
        memset(&lc, 0, sizeof lc);
        lc.rank = 4;
        lc.last_layers = 3;
        CHECK(it_lora_create(m, &lc, &l) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "last 3"),
              "last 3 of 2 layers: '%s'", it_context_last_error(ctx));
        lc.last_layers = 0;
        snprintf(lc.targets, sizeof lc.targets, "q_proj,c_fc");
        CHECK(it_lora_create(m, &lc, &l) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "c_fc"),
              "c_fc on Llama: '%s'", it_context_last_error(ctx));
        snprintf(lc.targets, sizeof lc.targets, "q_proj");
        CHECK(it_lora_create(m, &lc, &l) == IT_OK, "q_proj");
        CHECK(it_lora_create(m, &lc, &l) == IT_ERR_STATE, "a second adapter on one model is refused");
        it_context_destroy(ctx);
    }
}


/* ---- 6. JSONL instruction data (it_sft_*) with the byte tokenizer: ids = bytes ------------------ */
/* The trained targets of example i as text ("" when none). */
static void trained_text(const it_sft_data *d, int i, int seq, char *out, size_t size) {
    int32_t tok[256], tgt[256];
    size_t n = 0;
    int t;
    it_sft_row(d, i, seq, tok, tgt);
    for (t = 0; t < seq && n + 1 < size; t++)
        if (tgt[t] >= 0) out[n++] = (char)tgt[t];
    out[n] = 0;
}
static void sft_data(const char *tmp) {
    it_context *ctx = ctx_new();
    it_tokenizer *tok;
    it_sft_options o;
    it_sft_data *d = NULL;
    it_chat_template chat;
    char path[600], got[512];
    int32_t tokv[64], tgt[64];
    const char *jsonl =
        "{\"text\": \"hello\"}\n"
        "{\"prompt\": \"ab\", \"completion\": \"cd\"}\n"
        "\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"},"
        " {\"role\": \"user\", \"content\": \"?\"}, {\"role\": \"assistant\", \"content\": \"ok\"}]}\n"
        "{\"prompt\": \"x\", \"completion\": \"\"}\n"          /* line 5: empty completion */
        "{\"prompt\": \"x\"\n"                                /* line 6: invalid JSON */
        "{\"question\": \"x\"}\n"                             /* line 7: no known field */
        "{\"messages\": [{\"role\": \"user\", \"content\": \"only a question\"}]}\n" /* line 8: no assistant */
        "{\"text\": \"a long line that is cut at the row's length\"}\r\n";
    it_tokenizer_byte(ctx, &tok);
    snprintf(path, sizeof path, "%s/data.jsonl", tmp);
    it_test_write_file(path, jsonl, strlen(jsonl));
    memset(&chat, 0, sizeof chat);
    chat.format = IT_CHAT_CHATML;
    memset(&o, 0, sizeof o);
    o.mask_prompt = 1;
    o.max_tokens = 17;
    o.chat = &chat;
    CHECK(it_sft_load(ctx, path, tok, &o, &d) == IT_OK, "load: %s", it_context_last_error(ctx));
    if (!d) goto done;
    CHECK(it_sft_count(d) == 4 && it_sft_skipped(d) == 4 && it_sft_truncated(d) == 2,
          "4 examples, 4 bad lines skipped, 2 cut: %d %d %d", it_sft_count(d), it_sft_skipped(d), it_sft_truncated(d));
    CHECK(strstr(it_test_last_warning, ":8: no assistant") != NULL, "the last bad line is named with its number: '%s'",
          it_test_last_warning);
    trained_text(d, 0, 16, got, sizeof got);
    CHECK(strcmp(got, "ello") == 0, "text: every next token trained ('%s')", got);
    it_sft_row(d, 1, 8, tokv, tgt);
    CHECK(tokv[0] == 'a' && tokv[3] == 'd' && tokv[4] == 0 && tgt[0] == -1 && tgt[1] == 'c' && tgt[2] == 'd' && tgt[3] == -1 &&
              tgt[7] == -1,
          "prompt / completion: only the completion is a target, padding is ignored");
    /* chatml: each assistant turn's content and its <|im_end|>\n, nothing of the user's (cut at 17 tokens) */
    {
        it_sft_data *full = NULL;
        o.max_tokens = 200;
        o.strict = 0;
        CHECK(it_sft_load(ctx, path, tok, &o, &full) == IT_OK, "load 2");
        trained_text(full, 2, 199, got, sizeof got);
        CHECK(strcmp(got, "yo<|im_end|>\nok<|im_end|>\n") == 0, "messages: assistant turns only: '%s'", got);
        o.mask_prompt = 0;
        it_sft_destroy(full);
        CHECK(it_sft_load(ctx, path, tok, &o, &full) == IT_OK, "load 3");
        trained_text(full, 2, 199, got, sizeof got);
        CHECK(strncmp(got, "|im_start|>user\nhi", 18) == 0, "without --mask-prompt every token after the first: '%.20s'", got);
    }
    /* strict: the first bad line stops the load, naming file and line */
    o.strict = 1;
    CHECK(it_sft_load(ctx, path, tok, &o, &d) == IT_ERR_FORMAT && strstr(it_context_last_error(ctx), "data.jsonl:5: the completion is empty"),
          "strict: '%s'", it_context_last_error(ctx));
    /* messages without a template, and files that hold nothing usable */
    o.strict = 0;
    o.chat = NULL;
    {
        it_sft_data *none = NULL;
        const char *only_messages = "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}]}\n";
        it_test_write_file(path, only_messages, strlen(only_messages));
        CHECK(it_sft_load(ctx, path, tok, &o, &none) == IT_ERR_FORMAT && strstr(it_context_last_error(ctx), "no usable example"),
              "no usable example: '%s'", it_context_last_error(ctx));
        CHECK(strstr(it_test_last_warning, "no chat template") != NULL, "messages without a template: '%s'", it_test_last_warning);
        snprintf(path, sizeof path, "%s/none-such.jsonl", tmp);
        CHECK(it_sft_load(ctx, path, tok, &o, &none) == IT_ERR_IO && strstr(it_context_last_error(ctx), "none-such.jsonl"),
              "missing file: '%s'", it_context_last_error(ctx));
    }
done:
    it_context_destroy(ctx);
}

/* ---- 7. packed rows -------------------------------------------------------------------------- */
/* Two rows of T = 80 holding six examples (the Llama's flash tiles are 64 rows: examples cross
   them); row 1 ends in 6 positions of padding. Targets: random ids, some -1 (a masked prompt). */
enum { PACK_T = 80, PACK_EXAMPLES = 6 };
static const int pack_len[PACK_EXAMPLES] = {30, 41, 9, 3, 61, 10}, pack_row_of[PACK_EXAMPLES] = {0, 0, 0, 1, 1, 1};
static void packed_vs_alone(int gpt2) {
    it_context *cp = ctx_new(), *ca = ctx_new();
    it_model_config mc = gpt2 ? it_test_gpt2() : it_test_llama();
    it_model *mp, *ma;
    it_model_graph tp, ta, lp, la;
    int32_t tok[2 * PACK_T], tgt[2 * PACK_T], pos[2 * PACK_T];
    int start[PACK_EXAMPLES], counted[PACK_EXAMPLES], total = 0, e, t, at[2] = {0, 0};
    size_t np, i, V;
    double loss_alone = 0.0, *grad_alone;
    float *g_alone;
    mc.max_seq = PACK_T;
    CHECK(it_model_create(cp, &mc, &mp) == IT_OK && it_model_create(ca, &mc, &ma) == IT_OK, "create");
    it_model_set_packed(mp, 1);
    if (!gpt2) it_model_set_recompute_layers(mp, 1); /* the recomputed layers replay the packed ops too */
    CHECK(it_model_graph_create(mp, IT_PURPOSE_TRAIN, 2, PACK_T, &tp) == IT_OK &&
              it_model_graph_create(mp, IT_PURPOSE_LOGITS, 2, PACK_T, &lp) == IT_OK &&
              it_model_graph_create(ma, IT_PURPOSE_TRAIN, 1, PACK_T, &ta) == IT_OK &&
              it_model_graph_create(ma, IT_PURPOSE_LOGITS, 1, PACK_T, &la) == IT_OK,
          "graphs: %s", it_context_last_error(cp));
    CHECK(tp.positions && lp.positions && (gpt2 ? ta.positions != NULL : ta.positions == NULL), "positions inputs");
    it_model_init(mp, 11);
    np = it_param_numel(cp);
    memcpy(it_param_block(ca), it_param_block(cp), np * sizeof(float));
    it_test_rng_state = 99;
    for (e = 0; e < PACK_EXAMPLES; e++) { /* example e at row pack_row_of[e], from position start[e] */
        int r = pack_row_of[e];
        start[e] = r * PACK_T + at[r];
        counted[e] = 0;
        for (t = 0; t < pack_len[e]; t++) {
            tok[start[e] + t] = it_test_below(mc.vocab_size);
            tgt[start[e] + t] = t % 7 == 2 ? -1 : it_test_below(mc.vocab_size);
            pos[start[e] + t] = t;
            counted[e] += tgt[start[e] + t] >= 0;
        }
        at[r] += pack_len[e];
        total += counted[e];
    }
    for (t = at[1]; t < PACK_T; t++) tok[PACK_T + t] = 5, tgt[PACK_T + t] = -1, pos[PACK_T + t] = t - at[1]; /* padding */
    CHECK(at[0] == PACK_T && at[1] == PACK_T - 6, "layout");
    memcpy(it_data_i32(tp.tokens), tok, sizeof tok);
    memcpy(it_data_i32(tp.targets), tgt, sizeof tgt);
    memcpy(it_data_i32(tp.positions), pos, sizeof pos);
    memcpy(it_data_i32(lp.tokens), tok, sizeof tok);
    memcpy(it_data_i32(lp.positions), pos, sizeof pos);
    it_zero_grads(cp);
    CHECK(it_graph_run(tp.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK && it_graph_run(lp.graph, IT_RUN_FORWARD) == IT_OK,
          "packed runs: %s", it_context_last_error(cp));
    /* each example alone in a row of its own: its logits, and loss and gradients weighted by its
       share of the counted targets */
    V = (size_t)mc.vocab_size;
    grad_alone = (double *)calloc(it_grad_numel(ca), sizeof(double));
    g_alone = (float *)malloc(it_grad_numel(ca) * sizeof(float));
    for (e = 0; e < PACK_EXAMPLES; e++) {
        for (t = 0; t < PACK_T; t++) {
            int inside = t < pack_len[e];
            it_data_i32(ta.tokens)[t] = it_data_i32(la.tokens)[t] = inside ? tok[start[e] + t] : 7;
            it_data_i32(ta.targets)[t] = inside ? tgt[start[e] + t] : -1;
        }
        it_zero_grads(ca);
        CHECK(it_graph_run(ta.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK && it_graph_run(la.graph, IT_RUN_FORWARD) == IT_OK,
              "alone runs");
        loss_alone += (double)it_data(ta.loss)[0] * counted[e] / total;
        for (i = 0; i < it_grad_numel(ca); i++) grad_alone[i] += (double)it_grad_block(ca)[i] * counted[e] / total;
        CHECK(worst_scaled(it_data(lp.logits) + (size_t)start[e] * V, it_data(la.logits), (size_t)pack_len[e] * V, 1e-5) <= 1.0,
              "%s: example %d's logits packed != alone", gpt2 ? "gpt2" : "llama", e);
    }
    for (i = 0; i < it_grad_numel(ca); i++) g_alone[i] = (float)grad_alone[i];
    CHECK(fabs(it_data(tp.loss)[0] - loss_alone) <= 1e-5 * fabs(loss_alone), "%s: packed loss %.8f, alone %.8f",
          gpt2 ? "gpt2" : "llama", (double)it_data(tp.loss)[0], loss_alone);
    /* every parameter's gradient to 1e-5 of its own scale; GPT-2's key bias has a gradient of zero
       up to rounding (it shifts all of a query's scores alike), so no tensor is held to less than
       1e-5 of a hundredth of the largest gradient */
    for (i = 0; i < (size_t)it_param_count(cp); i++) {
        it_tensor *p = it_param_at(cp, (int)i), *q = it_param_at(ca, (int)i);
        size_t off = (size_t)(it_grad(q) - it_grad_block(ca)), n = it_tensor_numel(p);
        double scale = max_abs(g_alone + off, n), floor = 1e-2 * max_abs(g_alone, it_grad_numel(ca));
        CHECK(it_test_worst(it_grad(p), g_alone + off, n, 1e-5, 1e-5 * (scale > floor ? scale : floor)) <= 1.0,
              "%s: d%s packed != alone", gpt2 ? "gpt2" : "llama", it_tensor_name(p));
    }
    /* positions that do not count 0, 1, 2, ... from an example's start are refused before any kernel */
    it_data_i32(tp.positions)[PACK_T + 4] = 9;
    CHECK(it_graph_run(tp.graph, IT_RUN_FORWARD_BACKWARD) == IT_ERR_RANGE &&
              strstr(it_context_last_error(cp), "value 9 at row 1, position 4 must be 0"),
          "bad positions: '%s'", it_context_last_error(cp));
    it_data_i32(tp.positions)[PACK_T + 4] = pos[PACK_T + 4];
    it_data_i32(tp.positions)[0] = 1;
    CHECK(it_graph_run(tp.graph, IT_RUN_FORWARD) == IT_ERR_RANGE && strstr(it_context_last_error(cp), "row 0, position 0"),
          "a row must start an example: '%s'", it_context_last_error(cp));
    free(grad_alone);
    free(g_alone);
    it_context_destroy(cp);
    it_context_destroy(ca);
}
/* it_sft_pack_row: examples in the order given while they fit, the rest padding. */
static void pack_rows(const char *tmp) {
    it_context *ctx = ctx_new();
    it_tokenizer *tok;
    it_sft_options o;
    it_sft_data *d = NULL;
    char path[600];
    int32_t tk[12], tg[12], ps[12], alone_tok[12], alone_tgt[12];
    int order[3] = {0, 1, 2}, placed, t;
    const char *jsonl = "{\"prompt\": \"ab\", \"completion\": \"cd\"}\n{\"text\": \"xyz\"}\n{\"text\": \"0123456789abcdef\"}\n";
    it_tokenizer_byte(ctx, &tok);
    snprintf(path, sizeof path, "%s/pack.jsonl", tmp);
    it_test_write_file(path, jsonl, strlen(jsonl));
    memset(&o, 0, sizeof o);
    o.mask_prompt = 1;
    o.max_tokens = 13;
    CHECK(it_sft_load(ctx, path, tok, &o, &d) == IT_OK, "load: %s", it_context_last_error(ctx));
    if (!d) goto done;
    CHECK(it_sft_row_length(d, 0, 12) == 3 && it_sft_row_length(d, 1, 12) == 2 && it_sft_row_length(d, 2, 12) == 12,
          "row lengths: tokens - 1, cut to seq");
    placed = it_sft_pack_row(d, order, 3, 12, tk, tg, ps);
    CHECK(placed == 2, "two examples fit in 12 positions, the third (12) does not: %d", placed);
    it_sft_row(d, 0, 3, alone_tok, alone_tgt);
    CHECK(!memcmp(tk, alone_tok, 3 * sizeof(int32_t)) && !memcmp(tg, alone_tgt, 3 * sizeof(int32_t)), "example 0 as alone");
    it_sft_row(d, 1, 2, alone_tok, alone_tgt);
    CHECK(!memcmp(tk + 3, alone_tok, 2 * sizeof(int32_t)) && !memcmp(tg + 3, alone_tgt, 2 * sizeof(int32_t)), "example 1 as alone");
    CHECK(tg[0] == -1 && tg[1] == 'c' && tg[2] == 'd' && tg[3] == 'y' && tg[4] == 'z', "targets stay inside each example");
    for (t = 0; t < 12; t++)
        CHECK(ps[t] == (t < 3 ? t : t < 5 ? t - 3 : t - 5) && (t < 5 || (tk[t] == 0 && tg[t] == -1)), "position %d: %d", t, ps[t]);
    placed = it_sft_pack_row(d, order + 2, 1, 12, tk, tg, ps);
    CHECK(placed == 1 && ps[11] == 11 && tg[11] == 'c', "an example of the row's length fills it (cut at 13 tokens)");
done:
    it_context_destroy(ctx);
}

/* ---- 8. QLoRA: a quantised frozen base ---------------------------------------------------------- */
static int is_projection_name(const char *name) {
    static const char *const proj[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    size_t k;
    if (strncmp(name, "lora.", 5) == 0) return 0;
    for (k = 0; k < sizeof proj / sizeof proj[0]; k++)
        if (strstr(name, proj[k])) return 1;
    return 0;
}
static void qlora(const char *tmp, it_weight_type type) {
    it_context *cq = ctx_new(), *cd = ctx_new(), *c0 = ctx_new();
    it_model_config mc = it_test_llama();
    it_lora_config lc;
    it_model *mq, *md, *m0;
    it_lora *lq, *ld;
    it_model_graph tq, td, gq, gd;
    char dir[600];
    int i, t;
    size_t proj = 0, proj_bytes = 0;
    const char *tn = it_weight_type_name(type);
    mc.ffn_dim = 64; /* every projection's input a multiple of 32 (Q8_0 / Q4_0 blocks) */
    snprintf(dir, sizeof dir, "%s/qbase_%s", tmp, tn);
    /* the f32 base, saved as a checkpoint */
    it_model_create(c0, &mc, &m0);
    it_model_init(m0, 21);
    CHECK(it_checkpoint_save(c0, m0, NULL, NULL, dir, NULL) == IT_OK, "save the base: %s", it_context_last_error(c0));
    memset(&lc, 0, sizeof lc);
    lc.rank = 4;
    lc.alpha = 8.0f;
    snprintf(lc.targets, sizeof lc.targets, "q_proj,v_proj,down_proj"); /* the other four: matmul_quant alone */
    CHECK(it_model_create(cq, &mc, &mq) == IT_OK && it_lora_create(mq, &lc, &lq) == IT_OK, "create q");
    CHECK(it_model_set_base_storage(mq, type) == IT_OK, "%s base: %s", tn, it_context_last_error(cq));
    CHECK(it_checkpoint_load(cq, mq, NULL, NULL, dir) == IT_OK, "%s: load: %s", tn, it_context_last_error(cq));
    /* the reference: f32 weights equal to the dequantised ones */
    CHECK(it_model_create(cd, &mc, &md) == IT_OK && it_lora_create(md, &lc, &ld) == IT_OK, "create d");
    CHECK(it_checkpoint_load(cd, md, NULL, NULL, dir) == IT_OK, "load d");
    for (i = 0; i < it_param_count(cd); i++) {
        it_tensor *p = it_param_at(cd, i), *q = it_param_find(cq, it_tensor_name(p));
        size_t n = it_tensor_numel(p);
        if (is_projection_name(it_tensor_name(p))) {
            void *blk = malloc(it_weight_bytes(type, 1, n));
            CHECK(it_param_storage(q) == type && it_tensor_nbytes(q) == it_weight_bytes(type, (size_t)it_tensor_dim(p, 0),
                                                                                          (size_t)it_tensor_dim(p, 1)),
                  "%s is stored as %s", it_tensor_name(q), tn);
            it_weights_quantize(type, blk, it_data(p), n);
            it_weights_dequantize(type, it_data(p), blk, n);
            free(blk);
            proj += n;
            proj_bytes += it_weight_bytes(type, (size_t)it_tensor_dim(p, 0), (size_t)it_tensor_dim(p, 1));
        }
    }
    CHECK(it_param_numel(cq) * 4 <= it_param_numel(cd) * 4 - proj * 4 + proj_bytes + (size_t)it_param_count(cq) * 64 &&
              it_param_numel(cq) * 4 + proj * 4 - proj_bytes >= it_param_numel(cd) * 4 - (size_t)it_param_count(cq) * 64,
          "%s: the parameter block is %zu bytes, the f32 one %zu: projections %zu bytes instead of %zu", tn, it_param_numel(cq) * 4,
          it_param_numel(cd) * 4, proj_bytes, proj * 4);
    it_lora_init(lq, 5);
    for (i = 0; i < it_param_count(cq); i++) { /* the same adapter in both, B non-zero so the branch counts */
        it_tensor *p = it_param_at(cq, i);
        if (strncmp(it_tensor_name(p), "lora.", 5)) continue;
        if (it_tensor_name(p)[strlen(it_tensor_name(p)) - 1] == 'B') it_test_fill(it_data(p), it_tensor_numel(p), 0.05f);
        memcpy(it_data(it_param_find(cd, it_tensor_name(p))), it_data(p), it_tensor_numel(p) * sizeof(float));
    }
    CHECK(it_model_graph_create(mq, IT_PURPOSE_TRAIN, 2, 8, &tq) == IT_OK && it_model_graph_create(md, IT_PURPOSE_TRAIN, 2, 8, &td) == IT_OK &&
              it_model_graph_create(mq, IT_PURPOSE_LOGITS, 1, 8, &gq) == IT_OK && it_model_graph_create(md, IT_PURPOSE_LOGITS, 1, 8, &gd) == IT_OK,
          "%s graphs: %s", tn, it_context_last_error(cq));
    CHECK(it_graph_stats(tq.graph).dequant_bytes == (size_t)mc.ffn_dim * mc.dim * 4, "the dequantised buffer holds the largest projection");
    for (t = 0; t < 16; t++) {
        it_data_i32(tq.tokens)[t] = it_data_i32(td.tokens)[t] = (t * 7 + 3) % mc.vocab_size;
        it_data_i32(tq.targets)[t] = it_data_i32(td.targets)[t] = (t * 5 + 1) % mc.vocab_size;
        if (t < 8) it_data_i32(gq.tokens)[t] = it_data_i32(gd.tokens)[t] = (t * 3 + 2) % mc.vocab_size;
    }
    it_zero_grads(cq);
    it_zero_grads(cd);
    CHECK(it_graph_run(tq.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK && it_graph_run(td.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK &&
              it_graph_run(gq.graph, IT_RUN_FORWARD) == IT_OK && it_graph_run(gd.graph, IT_RUN_FORWARD) == IT_OK,
          "%s runs: %s", tn, it_context_last_error(cq));
    CHECK(fabs(it_data(tq.loss)[0] - it_data(td.loss)[0]) <= 1e-5 * fabs(it_data(td.loss)[0]), "%s: loss %.7f vs dequantised f32 %.7f",
          tn, (double)it_data(tq.loss)[0], (double)it_data(td.loss)[0]);
    CHECK(worst_scaled(it_data(gq.logits), it_data(gd.logits), (size_t)8 * mc.vocab_size, 1e-5) <= 1.0, "%s: logits", tn);
    CHECK(it_grad_numel(cq) == it_grad_numel(cd), "%s: gradients for the adapter only", tn);
    CHECK(worst_scaled(it_grad_block(cq), it_grad_block(cd), it_grad_numel(cq), 1e-5) <= 1.0, "%s: A and B gradients", tn);
    for (i = 0; i < it_param_count(cq); i++)
        if (is_projection_name(it_tensor_name(it_param_at(cq, i))) && it_grad(it_param_at(cq, i)))
            CHECK(0, "%s: the stored base %s has a gradient", tn, it_tensor_name(it_param_at(cq, i)));
    /* a quantised checkpoint (it-quantize's blocks) as the base: dequantised, then stored again */
    if (type == IT_WEIGHT_Q8_0) {
        it_context *c2 = ctx_new();
        it_model *m2;
        it_lora *l2;
        it_checkpoint_options qo;
        char qdir[640];
        memset(&qo, 0, sizeof qo);
        qo.weights = type;
        snprintf(qdir, sizeof qdir, "%s_file", dir);
        CHECK(it_checkpoint_save(c0, m0, NULL, NULL, qdir, &qo) == IT_OK, "save q8_0 blocks: %s", it_context_last_error(c0));
        CHECK(it_model_create(c2, &mc, &m2) == IT_OK && it_lora_create(m2, &lc, &l2) == IT_OK &&
                  it_model_set_base_storage(m2, type) == IT_OK && it_checkpoint_load(c2, m2, NULL, NULL, qdir) == IT_OK,
              "a q8_0 base from a quantised checkpoint: %s", it_context_last_error(c2));
        { /* the file's blocks dequantised and stored again are the blocks quantising the f32 weights gave */
            int same = 1;
            for (i = 0; i < it_param_count(c2); i++) {
                it_tensor *p2 = it_param_at(c2, i);
                if (is_projection_name(it_tensor_name(p2)))
                    same &= memcmp(it_data_raw(p2), it_data_raw(it_param_find(cq, it_tensor_name(p2))), it_tensor_nbytes(p2)) == 0;
            }
            CHECK(same, "q8_0 base from a quantised checkpoint == from the f32 one, block for block");
        }
        it_context_destroy(c2);
    }
    /* what a stored base cannot do */
    {
        it_decoder *dec = NULL;
        char out[600];
        snprintf(out, sizeof out, "%s/qsave", tmp);
        CHECK(it_checkpoint_save(cq, mq, NULL, NULL, out, NULL) == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(cq), tn),
              "save refused: '%s'", it_context_last_error(cq));
        CHECK(it_decoder_create(mq, 16, &dec) == IT_ERR_UNSUPPORTED, "decoder refused: '%s'", it_context_last_error(cq));
        CHECK(it_lora_merge(lq) == IT_ERR_UNSUPPORTED, "merge refused: '%s'", it_context_last_error(cq));
        CHECK(it_model_init(mq, 1) == IT_ERR_STATE, "init refused: '%s'", it_context_last_error(cq));
        CHECK(it_param_set_storage(it_param_find(cq, "model.layers.0.mlp.up_proj.weight"), IT_WEIGHT_F32) == IT_ERR_STATE,
              "storage is fixed once the block exists");
    }
    it_model_graph_destroy(&tq);
    it_model_graph_destroy(&td);
    it_model_graph_destroy(&gq);
    it_model_graph_destroy(&gd);
    it_context_destroy(cq);
    it_context_destroy(cd);
    it_context_destroy(c0);
}
static void qlora_refusals(void) {
    it_context *ctx = ctx_new();
    it_model_config gc = it_test_gpt2();
    it_model *g2;
    it_tensor *odd = it_param(ctx, "odd", 2, (int[]){4, 20}), *trainable = it_param(ctx, "trainable", 2, (int[]){4, 32});
    it_param_set_trainable(odd, 0);
    CHECK(it_param_set_storage(odd, IT_WEIGHT_Q8_0) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "multiple of 32"),
          "rows of 20: '%s'", it_context_last_error(ctx));
    CHECK(it_param_set_storage(odd, IT_WEIGHT_BF16) == IT_OK, "bf16 has no blocks");
    CHECK(it_param_set_storage(trainable, IT_WEIGHT_Q4_0) == IT_ERR_STATE && strstr(it_context_last_error(ctx), "trainable"),
          "trainable: '%s'", it_context_last_error(ctx));
    it_model_create(ctx, &gc, &g2);
    CHECK(it_model_set_base_storage(g2, IT_WEIGHT_Q8_0) == IT_ERR_UNSUPPORTED, "GPT-2: '%s'", it_context_last_error(ctx));
    it_context_destroy(ctx);
}

int main(void) {
    char tmp[] = "/tmp/it_lora_XXXXXX";
    if (!mkdtemp(tmp)) return 2;
    check_peft("llama_all", "llama_llama3", tmp);
    check_peft("llama_rslora_last", "llama_llama3", tmp);
    check_peft("qwen2_qv", "qwen2", tmp);
    check_peft("gpt2_all", "gpt2", tmp);
    fused_vs_unfused(0, 0.0f);
    fused_vs_unfused(1, 0.0f);
    fused_vs_unfused(0, 0.25f);
    fused_vs_unfused(1, 0.25f);
    reference_kernels();
    model_adapter(0, 0.0f);
    model_adapter(1, 0.0f);
    model_adapter(0, 0.1f);
    model_adapter(1, 0.1f);
    resume(tmp);
    hostile(tmp);
    sft_data(tmp);
    packed_vs_alone(0);
    packed_vs_alone(1);
    pack_rows(tmp);
    qlora(tmp, IT_WEIGHT_BF16);
    qlora(tmp, IT_WEIGHT_Q8_0);
    qlora(tmp, IT_WEIGHT_Q4_0);
    qlora_refusals();
    it_test_remove_tree(tmp);
    return it_test_finish();
}
