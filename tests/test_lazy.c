/* test_lazy.c - gradients and optimizer state exist only where they are needed. Generating from
   the `tiny` preset (decoder and a forward-only graph) allocates no gradient, counted by an
   allocator that records every block's size; frozen parameters (it_param_set_trainable) get no
   gradient and no optimizer state, are left bit-identical by every optimizer, and the trainable
   ones are updated exactly as in a run where everything trains; trainability changes are refused
   once they could no longer be honoured; a partly frozen model's weights round-trip through a
   checkpoint while its optimizer state is refused with IT_ERR_UNSUPPORTED. */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include "it_test.h"
#include <sys/stat.h>

/* ---- an allocator that counts: each block carries its size in a 64-byte header ---------------- */
typedef struct counter {
    size_t live, peak, n_blocks;
} counter;
#define HEADER 64
static void *counting_alloc(size_t size, void *user) {
    counter *c = (counter *)user;
    unsigned char *p = NULL;
    if (posix_memalign((void **)&p, 64, size + HEADER)) return NULL;
    memcpy(p, &size, sizeof size);
    c->live += size;
    c->n_blocks++;
    if (c->live > c->peak) c->peak = c->live;
    return p + HEADER;
}
static size_t block_size(const void *ptr) {
    size_t size;
    memcpy(&size, (const unsigned char *)ptr - HEADER, sizeof size);
    return size;
}
static void counting_free(void *ptr, void *user) {
    counter *c = (counter *)user;
    c->live -= block_size(ptr);
    c->n_blocks--;
    free((unsigned char *)ptr - HEADER);
}
static it_context *counted_context(counter *c, int n_threads) {
    it_context_desc d;
    it_context *ctx = NULL;
    memset(&d, 0, sizeof d);
    memset(c, 0, sizeof *c);
    d.n_threads = n_threads;
    d.allocator.alloc = counting_alloc;
    d.allocator.free = counting_free;
    d.allocator.user = c;
    d.logger.log = it_test_quiet_log;
    if (it_context_create(&d, &ctx) != IT_OK) {
        fprintf(stderr, "cannot create a counted context\n");
        exit(2);
    }
    return ctx;
}

static int no_parameter_has_a_gradient(it_context *ctx) {
    int i;
    for (i = 0; i < it_param_count(ctx); i++)
        if (it_grad_tensor(it_param_at(ctx, i)) || it_grad(it_param_at(ctx, i))) return 0;
    return 1;
}

/* Generation pays for the weights once: no gradient block, no gradient tensors. */
static void test_generate_allocates_no_gradients(void) {
    counter c;
    it_context *ctx = counted_context(&c, 2);
    it_model_config cfg;
    it_model *m;
    it_decoder *d;
    it_model_graph lg, tg;
    const float *logits = NULL;
    int32_t prompt[4] = {1, 7, 300, 31999}, next;
    size_t param_bytes, before;
    int i, ok = 1;
    CHECK(it_model_preset("tiny", &cfg) == IT_OK, "tiny preset");
    CHECK(it_model_create(ctx, &cfg, &m) == IT_OK && it_model_init(m, 5) == IT_OK, "tiny model");
    param_bytes = it_param_numel(ctx) * sizeof(float);
    CHECK(param_bytes > 40000000, "tiny has %zu bytes of weights", param_bytes);
    CHECK(it_decoder_create(m, 16, &d) == IT_OK, "decoder");
    ok &= it_decoder_feed(d, prompt, 4, &logits) == IT_OK;
    for (i = 0; i < 4 && ok; i++) {
        next = it_cpu_argmax(logits, cfg.vocab_size);
        ok &= it_decoder_feed(d, &next, 1, &logits) == IT_OK;
    }
    CHECK(ok && it_decoder_pos(d) == 8, "decoded 8 positions");
    CHECK(!it_grad_block(ctx) && no_parameter_has_a_gradient(ctx), "decoding allocated no gradients");
    /* weights, KV cache, the workers' scratch: far below the weights twice over */
    CHECK(c.peak < param_bytes + param_bytes / 4, "decoding peak %zu bytes for %zu bytes of weights", c.peak,
          param_bytes);
    /* a forward-only graph (logits for generation) neither */
    CHECK(it_model_graph_create(m, IT_PURPOSE_LOGITS, 1, 8, &lg) == IT_OK, "logits graph");
    for (i = 0; i < 8; i++) it_data_i32(lg.tokens)[i] = prompt[i % 4];
    CHECK(it_graph_run(lg.graph, IT_RUN_FORWARD) == IT_OK, "logits graph runs");
    CHECK(!it_grad_block(ctx) && no_parameter_has_a_gradient(ctx), "a forward-only graph allocated no gradients");
    it_model_graph_destroy(&lg);
    /* the first graph with a backward brings them: one block, exactly the trainable parameters */
    before = c.live;
    CHECK(it_model_graph_create(m, IT_PURPOSE_TRAIN, 1, 8, &tg) == IT_OK, "training graph");
    CHECK(it_grad_block(ctx) && block_size(it_grad_block(ctx)) == it_grad_numel(ctx) * sizeof(float) &&
              it_grad_numel(ctx) == it_param_numel(ctx),
          "training graph: a gradient block of every parameter");
    CHECK(c.live - before >= param_bytes, "the gradient block is counted (%zu bytes more)", c.live - before);
    it_model_graph_destroy(&tg);
    it_decoder_destroy(d);
    it_context_destroy(ctx);
    CHECK(c.live == 0 && c.n_blocks == 0, "everything returned to the allocator (%zu bytes in %zu blocks left)", c.live,
          c.n_blocks);
}

