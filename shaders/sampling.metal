// sampling.metal - next-token selection on the GPU: argmax, and temperature + top-k + top-p
// sampling that picks exactly the token it_cpu_sample picks for the same coin (ranking by
// probability, ties by lower index) without sorting the vocabulary: every cut is found by a
// binary search over the bits of a float threshold (probabilities are >= 0, so their bit
// patterns order like their values), each step one pass over the row plus a threadgroup reduction.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// out [rows] (int) = index of the largest value of each row of x [rows, V] (first on ties).
// dispatchThreadgroups(rows, 1, 1), threadsPerThreadgroup (T, 1, 1), T <= 1024.
kernel void it_argmax_f32(device int *out [[buffer(0)]],
                          device const float *x [[buffer(1)]],
                          constant it_sample_args &p [[buffer(2)]],
                          uint row [[threadgroup_position_in_grid]],
                          uint tid [[thread_index_in_threadgroup]],
                          uint ntg [[threads_per_threadgroup]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float vals[IT_MAX_SIMDGROUPS];
    threadgroup uint idxs[IT_MAX_SIMDGROUPS];
    if (row >= p.rows) return;
    device const float *xr = x + (ulong)row * p.V;
    float best = -FLT_MAX;
    uint bi = 0xFFFFFFFFu;
    for (uint i = tid; i < p.V; i += ntg)
        if (bi == 0xFFFFFFFFu || xr[i] > best) { // ascending within the thread: first index on ties
            best = xr[i];
            bi = i;
        }
    uint r = it_tg_argmax(best, bi, vals, idxs, lane, sg, nsg);
    if (tid == 0) out[row] = (int)r;
}

// The kept set is always "q > cv, plus the first cn values equal to cv in index order".
// Threads own contiguous blocks, so thread order is index order and a tie's rank is the
// exclusive prefix count of ties in earlier blocks plus the ties before it in its own block.
inline uint it_tie_base(device const float *q, uint lo, uint hi, float cv, threadgroup uint *scan, uint lane, uint sg, uint nsg) {
    uint mine = 0;
    for (uint i = lo; i < hi; i++) mine += q[i] == cv ? 1u : 0u;
    uint before = simd_prefix_exclusive_sum(mine), total = simd_sum(mine);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (lane == 0) scan[sg] = total;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = 0; s < sg && s < nsg; s++) before += scan[s];
    return before;
}

// count and mass of kept values >= x, over the whole group
inline float2 it_kept_ge(device const float *q, uint lo, uint hi, float x, float cv, uint cn, uint tbase,
                         threadgroup float *scratch, uint lane, uint sg, uint nsg) {
    float c = 0.0f, s = 0.0f;
    uint tr = tbase;
    for (uint i = lo; i < hi; i++) {
        float v = q[i];
        bool keep = v > cv;
        if (v == cv) {
            keep = tr < cn;
            tr++;
        }
        if (keep && v >= x) {
            c += 1.0f;
            s += v;
        }
    }
    c = it_tg_sum(c, scratch, lane, sg, nsg);
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    return float2(c, s);
}

// Largest x in [0, 1] with kept_ge(x) meeting the mode's test: 0 count >= goal, 1 mass >= goal,
// 2 mass > goal. All three are monotone in x, so the bits can be fixed from the top.
inline float it_largest_x(int mode, float goal, device const float *q, uint lo, uint hi, float cv, uint cn, uint tbase,
                          threadgroup float *scratch, uint lane, uint sg, uint nsg) {
    uint bits = 0;
    for (int b = 29; b >= 0; b--) { // 1.0f is 0x3F800000 < 2^30
        uint cand = bits | (1u << b);
        float2 cm = it_kept_ge(q, lo, hi, as_type<float>(cand), cv, cn, tbase, scratch, lane, sg, nsg);
        bool ok = mode == 0 ? cm.x >= goal : (mode == 1 ? cm.y >= goal : cm.y > goal);
        if (ok) bits = cand;
    }
    return as_type<float>(bits);
}

inline float it_next_up(float x) { return as_type<float>(as_type<uint>(x) + 1u); } // x >= 0

