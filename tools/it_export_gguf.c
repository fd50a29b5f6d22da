/* it-export-gguf: a model directory (Hugging Face or a train --save checkpoint) as one GGUF v3 file
   llama.cpp loads: Llama-family hyperparameters, ggml's tensor names, the matrices in the chosen type
   (the Q/K rows permuted to ggml's RoPE order), the tokenizer when it is byte-level BPE or
   SentencePiece-style BPE (tokenizer.json, tokenizer.bin, or the byte tokenizer of a 256-token
   vocabulary) and the chat template (chat_template.jinja or tokenizer_config.json's).
     cc -O2 -std=c99 -I. tools/it_export_gguf.c -o build/it-export-gguf -lm -lpthread
     build/it-export-gguf --model DIR --type f16|q8_0|q4_0|f32|bf16 --out model.gguf [--name NAME] [--no-tokenizer]
*/
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: it-export-gguf --model DIR --type f16|q8_0|q4_0|f32|bf16 --out FILE.gguf [--name NAME] [--no-tokenizer]\n"
               "  --model DIR      a Hugging Face model directory or a train --save checkpoint (Llama family)\n"
               "  --type T         the matrices' type in the file (norms stay f32); q8_0 / q4_0 are llama.cpp's blocks\n"
               "  --out FILE       the GGUF file, written atomically (an existing file is replaced only if it is GGUF)\n"
               "  --name NAME      general.name (default: the directory's name)\n"
               "  --no-tokenizer   write no tokenizer.ggml.* keys and no chat template\n");
}
static int file_exists(const char *dir, const char *name) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}
int main(int argc, char **argv) {
    const char *model_dir = NULL, *out = NULL, *type_name = NULL, *name = NULL, *base;
    static const struct { const char *name; it_gguf_type type; } types[] = {
        {"f32", IT_GGUF_F32}, {"f16", IT_GGUF_F16}, {"bf16", IT_GGUF_BF16}, {"q8_0", IT_GGUF_Q8_0}, {"q4_0", IT_GGUF_Q4_0}};
    it_gguf_export_desc desc;
    it_context_desc cd;
    it_context *ctx;
    it_model_config config;
    it_model *model;
    it_tokenizer *tok = NULL;
    it_generation_config gen;
    char tok_path[4200];
    uint8_t *chat = NULL;
    size_t chat_len = 0;
    int i, no_tokenizer = 0, found = 0;
    it_result r = IT_OK;
    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(f, "--no-tokenizer")) {
            no_tokenizer = 1;
            continue;
        }
        if (!v || (strcmp(f, "--model") && strcmp(f, "--out") && strcmp(f, "--type") && strcmp(f, "--name"))) {
            fprintf(stderr, "it-export-gguf: %s '%s' (see --help)\n", v ? "unknown flag" : "missing value for", f);
            return 2;
        }
        *(!strcmp(f, "--model") ? &model_dir : !strcmp(f, "--out") ? &out : !strcmp(f, "--type") ? &type_name : &name) = v;
        i++;
    }
    if (!model_dir || !out || !type_name) {
        fprintf(stderr, "it-export-gguf: --model, --type and --out are required (see --help)\n");
        return 2;
    }
    memset(&desc, 0, sizeof desc);
    for (i = 0; i < (int)(sizeof types / sizeof types[0]); i++)
        if (!strcmp(type_name, types[i].name)) desc.type = types[i].type, found = 1;
    if (!found) {
        fprintf(stderr, "it-export-gguf: --type '%s' is not one of f16, q8_0, q4_0, f32, bf16\n", type_name);
        return 2;
    }
    memset(&cd, 0, sizeof cd);
    memset(&gen, 0, sizeof gen);
    gen.bos_id = gen.pad_id = -1; /* no generation_config.json: no bos / eos / pad keys */
    if (it_context_create(&cd, &ctx) != IT_OK) return 1;
    if (it_checkpoint_read_config(ctx, model_dir, &config) != IT_OK || it_model_create(ctx, &config, &model) != IT_OK ||
        it_checkpoint_load(ctx, model, NULL, NULL, model_dir) != IT_OK ||
        (file_exists(model_dir, "generation_config.json") && it_generation_config_read(ctx, model_dir, &gen) != IT_OK)) {
        fprintf(stderr, "it-export-gguf: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (!no_tokenizer) {
        if (file_exists(model_dir, "tokenizer.json")) r = it_tokenizer_load_hf(ctx, model_dir, &tok);
        else if (it_checkpoint_tokenizer_path(model_dir, tok_path, sizeof tok_path)) r = it_tokenizer_load(ctx, tok_path, &tok);
        else if (config.vocab_size == 256) r = it_tokenizer_byte(ctx, &tok);
        else {
            fprintf(stderr, "it-export-gguf: %s has a vocabulary of %d tokens but no tokenizer; --no-tokenizer writes the "
                            "weights alone\n", model_dir, config.vocab_size);
            return 1;
        }
        if (r == IT_OK) r = it_chat_template_text(ctx, model_dir, &chat, &chat_len);
        if (r != IT_OK) {
            fprintf(stderr, "it-export-gguf: %s\n", it_context_last_error(ctx));
            return 1;
        }
        if (chat && strlen((const char *)chat) != chat_len) {
            fprintf(stderr, "it-export-gguf: %s's chat template holds a NUL byte\n", model_dir);
            return 1;
        }
    }
    base = strrchr(model_dir, '/');
    base = base && base[1] ? base + 1 : model_dir;
    desc.name = name ? name : base;
    desc.tokenizer = tok;
    desc.bos_id = gen.bos_id;
    desc.eos_id = gen.n_eos ? gen.eos_ids[0] : -1;
    desc.pad_id = gen.pad_id;
    if (desc.pad_id >= config.vocab_size) { /* llama.cpp reads it only to pad batches: the export goes on without it */
        fprintf(stderr, "it-export-gguf: warning: %s's pad_token_id %d is outside the vocabulary of %d: not written\n", model_dir,
                (int)desc.pad_id, config.vocab_size);
        desc.pad_id = -1;
    }
    desc.chat_template = (const char *)chat;
    if (it_gguf_export(model, &desc, out) != IT_OK) {
        fprintf(stderr, "it-export-gguf: %s\n", it_context_last_error(ctx));
        return 1;
    }
    printf("it-export-gguf: %s (%s, %d layers, dim %d, vocab %d) -> %s, matrices %s%s%s\n", model_dir,
           it_model_family_type(config.family) ? it_model_family_type(config.family) : "llama", config.n_layers, config.dim,
           config.vocab_size, out, type_name, tok ? ", tokenizer" : "",
           chat ? ", chat template" : "");
    it_file_free(ctx, chat);
    it_context_destroy(ctx);
    return 0;
}
