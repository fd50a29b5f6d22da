/* test_batch.c - batched generation: the paged KV cache and the batch decoder against the
   contiguous decoder (greedy tokens equal, logits to rounding) for Llama GQA, GPT-2 and the
   imported Hugging Face fixtures (llama3 rope, Qwen2 biases, Qwen3 q/k norms, Mistral's sliding
   window, GPT-2); prefix sharing and copy-on-write (the other sequence is left intact), pool
   exhaustion (a clear error, nothing changed), context shift against a fresh decode of the kept
   tokens, bad batches; the continuous batcher (it_generator): requests joining between steps, n
   samples of one prompt, seeded sampling equal to a one-sequence run, shared prompt blocks, stop
   tokens, max_tokens, context full, cancellation; min-p sampling. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "it_test.h"

static double max_abs_diff(const float *a, const float *b, int n) {
    double w = 0.0;
    int i;
    for (i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}
/* larger weights than init: sharper, more varied logits (a random model's greedy run repeats) */
static void sharpen(it_context *ctx, float scale) {
    int i;
    for (i = 0; i < it_param_count(ctx); i++) {
        it_tensor *p = it_param_at(ctx, i);
        size_t j;
        if (p->ndim == 2)
            for (j = 0; j < p->numel; j++) it_data(p)[j] *= scale;
    }
}

/* S sequences with different prompts decoded together, one batch per step (prompts in one batch
   with the decode rows of the others), against one contiguous decoder per sequence. */
enum { S = 5, MAXT = 40 };
static void check_paged_equals_contiguous(it_model *m, int block_size, int threads_note, const char *what) {
    const it_model_config *c = &m->config;
    int V = c->vocab_size, T = c->max_seq < MAXT ? c->max_seq : MAXT, s, step, mism = 0, i;
    int prompt_len[S], len[S];
    int32_t toks[S][MAXT], ref[S][MAXT];
    double worst = 0.0;
    it_batch_decoder_desc bd = {0};
    it_batch_decoder *d;
    it_decoder *dec;
    it_batch *b;
    bd.max_seqs = S;
    bd.block_size = block_size;
    bd.max_context = T;
    CHECK(it_batch_decoder_create(m, &bd, &d) == IT_OK, "%s: batch decoder", what);
    CHECK(it_batch_create(m->ctx, 64, &b) == IT_OK, "%s: batch", what);
    CHECK(it_decoder_create(m, T, &dec) == IT_OK, "%s: decoder", what);
    /* the reference: each sequence alone, greedy, T tokens */
    for (s = 0; s < S; s++) {
        const float *logits;
        prompt_len[s] = 1 + (s * 3) % 7;
        for (i = 0; i < prompt_len[s]; i++) ref[s][i] = (int32_t)((s * 17 + i * 5 + 3) % V);
        it_decoder_reset(dec);
        CHECK(it_decoder_feed(dec, ref[s], prompt_len[s], &logits) == IT_OK, "%s: reference prompt", what);
        for (i = prompt_len[s]; i < T; i++) {
            ref[s][i] = it_cpu_argmax(logits, V);
            if (i + 1 < T) it_decoder_feed(dec, &ref[s][i], 1, &logits);
        }
    }
    /* batched: sequence s joins at step s (its prompt in the same batch as the others' tokens) */
    for (s = 0; s < S; s++) len[s] = 0;
    for (step = 0; step < T + S; step++) {
        it_batch_clear(b);
        for (s = 0; s < S; s++) {
            if (step < s || len[s] >= T) continue;
            if (len[s] == 0) {
                for (i = 0; i < prompt_len[s]; i++) {
                    toks[s][i] = ref[s][i];
                    it_batch_add(b, toks[s][i], i, s, i == prompt_len[s] - 1);
                }
            } else if (len[s] < T) {
                it_batch_add(b, toks[s][len[s] - 1], it_kv_seq_len(d, s), s, 1);
            }
        }
        if (!b->n_tokens) break;
        CHECK(it_batch_decode(d, b) == IT_OK, "%s: batch decode step %d", what, step);
        for (i = 0; i < b->n_tokens; i++) {
            const float *logits = it_batch_logits(d, i);
            int seq = b->seq[i];
            if (!b->logits[i]) {
                CHECK(logits == NULL, "%s: logits of a row that did not ask", what);
                continue;
            }
            if (len[seq] == 0) len[seq] = prompt_len[seq];
            if (len[seq] < T) {
                toks[seq][len[seq]] = it_cpu_argmax(logits, V);
                mism += toks[seq][len[seq]] != ref[seq][len[seq]];
                len[seq]++;
            }
        }
    }
    CHECK(mism == 0, "%s (block %d, %d threads): paged greedy tokens differ from the contiguous decoder at %d places",
          what, block_size, threads_note, mism);
    /* teacher-forced logits: every position of one fixed sequence, paged vs contiguous */
    it_kv_seq_clear(d, 0);
    it_decoder_reset(dec);
    for (i = 0; i < T; i++) {
        const float *a, *r;
        int32_t t = (int32_t)((i * 29 + 7 + (i * i) % 11) % V);
        it_batch_clear(b);
        it_batch_add(b, t, i, 0, 1);
        CHECK(it_batch_decode(d, b) == IT_OK && it_decoder_feed(dec, &t, 1, &r) == IT_OK, "%s: teacher forcing", what);
        a = it_batch_logits(d, 0);
        worst = fmax(worst, max_abs_diff(a, r, V));
    }
    CHECK(worst < 1e-4, "%s: paged vs contiguous logits differ by %g", what, worst);
    it_decoder_destroy(dec);
    it_batch_destroy(b);
    it_batch_decoder_destroy(d);
}

