/* irontensor_metal.h - the Metal backend for irontensor.h, in plain C over the Objective-C runtime
   (no .m file). MIT licence (see irontensor.h). One version for both headers: this one is
   released with irontensor.h and carries its IT_VERSION_STRING.

   USAGE
     In one C file, after IRONTENSOR_IMPLEMENTATION:
         #define IRONTENSOR_METAL_IMPLEMENTATION
         #include "irontensor_metal.h"
     then:
         it_backend *metal;
         if (it_metal_backend_create(ctx, NULL, &metal) == IT_OK) it_context_set_backend(ctx, metal);
         else fprintf(stderr, "%s\n", it_context_last_error(ctx));   // stays on the CPU backend
     Switch the backend on before the first graph is planned (parameters, gradients, optimizer
     state and arenas are Metal buffers from then on).

   BUILD (macOS 13+ on an Apple GPU, M1 or later: the kernels assume 32-wide SIMD groups, so an
   Intel Mac's AMD or Intel GPU is refused with IT_ERR_BACKEND_UNAVAILABLE; the x86-64 build is
   supported for Intel hosts of such a device; the library is compiled as MSL 3.0)
     cc -O2 -std=c99 train.c -o train -framework Foundation -framework Metal \
        -framework MetalPerformanceShaders -framework CoreGraphics -lobjc
     (CoreGraphics: without it MTLCreateSystemDefaultDevice can return nil in command-line tools.)
   Elsewhere the implementation compiles to a stub whose it_metal_backend_create returns
   IT_ERR_BACKEND_UNAVAILABLE, so portable programs keep one code path.

   CONFIGURATION
     IT_METAL_FAKE           Linux tests only: build the real implementation against GCC's libobjc
                             (messages through objc_msg_lookup) and the fake Metal classes in
                             tests/metal/fake/.
     IT_METAL_FAKE_MSGSEND   with IT_METAL_FAKE: send through objc_msgSend / objc_msgSend_stret
                             symbols (the x86-64 trampolines in tests/metal/fake/), i.e. exactly
                             the code macOS x86-64 runs.

   HOW IT WORKS
   - Messages: one table (IT__MTL_MSGS: C name, selector, exact C signature) generates a function
     pointer type per message; every send casts the dispatcher to that type, never a variadic
     call. Selectors and classes are looked up once. Structs over 16 bytes come back through
     objc_msgSend_stret on x86-64 only (arm64 has no _stret).
   - Memory: shared storage. buffer_create returns the MTLBuffer's contents; a pointer -> buffer
     map lets a tensor bind as (its block's buffer, byte offset) from it_tensor_block().
   - A step (it_graph_run): every node encodes dispatches (small arguments through setBytes),
     matmuls go to MPSMatrixMultiplication (descriptors, matrices and kernels cached per shape
     and offset; our tiled kernel for batched products). Command buffers are cut every
     ops_per_command_buffer operations (128 by default) and committed as they fill, nobody
     waiting (macOS ends a command buffer that runs too long on a display GPU); end_step commits
     the last, synchronize waits once, on the last (one queue runs them in order) and turns a failed
     command buffer into IT_ERR_BACKEND with Metal's error text. MPS does not promise to ignore C
     when beta is 0, so a product that overwrites C zeroes it first (a NaN left in a reused arena
     would otherwise survive 0 * NaN).
   - Limits checked on the host: Apple GPUs only (MTLGPUFamilyApple7 and a threadExecutionWidth
     of 32 for every pipeline, else IT_ERR_BACKEND_UNAVAILABLE naming the width); tensors and
     blocks below 2^31 elements (the kernels' 32-bit grid-stride counters would wrap), else
     IT_ERR_UNSUPPORTED. The library asks for MSL 3.0; a kernel needing bfloat (MSL 3.1) must sit
     behind #if defined(__HAVE_BFLOAT__), so an older compiler drops it instead of the library.
     The bf16 products' simdgroup-matrix kernel (shaders/matmul_bf16.metal) is compiled as a
     second library at MSL 3.1; where that fails (macOS 13) they stay on it_matmul_f32's
     bf16-rounded tiles, and it_metal_bf16_matmul says which kernel runs and why.
   - Per-step temporaries (cross-entropy statistics, attention delta, embedding sort order) come
     from one transient buffer sized during the first step: no buffer is created after it.
   - Autorelease pools: Metal returns command buffers and encoders autoreleased. Each is made in a
     pool of its own and retained while held, begin_step .. end_step bracket one it_graph_run with
     a pool, and every other entry point pops what it pushed: no pool of the library is open when
     a public function returns, so an Objective-C or Swift host's @autoreleasepool, run loop or
     GCD queue may pop around any call (tests: each call inside a host pool on the fake).
   - The optimizer: the backend's optimizer_step and zero_grads hooks keep the update on the GPU,
     Lion, AdamW or SGD (shaders/optimizer.metal) over runs of neighbouring parameters with the
     same weight decay (matrices decayed, vectors only with decay_vectors, as it__optim_part),
     AdamW's bias correction from opt->step. it_zero_grads is one fill of the gradient block
     encoded into a command buffer left open (retained, no pool): the next run continues it.
     it_optimizer_step encodes the whole update and commits it WITHOUT waiting: with clip_norm > 0
     or grad_norm requested, a norm pass (shaders/grad_norm.metal: partial sums of squares, then
     one group) writes the norm, the clip scale and a skip flag the update kernels read, so a
     non-finite norm leaves parameters and state untouched on the GPU. Finiteness is tested on
     the bits of stored values (fast math lets the compiler fold float tests for Inf/NaN). The
     host reads the norm with the next wait (the next run's loss read-back, or
     it_context_synchronize): a requested grad_norm is written there (NaN until then: the float
     must outlive the call), a skipped update is IT_ERR_RANGE there, and opt->step is put back,
     as the CPU path leaves it. So a training step in the usual order (zero, run, optimizer)
     waits ONCE, with or without grad_norm. Parameters and optimizer state are readable on the CPU
     after a synchronize (checkpoints and the decoder synchronize themselves). The norm is
     summed in float on the GPU (double on the CPU): a gradient norm above ~1e19 overflows to Inf
     there, i.e. a skipped update where the CPU would clip.
   - The KV-cache decoder (it_decoder_*, through the backend's decoder hooks; >>metal_decoder):
     caches, work rows, logits and ids in one shared buffer; a prompt in one call (the matmul
     path), then a token per call through matrix x vector kernels (shaders/decode.metal) and the
     training kernels for norms, rope and activations; it_decoder_next picks the token on the
     GPU in the same command buffer (the repetition penalty, then it_argmax_f32: NaN never wins,
     first on ties, or it_sample_f32: it_cpu_sample_min_p's temperature / top-k / top-p / min-p
     with the same uniform draw from the host's generator, the cuts found by bisection over the
     sorted order's keys), so a token is one command buffer and ONE wait (the id read back). Llama
     (GQA, biases, q/k norms, sliding windows, scaled RoPE) and GPT-2; head dim <= 64; weights f32
     (the parameters) or the core's bf16 / Q8_0 / Q4_0 copies (shaders/quant_matvec.metal: a
     simdgroup per output row, each weight byte read once a token; int8 activations for Q8_0 /
     Q4_0 as on the CPU); an attached LoRA adapter is refused (merge it first).
   - Not thread-safe: one thread drives a backend (as with every irontensor backend).
*/
#ifndef IRONTENSOR_METAL_H
#define IRONTENSOR_METAL_H
#include "irontensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_metal_desc {
    int device_index; /* 0 = the system default device (the only one supported) */
    int no_mps;       /* 1 = matmuls through our tiled kernel instead of MPS */
    /* A step is cut into command buffers of at most this many dispatches and MPS products
       (0 = IT_METAL_DEFAULT_OPS_PER_COMMAND_BUFFER), committed as they fill without waiting:
       macOS ends a command buffer that runs too long on a GPU that also drives a display. */
    int ops_per_command_buffer;
} it_metal_desc;
#define IT_METAL_DEFAULT_OPS_PER_COMMAND_BUFFER 128

/* 1 when this build can create a Metal backend (Apple platforms, or the Linux fake). */
IT_API int it_metal_available(void);
/* Creates the backend; on failure *out is NULL, the context's last error says why, and the
   context keeps its CPU backend. */
IT_API it_result it_metal_backend_create(it_context *ctx, const it_metal_desc *desc, it_backend **out);

/* Counters since the backend was made (the test suite prints them per step). */
typedef struct it_metal_stats {
    unsigned long command_buffers, dispatches, mps_encodes, buffers_created, pipelines;
    unsigned long waits; /* waitUntilCompleted: each one a CPU stall until the GPU drains */
} it_metal_stats;
IT_API it_metal_stats it_metal_backend_stats(const it_backend *be);
/* Which kernel the bf16 mixed-precision products (it_context_set_compute_dtype IT_BF16) run on:
   "it_matmul_bf16_sg ..." (simdgroup matrices with bfloat operands; needs MSL 3.1, macOS 14) or
   "it_matmul_f32 (bf16-rounded tiles): " and why the other is unavailable. Both compute the
   products of the bf16-rounded operands summed in fp32. NULL for a backend that is not Metal's. */
IT_API const char *it_metal_bf16_matmul(const it_backend *be);

#ifdef __cplusplus
}
#endif
#endif /* IRONTENSOR_METAL_H */

#if (defined(IRONTENSOR_METAL_IMPLEMENTATION) || defined(IT_METAL_OBJC_ONLY)) && \
    (defined(__APPLE__) || defined(IT_METAL_FAKE)) && !defined(IT__METAL_OBJC_INCLUDED)
#define IT__METAL_OBJC_INCLUDED
/* IT_METAL_OBJC_ONLY: just this layer (the fake Metal classes in tests/ check their method
   types against it) */
/* >>metal_objc  the message layer ------------------------------------------------------------- */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__APPLE__)
#ifndef OBJC_OLD_DISPATCH_PROTOTYPES
#define OBJC_OLD_DISPATCH_PROTOTYPES 0
#endif
#include <objc/runtime.h>
#include <objc/message.h>
#else
#include <objc/runtime.h>
#include <objc/message.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif
typedef unsigned long it__NSUInteger; /* NSUInteger on every 64-bit Apple platform */
typedef struct it__MTLSize { it__NSUInteger width, height, depth; } it__MTLSize;
typedef uint32_t it__MPSDataType;
#define IT__MPS_FLOAT32 0x10000020u /* MPSDataTypeFloat32 = MPSDataTypeFloatBit | 32 */
#define IT__MTL_STORAGE_SHARED 0u   /* MTLResourceStorageModeShared | MTLResourceCPUCacheModeDefaultCache */
#define IT__MTL_LANGUAGE_3_0 0x30000ul /* MTLLanguageVersion3_0 (macOS 13): what the f32 kernels need */
#define IT__MTL_LANGUAGE_3_1 0x30001ul /* MTLLanguageVersion3_1 (macOS 14): bfloat (__HAVE_BFLOAT__) */
#define IT__MTL_FAMILY_APPLE7 1007L    /* MTLGPUFamilyApple7: M1 and later, every Apple-silicon Mac */
#define IT__MTL_SIMD_WIDTH 32ul        /* the kernels' SIMD-group width (it_reduce.h, attention tiles) */
#define IT__MTL_STATUS_COMPLETED 4ul
#define IT__MTL_STATUS_ERROR 5ul

/* C entry points. Apple's libobjc exports the pool functions (clang's @autoreleasepool calls
   them) without declaring them in a public header; the fake defines all four. */
id MTLCreateSystemDefaultDevice(void);
BOOL MPSSupportsMTLDevice(id device);
void *objc_autoreleasePoolPush(void);
void objc_autoreleasePoolPop(void *pool);
#ifdef __cplusplus
}
#endif

/* X(name, "selector", return type, (id, SEL, parameters...), struct return over 16 bytes) */
#define IT__MTL_MSGS(X)                                                                                       \
    X(alloc, "alloc", id, (id, SEL), 0)                                                                       \
    X(init, "init", id, (id, SEL), 0)                                                                         \
    X(retain, "retain", id, (id, SEL), 0)                                                                     \
    X(release, "release", void, (id, SEL), 0)                                                                 \
    X(stringWithUTF8String, "stringWithUTF8String:", id, (id, SEL, const char *), 0)                          \
    X(UTF8String, "UTF8String", const char *, (id, SEL), 0)                                                   \
    X(localizedDescription, "localizedDescription", id, (id, SEL), 0)                                         \
    X(name, "name", id, (id, SEL), 0)                                                                         \
    X(newCommandQueue, "newCommandQueue", id, (id, SEL), 0)                                                   \
    X(newBufferWithLength, "newBufferWithLength:options:", id, (id, SEL, it__NSUInteger, it__NSUInteger), 0) \
    X(newLibraryWithSource, "newLibraryWithSource:options:error:", id, (id, SEL, id, id, id *), 0)            \
    X(newFunctionWithName, "newFunctionWithName:", id, (id, SEL, id), 0)                                      \
    X(newComputePipelineState, "newComputePipelineStateWithFunction:error:", id, (id, SEL, id, id *), 0)      \
    X(setFastMathEnabled, "setFastMathEnabled:", void, (id, SEL, BOOL), 0)                                   \
    X(setLanguageVersion, "setLanguageVersion:", void, (id, SEL, it__NSUInteger), 0)                         \
    X(maxThreadsPerThreadgroup, "maxThreadsPerThreadgroup", it__MTLSize, (id, SEL), 1)                        \
    X(supportsFamily, "supportsFamily:", BOOL, (id, SEL, long), 0)                                            \
    X(maxTotalThreadsPerThreadgroup, "maxTotalThreadsPerThreadgroup", it__NSUInteger, (id, SEL), 0)           \
    X(threadExecutionWidth, "threadExecutionWidth", it__NSUInteger, (id, SEL), 0)                             \
    X(staticThreadgroupMemoryLength, "staticThreadgroupMemoryLength", it__NSUInteger, (id, SEL), 0)           \
    X(contents, "contents", void *, (id, SEL), 0)                                                             \
    X(length, "length", it__NSUInteger, (id, SEL), 0)                                                         \
    X(commandBuffer, "commandBuffer", id, (id, SEL), 0)                                                       \
    X(computeCommandEncoder, "computeCommandEncoder", id, (id, SEL), 0)                                       \
    X(setComputePipelineState, "setComputePipelineState:", void, (id, SEL, id), 0)                            \
    X(setBuffer, "setBuffer:offset:atIndex:", void, (id, SEL, id, it__NSUInteger, it__NSUInteger), 0)        \
    X(setBytes, "setBytes:length:atIndex:", void, (id, SEL, const void *, it__NSUInteger, it__NSUInteger), 0) \
    X(setThreadgroupMemoryLength, "setThreadgroupMemoryLength:atIndex:", void,                               \
      (id, SEL, it__NSUInteger, it__NSUInteger), 0)                                                           \
    X(dispatchThreadgroups, "dispatchThreadgroups:threadsPerThreadgroup:", void,                             \
      (id, SEL, it__MTLSize, it__MTLSize), 0)                                                                 \
    X(dispatchThreads, "dispatchThreads:threadsPerThreadgroup:", void, (id, SEL, it__MTLSize, it__MTLSize), 0) \
    X(endEncoding, "endEncoding", void, (id, SEL), 0)                                                         \
    X(commit, "commit", void, (id, SEL), 0)                                                                   \
    X(waitUntilCompleted, "waitUntilCompleted", void, (id, SEL), 0)                                           \
    X(status, "status", it__NSUInteger, (id, SEL), 0)                                                         \
    X(error, "error", id, (id, SEL), 0)                                                                       \
    X(matrixDescriptor, "matrixDescriptorWithRows:columns:rowBytes:dataType:", id,                           \
      (id, SEL, it__NSUInteger, it__NSUInteger, it__NSUInteger, it__MPSDataType), 0)                         \
    X(initWithBuffer, "initWithBuffer:offset:descriptor:", id, (id, SEL, id, it__NSUInteger, id), 0)          \
    X(initMatMul, "initWithDevice:transposeLeft:transposeRight:resultRows:resultColumns:interiorColumns:alpha:beta:", \
      id, (id, SEL, id, BOOL, BOOL, it__NSUInteger, it__NSUInteger, it__NSUInteger, double, double), 0)      \
    X(encodeMatMul, "encodeToCommandBuffer:leftMatrix:rightMatrix:resultMatrix:", void, (id, SEL, id, id, id, id), 0)

/* the exact function type of each message, and whether it needs the _stret dispatcher */
#define IT__MTL_TYPES(nm, sel, R, P, st) typedef R(*it__ft_##nm) P; enum { it__stret_##nm = st };
IT__MTL_MSGS(IT__MTL_TYPES)
#undef IT__MTL_TYPES
/* x86-64 SysV returns structs over 16 bytes through a hidden pointer: such a message must be
   flagged for objc_msgSend_stret, and nothing else may be (C99-compatible static assert). */
#define IT__MTL_CHECK(nm, sel, R, P, st) \
    typedef char it__stret_ok_##nm[((st) == (sizeof(R) > 16)) ? 1 : -1];
