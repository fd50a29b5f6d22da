/* serve.c - an OpenAI-compatible HTTP server for a model directory, with continuous batching.

     cc -O2 -std=c99 -I. examples/serve.c -o build/serve -lm -lpthread
     build/serve --model DIR [--port 8080] [--host 127.0.0.1] [--parallel N]

   Endpoints (the OpenAI HTTP API as its clients use it):
     POST /v1/completions        {"prompt": "text" | [token ids] | ["text"], ...}
     POST /v1/chat/completions   {"messages": [{"role", "content"}], ...}: the model's chat template
     GET  /v1/models, GET /health
   Request fields: max_tokens (max_completion_tokens), temperature, top_p, top_k, min_p, stop (a
   string or up to 4), seed, n, stream (server-sent events, "data: {chunk}" ... "data: [DONE]"),
   stream_options.include_usage; the response carries usage token counts. A sample ends at the
   tokenizer's EOS, the chat template's end-of-turn token and every eos_token_id of the
   directory's generation_config.json, whose temperature / top_k / top_p / min_p (do_sample false:
   greedy) are the defaults of a request that leaves them out, as vLLM does. Fields this server
   cannot honour (logprobs, echo, non-zero presence / frequency penalties, tools) are refused with
   400, never ignored; other unknown fields are ignored as OpenAI's server does.

   One thread runs everything: a poll() loop over the listening socket and every connection
   (non-blocking sockets), and between polls one step of the library's continuous batcher
   (it_generator), which decodes a token for every running request in one batched forward pass.
   Robustness: a request must arrive whole within --timeout seconds (slow-loris headers get 408
   and a close), headers are at most 16 KiB (431), bodies at most --max-body bytes (413), malformed
   JSON or wrong field types get 400 with an OpenAI-style error object, a prompt longer than the
   context 400 (code context_length_exceeded), a client that goes away mid-stream has its samples
   cancelled, a client that stops reading is dropped when its output passes 8 MiB; past
   --max-connections new connections get 503. Binds to 127.0.0.1 unless --host says otherwise.

   The request JSON goes through the library's strict JSON reader (>>json in irontensor.h, its
   private it__json_* functions: this file compiles the implementation). What it learned from
   where: llama.cpp's server (tools/server) and MLX-LM's server for the endpoints and fields, the
   OpenAI API reference for the object shapes. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sigaction, poll under -std=c99 */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER 16384            /* request line + headers */
#define MAX_OUTPUT (8u << 20)       /* queued response bytes before a non-reading client is dropped */
#define MAX_STOP 4                  /* stop strings per request (OpenAI's limit) */
#define MAX_STOP_LEN 256
#define MAX_CHOICES 64

static void usage(FILE *f) {
    fprintf(f, "usage: serve --model DIR [--port 8080] [--host 127.0.0.1] [--parallel N] [--ctx N]\n"
               "             [--threads N] [--chat-template NAME] [--context-shift] [--timeout S]\n"
               "             [--max-body BYTES] [--max-connections N] [--alias NAME] [--quant TYPE]\n"
               "  --model DIR           a model directory: config.json, model.safetensors and tokenizer.json\n"
               "                        (Hugging Face) or tokenizer.bin (build/train); required\n"
               "  --port P              TCP port (default 8080; 0 = any free port, printed at start)\n"
               "  --host ADDR           IPv4 address to bind (default 127.0.0.1; 0.0.0.0 = every interface)\n"
               "  --parallel N          sequences decoded together (default 4)\n"
               "  --ctx N               tokens per sequence (default: the model's max_seq)\n"
               "  --threads N           CPU threads, 0 = all cores (default 0)\n"
               "  --chat-template NAME  use this format instead of the directory's template (%s)\n"
               "  --context-shift       past the context, drop the oldest block and go on (default: stop)\n"
               "  --timeout S           seconds a request may take to arrive, and idle keep-alive (default 10)\n"
               "  --max-body BYTES      largest request body (default 1048576)\n"
               "  --max-connections N   open connections (default 64)\n"
               "  --alias NAME          the model's name in responses (default: the directory's name)\n"
               "  --quant TYPE          decode with the projections and head as f32, bf16, q8_0 or q4_0 (llama.cpp's\n"
               "                        blocks, made at start; default: an it-quantize directory's own type, else f32)\n",
            it_chat_format_names());
}

/* ---- small helpers ------------------------------------------------------------------------------ */
static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
/* A growable byte string; out of memory ends the program (a server that cannot allocate a few
   bytes cannot answer either). */
typedef struct sbuf { char *p; size_t n, cap; } sbuf;
static void sb_put(sbuf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = (char *)realloc(b->p, cap);
        if (!b->p) {
            fprintf(stderr, "serve: out of memory\n");
            exit(1);
        }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
static void sb_consume(sbuf *b, size_t n) { /* drops the first n bytes */
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
    if (b->p) b->p[b->n] = 0;
}
static void sb_free(sbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
/* A JSON string literal of n bytes: escapes, and U+FFFD for bytes that are not valid UTF-8 (a
   byte-level model can emit any bytes; JSON must be UTF-8). */
static void sb_json_string(sbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    sb_put(b, "\"", 1);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int len;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2), i++;
        } else if (c == '\n') sb_put(b, "\\n", 2), i++;
        else if (c == '\r') sb_put(b, "\\r", 2), i++;
        else if (c == '\t') sb_put(b, "\\t", 2), i++;
        else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sb_put(b, e, 6), i++;
        } else if (c < 0x80) sb_put(b, s + i, 1), i++;
        else if ((len = it__utf8_len((const unsigned char *)s + i, n - i)) > 0) sb_put(b, s + i, (size_t)len), i += (size_t)len;
        else sb_puts(b, "\\ufffd"), i++;
    }
    sb_put(b, "\"", 1);
}

/* ---- the model ---------------------------------------------------------------------------------- */
typedef struct server {
    it_context *ctx;
    it_model *model;
    it_tokenizer *tok;
    it_generator *gen;
    it_chat_template chat;
    int has_chat;
    char chat_error[1200];
    int32_t stop_ids[IT_GENERATION_MAX_EOS + 2];
    int n_stop_ids;
    double temperature, top_p, min_p; /* a request's defaults: generation_config.json's, else OpenAI's */
    long long top_k;
    int ctx_len, parallel, vocab;
    it_weight_type quant; /* --quant; 0 = the model's stored type (it-quantize), else f32 */
    double timeout;         /* seconds a request may take to arrive; idle keep-alive */
    char name[256];
    long created;
    uint64_t next_seed;
    unsigned long long next_request;
} server;

