/* test_backend.c - the real irontensor_metal.h against the CPU backend (training and the KV-cache decoder).

   On Linux (IT_METAL_FAKE) it runs on fake Metal (tests/metal/fake/: GCC libobjc classes that
   validate like Metal and execute kernels on the itemu emulator); on a Mac the same file builds
   without IT_METAL_FAKE and runs on the GPU (tests/metal/backend.mk, target test-metal-backend).

   - Llama (GQA) and GPT-2, Lion, AdamW and SGD (momentum), plus a clipping case per model (a tiny
     clip_norm, the norm read back, decayed vectors, grad_scale 1/2), 3 training steps each in a
     training loop's order (it_zero_grads, run, it_optimizer_step, the last two on the GPU through
     the backend's hooks), each call inside a host autorelease pool: loss, gradients, gradient
     norm, parameters and optimizer state match the CPU backend; one line per step:
       fake-metal model=NAME step=N loss_cpu=X loss_metal=Y cmdbufs=A waits=W dispatches=B allocs=C
     (per step, the optimizer's included; waits=1, with clipping on and the norm asked for too:
     Metal writes it at the next wait, NaN until then, and it equals the CPU's;
     a run with a 16-operation command buffer cut; allocs: Metal buffers created in the step, 0
     after the first)
   - the optimizer's guard: a non-finite gradient norm is IT_ERR_RANGE with nothing updated, on
     both backends (Metal: from the next wait); a grad_norm asked for is written by the next run's
     wait without a wait of its own; it_zero_grads clears the gradient block;
   - every op the backend implements, forward and backward, on a small graph (incl. batched and
     transposed matmuls through the tiled kernel, chunked fused cross-entropy, broadcasts);
   - error paths (no device, compile failure with the log, a failing command buffer, a GPU that is
     not an Apple one or runs 64- or 16-wide SIMD groups, sizes past 32-bit counters), an MPS
     output holding NaN before a beta-0 product, bfloat kernels dropped below MSL 3.1 and, on the
     fake, each validation the fake performs triggered on purpose (a library pool outliving the
     host's among them); no objects alive at the end;
   - one allocator: a context with a counting allocator trains a step on the backend (the
     backend's bookkeeping, its library source and every core allocation through the hooks with
     their user pointer), and it_context_destroy frees every byte; neither header calls malloc,
     calloc or realloc itself (trapped around the implementations);
   - every kernel in shaders/ is dispatched by the training, op and decode runs (no dead kernels),
     but for a named list of kernels no Metal path uses (the paged batch decoder's, and the CUDA
     backend's bf16 conversion and attention scores).
   Ends with "N passed, N failed". */
#include "../it_count_alloc.h" /* first: a counting allocator, and malloc/calloc/realloc trapped */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#define IRONTENSOR_METAL_IMPLEMENTATION
#include "../../irontensor_metal.h"
#undef malloc
#undef calloc
#undef realloc
#ifdef IT_METAL_FAKE
#include "fake/fake_metal.h"
#define TAG "fake-metal"
#else
#define TAG "metal"
#endif

static int g_pass, g_fail;
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (ok) g_pass++;
    else {
        g_fail++;
        printf("FAIL: ");
        vprintf(fmt, ap);
        printf("\n");
    }
    va_end(ap);
}
static void quiet_logger(it_log_level level, const char *msg, void *user) { (void)user; (void)level; (void)msg; }

/* Like an Objective-C or Swift host: each call of the library inside the host's own
   @autoreleasepool. The library must return with no pool of its own open (on the fake the depth is
   checked; a pool the library left open is popped by the host's, and the library's own pop later
   is a validation error, as it is objc's fatal "Invalid autorelease pools"). */
#ifdef IT_METAL_FAKE
#define POOL_DEPTH() fake_metal_pool_depth()
#else
#define POOL_DEPTH() 0
#endif
#define HOSTED(what, call)                                                                          \
    do {                                                                                            \
        void *host_pool_ = objc_autoreleasePoolPush();                                              \
        int host_depth_ = POOL_DEPTH();                                                             \
        call;                                                                                       \
        check(POOL_DEPTH() == host_depth_, "%s returns with no autorelease pool of its own open", what); \
        objc_autoreleasePoolPop(host_pool_);                                                        \
    } while (0)

/* max |a - b| over a tensor, relative to max(the tensor's largest |b|, floor) */
static double rel_err(const float *a, const float *b, size_t n, double floor) {
    double d = 0, s = floor;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > d || e != e) d = e != e ? 1e30 : e;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return s > 0 ? d / s : d;
}
/* GPT-2's key bias has an exactly zero gradient (softmax ignores a shift of every score of a row
   by the same q.b_k); both backends return round-off there, and Lion/AdamW turn its sign into
   +-lr updates, so these tensors are compared on gradients (absolute, against the global gradient
   scale) but not on parameters. */
static int zero_grad_param(const char *name) { return strstr(name, "attn.k.bias") != NULL; }
static double worst_param_err(it_context *a, it_context *b, int grads, const char **where) {
    int i;
    double w = 0, gmax = 0;
    for (i = 0; grads && i < it_param_count(b); i++) {
        it_tensor *p = it_param_at(b, i);
        size_t j;
        if (!it_grad(p)) continue; /* frozen */
        for (j = 0; j < it_tensor_numel(p); j++) gmax = fabs(it_grad(p)[j]) > gmax ? fabs(it_grad(p)[j]) : gmax;
    }
    for (i = 0; i < it_param_count(a); i++) {
        it_tensor *pa = it_param_at(a, i), *pb = it_param_at(b, i);
        double e;
        if (!grads && zero_grad_param(it_tensor_name(pa))) continue;
        if (grads && !it_grad(pa) && !it_grad(pb)) continue; /* frozen on both sides */
        e = grads ? rel_err(it_grad(pa), it_grad(pb), it_tensor_numel(pa), 1e-3 * gmax)
                  : rel_err(it_data(pa), it_data(pb), it_tensor_numel(pa), 0.0);
        if (e > w) {
            w = e;
            *where = it_tensor_name(pa);
        }
    }
    return w;
}

static it_context *new_ctx_ops(int metal, int ops_per_command_buffer) {
    it_context_desc d;
    it_context *ctx;
    memset(&d, 0, sizeof d);
    d.n_threads = 1;
    d.logger.log = quiet_logger;
    if (it_context_create(&d, &ctx) != IT_OK) return NULL;
    if (metal) {
        it_backend *be;
        it_metal_desc md;
        memset(&md, 0, sizeof md);
        md.ops_per_command_buffer = ops_per_command_buffer;
        if (it_metal_backend_create(ctx, &md, &be) != IT_OK) {
            printf("metal backend: %s\n", it_context_last_error(ctx));
            it_context_destroy(ctx);
            return NULL;
        }
        it_context_set_backend(ctx, be);
    }
    return ctx;
}
static it_context *new_ctx(int metal) { return new_ctx_ops(metal, 0); }

typedef struct side {
    it_context *ctx;
    it_model *model;
    it_model_graph mg;
    it_optimizer *opt;
} side;
/* one training comparison: the optimizer and how it_optimizer_step is called */
typedef struct run_cfg {
    it_optimizer_kind kind;
    float clip_norm;   /* 0 = off */
    int decay_vectors;
    float momentum;    /* SGD */
    float grad_scale;  /* it_optimizer_step's scale (1/k after k micro-batches) */
    int want_norm;     /* pass grad_norm */
    int freeze;        /* freeze the embedding, the head and layer 0 (no gradient, no state) */
    int ops_per_cb;    /* it_metal_desc.ops_per_command_buffer (0 = the default) */
    int bf16;          /* it_context_set_compute_dtype(IT_BF16) on both sides: bf16 products, fp32 sums */
    int lora_rank;     /* > 0: a LoRA fine-tune (base frozen, A and B train) of lora_targets */
    const char *lora_targets;
} run_cfg;
/* A LoRA adapter on s's model (before its parameters exist); after it_lora_init, B gets small
   seeded values instead of PEFT's zeros, so the first step already runs every branch term
   (dA, and dx through A, are zero while B is). */