/* Freezes the embedding, the head and every parameter of layer 0. */
static void freeze_some(it_model *m) {
    int k;
    CHECK(it_param_set_trainable(m->embed, 0) == IT_OK && it_param_set_trainable(m->head, 0) == IT_OK, "freeze embed/head");
    for (k = 0; k < IT_MODEL_LAYER_PARAMS; k++)
        if (m->layer_params[k]) CHECK(it_param_set_trainable(m->layer_params[k], 0) == IT_OK, "freeze layer 0");
}
typedef struct run {
    counter c;
    it_context *ctx;
    it_model *m;
    it_model_graph g;
    it_optimizer *opt;
} run;
static void run_create(run *r, const it_model_config *cfg, it_optimizer_kind kind, int frozen) {
    it_optimizer_desc od;
    int i;
    r->ctx = counted_context(&r->c, 1);
    if (it_model_create(r->ctx, cfg, &r->m) != IT_OK || it_model_init(r->m, 11) != IT_OK) exit(2);
    if (frozen) freeze_some(r->m);
    memset(&od, 0, sizeof od);
    od.kind = kind;
    od.weight_decay = 0.1f;
    od.decay_vectors = 1; /* decay would move a frozen norm weight too, if it were touched */
    od.momentum = kind == IT_OPTIMIZER_SGD ? 0.9f : 0.0f;
    if (it_model_graph_create(r->m, IT_PURPOSE_TRAIN, 2, 8, &r->g) != IT_OK || it_optimizer_create(r->ctx, &od, &r->opt) != IT_OK) {
        fprintf(stderr, "run: %s\n", it_context_last_error(r->ctx));
        exit(2);
    }
    for (i = 0; i < 16; i++) {
        it_data_i32(r->g.tokens)[i] = (i * 7 + 3) % cfg->vocab_size;
        it_data_i32(r->g.targets)[i] = (i * 5 + 1) % cfg->vocab_size;
    }
}
static void run_step(run *r) {
    it_zero_grads(r->ctx);
    CHECK(it_graph_run(r->g.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "forward + backward");
    CHECK(it_optimizer_step(r->opt, 1e-2f, 1.0f, NULL) == IT_OK, "optimizer step");
}

static void test_frozen(const it_model_config *cfg, const char *arch, it_optimizer_kind kind) {
    run fr, all;
    float *initial;
    size_t trainable = 0, n = 0;
    int i, step, frozen_same = 1, trainable_moved = 0, same_as_all = 1, n_frozen = 0;
    run_create(&fr, cfg, kind, 1);
    run_create(&all, cfg, kind, 0);
    n = it_param_numel(fr.ctx);
    initial = (float *)malloc(n * sizeof(float));
    memcpy(initial, it_param_block(fr.ctx), n * sizeof(float));
    for (i = 0; i < it_param_count(fr.ctx); i++) {
        it_tensor *p = it_param_at(fr.ctx, i);
        if (it_param_trainable(p)) {
            trainable += IT__ALIGN_UP(it_tensor_numel(p), 16);
        } else {
            n_frozen++;
            CHECK(!it_grad_tensor(p) && !it_grad(p), "%s: frozen '%s' has no gradient", arch, it_tensor_name(p));
        }
    }
    CHECK(n_frozen > 0 && trainable < n, "%s: %d frozen parameters", arch, n_frozen);
    /* memory: the gradient block and the state hold the trainable parameters only */
    CHECK(it_grad_numel(fr.ctx) == trainable && block_size(it_grad_block(fr.ctx)) == trainable * sizeof(float),
          "%s: gradient block of %zu floats for %zu trainable (of %zu)", arch, it_grad_numel(fr.ctx), trainable, n);
    CHECK(fr.opt->state_numel == trainable * (kind == IT_OPTIMIZER_ADAMW ? 2 : 1) &&
              block_size(fr.opt->state) == fr.opt->state_numel * sizeof(float),
          "%s %s: optimizer state of %zu floats", arch, it_optimizer_name(kind), fr.opt->state_numel);
    CHECK(fr.c.peak < all.c.peak, "%s: peak %zu bytes frozen, %zu all trainable", arch, fr.c.peak, all.c.peak);
    for (step = 0; step < 3; step++) {
        run_step(&fr);
        run_step(&all);
        for (i = 0; i < it_param_count(fr.ctx); i++) {
            it_tensor *p = it_param_at(fr.ctx, i);
            size_t off, k, len = it_tensor_numel(p);
            const float *now;
            it_tensor_block(p, &off);
            now = it_param_block(fr.ctx) + off / sizeof(float);
            if (!it_param_trainable(p)) {
                frozen_same &= memcmp(now, initial + off / sizeof(float), len * sizeof(float)) == 0;
                continue;
            }
            for (k = 0; k < len; k++) trainable_moved |= now[k] != initial[off / sizeof(float) + k];
            /* the first update of a trainable parameter does not depend on which others train */
            if (step == 0)
                same_as_all &= memcmp(now, it_param_block(all.ctx) + off / sizeof(float), len * sizeof(float)) == 0;
        }
    }
    CHECK(frozen_same, "%s %s: frozen parameters bit-identical after 3 steps", arch, it_optimizer_name(kind));
    CHECK(trainable_moved, "%s %s: trainable parameters moved", arch, it_optimizer_name(kind));
    CHECK(same_as_all, "%s %s: first update of the trainable parameters equals the all-trainable run's", arch,
          it_optimizer_name(kind));
    free(initial);
    it_context_destroy(fr.ctx);
    it_context_destroy(all.ctx);
}

/* Trainability is fixed once a graph has read the parameter or the gradients are laid out. */
static void test_set_trainable_rules(void) {
    it_context *ctx = it_test_context(1);
    it_tensor *a = it_param(ctx, "a", 2, (int[]){4, 3}), *b = it_param(ctx, "b", 1, (int[]){5});
    it_tensor *c = it_param(ctx, "c", 1, (int[]){7}), *x, *loss;
    it_graph *g;
    CHECK(it_param_trainable(a) && it_param_trainable(b) && it_param_trainable(c), "parameters start trainable");
    CHECK(it_grad_numel(ctx) == 16 + 16 + 16, "gradient size before freezing: %zu", it_grad_numel(ctx));
    CHECK(it_param_set_trainable(b, 0) == IT_OK && !it_param_trainable(b), "b frozen");
    CHECK(it_grad_numel(ctx) == 32, "gradient size counts trainable parameters only: %zu", it_grad_numel(ctx));
    CHECK(it_param_set_trainable(b, 1) == IT_OK && it_param_trainable(b), "b trainable again");
    CHECK(it_param_set_trainable(b, 0) == IT_OK, "b frozen again");
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){2, 3});
    loss = it_mean(g, it_matmul(g, x, a, 0, 1));
    CHECK(it_param_set_trainable(a, 0) == IT_ERR_STATE && it_param_trainable(a), "a graph reads a: refused");
    CHECK(strstr(it_context_last_error(ctx), "'a'") != NULL, "the message names the parameter: %s", it_context_last_error(ctx));
    CHECK(it_param_set_trainable(x, 0) == IT_ERR_INVALID_ARGUMENT, "an input is not a parameter");
    CHECK(it_param_set_trainable(NULL, 0) == IT_ERR_INVALID_ARGUMENT, "NULL is not a parameter");
    CHECK(!it_param_trainable(x) && !it_param_trainable(NULL), "inputs are not trainable parameters");
    it_graph_backward(g, loss);
    CHECK(it_grad_tensor(a) && !it_grad_tensor(b) && it_grad_tensor(c), "backward lays out gradients of trainable parameters");
    CHECK(!it_grad_block(ctx), "no gradient memory before the plan");
    CHECK(it_param_set_trainable(c, 0) == IT_ERR_STATE && it_param_trainable(c), "after the layout: refused");
    CHECK(it_param_set_trainable(c, 1) == IT_OK, "setting what it already is: fine");
    CHECK(it_graph_plan(g) == IT_OK && it_grad_block(ctx) && it_grad_numel(ctx) == 32, "plan allocates 32 floats of gradients");
    CHECK(it_grad(a) && !it_grad(b), "a has a gradient, frozen b none");
    it_context_destroy(ctx);
}

