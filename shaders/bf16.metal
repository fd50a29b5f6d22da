// bf16.metal - fp32 -> bf16 for the operands of bf16 matrix products (the CUDA backend's bf16
// compute: cuBLAS multiplies bf16 matrices with fp32 sums; everything else stays fp32). The rule
// is irontensor.h's it_f32_to_bf16: round to nearest, ties to even; a NaN stays a quiet NaN
// (top bits kept, quiet bit set); infinities and overflow to infinity as the rounding gives.
// The bits go out as ushort (MSL's own bf16 type needs MSL 3.1; the value, not the type, matters).
// dispatchThreads(n, 1, 1), threadsPerThreadgroup (256, 1, 1); args it_elementwise_args (n).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

kernel void it_f32_to_bf16(device ushort *out [[buffer(0)]],
                           device const float *in [[buffer(1)]],
                           constant it_elementwise_args &p [[buffer(2)]],
                           uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    uint u = as_type<uint>(in[i]); // bits: no float arithmetic for fast math to change
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0u) {
        out[i] = (ushort)((u >> 16) | 0x0040u);
        return;
    }
    u += 0x7FFFu + ((u >> 16) & 1u);
    out[i] = (ushort)(u >> 16);
}