static it_model *small_model(it_context *ctx, it_arch arch, int max_seq) {
    it_model_config cfg = arch == IT_ARCH_LLAMA ? it_test_llama() : it_test_gpt2();
    it_model *m;
    cfg.vocab_size = 67;
    cfg.max_seq = max_seq;
    if (it_model_create(ctx, &cfg, &m) != IT_OK) exit(2);
    it_model_init(m, 99);
    sharpen(ctx, 8.0f);
    return m;
}

static void test_equal_small(void) {
    int threads, a;
    for (threads = 1; threads <= 2; threads++)
        for (a = 0; a < 2; a++) {
            it_context *ctx = it_test_context(threads);
            it_model *m = small_model(ctx, a ? IT_ARCH_GPT2 : IT_ARCH_LLAMA, MAXT);
            check_paged_equals_contiguous(m, 4, threads, a ? "gpt2" : "llama gqa");
            check_paged_equals_contiguous(m, 16, threads, a ? "gpt2" : "llama gqa");
            it_context_destroy(ctx);
        }
}

static void test_equal_hf(void) {
    static const char *dirs[] = {"llama_llama3", "qwen2", "qwen3", "mistral_window", "gpt2", "llama_bias_bf16_sharded"};
    size_t k;
    for (k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        char path[256];
        it_context *ctx = it_test_context(2);
        it_model_config cfg;
        it_model *m;
        snprintf(path, sizeof path, "tests/fixtures/hf_models/%s", dirs[k]);
        if (it_checkpoint_read_config(ctx, path, &cfg) != IT_OK || it_model_create(ctx, &cfg, &m) != IT_OK ||
            it_checkpoint_load(ctx, m, NULL, NULL, path) != IT_OK) {
            CHECK(0, "load %s: %s", path, it_context_last_error(ctx));
            it_context_destroy(ctx);
            continue;
        }
        check_paged_equals_contiguous(m, 4, 2, dirs[k]);
        it_context_destroy(ctx);
    }
}

/* feeds tokens[0..n) to seq in one batch; logits of the last */
static const float *feed(it_batch_decoder *d, it_batch *b, int seq, const int32_t *tokens, int n) {
    int i, p = it_kv_seq_len(d, seq);
    it_batch_clear(b);
    for (i = 0; i < n; i++) it_batch_add(b, tokens[i], p + i, seq, i == n - 1);
    if (it_batch_decode(d, b) != IT_OK) return NULL;
    return it_batch_logits(d, n - 1);
}
static const float *reference(it_decoder *dec, const int32_t *tokens, int n) {
    const float *logits = NULL;
    it_decoder_reset(dec);
    if (it_decoder_feed(dec, tokens, n, &logits) != IT_OK) return NULL;
    return logits;
}

static void test_sharing(void) {
    it_context *ctx = it_test_context(1);
    it_model *m = small_model(ctx, IT_ARCH_LLAMA, 32);
    int V = m->config.vocab_size, i;
    it_batch_decoder_desc bd = {0};
    it_batch_decoder *d;
    it_decoder *dec;
    it_batch *b;
    it_kv_stats st;
    int32_t seq0[20], seq1[20];
    const float *l;
    float got[80];
    bd.max_seqs = 4, bd.block_size = 4, bd.max_context = 32;
    CHECK(it_batch_decoder_create(m, &bd, &d) == IT_OK && it_batch_create(ctx, 32, &b) == IT_OK &&
          it_decoder_create(m, 32, &dec) == IT_OK, "sharing: setup");
    for (i = 0; i < 20; i++) seq0[i] = seq1[i] = (int32_t)((i * 7 + 1) % V);
    CHECK(feed(d, b, 0, seq0, 10) != NULL, "prompt of 10 tokens"); /* blocks 0, 1 full, 2 half */
    st = it_kv_cache_stats(d);
    CHECK(st.free_blocks == st.n_blocks - 3 && st.shared_blocks == 0, "3 blocks taken, %d free", st.free_blocks);
    /* fork all 10 tokens: the blocks are shared, nothing copied */
    CHECK(it_kv_seq_fork(d, 0, 1, -1) == IT_OK, "fork");
    st = it_kv_cache_stats(d);
    CHECK(st.free_blocks == st.n_blocks - 3 && st.shared_blocks == 3, "fork shares 3 blocks (%d), takes none", st.shared_blocks);
    for (i = 0; i < 3; i++) CHECK(it_kv_seq_block(d, 0, i) == it_kv_seq_block(d, 1, i), "block %d shared", i);
    CHECK(it_kv_seq_blocks_needed(d, 1, 1) == 1, "a write into the shared half block needs a copy");
    /* sequence 1 goes another way: copy-on-write of block 2 only */
    seq1[10] = 5, seq1[11] = 6;
    l = feed(d, b, 1, seq1 + 10, 2);
    CHECK(l != NULL, "feed sequence 1");
    memcpy(got, l, sizeof(float) * (size_t)V);
    CHECK(it_kv_seq_block(d, 1, 0) == it_kv_seq_block(d, 0, 0) && it_kv_seq_block(d, 1, 1) == it_kv_seq_block(d, 0, 1),
          "the full blocks stay shared");
    CHECK(it_kv_seq_block(d, 1, 2) != it_kv_seq_block(d, 0, 2), "the written block was copied");
    st = it_kv_cache_stats(d);
    CHECK(st.shared_blocks == 2 && st.free_blocks == st.n_blocks - 4, "after the copy: 2 shared, 4 taken (%d, %d)",
          st.shared_blocks, st.n_blocks - st.free_blocks);
    l = reference(dec, seq1, 12);
    CHECK(l && max_abs_diff(got, l, V) < 1e-4, "forked sequence's logits equal a fresh decode of its tokens");
    /* sequence 0 was not touched by 1's writes */
    seq0[10] = 9, seq0[11] = 10, seq0[12] = 11;
    l = feed(d, b, 0, seq0 + 10, 3);
    CHECK(l != NULL, "feed sequence 0");
    memcpy(got, l, sizeof(float) * (size_t)V);
    l = reference(dec, seq0, 13);
    CHECK(l && max_abs_diff(got, l, V) < 1e-4, "the original sequence is intact after the fork wrote");
    /* a partial fork: the first 6 tokens (block 1 half used by the fork) */
    CHECK(it_kv_seq_fork(d, 0, 2, 6) == IT_OK && it_kv_seq_len(d, 2) == 6, "fork of 6 tokens");
    seq1[6] = 33;
    l = feed(d, b, 2, seq1 + 6, 1);
    CHECK(l != NULL, "feed the partial fork");
    memcpy(got, l, sizeof(float) * (size_t)V);
    {
        int32_t t7[7];
        memcpy(t7, seq0, sizeof(int32_t) * 6);
        t7[6] = 33;
        l = reference(dec, t7, 7);
        CHECK(l && max_abs_diff(got, l, V) < 1e-4, "partial fork + a token equals a fresh decode");
    }
    /* the fork wrote position 6, inside a block that holds sequence 0's positions 4..7 */
    seq0[13] = 12;
    l = feed(d, b, 0, seq0 + 13, 1);
    CHECK(l != NULL, "feed sequence 0 again");
    memcpy(got, l, sizeof(float) * (size_t)V);
    l = reference(dec, seq0, 14);
    CHECK(l && max_abs_diff(got, l, V) < 1e-4, "the partial fork's write did not reach sequence 0's block");
    /* errors */
    CHECK(it_kv_seq_fork(d, 0, 1, -1) == IT_ERR_STATE, "fork into a non-empty sequence");
    CHECK(it_kv_seq_fork(d, 0, 3, 99) == IT_ERR_RANGE, "fork of more tokens than the source holds");
    CHECK(it_kv_seq_fork(d, 0, 0, -1) == IT_ERR_RANGE && it_kv_seq_fork(d, 0, 7, -1) == IT_ERR_RANGE, "bad fork ids");
    /* clearing releases exactly what was held alone */
    it_kv_seq_clear(d, 0);
    it_kv_seq_clear(d, 1);
    it_kv_seq_clear(d, 2);
    st = it_kv_cache_stats(d);
    CHECK(st.free_blocks == st.n_blocks && st.shared_blocks == 0, "every block back (%d of %d)", st.free_blocks, st.n_blocks);
    it_context_destroy(ctx);
}

