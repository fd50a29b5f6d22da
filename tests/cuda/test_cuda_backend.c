/* test_cuda_backend.c - the real irontensor_cuda.h against the CPU backend, on a GPU (the device
   machine; tests/cuda/device.sh) or on the fake driver (make test-cuda, FAKE: tests/cuda/fake_cuda.c
   linked in, kernels on the MSL emulator).
   - Llama (GQA) and GPT-2 with Lion, AdamW and SGD (momentum), and AdamW with clipping and the
     norm read back: 3 training steps in a training loop's order (it_zero_grads, run,
     it_optimizer_step): loss, gradients, parameters and optimizer state match the CPU to 1e-4;
     one line per step with the backend's counters (records, launches, graph captures/launches,
     bytes up and down); from step 2 on the step is a replay: no capture, one graph launch;
   - greedy KV-cache decoding from the trained models: the same tokens as the CPU's;
   - the GPU decoder (the backend's decoder hooks) against the CPU decoder: Llama GQA and GPT-2 in
     f32, bf16, Q8_0 and Q4_0, a sliding window, q/k norms: prompt logits to 1e-4, greedy and
     sampled tokens equal, one wait per token and the same launches every token, or with the token
     graphs (the default; --no-graphs: it_cuda_desc.no_graphs, which launches those one by one too) one graph launch a token and no
     kernel launch (the fake's counters agree);
     a LoRA adapter refused, a failed stream reported with the position unchanged;
   - the optimizer's guard (a non-finite norm: IT_ERR_RANGE, nothing updated);
   - host coherence: a host write through it_data after a step reaches the device, a read
     after a device write sees it.
   Ends with "N passed, N failed". */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "../../irontensor_cuda.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef FAKE
#include "fake_cuda.h"
#define TAG "fake-cuda"
#else
#define TAG "cuda"
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
static it_cuda_desc g_desc;
static it_dtype g_dtype = IT_F32; /* the contexts' compute dtype (IT_BF16: bf16 matrix products on both sides) */
static double g_tol = 1e-4;      /* CUDA against the CPU: loss, gradients, parameters, state */
static int g_quick;
static int g_decode_only; /* --decode: only the GPU decoder's comparisons (device and sanitizer runs) */

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
/* GPT-2's key bias has an exactly zero gradient: round-off there turns into +-lr under Lion/AdamW
   (tests/metal/test_backend.c says the same), so it is compared on gradients only */
