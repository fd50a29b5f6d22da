/* Token files (llm.c .bin, uint16 and uint32) and datasets: round-trips, header bytes, ids out of
   range, truncated and malformed files, missing/empty/too-short data, the 90/10 split, random
   batches as a pure function of the rng, deterministic eval batches. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#define SHAKESPEARE "../shared/data/tinyshakespeare.txt" /* run from the repository root */

static int msg_has(it_context *ctx, const char *a, const char *b) {
    const char *m = it_context_last_error(ctx);
    int ok = strstr(m, a) != NULL && (!b || strstr(m, b) != NULL);
    if (!ok) printf("  message was: %s\n", m);
    return ok;
}

static void test_bin_round_trip(it_context *ctx, int vocab, size_t n, uint32_t magic, uint32_t version, size_t width) {
    char path_buf[256];
    const char *path = it_test_tmp_path(path_buf, sizeof path_buf, "tokens.bin");
    int32_t *ids = (int32_t *)malloc(n * sizeof(int32_t)), *back = NULL;
    size_t i, n_back = 0, size;
    uint32_t s = 99;
    uint8_t *raw;
    for (i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (int32_t)((s >> 4) % (uint32_t)vocab);
    }
    ids[0] = vocab - 1;
    ids[1] = 0;
    CHECK(it_token_file_write(ctx, path, ids, n, vocab) == IT_OK, "write vocab %d: %s", vocab, it_context_last_error(ctx));
    raw = it_test_read_file(path, &size);
    CHECK(size == 1024 + n * width, "vocab %d: file size %zu", vocab, size);
    CHECK(it__data_get_u32(raw) == magic && it__data_get_u32(raw + 4) == version && it__data_get_u32(raw + 8) == n,
          "vocab %d: header %u %u %u", vocab, it__data_get_u32(raw), it__data_get_u32(raw + 4), it__data_get_u32(raw + 8));
    CHECK(width != 2 || (raw[1024] == (uint8_t)(vocab - 1) && raw[1025] == (uint8_t)((vocab - 1) >> 8)),
          "first token little-endian uint16");
    free(raw);
    CHECK(it_token_file_read(ctx, path, &back, &n_back) == IT_OK, "read: %s", it_context_last_error(ctx));
    CHECK(n_back == n && memcmp(back, ids, n * sizeof(int32_t)) == 0, "vocab %d: %zu tokens round-trip", vocab, n);
    it_ids_free(ctx, back);
    free(ids);
    remove(path);
}

