/* generate.c - text from a model: a Hugging Face model directory or a checkpoint of build/train.

     cc -O2 -std=c99 -I. examples/generate.c -o build/generate -lm -lpthread
     build/generate --model DIR --prompt "The capital of France is" --max-new-tokens 40
     build/generate --model DIR --chat --system "You are terse."       (a conversation on stdin)
     build/generate --model DIR --ids 1,2,3 --greedy --max-new-tokens 8 --print-ids

   DIR holds config.json and model.safetensors (or a sharded set); the tokenizer is DIR's
   tokenizer.json (Hugging Face) or tokenizer.bin (build/train's BPE), or the byte-level one for a
   256-token vocabulary. generation_config.json gives the end-of-sequence ids and the default
   sampling (flags win over it). The prompt is processed in one batch into a KV cache, then each
   new token is one step, sampled from the last position's logits by it_decoder_next (on the GPU
   with --backend metal or cuda: one wait a token): repetition penalty over the tokens the model sees,
   then temperature, top-k, top-p, min-p (transformers' order); --greedy takes the argmax. Output
   streams as it is generated, always whole UTF-8 characters; it stops at an end-of-sequence id
   (not printed), at a --stop string (not printed, found even when it spans tokens), or after
   --max-new-tokens. Past max-seq tokens the model sees the last max-seq (the cache is refilled
   from that window). --chat reads one user message per line, applies the model's chat template
   (it_chat_apply) to the whole conversation and answers each; the turn ends at the template's
   end-of-turn token. Statistics go to stderr. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, getline under -std=c99 */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#define IRONTENSOR_METAL_IMPLEMENTATION
#include "irontensor_metal.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "irontensor_cuda.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_STOPS 8
#define MAX_NEW_TOKENS 10000000 /* 40 MB of ids: far past any context, small enough to allocate */

static void usage(FILE *f) {
    fprintf(f, "usage: generate --model DIR [--prompt TEXT | --ids 1,2,3 | --chat [--system TEXT]]\n"
               "                [--max-new-tokens N] [--greedy | --temperature T --top-k K --top-p P --min-p M]\n"
               "                [--repeat-penalty R] [--stop STR]... [--print-ids] [--seed S] [--threads N]\n"
               "                [--quant f32|bf16|q8_0|q4_0]\n"
               "                [--backend cpu|metal|cuda]\n"
               "  --adapter DIR         a LoRA adapter (PEFT's adapter_config.json + adapter_model.safetensors,\n"
               "                        e.g. from build/finetune), run unmerged on top of --model\n"
               "  --model DIR           a Hugging Face model directory or a train --save checkpoint (required;\n"
               "                        --checkpoint DIR is the same), or a GGUF file (NAME.gguf: Llama family,\n"
               "                        F32/F16/BF16/Q8_0/Q4_0, its gpt2 BPE tokenizer and chat template)\n"
               "  --prompt TEXT         the text to continue (default \"\\n\")\n"
               "  --ids LIST            the prompt as token ids, comma-separated (no tokenizer needed)\n"
               "  --print-ids           print the generated ids, one line, comma-separated (instead of text)\n"
               "  --chat                a conversation: one user message per line of stdin, the model's chat\n"
               "                        template around it; --system TEXT opens it with a system message\n"
               "  --chat-template NAME  render with this built-in template instead of the model's (%s)\n"
               "  --max-new-tokens N    tokens to generate (per reply with --chat; default: generation_config.json's\n"
               "                        max_new_tokens, else 200)\n"
               "  --greedy              always the most likely token (same as --temperature 0)\n"
               "  --temperature T       softmax temperature, 0 = greedy (default 0.8, or generation_config.json's)\n"
               "  --top-k K             sample among the K most likely tokens, 0 = all (default 40)\n"
               "  --top-p P             then among the smallest set with mass >= P, 1 = all (default 0.95)\n"
               "  --min-p M             then drop tokens below M x the most likely one's probability (default 0)\n"
               "  --repeat-penalty R    divide the logits of tokens the model sees by R (default 1 = off)\n"
               "  --stop STR            stop when the text produces STR (not printed); up to %d, may span tokens\n"
               "  --ignore-eos          do not stop at the end-of-sequence ids\n"
               "  --seed S              sampling seed (default 1)\n"
               "  --threads N           CPU threads, 0 = all cores (default 0)\n"
               "  --quant TYPE          decode with the projections and head stored as TYPE: f32 (default; an\n"
               "                        it-quantize directory's or a GGUF file's own type), bf16, q8_0 or q4_0\n"
               "                        (llama.cpp's blocks; made once at load)\n"
               "  --backend cpu|metal|cuda  where the decoder runs (default cpu; metal: Apple GPUs, cuda: NVIDIA\n"
               "                        GPUs through the driver, NVRTC and cuBLAS; one wait per token)\n",
            it_chat_format_names(), MAX_STOPS);
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
static int file_exists(const char *dir, const char *name) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Writes bytes as UTF-8: a sequence that is not valid UTF-8 becomes U+FFFD (a byte-level model
   can produce any byte; the streams of whole characters below never split a valid one). */
static void write_utf8(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        size_t k;
        int ok = len > 0 && i + len <= n;
        for (k = 1; ok && k < len; k++) ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len == 3) ok = !(c == 0xE0 && p[i + 1] < 0xA0) && !(c == 0xED && p[i + 1] > 0x9F);
        if (ok && len == 4) ok = !(c == 0xF0 && p[i + 1] < 0x90) && !(c == 0xF4 && p[i + 1] > 0x8F);
        if (ok) fwrite(p + i, 1, len, stdout);
        else fputs("\xEF\xBF\xBD", stdout);
        i += ok ? len : 1;
    }
}