#ifdef __GNUC__
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpointer-arith" /* sizeof(void) for the void returns */
#pragma GCC diagnostic ignored "-Wunused-local-typedefs"
#endif
IT__MTL_MSGS(IT__MTL_CHECK)
#ifdef __GNUC__
#pragma GCC diagnostic pop
#endif
#undef IT__MTL_CHECK

/* Selectors, filled once by it__mtl_objc_init (they are process-wide in the runtime). */
static struct {
#define IT__MTL_SELF(nm, sel, R, P, st) SEL nm;
    IT__MTL_MSGS(IT__MTL_SELF)
#undef IT__MTL_SELF
    int ready;
} it__sel;
static const char *const it__sel_names[] = {
#define IT__MTL_SELN(nm, sel, R, P, st) sel,
    IT__MTL_MSGS(IT__MTL_SELN)
#undef IT__MTL_SELN
};

/* The dispatcher: objc_msgSend(_stret) on Apple and with the Linux trampolines; the GNU runtime
   looks the IMP up first. Always called through the message's exact type. */
#if defined(__APPLE__) || defined(IT_METAL_FAKE_MSGSEND)
#if !defined(__APPLE__)
#ifdef __cplusplus
extern "C" {
#endif
void objc_msgSend(void); /* the trampolines' symbols, declared like OBJC_OLD_DISPATCH_PROTOTYPES=0 */
void objc_msgSend_stret(void);
#ifdef __cplusplus
}
#endif
#endif
/* through a pointer object: gcc warns when a declared function is called through another type */
static void (*const volatile it__msgsend_p)(void) = (void (*)(void))objc_msgSend;
#if defined(__x86_64__) || defined(__i386__)
static void (*const volatile it__msgsend_stret_p)(void) = (void (*)(void))objc_msgSend_stret;
#else
static void (*const volatile it__msgsend_stret_p)(void) = (void (*)(void))objc_msgSend; /* arm64: x8 */
#endif
#define IT__IMP(nm, obj) (it__stret_##nm ? it__msgsend_stret_p : it__msgsend_p)
#else
#define IT__IMP(nm, obj) ((void (*)(void))objc_msg_lookup((obj), it__sel.nm))
#endif
/* obj is evaluated twice on the GNU runtime: pass a plain variable */
#define IT__MSG0(nm, obj) ((it__ft_##nm)IT__IMP(nm, (id)(obj)))((id)(obj), it__sel.nm)
#define IT__MSG(nm, obj, ...) ((it__ft_##nm)IT__IMP(nm, (id)(obj)))((id)(obj), it__sel.nm, __VA_ARGS__)

static struct {
    id NSString, MTLCompileOptions, MPSMatrixDescriptor, MPSMatrix, MPSMatrixMultiplication;
} it__cls;

#if defined(__GNUC__) || defined(__clang__)
#define IT__MTL_UNUSED __attribute__((unused))
#else
#define IT__MTL_UNUSED
#endif
static IT__MTL_UNUSED void it__mtl_objc_init(void) {
    size_t i;
    SEL *s = (SEL *)(void *)&it__sel;
    if (it__sel.ready) return;
    for (i = 0; i < sizeof it__sel_names / sizeof it__sel_names[0]; i++) s[i] = sel_registerName(it__sel_names[i]);
    it__cls.NSString = (id)objc_getClass("NSString");
    it__cls.MTLCompileOptions = (id)objc_getClass("MTLCompileOptions");
    it__cls.MPSMatrixDescriptor = (id)objc_getClass("MPSMatrixDescriptor");
    it__cls.MPSMatrix = (id)objc_getClass("MPSMatrix");
    it__cls.MPSMatrixMultiplication = (id)objc_getClass("MPSMatrixMultiplication");
    it__sel.ready = 1;
}
static IT__MTL_UNUSED void it__release(id obj) {
    if (obj) IT__MSG0(release, obj);
}
static IT__MTL_UNUSED it__MTLSize it__size(it__NSUInteger w, it__NSUInteger h, it__NSUInteger d) {
    it__MTLSize s;
    s.width = w;
    s.height = h;
    s.depth = d;
    return s;
}

#endif /* the message layer */

#ifdef IRONTENSOR_METAL_IMPLEMENTATION
#ifndef IRONTENSOR_METAL_IMPLEMENTATION_INCLUDED
#define IRONTENSOR_METAL_IMPLEMENTATION_INCLUDED

#if !defined(__APPLE__) && !defined(IT_METAL_FAKE)
/* >>metal_stub ---------------------------------------------------------------------------------- */
IT_API int it_metal_available(void) { return 0; }
IT_API it_result it_metal_backend_create(it_context *ctx, const it_metal_desc *desc, it_backend **out) {
    (void)desc;
    *out = NULL;
    return it_context_error(ctx, IT_ERR_BACKEND_UNAVAILABLE,
                            "Metal backend unavailable: Metal exists only on Apple platforms (the context keeps its CPU backend)");
}
IT_API it_metal_stats it_metal_backend_stats(const it_backend *be) {
    it_metal_stats s;
    (void)be;
    memset(&s, 0, sizeof s);
    return s;
}
IT_API const char *it_metal_bf16_matmul(const it_backend *be) {
    (void)be;
    return NULL; /* no Metal backend exists here */
}
#else
/* >>metal_backend  state ----------------------------------------------------------------------- */
#include "shaders.h"                /* the kernels' source, embedded */
#include "shaders/it_kernel_args.h" /* their argument structs, shared with MSL */

/* every kernel the backend dispatches: enum name, function name in shaders/ */
#define IT__MTL_KERNELS(X)                                                                                   \
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
    X(ATTN_DKV, "it_attention_backward_dkv_f32") X(CROSS_ENTROPY_STATS, "it_cross_entropy_stats_f32")     \
    X(CROSS_ENTROPY_FINISH, "it_cross_entropy_finish_f32") X(CROSS_ENTROPY_MEAN, "it_cross_entropy_mean_f32") \
    X(CROSS_ENTROPY_SCALE, "it_cross_entropy_dloss_scale_f32")                                              \
    X(CROSS_ENTROPY_DLOGITS, "it_cross_entropy_dlogits_scaled_f32")                                         \
    X(MATMUL, "it_matmul_f32") X(SUMSQ, "it_sum_squares_partial_f32") X(CLIP, "it_grad_clip_scale_f32")            \
    X(LION, "it_lion_update_f32") X(ADAMW, "it_adamw_update_f32") X(SGD, "it_sgd_update_f32")                \
    X(MATVEC, "it_matvec_f32") X(VECMAT, "it_vecmat_f32") X(ATTN_DECODE, "it_attention_decode_f32")              \
    X(ARGMAX, "it_argmax_f32") X(QUANTIZE_ACTS, "it_quantize_acts_q8_f32") X(MATVEC_Q8_0, "it_matvec_q8_0")        \
    X(MATVEC_Q4_0, "it_matvec_q4_0") X(MATVEC_BF16, "it_matvec_bf16") X(REPETITION_PENALTY, "it_repetition_penalty_f32")  \
    X(SAMPLE, "it_sample_f32") X(LORA_DOWN, "it_lora_down_f32") X(LORA_UP, "it_lora_up_f32")                \
    X(MATMUL_BF16_SG, "it_matmul_bf16_sg") /* last: from the MSL 3.1 library, when there is one (it__mtl_bf16_setup) */

typedef enum it__mtl_kernel {
#define IT__MTL_KENUM(e, fn) IT__K_##e,
    IT__MTL_KERNELS(IT__MTL_KENUM)
#undef IT__MTL_KENUM
    IT__K_COUNT
} it__mtl_kernel;
static const char *const it__mtl_kernel_names[IT__K_COUNT] = {
#define IT__MTL_KNAME(e, fn) fn,
    IT__MTL_KERNELS(IT__MTL_KNAME)
#undef IT__MTL_KNAME
};

typedef struct it__mtl_buffer { unsigned char *ptr; size_t size; id buf; } it__mtl_buffer;
typedef struct it__mtl_arg { id buf; size_t off; } it__mtl_arg; /* a binding: buffer + byte offset */
/* cached MPS objects: a matrix is (buffer, offset, shape); a kernel is (transposes, sizes, beta) */
typedef struct it__mtl_matrix { id buf; size_t off; it__NSUInteger rows, cols; id desc, matrix; } it__mtl_matrix;
typedef struct it__mtl_gemm { int tl, tr; it__NSUInteger M, N, K; double beta; id kernel; } it__mtl_gemmk;

typedef struct it__mtl {
    it_backend be;
    it_context *ctx;
    id device, queue, library;
    id pso[IT__K_COUNT];
    it__NSUInteger max_threads[IT__K_COUNT];
    int use_mps;
    it__mtl_buffer *bufs;
    int n_bufs, cap_bufs;
    /* The command buffer being encoded and its compute encoder, both retained (+1): neither lives
       in an autorelease pool, so both survive the host's pools between calls (it_zero_grads
       leaves them open for the next run). */
    id cb, enc;
    unsigned cb_ops, ops_per_cb; /* dispatches and MPS products in cb; the cut-off */
    void *run_pool;              /* begin_step .. end_step: one it_graph_run, never across calls */
    id *pending;                 /* committed, not yet waited on (+1 each), in commit order */
    int n_pending, cap_pending;
    /* an optimizer step whose norm pass ran on the GPU: its finiteness verdict, and the norm
       the caller asked for (grad_norm, NULL if not), are read at the next wait */
    struct it_optimizer *opt_check;
    float *norm_out;
    /* per-step temporaries: bump allocation from one buffer; grows only in the first step */
    id tbuf;
    unsigned char *tptr;
    size_t tcap, tused, tpeak;
    id *retired;
    int n_retired, cap_retired;
    it__mtl_matrix *mats;
    int n_mats, cap_mats;
    it__mtl_gemmk *gemms;
    int n_gemms, cap_gemms;
    /* the optimizer's small device values (made once, at creation): [0] norm, [1] clip scale,
       [2] skip flag (the clip kernel's { scale, skip }), [4] 1.0f, [5] 0.0f (the pair bound when
       nothing is clipped), then the partial sums of squares */
    id obuf;
    float *optr;
    it_metal_stats stats;
    char bf16_matmul[320]; /* it_metal_bf16_matmul: the kernel bf16 products run on, and why */
} it__mtl;
#define IT__MTL_PARTIALS 1024 /* most partial sums of squares (threadgroups) in the norm pass */
#define IT__MTL_OBUF_UNCLIPPED 4 /* float index of the constant { 1, 0 } pair */
#define IT__MTL_OBUF_PARTIALS 8  /* float index where the partials start (16-byte aligned) */

static it_result it__mtl_fail(it__mtl *m, it_result r, const char *fmt, const char *detail) {
    return it_context_error(m->ctx, r, fmt, detail ? detail : "");
}
/* Every byte of the backend's bookkeeping comes from the context's allocator (it_context_alloc),
   and its arrays grow through the core's helper. */
#define IT__MTL_GROW(m, array, n, cap) it_context_grow((m)->ctx, (void **)&(array), &(cap), (n) + 1, sizeof *(array))
/* bind a tensor or return its error; return an error from an expression */
#define IT__MTL_T(t, slot)                                            \
    do {                                                              \
        it_result r_ = it__mtl_t(m, (t), &(slot));                    \
        if (r_ != IT_OK) return r_;                                   \
    } while (0)
#define IT__MTL_TRY(expr)                                             \
    do {                                                              \
        it_result r_ = (expr);                                        \
        if (r_ != IT_OK) return r_;                                   \
    } while (0)

/* >>metal_buffers ------------------------------------------------------------------------------- */
static id it__mtl_new_buffer(it__mtl *m, size_t size) {
    id b = IT__MSG(newBufferWithLength, m->device, (it__NSUInteger)(size ? size : 16), (it__NSUInteger)IT__MTL_STORAGE_SHARED);
    if (b) m->stats.buffers_created++;
    return b;
}
static void *it__mtl_buffer_create(it_backend *be, size_t size) {
    it__mtl *m = (it__mtl *)be->impl;
    id b;
    void *p;
    if (IT__MTL_GROW(m, m->bufs, m->n_bufs, m->cap_bufs) != IT_OK) return NULL;
    b = it__mtl_new_buffer(m, size);
    if (!b) return NULL;
    p = IT__MSG0(contents, b);
    if (!p) { /* not shared storage after all: unusable for this design */
        it__release(b);
        return NULL;
    }
    m->bufs[m->n_bufs].ptr = (unsigned char *)p;
    m->bufs[m->n_bufs].size = size;
    m->bufs[m->n_bufs].buf = b;
    m->n_bufs++;
    return p;
}
static void it__mtl_drop_cached(it__mtl *m, id buf);
static void it__mtl_buffer_free(it_backend *be, void *ptr) {
    it__mtl *m = (it__mtl *)be->impl;
    int i;
    if (!ptr) return;
    if (m->opt_check && m->opt_check->state == ptr) { /* its optimizer is going away: so is the verdict */
        m->opt_check = NULL;
        m->norm_out = NULL;
    }
    for (i = 0; i < m->n_bufs; i++)
        if (m->bufs[i].ptr == (unsigned char *)ptr) {
            it__mtl_drop_cached(m, m->bufs[i].buf); /* MPS matrices on it go with it */
            it__release(m->bufs[i].buf);
            m->bufs[i] = m->bufs[--m->n_bufs];
            return;
        }
}
/* The kernels index with 32-bit counters, and grid-stride loops (i += stride) wrap when n comes
   within one stride of 2^32: every size the backend dispatches over is checked here first, so a
   tensor or block of 2^31 elements or more is refused instead of looping forever or truncated by
   an (unsigned) cast. */
#define IT__MTL_MAX_ELEMENTS 0x7FFFFFFFul
static it_result it__mtl_check_count(it__mtl *m, size_t n, const char *what) {
    if (n <= IT__MTL_MAX_ELEMENTS) return IT_OK;
    return it_context_error(m->ctx, IT_ERR_UNSUPPORTED,
                            "metal: %s has %zu elements; the Metal kernels index with 32-bit counters (at most 2^31 - 1)",
                            what, n);
}
/* the buffer and byte offset a tensor binds at */
static it_result it__mtl_t(it__mtl *m, it_tensor *t, it__mtl_arg *out) {
    size_t off = 0;
    unsigned char *p = (unsigned char *)it_data_raw(t), *base;
    int i;
    it_result r = it__mtl_check_count(m, it_tensor_numel(t), it_tensor_name(t));
    if (r != IT_OK) return r;
    if (it_tensor_block(t, &off) == IT_BLOCK_NONE || !p)
        return it__mtl_fail(m, IT_ERR_STATE, "metal: tensor '%s' has no storage yet (plan the graph first)", it_tensor_name(t));
    base = p - off;
    for (i = 0; i < m->n_bufs; i++)
        if (m->bufs[i].ptr == base) {
            out->buf = m->bufs[i].buf;
            out->off = off;
            return IT_OK;
        }
    return it__mtl_fail(m, IT_ERR_STATE,
                        "metal: tensor '%s' is not in a Metal buffer (was the backend switched on after planning?)",
                        it_tensor_name(t));
}
/* the buffer and byte offset of `bytes` at p inside one of our buffers (the decoder's weight
   copies, made by buffer_create); `of` names them in the error */
static it_result it__mtl_locate(it__mtl *m, const void *p, size_t bytes, it_tensor *of, it__mtl_arg *out) {
    const unsigned char *c = (const unsigned char *)p;
    int i;
    for (i = 0; i < m->n_bufs; i++)
        if (c >= m->bufs[i].ptr && c + bytes <= m->bufs[i].ptr + m->bufs[i].size) {
            out->buf = m->bufs[i].buf;
            out->off = (size_t)(c - m->bufs[i].ptr);
            return IT_OK;
        }
    return it__mtl_fail(m, IT_ERR_STATE, "metal: the stored copy of '%s' is not in a Metal buffer", it_tensor_name(of));
}
/* bytes from the step's transient buffer (16-byte aligned). The first step may outgrow it: the
   old buffer is kept alive until the step completes and synchronize makes one of the peak size. */
static it_result it__mtl_temp(it__mtl *m, size_t bytes, it__mtl_arg *out, void **cpu) {
    size_t need = (bytes + 15) & ~(size_t)15;
    if (m->tused + need > m->tcap) {
        size_t cap = m->tcap * 2 > need ? m->tcap * 2 : need + 4096;
        id nb = it__mtl_new_buffer(m, cap);
        if (!nb) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal: cannot allocate %zu bytes of temporaries", cap);
        if (m->tbuf) {
            if (IT__MTL_GROW(m, m->retired, m->n_retired, m->cap_retired) != IT_OK) {
                it__release(nb);
                return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal: out of memory");
            }
            m->retired[m->n_retired++] = m->tbuf;
        }
        m->tbuf = nb;
        m->tptr = (unsigned char *)IT__MSG0(contents, nb);
        m->tcap = cap;
        m->tused = 0;
    }
    out->buf = m->tbuf;
    out->off = m->tused;
    if (cpu) *cpu = m->tptr + m->tused;
    m->tused += need;
    m->tpeak += need;
    return IT_OK;
}

