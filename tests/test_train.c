/* Training machinery: preset parameter counts, config errors, optimizer steps against the update
   equations by hand, matrix-only weight decay, gradient clipping, k micro-batches == one batch k
   times larger, deterministic init, and a short run on real text whose loss falls well below the
   uniform baseline ln(vocab). */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

static void test_presets(void) {
    static const struct { const char *name; size_t count; } want[] = {
        {"tiny", 10815744}, {"small", 37364224}, {"medium", 238322688}, {"shakespeare", 4459776}};
    size_t i;
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        it_model_config c;
        CHECK(it_model_preset(want[i].name, &c) == IT_OK, "preset %s", want[i].name);
        CHECK(it_model_config_param_count(&c) == want[i].count, "%s: %zu parameters, want %zu", want[i].name,
              it_model_config_param_count(&c), want[i].count);
    }
    {   /* the declared parameters add up to the formula, for both families, tied and not */
        const char *names[] = {"tiny", "gpt2-tiny"};
        int untied;
        for (i = 0; i < 2; i++)
            for (untied = 0; untied < 2; untied++) {
                it_context *ctx = it_test_context(1);
                it_model_config c;
                it_model *m;
                size_t total = 0;
                int p;
                it_model_preset(names[i], &c);
                c.untied = untied;
                CHECK(it_model_create(ctx, &c, &m) == IT_OK, "create %s", names[i]);
                for (p = 0; p < it_param_count(ctx); p++) total += it_tensor_numel(it_param_at(ctx, p));
                CHECK(total == it_model_config_param_count(&c), "%s untied=%d: declared %zu, formula %zu", names[i],
                      untied, total, it_model_config_param_count(&c));
                CHECK(!!it_param_find(ctx, "lm_head.weight") == untied, "lm_head only when untied");
                it_model_destroy(m);
                it_context_destroy(ctx);
            }
    }
    {
        it_model_config c;
        it_context *ctx = it_test_context(1);
        it_model *m;
        CHECK(it_model_preset("huge", &c) == IT_ERR_INVALID_ARGUMENT, "unknown preset");
        it_model_preset("tiny", &c);
        c.n_heads = 3;
        CHECK(it_model_create(ctx, &c, &m) == IT_ERR_INVALID_ARGUMENT, "heads not dividing dim");
        CHECK(strstr(it_context_last_error(ctx), "heads (3) must divide dim (256)") != NULL, "message: %s",
              it_context_last_error(ctx));
        it_model_preset("tiny", &c);
        c.n_kv_heads = 3;
        CHECK(it_model_create(ctx, &c, &m) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "kv-heads"),
              "kv heads not dividing heads: %s", it_context_last_error(ctx));
        it_context_destroy(ctx);
    }
}

/* One optimizer step on a 3x3 matrix and a 3-vector, against the equations written out. */
static void test_optimizer_by_hand(it_optimizer_kind kind) {
    it_context *ctx = it_test_context(1);
    it_tensor *w = it_param(ctx, "w", 2, (int[]){3, 3}), *b = it_param(ctx, "b", 1, (int[]){3});
    it_optimizer *opt;
    it_optimizer_desc d;
    float w0[9], b0[3], g_w[9], g_b[3], lr = 0.01f, wd = 0.1f, b1 = 0.8f, b2 = 0.9f, eps = 1e-8f;
    int i, t;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.beta1 = b1;
    d.beta2 = b2;
    d.eps = eps;
    d.momentum = kind == IT_OPTIMIZER_SGD ? 0.5f : 0.0f;
    d.weight_decay = wd;
    it_optimizer_create(ctx, &d, &opt);
    CHECK(it_optimizer_param_decay(opt, w) == wd && it_optimizer_param_decay(opt, b) == 0.0f,
          "the decay policy backends share: matrices decay, vectors do not");
    opt->desc.decay_vectors = 1;
    CHECK(it_optimizer_param_decay(opt, b) == wd, "vectors too with decay_vectors");
    opt->desc.decay_vectors = 0;
    for (i = 0; i < 9; i++) it_data(w)[i] = w0[i] = 0.1f * (float)(i - 4);
    for (i = 0; i < 3; i++) it_data(b)[i] = b0[i] = 1.0f + 0.5f * (float)i;
    {
        double m_w[9] = {0}, v_w[9] = {0}, m_b[3] = {0}, v_b[3] = {0};
        double pw[9], pb[3];
        for (i = 0; i < 9; i++) pw[i] = w0[i];
        for (i = 0; i < 3; i++) pb[i] = b0[i];
        for (t = 1; t <= 2; t++) { /* two steps, so the state carries over */
            for (i = 0; i < 9; i++) it_grad(w)[i] = g_w[i] = 0.3f * (float)((i * 7 + t) % 5) - 0.6f;
            for (i = 0; i < 3; i++) it_grad(b)[i] = g_b[i] = 0.2f * (float)(i + t) - 0.5f;
            CHECK(it_optimizer_step(opt, lr, 1.0f, NULL) == IT_OK, "step");
            for (i = 0; i < 12; i++) { /* 9 matrix entries (decayed), then 3 vector entries (not) */
                double *p = i < 9 ? &pw[i] : &pb[i - 9], *m = i < 9 ? &m_w[i] : &m_b[i - 9];
                double *v = i < 9 ? &v_w[i] : &v_b[i - 9], g = i < 9 ? g_w[i] : g_b[i - 9];
                double decay = i < 9 ? wd : 0.0;
                if (kind == IT_OPTIMIZER_LION) {
                    double c = b1 * *m + (1 - b1) * g;
                    *p -= lr * ((c > 0) - (c < 0) + decay * *p);
                    *m = b2 * *m + (1 - b2) * g;
                } else if (kind == IT_OPTIMIZER_ADAMW) {
                    *m = b1 * *m + (1 - b1) * g;
                    *v = b2 * *v + (1 - b2) * g * g;
                    *p -= lr * ((*m / (1 - pow(b1, t))) / (sqrt(*v / (1 - pow(b2, t))) + eps) + decay * *p);
                } else {
                    double gg = g + decay * *p;
                    *m = 0.5 * *m + gg;
                    *p -= lr * *m;
                }
            }
            for (i = 0; i < 9; i++)
                CHECK_CLOSE(it_data(w)[i], pw[i], 0, 1e-6, it_optimizer_name(kind));
            for (i = 0; i < 3; i++)
                CHECK_CLOSE(it_data(b)[i], pb[i], 0, 1e-6, it_optimizer_name(kind));
        }
    }
    it_optimizer_destroy(opt);
    it_context_destroy(ctx);
}

