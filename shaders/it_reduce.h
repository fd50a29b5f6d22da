// it_reduce.h - threadgroup reductions shared by shaders/*.metal: simd_* inside each simdgroup,
// then across simdgroups through threadgroup memory. Every thread of the group must call them
// (they contain barriers). Also the bf16 rounding of mixed precision's matrix products. Each .metal file includes this header behind #ifndef IT_REDUCE_H; the
// joined library source (shaders.h) puts it right after it_kernel_args.h.
#ifndef IT_REDUCE_H
#define IT_REDUCE_H
#include <metal_stdlib>
using namespace metal;

#define IT_MAX_SIMDGROUPS 32 // 1024 threads / 32 lanes

// scratch: threadgroup float[IT_MAX_SIMDGROUPS]. Returns the group total in every thread.
inline float it_tg_sum(float v, threadgroup float *scratch, uint lane, uint sg, uint nsg) {
    v = simd_sum(v);
    threadgroup_barrier(mem_flags::mem_threadgroup); // scratch may still be read by a previous call
    if (lane == 0) scratch[sg] = v;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return simd_sum(lane < nsg ? scratch[lane] : 0.0f);
}

inline float it_tg_max(float v, threadgroup float *scratch, uint lane, uint sg, uint nsg) {
    v = simd_max(v);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (lane == 0) scratch[sg] = v;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return simd_max(lane < nsg ? scratch[lane] : -FLT_MAX);
}

// Largest value and its first index; vals, idxs: threadgroup [IT_MAX_SIMDGROUPS].
inline uint it_tg_argmax(float v, uint i, threadgroup float *vals, threadgroup uint *idxs, uint lane, uint sg, uint nsg) {
    float m = simd_max(v);
    uint mi = simd_min(v == m ? i : 0xFFFFFFFFu);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (lane == 0) {
        vals[sg] = m;
        idxs[sg] = mi;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float w = lane < nsg ? vals[lane] : -FLT_MAX;
    uint wi = lane < nsg ? idxs[lane] : 0xFFFFFFFFu;
    float gm = simd_max(w);
    return simd_min(w == gm ? wi : 0xFFFFFFFFu);
}
// v rounded to the nearest bf16 (ties to even), returned as the float it is: the operand rounding of
// bf16 mixed precision (it_f32_to_bf16 in irontensor.h, bit for bit; NaN stays a quiet NaN). Plain
// integer arithmetic on the float's bits: no 16-bit float type (MSL 3.1's), so it runs on any device.
inline float it_bf16_round(float v) {
    uint u = as_type<uint>(v);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return as_type<float>((u | 0x00400000u) & 0xFFFF0000u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return as_type<float>(u & 0xFFFF0000u);
}
#endif // IT_REDUCE_H
