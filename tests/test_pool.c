/* test_pool.c - the CPU thread pool (>>threads): every part of every job runs exactly once and the
   caller returns only after all of them, on 1 to 4 threads, with the spin-then-sleep waits off,
   at the default and at a 1 us bound (so workers keep crossing between spinning and sleeping);
   many tiny jobs with random gaps and random part lengths, in a stress run that a lost wake-up
   would hang (a watchdog thread fails the program instead); a caller that sleeps for a long part;
   the contention rule (when a caller's spin switches spinning off) and what it does to small jobs (run on
   the caller while it lasts); it__parallel's results equal to a serial run;
   a quantised product on 1..4 threads bit-equal to one thread, and the decoder's fused products
   (several in one pool job) bit-equal to each alone. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "it_test.h"

/* A lost wake-up leaves the caller asleep for ever: the watchdog turns that into a failure. */
static int watchdog_done; /* atomic */
static const char *volatile watchdog_stage = "start";
static void *watchdog_main(void *arg) {
    int seconds = *(int *)arg, i;
    for (i = 0; i < seconds * 10 && !__atomic_load_n(&watchdog_done, __ATOMIC_ACQUIRE); i++) usleep(100000);
    if (!__atomic_load_n(&watchdog_done, __ATOMIC_ACQUIRE)) {
        fprintf(stderr, "FAIL test_pool: no progress for %d s in '%s' (a lost wake-up?)\n0 passed, 1 failed\n", seconds,
                watchdog_stage);
        _exit(1);
    }
    return NULL;
}

/* A job that records which parts ran: each part bumps its own counter (one writer per slot) and
   does a little work of a random length, so parts finish in every order. */
typedef struct count_job {
    unsigned runs[8];  /* per part */
    int n_parts_seen[8];
    int busy[8];       /* per part: busy-loop iterations */
    int sleep_part;    /* this part sleeps sleep_us first (-1: none) */
    int sleep_us;
    volatile unsigned sink[8]; /* keeps the busy loop: per part, like every field a part writes */
} count_job;
static void count_part(void *arg, int part, int n_parts) {
    count_job *j = (count_job *)arg;
    unsigned s = 0;
    int i;
    if (part == j->sleep_part) usleep((useconds_t)j->sleep_us);
    for (i = 0; i < j->busy[part]; i++) s += (unsigned)i * 2654435761u;
    j->sink[part] += s;
    j->runs[part]++;
    j->n_parts_seen[part] = n_parts;
}

static void start_pool(it__pool *pool, int threads, long spin_ns, pthread_t *th, it__worker_start *st) {
    int started = it__pool_start(pool, threads, spin_ns, th, st) == 0;
    CHECK(started && pool->n_threads == threads, "pool of %d threads started (%d)", threads, pool->n_threads);
}

/* Many tiny jobs, each part's counter checked right after its job returns. */
static void test_many_jobs(int threads, long spin_ns, int jobs) {
    it__pool pool;
    pthread_t th[8];
    it__worker_start st[8];
    count_job job;
    int k, p, bad = 0;
    start_pool(&pool, threads, spin_ns, th, st);
    memset(&job, 0, sizeof job);
    job.sleep_part = -1;
    for (k = 0; k < jobs && !bad; k++) {
        int n_parts = 1 + it_test_below(threads);
        unsigned before[8];
        for (p = 0; p < 8; p++) before[p] = job.runs[p], job.busy[p] = it_test_below(4) ? it_test_below(200) : it_test_below(20000);
        if (k % 97 == 0) { /* now and then a gap longer than the spin: the workers go to sleep */
            usleep(it_test_below(3) ? 20 : 150);
        }
        it__pool_run(&pool, count_part, &job, n_parts);
        for (p = 0; p < 8; p++) {
            unsigned want = before[p] + (p < n_parts ? 1u : 0u);
            if (job.runs[p] != want || (p < n_parts && job.n_parts_seen[p] != n_parts)) bad = 1;
        }
        if (bad)
            CHECK(0, "job %d of %d parts on %d threads, spin %ld ns: part counts wrong after the caller returned", k, n_parts,
                  threads, spin_ns);
    }
    CHECK(!bad, "%d jobs on %d threads, spin %ld ns: every part ran once per job, before the caller returned", jobs, threads,
          spin_ns);
    it__pool_stop(&pool);
}

