// grad_norm.metal - global gradient norm for clipping, in two deterministic passes (no atomics):
// per-threadgroup partial sums of squares, then one threadgroup folds them into the norm and the
// scale the optimizer kernels read.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// partials [n_partials] = sums of x^2 over a grid-strided slice of x [n].
// dispatchThreadgroups(n_partials, 1, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_sum_squares_partial_f32(device float *partials [[buffer(0)]],
                                       device const float *x [[buffer(1)]],
                                       constant it_grad_norm_args &p [[buffer(2)]],
                                       uint g [[threadgroup_position_in_grid]],
                                       uint tid [[thread_index_in_threadgroup]],
                                       uint ntg [[threads_per_threadgroup]],
                                       uint lane [[thread_index_in_simdgroup]],
                                       uint sg [[simdgroup_index_in_threadgroup]],
                                       uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    float s = 0.0f;
    for (uint i = g * ntg + tid; i < p.n; i += p.n_partials * ntg) s = fma(x[i], x[i], s);
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    if (tid == 0) partials[g] = s;
}

// out [2] = { norm, scale }, as it_optimizer_step: norm = extra_scale * sqrt(sum partials) is the
// norm of the scaled gradient; scale = extra_scale * (max_norm > 0 and norm > max_norm ?
// max_norm / norm : 1). A non-finite norm cannot be tested reliably under fast math: the host
// reads out[0] after the step (the CPU path skips such an update).
// dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_grad_clip_scale_f32(device float *out [[buffer(0)]],
                                   device const float *partials [[buffer(1)]],
                                   constant it_grad_norm_args &p [[buffer(2)]],
                                   uint tid [[thread_index_in_threadgroup]],
                                   uint ntg [[threads_per_threadgroup]],
                                   uint lane [[thread_index_in_simdgroup]],
                                   uint sg [[simdgroup_index_in_threadgroup]],
                                   uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    float s = 0.0f;
    for (uint i = tid; i < p.n_partials; i += ntg) s += partials[i];
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    if (tid == 0) {
        float norm = sqrt(s) * p.extra_scale;
        out[0] = norm;
        out[1] = p.extra_scale * ((p.max_norm > 0.0f && norm > p.max_norm) ? p.max_norm / norm : 1.0f);
    }
}
