/* irontensor_cuda.h - the CUDA backend for irontensor.h, in plain C over the CUDA driver API, NVRTC
   and cuBLAS, all loaded with dlopen (no link-time dependency, no CUDA headers needed). MIT licence
   (see irontensor.h); released with irontensor.h and carries its IT_VERSION_STRING.

   USAGE
     In one C file, after IRONTENSOR_IMPLEMENTATION:
         #define IRONTENSOR_CUDA_IMPLEMENTATION
         #include "irontensor_cuda.h"
     then:
         it_backend *cuda;
         if (it_cuda_backend_create(ctx, NULL, &cuda) == IT_OK) it_context_set_backend(ctx, cuda);
         else fprintf(stderr, "%s\n", it_context_last_error(ctx));   // stays on the CPU backend
     Switch the backend on before the first graph is planned (parameters, gradients, optimizer
     state and arenas then live on the GPU, with host mirrors).

   BUILD (Linux, x86-64 or arm64, an NVIDIA driver; the CUDA toolkit's libnvrtc and libcublas at
   run time, e.g. /usr/local/cuda/lib64 on LD_LIBRARY_PATH; nothing at build time)
     cc -O2 -std=c99 train.c -o train -lm -lpthread -ldl
   Without a driver, libraries or GPU, it_cuda_backend_create returns IT_ERR_BACKEND_UNAVAILABLE
   with the reason; on other systems the implementation is a stub that says so.

   HOW IT WORKS
   - Kernels: the .metal files of shaders/, translated to CUDA C++ at build time by tools/msl2cuda.c
     (shaders_cuda.h; one source of truth for Metal and CUDA), compiled by NVRTC at creation for
     the device's architecture with --use_fast_math (Metal's default), loaded with
     cuModuleLoadData. Each launch is checked against the kernel's signature from the generated
     table (binding count, by-value sizes) before it is recorded.
   - GEMMs: cuBLAS's cublasGemmEx (column-major: row-major c = a @ b is c^T = b^T a^T) on fp32
     matrices; the compute type is fp32 by default, TF32 tensor cores with it_cuda_desc.allow_tf32
     (PyTorch's allow_tf32 switch, off by default as there). bf16 mixed precision is the core's
     (it_context_set_compute_dtype(ctx, IT_BF16), as on the CPU): the graph's matrix products
     (matmul, the fused head + loss) round both operands to bf16 (shaders/bf16.metal, the CPU's
     it_f32_to_bf16 rule) and multiply bf16 x bf16 with fp32 sums: parameters from a bf16 copy of
     their block converted once a step, activations into the node's temporaries (a matmul's
     backward converts dC once for both products); parameters, gradients, optimizer state,
     activations and every other op stay fp32. (cuBLAS's
     "fast bf16" compute type on fp32 matrices is not that: on the H200 it ran our shapes as TF32.)
   - Attention: as cuBLAS products (S = Q K^T, O = P V and the backward's dP, dQ, dK, dV batched
     over a chunk of batch rows, one product per query head; fp32 or TF32, never bf16) with the
     softmax rows of shaders/attention_scores.metal between them (the tiled FlashAttention kernels
     of attention.metal ran on the FP32 pipes at ~2.4 TFLOP/s on the H200). The scores of a chunk
     take a buffer of at most IT_CUDA_ATTN_SCORES_FLOATS floats (twice in the backward); where one
     batch row's Hq T^2 scores are over it, or with IT_CUDA_ATTN_SCORES=0 in the environment, the
     tiled kernels run instead.
   - Memory: cuMemAlloc (no managed memory) for every block, and a pinned host mirror that
     buffer_create returns (the core and the user read and write it as before). Coherence goes
     through the core's host_access hook: it_data() and friends copy the device's newer bytes of
     that tensor in and mark them host-written; every host-written range is uploaded before the
     next device work; it__sync (checkpoints, the decoder) does the same for whole parameter,
     gradient and optimizer blocks. Input blocks (token ids) are uploaded every step.
   - A step (it_graph_run) is recorded, not executed: every kernel launch, GEMM and copy becomes
     a record (kernel, grid, argument bytes). At end_step the records are compared with the
     steps seen before: the same records replay their CUDA graph (one cuGraphLaunch); new ones
     are captured (cuStreamBeginCapture .. cuGraphInstantiate) and then launched. synchronize
     waits once. Device temporaries (the fused head's logits block and the attention scores among
     them) come from one buffer that each node starts over (the nodes run in order on the one
     stream), so it is the largest node's size, learned in the first step (a growth retires the
     old one and the next step captures anew); host-computed temporaries (the embedding
     backward's token order) from one pinned buffer the graph copies from, a step's worth.
   - The optimizer runs on the GPU with the same kernels as Metal (shaders/optimizer.metal,
     grad_norm.metal), launched without a wait. With clipping, a norm pass writes { norm, clip
     scale, skip flag } on the device and the update kernels read them there: a non-finite norm
     updates nothing, and the verdict (IT_ERR_RANGE, opt->step put back, as on the CPU) comes with
     the next wait, i.e. the next run's loss read-back or it_context_synchronize. A requested
     grad_norm waits and reads it back at once. it_zero_grads is one memset on the stream. So a
     training step in the usual order (zero, run, optimizer) waits once.
   - The fused head + loss (it_linear_cross_entropy) of a forward + backward run does its backward
     in the forward, in blocks of rows with all vocabulary logits (the CPU's fused path): logits
     once per step, not twice. A block is at most IT_CUDA_HEAD_BLOCK_FLOATS floats of temporary
     (define it before the implementation; 64M = 256 MB by default, 0 = vocabulary chunks in the
     forward and their logits recomputed in the backward; the tests use a small one so several
     blocks run).
   - The KV-cache decoder (it_decoder_*, through the core's decoder hooks; >>cuda_decoder) runs on
     the GPU as on Metal, with the same kernels (shaders/decode.metal, quant_matvec.metal,
     sample.metal): caches and work rows in device memory, the prompt in one call (cuBLAS), then a
     token per call through matvec kernels, f32 or the core's bf16 / Q8_0 / Q4_0 copies;
     it_decoder_next picks the token on the GPU (argmax, or the sampler with the host's uniform
     draw). A token's kernels run as one CUDA graph, built once, then only the nodes whose
     position-dependent arguments changed are updated (it_cuda_desc.no_decode_graphs: launched one
     by one instead); a call copies the logits and the id back and waits once.
   - IT_CUDA_PROFILE=1 in the environment: steps run record by record between CUDA events (no
     graphs) and the GPU time per kernel, and per product shape with its TFLOP/s, is logged (info
     level) when the backend is destroyed.
   - Split-K: a product of K >= 1024 whose output has fewer 128 x 128 tiles than the GPU has SMs
     runs as partial products over slices of K and their sum: with IT_CUDA_SPLIT_K=1 in the
     environment (or IT_CUDA_SPLIT_K_DEFAULT 1 at build time); off by default.
   - Not thread-safe: one thread drives a backend (as with every irontensor backend).
*/
#ifndef IRONTENSOR_CUDA_H
#define IRONTENSOR_CUDA_H
#include "irontensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_cuda_desc {
    int device_index;     /* CUDA device ordinal (0 = the first) */
    int allow_tf32;       /* 1 = GEMMs may use TF32 tensor cores (10-bit mantissa inputs) */
    int no_graphs;        /* 1 = execute every step's records directly instead of a CUDA graph */
    const char *libcuda;  /* NULL = "libcuda.so.1"; the tests point these at stand-ins */
    const char *libnvrtc; /* NULL = libnvrtc.so.13, .12, libnvrtc.so */
    const char *libcublas;/* NULL = libcublas.so.13, .12, libcublas.so */
    int no_decode_graphs; /* 1 = the KV-cache decoder launches each token's kernels one by one; 0 (the default) =
                             as one CUDA graph, built once, its position-dependent nodes updated in place
                             (1.08-1.46x the direct launches' tokens/s on an H200; no_graphs switches it off too) */
} it_cuda_desc;

/* 1 when this build can create a CUDA backend (Linux); whether a GPU is there is create's job. */
IT_API int it_cuda_available(void);
/* Creates the backend; on failure *out is NULL, the context's last error says why, and the
   context keeps its CPU backend. */
IT_API it_result it_cuda_backend_create(it_context *ctx, const it_cuda_desc *desc, it_backend **out);

/* Counters since the backend was made. */
typedef struct it_cuda_stats {
    unsigned long steps, records, kernel_launches, gemms, graph_captures, graph_launches;
    unsigned long uploads, downloads;
    unsigned long waits; /* the host waiting for the stream (cuStreamSynchronize): one per decoded token */
    unsigned long long upload_bytes, download_bytes, device_bytes, device_peak_bytes; /* cuMemAlloc'd now, at most */
    unsigned long long temp_bytes; /* the device temporaries' buffer now: the largest node's need, not a step's sum */
    char device_name[128];
    int sm_major, sm_minor, driver_version;
} it_cuda_stats;
IT_API it_cuda_stats it_cuda_backend_stats(const it_backend *be);

#ifdef __cplusplus
}
#endif
#endif /* IRONTENSOR_CUDA_H */

#ifdef IRONTENSOR_CUDA_IMPLEMENTATION
#ifndef IRONTENSOR_CUDA_IMPLEMENTATION_INCLUDED
#define IRONTENSOR_CUDA_IMPLEMENTATION_INCLUDED

#if !defined(__linux__)
/* >>cuda_stub ----------------------------------------------------------------------------------- */
IT_API int it_cuda_available(void) { return 0; }
IT_API it_result it_cuda_backend_create(it_context *ctx, const it_cuda_desc *desc, it_backend **out) {
    (void)desc;
    *out = NULL;
    return it_context_error(ctx, IT_ERR_BACKEND_UNAVAILABLE,
                            "CUDA backend unavailable: it is built for Linux only (the context keeps its CPU backend)");
}
IT_API it_cuda_stats it_cuda_backend_stats(const it_backend *be) {
    it_cuda_stats s;
    (void)be;
    memset(&s, 0, sizeof s);
    return s;
}
#else
/* >>cuda_api  the few driver, NVRTC and cuBLAS entry points, declared here and loaded by name -------- */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h> /* getenv */
#include <stdio.h>
#include <string.h>
#include "shaders/it_kernel_args.h" /* the kernels' argument structs, shared with MSL */
#include "shaders_cuda.h"           /* the translated kernels and their signatures */

typedef int it__CUresult; /* CUDA_SUCCESS = 0 */
typedef int it__CUdevice;
typedef unsigned long long it__CUdeviceptr;
typedef struct it__CUctx *it__CUcontext;
typedef struct it__CUmod *it__CUmodule;
typedef struct it__CUfunc *it__CUfunction;
typedef struct it__CUstrm *it__CUstream;
typedef struct it__CUgrph *it__CUgraph;
typedef struct it__CUgexec *it__CUgraphExec;
typedef struct it__CUevt *it__CUevent;
typedef struct it__CUgnode *it__CUgraphNode;
/* CUDA_KERNEL_NODE_PARAMS_v2 (a graph's kernel node: the decoder builds its graph node by node) */
typedef struct it__CUkernelNodeParams {
    it__CUfunction func;
    unsigned grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_bytes;
    void **params, **extra;
    void *kern;          /* CUkernel: NULL, func names the kernel */
    it__CUcontext ctx;   /* NULL: the current context */
} it__CUkernelNodeParams;
typedef struct it__nvrtcProg *it__nvrtcProgram;
typedef struct it__cublasCtx *it__cublasHandle;
/* values from cuda.h / cublas_api.h (tests/cuda/abi_check.c compares them with the real headers) */
#define IT__CU_ATTR_MULTIPROCESSOR_COUNT 16
#define IT__CU_ATTR_CC_MAJOR 75
#define IT__CU_ATTR_CC_MINOR 76
#define IT__CU_FUNC_MAX_THREADS_PER_BLOCK 0
#define IT__CU_STREAM_NON_BLOCKING 1
#define IT__CU_CAPTURE_THREAD_LOCAL 1
#define IT__CUBLAS_OP_N 0
#define IT__CUBLAS_OP_T 1
#define IT__CUBLAS_DEFAULT_MATH 0
#define IT__CUBLAS_TF32_TENSOR_OP_MATH 3
#define IT__CUDA_R_32F 0
#define IT__CUDA_R_16BF 14
#define IT__CUBLAS_COMPUTE_32F 68
#define IT__CUBLAS_COMPUTE_32F_FAST_TF32 77
#define IT__CUBLAS_GEMM_DEFAULT (-1)

/* X(field, "symbol", return, (parameters)) */
#define IT__CU_DRIVER(X)                                                                                        \
    X(Init, "cuInit", it__CUresult, (unsigned))                                                                 \
    X(DriverGetVersion, "cuDriverGetVersion", it__CUresult, (int *))                                            \
    X(DeviceGetCount, "cuDeviceGetCount", it__CUresult, (int *))                                                \
    X(DeviceGet, "cuDeviceGet", it__CUresult, (it__CUdevice *, int))                                            \
    X(DeviceGetName, "cuDeviceGetName", it__CUresult, (char *, int, it__CUdevice))                              \
    X(DeviceGetAttribute, "cuDeviceGetAttribute", it__CUresult, (int *, int, it__CUdevice))                     \
    X(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain", it__CUresult, (it__CUcontext *, it__CUdevice))              \
    X(PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", it__CUresult, (it__CUdevice))                          \
    X(CtxSetCurrent, "cuCtxSetCurrent", it__CUresult, (it__CUcontext))                                          \
    X(StreamCreate, "cuStreamCreate", it__CUresult, (it__CUstream *, unsigned))                                 \
    X(StreamDestroy, "cuStreamDestroy_v2", it__CUresult, (it__CUstream))                                        \
    X(StreamSynchronize, "cuStreamSynchronize", it__CUresult, (it__CUstream))                                   \
    X(MemAlloc, "cuMemAlloc_v2", it__CUresult, (it__CUdeviceptr *, size_t))                                     \
    X(MemFree, "cuMemFree_v2", it__CUresult, (it__CUdeviceptr))                                                 \
    X(MemAllocHost, "cuMemAllocHost_v2", it__CUresult, (void **, size_t))                                       \
    X(MemFreeHost, "cuMemFreeHost", it__CUresult, (void *))                                                     \
    X(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", it__CUresult, (it__CUdeviceptr, const void *, size_t, it__CUstream)) \
    X(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", it__CUresult, (void *, it__CUdeviceptr, size_t, it__CUstream))   \
    X(MemsetD32Async, "cuMemsetD32Async", it__CUresult, (it__CUdeviceptr, unsigned, size_t, it__CUstream))      \
    X(ModuleLoadData, "cuModuleLoadData", it__CUresult, (it__CUmodule *, const void *))                         \
    X(ModuleUnload, "cuModuleUnload", it__CUresult, (it__CUmodule))                                             \
    X(ModuleGetFunction, "cuModuleGetFunction", it__CUresult, (it__CUfunction *, it__CUmodule, const char *))   \
    X(FuncGetAttribute, "cuFuncGetAttribute", it__CUresult, (int *, int, it__CUfunction))                       \
    X(LaunchKernel, "cuLaunchKernel", it__CUresult,                                                             \
      (it__CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, it__CUstream, void **, void **)) \
    X(StreamBeginCapture, "cuStreamBeginCapture_v2", it__CUresult, (it__CUstream, int))                         \
    X(StreamEndCapture, "cuStreamEndCapture", it__CUresult, (it__CUstream, it__CUgraph *))                      \
    X(GraphInstantiate, "cuGraphInstantiateWithFlags", it__CUresult, (it__CUgraphExec *, it__CUgraph, unsigned long long)) \
    X(GraphLaunch, "cuGraphLaunch", it__CUresult, (it__CUgraphExec, it__CUstream))                              \
    X(GraphExecDestroy, "cuGraphExecDestroy", it__CUresult, (it__CUgraphExec))                                  \
    X(GraphDestroy, "cuGraphDestroy", it__CUresult, (it__CUgraph))                                              \
    X(GetErrorString, "cuGetErrorString", it__CUresult, (it__CUresult, const char **))                          \
    X(EventCreate, "cuEventCreate", it__CUresult, (it__CUevent *, unsigned))                                    \
    X(EventRecord, "cuEventRecord", it__CUresult, (it__CUevent, it__CUstream))                                  \
    X(EventSynchronize, "cuEventSynchronize", it__CUresult, (it__CUevent))                                      \
    X(EventElapsedTime, "cuEventElapsedTime", it__CUresult, (float *, it__CUevent, it__CUevent))                \
    X(EventDestroy, "cuEventDestroy_v2", it__CUresult, (it__CUevent))                                        \
    X(GraphCreate, "cuGraphCreate", it__CUresult, (it__CUgraph *, unsigned))                                    \
    X(GraphAddKernelNode, "cuGraphAddKernelNode_v2", it__CUresult,                                              \
      (it__CUgraphNode *, it__CUgraph, const it__CUgraphNode *, size_t, const it__CUkernelNodeParams *))       \
    X(GraphExecKernelNodeSetParams, "cuGraphExecKernelNodeSetParams_v2", it__CUresult,                          \
      (it__CUgraphExec, it__CUgraphNode, const it__CUkernelNodeParams *))
#define IT__CU_NVRTC(X)                                                                                         \
    X(CreateProgram, "nvrtcCreateProgram", int,                                                                 \
      (it__nvrtcProgram *, const char *, const char *, int, const char *const *, const char *const *))          \
    X(CompileProgram, "nvrtcCompileProgram", int, (it__nvrtcProgram, int, const char *const *))                 \
    X(GetProgramLogSize, "nvrtcGetProgramLogSize", int, (it__nvrtcProgram, size_t *))                           \
    X(GetProgramLog, "nvrtcGetProgramLog", int, (it__nvrtcProgram, char *))                                     \
    X(GetCUBINSize, "nvrtcGetCUBINSize", int, (it__nvrtcProgram, size_t *))                                     \
    X(GetCUBIN, "nvrtcGetCUBIN", int, (it__nvrtcProgram, char *))                                               \
    X(DestroyProgram, "nvrtcDestroyProgram", int, (it__nvrtcProgram *))
#define IT__CU_CUBLAS(X)                                                                                        \
    X(Create, "cublasCreate_v2", int, (it__cublasHandle *))                                                     \
    X(Destroy, "cublasDestroy_v2", int, (it__cublasHandle))                                                     \
    X(SetStream, "cublasSetStream_v2", int, (it__cublasHandle, it__CUstream))                                   \
    X(SetMathMode, "cublasSetMathMode", int, (it__cublasHandle, int))                                           \
    X(SetWorkspace, "cublasSetWorkspace_v2", int, (it__cublasHandle, void *, size_t))                           \
    X(GemmEx, "cublasGemmEx", int,                                                                              \
      (it__cublasHandle, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int,  \
       const void *, void *, int, int, int, int))                                                               \
    X(GemmStridedBatchedEx, "cublasGemmStridedBatchedEx", int,                                                  \
      (it__cublasHandle, int, int, int, int, int, const void *, const void *, int, int, long long, const void *, \
       int, int, long long, const void *, void *, int, int, long long, int, int, int))

#define IT__CU_FIELD(f, sym, R, P) R(*f) P;
typedef struct it__cu_driver { IT__CU_DRIVER(IT__CU_FIELD) } it__cu_driver;
typedef struct it__cu_nvrtc { IT__CU_NVRTC(IT__CU_FIELD) } it__cu_nvrtc;
typedef struct it__cu_cublas { IT__CU_CUBLAS(IT__CU_FIELD) } it__cu_cublas;
#undef IT__CU_FIELD

/* >>cuda_backend  state -------------------------------------------------------------------------- */
/* every kernel the backend launches: enum name, function name in shaders/ */
#define IT__CU_KERNELS(X)                                                                                    \
    X(FILL, "it_fill_f32") X(SUM, "it_sum_f32") X(ADD_SCALAR, "it_add_scalar_f32") X(ADD, "it_add_f32")       \
    X(MUL, "it_mul_f32") X(MUL_BWD, "it_mul_backward_f32") X(SCALE, "it_scale_f32") X(AXPY, "it_axpy_f32")    \
    X(SUM_ROWS, "it_sum_rows_f32") X(SILU, "it_silu_forward_f32") X(SILU_BWD, "it_silu_backward_f32")         \
    X(GELU, "it_gelu_forward_f32") X(GELU_BWD, "it_gelu_backward_f32") X(SWIGLU, "it_swiglu_forward_f32")     \
    X(SWIGLU_BWD, "it_swiglu_backward_f32") X(EMBED, "it_embedding_forward_f32")                            \
    X(EMBED_BWD, "it_embedding_backward_f32") X(RMSNORM, "it_rmsnorm_forward_f32")                          \
    X(RMSNORM_BWD, "it_rmsnorm_backward_f32") X(RMSNORM_DW, "it_rmsnorm_backward_dw_partial_f32")                    \
    X(LAYERNORM, "it_layernorm_forward_f32") X(LAYERNORM_BWD, "it_layernorm_backward_f32")                  \
    X(LAYERNORM_DWDB, "it_layernorm_backward_dwdb_partial_f32") X(ROPE, "it_rope_forward_f32")              \
    X(ROPE_BWD, "it_rope_backward_f32") X(SOFTMAX, "it_softmax_forward_f32")                                \
    X(SOFTMAX_BWD, "it_softmax_backward_f32") X(ATTN, "it_attention_forward_f32")                           \
    X(ATTN_DELTA, "it_attention_backward_delta_f32") X(ATTN_DQ, "it_attention_backward_dq_f32")             \
    X(ATTN_DKV, "it_attention_backward_dkv_f32") X(ATTS_SOFTMAX, "it_attention_scores_softmax_f32")        \
    X(ATTS_BWD, "it_attention_scores_backward_f32") X(CROSS_ENTROPY_STATS, "it_cross_entropy_stats_f32")  \
    X(CROSS_ENTROPY_FINISH, "it_cross_entropy_finish_f32") X(CROSS_ENTROPY_MEAN, "it_cross_entropy_mean_f32") \
    X(CROSS_ENTROPY_SCALE, "it_cross_entropy_dloss_scale_f32")                                              \
    X(CROSS_ENTROPY_DLOGITS, "it_cross_entropy_dlogits_scaled_f32")                                         \
    X(SUMSQ, "it_sum_squares_partial_f32") X(CLIP, "it_grad_clip_scale_f32")                               \
    X(LION, "it_lion_update_f32") X(ADAMW, "it_adamw_update_f32") X(SGD, "it_sgd_update_f32")                \
    X(F32_TO_BF16, "it_f32_to_bf16")
/* the KV-cache decoder's (>>cuda_decoder): shaders/decode.metal, quant_matvec.metal, sample.metal */
#define IT__CU_DECODER_KERNELS(X)                                                                            \
    X(MATVEC, "it_matvec_f32") X(VECMAT, "it_vecmat_f32") X(ATTN_DECODE, "it_attention_decode_f32")          \
    X(ARGMAX, "it_argmax_f32") X(QUANTIZE_ACTS, "it_quantize_acts_q8_f32") X(MATVEC_Q8_0, "it_matvec_q8_0")    \
    X(MATVEC_Q4_0, "it_matvec_q4_0") X(MATVEC_BF16, "it_matvec_bf16")                                        \
    X(REPETITION_PENALTY, "it_repetition_penalty_f32") X(SAMPLE, "it_sample_f32")
typedef enum it__cu_kernel {
#define IT__CU_KENUM(e, fn) IT__CUK_##e,
    IT__CU_KERNELS(IT__CU_KENUM) IT__CU_DECODER_KERNELS(IT__CU_KENUM)
#undef IT__CU_KENUM
    IT__CUK_COUNT
} it__cu_kernel;
static const char *const it__cu_kernel_names[IT__CUK_COUNT] = {
#define IT__CU_KNAME(e, fn) fn,
    IT__CU_KERNELS(IT__CU_KNAME) IT__CU_DECODER_KERNELS(IT__CU_KNAME)
#undef IT__CU_KNAME
};

