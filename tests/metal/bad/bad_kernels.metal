// bad_kernels.metal - deliberately wrong kernels: the emulator must report each one (negative
// tests in test_kernels.c). Never embedded, never shipped.
#include <metal_stdlib>
using namespace metal;

// BUG: reads a neighbour's threadgroup slot without a barrier.
kernel void itbad_missing_barrier(device float *out [[buffer(0)]],
                                  uint tid [[thread_index_in_threadgroup]],
                                  uint ntg [[threads_per_threadgroup]]) {
    threadgroup float s[256];
    s[tid] = float(tid);
    out[tid] = s[(tid + 1) % ntg];
}

// BUG: threads past n return before the barrier the others wait at.
kernel void itbad_return_before_barrier(device float *out [[buffer(0)]],
                                        constant uint &n [[buffer(1)]],
                                        uint tid [[thread_index_in_threadgroup]]) {
    threadgroup float s[256];
    if (tid >= n) return;
    s[tid] = 1.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    out[tid] = s[0];
}

// BUG: a barrier in divergent control flow.
kernel void itbad_divergent_barrier(device float *out [[buffer(0)]],
                                    uint tid [[thread_index_in_threadgroup]]) {
    if (tid & 1) {
        threadgroup_barrier(mem_flags::mem_threadgroup);
        out[tid] = 1.0f;
    } else {
        threadgroup_barrier(mem_flags::mem_threadgroup);
        out[tid] = 2.0f;
    }
}

// BUG (host side): the test binds only buffer 0.
kernel void itbad_unbound(device float *out [[buffer(0)]],
                          device const float *in [[buffer(1)]],
                          uint i [[thread_position_in_grid]]) {
    out[i] = in[i];
}

// BUG: writes one element past the end of out.
kernel void itbad_oob(device float *out [[buffer(0)]],
                      uint i [[thread_position_in_grid]]) {
    out[i + 1] = 1.0f;
}

// BUG: 40 KiB of threadgroup memory (Apple GPUs: 32 KiB).
kernel void itbad_tg_too_big(device float *out [[buffer(0)]],
                             uint tid [[thread_index_in_threadgroup]]) {
    threadgroup float big[10240];
    big[tid] = 1.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    out[tid] = big[0];
}

// LEGAL: simd_sum over the lanes of one side of a branch (partial mask) -> 16 in lanes 0..15;
// simd_shuffle_down keeps the lane's own value where the source is past the simdgroup.
kernel void itok_partial_simd(device float *out [[buffer(0)]],
                              device float *down [[buffer(1)]],
                              uint lane [[thread_index_in_simdgroup]],
                              uint i [[thread_position_in_grid]]) {
    float r = -1.0f;
    if (lane < 16) r = simd_sum(1.0f);
    out[i] = r;
    down[i] = simd_shuffle_down(float(lane), (ushort)4);
}

// BUG (for the emulator): a local array larger than the fiber stack; reported, not a crash.
kernel void itbad_stack_overflow(device float *out [[buffer(0)]],
                                 uint i [[thread_position_in_grid]]) {
    float big[40000];
    for (uint k = 0; k < 40000; k++) big[k] = out[(i + k) % 4];
    out[i] = big[(i * 7919u) % 40000];
}
