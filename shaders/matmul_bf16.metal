// matmul_bf16.metal - the bf16 mixed-precision product on Apple's SIMD-group matrices (MSL 3.1:
// bfloat): c [M, N] (+)= op(a) op(b) with the operands rounded to bf16 and fp32 sums, the same
// arguments and transposes as matmul.metal's it_matmul_f32 (which is what runs where the device
// or OS has no MSL 3.1; see irontensor_metal.h). The f32 operands are rounded by it_bf16_round
// (the CPU's rule, so the kernel does not depend on how a float converts to bfloat) as they are
// staged into threadgroup tiles of bfloat; each of the 4 simdgroups multiplies 8x8 bfloat
// matrices into a 16 x 16 block of float accumulators (bfloat x bfloat -> float, as llama.cpp's
// bf16 kernels do; see README "Metal" on what the spec says about mixed element types).
// Edge tiles are zero-padded, so any M, N, K works. Batched over grid z with element strides.
#include <metal_stdlib>
using namespace metal;
#ifndef IT_KERNEL_ARGS_H
#include "it_kernel_args.h"
#endif
#ifndef IT_REDUCE_H
#include "it_reduce.h"
#endif

#if defined(__HAVE_BFLOAT__)
#define IT_MMS_T 32  // rows and columns of c per threadgroup
#define IT_MMS_TK 16 // depth of one staged tile
// 128 threads: 4 simdgroups in a 2 x 2 grid, each owning 16 x 16 of the 32 x 32 tile.

// dispatchThreadgroups(ceil(N / 32), ceil(M / 32), batch), threadsPerThreadgroup (128, 1, 1).
kernel void it_matmul_bf16_sg(device float *c [[buffer(0)]],
                              device const float *a [[buffer(1)]],
                              device const float *b [[buffer(2)]],
                              constant it_matmul_args &p [[buffer(3)]],
                              uint3 tg [[threadgroup_position_in_grid]],
                              uint tid [[thread_index_in_threadgroup]],
                              uint sg [[simdgroup_index_in_threadgroup]]) {
    threadgroup bfloat as[IT_MMS_T][IT_MMS_TK]; // op(a): rows m0.., depth k0..
    threadgroup bfloat bs[IT_MMS_TK][IT_MMS_T]; // op(b): depth k0.., columns n0..
    threadgroup float cs[IT_MMS_T][IT_MMS_T];   // the sums, on their way to c
    const uint M = p.M, N = p.N, K = p.K;
    const uint m0 = tg.y * IT_MMS_T, n0 = tg.x * IT_MMS_T;
    const uint sm = (sg / 2) * 16, sn = (sg % 2) * 16; // this simdgroup's block in the tile
    a += (ulong)tg.z * p.batch_stride_a;
    b += (ulong)tg.z * p.batch_stride_b;
    c += (ulong)tg.z * p.batch_stride_c;
    simdgroup_float8x8 acc[2][2];
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++) acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    for (uint k0 = 0; k0 < K; k0 += IT_MMS_TK) {
        threadgroup_barrier(mem_flags::mem_threadgroup); // the previous tiles are consumed
        for (uint i = tid; i < IT_MMS_T * IT_MMS_TK; i += 128) {
            // neighbouring threads read neighbouring addresses: along k for a [M, K], along m for a [K, M]
            uint mm = p.trans_a ? i % IT_MMS_T : i / IT_MMS_TK, kk = p.trans_a ? i / IT_MMS_T : i % IT_MMS_TK;
            uint gm = m0 + mm, gk = k0 + kk;
            float v = gm < M && gk < K ? (p.trans_a ? a[(ulong)gk * M + gm] : a[(ulong)gm * K + gk]) : 0.0f;
            as[mm][kk] = bfloat(it_bf16_round(v)); // exact: already a bf16 value
        }
        for (uint i = tid; i < IT_MMS_TK * IT_MMS_T; i += 128) {
            uint nn = p.trans_b ? i / IT_MMS_TK : i % IT_MMS_T, kk = p.trans_b ? i % IT_MMS_TK : i / IT_MMS_T;
            uint gn = n0 + nn, gk = k0 + kk;
            float v = gn < N && gk < K ? (p.trans_b ? b[(ulong)gn * K + gk] : b[(ulong)gk * N + gn]) : 0.0f;
            bs[kk][nn] = bfloat(it_bf16_round(v));
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint kk = 0; kk < IT_MMS_TK; kk += 8) {
            simdgroup_bfloat8x8 x[2], y[2];
            for (uint i = 0; i < 2; i++) simdgroup_load(x[i], &as[sm + 8 * i][kk], IT_MMS_TK);
            for (uint j = 0; j < 2; j++) simdgroup_load(y[j], &bs[kk][sn + 8 * j], IT_MMS_T);
            for (uint i = 0; i < 2; i++)
                for (uint j = 0; j < 2; j++) simdgroup_multiply_accumulate(acc[i][j], x[i], y[j], acc[i][j]);
        }
    }
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++) simdgroup_store(acc[i][j], &cs[sm + 8 * i][sn + 8 * j], IT_MMS_T);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint i = tid; i < IT_MMS_T * IT_MMS_T; i += 128) {
        uint r = m0 + i / IT_MMS_T, q = n0 + i % IT_MMS_T;
        if (r >= M || q >= N) continue;
        ulong o = (ulong)r * N + q;
        c[o] = p.accumulate ? c[o] + cs[i / IT_MMS_T][i % IT_MMS_T] : cs[i / IT_MMS_T][i % IT_MMS_T];
    }
}
#endif
