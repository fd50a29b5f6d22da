// quant_matvec.metal - the decoder's matrix x vector products from weights stored as bf16, Q8_0 or
// Q4_0 (irontensor.h's >>quant: llama.cpp's block layouts, 32 weights a block), so a decoded token
// reads each weight once, in its storage type: bytes per weight set decode's speed. As in the CPU
// decoder, Q8_0 and Q4_0 multiply int8 activations (it_quantize_acts_q8_f32 quantises a row once
// for every projection that reads it) with integer dot products per block; bf16 multiplies the
// f32 activations. Weights are [out, in] ([rows, cols]), a simdgroup per output row (tiny-kernel's
// shape: each weight read once, the 32 lanes on neighbouring bytes). Every kernel also takes
// n > 1 activation rows (a prompt): grid y is the row.
// Only integer loads and bit operations read the stored formats: bf16 -> f32 is a 16-bit shift, so
// no kernel here needs MSL 3.1's bf16 scalar type (finding 4: these compile at MSL 3.0 with the
// rest, no guard needed), and the fp16 block scales are decoded from their bits (as
// it_f16_to_f32 does), so the CUDA translation needs no half type either.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

// An fp16 value from its bits (normal, subnormal, inf/NaN), exactly.
inline float it_f16_bits_to_f32(uint h) {
    uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0u) { // zero or subnormal: m * 2^-24
        float f = float(m) * 5.9604644775390625e-8f;
        return sign != 0u ? -f : f;
    }
    return as_type<float>(sign | (e == 31u ? 0x7F800000u : (e + 112u) << 23) | (m << 13));
}
// The signed value of byte k (0..3) of a word (int8 two's complement).
inline int it_i8(uint word, uint k) { return int(((word >> (8u * k)) & 0xFFu) ^ 0x80u) - 128; }

// The four lanes of a block add their integer sums; the block's first lane (owner) returns
// d_w d_x sum, the CPU's per-block product, the others 0. Every lane calls it (shuffles).
inline float it_qblock_sum(int acc, bool owner, device const uchar *wblock, device const uchar *xblock) {
    acc += simd_shuffle_xor(acc, 1);
    acc += simd_shuffle_xor(acc, 2);
    if (!owner) return 0.0f;
    return it_f16_bits_to_f32(*(device const ushort *)wblock) * *(device const float *)(xblock + IT_QBLOCK) * float(acc);
}

// y [n, rows] (+)= the rows' output plus the bias, lane 0 of each simdgroup writing.
inline void it_matvec_store(device float *y, device const float *b, constant it_matvec_args &p, uint row, uint t, float s,
                            uint lane) {
    if (lane != 0u) return;
    device float *yt = y + (ulong)t * p.rows + row;
    *yt = (p.accumulate ? *yt : 0.0f) + s + (p.has_bias ? b[row] : 0.0f);
}

// xq [n, cols / 32] blocks of IT_QACT_BYTES (32 int8 q, then float d: x ~ d q) from x [n, cols]:
// d = max|x| / 127, q = rint(x 127 / max|x|) clamped to +-127 (the CPU decoder's it__quantize_acts).
// A simdgroup per block, a lane per value. dispatchThreadgroups(ceil(n cols / 32 / 8), 1, 1),
// threadsPerThreadgroup (256, 1, 1); p.rows = n, p.cols = cols (a multiple of 32).
kernel void it_quantize_acts_q8_f32(device uchar *xq [[buffer(0)]],
                                    device const float *x [[buffer(1)]],
                                    constant it_matvec_args &p [[buffer(2)]],
                                    uint g [[threadgroup_position_in_grid]],
                                    uint lane [[thread_index_in_simdgroup]],
                                    uint sg [[simdgroup_index_in_threadgroup]],
                                    uint nsg [[simdgroups_per_threadgroup]]) {
    uint block = g * nsg + sg, nb = p.cols / IT_QBLOCK;
    if (block >= p.rows * nb) return; // a whole simdgroup
    float v = x[(ulong)(block / nb) * p.cols + (block % nb) * IT_QBLOCK + lane];
    float amax = simd_max(fabs(v));
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    device uchar *out = xq + (ulong)block * IT_QACT_BYTES;
    out[lane] = uchar(int(clamp(rint(v * id), -127.0f, 127.0f)) & 0xFF);
    if (lane == 0u) *(device float *)(out + IT_QBLOCK) = amax / 127.0f;
}

