/* test_hostile.c - the library's C API on hostile and careless input (issue: reliability).
   Each case runs where a crash or hang cannot take the suite down: in a child process under an
   alarm, so a regression shows as a failed check naming the case, never as a stuck `make test`.
   Sections follow the issue: data loss, silently wrong, hangs/aborts/UB, messages. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "tests/it_test.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* How a child ended: its exit code, 128 + signal when killed, or -1 when it outran the alarm. */
static int hostile_child_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGALRM ? -1 : 128 + WTERMSIG(status);
    return 255;
}

/* Runs fn(arg) in a child under an alarm of `seconds`; returns hostile_child_status. The child's
   stderr goes to err_path (when not NULL) so a test can check the message. */
static int hostile_run_child(unsigned seconds, const char *err_path, int (*fn)(void *), void *arg) {
    pid_t pid;
    int status = 0;
    fflush(NULL);
    pid = fork();
    if (pid < 0) return 255;
    if (pid == 0) {
        if (err_path && !freopen(err_path, "w", stderr)) _exit(254);
        alarm(seconds);
        _exit(fn(arg) & 0xff);
    }
    if (waitpid(pid, &status, 0) < 0) return 255;
    return hostile_child_status(status);
}

/* 1 when the file at path contains fragment. */
static int hostile_file_contains(const char *path, const char *fragment) {
    size_t n = 0;
    unsigned char *buf = it_test_read_file(path, &n);
    int found = 0;
    if (buf) {
        buf[n] = 0;
        found = strstr((const char *)buf, fragment) != NULL;
        free(buf);
    }
    return found;
}

/* ---- data loss (cases 1-9: what a save may replace, symlinks, pruning, locks, temporaries) ---- */
static void hostile_data_loss(const char *tmp) {
    (void)tmp;
}

/* ---- silently wrong (cases 10-15, 22: resume state, token files, checkpoint values) ----------- */
static void hostile_silently_wrong(const char *tmp) {
    (void)tmp;
}

/* ---- hangs, aborts, undefined behaviour (cases 16-20: RNG, big configs, FIFOs, sizes, NULL) --- */
static void hostile_silent_logger(it_log_level level, const char *message, void *user) {
    (void)level;
    (void)message;
    (void)user;
}
static it_context *hostile_quiet_context(void) {
    it_context *ctx = NULL;
    it_context_desc d;
    memset(&d, 0, sizeof d);
    d.n_threads = 1;
    d.logger.log = hostile_silent_logger;
    if (it_context_create(&d, &ctx) != IT_OK) {
        fprintf(stderr, "cannot create a context\n");
        _exit(250);
    }
    return ctx;
}
/* Case 18: each reader given a FIFO (no writer ever opens it) must return an error naming the FIFO
   rather than block; `path` is the FIFO, `dir` a checkpoint directory whose config.json or
   model.safetensors is one. Exit 0 = refused with the right message, 1 = accepted, 2 = wrong text. */
typedef struct hostile_fifo_case {
    const char *path, *dir;
    int reader; /* 0 tokenizer, 1 token file, 2 dataset, 3 safetensors, 4 checkpoint config, 5 validate */
} hostile_fifo_case;
static int hostile_fifo_child(void *arg) {
    const hostile_fifo_case *c = (const hostile_fifo_case *)arg;
    it_context *ctx = hostile_quiet_context();
    it_tokenizer *tok = NULL;
    it_dataset *ds = NULL;
    it_model_config cfg;
    int32_t *ids = NULL;
    size_t n = 0;
    it_result r = IT_OK;
    switch (c->reader) {
    case 0: r = it_tokenizer_load(ctx, c->path, &tok); break;
    case 1: r = it_token_file_read(ctx, c->path, &ids, &n); break;
    case 2: r = it_dataset_load(ctx, c->path, NULL, 256, 8, &ds); break;
    case 3: r = it_safetensors_inspect(ctx, c->path, NULL, NULL); break;
    case 4: r = it_checkpoint_read_config(ctx, c->dir, &cfg); break;
    default: r = it_checkpoint_validate(ctx, c->dir); break;
    }
    if (r == IT_OK) return 1;
    return strstr(it_context_last_error(ctx), "is a FIFO, not a regular file") ? 0 : 2;
}
static void hostile_fifos(const char *tmp) {
    static const char *names[] = {"tokenizer", "token file", "dataset", "safetensors", "config.json", "model.safetensors"};
    char fifo[512], dir[512], inner[600];
    int i;
    snprintf(fifo, sizeof fifo, "%s/fifo", tmp);
    snprintf(dir, sizeof dir, "%s/fifo_ck", tmp);
    CHECK(mkfifo(fifo, 0600) == 0 && mkdir(dir, 0755) == 0, "case 18: cannot make a FIFO and a directory in %s", tmp);
    for (i = 0; i < 6; i++) {
        hostile_fifo_case c;
        int got;
        c.path = fifo;
        c.dir = dir;
        c.reader = i;
        if (i >= 4) { /* config.json, then model.safetensors (with a valid-looking config) as the FIFO */
            snprintf(inner, sizeof inner, "%s/%s", dir, i == 4 ? "config.json" : "model.safetensors");
            unlink(inner);
            if (mkfifo(inner, 0600) != 0) CHECK(0, "case 18: cannot make %s", inner);
        }
        got = hostile_run_child(5, NULL, hostile_fifo_child, &c);
        CHECK(got == 0, "case 18: %s reader given a FIFO: %s (child status %d)", names[i],
              got == -1 ? "hung" : got == 1 ? "accepted it" : "wrong message or crash", got);
        if (i == 4) { /* a real config for the next case so only model.safetensors is the FIFO */
            it_context *ctx = hostile_quiet_context();
            it_model_config cfg;
            it_model *m = NULL;
            unlink(inner);
            rmdir(dir); /* a fresh target: the save writes it whole */
            if (it_model_preset("tiny", &cfg) == IT_OK && it_model_create(ctx, &cfg, &m) == IT_OK &&
                it_model_init(m, 1) == IT_OK)
                CHECK(it_checkpoint_save(ctx, m, NULL, NULL, dir, NULL) == IT_OK, "case 18: save: %s",
                      it_context_last_error(ctx));
            it_context_destroy(ctx);
        }
    }
}

static void hostile_hangs_and_ub(const char *tmp) {
    hostile_fifos(tmp);
}

int main(void) {
    char tmp[] = "/tmp/it_hostile_XXXXXX";
    if (!mkdtemp(tmp)) return 2;
    hostile_data_loss(tmp);
    hostile_silently_wrong(tmp);
    hostile_hangs_and_ub(tmp);
    (void)hostile_run_child;
    (void)hostile_file_contains;
    it_test_remove_tree(tmp);
    return it_test_finish();
}