static void test_exhaustion_and_errors(void) {
    it_context *ctx = it_test_context(1);
    it_model *m = small_model(ctx, IT_ARCH_LLAMA, 32);
    int V = m->config.vocab_size, i;
    it_batch_decoder_desc bd = {0};
    it_batch_decoder *d;
    it_batch *b;
    it_kv_stats st;
    int32_t t[32];
    bd.max_seqs = 3, bd.block_size = 4, bd.max_context = 16, bd.n_blocks = 5, bd.max_batch = 24;
    CHECK(it_batch_decoder_create(m, &bd, &d) == IT_OK && it_batch_create(ctx, 32, &b) == IT_OK, "setup");
    for (i = 0; i < 32; i++) t[i] = (int32_t)(i % V);
    CHECK(feed(d, b, 0, t, 12) != NULL, "12 tokens: 3 blocks");
    CHECK(feed(d, b, 1, t, 12) == NULL, "12 more tokens need 3 blocks, 2 are free");
    CHECK(strstr(it_context_last_error(ctx), "exhausted") != NULL, "the error says the pool is exhausted: %s",
          it_context_last_error(ctx));
    st = it_kv_cache_stats(d);
    CHECK(st.free_blocks == 2 && it_kv_seq_len(d, 1) == 0 && it_kv_seq_len(d, 0) == 12, "nothing changed");
    CHECK(feed(d, b, 1, t, 8) != NULL, "8 tokens fit the 2 free blocks");
    CHECK(feed(d, b, 2, t, 1) == NULL, "no block left for a third sequence");
    /* a sequence forked from a full one copies nothing until it writes, then needs a block */
    it_kv_seq_clear(d, 1);
    CHECK(it_kv_seq_fork(d, 0, 1, 10) == IT_OK && it_kv_seq_blocks_needed(d, 1, 1) == 1, "fork, copy needed");
    /* bad batches */
    it_batch_clear(b);
    it_batch_add(b, 1, 5, 0, 1);
    CHECK(it_batch_decode(d, b) == IT_ERR_RANGE, "a position that is not the next one");
    it_batch_clear(b);
    it_batch_add(b, 1, 0, 3, 1);
    CHECK(it_batch_decode(d, b) == IT_ERR_RANGE, "a sequence id past max_seqs");
    it_batch_clear(b);
    it_batch_add(b, (int32_t)V, 12, 0, 1);
    CHECK(it_batch_decode(d, b) == IT_ERR_RANGE, "a token outside the vocabulary");
    it_batch_clear(b);
    CHECK(it_batch_decode(d, b) == IT_ERR_INVALID_ARGUMENT, "an empty batch");
    for (i = 0; i < 4; i++) it_batch_add(b, 1, i, 2, 1);
    CHECK(it_batch_decode(d, b) == IT_ERR_INVALID_ARGUMENT, "more logits rows than max_logits");
    it_kv_seq_clear(d, 1);
    CHECK(feed(d, b, 0, t, 4) != NULL && it_kv_seq_len(d, 0) == 16, "sequence 0 at max_context");
    CHECK(feed(d, b, 0, t, 1) == NULL && strstr(it_context_last_error(ctx), "context full"), "context full: %s",
          it_context_last_error(ctx));
    CHECK(it_kv_seq_len(d, 0) == 16, "a failed decode leaves the length");
    {
        it_batch *small;
        CHECK(it_batch_create(ctx, 1, &small) == IT_OK && it_batch_add(small, 1, 0, 0, 0) == IT_OK &&
              it_batch_add(small, 1, 1, 0, 0) == IT_ERR_RANGE, "a full batch refuses a row");
        CHECK(it_batch_create(ctx, 0, &small) == IT_ERR_INVALID_ARGUMENT, "batch of capacity 0");
    }
    bd.max_context = 33;
    CHECK(it_batch_decoder_create(m, &bd, &d) == IT_ERR_INVALID_ARGUMENT, "max_context above the model's max_seq");
    it_context_destroy(ctx);
}