static void test_bin_errors(it_context *ctx) {
    char path_buf[256];
    const char *path = it_test_tmp_path(path_buf, sizeof path_buf, "bad.bin");
    int32_t ids[100], *back = (int32_t *)&back;
    size_t n, i, k;
    uint8_t *raw, *bad;
    it_dataset *ds = (it_dataset *)&ds;
    for (i = 0; i < 100; i++) ids[i] = (int32_t)(i * 7);
    ids[57] = 1000;
    CHECK(it_token_file_write(ctx, path, ids, 100, 1000) == IT_ERR_RANGE && msg_has(ctx, "token 57", "1000"),
          "write refuses an id >= vocab");
    ids[57] = -3;
    CHECK(it_token_file_write(ctx, path, ids, 100, 1000) == IT_ERR_RANGE && msg_has(ctx, "token 57", "-3"),
          "write refuses a negative id");
    ids[57] = 999;
    CHECK(it_token_file_write(ctx, "/nonexistent/dir/x.bin", ids, 100, 1000) == IT_ERR_IO &&
              msg_has(ctx, "/nonexistent/dir/x.bin", NULL), "write to a missing directory");
    CHECK(it_token_file_write(ctx, path, ids, 100, 1000) == IT_OK, "write 100 tokens");
    /* ids >= the model's vocab are caught when the dataset is made: the file, position, id, vocab */
    CHECK(it_dataset_from_bin(ctx, path, 500, 4, &ds) == IT_ERR_RANGE && ds == NULL, "bin with ids >= vocab");
    CHECK(msg_has(ctx, path, "token 57 is 999") && msg_has(ctx, "[0, 500)", NULL), "message names it");
    raw = it_test_read_file(path, &n);
    bad = (uint8_t *)malloc(n + 16);
    /* truncations: inside the header and inside the tokens */
    for (k = 0; k < n; k += (k < 1030 ? 1 : 37)) {
        it_test_write_file(path, raw, k);
        back = (int32_t *)&back;
        CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && back == NULL &&
                  msg_has(ctx, path, k == 0 ? "empty" : "truncated"), "truncated at %zu", k);
    }
    memcpy(bad, raw, n);
    bad[n] = 0;
    it_test_write_file(path, bad, n + 1);
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && msg_has(ctx, path, "1225 bytes"),
          "trailing byte");
    memcpy(bad, raw, n);
    it__data_put_u32(bad, 20240521);
    it_test_write_file(path, bad, n);
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && msg_has(ctx, "magic 20240521", "20240520"),
          "bad magic");
    it__data_put_u32(bad, IT_TOKEN_FILE_MAGIC_U16);
    it__data_put_u32(bad + 4, 2);
    it_test_write_file(path, bad, n);
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && msg_has(ctx, "version 2", NULL), "bad version");
    it__data_put_u32(bad + 4, 1);
    it__data_put_u32(bad + 8, 0x80000000u);
    it_test_write_file(path, bad, n);
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && msg_has(ctx, "negative", NULL), "negative count");
    it__data_put_u32(bad + 8, 0x7FFFFFFFu);
    it_test_write_file(path, bad, n);
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && msg_has(ctx, "truncated", "2147483647"),
          "huge count, small file");
    /* a uint32 file with a token beyond int32 */
    memset(bad, 0, 1024 + 4);
    it__data_put_u32(bad, IT_TOKEN_FILE_MAGIC_U32);
    it__data_put_u32(bad + 4, IT_TOKEN_FILE_VERSION_U32);
    it__data_put_u32(bad + 8, 1);
    it__data_put_u32(bad + 1024, 0x90000000u);
    it_test_write_file(path, bad, 1028);
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_ERR_FORMAT && msg_has(ctx, "beyond int32", NULL),
          "uint32 token beyond int32");
    CHECK(it_token_file_read(ctx, "/nonexistent/t.bin", &back, &i) == IT_ERR_IO && msg_has(ctx, "/nonexistent/t.bin", NULL),
          "missing .bin");
    /* zero tokens is a valid file, but not a dataset */
    CHECK(it_token_file_write(ctx, path, ids, 0, 1000) == IT_OK, "write 0 tokens");
    CHECK(it_token_file_read(ctx, path, &back, &i) == IT_OK && i == 0, "read 0 tokens");
    it_ids_free(ctx, back);
    CHECK(it_dataset_from_bin(ctx, path, 1000, 4, &ds) == IT_ERR_FORMAT && msg_has(ctx, path, "empty"), "empty .bin dataset");
    free(bad);
    free(raw);
    remove(path);
}

static void test_dataset_files(it_context *ctx) {
    char txt_buf[256];
    const char *txt = it_test_tmp_path(txt_buf, sizeof txt_buf, "data.txt");
    it_tokenizer *byte = NULL;
    it_dataset *ds = (it_dataset *)&ds;
    uint8_t text[2000];
    size_t i, n;
    const int32_t *tok;
    it_tokenizer_byte(ctx, &byte);
    CHECK(it_dataset_load(ctx, "/nonexistent/data.txt", byte, 256, 8, &ds) == IT_ERR_IO && ds == NULL &&
              msg_has(ctx, "/nonexistent/data.txt", "No such file"), "missing data file");
    CHECK(it_dataset_from_text(ctx, "/nonexistent/data.txt", byte, 256, 8, &ds) == IT_ERR_IO, "missing text");
    CHECK(it_dataset_load(ctx, "/tmp", byte, 256, 8, &ds) == IT_ERR_IO && msg_has(ctx, "'/tmp'", NULL), "a directory");
    CHECK(it_dataset_from_bin(ctx, "/tmp", 256, 8, &ds) == IT_ERR_IO, "a directory as .bin");
    it_test_write_file(txt, text, 0);
    CHECK(it_dataset_load(ctx, txt, byte, 256, 8, &ds) == IT_ERR_FORMAT && msg_has(ctx, txt, "empty"), "empty data file");
    CHECK(it_dataset_from_text(ctx, txt, byte, 256, 8, &ds) == IT_ERR_FORMAT && msg_has(ctx, txt, "empty"), "empty text");
    for (i = 0; i < sizeof text; i++) text[i] = (uint8_t)('a' + i % 26);
    it_test_write_file(txt, text, 89); /* 10 (seq + 1) = 90 needed */
    CHECK(it_dataset_load(ctx, txt, byte, 256, 8, &ds) == IT_ERR_RANGE && msg_has(ctx, txt, "too short") &&
              msg_has(ctx, "at least 90 tokens", NULL), "too short by one");
    it_test_write_file(txt, text, 90);
    CHECK(it_dataset_load(ctx, txt, byte, 256, 8, &ds) == IT_OK, "exactly long enough: %s", it_context_last_error(ctx));
    tok = it_dataset_tokens(ds, IT_SPLIT_TRAIN, &n);
    CHECK(n == 81 && tok[0] == 'a', "train split %zu", n);
    tok = it_dataset_tokens(ds, IT_SPLIT_VAL, &n);
    CHECK(n == 9 && tok[0] == 'a' + 81 % 26, "val split %zu", n);
    it_dataset_destroy(ds);
    CHECK(it_dataset_load(ctx, txt, NULL, 256, 8, &ds) == IT_ERR_INVALID_ARGUMENT && msg_has(ctx, "needs a tokenizer", NULL),
          "text without tokenizer");
    text[30] = 0xC8; /* byte 200 with a model vocab of 128 */
    it_test_write_file(txt, text, 200);
    CHECK(it_dataset_from_text(ctx, txt, byte, 128, 8, &ds) == IT_ERR_RANGE && msg_has(ctx, txt, "token 30 is 200") &&
              msg_has(ctx, "[0, 128)", NULL), "text id >= model vocab");
    CHECK(it_dataset_from_ids(ctx, NULL, 0, 256, 8, "empty buffer", &ds) == IT_ERR_FORMAT && msg_has(ctx, "empty buffer", "empty"),
          "empty id buffer");
    it_tokenizer_destroy(byte);
    remove(txt);
}

