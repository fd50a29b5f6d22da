/* it_test.h - the tiny test harness every test program uses.
   CHECK(cond, ...) records a pass or a failure (with file, line and a printf-style message);
   CHECK_CLOSE compares numbers with a relative + absolute tolerance; it_test_finish() prints
   the closing line "N passed, N failed" and returns the exit code. File helpers read, write and
   remove test files. A program that includes irontensor.h first also gets the shared fixtures:
   a quiet context and small model configs (the end of this file). */
#ifndef IT_TEST_H
#define IT_TEST_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* getpid: the tests build as C99 + POSIX (-D_DEFAULT_SOURCE) */

static int it_test_passed, it_test_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            it_test_passed++;                                              \
        } else {                                                           \
            it_test_failed++;                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* |got - want| <= atol + rtol * |want| */
static int it_test_close(double got, double want, double rtol, double atol) {
    if (isnan(got) || isnan(want)) return 0;
    return fabs(got - want) <= atol + rtol * fabs(want);
}
#define CHECK_CLOSE(got, want, rtol, atol, what)                                                      \
    CHECK(it_test_close((got), (want), (rtol), (atol)), "%s: got %.9g want %.9g (rtol %g atol %g)",   \
          (what), (double)(got), (double)(want), (double)(rtol), (double)(atol))

/* The tests' own random numbers (SplitMix64), so test data does not depend on the library under
   test. A program may set it_test_rng_state to start elsewhere (test_ops reseeds it per case). */
static uint64_t it_test_rng_state = 0x1234567ull;
static uint64_t it_test_rng_u64(void) {
    uint64_t z = (it_test_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double it_test_uniform(void) { return (double)(it_test_rng_u64() >> 11) * (1.0 / 9007199254740992.0); } /* [0, 1) */
static float it_test_signed(void) { return (float)((double)(it_test_rng_u64() >> 11) * (2.0 / 9007199254740992.0) - 1.0); } /* [-1, 1) */
static int it_test_below(int n) { return (int)(it_test_rng_u64() % (uint64_t)n); } /* [0, n), n > 0 */
/* x[i] = scale * uniform[-1, 1) */
static void it_test_fill(float *x, size_t n, float scale) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = scale * it_test_signed();
}

/* A whole file into a malloc'd buffer (NULL and *n = 0 when it cannot be opened). */
static unsigned char *it_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) size = 0;
    fclose(f);
    *n = (size_t)size;
    return buf;
}
/* Writes a whole file, replacing it; a test that cannot write its fixtures stops (exit 2). */
static void it_test_write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (n) fwrite(buf, 1, n, f);
    fclose(f);
}

/* A scratch path of this test run, /tmp/it_test_<pid>_<name>, so that the same test run at the
   same time from two checkouts does not share files. Returns buf. */
static const char *it_test_tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "/tmp/it_test_%ld_%s", (long)getpid(), name);
    return buf;
}
/* Removes a file or a whole directory tree (rm -rf: test directories under /tmp only). */
static void it_test_remove_tree(const char *path) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

/* ---- fixtures: for programs that include irontensor.h before this file -------------------- */
#ifdef IRONTENSOR_H
/* Tests provoke errors on purpose, so the fixture context counts log messages instead of printing
   them; it_test_log_shown = 1 (e.g. from a command-line flag) prints warnings and errors. */
static int it_test_log_count, it_test_log_shown;
static char it_test_last_warning[1024]; /* the latest warning, for loads that must warn */
static void it_test_quiet_log(it_log_level level, const char *message, void *user) {
    (void)user;
    it_test_log_count++;
    if (level == IT_LOG_WARN) snprintf(it_test_last_warning, sizeof it_test_last_warning, "%s", message);
    if (it_test_log_shown && level >= IT_LOG_WARN) fprintf(stderr, "  [log] %s\n", message);
}
/* A context with n_threads workers (0 = all cores) and the quiet logger; a test that cannot
   create one stops (exit 2). */
