/* test_fast.c - the CPU backend's fast kernels against the reference ones (correctness only, no
   timings): the vector exp and SwiGLU, the decoder's one-query attention kernels, flash
   attention forward and backward against it_cpu_attention_* on odd shapes with GQA and every
   vector level this CPU runs, the fused linear + cross-entropy node against matmul +
   cross_entropy, and KV-cache generation against full recomputation. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "it_test.h"

static float *alloc_f(size_t n) { return (float *)calloc(n ? n : 1, sizeof(float)); }
/* largest |a - b| / (atol + rtol |b|); <= 1 passes */
static double worst(const float *a, const float *b, size_t n, double rtol, double atol) {
    double w = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(e <= w)) w = e; /* NaN propagates */
    }
    return w;
}

static void test_vexp(void) {
    float x[203], y[203];
    int level, i, n;
    for (i = 0; i < 203; i++) x[i] = it_test_signed() * 40.0f;
    x[3] = -200.0f, x[4] = -FLT_MAX, x[5] = 0.0f, x[6] = 80.0f;
    for (level = 1; level <= 3; level++) {
        it__sgemm_force_isa = level;
        for (n = 0; n <= 203; n += (n < 20 ? 1 : 61)) {
            double want = 0.0, got, bad = 0.0, m = it__vmax(x, n);
            float wm = -FLT_MAX;
            for (i = 0; i < n; i++) wm = x[i] > wm ? x[i] : wm;
            CHECK(m == wm, "vmax level %d n %d: %g vs %g", level, n, m, wm);
            got = it__vexp(y, x, n, 0.5f, 3.0f, 2.0f);
            for (i = 0; i < n; i++) {
                double e = exp(0.5 * x[i] - 3.0);
                want += e;
                /* the float argument itself is rounded: relative error up to |arg| ulp */
                bad = fmax(bad, fabs(y[i] - 2.0 * e) / (2.0 * e * (4e-7 + 1.2e-7 * fabs(0.5 * x[i] - 3.0)) + 1e-37));
            }
            CHECK(bad <= 1.0, "vexp level %d n %d: worst error %.3g of tolerance", level, n, bad);
            CHECK(it_test_close(got, want, 1e-6, 1e-30), "vexp sum level %d n %d: %g vs %g", level, n, got, want);
        }
    }
    it__sgemm_force_isa = 0;
}

/* the vector Lion update against the reference (odd length: the scalar tail too; c = 0 lanes) */
static void test_lion(void) {
    enum { N = 1037 };
    static float p1[N], p2[N], m1[N], m2[N], g[N];
    int level;
    for (level = 1; level <= 3; level++) {
        it_test_fill(p1, N, 1.0f), it_test_fill(m1, N, 0.01f), it_test_fill(g, N, 0.1f);
        m1[3] = g[3] = 0.0f; /* sign(0) = 0 */
        memcpy(p2, p1, sizeof p1), memcpy(m2, m1, sizeof m1);
        it__sgemm_force_isa = level;
        it__lion_fast(p2, m2, g, N, 3e-4f, 0.9f, 0.99f, 0.1f, 0.7f);
        it_cpu_lion_update(p1, m1, g, N, 3e-4f, 0.9f, 0.99f, 0.1f, 0.7f);
        CHECK(worst(p2, p1, N, 1e-6, 1e-9) <= 1.0 && worst(m2, m1, N, 1e-6, 1e-12) <= 1.0, "lion level %d", level);
    }
    it__sgemm_force_isa = 0;
}

