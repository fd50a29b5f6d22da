/* test_batch_alloc.c - batched generation under a failing allocator: the batch decoder, a batch
   and the generator made, a request run to its end, with the n-th allocation after the model
   refused for every n until the run succeeds; each attempt ends in a clean error or a complete
   run (never a crash), and every byte comes back when the context goes (live == 0, no direct
   malloc). */
#include "it_count_alloc.h"
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#undef malloc
#undef calloc
#undef realloc
#include "it_test.h"

/* 0: the run completed; 1: it failed cleanly with an out-of-memory error */
static int attempt(long fail_after_model, long *allocs_used) {
    it_context_desc d;
    it_context *ctx;
    it_model_config cfg = it_test_llama();
    it_model *m;
    it_generator_desc gd;
    it_generator *g = NULL;
    it_batch_decoder *bd = NULL;
    it_batch *b = NULL;
    it_request rq;
    int32_t prompt[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int ids[3], failed = 0, step, finished = 0;
    memset(&d, 0, sizeof d);
    d.n_threads = 1;
    d.logger.log = it_test_quiet_log;
    d.logger.min_level = IT_LOG_INFO;
    d.allocator.alloc = count_alloc, d.allocator.free = count_free, d.allocator.user = &g_count;
    if (it_context_create(&d, &ctx) != IT_OK || it_model_create(ctx, &cfg, &m) != IT_OK || it_model_init(m, 3) != IT_OK ||
        it_params_alloc(ctx) != IT_OK)
        exit(2);
    g_count.fail_at = fail_after_model ? g_count.allocs + fail_after_model : 0;
    memset(&gd, 0, sizeof gd);
    gd.cache.max_seqs = 4, gd.cache.block_size = 4;
    failed |= it_batch_decoder_create(m, &gd.cache, &bd) != IT_OK;
    failed |= it_batch_create(ctx, 8, &b) != IT_OK;
    if (it_generator_create(m, &gd, &g) != IT_OK) failed = 1;
    else {
        memset(&rq, 0, sizeof rq);
        rq.prompt = prompt, rq.n_prompt = 9, rq.max_tokens = 5, rq.n = 3;
        if (it_generator_submit(g, &rq, ids) != IT_OK) failed = 1;
        for (step = 0; !failed && step < 50 && it_generator_pending(g); step++) {
            const it_generation_event *ev;
            int n, e;
            if (it_generator_step(g, &ev, &n) != IT_OK) failed = 1;
            for (e = 0; e < n; e++) finished += ev[e].finish != IT_FINISH_NONE;
        }
        if (!failed) CHECK(finished == 3, "a complete run ends all three samples (%d)", finished);
    }
    if (failed) CHECK(strstr(it_context_last_error(ctx), "memory") || strstr(it_context_last_error(ctx), "cannot allocate"), "fail at %ld: an out-of-memory error, got '%s'",
                      fail_after_model, it_context_last_error(ctx));
    *allocs_used = g_count.allocs;
    it_context_destroy(ctx); /* the generator, decoder and batch were never destroyed by hand */
    CHECK(g_count.live == 0, "fail at %ld: %zu bytes still live after the context", fail_after_model, g_count.live);
    memset(&g_count, 0, sizeof g_count);
    return failed;
}

int main(void) {
    long n, used;
    int failures = 0, complete = 0;
    count_alloc_trap_unused();
    for (n = 1; n < 200 && !complete; n++) {
        int f = attempt(n, &used);
        failures += f;
        complete = !f;
    }
    CHECK(complete && failures >= 5, "every allocation of the run refused in turn (%d clean failures before a complete run)", failures);
    CHECK(g_raw_allocs == 0, "%ld direct malloc / calloc / realloc calls in the library", g_raw_allocs);
    return it_test_finish();
}
