// activations.metal - SiLU, GELU (tanh approximation, GPT-2) and SwiGLU, forward and backward.
// All: dispatchThreads(n, 1, 1), threadsPerThreadgroup (256, 1, 1); args it_elementwise_args (n).
// Backward kernels accumulate (+=) like the CPU reference.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

// sigmoid with the exponent clamped: fast-math exp must never see an overflowing argument
inline float it_sigmoid(float x) { return 1.0f / (1.0f + exp(min(-x, 80.0f))); }

#define IT_GELU_K0 0.7978845608028654f // sqrt(2 / pi)
#define IT_GELU_K1 0.044715f
// The argument clamped (fast-math tanh of a large argument is not trusted to saturate) and the
// result too: a fast tanh a few ulp above 1 would turn 1 - t^2 negative in the backward, which
// the x^3 factor then amplifies in the saturated tails. precise::tanh: on a real GPU the fast
// tanh is a hardware approximation (CUDA's tanh.approx.f32 on the H200, 2026-12-02) that put the
// GELU backward 3.2e-5 off the CPU, past the kernel suite's 2e-5.
inline float it_gelu_tanh(float x) {
    return clamp(precise::tanh(clamp(IT_GELU_K0 * (x + IT_GELU_K1 * x * x * x), -15.0f, 15.0f)), -1.0f, 1.0f);
}

// out [n] = x * sigmoid(x)
kernel void it_silu_forward_f32(device float *out [[buffer(0)]],
                                device const float *x [[buffer(1)]],
                                constant it_elementwise_args &p [[buffer(2)]],
                                uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float v = x[i];
    out[i] = v * it_sigmoid(v);
}

// dx [n] += dout * s (1 + x (1 - s)), s = sigmoid(x)
kernel void it_silu_backward_f32(device float *dx [[buffer(0)]],
                                 device const float *dout [[buffer(1)]],
                                 device const float *x [[buffer(2)]],
                                 constant it_elementwise_args &p [[buffer(3)]],
                                 uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float v = x[i], s = it_sigmoid(v);
    dx[i] += dout[i] * s * (1.0f + v * (1.0f - s));
}

// out [n] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
kernel void it_gelu_forward_f32(device float *out [[buffer(0)]],
                                device const float *x [[buffer(1)]],
                                constant it_elementwise_args &p [[buffer(2)]],
                                uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float v = x[i];
    out[i] = 0.5f * v * (1.0f + it_gelu_tanh(v));
}

kernel void it_gelu_backward_f32(device float *dx [[buffer(0)]],
                                 device const float *dout [[buffer(1)]],
                                 device const float *x [[buffer(2)]],
                                 constant it_elementwise_args &p [[buffer(3)]],
                                 uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float v = x[i], t = it_gelu_tanh(v);
    float dinner = IT_GELU_K0 * (1.0f + 3.0f * IT_GELU_K1 * v * v);
    dx[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
}

// out [n] = silu(gate) * up
kernel void it_swiglu_forward_f32(device float *out [[buffer(0)]],
                                  device const float *gate [[buffer(1)]],
                                  device const float *up [[buffer(2)]],
                                  constant it_elementwise_args &p [[buffer(3)]],
                                  uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float g = gate[i];
    out[i] = g * it_sigmoid(g) * up[i];
}

// dgate [n] += dout * up * silu'(gate); dup [n] += dout * silu(gate)
kernel void it_swiglu_backward_f32(device float *dgate [[buffer(0)]],
                                   device float *dup [[buffer(1)]],
                                   device const float *dout [[buffer(2)]],
                                   device const float *gate [[buffer(3)]],
                                   device const float *up [[buffer(4)]],
                                   constant it_elementwise_args &p [[buffer(5)]],
                                   uint i [[thread_position_in_grid]]) {
    if (i >= p.n) return;
    float g = gate[i], s = it_sigmoid(g), d = dout[i];
    dgate[i] += d * up[i] * s * (1.0f + g * (1.0f - s));
    dup[i] += d * g * s;
}
