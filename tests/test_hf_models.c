/* test_hf_models.c - Hugging Face model directories written by transformers itself
   (tests/fixtures/hf_models/, made by tests/fixtures/make_hf_model_fixtures.py on the device
   machine): Llama with llama3 and linear rope scaling, an explicit head_dim, attention and MLP
   biases, bf16 weights in three shards; Mistral's sliding window; Qwen2's q/k/v biases; Qwen3's
   q/k norms; GPT-2 in f32 and f16. For each, in both config dialects (transformers 5.x as saved,
   4.x as config_v4.json): the logits of a 14-token sequence to 1e-4 relative, the causal-LM loss
   and every parameter's gradient, the KV-cache decoder's greedy continuation id for id, and a
   save + reload that keeps the model (config keys included). */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#include <sys/stat.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/hf_models/"

/* ---- helpers ---------------------------------------------------------------------------------- */
static it_context *quiet_context(void) {
    it_context_desc d;
    it_context *ctx;
    memset(&d, 0, sizeof d);
    d.n_threads = 2;
    d.logger.min_level = IT_LOG_COUNT;
    it_context_create(&d, &ctx);
    return ctx;
}
/* A copy of the fixture directory with config_v4.json as its config.json. */
static void make_v4_copy(const char *dir, const char *copy) {
    static const char *files[] = {"config_v4.json", "generation_config.json", "model.safetensors",
                                  "model.safetensors.index.json", "model-00001-of-00003.safetensors",
                                  "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "reference.safetensors"};
    size_t i;
    mkdir(copy, 0755);
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        char from[512], to[512];
        size_t n;
        unsigned char *buf;
        snprintf(from, sizeof from, "%s/%s", dir, files[i]);
        snprintf(to, sizeof to, "%s/%s", copy, i == 0 ? "config.json" : files[i]);
        buf = it_test_read_file(from, &n);
        if (buf) it_test_write_file(to, buf, n);
        free(buf);
    }
}
/* The checkpoint name of model parameter p and, for GPT-2's q/k/v (stored fused as c_attn), which
   third of the fused columns it is (0, 1, 2; -1 for a plain tensor). */
static void hf_name(const it_model *m, const char *p, char *out, size_t size, int *third) {
    *third = -1;
    if (m->config.arch == IT_ARCH_LLAMA || strcmp(p, "lm_head.weight") == 0) {
        snprintf(out, size, "%s", p);
        return;
    }
    {
        const char *attn = strstr(p, ".attn.");
        if (attn && (attn[6] == 'q' || attn[6] == 'k' || attn[6] == 'v') && attn[7] == '.') {
            *third = attn[6] == 'q' ? 0 : attn[6] == 'k' ? 1 : 2;
            snprintf(out, size, "transformer.%.*s.attn.c_attn.%s", (int)(attn - p), p, attn + 8);
            return;
        }
    }
    snprintf(out, size, "transformer.%s", p);
}

