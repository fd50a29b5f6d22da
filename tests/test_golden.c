/* The library against PyTorch without PyTorch: tests/fixtures/golden_llama.bin was written once by
   tests/fixtures/make_golden.py (torch 1.13, float64 from float32 weights; the format is described
   there) for a tiny Llama with grouped-query attention and a tied head. Here the same weights go
   into an it_model and must give
     - the logits of the batch (logits graph), and the last position's logits through the KV-cache
       decoder;
     - the mean cross-entropy and every parameter gradient (training graph);
     - over 5 AdamW steps on that batch (weight decay on matrices only, gradient clipping), each
       step's loss and gradient norm, and the weights after the last step.
   Tensors compare like the parity suite: ||c - ref|| / ||ref|| <= tol and elementwise
   |c - ref| <= tol |ref| + tol max|ref|. The file's magic, version, CRC-32 and every record's
   bounds are checked first. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#define GOLDEN_PATH "tests/fixtures/golden_llama.bin" /* run from the repository root */
#define GOLDEN_VERSION 1u
#define MAX_RECORDS 256
#define TOL_FORWARD 1e-5 /* logits and loss: one forward in float32 (measured: 7e-7) */
#define TOL_GRAD 1e-5    /* gradients: a backward through every layer (measured: 1e-6) */
#define TOL_STEPS 1e-5   /* five optimizer steps in float32 (measured: 3e-7) */

typedef struct record {
    char name[IT_MAX_NAME + 16];
    uint32_t dtype; /* 1 = f32, 2 = i32 */
    int ndim, dims[IT_MAX_DIMS];
    size_t numel;
    const unsigned char *data; /* little-endian, inside the file buffer */
} record;
typedef struct golden {
    unsigned char *file;
    size_t size;
    int count;
    record rec[MAX_RECORDS];
    char error[160]; /* why golden_read refused the file */
} golden;

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
/* zlib's CRC-32, bit by bit: the test's own, independent of the library's */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* Reads and checks the file; 0 (the reason in g->error) when it is not a well-formed golden file. */
static int golden_read(golden *g, const char *path) {
    size_t pos = 16;
    int r;
    memset(g, 0, sizeof *g);
    g->file = it_test_read_file(path, &g->size);
    if (!g->file) {
        snprintf(g->error, sizeof g->error, "%s: cannot open (run from the repository root)", path);
        return 0;
    }
    if (g->size < 20 || memcmp(g->file, "ITGOLDEN", 8) != 0) {
        snprintf(g->error, sizeof g->error, "%s: not a golden file (magic)", path);
        return 0;
    }
    if (get_u32(g->file + 8) != GOLDEN_VERSION) {
        snprintf(g->error, sizeof g->error, "%s: version %u, this test reads %u", path, get_u32(g->file + 8), GOLDEN_VERSION);
        return 0;
    }
    if (crc32_of(g->file, g->size - 4) != get_u32(g->file + g->size - 4)) {
        snprintf(g->error, sizeof g->error, "%s: CRC-32 mismatch (the file is damaged)", path);
        return 0;
    }
    g->count = (int)get_u32(g->file + 12);
    if (g->count < 1 || g->count > MAX_RECORDS) {
        snprintf(g->error, sizeof g->error, "%s: %d records", path, g->count);
        return 0;
    }
    for (r = 0; r < g->count; r++) {
        record *rc = &g->rec[r];
        size_t end = g->size - 4, len;
        int d;
        if (pos + 4 > end || (len = get_u32(g->file + pos)) >= sizeof rc->name || pos + 4 + len + 8 > end) break;
        memcpy(rc->name, g->file + pos + 4, len);
        pos += 4 + len;
        rc->dtype = get_u32(g->file + pos);
        rc->ndim = (int)get_u32(g->file + pos + 4);
        pos += 8;
        if ((rc->dtype != 1 && rc->dtype != 2) || rc->ndim < 1 || rc->ndim > IT_MAX_DIMS ||
            pos + 4 * (size_t)rc->ndim > end)
            break;
        rc->numel = 1;
        for (d = 0; d < rc->ndim; d++) {
            rc->dims[d] = (int)get_u32(g->file + pos + 4 * (size_t)d);
            rc->numel *= (size_t)rc->dims[d];
        }
        pos += 4 * (size_t)rc->ndim;
        if (rc->numel > (end - pos) / 4) break;
        rc->data = g->file + pos;
        pos += 4 * rc->numel;
    }
    if (r < g->count || pos != g->size - 4) {
        snprintf(g->error, sizeof g->error, "%s: record %d is malformed or runs past the end", path, r);
        return 0;
    }
    return 1;
}
static const record *golden_find(const golden *g, const char *name) {
    int r;
    for (r = 0; r < g->count; r++)
        if (strcmp(g->rec[r].name, name) == 0) return &g->rec[r];
    return NULL;
}
/* The record's values as a malloc'd float array (i32 records converted); NULL when absent. */
static float *golden_f32(const golden *g, const char *name, size_t *numel) {
    const record *rc = golden_find(g, name);
    float *out;
    size_t i;
    if (!rc) {
        CHECK(0, "the golden file has no record %s", name);
        return NULL;
    }
    out = (float *)malloc(rc->numel * sizeof(float));
    for (i = 0; i < rc->numel; i++) {
        uint32_t bits = get_u32(rc->data + 4 * i);
        if (rc->dtype == 1) memcpy(&out[i], &bits, 4);
        else out[i] = (float)(int32_t)bits;
    }
    if (numel) *numel = rc->numel;
    return out;
}
static int golden_int(const golden *g, const char *name) {
    float *v = golden_f32(g, name, NULL);
    int x = v ? (int)v[0] : 0;
    free(v);
    return x;
}
static float golden_scalar(const golden *g, const char *name) {
    float *v = golden_f32(g, name, NULL);
    float x = v ? v[0] : 0.0f;
    free(v);
    return x;
}