static void test_dataset_auto_and_text(it_context *ctx) {
    char bin_buf[256];
    const char *bin = it_test_tmp_path(bin_buf, sizeof bin_buf, "shakes.bin");
    it_tokenizer *byte = NULL;
    it_dataset *a = NULL, *b = NULL;
    const int32_t *ta, *tb;
    size_t na, nb, nv;
    FILE *f = fopen(SHAKESPEARE, "rb");
    if (!f) {
        printf("note: %s missing, skipping the tinyshakespeare dataset test\n", SHAKESPEARE);
        return;
    }
    fclose(f);
    it_tokenizer_byte(ctx, &byte);
    CHECK(it_dataset_load(ctx, SHAKESPEARE, byte, 256, 128, &a) == IT_OK, "load text: %s", it_context_last_error(ctx));
    ta = it_dataset_tokens(a, IT_SPLIT_TRAIN, &na);
    it_dataset_tokens(a, IT_SPLIT_VAL, &nv);
    CHECK(na + nv == 1115394 && nv == 111539, "split %zu + %zu", na, nv);
    CHECK(it_token_file_write(ctx, bin, ta, na + nv, 256) == IT_OK, "write bin");
    CHECK(it_dataset_load(ctx, bin, NULL, 256, 128, &b) == IT_OK, "load bin (auto): %s", it_context_last_error(ctx));
    tb = it_dataset_tokens(b, IT_SPLIT_TRAIN, &nb);
    CHECK(na == nb && memcmp(ta, tb, na * sizeof(int32_t)) == 0, "text and bin agree");
    CHECK(it_dataset_vocab(b) == 256, "vocab");
    it_dataset_destroy(a);
    it_dataset_destroy(b);
    it_tokenizer_destroy(byte);
    remove(bin);
}

