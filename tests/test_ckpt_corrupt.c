/* Corrupt checkpoints: every damaged file gives a clear error naming the file, never a crash, and
   the model, optimizer and trainer state being loaded stay untouched. Run it under ASan/UBSan. */
#include "ckpt_common.h"

static char root[256], good[512], work[512];
static ck_setup dst;
static float *snap_params, *snap_state, *good_params;
static it_trainer_state snap_ts, cur_ts;
static const char *files[4] = {"config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"};
static unsigned char *orig[4];
static size_t orig_n[4];
static int n_cases;

static void restore_all(void) {
    char p[600];
    int i;
    for (i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", work, files[i]);
        it_test_write_file(p, orig[i], orig_n[i]);
    }
}
/* The outcome of loading work/ into dst: failure with a message that names `must_name`, nothing
   modified. */
static void expect_failed(it_result r, const char *what, const char *must_name) {
    size_t n = it_param_numel(dst.ctx);
    const char *msg = it_context_last_error(dst.ctx);
    n_cases++;
    CHECK(r < 0, "%s: load succeeded", what);
    CHECK(msg[0] && (!must_name || strstr(msg, must_name)), "%s: message '%s' should name %s", what, msg, must_name);
    CHECK(memcmp(snap_params, it_param_block(dst.ctx), n * 4) == 0, "%s: parameters modified", what);
    CHECK(memcmp(snap_state, dst.opt->state, dst.opt->state_numel * 4) == 0 && dst.opt->step == 1, "%s: optimizer modified", what);
    CHECK(memcmp(&snap_ts, &cur_ts, sizeof cur_ts) == 0, "%s: trainer state modified", what);
}
static void expect_fail(const char *what, const char *must_name) {
    expect_failed(it_checkpoint_load(dst.ctx, dst.m, dst.opt, &cur_ts, work), what, must_name);
}
/* config.json may be edited by hand (a checksum mismatch there only warns), so a damaged copy
   either fails like any other file or, when every field still validates, loads the right weights
   with a warning naming config.json. After such a load dst is put back for the next case. */
static void expect_fail_or_warned(const char *what) {
    size_t n = it_param_numel(dst.ctx);
    it_result r;
    it_test_last_warning[0] = 0;
    r = it_checkpoint_load(dst.ctx, dst.m, dst.opt, &cur_ts, work);
    if (r < 0) {
        expect_failed(r, what, "config.json");
        return;
    }
    n_cases++;
    CHECK(strstr(it_test_last_warning, "config.json") && strstr(it_test_last_warning, "checksum mismatch"),
          "%s: loaded without a warning naming config.json (got '%s')", what, it_test_last_warning);
    CHECK(memcmp(good_params, it_param_block(dst.ctx), n * 4) == 0, "%s: loaded other weights", what);
    memcpy(it_param_block(dst.ctx), snap_params, n * 4);
    memcpy(dst.opt->state, snap_state, dst.opt->state_numel * 4);
    dst.opt->step = 1;
    cur_ts = snap_ts;
}
static void put(int file, const void *p, size_t n) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", work, files[file]);
    it_test_write_file(path, p, n);
}
/* Rewrites a safetensors file from header text + data (header padded to 8). */
static void put_st(int file, const char *header, const unsigned char *data, size_t data_n) {
    size_t hl = strlen(header), N = (hl + 7) / 8 * 8, i;
    unsigned char *b = (unsigned char *)malloc(8 + N + data_n + 1);
    for (i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)N >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', N - hl);
    if (data_n) memcpy(b + 8 + N, data, data_n);
    put(file, b, 8 + N + data_n);
    free(b);
}
/* The model file's header without the irontensor checksums (a "foreign" file), and its data. */
static char *plain_header(size_t *data_off) {
    uint64_t N = 0;
    int i;
    char *h, *a, *b;
    for (i = 7; i >= 0; i--) N = N << 8 | orig[1][i];
    h = (char *)malloc((size_t)N + 1);
    memcpy(h, orig[1] + 8, (size_t)N);
    h[N] = 0;
    while (N && h[N - 1] == ' ') h[--N] = 0;
    a = replace(h, "irontensor.crc32_data", "nocrc_data_xxxxxxxxxx");
    b = replace(a, "irontensor.crc32_header", "nocrc_header_xxxxxxxxxx");
    free(h);
    free(a);
    a = replace(b, "irontensor.content", "xrontensor.content");
    free(b);
    b = replace(a, "irontensor.version", "xrontensor.version");
    free(a);
    *data_off = 8 + (size_t)(orig[1][0] | (size_t)orig[1][1] << 8 | (size_t)orig[1][2] << 16);
    return b;
}
static void header_case(const char *what, const char *from, const char *to, const char *must) {
    size_t off;
    char *h = plain_header(&off), *m = replace(h, from, to);
    restore_all();
    put_st(1, m, orig[1] + off, orig_n[1] - off);
    expect_fail(what, must);
    free(h);
    free(m);
}

