/* test_bf16.c - bf16 mixed precision (>>bf16): the bf16 x bf16 -> fp32 products at every kernel
   level this CPU runs (portable always; the AVX2 and AVX-512F widening levels, AVX512-BF16 and AMX
   where present, each forced in turn)
   against a double-precision reference, and the mode through graphs: a matmul's output is the
   product of the bf16-rounded operands, a model's loss and gradients in bf16 mode against the
   fp32 mode and against finite differences, the API's refusals; weights kept in bf16 by stochastic
   rounding, and the run's precision in trainer_state.json. No timings.
   cc -O2 -std=c99 -D_DEFAULT_SOURCE -I. tests/test_bf16.c -lm -lpthread */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

static double bf16_round(float x) { return (double)it_bf16_to_f32(it_f32_to_bf16(x)); }

/* ref = (acc ? c0 : 0) + op(a) op(b) in double with the operands rounded to bf16 (rounded = 1) or
   as given; bound = |c0| + sum |a b| for the tolerance */
static void reference(double *ref, double *bound, const float *c0, const float *a, const float *b, int M, int N, int K, int ta,
                      int tb, int acc, int rounded) {
    int i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double s = acc ? c0[(size_t)i * N + j] : 0.0, t = fabs(s);
            for (k = 0; k < K; k++) {
                float x = ta ? a[(size_t)k * M + i] : a[(size_t)i * K + k], y = tb ? b[(size_t)j * K + k] : b[(size_t)k * N + j];
                double p = rounded ? bf16_round(x) * bf16_round(y) : (double)x * y;
                s += p, t += fabs(p);
            }
            ref[(size_t)i * N + j] = s, bound[(size_t)i * N + j] = t;
        }
}

#define MAX_PARTS 3
#define GUARD 32
static it__scratch scratch[MAX_PARTS];

/* m [rows, cols] in bf16 with row stride ld >= cols (the gaps hold NaN bits: a product that read
   them would show it) */
static uint16_t *bf16_copy(const float *m, int rows, int cols, int ld) {
    uint16_t *d = (uint16_t *)malloc(((size_t)rows * ld + 1) * sizeof(uint16_t));
    int i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < ld; j++) d[(size_t)i * ld + j] = j < cols ? it_f32_to_bf16(m[(size_t)i * cols + j]) : 0x7FC1;
    return d;
}
/* The entry point's bf16 operands (it__gemm_bf16's it__bgemm_bf16): a, b or both given as bf16
   bits, dense or with a row stride, give the fp32 operands' product `want` bit for bit (the
   packing rounds an fp32 source to exactly these bits). */
static void bf16_operands_case(int level, const float *want, const float *c0, const float *a, const float *b, int M, int N, int K,
                               int ta, int tb, int acc, int parts) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N, which, p;
    size_t nc = (size_t)M * N, i;
    float *c = (float *)malloc(nc * sizeof(float));
    for (which = 1; which < 4; which++) {
        int pad = which == 3 ? 3 : 0; /* both in bf16 with padded rows */
        uint16_t *a16 = bf16_copy(a, ar, ac, ac + pad), *b16 = bf16_copy(b, br, bc, bc + pad);
        it__bgemm_operand oa = which & 1 ? it__bgemm_bf16(a16, pad ? ac + pad : 0) : it__bgemm_f32(a);
        it__bgemm_operand ob = which & 2 ? it__bgemm_bf16(b16, pad ? bc + pad : 0) : it__bgemm_f32(b);
        for (i = 0; i < nc; i++) c[i] = acc ? c0[i] : 777.0f;
        it__bgemm_force_isa = level;
        for (p = 0; p < parts; p++) it__bgemm_part(p, parts, &scratch[p], c, oa, ob, M, N, K, ta, tb, acc);
        it__bgemm_force_isa = IT__BF16_AUTO;
        CHECK(memcmp(c, want, nc * sizeof(float)) == 0, "%s M=%d N=%d K=%d ta=%d tb=%d acc=%d: bf16 %s%s differs from the fp32 operands' product",
              it__bf16_level_names[level], M, N, K, ta, tb, acc, which == 1 ? "a" : which == 2 ? "b" : "a and b", pad ? " (strided)" : "");
        free(a16), free(b16);
    }
    free(c);
}

/* Worst error against the two references, each as a fraction of its tolerance (> 1 fails):
   fp32 summation of exact bf16 products, 2 (K + 2) eps_f32 of the bound; and the unrounded
   product, where rounding each operand to bf16's 8 significant bits (unit roundoff 2^-8) adds up
   to 2^-7 of the bound on top. */
