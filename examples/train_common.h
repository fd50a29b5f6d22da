/* train_common.h - what build/train and build/finetune share: flag parsing of numbers, the signal
   handling that finishes a step and saves, the logger, time and peak memory, the loss curve
   (loss.csv, loss.svg), the --save target's preparation, and data-parallel training (dp_*: the
   ranks' agreement on the configuration, the loss and stopping, rank-0 saves, the MPI start-up;
   with -DIT_WITH_MPI, built by mpicc, it runs over irontensor_mpi.h). Included by one example each
   (static functions) after irontensor.h's implementation; the including file defines
   TRAIN_PROGRAM, the name its messages start with. */
#ifndef TRAIN_COMMON_H
#define TRAIN_COMMON_H
#ifndef TRAIN_PROGRAM
#error "define TRAIN_PROGRAM (the program's name for messages) before including train_common.h"
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef IT_WITH_MPI
#define IRONTENSOR_MPI_IMPLEMENTATION
#include "irontensor_mpi.h"
#endif

static int parse_int(const char *flag, const char *s, int min, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > 1000000000L) {
        char lim[32];
        snprintf(lim, sizeof lim, "%d", min);
        fprintf(stderr, TRAIN_PROGRAM ": %s expects a whole number >= %s, got '%s'\n", flag, lim, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}
static int parse_float(const char *flag, const char *s, float min, float *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= min) || v > 1e30) {
        fprintf(stderr, TRAIN_PROGRAM ": %s expects a number >= %g, got '%s'\n", flag, (double)min, s);
        return 0;
    }
    *out = (float)v;
    return 1;
}

/* --dtype / --save-dtype: f32 or bf16 */
static int parse_dtype(const char *flag, const char *s, it_dtype *out) {
    if (!strcmp(s, "f32") || !strcmp(s, "bf16")) {
        *out = strcmp(s, "f32") ? IT_BF16 : IT_F32;
        return 1;
    }
    fprintf(stderr, TRAIN_PROGRAM ": %s expects f32 or bf16, got '%s'\n", flag, s);
    return 0;
}

/* SIGINT / SIGTERM: the first asks the loop to stop after this step (and save); a second exits at
   once. Only async-signal-safe calls here. */
static volatile sig_atomic_t stop_signal = 0;
static void on_stop_signal(int sig) {
    static const char first[] = "\n" TRAIN_PROGRAM ": interrupted: finishing this step, then saving (interrupt again to quit at once)\n";
    static const char again[] = "\n" TRAIN_PROGRAM ": interrupted again: exiting now, nothing more is saved\n";
    ssize_t ignored;
    if (stop_signal) {
        ignored = write(2, again, sizeof again - 1);
        _exit(128 + sig);
    }
    stop_signal = sig;
    ignored = write(2, first, sizeof first - 1);
    (void)ignored;
}
static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The library logs warnings and info here; its errors this program reports itself, with context. */
static void log_below_errors(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level < IT_LOG_ERROR) fprintf(stderr, "irontensor: %s\n", message);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
static void format_duration(char *buf, size_t size, double s) {
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%dh%02dm", t / 3600, t / 60 % 60);
    else snprintf(buf, size, "%dm%02ds", t / 60, t % 60);
}

