/* it_tokens.c - turn a text file into an llm.c/nanoGPT-compatible .bin token file.

     cc -O2 -std=c99 -I. tools/it_tokens.c -o build/it-tokens -lm -lpthread
     build/it-tokens input.txt output.bin                       # byte-level, vocab 256
     build/it-tokens --bpe 2048 --save-tokenizer tok.bin input.txt output.bin

   With --bpe the tokenizer is trained on the input and saved where --save-tokenizer says. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int usage(void) {
    fprintf(stderr, "usage: it-tokens [--bpe VOCAB --save-tokenizer PATH] input.txt output.bin\n");
    return 2;
}
/* 1 when a and b name the same file (a link or another spelling of the path included). */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int main(int argc, char **argv) {
    it_context *ctx;
    it_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0, size = 0;
    uint8_t *text;
    const char *save_tok = NULL, *in = NULL, *out = NULL;
    int i, bpe_vocab = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bpe") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 257 || v > IT_TOKENIZER_MAX_VOCAB) {
                fprintf(stderr, "it-tokens: --bpe expects a vocabulary size (a whole number in [257, %d]), got '%s'\n",
                        IT_TOKENIZER_MAX_VOCAB, argv[i]);
                return 2;
            }
            bpe_vocab = (int)v;
        }
        else if (!strcmp(argv[i], "--save-tokenizer") && i + 1 < argc) save_tok = argv[++i];
        else if (argv[i][0] == '-') return usage();
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return usage();
    }
    if (!in || !out || (bpe_vocab && !save_tok)) return usage();
    if (same_file(in, out) || (save_tok && (same_file(in, save_tok) || same_file(out, save_tok)))) {
        fprintf(stderr, "it-tokens: %s is also the input or the other output (it would be overwritten)\n",
                same_file(in, out) ? out : save_tok);
        return 1;
    }
    if (it_context_create(NULL, &ctx) != IT_OK) return 1;
    if ((bpe_vocab ? it_tokenizer_train_bpe_file(ctx, in, bpe_vocab, &tok) : it_tokenizer_byte(ctx, &tok)) != IT_OK)
        return 1; /* the logger already printed why */
    if (save_tok && it_tokenizer_save(ctx, tok, save_tok) != IT_OK) return 1;
    if (it_file_read(ctx, in, 0, &text, &size) != IT_OK) return 1; /* the logger already printed why */
    if (it_tokenizer_encode(ctx, tok, text, size, &ids, &n) != IT_OK ||
        it_token_file_write(ctx, out, ids, n, it_tokenizer_vocab_size(tok)) != IT_OK)
        return 1;
    printf("%s: %zu bytes -> %zu tokens (vocab %d) in %s\n", in, size, n, it_tokenizer_vocab_size(tok), out);
    it_ids_free(ctx, ids);
    it_file_free(ctx, text);
    it_tokenizer_destroy(tok);
    it_context_destroy(ctx);
    return 0;
}
