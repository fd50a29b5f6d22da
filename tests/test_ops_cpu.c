/* The public it_cpu_* reference kernels called directly (no graph): matmul's accumulate flag and
   transposes, the backward kernels' += contract, kernel-level consistency (fused linear +
   cross-entropy against explicit logits, RoPE inverse), sampling (greedy,
   top-k, top-p, frequencies over a deterministic coin sequence), the three optimizer updates
   against hand-written equations on a 3x3 parameter, bf16 conversion and the rng. Every expected
   value is computed here in double with plain loops. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"
#include <float.h>


static int g_passed, g_failed;
static void group_begin(void) {
    g_passed = it_test_passed;
    g_failed = it_test_failed;
}
static void group_end(const char *name) {
    printf("%-40s %4d checks  %s\n", name, it_test_passed - g_passed + it_test_failed - g_failed,
           it_test_failed == g_failed ? "ok" : "FAILED");
    fflush(stdout);
}
/* all n within tolerance: one CHECK, worst element reported */
static void check_all(const char *what, const float *got, const double *want, size_t n, double rtol, double atol) {
    size_t i, bad = 0, worst = 0;
    double worst_err = -1.0;
    for (i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i]))) bad++;
        if (!(err <= worst_err)) {
            worst_err = err;
            worst = i;
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu off; worst [%zu] got %.9g want %.9g", what, bad, n, worst, (double)got[worst],
          want[worst]);
}

