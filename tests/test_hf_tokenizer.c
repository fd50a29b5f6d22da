/* Hugging Face tokenizers: encode and decode against the ids and text the `tokenizers` library
   produced (tests/fixtures/hf_tokenizers, written by tests/fixtures/make_tokenizer_fixtures.py)
   for five tokenizers of the three families, through tokenizer.json and through the model
   directory (what transformers' AutoTokenizer gave); streaming decode; NFC and the regex engine on
   their own; long words (encoding is not quadratic); hostile tokenizer.json files; out of memory
   at every allocation in turn of loading, encoding, decoding and streaming. */
#include "it_count_alloc.h" /* first: the counting allocator (and its malloc trap, undone below) */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#undef malloc
#undef calloc
#undef realloc
#include "it_test.h"
#include <time.h>

#define FIXTURES "tests/fixtures/hf_tokenizers"

static const char *const FAMILIES[] = {"gpt2", "llama3", "qwen2", "sp", "meta"};
#define N_FAMILIES 5

static it__json cases;
static it_context *g_ctx; /* for the internal helpers tested directly */
static unsigned char *cases_text;

static int jat(int arr, int i) { /* element i of a JSON array */
    int c = cases.v[arr].first;
    while (c >= 0 && i-- > 0) c = cases.v[c].next;
    return c;
}
static int jkey(int obj, const char *key) { return it__jget(&cases, obj, key); }

/* Do ids equal the JSON array of integers `want`? */
static int same_ids(const int32_t *ids, size_t n, int want) {
    int c, k = 0;
    if (want < 0 || cases.v[want].type != IT__J_ARR || (size_t)cases.v[want].n != n) return 0;
    for (c = cases.v[want].first; c >= 0; c = cases.v[c].next, k++)
        if (cases.v[c].i64 != ids[k]) return 0;
    return 1;
}
static void print_ids(const char *what, const int32_t *ids, size_t n) {
    size_t k;
    fprintf(stderr, "    %s:", what);
    for (k = 0; k < n; k++) fprintf(stderr, " %ld", (long)ids[k]);
    fputc('\n', stderr);
}
static void print_json_ids(const char *what, int arr) {
    int c;
    fprintf(stderr, "    %s:", what);
    for (c = arr >= 0 ? cases.v[arr].first : -1; c >= 0; c = cases.v[c].next) fprintf(stderr, " %ld", (long)cases.v[c].i64);
    fputc('\n', stderr);
}
/* JSON ids into an array (for decoding). */
static size_t json_ids(int arr, int32_t *out, size_t cap) {
    size_t n = 0;
    int c;
    for (c = cases.v[arr].first; c >= 0 && n < cap; c = cases.v[c].next) out[n++] = (int32_t)cases.v[c].i64;
    return n;
}
static char *decode_all(const it_tokenizer *tok, const int32_t *ids, size_t n, int flags, size_t *len) {
    size_t need = it_tokenizer_decode_flags(tok, ids, n, flags, NULL, 0);
    char *buf;
    if (need == (size_t)-1) return NULL;
    buf = (char *)malloc(need + 1);
    *len = it_tokenizer_decode_flags(tok, ids, n, flags, (uint8_t *)buf, need);
    buf[*len] = 0;
    return buf;
}

