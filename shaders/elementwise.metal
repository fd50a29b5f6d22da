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

// db [C] += sum over rows of dout [rows, C]: the gradient of a bias broadcast by it_add_f32
// (nb = C). One thread per column, rows in order: no atomics, deterministic.
// dispatchThreads(C, 1, 1), threadsPerThreadgroup (256, 1, 1); args: n = rows * C, nb = C.
kernel void it_sum_rows_f32(device float *db [[buffer(0)]],
                            device const float *dout [[buffer(1)]],
                            constant it_elementwise_args &p [[buffer(2)]],
                            uint c [[thread_position_in_grid]]) {
    if (c >= p.nb) return;
    float acc = 0.0f;
    for (uint i = c; i < p.n; i += p.nb) acc += dout[i];
    db[c] += acc;
}