// y [n, rows] (+)= W x (+ b), W [rows, cols] Q8_0 (34-byte blocks: fp16 d, 32 int8), x as xq.
// Each lane takes a quarter block (8 weights, four 16-bit loads); it_qblock_sum joins the quarters.
// dispatchThreadgroups(ceil(rows / 8), n, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_matvec_q8_0(device float *y [[buffer(0)]],
                           device const uchar *w [[buffer(1)]],
                           device const uchar *xq [[buffer(2)]],
                           device const float *b [[buffer(3)]],
                           constant it_matvec_args &p [[buffer(4)]],
                           uint2 g [[threadgroup_position_in_grid]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint nsg [[simdgroups_per_threadgroup]]) {
    uint row = g.x * nsg + sg, nb = p.cols / IT_QBLOCK, quarters = nb * 4u, part = lane & 3u;
    if (row >= p.rows) return; // a whole simdgroup: the shuffles below see every lane of the rest
    device const uchar *wr = w + (ulong)row * nb * 34u, *xr = xq + (ulong)g.y * nb * IT_QACT_BYTES;
    float s = 0.0f;
    for (uint base = 0; base < quarters; base += 32u) { // the same trip count in every lane
        uint i = base + lane, blk = i >> 2;
        int acc = 0;
        if (i < quarters) {
            device const ushort *wq = (device const ushort *)(wr + blk * 34u + 2u + part * 8u);
            device const uint *xw = (device const uint *)(xr + blk * IT_QACT_BYTES + part * 8u);
            for (uint k = 0; k < 4u; k++) {
                uint ww = wq[k], xx = xw[k >> 1] >> (16u * (k & 1u));
                acc += it_i8(ww, 0) * it_i8(xx, 0) + it_i8(ww, 1) * it_i8(xx, 1);
            }
        }
        s += it_qblock_sum(acc, i < quarters && part == 0u, wr + blk * 34u, xr + blk * IT_QACT_BYTES);
    }
    it_matvec_store(y, b, p, row, g.y, simd_sum(s), lane);
}

// The same for Q4_0 weights (18-byte blocks: fp16 d, 16 bytes; weight j in the low nibble of byte
// j, weight j + 16 in its high nibble, both stored + 8). A lane's quarter is bytes 4 part .. +3:
// weights 4 part .. +3 and 16 + 4 part .. +3.
// dispatchThreadgroups(ceil(rows / 8), n, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_matvec_q4_0(device float *y [[buffer(0)]],
                           device const uchar *w [[buffer(1)]],
                           device const uchar *xq [[buffer(2)]],
                           device const float *b [[buffer(3)]],
                           constant it_matvec_args &p [[buffer(4)]],
                           uint2 g [[threadgroup_position_in_grid]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint nsg [[simdgroups_per_threadgroup]]) {
    uint row = g.x * nsg + sg, nb = p.cols / IT_QBLOCK, quarters = nb * 4u, part = lane & 3u;
    if (row >= p.rows) return;
    device const uchar *wr = w + (ulong)row * nb * 18u, *xr = xq + (ulong)g.y * nb * IT_QACT_BYTES;
    float s = 0.0f;
    for (uint base = 0; base < quarters; base += 32u) {
        uint i = base + lane, blk = i >> 2;
        int acc = 0;
        if (i < quarters) {
            device const ushort *wq = (device const ushort *)(wr + blk * 18u + 2u + part * 4u);
            device const uint *xw = (device const uint *)(xr + blk * IT_QACT_BYTES);
            uint lo = xw[part], hi = xw[4u + part]; // activations 4 part .. +3 and 16 + 4 part .. +3
            for (uint k = 0; k < 4u; k++) {
                uint byte = (wq[k >> 1] >> (8u * (k & 1u))) & 0xFFu;
                acc += (int(byte & 15u) - 8) * it_i8(lo, k) + (int(byte >> 4) - 8) * it_i8(hi, k);
            }
        }
        s += it_qblock_sum(acc, i < quarters && part == 0u, wr + blk * 18u, xr + blk * IT_QACT_BYTES);
    }
    it_matvec_store(y, b, p, row, g.y, simd_sum(s), lane);
}

// y [n, rows] (+)= W x (+ b), W [rows, cols] bf16 (the high 16 bits of an f32), x [n, cols] f32.
// Lanes read neighbouring pairs of weights as 32-bit words when cols is even (every row then
// starts 4-byte aligned), single 16-bit weights otherwise.
// dispatchThreadgroups(ceil(rows / 8), n, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_matvec_bf16(device float *y [[buffer(0)]],
                           device const ushort *w [[buffer(1)]],
                           device const float *x [[buffer(2)]],
                           device const float *b [[buffer(3)]],
                           constant it_matvec_args &p [[buffer(4)]],
                           uint2 g [[threadgroup_position_in_grid]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint nsg [[simdgroups_per_threadgroup]]) {
    uint row = g.x * nsg + sg;
    if (row >= p.rows) return;
    device const ushort *wr = w + (ulong)row * p.cols;
    device const float *xt = x + (ulong)g.y * p.cols;
    float s = 0.0f;
    if (p.cols % 2u == 0u) {
        device const uint *w2 = (device const uint *)wr;
        for (uint c = lane; c < p.cols / 2u; c += 32u) {
            uint pair = w2[c];
            s = fma(as_type<float>(pair << 16), xt[2u * c], s);
            s = fma(as_type<float>(pair & 0xFFFF0000u), xt[2u * c + 1u], s);
        }
    } else {
        for (uint c = lane; c < p.cols; c += 32u) s = fma(as_type<float>(uint(wr[c]) << 16), xt[c], s);
    }
    it_matvec_store(y, b, p, row, g.y, simd_sum(s), lane);
}