static void test_family(it_context *ctx, const char *name, int fam) {
    char dir[256], json[300];
    it_tokenizer *tj = NULL, *td = NULL;
    int strings = jkey(0, "strings"), ids_arr = jkey(fam, "ids"), plain = jkey(fam, "ids_plain"), dec = jkey(fam, "decode");
    int dskip = jkey(fam, "decode_skip"), tf = jkey(fam, "tf_ids"), i, n_strings = cases.v[strings].n;
    int ok_ids = 0, ok_plain = 0, ok_tf = 0, ok_dec = 0, ok_skip = 0, ok_stream = 0, ok_rand = 0, n_plain = cases.v[plain].n;
    int32_t buf[4096];
    snprintf(dir, sizeof dir, FIXTURES "/%s", name);
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    CHECK(it_tokenizer_load_hf(ctx, json, &tj) == IT_OK, "%s: load tokenizer.json: %s", name, it_context_last_error(ctx));
    CHECK(it_tokenizer_load_hf(ctx, dir, &td) == IT_OK, "%s: load the directory: %s", name, it_context_last_error(ctx));
    if (!tj || !td) return;
    for (i = 0; i < n_strings; i++) {
        int sv = jat(strings, i), want = jat(ids_arr, i), w;
        const char *s = cases.v[sv].str;
        size_t n = cases.v[sv].len, n_ids = 0, n_plain_ids = 0, len;
        int32_t *ids = NULL, *pids = NULL;
        char *text;
        if (it_tokenizer_encode(ctx, tj, (const uint8_t *)s, n, &ids, &n_ids) != IT_OK) {
            CHECK(0, "%s: encode string %d: %s", name, i, it_context_last_error(ctx));
            continue;
        }
        if (same_ids(ids, n_ids, want)) ok_ids++;
        else {
            CHECK(0, "%s: string %d \"%.80s\": ids differ from tokenizers'", name, i, s);
            print_ids("ours", ids, n_ids);
            print_json_ids("tokenizers", want);
        }
        if (i < n_plain) { /* without the template */
            w = jat(plain, i);
            if (cases.v[w].type == IT__J_NULL) w = want;
            CHECK(it_tokenizer_encode_flags(ctx, tj, (const uint8_t *)s, n, IT_TOKENIZE_NO_SPECIAL, &pids, &n_plain_ids) == IT_OK,
                  "%s: encode no-special %d", name, i);
            if (same_ids(pids, n_plain_ids, w)) ok_plain++;
            else {
                CHECK(0, "%s: string %d \"%.80s\": add_special_tokens=False ids differ", name, i, s);
                print_ids("ours", pids, n_plain_ids);
                print_json_ids("tokenizers", w);
            }
            it_ids_free(ctx, pids);
        }
        if (tf >= 0) { /* the directory, as transformers' AutoTokenizer read it */
            int32_t *dids = NULL;
            size_t n_dids = 0;
            w = jat(tf, i);
            if (cases.v[w].type == IT__J_NULL) w = want;
            if (it_tokenizer_encode(ctx, td, (const uint8_t *)s, n, &dids, &n_dids) == IT_OK && same_ids(dids, n_dids, w)) ok_tf++;
            else CHECK(0, "%s: string %d: the directory's ids differ from transformers'", name, i);
            it_ids_free(ctx, dids);
        }
        /* decode tokenizers' own ids, keeping and skipping special tokens */
        n_ids = json_ids(want, buf, 4096);
        if (i < cases.v[dec].n) {
            int d = jat(dec, i);
            const char *expect = cases.v[d].type == IT__J_NULL ? s : cases.v[d].str;
            text = decode_all(tj, buf, n_ids, 0, &len);
            if (text && len == strlen(expect) && memcmp(text, expect, len) == 0) ok_dec++;
            else CHECK(0, "%s: string %d: decode \"%.80s\", tokenizers \"%.80s\"", name, i, text ? text : "(oom)", expect);
            free(text);
        }
        {
            int d = jat(dskip, i);
            const char *expect = cases.v[d].type == IT__J_NULL ? s : cases.v[d].str;
            it_token_stream *st = NULL;
            char streamed[8192];
            size_t at = 0, k;
            text = decode_all(tj, buf, n_ids, IT_TOKENIZE_NO_SPECIAL, &len);
            if (text && len == strlen(expect) && memcmp(text, expect, len) == 0) ok_skip++;
            else CHECK(0, "%s: string %d: decode (skip special) \"%.80s\", tokenizers \"%.80s\"", name, i, text ? text : "(oom)", expect);
            /* streaming gives the same text, whole characters at a time */
            if (it_token_stream_create(ctx, tj, IT_TOKENIZE_NO_SPECIAL, &st) == IT_OK) {
                int good = 1;
                for (k = 0; k < n_ids; k++) {
                    const char *piece;
                    size_t plen;
                    if (it_token_stream_push(st, buf[k], &piece, &plen) != IT_OK || at + plen > sizeof streamed) {
                        good = 0;
                        break;
                    }
                    if (plen && it__utf8_check((const uint8_t *)piece, plen) != plen) good = 0;
                    memcpy(streamed + at, piece, plen);
                    at += plen;
                }
                if (good && text && at == len && memcmp(streamed, text, len) == 0) ok_stream++;
                else CHECK(0, "%s: string %d: streamed \"%.*s\" != decoded \"%.80s\"", name, i, (int)(at < 80 ? at : 80), streamed, text ? text : "");
                it_token_stream_destroy(st);
            }
            free(text);
        }
        it_ids_free(ctx, ids);
    }
    { /* random id sequences: decoding only */
        int r_ids = jkey(fam, "random_ids"), r_dec = jkey(fam, "random_decode"), r_skip = jkey(fam, "random_decode_skip");
        for (i = 0; i < cases.v[r_ids].n; i++) {
            size_t n = json_ids(jat(r_ids, i), buf, 4096), len1, len2;
            char *a = decode_all(tj, buf, n, 0, &len1), *b = decode_all(tj, buf, n, IT_TOKENIZE_NO_SPECIAL, &len2);
            const it__jv *ea = &cases.v[jat(r_dec, i)], *eb = &cases.v[jat(r_skip, i)];
            if (a && b && len1 == ea->len && !memcmp(a, ea->str, len1) && len2 == eb->len && !memcmp(b, eb->str, len2)) ok_rand++;
            else {
                CHECK(0, "%s: random ids %d: decode \"%s\" / \"%s\", tokenizers \"%s\" / \"%s\"", name, i, a ? a : "", b ? b : "",
                      ea->str, eb->str);
                print_json_ids("ids", jat(r_ids, i));
            }
            free(a);
            free(b);
        }
        CHECK(ok_rand == cases.v[r_ids].n, "%s: %d of %d random decodings equal", name, ok_rand, cases.v[r_ids].n);
    }
    printf("%-7s ids %d/%d, no-special %d/%d, directory %d/%d, decode %d/%d, skip-special %d/%d, stream %d/%d, random %d\n", name,
           ok_ids, n_strings, ok_plain, n_plain, ok_tf, tf >= 0 ? n_strings : 0, ok_dec, cases.v[dec].n, ok_skip, n_strings,
           ok_stream, n_strings, ok_rand);
    CHECK(ok_ids == n_strings && ok_plain == n_plain && (tf < 0 || ok_tf == n_strings) && ok_dec == cases.v[dec].n &&
              ok_skip == n_strings && ok_stream == n_strings,
          "%s: every string matches", name);
    it_tokenizer_destroy(tj);
    it_tokenizer_destroy(td);
}

