/* test_alloc.c - one allocator, one ownership rule. A context made with a counting allocator lives
   through everything the library does (a model trained a step with AdamW on 2 threads, a KV-cache
   decoder, byte and BPE tokenizers saved and loaded, token files, datasets, a checkpoint saved,
   loaded and inspected, a file read): every allocation goes through the hooks with the desc's user
   pointer, the caller's arrays are seen too, and when it_context_destroy returns every byte is
   freed although the tokenizers, datasets and decoder were never destroyed by hand. malloc, calloc
   and realloc are trapped by macros around the implementation, so a raw allocation anywhere in
   the library is counted: there must be none (and the trap is shown to work on a default
   context, whose allocator is malloc). Then out of memory at every allocation in turn of the
   tokenizer, token-file, dataset, decoder and checkpoint paths: an error each time, never a hang
   or a leak (this found the checkpoint writer's header padding looping forever once its buffer
   had failed). Ends with "N passed, N failed". */
#include "it_count_alloc.h" /* first: the counting allocator and the malloc trap */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#undef malloc
#undef calloc
#undef realloc
#include "it_test.h"

static const char g_text[] =
    "the quick brown fox jumps over the lazy dog; the lazy dog sleeps while the quick fox runs.\n"
    "a tokenizer learns the pairs it sees most often: th, he, the, qu, ui, ick, and so on.\n";

static it_context *counted_context(int n_threads) {
    it_context_desc d;
    it_context *ctx = NULL;
    memset(&d, 0, sizeof d);
    d.n_threads = n_threads;
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = &g_count;
    d.logger.log = it_test_quiet_log;
    CHECK(it_context_create(&d, &ctx) == IT_OK, "context with a counting allocator");
    return ctx;
}

static void inspect_fn(const it_safetensors_tensor_info *info, void *user) {
    (void)info;
    ++*(int *)user;
}

