// must be refused: bindings 0 and 2 without 1 (the host passes arguments in binding order)
#include <metal_stdlib>
using namespace metal;
kernel void bad_gap(device float *out [[buffer(0)]], device const float *x [[buffer(2)]],
                    uint i [[thread_position_in_grid]]) {
    out[i] = x[i];
}