/* ---- one fixture ---------------------------------------------------------------------------- */
static void check_model(const char *name, const char *dir, const char *dialect, const char *save_dir) {
    it_context *ctx = quiet_context();
    it_test_reference ref;
    it_model_config cfg;
    it_model *m = NULL;
    it_model_graph lg, tg;
    int32_t ids[64], prompt[16], greedy[16];
    int T, P, G, i, p;
    int64_t n;
    const float *want;
    if (!it_test_ref_load(ctx, dir, "reference.safetensors", &ref)) {
        CHECK(0, "%s: cannot read its reference.safetensors: %s", name, it_context_last_error(ctx));
        it_context_destroy(ctx);
        return;
    }
    T = it_test_ref_ids(&ref, "input_ids", ids, 64);
    P = it_test_ref_ids(&ref, "prompt_ids", prompt, 16);
    G = it_test_ref_ids(&ref, "greedy_ids", greedy, 16);
    CHECK(T == 14 && P == 5 && G == 8, "%s: reference ids %d %d %d", name, T, P, G);
    if (it_checkpoint_read_config(ctx, dir, &cfg) != IT_OK || it_model_create(ctx, &cfg, &m) != IT_OK ||
        it_checkpoint_load(ctx, m, NULL, NULL, dir) != IT_OK) {
        CHECK(0, "%s (%s): cannot load: %s", name, dialect, it_context_last_error(ctx));
        goto done;
    }
    /* logits of the whole sequence */
    if (it_model_graph_create(m, IT_PURPOSE_LOGITS, 1, T, &lg) == IT_OK) {
        memcpy(it_data_i32(lg.tokens), ids, sizeof(int32_t) * (size_t)T);
        CHECK(it_graph_run(lg.graph, IT_RUN_FORWARD) == IT_OK, "%s: logits run: %s", name, it_context_last_error(ctx));
        want = it_test_ref_f32(&ref, "logits", &n);
        CHECK(want && n == (int64_t)T * cfg.vocab_size, "%s: reference logits", name);
        if (want) {
            double w = it_test_worst(it_data(lg.logits), want, (size_t)n, 1e-4, 1e-5);
            CHECK(w <= 1.0, "%s (%s): logits differ from transformers': %.3g of the tolerance (1e-4 rel)", name, dialect, w);
        }
        it_model_graph_destroy(&lg);
    } else
        CHECK(0, "%s: logits graph: %s", name, it_context_last_error(ctx));
    /* the causal-LM loss (labels = input_ids, shifted) and every parameter's gradient */
    if (it_model_graph_create(m, IT_PURPOSE_TRAIN, 1, T - 1, &tg) == IT_OK) {
        for (i = 0; i < T - 1; i++) {
            it_data_i32(tg.tokens)[i] = ids[i];
            it_data_i32(tg.targets)[i] = ids[i + 1];
        }
        it_zero_grads(ctx);
        CHECK(it_graph_run(tg.graph, IT_RUN_FORWARD_BACKWARD) == IT_OK, "%s: train run: %s", name, it_context_last_error(ctx));
        want = it_test_ref_f32(&ref, "loss", NULL);
        if (want) CHECK_CLOSE(it_data(tg.loss)[0], want[0], 1e-5, 1e-6, "loss");
        for (p = 0; p < it_param_count(ctx); p++) {
            it_tensor *t = it_param_at(ctx, p);
            char key[200], ck[160];
            int third;
            size_t k, cnt = it_tensor_numel(t);
            float *got = it_grad(t), *slice;
            hf_name(m, it_tensor_name(t), ck, sizeof ck, &third);
            snprintf(key, sizeof key, "grad.%s", ck);
            want = it_test_ref_f32(&ref, key, &n);
            if (!want && !cfg.untied && t == m->embed) want = NULL;
            CHECK(want != NULL, "%s: no reference gradient %s", name, key);
            if (!want || !got) continue;
            slice = (float *)malloc(cnt * sizeof(float));
            if (third < 0) memcpy(slice, want, cnt * sizeof(float));
            else if (t->ndim == 2) /* [C, 3C]: columns third * C .. */
                for (k = 0; k < cnt; k++) {
                    size_t C = (size_t)t->dims[1], r = k / C, c = k % C;
                    slice[k] = want[r * 3 * C + (size_t)third * C + c];
                }
            else
                memcpy(slice, want + (size_t)third * cnt, cnt * sizeof(float));
            {
                double w = it_test_worst(got, slice, cnt, 1e-3, 2e-5);
                CHECK(w <= 1.0, "%s (%s): gradient of %s differs from transformers': %.3g of the tolerance", name, dialect,
                      it_tensor_name(t), w);
            }
            free(slice);
        }
        it_model_graph_destroy(&tg);
    } else
        CHECK(0, "%s: train graph: %s", name, it_context_last_error(ctx));
    /* greedy decoding through the KV cache: transformers' generate(do_sample=False), id for id */
    {
        it_decoder *d;
        if (it_decoder_create(m, 0, &d) == IT_OK) {
            const float *logits;
            int32_t tok[16];
            int ok = it_decoder_feed(d, prompt, P, &logits) == IT_OK, g;
            for (g = 0; g < G && ok; g++) {
                int best = 0, v;
                for (v = 1; v < cfg.vocab_size; v++)
                    if (logits[v] > logits[best]) best = v;
                tok[g] = best;
                ok = it_decoder_feed(d, &tok[g], 1, &logits) == IT_OK;
            }
            CHECK(ok && memcmp(tok, greedy, sizeof(int32_t) * (size_t)G) == 0,
                  "%s (%s): greedy ids differ from transformers' (first %d vs %d)", name, dialect, tok[0], greedy[0]);
            it_decoder_destroy(d);
        } else
            CHECK(0, "%s: decoder: %s", name, it_context_last_error(ctx));
    }
    /* save and reload: the config keys survive (same model), the weights too */
    if (save_dir) {
        it_model_config back;
        CHECK(it_checkpoint_save(ctx, m, NULL, NULL, save_dir, NULL) == IT_OK, "%s: save: %s", name, it_context_last_error(ctx));
        CHECK(it_checkpoint_read_config(ctx, save_dir, &back) == IT_OK && it__cfg_same(&back, &cfg),
              "%s: the saved config.json reads back as another model: %s", name, it_context_last_error(ctx));
        {
            it_context *ctx2 = quiet_context();
            it_model *m2;
            if (it_model_create(ctx2, &back, &m2) == IT_OK && it_checkpoint_load(ctx2, m2, NULL, NULL, save_dir) == IT_OK) {
                size_t same = 1;
                for (p = 0; p < it_param_count(ctx); p++)
                    same = same && memcmp(it_data(it_param_at(ctx, p)), it_data(it_param_at(ctx2, p)),
                                          it_tensor_numel(it_param_at(ctx, p)) * sizeof(float)) == 0;
                CHECK(same, "%s: the saved weights differ after a reload", name);
            } else
                CHECK(0, "%s: reload: %s", name, it_context_last_error(ctx2));
            it_context_destroy(ctx2);
        }
    }
done:
    free(ref.file);
    it_context_destroy(ctx);
}

