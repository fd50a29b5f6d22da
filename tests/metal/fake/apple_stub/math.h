#ifndef IT_STUB_MATH_H
#define IT_STUB_MATH_H
float sqrtf(float x);
#endif
