/* sgemm_test.c - correctness of it__sgemm_part against a naive double-precision loop.
   Odd shapes, all four transpose cases, accumulate on/off, every kernel this CPU can run, and
   several partitions (run one part at a time and concurrently on threads). No timings.
   cc -O2 -std=c99 -Wall -Wextra sgemm_test.c -lm -lpthread */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"

static int n_pass, n_fail;
static uint64_t rng_state = 88172645463325252ull;
static float frand(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ref = (acc ? c0 : 0) + op(a) op(b) in double; bound = |c0| + sum |a||b| for the tolerance */
static void naive(double *ref, double *bound, const float *c0, const float *a, const float *b, int M, int N, int K,
                  int ta, int tb, int acc) {
    int i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double s = acc ? c0[(size_t)i * N + j] : 0.0, t = acc ? fabs(c0[(size_t)i * N + j]) : 0.0;
            for (k = 0; k < K; k++) {
                double x = ta ? a[(size_t)k * M + i] : a[(size_t)i * K + k];
                double y = tb ? b[(size_t)j * K + k] : b[(size_t)k * N + j];
                s += x * y, t += fabs(x * y);
            }
            ref[(size_t)i * N + j] = s, bound[(size_t)i * N + j] = t;
        }
}

/* One worker's packing buffers per part, as the context gives its pool workers (64-byte aligned). */
#define MAX_PARTS 8
static it__scratch scratch[MAX_PARTS];
static void scratch_create(void) {
    int p;
    for (p = 0; p < MAX_PARTS; p++) {
        float *mem = NULL;
        if (posix_memalign((void **)&mem, 64, IT__SCRATCH_FLOATS * sizeof(float))) {
            printf("FAIL: out of memory\n");
            exit(1);
        }
        it__scratch_init(&scratch[p], mem);
    }
}

typedef struct job {
    int part, n_parts, M, N, K, ta, tb, acc;
    float *c;
    const float *a, *b;
} job;
static void *run_job(void *p) {
    job *j = (job *)p;
    it__sgemm_part(j->part, j->n_parts, &scratch[j->part], j->c, j->a, j->b, j->M, j->N, j->K, j->ta, j->tb, j->acc);
    return NULL;
}

#define GUARD 64
static int check(const char *what, const float *c, const double *ref, const double *bound, int M, int N, int K) {
    size_t i, n = (size_t)M * N;
    double tol_scale = 2.0 * (K + 2) * FLT_EPSILON;
    for (i = 0; i < n; i++) {
        double err = fabs((double)c[i] - ref[i]);
        if (!(err <= tol_scale * bound[i] + 1e-30)) {
            printf("FAIL %s at (%d,%d): got %.9g want %.9g (tol %.3g)\n", what, (int)(i / N), (int)(i % N), c[i],
                   ref[i], tol_scale * bound[i]);
            return 0;
        }
    }
    for (i = n; i < n + GUARD; i++)
        if (c[i] != 12345.0f) {
            printf("FAIL %s: wrote past the end of c\n", what);
            return 0;
        }
    return 1;
}