/* >>metal_encode -------------------------------------------------------------------------------- */
/* Autorelease pools: Metal hands out the command buffer and the encoder autoreleased (+0). Each
   is made inside a pool of its own and retained, so no pool of the library is open when a public
   function returns: an Objective-C host's @autoreleasepool (or a run loop's) may pop around any
   call. */
static it_result it__mtl_synchronize(it_backend *be);
static it_result it__mtl_cmdbuf(it__mtl *m) {
    void *pool;
    if (m->cb) return IT_OK;
    pool = objc_autoreleasePoolPush();
    m->cb = IT__MSG0(commandBuffer, m->queue);
    if (m->cb) IT__MSG0(retain, m->cb);
    objc_autoreleasePoolPop(pool);
    if (!m->cb) return it_context_error(m->ctx, IT_ERR_BACKEND, "metal: commandBuffer returned nil");
    m->stats.command_buffers++;
    m->cb_ops = 0;
    return IT_OK;
}
static it_result it__mtl_encoder(it__mtl *m) {
    void *pool;
    IT__MTL_TRY(it__mtl_cmdbuf(m));
    if (m->enc) return IT_OK;
    pool = objc_autoreleasePoolPush();
    m->enc = IT__MSG0(computeCommandEncoder, m->cb);
    if (m->enc) IT__MSG0(retain, m->enc);
    objc_autoreleasePoolPop(pool);
    if (!m->enc) return it_context_error(m->ctx, IT_ERR_BACKEND, "metal: computeCommandEncoder returned nil");
    return IT_OK;
}
static void it__mtl_end_encoder(it__mtl *m) {
    if (!m->enc) return;
    IT__MSG0(endEncoding, m->enc);
    it__release(m->enc);
    m->enc = NULL;
}
/* Commits the open command buffer without waiting; it joins the pending list. */
static it_result it__mtl_commit(it__mtl *m) {
    void *pool;
    if (!m->cb) return IT_OK;
    if (IT__MTL_GROW(m, m->pending, m->n_pending, m->cap_pending) != IT_OK)
        return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal: out of memory");
    pool = objc_autoreleasePoolPush();
    it__mtl_end_encoder(m);
    IT__MSG0(commit, m->cb);
    objc_autoreleasePoolPop(pool);
    m->pending[m->n_pending++] = m->cb;
    m->cb = NULL;
    return IT_OK;
}
/* After every dispatch and MPS product: a full command buffer is committed and the next one
   opened on demand (the watchdog cut; the queue keeps them in order, nobody waits). */
static it_result it__mtl_op_encoded(it__mtl *m) {
    return ++m->cb_ops >= m->ops_per_cb ? it__mtl_commit(m) : IT_OK;
}
/* threads per group for row kernels: a multiple of the SIMD width, at most the pipeline's limit */
static it__NSUInteger it__mtl_tg(it__mtl *m, it__mtl_kernel k, it__NSUInteger want) {
    it__NSUInteger lim = m->max_threads[k];
    if (want > lim) want = lim;
    want = (want + 31) / 32 * 32;
    if (want > lim) want = lim / 32 * 32;
    return want ? want : 32;
}
/* One dispatch: args[0..n-1] as buffers 0..n-1, then the argument struct at index n.
   threads = 1: dispatchThreads (grid in threads), 0: dispatchThreadgroups (grid in groups). */
static it_result it__mtl_dispatch(it__mtl *m, it__mtl_kernel k, const it__mtl_arg *args, int n, const void *params,
                                  size_t params_size, it__MTLSize grid, it__MTLSize tg, int threads) {
    it_result r;
    int i;
    if (!grid.width || !grid.height || !grid.depth) return IT_OK; /* empty tensor: nothing to do */
    if (tg.width * tg.height * tg.depth > m->max_threads[k])
        return it_context_error(m->ctx, IT_ERR_BACKEND, "metal: %s needs %lu threads per group, the pipeline allows %lu",
                                it__mtl_kernel_names[k], tg.width * tg.height * tg.depth, m->max_threads[k]);
    if ((r = it__mtl_encoder(m)) != IT_OK) return r;
    IT__MSG(setComputePipelineState, m->enc, m->pso[k]);
    for (i = 0; i < n; i++) IT__MSG(setBuffer, m->enc, args[i].buf, (it__NSUInteger)args[i].off, (it__NSUInteger)i);
    IT__MSG(setBytes, m->enc, params, (it__NSUInteger)params_size, (it__NSUInteger)n);
    if (threads) IT__MSG(dispatchThreads, m->enc, grid, tg);
    else IT__MSG(dispatchThreadgroups, m->enc, grid, tg);
    m->stats.dispatches++;
    return it__mtl_op_encoded(m);
}
static it_result it__mtl_flat(it__mtl *m, it__mtl_kernel k, const it__mtl_arg *args, int n, unsigned count, float alpha,
                              unsigned nb) {
    it_elementwise_args p;
    memset(&p, 0, sizeof p);
    p.n = count;
    p.nb = nb ? nb : count;
    p.alpha = alpha;
    return it__mtl_dispatch(m, k, args, n, &p, sizeof p, it__size(count, 1, 1), it__size(it__mtl_tg(m, k, 256), 1, 1), 1);
}

/* >>metal_matmul  MPS for single products, our tiled kernel for batches ---------------------------- */
static void it__mtl_drop_cached(it__mtl *m, id buf) {
    int i = 0;
    while (i < m->n_mats)
        if (m->mats[i].buf == buf) {
            it__release(m->mats[i].matrix);
            it__release(m->mats[i].desc);
            m->mats[i] = m->mats[--m->n_mats];
        } else {
            i++;
        }
}
static id it__mtl_matrix_get(it__mtl *m, it__mtl_arg a, it__NSUInteger rows, it__NSUInteger cols) {
    int i;
    it__mtl_matrix *mm;
    id desc, mat;
    for (i = 0; i < m->n_mats; i++)
        if (m->mats[i].buf == a.buf && m->mats[i].off == a.off && m->mats[i].rows == rows && m->mats[i].cols == cols)
            return m->mats[i].matrix;
    if (IT__MTL_GROW(m, m->mats, m->n_mats, m->cap_mats) != IT_OK) return NULL;
    desc = IT__MSG(matrixDescriptor, it__cls.MPSMatrixDescriptor, rows, cols, cols * (it__NSUInteger)sizeof(float),
                   (it__MPSDataType)IT__MPS_FLOAT32); /* autoreleased: keep it */
    if (!desc) return NULL;
    IT__MSG0(retain, desc);
    mat = IT__MSG0(alloc, it__cls.MPSMatrix);
    mat = IT__MSG(initWithBuffer, mat, a.buf, (it__NSUInteger)a.off, desc);
    if (!mat) {
        it__release(desc);
        return NULL;
    }
    mm = &m->mats[m->n_mats++];
    mm->buf = a.buf;
    mm->off = a.off;
    mm->rows = rows;
    mm->cols = cols;
    mm->desc = desc;
    mm->matrix = mat;
    return mat;
}
static id it__mtl_gemm_get(it__mtl *m, int tl, int tr, it__NSUInteger M, it__NSUInteger N, it__NSUInteger K,
                           double beta) {
    int i;
    it__mtl_gemmk *g;
    id k;
    for (i = 0; i < m->n_gemms; i++)
        if (m->gemms[i].tl == tl && m->gemms[i].tr == tr && m->gemms[i].M == M && m->gemms[i].N == N &&
            m->gemms[i].K == K && m->gemms[i].beta == beta)
            return m->gemms[i].kernel;
    if (IT__MTL_GROW(m, m->gemms, m->n_gemms, m->cap_gemms) != IT_OK) return NULL;
    k = IT__MSG0(alloc, it__cls.MPSMatrixMultiplication);
    k = IT__MSG(initMatMul, k, m->device, (BOOL)(tl != 0), (BOOL)(tr != 0), M, N, K, 1.0, beta);
    if (!k) return NULL;
    g = &m->gemms[m->n_gemms++];
    g->tl = tl;
    g->tr = tr;
    g->M = M;
    g->N = N;
    g->K = K;
    g->beta = beta;
    g->kernel = k;
    return k;
}
/* c [M, N] (+)= op(a) @ op(b), like it_cpu_matmul; batch > 1 walks element strides (0 = shared) */
/* bf16 mixed precision (it_context_set_compute_dtype): a graph run's matrix products round their
   operands to bf16 and sum in fp32, as the CPU's; the decoder stays fp32. */
static int it__mtl_bf16(const it__mtl *m) { return it_context_compute_dtype(m->ctx) == IT_BF16; }
/* c [M, N] (+)= op(a) op(b) over `batch` slices (strides in floats): MPS for one fp32 product, our
   tiled kernel for batches and for bf16 operands (bf16: rounded as the tiles are staged; MPS takes
   matrices of one MPSDataType, and a bf16 copy of every f32 operand is what this avoids) */
static it_result it__mtl_gemm(it__mtl *m, it__mtl_arg c, it__mtl_arg a, it__mtl_arg b, int M, int N, int K, int ta,
                              int tb, int acc, int batch, size_t sc, size_t sa, size_t sb, int bf16) {
    if (M <= 0 || N <= 0 || batch <= 0) return IT_OK;
    if (K <= 0) { /* an empty product: c = 0 unless accumulating */
        it_result r = IT_OK;
        int i;
        for (i = 0; i < batch && !acc && r == IT_OK; i++) {
            it__mtl_arg ci = c;
            ci.off += (size_t)i * sc * sizeof(float);
            r = it__mtl_flat(m, IT__K_FILL, &ci, 1, (unsigned)(M * N), 0.0f, 0);
        }
        return r;
    }
    if (m->use_mps && batch == 1 && !bf16) {
        it_result r;
        id A = it__mtl_matrix_get(m, a, (it__NSUInteger)(ta ? K : M), (it__NSUInteger)(ta ? M : K));
        id B = it__mtl_matrix_get(m, b, (it__NSUInteger)(tb ? N : K), (it__NSUInteger)(tb ? K : N));
        id C = it__mtl_matrix_get(m, c, (it__NSUInteger)M, (it__NSUInteger)N);
        id G = it__mtl_gemm_get(m, ta, tb, (it__NSUInteger)M, (it__NSUInteger)N, (it__NSUInteger)K, acc ? 1.0 : 0.0);
        if (!A || !B || !C || !G) return it_context_error(m->ctx, IT_ERR_BACKEND, "metal: cannot create MPS matmul objects");
        /* MPS does not promise to ignore C at beta 0, and an arena output may hold a NaN from the
           buffer's last use: it would survive 0 * NaN. Zero C first (one fill). */
        if (!acc && (r = it__mtl_flat(m, IT__K_FILL, &c, 1, (unsigned)M * (unsigned)N, 0.0f, 0)) != IT_OK) return r;
        if ((r = it__mtl_cmdbuf(m)) != IT_OK) return r;
        it__mtl_end_encoder(m); /* MPS encodes its own passes into the command buffer */
        IT__MSG(encodeMatMul, G, m->cb, A, B, C);
        m->stats.mps_encodes++;
        return it__mtl_op_encoded(m);
    } else {
        it_matmul_args p;
        it__mtl_arg args[3];
        it_result r = IT_OK;
        int i;
        /* bf16: the simdgroup-matrix kernel where the device compiled it (it__mtl_bf16_setup) */
        const it__mtl_kernel k = bf16 && m->pso[IT__K_MATMUL_BF16_SG] ? IT__K_MATMUL_BF16_SG : IT__K_MATMUL;
        const it__MTLSize tg = it__size(k == IT__K_MATMUL ? 256 : 128, 1, 1);
        memset(&p, 0, sizeof p);
        p.M = (unsigned)M;
        p.N = (unsigned)N;
        p.K = (unsigned)K;
        p.trans_a = (unsigned)ta;
        p.trans_b = (unsigned)tb;
        p.accumulate = (unsigned)acc;
        p.bf16 = (unsigned)bf16;
        p.batch_stride_a = (unsigned)sa;
        p.batch_stride_b = (unsigned)sb;
        p.batch_stride_c = (unsigned)sc;
        args[0] = c;
        args[1] = a;
        args[2] = b;
        if (sc || batch == 1) /* distinct outputs: the batch is grid z */
            return it__mtl_dispatch(m, k, args, 3, &p, sizeof p,
                                    it__size((it__NSUInteger)(N + 31) / 32, (it__NSUInteger)(M + 31) / 32, (it__NSUInteger)batch),
                                    tg, 0);
        /* a shared output accumulates over the batch: one dispatch per item, in order */
        p.batch_stride_a = p.batch_stride_b = p.batch_stride_c = 0;
        for (i = 0; i < batch && r == IT_OK; i++) {
            args[1].off = a.off + (size_t)i * sa * sizeof(float);
            args[2].off = b.off + (size_t)i * sb * sizeof(float);
            p.accumulate = (unsigned)(acc || i > 0);
            r = it__mtl_dispatch(m, k, args, 3, &p, sizeof p,
                                 it__size((it__NSUInteger)(N + 31) / 32, (it__NSUInteger)(M + 31) / 32, 1), tg, 0);
        }
        return r;
    }
}

/* >>metal_ops  one forward and one backward per op, mirroring >>cpu in irontensor.h -------------- */
#define IT__MTL_M ((it__mtl *)be->impl)
static int it__mtl_last(const it_tensor *t) { return it_tensor_dim(t, -1); }
static size_t it__mtl_rows(const it_tensor *t) { return it_tensor_numel(t) / (size_t)it__mtl_last(t); }
static it_tensor *it__mtl_grad(it_tensor *t) { return it_grad_tensor(t); }

/* the products it_matmul_gemms describes, each one it__mtl_gemm over its slices */
static it_result it__mtl_matmul_run(it_backend *be, const it_node *n, int backward) {
    it__mtl *m = IT__MTL_M;
    it_gemm gemms[2];
    int count = it_matmul_gemms(n, backward, gemms), k;
    for (k = 0; k < count; k++) {
        const it_gemm *p = &gemms[k];
        it__mtl_arg a, b, c;
        IT__MTL_T(p->c, c);
        IT__MTL_T(p->a, a);
        IT__MTL_T(p->b, b);
        IT__MTL_TRY(it__mtl_gemm(m, c, a, b, p->M, p->N, p->K, p->trans_a, p->trans_b, p->accumulate, p->batch,
                                 p->stride_c, p->stride_a, p->stride_b, it__mtl_bf16(m)));
    }
    return IT_OK;
}
static it_result it__mtl_matmul_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)g;
    return it__mtl_matmul_run(be, n, 0);
}
static it_result it__mtl_matmul_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)g;
    return it__mtl_matmul_run(be, n, 1);
}

static it_result it__mtl_binary_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[3];
    (void)g;
    IT__MTL_T(n->out, x[0]);
    IT__MTL_T(n->in[0], x[1]);
    IT__MTL_T(n->in[1], x[2]);
    return it__mtl_flat(m, n->op == IT_OP_ADD ? IT__K_ADD : IT__K_MUL, x, 3, (unsigned)it_tensor_numel(n->out), 0.0f,
                        (unsigned)it_tensor_numel(n->in[1]));
}
/* Column reductions (weight and bias gradients of norms and broadcast adds) in two passes, as
   it_column_sum_args describes: a first kernel writes partials [n_blocks, C] over row blocks,
   it_sum_rows_f32 then adds them in block order. C x n_blocks threads instead of C walking every
   row, and the same sum on every run. */
static it_column_sum_args it__mtl_column_args(unsigned N, unsigned C, unsigned *n_blocks) {
    it_column_sum_args p;
    memset(&p, 0, sizeof p);
    p.N = N;
    p.C = C;
    p.block_rows = IT_COLUMN_BLOCK_ROWS(N);
    *n_blocks = (N + p.block_rows - 1) / p.block_rows;
    return p;
}
/* one pass of kernel k over (C, n_blocks) threads */
static it_result it__mtl_column_pass(it__mtl *m, it__mtl_kernel k, const it__mtl_arg *x, int n, const it_column_sum_args *p) {
    unsigned nb = (p->N + p->block_rows - 1) / p->block_rows;
    return it__mtl_dispatch(m, k, x, n, p, sizeof *p, it__size(p->C, nb, 1), it__size(it__mtl_tg(m, k, p->C < 256 ? p->C : 256), 1, 1), 1);
}
/* Kernel k (bindings x[0..n-1], its n_out outputs first) adds column sums into out[0..n_out-1]
   (out[1] NULL: never written, layernorm without a bias). One row block: straight into the
   outputs; more: partials in the step's temporaries, then out[j] += their sum, blocks in order. */