/* A part far longer than the spin, on the caller or on a worker: the caller (or the workers) must
   sleep and be woken. (Whether that counts as contention is test_contention_rule's: on a loaded
   machine a real sign can come at any time, so it is not asserted here.) */
static void test_caller_sleeps(int threads) {
    it__pool pool;
    pthread_t th[8];
    it__worker_start st[8];
    count_job job;
    long long t0;
    int k;
    start_pool(&pool, threads, 5000, th, st); /* spin 5 us */
    memset(&job, 0, sizeof job);
    job.sleep_us = 3000;
    for (k = 0; k < 4; k++) { /* the sleeping part on the caller, then on a worker */
        job.sleep_part = k % 2 ? threads - 1 : 0;
        t0 = it__monotonic_ns();
        it__pool_run(&pool, count_part, &job, threads);
        CHECK(job.runs[0] == (unsigned)k + 1 && job.runs[threads - 1] == (unsigned)k + 1 && it__monotonic_ns() - t0 >= 3000000LL,
              "%d threads, job %d: every part ran, the caller waited for the sleeping one", threads, k);
    }
    it__pool_stop(&pool);
}

/* The contention rule on its own (a pool struct with no threads): a caller that spun its bound
   while a worker that was spinning has not begun the job switches spinning off; the same wait
   with every worker begun, or with the worker asleep when the job came, does not. */
static void test_contention_rule(void) {
    it__pool pool;
    unsigned never = 1;
    memset(&pool, 0, sizeof pool);
    pool.n_threads = 2;
    pool.spin_ns = 20000;
    pool.picked_up = 1;
    CHECK(!it__pool_spin(&pool, &never, 0, 1, 1) && pool.contention_signs == 0, "a begun worker: no sign");
    pool.picked_up = 0, pool.woken = 1;
    CHECK(!it__pool_spin(&pool, &never, 0, 1, 1) && pool.contention_signs == 0, "a worker still waking: no sign");
    pool.woken = 0;
    CHECK(!it__pool_spin(&pool, &never, 0, 1, 0) && pool.contention_signs == 0, "a worker's idle timeout: no sign");
    CHECK(!it__pool_spin(&pool, &never, 0, 1, 1) && pool.contention_signs == 1, "a spinning worker that never began: a sign");
    CHECK(pool.spin_off_until > it__monotonic_ns(), "spinning is off after the sign");
    pool.picked_up = 1;
    CHECK(it__pool_spin(&pool, &pool.picked_up, 1, 1, 1), "a wait that is already over returns at once, spinning off or not");
    never = 5;
    CHECK(!it__pool_spin(&pool, &never, 5, 0, 0), "while spinning is off the wait returns at once");
}

/* How long spinning stays off: 1 ms after a lone sign, doubling (to 100 ms) for signs that follow
   each other within 100 ms of the last while's end, 1 ms again after a quiet spell. */
static void test_contention_backoff(void) {
    it__pool pool;
    unsigned never = 1;
    long long now, want = IT__POOL_SPIN_OFF_MIN_NS;
    int k;
    memset(&pool, 0, sizeof pool);
    pool.n_threads = 2;
    pool.spin_ns = 20000; /* a caller's timeout with a spinning worker that never began: a sign */
    CHECK(!it__pool_spin(&pool, &never, 0, 1, 1) && pool.contention_signs == 1, "the first sign");
    now = it__monotonic_ns();
    CHECK(pool.spin_off_ns == IT__POOL_SPIN_OFF_MIN_NS && pool.spin_off_until > now &&
          pool.spin_off_until <= now + IT__POOL_SPIN_OFF_MIN_NS, "a lone sign: off for 1 ms (%lld ns)", pool.spin_off_ns);
    for (k = 0; k < 9; k++) { /* each sign just after the last while ended */
        pool.spin_off_until = it__monotonic_ns() - 1000;
        CHECK(!it__pool_spin(&pool, &never, 0, 1, 1), "sign %d", k + 2);
        want = want * 2 > IT__POOL_SPIN_OFF_MAX_NS ? IT__POOL_SPIN_OFF_MAX_NS : want * 2;
        CHECK(pool.spin_off_ns == want && pool.contention_signs == (unsigned)k + 2, "sign %d in a row: off for %lld ns, not %lld",
              k + 2, want, pool.spin_off_ns);
    }
    CHECK(want == IT__POOL_SPIN_OFF_MAX_NS, "the run reached the cap");
    pool.spin_off_until = it__monotonic_ns() - IT__POOL_SPIN_OFF_MAX_NS - 1000000; /* a quiet spell */
    CHECK(!it__pool_spin(&pool, &never, 0, 1, 1) && pool.spin_off_ns == IT__POOL_SPIN_OFF_MIN_NS,
          "a sign after a quiet spell: 1 ms again (%lld ns)", pool.spin_off_ns);
}

