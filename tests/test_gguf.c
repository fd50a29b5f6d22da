/* test_gguf.c - GGUF v3 import (it_gguf_load) against the export (it_gguf_export): every tensor type
   round-trips (the loaded model exports to the same bytes; values within each type's rounding),
   the config comes back, and hostile files (truncated anywhere, counts and sizes past the file,
   more than 4 dims, huge strings and arrays, offsets that overflow or are misaligned, unknown value
   and tensor types, duplicate or mis-shaped tensors, a bad alignment or architecture) are refused
   with a clear error; the tokenizer (it_gguf_load_tokenizer) of the Hugging Face fixtures encodes
   and decodes as their tokenizer.json does, and hostile tokenizer metadata is refused by name;
   a file written by llama.cpp's own converter (tests/fixtures/gguf_spm_real) gives sentencepiece's
   ids and transformers' logits. (tests/gguf_reader.py checks the export against an independent
   reader.) */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "it_test.h"

#include <sys/stat.h>

static it_model_config small_llama(void) {
    it_model_config c = it_test_llama();
    c.vocab_size = 256, c.dim = 64, c.ffn_dim = 96, c.max_seq = 32; /* rows of whole blocks */
    return c;
}
static unsigned char *export_bytes(it_gguf_type type, int with_tokenizer, const char *path, size_t *n) {
    it_context *ctx = it_test_context(1);
    it_model_config c = small_llama();
    it_model *m;
    it_tokenizer *tok = NULL;
    it_gguf_export_desc d;
    memset(&d, 0, sizeof d);
    d.type = type, d.bos_id = -1, d.eos_id = 1, d.pad_id = -1;
    if (with_tokenizer) it_tokenizer_byte(ctx, &tok), d.tokenizer = tok;
    it_model_create(ctx, &c, &m);
    it_model_init(m, 21);
    CHECK(it_gguf_export(m, &d, path) == IT_OK, "export %s: %s", it_gguf_type_name(type), it_context_last_error(ctx));
    it_context_destroy(ctx);
    return it_test_read_file(path, n);
}
static it_result load(const char *path, char *err, size_t errn, it_weight_type *mt) {
    it_context *ctx = it_test_context(1);
    it_model *m = NULL;
    it_result r = it_gguf_load(ctx, path, &m, mt);
    snprintf(err, errn, "%s", it_context_last_error(ctx));
    CHECK((r == IT_OK) == (m != NULL), "a model exactly when the load succeeds");
    it_context_destroy(ctx);
    return r;
}

