/* abi_check.c - irontensor_cuda.h declares the few CUDA values it needs instead of including the
   toolkit's headers; where those headers are installed, make test-cuda compiles this file
   (-fsyntax-only, nothing is linked or run): every value against the real one at compile time,
   and every driver symbol the backend loads by name declared under that name. */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "../../irontensor_cuda.h"
#include <cuda.h>
#include <cublas_api.h>
#include <nvrtc.h>
#include <stddef.h>
#include <stdio.h>

#define SAME(ours, theirs) typedef char check_##ours[(ours) == (theirs) ? 1 : -1];
SAME(IT__CU_ATTR_MULTIPROCESSOR_COUNT, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
SAME(IT__CU_ATTR_CC_MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
SAME(IT__CU_ATTR_CC_MINOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
SAME(IT__CU_FUNC_MAX_THREADS_PER_BLOCK, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)
SAME(IT__CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING)
SAME(IT__CU_CAPTURE_THREAD_LOCAL, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
SAME(IT__CUBLAS_OP_N, CUBLAS_OP_N)
SAME(IT__CUBLAS_OP_T, CUBLAS_OP_T)
SAME(IT__CUBLAS_DEFAULT_MATH, CUBLAS_DEFAULT_MATH)
SAME(IT__CUBLAS_TF32_TENSOR_OP_MATH, CUBLAS_TF32_TENSOR_OP_MATH)
SAME(IT__CUDA_R_32F, CUDA_R_32F)
SAME(IT__CUDA_R_16BF, CUDA_R_16BF)
SAME(IT__CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F)
SAME(IT__CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F_FAST_TF32)
SAME(IT__CUBLAS_GEMM_DEFAULT, CUBLAS_GEMM_DEFAULT)
/* the decoder's graph nodes: CUDA_KERNEL_NODE_PARAMS_v2, field by field */
#define SAME_FIELD(ours, theirs) typedef char check_node_##ours[offsetof(it__CUkernelNodeParams, ours) == offsetof(CUDA_KERNEL_NODE_PARAMS_v2, theirs) ? 1 : -1];
SAME_FIELD(func, func)
SAME_FIELD(grid_x, gridDimX)
SAME_FIELD(block_z, blockDimZ)
SAME_FIELD(shared_bytes, sharedMemBytes)
SAME_FIELD(params, kernelParams)
SAME_FIELD(extra, extra)
SAME_FIELD(kern, kern)
SAME_FIELD(ctx, ctx)
typedef char check_node_size[sizeof(it__CUkernelNodeParams) == sizeof(CUDA_KERNEL_NODE_PARAMS_v2) ? 1 : -1];
typedef char check_deviceptr[sizeof(it__CUdeviceptr) == sizeof(CUdeviceptr) ? 1 : -1];
typedef char check_device[sizeof(it__CUdevice) == sizeof(CUdevice) ? 1 : -1];
typedef char check_result[sizeof(it__CUresult) == sizeof(CUresult) ? 1 : -1];
typedef char check_nvrtc[sizeof(int) == sizeof(nvrtcResult) ? 1 : -1];
typedef char check_cublas[sizeof(int) == sizeof(cublasStatus_t) && sizeof(int) == sizeof(cublasOperation_t) ? 1 : -1];
typedef char check_cublas_ex[sizeof(int) == sizeof(cudaDataType) && sizeof(int) == sizeof(cublasComputeType_t) &&
                             sizeof(int) == sizeof(cublasGemmAlgo_t) ? 1 : -1]; /* cublasGemmEx's enum arguments as int */

int main(void) {
    /* every driver symbol the backend loads, by the name it loads (a misspelt one does not compile) */
    void *syms[] = {(void *)&cuInit, (void *)&cuDriverGetVersion, (void *)&cuDeviceGetCount, (void *)&cuDeviceGet,
                    (void *)&cuDeviceGetName, (void *)&cuDeviceGetAttribute, (void *)&cuDevicePrimaryCtxRetain,
                    (void *)&cuDevicePrimaryCtxRelease_v2, (void *)&cuCtxSetCurrent, (void *)&cuStreamCreate,
                    (void *)&cuStreamDestroy_v2, (void *)&cuStreamSynchronize, (void *)&cuMemAlloc_v2, (void *)&cuMemFree_v2,
                    (void *)&cuMemAllocHost_v2, (void *)&cuMemFreeHost, (void *)&cuMemcpyHtoDAsync_v2,
                    (void *)&cuMemcpyDtoHAsync_v2, (void *)&cuMemsetD32Async, (void *)&cuModuleLoadData, (void *)&cuModuleUnload,
                    (void *)&cuModuleGetFunction, (void *)&cuFuncGetAttribute, (void *)&cuLaunchKernel,
                    (void *)&cuStreamBeginCapture_v2, (void *)&cuStreamEndCapture, (void *)&cuGraphInstantiateWithFlags,
                    (void *)&cuGraphLaunch, (void *)&cuGraphExecDestroy, (void *)&cuGraphDestroy, (void *)&cuGetErrorString,
                    (void *)&cuEventCreate, (void *)&cuEventRecord, (void *)&cuEventSynchronize, (void *)&cuEventElapsedTime,
                    (void *)&cuEventDestroy_v2, (void *)&cuGraphCreate, (void *)&cuGraphAddKernelNode_v2,
                    (void *)&cuGraphExecKernelNodeSetParams_v2};
    printf("abi_check: %d driver entry points and %d constants agree with cuda.h / cublas_api.h (CUDA %d)\n",
           (int)(sizeof syms / sizeof syms[0]), 15, CUDA_VERSION);
    return 0;
}
