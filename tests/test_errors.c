/* Bad input. Programmer errors (shape mismatches while building a graph) abort with the caller's
   file and line and both shapes: checked in a child process. Environmental errors (ids out of
   range, allocation failure, wrong call order) return it_result with a message, and never crash. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn in a child with stderr captured; returns what it printed, and whether it aborted. */
static int run_child(void (*fn)(void), char *out, size_t cap) {
    int fds[2], status = 0;
    ssize_t got, total = 0;
    pid_t pid;
    if (pipe(fds) != 0) return 0;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    while ((got = read(fds[0], out + total, cap - 1 - (size_t)total)) > 0) total += got;
    out[total] = 0;
    close(fds[0]);
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

enum { BAD_MATMUL_LINE = __LINE__ + 9 }; /* the it_matmul call below */
static void bad_matmul(void) {
    it_context *ctx;
    it_graph *g;
    it_tensor *a, *b;
    it_context_create(NULL, &ctx);
    g = it_graph_create(ctx);
    a = it_input(g, "a", IT_F32, 2, (int[]){3, 5});
    b = it_input(g, "b", IT_F32, 2, (int[]){4, 7});
    it_matmul(g, a, b, 0, 0);
}
static void bad_add(void) {
    it_context *ctx;
    it_graph *g;
    it_context_create(NULL, &ctx);
    g = it_graph_create(ctx);
    it_add(g, it_input(g, "a", IT_F32, 2, (int[]){2, 3}), it_input(g, "b", IT_F32, 1, (int[]){4}));
}
static void bad_attention(void) {
    it_context *ctx;
    it_graph *g;
    it_context_create(NULL, &ctx);
    g = it_graph_create(ctx);
    it_attention(g, it_input(g, "q", IT_F32, 4, (int[]){1, 5, 4, 8}), it_input(g, "k", IT_F32, 4, (int[]){1, 5, 3, 8}),
                 it_input(g, "v", IT_F32, 4, (int[]){1, 5, 3, 8}));
}
static void late_param(void) {
    it_context *ctx;
    it_context_create(NULL, &ctx);
    it_param(ctx, "w", 1, (int[]){4});
    it_params_alloc(ctx);
    it_param(ctx, "too_late", 1, (int[]){4});
}

/* An allocator that refuses anything above a limit, to exercise out-of-memory paths. */
static size_t alloc_limit = (size_t)-1;
static void *limited_alloc(size_t size, void *user) {
    (void)user;
    return size > alloc_limit ? NULL : malloc(size);
}
static void limited_free(void *p, void *user) {
    (void)user;
    free(p);
}
static char logged[1024];
static void capture_log(it_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    snprintf(logged, sizeof logged, "%s", msg);
}

static void free_backend(it_backend *be) { free(be); }
/* A backend that lacks kernels: it_graph_plan refuses a graph that needs one before allocating
   anything, naming the op, the direction and the backend; graphs it can run plan and run. */
static void partial_backend(void) {
    it_context_desc desc;
    it_context *ctx;
    it_backend *partial;
    it_graph *g;
    it_tensor *w, *x, *y;
    it_result r;
    memset(&desc, 0, sizeof desc);
    desc.logger.log = capture_log;
    it_context_create(&desc, &ctx);
    partial = (it_backend *)malloc(sizeof *partial);
    *partial = *it_context_backend(ctx); /* the CPU backend's table, minus two entries */
    partial->name = "partial";
    partial->destroy = free_backend;
    it_backend_set_op(partial, IT_OP_SOFTMAX, partial->forward[IT_OP_SOFTMAX], NULL); /* forward only */
    it_backend_set_op(partial, IT_OP_GELU, NULL, NULL);
    it_context_set_backend(ctx, partial);
    w = it_param(ctx, "w", 2, (int[]){4, 3});
    it_param_init_normal(ctx, 0.5f, 1);

    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){2, 3});
    y = it_softmax(g, it_matmul(g, x, w, 0, 1));
    it_graph_backward(g, it_mean(g, y));
    r = it_graph_plan(g);
    CHECK(r == IT_ERR_UNSUPPORTED, "backward of softmax missing -> IT_ERR_UNSUPPORTED: %s", it_result_string(r));
    CHECK(strstr(it_context_last_error(ctx), "'partial'") && strstr(it_context_last_error(ctx), "backward") &&
              strstr(it_context_last_error(ctx), "'softmax'"),
          "message names the backend, the direction and the op: %s", it_context_last_error(ctx));
    CHECK(it_graph_stats(g).arena_bytes == 0 && it_graph_run(g, IT_RUN_FORWARD) == IT_ERR_STATE,
          "nothing planned, so nothing runs");

    g = it_graph_create(ctx); /* forward only: the softmax forward is there */
    x = it_input(g, "x", IT_F32, 2, (int[]){2, 3});
    y = it_softmax(g, it_matmul(g, x, w, 0, 1));
    it_keep(y);
    CHECK(it_graph_plan(g) == IT_OK && it_graph_run(g, IT_RUN_FORWARD) == IT_OK, "a forward-only softmax runs: %s",
          it_context_last_error(ctx));
    CHECK(fabsf(it_data(y)[0] + it_data(y)[1] + it_data(y)[2] + it_data(y)[3] - 1.0f) < 1e-5f, "and computes");

    {
        it_graph *g2 = it_graph_create(ctx);
        it_tensor *x2 = it_input(g2, "x", IT_F32, 1, (int[]){5});
        it_keep(it_gelu(g2, x2));
        r = it_graph_plan(g2);
        CHECK(r == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(ctx), "forward kernel for op 'gelu'"),
              "forward of gelu missing: %s", it_context_last_error(ctx));
    }

    it_context_set_backend(ctx, NULL); /* back to the CPU: the graph planned for 'partial' must not run */
    r = it_graph_run(g, IT_RUN_FORWARD);
    CHECK(r == IT_ERR_STATE && strstr(it_context_last_error(ctx), "another backend"),
          "run after the backend changed: %s", it_context_last_error(ctx));
    it_context_destroy(ctx);
}