static void log_warnings(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level >= IT_LOG_WARN) fprintf(stderr, "irontensor: %s\n", message);
}
static void add_stop_id(server *S, int32_t id) {
    int i;
    for (i = 0; i < S->n_stop_ids; i++)
        if (S->stop_ids[i] == id) return;
    if (S->n_stop_ids < (int)(sizeof S->stop_ids / sizeof *S->stop_ids)) S->stop_ids[S->n_stop_ids++] = id;
}
/* generation_config.json (or config.json's ids): every EOS id stops a sample, and its sampling
   settings are a request's defaults (what vLLM does with --generation-config auto); OpenAI's
   defaults otherwise (temperature 1, top_p 1). */
static int read_generation_config(server *S, const char *dir) {
    it_generation_config gc;
    int i;
    S->temperature = 1.0, S->top_p = 1.0, S->min_p = 0.0, S->top_k = 0;
    if (it_generation_config_read(S->ctx, dir, &gc) != IT_OK) return -1;
    for (i = 0; i < gc.n_eos; i++) {
        if (gc.eos_ids[i] >= 0 && gc.eos_ids[i] < it_tokenizer_vocab_size(S->tok)) add_stop_id(S, gc.eos_ids[i]);
        else fprintf(stderr, "serve: eos_token_id %ld of %s is outside the tokenizer's %d ids: not used\n", (long)gc.eos_ids[i],
                     dir, it_tokenizer_vocab_size(S->tok));
    }
    if (gc.temperature >= 0) S->temperature = gc.temperature;
    if (gc.do_sample == 0) S->temperature = 0; /* greedy, as transformers' do_sample false */
    if (gc.top_p >= 0) S->top_p = gc.top_p;
    if (gc.min_p >= 0) S->min_p = gc.min_p;
    if (gc.top_k >= 0) S->top_k = gc.top_k;
    if (gc.repetition_penalty > 0 && gc.repetition_penalty != 1)
        fprintf(stderr, "serve: generation_config.json asks for repetition_penalty %g, which this server does not apply\n",
                (double)gc.repetition_penalty);
    return 0;
}

/* config.json + weights, the tokenizer, the chat template, the stop tokens; 0 on success */
static int load_model(server *S, const char *dir, const char *template_name, int threads, int context_shift) {
    it_context_desc desc;
    it_model_config cfg;
    it_generator_desc gd;
    char path[4200];
    const char *slash;
    int32_t bos = -1, eos = -1;
    memset(&desc, 0, sizeof desc);
    desc.n_threads = threads;
    desc.logger.log = log_warnings;
    desc.logger.min_level = IT_LOG_WARN;
    if (it_context_create(&desc, &S->ctx) != IT_OK) return -1;
    if (it_checkpoint_read_config(S->ctx, dir, &cfg) != IT_OK || it_model_create(S->ctx, &cfg, &S->model) != IT_OK ||
        it_checkpoint_load(S->ctx, S->model, NULL, NULL, dir) != IT_OK)
        goto fail;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (access(path, F_OK) == 0) {
        if (it_tokenizer_load_hf(S->ctx, dir, &S->tok) != IT_OK) goto fail;
        it_tokenizer_bos_eos(S->tok, &bos, &eos);
    } else if (it_checkpoint_tokenizer_path(dir, path, sizeof path)) {
        if (it_tokenizer_load(S->ctx, path, &S->tok) != IT_OK) goto fail;
    } else if (cfg.vocab_size == 256) {
        it_tokenizer_byte(S->ctx, &S->tok);
    } else {
        fprintf(stderr, "serve: %s has no tokenizer.json or tokenizer.bin (and a vocabulary of %d, not bytes)\n", dir,
                cfg.vocab_size);
        return -1;
    }
    if (it_tokenizer_vocab_size(S->tok) > cfg.vocab_size) {
        fprintf(stderr, "serve: the tokenizer has %d tokens but the model only %d\n", it_tokenizer_vocab_size(S->tok),
                cfg.vocab_size);
        return -1;
    }
    if (eos >= 0) S->stop_ids[S->n_stop_ids++] = eos;
    if (read_generation_config(S, dir) != 0) goto fail;
    /* the chat template; without one /v1/chat/completions answers with the reason */
    if (it_chat_template_load(S->ctx, dir, template_name, &S->chat) == IT_OK) {
        int32_t eot = it_tokenizer_find(S->tok, it_chat_template_end_of_turn(&S->chat));
        S->has_chat = 1;
        if (eot >= 0) add_stop_id(S, eot);
    } else {
        if (template_name) goto fail;
        snprintf(S->chat_error, sizeof S->chat_error, "this model has no chat template usable here: %s",
                 it_context_last_error(S->ctx));
    }
    if (!S->ctx_len) S->ctx_len = cfg.max_seq;
    if (S->ctx_len > cfg.max_seq) {
        fprintf(stderr, "serve: --ctx %d is more than the model's %d positions\n", S->ctx_len, cfg.max_seq);
        return -1;
    }
    memset(&gd, 0, sizeof gd);
    gd.cache.max_seqs = S->parallel;
    gd.cache.max_context = S->ctx_len;
    gd.cache.weights = S->quant ? S->quant : S->model->stored_weights;
    gd.context_shift = context_shift;
    if (context_shift && cfg.arch != IT_ARCH_LLAMA) {
        fprintf(stderr, "serve: --context-shift needs rotary positions; this model (GPT-2) has learned ones\n");
        return -1;
    }
    if (it_generator_create(S->model, &gd, &S->gen) != IT_OK) goto fail;
    S->vocab = cfg.vocab_size;
    slash = strrchr(dir, '/');
    while (slash && slash[1] == 0 && slash > dir) { /* "dir/" */
        const char *p = slash - 1;
        while (p > dir && *p != '/') p--;
        slash = *p == '/' ? p : NULL;
    }
    snprintf(S->name, sizeof S->name, "%s", slash ? slash + 1 : dir);
    if (strchr(S->name, '/')) *strchr(S->name, '/') = 0;
    return 0;
fail:
    fprintf(stderr, "serve: %s\n", it_context_last_error(S->ctx));
    return -1;
}

/* ---- connections and generation jobs ------------------------------------------------------------ */
typedef struct choice {
    int id;                 /* the generator's sample id */
    sbuf text;              /* everything generated so far (stop strings cut it) */
    size_t sent;            /* bytes of text already streamed */
    int tokens, done;       /* done: answered (the generator may still be ending it) */
    const char *finish;     /* "stop" / "length" */
    it_token_stream *stream;
} choice;
struct conn;
typedef struct job {
    struct conn *conn;      /* NULL once the client has gone (its samples are being cancelled) */
    int chat, stream, include_usage, n, n_prompt;
    int n_done;             /* choices answered */
    int n_ended;            /* choices whose end the generator reported: the job is freed after all */
    int answered;           /* the response is complete (or nobody is left to read it) */
    char stop[MAX_STOP][MAX_STOP_LEN + 1];
    int n_stop;
    char id[48];
    choice ch[MAX_CHOICES];
    double t0, t_first;
} job;
/* C_CLOSING: the answer is the connection's last; C_DRAIN: it has left, the write side is shut
   and what the client still sends is read and dropped until it closes (closing a socket with
   unread input would reset the connection and could destroy the answer before the client reads
   it: a lingering close, as nginx does). */