/* Text on its way to stdout: held back while it might still be the start of a stop string. */
typedef struct out_text {
    char *pending;
    size_t n, cap, hold; /* hold = the longest stop string's length - 1 */
    const char **stops;
    int n_stops, stopped;
    char *reply; /* everything written (the assistant's message in --chat) */
    size_t reply_n, reply_cap;
} out_text;
static int grow(char **p, size_t *cap, size_t need) {
    char *q;
    size_t c = *cap ? *cap : 256;
    if (need <= *cap) return 1;
    while (c < need) c *= 2;
    q = (char *)realloc(*p, c);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}
static int grow_ids(int32_t **p, size_t *cap, size_t need) {
    int32_t *q;
    size_t c = *cap ? *cap : 256;
    if (need <= *cap) return 1;
    while (c < need) c *= 2;
    q = (int32_t *)realloc(*p, c * sizeof(int32_t));
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}
static int out_emit(out_text *o, const char *s, size_t n) {
    if (!grow(&o->reply, &o->reply_cap, o->reply_n + n + 1)) return 0;
    memcpy(o->reply + o->reply_n, s, n);
    o->reply_n += n;
    o->reply[o->reply_n] = 0;
    write_utf8(s, n);
    fflush(stdout);
    return 1;
}
/* Appends a piece; writes what can no longer be part of a stop string. 0 when out of memory. */
static int out_push(out_text *o, const char *s, size_t n) {
    size_t safe;
    int i;
    if (o->stopped) return 1;
    if (!grow(&o->pending, &o->cap, o->n + n + 1)) return 0;
    memcpy(o->pending + o->n, s, n);
    o->n += n;
    o->pending[o->n] = 0;
    for (i = 0; i < o->n_stops; i++) { /* a stop string completed by this piece (it may start in an earlier one) */
        char *at = strstr(o->pending, o->stops[i]);
        if (at) {
            o->stopped = 1;
            o->n = (size_t)(at - o->pending);
            break;
        }
    }
    safe = o->stopped ? o->n : o->n > o->hold ? o->n - o->hold : 0;
    while (safe > 0 && safe < o->n && (o->pending[safe] & 0xC0) == 0x80) safe--; /* whole characters only */
    if (safe && !out_emit(o, o->pending, safe)) return 0;
    memmove(o->pending, o->pending + safe, o->n - safe);
    o->n -= safe;
    return 1;
}
static int out_finish(out_text *o) {
    int ok = o->stopped || o->n == 0 || out_emit(o, o->pending, o->n);
    o->n = 0;
    return ok;
}

