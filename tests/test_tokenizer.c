/* Tokenizers: byte-level and BPE round-trips on arbitrary bytes, training determinism and tie
   order, the heap encoder against a naive reference, compression on tinyshakespeare, save/load,
   and hostile tokenizer files (truncated at every offset, every byte flipped, crafted bad merges). */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"
#include <time.h>

#define SHAKESPEARE "../shared/data/tinyshakespeare.txt" /* run from the repository root */


static double now_seconds(void) {
    return (double)clock() / (double)CLOCKS_PER_SEC; /* CPU time: C99 has no wall clock */
}


/* A fallback corpus when tinyshakespeare is absent: 200 KB of made-up words (two or three of 40
   syllables, drawn by a fixed xorshift) in speaker-headed lines with punctuation. BPE merges within
   words, so the corpus needs thousands of distinct words to yield 2048 tokens (five real lines
   repeated in a cycle ran out near 360). */
static uint8_t *builtin_corpus(size_t *n) {
    static const char *syllables[] = {"an", "ber", "cal", "do", "en", "fa", "gor", "hi", "is", "jo", "ka", "lo",
                                      "mar", "ne", "or", "pa", "qui", "ro", "sen", "ti", "us", "ve", "wen", "xo",
                                      "ya", "zu", "th", "ou", "st", "ing", "er", "al", "mo", "ni", "che", "lus",
                                      "ia", "ed", "ort", "um"};
    static const char *speakers[] = {"First Citizen", "Second Citizen", "All", "MENENIUS", "MARCIUS", "VOLUMNIA"};
    static const char *marks[] = {" ", " ", " ", " ", " ", ", ", ". ", "? ", "; "};
    size_t cap = 200000, k = 0, n_syl = sizeof syllables / sizeof syllables[0];
    uint64_t state = 0x2545F4914F6CDD1Dull;
    uint8_t *buf = (uint8_t *)malloc(cap);
    int in_line = 0;
    while (1) {
        char piece[64];
        size_t len;
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        if (in_line == 0) snprintf(piece, sizeof piece, "%s:\n", speakers[state % 6]);
        else if (in_line > 6 && state % 5 == 0) snprintf(piece, sizeof piece, ".\n\n"), in_line = -1;
        else
            snprintf(piece, sizeof piece, "%s%s%s%s", syllables[(state >> 8) % n_syl], syllables[(state >> 16) % n_syl],
                     state % 3 ? "" : syllables[(state >> 24) % n_syl], marks[(state >> 32) % 9]);
        in_line++;
        len = strlen(piece);
        if (k + len > cap) break;
        memcpy(buf + k, piece, len);
        k += len;
    }
    *n = k;
    return buf;
}

static int round_trip(it_context *ctx, const it_tokenizer *tok, const uint8_t *text, size_t n, size_t *n_ids) {
    int32_t *ids;
    size_t k, need;
    uint8_t *back;
    int ok;
    if (it_tokenizer_encode(ctx, tok, text, n, &ids, &k) != IT_OK) return 0;
    need = it_tokenizer_decode(tok, ids, k, NULL, 0);
    back = (uint8_t *)malloc(need + 1);
    ok = need == n && it_tokenizer_decode(tok, ids, k, back, need) == n && (n == 0 || memcmp(back, text, n) == 0);
    if (n_ids) *n_ids = k;
    free(back);
    it_ids_free(ctx, ids);
    return ok;
}

/* Naive reference: per chunk, repeatedly find the lowest-ranked adjacent pair and merge all its
   occurrences left to right. */