static int zero_grad_param(const char *name) { return strstr(name, "attn.k.bias") != NULL; }
static double worst_param_err(it_context *a, it_context *b, int grads, const char **where) {
    int i;
    double w = 0, gmax = 0;
    for (i = 0; grads && i < it_param_count(b); i++) {
        it_tensor *p = it_param_at(b, i);
        size_t j;
        if (!it_grad(p)) continue;
        for (j = 0; j < it_tensor_numel(p); j++) gmax = fabs(it_grad(p)[j]) > gmax ? fabs(it_grad(p)[j]) : gmax;
    }
    for (i = 0; i < it_param_count(a); i++) {
        it_tensor *pa = it_param_at(a, i), *pb = it_param_at(b, i);
        double e;
        if (!grads && zero_grad_param(it_tensor_name(pa))) continue;
        if (grads && !it_grad(pa) && !it_grad(pb)) continue;
        e = grads ? rel_err(it_grad(pa), it_grad(pb), it_tensor_numel(pa), 1e-3 * gmax)
                  : rel_err(it_data(pa), it_data(pb), it_tensor_numel(pa), 0.0);
        if (e > w) {
            w = e;
            *where = it_tensor_name(pa);
        }
    }
    return w;
}
static it_context *new_ctx(int cuda) {
    it_context_desc d;
    it_context *ctx;
    memset(&d, 0, sizeof d);
    d.n_threads = 2;
    d.logger.log = quiet_logger;
    d.compute_dtype = g_dtype;
    if (it_context_create(&d, &ctx) != IT_OK) return NULL;
    if (cuda) {
        it_backend *be;
        if (it_cuda_backend_create(ctx, &g_desc, &be) != IT_OK) {
            printf("cuda backend: %s\n", it_context_last_error(ctx));
            it_context_destroy(ctx);
            return NULL;
        }
        it_context_set_backend(ctx, be);
    }
    return ctx;
}
typedef struct side {
    it_context *ctx;
    it_model *model;
    it_model_graph mg;
    it_optimizer *opt;
} side;
typedef struct run_cfg {
    it_optimizer_kind kind;
    float clip_norm, momentum;
    int want_norm;
} run_cfg;
static int side_make(side *s, int cuda, const it_model_config *cfg, const run_cfg *rc, int B, int T) {
    it_optimizer_desc od;
    memset(s, 0, sizeof *s);
    if (!(s->ctx = new_ctx(cuda))) return 0;
    if (it_model_create(s->ctx, cfg, &s->model) != IT_OK) return 0;
    if (it_model_graph_create(s->model, IT_PURPOSE_TRAIN, B, T, &s->mg) != IT_OK) return 0;
    if (it_model_init(s->model, 1234) != IT_OK) return 0;
    memset(&od, 0, sizeof od);
    od.kind = rc->kind;
    od.weight_decay = 0.1f;
    od.clip_norm = rc->clip_norm;
    od.momentum = rc->momentum;
    return it_optimizer_create(s->ctx, &od, &s->opt) == IT_OK;
}
static void side_free(side *s) {
    if (s->opt) it_optimizer_destroy(s->opt);
    it_model_graph_destroy(&s->mg);
    if (s->model) it_model_destroy(s->model);
    if (s->ctx) it_context_destroy(s->ctx);
}
static void decode_compare(const char *name, side *c, side *g, int n_new) {
    it_decoder *dc, *dg;
    int32_t tc = 1, tg = 1;
    int i, same = 1;
    if (it_decoder_create(c->model, 2 + n_new, &dc) != IT_OK || it_decoder_create(g->model, 2 + n_new, &dg) != IT_OK) {
        check(0, "%s: decoders", name);
        return;
    }
    for (i = 0; i < n_new; i++) {
        const float *lc, *lg;
        int v, ac = 0, ag = 0;
        if (it_decoder_feed(dc, &tc, 1, &lc) != IT_OK || it_decoder_feed(dg, &tg, 1, &lg) != IT_OK) {
            same = 0;
            break;
        }
        for (v = 1; v < c->model->config.vocab_size; v++) {
            if (lc[v] > lc[ac]) ac = v;
            if (lg[v] > lg[ag]) ag = v;
        }
        same &= ac == ag;
        tc = ac, tg = ag;
    }
    check(same, "%s: %d greedy KV-cache decode tokens equal the CPU's", name, n_new);
    printf("%s model=%s decode: %d greedy tokens %s\n", TAG, name, n_new, same ? "equal the CPU's" : "DIFFER");
    it_decoder_destroy(dc);
    it_decoder_destroy(dg);
}
static void train_compare(const char *name, const it_model_config *cfg, const run_cfg *rc, int B, int T) {
    side c, g;
    it_rng rng;
    int step, i;
    int ok = side_make(&c, 0, cfg, rc, B, T) && side_make(&g, 1, cfg, rc, B, T);
    check(ok, "%s: both contexts, models, graphs and optimizers are made", name);
    if (!ok) {
        side_free(&c);
        side_free(&g);
        return;
    }
    it_rng_seed(&rng, 99);
    for (step = 1; step <= 3; step++) {
        it_cuda_stats s0 = it_cuda_backend_stats(it_context_backend(g.ctx)), s1;
#ifdef FAKE
        fake_cuda_counters f0 = fake_cuda_counts;
#endif
        const char *where = "";
        float lc, lg, nc = -1.0f, ng = -2.0f;
        double ge, pe;
        it_result r_c, r_g;
        it_zero_grads(c.ctx);
        it_zero_grads(g.ctx);
        for (i = 0; i < B * T; i++) {
            int32_t tok = (int32_t)it_rng_below(&rng, (uint32_t)cfg->vocab_size);
            it_data_i32(c.mg.tokens)[i] = it_data_i32(g.mg.tokens)[i] = tok;
            it_data_i32(c.mg.targets)[i] = it_data_i32(g.mg.targets)[i] = (tok * 7 + 3) % cfg->vocab_size;
        }
        r_c = it_graph_run(c.mg.graph, IT_RUN_FORWARD_BACKWARD);
        r_g = it_graph_run(g.mg.graph, IT_RUN_FORWARD_BACKWARD);
        check(r_c == IT_OK && r_g == IT_OK, "%s step %d: runs (%s)", name, step, it_context_last_error(g.ctx));
        lc = it_data(c.mg.loss)[0];
        lg = it_data(g.mg.loss)[0];
        check(fabs((double)lc - lg) <= g_tol * fabs((double)lc), "%s step %d: loss %.7f vs CPU %.7f", name, step, lg, lc);
        ge = worst_param_err(g.ctx, c.ctx, 1, &where);
        check(ge <= g_tol, "%s step %d: gradients match the CPU (worst %.2e in %s)", name, step, ge, where);
        r_c = it_optimizer_step(c.opt, 1e-3f, 1.0f, rc->want_norm ? &nc : NULL);
        r_g = it_optimizer_step(g.opt, 1e-3f, 1.0f, rc->want_norm ? &ng : NULL);
        check(r_c == IT_OK && r_g == IT_OK, "%s step %d: optimizer steps (%s)", name, step, it_context_last_error(g.ctx));
        if (rc->want_norm)
            check(fabs((double)nc - ng) <= g_tol * fabs((double)nc) && (rc->clip_norm <= 0 || nc > rc->clip_norm),
                  "%s step %d: gradient norm %.7g vs CPU %.7g (clipping at %g)", name, step, ng, nc, rc->clip_norm);
        pe = worst_param_err(g.ctx, c.ctx, 0, &where);
        check(pe <= g_tol, "%s step %d: parameters match the CPU after %s (worst %.2e in %s)", name, step,
              it_optimizer_name(rc->kind), pe, where);
        it_context_synchronize(g.ctx); /* the state block is read directly */
        pe = rel_err(g.opt->state, c.opt->state, c.opt->state_numel, 1e-30);
        check(pe <= g_tol, "%s step %d: optimizer state matches the CPU (%.2e)", name, step, pe);
        s1 = it_cuda_backend_stats(it_context_backend(g.ctx));
        printf("%s model=%s opt=%s step=%d loss_cpu=%.6f loss_cuda=%.6f records=%lu launches=%lu captures=%lu graph_launches=%lu "
               "up=%llu down=%llu bytes\n", TAG, name, it_optimizer_name(rc->kind), step, lc, lg, s1.records - s0.records,
               s1.kernel_launches - s0.kernel_launches, s1.graph_captures - s0.graph_captures,
               s1.graph_launches - s0.graph_launches, s1.upload_bytes - s0.upload_bytes, s1.download_bytes - s0.download_bytes);
#ifdef FAKE /* what the fake driver saw equals what the backend counted */
        check(fake_cuda_counts.launches - f0.launches == s1.kernel_launches - s0.kernel_launches &&
                  fake_cuda_counts.graph_launches - f0.graph_launches == s1.graph_launches - s0.graph_launches &&
                  fake_cuda_counts.captures - f0.captures == s1.graph_captures - s0.graph_captures &&
                  fake_cuda_counts.bytes_up - f0.bytes_up == s1.upload_bytes - s0.upload_bytes,
              "%s step %d: the fake driver's counters agree with the backend's (launches %lu/%lu, graphs %lu/%lu, captures %lu/%lu, "
              "bytes up %llu/%llu)", name, step, fake_cuda_counts.launches - f0.launches, s1.kernel_launches - s0.kernel_launches,
              fake_cuda_counts.graph_launches - f0.graph_launches, s1.graph_launches - s0.graph_launches,
              fake_cuda_counts.captures - f0.captures, s1.graph_captures - s0.graph_captures, fake_cuda_counts.bytes_up - f0.bytes_up,
              s1.upload_bytes - s0.upload_bytes);
#endif
        if (step > 2 && !g_desc.no_graphs)
            check(s1.graph_captures == s0.graph_captures && s1.graph_launches - s0.graph_launches == 1,
                  "%s step %d: the step replays its CUDA graph (%lu captures, %lu launches)", name, step,
                  s1.graph_captures - s0.graph_captures, s1.graph_launches - s0.graph_launches);
    }
    decode_compare(name, &c, &g, 12);
    side_free(&c);
    side_free(&g);
}

/* A one-layer Llama (GQA 2/1) small enough for the refusal and error-path cases. */
static it_model_config one_layer_llama(void) {
    it_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = IT_ARCH_LLAMA;
    c.vocab_size = 31;
    c.dim = 32;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.ffn_dim = 32;
    c.max_seq = 8;
    return c;
}
/* The KV-cache decoder on the GPU (the backend's decoder hooks) against the CPU decoder of the same
   weights: the prompt in one call (cuBLAS), then one token per call (matvec kernels), greedy on
   the GPU; logits within 1e-4 and the same tokens; one wait per token and the same launches for
   every token. Then: reset, sampling on the GPU (top-k, top-p, min-p, repetition penalty: the
   same tokens from the same generator), greedy after the penalty, a bad id. With weights bf16 /
   Q8_0 / Q4_0 both sides decode from the same quantised copies (the CPU's quantised decoder is
   the reference). One line per model:
     cuda decode model=NAME tokens=N waits_per_token=A launches_per_token=B bytes_down_per_token=C */
