// lora.metal - the rank-r branch of a LoRA linear (it_lora_linear, >>lora in irontensor.h:
// y = x W^T + scale (x A^T) B^T), beside the base product (MPS): the projection down to rank r,
// and the projection up added into y in place, so the branch never makes an [N, out] temporary.
// The backward runs the same two kernels with other strides (du = scale dy B, dx += du A); dA and
// dB are products over the rows (MPS). Each reads its matrix through (ld_row, ld_col), so A, B
// and their transposes need no copy. With p.bf16 both factors of every product are rounded to
// bf16 (bf16 mixed precision, as the CPU's LoRA products).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// u [N, r] = scale * x [N, K] M^T, M (k, i) = mat[k * ld_row + i * ld_col]: the forward's
// scale x A^T (A [r, K]: ld_row K, ld_col 1) and the backward's scale dy B (B [K, r]: ld_row 1,
// ld_col r). A simdgroup per (row, k): its lanes stride over K, then simd_sum.
// dispatchThreadgroups(N, ceil(r / S), 1), threadsPerThreadgroup (32 S, 1, 1); args it_lora_args.
kernel void it_lora_down_f32(device float *u [[buffer(0)]],
                             device const float *x [[buffer(1)]],
                             device const float *mat [[buffer(2)]],
                             constant it_lora_args &p [[buffer(3)]],
                             uint2 group [[threadgroup_position_in_grid]],
                             uint lane [[thread_index_in_simdgroup]],
                             uint width [[threads_per_simdgroup]],
                             uint sg [[simdgroup_index_in_threadgroup]],
                             uint nsg [[simdgroups_per_threadgroup]]) {
    uint n = group.x, k = group.y * nsg + sg;
    if (n >= p.N || k >= p.r) return; // a whole simdgroup at once: simd_sum below sees every lane
    device const float *xn = x + (ulong)n * p.K;
    device const float *mk = mat + (ulong)k * p.ld_row;
    float s = 0.0f;
    for (uint i = lane; i < p.K; i += width) {
        float xv = xn[i], mv = mk[(ulong)i * p.ld_col];
        s = p.bf16 ? fma(it_bf16_round(xv), it_bf16_round(mv), s) : fma(xv, mv, s);
    }
    s = simd_sum(s);
    if (lane == 0) u[(ulong)n * p.r + k] = p.scale * s;
}

// y [N, K] += u [N, r] M^T, M (d, k) = mat[d * ld_row + k * ld_col]: the forward's y += u B^T
// (B [K, r]: ld_row r, ld_col 1) and the backward's dx += du A (A [r, K]: ld_row 1, ld_col K).
// A thread per output, the r terms in order.
// dispatchThreads(K, N, 1), threadsPerThreadgroup (64, 4, 1); args it_lora_args.
kernel void it_lora_up_f32(device float *y [[buffer(0)]],
                           device const float *u [[buffer(1)]],
                           device const float *mat [[buffer(2)]],
                           constant it_lora_args &p [[buffer(3)]],
                           uint2 pos [[thread_position_in_grid]]) {
    uint d = pos.x, n = pos.y;
    if (d >= p.K || n >= p.N) return;
    device const float *un = u + (ulong)n * p.r;
    device const float *md = mat + (ulong)d * p.ld_row;
    float s = 0.0f;
    for (uint k = 0; k < p.r; k++) {
        float uv = un[k], mv = md[(ulong)k * p.ld_col];
        s = p.bf16 ? fma(it_bf16_round(uv), it_bf16_round(mv), s) : fma(uv, mv, s);
    }
    y[(ulong)n * p.K + d] += s;
}