static size_t naive_encode(const it_tokenizer *t, const uint8_t *text, size_t n, int32_t *out) {
    size_t pos = 0, k = 0;
    int32_t sym[IT_TOKENIZER_MAX_TOKEN_BYTES];
    while (pos < n) {
        size_t len = it__tok_chunk(text + pos, n - pos);
        int L = (int)len, i, j;
        for (i = 0; i < L; i++) sym[i] = text[pos + (size_t)i];
        for (;;) {
            int32_t best = -1;
            for (i = 0; i + 1 < L; i++) {
                int32_t r = it__tok_rank(t, sym[i], sym[i + 1]);
                if (r >= 0 && (best < 0 || r < best)) best = r;
            }
            if (best < 0) break;
            for (i = 0, j = 0; i < L;) {
                if (i + 1 < L && sym[i] == t->merge_l[best] && sym[i + 1] == t->merge_r[best]) {
                    sym[j++] = 256 + best;
                    i += 2;
                } else {
                    sym[j++] = sym[i++];
                }
            }
            L = j;
        }
        for (i = 0; i < L; i++) out[k++] = sym[i];
        pos += len;
    }
    return k;
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
/* Random bytes biased towards what the chunker cares about: letters, spaces, zeros, high bytes,
   invalid UTF-8, and long runs that cross the chunk cap. */
static void random_bytes(uint8_t *buf, size_t n, uint32_t *seed) {
    size_t i = 0;
    while (i < n) {
        uint32_t kind = lcg(seed) % 8, run = 1 + lcg(seed) % 8, j;
        if (kind == 7) run = 200 + lcg(seed) % 400; /* long runs */
        for (j = 0; j < run && i < n; j++, i++) {
            switch (kind) {
            case 0: buf[i] = (uint8_t)('a' + lcg(seed) % 26); break;
            case 1: buf[i] = ' '; break;
            case 2: buf[i] = 0; break;
            case 3: buf[i] = (uint8_t)(0x80 + lcg(seed) % 128); break;
            case 4: buf[i] = (uint8_t)"\n\t\r ,.;!?0123456789"[lcg(seed) % 19]; break;
            case 5: buf[i] = (uint8_t)lcg(seed); break;
            case 6: buf[i] = (uint8_t)"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xC0\xFF"[lcg(seed) % 11]; break;
            default: buf[i] = (uint8_t)(j % 3 == 0 ? ' ' : 'e'); break;
            }
        }
    }
}

static void test_byte(it_context *ctx) {
    it_tokenizer *tok = NULL;
    uint8_t buf[4096];
    int32_t *ids;
    size_t n, i, len;
    uint32_t seed = 7;
    int ok = 1;
    CHECK(it_tokenizer_byte(ctx, &tok) == IT_OK, "byte tokenizer");
    CHECK(it_tokenizer_vocab_size(tok) == 256, "vocab %d", it_tokenizer_vocab_size(tok));
    random_bytes(buf, sizeof buf, &seed);
    buf[0] = 0;
    buf[1] = 0xFF;
    CHECK(it_tokenizer_encode(ctx, tok, buf, sizeof buf, &ids, &n) == IT_OK && n == sizeof buf, "encode n %zu", n);
    for (i = 0; i < n; i++) ok &= ids[i] == buf[i];
    CHECK(ok, "byte ids equal byte values");
    it_ids_free(ctx, ids);
    CHECK(round_trip(ctx, tok, buf, sizeof buf, NULL), "byte round trip");
    CHECK(round_trip(ctx, tok, NULL, 0, NULL), "empty round trip");
    CHECK(it_tokenizer_token_bytes(tok, 65, &len)[0] == 'A' && len == 1, "token 65");
    CHECK(it_tokenizer_token_bytes(tok, 256, &len) == NULL && len == 0, "id 256 invalid");
    CHECK(it_tokenizer_token_bytes(tok, -1, &len) == NULL && len == 0, "id -1 invalid");
    it_tokenizer_destroy(tok);
}

static void test_tie_order(it_context *ctx) {
    /* chunks "ab", " cd": three pairs of count 1; ties go to the lowest (left, right) */
    const char *text = "ab cd";
    it_tokenizer *tok = NULL;
    size_t len;
    const uint8_t *b;
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)text, strlen(text), 259, &tok) == IT_OK, "train tiny");
    b = it_tokenizer_token_bytes(tok, 256, &len);
    CHECK(len == 2 && memcmp(b, " c", 2) == 0, "merge 0 is ' c', got %.*s", (int)len, (const char *)b);
    b = it_tokenizer_token_bytes(tok, 257, &len);
    CHECK(len == 2 && memcmp(b, "ab", 2) == 0, "merge 1 is 'ab', got %.*s", (int)len, (const char *)b);
    b = it_tokenizer_token_bytes(tok, 258, &len);
    CHECK(len == 3 && memcmp(b, " cd", 3) == 0, "merge 2 is ' cd', got %.*s", (int)len, (const char *)b);
    it_tokenizer_destroy(tok);
    /* asking for more merges than the text has: a smaller vocabulary and a warning */
    it_test_log_count = 0;
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)text, strlen(text), 1000, &tok) == IT_OK, "train short");
    CHECK(it_tokenizer_vocab_size(tok) == 259, "vocab %d", it_tokenizer_vocab_size(tok));
    CHECK(it_test_log_count == 1, "one warning, got %d", it_test_log_count);
    it_tokenizer_destroy(tok);
    /* "aaaa": the overlapping pair counts 3, one merge leaves "a a a a" -> "aa aa" */
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)"aaaa", 4, 258, &tok) == IT_OK, "train aaaa");
    CHECK(it_tokenizer_vocab_size(tok) == 258, "aaaa vocab %d", it_tokenizer_vocab_size(tok));
    b = it_tokenizer_token_bytes(tok, 257, &len);
    CHECK(len == 4, "aaaa second merge is 4 bytes, got %zu", len);
    it_tokenizer_destroy(tok);
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)text, 5, 255, &tok) == IT_ERR_INVALID_ARGUMENT && !tok,
          "vocab 255 rejected");
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)text, 5, IT_TOKENIZER_MAX_VOCAB + 1, &tok) ==
              IT_ERR_INVALID_ARGUMENT, "vocab too big rejected");
    CHECK(it_tokenizer_train_bpe_file(ctx, "/nonexistent/corpus.txt", 512, &tok) == IT_ERR_IO &&
              strstr(it_context_last_error(ctx), "/nonexistent/corpus.txt"), "missing corpus: %s",
          it_context_last_error(ctx));
}

