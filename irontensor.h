/* irontensor.h - v0.1.0 - train and run small language models from plain C. MIT licence at the end.

   IronTensor-C is a single-header library: tensors, a static graph with autograd, a liveness
   memory planner and a threaded CPU backend. The Metal backend lives in irontensor_metal.h.

   USAGE
     In exactly one C or C++ file:
         #define IRONTENSOR_IMPLEMENTATION
         #include "irontensor.h"
     Everywhere else just #include "irontensor.h".

     Linux:  cc -O2 -std=c99 main.c -lm -lpthread
     macOS:  cc -O2 -std=c99 main.c

   CONFIGURATION MACROS (define before including the implementation)
     IRONTENSOR_STATIC      make every function static (private to one file)
     IT_MALLOC(sz,u)/IT_FREE(p,u)
                            compile-time allocator (both or neither); `u` is the user pointer
                            given in it_context_desc.allocator. Runtime hooks go in the desc.
     IT_ASSERT(c)           assert used for internal invariants (default: prints and aborts)

   EXAMPLE: build a graph, run backward, read a gradient
         it_context *ctx;
         it_context_create(&(it_context_desc){0}, &ctx);
         it_tensor *w = it_param(ctx, "w", 2, (int[]){4, 3});        // [out=4, in=3]
         it_graph  *g = it_graph_create(ctx);
         it_tensor *x = it_input(g, "x", IT_F32, 2, (int[]){2, 3});   // [batch=2, in=3]
         it_tensor *y = it_matmul(g, x, w, 0, 1);                      // x @ w^T: [2, 4]
         it_tensor *loss = it_mean(g, it_mul(g, y, y));
         it_graph_backward(g, loss);                                   // derive backward graph
         it_graph_plan(g);                                             // lay out the arena
         it_param_init_normal(ctx, 0.02f, 1234);                        // seeded weights
         memcpy(it_data(x), my_inputs, 6 * sizeof(float));
         it_graph_zero_grads(g);
         it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
         printf("loss %f dL/dw[0] %f\n", it_data(loss)[0], it_grad(w)[0]);
         it_context_destroy(ctx);

   MEMORY
     The context owns everything. Parameters live in one block, their gradients in a second, the
     optimizer state in a third (llm.c style: flat arrays the optimizer and checkpoints can walk).
     Each graph's activations, activation gradients and saved tensors are packed by the planner
     into one arena by liveness (a buffer's bytes are reused once its last reader has run).
     it_graph_plan() allocates; it_graph_run() never does.

   ERRORS
     Mistakes in how the library is called (shapes that do not fit, NULL tensors) are programmer
     errors: a check prints file, line and the shapes, then aborts. Failures of the environment
     (memory, files, bad data such as a token id out of range) return an it_result < 0; the
     detail is in it_context_last_error() and goes to the logger.

   THREADING
     it_context_desc.n_threads sets the size of the CPU thread pool (0 = all cores). The library
     is not re-entrant on one context; separate contexts are independent.

   CHANGES
     0.1.0  foundation: tensors, graph + autograd, planner, CPU backend, test suite.
*/
#ifndef IRONTENSOR_H
#define IRONTENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef IRONTENSOR_STATIC
#define IT_API static
#else
#define IT_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define IT_VERSION_STRING "0.1.0"
#define IT_MAX_DIMS 4
#define IT_MAX_NAME 64

/* ------------------------------------------------------------------------------------------------
   >>results  one X-macro list, so the enum and its strings cannot drift apart
------------------------------------------------------------------------------------------------ */
#define IT_RESULT_LIST(X)                                                  \
    X(IT_OK, 0, "ok")                                                      \
    X(IT_ERR_OUT_OF_MEMORY, -1, "out of memory")                           \
    X(IT_ERR_INVALID_ARGUMENT, -2, "invalid argument")                     \
    X(IT_ERR_IO, -3, "input/output error")                                 \
    X(IT_ERR_FORMAT, -4, "malformed or corrupt data")                      \
    X(IT_ERR_RANGE, -5, "value out of range")                              \
    X(IT_ERR_STATE, -6, "called in the wrong state")                       \
    X(IT_ERR_BACKEND_UNAVAILABLE, -7, "backend unavailable")               \
    X(IT_ERR_BACKEND, -8, "backend failure")                               \
    X(IT_ERR_UNSUPPORTED, -9, "unsupported")

typedef enum it_result {
#define IT__RESULT_ENUM(name, value, text) name = value,
    IT_RESULT_LIST(IT__RESULT_ENUM)
#undef IT__RESULT_ENUM
    IT_RESULT_MIN_ = -10
} it_result;

/* "ok", "out of memory", ...; a static string, never NULL. */
IT_API const char *it_result_string(it_result r);

/* ------------------------------------------------------------------------------------------------
   >>context
------------------------------------------------------------------------------------------------ */
typedef enum it_log_level { IT_LOG_DEBUG = 0, IT_LOG_INFO, IT_LOG_WARN, IT_LOG_ERROR, IT_LOG_COUNT } it_log_level;

typedef struct it_allocator {
    void *(*alloc)(size_t size, void *user); /* must return 64-byte aligned memory or NULL */
    void (*free)(void *ptr, void *user);
    void *user;
} it_allocator;

typedef struct it_logger {
    void (*log)(it_log_level level, const char *message, void *user);
    void *user;
    it_log_level min_level; /* 0 = IT_LOG_DEBUG is filtered: default shows INFO and above */
} it_logger;

typedef struct it_context_desc {
    int n_threads;          /* CPU worker threads; 0 = all cores */
    it_allocator allocator; /* zero = aligned malloc/free */
    it_logger logger;       /* zero = stderr */
} it_context_desc;

typedef struct it_context it_context;
typedef struct it_graph it_graph;
typedef struct it_tensor it_tensor;
typedef struct it_backend it_backend;

IT_API it_result it_context_create(const it_context_desc *desc, it_context **out_ctx);
IT_API void it_context_destroy(it_context *ctx);
IT_API const char *it_context_last_error(const it_context *ctx);
IT_API int it_context_threads(const it_context *ctx);
/* Records an environmental error: formats the detail into last-error, logs it, returns `r`. */
IT_API it_result it_context_error(it_context *ctx, it_result r, const char *fmt, ...);
IT_API void it_log(it_context *ctx, it_log_level level, const char *fmt, ...);

/* ------------------------------------------------------------------------------------------------
   >>tensors  row-major, dims outermost first (PyTorch order), up to 4 dims
------------------------------------------------------------------------------------------------ */
typedef enum it_dtype { IT_DTYPE_INVALID = 0, IT_F32, IT_BF16, IT_I32, IT_DTYPE_COUNT } it_dtype;

typedef enum it_tensor_kind {
    IT_KIND_INVALID = 0,
    IT_KIND_PARAM,      /* trainable weight: parameter block, gradient in the gradient block */
    IT_KIND_INPUT,      /* filled by the caller before each run (token ids, targets, features) */
    IT_KIND_ACTIVATION, /* produced by a node; lives in the graph's planned arena */
    IT_KIND_GRADIENT,   /* gradient of an activation or input; planned arena */
    IT_KIND_SAVED,      /* extra tensor a node keeps for its backward (rstd, log-sum-exp) */
    IT_KIND_SCRATCH,    /* temporary a node needs while it runs; planned arena */
    IT_KIND_COUNT
} it_tensor_kind;