static void decoder_compare(const char *name, const it_model_config *cfg, it_weight_type weights) {
    enum { PROMPT = 5, GEN = 8 };
    it_context *ctx[2];
    it_model *model[2];
    it_decoder *dec[2];
    const float *lg[2];
    int32_t prompt[PROMPT], tok[2], bad = (int32_t)cfg->vocab_size;
    it_sampling greedy, warm;
    it_rng rng[2];
    it_cuda_stats s0, s1;
    int s, i, same = 1, same_sampled = 1, V = cfg->vocab_size, even = 1;
    double e, worst = 0;
    unsigned long waits = 0, max_waits = 0, launches = 0, first_launches = 0, graph_launches = 0, builds = 0;
    unsigned long long down = 0;
    it_result r;
    it_decoder_desc desc;
    char full_name[64];
#ifdef FAKE
    fake_cuda_counters f0;
    int fake_agrees = 1;
    unsigned long updates = 0;
#endif
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
        check(it_model_create(ctx[s], cfg, &model[s]) == IT_OK && it_model_init(model[s], 4321) == IT_OK, "decode %s: model (%s)",
              name, it_context_last_error(ctx[s]));
        r = it_decoder_create_ex(model[s], &desc, &dec[s]);
        check(r == IT_OK, "decode %s: decoder (%s)", name, it_context_last_error(ctx[s]));
        if (r != IT_OK) goto out;
    }
    for (i = 0; i < PROMPT; i++) prompt[i] = (int32_t)((i * 13 + 5) % V);
    for (s = 0; s < 2; s++)
        check(it_decoder_feed(dec[s], prompt, PROMPT, &lg[s]) == IT_OK, "decode %s: prompt (%s)", name, it_context_last_error(ctx[s]));
    e = rel_err(lg[1], lg[0], (size_t)V, 0.0);
    check(e <= 1e-4, "decode %s: the prompt's logits match the CPU decoder (%.2e)", name, e);
    memset(&greedy, 0, sizeof greedy);
    tok[0] = tok[1] = (int32_t)it_cpu_argmax(lg[0], V);
    for (i = 0; i < GEN; i++) {
        int32_t in0 = tok[0], in1 = tok[1];
        check(it_decoder_next(dec[0], &in0, 1, &greedy, NULL, &tok[0]) == IT_OK, "decode %s: cpu token %d", name, i);
        s0 = it_cuda_backend_stats(it_context_backend(ctx[1]));
#ifdef FAKE
        f0 = fake_cuda_counts;
#endif
        r = it_decoder_next(dec[1], &in1, 1, &greedy, NULL, &tok[1]);
        s1 = it_cuda_backend_stats(it_context_backend(ctx[1]));
        check(r == IT_OK, "decode %s: cuda token %d (%s)", name, i, it_context_last_error(ctx[1]));
        same &= tok[0] == tok[1];
        waits += s1.waits - s0.waits;
        if (s1.waits - s0.waits > max_waits) max_waits = s1.waits - s0.waits;
        launches += s1.kernel_launches - s0.kernel_launches;
        graph_launches += s1.graph_launches - s0.graph_launches;
        builds += s1.graph_captures - s0.graph_captures;
        if (!i) first_launches = s1.kernel_launches - s0.kernel_launches;
        if (g_desc.no_graphs) /* every kernel launched: the same ones every token */
            even &= s1.kernel_launches - s0.kernel_launches == first_launches && first_launches > 0 &&
                    s1.graph_launches == s0.graph_launches;
        else /* one graph launch a token, no kernel launched on its own */
            even &= s1.kernel_launches == s0.kernel_launches && s1.graph_launches - s0.graph_launches == 1;
        down += s1.download_bytes - s0.download_bytes;
#ifdef FAKE
        fake_agrees &= fake_cuda_counts.synchronizes - f0.synchronizes == s1.waits - s0.waits &&
                       fake_cuda_counts.launches - f0.launches == s1.kernel_launches - s0.kernel_launches &&
                       fake_cuda_counts.bytes_down - f0.bytes_down == s1.download_bytes - s0.download_bytes &&
                       fake_cuda_counts.captures - f0.captures == s1.graph_captures - s0.graph_captures &&
                       fake_cuda_counts.graph_launches - f0.graph_launches == s1.graph_launches - s0.graph_launches;
        updates += fake_cuda_counts.node_updates - f0.node_updates;
#endif
        if (!same) break;
    }
    printf("%s decode model=%s tokens=%d waits_per_token=%lu launches_per_token=%lu graph_launches_per_token=%lu graph_builds=%lu "
           "bytes_down_per_token=%llu\n", TAG, name, GEN, waits / GEN, launches / GEN, graph_launches / GEN, builds, down / GEN);
#ifdef FAKE
    if (!g_desc.no_graphs) printf("%s decode model=%s graph nodes updated per token: %.1f\n", TAG, name, (double)updates / GEN);
#endif
    check(same, "decode %s: %d greedy tokens equal to the CPU decoder's (stopped at %d vs %d)", name, GEN, tok[1], tok[0]);
    check(max_waits == 1 && waits == GEN, "decode %s: one wait per token (at most %lu, %lu in all)", name, max_waits, waits);
    check(even && down == (unsigned long long)GEN * ((size_t)V * sizeof(float) + sizeof(int32_t)) && builds == (g_desc.no_graphs ? 0u : 1u),
          "decode %s: every token %s, and only the logits and the id copied back (%llu bytes)", name,
          g_desc.no_graphs ? "the same kernel launches" : "one launch of the graph built for the first", down);
#ifdef FAKE
    check(fake_agrees, "decode %s: the fake driver saw the waits, launches and copies the backend counted, and no graph", name);
#endif
    /* the position and the cache: a reset and the same prompt give the same logits again */
    for (s = 0; s < 2; s++) {
        it_decoder_reset(dec[s]);
        check(it_decoder_feed(dec[s], prompt, PROMPT, &lg[s]) == IT_OK && it_decoder_pos(dec[s]) == PROMPT,
              "decode %s: reset and the prompt again", name);
    }
    e = rel_err(lg[1], lg[0], (size_t)V, 0.0);
    worst = e > worst ? e : worst;
    for (i = 0; i < 4; i++) { /* one token a call (the matvec path): its logits too, not only their argmax */
        int32_t t1 = (int32_t)((i * 29 + 3) % V);
        for (s = 0; s < 2; s++)
            check(it_decoder_feed(dec[s], &t1, 1, &lg[s]) == IT_OK, "decode %s: token %d fed (%s)", name, i, it_context_last_error(ctx[s]));
        e = rel_err(lg[1], lg[0], (size_t)V, 0.0);
        worst = e > worst ? e : worst;
    }
    /* sampling on the GPU (it_sample_f32 after the repetition penalty over the cache's ids) */
    memset(&warm, 0, sizeof warm);
    warm.temperature = 0.8f;
    warm.top_k = 7;
    warm.top_p = 0.95f;
    warm.min_p = 0.02f;
    it_rng_seed(&rng[0], 5);
    it_rng_seed(&rng[1], 5);
    for (s = 0; s < 2; s++) check(it_decoder_set_repetition_penalty(dec[s], 1.3f) == IT_OK, "decode %s: penalty", name);
    tok[0] = tok[1] = prompt[0];
    waits = max_waits = 0;
    for (i = 0; i < GEN && same_sampled; i++) {
        int32_t in0 = tok[0], in1 = tok[1];
        check(it_decoder_next(dec[0], &in0, 1, &warm, &rng[0], &tok[0]) == IT_OK, "decode %s: cpu sampled token %d", name, i);
        s0 = it_cuda_backend_stats(it_context_backend(ctx[1]));
        r = it_decoder_next(dec[1], &in1, 1, &warm, &rng[1], &tok[1]);
        s1 = it_cuda_backend_stats(it_context_backend(ctx[1]));
        check(r == IT_OK, "decode %s: cuda sampled token %d (%s)", name, i, it_context_last_error(ctx[1]));
        same_sampled &= tok[0] == tok[1];
        waits += s1.waits - s0.waits;
        if (s1.waits - s0.waits > max_waits) max_waits = s1.waits - s0.waits;
    }
    check(worst <= 1e-4 && same_sampled, "decode %s: after a reset the logits of the prompt and of 4 single tokens match (%.2e); %d sampled tokens (top-k, top-p, "
          "min-p, repetition penalty 1.3) equal to the CPU decoder's", name, worst, GEN);
    check(max_waits == 1 && waits == (unsigned long)i, "decode %s: sampled on the GPU: one wait per token (%lu)", name, max_waits);
    {   /* the penalty before a greedy pick (it_argmax_f32 on the penalised logits) */
        int32_t in0 = tok[0], in1 = tok[1];
        check(it_decoder_next(dec[0], &in0, 1, &greedy, NULL, &tok[0]) == IT_OK &&
                  it_decoder_next(dec[1], &in1, 1, &greedy, NULL, &tok[1]) == IT_OK && tok[0] == tok[1],
              "decode %s: a greedy token after the repetition penalty equal to the CPU's (%d vs %d)", name, tok[1], tok[0]);
    }
    /* a bad id: IT_ERR_RANGE and nothing fed; feeding past max_seq: IT_ERR_RANGE */
    i = it_decoder_pos(dec[1]);
    check(it_decoder_next(dec[1], &bad, 1, &greedy, NULL, &tok[1]) == IT_ERR_RANGE && it_decoder_pos(dec[1]) == i,
          "decode %s: an id outside the vocabulary is IT_ERR_RANGE, the position unchanged", name);