static it_context *it_test_context(int n_threads) {
    it_context_desc d;
    it_context *ctx = NULL;
    memset(&d, 0, sizeof d);
    d.n_threads = n_threads;
    d.logger.log = it_test_quiet_log;
    d.logger.min_level = IT_LOG_INFO;
    if (it_context_create(&d, &ctx) != IT_OK) {
        fprintf(stderr, "cannot create a test context\n");
        exit(2);
    }
    return ctx;
}
/* Small models that build and run in milliseconds. Llama with grouped-query attention (4 query
   heads over 2 kv heads) and an untied head; tests change single fields where they need to. */
static it_model_config it_test_llama(void) {
    it_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = IT_ARCH_LLAMA;
    c.vocab_size = 64;
    c.dim = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.ffn_dim = 48;
    c.max_seq = 16;
    c.untied = 1;
    c.rope_theta = 500000.0f;
    c.norm_eps = 1e-6f;
    return c;
}
/* Reference tensors a fixture script wrote with safetensors (logits, gradients, ids), read through
   the public inspection API; the data stay in the file's buffer. */
typedef struct it_test_ref_tensor {
    char name[128];
    char dtype[8];
    int64_t numel;
    uint64_t begin;
} it_test_ref_tensor;
typedef struct it_test_reference {
    unsigned char *file;
    size_t size;
    uint64_t data_start;
    it_test_ref_tensor t[256];
    int n;
} it_test_reference;
static void it_test_ref_collect(const it_safetensors_tensor_info *info, void *user) {
    it_test_reference *r = (it_test_reference *)user;
    it_test_ref_tensor *t;
    int d;
    if (r->n == 256) return;
    t = &r->t[r->n++];
    snprintf(t->name, sizeof t->name, "%s", info->name);
    snprintf(t->dtype, sizeof t->dtype, "%s", info->dtype);
    t->numel = 1;
    for (d = 0; d < info->ndim; d++) t->numel *= info->shape[d];
    t->begin = info->offset_begin;
}
/* DIR/FILE; 0 when it cannot be read. Free r->file afterwards. */
static int it_test_ref_load(it_context *ctx, const char *dir, const char *file, it_test_reference *r) {
    char path[512];
    uint64_t header = 0;
    int i;
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (it_safetensors_inspect(ctx, path, it_test_ref_collect, r) != IT_OK) return 0;
    r->file = it_test_read_file(path, &r->size);
    for (i = 0; i < 8 && r->file && r->size >= 8; i++) header |= (uint64_t)r->file[i] << (8 * i);
    r->data_start = 8 + header;
    return r->file != NULL;
}
static const it_test_ref_tensor *it_test_ref_find(const it_test_reference *r, const char *name) {
    int i;
    for (i = 0; i < r->n; i++)
        if (strcmp(r->t[i].name, name) == 0) return &r->t[i];
    return NULL;
}
static const float *it_test_ref_f32(const it_test_reference *r, const char *name, int64_t *numel) {
    const it_test_ref_tensor *t = it_test_ref_find(r, name);
    if (!t || strcmp(t->dtype, "F32") != 0) return NULL;
    if (numel) *numel = t->numel;
    return (const float *)(const void *)(r->file + r->data_start + t->begin);
}
static int it_test_ref_ids(const it_test_reference *r, const char *name, int32_t *out, int cap) {
    const it_test_ref_tensor *t = it_test_ref_find(r, name);
    int i;
    if (!t || strcmp(t->dtype, "I64") != 0 || t->numel > cap) return 0;
    for (i = 0; i < (int)t->numel; i++) {
        int64_t v;
        memcpy(&v, r->file + r->data_start + t->begin + 8 * (size_t)i, 8);
        out[i] = (int32_t)v;
    }
    return (int)t->numel;
}