/* row of layer l, position p of seq in the k (or v) pool */
static float *kv_row(it_batch_decoder *d, int seq, int l, int p, int value) {
    size_t KV = (size_t)it_model_head_dim(&d->rows.model->config) * d->rows.model->config.n_kv_heads;
    return (value ? d->vpool : d->kpool) + (size_t)it_kv_seq_block(d, seq, p / d->block_size) * d->block_floats +
           ((size_t)l * d->block_size + (size_t)(p % d->block_size)) * KV;
}
/* The contiguous decoder holding exactly seq's cached k and v (the reference for attention over
   shifted blocks). */
static void transplant(it_decoder *dec, it_batch_decoder *d, int seq) {
    const it_model_config *c = &d->rows.model->config;
    size_t KV = (size_t)it_model_head_dim(c) * c->n_kv_heads;
    int l, p;
    for (l = 0; l < c->n_layers; l++)
        for (p = 0; p < it_kv_seq_len(d, seq); p++) {
            memcpy(dec->kcache + ((size_t)l * dec->max_seq + p) * KV, kv_row(d, seq, l, p, 0), sizeof(float) * KV);
            memcpy(dec->vcache + ((size_t)l * dec->max_seq + p) * KV, kv_row(d, seq, l, p, 1), sizeof(float) * KV);
        }
    dec->pos = it_kv_seq_len(d, seq);
}
static void test_shift(void) {
    enum { L = 2, KVW = 16 }; /* it_test_llama: 2 layers, 2 kv heads of 8 */
    it_context *ctx = it_test_context(1);
    it_model *m = small_model(ctx, IT_ARCH_LLAMA, 32);
    const it_model_config *c = &m->config;
    int V = c->vocab_size, hd = it_model_head_dim(c), i, l, p, round;
    it_batch_decoder_desc bd = {0};
    it_batch_decoder *d;
    it_decoder *dec, *fresh;
    it_batch *b;
    int32_t t[40];
    const float *lg;
    float got[80], old_k[L][16][KVW], old_v[L][16][KVW];
    double worst_rot = 0.0, worst_l0 = 0.0, worst_logits = 0.0;
    int v_same = 1, other_same = 1;
    CHECK(c->n_layers == L && hd * c->n_kv_heads == KVW, "test model shape");
    bd.max_seqs = 2, bd.block_size = 4, bd.max_context = 16;
    CHECK(it_batch_decoder_create(m, &bd, &d) == IT_OK && it_batch_create(ctx, 32, &b) == IT_OK &&
          it_decoder_create(m, 32, &dec) == IT_OK && it_decoder_create(m, 32, &fresh) == IT_OK, "setup");
    for (i = 0; i < 40; i++) t[i] = (int32_t)((i * 11 + 3) % V);
    CHECK(feed(d, b, 0, t, 16) != NULL, "full context");
    CHECK(it_kv_seq_fork(d, 0, 1, -1) == IT_OK, "a second sequence shares every block");
    CHECK(it_kv_seq_shift(d, 0, 3) == IT_ERR_INVALID_ARGUMENT, "a shift that is not whole blocks");
    CHECK(it_kv_seq_shift(d, 0, 20) == IT_ERR_INVALID_ARGUMENT, "a shift past the length");
    for (l = 0; l < L; l++)
        for (p = 0; p < 16; p++)
            memcpy(old_k[l][p], kv_row(d, 0, l, p, 0), sizeof old_k[l][p]), memcpy(old_v[l][p], kv_row(d, 0, l, p, 1), sizeof old_v[l][p]);
    CHECK(it_kv_seq_shift(d, 0, 4) == IT_OK && it_kv_seq_len(d, 0) == 12, "shift by one block");
    CHECK(it_kv_cache_stats(d).shared_blocks == 0, "the shared blocks were copied before re-rotation");
    /* key at new position q = the same unrotated key rotated to q; values untouched */
    (void)reference(fresh, t + 4, 12); /* layer 0's keys depend on the token alone: a fresh decode's */
    for (l = 0; l < L; l++)
        for (p = 0; p < 12; p++) {
            float want[KVW];
            memcpy(want, old_k[l][p + 4], sizeof want);
            it_cpu_rope_forward(want, want, 1, 1, c->n_kv_heads, hd, c->rope_theta, &c->rope_scaling, -(p + 4));
            it_cpu_rope_forward(want, want, 1, 1, c->n_kv_heads, hd, c->rope_theta, &c->rope_scaling, p);
            worst_rot = fmax(worst_rot, max_abs_diff(kv_row(d, 0, l, p, 0), want, KVW));
            v_same &= !memcmp(kv_row(d, 0, l, p, 1), old_v[l][p + 4], sizeof want);
            if (l == 0) worst_l0 = fmax(worst_l0, max_abs_diff(kv_row(d, 0, 0, p, 0), fresh->kcache + (size_t)p * KVW, KVW));
        }
    for (l = 0; l < L; l++)
        for (p = 0; p < 16; p++) other_same &= !memcmp(kv_row(d, 1, l, p, 0), old_k[l][p], sizeof old_k[l][p]);
    CHECK(worst_rot < 1e-5, "re-rotated keys vs rotating the unrotated key to its new position: %g", worst_rot);
    CHECK(worst_l0 < 1e-5, "layer 0 keys after the shift vs a fresh decode of the kept tokens: %g", worst_l0);
    CHECK(v_same, "values are moved, not changed");
    CHECK(other_same, "the sequence that shared the blocks keeps its keys unrotated");
    /* attention over the shifted blocks equals the contiguous decoder over the same keys, round
       after round of shifts */
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 4; i++) {
            int32_t tok = t[16 + round * 4 + i];
            transplant(dec, d, 0);
            lg = feed(d, b, 0, &tok, 1);
            CHECK(lg != NULL, "feed after a shift");
            if (!lg) break;
            memcpy(got, lg, sizeof(float) * (size_t)V);
            CHECK(it_decoder_feed(dec, &tok, 1, &lg) == IT_OK, "reference feed");
            worst_logits = fmax(worst_logits, max_abs_diff(got, lg, V));
        }
        CHECK(it_kv_seq_len(d, 0) == 16 && it_kv_seq_shift(d, 0, 4) == IT_OK, "shift again");
    }
    CHECK(worst_logits < 1e-4, "logits over shifted blocks vs the contiguous cache with the same keys: %g", worst_logits);
    CHECK(feed(d, b, 1, t, 1) == NULL, "the full sharing sequence refuses a token");
    CHECK(it_kv_seq_len(d, 1) == 16, "and keeps its 16 tokens");
    it_context_destroy(ctx);
    /* GPT-2: no rotary keys to re-rotate */
    ctx = it_test_context(1);
    m = small_model(ctx, IT_ARCH_GPT2, 16);
    CHECK(it_batch_decoder_create(m, &bd, &d) == IT_OK && it_batch_create(ctx, 16, &b) == IT_OK, "gpt2 setup");
    CHECK(feed(d, b, 0, t, 8) != NULL, "gpt2 feed");
    CHECK(it_kv_seq_shift(d, 0, 4) == IT_ERR_UNSUPPORTED, "gpt2 shift is refused");
    it_context_destroy(ctx);
}