static int side_lora(side *s, const run_cfg *rc, int initialised) {
    it_lora_config lc;
    it_lora *l;
    int n_b = 0, layer, slot;
    if (!rc->lora_rank) return 1;
    if (!initialised) {
        memset(&lc, 0, sizeof lc);
        lc.rank = rc->lora_rank;
        lc.alpha = 3.0f * (float)rc->lora_rank; /* scale 3 */
        snprintf(lc.targets, sizeof lc.targets, "%s", rc->lora_targets);
        return it_lora_create(s->model, &lc, &l) == IT_OK;
    }
    if (it_lora_init(s->model->lora, 77) != IT_OK) return 0;
    for (layer = 0; layer < s->model->config.n_layers; layer++)
        for (slot = 0; slot < IT_MODEL_LAYER_PARAMS; slot++) {
            it_tensor *a, *b;
            size_t j;
            if (it_lora_pair(s->model->lora, layer, slot, &a, &b) != IT_OK || !b) continue;
            for (j = 0; j < it_tensor_numel(b); j++) it_data(b)[j] = 0.05f * sinf((float)(j * 7 + (size_t)slot));
            n_b++;
        }
    return n_b == it_lora_count(s->model->lora);
}
static int side_make(side *s, int metal, const it_model_config *cfg, const run_cfg *rc, int B, int T) {
    it_optimizer_desc od;
    memset(s, 0, sizeof *s);
    if (!(s->ctx = new_ctx_ops(metal, rc->ops_per_cb))) return 0;
    if (rc->bf16 && it_context_set_compute_dtype(s->ctx, IT_BF16) != IT_OK) return 0;
    /* the device keeps every activation in fp32 (no bf16 storage), so the CPU reference plans without
       it too: the CPU's bf16 plan would also round SwiGLU's gate and up (it__plan_storage) */
    if (rc->bf16 && !metal) it_context_backend(s->ctx)->bf16_storage = 0;
    if (it_model_create(s->ctx, cfg, &s->model) != IT_OK) return 0;
    if (rc->freeze) {
        int k;
        if (it_param_set_trainable(s->model->embed, 0) != IT_OK || it_param_set_trainable(s->model->head, 0) != IT_OK)
            return 0;
        for (k = 0; k < IT_MODEL_LAYER_PARAMS; k++)
            if (s->model->layer_params[k] && it_param_set_trainable(s->model->layer_params[k], 0) != IT_OK) return 0;
    }
    if (!side_lora(s, rc, 0)) return 0;
    if (it_model_graph_create(s->model, IT_PURPOSE_TRAIN, B, T, &s->mg) != IT_OK) return 0;
    if (it_model_init(s->model, 1234) != IT_OK || !side_lora(s, rc, 1)) return 0;
    memset(&od, 0, sizeof od);
    od.kind = rc->kind;
    od.weight_decay = 0.1f;
    od.clip_norm = rc->clip_norm;
    od.decay_vectors = rc->decay_vectors;
    od.momentum = rc->momentum;
    return it_optimizer_create(s->ctx, &od, &s->opt) == IT_OK;
}
static void side_free(side *s) {
    if (s->opt) it_optimizer_destroy(s->opt);
    it_model_graph_destroy(&s->mg);
    if (s->model) it_model_destroy(s->model);
    if (s->ctx) it_context_destroy(s->ctx);
}

/* The backend's life on a counting allocator: every byte back at it_context_destroy, nothing
   allocated around the hooks. */