/* ---- matmul ---- */
static void test_matmul(void) {
    static const int shapes[][3] = {{3, 5, 4}, {1, 17, 3}, {17, 1, 2}, {6, 7, 9}};
    int s, ta, tb, acc, m, n, k;
    char what[96];
    group_begin();
    for (s = 0; s < 4; s++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (acc = 0; acc < 2; acc++) {
                    int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
                    float *a = (float *)malloc(sizeof(float) * M * K), *b = (float *)malloc(sizeof(float) * K * N);
                    float *c = (float *)malloc(sizeof(float) * M * N);
                    double *want = (double *)malloc(sizeof(double) * M * N);
                    it_test_fill(a, (size_t)M * K, 1.0f);
                    it_test_fill(b, (size_t)K * N, 1.0f);
                    for (m = 0; m < M * N; m++) c[m] = acc ? it_test_signed() : NAN; /* acc = 0 must not read c */
                    for (m = 0; m < M; m++)
                        for (n = 0; n < N; n++) {
                            double sum = acc ? c[m * N + n] : 0.0;
                            for (k = 0; k < K; k++)
                                sum += (double)(ta ? a[k * M + m] : a[m * K + k]) * (tb ? b[n * K + k] : b[k * N + n]);
                            want[m * N + n] = sum;
                        }
                    it_cpu_matmul(c, a, b, M, N, K, ta, tb, acc);
                    snprintf(what, sizeof what, "it_cpu_matmul M%d N%d K%d ta%d tb%d accumulate%d", M, N, K, ta, tb, acc);
                    check_all(what, c, want, (size_t)M * N, 1e-5, 1e-5);
                    free(a);
                    free(b);
                    free(c);
                    free(want);
                }
    group_end("it_cpu_matmul (transposes, accumulate)");
}

/* ---- elementwise and the += contract of backward kernels ---- */
static void test_elementwise(void) {
    enum { N = 37 };
    float a[N], b[N], out[N], da[N], db[N], dout[N];
    double want[N], want2[N];
    int i;
    group_begin();
    it_test_fill(a, N, 2.0f);
    it_test_fill(b, N, 2.0f);
    it_test_fill(dout, N, 1.0f);
    it_cpu_add_forward(out, a, b, N);
    for (i = 0; i < N; i++) want[i] = (double)a[i] + b[i];
    check_all("add", out, want, N, 1e-7, 0);
    it_cpu_mul_forward(out, a, b, N);
    for (i = 0; i < N; i++) want[i] = (double)a[i] * b[i];
    check_all("mul", out, want, N, 1e-7, 0);
    it_cpu_scale_forward(out, a, -0.5f, N);
    for (i = 0; i < N; i++) want[i] = -0.5 * a[i];
    check_all("scale", out, want, N, 0, 0);
    for (i = 0; i < N; i++) da[i] = db[i] = 1.0f;
    it_cpu_mul_backward(da, db, dout, a, b, N);
    for (i = 0; i < N; i++) {
        want[i] = 1.0 + (double)dout[i] * b[i];
        want2[i] = 1.0 + (double)dout[i] * a[i];
    }
    check_all("mul_backward da (accumulates)", da, want, N, 1e-6, 1e-7);
    check_all("mul_backward db (accumulates)", db, want2, N, 1e-6, 1e-7);
    it_cpu_mul_backward(NULL, db, dout, a, b, N); /* NULL da is allowed */
    for (i = 0; i < N; i++) want2[i] += (double)dout[i] * a[i];
    check_all("mul_backward NULL da", db, want2, N, 1e-6, 1e-6);
    for (i = 0; i < N; i++) out[i] = 3.0f;
    it_cpu_axpy(out, 2.0f, a, N);
    for (i = 0; i < N; i++) want[i] = 3.0 + 2.0 * a[i];
    check_all("axpy", out, want, N, 1e-6, 1e-7);

    /* activations' backward accumulate: start from 1 */
    {
        double sg;
        for (i = 0; i < N; i++) da[i] = 1.0f;
        it_cpu_silu_backward(da, dout, a, N);
        for (i = 0; i < N; i++) {
            sg = 1.0 / (1.0 + exp(-(double)a[i]));
            want[i] = 1.0 + dout[i] * sg * (1.0 + a[i] * (1.0 - sg));
        }
        check_all("silu_backward accumulates", da, want, N, 1e-5, 1e-6);
        it_cpu_gelu_forward(out, a, N);
        for (i = 0; i < N; i++)
            want[i] = 0.5 * a[i] * (1.0 + tanh(0.7978845608028654 * (a[i] + 0.044715 * (double)a[i] * a[i] * a[i])));
        check_all("gelu (tanh)", out, want, N, 1e-5, 1e-6);
        it_cpu_swiglu_forward(out, a, b, N);
        for (i = 0; i < N; i++) want[i] = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
        check_all("swiglu", out, want, N, 1e-5, 1e-6);
    }
    group_end("elementwise kernels, backward +=");
}

/* ---- embedding ---- */
static void test_embedding(void) {
    float table[5 * 3], out[4 * 3], dtable[5 * 3], dout[4 * 3];
    int32_t ids[4] = {4, 0, 4, 2}, bad[4] = {1, 7, 0, 0}, neg[4] = {1, 2, -1, 0};
    double want[15];
    int i, c;
    long r;
    group_begin();
    it_test_fill(table, 15, 1.0f);
    it_test_fill(dout, 12, 1.0f);
    r = it_cpu_embedding_forward(out, ids, table, 4, 3, 5);
    CHECK(r == -1, "embedding_forward: all ids valid, returned %ld", r);
    for (i = 0; i < 4; i++)
        for (c = 0; c < 3; c++) want[i * 3 + c] = table[ids[i] * 3 + c];
    check_all("embedding_forward rows", out, want, 12, 0, 0);
    for (i = 0; i < 12; i++) out[i] = -9.0f;
    r = it_cpu_embedding_forward(out, bad, table, 4, 3, 5);
    CHECK(r == 1, "embedding_forward: id 7 of 5 at position 1, returned %ld", r);
    CHECK(out[3] == -9.0f && out[11] == -9.0f, "embedding_forward wrote past the bad id");
    r = it_cpu_embedding_forward(out, neg, table, 4, 3, 5);
    CHECK(r == 2, "embedding_forward: id -1 at position 2, returned %ld", r);
    for (i = 0; i < 15; i++) dtable[i] = 0.5f;
    it_cpu_embedding_backward(dtable, dout, ids, 4, 3);
    for (i = 0; i < 15; i++) want[i] = 0.5;
    for (i = 0; i < 4; i++)
        for (c = 0; c < 3; c++) want[ids[i] * 3 + c] += dout[i * 3 + c];
    check_all("embedding_backward scatter-add (repeated ids, +=)", dtable, want, 15, 1e-6, 1e-7);
    group_end("embedding kernels");
}

/* ---- norms ---- */
static void test_norms(void) {
    enum { N = 3, C = 17 };
    float x[N * C], w[C], b[C], out[N * C], rstd[N], mean[N];
    double want[N * C], wr[N];
    int n, c;
    group_begin();
    it_test_fill(x, N * C, 2.0f);
    it_test_fill(w, C, 1.0f);
    it_test_fill(b, C, 1.0f);
    it_cpu_rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    for (n = 0; n < N; n++) {
        double ss = 0.0;
        for (c = 0; c < C; c++) ss += (double)x[n * C + c] * x[n * C + c];
        wr[n] = 1.0 / sqrt(ss / C + (double)1e-5f);
        for (c = 0; c < C; c++) want[n * C + c] = x[n * C + c] * wr[n] * w[c];
    }
    check_all("rmsnorm_forward out", out, want, N * C, 1e-5, 1e-6);
    check_all("rmsnorm_forward saved rstd", rstd, wr, N, 1e-5, 0);
    it_cpu_layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
    for (n = 0; n < N; n++) {
        double m = 0.0, v = 0.0, r;
        for (c = 0; c < C; c++) m += x[n * C + c];
        m /= C;
        for (c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
        r = 1.0 / sqrt(v / C + (double)1e-5f);
        for (c = 0; c < C; c++) want[n * C + c] = (x[n * C + c] - m) * r * w[c] + b[c];
        wr[n] = m;
    }
    check_all("layernorm_forward out", out, want, N * C, 1e-5, 1e-6);
    check_all("layernorm_forward saved mean", mean, wr, N, 1e-5, 1e-6);
    group_end("norm kernels");
}

/* ---- rope: in place, and backward is the inverse rotation ---- */
static void test_rope(void) {
    enum { B = 2, T = 3, H = 2, D = 6, NE = B * T * H * D };
    float x[NE], y[NE], z[NE], back[NE];
    double want[NE];
    int i;
    group_begin();
    it_test_fill(x, NE, 1.0f);
    it_cpu_rope_forward(y, x, B, T, H, D, 10000.0f, NULL, 5);
    memcpy(z, x, sizeof z);
    it_cpu_rope_forward(z, z, B, T, H, D, 10000.0f, NULL, 5);
    CHECK(memcmp(y, z, sizeof y) == 0, "rope_forward in place differs from out of place");
    for (i = 0; i < NE; i++) back[i] = 0.0f;
    it_cpu_rope_backward(back, y, B, T, H, D, 10000.0f, NULL, 5);
    for (i = 0; i < NE; i++) want[i] = x[i];
    check_all("rope_backward(rope_forward(x)) == x", back, want, NE, 1e-5, 1e-6);
    /* pos_offset p with T rows equals offset 0 on a sequence shifted by p: row t=0 at offset 2 ==
       row t=2 at offset 0 */
    {
        float x1[1 * 3 * 1 * 4], y1[12], y2[4];
        it_test_fill(x1, 12, 1.0f);
        it_cpu_rope_forward(y1, x1, 1, 3, 1, 4, 100.0f, NULL, 0);
        it_cpu_rope_forward(y2, x1 + 8, 1, 1, 1, 4, 100.0f, NULL, 2);
        for (i = 0; i < 4; i++) want[i] = y1[8 + i];
        check_all("rope pos_offset shifts positions", y2, want, 4, 1e-6, 1e-7);
    }
    group_end("rope kernels");
}

/* ---- softmax, attention ---- */
static void test_softmax_attention(void) {
    enum { B = 1, T = 6, HQ = 4, HKV = 2, D = 5, NQ = B * T * HQ * D, NK = B * T * HKV * D };
    float q[NQ], k[NK], v[NK], out[NQ], lse[B * HQ * T], x[3 * 7], sm[3 * 7];
    double want[NQ], wl[B * HQ * T];
    int t, s, h, d, r;
    group_begin();
    it_test_fill(x, 21, 5.0f);
    it_cpu_softmax_forward(sm, x, 3, 7);
    for (r = 0; r < 3; r++) {
        double m = -1e300, z = 0.0;
        for (s = 0; s < 7; s++) m = x[r * 7 + s] > m ? x[r * 7 + s] : m;
        for (s = 0; s < 7; s++) z += exp(x[r * 7 + s] - m);
        for (s = 0; s < 7; s++) want[r * 7 + s] = exp(x[r * 7 + s] - m) / z;
    }
    check_all("softmax_forward", sm, want, 21, 1e-5, 1e-7);
    it_test_fill(q, NQ, 1.5f);
    it_test_fill(k, NK, 1.5f);
    it_test_fill(v, NK, 1.0f);
    it_cpu_attention_forward(out, lse, q, k, v, B, T, HQ, HKV, D, 0);
    for (h = 0; h < HQ; h++)
        for (t = 0; t < T; t++) {
            double sc[T], m = -1e300, z = 0.0;
            int kh = h / (HQ / HKV);
            for (s = 0; s <= t; s++) {
                double dot = 0.0;
                for (d = 0; d < D; d++) dot += (double)q[(t * HQ + h) * D + d] * k[(s * HKV + kh) * D + d];
                sc[s] = dot / sqrt((double)D);
                m = sc[s] > m ? sc[s] : m;
            }
            for (s = 0; s <= t; s++) z += exp(sc[s] - m);
            wl[h * T + t] = m + log(z);
            for (d = 0; d < D; d++) {
                double acc = 0.0;
                for (s = 0; s <= t; s++) acc += exp(sc[s] - m) / z * v[(s * HKV + kh) * D + d];
                want[(t * HQ + h) * D + d] = acc;
            }
        }
    check_all("attention_forward out (GQA 2)", out, want, NQ, 1e-5, 1e-6);
    check_all("attention_forward saved lse [B, Hq, T]", lse, wl, B * HQ * T, 1e-5, 1e-6);
    group_end("softmax, attention kernels");
}

/* ---- cross-entropy and the fused linear + cross-entropy ---- */
static void test_cross_entropy(void) {
    enum { N = 5, C = 4, V = 11 };
    float x[N * C], w[V * C], logits[N * V], losses[N], lse[N], l2[N], lse2[N], scratch[N * V];
    float dx[N * C], dw[V * C], dlogits[N * V], dx2[N * C], dw2[V * C];
    int32_t targets[N] = {3, -100, 10, 0, 7}, bad[N] = {3, 1, 11, 0, 2};
    double want[N * V];
    int n, j, c, chunk;
    long r;
    char what[80];
    group_begin();
    it_test_fill(x, N * C, 1.0f);
    it_test_fill(w, V * C, 1.0f);
    it_cpu_matmul(logits, x, w, N, V, C, 0, 1, 0);
    r = it_cpu_cross_entropy_forward(losses, lse, logits, targets, N, V, -100);
    CHECK(r == -1, "cross_entropy_forward returned %ld for valid targets", r);
    for (n = 0; n < N; n++) {
        double m = -1e300, z = 0.0;
        if (targets[n] == -100) {
            want[n] = 0.0;
            continue;
        }
        for (j = 0; j < V; j++) m = logits[n * V + j] > m ? logits[n * V + j] : m;
        for (j = 0; j < V; j++) z += exp(logits[n * V + j] - m);
        want[n] = m + log(z) - logits[n * V + targets[n]];
    }
    check_all("cross_entropy_forward losses (ignored row 0)", losses, want, N, 1e-5, 1e-6);
    r = it_cpu_cross_entropy_forward(losses, lse, logits, bad, N, V, -100);
    CHECK(r == 2, "cross_entropy_forward: target 11 of 11 at row 2, returned %ld", r);
    r = it_cpu_linear_cross_entropy_forward(l2, lse2, scratch, x, w, bad, N, C, V, 4, -100);
    CHECK(r == 2, "linear_cross_entropy_forward: bad target at row 2, returned %ld", r);
    it_cpu_cross_entropy_forward(losses, lse, logits, targets, N, V, -100);
    /* backward: dlogits += scale (softmax - onehot), ignored rows untouched */
    for (j = 0; j < N * V; j++) dlogits[j] = 0.25f;
    it_cpu_cross_entropy_backward(dlogits, logits, lse, targets, 0.5f, N, V, -100);
    for (n = 0; n < N; n++)
        for (j = 0; j < V; j++) {
            double p = exp(logits[n * V + j] - (double)lse[n]);
            want[n * V + j] = 0.25 + (targets[n] == -100 ? 0.0 : 0.5 * (p - (j == targets[n] ? 1.0 : 0.0)));
        }
    check_all("cross_entropy_backward (+=, ignored row untouched)", dlogits, want, N * V, 1e-5, 1e-6);
    /* fused == explicit logits, for chunks that do and do not divide V and chunk = V */
    for (j = 0; j < N * V; j++) dlogits[j] = 0.0f;
    it_cpu_cross_entropy_backward(dlogits, logits, lse, targets, 0.5f, N, V, -100);
    for (c = 0; c < N * C; c++) dx2[c] = 0.0f;
    for (c = 0; c < V * C; c++) dw2[c] = 0.0f;
    it_cpu_matmul(dx2, dlogits, w, N, C, V, 0, 0, 1);
    it_cpu_matmul(dw2, dlogits, x, V, C, N, 1, 0, 1);
    for (chunk = 1; chunk <= V; chunk++) {
        double wl[N], wlse[N], wdx[N * C], wdw[V * C];
        for (n = 0; n < N; n++) {
            wl[n] = losses[n];
            wlse[n] = lse[n];
        }
        r = it_cpu_linear_cross_entropy_forward(l2, lse2, scratch, x, w, targets, N, C, V, chunk, -100);
        snprintf(what, sizeof what, "linear_cross_entropy_forward chunk %d losses", chunk);
        check_all(what, l2, wl, N, 1e-5, 1e-6);
        snprintf(what, sizeof what, "linear_cross_entropy_forward chunk %d lse", chunk);
        for (n = 0; n < N; n++)
            if (targets[n] == -100) wlse[n] = lse2[n]; /* lse of an ignored row is unspecified */
        check_all(what, lse2, wlse, N, 1e-5, 1e-6);
        for (c = 0; c < N * C; c++) {
            dx[c] = 0.0f;
            wdx[c] = dx2[c];
        }
        for (c = 0; c < V * C; c++) {
            dw[c] = 0.0f;
            wdw[c] = dw2[c];
        }
        it_cpu_linear_cross_entropy_backward(dx, dw, scratch, x, w, targets, lse2, 0.5f, N, C, V, chunk, -100);
        snprintf(what, sizeof what, "linear_cross_entropy_backward chunk %d dx", chunk);
        check_all(what, dx, wdx, N * C, 1e-5, 1e-6);
        snprintf(what, sizeof what, "linear_cross_entropy_backward chunk %d dw", chunk);
        check_all(what, dw, wdw, V * C, 1e-5, 1e-6);
    }
    group_end("cross_entropy, linear_cross_entropy kernels");
}

/* ---- sum_squares, argmax ---- */
static void test_reductions(void) {
    float x[7] = {1.0f, -3.0f, 3.0f, 0.5f, 3.0f, -4.0f, 2.0f}, y[1] = {-1.0f};
    group_begin();
    CHECK(it_cpu_sum_squares(x, 7) == 1.0 + 9.0 + 9.0 + 0.25 + 9.0 + 16.0 + 4.0, "sum_squares = %g",
          it_cpu_sum_squares(x, 7));
    CHECK(it_cpu_argmax(x, 7) == 2, "argmax: first of the tied maxima, got %d", it_cpu_argmax(x, 7));
    CHECK(it_cpu_argmax(y, 1) == 0, "argmax of one element");
    { /* the blocked scan against the plain one: ties across blocks and lanes, NaNs, -inf, a NaN first */
        static const int lens[] = {2, 15, 16, 17, 31, 33, 100, 1000};
        static float z[1000];
        int li, trial, i;
        for (li = 0; li < (int)(sizeof lens / sizeof lens[0]); li++)
            for (trial = 0; trial < 6; trial++) {
                int n = lens[li], want = 0, got;
                for (i = 0; i < n; i++) z[i] = (float)(int)(it_test_signed() * 8.0f); /* few distinct values: many ties */
                if (trial == 1) z[n / 2] = 100.0f, z[n - 1] = 100.0f;
                if (trial == 2)
                    for (i = 0; i < n; i += 3) z[i] = NAN;
                if (trial == 3) z[0] = NAN;
                if (trial == 4)
                    for (i = 0; i < n; i++) z[i] = -INFINITY;
                if (trial == 5) z[n - 1] = 1e30f;
                for (i = 1; i < n; i++)
                    if (z[i] > z[want]) want = i;
                got = it_cpu_argmax(z, n);
                CHECK(got == want, "argmax n %d trial %d: %d, the plain scan says %d", n, trial, got, want);
            }
    }
    group_end("sum_squares, argmax");
}

/* ---- sampling ---- */
static void softmax_t(const float *logits, int V, double temperature, double *p) {
    double m = -1e300, z = 0.0;
    int i;
    for (i = 0; i < V; i++) m = logits[i] > m ? logits[i] : m;
    for (i = 0; i < V; i++) z += (p[i] = exp((logits[i] - m) / temperature));
    for (i = 0; i < V; i++) p[i] /= z;
}
/* frequencies of it_cpu_sample over n stratified coins (i + 0.5) / n against `want` */
static void check_frequencies(const char *what, const float *logits, int V, float temperature, int top_k, float top_p,
                              const double *want, int n) {
    float probs[16];
    int index[16], count[16] = {0}, i, bad = -1;
    double tol = 2.0 / n + 1e-4;
    for (i = 0; i < n; i++) {
        int s = it_cpu_sample(logits, V, temperature, top_k, top_p, (float)((i + 0.5) / n), probs, index);
        if (s >= 0 && s < V) count[s]++;
    }
    for (i = 0; i < V; i++)
        if (fabs((double)count[i] / n - want[i]) > tol) bad = i;
    CHECK(bad < 0, "%s: token %d sampled with frequency %g, want %g", what, bad, bad < 0 ? 0.0 : (double)count[bad] / n,
          bad < 0 ? 0.0 : want[bad]);
}
static void test_sample(void) {
    enum { V = 8 };
    float logits[V] = {0.5f, 2.0f, -1.0f, 1.5f, 2.0f, 0.0f, -3.0f, 1.0f}, probs[V];
    int index[V], i, ok, am = 1; /* argmax: first of the tied 2.0 */
    double p[V], want[V], mass;
    group_begin();
    CHECK(it_cpu_sample(logits, V, 0.0f, 0, 1.0f, 0.9f, probs, index) == am, "temperature 0 is greedy");
    CHECK(it_cpu_sample(logits, V, -1.0f, 5, 0.5f, 0.1f, probs, index) == am, "temperature < 0 is greedy");
    ok = 1;
    for (i = 0; i < 50; i++) ok &= it_cpu_sample(logits, V, 1.3f, 1, 1.0f, (float)i / 50.0f, probs, index) == am;
    CHECK(ok, "top_k = 1 is the argmax (first of ties) for every coin");
    ok = 1;
    for (i = 0; i < 50; i++) ok &= it_cpu_sample(logits, V, 0.7f, 0, 1e-6f, (float)i / 50.0f, probs, index) == am;
    CHECK(ok, "top_p tiny is the argmax for every coin");
    ok = 1;
    for (i = 0; i < 50; i++) {
        int s = it_cpu_sample(logits, V, 2.0f, 0, 1.0f, 0.999999f * (float)i / 49.0f, probs, index);
        ok &= s >= 0 && s < V;
    }
    CHECK(ok, "sample stays in [0, V) for coins in [0, 1)");
    /* full distribution */
    softmax_t(logits, V, 0.8, p);
    check_frequencies("temperature 0.8", logits, V, 0.8f, 0, 1.0f, p, 20000);
    /* top-k = 3: the three largest (1, 4 tied at 2.0, then 3) renormalised */
    mass = p[1] + p[4] + p[3];
    for (i = 0; i < V; i++) want[i] = (i == 1 || i == 4 || i == 3) ? p[i] / mass : 0.0;
    check_frequencies("top_k 3", logits, V, 0.8f, 3, 1.0f, want, 20000);
    /* top-p 0.6: smallest prefix of the sorted probabilities with mass >= 0.6 */
    {
        int order[V], j, keep = 0;
        double cum = 0.0;
        for (i = 0; i < V; i++) order[i] = i;
        for (i = 0; i < V; i++)
            for (j = i + 1; j < V; j++)
                if (p[order[j]] > p[order[i]]) {
                    int tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
        while (keep < V && cum < 0.6) cum += p[order[keep++]];
        for (i = 0; i < V; i++) want[i] = 0.0;
        for (i = 0; i < keep; i++) want[order[i]] = p[order[i]] / cum;
        check_frequencies("top_p 0.6", logits, V, 0.8f, 0, 0.6f, want, 20000);
    }
    /* pseudo-random coins: loose agreement with the softmax */
    {
        int count[V] = {0}, bad = -1, n = 100000;
        uint64_t save = it_test_rng_state;
        softmax_t(logits, V, 1.0, p);
        for (i = 0; i < n; i++) count[it_cpu_sample(logits, V, 1.0f, 0, 1.0f, (it_test_signed() + 1.0f) * 0.5f * 0.9999999f, probs, index)]++;
        for (i = 0; i < V; i++)
            if (fabs((double)count[i] / n - p[i]) > 0.01) bad = i;
        CHECK(bad < 0, "random coins: token %d frequency off", bad);
        it_test_rng_state = save;
    }
    /* min-p 0.3 after top-k 5: tokens below 0.3 x the top probability (among the five) dropped */
    {
        float counts_probs[V];
        int count[V] = {0}, bad = -1, n = 20000, j;
        double top, kept = 0.0;
        softmax_t(logits, V, 0.8, p);
        top = p[1];
        for (i = 0; i < V; i++) want[i] = 0.0;
        for (i = 0; i < V; i++) { /* the top five are 1, 4, 3, 7, 0 */
            int in_top5 = i == 1 || i == 4 || i == 3 || i == 7 || i == 0;
            if (in_top5 && p[i] >= 0.3 * top) kept += (want[i] = p[i]);
        }
        for (i = 0; i < V; i++) want[i] /= kept;
        for (i = 0; i < n; i++) {
            j = it_cpu_sample_min_p(logits, V, 0.8f, 5, 1.0f, 0.3f, (float)((i + 0.5) / n), counts_probs, index);
            if (j >= 0 && j < V) count[j]++;
        }
        for (i = 0; i < V; i++)
            if (fabs((double)count[i] / n - want[i]) > 2.0 / n + 1e-4) bad = i;
        CHECK(bad < 0 && want[7] == 0.0 && want[3] > 0.0, "min_p 0.3: token %d frequency off", bad);
        ok = 1;
        for (i = 0; i < 50; i++) ok &= it_cpu_sample_min_p(logits, V, 5.0f, 0, 1.0f, 1.0f, (float)i / 50.0f, probs, index) == am ||
                                     it_cpu_sample_min_p(logits, V, 5.0f, 0, 1.0f, 1.0f, (float)i / 50.0f, probs, index) == 4;
        CHECK(ok, "min_p 1 keeps only the tied most likely tokens");
    }
    /* repetition penalty: transformers' rule, each repeated token once */
    {
        float x[V];
        unsigned char seen[V] = {0};
        int32_t ids[6] = {1, 2, 1, 1, 99, -4};
        memcpy(x, logits, sizeof x);
        it_cpu_repetition_penalty(x, V, ids, 6, 2.0f, seen);
        CHECK(x[1] == 1.0f && x[2] == -2.0f && x[0] == logits[0] && x[4] == logits[4], "repetition penalty: %g %g", (double)x[1],
              (double)x[2]);
        ok = 1;
        for (i = 0; i < V; i++) ok &= seen[i] == 0;
        CHECK(ok, "repetition penalty leaves its scratch zero");
    }
    group_end("it_cpu_sample");
}

/* ---- optimizers on a 3x3 parameter, several steps, each step against the equations in double
   starting from the kernel's own float state (so rounding does not compound) ---- */
static void test_optimizers(void) {
    enum { N = 9 };
    float p[N], m[N], v[N], g[N];
    double wp[N], wm[N], wv[N];
    int step, i;
    char what[64];
    group_begin();
    /* Lion */
    it_test_fill(p, N, 1.0f);
    for (i = 0; i < N; i++) m[i] = 0.0f;
    for (step = 1; step <= 3; step++) {
        float lr = 0.01f, b1 = 0.9f, b2 = 0.99f, wd = 0.1f, gs = 0.5f;
        it_test_fill(g, N, 1.0f);
        for (i = 0; i < N; i++) {
            double gi = (double)g[i] * gs, c = (double)b1 * m[i] + (1.0 - (double)b1) * gi;
            wp[i] = p[i] - (double)lr * ((c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0) + (double)wd * p[i]);
            wm[i] = (double)b2 * m[i] + (1.0 - (double)b2) * gi;
        }
        it_cpu_lion_update(p, m, g, N, lr, b1, b2, wd, gs);
        snprintf(what, sizeof what, "lion step %d p", step);
        check_all(what, p, wp, N, 1e-6, 1e-6);
        snprintf(what, sizeof what, "lion step %d m", step);
        check_all(what, m, wm, N, 1e-6, 1e-6);
    }
    /* AdamW */
    it_test_fill(p, N, 1.0f);
    for (i = 0; i < N; i++) m[i] = v[i] = 0.0f;
    for (step = 1; step <= 4; step++) {
        float lr = 0.001f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 2.0f;
        it_test_fill(g, N, 1.0f);
        for (i = 0; i < N; i++) {
            double gi = (double)g[i] * gs;
            wm[i] = (double)b1 * m[i] + (1.0 - (double)b1) * gi;
            wv[i] = (double)b2 * v[i] + (1.0 - (double)b2) * gi * gi;
            wp[i] = p[i] - (double)lr * ((wm[i] / (1.0 - pow(b1, step))) / (sqrt(wv[i] / (1.0 - pow(b2, step))) + eps) +
                                         (double)wd * p[i]);
        }
        it_cpu_adamw_update(p, m, v, g, N, lr, b1, b2, eps, wd, step, gs);
        snprintf(what, sizeof what, "adamw step %d p", step);
        check_all(what, p, wp, N, 1e-6, 1e-6);
        snprintf(what, sizeof what, "adamw step %d m", step);
        check_all(what, m, wm, N, 1e-6, 1e-6);
        snprintf(what, sizeof what, "adamw step %d v", step);
        check_all(what, v, wv, N, 1e-6, 1e-6);
    }
    /* SGD with momentum, PyTorch semantics */
    it_test_fill(p, N, 1.0f);
    for (i = 0; i < N; i++) m[i] = 0.0f;
    for (step = 1; step <= 3; step++) {
        float lr = 0.1f, mom = 0.9f, wd = 0.01f, gs = 0.25f;
        it_test_fill(g, N, 1.0f);
        for (i = 0; i < N; i++) {
            double gi = (double)g[i] * gs + (double)wd * p[i];
            wm[i] = (double)mom * m[i] + gi;
            wp[i] = p[i] - (double)lr * wm[i];
        }
        it_cpu_sgd_update(p, m, g, N, lr, mom, wd, gs);
        snprintf(what, sizeof what, "sgd step %d p", step);
        check_all(what, p, wp, N, 1e-6, 1e-6);
        snprintf(what, sizeof what, "sgd step %d buf", step);
        check_all(what, m, wm, N, 1e-6, 1e-6);
    }
    group_end("optimizer updates (Lion, AdamW, SGD)");
}

/* ---- bf16 ---- */
static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void test_bf16(void) {
    static const struct { uint32_t in; uint16_t out; const char *why; } cases[] = {
        {0x3F800000u, 0x3F80, "1.0 exact"},
        {0x3F808000u, 0x3F80, "tie, even below: down"},
        {0x3F818000u, 0x3F82, "tie, odd below: up to even"},
        {0x3F808001u, 0x3F81, "just above half: up"},
        {0x3F807FFFu, 0x3F80, "just below half: down"},
        {0xBF818000u, 0xBF82, "negative tie: magnitude to even"},
        {0x7F800000u, 0x7F80, "+inf"},
        {0xFF800000u, 0xFF80, "-inf"},
        {0x7F7FFFFFu, 0x7F80, "FLT_MAX rounds to +inf"},
        {0x00000000u, 0x0000, "+0"},
        {0x80000000u, 0x8000, "-0"},
        {0x00008000u, 0x0000, "denormal tie to even (zero)"},
        {0x00018000u, 0x0002, "denormal tie to even (up)"},
        {0x7F7F8000u, 0x7F80, "tie at the top: rounds to inf (even)"},
    };
    static const uint32_t nans[] = {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu, 0x7F80FFFFu, 0xFFC00001u};
    size_t i;
    uint32_t h;
    int ok = 1, bad = -1;
    group_begin();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = it_f32_to_bf16(from_bits(cases[i].in));
        CHECK(got == cases[i].out, "bf16(%08x) = %04x, want %04x (%s)", (unsigned)cases[i].in, got, cases[i].out,
              cases[i].why);
    }
    for (i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t got = it_f32_to_bf16(from_bits(nans[i]));
        float back = it_bf16_to_f32(got);
        CHECK(isnan(back) && (got & 0x8000) == ((nans[i] >> 16) & 0x8000), "NaN %08x -> %04x is not a NaN of the same sign",
              (unsigned)nans[i], got);
    }
    /* every bf16 value converts to f32 exactly and back unchanged (NaNs stay NaN) */
    for (h = 0; h < 65536; h++) {
        float f = it_bf16_to_f32((uint16_t)h);
        uint32_t u;
        memcpy(&u, &f, 4);
        if (u != h << 16) ok = 0;
        if (isnan(f) ? !isnan(it_bf16_to_f32(it_f32_to_bf16(f))) : it_f32_to_bf16(f) != h) bad = (int)h;
    }
    CHECK(ok, "bf16_to_f32 is not a plain shift");
    CHECK(bad < 0, "bf16 %04x does not round-trip", (unsigned)bad);
    /* round-to-nearest: the bf16 result is the nearest representable value for random floats */
    ok = 1;
    for (i = 0; i < 20000; i++) {
        float f = from_bits((uint32_t)it_test_rng_u64() & 0xBFFFFFFFu), r; /* finite, random exponent below 2^64 */
        uint16_t b = it_f32_to_bf16(f);
        double lo, hi;
        uint32_t u;
        memcpy(&u, &f, 4);
        lo = it_bf16_to_f32((uint16_t)(u >> 16));
        hi = it_bf16_to_f32((uint16_t)((u >> 16) + 1));
        r = it_bf16_to_f32(b);
        if (fabs((double)r - f) > fabs(lo - f) || fabs((double)r - f) > fabs(hi - f)) ok = 0;
    }
    CHECK(ok, "bf16 conversion not the nearest value");
    {
        float in[5] = {1.0f, -2.5f, 3.14159f, 1e-30f, 65504.0f}, out[5];
        uint16_t b[5];
        int same = 1;
        it_f32_to_bf16_array(b, in, 5);
        it_bf16_to_f32_array(out, b, 5);
        for (i = 0; i < 5; i++) same &= b[i] == it_f32_to_bf16(in[i]) && out[i] == it_bf16_to_f32(b[i]);
        CHECK(same, "array conversions differ from the scalar ones");
    }
    group_end("bf16 conversion");
}

/* ---- rng: determinism, the documented algorithm, ranges ---- */
static uint64_t ref_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static void test_rng(void) {
    it_rng a, b;
    uint64_t s[4], seed = 42;
    int i, same = 1, ok = 1;
    static const uint32_t ns[] = {1, 2, 3, 7, 1000, 2147483649u, 4294967295u};
    size_t j;
    group_begin();
    it_rng_seed(&a, 42);
    it_rng_seed(&b, 42);
    for (i = 0; i < 1000; i++) same &= it_rng_u64(&a) == it_rng_u64(&b);
    CHECK(same, "same seed, different sequence");
    it_rng_seed(&a, 42);
    it_rng_seed(&b, 43);
    CHECK(it_rng_u64(&a) != it_rng_u64(&b), "seeds 42 and 43 start the same");
    /* SplitMix64-seeded xoshiro256** as documented */
    for (i = 0; i < 4; i++) s[i] = ref_splitmix(&seed);
    it_rng_seed(&a, 42);
    same = 1;
    for (i = 0; i < 100; i++) {
        uint64_t want = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        same &= it_rng_u64(&a) == want;
    }
    CHECK(same, "it_rng_u64 is not SplitMix64-seeded xoshiro256**");
    for (j = 0; j < sizeof ns / sizeof ns[0]; j++) {
        uint32_t mx = 0;
        it_rng_seed(&a, 7 + j);
        ok = 1;
        for (i = 0; i < 20000; i++) {
            uint32_t r = it_rng_below(&a, ns[j]);
            ok &= r < ns[j];
            mx = r > mx ? r : mx;
        }
        CHECK(ok, "it_rng_below(%u) out of range", (unsigned)ns[j]);
        if (ns[j] <= 1000) CHECK(mx == ns[j] - 1, "it_rng_below(%u) never reached %u", (unsigned)ns[j], (unsigned)ns[j] - 1);
        if (ns[j] > 1000) CHECK(mx > ns[j] / 2, "it_rng_below(%u) stays low (max %u)", (unsigned)ns[j], (unsigned)mx);
    }
    {
        int count[7] = {0}, n = 70000, bad = -1;
        it_rng_seed(&a, 99);
        for (i = 0; i < n; i++) count[it_rng_below(&a, 7)]++;
        for (i = 0; i < 7; i++)
            if (abs(count[i] - n / 7) > 400) bad = i; /* ~4.4 sigma */
        CHECK(bad < 0, "it_rng_below(7) not uniform: bucket %d has %d", bad, bad < 0 ? 0 : count[bad]);
    }
    {
        double sum = 0.0, sq = 0.0;
        int n = 100000;
        float umin = 1.0f, umax = 0.0f;
        it_rng_seed(&a, 5);
        for (i = 0; i < n; i++) {
            float u = it_rng_uniform(&a);
            umin = u < umin ? u : umin;
            umax = u > umax ? u : umax;
        }
        CHECK(umin >= 0.0f && umax < 1.0f && umax > 0.999f && umin < 0.001f, "uniform range [%g, %g]", (double)umin,
              (double)umax);
        for (i = 0; i < n; i++) {
            double z = it_rng_normal(&a);
            sum += z;
            sq += z * z;
        }
        CHECK(fabs(sum / n) < 0.02 && fabs(sq / n - 1.0) < 0.03, "normal mean %g var %g", sum / n, sq / n);
    }
    group_end("rng");
}

int main(void) {
    it_test_rng_state = 0xC0FFEEull; /* this program's stream, as before the generator moved to it_test.h */
    test_matmul();
    test_elementwise();
    test_embedding();
    test_norms();
    test_rope();
    test_softmax_attention();
    test_cross_entropy();
    test_reductions();
    test_sample();
    test_optimizers();
    test_bf16();
    test_rng();
    return it_test_finish();
}