typedef enum it__cu_kind { IT__CU_HOST_OTHER = 0, IT__CU_HOST_INPUTS, IT__CU_HOST_ARENA } it__cu_kind;
typedef struct it__cu_range { size_t lo, hi; } it__cu_range;
#define IT__CU_MAX_DIRTY 32
typedef struct it__cu_buffer {
    unsigned char *host; /* the pinned mirror buffer_create returned */
    it__CUdeviceptr dev;
    size_t size;
    it__cu_kind kind;    /* learned when a tensor of the block is first bound */
    int params;          /* a parameter block (learned as kind is): bf16 products read its bf16 mirror */
    it__CUdeviceptr bf16;         /* that mirror, size / 2 bytes (allocated at the first bf16 product) */
    unsigned long bf16_step;      /* the step whose records convert it (m->step_serial) */
    int dev_newer;       /* the device wrote it since the host last copied it all */
    int n_dirty;         /* host-written ranges, uploaded before the next device work */
    it__cu_range dirty[IT__CU_MAX_DIRTY];
} it__cu_buffer;

/* One recorded operation of a step: what cuLaunchKernel / cuBLAS / a copy gets. Records are
   compared byte for byte (zero-filled first) to find a step's CUDA graph again. */
typedef enum it__cu_op { IT__CU_REC_KERNEL = 1, IT__CU_REC_GEMM, IT__CU_REC_MEMSET, IT__CU_REC_UPLOAD } it__cu_op;
#define IT__CU_ARG_BYTES 256
typedef struct it__cu_record {
    int op, kernel;
    unsigned grid[3], block[3];
    unsigned short offset[IT_CUDA_MAX_BINDS + 1]; /* kernel: each argument's place in args */
    int n_args;
    /* gemm: column-major cuBLAS call */
    int ta, tb, m, n, k, lda, ldb, ldc, batch;
    int abtype; /* gemm: CUDA data type of both operands, fp32 or bf16 (c is fp32) */
    long long sa, sb, sc;
    float alpha, beta;
    it__CUdeviceptr a, b, c; /* gemm operands; memset / upload destination in c */
    size_t count;            /* memset: 32-bit words; upload: bytes */
    const void *src;         /* upload: pinned host bytes */
    unsigned value;          /* memset */
    union { unsigned char b[IT__CU_ARG_BYTES]; unsigned long long align; } arg; /* the argument bytes, 8-aligned */
} it__cu_record;
typedef struct it__cu_graph {
    it__cu_record *recs;
    int n_recs;
    unsigned long long hash;
    it__CUgraphExec exec;
    unsigned long last_used;
} it__cu_graph;
#define IT__CU_GRAPHS 8
#define IT__CU_PARTIALS 1024 /* most partial sums of squares (threadgroups) in the norm pass */
#define IT__CU_OBUF_UNCLIPPED 4 /* float index of the constant { 1, 0 }: no clip scale, never skipped */
#define IT__CU_OBUF_PARTIALS 8  /* float index where the partial sums of squares start */
#define IT__CU_OBUF_ONES (IT__CU_OBUF_PARTIALS + IT__CU_PARTIALS) /* IT__CU_SPLIT_K_MAX ones: split-K's reduction vector */
#define IT__CU_SPLIT_K_MAX 16
#define IT__CU_OBUF_FLOATS (IT__CU_OBUF_ONES + IT__CU_SPLIT_K_MAX)
#define IT__CU_PROF_GEMMS 64 /* IT_CUDA_PROFILE=1: distinct product shapes timed apart */
typedef struct it__cu_prof_gemm { int ta, tb, m, n, k, batch, abtype; double ms; unsigned long count; } it__cu_prof_gemm;
#define IT__CU_WORKSPACE (32u << 20) /* cuBLAS workspace (fixed: graph capture must not allocate) */
/* The kernels index with 32-bit counters whose grid-stride loops wrap near 2^32: sizes from 2^31
   on are refused (IT_ERR_UNSUPPORTED), as on Metal. */
#define IT__CU_MAX_ELEMENTS 0x7FFFFFFFul

typedef struct it__cuda {
    it_backend be;
    it_context *ctx;
    void *lib_cuda, *lib_nvrtc, *lib_cublas;
    it__cu_driver cu;
    it__cu_nvrtc rtc;
    it__cu_cublas blas;
    it__CUdevice dev;
    it__CUcontext cuctx;
    it__CUstream stream;
    it__CUmodule module;
    it__cublasHandle cublas;
    it__CUdeviceptr workspace;
    it__CUfunction fn[IT__CUK_COUNT];
    const it_cuda_kernel_info *info[IT__CUK_COUNT];
    int max_threads[IT__CUK_COUNT];
    int use_graphs, internal, pending;
    int decode_graphs; /* the decoder's token graphs: on unless it_cuda_desc.no_decode_graphs or no_graphs */
    int compute_type; /* cuBLAS's: fp32, or TF32 (allow_tf32) products of fp32 matrices */
    it__cu_buffer *bufs;
    int n_bufs, cap_bufs;
    /* the step being recorded */
    int in_step;
    it__cu_record *recs;
    int n_recs, cap_recs;
    it__cu_graph graphs[IT__CU_GRAPHS];
    unsigned long clock;
    /* device temporaries, a node's at a time (it__cu_node_fwd), and pinned host bytes the step uploads */
    it__CUdeviceptr tdev;
    size_t tcap, tused, tnode, tpeak; /* tnode: the running node's bytes; tpeak: the largest node's */
    unsigned long step_serial;        /* steps recorded: a parameter block's bf16 mirror is converted once in each */
    it_kernel_fn op_fwd[IT_OP_COUNT], op_bwd[IT_OP_COUNT]; /* the ops, behind it__cu_node_fwd / _bwd */
    /* bf16 copies of activations made by this node's products, while no kernel or product has written
       their source since (a matmul's backward reads dC in both of its products): it__cu_bf16_operand */
    struct { it__CUdeviceptr src, dst; size_t count; } memo[4];
    int n_memo;
    unsigned char *thost;
    size_t hcap, hused, hpeak;
    struct { it__CUdeviceptr p; size_t size; } *retired_dev;
    void **retired_host;
    int n_retired_dev, cap_retired_dev, n_retired_host, cap_retired_host;
    /* the optimizer's small device values: [0] norm, [1] clip scale, [2] skip flag (the clip
       kernel's { scale, skip }), [4] 1.0f, [5] 0.0f, then the partial sums of squares */
    it__CUdeviceptr obuf;
    float *ohost; /* pinned: norm, scale and skip flag copied back behind the update */
    struct it_optimizer *opt_check; /* an update whose finiteness verdict the next wait reads */
    it_run_mode run_mode;           /* of the graph run being recorded */
    size_t scores_floats;           /* most floats of scores in one chunk of batch rows; 0 = the tiled kernels */
    int split_k;                    /* split a product's K when its output has too few tiles for the SMs (IT_CUDA_SPLIT_K=0: never) */
    int n_sm;                       /* the device's multiprocessors */
    const it_node *loss_grads_done; /* the fused head + loss whose backward its forward did */
    it_cuda_stats stats;
    /* IT_CUDA_PROFILE=1: every step executed record by record between CUDA events, the GPU time
       summed per kernel (GEMMs, memsets and copies each as one entry), logged at destroy */
    int profile;
    it__CUevent *events;
    int n_events, cap_events;
    double prof_ms[IT__CUK_COUNT + 3];
    unsigned long prof_count[IT__CUK_COUNT + 3];
    it__cu_prof_gemm prof_gemm[IT__CU_PROF_GEMMS];
    int n_prof_gemm;
} it__cuda;

#define IT__CU_GROW(m, array, n, cap) it_context_grow((m)->ctx, (void **)&(array), &(cap), (n) + 1, sizeof *(array))
#define IT__CU_TRY(expr)                                          \
    do {                                                          \
        it_result r_ = (expr);                                    \
        if (r_ != IT_OK) return r_;                               \
    } while (0)
/* a driver call: its error text in the context's last error */
static it_result it__cu_check(it__cuda *m, it__CUresult r, const char *what) {
    const char *s = NULL;
    if (r == 0) return IT_OK;
    if (m->cu.GetErrorString) m->cu.GetErrorString(r, &s);
    return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: %s failed: error %d (%s)", what, r, s ? s : "unknown");
}
#define IT__CU_CALL(m, call, what) IT__CU_TRY(it__cu_check((m), (m)->cu.call, (what)))

/* >>cuda_memory  device blocks, host mirrors, coherence ------------------------------------------ */
/* every cuMemAlloc and cuMemFree of the backend, counted (it_cuda_stats: the true device peak) */
static int it__cu_dev_alloc(it__cuda *m, it__CUdeviceptr *p, size_t bytes) {
    if (m->cu.MemAlloc(p, bytes) != 0) return 0;
    m->stats.device_bytes += bytes;
    if (m->stats.device_bytes > m->stats.device_peak_bytes) m->stats.device_peak_bytes = m->stats.device_bytes;
    return 1;
}
static void it__cu_dev_free(it__cuda *m, it__CUdeviceptr p, size_t bytes) {
    if (!p) return;
    m->cu.MemFree(p);
    m->stats.device_bytes -= bytes;
}
static it__cu_buffer *it__cu_find(it__cuda *m, const void *p) {
    int i;
    for (i = 0; i < m->n_bufs; i++)
        if ((const unsigned char *)p >= m->bufs[i].host && (const unsigned char *)p < m->bufs[i].host + (m->bufs[i].size ? m->bufs[i].size : 1))
            return &m->bufs[i];
    return NULL;
}
static void *it__cu_buffer_create(it_backend *be, size_t size) {
    it__cuda *m = (it__cuda *)be->impl;
    it__cu_buffer *b;
    void *host = NULL;
    it__CUdeviceptr dev = 0;
    size_t bytes = size ? size : 16;
    if (IT__CU_GROW(m, m->bufs, m->n_bufs, m->cap_bufs) != IT_OK) return NULL;
    if (!it__cu_dev_alloc(m, &dev, bytes)) return NULL;
    if (m->cu.MemAllocHost(&host, bytes) != 0) {
        it__cu_dev_free(m, dev, bytes);
        return NULL;
    }
    b = &m->bufs[m->n_bufs++];
    memset(b, 0, sizeof *b);
    b->host = (unsigned char *)host;
    b->dev = dev;
    b->size = size;
    b->n_dirty = 1; /* the host writes it first (the core zeroes new blocks) */
    b->dirty[0].lo = 0;
    b->dirty[0].hi = size;
    return host;
}
static it_result it__cu_synchronize(it_backend *be);
static void it__cu_buffer_free(it_backend *be, void *ptr) {
    it__cuda *m = (it__cuda *)be->impl;
    int i;
    if (!ptr) return;
    for (i = 0; i < m->n_bufs; i++)
        if (m->bufs[i].host == (unsigned char *)ptr) {
            int g;
            it__cu_synchronize(be); /* nothing in flight may still use it */
            if (m->opt_check && m->opt_check->state == ptr) m->opt_check = NULL; /* its optimizer is going away */
            for (g = 0; g < IT__CU_GRAPHS; g++) /* graphs may name its address */
                if (m->graphs[g].exec) {
                    m->cu.GraphExecDestroy(m->graphs[g].exec);
                    it_context_free(m->ctx, m->graphs[g].recs);
                    memset(&m->graphs[g], 0, sizeof m->graphs[g]);
                }
            it__cu_dev_free(m, m->bufs[i].dev, m->bufs[i].size ? m->bufs[i].size : 16);
            if (m->bufs[i].bf16) it__cu_dev_free(m, m->bufs[i].bf16, m->bufs[i].size / 2 + 16);
            m->cu.MemFreeHost(m->bufs[i].host);
            m->bufs[i] = m->bufs[--m->n_bufs];
            return;
        }
}
/* host -> device for every host-written range, on the stream before whatever follows */
static it_result it__cu_flush(it__cuda *m) {
    int i, j;
    for (i = 0; i < m->n_bufs; i++) {
        it__cu_buffer *b = &m->bufs[i];
        for (j = 0; j < b->n_dirty; j++) {
            size_t lo = b->dirty[j].lo, n = b->dirty[j].hi - lo;
            if (!n) continue;
            IT__CU_CALL(m, MemcpyHtoDAsync(b->dev + lo, b->host + lo, n, m->stream), "cuMemcpyHtoDAsync (host mirror)");
            m->stats.uploads++;
            m->stats.upload_bytes += n;
            m->pending = 1;
        }
        b->n_dirty = 0;
        if (b->kind == IT__CU_HOST_INPUTS) { /* token ids: the host may write them through any pointer it kept */
            b->n_dirty = 1;
            b->dirty[0].lo = 0;
            b->dirty[0].hi = b->size;
        }
    }
    return IT_OK;
}
static it_result it__cu_wait(it__cuda *m) {
    if (!m->pending) return IT_OK;
    m->pending = 0;
    m->stats.waits++;
    return it__cu_check(m, m->cu.StreamSynchronize(m->stream), "the stream (a kernel, copy or graph failed)");
}
static void it__cu_mark_dirty(it__cu_buffer *b, size_t lo, size_t hi) {
    int j;
    for (j = 0; j < b->n_dirty; j++) /* merge with an overlapping or touching range */
        if (lo <= b->dirty[j].hi && hi >= b->dirty[j].lo) {
            if (lo < b->dirty[j].lo) b->dirty[j].lo = lo;
            if (hi > b->dirty[j].hi) b->dirty[j].hi = hi;
            return;
        }
    b->dirty[b->n_dirty].lo = lo;
    b->dirty[b->n_dirty].hi = hi;
    b->n_dirty++;
}
static int it__cu_covered(const it__cu_buffer *b, size_t lo, size_t hi) {
    int j;
    for (j = 0; j < b->n_dirty; j++)
        if (lo >= b->dirty[j].lo && hi <= b->dirty[j].hi) return 1;
    return 0;
}
/* the whole buffer to the host, then all of it host-owned */
static it_result it__cu_take_whole(it__cuda *m, it__cu_buffer *b) {
    if (b->dev_newer) {
        int j;
        for (j = 0; j < b->n_dirty; j++) { /* the host's own writes go down first: the download keeps them */
            IT__CU_CALL(m, MemcpyHtoDAsync(b->dev + b->dirty[j].lo, b->host + b->dirty[j].lo, b->dirty[j].hi - b->dirty[j].lo,
                                           m->stream), "cuMemcpyHtoDAsync");
            m->stats.uploads++;
            m->stats.upload_bytes += b->dirty[j].hi - b->dirty[j].lo;
        }
        IT__CU_CALL(m, MemcpyDtoHAsync(b->host, b->dev, b->size, m->stream), "cuMemcpyDtoHAsync");
        m->pending = 1;
        IT__CU_TRY(it__cu_wait(m));
        m->stats.downloads++;
        m->stats.download_bytes += b->size;
        b->dev_newer = 0;
    }
    b->n_dirty = 1;
    b->dirty[0].lo = 0;
    b->dirty[0].hi = b->size;
    return IT_OK;
}
static void it__cu_host_access(it_backend *be, const void *ptr, size_t bytes) {
    it__cuda *m = (it__cuda *)be->impl;
    it__cu_buffer *b;
    size_t lo, hi;
    it_result r = IT_OK;
    int i;
    if (m->internal) return; /* the backend's own look-ups */
    if (!ptr) { /* the core is about to read or write whole blocks: parameters, gradients, state */
        for (i = 0; i < m->n_bufs && r == IT_OK; i++)
            if (m->bufs[i].kind == IT__CU_HOST_OTHER) r = it__cu_take_whole(m, &m->bufs[i]);
    } else if ((b = it__cu_find(m, ptr)) != NULL) {
        lo = (size_t)((const unsigned char *)ptr - b->host);
        hi = lo + bytes > b->size ? b->size : lo + bytes;
        if (it__cu_covered(b, lo, hi)) return;
        if (!b->dev_newer) {
            if (b->n_dirty < IT__CU_MAX_DIRTY) it__cu_mark_dirty(b, lo, hi);
            else r = it__cu_take_whole(m, b);
        } else if (b->n_dirty >= IT__CU_MAX_DIRTY - 1) {
            r = it__cu_take_whole(m, b);
        } else {
            int j;
            for (j = 0; j < b->n_dirty && r == IT_OK; j++) /* overlapping host writes go down first */
                if (b->dirty[j].lo < hi && b->dirty[j].hi > lo) {
                    r = it__cu_check(m, m->cu.MemcpyHtoDAsync(b->dev + b->dirty[j].lo, b->host + b->dirty[j].lo,
                                                              b->dirty[j].hi - b->dirty[j].lo, m->stream), "cuMemcpyHtoDAsync");
                    m->stats.uploads++;
                    m->stats.upload_bytes += b->dirty[j].hi - b->dirty[j].lo;
                }
            if (r == IT_OK) r = it__cu_check(m, m->cu.MemcpyDtoHAsync(b->host + lo, b->dev + lo, hi - lo, m->stream), "cuMemcpyDtoHAsync");
            m->pending = 1;
            if (r == IT_OK) r = it__cu_wait(m);
            m->stats.downloads++;
            m->stats.download_bytes += hi - lo;
            if (r == IT_OK) it__cu_mark_dirty(b, lo, hi);
        }
    }
    if (r != IT_OK) /* the hook cannot return an error: the log has it, and the data is what it was */
        it_log(m->ctx, IT_LOG_ERROR, "cuda: copying a block to the host failed: %s", it_context_last_error(m->ctx));
}
/* a tensor's device address; the block's kind is learned here */
static it_result it__cu_t(it__cuda *m, it_tensor *t, it__CUdeviceptr *out) {
    size_t off = 0;
    unsigned char *p;
    it__cu_buffer *b;
    it_block kind = it_tensor_block(t, &off);
    m->internal = 1;
    p = (unsigned char *)it_data_raw(t);
    m->internal = 0;
    if (kind == IT_BLOCK_NONE || !p)
        return it_context_error(m->ctx, IT_ERR_STATE, "cuda: tensor '%s' has no storage yet (plan the graph first)", it_tensor_name(t));
    b = it__cu_find(m, p);
    if (!b)
        return it_context_error(m->ctx, IT_ERR_STATE,
                                "cuda: tensor '%s' is not in a CUDA buffer (was the backend switched on after planning?)",
                                it_tensor_name(t));
    if (kind == IT_BLOCK_INPUTS) b->kind = IT__CU_HOST_INPUTS;
    else if (kind == IT_BLOCK_ARENA) b->kind = IT__CU_HOST_ARENA;
    else if (kind == IT_BLOCK_PARAMS) b->params = 1;
    *out = b->dev + (size_t)(p - b->host);
    return IT_OK;
}
static it_result it__cu_block(it__cuda *m, const void *host, const char *what, it__CUdeviceptr *out) {
    it__cu_buffer *b = it__cu_find(m, host);
    if (!b || b->host != (const unsigned char *)host)
        return it_context_error(m->ctx, IT_ERR_STATE, "cuda: the %s block is not a CUDA buffer (was the backend switched on late?)", what);
    *out = b->dev;
    return IT_OK;
}
/* the device wrote at d: its buffer's host mirror is stale */
static void it__cu_written(it__cuda *m, it__CUdeviceptr d) {
    int i;
    for (i = 0; i < m->n_bufs; i++)
        if (d >= m->bufs[i].dev && d < m->bufs[i].dev + (m->bufs[i].size ? m->bufs[i].size : 16)) {
            m->bufs[i].dev_newer = 1;
            return;
        }
}
/* bytes of device temporaries (16-byte aligned) for the node being recorded: they are free again
   when the next node starts (it__cu_node_fwd), since the one stream runs the nodes in order, so
   the buffer is the largest node's need (the head's logits block, the attention scores), not the
   sum of a step's. A growth retires the old buffer until synchronize, which then makes one of the
   largest node's size. */
static it_result it__cu_temp(it__cuda *m, size_t bytes, it__CUdeviceptr *out) {
    size_t need = (bytes + 15) & ~(size_t)15;
    if (m->tused + need > m->tcap) {
        size_t cap = m->tcap * 2 > m->tnode + need ? m->tcap * 2 : m->tnode + need + 4096; /* the node's bytes in one buffer */
        it__CUdeviceptr nb = 0;
        if (!it__cu_dev_alloc(m, &nb, cap))
            return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes of temporaries", cap);
        if (m->tdev) {
            if (IT__CU_GROW(m, m->retired_dev, m->n_retired_dev, m->cap_retired_dev) != IT_OK) {
                it__cu_dev_free(m, nb, cap);
                return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
            }
            m->retired_dev[m->n_retired_dev].p = m->tdev;
            m->retired_dev[m->n_retired_dev++].size = m->tcap;
        }
        m->tdev = nb;
        m->tcap = cap;
        m->tused = 0;
    }
    *out = m->tdev + m->tused;
    m->tused += need;
    m->tnode += need;
    if (m->tnode > m->tpeak) m->tpeak = m->tnode;
    return IT_OK;
}
/* room for `bytes` more of this node's temporaries in the one buffer, for a node that knows its
   need: growing under a node keeps the old buffer until synchronize (the fused head's logits block
   and then its bf16 operands would hold the first buffer, its double and the final size at once) */
static it_result it__cu_temp_reserve(it__cuda *m, size_t bytes) {
    it__CUdeviceptr p;
    size_t node = m->tnode;
    if (m->tused + bytes <= m->tcap) return IT_OK;
    IT__CU_TRY(it__cu_temp(m, bytes, &p)); /* a new buffer, with nothing of this node in it yet */
    m->tused = 0;
    m->tnode = node;
    return IT_OK;
}
/* temporaries used by a part of a node only (the fused head's bf16 operands of one block of rows):
   free again once that part is recorded */
typedef struct it__cu_temp_mark { size_t used, node; } it__cu_temp_mark;
static it__cu_temp_mark it__cu_temp_save(const it__cuda *m) {
    it__cu_temp_mark k;
    k.used = m->tused, k.node = m->tnode;
    return k;
}
static void it__cu_temp_restore(it__cuda *m, it__cu_temp_mark k) {
    if (k.used <= m->tused) m->tused = k.used; /* (after a growth the new buffer's first bytes just stay unused) */
    m->tnode = k.node;
    m->n_memo = 0;
}
static it_result it__cu_host_temp(it__cuda *m, size_t bytes, void **out) {
    size_t need = (bytes + 15) & ~(size_t)15;
    if (m->hused + need > m->hcap) {
        size_t cap = m->hcap * 2 > need ? m->hcap * 2 : need + 4096;
        void *nb = NULL;
        if (m->cu.MemAllocHost(&nb, cap) != 0)
            return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu pinned bytes", cap);
        if (m->thost) {
            if (IT__CU_GROW(m, m->retired_host, m->n_retired_host, m->cap_retired_host) != IT_OK) {
                m->cu.MemFreeHost(nb);
                return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
            }
            m->retired_host[m->n_retired_host++] = m->thost;
        }
        m->thost = (unsigned char *)nb;
        m->hcap = cap;
        m->hused = 0;
    }
    *out = m->thost + m->hused;
    m->hused += need;
    m->hpeak += need;
    return IT_OK;
}