static void product_case(int level, int M, int N, int K, int ta, int tb, int acc, int parts) {
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N, i;
    float *a = (float *)malloc(na * sizeof(float)), *b = (float *)malloc(nb * sizeof(float));
    float *c0 = (float *)malloc(nc * sizeof(float)), *c = (float *)malloc((nc + GUARD) * sizeof(float));
    double *ref = (double *)malloc(nc * sizeof(double)), *bound = (double *)malloc(nc * sizeof(double));
    double *ref_f = (double *)malloc(nc * sizeof(double)), *bound_f = (double *)malloc(nc * sizeof(double));
    double worst = 0.0, worst_f = 0.0, tol = 2.0 * (K + 2) * FLT_EPSILON, tol_f = tol + 1.0 / 128.0;
    int p, guard_ok = 1;
    it_test_fill(a, na, 1.0f);
    it_test_fill(b, nb, 1.0f);
    it_test_fill(c0, nc, 1.0f);
    for (i = 0; i < nc; i++) c[i] = acc ? c0[i] : 777.0f; /* without acc the old contents must not matter */
    for (i = nc; i < nc + GUARD; i++) c[i] = 12345.0f;
    reference(ref, bound, c0, a, b, M, N, K, ta, tb, acc, 1);
    reference(ref_f, bound_f, c0, a, b, M, N, K, ta, tb, acc, 0);
    it__bgemm_force_isa = level;
    for (p = 0; p < parts; p++) it__bgemm_part(p, parts, &scratch[p], c, it__bgemm_f32(a), it__bgemm_f32(b), M, N, K, ta, tb, acc);
    it__bgemm_force_isa = IT__BF16_AUTO;
    bf16_operands_case(level, c, c0, a, b, M, N, K, ta, tb, acc, parts);
    for (i = 0; i < nc; i++) {
        double e = fabs((double)c[i] - ref[i]) / (tol * bound[i] + 1e-30), ef = fabs((double)c[i] - ref_f[i]) / (tol_f * bound_f[i] + 1e-30);
        if (!(e <= worst)) worst = e; /* a NaN stays the worst */
        if (!(ef <= worst_f)) worst_f = ef;
    }
    for (i = nc; i < nc + GUARD; i++) guard_ok &= c[i] == 12345.0f;
    CHECK(worst <= 1.0 && worst_f <= 1.0 && guard_ok,
          "%s M=%d N=%d K=%d ta=%d tb=%d acc=%d parts=%d: error %.3g of the bf16-operand tolerance, %.3g of the f32-operand one%s",
          it__bf16_level_names[level], M, N, K, ta, tb, acc, parts, worst, worst_f, guard_ok ? "" : ", wrote past c");
    free(a), free(b), free(c0), free(c), free(ref), free(bound), free(ref_f), free(bound_f);
}

static void test_products(void) {
    static const int shapes[][3] = {{1, 1, 1},    {3, 5, 7},      {8, 32, 2},   {33, 31, 33},   {64, 64, 64},
                                    {17, 100, 9}, {40, 70, 600},  {5, 1600, 3}, {96, 48, 1030}, {2, 3, 513},
                                    {200, 37, 45}}; /* M past one MC block: a's panels packed per block */
    int level, s, t, acc;
    float *mem = NULL;
    for (s = 0; s < MAX_PARTS; s++) {
        if (posix_memalign((void **)&mem, 64, IT__SCRATCH_FLOATS * sizeof(float))) exit(2);
        it__scratch_init(&scratch[s], mem);
    }
    for (level = IT__BF16_PORTABLE; level < IT__BF16_LEVEL_COUNT; level++) {
        int before = it_test_failed;
        if (!it__bgemm_level_available(level)) {
            printf("  bf16 products, %s: not on this CPU, skipped\n", it__bf16_level_names[level]);
            continue;
        }
        it__bgemm_force_isa = level;
        CHECK(strcmp(it_bf16_kernel_name(), it__bf16_level_names[level]) == 0, "forced %s, runs %s", it__bf16_level_names[level],
              it_bf16_kernel_name());
        it__bgemm_force_isa = IT__BF16_AUTO;
        for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
            for (t = 0; t < 4; t++)
                for (acc = 0; acc < 2; acc++)
                    product_case(level, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t >> 1, acc, 1 + (s + t + acc) % MAX_PARTS);
        printf("  bf16 products, %s: %s\n", it__bf16_level_names[level], it_test_failed == before ? "ok" : "FAILED");
    }
    for (s = 0; s < MAX_PARTS; s++) free(scratch[s].pack_a);
}

/* The AVX-512 packings against the portable ones, bit for bit (the values here hold no f32
   denormals, the one input where the two conversions differ): a row-major source, a transposed one
   (the rows pack's 16 x 16 word transpose, which only the amx level uses in a product), a strided
   one; short panels, odd K, K padding, a partial last block of pairs. */