enum { C_READ, C_BUSY, C_CLOSING, C_DRAIN };
#define DRAIN_SECONDS 2.0
#define REJECT_SLOTS 16 /* connections past --max-connections that get their 503 before the close */
typedef struct conn {
    int fd, state;
    sbuf in, out;
    size_t out_sent;
    double deadline;        /* the request must be in by then (or the idle connection closes) */
    int keep_alive, sent_continue, reading;
    job *job;
} conn;

static void conn_reply(conn *c, int status, const char *reason, const char *type, const char *body, size_t n, int close_after) {
    sb_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status, reason, type, n,
              close_after || !c->keep_alive ? "Connection: close\r\n" : "");
    sb_put(&c->out, body, n);
    if (close_after || !c->keep_alive) c->state = C_CLOSING;
}
/* The OpenAI error object: {"error": {"message", "type", "param", "code"}} */
static void reply_error(conn *c, int status, const char *reason, const char *param, const char *code, int close_after,
                        const char *fmt, ...) {
    char msg[600];
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_puts(&b, "{\"error\":{\"message\":");
    sb_json_string(&b, msg, strlen(msg));
    sb_printf(&b, ",\"type\":\"%s\",\"param\":", status >= 500 ? "server_error" : "invalid_request_error");
    if (param) sb_json_string(&b, param, strlen(param));
    else sb_puts(&b, "null");
    sb_puts(&b, ",\"code\":");
    if (code) sb_json_string(&b, code, strlen(code));
    else sb_puts(&b, "null");
    sb_puts(&b, "}}\n");
    conn_reply(c, status, reason, "application/json", b.p, b.n, close_after);
    sb_free(&b);
}

/* ---- request fields ----------------------------------------------------------------------------- */
typedef struct fields {
    it__json j;
    int root;
    conn *c;
    int failed;
} fields;
static int bad_field(fields *f, const char *name, const char *want) {
    reply_error(f->c, 400, "Bad Request", name, NULL, 0, "'%s' must be %s", name, want);
    f->failed = 1;
    return -1;
}
/* The member, -1 when absent or null; its type must be one of `types` (IT__J_* bits), else 400. */
static int field(fields *f, const char *name, int types, const char *want) {
    int v = it__jget(&f->j, f->root, name);
    if (f->failed || v < 0 || f->j.v[v].type == IT__J_NULL) return -1;
    if (!(types & (1 << f->j.v[v].type))) return bad_field(f, name, want), -1;
    return v;
}
#define T_BIT(t) (1 << (t))
static void number_field(fields *f, const char *name, double lo, double hi, double *out) {
    int v = field(f, name, T_BIT(IT__J_NUM), "a number");
    char want[80];
    if (v < 0) return;
    if (!(f->j.v[v].num >= lo && f->j.v[v].num <= hi)) {
        snprintf(want, sizeof want, "a number in [%g, %g]", lo, hi);
        bad_field(f, name, want);
        return;
    }
    *out = f->j.v[v].num;
}
static void int_field(fields *f, const char *name, long long lo, long long hi, long long *out) {
    int v = field(f, name, T_BIT(IT__J_NUM), "an integer");
    char want[80];
    if (v < 0) return;
    if (!f->j.v[v].is_int || f->j.v[v].i64 < lo || f->j.v[v].i64 > hi) {
        snprintf(want, sizeof want, "an integer in [%lld, %lld]", lo, hi);
        bad_field(f, name, want);
        return;
    }
    *out = (long long)f->j.v[v].i64;
}
static void bool_field(fields *f, const char *name, int *out) {
    int v = field(f, name, T_BIT(IT__J_TRUE) | T_BIT(IT__J_FALSE), "true or false");
    if (v >= 0) *out = f->j.v[v].type == IT__J_TRUE;
}
/* Fields a client may send that this server cannot honour: refused, never silently ignored. */
static void refuse_unsupported(fields *f) {
    static const char *zero_numbers[] = {"presence_penalty", "frequency_penalty"};
    static const char *false_bools[] = {"logprobs", "echo"};
    static const char *absent[] = {"tools", "functions", "logit_bias", "best_of", "suffix", "response_format", "top_logprobs"};
    size_t i;
    int v;
    for (i = 0; i < sizeof zero_numbers / sizeof *zero_numbers; i++) {
        double x = 0;
        number_field(f, zero_numbers[i], -2, 2, &x);
        if (!f->failed && x != 0) {
            reply_error(f->c, 400, "Bad Request", zero_numbers[i], "unsupported", 0, "'%s' is not supported by this server (only 0)",
                        zero_numbers[i]);
            f->failed = 1;
        }
    }
    for (i = 0; i < sizeof false_bools / sizeof *false_bools; i++) {
        int on = 0;
        v = it__jget(&f->j, f->root, false_bools[i]);
        if (v >= 0 && f->j.v[v].type == IT__J_NUM) on = f->j.v[v].num != 0; /* completions' logprobs is a count */
        else bool_field(f, false_bools[i], &on);
        if (!f->failed && on) {
            reply_error(f->c, 400, "Bad Request", false_bools[i], "unsupported", 0, "'%s' is not supported by this server",
                        false_bools[i]);
            f->failed = 1;
        }
    }
    for (i = 0; i < sizeof absent / sizeof *absent && !f->failed; i++) {
        v = it__jget(&f->j, f->root, absent[i]);
        if (v >= 0 && f->j.v[v].type != IT__J_NULL && !(f->j.v[v].type == IT__J_ARR && f->j.v[v].n == 0)) {
            reply_error(f->c, 400, "Bad Request", absent[i], "unsupported", 0, "'%s' is not supported by this server", absent[i]);
            f->failed = 1;
        }
    }
}