static it_result it__mtl_columns(it__mtl *m, it__mtl_kernel k, it__mtl_arg *x, int n, int n_out, const it__mtl_arg *const *out,
                                 it_column_sum_args p) {
    unsigned nb = (p.N + p.block_rows - 1) / p.block_rows;
    int j;
    if (nb == 1) {
        p.accumulate = 1;
        for (j = 0; j < n_out; j++) x[j] = out[j] ? *out[j] : *out[0];
        return it__mtl_column_pass(m, k, x, n, &p);
    }
    for (j = 0; j < n_out; j++)
        if (!out[j]) x[j] = x[0]; /* bound, never written */
        else IT__MTL_TRY(it__mtl_temp(m, (size_t)nb * p.C * sizeof(float), &x[j], NULL));
    IT__MTL_TRY(it__mtl_column_pass(m, k, x, n, &p));
    for (j = 0; j < n_out; j++) {
        it_column_sum_args q;
        it__mtl_arg y[2];
        unsigned one;
        if (!out[j]) continue;
        q = it__mtl_column_args(nb, p.C, &one);
        q.block_rows = nb;
        q.accumulate = 1;
        y[0] = *out[j], y[1] = x[j];
        IT__MTL_TRY(it__mtl_column_pass(m, IT__K_SUM_ROWS, y, 2, &q));
    }
    return IT_OK;
}
/* db [C] += the column sums of dout [N, C] (bias gradients) */
static it_result it__mtl_sum_rows(it__mtl *m, it__mtl_arg db, it__mtl_arg dout, unsigned N, unsigned C) {
    unsigned nb;
    const it__mtl_arg *out[1];
    it__mtl_arg x[2];
    out[0] = &db;
    x[1] = dout;
    return it__mtl_columns(m, IT__K_SUM_ROWS, x, 2, 1, out, it__mtl_column_args(N, C, &nb));
}

static it_result it__mtl_binary_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    unsigned count = (unsigned)it_tensor_numel(n->in[0]), nb = (unsigned)it_tensor_numel(n->in[1]);
    it_tensor *da = it__mtl_grad(n->in[0]), *db = it__mtl_grad(n->in[1]);
    it__mtl_arg dout, a, b, x[5], tmp;
    (void)g;
    IT__MTL_T(it__mtl_grad(n->out), dout);
    IT__MTL_T(n->in[0], a);
    IT__MTL_T(n->in[1], b);
    if (n->op == IT_OP_ADD) {
        if (da) { /* da += dout */
            IT__MTL_T(da, x[0]);
            x[1] = dout;
            IT__MTL_TRY(it__mtl_flat(m, IT__K_AXPY, x, 2, count, 1.0f, 0));
        }
        if (db) { /* db += dout summed over a's leading rows */
            IT__MTL_T(db, x[0]);
            IT__MTL_TRY(it__mtl_sum_rows(m, x[0], dout, count / nb, nb));
        }
        return IT_OK;
    }
    if (da && db && nb == count) { /* same shapes: one kernel for both */
        IT__MTL_T(da, x[0]);
        IT__MTL_T(db, x[1]);
        x[2] = dout;
        x[3] = a;
        x[4] = b;
        return it__mtl_flat(m, IT__K_MUL_BWD, x, 5, count, 0.0f, 0);
    }
    IT__MTL_TRY(it__mtl_temp(m, (size_t)count * sizeof(float), &tmp, NULL));
    if (da) { /* tmp = dout * b (broadcast); da += tmp */
        x[0] = tmp;
        x[1] = dout;
        x[2] = b;
        IT__MTL_TRY(it__mtl_flat(m, IT__K_MUL, x, 3, count, 0.0f, nb));
        IT__MTL_T(da, x[0]);
        x[1] = tmp;
        IT__MTL_TRY(it__mtl_flat(m, IT__K_AXPY, x, 2, count, 1.0f, 0));
    }
    if (db) { /* tmp = dout * a; db += rows of tmp */
        x[0] = tmp;
        x[1] = dout;
        x[2] = a;
        IT__MTL_TRY(it__mtl_flat(m, IT__K_MUL, x, 3, count, 0.0f, count));
        IT__MTL_T(db, x[0]);
        IT__MTL_TRY(it__mtl_sum_rows(m, x[0], tmp, count / nb, nb));
    }
    return IT_OK;
}

/* scale, silu, gelu, swiglu */
static it_result it__mtl_elementwise_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[3];
    unsigned count = (unsigned)it_tensor_numel(n->out);
    (void)g;
    IT__MTL_T(n->out, x[0]);
    IT__MTL_T(n->in[0], x[1]);
    switch (n->op) {
    case IT_OP_SCALE: return it__mtl_flat(m, IT__K_SCALE, x, 2, count, n->fparam[0], 0);
    case IT_OP_SILU: return it__mtl_flat(m, IT__K_SILU, x, 2, count, 0.0f, 0);
    case IT_OP_GELU: return it__mtl_flat(m, IT__K_GELU, x, 2, count, 0.0f, 0);
    default: IT__MTL_T(n->in[1], x[2]); return it__mtl_flat(m, IT__K_SWIGLU, x, 3, count, 0.0f, 0);
    }
}
static it_result it__mtl_elementwise_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[5];
    unsigned count = (unsigned)it_tensor_numel(n->out);
    it_tensor *dx = it__mtl_grad(n->in[0]);
    (void)g;
    if (n->op == IT_OP_SWIGLU) {
        it_tensor *dup = it__mtl_grad(n->in[1]);
        if (!dx && !dup) return IT_OK;
        if (dx) IT__MTL_T(dx, x[0]);
        else IT__MTL_TRY(it__mtl_temp(m, (size_t)count * sizeof(float), &x[0], NULL)); /* a sink */
        if (dup) IT__MTL_T(dup, x[1]);
        else IT__MTL_TRY(it__mtl_temp(m, (size_t)count * sizeof(float), &x[1], NULL));
        IT__MTL_T(it__mtl_grad(n->out), x[2]);
        IT__MTL_T(n->in[0], x[3]);
        IT__MTL_T(n->in[1], x[4]);
        return it__mtl_flat(m, IT__K_SWIGLU_BWD, x, 5, count, 0.0f, 0);
    }
    if (!dx) return IT_OK;
    IT__MTL_T(dx, x[0]);
    IT__MTL_T(it__mtl_grad(n->out), x[1]);
    if (n->op == IT_OP_SCALE) return it__mtl_flat(m, IT__K_AXPY, x, 2, count, n->fparam[0], 0);
    IT__MTL_T(n->in[0], x[2]);
    return it__mtl_flat(m, n->op == IT_OP_SILU ? IT__K_SILU_BWD : IT__K_GELU_BWD, x, 3, count, 0.0f, 0);
}

/* out [N, C] = rows ids [N] of table [V, C] (the graph's embedding and the decoder's) */
static it_result it__mtl_encode_embedding(it__mtl *m, it__mtl_arg out, it__mtl_arg ids, it__mtl_arg table, unsigned N,
                                          unsigned C, unsigned V) {
    it__mtl_arg x[3];
    it_embedding_args p;
    it__NSUInteger tx = it__mtl_tg(m, IT__K_EMBED, 64);
    memset(&p, 0, sizeof p);
    p.N = N;
    p.C = C;
    p.V = V;
    x[0] = out, x[1] = ids, x[2] = table;
    return it__mtl_dispatch(m, IT__K_EMBED, x, 3, &p, sizeof p, it__size(p.C, p.N, 1),
                            it__size(tx, m->max_threads[IT__K_EMBED] / tx >= 4 ? 4 : 1, 1), 1);
}
static it_result it__mtl_embedding_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg out, ids, table;
    (void)g;
    IT__MTL_T(n->out, out);
    IT__MTL_T(n->in[1], ids);
    IT__MTL_T(n->in[0], table);
    return it__mtl_encode_embedding(m, out, ids, table, (unsigned)it_tensor_numel(n->in[1]), (unsigned)it_tensor_dim(n->in[0], 1),
                                    (unsigned)it_tensor_dim(n->in[0], 0));
}
static it_result it__mtl_embedding_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[4];
    it_embedding_args p;
    const int32_t *ids = it_data_i32(n->in[1]);
    uint32_t *order, *tmp;
    void *cpu;
    unsigned i, w, N;
    (void)g;
    if (!it__mtl_grad(n->in[0])) return IT_OK;
    if (it_tensor_block(n->in[1], NULL) != IT_BLOCK_INPUTS)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED,
                                "metal: embedding backward needs ids the host wrote ('%s' is computed on the GPU)",
                                it_tensor_name(n->in[1]));
    memset(&p, 0, sizeof p);
    N = p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.C = (unsigned)it_tensor_dim(n->in[0], 1);
    p.V = (unsigned)it_tensor_dim(n->in[0], 0);
    /* order = stable argsort of the ids (bottom-up merge sort in the transient buffer): each table
       row then has one writer and sums its tokens in position order, like the CPU */
    IT__MTL_TRY(it__mtl_temp(m, (size_t)N * 2 * sizeof(uint32_t), &x[3], &cpu));
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
    IT__MTL_T(it__mtl_grad(n->in[0]), x[0]);
    IT__MTL_T(it__mtl_grad(n->out), x[1]);
    IT__MTL_T(n->in[1], x[2]);
    return it__mtl_dispatch(m, IT__K_EMBED_BWD, x, 4, &p, sizeof p, it__size(N, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_EMBED_BWD, p.C < 256 ? p.C : 256), 1, 1), 0);
}

/* out [N, C] = RMSNorm (stat0 = rstd) or LayerNorm (stat0 = mean, stat1 = rstd; b bound when
   has_bias, any buffer otherwise: Metal wants every argument bound) of x; out may be x */
static it_result it__mtl_encode_norm(it__mtl *m, int rms, it__mtl_arg out, it__mtl_arg stat0, it__mtl_arg stat1,
                                     it__mtl_arg x, it__mtl_arg w, const it__mtl_arg *b, unsigned N, unsigned C, float eps) {
    it__mtl_arg a[6];
    it_norm_args p;
    it__mtl_kernel k = rms ? IT__K_RMSNORM : IT__K_LAYERNORM;
    memset(&p, 0, sizeof p);
    p.N = N;
    p.C = C;
    p.eps = eps;
    p.has_bias = b != NULL;
    a[0] = out, a[1] = stat0;
    if (rms) a[2] = x, a[3] = w;
    else a[2] = stat1, a[3] = x, a[4] = w, a[5] = b ? *b : w;
    return it__mtl_dispatch(m, k, a, rms ? 4 : 6, &p, sizeof p, it__size(p.N, 1, 1),
                            it__size(it__mtl_tg(m, k, p.C < 256 ? p.C : 256), 1, 1), 0);
}
static it_result it__mtl_norm_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg out, s0, s1, x, w, b;
    int rms = n->op == IT_OP_RMSNORM;
    (void)g;
    IT__MTL_T(n->out, out);
    IT__MTL_T(n->saved[0], s0);
    if (!rms) IT__MTL_T(n->saved[1], s1);
    else s1 = s0;
    IT__MTL_T(n->in[0], x);
    IT__MTL_T(n->in[1], w);
    if (n->n_in > 2) IT__MTL_T(n->in[2], b);
    return it__mtl_encode_norm(m, rms, out, s0, s1, x, w, n->n_in > 2 ? &b : NULL, (unsigned)it__mtl_rows(n->in[0]),
                               (unsigned)it__mtl_last(n->in[0]), n->fparam[0]);
}
static it_result it__mtl_norm_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[7];
    it_norm_args p;
    int rms = n->op == IT_OP_RMSNORM;
    it_tensor *dx = it__mtl_grad(n->in[0]), *dw = it__mtl_grad(n->in[1]), *db = n->n_in > 2 ? it__mtl_grad(n->in[2]) : NULL;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__mtl_rows(n->in[0]);
    p.C = (unsigned)it__mtl_last(n->in[0]);
    p.eps = n->fparam[0];
    p.has_bias = db != NULL;
    if (dx) {
        it__mtl_kernel k = rms ? IT__K_RMSNORM_BWD : IT__K_LAYERNORM_BWD;
        IT__MTL_T(dx, x[0]);
        IT__MTL_T(it__mtl_grad(n->out), x[1]);
        IT__MTL_T(n->in[0], x[2]);
        IT__MTL_T(n->in[1], x[3]);
        IT__MTL_T(n->saved[0], x[4]);
        if (!rms) IT__MTL_T(n->saved[1], x[5]);
        IT__MTL_TRY(it__mtl_dispatch(m, k, x, rms ? 5 : 6, &p, sizeof p, it__size(p.N, 1, 1),
                                     it__size(it__mtl_tg(m, k, p.C < 256 ? p.C : 256), 1, 1), 0));
    }
    if (rms && dw) { /* dw += sum over rows of dout x rstd */
        unsigned nb;
        it__mtl_arg w;
        const it__mtl_arg *out[1];
        IT__MTL_T(dw, w);
        out[0] = &w;
        IT__MTL_T(it__mtl_grad(n->out), x[1]);
        IT__MTL_T(n->in[0], x[2]);
        IT__MTL_T(n->saved[0], x[3]);
        return it__mtl_columns(m, IT__K_RMSNORM_DW, x, 4, 1, out, it__mtl_column_args(p.N, p.C, &nb));
    }
    if (!rms && (dw || db)) { /* dw += sum dout xhat, db += sum dout */
        unsigned nb;
        it__mtl_arg w, b;
        const it__mtl_arg *out[2];
        it_column_sum_args q = it__mtl_column_args(p.N, p.C, &nb);
        if (dw) IT__MTL_T(dw, w);
        else IT__MTL_TRY(it__mtl_temp(m, (size_t)p.C * sizeof(float), &w, NULL)); /* a sink */
        if (db) IT__MTL_T(db, b);
        out[0] = &w;
        out[1] = db ? &b : NULL;
        q.has_bias = db != NULL;
        IT__MTL_T(it__mtl_grad(n->out), x[2]);
        IT__MTL_T(n->in[0], x[3]);
        IT__MTL_T(n->saved[0], x[4]);
        IT__MTL_T(n->saved[1], x[5]);
        return it__mtl_columns(m, IT__K_LAYERNORM_DWDB, x, 6, 2, out, q);
    }
    return IT_OK;
}

/* x [B, T, H, D] rotated into out (backward: the inverse rotation added to out); out may be x */
static it_result it__mtl_encode_rope(it__mtl *m, int backward, it__mtl_arg out, it__mtl_arg x, unsigned B, unsigned T, unsigned H,
                                     unsigned D, float theta, const it_rope_scaling *scaling, int pos_offset) {
    it__mtl_arg a[2];
    it_rope_args p;
    it__NSUInteger tx = D / 2 < 32 ? D / 2 : 32;
    memset(&p, 0, sizeof p);
    p.kind = (unsigned)scaling->kind;
    p.factor = scaling->factor;
    p.low_freq_factor = scaling->low_freq_factor;
    p.high_freq_factor = scaling->high_freq_factor;
    p.original_max_positions = scaling->original_max_positions;
    p.B = B;
    p.T = T;
    p.H = H;
    p.D = D;
    p.theta = theta;
    p.pos_offset = pos_offset;
    a[0] = out, a[1] = x;
    return it__mtl_dispatch(m, backward ? IT__K_ROPE_BWD : IT__K_ROPE, a, 2, &p, sizeof p,
                            it__size(p.D / 2, p.H, (it__NSUInteger)p.B * p.T), it__size(tx, 4, 1), 1);
}
static it_result it__mtl_rope(it_backend *be, const it_node *n, int backward) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg out, x;
    it_tensor *in = n->in[0];
    it_rope_scaling sc = it_node_rope_scaling(n);
    if (backward) {
        if (!it__mtl_grad(in)) return IT_OK;
        IT__MTL_T(it__mtl_grad(in), out);
        IT__MTL_T(it__mtl_grad(n->out), x);
    } else {
        IT__MTL_T(n->out, out);
        IT__MTL_T(in, x);
    }
    return it__mtl_encode_rope(m, backward, out, x, (unsigned)it_tensor_dim(in, 0), (unsigned)it_tensor_dim(in, 1),
                               (unsigned)it_tensor_dim(in, 2), (unsigned)it_tensor_dim(in, 3), n->fparam[0], &sc, n->iparam[0]);
}
static it_result it__mtl_rope_fwd(it_backend *be, it_graph *g, const it_node *n) { (void)g; return it__mtl_rope(be, n, 0); }
static it_result it__mtl_rope_bwd(it_backend *be, it_graph *g, const it_node *n) { (void)g; return it__mtl_rope(be, n, 1); }

static it_result it__mtl_softmax_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[2];
    it_norm_args p;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__mtl_rows(n->out);
    p.C = (unsigned)it__mtl_last(n->out);
    IT__MTL_T(n->out, x[0]);
    IT__MTL_T(n->in[0], x[1]);
    return it__mtl_dispatch(m, IT__K_SOFTMAX, x, 2, &p, sizeof p, it__size(p.N, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_SOFTMAX, p.C < 256 ? p.C : 256), 1, 1), 0);
}
static it_result it__mtl_softmax_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[3];
    it_norm_args p;
    (void)g;
    if (!it__mtl_grad(n->in[0])) return IT_OK;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it__mtl_rows(n->out);
    p.C = (unsigned)it__mtl_last(n->out);
    IT__MTL_T(it__mtl_grad(n->in[0]), x[0]);
    IT__MTL_T(it__mtl_grad(n->out), x[1]);
    IT__MTL_T(n->out, x[2]);
    return it__mtl_dispatch(m, IT__K_SOFTMAX_BWD, x, 3, &p, sizeof p, it__size(p.N, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_SOFTMAX_BWD, p.C < 256 ? p.C : 256), 1, 1), 0);
}

