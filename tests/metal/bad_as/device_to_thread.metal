// Must be rejected: a device pointer assigned to a thread (default address space) pointer.
#include <metal_stdlib>
using namespace metal;
kernel void itbad_as_1(device float *x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
    float *p = x;
    p[i] = 1.0f;
}
