/* The communicator interface without MPI (tests/mpi/ has the multi-rank suite): the parts
   it_comm_part cuts, the one-rank communicator every context has (the gradient sync costs
   nothing and changes no bit), ZeRO-1 over one rank, the checks of the optimizer's ZeRO stage,
   the data-parallel fields of trainer_state.json (world_size, every rank's data RNG): the
   round trip and each hostile value refused with the field named; and the loss weight a rank
   gives its share of the batch (it_graph_set_loss_weight). */
#include "ckpt_common.h"

static void test_parts(void) {
    static const size_t ns[] = {0, 1, 15, 16, 17, 1000, 4099, 10815744};
    size_t i;
    int size, r;
    for (i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size = 1; size <= 7; size++) {
            size_t expect = 0, b, e;
            int ok = 1;
            for (r = 0; r < size; r++) {
                it_comm_part(ns[i], size, r, &b, &e);
                ok &= b == expect && e >= b && e <= ns[i];
                ok &= r == size - 1 || e == ns[i] || (e - b) % 16 == 0; /* 64-byte parts but the last */
                expect = e;
            }
            CHECK(ok && expect == ns[i], "it_comm_part(%zu, %d): parts do not tile the block", ns[i], size);
        }
}

/* A few AdamW steps with and without the one-rank sync calls (and ZeRO-1 over one rank): the
   same bits. */
static void test_one_rank(void) {
    it_model_config c = it_test_llama();
    float *w[2];
    int pass;
    size_t n = 0;
    for (pass = 0; pass < 2; pass++) {
        it_context *ctx = it_test_context(1);
        it_model *m;
        it_model_graph g;
        it_optimizer *opt;
        it_optimizer_desc od;
        int s, k;
        memset(&od, 0, sizeof od);
        od.kind = IT_OPTIMIZER_ADAMW;
        od.clip_norm = 0.5f;
        od.zero_stage = pass;
        CHECK(it_context_comm(ctx)->size == 1 && it_context_comm(ctx)->rank == 0, "a context without a communicator is one rank");
        if (it_model_create(ctx, &c, &m) != IT_OK || it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 8, &g) != IT_OK ||
            it_optimizer_create(ctx, &od, &opt) != IT_OK)
            exit(2);
        CHECK(opt->shard_begin == 0 && opt->shard_end == it_grad_numel(ctx), "one rank keeps all of the state");
        it_model_init(m, 3);
        for (s = 0; s < 3; s++) {
            it_zero_grads(ctx);
            for (k = 0; k < 16; k++) it_data_i32(g.tokens)[k] = (k * 7 + s) % 64, it_data_i32(g.targets)[k] = (k * 5 + s) % 64;
            if (pass) CHECK(it_grad_sync_arm(g.graph) == IT_OK, "arm with one rank");
            it_graph_run(g.graph, IT_RUN_FORWARD_BACKWARD);
            if (pass) CHECK(it_grad_sync_wait(ctx) == IT_OK, "wait with one rank");
            it_optimizer_step(opt, 1e-2f, 1.0f, NULL);
        }
        CHECK(it_optimizer_gather_state(opt) == IT_OK && it_optimizer_shard_state(opt) == IT_OK, "gather / shard: no-ops");
        CHECK(it_grad_sync_get_stats(ctx).bytes == 0, "one rank sends nothing");
        n = it_param_numel(ctx);
        w[pass] = (float *)malloc(n * sizeof(float));
        memcpy(w[pass], it_param_block(ctx), n * sizeof(float));
        it_context_destroy(ctx);
    }
    CHECK(memcmp(w[0], w[1], n * sizeof(float)) == 0, "the one-rank sync and ZeRO-1 change no bit");
    free(w[0]);
    free(w[1]);
    {
        it_context *ctx = it_test_context(1);
        it_optimizer *opt;
        it_optimizer_desc od;
        it_param(ctx, "w", 1, (int[]){8});
        memset(&od, 0, sizeof od);
        od.zero_stage = 2;
        CHECK(it_optimizer_create(ctx, &od, &opt) == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(ctx), "ZeRO stage 2"),
              "ZeRO-2 is refused: %s", it_context_last_error(ctx));
        it_context_destroy(ctx);
    }
}

/* Writes a JSON text with its "irontensor_crc32" recomputed (the CRC-32 of the file with its 8
   digits read as zeros), as the library writes it. */
