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
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

kernel void it_f32_to_bf16(device ushort *out [[buffer(0)]],
                           device const float *in [[buffer(1)]],
                           constant it_elementwise_args &p [[buffer(2)]],
                           uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    out[i] = (ushort)(as_type<uint>(it_bf16_round(in[i])) >> 16); // it_reduce.h: the rounding on the bits
}
