/* test_hostile.c - the library's C API on hostile and careless input (issue: reliability).
   Each case runs where a crash or hang cannot take the suite down: in a child process under an
   alarm, so a regression shows as a failed check naming the case, never as a stuck `make test`.
   Sections follow the issue: data loss, silently wrong, hangs/aborts/UB, messages. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "tests/it_test.h"
#include "tests/ckpt_common.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
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

/* ---- data loss helpers ---------------------------------------------------------------------- */
/* The fixture Llama with seeded weights (and, with_opt, an AdamW optimizer), in a quiet context of
   one thread: each case runs in a child, and a fork keeps only the calling thread. */
typedef struct hostile_model {
    it_context *ctx;
    it_model *m;
    it_optimizer *opt;
} hostile_model;
static hostile_model hostile_model_make(int with_opt) {
    hostile_model h;
    it_model_config c = it_test_llama();
    memset(&h, 0, sizeof h);
    h.ctx = it_test_context(1);
    if (it_model_create(h.ctx, &c, &h.m) != IT_OK || it_model_init(h.m, 7) != IT_OK) {
        fprintf(stderr, "hostile: cannot build the test model: %s\n", it_context_last_error(h.ctx));
        exit(2);
    }
    if (with_opt) {
        it_optimizer_desc od;
        memset(&od, 0, sizeof od);
        od.kind = IT_OPTIMIZER_ADAMW;
        if (it_optimizer_create(h.ctx, &od, &h.opt) != IT_OK) exit(2);
    }
    return h;
}
static void hostile_model_free(hostile_model *h) {
    if (h->opt) it_optimizer_destroy(h->opt);
    it_model_destroy(h->m);
    it_context_destroy(h->ctx);
}
static it_result hostile_save(hostile_model *h, const char *dir, const char *run_id) {
    it_checkpoint_options o;
    memset(&o, 0, sizeof o);
    o.run_id = run_id;
    return it_checkpoint_save(h->ctx, h->m, h->opt, NULL, dir, &o);
}
/* The path buffers of the helpers below: dir/name, each part a test's own buffer (under 1300
   bytes), so -O2's format-truncation check holds. */
#define HOSTILE_PATH 2600
/* dir/name := text (dir/name built here) */
static void hostile_put(const char *dir, const char *name, const char *text) {
    char p[HOSTILE_PATH];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    it_test_write_file(p, text, strlen(text));
}
/* 1 when dir/name (name may be "") exists as anything, a link included; never follows it. */
static int hostile_exists(const char *dir, const char *name) {
    char p[HOSTILE_PATH];
    struct stat st;
    snprintf(p, sizeof p, "%s%s%s", dir, name[0] ? "/" : "", name);
    return lstat(p, &st) == 0;
}
/* 1 when dir/name holds exactly text. */
static int hostile_holds(const char *dir, const char *name, const char *text) {
    char p[HOSTILE_PATH];
    size_t n = 0;
    unsigned char *buf;
    int same;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    buf = it_test_read_file(p, &n);
    same = buf && n == strlen(text) && memcmp(buf, text, n) == 0;
    free(buf);
    return same;
}
/* The pid of a child that has exited and been reaped: a process that is surely gone. */
static long hostile_dead_pid(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return (long)pid;
}
static void hostile_mkdirf(char *out, size_t size, const char *tmp, const char *name) {
    snprintf(out, size, "%s/%s", tmp, name);
    mkdir(out, 0755);
}
/* A case of hostile_data_loss, run in a child (a hang or crash is a failure, not a stuck suite):
   0 when every check inside passed. */
typedef struct hostile_case_arg {
    const char *tmp;
    void (*fn)(const char *tmp);
} hostile_case_arg;
static int hostile_case_child(void *arg) {
    const hostile_case_arg *a = (const hostile_case_arg *)arg;
    int before = it_test_failed;
    a->fn(a->tmp);
    return it_test_failed > before;
}
static void hostile_case(const char *tmp, const char *what, unsigned seconds, void (*fn)(const char *tmp)) {
    hostile_case_arg a;
    int rc;
    a.tmp = tmp;
    a.fn = fn;
    rc = hostile_run_child(seconds, NULL, hostile_case_child, &a);
    CHECK(rc == 0, "data loss, %s: %s", what, rc == 1 ? "checks failed (above)" : rc < 0 ? "hung" : "crashed or could not run");
}

/* 1. an ordinary directory (or a checkpoint a user added to, or a Hugging Face download) is never
   replaced: refused, naming it and the foreign file, nothing touched; what may be replaced is. */
static void hostile_case1_foreign_dir(const char *tmp) {
    hostile_model h = hostile_model_make(0);
    char proj[600], src[700], ck[600], hf[600], empty[600], p[700];
    it_result r;
    hostile_mkdirf(proj, sizeof proj, tmp, "myproject");
    hostile_put(proj, "main.c", "int main(void) { return 0; }\n");
    hostile_put(proj, "README", "my project\n");
    snprintf(src, sizeof src, "%s/src", proj);
    mkdir(src, 0755);
    hostile_put(src, "a.c", "int a;\n");
    r = hostile_save(&h, proj, NULL);
    CHECK(r != IT_OK && strstr(it_context_last_error(h.ctx), "myproject") &&
              (strstr(it_context_last_error(h.ctx), "main.c") || strstr(it_context_last_error(h.ctx), "README") ||
               strstr(it_context_last_error(h.ctx), "src")),
          "case 1: save over a project directory: %d %s", r, it_context_last_error(h.ctx));
    CHECK(hostile_holds(proj, "main.c", "int main(void) { return 0; }\n") && hostile_holds(proj, "README", "my project\n") &&
              hostile_holds(src, "a.c", "int a;\n") && !hostile_exists(proj, "model.safetensors"),
          "case 1: the project's files are untouched");
    CHECK(it_checkpoint_check_target(h.ctx, proj) != IT_OK, "case 1: check_target refuses the project directory");
    /* a checkpoint the user added a file to */
    snprintf(ck, sizeof ck, "%s/ck1", tmp);
    CHECK(hostile_save(&h, ck, NULL) == IT_OK, "case 1: first save: %s", it_context_last_error(h.ctx));
    hostile_put(ck, "notes.txt", "why this run matters\n");
    r = hostile_save(&h, ck, NULL);
    CHECK(r != IT_OK && strstr(it_context_last_error(h.ctx), "notes.txt"), "case 1: a checkpoint holding notes.txt: %s",
          it_context_last_error(h.ctx));
    CHECK(hostile_holds(ck, "notes.txt", "why this run matters\n") && it_checkpoint_load(h.ctx, h.m, NULL, NULL, ck) == IT_OK,
          "case 1: notes.txt and the checkpoint both intact");
    /* a Hugging Face download: config.json without irontensor_version */
    hostile_mkdirf(hf, sizeof hf, tmp, "hf-model");
    hostile_put(hf, "config.json", "{\"model_type\": \"llama\"}\n");
    hostile_put(hf, "model.safetensors", "weights from elsewhere");
    r = hostile_save(&h, hf, NULL);
    CHECK(r != IT_OK && strstr(it_context_last_error(h.ctx), "not an IronTensor checkpoint"), "case 1: a Hugging Face download: %s",
          it_context_last_error(h.ctx));
    CHECK(hostile_holds(hf, "model.safetensors", "weights from elsewhere"), "case 1: the download is untouched");
    /* what a save may replace: an empty directory, a checkpoint, one saved before the marker existed */
    hostile_mkdirf(empty, sizeof empty, tmp, "empty");
    CHECK(hostile_save(&h, empty, NULL) == IT_OK && hostile_exists(empty, "irontensor.checkpoint"), "case 1: an empty directory: %s",
          it_context_last_error(h.ctx));
    CHECK(hostile_save(&h, empty, NULL) == IT_OK, "case 1: a checkpoint: %s", it_context_last_error(h.ctx));
    snprintf(p, sizeof p, "%s/irontensor.checkpoint", empty);
    CHECK(unlink(p) == 0 && hostile_save(&h, empty, NULL) == IT_OK && hostile_exists(empty, "irontensor.checkpoint"),
          "case 1: a checkpoint without the marker (config.json with irontensor_version): %s", it_context_last_error(h.ctx));
    hostile_model_free(&h);
}

/* 2. links are never followed: a target, snapshot or temporary that is a link leaves what it points
   to alone. */