/* it__parallel over a range function against the same function over the whole range at once. */
typedef struct square_job { const double *x; double *y; } square_job;
static void square_rows(const void *arg, size_t begin, size_t end) {
    const square_job *j = (const square_job *)arg;
    size_t i;
    for (i = begin; i < end; i++) j->y[i] = j->x[i] * j->x[i] + (double)i;
}
static void test_parallel_equals_serial(int threads) {
    enum { N = 100003 };
    static double x[N], y[N], want[N];
    it_context *ctx = it_test_context(threads);
    square_job job;
    size_t i, bad = 0;
    int rep;
    for (i = 0; i < N; i++) x[i] = it_test_signed();
    job.x = x, job.y = want;
    square_rows(&job, 0, N);
    job.y = y;
    for (rep = 0; rep < 50; rep++) {
        memset(y, 0, sizeof y);
        it__parallel(ctx, &job, N - (size_t)rep * 997, 1, square_rows); /* different lengths, different splits */
        for (i = 0; i < N - (size_t)rep * 997; i++) bad += y[i] != want[i];
        for (; i < N; i++) bad += y[i] != 0.0;
    }
    CHECK(bad == 0, "it__parallel on %d threads equals the serial loop (%zu values differ)", threads, (size_t)bad);
    it_context_destroy(ctx);
}

/* Under contention (spinning off for a while) a job below IT__CONTENDED_SERIAL_WORK runs on the
   caller as one part; a larger one, or any job once the while is over, still splits. */
static unsigned calls_seen;
static void count_calls(const void *arg, size_t begin, size_t end) {
    (void)arg, (void)begin, (void)end;
    __atomic_add_fetch(&calls_seen, 1, __ATOMIC_RELAXED);
}
static unsigned calls_of(it_context *ctx, size_t count, size_t work_per_item) {
    calls_seen = 0;
    it__parallel(ctx, NULL, count, work_per_item, count_calls);
    return __atomic_load_n(&calls_seen, __ATOMIC_RELAXED);
}
static void test_contended_small_jobs(void) {
    it_context *ctx = it_test_context(2);
    size_t small = IT__CONTENDED_SERIAL_WORK / 64 / 4, big = IT__CONTENDED_SERIAL_WORK / 64 * 2; /* items of work 64 */
    unsigned n;
    ctx->pool.spin_off_until = 0; /* no sign yet */
    CHECK((n = calls_of(ctx, small, 64)) == 2, "no contention: a small job splits in 2 (%u parts)", n);
    ctx->pool.spin_off_until = it__monotonic_ns() + 10000000000LL;
    CHECK((n = calls_of(ctx, small, 64)) == 1, "contention: a small job runs on the caller (%u parts)", n);
    CHECK((n = calls_of(ctx, big, 64)) == 2, "contention: a job over the bound still splits (%u parts)", n);
    ctx->pool.spin_off_until = it__monotonic_ns() - 1000;
    CHECK((n = calls_of(ctx, small, 64)) == 2, "after the while: a small job splits again (%u parts)", n);
    it_context_destroy(ctx);
}

