// optimizer.metal - Lion, AdamW and SGD (momentum) updates over a flat block of parameters.
// The gradient is multiplied by grad_scale * gscale[0] first: gscale = { scale, skip } are device
// values written by it_grad_clip_scale_f32, so clipping needs no CPU round trip (bind { 1, 0 }
// otherwise); skip != 0 (a non-finite gradient norm) leaves parameters and state untouched.
// All: dispatchThreads(n, 1, 1), threadsPerThreadgroup (256, 1, 1); args it_optimizer_args.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

// c = b1 m + (1 - b1) g; p -= lr (sign(c) + wd p); m = b2 m + (1 - b2) g.  p, m, g [n]
kernel void it_lion_update_f32(device float *param [[buffer(0)]],
                               device float *m [[buffer(1)]],
                               device const float *g [[buffer(2)]],
                               device const float *gscale [[buffer(3)]],
                               constant it_optimizer_args &p [[buffer(4)]],
                               uint i [[thread_position_in_grid]]) {
    if (i >= p.n || gscale[1] != 0.0f) return;
    float gi = g[i] * (p.grad_scale * gscale[0]);
    float c = p.beta1 * m[i] + (1.0f - p.beta1) * gi;
    float s = c > 0.0f ? 1.0f : (c < 0.0f ? -1.0f : 0.0f);
    param[i] -= p.lr * (s + p.wd * param[i]);
    m[i] = p.beta2 * m[i] + (1.0f - p.beta2) * gi;
}

// AdamW with bias correction at step t >= 1 and decoupled decay. p, m, v, g [n]
kernel void it_adamw_update_f32(device float *param [[buffer(0)]],
                                device float *m [[buffer(1)]],
                                device float *v [[buffer(2)]],
                                device const float *g [[buffer(3)]],
                                device const float *gscale [[buffer(4)]],
                                constant it_optimizer_args &p [[buffer(5)]],
                                uint i [[thread_position_in_grid]]) {
    if (i >= p.n || gscale[1] != 0.0f) return;
    float bc1 = 1.0f - precise::pow(p.beta1, float(p.step));
    float bc2 = 1.0f - precise::pow(p.beta2, float(p.step));
    float gi = g[i] * (p.grad_scale * gscale[0]);
    float mi = p.beta1 * m[i] + (1.0f - p.beta1) * gi;
    float vi = p.beta2 * v[i] + (1.0f - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    param[i] -= p.lr * ((mi / bc1) / (sqrt(vi / bc2) + p.eps) + p.wd * param[i]);
}

// PyTorch SGD: g' = g + wd p; buf = momentum buf + g'; p -= lr buf.  p, buf, g [n]
kernel void it_sgd_update_f32(device float *param [[buffer(0)]],
                              device float *buf [[buffer(1)]],
                              device const float *g [[buffer(2)]],
                              device const float *gscale [[buffer(3)]],
                              constant it_optimizer_args &p [[buffer(4)]],
                              uint i [[thread_position_in_grid]]) {
    if (i >= p.n || gscale[1] != 0.0f) return;
    float gi = g[i] * (p.grad_scale * gscale[0]) + p.wd * param[i];
    float b = p.momentum * buf[i] + gi;
    buf[i] = b;
    param[i] -= p.lr * b;
}
