/* Learning-rate schedules at chosen steps against values worked out by hand, names and parsing. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

static it_schedule sched(it_schedule_kind kind, float base, int warmup, int total, float ratio, float frac) {
    it_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.base_lr = base;
    s.warmup_steps = warmup;
    s.total_steps = total;
    s.min_lr_ratio = ratio;
    s.decay_frac = frac;
    return s;
}
#define NEAR(s, step, expect)                                                                          \
    do {                                                                                               \
        float got_ = it_schedule_lr(&(s), (step));                                                     \
        double e_ = (expect);                                                                          \
        CHECK(fabs(got_ - e_) <= 1e-6 * fabs(e_) + 1e-12, "%s step %d: %.9g, expected %.9g",           \
              it_schedule_name((s).kind), (step), (double)got_, e_);                                   \
    } while (0)

int main(void) {
    it_schedule s;
    it_schedule_kind k;
    int i;

    s = sched(IT_SCHEDULE_CONSTANT, 3e-4f, 10, 100, 0.1f, 0);
    NEAR(s, 0, 3e-4);
    NEAR(s, 5, 3e-4);
    NEAR(s, 1000, 3e-4);

    /* cosine: base 1e-3, warmup 10, total 110, floor 1e-4 */
    s = sched(IT_SCHEDULE_COSINE, 1e-3f, 10, 110, 0.1f, 0);
    NEAR(s, 0, 1e-4);   /* (0 + 1) / 10 */
    NEAR(s, 4, 5e-4);   /* (4 + 1) / 10 */
    NEAR(s, 9, 1e-3);
    NEAR(s, 10, 1e-3);  /* p = 0 */
    NEAR(s, 35, 1e-4 + 9e-4 * 0.5 * (1.0 + 0.70710678118654752)); /* p = 1/4 */
    NEAR(s, 60, 5.5e-4); /* p = 1/2 */
    NEAR(s, 85, 1e-4 + 9e-4 * 0.5 * (1.0 - 0.70710678118654752)); /* p = 3/4 */
    NEAR(s, 110, 1e-4);
    NEAR(s, 5000, 1e-4);
    NEAR(s, -3, 1e-4); /* negative steps count as 0 */
    s.kind = IT_SCHEDULE_DEFAULT;
    NEAR(s, 60, 5.5e-4); /* kind 0 is cosine */

    /* linear: warmup 10, total 110, floor 0 */
    s = sched(IT_SCHEDULE_LINEAR, 1e-3f, 10, 110, 0.0f, 0);
    NEAR(s, 9, 1e-3);
    NEAR(s, 10, 1e-3);
    NEAR(s, 60, 5e-4);
    NEAR(s, 109, 1e-5);
    NEAR(s, 110, 0.0);
    s.min_lr_ratio = 0.5f;
    NEAR(s, 60, 7.5e-4);

    /* invsqrt: warmup 100 */
    s = sched(IT_SCHEDULE_INVSQRT, 1.0f, 100, 0, 0.0f, 0);
    NEAR(s, 0, 0.01);
    NEAR(s, 99, 1.0);
    NEAR(s, 100, 1.0);
    NEAR(s, 400, 0.5);
    NEAR(s, 10000, 0.1);
    s.min_lr_ratio = 0.2f;
    NEAR(s, 10000, 0.2); /* floor */
    s = sched(IT_SCHEDULE_INVSQRT, 1.0f, 0, 0, 0.0f, 0);
    NEAR(s, 0, 1.0);
    NEAR(s, 1, 1.0);
    NEAR(s, 4, 0.5);

    /* wsd: total 1000, warmup 10, default decay_frac 0.2 -> decay over [800, 1000) to 0.1 */
    s = sched(IT_SCHEDULE_WSD, 1.0f, 10, 1000, 0.1f, 0.0f);
    NEAR(s, 0, 0.1);
    NEAR(s, 9, 1.0);
    NEAR(s, 500, 1.0);
    NEAR(s, 799, 1.0);
    NEAR(s, 800, 1.0);
    NEAR(s, 900, 0.55);
    NEAR(s, 999, 1.0 - 0.9 * 199.0 / 200.0);
    NEAR(s, 1000, 0.1);
    s.decay_frac = 0.5f;
    NEAR(s, 499, 1.0);
    NEAR(s, 750, 0.55);
    s.decay_frac = 1.0f; /* decay starts after warmup at the latest */
    NEAR(s, 10, 1.0);
    NEAR(s, 505, 1.0 - 0.9 * 495.0 / 990.0);

    /* total_steps 0: no decay */
    s = sched(IT_SCHEDULE_COSINE, 2.0f, 0, 0, 0.1f, 0);
    NEAR(s, 0, 2.0);
    NEAR(s, 100000, 2.0);

    /* a zero-initialised schedule is usable */
    memset(&s, 0, sizeof s);
    CHECK(it_schedule_lr(&s, 0) == 0.0f && it_schedule_lr(&s, 50) == 0.0f, "zero schedule");

    /* names */
    for (i = 1; i < (int)IT_SCHEDULE_COUNT; i++) {
        k = IT_SCHEDULE_DEFAULT;
        CHECK(it_schedule_parse(it_schedule_name((it_schedule_kind)i), &k) == IT_OK && (int)k == i, "parse %s",
              it_schedule_name((it_schedule_kind)i));
    }
    CHECK(strcmp(it_schedule_name(IT_SCHEDULE_WSD), "wsd") == 0, "wsd name");
    CHECK(strcmp(it_schedule_name(IT_SCHEDULE_INVSQRT), "invsqrt") == 0, "invsqrt name");
    CHECK(strcmp(it_schedule_name(IT_SCHEDULE_DEFAULT), "cosine") == 0, "default name");
    CHECK(strcmp(it_schedule_name(IT_SCHEDULE_COUNT), "invalid") == 0, "count name");
    CHECK(it_schedule_parse("cosinus", &k) == IT_ERR_INVALID_ARGUMENT, "unknown name");
    CHECK(it_schedule_parse(NULL, &k) == IT_ERR_INVALID_ARGUMENT, "NULL name");
    CHECK(it_schedule_parse("", &k) == IT_ERR_INVALID_ARGUMENT, "empty name");
    return it_test_finish();
}
