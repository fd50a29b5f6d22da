/* it-inspect: what a model directory holds: a checkpoint of build/train or a Hugging Face model
   directory. Prints the model (architecture, sizes, the options its family sets), the weights
   (single file or shards: dtype, tensors, bytes; then every tensor's name, dtype, shape, L2 norm),
   the trainer state, the tokenizer (tokenizer.json or tokenizer.bin), the chat template as
   recognised, the end-of-sequence ids and default sampling of generation_config.json, any
   half-written save beside it, and the verdict of the full validation a load runs.
     cc -O2 -std=c99 -I. tools/it_inspect.c -o build/it-inspect -lm -lpthread
     build/it-inspect DIR          exit status 0 when the directory loads
*/
#define _POSIX_C_SOURCE 200809L /* scandir, alphasort */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"

#include <dirent.h>

typedef struct weights_summary {
    int n_tensors, n_dtypes;
    char dtypes[4][8];
    uint64_t bytes;
} weights_summary;
static void print_tensor(const it_safetensors_tensor_info *t, void *user) {
    weights_summary *w = (weights_summary *)user;
    char shape[128];
    int n = 0, d, k;
    shape[0] = 0;
    for (d = 0; d < t->ndim && n < 100; d++) n += snprintf(shape + n, sizeof shape - (size_t)n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    printf("  %-48s %-5s [%s]  l2 %.6g\n", t->name, t->dtype, shape, t->l2);
    w->n_tensors++;
    w->bytes += t->offset_end - t->offset_begin;
    for (k = 0; k < w->n_dtypes && strcmp(w->dtypes[k], t->dtype); k++) continue;
    if (k == w->n_dtypes && k < 4) snprintf(w->dtypes[w->n_dtypes++], sizeof w->dtypes[0], "%s", t->dtype);
}

static void usage(FILE *f) {
    fprintf(f, "usage: it-inspect DIR\n"
               "  DIR: a checkpoint of train --save or a Hugging Face model directory. Prints the model, the weights\n"
               "  (every tensor's dtype, shape, L2 norm), the trainer state, the tokenizer, the chat template, the\n"
               "  generation defaults, then \"valid: yes\" (exit 0) or \"valid: NO: reason\" (exit 1)\n");
}
static void log_warnings(it_log_level level, const char *message, void *user) {
    (void)user;
    if (level == IT_LOG_WARN) fprintf(stderr, "irontensor: %s\n", message); /* errors are reported below, once */
}

/* Saves write DIR.tmp-<pid> first and rename it to DIR: one left behind is a save that never
   finished (the process was killed); say so, since DIR may then be older than expected. */
static void report_unfinished_saves(const char *dir) {
    char clean[4096], parent[4096];
    const char *base, *slash;
    size_t n = strlen(dir), bl;
    DIR *d;
    struct dirent *e;
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n >= sizeof clean) return;
    memcpy(clean, dir, n);
    clean[n] = 0;
    slash = strrchr(clean, '/');
    base = slash ? slash + 1 : clean;
    snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - clean) + (slash == clean) : 1, slash ? clean : ".");
    bl = strlen(base);
    if (!(d = opendir(parent))) return;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, base, bl) == 0 && strncmp(e->d_name + bl, ".tmp-", 5) == 0)
            printf("note: %s/%s is a save that did not finish (its process stopped mid-save); the checkpoint shown is the "
                   "last complete one, and the next save to %s removes the leftover\n", parent, e->d_name, clean);
    closedir(d);
}

static int is_shard(const struct dirent *e) {
    size_t n = strlen(e->d_name);
    return strncmp(e->d_name, "model-", 6) == 0 && n > 18 && strcmp(e->d_name + n - 12, ".safetensors") == 0;
}
/* model.safetensors, or the shards save_pretrained writes beside model.safetensors.index.json. */
static void print_weights(it_context *ctx, const char *dir) {
    char path[4400];
    weights_summary w;
    struct dirent **names = NULL;
    int n = 0, i, k;
    memset(&w, 0, sizeof w);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (access(path, F_OK) != 0) n = scandir(dir, &names, is_shard, alphasort);
    if (n <= 0) {
        printf("model.safetensors:\n");
        if (it_safetensors_inspect(ctx, path, print_tensor, &w) != IT_OK) printf("  %s\n", it_context_last_error(ctx));
    }
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        printf("%s:\n", names[i]->d_name);
        if (it_safetensors_inspect(ctx, path, print_tensor, &w) != IT_OK) printf("  %s\n", it_context_last_error(ctx));
        free(names[i]);
    }
    free(names);
    printf("weights: %s%d tensors, %.1f KB, dtype", n > 0 ? "" : "one file, ", w.n_tensors, (double)w.bytes / 1024.0);
    for (k = 0; k < w.n_dtypes; k++) printf("%s%s", k ? ", " : " ", w.dtypes[k]);
    if (n > 0) printf(" (%d shards)", n);
    printf("\n");
}