static it_result it__mtl_attention_args(it__mtl *m, const it_node *n, it_attention_args *p) {
    memset(p, 0, sizeof *p);
    p->window = n->iparam[0] > 0 ? (unsigned)n->iparam[0] : 0u;
    p->B = (unsigned)it_tensor_dim(n->in[0], 0);
    p->T = (unsigned)it_tensor_dim(n->in[0], 1);
    p->Hq = (unsigned)it_tensor_dim(n->in[0], 2);
    p->Hkv = (unsigned)it_tensor_dim(n->in[1], 2);
    p->D = (unsigned)it_tensor_dim(n->in[0], 3);
    p->scale = 1.0f / sqrtf((float)p->D);
    if (p->D > IT_ATTN_MAX_D)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "metal: attention head dim %u is above %d", p->D, IT_ATTN_MAX_D);
    return IT_OK;
}
static it_result it__mtl_attention_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[5];
    it_attention_args p;
    (void)g;
    IT__MTL_TRY(it__mtl_attention_args(m, n, &p));
    IT__MTL_T(n->out, x[0]);
    IT__MTL_T(n->saved[0], x[1]);
    IT__MTL_T(n->in[0], x[2]);
    IT__MTL_T(n->in[1], x[3]);
    IT__MTL_T(n->in[2], x[4]);
    return it__mtl_dispatch(m, IT__K_ATTN, x, 5, &p, sizeof p, it__size((p.T + 3) / 4, p.Hq, p.B), it__size(128, 1, 1), 0);
}
static it_result it__mtl_attention_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[8], delta, dout, q, k, v, lse, sink;
    it_attention_args p;
    it_tensor *dq = it__mtl_grad(n->in[0]), *dk = it__mtl_grad(n->in[1]), *dv = it__mtl_grad(n->in[2]);
    (void)g;
    if (!dq && !dk && !dv) return IT_OK;
    IT__MTL_TRY(it__mtl_attention_args(m, n, &p));
    IT__MTL_T(it__mtl_grad(n->out), dout);
    IT__MTL_T(n->in[0], q);
    IT__MTL_T(n->in[1], k);
    IT__MTL_T(n->in[2], v);
    IT__MTL_T(n->saved[0], lse);
    IT__MTL_TRY(it__mtl_temp(m, (size_t)p.B * p.Hq * p.T * sizeof(float), &delta, NULL));
    x[0] = delta;
    x[1] = dout;
    IT__MTL_T(n->out, x[2]);
    IT__MTL_TRY(it__mtl_dispatch(m, IT__K_ATTN_DELTA, x, 3, &p, sizeof p, it__size(p.Hq, p.T, p.B),
                                 it__size(p.Hq <= 32 ? p.Hq : 32, 4, 1), 1));
    if (dq) {
        IT__MTL_T(dq, x[0]);
        x[1] = dout, x[2] = q, x[3] = k, x[4] = v, x[5] = lse, x[6] = delta;
        IT__MTL_TRY(it__mtl_dispatch(m, IT__K_ATTN_DQ, x, 7, &p, sizeof p, it__size((p.T + 3) / 4, p.Hq, p.B),
                                     it__size(128, 1, 1), 0));
    }
    if (dk || dv) {
        if (!dk || !dv) IT__MTL_TRY(it__mtl_temp(m, it_tensor_nbytes(n->in[1]), &sink, NULL));
        if (dk) IT__MTL_T(dk, x[0]);
        else x[0] = sink;
        if (dv) IT__MTL_T(dv, x[1]);
        else x[1] = sink;
        x[2] = dout, x[3] = q, x[4] = k, x[5] = v, x[6] = lse, x[7] = delta;
        IT__MTL_TRY(it__mtl_dispatch(m, IT__K_ATTN_DKV, x, 8, &p, sizeof p, it__size((p.T + 3) / 4, p.Hkv, p.B),
                                     it__size(128, 1, 1), 0));
    }
    return IT_OK;
}

/* cross-entropy and the fused head: statistics per vocabulary chunk in a transient state [3, N],
   then lse, losses and the mean over counted rows; backward scales by d(loss)/count on the GPU */
static it_result it__mtl_cross_entropy_tail(it__mtl *m, const it_node *n, it_tensor *targets, it__mtl_arg state, it_cross_entropy_args *p) {
    it__mtl_arg x[4];
    IT__MTL_T(n->saved[0], x[0]);
    IT__MTL_T(n->saved[1], x[1]);
    x[2] = state;
    IT__MTL_T(targets, x[3]);
    IT__MTL_TRY(it__mtl_dispatch(m, IT__K_CROSS_ENTROPY_FINISH, x, 4, p, sizeof *p, it__size(p->N, 1, 1),
                                 it__size(it__mtl_tg(m, IT__K_CROSS_ENTROPY_FINISH, 64), 1, 1), 1));
    IT__MTL_T(n->out, x[0]);
    IT__MTL_T(n->saved[0], x[1]);
    IT__MTL_T(targets, x[2]);
    return it__mtl_dispatch(m, IT__K_CROSS_ENTROPY_MEAN, x, 3, p, sizeof *p, it__size(1, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_CROSS_ENTROPY_MEAN, 256), 1, 1), 0);
}
static it_result it__mtl_cross_entropy_stats(it__mtl *m, it__mtl_arg state, it__mtl_arg logits, it_tensor *targets, it_cross_entropy_args *p) {
    it__mtl_arg x[3];
    x[0] = state;
    x[1] = logits;
    IT__MTL_T(targets, x[2]);
    return it__mtl_dispatch(m, IT__K_CROSS_ENTROPY_STATS, x, 3, p, sizeof *p, it__size(p->N, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_CROSS_ENTROPY_STATS, p->chunk < 256 ? p->chunk : 256), 1, 1), 0);
}
static it_result it__mtl_cross_entropy_scale(it__mtl *m, const it_node *n, it_tensor *targets, it_cross_entropy_args *p, it__mtl_arg *scale) {
    it__mtl_arg x[3];
    IT__MTL_TRY(it__mtl_temp(m, sizeof(float), scale, NULL));
    x[0] = *scale;
    IT__MTL_T(it__mtl_grad(n->out), x[1]);
    IT__MTL_T(targets, x[2]);
    return it__mtl_dispatch(m, IT__K_CROSS_ENTROPY_SCALE, x, 3, p, sizeof *p, it__size(1, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_CROSS_ENTROPY_SCALE, 256), 1, 1), 0);
}
static it_result it__mtl_cross_entropy_dlogits(it__mtl *m, it__mtl_arg dlogits, it__mtl_arg logits, const it_node *n,
                                    it_tensor *targets, it__mtl_arg scale, it_cross_entropy_args *p) {
    it__mtl_arg x[5];
    x[0] = dlogits;
    x[1] = logits;
    IT__MTL_T(n->saved[1], x[2]);
    IT__MTL_T(targets, x[3]);
    x[4] = scale;
    return it__mtl_dispatch(m, IT__K_CROSS_ENTROPY_DLOGITS, x, 5, p, sizeof *p, it__size(p->chunk, p->N, 1),
                            it__size(it__mtl_tg(m, IT__K_CROSS_ENTROPY_DLOGITS, 64), 4, 1), 1);
}
static it_result it__mtl_cross_entropy_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg state, logits;
    it_cross_entropy_args p;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.V = p.chunk = p.ld = (unsigned)it__mtl_last(n->in[0]);
    p.ignore_index = n->iparam[0];
    IT__MTL_TRY(it__mtl_temp(m, (size_t)3 * p.N * sizeof(float), &state, NULL));
    IT__MTL_T(n->in[0], logits);
    IT__MTL_TRY(it__mtl_cross_entropy_stats(m, state, logits, n->in[1], &p));
    return it__mtl_cross_entropy_tail(m, n, n->in[1], state, &p);
}
static it_result it__mtl_cross_entropy_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg scale, dlogits, logits;
    it_cross_entropy_args p;
    (void)g;
    if (!it__mtl_grad(n->in[0])) return IT_OK;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)it_tensor_numel(n->in[1]);
    p.V = p.chunk = p.ld = (unsigned)it__mtl_last(n->in[0]);
    p.ignore_index = n->iparam[0];
    p.accumulate = 1;
    IT__MTL_TRY(it__mtl_cross_entropy_scale(m, n, n->in[1], &p, &scale));
    IT__MTL_T(it__mtl_grad(n->in[0]), dlogits);
    IT__MTL_T(n->in[0], logits);
    return it__mtl_cross_entropy_dlogits(m, dlogits, logits, n, n->in[1], scale, &p);
}
static it_result it__mtl_linear_cross_entropy_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg state, x, w, scratch, wc;
    it_cross_entropy_args p;
    int N = (int)it_tensor_numel(n->in[2]), C = it__mtl_last(n->in[0]), V = it_tensor_dim(n->in[1], 0);
    int chunk = n->iparam[1], v0;
    (void)g;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)N;
    p.V = (unsigned)V;
    p.ignore_index = n->iparam[0];
    IT__MTL_TRY(it__mtl_temp(m, (size_t)3 * p.N * sizeof(float), &state, NULL));
    IT__MTL_T(n->in[0], x);
    IT__MTL_T(n->in[1], w);
    IT__MTL_T(n->scratch, scratch);
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = chunk < V - v0 ? chunk : V - v0;
        wc = w;
        wc.off += (size_t)v0 * C * sizeof(float);
        IT__MTL_TRY(it__mtl_gemm(m, scratch, x, wc, N, cv, C, 0, 1, 0, 1, 0, 0, 0, it__mtl_bf16(m))); /* logits [N, cv] */
        p.v0 = (unsigned)v0;
        p.chunk = p.ld = (unsigned)cv;
        IT__MTL_TRY(it__mtl_cross_entropy_stats(m, state, scratch, n->in[2], &p));
    }
    return it__mtl_cross_entropy_tail(m, n, n->in[2], state, &p);
}
static it_result it__mtl_linear_cross_entropy_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg scale, x, w, scratch, wc, dx, dw;
    it_cross_entropy_args p;
    it_tensor *tdx = it__mtl_grad(n->in[0]), *tdw = it__mtl_grad(n->in[1]);
    int N = (int)it_tensor_numel(n->in[2]), C = it__mtl_last(n->in[0]), V = it_tensor_dim(n->in[1], 0);
    int chunk = n->iparam[1], v0;
    (void)g;
    if (!tdx && !tdw) return IT_OK;
    memset(&p, 0, sizeof p);
    p.N = (unsigned)N;
    p.V = (unsigned)V;
    p.ignore_index = n->iparam[0];
    IT__MTL_TRY(it__mtl_cross_entropy_scale(m, n, n->in[2], &p, &scale));
    IT__MTL_T(n->in[0], x);
    IT__MTL_T(n->in[1], w);
    IT__MTL_T(n->bwd_scratch, scratch);
    if (tdx) IT__MTL_T(tdx, dx);
    if (tdw) IT__MTL_T(tdw, dw);
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = chunk < V - v0 ? chunk : V - v0;
        wc = w;
        wc.off += (size_t)v0 * C * sizeof(float);
        IT__MTL_TRY(it__mtl_gemm(m, scratch, x, wc, N, cv, C, 0, 1, 0, 1, 0, 0, 0, it__mtl_bf16(m))); /* logits [N, cv] */
        p.v0 = (unsigned)v0;
        p.chunk = p.ld = (unsigned)cv;
        IT__MTL_TRY(it__mtl_cross_entropy_dlogits(m, scratch, scratch, n, n->in[2], scale, &p)); /* in place */
        if (tdx) IT__MTL_TRY(it__mtl_gemm(m, dx, scratch, wc, N, C, cv, 0, 0, 1, 1, 0, 0, 0, it__mtl_bf16(m))); /* dx += dl @ Wc */
        if (tdw) {
            it__mtl_arg dwc = dw;
            dwc.off += (size_t)v0 * C * sizeof(float);
            IT__MTL_TRY(it__mtl_gemm(m, dwc, scratch, x, cv, C, N, 1, 0, 1, 1, 0, 0, 0, it__mtl_bf16(m))); /* dWc += dl^T x */
        }
    }
    return IT_OK;
}

static it_result it__mtl_reduce_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[2];
    it_elementwise_args p;
    size_t count = it_tensor_numel(n->in[0]);
    (void)g;
    memset(&p, 0, sizeof p);
    p.n = (unsigned)count;
    p.alpha = n->op == IT_OP_MEAN ? 1.0f / (float)count : 1.0f;
    IT__MTL_T(n->out, x[0]);
    IT__MTL_T(n->in[0], x[1]);
    return it__mtl_dispatch(m, IT__K_SUM, x, 2, &p, sizeof p, it__size(1, 1, 1), it__size(it__mtl_tg(m, IT__K_SUM, 1024), 1, 1), 0);
}
static it_result it__mtl_reduce_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x[2];
    size_t count = it_tensor_numel(n->in[0]);
    (void)g;
    if (!it__mtl_grad(n->in[0])) return IT_OK;
    IT__MTL_T(it__mtl_grad(n->in[0]), x[0]);
    IT__MTL_T(it__mtl_grad(n->out), x[1]);
    return it__mtl_flat(m, IT__K_ADD_SCALAR, x, 2, (unsigned)count, n->op == IT_OP_MEAN ? 1.0f / (float)count : 1.0f, 0);
}
/* lora: the base product through the backend's own op (MPS), then the rank-r branch in
   shaders/lora.metal, as >>cpu's it__cpu_lora_* does it: y = x W^T; u = scale x A^T [N, r]
   (saved); y += u B^T in place. Backward: the base op's (dx += dy W); dB += dy^T u and
   dA += du^T x as MPS products over the rows; du = scale dy B, dx += du A. */
static it_result it__mtl_lora_down(it__mtl *m, it__mtl_arg u, it__mtl_arg x, it__mtl_arg mat, unsigned N, unsigned K, unsigned r,
                                   unsigned ld_row, unsigned ld_col, float scale) {
    it__mtl_arg a[3];
    it_lora_args p;
    it__NSUInteger tx = it__mtl_tg(m, IT__K_LORA_DOWN, 32 * (r < 8 ? r : 8));
    memset(&p, 0, sizeof p);
    p.N = N, p.K = K, p.r = r, p.ld_row = ld_row, p.ld_col = ld_col, p.scale = scale;
    p.bf16 = (unsigned)it__mtl_bf16(m);
    a[0] = u, a[1] = x, a[2] = mat;
    return it__mtl_dispatch(m, IT__K_LORA_DOWN, a, 3, &p, sizeof p, it__size(N, (r + tx / 32 - 1) / (tx / 32), 1),
                            it__size(tx, 1, 1), 0);
}
static it_result it__mtl_lora_up(it__mtl *m, it__mtl_arg y, it__mtl_arg u, it__mtl_arg mat, unsigned N, unsigned K, unsigned r,
                                 unsigned ld_row, unsigned ld_col) {
    it__mtl_arg a[3];
    it_lora_args p;
    it__NSUInteger tx = it__mtl_tg(m, IT__K_LORA_UP, 64);
    memset(&p, 0, sizeof p);
    p.N = N, p.K = K, p.r = r, p.ld_row = ld_row, p.ld_col = ld_col, p.scale = 1.0f;
    p.bf16 = (unsigned)it__mtl_bf16(m);
    a[0] = y, a[1] = u, a[2] = mat;
    return it__mtl_dispatch(m, IT__K_LORA_UP, a, 3, &p, sizeof p, it__size(K, N, 1),
                            it__size(tx, m->max_threads[IT__K_LORA_UP] / tx >= 4 ? 4 : 1, 1), 1);
}
/* the base product as its own op's node, when this backend has that op */
static it_result it__mtl_lora_base(it_backend *be, const it_node *n, it_node *base) {
    *base = it_lora_base_node(n);
    if (!be->forward[base->op] || !be->backward[base->op])
        return it_context_error(IT__MTL_M->ctx, IT_ERR_UNSUPPORTED, "metal: lora over a '%s' base product is not implemented",
                                it_op_name(base->op));
    return IT_OK;
}
static it_result it__mtl_lora_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it_node base;
    it__mtl_arg y, u, x, a, b;
    unsigned N = (unsigned)it__mtl_rows(n->in[0]), in = (unsigned)it__mtl_last(n->in[0]), out = (unsigned)it__mtl_last(n->out);
    unsigned r = (unsigned)it_tensor_dim(n->in[2], 0);
    IT__MTL_TRY(it__mtl_lora_base(be, n, &base));
    IT__MTL_TRY(be->forward[base.op](be, g, &base)); /* y = x W^T */
    IT__MTL_T(n->out, y);
    IT__MTL_T(n->saved[0], u);
    IT__MTL_T(n->in[0], x);
    IT__MTL_T(n->in[2], a);
    IT__MTL_T(n->in[3], b);
    IT__MTL_TRY(it__mtl_lora_down(m, u, x, a, N, in, r, in, 1, n->fparam[0])); /* u = scale x A^T */
    return it__mtl_lora_up(m, y, u, b, N, out, r, r, 1);                      /* y += u B^T */
}
static it_result it__mtl_lora_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__mtl *m = IT__MTL_M;
    it_node base;
    it__mtl_arg dy, u, du, x, a, b, d;
    it_tensor *dx = it__mtl_grad(n->in[0]), *da = it__mtl_grad(n->in[2]), *db = it__mtl_grad(n->in[3]);
    unsigned N = (unsigned)it__mtl_rows(n->in[0]), in = (unsigned)it__mtl_last(n->in[0]), out = (unsigned)it__mtl_last(n->out);
    unsigned r = (unsigned)it_tensor_dim(n->in[2], 0);
    IT__MTL_TRY(it__mtl_lora_base(be, n, &base));
    IT__MTL_TRY(be->backward[base.op](be, g, &base)); /* dx += dy W (and dW when W trains) */
    IT__MTL_T(it__mtl_grad(n->out), dy);
    IT__MTL_T(n->saved[0], u);
    if (db) { /* dB [out, r] += dy^T u */
        IT__MTL_T(db, d);
        IT__MTL_TRY(it__mtl_gemm(m, d, dy, u, (int)out, (int)r, (int)N, 1, 0, 1, 1, 0, 0, 0, it__mtl_bf16(m)));
    }
    if (!da && !dx) return IT_OK;
    IT__MTL_T(n->bwd_scratch, du);
    IT__MTL_T(n->in[0], x);
    IT__MTL_T(n->in[2], a);
    IT__MTL_T(n->in[3], b);
    IT__MTL_TRY(it__mtl_lora_down(m, du, dy, b, N, out, r, 1, r, n->fparam[0])); /* du = scale dy B */
    if (da) { /* dA [r, in] += du^T x */
        IT__MTL_T(da, d);
        IT__MTL_TRY(it__mtl_gemm(m, d, du, x, (int)r, (int)in, (int)N, 1, 0, 1, 1, 0, 0, 0, it__mtl_bf16(m)));
    }
    if (dx) { /* dx += du A */
        IT__MTL_T(dx, d);
        IT__MTL_TRY(it__mtl_lora_up(m, d, du, a, N, in, r, 1, in));
    }
    return IT_OK;
}