static void hostile_case2_links(const char *tmp) {
    hostile_model h = hostile_model_make(0);
    char victim[600], vck[600], link[600], parent[600], snap[700], stale[700];
    int i;
    hostile_mkdirf(victim, sizeof victim, tmp, "victim");
    hostile_put(victim, "thesis.tex", "years of work\n");
    hostile_put(victim, "config.json", "{\"mine\": 1}\n");
    snprintf(vck, sizeof vck, "%s/victim-ck", tmp); /* a real checkpoint, reachable through links */
    CHECK(hostile_save(&h, vck, NULL) == IT_OK, "case 2: victim checkpoint: %s", it_context_last_error(h.ctx));
    snprintf(link, sizeof link, "%s/savelink", tmp);
    CHECK(symlink(victim, link) == 0, "case 2: symlink");
    CHECK(hostile_save(&h, link, NULL) != IT_OK && strstr(it_context_last_error(h.ctx), "symbolic link"),
          "case 2: --save savelink -> victim: %s", it_context_last_error(h.ctx));
    CHECK(hostile_holds(victim, "thesis.tex", "years of work\n") && hostile_holds(victim, "config.json", "{\"mine\": 1}\n"),
          "case 2: the victim's files are untouched");
    unlink(link);
    CHECK(symlink(vck, link) == 0 && hostile_save(&h, link, NULL) != IT_OK, "case 2: a link to a checkpoint is refused too");
    CHECK(it_checkpoint_validate(h.ctx, vck) == IT_OK, "case 2: the linked checkpoint is intact: %s", it_context_last_error(h.ctx));
    /* snapshots: ck.step00000001 -> victim-ck among real ones; pruning removes only the real ones */
    hostile_mkdirf(parent, sizeof parent, tmp, "runs2");
    snprintf(snap, sizeof snap, "%s/ck.step00000001", parent);
    CHECK(symlink(vck, snap) == 0, "case 2: snapshot symlink");
    for (i = 2; i <= 3; i++) {
        it_checkpoint_path(snap, sizeof snap, parent, "ck.step", i);
        CHECK(hostile_save(&h, snap, NULL) == IT_OK, "case 2: snapshot %d: %s", i, it_context_last_error(h.ctx));
    }
    CHECK(it_checkpoint_prune(h.ctx, parent, "ck.step", 1) == IT_OK, "case 2: prune: %s", it_context_last_error(h.ctx));
    CHECK(hostile_exists(parent, "ck.step00000001") && it_checkpoint_validate(h.ctx, vck) == IT_OK,
          "case 2: the snapshot link and the checkpoint it points to are left alone");
    CHECK(!hostile_exists(parent, "ck.step00000002") && hostile_exists(parent, "ck.step00000003"), "case 2: real snapshots pruned");
    /* a stale temporary that is a link */
    snprintf(stale, sizeof stale, "%s/ck.tmp-%ld", parent, hostile_dead_pid());
    CHECK(symlink(victim, stale) == 0, "case 2: stale link");
    snprintf(snap, sizeof snap, "%s/ck", parent);
    CHECK(hostile_save(&h, snap, NULL) == IT_OK, "case 2: save beside a stale link: %s", it_context_last_error(h.ctx));
    CHECK(hostile_holds(victim, "thesis.tex", "years of work\n") && hostile_holds(victim, "config.json", "{\"mine\": 1}\n"),
          "case 2: a DIR.tmp-PID link is not followed");
    hostile_model_free(&h);
}

/* 3. pruning removes only this run's marked snapshots, never on an empty prefix. */
static void hostile_case3_prune(const char *tmp) {
    hostile_model h = hostile_model_make(0);
    char parent[600], p[700], notes[700];
    int i;
    hostile_mkdirf(parent, sizeof parent, tmp, "runs3");
    snprintf(notes, sizeof notes, "%s/ck.step00000001", parent); /* the user's, named like a snapshot */
    mkdir(notes, 0755);
    hostile_put(notes, "notes.txt", "keep me\n");
    for (i = 2; i <= 3; i++) {
        it_checkpoint_path(p, sizeof p, parent, "ck.step", i);
        CHECK(hostile_save(&h, p, "runB") == IT_OK, "case 3: snapshot %d: %s", i, it_context_last_error(h.ctx));
    }
    for (i = 5; i <= 6; i++) { /* an older run's, higher-numbered */
        it_checkpoint_path(p, sizeof p, parent, "ck.step", i);
        CHECK(hostile_save(&h, p, "runA") == IT_OK, "case 3: old run's snapshot %d: %s", i, it_context_last_error(h.ctx));
    }
    CHECK(it_checkpoint_prune_run(h.ctx, parent, "ck.step", "runB", 1) == IT_OK, "case 3: prune_run: %s", it_context_last_error(h.ctx));
    CHECK(hostile_holds(notes, "notes.txt", "keep me\n"), "case 3: the user's ck.step00000001/notes.txt is kept");
    CHECK(!hostile_exists(parent, "ck.step00000002") && hostile_exists(parent, "ck.step00000003"),
          "case 3: this run's newest snapshot is kept, its older one removed");
    CHECK(hostile_exists(parent, "ck.step00000005") && hostile_exists(parent, "ck.step00000006"), "case 3: the older run's are kept");
    CHECK(!hostile_exists(parent, ".ck.step00000002.lock"), "case 3: a pruned snapshot's lock file goes with it");
    {
        char id[IT_CHECKPOINT_RUN_ID_MAX];
        it_checkpoint_path(p, sizeof p, parent, "ck.step", 3);
        CHECK(it_checkpoint_read_run_id(h.ctx, p, id, sizeof id) == IT_OK && strcmp(id, "runB") == 0, "case 3: read_run_id");
    }
    /* an empty or NULL prefix matches every numbered directory: refused */
    snprintf(p, sizeof p, "%s/123", parent);
    CHECK(hostile_save(&h, p, NULL) == IT_OK, "case 3: 123/");
    snprintf(p, sizeof p, "%s/456", parent);
    mkdir(p, 0755);
    hostile_put(p, "data.csv", "1,2\n");
    CHECK(it_checkpoint_prune(h.ctx, parent, "", 1) == IT_ERR_INVALID_ARGUMENT &&
              it_checkpoint_prune(h.ctx, parent, NULL, 1) == IT_ERR_INVALID_ARGUMENT,
          "case 3: prune with an empty prefix is refused");
    CHECK(hostile_exists(parent, "123") && hostile_holds(p, "data.csv", "1,2\n"), "case 3: 123/ and 456/ kept");
    /* this run's snapshot that the user added a file to is kept whole */
    it_checkpoint_path(p, sizeof p, parent, "ck.step", 3);
    hostile_put(p, "notes.txt", "best one\n");
    it_checkpoint_path(p, sizeof p, parent, "ck.step", 4);
    CHECK(hostile_save(&h, p, "runB") == IT_OK && it_checkpoint_prune_run(h.ctx, parent, "ck.step", "runB", 1) == IT_OK,
          "case 3: prune again: %s", it_context_last_error(h.ctx));
    it_checkpoint_path(p, sizeof p, parent, "ck.step", 3);
    CHECK(hostile_holds(p, "notes.txt", "best one\n") && hostile_exists(p, "model.safetensors"),
          "case 3: a snapshot holding a user's file is not pruned");
    hostile_model_free(&h);
}

/* 4. a target that cannot be written is refused up front, with the reason. */
static void hostile_case4_targets(const char *tmp) {
    hostile_model h = hostile_model_make(0);
    static const char *const bad[] = {"", "/", ".", "..", "./", "a/.."};
    char p[700], ro[600];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(it_checkpoint_check_target(h.ctx, bad[i]) != IT_OK && hostile_save(&h, bad[i], NULL) != IT_OK,
              "case 4: '%s' refused", bad[i]);
    snprintf(p, sizeof p, "%s/afile", tmp);
    it_test_write_file(p, "x", 1);
    CHECK(it_checkpoint_check_target(h.ctx, p) != IT_OK && strstr(it_context_last_error(h.ctx), "not a directory"),
          "case 4: an existing file: %s", it_context_last_error(h.ctx));
    CHECK(hostile_save(&h, p, NULL) != IT_OK && hostile_holds(tmp, "afile", "x"), "case 4: the file is kept");
    snprintf(p, sizeof p, "%s/no/such/parent/ck", tmp);
    CHECK(it_checkpoint_check_target(h.ctx, p) != IT_OK && strstr(it_context_last_error(h.ctx), "does not exist"),
          "case 4: a missing parent: %s", it_context_last_error(h.ctx));
    hostile_mkdirf(ro, sizeof ro, tmp, "readonly");
    chmod(ro, 0555);
    if (geteuid() == 0) snprintf(ro, sizeof ro, "/proc"); /* root writes through mode bits; /proc refuses anyone */
    snprintf(p, sizeof p, "%s/ck", ro);
    CHECK(it_checkpoint_check_target(h.ctx, p) != IT_OK && strstr(it_context_last_error(h.ctx), "cannot write"),
          "case 4: a read-only parent (%s): %s", ro, it_context_last_error(h.ctx));
    snprintf(p, sizeof p, "%s/fresh", tmp);
    CHECK(it_checkpoint_check_target(h.ctx, p) == IT_OK && !hostile_exists(p, ""), "case 4: a new directory is fine, and not created");
    hostile_model_free(&h);
}

/* 7. stale temporaries of processes that are gone are removed before a save; a live process's
   are not, nor a stale one holding a user's file. */