static int same_tokenizer(const it_tokenizer *a, const it_tokenizer *b) {
    int i;
    if (it_tokenizer_vocab_size(a) != it_tokenizer_vocab_size(b)) return 0;
    for (i = 0; i < it_tokenizer_vocab_size(a); i++) {
        size_t la, lb;
        const uint8_t *ba = it_tokenizer_token_bytes(a, i, &la), *bb = it_tokenizer_token_bytes(b, i, &lb);
        if (la != lb || memcmp(ba, bb, la) != 0) return 0;
        if (i >= 256 && (a->merge_l[i - 256] != b->merge_l[i - 256] || a->merge_r[i - 256] != b->merge_r[i - 256]))
            return 0;
    }
    return 1;
}

static it_tokenizer *g_shakespeare_tok;

static void test_shakespeare(it_context *ctx) {
    size_t n, n_ids, i, k, k2;
    uint8_t *text = it_test_read_file(SHAKESPEARE, &n);
    it_tokenizer *tok = NULL, *tok2 = NULL;
    double t0, t1, t2, t3;
    int32_t *ids, *ref;
    int ok = 1;
    if (!text) {
        printf("note: %s missing, using the built-in corpus\n", SHAKESPEARE);
        text = builtin_corpus(&n);
    }
    t0 = now_seconds();
    CHECK(it_tokenizer_train_bpe(ctx, text, n, 2048, &tok) == IT_OK, "train 2048: %s", it_context_last_error(ctx));
    t1 = now_seconds();
    CHECK(it_tokenizer_vocab_size(tok) == 2048, "vocab %d", it_tokenizer_vocab_size(tok));
    CHECK(it_tokenizer_train_bpe(ctx, text, n, 2048, &tok2) == IT_OK, "train again");
    CHECK(same_tokenizer(tok, tok2), "training is deterministic");
    it_tokenizer_destroy(tok2);
    /* a prefix of the merge list: training to a smaller vocab gives the first merges */
    CHECK(it_tokenizer_train_bpe(ctx, text, n, 1024, &tok2) == IT_OK, "train 1024");
    for (i = 256; i < 1024; i++) ok &= tok->merge_l[i - 256] == tok2->merge_l[i - 256] && tok->merge_r[i - 256] == tok2->merge_r[i - 256];
    CHECK(ok, "vocab 1024 merges are a prefix of vocab 2048 merges");
    it_tokenizer_destroy(tok2);
    t2 = now_seconds();
    CHECK(round_trip(ctx, tok, text, n, &n_ids), "tinyshakespeare round trip");
    t3 = now_seconds();
    printf("bpe: %zu bytes, vocab 2048: train %.3f s, encode+decode %.3f s, %zu tokens, %.4f tokens/byte (%.2f bytes/token)\n",
           n, t1 - t0, t3 - t2, n_ids, (double)n_ids / (double)n, (double)n / (double)n_ids);
    CHECK((double)n_ids / (double)n < 0.45, "compression %.4f tokens/byte", (double)n_ids / (double)n);
    /* heap encoder == naive reference */
    CHECK(it_tokenizer_encode(ctx, tok, text, n, &ids, &k) == IT_OK, "encode");
    ref = (int32_t *)malloc(n * sizeof(int32_t));
    k2 = naive_encode(tok, text, n, ref);
    CHECK(k == k2 && memcmp(ids, ref, k * sizeof(int32_t)) == 0, "heap encoder matches naive (%zu vs %zu ids)", k, k2);
    free(ref);
    it_ids_free(ctx, ids);
    g_shakespeare_tok = tok;
    free(text);
}