/* Largest |got - want| / (atol + rtol |want|) over n values: <= 1 passes. */
static double it_test_worst(const float *got, const float *want, size_t n, double rtol, double atol) {
    double w = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (atol + rtol * fabs((double)want[i]));
        if (!(e <= w)) w = e; /* NaN counts as worst */
    }
    return w;
}
/* A bf16 loss and gradient block against fp32's with the bf16 tests' tolerances: the losses differ
   (bf16 is not ignored) by at most 1%, the gradients' relative error is <= 0.05 and their cosine
   >= 0.998. Returns the bf16 gradient's norm. */
static double it_test_check_bf16_grads(const char *what, double loss16, double loss32, const float *g16, const float *g32, size_t n) {
    double dot = 0, n32 = 0, n16 = 0, diff = 0;
    size_t i;
    for (i = 0; i < n; i++) dot += (double)g32[i] * g16[i], n32 += (double)g32[i] * g32[i], n16 += (double)g16[i] * g16[i],
                           diff += ((double)g32[i] - g16[i]) * ((double)g32[i] - g16[i]);
    CHECK(loss16 != loss32, "%s changes the loss (%.9g both): bf16 is not ignored", what, loss32);
    CHECK_CLOSE(loss16, loss32, 0.01, 0.0, what);
    CHECK(sqrt(diff / n32) <= 0.05, "%s gradient vs fp32: relative error %.3g (<= 0.05)", what, sqrt(diff / n32));
    CHECK(dot / sqrt(n32 * n16) >= 0.998, "%s gradient vs fp32: cosine %.6f (>= 0.998)", what, dot / sqrt(n32 * n16));
    return sqrt(n16);
}
/* GPT-2: learned positions, LayerNorm with biases, GELU MLP of 4 x dim, tied head. */
static it_model_config it_test_gpt2(void) {
    it_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = IT_ARCH_GPT2;
    c.vocab_size = 64;
    c.dim = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 4;
    c.ffn_dim = 128;
    c.max_seq = 16;
    return c;
}
/* Stamps fresh checksums into a safetensors file this library wrote, held in buf [n] (the data CRC,
   then the header CRC with its own digits read as zeros), as a writer that produced those bytes
   would: hostile tests edit a file and restamp it, so the check under test is reached. */
static void it_test_st_restamp(unsigned char *buf, size_t n) {
    size_t header_n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16;
    char *data_crc, *header_crc, last = (char)buf[8 + header_n - 1];
    buf[8 + header_n - 1] = 0; /* a terminator for strstr, for a moment */
    data_crc = strstr((char *)buf + 8, "\"irontensor.crc32_data\":\"");
    header_crc = strstr((char *)buf + 8, "\"irontensor.crc32_header\":\"");
    buf[8 + header_n - 1] = (unsigned char)last;
    if (!data_crc || !header_crc) exit(2);
    data_crc += strlen("\"irontensor.crc32_data\":\"");
    header_crc += strlen("\"irontensor.crc32_header\":\"");
    it__hex8(data_crc, it__data_crc32(buf + 8 + header_n, n - 8 - header_n));
    memcpy(header_crc, "00000000", 8);
    it__hex8(header_crc, it__data_crc32(buf, 8 + header_n));
}
#endif

static int it_test_finish(void) {
    (void)it_test_close; /* not every program compares floats, draws numbers or handles files */
    (void)it_test_uniform;
    (void)it_test_below;
    (void)it_test_fill;
    (void)it_test_read_file;
    (void)it_test_write_file;
    (void)it_test_remove_tree;
    (void)it_test_tmp_path;
#ifdef IRONTENSOR_H
    (void)it_test_context;
    (void)it_test_llama;
    (void)it_test_gpt2;
    (void)it_test_ref_load;
    (void)it_test_ref_f32;
    (void)it_test_ref_ids;
    (void)it_test_worst;
    (void)it_test_check_bf16_grads;
    (void)it_test_st_restamp;
#endif
    printf("%d passed, %d failed\n", it_test_passed, it_test_failed);
    return it_test_failed ? 1 : 0;
}
#endif
