/* parity_dump.c - the C half of the PyTorch parity test (tests/parity/parity_torch.py is the other).

     cc -O2 -std=c99 -D_DEFAULT_SOURCE -I. tests/parity/parity_dump.c -o build/parity_dump -lm -lpthread
     build/parity_dump VARIANT OUTDIR            VARIANT: llama | llama-tied | gpt2 | gpt2-untied
     build/parity_dump --from-checkpoint CKPT OUTDIR

   With a VARIANT it builds a small model, initialises it with a fixed seed and then perturbs it so
   nothing is trivially 1 or 0 (norm weights 1 + 0.2 N(0,1), biases 0.1 N(0,1), embedding, head
   and GPT-2 positions scaled up 10x so the logits are peaked and greedy decoding is unambiguous),
   and writes
     OUTDIR/ckpt/        it_checkpoint_save, f32 (config.json + model.safetensors)
     OUTDIR/ckpt_bf16/   the same weights saved with dtype IT_BF16
     OUTDIR/dump.safetensors
   With --from-checkpoint it loads CKPT (e.g. written by build/train --save) instead and writes only
   OUTDIR/dump.safetensors (no perturbation, no bf16 round trip).

   dump.safetensors is a plain safetensors file (8-byte little-endian header length, JSON header,
   data; F32 and I32 tensors) written by the small writer below. Its tensors:
     tokens, targets   I32 [B, T]   the fixed batch (B = 2, T = 11); targets of -1 are ignored
     logits            F32 [B, T, V] from an IT_PURPOSE_LOGITS graph
     loss              F32 [1]      mean cross-entropy from an IT_PURPOSE_TRAIN graph
     grad.NAME         F32          d loss / d NAME for every tensor NAME of model.safetensors, in
                                    the checkpoint's names, shapes and layout: GPT-2's q, k, v
                                    gradients are fused into grad.transformer.h.N.attn.c_attn.* the
                                    way the checkpoint fuses the weights (Conv1D [in, out], columns
                                    q | k | v). A tied head has no tensor of its own: its gradient is
                                    part of the embedding's, as in PyTorch.
     prompt            I32 [P]      the prompt of the greedy decode
     greedy            I32 [20]     20 greedy tokens: each step runs a [1, max_seq] logits graph on
                                    the whole context (left-aligned, zero padded, like
                                    examples/generate.c) and takes it_cpu_argmax of the last position
     logits_bf16       F32 [B, T, V] (variants only) logits after reloading ckpt_bf16 with
                                    it_checkpoint_load
   __metadata__: "variant", "checkpoint" (a path, relative to OUTDIR unless absolute), "checkpoint_bf16",
   "ignore_index" ("-1"). */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define B 2
#define T 11
#define N_GREEDY 20
#define SEED 20240611ull

/* Errors reach the user through die() and it_context_last_error(); the logger shows the rest. (A
   save into a new directory logs a harmless "no such directory" error from its recovery step.) */
static void log_below_errors(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level < IT_LOG_ERROR) fprintf(stderr, "irontensor: %s\n", message);
}

static void die(it_context *ctx, const char *what) {
    fprintf(stderr, "parity_dump: %s: %s\n", what, ctx ? it_context_last_error(ctx) : "failed");
    exit(1);
}

/* ---- a tiny safetensors writer: tensors are appended in memory, written at the end ------------ */
typedef struct dump_tensor {
    char name[128];
    const char *dtype; /* "F32" or "I32" */
    int ndim;
    int dims[4];
    size_t offset, nbytes;
} dump_tensor;
typedef struct dump {
    dump_tensor t[256];
    int n;
    unsigned char *data;
    size_t size, cap;
    char meta[8][2][512];
    int n_meta;
} dump;