/* The prompt's token ids (malloc'd) from "prompt" or "messages"; NULL after a reply on error. */
static int32_t *request_prompt(server *S, fields *f, int chat, size_t *n_ids) {
    int32_t *ids = NULL, *copy;
    size_t n = 0;
    if (chat) {
        int v = field(f, "messages", T_BIT(IT__J_ARR), "an array of messages");
        it_chat_message *msgs;
        int k = 0, m;
        char *text;
        size_t len = 0;
        if (f->failed) return NULL;
        if (v < 0 || f->j.v[v].n == 0) return bad_field(f, "messages", "a non-empty array of messages"), NULL;
        if (!S->has_chat) {
            reply_error(f->c, 400, "Bad Request", "messages", "no_chat_template", 0, "%s", S->chat_error);
            return NULL;
        }
        msgs = (it_chat_message *)calloc((size_t)f->j.v[v].n, sizeof *msgs);
        for (m = f->j.v[v].first; m >= 0; m = f->j.v[m].next, k++) {
            int role = it__jget(&f->j, m, "role"), content = it__jget(&f->j, m, "content");
            if (f->j.v[m].type != IT__J_OBJ || role < 0 || f->j.v[role].type != IT__J_STR || content < 0) {
                free(msgs);
                return bad_field(f, "messages", "an array of {\"role\": string, \"content\": string} objects"), NULL;
            }
            msgs[k].role = f->j.v[role].str;
            if (f->j.v[content].type == IT__J_STR) {
                msgs[k].content = f->j.v[content].str;
            } else if (f->j.v[content].type == IT__J_ARR && f->j.v[content].n == 1 &&
                       it__jget(&f->j, f->j.v[content].first, "text") >= 0 &&
                       f->j.v[it__jget(&f->j, f->j.v[content].first, "text")].type == IT__J_STR) {
                msgs[k].content = f->j.v[it__jget(&f->j, f->j.v[content].first, "text")].str; /* [{"type": "text", "text"}] */
            } else {
                free(msgs);
                return bad_field(f, "messages", "messages whose content is a string (or one text part)"), NULL;
            }
        }
        if (it_chat_apply(S->ctx, &S->chat, msgs, k, 1, NULL, 0, &len) != IT_OK) {
            free(msgs);
            reply_error(f->c, 400, "Bad Request", "messages", NULL, 0, "%s", it_context_last_error(S->ctx));
            return NULL;
        }
        text = (char *)malloc(len + 1);
        it_chat_apply(S->ctx, &S->chat, msgs, k, 1, text, len + 1, &len);
        free(msgs);
        if (it_tokenizer_encode_flags(S->ctx, S->tok, (const uint8_t *)text, len, IT_TOKENIZE_NO_SPECIAL, &ids, &n) != IT_OK) {
            free(text);
            reply_error(f->c, 400, "Bad Request", "messages", NULL, 0, "%s", it_context_last_error(S->ctx));
            return NULL;
        }
        free(text);
    } else {
        int v = field(f, "prompt", T_BIT(IT__J_STR) | T_BIT(IT__J_ARR), "a string, an array of token ids or [string]");
        const char *text = NULL;
        if (f->failed) return NULL;
        if (v < 0) return bad_field(f, "prompt", "present: a string, an array of token ids or [string]"), NULL;
        if (f->j.v[v].type == IT__J_STR) text = f->j.v[v].str, n = f->j.v[v].len;
        else if (f->j.v[v].n == 1 && f->j.v[f->j.v[v].first].type == IT__J_STR)
            text = f->j.v[f->j.v[v].first].str, n = f->j.v[f->j.v[v].first].len;
        if (text) {
            if (it_tokenizer_encode(S->ctx, S->tok, (const uint8_t *)text, n, &ids, &n) != IT_OK) {
                reply_error(f->c, 400, "Bad Request", "prompt", NULL, 0, "%s", it_context_last_error(S->ctx));
                return NULL;
            }
        } else { /* token ids */
            int e, k = 0;
            copy = (int32_t *)malloc(sizeof(int32_t) * ((size_t)f->j.v[v].n + 1));
            for (e = f->j.v[v].first; e >= 0; e = f->j.v[e].next) {
                if (f->j.v[e].type != IT__J_NUM || !f->j.v[e].is_int || f->j.v[e].i64 < 0 || f->j.v[e].i64 >= S->vocab) {
                    free(copy);
                    return bad_field(f, "prompt", "a string, [string] or an array of token ids inside the vocabulary"), NULL;
                }
                copy[k++] = (int32_t)f->j.v[e].i64;
            }
            *n_ids = (size_t)k;
            return copy;
        }
    }
    copy = (int32_t *)malloc(sizeof(int32_t) * (n + 1));
    if (n) memcpy(copy, ids, sizeof(int32_t) * n);
    it_ids_free(S->ctx, ids);
    *n_ids = n;
    return copy;
}
static void stop_fields(fields *f, job *jb) {
    int v = field(f, "stop", T_BIT(IT__J_STR) | T_BIT(IT__J_ARR), "a string or an array of up to 4 strings"), e;
    const char *want = "a string or an array of up to 4 non-empty strings of at most 256 bytes";
    if (v < 0) return;
    if (f->j.v[v].type == IT__J_STR) {
        if (f->j.v[v].len == 0 || f->j.v[v].len > MAX_STOP_LEN) return (void)bad_field(f, "stop", want);
        memcpy(jb->stop[0], f->j.v[v].str, f->j.v[v].len + 1);
        jb->n_stop = 1;
        return;
    }
    if (f->j.v[v].n > MAX_STOP) return (void)bad_field(f, "stop", want);
    for (e = f->j.v[v].first; e >= 0; e = f->j.v[e].next) {
        if (f->j.v[e].type != IT__J_STR || f->j.v[e].len == 0 || f->j.v[e].len > MAX_STOP_LEN)
            return (void)bad_field(f, "stop", want);
        memcpy(jb->stop[jb->n_stop++], f->j.v[e].str, f->j.v[e].len + 1);
    }
}

/* ---- answering ---------------------------------------------------------------------------------- */
static void sse_chunk_begin(server *S, job *jb, sbuf *b) {
    sb_puts(b, "data: {\"id\":");
    sb_json_string(b, jb->id, strlen(jb->id));
    sb_printf(b, ",\"object\":\"%s\",\"created\":%ld,\"model\":", jb->chat ? "chat.completion.chunk" : "text_completion",
              S->created);
    sb_json_string(b, S->name, strlen(S->name));
}
/* One streamed piece of choice i (text may be empty; finish NULL while it runs). */
static void sse_piece(server *S, job *jb, int i, const char *text, size_t n, const char *finish, int first) {
    sbuf *b = &jb->conn->out;
    sse_chunk_begin(S, jb, b);
    sb_printf(b, ",\"choices\":[{\"index\":%d,", i);
    if (jb->chat) {
        sb_puts(b, "\"delta\":{");
        if (first) sb_puts(b, "\"role\":\"assistant\",");
        if (n || first || !finish) sb_puts(b, "\"content\":"), sb_json_string(b, text, n);
        else if (b->p[b->n - 1] == ',') b->n--;
        sb_puts(b, "}");
    } else {
        sb_puts(b, "\"text\":");
        sb_json_string(b, text, n);
        sb_puts(b, ",\"logprobs\":null");
    }
    sb_puts(b, ",\"finish_reason\":");
    if (finish) sb_printf(b, "\"%s\"", finish);
    else sb_puts(b, "null");
    sb_puts(b, "}]}\n\n");
}
static void usage_json(sbuf *b, job *jb) {
    int i, completion = 0;
    for (i = 0; i < jb->n; i++) completion += jb->ch[i].tokens;
    sb_printf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}", jb->n_prompt, completion,
              jb->n_prompt + completion);
}
/* The job's memory goes once it is answered and the generator has reported the end of every
   sample (a sample cut by a stop string, or of a client that left, ends with its cancel event). */