static void test_packing(void) {
#ifdef IT__SGEMM_X86
    enum { LD = 600, GUARD_WORDS = 64 };
    static const int cases[][4] = {/* w, rows, kc, kpad */ {16, 16, 32, 32}, {32, 32, 64, 64}, {32, 27, 61, 64}, {32, 5, 3, 32},
                                   {16, 0, 10, 32},  {32, 32, 512, 512}, {8, 8, 30, 30},  {32, 17, 34, 34}, {16, 16, 2, 2},
                                   {32, 32, 66, 96}};
    static const ptrdiff_t strides[][2] = {{LD, 1}, {1, LD}, {2, LD + 1}}; /* rs, ks */
    float *src = (float *)malloc((size_t)LD * LD * sizeof(float));
    uint16_t *want = (uint16_t *)malloc((32 * 512 + GUARD_WORDS) * sizeof(uint16_t));
    uint16_t *got = (uint16_t *)malloc((32 * 512 + GUARD_WORDS) * sizeof(uint16_t));
    uint16_t *src16 = (uint16_t *)malloc((size_t)LD * LD * sizeof(uint16_t));
    int c, st, rows_layout, impl, before = it_test_failed;
    if (!it__bgemm_level_available(IT__BF16_AVX512)) {
        printf("  bf16 packing, avx512bf16: not on this CPU, skipped\n");
        free(src), free(src16), free(want), free(got);
        return;
    }
    it_test_fill(src, (size_t)LD * LD, 1.0f);
    it_f32_to_bf16_array(src16, src, (size_t)LD * LD);
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++)
        for (st = 0; st < 3; st++)
            for (rows_layout = 0; rows_layout < 2; rows_layout++) {
                int w = cases[c][0], rows = cases[c][1], kc = cases[c][2], kpad = cases[c][3];
                size_t n = (size_t)w * kpad;
                ptrdiff_t rs = strides[st][0], ks = strides[st][1];
                memset(want, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
                memset(got, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
                (rows_layout ? it__bgemm_pack_rows_portable : it__bgemm_pack_pairs_portable)(want, src, 0, rs, ks, rows, kc, kpad, w);
                (rows_layout ? it__bgemm_pack_rows_avx512 : it__bgemm_pack_pairs_avx512)(got, src, 0, rs, ks, rows, kc, kpad, w);
                CHECK(memcmp(want, got, (n + GUARD_WORDS) * sizeof(uint16_t)) == 0,
                      "avx512 pack_%s w=%d rows=%d kc=%d kpad=%d rs=%ld ks=%ld differs from the portable one (or wrote past the panel)",
                      rows_layout ? "rows" : "pairs", w, rows, kc, kpad, (long)rs, (long)ks);
                for (impl = 0; impl < 2; impl++) { /* a bf16 source packs to the same words */
                    memset(got, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
                    if (impl) (rows_layout ? it__bgemm_pack_rows_avx512 : it__bgemm_pack_pairs_avx512)(got, src16, 1, rs, ks, rows, kc, kpad, w);
                    else (rows_layout ? it__bgemm_pack_rows_portable : it__bgemm_pack_pairs_portable)(got, src16, 1, rs, ks, rows, kc, kpad, w);
                    CHECK(memcmp(want, got, (n + GUARD_WORDS) * sizeof(uint16_t)) == 0,
                          "%s pack_%s of a bf16 source w=%d rows=%d kc=%d kpad=%d rs=%ld ks=%ld differs from the fp32 source's",
                          impl ? "avx512" : "portable", rows_layout ? "rows" : "pairs", w, rows, kc, kpad, (long)rs, (long)ks);
                }
            }
    printf("  bf16 packing, avx512bf16 vs portable, fp32 and bf16 sources: %s\n", it_test_failed == before ? "ok" : "FAILED");
    free(src), free(src16), free(want), free(got);
#endif
}

/* The widening levels' packings and conversion against the portable ones, bit for bit, on values
   that include what their integer rounding must get right: ties, denormals, infinities, NaNs (the
   portable conversion quiets them), values that round up to infinity. b's pairs, a's fp32 rows
   (it__bgemm_pack_wide_*: the bf16 values widened), row-major, transposed and strided sources of
   both dtypes, short panels, odd K, padding. */
typedef struct wide_impl {
    int level;
    it__bgemm_pack_fn pairs;
    it__bgemm_pack_wide_fn wide;
    void (*convert)(uint16_t *d, const float *s, size_t n);
} wide_impl;
static void special_fill(float *x, size_t n) {
    static const uint32_t specials[] = {0x00000001u, 0x80000003u, 0x007FFFFFu, 0x00808000u, 0x3F808000u, 0x3F818000u, 0x7F800000u,
                                        0xFF800000u, 0x7FC00000u, 0x7F800001u, 0xFF812345u, 0x7F7FFFFFu, 0xFF7F8000u, 0x3F80FFFFu};
    size_t i;
    it_test_fill(x, n, 1.0f);
    for (i = 0; i < n; i += 7) memcpy(&x[i], &specials[(i / 7) % (sizeof specials / sizeof specials[0])], 4);
}
static void test_packing_wide(void) {
#ifdef IT__SGEMM_X86
    enum { LD = 600, GUARD_WORDS = 64 };
    static const wide_impl impls[] = {{IT__BF16_AVX2, it__bgemm_pack_pairs_avx2, it__bgemm_pack_wide_avx2, it__bf16_convert_exact_avx2},
                                      {IT__BF16_AVX512F, it__bgemm_pack_pairs_exact_avx512, it__bgemm_pack_wide_avx512,
                                       it__bf16_convert_exact_avx512}};
    static const int cases[][4] = {/* w, rows, kc, kpad */ {16, 16, 32, 32}, {32, 32, 64, 64}, {32, 27, 61, 64}, {32, 5, 3, 32},
                                   {16, 0, 10, 32},  {32, 32, 256, 256}, {8, 8, 30, 30},  {8, 3, 17, 18},   {6, 6, 40, 40},
                                   {6, 4, 33, 34},   {16, 16, 2, 2},     {32, 17, 34, 34}, {16, 11, 66, 96}};
    static const ptrdiff_t strides[][2] = {{LD, 1}, {1, LD}, {2, LD + 1}}; /* rs, ks */
    float *src = (float *)malloc((size_t)LD * LD * sizeof(float));
    uint16_t *src16 = (uint16_t *)malloc((size_t)LD * LD * sizeof(uint16_t));
    uint16_t *want = (uint16_t *)malloc((32 * 256 + GUARD_WORDS) * sizeof(uint16_t)), *got = (uint16_t *)malloc((32 * 256 + GUARD_WORDS) * sizeof(uint16_t));
    float *want_f = (float *)malloc((32 * 256 + GUARD_WORDS) * sizeof(float)), *got_f = (float *)malloc((32 * 256 + GUARD_WORDS) * sizeof(float));
    int m, c, st, dt;
    special_fill(src, (size_t)LD * LD);
    it_f32_to_bf16_array(src16, src, (size_t)LD * LD);
    for (m = 0; m < (int)(sizeof impls / sizeof impls[0]); m++) {
        const wide_impl *im = &impls[m];
        int before = it_test_failed;
        size_t n;
        if (!it__bgemm_level_available(im->level)) {
            printf("  bf16 packing, %s: not on this CPU, skipped\n", it__bf16_level_names[im->level]);
            continue;
        }
        for (n = 0; n <= 70; n++) {
            memset(want, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
            memset(got, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
            it__bf16_convert_portable(want, src + 5, n);
            im->convert(got, src + 5, n);
            CHECK(memcmp(want, got, (n + GUARD_WORDS) * sizeof(uint16_t)) == 0, "%s convert n=%zu differs from the portable one",
                  it__bf16_level_names[im->level], n);
        }
        for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++)
            for (st = 0; st < 3; st++)
                for (dt = 0; dt < 2; dt++) {
                    int w = cases[c][0], rows = cases[c][1], kc = cases[c][2], kpad = cases[c][3];
                    const void *from = dt ? (const void *)src16 : (const void *)src;
                    ptrdiff_t rs = strides[st][0], ks = strides[st][1];
                    n = (size_t)w * kpad;
                    memset(want, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
                    memset(got, 0xAB, (n + GUARD_WORDS) * sizeof(uint16_t));
                    it__bgemm_pack_pairs_portable(want, src, 0, rs, ks, rows, kc, kpad, w);
                    im->pairs(got, from, dt, rs, ks, rows, kc, kpad, w);
                    CHECK(memcmp(want, got, (n + GUARD_WORDS) * sizeof(uint16_t)) == 0,
                          "%s pack_pairs (%s source) w=%d rows=%d kc=%d kpad=%d rs=%ld ks=%ld differs from the portable one (or wrote past)",
                          it__bf16_level_names[im->level], dt ? "bf16" : "fp32", w, rows, kc, kpad, (long)rs, (long)ks);
                    memset(want_f, 0xAB, (n + GUARD_WORDS) * sizeof(float));
                    memset(got_f, 0xAB, (n + GUARD_WORDS) * sizeof(float));
                    it__bgemm_pack_wide_portable(want_f, src, 0, rs, ks, rows, kc, kpad, w);
                    im->wide(got_f, from, dt, rs, ks, rows, kc, kpad, w);
                    CHECK(memcmp(want_f, got_f, (n + GUARD_WORDS) * sizeof(float)) == 0,
                          "%s pack_wide (%s source) w=%d rows=%d kc=%d kpad=%d rs=%ld ks=%ld differs from the portable one (or wrote past)",
                          it__bf16_level_names[im->level], dt ? "bf16" : "fp32", w, rows, kc, kpad, (long)rs, (long)ks);
                }
        printf("  bf16 packing and conversion, %s vs portable, fp32 and bf16 sources: %s\n", it__bf16_level_names[im->level],
               it_test_failed == before ? "ok" : "FAILED");
    }
    free(src), free(src16), free(want), free(got), free(want_f), free(got_f);
#endif
}

/* The mode through a graph: y = x W^T is the product of the rounded operands (an ignored mode
   would give the fp32 product, which differs from it by far more than the tolerance here). */
static void test_matmul_node(void) {
    it_context *ctx = it_test_context(2);
    it_tensor *w = it_param(ctx, "w", 2, (int[]){24, 40}), *x, *y;
    it_graph *g = it_graph_create(ctx);
    double worst = 0.0, moved = 0.0;
    int i, j, k;
    x = it_input(g, "x", IT_F32, 2, (int[]){10, 40});
    y = it_keep(it_matmul(g, x, w, 0, 1));
    CHECK(it_graph_plan(g) == IT_OK, "plan: %s", it_context_last_error(ctx));
    it_test_fill(it_data(w), 24 * 40, 1.0f);
    it_test_fill(it_data(x), 10 * 40, 1.0f);
    CHECK(it_context_compute_dtype(ctx) == IT_F32, "the default compute dtype is f32");
    CHECK(it_context_set_compute_dtype(ctx, IT_BF16) == IT_OK, "set bf16: %s", it_context_last_error(ctx));
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_OK, "run: %s", it_context_last_error(ctx));
    for (i = 0; i < 10; i++)
        for (j = 0; j < 24; j++) {
            double s = 0, t = 0, f = 0;
            for (k = 0; k < 40; k++) {
                double p = bf16_round(it_data(x)[i * 40 + k]) * bf16_round(it_data(w)[j * 40 + k]);
                s += p, t += fabs(p), f += (double)it_data(x)[i * 40 + k] * it_data(w)[j * 40 + k];
            }
            worst = IT__MAX(worst, fabs(it_data(y)[i * 24 + j] - s) / (2.0 * 42 * FLT_EPSILON * t));
            moved = IT__MAX(moved, fabs(f - s));
        }
    CHECK(worst <= 1.0, "bf16 matmul node: error %.3g of the tolerance", worst);
    CHECK(moved > 1e-3, "the test's operands are not all bf16 values (max |fp32 - bf16 product| %.3g)", moved);
    CHECK(it_context_set_compute_dtype(ctx, IT_I32) == IT_ERR_INVALID_ARGUMENT, "i32 is no compute dtype");
    CHECK(strstr(it_context_last_error(ctx), "i32") != NULL, "the refusal names the dtype: %s", it_context_last_error(ctx));
    CHECK(it_context_compute_dtype(ctx) == IT_BF16, "a refused set changes nothing");
    it_context_destroy(ctx);
}

/* A backend that has only fp32 products refuses a bf16 run instead of silently running fp32. */
static void free_backend(it_backend *be) { free(be); }
static void test_backend_refusal(void) {
    it_context *ctx = it_test_context(1);
    it_backend *be = (it_backend *)malloc(sizeof *be);
    it_tensor *w = it_param(ctx, "w", 2, (int[]){4, 4}), *x;
    it_graph *g;
    it_context_desc d;
    it_context *bad = NULL;
    *be = *it_context_backend(ctx);
    be->name = "fp32-only";
    be->destroy = free_backend;
    be->bf16_compute = 0;
    it_context_set_backend(ctx, be);
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){2, 4});
    it_keep(it_matmul(g, x, w, 0, 1));
    CHECK(it_graph_plan(g) == IT_OK, "plan: %s", it_context_last_error(ctx));
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_OK, "an fp32 run on it: %s", it_context_last_error(ctx));
    it_context_set_compute_dtype(ctx, IT_BF16);
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_ERR_UNSUPPORTED, "a bf16 run on an fp32-only backend is refused");
    CHECK(strstr(it_context_last_error(ctx), "fp32-only") && strstr(it_context_last_error(ctx), "bf16"),
          "the refusal names the backend and bf16: %s", it_context_last_error(ctx));
    it_context_destroy(ctx);
    memset(&d, 0, sizeof d);
    d.compute_dtype = IT_I32;
    CHECK(it_context_create(&d, &bad) == IT_ERR_INVALID_ARGUMENT && bad == NULL, "a desc with compute_dtype i32 is refused");
    d.compute_dtype = IT_BF16;
    d.logger.log = it_test_quiet_log;
    CHECK(it_context_create(&d, &bad) == IT_OK && it_context_compute_dtype(bad) == IT_BF16, "desc.compute_dtype = bf16");
    it_context_destroy(bad);
}

