// attention.metal - causal FlashAttention forward with grouped-query heads; saves the
// log-sum-exp of every query row so the backward recomputes probabilities without a T x T matrix.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

#define IT_ATTN_BK 32  // keys per tile: lane j of a simdgroup scores key j of the tile
#define IT_ATTN_NSG 4  // simdgroups (query rows) per threadgroup

// q, out [B, T, Hq, D]; k, v [B, T, Hkv, D]; lse [B, Hq, T]. D <= IT_ATTN_MAX_D (64), scale =
// 1/sqrt(D); query head h reads kv head h / (Hq / Hkv). One simdgroup per query row, K/V tiles in
// threadgroup memory, online softmax (running max m, sum l); lane d owns output dims d, d + 32.
// dispatchThreadgroups(ceil(T / 4), Hq, B), threadsPerThreadgroup (128, 1, 1).
kernel void it_attention_forward_f32(device float *out [[buffer(0)]],
                                     device float *lse [[buffer(1)]],
                                     device const float *q [[buffer(2)]],
                                     device const float *k [[buffer(3)]],
                                     device const float *v [[buffer(4)]],
                                     constant it_attention_args &p [[buffer(5)]],
                                     uint3 tg [[threadgroup_position_in_grid]],
                                     uint tid [[thread_index_in_threadgroup]],
                                     uint lane [[thread_index_in_simdgroup]],
                                     uint sg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float ks[IT_ATTN_BK][IT_ATTN_TILE_LD]; // lane j scores key j: padded rows
    threadgroup float vs[IT_ATTN_BK][IT_ATTN_TILE_LD];
    threadgroup float qs[IT_ATTN_NSG][IT_ATTN_MAX_D];

    const uint T = p.T, D = p.D, h = tg.y, b = tg.z, kvh = h / (p.Hq / p.Hkv);
    const uint row = tg.x * IT_ATTN_NSG + sg;
    const bool valid = row < T;
    const ulong qbase = (((ulong)b * T + row) * p.Hq + h) * D;
    for (uint d = lane; d < IT_ATTN_MAX_D; d += 32) qs[sg][d] = (valid && d < D) ? q[qbase + d] * p.scale : 0.0f;

    float m = -FLT_MAX, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
    const uint last = min(T - 1, tg.x * IT_ATTN_NSG + IT_ATTN_NSG - 1); // last key any row here sees
    for (uint kb = 0; kb <= last; kb += IT_ATTN_BK) {
        threadgroup_barrier(mem_flags::mem_threadgroup); // the previous tile is consumed
        for (uint i = tid; i < IT_ATTN_BK * IT_ATTN_MAX_D; i += IT_ATTN_NSG * 32) {
            uint r = i / IT_ATTN_MAX_D, c = i % IT_ATTN_MAX_D, key = kb + r;
            ulong kvi = (((ulong)b * T + key) * p.Hkv + kvh) * D + c;
            bool in = key < T && c < D;
            ks[r][c] = in ? k[kvi] : 0.0f;
            vs[r][c] = in ? v[kvi] : 0.0f;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup); // tile and qs visible

        uint key = kb + lane;
        float s = 0.0f;
        for (uint d = 0; d < D; d++) s = fma(qs[sg][d], ks[lane][d], s);
        bool ok = valid && key <= row && (p.window == 0u || row < key + p.window);
        s = ok ? s : -FLT_MAX;
        float m_new = max(m, simd_max(s));
        float pj = ok ? exp(s - m_new) : 0.0f;
        float corr = exp(m - m_new);
        l = l * corr + simd_sum(pj);
        acc0 *= corr;
        acc1 *= corr;
        uint nkeys = min((uint)IT_ATTN_BK, T - kb); // uniform in the simdgroup
        for (uint j = 0; j < nkeys; j++) {
            float pb = simd_shuffle(pj, (ushort)j);
            acc0 = fma(pb, vs[j][lane], acc0);
            acc1 = fma(pb, vs[j][lane + 32], acc1);
        }
        m = m_new;
    }
    if (valid) {
        float inv = 1.0f / l;
        if (lane < D) out[qbase + lane] = acc0 * inv;
        if (lane + 32 < D) out[qbase + lane + 32] = acc1 * inv;
        if (lane == 0) lse[((ulong)b * p.Hq + h) * T + row] = m + log(l);
    }
}