static it_result it__mtl_nothing(it_backend *be, it_graph *g, const it_node *n) {
    (void)be; (void)g; (void)n;
    return IT_OK;
}
static it_result it__mtl_fill(it_backend *be, it_tensor *t, float value) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg x;
    IT__MTL_T(t, x);
    return it__mtl_flat(m, IT__K_FILL, &x, 1, (unsigned)it_tensor_numel(t), value, 0);
}

/* >>metal_step  command buffers, pools and the one wait ------------------------------------------ */
/* it_graph_run: begin_step .. end_step bracket the run's encoding with one pool (MPS descriptors
   and whatever Metal autoreleases while encoding); end_step commits, the core's synchronize
   waits. */
static it_result it__mtl_begin_step(it_backend *be, it_run_mode mode) {
    it__mtl *m = IT__MTL_M;
    (void)mode; /* no kernel here produces gradients in a forward (IT_OP_LOSS_GRADS_IN_FORWARD) */
    m->run_pool = objc_autoreleasePoolPush();
    return IT_OK;
}
static it_result it__mtl_end_step(it_backend *be) {
    it__mtl *m = IT__MTL_M;
    it_result r = it__mtl_commit(m);
    if (m->run_pool) objc_autoreleasePoolPop(m->run_pool);
    m->run_pool = NULL;
    return r;
}
/* An optimizer step encoded with its norm pass on the GPU (clipping, or grad_norm requested): the
   update kernels skipped themselves when the norm was not finite. The host learns it here, on the
   norm read back with the next wait: the caller's grad_norm gets the value (the non-finite one of
   a skipped update too), and a skip undoes the step count as the CPU path would. */
static it_result it__mtl_optimizer_verdict(it__mtl *m) {
    struct it_optimizer *opt = m->opt_check;
    float norm = m->optr[0];
    if (m->norm_out) *m->norm_out = norm;
    m->opt_check = NULL;
    m->norm_out = NULL;
    if (!opt || (m->optr[2] == 0.0f && isfinite(norm))) return IT_OK;
    opt->step--;
    return it_context_error(m->ctx, IT_ERR_RANGE,
                            "optimizer: gradient norm is %g (diverged); the update of step %d was skipped on the GPU "
                            "(parameters and state unchanged; reported at the next wait)", (double)norm, opt->step + 1);
}
/* Commits what is open and waits once, on the last command buffer (one queue runs them in order);
   a failed one becomes IT_ERR_BACKEND with Metal's text. Then temporaries are free again. */
static it_result it__mtl_synchronize(it_backend *be) {
    it__mtl *m = IT__MTL_M;
    it_result r = it__mtl_commit(m);
    int i;
    if (m->n_pending) {
        void *pool = objc_autoreleasePoolPush();
        IT__MSG0(waitUntilCompleted, m->pending[m->n_pending - 1]);
        m->stats.waits++;
        for (i = 0; i < m->n_pending; i++) {
            id cb = m->pending[i];
            it__NSUInteger st = IT__MSG0(status, cb);
            if (st != IT__MTL_STATUS_COMPLETED && st != IT__MTL_STATUS_ERROR) { /* not promised by Metal: wait */
                IT__MSG0(waitUntilCompleted, cb);
                m->stats.waits++;
                st = IT__MSG0(status, cb);
            }
            if (st != IT__MTL_STATUS_COMPLETED && r == IT_OK) {
                id err = IT__MSG0(error, cb), desc = err ? IT__MSG0(localizedDescription, err) : NULL;
                const char *text = desc ? IT__MSG0(UTF8String, desc) : NULL;
                char buf[1024];
                snprintf(buf, sizeof buf, "status %lu: %s", st, text ? text : "no error object");
                r = it__mtl_fail(m, IT_ERR_BACKEND, "metal: the command buffer failed (%s)", buf);
            }
            it__release(cb);
        }
        m->n_pending = 0;
        objc_autoreleasePoolPop(pool);
    }
    for (i = 0; i < m->n_retired; i++) it__release(m->retired[i]);
    if (m->n_retired) { /* the first step outgrew the temporaries: one buffer of the peak size */
        id nb = it__mtl_new_buffer(m, m->tpeak);
        m->n_retired = 0;
        if (nb) {
            it__release(m->tbuf);
            m->tbuf = nb;
            m->tptr = (unsigned char *)IT__MSG0(contents, nb);
            m->tcap = m->tpeak;
        }
    }
    m->tused = m->tpeak = 0; /* nothing in flight uses a temporary now */
    if (m->opt_check) {
        it_result v = it__mtl_optimizer_verdict(m);
        if (r == IT_OK) r = v;
    }
    return r;
}

/* >>metal_optimizer  it_optimizer_step and it_zero_grads on the GPU (HOW IT WORKS, "The optimizer")
   ------------------------------------------------------------------------------------------------ */
static it_result it__mtl_block(it__mtl *m, const void *ptr, const char *what, it__mtl_arg *out) {
    int i;
    for (i = 0; i < m->n_bufs; i++)
        if (m->bufs[i].ptr == (const unsigned char *)ptr) {
            out->buf = m->bufs[i].buf;
            out->off = 0;
            return IT_OK;
        }
    return it__mtl_fail(m, IT_ERR_STATE, "metal: the %s block is not a Metal buffer (was the backend switched on late?)", what);
}
/* one fill into the open command buffer (left open for the next run: no commit, no wait) */
static it_result it__mtl_zero_grads(it_backend *be) {
    it__mtl *m = IT__MTL_M;
    it__mtl_arg gb;
    size_t n = it_grad_numel(m->ctx);
    if (!it_grad_block(m->ctx)) return IT_OK;
    IT__MTL_TRY(it__mtl_check_count(m, n, "the gradient block"));
    IT__MTL_TRY(it__mtl_block(m, it_grad_block(m->ctx), "gradient", &gb));
    return it__mtl_flat(m, IT__K_FILL, &gb, 1, (unsigned)(n ? n : 1), 0.0f, 0);
}
static it_result it__mtl_optimizer_encode(it__mtl *m, struct it_optimizer *opt, float lr, float grad_scale, int norm_pass);
/* The whole update in one command buffer, committed without a wait: the norm pass (clip_norm or
   grad_norm) writes { norm, scale, skip } for the update kernels, which skip themselves on a
   non-finite norm. Nothing is read back here: the norm is checked, and a requested grad_norm
   written (NaN until then), at the next wait (the next run's loss read-back, or
   it_context_synchronize), so a training step (zero, run, optimizer) waits once, norm or not. */
static it_result it__mtl_optimizer_step(it_backend *be, struct it_optimizer *opt, float lr, float grad_scale,
                                        float *grad_norm) {
    it__mtl *m = IT__MTL_M;
    int norm_pass = grad_norm || opt->desc.clip_norm > 0.0f;
    it_result r = IT_OK;
    void *pool;
    if (m->opt_check) IT__MTL_TRY(it__mtl_synchronize(be)); /* the verdict on the previous update comes first */
    pool = objc_autoreleasePoolPush();
    r = it__mtl_optimizer_encode(m, opt, lr, grad_scale, norm_pass);
    if (r == IT_OK) r = it__mtl_commit(m);
    objc_autoreleasePoolPop(pool);
    if (r != IT_OK || !norm_pass) return r;
    m->opt_check = opt;
    m->norm_out = grad_norm;
    if (grad_norm) *grad_norm = NAN; /* not known before the GPU has run the norm pass */
    return IT_OK;
}
static it_result it__mtl_optimizer_encode(it__mtl *m, struct it_optimizer *opt, float lr, float grad_scale, int norm_pass) {
    it_context *ctx = opt->ctx;
    const it_optimizer_desc *d = &opt->desc;
    size_t total = it_grad_numel(ctx); /* the gradient block; the state is laid out like it */
    it__mtl_arg P, G, S, gs, args[5];
    it_optimizer_args oa;
    float kscale = grad_scale;
    int i, n_params = it_param_count(ctx);
    if (!it_param_block(ctx) || !it_grad_block(ctx) || !opt->state)
        return it__mtl_fail(m, IT_ERR_STATE, "metal: optimizer step before the parameter blocks exist%s", NULL);
    IT__MTL_TRY(it__mtl_check_count(m, total, "the gradient block"));
    IT__MTL_TRY(it__mtl_block(m, it_param_block(ctx), "parameter", &P));
    IT__MTL_TRY(it__mtl_block(m, it_grad_block(ctx), "gradient", &G));
    IT__MTL_TRY(it__mtl_block(m, opt->state, "optimizer state", &S));
    gs.buf = m->obuf;
    gs.off = IT__MTL_OBUF_UNCLIPPED * sizeof(float); /* { 1, 0 }: no clip scale, never skipped */
    if (norm_pass) { /* partial sums of squares, then norm, clip scale and skip flag */
        it_grad_norm_args na;
        it__NSUInteger np = (it__NSUInteger)((total + 255) / 256), tg;
        if (np > IT__MTL_PARTIALS) np = IT__MTL_PARTIALS;
        if (!np) np = 1;
        memset(&na, 0, sizeof na);
        na.n = (unsigned)total;
        na.n_partials = (unsigned)np;
        na.max_norm = d->clip_norm;
        na.extra_scale = grad_scale;
        args[0].buf = m->obuf;
        args[0].off = IT__MTL_OBUF_PARTIALS * sizeof(float);
        args[1] = G;
        tg = it__mtl_tg(m, IT__K_SUMSQ, 256);
        IT__MTL_TRY(it__mtl_dispatch(m, IT__K_SUMSQ, args, 2, &na, sizeof na, it__size(np, 1, 1), it__size(tg, 1, 1), 0));
        args[0].off = 0;
        args[1].buf = m->obuf;
        args[1].off = IT__MTL_OBUF_PARTIALS * sizeof(float);
        tg = it__mtl_tg(m, IT__K_CLIP, 256);
        IT__MTL_TRY(it__mtl_dispatch(m, IT__K_CLIP, args, 2, &na, sizeof na, it__size(1, 1, 1), it__size(tg, 1, 1), 0));
        gs.off = 1 * sizeof(float); /* grad_scale times the clip factor, and the skip flag */
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
    for (i = 0; i < n_params;) { /* runs of neighbouring trainable parameters with the same decay: one dispatch each */
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
            float wq = it_optimizer_param_decay(opt, q);
            size_t qo;
            if (wq != wd) break;
            it_tensor_block(q, &qo);
            /* the gap between parameters is alignment padding: zero everywhere, and zero stays
               zero under every update */
            if (qo / sizeof(float) < p1) break;
            p1 = qo / sizeof(float) + it_tensor_numel(q);
        }
        i = j;
        if (p1 <= p0) continue;
        oa.n = (unsigned)(p1 - p0);
        oa.wd = wd;
        args[0] = P;
        args[0].off = p0 * sizeof(float);
        args[1] = S;
        args[1].off = g0 * sizeof(float);
        if (d->kind == IT_OPTIMIZER_ADAMW) {
            args[2] = S;
            args[2].off = (total + g0) * sizeof(float);
            args[3] = G;
            args[3].off = g0 * sizeof(float);
            args[4] = gs;
            IT__MTL_TRY(it__mtl_dispatch(m, IT__K_ADAMW, args, 5, &oa, sizeof oa, it__size(oa.n, 1, 1),
                                         it__size(it__mtl_tg(m, IT__K_ADAMW, 256), 1, 1), 1));
        } else {
            it__mtl_kernel k = d->kind == IT_OPTIMIZER_LION ? IT__K_LION : IT__K_SGD;
            if (d->kind != IT_OPTIMIZER_LION && d->kind != IT_OPTIMIZER_SGD)
                return it__mtl_fail(m, IT_ERR_INVALID_ARGUMENT, "metal: unknown optimizer kind%s", NULL);
            args[2] = G;
            args[2].off = g0 * sizeof(float);
            args[3] = gs;
            IT__MTL_TRY(it__mtl_dispatch(m, k, args, 4, &oa, sizeof oa, it__size(oa.n, 1, 1),
                                         it__size(it__mtl_tg(m, k, 256), 1, 1), 1));
        }
    }
    return IT_OK;
}

/* >>metal_decoder  the KV-cache decoder on the GPU (it_decoder_* through the backend's hooks)
   One shared buffer holds both caches [n_layers, max_seq, Hkv * D], the work rows for a prompt of
   max_seq tokens, the logits and the ids of every token in the cache. A call writes its ids,
   encodes every layer (the prompt's rows through the matmul path, one token's through matvec
   kernels), the last row's head and, for it_decoder_next, the pick (shaders/sample.metal: the
   repetition penalty over the cache's ids, then it_argmax_f32 or it_sample_f32 with the host's
   uniform draw), then commits and waits once: a token costs one wait, greedy or sampled.
   f32 weights are read where the parameter block has them; bf16, Q8_0 and Q4_0 ones are the
   core's copies (it_decoder_create_ex makes them in a buffer of this backend: shared memory, read
   in place). it__mtl_decoder_linear is the one place a projection's kernel is chosen by its type
   and layout (shaders/decode.metal for f32, shaders/quant_matvec.metal for the rest); as in the
   CPU decoder, the input rows of a Q8_0 / Q4_0 projection are quantised to int8 once for every
   projection that reads them (it__mtl_decoder_quantize_acts), a prompt's rows too.
   ------------------------------------------------------------------------------------------------ */
typedef struct it__mtl_decoder {
    it__mtl *m;
    const it_decoder *dec; /* the core's decoder: model, max_seq, the weight table */
    it_model *model;
    int max_seq;
    id buf;
    unsigned char *ptr;
    size_t kcache, vcache, x, h, q, att, f1, f2, xq, stat0, stat1, logits, probs, seen, ids, next; /* byte offsets in buf */
} it__mtl_decoder;
static it__mtl_arg it__mtl_dec_at(const it__mtl_decoder *d, size_t byte_offset) {
    it__mtl_arg a;
    a.buf = d->buf;
    a.off = byte_offset;
    return a;
}
/* The rows x [n, in] as int8 blocks in the xq rows for the Q8_0 / Q4_0 projection w that reads
   them next (nothing for f32 and bf16): it__decoder_quantize_acts on the GPU. */
static it_result it__mtl_decoder_quantize_acts(it__mtl_decoder *d, it__mtl_arg x, const it_decoder_weight *w, int n) {
    it__mtl_arg a[2];
    it_matvec_args p;
    unsigned blocks = (unsigned)(n * (w->cols / IT_QBLOCK));
    if (w->type != IT_WEIGHT_Q8_0 && w->type != IT_WEIGHT_Q4_0) return IT_OK;
    memset(&p, 0, sizeof p);
    p.rows = (unsigned)n;
    p.cols = (unsigned)w->cols;
    a[0] = it__mtl_dec_at(d, d->xq), a[1] = x;
    return it__mtl_dispatch(d->m, IT__K_QUANTIZE_ACTS, a, 2, &p, sizeof p, it__size((blocks + 7) / 8, 1, 1), it__size(256, 1, 1), 0);
}
/* y [n, out] (+)= x [n, in] W^T + b for the projection w (it_decoder_projection: [out, in] = rows x
   cols). f32: the parameter, [out, in] for Llama and every head, [in, out] for GPT-2's
   projections; one row through matvec / vecmat, more through the matmul path. bf16, Q8_0, Q4_0:
   the core's [out, in] copy, a simdgroup per output row and grid y over the n rows (Q8_0 / Q4_0
   read the xq rows it__mtl_decoder_quantize_acts filled from x). */