/* --- loss curve: a CSV and an SVG that any browser shows --- */
typedef struct curve { int *step; float *train, *val; int n, cap; } curve;
static void curve_add(curve *c, int step, float train, float val) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->step = (int *)realloc(c->step, sizeof(int) * (size_t)c->cap);
        c->train = (float *)realloc(c->train, sizeof(float) * (size_t)c->cap);
        c->val = (float *)realloc(c->val, sizeof(float) * (size_t)c->cap);
        if (!c->step || !c->train || !c->val) {
            fprintf(stderr, TRAIN_PROGRAM ": out of memory\n");
            exit(1);
        }
    }
    c->step[c->n] = step;
    c->train[c->n] = train;
    c->val[c->n] = val;
    c->n++;
}
static void write_csv(const curve *c, const char *path) {
    FILE *f = fopen(path, "w");
    int i;
    if (!f) {
        fprintf(stderr, TRAIN_PROGRAM ": cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "step,train_loss,val_loss\n");
    for (i = 0; i < c->n; i++) {
        fprintf(f, "%d,%.6f,", c->step[i], c->train[i]);
        if (c->val[i] >= 0) fprintf(f, "%.6f", c->val[i]);
        fprintf(f, "\n");
    }
    fclose(f);
}
static void write_svg(const curve *c, const char *path, const char *title) {
    const double W = 720, H = 420, L = 70, R = 20, T = 40, B = 50;
    double lo = 1e30, hi = -1e30, x_max = 1;
    FILE *f = fopen(path, "w");
    int i, k, pass;
    if (!f) {
        fprintf(stderr, TRAIN_PROGRAM ": cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    for (i = 0; i < c->n; i++) {
        lo = c->train[i] < lo ? c->train[i] : lo;
        hi = c->train[i] > hi ? c->train[i] : hi;
        if (c->val[i] >= 0) lo = c->val[i] < lo ? c->val[i] : lo, hi = c->val[i] > hi ? c->val[i] : hi;
        x_max = c->step[i] > x_max ? c->step[i] : x_max;
    }
    if (c->n == 0) lo = 0, hi = 1;
    if (hi - lo < 1e-6) hi = lo + 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", W / 2, title);
    for (k = 0; k <= 5; k++) { /* grid and tick labels */
        double y = T + (H - T - B) * k / 5.0, v = hi - (hi - lo) * k / 5.0;
        double x = L + (W - L - R) * k / 5.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, y + 4, v);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", x, H - B + 18, x_max * k / 5.0);
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, T, L, H - B);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 12);
    fprintf(f, "<text x=\"16\" y=\"%.0f\" transform=\"rotate(-90 16 %.0f)\" text-anchor=\"middle\">loss (nats/token)"
               "</text>\n", (T + H - B) / 2, (T + H - B) / 2);
    for (pass = 0; pass < 2; pass++) { /* train then validation */
        int first = 1;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"", pass ? "#d62728" : "#1f77b4",
                pass ? "2" : "1.2");
        for (i = 0; i < c->n; i++) {
            float v = pass ? c->val[i] : c->train[i];
            if (v < 0) continue;
            fprintf(f, "%s%.1f,%.1f", first ? "" : " ", L + (W - L - R) * c->step[i] / x_max,
                    T + (H - T - B) * (hi - v) / (hi - lo));
            first = 0;
        }
        fprintf(f, "\"/>\n");
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#1f77b4\">train</text>\n", W - R - 110, T + 16);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d62728\">validation</text>\n", W - R - 60, T + 16);
    fprintf(f, "</svg>\n");
    fclose(f);
}

static int mkdir_p(const char *dir) {
    char path[4096];
    size_t i, n = strlen(dir);
    if (n >= sizeof path) return -1;
    memcpy(path, dir, n + 1);
    for (i = 1; i <= n; i++)
        if (path[i] == '/' || path[i] == 0) {
            char c = path[i];
            path[i] = 0;
            if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
            path[i] = c;
        }
    return 0;
}

/* Reads DIR/loss.csv (written by an earlier invocation) so a resumed run's curve is whole. */
static void curve_load(curve *c, const char *dir, int up_to_step) {
    char path[4200], line[256];
    FILE *f;
    snprintf(path, sizeof path, "%s/loss.csv", dir);
    if (!(f = fopen(path, "r"))) return;
    while (fgets(line, sizeof line, f)) {
        int step;
        float train, val = -1.0f;
        char *comma;
        if (sscanf(line, "%d,%f", &step, &train) != 2 || step > up_to_step) continue;
        comma = strrchr(line, ',');
        if (comma && comma[1] != '\n' && comma[1] != 0) val = (float)atof(comma + 1);
        curve_add(c, step, train, val);
    }
    fclose(f);
}

/* PARENT and BASE of a --save path (trailing slashes dropped): snapshots are PARENT/BASE.stepN. */
static void split_save_path(const char *save, char *parent, size_t psize, char *base, size_t bsize) {
    size_t n = strlen(save);
    const char *slash;
    while (n > 1 && save[n - 1] == '/') n--;
    snprintf(base, bsize, "%.*s", (int)n, save);
    slash = strrchr(base, '/');
    if (!slash) {
        snprintf(parent, psize, ".");
    } else {
        snprintf(parent, psize, "%.*s", slash == base ? 1 : (int)(slash - base), base);
        memmove(base, slash + 1, strlen(slash + 1) + 1);
    }
}

/* Before anything runs: create --save's missing parents (saying so), then ask the library whether
   the target may be written, so a run that cannot save never starts. */
static int prepare_save_target(it_context *ctx, const char *save, const char *parent) {
    struct stat st;
    if (stat(parent, &st) != 0 && errno == ENOENT) {
        if (mkdir_p(parent) != 0) {
            fprintf(stderr, TRAIN_PROGRAM ": --save %s: cannot create the directory %s: %s\n", save, parent, strerror(errno));
            return 0;
        }
        fprintf(stderr, TRAIN_PROGRAM ": created %s for --save %s\n", parent, save);
    }
    if (it_checkpoint_check_target(ctx, save) != IT_OK) {
        fprintf(stderr, TRAIN_PROGRAM ": --save %s: %s\n", save, it_context_last_error(ctx));
        return 0;
    }
    return 1;
}

/* --- data parallel ---------------------------------------------------------------------------
   Every rank runs the same program on its share of the global --batch; the library sums the
   gradients, so every rank applies the same update to the same weights. Rank 0 prints, writes
   loss.csv and the checkpoints; the others wait for it. In the plain build the context's
   communicator has one rank and every dp_ function does nothing. */
static it_comm *dp; /* the context's communicator: set by dp_main, then by the program from its context */

/* 1 when ok holds on every rank. */
static int dp_all_ok(int ok) {
    float bad = ok ? 0.0f : 1.0f;
    if (dp->size == 1) return ok;
    if (it_comm_all_reduce_sum(dp, &bad, 1) != IT_OK) {
        fprintf(stderr, TRAIN_PROGRAM ": rank %d: %s\n", dp->rank, dp->error);
        return 0;
    }
    return bad == 0.0f;
}
static uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = (const unsigned char *)data;
    while (n--) h = (h ^ *p++) * 0x100000001B3ull;
    return h;
}
#define FNV_START 0xCBF29CE484222325ull
static uint64_t dp_weights_hash(it_context *ctx) {
    return fnv1a(it_param_block(ctx), it_param_numel(ctx) * sizeof(float), FNV_START);
}