IT_API size_t it_dtype_size(it_dtype t);
IT_API const char *it_dtype_name(it_dtype t);

/* bfloat16 storage: round-to-nearest-even on the way in, exact on the way out. */
IT_API uint16_t it_f32_to_bf16(float f);
IT_API float it_bf16_to_f32(uint16_t h);
IT_API void it_f32_to_bf16_array(uint16_t *out, const float *in, size_t n);
IT_API void it_bf16_to_f32_array(float *out, const uint16_t *in, size_t n);

IT_API const char *it_tensor_name(const it_tensor *t);
IT_API it_dtype it_tensor_dtype(const it_tensor *t);
IT_API it_tensor_kind it_tensor_kind_of(const it_tensor *t);
IT_API int it_tensor_ndim(const it_tensor *t);
IT_API int it_tensor_dim(const it_tensor *t, int i); /* negative i counts from the end */
IT_API size_t it_tensor_numel(const it_tensor *t);
IT_API size_t it_tensor_nbytes(const it_tensor *t);
/* "[2, 3, 4]" into buf; returns buf. */
IT_API char *it_tensor_shape_string(const it_tensor *t, char *buf, size_t size);
/* Data pointers, valid after the tensor's storage exists (parameters: after the first plan;
   graph tensors: after it_graph_plan). it_data is for f32 tensors, it_data_i32 for i32. */
IT_API float *it_data(it_tensor *t);
IT_API int32_t *it_data_i32(it_tensor *t);
IT_API void *it_data_raw(it_tensor *t);
/* Gradient of a parameter (gradient block) or of a graph tensor (arena; only meaningful while its
   buffer is live, i.e. for parameters and inputs after a run). NULL when it has none. */
IT_API float *it_grad(it_tensor *t);

/* ------------------------------------------------------------------------------------------------
   >>rng  SplitMix64-seeded xoshiro256** : reproducible across platforms
------------------------------------------------------------------------------------------------ */
typedef struct it_rng { uint64_t s[4]; } it_rng;
IT_API void it_rng_seed(it_rng *r, uint64_t seed);
IT_API uint64_t it_rng_u64(it_rng *r);
IT_API uint32_t it_rng_below(it_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
IT_API float it_rng_uniform(it_rng *r);              /* [0, 1) with 24 random bits */
IT_API float it_rng_normal(it_rng *r);               /* N(0, 1), Box-Muller in double */

/* ------------------------------------------------------------------------------------------------
   >>params  parameters belong to the context and are shared by every graph
------------------------------------------------------------------------------------------------ */
IT_API it_tensor *it_param(it_context *ctx, const char *name, int ndim, const int *dims);
IT_API int it_param_count(const it_context *ctx);
IT_API it_tensor *it_param_at(it_context *ctx, int i);
IT_API it_tensor *it_param_find(it_context *ctx, const char *name);
/* Total number of parameter scalars, and the flat blocks (NULL before they are allocated). */
IT_API size_t it_param_numel(const it_context *ctx);
IT_API float *it_param_block(it_context *ctx);
IT_API float *it_grad_block(it_context *ctx);
/* Allocates the parameter and gradient blocks now (it_graph_plan also does it); after this no
   new parameter may be declared. */
IT_API it_result it_params_alloc(it_context *ctx);
/* Every parameter ~ N(0, std) from a seeded generator, in declaration order. */
IT_API it_result it_param_init_normal(it_context *ctx, float std, uint64_t seed);
IT_API void it_param_fill(it_tensor *param, float value);
IT_API void it_zero_grads(it_context *ctx);

/* ------------------------------------------------------------------------------------------------
   >>graph  define: ops append nodes; differentiate: it_graph_backward; plan; run
------------------------------------------------------------------------------------------------ */
IT_API it_graph *it_graph_create(it_context *ctx);
IT_API void it_graph_destroy(it_graph *g);
IT_API it_tensor *it_input_at(const char *file, int line, it_graph *g, const char *name, it_dtype dtype, int ndim, const int *dims);
/* Renames a tensor (error messages, it_graph_print). Returns t. */
IT_API it_tensor *it_name(it_tensor *t, const char *name);
/* Keeps t's buffer alive until the end of every run so the caller can read it afterwards (graph
   outputs nobody consumes, and the loss, are kept automatically). Returns t. */
IT_API it_tensor *it_keep(it_tensor *t);

/* Ops. Shapes in [brackets]; "..." is any number of leading dims. */
/* matmul: a [..., M, K] (or [..., K, M] if trans_a), b [..., K, N] (or [..., N, K] if trans_b).
   b may be 2-D and shared by every leading index of a (a linear layer: it_matmul(x, W, 0, 1)).
   Out [..., M, N]. */
IT_API it_tensor *it_matmul_at(const char *file, int line, it_graph *g, it_tensor *a, it_tensor *b, int trans_a, int trans_b);
/* add / mul: b has a's shape, or a suffix of it (broadcast over a's leading dims: biases). */
IT_API it_tensor *it_add_at(const char *file, int line, it_graph *g, it_tensor *a, it_tensor *b);
IT_API it_tensor *it_mul_at(const char *file, int line, it_graph *g, it_tensor *a, it_tensor *b);
IT_API it_tensor *it_scale_at(const char *file, int line, it_graph *g, it_tensor *a, float s);
/* table [V, C], ids i32 [...] -> [..., C]. Ids out of [0, V) fail the run with IT_ERR_RANGE. */
IT_API it_tensor *it_embedding_at(const char *file, int line, it_graph *g, it_tensor *table, it_tensor *ids);
/* x [..., C], w [C] -> [..., C] */
IT_API it_tensor *it_rmsnorm_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, float eps);
/* x [..., C], w [C], b [C] (b may be NULL) -> [..., C] */
IT_API it_tensor *it_layernorm_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, it_tensor *b, float eps);
/* x [B, T, H, D], D even; Hugging Face half-split rotation, position = pos_offset + t. */
IT_API it_tensor *it_rope_at(const char *file, int line, it_graph *g, it_tensor *x, float theta, int pos_offset);
/* softmax over the last dim */
IT_API it_tensor *it_softmax_at(const char *file, int line, it_graph *g, it_tensor *x);
/* Causal self-attention with grouped-query heads: q [B, T, Hq, D], k and v [B, T, Hkv, D] with
   Hkv dividing Hq; scale 1/sqrt(D). Out [B, T, Hq, D]. */
IT_API it_tensor *it_attention_at(const char *file, int line, it_graph *g, it_tensor *q, it_tensor *k, it_tensor *v);
IT_API it_tensor *it_silu_at(const char *file, int line, it_graph *g, it_tensor *x);
IT_API it_tensor *it_gelu_at(const char *file, int line, it_graph *g, it_tensor *x); /* tanh approximation (GPT-2) */
/* silu(gate) * up, same shapes */
IT_API it_tensor *it_swiglu_at(const char *file, int line, it_graph *g, it_tensor *gate, it_tensor *up);
/* logits [N, V] (or [..., V]), targets i32 [N] -> scalar: mean over targets != ignore_index.
   Targets out of range (other than ignore_index) fail the run with IT_ERR_RANGE. */
