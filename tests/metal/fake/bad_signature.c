/* bad_signature.c - must NOT compile: a fake MPSMatrixMultiplication initializer taking alpha and
   beta as float (a classic glue bug: the callee reads garbage doubles) is rejected by the same
   compile-time check fake_metal.c applies to every method it registers. */
#define IT_METAL_FAKE
#define IT_METAL_OBJC_ONLY
#include "../../../irontensor_metal.h"
static id bad_init(id self, SEL cmd, id dev, BOOL tl, BOOL tr, it__NSUInteger M, it__NSUInteger N, it__NSUInteger K,
                   float alpha, float beta) {
    (void)cmd; (void)dev; (void)tl; (void)tr; (void)M; (void)N; (void)K; (void)alpha; (void)beta;
    return self;
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&bad_init), it__ft_initMatMul),
               "fake bad_init does not have the C type irontensor_metal.h sends initMatMul with");
int main(void) { return 0; }
