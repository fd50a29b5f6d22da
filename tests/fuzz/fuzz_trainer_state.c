/* libFuzzer target: a checkpoint's trainer_state.json through the JSON reader and the trainer-state
   parser (which validates every field as a resume would). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_context *ctx = fz_context();
    it__json j;
    it_trainer_state ts;
    if (it__json_parse(ctx, &j, (const char *)data, size) == 0 && j.v[0].type == IT__J_OBJ)
        it__trainer_parse(ctx, "fuzz", &j, &ts);
    it__json_free(&j);
    return 0;
}