/* >>cuda_records  a step as records; executing them; CUDA graphs ----------------------------------- */
static it_result it__cu_exec(it__cuda *m, const it__cu_record *r) {
    switch (r->op) {
    case IT__CU_REC_KERNEL: {
        void *params[IT_CUDA_MAX_BINDS + 1];
        int i;
        for (i = 0; i < r->n_args; i++) params[i] = (void *)(r->arg.b + r->offset[i]);
        m->stats.kernel_launches++;
        return it__cu_check(m, m->cu.LaunchKernel(m->fn[r->kernel], r->grid[0], r->grid[1], r->grid[2], r->block[0], r->block[1],
                                                  r->block[2], 0, m->stream, params, NULL),
                            it__cu_kernel_names[r->kernel]);
    }
    case IT__CU_REC_GEMM: {
        int s;
        m->stats.gemms++;
        /* c is fp32; fp32 operands multiply as the compute type says (fp32 or TF32), bf16 ones
           exactly (a product of two bf16 values fits fp32), summed in fp32 */
        int ct = r->abtype == IT__CUDA_R_16BF ? IT__CUBLAS_COMPUTE_32F : m->compute_type;
        if (r->batch == 1)
            s = m->blas.GemmEx(m->cublas, r->ta, r->tb, r->m, r->n, r->k, &r->alpha, (const void *)(uintptr_t)r->a, r->abtype,
                               r->lda, (const void *)(uintptr_t)r->b, r->abtype, r->ldb, &r->beta, (void *)(uintptr_t)r->c,
                               IT__CUDA_R_32F, r->ldc, ct, IT__CUBLAS_GEMM_DEFAULT);
        else
            s = m->blas.GemmStridedBatchedEx(m->cublas, r->ta, r->tb, r->m, r->n, r->k, &r->alpha, (const void *)(uintptr_t)r->a,
                                             r->abtype, r->lda, r->sa, (const void *)(uintptr_t)r->b, r->abtype, r->ldb,
                                             r->sb, &r->beta, (void *)(uintptr_t)r->c, IT__CUDA_R_32F, r->ldc, r->sc, r->batch,
                                             ct, IT__CUBLAS_GEMM_DEFAULT);
        if (s != 0) return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: cuBLAS gemm failed (status %d)", s);
        return IT_OK;
    }
    case IT__CU_REC_MEMSET:
        return it__cu_check(m, m->cu.MemsetD32Async(r->c, r->value, r->count, m->stream), "cuMemsetD32Async");
    case IT__CU_REC_UPLOAD:
        m->stats.uploads++;
        m->stats.upload_bytes += r->count;
        return it__cu_check(m, m->cu.MemcpyHtoDAsync(r->c, r->src, r->count, m->stream), "cuMemcpyHtoDAsync (step temporaries)");
    default: return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: bad record %d", r->op);
    }
}
/* a record: kept for the step's graph, or (outside a step) executed now */
static it_result it__cu_record_add(it__cuda *m, const it__cu_record *r) {
    if (r->op == IT__CU_REC_MEMSET || r->op == IT__CU_REC_UPLOAD) m->n_memo = 0; /* a write the bf16 copies do not track */
    if (!m->in_step) {
        IT__CU_TRY(it__cu_flush(m));
        m->pending = 1;
        return it__cu_exec(m, r);
    }
    if (IT__CU_GROW(m, m->recs, m->n_recs, m->cap_recs) != IT_OK) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    m->recs[m->n_recs++] = *r;
    m->stats.records++;
    return IT_OK;
}
static unsigned long long it__cu_hash(const it__cu_record *r, int n) {
    const unsigned char *p = (const unsigned char *)r;
    size_t i, len = (size_t)n * sizeof *r;
    unsigned long long h = 1469598103934665603ull; /* FNV-1a */
    for (i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
static void it__cu_graph_drop(it__cuda *m, it__cu_graph *g) {
    if (g->exec) m->cu.GraphExecDestroy(g->exec);
    it_context_free(m->ctx, g->recs);
    memset(g, 0, sizeof *g);
}
/* the records one by one between events, each one's GPU time added to its kernel's entry */
static int it__cu_prof_slot(const it__cu_record *r) {
    return r->op == IT__CU_REC_KERNEL ? r->kernel : IT__CUK_COUNT + (r->op == IT__CU_REC_GEMM ? 0 : r->op == IT__CU_REC_MEMSET ? 1 : 2);
}
/* a product's time under its shape (the first IT__CU_PROF_GEMMS shapes; the rest stay in the total) */
static void it__cu_prof_gemm_add(it__cuda *m, const it__cu_record *r, float ms) {
    int i;
    for (i = 0; i < m->n_prof_gemm; i++) {
        it__cu_prof_gemm *g = &m->prof_gemm[i];
        if (g->ta == r->ta && g->tb == r->tb && g->m == r->m && g->n == r->n && g->k == r->k && g->batch == r->batch && g->abtype == r->abtype) break;
    }
    if (i == m->n_prof_gemm) {
        if (i == IT__CU_PROF_GEMMS) return;
        memset(&m->prof_gemm[i], 0, sizeof m->prof_gemm[i]);
        m->prof_gemm[i].ta = r->ta, m->prof_gemm[i].tb = r->tb, m->prof_gemm[i].m = r->m, m->prof_gemm[i].n = r->n;
        m->prof_gemm[i].k = r->k, m->prof_gemm[i].batch = r->batch, m->prof_gemm[i].abtype = r->abtype;
        m->n_prof_gemm++;
    }
    m->prof_gemm[i].ms += ms;
    m->prof_gemm[i].count++;
}
static it_result it__cu_profile_records(it__cuda *m) {
    int i, need = m->n_recs + 1;
    it_result r = IT_OK;
    while (m->n_events < need) {
        if (IT__CU_GROW(m, m->events, m->n_events, m->cap_events) != IT_OK) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
        IT__CU_CALL(m, EventCreate(&m->events[m->n_events], 0), "cuEventCreate");
        m->n_events++;
    }
    IT__CU_CALL(m, EventRecord(m->events[0], m->stream), "cuEventRecord");
    for (i = 0; i < m->n_recs && r == IT_OK; i++) {
        r = it__cu_exec(m, &m->recs[i]);
        if (r == IT_OK) r = it__cu_check(m, m->cu.EventRecord(m->events[i + 1], m->stream), "cuEventRecord");
    }
    if (r == IT_OK) r = it__cu_check(m, m->cu.EventSynchronize(m->events[m->n_recs]), "cuEventSynchronize");
    for (i = 0; i < m->n_recs && r == IT_OK; i++) {
        float ms = 0.0f;
        r = it__cu_check(m, m->cu.EventElapsedTime(&ms, m->events[i], m->events[i + 1]), "cuEventElapsedTime");
        m->prof_ms[it__cu_prof_slot(&m->recs[i])] += ms;
        m->prof_count[it__cu_prof_slot(&m->recs[i])]++;
        if (m->recs[i].op == IT__CU_REC_GEMM) it__cu_prof_gemm_add(m, &m->recs[i], ms);
    }
    return r;
}
static void it__cu_profile_log(it__cuda *m) {
    double total = 0.0;
    int i, k, order[IT__CUK_COUNT + 3];
    for (i = 0; i < IT__CUK_COUNT + 3; i++) order[i] = i, total += m->prof_ms[i];
    for (i = 1; i < IT__CUK_COUNT + 3; i++) /* by time, largest first */
        for (k = i; k > 0 && m->prof_ms[order[k]] > m->prof_ms[order[k - 1]]; k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    it_log(m->ctx, IT_LOG_INFO, "cuda profile: %.2f ms of GPU time in %lu steps", total, m->stats.steps);
    for (i = 0; i < IT__CUK_COUNT + 3 && m->prof_ms[order[i]] > 0.0; i++) {
        int s = order[i];
        it_log(m->ctx, IT_LOG_INFO, "cuda profile: %6.2f%% %9.3f ms %7lu x  %s", 100.0 * m->prof_ms[s] / (total > 0 ? total : 1),
               m->prof_ms[s], m->prof_count[s], s < IT__CUK_COUNT ? it__cu_kernel_names[s] : s == IT__CUK_COUNT ? "cuBLAS gemm" : s == IT__CUK_COUNT + 1 ? "memset" : "host-to-device copy");
    }
    for (i = 0; i < m->n_prof_gemm; i++) { /* row-major: c [rows, cols] over k = the column-major call's [n, m] */
        const it__cu_prof_gemm *g = &m->prof_gemm[i];
        double flops = 2.0 * g->m * g->n * g->k * g->batch * (double)g->count;
        it_log(m->ctx, IT_LOG_INFO, "cuda profile: gemm %5d x %5d over k %5d%s%s batch %4d %s: %6.2f%% %8.3f ms %6lu x %7.2f TFLOP/s", g->n,
               g->m, g->k, g->tb == IT__CUBLAS_OP_T ? " a^T" : "", g->ta == IT__CUBLAS_OP_T ? " b^T" : "", g->batch,
               g->abtype == IT__CUDA_R_16BF ? "bf16" : "fp32", 100.0 * g->ms / (total > 0 ? total : 1), g->ms, g->count,
               g->ms > 0 ? flops / (g->ms * 1e9) : 0.0);
    }
}
/* the recorded step: its graph when these records were seen before, else captured now */
static it_result it__cu_run_records(it__cuda *m) {
    unsigned long long h;
    it__cu_graph *g = NULL;
    it__CUgraph graph = NULL;
    it_result r = IT_OK;
    int i;
    if (!m->n_recs) return IT_OK;
    m->pending = 1;
    if (m->profile) return it__cu_profile_records(m);
    if (!m->use_graphs) {
        for (i = 0; i < m->n_recs && r == IT_OK; i++) r = it__cu_exec(m, &m->recs[i]);
        return r;
    }
    h = it__cu_hash(m->recs, m->n_recs);
    m->clock++;
    for (i = 0; i < IT__CU_GRAPHS; i++)
        if (m->graphs[i].exec && m->graphs[i].hash == h && m->graphs[i].n_recs == m->n_recs &&
            memcmp(m->graphs[i].recs, m->recs, (size_t)m->n_recs * sizeof *m->recs) == 0) {
            m->graphs[i].last_used = m->clock;
            m->stats.graph_launches++;
            return it__cu_check(m, m->cu.GraphLaunch(m->graphs[i].exec, m->stream), "cuGraphLaunch");
        }
    for (i = 0; i < IT__CU_GRAPHS; i++) /* a free slot, or the least recently used */
        if (!g || !m->graphs[i].exec || m->graphs[i].last_used < g->last_used) {
            g = &m->graphs[i];
            if (!g->exec) break;
        }
    it__cu_graph_drop(m, g);
    IT__CU_CALL(m, StreamBeginCapture(m->stream, IT__CU_CAPTURE_THREAD_LOCAL), "cuStreamBeginCapture");
    for (i = 0; i < m->n_recs && r == IT_OK; i++) r = it__cu_exec(m, &m->recs[i]);
    {
        it_result r2 = it__cu_check(m, m->cu.StreamEndCapture(m->stream, &graph), "cuStreamEndCapture");
        if (r == IT_OK) r = r2;
    }
    if (r == IT_OK) r = it__cu_check(m, m->cu.GraphInstantiate(&g->exec, graph, 0), "cuGraphInstantiate");
    if (graph) m->cu.GraphDestroy(graph);
    if (r != IT_OK) {
        g->exec = NULL;
        return r;
    }
    g->recs = (it__cu_record *)it_context_alloc(m->ctx, (size_t)m->n_recs * sizeof *m->recs);
    if (!g->recs) {
        m->cu.GraphExecDestroy(g->exec);
        g->exec = NULL;
        return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    }
    memcpy(g->recs, m->recs, (size_t)m->n_recs * sizeof *m->recs);
    g->n_recs = m->n_recs;
    g->hash = h;
    g->last_used = m->clock;
    m->stats.graph_captures++;
    m->stats.graph_launches++;
    return it__cu_check(m, m->cu.GraphLaunch(g->exec, m->stream), "cuGraphLaunch");
}

/* One kernel launch, Metal's way: args[0..n-1] are bindings 0..n-1, then the argument struct.
   threads = 1: dispatchThreads (grid in threads, edge groups smaller), 0: dispatchThreadgroups. */
typedef struct it__cu_dim3 { unsigned x, y, z; } it__cu_dim3; /* MTLSize's role */
static it__cu_dim3 it__cu_dim(unsigned x, unsigned y, unsigned z) {
    it__cu_dim3 d;
    d.x = x, d.y = y, d.z = z;
    return d;
}
static it_result it__cu_launch(it__cuda *m, it__cu_kernel k, const it__CUdeviceptr *args, int n, const void *params,
                               size_t params_size, it__cu_dim3 grid, it__cu_dim3 group, int threads) {
    const it_cuda_kernel_info *info = m->info[k];
    unsigned gx = grid.x, gy = grid.y, gz = grid.z, tx = group.x, ty = group.y, tz = group.z;
    it__cu_record r;
    struct { unsigned x, y, z, nonuniform; } d;
    size_t off = 0;
    int i;
    if (!gx || !gy || !gz) return IT_OK; /* an empty tensor: nothing to do */
    if (k != IT__CUK_F32_TO_BF16) m->n_memo = 0; /* it may write what a bf16 copy was made of */
    if (n + 1 != info->n_binds || info->value_size[n] != params_size)
        return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: %s takes %d bindings (%lu-byte arguments last), given %d + %zu bytes",
                                info->name, info->n_binds, info->value_size[info->n_binds - 1], n, params_size);
    if (tx * ty * tz > (unsigned)m->max_threads[k] || tz > 64)
        return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: %s needs %u threads per block, the kernel allows %d", info->name,
                                tx * ty * tz, m->max_threads[k]);
    memset(&r, 0, sizeof r);
    memset(&d, 0, sizeof d);
    r.op = IT__CU_REC_KERNEL;
    r.kernel = (int)k;
    r.block[0] = tx, r.block[1] = ty, r.block[2] = tz;
    if (threads) {
        d.x = gx, d.y = gy, d.z = gz;
        d.nonuniform = 1;
        r.grid[0] = (gx + tx - 1) / tx, r.grid[1] = (gy + ty - 1) / ty, r.grid[2] = (gz + tz - 1) / tz;
        if (info->collectives && (gx % tx || gy % ty || gz % tz))
            return it_context_error(m->ctx, IT_ERR_BACKEND,
                                    "cuda: %s synchronizes its group, and an edge group of this dispatchThreads grid "
                                    "(%u x %u x %u, groups %u x %u x %u) would be partial", info->name, gx, gy, gz, tx, ty, tz);
    } else {
        r.grid[0] = gx, r.grid[1] = gy, r.grid[2] = gz;
    }
    if (r.grid[1] > 65535 || r.grid[2] > 65535)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda: %s: a grid of %u x %u x %u blocks is over CUDA's 65535 in y and z",
                                info->name, r.grid[0], r.grid[1], r.grid[2]);
    for (i = 0; i < n; i++) { /* pointers, then the argument struct, then the dispatch: each 8-aligned */
        r.offset[i] = (unsigned short)off;
        memcpy(r.arg.b + off, &args[i], sizeof args[i]);
        off += 8;
        if (info->writes & (1u << i)) it__cu_written(m, args[i]);
    }
    r.offset[n] = (unsigned short)off;
    memcpy(r.arg.b + off, params, params_size);
    off += (params_size + 7) & ~(size_t)7;
    r.offset[n + 1] = (unsigned short)off;
    if (off + sizeof d > IT__CU_ARG_BYTES) return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: %s: arguments too large", info->name);
    memcpy(r.arg.b + off, &d, sizeof d);
    r.n_args = n + 2;
    return it__cu_record_add(m, &r);
}
/* threads per group for row kernels: a multiple of 32, at most the kernel's limit */
static unsigned it__cu_tg(it__cuda *m, it__cu_kernel k, unsigned want) {
    unsigned lim = (unsigned)m->max_threads[k];
    if (want > lim) want = lim;
    want = (want + 31) / 32 * 32;
    if (want > lim) want = lim / 32 * 32;
    return want ? want : 32;
}
static it_result it__cu_flat(it__cuda *m, it__cu_kernel k, const it__CUdeviceptr *args, int n, size_t count, float alpha,
                             size_t nb) {
    it_elementwise_args p;
    if (count > IT__CU_MAX_ELEMENTS)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda: %s over %zu elements (2^31 or more)", it__cu_kernel_names[k], count);
    memset(&p, 0, sizeof p);
    p.n = (unsigned)count;
    p.nb = (unsigned)(nb ? nb : count);
    p.alpha = alpha;
    return it__cu_launch(m, k, args, n, &p, sizeof p, it__cu_dim((unsigned)count, 1, 1), it__cu_dim(it__cu_tg(m, k, 256), 1, 1), 1);
}

/* >>cuda_matmul  cuBLAS, row-major through column-major ------------------------------------------ */
/* Split-K: a product whose output has fewer 128 x 128 tiles than the device has SMs leaves most of
   them idle however long K is (the fused head's dx, [2097, 256] over K = 32000, has 34 tiles on
   the H200's 132 SMs; a layer's dW, [256, 256] over the 4096 rows, 4). Such a product over K of
   at least IT__CU_SPLIT_K_MIN_K runs as S products over K / S each, into S fp32 partial outputs
   (one strided-batched call), then c = sum of the partials (+ c when accumulating) as one more
   product with a vector of ones, then the K % S remainder accumulated into c. The sums are fp32
   as before, in another order. S: about two waves of tiles, each slice at least 256 long. */
#define IT__CU_SPLIT_K_MIN_K 1024
#ifndef IT_CUDA_SPLIT_K_DEFAULT
#define IT_CUDA_SPLIT_K_DEFAULT 0 /* off: slower on the H100 (2026-12-07: a `tiny` step 12.47 ms against 12.33 unsplit, README) */
#endif
static int it__cu_split_k(const it__cuda *m, int rows, int cols, int K) {
    long tiles = (long)((rows + 127) / 128) * ((cols + 127) / 128), S;
    if (!m->split_k || K < IT__CU_SPLIT_K_MIN_K || tiles >= m->n_sm || rows < 64 || cols < 64) return 1; /* (a vector: cuBLAS's gemv) */
    S = (2L * m->n_sm + tiles - 1) / tiles;
    if (S > IT__CU_SPLIT_K_MAX) S = IT__CU_SPLIT_K_MAX;
    if (S > K / 256) S = K / 256;
    return S < 2 ? 1 : (int)S;
}
/* the bytes of partial outputs it__cu_gemm_ld takes from the node's temporaries for this product
   (row-major c [M, N] over K), so that a node reserving its temporaries can count them */
static size_t it__cu_split_k_bytes(const it__cuda *m, int M, int N, int K) {
    int S = it__cu_split_k(m, N, M, K);
    return S > 1 ? (((size_t)S * M * N * sizeof(float) + 15) & ~(size_t)15) : 0;
}
/* r: one column-major product with a contiguous c (ldc = r->m), split in S along K */
static it_result it__cu_gemm_split(it__cuda *m, const it__cu_record *r, int S, size_t es) {
    it__cu_record p = *r, sum = *r, rest = *r;
    int ks = r->k / S, done = ks * S;
    long long step_a = r->ta == IT__CUBLAS_OP_N ? (long long)r->lda : 1; /* elements per k of op(a) [m, k] */
    long long step_b = r->tb == IT__CUBLAS_OP_N ? 1 : (long long)r->ldb; /* of op(b) [k, n] */
    size_t mn = (size_t)r->m * r->n;
    IT__CU_TRY(it__cu_temp(m, (size_t)S * mn * sizeof(float), &p.c));
    p.k = ks, p.batch = S, p.alpha = 1.0f, p.beta = 0.0f;
    p.sa = step_a * ks, p.sb = step_b * ks, p.sc = (long long)mn, p.ldc = r->m;
    IT__CU_TRY(it__cu_record_add(m, &p));
    /* c [mn, 1] = partials [mn, S] @ ones [S, 1] (+ beta c) */
    sum.abtype = IT__CUDA_R_32F, sum.ta = sum.tb = IT__CUBLAS_OP_N;
    sum.m = (int)mn, sum.n = 1, sum.k = S;
    sum.a = p.c, sum.lda = (int)mn, sum.b = m->obuf + IT__CU_OBUF_ONES * sizeof(float), sum.ldb = S, sum.ldc = (int)mn;
    IT__CU_TRY(it__cu_record_add(m, &sum));
    if (done == r->k) return IT_OK;
    rest.k = r->k - done, rest.beta = 1.0f;
    rest.a = r->a + (size_t)(step_a * done) * es, rest.b = r->b + (size_t)(step_b * done) * es;
    return it__cu_record_add(m, &rest);
}
/* c [M, N] (+)= op(a) @ op(b), like it_cpu_matmul; batch > 1 walks element strides (0 = shared).
   Column-major, c^T [N, M] = op(b)^T [N, K] op(a)^T [K, M]: b is cuBLAS's A, a its B. lda, ldb,
   ldc are the row strides of a, b, c as stored (a is [M, K], or [K, M] when ta; b [K, N], or
   [N, K] when tb), so a product can read one head of a [B, T, H, D] tensor. */
static it_result it__cu_gemm_ld(it__cuda *m, it__CUdeviceptr c, int ldc, it__CUdeviceptr a, int lda, it__CUdeviceptr b, int ldb,
                                int M, int N, int K, int ta, int tb, int acc, int batch, size_t sc, size_t sa, size_t sb, int abtype) {
    it__cu_record r;
    size_t es = abtype == IT__CUDA_R_16BF ? 2 : sizeof(float); /* operand element size */
    int i;
    if (M <= 0 || N <= 0 || K <= 0 || batch <= 0) return IT_OK;
    memset(&r, 0, sizeof r);
    r.op = IT__CU_REC_GEMM;
    r.abtype = abtype;
    r.ta = tb ? IT__CUBLAS_OP_T : IT__CUBLAS_OP_N;
    r.tb = ta ? IT__CUBLAS_OP_T : IT__CUBLAS_OP_N;
    r.m = N;
    r.n = M;
    r.k = K;
    r.a = b;
    r.lda = ldb;
    r.b = a;
    r.ldb = lda;
    r.c = c;
    r.ldc = ldc;
    r.alpha = 1.0f;
    r.beta = acc ? 1.0f : 0.0f;
    r.batch = batch;
    r.sa = (long long)sb;
    r.sb = (long long)sa;
    r.sc = (long long)sc;
    it__cu_written(m, c);
    { /* the bf16 copies of what this product overwrites are stale */
        it__CUdeviceptr end = c + ((size_t)(batch - 1) * sc + (size_t)M * ldc) * sizeof(float);
        for (i = 0; i < m->n_memo; i++)
            if (m->memo[i].src < end && c < m->memo[i].src + m->memo[i].count * sizeof(float)) m->memo[i--] = m->memo[--m->n_memo];
    }
    if (batch == 1 && ldc == N && (size_t)M * N <= 0x7FFFFFFFu) {
        int S = it__cu_split_k(m, N, M, K);
        if (S > 1) return it__cu_gemm_split(m, &r, S, es);
    }
    if (batch > 1 && sc == 0) { /* a shared output accumulates over the batch: one product per item, in order */
        r.batch = 1;
        for (i = 0; i < batch; i++) {
            r.a = b + (size_t)i * sb * es;
            r.b = a + (size_t)i * sa * es;
            r.beta = (acc || i > 0) ? 1.0f : 0.0f;
            IT__CU_TRY(it__cu_record_add(m, &r));
        }
        return IT_OK;
    }
    return it__cu_record_add(m, &r);
}
static it_result it__cu_gemm_typed(it__cuda *m, it__CUdeviceptr c, it__CUdeviceptr a, it__CUdeviceptr b, int M, int N, int K,
                                   int ta, int tb, int acc, int batch, size_t sc, size_t sa, size_t sb, int abtype) {
    it__cu_record r;
    int i;
    if (M <= 0 || N <= 0 || batch <= 0) return IT_OK;
    if (K <= 0) { /* an empty product: c = 0 unless accumulating */
        memset(&r, 0, sizeof r);
        for (i = 0; i < batch && !acc; i++) {
            r.op = IT__CU_REC_MEMSET;
            r.c = c + (size_t)i * sc * sizeof(float);
            r.count = (size_t)M * N;
            it__cu_written(m, r.c);
            IT__CU_TRY(it__cu_record_add(m, &r));
        }
        return IT_OK;
    }
    return it__cu_gemm_ld(m, c, N, a, ta ? M : K, b, tb ? K : N, M, N, K, ta, tb, acc, batch, sc, sa, sb, abtype);
}
static it_result it__cu_gemm(it__cuda *m, it__CUdeviceptr c, it__CUdeviceptr a, it__CUdeviceptr b, int M, int N, int K, int ta,
                             int tb, int acc, int batch, size_t sc, size_t sa, size_t sb) {
    return it__cu_gemm_typed(m, c, a, b, M, N, K, ta, tb, acc, batch, sc, sa, sb, IT__CUDA_R_32F);
}
/* A product's operand in bf16 (the context's IT_BF16 mode). A parameter is read from its block's
   bf16 mirror, which the step's records convert once, at its first bf16 product (the optimizer and
   host writes come before a step's records run, so the mirror is this step's weights); anything else
   (activations, gradients) is rounded into a temporary of the node, which the node's next product
   reuses while no kernel or product has written the source since (m->memo). Both round by
   it_f32_to_bf16. */
