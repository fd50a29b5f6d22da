/* test_quant.c - weight storage for inference (>>quant): IEEE half precision exhaustively, Q8_0 and
   Q4_0 blocks against an independent transcription of ggml's reference quantisers (byte for byte)
   with their error bounds, the documented nibble layout on a hand-made block, and the quantised
   matrix products on odd shapes with every kernel set this CPU runs against a double-precision
   product of the dequantised weights (within the bound the int8 activations allow). */
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
        float *y_first = (float *)malloc(sizeof(float) * n * rows);
        unsigned char *wq = (unsigned char *)malloc(it_weight_bytes(IT_WEIGHT_F32, rows, cols));
        it_test_fill(w, (size_t)rows * cols, 0.1f);
        it_test_fill(x, (size_t)n * cols, 2.0f);
        for (i = 0; i < n * cols; i += 37) x[i] *= 30.0f; /* outliers: some blocks with a coarse scale */
        for (t = IT_WEIGHT_F32; t <= IT_WEIGHT_Q4_0; t++) {
            it_weight_type type = (it_weight_type)t;
            void *scratch = malloc(it_weights_matmul_scratch(type, n, cols) + 1);
            it_weights_quantize(type, wq, w, (size_t)rows * cols);
            it_weights_dequantize(type, wd, wq, (size_t)rows * cols);
            for (level = 1; level <= 3; level++) {
                double worst = 0, spread = 0;
                it__quant_force_isa = level;
                it_weights_matmul(ctx, y, x, wq, type, n, rows, cols, scratch);
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
                        if (level == 1) y_first[(size_t)i * rows + r] = y[(size_t)i * rows + r];
                        else spread = fmax(spread, fabs(y[(size_t)i * rows + r] - y_first[(size_t)i * rows + r]) / (4e-6 * mag + 1e-30));
                    }
                CHECK(worst <= 1.0, "%s [%d x %d] x [%d x %d] with %s: error %.3g of its bound", it_weight_type_name(type), n,
                      cols, rows, cols, it__quant_pick_isa().name, worst);
                CHECK(spread <= 1.0, "%s [%d x %d] %s differs from the portable kernel: %.3g", it_weight_type_name(type), rows,
                      cols, it__quant_pick_isa().name, spread);
            }
            it__quant_force_isa = 0;
            free(scratch);
        }
        free(w), free(wd), free(x), free(y), free(y_first), free(wq);
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

int main(void) {
    it_context *ctx = it_test_context(2);
    printf("kernels on this CPU: %s\n", it_weights_isa());
    test_f16();
    test_blocks();
    test_acts();
    test_matmul(ctx);
    it_context_destroy(ctx);
    return it_test_finish();
}