/* offset of the first occurrence of s in buf (the bytes of a name), or 0 when absent */
static size_t find(const unsigned char *buf, size_t n, const char *s) {
    size_t i, len = strlen(s);
    for (i = 0; i + len <= n; i++)
        if (!memcmp(buf + i, s, len)) return i;
    return 0;
}
static void put64(unsigned char *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put32(unsigned char *p, uint32_t v) {
    int i;
    for (i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static void test_roundtrip(void) {
    static const it_gguf_type types[] = {IT_GGUF_F32, IT_GGUF_F16, IT_GGUF_BF16, IT_GGUF_Q8_0, IT_GGUF_Q4_0};
    static const it_weight_type want_mt[] = {IT_WEIGHT_F32, IT_WEIGHT_F32, IT_WEIGHT_BF16, IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
    static const char *const archs[] = {"llama", "qwen2", "qwen3"};
    char a[512], b[512];
    int t;
    it_test_tmp_path(a, sizeof a, "rt_a.gguf");
    it_test_tmp_path(b, sizeof b, "rt_b.gguf");
    for (t = 0; t < 5 * 3; t++) { /* every type, as llama, then as qwen2 (q/k/v biases) and qwen3 (q/k norms) */
        it_context *c0 = it_test_context(1), *c1 = it_test_context(1);
        it_model_config cfg = small_llama();
        int arch = t / 5, ti = t % 5;
        it_model *m0, *m1 = NULL;
        it_weight_type mt = IT_WEIGHT_INVALID;
        it_gguf_export_desc d;
        unsigned char *fa, *fb;
        size_t na, nb, i, j;
        double worst = 0;
        cfg.qkv_bias = arch == 1, cfg.qk_norm = arch == 2;
        cfg.family = arch == 1 ? IT_FAMILY_QWEN2 : arch == 2 ? IT_FAMILY_QWEN3 : IT_FAMILY_DEFAULT;
        memset(&d, 0, sizeof d);
        d.type = types[ti], d.bos_id = d.eos_id = d.pad_id = -1;
        if (it_model_create(c0, &cfg, &m0) != IT_OK) {
            CHECK(0, "%s: %s", archs[arch], it_context_last_error(c0));
            it_context_destroy(c0), it_context_destroy(c1);
            continue;
        }
        it_model_init(m0, 4);
        if (arch) { /* biases and norm weights away from their zeros / ones */
            int l;
            for (l = 0; l < cfg.n_layers; l++) {
                it_tensor **p = m0->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
                int slots[3] = {arch == 1 ? IT_LP_Q_B : IT_LP_Q_NORM, arch == 1 ? IT_LP_K_B : IT_LP_K_NORM, IT_LP_V_B}, k2;
                size_t e;
                for (k2 = 0; k2 < (arch == 1 ? 3 : 2); k2++)
                    for (e = 0; e < p[slots[k2]]->numel; e++) it_data(p[slots[k2]])[e] = 0.5f + 0.01f * (float)(e % 13) - 0.02f * (float)k2;
            }
        }
        CHECK(it_gguf_export(m0, &d, a) == IT_OK, "export %s: %s", archs[arch], it_context_last_error(c0));
        {
            size_t n_a;
            unsigned char *f = it_test_read_file(a, &n_a);
            size_t at = f ? find(f, n_a, "general.architecture") + 20 + 4 : 0;
            CHECK(f && get64(f + at) == strlen(archs[arch]) && !memcmp(f + at + 8, archs[arch], strlen(archs[arch])) &&
                      find(f, n_a, arch == 1 ? "blk.1.attn_v.bias" : arch == 2 ? "blk.1.attn_k_norm.weight" : "blk.1.attn_v.weight"),
                  "general.architecture %s, with its tensors", archs[arch]);
            free(f);
        }
        CHECK(it_gguf_load(c1, a, &m1, &mt) == IT_OK && m1, "load %s: %s", it_gguf_type_name(types[ti]), it_context_last_error(c1));
        if (!m1) continue;
        CHECK(mt == want_mt[ti], "%s: matrices come back as %s", it_gguf_type_name(types[ti]), it_weight_type_name(mt));
        CHECK(m1->config.dim == cfg.dim && m1->config.n_layers == cfg.n_layers && m1->config.n_heads == cfg.n_heads &&
                  m1->config.n_kv_heads == cfg.n_kv_heads && m1->config.ffn_dim == cfg.ffn_dim && m1->config.vocab_size == cfg.vocab_size &&
                  m1->config.max_seq == cfg.max_seq && m1->config.untied == cfg.untied && m1->config.rope_theta == cfg.rope_theta &&
                  m1->config.norm_eps == cfg.norm_eps && m1->config.qkv_bias == cfg.qkv_bias && m1->config.qk_norm == cfg.qk_norm,
              "%s %s: the config comes back", archs[arch], it_gguf_type_name(types[ti]));
        for (i = 0; i < (size_t)it_param_count(c0); i++) { /* every value within its type's rounding */
            it_tensor *p0 = it_param_at(c0, (int)i), *p1 = it_param_find(c1, it_tensor_name(p0));
            size_t cols = (size_t)p0->dims[p0->ndim - 1];
            for (j = 0; p1 && j < p0->numel; j++) {
                double x = it_data(p0)[j], y = it_data(p1)[j], amax = 0, bound;
                size_t k, b0 = j / 32 * 32;
                for (k = b0; k < b0 + 32 && k < p0->numel && cols % 32 == 0; k++) amax = fmax(amax, fabs(it_data(p0)[k]));
                if (p0->ndim == 1 || types[ti] == IT_GGUF_F32) bound = 0;
                else if (types[ti] == IT_GGUF_F16) bound = fabs(x) / 2048 + 3e-8;
                else if (types[ti] == IT_GGUF_BF16) bound = fabs(x) / 256;
                else bound = types[ti] == IT_GGUF_Q8_0 ? amax / 127 * 0.57 : amax / 8 * 1.01;
                worst = fmax(worst, fabs(x - y) - bound);
            }
            CHECK(p1 != NULL, "%s is loaded", it_tensor_name(p0));
        }
        CHECK(worst <= 0, "%s: values within their rounding (worst excess %g)", it_gguf_type_name(types[ti]), worst);
        CHECK(it_gguf_export(m1, &d, b) == IT_OK, "re-export");
        fa = it_test_read_file(a, &na), fb = it_test_read_file(b, &nb);
        CHECK(fa && fb && na == nb && memcmp(fa, fb, na) == 0, "%s %s: the loaded model exports to the same %zu bytes", archs[arch],
              it_gguf_type_name(types[ti]), na);
        free(fa), free(fb);
        it_context_destroy(c0);
        it_context_destroy(c1);
    }
    remove(a), remove(b);
}

typedef struct hostile { const char *what; it_result want; const char *fragment; } hostile;
/* One hostile case: `good` (n bytes) copied to buf, edited, written to `bad` and loaded by try_. */
#define EDIT_CASE(try_, what_, want_, fragment_, edit)             \
    do {                                                           \
        hostile h_;                                                \
        h_.what = what_, h_.want = want_, h_.fragment = fragment_; \
        memcpy(buf, good, n);                                      \
        edit;                                                      \
        try_(bad, buf, n, &h_);                                    \
    } while (0)
static void try_file(const char *path, const unsigned char *buf, size_t n, const hostile *h) {
    char err[1024];
    it_result r;
    it_test_write_file(path, buf, n);
    r = load(path, err, sizeof err, NULL);
    CHECK(r == h->want && strstr(err, h->fragment), "%s: result %d (want %d), error '%s' (want '%s')", h->what, (int)r,
          (int)h->want, err, h->fragment);
}
static void test_hostile(void) {
    char path[512], bad[512];
    size_t n, len, off, info;
    unsigned char *good, *buf;
    int fails = 0, crashes_none = 1;
    it_test_tmp_path(path, sizeof path, "good.gguf");
    it_test_tmp_path(bad, sizeof bad, "bad.gguf");
    good = export_bytes(IT_GGUF_Q8_0, 1, path, &n);
    if (!good) return;
    buf = (unsigned char *)malloc(n);
    { /* the good file loads */
        char err[1024];
        it_weight_type mt;
        CHECK(load(path, err, sizeof err, &mt) == IT_OK && mt == IT_WEIGHT_Q8_0, "the exported file loads: %s", err);
    }
    /* truncated anywhere before the last tensor's data ends: an error, never a crash */
    for (len = 0; len + 40 < n; len += len < 600 ? 1 : 97) {
        char err[1024];
        it_test_write_file(bad, good, len);
        fails += load(bad, err, sizeof err, NULL) == IT_OK;
    }
    CHECK(fails == 0 && crashes_none, "%d truncated files loaded", fails);
#define CASE(what_, want_, fragment_, edit) EDIT_CASE(try_file, what_, want_, fragment_, edit)
    CASE("bad magic", IT_ERR_FORMAT, "no 'GGUF' magic", buf[0] = 'X');
    CASE("version 1", IT_ERR_UNSUPPORTED, "version 1", put32(buf + 4, 1));
    CASE("a huge tensor count", IT_ERR_FORMAT, "do not fit", put64(buf + 8, (uint64_t)1 << 40));
    CASE("a huge key count", IT_ERR_FORMAT, "do not fit", put64(buf + 16, (uint64_t)1 << 50));
    CASE("a key of 2^62 bytes", IT_ERR_FORMAT, "truncated or corrupt in its metadata", put64(buf + 24, (uint64_t)1 << 62));
    off = find(good, n, "general.architecture");
    CASE("an unknown value type", IT_ERR_FORMAT, "unknown value type", put32(buf + off + 20, 77));
    CASE("another architecture", IT_ERR_UNSUPPORTED, "architecture 'xlama'", buf[off + 20 + 4 + 8] = 'x');
    off = find(good, n, "tokenizer.ggml.tokens");
    CASE("an array of 2^60 strings", IT_ERR_FORMAT, "truncated or corrupt", put64(buf + off + 21 + 8, (uint64_t)1 << 60));
    CASE("an array of an unknown type", IT_ERR_FORMAT, "unknown value type", put32(buf + off + 21 + 4, 99));
    off = find(good, n, "general.alignment");
    CASE("alignment 0", IT_ERR_FORMAT, "not a multiple of 8", put32(buf + off + 17 + 4, 0));
    CASE("alignment 12", IT_ERR_FORMAT, "not a multiple of 8", put32(buf + off + 17 + 4, 12));
    info = find(good, n, "blk.0.attn_q.weight") + 19; /* n_dims, dims[2], type, offset */
    CASE("5 dims", IT_ERR_FORMAT, "has 5 dims", put32(buf + info, 5));
    CASE("0 dims", IT_ERR_FORMAT, "has 0 dims", put32(buf + info, 0));
    CASE("a dim of 2^40", IT_ERR_FORMAT, "has a dim of", put64(buf + info + 4, (uint64_t)1 << 40));
    CASE("an unknown tensor type", IT_ERR_UNSUPPORTED, "ggml type 99", put32(buf + info + 20, 99));
    CASE("a Q4_K tensor", IT_ERR_UNSUPPORTED, "ggml type 12", put32(buf + info + 20, 12));
    CASE("an offset that overflows", IT_ERR_FORMAT, "run past the end", put64(buf + info + 24, UINT64_MAX - 31));
    CASE("a misaligned offset", IT_ERR_FORMAT, "not a multiple of the alignment", put64(buf + info + 24, get64(good + info + 24) + 4));
    CASE("overlapping data", IT_ERR_FORMAT, "overlap", put64(buf + info + 24, get64(good + info + 24) + 32));
    CASE("rows that are not whole blocks", IT_ERR_FORMAT, "not whole blocks", put64(buf + info + 4, 48));
    CASE("a shape the config does not make", IT_ERR_FORMAT, "the config makes it", put64(buf + info + 12, 32));
    off = find(good, n, "blk.0.attn_v.weight");
    CASE("a duplicate tensor", IT_ERR_FORMAT, "appears twice", buf[off + 11] = 'q');
    CASE("an unknown tensor", IT_ERR_UNSUPPORTED, "is not part of a llama model", memcpy(buf + off, "blk.0.attn_z", 12));
    CASE("one tensor more", IT_ERR_FORMAT, "it_gguf_load", put64(buf + 8, get64(good + 8) + 1));
    off = find(good, n, "llama.embedding_length");
    CASE("a negative embedding length", IT_ERR_FORMAT, "is not a non-negative integer", (put32(buf + off + 22, 5), put32(buf + off + 26, 0xFFFFFFFFu)));
#undef CASE
    free(buf);
    free(good);
    remove(path), remove(bad);
}

/* >> the tokenizer: a Hugging Face fixture exported (it_gguf_export, as build/it-export-gguf does)
   and read back (it_gguf_load_tokenizer) encodes and decodes every string of cases.json as the
   tokenizer.json does, with and without special tokens; bos / eos and the template come back. */
#define TOK_FIXTURES "tests/fixtures/hf_tokenizers"
/* byte-level BPE ("gpt2" in GGUF), then SentencePiece's ("llama"): the sp fixture with the merges a
   SentencePiece vocabulary has (tests/fixtures/make_gguf_spm_fixture.py) */
static const char *const TOK_FAMILIES[] = {TOK_FIXTURES "/gpt2", TOK_FIXTURES "/llama3", TOK_FIXTURES "/qwen2", "tests/fixtures/gguf_spm"};
#define N_TOK_FAMILIES ((int)(sizeof TOK_FAMILIES / sizeof TOK_FAMILIES[0]))
/* GGUF has no lstrip / rstrip for added tokens: text next to such a token may split differently,
   so the strings holding one are left out of the comparison (and counted). */
static int touches_stripped_token(const it_tokenizer *t, const char *s) {
    int k;
    for (k = 0; k < t->hf->n_added; k++) {
        const it__hf_added *a = &t->hf->added[k];
        char content[256];
        if (!(a->lstrip || a->rstrip) || a->content.len >= sizeof content) continue;
        memcpy(content, it__hf_s(t->hf, a->content), a->content.len), content[a->content.len] = 0;
        if (strstr(s, content)) return 1;
    }
    return 0;
}
/* Exports a 1-layer model whose vocabulary is the tokenizer's in dir (plus `extra` rows) to path;
   the result, and the error in err. */
static it_result try_export_with_tokenizer(const char *dir, int extra, int bos, int pad, const char *path, char *err, size_t errn) {
    it_context *ctx = it_test_context(1);
    it_model_config c = small_llama();
    it_model *m;
    it_tokenizer *tok;
    it_gguf_export_desc d;
    it_result r;
    CHECK(it_tokenizer_load_hf(ctx, dir, &tok) == IT_OK, "%s: %s", dir, it_context_last_error(ctx));
    c.vocab_size = it_tokenizer_vocab_size(tok) + extra, c.n_layers = 1;
    memset(&d, 0, sizeof d);
    d.type = IT_GGUF_F32, d.tokenizer = tok, d.bos_id = bos, d.eos_id = -1, d.pad_id = pad;
    it_model_create(ctx, &c, &m);
    it_model_init(m, 3);
    r = it_gguf_export(m, &d, path);
    snprintf(err, errn, "%s", it_context_last_error(ctx));
    it_context_destroy(ctx);
    return r;
}
static void export_with_tokenizer(const char *dir, int extra, int bos, int pad, const char *path) {
    char err[1024];
    CHECK(try_export_with_tokenizer(dir, extra, bos, pad, path, err, sizeof err) == IT_OK, "export %s: %s", dir, err);
}
static void test_tokenizer_roundtrip(void) {
    it_context *ctx = it_test_context(1);
    it__json cases;
    unsigned char *text;
    size_t n = 0;
    char path[512];
    int f, arr;
    it_test_tmp_path(path, sizeof path, "tok.gguf");
    text = it_test_read_file(TOK_FIXTURES "/cases.json", &n);
    if (!text || it__json_parse(ctx, &cases, (const char *)text, n)) {
        CHECK(0, "cannot read " TOK_FIXTURES "/cases.json (run from the repository root)");
        free(text);
        it_context_destroy(ctx);
        return;
    }
    arr = it__jget(&cases, 0, "strings");
    for (f = 0; f < N_TOK_FAMILIES; f++) {
        it_tokenizer *hf = NULL, *gg = NULL;
        it_chat_template chat;
        const char *dir = TOK_FAMILIES[f];
        int c, k, bad = 0, strings = 0, skipped = 0;
        int32_t b0, e0, b1, e1, id;
        export_with_tokenizer(dir, 5, -1, -1, path); /* 5 rows more: unused [PADi] tokens */
        CHECK(it_tokenizer_load_hf(ctx, dir, &hf) == IT_OK, "%s", it_context_last_error(ctx));
        if (it_gguf_load_tokenizer(ctx, path, &gg, &chat) != IT_OK) {
            CHECK(0, "%s: the exported tokenizer loads: %s", TOK_FAMILIES[f], it_context_last_error(ctx));
            continue;
        }
        CHECK(it_tokenizer_vocab_size(gg) == it_tokenizer_vocab_size(hf), "%s: vocab %d, tokenizer.json's %d", TOK_FAMILIES[f],
              it_tokenizer_vocab_size(gg), it_tokenizer_vocab_size(hf));
        for (id = 0; id < it_tokenizer_vocab_size(hf); id++) { /* every token's bytes and kind */
            size_t la, lb;
            const uint8_t *a = it_tokenizer_token_bytes(hf, id, &la), *b = it_tokenizer_token_bytes(gg, id, &lb);
            bad += la != lb || (la && memcmp(a, b, la)) || it_tokenizer_is_special(hf, id) != it_tokenizer_is_special(gg, id);
        }
        CHECK(bad == 0, "%s: %d tokens differ in bytes or kind", TOK_FAMILIES[f], bad);
        it_tokenizer_bos_eos(hf, &b0, &e0), it_tokenizer_bos_eos(gg, &b1, &e1);
        CHECK(b1 == (hf->hf->n_tmpl_pre ? hf->hf->tmpl[0] : -1), "%s: bos %d comes from the template", TOK_FAMILIES[f], (int)b1);
        (void)b0, (void)e0, (void)e1;
        for (c = cases.v[arr].first; c >= 0; c = cases.v[c].next) {
            const char *s = cases.v[c].str;
            size_t len = cases.v[c].len;
            if (touches_stripped_token(hf, s)) {
                skipped++;
                continue;
            }
            for (k = 0; k < 2; k++) { /* with the template's BOS / EOS, then without */
                int32_t *ia = NULL, *ib = NULL;
                size_t na = 0, nb = 0, da, db;
                uint8_t *oa, *ob;
                it_result ra = it_tokenizer_encode_flags(ctx, hf, (const uint8_t *)s, len, k, &ia, &na);
                it_result rb = it_tokenizer_encode_flags(ctx, gg, (const uint8_t *)s, len, k, &ib, &nb);
                int same = ra == rb && na == nb && (!na || !memcmp(ia, ib, na * sizeof(int32_t)));
                if (same && ra == IT_OK) { /* decoding, keeping and skipping special tokens */
                    da = it_tokenizer_decode_flags(hf, ia, na, k, NULL, 0), db = it_tokenizer_decode_flags(gg, ia, na, k, NULL, 0);
                    oa = (uint8_t *)malloc(da + 1), ob = (uint8_t *)malloc(db + 1);
                    it_tokenizer_decode_flags(hf, ia, na, k, oa, da), it_tokenizer_decode_flags(gg, ia, na, k, ob, db);
                    same = da == db && !memcmp(oa, ob, da);
                    free(oa), free(ob);
                }
                if (!same && bad++ < 3) fprintf(stderr, "  %s: \"%.40s\" (flags %d) differs\n", TOK_FAMILIES[f], s, k);
                it_ids_free(ctx, ia), it_ids_free(ctx, ib);
            }
            strings++;
        }
        CHECK(bad == 0 && strings > 200 && skipped < 20, "%s: %d of %d strings encode or decode differently (%d next to an lstrip / "
              "rstrip token left out)", TOK_FAMILIES[f], bad, strings, skipped);
        it_tokenizer_destroy(hf), it_tokenizer_destroy(gg);
    }
    it__json_free(&cases);
    free(text);
    remove(path);
    it_context_destroy(ctx);
}

/* Hostile tokenizer metadata: every edit of a good file is a clear error naming the thing. */
static void try_tokenizer(const char *path, const unsigned char *buf, size_t n, const hostile *h) {
    it_context *ctx = it_test_context(1);
    it_tokenizer *tok = NULL;
    it_result r;
    it_test_write_file(path, buf, n);
    r = it_gguf_load_tokenizer(ctx, path, &tok, NULL);
    CHECK(r == h->want && strstr(it_context_last_error(ctx), h->fragment) && (r == IT_OK) == (tok != NULL),
          "tokenizer, %s: result %d (want %d), error '%s' (want '%s')", h->what, (int)r, (int)h->want, it_context_last_error(ctx), h->fragment);
    it_context_destroy(ctx);
}
/* Offset of the value of key `key` (after its name and type). */
static size_t value_of(const unsigned char *buf, size_t n, const char *key) { return find(buf, n, key) + strlen(key) + 4; }
static void test_tokenizer_hostile(void) {
    char path[512], bad[512];
    unsigned char *good, *buf;
    size_t n, len, tokens, merges, types, embd;
    int fails = 0;
    it_test_tmp_path(path, sizeof path, "tok_good.gguf");
    it_test_tmp_path(bad, sizeof bad, "tok_bad.gguf");
    export_with_tokenizer(TOK_FIXTURES "/gpt2", 0, 0, 1, path); /* every id key present */
    if (!(good = it_test_read_file(path, &n))) return;
    buf = (unsigned char *)malloc(n);
    { /* the good file loads */
        hostile h;
        h.what = "the good file", h.want = IT_OK, h.fragment = "";
        try_tokenizer(bad, good, n, &h);
        CHECK(it__data_get_u32(good + value_of(good, n, "tokenizer.ggml.padding_token_id") - 4) == 4 &&
                  it__data_get_u32(good + value_of(good, n, "tokenizer.ggml.padding_token_id")) == 1,
              "the pad id is written as a uint32, 1");
    }
    { /* ids the model's vocabulary does not have are refused at export, naming the id */
        char err[1024];
        CHECK(try_export_with_tokenizer(TOK_FIXTURES "/gpt2", 0, -1, 1000000, bad, err, sizeof err) == IT_ERR_INVALID_ARGUMENT &&
                  strstr(err, "the pad id 1000000 is outside the vocabulary of"),
              "a pad id past the vocabulary: %s", err);
        CHECK(try_export_with_tokenizer(TOK_FIXTURES "/gpt2", 0, 1000000, -1, bad, err, sizeof err) == IT_ERR_INVALID_ARGUMENT &&
                  strstr(err, "the bos id 1000000 is outside"),
              "a bos id past the vocabulary: %s", err);
    }
    for (len = 0; len < n; len += len < 2000 ? 7 : 331) { /* truncated in the metadata: an error */
        it_context *ctx = it_test_context(1);
        it_tokenizer *tok = NULL;
        it_test_write_file(bad, good, len);
        fails += it_gguf_load_tokenizer(ctx, bad, &tok, NULL) == IT_OK && len < find(good, n, "token_embd.weight");
        it_context_destroy(ctx);
    }
    CHECK(fails == 0, "%d truncated files gave a tokenizer", fails);
    tokens = value_of(good, n, "tokenizer.ggml.tokens"); /* elem type, count, then strings */
    merges = value_of(good, n, "tokenizer.ggml.merges");
    types = value_of(good, n, "tokenizer.ggml.token_type");
    embd = find(good, n, "token_embd.weight") + 17; /* n_dims, dims[0], dims[1] */
#define TCASE(what_, want_, fragment_, edit) EDIT_CASE(try_tokenizer, what_, want_, fragment_, edit)
    TCASE("another model", IT_ERR_UNSUPPORTED, "tokenizer.ggml.model 'bert' is not read",
          memcpy(buf + value_of(good, n, "tokenizer.ggml.model") + 8, "bert", 4));
    TCASE("another pre", IT_ERR_UNSUPPORTED, "tokenizer.ggml.pre 'xpt-2' is not read", buf[value_of(good, n, "tokenizer.ggml.pre") + 8] = 'x');
    TCASE("model as a uint32", IT_ERR_FORMAT, "tokenizer.ggml.model is a uint32, expected a string",
          put32(buf + value_of(good, n, "tokenizer.ggml.model") - 4, 4));
    TCASE("tokens as a string", IT_ERR_FORMAT, "tokenizer.ggml.tokens is a string, expected an array", put32(buf + tokens - 4, 8));
    TCASE("tokens of int32", IT_ERR_FORMAT, "tokenizer.ggml.tokens is an array of elements each an int32, expected a string", put32(buf + tokens, 5));
    TCASE("2^60 tokens", IT_ERR_FORMAT, "tokenizer.ggml.tokens claims 1152921504606846976 elements", put64(buf + tokens + 4, (uint64_t)1 << 60));
    TCASE("2^40 merges", IT_ERR_FORMAT, "tokenizer.ggml.merges claims", put64(buf + merges + 4, (uint64_t)1 << 40));
    TCASE("a token count that is not the embedding's", IT_ERR_FORMAT, "but token_embd.weight 603 rows",
          put64(buf + embd + 12, get64(good + embd + 12) + 1));
    TCASE("a non-UTF-8 token", IT_ERR_FORMAT, "token 0 is not valid UTF-8", buf[tokens + 12 + 8] = 0xFF);
    TCASE("a token holding a NUL", IT_ERR_FORMAT, "token 0 is holding a NUL byte", buf[tokens + 12 + 8] = 0);
    { /* two tokens of the same length made equal */
        size_t at = tokens + 12, next = 0;
        int k;
        for (k = 0; k < 50; k++, at = next) {
            next = at + 8 + get64(good + at);
            if (k > 0 && get64(good + at) == get64(good + next)) break;
        }
        TCASE("a duplicate token", IT_ERR_FORMAT, "duplicate key", memcpy(buf + next + 8, good + at + 8, get64(good + at)));
    }
    TCASE("a merge of unknown tokens", IT_ERR_FORMAT, "model.merges[0]", memcpy(buf + merges + 12 + 8, "\xc3\xbf\xc3\xbf", 4));
    TCASE("a non-UTF-8 merge", IT_ERR_FORMAT, "merge 0 is not valid UTF-8", (buf[merges + 12 + 8] = 0xC3, buf[merges + 12 + 9] = 0x20));
    TCASE("an unknown token type", IT_ERR_FORMAT, "token 2 has type 9", put32(buf + types + 12 + 8, 9));
    TCASE("a byte token", IT_ERR_UNSUPPORTED, "token 2 has type 6 (a byte token", put32(buf + types + 12 + 8, 6));
    TCASE("token types of uint8", IT_ERR_FORMAT, "token_type is an array of elements each a uint8, expected an int32", put32(buf + types, 0));
    TCASE("a bos id out of range", IT_ERR_FORMAT, "tokenizer.ggml.bos_token_id 99999 is outside",
          put32(buf + value_of(good, n, "tokenizer.ggml.bos_token_id"), 99999));
    TCASE("a pad id out of range", IT_ERR_FORMAT, "tokenizer.ggml.padding_token_id 99999 is outside",
          put32(buf + value_of(good, n, "tokenizer.ggml.padding_token_id"), 99999));
    TCASE("a pad id as a string", IT_ERR_FORMAT, "tokenizer.ggml.padding_token_id is a string, expected an integer",
          put32(buf + value_of(good, n, "tokenizer.ggml.padding_token_id") - 4, 8));
    TCASE("a negative pad id", IT_ERR_FORMAT, "tokenizer.ggml.padding_token_id is negative",
          (put32(buf + value_of(good, n, "tokenizer.ggml.padding_token_id") - 4, 5),
           put32(buf + value_of(good, n, "tokenizer.ggml.padding_token_id"), 0xFFFFFFFFu)));
    TCASE("add_bos_token 7", IT_ERR_FORMAT, "add_bos_token is 7, not a bool", buf[value_of(good, n, "tokenizer.ggml.add_bos_token")] = 7);
    TCASE("add_bos_token as uint8", IT_ERR_FORMAT, "add_bos_token is a uint8, expected a bool",
          put32(buf + value_of(good, n, "tokenizer.ggml.add_bos_token") - 4, 0));
#undef TCASE
    { /* no tokenizer.ggml.model: no tokenizer, and no error */
        it_context *ctx = it_test_context(1);
        it_tokenizer *tok = (it_tokenizer *)1;
        memcpy(buf, good, n);
        memcpy(buf + find(good, n, "tokenizer.ggml.model"), "tokenizer.ggml.MODEL", 20);
        it_test_write_file(bad, buf, n);
        CHECK(it_gguf_load_tokenizer(ctx, bad, &tok, NULL) == IT_OK && tok == NULL, "no tokenizer.ggml.model: IT_OK, no tokenizer");
        it_context_destroy(ctx);
    }
    free(buf);
    free(good);
    remove(path), remove(bad);
}

/* >> SentencePiece's "llama" model: what it cannot carry is refused on export, naming the reason;
   hostile edits of a good file are refused by name; add_space_prefix is obeyed. */
static void test_spm_tokenizer(void) {
    char path[512], bad[512], err[1024];
    unsigned char *good, *buf;
    size_t n, scores, types;
    it_test_tmp_path(path, sizeof path, "spm_good.gguf");
    it_test_tmp_path(bad, sizeof bad, "spm_bad.gguf");
    /* the trained sp fixture: "the" + "▁" makes "the▁", but so would "t" + "he▁", which llama.cpp merges and it does not */
    CHECK(try_export_with_tokenizer(TOK_FIXTURES "/sp", 0, -1, -1, path, err, sizeof err) == IT_ERR_UNSUPPORTED &&
              strstr(err, "merges are not a SentencePiece vocabulary's") && strstr(err, "merge 23 is 'y' + 'ou' in tokenizer.json"),
          "the trained sp fixture is refused naming the first merge the scores would reorder: %s", err);
    CHECK(try_export_with_tokenizer(TOK_FIXTURES "/meta", 0, -1, -1, path, err, sizeof err) == IT_ERR_UNSUPPORTED &&
              strstr(err, "Metaspace and other set-ups are not exported"),
          "a Metaspace tokenizer is refused: %s", err);
    export_with_tokenizer("tests/fixtures/gguf_spm", 0, -1, -1, path);
    if (!(good = it_test_read_file(path, &n))) return;
    buf = (unsigned char *)malloc(n);
    CHECK(find(good, n, "tokenizer.ggml.merges") == 0 && find(good, n, "tokenizer.ggml.scores") > 0, "a llama tokenizer has scores, no merges");
    scores = value_of(good, n, "tokenizer.ggml.scores");
    types = value_of(good, n, "tokenizer.ggml.token_type");
#define TCASE(what_, want_, fragment_, edit) EDIT_CASE(try_tokenizer, what_, want_, fragment_, edit)
    TCASE("the good file", IT_OK, "", (void)0);
    TCASE("another model", IT_ERR_UNSUPPORTED, "tokenizer.ggml.model 'llamb' is not read",
          buf[value_of(good, n, "tokenizer.ggml.model") + 8 + 4] = 'b');
    TCASE("no scores", IT_ERR_FORMAT, "tokenizer.ggml.scores (a llama model's merge order) has 0 entries for 856 tokens",
          memcpy(buf + find(good, n, "tokenizer.ggml.scores"), "tokenizer.ggml.SCORES", 21));
    TCASE("scores of int32", IT_ERR_FORMAT, "tokenizer.ggml.scores is an array of elements each an int32, expected a float32",
          put32(buf + scores, 5));
    TCASE("2^40 scores", IT_ERR_FORMAT, "tokenizer.ggml.scores claims 1099511627776 elements", put64(buf + scores + 4, (uint64_t)1 << 40));
    TCASE("a NaN score", IT_ERR_FORMAT, "tokenizer.ggml.scores of token 400 is not finite", put32(buf + scores + 12 + 4 * 400, 0x7FC00000u));
    TCASE("an infinite score", IT_ERR_FORMAT, "tokenizer.ggml.scores of token 7 is not finite", put32(buf + scores + 12 + 4 * 7, 0xFF800000u));
    TCASE("a byte type on a normal token", IT_ERR_FORMAT, "token 300 has type 6 (byte) but is 'R', not <0xXX>",
          put32(buf + types + 12 + 4 * 300, 6));
    TCASE("a type past byte", IT_ERR_FORMAT, "token 5 has type 7 (1 normal", put32(buf + types + 12 + 4 * 5, 7));
    TCASE("add_space_prefix 3", IT_ERR_FORMAT, "add_space_prefix is 3, not a bool", buf[value_of(good, n, "tokenizer.ggml.add_space_prefix")] = 3);
    TCASE("add_space_prefix as a string", IT_ERR_FORMAT, "add_space_prefix is a string, expected a bool",
          put32(buf + value_of(good, n, "tokenizer.ggml.add_space_prefix") - 4, 8));
    TCASE("an unknown id out of range", IT_ERR_FORMAT, "tokenizer.ggml.unknown_token_id 99999 is outside",
          put32(buf + value_of(good, n, "tokenizer.ggml.unknown_token_id"), 99999));
#undef TCASE
    { /* add_space_prefix: with it (and without the key: llama.cpp's default) "Hello" encodes as the
         tokenizer.json does ("▁Hello"), without it otherwise */
        it_context *c0 = it_test_context(1);
        it_tokenizer *ref = NULL;
        int32_t *want = NULL;
        size_t n_want = 0;
        int k;
        CHECK(it_tokenizer_load_hf(c0, "tests/fixtures/gguf_spm", &ref) == IT_OK &&
                  it_tokenizer_encode_flags(c0, ref, (const uint8_t *)"Hello", 5, IT_TOKENIZE_NO_SPECIAL, &want, &n_want) == IT_OK,
              "gguf_spm encodes: %s", it_context_last_error(c0));
        for (k = 0; k < 3; k++) {
            it_context *ctx = it_test_context(1);
            it_tokenizer *tok = NULL;
            int32_t *ids = NULL;
            size_t m = 0;
            memcpy(buf, good, n);
            if (k == 1) memcpy(buf + find(good, n, "tokenizer.ggml.add_space_prefix"), "tokenizer.ggml.ADD_SPACE_PREFIX", 31);
            if (k == 2) buf[value_of(good, n, "tokenizer.ggml.add_space_prefix")] = 0;
            it_test_write_file(bad, buf, n);
            CHECK(it_gguf_load_tokenizer(ctx, bad, &tok, NULL) == IT_OK && tok &&
                      it_tokenizer_encode_flags(ctx, tok, (const uint8_t *)"Hello", 5, IT_TOKENIZE_NO_SPECIAL, &ids, &m) == IT_OK && m,
                  "add_space_prefix case %d loads and encodes: %s", k, it_context_last_error(ctx));
            CHECK((m == n_want && !memcmp(ids, want, m * sizeof *ids)) == (k < 2), "add_space_prefix case %d: \"Hello\" %s tokenizer.json's ids",
                  k, k < 2 ? "gets" : "does not get");
            it_ids_free(ctx, ids);
            it_tokenizer_destroy(tok);
            it_context_destroy(ctx);
        }
        it_ids_free(c0, want);
        it_tokenizer_destroy(ref);
        it_context_destroy(c0);
    }
    free(buf);
    free(good);
    remove(path), remove(bad);
}

/* >> tokenizer.chat_template: written from the caller's text, read back into --chat's format. */
static void test_chat_template(void) {
    it_context *ctx = it_test_context(1);
    it_model_config c = small_llama();
    it_model *m;
    it_tokenizer *tok = NULL, *back = NULL;
    it_gguf_export_desc d;
    it_chat_template chat;
    uint8_t *jinja = NULL;
    size_t len = 0, n = 0;
    unsigned char *file;
    char path[512];
    it_test_tmp_path(path, sizeof path, "chat.gguf");
    CHECK(it_chat_template_text(ctx, "tests/fixtures/hf_tokenizers/gpt2", &jinja, &len) == IT_OK && !jinja,
          "a directory without a template has no text (IT_OK, NULL)");
    { /* tokenizer_config.json's text (a list's "default"), and chat_template.jinja over it */
        char dir[512], f[600];
        static const char config[] = "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
                                     "{\"name\": \"default\", \"template\": \"{{ bos_token }}\\u00e9\"}]}";
        it_test_tmp_path(dir, sizeof dir, "chatdir");
        mkdir(dir, 0700);
        snprintf(f, sizeof f, "%s/tokenizer_config.json", dir);
        it_test_write_file(f, (const unsigned char *)config, sizeof config - 1);
        CHECK(it_chat_template_text(ctx, dir, &jinja, &len) == IT_OK && jinja && len == 17 && !strcmp((char *)jinja, "{{ bos_token }}\xc3\xa9"),
              "tokenizer_config.json's default template: '%s'", jinja ? (char *)jinja : "(none)");
        it_file_free(ctx, jinja), jinja = NULL;
        snprintf(f, sizeof f, "%s/chat_template.jinja", dir);
        it_test_write_file(f, (const unsigned char *)"J", 1);
        CHECK(it_chat_template_text(ctx, dir, &jinja, &len) == IT_OK && jinja && len == 1 && !strcmp((char *)jinja, "J"),
              "chat_template.jinja wins");
        it_file_free(ctx, jinja), jinja = NULL;
        remove(f);
        snprintf(f, sizeof f, "%s/tokenizer_config.json", dir);
        remove(f);
        rmdir(dir);
    }
    file = it_test_read_file("tests/fixtures/chat_templates/qwen2.5.jinja", &len);
    CHECK(file != NULL, "the qwen2.5 template fixture");
    if (!file) {
        it_context_destroy(ctx);
        return;
    }
    file[len] = 0; /* it_test_read_file leaves room for it */
    it_tokenizer_load_hf(ctx, TOK_FIXTURES "/qwen2", &tok);
    c.vocab_size = it_tokenizer_vocab_size(tok), c.n_layers = 1;
    memset(&d, 0, sizeof d);
    d.tokenizer = tok, d.bos_id = d.eos_id = d.pad_id = -1;
    d.chat_template = (const char *)file;
    it_model_create(ctx, &c, &m);
    it_model_init(m, 3);
    CHECK(it_gguf_export(m, &d, path) == IT_OK, "export with a chat template: %s", it_context_last_error(ctx));
    {
        unsigned char *g = it_test_read_file(path, &n);
        size_t at = g ? value_of(g, n, "tokenizer.chat_template") : 0;
        CHECK(g && at + 8 + len <= n && get64(g + at) == len && !memcmp(g + at + 8, file, len), "tokenizer.chat_template is the text, byte for byte");
        free(g);
    }
    CHECK(it_gguf_load_tokenizer(ctx, path, &back, &chat) == IT_OK && chat.format == IT_CHAT_CHATML,
          "the template comes back as chatml (format %d): %s", (int)chat.format, it_context_last_error(ctx));
    file[0] = 0xFF;
    CHECK(it_gguf_export(m, &d, path) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "chat template is not valid UTF-8 (byte 0)"),
          "a non-UTF-8 template is refused: %s", it_context_last_error(ctx));
    it_tokenizer_destroy(back);
    free(file);
    remove(path);
    it_context_destroy(ctx);
}

/* >> llama3 rope scaling: rope_freqs.weight carries llama.cpp's per-pair factors; the import reads
   parameters back that give every factor, and the model's logits. */
static void test_rope_llama3(void) {
    /* head dim, theta, factor, low, high, original context: one blended pair (the hf_models fixture's
       shape), several (Llama 3.1's factors), a low_freq_factor of 2 (read back as an equivalent 1), none */
    static const struct { int hd; float theta, factor, low, high; int orig; } cases[] = {
        {16, 500000.0f, 8.0f, 1.0f, 4.0f, 16}, {32, 10000.0f, 8.0f, 1.0f, 4.0f, 64}, {32, 10000.0f, 4.0f, 2.0f, 8.0f, 200},
        {16, 10000.0f, 2.0f, 1.0f, 1.01f, 30}};
    char path[512], bad[512];
    int k;
    it_test_tmp_path(path, sizeof path, "llama3.gguf");
    it_test_tmp_path(bad, sizeof bad, "llama3_bad.gguf");
    for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        it_context *c0 = it_test_context(1), *c1 = it_test_context(1);
        it_model_config cfg = small_llama();
        it_model *m0, *m1 = NULL;
        it_gguf_export_desc d;
        it_decoder *d0 = NULL, *d1 = NULL;
        const float *l0, *l1;
        int32_t ids[20];
        int i, blended = 0;
        double worst = 0, range = 0;
        cfg.head_dim = cases[k].hd, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.rope_theta = cases[k].theta;
        cfg.rope_scaling.kind = IT_ROPE_LLAMA3, cfg.rope_scaling.factor = cases[k].factor;
        cfg.rope_scaling.low_freq_factor = cases[k].low, cfg.rope_scaling.high_freq_factor = cases[k].high;
        cfg.rope_scaling.original_max_positions = cases[k].orig;
        memset(&d, 0, sizeof d);
        d.bos_id = d.eos_id = d.pad_id = -1;
        CHECK(it_model_create(c0, &cfg, &m0) == IT_OK, "llama3 case %d: %s", k, it_context_last_error(c0));
        it_model_init(m0, 5 + k);
        CHECK(it_gguf_export(m0, &d, path) == IT_OK, "llama3 case %d exports: %s", k, it_context_last_error(c0));
        if (it_gguf_load(c1, path, &m1, NULL) != IT_OK) {
            CHECK(0, "llama3 case %d loads: %s", k, it_context_last_error(c1));
            it_context_destroy(c0), it_context_destroy(c1);
            continue;
        }
        for (i = 0; i < cases[k].hd / 2; i++) {
            double f0 = it__rope_freq(cfg.rope_theta, &cfg.rope_scaling, i, cases[k].hd);
            double f1 = it__rope_freq(m1->config.rope_theta, &m1->config.rope_scaling, i, cases[k].hd);
            double plain = it__rope_freq(cfg.rope_theta, NULL, i, cases[k].hd);
            worst = fmax(worst, fabs(f1 - f0) / f0);
            blended += f0 != plain && fabs(f0 - plain / cfg.rope_scaling.factor) > 1e-9 * f0;
        }
        CHECK(m1->config.rope_scaling.kind == IT_ROPE_LLAMA3 && worst < 1e-6, "llama3 case %d (%d blended pairs): frequencies within %.2g",
              k, blended, worst);
        CHECK(blended == (k == 0 ? 1 : k == 3 ? 0 : blended) && (k == 0 || k == 3 || blended >= 2), "llama3 case %d covers %d blended pairs", k, blended);
        for (i = 0; i < 20; i++) ids[i] = (int32_t)((i * 37 + 11) % cfg.vocab_size);
        CHECK(it_decoder_create(m0, 20, &d0) == IT_OK && it_decoder_create(m1, 20, &d1) == IT_OK &&
                  it_decoder_feed(d0, ids, 20, &l0) == IT_OK && it_decoder_feed(d1, ids, 20, &l1) == IT_OK,
              "llama3 case %d decodes", k);
        for (i = 0, worst = 0; d0 && d1 && i < cfg.vocab_size; i++) worst = fmax(worst, fabs(l0[i] - l1[i])), range = fmax(range, fabs(l0[i]));
        CHECK(d0 && d1 && worst <= 1e-5 * fmax(range, 1), "llama3 case %d: the 20th position's logits within %.2g of %.2g", k, worst, range);
        it_decoder_destroy(d0), it_decoder_destroy(d1);
        it_context_destroy(c0), it_context_destroy(c1);
    }
    { /* rope_freqs.weight edited: not llama3's, the wrong shape or type, next to a scaling type */
        unsigned char *good, *buf;
        size_t n, at;
#define TCASE(what_, want_, fragment_, edit) EDIT_CASE(try_file, what_, want_, fragment_, edit)
        if (!(good = it_test_read_file(path, &n))) return;
        buf = (unsigned char *)malloc(n);
        at = find(good, n, "rope_freqs.weight") + 17; /* n_dims, dims[0], type, offset */
        { /* the data start after the last tensor info, aligned to 32; rope_freqs' factors are its first bytes */
            size_t last = 0, i, data;
            for (i = 0; i + 13 <= n; i++)
                if (!memcmp(good + i, "output.weight", 13) || (i + 18 <= n && !memcmp(good + i, "output_norm.weight", 18))) last = i;
            last += good[last + 6] == '.' ? 13 : 18;
            data = (last + 4 + 8 * (size_t)good[last] + 12 + 31) / 32 * 32;
            TCASE("a factor below 1 mid-way", IT_ERR_UNSUPPORTED, "rope_freqs.weight's factors are not llama3 scaling's: pair 1 is 0.5",
                  put32(buf + data + 4, 0x3F000000u));
            TCASE("a NaN factor", IT_ERR_UNSUPPORTED, "rope_freqs.weight[2] is nan", put32(buf + data + 8, 0x7FC00000u));
            TCASE("the last factor 1", IT_ERR_UNSUPPORTED, "last factor is 1", put32(buf + data + 4 * 7, 0x3F800000u));
        }
        TCASE("rope_freqs of 3 pairs", IT_ERR_FORMAT, "rope_freqs.weight is not 8 F32 factors", put64(buf + at + 4, 3));
        TCASE("rope_freqs in F16", IT_ERR_FORMAT, "rope_freqs.weight is not 8 F32 factors", put32(buf + at + 12, 1));

        free(buf), free(good);
#undef TCASE
    }
    { /* linear scaling: llama.rope.scaling.type / factor, read back */
        it_context *c0 = it_test_context(1), *c1 = it_test_context(1);
        it_model_config cfg = small_llama();
        it_model *m0, *m1 = NULL;
        it_gguf_export_desc d;
        memset(&d, 0, sizeof d);
        d.bos_id = d.eos_id = d.pad_id = -1;
        cfg.rope_scaling.kind = IT_ROPE_LINEAR, cfg.rope_scaling.factor = 2.5f;
        it_model_create(c0, &cfg, &m0);
        it_model_init(m0, 9);
        CHECK(it_gguf_export(m0, &d, path) == IT_OK && it_gguf_load(c1, path, &m1, NULL) == IT_OK && m1->config.rope_scaling.kind == IT_ROPE_LINEAR &&
                  m1->config.rope_scaling.factor == 2.5f,
              "linear rope scaling 2.5 comes back: %s", it_context_last_error(c1));
        it_context_destroy(c0), it_context_destroy(c1);
    }
    remove(path), remove(bad);
}

/* >> qwen2 / qwen3 files: keys of another architecture, an unknown architecture, a tensor the
   architecture does not have, are refused by name. */
static void test_qwen_hostile(void) {
    it_context *ctx = it_test_context(1);
    it_model_config cfg = small_llama();
    it_model *m;
    it_gguf_export_desc d;
    char path[512], bad[512];
    unsigned char *good, *buf;
    size_t n, arch;
    it_test_tmp_path(path, sizeof path, "qwen2.gguf");
    it_test_tmp_path(bad, sizeof bad, "qwen2_bad.gguf");
    cfg.qkv_bias = 1, cfg.family = IT_FAMILY_QWEN2;
    memset(&d, 0, sizeof d);
    d.bos_id = d.eos_id = d.pad_id = -1;
    it_model_create(ctx, &cfg, &m);
    it_model_init(m, 6);
    CHECK(it_gguf_export(m, &d, path) == IT_OK, "qwen2 exports: %s", it_context_last_error(ctx));
    it_context_destroy(ctx);
    if (!(good = it_test_read_file(path, &n))) return;
    buf = (unsigned char *)malloc(n);
    arch = find(good, n, "general.architecture") + 20 + 4 + 8; /* the string's bytes */
#define TCASE(what_, want_, fragment_, edit) EDIT_CASE(try_file, what_, want_, fragment_, edit)
    TCASE("the good qwen2 file", IT_OK, "", (void)0);
    TCASE("qwen2 keys in a llama file", IT_ERR_FORMAT, "an architecture 'llama' file with hyperparameter keys of another", memcpy(buf + arch, "llama", 5));
    TCASE("architecture gemma", IT_ERR_UNSUPPORTED, "architecture 'gemma' (llama, qwen2 and qwen3 are read)", memcpy(buf + arch, "gemma", 5));
    TCASE("a tensor qwen2 has not", IT_ERR_UNSUPPORTED, "tensor blk.0.attn_x.bias is not part of a qwen2 model here",
          buf[find(good, n, "blk.0.attn_q.bias") + 11] = 'x');
#undef TCASE
    free(buf), free(good);
    remove(path), remove(bad);
}

/* tests/fixtures/gguf_spm_real: a GGUF file this library did not write. A Llama (1 layer, dim 32,
   random weights from transformers) with a SentencePiece BPE tokenizer trained by sentencepiece
   itself, converted by llama.cpp's own convert_hf_to_gguf.py (benchmarks/llamacpp_check.sh with
   FIXTURE_OUT, its `conv` step). cases.txt: texts (hex) with the ids sentencepiece's encoder gives
   them; logits.txt: a prompt's ids with transformers' logits at its last position.
   transformers 5.17 saved the tokenizer with "add_prefix_space": null, which the converter wrote as
   tokenizer.ggml.add_space_prefix false: llama.cpp then adds no dummy "▁" (it tokenized "\n" as
   the one token 13, sentencepiece as 452 13), and neither must we. sentencepiece's dummy prefix is
   a space before any non-empty text, so the reference for TEXT is our encoding of " " + TEXT. */
#define SPM_REAL "tests/fixtures/gguf_spm_real"

/* "1,2,3" (ending at anything but a digit or a comma) into out (at most cap); the count. */
static int parse_id_list(const char *s, int32_t *out, int cap) {
    int n = 0;
    while (*s >= '0' && *s <= '9' && n < cap) {
        char *end;
        out[n++] = (int32_t)strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}
static size_t hex_decode(const char *s, const char *end, uint8_t *out, size_t cap) {
    size_t n = 0;
    unsigned v;
    for (; s + 1 < end && n < cap && sscanf(s, "%2x", &v) == 1; s += 2) out[n++] = (uint8_t)v;
    return n;
}
/* 1 when the text holds a special token's text ("<s>", "</s>", "<unk>"): our encoding matches it
   as the token, as tokenizers does; sentencepiece (and llama.cpp with parse_special false) reads it
   as text */
static int holds_special_text(const it_tokenizer *tok, const uint8_t *text, size_t n) {
    int32_t id;
    for (id = 0; id < it_tokenizer_vocab_size(tok); id++) {
        size_t len, i;
        const uint8_t *t = it_tokenizer_token_bytes(tok, id, &len);
        if (!it_tokenizer_is_special(tok, id) || !len) continue;
        for (i = 0; i + len <= n; i++)
            if (!memcmp(text + i, t, len)) return 1;
    }
    return 0;
}
static void test_llamacpp_converted(void) {
    it_context *ctx = it_test_context(1);
    it_tokenizer *tok = NULL;
    it_chat_template chat;
    it_model *m = NULL;
    it_weight_type type;
    unsigned char *cases, *logits, *file;
    size_t n_cases, n_logits, n_file, at;
    int total = 0, encoded = 0, decoded = 0, skipped = 0;
    char path[512];
    memset(&chat, 0, sizeof chat);
    CHECK(it_gguf_load_tokenizer(ctx, SPM_REAL "/model.gguf", &tok, &chat) == IT_OK && tok,
          "llama.cpp's converter's file: the tokenizer loads: %s", it_context_last_error(ctx));
    CHECK(chat.format == IT_CHAT_LLAMA2 && !strcmp(chat.bos_token, "<s>") && !strcmp(chat.eos_token, "</s>"),
          "its tokenizer.chat_template is llama2's (%s), bos '%s' eos '%s'", it_chat_format_name(chat.format), chat.bos_token,
          chat.eos_token);
    if (!tok || !(cases = it_test_read_file(SPM_REAL "/cases.txt", &n_cases))) {
        it_context_destroy(ctx);
        return;
    }
    for (at = 0; at < n_cases;) { /* each text encodes to sentencepiece's ids and decodes back */
        const char *line = (const char *)cases + at, *tab = strchr(line, '\t'), *eol = strchr(line, '\n');
        uint8_t text[2048], back[2048], plain[2048];
        int32_t want[2048], *ids = NULL;
        size_t n_text, n_ids = 0, n_back, n_plain;
        int n_want, ok, i;
        if (!tab || !eol || tab > eol) break;
        n_text = hex_decode(line, tab, text + 1, sizeof text - 1);
        if (n_text) text[0] = ' ', n_text++; /* sentencepiece's dummy prefix */
        else text[0] = 0;
        n_want = parse_id_list(tab + 1, want, 2048);
        at = (size_t)(eol - (const char *)cases) + 1;
        if (holds_special_text(tok, text, n_text)) { /* left out, counted */
            skipped++;
            continue;
        }
        total++;
        ok = it_tokenizer_encode_flags(ctx, tok, text, n_text, IT_TOKENIZE_NO_SPECIAL, &ids, &n_ids) == IT_OK &&
             n_ids == (size_t)n_want;
        for (i = 0; ok && i < n_want; i++) ok = ids[i] == want[i];
        encoded += ok;
        if (!ok && total - encoded <= 3) fprintf(stderr, "  case %d (%.*s): not sentencepiece's %d ids\n", total - 1,
                                                 (int)(tab - line) > 60 ? 60 : (int)(tab - line), line, n_want);
        /* sentencepiece's decoding: its pieces' "▁" (U+2581, a text's own too) read as spaces */
        for (i = 0, n_plain = 0; i < (int)n_text; i++) {
            if (i + 2 < (int)n_text && !memcmp(text + i, "\xe2\x96\x81", 3)) plain[n_plain++] = ' ', i += 2;
            else plain[n_plain++] = text[i];
        }
        n_back = it_tokenizer_decode_flags(tok, want, (size_t)n_want, IT_TOKENIZE_NO_SPECIAL, back, sizeof back);
        decoded += n_back == n_plain && !memcmp(back, plain, n_plain);
        it_ids_free(ctx, ids);
    }
    CHECK(total >= 250 && encoded == total, "sentencepiece's ids on %d of %d texts (%d holding a special token's text left out)",
          encoded, total, skipped);
    CHECK(decoded == total, "sentencepiece's ids decode back to %d of %d texts", decoded, total);
    { /* with the specials: add_bos_token, as the converter wrote it; add_space_prefix false */
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(it_tokenizer_encode(ctx, tok, (const uint8_t *)"Hello", 5, &ids, &n) == IT_OK && n >= 2 && ids[0] == 1,
              "the BOS (1) leads an encoding");
        it_ids_free(ctx, ids);
        CHECK(it_tokenizer_encode_flags(ctx, tok, (const uint8_t *)"\n", 1, IT_TOKENIZE_NO_SPECIAL, &ids, &n) == IT_OK && n == 1 &&
                  ids[0] == 13,
              "no dummy prefix: \"\\n\" is the one token 13, as llama.cpp reads the file");
        it_ids_free(ctx, ids);
    }
    CHECK(it_gguf_load(ctx, SPM_REAL "/model.gguf", &m, &type) == IT_OK, "the converter's model loads: %s",
          it_context_last_error(ctx));
    if (m && (logits = it_test_read_file(SPM_REAL "/logits.txt", &n_logits))) {
        int32_t prompt[256];
        float want[4096];
        const char *tab = strchr((const char *)logits, '\t');
        int n_prompt = parse_id_list((const char *)logits, prompt, 256), n_want = tab ? 0 : -1, i;
        char *p = tab ? (char *)tab + 1 : NULL;
        it_decoder *dec = NULL;
        const float *got;
        double worst = 0, range = 0;
        while (p && *p && *p != '\n' && n_want < 4096) {
            want[n_want++] = strtof(p, &p);
            if (*p == ',') p++;
        }
        CHECK(n_want == m->config.vocab_size && type == IT_WEIGHT_F32, "logits.txt has the %d logits (%d) of an F32 file",
              m->config.vocab_size, n_want);
        if (n_want == m->config.vocab_size && it_decoder_create(m, n_prompt, &dec) == IT_OK &&
            it_decoder_feed(dec, prompt, n_prompt, &got) == IT_OK) {
            for (i = 0; i < n_want; i++) worst = fmax(worst, fabs(got[i] - want[i])), range = fmax(range, fabs(want[i]));
            CHECK(worst <= 1e-4 * range, "transformers' logits at the prompt's last position within %.3g of %.3g", worst, range);
        } else {
            CHECK(0, "the converter's model decodes: %s", it_context_last_error(ctx));
        }
        it_decoder_destroy(dec);
        free(logits);
    }
    free(cases);
    it_tokenizer_destroy(tok);
    it_context_destroy(ctx);
    /* the converter's file cut short anywhere: refused (its keys are laid out as ours are not) */
    it_test_tmp_path(path, sizeof path, "conv_cut.gguf");
    if ((file = it_test_read_file(SPM_REAL "/model.gguf", &n_file))) {
        int refused = 0, tried = 0;
        size_t cut;
        for (cut = 0; cut < n_file; cut += cut < 20000 ? 97 : 4099) {
            char err[1024];
            it_test_write_file(path, file, cut);
            tried++;
            refused += load(path, err, sizeof err, NULL) != IT_OK && err[0];
        }
        CHECK(refused == tried, "the converter's file cut at %d points: %d refused with a reason", tried, refused);
        free(file);
        remove(path);
    }
}

int main(void) {
    test_roundtrip();
    test_hostile();
    test_tokenizer_roundtrip();
    test_tokenizer_hostile();
    test_spm_tokenizer();
    test_chat_template();
    test_rope_llama3();
    test_qwen_hostile();
    test_llamacpp_converted();
    return it_test_finish();
}