static it_result it__cu_bf16_operand(it__cuda *m, it__CUdeviceptr p, size_t count, it__CUdeviceptr *out) {
    it__CUdeviceptr x[2];
    int i;
    for (i = 0; i < m->n_bufs; i++) {
        it__cu_buffer *b = &m->bufs[i];
        if (!b->params || p < b->dev || p >= b->dev + b->size) continue;
        if (!b->bf16 && !it__cu_dev_alloc(m, &b->bf16, b->size / 2 + 16))
            return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes for the parameters' bf16 copy",
                                    b->size / 2);
        if (b->bf16_step != m->step_serial) {
            x[0] = b->bf16, x[1] = b->dev;
            IT__CU_TRY(it__cu_flat(m, IT__CUK_F32_TO_BF16, x, 2, b->size / sizeof(float), 0.0f, 0));
            b->bf16_step = m->step_serial;
        }
        *out = b->bf16 + (p - b->dev) / 2;
        return IT_OK;
    }
    for (i = 0; i < m->n_memo; i++)
        if (m->memo[i].src == p && m->memo[i].count == count) {
            *out = m->memo[i].dst;
            return IT_OK;
        }
    IT__CU_TRY(it__cu_temp(m, count * 2, out));
    x[0] = *out, x[1] = p;
    IT__CU_TRY(it__cu_flat(m, IT__CUK_F32_TO_BF16, x, 2, count, 0.0f, 0));
    i = m->n_memo < 4 ? m->n_memo++ : 3; /* (full: the newest replaces the last) */
    m->memo[i].src = p, m->memo[i].dst = *out, m->memo[i].count = count;
    return IT_OK;
}
/* A graph's matrix product in the context's compute dtype, like the CPU's it__gemm_compute: fp32,
   or (IT_BF16) both operands rounded to bf16 by it_f32_to_bf16 (it__cu_bf16_operand), then a
   bf16 x bf16 product with fp32 sums. */
static it_result it__cu_gemm_compute(it__cuda *m, it__CUdeviceptr c, it__CUdeviceptr a, it__CUdeviceptr b, int M, int N, int K,
                                     int ta, int tb, int acc, int batch, size_t sc, size_t sa, size_t sb) {
    it__CUdeviceptr ha, hb;
    if (it_context_compute_dtype(m->ctx) != IT_BF16 || M <= 0 || N <= 0 || K <= 0 || batch <= 0)
        return it__cu_gemm(m, c, a, b, M, N, K, ta, tb, acc, batch, sc, sa, sb);
    /* every element the batch's slices read */
    IT__CU_TRY(it__cu_bf16_operand(m, a, (size_t)M * K + (size_t)(batch - 1) * sa, &ha));
    IT__CU_TRY(it__cu_bf16_operand(m, b, (size_t)K * N + (size_t)(batch - 1) * sb, &hb));
    return it__cu_gemm_typed(m, c, ha, hb, M, N, K, ta, tb, acc, batch, sc, sa, sb, IT__CUDA_R_16BF);
}

/* >>cuda_ops  one forward and one backward per op: the Metal backend's dispatches, kernel for kernel ---- */
#define IT__CU_T(t, slot)                                            \
    do {                                                              \
        it_result r_ = it__cu_t(m, (t), &(slot));                    \
        if (r_ != IT_OK) return r_;                                   \
    } while (0)
#define IT__CU_M ((it__cuda *)be->impl)
static int it__cu_last(const it_tensor *t) { return it_tensor_dim(t, -1); }
static size_t it__cu_rows(const it_tensor *t) { return it_tensor_numel(t) / (size_t)it__cu_last(t); }

/* the products it_matmul_gemms describes, each one it__cu_gemm over its slices */
static it_result it__cu_matmul_run(it_backend *be, const it_node *n, int backward) {
    it__cuda *m = IT__CU_M;
    it_gemm gemms[2];
    int count = it_matmul_gemms(n, backward, gemms), k;
    for (k = 0; k < count; k++) {
        const it_gemm *p = &gemms[k];
        it__CUdeviceptr a, b, c;
        IT__CU_T(p->c, c);
        IT__CU_T(p->a, a);
        IT__CU_T(p->b, b);
        IT__CU_TRY(it__cu_gemm_compute(m, c, a, b, p->M, p->N, p->K, p->trans_a, p->trans_b, p->accumulate, p->batch,
                                         p->stride_c, p->stride_a, p->stride_b));
    }
    return IT_OK;
}
static it_result it__cu_matmul_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)g;
    return it__cu_matmul_run(be, n, 0);
}
static it_result it__cu_matmul_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)g;
    return it__cu_matmul_run(be, n, 1);
}

static it_result it__cu_binary_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[3];
    (void)g;
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->in[0], x[1]);
    IT__CU_T(n->in[1], x[2]);
    return it__cu_flat(m, n->op == IT_OP_ADD ? IT__CUK_ADD : IT__CUK_MUL, x, 3, (unsigned)it_tensor_numel(n->out), 0.0f,
                        (unsigned)it_tensor_numel(n->in[1]));
}
/* Column reductions in two passes, as it_column_sum_args describes (the Metal backend's way): a
   first kernel writes partials [n_blocks, C] over row blocks, it_sum_rows_f32 adds them in block
   order; one block adds straight into the gradient. */
static it_column_sum_args it__cu_column_args(unsigned N, unsigned C, unsigned *n_blocks) {
    it_column_sum_args p;
    memset(&p, 0, sizeof p);
    p.N = N;
    p.C = C;
    p.block_rows = IT_COLUMN_BLOCK_ROWS(N);
    *n_blocks = (N + p.block_rows - 1) / p.block_rows;
    return p;
}
/* one pass of kernel k over (C, n_blocks) threads */
static it_result it__cu_column_pass(it__cuda *m, it__cu_kernel k, const it__CUdeviceptr *x, int n, const it_column_sum_args *p) {
    unsigned nb = (p->N + p->block_rows - 1) / p->block_rows;
    return it__cu_launch(m, k, x, n, p, sizeof *p, it__cu_dim(p->C, nb, 1), it__cu_dim(it__cu_tg(m, k, p->C < 256 ? p->C : 256), 1, 1), 1);
}
/* Kernel k (bindings x[0..n-1], its n_out outputs first) adds column sums into out[0..n_out-1]
   (out[1] NULL: never written, layernorm without a bias). One row block: straight into the
   outputs; more: partials in the step's temporaries, then out[j] += their sum, blocks in order. */
static it_result it__cu_columns(it__cuda *m, it__cu_kernel k, it__CUdeviceptr *x, int n, int n_out, const it__CUdeviceptr *const *out,
                                it_column_sum_args p) {
    unsigned nb = (p.N + p.block_rows - 1) / p.block_rows;
    int j;
    if (nb == 1) {
        p.accumulate = 1;
        for (j = 0; j < n_out; j++) x[j] = out[j] ? *out[j] : *out[0];
        return it__cu_column_pass(m, k, x, n, &p);
    }
    for (j = 0; j < n_out; j++)
        if (!out[j]) x[j] = x[0]; /* bound, never written */
        else IT__CU_TRY(it__cu_temp(m, (size_t)nb * p.C * sizeof(float), &x[j]));
    IT__CU_TRY(it__cu_column_pass(m, k, x, n, &p));
    for (j = 0; j < n_out; j++) {
        it_column_sum_args q;
        it__CUdeviceptr y[2];
        unsigned one;
        if (!out[j]) continue;
        q = it__cu_column_args(nb, p.C, &one);
        q.block_rows = nb;
        q.accumulate = 1;
        y[0] = *out[j], y[1] = x[j];
        IT__CU_TRY(it__cu_column_pass(m, IT__CUK_SUM_ROWS, y, 2, &q));
    }
    return IT_OK;
}
/* db [C] += the column sums of dout [N, C] (bias gradients) */
static it_result it__cu_sum_rows(it__cuda *m, it__CUdeviceptr db, it__CUdeviceptr dout, unsigned N, unsigned C) {
    unsigned nb;
    const it__CUdeviceptr *out[1];
    it__CUdeviceptr x[2];
    out[0] = &db;
    x[1] = dout;
    return it__cu_columns(m, IT__CUK_SUM_ROWS, x, 2, 1, out, it__cu_column_args(N, C, &nb));
}

static it_result it__cu_binary_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    unsigned count = (unsigned)it_tensor_numel(n->in[0]), nb = (unsigned)it_tensor_numel(n->in[1]);
    it_tensor *da = it_grad_tensor(n->in[0]), *db = it_grad_tensor(n->in[1]);
    it__CUdeviceptr dout, a, b, x[5], tmp;
    (void)g;
    IT__CU_T(it_grad_tensor(n->out), dout);
    IT__CU_T(n->in[0], a);
    IT__CU_T(n->in[1], b);
    if (n->op == IT_OP_ADD) {
        if (da) { /* da += dout */
            IT__CU_T(da, x[0]);
            x[1] = dout;
            IT__CU_TRY(it__cu_flat(m, IT__CUK_AXPY, x, 2, count, 1.0f, 0));
        }
        if (db) { /* db += dout summed over a's leading rows */
            IT__CU_T(db, x[0]);
            IT__CU_TRY(it__cu_sum_rows(m, x[0], dout, count / nb, nb));
        }
        return IT_OK;
    }
    if (da && db && nb == count) { /* same shapes: one kernel for both */
        IT__CU_T(da, x[0]);
        IT__CU_T(db, x[1]);
        x[2] = dout;
        x[3] = a;
        x[4] = b;
        return it__cu_flat(m, IT__CUK_MUL_BWD, x, 5, count, 0.0f, 0);
    }
    IT__CU_TRY(it__cu_temp(m, (size_t)count * sizeof(float), &tmp));
    if (da) { /* tmp = dout * b (broadcast); da += tmp */
        x[0] = tmp;
        x[1] = dout;
        x[2] = b;
        IT__CU_TRY(it__cu_flat(m, IT__CUK_MUL, x, 3, count, 0.0f, nb));
        IT__CU_T(da, x[0]);
        x[1] = tmp;
        IT__CU_TRY(it__cu_flat(m, IT__CUK_AXPY, x, 2, count, 1.0f, 0));
    }
    if (db) { /* tmp = dout * a; db += rows of tmp */
        x[0] = tmp;
        x[1] = dout;
        x[2] = a;
        IT__CU_TRY(it__cu_flat(m, IT__CUK_MUL, x, 3, count, 0.0f, count));
        IT__CU_T(db, x[0]);
        IT__CU_TRY(it__cu_sum_rows(m, x[0], tmp, count / nb, nb));
    }
    return IT_OK;
}

/* scale, silu, gelu, swiglu */
static it_result it__cu_elementwise_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[3];
    unsigned count = (unsigned)it_tensor_numel(n->out);
    (void)g;
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->in[0], x[1]);
    switch (n->op) {
    case IT_OP_SCALE: return it__cu_flat(m, IT__CUK_SCALE, x, 2, count, n->fparam[0], 0);
    case IT_OP_SILU: return it__cu_flat(m, IT__CUK_SILU, x, 2, count, 0.0f, 0);
    case IT_OP_GELU: return it__cu_flat(m, IT__CUK_GELU, x, 2, count, 0.0f, 0);
    default: IT__CU_T(n->in[1], x[2]); return it__cu_flat(m, IT__CUK_SWIGLU, x, 3, count, 0.0f, 0);
    }
}
static it_result it__cu_elementwise_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[5];
    unsigned count = (unsigned)it_tensor_numel(n->out);
    it_tensor *dx = it_grad_tensor(n->in[0]);
    (void)g;
    if (n->op == IT_OP_SWIGLU) {
        it_tensor *dup = it_grad_tensor(n->in[1]);
        if (!dx && !dup) return IT_OK;
        if (dx) IT__CU_T(dx, x[0]);
        else IT__CU_TRY(it__cu_temp(m, (size_t)count * sizeof(float), &x[0]));  /* a sink */
        if (dup) IT__CU_T(dup, x[1]);
        else IT__CU_TRY(it__cu_temp(m, (size_t)count * sizeof(float), &x[1]));
        IT__CU_T(it_grad_tensor(n->out), x[2]);
        IT__CU_T(n->in[0], x[3]);
        IT__CU_T(n->in[1], x[4]);
        return it__cu_flat(m, IT__CUK_SWIGLU_BWD, x, 5, count, 0.0f, 0);
    }
    if (!dx) return IT_OK;
    IT__CU_T(dx, x[0]);
    IT__CU_T(it_grad_tensor(n->out), x[1]);
    if (n->op == IT_OP_SCALE) return it__cu_flat(m, IT__CUK_AXPY, x, 2, count, n->fparam[0], 0);
    IT__CU_T(n->in[0], x[2]);
    return it__cu_flat(m, n->op == IT_OP_SILU ? IT__CUK_SILU_BWD : IT__CUK_GELU_BWD, x, 3, count, 0.0f, 0);
}

static it_result it__cu_embedding_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[3];
    it_embedding_args p;
    unsigned tx;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.C = (unsigned)it_tensor_dim(n->in[0], 1);
    p.V = (unsigned)it_tensor_dim(n->in[0], 0);
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->in[1], x[1]);
    IT__CU_T(n->in[0], x[2]);
    tx = it__cu_tg(m, IT__CUK_EMBED, 64);
    return it__cu_launch(m, IT__CUK_EMBED, x, 3, &p, sizeof p, it__cu_dim(p.C, p.N, 1),
                            it__cu_dim(tx, m->max_threads[IT__CUK_EMBED] / tx >= 4 ? 4 : 1, 1), 1);
}
static it_result it__cu_embedding_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[4];
    it_embedding_args p;
    const int32_t *ids;
    uint32_t *order, *tmp;
    void *cpu = NULL;
    unsigned i, w, N;
    (void)g;
    if (!it_grad_tensor(n->in[0])) return IT_OK;
    if (it_tensor_block(n->in[1], NULL) != IT_BLOCK_INPUTS)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED,
                                "cuda: embedding backward needs ids the host wrote ('%s' is computed on the GPU)",
                                it_tensor_name(n->in[1]));
    memset(&p, 0, sizeof p);
    N = p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.C = (unsigned)it_tensor_dim(n->in[0], 1);
    p.V = (unsigned)it_tensor_dim(n->in[0], 0);
    /* order = stable argsort of the ids (bottom-up merge sort in the transient buffer): each table
       row then has one writer and sums its tokens in position order, like the CPU */
    IT__CU_TRY(it__cu_host_temp(m, (size_t)N * 2 * sizeof(uint32_t), &cpu)); /* pinned: the step's graph copies it */
    IT__CU_TRY(it__cu_temp(m, (size_t)N * sizeof(uint32_t), &x[3]));
    m->internal = 1; /* the ids the host wrote: its mirror is current */
    ids = it_data_i32(n->in[1]);
    m->internal = 0;
    order = (uint32_t *)cpu;
    tmp = order + N;
    for (i = 0; i < N; i++) order[i] = i;
    for (w = 1; w < N; w *= 2) {
        unsigned lo;
        uint32_t *t;
        for (lo = 0; lo < N; lo += 2 * w) {
            unsigned mid = lo + w < N ? lo + w : N, hi = lo + 2 * w < N ? lo + 2 * w : N, a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = ids[order[b]] < ids[order[a]] ? order[b++] : order[a++];
            while (a < mid) tmp[o++] = order[a++];
            while (b < hi) tmp[o++] = order[b++];
        }
        t = order;
        order = tmp;
        tmp = t;
    }
    if (order != (uint32_t *)cpu) memcpy(cpu, order, (size_t)N * sizeof(uint32_t));
    {
        it__cu_record up;
        memset(&up, 0, sizeof up);
        up.op = IT__CU_REC_UPLOAD;
        up.c = x[3];
        up.src = cpu;
        up.count = (size_t)N * sizeof(uint32_t);
        IT__CU_TRY(it__cu_record_add(m, &up));
    }
    IT__CU_T(it_grad_tensor(n->in[0]), x[0]);
    IT__CU_T(it_grad_tensor(n->out), x[1]);
    IT__CU_T(n->in[1], x[2]);
    return it__cu_launch(m, IT__CUK_EMBED_BWD, x, 4, &p, sizeof p, it__cu_dim(N, 1, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_EMBED_BWD, p.C < 256 ? p.C : 256), 1, 1), 0);
}

static it_result it__cu_norm_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[6];
    it_norm_args p;
    it__cu_kernel k = n->op == IT_OP_RMSNORM ? IT__CUK_RMSNORM : IT__CUK_LAYERNORM;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__cu_rows(n->in[0]);
    p.C = (unsigned)it__cu_last(n->in[0]);
    p.eps = n->fparam[0];
    p.has_bias = n->n_in > 2;
    IT__CU_T(n->out, x[0]);
    if (k == IT__CUK_RMSNORM) {
        IT__CU_T(n->saved[0], x[1]);
        IT__CU_T(n->in[0], x[2]);
        IT__CU_T(n->in[1], x[3]);
    } else {
        IT__CU_T(n->saved[0], x[1]);
        IT__CU_T(n->saved[1], x[2]);
        IT__CU_T(n->in[0], x[3]);
        IT__CU_T(n->in[1], x[4]);
        IT__CU_T(n->in[n->n_in > 2 ? 2 : 1], x[5]); /* Metal wants b bound even when unused */
    }
    return it__cu_launch(m, k, x, k == IT__CUK_RMSNORM ? 4 : 6, &p, sizeof p, it__cu_dim(p.N, 1, 1),
                            it__cu_dim(it__cu_tg(m, k, p.C < 256 ? p.C : 256), 1, 1), 0);
}
static it_result it__cu_norm_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[7];
    it_norm_args p;
    int rms = n->op == IT_OP_RMSNORM;
    it_tensor *dx = it_grad_tensor(n->in[0]), *dw = it_grad_tensor(n->in[1]), *db = n->n_in > 2 ? it_grad_tensor(n->in[2]) : NULL;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__cu_rows(n->in[0]);
    p.C = (unsigned)it__cu_last(n->in[0]);
    p.eps = n->fparam[0];
    p.has_bias = db != NULL;
    if (dx) {
        it__cu_kernel k = rms ? IT__CUK_RMSNORM_BWD : IT__CUK_LAYERNORM_BWD;
        IT__CU_T(dx, x[0]);
        IT__CU_T(it_grad_tensor(n->out), x[1]);
        IT__CU_T(n->in[0], x[2]);
        IT__CU_T(n->in[1], x[3]);
        IT__CU_T(n->saved[0], x[4]);
        if (!rms) IT__CU_T(n->saved[1], x[5]);
        IT__CU_TRY(it__cu_launch(m, k, x, rms ? 5 : 6, &p, sizeof p, it__cu_dim(p.N, 1, 1),
                                     it__cu_dim(it__cu_tg(m, k, p.C < 256 ? p.C : 256), 1, 1), 0));
    }
    if (rms && dw) {
        /* dw [C] += rstd [1, N] @ (dout * x) [N, C]: an elementwise product and one cuBLAS product.
           it_rmsnorm_backward_dw_f32 (a thread per column walking every row) leaves the GPU
           almost idle at C = 256 (8 warps on the H200's 132 SMs); the sum is the same, in
           cuBLAS's order. */
        it__CUdeviceptr prod, y[3];
        size_t count = (size_t)p.N * p.C;
        IT__CU_TRY(it__cu_temp(m, count * sizeof(float), &prod));
        y[0] = prod;
        IT__CU_T(it_grad_tensor(n->out), y[1]);
        IT__CU_T(n->in[0], y[2]);
        IT__CU_TRY(it__cu_flat(m, IT__CUK_MUL, y, 3, count, 0.0f, 0));
        IT__CU_T(dw, x[0]);
        IT__CU_T(n->saved[0], x[3]);
        return it__cu_gemm(m, x[0], x[3], prod, 1, (int)p.C, (int)p.N, 0, 0, 1, 1, 0, 0, 0);
    }
    if (!rms && (dw || db)) { /* dw += sum dout xhat, db += sum dout */
        unsigned nb;
        it__CUdeviceptr w, b;
        const it__CUdeviceptr *out[2];
        it_column_sum_args q = it__cu_column_args(p.N, p.C, &nb);
        if (dw) IT__CU_T(dw, w);
        else IT__CU_TRY(it__cu_temp(m, (size_t)p.C * sizeof(float), &w)); /* a sink */
        if (db) IT__CU_T(db, b);
        out[0] = &w;
        out[1] = db ? &b : NULL;
        q.has_bias = db != NULL;
        IT__CU_T(it_grad_tensor(n->out), x[2]);
        IT__CU_T(n->in[0], x[3]);
        IT__CU_T(n->saved[0], x[4]);
        IT__CU_T(n->saved[1], x[5]);
        return it__cu_columns(m, IT__CUK_LAYERNORM_DWDB, x, 6, 2, out, q);
    }
    return IT_OK;
}

static it_result it__cu_rope(it_backend *be, const it_node *n, int backward) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[2];
    it_rope_args p;
    it__cu_kernel k = backward ? IT__CUK_ROPE_BWD : IT__CUK_ROPE;
    unsigned tx;
    it_tensor *in = n->in[0];
    it_rope_scaling sc = it_node_rope_scaling(n);
    memset(&p, 0, sizeof p);
    p.kind = (unsigned)sc.kind; /* linear / llama3 frequency scaling, as it_cpu_rope_* does it */
    p.factor = sc.factor;
    p.low_freq_factor = sc.low_freq_factor;
    p.high_freq_factor = sc.high_freq_factor;
    p.original_max_positions = sc.original_max_positions;
    p.B = (unsigned)it_tensor_dim(in, 0);
    p.T = (unsigned)it_tensor_dim(in, 1);
    p.H = (unsigned)it_tensor_dim(in, 2);
    p.D = (unsigned)it_tensor_dim(in, 3);
    p.theta = n->fparam[0];
    p.pos_offset = n->iparam[0];
    if (backward) {
        if (!it_grad_tensor(in)) return IT_OK;
        IT__CU_T(it_grad_tensor(in), x[0]);
        IT__CU_T(it_grad_tensor(n->out), x[1]);
    } else {
        IT__CU_T(n->out, x[0]);
        IT__CU_T(in, x[1]);
    }
    tx = p.D / 2 < 32 ? p.D / 2 : 32;
    return it__cu_launch(m, k, x, 2, &p, sizeof p, it__cu_dim(p.D / 2, p.H, (unsigned)p.B * p.T), it__cu_dim(tx, 4, 1), 1);
}
static it_result it__cu_rope_fwd(it_backend *be, it_graph *g, const it_node *n) { (void)g; return it__cu_rope(be, n, 0); }
static it_result it__cu_rope_bwd(it_backend *be, it_graph *g, const it_node *n) { (void)g; return it__cu_rope(be, n, 1); }