static void test_clipping(void) {
    it_context *ctx = it_test_context(1);
    it_tensor *w = it_param(ctx, "w", 1, (int[]){4});
    it_optimizer *opt;
    it_optimizer_desc d;
    float norm;
    memset(&d, 0, sizeof d);
    d.kind = IT_OPTIMIZER_SGD; /* plain SGD: the update is -lr * clipped gradient */
    d.clip_norm = 1.0f;
    it_optimizer_create(ctx, &d, &opt);
    it_grad(w)[0] = 3.0f;
    it_grad(w)[1] = 4.0f; /* norm 5 */
    it_grad(w)[2] = it_grad(w)[3] = 0.0f;
    it_optimizer_step(opt, 1.0f, 1.0f, &norm);
    CHECK_CLOSE(norm, 5.0, 1e-6, 0, "reported norm before clipping");
    CHECK_CLOSE(it_data(w)[0], -0.6, 1e-6, 0, "clipped to norm 1");
    CHECK_CLOSE(it_data(w)[1], -0.8, 1e-6, 0, "clipped to norm 1");
    it_optimizer_step(opt, 1.0f, 0.1f, &norm); /* grad_scale 0.1: norm 0.5, below the clip */
    CHECK_CLOSE(norm, 0.5, 1e-6, 0, "scaled norm");
    CHECK_CLOSE(it_data(w)[0], -0.6 - 0.3, 1e-6, 0, "not clipped below the threshold");
    it_grad(w)[0] = NAN;
    CHECK(it_optimizer_step(opt, 1.0f, 1.0f, &norm) == IT_ERR_RANGE, "non-finite gradient is refused");
    CHECK_CLOSE(it_data(w)[1], -0.8 - 0.4, 1e-6, 0, "and nothing was updated");
    it_optimizer_destroy(opt);
    it_context_destroy(ctx);
}

