/* it_tokenize.c - a Hugging Face tokenizer (tokenizer.json) from the command line.

     cc -O2 -std=c99 -I. tools/it_tokenize.c -o build/it-tokenize -lm -lpthread
     echo "Hello world" | build/it-tokenize --tokenizer DIR_OR_JSON          # prints 15496,995
     echo "15496,995" | build/it-tokenize --tokenizer DIR_OR_JSON --decode   # prints Hello world
     build/it-tokenize --tokenizer DIR --time < corpus.txt                   # tokens/s on stderr

   Encoding reads UTF-8 text on stdin (all of it, the final newline included) and prints the ids
   comma-separated on one line, as tokenizers' encode(text).ids; decoding reads ids separated by
   commas or whitespace and writes the text, as decode(ids). --no-special skips the BOS/EOS
   template when encoding and the special tokens when decoding. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int usage(void) {
    fprintf(stderr, "usage: it-tokenize --tokenizer DIR_OR_JSON [--decode] [--no-special] [--time] < input\n");
    return 2;
}

/* All of stdin; NULL when memory runs out. */
static uint8_t *read_stdin(size_t *n) {
    size_t cap = 1 << 16, got;
    uint8_t *buf = (uint8_t *)malloc(cap), *bigger;
    *n = 0;
    while (buf && (got = fread(buf + *n, 1, cap - *n, stdin)) > 0) {
        *n += got;
        if (*n == cap) {
            bigger = (uint8_t *)realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    return buf;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int decode = 0, flags = 0, timed = 0, i, rc = 0;
    it_context *ctx = NULL;
    it_tokenizer *tok = NULL;
    uint8_t *in;
    size_t n = 0, k;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--no-special")) flags |= IT_TOKENIZE_NO_SPECIAL;
        else if (!strcmp(argv[i], "--time")) timed = 1;
        else {
            fprintf(stderr, "it-tokenize: unknown argument '%s'\n", argv[i]);
            return usage();
        }
    }
    if (!path) return usage();
    if (it_context_create(NULL, &ctx) != IT_OK) return 1;
    if (it_tokenizer_load_hf(ctx, path, &tok) != IT_OK) { /* the library has printed why */
        it_context_destroy(ctx);
        return 1;
    }
    in = read_stdin(&n);
    if (!in) {
        fprintf(stderr, "it-tokenize: out of memory reading stdin\n");
        rc = 1;
    } else if (!decode) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        clock_t t0 = clock();
        if (it_tokenizer_encode_flags(ctx, tok, in, n, flags, &ids, &n_ids) != IT_OK) rc = 1;
        else {
            double dt = (double)(clock() - t0) / CLOCKS_PER_SEC;
            if (timed)
                fprintf(stderr, "it-tokenize: %zu bytes -> %zu tokens in %.3f s CPU: %.0f tokens/s\n", n, n_ids, dt,
                        dt > 0 ? (double)n_ids / dt : 0.0);
            else {
                for (k = 0; k < n_ids; k++) printf(k ? ",%ld" : "%ld", (long)ids[k]);
                printf("\n");
            }
        }
        it_ids_free(ctx, ids);
    } else {
        size_t cap = 1024, n_ids = 0, need;
        int32_t *ids = (int32_t *)malloc(cap * sizeof(int32_t));
        uint8_t *text;
        char *p = (char *)in, *end;
        in = (uint8_t *)realloc(in, n + 1);
        p = (char *)in;
        p[n] = 0;
        while (ids && *p) {
            long v;
            if (*p == ',' || *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
                p++;
                continue;
            }
            v = strtol(p, &end, 10);
            if (end == p || v < 0 || v >= it_tokenizer_vocab_size(tok)) {
                fprintf(stderr, "it-tokenize: '%.20s' is not an id in [0, %d)\n", p, it_tokenizer_vocab_size(tok));
                rc = 1;
                break;
            }
            if (n_ids == cap) {
                int32_t *bigger = (int32_t *)realloc(ids, cap * 2 * sizeof(int32_t));
                if (!bigger) break;
                ids = bigger;
                cap *= 2;
            }
            ids[n_ids++] = (int32_t)v;
            p = end;
        }
        if (rc == 0) {
            need = it_tokenizer_decode_flags(tok, ids, n_ids, flags, NULL, 0);
            text = need == (size_t)-1 ? NULL : (uint8_t *)malloc(need + 1);
            if (!text || !ids) {
                fprintf(stderr, "it-tokenize: out of memory decoding\n");
                rc = 1;
            } else {
                if (it_tokenizer_decode_flags(tok, ids, n_ids, flags, text, need) != need) {
                    fprintf(stderr, "it-tokenize: out of memory decoding\n");
                    rc = 1;
                } else
                    fwrite(text, 1, need, stdout);
            }
            free(text);
        }
        free(ids);
    }
    free(in);
    it_tokenizer_destroy(tok);
    it_context_destroy(ctx);
    return rc;
}