/* One CHECK: got[n] against the reference by the parity suite's two criteria. */
static void check_tensor(const char *what, const float *got, const float *ref, size_t n, double tol) {
    double diff2 = 0.0, ref2 = 0.0, maxref = 0.0, worst = 0.0;
    size_t i, bad = 0, at = 0;
    for (i = 0; i < n; i++) maxref = fmax(maxref, fabs((double)ref[i]));
    for (i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]), lim = tol * fabs((double)ref[i]) + tol * maxref;
        diff2 += d * d;
        ref2 += (double)ref[i] * ref[i];
        if (!(d <= lim)) bad++;
        if (i == 0 || !(d - lim <= worst)) { /* NaN counts as the worst */
            worst = d - lim;
            at = i;
        }
    }
    CHECK(bad == 0 && sqrt(diff2) <= tol * sqrt(ref2), "%s: relative error %.3g, %zu of %zu elements off; worst [%zu] %.9g vs %.9g",
          what, ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2), bad, n, at, (double)got[at], (double)ref[at]);
}
/* Every parameter of the model against the records PREFIX.<name>: each exists with the same shape. */
static void check_params(const golden *g, it_context *ctx, const char *prefix, int gradients, double tol) {
    int i;
    for (i = 0; i < it_param_count(ctx); i++) {
        it_tensor *p = it_param_at(ctx, i);
        char name[IT_MAX_NAME + 16];
        size_t n = 0;
        float *ref;
        snprintf(name, sizeof name, "%s.%s", prefix, it_tensor_name(p));
        ref = golden_f32(g, name, &n);
        if (!ref) continue;
        CHECK(n == it_tensor_numel(p), "%s: %zu values in the file, the model's tensor has %zu", name, n, it_tensor_numel(p));
        if (n == it_tensor_numel(p)) check_tensor(name, gradients ? it_grad(p) : it_data(p), ref, n, tol);
        free(ref);
    }
}
/* The file's starting weights into the model; every record param.* must name a model parameter. */
static void load_params(const golden *g, it_context *ctx) {
    int r, loaded = 0;
    for (r = 0; r < g->count; r++) {
        const record *rc = &g->rec[r];
        it_tensor *p;
        float *v;
        if (strncmp(rc->name, "param.", 6) != 0) continue;
        p = it_param_find(ctx, rc->name + 6);
        CHECK(p != NULL, "%s: no such parameter in the model", rc->name);
        if (!p) continue;
        CHECK(rc->numel == it_tensor_numel(p) && rc->ndim == it_tensor_ndim(p), "%s: shape differs from the model's", rc->name);
        if (rc->numel != it_tensor_numel(p)) continue;
        v = golden_f32(g, rc->name, NULL);
        memcpy(it_data(p), v, rc->numel * sizeof(float));
        free(v);
        loaded++;
    }
    CHECK(loaded == it_param_count(ctx), "the file has weights for %d of the model's %d parameters", loaded, it_param_count(ctx));
}