/* flash attention against the reference kernels, in one worker's scratch */
static it__scratch flash_scratch;
static void flash_case(int B, int T, int Hq, int Hkv, int D, int level, int window) {
    size_t nq = (size_t)B * T * Hq * D, nk = (size_t)B * T * Hkv * D, nl = (size_t)B * Hq * T;
    float *q = alloc_f(nq), *k = alloc_f(nk), *v = alloc_f(nk), *o1 = alloc_f(nq), *o2 = alloc_f(nq);
    float *l1 = alloc_f(nl), *l2 = alloc_f(nl), *dout = alloc_f(nq);
    float *dq1 = alloc_f(nq), *dq2 = alloc_f(nq), *dk1 = alloc_f(nk), *dk2 = alloc_f(nk), *dv1 = alloc_f(nk), *dv2 = alloc_f(nk);
    int b, h;
    double w;
    it__sgemm_force_isa = level;
    it_test_fill(q, nq, 2.0f), it_test_fill(k, nk, 2.0f), it_test_fill(v, nk, 1.0f), it_test_fill(dout, nq, 1.0f);
    it_test_fill(dq1, nq, 0.5f), it_test_fill(dk1, nk, 0.5f), it_test_fill(dv1, nk, 0.5f); /* backward accumulates */
    memcpy(dq2, dq1, nq * 4), memcpy(dk2, dk1, nk * 4), memcpy(dv2, dv1, nk * 4);
    it_cpu_attention_forward(o1, l1, q, k, v, B, T, Hq, Hkv, D, window);
    for (b = 0; b < B; b++)
        for (h = 0; h < Hq; h++) it__flash_forward_head(&flash_scratch, o2, l2, q, k, v, NULL, b, h, T, Hq, Hkv, D, window);
    w = worst(o2, o1, nq, 2e-5, 2e-6);
    CHECK(w <= 1.0, "flash forward out B%d T%d Hq%d Hkv%d D%d level %d window %d: %.3g of tolerance", B, T, Hq, Hkv, D, level, window, w);
    w = worst(l2, l1, nl, 2e-6, 2e-6);
    CHECK(w <= 1.0, "flash forward lse B%d T%d Hq%d Hkv%d D%d level %d window %d: %.3g of tolerance", B, T, Hq, Hkv, D, level, window, w);
    it_cpu_attention_backward(dq1, dk1, dv1, dout, q, k, v, o1, l1, B, T, Hq, Hkv, D, window);
    for (b = 0; b < B; b++)
        for (h = 0; h < Hkv; h++) it__flash_backward_group(&flash_scratch, dq2, dk2, dv2, dout, q, k, v, o1, l1, NULL, b, h, T, Hq, Hkv, D, window);
    w = worst(dq2, dq1, nq, 1e-4, 1e-5);
    CHECK(w <= 1.0, "flash backward dq B%d T%d Hq%d Hkv%d D%d level %d window %d: %.3g", B, T, Hq, Hkv, D, level, window, w);
    w = worst(dk2, dk1, nk, 1e-4, 1e-5);
    CHECK(w <= 1.0, "flash backward dk B%d T%d Hq%d Hkv%d D%d level %d window %d: %.3g", B, T, Hq, Hkv, D, level, window, w);
    w = worst(dv2, dv1, nk, 1e-4, 1e-5);
    CHECK(w <= 1.0, "flash backward dv B%d T%d Hq%d Hkv%d D%d level %d window %d: %.3g", B, T, Hq, Hkv, D, level, window, w);
    /* NULL gradients are skipped */
    it__flash_backward_group(&flash_scratch, NULL, dk2, NULL, dout, q, k, v, o1, l1, NULL, 0, 0, T, Hq, Hkv, D, window);
    it__sgemm_force_isa = 0;
    free(q), free(k), free(v), free(o1), free(o2), free(l1), free(l2), free(dout);
    free(dq1), free(dq2), free(dk1), free(dk2), free(dv1), free(dv2);
}
static void test_flash(void) {
    static const int shapes[][5] = {{1, 1, 1, 1, 2},  {2, 7, 4, 2, 6},   {1, 64, 2, 2, 8},   {1, 65, 4, 1, 10},
                                    {2, 130, 3, 3, 16}, {1, 200, 4, 2, 64}, {1, 129, 2, 1, 34}};
    /* no window; windows shorter than, across and longer than a 64-key tile (sliding-window attention) */
    static const int windows[] = {0, 1, 5, 64, 70};
    int s, level, w;
    float *mem = NULL;
    if (posix_memalign((void **)&mem, 64, IT__SCRATCH_FLOATS * sizeof(float))) {
        CHECK(0, "flash: out of memory");
        return;
    }
    it__scratch_init(&flash_scratch, mem);
    for (level = 1; level <= 3; level++)
        for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
            for (w = 0; w < (int)(sizeof windows / sizeof windows[0]); w++)
                flash_case(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4], level, windows[w]);
    free(mem);
}

