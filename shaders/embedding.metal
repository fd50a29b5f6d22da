// embedding.metal - token embedding lookup and its backward without atomics.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif

// out [N, C] = table [V, C] rows at ids [N] (int). Rows with an id outside [0, V) are left
// untouched (the host validates ids before encoding and reports IT_ERR_RANGE).
// dispatchThreads(C, N, 1), threadsPerThreadgroup (64, 4, 1).
kernel void it_embedding_forward_f32(device float *out [[buffer(0)]],
                                     device const int *ids [[buffer(1)]],
                                     device const float *table [[buffer(2)]],
                                     constant it_embedding_args &p [[buffer(3)]],
                                     uint2 pos [[thread_position_in_grid]]) {
    uint c = pos.x, n = pos.y;
    if (c >= p.C || n >= p.N) return;
    int id = ids[n];
    if (id < 0 || (uint)id >= p.V) return;
    out[(ulong)n * p.C + c] = table[(ulong)id * p.C + c];
}

// dtable [V, C] += dout [N, C] scattered by ids. order [N] is a stable argsort of ids (the host
// sorts the token ids it wrote anyway, e.g. counting sort). Threadgroup i handles sorted position
// i; only the first position of each run of equal ids does work, so every table row has exactly
// one writer and the sum order is fixed (deterministic, no atomics).
// dispatchThreadgroups(N, 1, 1), threadsPerThreadgroup (T, 1, 1), T = min(C, 256) typical.
kernel void it_embedding_backward_f32(device float *dtable [[buffer(0)]],
                                      device const float *dout [[buffer(1)]],
                                      device const int *ids [[buffer(2)]],
                                      device const uint *order [[buffer(3)]],
                                      constant it_embedding_args &p [[buffer(4)]],
                                      uint i [[threadgroup_position_in_grid]],
                                      uint tid [[thread_index_in_threadgroup]],
                                      uint ntg [[threads_per_threadgroup]]) {
    if (i >= p.N) return;
    int id = ids[order[i]];
    if (id < 0 || (uint)id >= p.V) return;
    if (i > 0 && ids[order[i - 1]] == id) return; // not the head of its run
    uint end = i + 1;
    while (end < p.N && ids[order[end]] == id) end++;
    for (uint c = tid; c < p.C; c += ntg) {
        float acc = 0.0f;
        for (uint j = i; j < end; j++) acc += dout[(ulong)order[j] * p.C + c];
        dtable[(ulong)id * p.C + c] += acc;
    }
}
