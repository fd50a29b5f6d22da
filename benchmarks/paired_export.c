/* paired_export.c - what a paired comparison with PyTorch needs: the exact initial weights and the
   exact training batches build/train uses for a given seed, so benchmarks/torch_train.py
   (--init DIR --batches FILE) trains from the same start on the same data and only floating-point
   rounding differs between the two runs.
     cc -O2 -std=c99 -D_DEFAULT_SOURCE -I. benchmarks/paired_export.c -o build/paired_export -lm -lpthread
     build/paired_export DATA.txt OUTDIR --dim 128 --layers 4 --heads 4 --ffn 384 --batch 16 --seq 128 --steps 300 --seed 1
   Writes OUTDIR/init (a checkpoint of the step-0 weights) and OUTDIR/batches.bin (steps x batch x
   (seq + 1) int32: each window's inputs followed by its last target). Byte-level tokens. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    it_context *ctx;
    it_model_config c;
    it_model *m;
    it_tokenizer *tok;
    it_dataset *ds;
    it_rng rng;
    int dim = 128, layers = 4, heads = 4, ffn = 384, batch = 16, seq = 128, steps = 300, i, s, b;
    unsigned long long seed = 1;
    char path[4096];
    int32_t *in, *tg;
    FILE *f;
    if (argc < 3) {
        fprintf(stderr, "usage: paired_export DATA.txt OUTDIR [--dim --layers --heads --ffn --batch --seq --steps --seed N]\n");
        return 2;
    }
    for (i = 3; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--dim")) dim = v;
        else if (!strcmp(argv[i], "--layers")) layers = v;
        else if (!strcmp(argv[i], "--heads")) heads = v;
        else if (!strcmp(argv[i], "--ffn")) ffn = v;
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--seq")) seq = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "paired_export: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    it_context_create(NULL, &ctx);
    it_model_preset("shakespeare", &c); /* the same base build/train starts from, then its overrides */
    c.vocab_size = 256;
    c.dim = dim;
    c.n_layers = layers;
    c.n_heads = c.n_kv_heads = heads;
    c.ffn_dim = ffn;
    if (c.max_seq < seq) c.max_seq = seq;
    if (it_model_create(ctx, &c, &m) != IT_OK || it_tokenizer_byte(ctx, &tok) != IT_OK ||
        it_dataset_load(ctx, argv[1], tok, 256, seq, &ds) != IT_OK)
        return 1;
    it_model_init(m, seed); /* as build/train: weights from the seed ... */
    snprintf(path, sizeof path, "%s/init", argv[2]);
    if (it_checkpoint_save(ctx, m, NULL, NULL, path, NULL) != IT_OK) return 1;
    it_rng_seed(&rng, seed ^ 0x5EEDDA7Aull); /* ... and data order from its own stream */
    in = (int32_t *)malloc(sizeof(int32_t) * (size_t)batch * seq);
    tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)batch * seq);
    snprintf(path, sizeof path, "%s/batches.bin", argv[2]);
    if (!in || !tg || !(f = fopen(path, "wb"))) return 1;
    for (s = 0; s < steps; s++) {
        it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, batch, seq, in, tg);
        for (b = 0; b < batch; b++) {
            fwrite(in + (size_t)b * seq, sizeof(int32_t), (size_t)seq, f);
            fwrite(tg + (size_t)b * seq + seq - 1, sizeof(int32_t), 1, f);
        }
    }
    fclose(f);
    printf("wrote %s/init and %s (%d steps x %d windows of %d)\n", argv[2], path, steps, batch, seq + 1);
    free(in);
    free(tg);
    it_dataset_destroy(ds);
    it_tokenizer_destroy(tok);
    it_context_destroy(ctx);
    return 0;
}
