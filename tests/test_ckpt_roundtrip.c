/* Checkpoint round trips: save -> load into a fresh context -> identical bytes of every parameter,
   every optimizer state tensor and the trainer state; bf16; GPT-2's fused c_attn; prune; paths. */
#include "ckpt_common.h"

static char root[256];

static void roundtrip(const char *what, const it_model_config *c, it_optimizer_kind kind) {
    char dir[512];
    ck_setup a = ck_make(c, 11, kind, 3), b = ck_make(c, 12, kind, 1);
    it_trainer_state ts = ck_ts(), ts2;
    it_result r;
    size_t n = it_param_numel(a.ctx);
    snprintf(dir, sizeof dir, "%s/%s", root, what);
    r = it_checkpoint_save(a.ctx, a.m, a.opt, &ts, dir, NULL);
    CHECK(r == IT_OK, "%s: save: %s", what, it_context_last_error(a.ctx));
    CHECK(memcmp(it_param_block(a.ctx), it_param_block(b.ctx), n * 4) != 0, "%s: models differ before load", what);
    memset(&ts2, 0, sizeof ts2);
    r = it_checkpoint_load(b.ctx, b.m, b.opt, &ts2, dir);
    CHECK(r == IT_OK, "%s: load: %s", what, it_context_last_error(b.ctx));
    CHECK(memcmp(it_param_block(a.ctx), it_param_block(b.ctx), n * 4) == 0, "%s: parameters differ after load", what);
    CHECK(memcmp(a.opt->state, b.opt->state, a.opt->state_numel * 4) == 0, "%s: optimizer state differs after load", what);
    CHECK(a.opt->step == b.opt->step, "%s: optimizer step %d vs %d", what, a.opt->step, b.opt->step);
    CHECK(ts2.step == ts.step && ts2.tokens_seen == ts.tokens_seen && ts2.seed == ts.seed, "%s: trainer counters", what);
    CHECK(memcmp(&ts2.data_rng, &ts.data_rng, sizeof ts.data_rng) == 0 && memcmp(&ts2.rng, &ts.rng, sizeof ts.rng) == 0,
          "%s: rng state", what);
    CHECK(memcmp(&ts2.schedule, &ts.schedule, sizeof ts.schedule) == 0 &&
              ts2.best_val_loss == ts.best_val_loss && ts2.batch == 4 && ts2.seq == 16 && ts2.accum_steps == 2,
          "%s: schedule fields", what);
    CHECK(ts2.optimizer.kind == a.opt->desc.kind && ts2.optimizer.beta1 == a.opt->desc.beta1 &&
              ts2.optimizer.beta2 == a.opt->desc.beta2 && ts2.optimizer.eps == a.opt->desc.eps &&
              ts2.optimizer.weight_decay == a.opt->desc.weight_decay && ts2.optimizer.momentum == a.opt->desc.momentum,
          "%s: optimizer hyperparameters", what);
    {
        it_model_config rc;
        it_trainer_state t3;
        CHECK(it_checkpoint_read_config(b.ctx, dir, &rc) == IT_OK, "%s: read_config", what);
        CHECK(rc.arch == c->arch && rc.dim == c->dim && rc.n_kv_heads == c->n_kv_heads && rc.untied == c->untied &&
                  rc.ffn_dim == c->ffn_dim && rc.max_seq == c->max_seq && rc.vocab_size == c->vocab_size,
              "%s: read_config fields", what);
        CHECK(it_checkpoint_read_trainer_state(b.ctx, dir, &t3) == IT_OK && t3.step == 20, "%s: read_trainer_state", what);
        CHECK(it_checkpoint_validate(b.ctx, dir) == IT_OK, "%s: validate: %s", what, it_context_last_error(b.ctx));
    }
    /* saving over an existing checkpoint replaces it whole and leaves no siblings */
    it_param_fill(it_param_at(a.ctx, 0), 0.5f);
    r = it_checkpoint_save(a.ctx, a.m, NULL, NULL, dir, NULL);
    CHECK(r == IT_OK, "%s: second save: %s", what, it_context_last_error(a.ctx));
    {
        char p[600];
        snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
        CHECK(access(p, F_OK) != 0, "%s: the replaced checkpoint lost its optimizer file", what);
        snprintf(p, sizeof p, "%s.old-%ld", dir, (long)getpid());
        CHECK(access(p, F_OK) != 0, "%s: old copy removed", what);
    }
    r = it_checkpoint_load(b.ctx, b.m, NULL, NULL, dir);
    CHECK(r == IT_OK && memcmp(it_param_block(a.ctx), it_param_block(b.ctx), n * 4) == 0, "%s: reload after overwrite", what);
    r = it_checkpoint_load(b.ctx, b.m, b.opt, NULL, dir);
    CHECK(r != IT_OK && strstr(it_context_last_error(b.ctx), "optimizer.safetensors"), "%s: opt requested but absent: %s", what,
          it_context_last_error(b.ctx));
    ck_free(&a);
    ck_free(&b);
}

