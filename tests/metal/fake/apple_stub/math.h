#ifndef IT_STUB_MATH_H
#define IT_STUB_MATH_H
float sqrtf(float x);
#define isfinite(x) __builtin_isfinite(x) /* a macro in C99's <math.h>, as in Apple's */
#define NAN __builtin_nanf("") /* as Apple's <math.h> defines it */
#endif