/* --zero and --comm-timeout: the plain build is one process, they belong to the MPI build. 0
   after printing why. */
static int dp_flags_ok(int zero, float comm_timeout) {
    if (zero > 1) {
        fprintf(stderr, TRAIN_PROGRAM ": --zero must be 0 or 1 (ZeRO-1: sharded optimizer state)\n");
        return 0;
    }
#ifndef IT_WITH_MPI
    if (zero || comm_timeout > 0) {
        fprintf(stderr, TRAIN_PROGRAM ": %s is for the data-parallel build, build/" TRAIN_PROGRAM "_mpi (make build/"
                TRAIN_PROGRAM "_mpi; run it under mpirun)\n", zero ? "--zero" : "--comm-timeout");
        return 0;
    }
#else
    (void)comm_timeout;
#endif
    return 1;
}

/* config: everything every rank must agree on, one line each (the model, the flags that shape
   training, the data files, the weights after init or resume), compared with rank 0's. A rank
   started with other flags or files stops the job here, naming the first line that differs. */
static int dp_check_config(const char *config, int batch) {
    char root[4096];
    const char *a, *b;
    size_t n = strlen(config);
    if (dp->size == 1) return 1;
    if (n >= sizeof root) {
        fprintf(stderr, TRAIN_PROGRAM ": the configuration to compare is longer than %zu bytes\n", sizeof root - 1);
        return 0;
    }
    memset(root, 0, sizeof root);
    memcpy(root, config, n);
    if (it_comm_broadcast(dp, root, sizeof root, 0) != IT_OK) {
        fprintf(stderr, TRAIN_PROGRAM ": rank %d: comparing the configuration: %s\n", dp->rank, dp->error);
        return 0;
    }
    for (a = config, b = root; strcmp(a, b) != 0;) { /* the first line that differs */
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la == lb && !strncmp(a, b, la)) {
            a += la + 1, b += lb + 1;
            continue;
        }
        fprintf(stderr, TRAIN_PROGRAM ": rank %d was started differently from rank 0: here \"%.*s\", on rank 0 \"%.*s\"; "
                        "every rank needs the same flags and the same --data file\n", dp->rank, (int)la, a, (int)lb, b);
        break;
    }
    if (!dp_all_ok(strcmp(config, root) == 0)) {
        if (dp->rank == 0) fprintf(stderr, TRAIN_PROGRAM ": the ranks disagree on the configuration (see above); stopping\n");
        return 0;
    }
    if (dp->rank == 0)
        fprintf(stderr, "data parallel: %d ranks, batch %d each (global %d), configuration hash %016llx agreed\n", dp->size,
                batch / dp->size, batch, (unsigned long long)fnv1a(config, n, FNV_START));
    return 1;
}
/* Sums n doubles over the ranks in place. A double travels as two floats (its float value and
   the remainder), so the sum keeps about 48 bits. */