out:
    it_context_destroy(ctx[0]);
    it_context_destroy(ctx[1]);
}
/* What the GPU decoder refuses, with a reason: an attached LoRA adapter (merge it first) */
static void decoder_refusals(void) {
    it_context *ctx = new_ctx(1);
    it_model_config cfg;
    it_model *model;
    it_lora *lora;
    it_lora_config lc;
    it_decoder *dec = NULL;
    it_result r;
    cfg = one_layer_llama();
    memset(&lc, 0, sizeof lc);
    lc.rank = 2;
    if (!ctx || it_model_create(ctx, &cfg, &model) != IT_OK || it_lora_create(model, &lc, &lora) != IT_OK ||
        it_model_init(model, 3) != IT_OK) {
        check(0, "decoder refusals: a model with a LoRA adapter (%s)", ctx ? it_context_last_error(ctx) : "no context");
        if (ctx) it_context_destroy(ctx);
        return;
    }
    r = it_decoder_create(model, 8, &dec);
    check(r == IT_ERR_UNSUPPORTED && !dec && strstr(it_context_last_error(ctx), "LoRA"),
          "a decoder of a model with a LoRA adapter is IT_ERR_UNSUPPORTED, naming it (%s)", it_context_last_error(ctx));
    printf(TAG " error path: decoder with LoRA -> %s\n", it_context_last_error(ctx));
    it_context_destroy(ctx);
}

/* a non-finite norm: IT_ERR_RANGE, no update; host writes after a step reach the device */
static void guard_and_coherence(void) {
    it_context *ctx = new_ctx(1);
    it_graph *g;
    it_tensor *w, *x, *y, *loss;
    it_optimizer *opt;
    it_optimizer_desc od;
    float before;
    int i;
    if (!ctx) {
        check(0, "guard: a CUDA context");
        return;
    }
    w = it_param(ctx, "w", 2, (int[]){4, 3});
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){2, 3});
    y = it_matmul(g, x, w, 0, 1);
    loss = it_mean(g, it_mul(g, y, y));
    it_graph_backward(g, loss);
    check(it_graph_plan(g) == IT_OK, "guard: plan on CUDA (%s)", it_context_last_error(ctx));
    it_param_init_normal(ctx, 0.5f, 7);
    memset(&od, 0, sizeof od);
    od.kind = IT_OPTIMIZER_ADAMW;
    od.clip_norm = 1.0f;
    check(it_optimizer_create(ctx, &od, &opt) == IT_OK, "guard: optimizer");
    for (i = 0; i < 6; i++) it_data(x)[i] = (float)i;
    it_zero_grads(ctx);
    check(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "guard: run");
    {   /* d(mean(y^2))/dw by hand from the same inputs */
        double want = 0;
        int r, k;
        for (r = 0; r < 2; r++) {
            double yr = 0;
            for (k = 0; k < 3; k++) yr += it_data(x)[r * 3 + k] * it_data(w)[k];
            want += 2.0 * yr * it_data(x)[r * 3] / 8.0;
        }
        check(fabs(it_grad(w)[0] - want) <= 1e-4 * (1 + fabs(want)), "coherence: the device's gradient reads back (%g vs %g)",
              it_grad(w)[0], want);
    }
    it_grad(w)[0] = INFINITY; /* a host write into the gradient block ... */
    before = it_data(w)[0];
    { /* clipping alone: the update skips itself on the GPU, the next wait reports it */
        it_result r1 = it_optimizer_step(opt, 1e-2f, 1.0f, NULL), r2 = it_context_synchronize(ctx);
        check(r1 == IT_OK && r2 == IT_ERR_RANGE, "guard: an infinite gradient is IT_ERR_RANGE at the next wait on CUDA (%d, %d: %s)",
              (int)r1, (int)r2, it_context_last_error(ctx));
    }
    check(it_data(w)[0] == before && opt->step == 0, "guard: nothing updated, the step not counted");
    {   /* with the norm requested the step waits and says so itself */
        float norm = 0.0f;
        check(it_optimizer_step(opt, 1e-2f, 1.0f, &norm) == IT_ERR_RANGE && it_data(w)[0] == before && opt->step == 0,
              "guard: with grad_norm requested, IT_ERR_RANGE from it_optimizer_step itself");
    }
    it_data(x)[0] = 100.0f; /* ... and into the inputs, after a step: both reach the device */
    it_zero_grads(ctx);
    check(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK && isfinite(it_grad(w)[0]) && fabs(it_grad(w)[0]) > 1.0f,
          "coherence: new inputs reach the device and zeroed gradients stay zeroed (dw0 %g)", it_grad(w)[0]);
    check(it_optimizer_step(opt, 1e-2f, 1.0f, NULL) == IT_OK && it_data(w)[0] != before, "guard: a finite step updates");
    it_context_destroy(ctx);
}

/* bf16 compute (it_context_set_compute_dtype): y = x @ w^T and the weight gradient of sum(y * r)
   from operands rounded by it_f32_to_bf16 and fp32 sums, against double loops over the rounded
   values (exact products, so only the sums' order differs); the fp32 product of the same inputs
   must be measurably different, so the rounding is seen to happen */