IT_API it_tensor *it_cross_entropy_at(const char *file, int line, it_graph *g, it_tensor *logits, it_tensor *targets, int ignore_index);
/* Fused head + loss: x [..., C], w [V, C], targets i32 [...] -> scalar mean cross-entropy of
   x @ w^T. The logits are computed `chunk` vocabulary rows at a time (0 = a default) and never
   materialised whole. */
IT_API it_tensor *it_linear_cross_entropy_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, it_tensor *targets,
                                          int ignore_index, int chunk);
IT_API it_tensor *it_sum_at(const char *file, int line, it_graph *g, it_tensor *x);  /* -> scalar [1] */
IT_API it_tensor *it_mean_at(const char *file, int line, it_graph *g, it_tensor *x); /* -> scalar [1] */
/* A view with new dims and the same element count; shares storage with x. One dim may be -1. */
IT_API it_tensor *it_reshape_at(const char *file, int line, it_graph *g, it_tensor *x, int ndim, const int *dims);

/* Graph builders are macros that pass the caller's file and line, so a shape error points at the
   line that built the bad node. */
#define it_matmul(...) it_matmul_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_add(...) it_add_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_mul(...) it_mul_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_scale(...) it_scale_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_embedding(...) it_embedding_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_rmsnorm(...) it_rmsnorm_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_layernorm(...) it_layernorm_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_rope(...) it_rope_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_softmax(...) it_softmax_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_attention(...) it_attention_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_silu(...) it_silu_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_gelu(...) it_gelu_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_swiglu(...) it_swiglu_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_cross_entropy(...) it_cross_entropy_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_linear_cross_entropy(...) it_linear_cross_entropy_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_sum(...) it_sum_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_mean(...) it_mean_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_reshape(...) it_reshape_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_input(...) it_input_at(__FILE__, __LINE__, __VA_ARGS__)

/* Differentiate: append the backward of every node that leads to `loss` (a scalar). Call once,
   after the forward graph is complete. d(loss) is seeded with 1. */
IT_API void it_graph_backward(it_graph *g, it_tensor *loss);

typedef struct it_plan_stats {
    size_t arena_bytes;      /* planned size of the arena (activations, gradients, saved) */
    size_t unplanned_bytes;  /* sum of every arena buffer's size: what no reuse would need */
    size_t input_bytes;      /* inputs block */
    size_t param_bytes;      /* parameter block (gradient block is the same size) */
    int n_nodes;             /* forward nodes */
    int n_steps;             /* forward + backward steps */
    int n_buffers;           /* arena buffers placed */
} it_plan_stats;

/* Plan: liveness of every buffer, packed into one arena; allocates the arena and inputs (and the
   parameter blocks if not yet done). Call once, after it_graph_backward (or without it for a
   forward-only graph). no_reuse = 1 gives every buffer its own bytes (for debugging and tests). */
IT_API it_result it_graph_plan(it_graph *g);
IT_API it_result it_graph_plan_ex(it_graph *g, int no_reuse);
IT_API it_plan_stats it_graph_stats(const it_graph *g);

typedef enum it_run_mode { IT_RUN_INVALID = 0, IT_RUN_FORWARD, IT_RUN_FORWARD_BACKWARD, IT_RUN_MODE_COUNT } it_run_mode;
/* Runs the planned graph on the context's backend. Parameter gradients ACCUMULATE (gradient
   accumulation over micro-batches); call it_zero_grads between optimizer steps. */
IT_API it_result it_graph_run(it_graph *g, it_run_mode mode);
IT_API void it_graph_zero_grads(it_graph *g); /* = it_zero_grads(ctx of g) */
IT_API int it_graph_node_count(const it_graph *g);
/* Prints the node list with shapes and arena offsets. */
IT_API void it_graph_print(const it_graph *g);

/* ------------------------------------------------------------------------------------------------
   >>ops  the op list: one X-macro, so enum and names cannot drift
------------------------------------------------------------------------------------------------ */
#define IT_OP_LIST(X)          \
    X(IT_OP_MATMUL, "matmul")  \
    X(IT_OP_ADD, "add")        \
    X(IT_OP_MUL, "mul")        \
    X(IT_OP_SCALE, "scale")    \
    X(IT_OP_EMBEDDING, "embedding") \
    X(IT_OP_RMSNORM, "rmsnorm")     \
    X(IT_OP_LAYERNORM, "layernorm") \
    X(IT_OP_ROPE, "rope")           \
    X(IT_OP_SOFTMAX, "softmax")     \
    X(IT_OP_ATTENTION, "attention") \
    X(IT_OP_SILU, "silu")           \
    X(IT_OP_GELU, "gelu")           \
    X(IT_OP_SWIGLU, "swiglu")       \
    X(IT_OP_CROSS_ENTROPY, "cross_entropy") \
    X(IT_OP_LINEAR_CROSS_ENTROPY, "linear_cross_entropy") \
    X(IT_OP_SUM, "sum")             \
    X(IT_OP_MEAN, "mean")           \
    X(IT_OP_RESHAPE, "reshape")

typedef enum it_op {
    IT_OP_INVALID = 0,
#define IT__OP_ENUM(name, text) name,
    IT_OP_LIST(IT__OP_ENUM)
#undef IT__OP_ENUM
    IT_OP_COUNT
} it_op;

IT_API const char *it_op_name(it_op op);

/* ------------------------------------------------------------------------------------------------
   >>backend  a table of function pointers (DESIGN §3). The CPU backend is built in; Metal comes
   from irontensor_metal.h. A backend executes nodes whose tensors the planner has placed.
------------------------------------------------------------------------------------------------ */
/* A node as backends see it: the op, its output, inputs, the tensors it keeps for backward and
   the scalar parameters the op was built with. */
#define IT_NODE_MAX_INPUTS 4
typedef struct it_node {
    it_op op;
    it_tensor *out;
    it_tensor *in[IT_NODE_MAX_INPUTS];
    int n_in;
    it_tensor *saved[2];      /* written by forward, read by backward (rstd, mean, log-sum-exp) */
    it_tensor *scratch;       /* forward temporary (planned, lives for this node only) */
    it_tensor *bwd_scratch;   /* backward temporary */
    float fparam[2];          /* eps, theta, scale */
    int iparam[4];            /* transposes, pos_offset, ignore_index, chunk */
} it_node;
/* Where a tensor's bytes live: which block and the byte offset inside it (GPU backends bind
   block buffers at offsets). */