/* What one generation needs: the model, its tokenizer (may be NULL with --print-ids), sampling. */
typedef struct generator {
    it_context *ctx;
    it_decoder *dec;
    const it_tokenizer *tok;
    int V, T;
    it_sampling sampling; /* the repetition penalty is the decoder's (it_decoder_set_repetition_penalty) */
    int32_t stop_ids[IT_GENERATION_MAX_EOS + 2];
    int n_stop_ids;
    it_rng rng;
    int32_t *fed; /* the tokens in the decoder's cache, in order */
    size_t n_fed, fed_cap;
} generator;

static int is_stop_id(const generator *g, int32_t id) {
    int i;
    for (i = 0; i < g->n_stop_ids; i++)
        if (g->stop_ids[i] == id) return 1;
    return 0;
}
/* Feeds context[0..n) so the cache holds its last T tokens and picks the token after them into
   *next; tokens already in the cache (a common prefix, as a chat's next turn has) are not fed
   again. */
static it_result feed_context(generator *g, const int32_t *context, size_t n, int32_t *next) {
    size_t start = n > (size_t)g->T ? n - (size_t)g->T : 0, keep = 0;
    it_result r;
    if (start == 0 && g->n_fed < n && memcmp(g->fed, context, g->n_fed * sizeof(int32_t)) == 0) keep = g->n_fed;
    if (keep == 0) it_decoder_reset(g->dec);
    r = it_decoder_next(g->dec, context + start + keep, (int)(n - start - keep), &g->sampling, &g->rng, next);
    if (r != IT_OK) return r;
    if (!grow_ids(&g->fed, &g->fed_cap, n)) return IT_ERR_OUT_OF_MEMORY;
    g->n_fed = n - start;
    memcpy(g->fed, context + start, g->n_fed * sizeof(int32_t));
    return IT_OK;
}
/* Generates up to max_new tokens after context[0..n_prompt) (context has room for them), writing
   them to context and, through `text`, as text (text NULL: ids only). Returns the number made. */
static long generate(generator *g, int32_t *context, size_t n_prompt, long max_new, out_text *text, double *t_first) {
    it_token_stream *stream = NULL;
    double t0 = now_seconds();
    size_t n = n_prompt;
    long made = 0;
    int32_t next;
    if (feed_context(g, context, n_prompt, &next) != IT_OK) goto fail;
    *t_first = now_seconds() - t0;
    if (text && g->tok && it_token_stream_create(g->ctx, g->tok, 0, &stream) != IT_OK) goto fail;
    while (made < max_new && !(text && text->stopped)) {
        if (is_stop_id(g, next)) break;
        context[n++] = next;
        made++;
        if (stream) {
            const char *piece;
            size_t len;
            if (it_token_stream_push(stream, next, &piece, &len) != IT_OK || !out_push(text, piece, len)) goto fail;
        }
        if (made == max_new || (text && text->stopped)) break;
        if (it_decoder_pos(g->dec) < g->T) { /* one step: the cache holds the rest */
            int32_t last = next;
            if (it_decoder_next(g->dec, &last, 1, &g->sampling, &g->rng, &next) != IT_OK) goto fail;
            if (!grow_ids(&g->fed, &g->fed_cap, g->n_fed + 1)) goto fail;
            g->fed[g->n_fed++] = last;
        } else if (feed_context(g, context, n, &next) != IT_OK) /* full: refill from the last T tokens */
            goto fail;
    }
    if (text && !out_finish(text)) goto fail;
    it_token_stream_destroy(stream);
    return made;
fail:
    fprintf(stderr, "\ngenerate: %s\n", it_context_last_error(g->ctx));
    it_token_stream_destroy(stream);
    return -1;
}