static void job_release(job *jb) {
    int i;
    if (!jb->answered || jb->n_ended < jb->n) return;
    for (i = 0; i < jb->n; i++) {
        sb_free(&jb->ch[i].text);
        it_token_stream_destroy(jb->ch[i].stream);
    }
    free(jb);
}
static void finish_job(server *S, job *jb) {
    conn *c = jb->conn;
    int i, completion = 0;
    for (i = 0; i < jb->n; i++) completion += jb->ch[i].tokens;
    fprintf(stderr, "serve: %s %s: %d prompt + %d completion tokens, first token %.0f ms, %.2f s\n",
            jb->chat ? "chat" : "completion", jb->id, jb->n_prompt, completion, (jb->t_first - jb->t0) * 1000,
            now_seconds() - jb->t0);
    if (c && jb->stream) {
        if (jb->include_usage) {
            sse_chunk_begin(S, jb, &c->out);
            sb_puts(&c->out, ",\"choices\":[],");
            usage_json(&c->out, jb);
            sb_puts(&c->out, "}\n\n");
        }
        sb_puts(&c->out, "data: [DONE]\n\n");
        c->state = C_CLOSING; /* the stream's end is the connection's */
    } else if (c) {
        sbuf b = {0};
        sb_puts(&b, "{\"id\":");
        sb_json_string(&b, jb->id, strlen(jb->id));
        sb_printf(&b, ",\"object\":\"%s\",\"created\":%ld,\"model\":", jb->chat ? "chat.completion" : "text_completion", S->created);
        sb_json_string(&b, S->name, strlen(S->name));
        sb_puts(&b, ",\"choices\":[");
        for (i = 0; i < jb->n; i++) {
            sb_printf(&b, "%s{\"index\":%d,", i ? "," : "", i);
            if (jb->chat) sb_puts(&b, "\"message\":{\"role\":\"assistant\",\"content\":");
            else sb_puts(&b, "\"text\":");
            sb_json_string(&b, jb->ch[i].text.p ? jb->ch[i].text.p : "", jb->ch[i].text.n);
            sb_printf(&b, "%s,\"logprobs\":null,\"finish_reason\":\"%s\"}", jb->chat ? "}" : "", jb->ch[i].finish);
        }
        sb_puts(&b, "],");
        usage_json(&b, jb);
        sb_puts(&b, "}\n");
        conn_reply(c, 200, "OK", "application/json", b.p, b.n, 0);
        if (c->state != C_CLOSING) c->state = C_READ, c->deadline = now_seconds() + S->timeout; /* keep-alive */
        sb_free(&b);
    }
    if (c) c->job = NULL;
    jb->conn = NULL;
    jb->answered = 1;
    job_release(jb);
}
/* Bytes at the end of text that could still become a stop string: held back from the stream. */
static size_t stop_holdback(const job *jb, const sbuf *t) {
    size_t keep = 0, k;
    int s;
    for (s = 0; s < jb->n_stop; s++) {
        size_t L = strlen(jb->stop[s]);
        for (k = L - 1; k > keep; k--)
            if (k <= t->n && !memcmp(t->p + t->n - k, jb->stop[s], k)) {
                keep = k;
                break;
            }
    }
    return keep;
}
static void choice_done(server *S, job *jb, int i, const char *finish) {
    choice *ch = &jb->ch[i];
    if (ch->done) return;
    ch->done = 1;
    ch->finish = finish;
    jb->n_done++;
    if (jb->conn && jb->stream) {
        if (ch->text.n > ch->sent) sse_piece(S, jb, i, ch->text.p + ch->sent, ch->text.n - ch->sent, NULL, 0);
        ch->sent = ch->text.n;
        sse_piece(S, jb, i, "", 0, finish, 0);
    }
    if (jb->n_done == jb->n) finish_job(S, jb);
}
/* A generator event of choice i. */
static void on_event(server *S, job *jb, int i, const it_generation_event *e) {
    choice *ch = &jb->ch[i];
    int s;
    if (e->token >= 0) ch->tokens++;
    if (e->finish != IT_FINISH_NONE) jb->n_ended++;
    if (jb->t_first == 0) jb->t_first = now_seconds();
    if (ch->done) { /* cut by a stop string earlier: this is its cancel's event */
        job_release(jb);
        return;
    }
    if (e->token >= 0 && e->finish != IT_FINISH_STOP) {
        const char *piece;
        size_t n, from = ch->text.n > MAX_STOP_LEN ? ch->text.n - MAX_STOP_LEN : 0;
        if (it_token_stream_push(ch->stream, e->token, &piece, &n) == IT_OK && n) sb_put(&ch->text, piece, n);
        for (s = 0; s < jb->n_stop; s++) { /* a stop string: cut there, end the sample */
            char *at = ch->text.p ? strstr(ch->text.p + from, jb->stop[s]) : NULL;
            if (at) {
                ch->text.n = (size_t)(at - ch->text.p);
                ch->text.p[ch->text.n] = 0;
                it_generator_cancel(S->gen, ch->id);
                choice_done(S, jb, i, "stop");
                return;
            }
        }
        if (jb->conn && jb->stream) {
            size_t safe = ch->text.n - stop_holdback(jb, &ch->text);
            if (safe > ch->sent) {
                sse_piece(S, jb, i, ch->text.p + ch->sent, safe - ch->sent, NULL, 0);
                ch->sent = safe;
            }
        }
    }
    if (e->finish != IT_FINISH_NONE) /* the last use of jb: answering may release it */
        choice_done(S, jb, i, e->finish == IT_FINISH_STOP || e->finish == IT_FINISH_CANCELLED ? "stop" : "length");
}