typedef enum it_block {
    IT_BLOCK_NONE = 0, IT_BLOCK_PARAMS, IT_BLOCK_GRADS, IT_BLOCK_INPUTS, IT_BLOCK_ARENA, IT_BLOCK_COUNT
} it_block;
IT_API it_block it_tensor_block(const it_tensor *t, size_t *byte_offset);
IT_API it_tensor *it_grad_tensor(it_tensor *t); /* the gradient tensor, NULL if none */
struct it_backend {
    const char *name;
    void *impl;
    /* Storage for a block of `size` bytes; the returned pointer is CPU-visible (shared memory). */
    void *(*buffer_create)(it_backend *be, size_t size);
    void (*buffer_free)(it_backend *be, void *ptr);
    /* One entry per op; forward writes the node's output, backward accumulates input gradients.
       A NULL entry means the op is not supported by this backend. */
    it_result (*forward[IT_OP_COUNT])(it_backend *be, it_graph *g, const it_node *node);
    it_result (*backward[IT_OP_COUNT])(it_backend *be, it_graph *g, const it_node *node);
    /* Step boundaries (command buffers on a GPU) and the wait before the CPU reads results. */
    it_result (*begin_step)(it_backend *be);
    it_result (*end_step)(it_backend *be);
    it_result (*synchronize)(it_backend *be);
    void (*destroy)(it_backend *be);
};

/* The context's backend (the CPU backend unless it_context_set_backend changed it). */
IT_API it_backend *it_context_backend(it_context *ctx);
/* Takes ownership; the previous non-CPU backend is destroyed. NULL restores the CPU backend. */
IT_API void it_context_set_backend(it_context *ctx, it_backend *be);

/* ------------------------------------------------------------------------------------------------
   >>cpu_kernels  the reference kernels, llm.c shape: outputs, then inputs, then sizes. Every other
   backend is tested against these. *_backward ACCUMULATES into the gradients it writes (+=).
   They run on the calling thread; the CPU backend splits rows over its pool.
------------------------------------------------------------------------------------------------ */
/* c [M, N] = (accumulate ? c : 0) + op(a) @ op(b); op(a) [M, K]: a is [M, K], or [K, M] when
   trans_a; op(b) [K, N]: b is [K, N], or [N, K] when trans_b. Contiguous row-major. */
IT_API void it_cpu_matmul(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                          int trans_b, int accumulate);
/* out [n] = a + b, a * b, s * a; y += alpha * x */
IT_API void it_cpu_add_forward(float *out, const float *a, const float *b, size_t n);
IT_API void it_cpu_mul_forward(float *out, const float *a, const float *b, size_t n);
IT_API void it_cpu_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n);
IT_API void it_cpu_scale_forward(float *out, const float *a, float s, size_t n);
IT_API void it_cpu_axpy(float *y, float alpha, const float *x, size_t n);
/* out [N, C] = table[ids[n]]; table [V, C]. Returns the index of the first id outside [0, V),
   or -1 when all are valid (nothing is written past a bad id). */
IT_API long it_cpu_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C, int V);
/* dtable [V, C] += dout [N, C] scattered by ids */
IT_API void it_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C);
/* x, out [N, C]; w [C]; rstd [N] (saved) */
IT_API void it_cpu_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
IT_API void it_cpu_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                                    const float *rstd, int N, int C);
/* x, out [N, C]; w, b [C] (b may be NULL, then db is ignored); mean, rstd [N] (saved) */
IT_API void it_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                                     const float *b, int N, int C, float eps);
IT_API void it_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                                      const float *w, const float *mean, const float *rstd, int N, int C);
/* x, out [B, T, H, D]; pair (i, i + D/2) rotated by (pos_offset + t) * theta^(-2i/D).
   out may equal x (in place). Backward is the inverse rotation, accumulated. */
IT_API void it_cpu_rope_forward(float *out, const float *x, int B, int T, int H, int D, float theta, int pos_offset);
IT_API void it_cpu_rope_backward(float *dx, const float *dout, int B, int T, int H, int D, float theta, int pos_offset);
/* x, out [N, C]; softmax over C */
IT_API void it_cpu_softmax_forward(float *out, const float *x, int N, int C);
IT_API void it_cpu_softmax_backward(float *dx, const float *dout, const float *out, int N, int C);
/* Causal attention, GQA: q, out [B, T, Hq, D]; k, v [B, T, Hkv, D]; lse [B, Hq, T] (saved:
   log-sum-exp of each query row's scaled scores, so backward recomputes probabilities without a
   T x T matrix). Query head h reads kv head h / (Hq / Hkv). */
IT_API void it_cpu_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                     int B, int T, int Hq, int Hkv, int D);
IT_API void it_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                      const float *k, const float *v, const float *out, const float *lse,
                                      int B, int T, int Hq, int Hkv, int D);
/* Elementwise activations over n values. */
IT_API void it_cpu_silu_forward(float *out, const float *x, size_t n);
IT_API void it_cpu_silu_backward(float *dx, const float *dout, const float *x, size_t n);
IT_API void it_cpu_gelu_forward(float *out, const float *x, size_t n);
IT_API void it_cpu_gelu_backward(float *dx, const float *dout, const float *x, size_t n);
IT_API void it_cpu_swiglu_forward(float *out, const float *gate, const float *up, size_t n);
IT_API void it_cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                   const float *up, size_t n);
/* Fused residual add + RMSNorm: sum = x + residual; out = rmsnorm(sum) * w. sum, out, x,
   residual [N, C]; rstd [N]. */
IT_API void it_cpu_residual_rmsnorm_forward(float *sum, float *out, float *rstd, const float *x,
                                            const float *residual, const float *w, int N, int C, float eps);
/* logits [N, V], targets [N]. losses [N] = -log softmax(logits)[target] (0 where ignored); lse [N]
   saved. Returns the index of the first target outside [0, V) that is not ignore_index, or -1. */
IT_API long it_cpu_cross_entropy_forward(float *losses, float *lse, const float *logits, const int32_t *targets,
                                         int N, int V, int ignore_index);
/* dlogits [N, V] += dloss_scale * (softmax(logits) - onehot(target)) for rows not ignored. */
IT_API void it_cpu_cross_entropy_backward(float *dlogits, const float *logits, const float *lse,
                                          const int32_t *targets, float dloss_scale, int N, int V, int ignore_index);
/* Fused linear + cross-entropy: logits = x [N, C] @ w [V, C]^T, never materialised whole: vocab
   rows are taken `chunk` at a time into scratch [N, chunk]. losses, lse [N] as above. */
IT_API long it_cpu_linear_cross_entropy_forward(float *losses, float *lse, float *scratch, const float *x,
                                                const float *w, const int32_t *targets, int N, int C, int V,
                                                int chunk, int ignore_index);
/* dx [N, C] and dw [V, C] += gradients of dloss_scale * sum(losses), using the saved lse. */
IT_API void it_cpu_linear_cross_entropy_backward(float *dx, float *dw, float *scratch, const float *x,
                                                 const float *w, const int32_t *targets, const float *lse,
                                                 float dloss_scale, int N, int C, int V, int chunk,
                                                 int ignore_index);
/* Optimizer updates over a flat range of n values. grad_scale multiplies every gradient first
   (global-norm clipping and accumulation averaging fused into the update).
   Lion (Chen et al. 2023): c = b1 m + (1 - b1) g; p -= lr (sign(c) + wd p); m = b2 m + (1 - b2) g. */
