// Must be rejected: a write through a constant-address-space pointer.
#include <metal_stdlib>
using namespace metal;
kernel void itbad_as_4(constant float *c [[buffer(0)]], uint i [[thread_position_in_grid]]) {
    c[i] = 1.0f;
}
