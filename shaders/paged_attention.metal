// paged_attention.metal - decode-time attention over a paged KV cache (>>paged in irontensor.h):
// each query row attends to its own sequence's keys, found through the sequence's block table.
// The specification is it_cpu_paged_attention_forward; the emulator suite holds this to it.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

// out, q [n, Hq, D]; k, v: one layer's pool, key slot s of block b at b * block_stride + s * Hkv * D;
// tables [*, table_stride] block ids; row_seq, row_pos [n]. Row i sees keys first .. row_pos[i]
// (first > 0 only under a sliding window); query head h reads kv head h / (Hq / Hkv). One
// simdgroup per (row, head): lane j scores key j of each tile of 32 keys, an online softmax
// (running max m, sum l) across tiles, lane d owns output dims d and d + 32 (D <= 64).
// dispatchThreadgroups(n, Hq, 1), threadsPerThreadgroup (32, 1, 1).
kernel void it_paged_attention_f32(device float *out [[buffer(0)]],
                                   device const float *q [[buffer(1)]],
                                   device const float *k [[buffer(2)]],
                                   device const float *v [[buffer(3)]],
                                   device const int *tables [[buffer(4)]],
                                   device const int *row_seq [[buffer(5)]],
                                   device const int *row_pos [[buffer(6)]],
                                   constant it_paged_attention_args &p [[buffer(7)]],
                                   uint3 tg [[threadgroup_position_in_grid]],
                                   uint lane [[thread_index_in_simdgroup]]) {
    const uint row = tg.x, h = tg.y, D = p.D, kvh = h / (p.Hq / p.Hkv);
    const uint pos = (uint)row_pos[row];
    const uint first = (p.window > 0 && pos + 1 > p.window) ? pos + 1 - p.window : 0u;
    device const int *table = tables + (ulong)row_seq[row] * p.table_stride;
    const ulong qbase = ((ulong)row * p.Hq + h) * D;
    float m = -FLT_MAX, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
    for (uint kb = first; kb <= pos; kb += 32) {
        const uint key = kb + lane;
        const bool ok = key <= pos;
        float s = -FLT_MAX;
        if (ok) {
            const ulong at = (ulong)table[key / p.block_size] * p.block_stride + ((ulong)(key % p.block_size) * p.Hkv + kvh) * D;
            s = 0.0f;
            for (uint d = 0; d < D; d++) s = fma(q[qbase + d], k[at + d], s);
            s *= p.scale;
        }
        const float m_new = max(m, simd_max(s));
        const float pj = ok ? exp(s - m_new) : 0.0f;
        const float corr = exp(m - m_new);
        l = l * corr + simd_sum(pj);
        acc0 *= corr;
        acc1 *= corr;
        const uint nkeys = min(32u, pos + 1 - kb); // uniform in the simdgroup
        for (uint j = 0; j < nkeys; j++) {
            const float pb = simd_shuffle(pj, (ushort)j);
            const uint kj = kb + j;
            const ulong at = (ulong)table[kj / p.block_size] * p.block_stride + ((ulong)(kj % p.block_size) * p.Hkv + kvh) * D;
            if (lane < D) acc0 = fma(pb, v[at + lane], acc0);
            if (lane + 32 < D) acc1 = fma(pb, v[at + lane + 32], acc1);
        }
        m = m_new;
    }
    const float inv = 1.0f / l;
    if (lane < D) out[qbase + lane] = acc0 * inv;
    if (lane + 32 < D) out[qbase + lane + 32] = acc1 * inv;
}
