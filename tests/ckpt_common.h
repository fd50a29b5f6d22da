/* Shared helpers of the checkpoint tests: small models with trained-looking optimizer state and a
   trainer state with every field set (contexts, configs and file helpers come from it_test.h). */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"
#include <sys/wait.h>
#include <signal.h>

typedef struct ck_setup {
    it_context *ctx;
    it_model *m;
    it_optimizer *opt;
} ck_setup;
/* A model with seeded weights and (with kind != 0) an optimizer after `steps` updates from random
   gradients, so every state tensor is non-trivial. */
static ck_setup ck_make(const it_model_config *c, uint64_t seed, it_optimizer_kind kind, int steps) {
    ck_setup s;
    it_rng rng;
    size_t i, n;
    int k;
    memset(&s, 0, sizeof s);
    s.ctx = it_test_context(1);
    if (it_model_create(s.ctx, c, &s.m) != IT_OK || it_model_init(s.m, seed) != IT_OK) {
        fprintf(stderr, "model: %s\n", it_context_last_error(s.ctx));
        exit(2);
    }
    if (kind) {
        it_optimizer_desc d;
        memset(&d, 0, sizeof d);
        d.kind = kind;
        d.weight_decay = 0.1f;
        d.momentum = kind == IT_OPTIMIZER_SGD ? 0.9f : 0.0f;
        if (it_optimizer_create(s.ctx, &d, &s.opt) != IT_OK) exit(2);
        it_rng_seed(&rng, seed + 99);
        n = it_param_numel(s.ctx);
        for (k = 0; k < steps; k++) {
            for (i = 0; i < n; i++) it_grad_block(s.ctx)[i] = it_rng_normal(&rng);
            it_optimizer_step(s.opt, 1e-3f, 1.0f, NULL);
        }
    }
    return s;
}
static void ck_free(ck_setup *s) {
    if (s->opt) it_optimizer_destroy(s->opt);
    it_model_destroy(s->m);
    it_context_destroy(s->ctx);
    memset(s, 0, sizeof *s);
}
static __attribute__((unused)) it_trainer_state ck_ts(void) {
    it_trainer_state ts;
    memset(&ts, 0, sizeof ts);
    ts.step = 20;
    ts.tokens_seen = 123456789012345LL;
    ts.seed = 18446744073709551557ULL;
    ts.batch = 4;
    ts.seq = 16;
    ts.accum_steps = 2;
    ts.schedule.kind = IT_SCHEDULE_COSINE;
    ts.schedule.base_lr = 3e-4f;
    ts.schedule.min_lr_ratio = 0.1f;
    ts.schedule.decay_frac = 0.2f;
    ts.schedule.warmup_steps = 5;
    ts.schedule.total_steps = 40;
    it_rng_seed(&ts.data_rng, 7);
    it_rng_seed(&ts.rng, 0xFFFFFFFFFFFFFFFFULL);
    ts.best_val_loss = 2.345678f;
    return ts;
}
/* s with the first occurrence of `from` replaced by `to`, malloc'd (a test stops when it is missing). */
static __attribute__((unused)) char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    char *out;
    if (!at) {
        fprintf(stderr, "replace: '%s' not found\n", from);
        exit(2);
    }
    out = (char *)malloc(strlen(s) + strlen(to) + 1);
    memcpy(out, s, (size_t)(at - s));
    strcpy(out + (at - s), to);
    strcat(out, at + strlen(from));
    return out;
}
