// must be refused: half is not mapped to CUDA yet
#include <metal_stdlib>
using namespace metal;
kernel void bad_half(device half *out [[buffer(0)]], uint i [[thread_position_in_grid]]) {
    out[i] = half(0.0f);
}
