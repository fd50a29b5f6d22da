// must be refused: an attribute the translator does not map
#include <metal_stdlib>
using namespace metal;
kernel void bad_attr(device float *out [[buffer(0)]], uint q [[quad_lane_id]]) {
    out[q] = 0.0f;
}