/* What a config says, read in both dialects. */
static void check_configs(void) {
    it_context *ctx = quiet_context();
    it_model_config c;
    CHECK(it_checkpoint_read_config(ctx, FIXTURES "llama_llama3", &c) == IT_OK, "llama3 config: %s", it_context_last_error(ctx));
    CHECK(c.rope_scaling.kind == IT_ROPE_LLAMA3 && c.rope_scaling.factor == 8.0f && c.rope_scaling.low_freq_factor == 1.0f &&
              c.rope_scaling.high_freq_factor == 4.0f && c.rope_scaling.original_max_positions == 16 &&
              c.rope_theta == 500000.0f && it_model_head_dim(&c) == 16 && c.untied,
          "llama3 config: rope %d factor %g theta %g head_dim %d", (int)c.rope_scaling.kind, (double)c.rope_scaling.factor,
          (double)c.rope_theta, it_model_head_dim(&c));
    CHECK(it_checkpoint_read_config(ctx, FIXTURES "llama_bias_bf16_sharded", &c) == IT_OK && c.qkv_bias && c.o_bias &&
              c.mlp_bias && c.rope_scaling.kind == IT_ROPE_LINEAR && !c.untied,
          "linear/bias config");
    CHECK(it_checkpoint_read_config(ctx, FIXTURES "mistral_window", &c) == IT_OK && c.family == IT_FAMILY_MISTRAL &&
              c.sliding_window == 4,
          "mistral config: window %d", c.sliding_window);
    CHECK(it_checkpoint_read_config(ctx, FIXTURES "qwen2", &c) == IT_OK && c.family == IT_FAMILY_QWEN2 && c.qkv_bias &&
              !c.o_bias && c.rope_theta == 1e6f && c.norm_eps == 1e-6f,
          "qwen2 config");
    CHECK(it_checkpoint_read_config(ctx, FIXTURES "qwen3", &c) == IT_OK && c.family == IT_FAMILY_QWEN3 && c.qk_norm &&
              it_model_head_dim(&c) == 16,
          "qwen3 config");
    it_context_destroy(ctx);
}