/* The greedy or seeded continuation of prompt by one contiguous decoder: the generator's result
   for one sample must be exactly this. */
static int run_alone(it_decoder *dec, const int32_t *prompt, int n_prompt, const it_sampling *sp, uint64_t seed,
                     const int32_t *stop, int n_stop, int max_tokens, int32_t *out) {
    const float *l = reference(dec, prompt, n_prompt);
    int V = it_decoder_vocab(dec), n = 0, j;
    static float probs[2 * 512];
    static int order[512];
    it_rng r;
    it_rng_seed(&r, seed);
    for (;;) {
        int32_t t = it_sample(sp, &r, l, V, probs, order);
        out[n++] = t;
        for (j = 0; j < n_stop; j++)
            if (t == stop[j]) return n;
        if (n == max_tokens || it_decoder_pos(dec) >= 32) return n;
        it_decoder_feed(dec, &t, 1, &l);
    }
}

static void test_generator(void) {
    enum { R = 6 };
    it_context *ctx = it_test_context(2);
    it_model *m = small_model(ctx, IT_ARCH_LLAMA, 32);
    int V = m->config.vocab_size, i, r, step, ids[R][4], count[R][4], finished = 0, mism = 0;
    int32_t prompts[R][24], want[R][4][40], got[R][4][40], stop = -1;
    it_finish_reason why[R][4];
    it_generator_desc gd;
    it_generator *g;
    it_decoder *dec;
    it_request rq[R];
    int64_t computed, shared;
    memset(&gd, 0, sizeof gd);
    memset(count, 0, sizeof count);
    memset(got, 0, sizeof got);
    memset(why, 0, sizeof why);
    gd.cache.max_seqs = 8, gd.cache.block_size = 4, gd.cache.max_context = 32, gd.cache.max_batch = 16;
    CHECK(it_generator_create(m, &gd, &g) == IT_OK && it_decoder_create(m, 32, &dec) == IT_OK, "generator");
    for (r = 0; r < R; r++) {
        memset(&rq[r], 0, sizeof rq[r]);
        rq[r].n_prompt = 3 + r * 3;
        for (i = 0; i < rq[r].n_prompt; i++) prompts[r][i] = (int32_t)((r < 3 ? i * 5 + 2 : i * 3 + r) % V);
        rq[r].prompt = prompts[r];
        rq[r].user = &rq[r];
        rq[r].max_tokens = 6 + r;
        rq[r].n = r == 1 ? 3 : 1;
        if (r == 2 || r == 1) rq[r].sampling.temperature = 0.9f, rq[r].sampling.top_k = 20, rq[r].sampling.seed = 7 * r;
        if (r == 4) rq[r].sampling.temperature = 1.0f, rq[r].sampling.min_p = 0.05f, rq[r].sampling.seed = 3;
        if (r == 5) rq[r].max_tokens = 0; /* runs into the context */
    }
    /* request 3 stops at a token its greedy run produces */
    {
        int32_t tmp[40];
        int n = run_alone(dec, prompts[3], rq[3].n_prompt, &rq[3].sampling, 0, NULL, 0, rq[3].max_tokens, tmp);
        stop = tmp[n / 2];
        rq[3].stop_ids = &stop, rq[3].n_stop_ids = 1;
    }
    for (r = 0; r < R; r++) {
        int k, n = rq[r].n ? rq[r].n : 1;
        for (k = 0; k < n; k++) {
            it_sampling sp = rq[r].sampling;
            int len = run_alone(dec, prompts[r], rq[r].n_prompt, &sp, sp.seed + (uint64_t)k, rq[r].stop_ids, rq[r].n_stop_ids,
                                rq[r].max_tokens ? rq[r].max_tokens : 1000, want[r][k]);
            want[r][k][39] = len; /* length kept in the last slot */
        }
    }
    /* requests join at steps 0, 0, 1, 2, 3, 4; one is cancelled at once; run until all finish */
    CHECK(it_generator_submit(g, &rq[0], ids[0]) == IT_OK && it_generator_submit(g, &rq[1], ids[1]) == IT_OK, "submit");
    for (step = 0; step < 200 && (it_generator_pending(g) || step < R); step++) {
        const it_generation_event *ev;
        int n_ev, e;
        if (step >= 1 && step + 1 < R) CHECK(it_generator_submit(g, &rq[step + 1], ids[step + 1]) == IT_OK, "submit %d", step + 1);
        CHECK(it_generator_step(g, &ev, &n_ev) == IT_OK, "step %d", step);
        for (e = 0; e < n_ev; e++) {
            for (r = 0; r < R; r++)
                if (ev[e].user == &rq[r]) break;
            CHECK(r < R && ev[e].index < 4, "event of a known request");
            if (r >= R) continue;
            if (ev[e].token >= 0) got[r][ev[e].index][count[r][ev[e].index]++] = ev[e].token;
            if (ev[e].finish != IT_FINISH_NONE) why[r][ev[e].index] = ev[e].finish, finished++;
        }
    }
    CHECK(finished == 8, "every sample finished (%d of 8)", finished);
    for (r = 0; r < R; r++) {
        int k, n = rq[r].n ? rq[r].n : 1;
        for (k = 0; k < n; k++) {
            int len = want[r][k][39];
            CHECK(count[r][k] == len, "request %d sample %d: %d tokens, %d alone", r, k, count[r][k], len);
            for (i = 0; i < len && i < count[r][k]; i++) mism += got[r][k][i] != want[r][k][i];
        }
    }
    CHECK(mism == 0, "continuous batching differs from one sequence at a time at %d tokens", mism);
    CHECK(why[0][0] == IT_FINISH_LENGTH && why[3][0] == IT_FINISH_STOP && why[5][0] == IT_FINISH_CONTEXT,
          "finish reasons: length %s, stop %s, context %s", it_finish_reason_name(why[0][0]),
          it_finish_reason_name(why[3][0]), it_finish_reason_name(why[5][0]));
    CHECK(got[3][0][count[3][0] - 1] == stop, "the stop token is reported last");
    it_generator_counts(g, &computed, &shared);
    /* request 1's 3 samples share its prompt (6 tokens each for the two forks); requests 0..2 share
       their first whole blocks (same first tokens) */
    CHECK(shared >= 2 * rq[1].n_prompt, "prompt tokens shared: %lld", (long long)shared);
    CHECK(it_kv_cache_stats(it_generator_decoder(g)).free_blocks == it_kv_cache_stats(it_generator_decoder(g)).n_blocks,
          "every block back when all finished");
    /* cancellation, queued and running */
    {
        const it_generation_event *ev;
        int n_ev, id1[1], id2[1], cancelled = 0, e;
        CHECK(it_generator_submit(g, &rq[0], id1) == IT_OK && it_generator_submit(g, &rq[2], id2) == IT_OK, "submit two");
        it_generator_cancel(g, id2[0]);
        CHECK(it_generator_step(g, &ev, &n_ev) == IT_OK, "step");
        for (e = 0; e < n_ev; e++) cancelled += ev[e].id == id2[0] && ev[e].finish == IT_FINISH_CANCELLED;
        it_generator_cancel(g, id1[0]);
        CHECK(it_generator_step(g, &ev, &n_ev) == IT_OK, "step");
        for (e = 0; e < n_ev; e++) cancelled += ev[e].id == id1[0] && ev[e].finish == IT_FINISH_CANCELLED && ev[e].token == -1;
        CHECK(cancelled == 2 && it_generator_pending(g) == 0, "queued and running samples cancelled (%d)", cancelled);
    }
    /* bad requests */
    {
        int id[9];
        it_request bad = rq[0];
        int32_t big[40], oob = (int32_t)V;
        memset(big, 0, sizeof big);
        bad.prompt = big, bad.n_prompt = 32;
        CHECK(it_generator_submit(g, &bad, id) == IT_ERR_RANGE, "a prompt as long as the context");
        bad.n_prompt = 0;
        CHECK(it_generator_submit(g, &bad, id) == IT_ERR_RANGE, "an empty prompt");
        bad.prompt = &oob, bad.n_prompt = 1;
        CHECK(it_generator_submit(g, &bad, id) == IT_ERR_RANGE, "a token outside the vocabulary");
        bad = rq[0], bad.n = 9;
        CHECK(it_generator_submit(g, &bad, id) == IT_ERR_INVALID_ARGUMENT, "n above max_seqs");
    }
    it_context_destroy(ctx);
}

