// backend.metal - the small kernels irontensor_metal.h needs between the big ones: fill, a
// whole-tensor sum and its broadcast backward, and the cross-entropy pieces whose inputs live on
// the GPU (the mean loss over counted rows, d(loss)/count as a device scalar, dlogits scaled by
// it). Keeping these on the GPU is what lets a whole training step be one command buffer.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// out [n] = alpha (gradient zeroing, d(loss) = 1).
// dispatchThreads(n, 1, 1), threadsPerThreadgroup (256, 1, 1); args it_elementwise_args.
kernel void it_fill_f32(device float *out [[buffer(0)]],
                        constant it_elementwise_args &p [[buffer(1)]],
                        uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    out[i] = p.alpha;
}

// out [1] = alpha * sum(x [n]) (alpha = 1 for sum, 1/n for mean). One threadgroup, strided
// partial sums in a fixed order: deterministic.
// dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (T, 1, 1); args it_elementwise_args.
kernel void it_sum_f32(device float *out [[buffer(0)]],
                       device const float *x [[buffer(1)]],
                       constant it_elementwise_args &p [[buffer(2)]],
                       uint tid [[thread_index_in_threadgroup]],
                       uint ntg [[threads_per_threadgroup]],
                       uint lane [[thread_index_in_simdgroup]],
                       uint sg [[simdgroup_index_in_threadgroup]],
                       uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    float s = 0.0f;
    for (uint i = tid; i < p.n; i += ntg) s += x[i];
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    if (tid == 0) out[0] = p.alpha * s;
}

// dx [n] += alpha * s[0]: the backward of sum (alpha 1) and mean (alpha 1/n).
// dispatchThreads(n, 1, 1), threadsPerThreadgroup (256, 1, 1); args it_elementwise_args.
kernel void it_add_scalar_f32(device float *dx [[buffer(0)]],
                              device const float *s [[buffer(1)]],
                              constant it_elementwise_args &p [[buffer(2)]],
                              uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    dx[i] += p.alpha * s[0];
}

// out [1] = mean of losses [N] over the rows whose target is not ignore_index (0 when none).
// dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (T, 1, 1); args it_cross_entropy_args (N, ignore_index).
kernel void it_cross_entropy_mean_f32(device float *out [[buffer(0)]],
                           device const float *losses [[buffer(1)]],
                           device const int *targets [[buffer(2)]],
                           constant it_cross_entropy_args &p [[buffer(3)]],
                           uint tid [[thread_index_in_threadgroup]],
                           uint ntg [[threads_per_threadgroup]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    float s = 0.0f, c = 0.0f;
    for (uint i = tid; i < p.N; i += ntg)
        if (targets[i] != p.ignore_index) {
            s += losses[i];
            c += 1.0f;
        }
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    c = it_tg_sum(c, scratch, lane, sg, nsg);
    if (tid == 0) out[0] = c > 0.0f ? s / c : 0.0f;
}

// scale [1] = dout[0] / count, count = rows whose target is not ignore_index (0 when none): the
// factor every dlogit carries, computed where d(loss) lives.
// dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (T, 1, 1); args it_cross_entropy_args (N, ignore_index).
kernel void it_cross_entropy_dloss_scale_f32(device float *scale [[buffer(0)]],
                                  device const float *dout [[buffer(1)]],
                                  device const int *targets [[buffer(2)]],
                                  constant it_cross_entropy_args &p [[buffer(3)]],
                                  uint tid [[thread_index_in_threadgroup]],
                                  uint ntg [[threads_per_threadgroup]],
                                  uint lane [[thread_index_in_simdgroup]],
                                  uint sg [[simdgroup_index_in_threadgroup]],
                                  uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    float c = 0.0f;
    for (uint i = tid; i < p.N; i += ntg) c += targets[i] != p.ignore_index ? 1.0f : 0.0f;
    c = it_tg_sum(c, scratch, lane, sg, nsg);
    if (tid == 0) scale[0] = c > 0.0f ? dout[0] / c : 0.0f;
}

// The cross-entropy backward of one chunk, the factor read from the device: dlogits [N, ld] (=, or += when
// accumulate) scale[0] * (softmax - onehot) over the chunk's columns, 0 for ignored rows.
// dispatchThreads(chunk, N, 1), threadsPerThreadgroup (64, 4, 1); args it_cross_entropy_args.
kernel void it_cross_entropy_dlogits_scaled_f32(device float *dlogits [[buffer(0)]],
                                     device const float *logits [[buffer(1)]],
                                     device const float *lse [[buffer(2)]],
                                     device const int *targets [[buffer(3)]],
                                     device const float *scale [[buffer(4)]],
                                     constant it_cross_entropy_args &p [[buffer(5)]],
                                     uint2 pos [[thread_position_in_grid]]) {
    uint j = pos.x, n = pos.y;
    if (j >= p.chunk || n >= p.N) return;
    ulong i = (ulong)n * p.ld + j;
    int t = targets[n];
    float g = 0.0f;
    if (t != p.ignore_index) {
        float prob = exp(min(logits[i] - lse[n], 0.0f)); // <= 1 by construction; guards fast-math exp
        g = scale[0] * (prob - ((int)(p.v0 + j) == t ? 1.0f : 0.0f));
    }
    dlogits[i] = p.accumulate ? dlogits[i] + g : g;
}
