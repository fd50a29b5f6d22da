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

// Fast math lets the compiler assume every float is finite, so finiteness is tested on the bits
// of values loaded from memory (an integer test it cannot fold): exponent all ones = Inf or NaN.
inline bool it_bits_not_finite(float v) { return (as_type<uint>(v) & 0x7f800000u) == 0x7f800000u; }

// partials [n_partials] = sums of x^2 over a grid-strided slice of x [n]; a slice holding an Inf or
// NaN writes the bits of +Inf, which the clip kernel recognises.
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
    float s = 0.0f, bad = 0.0f;
    for (uint i = g * ntg + tid; i < p.n; i += p.n_partials * ntg) {
        float v = x[i];
        bad = it_bits_not_finite(v) ? 1.0f : bad;
        s = fma(v, v, s);
    }
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    bad = it_tg_max(bad, scratch, lane, sg, nsg);
    if (tid == 0) partials[g] = bad > 0.0f ? as_type<float>(0x7f800000u) : s;
}

// out [3] = { norm, scale, skip }, as it_optimizer_step: norm = extra_scale * sqrt(sum partials)
// is the norm of the scaled gradient; scale = extra_scale * (max_norm > 0 and norm > max_norm ?
// max_norm / norm : 1); skip = 1 when the norm is not finite (a partial's bits say Inf or NaN, or
// the sum overflowed), and then scale = 0. The optimizer kernels read { scale, skip } and leave
// everything as it was on a skip, as the CPU does; the host reads the norm back with the loss.
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
    float s = 0.0f, bad = 0.0f;
    for (uint i = tid; i < p.n_partials; i += ntg) {
        float v = partials[i];
        bad = it_bits_not_finite(v) ? 1.0f : bad;
        s += v;
    }
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    bad = it_tg_max(bad, scratch, lane, sg, nsg);
    if (tid == 0) {
        float norm = sqrt(s) * p.extra_scale;
        out[0] = norm;
        out[2] = 0.0f;
        if (bad > 0.0f || it_bits_not_finite(norm)) { // the sum overflowed: the GPU's sqrt gives Inf
            out[0] = as_type<float>(0x7f800000u);
            out[1] = 0.0f;
            out[2] = 1.0f;
        } else {
            out[1] = p.extra_scale * ((p.max_norm > 0.0f && norm > p.max_norm) ? p.max_norm / norm : 1.0f);
        }
    }
}