static it_result it__cu_softmax_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[2];
    it_norm_args p;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__cu_rows(n->out);
    p.C = (unsigned)it__cu_last(n->out);
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->in[0], x[1]);
    return it__cu_launch(m, IT__CUK_SOFTMAX, x, 2, &p, sizeof p, it__cu_dim(p.N, 1, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_SOFTMAX, p.C < 256 ? p.C : 256), 1, 1), 0);
}
static it_result it__cu_softmax_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[3];
    it_norm_args p;
    (void)g;
    if (!it_grad_tensor(n->in[0])) return IT_OK;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__cu_rows(n->out);
    p.C = (unsigned)it__cu_last(n->out);
    IT__CU_T(it_grad_tensor(n->in[0]), x[0]);
    IT__CU_T(it_grad_tensor(n->out), x[1]);
    IT__CU_T(n->out, x[2]);
    return it__cu_launch(m, IT__CUK_SOFTMAX_BWD, x, 3, &p, sizeof p, it__cu_dim(p.N, 1, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_SOFTMAX_BWD, p.C < 256 ? p.C : 256), 1, 1), 0);
}

static it_result it__cu_attention_args(it__cuda *m, const it_node *n, it_attention_args *p) {
    memset(p, 0, sizeof *p);
    p->window = n->iparam[0] > 0 ? (unsigned)n->iparam[0] : 0u; /* 0: every earlier key */
    p->B = (unsigned)it_tensor_dim(n->in[0], 0);
    p->T = (unsigned)it_tensor_dim(n->in[0], 1);
    p->Hq = (unsigned)it_tensor_dim(n->in[0], 2);
    p->Hkv = (unsigned)it_tensor_dim(n->in[1], 2);
    p->D = (unsigned)it_tensor_dim(n->in[0], 3);
    p->scale = 1.0f / sqrtf((float)p->D);
    if (p->D > IT_ATTN_MAX_D)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda: attention head dim %u is above %d", p->D, IT_ATTN_MAX_D);
    return IT_OK;
}
static it_result it__cu_attention_tiled_fwd(it__cuda *m, const it_node *n, const it_attention_args *pp) {
    it__CUdeviceptr x[5];
    it_attention_args p = *pp;
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->saved[0], x[1]);
    IT__CU_T(n->in[0], x[2]);
    IT__CU_T(n->in[1], x[3]);
    IT__CU_T(n->in[2], x[4]);
    return it__cu_launch(m, IT__CUK_ATTN, x, 5, &p, sizeof p, it__cu_dim((p.T + 3) / 4, p.Hq, p.B), it__cu_dim(128, 1, 1), 0);
}
/* the tiled backward's dQ and dK / dV kernels, after delta */
static it_result it__cu_attention_tiled_bwd(it__cuda *m, const it_node *n, const it_attention_args *pp, it__CUdeviceptr delta) {
    it__CUdeviceptr x[8], dout, q, k, v, lse, sink;
    it_attention_args p = *pp;
    it_tensor *dq = it_grad_tensor(n->in[0]), *dk = it_grad_tensor(n->in[1]), *dv = it_grad_tensor(n->in[2]);
    IT__CU_T(it_grad_tensor(n->out), dout);
    IT__CU_T(n->in[0], q);
    IT__CU_T(n->in[1], k);
    IT__CU_T(n->in[2], v);
    IT__CU_T(n->saved[0], lse);
    if (dq) {
        IT__CU_T(dq, x[0]);
        x[1] = dout, x[2] = q, x[3] = k, x[4] = v, x[5] = lse, x[6] = delta;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_ATTN_DQ, x, 7, &p, sizeof p, it__cu_dim((p.T + 3) / 4, p.Hq, p.B),
                                     it__cu_dim(128, 1, 1), 0));
    }
    if (dk || dv) {
        if (!dk || !dv) IT__CU_TRY(it__cu_temp(m, it_tensor_nbytes(n->in[1]), &sink));
        if (dk) IT__CU_T(dk, x[0]);
        else x[0] = sink;
        if (dv) IT__CU_T(dv, x[1]);
        else x[1] = sink;
        x[2] = dout, x[3] = q, x[4] = k, x[5] = v, x[6] = lse, x[7] = delta;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_ATTN_DKV, x, 8, &p, sizeof p, it__cu_dim((p.T + 3) / 4, p.Hkv, p.B),
                                     it__cu_dim(128, 1, 1), 0));
    }
    return IT_OK;
}


/* Attention as matrix products (the default): per chunk of nb batch rows, for each query head h
   (kv head g = h / (Hq / Hkv)), S_h = Q_h K_g^T as one cuBLAS product batched over the chunk's rows,
   the softmax rows (shaders/attention_scores.metal), then O_h = P_h V_g. The backward recomputes
   S from Q and K (no T x T matrix is kept between forward and backward, as with the tiled kernels),
   forms dP = dO V^T, turns both into P and dS in one elementwise pass, and accumulates
   dV_g += P_h^T dO_h, dQ_h += dS_h K_g, dK_g += dS_h^T Q_h. The products run on the tensor cores
   (TF32 with allow_tf32, else fp32; never bf16: the CPU's bf16 mode keeps attention in fp32) where
   the tiled kernels (attention.metal, one simdgroup per row on the FP32 pipes) reached about 2.4
   TFLOP/s at `medium` on the H200. The price is memory: the scores (and in the backward their
   gradients) of a chunk, at most IT_CUDA_ATTN_SCORES_FLOATS floats each (IT_CUDA_ATTN_SCORES in
   the environment overrides it; 0 = always the tiled kernels), one backend buffer every attention
   node reuses (the stream runs in order). Where one batch row's scores, Hq T^2 floats, are over
   it, the tiled kernels run instead. The masked half of S is computed and zeroed: the products
   have no causal shape. */
#ifndef IT_CUDA_ATTN_SCORES_FLOATS
#define IT_CUDA_ATTN_SCORES_FLOATS (16u << 20) /* 64 MB: all 16 rows of `medium` (16 heads x 256^2) at once */
#endif
/* the batch rows per chunk, 0 = the tiled kernels */
static unsigned it__cu_attention_chunk(const it__cuda *m, const it_attention_args *p) {
    size_t per_row = (size_t)p->Hq * p->T * p->T, nb;
    if (!m->scores_floats || per_row > m->scores_floats) return 0;
    nb = m->scores_floats / per_row;
    return nb < p->B ? (unsigned)nb : p->B;
}
static it_attention_scores_args it__cu_scores_args(const it_attention_args *p, unsigned b0, unsigned nb) {
    it_attention_scores_args a;
    memset(&a, 0, sizeof a);
    a.T = p->T, a.Hq = p->Hq, a.nb = nb, a.b0 = b0;
    a.scale = p->scale, a.window = p->window;
    a.rows = p->Hq * nb * p->T;
    return a;
}
/* c_h (+)= x_h y_g^T (T x T per batch row, into the scores) or c (+)= op(s_h) y (T x D): one
   product per query head over the chunk's nb batch rows. Tensors [B, T, H, D] are addressed from
   batch row b0, head h: row stride H D, batch stride T H D; scores [Hq, nb, T, T]. */
typedef struct it__cu_heads {
    it__CUdeviceptr base;
    unsigned H;
} it__cu_heads;
static it__CUdeviceptr it__cu_head_at(const it__cu_heads *x, const it_attention_args *p, unsigned b0, unsigned h) {
    return x->base + ((size_t)b0 * p->T * x->H * p->D + (size_t)h * p->D) * sizeof(float);
}
static it_result it__cu_scores_product(it__cuda *m, it__CUdeviceptr s, const it__cu_heads *x, const it__cu_heads *y,
                                       const it_attention_args *p, unsigned b0, unsigned nb) {
    unsigned h, rep = p->Hq / p->Hkv, T = p->T;
    size_t tt = (size_t)T * T;
    for (h = 0; h < p->Hq; h++) {
        unsigned hy = y->H == p->Hq ? h : h / rep;
        IT__CU_TRY(it__cu_gemm_ld(m, s + (size_t)h * nb * tt * sizeof(float), (int)T, it__cu_head_at(x, p, b0, h),
                                  (int)(x->H * p->D), it__cu_head_at(y, p, b0, hy), (int)(y->H * p->D), (int)T, (int)T,
                                  (int)p->D, 0, 1, 0, (int)nb, tt, (size_t)T * x->H * p->D, (size_t)T * y->H * p->D,
                                  IT__CUDA_R_32F));
    }
    return IT_OK;
}
/* c [T, D] (+)= op(s_h) [T, T] y [T, D] for every query head h; a c or y with Hkv heads is read
   at h's kv head (a kv gradient accumulates its group's query heads: acc = 1 there) */
static it_result it__cu_scores_apply(it__cuda *m, const it__cu_heads *c, it__CUdeviceptr s, int ts, const it__cu_heads *y,
                                     const it_attention_args *p, unsigned b0, unsigned nb, int acc) {
    unsigned h, rep = p->Hq / p->Hkv, T = p->T;
    size_t tt = (size_t)T * T;
    for (h = 0; h < p->Hq; h++) {
        unsigned hc = c->H == p->Hq ? h : h / rep, hy = y->H == p->Hq ? h : h / rep; /* kv heads gather their group */
        IT__CU_TRY(it__cu_gemm_ld(m, it__cu_head_at(c, p, b0, hc), (int)(c->H * p->D), s + (size_t)h * nb * tt * sizeof(float),
                                  (int)T, it__cu_head_at(y, p, b0, hy), (int)(y->H * p->D), (int)T, (int)p->D, (int)T, ts, 0,
                                  acc, (int)nb, (size_t)T * c->H * p->D, tt, (size_t)T * y->H * p->D, IT__CUDA_R_32F));
    }
    return IT_OK;
}
static it_result it__cu_attention_products_fwd(it__cuda *m, const it_node *n, const it_attention_args *p, unsigned nb) {
    it__cu_heads q, k, v, out;
    it__CUdeviceptr x[2], s;
    unsigned b0;
    IT__CU_T(n->in[0], q.base);
    IT__CU_T(n->in[1], k.base);
    IT__CU_T(n->in[2], v.base);
    IT__CU_T(n->out, out.base);
    q.H = out.H = p->Hq, k.H = v.H = p->Hkv;
    IT__CU_TRY(it__cu_temp(m, (size_t)nb * p->Hq * p->T * p->T * sizeof(float), &s));
    IT__CU_T(n->saved[0], x[1]);
    for (b0 = 0; b0 < p->B; b0 += nb) {
        unsigned rows = p->B - b0 < nb ? p->B - b0 : nb;
        it_attention_scores_args a = it__cu_scores_args(p, b0, rows);
        IT__CU_TRY(it__cu_scores_product(m, s, &q, &k, p, b0, rows));
        x[0] = s;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_ATTS_SOFTMAX, x, 2, &a, sizeof a, it__cu_dim((a.rows + 3) / 4, 1, 1),
                                 it__cu_dim(128, 1, 1), 0));
        IT__CU_TRY(it__cu_scores_apply(m, &out, s, 0, &v, p, b0, rows, 0));
    }
    return IT_OK;
}
static it_result it__cu_attention_products_bwd(it__cuda *m, const it_node *n, const it_attention_args *p, unsigned nb,
                                               it__CUdeviceptr delta) {
    it__cu_heads q, k, v, dout, dq, dk, dv;
    it_tensor *tdq = it_grad_tensor(n->in[0]), *tdk = it_grad_tensor(n->in[1]), *tdv = it_grad_tensor(n->in[2]);
    size_t chunk = (size_t)nb * p->Hq * p->T * p->T * sizeof(float);
    it__CUdeviceptr x[4], s, ds;
    unsigned b0;
    IT__CU_T(n->in[0], q.base);
    IT__CU_T(n->in[1], k.base);
    IT__CU_T(n->in[2], v.base);
    IT__CU_T(it_grad_tensor(n->out), dout.base);
    q.H = dout.H = dq.H = p->Hq, k.H = v.H = dk.H = dv.H = p->Hkv;
    if (tdq) IT__CU_T(tdq, dq.base);
    if (tdk) IT__CU_T(tdk, dk.base);
    if (tdv) IT__CU_T(tdv, dv.base);
    IT__CU_TRY(it__cu_temp(m, 2 * chunk, &s)); /* the scores and their gradients */
    ds = s + chunk;
    IT__CU_T(n->saved[0], x[2]);
    x[3] = delta;
    for (b0 = 0; b0 < p->B; b0 += nb) {
        unsigned rows = p->B - b0 < nb ? p->B - b0 : nb;
        it_attention_scores_args a = it__cu_scores_args(p, b0, rows);
        IT__CU_TRY(it__cu_scores_product(m, s, &q, &k, p, b0, rows)); /* S again */
        IT__CU_TRY(it__cu_scores_product(m, ds, &dout, &v, p, b0, rows));     /* dP = dO V^T */
        x[0] = s, x[1] = ds;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_ATTS_BWD, x, 4, &a, sizeof a, it__cu_dim(a.rows * p->T, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_ATTS_BWD, 256), 1, 1), 1));
        /* the gradients accumulate (+=), as the tiled kernels' and the CPU's */
        if (tdv) IT__CU_TRY(it__cu_scores_apply(m, &dv, s, 1, &dout, p, b0, rows, 1));
        if (tdq) IT__CU_TRY(it__cu_scores_apply(m, &dq, ds, 0, &k, p, b0, rows, 1));
        if (tdk) IT__CU_TRY(it__cu_scores_apply(m, &dk, ds, 1, &q, p, b0, rows, 1));
    }
    return IT_OK;
}
static it_result it__cu_attention_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it_attention_args p;
    unsigned nb;
    (void)g;
    IT__CU_TRY(it__cu_attention_args(m, n, &p));
    nb = it__cu_attention_chunk(m, &p);
    return nb ? it__cu_attention_products_fwd(m, n, &p, nb) : it__cu_attention_tiled_fwd(m, n, &p);
}
static it_result it__cu_attention_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[3], delta;
    it_attention_args p;
    unsigned nb;
    (void)g;
    if (!it_grad_tensor(n->in[0]) && !it_grad_tensor(n->in[1]) && !it_grad_tensor(n->in[2])) return IT_OK;
    IT__CU_TRY(it__cu_attention_args(m, n, &p));
    IT__CU_TRY(it__cu_temp(m, (size_t)p.B * p.Hq * p.T * sizeof(float), &delta)); /* delta = rowsum(dO * O) */
    x[0] = delta;
    IT__CU_T(it_grad_tensor(n->out), x[1]);
    IT__CU_T(n->out, x[2]);
    IT__CU_TRY(it__cu_launch(m, IT__CUK_ATTN_DELTA, x, 3, &p, sizeof p, it__cu_dim(p.Hq, p.T, p.B),
                             it__cu_dim(p.Hq <= 32 ? p.Hq : 32, 4, 1), 1));
    nb = it__cu_attention_chunk(m, &p);
    return nb ? it__cu_attention_products_bwd(m, n, &p, nb, delta) : it__cu_attention_tiled_bwd(m, n, &p, delta);
}

/* cross-entropy and the fused head: statistics per vocabulary chunk in a transient state [3, N],
   then lse, losses and the mean over counted rows; backward scales by d(loss)/count on the GPU */
static it_result it__cu_cross_entropy_tail(it__cuda *m, const it_node *n, it_tensor *targets, it__CUdeviceptr state, it_cross_entropy_args *p) {
    it__CUdeviceptr x[4];
    IT__CU_T(n->saved[0], x[0]);
    IT__CU_T(n->saved[1], x[1]);
    x[2] = state;
    IT__CU_T(targets, x[3]);
    IT__CU_TRY(it__cu_launch(m, IT__CUK_CROSS_ENTROPY_FINISH, x, 4, p, sizeof *p, it__cu_dim(p->N, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_FINISH, 64), 1, 1), 1));
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->saved[0], x[1]);
    IT__CU_T(targets, x[2]);
    return it__cu_launch(m, IT__CUK_CROSS_ENTROPY_MEAN, x, 3, p, sizeof *p, it__cu_dim(1, 1, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_MEAN, 256), 1, 1), 0);
}
static it_result it__cu_cross_entropy_stats(it__cuda *m, it__CUdeviceptr state, it__CUdeviceptr logits, it_tensor *targets, it_cross_entropy_args *p) {
    it__CUdeviceptr x[3];
    x[0] = state;
    x[1] = logits;
    IT__CU_T(targets, x[2]);
    return it__cu_launch(m, IT__CUK_CROSS_ENTROPY_STATS, x, 3, p, sizeof *p, it__cu_dim(p->N, 1, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_STATS, p->chunk < 256 ? p->chunk : 256), 1, 1), 0);
}
static it_result it__cu_cross_entropy_scale(it__cuda *m, const it_node *n, it_tensor *targets, it_cross_entropy_args *p, it__CUdeviceptr *scale) {
    it__CUdeviceptr x[3];
    IT__CU_TRY(it__cu_temp(m, sizeof(float), scale));
    x[0] = *scale;
    IT__CU_T(it_grad_tensor(n->out), x[1]);
    IT__CU_T(targets, x[2]);
    return it__cu_launch(m, IT__CUK_CROSS_ENTROPY_SCALE, x, 3, p, sizeof *p, it__cu_dim(1, 1, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_SCALE, 256), 1, 1), 0);
}
static it_result it__cu_cross_entropy_dlogits(it__cuda *m, it__CUdeviceptr dlogits, it__CUdeviceptr logits, const it_node *n,
                                    it_tensor *targets, it__CUdeviceptr scale, it_cross_entropy_args *p) {
    it__CUdeviceptr x[5];
    x[0] = dlogits;
    x[1] = logits;
    IT__CU_T(n->saved[1], x[2]);
    IT__CU_T(targets, x[3]);
    x[4] = scale;
    return it__cu_launch(m, IT__CUK_CROSS_ENTROPY_DLOGITS, x, 5, p, sizeof *p, it__cu_dim(p->chunk, p->N, 1),
                            it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_DLOGITS, 64), 4, 1), 1);
}
static it_result it__cu_cross_entropy_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr state, logits;
    it_cross_entropy_args p;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.V = p.chunk = p.ld = (unsigned)it__cu_last(n->in[0]);
    p.ignore_index = n->iparam[0];
    IT__CU_TRY(it__cu_temp(m, (size_t)3 * p.N * sizeof(float), &state));
    IT__CU_T(n->in[0], logits);
    IT__CU_TRY(it__cu_cross_entropy_stats(m, state, logits, n->in[1], &p));
    return it__cu_cross_entropy_tail(m, n, n->in[1], state, &p);
}
static it_result it__cu_cross_entropy_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr scale, dlogits, logits;
    it_cross_entropy_args p;
    (void)g;
    if (!it_grad_tensor(n->in[0])) return IT_OK;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.V = p.chunk = p.ld = (unsigned)it__cu_last(n->in[0]);
    p.ignore_index = n->iparam[0];
    p.accumulate = 1;
    IT__CU_TRY(it__cu_cross_entropy_scale(m, n, n->in[1], &p, &scale));
    IT__CU_T(it_grad_tensor(n->in[0]), dlogits);
    IT__CU_T(n->in[0], logits);
    return it__cu_cross_entropy_dlogits(m, dlogits, logits, n, n->in[1], scale, &p);
}
/* The loss of a forward + backward run (IT_OP_LOSS_GRADS_IN_FORWARD), as the CPU's fused path
   does it: blocks of R rows with all V logits each (a temporary of at most IT_CUDA_HEAD_BLOCK_FLOATS),
   statistics, loss and lse of the block, dlogits in place, then dx and dW from them. The
   backward then has nothing left to do, and the logits are computed once instead of twice (the
   recomputation was a fifth of a `tiny` step's product FLOPs). d(loss) is 1 here, as the core
   seeds it: the scale is 1 / count, from the constant 1.0 the optimizer's values hold. */