static void test_nfc(void) {
    static const char *const pairs[][2] = {
        {"e\xCC\x81", "\xC3\xA9"},                             /* e + acute -> é */
        {"\xE2\x84\xAB", "\xC3\x85"},                          /* ANGSTROM SIGN -> Å (singleton) */
        {"s\xCC\xA3\xCC\x87", "\xE1\xB9\xA9"},                 /* s + dot below + dot above -> ṩ */
        {"s\xCC\x87\xCC\xA3", "\xE1\xB9\xA9"},                 /* marks in the other order: reordered first */
        {"\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81"}, /* jamo L V T -> 각 */
        {"a\xCC\x8A\xCC\x81", "\xC7\xBB"},                     /* a + ring + acute -> ǻ */
        {"\xE0\xA4\x95\xE0\xA4\xBC", "\xE0\xA4\x95\xE0\xA4\xBC"}, /* क + nukta: U+0958 is excluded */
        {"\xE0\xA4\xA8\xE0\xA4\xBC", "\xE0\xA4\xA9"},                 /* न + nukta -> ऩ (not excluded) */
        {"abc", "abc"},
    };
    it__u32s cps;
    it__bytes out;
    size_t k;
    memset(&cps, 0, sizeof cps);
    memset(&out, 0, sizeof out);
    cps.ctx = out.ctx = g_ctx;
    for (k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        out.n = 0;
        it__uc_normalize((const uint8_t *)pairs[k][0], strlen(pairs[k][0]), 1, &cps, &out);
        CHECK(out.n == strlen(pairs[k][1]) && memcmp(out.p, pairs[k][1], out.n) == 0, "NFC case %d", (int)k);
    }
    out.n = 0;
    it__uc_normalize((const uint8_t *)"\xC3\xA9", 2, 0, &cps, &out); /* NFD of é */
    CHECK(out.n == 3 && memcmp(out.p, "e\xCC\x81", 3) == 0, "NFD of U+00E9");
    it__free(g_ctx, cps.p);
    it__bytes_free(&out);
}

