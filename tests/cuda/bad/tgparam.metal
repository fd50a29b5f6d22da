// must be refused: dynamic threadgroup memory as a kernel parameter
#include <metal_stdlib>
using namespace metal;
kernel void bad_tgparam(device float *out [[buffer(0)]], threadgroup float *tmp [[threadgroup(0)]],
                        uint i [[thread_index_in_threadgroup]]) {
    tmp[i] = 1.0f;
    out[i] = tmp[i];
}