/* POST /v1/completions and /v1/chat/completions */
static void handle_generate(server *S, conn *c, const char *body, size_t len, int chat) {
    fields f;
    job *jb;
    it_request rq;
    int32_t *prompt;
    size_t n_prompt = 0;
    double temperature = S->temperature, top_p = S->top_p, min_p = S->min_p;
    long long max_tokens = chat ? 0 : 16, top_k = S->top_k, n = 1, seed = -1, mt = -1;
    int stream = 0, ids[MAX_CHOICES], i, v;
    memset(&f, 0, sizeof f);
    f.c = c;
    if (it__json_parse(S->ctx, &f.j, body, len) != 0 || f.j.v[0].type != IT__J_OBJ) {
        reply_error(c, 400, "Bad Request", NULL, NULL, 0, "the body is not a JSON object: %s",
                    f.j.err[0] ? f.j.err : "another JSON value");
        it__json_free(&f.j);
        return;
    }
    jb = (job *)calloc(1, sizeof *jb);
    field(&f, "model", T_BIT(IT__J_STR), "a string");
    /* past the context: "length" at the context's end, or (--context-shift) on past it */
    int_field(&f, "max_tokens", 1, 1 << 24, &max_tokens);
    int_field(&f, "max_completion_tokens", 1, 1 << 24, &mt);
    if (mt > 0) max_tokens = mt;
    number_field(&f, "temperature", 0, 2, &temperature);
    number_field(&f, "top_p", 0, 1, &top_p);
    number_field(&f, "min_p", 0, 1, &min_p);
    int_field(&f, "top_k", 0, 1 << 30, &top_k);
    int_field(&f, "n", 1, S->parallel < MAX_CHOICES ? S->parallel : MAX_CHOICES, &n);
    int_field(&f, "seed", INT64_MIN / 2, INT64_MAX / 2, &seed);
    bool_field(&f, "stream", &stream);
    field(&f, "user", T_BIT(IT__J_STR), "a string");
    if ((v = field(&f, "stream_options", T_BIT(IT__J_OBJ), "an object")) >= 0) {
        int u = it__jget(&f.j, v, "include_usage");
        if (u >= 0 && f.j.v[u].type != IT__J_TRUE && f.j.v[u].type != IT__J_FALSE) bad_field(&f, "stream_options.include_usage", "true or false");
        else jb->include_usage = u >= 0 && f.j.v[u].type == IT__J_TRUE;
    }
    stop_fields(&f, jb);
    refuse_unsupported(&f);
    prompt = f.failed ? NULL : request_prompt(S, &f, chat, &n_prompt);
    if (!f.failed && prompt && n_prompt == 0) {
        reply_error(c, 400, "Bad Request", chat ? "messages" : "prompt", NULL, 0, "the prompt encodes to no tokens");
        f.failed = 1;
    }
    if (!f.failed && prompt && n_prompt >= (size_t)S->ctx_len) {
        reply_error(c, 400, "Bad Request", chat ? "messages" : "prompt", "context_length_exceeded", 0,
                    "the prompt is %zu tokens; this model's context is %d (one more is needed for the answer)", n_prompt,
                    S->ctx_len);
        f.failed = 1;
    }
    it__json_free(&f.j);
    if (f.failed || !prompt) {
        free(prompt);
        free(jb);
        return;
    }
    memset(&rq, 0, sizeof rq);
    rq.prompt = prompt;
    rq.n_prompt = (int)n_prompt;
    rq.max_tokens = (int)max_tokens;
    rq.n = (int)n;
    rq.sampling.temperature = (float)temperature;
    rq.sampling.top_p = (float)top_p;
    rq.sampling.top_k = (int)top_k;
    rq.sampling.min_p = (float)min_p;
    rq.sampling.seed = seed >= 0 ? (uint64_t)seed : S->next_seed++ * 0x9E3779B97F4A7C15ull;
    rq.stop_ids = S->stop_ids;
    rq.n_stop_ids = S->n_stop_ids;
    rq.user = jb;
    if (it_generator_submit(S->gen, &rq, ids) != IT_OK) {
        reply_error(c, 400, "Bad Request", NULL, NULL, 0, "%s", it_context_last_error(S->ctx));
        free(prompt);
        free(jb);
        return;
    }
    free(prompt);
    jb->conn = c;
    jb->chat = chat;
    jb->stream = stream;
    jb->n = (int)n;
    jb->n_prompt = (int)n_prompt;
    jb->t0 = now_seconds();
    snprintf(jb->id, sizeof jb->id, "%s-%llu", chat ? "chatcmpl" : "cmpl", ++S->next_request);
    for (i = 0; i < jb->n; i++) {
        jb->ch[i].id = ids[i];
        it_token_stream_create(S->ctx, S->tok, IT_TOKENIZE_NO_SPECIAL, &jb->ch[i].stream);
    }
    c->job = jb;
    c->state = C_BUSY;
    if (stream) {
        sb_puts(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         "Connection: close\r\n\r\n");
        if (chat)
            for (i = 0; i < jb->n; i++) sse_piece(S, jb, i, "", 0, NULL, 1); /* the role first, as OpenAI does */
    }
}

static void handle_request(server *S, conn *c, const char *method, const char *path, const char *body, size_t len) {
    char *q = strchr(path, '?');
    int known = 1;
    if (q) *q = 0;
    if (!strcmp(path, "/health")) {
        if (!strcmp(method, "GET")) {
            const char *b = "{\"status\":\"ok\"}\n";
            conn_reply(c, 200, "OK", "application/json", b, strlen(b), 0);
            return;
        }
    } else if (!strcmp(path, "/v1/models")) {
        if (!strcmp(method, "GET")) {
            sbuf b = {0};
            sb_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
            sb_json_string(&b, S->name, strlen(S->name));
            sb_printf(&b, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"irontensor\"}]}\n", S->created);
            conn_reply(c, 200, "OK", "application/json", b.p, b.n, 0);
            sb_free(&b);
            return;
        }
    } else if (!strcmp(path, "/v1/completions") || !strcmp(path, "/v1/chat/completions")) {
        if (!strcmp(method, "POST")) {
            handle_generate(S, c, body, len, !strcmp(path, "/v1/chat/completions"));
            return;
        }
    } else known = 0;
    if (known) reply_error(c, 405, "Method Not Allowed", NULL, NULL, 0, "%s is not allowed on %s", method, path);
    else reply_error(c, 404, "Not Found", NULL, NULL, 0, "no such endpoint: %s %s", method, path);
}