static void dump_add(dump *d, const char *name, const char *dtype, int ndim, const int *dims, const void *src) {
    dump_tensor *e;
    size_t n = 4;
    int i;
    if (d->n == (int)(sizeof d->t / sizeof d->t[0])) {
        fprintf(stderr, "parity_dump: too many tensors\n");
        exit(1);
    }
    e = &d->t[d->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->ndim = ndim;
    for (i = 0; i < ndim; i++) {
        e->dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    if (d->size + n > d->cap) {
        d->cap = (d->size + n) * 2;
        d->data = (unsigned char *)realloc(d->data, d->cap);
        if (!d->data) {
            fprintf(stderr, "parity_dump: out of memory\n");
            exit(1);
        }
    }
    e->offset = d->size;
    e->nbytes = n;
    memcpy(d->data + d->size, src, n); /* f32 and i32 are little-endian on every host we run on */
    d->size += n;
}
static void dump_meta(dump *d, const char *key, const char *value) {
    snprintf(d->meta[d->n_meta][0], 512, "%s", key);
    snprintf(d->meta[d->n_meta][1], 512, "%s", value);
    d->n_meta++;
}
static void dump_write(const dump *d, const char *path) {
    size_t cap = 4096 + (size_t)d->n * 256, len = 0, pad;
    char *h = (char *)malloc(cap);
    unsigned char len8[8];
    FILE *f;
    int i, j;
    if (!h) exit(1);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{");
    for (i = 0; i < d->n_meta; i++)
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":\"%s\"", i ? "," : "", d->meta[i][0], d->meta[i][1]);
    len += (size_t)snprintf(h + len, cap - len, "}");
    for (i = 0; i < d->n; i++) {
        const dump_tensor *e = &d->t[i];
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name, e->dtype);
        for (j = 0; j < e->ndim; j++) len += (size_t)snprintf(h + len, cap - len, "%s%d", j ? "," : "", e->dims[j]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", e->offset, e->offset + e->nbytes);
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    for (pad = len; pad % 8; pad++) h[pad] = ' ';
    for (i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)pad >> (8 * i));
    f = fopen(path, "wb");
    if (!f || fwrite(len8, 1, 8, f) != 8 || fwrite(h, 1, pad, f) != pad || fwrite(d->data, 1, d->size, f) != d->size ||
        fclose(f) != 0) {
        fprintf(stderr, "parity_dump: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    free(h);
}

/* ---- the model ------------------------------------------------------------------------------- */
static int variant_config(const char *v, it_model_config *c) {
    memset(c, 0, sizeof *c);
    if (!strcmp(v, "llama") || !strcmp(v, "llama-tied")) {
        c->arch = IT_ARCH_LLAMA;
        c->vocab_size = 97;
        c->dim = 48;
        c->n_layers = 2;
        c->n_heads = 6;
        c->n_kv_heads = 2; /* GQA: 3 query heads per kv head */
        c->ffn_dim = 80;
        c->max_seq = 32;
        c->untied = !strcmp(v, "llama");
        /* non-default eps and theta in the tied variant: the reader must honour config.json */
        c->rope_theta = c->untied ? 10000.0f : 500.0f;
        c->norm_eps = c->untied ? 1e-5f : 1e-6f;
        return 1;
    }
    if (!strcmp(v, "gpt2") || !strcmp(v, "gpt2-untied")) {
        c->arch = IT_ARCH_GPT2;
        c->vocab_size = 97;
        c->dim = 48;
        c->n_layers = 2;
        c->n_heads = 4;
        c->n_kv_heads = 4;
        c->ffn_dim = 96;
        c->max_seq = 32;
        c->untied = !strcmp(v, "gpt2-untied");
        c->norm_eps = 1e-5f;
        return 1;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Norms and biases away from 1 / 0; embedding, head and positions 10x (peaked logits). */
static void perturb(it_model *m, uint64_t seed) {
    it_context *ctx = m->ctx;
    it_rng rng;
    int i;
    size_t j;
    it_rng_seed(&rng, seed);
    for (i = 0; i < it_param_count(ctx); i++) {
        it_tensor *p = it_param_at(ctx, i);
        float *x = it_data(p);
        size_t n = it_tensor_numel(p);
        if (it_tensor_ndim(p) == 1 && ends_with(it_tensor_name(p), ".weight"))
            for (j = 0; j < n; j++) x[j] = 1.0f + 0.2f * it_rng_normal(&rng);
        else if (it_tensor_ndim(p) == 1)
            for (j = 0; j < n; j++) x[j] = 0.1f * it_rng_normal(&rng);
        else if (p == m->embed || p == m->head || p == m->pos_embed)
            for (j = 0; j < n; j++) x[j] *= 10.0f;
    }
}

/* The checkpoint name of a (non-fused) parameter. */
static void ck_name(const it_model *m, const char *param, char *out, size_t size) {
    if (m->config.arch == IT_ARCH_GPT2 && strcmp(param, "lm_head.weight") != 0) snprintf(out, size, "transformer.%s", param);
    else snprintf(out, size, "%s", param);
}

/* grad.NAME for every checkpoint tensor (GPT-2 q | k | v fused by columns like the checkpoint). */
static void dump_grads(dump *d, it_model *m) {
    it_context *ctx = m->ctx;
    const it_model_config *c = &m->config;
    int i, l, dims[2];
    char name[160], ck[128];
    for (i = 0; i < it_param_count(ctx); i++) {
        it_tensor *p = it_param_at(ctx, i);
        const char *pn = it_tensor_name(p);
        if (c->arch == IT_ARCH_GPT2 && strstr(pn, ".attn.") && !strstr(pn, "c_proj")) continue; /* fused below */
        ck_name(m, pn, ck, sizeof ck);
        snprintf(name, sizeof name, "grad.%s", ck);
        dims[0] = it_tensor_dim(p, 0);
        dims[1] = it_tensor_ndim(p) == 2 ? it_tensor_dim(p, 1) : 0;
        dump_add(d, name, "F32", it_tensor_ndim(p), dims, it_grad(p));
    }
    if (c->arch != IT_ARCH_GPT2) return;
    for (l = 0; l < c->n_layers; l++) {
        int C = c->dim, r, k, w;
        float *fused = (float *)malloc(sizeof(float) * (size_t)C * 3 * (size_t)C);
        static const char *qkv[3] = {"q", "k", "v"};
        if (!fused) exit(1);
        for (w = 0; w < 2; w++) { /* weight [C, 3C], then bias [3C] */
            for (k = 0; k < 3; k++) {
                it_tensor *p;
                snprintf(ck, sizeof ck, "h.%d.attn.%s.%s", l, qkv[k], w ? "bias" : "weight");
                if (!(p = it_param_find(ctx, ck))) {
                    fprintf(stderr, "parity_dump: no parameter %s\n", ck);
                    exit(1);
                }
                for (r = 0; r < (w ? 1 : C); r++) memcpy(fused + (size_t)r * 3 * C + (size_t)k * C, it_grad(p) + (size_t)r * C, sizeof(float) * (size_t)C);
            }
            snprintf(name, sizeof name, "grad.transformer.h.%d.attn.c_attn.%s", l, w ? "bias" : "weight");
            dims[0] = w ? 3 * C : C;
            dims[1] = 3 * C;
            dump_add(d, name, "F32", w ? 1 : 2, dims, fused);
        }
        free(fused);
    }
}

static void run_logits(it_context *ctx, it_model_graph *g, const int32_t *tokens) {
    memcpy(it_data_i32(g->tokens), tokens, sizeof(int32_t) * B * T);
    if (it_graph_run(g->graph, IT_RUN_FORWARD) != IT_OK) die(ctx, "logits run");
}

int main(int argc, char **argv) {
    const char *variant, *outdir, *from = NULL;
    char path[4096], ckpt[4096], ckpt_bf16[4096];
    it_context_desc desc;
    it_context *ctx;
    it_model_config cfg;
    it_model *m;
    it_model_graph glog, gtrain, ggen;
    it_checkpoint_options opt;
    it_rng rng;
    dump *d;
    int32_t tokens[B * T], targets[B * T], context[64];
    int i, V, n_prompt = 5, dims[3];

    if (argc == 4 && !strcmp(argv[1], "--from-checkpoint")) {
        from = argv[2];
        variant = "checkpoint";
        outdir = argv[3];
    } else if (argc == 3) {
        variant = argv[1];
        outdir = argv[2];
    } else {
        fprintf(stderr, "usage: parity_dump llama|llama-tied|gpt2|gpt2-untied OUTDIR\n"
                        "       parity_dump --from-checkpoint CKPT OUTDIR\n");
        return 2;
    }
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "parity_dump: cannot create %s: %s\n", outdir, strerror(errno));
        return 1;
    }
    memset(&desc, 0, sizeof desc);
    desc.logger.log = log_below_errors;
    desc.logger.min_level = IT_LOG_INFO;
    if (it_context_create(&desc, &ctx) != IT_OK) return 1;
    if (from) {
        if (it_checkpoint_read_config(ctx, from, &cfg) != IT_OK) die(ctx, from);
    } else if (!variant_config(variant, &cfg)) {
        fprintf(stderr, "parity_dump: unknown variant '%s'\n", variant);
        return 2;
    }
    if (it_model_create(ctx, &cfg, &m) != IT_OK) die(ctx, "model");
    V = m->config.vocab_size;
    if (m->config.max_seq < T || m->config.max_seq < n_prompt + N_GREEDY) {
        fprintf(stderr, "parity_dump: the model's max-seq %d is below %d\n", m->config.max_seq, n_prompt + N_GREEDY);
        return 1;
    }
    if (it_model_graph_create(m, IT_PURPOSE_LOGITS, B, T, &glog) != IT_OK ||
        it_model_graph_create(m, IT_PURPOSE_TRAIN, B, T, &gtrain) != IT_OK ||
        it_model_graph_create(m, IT_PURPOSE_LOGITS, 1, m->config.max_seq, &ggen) != IT_OK)
        die(ctx, "graphs");

    d = (dump *)calloc(1, sizeof *d);
    if (!d) return 1;
    dump_meta(d, "format", "pt");
    dump_meta(d, "variant", variant);
    dump_meta(d, "ignore_index", "-1");
    if (from) {
        if (it_checkpoint_load(ctx, m, NULL, NULL, from) != IT_OK) die(ctx, from);
        dump_meta(d, "checkpoint", from);
    } else {
        if (it_model_init(m, SEED) != IT_OK) die(ctx, "init");
        perturb(m, SEED + 1);
        snprintf(ckpt, sizeof ckpt, "%s/ckpt", outdir);
        if (it_checkpoint_save(ctx, m, NULL, NULL, ckpt, NULL) != IT_OK) die(ctx, ckpt);
        dump_meta(d, "checkpoint", "ckpt");
    }

    /* the fixed batch: random tokens, targets = the next token (a fresh one at the end), one ignored */
    it_rng_seed(&rng, 77);
    for (i = 0; i < B * T; i++) tokens[i] = (int32_t)it_rng_below(&rng, (uint32_t)V);
    for (i = 0; i < B * T; i++) targets[i] = (i % T == T - 1) ? (int32_t)it_rng_below(&rng, (uint32_t)V) : tokens[i + 1];
    targets[T + 3] = -1;
    dims[0] = B;
    dims[1] = T;
    dims[2] = V;
    dump_add(d, "tokens", "I32", 2, dims, tokens);
    dump_add(d, "targets", "I32", 2, dims, targets);

    run_logits(ctx, &glog, tokens);
    dump_add(d, "logits", "F32", 3, dims, it_data(glog.logits));

    memcpy(it_data_i32(gtrain.tokens), tokens, sizeof tokens);
    memcpy(it_data_i32(gtrain.targets), targets, sizeof targets);
    it_zero_grads(ctx);
    if (it_graph_run(gtrain.graph, IT_RUN_FORWARD_BACKWARD) != IT_OK) die(ctx, "train run");
    dims[0] = 1;
    dump_add(d, "loss", "F32", 1, dims, it_data(gtrain.loss));
    dump_grads(d, m);

    /* greedy decode: full recompute of the [1, max_seq] window each step, like examples/generate.c */
    for (i = 0; i < n_prompt; i++) context[i] = (int32_t)((7 * i + 3) % V);
    for (i = n_prompt; i < n_prompt + N_GREEDY; i++) {
        int32_t *window = it_data_i32(ggen.tokens);
        int k;
        for (k = 0; k < m->config.max_seq; k++) window[k] = k < i ? context[k] : 0;
        if (it_graph_run(ggen.graph, IT_RUN_FORWARD) != IT_OK) die(ctx, "generate run");
        context[i] = (int32_t)it_cpu_argmax(it_data(ggen.logits) + (size_t)(i - 1) * (size_t)V, V);
    }
    dims[0] = n_prompt;
    dump_add(d, "prompt", "I32", 1, dims, context);
    dims[0] = N_GREEDY;
    dump_add(d, "greedy", "I32", 1, dims, context + n_prompt);

    if (!from) { /* bf16: save, reload into the same model, logits again */
        memset(&opt, 0, sizeof opt);
        opt.dtype = IT_BF16;
        snprintf(ckpt_bf16, sizeof ckpt_bf16, "%s/ckpt_bf16", outdir);
        if (it_checkpoint_save(ctx, m, NULL, NULL, ckpt_bf16, &opt) != IT_OK) die(ctx, ckpt_bf16);
        if (it_checkpoint_load(ctx, m, NULL, NULL, ckpt_bf16) != IT_OK) die(ctx, ckpt_bf16);
        run_logits(ctx, &glog, tokens);
        dims[0] = B;
        dump_add(d, "logits_bf16", "F32", 3, dims, it_data(glog.logits));
        dump_meta(d, "checkpoint_bf16", "ckpt_bf16");
    }

    snprintf(path, sizeof path, "%s/dump.safetensors", outdir);
    dump_write(d, path);
    printf("parity_dump: %s -> %s (%d tensors, loss %.6f)\n", variant, path, d->n, (double)it_data(gtrain.loss)[0]);
    free(d->data);
    free(d);
    it_model_graph_destroy(&ggen);
    it_model_graph_destroy(&gtrain);
    it_model_graph_destroy(&glog);
    it_model_destroy(m);
    it_context_destroy(ctx);
    return 0;
}