static void allocator_life(void) {
    it_context_desc d;
    it_context *ctx;
    it_backend *be;
    it_model_config cfg;
    it_model *model;
    it_model_graph mg;
    it_optimizer_desc od;
    it_optimizer *opt;
    it_decoder *dec;
    const float *logits;
    long raw = g_raw_allocs;
    int i;
    check(raw > 0, "the malloc trap saw the default allocator of the earlier contexts (%ld calls)", raw);
    memset(&g_count, 0, sizeof g_count);
    memset(&d, 0, sizeof d);
    d.n_threads = 1;
    d.logger.log = quiet_logger;
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = &g_count;
    if (it_context_create(&d, &ctx) != IT_OK) {
        check(0, "context with a counting allocator");
        return;
    }
    check(it_metal_backend_create(ctx, NULL, &be) == IT_OK, "metal backend on a counting allocator: %s", it_context_last_error(ctx));
    it_context_set_backend(ctx, be);
    memset(&cfg, 0, sizeof cfg);
    cfg.arch = IT_ARCH_LLAMA;
    cfg.vocab_size = 61;
    cfg.dim = 32;
    cfg.n_layers = 1;
    cfg.n_heads = 4;
    cfg.n_kv_heads = 2;
    cfg.ffn_dim = 48;
    cfg.max_seq = 8;
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    od.clip_norm = 1.0f;
    check(it_model_create(ctx, &cfg, &model) == IT_OK && it_model_graph_create(model, IT_PURPOSE_TRAIN, 2, 8, &mg) == IT_OK &&
              it_model_init(model, 5) == IT_OK && it_optimizer_create(ctx, &od, &opt) == IT_OK,
          "model, graph and optimizer on the backend: %s", it_context_last_error(ctx));
    for (i = 0; i < 16; i++) {
        it_data_i32(mg.tokens)[i] = (int32_t)(i * 7 % 61);
        it_data_i32(mg.targets)[i] = (int32_t)((i * 7 + 3) % 61);
    }
    it_zero_grads(ctx);
    check(it_graph_run(mg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK && it_optimizer_step(opt, 1e-3f, 1.0f, NULL) == IT_OK,
          "a training step on the backend: %s", it_context_last_error(ctx));
    check(it_decoder_create(model, 8, &dec) == IT_OK && it_decoder_feed(dec, it_data_i32(mg.tokens), 2, &logits) == IT_OK,
          "a decoder beside the backend");
    check(g_count.allocs > 20 && g_count.live > 0, "the backend's life allocated through the hooks (%ld blocks)", g_count.allocs);
    it_context_destroy(ctx); /* the model, optimizer, decoder and backend with it */
    printf(TAG " allocator: %ld allocations, %ld frees, %zu bytes in all, %zu live after destroy, %ld raw\n", g_count.allocs,
           g_count.frees, g_count.total, g_count.live, g_raw_allocs - raw);
    check(g_count.live == 0 && g_count.allocs == g_count.frees, "every byte freed by it_context_destroy (%zu bytes in %ld blocks left)",
          g_count.live, g_count.allocs - g_count.frees);
    check(g_count.wrong_user == 0 && g_count.null_frees == 0, "user pointer on every call (%ld wrong), no NULL frees (%ld)",
          g_count.wrong_user, g_count.null_frees);
    check(g_raw_allocs == raw, "no raw malloc/calloc/realloc in irontensor.h or irontensor_metal.h (%ld)", g_raw_allocs - raw);
}

/* Three training steps in the order a training loop makes the calls: it_zero_grads, the forward
   and backward run, it_optimizer_step, each inside a host autorelease pool. On Metal the zeroing
   heads the run's command buffers and the optimizer's update (norm pass, clip scale, skip flag
   included) is committed without a wait, so the step waits once, at the run's loss read-back;
   a requested grad_norm is written at the next wait (NaN until then), here the synchronize after
   the counted step. Command buffers are cut every
   ops_per_cb operations (the watchdog). Counters are printed per step; the comparison of
   parameters and state afterwards synchronizes outside the counted step. */
static void train_compare(const char *name, const it_model_config *cfg, const run_cfg *rc, int B, int T) {
    side c, m;
    it_rng rng;
    int step, i;
    unsigned long mps0 = 0, want_waits = 1;
    unsigned long per_cb = rc->ops_per_cb ? (unsigned long)rc->ops_per_cb : IT_METAL_DEFAULT_OPS_PER_COMMAND_BUFFER;
    float gsc = rc->grad_scale ? rc->grad_scale : 1.0f;
    int ok = side_make(&c, 0, cfg, rc, B, T) && side_make(&m, 1, cfg, rc, B, T);
    check(ok, "%s: both contexts, models, graphs and optimizers are made", name);
    if (!ok) {
        side_free(&c);
        side_free(&m);
        return;
    }
#ifdef IT_METAL_FAKE
    unsigned long sg0 = fake_metal_kernel_dispatches("it_matmul_bf16_sg"), f32_0 = fake_metal_kernel_dispatches("it_matmul_f32");
#endif
    it_rng_seed(&rng, 99);
    for (step = 1; step <= 3; step++) {
        it_metal_stats s0 = it_metal_backend_stats(it_context_backend(m.ctx)), s1;
#ifdef IT_METAL_FAKE
        fake_metal_counters f0 = fake_metal_counters_get(), f1;
#endif
        const char *where = "";
        float lc, lm, nc = -1.0f, nm = -2.0f;
        double ge, pe;
        /* bf16: step 1 starts from bit-identical parameters and matches as tightly as fp32 (one
           product left unrounded would show there); later steps start from parameters that differ
           in the last fp32 bits, which flips the bf16 rounding of a few operands (2^-9 relative
           each): bf16's own resolution, 1e-2 */
        double tol = rc->bf16 && step > 1 ? 1e-2 : 1e-4;
        unsigned long cbs, ops;
        it_result r_c, r_m = IT_OK;
        it_zero_grads(c.ctx);
        HOSTED("it_zero_grads", it_zero_grads(m.ctx));
        for (i = 0; i < B * T; i++) { /* the same batch into both */
            int32_t tok = (int32_t)it_rng_below(&rng, (uint32_t)cfg->vocab_size);
            it_data_i32(c.mg.tokens)[i] = it_data_i32(m.mg.tokens)[i] = tok;
            it_data_i32(c.mg.targets)[i] = it_data_i32(m.mg.targets)[i] = (int32_t)((tok * 7 + 3) % cfg->vocab_size);
        }
        r_c = it_graph_run(c.mg.graph, IT_RUN_FORWARD_BACKWARD);
        HOSTED("it_graph_run", r_m = it_graph_run(m.mg.graph, IT_RUN_FORWARD_BACKWARD));
        check(r_c == IT_OK && r_m == IT_OK, "%s step %d: runs (%s)", name, step, it_context_last_error(m.ctx));
        lc = it_data(c.mg.loss)[0];
        lm = it_data(m.mg.loss)[0];
        check(fabs((double)lc - lm) <= 1e-4 * fabs((double)lc), "%s step %d: loss %.7f vs CPU %.7f", name, step, lm, lc);
        ge = worst_param_err(m.ctx, c.ctx, 1, &where);
        check(ge <= tol, "%s step %d: gradients match the CPU (worst %.2e in %s, tolerance %.0e)", name, step, ge, where, tol);
        r_c = it_optimizer_step(c.opt, 1e-3f, gsc, rc->want_norm ? &nc : NULL);
        HOSTED("it_optimizer_step", r_m = it_optimizer_step(m.opt, 1e-3f, gsc, rc->want_norm ? &nm : NULL));
        s1 = it_metal_backend_stats(it_context_backend(m.ctx));
#ifdef IT_METAL_FAKE
        f1 = fake_metal_counters_get();
#endif
        check(r_c == IT_OK && r_m == IT_OK, "%s step %d: optimizer steps (%s)", name, step, it_context_last_error(m.ctx));
        if (rc->want_norm) check(isnan(nm), "%s step %d: the norm is NaN until the next wait (%g)", name, step, nm);
        HOSTED("it_context_synchronize", r_m = it_context_synchronize(m.ctx)); /* the update done: compare */
        check(r_m == IT_OK, "%s step %d: the update completes (%s)", name, step, it_context_last_error(m.ctx));
        check(c.opt->step == step && m.opt->step == step, "%s step %d: both optimizers count the step", name, step);
        if (rc->want_norm) {
            check(fabs((double)nc - nm) <= 1e-4 * fabs((double)nc), "%s step %d: gradient norm %.7g vs CPU %.7g", name, step,
                  nm, nc);
            if (rc->clip_norm > 0.0f)
                check(nc > rc->clip_norm, "%s step %d: clipping triggers (norm %g > clip %g)", name, step, nc, rc->clip_norm);
        }
        pe = worst_param_err(m.ctx, c.ctx, 0, &where);
        check(pe <= tol, "%s step %d: parameters match the CPU after %s (worst %.2e in %s)", name, step,
              it_optimizer_name(rc->kind), pe, where);
        pe = rel_err(m.opt->state, c.opt->state, c.opt->state_numel, 1e-30);
        check(pe <= tol, "%s step %d: optimizer state matches the CPU (%.2e)", name, step, pe);
        cbs = s1.command_buffers - s0.command_buffers;
        ops = (s1.dispatches - s0.dispatches) + (s1.mps_encodes - s0.mps_encodes);
        printf("%s model=%s step=%d loss_cpu=%.6f loss_metal=%.6f cmdbufs=%lu waits=%lu dispatches=%lu allocs=%lu", TAG, name,
               step, lc, lm, cbs, s1.waits - s0.waits, s1.dispatches - s0.dispatches, s1.buffers_created - s0.buffers_created);
        if (rc->want_norm) printf(" norm_cpu=%.6f norm_metal=%.6f", nc, nm);
        printf("\n");
        check(s1.waits - s0.waits == want_waits, "%s step %d: %lu wait(s) per training step (got %lu)", name, step, want_waits,
              s1.waits - s0.waits);
        /* the run and the optimizer each end a command buffer; between, one per ops_per_cb operations */
        check(cbs >= 2 && cbs <= ops / per_cb + 2 && cbs * per_cb >= ops, "%s step %d: %lu command buffers for %lu operations "
              "(at most %lu each)", name, step, cbs, ops, per_cb);
        if (step > 1) check(s1.buffers_created == s0.buffers_created, "%s step %d: no buffer created after the first step", name, step);
        mps0 = s1.mps_encodes - s0.mps_encodes;
#ifdef IT_METAL_FAKE /* what the fake saw equals what the backend counted */
        check(f1.command_buffers - f0.command_buffers == s1.command_buffers - s0.command_buffers &&
                  f1.dispatches - f0.dispatches == s1.dispatches - s0.dispatches &&
                  f1.buffer_allocs - f0.buffer_allocs == s1.buffers_created - s0.buffers_created &&
                  f1.mps_encodes - f0.mps_encodes == s1.mps_encodes - s0.mps_encodes && f1.waits - f0.waits == s1.waits - s0.waits,
              "%s step %d: the fake's counters agree with the backend's", name, step);
#endif
    }
    printf("  %s: %lu MPS matmul encodes per step\n", name, mps0);
    if (rc->bf16) check(mps0 == 0, "%s: bf16 products run on our kernels, not MPS (%lu MPS encodes)", name, mps0);
#ifdef IT_METAL_FAKE
    if (rc->bf16) { /* which kernel ran them: the simdgroup-matrix one wherever MSL 3.1 compiles */
        unsigned long lang = fake_metal_config_get()->max_language;
        int sg = !lang || lang >= 0x30001ul;
        unsigned long n_sg = fake_metal_kernel_dispatches("it_matmul_bf16_sg") - sg0;
        unsigned long n_f32 = fake_metal_kernel_dispatches("it_matmul_f32") - f32_0;
        const char *which = it_metal_bf16_matmul(it_context_backend(m.ctx));
        check(which && !strncmp(which, sg ? "it_matmul_bf16_sg" : "it_matmul_f32", sg ? 17 : 13) &&
                  (sg ? n_sg > 0 && n_f32 == 0 : n_sg == 0 && n_f32 > 0) && (sg || strstr(which, "MSL 3.1")),
              "%s: the bf16 products ran on %s (%lu it_matmul_bf16_sg, %lu it_matmul_f32 dispatches; the backend says: %s)",
              name, sg ? "it_matmul_bf16_sg" : "it_matmul_f32", n_sg, n_f32, which ? which : "nothing");
        printf("  %s: bf16 products on %s\n", name, which ? which : "?");
    }
#endif
    if (rc->freeze || rc->lora_rank) { /* frozen parameters: no gradient, and the GPU update never touched them */
        int same = 1, none = 1;
        for (i = 0; i < it_param_count(m.ctx); i++) {
            it_tensor *pm = it_param_at(m.ctx, i), *pc = it_param_at(c.ctx, i);
            if (it_param_trainable(pm)) continue;
            none &= !it_grad(pm);
            same &= memcmp(it_data(pm), it_data(pc), it_tensor_numel(pm) * sizeof(float)) == 0;
        }
        check(none && same, "%s: frozen parameters have no gradient and are bit-identical to the CPU's (never updated)", name);
        check(m.opt->state_numel == c.opt->state_numel && c.opt->state_numel < it_param_numel(c.ctx) * (rc->kind == IT_OPTIMIZER_ADAMW ? 2 : 1),
              "%s: optimizer state only for the trainable parameters", name);
    }
    side_free(&c);
    side_free(&m);
}

/* The optimizer's guard, on both backends: a non-finite gradient norm is IT_ERR_RANGE with nothing
   updated (parameters, state and the step count) when the norm is computed (clip or grad_norm);
   zero_grads clears the block on the device. Metal skips the update on the GPU and reports it at
   the next wait (it_context_synchronize), the CPU at once. Mode 1 (grad_norm, no clip) first takes
   a finite step asking for the norm: on Metal NaN when it_optimizer_step returns, no wait taken,
   then the next run's one wait writes it, equal to the CPU's. */
static void optimizer_guard(void) {
    int metal, mode;
    float cpu_first_norm = -1.0f;
    for (metal = 0; metal <= 1; metal++)
        for (mode = 0; mode < 3; mode++) {
            it_context *ctx = new_ctx(metal);
            it_graph *g;
            it_tensor *w, *v, *loss;
            it_optimizer *opt;
            it_optimizer_desc od;
            float before_w[300], before_s[300], norm = 0.0f;
            it_result r;
            int j, same = 1, zero = 1;
            const char *label = metal ? "metal" : "cpu";
            if (!ctx) {
                check(0, "guard: context");
                return;
            }
            g = it_graph_create(ctx);
            w = it_param(ctx, "w", 2, (int[]){3, 100});
            v = it_param(ctx, "v", 1, (int[]){7});
            loss = it_add(g, it_sum(g, it_mul(g, w, w)), it_sum(g, it_mul(g, v, v)));
            it_graph_backward(g, loss);
            it_graph_plan(g);
            it_param_init_normal(ctx, 0.5f, 3);
            memset(&od, 0, sizeof od);
            od.kind = IT_OPTIMIZER_ADAMW;
            od.clip_norm = mode != 1 ? 1.0f : 0.0f; /* mode 1: no clip, the norm requested */
            it_optimizer_create(ctx, &od, &opt);
            it_zero_grads(ctx);
            check(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "guard %s: run", label);
            if (mode == 1) { /* the norm of a finite step, from the next run's wait */
                float first_norm = -1.0f;
                unsigned long w0 = metal ? it_metal_backend_stats(it_context_backend(ctx)).waits : 0, w1, w2;
                check(it_optimizer_step(opt, 1e-2f, 1.0f, &first_norm) == IT_OK && opt->step == 1, "guard %s: a finite step", label);
                w1 = metal ? it_metal_backend_stats(it_context_backend(ctx)).waits : 0;
                if (metal) check(isnan(first_norm) && w1 == w0, "guard metal: grad_norm NaN until the next wait, none taken (%g, %lu waits)",
                                 first_norm, w1 - w0);
                it_zero_grads(ctx);
                it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
                w2 = metal ? it_metal_backend_stats(it_context_backend(ctx)).waits : 0;
                if (!metal) cpu_first_norm = first_norm;
                check(first_norm > 0.0f && fabs((double)first_norm - cpu_first_norm) <= 1e-5 * cpu_first_norm &&
                          (!metal || w2 - w1 == 1),
                      "guard %s: the next run's one wait writes grad_norm %.7g (CPU %.7g, %lu waits)", label, first_norm,
                      cpu_first_norm, w2 - w1);
            } else {
                check(it_optimizer_step(opt, 1e-2f, 1.0f, NULL) == IT_OK && opt->step == 1, "guard %s: a finite step", label);
                it_zero_grads(ctx);
                it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
            }
            memcpy(before_w, it_data(w), sizeof before_w);
            memcpy(before_s, opt->state, sizeof before_s);
            it_grad(w)[17] = mode != 1 ? INFINITY : NAN; /* the shared block: written by the CPU after the run */
            r = it_optimizer_step(opt, 1e-2f, 1.0f, mode == 2 ? NULL : &norm);
            { /* Metal: the GPU skipped it; the verdict (and a grad_norm asked for) comes with the next wait */
                it_result r2 = it_context_synchronize(ctx);
                check(metal ? (r == IT_OK && r2 == IT_ERR_RANGE) : (r == IT_ERR_RANGE && r2 == IT_OK),
                      "guard %s (mode %d): the skip is reported by %s (r=%d, sync %d): %s", label, mode,
                      metal ? "the next wait" : "it_optimizer_step", (int)r, (int)r2, it_context_last_error(ctx));
                if (metal && mode != 2)
                    check(!isfinite(norm), "guard metal (mode %d): the wait writes the non-finite grad_norm (%g)", mode, norm);
                if (metal && r2 == IT_ERR_RANGE && mode == 2) printf("  deferred verdict: %s\n", it_context_last_error(ctx));
                r = metal ? r2 : r;
            }
            for (j = 0; j < 300; j++) same &= before_w[j] == it_data(w)[j] && before_s[j] == opt->state[j];
            check(r == IT_ERR_RANGE && same && opt->step == 1,
                  "guard %s (%s): a %s gradient is IT_ERR_RANGE, nothing updated (r=%d, step %d): %s", label,
                  mode == 0 ? "clip" : mode == 1 ? "grad_norm" : "clip, no norm", mode != 1 ? "inf" : "nan", (int)r,
                  opt->step, it_context_last_error(ctx));
            it_zero_grads(ctx);
            if (metal) it_context_synchronize(ctx); /* the fill is deferred to the next run */
            for (j = 0; j < 300; j++) zero &= it_grad(w)[j] == 0.0f;
            for (j = 0; j < 7; j++) zero &= it_grad(v)[j] == 0.0f;
            check(zero, "guard %s: it_zero_grads clears the gradient block", label);
            it_context_destroy(ctx);
        }
}

/* every op, forward and backward, on one graph per side; the loss is a sum of scalar heads */
static it_tensor *op_graph(it_context *ctx, it_graph *g, it_tensor **ins, it_tensor **tgt, it_tensor **ids) {
    int d23[2] = {6, 8}, d3[3] = {2, 3, 8}, dm[3] = {2, 3, 5}, dws[2] = {3, 4}, dv[1] = {8}, dw[2] = {8, 8},
        dt[2] = {2, 3}, dtab[2] = {11, 8}, dw2[2] = {19, 8};
    it_tensor *w = it_param(ctx, "w", 2, dw), *b = it_param(ctx, "b", 1, dv), *nw = it_param(ctx, "nw", 1, dv),
              *tab = it_param(ctx, "tab", 2, dtab), *head = it_param(ctx, "head", 2, dw2), *bm = it_param(ctx, "bm", 3, dm),
              *ws = it_param(ctx, "ws", 2, dws);
    it_tensor *x = it_input(g, "x", IT_F32, 2, d23), *x3, *h, *q, *k, *a, *l1, *l2, *l3, *l4, *l5, *e, *t2;
    *ins = x;
    *tgt = it_input(g, "targets", IT_I32, 2, dt);
    *ids = it_input(g, "ids", IT_I32, 2, dt);
    h = it_add(g, it_matmul(g, x, w, 0, 1), b);                      /* linear, bias broadcast */
    h = it_layernorm(g, it_gelu(g, h), nw, b, 1e-5f);
    h = it_rmsnorm(g, it_silu(g, it_mul(g, h, nw)), nw, 1e-5f);        /* mul broadcast */
    x3 = it_reshape(g, h, 3, d3);
    e = it_embedding(g, tab, *ids);                                   /* [2, 3, 8] */
    x3 = it_add(g, x3, e);
    q = it_rope(g, it_reshape(g, it_swiglu(g, x3, e), 4, (int[]){2, 3, 2, 4}), 10000.0f, 1);
    k = it_reshape(g, it_scale(g, x3, 0.5f), 4, (int[]){2, 3, 2, 4});
    a = it_reshape(g, it_attention(g, q, k, k), 3, d3);
    t2 = it_matmul(g, a, bm, 1, 0);           /* batched, a transposed: [2, 8, 3] -> tiled kernel */
    l1 = it_mean(g, it_mul(g, t2, t2));
    t2 = it_matmul(g, a, ws, 1, 0);           /* a transposed, b shared: one dispatch per batch item */
    l1 = it_add(g, l1, it_mean(g, it_mul(g, t2, t2)));
    l2 = it_sum(g, it_softmax(g, it_matmul(g, a, a, 0, 1)));   /* batched, not shared */
    l3 = it_cross_entropy(g, it_reshape(g, it_matmul(g, a, head, 0, 1), 2, (int[]){6, 19}), *tgt, -1);
    l4 = it_linear_cross_entropy(g, it_reshape(g, a, 2, d23), head, *tgt, -1, 7); /* 3 chunks of 7, 7, 5 */
    l5 = it_mean(g, it_mul(g, it_reshape(g, a, 2, d23), it_reshape(g, a, 2, d23)));
    return it_add(g, it_add(g, it_add(g, l1, l2), it_add(g, l3, l4)), l5);
}
static void ops_compare(void) {
    it_context *ctx[2];
    it_graph *g[2];
    it_tensor *loss[2], *x[2], *tgt[2], *ids[2];
    it_rng rng;
    int s, i;
    const char *where = "";
    double e;
    ctx[0] = new_ctx(0);
    ctx[1] = new_ctx(1);
    if (!ctx[0] || !ctx[1]) {
        check(0, "ops: contexts");
        return;
    }
    for (s = 0; s < 2; s++) {
        g[s] = it_graph_create(ctx[s]);
        loss[s] = op_graph(ctx[s], g[s], &x[s], &tgt[s], &ids[s]);
        it_graph_backward(g[s], loss[s]);
        check(it_graph_plan(g[s]) == IT_OK, "ops: plan");
        it_param_init_normal(ctx[s], 0.3f, 5);
        it_rng_seed(&rng, 17);
        for (i = 0; i < 48; i++) it_data(x[s])[i] = it_rng_normal(&rng);
        for (i = 0; i < 6; i++) {
            it_data_i32(tgt[s])[i] = i == 4 ? -1 : (int32_t)(i * 5 % 19); /* one ignored row */
            it_data_i32(ids[s])[i] = (int32_t)(i * 3 % 4);                /* repeated ids */
        }
    }
    for (s = 0; s < 2; s++) check(it_graph_run(g[s], IT_RUN_FORWARD_BACKWARD) == IT_OK, "ops: run (%s)", it_context_last_error(ctx[s]));
    check(fabs((double)it_data(loss[0])[0] - it_data(loss[1])[0]) <= 1e-4 * fabs((double)it_data(loss[0])[0]),
          "ops: loss %.7f vs CPU %.7f", it_data(loss[1])[0], it_data(loss[0])[0]);
    e = worst_param_err(ctx[1], ctx[0], 1, &where);
    check(e <= 1e-4, "ops: every parameter gradient matches the CPU (worst %.2e in %s)", e, where);
    e = rel_err(it_grad(x[1]), it_grad(x[0]), 48, 0.0);
    check(e <= 1e-4, "ops: the input gradient matches the CPU (%.2e)", e);
    /* a bad id is IT_ERR_RANGE, like the CPU, and the backend stays usable */
    it_data_i32(ids[1])[2] = 11;
    check(it_graph_run(g[1], IT_RUN_FORWARD) == IT_ERR_RANGE, "ops: out-of-range embedding id is IT_ERR_RANGE");
    it_data_i32(ids[1])[2] = 2;
    check(it_graph_run(g[1], IT_RUN_FORWARD) == IT_OK, "ops: runs again after the error");
    it_context_destroy(ctx[0]);
    it_context_destroy(ctx[1]);
}

/* The KV-cache decoder on Metal against the CPU decoder of the same weights: the prompt in one
   call (the matmul path), then one token per call (matvec kernels), greedy on the GPU; logits
   within 1e-4 and the same tokens; one wait per token. Also: sampling (the logits read after the
   wait), reset, a bad id, the decoder on a host pool. With weights bf16 / Q8_0 / Q4_0 both sides
   decode from the same quantised copies (the CPU's quantised decoder is the reference, not f32).
   One line per model:
     fake-metal decode model=NAME tokens=N cmdbufs_per_token=A waits_per_token=B dispatches_per_token=C */
static void decode_compare(const char *name, const it_model_config *cfg, it_weight_type weights) {
    enum { PROMPT = 5, GEN = 8 };
    it_context *ctx[2];
    it_model *model[2];
    it_decoder *dec[2];
    const float *lg[2];
    int32_t prompt[PROMPT], tok[2], bad = (int32_t)cfg->vocab_size;
    it_sampling greedy, warm;
    it_rng rng[2];
    it_metal_stats s0, s1;
    int s, i, same = 1, same_sampled = 1, V = cfg->vocab_size;
    double e, worst = 0;
    unsigned long cbs = 0, waits = 0, disp = 0, max_cbs = 0, max_waits = 0;
    it_result r;
    it_decoder_desc desc;
    char full_name[64];
    snprintf(full_name, sizeof full_name, "%s%s%s", name, weights ? "-" : "", weights ? it_weight_type_name(weights) : "");
    name = full_name;
    memset(&desc, 0, sizeof desc);
    desc.weights = weights;
    ctx[0] = new_ctx(0);
    ctx[1] = new_ctx(1);
    if (!ctx[0] || !ctx[1]) {
        check(0, "decode %s: contexts", name);
        return;
    }
    for (s = 0; s < 2; s++) {
        check(it_model_create(ctx[s], cfg, &model[s]) == IT_OK && it_model_init(model[s], 4321) == IT_OK,
              "decode %s: model (%s)", name, it_context_last_error(ctx[s]));
        r = it_decoder_create_ex(model[s], &desc, &dec[s]);
        check(r == IT_OK, "decode %s: decoder (%s)", name, it_context_last_error(ctx[s]));
        if (r != IT_OK) return;
    }
    for (i = 0; i < PROMPT; i++) prompt[i] = (int32_t)((i * 13 + 5) % V);
    for (s = 0; s < 2; s++)
        HOSTED("it_decoder_feed", check(it_decoder_feed(dec[s], prompt, PROMPT, &lg[s]) == IT_OK, "decode %s: prompt (%s)", name,
                                        it_context_last_error(ctx[s])));
    e = rel_err(lg[1], lg[0], (size_t)V, 0.0);
    check(e <= 1e-4, "decode %s: the prompt's logits match the CPU decoder (%.2e)", name, e);
    memset(&greedy, 0, sizeof greedy);
    tok[0] = tok[1] = (int32_t)it_cpu_argmax(lg[0], V);
    for (i = 0; i < GEN; i++) {
        int32_t in0 = tok[0], in1 = tok[1];
        check(it_decoder_next(dec[0], &in0, 1, &greedy, NULL, &tok[0]) == IT_OK, "decode %s: cpu token %d", name, i);
        s0 = it_metal_backend_stats(it_context_backend(ctx[1]));
        HOSTED("it_decoder_next", r = it_decoder_next(dec[1], &in1, 1, &greedy, NULL, &tok[1]));
        s1 = it_metal_backend_stats(it_context_backend(ctx[1]));
        check(r == IT_OK, "decode %s: metal token %d (%s)", name, i, it_context_last_error(ctx[1]));
        same &= tok[0] == tok[1];
        cbs += s1.command_buffers - s0.command_buffers;
        waits += s1.waits - s0.waits;
        disp += s1.dispatches - s0.dispatches;
        if (s1.command_buffers - s0.command_buffers > max_cbs) max_cbs = s1.command_buffers - s0.command_buffers;
        if (s1.waits - s0.waits > max_waits) max_waits = s1.waits - s0.waits;
        if (!same) break;
    }
    printf("%s decode model=%s tokens=%d cmdbufs_per_token=%lu waits_per_token=%lu dispatches_per_token=%lu\n", TAG, name, GEN,
           cbs / GEN, waits / GEN, disp / GEN);
    check(same, "decode %s: %d greedy tokens equal to the CPU decoder's (stopped at %d vs %d)", name, GEN, tok[1], tok[0]);
    check(max_waits == 1 && waits == GEN && max_cbs == 1, "decode %s: one command buffer and one wait per token (%lu, %lu)",
          name, max_cbs, max_waits);
    /* the position and the cache: a reset and the same prompt give the same logits again */
    for (s = 0; s < 2; s++) {
        it_decoder_reset(dec[s]);
        check(it_decoder_feed(dec[s], prompt, PROMPT, &lg[s]) == IT_OK && it_decoder_pos(dec[s]) == PROMPT,
              "decode %s: reset and the prompt again", name);
    }
    e = rel_err(lg[1], lg[0], (size_t)V, 0.0);
    worst = e > worst ? e : worst;
    /* sampling on the GPU (it_sample_f32 after the repetition penalty over the cache's ids):
       temperature, top-k, top-p, min-p from the same generator on both sides, one wait a token */
    memset(&warm, 0, sizeof warm);
    warm.temperature = 0.8f;
    warm.top_k = 7;
    warm.top_p = 0.95f;
    warm.min_p = 0.02f;
    it_rng_seed(&rng[0], 5);
    it_rng_seed(&rng[1], 5);
    check(it_decoder_set_repetition_penalty(dec[1], 0.0f) == IT_ERR_INVALID_ARGUMENT &&
              it_decoder_set_repetition_penalty(dec[1], NAN) == IT_ERR_INVALID_ARGUMENT,
          "decode %s: a repetition penalty of 0 or NaN is IT_ERR_INVALID_ARGUMENT", name);
    for (s = 0; s < 2; s++) check(it_decoder_set_repetition_penalty(dec[s], 1.3f) == IT_OK, "decode %s: penalty", name);
    tok[0] = tok[1] = prompt[0];
    cbs = waits = disp = max_cbs = max_waits = 0;
    for (i = 0; i < GEN && same_sampled; i++) {
        int32_t in0 = tok[0], in1 = tok[1];
        check(it_decoder_next(dec[0], &in0, 1, &warm, &rng[0], &tok[0]) == IT_OK, "decode %s: cpu sampled token %d", name, i);
        s0 = it_metal_backend_stats(it_context_backend(ctx[1]));
        HOSTED("it_decoder_next", r = it_decoder_next(dec[1], &in1, 1, &warm, &rng[1], &tok[1]));
        s1 = it_metal_backend_stats(it_context_backend(ctx[1]));
        check(r == IT_OK, "decode %s: metal sampled token %d (%s)", name, i, it_context_last_error(ctx[1]));
        same_sampled &= tok[0] == tok[1];
        cbs += s1.command_buffers - s0.command_buffers;
        waits += s1.waits - s0.waits;
        disp += s1.dispatches - s0.dispatches;
        if (s1.command_buffers - s0.command_buffers > max_cbs) max_cbs = s1.command_buffers - s0.command_buffers;
        if (s1.waits - s0.waits > max_waits) max_waits = s1.waits - s0.waits;
    }
    printf("%s decode model=%s-sampled tokens=%d cmdbufs_per_token=%lu waits_per_token=%lu dispatches_per_token=%lu\n", TAG, name,
           i, cbs / (unsigned long)(i ? i : 1), waits / (unsigned long)(i ? i : 1), disp / (unsigned long)(i ? i : 1));
    check(worst <= 1e-4 && same_sampled, "decode %s: after a reset the logits match (%.2e); %d sampled tokens (top-k, top-p, "
          "min-p, repetition penalty 1.3) equal to the CPU decoder's", name, worst, GEN);
    check(max_waits == 1 && waits == (unsigned long)i && max_cbs == 1, "decode %s: sampled on the GPU: one command buffer and "
          "one wait per token (%lu, %lu)", name, max_cbs, max_waits);
    {   /* the penalty before a greedy pick (it_argmax_f32 on the penalised logits) */
        int32_t in0 = tok[0], in1 = tok[1];
        check(it_decoder_next(dec[0], &in0, 1, &greedy, NULL, &tok[0]) == IT_OK &&
                  it_decoder_next(dec[1], &in1, 1, &greedy, NULL, &tok[1]) == IT_OK && tok[0] == tok[1],
              "decode %s: a greedy token after the repetition penalty equal to the CPU's (%d vs %d)", name, tok[1], tok[0]);
    }
    /* a bad id: IT_ERR_RANGE and nothing fed */
    i = it_decoder_pos(dec[1]);
    check(it_decoder_next(dec[1], &bad, 1, &greedy, NULL, &tok[1]) == IT_ERR_RANGE && it_decoder_pos(dec[1]) == i,
          "decode %s: an id outside the vocabulary is IT_ERR_RANGE, the position unchanged", name);
    it_context_destroy(ctx[0]);
    it_context_destroy(ctx[1]);
}

/* MPS does not promise to ignore C at beta 0 (the fake reads it): an output arena holding NaN from
   an earlier use must not leak into a product that overwrites it. */
static void mps_beta_zero(void) {
    it_context *ctx[2];
    it_graph *g[2];
    it_tensor *x[2], *w[2], *y[2];
    int s, i, finite = 1;
    double e;
    ctx[0] = new_ctx(0);
    ctx[1] = new_ctx(1);
    if (!ctx[0] || !ctx[1]) {
        check(0, "mps beta 0: contexts");
        return;
    }
    for (s = 0; s < 2; s++) {
        g[s] = it_graph_create(ctx[s]);
        w[s] = it_param(ctx[s], "w", 2, (int[]){5, 7});
        x[s] = it_input(g[s], "x", IT_F32, 2, (int[]){3, 7});
        y[s] = it_matmul(g[s], x[s], w[s], 0, 1); /* one product: MPS, beta 0 */
        check(it_graph_plan(g[s]) == IT_OK, "mps beta 0: plan");
        it_param_init_normal(ctx[s], 0.5f, 9);
        for (i = 0; i < 21; i++) it_data(x[s])[i] = (float)(i % 5) - 2.0f;
        for (i = 0; i < 15; i++) it_data(y[s])[i] = NAN; /* what a reused arena may hold */
        check(it_graph_run(g[s], IT_RUN_FORWARD) == IT_OK, "mps beta 0: run (%s)", it_context_last_error(ctx[s]));
    }
    for (i = 0; i < 15; i++) finite &= isfinite(it_data(y[1])[i]);
    e = rel_err(it_data(y[1]), it_data(y[0]), 15, 0.0);
    check(finite && e <= 1e-6, "a NaN left in an MPS output does not survive a beta-0 product (finite %d, err %.2e)", finite, e);
    it_context_destroy(ctx[0]);
    it_context_destroy(ctx[1]);
}

#ifdef IT_METAL_FAKE
/* Finding 4: bf16 kernels sit behind __HAVE_BFLOAT__ and the library asks for MSL 3.0, so a
   compiler without bfloat drops them instead of rejecting the whole library. */
static void bfloat_isolation(void) {
    static const char guarded[] = "#if defined(__HAVE_BFLOAT__)\nkernel void it_fill_f32(device bfloat *out) {}\n#endif\n"
                                  "kernel void it_sum_f32(device float *out) {}\n";
    static const char bare[] = "kernel void it_fill_f32(device bfloat *out) {}\n";
    void *pool = objc_autoreleasePoolPush();
    id dev = MTLCreateSystemDefaultDevice(), opts, src, lib, err = NULL, fn;
    it_context *ctx = new_ctx(1);
    check(ctx && fake_metal_prev_language() == 0x30000ul && fake_metal_last_language() == 0x30001ul,
          "the backend compiles its library as MSL 3.0 and then the bf16 matmul's as MSL 3.1 (asked for 0x%lx, 0x%lx)",
          fake_metal_prev_language(), fake_metal_last_language());
    it_context_destroy(ctx);
    opts = IT__MSG0(alloc, it__cls.MTLCompileOptions);
    opts = IT__MSG0(init, opts);
    IT__MSG(setLanguageVersion, opts, (it__NSUInteger)IT__MTL_LANGUAGE_3_0);
    src = IT__MSG(stringWithUTF8String, it__cls.NSString, bare);
    lib = IT__MSG(newLibraryWithSource, dev, src, opts, &err);
    check(!lib && err, "an unguarded bfloat kernel takes an MSL 3.0 library down (the failure being fixed)");
    err = NULL;
    src = IT__MSG(stringWithUTF8String, it__cls.NSString, guarded);
    lib = IT__MSG(newLibraryWithSource, dev, src, opts, &err);
    check(lib != NULL, "a bfloat kernel behind __HAVE_BFLOAT__ compiles at MSL 3.0");
    if (lib) {
        id name = IT__MSG(stringWithUTF8String, it__cls.NSString, "it_fill_f32");
        fn = IT__MSG(newFunctionWithName, lib, name);
        check(fn == NULL, "... and is absent from that library (the f32 kernels stay)");
        it__release(fn);
        name = IT__MSG(stringWithUTF8String, it__cls.NSString, "it_sum_f32");
        fn = IT__MSG(newFunctionWithName, lib, name);
        check(fn != NULL, "the unguarded kernel of that library is there");
        it__release(fn);
        it__release(lib);
    }
    it__release(opts);
    it__release(dev);
    objc_autoreleasePoolPop(pool);
}

static void errors_backend(void) {
    fake_metal_config *cfg = fake_metal_config_get();
    it_context *ctx = new_ctx(0);
    it_backend *be;
    it_result r;
    check(it_metal_bf16_matmul(NULL) == NULL && it_metal_bf16_matmul(it_context_backend(ctx)) == NULL,
          "it_metal_bf16_matmul: NULL for no backend and for the CPU's");
    cfg->no_device = 1;
    r = it_metal_backend_create(ctx, NULL, &be);
    check(r == IT_ERR_BACKEND_UNAVAILABLE && !be && strstr(it_context_last_error(ctx), "no Metal device"),
          "no device -> IT_ERR_BACKEND_UNAVAILABLE: %s", it_context_last_error(ctx));
    cfg->no_device = 0;
    cfg->compile_error = "program_source:42:7: error: use of undeclared identifier 'flaot'";
    r = it_metal_backend_create(ctx, NULL, &be);
    check(r == IT_ERR_BACKEND && strstr(it_context_last_error(ctx), "undeclared identifier 'flaot'"),
          "compile failure -> IT_ERR_BACKEND with the compiler log: %s", it_context_last_error(ctx));
    cfg->compile_error = NULL;
    cfg->max_threads = 64;
    r = it_metal_backend_create(ctx, NULL, &be);
    check(r == IT_ERR_BACKEND_UNAVAILABLE, "pipelines below the tiled kernels' 256 threads -> unavailable: %s",
          it_context_last_error(ctx));
    cfg->max_threads = 0;
    cfg->simd_width = 64; /* an AMD GPU (an Intel Mac's default device) */
    r = it_metal_backend_create(ctx, NULL, &be);
    check(r == IT_ERR_BACKEND_UNAVAILABLE && !be && strstr(it_context_last_error(ctx), "64-wide SIMD groups"),
          "a 64-wide GPU -> IT_ERR_BACKEND_UNAVAILABLE: %s", it_context_last_error(ctx));
    if (r == IT_ERR_BACKEND_UNAVAILABLE) printf("  refused: %s\n", it_context_last_error(ctx));
    cfg->simd_width = 16; /* an Intel GPU */
    r = it_metal_backend_create(ctx, NULL, &be);
    check(r == IT_ERR_BACKEND_UNAVAILABLE && strstr(it_context_last_error(ctx), "16-wide"), "a 16-wide GPU is refused: %s",
          it_context_last_error(ctx));
    if (r == IT_ERR_BACKEND_UNAVAILABLE) printf("  refused: %s\n", it_context_last_error(ctx));
    cfg->simd_width = 0;
    cfg->apple_family = -1; /* not an Apple GPU at all */
    r = it_metal_backend_create(ctx, NULL, &be);
    check(r == IT_ERR_BACKEND_UNAVAILABLE && strstr(it_context_last_error(ctx), "not an Apple GPU"),
          "a device without MTLGPUFamilyApple7 is refused: %s", it_context_last_error(ctx));
    if (r == IT_ERR_BACKEND_UNAVAILABLE) printf("  refused: %s\n", it_context_last_error(ctx));
    cfg->apple_family = 0;
    check(fake_metal_live_objects(NULL, 0) == 0, "the refused backends released every object (%d alive)",
          fake_metal_live_objects(NULL, 0));
    it_context_destroy(ctx);
    ctx = new_ctx(1);
    if (ctx) { /* sizes past the kernels' 32-bit counters are refused on the host */
        it__mtl *m = (it__mtl *)it_context_backend(ctx)->impl;
        check(it__mtl_check_count(m, IT__MTL_MAX_ELEMENTS, "a tensor") == IT_OK, "2^31 - 1 elements are indexable");
        r = it__mtl_check_count(m, (size_t)IT__MTL_MAX_ELEMENTS + 1, "tensor 'huge'");
        check(r == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(ctx), "tensor 'huge' has 2147483648 elements"),
              "2^31 elements -> IT_ERR_UNSUPPORTED: %s", it_context_last_error(ctx));
        if (r == IT_ERR_UNSUPPORTED) printf("  refused: %s\n", it_context_last_error(ctx));
        r = it__mtl_check_count(m, (size_t)0xFFFFFFFFu - 100, "tensor 'wraps'"); /* a grid-stride loop would wrap */
        check(r == IT_ERR_UNSUPPORTED, "a size within one stride of 2^32 is refused");
        it_context_destroy(ctx);
    }
    {   /* a command buffer that fails on the GPU: IT_ERR_BACKEND with Metal's text, then recovery */
        it_context *mc = new_ctx(1);
        it_graph *g = it_graph_create(mc);
        it_tensor *w = it_param(mc, "w", 1, (int[]){300}), *loss = it_sum(g, it_mul(g, w, w));
        it_graph_backward(g, loss);
        it_graph_plan(g);
        it_param_fill(w, 2.0f);
        cfg->fail_dispatch = 2;
        r = it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
        check(r == IT_ERR_BACKEND && strstr(it_context_last_error(mc), "injected fault"),
              "a failing command buffer -> IT_ERR_BACKEND: %s", it_context_last_error(mc));
        cfg->fail_dispatch = 0;
        it_zero_grads(mc);
        r = it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
        check(r == IT_OK && it_data(loss)[0] == 1200.0f && it_grad(w)[7] == 4.0f, "the next step works (loss %g, grad %g)",
              it_data(loss)[0], it_grad(w)[7]);
        it_context_destroy(mc);
    }
}