static void test_shape(int M, int N, int K, int threaded) {
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N, i;
    float *a = NULL, *b = NULL; /* 64-byte aligned like the library's blocks (the AVX-512 few-rows path needs it) */
    float *c0 = (float *)malloc(nc * sizeof(float)), *c = (float *)malloc((nc + GUARD) * sizeof(float));
    double *ref = (double *)malloc(nc * sizeof(double)), *bound = (double *)malloc(nc * sizeof(double));
    static const int parts_list[] = {1, 2, 3, 4, 7};
    int ta, tb, acc, isa, pi, p;
    if (posix_memalign((void **)&a, 64, na * sizeof(float) + 4) || posix_memalign((void **)&b, 64, nb * sizeof(float) + 4)) {
        printf("FAIL: out of memory\n");
        exit(1);
    }
    for (i = 0; i < na; i++) a[i] = frand();
    for (i = 0; i < nb; i++) b[i] = frand();
    for (i = 0; i < nc; i++) c0[i] = frand();
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (acc = 0; acc < 2; acc++) {
                naive(ref, bound, c0, a, b, M, N, K, ta, tb, acc);
                const char *seen[4] = {0};
                for (isa = 0; isa <= 3; isa++) { /* auto, then every forced kernel, each once */
                    it__sgemm_isa g;
                    int dup = 0, s;
                    it__sgemm_force_isa = isa;
                    g = it__sgemm_pick_isa();
                    for (s = 0; s < isa; s++) dup |= seen[s] && !strcmp(seen[s], g.name);
                    seen[isa] = g.name;
                    if (dup) continue; /* a kernel this CPU cannot run fell back to one already tested */
                    for (pi = 0; pi < (int)(sizeof parts_list / sizeof parts_list[0]); pi++) {
                        int np = parts_list[pi];
                        char what[160];
                        for (i = 0; i < nc; i++) c[i] = acc ? c0[i] : NAN; /* !acc must never read c */
                        for (i = nc; i < nc + GUARD; i++) c[i] = 12345.0f;
                        if (threaded && np > 1) {
                            pthread_t th[MAX_PARTS];
                            job jobs[MAX_PARTS];
                            for (p = 0; p < np; p++) {
                                job j0 = {p, np, M, N, K, ta, tb, acc, c, a, b};
                                jobs[p] = j0;
                                pthread_create(&th[p], NULL, run_job, &jobs[p]);
                            }
                            for (p = 0; p < np; p++) pthread_join(th[p], NULL);
                        } else {
                            /* parts one after another: with acc a doubly-written element is caught */
                            for (p = 0; p < np; p++)
                                it__sgemm_part(p, np, &scratch[0], c, a, b, M, N, K, ta, tb, acc);
                        }
                        snprintf(what, sizeof what, "M=%d N=%d K=%d ta=%d tb=%d acc=%d isa=%s parts=%d%s", M, N, K, ta,
                                 tb, acc, g.name, np, threaded ? " threaded" : "");
                        if (check(what, c, ref, bound, M, N, K))
                            n_pass++;
                        else
                            n_fail++;
                    }
                }
            }
    it__sgemm_force_isa = 0;
    free(a), free(b), free(c0), free(c), free(ref), free(bound);
}

int main(void) {
    static const int dims[] = {1, 3, 17, 33, 65, 127, 257};
    int nd = (int)(sizeof dims / sizeof dims[0]), x, y, z;
    scratch_create();
    /* every triple of the small dims; the big ones against a sample of the rest */
    for (x = 0; x < nd; x++)
        for (y = 0; y < nd; y++)
            for (z = 0; z < nd; z++) {
                int M = dims[x], N = dims[y], K = dims[z];
                if ((long long)M * N * K > 127LL * 127 * 65 && !(M == 257 && N == 257 && K == 257)) continue;
                test_shape(M, N, K, 0);
            }
    /* past the cache blocks: K > KC (several k panels), M > MC, N > NC */
    test_shape(257, 65, 513, 0);
    test_shape(401, 33, 300, 0);
    test_shape(9, 1601, 17, 0);
    test_shape(3, 1541, 260, 0);
    test_shape(130, 70, 0, 0); /* K = 0: c = acc ? c : 0 */
    /* decode-shaped: a few rows, K a multiple of 16 on aligned rows (the AVX-512 dot path: unrolled
       pairs, then a masked tail) */
    test_shape(1, 37, 256, 0);
    test_shape(2, 5, 48, 0);
    test_shape(3, 70, 16, 0);
    test_shape(1, 257, 272, 0);
    /* one token of each of several sequences (batched decode): quads of rows through the 4 x 4
       dot kernel, the leftover rows and columns through the single dots, b in cache-sized blocks */
    test_shape(4, 37, 256, 0);
    test_shape(7, 70, 48, 0);
    test_shape(16, 1601, 64, 0);
    test_shape(23, 101, 272, 1);
    /* concurrent parts on real threads, each with its own scratch */
    test_shape(257, 127, 300, 1);
    test_shape(65, 1601, 33, 1);
    test_shape(1, 257, 65, 1);
    {
        int isa;
        printf("kernels tested:");
        for (isa = 0; isa <= 3; isa++) {
            it__sgemm_force_isa = isa;
            printf(" %s", it__sgemm_pick_isa().name);
        }
        it__sgemm_force_isa = 0;
        printf(" (auto, forced generic / avx2 / avx512)\n");
    }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
