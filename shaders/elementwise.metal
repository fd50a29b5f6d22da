// elementwise.metal - add, mul (+ backward), scale, axpy over flat arrays (fp32).
// All: dispatchThreads(n, 1, 1), threadsPerThreadgroup (256, 1, 1); args it_elementwise_args.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

// out [n] = a [n] + b [nb] broadcast (b[i % nb]: a bias over rows; nb == n: plain add)
kernel void it_add_f32(device float *out [[buffer(0)]],
                       device const float *a [[buffer(1)]],
                       device const float *b [[buffer(2)]],
                       constant it_elementwise_args &p [[buffer(3)]],
                       uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    out[i] = a[i] + b[i % p.nb];
}

// out [n] = a [n] * b [nb] broadcast
kernel void it_mul_f32(device float *out [[buffer(0)]],
                       device const float *a [[buffer(1)]],
                       device const float *b [[buffer(2)]],
                       constant it_elementwise_args &p [[buffer(3)]],
                       uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    out[i] = a[i] * b[i % p.nb];
}

// da, db [n] += dout * b, dout * a (same shapes; nb is ignored)
kernel void it_mul_backward_f32(device float *da [[buffer(0)]],
                                device float *db [[buffer(1)]],
                                device const float *dout [[buffer(2)]],
                                device const float *a [[buffer(3)]],
                                device const float *b [[buffer(4)]],
                                constant it_elementwise_args &p [[buffer(5)]],
                                uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float g = dout[i];
    da[i] += g * b[i];
    db[i] += g * a[i];
}

// out [n] = alpha * a
kernel void it_scale_f32(device float *out [[buffer(0)]],
                         device const float *a [[buffer(1)]],
                         constant it_elementwise_args &p [[buffer(2)]],
                         uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    out[i] = p.alpha * a[i];
}

// y [n] += alpha * x
kernel void it_axpy_f32(device float *y [[buffer(0)]],
                        device const float *x [[buffer(1)]],
                        constant it_elementwise_args &p [[buffer(2)]],
                        uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    y[i] = fma(p.alpha, x[i], y[i]);
}

// out [n_blocks, C] (=, or += when accumulate) = the sums of x [N, C] over each block of
// block_rows rows, a column per thread, rows in order (no atomics, deterministic). The first pass
// of a bias gradient (the gradient of a bias broadcast by it_add_f32) and the second pass of every
// column reduction (x = the partials [n_blocks, C], block_rows >= n_blocks: one block, +=).
// dispatchThreads(C, n_blocks, 1), threadsPerThreadgroup (256, 1, 1); args it_column_sum_args.
kernel void it_sum_rows_f32(device float *out [[buffer(0)]],
                            device const float *x [[buffer(1)]],
                            constant it_column_sum_args &p [[buffer(2)]],
                            uint2 pos [[thread_position_in_grid]]) {
    uint c = pos.x, r0 = pos.y * p.block_rows;
    if (c >= p.C || r0 >= p.N) return;
    uint r1 = min(r0 + p.block_rows, p.N);
    float acc = 0.0f;
    for (uint r = r0; r < r1; r++) acc += x[(ulong)r * p.C + c];
    ulong o = (ulong)pos.y * p.C + c;
    out[o] = p.accumulate ? out[o] + acc : acc;
}