/* Reads a line of stdin without its newline; NULL at the end of input. */
static char *read_line(char **buf, size_t *cap) {
    ssize_t n = getline(buf, cap, stdin);
    if (n < 0) return NULL;
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) (*buf)[--n] = 0;
    return *buf;
}

/* --chat: the conversation so far, rendered whole each turn; the cache keeps the common prefix. */
static int chat(generator *g, const it_chat_template *tmpl, const char *system, long max_new, out_text *text) {
    it_chat_message *msgs = NULL;
    int n_msgs = 0, cap_msgs = 0, status = 0;
    char *line = NULL, *rendered = NULL;
    size_t line_cap = 0;
    int32_t *context = NULL;
    if (system) {
        msgs = (it_chat_message *)malloc(sizeof *msgs * 4);
        cap_msgs = 4;
        if (!msgs) return 1;
        msgs[n_msgs].role = "system";
        msgs[n_msgs++].content = strdup(system);
    }
    for (;;) {
        size_t len, n_ids = 0;
        int32_t *ids = NULL;
        long made, room;
        double t_first, t0;
        fprintf(stderr, "> ");
        if (!read_line(&line, &line_cap)) break;
        if (!line[0]) continue;
        if (n_msgs + 2 > cap_msgs) {
            it_chat_message *bigger = (it_chat_message *)realloc(msgs, sizeof *msgs * (size_t)(cap_msgs = cap_msgs * 2 + 4));
            if (!bigger) goto oom;
            msgs = bigger;
        }
        msgs[n_msgs].role = "user";
        msgs[n_msgs++].content = strdup(line);
        if (it_chat_apply(g->ctx, tmpl, msgs, n_msgs, 1, NULL, 0, &len) != IT_OK) goto lib_error;
        free(rendered);
        rendered = (char *)malloc(len + 1);
        if (!rendered) goto oom;
        if (it_chat_apply(g->ctx, tmpl, msgs, n_msgs, 1, rendered, len + 1, &len) != IT_OK ||
            it_tokenizer_encode_flags(g->ctx, g->tok, (const uint8_t *)rendered, len, IT_TOKENIZE_NO_SPECIAL, &ids, &n_ids) != IT_OK)
            goto lib_error;
        if (n_ids >= (size_t)g->T) { /* a reply must follow the whole conversation: no window here */
            fprintf(stderr, "generate: the conversation is %zu tokens, the model's context only %d: start a new one\n", n_ids,
                    g->T);
            it_ids_free(g->ctx, ids);
            status = 1;
            break;
        }
        room = (long)g->T - (long)n_ids < max_new ? (long)g->T - (long)n_ids : max_new;
        free(context);
        context = (int32_t *)malloc(sizeof(int32_t) * (n_ids + (size_t)room));
        if (!context) goto oom;
        memcpy(context, ids, sizeof(int32_t) * n_ids);
        it_ids_free(g->ctx, ids);
        text->reply_n = 0;
        text->stopped = 0;
        t0 = now_seconds();
        made = generate(g, context, n_ids, room, text, &t_first);
        if (made < 0) {
            status = 1;
            break;
        }
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "generate: %zu context tokens, %ld new tokens in %.2f s\n", n_ids, made, now_seconds() - t0);
        msgs[n_msgs].role = "assistant";
        msgs[n_msgs++].content = strdup(text->reply ? text->reply : "");
    }
    goto done;
lib_error:
    fprintf(stderr, "generate: %s\n", it_context_last_error(g->ctx));
    status = 1;
    goto done;
oom:
    fprintf(stderr, "generate: out of memory\n");
    status = 1;
done:
    while (n_msgs > 0) free((char *)msgs[--n_msgs].content);
    free(msgs);
    free(line);
    free(rendered);
    free(context);
    return status;
}

