/* batch_bench.c - batched generation: aggregate decode throughput of the continuous batcher at 1,
   4 and 16 concurrent sequences against 16 sequential single-sequence runs of the contiguous
   decoder, time to first token under load, and the KV memory of 16 samples of one long prompt
   (shared blocks) against 16 copies of it.

     cc -O2 -std=c99 -I. benchmarks/batch_bench.c -o build/batch_bench -lm -lpthread
     build/batch_bench [--preset tiny] [--prompt 16] [--new 64] [--reps 5] [--threads 0]

   The same 16 requests (different prompts of --prompt tokens, --new greedy tokens each, no stop)
   in every configuration; repetitions interleave the configurations (A B C D A B C D ...) and
   the table gives the median and the spread (min .. max) of each. Random weights: the numbers
   are speed, not text. Machine-readable line:
     batch_bench seq_tok_s=S c1_tok_s=A c4_tok_s=B c16_tok_s=C ratio16=R ttft16_ms=T kv_shared_mb=X kv_copies_mb=Y */
#define _POSIX_C_SOURCE 200809L
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N_REQ = 16, MAX_REPS = 32 };
static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
static double lowest(const double *v, int n) { /* v sorted by median() */
    (void)n;
    return v[0];
}
static void die(it_context *ctx, const char *what) {
    fprintf(stderr, "batch_bench: %s: %s\n", what, it_context_last_error(ctx));
    exit(1);
}

static int32_t prompts[N_REQ][1024];

/* 16 requests one after another through the contiguous decoder: tokens/s */
static double run_sequential(it_context *ctx, it_decoder *dec, int n_prompt, int n_new) {
    double t0 = now_seconds();
    int r, i;
    for (r = 0; r < N_REQ; r++) {
        const float *logits;
        it_decoder_reset(dec);
        if (it_decoder_feed(dec, prompts[r], n_prompt, &logits) != IT_OK) die(ctx, "feed");
        for (i = 0; i < n_new; i++) {
            int32_t t = it_cpu_argmax(logits, it_decoder_vocab(dec));
            if (i + 1 < n_new && it_decoder_feed(dec, &t, 1, &logits) != IT_OK) die(ctx, "feed");
        }
    }
    return (double)N_REQ * n_new / (now_seconds() - t0);
}
/* 16 requests submitted at once to a generator running `concurrent` sequences: tokens/s, and the
   median time to first token (submit to first event, queueing included) */
static double run_batched(it_context *ctx, it_generator *g, int n_prompt, int n_new, double *ttft_ms, double *ttft_max_ms) {
    double t0, first[N_REQ], tt[N_REQ];
    int r, ids[N_REQ], got = 0, seen[N_REQ];
    it_request rq;
    memset(&rq, 0, sizeof rq);
    memset(seen, 0, sizeof seen);
    rq.n_prompt = n_prompt;
    rq.max_tokens = n_new;
    t0 = now_seconds();
    for (r = 0; r < N_REQ; r++) {
        rq.prompt = prompts[r];
        rq.user = (void *)(size_t)r;
        if (it_generator_submit(g, &rq, &ids[r]) != IT_OK) die(ctx, "submit");
    }
    while (it_generator_pending(g)) {
        const it_generation_event *ev;
        int n, e;
        if (it_generator_step(g, &ev, &n) != IT_OK) die(ctx, "step");
        for (e = 0; e < n; e++) {
            r = (int)(size_t)ev[e].user;
            if (!seen[r]++) first[r] = now_seconds() - t0;
            got += ev[e].token >= 0;
        }
    }
    for (r = 0; r < N_REQ; r++) tt[r] = first[r] * 1000;
    *ttft_ms = median(tt, N_REQ);
    *ttft_max_ms = tt[N_REQ - 1];
    return got / (now_seconds() - t0);
}
/* Peak KV blocks held while 16 samples of one prompt of n_long tokens generate n_new each: shared
   (n = 16 in one request) or as 16 separate requests with different first tokens (no sharing). */
static int peak_blocks(it_context *ctx, it_generator *g, int n_long, int n_new, int shared) {
    it_batch_decoder *d = it_generator_decoder(g);
    static int32_t prompt[N_REQ][1024];
    int ids[N_REQ], r, peak = 0;
    it_request rq;
    memset(&rq, 0, sizeof rq);
    rq.n_prompt = n_long;
    rq.max_tokens = n_new;
    for (r = 0; r < N_REQ; r++) {
        int i;
        for (i = 0; i < n_long; i++) prompt[r][i] = (int32_t)((i * 7919 + 13) % 1000);
        prompt[r][0] = (int32_t)r; /* separate requests: nothing in common from the first block on */
    }
    if (shared) {
        rq.prompt = prompt[0], rq.n = N_REQ;
        if (it_generator_submit(g, &rq, ids) != IT_OK) die(ctx, "submit");
    } else
        for (r = 0; r < N_REQ; r++) {
            rq.prompt = prompt[r];
            if (it_generator_submit(g, &rq, &ids[r]) != IT_OK) die(ctx, "submit");
        }
    while (it_generator_pending(g)) {
        const it_generation_event *ev;
        int n;
        it_kv_stats s;
        if (it_generator_step(g, &ev, &n) != IT_OK) die(ctx, "step");
        s = it_kv_cache_stats(d);
        if (s.n_blocks - s.free_blocks > peak) peak = s.n_blocks - s.free_blocks;
    }
    return peak;
}

