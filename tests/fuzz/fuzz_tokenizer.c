/* libFuzzer target: a tokenizer.bin (it_tokenizer_load_memory); a tokenizer that loads must then
   encode and decode a text made of the input's own bytes without fault. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_context *ctx = fz_context();
    it_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    if (it_tokenizer_load_memory(ctx, "fuzz", data, size, &tok) != IT_OK) return 0;
    if (it_tokenizer_encode(ctx, tok, data, size, &ids, &n) == IT_OK) {
        uint8_t *text = (uint8_t *)it__alloc(ctx, size + 1);
        if (text && it_tokenizer_decode(tok, ids, n, text, size + 1) != size) abort(); /* byte-level BPE round-trips */
        if (text && memcmp(text, data, size) != 0) abort();
        it__free(ctx, text);
        it_ids_free(ctx, ids);
    }
    it_tokenizer_destroy(tok);
    return 0;
}
