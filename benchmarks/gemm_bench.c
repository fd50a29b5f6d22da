/* gemm_bench.c - GFLOP/s of IronTensor's SGEMM (it__gemm: the blocked kernels behind it_cpu_matmul
   and the CPU backend, threaded by the library's pool) on the `tiny` Llama's matmul shapes (dim 256, ffn 512, vocab 32000 in 1024-row
   chunks, batch 16 x seq 256 = 4096 rows), 1 and 2 threads, with OpenBLAS's cblas_sgemm beside it
   when built with -DIT_BENCH_OPENBLAS (a comparison only, never a dependency; `make bench` adds it
   when libopenblas-dev is installed).
     cc -O2 -std=c99 -I. benchmarks/gemm_bench.c -lm -lpthread                                   (ours only)
     cc -O2 -std=c99 -I. -DIT_BENCH_OPENBLAS benchmarks/gemm_bench.c -lopenblas -lm -lpthread    (side by side)
   IT_SGEMM_ISA=1|2|3 forces the generic / AVX2 / AVX-512 kernel; OPENBLAS_CORETYPE picks OpenBLAS's.
   Flags: --threads T (max threads, default 2), --secs S (length of one timed batch, default 0.15),
   --only TEXT (shapes whose name contains TEXT),
   --reps R (batches per measurement, best one kept, default 5; a shared 2-core VM is noisy),
   --dtype bf16 (our columns are then the bf16 product, it__gemm_bf16, with both operands already
   bf16 as the step's weights and dlogits are; OpenBLAS's stay fp32).
   Ends with one line: gemm min_ratio=X mean_ratio=Y (ours / OpenBLAS at the widest thread count). */
#define _POSIX_C_SOURCE 200809L
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include <time.h>
#ifdef IT_BENCH_OPENBLAS
#include <cblas.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Ours is the library's own threaded matmul (it__gemm: its thread pool, its rule for when a
   product is worth splitting), run through a context with the wanted number of threads. */
typedef struct shape {
    const char *name;
    int M, N, K, ta, tb;
} shape;
static struct {
    it_context *ctx[65]; /* by thread count */
    float *c;
    const float *a, *b;
    const uint16_t *a16, *b16; /* the same values in bf16, for --dtype bf16 */
    int bf16;
    shape s;
} pool;
static void ours(int n_threads) {
    if (pool.bf16)
        it__gemm_bf16(pool.ctx[n_threads], pool.c, it__bgemm_bf16(pool.a16, 0), it__bgemm_bf16(pool.b16, 0), pool.s.M, pool.s.N,
                      pool.s.K, pool.s.ta, pool.s.tb, 0);
    else it__gemm(pool.ctx[n_threads], pool.c, pool.a, pool.b, pool.s.M, pool.s.N, pool.s.K, pool.s.ta, pool.s.tb, 0);
}
#ifdef IT_BENCH_OPENBLAS
static void theirs(int n_threads) {
    shape s = pool.s;
    (void)n_threads;
    cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.M, s.N, s.K, 1.0f,
                pool.a, s.ta ? s.M : s.K, pool.b, s.tb ? s.K : s.N, 0.0f, pool.c, s.N);
}
#endif

static int reps = 5; /* timed batches per measurement, the best kept */

/* calls of fn(n_threads) per second: the best of several timed batches, each at least `secs` long */
static double calls_per_second(void (*fn)(int), int n_threads, double secs) {
    double best = 0;
    int rep;
    fn(n_threads); /* warm caches and packing buffers */
    for (rep = 0; rep < reps; rep++) {
        int iters = 0;
        double t0 = now(), t;
        do fn(n_threads), iters++;
        while ((t = now() - t0) < secs);
        if (iters / t > best) best = iters / t;
    }
    return best;
}
static double gflops(void (*fn)(int), int n_threads, double secs) {
    return 2.0 * pool.s.M * pool.s.N * pool.s.K * calls_per_second(fn, n_threads, secs) * 1e-9;
}

/* Memory read bandwidth over the decode's bytes (the tiny model's 43 MB of f32 weights): a decoded
   token reads every weight once, so this bounds decode speed, and it varies with the host's load. */
static struct { const float *x; size_t n; float sums[64]; } read_job;
static void read_part(void *arg, int part, int n_parts) {
    size_t i0, i1;
    (void)arg;
    it__split(read_job.n, part, n_parts, &i0, &i1);
    read_job.sums[part] = it__vmax(read_job.x + i0, (int)(i1 - i0)); /* the library's vector max: a pure read */
}
static void read_all(int n_threads) { it__pool_run(&pool.ctx[n_threads]->pool, read_part, NULL, n_threads); }