IT_API void it_cpu_lion_update(float *p, float *m, const float *g, size_t n, float lr, float beta1, float beta2,
                               float wd, float grad_scale);
/* AdamW (Loshchilov & Hutter), step t >= 1, bias-corrected; decoupled decay: p -= lr (mhat /
   (sqrt(vhat) + eps) + wd p). */
IT_API void it_cpu_adamw_update(float *p, float *m, float *v, const float *g, size_t n, float lr, float beta1,
                                float beta2, float eps, float wd, int t, float grad_scale);
/* SGD with momentum, PyTorch semantics: g' = g + wd p; buf = momentum buf + g'; p -= lr buf. */
IT_API void it_cpu_sgd_update(float *p, float *buf, const float *g, size_t n, float lr, float momentum, float wd,
                              float grad_scale);
/* Sampling from logits [V]: temperature, then top-k (0 = off), then top-p nucleus (1 = off);
   coin is a uniform number in [0, 1). scratch needs V floats and V ints. temperature <= 0 means
   greedy (argmax). */
IT_API int it_cpu_sample(const float *logits, int V, float temperature, int top_k, float top_p, float coin,
                         float *scratch_probs, int *scratch_index);
/* Sum of squares in double (gradient-norm clipping). */
IT_API double it_cpu_sum_squares(const float *x, size_t n);
/* Index of the largest value (first on ties). */
IT_API int it_cpu_argmax(const float *x, int n);

#ifdef __cplusplus
}
#endif
#endif /* IRONTENSOR_H */

/* ================================================================================================
   IMPLEMENTATION
================================================================================================ */
#ifdef IRONTENSOR_IMPLEMENTATION
#ifndef IRONTENSOR_IMPLEMENTATION_INCLUDED
#define IRONTENSOR_IMPLEMENTATION_INCLUDED

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#include <pthread.h>
#include <unistd.h>

/* >>util ---------------------------------------------------------------------------------------- */
#if defined(IT_MALLOC) != defined(IT_FREE)
#error "define both IT_MALLOC and IT_FREE, or neither"
#endif
#ifndef IT_ASSERT
#define IT_ASSERT(c)                                                                       \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "%s:%d: irontensor internal check failed: %s\n", __FILE__,     \
                    __LINE__, #c);                                                         \
            abort();                                                                       \
        }                                                                                  \
    } while (0)
#endif
#define IT__ALIGN 64
#define IT__ALIGN_UP(x, a) (((x) + ((a) - 1)) / (a) * (a))
#define IT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define IT__MAX(a, b) ((a) > (b) ? (a) : (b))

/* Programmer errors: print where the caller was and what was wrong, then abort (STYLE: errors). */
static void it__fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: irontensor: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
#define IT__REQUIRE(cond, file, line, ...) \
    do {                                   \
        if (!(cond)) it__fail(file, line, __VA_ARGS__); \
    } while (0)

/* Default allocation: malloc, aligned by hand (posix_memalign is not C99) to 64 bytes so SIMD
   loads and GPU buffers are happy; the original pointer sits just before the aligned block. */
static void *it__default_alloc(size_t size, void *user) {
    unsigned char *raw, *aligned;
    (void)user;
#ifdef IT_MALLOC
    raw = (unsigned char *)IT_MALLOC(size + IT__ALIGN + sizeof(void *), user);
#else
    raw = (unsigned char *)malloc(size + IT__ALIGN + sizeof(void *));
#endif
    if (!raw) return NULL;
    aligned = (unsigned char *)(((uintptr_t)(raw + sizeof(void *)) + IT__ALIGN - 1) & ~(uintptr_t)(IT__ALIGN - 1));
    memcpy(aligned - sizeof(void *), &raw, sizeof(void *));
    return aligned;
}
static void it__default_free(void *ptr, void *user) {
    void *raw;
    (void)user;
    if (!ptr) return;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof(void *));
#ifdef IT_FREE
    IT_FREE(raw, user);
#else
    free(raw);
#endif
}

/* >>results ------------------------------------------------------------------------------------- */
IT_API const char *it_result_string(it_result r) {
    switch (r) {
#define IT__RESULT_CASE(name, value, text) \
    case name:                             \
        return text;
        IT_RESULT_LIST(IT__RESULT_CASE)
#undef IT__RESULT_CASE
    default:
        return "unknown result";
    }
}

IT_API const char *it_op_name(it_op op) {
    static const char *names[IT_OP_COUNT] = {"invalid",
#define IT__OP_NAME(name, text) text,
                                             IT_OP_LIST(IT__OP_NAME)
#undef IT__OP_NAME
    };
    return (op > IT_OP_INVALID && op < IT_OP_COUNT) ? names[op] : "invalid";
}

/* >>rng ----------------------------------------------------------------------------------------- */
static uint64_t it__splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
IT_API void it_rng_seed(it_rng *r, uint64_t seed) {
    int i;
    for (i = 0; i < 4; i++) r->s[i] = it__splitmix64(&seed);
}
static uint64_t it__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
IT_API uint64_t it_rng_u64(it_rng *r) {
    uint64_t *s = r->s, result = it__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = it__rotl(s[3], 45);
    return result;
}
IT_API uint32_t it_rng_below(it_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: no modulo bias */
    uint64_t m = (uint64_t)(uint32_t)(it_rng_u64(r) >> 32) * n;
    if ((uint32_t)m < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while ((uint32_t)m < threshold) m = (uint64_t)(uint32_t)(it_rng_u64(r) >> 32) * n;
    }
    return (uint32_t)(m >> 32);
}
IT_API float it_rng_uniform(it_rng *r) { return (float)(it_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
IT_API float it_rng_normal(it_rng *r) {
    double u1 = ((double)(it_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double u2 = (double)(it_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* >>dtypes -------------------------------------------------------------------------------------- */
IT_API size_t it_dtype_size(it_dtype t) {
    switch (t) {
    case IT_F32: return 4;
    case IT_BF16: return 2;
    case IT_I32: return 4;
    default: return 0;
    }
}
IT_API const char *it_dtype_name(it_dtype t) {
    switch (t) {
    case IT_F32: return "f32";
    case IT_BF16: return "bf16";
    case IT_I32: return "i32";
    default: return "invalid";
    }
}
IT_API uint16_t it_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    u += 0x7FFFu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}
IT_API float it_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
IT_API void it_f32_to_bf16_array(uint16_t *out, const float *in, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = it_f32_to_bf16(in[i]);
}
IT_API void it_bf16_to_f32_array(float *out, const uint16_t *in, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = it_bf16_to_f32(in[i]);
}

/* >>cpu_kernels ---------------------------------------------------------------------------------
   The specification. Plain loops, one thread, no allocation. The CPU backend runs them over row
   ranges on its pool (and swaps in the blocked SGEMM for matmul); the Metal kernels are tested
   against them. */

/* Rows [i0, i1) of c = op(a) @ op(b). Strides come from the full M, N, K. */
static void it__matmul_rows(float *c, const float *a, const float *b, int i0, int i1, int M, int N, int K,
                            int trans_a, int trans_b, int accumulate) {
    int i, j, k;
    for (i = i0; i < i1; i++) {
        float *ci = c + (size_t)i * N;
        if (!accumulate) memset(ci, 0, sizeof(float) * (size_t)N);
        if (!trans_b) { /* c_i += a_ik * b_k: rows of b are contiguous */
            for (k = 0; k < K; k++) {
                float aik = trans_a ? a[(size_t)k * M + i] : a[(size_t)i * K + k];
                const float *bk = b + (size_t)k * N;
                for (j = 0; j < N; j++) ci[j] += aik * bk[j];
            }
        } else { /* c_ij += a_i . b_j: rows of b are contiguous along k */
            for (j = 0; j < N; j++) {
                const float *bj = b + (size_t)j * K;
                float sum = 0.0f;
                if (!trans_a) {
                    const float *ai = a + (size_t)i * K;
                    for (k = 0; k < K; k++) sum += ai[k] * bj[k];
                } else {
                    for (k = 0; k < K; k++) sum += a[(size_t)k * M + i] * bj[k];
                }
                ci[j] += sum;
            }
        }
    }
}
IT_API void it_cpu_matmul(float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                          int trans_b, int accumulate) {
    it__matmul_rows(c, a, b, 0, M, M, N, K, trans_a, trans_b, accumulate);
}

IT_API void it_cpu_add_forward(float *out, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = a[i] + b[i];
}
IT_API void it_cpu_mul_forward(float *out, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = a[i] * b[i];
}
IT_API void it_cpu_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (da) da[i] += dout[i] * b[i];
        if (db) db[i] += dout[i] * a[i];
    }
}
IT_API void it_cpu_scale_forward(float *out, const float *a, float s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = s * a[i];
}
IT_API void it_cpu_axpy(float *y, float alpha, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] += alpha * x[i];
}

IT_API long it_cpu_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C, int V) {
    int n;
    for (n = 0; n < N; n++) {
        if (ids[n] < 0 || ids[n] >= V) return n;
        memcpy(out + (size_t)n * C, table + (size_t)ids[n] * C, sizeof(float) * (size_t)C);
    }
    return -1;
}
IT_API void it_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C) {
    int n;
    for (n = 0; n < N; n++) it_cpu_axpy(dtable + (size_t)ids[n] * C, 1.0f, dout + (size_t)n * C, (size_t)C);
}