int main(void) {
    char out[4096], expect[128];
    it_context *ctx;
    it_graph *g;
    it_tensor *table, *ids, *y, *logits, *targets;
    it_result r;

    CHECK(run_child(bad_matmul, out, sizeof out), "matmul shape mismatch aborts");
    snprintf(expect, sizeof expect, "test_errors.c:%d", (int)BAD_MATMUL_LINE);
    CHECK(strstr(out, expect) != NULL, "message names the caller's file and line (%s): %s", expect, out);
    CHECK(strstr(out, "[3, 5]") && strstr(out, "[4, 7]"), "message shows both shapes: %s", out);
    CHECK(run_child(bad_add, out, sizeof out) && strstr(out, "[2, 3]") && strstr(out, "[4]"), "add mismatch: %s", out);
    CHECK(run_child(bad_attention, out, sizeof out) && strstr(out, "dividing"), "GQA heads not dividing: %s", out);
    CHECK(run_child(late_param, out, sizeof out) && strstr(out, "too_late"), "parameter after allocation: %s", out);

    /* environmental errors: returned, logged, described */
    {
        it_context_desc desc;
        memset(&desc, 0, sizeof desc);
        desc.logger.log = capture_log;
        it_context_create(&desc, &ctx);
    }
    table = it_param(ctx, "table", 2, (int[]){10, 4});
    g = it_graph_create(ctx);
    ids = it_input(g, "ids", IT_I32, 1, (int[]){3});
    y = it_embedding(g, table, ids);
    logits = it_matmul(g, y, table, 0, 1);
    targets = it_input(g, "targets", IT_I32, 1, (int[]){3});
    it_graph_backward(g, it_cross_entropy(g, logits, targets, -100));
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_ERR_STATE, "run before plan");
    CHECK(strstr(it_context_last_error(ctx), "plan") != NULL, "message: %s", it_context_last_error(ctx));
    CHECK(it_graph_plan(g) == IT_OK, "plan");
    CHECK(it_graph_plan(g) == IT_ERR_STATE, "plan twice");
    it_param_init_normal(ctx, 0.1f, 1);
    it_data_i32(ids)[0] = 1;
    it_data_i32(ids)[1] = 10; /* out of range */
    it_data_i32(ids)[2] = 2;
    r = it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
    CHECK(r == IT_ERR_RANGE, "id 10 of vocab 10: %s", it_result_string(r));
    CHECK(strstr(it_context_last_error(ctx), "ids") && strstr(it_context_last_error(ctx), "10") &&
              strstr(it_context_last_error(ctx), "position 1"),
          "message names tensor, value, position: %s", it_context_last_error(ctx));
    CHECK(strcmp(logged, it_context_last_error(ctx)) == 0, "logger hook got the message: %s", logged);
    it_data_i32(ids)[1] = -1;
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_ERR_RANGE, "negative id");
    it_data_i32(ids)[1] = 3;
    it_data_i32(targets)[0] = 0;
    it_data_i32(targets)[1] = 11;
    it_data_i32(targets)[2] = -100; /* ignored: fine */
    CHECK(it_graph_run(g, IT_RUN_FORWARD) == IT_ERR_RANGE, "target out of range");
    CHECK(strstr(it_context_last_error(ctx), "targets") != NULL, "message: %s", it_context_last_error(ctx));
    it_data_i32(targets)[1] = 9;
    CHECK(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "valid data runs: %s", it_context_last_error(ctx));
    CHECK(it_graph_run(g, (it_run_mode)7) == IT_ERR_INVALID_ARGUMENT, "bad run mode");
    it_context_destroy(ctx);

    /* allocation failure: planning a big arena with an allocator that refuses it */
    {
        it_context_desc desc;
        memset(&desc, 0, sizeof desc);
        desc.allocator.alloc = limited_alloc;
        desc.allocator.free = limited_free;
        desc.logger.log = capture_log;
        CHECK(it_context_create(&desc, &ctx) == IT_OK, "context with custom allocator");
        g = it_graph_create(ctx);
        y = it_input(g, "x", IT_F32, 2, (int[]){1024, 1024});
        y = it_silu(g, y);
        alloc_limit = 1 << 20;
        r = it_graph_plan(g);
        CHECK(r == IT_ERR_OUT_OF_MEMORY, "plan under a 1 MB allocator: %s", it_result_string(r));
        CHECK(strstr(it_context_last_error(ctx), "bytes") != NULL, "message: %s", it_context_last_error(ctx));
        alloc_limit = (size_t)-1;
        it_context_destroy(ctx);
        desc.allocator.free = NULL;
        CHECK(it_context_create(&desc, &ctx) == IT_ERR_INVALID_ARGUMENT && ctx == NULL, "alloc hook without free");
    }
    CHECK(strcmp(it_result_string(IT_ERR_RANGE), "value out of range") == 0, "result strings");
    CHECK(strcmp(it_op_name(IT_OP_LINEAR_CROSS_ENTROPY), "linear_cross_entropy") == 0, "op names");
    CHECK(it_op_flags(IT_OP_SOFTMAX) == IT_OP_BACKWARD_READS_OUT && it_op_flags(IT_OP_INVALID) == 0 &&
              (it_op_flags(IT_OP_LINEAR_CROSS_ENTROPY) & IT_OP_LOSS_GRADS_IN_FORWARD) &&
              !(it_op_flags(IT_OP_CROSS_ENTROPY) & IT_OP_LOSS_GRADS_IN_FORWARD),
          "op flags");
    partial_backend();
    return it_test_finish();
}