/* the fused head + loss node against matmul + cross_entropy, forward and backward, on the backend */
static void test_fused_loss(int threads) {
    enum { N = 37, C = 24, V = 101 };
    it_context *ctx;
    it_tensor *w;
    it_graph *g[2];
    it_tensor *x[2], *t[2], *loss[2];
    float x0[N * C], gx[2][N * C], *gw[2], lossv[2];
    int i, dims_x[2] = {N, C}, dims_t[1] = {N};
    ctx = it_test_context(threads);
    w = it_param(ctx, "w", 2, (int[]){V, C});
    for (i = 0; i < 2; i++) {
        g[i] = it_graph_create(ctx);
        x[i] = it_input(g[i], "x", IT_F32, 2, dims_x);
        t[i] = it_input(g[i], "t", IT_I32, 1, dims_t);
        loss[i] = i == 0 ? it_linear_cross_entropy(g[i], x[i], w, t[i], -1, 16)
                         : it_cross_entropy(g[i], it_matmul(g[i], x[i], w, 0, 1), t[i], -1);
        it_graph_backward(g[i], loss[i]);
        it_graph_plan(g[i]);
    }
    it_param_init_normal(ctx, 0.5f, 7);
    it_test_fill(x0, N * C, 1.0f);
    for (i = 0; i < 2; i++) {
        int r;
        memcpy(it_data(x[i]), x0, sizeof x0);
        for (r = 0; r < N; r++) it_data_i32(t[i])[r] = r == 5 ? -1 : (int)((r * 37u + 11u) % V);
        it_zero_grads(ctx);
        CHECK(it_graph_run(g[i], IT_RUN_FORWARD_BACKWARD) == IT_OK, "fused loss run %d", i);
        lossv[i] = it_data(loss[i])[0];
        memcpy(gx[i], it_grad(x[i]), sizeof x0);
        gw[i] = alloc_f((size_t)V * C);
        memcpy(gw[i], it_grad(w), sizeof(float) * V * C);
    }
    CHECK_CLOSE(lossv[0], lossv[1], 1e-5, 1e-6, "fused vs unfused loss");
    CHECK(worst(gx[0], gx[1], N * C, 1e-4, 1e-6) <= 1.0, "fused vs unfused dx (%d threads)", threads);
    CHECK(worst(gw[0], gw[1], (size_t)V * C, 1e-4, 1e-6) <= 1.0, "fused vs unfused dw (%d threads)", threads);
    free(gw[0]), free(gw[1]);
    it_context_destroy(ctx);
}

