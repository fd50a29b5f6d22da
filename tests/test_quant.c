/* test_quant.c - weight storage for inference (>>quant): IEEE half precision exhaustively, Q8_0 and
   Q4_0 blocks against an independent transcription of ggml's reference quantisers (byte for byte)
   with their error bounds, the documented nibble layout on a hand-made block, and the quantised
   matrix products on odd shapes with every kernel set this CPU runs against a double-precision
   product of the dequantised weights (within the bound the int8 activations allow); the decoders
   (contiguous and batch) on 2 and 3 threads bit-equal to one thread, f32, Q8_0 and Q4_0. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "it_test.h"

/* ---- half precision: every code back and forth, and the rounding at every midpoint ---- */
static void test_f16(void) {
    int h, bad_round = 0, bad_exact = 0;
    for (h = 0; h < 0x10000; h++) {
        float f = it_f16_to_f32((uint16_t)h);
        int e = (h >> 10) & 31;
        if (e == 31 && (h & 0x3FF)) { /* NaN: stays NaN, quiet */
            bad_exact += !(f != f) || (it_f32_to_f16(f) & 0x7E00) != 0x7E00;
            continue;
        }
        bad_exact += it_f32_to_f16(f) != (uint16_t)h;
        if (e < 30 || (e == 30 && (h & 0x3FF) != 0x3FF)) { /* a finite successor of the same sign */
            double lo = f, hi = it_f16_to_f32((uint16_t)(h + 1)), mid = (lo + hi) / 2; /* exact in a float */
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            bad_round += it_f32_to_f16((float)mid) != even;
            bad_round += it_f32_to_f16(nextafterf((float)mid, (float)hi)) != (uint16_t)(h + 1);
            bad_round += it_f32_to_f16(nextafterf((float)mid, (float)lo)) != (uint16_t)h;
        }
    }
    CHECK(bad_exact == 0, "f16 -> f32 -> f16 changed %d codes", bad_exact);
    CHECK(bad_round == 0, "f32 -> f16 rounded %d midpoints or neighbours wrong", bad_round);
    CHECK(it_f32_to_f16(65519.0f) == 0x7BFF && it_f32_to_f16(65520.0f) == 0x7C00 && it_f32_to_f16(-1e9f) == 0xFC00,
          "f16 overflow: 65519 -> %04x, 65520 -> %04x", it_f32_to_f16(65519.0f), it_f32_to_f16(65520.0f));
    CHECK(it_f32_to_f16(1e-9f) == 0 && it_f32_to_f16(-3e-8f) == 0x8001, "f16 underflow: %04x %04x",
          it_f32_to_f16(1e-9f), it_f32_to_f16(-3e-8f));
}

/* ggml's quantize_row_q8_0_ref / q4_0_ref written out again from its description (ggml-quants.c),
   independently of the library's loops */