static void write_sealed(const char *path, const char *json) {
    char *copy = (char *)malloc(strlen(json) + 1), *digits, hex[9];
    strcpy(copy, json);
    digits = strstr(copy, "\"irontensor_crc32\": \"") + strlen("\"irontensor_crc32\": \"");
    memcpy(digits, "00000000", 8);
    snprintf(hex, sizeof hex, "%08lx", (unsigned long)it__data_crc32((const uint8_t *)copy, strlen(copy)));
    memcpy(digits, hex, 8);
    it_test_write_file(path, copy, strlen(copy));
    free(copy);
}

static void test_trainer_state_ranks(void) {
    it_model_config c = it_test_llama();
    ck_setup s = ck_make(&c, 1, IT_OPTIMIZER_ADAMW, 1);
    it_trainer_state ts = ck_ts(), back;
    char dir[512], path[600], *text, *crcless;
    size_t n;
    int i;
    static const struct { const char *from, *to, *why; } bad[] = {
        {"\"world_size\": 3", "\"world_size\": 0", "world_size"},
        {"\"world_size\": 3", "\"world_size\": 257", "world_size"},
        {"\"world_size\": 3", "\"world_size\": 4", "rank_data_rng"},
        {"\"world_size\": 3", "\"world_size\": 1", "rank_data_rng"},
        {"\"world_size\": 3", "\"world_size\": \"3\"", "world_size"},
        {"\"rank_data_rng\": [[", "\"rank_data_rng\": [[\"0\", \"0\", \"0\", \"0\"], [", "rank_data_rng"},
        {"\"rank_data_rng\": [[", "\"rank_data_rng\": [[\"1\"], [", "rank_data_rng"},
        {"\"rank_data_rng\": [[", "\"rank_data_rng\": [7, [", "rank_data_rng"},
    };
    it_test_tmp_path(dir, sizeof dir, "comm_ts");
    it_test_remove_tree(dir);
    ts.world_size = 3;
    it_rng_seed(&ts.rank_data_rng[0], 11);
    it_rng_seed(&ts.rank_data_rng[1], 12);
    CHECK(it_checkpoint_save(s.ctx, s.m, s.opt, &ts, dir, NULL) == IT_OK, "save: %s", it_context_last_error(s.ctx));
    CHECK(it_checkpoint_read_trainer_state(s.ctx, dir, &back) == IT_OK, "read: %s", it_context_last_error(s.ctx));
    CHECK(back.world_size == 3 && memcmp(back.rank_data_rng, ts.rank_data_rng, 2 * sizeof(it_rng)) == 0 &&
              memcmp(&back.data_rng, &ts.data_rng, sizeof(it_rng)) == 0,
          "every rank's data RNG comes back");
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    text = (char *)it_test_read_file(path, &n);
    text = (char *)realloc(text, n + 1);
    text[n] = 0;
    crcless = text; /* every edit is resealed with a fresh checksum, so it reaches the field checks */
    write_sealed(path, crcless);
    CHECK(it_checkpoint_read_trainer_state(s.ctx, dir, &back) == IT_OK && back.world_size == 3, "resealed: %s",
          it_context_last_error(s.ctx));
    for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        char *edited = replace(crcless, bad[i].from, bad[i].to);
        it_trainer_state untouched = ck_ts();
        write_sealed(path, edited);
        back = untouched;
        CHECK(it_checkpoint_read_trainer_state(s.ctx, dir, &back) == IT_ERR_FORMAT &&
                  strstr(it_context_last_error(s.ctx), bad[i].why) && memcmp(&back, &untouched, sizeof back) == 0,
              "'%s': refused naming %s: %s", bad[i].to, bad[i].why, it_context_last_error(s.ctx));
        free(edited);
    }
    { /* a one-process state writes neither field, and a stray rank_data_rng is refused */
        char *no_ws = replace(crcless, "\"world_size\": 3,\n", "");
        write_sealed(path, no_ws);
        CHECK(it_checkpoint_read_trainer_state(s.ctx, dir, &back) == IT_ERR_FORMAT &&
                  strstr(it_context_last_error(s.ctx), "without a \"world_size\""),
              "rank_data_rng without world_size: %s", it_context_last_error(s.ctx));
        free(no_ws);
    }
    ts.world_size = 2;
    memset(&ts.rank_data_rng[0], 0, sizeof(it_rng));
    CHECK(it_checkpoint_save(s.ctx, s.m, s.opt, &ts, dir, NULL) == IT_ERR_RANGE && strstr(it_context_last_error(s.ctx), "rank 1"),
          "a save with a dead rank generator is refused: %s", it_context_last_error(s.ctx));
    free(text);
    it_test_remove_tree(dir);
    ck_free(&s);
}