/* Every match of pattern in text, joined with '|'. */
static void rx_expect(const char *pattern, const char *text, const char *want) {
    it__rx rx;
    it__rx_stack st;
    char err[200], got[512];
    size_t i = 0, n = strlen(text), end, at = 0, len;
    memset(&st, 0, sizeof st);
    st.ctx = g_ctx;
    if (it__rx_compile(g_ctx, &rx, pattern, strlen(pattern), err, sizeof err)) {
        CHECK(0, "regex %s: %s", pattern, err);
        return;
    }
    got[0] = 0;
    while (i < n) {
        if (it__rx_run(&rx, 0, (const uint8_t *)text, n, i, &st, &end) == 1 && end > i) {
            at += (size_t)snprintf(got + at, sizeof got - at, "%s%.*s", at ? "|" : "", (int)(end - i), text + i);
            i = end;
        } else {
            it__utf8_get((const uint8_t *)text + i, &len);
            i += len;
        }
    }
    CHECK(strcmp(got, want) == 0, "regex /%s/ on \"%s\": got \"%s\" want \"%s\"", pattern, text, got, want);
    it__rx_free(&rx);
    it__free(g_ctx, st.e);
}
static void rx_refuse(const char *pattern, const char *why) {
    it__rx rx;
    char err[200];
    int r = it__rx_compile(g_ctx, &rx, pattern, strlen(pattern), err, sizeof err);
    CHECK(r != 0 && strstr(err, why) != NULL, "regex /%s/ refused with \"%s\" (got %s)", pattern, why, r ? err : "accepted");
    if (r == 0) it__rx_free(&rx);
}
static void test_regex(void) {
    rx_expect(it__hf_gpt2_pattern, "Hello  world's 123!! \n", "Hello| | world|'s| 123|!!| \n");
    rx_expect("\\p{N}{1,3}", "1234567", "123|456|7");
    rx_expect("(?i:'s|'t)", "'S 'T 's 'x '\xC5\xBF", "'S|'T|'s|'\xC5\xBF"); /* ſ folds to s */
    rx_expect("a+?b|a", "aab", "aab");
    rx_expect("x(?=y)", "xyxz", "x");
    rx_expect("[^\\s\\p{L}]+", "ab,;c d..", ",;|..");
    rx_expect("\\s+(?!\\S)|\\s+", "a   b  ", "  | |  ");
    rx_expect("(ab){2}|c", "ababab c", "abab|c");
    rx_expect("[a-c\\d]+", "xab1cz", "ab1c");
    rx_expect(".+", "a\nb", "a|b");
    rx_refuse("\\bword", "unsupported escape");
    rx_refuse("^a", "anchors");
    rx_refuse("(?<=a)b", "unsupported group");
    rx_refuse("a++", "possessive");
    rx_refuse("(a*)*", "can match nothing");
    rx_refuse("\\p{Greek}", "unknown Unicode property");
    rx_refuse("(?i:\xC3\xA9)", "non-ASCII");
    rx_refuse("[abc", "unterminated");
    rx_refuse("(ab", "missing )");
}