#ifndef IT_CUDA_HEAD_BLOCK_FLOATS
#define IT_CUDA_HEAD_BLOCK_FLOATS (64u << 20) /* 256 MB of logits per block: 2097 rows at V = 32000 */
#endif
static it_result it__cu_linear_cross_entropy_fused(it__cuda *m, const it_node *n) {
    it__CUdeviceptr state, scale, logits, x, w, targets, dx = 0, dw = 0, y[6];
    it_cross_entropy_args p;
    it_tensor *tdx = it_grad_tensor(n->in[0]), *tdw = it_grad_tensor(n->in[1]);
    int N = (int)it_tensor_numel(n->in[2]), C = it__cu_last(n->in[0]), V = it_tensor_dim(n->in[1], 0), r0;
    int R = (int)(IT_CUDA_HEAD_BLOCK_FLOATS / (unsigned)V), blocks, q, last;
    size_t split_bytes;
    it__cu_temp_mark mark;
    if (R < 1) R = 1;
    if (R > N) R = N;
    /* blocks of equal rows, a multiple of 64 where that fits: 4096 rows as 2 x 2048, not 2097 + 1999
       (cuBLAS ran the 2097-row dx at 20.6 TFLOP/s on an H100, the 1999-row one at 46.7) */
    blocks = (N + R - 1) / R;
    q = (N + blocks - 1) / blocks;
    R = (q + 63) / 64 * 64 <= R ? (q + 63) / 64 * 64 : q; /* (blocks - 1) R < N still: the last block has rows */
    last = N - (blocks - 1) * R;
    split_bytes = it__cu_split_k_bytes(m, R, C, V) + it__cu_split_k_bytes(m, V, C, R); /* dx and dW, per block */
    if (it__cu_split_k_bytes(m, last, C, V) + it__cu_split_k_bytes(m, V, C, last) > split_bytes)
        split_bytes = it__cu_split_k_bytes(m, last, C, V) + it__cu_split_k_bytes(m, V, C, last);
    memset(&p, 0, sizeof p);
    p.N = (unsigned)N;
    p.ignore_index = n->iparam[0];
    /* the scale, state and logits block, then (bf16) a block's operands: x rows twice, dl once */
    IT__CU_TRY(it__cu_temp_reserve(m, (size_t)R * V * sizeof(float) + (size_t)3 * R * sizeof(float) + 64 +
                                          (it_context_compute_dtype(m->ctx) == IT_BF16 ? (size_t)R * (V + 2 * C) * 2 + 48 : 0) +
                                          split_bytes));
    IT__CU_TRY(it__cu_temp(m, sizeof(float), &scale));
    y[0] = scale;
    y[1] = m->obuf + IT__CU_OBUF_UNCLIPPED * sizeof(float); /* 1.0f */
    IT__CU_T(n->in[2], y[2]);
    IT__CU_TRY(it__cu_launch(m, IT__CUK_CROSS_ENTROPY_SCALE, y, 3, &p, sizeof p, it__cu_dim(1, 1, 1),
                             it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_SCALE, 256), 1, 1), 0));
    IT__CU_TRY(it__cu_temp(m, (size_t)3 * R * sizeof(float), &state));
    IT__CU_TRY(it__cu_temp(m, (size_t)R * V * sizeof(float), &logits));
    IT__CU_T(n->in[0], x);
    IT__CU_T(n->in[1], w);
    IT__CU_T(n->in[2], targets);
    if (tdx) IT__CU_T(tdx, dx);
    if (tdw) IT__CU_T(tdw, dw);
    p.V = p.chunk = p.ld = (unsigned)V;
    mark = it__cu_temp_save(m);
    for (r0 = 0; r0 < N; r0 += R) { /* one stream: the block's temporaries are free again when the next starts */
        int rows = R < N - r0 ? R : N - r0;
        it__cu_temp_restore(m, mark);
        size_t row_off = (size_t)r0 * sizeof(float);
        it__CUdeviceptr xr = x + (size_t)r0 * C * sizeof(float);
        p.N = (unsigned)rows;
        IT__CU_TRY(it__cu_gemm_compute(m, logits, xr, w, rows, V, C, 0, 1, 0, 1, 0, 0, 0)); /* logits [rows, V] */
        y[0] = state, y[1] = logits, y[2] = targets + (size_t)r0 * sizeof(int32_t);
        IT__CU_TRY(it__cu_launch(m, IT__CUK_CROSS_ENTROPY_STATS, y, 3, &p, sizeof p, it__cu_dim(p.N, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_STATS, 256), 1, 1), 0));
        IT__CU_T(n->saved[0], y[0]);
        IT__CU_T(n->saved[1], y[1]);
        y[0] += row_off, y[1] += row_off, y[2] = state, y[3] = targets + (size_t)r0 * sizeof(int32_t);
        IT__CU_TRY(it__cu_launch(m, IT__CUK_CROSS_ENTROPY_FINISH, y, 4, &p, sizeof p, it__cu_dim(p.N, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_FINISH, 64), 1, 1), 1));
        y[4] = scale, y[2] = y[1], y[3] = targets + (size_t)r0 * sizeof(int32_t), y[0] = y[1] = logits;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_CROSS_ENTROPY_DLOGITS, y, 5, &p, sizeof p, it__cu_dim(p.chunk, p.N, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_DLOGITS, 64), 4, 1), 1)); /* in place */
        if (tdx) IT__CU_TRY(it__cu_gemm_compute(m, dx + (size_t)r0 * C * sizeof(float), logits, w, rows, C, V, 0, 0, 1, 1, 0, 0, 0));
        if (tdw) IT__CU_TRY(it__cu_gemm_compute(m, dw, logits, xr, V, C, rows, 1, 0, 1, 1, 0, 0, 0)); /* dW += dl^T x */
    }
    p.N = (unsigned)N;
    IT__CU_T(n->out, y[0]);
    IT__CU_T(n->saved[0], y[1]);
    y[2] = targets;
    IT__CU_TRY(it__cu_launch(m, IT__CUK_CROSS_ENTROPY_MEAN, y, 3, &p, sizeof p, it__cu_dim(1, 1, 1),
                             it__cu_dim(it__cu_tg(m, IT__CUK_CROSS_ENTROPY_MEAN, 256), 1, 1), 0));
    m->loss_grads_done = n;
    return IT_OK;
}
static it_result it__cu_linear_cross_entropy_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr state, x, w, scratch, wc;
    it_cross_entropy_args p;
    int N = (int)it_tensor_numel(n->in[2]), C = it__cu_last(n->in[0]), V = it_tensor_dim(n->in[1], 0);
    int chunk = n->iparam[1], v0;
    if (IT_CUDA_HEAD_BLOCK_FLOATS > 0 && m->run_mode == IT_RUN_FORWARD_BACKWARD && g->loss == n->out)
        return it__cu_linear_cross_entropy_fused(m, n);
    memset(&p, 0, sizeof p);
    p.N = (unsigned)N;
    p.V = (unsigned)V;
    p.ignore_index = n->iparam[0];
    IT__CU_TRY(it__cu_temp(m, (size_t)3 * p.N * sizeof(float), &state));
    IT__CU_T(n->in[0], x);
    IT__CU_T(n->in[1], w);
    IT__CU_T(n->scratch, scratch);
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = chunk < V - v0 ? chunk : V - v0;
        wc = w;
        wc+= (size_t)v0 * C * sizeof(float);
        IT__CU_TRY(it__cu_gemm_compute(m, scratch, x, wc, N, cv, C, 0, 1, 0, 1, 0, 0, 0)); /* logits [N, cv] */
        p.v0 = (unsigned)v0;
        p.chunk = p.ld = (unsigned)cv;
        IT__CU_TRY(it__cu_cross_entropy_stats(m, state, scratch, n->in[2], &p));
    }
    return it__cu_cross_entropy_tail(m, n, n->in[2], state, &p);
}
static it_result it__cu_linear_cross_entropy_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr scale, x, w, scratch, wc, dx, dw;
    it_cross_entropy_args p;
    it_tensor *tdx = it_grad_tensor(n->in[0]), *tdw = it_grad_tensor(n->in[1]);
    int N = (int)it_tensor_numel(n->in[2]), C = it__cu_last(n->in[0]), V = it_tensor_dim(n->in[1], 0);
    int chunk = n->iparam[1], v0;
    (void)g;
    if (m->loss_grads_done == n) { /* done in the forward (it__cu_linear_cross_entropy_fused) */
        m->loss_grads_done = NULL;
        return IT_OK;
    }
    if (!tdx && !tdw) return IT_OK;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)N;
    p.V = (unsigned)V;
    p.ignore_index = n->iparam[0];
    IT__CU_TRY(it__cu_cross_entropy_scale(m, n, n->in[2], &p, &scale));
    IT__CU_T(n->in[0], x);
    IT__CU_T(n->in[1], w);
    IT__CU_T(n->bwd_scratch, scratch);
    if (tdx) IT__CU_T(tdx, dx);
    if (tdw) IT__CU_T(tdw, dw);
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = chunk < V - v0 ? chunk : V - v0;
        wc = w;
        wc+= (size_t)v0 * C * sizeof(float);
        IT__CU_TRY(it__cu_gemm_compute(m, scratch, x, wc, N, cv, C, 0, 1, 0, 1, 0, 0, 0)); /* logits [N, cv] */
        p.v0 = (unsigned)v0;
        p.chunk = p.ld = (unsigned)cv;
        IT__CU_TRY(it__cu_cross_entropy_dlogits(m, scratch, scratch, n, n->in[2], scale, &p)); /* in place */
        if (tdx) IT__CU_TRY(it__cu_gemm_compute(m, dx, scratch, wc, N, C, cv, 0, 0, 1, 1, 0, 0, 0)); /* dx += dl @ Wc */
        if (tdw) {
            it__CUdeviceptr dwc = dw;
            dwc+= (size_t)v0 * C * sizeof(float);
            IT__CU_TRY(it__cu_gemm_compute(m, dwc, scratch, x, cv, C, N, 1, 0, 1, 1, 0, 0, 0)); /* dWc += dl^T x */
        }
    }
    return IT_OK;
}

static it_result it__cu_reduce_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[2];
    it_elementwise_args p;
    size_t count = it_tensor_numel(n->in[0]);
    (void)g;
    memset(&p, 0, sizeof p);
    p.n = (unsigned)count;
    p.alpha = n->op == IT_OP_MEAN ? 1.0f / (float)count : 1.0f;
    IT__CU_T(n->out, x[0]);
    IT__CU_T(n->in[0], x[1]);
    return it__cu_launch(m, IT__CUK_SUM, x, 2, &p, sizeof p, it__cu_dim(1, 1, 1), it__cu_dim(it__cu_tg(m, IT__CUK_SUM, 1024), 1, 1), 0);
}
static it_result it__cu_reduce_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x[2];
    size_t count = it_tensor_numel(n->in[0]);
    (void)g;
    if (!it_grad_tensor(n->in[0])) return IT_OK;
    IT__CU_T(it_grad_tensor(n->in[0]), x[0]);
    IT__CU_T(it_grad_tensor(n->out), x[1]);
    return it__cu_flat(m, IT__CUK_ADD_SCALAR, x, 2, (unsigned)count, n->op == IT_OP_MEAN ? 1.0f / (float)count : 1.0f, 0);
}
static it_result it__cu_nothing(it_backend *be, it_graph *g, const it_node *n) {
    (void)be; (void)g; (void)n;
    return IT_OK;
}
/* Every op runs through these: a node's device temporaries (it__cu_temp) start over with it, as the
   nodes run in order on the one stream. */
static it_result it__cu_node_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    m->tused = m->tnode = 0, m->n_memo = 0;
    return m->op_fwd[n->op](be, g, n);
}
static it_result it__cu_node_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cuda *m = IT__CU_M;
    m->tused = m->tnode = 0, m->n_memo = 0;
    return m->op_bwd[n->op](be, g, n);
}
static it_result it__cu_fill(it_backend *be, it_tensor *t, float value) {
    it__cuda *m = IT__CU_M;
    it__CUdeviceptr x;
    IT__CU_T(t, x);
    return it__cu_flat(m, IT__CUK_FILL, &x, 1, (unsigned)it_tensor_numel(t), value, 0);
}


/* >>cuda_step  begin_step records, end_step launches the step's graph, synchronize waits ------------ */
static it_result it__cu_begin_step(it_backend *be, it_run_mode mode) {
    it__cuda *m = IT__CU_M;
    m->run_mode = mode; /* the fused head + loss produces its input gradients in a forward + backward run */
    m->loss_grads_done = NULL;
    if (m->in_step) return IT_OK;
    if (m->pending) IT__CU_TRY(it__cu_synchronize(be)); /* one step in flight: temporaries are reused */
    m->in_step = 1;
    m->step_serial++;
    m->n_recs = 0;
    m->tused = m->tnode = m->tpeak = 0;
    m->hused = m->hpeak = 0;
    return IT_OK;
}
static it_result it__cu_end_step(it_backend *be) {
    it__cuda *m = IT__CU_M;
    it_result r;
    if (!m->in_step) return IT_OK;
    m->in_step = 0;
    m->stats.steps++;
    IT__CU_TRY(it__cu_flush(m)); /* what the host wrote, before the step reads it */
    r = it__cu_run_records(m);
    m->n_recs = 0;
    return r;
}
/* An update launched with its finiteness check on the GPU (clipping, no norm requested): the
   update kernels skipped themselves when the norm was not finite. The host learns it at the next
   wait, from the values copied back behind the update, and undoes the step count as the CPU path
   would (the Metal backend does the same). */
static it_result it__cu_optimizer_verdict(it__cuda *m) {
    struct it_optimizer *opt = m->opt_check;
    float norm = m->ohost[0];
    m->opt_check = NULL;
    if (!opt || (m->ohost[2] == 0.0f && isfinite(norm))) return IT_OK;
    opt->step--;
    return it_context_error(m->ctx, IT_ERR_RANGE,
                            "optimizer: gradient norm is %g (diverged); the update of step %d was skipped on the GPU "
                            "(parameters and state unchanged; reported at the next wait)", (double)norm, opt->step + 1);
}
static it_result it__cu_synchronize(it_backend *be) {
    it__cuda *m = IT__CU_M;
    it_result r = IT_OK;
    int i;
    if (m->in_step) r = it__cu_end_step(be);
    if (m->pending) {
        it_result r2 = it__cu_wait(m);
        if (r == IT_OK) r = r2;
    }
    if (m->opt_check) {
        it_result v = it__cu_optimizer_verdict(m);
        if (r == IT_OK) r = v;
    }
    if (m->n_retired_dev || m->n_retired_host) { /* the first step outgrew the temporaries: one buffer of the peak size */
        it__CUdeviceptr nd = 0;
        void *nh = NULL;
        for (i = 0; i < m->n_retired_dev; i++) it__cu_dev_free(m, m->retired_dev[i].p, m->retired_dev[i].size);
        for (i = 0; i < m->n_retired_host; i++) m->cu.MemFreeHost(m->retired_host[i]);
        if (m->n_retired_dev) { /* the old one goes first: the two together would be the peak */
            it__cu_dev_free(m, m->tdev, m->tcap);
            m->tdev = it__cu_dev_alloc(m, &nd, m->tpeak) ? nd : 0; /* (failing that, the next step grows one) */
            m->tcap = m->tdev ? m->tpeak : 0;
        }
        if (m->n_retired_host && m->cu.MemAllocHost(&nh, m->hpeak) == 0) {
            m->cu.MemFreeHost(m->thost);
            m->thost = (unsigned char *)nh;
            m->hcap = m->hpeak;
        }
        m->n_retired_dev = m->n_retired_host = 0;
        for (i = 0; i < IT__CU_GRAPHS; i++) it__cu_graph_drop(m, &m->graphs[i]); /* they name the old addresses */
    }
    return r;
}

/* >>cuda_optimizer  it_optimizer_step and it_zero_grads on the GPU ------------------------------------ */
static it_result it__cu_zero_grads(it_backend *be) {
    it__cuda *m = IT__CU_M;
    it__cu_record r;
    size_t n = it_grad_numel(m->ctx);
    if (!it_grad_block(m->ctx)) return IT_OK;
    memset(&r, 0, sizeof r);
    r.op = IT__CU_REC_MEMSET;
    IT__CU_TRY(it__cu_block(m, it_grad_block(m->ctx), "gradient", &r.c));
    r.count = n ? n : 1;
    it__cu_written(m, r.c);
    {   /* the host's pending writes to the gradients are moot: they are zero now */
        it__cu_buffer *b = it__cu_find(m, it_grad_block(m->ctx));
        if (b) b->n_dirty = 0;
    }
    return it__cu_record_add(m, &r);
}
/* The whole update launched without a wait: with clip_norm > 0 or grad_norm, a norm pass
   (shaders/grad_norm.metal) writes { norm, scale, skip } that the update kernels read on the
   device, so a non-finite norm leaves parameters and state untouched there. A requested
   grad_norm waits and reads it back before returning; with clipping alone the verdict comes with
   the next wait (the next run's loss read-back), so a training step waits once. */
static it_result it__cu_optimizer_step(it_backend *be, struct it_optimizer *opt, float lr, float grad_scale, float *grad_norm) {
    it__cuda *m = IT__CU_M;
    it_context *ctx = opt->ctx;
    const it_optimizer_desc *d = &opt->desc;
    size_t total = it_grad_numel(ctx); /* the gradient block; the state is laid out like it */
    it__CUdeviceptr P, G, S, gs, args[5];
    it_optimizer_args oa;
    float kscale = grad_scale;
    int i, n_params = it_param_count(ctx), norm_pass = grad_norm || d->clip_norm > 0.0f;
    if (m->opt_check) IT__CU_TRY(it__cu_synchronize(be)); /* the verdict on the previous update comes first */
    if (!it_param_block(ctx) || !it_grad_block(ctx) || !opt->state)
        return it_context_error(m->ctx, IT_ERR_STATE, "cuda: optimizer step before the parameter blocks exist");
    if (total > IT__CU_MAX_ELEMENTS) return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda: 2^31 or more parameters");
    if (d->kind != IT_OPTIMIZER_LION && d->kind != IT_OPTIMIZER_SGD && d->kind != IT_OPTIMIZER_ADAMW)
        return it_context_error(m->ctx, IT_ERR_INVALID_ARGUMENT, "cuda: unknown optimizer kind %d", (int)d->kind);
    IT__CU_TRY(it__cu_block(m, it_param_block(ctx), "parameter", &P));
    IT__CU_TRY(it__cu_block(m, it_grad_block(ctx), "gradient", &G));
    IT__CU_TRY(it__cu_block(m, opt->state, "optimizer state", &S));
    gs = m->obuf + IT__CU_OBUF_UNCLIPPED * sizeof(float);
    if (norm_pass) { /* partial sums of squares, then norm, clip scale and skip flag */
        it_grad_norm_args na;
        unsigned np = (unsigned)((total + 255) / 256);
        if (np > IT__CU_PARTIALS) np = IT__CU_PARTIALS;
        if (!np) np = 1;
        memset(&na, 0, sizeof na);
        na.n = (unsigned)total;
        na.n_partials = np;
        na.max_norm = d->clip_norm;
        na.extra_scale = grad_scale;
        args[0] = m->obuf + IT__CU_OBUF_PARTIALS * sizeof(float);
        args[1] = G;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_SUMSQ, args, 2, &na, sizeof na, it__cu_dim(np, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_SUMSQ, 256), 1, 1), 0));
        args[0] = m->obuf;
        args[1] = m->obuf + IT__CU_OBUF_PARTIALS * sizeof(float);
        IT__CU_TRY(it__cu_launch(m, IT__CUK_CLIP, args, 2, &na, sizeof na, it__cu_dim(1, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_CLIP, 256), 1, 1), 0));
        IT__CU_CALL(m, MemcpyDtoHAsync(m->ohost, m->obuf, 3 * sizeof(float), m->stream), "cuMemcpyDtoHAsync (norm)");
        gs = m->obuf + 1 * sizeof(float); /* grad_scale times the clip factor, and the skip flag */
        kscale = 1.0f;
    }
    memset(&oa, 0, sizeof oa);
    oa.step = opt->step;
    oa.lr = lr;
    oa.beta1 = d->beta1;
    oa.beta2 = d->beta2;
    oa.eps = d->eps;
    oa.grad_scale = kscale;
    oa.momentum = d->momentum;
    for (i = 0; i < n_params;) { /* runs of neighbouring trainable parameters with the same decay: one launch each */
        it_tensor *p = it_param_at(ctx, i);
        float wd = it_optimizer_param_decay(opt, p);
        size_t p0, p1, g0, off;
        int j = i + 1;
        if (!it_param_trainable(p)) { /* frozen: no gradient, no state, never updated */
            i++;
            continue;
        }
        it_tensor_block(p, &off);
        p0 = off / sizeof(float);
        p1 = p0 + it_tensor_numel(p);
        it_tensor_block(it_grad_tensor(p), &off);
        g0 = off / sizeof(float);
        /* a run stops at a frozen parameter: past it, gradient and parameter offsets differ */
        for (; j < n_params && it_param_trainable(it_param_at(ctx, j)); j++) {
            it_tensor *q = it_param_at(ctx, j);
            size_t qo;
            if (it_optimizer_param_decay(opt, q) != wd) break;
            it_tensor_block(q, &qo);
            /* the gap between parameters is alignment padding: zero, and zero under every update */
            if (qo / sizeof(float) < p1) break;
            p1 = qo / sizeof(float) + it_tensor_numel(q);
        }
        i = j;
        if (p1 <= p0) continue;
        oa.n = (unsigned)(p1 - p0);
        oa.wd = wd;
        args[0] = P + p0 * sizeof(float);
        args[1] = S + g0 * sizeof(float);
        if (d->kind == IT_OPTIMIZER_ADAMW) {
            args[2] = S + (total + g0) * sizeof(float);
            args[3] = G + g0 * sizeof(float);
            args[4] = gs;
            IT__CU_TRY(it__cu_launch(m, IT__CUK_ADAMW, args, 5, &oa, sizeof oa, it__cu_dim(oa.n, 1, 1),
                                     it__cu_dim(it__cu_tg(m, IT__CUK_ADAMW, 256), 1, 1), 1));
        } else {
            args[2] = G + g0 * sizeof(float);
            args[3] = gs;
            it__cu_kernel k = d->kind == IT_OPTIMIZER_LION ? IT__CUK_LION : IT__CUK_SGD;
            IT__CU_TRY(it__cu_launch(m, k, args, 4, &oa, sizeof oa, it__cu_dim(oa.n, 1, 1), it__cu_dim(it__cu_tg(m, k, 256), 1, 1), 1));
        }
    }
    if (!norm_pass) return IT_OK; /* launched, not waited on: a host read of the parameters copies them then */
    if (!grad_norm) {
        m->opt_check = opt;
        return IT_OK;
    }
    IT__CU_TRY(it__cu_wait(m));
    /* skipped on the GPU: the clip kernel stored +Inf as the norm with the skip flag */
    IT__CU_TRY(it_optimizer_check_norm(opt, (double)m->ohost[0]));
    *grad_norm = m->ohost[0];
    return IT_OK;
}

/* >>cuda_decoder  the KV-cache decoder on the GPU (it_decoder_* through the backend's hooks) ---------
   irontensor_metal.h's >>metal_decoder, launch for launch, on the same kernels (shaders/decode.metal,
   quant_matvec.metal, sample.metal through msl2cuda). One device block (cuMemAlloc) holds both
   caches [n_layers, max_seq, Hkv * D], the work rows for a prompt of max_seq tokens, the logits,
   the sampling scratch and the ids of every token in the cache; a pinned host block holds the ids
   on their way up and the logits and picked id on their way back. A call records the ids' upload,
   every layer (a prompt's rows through cuBLAS, one token's through matvec kernels), the last row's
   head and, for it_decoder_next, the pick (the repetition penalty over the cache's ids, then
   it_argmax_f32 or it_sample_f32 with the host's uniform draw); then it uploads what the host
   wrote (parameters after a load or a step's optimizer on the host), launches the records in
   order, queues the logits' and the id's copy back and waits once: a token costs one wait, greedy
   or sampled. A token's kernels run as one CUDA graph whose position-dependent nodes are updated
   in place (it__cu_decoder_graph_launch); with it_cuda_desc.no_decode_graphs they are launched one
   by one. f32 weights are read where the parameter
   block has them; bf16, Q8_0 and Q4_0 ones are the core's copies in a buffer of this backend
   (it_decoder_create_ex made them with buffer_create: uploaded by the first call's flush).
   ------------------------------------------------------------------------------------------------ */
typedef struct it__cu_decoder {
    it__cuda *m;
    const it_decoder *dec; /* the core's decoder: model, max_seq, the weight table */
    it_model *model;
    int max_seq;
    it__CUdeviceptr buf;
    size_t bytes;
    size_t kcache, vcache, x, h, q, att, f1, f2, xq, stat0, stat1, logits, probs, seen, ids, next; /* byte offsets in buf */
    unsigned char *host; /* pinned: ids [max_seq], then logits [vocab], then the picked id */
    size_t host_bytes, host_logits, host_next;
    /* a token's kernels as one CUDA graph (it__cu_decoder_graph_launch): its nodes in launch
       order and the records they were last set from */
    it__CUgraph graph;
    it__CUgraphExec exec;
    it__CUgraphNode *nodes;
    it__cu_record *grecs;
    int n_nodes, cap_nodes, cap_grecs;
} it__cu_decoder;
/* The device address of `bytes` at the host pointer p, which must lie inside one of our buffers
   (the core's quantised copies). */
static it_result it__cu_decoder_locate(it__cuda *m, const void *p, size_t bytes, const it_tensor *param, it__CUdeviceptr *out) {
    it__cu_buffer *b = it__cu_find(m, p);
    if (!b || (size_t)((const unsigned char *)p - b->host) + bytes > b->size)
        return it_context_error(m->ctx, IT_ERR_STATE, "cuda decoder: the copy of '%s' is not inside one CUDA buffer (was the "
                                "decoder made before the backend was switched on?)", it_tensor_name((it_tensor *)param));
    *out = b->dev + (size_t)((const unsigned char *)p - b->host);
    return IT_OK;
}
/* a projection's weights on the device: the f32 parameter, or the core's copy */
static it_result it__cu_decoder_weight(it__cuda *m, const it_decoder_weight *w, it__CUdeviceptr *out) {
    if (w->type == IT_WEIGHT_F32) return it__cu_t(m, w->param, out);
    return it__cu_decoder_locate(m, w->data, it_weight_bytes(w->type, (size_t)w->rows, (size_t)w->cols), w->param, out);
}
/* The rows x [n, in] as int8 blocks in the xq rows for the Q8_0 / Q4_0 projection w that reads
   them next (nothing for f32 and bf16): it__decoder_quantize_acts on the GPU. */
