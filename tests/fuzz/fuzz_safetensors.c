/* libFuzzer target: a model.safetensors / optimizer.safetensors file (it__st_parse: header length,
   JSON, entries, layout, checksums). Built and run by `make fuzz`. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    it_context *ctx = fz_context();
    it__st_file f;
    memset(&f, 0, sizeof f);
    f.label = "fuzz";
    f.buf = (unsigned char *)it__alloc(ctx, size + 1); /* it__st_free releases it */
    if (!f.buf) return 0;
    memcpy(f.buf, data, size);
    f.size = size;
    it__st_parse(ctx, &f);
    it__st_free(ctx, &f);
    return 0;
}