static void ref_q8_0(unsigned char *out, const float *x, int nb) {
    int b, j;
    for (b = 0; b < nb; b++, x += 32, out += 34) {
        float amax = 0, d, id;
        uint16_t dh;
        for (j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        d = amax / 127;
        id = d ? 1.0f / d : 0.0f;
        dh = it_f32_to_f16(d);
        out[0] = (unsigned char)(dh & 255), out[1] = (unsigned char)(dh >> 8); /* little-endian */
        for (j = 0; j < 32; j++) out[2 + j] = (unsigned char)(int8_t)roundf(x[j] * id);
    }
}
static void ref_q4_0(unsigned char *out, const float *x, int nb) {
    int b, j;
    for (b = 0; b < nb; b++, x += 32, out += 18) {
        float amax = 0, max = 0, d, id;
        uint16_t dh;
        for (j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
        d = max / -8;
        id = d ? 1.0f / d : 0.0f;
        dh = it_f32_to_f16(d);
        out[0] = (unsigned char)(dh & 255), out[1] = (unsigned char)(dh >> 8);
        for (j = 0; j < 16; j++) {
            int8_t a = (int8_t)(x[j] * id + 8.5f), c = (int8_t)(x[16 + j] * id + 8.5f);
            out[2 + j] = (unsigned char)((a < 15 ? a : 15) | (c < 15 ? c : 15) << 4);
        }
    }
}

static void test_blocks(void) {
    enum { NB = 67, N = NB * 32 };
    static float x[N], y[N];
    static unsigned char got[NB * 34], want[NB * 34];
    int b, j, t, bad;
    CHECK(sizeof(it_block_q8_0) == 34 && sizeof(it_block_q4_0) == 18, "block sizes %zu %zu", sizeof(it_block_q8_0),
          sizeof(it_block_q4_0));
    for (b = 0; b < NB; b++) { /* blocks of every scale, some all zero, some with one spike */
        float scale = b % 7 == 3 ? 0.0f : (float)pow(10.0, (b % 9) - 5);
        for (j = 0; j < 32; j++) x[b * 32 + j] = scale * it_test_signed();
        if (b % 5 == 1) x[b * 32 + b % 32] = 40.0f * scale;
        if (b % 11 == 2) x[b * 32 + 7] = -50.0f * scale;
    }
    for (t = IT_WEIGHT_Q8_0; t <= IT_WEIGHT_Q4_0; t++) {
        size_t bytes = it_weight_bytes((it_weight_type)t, 1, N);
        double worst = 0;
        CHECK(bytes == (size_t)NB * (t == IT_WEIGHT_Q8_0 ? 34 : 18), "%s bytes %zu", it_weight_type_name((it_weight_type)t), bytes);
        CHECK(it_weights_quantize((it_weight_type)t, got, x, N) == IT_OK, "quantize %d", t);
        if (t == IT_WEIGHT_Q8_0) ref_q8_0(want, x, NB);
        else ref_q4_0(want, x, NB);
        CHECK(memcmp(got, want, bytes) == 0, "%s blocks differ from ggml's reference", it_weight_type_name((it_weight_type)t));
        it_weights_dequantize((it_weight_type)t, y, got, N);
        /* |x - w| <= d / 2 (Q8_0) or d (Q4_0: the largest positive values clamp to 7 d when the
           largest magnitude is negative), plus the scale's own fp16 rounding (half a unit: d 2^-11,
           or 2^-25 once d is below fp16's normal range) times the largest |q| */
        for (b = 0; b < NB; b++) {
            float amax = 0;
            for (j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            for (j = 0; j < 32; j++) {
                double d = t == IT_WEIGHT_Q8_0 ? amax / 127.0 : amax / 8.0;
                double ulp = fmax(d / 2048, 1.0 / (1 << 25));
                double bound = (t == IT_WEIGHT_Q8_0 ? 0.5 * d + 127 * ulp : d + 8 * ulp) + 1e-30;
                double e = fabs((double)x[b * 32 + j] - y[b * 32 + j]) / bound;
                worst = e > worst ? e : worst;
            }
        }
        CHECK(worst <= 1.0, "%s dequantised error %.3g of its bound", it_weight_type_name((it_weight_type)t), worst);
    }
    /* the layout itself: weight j in byte j's low nibble, weight j + 16 in its high nibble */
    for (j = 0; j < 32; j++) x[j] = (float)((j % 16) - 8); /* the largest magnitude is -8: d = 1 */
    x[16] = 5.0f;
    it_weights_quantize(IT_WEIGHT_Q4_0, got, x, 32);
    bad = got[0] != 0x00 || got[1] != 0x3C; /* fp16 1.0 = 0x3C00 */
    for (j = 0; j < 16; j++) bad += got[2 + j] != (unsigned char)(j | (j == 0 ? 13 : j) << 4);
    CHECK(bad == 0, "q4_0 nibble layout: %02x %02x %02x %02x", got[0], got[1], got[2], got[3]);
    x[0] = NAN;
    CHECK(it_weights_quantize(IT_WEIGHT_Q8_0, got, x, 32) == IT_ERR_RANGE, "a NaN weight is refused");
    x[0] = INFINITY;
    CHECK(it_weights_quantize(IT_WEIGHT_Q4_0, got, x, 32) == IT_ERR_RANGE, "an infinite weight is refused");
    CHECK(it_weight_bytes(IT_WEIGHT_Q8_0, 2, 33) == 0 && it_weight_bytes(IT_WEIGHT_Q4_0, SIZE_MAX / 4, 64) == 0 &&
              it_weight_bytes(IT_WEIGHT_INVALID, 1, 32) == 0 && it_weight_bytes(IT_WEIGHT_BF16, 3, 5) == 30,
          "it_weight_bytes edge cases");
    CHECK(it_weight_type_from_name("q4_0") == IT_WEIGHT_Q4_0 && it_weight_type_from_name("Q4_0") == IT_WEIGHT_INVALID &&
              it_weight_type_from_name(NULL) == IT_WEIGHT_INVALID && !strcmp(it_weight_type_name(IT_WEIGHT_COUNT), "invalid"),
          "weight type names");
}

/* y = x W^T for odd shapes, every type and kernel set: against the double product of the
   dequantised weights with the f32 activations. The quantised kernels round each activation to
   d_x q (d_x = max |x| / 127 per block), so |error| <= sum_j |w_j| d_x / 2, plus float rounding. */
static void test_matmul(it_context *ctx) {
    static const int shapes[][3] = {{1, 1, 32}, {3, 17, 96}, {5, 67, 160}, {2, 33, 544}, {1, 301, 1536}, {7, 9, 64}};
    int level, s, t, i, r, j;
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        int n = shapes[s][0], rows = shapes[s][1], cols = shapes[s][2];
        float *w = (float *)malloc(sizeof(float) * rows * cols), *wd = (float *)malloc(sizeof(float) * rows * cols);
        float *x = (float *)malloc(sizeof(float) * n * cols), *y = (float *)malloc(sizeof(float) * n * rows);
        float *y_first = (float *)malloc(sizeof(float) * n * rows), *y8 = (float *)malloc(sizeof(float) * n * rows);
        float *y8_256 = (float *)malloc(sizeof(float) * n * rows), *y8_hwpf = (float *)malloc(sizeof(float) * n * rows);
        unsigned char *wq = (unsigned char *)malloc(it_weight_bytes(IT_WEIGHT_F32, rows, cols));
        unsigned char *wi = (unsigned char *)malloc(it_weight_bytes(IT_WEIGHT_F32, rows, cols));
        it_test_fill(w, (size_t)rows * cols, 0.1f);
        it_test_fill(x, (size_t)n * cols, 2.0f);
        for (i = 0; i < n * cols; i += 37) x[i] *= 30.0f; /* outliers: some blocks with a coarse scale */
        for (t = IT_WEIGHT_F32; t <= IT_WEIGHT_Q4_0; t++) {
            it_weight_type type = (it_weight_type)t;
            void *scratch = malloc(it_weights_matmul_scratch(type, n, cols) + 1);
            int blocks = type == IT_WEIGHT_Q8_0 || type == IT_WEIGHT_Q4_0;
            it_weights_quantize(type, wq, w, (size_t)rows * cols);
            it_weights_dequantize(type, wd, wq, (size_t)rows * cols);
            if (blocks) it__weights_interleave(type, wi, wq, rows, cols); /* the CPU decoder's layout */
            for (level = 1; level <= 4; level++) {
                double worst = 0, spread = 0, worst8 = 0;
                it__quant_force_isa = level;
                it_weights_matmul(ctx, y, x, wq, type, n, rows, cols, scratch);
                /* the interleaved groups of 8 rows, from the activations just quantised into scratch */
                if (blocks) {
                    /* the passes with the software prefetches, then without (the hardware prefetcher alone, AMD's
                       choice): the same arithmetic, so the same bits */
                    it__quant_force_prefetch = 1;
                    it__weights_matmul_q(ctx, y8, x, (const it__qact *)scratch, wi, type, n, rows, cols, 1);
                    it__quant_force_prefetch = 2;
                    if (level >= 2) { /* the SIMD levels have both kinds of pass */
                        it__quant_isa without = it__quant_pick_isa();
                        it__quant_force_prefetch = 1;
                        CHECK(it__quant_pick_isa().dot8_q4_0 != without.dot8_q4_0 && it__quant_pick_isa().dot8_q8_0 != without.dot8_q8_0,
                              "%s: forcing the software prefetches off does not change the 8-row passes", without.name);
                        it__quant_force_prefetch = 2;
                    }
                    it__weights_matmul_q(ctx, y8_hwpf, x, (const it__qact *)scratch, wi, type, n, rows, cols, 1);
                    it__quant_force_prefetch = 0;
                    CHECK(memcmp(y8, y8_hwpf, sizeof(float) * n * rows) == 0, "%s [%d x %d] interleaved with %s: the passes "
                          "without software prefetches differ from those with", it_weight_type_name(type), rows, cols,
                          it__quant_pick_isa().name);
                }
                for (i = 0; i < n; i++)
                    for (r = 0; r < rows; r++) {
                        double want = 0, bound = 0, mag = 0;
                        for (j = 0; j < cols; j += 32) {
                            double amax = 0, wsum = 0;
                            int k;
                            for (k = j; k < j + 32; k++) {
                                double wv = wd[(size_t)r * cols + k], xv = x[(size_t)i * cols + k];
                                want += wv * xv;
                                mag += fabs(wv * xv);
                                wsum += fabs(wv);
                                amax = fabs(xv) > amax ? fabs(xv) : amax;
                            }
                            if (type == IT_WEIGHT_Q8_0 || type == IT_WEIGHT_Q4_0) bound += wsum * amax / 127 / 2;
                        }
                        bound = bound * (1 + 1e-5) + 4e-6 * mag + 1e-30;
                        worst = fmax(worst, fabs(y[(size_t)i * rows + r] - want) / bound);
                        if (blocks) worst8 = fmax(worst8, fabs(y8[(size_t)i * rows + r] - want) / bound);
                        if (level == 1) y_first[(size_t)i * rows + r] = y[(size_t)i * rows + r];
                        else spread = fmax(spread, fabs(y[(size_t)i * rows + r] - y_first[(size_t)i * rows + r]) / (4e-6 * mag + 1e-30));
                    }
                CHECK(worst <= 1.0, "%s [%d x %d] x [%d x %d] with %s: error %.3g of its bound", it_weight_type_name(type), n,
                      cols, rows, cols, it__quant_pick_isa().name, worst);
                CHECK(spread <= 1.0, "%s [%d x %d] %s differs from the portable kernel: %.3g", it_weight_type_name(type), rows,
                      cols, it__quant_pick_isa().name, spread);
                if (!blocks) continue;
                CHECK(worst8 <= 1.0, "%s [%d x %d] interleaved with %s: error %.3g of its bound", it_weight_type_name(type), rows,
                      cols, it__quant_pick_isa().name, worst8);
                if (level == 1) /* the portable 8-row pass makes the row kernel's sums in its order */
                    CHECK(memcmp(y8, y, sizeof(float) * n * rows) == 0, "%s [%d x %d] interleaved portable differs from the rows'",
                          it_weight_type_name(type), rows, cols);
                /* the 512-bit passes over two groups (level 4; odd group counts and a split between the pool's
                   threads at an odd group leave some groups to the 8-row pass) give the 256-bit passes' bits */
                if (level == 3) memcpy(y8_256, y8, sizeof(float) * n * rows);
                if (level == 4)
                    CHECK(memcmp(y8, y8_256, sizeof(float) * n * rows) == 0, "%s [%d x %d] interleaved: the 512-bit passes differ "
                          "from the 256-bit ones", it_weight_type_name(type), rows, cols);
            }
            it__quant_force_isa = 0;
            free(scratch);
        }
        free(w), free(wd), free(x), free(y), free(y_first), free(y8), free(y8_256), free(y8_hwpf), free(wq), free(wi);
    }
}

/* the int8 activations themselves: every kernel set makes the same bytes, within d / 2 of x */
static void test_acts(void) {
    enum { NB = 9 };
    float x[NB * 32];
    it__qact a[NB], b[NB];
    int level, k, bad = 0;
    it_test_fill(x, NB * 32, 3.0f);
    x[5] = 0.5f * 3.0f / 127 * 0 + 1.5f; /* an exact tie after scaling is possible: covered by ties-to-even in both */
    memset(x + 64, 0, 32 * sizeof(float)); /* an all-zero block */
    it__quantize_acts(a, x, NB);
    for (k = 0; k < NB * 32; k++) bad += fabs(a[k / 32].d * a[k / 32].qs[k % 32] - x[k]) > a[k / 32].d * 0.5001 + 1e-30;
    CHECK(bad == 0, "int8 activations: %d values beyond d / 2", bad);
    for (level = 2; level <= 3; level++) {
        it__quant_force_isa = level;
        it__quant_pick_isa().quantize_acts(b, x, NB);
        CHECK(memcmp(a, b, sizeof a) == 0, "%s activation quantiser differs from the portable one", it__quant_pick_isa().name);
    }
    it__quant_force_isa = 0;
}


/* ---- the quantised decoder ---------------------------------------------------------------- */
/* Replaces every projection (and the head) of m by its dequantised `type` copy, in place, so an f32
   decoder on m multiplies by exactly the weights a `type` decoder stores. */
static void dequantise_projections(it_model *m, it_weight_type type) {
    const it_model_config *c = &m->config;
    int l, s;
    for (l = 0; l <= c->n_layers; l++)
        for (s = 0; s < IT_MODEL_LAYER_PARAMS; s++) {
            it_tensor *w = l < c->n_layers ? m->layer_params[l * IT_MODEL_LAYER_PARAMS + s] : (s == 0 ? m->head : NULL);
            int gpt2 = c->arch == IT_ARCH_GPT2 && l < c->n_layers, rows, cols, r, k;
            float *tmp;
            void *q;
            if (!w || (l < c->n_layers && !it__decoder_is_projection(c, s))) continue;
            rows = gpt2 ? w->dims[1] : w->dims[0], cols = gpt2 ? w->dims[0] : w->dims[1];
            tmp = (float *)malloc(sizeof(float) * rows * cols);
            q = malloc(it_weight_bytes(IT_WEIGHT_F32, rows, cols));
            for (r = 0; r < rows; r++) /* as [rows = out, cols = in] */
                for (k = 0; k < cols; k++) tmp[r * cols + k] = gpt2 ? it_data(w)[k * rows + r] : it_data(w)[r * cols + k];
            it_weights_quantize(type, q, tmp, (size_t)rows * cols);
            it_weights_dequantize(type, tmp, q, (size_t)rows * cols);
            for (r = 0; r < rows; r++)
                for (k = 0; k < cols; k++) it_data(w)[gpt2 ? k * rows + r : r * cols + k] = tmp[r * cols + k];
            free(tmp), free(q);
        }
}
static double max_abs_diff(const float *a, const float *b, int n, double *scale) {
    double d = 0, s = 0;
    int i;
    for (i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i])), s = fmax(s, fabs((double)b[i]));
    if (scale) *scale = s;
    return d;
}
/* Logits of a quantised decoder against an f32 decoder on the dequantised weights, for a prompt
   batch and then single tokens, Llama (GQA) and GPT-2 (its [in, out] weights are transposed into
   blocks). bf16 multiplies in f32: equal to rounding. Q8_0 / Q4_0 also round the activations to
   int8: close, not equal. */