static it_result it__mtl_decoder_linear(it__mtl_decoder *d, it__mtl_arg y, it__mtl_arg x, const it_decoder_weight *w, it_tensor *b,
                                        int n, int accumulate) {
    it__mtl *m = d->m;
    it__mtl_arg W, B, a[4];
    it_matvec_args p;
    int out_major = d->model->config.arch == IT_ARCH_LLAMA || w->param == d->model->head;
    it__mtl_kernel k = w->type == IT_WEIGHT_Q8_0 ? IT__K_MATVEC_Q8_0 : w->type == IT_WEIGHT_Q4_0 ? IT__K_MATVEC_Q4_0
                                                                                              : IT__K_MATVEC_BF16;
    if (w->type == IT_WEIGHT_F32) IT__MTL_T(w->param, W);
    else IT__MTL_TRY(it__mtl_locate(m, w->data, it_weight_bytes(w->type, (size_t)w->rows, (size_t)w->cols), w->param, &W));
    if (b) IT__MTL_T(b, B);
    else B = W; /* bound, unused */
    memset(&p, 0, sizeof p);
    p.accumulate = (unsigned)accumulate;
    p.has_bias = b != NULL;
    a[0] = y, a[1] = W, a[2] = w->type == IT_WEIGHT_Q8_0 || w->type == IT_WEIGHT_Q4_0 ? it__mtl_dec_at(d, d->xq) : x, a[3] = B;
    if (w->type != IT_WEIGHT_F32) {
        p.rows = (unsigned)w->rows;
        p.cols = (unsigned)w->cols;
        return it__mtl_dispatch(m, k, a, 4, &p, sizeof p, it__size((p.rows + 7) / 8, (unsigned)n, 1), it__size(256, 1, 1), 0);
    }
    if (n > 1) {
        IT__MTL_TRY(it__mtl_gemm(m, y, x, W, n, w->rows, w->cols, 0, out_major, accumulate, 1, 0, 0, 0, 0));
        if (!b) return IT_OK;
        a[0] = y, a[1] = y, a[2] = B; /* y += b over the rows */
        return it__mtl_flat(m, IT__K_ADD, a, 3, (unsigned)(n * w->rows), 0.0f, (unsigned)w->rows);
    }
    p.rows = (unsigned)it_tensor_dim(w->param, 0); /* the parameter's own layout */
    p.cols = (unsigned)it_tensor_dim(w->param, 1);
    if (out_major) /* a simdgroup per row, 8 rows per group */
        return it__mtl_dispatch(m, IT__K_MATVEC, a, 4, &p, sizeof p, it__size((p.rows + 7) / 8, 1, 1), it__size(256, 1, 1), 0);
    return it__mtl_dispatch(m, IT__K_VECMAT, a, 4, &p, sizeof p, it__size(p.cols, 1, 1),
                            it__size(it__mtl_tg(m, IT__K_VECMAT, 256), 1, 1), 1);
}
static it_result it__mtl_decoder_norm(it__mtl_decoder *d, it__mtl_arg out, it__mtl_arg x, it_tensor *w, it_tensor *b, int n) {
    it__mtl *m = d->m;
    const it_model_config *c = &d->model->config;
    it__mtl_arg W, B;
    IT__MTL_T(w, W);
    if (b) IT__MTL_T(b, B);
    return it__mtl_encode_norm(m, c->arch == IT_ARCH_LLAMA, out, it__mtl_dec_at(d, d->stat0), it__mtl_dec_at(d, d->stat1), x, W,
                               b ? &B : NULL, (unsigned)n, (unsigned)c->dim, c->norm_eps);
}
/* The pick after the head (it_decoder_pick): the repetition penalty over ids [0, pos + n) in place,
   then the argmax or the draw into next. */
static it_result it__mtl_decoder_pick(it__mtl_decoder *d, int n_ids, const it_decoder_pick *pick) {
    it__mtl *m = d->m;
    it_sample_args sp;
    it__mtl_arg a[4];
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
        a[0] = it__mtl_dec_at(d, d->logits), a[1] = it__mtl_dec_at(d, d->ids), a[2] = it__mtl_dec_at(d, d->seen);
        IT__MTL_TRY(it__mtl_dispatch(m, IT__K_REPETITION_PENALTY, a, 3, &sp, sizeof sp, it__size(1, 1, 1),
                                     it__size(it__mtl_tg(m, IT__K_REPETITION_PENALTY, 1024), 1, 1), 0));
    }
    a[0] = it__mtl_dec_at(d, d->next), a[1] = it__mtl_dec_at(d, d->logits);
    if (sp.temperature <= 0.0f) {
        it_matvec_args gp;
        memset(&gp, 0, sizeof gp);
        gp.cols = sp.V;
        return it__mtl_dispatch(m, IT__K_ARGMAX, a, 2, &gp, sizeof gp, it__size(1, 1, 1),
                                it__size(it__mtl_tg(m, IT__K_ARGMAX, 1024), 1, 1), 0);
    }
    a[2] = it__mtl_dec_at(d, d->probs);
    return it__mtl_dispatch(m, IT__K_SAMPLE, a, 3, &sp, sizeof sp, it__size(1, 1, 1), it__size(it__mtl_tg(m, IT__K_SAMPLE, 1024), 1, 1),
                            0);
}
/* Everything of one call, encoded; the ids are in place (at positions pos .. pos + n - 1). */
static it_result it__mtl_decoder_encode(it__mtl_decoder *d, int n, int pos, const it_decoder_pick *pick) {
    it__mtl *m = d->m;
    it_model *md = d->model;
    const it_model_config *c = &md->config;
    int llama = c->arch == IT_ARCH_LLAMA, hd = it_model_head_dim(c), l;
    size_t C = (size_t)c->dim, KV = (size_t)hd * c->n_kv_heads, S = (size_t)d->max_seq, F = (size_t)c->ffn_dim;
    it__mtl_arg x = it__mtl_dec_at(d, d->x), h = it__mtl_dec_at(d, d->h), q = it__mtl_dec_at(d, d->q);
    it__mtl_arg att = it__mtl_dec_at(d, d->att), f1 = it__mtl_dec_at(d, d->f1), f2 = it__mtl_dec_at(d, d->f2), t, a[5];
    it_decode_attention_args ap;
    it_decoder_weight head = it_decoder_projection(d->dec, -1, 0);
    IT__MTL_T(md->embed, t);
    IT__MTL_TRY(it__mtl_encode_embedding(m, x, it__mtl_dec_at(d, d->ids + (size_t)pos * sizeof(int32_t)), t, (unsigned)n,
                                         (unsigned)C, (unsigned)c->vocab_size));
    if (!llama) { /* + the learned positions pos .. pos + n - 1 */
        IT__MTL_T(md->pos_embed, t);
        t.off += (size_t)pos * C * sizeof(float);
        a[0] = x, a[1] = x, a[2] = t;
        IT__MTL_TRY(it__mtl_flat(m, IT__K_ADD, a, 3, (unsigned)(n * C), 0.0f, (unsigned)(n * C)));
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
        size_t layer = (size_t)l * S * KV * sizeof(float);
        it__mtl_arg kc = it__mtl_dec_at(d, d->kcache + layer), vc = it__mtl_dec_at(d, d->vcache + layer);
        it__mtl_arg kn = it__mtl_dec_at(d, d->kcache + layer + (size_t)pos * KV * sizeof(float));
        it__mtl_arg vn = it__mtl_dec_at(d, d->vcache + layer + (size_t)pos * KV * sizeof(float));
        it_decoder_weight wq = it_decoder_projection(d->dec, l, IT_LP_Q), wk = it_decoder_projection(d->dec, l, IT_LP_K);
        it_decoder_weight wv = it_decoder_projection(d->dec, l, IT_LP_V), wo = it_decoder_projection(d->dec, l, IT_LP_O);
        it_decoder_weight wg = it_decoder_projection(d->dec, l, IT_LP_GATE), wu = it_decoder_projection(d->dec, l, IT_LP_UP);
        it_decoder_weight wd = it_decoder_projection(d->dec, l, IT_LP_DOWN);
        IT__MTL_TRY(it__mtl_decoder_norm(d, h, x, p[IT_LP_ATTN_NORM], p[IT_LP_ATTN_NORM_B], n));
        IT__MTL_TRY(it__mtl_decoder_quantize_acts(d, h, &wq, n)); /* once for q, k and v */
        IT__MTL_TRY(it__mtl_decoder_linear(d, q, h, &wq, p[IT_LP_Q_B], n, 0));
        IT__MTL_TRY(it__mtl_decoder_linear(d, kn, h, &wk, p[IT_LP_K_B], n, 0)); /* straight into the cache */
        IT__MTL_TRY(it__mtl_decoder_linear(d, vn, h, &wv, p[IT_LP_V_B], n, 0));
        if (c->qk_norm) { /* per head: rows of hd values, in place */
            IT__MTL_T(p[IT_LP_Q_NORM], t);
            IT__MTL_TRY(it__mtl_encode_norm(m, 1, q, it__mtl_dec_at(d, d->stat0), t, q, t, NULL, (unsigned)(n * c->n_heads),
                                            (unsigned)hd, c->norm_eps));
            IT__MTL_T(p[IT_LP_K_NORM], t);
            IT__MTL_TRY(it__mtl_encode_norm(m, 1, kn, it__mtl_dec_at(d, d->stat0), t, kn, t, NULL,
                                            (unsigned)(n * c->n_kv_heads), (unsigned)hd, c->norm_eps));
        }
        if (llama) {
            IT__MTL_TRY(it__mtl_encode_rope(m, 0, q, q, 1, (unsigned)n, (unsigned)c->n_heads, (unsigned)hd, c->rope_theta,
                                            &c->rope_scaling, pos));
            IT__MTL_TRY(it__mtl_encode_rope(m, 0, kn, kn, 1, (unsigned)n, (unsigned)c->n_kv_heads, (unsigned)hd, c->rope_theta,
                                            &c->rope_scaling, pos));
        }
        a[0] = att, a[1] = q, a[2] = kc, a[3] = vc;
        IT__MTL_TRY(it__mtl_dispatch(m, IT__K_ATTN_DECODE, a, 4, &ap, sizeof ap, it__size(ap.Hq, ap.n, 1), it__size(128, 1, 1), 0));
        IT__MTL_TRY(it__mtl_decoder_quantize_acts(d, att, &wo, n));
        IT__MTL_TRY(it__mtl_decoder_linear(d, x, att, &wo, p[IT_LP_O_B], n, 1)); /* x += attention out */
        IT__MTL_TRY(it__mtl_decoder_norm(d, h, x, p[IT_LP_MLP_NORM], p[IT_LP_MLP_NORM_B], n));
        IT__MTL_TRY(it__mtl_decoder_quantize_acts(d, h, &wu, n)); /* once for gate and up */
        if (llama) {
            IT__MTL_TRY(it__mtl_decoder_linear(d, f1, h, &wg, p[IT_LP_GATE_B], n, 0));
            IT__MTL_TRY(it__mtl_decoder_linear(d, f2, h, &wu, p[IT_LP_UP_B], n, 0));
            a[0] = f1, a[1] = f1, a[2] = f2;
            IT__MTL_TRY(it__mtl_flat(m, IT__K_SWIGLU, a, 3, (unsigned)(n * F), 0.0f, 0));
        } else {
            IT__MTL_TRY(it__mtl_decoder_linear(d, f2, h, &wu, p[IT_LP_UP_B], n, 0));
            a[0] = f1, a[1] = f2;
            IT__MTL_TRY(it__mtl_flat(m, IT__K_GELU, a, 2, (unsigned)(n * F), 0.0f, 0));
        }
        IT__MTL_TRY(it__mtl_decoder_quantize_acts(d, f1, &wd, n));
        IT__MTL_TRY(it__mtl_decoder_linear(d, x, f1, &wd, p[IT_LP_DOWN_B], n, 1)); /* x += mlp out */
    }
    x.off += (size_t)(n - 1) * C * sizeof(float); /* the last row through the head */
    IT__MTL_TRY(it__mtl_decoder_norm(d, h, x, md->final_norm, md->final_norm_bias, 1));
    IT__MTL_TRY(it__mtl_decoder_quantize_acts(d, h, &head, 1));
    IT__MTL_TRY(it__mtl_decoder_linear(d, it__mtl_dec_at(d, d->logits), h, &head, NULL, 1, 0));
    return pick ? it__mtl_decoder_pick(d, pos + n, pick) : IT_OK;
}
static it_result it__mtl_decoder_feed(it_backend *be, void *state, const int32_t *tokens, int n, int pos,
                                      const it_decoder_pick *pick, const float **logits, int32_t *next) {
    it__mtl_decoder *d = (it__mtl_decoder *)state;
    it_result r;
    void *pool;
    IT__MTL_TRY(it__mtl_synchronize(be)); /* a pending update must land before the weights are read; free if idle */
    memcpy(d->ptr + d->ids + (size_t)pos * sizeof(int32_t), tokens, (size_t)n * sizeof(int32_t)); /* the cache's ids */
    pool = objc_autoreleasePoolPush();
    r = it__mtl_decoder_encode(d, n, pos, pick);
    objc_autoreleasePoolPop(pool);
    if (r != IT_OK) { /* drop what was encoded: nothing of this call may run later */
        it__mtl_synchronize(be);
        return r;
    }
    IT__MTL_TRY(it__mtl_synchronize(be)); /* the one wait */
    *logits = (const float *)(const void *)(d->ptr + d->logits);
    if (pick) *next = *(const int32_t *)(const void *)(d->ptr + d->next);
    return IT_OK;
}
static void it__mtl_decoder_destroy(it_backend *be, void *state) {
    it__mtl *m = IT__MTL_M;
    it__mtl_decoder *d = (it__mtl_decoder *)state;
    if (!d) return;
    it__mtl_synchronize(be);
    it__mtl_drop_cached(m, d->buf); /* MPS matrices made on it for prompts */
    it__release(d->buf);
    it_context_free(m->ctx, d);
}
static it_result it__mtl_decoder_create(it_backend *be, const it_decoder *dec, void **state) {
    it__mtl *m = IT__MTL_M;
    it_model *md = it_decoder_model(dec);
    const it_model_config *c = &md->config;
    size_t S = (size_t)it_decoder_max_seq(dec), C = (size_t)c->dim, hd = (size_t)it_model_head_dim(c), Q = hd * (size_t)c->n_heads;
    size_t KV = hd * (size_t)c->n_kv_heads, F = (size_t)c->ffn_dim, off = 0, cache = (size_t)c->n_layers * S * KV;
    size_t widest = C > Q ? (C > F ? C : F) : (Q > F ? Q : F);
    it__mtl_decoder *d;
    int l, slot;
    *state = NULL;
    for (l = -1; l < c->n_layers; l++) /* every copy is one of our buffers (the core made it with buffer_create) */
        for (slot = 0; slot < (l < 0 ? 1 : IT_MODEL_LAYER_PARAMS); slot++) {
            it_decoder_weight w = it_decoder_projection(dec, l, slot);
            it__mtl_arg a;
            if (w.data) IT__MTL_TRY(it__mtl_locate(m, w.data, it_weight_bytes(w.type, (size_t)w.rows, (size_t)w.cols), w.param, &a));
        }
    if (md->lora)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "metal decoder: a LoRA adapter is attached; merge it first "
                                "(it_lora_merge) or decode on the CPU backend");
    if (hd > IT_ATTN_MAX_D)
        return it_context_error(m->ctx, IT_ERR_UNSUPPORTED, "metal decoder: head dim %zu is above %d", hd, IT_ATTN_MAX_D);
    IT__MTL_TRY(it__mtl_check_count(m, cache, "the decoder's KV cache"));
    IT__MTL_TRY(it__mtl_check_count(m, S * (F > Q ? F : Q), "the decoder's work rows"));
    d = (it__mtl_decoder *)it_context_alloc(m->ctx, sizeof *d);
    if (!d) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal decoder: out of memory");
    memset(d, 0, sizeof *d);
    d->m = m;
    d->dec = dec;
    d->model = md;
    d->max_seq = it_decoder_max_seq(dec);
#define IT__MTL_DEC_TAKE(field, floats) (d->field = off, off += ((size_t)(floats) * sizeof(float) + 255) / 256 * 256)
    IT__MTL_DEC_TAKE(kcache, cache);
    IT__MTL_DEC_TAKE(vcache, cache);
    IT__MTL_DEC_TAKE(x, S * C);
    IT__MTL_DEC_TAKE(h, S * C);
    IT__MTL_DEC_TAKE(q, S * Q);
    IT__MTL_DEC_TAKE(att, S * Q);
    IT__MTL_DEC_TAKE(f1, S * F);
    IT__MTL_DEC_TAKE(f2, S * F);
    IT__MTL_DEC_TAKE(xq, S * (widest / IT_QBLOCK) * IT_QACT_BYTES / sizeof(float)); /* IT_QACT_BYTES: a multiple of 4 */
    IT__MTL_DEC_TAKE(stat0, S * (size_t)c->n_heads);
    IT__MTL_DEC_TAKE(stat1, S);
    IT__MTL_DEC_TAKE(logits, c->vocab_size);
    IT__MTL_DEC_TAKE(probs, c->vocab_size);
    IT__MTL_DEC_TAKE(seen, c->vocab_size); /* uints, all zero between calls */
    IT__MTL_DEC_TAKE(ids, S);
    IT__MTL_DEC_TAKE(next, 1);
