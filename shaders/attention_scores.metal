// attention_scores.metal - the two row steps of attention computed as matrix products: the CUDA
// backend runs S = Q K^T, O = P V and the backward's products as cuBLAS batched GEMMs (tensor
// cores; the tiled kernels of attention.metal run on the FP32 pipes at a few TFLOP/s) and these
// kernels between them. The full T x T scores of the nb batch rows in hand are materialised, the
// masked half included (the products compute it; these kernels zero its probabilities).
// Layouts: it_attention_scores_args in it_kernel_args.h. Query t sees keys t - window + 1 .. t
// (window 0: every earlier key), as attention.metal.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

#define IT_ATTS_NSG 4 // score rows per threadgroup, one simdgroup each

// s: in the raw products q . k, out the probabilities P (0 where masked); lse [B, Hq, T] = the
// log-sum-exp of the scaled visible scores, as attention.metal saves it.
// dispatchThreadgroups(ceil(rows / 4), 1, 1), threadsPerThreadgroup (128, 1, 1).
kernel void it_attention_scores_softmax_f32(device float *s [[buffer(0)]],
                                            device float *lse [[buffer(1)]],
                                            constant it_attention_scores_args &p [[buffer(2)]],
                                            uint3 tg [[threadgroup_position_in_grid]],
                                            uint lane [[thread_index_in_simdgroup]],
                                            uint sg [[simdgroup_index_in_threadgroup]]) {
    const uint row = tg.x * IT_ATTS_NSG + sg, T = p.T;
    if (row >= p.rows) return; // the whole simdgroup: rows are uniform in it
    const uint t = row % T, hb = row / T, h = hb / p.nb, b = p.b0 + hb % p.nb;
    const uint first = (p.window != 0u && t + 1 > p.window) ? t + 1 - p.window : 0u;
    device float *r = s + (ulong)row * T;
    float m = -FLT_MAX;
    for (uint j = first + lane; j <= t; j += 32) m = max(m, r[j] * p.scale);
    m = simd_max(m);
    float l = 0.0f;
    for (uint j = first + lane; j <= t; j += 32) l += exp(r[j] * p.scale - m);
    l = simd_sum(l);
    const float inv = 1.0f / l;
    for (uint j = lane; j < T; j += 32) r[j] = (j >= first && j <= t) ? exp(r[j] * p.scale - m) * inv : 0.0f;
    if (lane == 0) lse[((ulong)b * p.Hq + h) * T + t] = m + log(l);
}

// The softmax backward of the scores, elementwise: s in the raw products q . k (recomputed), out
// P = exp(scale s - lse); dp in dout . v, out dS = scale P (dp - delta), the gradient of the raw
// products (0 where masked). dispatchThreads(rows * T, 1, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_attention_scores_backward_f32(device float *s [[buffer(0)]],
                                             device float *dp [[buffer(1)]],
                                             device const float *lse [[buffer(2)]],
                                             device const float *delta [[buffer(3)]],
                                             constant it_attention_scores_args &p [[buffer(4)]],
                                             uint i [[thread_position_in_grid]]) {
    const uint T = p.T, row = i / T, j = i % T;
    if (row >= p.rows) return;
    const uint t = row % T, hb = row / T, h = hb / p.nb, b = p.b0 + hb % p.nb;
    const ulong li = ((ulong)b * p.Hq + h) * T + t;
    const bool visible = j <= t && (p.window == 0u || j + p.window > t);
    const float P = visible ? exp(min(s[i] * p.scale - lse[li], 0.0f)) : 0.0f;
    dp[i] = P * (dp[i] - delta[li]) * p.scale;
    s[i] = P;
}