static void test_decoder_types(void) {
    static const int32_t prompt[5] = {3, 17, 42, 9, 60};
    int arch, t, i;
    for (arch = 0; arch < 2; arch++)
        for (t = IT_WEIGHT_BF16; t <= IT_WEIGHT_Q4_0; t++) {
            it_context *ctx = it_test_context(2);
            it_model_config c = arch ? it_test_gpt2() : it_test_llama();
            it_model *m;
            it_decoder *dq, *df;
            it_decoder_desc desc;
            const float *lq, *lf;
            double worst = 0, scale = 0, tol = t == IT_WEIGHT_BF16 ? 1e-5 : t == IT_WEIGHT_Q8_0 ? 0.02 : 0.05;
            size_t want_bytes;
            if (!arch) c.dim = 64, c.ffn_dim = 96; /* projections' inputs: multiples of 32 */
            memset(&desc, 0, sizeof desc);
            desc.weights = (it_weight_type)t;
            CHECK(it_model_create(ctx, &c, &m) == IT_OK && it_model_init(m, 5) == IT_OK, "model");
            CHECK(it_decoder_create_ex(m, &desc, &dq) == IT_OK, "%s decoder: %s", it_weight_type_name(desc.weights), it_context_last_error(ctx));
            CHECK(it_decoder_weights(dq) == desc.weights, "decoder weight type");
            {
                int hd = c.dim / c.n_heads, proj = c.dim * hd * c.n_heads + 2 * c.dim * hd * c.n_kv_heads + hd * c.n_heads * c.dim +
                                                   (arch ? 2 : 3) * c.dim * c.ffn_dim;
                want_bytes = it_weight_bytes(desc.weights, 1, (size_t)proj) * c.n_layers +
                             it_weight_bytes(desc.weights, (size_t)c.vocab_size, (size_t)c.dim);
            }
            CHECK(it_decoder_weight_bytes(dq) == want_bytes, "weight bytes per token %zu, want %zu", it_decoder_weight_bytes(dq), want_bytes);
            dequantise_projections(m, desc.weights);
            CHECK(it_decoder_create(m, 0, &df) == IT_OK, "f32 decoder");
            CHECK(it_decoder_feed(dq, prompt, 5, &lq) == IT_OK && it_decoder_feed(df, prompt, 5, &lf) == IT_OK, "prompt");
            worst = fmax(worst, max_abs_diff(lq, lf, c.vocab_size, &scale) / scale);
            for (i = 0; i < 6; i++) {
                int32_t tok = (int32_t)(7 * i + 1);
                CHECK(it_decoder_feed(dq, &tok, 1, &lq) == IT_OK && it_decoder_feed(df, &tok, 1, &lf) == IT_OK, "token %d", i);
                worst = fmax(worst, max_abs_diff(lq, lf, c.vocab_size, &scale) / scale);
            }
            printf("decoder %-5s %-4s vs f32 on its dequantised weights: logits within %.2g of their range\n", arch ? "gpt2" : "llama",
                   it_weight_type_name(desc.weights), worst);
            CHECK(worst <= tol, "%s %s decoder: logits differ by %.3g of their range (tolerance %g)", arch ? "gpt2" : "llama",
                  it_weight_type_name(desc.weights), worst, tol);
            it_context_destroy(ctx);
        }
}
/* A prompt fed as one batch gives the logits of the same prompt fed token by token (each row's
   activations are quantised on their own). */
