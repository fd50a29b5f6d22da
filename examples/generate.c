/* generate.c - sample text from a checkpoint written by build/train.

     cc -O2 -std=c99 -I. examples/generate.c -o build/generate -lm -lpthread
     build/generate --checkpoint DIR --prompt "ROMEO:" --max-new-tokens 200 --temperature 0.8 --top-k 40

   The prompt and its continuation go to stdout (streamed token by token), statistics to stderr.
   The prompt is processed in one batch into a KV cache, then each new token is one step; the
   next token is sampled from the logits of the last position: temperature, then top-k, then
   top-p (nucleus); --greedy takes the argmax. Past max-seq tokens the model sees the last max-seq
   (the cache is refilled from that window). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c99 */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f, "usage: generate --checkpoint DIR [--prompt TEXT] [--max-new-tokens N]\n"
               "                [--greedy | --temperature T --top-k K --top-p P] [--seed S] [--threads N]\n"
               "  --checkpoint DIR      a directory written by train --save (required)\n"
               "  --prompt TEXT         the text to continue (default \"\\n\")\n"
               "  --max-new-tokens N    tokens to generate (default 200)\n"
               "  --greedy              always the most likely token (same as --temperature 0)\n"
               "  --temperature T       softmax temperature, 0 = greedy (default 0.8)\n"
               "  --top-k K             sample among the K most likely tokens, 0 = all (default 40)\n"
               "  --top-p P             then among the smallest set with mass >= P, 1 = all (default 0.95)\n"
               "  --seed S              sampling seed (default 1)\n"
               "  --threads N           CPU threads, 0 = all cores (default 0)\n");
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int number(const char *flag, const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || *end || end == s || !(*out >= min && *out <= max)) {
        fprintf(stderr, "generate: %s expects a number in [%g, %g], got '%s'\n", flag, min, max, s);
        return 0;
    }
    return 1;
}
/* Counts and seeds: 1.5 is refused, not truncated to 1. */
static int whole_number(const char *flag, const char *s, double min, double max, double *out) {
    if (!number(flag, s, min, max, out)) return 0;
    if (*out != (double)(long long)*out || strpbrk(s, ".eE")) {
        fprintf(stderr, "generate: %s expects a whole number, got '%s'\n", flag, s);
        return 0;
    }
    return 1;
}
static void log_below_errors(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level < IT_LOG_ERROR) fprintf(stderr, "irontensor: %s\n", message);
}

