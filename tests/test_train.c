/* Training machinery: preset parameter counts, config errors, optimizer steps against the update
   equations by hand, matrix-only weight decay, gradient clipping, k micro-batches == one batch k
   times larger, deterministic init, and a short run on real text whose loss falls well below the
   uniform baseline ln(vocab). */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

static it_context *quiet_context(int threads) {
    it_context_desc d;
    it_context *ctx;
    memset(&d, 0, sizeof d);
    d.n_threads = threads;
    d.logger.min_level = IT_LOG_COUNT; /* the expected errors stay quiet */
    d.logger.log = NULL;
    it_context_create(&d, &ctx);
    return ctx;
}

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
                it_context *ctx = quiet_context(1);
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
        it_context *ctx = quiet_context(1);
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
    it_context *ctx = quiet_context(1);
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
    it_context *ctx = quiet_context(1);
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
    it_context *small = quiet_context(2), *big = quiet_context(2);
    it_model_config c;
    it_model *ms, *mb;
    it_model_graph gs, gb;
    int i, k;
    double max_rel = 0.0;
    it_model_preset("tiny", &c);
    c.vocab_size = 50;
    c.dim = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.ffn_dim = 48;
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

int main(void) {
    test_presets();
    test_optimizer_by_hand(IT_OPTIMIZER_LION);
    test_optimizer_by_hand(IT_OPTIMIZER_ADAMW);
    test_optimizer_by_hand(IT_OPTIMIZER_SGD);
    test_clipping();
    test_accumulation();
    return it_test_finish();
}