static void test_decoder_batch(void) {
    static const int32_t prompt[7] = {1, 5, 9, 2, 33, 63, 0};
    it_context *ctx = it_test_context(2);
    it_model_config c = it_test_llama();
    it_model *m;
    it_decoder *a, *b;
    it_decoder_desc desc;
    const float *la, *lb;
    double scale;
    int i;
    c.dim = 64, c.ffn_dim = 96;
    memset(&desc, 0, sizeof desc);
    desc.weights = IT_WEIGHT_Q4_0;
    desc.head = IT_WEIGHT_Q8_0;
    it_model_create(ctx, &c, &m);
    it_model_init(m, 9);
    CHECK(it_decoder_create_ex(m, &desc, &a) == IT_OK && it_decoder_create_ex(m, &desc, &b) == IT_OK, "decoders");
    CHECK(it_decoder_feed(a, prompt, 7, &la) == IT_OK, "batch");
    for (i = 0; i < 7; i++) CHECK(it_decoder_feed(b, prompt + i, 1, &lb) == IT_OK, "token %d", i);
    CHECK(max_abs_diff(la, lb, c.vocab_size, &scale) <= 1e-5 * scale, "q4_0 batch vs token by token: %.3g",
          max_abs_diff(la, lb, c.vocab_size, &scale));
    CHECK(it_decoder_weight_bytes(a) == (size_t)c.n_layers * it_weight_bytes(IT_WEIGHT_Q4_0, 1, 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 96) +
                                            it_weight_bytes(IT_WEIGHT_Q8_0, 64, 64),
          "mixed types: weight bytes %zu", it_decoder_weight_bytes(a));
    it_context_destroy(ctx);
}
/* The paged batch decoder on quantised copies (it_batch_decoder_desc.weights, serve --quant): two
   sequences in one batch give the contiguous quantised decoder's logits (the same blocks, the same
   layer code; the paged attention rounds differently), for a prompt and then single tokens. */