static it_result it__cu_decoder_quantize_acts(it__cu_decoder *d, it__CUdeviceptr x, const it_decoder_weight *w, int n) {
    it__CUdeviceptr a[2];
    it_matvec_args p;
    unsigned blocks = (unsigned)(n * (w->cols / IT_QBLOCK));
    if (w->type != IT_WEIGHT_Q8_0 && w->type != IT_WEIGHT_Q4_0) return IT_OK;
    memset(&p, 0, sizeof p);
    p.rows = (unsigned)n;
    p.cols = (unsigned)w->cols;
    a[0] = d->buf + d->xq, a[1] = x;
    return it__cu_launch(d->m, IT__CUK_QUANTIZE_ACTS, a, 2, &p, sizeof p, it__cu_dim((blocks + 7) / 8, 1, 1), it__cu_dim(256, 1, 1), 0);
}
/* y [n, out] (+)= x [n, in] W^T + b for the projection w (it_decoder_projection: [out, in] = rows x
   cols). f32: the parameter, [out, in] for Llama and every head, [in, out] for GPT-2's
   projections; one row through matvec / vecmat, more through cuBLAS (fp32, whatever the context's
   compute dtype: the decoder is fp32, as on the CPU and Metal). bf16, Q8_0, Q4_0: the core's
   [out, in] copy, a warp per output row and grid y over the n rows (Q8_0 / Q4_0 read the xq rows
   it__cu_decoder_quantize_acts filled from x). */
static it_result it__cu_decoder_linear(it__cu_decoder *d, it__CUdeviceptr y, it__CUdeviceptr x, const it_decoder_weight *w, it_tensor *b,
                                       int n, int accumulate) {
    it__cuda *m = d->m;
    it__CUdeviceptr W, B, a[4];
    it_matvec_args p;
    int out_major = d->model->config.arch == IT_ARCH_LLAMA || w->param == d->model->head;
    int quantised = w->type == IT_WEIGHT_Q8_0 || w->type == IT_WEIGHT_Q4_0;
    IT__CU_TRY(it__cu_decoder_weight(m, w, &W));
    if (b) IT__CU_TRY(it__cu_t(m, b, &B));
    else B = W; /* bound, unused */
    memset(&p, 0, sizeof p);
    p.accumulate = (unsigned)accumulate;
    p.has_bias = b != NULL;
    a[0] = y, a[1] = W, a[2] = quantised ? d->buf + d->xq : x, a[3] = B;
    if (w->type != IT_WEIGHT_F32) {
        it__cu_kernel k = w->type == IT_WEIGHT_Q8_0 ? IT__CUK_MATVEC_Q8_0 : w->type == IT_WEIGHT_Q4_0 ? IT__CUK_MATVEC_Q4_0
                          : IT__CUK_MATVEC_BF16;
        if (w->type != IT_WEIGHT_BF16 && !quantised)
            return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda decoder: %s weights of '%s' have no kernel",
                                    it_weight_type_name(w->type), it_tensor_name(w->param));
        p.rows = (unsigned)w->rows;
        p.cols = (unsigned)w->cols;
        return it__cu_launch(m, k, a, 4, &p, sizeof p, it__cu_dim((p.rows + 7) / 8, (unsigned)n, 1), it__cu_dim(256, 1, 1), 0);
    }
    if (n > 1) {
        IT__CU_TRY(it__cu_gemm(m, y, x, W, n, w->rows, w->cols, 0, out_major, accumulate, 1, 0, 0, 0));
        if (!b) return IT_OK;
        a[0] = y, a[1] = y, a[2] = B; /* y += b over the rows */
        return it__cu_flat(m, IT__CUK_ADD, a, 3, (size_t)n * (size_t)w->rows, 0.0f, (size_t)w->rows);
    }
    p.rows = (unsigned)it_tensor_dim(w->param, 0); /* the parameter's own layout */
    p.cols = (unsigned)it_tensor_dim(w->param, 1);
    if (out_major) /* a warp per row, 8 rows per block */
        return it__cu_launch(m, IT__CUK_MATVEC, a, 4, &p, sizeof p, it__cu_dim((p.rows + 7) / 8, 1, 1), it__cu_dim(256, 1, 1), 0);
    return it__cu_launch(m, IT__CUK_VECMAT, a, 4, &p, sizeof p, it__cu_dim(p.cols, 1, 1),
                         it__cu_dim(it__cu_tg(m, IT__CUK_VECMAT, 256), 1, 1), 1);
}
/* out [N, C] = norm(x) w (+ b): RMSNorm (Llama) or LayerNorm (GPT-2), the training kernels */
static it_result it__cu_decoder_norm_rows(it__cu_decoder *d, int rms, it__CUdeviceptr out, it__CUdeviceptr x, it_tensor *w,
                                          it_tensor *b, unsigned N, unsigned C, float eps) {
    it__cuda *m = d->m;
    it__CUdeviceptr a[6], W, B;
    it_norm_args p;
    it__cu_kernel k = rms ? IT__CUK_RMSNORM : IT__CUK_LAYERNORM;
    IT__CU_TRY(it__cu_t(m, w, &W));
    if (b) IT__CU_TRY(it__cu_t(m, b, &B));
    else B = W; /* bound, unused */
    memset(&p, 0, sizeof p);
    p.N = N;
    p.C = C;
    p.eps = eps;
    p.has_bias = b != NULL;
    a[0] = out, a[1] = d->buf + d->stat0;
    if (rms) a[2] = x, a[3] = W;
    else a[2] = d->buf + d->stat1, a[3] = x, a[4] = W, a[5] = B;
    return it__cu_launch(m, k, a, rms ? 4 : 6, &p, sizeof p, it__cu_dim(N, 1, 1), it__cu_dim(it__cu_tg(m, k, C < 256 ? C : 256), 1, 1), 0);
}
/* rows [T, H, D] rotated in place at positions pos .. pos + T - 1 */
static it_result it__cu_decoder_rope(it__cu_decoder *d, it__CUdeviceptr rows, unsigned T, unsigned H, int pos) {
    const it_model_config *c = &d->model->config;
    it__CUdeviceptr a[2];
    it_rope_args p;
    memset(&p, 0, sizeof p);
    p.kind = (unsigned)c->rope_scaling.kind;
    p.factor = c->rope_scaling.factor;
    p.low_freq_factor = c->rope_scaling.low_freq_factor;
    p.high_freq_factor = c->rope_scaling.high_freq_factor;
    p.original_max_positions = c->rope_scaling.original_max_positions;
    p.B = 1;
    p.T = T;
    p.H = H;
    p.D = (unsigned)it_model_head_dim(c);
    p.theta = c->rope_theta;
    p.pos_offset = pos;
    a[0] = rows, a[1] = rows;
    return it__cu_launch(d->m, IT__CUK_ROPE, a, 2, &p, sizeof p, it__cu_dim(p.D / 2, p.H, p.T), it__cu_dim(p.D / 2 < 32 ? p.D / 2 : 32, 4, 1), 1);
}
/* The pick after the head (it_decoder_pick): the repetition penalty over ids [0, n_ids) in place,
   then the argmax or the draw into next. */
static it_result it__cu_decoder_pick(it__cu_decoder *d, int n_ids, const it_decoder_pick *pick) {
    it__cuda *m = d->m;
    it_sample_args sp;
    it__CUdeviceptr a[3];
    memset(&sp, 0, sizeof sp);
    sp.V = (unsigned)d->model->config.vocab_size;
    sp.n_ids = (unsigned)n_ids;
    sp.penalty = pick->repetition_penalty;
    sp.temperature = pick->sampling.temperature;
    sp.top_k = pick->sampling.top_k > 0 ? (unsigned)pick->sampling.top_k : 0u;
    sp.top_p = pick->sampling.top_p;
    sp.min_p = pick->sampling.min_p;
    sp.coin = pick->coin;
    if (sp.penalty != 1.0f) {
        a[0] = d->buf + d->logits, a[1] = d->buf + d->ids, a[2] = d->buf + d->seen;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_REPETITION_PENALTY, a, 3, &sp, sizeof sp, it__cu_dim(1, 1, 1),
                                 it__cu_dim(it__cu_tg(m, IT__CUK_REPETITION_PENALTY, 1024), 1, 1), 0));
    }
    a[0] = d->buf + d->next, a[1] = d->buf + d->logits;
    if (sp.temperature <= 0.0f) {
        it_matvec_args gp;
        memset(&gp, 0, sizeof gp);
        gp.cols = sp.V;
        return it__cu_launch(m, IT__CUK_ARGMAX, a, 2, &gp, sizeof gp, it__cu_dim(1, 1, 1), it__cu_dim(it__cu_tg(m, IT__CUK_ARGMAX, 1024), 1, 1), 0);
    }
    a[2] = d->buf + d->probs;
    return it__cu_launch(m, IT__CUK_SAMPLE, a, 3, &sp, sizeof sp, it__cu_dim(1, 1, 1), it__cu_dim(it__cu_tg(m, IT__CUK_SAMPLE, 1024), 1, 1), 0);
}
/* Every record of one call: the ids' upload, the layers, the head, the pick. */
static it_result it__cu_decoder_encode(it__cu_decoder *d, int n, int pos, const it_decoder_pick *pick) {
    it__cuda *m = d->m;
    it_model *md = d->model;
    const it_model_config *c = &md->config;
    int llama = c->arch == IT_ARCH_LLAMA, hd = it_model_head_dim(c), l;
    size_t C = (size_t)c->dim, KV = (size_t)hd * c->n_kv_heads, S = (size_t)d->max_seq, F = (size_t)c->ffn_dim;
    it__CUdeviceptr x = d->buf + d->x, h = d->buf + d->h, q = d->buf + d->q, att = d->buf + d->att;
    it__CUdeviceptr f1 = d->buf + d->f1, f2 = d->buf + d->f2, t, a[4];
    it_decode_attention_args ap;
    it_embedding_args ep;
    it__cu_record up;
    unsigned tx;
    it_decoder_weight head = it_decoder_projection(d->dec, -1, 0);
    memset(&up, 0, sizeof up); /* the ids of this call, into the cache's ids */
    up.op = IT__CU_REC_UPLOAD;
    up.c = d->buf + d->ids + (size_t)pos * sizeof(int32_t);
    up.src = d->host + (size_t)pos * sizeof(int32_t);
    up.count = (size_t)n * sizeof(int32_t);
    IT__CU_TRY(it__cu_record_add(m, &up));
    memset(&ep, 0, sizeof ep);
    ep.N = (unsigned)n;
    ep.C = (unsigned)C;
    ep.V = (unsigned)c->vocab_size;
    IT__CU_TRY(it__cu_t(m, md->embed, &t));
    a[0] = x, a[1] = up.c, a[2] = t;
    tx = it__cu_tg(m, IT__CUK_EMBED, 64);
    IT__CU_TRY(it__cu_launch(m, IT__CUK_EMBED, a, 3, &ep, sizeof ep, it__cu_dim(ep.C, ep.N, 1),
                             it__cu_dim(tx, m->max_threads[IT__CUK_EMBED] / tx >= 4 ? 4 : 1, 1), 1));
    if (!llama) { /* + the learned positions pos .. pos + n - 1 */
        IT__CU_TRY(it__cu_t(m, md->pos_embed, &t));
        a[0] = x, a[1] = x, a[2] = t + (size_t)pos * C * sizeof(float);
        IT__CU_TRY(it__cu_flat(m, IT__CUK_ADD, a, 3, (size_t)n * C, 0.0f, (size_t)n * C));
    }
    memset(&ap, 0, sizeof ap);
    ap.n = (unsigned)n;
    ap.p0 = (unsigned)pos;
    ap.Hq = (unsigned)c->n_heads;
    ap.Hkv = (unsigned)c->n_kv_heads;
    ap.D = (unsigned)hd;
    ap.window = c->sliding_window > 0 ? (unsigned)c->sliding_window : 0u;
    ap.scale = 1.0f / sqrtf((float)hd);
    for (l = 0; l < c->n_layers; l++) {
        it_tensor **p = md->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
        size_t layer = (size_t)l * S * KV * sizeof(float), here = (size_t)pos * KV * sizeof(float);
        it__CUdeviceptr kc = d->buf + d->kcache + layer, vc = d->buf + d->vcache + layer, kn = kc + here, vn = vc + here;
        it_decoder_weight wq = it_decoder_projection(d->dec, l, IT_LP_Q), wk = it_decoder_projection(d->dec, l, IT_LP_K);
        it_decoder_weight wv = it_decoder_projection(d->dec, l, IT_LP_V), wo = it_decoder_projection(d->dec, l, IT_LP_O);
        it_decoder_weight wg = it_decoder_projection(d->dec, l, IT_LP_GATE), wu = it_decoder_projection(d->dec, l, IT_LP_UP);
        it_decoder_weight wd = it_decoder_projection(d->dec, l, IT_LP_DOWN);
        IT__CU_TRY(it__cu_decoder_norm_rows(d, llama, h, x, p[IT_LP_ATTN_NORM], p[IT_LP_ATTN_NORM_B], (unsigned)n, (unsigned)C, c->norm_eps));
        IT__CU_TRY(it__cu_decoder_quantize_acts(d, h, &wq, n)); /* once for q, k and v */
        IT__CU_TRY(it__cu_decoder_linear(d, q, h, &wq, p[IT_LP_Q_B], n, 0));
        IT__CU_TRY(it__cu_decoder_linear(d, kn, h, &wk, p[IT_LP_K_B], n, 0)); /* straight into the cache */
        IT__CU_TRY(it__cu_decoder_linear(d, vn, h, &wv, p[IT_LP_V_B], n, 0));
        if (c->qk_norm) { /* per head: rows of hd values, in place */
            IT__CU_TRY(it__cu_decoder_norm_rows(d, 1, q, q, p[IT_LP_Q_NORM], NULL, (unsigned)(n * c->n_heads), (unsigned)hd, c->norm_eps));
            IT__CU_TRY(it__cu_decoder_norm_rows(d, 1, kn, kn, p[IT_LP_K_NORM], NULL, (unsigned)(n * c->n_kv_heads), (unsigned)hd,
                                                c->norm_eps));
        }
        if (llama) {
            IT__CU_TRY(it__cu_decoder_rope(d, q, (unsigned)n, (unsigned)c->n_heads, pos));
            IT__CU_TRY(it__cu_decoder_rope(d, kn, (unsigned)n, (unsigned)c->n_kv_heads, pos));
        }
        a[0] = att, a[1] = q, a[2] = kc, a[3] = vc;
        IT__CU_TRY(it__cu_launch(m, IT__CUK_ATTN_DECODE, a, 4, &ap, sizeof ap, it__cu_dim(ap.Hq, ap.n, 1), it__cu_dim(128, 1, 1), 0));
        IT__CU_TRY(it__cu_decoder_quantize_acts(d, att, &wo, n));
        IT__CU_TRY(it__cu_decoder_linear(d, x, att, &wo, p[IT_LP_O_B], n, 1)); /* x += attention out */
        IT__CU_TRY(it__cu_decoder_norm_rows(d, llama, h, x, p[IT_LP_MLP_NORM], p[IT_LP_MLP_NORM_B], (unsigned)n, (unsigned)C, c->norm_eps));
        IT__CU_TRY(it__cu_decoder_quantize_acts(d, h, &wu, n)); /* once for gate and up */
        if (llama) {
            IT__CU_TRY(it__cu_decoder_linear(d, f1, h, &wg, p[IT_LP_GATE_B], n, 0));
            IT__CU_TRY(it__cu_decoder_linear(d, f2, h, &wu, p[IT_LP_UP_B], n, 0));
            a[0] = f1, a[1] = f1, a[2] = f2;
            IT__CU_TRY(it__cu_flat(m, IT__CUK_SWIGLU, a, 3, (size_t)n * F, 0.0f, 0));
        } else {
            IT__CU_TRY(it__cu_decoder_linear(d, f2, h, &wu, p[IT_LP_UP_B], n, 0));
            a[0] = f1, a[1] = f2;
            IT__CU_TRY(it__cu_flat(m, IT__CUK_GELU, a, 2, (size_t)n * F, 0.0f, 0));
        }
        IT__CU_TRY(it__cu_decoder_quantize_acts(d, f1, &wd, n));
        IT__CU_TRY(it__cu_decoder_linear(d, x, f1, &wd, p[IT_LP_DOWN_B], n, 1)); /* x += mlp out */
    }
    x += (size_t)(n - 1) * C * sizeof(float); /* the last row through the head */
    IT__CU_TRY(it__cu_decoder_norm_rows(d, llama, h, x, md->final_norm, md->final_norm_bias, 1, (unsigned)C, c->norm_eps));
    IT__CU_TRY(it__cu_decoder_quantize_acts(d, h, &head, 1));
    IT__CU_TRY(it__cu_decoder_linear(d, d->buf + d->logits, h, &head, NULL, 1, 0));
    return pick ? it__cu_decoder_pick(d, pos + n, pick) : IT_OK;
}
/* A token's kernels as one CUDA graph, built node by node (cuGraphAddKernelNode, each after the
   one before) the first time; every later token has the same kernels, grids and blocks, and only
   the nodes whose arguments changed (the position, the cache row) are set anew in the
   instantiated graph (cuGraphExecKernelNodeSetParams) before its launch. A stream capture per
   token would cost what the launches cost; this costs one graph launch and a few node updates. */
static int it__cu_same_kernel_shape(const it__cu_record *a, const it__cu_record *b) {
    return a->op == IT__CU_REC_KERNEL && b->op == IT__CU_REC_KERNEL && a->kernel == b->kernel && a->n_args == b->n_args &&
           !memcmp(a->grid, b->grid, sizeof a->grid) && !memcmp(a->block, b->block, sizeof a->block) &&
           !memcmp(a->offset, b->offset, sizeof a->offset);
}
static void it__cu_kernel_node(it__cuda *m, const it__cu_record *r, void **params, it__CUkernelNodeParams *kp) {
    int i;
    memset(kp, 0, sizeof *kp);
    for (i = 0; i < r->n_args; i++) params[i] = (void *)(r->arg.b + r->offset[i]);
    kp->func = m->fn[r->kernel];
    kp->grid_x = r->grid[0], kp->grid_y = r->grid[1], kp->grid_z = r->grid[2];
    kp->block_x = r->block[0], kp->block_y = r->block[1], kp->block_z = r->block[2];
    kp->params = params;
}
static void it__cu_decoder_graph_drop(it__cuda *m, it__cu_decoder *d) {
    if (d->exec) m->cu.GraphExecDestroy(d->exec);
    if (d->graph) m->cu.GraphDestroy(d->graph);
    d->exec = NULL;
    d->graph = NULL;
    d->n_nodes = 0;
}
static it_result it__cu_decoder_graph_launch(it__cuda *m, it__cu_decoder *d, const it__cu_record *recs, int n) {
    void *params[IT_CUDA_MAX_BINDS + 2];
    it__CUkernelNodeParams kp;
    int i, same = d->exec && d->n_nodes == n;
    it_result r = IT_OK;
    for (i = 0; same && i < n; i++) same = it__cu_same_kernel_shape(&d->grecs[i], &recs[i]);
    if (same) {
        for (i = 0; i < n && r == IT_OK; i++)
            if (memcmp(d->grecs[i].arg.b, recs[i].arg.b, sizeof recs[i].arg.b) != 0) {
                it__cu_kernel_node(m, &recs[i], params, &kp);
                r = it__cu_check(m, m->cu.GraphExecKernelNodeSetParams(d->exec, d->nodes[i], &kp), "cuGraphExecKernelNodeSetParams");
                d->grecs[i] = recs[i];
            }
    } else {
        it__cu_decoder_graph_drop(m, d);
        if (it_context_grow(m->ctx, (void **)&d->nodes, &d->cap_nodes, n, sizeof *d->nodes) != IT_OK ||
            it_context_grow(m->ctx, (void **)&d->grecs, &d->cap_grecs, n, sizeof *d->grecs) != IT_OK)
            return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda decoder: out of memory");
        r = it__cu_check(m, m->cu.GraphCreate(&d->graph, 0), "cuGraphCreate");
        for (i = 0; i < n && r == IT_OK; i++) {
            it__cu_kernel_node(m, &recs[i], params, &kp);
            r = it__cu_check(m, m->cu.GraphAddKernelNode(&d->nodes[i], d->graph, i ? &d->nodes[i - 1] : NULL, i ? 1u : 0u, &kp),
                             it__cu_kernel_names[recs[i].kernel]);
        }
        if (r == IT_OK) r = it__cu_check(m, m->cu.GraphInstantiate(&d->exec, d->graph, 0), "cuGraphInstantiate (the decoder's)");
        if (r == IT_OK) {
            memcpy(d->grecs, recs, (size_t)n * sizeof *recs);
            d->n_nodes = n;
            m->stats.graph_captures++;
        }
    }
    if (r != IT_OK) { /* a graph in an unknown state is not launched again */
        it__cu_decoder_graph_drop(m, d);
        return r;
    }
    m->stats.graph_launches++;
    return it__cu_check(m, m->cu.GraphLaunch(d->exec, m->stream), "cuGraphLaunch (the decoder's)");
}
static it_result it__cu_decoder_feed(it_backend *be, void *state, const int32_t *tokens, int n, int pos,
                                     const it_decoder_pick *pick, const float **logits, int32_t *next) {
    it__cuda *m = IT__CU_M;
    it__cu_decoder *d = (it__cu_decoder *)state;
    size_t V = (size_t)d->model->config.vocab_size;
    it_result r, r2;
    int i, graph;
    IT__CU_TRY(it__cu_synchronize(be)); /* a step or update in flight ends first (and reports its error) */
    memcpy(d->host + (size_t)pos * sizeof(int32_t), tokens, (size_t)n * sizeof(int32_t));
    m->in_step = 1; /* record, so that nothing of a call that fails to encode runs */
    m->n_recs = 0;
    r = it__cu_decoder_encode(d, n, pos, pick);
    m->in_step = 0;
    if (r == IT_OK) r = it__cu_flush(m); /* what the host wrote (weights, a loaded checkpoint) goes first */
    m->pending = 1;
    graph = m->decode_graphs && !m->profile && n == 1 && m->n_recs > 1 && m->recs[0].op == IT__CU_REC_UPLOAD;
    for (i = 1; graph && i < m->n_recs; i++) graph = m->recs[i].op == IT__CU_REC_KERNEL;
    if (r == IT_OK && m->profile) r = it__cu_profile_records(m);
    else if (r == IT_OK && graph) { /* a token: its id goes up, then its kernels as one graph */
        r = it__cu_exec(m, &m->recs[0]);
        if (r == IT_OK) r = it__cu_decoder_graph_launch(m, d, m->recs + 1, m->n_recs - 1);
    } else /* a prompt (cuBLAS products), or without graphs: every record launched */
        for (i = 0; i < m->n_recs && r == IT_OK; i++) r = it__cu_exec(m, &m->recs[i]);
    m->n_recs = 0;
    if (r == IT_OK)
        r = it__cu_check(m, m->cu.MemcpyDtoHAsync(d->host + d->host_logits, d->buf + d->logits, V * sizeof(float), m->stream),
                         "cuMemcpyDtoHAsync (the logits)");
    if (r == IT_OK && pick)
        r = it__cu_check(m, m->cu.MemcpyDtoHAsync(d->host + d->host_next, d->buf + d->next, sizeof(int32_t), m->stream),
                         "cuMemcpyDtoHAsync (the picked id)");
    r2 = it__cu_wait(m); /* the one wait (also after a failed launch: nothing of this call stays in flight) */
    if (r == IT_OK) r = r2;
    if (r != IT_OK) return r;
    m->stats.downloads++;
    m->stats.download_bytes += V * sizeof(float) + (pick ? sizeof(int32_t) : 0);
    *logits = (const float *)(const void *)(d->host + d->host_logits);
    if (pick) memcpy(next, d->host + d->host_next, sizeof *next);
    return IT_OK;
}
static void it__cu_decoder_destroy(it_backend *be, void *state) {
    it__cuda *m = IT__CU_M;
    it__cu_decoder *d = (it__cu_decoder *)state;
    if (!d) return;
    it__cu_synchronize(be); /* nothing in flight may still use its blocks */
    it__cu_decoder_graph_drop(m, d);
    it_context_free(m->ctx, d->nodes);
    it_context_free(m->ctx, d->grecs);
    it__cu_dev_free(m, d->buf, d->bytes);
    if (d->host) m->cu.MemFreeHost(d->host);
    it_context_free(m->ctx, d);
}
static it_result it__cu_decoder_create(it_backend *be, const it_decoder *dec, void **state) {
    static const it__cu_kernel needs_256[] = {IT__CUK_MATVEC, IT__CUK_QUANTIZE_ACTS, IT__CUK_MATVEC_Q8_0, IT__CUK_MATVEC_Q4_0,
                                              IT__CUK_MATVEC_BF16};
    it__cuda *m = IT__CU_M;
    it_model *md = it_decoder_model(dec);
    const it_model_config *c = &md->config;
    size_t S = (size_t)it_decoder_max_seq(dec), C = (size_t)c->dim, hd = (size_t)it_model_head_dim(c), Q = hd * (size_t)c->n_heads;
    size_t KV = hd * (size_t)c->n_kv_heads, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size, off = 0, cache = (size_t)c->n_layers * S * KV;
    size_t widest = C > Q ? (C > F ? C : F) : (Q > F ? Q : F), k;
    it__cu_decoder *d;
    int l, slot;
    *state = NULL;
    if (md->lora)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda decoder: a LoRA adapter is attached; merge it first "
                                "(it_lora_merge) or decode on the CPU backend");
    if (hd > IT_ATTN_MAX_D)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda decoder: head dim %zu is above %d", hd, IT_ATTN_MAX_D);
    if (cache > IT__CU_MAX_ELEMENTS || S * (F > Q ? (F > C ? F : C) : (Q > C ? Q : C)) > IT__CU_MAX_ELEMENTS)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda decoder: a KV cache of %zu floats or work rows of %zu x %zu "
                                "(2^31 or more) are over the kernels' 32-bit indices", cache, S, widest);
    if (m->max_threads[IT__CUK_ATTN_DECODE] < 128)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda decoder: it_attention_decode_f32 allows %d threads per block, it needs 128",
                                m->max_threads[IT__CUK_ATTN_DECODE]);
    for (k = 0; k < sizeof needs_256 / sizeof needs_256[0]; k++)
        if (m->max_threads[needs_256[k]] < 256)
            return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "cuda decoder: %s allows %d threads per block, it needs 256",
                                    it__cu_kernel_names[needs_256[k]], m->max_threads[needs_256[k]]);
    for (l = -1; l < c->n_layers; l++) /* every weight is on the device now: a late backend switch is an error here, not mid-decode */
        for (slot = 0; slot < (l < 0 ? 1 : IT_MODEL_LAYER_PARAMS); slot++) {
            it_decoder_weight w = it_decoder_projection(dec, l, slot);
            it__CUdeviceptr p;
            if (w.type) IT__CU_TRY(it__cu_decoder_weight(m, &w, &p));
        }
    d = (it__cu_decoder *)it_context_alloc(m->ctx, sizeof *d);
    if (!d) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda decoder: out of memory");
    memset(d, 0, sizeof *d);
    d->m = m;
    d->dec = dec;
    d->model = md;
    d->max_seq = it_decoder_max_seq(dec);
