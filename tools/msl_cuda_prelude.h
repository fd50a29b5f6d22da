/* msl_cuda_prelude.h - the Metal Shading Language, as much of it as shaders/ uses, spelled in CUDA C++.
   tools/msl2cuda.c puts this file in front of the translated kernels (shaders_cuda.h); NVRTC
   compiles both at CUDA backend creation. The translator rewrites only what a prelude cannot:
   kernel signatures ([[buffer(n)]] -> parameters, attributes -> the locals below), `threadgroup`
   arrays -> __shared__, `inline` helpers -> __device__. Everything else is here.

   What is faithful, and what is checked instead (tools/msl2cuda.c says the same):
   - simdgroups are warps: Metal's simdgroup s of a threadgroup is lanes 32s..32s+31 of its linear
     thread index, CUDA's warp w is the same lanes of the block's linear index (x fastest), so
     simd_* collectives are warp shuffles over the lanes the group has (a partial last warp, as in
     a 24-thread group, reduces over its 24 lanes, like Metal).
   - dispatchThreads (a grid in threads, edge groups smaller) is a launch rounded up to whole
     blocks; the threads past the grid return before the kernel body, and the attributes report
     the edge group's real size. Collectives in such an edge group cannot match Metal's lane
     numbering, so a kernel that has them traps there, and the host refuses such a dispatch first.
   - precise:: math is computed in double (fast math, which NVRTC gets like Metal's default
     compile, never touches it); everything else follows --use_fast_math as Metal's fast math does.
   Under IT_MSL_CUDA_HOST_CHECK the file compiles with a host C++ compiler against
   tests/cuda/cuda_stub.h (the CI check that every translated kernel is well-formed C++). */
#ifndef IT_MSL_CUDA_PRELUDE_H
#define IT_MSL_CUDA_PRELUDE_H

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
typedef unsigned long ulong; /* MSL ulong is 64 bits: so is unsigned long on 64-bit Linux (host and NVRTC) */
static_assert(sizeof(ulong) == 8, "ulong must be 64 bits");
#define FLT_MAX 3.402823466e+38f
#define FLT_MIN 1.175494351e-38f
#define FLT_EPSILON 1.192092896e-07f
#define IT__MSL_FULL_MASK 0xffffffffu

/* The launch as Metal saw it: threads_x/y/z is dispatchThreads' grid (nonuniform = 1), or zero
   for dispatchThreadgroups. The host passes it as every kernel's last parameter. */
struct it__msl_dispatch {
    unsigned int threads_x, threads_y, threads_z, nonuniform;
};

/* ---- vector types with MSL's constructors and component-wise operators ---- */
#define IT__MSL_VEC2(V, T)                                                                                      \
    struct V {                                                                                                  \
        T x, y;                                                                                                 \
        __device__ V() : x(0), y(0) {}                                                                          \
        __device__ explicit V(T s) : x(s), y(s) {}                                                              \
        __device__ V(T a, T b) : x(a), y(b) {}                                                                  \
    };                                                                                                          \
    __device__ inline V operator+(V a, V b) { return V(a.x + b.x, a.y + b.y); }                                 \
    __device__ inline V operator-(V a, V b) { return V(a.x - b.x, a.y - b.y); }                                 \
    __device__ inline V operator*(V a, V b) { return V(a.x * b.x, a.y * b.y); }                                 \
    __device__ inline V operator/(V a, V b) { return V(a.x / b.x, a.y / b.y); }                                 \
    __device__ inline V operator*(V a, T s) { return V(a.x * s, a.y * s); }                                     \
    __device__ inline V operator*(T s, V a) { return V(a.x * s, a.y * s); }                                     \
    __device__ inline V operator/(V a, T s) { return V(a.x / s, a.y / s); }                                     \
    __device__ inline V &operator+=(V &a, V b) { a.x += b.x; a.y += b.y; return a; }                            \
    __device__ inline V &operator*=(V &a, T s) { a.x *= s; a.y *= s; return a; }