static int dp_sum_doubles(double *v, int n) {
    float parts[16];
    int i;
    if (dp->size == 1) return 1;
    if (n > 8) return 0;
    for (i = 0; i < n; i++) parts[2 * i] = (float)v[i], parts[2 * i + 1] = (float)(v[i] - (double)parts[2 * i]);
    if (it_comm_all_reduce_sum(dp, parts, (size_t)(2 * n)) != IT_OK) {
        fprintf(stderr, "\n" TRAIN_PROGRAM ": rank %d: %s\n", dp->rank, dp->error);
        return 0;
    }
    for (i = 0; i < n; i++) v[i] = (double)parts[2 * i] + (double)parts[2 * i + 1];
    return 1;
}
/* After a step: *loss summed over the ranks and divided by their number (each rank passes its
   own), and whether any rank was asked to stop (a signal reaches the ranks at different moments;
   all of them stop after the same step). */
static int dp_step_agree(float *loss, int *stop) {
    float v[2];
    if (dp->size == 1) return 1;
    v[0] = *loss, v[1] = *stop ? 1.0f : 0.0f;
    if (it_comm_all_reduce_sum(dp, v, 2) != IT_OK) {
        fprintf(stderr, "\n" TRAIN_PROGRAM ": rank %d: %s\n", dp->rank, dp->error);
        return 0;
    }
    *loss = v[0] / (float)dp->size, *stop = v[1] > 0.0f;
    return 1;
}
/* Before rank 0 saves (every rank calls it): the weights confirmed identical on every rank (a
   difference would mean the sums were not the same everywhere) and ZeRO-1's state made whole. */