static void hostile_case7_stale(const char *tmp) {
    hostile_model h = hostile_model_make(0);
    char parent[600], ck[700], name[800], live_tmp[100], foreign_tmp[100];
    long dead = hostile_dead_pid(), dead2 = hostile_dead_pid();
    hostile_mkdirf(parent, sizeof parent, tmp, "runs7");
    snprintf(ck, sizeof ck, "%s/ck", parent);
    CHECK(hostile_save(&h, ck, NULL) == IT_OK, "case 7: save: %s", it_context_last_error(h.ctx));
    snprintf(name, sizeof name, "%s/ck.tmp-%ld", parent, dead);
    mkdir(name, 0755);
    hostile_put(name, "config.json", "{}");
    hostile_put(name, "model.safetensors", "half");
    snprintf(name, sizeof name, "%s/ck.old-%ld", parent, dead);
    mkdir(name, 0755);
    hostile_put(name, "model.safetensors", "old");
    snprintf(name, sizeof name, "ck.tokenizer-%ld.bin", dead);
    hostile_put(parent, name, "tok");
    snprintf(live_tmp, sizeof live_tmp, "ck.tmp-%ld", (long)getppid()); /* the test's parent: alive */
    snprintf(name, sizeof name, "%s/%s", parent, live_tmp);
    mkdir(name, 0755);
    hostile_put(name, "config.json", "{}");
    snprintf(foreign_tmp, sizeof foreign_tmp, "ck.tmp-%ld", dead2);
    snprintf(name, sizeof name, "%s/%s", parent, foreign_tmp);
    mkdir(name, 0755);
    hostile_put(name, "notes.txt", "mine");
    CHECK(hostile_save(&h, ck, NULL) == IT_OK, "case 7: save over stale temporaries: %s", it_context_last_error(h.ctx));
    snprintf(name, sizeof name, "ck.tmp-%ld", dead);
    CHECK(!hostile_exists(parent, name), "case 7: a dead process's %s removed", name);
    snprintf(name, sizeof name, "ck.old-%ld", dead);
    CHECK(!hostile_exists(parent, name), "case 7: a dead process's %s removed", name);
    snprintf(name, sizeof name, "ck.tokenizer-%ld.bin", dead);
    CHECK(!hostile_exists(parent, name), "case 7: a dead process's %s removed", name);
    CHECK(hostile_exists(parent, live_tmp), "case 7: a live process's %s kept", live_tmp);
    snprintf(name, sizeof name, "%s/%s", parent, foreign_tmp);
    CHECK(hostile_holds(name, "notes.txt", "mine"), "case 7: a stale temporary holding a user's file is kept");
    hostile_model_free(&h);
}

/* 8. two writers: the second waits for the first's lock, or fails naming it; never deletes the
   first's live temporary. */
static void hostile_case8_lock(const char *tmp) {
    hostile_model h = hostile_model_make(0);
    char parent[600], ck[700], lockp[700], child_tmp[700];
    int ready[2], k;
    pid_t pid, writers[2];
    struct timespec t0, t1;
    hostile_mkdirf(parent, sizeof parent, tmp, "runs8");
    snprintf(ck, sizeof ck, "%s/ck", parent);
    snprintf(lockp, sizeof lockp, "%s/.ck.lock", parent);
    if (pipe(ready) != 0) exit(2);
    pid = fork();
    if (pid == 0) { /* a writer in the middle of its save: holds the lock, its temporary half-written */
        struct flock fl;
        int fd = open(lockp, O_RDWR | O_CREAT, 0644);
        char name[700];
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0) _exit(3);
        snprintf(name, sizeof name, "%s/ck.tmp-%ld", parent, (long)getpid());
        mkdir(name, 0755);
        hostile_put(name, "config.json", "{}");
        if (write(ready[1], "r", 1) != 1) _exit(3);
        usleep(1500 * 1000);
        _exit(0);
    }
    {
        char c;
        CHECK(read(ready[0], &c, 1) == 1, "case 8: the first writer started");
    }
    snprintf(child_tmp, sizeof child_tmp, "ck.tmp-%ld", (long)pid);
    {
        it_checkpoint_options o;
        memset(&o, 0, sizeof o);
        o.lock_wait_ms = -1;
        CHECK(it_checkpoint_save(h.ctx, h.m, NULL, NULL, ck, &o) != IT_OK && strstr(it_context_last_error(h.ctx), "another process"),
              "case 8: a second writer that will not wait fails: %s", it_context_last_error(h.ctx));
        CHECK(hostile_exists(parent, child_tmp), "case 8: the first writer's temporary is untouched");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        o.lock_wait_ms = 20000;
        CHECK(it_checkpoint_save(h.ctx, h.m, NULL, NULL, ck, &o) == IT_OK, "case 8: a waiting writer saves after the first: %s",
              it_context_last_error(h.ctx));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9 > 0.5, "case 8: it waited for the lock");
    }
    waitpid(pid, NULL, 0);
    /* two real writers, saving in turns */
    for (k = 0; k < 2; k++) {
        writers[k] = fork();
        if (writers[k] == 0) {
            hostile_model w = hostile_model_make(0);
            int i;
            for (i = 0; i < 15; i++)
                if (hostile_save(&w, ck, NULL) != IT_OK) {
                    fprintf(stderr, "case 8: writer %d, save %d: %s\n", k, i, it_context_last_error(w.ctx));
                    _exit(1);
                }
            _exit(0);
        }
    }
    for (k = 0; k < 2; k++) {
        int status = 0;
        waitpid(writers[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "case 8: concurrent writer %d had a save fail", k);
    }
    CHECK(it_checkpoint_validate(h.ctx, ck) == IT_OK, "case 8: the checkpoint is whole: %s", it_context_last_error(h.ctx));
    close(ready[0]);
    close(ready[1]);
    hostile_model_free(&h);
}

/* 9. weights or optimizer state that are not finite are not saved; the good checkpoint stays. */
static void hostile_case9_nonfinite(const char *tmp) {
    hostile_model h = hostile_model_make(1), back = hostile_model_make(1);
    char ck[600];
    it_tensor *w = it_param_at(h.ctx, 1);
    float good = it_data(w)[3];
    snprintf(ck, sizeof ck, "%s/ck9", tmp);
    CHECK(hostile_save(&h, ck, NULL) == IT_OK, "case 9: a good save: %s", it_context_last_error(h.ctx));
    it_data(w)[3] = NAN;
    CHECK(hostile_save(&h, ck, NULL) == IT_ERR_RANGE && strstr(it_context_last_error(h.ctx), it_tensor_name(w)),
          "case 9: NaN weight refused, naming %s: %s", it_tensor_name(w), it_context_last_error(h.ctx));
    it_data(w)[3] = good;
    h.opt->state[5] = INFINITY;
    CHECK(hostile_save(&h, ck, NULL) == IT_ERR_RANGE && strstr(it_context_last_error(h.ctx), "optimizer state"),
          "case 9: infinite optimizer state refused: %s", it_context_last_error(h.ctx));
    CHECK(it_checkpoint_load(back.ctx, back.m, back.opt, NULL, ck) == IT_OK && it_data(it_param_at(back.ctx, 1))[3] == good &&
              back.opt->state[5] == 0.0f,
          "case 9: the last good checkpoint is kept: %s", it_context_last_error(back.ctx));
    hostile_model_free(&h);
    hostile_model_free(&back);
}

/* ---- data loss (cases 1-9: what a save may replace, symlinks, pruning, locks, temporaries) ---- */
/* (cases 5 and 6 are train.c's: tests/cli_hostile.sh) */
static void hostile_data_loss(const char *tmp) {
    hostile_case(tmp, "case 1 (a foreign directory)", 60, hostile_case1_foreign_dir);
    hostile_case(tmp, "case 2 (links)", 60, hostile_case2_links);
    hostile_case(tmp, "case 3 (pruning)", 60, hostile_case3_prune);
    hostile_case(tmp, "case 4 (bad targets)", 60, hostile_case4_targets);
    hostile_case(tmp, "case 7 (stale temporaries)", 60, hostile_case7_stale);
    hostile_case(tmp, "case 8 (two writers)", 90, hostile_case8_lock);
    hostile_case(tmp, "case 9 (not finite)", 60, hostile_case9_nonfinite);
}

/* ---- silently wrong (cases 10-15, 22: resume state, token files, checkpoint values) ----------- */
/* A small Llama with AdamW after one update from random gradients and the trainer state of a run
   at step 20 of 40, so every file of a checkpoint has real values. */
typedef struct hostile_run {
    it_context *ctx;
    it_model *m;
    it_optimizer *opt;
    it_trainer_state ts;
} hostile_run;
static void hostile_run_make(hostile_run *h) {
    it_model_config c;
    it_optimizer_desc od;
    it_rng rng;
    size_t i;
    memset(h, 0, sizeof *h);
    c = it_test_llama();
    c.n_layers = 1;
    c.untied = 0;
    c.rope_theta = 10000.0f;
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    h->ctx = it_test_context(1);
    if (it_model_create(h->ctx, &c, &h->m) != IT_OK || it_model_init(h->m, 1) != IT_OK ||
        it_optimizer_create(h->ctx, &od, &h->opt) != IT_OK)
        exit(2);
    it_rng_seed(&rng, 3);
    for (i = 0; i < it_param_numel(h->ctx); i++) it_grad_block(h->ctx)[i] = it_rng_normal(&rng);
    if (it_optimizer_step(h->opt, 1e-3f, 1.0f, NULL) != IT_OK) exit(2);
    h->ts.step = 20;
    h->ts.batch = 2;
    h->ts.seq = 16;
    h->ts.accum_steps = 1;
    h->ts.optimizer = h->opt->desc;
    h->ts.schedule.kind = IT_SCHEDULE_COSINE;
    h->ts.schedule.base_lr = 1e-3f;
    h->ts.schedule.warmup_steps = 5;
    h->ts.schedule.total_steps = 40;
    h->ts.schedule.min_lr_ratio = 0.1f;
    it_rng_seed(&h->ts.data_rng, 7);
    h->ts.best_val_loss = NAN;
}
static void hostile_run_free(hostile_run *h) {
    it_context_destroy(h->ctx);
    memset(h, 0, sizeof *h);
}
/* Replaces the first `from` with `to` in a JSON file this library wrote (to == NULL: no edit);
   restamp: a fresh irontensor_crc32 (computed with its 8 digits as zeros), so only the value
   checks stand between the edit and a load. */