static void print_model(const it_model_config *c) {
    const char *arch = it_model_family_architecture(c->family);
    printf("model: %s, %d layers, dim %d, %d heads (%d kv, head dim %d), ffn %d, vocab %d, max-seq %d, %s head",
           arch ? arch : c->arch == IT_ARCH_GPT2 ? "GPT2LMHeadModel" : "LlamaForCausalLM", c->n_layers, c->dim, c->n_heads,
           c->n_kv_heads, it_model_head_dim(c), c->ffn_dim, c->vocab_size, c->max_seq, c->untied ? "untied" : "tied");
    if (c->arch == IT_ARCH_LLAMA) {
        printf(", rope theta %g", (double)c->rope_theta);
        if (c->rope_scaling.kind == IT_ROPE_LLAMA3)
            printf(" (llama3 scaling: factor %g, low %g, high %g, original %d)", (double)c->rope_scaling.factor,
                   (double)c->rope_scaling.low_freq_factor, (double)c->rope_scaling.high_freq_factor,
                   c->rope_scaling.original_max_positions);
        else if (c->rope_scaling.kind == IT_ROPE_LINEAR)
            printf(" (linear scaling: factor %g)", (double)c->rope_scaling.factor);
        if (c->qkv_bias) printf(", q/k/v biases");
        if (c->o_bias) printf(", output bias");
        if (c->mlp_bias) printf(", MLP biases");
        if (c->qk_norm) printf(", q/k norms");
        if (c->sliding_window) printf(", sliding window %d", c->sliding_window);
    }
    printf(", norm eps %g\n", (double)c->norm_eps);
}

static void print_token(const it_tokenizer *tok, const char *what, int32_t id) {
    size_t n;
    const uint8_t *b = id >= 0 ? it_tokenizer_token_bytes(tok, id, &n) : NULL;
    if (id < 0) printf(", %s none", what);
    else printf(", %s %.*s (%d)", what, b ? (int)n : 0, b ? (const char *)b : "", (int)id);
}
/* tokenizer.json (Hugging Face), else tokenizer.bin (ours): 1 when loaded or absent, 0 when broken. */
static int print_tokenizer(it_context *ctx, const char *dir, const it_model_config *c, int have_config, int bpe_run,
                           int token_file_run, char *why, size_t why_size) {
    char path[4400];
    it_tokenizer *tok = NULL;
    int hf;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    hf = access(path, F_OK) == 0;
    if (!hf && !it_checkpoint_tokenizer_path(dir, path, sizeof path)) {
        if (bpe_run) {
            printf("tokenizer: missing\n");
            snprintf(why, why_size, "the run used a BPE tokenizer but %.4000s/tokenizer.bin is missing", dir);
            return 0;
        }
        if (token_file_run) printf("tokenizer: none (trained on a token file)\n");
        else if (!have_config || c->vocab_size == 256) printf("tokenizer: none (byte-level)\n");
        else printf("tokenizer: none (a vocabulary of %d tokens: text needs the model's tokenizer.json; ids work)\n", c->vocab_size);
        return 1;
    }
    if ((hf ? it_tokenizer_load_hf(ctx, dir, &tok) : it_tokenizer_load(ctx, path, &tok)) != IT_OK) {
        printf("tokenizer: %s\n", it_context_last_error(ctx));
        snprintf(why, why_size, "%s", it_context_last_error(ctx));
        return 0;
    }
    if (hf) {
        int32_t bos, eos;
        it_tokenizer_bos_eos(tok, &bos, &eos);
        printf("tokenizer: %s (Hugging Face BPE, vocab %d", path, it_tokenizer_vocab_size(tok));
        print_token(tok, "bos", bos);
        print_token(tok, "eos", eos);
        printf(")\n");
    } else
        printf("tokenizer: %s (BPE, vocab %d)\n", path, it_tokenizer_vocab_size(tok));
    if (have_config && it_tokenizer_vocab_size(tok) > c->vocab_size) {
        snprintf(why, why_size, "%.4000s has %d tokens but the model's vocabulary is %d", path, it_tokenizer_vocab_size(tok), c->vocab_size);
        it_tokenizer_destroy(tok);
        return 0;
    }
    it_tokenizer_destroy(tok);
    return 1;
}
/* The chat template as generate --chat would use it, and generation_config.json. */
static int print_chat_and_generation(it_context *ctx, const char *dir, char *why, size_t why_size) {
    it_chat_template t;
    it_generation_config g;
    char path[4400];
    int i, ok = 1;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (access(path, F_OK) == 0 || (snprintf(path, sizeof path, "%s/chat_template.jinja", dir), access(path, F_OK) == 0)) {
        if (it_chat_template_load(ctx, dir, NULL, &t) == IT_OK) {
            printf("chat template: %s", it_chat_format_name(t.format));
            if (t.default_system[0]) printf(" (default system message: \"%.80s\")", t.default_system);
            if (t.knowledge_header) printf(" (knowledge-date header, date %s)", t.date[0] ? t.date : "today");
            printf("\n");
        } else
            printf("chat template: %s\n", it_context_last_error(ctx)); /* a model may have none: not invalid */
    } else
        printf("chat template: none\n");
    if (it_generation_config_read(ctx, dir, &g) != IT_OK) {
        printf("generation: %s\n", it_context_last_error(ctx));
        snprintf(why, why_size, "%s", it_context_last_error(ctx));
        return 0;
    }
    printf("generation: eos");
    for (i = 0; i < g.n_eos; i++) printf("%s%d", i ? ", " : " ", (int)g.eos_ids[i]);
    if (g.n_eos == 0) printf(" none");
    printf(g.bos_id >= 0 ? "; bos %d" : "; bos none", (int)g.bos_id);
    if (g.pad_id >= 0) printf("; pad %d", (int)g.pad_id);
    if (g.do_sample >= 0) printf("; do_sample %s", g.do_sample ? "true" : "false");
    if (g.temperature >= 0) printf("; temperature %g", (double)g.temperature);
    if (g.top_k >= 0) printf("; top_k %d", g.top_k);
    if (g.top_p >= 0) printf("; top_p %g", (double)g.top_p);
    if (g.min_p >= 0) printf("; min_p %g", (double)g.min_p);
    if (g.repetition_penalty >= 0) printf("; repetition_penalty %g", (double)g.repetition_penalty);
    if (g.max_new_tokens >= 0) printf("; max_new_tokens %d", g.max_new_tokens);
    printf("\n");
    return ok;
}

