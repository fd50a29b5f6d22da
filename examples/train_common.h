/* train_common.h - what build/train and build/finetune share: flag parsing of numbers, the signal
   handling that finishes a step and saves, the logger, time and peak memory, the loss curve
   (loss.csv, loss.svg) and the --save target's preparation. Included by one example each (static
   functions); the including file defines TRAIN_PROGRAM, the name its messages start with. */
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

#endif
