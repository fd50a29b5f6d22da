// matmul.metal - tiled threadgroup-memory GEMM for the shapes and dtypes MPS does not take:
// c [M, N] (+)= op(a) @ op(b), every transpose case, fp32 sums; with p.bf16 the operands are
// rounded to bf16 as the tiles are staged (bf16 mixed precision: MPSMatrixMultiplication takes
// matrices of one MPSDataType, and ours are f32). op(a) [M, K]: a is [M, K], or [K, M] when
// trans_a; op(b) [K, N]: b is [K, N], or [N, K] when trans_b. Batched over grid z with element
// strides (0 = operand shared by the batch).
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

#define IT_MM_TM 32 // rows of c per threadgroup
#define IT_MM_TN 32 // columns of c per threadgroup
#define IT_MM_TK 16 // depth of one staged tile
// 256 threads as 16 x 16; each computes 2 x 2 outputs (rows ty, ty + 16; columns tx, tx + 16).

inline void it_gemm_tile(device float *c, device const float *a, device const float *b, constant it_matmul_args &p,
                         uint3 tg, uint tid, threadgroup float (*as)[IT_MM_TM], threadgroup float (*bs)[IT_MM_TN]) {
    const uint M = p.M, N = p.N, K = p.K;
    const uint tx = tid % 16, ty = tid / 16;
    const uint m0 = tg.y * IT_MM_TM, n0 = tg.x * IT_MM_TN;
    a += (ulong)tg.z * p.batch_stride_a;
    b += (ulong)tg.z * p.batch_stride_b;
    c += (ulong)tg.z * p.batch_stride_c;
    float c00 = 0.0f, c01 = 0.0f, c10 = 0.0f, c11 = 0.0f;
    for (uint k0 = 0; k0 < K; k0 += IT_MM_TK) {
        threadgroup_barrier(mem_flags::mem_threadgroup); // the previous tiles are consumed
        for (uint i = tid; i < IT_MM_TK * IT_MM_TM; i += 256) {
            uint kk = i / IT_MM_TM, mm = i % IT_MM_TM, gk = k0 + kk, gm = m0 + mm;
            // trans_a reads a [K, M] along m (contiguous); otherwise a [M, K] along k
            if (p.trans_a) { kk = i % IT_MM_TK; mm = i / IT_MM_TK; gk = k0 + kk; gm = m0 + mm; }
            bool in = gk < K && gm < M;
            float v = in ? (p.trans_a ? a[(ulong)gk * M + gm] : a[(ulong)gm * K + gk]) : 0.0f;
            as[kk][mm] = p.bf16 ? it_bf16_round(v) : v;
        }
        for (uint i = tid; i < IT_MM_TK * IT_MM_TN; i += 256) {
            uint kk = i / IT_MM_TN, nn = i % IT_MM_TN;
            if (p.trans_b) { kk = i % IT_MM_TK; nn = i / IT_MM_TK; }
            uint gk = k0 + kk, gn = n0 + nn;
            bool in = gk < K && gn < N;
            float v = in ? (p.trans_b ? b[(ulong)gn * K + gk] : b[(ulong)gk * N + gn]) : 0.0f;
            bs[kk][nn] = p.bf16 ? it_bf16_round(v) : v;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint kk = 0; kk < IT_MM_TK; kk++) {
            float a0 = as[kk][ty], a1 = as[kk][ty + 16], b0 = bs[kk][tx], b1 = bs[kk][tx + 16];
            c00 = fma(a0, b0, c00);
            c01 = fma(a0, b1, c01);
            c10 = fma(a1, b0, c10);
            c11 = fma(a1, b1, c11);
        }
    }
    uint r0 = m0 + ty, r1 = r0 + 16, q0 = n0 + tx, q1 = q0 + 16;
    if (r0 < M && q0 < N) c[(ulong)r0 * N + q0] = p.accumulate ? c[(ulong)r0 * N + q0] + c00 : c00;
    if (r0 < M && q1 < N) c[(ulong)r0 * N + q1] = p.accumulate ? c[(ulong)r0 * N + q1] + c01 : c01;
    if (r1 < M && q0 < N) c[(ulong)r1 * N + q0] = p.accumulate ? c[(ulong)r1 * N + q0] + c10 : c10;
    if (r1 < M && q1 < N) c[(ulong)r1 * N + q1] = p.accumulate ? c[(ulong)r1 * N + q1] + c11 : c11;
}

// dispatchThreadgroups(ceil(N / 32), ceil(M / 32), batch), threadsPerThreadgroup (256, 1, 1).
kernel void it_matmul_f32(device float *c [[buffer(0)]],
                          device const float *a [[buffer(1)]],
                          device const float *b [[buffer(2)]],
                          constant it_matmul_args &p [[buffer(3)]],
                          uint3 tg [[threadgroup_position_in_grid]],
                          uint tid [[thread_index_in_threadgroup]]) {
    threadgroup float as[IT_MM_TK][IT_MM_TM];
    threadgroup float bs[IT_MM_TK][IT_MM_TN];
    it_gemm_tile(c, a, b, p, tg, tid, as, bs);
}