/* k micro-batches with grad_scale 1/k give the gradient of one batch k times larger. */
static void test_accumulation(void) {
    enum { B = 2, K = 3, T = 8 };
    it_context *small = it_test_context(2), *big = it_test_context(2);
    it_model_config c;
    it_model *ms, *mb;
    it_model_graph gs, gb;
    int i, k;
    double max_rel = 0.0;
    c = it_test_llama();
    c.vocab_size = 50;
    it_model_create(small, &c, &ms);
    it_model_create(big, &c, &mb);
    it_model_graph_create(ms, IT_PURPOSE_TRAIN, B, T, &gs);
    it_model_graph_create(mb, IT_PURPOSE_TRAIN, B * K, T, &gb);
    it_model_init(ms, 9);
    it_model_init(mb, 9);
    for (i = 0; i < B * K * T; i++) {
        it_data_i32(gb.tokens)[i] = (i * 13 + 5) % 50;
        it_data_i32(gb.targets)[i] = (i * 17 + 1) % 50;
    }
    it_zero_grads(small);
    for (k = 0; k < K; k++) {
        memcpy(it_data_i32(gs.tokens), it_data_i32(gb.tokens) + k * B * T, sizeof(int32_t) * B * T);
        memcpy(it_data_i32(gs.targets), it_data_i32(gb.targets) + k * B * T, sizeof(int32_t) * B * T);
        CHECK(it_graph_run(gs.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "micro-batch %d", k);
    }
    it_zero_grads(big);
    CHECK(it_graph_run(gb.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "big batch");
    {   /* relative to the gradient's scale: tiny entries make per-element ratios meaningless */
        double diff = 0.0, ref = 0.0;
        for (i = 0; i < (int)it_param_numel(small); i++) {
            double a = it_grad_block(small)[i] / K, b = it_grad_block(big)[i];
            diff += (a - b) * (a - b);
            ref += b * b;
        }
        max_rel = sqrt(diff / ref);
    }
    printf("accumulation: %d micro-batches of %d vs one batch of %d: relative difference %.2e\n", K, B, B * K,
           max_rel);
    CHECK(max_rel < 1e-5, "accumulated gradient matches the big batch (relative %.3g)", max_rel);
    CHECK(memcmp(it_param_block(small), it_param_block(big), it_param_numel(small) * 4) == 0,
          "same seed, same initial weights");
    it_context_destroy(small);
    it_context_destroy(big);
}

/* A short run on real text: the loss must fall well below the uniform baseline ln(vocab). */
static void test_learns(void) {
    static const char builtin[] =
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must "
        "be in want of a wife. However little known the feelings or views of such a man may be on his "
        "first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding "
        "families, that he is considered the rightful property of some one or other of their daughters. ";
    enum { B = 8, T = 32, STEPS = 80 };
    it_context *ctx = it_test_context(0);
    it_tokenizer *tok;
    it_dataset *ds = NULL;
    it_model_config c;
    it_model *m;
    it_model_graph train, eval;
    it_optimizer *opt;
    it_optimizer_desc od;
    it_rng rng;
    float first = 0, val = 0;
    int step, i;
    it_tokenizer_byte(ctx, &tok);
    if (it_dataset_load(ctx, "../shared/data/tinyshakespeare.txt", tok, 256, T, &ds) != IT_OK) {
        int32_t ids[sizeof builtin * 8];
        size_t n = 0, k;
        printf("note: tinyshakespeare not found, training on a built-in text\n");
        for (k = 0; k < 8; k++)
            for (i = 0; builtin[i]; i++) ids[n++] = (unsigned char)builtin[i];
        CHECK(it_dataset_from_ids(ctx, ids, n, 256, T, "built-in", &ds) == IT_OK, "%s", it_context_last_error(ctx));
    }
    it_model_preset("shakespeare", &c);
    c.vocab_size = 256;
    c.dim = 64;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.ffn_dim = 128;
    it_model_create(ctx, &c, &m);
    it_model_graph_create(m, IT_PURPOSE_TRAIN, B, T, &train);
    it_model_graph_create(m, IT_PURPOSE_EVAL, B, T, &eval);
    it_model_init(m, 1);
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    od.beta2 = 0.95f;
    od.weight_decay = 0.1f;
    od.clip_norm = 1.0f;
    it_optimizer_create(ctx, &od, &opt);
    it_rng_seed(&rng, 7);
    for (step = 0; step < STEPS; step++) {
        it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, it_data_i32(train.tokens), it_data_i32(train.targets));
        it_zero_grads(ctx);
        CHECK(it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "step %d", step);
        if (step == 0) first = it_data(train.loss)[0];
        it_optimizer_step(opt, 3e-3f, 1.0f, NULL);
    }
    for (i = 0; i < 4; i++) {
        it_dataset_eval_batch(ds, IT_SPLIT_VAL, (size_t)i, B, T, it_data_i32(eval.tokens), it_data_i32(eval.targets));
        it_graph_run(eval.graph, IT_RUN_FORWARD);
        val += it_data(eval.loss)[0] / 4;
    }
    printf("learning: first loss %.3f (ln 256 = %.3f), validation loss after %d steps %.3f\n", first, log(256.0), STEPS,
           val);
    CHECK(fabs(first - log(256.0)) < 0.3, "initial loss %.3f is near ln(256)", first);
    CHECK(val < 0.6 * log(256.0), "validation loss %.3f fell well below ln(256) = %.3f", val, log(256.0));
    it_optimizer_destroy(opt);
    it_model_destroy(m);
    it_dataset_destroy(ds);
    it_tokenizer_destroy(tok);
    it_context_destroy(ctx);
}

int main(void) {
    test_learns();
    test_presets();
    test_optimizer_by_hand(IT_OPTIMIZER_LION);
    test_optimizer_by_hand(IT_OPTIMIZER_ADAMW);
    test_optimizer_by_hand(IT_OPTIMIZER_SGD);
    test_clipping();
    test_accumulation();
    return it_test_finish();
}