static double bf16_round(float f) { return it_bf16_to_f32(it_f32_to_bf16(f)); }
/* A bf16 CUDA context with the parameter w [N, K] and a graph with inputs x [M, K], r [M, N]. */
static it_context *bf16_matmul_setup(const char *what, int M, int K, int N, it_graph **g, it_tensor **w, it_tensor **x, it_tensor **r) {
    it_context *ctx;
    g_dtype = IT_BF16;
    ctx = new_ctx(1);
    g_dtype = IT_F32;
    if (!ctx) {
        check(0, "%s: a CUDA context", what);
        return NULL;
    }
    *w = it_param(ctx, "w", 2, (int[]){N, K});
    *g = it_graph_create(ctx);
    *x = it_input(*g, "x", IT_F32, 2, (int[]){M, K});
    *r = it_input(*g, "r", IT_F32, 2, (int[]){M, N});
    return ctx;
}
static void bf16_matmuls(void) {
    enum { M = 24, K = 40, N = 16 };
    it_context *ctx;
    it_graph *g;
    it_tensor *w, *x, *r, *y, *loss;
    double worst = 0.0, fp32_gap = 0.0;
    int i, j, k;
    if (!(ctx = bf16_matmul_setup("bf16", M, K, N, &g, &w, &x, &r))) return;
    y = it_matmul(g, x, w, 0, 1);
    loss = it_sum(g, it_mul(g, y, r));
    it_graph_backward(g, loss);
    check(it_graph_plan_ex(g, 1) == IT_OK, "bf16: plan (%s)", it_context_last_error(ctx)); /* no reuse: y stays readable */
    it_param_init_normal(ctx, 1.0f, 11);
    for (i = 0; i < M * K; i++) it_data(x)[i] = (float)sin(0.37 * i + 0.1) * 1.7f;
    for (i = 0; i < M * N; i++) it_data(r)[i] = (float)cos(0.91 * i) * 0.8f;
    it_zero_grads(ctx);
    check(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16: run (%s)", it_context_last_error(ctx));
    for (i = 0; i < M; i++) /* y [M, N] = x w^T */
        for (j = 0; j < N; j++) {
            double want = 0.0, exact = 0.0;
            for (k = 0; k < K; k++) {
                want += bf16_round(it_data(x)[i * K + k]) * bf16_round(it_data(w)[j * K + k]);
                exact += (double)it_data(x)[i * K + k] * it_data(w)[j * K + k];
            }
            worst = fmax(worst, fabs(it_data(y)[i * N + j] - want) / (1.0 + fabs(want)));
            fp32_gap = fmax(fp32_gap, fabs(exact - want) / (1.0 + fabs(want)));
        }
    for (j = 0; j < N; j++) /* dw [N, K] = r^T x (dy = r, an fp32 gradient rounded as an operand) */
        for (k = 0; k < K; k++) {
            double want = 0.0;
            for (i = 0; i < M; i++) want += bf16_round(it_data(r)[i * N + j]) * bf16_round(it_data(x)[i * K + k]);
            worst = fmax(worst, fabs(it_grad(w)[j * K + k] - want) / (1.0 + fabs(want)));
        }
    check(worst <= 2e-6 && fp32_gap >= 1e-3, "bf16: products of bf16-rounded operands with fp32 sums (worst %.2g; fp32's differ by %.2g)",
          worst, fp32_gap);
    it_context_destroy(ctx);
}
/* bf16 products read a parameter from its block's bf16 copy, converted once a step, and a matmul's
   backward converts dy once for its two products: w feeds two products here, so a run converts the
   parameter block once and w never again, x once in each forward node, dy and x in each backward
   node: 7 (operand by operand it was 12); a weight written by the host between runs is the one
   multiplied. */
static void bf16_weight_copy(void) {
    enum { M = 8, K = 24, N = 16 };
    it_context *ctx;
    it_graph *g;
    it_tensor *w, *x, *r, *y1, *y2, *loss;
    int run, i, j, k;
    if (!(ctx = bf16_matmul_setup("bf16 weight copy", M, K, N, &g, &w, &x, &r))) return;
    y1 = it_matmul(g, x, w, 0, 1);
    y2 = it_matmul(g, x, w, 0, 1);
    loss = it_sum(g, it_mul(g, it_add(g, y1, y2), r));
    it_graph_backward(g, loss);
    check(it_graph_plan_ex(g, 1) == IT_OK, "bf16 weight copy: plan (%s)", it_context_last_error(ctx));
    it_param_init_normal(ctx, 1.0f, 5);
    for (i = 0; i < M * K; i++) it_data(x)[i] = (float)sin(0.53 * i + 0.2);
    for (i = 0; i < M * N; i++) it_data(r)[i] = (float)cos(0.29 * i);
    for (run = 0; run < 2; run++) {
        double worst = 0.0;
#ifdef FAKE
        unsigned long conv0 = fake_cuda_kernel_runs("it_f32_to_bf16");
#endif
        if (run == 1) /* the host writes the weights between steps (as a checkpoint load does) */
            for (i = 0; i < N * K; i++) it_data(w)[i] = -0.5f * it_data(w)[i] + 0.01f * (float)i;
        it_zero_grads(ctx);
        check(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "bf16 weight copy: run %d (%s)", run, it_context_last_error(ctx));
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) {
                double want = 0.0;
                for (k = 0; k < K; k++) want += bf16_round(it_data(x)[i * K + k]) * bf16_round(it_data(w)[j * K + k]);
                worst = fmax(worst, fabs(it_data(y1)[i * N + j] - want) / (1.0 + fabs(want)));
                worst = fmax(worst, fabs(it_data(y2)[i * N + j] - want) / (1.0 + fabs(want)));
            }
        check(worst <= 2e-6, "bf16 weight copy: run %d multiplies this run's weights (worst %.2g)", run, worst);
#ifdef FAKE
        check(it_grad_tensor(x) && fake_cuda_kernel_runs("it_f32_to_bf16") - conv0 == 7,
              "bf16 weight copy: run %d converts 7 operands (%lu)", run, fake_cuda_kernel_runs("it_f32_to_bf16") - conv0);
#endif
    }
    it_context_destroy(ctx);
}
/* Device temporaries are a node's at a time: a model with twice the layers needs the same buffer
   (the largest node's: here the head's logits block), not twice a step's sum. */
