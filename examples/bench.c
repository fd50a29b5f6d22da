/* bench.c - IronTensor's benchmark protocol on the CPU backend (interleaved repetitions, median and spread, the fraction of the machine's limit).

   `tiny` Llama preset, fp32, random token ids, Lion (lr 3e-4, betas 0.9/0.99, wd 0.1), clip 1.0,
   cosine schedule with 5 warmup steps; 5 warmup steps are discarded, then N timed steps. Prints the
   training table (avg step ms, tokens/s, true peak RSS = getrusage ru_maxrss), the inference table
   (time to first token and decode tokens/s for 5- and 20-token prompts, 100 greedy tokens through
   the KV-cache decoder), the planned arena, and one machine-readable line:
     bench step_ms=X tok_s=Y peak_rss_mb=Z arena_mb=A decode_tok_s=D
   Between the timed steps (A B A B ...) it times the step's own matrix products alone on the same
   buffers (the GEMM benchmark on the same shapes) and the SGEMM micro-kernel on cache-resident
   panels (the machine's measured limit), and prints the step's achieved GFLOP/s against both:
     bench_flops model_gflop=F executed_gflop=E step_median_ms=S step_min_ms=.. step_max_ms=..
                 gflops=G gemm_gflops=M gemm_min=.. gemm_max=.. ratio=G/M peak_gflops=P peak_frac=G/P
   --dtype bf16 runs the step in bf16 mixed precision (it_context_set_compute_dtype) and adds
     bench_bf16 kernel=K step_ms=X tok_s=Y peak_rss_mb=Z step_gflops=G gemm_bf16_gflops=M frac_of_gemm=G/M
                kernel_gflops=B sgemm_kernel_gflops=P kernel_frac_of_2x_sgemm=B/2P gemm_frac_of_kernel=M/B
   (M: the step's own products timed alone, in bf16; B: the bf16 micro-kernel on L1-resident panels,
   whose ceiling is 2P where VDPBF16PS issues at the FMA's rate; Z, like the training table's peak
   RSS, is read before the pairs; peak_gflops in bench_flops is then B) and, after the timed steps, as many pairs of
   steps alternating fp32 and bf16 in this process:
     bench_bf16_pairs pairs=P f32_ms=.. bf16_ms=.. ratio=R ratio_min=.. ratio_max=..
   (benchmarks/bf16_bench.sh runs it between our fp32 bench and PyTorch's bf16 autocast); --pairs N
   sets their number (default steps | 1, 0 = none: a profile of the bf16 steps alone).
   Then (unless --no-quant) the quantised-decode table: tokens/s at f32, bf16, Q8_0 and Q4_0 for
   `tiny` and SmolLM2-135M's shape, on one thread and on --threads, against the bound read
   bandwidth / weight bytes per token, and per model one line
     bench_quant model=NAME bw_gbs=B f32_tok_s=.. bf16_tok_s=.. q8_0_tok_s=.. q4_0_tok_s=.. q8_0_bound_frac=.. q4_0_bound_frac=..
   With --backend cuda the training step and the inference table run on the GPU, and the
   quantised-decode table is the GPU decoder's instead (cuda_decode_bench: bench_cuda_decode lines).

     cc -O2 -std=c99 -Wall -I. examples/bench.c -o build/bench -lm -lpthread
     build/bench [--quick] [--steps N] [--warmup N] [--vocab V] [--batch B] [--seq T] [--threads K] [--gen N] [--no-recompute] [--no-quant]
                 [--dtype f32|bf16 [--pairs N]] [--bf16-kernel portable|avx2|avx512f|avx512bf16|amx]
*/
#define _POSIX_C_SOURCE 200809L /* clock_gettime, getrusage under -std=c99 */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#define IRONTENSOR_METAL_IMPLEMENTATION
#include "irontensor_metal.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "irontensor_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
static int arg_int(int argc, char **argv, int *i, const char *name) {
    char *end;
    long v;
    if (*i + 1 >= argc) {
        fprintf(stderr, "bench: %s needs a value\n", name);
        exit(2);
    }
    v = strtol(argv[++*i], &end, 10);
    if (*end || v < 0 || v > 1000000) {
        fprintf(stderr, "bench: %s: '%s' is not a non-negative integer\n", name, argv[*i]);
        exit(2);
    }
    return (int)v;
}

/* Greedy generation of n_gen tokens after a prompt: returns time to first token and the decode
   rate of the remaining tokens (it_decoder_next: on Metal the pick runs on the GPU, one wait a
   token). */
static it_result generate(it_decoder *dec, const int32_t *prompt, int n_prompt, int n_gen, double *ttft_ms,
                          double *tok_s) {
    it_sampling greedy;
    int32_t tok, in;
    int i;
    double t0, t1, t2;
    it_result r;
    memset(&greedy, 0, sizeof greedy);
    it_decoder_reset(dec);
    t0 = now_seconds();
    if ((r = it_decoder_next(dec, prompt, n_prompt, &greedy, NULL, &tok)) != IT_OK) return r;
    t1 = now_seconds();
    for (i = 1; i < n_gen; i++) {
        in = tok;
        if ((r = it_decoder_next(dec, &in, 1, &greedy, NULL, &tok)) != IT_OK) return r;
    }
    t2 = now_seconds();
    *ttft_ms = (t1 - t0) * 1e3;
    *tok_s = n_gen > 1 ? (n_gen - 1) / (t2 - t1) : 0.0;
    return IT_OK;
}

/* ---- quantised decode: tokens/s at f32, bf16, Q8_0 and Q4_0 against the memory-bandwidth bound --
   Decode reads every projection and the head once per token, so tokens/s can at most reach
   read bandwidth / weight bytes per token (it_decoder_weight_bytes). The bandwidth is measured here,
   in the same run and with the same threads: each thread sums its share of a buffer far larger
   than the caches, in two patterns, the hardware prefetcher alone and with software prefetches
   1 KB ahead as the quantised products make (>>quant's IT__QPREFETCH); the best of a few passes
   of each is what the memory system gives a streaming read, so the bound is the stronger one. */
