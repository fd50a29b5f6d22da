// cross_entropy.metal - cross-entropy over vocabulary chunks. The fused linear + cross-entropy is
// a loop over chunks of w's rows: logits chunk = x @ w_chunk^T (it_matmul_*, or MPS), then
// it_cross_entropy_stats_f32 merges the chunk into per-row running statistics, as an online softmax; after
// the last chunk it_cross_entropy_finish_f32 writes loss and lse. Backward per chunk: recompute the logits,
// it_cross_entropy_dlogits_scaled_f32 (backend.metal: the loss scale is a device value) turns them into
// dlogits in place, then dx += dlogits @ w_chunk and dw_chunk += dlogits^T @ x (two GEMMs).
// Plain cross-entropy is the same with one chunk = V.
// state [3, N]: running max, running sum of exp(logit - max), the target's logit.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

// logits [N, ld] hold vocabulary columns [v0, v0 + chunk); targets [N] (int). v0 == 0 starts
// the statistics afresh. dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1).
kernel void it_cross_entropy_stats_f32(device float *state [[buffer(0)]],
                            device const float *logits [[buffer(1)]],
                            device const int *targets [[buffer(2)]],
                            constant it_cross_entropy_args &p [[buffer(3)]],
                            uint row [[threadgroup_position_in_grid]],
                            uint tid [[thread_index_in_threadgroup]],
                            uint ntg [[threads_per_threadgroup]],
                            uint lane [[thread_index_in_simdgroup]],
                            uint sg [[simdgroup_index_in_threadgroup]],
                            uint nsg [[simdgroups_per_threadgroup]]) {
    threadgroup float scratch[IT_MAX_SIMDGROUPS];
    if (row >= p.N) return;
    device const float *lr = logits + (ulong)row * p.ld;
    float cm = -FLT_MAX;
    for (uint j = tid; j < p.chunk; j += ntg) cm = max(cm, lr[j]);
    cm = it_tg_max(cm, scratch, lane, sg, nsg);
    bool fresh = p.v0 == 0;
    float m_old = fresh ? -FLT_MAX : state[row], s_old = fresh ? 0.0f : state[p.N + row];
    float m = max(m_old, cm);
    float s = 0.0f;
    for (uint j = tid; j < p.chunk; j += ntg) s += exp(lr[j] - m);
    s = it_tg_sum(s, scratch, lane, sg, nsg);
    if (tid == 0) {
        state[row] = m;
        state[p.N + row] = s_old * exp(m_old - m) + s; // m_old == -FLT_MAX: exp -> 0, no infinities
        int t = targets[row];
        if (fresh) state[2 * p.N + row] = 0.0f;
        if (t >= (int)p.v0 && t < (int)(p.v0 + p.chunk)) state[2 * p.N + row] = lr[t - (int)p.v0];
    }
}

// losses, lse [N]: lse = max + log(sum); loss = lse - target logit, 0 where target ==
// ignore_index (lse is still written). dispatchThreads(N, 1, 1), threadsPerThreadgroup (64, 1, 1).
kernel void it_cross_entropy_finish_f32(device float *losses [[buffer(0)]],
                             device float *lse [[buffer(1)]],
                             device const float *state [[buffer(2)]],
                             device const int *targets [[buffer(3)]],
                             constant it_cross_entropy_args &p [[buffer(4)]],
                             uint n [[thread_position_in_grid]]) {
    if (n >= p.N) return;
    float l = state[n] + log(state[p.N + n]);
    lse[n] = l;
    losses[n] = targets[n] == p.ignore_index ? 0.0f : l - state[2 * p.N + n];
}
