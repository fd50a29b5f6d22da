/* it_eval.c - the logits of a token sequence, for exact comparisons with other implementations.

     cc -O2 -std=c99 -I. tools/it_eval.c -o build/it-eval -lm -lpthread
     build/it-eval --model DIR --ids 1,2,3,4 --logits-out logits.npy

   DIR is a Hugging Face model directory or a checkpoint of build/train. The whole sequence goes
   through the model in one forward pass (no KV cache: the graph the training step uses, without
   its loss); the logits of every position, float32 [T, vocab], are written as a NumPy .npy file
   (numpy.load reads it; written to a temporary name and renamed, so a reader never sees half a
   file). The mean next-token cross-entropy of the sequence (what transformers reports as the loss
   with labels = input_ids) goes to stdout. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: it-eval --model DIR [--adapter DIR] --ids 1,2,3,... --logits-out FILE.npy [--threads N]\n"
               "  --model DIR          a Hugging Face model directory or a train --save checkpoint\n"
               "  --adapter DIR        a LoRA adapter (PEFT's files) applied unmerged\n"
               "  --ids LIST           the token ids of the sequence, comma-separated (at most the model's max-seq)\n"
               "  --logits-out FILE    where the float32 logits [T, vocab] go (.npy)\n"
               "  --threads N          CPU threads, 0 = all cores (default 0)\n");
}
static void log_below_errors(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level < IT_LOG_ERROR) fprintf(stderr, "irontensor: %s\n", message);
}

int main(int argc, char **argv) {
    const char *model_dir = NULL, *adapter_dir = NULL, *ids_arg = NULL, *out_path = NULL;
    long threads = 0;
    it_context_desc desc;
    it_context *ctx;
    it_model_config config;
    it_model *model;
    it_model_graph lg;
    int32_t *ids;
    size_t n_ids, t;
    int64_t shape[2];
    double loss = 0.0;
    int i;
    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        }
        if (strncmp(f, "--", 2) != 0 || (strcmp(f, "--model") && strcmp(f, "--adapter") && strcmp(f, "--ids") && strcmp(f, "--logits-out") &&
                                         strcmp(f, "--threads"))) {
            fprintf(stderr, "it-eval: unknown argument '%s' (see --help)\n", f);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "it-eval: %s needs a value (see --help)\n", f);
            return 2;
        }
        if (!strcmp(f, "--model")) model_dir = v;
        else if (!strcmp(f, "--adapter")) adapter_dir = v;
        else if (!strcmp(f, "--ids")) ids_arg = v;
        else if (!strcmp(f, "--logits-out")) out_path = v;
        else {
            char *end;
            errno = 0;
            threads = strtol(v, &end, 10);
            if (errno || *end || end == v || threads < 0 || threads > 256) {
                fprintf(stderr, "it-eval: --threads expects a whole number in [0, 256], got '%s'\n", v);
                return 2;
            }
        }
        i++;
    }
    if (!model_dir || !ids_arg || !out_path) {
        fprintf(stderr, "it-eval: --model, --ids and --logits-out are required (see --help)\n");
        return 2;
    }
    memset(&desc, 0, sizeof desc);
    desc.n_threads = (int)threads;
    desc.logger.log = log_below_errors;
    desc.logger.min_level = IT_LOG_INFO;
    if (it_context_create(&desc, &ctx) != IT_OK) return 1;
    if (it_lora_model_load(ctx, model_dir, adapter_dir, &model, NULL) != IT_OK) {
        fprintf(stderr, "it-eval: %s\n", it_context_last_error(ctx));
        return 1;
    }
    config = model->config;
    if (it_ids_parse(ctx, ids_arg, config.vocab_size, &ids, &n_ids) != IT_OK) {
        fprintf(stderr, "it-eval: --ids: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (n_ids > (size_t)config.max_seq) {
        fprintf(stderr, "it-eval: --ids holds %zu tokens, more than the model's max-seq of %d\n", n_ids, config.max_seq);
        return 1;
    }
    if (it_model_graph_create(model, IT_PURPOSE_LOGITS, 1, (int)n_ids, &lg) != IT_OK) {
        fprintf(stderr, "it-eval: %s\n", it_context_last_error(ctx));
        return 1;
    }
    memcpy(it_data_i32(lg.tokens), ids, sizeof(int32_t) * n_ids);
    shape[0] = (int64_t)n_ids;
    shape[1] = config.vocab_size;
    if (it_graph_run(lg.graph, IT_RUN_FORWARD) != IT_OK ||
        it_npy_write_f32(ctx, out_path, it_data(lg.logits), 2, shape) != IT_OK) {
        fprintf(stderr, "it-eval: %s\n", it_context_last_error(ctx));
        return 1;
    }
    for (t = 0; t + 1 < n_ids; t++) { /* -log softmax(logits[t])[ids[t + 1]], in double */
        const float *l = it_data(lg.logits) + t * (size_t)config.vocab_size;
        double m = l[0], z = 0.0;
        int v;
        for (v = 1; v < config.vocab_size; v++) m = l[v] > m ? l[v] : m;
        for (v = 0; v < config.vocab_size; v++) z += exp((double)l[v] - m);
        loss += m + log(z) - l[ids[t + 1]];
    }
    if (n_ids > 1) printf("loss %.6f over %zu next-token predictions\n", loss / (double)(n_ids - 1), n_ids - 1);
    fprintf(stderr, "it-eval: wrote %s: float32 logits [%zu, %d]\n", out_path, n_ids, config.vocab_size);
    it_ids_free(ctx, ids);
    it_model_graph_destroy(&lg);
    it_context_destroy(ctx);
    return 0;
}
