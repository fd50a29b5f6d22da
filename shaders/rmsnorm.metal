// rmsnorm.metal - RMSNorm forward (saves rstd) and backward (dx per row; dw per column over row blocks).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// x, out [N, C]; w [C]; rstd [N] = 1 / sqrt(mean(x^2) + eps).
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1), T <= 1024 (128..256 typical).
kernel void it_rmsnorm_forward_f32(device float *out [[buffer(0)]],
                                   device float *rstd [[buffer(1)]],
                                   device const float *x [[buffer(2)]],
                                   device const float *w [[buffer(3)]],
                                   constant it_norm_args &p [[buffer(4)]],
                                   uint row [[threadgroup_position_in_grid]],
                                   uint tid [[thread_index_in_threadgroup]],
                                   uint ntg [[threads_per_threadgroup]],
                                   uint lane [[thread_index_in_simdgroup]],
                                   uint sg [[simdgroup_index_in_threadgroup]],
                                   uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return; // whole group: no barrier is skipped by part of it
    device const float *xr = x + (ulong)row * p.C;
    float ss = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) ss = fma(xr[c], xr[c], ss);
    ss = it_tg_sum(ss, scratch, lane, sg, nsg);
    float r = rsqrt(ss / float(p.C) + p.eps);
    if (tid == 0) rstd[row] = r;
    device float *orow = out + (ulong)row * p.C;
    for (uint c = tid; c < p.C; c += ntg) orow[c] = xr[c] * r * w[c];
}

// dx [N, C] += r w dout - (r^3 / C) x sum(dout w x); one row per threadgroup.
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1).
kernel void it_rmsnorm_backward_f32(device float *dx [[buffer(0)]],
                                    device const float *dout [[buffer(1)]],
                                    device const float *x [[buffer(2)]],
                                    device const float *w [[buffer(3)]],
                                    device const float *rstd [[buffer(4)]],
                                    constant it_norm_args &p [[buffer(5)]],
                                    uint row [[threadgroup_position_in_grid]],
                                    uint tid [[thread_index_in_threadgroup]],
                                    uint ntg [[threads_per_threadgroup]],
                                    uint lane [[thread_index_in_simdgroup]],
                                    uint sg [[simdgroup_index_in_threadgroup]],
                                    uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return;
    ulong base = (ulong)row * p.C;
    float dot = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) dot = fma(dout[base + c] * w[c], x[base + c], dot);
    dot = it_tg_sum(dot, scratch, lane, sg, nsg);
    float r = rstd[row], k = r * r * r * dot / float(p.C);
    for (uint c = tid; c < p.C; c += ntg) dx[base + c] += r * w[c] * dout[base + c] - k * x[base + c];
}

// The first pass of dw [C] += sum over rows of dout x rstd: partials [n_blocks, C] (=, or +=
// when accumulate) that sum over each block of block_rows rows, a column per thread, rows in
// order; it_sum_rows_f32 adds the blocks in order (it_column_sum_args). One block: partials = dw,
// accumulate.
// dispatchThreads(C, n_blocks, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_rmsnorm_backward_dw_partial_f32(device float *partials [[buffer(0)]],
                                               device const float *dout [[buffer(1)]],
                                               device const float *x [[buffer(2)]],
                                               device const float *rstd [[buffer(3)]],
                                               constant it_column_sum_args &p [[buffer(4)]],
                                               uint2 pos [[thread_position_in_grid]]) {
    uint c = pos.x, r0 = pos.y * p.block_rows;
    if (c >= p.C || r0 >= p.N) return;
    uint r1 = min(r0 + p.block_rows, p.N);
    float acc = 0.0f;
    for (uint n = r0; n < r1; n++) acc = fma(dout[(ulong)n * p.C + c] * x[(ulong)n * p.C + c], rstd[n], acc);
    ulong o = (ulong)pos.y * p.C + c;
    partials[o] = p.accumulate ? partials[o] + acc : acc;
}