/* Each validation the fake performs, triggered on purpose through the backend's message table. */
static int expect_validation(const char *what, const char *needle, int before) {
    int ok = fake_metal_validation_errors() > before && strstr(fake_metal_last_validation(), needle) != NULL;
    check(ok, "validation '%s' reported (last: %s)", what, fake_metal_last_validation());
    if (ok) printf("  negative: %-34s -> %s\n", what, fake_metal_last_validation());
    return ok;
}
static void negative_validations(void) {
    id dev, queue, cb, enc, buf, lib, fn, pso, src, name, err = NULL, big;
    void *pool;
    int n;
    char bytes[8192];
    it_elementwise_args args;
    fake_metal_config_get()->quiet = 1;
    it__mtl_objc_init();
    memset(bytes, 0, sizeof bytes);
    memset(&args, 0, sizeof args);
    args.n = 4;
    pool = objc_autoreleasePoolPush();
    dev = MTLCreateSystemDefaultDevice();
    queue = IT__MSG0(newCommandQueue, dev);
    buf = IT__MSG(newBufferWithLength, dev, (it__NSUInteger)64, (it__NSUInteger)0);
    big = IT__MSG(newBufferWithLength, dev, (it__NSUInteger)4096, (it__NSUInteger)0);
    src = IT__MSG(stringWithUTF8String, it__cls.NSString, "kernel void it_fill_f32(device float *out) {}");
    lib = IT__MSG(newLibraryWithSource, dev, src, (id)NULL, &err);
    name = IT__MSG(stringWithUTF8String, it__cls.NSString, "it_fill_f32");
    fn = IT__MSG(newFunctionWithName, lib, name);
    pso = IT__MSG(newComputePipelineState, dev, fn, &err);

    cb = IT__MSG0(commandBuffer, queue);
    enc = IT__MSG0(computeCommandEncoder, cb);
    IT__MSG(setComputePipelineState, enc, pso);
    n = fake_metal_validation_errors();
    IT__MSG(setBytes, enc, (const void *)bytes, (it__NSUInteger)5000, (it__NSUInteger)1);
    expect_validation("setBytes over 4 KiB", "over 4 KiB", n);
    n = fake_metal_validation_errors();
    IT__MSG(setThreadgroupMemoryLength, enc, (it__NSUInteger)40960, (it__NSUInteger)0);
    expect_validation("threadgroup memory over 32 KiB", "over 32 KiB", n);
    IT__MSG(setThreadgroupMemoryLength, enc, (it__NSUInteger)0, (it__NSUInteger)0);
    n = fake_metal_validation_errors();
    IT__MSG(setBuffer, enc, buf, (it__NSUInteger)2, (it__NSUInteger)0);
    expect_validation("misaligned buffer offset", "not 4-byte aligned", n);
    n = fake_metal_validation_errors();
    IT__MSG(setBuffer, enc, buf, (it__NSUInteger)64, (it__NSUInteger)0);
    expect_validation("offset past the buffer", ">= buffer length", n);
    n = fake_metal_validation_errors();
    IT__MSG(setBuffer, enc, (id)NULL, (it__NSUInteger)0, (it__NSUInteger)0);
    IT__MSG(setBytes, enc, (const void *)&args, (it__NSUInteger)sizeof args, (it__NSUInteger)1);
    IT__MSG(dispatchThreads, enc, it__size(4, 1, 1), it__size(4, 1, 1));
    expect_validation("unbound kernel argument", "is not bound", n);
    IT__MSG(setBuffer, enc, buf, (it__NSUInteger)0, (it__NSUInteger)0);
    n = fake_metal_validation_errors();
    IT__MSG(setBytes, enc, (const void *)&args, (it__NSUInteger)4, (it__NSUInteger)1);
    IT__MSG(dispatchThreads, enc, it__size(4, 1, 1), it__size(4, 1, 1));
    expect_validation("setBytes shorter than the struct", "setBytes gave 4", n);
    IT__MSG(setBytes, enc, (const void *)&args, (it__NSUInteger)sizeof args, (it__NSUInteger)1);
    n = fake_metal_validation_errors();
    IT__MSG(dispatchThreads, enc, it__size(4096, 1, 1), it__size(2048, 1, 1));
    expect_validation("over 1024 threads per threadgroup", "(1..1024)", n);
    IT__MSG0(endEncoding, enc);
    n = fake_metal_validation_errors();
    IT__MSG(dispatchThreads, enc, it__size(4, 1, 1), it__size(4, 1, 1));
    expect_validation("encoding after endEncoding", "after endEncoding", n);
    n = fake_metal_validation_errors();
    IT__MSG0(waitUntilCompleted, cb);
    expect_validation("wait before commit", "never committed", n);
    IT__MSG0(commit, cb);
    n = fake_metal_validation_errors();
    IT__MSG0(commit, cb);
    expect_validation("commit twice", "commit called twice", n);
    IT__MSG0(waitUntilCompleted, cb);
    {   /* MPS: the result overlapping an input */
        id d = IT__MSG(matrixDescriptor, it__cls.MPSMatrixDescriptor, (it__NSUInteger)4, (it__NSUInteger)4, (it__NSUInteger)16,
                       (it__MPSDataType)IT__MPS_FLOAT32);
        id A = IT__MSG0(alloc, it__cls.MPSMatrix), C = IT__MSG0(alloc, it__cls.MPSMatrix), G = IT__MSG0(alloc, it__cls.MPSMatrixMultiplication);
        id cb2 = IT__MSG0(commandBuffer, queue);
        A = IT__MSG(initWithBuffer, A, big, (it__NSUInteger)0, d);
        C = IT__MSG(initWithBuffer, C, big, (it__NSUInteger)32, d);
        G = IT__MSG(initMatMul, G, dev, (BOOL)0, (BOOL)0, (it__NSUInteger)4, (it__NSUInteger)4, (it__NSUInteger)4, 1.0, 0.0);
        n = fake_metal_validation_errors();
        IT__MSG(encodeMatMul, G, cb2, A, A, C);
        expect_validation("MPS result overlapping an input", "overlaps an input", n);
        IT__MSG0(commit, cb2);
        IT__MSG0(waitUntilCompleted, cb2);
        it__release(A);
        it__release(C);
        it__release(G);
    }
    {   /* finding 2's failure: a pool the library leaves open across a call, inside the host's */
        void *host = objc_autoreleasePoolPush(), *lib = objc_autoreleasePoolPush();
        id held = IT__MSG0(commandBuffer, queue); /* +0: lives in the library's pool, not retained */
        objc_autoreleasePoolPop(host);            /* the host's @autoreleasepool ends first */
        n = fake_metal_validation_errors();
        IT__MSG0(status, held);
        expect_validation("an object the host's pool freed", "use after release", n);
        n = fake_metal_validation_errors();
        objc_autoreleasePoolPop(lib);
        expect_validation("library pool popped after the host's", "is not open", n);
    }
    objc_autoreleasePoolPop(pool);
    n = fake_metal_validation_errors();
    IT__MSG0(commandBuffer, queue); /* autoreleased with no pool in place */
    expect_validation("autorelease with no pool", "no autorelease pool", n);
    it__release(fn);
    it__release(pso);
    it__release(lib);
    it__release(big);
    it__release(buf);
    n = fake_metal_validation_errors();
    IT__MSG0(contents, buf);
    expect_validation("use after release", "use after release", n);
    n = fake_metal_validation_errors();
    it__release(buf);
    expect_validation("over-release", "over-release", n);
    it__release(queue);
    it__release(dev);
    fake_metal_config_get()->quiet = 0;
}
#endif