/* Long words: a quadratic merge would take hours here; the heap takes milliseconds. */
static void test_long_words(it_context *ctx) {
    it_tokenizer *tok = NULL;
    size_t n = 1 << 20, k, n_ids = 0;
    uint8_t *text = (uint8_t *)malloc(n);
    int32_t *ids = NULL;
    const char *const fams[2] = {FIXTURES "/gpt2", FIXTURES "/sp"};
    int f;
    for (f = 0; f < 2; f++) {
        clock_t t0;
        double dt;
        if (it_tokenizer_load_hf(ctx, fams[f], &tok) != IT_OK) {
            CHECK(0, "load %s", fams[f]);
            continue;
        }
        for (k = 0; k < n; k++) text[k] = (uint8_t)("thequickbrownfox"[(k * 7 + k / 13) % 16]);
        t0 = clock();
        CHECK(it_tokenizer_encode(ctx, tok, text, n, &ids, &n_ids) == IT_OK && n_ids > 0 && n_ids < n, "a 1 MiB word encodes");
        dt = (double)(clock() - t0) / CLOCKS_PER_SEC;
        printf("%s: one word of %zu letters -> %zu ids in %.2f s\n", fams[f], n, n_ids, dt);
        it_ids_free(ctx, ids);
        memset(text, ' ', n);
        CHECK(it_tokenizer_encode(ctx, tok, text, n, &ids, &n_ids) == IT_OK && n_ids > 0, "a 1 MiB run of spaces encodes");
        it_ids_free(ctx, ids);
        it_tokenizer_destroy(tok);
        tok = NULL;
    }
    free(text);
}

