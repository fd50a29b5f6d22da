// sample.metal - the decoder's token pick on the GPU, so a sampled token costs one wait like a
// greedy one: transformers' repetition penalty, then it_cpu_sample_min_p's sampler (temperature,
// top-k, top-p, min-p, the same uniform draw). One threadgroup each (a vocabulary is a few
// hundred KB at most).
// The CPU sorts the probabilities; a threadgroup cannot sort 32 000 values in its 32 KiB, so each
// cut of the sorted order is found by bisection instead: token i's rank is its key
// (probability bits << index_bits | (V - 1 - i)), the order it_cpu_sample sorts by (larger
// probability first, the lower index on ties; a non-negative float's bits order as its value),
// and "the tokens ranked before a cut" are the keys >= a threshold, so the count and the mass
// above a threshold are one pass and one reduction each, and every cut (top-k, top-p, min-p, the
// draw) is the largest threshold that keeps enough (~30 + index_bits passes per cut).
// Masses are summed in a different order than the CPU's running sums, so a draw or a top-p that
// falls within float rounding (~1e-6 relative) of a cumulative boundary may pick the neighbour
// the CPU does not; elsewhere the pick is the CPU's (tests/metal/test_decode_kernels.inc).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// logits [V] in place: the logit of every token in ids [n_ids] (once, however often it occurs)
// divided by penalty when positive, multiplied when negative (it_cpu_repetition_penalty). seen
// [V] is all zero before and after: the first pass marks (every writer stores the same 1), the
// second applies and clears. dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (T, 1, 1).
// precise::divide: fast math's division is approximate (NVRTC's div.approx was 1.49e-8 off the
// CPU's IEEE quotient on the H200), and the penalised logits must equal the CPU's bit for bit.
kernel void it_repetition_penalty_f32(device float *logits [[buffer(0)]],
                                      device const int *ids [[buffer(1)]],
                                      device uint *seen [[buffer(2)]],
                                      constant it_sample_args &p [[buffer(3)]],
                                      uint tid [[thread_index_in_threadgroup]],
                                      uint ntg [[threads_per_threadgroup]]) {
    for (uint i = tid; i < p.n_ids; i += ntg)
        if (ids[i] >= 0 && uint(ids[i]) < p.V) seen[ids[i]] = 1u;
    threadgroup_barrier(mem_flags::mem_device);
    for (uint v = tid; v < p.V; v += ntg)
        if (seen[v] != 0u) {
            float l = logits[v];
            logits[v] = l > 0.0f ? precise::divide(l, p.penalty) : l * p.penalty;
            seen[v] = 0u;
        }
}

inline bool it_finite_bits(uint bits) { return (bits & 0x7f800000u) != 0x7f800000u; }
// Keys of this thread's tokens at or above t: their count (mass = 0) or probability mass
// (mass = 1), summed over the group. Thread tid always owns tokens tid, tid + ntg, ...
inline float it_sample_above(device const float *probs, uint V, uint ib, ulong t, bool mass, threadgroup float *scratch,
                             uint tid, uint ntg, uint lane, uint sg, uint nsg) {
    float s = 0.0f;
    for (uint i = tid; i < V; i += ntg) {
        float pr = probs[i];
        ulong key = (ulong(as_type<uint>(pr)) << ib) | ulong(V - 1u - i);
        if (key >= t) s += mass ? pr : 1.0f;
    }
    return it_tg_sum(s, scratch, lane, sg, nsg);
}
// The largest threshold t in [lo, hi) whose count / mass above reaches target (strict: exceeds
// it), given that lo does and hi does not: a token's key, since the total only changes at keys.
inline ulong it_sample_cut(device const float *probs, uint V, uint ib, ulong lo, ulong hi, bool mass, float target, bool strict,
                           threadgroup float *scratch, uint tid, uint ntg, uint lane, uint sg, uint nsg) {
    while (hi - lo > 1ul) {
        ulong mid = lo + (hi - lo) / 2ul;
        float f = it_sample_above(probs, V, ib, mid, mass, scratch, tid, ntg, lane, sg, nsg);
        if (strict ? f > target : f >= target) lo = mid;
        else hi = mid;
    }
    return lo;
}

