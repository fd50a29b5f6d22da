// attention_backward.metal - FlashAttention backward in three kernels, no atomics and no T x T
// matrix: delta = rowsum(dout * out); dQ per query row; dK, dV per key row (each kv row has one
// owner that walks every query head of its GQA group). Probabilities are recomputed from lse.
// Shapes as in attention.metal; all outputs ACCUMULATE (+=) like the CPU reference.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

#define IT_ATTB_TILE 32 // keys (dQ) or queries (dK/dV) per tile, one per lane
#define IT_ATTB_NSG 4   // rows per threadgroup, one simdgroup each

// delta [B, Hq, T] = sum_d dout * out (the softmax-backward row term).
// dispatchThreads(Hq, T, B), threadsPerThreadgroup (Hq <= 32 ? Hq : 32, 4, 1).
kernel void it_attention_backward_delta_f32(device float *delta [[buffer(0)]],
                                            device const float *dout [[buffer(1)]],
                                            device const float *out [[buffer(2)]],
                                            constant it_attention_args &p [[buffer(3)]],
                                            uint3 pos [[thread_position_in_grid]]) {
    uint h = pos.x, t = pos.y, b = pos.z;
    if (h >= p.Hq || t >= p.T || b >= p.B) return;
    ulong base = (((ulong)b * p.T + t) * p.Hq + h) * p.D;
    float s = 0.0f;
    for (uint d = 0; d < p.D; d++) s = fma(dout[base + d], out[base + d], s);
    delta[((ulong)b * p.Hq + h) * p.T + t] = s;
}

// dq [B, T, Hq, D] += scale * sum_s P_ts (dP_ts - delta_t) k_s, dP_ts = dout_t . v_s.
// dispatchThreadgroups(ceil(T / 4), Hq, B), threadsPerThreadgroup (128, 1, 1).
kernel void it_attention_backward_dq_f32(device float *dq [[buffer(0)]],
                                         device const float *dout [[buffer(1)]],
                                         device const float *q [[buffer(2)]],
                                         device const float *k [[buffer(3)]],
                                         device const float *v [[buffer(4)]],
                                         device const float *lse [[buffer(5)]],
                                         device const float *delta [[buffer(6)]],
                                         constant it_attention_args &p [[buffer(7)]],
                                         uint3 tg [[threadgroup_position_in_grid]],
                                         uint tid [[thread_index_in_threadgroup]],
                                         uint lane [[thread_index_in_simdgroup]],
                                         uint sg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float ks[IT_ATTB_TILE][IT_ATTN_TILE_LD]; // lane j reads key j: padded rows
    threadgroup float vs[IT_ATTB_TILE][IT_ATTN_TILE_LD];
    threadgroup float qs[IT_ATTB_NSG][IT_ATTN_MAX_D];
    threadgroup float dos[IT_ATTB_NSG][IT_ATTN_MAX_D];

    const uint T = p.T, D = p.D, h = tg.y, b = tg.z, kvh = h / (p.Hq / p.Hkv);
    const uint row = tg.x * IT_ATTB_NSG + sg;
    const bool valid = row < T;
    const ulong qbase = (((ulong)b * T + row) * p.Hq + h) * D;
    for (uint d = lane; d < IT_ATTN_MAX_D; d += 32) {
        bool in = valid && d < D;
        qs[sg][d] = in ? q[qbase + d] : 0.0f;
        dos[sg][d] = in ? dout[qbase + d] : 0.0f;
    }
    const ulong li = ((ulong)b * p.Hq + h) * T + row;
    const float L = valid ? lse[li] : 0.0f, Dt = valid ? delta[li] : 0.0f;

    float acc0 = 0.0f, acc1 = 0.0f;
    const uint last = min(T - 1, tg.x * IT_ATTB_NSG + IT_ATTB_NSG - 1);
    for (uint kb = 0; kb <= last; kb += IT_ATTB_TILE) {
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint i = tid; i < IT_ATTB_TILE * IT_ATTN_MAX_D; i += IT_ATTB_NSG * 32) {
            uint r = i / IT_ATTN_MAX_D, c = i % IT_ATTN_MAX_D, key = kb + r;
            ulong kvi = (((ulong)b * T + key) * p.Hkv + kvh) * D + c;
            bool in = key < T && c < D;
            ks[r][c] = in ? k[kvi] : 0.0f;
            vs[r][c] = in ? v[kvi] : 0.0f;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        uint key = kb + lane;
        float s = 0.0f, dp = 0.0f;
        for (uint d = 0; d < D; d++) {
            s = fma(qs[sg][d], ks[lane][d], s);
            dp = fma(dos[sg][d], vs[lane][d], dp);
        }
        bool ok = valid && key <= row && (p.window == 0u || row < key + p.window);
        float P = ok ? exp(min(s * p.scale - L, 0.0f)) : 0.0f; // P <= 1: clamp guards fast-math exp
        float ds = P * (dp - Dt) * p.scale;
        uint nkeys = min((uint)IT_ATTB_TILE, T - kb);
        for (uint j = 0; j < nkeys; j++) {
            float dsb = simd_shuffle(ds, (ushort)j);
            acc0 = fma(dsb, ks[j][lane], acc0);
            acc1 = fma(dsb, ks[j][lane + 32], acc1);
        }
    }
    if (valid) {
        if (lane < D) dq[qbase + lane] += acc0;
        if (lane + 32 < D) dq[qbase + lane + 32] += acc1;
    }
}