static void hostile_json_replace(const char *path, const char *from, const char *to, int restamp) {
    size_t n = 0;
    unsigned char *buf = it_test_read_file(path, &n);
    char *text, *at, *crc;
    if (!buf) exit(2);
    buf[n] = 0;
    text = (char *)malloc(n + (to ? strlen(to) : 0) + 1);
    at = to ? strstr((char *)buf, from) : NULL;
    if (to && !at) {
        fprintf(stderr, "hostile_json_edit: '%s' not in %s\n", from, path);
        exit(2);
    }
    if (at) {
        memcpy(text, buf, (size_t)(at - (char *)buf));
        strcpy(text + (at - (char *)buf), to);
        strcat(text, at + strlen(from));
    } else
        strcpy(text, (char *)buf);
    crc = strstr(text, "\"irontensor_crc32\": \"");
    if (!crc) exit(2);
    crc += strlen("\"irontensor_crc32\": \"");
    if (restamp) {
        memcpy(crc, "00000000", 8);
        it__hex8(crc, it__data_crc32((const uint8_t *)text, strlen(text)));
    }
    it_test_write_file(path, text, strlen(text));
    free(text);
    free(buf);
}
/* Replaces the last f32 value of a safetensors file this library wrote with v and stamps fresh
   checksums (data CRC, then the header CRC with its own digits as zeros), as a writer that
   produced that value would. */
static void hostile_st_set_last(const char *path, float v) {
    size_t n = 0;
    unsigned char *buf = it_test_read_file(path, &n);
    if (!buf || n < 12) exit(2);
    memcpy(buf + n - 4, &v, 4);
    it_test_st_restamp(buf, n);
    it_test_write_file(path, buf, n);
    free(buf);
}
static int hostile_make_fifo(void *path) {
    return it_tokenizer_load(it_test_context(1), (const char *)path, &(it_tokenizer *){NULL}) == IT_OK ? 0 : 3;
}

/* case 12: trainer_state.json values out of range are refused even with a valid checksum */
static void hostile_trainer_state_values(const char *tmp) {
    static const char *const edits[][3] = {
        {"\"base_lr\": 0.001", "\"base_lr\": -1.0", "base_lr"},
        {"\"kind\": \"cosine\"", "\"kind\": \"bogus\"", "bogus"},
        {"\"accum_steps\": 1", "\"accum_steps\": 0", "accum_steps"},
        {"\"step\": 20,", "\"step\": 50,", "past the run's total_steps"},
        {"\"total_steps\": 40", "\"total_steps\": -5", "total_steps"},
        {"\"warmup_steps\": 5", "\"warmup_steps\": -100", "warmup_steps"},
        {"\"min_lr_ratio\": 0.1", "\"min_lr_ratio\": 5.0", "min_lr_ratio"},
        {"\"batch\": 2,", "\"batch\": 2147483647,", "batch"},
        {"\"seq\": 16,", "\"seq\": 2147483647,", "seq"},
        {"\"beta2\": 0.999", "\"beta2\": 1.5", "beta2"},
    };
    hostile_run h;
    it_trainer_state got, bad;
    char dir[300], path[400];
    size_t i;
    hostile_run_make(&h);
    snprintf(dir, sizeof dir, "%s/ts_values", tmp);
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    CHECK(it_checkpoint_save(h.ctx, h.m, h.opt, &h.ts, dir, NULL) == IT_OK, "case 12: save: %s", it_context_last_error(h.ctx));
    hostile_json_replace(path, NULL, NULL, 1);
    CHECK(it_checkpoint_read_trainer_state(h.ctx, dir, &got) == IT_OK && got.schedule.kind == IT_SCHEDULE_COSINE &&
              got.schedule.total_steps == 40,
          "case 12: a re-stamped, unchanged trainer_state.json must load: %s", it_context_last_error(h.ctx));
    for (i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        it_result r;
        CHECK(it_checkpoint_save(h.ctx, h.m, h.opt, &h.ts, dir, NULL) == IT_OK, "case 12: save");
        hostile_json_replace(path, edits[i][0], edits[i][1], 1);
        r = it_checkpoint_read_trainer_state(h.ctx, dir, &got);
        CHECK(r != IT_OK && strstr(it_context_last_error(h.ctx), "trainer_state.json") &&
                  strstr(it_context_last_error(h.ctx), edits[i][2]),
              "case 12: %s must be refused naming the file and %s, got %d '%s'", edits[i][1], edits[i][2], (int)r,
              it_context_last_error(h.ctx));
        CHECK(it_checkpoint_load(h.ctx, h.m, h.opt, &got, dir) != IT_OK, "case 12: it_checkpoint_load accepted %s", edits[i][1]);
        CHECK(it_checkpoint_validate(h.ctx, dir) != IT_OK, "case 12: it_checkpoint_validate accepted %s", edits[i][1]);
    }
    /* the same rules apply to a state in memory, and a save refuses one that could not load back */
    bad = h.ts;
    bad.schedule.base_lr = NAN;
    CHECK(it_trainer_state_check(h.ctx, &h.ts) == IT_OK, "case 12: a good state fails the check: %s", it_context_last_error(h.ctx));
    CHECK(it_trainer_state_check(h.ctx, &bad) == IT_ERR_RANGE && strstr(it_context_last_error(h.ctx), "base_lr"),
          "case 12: base_lr NaN passes the check");
    bad = h.ts;
    bad.accum_index = 1;
    CHECK(it_trainer_state_check(h.ctx, &bad) != IT_OK, "case 12: accum_index 1 with accum_steps 1 passes the check");
    bad = h.ts;
    bad.schedule.kind = IT_SCHEDULE_COUNT;
    CHECK(it_checkpoint_save(h.ctx, h.m, h.opt, &bad, dir, NULL) != IT_OK && strstr(it_context_last_error(h.ctx), "schedule"),
          "case 12: a save with an unknown schedule kind was written");
    CHECK(it_checkpoint_read_trainer_state(h.ctx, dir, &got) != IT_OK || got.schedule.kind == IT_SCHEDULE_COSINE,
          "case 12: the refused save replaced the checkpoint");
    /* fingerprints round-trip; old files without them read as "not recorded" */
    h.ts.data.size = 200000;
    h.ts.data.crc32 = 0xf761d063u;
    h.ts.tokenizer_file.size = 1234;
    h.ts.tokenizer_file.crc32 = 7;
    snprintf(h.ts.tokenizer, sizeof h.ts.tokenizer, "bpe");
    CHECK(it_checkpoint_save(h.ctx, h.m, h.opt, &h.ts, dir, NULL) == IT_OK &&
              it_checkpoint_read_trainer_state(h.ctx, dir, &got) == IT_OK && got.data.size == 200000 &&
              got.data.crc32 == 0xf761d063u && got.tokenizer_file.size == 1234 && got.tokenizer_file.crc32 == 7 &&
              got.val_data.size == 0 && !strcmp(got.tokenizer, "bpe"),
          "case 10: data and tokenizer fingerprints do not round-trip: %s", it_context_last_error(h.ctx));
    hostile_run_free(&h);
}

/* case 14: a non-finite weight or optimizer value, or a negative second moment, fails the load */
static void hostile_nonfinite_checkpoint(const char *tmp) {
    static const char *const files[] = {"model.safetensors", "optimizer.safetensors", "optimizer.safetensors"};
    const float values[] = {NAN, INFINITY, -1.0f};
    static const char *const names[] = {"finite", "finite", ">= 0"};
    hostile_run h;
    it_trainer_state got;
    char dir[300], path[400];
    int i;
    float *before;
    size_t n;
    hostile_run_make(&h);
    n = it_param_numel(h.ctx);
    before = (float *)malloc(n * sizeof(float));
    snprintf(dir, sizeof dir, "%s/nonfinite", tmp);
    for (i = 0; i < 3; i++) {
        it_result r;
        CHECK(it_checkpoint_save(h.ctx, h.m, h.opt, &h.ts, dir, NULL) == IT_OK, "case 14: save");
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        hostile_st_set_last(path, values[i]);
        memcpy(before, it_param_block(h.ctx), n * sizeof(float));
        r = it_checkpoint_load(h.ctx, h.m, h.opt, &got, dir);
        CHECK(r != IT_OK && strstr(it_context_last_error(h.ctx), files[i]) && strstr(it_context_last_error(h.ctx), "tensor '") &&
                  strstr(it_context_last_error(h.ctx), names[i]),
              "case 14: %g at the end of %s must fail the load naming the file and tensor, got %d '%s'", (double)values[i],
              files[i], (int)r, it_context_last_error(h.ctx));
        CHECK(memcmp(before, it_param_block(h.ctx), n * sizeof(float)) == 0, "case 14: the failed load changed the weights");
        CHECK(it_checkpoint_validate(h.ctx, dir) != IT_OK, "case 14: validate (it-inspect) accepts %g in %s", (double)values[i],
              files[i]);
    }
    free(before);
    hostile_run_free(&h);
}