int main(int argc, char **argv) {
    it_context_desc desc;
    it_context *ctx;
    it_model_config c;
    it_trainer_state ts;
    char path[4200], why[4400];
    int valid, have_config, have_ts, tok_ok, gen_ok;
    const char *dir;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    dir = argv[1];
    memset(&desc, 0, sizeof desc);
    desc.logger.log = log_warnings;
    if (it_context_create(&desc, &ctx) != IT_OK) return 2;
    report_unfinished_saves(dir);
    if ((have_config = it_checkpoint_read_config(ctx, dir, &c) == IT_OK)) {
        print_model(&c);
        printf("config: %s vocab %d dim %d layers %d heads %d kv-heads %d ffn %d max-seq %d %s eps %g theta %g (%zu parameters)\n",
               c.arch == IT_ARCH_GPT2 ? "gpt2" : "llama", c.vocab_size, c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim,
               c.max_seq, c.untied ? "untied" : "tied", (double)c.norm_eps, (double)c.rope_theta, it_model_config_param_count(&c));
    } else
        printf("config: %s\n", it_context_last_error(ctx));
    print_weights(ctx, dir);
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    if (access(path, F_OK) == 0) {
        weights_summary w;
        memset(&w, 0, sizeof w);
        printf("optimizer.safetensors:\n");
        if (it_safetensors_inspect(ctx, path, print_tensor, &w) != IT_OK) printf("  %s\n", it_context_last_error(ctx));
    }
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    if ((have_ts = access(path, F_OK) == 0 && it_checkpoint_read_trainer_state(ctx, dir, &ts) == IT_OK))
        printf("trainer: step %lld, tokens %lld, optimizer %s, schedule %s lr %g warmup %d total %d, batch %d x seq %d, accum %d\n",
               (long long)ts.step, (long long)ts.tokens_seen, it_optimizer_name(ts.optimizer.kind), it_schedule_name(ts.schedule.kind),
               (double)ts.schedule.base_lr, ts.schedule.warmup_steps, ts.schedule.total_steps, ts.batch, ts.seq, ts.accum_steps);
    else
        printf("trainer: no trainer state\n");
    /* the verdict: the first problem found, the full validation first, then the tokenizer and generation config */
    valid = it_checkpoint_validate(ctx, dir) == IT_OK;
    if (!valid) snprintf(why, sizeof why, "%s", it_context_last_error(ctx));
    tok_ok = print_tokenizer(ctx, dir, &c, have_config, have_ts && !strcmp(ts.tokenizer, "bpe"),
                             have_ts && !strcmp(ts.tokenizer, "none"), valid ? why : path, valid ? sizeof why : sizeof path);
    valid = valid && tok_ok;
    gen_ok = print_chat_and_generation(ctx, dir, valid ? why : path, valid ? sizeof why : sizeof path);
    valid = valid && gen_ok;
    printf("valid: %s%s\n", valid ? "yes" : "NO: ", valid ? "" : why);
    it_context_destroy(ctx);
    return valid ? 0 : 1;
}