int main(int argc, char **argv) {
    it_model_config c = it_test_llama();
    ck_setup src = ck_make(&c, 1, IT_OPTIMIZER_ADAMW, 2);
    it_trainer_state ts = ck_ts();
    char p[600];
    size_t off, k;
    int i, f;
    (void)argc;
    (void)argv;
    it_test_log_shown = argc > 1;
    snprintf(root, sizeof root, "/tmp/it_ckpt_bad_%ld", (long)getpid());
    it_test_remove_tree(root);
    mkdir(root, 0755);
    snprintf(good, sizeof good, "%s/good", root);
    snprintf(work, sizeof work, "%s/work", root);
    CHECK(it_checkpoint_save(src.ctx, src.m, src.opt, &ts, good, NULL) == IT_OK, "save");
    good_params = (float *)malloc(it_param_numel(src.ctx) * 4);
    memcpy(good_params, it_param_block(src.ctx), it_param_numel(src.ctx) * 4);
    mkdir(work, 0755);
    for (i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", good, files[i]);
        orig[i] = it_test_read_file(p, &orig_n[i]);
    }
    dst = ck_make(&c, 2, IT_OPTIMIZER_ADAMW, 1);
    memset(&cur_ts, 0x5A, sizeof cur_ts);
    snap_ts = cur_ts;
    snap_params = (float *)malloc(it_param_numel(dst.ctx) * 4);
    snap_state = (float *)malloc(dst.opt->state_numel * 4);
    memcpy(snap_params, it_param_block(dst.ctx), it_param_numel(dst.ctx) * 4);
    memcpy(snap_state, dst.opt->state, dst.opt->state_numel * 4);

    /* sanity: the untouched copy and the checksum-less copy load */
    {
        ck_setup t = ck_make(&c, 3, IT_OPTIMIZER_ADAMW, 1);
        it_trainer_state t2;
        char *h;
        restore_all();
        CHECK(it_checkpoint_load(t.ctx, t.m, t.opt, &t2, work) == IT_OK, "pristine copy loads: %s", it_context_last_error(t.ctx));
        h = plain_header(&off);
        put_st(1, h, orig[1] + off, orig_n[1] - off);
        CHECK(it_checkpoint_load(t.ctx, t.m, t.opt, &t2, work) == IT_OK, "checksum-less copy loads: %s", it_context_last_error(t.ctx));
        free(h);
        ck_free(&t);
    }
    /* truncation of every file at many offsets */
    for (f = 0; f < 4; f++) {
        size_t n = orig_n[f], step = n / 97 + 1;
        for (k = 0; k < n; k += (k < 80 ? 1 : step)) {
            char what[96];
            restore_all();
            put(f, orig[f], k);
            snprintf(what, sizeof what, "%s truncated to %lu", files[f], (unsigned long)k);
            expect_fail(what, files[f]);
        }
    }
    /* a flipped byte anywhere (header, padding, payload, JSON) */
    for (f = 0; f < 4; f++) {
        size_t n = orig_n[f], step = n / 211 + 1;
        for (k = 0; k < n; k += (k < 600 ? 3 : step)) {
            char what[96];
            unsigned char *b = (unsigned char *)malloc(n);
            memcpy(b, orig[f], n);
            b[k] ^= (unsigned char)(1u << (k % 8));
            restore_all();
            put(f, b, n);
            free(b);
            snprintf(what, sizeof what, "%s byte %lu flipped", files[f], (unsigned long)k);
            if (f == 0) expect_fail_or_warned(what);
            else expect_fail(what, files[f]);
        }
    }
    /* header length field */
    {
        static const uint64_t lens[] = {0, 1, 7, 100000001ull, 0x7FFFFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFFFull, 0x8000000000000000ull};
        unsigned char *b = (unsigned char *)malloc(orig_n[1]);
        for (i = 0; i < (int)(sizeof lens / sizeof lens[0]); i++) {
            int j;
            memcpy(b, orig[1], orig_n[1]);
            for (j = 0; j < 8; j++) b[j] = (unsigned char)(lens[i] >> (8 * j));
            restore_all();
            put(1, b, orig_n[1]);
            expect_fail("header length", "model.safetensors");
        }
        memcpy(b, orig[1], orig_n[1]);
        {
            uint64_t N = (uint64_t)orig_n[1] - 7; /* one past the end */
            for (i = 0; i < 8; i++) b[i] = (unsigned char)(N >> (8 * i));
        }
        restore_all();
        put(1, b, orig_n[1]);
        expect_fail("header length past the end", "past the end");
        free(b);
    }
    /* crafted headers without checksums: structure checks alone must catch these */
    header_case("negative offset", "\"data_offsets\":[0,", "\"data_offsets\":[-4,", "data_offsets");
    header_case("offset out of range", "\"data_offsets\":[0,", "\"data_offsets\":[99999999,", "lm_head.weight");
    header_case("huge offset", "\"data_offsets\":[0,", "\"data_offsets\":[18446744073709551615,", "data_offsets");
    header_case("fractional offset", "\"data_offsets\":[0,", "\"data_offsets\":[0.0,", "data_offsets");
    header_case("three offsets", "\"data_offsets\":[0,", "\"data_offsets\":[0,0,", "data_offsets");
    {   /* two tensors swapped onto the same bytes: overlap */
        size_t o2;
        char *h = plain_header(&o2), *at = strstr(h, "model.embed_tokens.weight"), *q, *m;
        char from[64], to[64];
        unsigned long b0, e0;
        at = strstr(at, "data_offsets\":[");
        sscanf(at, "data_offsets\":[%lu,%lu]", &b0, &e0);
        snprintf(from, sizeof from, "[%lu,%lu]", b0, e0);
        snprintf(to, sizeof to, "[%lu,%lu]", b0 - 4, e0 - 4);
        q = replace(at, from, to);
        m = (char *)malloc(strlen(h) + 16);
        memcpy(m, h, (size_t)(at - h));
        strcpy(m + (at - h), q);
        restore_all();
        put_st(1, m, orig[1] + o2, orig_n[1] - o2);
        expect_fail("overlapping offsets", "overlaps");
        free(h);
        free(q);
        free(m);
    }
    header_case("unknown dtype", "\"dtype\":\"F32\"", "\"dtype\":\"Q4K\"", "unknown dtype");
    header_case("wrong dtype", "\"dtype\":\"F32\"", "\"dtype\":\"I32\"", "dtype I32");
    header_case("shape mismatch", "\"shape\":[16,32]", "\"shape\":[32,16]", "shape");
    header_case("shape too many dims", "\"shape\":[32]", "\"shape\":[32,1,1,1,1,1,1,1,1]", "shape");
    header_case("negative shape", "\"shape\":[32]", "\"shape\":[-32]", "shape");
    header_case("renamed tensor", "lm_head.weight", "lm_head.weigxx", "lm_head.weight' is missing");
    header_case("unknown tensor", "\"model.norm.weight\"", "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"extra.weight\"", "model.norm.weight");
    header_case("duplicate tensor", "\"model.norm.weight\"", "\"lm_head.weight\"", "duplicate key");
    header_case("missing metadata string", "\"format\":\"pt\"", "\"format\":7", "__metadata__");
    header_case("extra entry field", "\"dtype\":\"F32\"", "\"dtype\":\"F32\",\"x\":1", "exactly dtype");
    header_case("garbage JSON", "{\"__metadata__\"", "{,\"__metadata__\"", "header JSON");
    header_case("trailing garbage", "{\"__metadata__\"", "{}{\"__metadata__\"", "trailing");
    header_case("bad escape", "\"format\":\"pt\"", "\"format\":\"p\\x\"", "escape");
    header_case("lone surrogate", "\"format\":\"pt\"", "\"format\":\"\\udc00\"", "surrogate");
    header_case("not starting with {", "{\"__metadata__\"", " {\"__metadata__\"", "'{'");
    restore_all();
    put(1, orig[2], orig_n[2]);
    expect_fail("optimizer file as model", "not model");
    {   /* deep nesting is bounded */
        char h[400];
        int d;
        strcpy(h, "{\"__metadata__\":{\"a\":");
        for (d = 0; d < 40; d++) strcat(h, "[");
        restore_all();
        put_st(1, h, NULL, 0);
        expect_fail("nesting", "nesting");
    }
    /* missing files */
    for (f = 0; f < 4; f++) {
        restore_all();
        snprintf(p, sizeof p, "%s/%s", work, files[f]);
        unlink(p);
        expect_fail("missing file", files[f]);
    }
    /* garbage JSON files (no checksum) */
    {
        static const char *const bad_cfg[] = {"", "{", "[]", "{\"model_type\": \"llama\",}", "{\"model_type\": \"mamba\"}",
                                              "{\"model_type\": \"llama\"}", "nul\x01", "{\"a\":1,\"a\":2}",
                                              "{\"model_type\": \"llama\", \"vocab_size\": 1e400}"};
        for (i = 0; i < (int)(sizeof bad_cfg / sizeof bad_cfg[0]); i++) {
            restore_all();
            put(0, bad_cfg[i], strlen(bad_cfg[i]));
            expect_fail("garbage config.json", "config.json");
        }
        restore_all();
        put(3, "{\"format\": \"irontensor-trainer-state\"}", 39);
        expect_fail("incomplete trainer_state.json", "trainer_state.json");
    }
    /* config of a different model; optimizer of another kind */
    {
        char *a = (char *)malloc(orig_n[0] + 1), *b, *cc;
        memcpy(a, orig[0], orig_n[0]);
        a[orig_n[0]] = 0;
        cc = replace(a, "\"irontensor_crc32\"", "\"nocrc\"");
        b = replace(cc, "\"irontensor_version\"", "\"xrontensor_version\"");
        free(cc);
        cc = replace(b, "\"max_position_embeddings\": 16", "\"max_position_embeddings\": 32");
        restore_all();
        put(0, cc, strlen(cc));
        expect_fail("config of another model", "config.json");
        free(a);
        free(b);
        free(cc);
    }
    {
        ck_setup lion = ck_make(&c, 4, IT_OPTIMIZER_LION, 1);
        size_t n = it_param_numel(lion.ctx);
        float *before = (float *)malloc(n * 4);
        memcpy(before, it_param_block(lion.ctx), n * 4);
        restore_all();
        CHECK(it_checkpoint_load(lion.ctx, lion.m, lion.opt, NULL, work) < 0 && strstr(it_context_last_error(lion.ctx), "adamw"),
              "optimizer kind mismatch: %s", it_context_last_error(lion.ctx));
        CHECK(memcmp(before, it_param_block(lion.ctx), n * 4) == 0, "kind mismatch leaves the model alone");
        free(before);
        ck_free(&lion);
    }
    printf("%d corrupt checkpoints rejected\n", n_cases);
    for (i = 0; i < 4; i++) free(orig[i]);
    free(snap_params);
    free(snap_state);
    free(good_params);
    ck_free(&src);
    ck_free(&dst);
    it_test_remove_tree(root);
    return it_test_finish();
}