/* a pool too small for everything waiting: requests wait for blocks, then all finish */
static void test_generator_small_pool(void) {
    it_context *ctx = it_test_context(1);
    it_model *m = small_model(ctx, IT_ARCH_LLAMA, 32);
    it_generator_desc gd;
    it_generator *g;
    it_request rq;
    int32_t prompt[12];
    int i, ids[1], finished = 0, cache_full = 0, step;
    memset(&gd, 0, sizeof gd);
    gd.cache.max_seqs = 4, gd.cache.block_size = 4, gd.cache.max_context = 32, gd.cache.n_blocks = 8;
    CHECK(it_generator_create(m, &gd, &g) == IT_OK, "generator");
    memset(&rq, 0, sizeof rq);
    for (i = 0; i < 12; i++) prompt[i] = (int32_t)(i * 13 % 67);
    rq.prompt = prompt, rq.n_prompt = 12, rq.max_tokens = 10;
    for (i = 0; i < 4; i++) {
        prompt[0] = (int32_t)i; /* different first blocks: nothing shared */
        CHECK(it_generator_submit(g, &rq, ids) == IT_OK, "submit");
    }
    for (step = 0; step < 400 && it_generator_pending(g); step++) {
        const it_generation_event *ev;
        int n_ev, e;
        CHECK(it_generator_step(g, &ev, &n_ev) == IT_OK, "step");
        for (e = 0; e < n_ev; e++)
            if (ev[e].finish) finished++, cache_full += ev[e].finish == IT_FINISH_CACHE_FULL;
    }
    CHECK(finished == 4, "all four finished (%d), %d for want of blocks", finished, cache_full);
    /* a prompt larger than the whole pool can never run: refused at its turn */
    rq.n_prompt = 31;
    {
        int32_t longp[31] = {0};
        const it_generation_event *ev;
        int n_ev;
        rq.prompt = longp;
        CHECK(it_generator_submit(g, &rq, ids) == IT_OK, "submit a prompt bigger than the pool");
        CHECK(it_generator_step(g, &ev, &n_ev) == IT_OK && n_ev == 1 && ev[0].finish == IT_FINISH_CACHE_FULL,
              "it ends with cache_full at once");
    }
    it_context_destroy(ctx);
}