/* Everything a context's life can do, leaving the owned objects to it_context_destroy. */
static void whole_life(void) {
    char dir[256], tokfile[256], binfile[256], textfile[256], ckfile[300];
    it_context *ctx = counted_context(2);
    it_model_config cfg = it_test_llama();
    it_model *m;
    it_model_graph mg;
    it_optimizer_desc od;
    it_optimizer *opt;
    it_decoder *dec;
    it_tokenizer *byte, *bpe, *loaded;
    it_dataset *ds_ids, *ds_text;
    int32_t *ids, *back;
    uint8_t *bytes;
    size_t n_ids, n_back, n_bytes, before, i;
    const float *logits;
    int n_tensors = 0;
    if (!ctx) return;
    it_test_tmp_path(dir, sizeof dir, "alloc_ck");
    it_test_tmp_path(tokfile, sizeof tokfile, "alloc.ittk");
    it_test_tmp_path(binfile, sizeof binfile, "alloc.bin");
    it_test_tmp_path(textfile, sizeof textfile, "alloc.txt");
    it_test_write_file(textfile, g_text, sizeof g_text - 1);

    /* a model trained one step */
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK, "model: %s", it_context_last_error(ctx));
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 8, &mg) == IT_OK, "train graph: %s", it_context_last_error(ctx));
    CHECK(it_model_init(m, 7) == IT_OK, "init");
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    od.clip_norm = 1.0f;
    CHECK(it_optimizer_create(ctx, &od, &opt) == IT_OK, "optimizer");
    for (i = 0; i < 16; i++) {
        it_data_i32(mg.tokens)[i] = (int32_t)(i * 5 % 64);
        it_data_i32(mg.targets)[i] = (int32_t)((i * 5 + 1) % 64);
    }
    it_zero_grads(ctx);
    CHECK(it_graph_run(mg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "training step");
    CHECK(it_optimizer_step(opt, 1e-3f, 1.0f, NULL) == IT_OK, "optimizer step");
    /* a decoder, never destroyed by hand */
    CHECK(it_decoder_create(m, 8, &dec) == IT_OK, "decoder");
    CHECK(it_decoder_feed(dec, it_data_i32(mg.tokens), 3, &logits) == IT_OK && logits, "decoder feed");

    /* tokenizers: byte, BPE trained, saved and loaded; one destroyed early, the rest left */
    CHECK(it_tokenizer_byte(ctx, &byte) == IT_OK, "byte tokenizer");
    CHECK(it_tokenizer_train_bpe(ctx, (const uint8_t *)g_text, sizeof g_text - 1, 300, &bpe) == IT_OK, "bpe");
    CHECK(it_tokenizer_save(ctx, bpe, tokfile) == IT_OK, "tokenizer save: %s", it_context_last_error(ctx));
    CHECK(it_tokenizer_load(ctx, tokfile, &loaded) == IT_OK, "tokenizer load: %s", it_context_last_error(ctx));
    it_tokenizer_destroy(loaded); /* early: the context must not release it again */
    /* the caller's arrays come from the same allocator and show up in its count */
    before = g_count.live;
    CHECK(it_tokenizer_encode(ctx, bpe, (const uint8_t *)g_text, sizeof g_text - 1, &ids, &n_ids) == IT_OK, "encode");
    CHECK(g_count.live >= before + n_ids * sizeof(int32_t), "the encoded ids (%zu) are counted: live %zu -> %zu",
          n_ids, before, g_count.live);
    CHECK(it_token_file_write(ctx, binfile, ids, n_ids, it_tokenizer_vocab_size(bpe)) == IT_OK, "token file write");
    CHECK(it_token_file_read(ctx, binfile, &back, &n_back) == IT_OK && n_back == n_ids, "token file read");
    CHECK(it_file_read(ctx, textfile, 0, &bytes, &n_bytes) == IT_OK && n_bytes == sizeof g_text - 1, "file read");
    /* datasets, never destroyed by hand */
    CHECK(it_dataset_from_ids(ctx, ids, n_ids, it_tokenizer_vocab_size(bpe), 3, "ids", &ds_ids) == IT_OK, "dataset: %s",
          it_context_last_error(ctx));
    CHECK(it_dataset_load(ctx, textfile, byte, 0, 4, &ds_text) == IT_OK, "text dataset: %s", it_context_last_error(ctx));
    before = g_count.live;
    it_ids_free(ctx, ids);
    it_ids_free(ctx, back);
    it_file_free(ctx, bytes);
    CHECK(g_count.live + n_ids * sizeof(int32_t) <= before, "it_ids_free / it_file_free give the bytes back");

    /* a checkpoint saved, loaded back and inspected */
    CHECK(it_checkpoint_save(ctx, m, opt, NULL, dir, NULL) == IT_OK, "checkpoint save: %s", it_context_last_error(ctx));
    CHECK(it_checkpoint_load(ctx, m, opt, NULL, dir) == IT_OK, "checkpoint load: %s", it_context_last_error(ctx));
    snprintf(ckfile, sizeof ckfile, "%s/model.safetensors", dir);
    CHECK(it_safetensors_inspect(ctx, ckfile, inspect_fn, &n_tensors) == IT_OK && n_tensors > 0, "inspect: %d tensors",
          n_tensors);
    CHECK(it_checkpoint_validate(ctx, dir) == IT_OK, "validate");

    CHECK(g_count.live > 0 && g_count.allocs > 100, "the life allocated through the hooks (%ld blocks, %zu bytes live)",
          g_count.allocs, g_count.live);
    it_context_destroy(ctx);
    printf("whole life: %ld allocations, %ld frees, %zu bytes in all, peak %zu, %zu live after destroy\n",
           g_count.allocs, g_count.frees, g_count.total, g_count.peak, g_count.live);
    CHECK(g_count.live == 0 && g_count.allocs == g_count.frees, "every byte freed by it_context_destroy (%zu bytes in %ld blocks left)",
          g_count.live, g_count.allocs - g_count.frees);
    CHECK(g_count.wrong_user == 0, "every call carried the desc's user pointer (%ld did not)", g_count.wrong_user);
    CHECK(g_count.null_frees == 0, "free is never called with NULL (%ld times)", g_count.null_frees);
    CHECK(g_raw_allocs == 0, "no raw malloc/calloc/realloc in the library (%ld)", g_raw_allocs);
    it_test_remove_tree(dir);
    remove(tokfile);
    remove(binfile);
    remove(textfile);
}

/* Objects destroyed before their context: released once, not twice. */
static void early_destroy(void) {
    it_context *ctx;
    it_model_config cfg = it_test_gpt2();
    it_model *m;
    it_decoder *dec;
    it_tokenizer *tok;
    it_dataset *ds;
    int32_t ids[100];
    int i;
    long frees;
    memset(&g_count, 0, sizeof g_count);
    ctx = counted_context(1);
    if (!ctx) return;
    for (i = 0; i < 100; i++) ids[i] = i % 50;
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK && it_decoder_create(m, 4, &dec) == IT_OK, "gpt2 + decoder");
    CHECK(it_tokenizer_byte(ctx, &tok) == IT_OK, "tokenizer");
    CHECK(it_dataset_from_ids(ctx, ids, 100, 64, 4, NULL, &ds) == IT_OK, "dataset");
    it_decoder_destroy(dec);
    it_dataset_destroy(ds);
    it_tokenizer_destroy(tok);
    it_model_destroy(m);
    it_tokenizer_destroy(NULL);
    it_dataset_destroy(NULL);
    it_decoder_destroy(NULL);
    frees = g_count.frees;
    it_context_destroy(ctx);
    CHECK(g_count.live == 0 && g_count.allocs == g_count.frees && g_count.frees > frees,
          "destroyed early, then the context: balanced (%ld allocations, %ld frees)", g_count.allocs, g_count.frees);
}

