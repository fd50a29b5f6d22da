/* libFuzzer target: a checkpoint's config.json (IronTensor's or a Hugging Face one) through the
   strict JSON reader and the config parser, then the config check a load runs next. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_context *ctx = fz_context();
    it__json j;
    it_model_config c;
    if (it__json_parse(ctx, &j, (const char *)data, size) == 0 && j.v[0].type == IT__J_OBJ &&
        it__config_parse(ctx, "fuzz", &j, &c) == IT_OK)
        it_model_config_check(ctx, &c);
    it__json_free(&j);
    return 0;
}