static void test_min_p(void) {
    float logits[8] = {1.0f, 3.0f, 2.9f, -1.0f, 0.0f, 2.0f, -5.0f, 0.5f}, scratch[16];
    int index[8], i, seen[8] = {0};
    it_sampling s = {0};
    it_rng r;
    it_rng_seed(&r, 1);
    s.temperature = 1.0f, s.min_p = 0.5f; /* keeps p >= 0.5 p_max: logits >= 3 + ln 0.5 = 2.31 */
    for (i = 0; i < 2000; i++) seen[it_sample(&s, &r, logits, 8, scratch, index)]++;
    CHECK(seen[1] > 0 && seen[2] > 0 && seen[1] + seen[2] == 2000, "min-p keeps only the two tokens within half of the best");
    s.min_p = 0.0f, s.temperature = 0.0f;
    CHECK(it_sample(&s, &r, logits, 8, scratch, index) == 1, "temperature 0 is greedy");
    CHECK(strcmp(it_finish_reason_name(IT_FINISH_CONTEXT), "context_full") == 0, "finish names");
}

/* it_decoder_next with a repetition penalty: each pick is it_sample on the fed logits after
   it_cpu_repetition_penalty over every id in the cache (prompt and generated), greedy and sampled
   from the same generator; it_decoder_feed's logits stay unpenalised; bad penalties refused. */
static void test_decoder_next_penalty(void) {
    it_context *ctx = it_test_context(1);
    it_model *m = small_model(ctx, IT_ARCH_LLAMA, MAXT);
    it_decoder *a, *b;
    int32_t ids[MAXT], next_a, next_b;
    const float *logits;
    float *copy, *scratch;
    int *index, V, i, n = 3, same = 1, moved = 0;
    unsigned char *seen;
    it_sampling s = {0};
    it_rng ra, rb, before;
    CHECK(it_decoder_create(m, MAXT, &a) == IT_OK && it_decoder_create(m, MAXT, &b) == IT_OK, "penalty: decoders");
    V = it_decoder_vocab(a);
    copy = (float *)malloc(sizeof(float) * (size_t)V);
    scratch = (float *)malloc(sizeof(float) * (size_t)V);
    index = (int *)malloc(sizeof(int) * (size_t)V);
    seen = (unsigned char *)calloc((size_t)V, 1);
    CHECK(it_decoder_set_repetition_penalty(a, 0.0f) == IT_ERR_INVALID_ARGUMENT &&
              it_decoder_set_repetition_penalty(a, -1.0f) == IT_ERR_INVALID_ARGUMENT &&
              it_decoder_set_repetition_penalty(a, INFINITY) == IT_ERR_INVALID_ARGUMENT &&
              it_decoder_set_repetition_penalty(a, 1.8f) == IT_OK,
          "penalty: 0, negative, inf refused; 1.8 taken");
    ids[0] = 1, ids[1] = 7, ids[2] = 1; /* a repeated id */
    it_rng_seed(&ra, 9);
    it_rng_seed(&rb, 9);
    s.temperature = 0.0f;
    for (i = 0; i < 8 && n < MAXT; i++, n++) {
        int32_t want;
        if (i == 4) s.temperature = 0.9f, s.top_k = 20, s.top_p = 0.9f; /* then sampled */
        CHECK(it_decoder_next(a, i ? &ids[n - 1] : ids, i ? 1 : n, &s, &ra, &next_a) == IT_OK, "penalty: next %d", i);
        CHECK(it_decoder_feed(b, i ? &ids[n - 1] : ids, i ? 1 : n, &logits) == IT_OK, "penalty: feed %d", i);
        memcpy(copy, logits, sizeof(float) * (size_t)V);
        it_cpu_repetition_penalty(copy, V, ids, (size_t)n, 1.8f, seen);
        before = rb;
        want = it_sample(&s, &rb, copy, V, scratch, index);
        next_b = it_sample(&s, &before, logits, V, scratch, index); /* the same draw, unpenalised */
        same &= next_a == want;
        moved += next_b != want;
        ids[n] = next_a;
    }
    CHECK(same, "penalty: every pick is it_sample after it_cpu_repetition_penalty over the cache's ids");
    CHECK(moved > 0, "penalty: it changed %d of 8 picks against the unpenalised logits", moved);
    free(copy);
    free(scratch);
    free(index);
    free(seen);
    it_context_destroy(ctx);
}

/* Past the context: with context_shift the generator drops the oldest block and goes on, token for
   token what a manual paged run with the same shifts gives; without it (or for GPT-2) it ends with
   context_full after the context's tokens. */
