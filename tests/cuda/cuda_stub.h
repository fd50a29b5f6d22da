/* cuda_stub.h - just enough of CUDA's device-side language for a host C++ compiler to check the
   translated kernels (make test-cuda, no CUDA toolkit needed):
     g++ -std=c++17 -fsyntax-only -include tests/cuda/cuda_stub.h build/cuda/joined.cu
   Declarations only: nothing here runs (the kernels run on the GPU, or on the MSL emulator as
   .metal). A name the prelude or a kernel uses that CUDA does not have fails here too, because
   this file declares only what CUDA declares. */
#ifndef IT_CUDA_STUB_H
#define IT_CUDA_STUB_H
#include <math.h>
#include <cmath>

#define __global__
#define __device__
#define __shared__ static
#define __constant__ static
#define __forceinline__ inline

struct it__stub_dim3 { unsigned int x, y, z; };
extern const it__stub_dim3 threadIdx, blockIdx, blockDim, gridDim;
void __syncthreads(void);
void __syncwarp(unsigned int mask);
[[noreturn]] void __trap(void);
template <class T> T __shfl_sync(unsigned int mask, T v, int lane, int width = 32);
template <class T> T __shfl_xor_sync(unsigned int mask, T v, int lane_mask, int width = 32);
template <class T> T __shfl_down_sync(unsigned int mask, T v, unsigned int delta, int width = 32);
template <class T> T __shfl_up_sync(unsigned int mask, T v, unsigned int delta, int width = 32);
/* CUDA's float overloads of the math library and its integer min/max */
using std::exp; using std::log; using std::sqrt; using std::tanh; using std::pow; using std::sin; using std::cos;
using std::fma; using std::fabs; using std::floor; using std::ceil; using std::rint;
float rsqrt(float x);
unsigned int __float_as_uint(float x);
float __uint_as_float(unsigned int x);
float __expf(float x);
float __logf(float x);
float __sinf(float x);
float __cosf(float x);
float __powf(float x, float y);
float __fdiv_rn(float x, float y);
float min(float a, float b);
float max(float a, float b);
int min(int a, int b);
int max(int a, int b);
unsigned int min(unsigned int a, unsigned int b);
unsigned int max(unsigned int a, unsigned int b);
#endif