// dk, dv [B, T, Hkv, D] += sum over query heads h of the group and rows t >= s of
// scale * P_ts (dP_ts - delta_t) q_t and P_ts dout_t. One simdgroup owns one kv row.
// dispatchThreadgroups(ceil(T / 4), Hkv, B), threadsPerThreadgroup (128, 1, 1).
kernel void it_attention_backward_dkv_f32(device float *dk [[buffer(0)]],
                                          device float *dv [[buffer(1)]],
                                          device const float *dout [[buffer(2)]],
                                          device const float *q [[buffer(3)]],
                                          device const float *k [[buffer(4)]],
                                          device const float *v [[buffer(5)]],
                                          device const float *lse [[buffer(6)]],
                                          device const float *delta [[buffer(7)]],
                                          constant it_attention_args &p [[buffer(8)]],
                                          uint3 tg [[threadgroup_position_in_grid]],
                                          uint tid [[thread_index_in_threadgroup]],
                                          uint lane [[thread_index_in_simdgroup]],
                                          uint sg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float qs[IT_ATTB_TILE][IT_ATTN_TILE_LD]; // lane j reads query j: padded rows
    threadgroup float dos[IT_ATTB_TILE][IT_ATTN_TILE_LD];
    threadgroup float ls[IT_ATTB_TILE];
    threadgroup float dls[IT_ATTB_TILE];
    threadgroup float ks[IT_ATTB_NSG][IT_ATTN_MAX_D];
    threadgroup float vs[IT_ATTB_NSG][IT_ATTN_MAX_D];

    const uint T = p.T, D = p.D, kvh = tg.y, b = tg.z, group = p.Hq / p.Hkv;
    const uint row = tg.x * IT_ATTB_NSG + sg; // the key / value row this simdgroup owns
    const bool valid = row < T;
    const ulong kbase = (((ulong)b * T + row) * p.Hkv + kvh) * D;
    for (uint d = lane; d < IT_ATTN_MAX_D; d += 32) {
        bool in = valid && d < D;
        ks[sg][d] = in ? k[kbase + d] : 0.0f;
        vs[sg][d] = in ? v[kbase + d] : 0.0f;
    }
    float dk0 = 0.0f, dk1 = 0.0f, dv0 = 0.0f, dv1 = 0.0f;
    const uint first = tg.x * IT_ATTB_NSG; // queries before the group's first key see none of it
    for (uint h = kvh * group; h < (kvh + 1) * group; h++) {
        for (uint qb = first; qb < T; qb += IT_ATTB_TILE) {
            threadgroup_barrier(mem_flags::mem_threadgroup);
            for (uint i = tid; i < IT_ATTB_TILE * IT_ATTN_MAX_D; i += IT_ATTB_NSG * 32) {
                uint r = i / IT_ATTN_MAX_D, c = i % IT_ATTN_MAX_D, t = qb + r;
                ulong qi = (((ulong)b * T + t) * p.Hq + h) * D + c;
                bool in = t < T && c < D;
                qs[r][c] = in ? q[qi] : 0.0f;
                dos[r][c] = in ? dout[qi] : 0.0f;
            }
            for (uint r = tid; r < IT_ATTB_TILE; r += IT_ATTB_NSG * 32) {
                uint t = qb + r;
                ulong li = ((ulong)b * p.Hq + h) * T + t;
                ls[r] = t < T ? lse[li] : 0.0f;
                dls[r] = t < T ? delta[li] : 0.0f;
            }
            threadgroup_barrier(mem_flags::mem_threadgroup);
            uint t = qb + lane;
            float s = 0.0f, dp = 0.0f;
            for (uint d = 0; d < D; d++) {
                s = fma(qs[lane][d], ks[sg][d], s);
                dp = fma(dos[lane][d], vs[sg][d], dp);
            }
            bool ok = valid && t < T && t >= row && (p.window == 0u || t < row + p.window);
            float P = ok ? exp(min(s * p.scale - ls[lane], 0.0f)) : 0.0f;
            float ds = P * (dp - dls[lane]) * p.scale;
            uint nq = min((uint)IT_ATTB_TILE, T - qb);
            for (uint j = 0; j < nq; j++) {
                float pb = simd_shuffle(P, (ushort)j);
                float dsb = simd_shuffle(ds, (ushort)j);
                dv0 = fma(pb, dos[j][lane], dv0);
                dv1 = fma(pb, dos[j][lane + 32], dv1);
                dk0 = fma(dsb, qs[j][lane], dk0);
                dk1 = fma(dsb, qs[j][lane + 32], dk1);
            }
        }
    }
    if (valid) {
        if (lane < D) {
            dk[kbase + lane] += dk0;
            dv[kbase + lane] += dv0;
        }
        if (lane + 32 < D) {
            dk[kbase + lane + 32] += dk1;
            dv[kbase + lane + 32] += dv1;
        }
    }
}