int main(void) {
    it_model_config llama, gpt2;
    count_alloc_trap_unused();
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef IT_METAL_FAKE
    fake_metal_install();
#endif
    memset(&llama, 0, sizeof llama);
    llama.arch = IT_ARCH_LLAMA;
    llama.vocab_size = 61;
    llama.dim = 32;
    llama.n_layers = 2;
    llama.n_heads = 4;
    llama.n_kv_heads = 2; /* GQA */
    llama.ffn_dim = 48;
    llama.max_seq = 8;
    it_model_preset("gpt2-tiny", &gpt2); /* shrunk to test size */
    gpt2.vocab_size = 67;
    gpt2.dim = 32;
    gpt2.n_layers = 2;
    gpt2.n_heads = 4;
    gpt2.n_kv_heads = 4;
    gpt2.ffn_dim = 64;
    gpt2.max_seq = 8;
    {
        run_cfg lion, adamw, sgd, clip;
        memset(&lion, 0, sizeof lion);
        lion.kind = IT_OPTIMIZER_LION;
        adamw = lion;
        adamw.kind = IT_OPTIMIZER_ADAMW;
        sgd = lion;
        sgd.kind = IT_OPTIMIZER_SGD;
        sgd.momentum = 0.9f;
        clip = adamw; /* a tiny clip: every step clips; decayed vectors; a 1/2 scale; the clip scale on the GPU */
        clip.clip_norm = 1e-3f;
        clip.decay_vectors = 1;
        clip.grad_scale = 0.5f;
        train_compare("llama-gqa-lion", &llama, &lion, 2, 8);
        train_compare("llama-gqa-adamw", &llama, &adamw, 2, 8);
        train_compare("llama-gqa-sgd", &llama, &sgd, 2, 8);
        train_compare("llama-gqa-adamw-clip", &llama, &clip, 2, 8);
        clip.want_norm = 1; /* the norm asked for as well: read back with the next wait, still one wait a step */
        train_compare("llama-gqa-adamw-clip-norm", &llama, &clip, 2, 8);
        clip.want_norm = 0;
        clip.ops_per_cb = 16; /* the watchdog cut: many command buffers, still one wait */
        train_compare("llama-gqa-adamw-clip-cut16", &llama, &clip, 2, 8);
        clip.ops_per_cb = 0;
        train_compare("gpt2-lion", &gpt2, &lion, 2, 8);
        train_compare("gpt2-adamw", &gpt2, &adamw, 2, 8);
        train_compare("gpt2-sgd", &gpt2, &sgd, 2, 8);
        clip.kind = IT_OPTIMIZER_SGD; /* linear in the clip scale: the strictest check of it */
        clip.momentum = 0.9f;
        train_compare("gpt2-sgd-clip", &gpt2, &clip, 2, 8);
        /* over 64 rows: the column reductions (norm weights, biases) in two passes, partials then
           their sum; the runs above have one row block (one pass) */
        train_compare("llama-gqa-lion-72rows", &llama, &lion, 9, 8);
        train_compare("gpt2-lion-96rows", &gpt2, &lion, 12, 8);
        adamw.freeze = 1; /* the optimizer's dispatch runs skip frozen parameters; state follows the gradients */
        train_compare("llama-gqa-adamw-frozen", &llama, &adamw, 2, 8);
        lion.freeze = 1;
        train_compare("gpt2-lion-frozen", &gpt2, &lion, 2, 8);
        lion.freeze = 0;
        {   /* LoRA fine-tunes: the fused branch on the GPU (shaders/lora.metal), the base frozen */
            run_cfg lora = lion;
            lora.kind = IT_OPTIMIZER_ADAMW;
            lora.clip_norm = 0.05f; /* clipping on: still one wait */
            lora.lora_rank = 4;
            lora.lora_targets = "all-linear";
            train_compare("llama-gqa-lora-adamw-clip", &llama, &lora, 2, 8);
            lora = lion;
            lora.lora_rank = 3;
            lora.lora_targets = "c_attn,c_proj,c_fc"; /* GPT-2's [in, out] base weights */
            train_compare("gpt2-lora-lion", &gpt2, &lora, 2, 8);
            lora.bf16 = 1;
            train_compare("gpt2-lora-lion-bf16", &gpt2, &lora, 2, 8);
        }
        {   /* bf16 mixed precision (issue 17): every graph product on the simdgroup-matrix kernel
               with bf16 operands and fp32 sums, against the CPU's bf16 products; no MPS. On an OS
               without MSL 3.1 (macOS 13) the same products on it_matmul_f32's rounded tiles. */
            run_cfg b = lion;
            b.bf16 = 1;
            train_compare("llama-gqa-lion-bf16", &llama, &b, 2, 8);
#ifdef IT_METAL_FAKE
            fake_metal_config_get()->max_language = 0x30000ul;
            train_compare("llama-gqa-lion-bf16-msl3.0", &llama, &b, 2, 8);
            fake_metal_config_get()->max_language = 0;
#endif
            b = adamw;
            b.freeze = 0;
            b.bf16 = 1;
            b.clip_norm = 0.05f;
            train_compare("gpt2-adamw-clip-bf16", &gpt2, &b, 2, 8);
        }
        {   /* a sliding window in training (Mistral) */
            it_model_config win = llama;
            win.family = IT_FAMILY_MISTRAL;
            win.sliding_window = 3;
            train_compare("mistral-window3-lion", &win, &lion, 2, 8);
        }
        {   /* scaled RoPE in training (Llama 3.1+, and linear) */
            it_model_config scaled = llama;
            scaled.rope_theta = 500.0f;
            scaled.rope_scaling.kind = IT_ROPE_LLAMA3;
            scaled.rope_scaling.factor = 8.0f;
            scaled.rope_scaling.low_freq_factor = 1.0f;
            scaled.rope_scaling.high_freq_factor = 4.0f;
            scaled.rope_scaling.original_max_positions = 64;
            train_compare("llama3-rope-scaled-lion", &scaled, &lion, 2, 8);
        }
    }
    optimizer_guard();
    ops_compare();
    mps_beta_zero();
    {
        it_model_config dl = llama, dg = gpt2, dq = llama, dm = llama;
        dl.max_seq = dg.max_seq = dq.max_seq = dm.max_seq = 16;
        decode_compare("llama-gqa", &dl, 0);
        decode_compare("gpt2", &dg, 0);
        dq.family = IT_FAMILY_QWEN3; /* q/k norms, attention biases, an explicit head dim */
        dq.qk_norm = 1;
        dq.qkv_bias = dq.o_bias = 1;
        dq.head_dim = 16;
        decode_compare("qwen3-like", &dq, 0);
        dm.family = IT_FAMILY_MISTRAL; /* a sliding window shorter than the prompt */
        dm.sliding_window = 3;
        decode_compare("mistral-window3", &dm, 0);
        dl.rope_scaling.kind = IT_ROPE_LLAMA3; /* Llama 3.1+'s scaled frequencies (a small band for head dim 8) */
        dl.rope_scaling.factor = 8.0f;
        dl.rope_scaling.low_freq_factor = 1.0f;
        dl.rope_scaling.high_freq_factor = 4.0f;
        dl.rope_scaling.original_max_positions = 64;
        dl.rope_theta = 500.0f;
        decode_compare("llama3-rope-scaled", &dl, 0);
        {   /* weights in their storage types: every input width a multiple of 32 (Q8_0 / Q4_0 blocks) */
            it_model_config ql = llama, qg = gpt2;
            ql.ffn_dim = 64;
            ql.max_seq = qg.max_seq = 16;
            decode_compare("llama-gqa", &ql, IT_WEIGHT_Q8_0);
            decode_compare("llama-gqa", &ql, IT_WEIGHT_Q4_0);
            decode_compare("llama-gqa", &ql, IT_WEIGHT_BF16);
            decode_compare("gpt2", &qg, IT_WEIGHT_Q4_0); /* [in, out] weights: the core's copies are [out, in] */
            dq.ffn_dim = 64;
            decode_compare("qwen3-like", &dq, IT_WEIGHT_Q8_0); /* biases and q/k norms beside quantised products */
        }
    }
    allocator_life();
#ifdef IT_METAL_FAKE
    check(fake_metal_validation_errors() == 0, "no validation errors from the training and op runs (%s)",
          fake_metal_last_validation());
    {   /* the reverse of test_kernels' coverage check: no kernel in shaders/ is dead code, except
           the ones named here with the reason (each still tested on the emulator by test_kernels) */
        static const char *const not_yet[] = {
            "it_paged_attention_f32", /* the batch decoder (>>paged) runs on the CPU; no Metal batch path yet */
            "it_f32_to_bf16",         /* the CUDA backend's bf16 operands; Metal rounds inside its tiled matmul */
            "it_attention_scores_softmax_f32",  /* the CUDA backend's attention as cuBLAS products; */
            "it_attention_scores_backward_f32", /* Metal runs the tiled attention kernels */
        };
        char names[2048], *p, *q;
        int total, missing = fake_metal_undispatched_kernels(&total, names, sizeof names), k, excused = 0;
        for (k = 0; k < (int)(sizeof not_yet / sizeof not_yet[0]); k++)
            if ((p = strstr(names, not_yet[k])) != NULL) { /* drop it from the list */
                q = p + strlen(not_yet[k]);
                if (*q == ',') q += 2;
                else if (p > names) p -= 2;
                memmove(p, q, strlen(q) + 1);
                excused++;
            }
        check(total > 0 && missing == excused, "every kernel in shaders/ is dispatched by the backend (%d of %d never: %s)",
              missing - excused, total, names);
        printf("fake-metal: %d kernels in shaders/, %d never dispatched by the backend (%d excused: no Metal path uses "
               "them yet)\n", total, missing - excused, excused);
    }
    errors_backend();
    bfloat_isolation();
    {
        char buf[256];
        int live = fake_metal_live_objects(buf, sizeof buf);
        check(live == 0, "no Metal objects alive after every context is destroyed (%d: %s)", live, buf);
        printf("fake-metal teardown: %d objects alive\n", live);
        negative_validations();
        live = fake_metal_live_objects(buf, sizeof buf);
        check(live == 1, "after the negative tests only the deliberately pool-less command buffer is alive (%d: %s)", live, buf);
    }
#endif
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