/* Weights of a partly frozen model round-trip; its optimizer state is refused, never misplaced. */
static void test_checkpoint(void) {
    it_model_config cfg = it_test_llama();
    run fr;
    it_context *ctx2 = it_test_context(1);
    it_model *m2;
    it_optimizer *opt2;
    it_optimizer_desc od;
    char dir[256], dir2[256];
    struct stat st;
    run_create(&fr, &cfg, IT_OPTIMIZER_ADAMW, 1);
    run_step(&fr);
    it_test_tmp_path(dir, sizeof dir, "lazy_ck");
    it_test_tmp_path(dir2, sizeof dir2, "lazy_ck_opt");
    it_test_remove_tree(dir);
    it_test_remove_tree(dir2);
    CHECK(it_checkpoint_save(fr.ctx, fr.m, NULL, NULL, dir, NULL) == IT_OK, "weights of a partly frozen model save");
    CHECK(it_checkpoint_save(fr.ctx, fr.m, fr.opt, NULL, dir2, NULL) == IT_ERR_UNSUPPORTED, "its optimizer state is refused");
    CHECK(strstr(it_context_last_error(fr.ctx), "frozen") != NULL, "message: %s", it_context_last_error(fr.ctx));
    CHECK(stat(dir2, &st) != 0, "nothing written for the refused save");
    if (it_model_create(ctx2, &cfg, &m2) != IT_OK) exit(2);
    CHECK(it_checkpoint_load(ctx2, m2, NULL, NULL, dir) == IT_OK, "weights load into a fresh model");
    CHECK(memcmp(it_param_block(ctx2), it_param_block(fr.ctx), it_param_numel(ctx2) * sizeof(float)) == 0,
          "weights identical after the round trip");
    CHECK(it_checkpoint_load(fr.ctx, fr.m, fr.opt, NULL, dir) == IT_ERR_UNSUPPORTED, "loading state into it is refused");
    /* a fully trainable model with an optimizer still saves and loads its state */
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    CHECK(it_optimizer_create(ctx2, &od, &opt2) == IT_OK, "optimizer on the all-trainable model");
    CHECK(it_checkpoint_save(ctx2, m2, opt2, NULL, dir2, NULL) == IT_OK, "all trainable: state saves");
    CHECK(it_checkpoint_load(ctx2, m2, opt2, NULL, dir2) == IT_OK, "all trainable: state loads");
    it_test_remove_tree(dir);
    it_test_remove_tree(dir2);
    it_context_destroy(fr.ctx);
    it_context_destroy(ctx2);
}

int main(void) {
    it_model_config llama = it_test_llama(), gpt2 = it_test_gpt2();
    it_optimizer_kind kinds[3] = {IT_OPTIMIZER_ADAMW, IT_OPTIMIZER_LION, IT_OPTIMIZER_SGD};
    int k;
    test_generate_allocates_no_gradients();
    for (k = 0; k < 3; k++) {
        test_frozen(&llama, "llama", kinds[k]);
        test_frozen(&gpt2, "gpt2", kinds[k]);
    }
    test_set_trainable_rules();
    test_checkpoint();
    return it_test_finish();
}
