// residual_rmsnorm.metal - fused residual add + RMSNorm: sum = x + residual; out = rmsnorm(sum) w.
// Its backward is it_rmsnorm_backward_* on sum, the residual gradient passing straight through.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// sum, out, x, residual [N, C]; w [C]; rstd [N]. sum may alias x or residual (each thread reads
// then writes only its own columns).
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1), T <= 1024.
kernel void it_residual_rmsnorm_forward_f32(device float *sum [[buffer(0)]],
                                            device float *out [[buffer(1)]],
                                            device float *rstd [[buffer(2)]],
                                            device const float *x [[buffer(3)]],
                                            device const float *residual [[buffer(4)]],
                                            device const float *w [[buffer(5)]],
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
    float ss = 0.0f;
    for (uint c = tid; c < p.C; c += ntg) {
        float s = x[base + c] + residual[base + c];
        sum[base + c] = s;
        ss = fma(s, s, ss);
    }
    ss = it_tg_sum(ss, scratch, lane, sg, nsg);
    float r = rsqrt(ss / float(p.C) + p.eps);
    if (tid == 0) rstd[row] = r;
    for (uint c = tid; c < p.C; c += ntg) out[base + c] = sum[base + c] * r * w[c];
}
