/* it-quantize: a model directory (Hugging Face or a train --save checkpoint) as a smaller model
   directory for inference, its decoder matrices (projections and head) stored as bf16 or as
   llama.cpp's Q8_0 / Q4_0 blocks (irontensor.h, >>checkpoints: QUANTISED WEIGHTS), the rest f32.
   generate, it-eval and serve load the result like any model directory; generate decodes at its
   own type.
     cc -O2 -std=c99 -I. tools/it_quantize.c -o build/it-quantize -lm -lpthread
     build/it-quantize --model DIR --type q8_0|q4_0|bf16 --out DIR2
*/
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: it-quantize --model DIR --type q8_0|q4_0|bf16 --out DIR2\n"
               "  --model DIR   a Hugging Face model directory or a train --save checkpoint\n"
               "  --type T      the decoder's matrices (projections, head) as bf16 or llama.cpp's q8_0 / q4_0 blocks;\n"
               "                norms, biases and an untied embedding stay f32\n"
               "  --out DIR2    the new model directory, written atomically; an existing DIR2 is replaced only when\n"
               "                it is empty or an IronTensor checkpoint (its tokenizer files come from DIR)\n");
}
/* Bytes of DIR's model.safetensors (0 when it is sharded or missing), for the summary line. */
static double file_mb(const char *dir) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0.0;
}
int main(int argc, char **argv) {
    const char *model_dir = NULL, *out = NULL, *type_name = NULL;
    it_checkpoint_options opts;
    it_context_desc cd;
    it_context *ctx;
    it_model *model;
    it_weight_type type;
    char tok_path[4200];
    int i;
    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v || (strcmp(f, "--model") && strcmp(f, "--out") && strcmp(f, "--type"))) {
            fprintf(stderr, "it-quantize: %s '%s' (see --help)\n", v ? "unknown flag" : "missing value for", f);
            return 2;
        }
        *(!strcmp(f, "--model") ? &model_dir : !strcmp(f, "--out") ? &out : &type_name) = v;
        i++;
    }
    if (!model_dir || !out || !type_name) {
        fprintf(stderr, "it-quantize: --model, --type and --out are required (see --help)\n");
        return 2;
    }
    type = it_weight_type_from_name(type_name);
    if (type != IT_WEIGHT_BF16 && type != IT_WEIGHT_Q8_0 && type != IT_WEIGHT_Q4_0) {
        fprintf(stderr, "it-quantize: --type '%s' is not one of q8_0, q4_0, bf16\n", type_name);
        return 2;
    }
    memset(&cd, 0, sizeof cd);
    if (it_context_create(&cd, &ctx) != IT_OK) return 1;
    memset(&opts, 0, sizeof opts);
    opts.weights = type;
    opts.hf_files_dir = model_dir; /* tokenizer.json, chat template, generation config */
    if (it_checkpoint_tokenizer_path(model_dir, tok_path, sizeof tok_path)) opts.tokenizer_path = tok_path;
    if (it_checkpoint_check_target(ctx, out) != IT_OK || it_model_load(ctx, model_dir, &model) != IT_OK ||
        it_checkpoint_save(ctx, model, NULL, NULL, out, &opts) != IT_OK) {
        fprintf(stderr, "it-quantize: %s\n", it_context_last_error(ctx));
        it_context_destroy(ctx);
        return 1;
    }
    printf("it-quantize: %s (%.1f MB) -> %s (%.1f MB), matrices %s\n", model_dir, file_mb(model_dir), out, file_mb(out),
           type_name);
    it_context_destroy(ctx);
    return 0;
}