static void temporaries_per_node(const it_model_config *llama) {
    it_model_config deep = *llama;
    unsigned long long bytes[2] = {0, 0};
    run_cfg rc;
    int d;
    memset(&rc, 0, sizeof rc);
    rc.kind = IT_OPTIMIZER_SGD;
    deep.n_layers = 2 * llama->n_layers;
    for (d = 0; d < 2; d++) {
        side s;
        int ok = side_make(&s, 1, d ? &deep : llama, &rc, 2, 16), i;
        for (i = 0; ok && i < 2 * 16; i++) it_data_i32(s.mg.tokens)[i] = it_data_i32(s.mg.targets)[i] = i % llama->vocab_size;
        ok = ok && it_graph_run(s.mg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK && it_context_synchronize(s.ctx) == IT_OK;
        check(ok, "temporaries: a step of the %d-layer model (%s)", d ? deep.n_layers : llama->n_layers,
              s.ctx ? it_context_last_error(s.ctx) : "no context");
        bytes[d] = it_cuda_backend_stats(it_context_backend(s.ctx)).temp_bytes;
        side_free(&s);
    }
    check(bytes[0] > 0 && bytes[0] == bytes[1], "temporaries: %d layers %llu bytes, %d layers %llu bytes (one node's, not a step's)",
          llama->n_layers, bytes[0], deep.n_layers, bytes[1]);
}

/* A resume onto the GPU: a checkpoint saved from one CUDA context (parameters and optimizer state
   read back from the device) and loaded into a fresh one (written by the host into its blocks,
   which must reach the device before the next step) continues exactly as the original does. */
static void resume_compare(const char *name, const it_model_config *cfg, const run_cfg *rc, int B, int T) {
    side a, b;
    it_rng rng;
    char dir[] = "/tmp/it_cuda_resume_XXXXXX", path[64];
    int step, i, ok = side_make(&a, 1, cfg, rc, B, T) && side_make(&b, 1, cfg, rc, B, T) && mkdtemp(dir) != NULL;
    check(ok, "%s resume: two CUDA sides and a directory", name);
    it_rng_seed(&rng, 7);
    for (step = 1; ok && step <= 3; step++) {
        const char *where = "";
        double pe;
        float la, lb;
        for (i = 0; i < B * T; i++) {
            int32_t tok = (int32_t)it_rng_below(&rng, (uint32_t)cfg->vocab_size);
            it_data_i32(a.mg.tokens)[i] = it_data_i32(b.mg.tokens)[i] = tok;
            it_data_i32(a.mg.targets)[i] = it_data_i32(b.mg.targets)[i] = (tok * 5 + 1) % cfg->vocab_size;
        }
        if (step == 3) { /* b takes a's state through the checkpoint */
            snprintf(path, sizeof path, "%s/ckpt", dir);
            ok = it_checkpoint_save(a.ctx, a.model, a.opt, NULL, path, NULL) == IT_OK &&
                 it_checkpoint_load(b.ctx, b.model, b.opt, NULL, path) == IT_OK;
            check(ok, "%s resume: save from the GPU, load into a fresh GPU context (%s / %s)", name, it_context_last_error(a.ctx),
                  it_context_last_error(b.ctx));
            if (!ok) break;
        }
        it_zero_grads(a.ctx);
        it_graph_run(a.mg.graph, IT_RUN_FORWARD_BACKWARD);
        it_optimizer_step(a.opt, 1e-3f, 1.0f, NULL);
        if (step < 3) continue; /* b trains only after the load */
        it_zero_grads(b.ctx);
        it_graph_run(b.mg.graph, IT_RUN_FORWARD_BACKWARD);
        it_optimizer_step(b.opt, 1e-3f, 1.0f, NULL);
        la = it_data(a.mg.loss)[0];
        lb = it_data(b.mg.loss)[0];
        pe = worst_param_err(b.ctx, a.ctx, 0, &where);
        check(la == lb && pe <= 1e-6 && a.opt->step == b.opt->step,
              "%s resume: the resumed GPU step equals the original (loss %.7f vs %.7f, parameters %.2e in %s, step %d vs %d)", name,
              lb, la, pe, where, b.opt->step, a.opt->step);
        printf("%s model=%s resume: loss after the load %.6f, the original's %.6f\n", TAG, name, lb, la);
    }
    if (ok) {
        char cmd[96];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) printf("%s: could not remove %s\n", TAG, dir);
    }
    side_free(&a);
    side_free(&b);
}

/* Attention as matrix products (the default) in chunks of batch rows, and the tiled kernels
   (IT_CUDA_ATTN_SCORES=0), both against the CPU; IT_CUDA_ATTN_SCORES is read at backend creation. */
static void attention_paths(const it_model_config *llama, const it_model_config *gpt2) {
    run_cfg rc;
    it_model_config win = *llama;
    char one_row[32], two_rows[32];
#ifdef FAKE
    unsigned long scores0 = fake_cuda_kernel_runs("it_attention_scores_softmax_f32"),
                  tiled0 = fake_cuda_kernel_runs("it_attention_forward_f32");
#endif
    memset(&rc, 0, sizeof rc);
    rc.kind = IT_OPTIMIZER_ADAMW;
    win.family = IT_FAMILY_MISTRAL;
    win.sliding_window = 5;
    /* one batch row of scores per chunk: 4 heads x 16^2; the 96-row GPT-2: 2 rows of 4 x 32^2, then 1 */
    snprintf(one_row, sizeof one_row, "%d", llama->n_heads * 16 * 16);
    snprintf(two_rows, sizeof two_rows, "%d", 2 * gpt2->n_heads * 32 * 32);
    setenv("IT_CUDA_ATTN_SCORES", one_row, 1);
    train_compare("llama-gqa-attn-chunks", llama, &rc, 2, 16);
    train_compare("mistral-window5-attn-chunks", &win, &rc, 2, 16);
    setenv("IT_CUDA_ATTN_SCORES", two_rows, 1);
    train_compare("gpt2-96rows-attn-chunks", gpt2, &rc, 3, 32);
#ifdef FAKE
    check(fake_cuda_kernel_runs("it_attention_scores_softmax_f32") > scores0 &&
              fake_cuda_kernel_runs("it_attention_forward_f32") == tiled0,
          "attention as products: the scores kernels ran, the tiled ones did not");
    scores0 = fake_cuda_kernel_runs("it_attention_scores_softmax_f32");
#endif
    setenv("IT_CUDA_ATTN_SCORES", "0", 1);
    train_compare("llama-gqa-attn-tiled", llama, &rc, 2, 16);
    train_compare("mistral-window5-attn-tiled", &win, &rc, 2, 16);
    unsetenv("IT_CUDA_ATTN_SCORES");
#ifdef FAKE
    check(fake_cuda_kernel_runs("it_attention_forward_f32") > tiled0 &&
              fake_cuda_kernel_runs("it_attention_scores_softmax_f32") == scores0,
          "IT_CUDA_ATTN_SCORES=0: the tiled attention kernels ran, the scores kernels did not");
#endif
}
/* Split-K (products whose output has too few tiles for the SMs): y1 = x1 w1^T, [200, 64] over
   K = 1103, splits in 4 with a remainder of 3; dw2 = dy2^T x2, [64, 64] over the 1537 rows,
   accumulating into the zeroed gradient, in 6 with a remainder of 1 (on the fake's 4 SMs and on
   an H200's 132 alike). Both against double loops (fp32 sums: 1e-4, as the models; a product
   without its remainder is off by 1.8), run with split-K and with IT_CUDA_SPLIT_K=0:
   the split run makes 2 more cuBLAS calls for each of the two (partials, their sum, the rest). */
