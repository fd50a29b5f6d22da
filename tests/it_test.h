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

static int it_test_finish(void) {
    (void)it_test_close; /* not every program compares floats */
    printf("%d passed, %d failed\n", it_test_passed, it_test_failed);
    return it_test_failed ? 1 : 0;
}
#endif