IT_API void it_cpu_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    int n, c;
    for (n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;
        float *on = out + (size_t)n * C;
        float ss = 0.0f, r;
        for (c = 0; c < C; c++) ss += xn[c] * xn[c];
        r = 1.0f / sqrtf(ss / (float)C + eps);
        for (c = 0; c < C; c++) on[c] = xn[c] * r * w[c];
        rstd[n] = r;
    }
}
IT_API void it_cpu_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                                    const float *rstd, int N, int C) {
    int n, c;
    for (n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C, *dn = dout + (size_t)n * C;
        float r = rstd[n], dot = 0.0f, k;
        for (c = 0; c < C; c++) dot += dn[c] * w[c] * xn[c];
        /* d/dx of x r w: r (dout w) - x r^3 (sum dout w x) / C */
        k = dot * r * r * r / (float)C;
        if (dx) {
            float *dxn = dx + (size_t)n * C;
            for (c = 0; c < C; c++) dxn[c] += dn[c] * w[c] * r - xn[c] * k;
        }
        if (dw)
            for (c = 0; c < C; c++) dw[c] += dn[c] * xn[c] * r;
    }
}
IT_API void it_cpu_residual_rmsnorm_forward(float *sum, float *out, float *rstd, const float *x,
                                            const float *residual, const float *w, int N, int C, float eps) {
    it_cpu_add_forward(sum, x, residual, (size_t)N * C);
    it_cpu_rmsnorm_forward(out, rstd, sum, w, N, C, eps);
}