static void test_batch_decoder_quant(void) {
    static const int32_t prompt[2][4] = {{3, 17, 42, 9}, {5, 1, 60, 33}};
    int t, s, i, step;
    for (t = IT_WEIGHT_Q8_0; t <= IT_WEIGHT_Q4_0; t++) {
        it_context *ctx = it_test_context(2);
        it_model_config c = it_test_llama();
        it_model *m;
        it_decoder *one[2];
        it_batch_decoder *bd;
        it_batch_decoder_desc bdesc;
        it_decoder_desc desc;
        it_batch *b;
        double worst = 0, scale;
        c.dim = 64, c.ffn_dim = 96;
        memset(&desc, 0, sizeof desc);
        memset(&bdesc, 0, sizeof bdesc);
        desc.weights = bdesc.weights = (it_weight_type)t;
        bdesc.max_seqs = 2;
        it_model_create(ctx, &c, &m);
        it_model_init(m, 21);
        CHECK(it_decoder_create_ex(m, &desc, &one[0]) == IT_OK && it_decoder_create_ex(m, &desc, &one[1]) == IT_OK &&
                  it_batch_decoder_create(m, &bdesc, &bd) == IT_OK && it_batch_create(ctx, 16, &b) == IT_OK,
              "%s decoders: %s", it_weight_type_name(desc.weights), it_context_last_error(ctx));
        for (step = 0; step < 4; step++) {
            it_batch_clear(b);
            for (s = 0; s < 2; s++) {
                const float *l; /* the contiguous decoder's, read from one[s]->logits below */
                int32_t tok = (int32_t)(11 * step + 7 * s + 2);
                if (step == 0) {
                    for (i = 0; i < 4; i++) it_batch_add(b, prompt[s][i], i, s, i == 3);
                    it_decoder_feed(one[s], prompt[s], 4, &l);
                } else {
                    it_batch_add(b, tok, 3 + step, s, 1);
                    it_decoder_feed(one[s], &tok, 1, &l);
                }
            }
            CHECK(it_batch_decode(bd, b) == IT_OK, "batch decode: %s", it_context_last_error(ctx));
            for (s = 0; s < 2; s++) /* the batch's logits rows: each prompt's last, then one per sequence */
                worst = fmax(worst, max_abs_diff(it_batch_logits(bd, step == 0 ? 4 * s + 3 : s), one[s]->logits, c.vocab_size,
                                                 &scale) / scale);
        }
        CHECK(worst <= 1e-5, "%s batch decoder vs the contiguous one: logits differ by %.3g of their range",
              it_weight_type_name(desc.weights), worst);
        it_context_destroy(ctx);
    }
}
/* Decoding on 2 and 3 threads gives one thread's logits bit for bit, and so the same greedy
   tokens (the pool splits a product's output rows, never a sum, so each output is computed the
   same way whichever thread and split computes it; a change to the pool or the splits must keep
   that): f32, Q8_0 and Q4_0 weights, the contiguous decoder (a prompt, then the tokens it picks)
   and the batch decoder (two sequences in one batch). Dim 256, ffn 512, vocab 2048: every
   quantised product splits across the threads; f32 splits those of >= 1M multiply-adds (the
   prompt's head, the batch's gate / up and head). */