/* KV-cache greedy decoding produces exactly the tokens full recomputation does */
static void test_decoder(it_arch arch, int threads) {
    enum { PROMPT = 5, GEN = 24, MAXSEQ = 40 };
    it_context *ctx;
    it_model_config cfg;
    it_model *m;
    it_model_graph lg;
    it_decoder *dec;
    int32_t seq[MAXSEQ], cached[PROMPT + GEN];
    const float *logits;
    int i, n, V, mism = 0;
    double maxdiff = 0.0;
    ctx = it_test_context(threads);
    cfg = arch == IT_ARCH_LLAMA ? it_test_llama() : it_test_gpt2();
    cfg.vocab_size = V = 67;
    cfg.max_seq = MAXSEQ;
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK, "model");
    CHECK(it_model_graph_create(m, IT_PURPOSE_LOGITS, 1, MAXSEQ, &lg) == IT_OK, "logits graph");
    it_model_init(m, 99);
    for (i = 0; i < it_param_count(ctx); i++) { /* larger weights than init: sharper, more varied logits */
        it_tensor *p = it_param_at(ctx, i);
        size_t j;
        if (p->ndim == 2)
            for (j = 0; j < p->numel; j++) it_data(p)[j] *= 8.0f;
    }
    CHECK(it_decoder_create(m, 0, &dec) == IT_OK, "decoder");
    for (i = 0; i < PROMPT; i++) seq[i] = (int32_t)((i * 13 + 5) % V);
    /* cached: the prompt in two pieces (3 + 2 tokens) to cover a batched call at an offset */
    CHECK(it_decoder_feed(dec, seq, 3, &logits) == IT_OK, "feed 3");
    CHECK(it_decoder_feed(dec, seq + 3, PROMPT - 3, &logits) == IT_OK, "feed 2");
    for (i = 0; i < PROMPT; i++) cached[i] = seq[i];
    for (n = PROMPT; n < PROMPT + GEN; n++) {
        cached[n] = it_cpu_argmax(logits, V);
        if (n + 1 < PROMPT + GEN) CHECK(it_decoder_feed(dec, &cached[n], 1, &logits) == IT_OK, "feed 1");
    }
    CHECK(it_decoder_pos(dec) == PROMPT + GEN - 1, "decoder position %d", it_decoder_pos(dec));
    /* recomputation: the whole sequence so far through the logits graph each step */
    memset(seq + PROMPT, 0, sizeof(int32_t) * (MAXSEQ - PROMPT));
    for (n = PROMPT; n < PROMPT + GEN; n++) {
        const float *row;
        memcpy(it_data_i32(lg.tokens), seq, sizeof seq);
        CHECK(it_graph_run(lg.graph, IT_RUN_FORWARD) == IT_OK, "recompute run");
        row = it_data(lg.logits) + (size_t)(n - 1) * V;
        seq[n] = it_cpu_argmax(row, V);
        if (seq[n] != cached[n]) mism++;
        if (n == PROMPT + GEN - 1) { /* compare the last cached logits too */
            int j;
            for (j = 0; j < V; j++) maxdiff = fmax(maxdiff, fabs(row[j] - logits[j]));
        }
    }
    CHECK(mism == 0, "KV-cache tokens differ from recomputation at %d of %d positions (%s)", mism, GEN,
          arch == IT_ARCH_LLAMA ? "llama" : "gpt2");
    CHECK(maxdiff < 1e-3, "KV-cache logits vs recomputation: max diff %g", maxdiff);
    /* teacher forcing: a fixed random sequence one token at a time (a greedy run of a random model
       soon repeats one token); every position's logits against one recomputation */
    it_decoder_reset(dec);
    for (i = 0; i < MAXSEQ; i++) seq[i] = (int32_t)((i * 29 + 7 + (i * i) % 11) % V);
    memcpy(it_data_i32(lg.tokens), seq, sizeof seq);
    CHECK(it_graph_run(lg.graph, IT_RUN_FORWARD) == IT_OK, "recompute run");
    CHECK(it_decoder_feed(dec, seq, 4, &logits) == IT_OK, "feed 4");
    mism = 0;
    maxdiff = 0.0;
    for (n = 4; n <= MAXSEQ; n++) {
        const float *row = it_data(lg.logits) + (size_t)(n - 1) * V;
        int j;
        if (it_cpu_argmax(row, V) != it_cpu_argmax(logits, V)) mism++;
        for (j = 0; j < V; j++) maxdiff = fmax(maxdiff, fabs(row[j] - logits[j]));
        if (n < MAXSEQ) CHECK(it_decoder_feed(dec, &seq[n], 1, &logits) == IT_OK, "feed 1");
    }
    CHECK(mism == 0, "teacher-forced argmax differs at %d positions", mism);
    CHECK(maxdiff < 1e-3, "teacher-forced logits vs recomputation: max diff %g", maxdiff);
    /* errors leave the cache alone */
    {
        int32_t bad = V;
        int pos;
        it_decoder_reset(dec);
        CHECK(it_decoder_feed(dec, seq, 2, &logits) == IT_OK, "feed 2 after reset");
        pos = it_decoder_pos(dec);
        CHECK(it_decoder_feed(dec, &bad, 1, &logits) == IT_ERR_RANGE, "bad id");
        CHECK(it_decoder_feed(dec, seq, MAXSEQ, &logits) == IT_ERR_RANGE, "past max_seq");
        CHECK(it_decoder_pos(dec) == pos, "position unchanged after errors");
        it_decoder_reset(dec);
        CHECK(it_decoder_pos(dec) == 0, "reset");
    }
    it_decoder_destroy(dec);
    it_model_graph_destroy(&lg);
    it_model_destroy(m);
    it_context_destroy(ctx);
}

