/* Compile test: the three headers, implementation included, must build warning-free as C99, C11 and
   C++11 with -Wall -Wextra -Werror -pedantic, with and without IRONTENSOR_STATIC (see Makefile). */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "../irontensor.h" /* a second include must be harmless */
#define IRONTENSOR_METAL_IMPLEMENTATION
#include "../irontensor_metal.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "../irontensor_cuda.h"
#include "../irontensor_cuda.h" /* likewise */

/* Reference a few functions so IRONTENSOR_STATIC builds do not warn about unused statics. */
int main(void) {
    it_context *ctx = 0;
    if (it_context_create(0, &ctx) != IT_OK) return 1;
    it_backend *metal = 0;
    if (it_metal_backend_create(ctx, 0, &metal) == IT_OK && !it_metal_available()) return 1;
    it_backend *cuda = 0;
    if (it_cuda_backend_create(ctx, 0, &cuda) == IT_OK && !it_cuda_available()) return 1;
    it_context_destroy(ctx);
    return it_result_string(IT_OK)[0] == 'o' ? 0 : 1;
}