static void bf16_save(void) {
    char dir[512];
    it_model_config c = it_test_llama();
    ck_setup a = ck_make(&c, 21, IT_OPTIMIZER_INVALID, 0), b = ck_make(&c, 22, IT_OPTIMIZER_INVALID, 0);
    it_checkpoint_options o;
    int i, bad = 0;
    size_t j;
    memset(&o, 0, sizeof o);
    o.dtype = IT_BF16;
    snprintf(dir, sizeof dir, "%s/bf16", root);
    CHECK(it_checkpoint_save(a.ctx, a.m, NULL, NULL, dir, &o) == IT_OK, "bf16 save: %s", it_context_last_error(a.ctx));
    CHECK(it_checkpoint_load(b.ctx, b.m, NULL, NULL, dir) == IT_OK, "bf16 load: %s", it_context_last_error(b.ctx));
    for (i = 0; i < it_param_count(a.ctx); i++) {
        it_tensor *pa = it_param_at(a.ctx, i), *pb = it_param_at(b.ctx, i);
        for (j = 0; j < it_tensor_numel(pa); j++)
            if (it_data(pb)[j] != it_bf16_to_f32(it_f32_to_bf16(it_data(pa)[j]))) bad++;
    }
    CHECK(bad == 0, "bf16: %d values are not the bf16 rounding of the original", bad);
    {
        char p[600];
        size_t n;
        unsigned char *buf;
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        buf = it_test_read_file(p, &n);
        CHECK(buf && strstr((const char *)buf + 8, "\"BF16\"") && !strstr((const char *)buf + 8, "\"F32\""), "bf16 header");
        snprintf(p, sizeof p, "%s/config.json", dir);
        free(buf);
        buf = it_test_read_file(p, &n);
        buf[n] = 0;
        CHECK(strstr((const char *)buf, "\"torch_dtype\": \"bfloat16\"") != NULL, "bf16 torch_dtype");
        free(buf);
    }
    o.dtype = IT_I32;
    CHECK(it_checkpoint_save(a.ctx, a.m, NULL, NULL, dir, &o) == IT_ERR_INVALID_ARGUMENT, "i32 save refused");
    ck_free(&a);
    ck_free(&b);
}

/* The file must be the safetensors layout exactly: header length a multiple of 8, JSON sorted by
   name, offsets contiguous; GPT-2 c_attn = [q | k | v] by columns in Conv1D [in, out] layout. */
