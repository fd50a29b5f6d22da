/* Data-parallel training through irontensor_mpi.h, run under mpirun with 2 (or more) ranks.
   Every rank builds two contexts on the same data: a reference of one process with the whole
   batch B, and a data-parallel one with B / N rows (its own rows of the same batch) whose
   gradients are summed across ranks. The losses and weights must agree (to 1e-6 relative: only
   the summation order differs) for Lion and AdamW, with accumulation and a clip that is active;
   ZeRO-1 must equal plain data-parallel, with its buckets reduced to their owners during the
   backward and without (a communicator with no reduce_start: one reduce-scatter after it); every
   rank must hold bit-identical weights; the all-reduce buckets must start during the backward;
   ZeRO-1's gathered state must equal plain data-parallel's. Built with mpicc by tests/mpi/mpi.mk. */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#define IRONTENSOR_MPI_IMPLEMENTATION
#include "../../irontensor_mpi.h"
#include "../it_test.h"

#define B 4  /* global batch rows per micro-batch */
#define T 8  /* sequence */
#define STEPS 4

static it_comm *comm;

typedef struct run {
    it_context *ctx;
    it_model *model;
    it_model_graph g;
    it_optimizer *opt;
    float losses[STEPS], norms[STEPS];
} run;

/* tokens for step s, micro-batch k, global row r: a fixed function of (s, k, r, t) */
static int32_t token(int s, int k, int r, int t) {
    uint64_t h = (uint64_t)s * 1000003u + (uint64_t)k * 10007u + (uint64_t)r * 101u + (uint64_t)t;
    h ^= h >> 13, h *= 0x9E3779B97F4A7C15ull, h ^= h >> 29;
    return (int32_t)(h % 64u);
}

static void run_create(run *x, it_comm *c, int rows, it_optimizer_kind kind, int zero, float clip, size_t bucket) {
    it_context_desc d;
    it_model_config cfg = it_test_llama();
    it_optimizer_desc od;
    memset(&d, 0, sizeof d);
    d.n_threads = 1;
    d.logger.log = it_test_quiet_log;
    d.logger.min_level = IT_LOG_INFO;
    d.comm = c;
    d.grad_bucket_floats = bucket;
    if (it_context_create(&d, &x->ctx) != IT_OK) exit(2);
    memset(&od, 0, sizeof od);
    od.kind = kind;
    od.weight_decay = 0.1f;
    od.clip_norm = clip;
    od.zero_stage = zero;
    if (it_model_create(x->ctx, &cfg, &x->model) != IT_OK ||
        it_model_graph_create(x->model, IT_PURPOSE_TRAIN, rows, T, &x->g) != IT_OK ||
        it_optimizer_create(x->ctx, &od, &x->opt) != IT_OK) {
        fprintf(stderr, "setup: %s\n", it_context_last_error(x->ctx));
        exit(2);
    }
    it_model_init(x->model, 7);
}