IT_API void it_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                                     const float *b, int N, int C, float eps) {
    int n, c;
    for (n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;
        float *on = out + (size_t)n * C;
        float m = 0.0f, v = 0.0f, r;
        for (c = 0; c < C; c++) m += xn[c];
        m /= (float)C;
        for (c = 0; c < C; c++) v += (xn[c] - m) * (xn[c] - m);
        r = 1.0f / sqrtf(v / (float)C + eps);
        for (c = 0; c < C; c++) on[c] = (xn[c] - m) * r * w[c] + (b ? b[c] : 0.0f);
        mean[n] = m;
        rstd[n] = r;
    }
}
IT_API void it_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                                      const float *w, const float *mean, const float *rstd, int N, int C) {
    int n, c;
    for (n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C, *dn = dout + (size_t)n * C;
        float m = mean[n], r = rstd[n], dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (c = 0; c < C; c++) {
            float norm = (xn[c] - m) * r, dnorm = w[c] * dn[c];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (c = 0; c < C; c++) {
            float norm = (xn[c] - m) * r, dnorm = w[c] * dn[c];
            if (db) db[c] += dn[c];
            if (dw) dw[c] += norm * dn[c];
            if (dx) dx[(size_t)n * C + c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * r;
        }
    }
}

/* The angle of pair i at position p: p * theta^(-2i/D), computed in double so every backend can
   meet the same tolerance. */
static void it__rope_rotate(float *out, const float *x, int B, int T, int H, int D, float theta, int pos_offset,
                            float direction, int accumulate) {
    int b, t, h, i, half = D / 2;
    for (t = 0; t < T; t++)
        for (i = 0; i < half; i++) {
            double angle = (double)(pos_offset + t) * pow((double)theta, -2.0 * i / (double)D);
            float cs = (float)cos(angle), sn = (float)sin(angle) * direction;
            for (b = 0; b < B; b++)
                for (h = 0; h < H; h++) {
                    size_t base = (((size_t)b * T + t) * H + h) * D;
                    float x0 = x[base + i], x1 = x[base + i + half];
                    float y0 = x0 * cs - x1 * sn, y1 = x0 * sn + x1 * cs;
                    if (accumulate) {
                        out[base + i] += y0;
                        out[base + i + half] += y1;
                    } else {
                        out[base + i] = y0;
                        out[base + i + half] = y1;
                    }
                }
        }
}
IT_API void it_cpu_rope_forward(float *out, const float *x, int B, int T, int H, int D, float theta, int pos_offset) {
    it__rope_rotate(out, x, B, T, H, D, theta, pos_offset, 1.0f, 0);
}
IT_API void it_cpu_rope_backward(float *dx, const float *dout, int B, int T, int H, int D, float theta, int pos_offset) {
    it__rope_rotate(dx, dout, B, T, H, D, theta, pos_offset, -1.0f, 1); /* inverse rotation */
}

IT_API void it_cpu_softmax_forward(float *out, const float *x, int N, int C) {
    int n, c;
    for (n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;
        float *on = out + (size_t)n * C;
        float m = -FLT_MAX, sum = 0.0f;
        for (c = 0; c < C; c++) m = xn[c] > m ? xn[c] : m;
        for (c = 0; c < C; c++) sum += (on[c] = expf(xn[c] - m));
        for (c = 0; c < C; c++) on[c] /= sum;
    }
}
IT_API void it_cpu_softmax_backward(float *dx, const float *dout, const float *out, int N, int C) {
    int n, c;
    for (n = 0; n < N; n++) {
        const float *dn = dout + (size_t)n * C, *on = out + (size_t)n * C;
        float dot = 0.0f;
        for (c = 0; c < C; c++) dot += dn[c] * on[c];
        for (c = 0; c < C; c++) dx[(size_t)n * C + c] += on[c] * (dn[c] - dot);
    }
}

static float it__dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    int i;
    for (i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One (batch, query head) slice of causal attention, online softmax in one pass (no T-long
   buffer): out_t = sum_s softmax_s(q_t . k_s / sqrt(D)) v_s over s <= t. */
static void it__attention_forward_head(float *out, float *lse, const float *q, const float *k, const float *v,
                                       int b, int h, int T, int Hq, int Hkv, int D) {
    int t, s, d, kvh = h / (Hq / Hkv);
    float scale = 1.0f / sqrtf((float)D);
    for (t = 0; t < T; t++) {
        const float *qt = q + (((size_t)b * T + t) * Hq + h) * D;
        float *ot = out + (((size_t)b * T + t) * Hq + h) * D;
        float m = -FLT_MAX, l = 0.0f;
        for (d = 0; d < D; d++) ot[d] = 0.0f;
        for (s = 0; s <= t; s++) {
            const float *ks = k + (((size_t)b * T + s) * Hkv + kvh) * D;
            const float *vs = v + (((size_t)b * T + s) * Hkv + kvh) * D;
            float x = it__dot(qt, ks, D) * scale, p;
            if (x > m) { /* new running max: rescale what has been accumulated */
                float correction = expf(m - x);
                l *= correction;
                for (d = 0; d < D; d++) ot[d] *= correction;
                m = x;
            }
            p = expf(x - m);
            l += p;
            for (d = 0; d < D; d++) ot[d] += p * vs[d];
        }
        for (d = 0; d < D; d++) ot[d] /= l;
        lse[((size_t)b * Hq + h) * T + t] = m + logf(l);
    }
}
IT_API void it_cpu_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                     int B, int T, int Hq, int Hkv, int D) {
    int b, h;
    for (b = 0; b < B; b++)
        for (h = 0; h < Hq; h++) it__attention_forward_head(out, lse, q, k, v, b, h, T, Hq, Hkv, D);
}
/* Backward for every query head that shares kv head `kvh` (they all accumulate into the same dk,
   dv rows, so one worker owns the group). P is recomputed from the saved log-sum-exp. */
static void it__attention_backward_group(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                         const float *k, const float *v, const float *out, const float *lse,
                                         int b, int kvh, int T, int Hq, int Hkv, int D) {
    int group = Hq / Hkv, h, t, s, d;
    float scale = 1.0f / sqrtf((float)D);
    for (h = kvh * group; h < (kvh + 1) * group; h++)
        for (t = 0; t < T; t++) {
            size_t qi = (((size_t)b * T + t) * Hq + h) * D;
            const float *qt = q + qi, *dot = dout + qi;
            float *dqt = dq ? dq + qi : NULL;
            float L = lse[((size_t)b * Hq + h) * T + t];
            float Dt = it__dot(dot, out + qi, D); /* sum_s p_s dp_s */
            for (s = 0; s <= t; s++) {
                size_t ki = (((size_t)b * T + s) * Hkv + kvh) * D;
                float p = expf(it__dot(qt, k + ki, D) * scale - L);
                float dp = it__dot(dot, v + ki, D);
                float ds = p * (dp - Dt) * scale;
                for (d = 0; d < D; d++) {
                    if (dqt) dqt[d] += ds * k[ki + d];
                    if (dk) dk[ki + d] += ds * qt[d];
                    if (dv) dv[ki + d] += p * dot[d];
                }
            }
        }
}
IT_API void it_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                      const float *k, const float *v, const float *out, const float *lse,
                                      int B, int T, int Hq, int Hkv, int D) {
    int b, kvh;
    for (b = 0; b < B; b++)
        for (kvh = 0; kvh < Hkv; kvh++)
            it__attention_backward_group(dq, dk, dv, dout, q, k, v, out, lse, b, kvh, T, Hq, Hkv, D);
}

static float it__sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
IT_API void it_cpu_silu_forward(float *out, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = x[i] * it__sigmoid(x[i]);
}
static float it__silu_grad(float x) {
    float s = it__sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
}
IT_API void it_cpu_silu_backward(float *dx, const float *dout, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) dx[i] += dout[i] * it__silu_grad(x[i]);
}
#define IT__GELU_K 0.7978845608028654f /* sqrt(2/pi) */
IT_API void it_cpu_gelu_forward(float *out, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        float xi = x[i], u = IT__GELU_K * (xi + 0.044715f * xi * xi * xi);
        out[i] = 0.5f * xi * (1.0f + tanhf(u));
    }
}
IT_API void it_cpu_gelu_backward(float *dx, const float *dout, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        float xi = x[i], u = IT__GELU_K * (xi + 0.044715f * xi * xi * xi), th = tanhf(u);
        float du = IT__GELU_K * (1.0f + 3.0f * 0.044715f * xi * xi);
        dx[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * xi * (1.0f - th * th) * du);
    }
}
IT_API void it_cpu_swiglu_forward(float *out, const float *gate, const float *up, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = gate[i] * it__sigmoid(gate[i]) * up[i];
}
IT_API void it_cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                   const float *up, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (dgate) dgate[i] += dout[i] * up[i] * it__silu_grad(gate[i]);
        if (dup) dup[i] += dout[i] * gate[i] * it__sigmoid(gate[i]);
    }
}