/* Configs and index files the loader must refuse, each by name. */
static void check_refusals(const char *tmp) {
    static const struct { const char *json, *fragment; } bad[] = {
        {"{\"model_type\": \"llama\", \"architectures\": [\"LlamaForSequenceClassification\"], \"vocab_size\": 96, "
         "\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"max_position_embeddings\": 64}", "LlamaForSequenceClassification"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 64, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 64, "
         "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}", "yarn"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 64, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 64, "
         "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 10000.0, \"factor\": 8.0}}", "low_freq_factor"},
        {"{\"model_type\": \"qwen2\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 64, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 64, "
         "\"use_sliding_window\": true, \"sliding_window\": 8}", "use_sliding_window"},
        {"{\"model_type\": \"qwen3\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 64, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 64, "
         "\"layer_types\": [\"full_attention\", \"sliding_attention\"]}", "sliding_attention"},
        {"{\"model_type\": \"gemma\", \"vocab_size\": 96}", "gemma"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 64, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 64, \"hidden_act\": \"gelu\"}", "gelu"},
    };
    it_context *ctx = quiet_context();
    char dir[512], path[600];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_model_config c;
        snprintf(dir, sizeof dir, "%s/bad%zu", tmp, i);
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/config.json", dir);
        it_test_write_file(path, bad[i].json, strlen(bad[i].json));
        CHECK(it_checkpoint_read_config(ctx, dir, &c) < 0 && strstr(it_context_last_error(ctx), bad[i].fragment),
              "bad config %zu: '%s' (want a message naming %s)", i, it_context_last_error(ctx), bad[i].fragment);
    }
    {   /* a sharded model whose index points outside the directory, at a missing shard, at the wrong
           shard, or holds no map: the real index with one entry's file replaced */
        static const char *swap[] = {"../../etc/passwd.safetensors", "model-00009-of-00009.safetensors",
                                     "model-00003-of-00003.safetensors", NULL};
        static const char *fragment[] = {"not a .safetensors file", "model-00009-of-00009", "where the index says",
                                         "model.safetensors.index.json"};
        const char *src = FIXTURES "llama_bias_bf16_sharded", *first = "model-00001-of-00003.safetensors";
        size_t n;
        char *index;
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", src);
        index = (char *)it_test_read_file(path, &n);
        for (i = 0; index && i < sizeof swap / sizeof swap[0]; i++) {
            it_model_config c;
            it_model *m;
            it_context *c2 = quiet_context();
            char text[8192];
            const char *at;
            index[n] = 0;
            at = strstr(strstr(index, "weight_map"), first);
            if (swap[i] && at) snprintf(text, sizeof text, "%.*s%s%s", (int)(at - index), index, swap[i], at + strlen(first));
            else snprintf(text, sizeof text, "{\"weight_map\": []}");
            snprintf(dir, sizeof dir, "%s/shards%zu", tmp, i);
            make_v4_copy(src, dir);
            snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
            it_test_write_file(path, text, strlen(text));
            CHECK((it_checkpoint_read_config(c2, dir, &c) < 0 || it_model_create(c2, &c, &m) != IT_OK ||
                   it_checkpoint_load(c2, m, NULL, NULL, dir) < 0) && strstr(it_context_last_error(c2), fragment[i]),
                  "bad index %zu: '%s' (want '%s')", i, it_context_last_error(c2), fragment[i]);
            it_context_destroy(c2);
        }
        free(index);
    }
    it_context_destroy(ctx);
}

/* generation_config.json as transformers writes it (the fixtures: eos [2, 3], bos 1), its other
   forms, the config.json fallback, and files it must refuse, each naming the key. */
