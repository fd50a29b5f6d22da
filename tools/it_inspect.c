/* it-inspect: print a checkpoint directory's config, tensors (name, dtype, shape, L2 norm), step
   and validity (the full validation a load runs).
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

int main(int argc, char **argv) {
    it_context *ctx;
    it_model_config c;
    it_trainer_state ts;
    char path[4200];
    const char *files[2] = {"model.safetensors", "optimizer.safetensors"};
    int i, valid;
    if (argc != 2) {
        fprintf(stderr, "usage: %s CHECKPOINT_DIR\n", argv[0]);
        return 2;
    }
    if (it_context_create(NULL, &ctx) != IT_OK) return 2;
    if (it_checkpoint_read_config(ctx, argv[1], &c) == IT_OK) {
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
    if (it_checkpoint_read_trainer_state(ctx, argv[1], &ts) == IT_OK)
        printf("trainer: step %lld, tokens %lld, optimizer %s, schedule %s lr %g warmup %d total %d, batch %d x seq %d, accum %d\n",
               (long long)ts.step, (long long)ts.tokens_seen, it_optimizer_name(ts.optimizer.kind), it_schedule_name(ts.schedule.kind),
               (double)ts.schedule.base_lr, ts.schedule.warmup_steps, ts.schedule.total_steps, ts.batch, ts.seq, ts.accum_steps);
    else
        printf("trainer: no trainer state\n");
    if (it_checkpoint_tokenizer_path(argv[1], path, sizeof path)) printf("tokenizer: %s\n", path);
    valid = it_checkpoint_validate(ctx, argv[1]) == IT_OK;
    printf("valid: %s%s\n", valid ? "yes" : "NO: ", valid ? "" : it_context_last_error(ctx));
    it_context_destroy(ctx);
    return valid ? 0 : 1;
}