static unsigned long split_k_run(int split, double *worst) {
    enum { M1 = 200, K1 = 1103, N = 64, M2 = 1537, K2 = 64 };
    it_context *ctx;
    it_graph *g;
    it_tensor *w1, *w2, *x1, *x2, *r1, *r2, *y1, *loss;
    unsigned long gemms = 0;
    int i, j, k;
    setenv("IT_CUDA_SPLIT_K", split ? "1" : "0", 1);
    ctx = new_ctx(1);
    unsetenv("IT_CUDA_SPLIT_K");
    *worst = 1e30;
    if (!ctx) return 0;
    w1 = it_param(ctx, "w1", 2, (int[]){N, K1});
    w2 = it_param(ctx, "w2", 2, (int[]){N, K2});
    g = it_graph_create(ctx);
    x1 = it_input(g, "x1", IT_F32, 2, (int[]){M1, K1});
    r1 = it_input(g, "r1", IT_F32, 2, (int[]){M1, N});
    x2 = it_input(g, "x2", IT_F32, 2, (int[]){M2, K2});
    r2 = it_input(g, "r2", IT_F32, 2, (int[]){M2, N});
    y1 = it_matmul(g, x1, w1, 0, 1);
    loss = it_add(g, it_sum(g, it_mul(g, y1, r1)), it_sum(g, it_mul(g, it_matmul(g, x2, w2, 0, 1), r2)));
    it_graph_backward(g, loss);
    check(it_graph_plan_ex(g, 1) == IT_OK, "split-K: plan (%s)", it_context_last_error(ctx));
    it_param_init_normal(ctx, 1.0f, 5);
    for (i = 0; i < M1 * K1; i++) it_data(x1)[i] = (float)sin(0.37 * i + 0.1);
    for (i = 0; i < M1 * N; i++) it_data(r1)[i] = (float)cos(0.91 * i);
    for (i = 0; i < M2 * K2; i++) it_data(x2)[i] = (float)sin(0.53 * i + 0.2);
    for (i = 0; i < M2 * N; i++) it_data(r2)[i] = (float)cos(0.29 * i + 0.3);
    it_zero_grads(ctx);
    check(it_graph_run(g, IT_RUN_FORWARD_BACKWARD) == IT_OK, "split-K: run (%s)", it_context_last_error(ctx));
    *worst = 0.0;
    for (i = 0; i < M1; i++)
        for (j = 0; j < N; j++) {
            double want = 0.0;
            for (k = 0; k < K1; k++) want += (double)it_data(x1)[i * K1 + k] * it_data(w1)[j * K1 + k];
            *worst = fmax(*worst, fabs(it_data(y1)[i * N + j] - want) / (1.0 + fabs(want)));
        }
    for (j = 0; j < N; j++)
        for (k = 0; k < K2; k++) {
            double want = 0.0;
            for (i = 0; i < M2; i++) want += (double)it_data(r2)[i * N + j] * it_data(x2)[i * K2 + k];
            *worst = fmax(*worst, fabs(it_grad(w2)[j * K2 + k] - want) / (1.0 + fabs(want)));
        }
    gemms = it_cuda_backend_stats(it_context_backend(ctx)).gemms;
    it_context_destroy(ctx);
    return gemms;
}
static void split_k_products(void) {
    double worst_split, worst_whole;
    unsigned long split = split_k_run(1, &worst_split), whole = split_k_run(0, &worst_whole);
    check(worst_split <= 1e-4 && worst_whole <= 1e-4, "split-K: y and dW against double loops (split %.2g, whole %.2g)", worst_split,
          worst_whole);
    check(whole > 0 && split == whole + 4, "split-K: the two small-output products split (cuBLAS calls %lu, %lu unsplit)", split, whole);
    printf(TAG " split-K: %lu cuBLAS calls (%lu unsplit), worst %.2g (%.2g unsplit) against double loops\n", split, whole, worst_split,
           worst_whole);
}
#ifdef FAKE
/* the clear errors, each injected through the fake driver */
static void expect_create_error(const char *what, const char *env, const char *val, const it_cuda_desc *d, it_result want,
                                const char *needle) {
    it_context *ctx;
    it_backend *be = NULL;
    it_result r;
    it_context_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.logger.log = quiet_logger;
    if (it_context_create(&cd, &ctx) != IT_OK) return;
    if (env) setenv(env, val, 1);
    r = it_cuda_backend_create(ctx, d, &be);
    if (env) unsetenv(env);
    check(r == want && !be && strstr(it_context_last_error(ctx), needle) != NULL, "%s: %s (got %d: %s)", what, it_result_string(want),
          (int)r, it_context_last_error(ctx));
    printf(TAG " error path: %s -> %s\n", what, it_context_last_error(ctx));
    check(it_context_backend(ctx) && strcmp(it_context_backend(ctx)->name, "cuda") != 0, "%s: the context keeps its CPU backend", what);
    it_context_destroy(ctx);
}
static void error_paths(void) {
    it_cuda_desc d = g_desc;
    it_context *ctx;
    it_model_config cfg;
    it_model *model;
    it_model_graph mg;
    int i;
    expect_create_error("no GPU", "FAKE_CUDA_DEVICES", "0", &g_desc, IT_ERR_BACKEND_UNAVAILABLE, "no GPU");
    expect_create_error("a scores size that is not a number", "IT_CUDA_ATTN_SCORES", "64M", &g_desc, IT_ERR_INVALID_ARGUMENT,
                        "IT_CUDA_ATTN_SCORES=64M");
    expect_create_error("a scores size of 2^31 floats", "IT_CUDA_ATTN_SCORES", "2147483648", &g_desc, IT_ERR_INVALID_ARGUMENT,
                        "below 2^31");
    expect_create_error("an empty scores size", "IT_CUDA_ATTN_SCORES", "", &g_desc, IT_ERR_INVALID_ARGUMENT, "IT_CUDA_ATTN_SCORES=");
    expect_create_error("a split-K switch that is not 0 or 1", "IT_CUDA_SPLIT_K", "2", &g_desc, IT_ERR_INVALID_ARGUMENT, "IT_CUDA_SPLIT_K=2");
    expect_create_error("NVRTC rejects the kernels", "FAKE_CUDA_COMPILE_FAIL", "1", &g_desc, IT_ERR_BACKEND, "rmsnorm.metal(20)");
    d.libcuda = "/nonexistent/libcuda.so.1";
    expect_create_error("no driver library", NULL, NULL, &d, IT_ERR_BACKEND_UNAVAILABLE, "/nonexistent/libcuda.so.1");
    d = g_desc;
    d.device_index = 3;
    expect_create_error("a device that is not there", NULL, NULL, &d, IT_ERR_INVALID_ARGUMENT, "device_index 3");
    /* a kernel that fails on the device: the run reports it, with the driver's text */
    ctx = new_ctx(1);
    cfg = one_layer_llama();
    if (ctx && it_model_create(ctx, &cfg, &model) == IT_OK && it_model_graph_create(model, IT_PURPOSE_TRAIN, 1, 8, &mg) == IT_OK &&
        it_model_init(model, 3) == IT_OK) {
        it_result r;
        for (i = 0; i < 8; i++) it_data_i32(mg.tokens)[i] = it_data_i32(mg.targets)[i] = i;
        setenv("FAKE_CUDA_FAIL_KERNEL", "it_rmsnorm_forward_f32", 1);
        r = it_graph_run(mg.graph, IT_RUN_FORWARD_BACKWARD);
        unsetenv("FAKE_CUDA_FAIL_KERNEL");
        check(r == IT_ERR_BACKEND && strstr(it_context_last_error(ctx), "error 719"), "a failing kernel: IT_ERR_BACKEND with the driver's error (%s)",
              it_context_last_error(ctx));
        printf(TAG " error path: a failing kernel -> %s\n", it_context_last_error(ctx));
        /* as on CUDA, a launch failure is sticky: the context stays failed, and says so */
        check(it_graph_run(mg.graph, IT_RUN_FORWARD_BACKWARD) == IT_ERR_BACKEND, "the next run after a failure reports it too (%s)",
              it_context_last_error(ctx));
        {   /* the GPU decoder on the failed stream: the feed reports it, the position stays, nothing leaks */
            it_decoder *dec = NULL;
            const float *logits = NULL;
            int32_t ids[2] = {1, 2}, next = -1;
            it_sampling greedy;
            memset(&greedy, 0, sizeof greedy);
            check(it_decoder_create(model, 8, &dec) == IT_OK, "a decoder after the failure is made (%s)", it_context_last_error(ctx));
            if (dec) {
                r = it_decoder_feed(dec, ids, 2, &logits);
                check(r == IT_ERR_BACKEND && strstr(it_context_last_error(ctx), "error 719") && it_decoder_pos(dec) == 0,
                      "a decoder feed on the failed stream: IT_ERR_BACKEND with the driver's error, position 0 (%s)",
                      it_context_last_error(ctx));
                printf(TAG " error path: decoding on a failed stream -> %s\n", it_context_last_error(ctx));
                check(it_decoder_next(dec, ids, 1, &greedy, NULL, &next) == IT_ERR_BACKEND && it_decoder_pos(dec) == 0,
                      "it_decoder_next on the failed stream: IT_ERR_BACKEND, position 0");
                it_decoder_destroy(dec);
            }
        }
        it_model_graph_destroy(&mg);
    } else {
        check(0, "error paths: a model on the fake");
    }
    if (ctx) it_context_destroy(ctx);
    check(fake_cuda_live_allocations() == 0 && fake_cuda_counts.graphs_live == 0,
          "every device and pinned allocation and every graph is released (%d allocations, %ld graphs live)",
          fake_cuda_live_allocations(), fake_cuda_counts.graphs_live);
}
#endif