static void test_generator_shift(void) {
    int a;
    for (a = 0; a < 2; a++) {
        it_context *ctx = it_test_context(1);
        it_model *m = small_model(ctx, a ? IT_ARCH_GPT2 : IT_ARCH_LLAMA, 32);
        int V = m->config.vocab_size, shift, i, n_got, n_want;
        for (shift = 0; shift < 2; shift++) {
            it_generator_desc gd;
            it_generator *g;
            it_batch_decoder_desc bd = {0};
            it_batch_decoder *d;
            it_batch *b;
            it_request rq;
            int32_t prompt[6], got[64], want[64];
            it_finish_reason why = IT_FINISH_NONE;
            int id[1], step;
            memset(&gd, 0, sizeof gd);
            gd.cache.max_seqs = 2, gd.cache.block_size = 4, gd.cache.max_context = 16, gd.context_shift = shift;
            bd = gd.cache;
            CHECK(it_generator_create(m, &gd, &g) == IT_OK && it_batch_decoder_create(m, &bd, &d) == IT_OK &&
                  it_batch_create(ctx, 16, &b) == IT_OK, "setup");
            for (i = 0; i < 6; i++) prompt[i] = (int32_t)((i * 9 + 4) % V);
            memset(&rq, 0, sizeof rq);
            rq.prompt = prompt, rq.n_prompt = 6, rq.max_tokens = 40;
            CHECK(it_generator_submit(g, &rq, id) == IT_OK, "submit");
            for (step = 0, n_got = 0; step < 100 && it_generator_pending(g); step++) {
                const it_generation_event *ev;
                int n_ev, e;
                CHECK(it_generator_step(g, &ev, &n_ev) == IT_OK, "step");
                for (e = 0; e < n_ev; e++) {
                    if (ev[e].token >= 0) got[n_got++] = ev[e].token;
                    if (ev[e].finish) why = ev[e].finish;
                }
            }
            /* the manual run: the same shifts by hand */
            {
                const float *l = feed(d, b, 0, prompt, 6);
                for (n_want = 0; n_want < 40 && l;) {
                    int32_t t = it_cpu_argmax(l, V);
                    want[n_want++] = t;
                    if (n_want == 40) break;
                    if (it_kv_seq_len(d, 0) == 16) {
                        if (!shift || a) break;
                        it_kv_seq_shift(d, 0, 4);
                    }
                    l = feed(d, b, 0, &t, 1);
                }
            }
            if (shift && !a) {
                CHECK(why == IT_FINISH_LENGTH && n_got == 40, "llama with context shift: 40 tokens past a 16-token context "
                      "(%d, %s)", n_got, it_finish_reason_name(why));
            } else {
                CHECK(why == IT_FINISH_CONTEXT && n_got == 11, "%s%s: context_full after 11 tokens (%d, %s)",
                      a ? "gpt2" : "llama", shift ? " with shift asked" : "", n_got, it_finish_reason_name(why));
            }
            CHECK(n_got == n_want && !memcmp(got, want, sizeof(int32_t) * (size_t)(n_got < n_want ? n_got : n_want)),
                  "generator tokens equal the manual run (%d vs %d)", n_got, n_want);
        }
        it_context_destroy(ctx);
    }
}

/* the batch decoder's paged attention (block by block through the SGEMM) against the reference
   kernel on random pools: shuffled block tables, GQA, a sliding window, block sizes 1, 5 and 16 */
static void test_paged_attention_kernel(void) {
    enum { NSEQ = 3, ROWS = 7, HQ = 4, HKV = 2, D = 24, TABLE = 12 };
    it_context *ctx = it_test_context(1);
    static const int block_sizes[3] = {1, 5, 16};
    int bi, window;
    for (bi = 0; bi < 3; bi++)
        for (window = 0; window <= 6; window += 6) {
            int B = block_sizes[bi], n_blocks = NSEQ * TABLE, i, h;
            size_t block_stride = (size_t)B * HKV * D;
            float *k = (float *)calloc((size_t)n_blocks * block_stride, sizeof(float));
            float *v = (float *)calloc((size_t)n_blocks * block_stride, sizeof(float));
            float q[ROWS * HQ * D], want[ROWS * HQ * D], got[ROWS * HQ * D], scores[64];
            int32_t tables[NSEQ * TABLE], row_seq[ROWS], row_pos[ROWS];
            it_test_fill(k, (size_t)n_blocks * block_stride, 1.0f);
            it_test_fill(v, (size_t)n_blocks * block_stride, 1.0f);
            it_test_fill(q, ROWS * HQ * D, 1.0f);
            for (i = 0; i < n_blocks; i++) tables[i] = i;
            for (i = n_blocks - 1; i > 0; i--) { /* shuffled: a sequence's blocks anywhere in the pool */
                int r = it_test_below(i + 1), t = tables[i];
                tables[i] = tables[r], tables[r] = t;
            }
            for (i = 0; i < ROWS; i++) row_seq[i] = i % NSEQ, row_pos[i] = it_test_below(B * TABLE < 40 ? B * TABLE : 40);
            row_pos[0] = 0;
            it_cpu_paged_attention_forward(want, q, k, v, tables, TABLE, row_seq, row_pos, ROWS, B, block_stride, HQ, HKV, D, window);
            for (i = 0; i < ROWS; i++) /* the fast path on the same data */
                for (h = 0; h < HQ; h++)
                    it__paged_attention_row(&ctx->scratch[0], got + ((size_t)i * HQ + h) * D, scores, q + ((size_t)i * HQ + h) * D,
                                            k, v, tables + row_seq[i] * TABLE, row_pos[i], B, block_stride, 0, h / (HQ / HKV),
                                            HKV, D, window);
            CHECK(max_abs_diff(got, want, ROWS * HQ * D) < 1e-5, "paged attention fast path vs reference (block %d, window %d): %g",
                  B, window, max_abs_diff(got, want, ROWS * HQ * D));
            free(k), free(v);
        }
    it_context_destroy(ctx);
}

int main(void) {
    test_paged_attention_kernel();
    test_equal_small();
    test_equal_hf();
    test_sharing();
    test_exhaustion_and_errors();
    test_shift();
    test_generator();
    test_generator_small_pool();
    test_generator_shift();
    test_min_p();
    test_decoder_next_penalty();
    return it_test_finish();
}
