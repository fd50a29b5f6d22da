/* irontensor_metal.h - v0.1.0 - the Metal backend for irontensor.h. MIT licence (see irontensor.h).

   STATUS: public declarations and the off-Apple stub. The Metal implementation (plain C over the
   Objective-C runtime, MPS matmuls, kernels from shaders.h) is not in this version: on every
   platform it_metal_backend_create() returns IT_ERR_BACKEND_UNAVAILABLE with a message saying why.

   USAGE
     In one C file, after IRONTENSOR_IMPLEMENTATION:
         #define IRONTENSOR_METAL_IMPLEMENTATION
         #include "irontensor_metal.h"
     then:
         it_backend *metal;
         if (it_metal_backend_create(ctx, NULL, &metal) == IT_OK) it_context_set_backend(ctx, metal);
         else fprintf(stderr, "%s\n", it_context_last_error(ctx));   // stays on the CPU backend
*/
#ifndef IRONTENSOR_METAL_H
#define IRONTENSOR_METAL_H
#include "irontensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_metal_desc {
    int device_index; /* 0 = the system default device */
} it_metal_desc;

/* 1 when this build can create a Metal backend (Apple platforms with the implementation). */
IT_API int it_metal_available(void);
/* Creates the backend; on failure *out is NULL, the context's last error says why, and the
   context keeps its CPU backend. */
IT_API it_result it_metal_backend_create(it_context *ctx, const it_metal_desc *desc, it_backend **out);

#ifdef __cplusplus
}
#endif
#endif /* IRONTENSOR_METAL_H */

#ifdef IRONTENSOR_METAL_IMPLEMENTATION
#ifndef IRONTENSOR_METAL_IMPLEMENTATION_INCLUDED
#define IRONTENSOR_METAL_IMPLEMENTATION_INCLUDED
IT_API int it_metal_available(void) { return 0; }
IT_API it_result it_metal_backend_create(it_context *ctx, const it_metal_desc *desc, it_backend **out) {
    (void)desc;
    *out = NULL;
#if defined(__APPLE__)
    return it_context_error(ctx, IT_ERR_BACKEND_UNAVAILABLE,
                            "Metal backend unavailable: this version of irontensor_metal.h has no Metal "
                            "implementation yet; using the CPU backend");
#else
    return it_context_error(ctx, IT_ERR_BACKEND_UNAVAILABLE,
                            "Metal backend unavailable: Metal exists only on Apple platforms; using the CPU backend");
#endif
}
#endif
#endif