/* case 15: no NaN learning rate reaches the weights; sampling with +inf / NaN logits */
static void hostile_optimizer_and_sampling(void) {
    const float bad_lr[] = {NAN, -1e-3f, INFINITY}, bad_scale[] = {NAN, -1.0f, INFINITY};
    const float inf_logits[4] = {0.0f, INFINITY, 1.0f, INFINITY};
    float nan_logits[4], probs[4];
    int index[4], i, seen[4] = {0, 0, 0, 0};
    hostile_run h;
    size_t n;
    float *before;
    hostile_run_make(&h);
    n = it_param_numel(h.ctx);
    before = (float *)malloc(n * sizeof(float));
    memcpy(before, it_param_block(h.ctx), n * sizeof(float));
    for (i = 0; i < 3; i++) {
        CHECK(it_optimizer_step(h.opt, bad_lr[i], 1.0f, NULL) == IT_ERR_INVALID_ARGUMENT, "case 15: lr %g accepted", (double)bad_lr[i]);
        CHECK(it_optimizer_step(h.opt, 1e-3f, bad_scale[i], NULL) == IT_ERR_INVALID_ARGUMENT, "case 15: grad_scale %g accepted",
              (double)bad_scale[i]);
    }
    CHECK(memcmp(before, it_param_block(h.ctx), n * sizeof(float)) == 0 && h.opt->step == 1,
          "case 15: a refused step changed the weights or the step count");
    CHECK(it_optimizer_step(h.opt, 0.0f, 1.0f, NULL) == IT_OK, "case 15: lr 0 is a valid (no-op) rate");
    for (i = 0; i < 100; i++) seen[it_cpu_sample(inf_logits, 4, 1.0f, 0, 1.0f, (float)i / 100.0f, probs, index)]++;
    CHECK(seen[0] == 0 && seen[2] == 0 && seen[1] == 50 && seen[3] == 50,
          "case 15: with two +inf logits the coin must pick among them evenly: %d %d %d %d", seen[0], seen[1], seen[2], seen[3]);
    nan_logits[0] = NAN;
    nan_logits[1] = 1.0f;
    nan_logits[2] = NAN;
    nan_logits[3] = 2.0f;
    memset(seen, 0, sizeof seen);
    for (i = 0; i < 100; i++) seen[it_cpu_sample(nan_logits, 4, 1.0f, 0, 1.0f, (float)i / 100.0f, probs, index)]++;
    CHECK(seen[0] == 0 && seen[2] == 0 && seen[1] > 0 && seen[3] > seen[1],
          "case 15: NaN logits must never be sampled: %d %d %d %d", seen[0], seen[1], seen[2], seen[3]);
    CHECK(it_cpu_sample(nan_logits, 4, 0.0f, 0, 1.0f, 0.5f, probs, index) == 3,
          "case 15: greedy decoding picked a NaN logit (got %d, want 3)", it_cpu_sample(nan_logits, 4, 0.0f, 0, 1.0f, 0.5f, probs, index));
    CHECK(it_cpu_sample(inf_logits, 4, 0.0f, 0, 1.0f, 0.5f, probs, index) == 1, "case 15: greedy with +inf logits is not the first +inf");
    free(before);
    hostile_run_free(&h);
}

/* case 22: a hand-edited config.json loads with a warning naming it; its fields still count */
static void hostile_edited_config(const char *tmp) {
    hostile_run h;
    it_model_config c;
    it_trainer_state got;
    char dir[300], path[400];
    hostile_run_make(&h);
    snprintf(dir, sizeof dir, "%s/edited_config", tmp);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(it_checkpoint_save(h.ctx, h.m, h.opt, &h.ts, dir, NULL) == IT_OK, "case 22: save");
    hostile_json_replace(path, "\"use_cache\": true", "\"use_cache\": false", 0); /* what a Hugging Face user does */
    it_test_last_warning[0] = 0;
    CHECK(it_checkpoint_read_config(h.ctx, dir, &c) == IT_OK && c.dim == 32, "case 22: an edited config.json is refused: %s",
          it_context_last_error(h.ctx));
    CHECK(strstr(it_test_last_warning, "config.json") && strstr(it_test_last_warning, "checksum"),
          "case 22: the edit gave no warning naming config.json: '%s'", it_test_last_warning);
    CHECK(it_checkpoint_load(h.ctx, h.m, h.opt, &got, dir) == IT_OK, "case 22: load of an edited config.json: %s",
          it_context_last_error(h.ctx));
    hostile_json_replace(path, "\"hidden_size\": 32", "\"hidden_size\": -32", 0);
    CHECK(it_checkpoint_read_config(h.ctx, dir, &c) != IT_OK && strstr(it_context_last_error(h.ctx), "hidden_size") &&
              strstr(it_context_last_error(h.ctx), "config.json"),
          "case 22: an edited field must still be validated: %s", it_context_last_error(h.ctx));
    hostile_run_free(&h);
}

/* case 13: nanoGPT's headerless .bin is read as uint16 ids (or refused), never as text */
static void hostile_raw_token_files(const char *tmp) {
    it_context *ctx = it_test_context(1);
    it_dataset *ds = NULL, *val = NULL;
    unsigned char raw[4000];
    char path[300], odd[300], big[300], valpath[300];
    size_t n_train = 0, n_val = 0, i;
    const int32_t *t;
    for (i = 0; i < 2000; i++) {
        raw[2 * i] = (unsigned char)(i % 200);
        raw[2 * i + 1] = 0;
    }
    snprintf(path, sizeof path, "%s/train.bin", tmp);
    it_test_write_file(path, raw, sizeof raw);
    CHECK(it_dataset_load(ctx, path, NULL, 256, 16, &ds) == IT_OK, "case 13: raw uint16 .bin: %s", it_context_last_error(ctx));
    if (ds) {
        t = it_dataset_tokens(ds, IT_SPLIT_TRAIN, &n_train);
        it_dataset_tokens(ds, IT_SPLIT_VAL, &n_val);
        CHECK(n_train + n_val == 2000 && t[0] == 0 && t[199] == 199 && t[200] == 0,
              "case 13: the .bin must be 2000 uint16 ids, got %zu + %zu", n_train, n_val);
    }
    snprintf(odd, sizeof odd, "%s/odd.bin", tmp);
    it_test_write_file(odd, raw, 3999);
    CHECK(it_dataset_load(ctx, odd, NULL, 256, 16, &val) != IT_OK && strstr(it_context_last_error(ctx), "odd"),
          "case 13: an odd-sized .bin must be refused: %s", it_context_last_error(ctx));
    raw[1] = 1; /* id 256 */
    snprintf(big, sizeof big, "%s/big.bin", tmp);
    it_test_write_file(big, raw, sizeof raw);
    CHECK(it_dataset_load(ctx, big, NULL, 256, 16, &val) != IT_OK && strstr(it_context_last_error(ctx), "256"),
          "case 13: an id >= vocab in a raw .bin must be refused: %s", it_context_last_error(ctx));
    raw[1] = 0;
    /* a separate validation file: the whole of each file is its split */
    snprintf(valpath, sizeof valpath, "%s/val.bin", tmp);
    it_test_write_file(valpath, raw, 1000);
    val = NULL;
    CHECK(ds && it_dataset_load(ctx, valpath, NULL, 256, 16, &val) == IT_OK, "case 13: val.bin: %s", it_context_last_error(ctx));
    if (ds && val) {
        CHECK(it_dataset_set_validation(ds, val) == IT_OK, "case 13: set_validation: %s", it_context_last_error(ctx));
        it_dataset_tokens(ds, IT_SPLIT_TRAIN, &n_train);
        it_dataset_tokens(ds, IT_SPLIT_VAL, &n_val);
        CHECK(n_train == 2000 && n_val == 500, "case 13: --val-data splits are %zu + %zu, want 2000 + 500", n_train, n_val);
    }
    it_dataset_destroy(ds);
    it_context_destroy(ctx);
}

/* case 11: a tokenizer.bin that is a directory or a FIFO is an error (not a silent byte-level
   model, not a hang) */
static void hostile_tokenizer_not_a_file(const char *tmp) {
    it_context *ctx = it_test_context(1);
    it_tokenizer *tok = NULL;
    char dir[300], path[400];
    int status;
    snprintf(dir, sizeof dir, "%s/tokdir", tmp);
    snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
    mkdir(dir, 0755);
    CHECK(!it_checkpoint_tokenizer_path(dir, path, sizeof path), "case 11: tokenizer_path found a tokenizer in an empty dir");
    mkdir(path, 0755);
    CHECK(it_checkpoint_tokenizer_path(dir, path, sizeof path), "case 11: a tokenizer.bin directory is not reported");
    CHECK(it_tokenizer_load(ctx, path, &tok) != IT_OK && strstr(it_context_last_error(ctx), "not a regular file"),
          "case 11: a directory as tokenizer.bin: %s", it_context_last_error(ctx));
    rmdir(path);
    CHECK(mkfifo(path, 0644) == 0, "case 11: mkfifo");
    status = hostile_run_child(10, NULL, hostile_make_fifo, path);
    CHECK(status == 3, "case 11: a FIFO as tokenizer.bin must fail at once (child status %d; -1 = hung)", status);
    it_context_destroy(ctx);
}

/* case 21: a 1-D tensor of the wrong shape is reported with the 1-D shape the config needs. The
   header of model.safetensors is rewritten as another tool would write it (no irontensor keys, so
   no checksums) with model.norm.weight as [16, 2]: the same 32 values, the wrong shape. */