/* A tokenizer.json variant: the gpt2 fixture with one substring replaced. */
static it_result load_variant(it_context *ctx, const char *base, const char *from, const char *to, int truncate_at) {
    char src[300], path[300];
    size_t n, lf, lt;
    unsigned char *text;
    char *out, *hit;
    it_tokenizer *tok = NULL;
    it_result r;
    snprintf(src, sizeof src, FIXTURES "/%s/tokenizer.json", base);
    text = it_test_read_file(src, &n);
    if (!text) return IT_ERR_IO;
    it_test_tmp_path(path, sizeof path, "hostile_tokenizer.json");
    if (truncate_at >= 0) {
        it_test_write_file(path, text, (size_t)truncate_at < n ? (size_t)truncate_at : n);
    } else {
        lf = strlen(from);
        lt = strlen(to);
        hit = strstr((char *)text, from);
        if (!hit) {
            free(text);
            CHECK(0, "variant: \"%s\" not in %s", from, src);
            return IT_OK;
        }
        out = (char *)malloc(n - lf + lt + 1);
        memcpy(out, text, (size_t)(hit - (char *)text));
        memcpy(out + (hit - (char *)text), to, lt);
        memcpy(out + (hit - (char *)text) + lt, hit + lf, n - (size_t)(hit - (char *)text) - lf);
        it_test_write_file(path, out, n - lf + lt);
        free(out);
    }
    free(text);
    r = it_tokenizer_load_hf(ctx, path, &tok);
    if (tok) it_tokenizer_destroy(tok);
    remove(path);
    return r;
}
static void hostile(it_context *ctx, const char *base, const char *from, const char *to, it_result want, const char *why) {
    it_result r = load_variant(ctx, base, from, to, -1);
    CHECK(r == want && strstr(it_context_last_error(ctx), why) != NULL, "%s -> %s: want %s with \"%s\", got %s: %s", from, to,
          it_result_string(want), why, it_result_string(r), it_context_last_error(ctx));
}
static void test_hostile(it_context *ctx) {
    size_t n = 0;
    unsigned char *whole = it_test_read_file(FIXTURES "/gpt2/tokenizer.json", &n);
    size_t cut;
    int all = 1;
    it_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n_ids;
    free(whole);
    for (cut = 0; cut < n; cut += n / 37 + 1) { /* truncated anywhere: a JSON error, never a crash */
        it_result r = load_variant(ctx, "gpt2", NULL, NULL, (int)cut);
        if (r != IT_ERR_FORMAT) all = 0;
    }
    CHECK(all, "every truncation of tokenizer.json is IT_ERR_FORMAT");
    hostile(ctx, "gpt2", "\"type\":\"BPE\"", "\"type\":\"WordPiece\"", IT_ERR_UNSUPPORTED, "WordPiece");
    hostile(ctx, "gpt2", "\"type\":\"BPE\"", "\"type\":\"Unigram\"", IT_ERR_UNSUPPORTED, "Unigram");
    hostile(ctx, "qwen2", "{\"type\":\"NFC\"}", "{\"type\":\"Lowercase\"}", IT_ERR_UNSUPPORTED, "Lowercase");
    hostile(ctx, "gpt2", "\"pre_tokenizer\":{\"type\":\"ByteLevel\"", "\"pre_tokenizer\":{\"type\":\"Whitespace\"", IT_ERR_UNSUPPORTED,
            "Whitespace");
    hostile(ctx, "gpt2", "\"decoder\":{\"type\":\"ByteLevel\"", "\"decoder\":{\"type\":\"WordPiece\"", IT_ERR_UNSUPPORTED, "WordPiece");
    hostile(ctx, "gpt2", "\"post_processor\":{\"type\":\"ByteLevel\"", "\"post_processor\":{\"type\":\"BertProcessing\"",
            IT_ERR_UNSUPPORTED, "BertProcessing");
    hostile(ctx, "llama3", "(?i:'s|", "\\\\b(?i:'s|", IT_ERR_UNSUPPORTED, "unsupported escape");
    hostile(ctx, "gpt2", "\"vocab\":{", "\"vocab\":[],\"x\":{", IT_ERR_FORMAT, "model.vocab is an array");
    hostile(ctx, "gpt2", "\"merges\":[", "\"merges\":[7,", IT_ERR_FORMAT, "merges[0] is neither");
    hostile(ctx, "gpt2", "\"merges\":[", "\"merges\":[\"zz qq\",", IT_ERR_FORMAT, "not in the vocabulary");
    hostile(ctx, "gpt2", "\"vocab\":{", "\"vocab\":{\"huge\":1000000000,", IT_ERR_FORMAT, "not an id in [0, 262144)");
    hostile(ctx, "gpt2", "\"vocab\":{", "\"vocab\":{\"dup\":5,", IT_ERR_FORMAT, "gives id 5 to both");
    hostile(ctx, "gpt2", "\"id\":0,", "\"id\":\"0\",", IT_ERR_FORMAT, "added_tokens[0].id is a string");
    hostile(ctx, "gpt2", "\"single_word\":false", "\"single_word\":true", IT_ERR_UNSUPPORTED, "single_word");
    hostile(ctx, "gpt2", "\"dropout\":null", "\"dropout\":0.1", IT_ERR_UNSUPPORTED, "dropout");
    hostile(ctx, "gpt2", "\"truncation\":null", "\"truncation\":{\"max_length\":5}", IT_ERR_UNSUPPORTED, "truncation");
    hostile(ctx, "sp", "\"type\":\"Strip\",\"content\":\" \",\"start\":1", "\"type\":\"Strip\",\"content\":\" \",\"start\":\"1\"",
            IT_ERR_FORMAT, "start is a string");
    hostile(ctx, "meta", "\"prepend_scheme\":\"first\"", "\"prepend_scheme\":\"sometimes\"", IT_ERR_UNSUPPORTED, "sometimes");
    hostile(ctx, "gpt2", "\"model\":{", "\"model\":7,\"m\":{", IT_ERR_FORMAT, "model is a number");
    /* an input that is not UTF-8 */
    CHECK(it_tokenizer_load_hf(ctx, FIXTURES "/gpt2", &tok) == IT_OK, "load gpt2");
    if (tok) {
        CHECK(it_tokenizer_encode(ctx, tok, (const uint8_t *)"ab\xFF", 3, &ids, &n_ids) == IT_ERR_INVALID_ARGUMENT &&
                  strstr(it_context_last_error(ctx), "not valid UTF-8"),
              "invalid UTF-8 text is refused: %s", it_context_last_error(ctx));
        CHECK(it_tokenizer_save(ctx, tok, "/tmp/never_written.tok") == IT_ERR_UNSUPPORTED, "an HF tokenizer is not saved as ITTK");
        it_tokenizer_destroy(tok);
    }
    CHECK(it_tokenizer_load_hf(ctx, FIXTURES "/no_such_dir", &tok) == IT_ERR_IO, "a missing path is IT_ERR_IO");
}


/* Out of memory at allocation n of a pass (load a directory, encode with specials, decode both
   ways, stream), for every n: each refusal surfaces as an error, and destroying the context
   leaves no byte behind. Also: no raw malloc in the library. */
