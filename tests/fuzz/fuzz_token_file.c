/* libFuzzer target: an llm.c token file (it_token_file_parse: magic, version, count, width). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_context *ctx = fz_context();
    int32_t *ids = NULL;
    size_t n = 0, i;
    if (it_token_file_parse(ctx, "fuzz", data, size, &ids, &n) != IT_OK) return 0;
    for (i = 0; i < n; i++)
        if (ids[i] < 0) abort(); /* the parser promises non-negative ids */
    it_ids_free(ctx, ids);
    return 0;
}