static void test_batches(it_context *ctx) {
    enum { N = 10000, B = 4, T = 16 };
    int32_t *ids = (int32_t *)malloc(N * sizeof(int32_t));
    int32_t in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    it_dataset *ds = NULL;
    it_rng rng, saved;
    size_t i, n_train, nb;
    int b, t, ok = 1, step, covered_end = 0, covered_start = 0;
    for (i = 0; i < N; i++) ids[i] = (int32_t)i; /* a token's value is its position */
    CHECK(it_dataset_from_ids(ctx, ids, N, N, T, "positions", &ds) == IT_OK, "from ids");
    it_dataset_tokens(ds, IT_SPLIT_TRAIN, &n_train);
    CHECK(n_train == 9000, "n_train %zu", n_train);
    it_rng_seed(&rng, 42);
    for (step = 0; step < 2000; step++) {
        CHECK(it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, in, tg) == IT_OK, "batch");
        for (b = 0; b < B; b++) {
            int32_t s = in[b * T];
            ok &= s >= 0 && s + T < (int32_t)n_train; /* whole window inside train */
            covered_start |= s == 0;
            covered_end |= s + T == (int32_t)n_train - 1;
            for (t = 0; t < T; t++) ok &= in[b * T + t] == s + t && tg[b * T + t] == s + t + 1;
        }
    }
    CHECK(ok, "train windows are contiguous, shifted by one, inside the split");
    (void)covered_start;
    (void)covered_end;
    it_rng_seed(&rng, 7);
    ok = 1;
    for (step = 0; step < 200; step++) {
        it_dataset_batch(ds, IT_SPLIT_VAL, &rng, B, T, in, tg);
        for (b = 0; b < B; b++) ok &= in[b * T] >= 9000 && in[b * T] + T <= N - 1;
    }
    CHECK(ok, "validation windows stay in the last 10%%");
    /* a batch is a pure function of the rng state: save it, draw, restore, draw again */
    it_rng_seed(&rng, 3);
    it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, in, tg);
    saved = rng;
    it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, in, tg);
    rng = saved;
    it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, in2, tg2);
    CHECK(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0, "resume from a saved rng");
    it_rng_seed(&rng, 3);
    it_dataset_batch(ds, IT_SPLIT_TRAIN, &rng, B, T, in2, tg2);
    it_rng_seed(&saved, 3);
    it_dataset_batch(ds, IT_SPLIT_TRAIN, &saved, B, T, in, tg);
    CHECK(memcmp(in, in2, sizeof in) == 0, "same seed, same batch");
    /* eval batches: batch i row b is window i*B + b, windows step by T */
    CHECK(it_dataset_eval_batch(ds, IT_SPLIT_VAL, 0, B, T, in, tg) == IT_OK, "eval batch");
    ok = 1;
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) ok &= in[b * T + t] == 9000 + b * T + t && tg[b * T + t] == 9000 + b * T + t + 1;
    CHECK(ok, "eval batch 0 is the first B windows of the split");
    nb = it_dataset_eval_batches(ds, IT_SPLIT_VAL, B, T);
    CHECK(nb == (999 / T) / B, "eval batches %zu", nb);
    it_dataset_eval_batch(ds, IT_SPLIT_VAL, 5, B, T, in, tg);
    it_dataset_eval_batch(ds, IT_SPLIT_VAL, 5, B, T, in2, tg2);
    CHECK(memcmp(in, in2, sizeof in) == 0 && in[0] == 9000 + 5 * B * T, "eval batch 5 deterministic (%d)", in[0]);
    CHECK(it_dataset_eval_batch(ds, IT_SPLIT_VAL, 1000000, B, T, in, tg) == IT_OK && in[0] >= 9000 &&
              in[B * T - 1] < N, "eval index wraps");
    CHECK(it_dataset_batch(ds, IT_SPLIT_VAL, &rng, B, 1000, (int32_t *)NULL, (int32_t *)NULL) == IT_ERR_RANGE &&
              msg_has(ctx, "validation split has 1000 tokens", "T + 1 = 1001"), "window longer than the split");
    CHECK(it_dataset_batch(ds, IT_SPLIT_INVALID, &rng, B, T, in, tg) == IT_ERR_INVALID_ARGUMENT, "bad split");
    CHECK(it_dataset_eval_batches(ds, IT_SPLIT_VAL, B, 1000) == 0, "no eval batches for a too-long window");
    it_dataset_destroy(ds);
    ids[4321] = N;
    CHECK(it_dataset_from_ids(ctx, ids, N, N, T, "positions", &ds) == IT_ERR_RANGE &&
              msg_has(ctx, "token 4321 is 10000", "[0, 10000)"), "id == vocab in a buffer");
    free(ids);
}

int main(void) {
    it_context *ctx = it_test_context(1);
    test_bin_round_trip(ctx, 50257, 5000, IT_TOKEN_FILE_MAGIC_U16, 1, 2);
    test_bin_round_trip(ctx, 65536, 5000, IT_TOKEN_FILE_MAGIC_U16, 1, 2);
    test_bin_round_trip(ctx, 65537, 5000, IT_TOKEN_FILE_MAGIC_U32, 7, 4);
    test_bin_round_trip(ctx, 128256, 5000, IT_TOKEN_FILE_MAGIC_U32, 7, 4);
    test_bin_errors(ctx);
    test_dataset_files(ctx);
    test_dataset_auto_and_text(ctx);
    test_batches(ctx);
    it_context_destroy(ctx);
    return it_test_finish();
}
