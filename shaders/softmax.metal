// softmax.metal - softmax over the last dimension, forward and backward.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// x, out [N, C]. dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1), T <= 1024.
kernel void it_softmax_forward_f32(device float *out [[buffer(0)]],
                                   device const float *x [[buffer(1)]],
                                   constant it_norm_args &p [[buffer(2)]],
                                   uint row [[threadgroup_position_in_grid]],
                                   uint tid [[thread_index_in_threadgroup]],
                                   uint ntg [[threads_per_threadgroup]],
                                   uint lane [[thread_index_in_simdgroup]],
                                   uint sg [[simdgroup_index_in_threadgroup]],
                                   uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return;
    ulong base = (ulong)row * p.C;
    float m = -FLT_MAX;
    for (uint c = tid; c < p.C; c += ntg) m = max(m, x[base + c]);
    m = it_tg_max(m, scratch, lane, sg, nsg);
    float s = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) s += exp(x[base + c] - m);
    float inv = 1.0f / it_tg_sum(s, scratch, lane, sg, nsg);
    for (uint c = tid; c < p.C; c += ntg) out[base + c] = exp(x[base + c] - m) * inv;
}

// dx [N, C] += out (dout - sum(dout out)).
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1).
kernel void it_softmax_backward_f32(device float *dx [[buffer(0)]],
                                    device const float *dout [[buffer(1)]],
                                    device const float *out [[buffer(2)]],
                                    constant it_norm_args &p [[buffer(3)]],
                                    uint row [[threadgroup_position_in_grid]],
                                    uint tid [[thread_index_in_threadgroup]],
                                    uint ntg [[threads_per_threadgroup]],
                                    uint lane [[thread_index_in_simdgroup]],
                                    uint sg [[simdgroup_index_in_threadgroup]],
                                    uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return;
    ulong base = (ulong)row * p.C;
    float d = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) d = fma(dout[base + c], out[base + c], d);
    d = it_tg_sum(d, scratch, lane, sg, nsg);
    for (uint c = tid; c < p.C; c += ntg) dx[base + c] += out[base + c] * (dout[base + c] - d);
}
