/* it_merge.c - fold a LoRA adapter into its base model and save a plain model directory.

     cc -O2 -std=c99 -I. tools/it_merge.c -o build/it-merge -lm -lpthread
     build/it-merge --model DIR --adapter ADAPTER_DIR --out DIR2 [--dtype f32|bf16]

   DIR is a Hugging Face model directory or an IronTensor checkpoint; ADAPTER_DIR holds
   adapter_config.json and adapter_model.safetensors (PEFT's save_pretrained, or build/finetune).
   W += (alpha / r) B A for every adapted projection (alpha / sqrt(r) with rsLoRA), as PEFT's
   merge_and_unload does; DIR2 is written like any checkpoint (atomic, never over a directory this
   library did not write), and the base's tokenizer and generation files are copied next to it so
   build/generate --model DIR2 runs the merged model as it ran the base. */
#define _POSIX_C_SOURCE 200809L
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: it-merge --model DIR --adapter ADAPTER_DIR --out DIR2 [--dtype f32|bf16]\n"
               "  folds the LoRA adapter into the base weights (W += scale B A) and saves a plain model\n");
}
/* The base directory's files a merged model needs besides its weights. */
static const char *const carried[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                      "generation_config.json", "tokenizer.bin"};

/* Warnings go to stderr; errors are printed once, by main, with what it was doing. */
static void log_warnings(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level == IT_LOG_WARN) fprintf(stderr, "it-merge: warning: %s\n", message);
}
static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out;
    char buf[65536];
    size_t n;
    int ok = 1;
    if (!in) return 0; /* absent: nothing to carry */
    out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) ok = ok && fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) != 0) ok = 0;
    return ok ? 1 : -1;
}

int main(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *out = NULL, *dtype = "f32";
    it_context *ctx = NULL;
    it_model_config cfg;
    it_model *m;
    it_lora *lora;
    it_checkpoint_options o;
    int i;
    size_t k;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--model") && strcmp(a, "--adapter") && strcmp(a, "--out") && strcmp(a, "--dtype")) {
            fprintf(stderr, "it-merge: unknown flag '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "it-merge: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--adapter")) adapter = v;
        else if (!strcmp(a, "--out")) out = v;
        else dtype = v;
        i++;
    }
    if (!model || !adapter || !out) {
        fprintf(stderr, "it-merge: --model, --adapter and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(dtype, "f32") && strcmp(dtype, "bf16")) {
        fprintf(stderr, "it-merge: --dtype must be f32 or bf16, not '%s'\n", dtype);
        return 2;
    }
    {
        it_context_desc desc;
        memset(&desc, 0, sizeof desc);
        desc.logger.log = log_warnings;
        desc.logger.min_level = IT_LOG_WARN;
        if (it_context_create(&desc, &ctx) != IT_OK) return 1;
    }
    if (it_checkpoint_check_target(ctx, out) != IT_OK || it_checkpoint_read_config(ctx, model, &cfg) != IT_OK ||
        it_model_create(ctx, &cfg, &m) != IT_OK || it_lora_attach(m, adapter, &lora) != IT_OK ||
        it_checkpoint_load(ctx, m, NULL, NULL, model) != IT_OK) {
        fprintf(stderr, "it-merge: %s\n", it_context_last_error(ctx));
        it_context_destroy(ctx);
        return 1;
    }
    if (it_lora_merge(lora) != IT_OK) {
        fprintf(stderr, "it-merge: %s\n", it_context_last_error(ctx));
        it_context_destroy(ctx);
        return 1;
    }
    memset(&o, 0, sizeof o);
    o.dtype = strcmp(dtype, "bf16") ? IT_F32 : IT_BF16;
    if (it_checkpoint_save(ctx, m, NULL, NULL, out, &o) != IT_OK) {
        fprintf(stderr, "it-merge: saving %s: %s\n", out, it_context_last_error(ctx));
        it_context_destroy(ctx);
        return 1;
    }
    for (k = 0; k < sizeof carried / sizeof carried[0]; k++) {
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s/%s", model, carried[k]);
        snprintf(to, sizeof to, "%s/%s", out, carried[k]);
        if (copy_file(from, to) < 0) {
            fprintf(stderr, "it-merge: copying %s to %s failed\n", from, to);
            it_context_destroy(ctx);
            return 1;
        }
    }
    printf("merged %d adapted projections (r %d, scale %g) of %s into %s\n", it_lora_count(lora),
           it_lora_get_config(lora)->rank, (double)it_lora_scale(lora), adapter, out);
    it_context_destroy(ctx);
    return 0;
}
