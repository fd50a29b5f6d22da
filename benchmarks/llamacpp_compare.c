/* Our decoder against llama.cpp's on one GGUF file (issue 14: "our GGUF in real llama.cpp").

   Loads F.gguf twice in one process, with it_gguf_load (decoding at the file's own type, as
   `build/generate --model F.gguf` does) and with llama.cpp's own loader (libllama, CPU only), then
   feeds both the same tokens: the prompt as one batch, then n_new times the token our decoder
   picks greedily (teacher forcing, so every step's logits are comparable even after a near-tie
   made the two greedy paths part). At every step it compares the two logit vectors and the two
   argmaxes, and prints one machine-readable line:

     llamacpp_check file=F type=T steps=N agree=K first_disagree=S min_margin_disagree=M
                    step0_max_diff=D0 max_diff=D logit_range=R rel_max_diff=D/R ids=...

   steps are the prompt's step and n_new single-token steps; agree counts steps where llama.cpp's
   argmax is ours; first_disagree is -1 when they always agree (then `ids` is llama.cpp's greedy
   continuation too); min_margin_disagree is our top-1 minus top-2 logit at the closest call where
   they disagreed (a pick can only swap where that margin is at most twice the step's largest logit
   difference, so the differences are the test; agree shows what they do to greedy decoding). With --prompt TEXT the text is
   also tokenized by llama.cpp and by our reader of the file's tokenizer (it_gguf_load_tokenizer)
   and the ids compared (tokenize_equal=1|0), and that prompt is used.

   llama.cpp's context is made to compute what ours does: K/V cache in F32 (its default is F16),
   flash attention off. Its products still round the activations differently (Q8_0 activations
   with an fp16 scale for Q8_0 / Q4_0 weights, where ours keeps the scale in f32; F16 weights
   multiply f16-rounded activations, where ours reads F16 files into f32), so the logits agree
   closely, not bit for bit. Which is why this program reports the differences rather than
   asserting a bound: benchmarks/llamacpp_check.sh decides what passes.

   Built by benchmarks/llamacpp_check.sh against a llama.cpp build (never by make: the library
   itself needs nothing of llama.cpp):
     cc -O2 -std=gnu11 -I. -I LLAMA/include -I LLAMA/ggml/include benchmarks/llamacpp_compare.c \
        -L LLAMA/build/bin -lllama -lggml -lggml-base -Wl,-rpath,LLAMA/build/bin -lm -lpthread
   Usage: llamacpp_compare F.gguf [--ids 1,2,3 | --prompt TEXT] [--new N] [--threads T] [--time]
                           [--template FILE] [--cases FILE]

   --template FILE: the chat template llama.cpp reads from the file (llama_model_chat_template)
   must be FILE's bytes: chat_template_equal=1|0 on the llamacpp_check line (-1 without it).
   --cases FILE: lines "HEX<tab>IDS" (a UTF-8 text in hex, its reference ids without BOS / EOS,
   comma-separated, as benchmarks/llamacpp_models.py writes them): each text is tokenized by
   llama.cpp (no BOS / EOS added; special tokens' text read as the tokens, parse_special, as ours
   and tokenizers do) and by our reader of the file's tokenizer (IT_TOKENIZE_NO_SPECIAL), both
   compared to the reference and to each other, and one line printed
     llamacpp_cases file=F cases=N ours_equal=A llama_equal=B ours_llama_equal=C
   (the first cases where ours and llama.cpp differ above it).

   --time: no llama.cpp; our decoder alone decodes the prompt, then n_new greedy tokens, timed as
   llama-bench times its generation test (only the single-token steps after the prompt), and prints
     ours_decode file=F type=T threads=T tokens=N tok_s=X
   (benchmarks/llamacpp_check.sh --speed runs it beside llama-bench -p 0 -n N, A B A B). */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PROMPT 256

/* llama.cpp logs every tensor it loads; only its errors matter here. */
static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --time: tokens/s of our decoder over n_new greedy single-token steps after the prompt. */
static int time_ours(it_model *model, it_weight_type type, const char *path, int threads, const int32_t *prompt,
                     int n_prompt, int n_new) {
    it_decoder_desc dd;
    it_decoder *dec;
    it_sampling greedy;
    int32_t tok;
    double t0;
    int i;
    memset(&dd, 0, sizeof dd);
    dd.max_seq = n_prompt + n_new + 1;
    dd.weights = type;
    memset(&greedy, 0, sizeof greedy);
    if (it_decoder_create_ex(model, &dd, &dec) != IT_OK || it_decoder_next(dec, prompt, n_prompt, &greedy, NULL, &tok) != IT_OK)
        return 1;
    t0 = now_seconds();
    for (i = 0; i < n_new; i++) {
        int32_t in = tok;
        if (it_decoder_next(dec, &in, 1, &greedy, NULL, &tok) != IT_OK) return 1;
    }
    printf("ours_decode file=%s type=%s threads=%d tokens=%d tok_s=%.3f\n", path, type ? it_weight_type_name(type) : "f32", threads,
           n_new, n_new / (now_seconds() - t0));
    it_decoder_destroy(dec);
    return 0;
}

