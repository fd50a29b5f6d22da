/* Kill test: a child saves the same checkpoint over and over (all weights = its iteration number),
   the parent SIGKILLs it at random moments; afterwards the checkpoint must load, whole (every
   weight the same value), both as left and after it_checkpoint_recover. */
#include "ckpt_common.h"
#include <time.h>

int main(void) {
    char root[256], dir[512];
    it_model_config c = it_test_llama();
    ck_setup a = ck_make(&c, 1, IT_OPTIMIZER_INVALID, 0), b = ck_make(&c, 2, IT_OPTIMIZER_INVALID, 0);
    it_rng rng;
    int round, fallbacks = 0;
    size_t n = it_param_numel(a.ctx);
    snprintf(root, sizeof root, "/tmp/it_ckpt_kill_%ld", (long)getpid());
    it_test_remove_tree(root);
    mkdir(root, 0755);
    snprintf(dir, sizeof dir, "%s/ck", root);
    it_rng_seed(&rng, (uint64_t)time(NULL));
    {
        int i;
        for (i = 0; i < it_param_count(a.ctx); i++) it_param_fill(it_param_at(a.ctx, i), 0.0f);
    }
    CHECK(it_checkpoint_save(a.ctx, a.m, NULL, NULL, dir, NULL) == IT_OK, "first save");
    for (round = 0; round < 30; round++) {
        pid_t pid = fork();
        int status, i;
        if (pid == 0) {
            float v = 1.0f + (float)round * 1000.0f;
            for (;;) {
                for (i = 0; i < it_param_count(a.ctx); i++) it_param_fill(it_param_at(a.ctx, i), v);
                if (it_checkpoint_save(a.ctx, a.m, NULL, NULL, dir, NULL) != IT_OK) _exit(3);
                v += 1.0f;
            }
        }
        usleep(1000 + it_rng_below(&rng, 40000));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status), "round %d: child ended by itself (status %d)", round, status);
        fallbacks += !it__dir_exists(dir);
        for (i = 0; i < 2; i++) {
            size_t j, mixed = 0;
            const float *p = it_param_block(b.ctx);
            it_result r = it_checkpoint_load(b.ctx, b.m, NULL, NULL, dir);
            CHECK(r == IT_OK, "round %d%s: load after SIGKILL: %s", round, i ? " (recovered)" : "", it_context_last_error(b.ctx));
            for (j = 0; j < it_tensor_numel(it_param_at(b.ctx, 0)); j++) mixed += p[j] != p[0];
            for (j = 0; j < (size_t)it_param_count(b.ctx); j++)
                mixed += it_data(it_param_at(b.ctx, (int)j))[0] != p[0];
            CHECK(mixed == 0, "round %d: checkpoint mixes two saves", round);
            if (i == 0) CHECK(it_checkpoint_recover(b.ctx, dir) == IT_OK && it__dir_exists(dir), "recover");
        }
    }
    (void)n;
    printf("30 kills, %d left DIR missing (recovered from DIR.old-*)\n", fallbacks);
    ck_free(&a);
    ck_free(&b);
    it_test_remove_tree(root);
    return it_test_finish();
}