static void layout(void) {
    char dir[512], p[600];
    it_model_config c = it_test_gpt2();
    ck_setup a = ck_make(&c, 31, IT_OPTIMIZER_INVALID, 0);
    it_context *ctx = a.ctx;
    it__st_file f;
    const it__st_tensor *t;
    int i, bad = 0, C = c.dim, r;
    uint64_t N = 0;
    snprintf(dir, sizeof dir, "%s/layout", root);
    CHECK(it_checkpoint_save(ctx, a.m, NULL, NULL, dir, NULL) == IT_OK, "layout save");
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    memset(&f, 0, sizeof f);
    f.label = p;
    f.buf = it_test_read_file(p, &f.size);
    for (i = 7; i >= 0; i--) N = N << 8 | f.buf[i];
    CHECK(N % 8 == 0 && f.buf[8 + N - 1] != 0, "header length %llu is a multiple of 8", (unsigned long long)N);
    CHECK(it__st_parse(ctx, &f) == IT_OK, "parse: %s", it_context_last_error(ctx));
    CHECK(f.n_t == 2 + 12 * 2 + 2, "gpt2 tensor count %d", f.n_t);
    for (i = 1; i < f.n_t; i++)
        if (strcmp(f.t[i - 1].name, f.t[i].name) >= 0 || f.t[i].begin != f.t[i - 1].end) bad++;
    CHECK(bad == 0, "tensors sorted by name with contiguous offsets");
    t = it__st_find(&f, "transformer.h.1.attn.c_attn.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == (uint64_t)C && t->shape[1] == (uint64_t)(3 * C), "c_attn.weight [C, 3C]");
    if (t) {
        const float *d = (const float *)(f.data + t->begin);
        const char *parts[3] = {"h.1.attn.q.weight", "h.1.attn.k.weight", "h.1.attn.v.weight"};
        int k, row, col;
        bad = 0;
        for (k = 0; k < 3; k++) {
            const float *src = it_data(it_param_find(ctx, parts[k]));
            for (row = 0; row < C; row++)
                for (col = 0; col < C; col++)
                    if (d[row * 3 * C + k * C + col] != src[row * C + col]) bad++;
        }
        CHECK(bad == 0, "c_attn columns are q | k | v (%d mismatches)", bad);
    }
    t = it__st_find(&f, "transformer.h.0.attn.c_attn.bias");
    if (t) {
        const float *d = (const float *)(f.data + t->begin);
        it_data(it_param_find(ctx, "h.0.attn.v.bias"))[3] = 0.0f; /* (biases are 0 after init) */
        CHECK(t->shape[0] == (uint64_t)(3 * C) && d[2 * C + 3] == 0.0f, "c_attn.bias [3C]");
    } else
        CHECK(0, "c_attn.bias missing");
    CHECK(it__st_find(&f, "lm_head.weight") == NULL && it__st_find(&f, "transformer.wpe.weight") != NULL, "tied gpt2 names");
    {
        const it__jv *fmt = it__st_meta(&f, "format");
        CHECK(fmt && strcmp(fmt->str, "pt") == 0, "__metadata__ format pt");
    }
    free(f.buf); /* the test's (it_test_read_file), not the context's */
    f.buf = NULL;
    it__st_free(ctx, &f);
    r = it_safetensors_inspect(ctx, p, NULL, NULL);
    CHECK(r == IT_OK, "inspect");
    ck_free(&a);
}

static void prune(void) {
    char parent[512], p[600];
    it_model_config c = it_test_llama();
    ck_setup a = ck_make(&c, 41, IT_OPTIMIZER_INVALID, 0);
    int64_t step;
    int n = 0;
    snprintf(parent, sizeof parent, "%s/runs", root);
    mkdir(parent, 0755);
    for (step = 100; step <= 600; step += 100) {
        it_checkpoint_path(p, sizeof p, parent, "step-", step);
        CHECK(it_checkpoint_save(a.ctx, a.m, NULL, NULL, p, NULL) == IT_OK, "prune save");
    }
    snprintf(p, sizeof p, "%s/step-best", parent); /* not PREFIX<digits>: left alone */
    mkdir(p, 0755);
    CHECK(it_checkpoint_prune(a.ctx, parent, "step-", 2) == IT_OK, "prune: %s", it_context_last_error(a.ctx));
    for (step = 100; step <= 600; step += 100) {
        it_checkpoint_path(p, sizeof p, parent, "step-", step);
        n += it__dir_exists(p);
        if (step >= 500) CHECK(it__dir_exists(p), "kept %s", p);
    }
    CHECK(n == 2, "prune kept %d", n);
    snprintf(p, sizeof p, "%s/step-best", parent);
    CHECK(it__dir_exists(p), "prune leaves other names alone");
    CHECK(it_checkpoint_prune(a.ctx, parent, "step-", 0) == IT_ERR_INVALID_ARGUMENT, "prune keep 0");
    it_checkpoint_path(p, sizeof p, "runs", "step-", 42);
    CHECK(strcmp(p, "runs/step-00000042") == 0, "it_checkpoint_path: %s", p);
    ck_free(&a);
}

/* DIR missing, DIR.old-N present (killed between the renames): loads read the old copy, recover
   renames it back, and stale tmp directories go away. */
static void recovery(void) {
    char dir[512], old[600], tmp[600];
    it_model_config c = it_test_llama();
    ck_setup a = ck_make(&c, 51, IT_OPTIMIZER_INVALID, 0), b = ck_make(&c, 52, IT_OPTIMIZER_INVALID, 0);
    size_t n = it_param_numel(a.ctx);
    pid_t gone;
    snprintf(dir, sizeof dir, "%s/rec", root);
    gone = fork(); /* leftovers of a process that is gone (recovery keeps a live one's) */
    if (gone == 0) _exit(0);
    waitpid(gone, NULL, 0);
    snprintf(old, sizeof old, "%s.old-%ld", dir, (long)gone);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)gone);
    CHECK(it_checkpoint_save(a.ctx, a.m, NULL, NULL, dir, NULL) == IT_OK, "recovery save");
    CHECK(rename(dir, old) == 0, "rename");
    mkdir(tmp, 0755); /* a half-written save */
    CHECK(it_checkpoint_load(b.ctx, b.m, NULL, NULL, dir) == IT_OK, "load falls back to DIR.old-*: %s", it_context_last_error(b.ctx));
    CHECK(memcmp(it_param_block(a.ctx), it_param_block(b.ctx), n * 4) == 0, "fallback data");
    CHECK(it_checkpoint_recover(b.ctx, dir) == IT_OK && it__dir_exists(dir) && !it__dir_exists(old) && !it__dir_exists(tmp),
          "recover renames back and cleans");
    CHECK(it_checkpoint_load(b.ctx, b.m, NULL, NULL, dir) == IT_OK, "load after recover");
    ck_free(&a);
    ck_free(&b);
}

int main(void) {
    it_model_config l = it_test_llama(), g = it_test_gpt2(), tied = it_test_llama();
    snprintf(root, sizeof root, "/tmp/it_ckpt_rt_%ld", (long)getpid());
    it_test_remove_tree(root);
    mkdir(root, 0755);
    tied.untied = 0;
    tied.n_kv_heads = 4;
    roundtrip("llama_gqa_untied_adamw", &l, IT_OPTIMIZER_ADAMW);
    roundtrip("llama_gqa_untied_lion", &l, IT_OPTIMIZER_LION);
    roundtrip("llama_tied_sgd", &tied, IT_OPTIMIZER_SGD);
    roundtrip("gpt2_adamw", &g, IT_OPTIMIZER_ADAMW);
    g.untied = 1;
    roundtrip("gpt2_untied_lion", &g, IT_OPTIMIZER_LION);
    bf16_save();
    layout();
    prune();
    recovery();
    it_test_remove_tree(root);
    return it_test_finish();
}