static int dp_before_save(it_context *ctx, it_optimizer *opt) {
    uint64_t mine, root;
    if (dp->size == 1) return 1;
    root = mine = dp_weights_hash(ctx);
    if (it_comm_broadcast(dp, &root, sizeof root, 0) != IT_OK) {
        fprintf(stderr, "\n" TRAIN_PROGRAM ": rank %d: %s\n", dp->rank, dp->error);
        return 0;
    }
    if (root != mine) fprintf(stderr, "\n" TRAIN_PROGRAM ": rank %d's weights differ from rank 0's before the save\n", dp->rank);
    if (!dp_all_ok(root == mine)) return 0;
    if (it_optimizer_gather_state(opt) != IT_OK) {
        fprintf(stderr, "\n" TRAIN_PROGRAM ": rank %d: %s\n", dp->rank, it_context_last_error(ctx));
        return 0;
    }
    return 1;
}
/* After rank 0's save: the others have waited for it here; ZeRO-1 keeps its part again. */
static int dp_after_save(it_context *ctx, it_optimizer *opt) {
    if (dp->size == 1) return 1;
    if (!dp_all_ok(1)) return 0;
    if (it_optimizer_shard_state(opt) != IT_OK) {
        fprintf(stderr, "\n" TRAIN_PROGRAM ": rank %d: %s\n", dp->rank, it_context_last_error(ctx));
        return 0;
    }
    return 1;
}
/* The communication a run did, per step, and the optimizer state a rank keeps (rank 0, at the end). */
static void dp_report(it_context *ctx, const it_optimizer *opt, int steps, double seconds) {
    it_grad_sync_stats st = it_grad_sync_get_stats(ctx);
    double per_step = steps > 0 ? st.bytes / steps : 0, ring = per_step * 2.0 * (dp->size - 1) / dp->size;
    if (dp->size == 1 || dp->rank != 0 || steps <= 0) return;
    fprintf(stderr, "data parallel: %d ranks, %d gradient buckets, %.2f MB summed per step (a ring all-reduce sends "
                    "about %.2f MB per rank), %.1f ms per step waiting for the other ranks (%.1f%% of the %.1f ms step); "
                    "optimizer state %zu floats per rank%s\n",
            dp->size, st.buckets, per_step / 1e6, ring / 1e6, st.wait_seconds / steps * 1e3,
            100.0 * st.wait_seconds / seconds, seconds / steps * 1e3, opt->state_numel,
            opt->desc.zero_stage ? " (ZeRO-1: its part)" : "");
}

/* main: with MPI every rank starts here, and the program's own main runs between MPI's start and
   end. A rank that fails ends every rank at once (the others would otherwise wait for it until
   --comm-timeout). Without MPI it is the program's main. */
static int dp_main(int argc, char **argv, int (*program_main)(int argc, char **argv)) {
#ifdef IT_WITH_MPI
    it_mpi_desc md;
    int code, i;
    memset(&md, 0, sizeof md);
    for (i = 1; i + 1 < argc; i++) /* needed before MPI starts; the program checks the value */
        if (!strcmp(argv[i], "--comm-timeout")) md.timeout_seconds = atof(argv[i + 1]);
    if (it_mpi_init(&argc, &argv, &md, &dp) != IT_OK) return 1;
    if (dp->size > 1) { /* which process is which rank: for an operator (and the tests) that must find one */
        char host[256] = "?";
        gethostname(host, sizeof host - 1);
        fprintf(stderr, "data parallel: rank %d of %d is pid %ld on %s\n", dp->rank, dp->size, (long)getpid(), host);
    }
    if (dp->rank > 0 && !freopen("/dev/null", "w", stdout)) return 1; /* rank 0 prints the progress */
    code = program_main(argc, argv);
    if (code != 0 && code != 128 + SIGINT && code != 128 + SIGTERM && dp->size > 1) {
        fprintf(stderr, TRAIN_PROGRAM ": rank %d of %d stops (exit %d): ending every rank\n", dp->rank, dp->size, code);
        it_comm_abort(dp, code);
    }
    it_mpi_finalize(dp);
    return code;
#else
    return program_main(argc, argv);
#endif
}

#endif