static void test_golden(const golden *g, int threads) {
    it_context *ctx = it_test_context(threads);
    it_model_config cfg;
    it_model *m = NULL;
    it_model_graph train, logits;
    it_optimizer_desc od;
    it_optimizer *opt = NULL;
    it_decoder *dec = NULL;
    float *tokens_f, *targets_f, *ref_logits, *ref_loss, *step_loss, *step_norm;
    int32_t *tokens;
    size_t n_tok = 0, n_logits = 0, n_steps = 0;
    int B, T, V, i, k, steps;
    char what[96];

    memset(&cfg, 0, sizeof cfg);
    cfg.arch = IT_ARCH_LLAMA;
    cfg.vocab_size = V = golden_int(g, "config.vocab_size");
    cfg.dim = golden_int(g, "config.dim");
    cfg.n_layers = golden_int(g, "config.n_layers");
    cfg.n_heads = golden_int(g, "config.n_heads");
    cfg.n_kv_heads = golden_int(g, "config.n_kv_heads");
    cfg.ffn_dim = golden_int(g, "config.ffn_dim");
    cfg.max_seq = golden_int(g, "config.max_seq");
    cfg.untied = golden_int(g, "config.untied");
    cfg.rope_theta = golden_scalar(g, "config.rope_theta");
    cfg.norm_eps = golden_scalar(g, "config.norm_eps");
    tokens_f = golden_f32(g, "tokens", &n_tok);
    targets_f = golden_f32(g, "targets", NULL);
    if (!tokens_f || !targets_f || !golden_find(g, "tokens")) {
        it_context_destroy(ctx);
        return;
    }
    B = golden_find(g, "tokens")->dims[0];
    T = golden_find(g, "tokens")->dims[1];
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK, "model from the file's config: %s", it_context_last_error(ctx));
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, B, T, &train) == IT_OK, "training graph");
    CHECK(it_model_graph_create(m, IT_PURPOSE_LOGITS, B, T, &logits) == IT_OK, "logits graph");
    tokens = (int32_t *)malloc(n_tok * sizeof(int32_t));
    for (i = 0; i < (int)n_tok; i++) {
        tokens[i] = (int32_t)tokens_f[i];
        it_data_i32(train.tokens)[i] = tokens[i];
        it_data_i32(train.targets)[i] = (int32_t)targets_f[i];
        it_data_i32(logits.tokens)[i] = tokens[i];
    }
    load_params(g, ctx);

    /* forward: logits, and the decoder's logits at each row's last position */
    CHECK(it_graph_run(logits.graph, IT_RUN_FORWARD) == IT_OK, "logits run: %s", it_context_last_error(ctx));
    ref_logits = golden_f32(g, "logits", &n_logits);
    if (ref_logits) {
        CHECK(n_logits == (size_t)B * T * V, "logits record: %zu values for [%d, %d, %d]", n_logits, B, T, V);
        snprintf(what, sizeof what, "logits [%d, %d, %d] (%d threads)", B, T, V, threads);
        if (n_logits == (size_t)B * T * V) check_tensor(what, it_data(logits.logits), ref_logits, n_logits, TOL_FORWARD);
    }
    CHECK(it_decoder_create(m, 0, &dec) == IT_OK, "decoder");
    for (i = 0; dec && ref_logits && i < B; i++) {
        const float *last = NULL;
        it_decoder_reset(dec);
        CHECK(it_decoder_feed(dec, tokens + (size_t)i * T, T, &last) == IT_OK, "decoder feed row %d", i);
        snprintf(what, sizeof what, "decoder logits, row %d position %d", i, T - 1);
        if (last) check_tensor(what, last, ref_logits + ((size_t)i * T + T - 1) * V, (size_t)V, TOL_FORWARD);
    }

    /* forward + backward: the loss and every gradient */
    it_zero_grads(ctx);
    CHECK(it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "training run: %s", it_context_last_error(ctx));
    ref_loss = golden_f32(g, "loss", NULL);
    if (ref_loss) CHECK_CLOSE(it_data(train.loss)[0], ref_loss[0], TOL_FORWARD, 0.0, "loss");
    check_params(g, ctx, "grad", 1, TOL_GRAD);

    /* AdamW on the same batch: each step's loss and gradient norm, then the weights */
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    od.beta1 = golden_scalar(g, "adamw.beta1");
    od.beta2 = golden_scalar(g, "adamw.beta2");
    od.eps = golden_scalar(g, "adamw.eps");
    od.weight_decay = golden_scalar(g, "adamw.weight_decay");
    od.clip_norm = golden_scalar(g, "adamw.clip_norm");
    CHECK(it_optimizer_create(ctx, &od, &opt) == IT_OK, "AdamW: %s", it_context_last_error(ctx));
    steps = golden_int(g, "adamw.steps");
    step_loss = golden_f32(g, "steps.loss", &n_steps);
    step_norm = golden_f32(g, "steps.grad_norm", NULL);
    CHECK(steps >= 1 && n_steps == (size_t)steps, "%d steps, %zu losses in the file", steps, n_steps);
    for (k = 0; opt && step_loss && step_norm && k < steps && k < (int)n_steps; k++) {
        float norm = 0.0f;
        it_zero_grads(ctx);
        it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD);
        snprintf(what, sizeof what, "loss before AdamW step %d", k + 1);
        CHECK_CLOSE(it_data(train.loss)[0], step_loss[k], TOL_STEPS, 0.0, what);
        CHECK(it_optimizer_step(opt, golden_scalar(g, "adamw.lr"), 1.0f, &norm) == IT_OK, "step %d", k + 1);
        snprintf(what, sizeof what, "gradient norm at AdamW step %d", k + 1);
        CHECK_CLOSE(norm, step_norm[k], TOL_STEPS, 0.0, what);
    }
    check_params(g, ctx, "final", 0, TOL_STEPS);

    free(tokens_f), free(targets_f), free(tokens), free(ref_logits), free(ref_loss), free(step_loss), free(step_norm);
    it_context_destroy(ctx);
}

/* The reader itself refuses what is not a whole golden file (so a damaged fixture cannot pass
   by comparing nothing). */
static void test_reader(const golden *g) {
    golden bad;
    char path[256];
    unsigned char *copy = (unsigned char *)malloc(g->size);
    memcpy(copy, g->file, g->size);
    copy[g->size / 2] ^= 0x01;
    it_test_write_file(it_test_tmp_path(path, sizeof path, "golden_flipped.bin"), copy, g->size);
    CHECK(!golden_read(&bad, path) && strstr(bad.error, "CRC"), "a flipped byte fails the CRC check: %s", bad.error);
    free(bad.file);
    it_test_write_file(path, g->file, g->size - 5);
    CHECK(!golden_read(&bad, path), "a truncated file is refused");
    free(bad.file);
    remove(path);
    free(copy);
}

int main(void) {
    golden g;
    int ok = golden_read(&g, GOLDEN_PATH);
    CHECK(ok, "%s", g.error);
    if (ok) {
        printf("golden: %d records from %s\n", g.count, GOLDEN_PATH);
        test_reader(&g);
        test_golden(&g, 1);
        test_golden(&g, 3);
    }
    free(g.file);
    return it_test_finish();
}