/* The decoder's products (many small pool jobs): Q4_0 and Q8_0, 1..4 threads bit-equal to 1. */
static void test_qmatmul_threads(void) {
    enum { ROWS = 203, COLS = 576 };
    static float w[ROWS * COLS], x[3 * COLS], y1[3 * ROWS], yn[3 * ROWS];
    static unsigned char wq[ROWS * COLS * 2];
    static it__qact scratch[3 * COLS / 32];
    it_weight_type types[2] = {IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
    int t, threads, n;
    it_test_fill(w, ROWS * COLS, 1.0f);
    it_test_fill(x, 3 * COLS, 1.0f);
    for (t = 0; t < 2; t++) {
        CHECK(it_weights_quantize(types[t], wq, w, (size_t)ROWS * COLS) == IT_OK, "quantize %s", it_weight_type_name(types[t]));
        for (n = 1; n <= 3; n += 2)
            for (threads = 1; threads <= 4; threads++) {
                it_context *ctx = it_test_context(threads);
                int rep, same = 1;
                for (rep = 0; rep < 200; rep++) {
                    it_weights_matmul(ctx, threads == 1 ? y1 : yn, x, wq, types[t], n, ROWS, COLS, scratch);
                    if (threads == 1) break;
                    same &= !memcmp(y1, yn, sizeof(float) * (size_t)n * ROWS);
                }
                if (threads > 1)
                    CHECK(same, "%s product of %d rows on %d threads (200 repeats) equals one thread's",
                          it_weight_type_name(types[t]), n, threads);
                it_context_destroy(ctx);
            }
    }
}

/* Three products in one pool job (the decoder's q, k, v) equal each run alone, on 1..4 threads:
   interleaved Q4_0 rows (groups of 8 and the rest), Q8_0 rows and bf16, of different heights. */
static void test_fused_products(void) {
    enum { COLS = 96, MAXR = 77 };
    static float w[3][MAXR * COLS], x[2 * COLS], alone[3][2 * MAXR], fused[3][2 * MAXR];
    static unsigned char wq[3][MAXR * COLS * 2], wi[MAXR * COLS];
    static it__qact xq[2 * COLS / 32];
    int rows[3] = {77, 24, 5}, threads, k;
    it_weight_type types[3] = {IT_WEIGHT_Q4_0, IT_WEIGHT_Q8_0, IT_WEIGHT_BF16};
    it__quant_isa isa = it__quant_pick_isa();
    it_test_fill(x, 2 * COLS, 1.0f);
    for (k = 0; k < 2; k++) isa.quantize_acts(xq + k * (COLS / 32), x + k * COLS, COLS / 32);
    for (k = 0; k < 3; k++) {
        it_test_fill(w[k], (size_t)rows[k] * COLS, 1.0f);
        CHECK(it_weights_quantize(types[k], wq[k], w[k], (size_t)rows[k] * COLS) == IT_OK, "quantize %d", k);
    }
    it__weights_interleave(IT_WEIGHT_Q4_0, wi, wq[0], rows[0], COLS);
    for (threads = 1; threads <= 4; threads++) {
        it_context *ctx = it_test_context(threads);
        it__qmatmul_job jobs[3];
        int same = 1;
        jobs[0] = it__qmatmul_job_of(fused[0], x, xq, wi, types[0], 2, rows[0], COLS, 1);
        for (k = 1; k < 3; k++) jobs[k] = it__qmatmul_job_of(fused[k], x, xq, wq[k], types[k], 2, rows[k], COLS, 0);
        it__qmatmul_run(ctx, jobs, 3);
        it__weights_matmul_q(ctx, alone[0], x, xq, wi, types[0], 2, rows[0], COLS, 1);
        for (k = 1; k < 3; k++) it__weights_matmul_q(ctx, alone[k], x, xq, wq[k], types[k], 2, rows[k], COLS, 0);
        for (k = 0; k < 3; k++) same &= !memcmp(alone[k], fused[k], sizeof(float) * 2 * (size_t)rows[k]);
        CHECK(same, "three products in one pool job equal each alone (%d threads)", threads);
        it_context_destroy(ctx);
    }
}

int main(void) {
    pthread_t dog;
    int seconds = 240, threads;
    long spins[3] = {0, 1000L * IT__POOL_SPIN_US, 1000};
    int s;
    pthread_create(&dog, NULL, watchdog_main, &seconds);
    for (threads = 1; threads <= 4; threads++)
        for (s = 0; s < 3; s++) {
            watchdog_stage = "many tiny jobs";
            test_many_jobs(threads, spins[s], 20000);
        }
    watchdog_stage = "caller sleeps";
    for (threads = 2; threads <= 4; threads++) test_caller_sleeps(threads);
    test_contention_rule();
    test_contention_backoff();
    watchdog_stage = "it__parallel";
    for (threads = 1; threads <= 4; threads++) test_parallel_equals_serial(threads);
    test_contended_small_jobs();
    watchdog_stage = "quantised products";
    test_qmatmul_threads();
    test_fused_products();
    __atomic_store_n(&watchdog_done, 1, __ATOMIC_RELEASE);
    pthread_join(dog, NULL);
    return it_test_finish();
}