int main(int argc, char **argv) {
    const char *preset = "tiny";
    int n_prompt = 16, n_new = 64, reps = 5, threads = 0, n_long = 400, i, k, rep;
    static const int conc[3] = {1, 4, 16};
    double seq[MAX_REPS], bat[3][MAX_REPS], ttft[3][MAX_REPS], ttft_max[3][MAX_REPS];
    it_context_desc desc;
    it_context *ctx;
    it_model_config cfg;
    it_model *m;
    it_decoder *dec;
    it_generator *gens[3], *share_gen;
    it_generator_desc gd;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
        else if (!strcmp(argv[i], "--prompt")) n_prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--new")) n_new = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "batch_bench: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || n_prompt < 1 || n_new < 1) {
        fprintf(stderr, "batch_bench: --reps 1..%d, --prompt and --new >= 1\n", MAX_REPS);
        return 2;
    }
    memset(&desc, 0, sizeof desc);
    desc.n_threads = threads;
    if (it_context_create(&desc, &ctx) != IT_OK || it_model_preset(preset, &cfg) != IT_OK) return 1;
    if (n_prompt + n_new > cfg.max_seq || n_long + n_new > cfg.max_seq) {
        fprintf(stderr, "batch_bench: prompt + new tokens past the model's %d positions\n", cfg.max_seq);
        return 2;
    }
    if (it_model_create(ctx, &cfg, &m) != IT_OK || it_model_init(m, 1) != IT_OK || it_decoder_create(m, 0, &dec) != IT_OK)
        die(ctx, "model");
    for (k = 0; k < 3; k++) {
        memset(&gd, 0, sizeof gd);
        gd.cache.max_seqs = conc[k];
        if (it_generator_create(m, &gd, &gens[k]) != IT_OK) die(ctx, "generator");
    }
    memset(&gd, 0, sizeof gd);
    gd.cache.max_seqs = N_REQ;
    if (it_generator_create(m, &gd, &share_gen) != IT_OK) die(ctx, "generator");
    for (i = 0; i < N_REQ; i++) {
        int j;
        for (j = 0; j < n_prompt; j++) prompts[i][j] = (int32_t)((i * 131 + j * 17 + 5) % cfg.vocab_size);
    }
    {
        it__sgemm_isa g = it__sgemm_pick_isa();
        printf("batch_bench: preset %s (%.1f M parameters, %.0f MB of f32 weights), %d threads, SGEMM %s; 16 requests of %d "
               "prompt + %d new tokens, greedy; %d interleaved repetitions\n",
               preset, it_model_config_param_count(&cfg) / 1e6, it_model_config_param_count(&cfg) * 4 / 1e6, ctx->n_threads,
               g.name, n_prompt, n_new, reps);
    }
    (void)run_sequential(ctx, dec, n_prompt, n_new); /* warm-up: page in the weights, start the workers */
    for (rep = 0; rep < reps; rep++) {
        seq[rep] = run_sequential(ctx, dec, n_prompt, n_new);
        for (k = 0; k < 3; k++) bat[k][rep] = run_batched(ctx, gens[k], n_prompt, n_new, &ttft[k][rep], &ttft_max[k][rep]);
    }
    {
        double s_med = median(seq, reps), s_lo = lowest(seq, reps), s_hi = seq[reps - 1], med[3];
        printf("%-34s %12s %20s %16s %16s\n", "", "tokens/s", "spread (min .. max)", "x sequential", "TTFT ms (med/max)");
        printf("%-34s %12.0f %9.0f .. %-8.0f %16s %16s\n", "16 sequential (contiguous decoder)", s_med, s_lo, s_hi, "1.00", "-");
        for (k = 0; k < 3; k++) {
            double lo, hi, t_med, t_max;
            med[k] = median(bat[k], reps), lo = bat[k][0], hi = bat[k][reps - 1];
            t_med = median(ttft[k], reps), t_max = median(ttft_max[k], reps);
            printf("%-34s %12.0f %9.0f .. %-8.0f %16.2f %8.1f / %-6.1f\n",
                   k == 0 ? "1 concurrent (batcher)" : k == 1 ? "4 concurrent (batcher)" : "16 concurrent (batcher)", med[k], lo,
                   hi, med[k] / s_med, t_med, t_max);
        }
        {
            int shared = peak_blocks(ctx, share_gen, n_long, n_new, 1), copies = peak_blocks(ctx, share_gen, n_long, n_new, 0);
            double mb = (double)it_kv_cache_stats(it_generator_decoder(share_gen)).block_bytes / 1e6;
            printf("KV cache, 16 samples of one %d-token prompt + %d new each: %d blocks (%.1f MB) shared, %d blocks (%.1f MB) "
                   "as 16 separate prompts (%.2fx)\n",
                   n_long, n_new, shared, shared * mb, copies, copies * mb, (double)copies / shared);
            printf("batch_bench seq_tok_s=%.0f c1_tok_s=%.0f c4_tok_s=%.0f c16_tok_s=%.0f ratio16=%.2f ttft16_ms=%.1f "
                   "kv_shared_mb=%.1f kv_copies_mb=%.1f\n",
                   s_med, med[0], med[1], med[2], med[2] / s_med, median(ttft[2], reps), shared * mb, copies * mb);
        }
    }
    it_context_destroy(ctx);
    return 0;
}
