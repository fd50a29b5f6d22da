/* it-inspect: print a checkpoint directory's config, tensors (name, dtype, shape, L2 norm), step,
   tokenizer and validity (the full validation a load runs, tokenizer.bin included), and any
   half-written save beside it.
     cc -O2 -std=c99 -I. tools/it_inspect.c -o build/it-inspect -lm -lpthread
     build/it-inspect DIR          exit status 0 when the checkpoint is valid
*/
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"

static void print_tensor(const it_safetensors_tensor_info *t, void *user) {
    char shape[128];
    int n = 0, d;
    (void)user;
    shape[0] = 0;
    for (d = 0; d < t->ndim && n < 100; d++) n += snprintf(shape + n, sizeof shape - (size_t)n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    printf("  %-48s %-5s [%s]  l2 %.6g\n", t->name, t->dtype, shape, t->l2);
}

static void usage(FILE *f) {
    fprintf(f, "usage: it-inspect CHECKPOINT_DIR\n"
               "  prints the config, every tensor (dtype, shape, L2 norm), the trainer state and the tokenizer,\n"
               "  then \"valid: yes\" (exit 0) or \"valid: NO: reason\" (exit 1)\n");
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

int main(int argc, char **argv) {
    it_context *ctx;
    it_model_config c;
    it_trainer_state ts;
    char path[4200], why[4400];
    const char *files[2] = {"model.safetensors", "optimizer.safetensors"};
    int i, valid, have_config, have_ts;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    if (it_context_create(NULL, &ctx) != IT_OK) return 2;
    report_unfinished_saves(argv[1]);
    if ((have_config = it_checkpoint_read_config(ctx, argv[1], &c) == IT_OK)) {
        printf("config: %s vocab %d dim %d layers %d heads %d kv-heads %d ffn %d max-seq %d %s eps %g theta %g (%zu parameters)\n",
               c.arch == IT_ARCH_GPT2 ? "gpt2" : "llama", c.vocab_size, c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim,
               c.max_seq, c.untied ? "untied" : "tied", (double)c.norm_eps, (double)c.rope_theta, it_model_config_param_count(&c));
    }
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", argv[1], files[i]);
        if (i == 1 && access(path, F_OK) != 0) continue;
        printf("%s:\n", files[i]);
        it_safetensors_inspect(ctx, path, print_tensor, NULL);
    }
    if ((have_ts = it_checkpoint_read_trainer_state(ctx, argv[1], &ts) == IT_OK))
        printf("trainer: step %lld, tokens %lld, optimizer %s, schedule %s lr %g warmup %d total %d, batch %d x seq %d, accum %d\n",
               (long long)ts.step, (long long)ts.tokens_seen, it_optimizer_name(ts.optimizer.kind), it_schedule_name(ts.schedule.kind),
               (double)ts.schedule.base_lr, ts.schedule.warmup_steps, ts.schedule.total_steps, ts.batch, ts.seq, ts.accum_steps);
    else
        printf("trainer: no trainer state\n");
    /* the verdict: the first problem found, the full validation first, then the tokenizer */
    valid = it_checkpoint_validate(ctx, argv[1]) == IT_OK;
    if (!valid) snprintf(why, sizeof why, "%s", it_context_last_error(ctx));
    if (it_checkpoint_tokenizer_path(argv[1], path, sizeof path)) {
        it_tokenizer *tok = NULL;
        if (it_tokenizer_load(ctx, path, &tok) != IT_OK) {
            printf("tokenizer: %s\n", it_context_last_error(ctx));
            if (valid) snprintf(why, sizeof why, "%s", it_context_last_error(ctx));
            valid = 0;
        } else {
            printf("tokenizer: %s (BPE, vocab %d)\n", path, it_tokenizer_vocab_size(tok));
            if (valid && have_config && it_tokenizer_vocab_size(tok) > c.vocab_size) {
                snprintf(why, sizeof why, "%s has %d tokens but the model's vocabulary is %d", path,
                         it_tokenizer_vocab_size(tok), c.vocab_size);
                valid = 0;
            }
        }
    } else if (have_ts && !strcmp(ts.tokenizer, "bpe")) {
        printf("tokenizer: missing\n");
        if (valid) snprintf(why, sizeof why, "the run used a BPE tokenizer but %s is missing", path);
        valid = 0;
    } else
        printf("tokenizer: none (%s)\n", have_ts && !strcmp(ts.tokenizer, "none") ? "trained on a token file" : "byte-level");
    printf("valid: %s%s\n", valid ? "yes" : "NO: ", valid ? "" : why);
    it_context_destroy(ctx);
    return valid ? 0 : 1;
}
