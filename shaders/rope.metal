// rope.metal - rotary position embedding, Hugging Face half-split convention: the pair
// (i, i + D/2) of each head is rotated by angle (pos_offset + t) * freq(i), freq(i) = theta^(-2i/D)
// scaled as Hugging Face's rope types do (linear; llama3: long wavelengths stretched by factor,
// short ones kept, the band between blended), like the CPU's it__rope_freq.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

inline float it_rope_freq(uint i, constant it_rope_args &p) {
    float freq = precise::pow(p.theta, -2.0f * float(i) / float(p.D));
    if (p.kind == 1u) return freq / p.factor;
    if (p.kind != 2u) return freq;
    float wavelen = 6.283185307179586f / freq, orig = float(p.original_max_positions);
    if (wavelen > orig / p.low_freq_factor) return freq / p.factor;
    if (wavelen < orig / p.high_freq_factor) return freq;
    float smooth = (orig / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
    return (1.0f - smooth) * freq / p.factor + smooth * freq;
}

// precise sin/cos: fast-math sin/cos lose accuracy on arguments of a few hundred radians
inline float2 it_rope_cos_sin(uint i, uint t, constant it_rope_args &p) {
    float freq = it_rope_freq(i, p);
    float angle = float(p.pos_offset + (int)t) * freq;
    return float2(precise::cos(angle), precise::sin(angle));
}

// x, out [B, T, H, D]; out may alias x (in place).
// dispatchThreads(D / 2, H, B * T), threadsPerThreadgroup (min(D/2, 32), 4, 1).
kernel void it_rope_forward_f32(device float *out [[buffer(0)]],
                                device const float *x [[buffer(1)]],
                                constant it_rope_args &p [[buffer(2)]],
                                uint3 pos [[thread_position_in_grid]]) {
    uint half_d = p.D / 2, i = pos.x, h = pos.y, bt = pos.z;
    if (i >= half_d || h >= p.H || bt >= p.B * p.T) return;
    float2 cs = it_rope_cos_sin(i, bt % p.T, p);
    ulong base = ((ulong)bt * p.H + h) * p.D;
    float x1 = x[base + i], x2 = x[base + i + half_d];
    out[base + i] = x1 * cs.x - x2 * cs.y;
    out[base + i + half_d] = x2 * cs.x + x1 * cs.y;
}

// dx [B, T, H, D] += inverse rotation of dout. Same geometry as the forward.
kernel void it_rope_backward_f32(device float *dx [[buffer(0)]],
                                 device const float *dout [[buffer(1)]],
                                 constant it_rope_args &p [[buffer(2)]],
                                 uint3 pos [[thread_position_in_grid]]) {
    uint half_d = p.D / 2, i = pos.x, h = pos.y, bt = pos.z;
    if (i >= half_d || h >= p.H || bt >= p.B * p.T) return;
    float2 cs = it_rope_cos_sin(i, bt % p.T, p);
    ulong base = ((ulong)bt * p.H + h) * p.D;
    float d1 = dout[base + i], d2 = dout[base + i + half_d];
    dx[base + i] += d1 * cs.x + d2 * cs.y;
    dx[base + i + half_d] += d2 * cs.x - d1 * cs.y;
}
