/* Shared by the libFuzzer targets in tests/fuzz/ (make fuzz): the implementation, and one quiet
   single-thread context per process (the library's messages would drown the fuzzer's output).
   Each target feeds the input to one of the library's in-memory parsers, exactly as a file of
   that kind would reach it; seeds are real files in tests/fuzz/corpus/<target>/. */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"

static void fz_logger(it_log_level level, const char *message, void *user) {
    (void)level;
    (void)message;
    (void)user;
}
static it_context *fz_context(void) {
    static it_context *ctx;
    if (!ctx) {
        it_context_desc d;
        memset(&d, 0, sizeof d);
        d.n_threads = 1;
        d.logger.log = fz_logger;
        if (it_context_create(&d, &ctx) != IT_OK) abort();
    }
    return ctx;
}
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