static void hostile_one_dim_shape_message(const char *tmp) {
    hostile_run h;
    char dir[300], path[400], *header, *at, *k;
    unsigned char *buf, *out;
    size_t n = 0, header_n, data_n, new_n, i;
    const char *from = "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[32]";
    const char *to = "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[16,2]";
    hostile_run_make(&h);
    snprintf(dir, sizeof dir, "%s/one_dim", tmp);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(it_checkpoint_save(h.ctx, h.m, NULL, NULL, dir, NULL) == IT_OK, "case 21: save");
    buf = it_test_read_file(path, &n);
    if (!buf) exit(2);
    header_n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16;
    data_n = n - 8 - header_n;
    header = (char *)malloc(header_n + 16);
    memcpy(header, buf + 8, header_n);
    header[header_n] = 0;
    while ((k = strstr(header, "irontensor.")) != NULL) k[0] = 'x';
    at = strstr(header, from);
    CHECK(at != NULL, "case 21: model.norm.weight [32] not in the header");
    if (at) {
        memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
        memcpy(at, to, strlen(to));
    }
    new_n = strlen(header);
    while (new_n > 0 && header[new_n - 1] == ' ') new_n--;
    while (new_n % 8) header[new_n++] = ' ';
    out = (unsigned char *)malloc(8 + new_n + data_n);
    for (i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)new_n >> (8 * i));
    memcpy(out + 8, header, new_n);
    memcpy(out + 8 + new_n, buf + 8 + header_n, data_n);
    it_test_write_file(path, out, 8 + new_n + data_n);
    CHECK(it_checkpoint_load(h.ctx, h.m, NULL, NULL, dir) != IT_OK &&
              strstr(it_context_last_error(h.ctx), "'model.norm.weight': shape [16, 2] but the config needs [32]"),
          "case 21: the 1-D shape message is wrong: %s", it_context_last_error(h.ctx));
    free(out);
    free(header);
    free(buf);
    hostile_run_free(&h);
}

static void hostile_silently_wrong(const char *tmp) {
    hostile_one_dim_shape_message(tmp);
    hostile_trainer_state_values(tmp);
    hostile_nonfinite_checkpoint(tmp);
    hostile_optimizer_and_sampling();
    hostile_edited_config(tmp);
    hostile_raw_token_files(tmp);
    hostile_tokenizer_not_a_file(tmp);
}

/* ---- hangs, aborts, undefined behaviour (cases 16-20: RNG, big configs, FIFOs, sizes, NULL) --- */
/* Case 18: each reader given a FIFO (no writer ever opens it) must return an error naming the FIFO
   rather than block; `path` is the FIFO, `dir` a checkpoint directory whose config.json or
   model.safetensors is one. Exit 0 = refused with the right message, 1 = accepted, 2 = wrong text. */
