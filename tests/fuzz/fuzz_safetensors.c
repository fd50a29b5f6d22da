/* libFuzzer target for the safetensors + JSON readers:
     clang -g -O1 -fsanitize=fuzzer,address,undefined fuzz_safetensors.c -o fuzz_st -lm -lpthread
     ./fuzz_st -max_total_time=30
   The input is parsed as a safetensors file, as config.json and as trainer_state.json. */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"

static void fz_logger(it_log_level level, const char *message, void *user) {
    (void)level;
    (void)message;
    (void)user;
}
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static it_context *ctx;
    it__st_file f;
    it__json j;
    if (!ctx) {
        it_context_desc d;
        memset(&d, 0, sizeof d);
        d.n_threads = 1;
        d.logger.log = fz_logger;
        if (it_context_create(&d, &ctx) != IT_OK) return 0;
    }
    memset(&f, 0, sizeof f);
    f.label = "fuzz";
    f.buf = (unsigned char *)it__alloc(ctx, size + 1); /* it__st_free releases it */
    if (!f.buf) return 0;
    memcpy(f.buf, data, size);
    f.size = size;
    it__st_parse(ctx, &f);
    it__st_free(ctx, &f);
    if (it__json_parse(ctx, &j, (const char *)data, size) == 0 && j.v[0].type == IT__J_OBJ) {
        it_model_config c;
        it_trainer_state ts;
        it__config_parse(ctx, "fuzz", &j, &c);
        it__trainer_parse(ctx, "fuzz", &j, &ts);
    }
    it__json_free(&j);
    return 0;
}