/* Parses what has arrived; answers a complete request. 1 when one was taken off the input. */
static int conn_parse_one(server *S, conn *c, size_t max_body) {
    char *end, *line, *p, method[16], path[2048], version[16];
    size_t head, body_len = 0;
    int has_length = 0, n_read = 0, close_req = 0;
    if (c->state != C_READ || !c->in.n) return 0;
    end = strstr(c->in.p, "\r\n\r\n");
    if (!end) {
        if (c->in.n > MAX_HEADER) reply_error(c, 431, "Request Header Fields Too Large", NULL, NULL, 1, "the headers pass %d bytes", MAX_HEADER);
        return 0;
    }
    head = (size_t)(end - c->in.p) + 4;
    if (head > MAX_HEADER) {
        reply_error(c, 431, "Request Header Fields Too Large", NULL, NULL, 1, "the headers pass %d bytes", MAX_HEADER);
        return 0;
    }
    if (memchr(c->in.p, 0, head)) {
        reply_error(c, 400, "Bad Request", NULL, NULL, 1, "a zero byte in the request head");
        return 0;
    }
    if (sscanf(c->in.p, "%15s %2047s %15s%n", method, path, version, &n_read) != 3 || (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0")) ||
        strncmp(c->in.p + n_read, "\r\n", 2)) {
        reply_error(c, 400, "Bad Request", NULL, NULL, 1, "a malformed request line");
        return 0;
    }
    c->keep_alive = !strcmp(version, "HTTP/1.1");
    for (line = strstr(c->in.p, "\r\n") + 2; line < end + 2; line = strstr(line, "\r\n") + 2) {
        char *colon = strchr(line, ':'), *eol = strstr(line, "\r\n"), *value;
        if (!colon || colon > eol || colon == line) {
            reply_error(c, 400, "Bad Request", NULL, NULL, 1, "a malformed header line");
            return 0;
        }
        for (value = colon + 1; *value == ' ' || *value == '\t'; value++) continue;
#define HEADER_IS(name) ((size_t)(colon - line) == strlen(name) && !strncasecmp(line, name, strlen(name)))
        if (HEADER_IS("Content-Length")) {
            size_t v = 0;
            for (p = value; p < eol && *p >= '0' && *p <= '9'; p++) v = v > (size_t)1 << 40 ? v : v * 10 + (size_t)(*p - '0');
            while (p < eol && (*p == ' ' || *p == '\t')) p++;
            if (p == value || p != eol || (has_length && v != body_len)) {
                reply_error(c, 400, "Bad Request", NULL, NULL, 1, "a bad Content-Length");
                return 0;
            }
            has_length = 1;
            body_len = v;
        } else if (HEADER_IS("Transfer-Encoding")) {
            reply_error(c, 501, "Not Implemented", NULL, NULL, 1, "request bodies with Transfer-Encoding are not supported; send Content-Length");
            return 0;
        } else if (HEADER_IS("Connection")) {
            if (!strncasecmp(value, "close", 5)) close_req = 1;
            else if (!strncasecmp(value, "keep-alive", 10)) c->keep_alive = 1;
        } else if (HEADER_IS("Expect")) {
            if (strncasecmp(value, "100-continue", 12)) {
                reply_error(c, 417, "Expectation Failed", NULL, NULL, 1, "only Expect: 100-continue is understood");
                return 0;
            }
            if (!c->sent_continue && body_len <= max_body && c->in.n == head) sb_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
            c->sent_continue = 1;
        }
#undef HEADER_IS
    }
    if (close_req) c->keep_alive = 0;
    if (body_len > max_body) {
        reply_error(c, 413, "Payload Too Large", NULL, NULL, 1, "the body is %zu bytes; this server takes at most %zu", body_len, max_body);
        return 0;
    }
    if (!has_length && !strcmp(method, "POST")) {
        reply_error(c, 411, "Length Required", NULL, NULL, 1, "a POST needs Content-Length");
        return 0;
    }
    if (c->in.n < head + body_len) return 0; /* the body is still arriving */
    {
        char saved = c->in.p[head + body_len];
        c->in.p[head + body_len] = 0; /* the body as a C string (the JSON reader takes its length anyway) */
        handle_request(S, c, method, path, c->in.p + head, body_len);
        c->in.p[head + body_len] = saved;
    }
    sb_consume(&c->in, head + body_len);
    c->sent_continue = 0;
    c->reading = 0;
    c->deadline = now_seconds() + S->timeout; /* the next request on this connection, or idle */
    return 1;
}
/* Every complete request in the input, one after another (pipelining), while answers are immediate. */
static void conn_parse(server *S, conn *c, size_t max_body) {
    while (conn_parse_one(S, c, max_body)) continue;
}

/* ---- the loop ----------------------------------------------------------------------------------- */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}
static void conn_drop(server *S, conn *c) {
    if (c->job) { /* the client went away: end its samples; the job goes with their events */
        int i;
        for (i = 0; i < c->job->n; i++)
            if (!c->job->ch[i].done) it_generator_cancel(S->gen, c->job->ch[i].id);
        c->job->conn = NULL;
        c->job->answered = 1; /* nobody to answer: freed once the cancels are reported */
        c->job = NULL;
    }
    close(c->fd);
    sb_free(&c->in);
    sb_free(&c->out);
    c->fd = -1;
}