static void test_oom_sweep(const char *name) {
    static const char text[] = "Hello <|endoftext|> w\xC3\xB6rld caf\xC3\xA9 \xF0\x9F\x98\x80 it's 12345!\n  <s>x";
    char dir[256];
    long n, runs = 0, leaks = 0, swallowed = 0, first_leak = 0, first_swallow = 0;
    snprintf(dir, sizeof dir, FIXTURES "/%s", name);
    g_raw_allocs = 0; /* the other tests' contexts use the default allocator, which is malloc */
    for (n = 1; n < 200000; n++) {
        it_context_desc d;
        it_context *ctx = NULL;
        it_tokenizer *tok = NULL;
        it_token_stream *st = NULL;
        int32_t *ids = NULL;
        size_t n_ids = 0, k;
        int failures = 0;
        memset(&g_count, 0, sizeof g_count);
        memset(&d, 0, sizeof d);
        d.n_threads = 1;
        d.allocator.alloc = count_alloc;
        d.allocator.free = count_free;
        d.allocator.user = &g_count;
        d.logger.log = it_test_quiet_log;
        if (it_context_create(&d, &ctx) != IT_OK) return;
        g_count.fail_at = g_count.allocs + n;
        if (it_tokenizer_load_hf(ctx, dir, &tok) != IT_OK) failures++;
        else {
            if (it_tokenizer_encode(ctx, tok, (const uint8_t *)text, sizeof text - 1, &ids, &n_ids) != IT_OK) failures++;
            else {
                failures += it_tokenizer_decode_flags(tok, ids, n_ids, 0, NULL, 0) == (size_t)-1;
                failures += it_tokenizer_decode_flags(tok, ids, n_ids, IT_TOKENIZE_NO_SPECIAL, NULL, 0) == (size_t)-1;
                if (it_token_stream_create(ctx, tok, 0, &st) != IT_OK) failures++;
                else
                    for (k = 0; k < n_ids; k++) {
                        const char *piece;
                        size_t len;
                        if (it_token_stream_push(st, ids[k], &piece, &len) != IT_OK) {
                            failures++;
                            break;
                        }
                    }
            }
            it_ids_free(ctx, ids);
        }
        if (!g_count.failed) { /* fewer than n allocations: every one was refused once */
            it_context_destroy(ctx);
            break;
        }
        runs++;
        if (!failures && !swallowed++) first_swallow = n;
        it_context_destroy(ctx);
        if (g_count.live && !leaks++) first_leak = n;
    }
    printf("%s: out-of-memory sweep: %ld passes, %ld leaked (first at %ld), %ld swallowed (first at %ld)\n", name, runs,
           leaks, first_leak, swallowed, first_swallow);
    CHECK(runs > 50, "%s: the sweep refused every allocation in turn (%ld)", name, runs);
    CHECK(leaks == 0, "%s: no bytes left after a refused allocation (first: allocation %ld)", name, first_leak);
    CHECK(swallowed == 0, "%s: a refused allocation always surfaces as an error (first: allocation %ld)", name, first_swallow);
    CHECK(g_raw_allocs == 0, "no raw malloc/calloc/realloc in the library (%ld)", g_raw_allocs);
}


/* The library's one UTF-8 validator (it__utf8_seq: JSON strings, tokenizer input, lossy decoding)
   against a reference built from first principles: every code point encoded by hand must be
   accepted with its length, and for every lead and second byte (with representative third and
   fourth bytes, cut at every length) a sequence is valid exactly when it re-encodes a code point,
   and an invalid one is replaced over its longest prefix that some code point's encoding starts
   with (Unicode's maximal subpart, as String::from_utf8_lossy does). */