static void test_random_round_trips(it_context *ctx) {
    static uint8_t buf[20000];
    static int32_t ref[20000];
    uint32_t seed = 12345;
    int iter, ok = 1, same = 1;
    it_tokenizer *small = NULL;
    /* a tokenizer trained on random bytes too, so merges involve zeros and invalid UTF-8 */
    random_bytes(buf, sizeof buf, &seed);
    CHECK(it_tokenizer_train_bpe(ctx, buf, sizeof buf, 600, &small) == IT_OK, "train on random bytes");
    for (iter = 0; iter < 300; iter++) {
        size_t n = lcg(&seed) % sizeof buf, k;
        int32_t *ids;
        const it_tokenizer *t = (iter & 1) ? small : g_shakespeare_tok;
        if (!t) continue;
        random_bytes(buf, n, &seed);
        ok &= round_trip(ctx, t, buf, n, NULL);
        if (iter < 60 && it_tokenizer_encode(ctx, t, buf, n, &ids, &k) == IT_OK) {
            same &= naive_encode(t, buf, n, ref) == k && memcmp(ref, ids, k * sizeof(int32_t)) == 0;
            it_ids_free(ctx, ids);
        }
    }
    CHECK(ok, "300 random byte strings round-trip (zeros, invalid UTF-8, long runs)");
    CHECK(same, "heap encoder matches naive on random bytes");
    memset(buf, 0, 5000);
    CHECK(round_trip(ctx, small, buf, 5000, NULL), "5000 zero bytes");
    memset(buf, ' ', 5000);
    CHECK(round_trip(ctx, small, buf, 5000, NULL), "5000 spaces");
    memset(buf, 'e', 5000);
    CHECK(g_shakespeare_tok && round_trip(ctx, g_shakespeare_tok, buf, 5000, NULL), "5000 letters");
    it_tokenizer_destroy(small);
}

static void test_decode_cap(void) {
    const it_tokenizer *t = g_shakespeare_tok;
    int32_t ids[3];
    uint8_t out[8];
    size_t len0, len1, need;
    if (!t) return;
    ids[0] = 300;
    ids[1] = 5000; /* invalid: skipped */
    ids[2] = 301;
    it_tokenizer_token_bytes(t, 300, &len0);
    it_tokenizer_token_bytes(t, 301, &len1);
    need = it_tokenizer_decode(t, ids, 3, NULL, 0);
    CHECK(need == len0 + len1, "decode size %zu vs %zu", need, len0 + len1);
    memset(out, 0xAA, sizeof out);
    CHECK(it_tokenizer_decode(t, ids, 3, out, 1) == need && out[1] == 0xAA, "decode honours cap");
}