// out [rows] (int): a token of each row of logits [rows, V]; probs [rows, V] is scratch (the
// normalised probabilities, row by row). temperature <= 0: argmax. Then top-k (0 = off), then
// top-p within the top-k (1 = off), then the coin walks the kept tokens in rank order.
// dispatchThreadgroups(rows, 1, 1), threadsPerThreadgroup (T, 1, 1), T <= 1024 (256 typical).
kernel void it_sample_f32(device int *out [[buffer(0)]],
                          device float *probs [[buffer(1)]],
                          device const float *logits [[buffer(2)]],
                          constant it_sample_args &p [[buffer(3)]],
                          uint row [[threadgroup_position_in_grid]],
                          uint tid [[thread_index_in_threadgroup]],
                          uint ntg [[threads_per_threadgroup]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    threadgroup uint scan[IT_MAX_SIMDGROUPS];
    if (row >= p.rows) return;
    const uint V = p.V, per = (V + ntg - 1) / ntg, lo = min(tid * per, V), hi = min(lo + per, V);
    device const float *lr = logits + (ulong)row * V;
    device float *q = probs + (ulong)row * V;

    float m = -FLT_MAX;
    uint mi = 0xFFFFFFFFu;
    for (uint i = lo; i < hi; i++)
        if (mi == 0xFFFFFFFFu || lr[i] > m) {
            m = lr[i];
            mi = i;
        }
    if (p.temperature <= 0.0f) {
        uint r = it_tg_argmax(m, mi, scratch, scan, lane, sg, nsg);
        if (tid == 0) out[row] = (int)r;
        return;
    }
    m = it_tg_max(m, scratch, lane, sg, nsg);
    float s = 0.0f;
    for (uint i = lo; i < hi; i++) {
        float e = exp((lr[i] - m) / p.temperature);
        q[i] = e;
        s += e;
    }
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    for (uint i = lo; i < hi; i++) q[i] = q[i] / s;

    float cv = -1.0f; // everything kept
    uint cn = 0, tbase = 0;
    if (p.top_k > 0 && (uint)p.top_k < V) {
        float x = it_largest_x(0, float(p.top_k), q, lo, hi, cv, cn, tbase, scratch, lane, sg, nsg);
        float gt = it_kept_ge(q, lo, hi, it_next_up(x), cv, cn, tbase, scratch, lane, sg, nsg).x;
        cv = x;
        cn = (uint)(float(p.top_k) - gt);
        tbase = it_tie_base(q, lo, hi, cv, scan, lane, sg, nsg);
    }
    if (p.top_p < 1.0f) {
        float goal = p.top_p * it_kept_ge(q, lo, hi, 0.0f, cv, cn, tbase, scratch, lane, sg, nsg).y;
        float x = it_largest_x(1, goal, q, lo, hi, cv, cn, tbase, scratch, lane, sg, nsg);
        float2 ge = it_kept_ge(q, lo, hi, x, cv, cn, tbase, scratch, lane, sg, nsg);
        float2 gt = it_kept_ge(q, lo, hi, it_next_up(x), cv, cn, tbase, scratch, lane, sg, nsg);
        uint ties = (uint)(ge.x - gt.x);
        uint need = x > 0.0f ? (uint)max(1.0f, ceil((goal - gt.y) / x)) : ties;
        cv = x;
        cn = min(need, ties);
        tbase = it_tie_base(q, lo, hi, cv, scan, lane, sg, nsg);
    }
    float2 all = it_kept_ge(q, lo, hi, 0.0f, cv, cn, tbase, scratch, lane, sg, nsg);
    float goal = p.coin * all.y;
    // the token whose rank-ordered cumulative mass first exceeds coin * mass; if rounding leaves
    // none (coin ~ 1), the last kept token, as the CPU reference does
    bool none = !(all.y > goal);
    float x = none ? it_largest_x(0, all.x, q, lo, hi, cv, cn, tbase, scratch, lane, sg, nsg)
                   : it_largest_x(2, goal, q, lo, hi, cv, cn, tbase, scratch, lane, sg, nsg);
    float2 ge = it_kept_ge(q, lo, hi, x, cv, cn, tbase, scratch, lane, sg, nsg);
    float2 gt = it_kept_ge(q, lo, hi, it_next_up(x), cv, cn, tbase, scratch, lane, sg, nsg);
    uint ties = (uint)(ge.x - gt.x);
    uint j = (none || x <= 0.0f) ? ties - 1 : min(ties - 1, (uint)max(0.0f, floor((goal - gt.y) / x)));
    uint rank = it_tie_base(q, lo, hi, x, scan, lane, sg, nsg);
    for (uint i = lo; i < hi; i++) {
        if (q[i] != x) continue;
        if (rank == j) out[row] = (int)i;
        rank++;
    }
}