/* recomputing each layer inside the backward gives the very same loss and gradients, in less arena */
static void test_recompute(it_arch arch) {
    enum { B = 3, T = 19 };
    it_context *ctx;
    it_model_config cfg;
    it_model *m;
    it_model_graph mg[2];
    float loss[2], *grads[2];
    size_t np, arena[2];
    int i, j;
    ctx = it_test_context(2);
    cfg = arch == IT_ARCH_LLAMA ? it_test_llama() : it_test_gpt2();
    cfg.vocab_size = 53;
    cfg.n_layers = 3;
    cfg.max_seq = T;
    it_model_create(ctx, &cfg, &m);
    for (i = 0; i < 2; i++) {
        it_model_set_recompute_layers(m, i);
        CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, B, T, &mg[i]) == IT_OK, "train graph %d", i);
        arena[i] = it_graph_stats(mg[i].graph).arena_bytes;
    }
    it_model_init(m, 5);
    np = it_param_numel(ctx);
    for (i = 0; i < 2; i++) {
        for (j = 0; j < B * T; j++) {
            it_data_i32(mg[i].tokens)[j] = (j * 7 + 3) % cfg.vocab_size;
            it_data_i32(mg[i].targets)[j] = (j * 11 + 5) % cfg.vocab_size;
        }
        it_zero_grads(ctx);
        CHECK(it_graph_run(mg[i].graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "run %d", i);
        loss[i] = it_data(mg[i].loss)[0];
        grads[i] = alloc_f(np);
        memcpy(grads[i], it_grad_block(ctx), np * sizeof(float));
    }
    CHECK(loss[0] == loss[1], "recompute: loss %.9g vs %.9g", loss[0], loss[1]);
    CHECK(memcmp(grads[0], grads[1], np * sizeof(float)) == 0, "recompute: gradients differ (%s)",
          arch == IT_ARCH_LLAMA ? "llama" : "gpt2");
    CHECK(arena[1] < arena[0] * 3 / 4, "recompute arena %zu vs %zu", arena[1], arena[0]);
    CHECK(it_graph_stats(mg[1].graph).n_steps > it_graph_stats(mg[0].graph).n_steps, "recompute adds steps");
    /* a second run of the recomputing graph is still the same (no state left behind) */
    it_zero_grads(ctx);
    it_graph_run(mg[1].graph, IT_RUN_FORWARD_BACKWARD);
    CHECK(memcmp(grads[0], it_grad_block(ctx), np * sizeof(float)) == 0, "recompute: second run differs");
    free(grads[0]), free(grads[1]);
    it_model_graph_destroy(&mg[0]);
    it_model_graph_destroy(&mg[1]);
    it_context_destroy(ctx);
}

/* the vector SwiGLU against double precision: forward, and the backward accumulating into dgate
   and dup (also with dup absent), odd lengths and gates far past exp's range */