/* STEPS optimizer steps of `accum` micro-batches; this run holds rows [row0, row0 + rows) of each. */
static void run_train(run *x, int row0, int rows, int accum, float lr) {
    int s, k, r, t;
    for (s = 0; s < STEPS; s++) {
        float loss = 0.0f;
        it_zero_grads(x->ctx);
        for (k = 0; k < accum; k++) {
            int32_t *in = it_data_i32(x->g.tokens), *tg = it_data_i32(x->g.targets);
            for (r = 0; r < rows; r++)
                for (t = 0; t < T; t++) {
                    in[r * T + t] = token(s, k, row0 + r, t);
                    tg[r * T + t] = token(s, k, row0 + r, t + 1);
                }
            if (k == accum - 1) CHECK(it_grad_sync_arm(x->g.graph) == IT_OK, "arm: %s", it_context_last_error(x->ctx));
            CHECK(it_graph_run(x->g.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "run: %s", it_context_last_error(x->ctx));
            loss += it_data(x->g.loss)[0];
        }
        CHECK(it_optimizer_step(x->opt, lr, 1.0f / (float)accum, &x->norms[s]) == IT_OK, "step: %s",
              it_context_last_error(x->ctx));
        loss /= (float)accum;
        it_comm_all_reduce_sum(it_context_comm(x->ctx), &loss, 1);
        x->losses[s] = loss / (float)it_context_comm(x->ctx)->size;
    }
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, w = 0;
    size_t i;
    for (i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), w += (double)b[i] * b[i];
    return sqrt(d / (w > 0 ? w : 1));
}

/* The data-parallel run against the one-process reference, and its weights identical on every rank. */
static void check_case(const char *name, it_optimizer_kind kind, int accum, float clip, int zero) {
    run ref, dp;
    int N = comm->size, rows = B / N, s;
    size_t n;
    float *rank0;
    run_create(&ref, NULL, B, kind, 0, clip, 0);
    run_create(&dp, comm, rows, kind, zero, clip, 0);
    run_train(&ref, 0, B, accum, 3e-3f);
    run_train(&dp, comm->rank * rows, rows, accum, 3e-3f);
    for (s = 0; s < STEPS; s++)
        CHECK(it_test_close(dp.losses[s], ref.losses[s], 1e-6, 0), "%s: step %d loss %.9g, one process %.9g", name, s + 1,
              dp.losses[s], ref.losses[s]);
    for (s = 0; s < STEPS; s++)
        CHECK(it_test_close(dp.norms[s], ref.norms[s], 1e-5, 0) && (clip == 0 || ref.norms[s] > clip),
              "%s: step %d global gradient norm %.9g, one process %.9g (the clip %g must be active)", name, s + 1,
              dp.norms[s], ref.norms[s], clip);
    n = it_param_numel(dp.ctx);
    CHECK(rel_diff(it_param_block(dp.ctx), it_param_block(ref.ctx), n) < 1e-6, "%s: weights differ from one process by %.3g",
          name, rel_diff(it_param_block(dp.ctx), it_param_block(ref.ctx), n));
    rank0 = (float *)malloc(n * sizeof(float));
    memcpy(rank0, it_param_block(dp.ctx), n * sizeof(float));
    it_comm_broadcast(comm, rank0, n * sizeof(float), 0);
    CHECK(memcmp(rank0, it_param_block(dp.ctx), n * sizeof(float)) == 0, "%s: rank %d's weights are not bit-identical to rank 0's",
          name, comm->rank);
    if (comm->rank == 0)
        printf("%s: %d ranks x batch %d vs 1 x %d: loss step %d %.6f vs %.6f, weights relative difference %.2e\n", name, N,
               rows, B, STEPS, dp.losses[STEPS - 1], ref.losses[STEPS - 1],
               rel_diff(it_param_block(dp.ctx), it_param_block(ref.ctx), n));
    free(rank0);
    it_context_destroy(ref.ctx);
    it_context_destroy(dp.ctx);
}

/* ZeRO-1 and plain data-parallel: the same weights, and the same optimizer state once gathered;
   the sharded state is 1/N of it. zc: ZeRO-1's communicator (the MPI one, or a copy without
   reduce_start). */
static void check_zero_equals_plain(it_optimizer_kind kind, it_comm *zc) {
    run plain, zero;
    int N = comm->size, rows = B / N;
    size_t n;
    run_create(&plain, comm, rows, kind, 0, 1.0f, 0);
    run_create(&zero, zc, rows, kind, 1, 1.0f, zc->reduce_start ? 1024 : 0);
    CHECK(zero.opt->state_numel * (size_t)N <= plain.opt->state_numel + (size_t)N * 16 * 2,
          "ZeRO-1 state %zu floats on this rank, plain %zu: not 1/%d", zero.opt->state_numel, plain.opt->state_numel, N);
    run_train(&plain, comm->rank * rows, rows, 2, 3e-3f);
    run_train(&zero, comm->rank * rows, rows, 2, 3e-3f);
    n = it_param_numel(plain.ctx);
    CHECK(rel_diff(it_param_block(zero.ctx), it_param_block(plain.ctx), n) < 1e-6, "%s ZeRO-1 vs plain: weights differ by %.3g",
          it_optimizer_name(kind), rel_diff(it_param_block(zero.ctx), it_param_block(plain.ctx), n));
    CHECK(it_checkpoint_save(zero.ctx, zero.model, zero.opt, NULL, "/nonexistent-dir/x", NULL) == IT_ERR_STATE &&
              strstr(it_context_last_error(zero.ctx), "sharded"),
          "a save of sharded state is refused: %s", it_context_last_error(zero.ctx));
    CHECK(it_optimizer_gather_state(zero.opt) == IT_OK, "gather: %s", it_context_last_error(zero.ctx));
    CHECK(zero.opt->state_numel == plain.opt->state_numel, "gathered state has %zu floats, want %zu", zero.opt->state_numel,
          plain.opt->state_numel);
    CHECK(rel_diff(zero.opt->state, plain.opt->state, plain.opt->state_numel) < 1e-6, "%s gathered state differs by %.3g",
          it_optimizer_name(kind), rel_diff(zero.opt->state, plain.opt->state, plain.opt->state_numel));
    CHECK(it_optimizer_shard_state(zero.opt) == IT_OK && zero.opt->state_numel < plain.opt->state_numel, "sharded again");
    run_train(&plain, comm->rank * rows, rows, 1, 1e-3f); /* and they go on agreeing after the round trip */
    run_train(&zero, comm->rank * rows, rows, 1, 1e-3f);
    CHECK(rel_diff(it_param_block(zero.ctx), it_param_block(plain.ctx), n) < 1e-6, "after gather + shard: weights differ by %.3g",
          rel_diff(it_param_block(zero.ctx), it_param_block(plain.ctx), n));
    if (comm->rank == 0)
        printf("zero-1 %s (%s): state %zu floats per rank vs %zu, weights relative difference %.2e\n", it_optimizer_name(kind),
               zc->reduce_start ? "buckets reduced during the backward" : "one reduce-scatter after it", zero.opt->state_numel,
               plain.opt->state_numel, rel_diff(it_param_block(zero.ctx), it_param_block(plain.ctx), n));
    it_context_destroy(plain.ctx);
    it_context_destroy(zero.ctx);
}

/* Small buckets: several of them, every one started by the runner during the armed run (none
   left for the wait), the first of them well before the backward's end. With ZeRO-1 each bucket
   lies inside its owner's part, and together they tile the block. */
static void check_overlap(int zero) {
    run x;
    it__grad_sync *gs;
    int i, started = 0, last_position, earliest = 1 << 30, owned = 1;
    size_t covered = 0;
    run_create(&x, comm, B / comm->size, IT_OPTIMIZER_ADAMW, zero, 0.0f, 1024);
    it_zero_grads(x.ctx);
    memset(it_data_i32(x.g.tokens), 0, sizeof(int32_t) * (B / comm->size) * T);
    memset(it_data_i32(x.g.targets), 0, sizeof(int32_t) * (B / comm->size) * T);
    CHECK(it_grad_sync_arm(x.g.graph) == IT_OK, "arm");
    CHECK(it_graph_run(x.g.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "run");
    gs = &x.ctx->gsync;
    last_position = x.g.graph->n_nodes + x.g.graph->n_sched - 1;
    for (i = 0; i < gs->n_buckets; i++) {
        size_t pb, pe;
        started += gs->buckets[i].started != 0;
        if (gs->buckets[i].ready_at < earliest) earliest = gs->buckets[i].ready_at;
        it_comm_part(it_grad_numel(x.ctx), comm->size, gs->buckets[i].owner, &pb, &pe);
        owned &= !zero || (gs->buckets[i].begin >= pb && gs->buckets[i].end <= pe);
        covered += gs->buckets[i].end - gs->buckets[i].begin;
    }
    CHECK(owned && covered == it_grad_numel(x.ctx), "zero %d: buckets inside their owner's part (%d), covering %zu of %zu floats",
          zero, owned, covered, it_grad_numel(x.ctx));
    CHECK(gs->n_buckets > 3, "%d buckets of 1024 floats", gs->n_buckets);
    CHECK(started == gs->n_buckets, "%d of %d buckets started during the run", started, gs->n_buckets);
    CHECK(earliest < last_position - 5, "the first bucket was final at position %d of %d", earliest, last_position);
    CHECK(it_grad_sync_wait(x.ctx) == IT_OK, "wait");
    CHECK(it_grad_sync_get_stats(x.ctx).bytes >= (double)it_grad_numel(x.ctx) * 4, "bytes counted");
    CHECK(it_optimizer_step(x.opt, 1e-3f, 1.0f, NULL) == IT_OK, "step after the wait: %s", it_context_last_error(x.ctx));
    if (comm->rank == 0)
        printf("overlap%s: %d buckets, the first final at run position %d of %d\n", zero ? " (ZeRO-1, reduced to owners)" : "",
               gs->n_buckets, earliest, last_position);
    it_context_destroy(x.ctx);
}

int main(int argc, char **argv) {
    it_mpi_desc md = {30.0};
    int code;
    if (it_mpi_init(&argc, &argv, &md, &comm) != IT_OK) return 2;
    if (B % comm->size) {
        fprintf(stderr, "test_dp: run with 1, 2 or 4 ranks (batch %d)\n", B);
        it_comm_abort(comm, 2);
    }
    check_case("lion", IT_OPTIMIZER_LION, 1, 0.0f, 0);
    check_case("adamw accum 2 clip 0.05", IT_OPTIMIZER_ADAMW, 2, 0.05f, 0);
    check_case("lion accum 3 clip 0.05", IT_OPTIMIZER_LION, 3, 0.05f, 0);
    check_case("adamw zero-1 accum 2 clip 0.05", IT_OPTIMIZER_ADAMW, 2, 0.05f, 1);
    if (comm->size > 1) { /* one rank has nothing to shard or to overlap */
        it_comm no_reduce = *comm; /* the same ranks, without reduce_start */
        no_reduce.reduce_start = NULL;
        check_zero_equals_plain(IT_OPTIMIZER_ADAMW, comm);
        check_zero_equals_plain(IT_OPTIMIZER_LION, comm);
        check_zero_equals_plain(IT_OPTIMIZER_ADAMW, &no_reduce);
        check_overlap(0);
        check_overlap(1);
    }
    code = it_test_failed ? 1 : 0;
    {   /* one verdict for the job: the sum of every rank's failures */
        float failed = (float)it_test_failed;
        it_comm_all_reduce_sum(comm, &failed, 1);
        if (comm->rank == 0) code = it_test_finish();
        else code = failed > 0;
    }
    it_mpi_finalize(comm);
    return code;
}