enum { THR_V = 2048, THR_STEPS = 6 };
static int argmax_of(const float *x, int n) {
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
/* logits [(1 + THR_STEPS) * V] of the contiguous decoder, batch [THR_STEPS * 2 * V] of the batch decoder */
static void decode_on_threads(int threads, it_weight_type t, float *logits, float *batch) {
    static const int32_t prompt[2][5] = {{3, 17, 42, 9, 60}, {5, 1, 1000, 33, 2047}};
    it_context *ctx = it_test_context(threads);
    it_model_config c = it_test_llama();
    it_model *m;
    it_decoder *dec;
    it_decoder_desc desc;
    it_batch_decoder *bd;
    it_batch_decoder_desc bdesc;
    it_batch *b;
    const float *l = NULL;
    int step, s, i;
    c.vocab_size = THR_V, c.dim = 256, c.n_heads = 8, c.n_kv_heads = 2, c.ffn_dim = 512, c.max_seq = 32;
    memset(&desc, 0, sizeof desc);
    memset(&bdesc, 0, sizeof bdesc);
    desc.weights = bdesc.weights = t;
    bdesc.max_seqs = 2;
    CHECK(it_model_create(ctx, &c, &m) == IT_OK && it_model_init(m, 31) == IT_OK, "model");
    CHECK(it_decoder_create_ex(m, &desc, &dec) == IT_OK && it_batch_decoder_create(m, &bdesc, &bd) == IT_OK &&
              it_batch_create(ctx, 16, &b) == IT_OK,
          "%s decoders on %d threads: %s", it_weight_type_name(t), threads, it_context_last_error(ctx));
    CHECK(it_decoder_feed(dec, prompt[0], 5, &l) == IT_OK, "prompt");
    memcpy(logits, l, sizeof(float) * THR_V);
    for (step = 1; step <= THR_STEPS; step++) {
        int32_t tok = (int32_t)argmax_of(l, THR_V);
        CHECK(it_decoder_feed(dec, &tok, 1, &l) == IT_OK, "token %d", step);
        memcpy(logits + (size_t)step * THR_V, l, sizeof(float) * THR_V);
    }
    for (step = 0; step < THR_STEPS; step++) {
        it_batch_clear(b);
        for (s = 0; s < 2; s++)
            if (step == 0)
                for (i = 0; i < 5; i++) it_batch_add(b, prompt[s][i], i, s, i == 4);
            else
                it_batch_add(b, (int32_t)argmax_of(batch + ((size_t)(step - 1) * 2 + s) * THR_V, THR_V), 4 + step, s, 1);
        CHECK(it_batch_decode(bd, b) == IT_OK, "batch decode: %s", it_context_last_error(ctx));
        for (s = 0; s < 2; s++) { /* the batch's rows with logits: each prompt's last, then one per sequence */
            const float *row = it_batch_logits(bd, step == 0 ? 5 * s + 4 : s);
            CHECK(row != NULL, "logits of sequence %d", s);
            if (row) memcpy(batch + ((size_t)step * 2 + s) * THR_V, row, sizeof(float) * THR_V);
        }
    }
    it_context_destroy(ctx);
}
static void test_decoder_threads(void) {
    static float one[(1 + THR_STEPS) * THR_V], many[(1 + THR_STEPS) * THR_V], one_b[THR_STEPS * 2 * THR_V],
        many_b[THR_STEPS * 2 * THR_V];
    it_weight_type types[3] = {IT_WEIGHT_F32, IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
    int k, threads;
    for (k = 0; k < 3; k++) {
        decode_on_threads(1, types[k], one, one_b);
        for (threads = 2; threads <= 3; threads++) {
            decode_on_threads(threads, types[k], many, many_b);
            CHECK(!memcmp(one, many, sizeof one), "%s decoder on %d threads: the prompt's and %d greedy tokens' logits equal one "
                  "thread's bit for bit", it_weight_type_name(types[k]), threads, THR_STEPS);
            CHECK(!memcmp(one_b, many_b, sizeof one_b), "%s batch decoder on %d threads: two sequences' logits equal one "
                  "thread's bit for bit", it_weight_type_name(types[k]), threads);
        }
    }
}
/* What a quantised decoder cannot take: a clear error, nothing left behind. */
static void test_decoder_refusals(void) {
    it_context *ctx = it_test_context(1);
    it_model_config c = it_test_llama(); /* ffn 48: the down projection's 48 inputs are not whole blocks */
    it_model *m;
    it_decoder *d = NULL;
    it_decoder_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.weights = IT_WEIGHT_Q8_0;
    it_model_create(ctx, &c, &m);
    it_model_init(m, 1);
    CHECK(it_decoder_create_ex(m, &desc, &d) == IT_ERR_UNSUPPORTED && !d, "ffn 48 with q8_0 is refused");
    CHECK(strstr(it_context_last_error(ctx), "down_proj") && strstr(it_context_last_error(ctx), "48"), "the error names it: %s",
          it_context_last_error(ctx));
    desc.weights = IT_WEIGHT_BF16; /* bf16 has no blocks: any size */
    CHECK(it_decoder_create_ex(m, &desc, &d) == IT_OK && d, "bf16 takes ffn 48");
    it_decoder_destroy(d);
    desc.weights = (it_weight_type)77;
    CHECK(it_decoder_create_ex(m, &desc, &d) == IT_ERR_INVALID_ARGUMENT, "an unknown type is refused");
    desc.weights = IT_WEIGHT_F32;
    desc.head = IT_WEIGHT_Q8_0;
    it_data(m->head)[5] = NAN;
    CHECK(it_decoder_create_ex(m, &desc, &d) == IT_ERR_RANGE && strstr(it_context_last_error(ctx), "lm_head"),
          "a NaN weight is refused: %s", it_context_last_error(ctx));
    it_context_destroy(ctx);
}

/* ---- quantised checkpoints (>>checkpoints: QUANTISED WEIGHTS) ------------------------------ */
/* The model.safetensors of DIR with fresh checksums after `edit` changed it (a writer that produced
   those bytes): the header's `from` replaced by `to` (same length), or the data byte at data_at set. */
static void st_edit(const char *dir, const char *from, const char *to, long data_at, unsigned char value) {
    char path[512], *hit, last;
    size_t n = 0, header_n;
    unsigned char *buf;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    buf = it_test_read_file(path, &n);
    if (!buf || n < 16) exit(2);
    header_n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16;
    last = (char)buf[8 + header_n - 1];
    buf[8 + header_n - 1] = 0; /* a terminator for strstr, for a moment */
    hit = from ? strstr((char *)buf + 8, from) : NULL;
    buf[8 + header_n - 1] = (unsigned char)last;
    if (from && (!hit || strlen(from) != strlen(to))) exit(2);
    if (hit) memcpy(hit, to, strlen(to));
    if (data_at >= 0) buf[8 + header_n + (size_t)data_at] = value;
    it_test_st_restamp(buf, n);
    it_test_write_file(path, buf, n);
    free(buf);
}
static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *x = it_test_read_file(a, &na), *y = it_test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}
/* DIR loads (in a context of its own) and says its matrices are `type`. */
static int loads_as(const char *dir, it_weight_type type) {
    it_context *lc = it_test_context(1);
    it_model *m = NULL;
    int ok = it_model_load(lc, dir, &m) == IT_OK && m->stored_weights == type;
    it_context_destroy(lc);
    return ok;
}
/* A model saved with its decoder matrices as bf16 / Q8_0 / Q4_0 loads back with exactly the
   dequantised weights (the rest unchanged), says its type, decodes to the same logits as a decoder
   of that type on the original, and saves again to the same bytes. Llama untied with GQA, Llama
   tied (the embedding is the head), GPT-2 (Conv1D weights stored transposed). */
static void test_quantised_checkpoint(void) {
    static const int32_t prompt[4] = {3, 17, 42, 9};
    char dir[256], again[256], a[300], b[300];
    int model, t;
    it_test_tmp_path(dir, sizeof dir, "quant_ck");
    it_test_tmp_path(again, sizeof again, "quant_ck_again");
    for (model = 0; model < 3; model++)
        for (t = IT_WEIGHT_BF16; t <= IT_WEIGHT_Q4_0; t++) {
            it_context *ctx = it_test_context(2), *ctx2 = it_test_context(2);
            it_model_config c = model == 2 ? it_test_gpt2() : it_test_llama();
            it_model *m, *back;
            it_decoder *d0, *d1;
            it_decoder_desc desc;
            it_checkpoint_options o;
            const float *l0, *l1;
            int same = 1;
            const char *name = model == 0 ? "llama untied" : model == 1 ? "llama tied" : "gpt2";
            if (model < 2) c.dim = 64, c.ffn_dim = 96, c.untied = model == 0;
            memset(&desc, 0, sizeof desc);
            desc.weights = (it_weight_type)t;
            memset(&o, 0, sizeof o);
            o.weights = (it_weight_type)t;
            CHECK(it_model_create(ctx, &c, &m) == IT_OK && it_model_init(m, 11) == IT_OK, "model");
            CHECK(it_decoder_create_ex(m, &desc, &d0) == IT_OK, "decoder");
            CHECK(it_checkpoint_save(ctx, m, NULL, NULL, dir, &o) == IT_OK, "%s %s save: %s", name, it_weight_type_name(o.weights),
                  it_context_last_error(ctx));
            CHECK(it_model_load(ctx2, dir, &back) == IT_OK, "%s %s load: %s", name, it_weight_type_name(o.weights), it_context_last_error(ctx2));
            if (!back) {
                it_context_destroy(ctx), it_context_destroy(ctx2);
                continue;
            }
            CHECK(back->stored_weights == desc.weights, "%s: stored_weights %d, want %d", name, (int)back->stored_weights, t);
            dequantise_projections(m, desc.weights); /* what the load must give */
            same = it_param_numel(ctx) == it_param_numel(ctx2) && /* the same parameters in the same order */
                   memcmp(it_param_block(ctx), it_param_block(ctx2), it_param_numel(ctx) * sizeof(float)) == 0;
            CHECK(same, "%s %s: the loaded weights are the dequantised ones, bit for bit", name, it_weight_type_name(desc.weights));
            desc.weights = back->stored_weights;
            CHECK(it_decoder_create_ex(back, &desc, &d1) == IT_OK, "decoder of the loaded model");
            CHECK(it_decoder_weight_bytes(d1) == it_decoder_weight_bytes(d0) &&
                      memcmp(d0->weight_mem, d1->weight_mem, it_decoder_weight_bytes(d0)) == 0,
                  "%s %s: re-quantising the loaded weights gives the file's blocks", name, it_weight_type_name(desc.weights));
            CHECK(it_decoder_feed(d0, prompt, 4, &l0) == IT_OK && it_decoder_feed(d1, prompt, 4, &l1) == IT_OK &&
                      memcmp(l0, l1, sizeof(float) * (size_t)c.vocab_size) == 0,
                  "%s %s: the same logits as the original's decoder", name, it_weight_type_name(desc.weights));
            CHECK(it_checkpoint_save(ctx2, back, NULL, NULL, again, &o) == IT_OK, "save the loaded model");
            snprintf(a, sizeof a, "%s/model.safetensors", dir);
            snprintf(b, sizeof b, "%s/model.safetensors", again);
            CHECK(same_file(a, b), "%s %s: saved again, the same bytes", name, it_weight_type_name(desc.weights));
            it_context_destroy(ctx), it_context_destroy(ctx2);
        }
    it_test_remove_tree(dir);
    it_test_remove_tree(again);
}
/* Hostile quantised checkpoints, each with valid checksums (a writer that meant it): an unknown
   type, the wrong block size, the wrong number of blocks per row, a matrix with the wrong rows, an
   infinite block scale, and truncation anywhere; saves that cannot be done. Each is refused with
   the reason, never a crash. */
static void test_quantised_checkpoint_hostile(void) {
    it_context *ctx = it_test_context(1);
    it_model_config c = it_test_llama(), other;
    it_model *m, *m2, *back = NULL;
    it_checkpoint_options o;
    char dir[256], dir2[256], path[400], cfg[400], cfg_saved[400];
    size_t n = 0, cut;
    unsigned char *good, *cfg_good;
    size_t cfg_n = 0;
    int k, refused = 0;
    it_result r;
    c.dim = 64, c.ffn_dim = 96;
    it_test_tmp_path(dir, sizeof dir, "quant_hostile");
    it_test_tmp_path(dir2, sizeof dir2, "quant_hostile_other");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    memset(&o, 0, sizeof o);
    o.weights = IT_WEIGHT_Q8_0;
    it_model_create(ctx, &c, &m);
    it_model_init(m, 3);
    CHECK(it_checkpoint_save(ctx, m, NULL, NULL, dir, &o) == IT_OK, "save: %s", it_context_last_error(ctx));
    good = it_test_read_file(path, &n);
    cfg_good = it_test_read_file(cfg, &cfg_n);
#define EXPECT_REFUSED(what, needle)                                                                                   \
    do {                                                                                                               \
        it_context *lc = it_test_context(1);                                                                           \
        back = NULL;                                                                                                   \
        r = it_model_load(lc, dir, &back);                                                                             \
        CHECK(r == IT_ERR_FORMAT && !back && strstr(it_context_last_error(lc), needle), "%s: refused (%d) naming '%s': %s", \
              what, (int)r, needle, it_context_last_error(lc));                                                       \
        it_context_destroy(lc);                                                                                        \
        it_test_write_file(path, good, n);                                                                             \
        it_test_write_file(cfg, cfg_good, cfg_n);                                                                      \
    } while (0)
    st_edit(dir, "\"irontensor.weights\":\"q8_0\"", "\"irontensor.weights\":\"q5_1\"", -1, 0);
    EXPECT_REFUSED("an unknown type", "q5_1");
    st_edit(dir, "\"irontensor.weights\":\"q8_0\"", "\"irontensor.weights\":\"q4_0\"", -1, 0);
    EXPECT_REFUSED("Q8_0 blocks read as Q4_0", "blocks of 18 bytes");
    st_edit(dir, "\"irontensor.weights\":\"q8_0\"", "\"irontensor.weights\":\"f32\" ", -1, 0);
    EXPECT_REFUSED("blocks in a file of floats", "lm_head.weight': shape [64, 68] but the config needs [64, 64]");
    st_edit(dir, NULL, NULL, 1, 0x7C); /* the first tensor by name, lm_head.weight: block 0's scale (high byte) = inf */
    EXPECT_REFUSED("an infinite scale", "scale");
    /* the config of a model with other shapes over these weights (config.json edited by hand) */
    for (k = 0; k < 2; k++) {
        it_context *oc = it_test_context(1);
        other = c;
        if (k == 0) other.ffn_dim = 64; /* the down projection: 2 blocks per row, not 3 */
        else other.n_kv_heads = 4;      /* k_proj: 64 rows, not 32 */
        it_model_create(oc, &other, &m2);
        it_model_init(m2, 4);
        CHECK(it_checkpoint_save(oc, m2, NULL, NULL, dir2, NULL) == IT_OK, "the other model");
        snprintf(cfg_saved, sizeof cfg_saved, "%s/config.json", dir2);
        {
            size_t on = 0;
            unsigned char *ob = it_test_read_file(cfg_saved, &on);
            it_test_write_file(cfg, ob, on);
            free(ob);
        }
        if (k == 0) EXPECT_REFUSED("the wrong number of blocks per row", "(2 blocks of 34 bytes per row)");
        else EXPECT_REFUSED("a matrix with the wrong rows", "k_proj.weight': shape [32, 68]");
        it_context_destroy(oc);
    }
    for (cut = 0; cut < n; cut += n / 97 + 1) { /* truncated anywhere */
        it_context *lc = it_test_context(1);
        it_test_write_file(path, good, cut);
        back = NULL;
        refused += it_model_load(lc, dir, &back) != IT_OK && !back;
        it_context_destroy(lc);
    }
    it_test_write_file(path, good, n);
    CHECK(refused == (int)((n - 1) / (n / 97 + 1) + 1), "every truncation refused (%d)", refused);
    CHECK(loads_as(dir, IT_WEIGHT_Q8_0), "the restored file loads");
    /* saves that cannot be done */
    o.weights = (it_weight_type)77;
    CHECK(it_checkpoint_save(ctx, m, NULL, NULL, dir, &o) == IT_ERR_INVALID_ARGUMENT, "an unknown type is refused");
    o.weights = IT_WEIGHT_Q4_0;
    {
        it_trainer_state ts;
        memset(&ts, 0, sizeof ts);
        CHECK(it_checkpoint_save(ctx, m, NULL, &ts, dir, &o) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "inference"),
              "quantised weights with a trainer state are refused: %s", it_context_last_error(ctx));
    }
    {
        it_context *oc = it_test_context(1);
        other = it_test_llama(); /* ffn 48 */
        it_model_create(oc, &other, &m2);
        it_model_init(m2, 5);
        CHECK(it_checkpoint_save(oc, m2, NULL, NULL, dir, &o) == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(oc), "down_proj"),
              "48 inputs are not whole blocks: %s", it_context_last_error(oc));
        it_context_destroy(oc);
    }
    CHECK(loads_as(dir, IT_WEIGHT_Q8_0), "the refused saves left the checkpoint as it was");
