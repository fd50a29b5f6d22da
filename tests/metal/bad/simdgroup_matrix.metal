// simdgroup_matrix.metal - the emulator's SIMD-group matrices: probes of their semantics (itok_*,
// checked against plain loops in test_kernels.c) and wrong uses it must report (itbad_*).
// Never embedded, never shipped. One simdgroup of 32 threads unless a test says otherwise.
#include <metal_stdlib>
using namespace metal;

// q = (elements per row of in, transpose the load, elements per row of out, transpose the store)
// out0 <- load(in) through threadgroup memory with a row stride of 11 and back;
// out1 <- the 8x8 block of in at matrix_origin (x = 3 columns, y = 2 rows), not transposed.
kernel void itok_sgm_load_store(device float *out0 [[buffer(0)]],
                                device float *out1 [[buffer(1)]],
                                device const float *in [[buffer(2)]],
                                constant uint4 &q [[buffer(3)]]) {
    threadgroup float t[8 * 11];
    simdgroup_float8x8 m;
    simdgroup_load(m, in, q.x, ulong2(0, 0), q.y != 0);
    simdgroup_store(m, t, 11);
    simdgroup_float8x8 back;
    simdgroup_load(back, t, 11);
    simdgroup_store(back, out0, q.z, ulong2(0, 0), q.w != 0);
    simdgroup_float8x8 block;
    simdgroup_load(block, in, q.x, ulong2(3, 2));
    simdgroup_store(block, out1, 8);
}

// d0 = a b + c (bfloat operands, float sums); d1 = a b (float); d2 = the diagonal constructor;
// d3 = make_filled_simdgroup_matrix; d4 = ha hb + hc in half (operands and sums rounded to half)
kernel void itok_sgm_multiply(device float *d0 [[buffer(0)]],
                              device float *d1 [[buffer(1)]],
                              device float *d2 [[buffer(2)]],
                              device float *d3 [[buffer(3)]],
                              device const bfloat *a [[buffer(4)]],
                              device const bfloat *b [[buffer(5)]],
                              device const float *c [[buffer(6)]],
                              device half *d4 [[buffer(7)]],
                              device const half *h [[buffer(8)]]) {
    simdgroup_bfloat8x8 ma, mb;
    simdgroup_float8x8 mc, md;
    simdgroup_load(ma, a);
    simdgroup_load(mb, b);
    simdgroup_load(mc, c);
    simdgroup_multiply_accumulate(md, ma, mb, mc);
    simdgroup_store(md, d0);
    simdgroup_multiply(md, ma, mb);
    simdgroup_store(md, d1);
    simdgroup_store(simdgroup_float8x8(2.5f), d2);
    simdgroup_store(make_filled_simdgroup_matrix<float, 8, 8>(-1.25f), d3);
    simdgroup_half8x8 ha, hb, hc;
    simdgroup_load(ha, h);
    simdgroup_load(hb, h + 64);
    simdgroup_load(hc, h + 128);
    simdgroup_multiply_accumulate(hc, ha, hb, hc);
    simdgroup_store(hc, d4);
}

// BUG: only half the lanes load (a collective in divergent control flow).
kernel void itbad_sgm_divergent(device float *out [[buffer(0)]],
                                uint lane [[thread_index_in_simdgroup]]) {
    simdgroup_float8x8 m = make_filled_simdgroup_matrix<float, 8, 8>(1.0f);
    if (lane < 16) simdgroup_load(m, out);
    simdgroup_store(m, out);
}

// BUG: a lane that returned cannot take part in the collective.
kernel void itbad_sgm_returned(device float *out [[buffer(0)]],
                               uint lane [[thread_index_in_simdgroup]]) {
    if (lane == 31) return;
    simdgroup_float8x8 m;
    simdgroup_load(m, out);
    simdgroup_store(m, out);
}

// BUG: each lane passes its own pointer.
kernel void itbad_sgm_lane_pointer(device float *out [[buffer(0)]],
                                   uint lane [[thread_index_in_simdgroup]]) {
    simdgroup_float8x8 m;
    simdgroup_load(m, out + lane);
    simdgroup_store(m, out);
}

// BUG: a lane-dependent fill, so the lanes hold different matrices when they multiply.
kernel void itbad_sgm_lane_value(device float *out [[buffer(0)]],
                                 uint lane [[thread_index_in_simdgroup]]) {
    simdgroup_float8x8 m = make_filled_simdgroup_matrix<float, 8, 8>(float(lane)), d;
    simdgroup_multiply(d, m, m);
    simdgroup_store(d, out);
}

// BUG (host side): dispatched with 48 threads, so the second simdgroup has 16 lanes.
kernel void itbad_sgm_partial(device float *out [[buffer(0)]]) {
    simdgroup_float8x8 m;
    simdgroup_load(m, out);
    simdgroup_store(m, out);
}
