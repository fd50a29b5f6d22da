/* it_test.h - the tiny test harness every test program uses.
   CHECK(cond, ...) records a pass or a failure (with file, line and a printf-style message);
   CHECK_CLOSE compares numbers with a relative + absolute tolerance; it_test_finish() prints
   the closing line "N passed, N failed" and returns the exit code. */
#ifndef IT_TEST_H
#define IT_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
/* Writes n bytes to path, replacing it. */
/* Writes a whole file; a test that cannot write its fixtures stops (exit 2). */
static void it_test_write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (n) fwrite(buf, 1, n, f);
    fclose(f);
}

static int it_test_finish(void) {
    (void)it_test_close; /* not every program compares floats or reads files */
    (void)it_test_read_file;
    (void)it_test_write_file;
    printf("%d passed, %d failed\n", it_test_passed, it_test_failed);
    return it_test_failed ? 1 : 0;
}
#endif