int main(int argc, char **argv) {
    server S;
    const char *model_dir = NULL, *host = "127.0.0.1", *template_name = NULL, *alias = NULL;
    long port = 8080, threads = 0, timeout_s = 10, max_conns = 64, max_body = 1 << 20, parallel = 4, ctx_len = 0;
    int context_shift = 0, listener, i, one = 1, n_conns = 0, n_slots;
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    conn *conns;
    struct pollfd *pfd;
    struct sigaction sa;
    memset(&S, 0, sizeof S);
    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *num = NULL, lo = 0, hi = 0;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(f, "--context-shift")) {
            context_shift = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "serve: %s needs a value (see --help)\n", f);
            return 2;
        }
        if (!strcmp(f, "--model")) model_dir = v;
        else if (!strcmp(f, "--host")) host = v;
        else if (!strcmp(f, "--chat-template")) template_name = v;
        else if (!strcmp(f, "--alias")) alias = v;
        else if (!strcmp(f, "--quant")) {
            if (!(S.quant = it_weight_type_from_name(v))) {
                fprintf(stderr, "serve: --quant '%s' is not one of f32, bf16, q8_0, q4_0\n", v);
                return 2;
            }
        }
        else if (!strcmp(f, "--port")) num = &port, lo = 0, hi = 65535;
        else if (!strcmp(f, "--threads")) num = &threads, lo = 0, hi = 256;
        else if (!strcmp(f, "--timeout")) num = &timeout_s, lo = 1, hi = 3600;
        else if (!strcmp(f, "--max-connections")) num = &max_conns, lo = 1, hi = 4096;
        else if (!strcmp(f, "--max-body")) num = &max_body, lo = 1024, hi = 1L << 30;
        else if (!strcmp(f, "--parallel")) num = &parallel, lo = 1, hi = 256;
        else if (!strcmp(f, "--ctx")) num = &ctx_len, lo = 1, hi = 1 << 24;
        else {
            fprintf(stderr, "serve: unknown flag '%s' (see --help)\n", f);
            return 2;
        }
        if (num) {
            char *end;
            errno = 0;
            *num = strtol(v, &end, 10);
            if (errno || *end || end == v || *num < lo || *num > hi) {
                fprintf(stderr, "serve: %s expects a whole number in [%ld, %ld], got '%s'\n", f, lo, hi, v);
                return 2;
            }
        }
        i++;
    }
    if (!model_dir) {
        fprintf(stderr, "serve: --model DIR is required (see --help)\n");
        return 2;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, !strcmp(host, "localhost") ? "127.0.0.1" : host, &addr.sin_addr) != 1) {
        fprintf(stderr, "serve: --host expects an IPv4 address such as 127.0.0.1, got '%s'\n", host);
        return 2;
    }
    S.parallel = (int)parallel;
    S.ctx_len = (int)ctx_len;
    S.timeout = (double)timeout_s;
    if (load_model(&S, model_dir, template_name, (int)threads, context_shift) != 0) return 1;
    if (alias) snprintf(S.name, sizeof S.name, "%s", alias);
    S.created = (long)time(NULL);
    S.next_seed = (uint64_t)time(NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a client gone mid-write is an EPIPE, not the end of the server */
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 64) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &alen) != 0) {
        fprintf(stderr, "serve: cannot listen on %s:%ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    fcntl(listener, F_SETFL, O_NONBLOCK);
    fprintf(stderr, "serve: listening on http://%s:%d (model %s, %d parallel, context %d, chat template %s)\n", host,
            ntohs(addr.sin_port), S.name, S.parallel, S.ctx_len, S.has_chat ? it_chat_format_name(S.chat.format) : "none");
    n_slots = (int)max_conns + REJECT_SLOTS;
    conns = (conn *)calloc((size_t)n_slots, sizeof *conns);
    pfd = (struct pollfd *)calloc((size_t)n_slots + 1, sizeof *pfd);
    for (i = 0; i < n_slots; i++) conns[i].fd = -1;

    while (!stop_requested) {
        double now = now_seconds(), wait = 1.0;
        int busy = it_generator_pending(S.gen) > 0, n = 0, k;
        pfd[n].fd = listener, pfd[n].events = POLLIN, pfd[n++].revents = 0;
        for (i = 0; i < n_slots; i++) {
            conn *c = &conns[i];
            if (c->fd < 0) continue;
            pfd[n].fd = c->fd;
            pfd[n].events = (short)((c->state != C_CLOSING ? POLLIN : 0) | (c->out.n > c->out_sent ? POLLOUT : 0));
            pfd[n++].revents = 0;
            if ((c->state == C_READ || c->state == C_DRAIN) && c->deadline - now < wait) wait = c->deadline - now;
        }
        if (poll(pfd, (nfds_t)n, busy ? 0 : wait > 0 ? (int)(wait * 1000) + 1 : 0) < 0 && errno != EINTR) {
            fprintf(stderr, "serve: poll: %s\n", strerror(errno));
            break;
        }
        now = now_seconds();
        if (pfd[0].revents & POLLIN) { /* new connections */
            int fd;
            while ((fd = accept(listener, NULL, NULL)) >= 0) {
                fcntl(fd, F_SETFL, O_NONBLOCK);
                if (n_conns >= max_conns + REJECT_SLOTS) {
                    close(fd);
                    continue;
                }
                for (k = 0; conns[k].fd >= 0; k++) continue;
                memset(&conns[k], 0, sizeof conns[k]);
                conns[k].fd = fd;
                conns[k].state = C_READ;
                conns[k].deadline = now + (double)timeout_s;
                if (n_conns++ >= max_conns)
                    reply_error(&conns[k], 503, "Service Unavailable", NULL, NULL, 1, "too many connections (%ld)", max_conns);
            }
        }
        for (k = 1; k < n; k++) {
            conn *c = NULL;
            for (i = 0; i < n_slots; i++)
                if (conns[i].fd == pfd[k].fd) c = &conns[i];
            if (!c) continue;
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                char tmp[65536];
                ssize_t got = recv(c->fd, tmp, sizeof tmp, 0);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                    conn_drop(&S, c); /* closed by the client, or reset */
                    n_conns--;
                    continue;
                }
                if (got > 0 && c->state == C_DRAIN) continue; /* dropped: the answer has gone */
                if (got > 0) {
                    if (!c->reading && c->state == C_READ) c->reading = 1, c->deadline = now + (double)timeout_s;
                    if (c->in.n + (size_t)got > MAX_HEADER + (size_t)max_body + 4) { /* more than one request can be */
                        if (c->state == C_READ) reply_error(c, 413, "Payload Too Large", NULL, NULL, 1, "the request is too large");
                        else c->state = C_CLOSING;
                        c->in.n = 0;
                    } else {
                        sb_put(&c->in, tmp, (size_t)got);
                        conn_parse(&S, c, (size_t)max_body);
                    }
                }
            }
            if (c->fd >= 0 && c->out.n > c->out_sent) {
                ssize_t w = send(c->fd, c->out.p + c->out_sent, c->out.n - c->out_sent, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    conn_drop(&S, c);
                    n_conns--;
                    continue;
                }
                if (w > 0) c->out_sent += (size_t)w;
                if (c->out_sent == c->out.n) c->out.n = c->out_sent = 0;
                else if (c->out.n - c->out_sent > MAX_OUTPUT) { /* not reading its answer */
                    conn_drop(&S, c);
                    n_conns--;
                    continue;
                }
            }
            if (c->state == C_CLOSING && c->out.n == c->out_sent) {
                shutdown(c->fd, SHUT_WR);
                c->state = C_DRAIN;
                c->deadline = now + DRAIN_SECONDS;
            }
        }
        for (i = 0; i < n_slots; i++) { /* requests that take too long to arrive, idle keep-alives */
            conn *c = &conns[i];
            if (c->fd < 0 || (c->state != C_READ && c->state != C_DRAIN) || now < c->deadline) continue;
            if (c->state == C_READ && c->in.n) {
                reply_error(c, 408, "Request Timeout", NULL, NULL, 1, "the request did not arrive within %ld s", timeout_s);
                c->in.n = 0;
            } else {
                conn_drop(&S, c);
                n_conns--;
            }
        }
        if (it_generator_pending(S.gen) > 0) { /* one batched step for every running request */
            const it_generation_event *ev;
            int n_ev, e;
            if (it_generator_step(S.gen, &ev, &n_ev) != IT_OK) {
                fprintf(stderr, "serve: generation failed: %s\n", it_context_last_error(S.ctx));
                break;
            }
            for (e = 0; e < n_ev; e++) {
                job *jb = (job *)ev[e].user;
                on_event(&S, jb, ev[e].index, &ev[e]);
            }
            for (i = 0; i < n_slots; i++) /* answered: a pipelined request already in goes next */
                if (conns[i].fd >= 0 && conns[i].state == C_READ && conns[i].in.n) conn_parse(&S, &conns[i], (size_t)max_body);
        }
    }
    fprintf(stderr, "serve: shutting down\n");
    for (i = 0; i < n_slots; i++)
        if (conns[i].fd >= 0) conn_drop(&S, &conns[i]);
    close(listener);
    free(conns);
    free(pfd);
    it_context_destroy(S.ctx);
    return 0;
}