// out [1] = the token drawn from logits [V] as it_cpu_sample_min_p(logits, V, temperature, top_k,
// top_p, min_p, coin) picks it, temperature > 0 (greedy is it_argmax_f32); top_p 1 and min_p 0
// are off. probs [V]: scratch. +inf logits: the coin picks among them alone; NaN weighs 0; all NaN
// or -inf gives 0. dispatchThreadgroups(1, 1, 1), threadsPerThreadgroup (T, 1, 1).
kernel void it_sample_f32(device uint *out [[buffer(0)]],
                          device const float *logits [[buffer(1)]],
                          device float *probs [[buffer(2)]],
                          constant it_sample_args &p [[buffer(3)]],
                          uint tid [[thread_index_in_threadgroup]],
                          uint ntg [[threads_per_threadgroup]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    uint V = p.V, ib = 1u;
    while ((1u << ib) < V) ib++; // bits of an index
    float m = -FLT_MAX, n_inf = 0.0f;
    for (uint i = tid; i < V; i += ntg) { // finiteness on the bits: fast math may fold float tests
        uint bits = as_type<uint>(logits[i]);
        if (bits == 0x7f800000u) n_inf += 1.0f;
        else if (it_finite_bits(bits)) m = max(m, logits[i]);
    }
    n_inf = it_tg_sum(n_inf, scratch, lane, sg, nsg);
    m = it_tg_max(m, scratch, lane, sg, nsg);
    if (n_inf > 0.0f) { // the pick-th +inf in index order: the first index whose prefix holds pick + 1
        float pick = clamp(float(int(p.coin * n_inf)), 0.0f, n_inf - 1.0f);
        uint lo = 0u, hi = V - 1u;
        while (lo < hi) {
            uint mid = lo + (hi - lo) / 2u;
            float c = 0.0f;
            for (uint i = tid; i <= mid; i += ntg) c += as_type<uint>(logits[i]) == 0x7f800000u ? 1.0f : 0.0f;
            if (it_tg_sum(c, scratch, lane, sg, nsg) > pick) hi = mid;
            else lo = mid + 1u;
        }
        if (tid == 0u) out[0] = lo;
        return; // uniform: every thread has the same n_inf
    }
    float z = 0.0f;
    for (uint i = tid; i < V; i += ntg) {
        uint bits = as_type<uint>(logits[i]);
        float e = it_finite_bits(bits) ? exp((logits[i] - m) / p.temperature) : 0.0f; // NaN, -inf: 0
        probs[i] = e;
        z += e;
    }
    z = it_tg_sum(z, scratch, lane, sg, nsg);
    if (!(z > 0.0f)) { // nothing to weigh
        if (tid == 0u) out[0] = 0u;
        return;
    }
    float pmax = 0.0f;
    for (uint i = tid; i < V; i += ntg) {
        probs[i] = probs[i] / z;
        pmax = max(pmax, probs[i]);
    }
    pmax = it_tg_max(pmax, scratch, lane, sg, nsg);
    ulong hi = (ulong(as_type<uint>(pmax)) + 1ul) << ib, cut = 0ul; // every key is below hi, at or above 0
    if (p.top_k > 0u && p.top_k < V) // the top_k-th key
        cut = it_sample_cut(probs, V, ib, 0ul, hi, false, float(p.top_k), false, scratch, tid, ntg, lane, sg, nsg);
    if (p.top_p < 1.0f) { // the smallest prefix (of the top-k) with mass >= top_p of theirs
        float kept = it_sample_above(probs, V, ib, cut, true, scratch, tid, ntg, lane, sg, nsg);
        cut = it_sample_cut(probs, V, ib, cut, hi, true, p.top_p * kept, false, scratch, tid, ntg, lane, sg, nsg);
    }
    if (p.min_p > 0.0f) // tokens at or above min_p x the most likely one's probability (that one stays)
        cut = ulong(as_type<uint>(p.min_p * pmax)) << ib > cut ? ulong(as_type<uint>(p.min_p * pmax)) << ib : cut;
    float kept = it_sample_above(probs, V, ib, cut, true, scratch, tid, ntg, lane, sg, nsg), target = p.coin * kept;
    ulong pick;
    if (kept > target) { // the first token whose running mass exceeds coin x the kept mass
        pick = it_sample_cut(probs, V, ib, cut, hi, true, target, true, scratch, tid, ntg, lane, sg, nsg);
    } else { // rounding left the coin past the end: the last kept token, as the CPU's loop ends
        float n_kept = it_sample_above(probs, V, ib, cut, false, scratch, tid, ntg, lane, sg, nsg);
        pick = it_sample_cut(probs, V, ib, cut, hi, false, n_kept, false, scratch, tid, ntg, lane, sg, nsg);
    }
    if (tid == 0u) out[0] = V - 1u - uint(pick & ((1ul << ib) - 1ul));
}