static void test_save_load(it_context *ctx) {
    char path[256];
    it_tokenizer *tok = NULL, *back = NULL;
    it_test_tmp_path(path, sizeof path, "tok_1.ittk");
    if (g_shakespeare_tok) {
        CHECK(it_tokenizer_save(ctx, g_shakespeare_tok, path) == IT_OK, "save: %s", it_context_last_error(ctx));
        CHECK(it_tokenizer_load(ctx, path, &back) == IT_OK, "load: %s", it_context_last_error(ctx));
        CHECK(back && same_tokenizer(back, g_shakespeare_tok), "loaded tokenizer is identical");
        it_tokenizer_destroy(back);
        back = NULL;
    }
    CHECK(it_tokenizer_byte(ctx, &tok) == IT_OK, "byte");
    CHECK(it_tokenizer_save(ctx, tok, path) == IT_OK, "save byte");
    CHECK(it_tokenizer_load(ctx, path, &back) == IT_OK && it_tokenizer_vocab_size(back) == 256, "load byte");
    it_tokenizer_destroy(back);
    it_tokenizer_destroy(tok);
    CHECK(it_tokenizer_save(ctx, g_shakespeare_tok ? g_shakespeare_tok : tok, "/nonexistent/dir/tok.ittk") == IT_ERR_IO ||
              !g_shakespeare_tok, "save to a missing directory fails");
    remove(path);
}

/* A file with a correct checksum around arbitrary header fields and merges. */
static void craft(const char *path, uint32_t magic, uint32_t version, uint32_t vocab, uint32_t n_merges,
                  const uint32_t *merges, uint32_t n_pairs_written) {
    size_t size = 24 + 8 * (size_t)n_pairs_written + 4, i;
    uint8_t *buf = (uint8_t *)calloc(1, size);
    it__data_put_u32(buf, magic);
    it__data_put_u32(buf + 4, version);
    it__data_put_u32(buf + 8, vocab);
    it__data_put_u32(buf + 12, n_merges);
    it__data_put_u32(buf + 16, 1);
    for (i = 0; i < 2 * (size_t)n_pairs_written; i++) it__data_put_u32(buf + 24 + 4 * i, merges[i]);
    it__data_put_u32(buf + size - 4, it__data_crc32(buf, size - 4));
    it_test_write_file(path, buf, size);
    free(buf);
}

static int load_fails(it_context *ctx, const char *path, it_result expect, const char *needle) {
    it_tokenizer *tok = (it_tokenizer *)&tok;
    it_result r = it_tokenizer_load(ctx, path, &tok);
    const char *msg = it_context_last_error(ctx);
    int ok = r == expect && tok == NULL && strstr(msg, path) != NULL && (!needle || strstr(msg, needle) != NULL);
    if (!ok) printf("  load '%s': result %d (%s), message: %s\n", path, (int)r, it_result_string(r), msg);
    if (r == IT_OK) it_tokenizer_destroy(tok);
    return ok;
}

