// Must be rejected: a device pointer assigned to a threadgroup pointer.
#include <metal_stdlib>
using namespace metal;
kernel void itbad_as_2(device float *x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
    threadgroup float *t = x;
    x[i] = t[0];
}