static void test_swiglu(void) {
    enum { N = 1000 };
    static float g[N], u[N], d[N], out[N], dg[N], du[N];
    static const int lens[] = {1, 7, 255, 256, 257, N};
    int level, li, i;
    it_test_fill(g, N, 12.0f), it_test_fill(u, N, 2.0f), it_test_fill(d, N, 1.0f);
    g[0] = -100.0f, g[2] = 100.0f, g[5] = 0.0f, g[300] = -90.0f, g[301] = 89.0f;
    for (level = 1; level <= 3; level++)
        for (li = 0; li < (int)(sizeof lens / sizeof lens[0]); li++) {
            int n = lens[li], with_dup = li % 2 == 0;
            double bad_f = 0.0, bad_g = 0.0, bad_u = 0.0;
            it__sgemm_force_isa = level;
            for (i = 0; i < n; i++) dg[i] = 0.5f, du[i] = -0.25f;
            it__swiglu_forward_fast(out, g, u, (size_t)n);
            it__swiglu_backward_fast(dg, 0, with_dup ? du : NULL, 0, d, g, u, (size_t)n);
            for (i = 0; i < n; i++) {
                double s = 1.0 / (1.0 + exp(-(double)g[i])), silu = g[i] * s;
                double want_g = 0.5 + (double)d[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
                double want_u = with_dup ? -0.25 + (double)d[i] * silu : -0.25;
                bad_f = fmax(bad_f, fabs(out[i] - silu * u[i]) / (1e-6 + 1e-5 * fabs(silu * u[i])));
                bad_g = fmax(bad_g, fabs(dg[i] - want_g) / (1e-6 + 1e-5 * fabs(want_g)));
                bad_u = fmax(bad_u, fabs(du[i] - want_u) / (1e-6 + 1e-5 * fabs(want_u)));
            }
            CHECK(bad_f <= 1.0 && bad_g <= 1.0 && bad_u <= 1.0,
                  "swiglu level %d n %d: worst error / tolerance: out %.3g, dgate %.3g, dup %.3g", level, n, bad_f, bad_g,
                  bad_u);
        }
    it__sgemm_force_isa = 0;
}

/* The decoder's one-query attention kernels (scores q . k_j and the mix sum_j p_j v_j, rows ld
   apart in the cache) against double loops, every vector level, head sizes with every tail. */
static void test_attn_kernels(void) {
    enum { MAXLEN = 37, MAXD = 72, LD = 80 };
    static float q[MAXD], kv[MAXLEN * LD], p[MAXLEN], got[MAXD + MAXLEN + 1];
    int Ds[6] = {1, 7, 8, 17, 64, 72}, lens[3] = {1, 5, MAXLEN}, level, di, li, j, d;
    it_test_fill(q, MAXD, 1.0f), it_test_fill(kv, MAXLEN * LD, 1.0f), it_test_fill(p, MAXLEN, 1.0f);
    for (level = 1; level <= 3; level++) {
        it__sgemm_force_isa = level;
        for (di = 0; di < 6; di++)
            for (li = 0; li < 3; li++) {
                int D = Ds[di], len = lens[li];
                double bad = 0.0;
                it__attn_scores(got, q, kv, LD, len, D);
                for (j = 0; j < len; j++) {
                    double want = 0.0, mag = 0.0;
                    for (d = 0; d < D; d++) want += (double)q[d] * kv[j * LD + d], mag += fabs((double)q[d] * kv[j * LD + d]);
                    bad = fmax(bad, fabs(got[j] - want) / (1e-6 * mag + 1e-30));
                }
                CHECK(bad <= 1.0, "attn scores level %d D %d len %d: worst %.3g of tolerance", level, D, len, bad);
                bad = 0.0;
                got[D] = 12345.0f; /* the mix writes D values, no more */
                it__attn_mix(got, p, kv, LD, len, D);
                for (d = 0; d < D; d++) {
                    double want = 0.0, mag = 0.0;
                    for (j = 0; j < len; j++) want += (double)p[j] * kv[j * LD + d], mag += fabs((double)p[j] * kv[j * LD + d]);
                    bad = fmax(bad, fabs(got[d] - want) / (1e-6 * mag + 1e-30));
                }
                CHECK(bad <= 1.0 && got[D] == 12345.0f, "attn mix level %d D %d len %d: worst %.3g of tolerance", level, D, len, bad);
            }
    }
    it__sgemm_force_isa = 0;
}

int main(void) {
    test_vexp();
    test_attn_kernels();
    test_lion();
    test_swiglu();
    test_flash();
    test_fused_loss(1);
    test_fused_loss(2);
    test_decoder(IT_ARCH_LLAMA, 1);
    test_decoder(IT_ARCH_LLAMA, 2);
    test_decoder(IT_ARCH_GPT2, 2);
    test_recompute(IT_ARCH_LLAMA);
    test_recompute(IT_ARCH_GPT2);
    return it_test_finish();
}