static float it__row_logsumexp(const float *x, int n) {
    float m = -FLT_MAX, sum = 0.0f;
    int i;
    for (i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    for (i = 0; i < n; i++) sum += expf(x[i] - m);
    return m + logf(sum);
}
IT_API long it_cpu_cross_entropy_forward(float *losses, float *lse, const float *logits, const int32_t *targets,
                                         int N, int V, int ignore_index) {
    int n;
    for (n = 0; n < N; n++) {
        const float *ln = logits + (size_t)n * V;
        int t = targets[n];
        if (t == ignore_index) {
            losses[n] = 0.0f;
            lse[n] = 0.0f;
            continue;
        }
        if (t < 0 || t >= V) return n;
        lse[n] = it__row_logsumexp(ln, V);
        losses[n] = lse[n] - ln[t];
    }
    return -1;
}
IT_API void it_cpu_cross_entropy_backward(float *dlogits, const float *logits, const float *lse,
                                          const int32_t *targets, float dloss_scale, int N, int V, int ignore_index) {
    int n, v;
    for (n = 0; n < N; n++) {
        const float *ln = logits + (size_t)n * V;
        float *dn = dlogits + (size_t)n * V;
        if (targets[n] == ignore_index) continue;
        for (v = 0; v < V; v++) dn[v] += dloss_scale * (expf(ln[v] - lse[n]) - (v == targets[n] ? 1.0f : 0.0f));
    }
}

/* Fused head + loss over vocab chunks. Per row we keep a running max (in lse) and a running sum of
   exponentials (in losses), merged chunk by chunk like an online softmax; the target's logit is a
   single dot product, so it needs no chunk at all. */
IT_API long it_cpu_linear_cross_entropy_forward(float *losses, float *lse, float *scratch, const float *x,
                                                const float *w, const int32_t *targets, int N, int C, int V,
                                                int chunk, int ignore_index) {
    int n, v0, j;
    for (n = 0; n < N; n++) {
        if (targets[n] != ignore_index && (targets[n] < 0 || targets[n] >= V)) return n;
        lse[n] = -FLT_MAX;
        losses[n] = 0.0f;
    }
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = IT__MIN(chunk, V - v0);
        it_cpu_matmul(scratch, x, w + (size_t)v0 * C, N, cv, C, 0, 1, 0); /* [N, cv] logits */
        for (n = 0; n < N; n++) {
            const float *sn = scratch + (size_t)n * cv;
            float m = lse[n], s = losses[n], cm = -FLT_MAX;
            for (j = 0; j < cv; j++) cm = sn[j] > cm ? sn[j] : cm;
            if (cm > m) {
                s *= expf(m - cm);
                m = cm;
            }
            for (j = 0; j < cv; j++) s += expf(sn[j] - m);
            lse[n] = m;
            losses[n] = s;
        }
    }
    for (n = 0; n < N; n++) {
        lse[n] += logf(losses[n]);
        if (targets[n] == ignore_index) {
            losses[n] = 0.0f;
            continue;
        }
        losses[n] = lse[n] - it__dot(x + (size_t)n * C, w + (size_t)targets[n] * C, C);
    }
    return -1;
}
IT_API void it_cpu_linear_cross_entropy_backward(float *dx, float *dw, float *scratch, const float *x,
                                                 const float *w, const int32_t *targets, const float *lse,
                                                 float dloss_scale, int N, int C, int V, int chunk,
                                                 int ignore_index) {
    int n, v0, j;
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = IT__MIN(chunk, V - v0);
        it_cpu_matmul(scratch, x, w + (size_t)v0 * C, N, cv, C, 0, 1, 0);
        for (n = 0; n < N; n++) { /* scratch becomes dlogits for this chunk */
            float *sn = scratch + (size_t)n * cv;
            int t = targets[n];
            if (t == ignore_index) {
                memset(sn, 0, sizeof(float) * (size_t)cv);
                continue;
            }
            for (j = 0; j < cv; j++) sn[j] = dloss_scale * (expf(sn[j] - lse[n]) - (v0 + j == t ? 1.0f : 0.0f));
        }
        if (dx) it_cpu_matmul(dx, scratch, w + (size_t)v0 * C, N, C, cv, 0, 0, 1);         /* [N,cv]@[cv,C] */
        if (dw) it_cpu_matmul(dw + (size_t)v0 * C, scratch, x, cv, C, N, 1, 0, 1);         /* [cv,N]@[N,C] */
    }
}

IT_API double it_cpu_sum_squares(const float *x, size_t n) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}
IT_API int it_cpu_argmax(const float *x, int n) {
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

IT_API void it_cpu_lion_update(float *p, float *m, const float *g, size_t n, float lr, float beta1, float beta2,
                               float wd, float grad_scale) {
    size_t i;
    for (i = 0; i < n; i++) {
        float gi = g[i] * grad_scale, c = beta1 * m[i] + (1.0f - beta1) * gi;
        float sign = c > 0.0f ? 1.0f : (c < 0.0f ? -1.0f : 0.0f);
        p[i] -= lr * (sign + wd * p[i]);
        m[i] = beta2 * m[i] + (1.0f - beta2) * gi;
    }
}
IT_API void it_cpu_adamw_update(float *p, float *m, float *v, const float *g, size_t n, float lr, float beta1,
                                float beta2, float eps, float wd, int t, float grad_scale) {
    size_t i;
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    for (i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
        v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        p[i] -= lr * ((m[i] / bc1) / (sqrtf(v[i] / bc2) + eps) + wd * p[i]);
    }
}
IT_API void it_cpu_sgd_update(float *p, float *buf, const float *g, size_t n, float lr, float momentum, float wd,
                              float grad_scale) {
    size_t i;
    for (i = 0; i < n; i++) {
        float gi = g[i] * grad_scale + wd * p[i];
        buf[i] = momentum * buf[i] + gi;
        p[i] -= lr * buf[i];
    }
}

/* Heap sort of indices by descending value (ties: lower index first); no comparator context
   needed, no allocation. */
static int it__ranks_before(const float *val, int a, int b) { return val[a] > val[b] || (val[a] == val[b] && a < b); }
static void it__sift_down(int *idx, const float *val, int start, int end) {
    int root = start;
    while (2 * root + 1 < end) {
        int child = 2 * root + 1, swap = root, tmp;
        if (it__ranks_before(val, idx[swap], idx[child])) swap = child; /* min-heap on rank order */
        if (child + 1 < end && it__ranks_before(val, idx[swap], idx[child + 1])) swap = child + 1;
        if (swap == root) return;
        tmp = idx[root];
        idx[root] = idx[swap];
        idx[swap] = tmp;
        root = swap;
    }
}
static void it__sort_desc(int *idx, const float *val, int n) {
    int start, end, tmp;
    for (start = n / 2 - 1; start >= 0; start--) it__sift_down(idx, val, start, n);
    for (end = n - 1; end > 0; end--) {
        tmp = idx[0];
        idx[0] = idx[end];
        idx[end] = tmp;
        it__sift_down(idx, val, 0, end);
    }
}
IT_API int it_cpu_sample(const float *logits, int V, float temperature, int top_k, float top_p, float coin,
                         float *probs, int *index) {
    int i, keep;
    float m = -FLT_MAX, sum = 0.0f, cum = 0.0f;
    if (temperature <= 0.0f) return it_cpu_argmax(logits, V);
    for (i = 0; i < V; i++) m = logits[i] > m ? logits[i] : m;
    for (i = 0; i < V; i++) {
        probs[i] = expf((logits[i] - m) / temperature);
        sum += probs[i];
        index[i] = i;
    }
    for (i = 0; i < V; i++) probs[i] /= sum;
    it__sort_desc(index, probs, V);
    keep = (top_k > 0 && top_k < V) ? top_k : V;
    sum = 0.0f;
    for (i = 0; i < keep; i++) sum += probs[index[i]];
    if (top_p < 1.0f) { /* smallest prefix whose mass (within the top-k) reaches top_p */
        for (i = 0; i < keep; i++) {
            cum += probs[index[i]] / sum;
            if (cum >= top_p) {
                keep = i + 1;
                break;
            }
        }
        sum = 0.0f;
        for (i = 0; i < keep; i++) sum += probs[index[i]];
    }
    cum = 0.0f;
    for (i = 0; i < keep; i++) {
        cum += probs[index[i]] / sum;
        if (coin < cum) return index[i];
    }
    return index[keep - 1];
}

/* >>end ----------------------------------------------------------------------------------------- */
#endif /* IRONTENSOR_IMPLEMENTATION_INCLUDED */
#endif /* IRONTENSOR_IMPLEMENTATION */