int main(int argc, char **argv) {
    static const shape shapes[] = {
        {"fwd qkvo  x@W^T  [4096,256]x[256,256]^T", 4096, 256, 256, 0, 1},
        {"fwd up    x@W^T  [4096,256]x[512,256]^T", 4096, 512, 256, 0, 1},
        {"fwd down  x@W^T  [4096,512]x[256,512]^T", 4096, 256, 512, 0, 1},
        {"bwd dX    dY@W   [4096,256]x[256,256]", 4096, 256, 256, 0, 0},
        {"bwd dX up dY@W   [4096,512]x[512,256]", 4096, 256, 512, 0, 0},
        {"bwd dX dn dY@W   [4096,256]x[256,512]", 4096, 512, 256, 0, 0},
        {"bwd dW    dY^T@X [256,4096]x[4096,256]", 256, 256, 4096, 1, 0},
        {"bwd dW up dY^T@X [512,4096]x[4096,256]", 512, 256, 4096, 1, 0},
        {"bwd dW dn dY^T@X [256,4096]x[4096,512]", 256, 512, 4096, 1, 0},
        {"head fwd  x@W^T  [4096,256]x[1024,256]^T", 4096, 1024, 256, 0, 1},
        {"head dX   dL@W   [4096,1024]x[1024,256]", 4096, 256, 1024, 0, 0},
        {"head dW   dL^T@X [1024,4096]x[4096,256]", 1024, 256, 4096, 1, 0},
        {"decode    x@W^T  [1,256]x[512,256]^T", 1, 512, 256, 0, 1},
        {"decode hd x@W^T  [1,256]x[32000,256]^T", 1, 32000, 256, 0, 1},
        {"prompt    x@W^T  [20,256]x[512,256]^T", 20, 512, 256, 0, 1},
    };
    int max_threads = 2, i, t, ratio_n = 0;
    double ratio_min = 0.0, ratio_sum = 0.0;
    double secs = 0.15;
    const char *only = NULL;
    size_t cap = (size_t)32000 * 256;
    float *a, *b, *c;
    uint16_t *a16, *b16;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) max_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--secs") && i + 1 < argc) secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && (!strcmp(argv[i + 1], "f32") || !strcmp(argv[i + 1], "bf16")))
            pool.bf16 = !strcmp(argv[++i], "bf16");
        else {
            fprintf(stderr, "gemm_bench: unknown or incomplete flag %s\n", argv[i]);
            return 2;
        }
    }
    if (getenv("IT_SGEMM_ISA")) it__sgemm_force_isa = atoi(getenv("IT_SGEMM_ISA")); /* 1 generic, 2 avx2, 3 avx512 */
    if (max_threads < 1) max_threads = 1;
    if (max_threads > 64) max_threads = 64;
    /* 64-byte aligned, like the library's parameter and arena blocks */
    if (posix_memalign((void **)&a, 64, cap * sizeof(float)) || posix_memalign((void **)&b, 64, cap * sizeof(float)) ||
        posix_memalign((void **)&c, 64, cap * sizeof(float)))
        return 1;
    for (i = 0; i < (int)cap; i++) a[i] = (float)((i * 37) % 101) * 0.01f - 0.5f, b[i] = (float)((i * 53) % 97) * 0.01f - 0.5f;
    a16 = (uint16_t *)malloc(cap * sizeof(uint16_t)), b16 = (uint16_t *)malloc(cap * sizeof(uint16_t));
    if (!a16 || !b16) return 1;
    it_f32_to_bf16_array(a16, a, cap), it_f32_to_bf16_array(b16, b, cap);
    pool.a = a, pool.b = b, pool.c = c, pool.a16 = a16, pool.b16 = b16;
    for (t = 1; t <= max_threads; t *= 2) {
        it_context_desc cd;
        memset(&cd, 0, sizeof cd);
        cd.n_threads = t;
        if (it_context_create(&cd, &pool.ctx[t]) != IT_OK) return 1;
    }
    if (pool.bf16) printf("kernel: bf16 %s (both operands bf16, fp32 sums; OpenBLAS fp32)\n", it_bf16_kernel_name());
    else printf("kernel: %s\n", it__sgemm_pick_isa().name);
    printf("%-42s", "shape (M x N x K), GFLOP/s");
    for (t = 1; t <= max_threads; t *= 2) {
#ifdef IT_BENCH_OPENBLAS
        printf(" | %dT ours  OpenBLAS  ratio", t);
#else
        printf(" | %dT ours", t);
#endif
    }
    printf("\n");
    for (i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        if (only && !strstr(shapes[i].name, only)) continue;
        pool.s = shapes[i];
        printf("%-42s", shapes[i].name);
        fflush(stdout);
        for (t = 1; t <= max_threads; t *= 2) {
            double g_ours = gflops(ours, t, secs);
#ifdef IT_BENCH_OPENBLAS
            {
                double g_blas;
                openblas_set_num_threads(t);
                g_blas = gflops(theirs, t, secs);
                printf(" | %8.1f %8.1f %6.0f%%", g_ours, g_blas, 100.0 * g_ours / g_blas);
                if (t * 2 > max_threads) {
                    ratio_min = ratio_n == 0 || g_ours / g_blas < ratio_min ? g_ours / g_blas : ratio_min;
                    ratio_sum += g_ours / g_blas;
                    ratio_n++;
                }
            }
#else
            printf(" | %8.1f", g_ours);
#endif
            fflush(stdout);
        }
        printf("\n");
    }
    if (!only) {
        size_t n = cap + (size_t)2621440; /* 32000 x 256 head + 4 layers' 655,360 weights */
        float *w;
        if (posix_memalign((void **)&w, 64, n * sizeof(float))) return 1;
        for (i = 0; i < (int)n; i++) w[i] = 1.0f;
        printf("%-42s", "memory read, 43 MB (decode's weights) GB/s");
        read_job.x = w, read_job.n = n;
        for (t = 1; t <= max_threads; t *= 2) printf(" | %8.1f", n * 4.0 * calls_per_second(read_all, t, secs) * 1e-9);
        printf("\n");
        free(w);
    }
    if (ratio_n) printf("%s min_ratio=%.2f mean_ratio=%.2f\n", pool.bf16 ? "gemm_bf16 (ours bf16 / OpenBLAS fp32)" : "gemm", ratio_min,
                        ratio_sum / ratio_n);
    else printf("gemm: OpenBLAS not built in (install libopenblas-dev for the side-by-side)\n");
    for (t = 1; t <= max_threads; t *= 2) it_context_destroy(pool.ctx[t]);
    free(a), free(b), free(c), free(a16), free(b16);
    return 0;
}
