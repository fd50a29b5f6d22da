/* make_model.c - the small model the server tests run: a seeded random Llama (GQA: 4 query heads,
   2 kv heads) whose vocabulary covers the Qwen2-style tokenizer fixture (ids 0..700), saved as a
   checkpoint directory. tests/serve_test.sh adds that tokenizer.json and a ChatML chat template.
     build/serve_make_model DIR */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    it_context *ctx;
    it_model_config cfg;
    it_model *m;
    if (argc != 2) {
        fprintf(stderr, "usage: serve_make_model DIR\n");
        return 2;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.arch = IT_ARCH_LLAMA;
    cfg.vocab_size = 701;
    cfg.dim = 64;
    cfg.n_layers = 2;
    cfg.n_heads = 4;
    cfg.n_kv_heads = 2;
    cfg.ffn_dim = 128;
    cfg.max_seq = 256;
    if (it_context_create(NULL, &ctx) != IT_OK || it_model_create(ctx, &cfg, &m) != IT_OK || it_model_init(m, 1) != IT_OK ||
        it_checkpoint_save(ctx, m, NULL, NULL, argv[1], NULL) != IT_OK) {
        fprintf(stderr, "serve_make_model: %s\n", it_context_last_error(ctx));
        return 1;
    }
    it_context_destroy(ctx);
    return 0;
}