int main(int argc, char **argv) {
    it_model_config llama, gpt2;
    run_cfg rc;
    static const it_optimizer_kind kinds[3] = {IT_OPTIMIZER_LION, IT_OPTIMIZER_ADAMW, IT_OPTIMIZER_SGD};
    int k;
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&g_desc, 0, sizeof g_desc);
#ifdef FAKE
    g_desc.libcuda = g_desc.libnvrtc = g_desc.libcublas = ""; /* this program's own stand-ins */
#endif
    for (k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--no-graphs")) g_desc.no_graphs = 1; /* and every token's kernels launched one by one */
        else if (!strcmp(argv[k], "--quick")) g_quick = 1; /* one model and optimizer: sanitizer runs */
        else if (!strcmp(argv[k], "--decode")) g_decode_only = 1;
    }
    {
        it_context *ctx = new_ctx(1);
        if (!ctx) {
            printf("no CUDA backend here\n");
            return 77;
        }
        {
            it_cuda_stats s = it_cuda_backend_stats(it_context_backend(ctx));
            printf("%s: %s, sm_%d%d, driver %d%s\n", TAG, s.device_name, s.sm_major, s.sm_minor, s.driver_version,
                   g_desc.no_graphs ? ", no graphs" : ", CUDA graphs");
        }
        it_context_destroy(ctx);
    }
    memset(&llama, 0, sizeof llama);
    llama.arch = IT_ARCH_LLAMA;
    llama.vocab_size = 97;
    llama.dim = 64;
    llama.n_layers = 2;
    llama.n_heads = 4;
    llama.n_kv_heads = 2;
    llama.ffn_dim = 96;
    llama.max_seq = 32;
    gpt2 = llama;
    gpt2.arch = IT_ARCH_GPT2;
    gpt2.n_kv_heads = 4;
    gpt2.ffn_dim = 128;
    if (g_decode_only) goto done;
    for (k = 0; k < (g_quick ? 1 : 3); k++) {
        memset(&rc, 0, sizeof rc);
        rc.kind = kinds[k];
        rc.momentum = kinds[k] == IT_OPTIMIZER_SGD ? 0.9f : 0.0f;
        train_compare("llama-gqa", &llama, &rc, 2, 16);
        train_compare("gpt2", &gpt2, &rc, 2, 16);
    }
    {   /* bf16 mixed precision (it_context_set_compute_dtype) on both sides: the products' operands
           rounded to bf16 by the same rule, sums in fp32 in different orders; a value an ulp apart
           can round one bf16 step apart in the next product, so the sides drift: 1e-2 of each
           tensor's largest value, with SGD (AdamW's first steps turn near-zero gradients into
           +-lr); bf16_matmuls checks one product exactly */
        memset(&rc, 0, sizeof rc);
        rc.kind = IT_OPTIMIZER_SGD;
        rc.momentum = 0.9f;
        g_dtype = IT_BF16;
        g_tol = 1e-2;
        train_compare("llama-gqa-bf16", &llama, &rc, 2, 16);
        train_compare("gpt2-bf16", &gpt2, &rc, 2, 16);
        g_dtype = IT_F32;
        g_tol = 1e-4;
        bf16_matmuls();
        bf16_weight_copy();
    }
    temporaries_per_node(&llama);
    split_k_products();
    memset(&rc, 0, sizeof rc);
    rc.kind = IT_OPTIMIZER_ADAMW;
    resume_compare("llama-gqa", &llama, &rc, 2, 16);
    memset(&rc, 0, sizeof rc);
    if (g_quick) goto done;
    rc.kind = IT_OPTIMIZER_ADAMW;
    rc.clip_norm = 0.05f;
    rc.want_norm = 1;
    train_compare("gpt2-clip-96rows", &gpt2, &rc, 3, 32); /* over 64 rows: layernorm and bias gradients in two passes */
    train_compare("llama-gqa-clip", &llama, &rc, 2, 16);
    train_compare("gpt2-clip", &gpt2, &rc, 2, 16);
    rc.kind = IT_OPTIMIZER_LION;
    rc.clip_norm = 0.0f;
    rc.want_norm = 0;
    {   /* a sliding window shorter than the sequence (Mistral) */
        it_model_config win = llama;
        win.family = IT_FAMILY_MISTRAL;
        win.sliding_window = 3;
        train_compare("mistral-window3", &win, &rc, 2, 16);
    }
    {   /* Llama 3.1+'s scaled RoPE frequencies (a band of them scaled for head dim 16) */
        it_model_config scaled = llama;
        scaled.rope_theta = 500.0f;
        scaled.rope_scaling.kind = IT_ROPE_LLAMA3;
        scaled.rope_scaling.factor = 8.0f;
        scaled.rope_scaling.low_freq_factor = 1.0f;
        scaled.rope_scaling.high_freq_factor = 4.0f;
        scaled.rope_scaling.original_max_positions = 16;
        train_compare("llama3-rope-scaled", &scaled, &rc, 2, 16);
    }
    attention_paths(&llama, &gpt2);
    guard_and_coherence();
done:
    {   /* the KV-cache decoder on the GPU: f32, and the quantised copies the Metal kernels read */
        static const it_weight_type wts[4] = {IT_WEIGHT_F32, IT_WEIGHT_BF16, IT_WEIGHT_Q8_0, IT_WEIGHT_Q4_0};
        it_model_config win = llama, qwen = llama;
        win.family = IT_FAMILY_MISTRAL;
        win.sliding_window = 3; /* shorter than prompt + tokens */
        qwen.family = IT_FAMILY_QWEN3;
        qwen.qk_norm = 1;
        for (k = 0; k < (g_quick ? 1 : 4); k++) {
            decoder_compare("llama-gqa", &llama, wts[k]);
            decoder_compare("gpt2", &gpt2, wts[k]);
        }
        if (!g_quick) {
            decoder_compare("mistral-window3", &win, 0);
            decoder_compare("qwen3-qk-norm", &qwen, 0);
        }
        decoder_refusals();
    }
#ifdef FAKE
    error_paths();
#endif
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