int main(int argc, char **argv) {
    const char *checkpoint = NULL, *prompt = "\n";
    double max_new = 200, temperature = 0.8, top_k = 40, top_p = 0.95, seed = 1, threads = 0;
    it_context_desc desc;
    it_context *ctx;
    it_model_config config;
    it_model *model;
    it_decoder *dec;
    const float *logits;
    it_tokenizer *tok = NULL;
    it_rng rng;
    int32_t *ids = NULL, *context;
    size_t n_prompt = 0, n, start;
    float *probs;
    int *order, i, V, T, new_tokens, has_tok;
    char tok_path[4200];
    double t0, t_first = 0;

    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(f, "--greedy")) {
            temperature = 0;
            continue;
        }
        if (strncmp(f, "--", 2) != 0) {
            fprintf(stderr, "generate: unexpected argument '%s'%s (see --help)\n", f,
                    i > 1 && !strcmp(argv[i - 1], "--greedy") ? " (--greedy takes no value)" : "");
            return 2;
        }
        if (!v) {
            fprintf(stderr, "generate: %s needs a value (see --help)\n", f);
            return 2;
        }
        if (!strcmp(f, "--checkpoint")) checkpoint = v;
        else if (!strcmp(f, "--prompt")) prompt = v;
        else if (!strcmp(f, "--max-new-tokens")) ok = whole_number(f, v, 0, 1e7, &max_new);
        else if (!strcmp(f, "--temperature")) ok = number(f, v, 0, 100, &temperature);
        else if (!strcmp(f, "--top-k")) ok = whole_number(f, v, 0, 1e9, &top_k);
        else if (!strcmp(f, "--top-p")) ok = number(f, v, 0, 1, &top_p);
        else if (!strcmp(f, "--seed")) ok = whole_number(f, v, 0, 1e18, &seed);
        else if (!strcmp(f, "--threads")) ok = whole_number(f, v, 0, 256, &threads);
        else {
            fprintf(stderr, "generate: unknown flag '%s' (see --help)\n", f);
            return 2;
        }
        if (!ok) return 1;
        i++;
    }
    if (!checkpoint) {
        fprintf(stderr, "generate: --checkpoint DIR is required (see --help)\n");
        return 2;
    }
    memset(&desc, 0, sizeof desc);
    desc.n_threads = (int)threads;
    desc.logger.log = log_below_errors;
    desc.logger.min_level = IT_LOG_INFO;
    if (it_context_create(&desc, &ctx) != IT_OK) return 1;

    /* the model: config first (to declare the parameters), then the validated weights */
    if (it_checkpoint_read_config(ctx, checkpoint, &config) != IT_OK || it_model_create(ctx, &config, &model) != IT_OK ||
        it_checkpoint_load(ctx, model, NULL, NULL, checkpoint) != IT_OK ||
        it_decoder_create(model, config.max_seq, &dec) != IT_OK) {
        fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
        return 1;
    }
    /* a checkpoint without tokenizer.bin is byte-level: only right for a 256-token vocabulary */
    has_tok = it_checkpoint_tokenizer_path(checkpoint, tok_path, sizeof tok_path);
    if (!has_tok && config.vocab_size != 256) {
        fprintf(stderr, "generate: %s has a vocabulary of %d tokens but no tokenizer.bin (bytes would be the wrong "
                        "tokens)\n", checkpoint, config.vocab_size);
        return 1;
    }
    if (has_tok ? it_tokenizer_load(ctx, tok_path, &tok) : it_tokenizer_byte(ctx, &tok)) {
        fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
        return 1;
    }
    V = config.vocab_size;
    T = config.max_seq;
    if (it_tokenizer_vocab_size(tok) > V) {
        fprintf(stderr, "generate: the tokenizer has %d tokens but the model only %d\n", it_tokenizer_vocab_size(tok), V);
        return 1;
    }
    if (it_tokenizer_encode(ctx, tok, (const uint8_t *)prompt, strlen(prompt), &ids, &n_prompt) != IT_OK ||
        n_prompt == 0) {
        fprintf(stderr, "generate: the prompt must encode to at least one token\n");
        return 1;
    }
    new_tokens = (int)max_new;
    context = (int32_t *)malloc(sizeof(int32_t) * (n_prompt + (size_t)new_tokens));
    probs = (float *)malloc(sizeof(float) * (size_t)V);
    order = (int *)malloc(sizeof(int) * (size_t)V);
    if (!context || !probs || !order) {
        fprintf(stderr, "generate: out of memory\n");
        return 1;
    }
    memcpy(context, ids, sizeof(int32_t) * n_prompt);
    it_rng_seed(&rng, (uint64_t)seed);
    fwrite(prompt, 1, strlen(prompt), stdout);
    fflush(stdout);

    t0 = now_seconds();
    start = n_prompt > (size_t)T ? n_prompt - (size_t)T : 0; /* the prompt's last window, in one batch */
    if (it_decoder_feed(dec, context + start, (int)(n_prompt - start), &logits) != IT_OK) {
        fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
        return 1;
    }
    t_first = now_seconds() - t0;
    for (n = n_prompt; n < n_prompt + (size_t)new_tokens; n++) {
        const uint8_t *bytes;
        size_t nbytes;
        int32_t next = it_cpu_sample(logits, V, (float)temperature, (int)top_k, (float)top_p, it_rng_uniform(&rng),
                                     probs, order);
        it_result r;
        context[n] = next;
        bytes = it_tokenizer_token_bytes(tok, next, &nbytes);
        if (bytes) fwrite(bytes, 1, nbytes, stdout);
        fflush(stdout);
        if (n + 1 == n_prompt + (size_t)new_tokens) break;
        if (it_decoder_pos(dec) < T) {
            r = it_decoder_feed(dec, &next, 1, &logits); /* one step: the cache holds the rest */
        } else {                                         /* full: refill from the last T tokens */
            it_decoder_reset(dec);
            r = it_decoder_feed(dec, context + n + 1 - (size_t)T, T, &logits);
        }
        if (r != IT_OK) {
            fprintf(stderr, "\ngenerate: %s\n", it_context_last_error(ctx));
            return 1;
        }
    }
    {
        double elapsed = now_seconds() - t0;
        printf("\n");
        fprintf(stderr, "generate: %zu prompt tokens, %d new tokens in %.2f s (prompt %.0f ms, %.1f tokens/s), %s\n",
                n_prompt, new_tokens, elapsed, t_first * 1000, new_tokens / (elapsed > 0 ? elapsed : 1),
                temperature <= 0 ? "greedy" : "sampled");
    }
    free(context);
    free(probs);
    free(order);
    it_ids_free(ctx, ids);
    it_tokenizer_destroy(tok);
    it_decoder_destroy(dec);
    it_model_destroy(model);
    it_context_destroy(ctx);
    return 0;
}