#define IT__MSL_VEC3(V, T)                                                                                      \
    struct V {                                                                                                  \
        T x, y, z;                                                                                              \
        __device__ V() : x(0), y(0), z(0) {}                                                                    \
        __device__ explicit V(T s) : x(s), y(s), z(s) {}                                                        \
        __device__ V(T a, T b, T c) : x(a), y(b), z(c) {}                                                       \
    };                                                                                                          \
    __device__ inline V operator+(V a, V b) { return V(a.x + b.x, a.y + b.y, a.z + b.z); }                      \
    __device__ inline V operator-(V a, V b) { return V(a.x - b.x, a.y - b.y, a.z - b.z); }                      \
    __device__ inline V operator*(V a, V b) { return V(a.x * b.x, a.y * b.y, a.z * b.z); }                      \
    __device__ inline V operator*(V a, T s) { return V(a.x * s, a.y * s, a.z * s); }                            \
    __device__ inline V operator*(T s, V a) { return V(a.x * s, a.y * s, a.z * s); }
#define IT__MSL_VEC4(V, T)                                                                                      \
    struct V {                                                                                                  \
        T x, y, z, w;                                                                                           \
        __device__ V() : x(0), y(0), z(0), w(0) {}                                                              \
        __device__ explicit V(T s) : x(s), y(s), z(s), w(s) {}                                                  \
        __device__ V(T a, T b, T c, T d) : x(a), y(b), z(c), w(d) {}                                            \
    };                                                                                                          \
    __device__ inline V operator+(V a, V b) { return V(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w); }           \
    __device__ inline V operator-(V a, V b) { return V(a.x - b.x, a.y - b.y, a.z - b.z, a.w - b.w); }           \
    __device__ inline V operator*(V a, V b) { return V(a.x * b.x, a.y * b.y, a.z * b.z, a.w * b.w); }           \
    __device__ inline V operator*(V a, T s) { return V(a.x * s, a.y * s, a.z * s, a.w * s); }                   \
    __device__ inline V operator*(T s, V a) { return V(a.x * s, a.y * s, a.z * s, a.w * s); }
IT__MSL_VEC2(it__msl_float2, float)
IT__MSL_VEC3(it__msl_float3, float)
IT__MSL_VEC4(it__msl_float4, float)
IT__MSL_VEC2(it__msl_uint2, unsigned int)
IT__MSL_VEC3(it__msl_uint3, unsigned int)
IT__MSL_VEC4(it__msl_uint4, unsigned int)
IT__MSL_VEC2(it__msl_int2, int)
IT__MSL_VEC3(it__msl_int3, int)
IT__MSL_VEC4(it__msl_int4, int)
IT__MSL_VEC2(it__msl_ulong2, ulong)
/* CUDA's own float2 ... are plain structs without constructors: MSL's names mean ours from here on */
#define float2 it__msl_float2
#define float3 it__msl_float3
#define float4 it__msl_float4
#define uint2 it__msl_uint2
#define uint3 it__msl_uint3
#define uint4 it__msl_uint4
#define int2 it__msl_int2
#define int3 it__msl_int3
#define int4 it__msl_int4
#define ulong2 it__msl_ulong2

/* ---- the threadgroup as Metal describes it (edge groups of dispatchThreads are smaller) ---- */
__device__ inline unsigned int it__msl_edge(unsigned int grid, unsigned int block, unsigned int dim) {
    unsigned int left = grid - block * dim;
    return left < dim ? left : dim;
}
__device__ inline it__msl_uint3 it__msl_group_size(it__msl_dispatch d) {
    if (!d.nonuniform) return it__msl_uint3(blockDim.x, blockDim.y, blockDim.z);
    return it__msl_uint3(it__msl_edge(d.threads_x, blockIdx.x, blockDim.x), it__msl_edge(d.threads_y, blockIdx.y, blockDim.y),
                         it__msl_edge(d.threads_z, blockIdx.z, blockDim.z));
}
__device__ inline it__msl_uint3 it__msl_thread_position(void) {
    return it__msl_uint3(blockIdx.x * blockDim.x + threadIdx.x, blockIdx.y * blockDim.y + threadIdx.y,
                         blockIdx.z * blockDim.z + threadIdx.z);
}
/* a thread dispatchThreads would not have made */
__device__ inline bool it__msl_outside_grid(it__msl_dispatch d) {
    it__msl_uint3 p = it__msl_thread_position();
    return d.nonuniform && (p.x >= d.threads_x || p.y >= d.threads_y || p.z >= d.threads_z);
}
__device__ inline bool it__msl_edge_group(it__msl_dispatch d) {
    it__msl_uint3 s = it__msl_group_size(d);
    return s.x != blockDim.x || s.y != blockDim.y || s.z != blockDim.z;
}
__device__ inline unsigned int it__msl_thread_index(it__msl_dispatch d) {
    it__msl_uint3 s = it__msl_group_size(d);
    return threadIdx.x + s.x * (threadIdx.y + s.y * threadIdx.z);
}
__device__ inline unsigned int it__msl_group_threads(it__msl_dispatch d) {
    it__msl_uint3 s = it__msl_group_size(d);
    return s.x * s.y * s.z;
}