typedef struct hostile_fifo_case {
    const char *path, *dir;
    int reader; /* 0 tokenizer, 1 token file, 2 dataset, 3 safetensors, 4 checkpoint config, 5 validate */
} hostile_fifo_case;
static int hostile_fifo_child(void *arg) {
    const hostile_fifo_case *c = (const hostile_fifo_case *)arg;
    it_context *ctx = it_test_context(1);
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
            it_context *ctx = it_test_context(1);
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

/* Replaces the first occurrence of `from` with `to` in the JSON file at path and recomputes its
   "irontensor_crc32" (over the whole text with its own 8 digits as zeros), so the edit reaches the
   field validation instead of failing the checksum. 0 on success. */
static int hostile_edit_json(const char *path, const char *from, const char *to) {
    size_t n = 0, nf = strlen(from), nt = strlen(to), out_n;
    unsigned char *buf = it_test_read_file(path, &n), *out;
    char *at, *crc;
    it__crc table;
    if (!buf) return -1;
    buf[n] = 0;
    at = strstr((char *)buf, from);
    out = (unsigned char *)malloc(n + nt + 1);
    if (!at || !out) {
        free(buf);
        free(out);
        return -1;
    }
    out_n = (size_t)(at - (char *)buf);
    memcpy(out, buf, out_n);
    memcpy(out + out_n, to, nt);
    memcpy(out + out_n + nt, at + nf, n - out_n - nf);
    out_n = n - nf + nt;
    out[out_n] = 0;
    free(buf);
    crc = strstr((char *)out, "\"irontensor_crc32\": \"");
    if (!crc) {
        free(out);
        return -1;
    }
    crc += strlen("\"irontensor_crc32\": \"");
    memcpy(crc, "00000000", 8);
    it__crc_init(&table);
    it__hex8(crc, it__crc_update(&table, 0, out, out_n));
    it_test_write_file(path, out, out_n);
    free(out);
    return 0;
}

/* Case 16: the all-zero xoshiro state. */
static int hostile_zero_rng_child(void *arg) {
    it_rng r;
    uint32_t sum = 0;
    int i;
    (void)arg;
    memset(&r, 0, sizeof r);
    for (i = 0; i < 1000; i++) sum += it_rng_below(&r, 3) + it_rng_below(&r, 1000000007u);
    return sum < 2000 ? 0 : 3; /* it returned: that is the point; the values are in range */
}
static void hostile_zero_rng(const char *tmp) {
    it_rng zero, seeded;
    char dir[512], path[600];
    it_model_config cfg = it_test_llama();
    ck_setup s;
    it_trainer_state ts = ck_ts(), back;
    int got;
    memset(&zero, 0, sizeof zero);
    it_rng_seed(&seeded, 0);
    CHECK(!it_rng_valid(&zero) && it_rng_valid(&seeded), "case 16: it_rng_valid(zero) %d, (seeded) %d",
          it_rng_valid(&zero), it_rng_valid(&seeded));
    got = hostile_run_child(5, NULL, hostile_zero_rng_child, NULL);
    CHECK(got == 0, "case 16: it_rng_below on the all-zero state: %s (status %d)", got == -1 ? "hangs" : "fails", got);

    snprintf(dir, sizeof dir, "%s/zero_rng", tmp);
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    s = ck_make(&cfg, 3, IT_OPTIMIZER_ADAMW, 1);
    CHECK(it_checkpoint_save(s.ctx, s.m, s.opt, &ts, dir, NULL) == IT_OK, "case 16: save: %s", it_context_last_error(s.ctx));
    {
        char from[200];
        snprintf(from, sizeof from, "\"data_rng\": [\"%llu\"", (unsigned long long)ts.data_rng.s[0]);
        CHECK(hostile_edit_json(path, from, "\"data_rng\": [\"0\"") == 0, "case 16: cannot edit %s", path);
        snprintf(from, sizeof from, "\"%llu\", \"%llu\", \"%llu\"]", (unsigned long long)ts.data_rng.s[1],
                 (unsigned long long)ts.data_rng.s[2], (unsigned long long)ts.data_rng.s[3]);
        CHECK(hostile_edit_json(path, from, "\"0\", \"0\", \"0\"]") == 0, "case 16: cannot edit %s", path);
    }
    CHECK(hostile_file_contains(path, "\"data_rng\": [\"0\", \"0\", \"0\", \"0\"]"), "case 16: the edit did not land");
    CHECK(it_checkpoint_read_trainer_state(s.ctx, dir, &back) != IT_OK &&
              strstr(it_context_last_error(s.ctx), "data_rng") && strstr(it_context_last_error(s.ctx), "all-zero"),
          "case 16: a zero data_rng is accepted or not named: '%s'", it_context_last_error(s.ctx));
    CHECK(it_checkpoint_load(s.ctx, s.m, s.opt, &back, dir) != IT_OK && strstr(it_context_last_error(s.ctx), "data_rng"),
          "case 16: it_checkpoint_load accepts a zero data_rng: '%s'", it_context_last_error(s.ctx));
    {
        int32_t *ids = (int32_t *)malloc(4000 * sizeof(int32_t)), in[16], out[16];
        it_dataset *ds = NULL;
        int i;
        for (i = 0; i < 4000; i++) ids[i] = i % 64;
        if (it_dataset_from_ids(s.ctx, ids, 4000, 64, 8, "zero-rng ids", &ds) == IT_OK) {
            CHECK(it_dataset_batch(ds, IT_SPLIT_TRAIN, &zero, 2, 8, in, out) == IT_ERR_INVALID_ARGUMENT,
                  "case 16: it_dataset_batch draws from the all-zero generator");
            it_dataset_destroy(ds);
        } else {
            CHECK(0, "case 16: dataset: %s", it_context_last_error(s.ctx));
        }
        free(ids);
    }
    ck_free(&s);
}

/* Case 17: a 1 KB config.json claiming 100000 layers beside a 2-layer model.safetensors is refused
   by reading the safetensors header alone, before a model is built (it used to run for minutes). */
static int hostile_deep_config_child(void *arg) {
    const char *dir = (const char *)arg;
    it_context *ctx = it_test_context(1);
    it_model_config cfg;
    if (it_checkpoint_read_config(ctx, dir, &cfg) == IT_OK) return 1;
    if (!strstr(it_context_last_error(ctx), "100000 layers")) {
        fprintf(stderr, "message: %s\n", it_context_last_error(ctx));
        return 2;
    }
    return it_checkpoint_validate(ctx, dir) == IT_OK ? 3 : 0;
}
static void hostile_deep_config(const char *tmp) {
    char dir[512], path[600], err[600];
    it_model_config cfg = it_test_llama();
    ck_setup s = ck_make(&cfg, 5, IT_OPTIMIZER_INVALID, 0);
    int got;
    snprintf(dir, sizeof dir, "%s/deep_config", tmp);
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(err, sizeof err, "%s/deep_config.err", tmp);
    CHECK(it_checkpoint_save(s.ctx, s.m, NULL, NULL, dir, NULL) == IT_OK, "case 17: save: %s", it_context_last_error(s.ctx));
    ck_free(&s);
    CHECK(hostile_edit_json(path, "\"num_hidden_layers\": 2,", "\"num_hidden_layers\": 100000,") == 0,
          "case 17: cannot edit %s", path);
    got = hostile_run_child(5, err, hostile_deep_config_child, dir);
    CHECK(got == 0, "case 17: config.json with 100000 layers: %s (status %d)",
          got == -1 ? "still running after 5 s" : got == 1 ? "accepted" : "wrong message or crash", got);
    /* the right layer count but a width the weights do not have: refused from the header's shapes,
       before a model of that width is built (it used to pass until the weights were loaded) */
    CHECK(hostile_edit_json(path, "\"num_hidden_layers\": 100000,", "\"num_hidden_layers\": 2,") == 0 &&
              hostile_edit_json(path, "\"hidden_size\": 32,", "\"hidden_size\": 65536,") == 0,
          "case 17: cannot edit %s", path);
    {
        it_context *ctx = it_test_context(1);
        it_model_config c;
        it_result r = it_checkpoint_read_config(ctx, dir, &c);
        CHECK(r == IT_ERR_FORMAT && strstr(it_context_last_error(ctx), "model.safetensors") &&
                  strstr(it_context_last_error(ctx), "but the config needs [64, 65536]"),
              "case 17: config.json with hidden_size 65536 beside dim-32 weights: %d %s", r, it_context_last_error(ctx));
        it_context_destroy(ctx);
    }
}

/* Case 20: the NULL contract (a checked abort naming the function and the argument) and
   it_context_error given its own last message as an argument. */
static int hostile_null_child(void *arg) {
    int which = *(const int *)arg;
    it_context *ctx = which == 0 ? NULL : it_test_context(1);
    it_tokenizer *tok = NULL;
    it_dataset *ds = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    float logits[1] = {0.0f}, probs[1];
    int index[1];
    switch (which) {
    case 0: it_context_create(NULL, NULL); break;
    case 1: it_graph_create(NULL); break;
    case 2: it_dataset_from_ids(ctx, NULL, 5, 256, 1, "null ids", &ds); break;
    case 3:
        if (it_tokenizer_byte(ctx, &tok) != IT_OK) return 4;
        it_tokenizer_encode(ctx, tok, NULL, 5, &ids, &n);
        break;
    default: it_cpu_sample(logits, 0, 1.0f, 0, 1.0f, 0.5f, probs, index); break;
    }
    return 0; /* returned: the NULL went unnoticed */
}
static void hostile_null_contract(const char *tmp) {
    static const char *calls[] = {"it_context_create", "it_graph_create", "it_dataset_from_ids", "it_tokenizer_encode",
                                  "it_cpu_sample"};
    static const char *args[] = {"out_ctx is NULL", "ctx is NULL", "ids is NULL", "text is NULL", "V = 0"};
    char err[600];
    int i;
    for (i = 0; i < 5; i++) {
        int got;
        snprintf(err, sizeof err, "%s/null_%d.err", tmp, i);
        got = hostile_run_child(5, err, hostile_null_child, &i);
        CHECK(got == 128 + SIGABRT && hostile_file_contains(err, calls[i]) && hostile_file_contains(err, args[i]),
              "case 20: %s with a NULL / empty argument: status %d (want a checked abort naming '%s')", calls[i], got,
              args[i]);
    }
    CHECK(strstr(it_context_last_error(NULL), "no context") != NULL, "case 20: it_context_last_error(NULL)");
    {   /* a NULL desc means the defaults (the contract's one allowed NULL besides destroy and n = 0) */
        it_context *ctx = it_test_context(1);
        it_model_config c = it_test_llama();
        it_model *m;
        it_optimizer *opt = NULL;
        CHECK(it_model_create(ctx, &c, &m) == IT_OK && it_optimizer_create(ctx, NULL, &opt) == IT_OK && opt &&
                  opt->desc.kind == IT_OPTIMIZER_ADAMW && opt->desc.beta2 == 0.999f,
              "case 20: it_optimizer_create with a NULL desc: %s", it_context_last_error(ctx));
        it_optimizer_destroy(NULL); /* NULL is fine for every destroy */
        it_model_destroy(NULL);
        it_graph_destroy(NULL);
        it_decoder_destroy(NULL);
        it_tokenizer_destroy(NULL);
        it_dataset_destroy(NULL);
        it_token_stream_destroy(NULL);
        it_batch_destroy(NULL);
        it_batch_decoder_destroy(NULL);
        it_generator_destroy(NULL);
        it_context_destroy(ctx);
        it_context_destroy(NULL);
    }
    {
        it_context *ctx = it_test_context(1);
        it_context_error(ctx, IT_ERR_IO, "first problem");
        it_context_error(ctx, IT_ERR_IO, "%s: %s", "some/path", it_context_last_error(ctx));
        CHECK(strcmp(it_context_last_error(ctx), "some/path: first problem") == 0,
              "case 20: it_context_error formatting its own message: '%s'", it_context_last_error(ctx));
        it_context_destroy(ctx);
    }
}

/* Case 20, double destroy: a destroyed object stays marked dead among the context's latest
   destroyed ones, so destroying it again (or passing another kind of object) is a checked abort
   naming the function, never a second free. Each call runs in a child. */
static int hostile_double_destroy_child(void *arg) {
    int which = *(const int *)arg;
    it_context *ctx = it_test_context(1);
    it_model_config c = it_test_llama();
    it_model *m = NULL;
    it_model_graph mg;
    it_optimizer *opt = NULL;
    it_decoder *d = NULL;
    it_tokenizer *tok = NULL;
    it_dataset *ds = NULL;
    it_token_stream *ts = NULL;
    it_batch *b = NULL;
    it_batch_decoder *bd = NULL;
    it_generator *gen = NULL;
    it_graph *g;
    int32_t ids[64];
    int i;
    for (i = 0; i < 64; i++) ids[i] = i;
    if (it_model_create(ctx, &c, &m) != IT_OK || it_tokenizer_byte(ctx, &tok) != IT_OK) return 4;
    switch (which) {
    case 0: g = it_graph_create(ctx), it_graph_destroy(g), it_graph_destroy(g); break;
    case 1: it_model_destroy(m), it_model_destroy(m); break;
    case 2:
        if (it_optimizer_create(ctx, NULL, &opt) != IT_OK) return 4;
        it_optimizer_destroy(opt), it_optimizer_destroy(opt);
        break;
    case 3:
        if (it_decoder_create(m, 8, &d) != IT_OK) return 4;
        it_decoder_destroy(d), it_decoder_destroy(d);
        break;
    case 4: it_tokenizer_destroy(tok), it_tokenizer_destroy(tok); break;
    case 5:
        if (it_dataset_from_ids(ctx, ids, 64, 256, 2, "ids", &ds) != IT_OK) return 4;
        it_dataset_destroy(ds), it_dataset_destroy(ds);
        break;
    case 6:
        if (it_token_stream_create(ctx, tok, 0, &ts) != IT_OK) return 4;
        it_token_stream_destroy(ts), it_token_stream_destroy(ts);
        break;
    case 7: /* the graph inside a model graph destroyed by hand first */
        if (it_model_graph_create(m, IT_PURPOSE_EVAL, 1, 4, &mg) != IT_OK) return 4;
        it_graph_destroy(mg.graph), it_model_graph_destroy(&mg);
        break;
    case 8:
        if (it_batch_create(ctx, 4, &b) != IT_OK) return 4;
        it_batch_destroy(b), it_batch_destroy(b);
        break;
    case 9:
        if (it_batch_decoder_create(m, NULL, &bd) != IT_OK) return 4;
        it_batch_decoder_destroy(bd), it_batch_decoder_destroy(bd);
        break;
    case 10:
        if (it_generator_create(m, NULL, &gen) != IT_OK) return 4;
        it_generator_destroy(gen), it_generator_destroy(gen);
        break;
    default: it_model_destroy((it_model *)(void *)tok); break; /* another kind of object */
    }
    return 0; /* returned: the second destroy went unnoticed */
}
static void hostile_double_destroy(const char *tmp) {
    static const char *want[] = {
        "it_graph_destroy: this graph was already destroyed", "it_model_destroy: this model was already destroyed",
        "it_optimizer_destroy: this optimizer was already destroyed", "it_decoder_destroy: this decoder was already destroyed",
        "it_tokenizer_destroy: this tokenizer was already destroyed", "it_dataset_destroy: this dataset was already destroyed",
        "it_token_stream_destroy: this token stream was already destroyed",
        "it_graph_destroy: this graph was already destroyed", "it_batch_destroy: this batch was already destroyed",
        "it_batch_decoder_destroy: this batch decoder was already destroyed",
        "it_generator_destroy: this generator was already destroyed", "it_model_destroy: the pointer is a tokenizer, not a model"};
    char err[600];
    int i, got;
    for (i = 0; i < (int)(sizeof want / sizeof want[0]); i++) {
        snprintf(err, sizeof err, "%s/double_%d.err", tmp, i);
        got = hostile_run_child(10, err, hostile_double_destroy_child, &i);
        CHECK(got == 128 + SIGABRT && hostile_file_contains(err, want[i]),
              "case 20: double destroy %d: status %d (want a checked abort saying '%s')", i, got, want[i]);
    }
    {   /* the kept structs are bounded: a thousand destroyed streams keep at most IT__RETIRED */
        it_context *ctx = it_test_context(1);
        it_tokenizer *tok;
        it_token_stream *ts;
        int kept = 0;
        CHECK(it_tokenizer_byte(ctx, &tok) == IT_OK, "case 20: tokenizer");
        for (i = 0; i < 1000; i++) {
            if (it_token_stream_create(ctx, tok, 0, &ts) != IT_OK) break;
            it_token_stream_destroy(ts);
        }
        for (i = 0; i < IT__RETIRED; i++) kept += ctx->retired[i] != NULL;
        CHECK(kept == IT__RETIRED && ctx->n_retired == 1000, "case 20: %d structs kept after 1000 destroys (want %d)", kept,
              IT__RETIRED);
        it_context_destroy(ctx);
    }
}

/* Case 19: sizes. An element count that wraps is a checked abort naming the tensor; a model whose
   blocks cannot be allocated is an IT_ERR_OUT_OF_MEMORY from it_graph_plan (it_graph_backward used
   to abort); a parameter count past the address space is refused by the config check. */
static int hostile_wrapping_input_child(void *arg) {
    it_context *ctx = it_test_context(1);
    it_graph *g = it_graph_create(ctx);
    (void)arg;
    it_input(g, "huge", IT_F32, 4, (int[]){65536, 65536, 65536, 65536});
    return 0; /* returned: the count wrapped to 0 unnoticed */
}
static int hostile_huge_model_child(void *arg) {
    it_context *ctx = it_test_context(1);
    it_model_config c = it_test_llama();
    it_model *m = NULL;
    it_model_graph mg;
    int which = *(const int *)arg;
    it_result r;
    if (which == 0) { /* vocab 2147483647 x dim 4096: 70 TB of weights and gradients */
        c.vocab_size = 2147483647;
        c.dim = 4096;
        c.n_heads = 32;
        c.n_kv_heads = 32;
    } else { /* a 1e9-wide MLP: 6 TB */
        c.ffn_dim = 1000000000;
    }
    c.n_layers = 1;
    if ((r = it_model_create(ctx, &c, &m)) != IT_OK) return 3;
    r = it_model_graph_create(m, IT_PURPOSE_TRAIN, 2, 8, &mg);
    if (r != IT_ERR_OUT_OF_MEMORY || !strstr(it_context_last_error(ctx), "cannot allocate")) {
        fprintf(stderr, "plan: %d '%s'\n", (int)r, it_context_last_error(ctx));
        return 2;
    }
    return it_model_init(m, 1) == IT_ERR_OUT_OF_MEMORY ? 0 : 4;
}
static void hostile_sizes(const char *tmp) {
    char err[600];
    it_model_config c = it_test_llama();
    int got, i;
    snprintf(err, sizeof err, "%s/wrap.err", tmp);
    got = hostile_run_child(10, err, hostile_wrapping_input_child, NULL);
    CHECK(got == 128 + SIGABRT && hostile_file_contains(err, "'huge'") && hostile_file_contains(err, "overflows"),
          "case 19: it_input with 65536^4 elements: status %d (want a checked abort naming the tensor)", got);
    for (i = 0; i < 2; i++) {
        snprintf(err, sizeof err, "%s/huge_%d.err", tmp, i);
        got = hostile_run_child(30, err, hostile_huge_model_child, &i);
        CHECK(got == 0, "case 19: %s: status %d (want IT_ERR_OUT_OF_MEMORY from plan and init, no abort)",
              i == 0 ? "vocab 2147483647" : "ffn 1e9", got);
    }
    c.dim = 1000000000;
    c.n_heads = 2;
    c.n_kv_heads = 2;
    CHECK(it_model_config_check(NULL, &c) == IT_ERR_INVALID_ARGUMENT, "case 19: dim 1e9 passes the config check");
}

static void hostile_hangs_and_ub(const char *tmp) {
    hostile_fifos(tmp);
    hostile_zero_rng(tmp);
    hostile_deep_config(tmp);
    hostile_null_contract(tmp);
    hostile_double_destroy(tmp);
    hostile_sizes(tmp);
}

/* ---- issue 18: typed id lists, .npy targets, model-directory files that are FIFOs -------------- */
static void hostile_ids_and_npy(const char *tmp) {
    static const struct { const char *text; const char *fragment; } bad[] = {
        {"", "empty"},          {"1,,2", "item 2 ('')"},  {",1", "item 1 ('')"},    {"1,", "item 2 ('')"},
        {"-1", "item 1 ('-1')"}, {"+3", "item 1"},         {" 1", "item 1"},         {"1 ,2", "item 1 ('1 ')"},
        {"0x1", "item 1"},       {"1e3", "item 1"},        {"100", "outside the vocabulary [0, 100)"},
        {"99999999999999999999999999999", "outside"},
    };
    it_context *ctx = it_test_context(1);
    int32_t *ids;
    size_t n, i, size;
    char path[512];
    unsigned char *file;
    float data[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
    int64_t shape[2] = {2, 3};
    CHECK(it_ids_parse(ctx, "0,99,7", 100, &ids, &n) == IT_OK && n == 3 && ids[0] == 0 && ids[1] == 99 && ids[2] == 7,
          "ids: a good list");
    it_ids_free(ctx, ids);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ids = (int32_t *)1;
        CHECK(it_ids_parse(ctx, bad[i].text, 100, &ids, &n) == IT_ERR_INVALID_ARGUMENT && ids == NULL &&
                  strstr(it_context_last_error(ctx), bad[i].fragment),
              "ids '%s': %s (want '%s')", bad[i].text, it_context_last_error(ctx), bad[i].fragment);
    }
    /* .npy: the exact v1.0 layout numpy writes, a directory refused, a file replaced whole */
    snprintf(path, sizeof path, "%s/a.npy", tmp);
    CHECK(it_npy_write_f32(ctx, path, data, 2, shape) == IT_OK, "npy write: %s", it_context_last_error(ctx));
    file = it_test_read_file(path, &size);
    /* 10 bytes of preamble + the dict + '\n' padded to 128 (a multiple of 64, as numpy pads) */
    CHECK(file && size == 128 + 24 && memcmp(file, "\x93NUMPY\x01\x00\x76\x00", 10) == 0 &&
              memcmp(file + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 59) == 0 && file[69] == ' ' &&
              file[127] == '\n' && file[128] == 0x00 && file[131] == 0x3F,
          "npy layout (size %zu)", size);
    if (file && size == 152) {
        float back[6];
        int same = 1;
        for (i = 0; i < 6; i++) {
            uint32_t u = (uint32_t)file[128 + 4 * i] | (uint32_t)file[129 + 4 * i] << 8 | (uint32_t)file[130 + 4 * i] << 16 |
                         (uint32_t)file[131 + 4 * i] << 24;
            memcpy(&back[i], &u, 4);
            same &= memcmp(&back[i], &data[i], 4) == 0;
        }
        CHECK(same, "npy data is the floats, little-endian");
    }
    free(file);
    shape[0] = 6;
    CHECK(it_npy_write_f32(ctx, path, data, 1, shape) == IT_OK, "npy rewrite");
    file = it_test_read_file(path, &size);
    CHECK(file && size == 128 + 24 && memcmp(file + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 57) == 0,
          "1-D npy shape");
    free(file);
    CHECK(it_npy_write_f32(ctx, tmp, data, 1, shape) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "is a directory"),
          "npy over a directory: %s", it_context_last_error(ctx));
    CHECK(it_npy_write_f32(ctx, path, data, 0, shape) == IT_ERR_INVALID_ARGUMENT, "npy with 0 dimensions");
    shape[0] = -1;
    CHECK(it_npy_write_f32(ctx, path, data, 1, shape) == IT_ERR_INVALID_ARGUMENT, "npy with a negative dimension");
    /* generation_config.json, tokenizer_config.json and chat_template.jinja as FIFOs: refused at once */
    {
        char dir[512], fifo[600];
        it_generation_config g;
        it_chat_template t;
        snprintf(dir, sizeof dir, "%s/fifo_model", tmp);
        mkdir(dir, 0755);
        snprintf(fifo, sizeof fifo, "%s/generation_config.json", dir);
        CHECK(mkfifo(fifo, 0600) == 0 && it_generation_config_read(ctx, dir, &g) < 0 &&
                  strstr(it_context_last_error(ctx), "is a FIFO"), "generation_config.json FIFO: %s", it_context_last_error(ctx));
        snprintf(fifo, sizeof fifo, "%s/tokenizer_config.json", dir);
        CHECK(mkfifo(fifo, 0600) == 0 && it_chat_template_load(ctx, dir, NULL, &t) < 0 &&
                  strstr(it_context_last_error(ctx), "is a FIFO"), "tokenizer_config.json FIFO: %s", it_context_last_error(ctx));
        remove(fifo);
        snprintf(fifo, sizeof fifo, "%s/chat_template.jinja", dir);
        CHECK(mkfifo(fifo, 0600) == 0 && it_chat_template_load(ctx, dir, NULL, &t) < 0 &&
                  strstr(it_context_last_error(ctx), "is a FIFO"), "chat_template.jinja FIFO: %s", it_context_last_error(ctx));
    }
    it_context_destroy(ctx);
}

int main(void) {
    char tmp[] = "/tmp/it_hostile_XXXXXX";
    if (!mkdtemp(tmp)) return 2;
    hostile_data_loss(tmp);
    hostile_silently_wrong(tmp);
    hostile_hangs_and_ub(tmp);
    hostile_ids_and_npy(tmp);
    (void)hostile_run_child;
    (void)hostile_file_contains;
    it_test_remove_tree(tmp);
    return it_test_finish();
}
