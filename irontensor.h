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
IT_API it_tensor *it_input(it_graph *g, const char *name, it_dtype dtype, int ndim, const int *dims);
/* Names the most recent node's output, for error messages and debugging. Returns t. */
IT_API it_tensor *it_name(it_tensor *t, const char *name);

/* Ops. Shapes in [brackets]; "..." is any number of leading dims. */
/* matmul: a [..., M, K] (or [..., K, M] if trans_a), b [..., K, N] (or [..., N, K] if trans_b).
   b may be 2-D and shared by every leading index of a (a linear layer: it_matmul(x, W, 0, 1)).
   Out [..., M, N]. */
IT_API it_tensor *it_matmul(it_graph *g, it_tensor *a, it_tensor *b, int trans_a, int trans_b);
/* add / mul: b has a's shape, or a suffix of it (broadcast over a's leading dims: biases). */
IT_API it_tensor *it_add(it_graph *g, it_tensor *a, it_tensor *b);
IT_API it_tensor *it_mul(it_graph *g, it_tensor *a, it_tensor *b);
IT_API it_tensor *it_scale(it_graph *g, it_tensor *a, float s);
/* table [V, C], ids i32 [...] -> [..., C]. Ids out of [0, V) fail the run with IT_ERR_RANGE. */
IT_API it_tensor *it_embedding(it_graph *g, it_tensor *table, it_tensor *ids);
/* x [..., C], w [C] -> [..., C] */
IT_API it_tensor *it_rmsnorm(it_graph *g, it_tensor *x, it_tensor *w, float eps);
/* x [..., C], w [C], b [C] (b may be NULL) -> [..., C] */
IT_API it_tensor *it_layernorm(it_graph *g, it_tensor *x, it_tensor *w, it_tensor *b, float eps);
/* x [B, T, H, D], D even; Hugging Face half-split rotation, position = pos_offset + t. */
IT_API it_tensor *it_rope(it_graph *g, it_tensor *x, float theta, int pos_offset);
/* softmax over the last dim */
IT_API it_tensor *it_softmax(it_graph *g, it_tensor *x);
/* Causal self-attention with grouped-query heads: q [B, T, Hq, D], k and v [B, T, Hkv, D] with
   Hkv dividing Hq; scale 1/sqrt(D). Out [B, T, Hq, D]. */
IT_API it_tensor *it_attention(it_graph *g, it_tensor *q, it_tensor *k, it_tensor *v);
IT_API it_tensor *it_silu(it_graph *g, it_tensor *x);
IT_API it_tensor *it_gelu(it_graph *g, it_tensor *x); /* tanh approximation (GPT-2) */
/* silu(gate) * up, same shapes */
IT_API it_tensor *it_swiglu(it_graph *g, it_tensor *gate, it_tensor *up);
/* logits [N, V] (or [..., V]), targets i32 [N] -> scalar: mean over targets != ignore_index.
   Targets out of range (other than ignore_index) fail the run with IT_ERR_RANGE. */
IT_API it_tensor *it_cross_entropy(it_graph *g, it_tensor *logits, it_tensor *targets, int ignore_index);
/* Fused head + loss: x [..., C], w [V, C], targets i32 [...] -> scalar mean cross-entropy of
   x @ w^T. The logits are computed `chunk` vocabulary rows at a time (0 = a default) and never
   materialised whole. */
IT_API it_tensor *it_linear_cross_entropy(it_graph *g, it_tensor *x, it_tensor *w, it_tensor *targets,
                                          int ignore_index, int chunk);
IT_API it_tensor *it_sum(it_graph *g, it_tensor *x);  /* -> scalar [1] */
IT_API it_tensor *it_mean(it_graph *g, it_tensor *x); /* -> scalar [1] */
/* A view with new dims and the same element count; shares storage with x. One dim may be -1. */
IT_API it_tensor *it_reshape(it_graph *g, it_tensor *x, int ndim, const int *dims);

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
typedef struct it_node it_node;
typedef struct it_backend {
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
} it_backend;

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