static void test_hostile_files(it_context *ctx) {
    char path[256], good[256];
    it_tokenizer *tok = NULL;
    uint8_t *buf, *bad;
    size_t n, i;
    int ok_trunc = 1, ok_flip = 1, ok_bit = 1, bit;
    uint32_t merges[64] = {0};
    static const char text[] = "the quick brown fox jumps over the lazy dog; the dog sleeps. 1234 1234 \x00\xff\xfe";
    it_test_tmp_path(good, sizeof good, "tok_good.ittk");
    it_test_tmp_path(path, sizeof path, "tok_bad.ittk");
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)text, sizeof text - 1, 300, &tok) == IT_OK, "train small");
    CHECK(it_tokenizer_save(ctx, tok, good) == IT_OK, "save small");
    buf = it_test_read_file(good, &n);
    CHECK(buf && n == 28 + 8 * (size_t)(it_tokenizer_vocab_size(tok) - 256) && n > 200, "file size %zu", n);
    it_tokenizer_destroy(tok);
    bad = (uint8_t *)malloc(n);
    for (i = 0; i < n; i++) { /* every truncation */
        it_test_write_file(path, buf, i);
        ok_trunc &= load_fails(ctx, path, IT_ERR_FORMAT, "truncated");
    }
    CHECK(ok_trunc, "every truncation is rejected as truncated");
    for (i = 0; i < n; i++) { /* every byte flipped, then one bit of every byte */
        memcpy(bad, buf, n);
        bad[i] ^= 0xFF;
        it_test_write_file(path, bad, n);
        ok_flip &= load_fails(ctx, path, IT_ERR_FORMAT, NULL);
        for (bit = 0; bit < 8; bit += 3) {
            memcpy(bad, buf, n);
            bad[i] ^= (uint8_t)(1u << bit);
            it_test_write_file(path, bad, n);
            ok_bit &= load_fails(ctx, path, IT_ERR_FORMAT, NULL);
        }
    }
    CHECK(ok_flip, "every flipped byte is rejected");
    CHECK(ok_bit, "flipped bits are rejected");
    memcpy(bad, buf, n); /* trailing garbage */
    it_test_write_file(path, bad, n);
    {
        FILE *f = fopen(path, "ab");
        fputc(0, f);
        fclose(f);
    }
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "too long"), "trailing byte rejected");
    free(bad);
    free(buf);
    /* crafted, valid checksum */
    it_test_write_file(path, (const uint8_t *)"", 0);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "truncated"), "empty file");
    CHECK(load_fails(ctx, "/nonexistent/tok.ittk", IT_ERR_IO, "No such file"), "missing file");
    CHECK(load_fails(ctx, "/tmp", IT_ERR_IO, NULL), "a directory");
    craft(path, 0x12345678u, 1, 256, 0, merges, 0);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "bad magic"), "bad magic");
    craft(path, 0x4B545449u, 2, 256, 0, merges, 0);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "version 2"), "bad version");
    craft(path, 0x4B545449u, 1, 256 + 300000, 300000, merges, 0);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "exceeds the limit"), "vocab too big");
    craft(path, 0x4B545449u, 1, 0xFFFFFFFFu, 0xFFFFFFFFu, merges, 0);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "exceeds the limit"), "vocab 2^32-1");
    craft(path, 0x4B545449u, 1, 300, 2, merges, 0);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "256 + 2 merges"), "vocab/merges disagree");
    craft(path, 0x4B545449u, 1, 258, 2, merges, 1);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "truncated"), "merges missing");
    merges[0] = 'a';
    merges[1] = 'b';
    merges[2] = 256;
    merges[3] = 258; /* merge 1 may use ids < 257 only */
    craft(path, 0x4B545449u, 1, 258, 2, merges, 2);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "only ids below 257"), "merge refers to an unknown id");
    merges[3] = 0x80000001u;
    craft(path, 0x4B545449u, 1, 258, 2, merges, 2);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "only ids below 257"), "merge refers to a huge id");
    merges[2] = 'a';
    merges[3] = 'b';
    craft(path, 0x4B545449u, 1, 258, 2, merges, 2);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "repeats the pair"), "duplicate merge");
    for (i = 0; i < 10; i++) { /* a, aa, aaaa, ... 512 bytes at merge 8 */
        merges[2 * i] = i ? (uint32_t)(255 + i) : 'a';
        merges[2 * i + 1] = i ? (uint32_t)(255 + i) : 'a';
    }
    craft(path, 0x4B545449u, 1, 266, 10, merges, 10);
    CHECK(load_fails(ctx, path, IT_ERR_FORMAT, "limit 256"), "token longer than the limit");
    for (i = 0; i < 8; i++) merges[2 * i] = merges[2 * i + 1] = i ? (uint32_t)(255 + i) : 'a';
    craft(path, 0x4B545449u, 1, 264, 8, merges, 8);
    tok = NULL;
    CHECK(it_tokenizer_load(ctx, path, &tok) == IT_OK && tok, "a crafted valid file loads");
    if (tok) {
        size_t len;
        it_tokenizer_token_bytes(tok, 263, &len);
        CHECK(len == 256, "token 263 is 256 bytes, got %zu", len);
        it_tokenizer_destroy(tok);
    }
    remove(path);
    remove(good);
}

int main(void) {
    it_context *ctx = it_test_context(1);
    test_byte(ctx);
    test_tie_order(ctx);
    test_shakespeare(ctx);
    test_random_round_trips(ctx);
    test_decode_cap();
    test_save_load(ctx);
    test_hostile_files(ctx);
    it_tokenizer_destroy(g_shakespeare_tok);
    it_context_destroy(ctx);
    return it_test_finish();
}