#undef IT__MTL_DEC_TAKE
    d->buf = it__mtl_new_buffer(m, off);
    d->ptr = d->buf ? (unsigned char *)IT__MSG0(contents, d->buf) : NULL;
    if (!d->ptr) {
        it__release(d->buf);
        it_context_free(m->ctx, d);
        return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal decoder: cannot allocate %zu bytes", off);
    }
    memset(d->ptr, 0, off);
    *state = d;
    return IT_OK;
}

/* >>metal_create ------------------------------------------------------------------------------------ */
static void it__mtl_destroy(it_backend *be) {
    it__mtl *m = IT__MTL_M;
    int i;
    it__mtl_synchronize(be); /* commits and waits: nothing is open or pending after it */
    for (i = 0; i < m->n_mats; i++) {
        it__release(m->mats[i].matrix);
        it__release(m->mats[i].desc);
    }
    for (i = 0; i < m->n_gemms; i++) it__release(m->gemms[i].kernel);
    for (i = 0; i < m->n_bufs; i++) it__release(m->bufs[i].buf); /* blocks the context did not free */
    for (i = 0; i < IT__K_COUNT; i++) it__release(m->pso[i]);
    it__release(m->tbuf);
    it__release(m->obuf);
    it__release(m->library);
    it__release(m->queue);
    it__release(m->device);
    it_context_free(m->ctx, m->mats);
    it_context_free(m->ctx, m->gemms);
    it_context_free(m->ctx, m->bufs);
    it_context_free(m->ctx, m->retired);
    it_context_free(m->ctx, m->pending);
    it_context_free(m->ctx, m);
}
/* the library source: shaders.h's line arrays joined in order; with `only`, the shared headers
   and that one file */
static char *it__mtl_source(it_context *ctx, const char *only) {
    char *src = (char *)it_context_alloc(ctx, (size_t)IT_SHADER_TOTAL_SIZE + 1), *p = src;
    int i, j;
    if (!src) return NULL;
    for (i = 0; i < IT_SHADER_FILE_COUNT; i++) {
        const char *name = it_shader_files[i].name;
        size_t len = strlen(name);
        if (only && strcmp(name, only) != 0 && !(len > 2 && !strcmp(name + len - 2, ".h"))) continue;
        for (j = 0; j < it_shader_files[i].line_count; j++) {
            size_t len = strlen(it_shader_files[i].lines[j]);
            memcpy(p, it_shader_files[i].lines[j], len);
            p += len;
        }
    }
    *p = 0;
    return src;
}
/* The bf16 products' simdgroup-matrix kernel needs bfloat, i.e. MSL 3.1 (macOS 14): it is compiled
   as a library of its own at 3.1, so an OS without 3.1 keeps the 3.0 library and the bf16 products
   stay on it_matmul_f32's rounded tiles (the same products and fp32 sums). What happened is in
   m->bf16_matmul (it_metal_bf16_matmul); any error here only disables the kernel. */
static void it__mtl_bf16_setup(it__mtl *m) {
    const it__mtl_kernel k = IT__K_MATMUL_BF16_SG;
    id opts, str, lib, fn = NULL, err = NULL, desc;
    const char *why = NULL, *log = NULL;
    char *src = it__mtl_source(m->ctx, "matmul_bf16.metal");
    snprintf(m->bf16_matmul, sizeof m->bf16_matmul, "it_matmul_f32 (bf16-rounded tiles): ");
    if (!src) {
        snprintf(m->bf16_matmul + strlen(m->bf16_matmul), sizeof m->bf16_matmul - strlen(m->bf16_matmul), "out of memory");
        return;
    }
    str = IT__MSG(stringWithUTF8String, it__cls.NSString, src);
    it_context_free(m->ctx, src);
    opts = IT__MSG0(alloc, it__cls.MTLCompileOptions);
    opts = IT__MSG0(init, opts);
    IT__MSG(setFastMathEnabled, opts, (BOOL)1);
    IT__MSG(setLanguageVersion, opts, (it__NSUInteger)IT__MTL_LANGUAGE_3_1);
    lib = IT__MSG(newLibraryWithSource, m->device, str, opts, &err);
    it__release(opts);
    if (!lib) why = "no MSL 3.1 library (bfloat needs macOS 14)";
    else {
        id name = IT__MSG(stringWithUTF8String, it__cls.NSString, it__mtl_kernel_names[k]);
        fn = IT__MSG(newFunctionWithName, lib, name);
        if (!fn) why = "the MSL 3.1 compiler left out the kernel (no __HAVE_BFLOAT__)";
    }
    if (fn) {
        err = NULL;
        m->pso[k] = IT__MSG(newComputePipelineState, m->device, fn, &err);
        it__release(fn);
        if (!m->pso[k]) why = "no pipeline";
        else {
            m->max_threads[k] = IT__MSG0(maxTotalThreadsPerThreadgroup, m->pso[k]);
            m->stats.pipelines++;
            if (m->max_threads[k] < 128) why = "the pipeline allows fewer than its 128 threads";
            else if (IT__MSG0(threadExecutionWidth, m->pso[k]) != IT__MTL_SIMD_WIDTH) why = "SIMD groups not 32 wide";
            if (why) {
                it__release(m->pso[k]);
                m->pso[k] = NULL;
            }
        }
    }
    it__release(lib);
    if (!why) {
        snprintf(m->bf16_matmul, sizeof m->bf16_matmul, "it_matmul_bf16_sg (simdgroup_matrix, bfloat operands, fp32 sums)");
        return;
    }
    desc = err ? IT__MSG0(localizedDescription, err) : NULL;
    log = desc ? IT__MSG0(UTF8String, desc) : NULL;
    snprintf(m->bf16_matmul + strlen(m->bf16_matmul), sizeof m->bf16_matmul - strlen(m->bf16_matmul), "%s%s%s", why,
             log ? ": " : "", log ? log : "");
}
static it_result it__mtl_setup(it__mtl *m) {
    id opts, str, err = NULL;
    char *src;
    int k;
    it__MTLSize lim;
    it__NSUInteger width;
    it__mtl_objc_init();
    if (!it__cls.NSString || !it__cls.MTLCompileOptions)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE,
                                "Metal backend unavailable: Foundation/Metal classes not found (link -framework Metal -framework Foundation)");
    m->device = MTLCreateSystemDefaultDevice();
    if (!m->device)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE,
                                "Metal backend unavailable: no Metal device (MTLCreateSystemDefaultDevice returned nil; "
                                "command-line tools also need -framework CoreGraphics)");
    /* The kernels are written for Apple GPUs: 32-wide SIMD groups (it_reduce.h's partial slots,
       attention's lane-per-key tiles) and Apple7's simdgroup functions. An Intel Mac's default
       device is often an AMD (64-wide) or Intel (8/16-wide) GPU: refused, never silently wrong. */
    if (!IT__MSG(supportsFamily, m->device, IT__MTL_FAMILY_APPLE7))
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE,
                                "Metal backend unavailable: the device is not an Apple GPU (MTLGPUFamilyApple7: M1 or later); "
                                "the kernels assume Apple's 32-wide SIMD groups");
    lim = IT__MSG0(maxThreadsPerThreadgroup, m->device); /* a struct return: _stret on x86-64 */
    if (lim.width < 256)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE,
                                "Metal backend unavailable: the device allows only %lu threads per threadgroup", lim.width);
    m->use_mps = m->use_mps && it__cls.MPSMatrix && it__cls.MPSMatrixDescriptor && it__cls.MPSMatrixMultiplication &&
                 MPSSupportsMTLDevice(m->device);
    m->queue = IT__MSG0(newCommandQueue, m->device);
    if (!m->queue) return it_context_error(m->ctx, IT_ERR_BACKEND, "metal: newCommandQueue returned nil");
    src = it__mtl_source(m->ctx, NULL);
    if (!src) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal: out of memory");
    str = IT__MSG(stringWithUTF8String, it__cls.NSString, src);
    it_context_free(m->ctx, src);
    opts = IT__MSG0(alloc, it__cls.MTLCompileOptions);
    opts = IT__MSG0(init, opts);
    IT__MSG(setFastMathEnabled, opts, (BOOL)1); /* the kernels clamp what fast math would break */
    IT__MSG(setLanguageVersion, opts, (it__NSUInteger)IT__MTL_LANGUAGE_3_0); /* bf16 kernels: __HAVE_BFLOAT__ */
    m->library = IT__MSG(newLibraryWithSource, m->device, str, opts, &err);
    it__release(opts);
    if (!m->library) {
        id desc = err ? IT__MSG0(localizedDescription, err) : NULL;
        const char *log = desc ? IT__MSG0(UTF8String, desc) : NULL;
        return it__mtl_fail(m, IT_ERR_BACKEND, "metal: the shader library did not compile: %s", log ? log : "no log");
    }
    for (k = 0; k < IT__K_MATMUL_BF16_SG; k++) { /* the MSL 3.0 library's kernels */
        id name = IT__MSG(stringWithUTF8String, it__cls.NSString, it__mtl_kernel_names[k]);
        id fn = IT__MSG(newFunctionWithName, m->library, name);
        if (!fn)
            return it__mtl_fail(m, IT_ERR_BACKEND, "metal: kernel %s is missing from the library", it__mtl_kernel_names[k]);
        err = NULL;
        m->pso[k] = IT__MSG(newComputePipelineState, m->device, fn, &err);
        it__release(fn);
        if (!m->pso[k]) {
            id desc = err ? IT__MSG0(localizedDescription, err) : NULL;
            const char *log = desc ? IT__MSG0(UTF8String, desc) : NULL;
            char buf[1024];
            snprintf(buf, sizeof buf, "%s: %s", it__mtl_kernel_names[k], log ? log : "no log");
            return it__mtl_fail(m, IT_ERR_BACKEND, "metal: no pipeline for %s", buf);
        }
        m->max_threads[k] = IT__MSG0(maxTotalThreadsPerThreadgroup, m->pso[k]);
        m->stats.pipelines++;
        if ((width = IT__MSG0(threadExecutionWidth, m->pso[k])) != IT__MTL_SIMD_WIDTH) {
            char buf[160];
            snprintf(buf, sizeof buf, "%s runs %lu-wide SIMD groups", it__mtl_kernel_names[k], width);
            return it__mtl_fail(m, IT_ERR_BACKEND_UNAVAILABLE,
                                "Metal backend unavailable: %s; the kernels need 32 (Apple GPUs)", buf);
        }
    }
    m->obuf = it__mtl_new_buffer(m, (IT__MTL_OBUF_PARTIALS + IT__MTL_PARTIALS) * sizeof(float));
    m->optr = m->obuf ? (float *)IT__MSG0(contents, m->obuf) : NULL;
    if (!m->optr) return it_context_error(m->ctx, IT_ERR_OUT_OF_MEMORY, "metal: cannot allocate the optimizer's buffer");
    memset(m->optr, 0, (IT__MTL_OBUF_PARTIALS + IT__MTL_PARTIALS) * sizeof(float));
    m->optr[IT__MTL_OBUF_UNCLIPPED] = 1.0f;
    it__mtl_bf16_setup(m);
    /* fixed-geometry kernels: 256 threads (matmul), 128 (attention) */
    if (m->max_threads[IT__K_MATMUL] < 256 || m->max_threads[IT__K_ATTN] < 128 || m->max_threads[IT__K_ATTN_DQ] < 128 ||
        m->max_threads[IT__K_ATTN_DKV] < 128)
        return it_context_error(m->ctx, IT_ERR_BACKEND_UNAVAILABLE,
                                "Metal backend unavailable: pipelines allow fewer threads than the tiled kernels need");
    return IT_OK;
}

IT_API int it_metal_available(void) { return 1; }
IT_API const char *it_metal_bf16_matmul(const it_backend *be) {
    return be && be->name && strcmp(be->name, "metal") == 0 ? ((const it__mtl *)be->impl)->bf16_matmul : NULL;
}
IT_API it_metal_stats it_metal_backend_stats(const it_backend *be) {
    it_metal_stats s;
    memset(&s, 0, sizeof s);
    if (be && be->name && strcmp(be->name, "metal") == 0) s = ((const it__mtl *)be->impl)->stats;
    return s;
}
IT_API it_result it_metal_backend_create(it_context *ctx, const it_metal_desc *desc, it_backend **out) {
    it__mtl *m;
    it_backend *be;
    it_result r;
    void *pool;
    *out = NULL;
    if (desc && desc->device_index != 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "metal: device_index %d: only the default device (0) is supported",
                                desc->device_index);
    m = (it__mtl *)it_context_alloc(ctx, sizeof *m);
    if (m) memset(m, 0, sizeof *m);
    if (!m) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "metal: out of memory");
    m->ctx = ctx;
    m->use_mps = !(desc && desc->no_mps);
    m->ops_per_cb = desc && desc->ops_per_command_buffer > 0 ? (unsigned)desc->ops_per_command_buffer
                                                              : IT_METAL_DEFAULT_OPS_PER_COMMAND_BUFFER;
    be = &m->be;
    be->name = "metal";
    be->impl = m;
    be->bf16_compute = 1; /* every graph product honours the compute dtype (it__mtl_bf16) */
    pool = objc_autoreleasePoolPush();
    r = it__mtl_setup(m);
    objc_autoreleasePoolPop(pool);
    if (r != IT_OK) {
        it__mtl_destroy(be);
        return r;
    }
    be->buffer_create = it__mtl_buffer_create;
    be->buffer_free = it__mtl_buffer_free;
    be->fill = it__mtl_fill;
    be->optimizer_step = it__mtl_optimizer_step;
    be->zero_grads = it__mtl_zero_grads;
    be->begin_step = it__mtl_begin_step;
    be->end_step = it__mtl_end_step;
    be->synchronize = it__mtl_synchronize;
    be->destroy = it__mtl_destroy;
    be->decoder_create = it__mtl_decoder_create;
    be->decoder_feed = it__mtl_decoder_feed;
    be->decoder_destroy = it__mtl_decoder_destroy;
    it_backend_set_op(be, IT_OP_MATMUL, it__mtl_matmul_fwd, it__mtl_matmul_bwd);
    it_backend_set_op(be, IT_OP_ADD, it__mtl_binary_fwd, it__mtl_binary_bwd);
    it_backend_set_op(be, IT_OP_MUL, it__mtl_binary_fwd, it__mtl_binary_bwd);
    it_backend_set_op(be, IT_OP_SCALE, it__mtl_elementwise_fwd, it__mtl_elementwise_bwd);
    it_backend_set_op(be, IT_OP_EMBEDDING, it__mtl_embedding_fwd, it__mtl_embedding_bwd);
    it_backend_set_op(be, IT_OP_RMSNORM, it__mtl_norm_fwd, it__mtl_norm_bwd);
    it_backend_set_op(be, IT_OP_LAYERNORM, it__mtl_norm_fwd, it__mtl_norm_bwd);
    it_backend_set_op(be, IT_OP_ROPE, it__mtl_rope_fwd, it__mtl_rope_bwd);
    it_backend_set_op(be, IT_OP_SOFTMAX, it__mtl_softmax_fwd, it__mtl_softmax_bwd);
    it_backend_set_op(be, IT_OP_ATTENTION, it__mtl_attention_fwd, it__mtl_attention_bwd);
    it_backend_set_op(be, IT_OP_SILU, it__mtl_elementwise_fwd, it__mtl_elementwise_bwd);
    it_backend_set_op(be, IT_OP_GELU, it__mtl_elementwise_fwd, it__mtl_elementwise_bwd);
    it_backend_set_op(be, IT_OP_SWIGLU, it__mtl_elementwise_fwd, it__mtl_elementwise_bwd);
    it_backend_set_op(be, IT_OP_CROSS_ENTROPY, it__mtl_cross_entropy_fwd, it__mtl_cross_entropy_bwd);
    it_backend_set_op(be, IT_OP_LINEAR_CROSS_ENTROPY, it__mtl_linear_cross_entropy_fwd, it__mtl_linear_cross_entropy_bwd);
    it_backend_set_op(be, IT_OP_SUM, it__mtl_reduce_fwd, it__mtl_reduce_bwd);
    it_backend_set_op(be, IT_OP_MEAN, it__mtl_reduce_fwd, it__mtl_reduce_bwd);
    it_backend_set_op(be, IT_OP_LORA, it__mtl_lora_fwd, it__mtl_lora_bwd);
    it_backend_set_op(be, IT_OP_RESHAPE, it__mtl_nothing, it__mtl_nothing); /* a view: nothing to compute */
    *out = be;
    return IT_OK;
}
#undef IT__MTL_T
#undef IT__MTL_TRY
#undef IT__MTL_M
#endif /* Apple or fake */
#endif /* IRONTENSOR_METAL_IMPLEMENTATION_INCLUDED */
#endif /* IRONTENSOR_METAL_IMPLEMENTATION */