/* Out of memory anywhere in the paths that report it (tokenizers, token files, datasets,
   checkpoints, decoder): pass n makes the n-th allocation after the model exists fail. Every
   call returns IT_OK or an error, a refused allocation is never swallowed (some call of the pass
   fails), and the context still frees every byte. Runs until a pass allocates fewer than n. */
static void oom_sweep(void) {
    static const int32_t some_ids[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    char dir[256], tokfile[256], binfile[256];
    long n, runs = 0, leaks = 0, swallowed = 0, first_leak = 0, first_swallow = 0;
    it_test_tmp_path(dir, sizeof dir, "alloc_oom_ck");
    it_test_tmp_path(tokfile, sizeof tokfile, "alloc_oom.ittk");
    it_test_tmp_path(binfile, sizeof binfile, "alloc_oom.bin");
    for (n = 1; n < 100000; n++) {
        it_context *ctx;
        it_model_config cfg = it_test_llama();
        it_model *m = NULL;
        it_tokenizer *tok = NULL, *back = NULL;
        it_dataset *ds = NULL;
        it_decoder *dec = NULL;
        int32_t *ids = NULL, *rids = NULL;
        size_t n_ids = 0, n_r = 0;
        int failures = 0;
        memset(&g_count, 0, sizeof g_count);
        ctx = counted_context(1);
        if (!ctx) return;
        cfg.n_layers = 1;
        if (it_model_create(ctx, &cfg, &m) != IT_OK || it_model_init(m, 3) != IT_OK) {
            CHECK(0, "oom sweep: model");
            it_context_destroy(ctx);
            return;
        }
        g_count.fail_at = g_count.allocs + n;
        failures += it_tokenizer_train_bpe(ctx, (const uint8_t *)g_text, sizeof g_text - 1, 280, &tok) != IT_OK;
        if (tok) {
            failures += it_tokenizer_save(ctx, tok, tokfile) != IT_OK;
            failures += it_tokenizer_load(ctx, tokfile, &back) != IT_OK;
            failures += it_tokenizer_encode(ctx, tok, (const uint8_t *)g_text, sizeof g_text - 1, &ids, &n_ids) != IT_OK;
        }
        failures += it_token_file_write(ctx, binfile, some_ids, 64, 64) != IT_OK;
        failures += it_token_file_read(ctx, binfile, &rids, &n_r) != IT_OK;
        failures += it_dataset_from_ids(ctx, some_ids, 64, 64, 2, "oom", &ds) != IT_OK;
        failures += it_decoder_create(m, 4, &dec) != IT_OK;
        failures += it_checkpoint_save(ctx, m, NULL, NULL, dir, NULL) != IT_OK;
        failures += it_checkpoint_load(ctx, m, NULL, NULL, dir) != IT_OK;
        it_ids_free(ctx, ids);
        it_ids_free(ctx, rids);
        if (!g_count.failed) { /* this pass allocated fewer than n times: every allocation was tried */
            it_context_destroy(ctx);
            break;
        }
        runs++;
        if (!failures && !swallowed++) first_swallow = n;
        it_context_destroy(ctx);
        if (g_count.live && !leaks++) first_leak = n;
    }
    printf("out-of-memory sweep: %ld passes (one refused allocation each), %ld leaked (first at %ld), %ld swallowed (first at %ld)\n",
           runs, leaks, first_leak, swallowed, first_swallow);
    CHECK(runs > 50, "the sweep refused every allocation of the paths in turn (%ld)", runs);
    CHECK(leaks == 0, "no bytes left after a refused allocation (%ld passes leaked; first: allocation %ld)", leaks, first_leak);
    CHECK(swallowed == 0, "a refused allocation always surfaces as an error (%ld passes did not; first: allocation %ld)",
          swallowed, first_swallow);
    it_test_remove_tree(dir);
    remove(tokfile);
    remove(binfile);
}

int main(void) {
    it_context *plain;
    count_alloc_trap_unused();
    whole_life();
    early_destroy();
    oom_sweep();
    /* the trap works: a default context allocates through malloc, and that is counted */
    g_raw_allocs = 0;
    if (it_context_create(NULL, &plain) == IT_OK) it_context_destroy(plain);
    CHECK(g_raw_allocs > 0, "the malloc trap sees the default allocator's calls (%ld)", g_raw_allocs);
    return it_test_finish();
}