typedef struct bw_part { const uint64_t *p; size_t n; uint64_t sum; int prefetch; } bw_part;
static void *bw_read(void *arg) {
    bw_part *b = (bw_part *)arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i;
    for (i = 0; i + 8 <= b->n; i += 8) { /* eight independent sums: loads, not adds, set the pace */
        if (b->prefetch) __builtin_prefetch(b->p + i + 128); /* one 64-byte line, 1 KB ahead */
        s0 += b->p[i], s1 += b->p[i + 1], s2 += b->p[i + 2], s3 += b->p[i + 3];
        s4 += b->p[i + 4], s5 += b->p[i + 5], s6 += b->p[i + 6], s7 += b->p[i + 7];
    }
    b->sum = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    return NULL;
}
static double read_bandwidth_gbs(int threads, int passes) {
    enum { MAX_T = 64 };
    size_t bytes = (size_t)512 << 20, n = bytes / 8, i;
    uint64_t *buf = (uint64_t *)malloc(bytes);
    pthread_t th[MAX_T];
    bw_part parts[MAX_T];
    double best = 0.0;
    int p, t;
    if (!buf || threads < 1 || threads > MAX_T) return 0.0;
    for (i = 0; i < n; i++) buf[i] = i; /* touch every page */
    for (p = 0; p < 2 * passes; p++) { /* the two patterns alternated */
        double t0 = now_seconds(), gbs;
        for (t = 0; t < threads; t++) {
            parts[t].p = buf + n / threads * t;
            parts[t].n = n / threads;
            parts[t].prefetch = p & 1;
            if (t) pthread_create(&th[t], NULL, bw_read, &parts[t]);
        }
        bw_read(&parts[0]);
        for (t = 1; t < threads; t++) pthread_join(th[t], NULL);
        gbs = bytes / (now_seconds() - t0) / 1e9;
        if (gbs > best) best = gbs;
        if (parts[0].sum == 42) printf(" "); /* keeps the sums alive */
    }
    free(buf);
    return best;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* Decode tokens/s of one decoder: a 5-token prompt, then n_gen greedy tokens, only those timed. */
static double decode_rate(it_decoder *dec, int n_gen) {
    static const int32_t prompt[5] = {1, 2, 3, 4, 5};
    double ttft, rate;
    if (generate(dec, prompt, 5, n_gen + 1, &ttft, &rate) != IT_OK) return 0.0;
    return rate;
}
/* The pool's cost per job (>>threads): the median wall time of an empty job on ctx's pool, which
   spins between jobs unless its context was made with spin_us < 0 (or contention switches it off
   during the measurement). A 135M decode token is 121 pool jobs (4 a layer and the head), so
   this times 121 is what dispatch adds to each token. */
static void empty_part(void *arg, int part, int n_parts) { (void)arg, (void)part, (void)n_parts; }
static double pool_job_us(it_context *ctx) {
    double t[7];
    int r, k;
    ctx->pool.spin_off_until = 0; /* measure the spinning protocol even if the table just switched it off */
    for (r = 0; r < 7; r++) {
        double t0 = now_seconds();
        for (k = 0; k < 500; k++) it__pool_run(&ctx->pool, empty_part, NULL, ctx->n_threads);
        t[r] = (now_seconds() - t0) / 500 * 1e6;
    }
    qsort(t, 7, sizeof(double), cmp_double);
    return t[3];
}
/* The table for one model shape and thread count; returns 0 on success. Repetitions interleave
   the four types (f32 bf16 q8_0 q4_0 f32 bf16 ...) so a change in the machine's load hits them all. */
#define N_QTYPES 4
static int quant_table(const char *name, const it_model_config *cfg, int threads, int reps, int n_gen, double *bw_out,
                       double *rate_out, double *frac_out) {
    static const it_weight_type types[N_QTYPES] = {IT_WEIGHT_F32, IT_WEIGHT_BF16, IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
    it_context_desc cd;
    it_context *ctx;
    it_model *model;
    it_decoder *dec[N_QTYPES];
    double rates[N_QTYPES][16], bw;
    unsigned signs;
    int t, r;
    memset(&cd, 0, sizeof cd);
    cd.n_threads = threads;
    if (it_context_create(&cd, &ctx) != IT_OK) return 1;
    if (it_model_create(ctx, cfg, &model) != IT_OK || it_model_init(model, 7) != IT_OK) {
        fprintf(stderr, "bench: %s: %s\n", name, it_context_last_error(ctx));
        return 1;
    }
    for (t = 0; t < N_QTYPES; t++) {
        it_decoder_desc dd;
        memset(&dd, 0, sizeof dd);
        dd.max_seq = 5 + n_gen + 2;
        dd.weights = types[t];
        if (it_decoder_create_ex(model, &dd, &dec[t]) != IT_OK) {
            fprintf(stderr, "bench: %s %s: %s\n", name, it_weight_type_name(types[t]), it_context_last_error(ctx));
            return 1;
        }
        decode_rate(dec[t], 2); /* page everything in */
    }
    bw = read_bandwidth_gbs(threads, 5);
    for (r = 0; r < reps; r++)
        for (t = 0; t < N_QTYPES; t++) rates[t][r] = decode_rate(dec[t], n_gen);
    signs = ctx->pool.contention_signs;
    for (t = 0; t < N_QTYPES; t++) {
        double mb = it_decoder_weight_bytes(dec[t]) / 1e6, bound = bw * 1e3 / mb, med;
        qsort(rates[t], (size_t)reps, sizeof(double), cmp_double);
        med = rates[t][reps / 2];
        printf("  %-12s %7d %-6s %10.1f %10.1f %7.1f-%-7.1f %10.1f %8.0f%%\n", name, threads, it_weight_type_name(types[t]), mb,
               med, rates[t][0], rates[t][reps - 1], bound, 100.0 * med / bound);
        rate_out[t] = med;
        frac_out[t] = med / bound;
        it_decoder_destroy(dec[t]);
    }
    *bw_out = bw;
    if (threads > 1) { /* the pool's dispatch, spinning and sleeping, alternated */
        it_context *sleeper;
        double spin_us[2], sleep_us[2];
        cd.spin_us = -1;
        if (it_context_create(&cd, &sleeper) != IT_OK) return 1;
        for (r = 0; r < 2; r++) spin_us[r] = pool_job_us(ctx), sleep_us[r] = pool_job_us(sleeper);
        printf("  %-12s %7d pool: an empty job %.1f us spinning, %.1f us sleeping (it_context_desc.spin_us < 0); "
               "spinning switched off %u times (contention) during the table\n", name, threads,
               spin_us[0] < spin_us[1] ? spin_us[0] : spin_us[1], sleep_us[0] < sleep_us[1] ? sleep_us[0] : sleep_us[1], signs);
        it_context_destroy(sleeper);
    }
    fflush(stdout);
    it_context_destroy(ctx);
    return 0;
}
/* tiny and SmolLM2-135M's shape (random weights), on one thread and on `threads`; the last line
   per model is bench_quant at `threads`. */
static int quant_bench(int threads, int quick) {
    it_model_config shapes[2];
    const char *names[2] = {"tiny", "smollm-135m"};
    int m, ti, reps = quick ? 3 : 7, n_gen = quick ? 16 : 48;
    it_model_preset("tiny", &shapes[0]);
    memset(&shapes[1], 0, sizeof shapes[1]);
    shapes[1].arch = IT_ARCH_LLAMA, shapes[1].vocab_size = 49152, shapes[1].dim = 576, shapes[1].n_layers = 30;
    shapes[1].n_heads = 9, shapes[1].n_kv_heads = 3, shapes[1].ffn_dim = 1536, shapes[1].max_seq = 2048;
    shapes[1].rope_theta = 100000.0f; /* SmolLM2-135M's config.json: tied, head dim 64 */
    printf("\nquantised decode (greedy, batch 1, %d tokens after a 5-token prompt, median of %d interleaved runs; kernels %s%s%s;\n"
           "bound = read bandwidth / weight bytes per token, bandwidth measured in this run with the same threads)\n",
           n_gen, reps, it_weights_isa(), it__quant_pick_isa().dot16_q4_0 ? ", Q4_0 two-group 512-bit pass" : "",
           !it__quant_pick_isa().interleave ? "" : it__quant_pick_isa().software_prefetch ? ", 1 KB software prefetches"
                                                                                          : ", hardware prefetcher only");
    printf("  %-12s %7s %-6s %10s %10s %15s %10s %9s\n", "model", "threads", "type", "MB/token", "tok/s", "min-max", "bound",
           "of bound");
    for (m = 0; m < 2; m++) {
        double bw = 0, rate[N_QTYPES], frac[N_QTYPES];
        int counts[2] = {1, threads};
        for (ti = threads > 1 ? 0 : 1; ti < 2; ti++) {
            if (quant_table(names[m], &shapes[m], counts[ti], reps, n_gen, &bw, rate, frac)) return 1;
            printf("  %-12s %7d read bandwidth %.1f GB/s\n", names[m], counts[ti], bw);
        }
        printf("bench_quant model=%s bw_gbs=%.1f f32_tok_s=%.1f bf16_tok_s=%.1f q8_0_tok_s=%.1f q4_0_tok_s=%.1f "
               "q8_0_bound_frac=%.2f q4_0_bound_frac=%.2f\n", names[m], bw, rate[0], rate[1], rate[2], rate[3], frac[2], frac[3]);
    }
    return 0;
}

/* ---- the KV-cache decoder on the GPU (--backend cuda): tokens/s and TTFT per weight type --------
   tiny and SmolLM2-135M's shape, random weights, each type's decoder on the CUDA backend, twice: a
   token's kernels as one CUDA graph (the default) and launched one by one
   (it_cuda_desc.no_decode_graphs), two backends in this process; a 5-token prompt, then n_gen greedy tokens (the pick on the GPU,
   one wait a token); repetitions interleave the types and the two ways; median and spread. GB/s is
   the weight bytes a token reads times tokens/s (the bound is the GPU's memory bandwidth: 4.8 TB/s
   on an H200). Per model, type and way:
     bench_cuda_decode gpu="NAME" model=M type=T launch=graph|direct mb_token=.. tok_s=.. tok_s_min=.. tok_s_max=..
                       ttft_ms=.. weights_gbs=.. waits_per_token=.. launches_per_token=.. graph_launches_per_token=.. */
static int cuda_decode_bench(int quick) {
    static const it_weight_type types[N_QTYPES] = {IT_WEIGHT_F32, IT_WEIGHT_BF16, IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
    static const char *const ways[2] = {"graph", "direct"};
    it_model_config shapes[2];
    const char *names[2] = {"tiny", "smollm-135m"};
    int m, t, r, w, reps = quick ? 3 : 7, n_gen = quick ? 16 : 64;
    it_model_preset("tiny", &shapes[0]);
    memset(&shapes[1], 0, sizeof shapes[1]);
    shapes[1].arch = IT_ARCH_LLAMA, shapes[1].vocab_size = 49152, shapes[1].dim = 576, shapes[1].n_layers = 30;
    shapes[1].n_heads = 9, shapes[1].n_kv_heads = 3, shapes[1].ffn_dim = 1536, shapes[1].max_seq = 2048;
    shapes[1].rope_theta = 100000.0f;
    printf("\nKV-cache decode on the GPU (greedy, batch 1, %d tokens after a 5-token prompt, median of %d interleaved runs)\n",
           n_gen, reps);
    printf("  %-12s %-6s %-7s %9s %9s %15s %8s %10s %9s %10s\n", "model", "type", "launch", "MB/token", "tok/s", "min-max", "TTFT ms",
           "weight GB/s", "waits/tok", "launch/tok");
    for (m = 0; m < 2; m++) {
        static const int32_t prompt[5] = {1, 2, 3, 4, 5};
        it_context *ctx[2];
        it_backend *cuda[2];
        it_model *model[2];
        it_decoder *dec[2][N_QTYPES];
        double rates[2][N_QTYPES][16], ttfts[2][N_QTYPES][16];
        unsigned long waits[2][N_QTYPES], launches[2][N_QTYPES], glaunches[2][N_QTYPES];
        it_cuda_stats s;
        for (w = 0; w < 2; w++) {
            it_context_desc cd;
            it_cuda_desc gd;
            memset(&cd, 0, sizeof cd);
            memset(&gd, 0, sizeof gd);
            gd.no_decode_graphs = w == 1;
            if (it_context_create(&cd, &ctx[w]) != IT_OK) return 1;
            if (it_cuda_backend_create(ctx[w], &gd, &cuda[w]) != IT_OK) {
                fprintf(stderr, "bench: --backend cuda: %s\n", it_context_last_error(ctx[w]));
                return 1;
            }
            it_context_set_backend(ctx[w], cuda[w]);
            if (it_model_create(ctx[w], &shapes[m], &model[w]) != IT_OK || it_model_init(model[w], 7) != IT_OK) {
                fprintf(stderr, "bench: %s: %s\n", names[m], it_context_last_error(ctx[w]));
                return 1;
            }
            for (t = 0; t < N_QTYPES; t++) {
                it_decoder_desc dd;
                double ttft, rate;
                memset(&dd, 0, sizeof dd);
                dd.max_seq = 5 + n_gen + 2;
                dd.weights = types[t];
                if (it_decoder_create_ex(model[w], &dd, &dec[w][t]) != IT_OK ||
                    generate(dec[w][t], prompt, 5, 4, &ttft, &rate) != IT_OK) { /* uploads, cuBLAS's first call, the graph */
                    fprintf(stderr, "bench: %s %s: %s\n", names[m], it_weight_type_name(types[t]), it_context_last_error(ctx[w]));
                    return 1;
                }
                waits[w][t] = launches[w][t] = glaunches[w][t] = 0;
            }
        }
        for (r = 0; r < reps; r++)
            for (t = 0; t < N_QTYPES; t++)
                for (w = 0; w < 2; w++) {
                    it_cuda_stats s0 = it_cuda_backend_stats(cuda[w]), s1;
                    if (generate(dec[w][t], prompt, 5, n_gen + 1, &ttfts[w][t][r], &rates[w][t][r]) != IT_OK) {
                        fprintf(stderr, "bench: %s: %s\n", names[m], it_context_last_error(ctx[w]));
                        return 1;
                    }
                    s1 = it_cuda_backend_stats(cuda[w]);
                    waits[w][t] += s1.waits - s0.waits, launches[w][t] += s1.kernel_launches - s0.kernel_launches;
                    glaunches[w][t] += s1.graph_launches - s0.graph_launches;
                }
        s = it_cuda_backend_stats(cuda[0]);
        for (t = 0; t < N_QTYPES; t++)
            for (w = 0; w < 2; w++) {
                double mb = it_decoder_weight_bytes(dec[w][t]) / 1e6, med, ttft;
                double calls = (double)reps * (n_gen + 1); /* the prompt's call and n_gen tokens */
                qsort(rates[w][t], (size_t)reps, sizeof(double), cmp_double);
                qsort(ttfts[w][t], (size_t)reps, sizeof(double), cmp_double);
                med = rates[w][t][reps / 2], ttft = ttfts[w][t][reps / 2];
                printf("  %-12s %-6s %-7s %9.1f %9.1f %7.1f-%-7.1f %8.2f %10.1f %9.2f %10.1f\n", names[m], it_weight_type_name(types[t]),
                       ways[w], mb, med, rates[w][t][0], rates[w][t][reps - 1], ttft, mb * med / 1e3, waits[w][t] / calls,
                       (launches[w][t] + glaunches[w][t]) / calls);
                printf("bench_cuda_decode gpu=\"%s\" model=%s type=%s launch=%s mb_token=%.1f tok_s=%.1f tok_s_min=%.1f tok_s_max=%.1f "
                       "ttft_ms=%.2f weights_gbs=%.1f waits_per_token=%.2f launches_per_token=%.1f graph_launches_per_token=%.2f\n",
                       s.device_name, names[m], it_weight_type_name(types[t]), ways[w], mb, med, rates[w][t][0], rates[w][t][reps - 1],
                       ttft, mb * med / 1e3, waits[w][t] / calls, launches[w][t] / calls, glaunches[w][t] / calls);
                it_decoder_destroy(dec[w][t]);
            }
        fflush(stdout);
        for (w = 0; w < 2; w++) it_context_destroy(ctx[w]);
    }
    return 0;
}

/* ---- the step's arithmetic, and its products timed on their own --------------------------------
   Model FLOPs of one training step, counted from the graph (what the step has to compute; the
   forward that checkpointing recomputes is extra work, shown as executed FLOPs beside it):
     matmul nodes:  2 M N K (x batch) for each product it_matmul_gemms lists: the forward's one, the
                    backward's dA and dB (only the gradients wanted);
     fused head + loss (it__linear_cross_entropy_fused): 3 products of 2 N V C: logits, dx, dW, in
                    blocks of R token rows;
     attention:     per batch row and query head, P = the (query, visible key) pairs (T (T + 1) / 2
                    when causal without a window); forward 4 D P (q.k and p v), backward 8 D P (twice
                    the forward, the usual convention; flash attention really does 10 D P, as it
                    recomputes the scores).
   The step's GEMMs are kept as a list of distinct products (shape, transposes, accumulate) with
   their count per step, each with the buffers of its first occurrence; one pass times each once. */
typedef struct step_gemm {
    void *c;        /* fp32, or with staging bf16 */
    float *staging; /* a bf16 c (a bf16 plan's matmul output) is made as the kernel makes it, through the node's
                       fp32 staging rows (it__gemm_into); NULL: c is fp32 */
    int staging_rows;
    it__bgemm_operand a, b; /* as the graph's kernel passes them: fp32, or bf16 bits under bf16 */
    int M, N, K, trans_a, trans_b, accumulate, batch;
    size_t stride_c, stride_a, stride_b; /* elements between batch slices */
    void *fill_a, *fill_b;   /* a's and b's storage when it is the arena's (NULL: a parameter) ... */
    size_t fill_a_bytes, fill_b_bytes; /* ... and its bytes, filled before each timing (fill_operand) */
    int count; /* occurrences per step */
} step_gemm;
typedef struct step_work {
    step_gemm gemms[64];
    int n_gemms;
    double gemm_flop, attention_flop, recompute_flop; /* model FLOPs = gemm_flop + attention_flop */
} step_work;
static void add_gemm(step_work *w, step_gemm p, int count) {
    int i;
    w->gemm_flop += 2.0 * p.M * p.N * (double)p.K * p.batch * count;
    for (i = 0; i < w->n_gemms; i++) {
        step_gemm *q = &w->gemms[i];
        if (q->M == p.M && q->N == p.N && q->K == p.K && q->trans_a == p.trans_a && q->trans_b == p.trans_b &&
            q->accumulate == p.accumulate && q->batch == p.batch && q->a.bf16 == p.a.bf16 && q->b.bf16 == p.b.bf16 &&
            !q->staging == !p.staging) {
            q->count += count;
            return;
        }
    }
    if (w->n_gemms == (int)(sizeof w->gemms / sizeof w->gemms[0])) {
        fprintf(stderr, "bench: more distinct products than the table holds\n");
        exit(1);
    }
    p.count = count;
    w->gemms[w->n_gemms++] = p;
}
static step_gemm gemm_of(void *c, it__bgemm_operand a, it__bgemm_operand b, int M, int N, int K, int ta, int tb, int acc) {
    step_gemm p;
    memset(&p, 0, sizeof p);
    p.c = c, p.a = a, p.b = b, p.M = M, p.N = N, p.K = K, p.trans_a = ta, p.trans_b = tb, p.accumulate = acc, p.batch = 1;
    return p;
}
/* FLOPs of a node's forward when it is a matmul or attention (what recomputing it costs) */
static double forward_flop(const it_node *n) {
    if (n->op == IT_OP_MATMUL) {
        it_gemm gm[2];
        int k, count = it_matmul_gemms(n, 0, gm);
        double f = 0;
        for (k = 0; k < count; k++) f += 2.0 * gm[k].M * gm[k].N * (double)gm[k].K * gm[k].batch;
        return f;
    }
    if (n->op == IT_OP_ATTENTION) {
        const it_tensor *q = n->in[0];
        int B = q->dims[0], T = q->dims[1], H = q->dims[2], D = q->dims[3], t;
        double pairs = 0;
        for (t = 0; t < T; t++) pairs += t + 1 - it__attention_first_key(t, n->iparam[0]);
        return 4.0 * D * pairs * B * H;
    }
    return 0;
}
static void step_work_of(const it_graph *g, step_work *w) {
    int i, k, count;
    memset(w, 0, sizeof *w);
    for (i = 0; i < g->n_nodes; i++) {
        const it_node *n = &g->nodes[i];
        it_gemm gm[2];
        if (n->op == IT_OP_MATMUL)
            for (k = 0; k < 2; k++) {
                int j;
                count = it_matmul_gemms(n, k, gm);
                for (j = 0; j < count; j++) {
                    step_gemm p = gemm_of(it_data_raw(gm[j].c), it__bgemm_tensor(gm[j].a, 0), it__bgemm_tensor(gm[j].b, 0), gm[j].M,
                                          gm[j].N, gm[j].K, gm[j].trans_a, gm[j].trans_b, gm[j].accumulate);
                    if (gm[j].a->kind != IT_KIND_PARAM) p.fill_a = it_data_raw(gm[j].a), p.fill_a_bytes = it_tensor_nbytes(gm[j].a);
                    if (gm[j].b->kind != IT_KIND_PARAM) p.fill_b = it_data_raw(gm[j].b), p.fill_b_bytes = it_tensor_nbytes(gm[j].b);
                    p.batch = gm[j].batch, p.stride_c = gm[j].stride_c, p.stride_a = gm[j].stride_a, p.stride_b = gm[j].stride_b;
                    if (gm[j].c->dtype == IT_BF16) p.staging = it_data(n->scratch), p.staging_rows = n->scratch->dims[0];
                    add_gemm(w, p, 1);
                }
            }
        else if (n->op == IT_OP_ATTENTION)
            w->attention_flop += 3.0 * forward_flop(n); /* forward + a backward of twice as much */
        else if (n->op == IT_OP_LINEAR_CROSS_ENTROPY) {
            int N = (int)n->in[2]->numel, C = n->in[0]->dims[n->in[0]->ndim - 1], V = n->in[1]->dims[0];
            int R = it__linear_cross_entropy_rows(n), r0;
            float *scratch = it_data(n->scratch), *dx = it_grad(n->in[0]), *dw = it_grad(n->in[1]);
            const float *wt = it_data(n->in[1]);
            size_t x_elem = it_dtype_size(n->in[0]->dtype); /* the final norm's output: bf16 in a bf16 plan */
            /* the operands it__linear_cross_entropy_fused passes: under bf16, dlogits as bf16 bits with the fp32
               rows' stride, and W as the run's bf16 copy or (a bf16 plan) in bf16 behind the logits */
            int bf16 = g->ctx->compute_dtype == IT_BF16;
            uint16_t *w16 = bf16 && n->iparam[2] ? (uint16_t *)(void *)(scratch + it__linear_cross_entropy_logit_floats(n)) : NULL;
            it__bgemm_operand dl = bf16 ? it__bgemm_bf16((const uint16_t *)(void *)scratch, 2 * (ptrdiff_t)V) : it__bgemm_f32(scratch);
            it__bgemm_operand wb = w16 ? it__bgemm_bf16(w16, 0) : it__bgemm_f32_param_copy(wt);
            for (r0 = 0; r0 < N; r0 += R) {
                int rows = N - r0 < R ? N - r0 : R;
                it__bgemm_operand x = it__bgemm_tensor(n->in[0], 0);
                step_gemm logits = gemm_of(scratch, x, wb, rows, V, C, 0, 1, 0);
                step_gemm dxp = gemm_of(dx, dl, wb, rows, C, V, 0, 0, 1), dwp = gemm_of(dw, dl, x, V, C, rows, 1, 0, 1);
                logits.fill_a = dwp.fill_b = it_data_raw(n->in[0]), logits.fill_a_bytes = dwp.fill_b_bytes = x_elem * (size_t)rows * C;
                dxp.fill_a = dwp.fill_a = scratch, dxp.fill_a_bytes = dwp.fill_a_bytes = sizeof(float) * (size_t)rows * V;
                if (w16) logits.fill_b = dxp.fill_b = w16, logits.fill_b_bytes = dxp.fill_b_bytes = sizeof(uint16_t) * (size_t)V * C;
                add_gemm(w, logits, 1); /* logits */
                add_gemm(w, dxp, 1);    /* dx += dl W */
                add_gemm(w, dwp, 1);    /* dW += dl^T x */
            }
        }
    }
    for (i = 0; i < g->n_sched; i++)
        if (g->sched[i] < 0) w->recompute_flop += forward_flop(&g->nodes[-1 - g->sched[i]]);
}
/* o moved on by `at` elements of its dtype (a batch slice) */
static it__bgemm_operand operand_at(it__bgemm_operand o, size_t at) {
    o.data = (const char *)o.data + at * (o.bf16 ? 2 : 4);
    return o;
}
/* After a step the arena holds whatever its last tenants left: an operand's bytes may by then belong
   to a tensor of the other dtype (bf16 bits read as floats, or the reverse), or be denormals, which
   cost the FMAs a microcode assist each (on Intel ~100x: the fused head's logits product ran at 21
   against ~100 GFLOP/s on such leftovers). So each arena operand is filled before it is timed with
   a word that is a normal number both ways: 0x3C233C23 is the float 0.00996 and two bf16 0.00995. */
static void fill_operand(void *p, size_t bytes) {
    uint32_t *word = (uint32_t *)p;
    size_t i;
    for (i = 0; i < bytes / 4; i++) word[i] = 0x3C233C23u;
}
/* Seconds the step's GEMMs take on their own: each distinct product once, times its count. It runs
   on the graph's own buffers between steps: products write only activations and gradients, which
   the next step recomputes (its it_zero_grads clears the gradients first). */
static double gemm_pass_seconds(it_context *ctx, const step_work *w) {
    double total = 0;
    int i, j;
    for (i = 0; i < w->n_gemms; i++) {
        const step_gemm *p = &w->gemms[i];
        double t0;
        fill_operand(p->fill_a, p->fill_a_bytes);
        fill_operand(p->fill_b, p->fill_b_bytes);
        t0 = now_seconds();
        for (j = 0; j < p->batch; j++) /* as the graph's kernels call it */
            it__gemm_into(ctx, (char *)p->c + j * p->stride_c * (p->staging ? 2 : 4), p->staging, p->staging_rows,
                          operand_at(p->a, j * p->stride_a), operand_at(p->b, j * p->stride_b), p->M, p->N, p->K, p->trans_a,
                          p->trans_b, p->accumulate);
        total += (now_seconds() - t0) * p->count;
    }
    return total;
}
/* The machine's limit for these products: the SGEMM micro-kernel alone, every worker repeating one
   tile on panels that stay in L1 (no packing, no memory traffic), in GFLOP/s over all threads. */
typedef struct peak_job { const it__scratch *scratch; int reps; } peak_job;
static void peak_part(void *arg, int part, int n_parts) {
    const peak_job *j = (const peak_job *)arg;
    it__sgemm_isa g = it__sgemm_pick_isa();
    float *pa = j->scratch[part].pack_a, *pb = j->scratch[part].pack_b, c[IT__SGEMM_MAXMR * IT__SGEMM_MAXNR];
    int i;
    (void)n_parts;
    memset(c, 0, sizeof c);
    for (i = 0; i < g.mr * 256; i++) pa[i] = 1e-3f;
    for (i = 0; i < g.nr * 256; i++) pb[i] = 1e-3f;
    for (i = 0; i < j->reps; i++) g.kernel(256, pa, 1, g.mr, pb, c, g.nr, 1);
}
static double kernel_peak_gflops(it_context *ctx) {
    it__sgemm_isa g = it__sgemm_pick_isa();
    peak_job job;
    double t0;
    job.scratch = ctx->scratch;
    job.reps = 10000; /* ~10 ms a thread at 100+ GFLOP/s */
    t0 = now_seconds();
    it__pool_run(&ctx->pool, peak_part, &job, ctx->n_threads);
    return 2.0 * g.mr * g.nr * 256.0 * job.reps * ctx->n_threads / (now_seconds() - t0) * 1e-9;
}
/* The same for the bf16 product's kernel (>>bf16): one tile over a KC block (the level's KC of
   bf16), its panels in L1, as the products run it (pairs, or rows where the kernel only takes rows:
   AMX, with its tile configuration; a widening level's fp32 rows of a). */
static void bf16_peak_part(void *arg, int part, int n_parts) {
    const peak_job *j = (const peak_job *)arg;
    it__bgemm_isa g = it__bgemm_pick_isa();
    uint16_t *pa = (uint16_t *)(void *)j->scratch[part].pack_a, *pb = (uint16_t *)(void *)j->scratch[part].pack_b;
    float *pa_wide = j->scratch[part].pack_a, *pb_wide = j->scratch[part].pack_b;
    it__bgemm_kernel_fn kernel = g.kernel ? g.kernel : g.kernel_rows;
    int wide = g.kernel_wide || g.kernel_wide_b;
    float c[IT__BGEMM_MAXMR * IT__BGEMM_MAXNR];
    int i;
    (void)n_parts;
    memset(c, 0, sizeof c);
    for (i = 0; i < g.mr * g.kc; i++) {
        if (wide) pa_wide[i] = it_bf16_to_f32(it_f32_to_bf16(1e-3f));
        else pa[i] = it_f32_to_bf16(1e-3f);
    }
    for (i = 0; i < g.nr * g.kc; i++) {
        if (g.kernel_wide_b) pb_wide[i] = it_bf16_to_f32(it_f32_to_bf16(1e-3f)); /* b widened (AVX2) */
        else pb[i] = it_f32_to_bf16(1e-3f);
    }
    if (g.begin) g.begin();
    for (i = 0; i < j->reps; i++) {
        if (g.kernel_wide_b) g.kernel_wide_b(g.kc, pa_wide, pb_wide, c, g.nr, 1);
        else if (g.kernel_wide) g.kernel_wide(g.kc, pa_wide, pb, c, g.nr, 1);
        else kernel(g.kc, pa, g.kc, pb, c, g.nr, 1);
    }
    if (g.end) g.end();
}
static double bf16_kernel_peak_gflops(it_context *ctx) {
    it__bgemm_isa g = it__bgemm_pick_isa();
    peak_job job;
    double t0;
    job.scratch = ctx->scratch;
    job.reps = (int)(2.0 * 10000 * 8 * 32 * 256 / ((double)g.mr * g.nr * g.kc)); /* twice the fp32 line's multiply-adds */
    t0 = now_seconds();
    it__pool_run(&ctx->pool, bf16_peak_part, &job, ctx->n_threads);
    return 2.0 * g.mr * g.nr * g.kc * job.reps * ctx->n_threads / (now_seconds() - t0) * 1e-9;
}
/* sorts x: x[0] and x[n - 1] are then the min and max */
static double median_of(double *x, int n) {
    qsort(x, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* --dtype bf16: `pairs` more steps in each precision, alternating (fp32, bf16, fp32, ...) in this
   process, so both see the same load within seconds: on a shared machine adjacent steps compare far
   better than separate runs. The median and range of the per-pair ratios bf16 / fp32. The bf16 graph
   was planned for bf16 (it stores some tensors in bf16) and runs in bf16 only, so the fp32 steps run
   a graph of their own, planned here under f32; its arena adds to the process's peak, which is why
   bench_bf16's peak RSS is read before the pairs. */
static it_result paired_steps(it_context *ctx, it_model *model, it_model_graph *mg16, it_optimizer *opt, it_rng *rng, int vocab,
                              int pairs) {
    double t[2][64], ratio[64], t0;
    size_t n = it_tensor_numel(mg16->tokens), j;
    int p, mode;
    it_model_graph mg32, *mg;
    it_result r;
    pairs = pairs < 64 ? pairs : 64;
    it_context_set_compute_dtype(ctx, IT_F32);
    r = it_model_graph_create(model, IT_PURPOSE_TRAIN, it_tensor_dim(mg16->tokens, 0), it_tensor_dim(mg16->tokens, 1), &mg32);
    if (r != IT_OK) return r;
    for (p = 0; p < pairs && r == IT_OK; p++)
        for (mode = 0; mode < 2 && r == IT_OK; mode++) {
            mg = mode ? mg16 : &mg32;
            for (j = 0; j < n; j++) it_data_i32(mg->tokens)[j] = (int32_t)it_rng_below(rng, (uint32_t)vocab);
            for (j = 0; j < n; j++) it_data_i32(mg->targets)[j] = (int32_t)it_rng_below(rng, (uint32_t)vocab);
            it_context_set_compute_dtype(ctx, mode ? IT_BF16 : IT_F32);
            t0 = now_seconds();
            it_zero_grads(ctx);
            if ((r = it_graph_run(mg->graph, IT_RUN_FORWARD_BACKWARD)) == IT_OK) r = it_optimizer_step(opt, 3e-4f, 1.0f, NULL);
            t[mode][p] = now_seconds() - t0;
        }
    it_model_graph_destroy(&mg32);
    if (r != IT_OK) return r;
    for (p = 0; p < pairs; p++) ratio[p] = t[1][p] / t[0][p];
    printf("bench_bf16_pairs pairs=%d f32_ms=%.1f bf16_ms=%.1f ratio=%.3f", pairs, median_of(t[0], pairs) * 1e3,
           median_of(t[1], pairs) * 1e3, median_of(ratio, pairs));
    printf(" ratio_min=%.3f ratio_max=%.3f\n", ratio[0], ratio[pairs - 1]);
    return IT_OK;
}

int main(int argc, char **argv) {
    int recompute = 1, steps = 50, warmup = 5, vocab = 32000, batch = 16, seq = 256, threads = 2, n_gen = 100, i, step;
    it_context_desc cd;
    it_context *ctx;
    it_model_config cfg;
    it_model *model;
    it_model_graph train;
    it_optimizer_desc od;
    it_optimizer *opt;
    it_schedule sched;
    it_decoder *dec;
    it_rng rng;
    double t0, elapsed = 0.0, step_ms, tok_s, decode_rate[2], ttft[2], loss0 = 0, loss1 = 0;
    static const int prompt_lens[2] = {5, 20};
    int32_t prompt[64];
    it_plan_stats st;
    step_work work;
    double *step_s, *gemm_gflops, *peak_gflops, *bf16_peak_gflops, model_flop, train_peak_rss;
    int use_metal = 0, quant = 1, quick = 0, use_cuda = 0, tf32 = 0, bf16 = 0, pairs = -1;
    const char *preset = "tiny";

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) steps = 5, warmup = 2, quick = 1;
        else if (!strcmp(argv[i], "--no-quant")) quant = 0;
        else if (!strcmp(argv[i], "--steps")) steps = arg_int(argc, argv, &i, "--steps");
        else if (!strcmp(argv[i], "--pairs")) pairs = arg_int(argc, argv, &i, "--pairs");
        else if (!strcmp(argv[i], "--warmup")) warmup = arg_int(argc, argv, &i, "--warmup");
        else if (!strcmp(argv[i], "--vocab")) vocab = arg_int(argc, argv, &i, "--vocab");
        else if (!strcmp(argv[i], "--batch")) batch = arg_int(argc, argv, &i, "--batch");
        else if (!strcmp(argv[i], "--seq")) seq = arg_int(argc, argv, &i, "--seq");
        else if (!strcmp(argv[i], "--threads")) threads = arg_int(argc, argv, &i, "--threads");
        else if (!strcmp(argv[i], "--gen")) n_gen = arg_int(argc, argv, &i, "--gen");
        else if (!strcmp(argv[i], "--no-recompute")) recompute = 0;
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc &&
                 (!strcmp(argv[i + 1], "cpu") || !strcmp(argv[i + 1], "metal") || !strcmp(argv[i + 1], "cuda"))) {
            use_metal = !strcmp(argv[i + 1], "metal");
            use_cuda = !strcmp(argv[++i], "cuda");
        } else if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
        else if (!strcmp(argv[i], "--tf32")) tf32 = 1; /* CUDA: GEMMs on TF32 tensor cores */
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && (!strcmp(argv[i + 1], "f32") || !strcmp(argv[i + 1], "bf16")))
            bf16 = !strcmp(argv[++i], "bf16"); /* bf16: mixed-precision step (it_context_set_compute_dtype) */
        else if (!strcmp(argv[i], "--bf16-kernel") && i + 1 < argc) { /* a lower level than the CPU's best (>>bf16) */
            int level;
            for (level = IT__BF16_PORTABLE; level < IT__BF16_LEVEL_COUNT; level++)
                if (!strcmp(argv[i + 1], it__bf16_level_names[level])) break;
            if (level == IT__BF16_LEVEL_COUNT || !it__bgemm_level_available(level)) {
                fprintf(stderr, "bench: --bf16-kernel %s: not a kernel this CPU runs (portable, avx2, avx512f, avx512bf16, amx)\n", argv[i + 1]);
                return 2;
            }
            it__bgemm_force_isa = level;
            i++;
        }
        else {
            fprintf(stderr, "usage: bench [--quick] [--steps N] [--warmup N] [--vocab V] [--batch B] [--seq T] [--threads K] [--gen N] "
                            "[--no-recompute] [--backend cpu|metal|cuda] [--preset NAME] [--tf32] [--dtype f32|bf16] [--pairs N] [--bf16-kernel NAME] [--no-quant]\n");
            return 2;
        }
    }
    if (steps < 1 || batch < 1 || seq < 2 || vocab < 2 || n_gen < 1) {
        fprintf(stderr, "bench: steps, batch, vocab, gen must be >= 1 and seq >= 2\n");
        return 2;
    }

    memset(&cd, 0, sizeof cd);
    cd.n_threads = threads;
    cd.compute_dtype = bf16 ? IT_BF16 : IT_F32;
    if (it_context_create(&cd, &ctx) != IT_OK) return 1;
    if (use_metal) { /* the training step and the KV-cache decoder on the GPU */
        it_backend *metal;
        if (it_metal_backend_create(ctx, NULL, &metal) != IT_OK) {
            fprintf(stderr, "bench: --backend metal: %s\n", it_context_last_error(ctx));
            return 1;
        }
        it_context_set_backend(ctx, metal);
    }
    if (use_cuda) { /* the training step on the GPU (one CUDA graph), then the KV-cache decoder on the GPU */
        it_backend *cuda;
        it_cuda_desc cdesc;
        memset(&cdesc, 0, sizeof cdesc);
        cdesc.allow_tf32 = tf32;
        if (it_cuda_backend_create(ctx, &cdesc, &cuda) != IT_OK) {
            fprintf(stderr, "bench: --backend cuda: %s\n", it_context_last_error(ctx));
            return 1;
        }
        it_context_set_backend(ctx, cuda);
    }
    if (it_model_preset(preset, &cfg) != IT_OK) {
        fprintf(stderr, "bench: --preset: %s\n", it_context_last_error(ctx));
        return 1;
    }
    cfg.vocab_size = vocab;
    if (seq > cfg.max_seq) cfg.max_seq = seq;
    if (it_model_create(ctx, &cfg, &model) != IT_OK) {
        fprintf(stderr, "bench: %s\n", it_context_last_error(ctx));
        return 1;
    }
    it_model_set_recompute_layers(model, recompute);
    if (it_model_graph_create(model, IT_PURPOSE_TRAIN, batch, seq, &train) != IT_OK || it_model_init(model, 1234) != IT_OK) {
        fprintf(stderr, "bench: %s\n", it_context_last_error(ctx));
        return 1;
    }
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_LION;
    od.beta1 = 0.9f;
    od.beta2 = 0.99f;
    od.weight_decay = 0.1f;
    od.clip_norm = 1.0f;
    if (it_optimizer_create(ctx, &od, &opt) != IT_OK) {
        fprintf(stderr, "bench: %s\n", it_context_last_error(ctx));
        return 1;
    }
    memset(&sched, 0, sizeof sched);
    sched.kind = IT_SCHEDULE_COSINE;
    sched.base_lr = 3e-4f;
    sched.warmup_steps = 5;
    sched.total_steps = warmup + steps;
    it_rng_seed(&rng, 42);
    st = it_graph_stats(train.graph);
    step_work_of(train.graph, &work);
    model_flop = work.gemm_flop + work.attention_flop;
    step_s = (double *)calloc((size_t)steps, sizeof(double));
    gemm_gflops = (double *)calloc((size_t)steps, sizeof(double));
    peak_gflops = (double *)calloc((size_t)steps, sizeof(double));
    bf16_peak_gflops = (double *)calloc((size_t)steps, sizeof(double));
    if (!step_s || !gemm_gflops || !peak_gflops || !bf16_peak_gflops) return 1;

    printf("IronTensor-C bench: %s Llama (dim %d, %d layers, %d heads, ffn %d, vocab %d), %zu parameters\n",
           preset, cfg.dim, cfg.n_layers, cfg.n_heads, cfg.ffn_dim, cfg.vocab_size, it_model_config_param_count(&cfg));
    printf("batch %d x seq %d, %s, Lion lr 3e-4 betas 0.9/0.99 wd 0.1, clip 1.0, cosine (5 warmup), %d threads\n",
           batch, seq, bf16 ? "bf16 mixed precision (bf16 products, fp32 weights and sums)" : "fp32", it_context_threads(ctx));
    printf("planned arena %.1f MB (%.1f MB without reuse; layers %s), parameters %.1f MB (+ grads, + Lion state)\n",
           st.arena_bytes / 1048576.0, st.unplanned_bytes / 1048576.0,
           recompute ? "recomputed in the backward" : "kept for the backward", st.param_bytes / 1048576.0);
    fflush(stdout);

    for (step = 0; step < warmup + steps; step++) {
        int32_t *tok = it_data_i32(train.tokens), *tgt = it_data_i32(train.targets);
        size_t n = (size_t)batch * seq, j;
        for (j = 0; j < n; j++) tok[j] = (int32_t)it_rng_below(&rng, (uint32_t)vocab);
        for (j = 0; j < n; j++) tgt[j] = (int32_t)it_rng_below(&rng, (uint32_t)vocab);
        t0 = now_seconds();
        it_zero_grads(ctx);
        if (it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD) != IT_OK ||
            it_optimizer_step(opt, it_schedule_lr(&sched, step), 1.0f, NULL) != IT_OK) {
            fprintf(stderr, "bench: step %d: %s\n", step, it_context_last_error(ctx));
            return 1;
        }
        if (step >= warmup) step_s[step - warmup] = now_seconds() - t0, elapsed += step_s[step - warmup];
        if (step == 0) loss0 = it_data(train.loss)[0];
        loss1 = it_data(train.loss)[0];
        if (step >= warmup && !use_metal && !use_cuda) { /* B of the A B pairs: the products alone, the limit */
            gemm_gflops[step - warmup] = work.gemm_flop / gemm_pass_seconds(ctx, &work) * 1e-9;
            peak_gflops[step - warmup] = kernel_peak_gflops(ctx);
            if (bf16) bf16_peak_gflops[step - warmup] = bf16_kernel_peak_gflops(ctx); /* the bf16 step's limit */
        }
    }
    step_ms = elapsed / steps * 1e3;
    tok_s = (double)batch * seq * steps / elapsed;
    train_peak_rss = peak_rss_mb(); /* before the pairs' fp32 graph (paired_steps) */
    if (bf16 && pairs && paired_steps(ctx, model, &train, opt, &rng, vocab, pairs < 0 ? steps | 1 : pairs) != IT_OK) {
        fprintf(stderr, "bench: paired steps: %s\n", it_context_last_error(ctx));
        return 1;
    }
    it_model_graph_destroy(&train);

    if (use_cuda) { /* model FLOPs: 3x the forward's matrix products (weights, head, causal attention) */
        it_cuda_stats cs = it_cuda_backend_stats(it_context_backend(ctx));
        double C = cfg.dim, F = cfg.ffn_dim, KV = (double)cfg.dim / cfg.n_heads * cfg.n_kv_heads, L = cfg.n_layers;
        double fwd = 2.0 * (L * (2 * C * C + 2 * C * KV + 3 * C * F) + (double)cfg.vocab_size * C) + L * 2.0 * C * (seq + 1);
        double tflops = 3.0 * fwd * batch * seq / (elapsed / steps) * 1e-12;
        printf("bench_cuda gpu=\"%s\" sm_%d%d driver=%d preset=%s step_ms=%.2f tok_s=%.0f tflops=%.1f gpu_peak_mb=%.1f "
               "graph_launches=%lu captures=%lu tf32=%d bf16=%d recompute=%d loss=%.3f\n", cs.device_name, cs.sm_major, cs.sm_minor,
               cs.driver_version, preset, elapsed / steps * 1e3, (double)batch * seq * steps / elapsed, tflops,
               cs.device_peak_bytes / 1048576.0, cs.graph_launches, cs.graph_captures, tf32, bf16, recompute, loss1);
    }
    printf("\ntraining (%d warmup steps discarded, %d timed; loss %.3f -> %.3f)\n", warmup, steps, loss0, loss1);
    printf("  %-14s %12s %12s %16s\n", "", "step ms", "tokens/s", "peak RSS MB");
    printf("  %-14s %12.1f %12.0f %16.1f\n", "IronTensor-C", step_ms, tok_s, train_peak_rss);
    if (!use_metal && !use_cuda) {
        double med = median_of(step_s, steps), gemm = median_of(gemm_gflops, steps), peak = median_of(peak_gflops, steps);
        double bf16_peak = bf16 ? median_of(bf16_peak_gflops, steps) : 0.0, limit = bf16 ? bf16_peak : peak;
        double achieved = model_flop / med * 1e-9;
        printf("\nstep arithmetic (SGEMM kernel %s, %d threads): %.1f GFLOP a step = matmuls and head %.1f + attention %.1f",
               it__sgemm_pick_isa().name, it_context_threads(ctx), model_flop * 1e-9, work.gemm_flop * 1e-9,
               work.attention_flop * 1e-9);
        if (work.recompute_flop > 0) printf(" (+%.1f recomputed forward, not counted)", work.recompute_flop * 1e-9);
        printf("\n  %-44s %8.1f ms median (%.1f-%.1f) -> %6.1f GFLOP/s\n", "step", med * 1e3, step_s[0] * 1e3,
               step_s[steps - 1] * 1e3, achieved);
        printf("  %-44s %8.1f GFLOP/s median (%.1f-%.1f)\n", "its products alone (GEMM, same shapes/buffers)", gemm,
               gemm_gflops[0], gemm_gflops[steps - 1]);
        printf("  %-44s %8.1f GFLOP/s median (%.1f-%.1f)\n", "SGEMM micro-kernel on L1-resident panels", peak,
               peak_gflops[0], peak_gflops[steps - 1]);
        int bf16_widening = it__bgemm_pick_isa().kernel_wide || it__bgemm_pick_isa().kernel_wide_b;
        if (bf16) /* VDPBF16PS does two multiply-adds a lane where an FMA does one, at the FMA's rate (Zen 4, Intel); a
                     widening level (no bf16 instruction) does FMAs, so its bound is the SGEMM kernel itself */
            printf("  %-44s %8.1f GFLOP/s median (%.1f-%.1f), %.0f%% of %s the SGEMM kernel's\n",
                   "bf16 micro-kernel on L1-resident panels", bf16_peak, bf16_peak_gflops[0], bf16_peak_gflops[steps - 1],
                   peak > 0 ? 100.0 * bf16_peak / ((bf16_widening ? 1.0 : 2.0) * peak) : 0.0, bf16_widening ? "1x" : "2x");
        printf("  step / products alone %.2f (target >= 0.75: %s), step / %s kernel peak %.2f; %d distinct products, "
               "interleaved with the steps\n", achieved / gemm, achieved >= 0.75 * gemm ? "met" : "NOT met", bf16 ? "bf16" : "SGEMM",
               limit > 0 ? achieved / limit : 0.0, work.n_gemms);
        printf("bench_flops model_gflop=%.2f executed_gflop=%.2f step_median_ms=%.1f step_min_ms=%.1f step_max_ms=%.1f "
               "gflops=%.1f gemm_gflops=%.1f gemm_min=%.1f gemm_max=%.1f ratio=%.2f peak_gflops=%.1f peak_frac=%.2f\n",
               model_flop * 1e-9, (model_flop + work.recompute_flop) * 1e-9, med * 1e3, step_s[0] * 1e3,
               step_s[steps - 1] * 1e3, achieved, gemm, gemm_gflops[0], gemm_gflops[steps - 1], achieved / gemm, limit,
               limit > 0 ? achieved / limit : 0.0);
        if (bf16) /* the products above ran in bf16 too: the step against its own bf16 products and kernel */
            printf("bench_bf16 kernel=%s step_ms=%.1f tok_s=%.0f peak_rss_mb=%.1f step_gflops=%.1f gemm_bf16_gflops=%.1f "
                   "frac_of_gemm=%.2f kernel_gflops=%.1f sgemm_kernel_gflops=%.1f kernel_frac_of_2x_sgemm=%.2f "
                   "gemm_frac_of_kernel=%.2f\n", it_bf16_kernel_name(), med * 1e3, tok_s, train_peak_rss, achieved, gemm,
                   achieved / gemm, bf16_peak, peak, peak > 0 ? bf16_peak / (2.0 * peak) : 0.0, bf16_peak > 0 ? gemm / bf16_peak : 0.0);
    }
    free(step_s), free(gemm_gflops), free(peak_gflops), free(bf16_peak_gflops);
    fflush(stdout);

    if (it_decoder_create(model, cfg.max_seq, &dec) != IT_OK) {
        fprintf(stderr, "bench: %s\n", it_context_last_error(ctx));
        return 1;
    }
    for (i = 0; i < 64; i++) prompt[i] = (int32_t)it_rng_below(&rng, (uint32_t)vocab);
    for (i = 0; i < 2; i++) {
        double warm_ttft, warm_rate;
        generate(dec, prompt, prompt_lens[i], 4, &warm_ttft, &warm_rate); /* page in the cache */
        if (generate(dec, prompt, prompt_lens[i], n_gen, &ttft[i], &decode_rate[i]) != IT_OK) {
            fprintf(stderr, "bench: generation: %s\n", it_context_last_error(ctx));
            return 1;
        }
    }
    printf("\ninference (greedy, %d tokens, KV cache, batch 1)\n", n_gen);
    printf("  %-14s %12s %12s\n", "prompt", "TTFT ms", "tokens/s");
    for (i = 0; i < 2; i++) printf("  %-14d %12.2f %12.1f\n", prompt_lens[i], ttft[i], decode_rate[i]);
    printf("\npeak RSS (whole run) %.1f MB\n", peak_rss_mb());
    printf("bench_inference ttft5_ms=%.2f ttft20_ms=%.2f decode5_tok_s=%.1f decode20_tok_s=%.1f\n", ttft[0], ttft[1],
           decode_rate[0], decode_rate[1]);
    printf("bench step_ms=%.1f tok_s=%.0f peak_rss_mb=%.1f arena_mb=%.1f decode_tok_s=%.1f\n", step_ms, tok_s,
           peak_rss_mb(), st.arena_bytes / 1048576.0, (decode_rate[0] + decode_rate[1]) / 2);
    it_decoder_destroy(dec);
    it_optimizer_destroy(opt);
    it_model_destroy(model);
    it_context_destroy(ctx);
    if (!quant) return 0;
    return use_cuda ? cuda_decode_bench(quick) : quant_bench(threads, quick); /* the decode table of the backend benchmarked */
}
