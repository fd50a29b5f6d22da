// decode.metal - the KV-cache decoder's kernels: matrix x vector products (one token's
// projections; MPS is poor at one row), attention of new queries against the cache, and the
// greedy pick. The decoder's other steps reuse the training kernels (norms, rope, activations).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// y [rows] (+)= W [rows, cols] x [cols] (+ b [rows]): Llama's [out, in] weights, the head.
// One simdgroup per row, its 32 lanes reading consecutive columns (float4 when cols % 4 == 0).
// dispatchThreadgroups(ceil(rows / 8), 1, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_matvec_f32(device float *y [[buffer(0)]],
                          device const float *w [[buffer(1)]],
                          device const float *x [[buffer(2)]],
                          device const float *b [[buffer(3)]],
                          constant it_matvec_args &p [[buffer(4)]],
                          uint g [[threadgroup_position_in_grid]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint nsg [[simdgroups_per_threadgroup]]) {
    uint row = g * nsg + sg;
    if (row >= p.rows) return; // a whole simdgroup: simd_sum below sees every lane of the rest
    device const float *wr = w + (ulong)row * p.cols;
    float s = 0.0f;
    if (p.cols % 4 == 0) {
        device const float4 *w4 = (device const float4 *)wr, *x4 = (device const float4 *)x;
        for (uint c = lane; c < p.cols / 4; c += 32) {
            float4 a = w4[c], v = x4[c];
            s = fma(a.x, v.x, fma(a.y, v.y, fma(a.z, v.z, fma(a.w, v.w, s))));
        }
    } else {
        for (uint c = lane; c < p.cols; c += 32) s = fma(wr[c], x[c], s);
    }
    s = simd_sum(s);
    if (lane == 0) y[row] = (p.accumulate ? y[row] : 0.0f) + s + (p.has_bias ? b[row] : 0.0f);
}

// y [cols] (+)= x [rows] W [rows, cols] (+ b [cols]): GPT-2's [in, out] weights. One thread per
// output column; neighbouring threads read neighbouring columns of each row.
// dispatchThreads(cols, 1, 1), threadsPerThreadgroup (256, 1, 1).
kernel void it_vecmat_f32(device float *y [[buffer(0)]],
                          device const float *w [[buffer(1)]],
                          device const float *x [[buffer(2)]],
                          device const float *b [[buffer(3)]],
                          constant it_matvec_args &p [[buffer(4)]],
                          uint j [[thread_position_in_grid]]) {
    if (j >= p.cols) return;
    float s = 0.0f;
    for (uint i = 0; i < p.rows; i++) s = fma(x[i], w[(ulong)i * p.cols + j], s);
    y[j] = (p.accumulate ? y[j] : 0.0f) + s + (p.has_bias ? b[j] : 0.0f);
}

// out [n, Hq, D]: query t (position p0 + t) of head h against the cached keys and values
// k, v [S, Hkv, D] at positions first .. p0 + t (first = 0, or p0 + t - window + 1 under a sliding
// window); GQA: head h reads kv head h / (Hq / Hkv). Each thread keeps an online softmax over its
// share of the keys (running max, sum, weighted values); the shares are merged at the end.
// dispatchThreadgroups(Hq, n, 1), threadsPerThreadgroup (128, 1, 1); D <= IT_ATTN_MAX_D.
kernel void it_attention_decode_f32(device float *out [[buffer(0)]],
                                    device const float *q [[buffer(1)]],
                                    device const float *k [[buffer(2)]],
                                    device const float *v [[buffer(3)]],
                                    constant it_decode_attention_args &p [[buffer(4)]],
                                    uint2 g [[threadgroup_position_in_grid]],
                                    uint tid [[thread_index_in_threadgroup]],
                                    uint ntg [[threads_per_threadgroup]],
                                    uint lane [[thread_index_in_simdgroup]],
                                    uint sg [[simdgroup_index_in_threadgroup]],
                                    uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    threadgroup float part[4 * IT_ATTN_MAX_D]; // 128 threads: 4 simdgroups x D
    uint h = g.x, t = g.y, kvh = h / (p.Hq / p.Hkv), pos = p.p0 + t, ld = p.Hkv * p.D;
    uint first = (p.window > 0 && pos + 1 > p.window) ? pos + 1 - p.window : 0;
    device const float *qt = q + ((ulong)t * p.Hq + h) * p.D;
    float m = -FLT_MAX, l = 0.0f, acc[IT_ATTN_MAX_D];
    for (uint d = 0; d < p.D; d++) acc[d] = 0.0f;
    for (uint j = first + tid; j <= pos; j += ntg) {
        device const float *kj = k + (ulong)j * ld + (ulong)kvh * p.D, *vj = v + (ulong)j * ld + (ulong)kvh * p.D;
        float s = 0.0f;
        for (uint d = 0; d < p.D; d++) s = fma(qt[d], kj[d], s);
        s *= p.scale;
        float mn = max(m, s), c = exp(m - mn), e = exp(s - mn); // m = -FLT_MAX first: c = 0
        l = l * c + e;
        for (uint d = 0; d < p.D; d++) acc[d] = fma(acc[d], c, e * vj[d]);
        m = mn;
    }
    float gm = it_tg_max(m, scratch, lane, sg, nsg);
    float c = m > -FLT_MAX ? exp(m - gm) : 0.0f; // a thread without keys adds nothing
    float total = it_tg_sum(l * c, scratch, lane, sg, nsg);
    for (uint d = 0; d < p.D; d++) {
        float a = simd_sum(acc[d] * c);
        if (lane == 0) part[sg * p.D + d] = a;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tid < p.D) {
        float o = 0.0f;
        for (uint s2 = 0; s2 < nsg; s2++) o += part[s2 * p.D + tid];
        out[((ulong)t * p.Hq + h) * p.D + tid] = o / total;
    }
}

// out [1] = the index of the largest of x [n], the first on ties; NaN never wins (tested on the
// bits: fast math may fold x != x), all NaN gives 0, as it_cpu_argmax / it_cpu_sample greedy.
// dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (T, 1, 1).
kernel void it_argmax_f32(device uint *out [[buffer(0)]],
                          device const float *x [[buffer(1)]],
                          constant it_matvec_args &p [[buffer(2)]],
                          uint tid [[thread_index_in_threadgroup]],
                          uint ntg [[threads_per_threadgroup]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float vals[IT_MAX_SIMDGROUPS];
    threadgroup uint idxs[IT_MAX_SIMDGROUPS];
    float best = -FLT_MAX;
    uint bi = 0xFFFFFFFFu;
    for (uint i = tid; i < p.cols; i += ntg) {
        float v = x[i];
        uint bits = as_type<uint>(v);
        bool nan = (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
        if (!nan && (bi == 0xFFFFFFFFu || v > best)) {
            best = v;
            bi = i;
        }
    }
    uint w = it_tg_argmax(bi == 0xFFFFFFFFu ? -FLT_MAX : best, bi, vals, idxs, lane, sg, nsg);
    if (tid == 0) out[0] = w == 0xFFFFFFFFu ? 0u : w;
}