/* A small Llama (GQA, untied head, SwiGLU, RoPE) through the training graph in both modes. The
   stated tolerances: the loss within 1% (bf16 keeps 8 bits of each operand); the gradient block
   within 5% of its norm and at cosine >= 0.998 of the fp32 one; and a few directional finite
   differences of the fp32 loss (double-sided, step 1e-2 along the normalised gradient... of the
   bf16 mode) within 5% of the bf16 mode's directional derivative. */
static void test_model_gradients(void) {
    it_context *ctx = it_test_context(2);
    it_model_config cfg = it_test_llama();
    it_model *m = NULL;
    it_model_graph mg;
    size_t n, i;
    float *g32, *g16, *p, *p0;
    double loss32, loss16, norm16;
    int t, dir;
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK, "model: %s", it_context_last_error(ctx));
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 16, &mg) == IT_OK, "graph: %s", it_context_last_error(ctx));
    it_model_init(m, 3);
    for (t = 0; t < 32; t++) it_data_i32(mg.tokens)[t] = it_test_below(cfg.vocab_size), it_data_i32(mg.targets)[t] = it_test_below(cfg.vocab_size);
    n = it_grad_numel(ctx);
    g32 = (float *)malloc(n * sizeof(float)), g16 = (float *)malloc(n * sizeof(float));
    it_zero_grads(ctx);
    it_graph_run(mg.graph, IT_RUN_FORWARD_BACKWARD);
    loss32 = it_data(mg.loss)[0];
    memcpy(g32, it_grad_block(ctx), n * sizeof(float));
    it_context_set_compute_dtype(ctx, IT_BF16);
    it_zero_grads(ctx);
    CHECK(it_graph_run(mg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16 run: %s", it_context_last_error(ctx));
    loss16 = it_data(mg.loss)[0];
    memcpy(g16, it_grad_block(ctx), n * sizeof(float));
    norm16 = it_test_check_bf16_grads("bf16 mode", loss16, loss32, g16, g32, n);
    /* directional finite differences of the fp32 loss: along the bf16 gradient, and along two
       random directions; the parameter block and the gradient block share one layout here (every
       parameter trainable) */
    it_context_set_compute_dtype(ctx, IT_F32);
    p = it_param_block(ctx);
    p0 = (float *)malloc(n * sizeof(float));
    CHECK(it_param_numel(ctx) == n, "parameter and gradient blocks alike");
    memcpy(p0, p, n * sizeof(float));
    for (dir = 0; dir < 3; dir++) {
        double h = 1e-2, norm = 0, lp, lm, fd, an = 0;
        float *u = (float *)malloc(n * sizeof(float));
        for (i = 0; i < n; i++) u[i] = dir == 0 ? g16[i] : it_test_signed() * (g16[i] != 0.0f), norm += (double)u[i] * u[i];
        for (i = 0; i < n; i++) u[i] = (float)(u[i] / sqrt(norm)), an += (double)u[i] * g16[i];
        for (i = 0; i < n; i++) p[i] = (float)(p0[i] + h * u[i]);
        it_graph_run(mg.graph, IT_RUN_FORWARD);
        lp = it_data(mg.loss)[0];
        for (i = 0; i < n; i++) p[i] = (float)(p0[i] - h * u[i]);
        it_graph_run(mg.graph, IT_RUN_FORWARD);
        lm = it_data(mg.loss)[0];
        fd = (lp - lm) / (2 * h);
        CHECK(fabs(fd - an) <= 0.05 * norm16 + 1e-4, "direction %d: finite difference %.6g, bf16 gradient %.6g (|g| %.4g)", dir, fd,
              an, norm16);
        memcpy(p, p0, n * sizeof(float));
        free(u);
    }
    free(g32), free(g16), free(p0);
    it_context_destroy(ctx);
}

/* The parameters' bf16 copy (it__param_bf16) is made per graph run: after an optimizer update, and
   after the caller writes the parameter block, a forward gives the same loss bit for bit as a fresh
   context holding those parameters (whose first run must convert them). A copy kept from the
   run before the change would give the old weights' loss, which the update moves. */
static void test_param_copy_fresh(void) {
    it_context *ctx[2];
    it_model_config cfg = it_test_llama();
    it_model *m[2];
    it_model_graph mg[2];
    it_optimizer_desc od;
    it_optimizer *opt = NULL;
    double before, after[2];
    size_t n, i;
    int c, t, change;
    for (c = 0; c < 2; c++) {
        ctx[c] = it_test_context(2);
        CHECK(it_model_create(ctx[c], &cfg, &m[c]) == IT_OK && it_model_graph_create(m[c], IT_PURPOSE_TRAIN, 2, 16, &mg[c]) == IT_OK,
              "model: %s", it_context_last_error(ctx[c]));
        it_model_init(m[c], 3);
        it_context_set_compute_dtype(ctx[c], IT_BF16);
        for (t = 0; t < 32; t++) it_data_i32(mg[c].tokens)[t] = (t * 7 + 3) % cfg.vocab_size, it_data_i32(mg[c].targets)[t] = (t * 5 + 1) % cfg.vocab_size;
    }
    n = it_param_numel(ctx[0]);
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    CHECK(it_optimizer_create(ctx[0], &od, &opt) == IT_OK, "optimizer: %s", it_context_last_error(ctx[0]));
    it_zero_grads(ctx[0]);
    CHECK(it_graph_run(mg[0].graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16 step: %s", it_context_last_error(ctx[0]));
    before = it_data(mg[0].loss)[0];
    for (change = 0; change < 2; change++) {
        if (change == 0) CHECK(it_optimizer_step(opt, 1e-2f, 1.0f, NULL) == IT_OK, "update: %s", it_context_last_error(ctx[0]));
        else
            for (i = 0; i < n; i++) it_param_block(ctx[0])[i] *= 0.75f; /* the caller's write */
        memcpy(it_param_block(ctx[1]), it_param_block(ctx[0]), n * sizeof(float));
        for (c = 0; c < 2; c++) {
            CHECK(it_graph_run(mg[c].graph, IT_RUN_FORWARD) == IT_OK, "forward: %s", it_context_last_error(ctx[c]));
            after[c] = it_data(mg[c].loss)[0];
        }
        CHECK(after[0] != before, "%s: the loss moved (%.9g before and after)", change ? "a write" : "an update", before);
        CHECK(after[0] == after[1], "after %s the forward reads a stale bf16 copy: loss %.9g, fresh context %.9g",
              change ? "a write to the parameters" : "an optimizer update", after[0], after[1]);
        before = after[0];
    }
    for (c = 0; c < 2; c++) it_context_destroy(ctx[c]);
}

/* Weights kept in bf16 (it_optimizer_desc.bf16_weights): after every update each parameter is a
   bf16 value; the rounding is unbiased (the mean of many roundings of one value is that value, to
   the statistical error: 1 + 1/3 of a bf16 step over 65536 indices, 4 standard errors allowed);
   the same run on 1 and 2 threads gives the same bits. */
static int is_bf16_value(float x) { return it_bf16_to_f32(it_f32_to_bf16(x)) == x; }
static void sr_run(int threads, float *out, size_t *n_out) {
    it_context *ctx = it_test_context(threads);
    it_tensor *w = it_param(ctx, "w", 2, (int[]){256, 300}), *x;
    it_graph *g = it_graph_create(ctx);
    it_optimizer_desc od;
    it_optimizer *opt = NULL;
    int step;
    size_t i, n = 256 * 300, not_bf16 = 0;
    x = it_input(g, "x", IT_F32, 2, (int[]){8, 300});
    it_graph_backward(g, it_mean(g, it_mul(g, it_matmul(g, x, w, 0, 1), it_matmul(g, x, w, 0, 1))));
    CHECK(it_graph_plan(g) == IT_OK, "plan: %s", it_context_last_error(ctx));
    it_param_init_normal(ctx, 0.02f, 5);
    it_params_round_bf16(ctx);
    for (i = 0; i < n; i++) not_bf16 += !is_bf16_value(it_data(w)[i]);
    CHECK(not_bf16 == 0, "it_params_round_bf16 left %zu values that are not bf16", not_bf16);
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW, od.bf16_weights = 1;
    CHECK(it_optimizer_create(ctx, &od, &opt) == IT_OK, "optimizer: %s", it_context_last_error(ctx));
    it_context_set_compute_dtype(ctx, IT_BF16);
    for (step = 0; step < 3; step++) {
        for (i = 0; i < 8 * 300; i++) it_data(x)[i] = (float)((i * 37 + (size_t)step * 11) % 101) / 50.0f - 1.0f;
        it_zero_grads(ctx);
        it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
        CHECK(it_optimizer_step(opt, 1e-3f, 1.0f, NULL) == IT_OK, "step: %s", it_context_last_error(ctx));
    }
    for (i = 0; i < n; i++) not_bf16 += !is_bf16_value(it_data(w)[i]);
    CHECK(not_bf16 == 0, "after 3 updates %zu of %zu weights are not bf16 values", not_bf16, n);
    memcpy(out, it_data(w), n * sizeof(float));
    *n_out = n;
    od.bf16_weights = 2;
    CHECK(it_optimizer_create(ctx, &od, &opt) == IT_ERR_INVALID_ARGUMENT, "bf16_weights 2 is refused");
    it_context_destroy(ctx);
}
static void test_stochastic_rounding(void) {
    static float w1[256 * 300], w2[256 * 300], v[65536];
    size_t n1, n2, i, strays = 0;
    double mean = 0, step = 1.0 / 128, x = 1.0 + step / 3, up = 0;
    sr_run(1, w1, &n1);
    sr_run(2, w2, &n2);
    CHECK(n1 == n2 && memcmp(w1, w2, n1 * sizeof(float)) == 0, "bf16 weights on 1 and 2 threads differ");
    for (i = 0; i < 65536; i++) v[i] = (float)x;
    it__round_bf16_stochastic(v, 65536, 7, 0);
    for (i = 0; i < 65536; i++) {
        strays += v[i] != 1.0f && v[i] != (float)(1.0 + step);
        if (v[i] != 1.0f) up++;
        mean += v[i];
    }
    CHECK(strays == 0, "%zu roundings of %.9g went to neither bf16 neighbour", strays, x);
    mean /= 65536;
    CHECK(fabs(mean - x) <= 4 * step * sqrt((1.0 / 3) * (2.0 / 3) / 65536), "stochastic rounding mean %.9g, value %.9g", mean, x);
    CHECK(up > 0 && up < 65536, "both neighbours occur (%g of 65536 up)", up);
}

/* trainer_state.json keeps the run's precision (so --resume continues in bf16): compute_dtype and
   the optimizer's bf16_weights round trip; out-of-range values are refused by the check. */
static void test_trainer_state_fields(void) {
    it_context *ctx = it_test_context(1);
    it_model_config cfg = it_test_llama();
    it_model *m = NULL;
    it_optimizer *opt = NULL;
    it_optimizer_desc od;
    it_trainer_state ts, back;
    char dir[256];
    it_test_tmp_path(dir, sizeof dir, "bf16_ckpt");
    it_test_remove_tree(dir);
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_LION, od.bf16_weights = 1;
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK && it_model_init(m, 1) == IT_OK && it_optimizer_create(ctx, &od, &opt) == IT_OK,
          "setup: %s", it_context_last_error(ctx));
    memset(&ts, 0, sizeof ts);
    ts.batch = 2, ts.seq = 8, ts.accum_steps = 1, ts.seed = 3, ts.best_val_loss = NAN;
    ts.optimizer = opt->desc;
    ts.schedule.kind = IT_SCHEDULE_COSINE, ts.schedule.base_lr = 1e-3f, ts.schedule.total_steps = 10;
    it_rng_seed(&ts.data_rng, 1);
    it_rng_seed(&ts.rng, 2);
    ts.compute_dtype = IT_BF16;
    CHECK(it_checkpoint_save(ctx, m, opt, &ts, dir, NULL) == IT_OK, "save: %s", it_context_last_error(ctx));
    memset(&back, 0, sizeof back);
    CHECK(it_checkpoint_read_trainer_state(ctx, dir, &back) == IT_OK, "read: %s", it_context_last_error(ctx));
    CHECK(back.compute_dtype == IT_BF16 && back.optimizer.bf16_weights == 1, "compute_dtype %d, bf16_weights %d read back",
          (int)back.compute_dtype, back.optimizer.bf16_weights);
    ts.compute_dtype = IT_F32, ts.optimizer.bf16_weights = 0;
    CHECK(it_checkpoint_save(ctx, m, NULL, &ts, dir, NULL) == IT_OK, "save f32: %s", it_context_last_error(ctx));
    CHECK(it_checkpoint_read_trainer_state(ctx, dir, &back) == IT_OK && back.compute_dtype == IT_F32 && !back.optimizer.bf16_weights,
          "an f32 run reads back as f32");
    ts.compute_dtype = IT_I32;
    CHECK(it_trainer_state_check(ctx, &ts) == IT_ERR_RANGE && strstr(it_context_last_error(ctx), "compute_dtype"),
          "compute_dtype i32 is refused: %s", it_context_last_error(ctx));
    ts.compute_dtype = IT_BF16, ts.optimizer.bf16_weights = 5;
    CHECK(it_trainer_state_check(ctx, &ts) == IT_ERR_RANGE && strstr(it_context_last_error(ctx), "bf16_weights"),
          "bf16_weights 5 is refused: %s", it_context_last_error(ctx));
    it_test_remove_tree(dir);
    it_context_destroy(ctx);
}

int main(void) {
    printf("bf16 kernel on this CPU: %s\n", it_bf16_kernel_name());
    test_products();
    test_packing();
    test_packing_wide();
    test_matmul_node();
    test_backend_refusal();
    test_model_gradients();
    test_param_copy_fresh();
    test_stochastic_rounding();
    test_trainer_state_fields();
    return it_test_finish();
}