static int ref_encode(uint32_t cp, uint8_t *d) {
    if (cp < 0x80) return d[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return d[0] = (uint8_t)(0xC0 | cp >> 6), d[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) return d[0] = (uint8_t)(0xE0 | cp >> 12), d[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), d[2] = (uint8_t)(0x80 | (cp & 0x3F)), 3;
    d[0] = (uint8_t)(0xF0 | cp >> 18), d[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    d[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), d[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
static void test_utf8(void) {
    static const uint8_t tail[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF5, 0xFF};
    /* prefix[k - 1]: the byte strings of length k (k < 4) some code point's encoding starts with */
    uint8_t *prefix = (uint8_t *)calloc(1u << 24, 1); /* bit 0: one byte, bit 1: two, bit 2: three */
    uint8_t *full = (uint8_t *)calloc(1u << 24, 1);   /* bit k: the first k + 1 bytes encode a code point */
    uint32_t cp;
    int accepted = 1, agree = 1, b0, b1, t2, t3, n;
    for (cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t e[4];
        int len;
        size_t bad = 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        len = ref_encode(cp, e);
        if (it__utf8_seq(e, (size_t)len, &bad) != len) accepted = 0;
        if (len == 4) continue; /* 4-byte sequences are checked below through their first three bytes */
        full[(uint32_t)e[0] << 16 | (uint32_t)(len > 1 ? e[1] : 0) << 8 | (len > 2 ? e[2] : 0)] |= (uint8_t)(1 << (len - 1));
    }
    for (cp = 0x80; cp <= 0x10FFFF; cp++) {
        uint8_t e[4];
        int len, k;
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        len = ref_encode(cp, e);
        for (k = 1; k < len; k++) /* proper prefixes */
            prefix[(uint32_t)e[0] << 16 | (uint32_t)(k > 1 ? e[1] : 0) << 8 | (k > 2 ? e[2] : 0)] |= (uint8_t)(1 << (k - 1));
    }
    CHECK(accepted, "utf8: a code point's own encoding was refused");
    for (b0 = 0; b0 < 256; b0++)
        for (b1 = 0; b1 < 256; b1++)
            for (t2 = 0; t2 < (int)sizeof tail; t2++)
                for (t3 = 0; t3 < (int)sizeof tail; t3++)
                    for (n = 1; n <= 4; n++) {
                        uint8_t s4[4] = {(uint8_t)b0, (uint8_t)b1, tail[t2], tail[t3]};
                        int want_len = 0, k, got;
                        size_t want_bad = 1, bad = 0;
                        for (k = 1; k <= n && !want_len; k++) {
                            if (k < 4) {
                                uint32_t key = (uint32_t)s4[0] << 16 | (uint32_t)(k > 1 ? s4[1] : 0) << 8 | (k > 2 ? s4[2] : 0);
                                if (full[key] & (1 << (k - 1))) want_len = k;
                                else if (prefix[key] & (1 << (k - 1))) want_bad = (size_t)k;
                                else break;
                            } else if ((s4[3] & 0xC0) == 0x80) {
                                want_len = 4; /* the first three bytes prefix a 4-byte encoding; any continuation ends it */
                            }
                        }
                        got = it__utf8_seq(s4, (size_t)n, &bad);
                        if (got != want_len || (!got && bad != want_bad)) {
                            if (agree)
                                fprintf(stderr, "utf8: %02X %02X %02X %02X (n %d): length %d bad %zu, want %d bad %zu\n", s4[0],
                                        s4[1], s4[2], s4[3], n, got, bad, want_len, want_bad);
                            agree = 0;
                        }
                    }
    CHECK(agree, "utf8: the validator disagrees with the reference (first case above)");
    free(prefix);
    free(full);
}

int main(void) {
    it_context *ctx = it_test_context(1);
    size_t n = 0;
    int f;
    g_ctx = ctx;
    cases_text = it_test_read_file(FIXTURES "/cases.json", &n);
    if (!cases_text || it__json_parse(ctx, &cases, (const char *)cases_text, n)) {
        fprintf(stderr, "cannot read " FIXTURES "/cases.json (run from the repository root)\n");
        return 1;
    }
    test_nfc();
    test_utf8();
    test_regex();
    for (f = 0; f < N_FAMILIES; f++) test_family(ctx, FAMILIES[f], jkey(jkey(0, "families"), FAMILIES[f]));
    test_long_words(ctx);
    test_hostile(ctx);
    test_oom_sweep("gpt2");
    test_oom_sweep("sp");
    test_oom_sweep("qwen2");
    count_alloc_trap_unused();
    it__json_free(&cases);
    free(cases_text);
    it_context_destroy(ctx);
    return it_test_finish();
}