/* The gradients of weight * loss, through the fused head of a model's training graph and through
   a plain it_cross_entropy, with ignored targets: a power-of-two weight scales every gradient
   exactly (each backward op is linear in its incoming gradient), 0 gives none, 0.3 scales to
   float rounding, and the loss's value never changes. */
static void grads_at(it_context *ctx, it_graph *g, const float *loss, float weight, float *grads, float *loss_out) {
    size_t n = it_grad_numel(ctx);
    it_zero_grads(ctx);
    it_graph_set_loss_weight(g, weight);
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "run: %s", it_context_last_error(ctx));
    memcpy(grads, it_grad_block(ctx), n * sizeof(float));
    *loss_out = *loss;
}
static void check_weighted(it_context *ctx, it_graph *g, const float *loss, const char *what) {
    size_t n = it_grad_numel(ctx), i, exact = 0, zero = 0, nonzero = 0;
    float *g1 = (float *)malloc(n * sizeof(float)), *gw = (float *)malloc(n * sizeof(float)), l1, lw;
    if (!g1 || !gw) exit(2);
    grads_at(ctx, g, loss, 1.0f, g1, &l1);
    for (i = 0; i < n; i++) nonzero += g1[i] != 0.0f;
    grads_at(ctx, g, loss, 0.25f, gw, &lw);
    for (i = 0; i < n; i++) exact += gw[i] == 0.25f * g1[i];
    CHECK(exact == n && lw == l1 && nonzero > n / 2, "%s: weight 0.25: %zu of %zu gradients exactly 0.25x (%zu nonzero), "
          "loss %g vs %g", what, exact, n, nonzero, (double)lw, (double)l1);
    grads_at(ctx, g, loss, 0.3f, gw, &lw);
    { /* rounded differently along the way: the difference against the gradient's norm */
        double diff = 0.0, norm = 0.0;
        for (i = 0; i < n; i++) {
            double d = (double)gw[i] - 0.3 * (double)g1[i];
            diff += d * d, norm += 0.09 * (double)g1[i] * (double)g1[i];
        }
        CHECK(sqrt(diff) <= 1e-6 * sqrt(norm) && lw == l1, "%s: weight 0.3: |difference| / |gradient| = %.3g", what,
              sqrt(diff / norm));
    }
    grads_at(ctx, g, loss, 0.0f, gw, &lw);
    for (i = 0; i < n; i++) zero += gw[i] == 0.0f;
    CHECK(zero == n && lw == l1, "%s: weight 0: %zu of %zu gradients zero", what, zero, n);
    it_graph_set_loss_weight(g, 1.0f);
    free(g1), free(gw);
}
static void test_loss_weight(void) {
    it_model_config c = it_test_llama();
    it_context *ctx = it_test_context(1);
    it_model *m;
    it_model_graph mg;
    int k;
    if (it_model_create(ctx, &c, &m) != IT_OK || it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 8, &mg) != IT_OK) exit(2);
    it_model_init(m, 5);
    for (k = 0; k < 16; k++) it_data_i32(mg.tokens)[k] = (k * 7 + 1) % 64, it_data_i32(mg.targets)[k] = k % 3 ? (k * 5) % 64 : -1;
    check_weighted(ctx, mg.graph, it_data(mg.loss), "model graph (fused head)");
    it_context_destroy(ctx);
    { /* logits = x W^T, then it_cross_entropy with ignore index -1 */
        int xd[2] = {6, 8}, wd[2] = {11, 8}, td[1] = {6};
        it_graph *g;
        it_tensor *x, *w, *t, *loss;
        ctx = it_test_context(1);
        w = it_param(ctx, "w", 2, wd);
        g = it_graph_create(ctx);
        x = it_input(g, "x", IT_F32, 2, xd);
        t = it_input(g, "t", IT_I32, 1, td);
        loss = it_cross_entropy(g, it_matmul(g, x, w, 0, 1), t, -1);
        it_graph_backward(g, loss);
        if (it_graph_plan(g) != IT_OK) exit(2);
        for (k = 0; k < 88; k++) it_data(w)[k] = sinf(0.37f * (float)k);
        for (k = 0; k < 48; k++) it_data(x)[k] = cosf(0.53f * (float)k);
        for (k = 0; k < 6; k++) it_data_i32(t)[k] = k == 2 ? -1 : (k * 4) % 11;
        check_weighted(ctx, g, it_data(loss), "it_cross_entropy");
        it_context_destroy(ctx);
    }
}

int main(void) {
    test_parts();
    test_one_rank();
    test_trainer_state_ranks();
    test_loss_weight();
    return it_test_finish();
}
