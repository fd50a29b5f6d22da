/* quant_ppl.c - perplexity of a trained model on a text's validation split (its last 10%, as
   build/train splits it) through the KV-cache decoder with the projections and head stored as f32,
   bf16, Q8_0 and Q4_0: the quality side of the quantised-decode table.

     cc -O2 -std=c99 -I. benchmarks/quant_ppl.c -o build/quant_ppl -lm -lpthread
     build/quant_ppl --model DIR --data TEXT [--windows N] [--window T]

   The model is a build/train checkpoint (its tokenizer.bin, or bytes for a 256-token vocabulary).
   N windows of T tokens (default 32 x 128) from the start of the validation split; in each the
   decoder starts empty and predicts tokens 2..T from the ones before (one token per call, as
   generation runs). Prints one line per type and
     quant_ppl f32=P bf16=P q8_0=P q4_0=P */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    static const it_weight_type types[4] = {IT_WEIGHT_F32, IT_WEIGHT_BF16, IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
    const char *dir = NULL, *data = NULL;
    int windows = 32, T = 128, i, t, w;
    it_context *ctx;
    it_model *m;
    it_tokenizer *tok = NULL;
    it_dataset *ds;
    char tok_path[4200];
    int32_t *in, *tg;
    double ppl[4];
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--windows")) windows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--window")) T = atoi(argv[i + 1]);
        else break;
    }
    if (i != argc || !dir || !data || windows < 1 || T < 2) {
        fprintf(stderr, "usage: quant_ppl --model DIR --data TEXT [--windows N] [--window T]\n");
        return 2;
    }
    if (it_context_create(NULL, &ctx) != IT_OK || it_model_load(ctx, dir, &m) != IT_OK ||
        (it_checkpoint_tokenizer_path(dir, tok_path, sizeof tok_path) ? it_tokenizer_load(ctx, tok_path, &tok)
                                                                       : it_tokenizer_byte(ctx, &tok)) != IT_OK ||
        it_dataset_load(ctx, data, tok, m->config.vocab_size, T, &ds) != IT_OK) {
        fprintf(stderr, "quant_ppl: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if ((size_t)windows > it_dataset_eval_batches(ds, IT_SPLIT_VAL, 1, T)) windows = (int)it_dataset_eval_batches(ds, IT_SPLIT_VAL, 1, T);
    in = (int32_t *)malloc(sizeof(int32_t) * (size_t)T), tg = (int32_t *)malloc(sizeof(int32_t) * (size_t)T);
    printf("quant_ppl: %s on the validation split of %s, %d windows of %d tokens, kernels %s\n", dir, data, windows, T,
           it_weights_isa());
    for (i = 0; i < 4; i++) {
        it_decoder_desc dd;
        it_decoder *dec;
        double nll = 0;
        long n = 0;
        memset(&dd, 0, sizeof dd);
        dd.max_seq = T;
        dd.weights = types[i];
        if (it_decoder_create_ex(m, &dd, &dec) != IT_OK) {
            fprintf(stderr, "quant_ppl: %s\n", it_context_last_error(ctx));
            return 1;
        }
        for (w = 0; w < windows; w++) {
            it_dataset_eval_batch(ds, IT_SPLIT_VAL, (size_t)w, 1, T, in, tg);
            it_decoder_reset(dec);
            for (t = 0; t < T; t++) { /* logits after in[0..t] predict tg[t] = in[t + 1] */
                const float *lg;
                double mx = -1e30, s = 0;
                int v, V = m->config.vocab_size;
                if (it_decoder_feed(dec, in + t, 1, &lg) != IT_OK) return 1;
                for (v = 0; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
                for (v = 0; v < V; v++) s += exp(lg[v] - mx);
                nll += mx + log(s) - lg[tg[t]];
                n++;
            }
        }
        ppl[i] = exp(nll / (double)n);
        printf("  %-5s %8.1f MB of weights per token   perplexity %.4f   (%+.2f%% vs f32)\n", it_weight_type_name(types[i]),
               it_decoder_weight_bytes(dec) / 1e6, ppl[i], 100.0 * (ppl[i] / (i ? ppl[0] : ppl[i]) - 1));
        it_decoder_destroy(dec);
    }
    printf("quant_ppl f32=%.4f bf16=%.4f q8_0=%.4f q4_0=%.4f\n", ppl[0], ppl[1], ppl[2], ppl[3]);
    free(in), free(tg);
    it_context_destroy(ctx);
    return 0;
}