#define IT__CU_DEC_TAKE(field, floats) (d->field = off, off += ((size_t)(floats) * sizeof(float) + 255) / 256 * 256)
    IT__CU_DEC_TAKE(kcache, cache);
    IT__CU_DEC_TAKE(vcache, cache);
    IT__CU_DEC_TAKE(x, S * C);
    IT__CU_DEC_TAKE(h, S * C);
    IT__CU_DEC_TAKE(q, S * Q);
    IT__CU_DEC_TAKE(att, S * Q);
    IT__CU_DEC_TAKE(f1, S * F);
    IT__CU_DEC_TAKE(f2, S * F);
    IT__CU_DEC_TAKE(xq, S * (widest / IT_QBLOCK) * IT_QACT_BYTES / sizeof(float)); /* IT_QACT_BYTES: a multiple of 4 */
    IT__CU_DEC_TAKE(stat0, S * (size_t)c->n_heads);
    IT__CU_DEC_TAKE(stat1, S);
    IT__CU_DEC_TAKE(logits, V);
    IT__CU_DEC_TAKE(probs, V);
    IT__CU_DEC_TAKE(seen, V); /* uints, all zero between calls */
    IT__CU_DEC_TAKE(ids, S);
    IT__CU_DEC_TAKE(next, 1);
#undef IT__CU_DEC_TAKE
    d->bytes = off;
    d->host_logits = (S * sizeof(int32_t) + 15) & ~(size_t)15;
    d->host_next = d->host_logits + V * sizeof(float);
    d->host_bytes = d->host_next + sizeof(int32_t);
    if (!it__cu_dev_alloc(m, &d->buf, d->bytes)) {
        it_context_free(m->ctx, d);
        return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda decoder: cannot allocate %zu bytes of device memory", off);
    }
    if (m->cu.MemAllocHost((void **)(void *)&d->host, d->host_bytes) != 0) {
        it__cu_dev_free(m, d->buf, d->bytes);
        it_context_free(m->ctx, d);
        return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda decoder: cannot allocate %zu pinned bytes", d->host_bytes);
    }
    memset(d->host, 0, d->host_bytes);
    if (m->cu.MemsetD32Async(d->buf, 0, d->bytes / 4, m->stream) != 0) { /* queued: the first call's wait sees a failure */
        it__cu_decoder_destroy(be, d);
        return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda decoder: cuMemsetD32Async of its block failed");
    }
    m->pending = 1;
    *state = d;
    return IT_OK;
}

/* >>cuda_create  libraries, device, kernels ---------------------------------------------------------- */
static void it__cu_destroy(it_backend *be) {
    it__cuda *m = IT__CU_M;
    int i;
    if (m->stream) it__cu_synchronize(be);
    if (m->profile) it__cu_profile_log(m);
    for (i = 0; i < m->n_events; i++) m->cu.EventDestroy(m->events[i]);
    it_context_free(m->ctx, m->events);
    for (i = 0; i < IT__CU_GRAPHS; i++) it__cu_graph_drop(m, &m->graphs[i]);
    if (m->cu.MemFree) {
        for (i = 0; i < m->n_bufs; i++) { /* blocks the context did not free */
            it__cu_dev_free(m, m->bufs[i].dev, m->bufs[i].size);
            if (m->bufs[i].bf16) it__cu_dev_free(m, m->bufs[i].bf16, m->bufs[i].size / 2 + 16);
            m->cu.MemFreeHost(m->bufs[i].host);
        }
        it__cu_dev_free(m, m->tdev, m->tcap);
        if (m->thost) m->cu.MemFreeHost(m->thost);
        it__cu_dev_free(m, m->obuf, IT__CU_OBUF_FLOATS * sizeof(float));
        if (m->ohost) m->cu.MemFreeHost(m->ohost);
        it__cu_dev_free(m, m->workspace, IT__CU_WORKSPACE);
    }
    if (m->cublas) m->blas.Destroy(m->cublas);
    if (m->module) m->cu.ModuleUnload(m->module);
    if (m->stream) m->cu.StreamDestroy(m->stream);
    if (m->cuctx) m->cu.PrimaryCtxRelease(m->dev);
    if (m->lib_cublas) dlclose(m->lib_cublas);
    if (m->lib_nvrtc) dlclose(m->lib_nvrtc);
    if (m->lib_cuda) dlclose(m->lib_cuda);
    it_context_free(m->ctx, m->bufs);
    it_context_free(m->ctx, m->recs);
    it_context_free(m->ctx, m->retired_dev);
    it_context_free(m->ctx, m->retired_host);
    it_context_free(m->ctx, m);
}
/* dlopen the first name that loads, then every symbol of the table (named in the error) */
static it_result it__cu_load(it__cuda *m, void **lib, const char *const *names, int n_names, const char *what, void **fns,
                             const char *const *syms, int n_syms) {
    int i;
    if (names[0]) n_names = 1; /* the caller's library, and no other */
    for (i = 0; i < n_names && !*lib; i++)
        if (names[i]) *lib = dlopen(names[i][0] ? names[i] : NULL, RTLD_NOW | RTLD_LOCAL); /* "": this program */
    if (!*lib)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: cannot load %s (%s): %s", what,
                                names[0] ? names[0] : names[1], dlerror());
    for (i = 0; i < n_syms; i++) {
        void *f = dlsym(*lib, syms[i]);
        if (!f)
            return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: %s has no %s (too old?)", what,
                                    syms[i]);
        memcpy(&fns[i], &f, sizeof f); /* object pointer to function pointer, the POSIX dlsym way */
    }
    return IT_OK;
}
static it_result it__cu_setup(it__cuda *m, const it_cuda_desc *desc) {
#define IT__CU_SYM(f, sym, R, P) sym,
    static const char *const cu_syms[] = {IT__CU_DRIVER(IT__CU_SYM)};
    static const char *const rtc_syms[] = {IT__CU_NVRTC(IT__CU_SYM)};
    static const char *const blas_syms[] = {IT__CU_CUBLAS(IT__CU_SYM)};
#undef IT__CU_SYM
    const char *cu_names[2], *rtc_names[5], *blas_names[5];
    char arch[64], *src, *log = NULL, *cubin = NULL;
    const char *opts[4];
    it__nvrtcProgram prog = NULL;
    size_t len = 0, total = 0, i;
    int count = 0, k, rc;
    cu_names[0] = desc ? desc->libcuda : NULL, cu_names[1] = "libcuda.so.1";
    rtc_names[0] = desc ? desc->libnvrtc : NULL, rtc_names[1] = "libnvrtc.so.13", rtc_names[2] = "libnvrtc.so.12";
    rtc_names[3] = "libnvrtc.so", rtc_names[4] = "/usr/local/cuda/lib64/libnvrtc.so";
    blas_names[0] = desc ? desc->libcublas : NULL, blas_names[1] = "libcublas.so.13", blas_names[2] = "libcublas.so.12";
    blas_names[3] = "libcublas.so", blas_names[4] = "/usr/local/cuda/lib64/libcublas.so";
    IT__CU_TRY(it__cu_load(m, &m->lib_cuda, cu_names, 2, "the CUDA driver", (void **)(void *)&m->cu, cu_syms,
                           (int)(sizeof cu_syms / sizeof cu_syms[0])));
    if (m->cu.Init(0) != 0 || m->cu.DeviceGetCount(&count) != 0 || count == 0)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: the driver found no GPU");
    k = desc ? desc->device_index : 0;
    if (k < 0 || k >= count)
        return it_context_error(m->ctx, IT_ERR_INVALID_ARGUMENT, "cuda: device_index %d: there are %d devices", k, count);
    IT__CU_CALL(m, DeviceGet(&m->dev, k), "cuDeviceGet");
    IT__CU_CALL(m, PrimaryCtxRetain(&m->cuctx, m->dev), "cuDevicePrimaryCtxRetain");
    IT__CU_CALL(m, CtxSetCurrent(m->cuctx), "cuCtxSetCurrent");
    m->cu.DeviceGetName(m->stats.device_name, (int)sizeof m->stats.device_name, m->dev);
    m->cu.DeviceGetAttribute(&m->stats.sm_major, IT__CU_ATTR_CC_MAJOR, m->dev);
    m->cu.DeviceGetAttribute(&m->stats.sm_minor, IT__CU_ATTR_CC_MINOR, m->dev);
    if (m->cu.DeviceGetAttribute(&m->n_sm, IT__CU_ATTR_MULTIPROCESSOR_COUNT, m->dev) != 0 || m->n_sm < 1) m->n_sm = 1;
    m->cu.DriverGetVersion(&m->stats.driver_version);
    IT__CU_CALL(m, StreamCreate(&m->stream, IT__CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    /* the kernels: shaders_cuda.h's lines joined, NVRTC for this device's architecture */
    IT__CU_TRY(it__cu_load(m, &m->lib_nvrtc, rtc_names, 5, "NVRTC (libnvrtc, from the CUDA toolkit)", (void **)(void *)&m->rtc,
                           rtc_syms, (int)(sizeof rtc_syms / sizeof rtc_syms[0])));
    src = (char *)it_context_alloc(m->ctx, (size_t)IT_CUDA_SOURCE_SIZE + 1);
    if (!src) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    for (i = 0; i < sizeof it_cuda_source / sizeof it_cuda_source[0]; i++) {
        size_t l = strlen(it_cuda_source[i]);
        memcpy(src + total, it_cuda_source[i], l);
        total += l;
    }
    src[total] = 0;
    snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d%d", m->stats.sm_major, m->stats.sm_minor);
    opts[0] = arch;
    opts[1] = "--use_fast_math"; /* Metal's default; the kernels clamp what fast math would break */
    opts[2] = "--std=c++17";
    opts[3] = "-default-device";
    rc = m->rtc.CreateProgram(&prog, src, "shaders_cuda.cu", 0, NULL, NULL);
    it_context_free(m->ctx, src);
    if (rc != 0) return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: nvrtcCreateProgram failed (%d)", rc);
    rc = m->rtc.CompileProgram(prog, 4, opts);
    if (rc != 0) {
        if (m->rtc.GetProgramLogSize(prog, &len) == 0 && (log = (char *)it_context_alloc(m->ctx, len + 1)) != NULL) {
            log[0] = 0;
            m->rtc.GetProgramLog(prog, log);
        }
        it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: NVRTC did not compile the kernels (%s): %s", arch + 19, log ? log : "no log");
        it_context_free(m->ctx, log);
        m->rtc.DestroyProgram(&prog);
        return IT_ERR_BACKEND;
    }
    if (m->rtc.GetCUBINSize(prog, &len) != 0 || (cubin = (char *)it_context_alloc(m->ctx, len)) == NULL ||
        m->rtc.GetCUBIN(prog, cubin) != 0) {
        it_context_free(m->ctx, cubin);
        m->rtc.DestroyProgram(&prog);
        return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: no CUBIN from NVRTC for %s", arch + 19);
    }
    m->rtc.DestroyProgram(&prog);
    rc = m->cu.ModuleLoadData(&m->module, cubin);
    it_context_free(m->ctx, cubin);
    IT__CU_TRY(it__cu_check(m, rc, "cuModuleLoadData"));
    for (k = 0; k < IT__CUK_COUNT; k++) {
        int j;
        for (j = 0; j < IT_CUDA_KERNEL_COUNT; j++)
            if (!strcmp(it_cuda_kernels[j].name, it__cu_kernel_names[k])) m->info[k] = &it_cuda_kernels[j];
        if (!m->info[k]) return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: kernel %s is missing from shaders_cuda.h", it__cu_kernel_names[k]);
        IT__CU_CALL(m, ModuleGetFunction(&m->fn[k], m->module, it__cu_kernel_names[k]), it__cu_kernel_names[k]);
        IT__CU_CALL(m, FuncGetAttribute(&m->max_threads[k], IT__CU_FUNC_MAX_THREADS_PER_BLOCK, m->fn[k]), "cuFuncGetAttribute");
    }
    if (m->max_threads[IT__CUK_ATTN] < 128 || m->max_threads[IT__CUK_ATTN_DQ] < 128 || m->max_threads[IT__CUK_ATTN_DKV] < 128)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: the attention kernels allow under 128 threads");
    /* GEMMs */
    IT__CU_TRY(it__cu_load(m, &m->lib_cublas, blas_names, 5, "cuBLAS (libcublas, from the CUDA toolkit)", (void **)(void *)&m->blas,
                           blas_syms, (int)(sizeof blas_syms / sizeof blas_syms[0])));
    if (m->blas.Create(&m->cublas) != 0) return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: cublasCreate failed");
    if (!it__cu_dev_alloc(m, &m->workspace, IT__CU_WORKSPACE)) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: no memory for the cuBLAS workspace");
    if (m->blas.SetStream(m->cublas, m->stream) != 0 || m->blas.SetWorkspace(m->cublas, (void *)(uintptr_t)m->workspace, IT__CU_WORKSPACE) != 0 ||
        m->blas.SetMathMode(m->cublas, IT__CUBLAS_DEFAULT_MATH) != 0) /* the compute type of each call decides */
        return it_context_error(m->ctx, IT_ERR_BACKEND, "cuda: cuBLAS stream/workspace/math mode setup failed");
    /* the optimizer's device values */
    if (!it__cu_dev_alloc(m, &m->obuf, IT__CU_OBUF_FLOATS * sizeof(float)))
        return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "cuda: no memory for the optimizer's values");
    IT__CU_CALL(m, MemAllocHost((void **)(void *)&m->ohost, IT__CU_OBUF_FLOATS * sizeof(float)), "cuMemAllocHost");
    memset(m->ohost, 0, IT__CU_OBUF_FLOATS * sizeof(float));
    m->ohost[IT__CU_OBUF_UNCLIPPED] = 1.0f;
    for (k = 0; k < IT__CU_SPLIT_K_MAX; k++) m->ohost[IT__CU_OBUF_ONES + k] = 1.0f;
    IT__CU_CALL(m, MemcpyHtoDAsync(m->obuf, m->ohost, IT__CU_OBUF_FLOATS * sizeof(float), m->stream), "cuMemcpyHtoDAsync");
    m->pending = 1;
    return it__cu_wait(m);
}

IT_API int it_cuda_available(void) { return 1; }
IT_API it_cuda_stats it_cuda_backend_stats(const it_backend *be) {
    it_cuda_stats s;
    memset(&s, 0, sizeof s);
    if (be && be->name && strcmp(be->name, "cuda") == 0) {
        s = ((const it__cuda *)be->impl)->stats;
        s.temp_bytes = ((const it__cuda *)be->impl)->tcap;
    }
    return s;
}
IT_API it_result it_cuda_backend_create(it_context *ctx, const it_cuda_desc *desc, it_backend **out) {
    it__cuda *m;
    it_backend *be;
    it_result r;
    int i;
    *out = NULL;
    m = (it__cuda *)it_context_alloc(ctx, sizeof *m);
    if (!m) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "cuda: out of memory");
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->use_graphs = !(desc && desc->no_graphs);
    m->decode_graphs = m->use_graphs && !(desc && desc->no_decode_graphs);
    m->compute_type = desc && desc->allow_tf32 ? IT__CUBLAS_COMPUTE_32F_FAST_TF32 : IT__CUBLAS_COMPUTE_32F;
    m->profile = getenv("IT_CUDA_PROFILE") && getenv("IT_CUDA_PROFILE")[0] == '1';
    m->scores_floats = IT_CUDA_ATTN_SCORES_FLOATS;
    if (getenv("IT_CUDA_ATTN_SCORES")) { /* a benchmark's or test's choice: floats per chunk, 0 = the tiled kernels */
        char *end;
        unsigned long long v = strtoull(getenv("IT_CUDA_ATTN_SCORES"), &end, 10);
        if (*end || end == getenv("IT_CUDA_ATTN_SCORES") || v > IT__CU_MAX_ELEMENTS) {
            it_context_free(ctx, m);
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "cuda: IT_CUDA_ATTN_SCORES=%s: not a count of floats below 2^31",
                                    getenv("IT_CUDA_ATTN_SCORES"));
        }
        m->scores_floats = (size_t)v;
    }
    m->split_k = IT_CUDA_SPLIT_K_DEFAULT;
    if (getenv("IT_CUDA_SPLIT_K")) { /* a benchmark's A/B: 0 = every product in one cuBLAS call */
        const char *v = getenv("IT_CUDA_SPLIT_K");
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            it_context_free(ctx, m);
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "cuda: IT_CUDA_SPLIT_K=%s: not 0 (off) or 1 (on)", v);
        }
        m->split_k = v[0] == '1';
    }
    be = &m->be;
    be->name = "cuda";
    be->impl = m;
    r = it__cu_setup(m, desc);
    if (r != IT_OK) {
        it__cu_destroy(be);
        return r;
    }
    be->buffer_create = it__cu_buffer_create;
    be->buffer_free = it__cu_buffer_free;
    be->fill = it__cu_fill;
    be->optimizer_step = it__cu_optimizer_step;
    be->zero_grads = it__cu_zero_grads;
    be->begin_step = it__cu_begin_step;
    be->end_step = it__cu_end_step;
    be->synchronize = it__cu_synchronize;
    be->destroy = it__cu_destroy;
    be->host_access = it__cu_host_access;
    be->bf16_compute = 1; /* it_context_set_compute_dtype(ctx, IT_BF16): it__cu_gemm_compute */
    be->decoder_create = it__cu_decoder_create; /* it_decoder_* on the GPU (>>cuda_decoder) */
    be->decoder_feed = it__cu_decoder_feed;
    be->decoder_destroy = it__cu_decoder_destroy;
    it_backend_set_op(be, IT_OP_MATMUL, it__cu_matmul_fwd, it__cu_matmul_bwd);
    it_backend_set_op(be, IT_OP_ADD, it__cu_binary_fwd, it__cu_binary_bwd);
    it_backend_set_op(be, IT_OP_MUL, it__cu_binary_fwd, it__cu_binary_bwd);
    it_backend_set_op(be, IT_OP_SCALE, it__cu_elementwise_fwd, it__cu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_EMBEDDING, it__cu_embedding_fwd, it__cu_embedding_bwd);
    it_backend_set_op(be, IT_OP_RMSNORM, it__cu_norm_fwd, it__cu_norm_bwd);
    it_backend_set_op(be, IT_OP_LAYERNORM, it__cu_norm_fwd, it__cu_norm_bwd);
    it_backend_set_op(be, IT_OP_ROPE, it__cu_rope_fwd, it__cu_rope_bwd);
    it_backend_set_op(be, IT_OP_SOFTMAX, it__cu_softmax_fwd, it__cu_softmax_bwd);
    it_backend_set_op(be, IT_OP_ATTENTION, it__cu_attention_fwd, it__cu_attention_bwd);
    it_backend_set_op(be, IT_OP_SILU, it__cu_elementwise_fwd, it__cu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_GELU, it__cu_elementwise_fwd, it__cu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_SWIGLU, it__cu_elementwise_fwd, it__cu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_CROSS_ENTROPY, it__cu_cross_entropy_fwd, it__cu_cross_entropy_bwd);
    it_backend_set_op(be, IT_OP_LINEAR_CROSS_ENTROPY, it__cu_linear_cross_entropy_fwd, it__cu_linear_cross_entropy_bwd);
    it_backend_set_op(be, IT_OP_SUM, it__cu_reduce_fwd, it__cu_reduce_bwd);
    it_backend_set_op(be, IT_OP_MEAN, it__cu_reduce_fwd, it__cu_reduce_bwd);
    it_backend_set_op(be, IT_OP_RESHAPE, it__cu_nothing, it__cu_nothing); /* a view: nothing to compute */
    for (i = 0; i < IT_OP_COUNT; i++) { /* every op behind the dispatch that scopes temporaries to a node */
        m->op_fwd[i] = be->forward[i], m->op_bwd[i] = be->backward[i];
        if (be->forward[i]) be->forward[i] = it__cu_node_fwd;
        if (be->backward[i]) be->backward[i] = it__cu_node_bwd;
    }
    *out = be;
    return IT_OK;
}
#undef IT__CU_T
#undef IT__CU_TRY
#undef IT__CU_M
#undef IT__CU_CALL
#endif /* __linux__ */
#endif /* IRONTENSOR_CUDA_IMPLEMENTATION_INCLUDED */
#endif /* IRONTENSOR_CUDA_IMPLEMENTATION */