#undef EXPECT_REFUSED
    free(good), free(cfg_good);
    it_test_remove_tree(dir);
    it_test_remove_tree(dir2);
    it_context_destroy(ctx);
}

/* Greedy decoding of a small trained model (bytes of tinyshakespeare, or of this library's source
   when the data set is not there): the Q8_0 decoder picks the f32 decoder's token at every step
   where the f32 margin between the two best tokens is at least 0.3 (both decoders are fed the f32
   choice, so one close call does not end the comparison). Q4_0 and bf16 are reported. */
static void test_decoder_greedy_trained(void) {
    enum { B = 8, T = 64, STEPS = 150, GEN = 96 };
    it_context *ctx = it_test_context(2);
    it_model_config c;
    it_model *m;
    it_model_graph train;
    it_optimizer *opt;
    it_optimizer_desc od;
    it_dataset *ds = NULL;
    it_rng rng;
    size_t n = 0, i;
    unsigned char *text = it_test_read_file("../shared/data/tinyshakespeare.txt", &n);
    int32_t *ids;
    int step, t;
    if (!text) text = it_test_read_file("irontensor.h", &n);
    n = n > 200000 ? 200000 : n;
    ids = (int32_t *)malloc(sizeof(int32_t) * (n + 1));
    for (i = 0; i < n; i++) ids[i] = text[i];
    CHECK(n > 10000 && it_dataset_from_ids(ctx, ids, n, 256, T, "text", &ds) == IT_OK, "data set of %zu bytes", n);
    memset(&c, 0, sizeof c);
    c.arch = IT_ARCH_LLAMA, c.vocab_size = 256, c.dim = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2;
    c.ffn_dim = 128, c.max_seq = 128;
    it_model_create(ctx, &c, &m);
    it_model_graph_create(m, IT_PURPOSE_TRAIN, B, T, &train);
    it_model_init(m, 3);
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW, od.beta2 = 0.95f, od.clip_norm = 1.0f;
    it_optimizer_create(ctx, &od, &opt);
    it_rng_seed(&rng, 11);
    for (step = 0; step < STEPS; step++) {
        it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, it_data_i32(train.tokens), it_data_i32(train.targets));
        it_zero_grads(ctx);
        it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD);
        it_optimizer_step(opt, 3e-3f, 1.0f, NULL);
    }
    printf("trained %d steps: loss %.3f (ln 256 = %.3f)\n", STEPS, it_data(train.loss)[0], log(256.0));
    for (t = IT_WEIGHT_BF16; t <= IT_WEIGHT_Q4_0; t++) {
        it_decoder *df, *dq;
        it_decoder_desc desc;
        const float *lf, *lq;
        int32_t tok[16];
        int compared = 0, agree = 0, k;
        memset(&desc, 0, sizeof desc);
        desc.weights = (it_weight_type)t;
        CHECK(it_decoder_create(m, 0, &df) == IT_OK && it_decoder_create_ex(m, &desc, &dq) == IT_OK, "decoders");
        for (k = 0; k < 16; k++) tok[k] = ids[1000 + k];
        it_decoder_feed(df, tok, 16, &lf);
        it_decoder_feed(dq, tok, 16, &lq);
        for (step = 0; step < GEN; step++) {
            int best = 0, second = -1, best_q = 0, v;
            for (v = 1; v < c.vocab_size; v++) {
                if (lf[v] > lf[best]) second = best, best = v;
                else if (second < 0 || lf[v] > lf[second]) second = v;
                if (lq[v] > lq[best_q]) best_q = v;
            }
            if (lf[best] - lf[second] >= 0.3f) compared++, agree += best == best_q;
            tok[0] = best;
            it_decoder_feed(df, tok, 1, &lf);
            it_decoder_feed(dq, tok, 1, &lq);
        }
        printf("greedy %s vs f32: %d of %d clear steps agree\n", it_weight_type_name(desc.weights), agree, compared);
        /* at least a quarter of the steps must be clear, so the check cannot pass by comparing nothing (the
           fallback corpus, irontensor.h, changes with every commit: its margins move) */
        if (t == IT_WEIGHT_Q8_0) CHECK(compared >= GEN / 4 && agree == compared, "q8_0 greedy: %d of %d clear steps agree", agree, compared);
        if (t == IT_WEIGHT_BF16) CHECK(agree == compared, "bf16 greedy: %d of %d clear steps agree", agree, compared);
        it_decoder_destroy(dq);
        it_decoder_destroy(df);
    }
    free(ids), free(text);
    it_context_destroy(ctx);
}

int main(void) {
    it_context *ctx = it_test_context(2);
    printf("kernels on this CPU: %s\n", it_weights_isa());
    test_f16();
    test_blocks();
    test_acts();
    test_matmul(ctx);
    it_context_destroy(ctx);
    test_decoder_types();
    test_decoder_batch();
    test_decoder_refusals();
    test_batch_decoder_quant();
    test_decoder_threads();
    test_quantised_checkpoint();
    test_quantised_checkpoint_hostile();
    test_decoder_greedy_trained();
    return it_test_finish();
}