/* ---- simdgroups: the warp's lanes that exist (a group of 24 threads has a 24-lane simdgroup) ---- */
__device__ inline unsigned int it__msl_linear_tid(void) { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
__device__ inline unsigned int it__msl_lanes(void) {
    unsigned int total = blockDim.x * blockDim.y * blockDim.z, base = it__msl_linear_tid() & ~31u;
    return total - base < 32u ? total - base : 32u;
}
__device__ inline unsigned int it__msl_lanes_mask(void) {
    unsigned int n = it__msl_lanes();
    return n >= 32u ? IT__MSL_FULL_MASK : (1u << n) - 1u;
}

/* ---- barriers ---- */
namespace metal {
enum class mem_flags { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4 };
__device__ inline mem_flags operator|(mem_flags a, mem_flags b) { return (mem_flags)((int)a | (int)b); }
/* __syncthreads orders shared and global memory for the block: covers every mem_flags value */
__device__ inline void threadgroup_barrier(mem_flags) { __syncthreads(); }
__device__ inline void simdgroup_barrier(mem_flags) { __syncwarp(it__msl_lanes_mask()); }
} // namespace metal

namespace metal {
/* reductions over the simdgroup, the same value in every lane. A full warp: an xor butterfly
   (each step combines a and b in both lanes, and + max min commute: every lane ends with the same
   bits). A partial warp: a tree towards lane 0 over the lanes that exist, then a broadcast. */
template <class T, class Op> __device__ inline T it__msl_reduce(T v, Op op) {
    unsigned int n = it__msl_lanes(), lane = it__msl_linear_tid() & 31u, mask = it__msl_lanes_mask(), o;
    if (n == 32u) {
        for (o = 16u; o; o >>= 1) v = op(v, __shfl_xor_sync(IT__MSL_FULL_MASK, v, (int)o));
        return v;
    }
    for (o = 16u; o; o >>= 1) {
        T other = __shfl_down_sync(mask, v, o);
        if (lane + o < n) v = op(v, other);
    }
    return __shfl_sync(mask, v, 0);
}
struct it__msl_add { template <class T> __device__ T operator()(T a, T b) const { return a + b; } };
struct it__msl_mul { template <class T> __device__ T operator()(T a, T b) const { return a * b; } };
struct it__msl_max { template <class T> __device__ T operator()(T a, T b) const { return a > b ? a : b; } };
struct it__msl_min { template <class T> __device__ T operator()(T a, T b) const { return a < b ? a : b; } };
template <class T> __device__ inline T simd_sum(T v) { return it__msl_reduce(v, it__msl_add()); }
template <class T> __device__ inline T simd_product(T v) { return it__msl_reduce(v, it__msl_mul()); }
template <class T> __device__ inline T simd_max(T v) { return it__msl_reduce(v, it__msl_max()); }
template <class T> __device__ inline T simd_min(T v) { return it__msl_reduce(v, it__msl_min()); }
template <class T> __device__ inline T simd_shuffle(T v, ushort lane) { return __shfl_sync(it__msl_lanes_mask(), v, (int)lane); }
template <class T> __device__ inline T simd_broadcast(T v, ushort lane) { return __shfl_sync(it__msl_lanes_mask(), v, (int)lane); }
template <class T> __device__ inline T simd_broadcast_first(T v) { return __shfl_sync(it__msl_lanes_mask(), v, 0); }
template <class T> __device__ inline T simd_shuffle_down(T v, ushort d) { return __shfl_down_sync(it__msl_lanes_mask(), v, (unsigned int)d); }
template <class T> __device__ inline T simd_shuffle_up(T v, ushort d) { return __shfl_up_sync(it__msl_lanes_mask(), v, (unsigned int)d); }
template <class T> __device__ inline T simd_shuffle_xor(T v, ushort m) { return __shfl_xor_sync(it__msl_lanes_mask(), v, (int)m); }

/* ---- MSL 3.1: bfloat and SIMD-group matrices ----
   bfloat is bf16 storage; from float it rounds to nearest even (a NaN stays a quiet NaN), as
   irontensor.h's it_f32_to_bf16. A simdgroup_matrix<T, 8, 8> is one value of the whole simdgroup
   (MSL defines no element-to-lane layout): here the warp holds it two elements a lane, lane l row
   l / 4, columns 2 (l % 4) and 2 (l % 4) + 1. Loads and stores touch only a lane's own elements;
   d = a b + c gathers row r of a and columns of b with shuffles and sums each element in float,
   k ascending with fma, as the Linux emulator (tests/metal/shim/metal_stdlib) does, so the two
   agree bit for bit. Every function needs the full warp: a partial one traps. */
#define __HAVE_BFLOAT__ 1
struct bfloat {
    unsigned short bits;
    bfloat() = default;
    __device__ bfloat(float f) {
        unsigned int x = __float_as_uint(f);
        bits = (x & 0x7fffffffu) > 0x7f800000u ? (unsigned short)((x >> 16) | 0x40u)
                                              : (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
    }
    __device__ operator float() const { return __uint_as_float((unsigned int)bits << 16); }
};
__device__ inline unsigned int it__msl_matrix_lane(void) {
    if (it__msl_lanes() != 32u) __trap(); /* simdgroup matrices need whole 32-lane simdgroups */
    return it__msl_linear_tid() & 31u;
}
template <class T, int Cols, int Rows> struct simdgroup_matrix {
    static_assert(Cols == 8 && Rows == 8, "simdgroup_matrix: MSL defines 8x8 only");
    T e[2]; /* this lane's two elements */
    simdgroup_matrix() = default;
    __device__ explicit simdgroup_matrix(T diagonal) {
        unsigned int l = it__msl_matrix_lane(), r = l / 4u, c = 2u * (l % 4u);
        e[0] = r == c ? diagonal : T(0.0f);
        e[1] = r == c + 1u ? diagonal : T(0.0f);
    }
};
typedef simdgroup_matrix<float, 8, 8> simdgroup_float8x8;
typedef simdgroup_matrix<bfloat, 8, 8> simdgroup_bfloat8x8;
template <class T, int Cols, int Rows> __device__ inline simdgroup_matrix<T, Cols, Rows> make_filled_simdgroup_matrix(T value) {
    simdgroup_matrix<T, Cols, Rows> m;
    m.e[0] = m.e[1] = value;
    return m;
}
/* where element (r, c) lives: row-major with elements_per_row from origin (x column, y row), or
   transposed (the emulator refuses a transposed access with an origin: so does this, by trap) */
__device__ inline ulong it__msl_matrix_at(unsigned int r, unsigned int c, ulong epr, ulong2 o, bool t) {
    if (t && (o.x || o.y)) __trap();
    return t ? (ulong)c * epr + r : (o.y + r) * epr + o.x + c;
}
template <class T, int C, int R>
__device__ inline void simdgroup_load(simdgroup_matrix<T, C, R> &d, const T *src, ulong elements_per_row = C,
                                      ulong2 matrix_origin = ulong2(0, 0), bool transpose_matrix = false) {
    unsigned int l = it__msl_matrix_lane(), r = l / 4u, c = 2u * (l % 4u);
    d.e[0] = src[it__msl_matrix_at(r, c, elements_per_row, matrix_origin, transpose_matrix)];
    d.e[1] = src[it__msl_matrix_at(r, c + 1u, elements_per_row, matrix_origin, transpose_matrix)];
}
template <class T, int C, int R>
__device__ inline void simdgroup_store(simdgroup_matrix<T, C, R> a, T *dst, ulong elements_per_row = C,
                                       ulong2 matrix_origin = ulong2(0, 0), bool transpose_matrix = false) {
    unsigned int l = it__msl_matrix_lane(), r = l / 4u, c = 2u * (l % 4u);
    dst[it__msl_matrix_at(r, c, elements_per_row, matrix_origin, transpose_matrix)] = a.e[0];
    dst[it__msl_matrix_at(r, c + 1u, elements_per_row, matrix_origin, transpose_matrix)] = a.e[1];
}
template <class TD, class TA, class TB, class TC, int C, int R, int K>
__device__ inline void simdgroup_multiply_accumulate(simdgroup_matrix<TD, C, R> &d, const simdgroup_matrix<TA, K, R> &a,
                                                     const simdgroup_matrix<TB, C, K> &b, const simdgroup_matrix<TC, C, R> &c) {
    unsigned int l = it__msl_matrix_lane(), r = l / 4u;
    float s0 = (float)c.e[0], s1 = (float)c.e[1];
    for (int k = 0; k < K; k++) {
        /* a[r][k] is element k % 2 of lane 4r + k / 2; b[k][2 (l % 4) + j] element j of lane 4k + l % 4 */
        float x = __shfl_sync(IT__MSL_FULL_MASK, (float)a.e[k & 1], (int)(4u * r + (unsigned int)k / 2u));
        float y0 = __shfl_sync(IT__MSL_FULL_MASK, (float)b.e[0], (int)(4u * (unsigned int)k + l % 4u));
        float y1 = __shfl_sync(IT__MSL_FULL_MASK, (float)b.e[1], (int)(4u * (unsigned int)k + l % 4u));
        s0 = fma(x, y0, s0);
        s1 = fma(x, y1, s1);
    }
    d.e[0] = TD(s0);
    d.e[1] = TD(s1);
}
template <class TD, class TA, class TB, int C, int R, int K>
__device__ inline void simdgroup_multiply(simdgroup_matrix<TD, C, R> &d, const simdgroup_matrix<TA, K, R> &a,
                                          const simdgroup_matrix<TB, C, K> &b) {
    simdgroup_multiply_accumulate(d, a, b, make_filled_simdgroup_matrix<TD, C, R>(TD(0.0f)));
}

/* ---- math MSL has and CUDA spells differently ---- */
template <class T> __device__ inline T clamp(T x, T lo, T hi) { return x < lo ? lo : (x > hi ? hi : x); }
__device__ inline float saturate(float x) { return clamp(x, 0.0f, 1.0f); }
__device__ inline float mix(float a, float b, float t) { return a + (b - a) * t; }
template <class T> __device__ inline T select(T a, T b, bool c) { return c ? b : a; }
/* as_type: a bit cast between 32-bit types (finiteness tests on stored bits survive fast math) */
template <class T, class U> __device__ inline T as_type(U u);
template <> __device__ inline unsigned int as_type<unsigned int, float>(float u) { return __float_as_uint(u); }
template <> __device__ inline float as_type<float, unsigned int>(unsigned int u) { return __uint_as_float(u); }
/* precise:: survives fast math on Apple GPUs; --use_fast_math maps powf/sinf/cosf to
   approximations, the double functions it leaves alone */
namespace precise {
__device__ inline float pow(float a, float b) { return (float)::pow((double)a, (double)b); }
__device__ inline float sin(float a) { return (float)::sin((double)a); }
__device__ inline float cos(float a) { return (float)::cos((double)a); }
__device__ inline float exp(float a) { return (float)::exp((double)a); }
__device__ inline float log(float a) { return (float)::log((double)a); }
__device__ inline float sqrt(float a) { return (float)::sqrt((double)a); }
__device__ inline float tanh(float a) { return (float)::tanh((double)a); }
/* IEEE round-to-nearest quotient: --use_fast_math turns '/' into div.approx.f32 */
__device__ inline float divide(float a, float b) { return __fdiv_rn(a, b); }
} // namespace precise
namespace fast {
__device__ inline float exp(float a) { return __expf(a); }
__device__ inline float log(float a) { return __logf(a); }
__device__ inline float sin(float a) { return __sinf(a); }
__device__ inline float cos(float a) { return __cosf(a); }
__device__ inline float pow(float a, float b) { return __powf(a, b); }
} // namespace fast
} // namespace metal

#endif /* IT_MSL_CUDA_PRELUDE_H */
