// layernorm.metal - LayerNorm forward (saves mean and rstd) and backward (dx per row; dw, db per
// column over row blocks). The bias is optional: has_bias = 0 means b / db are not read or
// written (bind any buffer there; Metal wants every declared argument bound).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// x, out [N, C]; w, b [C]; mean, rstd [N]. Two passes over the row (mean, then the centred
// variance) for accuracy.
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1), T <= 1024.
kernel void it_layernorm_forward_f32(device float *out [[buffer(0)]],
                                     device float *mean [[buffer(1)]],
                                     device float *rstd [[buffer(2)]],
                                     device const float *x [[buffer(3)]],
                                     device const float *w [[buffer(4)]],
                                     device const float *b [[buffer(5)]],
                                     constant it_norm_args &p [[buffer(6)]],
                                     uint row [[threadgroup_position_in_grid]],
                                     uint tid [[thread_index_in_threadgroup]],
                                     uint ntg [[threads_per_threadgroup]],
                                     uint lane [[thread_index_in_simdgroup]],
                                     uint sg [[simdgroup_index_in_threadgroup]],
                                     uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return;
    ulong base = (ulong)row * p.C;
    float s = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) s += x[base + c];
    float mu = it_tg_sum(s, scratch, lane, sg, nsg) / float(p.C);
    float v = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) {
        float d = x[base + c] - mu;
        v = fma(d, d, v);
    }
    float r = rsqrt(it_tg_sum(v, scratch, lane, sg, nsg) / float(p.C) + p.eps);
    if (tid == 0) {
        mean[row] = mu;
        rstd[row] = r;
    }
    for (uint c = tid; c < p.C; c += ntg) {
        float y = (x[base + c] - mu) * r * w[c];
        out[base + c] = p.has_bias ? y + b[c] : y;
    }
}

// dx [N, C] += r (g - mean(g) - xhat mean(g xhat)), g = dout w, xhat = (x - mean) r.
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1).
kernel void it_layernorm_backward_f32(device float *dx [[buffer(0)]],
                                      device const float *dout [[buffer(1)]],
                                      device const float *x [[buffer(2)]],
                                      device const float *w [[buffer(3)]],
                                      device const float *mean [[buffer(4)]],
                                      device const float *rstd [[buffer(5)]],
                                      constant it_norm_args &p [[buffer(6)]],
                                      uint row [[threadgroup_position_in_grid]],
                                      uint tid [[thread_index_in_threadgroup]],
                                      uint ntg [[threads_per_threadgroup]],
                                      uint lane [[thread_index_in_simdgroup]],
                                      uint sg [[simdgroup_index_in_threadgroup]],
                                      uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return;
    ulong base = (ulong)row * p.C;
    float mu = mean[row], r = rstd[row], sg_ = 0.0f, sgx = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) {
        float g = dout[base + c] * w[c];
        sg_ += g;
        sgx = fma(g, (x[base + c] - mu) * r, sgx);
    }
    float mg = it_tg_sum(sg_, scratch, lane, sg, nsg) / float(p.C);
    float mgx = it_tg_sum(sgx, scratch, lane, sg, nsg) / float(p.C);
    for (uint c = tid; c < p.C; c += ntg) {
        float g = dout[base + c] * w[c], xhat = (x[base + c] - mu) * r;
        dx[base + c] += r * (g - mg - xhat * mgx);
    }
}

// The first pass of dw [C] += sum_n dout xhat and db [C] += sum_n dout (when has_bias):
// pw, pb [n_blocks, C] (=, or += when accumulate) those sums over each block of block_rows rows,
// a column per thread, rows in order; it_sum_rows_f32 adds the blocks in order
// (it_column_sum_args). One block: pw, pb = dw, db, accumulate.
// dispatchThreads(C, n_blocks, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_layernorm_backward_dwdb_partial_f32(device float *pw [[buffer(0)]],
                                                   device float *pb [[buffer(1)]],
                                                   device const float *dout [[buffer(2)]],
                                                   device const float *x [[buffer(3)]],
                                                   device const float *mean [[buffer(4)]],
                                                   device const float *rstd [[buffer(5)]],
                                                   constant it_column_sum_args &p [[buffer(6)]],
                                                   uint2 pos [[thread_position_in_grid]]) {
    uint c = pos.x, r0 = pos.y * p.block_rows;
    if (c >= p.C || r0 >= p.N) return;
    uint r1 = min(r0 + p.block_rows, p.N);
    float aw = 0.0f, ab = 0.0f;
    for (uint n = r0; n < r1; n++) {
        float g = dout[(ulong)n * p.C + c];
        aw = fma(g, (x[(ulong)n * p.C + c] - mean[n]) * rstd[n], aw);
        ab += g;
    }
    ulong o = (ulong)pos.y * p.C + c;
    pw[o] = p.accumulate ? pw[o] + aw : aw;
    if (p.has_bias) pb[o] = p.accumulate ? pb[o] + ab : ab;
}