/* "1,2,3" into out (at most MAX_PROMPT ids in [0, vocab)); the count, or -1 with a message. */
static int parse_ids(const char *arg, int vocab, int32_t *out) {
    const char *p = arg;
    int n = 0;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= vocab || n == MAX_PROMPT || (*end && *end != ',')) {
            fprintf(stderr, "llamacpp_compare: --ids '%s': not up to %d ids in [0, %d)\n", arg, MAX_PROMPT, vocab);
            return -1;
        }
        out[n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (!n) fprintf(stderr, "llamacpp_compare: --ids '%s': no ids\n", arg);
    return n ? n : -1;
}

/* The bytes of a whole file (NUL-terminated; *n without the NUL), NULL when it cannot be read. */
static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (char *)malloc((size_t)len + 1)) && fread(buf, 1, (size_t)len, f) == (size_t)len) {
        buf[len] = 0;
        *n = (size_t)len;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    int i;
    printf("  %s", label);
    for (i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    printf("\n");
}

/* --cases: every text of FILE tokenized by llama.cpp and by ours against the reference ids. */
static int compare_cases(it_context *ctx, const char *gguf, const struct llama_vocab *lv, const char *path) {
    size_t size, at = 0;
    char *all = read_file(path, &size);
    it_tokenizer *tok = NULL;
    int cases = 0, ours_equal = 0, llama_equal = 0, ours_llama_equal = 0, shown = 0;
    if (!all) {
        fprintf(stderr, "llamacpp_compare: --cases %s: cannot read it\n", path);
        return 1;
    }
    if (it_gguf_load_tokenizer(ctx, gguf, &tok, NULL) != IT_OK || !tok) {
        fprintf(stderr, "llamacpp_compare: ours does not read the file's tokenizer: %s\n", it_context_last_error(ctx));
        return 1;
    }
    while (at < size) {
        char *line = all + at, *tab, *end = strchr(line, '\n'), *p;
        uint8_t text[4096];
        int32_t want[4096], theirs[4096], *ours = NULL;
        size_t n_text = 0, n_ours = 0;
        int n_want = 0, n_theirs, ok_ours, ok_llama, same, i;
        if (end) *end = 0;
        at += strlen(line) + 1;
        if (!*line) continue;
        if (!(tab = strchr(line, '\t')) || (tab - line) % 2 || (tab - line) / 2 > (long)sizeof text) {
            fprintf(stderr, "llamacpp_compare: --cases %s: a line is not HEX<tab>IDS\n", path);
            return 1;
        }
        for (p = line; p < tab; p += 2) {
            unsigned v;
            if (sscanf(p, "%2x", &v) != 1) return 1;
            text[n_text++] = (uint8_t)v;
        }
        for (p = tab + 1; *p && n_want < 4096;) {
            want[n_want++] = (int32_t)strtol(p, &p, 10);
            if (*p == ',') p++;
        }
        n_theirs = llama_tokenize(lv, (const char *)text, (int32_t)n_text, theirs, 4096, false, true);
        if (it_tokenizer_encode_flags(ctx, tok, text, n_text, IT_TOKENIZE_NO_SPECIAL, &ours, &n_ours) != IT_OK) {
            printf("  case %d: ours refuses it: %s\n", cases, it_context_last_error(ctx));
            n_ours = 0;
            ok_ours = 0;
        } else {
            ok_ours = n_ours == (size_t)n_want;
            for (i = 0; ok_ours && i < n_want; i++) ok_ours = ours[i] == want[i];
        }
        ok_llama = n_theirs == n_want;
        for (i = 0; ok_llama && i < n_want; i++) ok_llama = theirs[i] == want[i];
        same = n_theirs == (int)n_ours;
        for (i = 0; same && i < n_theirs; i++) same = theirs[i] == ours[i];
        ours_equal += ok_ours;
        llama_equal += ok_llama;
        ours_llama_equal += same;
        if (!same && shown++ < 10) {
            printf("  case %d (%.*s): ours %s the reference, llama.cpp %s, ours and llama.cpp differ\n", cases,
                   (int)(tab - line) > 80 ? 80 : (int)(tab - line), line, ok_ours ? "gives" : "differs from",
                   ok_llama ? "gives it" : "differs from it");
            print_ids("reference: ", want, n_want);
            print_ids("ours:      ", ours, (int)n_ours);
            print_ids("llama.cpp: ", theirs, n_theirs > 0 ? n_theirs : 0);
        }
        it_ids_free(ctx, ours);
        cases++;
    }
    printf("llamacpp_cases file=%s cases=%d ours_equal=%d llama_equal=%d ours_llama_equal=%d\n", gguf, cases, ours_equal,
           llama_equal, ours_llama_equal);
    it_tokenizer_destroy(tok);
    free(all);
    return 0;
}

static int argmax(const float *x, int n, float *margin) {
    int i, best = 0;
    float second = -INFINITY;
    for (i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    for (i = 0; i < n; i++)
        if (i != best && x[i] > second) second = x[i];
    if (margin) *margin = x[best] - second;
    return best;
}

int main(int argc, char **argv) {
    const char *path = NULL, *ids_arg = "1", *prompt = NULL, *template_path = NULL, *cases_path = NULL;
    int n_new = 32, threads = 1, timing = 0, i, n_prompt = 0, vocab, agree = 0, first_disagree = -1, step, tokenize_equal = -1,
        template_equal = -1;
    int32_t prompt_ids[MAX_PROMPT], *seq;
    float min_margin_disagree = INFINITY, max_diff = 0, step0_diff = 0, lo = INFINITY, hi = -INFINITY;
    it_context_desc cd;
    it_context *ctx;
    it_model *model;
    it_weight_type type;
    it_decoder_desc dd;
    it_decoder *dec;
    struct llama_model_params mp;
    struct llama_context_params cp;
    struct llama_model *lm;
    struct llama_context *lc;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_arg = argv[++i];
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(argv[i], "--new") && i + 1 < argc) n_new = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time")) timing = 1;
        else if (!strcmp(argv[i], "--template") && i + 1 < argc) template_path = argv[++i];
        else if (!strcmp(argv[i], "--cases") && i + 1 < argc) cases_path = argv[++i];
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: llamacpp_compare F.gguf [--ids 1,2,3 | --prompt TEXT] [--new N] [--threads T] [--time] [--template FILE] [--cases FILE]\n");
            return 2;
        }
    }
    if (!path || n_new < 1 || n_new > 4096 || threads < 1) {
        fprintf(stderr, "usage: llamacpp_compare F.gguf [--ids 1,2,3 | --prompt TEXT] [--new N] [--threads T] [--time] [--template FILE] [--cases FILE]\n");
        return 2;
    }

    /* ours */
    memset(&cd, 0, sizeof cd);
    cd.n_threads = threads;
    if (it_context_create(&cd, &ctx) != IT_OK) return 1;
    if (it_gguf_load(ctx, path, &model, &type) != IT_OK) {
        fprintf(stderr, "llamacpp_compare: ours: %s\n", it_context_last_error(ctx));
        return 1;
    }

    if (timing) { /* ours alone: --ids only */
        if ((n_prompt = parse_ids(ids_arg, model->config.vocab_size, prompt_ids)) < 0) return 2;
        if (time_ours(model, type, path, threads, prompt_ids, n_prompt, n_new)) {
            fprintf(stderr, "llamacpp_compare: ours: %s\n", it_context_last_error(ctx));
            return 1;
        }
        it_context_destroy(ctx);
        return 0;
    }

    /* llama.cpp, CPU only */
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    lm = llama_model_load_from_file(path, mp);
    if (!lm) {
        fprintf(stderr, "llamacpp_compare: llama.cpp could not load %s\n", path);
        return 1;
    }
    vocab = llama_vocab_n_tokens(llama_model_get_vocab(lm));
    if (cases_path && compare_cases(ctx, path, llama_model_get_vocab(lm), cases_path)) return 1;
    if (template_path) {
        size_t n;
        char *want = read_file(template_path, &n);
        const char *theirs = llama_model_chat_template(lm, NULL);
        if (!want) {
            fprintf(stderr, "llamacpp_compare: --template %s: cannot read it\n", template_path);
            return 1;
        }
        template_equal = theirs && strlen(theirs) == n && !memcmp(theirs, want, n);
        free(want);
    }

    /* the prompt: ids, or a text both tokenize */
    if (prompt) {
        const struct llama_vocab *lv = llama_model_get_vocab(lm);
        llama_token lt[MAX_PROMPT];
        int n_l = llama_tokenize(lv, prompt, (int32_t)strlen(prompt), lt, MAX_PROMPT, true, false);
        it_tokenizer *tok = NULL;
        int32_t *ours = NULL;
        size_t n_ours = 0;
        if (n_l <= 0) {
            fprintf(stderr, "llamacpp_compare: llama.cpp tokenizes the prompt to %d tokens\n", n_l);
            return 1;
        }
        if (it_gguf_load_tokenizer(ctx, path, &tok, NULL) != IT_OK || !tok) {
            printf("llamacpp_compare: our reader does not take this file's tokenizer (%s); llama.cpp's ids are used\n",
                   tok ? "" : it_context_last_error(ctx));
        } else if (it_tokenizer_encode(ctx, tok, (const uint8_t *)prompt, strlen(prompt), &ours, &n_ours) == IT_OK) {
            tokenize_equal = n_ours == (size_t)n_l;
            for (i = 0; tokenize_equal && i < n_l; i++) tokenize_equal = ours[i] == lt[i];
            if (!tokenize_equal) {
                printf("tokenize llama.cpp:");
                for (i = 0; i < n_l; i++) printf(" %d", lt[i]);
                printf("\ntokenize ours:     ");
                for (i = 0; i < (int)n_ours; i++) printf(" %d", ours[i]);
                printf("\n");
            }
            it_ids_free(ctx, ours);
        }
        for (i = 0; i < n_l; i++) prompt_ids[i] = lt[i];
        n_prompt = n_l;
    } else {
        if ((n_prompt = parse_ids(ids_arg, vocab, prompt_ids)) < 0) return 2;
    }

    memset(&dd, 0, sizeof dd);
    dd.max_seq = n_prompt + n_new + 1;
    dd.weights = type; /* the file's own type (F32 for F16 files), as build/generate decodes it */
    if (it_decoder_create_ex(model, &dd, &dec) != IT_OK) {
        fprintf(stderr, "llamacpp_compare: ours: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (it_decoder_vocab(dec) != vocab) {
        fprintf(stderr, "llamacpp_compare: llama.cpp reads %d tokens, ours %d\n", vocab, it_decoder_vocab(dec));
        return 1;
    }
    cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_prompt + n_new + 1);
    cp.n_batch = cp.n_ubatch = (uint32_t)(n_prompt > 32 ? n_prompt : 32);
    cp.n_threads = cp.n_threads_batch = threads;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    lc = llama_init_from_model(lm, cp);
    if (!lc) {
        fprintf(stderr, "llamacpp_compare: llama.cpp could not make a context\n");
        return 1;
    }

    seq = (int32_t *)malloc(sizeof(int32_t) * (size_t)(n_prompt + n_new + 1));
    if (!seq) return 1;
    memcpy(seq, prompt_ids, sizeof(int32_t) * (size_t)n_prompt);
    for (step = 0; step <= n_new; step++) {
        const int32_t *in = step ? &seq[n_prompt + step - 1] : seq;
        int n_in = step ? 1 : n_prompt, a, b;
        const float *ours;
        float *theirs, diff = 0, margin;
        if (it_decoder_feed(dec, in, n_in, &ours) != IT_OK) {
            fprintf(stderr, "llamacpp_compare: ours, step %d: %s\n", step, it_context_last_error(ctx));
            return 1;
        }
        if (llama_decode(lc, llama_batch_get_one((llama_token *)in, n_in)) != 0 || !(theirs = llama_get_logits_ith(lc, -1))) {
            fprintf(stderr, "llamacpp_compare: llama.cpp failed at step %d\n", step);
            return 1;
        }
        for (i = 0; i < vocab; i++) {
            float d = fabsf(ours[i] - theirs[i]);
            if (d > diff || d != d) diff = d;
            if (ours[i] < lo) lo = ours[i];
            if (ours[i] > hi) hi = ours[i];
        }
        if (step == 0) step0_diff = diff;
        if (diff > max_diff || diff != diff) max_diff = diff;
        a = argmax(ours, vocab, &margin);
        b = argmax(theirs, vocab, NULL);
        if (a == b) agree++;
        else {
            if (first_disagree < 0) first_disagree = step;
            if (margin < min_margin_disagree) min_margin_disagree = margin;
        }
        if (step < n_new) seq[n_prompt + step] = a;
    }
    printf("llamacpp_check file=%s type=%s threads=%d prompt_tokens=%d steps=%d agree=%d first_disagree=%d "
           "min_margin_disagree=%.4g step0_max_diff=%.3g max_diff=%.3g logit_range=%.3g rel_max_diff=%.3g tokenize_equal=%d "
           "chat_template_equal=%d ids=",
           path, type ? it_weight_type_name(type) : "f32", threads, n_prompt, n_new + 1, agree, first_disagree,
           first_disagree < 0 ? 0.0 : (double)min_margin_disagree, step0_diff, max_diff, hi - lo,
           hi > lo ? max_diff / (hi - lo) : 0.0, tokenize_equal, template_equal);
    for (i = 0; i < n_new; i++) printf(i ? ",%d" : "%d", seq[n_prompt + i]);
    printf("\n");

    free(seq);
    llama_free(lc);
    llama_model_free(lm);
    llama_backend_free();
    it_decoder_destroy(dec);
    it_context_destroy(ctx);
    return 0;
}