static void check_generation_config(const char *tmp) {
    static const struct { const char *json, *fragment; } bad[] = {
        {"{\"eos_token_id\": \"2\"}", "eos_token_id"},          {"{\"eos_token_id\": [2, -1]}", "eos_token_id"},
        {"{\"eos_token_id\": [2, [3]]}", "eos_token_id"},         {"{\"eos_token_id\": 2147483648}", "eos_token_id"},
        {"{\"bos_token_id\": true}", "bos_token_id"},             {"{\"temperature\": -0.5}", "temperature"},
        {"{\"top_p\": 1.01}", "top_p"},                           {"{\"min_p\": -1}", "min_p"},
        {"{\"repetition_penalty\": 0}", "repetition_penalty"},    {"{\"top_k\": 2.5}", "top_k"},
        {"{\"max_new_tokens\": -1}", "max_new_tokens"},           {"{\"do_sample\": \"yes\"}", "do_sample"},
        {"{\"temperature\": 1e39}", "temperature"},               {"{\"eos_token_id\": [2,", "generation_config.json"},
        {"[]", "generation_config.json"},                          {"", "generation_config.json"},
        {"{\"eos_token_id\": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}", "more than the 16"},
    };
    it_context *ctx = quiet_context();
    it_generation_config g;
    char dir[512], path[600];
    size_t i;
    CHECK(it_generation_config_read(ctx, FIXTURES "llama_llama3", &g) == IT_OK && g.n_eos == 2 && g.eos_ids[0] == 2 &&
              g.eos_ids[1] == 3 && g.bos_id == 1 && g.pad_id == -1 && g.do_sample == -1 && g.temperature < 0 && g.top_k == -1,
          "fixture generation_config.json: %s", it_context_last_error(ctx));
    snprintf(dir, sizeof dir, "%s/gen", tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    it_test_write_file(path, "{\"eos_token_id\": 7, \"pad_token_id\": null, \"do_sample\": true, \"temperature\": 0.6, "
                             "\"top_p\": 0.9, \"top_k\": 20, \"min_p\": 0.05, \"repetition_penalty\": 1.1, \"max_new_tokens\": 64}", 171);
    CHECK(it_generation_config_read(ctx, dir, &g) == IT_OK && g.n_eos == 1 && g.eos_ids[0] == 7 && g.pad_id == -1 &&
              g.do_sample == 1 && g.temperature == 0.6f && g.top_p == 0.9f && g.top_k == 20 && g.min_p == 0.05f &&
              g.repetition_penalty == 1.1f && g.max_new_tokens == 64,
          "every field: %s", it_context_last_error(ctx));
    /* no eos in generation_config.json, or no such file: config.json's ids */
    snprintf(path, sizeof path, "%s/config.json", dir);
    it_test_write_file(path, "{\"eos_token_id\": [5, 6], \"bos_token_id\": 4}", 43);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    it_test_write_file(path, "{\"temperature\": 0.5}", 20);
    CHECK(it_generation_config_read(ctx, dir, &g) == IT_OK && g.n_eos == 2 && g.eos_ids[1] == 6 && g.bos_id == 4 &&
              g.temperature == 0.5f, "eos from config.json: %s", it_context_last_error(ctx));
    remove(path);
    CHECK(it_generation_config_read(ctx, dir, &g) == IT_OK && g.n_eos == 2 && g.temperature < 0, "no generation_config.json");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_test_write_file(path, bad[i].json, strlen(bad[i].json));
        CHECK(it_generation_config_read(ctx, dir, &g) == IT_ERR_FORMAT && strstr(it_context_last_error(ctx), bad[i].fragment),
              "bad generation config %zu: '%s' (want '%s')", i, it_context_last_error(ctx), bad[i].fragment);
    }
    remove(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    it_test_write_file(path, "{\"eos_token_id\": -3}", 20);
    CHECK(it_generation_config_read(ctx, dir, &g) == IT_ERR_FORMAT && strstr(it_context_last_error(ctx), "config.json"),
          "bad config.json id: %s", it_context_last_error(ctx));
    remove(path);
    CHECK(it_generation_config_read(ctx, dir, &g) == IT_OK && g.n_eos == 0 && g.bos_id == -1, "neither file");
    it_context_destroy(ctx);
}

int main(void) {
    static const char *models[] = {"llama_llama3", "llama_bias_bf16_sharded", "mistral_window", "qwen2",
                                   "qwen3", "gpt2", "gpt2_f16"};
    char tmp[] = "/tmp/it_hf_models_XXXXXX", dir[512], save[512], cmd[600];
    size_t i;
    if (!mkdtemp(tmp)) return 2;
    check_configs();
    for (i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(dir, sizeof dir, FIXTURES "%s", models[i]);
        snprintf(save, sizeof save, "%s/saved-%s", tmp, models[i]);
        check_model(models[i], dir, "5.x config", save);
        snprintf(save, sizeof save, "%s/v4-%s", tmp, models[i]);
        make_v4_copy(dir, save);
        check_model(models[i], save, "4.x config", NULL);
    }
    check_refusals(tmp);
    check_generation_config(tmp);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return it_test_finish();
}