int main(int argc, char **argv) {
    const char *model_dir = NULL, *adapter_dir = NULL, *prompt = NULL, *ids_arg = NULL, *system = NULL, *template_name = NULL;
    const char *backend = "cpu";
    const char *stops[MAX_STOPS];
    double max_new = -1, temperature = -1, top_k = -1, top_p = -1, min_p = -1, repeat_penalty = -1, seed = 1, threads = 0;
    int n_stops = 0, print_ids = 0, chat_mode = 0, ignore_eos = 0, greedy = 0, i, status = 0;
    it_context_desc desc;
    it_decoder_desc dec_desc = {0, IT_WEIGHT_F32, IT_WEIGHT_INVALID}; /* --quant */
    int quant_given = 0, is_gguf;
    it_chat_template gguf_chat; /* a .gguf file's tokenizer.chat_template */
    it_context *ctx;
    it_model_config config;
    it_model *model;
    it_generation_config gen_cfg;
    it_tokenizer *tok = NULL;
    generator g;
    out_text text;
    int32_t *ids = NULL, *context;
    size_t n_prompt = 0;
    long new_tokens, made;
    char tok_path[4200];
    double t0, t_first = 0;

    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(f, "--greedy") || !strcmp(f, "--print-ids") || !strcmp(f, "--chat") || !strcmp(f, "--ignore-eos")) {
            *(!strcmp(f, "--greedy") ? &greedy : !strcmp(f, "--print-ids") ? &print_ids : !strcmp(f, "--chat") ? &chat_mode
                                                                                                            : &ignore_eos) = 1;
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
        if (!strcmp(f, "--model") || !strcmp(f, "--checkpoint")) model_dir = v;
        else if (!strcmp(f, "--adapter")) adapter_dir = v;
        else if (!strcmp(f, "--prompt")) prompt = v;
        else if (!strcmp(f, "--ids")) ids_arg = v;
        else if (!strcmp(f, "--system")) system = v;
        else if (!strcmp(f, "--chat-template")) template_name = v;
        else if (!strcmp(f, "--stop")) {
            if (n_stops == MAX_STOPS || !v[0]) {
                fprintf(stderr, "generate: --stop %s\n", v[0] ? "is given too often (at most 8)" : "needs a non-empty string");
                return 2;
            }
            stops[n_stops++] = v;
        } else if (!strcmp(f, "--max-new-tokens")) ok = whole_number(f, v, 0, MAX_NEW_TOKENS, &max_new);
        else if (!strcmp(f, "--temperature")) ok = number(f, v, 0, 100, &temperature);
        else if (!strcmp(f, "--top-k")) ok = whole_number(f, v, 0, 1e9, &top_k);
        else if (!strcmp(f, "--top-p")) ok = number(f, v, 0, 1, &top_p);
        else if (!strcmp(f, "--min-p")) ok = number(f, v, 0, 1, &min_p);
        else if (!strcmp(f, "--repeat-penalty")) ok = number(f, v, 0.01, 100, &repeat_penalty);
        else if (!strcmp(f, "--seed")) ok = whole_number(f, v, 0, 1e18, &seed);
        else if (!strcmp(f, "--threads")) ok = whole_number(f, v, 0, 256, &threads);
        else if (!strcmp(f, "--quant")) {
            quant_given = 1;
            if (!(dec_desc.weights = it_weight_type_from_name(v))) {
                fprintf(stderr, "generate: --quant '%s' is not one of f32, bf16, q8_0, q4_0\n", v);
                return 2;
            }
        }
        else if (!strcmp(f, "--backend")) {
            if (strcmp(v, "cpu") && strcmp(v, "metal") && strcmp(v, "cuda")) {
                fprintf(stderr, "generate: --backend must be cpu, metal or cuda, got '%s'\n", v);
                return 2;
            }
            backend = v;
        }
        else {
            fprintf(stderr, "generate: unknown flag '%s' (see --help)\n", f);
            return 2;
        }
        if (!ok) return 1;
        i++;
    }
    if (!model_dir) {
        fprintf(stderr, "generate: --model DIR is required (see --help)\n");
        return 2;
    }
    if ((prompt != NULL) + (ids_arg != NULL) + chat_mode > 1) {
        fprintf(stderr, "generate: --prompt, --ids and --chat are alternatives: give one\n");
        return 2;
    }
    if ((system || template_name) && !chat_mode) {
        fprintf(stderr, "generate: %s only applies to --chat\n", system ? "--system" : "--chat-template");
        return 2;
    }
    if (print_ids && (chat_mode || n_stops)) {
        fprintf(stderr, "generate: --print-ids and %s are alternatives: give one\n", chat_mode ? "--chat" : "--stop (a text stop)");
        return 2;
    }
    if (greedy && temperature > 0) {
        fprintf(stderr, "generate: --greedy and --temperature %g contradict each other\n", temperature);
        return 2;
    }
    memset(&desc, 0, sizeof desc);
    desc.n_threads = (int)threads;
    desc.logger.log = log_below_errors;
    desc.logger.min_level = IT_LOG_INFO;
    if (it_context_create(&desc, &ctx) != IT_OK) return 1;
    if (!strcmp(backend, "metal") || !strcmp(backend, "cuda")) {
        /* before the model: its blocks become Metal buffers / get device copies */
        it_backend *gpu;
        it_result r = !strcmp(backend, "metal") ? it_metal_backend_create(ctx, NULL, &gpu) : it_cuda_backend_create(ctx, NULL, &gpu);
        if (r != IT_OK) {
            fprintf(stderr, "generate: --backend %s: %s\n", backend, it_context_last_error(ctx));
            it_context_destroy(ctx);
            return 1;
        }
        it_context_set_backend(ctx, gpu);
    }
    memset(&g, 0, sizeof g);
    memset(&text, 0, sizeof text);
    g.ctx = ctx;

    /* the model: config first (to declare the parameters), then the validated weights; a .gguf
       file or an it-quantize directory decodes at its own precision unless --quant says otherwise
       (a .gguf has no generation config: its tokenizer's eos id stops generation) */
    is_gguf = strlen(model_dir) > 5 && !strcmp(model_dir + strlen(model_dir) - 5, ".gguf");
    if (is_gguf && adapter_dir) {
        fprintf(stderr, "generate: a LoRA adapter applies to a model directory, not to a GGUF file\n");
        return 2;
    }
    if (is_gguf) {
        memset(&gen_cfg, 0, sizeof gen_cfg);
        gen_cfg.bos_id = gen_cfg.pad_id = gen_cfg.do_sample = gen_cfg.top_k = gen_cfg.max_new_tokens = -1;
        gen_cfg.temperature = gen_cfg.top_p = gen_cfg.min_p = gen_cfg.repetition_penalty = -1;
    }
    if ((is_gguf ? it_gguf_load(ctx, model_dir, &model, NULL) : it_lora_model_load(ctx, model_dir, adapter_dir, &model, NULL)) != IT_OK ||
        (dec_desc.max_seq = model->config.max_seq, !quant_given && model->stored_weights ? dec_desc.weights = model->stored_weights : 0,
         it_decoder_create_ex(model, &dec_desc, &g.dec)) != IT_OK ||
        (!is_gguf && it_generation_config_read(ctx, model_dir, &gen_cfg) != IT_OK)) {
        fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
        return 1;
    }
    config = model->config;
    g.V = config.vocab_size;
    g.T = config.max_seq;

    /* the tokenizer: a .gguf file's own, tokenizer.json, tokenizer.bin, bytes for a 256-token
       vocabulary; --ids with --print-ids needs none (a GGUF tokenizer this library does not read
       is then only a notice) */
    if (is_gguf && it_gguf_load_tokenizer(ctx, model_dir, &tok, &gguf_chat) != IT_OK) {
        tok = NULL;
        if (!(ids_arg && print_ids)) {
            fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
            return 1;
        }
        fprintf(stderr, "generate: notice: the weights alone (--ids): %s\n", it_context_last_error(ctx));
    } else if (tok) {
        /* the GGUF file's */
    } else if (file_exists(model_dir, "tokenizer.json")) {
        if (it_tokenizer_load_hf(ctx, model_dir, &tok) != IT_OK) tok = NULL, status = 1;
    } else if (it_checkpoint_tokenizer_path(model_dir, tok_path, sizeof tok_path)) {
        if (it_tokenizer_load(ctx, tok_path, &tok) != IT_OK) tok = NULL, status = 1;
    } else if (config.vocab_size == 256) {
        if (it_tokenizer_byte(ctx, &tok) != IT_OK) tok = NULL, status = 1;
    } else if (!(ids_arg && print_ids)) {
        fprintf(stderr, "generate: %s has a vocabulary of %d tokens but no tokenizer (tokenizer.json or tokenizer.bin); "
                        "bytes would be the wrong tokens (--ids with --print-ids needs none)\n", model_dir, config.vocab_size);
        return 1;
    }
    if (status) {
        fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (tok && it_tokenizer_vocab_size(tok) > g.V) {
        fprintf(stderr, "generate: the tokenizer has %d tokens but the model only %d\n", it_tokenizer_vocab_size(tok), g.V);
        return 1;
    }
    g.tok = tok;

    /* sampling: flags, else generation_config.json, else the defaults above */
    if (greedy) temperature = 0;
    if (temperature < 0 && gen_cfg.do_sample == 0) temperature = 0; /* the model's authors chose greedy */
    if (temperature < 0) temperature = gen_cfg.temperature >= 0 ? gen_cfg.temperature : 0.8;
    if (top_k < 0) top_k = gen_cfg.top_k >= 0 ? gen_cfg.top_k : 40;
    if (top_p < 0) top_p = gen_cfg.top_p >= 0 ? gen_cfg.top_p : 0.95;
    if (min_p < 0) min_p = gen_cfg.min_p >= 0 ? gen_cfg.min_p : 0;
    if (repeat_penalty < 0) repeat_penalty = gen_cfg.repetition_penalty > 0 ? gen_cfg.repetition_penalty : 1;
    if (max_new < 0) max_new = gen_cfg.max_new_tokens >= 0 ? gen_cfg.max_new_tokens : 200;
    g.sampling.temperature = (float)temperature;
    g.sampling.top_k = (int)top_k;
    /* --top-p 0: the smallest set with mass >= 0, the most likely token alone (it_sampling reads 0
       as off, so ask for the least positive mass) */
    g.sampling.top_p = top_p > 0 ? (float)top_p : FLT_MIN;
    g.sampling.min_p = (float)min_p;
    it_rng_seed(&g.rng, (uint64_t)seed);
    if (it_decoder_set_repetition_penalty(g.dec, (float)repeat_penalty) != IT_OK) {
        fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
        return 1;
    }

    /* where to stop: the model's end-of-sequence ids (generation_config.json / config.json, else the
       tokenizer's eos_token) and, in a chat, the template's end of turn */
    if (!ignore_eos) {
        int32_t bos, eos;
        for (i = 0; i < gen_cfg.n_eos; i++) {
            if (gen_cfg.eos_ids[i] >= g.V) {
                fprintf(stderr, "generate: %s: eos_token_id %d is outside the vocabulary of %d tokens\n", model_dir,
                        (int)gen_cfg.eos_ids[i], g.V);
                return 1;
            }
            g.stop_ids[g.n_stop_ids++] = gen_cfg.eos_ids[i];
        }
        if (g.n_stop_ids == 0 && tok) {
            it_tokenizer_bos_eos(tok, &bos, &eos);
            if (eos >= 0) g.stop_ids[g.n_stop_ids++] = eos;
        }
    }
    text.stops = stops;
    text.n_stops = n_stops;
    for (i = 0; i < n_stops; i++)
        if (strlen(stops[i]) - 1 > text.hold) text.hold = strlen(stops[i]) - 1;
    new_tokens = (long)max_new;

    if (chat_mode) {
        it_chat_template tmpl;
        int32_t end_of_turn;
        if (!tok) {
            fprintf(stderr, "generate: --chat needs the model's tokenizer\n");
            return 1;
        }
        if (is_gguf) { /* tokenizer.chat_template, or the format --chat-template names */
            tmpl = gguf_chat;
            if (template_name && it_chat_format_parse(template_name, &tmpl.format) != IT_OK) {
                fprintf(stderr, "generate: --chat-template '%s' is not one of %s\n", template_name, it_chat_format_names());
                return 2;
            }
            if (tmpl.format == IT_CHAT_UNKNOWN) {
                fprintf(stderr, "generate: %s has no tokenizer.chat_template this library recognises; name one with "
                                "--chat-template (%s)\n", model_dir, it_chat_format_names());
                return 1;
            }
        } else if (it_chat_template_load(ctx, model_dir, template_name, &tmpl) != IT_OK) {
            fprintf(stderr, "generate: %s\n", it_context_last_error(ctx));
            return 1;
        }
        end_of_turn = it_tokenizer_find(tok, it_chat_template_end_of_turn(&tmpl));
        if (end_of_turn >= 0 && !ignore_eos && g.n_stop_ids < IT_GENERATION_MAX_EOS + 2) g.stop_ids[g.n_stop_ids++] = end_of_turn;
        fprintf(stderr, "generate: chat template %s; one message per line, end with Ctrl-D\n", it_chat_format_name(tmpl.format));
        status = chat(&g, &tmpl, system, new_tokens, &text);
        goto done;
    }

    if (ids_arg) {
        int32_t *parsed;
        if (it_ids_parse(ctx, ids_arg, g.V, &parsed, &n_prompt) != IT_OK) {
            fprintf(stderr, "generate: --ids: %s\n", it_context_last_error(ctx));
            return 1;
        }
        ids = (int32_t *)malloc(sizeof(int32_t) * n_prompt);
        if (!ids) return 1;
        memcpy(ids, parsed, sizeof(int32_t) * n_prompt);
        it_ids_free(ctx, parsed);
    } else {
        int32_t *encoded = NULL;
        if (!prompt) prompt = "\n";
        if (it_tokenizer_encode(ctx, tok, (const uint8_t *)prompt, strlen(prompt), &encoded, &n_prompt) != IT_OK || n_prompt == 0) {
            fprintf(stderr, "generate: the prompt must encode to at least one token%s%s\n", n_prompt ? ": " : "",
                    n_prompt ? it_context_last_error(ctx) : "");
            return 1;
        }
        ids = (int32_t *)malloc(sizeof(int32_t) * n_prompt);
        if (!ids) return 1;
        memcpy(ids, encoded, sizeof(int32_t) * n_prompt);
        it_ids_free(ctx, encoded);
    }
    context = (int32_t *)malloc(sizeof(int32_t) * (n_prompt + (size_t)new_tokens));
    if (!context) {
        fprintf(stderr, "generate: out of memory\n");
        return 1;
    }
    memcpy(context, ids, sizeof(int32_t) * n_prompt);
    if (prompt && !print_ids) {
        fwrite(prompt, 1, strlen(prompt), stdout);
        fflush(stdout);
    }
    t0 = now_seconds();
    made = generate(&g, context, n_prompt, new_tokens, print_ids || !tok ? NULL : &text, &t_first);
    if (made < 0) return 1;
    if (print_ids) {
        long k;
        for (k = 0; k < made; k++) printf(k ? ",%d" : "%d", (int)context[n_prompt + (size_t)k]);
    }
    printf("\n");
    {
        double elapsed = now_seconds() - t0;
        fprintf(stderr, "generate: %zu prompt tokens, %ld new tokens in %.2f s (prompt %.0f ms, %.1f tokens/s), %s\n", n_prompt,
                made, elapsed, t_first * 1000, made / (elapsed > 0 ? elapsed : 1), temperature <= 0 ? "greedy" : "sampled");
    }
    free(context);
done:
    free(ids);
    free(g.fed);
    free(text.pending);
    free(text.reply);
    it_context_destroy(ctx);
    return status;
}
