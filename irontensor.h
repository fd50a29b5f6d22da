/* irontensor.h - v0.1.0 - train and run small language models from plain C. MIT licence at the end.

   IronTensor-C is a single-header library: tensors, a static graph with autograd, a liveness
   memory planner, a threaded CPU backend with a blocked SGEMM, Llama and GPT-2 models,
   Lion/AdamW/SGD, learning-rate schedules, byte-level and BPE tokenizers, llm.c token files and
   Hugging Face-readable safetensors checkpoints. The Metal backend lives in irontensor_metal.h.

   SECTIONS (search for the banner, e.g. ">>planner")
     declarations  >>results >>context >>tensors >>rng >>params >>graph >>models >>optimizers
                   >>tokenizers >>token_files >>dataset >>schedules >>checkpoints >>ops >>backend
                   >>cpu_kernels
     implementation >>util >>cpu_kernels >>sgemm >>threads >>context >>tensors >>params >>graph
                   >>autograd >>planner >>run >>cpu >>models >>optimizers >>io >>tokenizers >>dataset
                   >>schedules >>json >>crc32 >>safetensors >>ckfiles >>ckwrite >>ckread >>ckapi

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
                            compile-time allocator (both or neither) under the default aligned
                            allocator, in place of malloc/free; `u` is it_context_desc's
                            allocator.user. Runtime hooks go in the desc. Either way every byte
                            the library allocates goes through the context's allocator.
     IT_ASSERT(c)           assert used for internal invariants (default: prints and aborts)

   EXAMPLE: build a graph, run backward, read a gradient (the README's program, character for
   character; make test compiles and runs both)
         #define IRONTENSOR_IMPLEMENTATION
         #include "irontensor.h"
         #include <stdio.h>
         #include <string.h>

         int main(void) {
             float inputs[6] = {1, 2, 3, 4, 5, 6};                         // 2 rows of 3 features
             it_context *ctx;
             if (it_context_create(NULL, &ctx) != IT_OK) return 1;
             it_tensor *w = it_param(ctx, "w", 2, (int[]){4, 3});           // weights [out=4, in=3]
             it_graph  *g = it_graph_create(ctx);
             it_tensor *x = it_input(g, "x", IT_F32, 2, (int[]){2, 3});      // a batch of 2 inputs
             it_tensor *y = it_matmul(g, x, w, 0, 1);                         // y = x @ w^T: [2, 4]
             it_tensor *loss = it_mean(g, it_mul(g, y, y));
             it_graph_backward(g, loss);                                      // derive the backward graph
             if (it_graph_plan(g) != IT_OK) return 1;                         // lay out all memory
             it_param_init_normal(ctx, 0.5f, 1234);                           // seeded weights
             memcpy(it_data(x), inputs, sizeof inputs);
             it_zero_grads(ctx);                                              // gradients accumulate
             it_graph_run(g, IT_RUN_FORWARD_BACKWARD);
             printf("loss %f, dL/dw[0][0] %f\n", it_data(loss)[0], it_grad(w)[0]);
             it_context_destroy(ctx);
             return 0;
         }

   MEMORY
     The context owns everything. Every byte the library allocates comes from the context's
     allocator (it_context_desc.allocator, called with its user pointer; the default is an
     aligned malloc), and there is one rule for objects: graphs, models, optimizers, decoders,
     tokenizers and datasets are made through a context, belong to it and are released by
     it_context_destroy; it_*_destroy releases one earlier. Only byte and id arrays handed to the
     caller (it_file_read, it_tokenizer_encode, it_token_file_read, it_token_file_parse) are the
     caller's, freed with it_file_free / it_ids_free(ctx, ...) while the context lives.
     Parameters live in one block, their gradients in a second, the
     optimizer state in a third (llm.c style: flat arrays the optimizer and checkpoints can walk).
     Each graph's activations, activation gradients and saved tensors are packed by the planner
     into one arena by liveness (a buffer's bytes are reused once its last reader has run).
     it_graph_plan() allocates; it_graph_run() never does.

   ERRORS
     Mistakes in how the library is called (shapes that do not fit, NULL tensors) are programmer
     errors: a check prints file, line and the shapes, then aborts. The same holds for NULL
     pointers: a pointer argument may be NULL only where its comment says so (a destroy of NULL,
     an empty input with n = 0, a NULL desc for defaults); any other NULL stops with the function
     and the argument named. it_context_last_error(NULL) returns a fixed message instead, so a
     failed it_context_create can still be reported. Failures of the environment
     (memory, files, bad data such as a token id out of range) return an it_result < 0; the
     detail is in it_context_last_error() and goes to the logger.

   THREADING
     it_context_desc.n_threads sets the size of the CPU thread pool (0 = all cores). The library
     is not re-entrant on one context; separate contexts are independent.

   CHECKPOINTS
     A directory: config.json (Hugging Face keys), model.safetensors (Hugging Face names),
     optimizer.safetensors and trainer_state.json (bit-exact resume), tokenizer.bin (BPE). Saves
     are atomic and never delete what they did not write; loads validate everything first.
     Details at the >>checkpoints banner.

   CHANGES
     0.1.0  tensors, graph + autograd, planner, CPU backend (SGEMM), models, optimizers,
            schedules, tokenizers, datasets, checkpoints.
*/
/* The implementation's checkpoint writer needs POSIX 2008 (openat/unlinkat/fstatat, O_NOFOLLOW,
   fcntl locks, kill). Feature macros count only before the first system header, so this sits
   above every #include; a file that set its own (or included a header first) keeps its choice,
   and the implementation stops with a message if POSIX 2008 is then not visible. Apple headers
   show everything unless a macro narrows them, so none is set there. */
#if defined(IRONTENSOR_IMPLEMENTATION) && !defined(IRONTENSOR_H) && !defined(__APPLE__) && !defined(_POSIX_C_SOURCE) && \
    !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef IRONTENSOR_H
#define IRONTENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef IRONTENSOR_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define IT_API static __attribute__((unused)) /* a file may use only part of the API */
#else
#define IT_API static
#endif
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

/* Every allocation of the library and its backends goes through these, with `user`. There is no
   realloc hook: arrays grow by allocating, copying and freeing (doubling their capacity). */
typedef struct it_allocator {
    void *(*alloc)(size_t size, void *user); /* must return 64-byte aligned memory or NULL */
    void (*free)(void *ptr, void *user);     /* never called with NULL */
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
/* Uniform in [0, n), unbiased; always returns (a bounded rejection loop: see the implementation). */
IT_API uint32_t it_rng_below(it_rng *r, uint32_t n);
IT_API float it_rng_uniform(it_rng *r);              /* [0, 1) with 24 random bits */
IT_API float it_rng_normal(it_rng *r);               /* N(0, 1), Box-Muller in double */
/* 0 for the all-zero state, the one state xoshiro never leaves (every draw is 0); it_rng_seed
   never produces it, and checkpoint loads refuse it for data_rng. */
IT_API int it_rng_valid(const it_rng *r);

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
/* Allocates the parameter block now (it_graph_plan also does it); after this no new parameter
   may be declared. Gradients are not allocated here: see it_grads_alloc. */
IT_API it_result it_params_alloc(it_context *ctx);
/* Trainable parameters (the default) have a gradient and optimizer state; a frozen one (a LoRA
   base weight) has neither: no gradient memory, no optimizer memory, backward stops at it and
   it_grad() of it is NULL. Set it before any graph reads the parameter and before the gradients
   are laid out (the first it_graph_backward, it_grads_alloc or it_optimizer_create): IT_ERR_STATE
   after that, IT_ERR_INVALID_ARGUMENT for a tensor that is not a parameter. */
IT_API it_result it_param_set_trainable(it_tensor *param, int trainable);
IT_API int it_param_trainable(const it_tensor *param);
/* Gradients exist only for trainable parameters and only once something needs them: the plan of
   a graph with a backward, or an optimizer (forward-only graphs and the decoder never allocate
   them). The gradient block holds the trainable parameters in declaration order, each on a
   64-byte boundary, so with every parameter trainable it is laid out exactly like the parameter
   block. it_grads_alloc allocates it now; it_grad_numel is its size in floats. */
IT_API it_result it_grads_alloc(it_context *ctx);
IT_API size_t it_grad_numel(const it_context *ctx);
/* Every parameter ~ N(0, std) from a seeded generator, in declaration order. */
IT_API it_result it_param_init_normal(it_context *ctx, float std, uint64_t seed);
IT_API void it_param_fill(it_tensor *param, float value);
/* Zeroes every parameter gradient (they accumulate over runs): once per optimizer step. */
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
/* Activation checkpointing (recomputation). Nodes added between begin and end form a segment
   whose internal activations are not kept for the backward: the planner gives them one lifetime
   in the forward and another from a recomputation of the segment's forward, which the runner
   inserts just before the segment's backward. Only tensors read outside the segment (its output,
   kept tensors) stay alive in between. Costs one more forward of the segment; saves its
   activations (a Llama layer: 14 of every 15 floats it would keep). Segments do not nest. */
IT_API void it_graph_checkpoint_begin(it_graph *g);
IT_API void it_graph_checkpoint_end(it_graph *g);

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
/* RoPE frequency scaling, as Hugging Face's rope_scaling / rope_parameters "rope_type":
   linear divides every frequency by factor (positions stretched); llama3 (Llama 3.1+) divides
   only the low frequencies, wavelengths above original_max_positions / low_freq_factor, by factor,
   keeps those below original_max_positions / high_freq_factor, and blends in between. */
typedef enum it_rope_kind { IT_ROPE_DEFAULT = 0, IT_ROPE_LINEAR, IT_ROPE_LLAMA3, IT_ROPE_KIND_COUNT } it_rope_kind;
typedef struct it_rope_scaling {
    it_rope_kind kind;
    float factor;                    /* linear, llama3: > 0 */
    float low_freq_factor, high_freq_factor; /* llama3: high > low > 0 */
    int original_max_positions;      /* llama3: the context length the model was trained at */
} it_rope_scaling;
/* x [B, T, H, D], D even; Hugging Face half-split rotation, position = pos_offset + t. */
IT_API it_tensor *it_rope_at(const char *file, int line, it_graph *g, it_tensor *x, float theta, int pos_offset);
/* The same with the frequencies scaled (scaling NULL or IT_ROPE_DEFAULT: it_rope). */
IT_API it_tensor *it_rope_scaled_at(const char *file, int line, it_graph *g, it_tensor *x, float theta,
                                    const it_rope_scaling *scaling, int pos_offset);
/* softmax over the last dim */
IT_API it_tensor *it_softmax_at(const char *file, int line, it_graph *g, it_tensor *x);
/* Causal self-attention with grouped-query heads: q [B, T, Hq, D], k and v [B, T, Hkv, D] with
   Hkv dividing Hq; scale 1/sqrt(D). Out [B, T, Hq, D]. */
IT_API it_tensor *it_attention_at(const char *file, int line, it_graph *g, it_tensor *q, it_tensor *k, it_tensor *v);
/* The same where query t sees only keys t - window + 1 .. t (sliding-window attention, Mistral);
   window 0 = every earlier key (it_attention). */
IT_API it_tensor *it_attention_window_at(const char *file, int line, it_graph *g, it_tensor *q, it_tensor *k,
                                         it_tensor *v, int window);
IT_API it_tensor *it_silu_at(const char *file, int line, it_graph *g, it_tensor *x);
IT_API it_tensor *it_gelu_at(const char *file, int line, it_graph *g, it_tensor *x); /* tanh approximation (GPT-2) */
/* silu(gate) * up, same shapes */
IT_API it_tensor *it_swiglu_at(const char *file, int line, it_graph *g, it_tensor *gate, it_tensor *up);
/* logits [N, V] (or [..., V]), targets i32 [N] -> scalar: mean over targets != ignore_index.
   Targets out of range (other than ignore_index) fail the run with IT_ERR_RANGE. */
IT_API it_tensor *it_cross_entropy_at(const char *file, int line, it_graph *g, it_tensor *logits, it_tensor *targets, int ignore_index);
/* Fused head + loss: x [..., C], w [V, C], targets i32 [...] -> scalar mean cross-entropy of
   x @ w^T. The logits are computed `chunk` vocabulary rows at a time (0 = the default below) and
   never materialised whole. */
#define IT_LINEAR_CROSS_ENTROPY_CHUNK 2048 /* vocab rows: 8 MB of logits per 1024 tokens */
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
#define it_attention_window(...) it_attention_window_at(__FILE__, __LINE__, __VA_ARGS__)
#define it_rope_scaled(...) it_rope_scaled_at(__FILE__, __LINE__, __VA_ARGS__)
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
IT_API int it_graph_node_count(const it_graph *g);
/* Prints the node list with shapes and arena offsets. */
IT_API void it_graph_print(const it_graph *g);

/* ------------------------------------------------------------------------------------------------
   >>models  Llama (RMSNorm pre-norm, RoPE, GQA, SwiGLU, optional tied head, no biases) and GPT-2
   (LayerNorm, learned positions, GELU MLP, biases, tied head). Parameters carry Hugging Face names.
------------------------------------------------------------------------------------------------ */
typedef enum it_arch { IT_ARCH_INVALID = 0, IT_ARCH_LLAMA, IT_ARCH_GPT2, IT_ARCH_COUNT } it_arch;

/* The Hugging Face model families the Llama and GPT-2 code covers, with their config.json
   "model_type" and "architectures" names. Each is the Llama block plus a few flags:
   Mistral = sliding-window attention, Qwen2 = q/k/v biases, Qwen3 = per-head q/k RMSNorm. */
#define IT_MODEL_FAMILY_LIST                                             \
    X(IT_FAMILY_LLAMA, IT_ARCH_LLAMA, "llama", "LlamaForCausalLM")       \
    X(IT_FAMILY_MISTRAL, IT_ARCH_LLAMA, "mistral", "MistralForCausalLM") \
    X(IT_FAMILY_QWEN2, IT_ARCH_LLAMA, "qwen2", "Qwen2ForCausalLM")       \
    X(IT_FAMILY_QWEN3, IT_ARCH_LLAMA, "qwen3", "Qwen3ForCausalLM")       \
    X(IT_FAMILY_GPT2, IT_ARCH_GPT2, "gpt2", "GPT2LMHeadModel")
typedef enum it_model_family {
    IT_FAMILY_DEFAULT = 0, /* the arch's own: llama or gpt2 */
#define X(id, arch, model_type, architecture) id,
    IT_MODEL_FAMILY_LIST
#undef X
    IT_FAMILY_COUNT
} it_model_family;
IT_API const char *it_model_family_type(it_model_family f);         /* "qwen2"; NULL when unknown */
IT_API const char *it_model_family_architecture(it_model_family f); /* "Qwen2ForCausalLM" */

typedef struct it_model_config {
    it_arch arch;
    int vocab_size, dim, n_layers, n_heads, n_kv_heads, ffn_dim, max_seq;
    int untied;       /* 0 = the head shares the embedding table (default), 1 = own lm_head */
    float rope_theta; /* Llama; 0 = 10000 */
    float norm_eps;   /* 0 = 1e-5 */
    /* Llama-family options (all 0 = IronTensor's own Llama): */
    int head_dim;       /* per-head size; 0 = dim / n_heads (Qwen3, Llama 3.2 set it explicitly) */
    int qkv_bias;       /* q, k, v projections have biases (Qwen2; Llama's attention_bias) */
    int o_bias;         /* the output projection has a bias (Llama's attention_bias) */
    int mlp_bias;       /* gate, up, down have biases (Llama's mlp_bias) */
    int qk_norm;        /* RMSNorm over each head's q and k before RoPE (Qwen3) */
    int sliding_window; /* a query sees only the last sliding_window keys, itself included (Mistral); 0 = all */
    it_rope_scaling rope_scaling;
    it_model_family family; /* the Hugging Face family a checkpoint's config.json names */
} it_model_config;
/* dim / n_heads unless the config sets head_dim. */
IT_API int it_model_head_dim(const it_model_config *cfg);

/* "tiny", "small", "medium", "shakespeare" (IronTensor's Llama presets) and "gpt2-tiny".
   Returns IT_ERR_INVALID_ARGUMENT for an unknown name. */
IT_API it_result it_model_preset(const char *name, it_model_config *out);
IT_API const char *it_model_preset_names(void); /* "tiny, small, ..." for help texts */
/* Checks the config (heads divide dim, kv heads divide heads, even head dim, positive sizes);
   the error names the field. ctx may be NULL (then only the result is returned). */
IT_API it_result it_model_config_check(it_context *ctx, const it_model_config *cfg);
IT_API size_t it_model_config_param_count(const it_model_config *cfg);

typedef struct it_model {
    it_context *ctx;
    it_model_config config;
    it_tensor *embed, *pos_embed, *final_norm, *final_norm_bias, *head; /* head == embed when tied */
    it_tensor **layer_params; /* n_layers x IT_MODEL_LAYER_PARAMS, NULL where the arch has none */
    int recompute_layers;     /* read-only: it_model_set_recompute_layers sets it */
} it_model;

/* Per-layer parameter slots (Llama uses the first nine and the biases / q-k norms its config asks
   for, GPT-2 the norms, projections and biases). */
enum {
    IT_LP_ATTN_NORM, IT_LP_Q, IT_LP_K, IT_LP_V, IT_LP_O, IT_LP_MLP_NORM, IT_LP_GATE, IT_LP_UP, IT_LP_DOWN,
    IT_LP_ATTN_NORM_B, IT_LP_Q_B, IT_LP_K_B, IT_LP_V_B, IT_LP_O_B, IT_LP_MLP_NORM_B, IT_LP_UP_B, IT_LP_DOWN_B,
    IT_LP_GATE_B, IT_LP_Q_NORM, IT_LP_K_NORM, /* Llama's mlp_bias; Qwen3's per-head norms [head_dim] */
    IT_MODEL_LAYER_PARAMS
};

/* Declares the model's parameters in ctx (before any graph is planned). The context releases the
   model when it is destroyed; it_model_destroy releases it earlier. */
IT_API it_result it_model_create(it_context *ctx, const it_model_config *cfg, it_model **out);
IT_API void it_model_destroy(it_model *m);
/* Seeded init: weights ~ N(0, 0.02), residual output projections scaled by 1/sqrt(2 layers),
   norm weights 1, biases 0. Same seed, same weights, on every platform. */
IT_API it_result it_model_init(it_model *m, uint64_t seed);
/* on = 1: graphs made after this keep only each layer's input for the backward and recompute the
   layer inside it (activation checkpointing, it_graph_checkpoint_*): far less memory for one more
   forward of the layers per step. Graphs made before keep what they were planned with. */
IT_API void it_model_set_recompute_layers(it_model *m, int on);

/* A planned graph for batches of [batch, seq] tokens. */
typedef struct it_model_graph {
    it_model *model;
    it_graph *graph;
    int batch, seq;
    it_tensor *tokens;  /* i32 [batch, seq], filled by the caller */
    it_tensor *targets; /* i32 [batch, seq] (training and eval graphs) */
    it_tensor *loss;    /* scalar mean cross-entropy (training and eval graphs) */
    it_tensor *logits;  /* f32 [batch, seq, vocab] (logits graphs) */
} it_model_graph;
typedef enum it_graph_purpose {
    IT_PURPOSE_INVALID = 0,
    IT_PURPOSE_TRAIN,  /* loss with backward: fused head + loss, logits never materialised */
    IT_PURPOSE_EVAL,   /* loss, forward only */
    IT_PURPOSE_LOGITS, /* logits, forward only (generation) */
    IT_PURPOSE_COUNT
} it_graph_purpose;
IT_API it_result it_model_graph_create(it_model *m, it_graph_purpose purpose, int batch, int seq,
                                       it_model_graph *out);
IT_API void it_model_graph_destroy(it_model_graph *mg);

/* Generation with a KV cache: one cache per layer, preallocated to max_seq positions. A prompt is
   fed as one batch, then one token per call; the logits match what a full recomputation of the
   sequence gives (same tokens under greedy decoding; the tests check it). Runs on the CPU with the
   context's thread pool, straight from the parameter block (no graph, nothing allocated after
   create). Llama and GPT-2. A decoder belongs to the model's context: released with it, or
   earlier by it_decoder_destroy (before the model's). */
typedef struct it_decoder it_decoder;
IT_API it_result it_decoder_create(it_model *m, int max_seq, it_decoder **out);
IT_API void it_decoder_destroy(it_decoder *d);
IT_API void it_decoder_reset(it_decoder *d);       /* empty the cache: position 0 */
IT_API int it_decoder_pos(const it_decoder *d);    /* tokens in the cache */
IT_API int it_decoder_vocab(const it_decoder *d);
/* Appends n >= 1 tokens at positions pos .. pos + n - 1 in one pass and points *logits at the
   last one's logits [vocab] (valid until the next call). IT_ERR_RANGE past max_seq or for an id
   outside the vocabulary (the cache is unchanged then). */
IT_API it_result it_decoder_feed(it_decoder *d, const int32_t *tokens, int n, const float **logits);

/* ------------------------------------------------------------------------------------------------
   >>optimizers  Lion, AdamW, SGD over the flat parameter block, with global-norm clipping and
   weight decay on matrices only by default.
------------------------------------------------------------------------------------------------ */
#define IT_OPTIMIZER_LIST(X) X(IT_OPTIMIZER_LION, "lion") X(IT_OPTIMIZER_ADAMW, "adamw") X(IT_OPTIMIZER_SGD, "sgd")
typedef enum it_optimizer_kind {
    IT_OPTIMIZER_INVALID = 0,
#define IT__OPTIMIZER_ENUM(name, text) name,
    IT_OPTIMIZER_LIST(IT__OPTIMIZER_ENUM)
#undef IT__OPTIMIZER_ENUM
    IT_OPTIMIZER_COUNT
} it_optimizer_kind;
IT_API const char *it_optimizer_name(it_optimizer_kind k);
/* Name (as it_optimizer_name prints it) to kind; IT_ERR_INVALID_ARGUMENT for an unknown name (as
   it_schedule_parse). */
IT_API it_result it_optimizer_parse(const char *name, it_optimizer_kind *out);

typedef struct it_optimizer_desc {
    it_optimizer_kind kind; /* 0 = AdamW */
    float beta1, beta2;     /* 0 = the optimizer's default (Lion 0.9/0.99, AdamW 0.9/0.999) */
    float eps;              /* AdamW; 0 = 1e-8 */
    float momentum;         /* SGD; 0 = none */
    float weight_decay;
    int decay_vectors;      /* 0 = decay only matrices (not norms, biases); 1 = everything */
    float clip_norm;        /* global gradient-norm clip; 0 = off */
} it_optimizer_desc;
typedef struct it_optimizer {
    it_context *ctx;
    it_optimizer_desc desc;
    float *state;    /* one block: m (and v for AdamW) per trainable parameter, laid out like the
                        gradient block (it_grad_numel floats each) */
    size_t state_numel;
    int step;        /* updates applied so far */
} it_optimizer;
IT_API it_result it_optimizer_create(it_context *ctx, const it_optimizer_desc *desc, it_optimizer **out);
IT_API void it_optimizer_destroy(it_optimizer *opt);
/* One update of every parameter from the gradient block. grad_scale multiplies the gradients
   (1/k after accumulating k micro-batches); clipping applies to the scaled gradient. Returns the
   scaled gradient's global norm (before clipping) in *grad_norm when not NULL. lr and grad_scale
   must be finite and >= 0 (else IT_ERR_INVALID_ARGUMENT and nothing changes). */
IT_API it_result it_optimizer_step(it_optimizer *opt, float lr, float grad_scale, float *grad_norm);

/* ------------------------------------------------------------------------------------------------
   >>tokenizers  byte-level (id = byte value, vocab 256) and byte-level BPE trained on a text.
   Both are lossless on arbitrary bytes (zero bytes, invalid UTF-8): decode(encode(x)) == x.

   BPE: ids 0..255 are the bytes; merge r (rank r, 0-based) makes token 256 + r from a pair of
   earlier tokens. Text is first cut into chunks that no token crosses (a word with its leading
   space, a run of digits, a run of punctuation, a run of whitespace; bytes >= 0x80 count as
   letters so UTF-8 sequences stay together; a chunk is at most IT_TOKENIZER_MAX_TOKEN_BYTES
   long). Training counts pairs inside chunks and repeatedly merges the most frequent pair, ties
   going to the lowest (left id, right id): the result depends only on the text and vocab_size.
   Encoding applies merges lowest rank first, leftmost first, within each chunk.

   TOKENIZER FILE (version 1, all integers little-endian uint32)
     0   magic        "ITTK" (bytes 49 54 54 4B)
     4   version      1
     8   vocab_size   = 256 + n_merges, at most IT_TOKENIZER_MAX_VOCAB
     12  n_merges
     16  split rule   1 = the chunking above
     20  reserved     0
     24  n_merges x { left id, right id }   merge r may only use ids < 256 + r; no pair twice
     end crc32        CRC-32 (IEEE, as zlib.crc32) of every byte before it
   The size must be exactly 28 + 8 n_merges. Anything else is rejected with IT_ERR_FORMAT and a
   message naming the file and what was wrong.
------------------------------------------------------------------------------------------------ */
/* Every function taking a context needs a non-NULL one (errors go to its last-error). A tokenizer
   belongs to the context that made it (its memory comes from the context's allocator; it is
   released with the context, or earlier by it_tokenizer_destroy). It is read-only once made:
   several threads may encode and decode with it at once (with a custom allocator, one that is
   thread-safe: encoding allocates the id array). */
#define IT_TOKENIZER_MAX_VOCAB 262144    /* 2^18: above every common LLM vocabulary */
#define IT_TOKENIZER_MAX_TOKEN_BYTES 256 /* longest chunk, hence longest token */

typedef struct it_tokenizer it_tokenizer;

/* The byte-level tokenizer: 256 tokens, id = byte value. */
IT_API it_result it_tokenizer_byte(it_context *ctx, it_tokenizer **out);
/* Trains a BPE tokenizer on `text` to vocab_size tokens (256..IT_TOKENIZER_MAX_VOCAB). When the
   text runs out of pairs first the vocabulary is smaller (a warning is logged); read it back with
   it_tokenizer_vocab_size. Deterministic. */
IT_API it_result it_tokenizer_train_bpe(it_context *ctx, const uint8_t *text, size_t n, int vocab_size,
                                        it_tokenizer **out);
IT_API it_result it_tokenizer_train_bpe_file(it_context *ctx, const char *path, int vocab_size, it_tokenizer **out);
/* Writes the format above (to path.tmp, then renamed over path). */
IT_API it_result it_tokenizer_save(it_context *ctx, const it_tokenizer *tok, const char *path);
IT_API it_result it_tokenizer_load(it_context *ctx, const char *path, it_tokenizer **out);
/* The same from bytes already in memory (a file of n bytes); `path` only names it in messages. */
IT_API it_result it_tokenizer_load_memory(it_context *ctx, const char *path, const uint8_t *bytes, size_t n,
                                          it_tokenizer **out);
IT_API void it_tokenizer_destroy(it_tokenizer *tok); /* NULL is fine */
IT_API int it_tokenizer_vocab_size(const it_tokenizer *tok);
/* Encodes n bytes. *out_ids is allocated from ctx's allocator (at least one element even when
   n == 0) and is the caller's: release it with it_ids_free(ctx, ids) before destroying ctx;
   *out_n <= n. */
IT_API it_result it_tokenizer_encode(it_context *ctx, const it_tokenizer *tok, const uint8_t *text, size_t n,
                                     int32_t **out_ids, size_t *out_n);
/* Decodes n ids into out (at most cap bytes written, no terminator) and returns the number of
   bytes the whole decoding needs, like snprintf: call with cap 0 to size the buffer. Ids outside
   [0, vocab) decode to nothing. */
IT_API size_t it_tokenizer_decode(const it_tokenizer *tok, const int32_t *ids, size_t n, uint8_t *out, size_t cap);
/* The bytes of one token (streaming decode while generating): not terminated, owned by the
   tokenizer. NULL and *len = 0 for an id outside [0, vocab). */
IT_API const uint8_t *it_tokenizer_token_bytes(const it_tokenizer *tok, int32_t id, size_t *len);
/* Frees an id array that it_tokenizer_encode or it_token_file_read returned for this context.
   NULL is fine. */
IT_API void it_ids_free(it_context *ctx, int32_t *ids);

/* ------------------------------------------------------------------------------------------------
   >>token_files  llm.c's .bin layout (karpathy/llm.c dev/data/data_common.py, write_datafile, and
   llmc/dataloader.h): a header of 256 little-endian int32 then the tokens.
     header[0] magic, header[1] version, header[2] token count (< 2^31), the rest 0.
     magic 20240520, version 1: uint16 tokens (llm.c's "gpt-2" layout, nanoGPT-sized vocabularies)
     magic 20240801, version 7: uint32 tokens (llm.c's "llama-3" layout)
   Written as uint16 when vocab <= 65536, as uint32 otherwise. The reader accepts exactly these
   two headers and requires the file size to be 1024 + count * token size.
------------------------------------------------------------------------------------------------ */
#define IT_TOKEN_FILE_MAGIC_U16 20240520
#define IT_TOKEN_FILE_VERSION_U16 1
#define IT_TOKEN_FILE_MAGIC_U32 20240801
#define IT_TOKEN_FILE_VERSION_U32 7
#define IT_TOKEN_FILE_HEADER_INTS 256

/* Every id must be in [0, vocab) (IT_ERR_RANGE names the first bad one). */
IT_API it_result it_token_file_write(it_context *ctx, const char *path, const int32_t *ids, size_t n, int vocab);
/* *out_ids is allocated from ctx's allocator (at least one element) and is the caller's: release
   it with it_ids_free(ctx, ids). No vocabulary check here: it_dataset_* does that. */
IT_API it_result it_token_file_read(it_context *ctx, const char *path, int32_t **out_ids, size_t *out_n);
/* *is_token_file = 1 when the file holds token ids: it starts with an llm.c magic, or its name
   ends in .bin (nanoGPT's headerless uint16 layout; a .bin is never text); 0 for anything else
   (text). An error naming the file when it cannot be read or is not a regular file. */
IT_API it_result it_token_file_probe(it_context *ctx, const char *path, int *is_token_file);
/* The library's whole-file reader, for programs that read a text themselves: regular files only
   (never blocks on a FIFO), at most max_bytes (0 = no cap), one spare zero byte after the n bytes.
   *bytes comes from ctx's allocator: release it with it_file_free(ctx, bytes). */
IT_API it_result it_file_read(it_context *ctx, const char *path, size_t max_bytes, uint8_t **bytes, size_t *n);
IT_API void it_file_free(it_context *ctx, uint8_t *bytes); /* NULL is fine */
/* The same from a whole file's bytes in memory; `path` only names it in messages. *out_ids as for
   it_token_file_read. */
IT_API it_result it_token_file_parse(it_context *ctx, const char *path, const uint8_t *bytes, size_t n,
                                     int32_t **out_ids, size_t *out_n);

/* ------------------------------------------------------------------------------------------------
   >>dataset  a token sequence split into train (first 90%) and validation (last 10%). Every id is
   checked against vocab when the dataset is made. Each split must hold at least one window of
   min_seq + 1 tokens, so the sequence needs at least 10 (min_seq + 1) tokens.

   Training batches are random windows drawn from an it_rng: a batch is a pure function of the
   rng state, so the loader position to save for a bit-exact resume is the it_rng itself.
   Evaluation batches are fixed: batch i holds the non-overlapping windows i*B .. i*B + B - 1
   (wrapping around), so validation loss is comparable across runs.
------------------------------------------------------------------------------------------------ */
typedef enum it_split { IT_SPLIT_INVALID = 0, IT_SPLIT_TRAIN, IT_SPLIT_VAL, IT_SPLIT_COUNT } it_split;

typedef struct it_dataset it_dataset;

/* Copies ids. `name` (may be NULL) is how errors refer to the data. */
IT_API it_result it_dataset_from_ids(it_context *ctx, const int32_t *ids, size_t n, int vocab, int min_seq,
                                     const char *name, it_dataset **out);
/* An llm.c .bin token file. */
IT_API it_result it_dataset_from_bin(it_context *ctx, const char *path, int vocab, int min_seq, it_dataset **out);
/* A text file encoded with tok; vocab <= 0 means the tokenizer's vocabulary. */
IT_API it_result it_dataset_from_text(it_context *ctx, const char *path, const it_tokenizer *tok, int vocab,
                                      int min_seq, it_dataset **out);
/* One of the above by content: a file starting with an llm.c token-file magic is an llm.c .bin;
   another file named *.bin is nanoGPT's headerless layout (raw little-endian uint16 ids: its size
   must be even, every id < vocab), read with a notice to the logger; anything else is text (and
   needs tok). A .bin is never tokenised as text. */
IT_API it_result it_dataset_load(it_context *ctx, const char *path, const it_tokenizer *tok, int vocab, int min_seq,
                                 it_dataset **out);
/* A dataset belongs to the context that made it: released with it, or earlier by this. */
IT_API void it_dataset_destroy(it_dataset *ds); /* NULL is fine */
/* A separate validation file (nanoGPT's train.bin / val.bin): afterwards ds's whole sequence is
   the training split and val's whole sequence the validation split. val is consumed (destroyed,
   on failure too); both must have the same vocab. */
IT_API it_result it_dataset_set_validation(it_dataset *ds, it_dataset *val);
IT_API int it_dataset_vocab(const it_dataset *ds);
/* The tokens of a split and their count. */
IT_API const int32_t *it_dataset_tokens(const it_dataset *ds, it_split split, size_t *n);
/* B random windows of T + 1 tokens from the split: inputs [B, T] and targets [B, T] (inputs
   shifted by one). IT_ERR_RANGE when the split is shorter than T + 1. */
IT_API it_result it_dataset_batch(it_dataset *ds, it_split split, it_rng *rng, int B, int T, int32_t *inputs,
                                  int32_t *targets);
/* Deterministic batch `index` (see above). */
IT_API it_result it_dataset_eval_batch(it_dataset *ds, it_split split, size_t index, int B, int T, int32_t *inputs,
                                       int32_t *targets);
/* Number of eval batches that cover the split once without wrapping (at least 1 when the split
   holds a window). */
IT_API size_t it_dataset_eval_batches(const it_dataset *ds, it_split split, int B, int T);

/* ------------------------------------------------------------------------------------------------
   >>schedules  learning rate at a 0-based step. Warmup (all kinds but constant) is linear from
   base_lr / warmup_steps at step 0 to base_lr at step warmup_steps - 1 (llm.c). floor =
   base_lr * min_lr_ratio; decays reach it at step total_steps and stay there.
     constant  base_lr
     cosine    warmup, then floor + (base - floor) (1 + cos(pi p)) / 2, p = (step - warmup) / (total - warmup)
     linear    warmup, then base - (base - floor) p
     invsqrt   warmup, then base sqrt(w / step) with w = max(warmup, 1), never below floor
     wsd       warmup, base until the last decay_frac of total_steps, then linear to floor
   A zero-initialised it_schedule is usable: kind 0 is cosine, decay_frac 0 means 0.2,
   total_steps <= 0 means no decay.
------------------------------------------------------------------------------------------------ */
#define IT_SCHEDULE_LIST(X)                 \
    X(IT_SCHEDULE_CONSTANT, "constant")     \
    X(IT_SCHEDULE_COSINE, "cosine")         \
    X(IT_SCHEDULE_LINEAR, "linear")         \
    X(IT_SCHEDULE_INVSQRT, "invsqrt")       \
    X(IT_SCHEDULE_WSD, "wsd")

typedef enum it_schedule_kind {
    IT_SCHEDULE_DEFAULT = 0, /* = IT_SCHEDULE_COSINE */
#define IT__SCHEDULE_ENUM(name, text) name,
    IT_SCHEDULE_LIST(IT__SCHEDULE_ENUM)
#undef IT__SCHEDULE_ENUM
    IT_SCHEDULE_COUNT
} it_schedule_kind;

typedef struct it_schedule {
    it_schedule_kind kind;
    float base_lr;
    int warmup_steps;
    int total_steps;
    float min_lr_ratio; /* floor as a fraction of base_lr (cosine, linear, wsd, invsqrt) */
    float decay_frac;   /* wsd: fraction of total_steps spent decaying; 0 = 0.2 */
} it_schedule;

IT_API float it_schedule_lr(const it_schedule *s, int step);
/* "constant", "cosine", ...; "cosine" for IT_SCHEDULE_DEFAULT, "invalid" outside the list. */
IT_API const char *it_schedule_name(it_schedule_kind kind);
/* Name (as it_schedule_name prints it) to kind; IT_ERR_INVALID_ARGUMENT for an unknown name. */
IT_API it_result it_schedule_parse(const char *name, it_schedule_kind *out);

/* ------------------------------------------------------------------------------------------------
   >>checkpoints  a directory a Python user can open directly (DESIGN §6)

   LAYOUT of a checkpoint directory DIR
     config.json            Hugging Face LlamaConfig / GPT2Config keys (LlamaForCausalLM,
                            GPT2LMHeadModel), plus "irontensor_version" and "irontensor_crc32".
     model.safetensors      the weights, f32 (default) or bf16, Hugging Face names:
                              Llama  model.embed_tokens.weight, model.layers.N.self_attn.{q,k,v,o}_proj.weight,
                                     model.layers.N.mlp.{gate,up,down}_proj.weight,
                                     model.layers.N.{input,post_attention}_layernorm.weight,
                                     model.norm.weight, lm_head.weight (only when untied)
                              GPT-2  transformer.{wte,wpe}.weight, transformer.h.N.ln_{1,2}.{weight,bias},
                                     transformer.h.N.attn.c_attn.{weight,bias} ([C, 3C] and [3C]: columns
                                     q | k | v, Conv1D [in, out] layout; the model keeps q, k, v apart and
                                     the checkpoint fuses / splits them), transformer.h.N.attn.c_proj.*,
                                     transformer.h.N.mlp.{c_fc,c_proj}.*, transformer.ln_f.*, lm_head.weight
                                     (only when untied). Loads also accept the names without "transformer.".
     optimizer.safetensors  (with an optimizer) f32 state under the parameter's checkpoint name:
                            NAME.exp_avg and NAME.exp_avg_sq (AdamW), NAME.momentum (Lion, SGD).
     trainer_state.json     (with a trainer state) it_trainer_state below, RNG words as decimal strings.
     tokenizer.bin          (when it_checkpoint_options.tokenizer or tokenizer_path is set) the BPE tokenizer.
     irontensor.checkpoint  the marker: {"format": "irontensor checkpoint", "irontensor_version",
                            "run_id"}; what makes DIR replaceable by a later save (SAFETY below).
     loss.csv, loss.svg     (written by examples/train.c after the save) the run's curves.

   SAFETENSORS exactly as the Rust reference writes it: 8-byte little-endian header length N (a
   multiple of 8: the JSON is padded with spaces), N bytes of JSON {"__metadata__": {string: string},
   "name": {"dtype", "shape", "data_offsets": [begin, end]}, ...}, then the data. Tensors are
   sorted by name (strcmp), their data contiguous from offset 0. __metadata__ holds "format": "pt"
   (transformers requires it) and the integrity fields:
     "irontensor.crc32_data"    CRC-32 (zlib.crc32) of the data region, 8 lowercase hex digits
     "irontensor.crc32_header"  CRC-32 of the first 8 + N bytes with these 8 digits read as "00000000"
   The JSON files carry "irontensor_crc32": CRC-32 of the whole file with its 8 digits read as zeros.
   Loads verify every checksum present; files from other tools (no checksum) are accepted. A
   config.json whose checksum does not match was edited by hand (Hugging Face users do): that is
   a warning naming the file, and every field is validated as usual. Loads also check that every
   weight and optimizer value is finite (and AdamW's exp_avg_sq >= 0), naming the first bad tensor.

   ATOMIC SAVES: everything is written into DIR.tmp-<pid>, each file and the directory fsynced; then
   an existing DIR is renamed to DIR.old-<pid>, DIR.tmp-<pid> to DIR, the parent fsynced and the old
   copy removed. A crash at any point leaves a whole checkpoint: DIR, or (crash between the two
   renames) DIR.old-<pid>. Loads and it_checkpoint_read_* fall back to the newest DIR.old-* when DIR
   is missing (read only, with a warning); it_checkpoint_recover renames it back, and every save
   recovers and removes stale DIR.tmp-* / DIR.old-* first.

   SAFETY: a save never deletes what it did not write.
     - It replaces only a missing path, an empty directory, or an IronTensor checkpoint: a directory
       holding the marker irontensor.checkpoint, or (checkpoints from before the marker) a
       config.json carrying "irontensor_version", and nothing but the files listed in LAYOUT
       (regular files). Anything else (a user's main.c, a Hugging Face download, a subdirectory)
       is refused before anything is written, naming the directory and the foreign entry.
     - Symbolic links are never followed: DIR, a snapshot or a temporary that is a link is refused
       or left alone; removal opens the directory with O_NOFOLLOW and unlinks by name (unlinkat),
       only the names in LAYOUT.
     - Stale temporaries (DIR.tmp-PID, DIR.old-PID and, from older versions of train.c,
       DIR.tokenizer-PID.bin) are removed only when process PID is gone (kill(PID, 0) fails with
       ESRCH) or is this process.
     - Locking: a save holds an fcntl lock on PARENT/.BASE.lock (created once and left in place)
       for its whole duration; a second process saving to DIR waits up to
       it_checkpoint_options.lock_wait_ms (default 30 s) and then fails, naming the lock. Threads of
       one process are not excluded from each other: save one DIR from one thread at a time.
     - A save refuses (IT_ERR_RANGE) weights or optimizer state that are not finite, naming the
       tensor; the previous checkpoint in DIR stays as it was.
     - it_checkpoint_prune removes only PARENT/PREFIX<digits> directories that carry the marker
       (with it_checkpoint_prune_run: and this run's id), never with an empty prefix.

   LOADS validate everything before touching the model (header length against the file size, JSON
   syntax and bounds, known dtypes, every expected tensor present exactly once with its shape, no
   unknown tensor, offsets in order, non-overlapping and covering the data exactly, checksums, the
   config against the model, the optimizer kind) and only then copy. Any failure returns an
   it_result < 0 with the file, the tensor and the reason in it_context_last_error(); nothing is
   modified. Loading holds the files in memory (about the size of the checkpoint).
------------------------------------------------------------------------------------------------ */
#define IT_CHECKPOINT_NAME_MAX 32

#define IT_CHECKPOINT_RUN_ID_MAX 64 /* bytes of a run id, its terminating zero included */

typedef struct it_checkpoint_options {
    it_dtype dtype;             /* model.safetensors: 0 or IT_F32 = f32, IT_BF16 = bf16 (state stays f32) */
    const char *tokenizer_path; /* copied verbatim to DIR/tokenizer.bin; NULL = byte-level, none */
    const it_tokenizer *tokenizer; /* or: written to DIR/tokenizer.bin (it_tokenizer_save's format); not both */
    const char *run_id;         /* recorded in the marker (letters, digits, '.', '_', '-'; shorter than
                                   IT_CHECKPOINT_RUN_ID_MAX); NULL = none. it_checkpoint_prune_run
                                   removes only snapshots of one run id. */
    int lock_wait_ms;           /* how long to wait for another process's save of DIR: 0 = 30000, < 0 = not at all */
} it_checkpoint_options;

/* What a file held when a run used it, so a resume can tell a different file from the same one:
   its size and the CRC-32 of its bytes. size 0 = not recorded (checkpoints from before it). */
typedef struct it_file_fingerprint {
    int64_t size;
    uint32_t crc32; /* zlib.crc32 of the whole file */
} it_file_fingerprint;
/* Reads the regular file at path once. */
IT_API it_result it_file_fingerprint_compute(it_context *ctx, const char *path, it_file_fingerprint *out);
/* The fingerprint of the file it_tokenizer_save would write for tok, without writing it (train
   records it for the tokenizer.bin its checkpoints carry). */
IT_API it_result it_tokenizer_fingerprint(it_context *ctx, const it_tokenizer *tok, it_file_fingerprint *out);

/* Everything a resumed run needs beyond the weights and the optimizer state. Saves happen at
   optimizer-step boundaries (gradients are not saved), so accum_index is normally 0. */
typedef struct it_trainer_state {
    int64_t step;                /* optimizer steps completed = the next step to run (0-based) */
    int64_t tokens_seen;
    uint64_t seed;
    int batch, seq;              /* micro-batch shape */
    int accum_steps;             /* micro-batches per optimizer step (1 = none) */
    int accum_index;             /* micro-batches already accumulated toward the next step */
    it_optimizer_desc optimizer; /* kind and hyperparameters; written from opt->desc when opt is given */
    it_schedule schedule;        /* the learning rate of every step; total_steps is the run's length */
    it_rng data_rng;             /* data loader position: batches are a pure function of it */
    it_rng rng;                  /* any other randomness of the run */
    float best_val_loss;         /* NaN = none */
    /* what the run was trained on ("" / size 0 = not recorded): the tokenizer kind ("byte",
       "bpe", or "none" for a token file), the training and validation files, tokenizer.bin */
    char tokenizer[IT_CHECKPOINT_NAME_MAX];
    it_file_fingerprint data, val_data, tokenizer_file;
} it_trainer_state;
/* Every field in the range a run can have (what train's flags accept): batch, seq >= 1 with
   batch * (seq + 1) within int, accum_steps >= 1 and 0 <= accum_index < accum_steps, a known
   optimizer with betas and momentum in [0, 1) and eps, weight decay, clip >= 0, a known schedule
   kind, base_lr > 0, total_steps >= 1, 0 <= step <= total_steps, warmup_steps >= 0, min_lr_ratio
   and decay_frac in [0, 1], every float finite (best_val_loss NaN = none, else >= 0).
   IT_ERR_RANGE naming the field and its value. Loads and saves run it. */
IT_API it_result it_trainer_state_check(it_context *ctx, const it_trainer_state *ts);

/* Writes DIR atomically and safely (see ATOMIC SAVES and SAFETY above). opt and ts may be NULL
   (then optimizer.safetensors / trainer_state.json are not written); o may be NULL (f32, no
   tokenizer, no run id, the default lock wait). */
IT_API it_result it_checkpoint_save(it_context *ctx, const it_model *m, const it_optimizer *opt,
                                    const it_trainer_state *ts, const char *dir, const it_checkpoint_options *o);
/* config.json -> *out (so the model can be created before loading). Also reads plain Hugging Face
   Llama / GPT-2 configs. */
IT_API it_result it_checkpoint_read_config(it_context *ctx, const char *dir, it_model_config *out);
/* trainer_state.json -> *out (so the optimizer can be created with the saved kind before loading). */
IT_API it_result it_checkpoint_read_trainer_state(it_context *ctx, const char *dir, it_trainer_state *out);
/* Validates the whole checkpoint, then copies weights into m, state into opt (and opt->step) and
   the trainer state into *ts. opt NULL: optimizer.safetensors is not read; opt given: it must exist
   and match opt's kind. ts NULL: trainer_state.json is not read; ts given: it must exist. */
IT_API it_result it_checkpoint_load(it_context *ctx, it_model *m, it_optimizer *opt, it_trainer_state *ts,
                                    const char *dir);
/* The full validation of every file present, without a model (it-inspect). */
IT_API it_result it_checkpoint_validate(it_context *ctx, const char *dir);
/* When DIR is missing but DIR.old-* exists (a save was killed between its renames): renames the
   newest back to DIR. Removes stale DIR.tmp-* and DIR.old-* directories. IT_OK when nothing to do. */
IT_API it_result it_checkpoint_recover(it_context *ctx, const char *dir);
/* Whether a save may write DIR, without writing it (SAFETY above): IT_OK when DIR is missing (its
   parent existing and writable), an empty directory or an IronTensor checkpoint; otherwise an
   error naming DIR and the reason ('', '/', '.', a file, a link, a foreign file, a read-only or
   missing parent). Call it before a long run, so a run that cannot save never starts. */
IT_API it_result it_checkpoint_check_target(it_context *ctx, const char *dir);
/* The run id recorded in DIR's marker into buf (size >= IT_CHECKPOINT_RUN_ID_MAX); "" when DIR has
   no marker (a checkpoint from before it) or the save gave none. */
IT_API it_result it_checkpoint_read_run_id(it_context *ctx, const char *dir, char *buf, size_t size);
/* Keep-last-K for --save-every: among the checkpoints PARENT/PREFIX<digits> (the digits are the
   step, as it_checkpoint_path writes them) that carry the marker and, when run_id is not NULL, that
   run id, removes all but the `keep` highest steps. Directories without the marker, of another run,
   links, or holding a file this library did not write are left alone. keep < 1 or an empty prefix
   is an error. */
IT_API it_result it_checkpoint_prune_run(it_context *ctx, const char *parent, const char *prefix, const char *run_id, int keep);
/* it_checkpoint_prune_run with run_id NULL (every marked checkpoint of PREFIX). */
IT_API it_result it_checkpoint_prune(it_context *ctx, const char *parent, const char *prefix, int keep);
/* "PARENT/PREFIX%08lld" into buf; returns what snprintf returns. */
IT_API int it_checkpoint_path(char *buf, size_t size, const char *parent, const char *prefix, int64_t step);
/* Path of DIR/tokenizer.bin into buf and 1 when something by that name exists (a directory or a
   FIFO too, so the caller loads it and reports it instead of silently going byte-level), else 0. */
IT_API int it_checkpoint_tokenizer_path(const char *dir, char *buf, size_t size);

/* One tensor of a safetensors file, for inspection. l2 is the L2 norm for F32/BF16/F16, else NaN. */
typedef struct it_safetensors_tensor_info {
    const char *name;  /* valid during the callback */
    const char *dtype; /* "F32", "BF16", ... */
    int ndim;
    int64_t shape[8];
    uint64_t offset_begin, offset_end; /* in the data region */
    double l2;
} it_safetensors_tensor_info;
typedef void (*it_safetensors_fn)(const it_safetensors_tensor_info *info, void *user);
/* Validates a safetensors file (structure and checksums) and calls fn for every tensor in file
   order. fn may be NULL (validation only). */
IT_API it_result it_safetensors_inspect(it_context *ctx, const char *path, it_safetensors_fn fn, void *user);

/* ------------------------------------------------------------------------------------------------
   >>ops  the op table: one X-macro, so the enum, the names and what the core knows of each op
   cannot drift apart. X(op, name, flags): the flags are it_op_flag bits.
------------------------------------------------------------------------------------------------ */
/* What the core needs to know about an op without running it. BACKWARD_READS_*: the tensors its
   backward reads besides d(out) and its saved tensors (the planner keeps those alive until then;
   anything else may be overwritten once the forward has run). LOSS_GRADS_IN_FORWARD: when the op
   is the loss of a forward + backward run, a backend may produce its input gradients in the
   forward (one pass over the logits instead of two); the planner makes them live from there. */
typedef enum it_op_flag {
    IT_OP_BACKWARD_READS_IN0 = 1 << 0,
    IT_OP_BACKWARD_READS_IN1 = 1 << 1,
    IT_OP_BACKWARD_READS_IN2 = 1 << 2,
    IT_OP_BACKWARD_READS_OUT = 1 << 4,
    IT_OP_LOSS_GRADS_IN_FORWARD = 1 << 5
} it_op_flag;
#define IT__BWD_IN01 (IT_OP_BACKWARD_READS_IN0 | IT_OP_BACKWARD_READS_IN1)
#define IT__BWD_IN012 (IT__BWD_IN01 | IT_OP_BACKWARD_READS_IN2)
#define IT_OP_LIST(X)                                                                              \
    X(IT_OP_MATMUL, "matmul", IT__BWD_IN01)                                                        \
    X(IT_OP_ADD, "add", 0)                                                                         \
    X(IT_OP_MUL, "mul", IT__BWD_IN01)                                                              \
    X(IT_OP_SCALE, "scale", 0)                                                                     \
    X(IT_OP_EMBEDDING, "embedding", IT_OP_BACKWARD_READS_IN1)                                      \
    X(IT_OP_RMSNORM, "rmsnorm", IT__BWD_IN01)                                                      \
    X(IT_OP_LAYERNORM, "layernorm", IT__BWD_IN01)                                                  \
    X(IT_OP_ROPE, "rope", 0)                                                                       \
    X(IT_OP_SOFTMAX, "softmax", IT_OP_BACKWARD_READS_OUT)                                          \
    X(IT_OP_ATTENTION, "attention", IT__BWD_IN012 | IT_OP_BACKWARD_READS_OUT)                      \
    X(IT_OP_SILU, "silu", IT_OP_BACKWARD_READS_IN0)                                                \
    X(IT_OP_GELU, "gelu", IT_OP_BACKWARD_READS_IN0)                                                \
    X(IT_OP_SWIGLU, "swiglu", IT__BWD_IN01)                                                        \
    X(IT_OP_CROSS_ENTROPY, "cross_entropy", IT__BWD_IN01)                                          \
    X(IT_OP_LINEAR_CROSS_ENTROPY, "linear_cross_entropy", IT__BWD_IN012 | IT_OP_LOSS_GRADS_IN_FORWARD) \
    X(IT_OP_SUM, "sum", 0)                                                                         \
    X(IT_OP_MEAN, "mean", 0)                                                                       \
    X(IT_OP_RESHAPE, "reshape", 0)

typedef enum it_op {
    IT_OP_INVALID = 0,
#define IT__OP_ENUM(name, text, flags) name,
    IT_OP_LIST(IT__OP_ENUM)
#undef IT__OP_ENUM
    IT_OP_COUNT
} it_op;

IT_API const char *it_op_name(it_op op);
IT_API unsigned it_op_flags(it_op op); /* its it_op_flag bits; 0 for an invalid op */

/* ------------------------------------------------------------------------------------------------
   >>backend  the backend implementer's API: what a backend is given (it_node, where tensors live)
   and what it provides (it_backend, a table of function pointers). The CPU backend is built in;
   Metal comes from irontensor_metal.h. A backend executes nodes whose tensors the planner has
   placed; what does not depend on the device (op flags, matmul geometry, id checks, the weight
   decay policy, the divergence check) the core computes once and hands over. Users need only
   it_context_backend and it_context_set_backend.
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
    float fparam[5];          /* eps, theta, scale; rope: theta, scaling factor, low / high freq factors */
    int iparam[4];            /* transposes, pos_offset, ignore_index, chunk; rope: pos_offset, scaling
                                 kind, original max positions; attention: window */
} it_node;
/* The frequency scaling of a rope node (the fields it_rope_scaled stored in fparam / iparam). */
IT_API it_rope_scaling it_node_rope_scaling(const it_node *n);
/* Where a tensor's bytes live: which block and the byte offset inside it (GPU backends bind
   block buffers at offsets). */
typedef enum it_block {
    IT_BLOCK_NONE = 0, IT_BLOCK_PARAMS, IT_BLOCK_GRADS, IT_BLOCK_INPUTS, IT_BLOCK_ARENA, IT_BLOCK_COUNT
} it_block;
IT_API it_block it_tensor_block(const it_tensor *t, size_t *byte_offset);
IT_API it_tensor *it_grad_tensor(it_tensor *t); /* the gradient tensor, NULL if none */
/* An op's kernel: forward writes the node's output (and saved tensors), backward accumulates into
   the gradients of the inputs that have one (it_grad_tensor is NULL for the others). */
typedef it_result (*it_kernel_fn)(it_backend *be, it_graph *g, const it_node *node);
struct it_backend {
    const char *name;
    void *impl;
    /* Storage for a block of `size` bytes; the returned pointer is CPU-visible (shared memory). */
    void *(*buffer_create)(it_backend *be, size_t size);
    void (*buffer_free)(it_backend *be, void *ptr);
    /* One entry per op, set with it_backend_set_op. A NULL entry means the op is not supported:
       it_graph_plan refuses a graph that needs it, naming the op and the backend. */
    it_kernel_fn forward[IT_OP_COUNT];
    it_kernel_fn backward[IT_OP_COUNT];
    /* Sets every element of an f32 tensor (gradient zeroing, seeding d(loss) = 1). */
    it_result (*fill)(it_backend *be, it_tensor *t, float value);
    /* Optional: the whole optimizer update on the device (global gradient norm, clip scale,
       per-parameter updates with their weight decay), after opt->step was advanced. grad_norm,
       when not NULL, receives the scaled norm before clipping (reading it back may wait). NULL =
       the CPU updates the shared blocks after synchronize. */
    it_result (*optimizer_step)(it_backend *be, struct it_optimizer *opt, float lr, float grad_scale, float *grad_norm);
    /* Optional: clears the gradient block on the device. NULL = memset after synchronize. */
    it_result (*zero_grads)(it_backend *be);
    /* Step boundaries (command buffers on a GPU) and the wait before the CPU reads results.
       begin_step learns the run's mode: a forward-only run must not touch gradients, so
       IT_OP_LOSS_GRADS_IN_FORWARD applies only to IT_RUN_FORWARD_BACKWARD. */
    it_result (*begin_step)(it_backend *be, it_run_mode mode);
    it_result (*end_step)(it_backend *be);
    it_result (*synchronize)(it_backend *be);
    void (*destroy)(it_backend *be);
};

/* A matmul node's matrix products, worked out once for every backend: c [M, N] (+)= op(a) @ op(b)
   as in it_cpu_matmul, over `batch` slices that start stride_* floats apart (stride 0: one matrix
   shared by every slice). Forward: one product, out = op(in0) @ op(in1). Backward: one product
   per input that has a gradient, d(in0) first; each accumulates into the gradient (c), and a or b
   is d(out). Returns how many products were written to gemms. */
typedef struct it_gemm {
    it_tensor *c, *a, *b;
    int M, N, K, trans_a, trans_b, accumulate, batch;
    size_t stride_c, stride_a, stride_b;
} it_gemm;
IT_API int it_matmul_gemms(const it_node *n, int backward, it_gemm gemms[2]);

/* The optimizer's policies, for a backend that runs the update itself (optimizer_step): the weight
   decay a parameter gets (desc.weight_decay for matrices; vectors, i.e. norm weights and biases,
   only with desc.decay_vectors), and the check of the scaled gradient norm before any update: a
   non-finite norm means the run diverged, and the update is skipped with this error. */
IT_API float it_optimizer_param_decay(const it_optimizer *opt, const it_tensor *param);
IT_API it_result it_optimizer_check_norm(it_optimizer *opt, double norm);

/* Registers op's kernels (backward may be NULL for an op only ever run forward). */
IT_API void it_backend_set_op(it_backend *be, it_op op, it_kernel_fn forward, it_kernel_fn backward);

/* Memory for a backend's own bookkeeping from the context's allocator (with its user pointer), so
   an application's allocator sees every byte: 64-byte aligned, NULL when out of memory. Freeing
   NULL is fine. */
IT_API void *it_context_alloc(it_context *ctx, size_t size);
IT_API void it_context_free(it_context *ctx, void *p);
/* Grows *array (element size elem) to hold at least `need` items, doubling its capacity
   (allocate, copy, free: the allocator has no realloc hook). IT_OK, or IT_ERR_OUT_OF_MEMORY with
   *array and *cap as they were. */
IT_API it_result it_context_grow(it_context *ctx, void **array, int *cap, int need, size_t elem);

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
/* scaling may be NULL (no scaling) */
IT_API void it_cpu_rope_forward(float *out, const float *x, int B, int T, int H, int D, float theta,
                                const it_rope_scaling *scaling, int pos_offset);
IT_API void it_cpu_rope_backward(float *dx, const float *dout, int B, int T, int H, int D, float theta,
                                 const it_rope_scaling *scaling, int pos_offset);
/* x, out [N, C]; softmax over C */
IT_API void it_cpu_softmax_forward(float *out, const float *x, int N, int C);
IT_API void it_cpu_softmax_backward(float *dx, const float *dout, const float *out, int N, int C);
/* Causal attention, GQA: q, out [B, T, Hq, D]; k, v [B, T, Hkv, D]; lse [B, Hq, T] (saved:
   log-sum-exp of each query row's scaled scores, so backward recomputes probabilities without a
   T x T matrix). Query head h reads kv head h / (Hq / Hkv). window > 0: query t sees keys
   t - window + 1 .. t only (sliding-window attention); 0 = every key up to t. */
IT_API void it_cpu_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                                     int B, int T, int Hq, int Hkv, int D, int window);
IT_API void it_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                      const float *k, const float *v, const float *out, const float *lse,
                                      int B, int T, int Hq, int Hkv, int D, int window);
/* Elementwise activations over n values. */
IT_API void it_cpu_silu_forward(float *out, const float *x, size_t n);
IT_API void it_cpu_silu_backward(float *dx, const float *dout, const float *x, size_t n);
IT_API void it_cpu_gelu_forward(float *out, const float *x, size_t n);
IT_API void it_cpu_gelu_backward(float *dx, const float *dout, const float *x, size_t n);
IT_API void it_cpu_swiglu_forward(float *out, const float *gate, const float *up, size_t n);
IT_API void it_cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                   const float *up, size_t n);
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
   greedy (argmax). Non-finite logits: when some are +inf the coin picks uniformly among those
   (greedy: the first); a NaN logit has probability 0 and is never the argmax; when every logit is
   NaN or -inf the result is 0. */
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
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <signal.h>
#include <time.h>
#if !defined(AT_FDCWD) || !defined(O_NOFOLLOW)
#error "irontensor.h: the implementation needs POSIX 2008 (openat, O_NOFOLLOW): include irontensor.h before any system header, or define _POSIX_C_SOURCE 200809L first"
#endif

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
/* Path buffers: a path the caller gives (a checkpoint directory, its parent) fits IT__PATH_MAX
   bytes (longer ones are refused); a file the library names inside it ("/config.json",
   ".tmp-<pid>", a lock or shard name) fits IT__PATH_NAMED. */
#define IT__PATH_MAX 4096
#define IT__PATH_NAMED (IT__PATH_MAX + 104)
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
/* The NULL contract (header, ERRORS): a pointer the docs do not allow to be NULL is a programmer
   error, stopped here with the function and the argument named. */
#define IT__NOT_NULL(p, fn) IT__REQUIRE((p) != NULL, __FILE__, __LINE__, "%s: %s is NULL", fn, #p)

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
#define IT__OP_NAME(name, text, flags) text,
                                             IT_OP_LIST(IT__OP_NAME)
#undef IT__OP_NAME
    };
    return (op > IT_OP_INVALID && op < IT_OP_COUNT) ? names[op] : "invalid";
}
IT_API unsigned it_op_flags(it_op op) {
    static const unsigned flags[IT_OP_COUNT] = {0,
#define IT__OP_FLAGS(name, text, op_flags) (unsigned)(op_flags),
                                                IT_OP_LIST(IT__OP_FLAGS)
#undef IT__OP_FLAGS
    };
    return (op > IT_OP_INVALID && op < IT_OP_COUNT) ? flags[op] : 0u;
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
/* A draw is rejected with probability below n / 2^32 <= 1/2, so a real xoshiro stream needs more
   than this many redraws with probability below 2^-64; only a broken state (all zeros) gets there,
   and then the last draw is returned rather than looping forever. */
#define IT__RNG_MAX_REDRAWS 64
IT_API uint32_t it_rng_below(it_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: no modulo bias */
    uint64_t m = (uint64_t)(uint32_t)(it_rng_u64(r) >> 32) * n;
    if ((uint32_t)m < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        int redraws = 0;
        while ((uint32_t)m < threshold && redraws++ < IT__RNG_MAX_REDRAWS)
            m = (uint64_t)(uint32_t)(it_rng_u64(r) >> 32) * n;
    }
    return (uint32_t)(m >> 32);
}
IT_API int it_rng_valid(const it_rng *r) { return (r->s[0] | r->s[1] | r->s[2] | r->s[3]) != 0; }
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

/* NULL when the scaling is usable, else why not. */
static const char *it__rope_scaling_problem(const it_rope_scaling *s) {
    if (s->kind == IT_ROPE_DEFAULT) return NULL;
    if (s->kind < 0 || s->kind >= IT_ROPE_KIND_COUNT) return "rope scaling kind is unknown";
    if (!(s->factor > 0.0f) || !isfinite(s->factor)) return "rope scaling factor must be a positive number";
    if (s->kind == IT_ROPE_LLAMA3 &&
        (!(s->low_freq_factor > 0.0f) || !(s->high_freq_factor > s->low_freq_factor) || !isfinite(s->high_freq_factor) ||
         s->original_max_positions < 1))
        return "llama3 rope scaling needs high_freq_factor > low_freq_factor > 0 and original_max_position_embeddings >= 1";
    return NULL;
}
/* The frequency of pair i of D: theta^(-2i/D), then scaled as Hugging Face's rope types do
   (transformers' _compute_linear_scaling / _compute_llama3_parameters, written out from the
   formulas). In double so every backend can meet the same tolerance. */
static double it__rope_freq(float theta, const it_rope_scaling *scaling, int i, int D) {
    double freq = pow((double)theta, -2.0 * i / (double)D), wavelen, low_wavelen, high_wavelen, smooth;
    if (!scaling || scaling->kind == IT_ROPE_DEFAULT) return freq;
    if (scaling->kind == IT_ROPE_LINEAR) return freq / scaling->factor;
    /* llama3: long wavelengths (low frequencies) are stretched by factor, short ones kept, and the
       band between blends the two by where the wavelength falls */
    wavelen = 2.0 * 3.14159265358979323846 / freq;
    low_wavelen = scaling->original_max_positions / (double)scaling->low_freq_factor;
    high_wavelen = scaling->original_max_positions / (double)scaling->high_freq_factor;
    if (wavelen > low_wavelen) return freq / scaling->factor;
    if (wavelen < high_wavelen) return freq;
    smooth = (scaling->original_max_positions / wavelen - scaling->low_freq_factor) /
             ((double)scaling->high_freq_factor - scaling->low_freq_factor);
    return (1.0 - smooth) * freq / scaling->factor + smooth * freq;
}
/* The angle of pair i at position p is p * it__rope_freq(i). */
static void it__rope_rotate(float *out, const float *x, int B, int T, int H, int D, float theta,
                            const it_rope_scaling *scaling, int pos_offset, float direction, int accumulate, int t0,
                            int t1) {
    enum { BLOCK = 64 }; /* the angles of one position, a block of pairs at a time */
    float cs[BLOCK], sn[BLOCK];
    int b, t, h, i, i0, len, half = D / 2;
    for (t = t0; t < t1; t++)
        for (i0 = 0; i0 < half; i0 += BLOCK) {
            len = half - i0 < BLOCK ? half - i0 : BLOCK;
            for (i = 0; i < len; i++) {
                double angle = (double)(pos_offset + t) * it__rope_freq(theta, scaling, i0 + i, D);
                cs[i] = (float)cos(angle), sn[i] = (float)sin(angle) * direction;
            }
            for (b = 0; b < B; b++)
                for (h = 0; h < H; h++) { /* pairs (i, i + half) of one head's row; out may equal x */
                    size_t base = (((size_t)b * T + t) * H + h) * D + (size_t)i0;
                    const float *x0 = x + base, *x1 = x0 + half;
                    float *y0 = out + base, *y1 = y0 + half;
                    if (accumulate) /* the backward: dx += rotated dout */
                        for (i = 0; i < len; i++) {
                            y0[i] += x0[i] * cs[i] - x1[i] * sn[i];
                            y1[i] += x0[i] * sn[i] + x1[i] * cs[i];
                        }
                    else
                        for (i = 0; i < len; i++) {
                            float a = x0[i], c = x1[i];
                            y0[i] = a * cs[i] - c * sn[i];
                            y1[i] = a * sn[i] + c * cs[i];
                        }
                }
        }
}
IT_API void it_cpu_rope_forward(float *out, const float *x, int B, int T, int H, int D, float theta,
                                const it_rope_scaling *scaling, int pos_offset) {
    it__rope_rotate(out, x, B, T, H, D, theta, scaling, pos_offset, 1.0f, 0, 0, T);
}
IT_API void it_cpu_rope_backward(float *dx, const float *dout, int B, int T, int H, int D, float theta,
                                 const it_rope_scaling *scaling, int pos_offset) {
    it__rope_rotate(dx, dout, B, T, H, D, theta, scaling, pos_offset, -1.0f, 1, 0, T); /* inverse rotation */
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

/* The first key query t may see: 0, or t - window + 1 under a sliding window. */
static int it__attention_first_key(int t, int window) { return window > 0 && t - window + 1 > 0 ? t - window + 1 : 0; }
/* One (batch, query head) slice of causal attention, online softmax in one pass (no T-long
   buffer): out_t = sum_s softmax_s(q_t . k_s / sqrt(D)) v_s over first_key(t) <= s <= t. */
static void it__attention_forward_head(float *out, float *lse, const float *q, const float *k, const float *v,
                                       int b, int h, int T, int Hq, int Hkv, int D, int window) {
    int t, s, d, kvh = h / (Hq / Hkv);
    float scale = 1.0f / sqrtf((float)D);
    for (t = 0; t < T; t++) {
        const float *qt = q + (((size_t)b * T + t) * Hq + h) * D;
        float *ot = out + (((size_t)b * T + t) * Hq + h) * D;
        float m = -FLT_MAX, l = 0.0f;
        for (d = 0; d < D; d++) ot[d] = 0.0f;
        for (s = it__attention_first_key(t, window); s <= t; s++) {
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
                                     int B, int T, int Hq, int Hkv, int D, int window) {
    int b, h;
    for (b = 0; b < B; b++)
        for (h = 0; h < Hq; h++) it__attention_forward_head(out, lse, q, k, v, b, h, T, Hq, Hkv, D, window);
}
/* Backward for every query head that shares kv head `kvh` (they all accumulate into the same dk,
   dv rows, so one worker owns the group). P is recomputed from the saved log-sum-exp. */
static void it__attention_backward_group(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                         const float *k, const float *v, const float *out, const float *lse,
                                         int b, int kvh, int T, int Hq, int Hkv, int D, int window) {
    int group = Hq / Hkv, h, t, s, d;
    float scale = 1.0f / sqrtf((float)D);
    for (h = kvh * group; h < (kvh + 1) * group; h++)
        for (t = 0; t < T; t++) {
            size_t qi = (((size_t)b * T + t) * Hq + h) * D;
            const float *qt = q + qi, *dot = dout + qi;
            float *dqt = dq ? dq + qi : NULL;
            float L = lse[((size_t)b * Hq + h) * T + t];
            float Dt = it__dot(dot, out + qi, D); /* sum_s p_s dp_s */
            for (s = it__attention_first_key(t, window); s <= t; s++) {
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
                                      int B, int T, int Hq, int Hkv, int D, int window) {
    int b, kvh;
    for (b = 0; b < B; b++)
        for (kvh = 0; kvh < Hkv; kvh++)
            it__attention_backward_group(dq, dk, dv, dout, q, k, v, out, lse, b, kvh, T, Hq, Hkv, D, window);
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
/* The first position of the largest value; NaNs never win (nothing compares greater than a NaN, so
   a NaN first element does). The plain loop compiles to a select through x[best], a ~7-cycle chain
   per element (50 us of a decoded token at vocab 32000), so blocks of 16 are first reduced in four
   independent lanes and only a block that beats the best so far is scanned in order. */
IT_API int it_cpu_argmax(const float *x, int n) {
    int i = 1, k, best = 0;
    float top;
    if (n <= 0) return 0;
    top = x[0];
    for (; i + 16 <= n; i += 16) {
        float m[4];
        m[0] = m[1] = m[2] = m[3] = top;
        for (k = 0; k < 16; k++) m[k & 3] = x[i + k] > m[k & 3] ? x[i + k] : m[k & 3];
        if (m[0] > top || m[1] > top || m[2] > top || m[3] > top)
            for (k = i; k < i + 16; k++)
                if (x[k] > top) top = x[k], best = k;
    }
    for (; i < n; i++)
        if (x[i] > top) top = x[i], best = i;
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
    int i, keep, n_inf = 0;
    float m = -FLT_MAX, sum = 0.0f, cum = 0.0f;
    IT__REQUIRE(V > 0, __FILE__, __LINE__, "it_cpu_sample: V = %d, there is nothing to sample from", V);
    IT__NOT_NULL(logits, "it_cpu_sample");
    if (temperature <= 0.0f) { /* argmax, where a NaN first logit would win: start at the first number */
        for (i = 0; i < V && logits[i] != logits[i]; i++) continue;
        return i == V ? 0 : i + it_cpu_argmax(logits + i, V - i);
    }
    for (i = 0; i < V; i++) n_inf += logits[i] > FLT_MAX;
    if (n_inf) { /* +inf outweighs everything: the coin picks among the +inf logits alone */
        int pick = (int)(coin * (float)n_inf);
        pick = pick < 0 ? 0 : pick >= n_inf ? n_inf - 1 : pick;
        for (i = 0; i < V; i++)
            if (logits[i] > FLT_MAX && pick-- == 0) return i;
    }
    for (i = 0; i < V; i++) m = logits[i] > m ? logits[i] : m; /* NaN never compares greater */
    for (i = 0; i < V; i++) {
        probs[i] = logits[i] == logits[i] ? expf((logits[i] - m) / temperature) : 0.0f; /* NaN: probability 0 */
        sum += probs[i];
        index[i] = i;
    }
    if (!(sum > 0.0f)) return 0; /* every logit NaN or -inf: nothing to weigh */
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

/* >>sgemm ---------------------------------------------------------------------------------------
   Fast SGEMM behind it_cpu_matmul: c [M, N] = (accumulate ? c : 0) + op(a) @ op(b).

   Goto/BLIS structure: a KC x NC panel of op(b) and an MC x KC block of op(a) are packed into
   per-thread buffers (micro-panels NR columns / MR rows wide, zero padded), then a register-tiled
   MR x NR micro-kernel streams them. Transposes are absorbed by the packing, so one kernel serves
   all four cases; edge tiles go through a small buffer. The kernel is picked at run time
   (AVX-512F 8x32, AVX2+FMA 6x16, NEON 8x12, portable 4x8), so users build with plain `cc -O2`.

   it__sgemm_part(part, n_parts, ...) computes one share of c: the tile grid is split over M and/or
   N into n_parts disjoint, balanced rectangles, so a thread pool calls it once per worker with no
   synchronization. Nothing is allocated here: the packing buffers are the calling worker's
   it__scratch, which the context allocates once per pool worker (no thread-local storage, so a
   host program's own threads pay nothing for them).
------------------------------------------------------------------------------------------------ */

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define IT__SGEMM_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define IT__SGEMM_NEON 1
#include <arm_neon.h>
#endif

/* Blocking. KC x NR of b (one micro-panel, re-read by every MR strip) stays in L1, the MC x KC block
   of a in L2, the KC x NC panel of b in L2/L3. MC and NC are multiples of every MR / NR below. */
#define IT__SGEMM_KC 256
#define IT__SGEMM_MC 192
#define IT__SGEMM_NC 1536
#define IT__SGEMM_MAXMR 8
#define IT__SGEMM_MAXNR 32

/* One pool worker's scratch: the packed MC x KC block of op(a) and KC x NC panel of op(b) for
   it__sgemm_block, and the two query x key tiles of flash attention (>>fast_kernels). Every buffer
   starts on a 64-byte boundary. Part p of a pool job runs on worker p, so it uses scratch[p]. */
typedef struct it__scratch { float *pack_a, *pack_b, *tile_s, *tile_dp; } it__scratch;
#define IT__FA_BQ 64 /* flash attention's query and key tile rows */
#define IT__FA_BK 64
/* + 32 floats of slack each: tr8 stores whole 8-lane rows, past the end of a narrower last strip */
#define IT__SCRATCH_PACK_A (IT__SGEMM_MC * IT__SGEMM_KC + 32)
#define IT__SCRATCH_PACK_B (IT__SGEMM_KC * (IT__SGEMM_NC + IT__SGEMM_MAXNR) + 32)
#define IT__SCRATCH_TILE (IT__FA_BQ * IT__FA_BK)
#define IT__SCRATCH_FLOATS (IT__SCRATCH_PACK_A + IT__SCRATCH_PACK_B + 2 * IT__SCRATCH_TILE) /* a multiple of 16 */
/* Carves one worker's buffers out of IT__SCRATCH_FLOATS floats at mem (64-byte aligned). */
static void it__scratch_init(it__scratch *s, float *mem) {
    s->pack_a = mem;
    s->pack_b = s->pack_a + IT__SCRATCH_PACK_A;
    s->tile_s = s->pack_b + IT__SCRATCH_PACK_B;
    s->tile_dp = s->tile_s + IT__SCRATCH_TILE;
}

/* The kernel writes a full MR x NR tile: c = tile, or c += tile when add. tr8 transposes an 8 x 8
   tile for packing: d[k * ds + r] = s[min(r, nrows - 1) * ss + k], all 8 lanes of each output row
   stored (with ds < 8 the spill is overwritten by the next store, in ascending k, or lands in the
   buffers' slack). */
typedef void (*it__sgemm_kernel_fn)(int kc, const float *pa, const float *pb, float *c, int ldc, int add);

typedef void (*it__sgemm_tr8_fn)(const float *s, ptrdiff_t ss, int nrows, float *d, ptrdiff_t ds);
typedef struct it__sgemm_isa {
    int mr, nr;
    it__sgemm_kernel_fn kernel;
    it__sgemm_tr8_fn tr8; /* NULL: scalar transposing packs */
    /* the few-rows path: c[j] (+)= x . b[j K ..] for j < n, b's rows contiguous */
    void (*dots)(float *c, const float *x, const float *b, int K, int n, int accumulate);
    const char *name;
} it__sgemm_isa;

/* 0 = pick the best kernel this CPU runs; tests set 1 (portable), 2 (AVX2), 3 (AVX-512) to cover
   every path on one machine. A request the CPU cannot run falls back to the automatic choice. */
static int it__sgemm_force_isa = 0;

/* ---- portable kernel: 4 x 8, GCC/clang vector extensions where available, else scalar loops --- */
#define IT__SGEMM_GEN_MR 4
#define IT__SGEMM_GEN_NR 8
#if defined(__GNUC__) || defined(__clang__)
typedef float it__v4f __attribute__((vector_size(16)));
static void it__sgemm_kernel_generic(int kc, const float *pa, const float *pb, float *c, int ldc, int add) {
    it__v4f c00 = {0, 0, 0, 0}, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    int k, j;
    for (k = 0; k < kc; k++) {
        it__v4f b0, b1;
        memcpy(&b0, pb, 16);
        memcpy(&b1, pb + 4, 16);
        c00 += pa[0] * b0;
        c01 += pa[0] * b1;
        c10 += pa[1] * b0;
        c11 += pa[1] * b1;
        c20 += pa[2] * b0;
        c21 += pa[2] * b1;
        c30 += pa[3] * b0;
        c31 += pa[3] * b1;
        pa += 4;
        pb += 8;
    }
    {
        it__v4f rows[4][2];
        rows[0][0] = c00, rows[0][1] = c01, rows[1][0] = c10, rows[1][1] = c11;
        rows[2][0] = c20, rows[2][1] = c21, rows[3][0] = c30, rows[3][1] = c31;
        for (k = 0; k < 4; k++) {
            float t[8];
            memcpy(t, rows[k], 32);
            if (add)
                for (j = 0; j < 8; j++) c[k * ldc + j] += t[j];
            else
                for (j = 0; j < 8; j++) c[k * ldc + j] = t[j];
        }
    }
}
#else
static void it__sgemm_kernel_generic(int kc, const float *pa, const float *pb, float *c, int ldc, int add) {
    float acc[4][8] = {{0}};
    int k, i, j;
    for (k = 0; k < kc; k++, pa += 4, pb += 8)
        for (i = 0; i < 4; i++)
            for (j = 0; j < 8; j++) acc[i][j] += pa[i] * pb[j];
    for (i = 0; i < 4; i++)
        for (j = 0; j < 8; j++) c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}
#endif

/* dot products for the few-rows path (it__sgemm_small_tb) */
static float it__sgemm_dot_generic(const float *x, const float *y, int K) {
    float s = 0.0f;
    int k = 0;
#if defined(__GNUC__) || defined(__clang__)
    it__v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0, xv[4], yv[4];
    float t[4];
    for (; k + 16 <= K; k += 16) {
        memcpy(xv, x + k, sizeof xv);
        memcpy(yv, y + k, sizeof yv);
        s0 += xv[0] * yv[0], s1 += xv[1] * yv[1], s2 += xv[2] * yv[2], s3 += xv[3] * yv[3];
    }
    s0 += s1 + s2 + s3;
    memcpy(t, &s0, sizeof t);
    s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; k < K; k++) s += x[k] * y[k];
    return s;
}
/* c[j] (+)= x . b[j K ..] for j < n, one dot product at a time */
static void it__sgemm_dots_each(float (*dot)(const float *, const float *, int), float *c, const float *x,
                                const float *b, int K, int n, int accumulate) {
    int j;
    for (j = 0; j < n; j++) {
        float s = dot(x, b + (size_t)j * K, K);
        c[j] = accumulate ? c[j] + s : s;
    }
}
static void it__sgemm_dots_generic(float *c, const float *x, const float *b, int K, int n, int accumulate) {
    it__sgemm_dots_each(it__sgemm_dot_generic, c, x, b, K, n, accumulate);
}

#ifdef IT__SGEMM_X86
/* ---- AVX2 + FMA: 6 x 16, 12 ymm accumulators ------------------------------------------------ */
#define IT__AVX2_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define IT__AVX2_DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define IT__AVX2_FMA(i)                                  \
    {                                                    \
        __m256 ai = _mm256_broadcast_ss(pa + (i));       \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);      \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);      \
    }
#define IT__AVX2_STORE(i)                                                                       \
    if (add) {                                                                                  \
        c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(c + (i) * ldc));                       \
        c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(c + (i) * ldc + 8));                   \
    }                                                                                           \
    _mm256_storeu_ps(c + (i) * ldc, c##i##0);                                                   \
    _mm256_storeu_ps(c + (i) * ldc + 8, c##i##1);
__attribute__((target("avx2,fma"))) static void it__sgemm_kernel_avx2(int kc, const float *pa, const float *pb,
                                                                       float *c, int ldc, int add) {
    IT__AVX2_ROWS(IT__AVX2_DECL)
    int k;
    for (k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
        IT__AVX2_ROWS(IT__AVX2_FMA)
        pa += 6;
        pb += 16;
    }
    IT__AVX2_ROWS(IT__AVX2_STORE)
}

/* ---- AVX-512F: 8 x 32, 16 zmm accumulators; the broadcasts fold into the FMAs ---------------- */
#define IT__AVX512_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define IT__AVX512_DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define IT__AVX512_FMA(i)                                \
    {                                                    \
        __m512 ai = _mm512_set1_ps(pa[i]);               \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);      \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);      \
    }
#define IT__AVX512_STORE(i)                                                                     \
    if (add) {                                                                                  \
        c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(c + (i) * ldc));                       \
        c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(c + (i) * ldc + 16));                  \
    }                                                                                           \
    _mm512_storeu_ps(c + (i) * ldc, c##i##0);                                                   \
    _mm512_storeu_ps(c + (i) * ldc + 16, c##i##1);
__attribute__((target("avx512f"))) static void it__sgemm_kernel_avx512(int kc, const float *pa, const float *pb,
                                                                        float *c, int ldc, int add) {
    IT__AVX512_ROWS(IT__AVX512_DECL)
    int k;
    for (k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
        IT__AVX512_ROWS(IT__AVX512_FMA)
        pa += 8;
        pb += 32;
    }
    IT__AVX512_ROWS(IT__AVX512_STORE)
}

/* 8 x 8 transpose for the packing routines (AVX is implied by both kernels above) */
__attribute__((target("avx"))) static void it__sgemm_tr8_avx(const float *s, ptrdiff_t ss, int nrows, float *d,
                                                              ptrdiff_t ds) {
    __m256 r0, r1, r2, r3, r4, r5, r6, r7, t0, t1, t2, t3, t4, t5, t6, t7;
#define IT__TR_ROW(i) _mm256_loadu_ps(s + IT__MIN(i, nrows - 1) * ss)
    r0 = IT__TR_ROW(0), r1 = IT__TR_ROW(1), r2 = IT__TR_ROW(2), r3 = IT__TR_ROW(3);
    r4 = IT__TR_ROW(4), r5 = IT__TR_ROW(5), r6 = IT__TR_ROW(6), r7 = IT__TR_ROW(7);
#undef IT__TR_ROW
    t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    r0 = _mm256_shuffle_ps(t0, t2, 0x44), r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    r2 = _mm256_shuffle_ps(t1, t3, 0x44), r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    r4 = _mm256_shuffle_ps(t4, t6, 0x44), r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    r6 = _mm256_shuffle_ps(t5, t7, 0x44), r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d + 0 * ds, _mm256_permute2f128_ps(r0, r4, 0x20));
    _mm256_storeu_ps(d + 1 * ds, _mm256_permute2f128_ps(r1, r5, 0x20));
    _mm256_storeu_ps(d + 2 * ds, _mm256_permute2f128_ps(r2, r6, 0x20));
    _mm256_storeu_ps(d + 3 * ds, _mm256_permute2f128_ps(r3, r7, 0x20));
    _mm256_storeu_ps(d + 4 * ds, _mm256_permute2f128_ps(r0, r4, 0x31));
    _mm256_storeu_ps(d + 5 * ds, _mm256_permute2f128_ps(r1, r5, 0x31));
    _mm256_storeu_ps(d + 6 * ds, _mm256_permute2f128_ps(r2, r6, 0x31));
    _mm256_storeu_ps(d + 7 * ds, _mm256_permute2f128_ps(r3, r7, 0x31));
}

__attribute__((target("avx2,fma"))) static float it__sgemm_dot_avx2(const float *x, const float *y, int K) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    __m128 h;
    float s;
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), _mm256_loadu_ps(y + k + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), _mm256_loadu_ps(y + k + 24), s3);
    }
    for (; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), s0);
    s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    s = _mm_cvtss_f32(h);
    for (; k < K; k++) s += x[k] * y[k];
    return s;
}
static void it__sgemm_dots_avx2(float *c, const float *x, const float *b, int K, int n, int accumulate) {
    it__sgemm_dots_each(it__sgemm_dot_avx2, c, x, b, K, n, accumulate);
}
/* Rows of b in order (one sequential stream for the prefetcher), two independent sums per row to
   hide the FMA latency; the K tail is a masked load, so no scalar loop. A 64-byte load that straddles
   two cache lines costs two (measured: half the speed streaming a 32 MB head), so rows that are not
   64-byte aligned (the library's own blocks are) take the 32-byte path. */
__attribute__((target("avx512f"))) static void it__sgemm_dots_avx512(float *c, const float *x, const float *b, int K,
                                                                      int n, int accumulate) {
    int j, k;
    if (((uintptr_t)b & 63) || (K & 15)) {
        it__sgemm_dots_avx2(c, x, b, K, n, accumulate);
        return;
    }
    for (j = 0; j < n; j++) {
        const float *bj = b + (size_t)j * K;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        float r;
        for (k = 0; k + 32 <= K; k += 32) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(bj + k), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(bj + k + 16), s1);
        }
        for (; k < K; k += 16) {
            __mmask16 m = K - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - k)) - 1u);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, bj + k), s0);
        }
        r = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        c[j] = accumulate ? c[j] + r : r;
    }
}
#endif /* IT__SGEMM_X86 */

#ifdef IT__SGEMM_NEON
/* ---- NEON: 8 x 12, 24 q-register accumulators, lane-indexed FMAs ---------------------------- */
#define IT__NEON_ROWS4(X, q, base) X(q, base, 0) X(q, base, 1) X(q, base, 2) X(q, base, 3)
#define IT__NEON_DECL(q, base, l) \
    float32x4_t c##base##l##0 = vdupq_n_f32(0), c##base##l##1 = vdupq_n_f32(0), c##base##l##2 = vdupq_n_f32(0);
#define IT__NEON_FMA(q, base, l)                                  \
    c##base##l##0 = vfmaq_laneq_f32(c##base##l##0, b0, q, l);     \
    c##base##l##1 = vfmaq_laneq_f32(c##base##l##1, b1, q, l);     \
    c##base##l##2 = vfmaq_laneq_f32(c##base##l##2, b2, q, l);
#define IT__NEON_STORE(q, base, l)                                                  \
    {                                                                               \
        float *cr = c + ((base) * 4 + (l)) * ldc;                                   \
        if (add) {                                                                  \
            c##base##l##0 = vaddq_f32(c##base##l##0, vld1q_f32(cr));                \
            c##base##l##1 = vaddq_f32(c##base##l##1, vld1q_f32(cr + 4));            \
            c##base##l##2 = vaddq_f32(c##base##l##2, vld1q_f32(cr + 8));            \
        }                                                                           \
        vst1q_f32(cr, c##base##l##0);                                               \
        vst1q_f32(cr + 4, c##base##l##1);                                           \
        vst1q_f32(cr + 8, c##base##l##2);                                           \
    }
static void it__sgemm_kernel_neon(int kc, const float *pa, const float *pb, float *c, int ldc, int add) {
    IT__NEON_ROWS4(IT__NEON_DECL, a0, 0)
    IT__NEON_ROWS4(IT__NEON_DECL, a1, 1)
    int k;
    for (k = 0; k < kc; k++) {
        float32x4_t a0 = vld1q_f32(pa), a1 = vld1q_f32(pa + 4);
        float32x4_t b0 = vld1q_f32(pb), b1 = vld1q_f32(pb + 4), b2 = vld1q_f32(pb + 8);
        IT__NEON_ROWS4(IT__NEON_FMA, a0, 0)
        IT__NEON_ROWS4(IT__NEON_FMA, a1, 1)
        pa += 8;
        pb += 12;
    }
    IT__NEON_ROWS4(IT__NEON_STORE, a0, 0)
    IT__NEON_ROWS4(IT__NEON_STORE, a1, 1)
}
#endif /* IT__SGEMM_NEON */

static it__sgemm_isa it__sgemm_pick_isa(void) {
    it__sgemm_isa g;
    int force = it__sgemm_force_isa;
    g.mr = IT__SGEMM_GEN_MR, g.nr = IT__SGEMM_GEN_NR, g.kernel = it__sgemm_kernel_generic, g.tr8 = NULL;
    g.dots = it__sgemm_dots_generic;
    g.name = "generic";
    if (force == 1) return g;
#if defined(IT__SGEMM_X86)
    __builtin_cpu_init();
    if (force != 2 && __builtin_cpu_supports("avx512f")) {
        g.mr = 8, g.nr = 32, g.kernel = it__sgemm_kernel_avx512, g.tr8 = it__sgemm_tr8_avx, g.dots = it__sgemm_dots_avx512;
        g.name = "avx512";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        g.mr = 6, g.nr = 16, g.kernel = it__sgemm_kernel_avx2, g.tr8 = it__sgemm_tr8_avx, g.dots = it__sgemm_dots_avx2;
        g.name = "avx2";
    }
#elif defined(IT__SGEMM_NEON)
    g.mr = 8, g.nr = 12, g.kernel = it__sgemm_kernel_neon, g.name = "neon";
#endif
    return g;
}

/* ---- packing. op(a)(i, k) = a[i * rsa + k * csa]; op(b)(k, j) = b[k * rsb + j * csb].
   A micro-panel is kc rows of w floats (w = MR for a, NR for b), zero padded past the edge. ---- */
/* d[k * w + r] = s[k * ss + r]: the panel's width is contiguous in the source (op(a) transposed,
   op(b) not); constant-size copies so the compiler emits plain vector moves */
static void it__sgemm_pack_n(float *d, const float *s, ptrdiff_t ss, int rows, int kc, int w) {
    int k, r;
#define IT__PACK_N_CASE(W)                                                      \
    case W:                                                                     \
        for (k = 0; k < kc; k++) memcpy(d + k * (W), s + k * ss, (W) * sizeof(float)); \
        return;
    if (rows == w) switch (w) {
        IT__PACK_N_CASE(4) IT__PACK_N_CASE(6) IT__PACK_N_CASE(8) IT__PACK_N_CASE(12) IT__PACK_N_CASE(16)
        IT__PACK_N_CASE(32)
        default: break;
        }
#undef IT__PACK_N_CASE
    for (k = 0; k < kc; k++) {
        for (r = 0; r < rows; r++) d[k * w + r] = s[k * ss + r];
        for (; r < w; r++) d[k * w + r] = 0.0f;
    }
}


/* d[k * w + r] = s[r * ss + k]: the panel's width is strided in the source (op(a) as stored,
   op(b) transposed) */
static void it__sgemm_pack_t(float *d, const float *s, ptrdiff_t ss, int rows, int kc, int w, it__sgemm_tr8_fn tr8) {
    int k = 0, r, r0;
    if (tr8 && rows == w && (w % 8 == 0 || w == 6)) {
        for (r0 = 0; r0 < w; r0 += 8)
            for (k = 0; k + 8 <= kc; k += 8) tr8(s + r0 * ss + k, ss, IT__MIN(8, w - r0), d + k * w + r0, w);
    }
    for (r = 0; r < rows; r++)
        for (r0 = k; r0 < kc; r0++) d[r0 * w + r] = s[r * ss + r0];
    for (; r < w; r++)
        for (r0 = k; r0 < kc; r0++) d[r0 * w + r] = 0.0f;
}

static void it__sgemm_pack_a(float *dst, const float *a, ptrdiff_t rsa, ptrdiff_t csa, int mc, int kc, int mr,
                             it__sgemm_tr8_fn tr8) {
    int i0;
    for (i0 = 0; i0 < mc; i0 += mr, dst += (size_t)mr * kc) {
        int rows = IT__MIN(mr, mc - i0);
        if (csa == 1)
            it__sgemm_pack_t(dst, a + i0 * rsa, rsa, rows, kc, mr, tr8);
        else
            it__sgemm_pack_n(dst, a + i0 * rsa, csa, rows, kc, mr);
    }
}

static void it__sgemm_pack_b(float *dst, const float *b, ptrdiff_t rsb, ptrdiff_t csb, int kc, int nc, int nr,
                             it__sgemm_tr8_fn tr8) {
    int j0;
    for (j0 = 0; j0 < nc; j0 += nr, dst += (size_t)nr * kc) {
        int cols = IT__MIN(nr, nc - j0);
        if (csb == 1)
            it__sgemm_pack_n(dst, b + j0 * csb, rsb, cols, kc, nr);
        else
            it__sgemm_pack_t(dst, b + j0 * csb, csb, cols, kc, nr, tr8);
    }
}

/* One rectangle of c [m, n] (ldc), all of K, on the calling thread, packing into its scratch. */
static void it__sgemm_block(const it__sgemm_isa *g, const it__scratch *scratch, float *c, ptrdiff_t ldc,
                            const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb,
                            ptrdiff_t csb, int m, int n, int K, int accumulate) {
    const int mr = g->mr, nr = g->nr;
    float *pa = scratch->pack_a, *pb = scratch->pack_b;
    float edge[IT__SGEMM_MAXMR * IT__SGEMM_MAXNR];
    int jc, pc, ic, jr, ir, i, j;
    for (jc = 0; jc < n; jc += IT__SGEMM_NC) {
        int nc = IT__MIN(IT__SGEMM_NC, n - jc);
        for (pc = 0; pc < K; pc += IT__SGEMM_KC) {
            int kc = IT__MIN(IT__SGEMM_KC, K - pc), add = accumulate || pc > 0;
            it__sgemm_pack_b(pb, b + pc * rsb + jc * csb, rsb, csb, kc, nc, nr, g->tr8);
            for (ic = 0; ic < m; ic += IT__SGEMM_MC) {
                int mc = IT__MIN(IT__SGEMM_MC, m - ic);
                it__sgemm_pack_a(pa, a + ic * rsa + pc * csa, rsa, csa, mc, kc, mr, g->tr8);
                for (jr = 0; jr < nc; jr += nr) {
                    const float *pbj = pb + (size_t)jr * kc;
                    int cols = IT__MIN(nr, nc - jr);
                    for (ir = 0; ir < mc; ir += mr) {
                        const float *pai = pa + (size_t)ir * kc;
                        float *cij = c + (ic + ir) * ldc + jc + jr;
                        int rows = IT__MIN(mr, mc - ir);
                        if (rows == mr && cols == nr) {
                            g->kernel(kc, pai, pbj, cij, (int)ldc, add);
                        } else {
                            g->kernel(kc, pai, pbj, edge, nr, 0);
                            for (i = 0; i < rows; i++)
                                for (j = 0; j < cols; j++)
                                    cij[i * ldc + j] = add ? cij[i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
                        }
                    }
                }
            }
        }
    }
}

/* A few rows against a transposed b (decode: one token times a weight matrix [N, K]): packing b
   would cost more than the product itself, so each value is a dot product of two contiguous rows. */
#define IT__SGEMM_SMALL_M 4
static void it__sgemm_small_tb(const it__sgemm_isa *g, float *c, const float *a, const float *b, int M, int N, int K,
                               int n0, int n1, int accumulate) {
    int i;
    for (i = 0; i < M; i++) g->dots(c + (size_t)i * N + n0, a + (size_t)i * K, b + (size_t)n0 * K, K, n1 - n0, accumulate);
}

/* Splits the MR x NR tile grid into pm x pn = n_parts rectangles; picks the factorisation whose
   largest share (padded multiply-adds plus a packing penalty) is smallest. */
static void it__sgemm_grid(int M, int N, int K, int mr, int nr, int n_parts, int *pm_out, int *pn_out) {
    int mt = (M + mr - 1) / mr, nt = (N + nr - 1) / nr, pm, best_pm = 1;
    double best = -1.0;
    for (pm = 1; pm <= n_parts; pm++) {
        int pn;
        double rows, cols, cost;
        if (n_parts % pm) continue;
        pn = n_parts / pm;
        if (pm > mt || pn > nt) continue;
        rows = (double)((mt + pm - 1) / pm) * mr;
        cols = (double)((nt + pn - 1) / pn) * nr;
        /* multiply-adds run ~16x faster per element than packing; every share packs its own rows of
           op(a) (once per NC panel) and its own columns of op(b) */
        cost = rows * cols * K + 16.0 * K * (rows * ((cols + IT__SGEMM_NC - 1) / IT__SGEMM_NC) + cols);
        if (best < 0 || cost < best) best = cost, best_pm = pm;
    }
    if (best < 0) { /* more parts than tiles: split the longer tile dimension only */
        best_pm = mt >= nt ? n_parts : 1;
    }
    *pm_out = best_pm;
    *pn_out = n_parts / best_pm;
}

static void it__sgemm_part(int part, int n_parts, const it__scratch *scratch, float *c, const float *a,
                           const float *b, int M, int N, int K, int trans_a, int trans_b, int accumulate) {
    it__sgemm_isa g = it__sgemm_pick_isa();
    int pm, pn, mt, nt, pi, pj, m0, m1, n0, n1, i;
    ptrdiff_t rsa = trans_a ? 1 : K, csa = trans_a ? M : 1, rsb = trans_b ? 1 : N, csb = trans_b ? K : 1;
    if (M <= 0 || N <= 0 || n_parts <= 0 || part < 0 || part >= n_parts) return;
    if (M < IT__SGEMM_SMALL_M && trans_b && !trans_a) { /* columns in runs of 16: whole cache lines of c */
        int units = (N + 15) / 16;
        n0 = (int)((long long)units * part / n_parts) * 16;
        n1 = IT__MIN(N, (int)((long long)units * (part + 1) / n_parts) * 16);
        if (n0 < n1) it__sgemm_small_tb(&g, c, a, b, M, N, K, n0, n1, accumulate);
        return;
    }
    it__sgemm_grid(M, N, K, g.mr, g.nr, n_parts, &pm, &pn);
    mt = (M + g.mr - 1) / g.mr, nt = (N + g.nr - 1) / g.nr;
    pi = part / pn, pj = part % pn;
    m0 = (int)((long long)mt * pi / pm) * g.mr, m1 = IT__MIN(M, (int)((long long)mt * (pi + 1) / pm) * g.mr);
    n0 = (int)((long long)nt * pj / pn) * g.nr, n1 = IT__MIN(N, (int)((long long)nt * (pj + 1) / pn) * g.nr);
    if (m0 >= m1 || n0 >= n1) return;
    if (K <= 0) {
        if (!accumulate)
            for (i = m0; i < m1; i++) memset(c + (size_t)i * N + n0, 0, sizeof(float) * (size_t)(n1 - n0));
        return;
    }
    it__sgemm_block(&g, scratch, c + (size_t)m0 * N + n0, N, a + m0 * rsa, rsa, csa, b + n0 * csb, rsb, csb,
                    m1 - m0, n1 - n0, K, accumulate);
}

/* >>fast_kernels ---------------------------------------------------------------------------------
   What the CPU backend runs instead of the reference loops where it matters: a vector exp for the
   softmax-shaped reductions (the fused loss takes N x V of them per pass) and SwiGLU, and flash
   attention.
   The reference kernels above stay the specification; the tests hold these to them. */

/* y[i] = mul * exp(xs * x[i] - shift), returns the sum of exp(xs * x[i] - shift). y may equal x.
   The vector versions use Cephes' expf polynomial (within 2 ulp of expf), with exp of anything
   below -87.3 flushed to 0. */
static float it__vexp_scalar(float *y, const float *x, int n, float xs, float shift, float mul) {
    float sum = 0.0f;
    int i;
    for (i = 0; i < n; i++) {
        float e = expf(xs * x[i] - shift);
        sum += e;
        y[i] = mul * e;
    }
    return sum;
}
static float it__vmax_scalar(const float *x, int n) {
    float m = -FLT_MAX;
    int i;
    for (i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}
#ifdef IT__SGEMM_X86
#define IT__EXP_HI 88.3762626647949f
#define IT__EXP_LO -87.3365447504f
#define IT__EXP_POLY(V, FMA, SET1, MUL, ADD, SUB, ROUND, CVT, SHL, CASTI, ADDI, SET1I, r, xv, out)     \
    {                                                                                                   \
        V fx = ROUND(MUL(xv, SET1(1.44269504088896341f)));                                              \
        V rr = SUB(SUB(xv, MUL(fx, SET1(0.693359375f))), MUL(fx, SET1(-2.12194440e-4f)));               \
        V p = SET1(1.9875691500e-4f);                                                                   \
        p = FMA(p, rr, SET1(1.3981999507e-3f));                                                         \
        p = FMA(p, rr, SET1(8.3334519073e-3f));                                                         \
        p = FMA(p, rr, SET1(4.1665795894e-2f));                                                         \
        p = FMA(p, rr, SET1(1.6666665459e-1f));                                                         \
        p = FMA(p, rr, SET1(5.0000001201e-1f));                                                         \
        p = FMA(p, MUL(rr, rr), ADD(rr, SET1(1.0f)));                                                   \
        out = MUL(p, CASTI(SHL(ADDI(CVT(fx), SET1I(127)), 23)));                                        \
    }
#define IT__R512(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* exp of 16 lanes, 0 below IT__EXP_LO */
__attribute__((target("avx512f"))) static inline __m512 it__exp_avx512(__m512 xv) {
    __mmask16 live = _mm512_cmp_ps_mask(xv, _mm512_set1_ps(IT__EXP_LO), _CMP_GE_OQ);
    __m512 e;
    xv = _mm512_min_ps(_mm512_max_ps(xv, _mm512_set1_ps(IT__EXP_LO)), _mm512_set1_ps(IT__EXP_HI));
    IT__EXP_POLY(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_sub_ps, IT__R512,
                 _mm512_cvtps_epi32, _mm512_slli_epi32, _mm512_castsi512_ps, _mm512_add_epi32, _mm512_set1_epi32, rr,
                 xv, e)
    return _mm512_maskz_mov_ps(live, e);
}
/* whole vectors, then one masked tail (see it__vmax_avx512 for why not a mask per vector) */
__attribute__((target("avx512f"))) static float it__vexp_avx512(float *y, const float *x, int n, float xs,
                                                                 float shift, float mul) {
    __m512 acc = _mm512_setzero_ps(), vxs = _mm512_set1_ps(xs), vsh = _mm512_set1_ps(shift), vmul = _mm512_set1_ps(mul);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = it__exp_avx512(_mm512_fmsub_ps(_mm512_loadu_ps(x + i), vxs, vsh));
        acc = _mm512_add_ps(acc, e);
        _mm512_storeu_ps(y + i, _mm512_mul_ps(e, vmul));
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1u);
        __m512 e = _mm512_maskz_mov_ps(k, it__exp_avx512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, x + i), vxs, vsh)));
        acc = _mm512_add_ps(acc, e);
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(e, vmul));
    }
    return _mm512_reduce_add_ps(acc);
}
/* Whole vectors into two maxima, then one masked tail: a mask rebuilt every iteration measured
   ~16 cycles per vector on this VM's AMD EPYC, four times slower than the memory. */
__attribute__((target("avx512f"))) static float it__vmax_avx512(const float *x, int n) {
    __m512 m0 = _mm512_set1_ps(-FLT_MAX), m1 = m0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        m0 = _mm512_mask_max_ps(m0, k, m0, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}
#define IT__R256(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
__attribute__((target("avx2,fma"))) static float it__vexp_avx2(float *y, const float *x, int n, float xs, float shift,
                                                                float mul) {
    __m256 acc = _mm256_setzero_ps(), vxs = _mm256_set1_ps(xs), vsh = _mm256_set1_ps(shift), vmul = _mm256_set1_ps(mul);
    __m128 h;
    float sum;
    int i;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_fmsub_ps(_mm256_loadu_ps(x + i), vxs, vsh), e;
        __m256 live = _mm256_cmp_ps(xv, _mm256_set1_ps(IT__EXP_LO), _CMP_GE_OQ);
        xv = _mm256_min_ps(_mm256_max_ps(xv, _mm256_set1_ps(IT__EXP_LO)), _mm256_set1_ps(IT__EXP_HI));
        IT__EXP_POLY(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_sub_ps, IT__R256,
                     _mm256_cvtps_epi32, _mm256_slli_epi32, _mm256_castsi256_ps, _mm256_add_epi32, _mm256_set1_epi32,
                     rr, xv, e)
        e = _mm256_and_ps(e, live);
        acc = _mm256_add_ps(acc, e);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(e, vmul));
    }
    h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    sum = _mm_cvtss_f32(h);
    return sum + it__vexp_scalar(y + i, x + i, n - i, xs, shift, mul);
}
__attribute__((target("avx2"))) static float it__vmax_avx2(const float *x, int n) {
    __m256 m = _mm256_set1_ps(-FLT_MAX);
    __m128 h;
    float r;
    int i;
    for (i = 0; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    r = _mm_cvtss_f32(h);
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}
#endif
#ifdef IT__SGEMM_X86
/* 0 scalar, 1 AVX2, 2 AVX-512: the same choice (and the same test override) as the SGEMM's. */
static int it__vec_level(void) {
    int force = it__sgemm_force_isa;
    if (force == 1) return 0;
    __builtin_cpu_init();
    if (force != 2 && __builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}
#endif
static float it__vexp(float *y, const float *x, int n, float xs, float shift, float mul) {
    if (n <= 0) return 0.0f;
#ifdef IT__SGEMM_X86
    switch (it__vec_level()) {
    case 2: return it__vexp_avx512(y, x, n, xs, shift, mul);
    case 1: return it__vexp_avx2(y, x, n, xs, shift, mul);
    default: break;
    }
#endif
    return it__vexp_scalar(y, x, n, xs, shift, mul);
}
static float it__vmax(const float *x, int n) {
#ifdef IT__SGEMM_X86
    switch (it__vec_level()) {
    case 2: return n > 0 ? it__vmax_avx512(x, n) : -FLT_MAX;
    case 1: return it__vmax_avx2(x, n);
    default: break;
    }
#endif
    return it__vmax_scalar(x, n);
}

/* SwiGLU through the vector exp: sigmoid(g) = 1 / (1 + exp(-g)), one exp per element in the forward
   and in the backward (the reference loops call expf once and twice). A block at a time on the stack. */
#define IT__EW_BLOCK 256
static void it__swiglu_forward_fast(float *out, const float *gate, const float *up, size_t n) {
    float e[IT__EW_BLOCK];
    size_t i0;
    int i, len;
    for (i0 = 0; i0 < n; i0 += IT__EW_BLOCK) {
        len = (int)(n - i0 < IT__EW_BLOCK ? n - i0 : IT__EW_BLOCK);
        it__vexp(e, gate + i0, len, -1.0f, 0.0f, 1.0f);
        for (i = 0; i < len; i++) out[i0 + i] = gate[i0 + i] / (1.0f + e[i]) * up[i0 + i];
    }
}
static void it__swiglu_backward_fast(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                                     size_t n) {
    float s[IT__EW_BLOCK];
    size_t i0;
    int i, len;
    for (i0 = 0; i0 < n; i0 += IT__EW_BLOCK) {
        const float *g = gate + i0, *u = up + i0, *d = dout + i0;
        len = (int)(n - i0 < IT__EW_BLOCK ? n - i0 : IT__EW_BLOCK);
        it__vexp(s, g, len, -1.0f, 0.0f, 1.0f);
        for (i = 0; i < len; i++) s[i] = 1.0f / (1.0f + s[i]); /* sigmoid(g) */
        if (dgate) /* d silu(g) / dg = s (1 + g (1 - s)) */
            for (i = 0; i < len; i++) dgate[i0 + i] += d[i] * u[i] * s[i] * (1.0f + g[i] * (1.0f - s[i]));
        if (dup)
            for (i = 0; i < len; i++) dup[i0 + i] += d[i] * g[i] * s[i];
    }
}

/* Lion over a flat range, 16 lanes at a time (the update is elementwise; same arithmetic as
   it_cpu_lion_update, so results are bitwise equal: no FMA contraction, same operation order). */
#ifdef IT__SGEMM_X86
__attribute__((target("avx512f"))) static size_t it__lion_avx512(float *p, float *m, const float *g, size_t n, float lr,
                                                                  float beta1, float beta2, float wd, float grad_scale) {
    __m512 vb1 = _mm512_set1_ps(beta1), vb1c = _mm512_set1_ps(1.0f - beta1), vb2 = _mm512_set1_ps(beta2);
    __m512 vb2c = _mm512_set1_ps(1.0f - beta2), vlr = _mm512_set1_ps(lr), vwd = _mm512_set1_ps(wd);
    __m512 vgs = _mm512_set1_ps(grad_scale), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    size_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), vgs), mi = _mm512_loadu_ps(m + i), pi = _mm512_loadu_ps(p + i);
        __m512 c = _mm512_add_ps(_mm512_mul_ps(vb1, mi), _mm512_mul_ps(vb1c, gi));
        __m512 sign = _mm512_sub_ps(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(c, zero, _CMP_GT_OQ), one),
                                    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(c, zero, _CMP_LT_OQ), one));
        pi = _mm512_sub_ps(pi, _mm512_mul_ps(vlr, _mm512_add_ps(sign, _mm512_mul_ps(vwd, pi))));
        _mm512_storeu_ps(p + i, pi);
        _mm512_storeu_ps(m + i, _mm512_add_ps(_mm512_mul_ps(vb2, mi), _mm512_mul_ps(vb2c, gi)));
    }
    return i;
}
#endif
static void it__lion_fast(float *p, float *m, const float *g, size_t n, float lr, float beta1, float beta2, float wd,
                          float grad_scale) {
    size_t done = 0;
#ifdef IT__SGEMM_X86
    if (it__vec_level() == 2) done = it__lion_avx512(p, m, g, n, lr, beta1, beta2, wd, grad_scale);
#endif
    if (done < n) it_cpu_lion_update(p + done, m + done, g + done, n - done, lr, beta1, beta2, wd, grad_scale);
}

/* Flash attention (Dao et al.; FlashAttention-2's loop order) for the layout [B, T, H, D]: query
   tiles of IT__FA_BQ rows against key tiles of IT__FA_BK, every product through the blocked SGEMM
   with the head's row stride, an online softmax over key tiles, the log-sum-exp saved. No T x T
   matrix: the only temporaries are two BQ x BK tiles in the worker's scratch. Forward owns one
   (batch, query head); backward owns one (batch, kv head) with every query head of its group, so
   dk, dv and dq rows have one writer each. Results match the reference kernels to rounding. */

/* c [m, n] (ldc) (+)= op(a) op(b) with the strides of it__sgemm_block */
static void it__fa_gemm(const it__sgemm_isa *g, const it__scratch *sc, float *c, ptrdiff_t ldc, const float *a,
                        ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, int m, int n,
                        int K, int acc) {
    if (m > 0 && n > 0 && K > 0) it__sgemm_block(g, sc, c, ldc, a, rsa, csa, b, rsb, csb, m, n, K, acc);
}
static void it__flash_forward_head(const it__scratch *sc, float *out, float *lse, const float *q, const float *k,
                                   const float *v, int b, int h, int T, int Hq, int Hkv, int D, int window) {
    it__sgemm_isa g = it__sgemm_pick_isa();
    int kvh = h / (Hq / Hkv), i0, j0, r;
    ptrdiff_t qs = (ptrdiff_t)Hq * D, ks = (ptrdiff_t)Hkv * D;
    const float *qb = q + (size_t)b * T * qs + (size_t)h * D;
    const float *kb = k + (size_t)b * T * ks + (size_t)kvh * D, *vb = v + (size_t)b * T * ks + (size_t)kvh * D;
    float *ob = out + (size_t)b * T * qs + (size_t)h * D, *lb = lse + ((size_t)b * Hq + h) * T;
    float scale = 1.0f / sqrtf((float)D), *S = sc->tile_s, m[IT__FA_BQ], l[IT__FA_BQ];
    for (i0 = 0; i0 < T; i0 += IT__FA_BQ) {
        int mi = IT__MIN(IT__FA_BQ, T - i0);
        for (r = 0; r < mi; r++) {
            memset(ob + (i0 + r) * qs, 0, sizeof(float) * (size_t)D);
            m[r] = -FLT_MAX;
            l[r] = 0.0f;
        }
        /* key tiles from the one holding the tile's first visible key */
        for (j0 = it__attention_first_key(i0, window) / IT__FA_BK * IT__FA_BK; j0 < i0 + mi; j0 += IT__FA_BK) {
            int nj = IT__MIN(IT__FA_BK, T - j0);
            it__fa_gemm(&g, sc, S, IT__FA_BK, qb + i0 * qs, qs, 1, kb + j0 * ks, 1, ks, mi, nj, D, 0); /* Q K^T */
            for (r = 0; r < mi; r++) { /* row r sees the tile's keys [first, valid) */
                float *sr = S + r * IT__FA_BK, mn, corr;
                int valid = IT__MIN(nj, i0 + r - j0 + 1), first = IT__MAX(0, it__attention_first_key(i0 + r, window) - j0), d;
                if (valid <= first) {
                    memset(sr, 0, sizeof(float) * (size_t)nj);
                    continue;
                }
                mn = it__vmax(sr + first, valid - first) * scale;
                if (mn < m[r]) mn = m[r];
                corr = expf(m[r] - mn);
                l[r] = l[r] * corr + it__vexp(sr + first, sr + first, valid - first, scale, mn, 1.0f);
                if (first) memset(sr, 0, sizeof(float) * (size_t)first);
                if (valid < nj) memset(sr + valid, 0, sizeof(float) * (size_t)(nj - valid));
                if (corr != 1.0f) {
                    float *orow = ob + (i0 + r) * qs;
                    for (d = 0; d < D; d++) orow[d] *= corr;
                }
                m[r] = mn;
            }
            it__fa_gemm(&g, sc, ob + i0 * qs, qs, S, IT__FA_BK, 1, vb + j0 * ks, ks, 1, mi, D, nj, 1); /* O += P V */
        }
        for (r = 0; r < mi; r++) {
            float *orow = ob + (i0 + r) * qs, inv = 1.0f / l[r];
            int d;
            for (d = 0; d < D; d++) orow[d] *= inv;
            lb[i0 + r] = m[r] + logf(l[r]);
        }
    }
}
static void it__flash_backward_group(const it__scratch *sc, float *dq, float *dk, float *dv, const float *dout,
                                     const float *q, const float *k, const float *v, const float *out,
                                     const float *lse, int b, int kvh, int T, int Hq, int Hkv, int D, int window) {
    it__sgemm_isa g = it__sgemm_pick_isa();
    int group = Hq / Hkv, h, i0, j0, r, c;
    ptrdiff_t qs = (ptrdiff_t)Hq * D, ks = (ptrdiff_t)Hkv * D;
    size_t kvoff = (size_t)b * T * ks + (size_t)kvh * D;
    const float *kb = k + kvoff, *vb = v + kvoff;
    float *dkb = dk ? dk + kvoff : NULL, *dvb = dv ? dv + kvoff : NULL;
    float scale = 1.0f / sqrtf((float)D), *P = sc->tile_s, *dS = sc->tile_dp, delta[IT__FA_BQ];
    for (j0 = 0; j0 < T; j0 += IT__FA_BK) {
        int nj = IT__MIN(IT__FA_BK, T - j0);
        for (h = kvh * group; h < (kvh + 1) * group; h++) {
            size_t qoff = (size_t)b * T * qs + (size_t)h * D;
            const float *qb = q + qoff, *dob = dout + qoff, *obuf = out + qoff, *lb = lse + ((size_t)b * Hq + h) * T;
            float *dqb = dq ? dq + qoff : NULL;
            /* query tiles up to the last query that still sees this key tile */
            int i_end = window > 0 ? IT__MIN(T, j0 + nj + window - 1) : T;
            for (i0 = (j0 / IT__FA_BQ) * IT__FA_BQ; i0 < i_end; i0 += IT__FA_BQ) {
                int mi = IT__MIN(IT__FA_BQ, T - i0);
                it__fa_gemm(&g, sc, P, IT__FA_BK, qb + i0 * qs, qs, 1, kb + j0 * ks, 1, ks, mi, nj, D, 0); /* S */
                for (r = 0; r < mi; r++) { /* row r sees the tile's keys [first, valid) */
                    float *pr = P + r * IT__FA_BK;
                    int valid = IT__MIN(nj, i0 + r - j0 + 1), first = IT__MAX(0, it__attention_first_key(i0 + r, window) - j0);
                    if (valid < first) valid = first;
                    it__vexp(pr + first, pr + first, valid - first, scale, lb[i0 + r], 1.0f);
                    if (first) memset(pr, 0, sizeof(float) * (size_t)IT__MIN(first, nj));
                    if (valid < nj) memset(pr + valid, 0, sizeof(float) * (size_t)(nj - valid));
                    delta[r] = it__dot(dob + (i0 + r) * qs, obuf + (i0 + r) * qs, D);
                }
                if (dvb) it__fa_gemm(&g, sc, dvb + j0 * ks, ks, P, 1, IT__FA_BK, dob + i0 * qs, qs, 1, nj, D, mi, 1);
                if (!dqb && !dkb) continue;
                it__fa_gemm(&g, sc, dS, IT__FA_BK, dob + i0 * qs, qs, 1, vb + j0 * ks, 1, ks, mi, nj, D, 0); /* dP */
                for (r = 0; r < mi; r++) {
                    float *sr = dS + r * IT__FA_BK, *pr = P + r * IT__FA_BK, dl = delta[r];
                    for (c = 0; c < nj; c++) sr[c] = pr[c] * (sr[c] - dl) * scale;
                }
                if (dqb) it__fa_gemm(&g, sc, dqb + i0 * qs, qs, dS, IT__FA_BK, 1, kb + j0 * ks, ks, 1, mi, D, nj, 1);
                if (dkb) it__fa_gemm(&g, sc, dkb + j0 * ks, ks, dS, 1, IT__FA_BK, qb + i0 * qs, qs, 1, nj, D, mi, 1);
            }
        }
    }
}

/* >>threads -------------------------------------------------------------------------------------
   A fixed pool: the caller is worker 0, n_threads - 1 pthreads wait on a condition variable. A job
   is a function called once per part; the caller returns when every part is done.
   The workers sleep between jobs rather than spin: a spinning pool measured faster on an idle
   machine (decode +20%) but 25-80% slower as soon as another process shared the cores, because a
   spinning worker loses the scheduler's wake-up preference and the caller then waits out its time
   slice. So a job costs a wake-up, and the callers only split work that is worth one. */
typedef void (*it__part_fn)(void *arg, int part, int n_parts);
typedef struct it__pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t work_ready, work_done;
    it__part_fn fn;
    void *arg;
    int n_parts, pending, quit;
    unsigned generation;
} it__pool;
typedef struct it__worker_start { it__pool *pool; int index; } it__worker_start;

static void *it__worker_main(void *p) {
    it__pool *pool = ((it__worker_start *)p)->pool;
    int index = ((it__worker_start *)p)->index;
    unsigned seen = 0;
    for (;;) {
        it__part_fn fn;
        void *arg;
        int n_parts;
        pthread_mutex_lock(&pool->mutex);
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->work_ready, &pool->mutex);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->mutex);
            return NULL;
        }
        seen = pool->generation;
        fn = pool->fn;
        arg = pool->arg;
        n_parts = pool->n_parts;
        pthread_mutex_unlock(&pool->mutex);
        if (index < n_parts) fn(arg, index, n_parts);
        pthread_mutex_lock(&pool->mutex);
        if (--pool->pending == 0) pthread_cond_signal(&pool->work_done);
        pthread_mutex_unlock(&pool->mutex);
    }
}
/* Starts n_threads - 1 workers. Returns 0 on success. */
static int it__pool_start(it__pool *pool, int n_threads, pthread_t *threads, it__worker_start *starts) {
    int i;
    memset(pool, 0, sizeof(*pool));
    pool->n_threads = n_threads;
    pool->threads = threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_cond_init(&pool->work_done, NULL);
    for (i = 1; i < n_threads; i++) {
        starts[i].pool = pool;
        starts[i].index = i;
        if (pthread_create(&threads[i], NULL, it__worker_main, &starts[i]) != 0) {
            pool->n_threads = i; /* run with the workers we got */
            return -1;
        }
    }
    return 0;
}
static void it__pool_stop(it__pool *pool) {
    int i;
    pthread_mutex_lock(&pool->mutex);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->mutex);
    for (i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->work_ready);
    pthread_cond_destroy(&pool->work_done);
}
static void it__pool_run(it__pool *pool, it__part_fn fn, void *arg, int n_parts) {
    if (n_parts > pool->n_threads) n_parts = pool->n_threads;
    if (n_parts <= 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    pool->fn = fn;
    pool->arg = arg;
    pool->n_parts = n_parts;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->mutex);
    fn(arg, 0, n_parts);
    pthread_mutex_lock(&pool->mutex);
    while (pool->pending > 0) pthread_cond_wait(&pool->work_done, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
}
/* The share [*begin, *end) of n items that part `part` of n_parts owns. */
static void it__split(size_t n, int part, int n_parts, size_t *begin, size_t *end) {
    *begin = n * (size_t)part / (size_t)n_parts;
    *end = n * (size_t)(part + 1) / (size_t)n_parts;
}

/* >>context ------------------------------------------------------------------------------------- */
struct it_tensor {
    char name[IT_MAX_NAME];
    it_dtype dtype;
    it_tensor_kind kind;
    int ndim;
    int dims[IT_MAX_DIMS];
    size_t numel;
    it_context *ctx;
    it_graph *graph;     /* NULL for parameters and their gradients */
    it_tensor *view_of;  /* storage owner when this is a reshape view */
    it_tensor *grad;
    int producer;        /* index of the node that writes it, -1 for leaves */
    int requires_grad;
    int keep;            /* live until the end of the run */
    int consumers;       /* forward nodes that read this tensor (a view counts its own readers) */
    it_block block;
    size_t offset;       /* bytes into its block */
    int first_step, last_step; /* planner: lifetime in steps */
    int first2, last2;         /* planner: a second lifetime (recomputed inside a checkpoint), -1 if none */
    int seg, crosses;          /* planner: segment of its first writer, read outside that segment */
};

/* The CPU backend's own state (its functions are at >>cpu): the table, first, so the it_backend *
   the context hands around is this struct, and what the run in progress told the backend. */
typedef struct it__cpu_backend {
    it_backend be;
    it_context *ctx;
    it_run_mode run_mode; /* of the run in progress (begin_step) */
    int loss_grads_done;  /* the loss node's forward already wrote its input gradients */
} it__cpu_backend;
struct it_context {
    it_allocator alloc;
    it_logger logger;
    int n_threads;
    it__pool pool;
    pthread_t *threads;
    it__worker_start *starts;
    it__scratch *scratch; /* one per worker (n_threads), carved from scratch_mem */
    float *scratch_mem;
    char last_error[1024];
    it_tensor **params;
    int n_params, cap_params;
    int *param_slots; /* it_param_find's hash table: param index + 1 per slot, 0 = empty */
    int n_param_slots; /* a power of two, more than twice n_params */
    size_t param_numel;
    float *param_block, *grad_block;
    size_t grad_numel;   /* floats of the gradient block: the trainable parameters, aligned */
    int grads_laid_out;  /* gradient tensors and offsets fixed: trainability can no longer change */
    it_graph **graphs;
    int n_graphs, cap_graphs;
    struct it__owned *owned; /* models and optimizers, released by it_context_destroy */
    int n_owned, cap_owned;
    it__cpu_backend cpu;
    it_backend *backend;
};

static void *it__alloc(it_context *ctx, size_t size) { return ctx->alloc.alloc(size, ctx->alloc.user); }
static void it__free(it_context *ctx, void *p) {
    if (p) ctx->alloc.free(p, ctx->alloc.user);
}
static void *it__calloc(it_context *ctx, size_t size) {
    void *p = it__alloc(ctx, size);
    if (p) memset(p, 0, size);
    return p;
}
/* n * elem bytes (at least 1); NULL when out of memory or when the size does not fit a size_t */
static void *it__alloc_array(it_context *ctx, size_t n, size_t elem) {
    if (n == 0) n = 1;
    if (n > (size_t)-1 / elem) return NULL;
    return it__alloc(ctx, n * elem);
}
/* The allocator has no realloc hook (a hook would have to keep the 64-byte alignment), so growing
   allocates the bigger block, copies and frees the old one; arrays grow by doubling, which keeps
   the copying linear overall. NULL when out of memory, and then p is untouched (still the
   caller's). */
static void *it__realloc(it_context *ctx, void *p, size_t old_size, size_t new_size) {
    void *q = it__alloc(ctx, new_size ? new_size : 1);
    if (!q) return NULL;
    if (p && old_size) memcpy(q, p, IT__MIN(old_size, new_size));
    it__free(ctx, p);
    return q;
}
/* Grows *array (element size `elem`) to hold at least `need` items, doubling its capacity: the
   grow helper for every growing array of the library and its backends. IT_OK, or
   IT_ERR_OUT_OF_MEMORY with *array and *cap untouched. */
static it_result it__grow_array(it_context *ctx, void **array, int *cap, int need, size_t elem) {
    void *bigger;
    int new_cap;
    if (need <= *cap) return IT_OK;
    new_cap = *cap ? *cap : 16;
    while (new_cap < need) new_cap *= 2;
    bigger = it__realloc(ctx, *array, (size_t)*cap * elem, (size_t)new_cap * elem);
    if (!bigger) return IT_ERR_OUT_OF_MEMORY;
    *array = bigger;
    *cap = new_cap;
    return IT_OK;
}
IT_API void *it_context_alloc(it_context *ctx, size_t size) { return it__alloc(ctx, size); }
IT_API void it_context_free(it_context *ctx, void *p) { it__free(ctx, p); }
IT_API it_result it_context_grow(it_context *ctx, void **array, int *cap, int need, size_t elem) {
    return it__grow_array(ctx, array, cap, need, elem);
}
/* it__grow_array for graph building (programmer-sized, tiny): out of memory aborts. */
static void it__grow(it_context *ctx, void **array, int *cap, int need, size_t elem) {
    if (it__grow_array(ctx, array, cap, need, elem) != IT_OK)
        it__fail(__FILE__, __LINE__, "out of memory while building a graph");
}

/* The ownership rule: every object made through a context (models, optimizers, decoders,
   tokenizers, datasets) takes its memory from the context's allocator and is released with the
   context, so callers may destroy it early (it_*_destroy) but never have to. */
typedef struct it__owned { void *object; void (*release)(void *object); } it__owned;
/* Records object as the context's; when that runs out of memory the object is released at once
   and the error is IT_ERR_OUT_OF_MEMORY naming `what`. */
static it_result it__own(it_context *ctx, void *object, void (*release)(void *), const char *what) {
    if (it__grow_array(ctx, (void **)&ctx->owned, &ctx->cap_owned, ctx->n_owned + 1, sizeof(it__owned)) != IT_OK) {
        release(object);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    ctx->owned[ctx->n_owned].object = object;
    ctx->owned[ctx->n_owned].release = release;
    ctx->n_owned++;
    return IT_OK;
}
static void it__disown(it_context *ctx, void *object) {
    int i;
    for (i = 0; i < ctx->n_owned; i++)
        if (ctx->owned[i].object == object) {
            ctx->owned[i] = ctx->owned[--ctx->n_owned];
            return;
        }
}

/* Waits for the backend before the CPU reads shared blocks (a no-op on the CPU backend). */
static void it__sync(it_context *ctx) {
    if (ctx->backend->synchronize) ctx->backend->synchronize(ctx->backend);
}

static void it__stderr_logger(it_log_level level, const char *message, void *user) {
    static const char *names[IT_LOG_COUNT] = {"debug", "info", "warning", "error"};
    (void)user;
    fprintf(stderr, "irontensor %s: %s\n", names[level], message);
}
IT_API void it_log(it_context *ctx, it_log_level level, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    if (level < ctx->logger.min_level) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->logger.log(level, buf, ctx->logger.user);
}
IT_API it_result it_context_error(it_context *ctx, it_result r, const char *fmt, ...) {
    char message[sizeof ctx->last_error]; /* the arguments may point into last_error itself */
    va_list ap;
    IT__NOT_NULL(ctx, "it_context_error");
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(ctx->last_error, message, sizeof message);
    if (IT_LOG_ERROR >= ctx->logger.min_level) ctx->logger.log(IT_LOG_ERROR, ctx->last_error, ctx->logger.user);
    return r;
}
IT_API const char *it_context_last_error(const it_context *ctx) {
    return ctx ? ctx->last_error : "no context (it_context_create failed or was not called)";
}
IT_API int it_context_threads(const it_context *ctx) { return ctx->n_threads; }

static void it__cpu_backend_init(it__cpu_backend *cpu, it_context *ctx);

/* The workers' scratch (SGEMM packing, flash-attention tiles): one block from the context's
   allocator, IT__SCRATCH_FLOATS per worker. Pages the kernels never touch cost no memory. */
static it_result it__scratch_create(it_context *ctx) {
    size_t n = (size_t)ctx->n_threads, i;
    ctx->scratch = (it__scratch *)it__alloc(ctx, sizeof(it__scratch) * n);
    ctx->scratch_mem = (float *)it__alloc(ctx, (n * IT__SCRATCH_FLOATS + 16) * sizeof(float));
    if (!ctx->scratch || !ctx->scratch_mem) {
        it__free(ctx, ctx->scratch);
        it__free(ctx, ctx->scratch_mem);
        return IT_ERR_OUT_OF_MEMORY;
    }
    for (i = 0; i < n; i++) /* from the first 64-byte boundary; each worker's share is a multiple of 64 bytes */
        it__scratch_init(&ctx->scratch[i], (float *)(((uintptr_t)ctx->scratch_mem + 63) & ~(uintptr_t)63) +
                                               i * IT__SCRATCH_FLOATS);
    return IT_OK;
}

#define IT__MAX_THREADS 256 /* the pool's size is capped here, whatever n_threads asks */
/* Every default of it_context_desc in one place (a NULL desc is all zeros): no allocator = aligned
   malloc/free, no logger = stderr from INFO up, n_threads 0 = all cores. */
static it_context_desc it__context_desc_defaults(const it_context_desc *desc) {
    it_context_desc d;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (!d.allocator.alloc && !d.allocator.free) {
        d.allocator.alloc = it__default_alloc;
        d.allocator.free = it__default_free;
    }
    if (!d.logger.log) {
        d.logger.log = it__stderr_logger;
        if (d.logger.min_level == IT_LOG_DEBUG) d.logger.min_level = IT_LOG_INFO;
    }
    if (d.n_threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        d.n_threads = cores > 0 ? (int)IT__MIN(cores, IT__MAX_THREADS) : 1;
    }
    if (d.n_threads > IT__MAX_THREADS) d.n_threads = IT__MAX_THREADS;
    return d;
}
IT_API it_result it_context_create(const it_context_desc *desc, it_context **out_ctx) {
    it_context_desc d;
    it_allocator alloc;
    it_context *ctx;
    IT__NOT_NULL(out_ctx, "it_context_create");
    *out_ctx = NULL;
    if (desc && !desc->allocator.alloc != !desc->allocator.free) return IT_ERR_INVALID_ARGUMENT; /* both hooks or neither */
    d = it__context_desc_defaults(desc);
    alloc = d.allocator;
    ctx = (it_context *)alloc.alloc(sizeof(it_context), alloc.user);
    if (!ctx) return IT_ERR_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = alloc;
    ctx->logger = d.logger;
    ctx->n_threads = d.n_threads;
    ctx->threads = (pthread_t *)it__calloc(ctx, sizeof(pthread_t) * (size_t)ctx->n_threads);
    ctx->starts = (it__worker_start *)it__calloc(ctx, sizeof(it__worker_start) * (size_t)ctx->n_threads);
    if (!ctx->threads || !ctx->starts) {
        it__free(ctx, ctx->threads);
        it__free(ctx, ctx->starts);
        alloc.free(ctx, alloc.user);
        return IT_ERR_OUT_OF_MEMORY;
    }
    if (it__pool_start(&ctx->pool, ctx->n_threads, ctx->threads, ctx->starts) != 0) {
        it_log(ctx, IT_LOG_WARN, "could only start %d of %d threads", ctx->pool.n_threads, ctx->n_threads);
        ctx->n_threads = ctx->pool.n_threads;
    }
    if (it__scratch_create(ctx) != IT_OK) {
        it__pool_stop(&ctx->pool);
        it__free(ctx, ctx->threads);
        it__free(ctx, ctx->starts);
        alloc.free(ctx, alloc.user);
        return IT_ERR_OUT_OF_MEMORY;
    }
    it__cpu_backend_init(&ctx->cpu, ctx);
    ctx->backend = &ctx->cpu.be;
    *out_ctx = ctx;
    return IT_OK;
}

IT_API it_backend *it_context_backend(it_context *ctx) { return ctx->backend; }
IT_API void it_context_set_backend(it_context *ctx, it_backend *be) {
    if (ctx->backend != &ctx->cpu.be && ctx->backend->destroy) ctx->backend->destroy(ctx->backend);
    ctx->backend = be ? be : &ctx->cpu.be;
}

/* >>tensors ------------------------------------------------------------------------------------- */
static it_tensor *it__tensor_new(it_context *ctx, it_graph *g, it_tensor_kind kind, it_dtype dtype, int ndim,
                                 const int *dims, const char *name);
IT_API const char *it_tensor_name(const it_tensor *t) { return t->name; }
IT_API it_dtype it_tensor_dtype(const it_tensor *t) { return t->dtype; }
IT_API it_tensor_kind it_tensor_kind_of(const it_tensor *t) { return t->kind; }
IT_API int it_tensor_ndim(const it_tensor *t) { return t->ndim; }
IT_API int it_tensor_dim(const it_tensor *t, int i) {
    if (i < 0) i += t->ndim;
    return (i >= 0 && i < t->ndim) ? t->dims[i] : 1;
}
IT_API size_t it_tensor_numel(const it_tensor *t) { return t->numel; }
IT_API size_t it_tensor_nbytes(const it_tensor *t) { return t->numel * it_dtype_size(t->dtype); }
IT_API char *it_tensor_shape_string(const it_tensor *t, char *buf, size_t size) {
    size_t used = 0;
    int i;
    if (!size) return buf;
    buf[0] = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %d" : "%d", t->dims[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}
static it_tensor *it__root(it_tensor *t) {
    while (t->view_of) t = t->view_of;
    return t;
}
static unsigned char *it__block_base(it_tensor *t);
IT_API void *it_data_raw(it_tensor *t) {
    unsigned char *base;
    if (!t) return NULL;
    base = it__block_base(it__root(t));
    return base ? base + it__root(t)->offset : NULL;
}
IT_API float *it_data(it_tensor *t) { return (float *)it_data_raw(t); }
IT_API int32_t *it_data_i32(it_tensor *t) { return (int32_t *)it_data_raw(t); }
IT_API float *it_grad(it_tensor *t) { return t && t->grad ? it_data(t->grad) : NULL; }
IT_API it_tensor *it_grad_tensor(it_tensor *t) { return t ? t->grad : NULL; }
IT_API it_block it_tensor_block(const it_tensor *t, size_t *byte_offset) {
    while (t->view_of) t = t->view_of;
    if (byte_offset) *byte_offset = t->offset;
    return t->block;
}
/* prefix + name, cut to fit (names are labels for messages, never keys that must be whole) */
static void it__set_name(char *dst, const char *prefix, const char *name) {
    size_t n = 0;
    while (prefix && *prefix && n < IT_MAX_NAME - 1) dst[n++] = *prefix++;
    while (name && *name && n < IT_MAX_NAME - 1) dst[n++] = *name++;
    dst[n] = 0;
}
IT_API it_tensor *it_name(it_tensor *t, const char *name) {
    if (t && name) it__set_name(t->name, NULL, name);
    return t;
}
IT_API it_tensor *it_keep(it_tensor *t) {
    if (t) it__root(t)->keep = 1;
    return t;
}

/* >>params -------------------------------------------------------------------------------------- */
/* Parameter names in an open-addressing hash table (FNV-1a, linear probing), so a model with
   thousands of layers finds each of its parameters in constant time. */
static size_t it__name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return (size_t)(h ^ (h >> 32));
}
static void it__param_slot_put(int *slots, int n_slots, const char *name, int index) {
    size_t at = it__name_hash(name) & (size_t)(n_slots - 1);
    while (slots[at]) at = (at + 1) & (size_t)(n_slots - 1);
    slots[at] = index + 1;
}
static void it__param_index_add(it_context *ctx, int index) {
    if (2 * (ctx->n_params + 1) > ctx->n_param_slots) { /* rebuild at twice the size */
        int n = ctx->n_param_slots ? 2 * ctx->n_param_slots : 64, i;
        int *slots = (int *)it__calloc(ctx, sizeof(int) * (size_t)n);
        if (!slots) it__fail(__FILE__, __LINE__, "out of memory for the parameter table");
        for (i = 0; i < index; i++) it__param_slot_put(slots, n, ctx->params[i]->name, i);
        it__free(ctx, ctx->param_slots);
        ctx->param_slots = slots;
        ctx->n_param_slots = n;
    }
    it__param_slot_put(ctx->param_slots, ctx->n_param_slots, ctx->params[index]->name, index);
}
IT_API it_tensor *it_param(it_context *ctx, const char *name, int ndim, const int *dims) {
    it_tensor *t;
    IT__REQUIRE(!ctx->param_block, __FILE__, __LINE__,
                "parameter '%s' declared after the parameter block was allocated (declare every "
                "parameter before the first it_graph_plan / it_params_alloc)", name ? name : "");
    IT__REQUIRE(!name || !it_param_find(ctx, name), __FILE__, __LINE__, "parameter name '%s' used twice", name);
    t = it__tensor_new(ctx, NULL, IT_KIND_PARAM, IT_F32, ndim, dims, name);
    t->requires_grad = 1;
    t->block = IT_BLOCK_PARAMS;
    t->offset = ctx->param_numel * sizeof(float);
    /* every parameter starts on a 64-byte boundary: SIMD and GPU offsets stay aligned */
    ctx->param_numel += IT__ALIGN_UP(t->numel, IT__ALIGN / sizeof(float));
    it__grow(ctx, (void **)&ctx->params, &ctx->cap_params, ctx->n_params + 1, sizeof(it_tensor *));
    ctx->params[ctx->n_params++] = t;
    it__param_index_add(ctx, ctx->n_params - 1);
    return t;
}
IT_API int it_param_count(const it_context *ctx) { return ctx->n_params; }
IT_API it_tensor *it_param_at(it_context *ctx, int i) { return (i >= 0 && i < ctx->n_params) ? ctx->params[i] : NULL; }
IT_API it_tensor *it_param_find(it_context *ctx, const char *name) {
    size_t at;
    if (!ctx->n_param_slots) return NULL;
    for (at = it__name_hash(name) & (size_t)(ctx->n_param_slots - 1); ctx->param_slots[at];
         at = (at + 1) & (size_t)(ctx->n_param_slots - 1))
        if (strcmp(ctx->params[ctx->param_slots[at] - 1]->name, name) == 0) return ctx->params[ctx->param_slots[at] - 1];
    return NULL;
}
IT_API size_t it_param_numel(const it_context *ctx) { return ctx->param_numel; }
IT_API float *it_param_block(it_context *ctx) { return ctx->param_block; }
IT_API float *it_grad_block(it_context *ctx) { return ctx->grad_block; }
IT_API it_result it_params_alloc(it_context *ctx) {
    size_t bytes = IT__MAX(ctx->param_numel, 1) * sizeof(float);
    if (ctx->param_block) return IT_OK;
    ctx->param_block = (float *)ctx->backend->buffer_create(ctx->backend, bytes);
    if (!ctx->param_block)
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for parameters", bytes);
    memset(ctx->param_block, 0, bytes);
    return IT_OK;
}
IT_API it_result it_param_set_trainable(it_tensor *param, int trainable) {
    it_context *ctx;
    if (!param) return IT_ERR_INVALID_ARGUMENT;
    ctx = param->ctx;
    if (param->kind != IT_KIND_PARAM)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_param_set_trainable: '%s' is not a parameter", param->name);
    if (param->requires_grad == !!trainable) return IT_OK;
    if (ctx->grads_laid_out)
        return it_context_error(ctx, IT_ERR_STATE,
                                "it_param_set_trainable('%s'): the gradients are already laid out (set trainability before "
                                "the first it_graph_backward, it_grads_alloc or it_optimizer_create)", param->name);
    if (param->consumers > 0) /* a graph recorded which of its tensors need gradients when it was built */
        return it_context_error(ctx, IT_ERR_STATE,
                                "it_param_set_trainable('%s'): a graph already reads it (set trainability before building "
                                "graphs)", param->name);
    param->requires_grad = !!trainable;
    return IT_OK;
}
IT_API int it_param_trainable(const it_tensor *param) {
    return param && param->kind == IT_KIND_PARAM && param->requires_grad;
}
IT_API size_t it_grad_numel(const it_context *ctx) {
    size_t n = 0;
    int i;
    if (ctx->grads_laid_out) return ctx->grad_numel;
    for (i = 0; i < ctx->n_params; i++)
        if (ctx->params[i]->requires_grad) n += IT__ALIGN_UP(ctx->params[i]->numel, IT__ALIGN / sizeof(float));
    return n;
}
/* Gives every trainable parameter its gradient tensor at its offset in the gradient block (no
   memory yet: deriving a backward needs only the tensors). Fixes which parameters are trainable. */
static void it__grads_layout(it_context *ctx) {
    size_t at = 0;
    int i;
    if (ctx->grads_laid_out) return;
    for (i = 0; i < ctx->n_params; i++) {
        it_tensor *p = ctx->params[i];
        if (!p->requires_grad) continue;
        p->grad = it__tensor_new(ctx, NULL, IT_KIND_GRADIENT, IT_F32, p->ndim, p->dims, NULL);
        it__set_name(p->grad->name, "d", p->name);
        p->grad->block = IT_BLOCK_GRADS;
        p->grad->offset = at * sizeof(float);
        at += IT__ALIGN_UP(p->numel, IT__ALIGN / sizeof(float));
    }
    ctx->grad_numel = at;
    ctx->grads_laid_out = 1;
}
IT_API it_result it_grads_alloc(it_context *ctx) {
    size_t bytes;
    it_result r = it_params_alloc(ctx); /* parameters first: none may be declared once gradients exist */
    if (r != IT_OK) return r;
    it__grads_layout(ctx);
    if (ctx->grad_block) return IT_OK;
    bytes = IT__MAX(ctx->grad_numel, 1) * sizeof(float);
    ctx->grad_block = (float *)ctx->backend->buffer_create(ctx->backend, bytes);
    if (!ctx->grad_block)
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for gradients", bytes);
    memset(ctx->grad_block, 0, bytes);
    return IT_OK;
}
IT_API it_result it_param_init_normal(it_context *ctx, float std, uint64_t seed) {
    it_rng rng;
    int i;
    size_t j;
    it_result r = it_params_alloc(ctx);
    if (r != IT_OK) return r;
    it_rng_seed(&rng, seed);
    for (i = 0; i < ctx->n_params; i++) {
        float *d = it_data(ctx->params[i]);
        for (j = 0; j < ctx->params[i]->numel; j++) d[j] = std * it_rng_normal(&rng);
    }
    return IT_OK;
}
IT_API void it_param_fill(it_tensor *param, float value) {
    size_t j;
    float *d = it_data(param);
    IT__REQUIRE(d, __FILE__, __LINE__, "it_param_fill('%s') before the parameter block exists", param->name);
    for (j = 0; j < param->numel; j++) d[j] = value;
}
IT_API void it_zero_grads(it_context *ctx) {
    if (ctx->grad_block) {
        if (ctx->backend->zero_grads && ctx->backend->zero_grads(ctx->backend) == IT_OK) return;
        it__sync(ctx);
        memset(ctx->grad_block, 0, IT__MAX(ctx->grad_numel, 1) * sizeof(float));
    }
}

/* >>graph --------------------------------------------------------------------------------------- */
typedef struct it__zero_item { int step; it_tensor *t; } it__zero_item;
struct it_graph {
    it_context *ctx;
    it_node *nodes;
    int n_nodes, cap_nodes;
    it_tensor **tensors; /* every tensor this graph owns */
    int n_tensors, cap_tensors;
    it_tensor *loss;
    int *bwd_nodes; /* node indices in backward order */
    int n_bwd;
    int planned;
    unsigned char *arena, *inputs;
    it_plan_stats stats;
    it__zero_item *zero_items; /* gradient buffers cleared at the step that first writes them */
    int n_zero_items;
    int *segs;                 /* checkpoint segments: first and last node of each */
    int n_segs, cap_segs, open_seg;
    int *sched;                /* backward phase: node index, or -1 - node for a recomputed forward */
    int n_sched;
    it_backend *backend;       /* the one it was planned for: its kernels were checked, it made the arena */
};

static it_tensor *it__tensor_new(it_context *ctx, it_graph *g, it_tensor_kind kind, it_dtype dtype, int ndim,
                                 const int *dims, const char *name) {
    it_tensor *t;
    int i;
    IT__REQUIRE(ndim >= 1 && ndim <= IT_MAX_DIMS, __FILE__, __LINE__, "tensor '%s': %d dims (1..%d allowed)",
                name ? name : "", ndim, IT_MAX_DIMS);
    t = (it_tensor *)it__calloc(ctx, sizeof(it_tensor));
    if (!t) it__fail(__FILE__, __LINE__, "out of memory while building a graph");
    it__set_name(t->name, NULL, name);
    t->ctx = ctx;
    t->graph = g;
    t->kind = kind;
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (i = 0; i < ndim; i++) {
        IT__REQUIRE(dims[i] > 0, __FILE__, __LINE__, "tensor '%s': dim %d is %d (must be > 0)", t->name, i, dims[i]);
        t->dims[i] = dims[i];
        t->numel *= (size_t)dims[i];
    }
    t->producer = -1;
    if (g) {
        it__grow(ctx, (void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof(it_tensor *));
        g->tensors[g->n_tensors++] = t;
        t->block = (kind == IT_KIND_INPUT) ? IT_BLOCK_INPUTS : IT_BLOCK_ARENA;
    }
    return t;
}

static unsigned char *it__block_base(it_tensor *t) {
    switch (t->block) {
    case IT_BLOCK_PARAMS: return (unsigned char *)t->ctx->param_block;
    case IT_BLOCK_GRADS: return (unsigned char *)t->ctx->grad_block;
    case IT_BLOCK_INPUTS: return t->graph && t->graph->planned ? t->graph->inputs : NULL;
    case IT_BLOCK_ARENA: return t->graph && t->graph->planned ? t->graph->arena : NULL;
    default: return NULL;
    }
}

IT_API it_graph *it_graph_create(it_context *ctx) {
    it_graph *g;
    IT__NOT_NULL(ctx, "it_graph_create");
    g = (it_graph *)it__calloc(ctx, sizeof(it_graph));
    if (!g) it__fail(__FILE__, __LINE__, "out of memory creating a graph");
    g->ctx = ctx;
    it__grow(ctx, (void **)&ctx->graphs, &ctx->cap_graphs, ctx->n_graphs + 1, sizeof(it_graph *));
    ctx->graphs[ctx->n_graphs++] = g;
    return g;
}
static void it__graph_free(it_graph *g) {
    it_context *ctx = g->ctx;
    int i;
    for (i = 0; i < g->n_tensors; i++) it__free(ctx, g->tensors[i]);
    if (g->arena) ctx->backend->buffer_free(ctx->backend, g->arena);
    if (g->inputs) ctx->backend->buffer_free(ctx->backend, g->inputs);
    it__free(ctx, g->tensors);
    it__free(ctx, g->nodes);
    it__free(ctx, g->bwd_nodes);
    it__free(ctx, g->zero_items);
    it__free(ctx, g->segs);
    it__free(ctx, g->sched);
    it__free(ctx, g);
}
IT_API void it_graph_checkpoint_begin(it_graph *g) {
    IT__REQUIRE(!g->open_seg && !g->planned, __FILE__, __LINE__,
                "it_graph_checkpoint_begin: a segment is already open, or the graph is planned");
    it__grow(g->ctx, (void **)&g->segs, &g->cap_segs, g->n_segs + 1, 2 * sizeof(int));
    g->segs[2 * g->n_segs] = g->n_nodes;
    g->open_seg = 1;
}
IT_API void it_graph_checkpoint_end(it_graph *g) {
    IT__REQUIRE(g->open_seg, __FILE__, __LINE__, "it_graph_checkpoint_end: no open segment");
    g->segs[2 * g->n_segs + 1] = g->n_nodes - 1;
    g->open_seg = 0;
    if (g->segs[2 * g->n_segs + 1] >= g->segs[2 * g->n_segs]) g->n_segs++; /* an empty segment is dropped */
}
IT_API void it_graph_destroy(it_graph *g) {
    it_context *ctx;
    int i;
    if (!g) return;
    ctx = g->ctx;
    for (i = 0; i < ctx->n_graphs; i++)
        if (ctx->graphs[i] == g) {
            ctx->graphs[i] = ctx->graphs[--ctx->n_graphs];
            break;
        }
    it__graph_free(g);
}
IT_API void it_context_destroy(it_context *ctx) {
    it_allocator alloc;
    int i;
    if (!ctx) return;
    it__sync(ctx);
    while (ctx->n_owned) ctx->owned[ctx->n_owned - 1].release(ctx->owned[ctx->n_owned - 1].object);
    while (ctx->n_graphs) it_graph_destroy(ctx->graphs[ctx->n_graphs - 1]);
    for (i = 0; i < ctx->n_params; i++) {
        it__free(ctx, ctx->params[i]->grad);
        it__free(ctx, ctx->params[i]);
    }
    if (ctx->param_block) ctx->backend->buffer_free(ctx->backend, ctx->param_block);
    if (ctx->grad_block) ctx->backend->buffer_free(ctx->backend, ctx->grad_block);
    if (ctx->backend != &ctx->cpu.be && ctx->backend->destroy) ctx->backend->destroy(ctx->backend);
    it__pool_stop(&ctx->pool);
    it__free(ctx, ctx->scratch);
    it__free(ctx, ctx->scratch_mem);
    it__free(ctx, ctx->params);
    it__free(ctx, ctx->param_slots);
    it__free(ctx, ctx->graphs);
    it__free(ctx, ctx->owned);
    it__free(ctx, ctx->threads);
    it__free(ctx, ctx->starts);
    alloc = ctx->alloc;
    alloc.free(ctx, alloc.user);
}
IT_API int it_graph_node_count(const it_graph *g) { return g->n_nodes; }

/* Call-site aware checks for graph building: every message names the op, the caller's line and
   the shapes involved. */
#define IT__SHAPE(t, buf) it_tensor_shape_string((t), (buf), sizeof(buf))
static void it__check_graph_tensor(const char *file, int line, const char *op, it_graph *g, it_tensor *t,
                                   const char *role) {
    IT__REQUIRE(t, file, line, "%s: %s is NULL", op, role);
    IT__REQUIRE(!t->graph || t->graph == g, file, line, "%s: %s '%s' belongs to another graph", op, role, t->name);
    IT__REQUIRE(!g->planned, file, line, "%s: the graph is already planned; build every node before it_graph_plan", op);
    IT__REQUIRE(!g->loss, file, line, "%s: nodes added after it_graph_backward", op);
}
static void it__check_dtype(const char *file, int line, const char *op, it_tensor *t, it_dtype want,
                            const char *role) {
    IT__REQUIRE(t->dtype == want, file, line, "%s: %s '%s' is %s, expected %s", op, role, t->name,
                it_dtype_name(t->dtype), it_dtype_name(want));
}

static it_node *it__node_add(it_graph *g, it_op op, it_tensor *out, int n_in, it_tensor *a, it_tensor *b,
                             it_tensor *c) {
    it_node *n;
    int i;
    it__grow(g->ctx, (void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(it_node));
    n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    n->n_in = n_in;
    n->in[0] = a;
    n->in[1] = b;
    n->in[2] = c;
    out->producer = g->n_nodes;
    for (i = 0; i < n_in; i++) {
        n->in[i]->consumers++; /* per tensor, views included: an unread view is an output */
        if (n->in[i]->requires_grad) out->requires_grad = 1;
    }
    if (!out->name[0]) snprintf(out->name, sizeof out->name, "%s_%d", it_op_name(op), g->n_nodes);
    g->n_nodes++;
    return n;
}
static it_tensor *it__act(it_graph *g, it_tensor_kind kind, int ndim, const int *dims) {
    return it__tensor_new(g->ctx, g, kind, IT_F32, ndim, dims, NULL);
}
static it_tensor *it__act_like(it_graph *g, it_tensor *t) { return it__act(g, IT_KIND_ACTIVATION, t->ndim, t->dims); }
static size_t it__rows(it_tensor *t) { return t->numel / (size_t)t->dims[t->ndim - 1]; }

IT_API it_tensor *it_input_at(const char *file, int line, it_graph *g, const char *name, it_dtype dtype, int ndim,
                              const int *dims) {
    it_tensor *t;
    IT__REQUIRE(g && !g->planned, file, line, "it_input('%s'): graph missing or already planned", name ? name : "");
    IT__REQUIRE(dtype == IT_F32 || dtype == IT_I32, file, line, "it_input('%s'): dtype %s (f32 or i32 allowed)",
                name ? name : "", it_dtype_name(dtype));
    t = it__tensor_new(g->ctx, g, IT_KIND_INPUT, dtype, ndim, dims, name);
    t->requires_grad = (dtype == IT_F32); /* gradients flow to float inputs, never to ids */
    return t;
}

IT_API it_tensor *it_matmul_at(const char *file, int line, it_graph *g, it_tensor *a, it_tensor *b, int trans_a,
                               int trans_b) {
    char sa[64], sb[64];
    int dims[IT_MAX_DIMS], i, M, Ka, Kb, N;
    it_tensor *out;
    it_node *n;
    it__check_graph_tensor(file, line, "matmul", g, a, "a");
    it__check_graph_tensor(file, line, "matmul", g, b, "b");
    it__check_dtype(file, line, "matmul", a, IT_F32, "a");
    it__check_dtype(file, line, "matmul", b, IT_F32, "b");
    IT__REQUIRE(a->ndim >= 2 && b->ndim >= 2, file, line, "matmul: a %s and b %s need at least 2 dims",
                IT__SHAPE(a, sa), IT__SHAPE(b, sb));
    M = trans_a ? a->dims[a->ndim - 1] : a->dims[a->ndim - 2];
    Ka = trans_a ? a->dims[a->ndim - 2] : a->dims[a->ndim - 1];
    Kb = trans_b ? b->dims[b->ndim - 1] : b->dims[b->ndim - 2];
    N = trans_b ? b->dims[b->ndim - 2] : b->dims[b->ndim - 1];
    IT__REQUIRE(Ka == Kb, file, line, "matmul: inner dims differ: a %s%s has K=%d, b %s%s has K=%d", IT__SHAPE(a, sa),
                trans_a ? "^T" : "", Ka, IT__SHAPE(b, sb), trans_b ? "^T" : "", Kb);
    IT__REQUIRE(b->ndim == 2 || b->ndim == a->ndim, file, line,
                "matmul: b %s must be 2-D (shared) or have a's rank (batched); a is %s", IT__SHAPE(b, sb),
                IT__SHAPE(a, sa));
    for (i = 0; b->ndim > 2 && i < a->ndim - 2; i++)
        IT__REQUIRE(a->dims[i] == b->dims[i], file, line, "matmul: batch dims differ: a %s, b %s", IT__SHAPE(a, sa),
                    IT__SHAPE(b, sb));
    for (i = 0; i < a->ndim - 2; i++) dims[i] = a->dims[i];
    dims[a->ndim - 2] = M;
    dims[a->ndim - 1] = N;
    out = it__act(g, IT_KIND_ACTIVATION, a->ndim, dims);
    n = it__node_add(g, IT_OP_MATMUL, out, 2, a, b, NULL);
    n->iparam[0] = trans_a;
    n->iparam[1] = trans_b;
    return out;
}

/* b matches a's shape or a suffix of it. */
static void it__check_broadcast(const char *file, int line, const char *op, it_tensor *a, it_tensor *b) {
    char sa[64], sb[64];
    int i, ok = b->ndim <= a->ndim;
    for (i = 0; ok && i < b->ndim; i++) ok = b->dims[b->ndim - 1 - i] == a->dims[a->ndim - 1 - i];
    IT__REQUIRE(ok, file, line, "%s: shapes do not match: a %s, b %s (b must equal a or a suffix of a)", op,
                IT__SHAPE(a, sa), IT__SHAPE(b, sb));
}
static it_tensor *it__binary(const char *file, int line, it_graph *g, it_op op, it_tensor *a, it_tensor *b) {
    it__check_graph_tensor(file, line, it_op_name(op), g, a, "a");
    it__check_graph_tensor(file, line, it_op_name(op), g, b, "b");
    it__check_dtype(file, line, it_op_name(op), a, IT_F32, "a");
    it__check_dtype(file, line, it_op_name(op), b, IT_F32, "b");
    it__check_broadcast(file, line, it_op_name(op), a, b);
    return it__node_add(g, op, it__act_like(g, a), 2, a, b, NULL)->out;
}
IT_API it_tensor *it_add_at(const char *file, int line, it_graph *g, it_tensor *a, it_tensor *b) {
    return it__binary(file, line, g, IT_OP_ADD, a, b);
}
IT_API it_tensor *it_mul_at(const char *file, int line, it_graph *g, it_tensor *a, it_tensor *b) {
    return it__binary(file, line, g, IT_OP_MUL, a, b);
}
static it_tensor *it__unary(const char *file, int line, it_graph *g, it_op op, it_tensor *x) {
    it__check_graph_tensor(file, line, it_op_name(op), g, x, "x");
    it__check_dtype(file, line, it_op_name(op), x, IT_F32, "x");
    return it__node_add(g, op, it__act_like(g, x), 1, x, NULL, NULL)->out;
}
IT_API it_tensor *it_scale_at(const char *file, int line, it_graph *g, it_tensor *a, float s) {
    it_tensor *out = it__unary(file, line, g, IT_OP_SCALE, a);
    g->nodes[out->producer].fparam[0] = s;
    return out;
}
IT_API it_tensor *it_silu_at(const char *file, int line, it_graph *g, it_tensor *x) {
    return it__unary(file, line, g, IT_OP_SILU, x);
}
IT_API it_tensor *it_gelu_at(const char *file, int line, it_graph *g, it_tensor *x) {
    return it__unary(file, line, g, IT_OP_GELU, x);
}
IT_API it_tensor *it_softmax_at(const char *file, int line, it_graph *g, it_tensor *x) {
    return it__unary(file, line, g, IT_OP_SOFTMAX, x);
}
IT_API it_tensor *it_swiglu_at(const char *file, int line, it_graph *g, it_tensor *gate, it_tensor *up) {
    char sa[64], sb[64];
    int i, same;
    it__check_graph_tensor(file, line, "swiglu", g, gate, "gate");
    it__check_graph_tensor(file, line, "swiglu", g, up, "up");
    same = gate->ndim == up->ndim;
    for (i = 0; same && i < gate->ndim; i++) same = gate->dims[i] == up->dims[i];
    IT__REQUIRE(same, file, line, "swiglu: gate %s and up %s must have the same shape", IT__SHAPE(gate, sa),
                IT__SHAPE(up, sb));
    return it__node_add(g, IT_OP_SWIGLU, it__act_like(g, gate), 2, gate, up, NULL)->out;
}

IT_API it_tensor *it_embedding_at(const char *file, int line, it_graph *g, it_tensor *table, it_tensor *ids) {
    char st[64];
    int dims[IT_MAX_DIMS], i;
    it__check_graph_tensor(file, line, "embedding", g, table, "table");
    it__check_graph_tensor(file, line, "embedding", g, ids, "ids");
    it__check_dtype(file, line, "embedding", table, IT_F32, "table");
    it__check_dtype(file, line, "embedding", ids, IT_I32, "ids");
    IT__REQUIRE(table->ndim == 2, file, line, "embedding: table %s must be [vocab, dim]", IT__SHAPE(table, st));
    IT__REQUIRE(ids->ndim < IT_MAX_DIMS, file, line, "embedding: ids have %d dims (at most %d)", ids->ndim,
                IT_MAX_DIMS - 1);
    for (i = 0; i < ids->ndim; i++) dims[i] = ids->dims[i];
    dims[ids->ndim] = table->dims[1];
    return it__node_add(g, IT_OP_EMBEDDING, it__act(g, IT_KIND_ACTIVATION, ids->ndim + 1, dims), 2, table, ids, NULL)
        ->out;
}

static void it__check_vector(const char *file, int line, const char *op, it_tensor *x, it_tensor *w,
                             const char *role) {
    char sx[64], sw[64];
    IT__REQUIRE(w->ndim == 1 && w->dims[0] == x->dims[x->ndim - 1], file, line,
                "%s: %s %s must be [%d] to match x %s", op, role, IT__SHAPE(w, sw), x->dims[x->ndim - 1],
                IT__SHAPE(x, sx));
}
IT_API it_tensor *it_rmsnorm_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, float eps) {
    it_node *n;
    int rows;
    it__check_graph_tensor(file, line, "rmsnorm", g, x, "x");
    it__check_graph_tensor(file, line, "rmsnorm", g, w, "w");
    it__check_vector(file, line, "rmsnorm", x, w, "weight");
    n = it__node_add(g, IT_OP_RMSNORM, it__act_like(g, x), 2, x, w, NULL);
    rows = (int)it__rows(x);
    n->saved[0] = it__act(g, IT_KIND_SAVED, 1, &rows); /* rstd */
    n->fparam[0] = eps;
    return n->out;
}
IT_API it_tensor *it_layernorm_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, it_tensor *b,
                                  float eps) {
    it_node *n;
    int rows;
    it__check_graph_tensor(file, line, "layernorm", g, x, "x");
    it__check_graph_tensor(file, line, "layernorm", g, w, "w");
    it__check_vector(file, line, "layernorm", x, w, "weight");
    if (b) {
        it__check_graph_tensor(file, line, "layernorm", g, b, "b");
        it__check_vector(file, line, "layernorm", x, b, "bias");
    }
    n = it__node_add(g, IT_OP_LAYERNORM, it__act_like(g, x), b ? 3 : 2, x, w, b);
    rows = (int)it__rows(x);
    n->saved[0] = it__act(g, IT_KIND_SAVED, 1, &rows); /* mean */
    n->saved[1] = it__act(g, IT_KIND_SAVED, 1, &rows); /* rstd */
    n->fparam[0] = eps;
    return n->out;
}
IT_API it_tensor *it_rope_scaled_at(const char *file, int line, it_graph *g, it_tensor *x, float theta,
                                    const it_rope_scaling *scaling, int pos_offset) {
    static const it_rope_scaling none = {IT_ROPE_DEFAULT, 0.0f, 0.0f, 0.0f, 0};
    char sx[64];
    it_node *n;
    if (!scaling) scaling = &none;
    it__check_graph_tensor(file, line, "rope", g, x, "x");
    IT__REQUIRE(x->ndim == 4 && x->dims[3] % 2 == 0, file, line, "rope: x %s must be [B, T, H, D] with D even",
                IT__SHAPE(x, sx));
    IT__REQUIRE(theta > 0.0f && pos_offset >= 0, file, line, "rope: theta %g must be > 0 and pos_offset %d >= 0",
                (double)theta, pos_offset);
    IT__REQUIRE(!it__rope_scaling_problem(scaling), file, line, "rope: %s", it__rope_scaling_problem(scaling));
    n = it__node_add(g, IT_OP_ROPE, it__act_like(g, x), 1, x, NULL, NULL);
    n->fparam[0] = theta;
    n->fparam[1] = scaling->factor;
    n->fparam[2] = scaling->low_freq_factor;
    n->fparam[3] = scaling->high_freq_factor;
    n->iparam[0] = pos_offset;
    n->iparam[1] = (int)scaling->kind;
    n->iparam[2] = scaling->original_max_positions;
    return n->out;
}
IT_API it_tensor *it_rope_at(const char *file, int line, it_graph *g, it_tensor *x, float theta, int pos_offset) {
    return it_rope_scaled_at(file, line, g, x, theta, NULL, pos_offset);
}
/* A rope node's scaling, as it_rope_scaled_at stored it (backends read it from here). */
IT_API it_rope_scaling it_node_rope_scaling(const it_node *n) {
    it_rope_scaling s;
    s.kind = (it_rope_kind)n->iparam[1];
    s.factor = n->fparam[1];
    s.low_freq_factor = n->fparam[2];
    s.high_freq_factor = n->fparam[3];
    s.original_max_positions = n->iparam[2];
    return s;
}
IT_API it_tensor *it_attention_at(const char *file, int line, it_graph *g, it_tensor *q, it_tensor *k,
                                  it_tensor *v) {
    return it_attention_window_at(file, line, g, q, k, v, 0);
}
IT_API it_tensor *it_attention_window_at(const char *file, int line, it_graph *g, it_tensor *q, it_tensor *k,
                                         it_tensor *v, int window) {
    char sq[64], sk[64], sv[64];
    int lse_dims[3];
    it_node *n;
    it__check_graph_tensor(file, line, "attention", g, q, "q");
    it__check_graph_tensor(file, line, "attention", g, k, "k");
    it__check_graph_tensor(file, line, "attention", g, v, "v");
    IT__REQUIRE(q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && q->dims[0] == k->dims[0] &&
                    q->dims[1] == k->dims[1] && q->dims[3] == k->dims[3] && k->dims[0] == v->dims[0] &&
                    k->dims[1] == v->dims[1] && k->dims[2] == v->dims[2] && k->dims[3] == v->dims[3] &&
                    q->dims[2] % k->dims[2] == 0,
                file, line,
                "attention: q %s, k %s, v %s must be [B, T, Hq, D], [B, T, Hkv, D], [B, T, Hkv, D] with Hkv "
                "dividing Hq",
                IT__SHAPE(q, sq), IT__SHAPE(k, sk), IT__SHAPE(v, sv));
    IT__REQUIRE(window >= 0, file, line, "attention: window %d must be >= 0 (0 = no window)", window);
    n = it__node_add(g, IT_OP_ATTENTION, it__act_like(g, q), 3, q, k, v);
    n->iparam[0] = window;
    lse_dims[0] = q->dims[0];
    lse_dims[1] = q->dims[2];
    lse_dims[2] = q->dims[1];
    n->saved[0] = it__act(g, IT_KIND_SAVED, 3, lse_dims);
    return n->out;
}
static int it__scalar_dims[1] = {1};
IT_API it_tensor *it_cross_entropy_at(const char *file, int line, it_graph *g, it_tensor *logits, it_tensor *targets,
                                      int ignore_index) {
    char sl[64], st[64];
    it_node *n;
    int rows;
    it__check_graph_tensor(file, line, "cross_entropy", g, logits, "logits");
    it__check_graph_tensor(file, line, "cross_entropy", g, targets, "targets");
    it__check_dtype(file, line, "cross_entropy", targets, IT_I32, "targets");
    rows = (int)it__rows(logits);
    IT__REQUIRE((int)targets->numel == rows, file, line,
                "cross_entropy: logits %s have %d rows but targets %s have %zu entries", IT__SHAPE(logits, sl), rows,
                IT__SHAPE(targets, st), targets->numel);
    n = it__node_add(g, IT_OP_CROSS_ENTROPY, it__act(g, IT_KIND_ACTIVATION, 1, it__scalar_dims), 2, logits, targets,
                     NULL);
    n->saved[0] = it__act(g, IT_KIND_SAVED, 1, &rows); /* per-row losses */
    n->saved[1] = it__act(g, IT_KIND_SAVED, 1, &rows); /* log-sum-exp */
    n->iparam[0] = ignore_index;
    return n->out;
}
IT_API it_tensor *it_linear_cross_entropy_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w,
                                             it_tensor *targets, int ignore_index, int chunk) {
    char sx[64], sw[64], st[64];
    it_node *n;
    int rows, scratch_dims[2];
    it__check_graph_tensor(file, line, "linear_cross_entropy", g, x, "x");
    it__check_graph_tensor(file, line, "linear_cross_entropy", g, w, "w");
    it__check_graph_tensor(file, line, "linear_cross_entropy", g, targets, "targets");
    it__check_dtype(file, line, "linear_cross_entropy", targets, IT_I32, "targets");
    IT__REQUIRE(w->ndim == 2 && w->dims[1] == x->dims[x->ndim - 1], file, line,
                "linear_cross_entropy: w %s must be [vocab, %d] to match x %s", IT__SHAPE(w, sw),
                x->dims[x->ndim - 1], IT__SHAPE(x, sx));
    rows = (int)it__rows(x);
    IT__REQUIRE((int)targets->numel == rows, file, line,
                "linear_cross_entropy: x %s has %d rows but targets %s have %zu entries", IT__SHAPE(x, sx), rows,
                IT__SHAPE(targets, st), targets->numel);
    IT__REQUIRE(chunk >= 0, file, line, "linear_cross_entropy: chunk %d must be >= 0", chunk);
    if (chunk == 0) chunk = IT_LINEAR_CROSS_ENTROPY_CHUNK;
    if (chunk > w->dims[0]) chunk = w->dims[0];
    n = it__node_add(g, IT_OP_LINEAR_CROSS_ENTROPY, it__act(g, IT_KIND_ACTIVATION, 1, it__scalar_dims), 3, x, w,
                     targets);
    n->saved[0] = it__act(g, IT_KIND_SAVED, 1, &rows);
    n->saved[1] = it__act(g, IT_KIND_SAVED, 1, &rows);
    scratch_dims[0] = rows;
    scratch_dims[1] = chunk;
    n->scratch = it__act(g, IT_KIND_SCRATCH, 2, scratch_dims);
    n->bwd_scratch = it__act(g, IT_KIND_SCRATCH, 2, scratch_dims);
    n->iparam[0] = ignore_index;
    n->iparam[1] = chunk;
    return n->out;
}
IT_API it_tensor *it_sum_at(const char *file, int line, it_graph *g, it_tensor *x) {
    it__check_graph_tensor(file, line, "sum", g, x, "x");
    return it__node_add(g, IT_OP_SUM, it__act(g, IT_KIND_ACTIVATION, 1, it__scalar_dims), 1, x, NULL, NULL)->out;
}
IT_API it_tensor *it_mean_at(const char *file, int line, it_graph *g, it_tensor *x) {
    it__check_graph_tensor(file, line, "mean", g, x, "x");
    return it__node_add(g, IT_OP_MEAN, it__act(g, IT_KIND_ACTIVATION, 1, it__scalar_dims), 1, x, NULL, NULL)->out;
}
IT_API it_tensor *it_reshape_at(const char *file, int line, it_graph *g, it_tensor *x, int ndim, const int *dims) {
    char sx[64];
    int d[IT_MAX_DIMS], i, infer = -1;
    size_t known = 1;
    it_tensor *out;
    it__check_graph_tensor(file, line, "reshape", g, x, "x");
    IT__REQUIRE(ndim >= 1 && ndim <= IT_MAX_DIMS, file, line, "reshape: %d dims", ndim);
    for (i = 0; i < ndim; i++) {
        d[i] = dims[i];
        if (dims[i] == -1) {
            IT__REQUIRE(infer < 0, file, line, "reshape: more than one -1 dim");
            infer = i;
        } else {
            IT__REQUIRE(dims[i] > 0, file, line, "reshape: dim %d is %d", i, dims[i]);
            known *= (size_t)dims[i];
        }
    }
    if (infer >= 0) {
        IT__REQUIRE(x->numel % known == 0, file, line, "reshape: %s cannot be split by %zu", IT__SHAPE(x, sx), known);
        d[infer] = (int)(x->numel / known);
        known *= (size_t)d[infer];
    }
    IT__REQUIRE(known == x->numel, file, line, "reshape: %s has %zu elements, the new shape %zu", IT__SHAPE(x, sx),
                x->numel, known);
    out = it__tensor_new(g->ctx, g, x->kind == IT_KIND_INPUT ? IT_KIND_INPUT : IT_KIND_ACTIVATION, x->dtype, ndim, d,
                         NULL);
    out->view_of = x;
    out->block = x->block;
    it__node_add(g, IT_OP_RESHAPE, out, 1, x, NULL, NULL);
    return out;
}

/* >>autograd ------------------------------------------------------------------------------------
   Backward is derived once: walk the nodes from the loss back, mark the ones the loss depends on,
   and give every tensor that needs one a gradient tensor. A reshape's gradient is a view of its
   source's gradient, so gradients flowing through views land in one buffer. */

static it_tensor *it__ensure_grad(it_graph *g, it_tensor *t) {
    if (t->grad) return t->grad;
    if (t->view_of) { /* the gradient of a view is the same view of the source's gradient */
        it_tensor *base_grad = it__ensure_grad(g, t->view_of);
        t->grad = it__tensor_new(g->ctx, g, IT_KIND_GRADIENT, IT_F32, t->ndim, t->dims, NULL);
        t->grad->view_of = base_grad;
        t->grad->block = base_grad->block;
    } else {
        IT__REQUIRE(t->kind != IT_KIND_PARAM, __FILE__, __LINE__, "parameter '%s' has no gradient tensor", t->name);
        t->grad = it__tensor_new(g->ctx, g, IT_KIND_GRADIENT, IT_F32, t->ndim, t->dims, NULL);
    }
    it__set_name(t->grad->name, "d", t->name);
    return t->grad;
}

IT_API void it_graph_backward(it_graph *g, it_tensor *loss) {
    unsigned char *flows;
    int i, j;
    it_result r;
    IT__REQUIRE(loss && loss->graph == g && loss->numel == 1 && loss->dtype == IT_F32, __FILE__, __LINE__,
                "it_graph_backward: the loss must be a scalar f32 tensor of this graph");
    IT__REQUIRE(!g->loss && !g->planned, __FILE__, __LINE__, "it_graph_backward: called twice or after planning");
    IT__REQUIRE(loss->requires_grad, __FILE__, __LINE__,
                "it_graph_backward: '%s' does not depend on any parameter or float input", loss->name);
    r = it_params_alloc(g->ctx);
    IT__REQUIRE(r == IT_OK, __FILE__, __LINE__, "it_graph_backward: %s", it_context_last_error(g->ctx));
    it__grads_layout(g->ctx); /* trainable parameters' gradient tensors; their memory comes with the plan */
    g->loss = loss;
    it_keep(loss);
    flows = (unsigned char *)it__calloc(g->ctx, (size_t)g->n_nodes + 1);
    g->bwd_nodes = (int *)it__alloc(g->ctx, sizeof(int) * ((size_t)g->n_nodes + 1));
    if (!flows || !g->bwd_nodes) it__fail(__FILE__, __LINE__, "out of memory deriving the backward graph");
    flows[loss->producer] = 1;
    g->n_bwd = 0;
    it__ensure_grad(g, loss);
    for (i = g->n_nodes - 1; i >= 0; i--) {
        it_node *n = &g->nodes[i];
        if (!flows[i]) continue;
        g->bwd_nodes[g->n_bwd++] = i;
        for (j = 0; j < n->n_in; j++) {
            it_tensor *in = n->in[j];
            if (!in->requires_grad) continue;
            it__ensure_grad(g, in);
            if (in->producer >= 0) flows[in->producer] = 1;
        }
    }
    it__free(g->ctx, flows);
}

/* >>planner -------------------------------------------------------------------------------------
   Steps: forward node i is step i, the p-th backward node is step n_nodes + p. Each arena buffer
   (a root tensor: not a view, not an input or parameter) lives from its first to its last step.
   Buffers are placed largest first at the lowest offset that overlaps no placed buffer whose
   lifetime intersects (the greedy-by-size strategy of TFLite's and ggml's allocators). */
static void it__touch(it_tensor *t, int step) { /* backward phase */
    if (!t) return;
    t = it__root(t);
    if (t->block != IT_BLOCK_ARENA) return;
    if (t->first2 < 0 || step < t->first2) t->first2 = step;
    if (step > t->last2) t->last2 = step;
}
static void it__touch_fwd(it_tensor *t, int step, int seg) { /* forward phase, node in segment seg */
    if (!t) return;
    t = it__root(t);
    if (t->block != IT_BLOCK_ARENA) return;
    if (t->first_step < 0) {
        t->first_step = step;
        t->seg = seg;
    } else if (t->seg != seg) {
        t->crosses = 1;
    }
    if (step > t->last_step) t->last_step = step;
}
static void it__touch_node_fwd(const it_node *n, int step, int seg, int recompute) {
    int j;
    if (recompute) {
        it__touch(n->out, step);
        for (j = 0; j < n->n_in; j++) it__touch(n->in[j], step);
        it__touch(n->saved[0], step);
        it__touch(n->saved[1], step);
        it__touch(n->scratch, step);
    } else {
        it__touch_fwd(n->out, step, seg);
        for (j = 0; j < n->n_in; j++) it__touch_fwd(n->in[j], step, seg);
        it__touch_fwd(n->saved[0], step, seg);
        it__touch_fwd(n->saved[1], step, seg);
        it__touch_fwd(n->scratch, step, seg);
    }
}
/* The backward phase's schedule: each backward node, preceded (for the first node of a checkpoint
   segment met on the way back) by the segment's forward nodes, encoded -1 - node. */
static int it__build_schedule(it_graph *g, int *seg_of) {
    unsigned char *done;
    int i, p, s, n = 0;
    for (i = 0; i < g->n_nodes; i++) seg_of[i] = -1;
    for (s = 0; s < g->n_segs; s++)
        for (i = g->segs[2 * s]; i <= g->segs[2 * s + 1]; i++) seg_of[i] = s;
    g->sched = (int *)it__alloc(g->ctx, sizeof(int) * ((size_t)g->n_bwd + g->n_nodes + 1));
    done = (unsigned char *)it__calloc(g->ctx, (size_t)g->n_segs + 1);
    if (!g->sched || !done) {
        it__free(g->ctx, done);
        return -1;
    }
    for (p = 0; p < g->n_bwd; p++) {
        int node = g->bwd_nodes[p];
        s = seg_of[node];
        if (s >= 0 && !done[s]) {
            done[s] = 1;
            for (i = g->segs[2 * s]; i <= g->segs[2 * s + 1]; i++) g->sched[n++] = -1 - i;
        }
        g->sched[n++] = node;
    }
    g->n_sched = n;
    it__free(g->ctx, done);
    return 0;
}
static void it__compute_lifetimes(it_graph *g, int last_step, const int *seg_of) {
    int i, j, q;
    for (i = 0; i < g->n_tensors; i++) {
        it_tensor *t = g->tensors[i];
        t->first_step = t->last_step = t->first2 = t->last2 = t->seg = -1;
        t->crosses = 0;
    }
    for (i = 0; i < g->n_nodes; i++) {
        it_node *n = &g->nodes[i];
        it__touch_node_fwd(n, i, seg_of[i], 0);
        if ((it_op_flags(n->op) & IT_OP_LOSS_GRADS_IN_FORWARD) && g->loss && n->out == g->loss)
            for (j = 0; j < n->n_in; j++) it__touch_fwd(n->in[j]->grad, i, -1); /* may be written here */
    }
    for (q = 0; q < g->n_sched; q++) {
        int step = g->n_nodes + q;
        it_node *n;
        unsigned reads;
        if (g->sched[q] < 0) {
            it__touch_node_fwd(&g->nodes[-1 - g->sched[q]], step, -1, 1);
            continue;
        }
        n = &g->nodes[g->sched[q]];
        reads = it_op_flags(n->op); /* IT_OP_BACKWARD_READS_IN0 << j is input j */
        for (j = 0; j < n->n_in; j++) {
            if (reads & ((unsigned)IT_OP_BACKWARD_READS_IN0 << j)) it__touch(n->in[j], step);
            it__touch(n->in[j]->grad, step);
        }
        if (reads & IT_OP_BACKWARD_READS_OUT) it__touch(n->out, step);
        it__touch(n->out->grad, step);
        it__touch(n->saved[0], step);
        it__touch(n->saved[1], step);
        it__touch(n->bwd_scratch, step);
    }
    /* What the caller reads after the run stays to the end: kept tensors, outputs nobody consumes,
       and the gradients of inputs. */
    for (i = 0; i < g->n_tensors; i++) {
        it_tensor *t = g->tensors[i], *r = it__root(t);
        if (t->keep || r->keep || (t->kind == IT_KIND_ACTIVATION && t->consumers == 0)) r->crosses = 1;
    }
    /* One lifetime, except for a buffer written inside a checkpoint segment and read only there:
       its forward value dies with the segment and the recomputation makes it again. */
    for (i = 0; i < g->n_tensors; i++) {
        it_tensor *t = g->tensors[i];
        int split = t->seg >= 0 && !t->crosses && t->first_step >= 0 && t->first2 >= 0;
        if (t->view_of || split) continue;
        if (t->first2 >= 0) {
            if (t->first_step < 0) t->first_step = t->first2;
            if (t->last2 > t->last_step) t->last_step = t->last2;
        }
        t->first2 = t->last2 = -1;
    }
    for (i = 0; i < g->n_tensors; i++) {
        it_tensor *t = g->tensors[i], *r = it__root(t);
        if (t->kind == IT_KIND_INPUT && t->grad && it__root(t->grad)->first_step >= 0)
            it__root(t->grad)->last_step = last_step;
        if (r->block != IT_BLOCK_ARENA || r->first_step < 0) continue;
        if (t->keep || r->keep || (t->kind == IT_KIND_ACTIVATION && t->consumers == 0)) r->last_step = last_step;
    }
}
typedef struct it__placed { size_t offset, size; int first, last, first2, last2; } it__placed;
static int it__overlaps(int a0, int a1, int b0, int b1) { return a0 <= b1 && b0 <= a1; }
/* lifetimes of up to two intervals each (the second is -1 when absent) */
static int it__lives_overlap(const it__placed *a, const it__placed *b) {
    return it__overlaps(a->first, a->last, b->first, b->last) ||
           (a->first2 >= 0 && it__overlaps(a->first2, a->last2, b->first, b->last)) ||
           (b->first2 >= 0 && it__overlaps(a->first, a->last, b->first2, b->last2)) ||
           (a->first2 >= 0 && b->first2 >= 0 && it__overlaps(a->first2, a->last2, b->first2, b->last2));
}
/* Stable merge sort of bufs by size, largest first (equal sizes keep graph order, so plans are
   reproducible); O(n log n) for graphs of any depth. tmp holds n pointers. */
static void it__sort_by_size(it_tensor **bufs, it_tensor **tmp, int n) {
    int width, i;
    for (width = 1; width < n; width *= 2) {
        for (i = 0; i < n; i += 2 * width) {
            int a = i, mid = IT__MIN(i + width, n), b = mid, end = IT__MIN(i + 2 * width, n), k = i;
            while (a < mid && b < end) tmp[k++] = it_tensor_nbytes(bufs[b]) > it_tensor_nbytes(bufs[a]) ? bufs[b++] : bufs[a++];
            while (a < mid) tmp[k++] = bufs[a++];
            while (b < end) tmp[k++] = bufs[b++];
        }
        memcpy(bufs, tmp, sizeof(it_tensor *) * (size_t)n);
    }
}
static size_t it__pack(it_graph *g, it_tensor **bufs, int n, int no_reuse) {
    it__placed *placed = (it__placed *)it__alloc(g->ctx, sizeof(it__placed) * (size_t)(n + 1));
    it__placed **live = (it__placed **)it__alloc(g->ctx, sizeof(it__placed *) * (size_t)(n + 1));
    it_tensor **tmp = (it_tensor **)it__alloc(g->ctx, sizeof(it_tensor *) * (size_t)(n + 1));
    size_t total = 0;
    int i, k, n_placed = 0;
    if (!placed || !live || !tmp) {
        it__free(g->ctx, placed);
        it__free(g->ctx, live);
        it__free(g->ctx, tmp);
        return (size_t)-1;
    }
    it__sort_by_size(bufs, tmp, n);
    for (i = 0; i < n; i++) {
        it_tensor *t = bufs[i];
        size_t size = IT__ALIGN_UP(it_tensor_nbytes(t), (size_t)IT__ALIGN), offset = total;
        it__placed me;
        me.first = t->first_step, me.last = t->last_step, me.first2 = t->first2, me.last2 = t->last2;
        if (!no_reuse) {
            /* the placed buffers alive at the same time, then the lowest offset clear of them all:
               move past each collision and rescan until none is left */
            int n_live = 0, moved = 1;
            for (k = 0; k < n_placed; k++)
                if (it__lives_overlap(&me, &placed[k])) live[n_live++] = &placed[k];
            offset = 0;
            while (moved) {
                moved = 0;
                for (k = 0; k < n_live; k++)
                    if (offset < live[k]->offset + live[k]->size && live[k]->offset < offset + size) {
                        offset = live[k]->offset + live[k]->size;
                        moved = 1;
                    }
            }
        }
        t->offset = offset;
        me.offset = offset;
        me.size = size;
        placed[n_placed++] = me;
        if (offset + size > total) total = offset + size;
    }
    it__free(g->ctx, placed);
    it__free(g->ctx, live);
    it__free(g->ctx, tmp);
    return total;
}

/* Before anything is allocated: every op the graph runs has a kernel on this backend (ggml's
   supports_op), so an unsupported op fails here, named, instead of in the middle of a step. */
static it_result it__check_backend_supports(it_graph *g, it_backend *be) {
    int i;
    for (i = 0; i < g->n_nodes; i++)
        if (!be->forward[g->nodes[i].op])
            return it_context_error(g->ctx, IT_ERR_UNSUPPORTED,
                                    "it_graph_plan: backend '%s' has no forward kernel for op '%s' (node '%s')", be->name,
                                    it_op_name(g->nodes[i].op), g->nodes[i].out->name);
    for (i = 0; i < g->n_bwd; i++) {
        const it_node *n = &g->nodes[g->bwd_nodes[i]];
        if (!be->backward[n->op])
            return it_context_error(g->ctx, IT_ERR_UNSUPPORTED,
                                    "it_graph_plan: backend '%s' has no backward kernel for op '%s' (node '%s')",
                                    be->name, it_op_name(n->op), n->out->name);
    }
    return IT_OK;
}
static int it__zero_item_cmp(const void *a, const void *b) {
    int x = ((const it__zero_item *)a)->step, y = ((const it__zero_item *)b)->step;
    return x < y ? -1 : x > y;
}

IT_API it_result it_graph_plan(it_graph *g) { return it_graph_plan_ex(g, 0); }
IT_API it_result it_graph_plan_ex(it_graph *g, int no_reuse) {
    it_context *ctx = g->ctx;
    it_tensor **bufs;
    int i, n_bufs = 0, last_step, *seg_of;
    size_t input_bytes = 0, unplanned = 0, arena_bytes;
    it_result r;
    if (g->planned) return it_context_error(ctx, IT_ERR_STATE, "it_graph_plan: the graph is already planned");
    r = g->loss ? it_grads_alloc(ctx) : it_params_alloc(ctx); /* gradients only for a graph with a backward */
    if (r != IT_OK) return r;
    if (g->open_seg) return it_context_error(ctx, IT_ERR_STATE, "it_graph_plan: a checkpoint segment is still open");
    if ((r = it__check_backend_supports(g, ctx->backend)) != IT_OK) return r;
    seg_of = (int *)it__alloc(ctx, sizeof(int) * ((size_t)g->n_nodes + 1));
    if (!seg_of || it__build_schedule(g, seg_of) != 0) {
        it__free(ctx, seg_of);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_graph_plan: out of memory");
    }
    last_step = g->n_nodes + g->n_sched - 1;
    it__compute_lifetimes(g, last_step, seg_of);
    it__free(ctx, seg_of);
    bufs = (it_tensor **)it__alloc(ctx, sizeof(it_tensor *) * ((size_t)g->n_tensors + 1));
    if (!bufs) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_graph_plan: out of memory");
    for (i = 0; i < g->n_tensors; i++) {
        it_tensor *t = g->tensors[i];
        if (t->view_of) continue;
        if (t->block == IT_BLOCK_INPUTS) {
            t->offset = input_bytes;
            input_bytes += IT__ALIGN_UP(it_tensor_nbytes(t), (size_t)IT__ALIGN);
        } else if (t->block == IT_BLOCK_ARENA && t->first_step >= 0) {
            bufs[n_bufs++] = t;
            unplanned += IT__ALIGN_UP(it_tensor_nbytes(t), (size_t)IT__ALIGN);
        }
    }
    arena_bytes = it__pack(g, bufs, n_bufs, no_reuse);
    if (arena_bytes == (size_t)-1) {
        it__free(ctx, bufs);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_graph_plan: out of memory for the packing of %d buffers", n_bufs);
    }
    /* gradient buffers are cleared at the step that first accumulates into them */
    g->zero_items = (it__zero_item *)it__alloc(ctx, sizeof(it__zero_item) * ((size_t)n_bufs + 1));
    if (!g->zero_items) {
        it__free(ctx, bufs);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_graph_plan: out of memory");
    }
    g->n_zero_items = 0;
    for (i = 0; i < n_bufs; i++)
        if (bufs[i]->kind == IT_KIND_GRADIENT && !(g->loss && bufs[i] == it__root(g->loss->grad))) {
            g->zero_items[g->n_zero_items].step = bufs[i]->first_step;
            g->zero_items[g->n_zero_items].t = bufs[i];
            g->n_zero_items++;
        }
    /* in step order, so a run walks them once (buffers cleared at one step are disjoint: any order) */
    qsort(g->zero_items, (size_t)g->n_zero_items, sizeof(it__zero_item), it__zero_item_cmp);
    it__free(ctx, bufs);
    g->arena = (unsigned char *)ctx->backend->buffer_create(ctx->backend, IT__MAX(arena_bytes, 1));
    g->inputs = (unsigned char *)ctx->backend->buffer_create(ctx->backend, IT__MAX(input_bytes, 1));
    if (!g->arena || !g->inputs) {
        if (g->arena) ctx->backend->buffer_free(ctx->backend, g->arena);
        if (g->inputs) ctx->backend->buffer_free(ctx->backend, g->inputs);
        g->arena = g->inputs = NULL;
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_graph_plan: cannot allocate an arena of %zu bytes",
                                arena_bytes);
    }
    memset(g->inputs, 0, IT__MAX(input_bytes, 1));
    g->stats.arena_bytes = arena_bytes;
    g->stats.unplanned_bytes = unplanned;
    g->stats.input_bytes = input_bytes;
    g->stats.param_bytes = ctx->param_numel * sizeof(float);
    g->stats.n_nodes = g->n_nodes;
    g->stats.n_steps = g->n_nodes + g->n_sched;
    g->stats.n_buffers = n_bufs;
    g->backend = ctx->backend;
    g->planned = 1;
    return IT_OK;
}
IT_API it_plan_stats it_graph_stats(const it_graph *g) { return g->stats; }

IT_API void it_graph_print(const it_graph *g) {
    int i, j;
    char shape[64];
    printf("graph: %d nodes, %d backward, arena %zu bytes (%zu without reuse)\n", g->n_nodes, g->n_bwd,
           g->stats.arena_bytes, g->stats.unplanned_bytes);
    for (i = 0; i < g->n_nodes; i++) {
        const it_node *n = &g->nodes[i];
        printf("  %3d %-22s %-20s %-16s <-", i, it_op_name(n->op), n->out->name, IT__SHAPE(n->out, shape));
        for (j = 0; j < n->n_in; j++) printf(" %s", n->in[j]->name);
        if (g->planned && it__root(n->out)->block == IT_BLOCK_ARENA)
            printf("   @%zu [%d..%d]", it__root(n->out)->offset, it__root(n->out)->first_step,
                   it__root(n->out)->last_step);
        printf("\n");
    }
}

/* >>run ----------------------------------------------------------------------------------------- */
/* The class ids a node reads, if any: embedding ids index the table's rows; cross-entropy targets
   index the vocabulary, and may be ignore_index. */
typedef struct it__ids_use { it_tensor *ids; int limit, has_ignore, ignore_index; const char *what; } it__ids_use;
static int it__node_ids(const it_node *n, it__ids_use *u) {
    memset(u, 0, sizeof *u);
    switch (n->op) {
    case IT_OP_EMBEDDING: u->ids = n->in[1], u->limit = n->in[0]->dims[0], u->what = "embedding ids"; return 1;
    case IT_OP_CROSS_ENTROPY: u->ids = n->in[1], u->limit = n->in[0]->dims[n->in[0]->ndim - 1]; break;
    case IT_OP_LINEAR_CROSS_ENTROPY: u->ids = n->in[2], u->limit = n->in[1]->dims[0]; break;
    default: return 0;
    }
    u->has_ignore = 1, u->ignore_index = n->iparam[0], u->what = "targets";
    return 1;
}
/* Ids are inputs (no op makes i32 values) that the caller wrote before the run, so they are
   checked here, once for every backend and before any kernel runs: the error names the first bad
   position, and a kernel never indexes outside its table. */
static it_result it__check_ids(it_graph *g) {
    it__ids_use u;
    size_t i;
    int k;
    for (k = 0; k < g->n_nodes; k++) {
        const int32_t *ids;
        if (!it__node_ids(&g->nodes[k], &u)) continue;
        ids = it_data_i32(u.ids);
        for (i = 0; i < u.ids->numel; i++)
            if ((ids[i] < 0 || ids[i] >= u.limit) && !(u.has_ignore && ids[i] == u.ignore_index))
                return it_context_error(g->ctx, IT_ERR_RANGE, "%s '%s': value %ld at position %zu is outside [0, %d)",
                                        u.what, u.ids->name, (long)ids[i], i, u.limit);
    }
    return IT_OK;
}
IT_API it_result it_graph_run(it_graph *g, it_run_mode mode) {
    it_backend *be = g->ctx->backend;
    int i, p, z = 0;
    it_result r = IT_OK;
    if (!g->planned) return it_context_error(g->ctx, IT_ERR_STATE, "it_graph_run: plan the graph first");
    if (mode == IT_RUN_FORWARD_BACKWARD && !g->loss)
        return it_context_error(g->ctx, IT_ERR_STATE, "it_graph_run: backward requested but it_graph_backward was never called");
    if (mode != IT_RUN_FORWARD && mode != IT_RUN_FORWARD_BACKWARD)
        return it_context_error(g->ctx, IT_ERR_INVALID_ARGUMENT, "it_graph_run: unknown mode %d", (int)mode);
    if (be != g->backend) /* the old one may be destroyed: only the current one is named */
        return it_context_error(g->ctx, IT_ERR_STATE,
                                "it_graph_run: the graph was planned for another backend than the context's ('%s'); "
                                "set the backend before building graphs", be->name);
    if ((r = it__check_ids(g)) != IT_OK) return r;
    if (be->begin_step && (r = be->begin_step(be, mode)) != IT_OK) return r;
    for (i = 0; i < g->n_nodes && r == IT_OK; i++) {
        const it_node *n = &g->nodes[i];
        if (mode == IT_RUN_FORWARD_BACKWARD) /* the loss node's input gradients live from its forward */
            for (; z < g->n_zero_items && g->zero_items[z].step <= i && r == IT_OK; z++)
                r = be->fill(be, g->zero_items[z].t, 0.0f);
        if (r != IT_OK) break;
        r = be->forward[n->op](be, g, n); /* it_graph_plan checked that the kernels exist */
    }
    if (r == IT_OK && mode == IT_RUN_FORWARD_BACKWARD) {
        r = be->fill(be, it__root(g->loss->grad), 1.0f); /* d(loss)/d(loss) */
        for (p = 0; p < g->n_sched && r == IT_OK; p++) {
            const it_node *n = &g->nodes[g->sched[p] < 0 ? -1 - g->sched[p] : g->sched[p]];
            for (; z < g->n_zero_items && g->zero_items[z].step <= g->n_nodes + p && r == IT_OK; z++)
                r = be->fill(be, g->zero_items[z].t, 0.0f);
            if (r != IT_OK) break;
            if (g->sched[p] < 0) /* recomputing a checkpoint segment's forward */
                r = be->forward[n->op](be, g, n);
            else
                r = be->backward[n->op](be, g, n);
        }
    }
    if (be->end_step) {
        it_result r2 = be->end_step(be);
        if (r == IT_OK) r = r2;
    }
    if (be->synchronize) {
        it_result r2 = be->synchronize(be);
        if (r == IT_OK) r = r2;
    }
    return r;
}

/* What a node means independently of where it runs, computed here once for every backend. */
static it_gemm it__gemm_of(it_tensor *c, it_tensor *a, it_tensor *b, int M, int N, int K, int trans_a, int trans_b,
                           int accumulate, int batch, size_t stride_c, size_t stride_a, size_t stride_b) {
    it_gemm p;
    p.c = c, p.a = a, p.b = b;
    p.M = M, p.N = N, p.K = K;
    p.trans_a = trans_a, p.trans_b = trans_b, p.accumulate = accumulate, p.batch = batch;
    p.stride_c = stride_c, p.stride_a = stride_a, p.stride_b = stride_b;
    return p;
}
/* a [..., M, K] (or [..., K, M] when transposed), b [..., K, N] or a shared 2-D b */
IT_API int it_matmul_gemms(const it_node *n, int backward, it_gemm gemms[2]) {
    it_tensor *a = n->in[0], *b = n->in[1], *dc = n->out->grad, *da = a->grad, *db = b->grad;
    int ta = n->iparam[0], tb = n->iparam[1], M, N, K, batch, count = 0;
    size_t sa, sb, sc;
    IT__REQUIRE(n->op == IT_OP_MATMUL, __FILE__, __LINE__, "it_matmul_gemms: node is %s, not matmul", it_op_name(n->op));
    M = ta ? a->dims[a->ndim - 1] : a->dims[a->ndim - 2];
    K = ta ? a->dims[a->ndim - 2] : a->dims[a->ndim - 1];
    N = tb ? b->dims[b->ndim - 2] : b->dims[b->ndim - 1];
    batch = (int)(a->numel / ((size_t)M * K));
    sa = (size_t)M * K;
    sb = b->ndim == 2 ? 0 : (size_t)K * N;
    sc = (size_t)M * N;
    if (b->ndim == 2 && !ta) { /* a linear layer: fold the leading dims into M, one big product */
        M *= batch;
        batch = 1;
    }
    if (!backward) {
        gemms[0] = it__gemm_of(n->out, a, b, M, N, K, ta, tb, 0, batch, sc, sa, sb);
        return 1;
    }
    if (da) /* dA = dC op(B)^T, or for a stored transposed, dA = op(B) dC^T */
        gemms[count++] = !ta ? it__gemm_of(da, dc, b, M, K, N, 0, !tb, 1, batch, sa, sc, sb)
                             : it__gemm_of(da, b, dc, K, M, N, tb, 1, 1, batch, sa, sb, sc);
    if (db) /* dB = op(A)^T dC, or for b stored transposed, dB = dC^T op(A) */
        gemms[count++] = !tb ? it__gemm_of(db, a, dc, K, N, M, !ta, 0, 1, batch, sb, sa, sc)
                             : it__gemm_of(db, dc, a, N, K, M, 1, ta, 1, batch, sb, sc, sa);
    return count;
}

/* >>cpu ------------------------------------------------------------------------------------------
   The CPU backend: each node's kernel split over the pool. Work is cut into disjoint output
   ranges so no two workers write the same float: rows for row-wise ops, (batch, kv-head) groups
   for attention's backward, columns for reductions over rows (weight and bias gradients). */
/* A range function does items [begin, end) of a job. The job is a struct of the caller's choosing,
   read-only for the workers: most often the node itself, or a typed struct that adds what a chunk
   loop changes between calls (it__cross_entropy_job). */
typedef void (*it__range_fn)(const void *job, size_t begin, size_t end);
typedef struct it__range_task { it__range_fn fn; const void *job; size_t count; } it__range_task;
static void it__range_part(void *arg, int part, int n_parts) {
    it__range_task *task = (it__range_task *)arg;
    size_t begin, end;
    it__split(task->count, part, n_parts, &begin, &end);
    if (begin < end) task->fn(task->job, begin, end);
}
/* Thread thresholds: below these, waking the pool's workers costs more than the work they would
   share, so the calling thread does it alone. */
#define IT__PARALLEL_MIN_WORK 32768          /* it__parallel: items x work per item (~ flops) */
#define IT__GEMM_PARALLEL_MIN_MACS 1048576.0 /* it__gemm: M N K multiply-adds (~1 MFLOP) */
#define IT__OPTIMIZER_PARALLEL_MIN 65536     /* it_optimizer_step: parameter scalars updated */
/* How many parts `count` items of `work_per_item` are worth splitting into. */
static int it__parallel_parts(const it_context *ctx, size_t count, size_t work_per_item) {
    if (count * work_per_item < IT__PARALLEL_MIN_WORK) return 1;
    return (int)IT__MIN((size_t)ctx->n_threads, IT__MAX(count, 1));
}
/* Runs fn over [0, count) split across the pool; small jobs stay on the calling thread. */
static void it__parallel(it_context *ctx, const void *job, size_t count, size_t work_per_item, it__range_fn fn) {
    it__range_task task;
    task.fn = fn;
    task.job = job;
    task.count = count;
    it__pool_run(&ctx->pool, it__range_part, &task, it__parallel_parts(ctx, count, work_per_item));
}

/* Threaded matmul through the blocked SGEMM: each part owns a disjoint rectangle of c. */
typedef struct it__gemm_job {
    const it__scratch *scratch; /* the context's, one per worker */
    float *c;
    const float *a, *b;
    int M, N, K, trans_a, trans_b, accumulate;
} it__gemm_job;
static void it__gemm_part(void *arg, int part, int n_parts) {
    it__gemm_job *j = (it__gemm_job *)arg;
    it__sgemm_part(part, n_parts, &j->scratch[part], j->c, j->a, j->b, j->M, j->N, j->K, j->trans_a, j->trans_b,
                   j->accumulate);
}
static void it__gemm(it_context *ctx, float *c, const float *a, const float *b, int M, int N, int K, int trans_a,
                     int trans_b, int accumulate) {
    it__gemm_job job;
    int parts = (double)M * N * K < IT__GEMM_PARALLEL_MIN_MACS ? 1 : ctx->n_threads;
    job.scratch = ctx->scratch;
    job.c = c;
    job.a = a;
    job.b = b;
    job.M = M;
    job.N = N;
    job.K = K;
    job.trans_a = trans_a;
    job.trans_b = trans_b;
    job.accumulate = accumulate;
    it__pool_run(&ctx->pool, it__gemm_part, &job, parts);
}

static int it__last(const it_tensor *t) { return t->dims[t->ndim - 1]; }
#define IT__IN(n, i) it_data((n)->in[i])
#define IT__DIN(n, i) it_grad((n)->in[i])

/* --- matmul: the products it_matmul_gemms describes, slice by slice --- */
static it_result it__cpu_matmul_run(it_graph *g, const it_node *n, int backward) {
    it_gemm gemms[2];
    int count = it_matmul_gemms(n, backward, gemms), k, i;
    for (k = 0; k < count; k++) {
        const it_gemm *p = &gemms[k];
        float *c = it_data(p->c);
        const float *a = it_data(p->a), *b = it_data(p->b);
        for (i = 0; i < p->batch; i++)
            it__gemm(g->ctx, c + i * p->stride_c, a + i * p->stride_a, b + i * p->stride_b, p->M, p->N, p->K,
                     p->trans_a, p->trans_b, p->accumulate);
    }
    return IT_OK;
}
static it_result it__cpu_matmul_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    return it__cpu_matmul_run(g, n, 0);
}
static it_result it__cpu_matmul_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    return it__cpu_matmul_run(g, n, 1);
}

/* --- add / mul with b broadcast over a's leading dims --- */
static void it__add_fwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    size_t nb = n->in[1]->numel, r;
    for (r = r0; r < r1; r++)
        it_cpu_add_forward(it_data(n->out) + r * nb, IT__IN(n, 0) + r * nb, IT__IN(n, 1), nb);
}
static void it__mul_fwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    size_t nb = n->in[1]->numel, r;
    for (r = r0; r < r1; r++)
        it_cpu_mul_forward(it_data(n->out) + r * nb, IT__IN(n, 0) + r * nb, IT__IN(n, 1), nb);
}
static it_result it__cpu_add_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, n->in[0]->numel / n->in[1]->numel, n->in[1]->numel, it__add_fwd_rows);
    return IT_OK;
}
static it_result it__cpu_mul_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, n->in[0]->numel / n->in[1]->numel, n->in[1]->numel, it__mul_fwd_rows);
    return IT_OK;
}
/* d(a) for add and mul, by rows of b's size */
static void it__binary_da_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    size_t nb = n->in[1]->numel, r;
    for (r = r0; r < r1; r++) {
        if (n->op == IT_OP_ADD) it_cpu_axpy(IT__DIN(n, 0) + r * nb, 1.0f, it_grad(n->out) + r * nb, nb);
        else it_cpu_mul_backward(IT__DIN(n, 0) + r * nb, NULL, it_grad(n->out) + r * nb, NULL, IT__IN(n, 1), nb);
    }
}
/* d(b): a sum over a's leading rows, so workers own columns of b */
static void it__binary_db_cols(const void *job, size_t c0, size_t c1) {
    const it_node *n = (const it_node *)job;
    size_t nb = n->in[1]->numel, rows = n->in[0]->numel / nb, r, c;
    const float *dout = it_grad(n->out), *a = IT__IN(n, 0);
    float *db = IT__DIN(n, 1);
    for (r = 0; r < rows; r++)
        for (c = c0; c < c1; c++) db[c] += dout[r * nb + c] * (n->op == IT_OP_ADD ? 1.0f : a[r * nb + c]);
}
static it_result it__cpu_binary_bwd(it_backend *be, it_graph *g, const it_node *n) {
    size_t nb = n->in[1]->numel;
    (void)be;
    if (IT__DIN(n, 0)) it__parallel(g->ctx, n, n->in[0]->numel / nb, nb, it__binary_da_rows);
    if (IT__DIN(n, 1)) it__parallel(g->ctx, n, nb, n->in[0]->numel / nb, it__binary_db_cols);
    return IT_OK;
}

/* --- elementwise: scale, silu, gelu, swiglu (ranges of elements) --- */
static void it__elementwise_fwd(const void *job, size_t i0, size_t i1) {
    const it_node *n = (const it_node *)job;
    float *out = it_data(n->out) + i0;
    const float *x = IT__IN(n, 0) + i0;
    size_t len = i1 - i0;
    switch (n->op) {
    case IT_OP_SCALE: it_cpu_scale_forward(out, x, n->fparam[0], len); break;
    case IT_OP_SILU: it_cpu_silu_forward(out, x, len); break;
    case IT_OP_GELU: it_cpu_gelu_forward(out, x, len); break;
    case IT_OP_SWIGLU: it__swiglu_forward_fast(out, x, IT__IN(n, 1) + i0, len); break;
    default: IT_ASSERT(0);
    }
}
static void it__elementwise_bwd(const void *job, size_t i0, size_t i1) {
    const it_node *n = (const it_node *)job;
    const float *dout = it_grad(n->out) + i0, *x = IT__IN(n, 0) + i0;
    float *dx = IT__DIN(n, 0) ? IT__DIN(n, 0) + i0 : NULL;
    size_t len = i1 - i0;
    switch (n->op) {
    case IT_OP_SCALE: if (dx) it_cpu_axpy(dx, n->fparam[0], dout, len); break;
    case IT_OP_SILU: if (dx) it_cpu_silu_backward(dx, dout, x, len); break;
    case IT_OP_GELU: if (dx) it_cpu_gelu_backward(dx, dout, x, len); break;
    case IT_OP_SWIGLU:
        it__swiglu_backward_fast(dx, IT__DIN(n, 1) ? IT__DIN(n, 1) + i0 : NULL, dout, x, IT__IN(n, 1) + i0, len);
        break;
    default: IT_ASSERT(0);
    }
}
static it_result it__cpu_elementwise_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, n->out->numel, 8, it__elementwise_fwd);
    return IT_OK;
}
static it_result it__cpu_elementwise_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, n->out->numel, 8, it__elementwise_bwd);
    return IT_OK;
}

/* --- embedding --- */
static void it__embedding_fwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int C = n->in[0]->dims[1];
    it_cpu_embedding_forward(it_data(n->out) + r0 * C, it_data_i32(n->in[1]) + r0, IT__IN(n, 0), (int)(r1 - r0), C,
                             n->in[0]->dims[0]);
}
static it_result it__cpu_embedding_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be; /* the ids were checked by it_graph_run */
    it__parallel(g->ctx, n, n->in[1]->numel, (size_t)n->in[0]->dims[1], it__embedding_fwd_rows);
    return IT_OK;
}
static void it__embedding_bwd_cols(const void *job, size_t c0, size_t c1) {
    const it_node *n = (const it_node *)job;
    size_t N = n->in[1]->numel, C = (size_t)n->in[0]->dims[1], i;
    const int32_t *ids = it_data_i32(n->in[1]);
    const float *dout = it_grad(n->out);
    float *dtable = IT__DIN(n, 0);
    for (i = 0; i < N; i++) it_cpu_axpy(dtable + (size_t)ids[i] * C + c0, 1.0f, dout + i * C + c0, c1 - c0);
}
static it_result it__cpu_embedding_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    if (IT__DIN(n, 0)) it__parallel(g->ctx, n, (size_t)n->in[0]->dims[1], n->in[1]->numel, it__embedding_bwd_cols);
    return IT_OK;
}

/* --- rmsnorm / layernorm: rows for x, columns for the weight and bias gradients --- */
static void it__norm_fwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int C = it__last(n->in[0]), rows = (int)(r1 - r0);
    const float *x = IT__IN(n, 0) + r0 * C;
    if (n->op == IT_OP_RMSNORM)
        it_cpu_rmsnorm_forward(it_data(n->out) + r0 * C, it_data(n->saved[0]) + r0, x, IT__IN(n, 1), rows, C,
                               n->fparam[0]);
    else
        it_cpu_layernorm_forward(it_data(n->out) + r0 * C, it_data(n->saved[0]) + r0, it_data(n->saved[1]) + r0, x,
                                 IT__IN(n, 1), n->n_in > 2 ? IT__IN(n, 2) : NULL, rows, C, n->fparam[0]);
}
static void it__norm_dx_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int C = it__last(n->in[0]), rows = (int)(r1 - r0);
    const float *x = IT__IN(n, 0) + r0 * C, *dout = it_grad(n->out) + r0 * C;
    float *dx = IT__DIN(n, 0) + r0 * C;
    if (n->op == IT_OP_RMSNORM)
        it_cpu_rmsnorm_backward(dx, NULL, dout, x, IT__IN(n, 1), it_data(n->saved[0]) + r0, rows, C);
    else
        it_cpu_layernorm_backward(dx, NULL, NULL, dout, x, IT__IN(n, 1), it_data(n->saved[0]) + r0,
                                  it_data(n->saved[1]) + r0, rows, C);
}
static void it__norm_dw_cols(const void *job, size_t c0, size_t c1) {
    const it_node *n = (const it_node *)job;
    size_t C = (size_t)it__last(n->in[0]), rows = it__rows(n->in[0]), r, c;
    const float *x = IT__IN(n, 0), *dout = it_grad(n->out), *first = it_data(n->saved[0]);
    float *dw = IT__DIN(n, 1), *db = n->n_in > 2 ? IT__DIN(n, 2) : NULL;
    for (r = 0; r < rows; r++)
        for (c = c0; c < c1; c++) {
            float norm = n->op == IT_OP_RMSNORM ? x[r * C + c] * first[r]
                                                : (x[r * C + c] - first[r]) * it_data(n->saved[1])[r];
            if (dw) dw[c] += dout[r * C + c] * norm;
            if (db) db[c] += dout[r * C + c];
        }
}
static it_result it__cpu_norm_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, it__rows(n->in[0]), (size_t)it__last(n->in[0]) * 4, it__norm_fwd_rows);
    return IT_OK;
}
static it_result it__cpu_norm_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    if (IT__DIN(n, 0)) it__parallel(g->ctx, n, it__rows(n->in[0]), (size_t)it__last(n->in[0]) * 6, it__norm_dx_rows);
    if (IT__DIN(n, 1) || (n->n_in > 2 && IT__DIN(n, 2)))
        it__parallel(g->ctx, n, (size_t)it__last(n->in[0]), it__rows(n->in[0]) * 3, it__norm_dw_cols);
    return IT_OK;
}

/* --- rope: workers own positions t (each angle is computed once, for every batch row and head) --- */
static void it__rope_t(const it_node *n, size_t t0, size_t t1, int backward) {
    const it_tensor *x = n->in[0];
    int B = x->dims[0], T = x->dims[1], H = x->dims[2], D = x->dims[3];
    it_rope_scaling scaling = it_node_rope_scaling(n);
    if (backward)
        it__rope_rotate(IT__DIN(n, 0), it_grad(n->out), B, T, H, D, n->fparam[0], &scaling, n->iparam[0], -1.0f, 1, (int)t0, (int)t1);
    else
        it__rope_rotate(it_data(n->out), IT__IN(n, 0), B, T, H, D, n->fparam[0], &scaling, n->iparam[0], 1.0f, 0, (int)t0, (int)t1);
}
static void it__rope_fwd_t(const void *job, size_t t0, size_t t1) { it__rope_t((const it_node *)job, t0, t1, 0); }
static void it__rope_bwd_t(const void *job, size_t t0, size_t t1) { it__rope_t((const it_node *)job, t0, t1, 1); }
static it_result it__cpu_rope_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, (size_t)n->in[0]->dims[1], n->in[0]->numel / (size_t)n->in[0]->dims[1] * 4, it__rope_fwd_t);
    return IT_OK;
}
static it_result it__cpu_rope_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    if (IT__DIN(n, 0))
        it__parallel(g->ctx, n, (size_t)n->in[0]->dims[1], n->in[0]->numel / (size_t)n->in[0]->dims[1] * 4, it__rope_bwd_t);
    return IT_OK;
}

/* --- softmax --- */
static void it__softmax_fwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int C = it__last(n->out);
    it_cpu_softmax_forward(it_data(n->out) + r0 * C, IT__IN(n, 0) + r0 * C, (int)(r1 - r0), C);
}
static void it__softmax_bwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int C = it__last(n->out);
    it_cpu_softmax_backward(IT__DIN(n, 0) + r0 * C, it_grad(n->out) + r0 * C, it_data(n->out) + r0 * C,
                            (int)(r1 - r0), C);
}
static it_result it__cpu_softmax_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__parallel(g->ctx, n, it__rows(n->out), (size_t)it__last(n->out) * 8, it__softmax_fwd_rows);
    return IT_OK;
}
static it_result it__cpu_softmax_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    if (IT__DIN(n, 0)) it__parallel(g->ctx, n, it__rows(n->out), (size_t)it__last(n->out) * 4, it__softmax_bwd_rows);
    return IT_OK;
}

/* --- attention: (batch, head) slices forward; (batch, kv head) groups backward --- */
/* A pool job of its own rather than it__parallel's: each part needs its worker's scratch. */
typedef struct it__attention_job {
    const it_node *n;
    const it__scratch *scratch; /* the context's, one per worker */
    size_t count;               /* forward: B x Hq heads; backward: B x Hkv groups */
    int backward;
} it__attention_job;
static void it__attention_part(void *arg, int part, int n_parts) {
    const it__attention_job *j = (const it__attention_job *)arg;
    const it_node *n = j->n;
    const it__scratch *sc = &j->scratch[part];
    const it_tensor *q = n->in[0];
    int T = q->dims[1], Hq = q->dims[2], D = q->dims[3], Hkv = n->in[1]->dims[2];
    size_t i, i0, i1;
    it__split(j->count, part, n_parts, &i0, &i1);
    for (i = i0; i < i1; i++)
        if (!j->backward)
            it__flash_forward_head(sc, it_data(n->out), it_data(n->saved[0]), IT__IN(n, 0), IT__IN(n, 1), IT__IN(n, 2),
                                   (int)(i / (size_t)Hq), (int)(i % (size_t)Hq), T, Hq, Hkv, D, n->iparam[0]);
        else
            it__flash_backward_group(sc, IT__DIN(n, 0), IT__DIN(n, 1), IT__DIN(n, 2), it_grad(n->out), IT__IN(n, 0),
                                     IT__IN(n, 1), IT__IN(n, 2), it_data(n->out), it_data(n->saved[0]),
                                     (int)(i / (size_t)Hkv), (int)(i % (size_t)Hkv), T, Hq, Hkv, D, n->iparam[0]);
}
static void it__attention_run(it_graph *g, const it_node *n, int backward) {
    const it_tensor *q = n->in[0];
    it__attention_job job;
    size_t per_item = (size_t)q->dims[1] * q->dims[1] * q->dims[3] * (backward ? 4 : 1);
    job.n = n;
    job.scratch = g->ctx->scratch;
    job.count = (size_t)q->dims[0] * (backward ? n->in[1]->dims[2] : q->dims[2]);
    job.backward = backward;
    it__pool_run(&g->ctx->pool, it__attention_part, &job, it__parallel_parts(g->ctx, job.count, per_item));
}
static it_result it__cpu_attention_fwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__attention_run(g, n, 0);
    return IT_OK;
}
static it_result it__cpu_attention_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    it__attention_run(g, n, 1);
    return IT_OK;
}

/* --- cross-entropy: per-row losses, then a mean over counted rows (in double, fixed order) --- */
/* What the row workers of a (linear) cross-entropy need beyond the node: d(loss)/count for the
   backward, and in the fused head's chunk loops the chunk they are on. */
typedef struct it__cross_entropy_job {
    const it_node *n;
    float dloss_scale; /* d(loss) / counted rows */
    int vocab0, n_vocab; /* vocabulary chunk: its first row of w and its row count */
    int row0;            /* the fused pass's block of token rows starts here */
} it__cross_entropy_job;
static it__cross_entropy_job it__cross_entropy_job_of(const it_node *n) {
    it__cross_entropy_job job;
    memset(&job, 0, sizeof job);
    job.n = n;
    return job;
}
static float it__mean_of_counted(const float *losses, const int32_t *targets, size_t N, int ignore_index,
                                 int *counted) {
    double sum = 0.0;
    size_t i;
    int count = 0;
    for (i = 0; i < N; i++)
        if (targets[i] != ignore_index) {
            sum += losses[i];
            count++;
        }
    *counted = count;
    return count ? (float)(sum / count) : 0.0f;
}
static void it__cross_entropy_fwd_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int V = it__last(n->in[0]);
    it_cpu_cross_entropy_forward(it_data(n->saved[0]) + r0, it_data(n->saved[1]) + r0, IT__IN(n, 0) + r0 * V,
                                 it_data_i32(n->in[1]) + r0, (int)(r1 - r0), V, n->iparam[0]);
}
static float it__cross_entropy_dloss_scale(const it_node *n, const it_tensor *targets) {
    int count = 0;
    it__mean_of_counted(it_data(n->saved[0]), it_data_i32((it_tensor *)targets), targets->numel, n->iparam[0], &count);
    return count ? it_grad(n->out)[0] / (float)count : 0.0f;
}
static void it__cross_entropy_bwd_rows(const void *job, size_t r0, size_t r1) {
    const it__cross_entropy_job *j = (const it__cross_entropy_job *)job;
    const it_node *n = j->n;
    int V = it__last(n->in[0]);
    it_cpu_cross_entropy_backward(IT__DIN(n, 0) + r0 * V, IT__IN(n, 0) + r0 * V, it_data(n->saved[1]) + r0,
                                  it_data_i32(n->in[1]) + r0, j->dloss_scale, (int)(r1 - r0), V, n->iparam[0]);
}
static it_result it__cpu_cross_entropy_fwd(it_backend *be, it_graph *g, const it_node *n) {
    int count;
    size_t N = n->in[1]->numel;
    (void)be;
    it__parallel(g->ctx, n, N, (size_t)it__last(n->in[0]) * 4, it__cross_entropy_fwd_rows);
    it_data(n->out)[0] = it__mean_of_counted(it_data(n->saved[0]), it_data_i32(n->in[1]), N, n->iparam[0], &count);
    return IT_OK;
}
static it_result it__cpu_cross_entropy_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it__cross_entropy_job job = it__cross_entropy_job_of(n);
    (void)be;
    if (!IT__DIN(n, 0)) return IT_OK;
    job.dloss_scale = it__cross_entropy_dloss_scale(n, n->in[1]);
    it__parallel(g->ctx, &job, n->in[1]->numel, (size_t)it__last(n->in[0]) * 4, it__cross_entropy_bwd_rows);
    return IT_OK;
}

/* --- fused linear + cross-entropy over vocab chunks (see it_cpu_linear_cross_entropy_forward) --- */
static void it__linear_cross_entropy_merge_rows(const void *job, size_t r0, size_t r1) {
    const it__cross_entropy_job *j = (const it__cross_entropy_job *)job;
    const it_node *n = j->n;
    int cv = j->n_vocab;
    const float *scratch = it_data(n->scratch);
    float *lse = it_data(n->saved[1]), *sums = it_data(n->saved[0]);
    size_t r;
    for (r = r0; r < r1; r++) {
        float *sn = (float *)scratch + r * (size_t)cv; /* the chunk's logits are not needed again */
        float m = lse[r], s = sums[r], cm = it__vmax(sn, cv);
        if (cm > m) {
            s *= expf(m - cm);
            m = cm;
        }
        s += it__vexp(sn, sn, cv, 1.0f, m, 1.0f);
        lse[r] = m;
        sums[r] = s;
    }
}
static void it__linear_cross_entropy_finish_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    int C = it__last(n->in[0]);
    const int32_t *targets = it_data_i32(n->in[2]);
    float *lse = it_data(n->saved[1]), *losses = it_data(n->saved[0]);
    size_t r;
    for (r = r0; r < r1; r++) {
        lse[r] += logf(losses[r]);
        losses[r] = targets[r] == n->iparam[0]
                        ? 0.0f
                        : lse[r] - it__dot(IT__IN(n, 0) + r * C, IT__IN(n, 1) + (size_t)targets[r] * C, C);
    }
}
static void it__linear_cross_entropy_dlogits_rows(const void *job, size_t r0, size_t r1) {
    const it__cross_entropy_job *j = (const it__cross_entropy_job *)job;
    const it_node *n = j->n;
    int cv = j->n_vocab, v0 = j->vocab0;
    float *scratch = it_data(n->bwd_scratch), scale = j->dloss_scale;
    const float *lse = it_data(n->saved[1]);
    const int32_t *targets = it_data_i32(n->in[2]);
    size_t r;
    for (r = r0; r < r1; r++) {
        float *sn = scratch + r * (size_t)cv;
        if (targets[r] == n->iparam[0]) {
            memset(sn, 0, sizeof(float) * (size_t)cv);
            continue;
        }
        it__vexp(sn, sn, cv, 1.0f, lse[r], scale);
        if (targets[r] >= v0 && targets[r] < v0 + cv) sn[targets[r] - v0] -= scale;
    }
}
static void it__linear_cross_entropy_init_rows(const void *job, size_t r0, size_t r1) {
    const it_node *n = (const it_node *)job;
    size_t r;
    for (r = r0; r < r1; r++) {
        it_data(n->saved[1])[r] = -FLT_MAX;
        it_data(n->saved[0])[r] = 0.0f;
    }
}
/* Forward and backward in one pass, for a training run whose loss is this node (d(loss) = 1): rows
   taken R at a time with the whole vocabulary, R x V = the size of the vocab-chunked scratch. The
   logits of a row block give its exact log-sum-exp at once, become dlogits in place, and feed
   dx and dW straight away: three products over N x V x C instead of four. */
static void it__linear_cross_entropy_fused_rows(const void *job, size_t r0, size_t r1) {
    const it__cross_entropy_job *j = (const it__cross_entropy_job *)job;
    const it_node *n = j->n;
    int V = n->in[1]->dims[0], row0 = j->row0;
    float *scratch = it_data(n->scratch), scale = j->dloss_scale;
    float *lse = it_data(n->saved[1]) + row0, *losses = it_data(n->saved[0]) + row0;
    const int32_t *targets = it_data_i32(n->in[2]) + row0;
    size_t r;
    for (r = r0; r < r1; r++) {
        float *sn = scratch + r * (size_t)V, m = it__vmax(sn, V), sum, target_logit = 0.0f;
        int t = targets[r];
        if (t != n->iparam[0]) target_logit = sn[t];
        sum = it__vexp(sn, sn, V, 1.0f, m, 1.0f);
        lse[r] = m + logf(sum);
        if (t == n->iparam[0]) {
            losses[r] = 0.0f;
            memset(sn, 0, sizeof(float) * (size_t)V);
            continue;
        }
        losses[r] = lse[r] - target_logit;
        it_cpu_scale_forward(sn, sn, scale / sum, (size_t)V);
        sn[t] -= scale;
    }
}
static void it__linear_cross_entropy_fused(it_graph *g, const it_node *n, int count) {
    int N = (int)n->in[2]->numel, C = it__last(n->in[0]), V = n->in[1]->dims[0], rows, r0;
    float *dx = IT__DIN(n, 0), *dw = IT__DIN(n, 1), *scratch = it_data(n->scratch);
    const float *x = IT__IN(n, 0), *w = IT__IN(n, 1);
    it__cross_entropy_job job = it__cross_entropy_job_of(n);
    rows = (int)IT__MIN((size_t)N, n->scratch->numel / (size_t)V);
    job.dloss_scale = count ? 1.0f / (float)count : 0.0f;
    for (r0 = 0; r0 < N; r0 += rows) {
        int R = IT__MIN(rows, N - r0);
        job.row0 = r0;
        it__gemm(g->ctx, scratch, x + (size_t)r0 * C, w, R, V, C, 0, 1, 0);                  /* logits [R, V] */
        it__parallel(g->ctx, &job, (size_t)R, (size_t)V * 8, it__linear_cross_entropy_fused_rows); /* -> dlogits */
        if (dx) it__gemm(g->ctx, dx + (size_t)r0 * C, scratch, w, R, C, V, 0, 0, 1);         /* dx += dl @ W */
        if (dw) it__gemm(g->ctx, dw, scratch, x + (size_t)r0 * C, V, C, R, 1, 0, 1);         /* dW += dl^T x */
    }
}
static it_result it__cpu_linear_cross_entropy_fwd(it_backend *be, it_graph *g, const it_node *n) {
    int N = (int)n->in[2]->numel, C = it__last(n->in[0]), V = n->in[1]->dims[0], chunk = n->iparam[1], v0, count;
    it__cpu_backend *cpu = (it__cpu_backend *)be->impl;
    it__cross_entropy_job job = it__cross_entropy_job_of(n);
    if (cpu->run_mode == IT_RUN_FORWARD_BACKWARD && g->loss == n->out && n->scratch->numel >= (size_t)V) {
        const int32_t *targets = it_data_i32(n->in[2]);
        for (count = 0, v0 = 0; v0 < N; v0++) count += targets[v0] != n->iparam[0];
        it__linear_cross_entropy_fused(g, n, count);
        cpu->loss_grads_done = 1;
        it_data(n->out)[0] = it__mean_of_counted(it_data(n->saved[0]), it_data_i32(n->in[2]), (size_t)N, n->iparam[0], &count);
        return IT_OK;
    }
    it__parallel(g->ctx, n, (size_t)N, 1, it__linear_cross_entropy_init_rows);
    for (v0 = 0; v0 < V; v0 += chunk) {
        job.vocab0 = v0;
        job.n_vocab = IT__MIN(chunk, V - v0);
        it__gemm(g->ctx, it_data(n->scratch), IT__IN(n, 0), IT__IN(n, 1) + (size_t)v0 * C, N, job.n_vocab, C, 0, 1, 0);
        it__parallel(g->ctx, &job, (size_t)N, (size_t)job.n_vocab * 8, it__linear_cross_entropy_merge_rows);
    }
    it__parallel(g->ctx, n, (size_t)N, (size_t)C, it__linear_cross_entropy_finish_rows);
    it_data(n->out)[0] = it__mean_of_counted(it_data(n->saved[0]), it_data_i32(n->in[2]), (size_t)N, n->iparam[0], &count);
    return IT_OK;
}
static it_result it__cpu_linear_cross_entropy_bwd(it_backend *be, it_graph *g, const it_node *n) {
    int N = (int)n->in[2]->numel, C = it__last(n->in[0]), V = n->in[1]->dims[0], chunk = n->iparam[1], v0;
    float *dx = IT__DIN(n, 0), *dw = IT__DIN(n, 1), *scratch = it_data(n->bwd_scratch);
    it__cpu_backend *cpu = (it__cpu_backend *)be->impl;
    it__cross_entropy_job job = it__cross_entropy_job_of(n);
    if (cpu->loss_grads_done && g->loss == n->out) { /* done in the forward (it__linear_cross_entropy_fused) */
        cpu->loss_grads_done = 0;
        return IT_OK;
    }
    job.dloss_scale = it__cross_entropy_dloss_scale(n, n->in[2]);
    for (v0 = 0; v0 < V; v0 += chunk) {
        int cv = IT__MIN(chunk, V - v0);
        const float *wc = IT__IN(n, 1) + (size_t)v0 * C;
        job.vocab0 = v0;
        job.n_vocab = cv;
        it__gemm(g->ctx, scratch, IT__IN(n, 0), wc, N, cv, C, 0, 1, 0);            /* logits [N, cv] */
        it__parallel(g->ctx, &job, (size_t)N, (size_t)cv * 8, it__linear_cross_entropy_dlogits_rows); /* -> dlogits */
        if (dx) it__gemm(g->ctx, dx, scratch, wc, N, C, cv, 0, 0, 1);               /* dx += dl @ Wc */
        if (dw) it__gemm(g->ctx, dw + (size_t)v0 * C, scratch, IT__IN(n, 0), cv, C, N, 1, 0, 1); /* dWc += dl^T x */
    }
    return IT_OK;
}

/* --- sum / mean (double accumulation, fixed order: results do not depend on threads) --- */
static it_result it__cpu_reduce_fwd(it_backend *be, it_graph *g, const it_node *n) {
    double sum = 0.0;
    size_t i, count = n->in[0]->numel;
    const float *x = IT__IN(n, 0);
    (void)be; (void)g;
    for (i = 0; i < count; i++) sum += x[i];
    it_data(n->out)[0] = (float)(n->op == IT_OP_MEAN ? sum / (double)count : sum);
    return IT_OK;
}
static void it__reduce_bwd_range(const void *job, size_t i0, size_t i1) {
    const it_node *n = (const it_node *)job;
    float d = it_grad(n->out)[0];
    size_t i;
    if (n->op == IT_OP_MEAN) d /= (float)n->in[0]->numel;
    for (i = i0; i < i1; i++) IT__DIN(n, 0)[i] += d;
}
static it_result it__cpu_reduce_bwd(it_backend *be, it_graph *g, const it_node *n) {
    (void)be;
    if (IT__DIN(n, 0)) it__parallel(g->ctx, n, n->in[0]->numel, 2, it__reduce_bwd_range);
    return IT_OK;
}

/* --- reshape: a view; its gradient is a view of the source's gradient, so nothing to do --- */
static it_result it__cpu_nothing(it_backend *be, it_graph *g, const it_node *n) {
    (void)be; (void)g; (void)n;
    return IT_OK;
}

static void *it__cpu_buffer_create(it_backend *be, size_t size) {
    return it__alloc(((it__cpu_backend *)be->impl)->ctx, size);
}
static void it__cpu_buffer_free(it_backend *be, void *ptr) { it__free(((it__cpu_backend *)be->impl)->ctx, ptr); }
static it_result it__cpu_fill(it_backend *be, it_tensor *t, float value) {
    float *d = it_data(t);
    size_t i;
    (void)be;
    if (value == 0.0f) memset(d, 0, t->numel * sizeof(float));
    else for (i = 0; i < t->numel; i++) d[i] = value;
    return IT_OK;
}
static it_result it__cpu_begin_step(it_backend *be, it_run_mode mode) {
    it__cpu_backend *cpu = (it__cpu_backend *)be->impl;
    cpu->run_mode = mode;
    cpu->loss_grads_done = 0;
    return IT_OK;
}

IT_API void it_backend_set_op(it_backend *be, it_op op, it_kernel_fn forward, it_kernel_fn backward) {
    IT__REQUIRE(op > IT_OP_INVALID && op < IT_OP_COUNT, __FILE__, __LINE__, "it_backend_set_op: op %d is not an op",
                (int)op);
    be->forward[op] = forward;
    be->backward[op] = backward;
}
static void it__cpu_backend_init(it__cpu_backend *cpu, it_context *ctx) {
    it_backend *be = &cpu->be;
    memset(cpu, 0, sizeof *cpu);
    cpu->ctx = ctx;
    be->name = "cpu";
    be->impl = cpu;
    be->buffer_create = it__cpu_buffer_create;
    be->buffer_free = it__cpu_buffer_free;
    be->fill = it__cpu_fill;
    be->begin_step = it__cpu_begin_step;
    it_backend_set_op(be, IT_OP_MATMUL, it__cpu_matmul_fwd, it__cpu_matmul_bwd);
    it_backend_set_op(be, IT_OP_ADD, it__cpu_add_fwd, it__cpu_binary_bwd);
    it_backend_set_op(be, IT_OP_MUL, it__cpu_mul_fwd, it__cpu_binary_bwd);
    it_backend_set_op(be, IT_OP_SCALE, it__cpu_elementwise_fwd, it__cpu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_EMBEDDING, it__cpu_embedding_fwd, it__cpu_embedding_bwd);
    it_backend_set_op(be, IT_OP_RMSNORM, it__cpu_norm_fwd, it__cpu_norm_bwd);
    it_backend_set_op(be, IT_OP_LAYERNORM, it__cpu_norm_fwd, it__cpu_norm_bwd);
    it_backend_set_op(be, IT_OP_ROPE, it__cpu_rope_fwd, it__cpu_rope_bwd);
    it_backend_set_op(be, IT_OP_SOFTMAX, it__cpu_softmax_fwd, it__cpu_softmax_bwd);
    it_backend_set_op(be, IT_OP_ATTENTION, it__cpu_attention_fwd, it__cpu_attention_bwd);
    it_backend_set_op(be, IT_OP_SILU, it__cpu_elementwise_fwd, it__cpu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_GELU, it__cpu_elementwise_fwd, it__cpu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_SWIGLU, it__cpu_elementwise_fwd, it__cpu_elementwise_bwd);
    it_backend_set_op(be, IT_OP_CROSS_ENTROPY, it__cpu_cross_entropy_fwd, it__cpu_cross_entropy_bwd);
    it_backend_set_op(be, IT_OP_LINEAR_CROSS_ENTROPY, it__cpu_linear_cross_entropy_fwd, it__cpu_linear_cross_entropy_bwd);
    it_backend_set_op(be, IT_OP_SUM, it__cpu_reduce_fwd, it__cpu_reduce_bwd);
    it_backend_set_op(be, IT_OP_MEAN, it__cpu_reduce_fwd, it__cpu_reduce_bwd);
    it_backend_set_op(be, IT_OP_RESHAPE, it__cpu_nothing, it__cpu_nothing); /* a view: nothing to compute */
}

/* >>models -------------------------------------------------------------------------------------- */
typedef struct it__preset {
    const char *name;
    it_arch arch;
    int vocab_size, dim, n_layers, n_heads, n_kv_heads, ffn_dim, max_seq;
} it__preset;
static const it__preset it__presets[] = {
    /* IronTensor's presets (untied heads off, rope theta 10000, norm eps 1e-5): the parameter
       counts in the comments are asserted by the tests */
    {"tiny", IT_ARCH_LLAMA, 32000, 256, 4, 4, 4, 512, 512},          /* 10,815,744 */
    {"small", IT_ARCH_LLAMA, 32000, 512, 8, 8, 8, 1024, 2048},       /* 37,364,224 */
    {"medium", IT_ARCH_LLAMA, 32000, 1024, 16, 16, 16, 2816, 2048},  /* 238,322,688 */
    {"shakespeare", IT_ARCH_LLAMA, 2048, 256, 6, 8, 8, 512, 512},    /* 4,459,776 */
    {"gpt2-tiny", IT_ARCH_GPT2, 256, 128, 4, 4, 4, 512, 256},        /* byte-level */
};
IT_API it_result it_model_preset(const char *name, it_model_config *out) {
    size_t i;
    for (i = 0; i < sizeof it__presets / sizeof it__presets[0]; i++)
        if (name && strcmp(name, it__presets[i].name) == 0) {
            const it__preset *p = &it__presets[i];
            memset(out, 0, sizeof *out);
            out->arch = p->arch;
            out->vocab_size = p->vocab_size;
            out->dim = p->dim;
            out->n_layers = p->n_layers;
            out->n_heads = p->n_heads;
            out->n_kv_heads = p->n_kv_heads;
            out->ffn_dim = p->ffn_dim;
            out->max_seq = p->max_seq;
            out->rope_theta = p->arch == IT_ARCH_LLAMA ? 10000.0f : 0.0f;
            out->norm_eps = 1e-5f;
            return IT_OK;
        }
    return IT_ERR_INVALID_ARGUMENT;
}
IT_API const char *it_model_preset_names(void) { return "tiny, small, medium, shakespeare, gpt2-tiny"; }

typedef struct it__family_info { it_model_family id; it_arch arch; const char *model_type, *architecture; } it__family_info;
static const it__family_info it__families[] = {
#define X(id, arch, model_type, architecture) {id, arch, model_type, architecture},
    IT_MODEL_FAMILY_LIST
#undef X
};
static const it__family_info *it__family(it_model_family f) {
    size_t i;
    for (i = 0; i < sizeof it__families / sizeof it__families[0]; i++)
        if (it__families[i].id == f) return &it__families[i];
    return NULL;
}
/* The family a config means: its own, or its arch's when it names none. */
static it_model_family it__config_family(const it_model_config *c) {
    if (c->family != IT_FAMILY_DEFAULT) return c->family;
    return c->arch == IT_ARCH_GPT2 ? IT_FAMILY_GPT2 : IT_FAMILY_LLAMA;
}
IT_API const char *it_model_family_type(it_model_family f) {
    const it__family_info *fi = it__family(f);
    return fi ? fi->model_type : NULL;
}
IT_API const char *it_model_family_architecture(it_model_family f) {
    const it__family_info *fi = it__family(f);
    return fi ? fi->architecture : NULL;
}
IT_API int it_model_head_dim(const it_model_config *c) {
    return c->head_dim > 0 ? c->head_dim : (c->n_heads > 0 ? c->dim / c->n_heads : 0);
}

/* NULL when the Llama options are what the config's Hugging Face family can express (so every
   model saves as a config.json transformers loads), else why not. */
static const char *it__family_problem(const it_model_config *c) {
    switch (it__config_family(c)) {
    case IT_FAMILY_LLAMA:
        if (c->qkv_bias != c->o_bias) return "llama: attention_bias covers q, k, v and o together";
        if (c->qk_norm || c->sliding_window) return "llama has no q/k norms or sliding window (qwen3, mistral have)";
        return NULL;
    case IT_FAMILY_MISTRAL:
        return c->qkv_bias || c->o_bias || c->mlp_bias || c->qk_norm ? "mistral has no biases or q/k norms" : NULL;
    case IT_FAMILY_QWEN2:
        return !c->qkv_bias || c->o_bias || c->mlp_bias || c->qk_norm || c->sliding_window
                   ? "qwen2 has q, k, v biases and nothing else of the Llama options but rope scaling"
                   : NULL;
    case IT_FAMILY_QWEN3:
        return !c->qk_norm || c->qkv_bias != c->o_bias || c->mlp_bias || c->sliding_window
                   ? "qwen3 has q/k norms, optional attention_bias (q, k, v, o) and no mlp bias or window"
                   : NULL;
    default: return NULL;
    }
}
IT_API it_result it_model_config_check(it_context *ctx, const it_model_config *c) {
    const char *why = NULL;
    char buf[160];
    const it__family_info *family = it__family(it__config_family(c));
    int llama_options = c->head_dim || c->qkv_bias || c->o_bias || c->mlp_bias || c->qk_norm || c->sliding_window ||
                        c->rope_scaling.kind != IT_ROPE_DEFAULT;
    if (c->arch != IT_ARCH_LLAMA && c->arch != IT_ARCH_GPT2) why = "arch must be llama or gpt2";
    else if (!family || family->arch != c->arch) why = "the model family does not match the arch";
    else if (c->vocab_size < 2) why = "vocab must be at least 2";
    else if (c->dim < 2 || c->n_layers < 1 || c->n_heads < 1 || c->n_kv_heads < 1 || c->ffn_dim < 1 || c->max_seq < 1)
        why = "dim, layers, heads, kv-heads, ffn and max-seq must be positive";
    else if (c->head_dim < 0 || c->sliding_window < 0) why = "head_dim and sliding_window must not be negative";
    else if (c->head_dim == 0 && c->dim % c->n_heads != 0) {
        snprintf(buf, sizeof buf, "heads (%d) must divide dim (%d)", c->n_heads, c->dim);
        why = buf;
    } else if (c->n_heads % c->n_kv_heads != 0) {
        snprintf(buf, sizeof buf, "kv-heads (%d) must divide heads (%d)", c->n_kv_heads, c->n_heads);
        why = buf;
    } else if (it_model_head_dim(c) % 2 != 0) {
        snprintf(buf, sizeof buf, "head size %d must be even (RoPE rotates pairs)", it_model_head_dim(c));
        why = buf;
    } else if ((double)it_model_head_dim(c) * c->n_heads > INT32_MAX / 2)
        why = "heads x head size is too large";
    else if (c->arch == IT_ARCH_GPT2 && c->n_kv_heads != c->n_heads)
        why = "GPT-2 has no grouped-query attention: kv-heads must equal heads";
    else if (c->arch == IT_ARCH_GPT2 && llama_options)
        why = "head_dim, the Llama biases, q/k norms, sliding windows and rope scaling are Llama-family options";
    else if (it__rope_scaling_problem(&c->rope_scaling))
        why = it__rope_scaling_problem(&c->rope_scaling);
    else if (c->arch == IT_ARCH_LLAMA && it__family_problem(c))
        why = it__family_problem(c);
    if (!why) return IT_OK;
    return ctx ? it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "model config: %s", why) : IT_ERR_INVALID_ARGUMENT;
}
IT_API size_t it_model_config_param_count(const it_model_config *c) {
    size_t C = (size_t)c->dim, hd = (size_t)it_model_head_dim(c), q = hd * (size_t)c->n_heads;
    size_t kv = hd * (size_t)c->n_kv_heads, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size, per_layer, total;
    if (c->arch == IT_ARCH_GPT2) {
        per_layer = 4 * C + (C * C + C) * 4 + (C * F + F) + (F * C + C); /* 2 LayerNorms, q k v o, MLP */
        total = V * C + (size_t)c->max_seq * C + per_layer * (size_t)c->n_layers + 2 * C;
    } else {
        per_layer = 2 * C + C * q * 2 + C * kv * 2 + 3 * C * F; /* 2 norms, q o, k v, MLP */
        per_layer += (c->qkv_bias ? q + 2 * kv : 0) + (c->o_bias ? C : 0) + (c->mlp_bias ? 2 * F + C : 0) +
                     (c->qk_norm ? 2 * hd : 0);
        total = V * C + per_layer * (size_t)c->n_layers + C;
    }
    return total + (c->untied ? V * C : 0);
}

static it_tensor *it__model_param(it_context *ctx, const char *fmt, int layer, int ndim, int d0, int d1) {
    char name[IT_MAX_NAME];
    int dims[2];
    dims[0] = d0;
    dims[1] = d1;
    snprintf(name, sizeof name, fmt, layer);
    return it_param(ctx, name, ndim, dims);
}
/* Every default of it_model_config in one place: rope_theta 0 = 10000, norm_eps 0 = 1e-5. */
static it_model_config it__model_config_defaults(const it_model_config *cfg) {
    it_model_config c = *cfg;
    if (!c.rope_theta) c.rope_theta = 10000.0f;
    if (!c.norm_eps) c.norm_eps = 1e-5f;
    return c;
}
IT_API it_result it_model_create(it_context *ctx, const it_model_config *cfg, it_model **out) {
    it_model_config c = it__model_config_defaults(cfg);
    it_model *m;
    it_result r;
    int l, C, Q, kv, F, hd;
    *out = NULL;
    if ((r = it_model_config_check(ctx, &c)) != IT_OK) return r;
    if (ctx->param_block)
        return it_context_error(ctx, IT_ERR_STATE, "it_model_create: the context's parameters are already allocated");
    m = (it_model *)it__calloc(ctx, sizeof(it_model));
    if (m) m->layer_params = (it_tensor **)it__calloc(ctx, sizeof(it_tensor *) * (size_t)c.n_layers * IT_MODEL_LAYER_PARAMS);
    if (!m || !m->layer_params) {
        it__free(ctx, m);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_model_create: out of memory");
    }
    m->ctx = ctx;
    m->config = c;
    C = c.dim;
    hd = it_model_head_dim(&c);
    Q = hd * c.n_heads;
    kv = hd * c.n_kv_heads;
    F = c.ffn_dim;
    if (c.arch == IT_ARCH_LLAMA) {
        m->embed = it__model_param(ctx, "model.embed_tokens.weight", 0, 2, c.vocab_size, C);
        for (l = 0; l < c.n_layers; l++) {
            it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
            p[IT_LP_ATTN_NORM] = it__model_param(ctx, "model.layers.%d.input_layernorm.weight", l, 1, C, 0);
            p[IT_LP_Q] = it__model_param(ctx, "model.layers.%d.self_attn.q_proj.weight", l, 2, Q, C);
            p[IT_LP_K] = it__model_param(ctx, "model.layers.%d.self_attn.k_proj.weight", l, 2, kv, C);
            p[IT_LP_V] = it__model_param(ctx, "model.layers.%d.self_attn.v_proj.weight", l, 2, kv, C);
            p[IT_LP_O] = it__model_param(ctx, "model.layers.%d.self_attn.o_proj.weight", l, 2, C, Q);
            if (c.qkv_bias) {
                p[IT_LP_Q_B] = it__model_param(ctx, "model.layers.%d.self_attn.q_proj.bias", l, 1, Q, 0);
                p[IT_LP_K_B] = it__model_param(ctx, "model.layers.%d.self_attn.k_proj.bias", l, 1, kv, 0);
                p[IT_LP_V_B] = it__model_param(ctx, "model.layers.%d.self_attn.v_proj.bias", l, 1, kv, 0);
            }
            if (c.o_bias) p[IT_LP_O_B] = it__model_param(ctx, "model.layers.%d.self_attn.o_proj.bias", l, 1, C, 0);
            if (c.qk_norm) {
                p[IT_LP_Q_NORM] = it__model_param(ctx, "model.layers.%d.self_attn.q_norm.weight", l, 1, hd, 0);
                p[IT_LP_K_NORM] = it__model_param(ctx, "model.layers.%d.self_attn.k_norm.weight", l, 1, hd, 0);
            }
            p[IT_LP_MLP_NORM] = it__model_param(ctx, "model.layers.%d.post_attention_layernorm.weight", l, 1, C, 0);
            p[IT_LP_GATE] = it__model_param(ctx, "model.layers.%d.mlp.gate_proj.weight", l, 2, F, C);
            p[IT_LP_UP] = it__model_param(ctx, "model.layers.%d.mlp.up_proj.weight", l, 2, F, C);
            p[IT_LP_DOWN] = it__model_param(ctx, "model.layers.%d.mlp.down_proj.weight", l, 2, C, F);
            if (c.mlp_bias) {
                p[IT_LP_GATE_B] = it__model_param(ctx, "model.layers.%d.mlp.gate_proj.bias", l, 1, F, 0);
                p[IT_LP_UP_B] = it__model_param(ctx, "model.layers.%d.mlp.up_proj.bias", l, 1, F, 0);
                p[IT_LP_DOWN_B] = it__model_param(ctx, "model.layers.%d.mlp.down_proj.bias", l, 1, C, 0);
            }
        }
        m->final_norm = it__model_param(ctx, "model.norm.weight", 0, 1, C, 0);
        m->head = c.untied ? it__model_param(ctx, "lm_head.weight", 0, 2, c.vocab_size, C) : m->embed;
    } else {
        /* GPT-2 keeps Hugging Face's Conv1D layout, weights [in, out]; its fused c_attn is stored
           as three [C, C] blocks q, k, v (checkpoints concatenate them). */
        m->embed = it__model_param(ctx, "wte.weight", 0, 2, c.vocab_size, C);
        m->pos_embed = it__model_param(ctx, "wpe.weight", 0, 2, c.max_seq, C);
        for (l = 0; l < c.n_layers; l++) {
            it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
            p[IT_LP_ATTN_NORM] = it__model_param(ctx, "h.%d.ln_1.weight", l, 1, C, 0);
            p[IT_LP_ATTN_NORM_B] = it__model_param(ctx, "h.%d.ln_1.bias", l, 1, C, 0);
            p[IT_LP_Q] = it__model_param(ctx, "h.%d.attn.q.weight", l, 2, C, C);
            p[IT_LP_Q_B] = it__model_param(ctx, "h.%d.attn.q.bias", l, 1, C, 0);
            p[IT_LP_K] = it__model_param(ctx, "h.%d.attn.k.weight", l, 2, C, C);
            p[IT_LP_K_B] = it__model_param(ctx, "h.%d.attn.k.bias", l, 1, C, 0);
            p[IT_LP_V] = it__model_param(ctx, "h.%d.attn.v.weight", l, 2, C, C);
            p[IT_LP_V_B] = it__model_param(ctx, "h.%d.attn.v.bias", l, 1, C, 0);
            p[IT_LP_O] = it__model_param(ctx, "h.%d.attn.c_proj.weight", l, 2, C, C);
            p[IT_LP_O_B] = it__model_param(ctx, "h.%d.attn.c_proj.bias", l, 1, C, 0);
            p[IT_LP_MLP_NORM] = it__model_param(ctx, "h.%d.ln_2.weight", l, 1, C, 0);
            p[IT_LP_MLP_NORM_B] = it__model_param(ctx, "h.%d.ln_2.bias", l, 1, C, 0);
            p[IT_LP_UP] = it__model_param(ctx, "h.%d.mlp.c_fc.weight", l, 2, C, F);
            p[IT_LP_UP_B] = it__model_param(ctx, "h.%d.mlp.c_fc.bias", l, 1, F, 0);
            p[IT_LP_DOWN] = it__model_param(ctx, "h.%d.mlp.c_proj.weight", l, 2, F, C);
            p[IT_LP_DOWN_B] = it__model_param(ctx, "h.%d.mlp.c_proj.bias", l, 1, C, 0);
        }
        m->final_norm = it__model_param(ctx, "ln_f.weight", 0, 1, C, 0);
        m->final_norm_bias = it__model_param(ctx, "ln_f.bias", 0, 1, C, 0);
        m->head = c.untied ? it__model_param(ctx, "lm_head.weight", 0, 2, c.vocab_size, C) : m->embed;
    }
    if (it__own(ctx, m, (void (*)(void *))it_model_destroy, "it_model_create") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    *out = m;
    return IT_OK;
}
IT_API void it_model_destroy(it_model *m) {
    if (!m) return;
    it__disown(m->ctx, m);
    it__free(m->ctx, m->layer_params);
    it__free(m->ctx, m);
}
IT_API void it_model_set_recompute_layers(it_model *m, int on) { m->recompute_layers = on != 0; }
IT_API it_result it_model_init(it_model *m, uint64_t seed) {
    it_context *ctx = m->ctx;
    int l, i;
    float residual_scale = 1.0f / sqrtf(2.0f * (float)m->config.n_layers);
    it_result r = it_param_init_normal(ctx, 0.02f, seed);
    if (r != IT_OK) return r;
    for (l = 0; l < m->config.n_layers; l++) {
        it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
        size_t j;
        for (i = 0; i < IT_MODEL_LAYER_PARAMS; i++) {
            if (!p[i]) continue;
            if (i == IT_LP_O || i == IT_LP_DOWN) /* residual projections: keep the stream's variance flat */
                for (j = 0; j < p[i]->numel; j++) it_data(p[i])[j] *= residual_scale;
            else if (i == IT_LP_ATTN_NORM || i == IT_LP_MLP_NORM || i == IT_LP_Q_NORM || i == IT_LP_K_NORM)
                it_param_fill(p[i], 1.0f);
            else if (p[i]->ndim == 1)
                it_param_fill(p[i], 0.0f); /* biases */
        }
    }
    it_param_fill(m->final_norm, 1.0f);
    if (m->final_norm_bias) it_param_fill(m->final_norm_bias, 0.0f);
    return IT_OK;
}

/* y = x W^T for Llama's [out, in] weights, y = x W + b for GPT-2's [in, out] Conv1D weights. */
static it_tensor *it__linear(it_graph *g, const it_model *m, it_tensor *x, it_tensor *w, it_tensor *b) {
    it_tensor *y = it_matmul(g, x, w, 0, m->config.arch == IT_ARCH_LLAMA);
    return b ? it_add(g, y, b) : y;
}
static it_tensor *it__model_body(it_model *m, it_graph *g, it_tensor *tokens, it_tensor *positions, int B, int T) {
    const it_model_config *c = &m->config;
    int l, hd = it_model_head_dim(c);
    int qdims[4], kvdims[4], flat[3];
    it_tensor *x = it_embedding(g, m->embed, tokens);
    qdims[0] = kvdims[0] = flat[0] = B;
    qdims[1] = kvdims[1] = flat[1] = T;
    qdims[2] = c->n_heads;
    kvdims[2] = c->n_kv_heads;
    qdims[3] = kvdims[3] = hd;
    flat[2] = c->n_heads * hd;
    if (positions) x = it_add(g, x, it_embedding(g, m->pos_embed, positions));
    for (l = 0; l < c->n_layers; l++) {
        it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS, *h, *q, *k, *v, *a;
        int llama = c->arch == IT_ARCH_LLAMA;
        if (m->recompute_layers) it_graph_checkpoint_begin(g);
        h = llama ? it_rmsnorm(g, x, p[IT_LP_ATTN_NORM], c->norm_eps)
                  : it_layernorm(g, x, p[IT_LP_ATTN_NORM], p[IT_LP_ATTN_NORM_B], c->norm_eps);
        q = it_reshape(g, it__linear(g, m, h, p[IT_LP_Q], p[IT_LP_Q_B]), 4, qdims);
        k = it_reshape(g, it__linear(g, m, h, p[IT_LP_K], p[IT_LP_K_B]), 4, kvdims);
        v = it_reshape(g, it__linear(g, m, h, p[IT_LP_V], p[IT_LP_V_B]), 4, kvdims);
        if (c->qk_norm) { /* Qwen3: each head's q and k normalised over its own D values */
            q = it_rmsnorm(g, q, p[IT_LP_Q_NORM], c->norm_eps);
            k = it_rmsnorm(g, k, p[IT_LP_K_NORM], c->norm_eps);
        }
        if (llama) {
            q = it_rope_scaled(g, q, c->rope_theta, &c->rope_scaling, 0);
            k = it_rope_scaled(g, k, c->rope_theta, &c->rope_scaling, 0);
        }
        a = it_reshape(g, it_attention_window(g, q, k, v, c->sliding_window), 3, flat);
        x = it_add(g, x, it__linear(g, m, a, p[IT_LP_O], p[IT_LP_O_B]));
        if (llama) {
            h = it_rmsnorm(g, x, p[IT_LP_MLP_NORM], c->norm_eps);
            h = it_swiglu(g, it__linear(g, m, h, p[IT_LP_GATE], p[IT_LP_GATE_B]), it__linear(g, m, h, p[IT_LP_UP], p[IT_LP_UP_B]));
        } else {
            h = it_layernorm(g, x, p[IT_LP_MLP_NORM], p[IT_LP_MLP_NORM_B], c->norm_eps);
            h = it_gelu(g, it__linear(g, m, h, p[IT_LP_UP], p[IT_LP_UP_B]));
        }
        x = it_add(g, x, it__linear(g, m, h, p[IT_LP_DOWN], p[IT_LP_DOWN_B]));
        if (m->recompute_layers) it_graph_checkpoint_end(g);
    }
    return c->arch == IT_ARCH_LLAMA ? it_rmsnorm(g, x, m->final_norm, c->norm_eps)
                                    : it_layernorm(g, x, m->final_norm, m->final_norm_bias, c->norm_eps);
}
IT_API it_result it_model_graph_create(it_model *m, it_graph_purpose purpose, int batch, int seq,
                                       it_model_graph *out) {
    it_context *ctx = m->ctx;
    it_tensor *positions = NULL, *x;
    int dims[2], t, b;
    it_result r;
    memset(out, 0, sizeof *out);
    if (batch < 1 || seq < 1 || seq > m->config.max_seq)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                "model graph: batch %d and seq %d must be >= 1, and seq at most max-seq %d", batch, seq,
                                m->config.max_seq);
    if (purpose <= IT_PURPOSE_INVALID || purpose >= IT_PURPOSE_COUNT)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "model graph: unknown purpose %d", (int)purpose);
    out->model = m;
    out->batch = batch;
    out->seq = seq;
    out->graph = it_graph_create(ctx);
    dims[0] = batch;
    dims[1] = seq;
    out->tokens = it_input(out->graph, "tokens", IT_I32, 2, dims);
    if (m->config.arch == IT_ARCH_GPT2) positions = it_input(out->graph, "positions", IT_I32, 2, dims);
    x = it__model_body(m, out->graph, out->tokens, positions, batch, seq);
    if (purpose == IT_PURPOSE_LOGITS) {
        out->logits = it_keep(it_name(it_matmul(out->graph, x, m->head, 0, 1), "logits"));
    } else {
        out->targets = it_input(out->graph, "targets", IT_I32, 2, dims);
        out->loss = it_name(it_linear_cross_entropy(out->graph, x, m->head, out->targets, -1, 0), "loss");
        it_keep(out->loss);
        if (purpose == IT_PURPOSE_TRAIN) it_graph_backward(out->graph, out->loss);
    }
    if ((r = it_graph_plan(out->graph)) != IT_OK) {
        it_graph_destroy(out->graph);
        memset(out, 0, sizeof *out);
        return r;
    }
    if (positions) /* learned positions read 0..seq-1; filled once, inputs persist across runs */
        for (b = 0; b < batch; b++)
            for (t = 0; t < seq; t++) it_data_i32(positions)[b * seq + t] = t;
    return IT_OK;
}
IT_API void it_model_graph_destroy(it_model_graph *mg) {
    if (mg && mg->graph) it_graph_destroy(mg->graph);
    if (mg) memset(mg, 0, sizeof *mg);
}

/* >>decoder -------------------------------------------------------------------------------------
   KV-cache generation. Per layer the cache holds k (after RoPE) and v for every position so far,
   [max_seq, Hkv, D]. A call runs the n new rows through the same kernels as the graph (SGEMM for
   the projections, the reference norm / rope / activation kernels) and attends each new query to
   the cached keys up to its own position. Only the last row goes through the head. */
struct it_decoder {
    it_context *ctx; /* owner (the model's): released with it */
    it_model *model;
    int max_seq, pos;
    float *kcache, *vcache;                    /* [n_layers, max_seq, Hkv * D] */
    float *x, *h, *q, *k, *v, *att, *f1, *f2;  /* [max_seq, ...] work rows */
    float *stat0, *stat1, *scores, *logits;    /* [max_seq * heads], [max_seq], [max_seq], [vocab] */
};
IT_API it_result it_decoder_create(it_model *m, int max_seq, it_decoder **out) {
    it_context *ctx = m->ctx;
    const it_model_config *c = &m->config;
    size_t S, C = (size_t)c->dim, hd = (size_t)it_model_head_dim(c), Q = hd * (size_t)c->n_heads;
    size_t KV = hd * (size_t)c->n_kv_heads, F = (size_t)c->ffn_dim, L = (size_t)c->n_layers, total, off = 0;
    it_decoder *d;
    float *block;
    *out = NULL;
    if (max_seq <= 0 || max_seq > c->max_seq) max_seq = c->max_seq;
    if (!ctx->param_block) {
        it_result r = it_params_alloc(ctx);
        if (r != IT_OK) return r;
    }
    S = (size_t)max_seq;
    total = 2 * L * S * KV + S * (2 * C + 2 * Q + 2 * KV + 2 * F) + S * ((size_t)c->n_heads + 2) + (size_t)c->vocab_size + 16 * 14;
    d = (it_decoder *)it__calloc(ctx, sizeof(it_decoder));
    block = (float *)it__alloc(ctx, total * sizeof(float));
    if (!d || !block) {
        it__free(ctx, d);
        it__free(ctx, block);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_decoder_create: cannot allocate %zu bytes", total * 4);
    }
#define IT__DEC_TAKE(field, count) (d->field = block + off, off += IT__ALIGN_UP((size_t)(count), 16))
    IT__DEC_TAKE(kcache, L * S * KV);
    IT__DEC_TAKE(vcache, L * S * KV);
    IT__DEC_TAKE(x, S * C);
    IT__DEC_TAKE(h, S * C);
    IT__DEC_TAKE(q, S * Q);
    IT__DEC_TAKE(att, S * Q);
    IT__DEC_TAKE(k, S * KV);
    IT__DEC_TAKE(v, S * KV);
    IT__DEC_TAKE(f1, S * F);
    IT__DEC_TAKE(f2, S * F);
    IT__DEC_TAKE(stat0, S * (size_t)c->n_heads); /* per row, or per row and head (q/k norms) */
    IT__DEC_TAKE(stat1, S);
    IT__DEC_TAKE(scores, S);
    IT__DEC_TAKE(logits, c->vocab_size);
#undef IT__DEC_TAKE
    IT_ASSERT(off <= total);
    d->ctx = ctx;
    d->model = m;
    d->max_seq = max_seq;
    if (it__own(ctx, d, (void (*)(void *))it_decoder_destroy, "it_decoder_create") != IT_OK)
        return IT_ERR_OUT_OF_MEMORY;
    *out = d;
    return IT_OK;
}
IT_API void it_decoder_destroy(it_decoder *d) {
    if (!d) return;
    it__disown(d->ctx, d);
    it__free(d->ctx, d->kcache); /* the start of the one block */
    it__free(d->ctx, d);
}
IT_API void it_decoder_reset(it_decoder *d) { d->pos = 0; }
IT_API int it_decoder_pos(const it_decoder *d) { return d->pos; }
IT_API int it_decoder_vocab(const it_decoder *d) { return d->model->config.vocab_size; }

/* out [n, Hq, D] for queries at positions p0 .. p0 + n - 1 against cached k, v [p0 + n, Hkv, D].
   Per query and head: the scores q K^T and the weighted sum of values through the SGEMM with the
   cache's row stride (as flash attention does), the softmax through the vector max and exp. */
static void it__decoder_attention(const it__scratch *sc, float *out, float *scores, const float *q, const float *k,
                                  const float *v, int n, int p0, int Hq, int Hkv, int D, int window) {
    it__sgemm_isa g = it__sgemm_pick_isa();
    int t, h, d, group = Hq / Hkv;
    ptrdiff_t ld = (ptrdiff_t)Hkv * D; /* between one cached position and the next */
    float scale = 1.0f / sqrtf((float)D);
    for (t = 0; t < n; t++)
        for (h = 0; h < Hq; h++) {
            const float *qt = q + ((size_t)t * Hq + h) * D, *kh = k + (size_t)(h / group) * D, *vh = v + (size_t)(h / group) * D;
            float *ot = out + ((size_t)t * Hq + h) * D, m, inv_sum;
            int first = it__attention_first_key(p0 + t, window), len = p0 + t + 1 - first; /* keys first .. p0 + t */
            kh += (ptrdiff_t)first * ld;
            vh += (ptrdiff_t)first * ld;
            it__fa_gemm(&g, sc, scores, len, qt, D, 1, kh, 1, ld, 1, len, D, 0); /* scores [1, len] = q K^T */
            m = it__vmax(scores, len);
            inv_sum = 1.0f / it__vexp(scores, scores, len, scale, m * scale, 1.0f); /* exp(scale (s - max)) */
            it__fa_gemm(&g, sc, ot, D, scores, len, 1, vh, ld, 1, 1, D, len, 0); /* out [1, D] = p V */
            for (d = 0; d < D; d++) ot[d] *= inv_sum;
        }
}
/* y [n, out] = x [n, in] @ W (Llama's [out, in] weights: transposed; GPT-2's [in, out]: not) + b */
static void it__decoder_linear(it_decoder *d, float *y, const float *x, it_tensor *w, it_tensor *b, int n) {
    int llama = d->model->config.arch == IT_ARCH_LLAMA, i;
    int out_dim = llama ? w->dims[0] : w->dims[1], in_dim = llama ? w->dims[1] : w->dims[0];
    it__gemm(d->model->ctx, y, x, it_data(w), n, out_dim, in_dim, 0, llama, 0);
    if (b)
        for (i = 0; i < n; i++) it_cpu_add_forward(y + (size_t)i * out_dim, y + (size_t)i * out_dim, it_data(b), (size_t)out_dim);
}
static void it__decoder_norm(it_decoder *d, float *out, const float *x, it_tensor *w, it_tensor *b, int n) {
    const it_model_config *c = &d->model->config;
    if (c->arch == IT_ARCH_LLAMA) it_cpu_rmsnorm_forward(out, d->stat0, x, it_data(w), n, c->dim, c->norm_eps);
    else it_cpu_layernorm_forward(out, d->stat0, d->stat1, x, it_data(w), b ? it_data(b) : NULL, n, c->dim, c->norm_eps);
}
IT_API it_result it_decoder_feed(it_decoder *d, const int32_t *tokens, int n, const float **logits) {
    it_model *m = d->model;
    const it_model_config *c = &m->config;
    int C = c->dim, hd = it_model_head_dim(c), KV = hd * c->n_kv_heads, F = c->ffn_dim, p0 = d->pos, i, l;
    int llama = c->arch == IT_ARCH_LLAMA;
    if (n < 1 || p0 + n > d->max_seq)
        return it_context_error(m->ctx, IT_ERR_RANGE, "it_decoder_feed: %d tokens at position %d exceed max_seq %d", n, p0,
                                d->max_seq);
    it__sync(m->ctx); /* the decoder reads the parameters on the CPU */
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return it_context_error(m->ctx, IT_ERR_RANGE, "it_decoder_feed: token %ld at %d is outside [0, %d)",
                                    (long)tokens[i], i, c->vocab_size);
    it_cpu_embedding_forward(d->x, tokens, it_data(m->embed), n, C, c->vocab_size);
    if (!llama)
        for (i = 0; i < n; i++) it_cpu_add_forward(d->x + (size_t)i * C, d->x + (size_t)i * C, it_data(m->pos_embed) + (size_t)(p0 + i) * C, (size_t)C);
    for (l = 0; l < c->n_layers; l++) {
        it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
        float *kc = d->kcache + (size_t)l * d->max_seq * KV, *vc = d->vcache + (size_t)l * d->max_seq * KV;
        size_t rows = (size_t)n * C;
        it__decoder_norm(d, d->h, d->x, p[IT_LP_ATTN_NORM], p[IT_LP_ATTN_NORM_B], n);
        it__decoder_linear(d, d->q, d->h, p[IT_LP_Q], p[IT_LP_Q_B], n);
        it__decoder_linear(d, kc + (size_t)p0 * KV, d->h, p[IT_LP_K], p[IT_LP_K_B], n);
        it__decoder_linear(d, vc + (size_t)p0 * KV, d->h, p[IT_LP_V], p[IT_LP_V_B], n);
        if (c->qk_norm) { /* per head: n * heads rows of hd values */
            it_cpu_rmsnorm_forward(d->q, d->stat0, d->q, it_data(p[IT_LP_Q_NORM]), n * c->n_heads, hd, c->norm_eps);
            it_cpu_rmsnorm_forward(kc + (size_t)p0 * KV, d->stat0, kc + (size_t)p0 * KV, it_data(p[IT_LP_K_NORM]),
                                   n * c->n_kv_heads, hd, c->norm_eps);
        }
        if (llama) {
            it_cpu_rope_forward(d->q, d->q, 1, n, c->n_heads, hd, c->rope_theta, &c->rope_scaling, p0);
            it_cpu_rope_forward(kc + (size_t)p0 * KV, kc + (size_t)p0 * KV, 1, n, c->n_kv_heads, hd, c->rope_theta,
                                &c->rope_scaling, p0);
        }
        it__decoder_attention(&m->ctx->scratch[0], d->att, d->scores, d->q, kc, vc, n, p0, c->n_heads, c->n_kv_heads,
                              hd, c->sliding_window); /* on the calling thread: worker 0's scratch */
        it__decoder_linear(d, d->h, d->att, p[IT_LP_O], p[IT_LP_O_B], n);
        it_cpu_add_forward(d->x, d->x, d->h, rows);
        it__decoder_norm(d, d->h, d->x, p[IT_LP_MLP_NORM], p[IT_LP_MLP_NORM_B], n);
        if (llama) {
            it__decoder_linear(d, d->f1, d->h, p[IT_LP_GATE], p[IT_LP_GATE_B], n);
            it__decoder_linear(d, d->f2, d->h, p[IT_LP_UP], p[IT_LP_UP_B], n);
            it__swiglu_forward_fast(d->f1, d->f1, d->f2, (size_t)n * F);
        } else {
            it__decoder_linear(d, d->f2, d->h, p[IT_LP_UP], p[IT_LP_UP_B], n);
            it_cpu_gelu_forward(d->f1, d->f2, (size_t)n * F);
        }
        it__decoder_linear(d, d->h, d->f1, p[IT_LP_DOWN], p[IT_LP_DOWN_B], n);
        it_cpu_add_forward(d->x, d->x, d->h, rows);
    }
    {
        const float *last = d->x + (size_t)(n - 1) * C;
        it__decoder_norm(d, d->h, last, m->final_norm, m->final_norm_bias, 1);
        it__gemm(m->ctx, d->logits, d->h, it_data(m->head), 1, c->vocab_size, C, 0, 1, 0);
    }
    d->pos = p0 + n;
    *logits = d->logits;
    return IT_OK;
}

/* >>optimizers ---------------------------------------------------------------------------------- */
IT_API const char *it_optimizer_name(it_optimizer_kind k) {
    switch (k) {
#define IT__OPTIMIZER_CASE(name, text) case name: return text;
        IT_OPTIMIZER_LIST(IT__OPTIMIZER_CASE)
#undef IT__OPTIMIZER_CASE
    default: return "invalid";
    }
}
IT_API it_result it_optimizer_parse(const char *name, it_optimizer_kind *out) {
    int k;
    for (k = 1; k < IT_OPTIMIZER_COUNT; k++)
        if (name && strcmp(name, it_optimizer_name((it_optimizer_kind)k)) == 0) {
            *out = (it_optimizer_kind)k;
            return IT_OK;
        }
    return IT_ERR_INVALID_ARGUMENT;
}
/* Every default of it_optimizer_desc in one place: kind 0 = AdamW, betas 0 = the optimizer's own
   (Lion 0.9/0.99, AdamW 0.9/0.999), eps 0 = 1e-8. The optimizer keeps the resolved desc. */
static it_optimizer_desc it__optimizer_desc_defaults(const it_optimizer_desc *desc) {
    it_optimizer_desc d = *desc;
    if (!d.kind) d.kind = IT_OPTIMIZER_ADAMW;
    if (!d.beta1) d.beta1 = 0.9f;
    if (!d.beta2) d.beta2 = d.kind == IT_OPTIMIZER_LION ? 0.99f : 0.999f;
    if (!d.eps) d.eps = 1e-8f;
    return d;
}
IT_API it_result it_optimizer_create(it_context *ctx, const it_optimizer_desc *desc, it_optimizer **out) {
    it_optimizer *opt;
    it_optimizer_desc d = it__optimizer_desc_defaults(desc);
    it_result r;
    *out = NULL;
    if (d.kind <= IT_OPTIMIZER_INVALID || d.kind >= IT_OPTIMIZER_COUNT)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "optimizer: unknown kind %d", (int)d.kind);
    if (d.beta1 < 0 || d.beta1 >= 1 || d.beta2 < 0 || d.beta2 >= 1 || d.weight_decay < 0 || d.clip_norm < 0 ||
        d.momentum < 0 || d.momentum >= 1)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                "optimizer: betas and momentum must be in [0, 1), weight decay and clip >= 0");
    if ((r = it_grads_alloc(ctx)) != IT_OK) return r;
    opt = (it_optimizer *)it__calloc(ctx, sizeof(it_optimizer));
    if (!opt) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "optimizer: out of memory");
    opt->ctx = ctx;
    opt->desc = d;
    opt->state_numel = ctx->grad_numel * (d.kind == IT_OPTIMIZER_ADAMW ? 2 : 1); /* laid out like the gradients */
    opt->state = (float *)ctx->backend->buffer_create(ctx->backend, IT__MAX(opt->state_numel, 1) * sizeof(float));
    if (!opt->state) {
        it__free(ctx, opt);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "optimizer: cannot allocate %zu bytes of state",
                                opt->state_numel * sizeof(float));
    }
    memset(opt->state, 0, IT__MAX(opt->state_numel, 1) * sizeof(float));
    if (it__own(ctx, opt, (void (*)(void *))it_optimizer_destroy, "optimizer") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    *out = opt;
    return IT_OK;
}
IT_API void it_optimizer_destroy(it_optimizer *opt) {
    if (!opt) return;
    it__disown(opt->ctx, opt);
    opt->ctx->backend->buffer_free(opt->ctx->backend, opt->state);
    it__free(opt->ctx, opt);
}
IT_API float it_optimizer_param_decay(const it_optimizer *opt, const it_tensor *param) {
    return (param->ndim >= 2 || opt->desc.decay_vectors) ? opt->desc.weight_decay : 0.0f;
}
IT_API it_result it_optimizer_check_norm(it_optimizer *opt, double norm) {
    if (isfinite(norm)) return IT_OK;
    return it_context_error(opt->ctx, IT_ERR_RANGE, "optimizer: gradient norm is %g (diverged); update skipped", norm);
}
/* The update is elementwise, so the pool splits the flat gradient block (the state is laid out
   like it); each worker walks the trainable parameters whose gradients overlap its share, so
   weight decay can differ per parameter. Frozen parameters have no gradient and stay untouched. */
typedef struct it__optim_job { it_optimizer *opt; float lr, scale; } it__optim_job;
static void it__optim_part(void *arg, int part, int n_parts) {
    it__optim_job *job = (it__optim_job *)arg;
    it_optimizer *opt = job->opt;
    it_context *ctx = opt->ctx;
    const it_optimizer_desc *d = &opt->desc;
    size_t begin, end, total = ctx->grad_numel;
    int i;
    it__split(total, part, n_parts, &begin, &end);
    for (i = 0; i < ctx->n_params; i++) {
        it_tensor *p = ctx->params[i];
        float wd = it_optimizer_param_decay(opt, p), *w, *m;
        const float *gr;
        size_t g0, g1, lo, hi;
        if (!p->grad) continue;
        g0 = p->grad->offset / sizeof(float), g1 = g0 + p->numel, lo = IT__MAX(g0, begin), hi = IT__MIN(g1, end);
        if (lo >= hi) continue;
        w = ctx->param_block + p->offset / sizeof(float) + (lo - g0);
        m = opt->state + lo;
        gr = ctx->grad_block + lo;
        switch (d->kind) {
        case IT_OPTIMIZER_LION: it__lion_fast(w, m, gr, hi - lo, job->lr, d->beta1, d->beta2, wd, job->scale); break;
        case IT_OPTIMIZER_ADAMW:
            it_cpu_adamw_update(w, m, opt->state + total + lo, gr, hi - lo, job->lr, d->beta1, d->beta2, d->eps, wd,
                                opt->step, job->scale);
            break;
        case IT_OPTIMIZER_SGD: it_cpu_sgd_update(w, m, gr, hi - lo, job->lr, d->momentum, wd, job->scale); break;
        default: IT_ASSERT(0);
        }
    }
}
IT_API it_result it_optimizer_step(it_optimizer *opt, float lr, float grad_scale, float *grad_norm) {
    it_context *ctx = opt->ctx;
    it__optim_job job;
    double norm = 0.0;
    int i;
    it_result r;
    if (!(lr >= 0.0f && lr <= FLT_MAX) || !(grad_scale >= 0.0f && grad_scale <= FLT_MAX)) /* NaN fails both */
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "optimizer: lr %g and grad_scale %g must be finite and >= 0; "
                                "update skipped", (double)lr, (double)grad_scale);
    if (ctx->backend->optimizer_step) { /* the device does it all, in its own queue */
        opt->step++;
        r = ctx->backend->optimizer_step(ctx->backend, opt, lr, grad_scale, grad_norm);
        if (r != IT_OK) opt->step--;
        return r;
    }
    it__sync(ctx);
    if (opt->desc.clip_norm > 0.0f || grad_norm) {
        for (i = 0; i < ctx->n_params; i++) /* per parameter, fixed order: independent of threads */
            if (ctx->params[i]->grad) norm += it_cpu_sum_squares(it_grad(ctx->params[i]), ctx->params[i]->numel);
        norm = sqrt(norm) * grad_scale;
        if ((r = it_optimizer_check_norm(opt, norm)) != IT_OK) return r;
    }
    if (grad_norm) *grad_norm = (float)norm;
    job.opt = opt;
    job.lr = lr;
    job.scale = grad_scale;
    if (opt->desc.clip_norm > 0.0f && norm > opt->desc.clip_norm) job.scale *= (float)(opt->desc.clip_norm / norm);
    opt->step++;
    it__pool_run(&ctx->pool, it__optim_part, &job, ctx->grad_numel < IT__OPTIMIZER_PARALLEL_MIN ? 1 : ctx->n_threads);
    return IT_OK;
}

/* >>io  every file the library reads or writes goes through here --------------------------------
   Reading: it__io_read_file opens with O_NONBLOCK (open() of a FIFO would otherwise block until a
   writer appears, and read() after it), accepts only regular files (fstat), caps the size, and
   reads the whole file into one buffer with a spare zero byte. Errors name the file's role, its
   path and what is wrong ("is a FIFO, not a regular file").
   Writing: a file is created, written, fsynced and closed (it__io_create .. it__io_close_synced),
   then published with it__io_publish: rename over the final name and fsync of the parent directory,
   so after a crash the name holds either the old contents or the new, never a torn file. The
   tokenizer save publishes one file; the checkpoint writer publishes a whole directory the same way. */

/* What a non-regular file is, for messages. */
static const char *it__io_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
#ifdef S_ISSOCK
    if (S_ISSOCK(mode)) return "a socket";
#endif
    return "not a regular file";
}
/* Opens a regular file for reading without ever blocking. *size is its size; *missing (optional)
   is set when the file does not exist, so the caller can decide whether that is an error. */
static it_result it__io_open_regular(it_context *ctx, const char *path, const char *what, int *out_fd, uint64_t *size,
                                     int *missing) {
    struct stat st;
    int fd;
    *out_fd = -1;
    *size = 0;
    if (missing) *missing = 0;
    if (!path || !path[0]) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "%s: no path given", what);
    do fd = open(path, O_RDONLY | O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ENOENT && missing) *missing = 1;
        return it_context_error(ctx, IT_ERR_IO, "%s '%s': cannot open: %s", what, path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return it_context_error(ctx, IT_ERR_IO, "%s '%s': cannot stat: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return it_context_error(ctx, IT_ERR_IO, "%s '%s' is %s, not a regular file", what, path, it__io_kind(st.st_mode));
    }
    *out_fd = fd;
    *size = (uint64_t)st.st_size;
    return IT_OK;
}
/* Reads exactly n bytes (or to end of file: *got says how many came). -1 with errno on error. */
static int it__io_read_all(int fd, void *p, size_t n, size_t *got) {
    unsigned char *b = (unsigned char *)p;
    *got = 0;
    while (*got < n) {
        ssize_t k = read(fd, b + *got, n - *got);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        *got += (size_t)k;
    }
    return 0;
}
/* The whole regular file `path` of at most max_bytes (0 = no cap beyond what memory can hold) into
   a fresh buffer from ctx's allocator with one spare zero byte (so it is never empty and text is
   terminated). `what` names the file's role in messages ("tokenizer file", "data file"). */
static it_result it__io_read_file(it_context *ctx, const char *path, const char *what, size_t max_bytes,
                                  unsigned char **out, size_t *out_n, int *missing) {
    unsigned char *buf;
    uint64_t size;
    size_t got;
    int fd;
    it_result r = it__io_open_regular(ctx, path, what, &fd, &size, missing);
    *out = NULL;
    *out_n = 0;
    if (r != IT_OK) return r;
    if (size >= (uint64_t)((size_t)-1 / 2) || (max_bytes && size > (uint64_t)max_bytes)) {
        close(fd);
        if (max_bytes && size > (uint64_t)max_bytes)
            return it_context_error(ctx, IT_ERR_FORMAT, "%s '%s' is %llu bytes, larger than the %llu allowed", what, path,
                                    (unsigned long long)size, (unsigned long long)max_bytes);
        return it_context_error(ctx, IT_ERR_FORMAT, "%s '%s' is too large (%llu bytes)", what, path,
                                (unsigned long long)size);
    }
    buf = (unsigned char *)it__alloc(ctx, (size_t)size + 1);
    if (!buf) {
        close(fd);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s '%s': cannot allocate %llu bytes", what, path,
                                (unsigned long long)size);
    }
    if (it__io_read_all(fd, buf, (size_t)size, &got) != 0 || got != (size_t)size) {
        int e = errno;
        it__free(ctx, buf);
        close(fd);
        return it_context_error(ctx, IT_ERR_IO, "%s '%s': read failed after %llu of %llu bytes: %s", what, path,
                                (unsigned long long)got, (unsigned long long)size,
                                got != (size_t)size && e == 0 ? "the file shrank" : strerror(e));
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *out_n = got;
    return IT_OK;
}

/* dir + "/" + file into out; -1 (and "" in out) when it does not fit. */
static int it__path_join(char *out, size_t size, const char *dir, const char *file) {
    size_t a = strlen(dir), b = strlen(file);
    if (a + b + 2 > size) {
        if (size) out[0] = 0;
        return -1;
    }
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, file, b + 1);
    return 0;
}
/* The directory holding `path` ("." for a bare name, "/" for "/x"); -1 when it does not fit. */
static int it__io_parent(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0) n = 1;
    if (n + 1 > size) return -1;
    memcpy(out, slash ? path : ".", n);
    out[n] = 0;
    return 0;
}
static int it__write_all(int fd, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}
/* fsync of a file or a directory by name (a directory's fsync makes the names in it durable). */
static int it__fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK), rc;
    if (fd < 0) return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}
/* Creates (or truncates) `path` for writing. */
static it_result it__io_create(it_context *ctx, const char *path, int *out_fd) {
    int fd;
    do fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    while (fd < 0 && errno == EINTR);
    *out_fd = fd;
    if (fd < 0) return it_context_error(ctx, IT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return IT_OK;
}
/* fsync + close of a file written through it__io_create; `write_failed` reports an earlier write
   error (errno still set) so every writer ends the same way. */
static it_result it__io_close_synced(it_context *ctx, const char *path, int fd, int write_failed) {
    int e;
    if (write_failed || fsync(fd) != 0) {
        e = errno;
        close(fd);
        return it_context_error(ctx, IT_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    if (close(fd) != 0) return it_context_error(ctx, IT_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return IT_OK;
}
/* One whole file, fsynced (the pieces of a checkpoint's temporary directory). */
static it_result it__write_file(it_context *ctx, const char *path, const void *data, size_t n) {
    int fd;
    it_result r = it__io_create(ctx, path, &fd);
    if (r != IT_OK) return r;
    return it__io_close_synced(ctx, path, fd, it__write_all(fd, data, n) != 0);
}
/* Publishes a finished temporary file or directory under its final name: fsync of `tmp`, rename,
   fsync of the parent directory so the rename itself survives a crash. */
static it_result it__io_publish(it_context *ctx, const char *tmp, const char *final_path) {
    char parent[IT__PATH_MAX];
    if (it__fsync_path(tmp) != 0) return it_context_error(ctx, IT_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (rename(tmp, final_path) != 0)
        return it_context_error(ctx, IT_ERR_IO, "%s: cannot rename %s into place: %s", final_path, tmp, strerror(errno));
    if (it__io_parent(final_path, parent, sizeof parent) != 0 || it__fsync_path(parent) != 0)
        return it_context_error(ctx, IT_ERR_IO, "%s: fsync of its directory failed: %s", final_path, strerror(errno));
    return IT_OK;
}
/* `path.tmp-<pid>` for an atomic write of `path`; -1 when it does not fit. */
static int it__io_tmp_name(const char *path, char *out, size_t size) {
    int n = snprintf(out, size, "%s.tmp-%ld", path, (long)getpid());
    return n < 0 || (size_t)n >= size ? -1 : 0;
}
/* Writes one whole file atomically: path.tmp-<pid>, fsync, rename over `path`, fsync of the parent. */
static it_result it__io_write_atomic(it_context *ctx, const char *path, const char *what, const void *data, size_t n) {
    char tmp[IT__PATH_NAMED];
    it_result r;
    if (!path || !path[0]) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "%s: no path given", what);
    if (it__io_tmp_name(path, tmp, sizeof tmp) != 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "%s '%s': path too long", what, path);
    r = it__write_file(ctx, tmp, data, n);
    if (r == IT_OK) r = it__io_publish(ctx, tmp, path);
    if (r != IT_OK) unlink(tmp); /* the message already names the file and the reason */
    return r;
}

/* >>tokenizers >>token_files >>dataset >>schedules ------------------------------------------------
   Training utilities. Needs <errno.h> (strerror(errno) in file errors) besides the headers the
   implementation already includes. */

static void it__data_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static uint32_t it__data_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* >>crc32 ---------------------------------------------------------------------------------------
   CRC-32 as zlib.crc32 (reflected 0xEDB88320), slicing by 8. The table lives with the caller (no
   global state, nothing to race on). */
typedef struct it__crc { uint32_t t[8][256]; } it__crc;
static void it__crc_init(it__crc *c) {
    unsigned i, k;
    for (i = 0; i < 256; i++) {
        uint32_t r = i;
        for (k = 0; k < 8; k++) r = (r >> 1) ^ (0xEDB88320u & (0u - (r & 1u)));
        c->t[0][i] = r;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++) c->t[k][i] = (c->t[k - 1][i] >> 8) ^ c->t[0][c->t[k - 1][i] & 0xFF];
}
static uint32_t it__crc_update(const it__crc *c, uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = c->t[7][a & 0xFF] ^ c->t[6][(a >> 8) & 0xFF] ^ c->t[5][(a >> 16) & 0xFF] ^ c->t[4][a >> 24] ^
              c->t[3][p[4]] ^ c->t[2][p[5]] ^ c->t[1][p[6]] ^ c->t[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ c->t[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}
/* One-shot CRC-32 of a buffer (tokenizer files), so a file can be checked from Python too. */
static uint32_t it__data_crc32(const uint8_t *p, size_t n) {
    it__crc table;
    it__crc_init(&table);
    return it__crc_update(&table, 0, p, n);
}

IT_API void it_ids_free(it_context *ctx, int32_t *ids) { it__free(ctx, ids); }

/* >>tokenizers ---------------------------------------------------------------------------------- */
struct it_tokenizer {
    it_context *ctx; /* owner: its allocator, released with it */
    int vocab;     /* 256 + n_merges */
    int n_merges;
    int32_t *merge_l, *merge_r; /* merge r makes token 256 + r from (merge_l[r], merge_r[r]) */
    uint32_t *tok_off;          /* [vocab] offsets into bytes */
    uint16_t *tok_len;          /* [vocab] */
    uint8_t *bytes;
    uint64_t *map_key; /* (left << 32 | right) -> rank, open addressing, map_val -1 = empty */
    int32_t *map_val;
    size_t map_mask;
};

#define IT__TOK_MAGIC 0x4B545449u /* "ITTK" read as little-endian */
#define IT__TOK_VERSION 1u
#define IT__TOK_SPLIT_RULE 1u
#define IT__TOK_HEADER 24u

/* Byte classes of the chunker. Bytes >= 0x80 count as letters: UTF-8 sequences (and invalid
   ones) stay inside words. */
enum { IT__TOK_LETTER = 1, IT__TOK_DIGIT, IT__TOK_SPACE, IT__TOK_PUNCT };
static int it__tok_class(uint8_t b) {
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80) return IT__TOK_LETTER;
    if (b >= '0' && b <= '9') return IT__TOK_DIGIT;
    if (b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f') return IT__TOK_SPACE;
    return IT__TOK_PUNCT;
}
/* Length of the chunk at s (n >= 1): " word", "word", " 123", " ,.", a whitespace run (less its
   last space when a word follows, GPT-2 style), each capped at IT_TOKENIZER_MAX_TOKEN_BYTES.
   No token crosses a chunk boundary, which bounds token length and keeps encoding local. */
static size_t it__tok_chunk(const uint8_t *s, size_t n) {
    size_t max = n < IT_TOKENIZER_MAX_TOKEN_BYTES ? n : IT_TOKENIZER_MAX_TOKEN_BYTES, i, lim;
    int c = it__tok_class(s[0]);
    if (s[0] == ' ' && max >= 2 && it__tok_class(s[1]) != IT__TOK_SPACE) {
        c = it__tok_class(s[1]);
        for (i = 2; i < max && it__tok_class(s[i]) == c; i++) {}
        return i;
    }
    if (c == IT__TOK_SPACE) { /* look one past the cap to know whether a word follows */
        lim = n < IT_TOKENIZER_MAX_TOKEN_BYTES + 1 ? n : IT_TOKENIZER_MAX_TOKEN_BYTES + 1;
        for (i = 1; i < lim && it__tok_class(s[i]) == IT__TOK_SPACE; i++) {}
        if (i > IT_TOKENIZER_MAX_TOKEN_BYTES) return IT_TOKENIZER_MAX_TOKEN_BYTES;
        if (i < n && i >= 2 && s[i - 1] == ' ') return i - 1;
        return i;
    }
    for (i = 1; i < max && it__tok_class(s[i]) == c; i++) {}
    return i;
}

static size_t it__tok_hash_pair(uint64_t key) { return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32); }
static uint64_t it__tok_pair_key(int32_t l, int32_t r) { return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r; }

static int32_t it__tok_rank(const it_tokenizer *t, int32_t l, int32_t r) {
    uint64_t key = it__tok_pair_key(l, r);
    size_t i = it__tok_hash_pair(key) & t->map_mask;
    while (t->map_val[i] >= 0) {
        if (t->map_key[i] == key) return t->map_val[i];
        i = (i + 1) & t->map_mask;
    }
    return -1;
}

IT_API void it_tokenizer_destroy(it_tokenizer *tok) {
    it_context *ctx;
    if (!tok) return;
    ctx = tok->ctx;
    it__disown(ctx, tok);
    it__free(ctx, tok->merge_l);
    it__free(ctx, tok->merge_r);
    it__free(ctx, tok->tok_off);
    it__free(ctx, tok->tok_len);
    it__free(ctx, tok->bytes);
    it__free(ctx, tok->map_key);
    it__free(ctx, tok->map_val);
    it__free(ctx, tok);
}

/* Builds a tokenizer from a merge list, validating it (the list may come from a hostile file):
   every merge uses earlier ids only, no pair twice, no token longer than the chunk limit.
   `origin` prefixes messages ("tokenizer file 'x'"). */
static it_result it__tok_build(it_context *ctx, const int32_t *ml, const int32_t *mr, int n_merges,
                               const char *origin, it_tokenizer **out) {
    it_tokenizer *t;
    size_t total = 256, cap = 16, off;
    int r, i;
    it_result res;
    *out = NULL;
    if (n_merges < 0 || n_merges > IT_TOKENIZER_MAX_VOCAB - 256)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: %d merges, more than the limit of %d", origin, n_merges,
                                IT_TOKENIZER_MAX_VOCAB - 256);
    t = (it_tokenizer *)it__alloc(ctx, sizeof(it_tokenizer));
    if (!t) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", origin);
    memset(t, 0, sizeof(*t));
    t->ctx = ctx;
    t->n_merges = n_merges;
    t->vocab = 256 + n_merges;
    while (cap < (size_t)n_merges * 2) cap *= 2;
    t->map_mask = cap - 1;
    t->merge_l = (int32_t *)it__alloc_array(ctx, (size_t)n_merges, sizeof(int32_t));
    t->merge_r = (int32_t *)it__alloc_array(ctx, (size_t)n_merges, sizeof(int32_t));
    t->tok_off = (uint32_t *)it__alloc_array(ctx, (size_t)t->vocab, sizeof(uint32_t));
    t->tok_len = (uint16_t *)it__alloc_array(ctx, (size_t)t->vocab, sizeof(uint16_t));
    t->map_key = (uint64_t *)it__alloc_array(ctx, cap, sizeof(uint64_t));
    t->map_val = (int32_t *)it__alloc_array(ctx, cap, sizeof(int32_t));
    if (!t->merge_l || !t->merge_r || !t->tok_off || !t->tok_len || !t->map_key || !t->map_val) goto oom;
    for (i = 0; i < (int)cap; i++) t->map_val[i] = -1;
    for (i = 0; i < 256; i++) t->tok_len[i] = 1;
    for (r = 0; r < n_merges; r++) {
        int32_t l = ml[r], rr = mr[r], id = 256 + r;
        uint64_t key;
        size_t h;
        if (l < 0 || l >= id || rr < 0 || rr >= id) {
            res = it_context_error(ctx, IT_ERR_FORMAT,
                                   "%s: merge %d joins ids %ld and %ld, but only ids below %d exist at that point",
                                   origin, r, (long)l, (long)rr, id);
            goto fail;
        }
        if ((size_t)t->tok_len[l] + t->tok_len[rr] > IT_TOKENIZER_MAX_TOKEN_BYTES) {
            res = it_context_error(ctx, IT_ERR_FORMAT, "%s: merge %d makes a token of %d bytes (limit %d)", origin, r,
                                   t->tok_len[l] + t->tok_len[rr], IT_TOKENIZER_MAX_TOKEN_BYTES);
            goto fail;
        }
        key = it__tok_pair_key(l, rr);
        for (h = it__tok_hash_pair(key) & t->map_mask; t->map_val[h] >= 0; h = (h + 1) & t->map_mask)
            if (t->map_key[h] == key) {
                res = it_context_error(ctx, IT_ERR_FORMAT, "%s: merge %d repeats the pair (%ld, %ld) of merge %ld",
                                       origin, r, (long)l, (long)rr, (long)t->map_val[h]);
                goto fail;
            }
        t->map_key[h] = key;
        t->map_val[h] = r;
        t->merge_l[r] = l;
        t->merge_r[r] = rr;
        t->tok_len[id] = (uint16_t)(t->tok_len[l] + t->tok_len[rr]);
        total += t->tok_len[id];
    }
    t->bytes = (uint8_t *)it__alloc(ctx, total);
    if (!t->bytes) goto oom;
    for (i = 0; i < 256; i++) {
        t->tok_off[i] = (uint32_t)i;
        t->bytes[i] = (uint8_t)i;
    }
    off = 256;
    for (r = 0; r < n_merges; r++) {
        int id = 256 + r;
        t->tok_off[id] = (uint32_t)off;
        memcpy(t->bytes + off, t->bytes + t->tok_off[ml[r]], t->tok_len[ml[r]]);
        memcpy(t->bytes + off + t->tok_len[ml[r]], t->bytes + t->tok_off[mr[r]], t->tok_len[mr[r]]);
        off += t->tok_len[id];
    }
    if (it__own(ctx, t, (void (*)(void *))it_tokenizer_destroy, "tokenizer") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    *out = t;
    return IT_OK;
oom:
    res = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory building a tokenizer of %d merges", origin,
                           n_merges);
fail:
    it_tokenizer_destroy(t);
    return res;
}

IT_API it_result it_tokenizer_byte(it_context *ctx, it_tokenizer **out) {
    return it__tok_build(ctx, NULL, NULL, 0, "byte tokenizer", out);
}
IT_API int it_tokenizer_vocab_size(const it_tokenizer *tok) { return tok->vocab; }

/* BPE training over the distinct chunks ("words") of the text, weighted by frequency. Pair
   counts are updated incrementally: merging (A, B) -> Z only visits the words listed under the
   pair, and only pairs next to an occurrence change. A max-heap keyed (count desc, left asc,
   right asc) holds the candidates lazily: counts of existing pairs only ever fall (new pairs
   always contain the new id Z and are pushed after each merge), so a popped entry whose count
   is stale is pushed back with its current count, and the first fresh entry is the true best. */
typedef struct it__bpe_pair {
    uint64_t key;
    int64_t count;
    int32_t *words; /* words that contained the pair when it was counted (may repeat, may be stale) */
    int32_t n_words, cap_words;
    int32_t stamp;  /* last merge that touched this pair as a new pair */
} it__bpe_pair;
typedef struct it__bpe_entry {
    int64_t count;
    int32_t pair;
} it__bpe_entry;
typedef struct it__bpe {
    it_context *ctx; /* whose allocator */
    it__bpe_pair *pairs;
    int32_t n_pairs, cap_pairs;
    int32_t *pmap; /* pair index or -1 */
    size_t pmask;
    it__bpe_entry *heap;
    size_t n_heap, cap_heap;
    int32_t *touched;
    size_t n_touched, cap_touched;
} it__bpe;

static int it__bpe_before(const it__bpe *b, it__bpe_entry x, it__bpe_entry y) {
    return x.count > y.count || (x.count == y.count && b->pairs[x.pair].key < b->pairs[y.pair].key);
}
static int it__bpe_push(it__bpe *b, int32_t pair, int64_t count) {
    size_t i;
    it__bpe_entry e;
    if (b->n_heap == b->cap_heap) {
        size_t cap = b->cap_heap ? b->cap_heap * 2 : 1024;
        it__bpe_entry *h = (it__bpe_entry *)it__realloc(b->ctx, b->heap, b->n_heap * sizeof(*h), cap * sizeof(*h));
        if (!h) return 0;
        b->heap = h;
        b->cap_heap = cap;
    }
    e.count = count;
    e.pair = pair;
    for (i = b->n_heap++; i > 0 && it__bpe_before(b, e, b->heap[(i - 1) / 2]); i = (i - 1) / 2)
        b->heap[i] = b->heap[(i - 1) / 2];
    b->heap[i] = e;
    return 1;
}
static it__bpe_entry it__bpe_pop(it__bpe *b) {
    it__bpe_entry top = b->heap[0], last = b->heap[--b->n_heap];
    size_t i = 0, n = b->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && it__bpe_before(b, b->heap[c + 1], b->heap[c])) c++;
        if (!it__bpe_before(b, b->heap[c], last)) break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (n) b->heap[i] = last;
    return top;
}
/* Index of pair (l, r), created (count 0) when `create`; -1 when absent, -2 out of memory. */
static int32_t it__bpe_find(it__bpe *b, int32_t l, int32_t r, int create) {
    uint64_t key = it__tok_pair_key(l, r);
    size_t i = it__tok_hash_pair(key) & b->pmask;
    it__bpe_pair *p;
    while (b->pmap[i] >= 0) {
        if (b->pairs[b->pmap[i]].key == key) return b->pmap[i];
        i = (i + 1) & b->pmask;
    }
    if (!create) return -1;
    if ((size_t)(b->n_pairs + 1) * 2 > b->pmask + 1) { /* keep the load under one half */
        size_t cap = (b->pmask + 1) * 2, j;
        int32_t *m = (int32_t *)it__alloc_array(b->ctx, cap, sizeof(int32_t)), k;
        if (!m) return -2;
        for (j = 0; j < cap; j++) m[j] = -1;
        for (k = 0; k < b->n_pairs; k++) {
            for (j = it__tok_hash_pair(b->pairs[k].key) & (cap - 1); m[j] >= 0; j = (j + 1) & (cap - 1)) {}
            m[j] = k;
        }
        it__free(b->ctx, b->pmap);
        b->pmap = m;
        b->pmask = cap - 1;
        for (i = it__tok_hash_pair(key) & b->pmask; b->pmap[i] >= 0; i = (i + 1) & b->pmask) {}
    }
    if (b->n_pairs == b->cap_pairs) {
        int32_t cap = b->cap_pairs ? b->cap_pairs * 2 : 4096;
        it__bpe_pair *np = (it__bpe_pair *)it__realloc(b->ctx, b->pairs, (size_t)b->n_pairs * sizeof(*np),
                                                           (size_t)cap * sizeof(*np));
        if (!np) return -2;
        b->pairs = np;
        b->cap_pairs = cap;
    }
    p = &b->pairs[b->n_pairs];
    memset(p, 0, sizeof(*p));
    p->key = key;
    p->stamp = -1;
    b->pmap[i] = b->n_pairs;
    return b->n_pairs++;
}
/* count(l, r) += delta; a positive delta also files word w under the pair. 0 = out of memory. */
static int it__bpe_add(it__bpe *b, int32_t l, int32_t r, int64_t delta, int32_t w, int32_t merge) {
    int32_t k = it__bpe_find(b, l, r, delta > 0);
    it__bpe_pair *p;
    if (k == -2) return 0;
    if (k < 0) return 1; /* cannot happen: a decrement always finds its pair */
    p = &b->pairs[k];
    p->count += delta;
    if (delta > 0 && (p->n_words == 0 || p->words[p->n_words - 1] != w)) {
        if (p->n_words == p->cap_words) {
            int32_t cap = p->cap_words ? p->cap_words * 2 : 4;
            int32_t *nw = (int32_t *)it__realloc(b->ctx, p->words, (size_t)p->n_words * sizeof(int32_t),
                                                      (size_t)cap * sizeof(int32_t));
            if (!nw) return 0;
            p->words = nw;
            p->cap_words = cap;
        }
        p->words[p->n_words++] = w;
    }
    if (merge >= 0 && delta > 0 && p->stamp != merge) {
        p->stamp = merge;
        if (b->n_touched == b->cap_touched) {
            size_t cap = b->cap_touched ? b->cap_touched * 2 : 256;
            int32_t *nt = (int32_t *)it__realloc(b->ctx, b->touched, b->n_touched * sizeof(int32_t),
                                                      cap * sizeof(int32_t));
            if (!nt) return 0;
            b->touched = nt;
            b->cap_touched = cap;
        }
        b->touched[b->n_touched++] = k;
    }
    return 1;
}

static size_t it__tok_hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 32));
}

IT_API it_result it_tokenizer_train_bpe(it_context *ctx, const uint8_t *text, size_t n, int vocab_size,
                                        it_tokenizer **out) {
    it__bpe b;
    size_t n_chunks = 0, pos, wcap = 16, i, total_syms = 0, n_words = 0;
    int32_t *wmap = NULL, *wlen = NULL, *sym = NULL, *ml = NULL, *mr = NULL;
    size_t *wstart = NULL, *woff = NULL;
    int64_t *wfreq = NULL;
    int n_target = vocab_size - 256, n_merges = 0;
    it_result res = IT_OK;
    *out = NULL;
    memset(&b, 0, sizeof(b));
    b.ctx = ctx;
    if (vocab_size < 256 || vocab_size > IT_TOKENIZER_MAX_VOCAB)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "bpe training: vocab_size %d is outside [256, %d]",
                                vocab_size, IT_TOKENIZER_MAX_VOCAB);
    /* 1. distinct chunks and their frequencies */
    for (pos = 0; pos < n; pos += it__tok_chunk(text + pos, n - pos)) n_chunks++;
    if (n_chunks > 0x3FFFFFFF) /* word indices are int32 */
        return it_context_error(ctx, IT_ERR_RANGE, "bpe training: %zu bytes of text is too much (%zu chunks; at "
                                "most 2^30)", n, n_chunks);
    while (wcap < n_chunks * 2) wcap *= 2;
    wmap = (int32_t *)it__alloc_array(ctx, wcap, sizeof(int32_t));
    wstart = (size_t *)it__alloc_array(ctx, n_chunks, sizeof(size_t));
    woff = (size_t *)it__alloc_array(ctx, n_chunks, sizeof(size_t));
    wlen = (int32_t *)it__alloc_array(ctx, n_chunks, sizeof(int32_t));
    wfreq = (int64_t *)it__alloc_array(ctx, n_chunks, sizeof(int64_t));
    ml = (int32_t *)it__alloc_array(ctx, (size_t)n_target, sizeof(int32_t));
    mr = (int32_t *)it__alloc_array(ctx, (size_t)n_target, sizeof(int32_t));
    b.pmask = 4095;
    b.pmap = (int32_t *)it__alloc_array(ctx, b.pmask + 1, sizeof(int32_t));
    if (!wmap || !wstart || !woff || !wlen || !wfreq || !ml || !mr || !b.pmap) goto oom;
    for (i = 0; i < wcap; i++) wmap[i] = -1;
    for (i = 0; i <= b.pmask; i++) b.pmap[i] = -1;
    for (pos = 0; pos < n;) {
        size_t len = it__tok_chunk(text + pos, n - pos), h = it__tok_hash_bytes(text + pos, len) & (wcap - 1);
        for (; wmap[h] >= 0; h = (h + 1) & (wcap - 1)) {
            int32_t w = wmap[h];
            if ((size_t)wlen[w] == len && memcmp(text + wstart[w], text + pos, len) == 0) break;
        }
        if (wmap[h] < 0) {
            wmap[h] = (int32_t)n_words;
            wstart[n_words] = pos;
            wlen[n_words] = (int32_t)len;
            wfreq[n_words] = 0;
            woff[n_words] = total_syms;
            total_syms += len;
            n_words++;
        }
        wfreq[wmap[h]]++;
        pos += len;
    }
    it__free(ctx, wmap);
    wmap = NULL;
    /* 2. symbols and initial pair counts */
    sym = (int32_t *)it__alloc_array(ctx, total_syms, sizeof(int32_t));
    if (!sym) goto oom;
    for (i = 0; i < n_words; i++) {
        int32_t j, *s = sym + woff[i];
        for (j = 0; j < wlen[i]; j++) s[j] = text[wstart[i] + (size_t)j];
        for (j = 0; j + 1 < wlen[i]; j++)
            if (!it__bpe_add(&b, s[j], s[j + 1], wfreq[i], (int32_t)i, -1)) goto oom;
    }
    for (i = 0; i < (size_t)b.n_pairs; i++)
        if (b.pairs[i].count > 0 && !it__bpe_push(&b, (int32_t)i, b.pairs[i].count)) goto oom;
    /* 3. merges */
    while (n_merges < n_target && b.n_heap > 0) {
        it__bpe_entry e = it__bpe_pop(&b);
        int32_t A, B, Z = 256 + n_merges, k, *list;
        int32_t n_list;
        if (b.pairs[e.pair].count != e.count) { /* stale: counts only fall, so re-file it */
            if (b.pairs[e.pair].count > 0 && !it__bpe_push(&b, e.pair, b.pairs[e.pair].count)) goto oom;
            continue;
        }
        if (e.count <= 0) continue;
        A = (int32_t)(b.pairs[e.pair].key >> 32);
        B = (int32_t)(uint32_t)b.pairs[e.pair].key;
        ml[n_merges] = A;
        mr[n_merges] = B;
        list = b.pairs[e.pair].words; /* (A, B) only loses occurrences now: its list is stable */
        n_list = b.pairs[e.pair].n_words;
        b.n_touched = 0;
        for (k = 0; k < n_list; k++) {
            int32_t w = list[k], *s = sym + woff[w], len = wlen[w], ii = 0, j = 0;
            int64_t f = wfreq[w];
            while (ii < len) { /* non-overlapping, left to right, rewritten in place (j <= ii) */
                if (ii + 1 < len && s[ii] == A && s[ii + 1] == B) {
                    if (j > 0 && (!it__bpe_add(&b, s[j - 1], A, -f, w, -1) ||
                                  !it__bpe_add(&b, s[j - 1], Z, f, w, n_merges)))
                        goto oom;
                    if (ii + 2 < len && (!it__bpe_add(&b, B, s[ii + 2], -f, w, -1) ||
                                         !it__bpe_add(&b, Z, s[ii + 2], f, w, n_merges)))
                        goto oom;
                    if (!it__bpe_add(&b, A, B, -f, w, -1)) goto oom;
                    s[j++] = Z;
                    ii += 2;
                } else {
                    s[j++] = s[ii++];
                }
            }
            wlen[w] = j;
        }
        /* the pairs array may have moved while new pairs were created: index again */
        it__free(ctx, b.pairs[e.pair].words);
        b.pairs[e.pair].words = NULL;
        b.pairs[e.pair].n_words = b.pairs[e.pair].cap_words = 0;
        b.pairs[e.pair].count = 0;
        for (i = 0; i < b.n_touched; i++)
            if (b.pairs[b.touched[i]].count > 0 && !it__bpe_push(&b, b.touched[i], b.pairs[b.touched[i]].count))
                goto oom;
        n_merges++;
    }
    if (n_merges < n_target)
        it_log(ctx, IT_LOG_WARN, "bpe training: the text yields only %d merges; vocabulary is %d, not %d", n_merges,
               256 + n_merges, vocab_size);
    res = it__tok_build(ctx, ml, mr, n_merges, "bpe training", out);
    goto done;
oom:
    res = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "bpe training: out of memory (%zu bytes of text)", n);
done:
    for (i = 0; i < (size_t)b.n_pairs; i++) it__free(ctx, b.pairs[i].words);
    it__free(ctx, b.pairs);
    it__free(ctx, b.pmap);
    it__free(ctx, b.heap);
    it__free(ctx, b.touched);
    it__free(ctx, wmap);
    it__free(ctx, wstart);
    it__free(ctx, woff);
    it__free(ctx, wlen);
    it__free(ctx, wfreq);
    it__free(ctx, sym);
    it__free(ctx, ml);
    it__free(ctx, mr);
    return res;
}

IT_API it_result it_tokenizer_train_bpe_file(it_context *ctx, const char *path, int vocab_size, it_tokenizer **out) {
    uint8_t *text;
    size_t n;
    it_result r;
    *out = NULL;
    r = it__io_read_file(ctx, path, "training text", 0, &text, &n, NULL);
    if (r != IT_OK) return r;
    if (n == 0) {
        it__free(ctx, text);
        return it_context_error(ctx, IT_ERR_FORMAT, "training text '%s' is empty", path);
    }
    r = it_tokenizer_train_bpe(ctx, text, n, vocab_size, out);
    it__free(ctx, text);
    return r;
}

/* One chunk (<= IT_TOKENIZER_MAX_TOKEN_BYTES bytes): a linked list of symbols and a min-heap of
   (rank, position) packed in a uint32. Every merge involving a new token ranks after the merge
   that made it, so popping lowest rank, then leftmost, gives the classic "apply the best-ranked
   pair everywhere, repeat" result in O(L log L) without allocation. Stale entries (a side
   already merged away) fail the check on pop. Returns the number of ids written. */
static size_t it__tok_encode_chunk(const it_tokenizer *t, const uint8_t *s, int L, int32_t *out) {
    int32_t sym[IT_TOKENIZER_MAX_TOKEN_BYTES];
    int16_t prv[IT_TOKENIZER_MAX_TOKEN_BYTES], nxt[IT_TOKENIZER_MAX_TOKEN_BYTES];
    uint32_t heap[3 * IT_TOKENIZER_MAX_TOKEN_BYTES];
    int n_heap = 0, i;
    size_t k = 0;
#define IT__TOK_HEAP_PUSH(v)                                                            \
    do {                                                                                \
        uint32_t v_ = (v);                                                              \
        int c_ = n_heap++;                                                              \
        while (c_ > 0 && heap[(c_ - 1) / 2] > v_) { heap[c_] = heap[(c_ - 1) / 2]; c_ = (c_ - 1) / 2; } \
        heap[c_] = v_;                                                                  \
    } while (0)
    for (i = 0; i < L; i++) {
        sym[i] = s[i];
        prv[i] = (int16_t)(i - 1);
        nxt[i] = (int16_t)(i + 1);
    }
    for (i = 0; i + 1 < L; i++) {
        int32_t r = it__tok_rank(t, sym[i], sym[i + 1]);
        if (r >= 0) IT__TOK_HEAP_PUSH(((uint32_t)r << 8) | (uint32_t)i);
    }
    while (n_heap > 0) {
        uint32_t top = heap[0], last = heap[--n_heap];
        int32_t r = (int32_t)(top >> 8), j, r2;
        int p = 0;
        i = (int)(top & 255u);
        for (;;) { /* sift `last` down from the root */
            int c = 2 * p + 1;
            if (c >= n_heap) break;
            if (c + 1 < n_heap && heap[c + 1] < heap[c]) c++;
            if (heap[c] >= last) break;
            heap[p] = heap[c];
            p = c;
        }
        if (n_heap) heap[p] = last;
        j = nxt[i];
        if (sym[i] < 0 || j >= L || sym[i] != t->merge_l[r] || sym[j] != t->merge_r[r]) continue;
        sym[i] = 256 + r;
        sym[j] = -1;
        nxt[i] = nxt[j];
        if (nxt[j] < L) prv[nxt[j]] = (int16_t)i;
        if (prv[i] >= 0 && (r2 = it__tok_rank(t, sym[prv[i]], sym[i])) >= 0)
            IT__TOK_HEAP_PUSH(((uint32_t)r2 << 8) | (uint32_t)prv[i]);
        if (nxt[i] < L && (r2 = it__tok_rank(t, sym[i], sym[nxt[i]])) >= 0)
            IT__TOK_HEAP_PUSH(((uint32_t)r2 << 8) | (uint32_t)i);
    }
#undef IT__TOK_HEAP_PUSH
    for (i = 0; i < L; i = nxt[i]) out[k++] = sym[i];
    return k;
}

IT_API it_result it_tokenizer_encode(it_context *ctx, const it_tokenizer *tok, const uint8_t *text, size_t n,
                                     int32_t **out_ids, size_t *out_n) {
    int32_t *ids;
    size_t pos, k = 0;
    IT__NOT_NULL(ctx, "it_tokenizer_encode");
    IT__NOT_NULL(tok, "it_tokenizer_encode");
    IT__NOT_NULL(out_ids, "it_tokenizer_encode");
    IT__NOT_NULL(out_n, "it_tokenizer_encode");
    IT__REQUIRE(text || n == 0, __FILE__, __LINE__, "it_tokenizer_encode: text is NULL with n = %zu", n);
    ids = (int32_t *)it__alloc_array(ctx, n, sizeof(int32_t));
    *out_ids = NULL;
    *out_n = 0;
    if (!ids) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer: cannot allocate ids for %zu bytes", n);
    if (tok->n_merges == 0) {
        for (pos = 0; pos < n; pos++) ids[pos] = text[pos];
        k = n;
    } else {
        for (pos = 0; pos < n;) {
            size_t len = it__tok_chunk(text + pos, n - pos);
            k += it__tok_encode_chunk(tok, text + pos, (int)len, ids + k);
            pos += len;
        }
    }
    *out_ids = ids;
    *out_n = k;
    return IT_OK;
}

IT_API const uint8_t *it_tokenizer_token_bytes(const it_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->vocab) {
        *len = 0;
        return NULL;
    }
    *len = tok->tok_len[id];
    return tok->bytes + tok->tok_off[id];
}

IT_API size_t it_tokenizer_decode(const it_tokenizer *tok, const int32_t *ids, size_t n, uint8_t *out, size_t cap) {
    size_t i, total = 0;
    for (i = 0; i < n; i++) {
        size_t len;
        const uint8_t *b = it_tokenizer_token_bytes(tok, ids[i], &len);
        if (b && total < cap) memcpy(out + total, b, len < cap - total ? len : cap - total);
        total += len;
    }
    return total;
}

/* The bytes of the tokenizer file (header, merges, CRC-32) in a fresh buffer of *size bytes; NULL
   when out of memory. One writer for it_tokenizer_save and it_tokenizer_fingerprint. */
static uint8_t *it__tokenizer_bytes(it_context *ctx, const it_tokenizer *tok, size_t *out_size) {
    size_t size = IT__TOK_HEADER + 8 * (size_t)tok->n_merges + 4;
    uint8_t *buf = (uint8_t *)it__alloc(ctx, size);
    int r;
    *out_size = size;
    if (!buf) return NULL;
    it__data_put_u32(buf + 0, IT__TOK_MAGIC);
    it__data_put_u32(buf + 4, IT__TOK_VERSION);
    it__data_put_u32(buf + 8, (uint32_t)tok->vocab);
    it__data_put_u32(buf + 12, (uint32_t)tok->n_merges);
    it__data_put_u32(buf + 16, IT__TOK_SPLIT_RULE);
    it__data_put_u32(buf + 20, 0);
    for (r = 0; r < tok->n_merges; r++) {
        it__data_put_u32(buf + IT__TOK_HEADER + 8 * (size_t)r, (uint32_t)tok->merge_l[r]);
        it__data_put_u32(buf + IT__TOK_HEADER + 8 * (size_t)r + 4, (uint32_t)tok->merge_r[r]);
    }
    it__data_put_u32(buf + size - 4, it__data_crc32(buf, size - 4));
    return buf;
}
IT_API it_result it_tokenizer_save(it_context *ctx, const it_tokenizer *tok, const char *path) {
    size_t size;
    uint8_t *buf = it__tokenizer_bytes(ctx, tok, &size);
    it_result res;
    if (!buf) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "saving tokenizer '%s': out of memory", path);
    res = it__io_write_atomic(ctx, path, "tokenizer file", buf, size);
    it__free(ctx, buf);
    return res;
}
IT_API it_result it_tokenizer_fingerprint(it_context *ctx, const it_tokenizer *tok, it_file_fingerprint *out) {
    size_t size;
    uint8_t *buf = it__tokenizer_bytes(ctx, tok, &size);
    memset(out, 0, sizeof *out);
    if (!buf) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer fingerprint: out of memory");
    out->size = (int64_t)size;
    out->crc32 = it__data_crc32(buf, size);
    it__free(ctx, buf);
    return IT_OK;
}

IT_API it_result it_tokenizer_load(it_context *ctx, const char *path, it_tokenizer **out) {
    uint8_t *buf;
    size_t n, max = IT__TOK_HEADER + 8 * (size_t)(IT_TOKENIZER_MAX_VOCAB - 256) + 4;
    it_result r;
    *out = NULL;
    r = it__io_read_file(ctx, path, "tokenizer file", max, &buf, &n, NULL);
    if (r != IT_OK) return r;
    r = it_tokenizer_load_memory(ctx, path, buf, n, out);
    it__free(ctx, buf);
    return r;
}

IT_API it_result it_tokenizer_load_memory(it_context *ctx, const char *path, const uint8_t *buf, size_t n,
                                          it_tokenizer **out) {
    uint32_t magic, version, vocab, n_merges, split, reserved, crc;
    unsigned long long expect;
    int32_t *ml = NULL, *mr = NULL;
    char origin[320];
    it_result r;
    uint32_t i;
    *out = NULL;
    if (!path) path = "tokenizer buffer";
    if (n < IT__TOK_HEADER + 4) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s' is truncated: %zu bytes, need at least %u", path,
                             n, IT__TOK_HEADER + 4);
        goto done;
    }
    magic = it__data_get_u32(buf);
    version = it__data_get_u32(buf + 4);
    vocab = it__data_get_u32(buf + 8);
    n_merges = it__data_get_u32(buf + 12);
    split = it__data_get_u32(buf + 16);
    reserved = it__data_get_u32(buf + 20);
    if (magic != IT__TOK_MAGIC) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "'%s' is not an IronTensor tokenizer file (bad magic)", path);
        goto done;
    }
    if (version != IT__TOK_VERSION) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s': version %lu, this build reads version %u",
                             path, (unsigned long)version, IT__TOK_VERSION);
        goto done;
    }
    if (vocab > IT_TOKENIZER_MAX_VOCAB || n_merges > IT_TOKENIZER_MAX_VOCAB - 256) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s': vocabulary of %lu tokens (%lu merges) exceeds "
                             "the limit of %d", path, (unsigned long)vocab, (unsigned long)n_merges,
                             IT_TOKENIZER_MAX_VOCAB);
        goto done;
    }
    if (vocab != 256 + n_merges) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s': vocab_size %lu is not 256 + %lu merges", path,
                             (unsigned long)vocab, (unsigned long)n_merges);
        goto done;
    }
    if (split != IT__TOK_SPLIT_RULE || reserved != 0) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s': unknown split rule %lu / reserved field %lu",
                             path, (unsigned long)split, (unsigned long)reserved);
        goto done;
    }
    expect = IT__TOK_HEADER + 8ull * n_merges + 4;
    if ((unsigned long long)n != expect) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s' is %s: %lu merges need %llu bytes, found %zu",
                             path, (unsigned long long)n < expect ? "truncated" : "too long", (unsigned long)n_merges,
                             expect, n);
        goto done;
    }
    crc = it__data_get_u32(buf + n - 4);
    if (crc != it__data_crc32(buf, n - 4)) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "tokenizer file '%s' is corrupt: checksum mismatch", path);
        goto done;
    }
    ml = (int32_t *)it__alloc_array(ctx, n_merges, sizeof(int32_t));
    mr = (int32_t *)it__alloc_array(ctx, n_merges, sizeof(int32_t));
    if (!ml || !mr) {
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer file '%s': out of memory", path);
        goto done;
    }
    for (i = 0; i < n_merges; i++) { /* ids >= 2^31 become negative and fail validation */
        ml[i] = (int32_t)(it__data_get_u32(buf + IT__TOK_HEADER + 8 * (size_t)i) & 0x7FFFFFFFu);
        mr[i] = (int32_t)(it__data_get_u32(buf + IT__TOK_HEADER + 8 * (size_t)i + 4) & 0x7FFFFFFFu);
        if (it__data_get_u32(buf + IT__TOK_HEADER + 8 * (size_t)i) > 0x7FFFFFFFu) ml[i] = -1;
        if (it__data_get_u32(buf + IT__TOK_HEADER + 8 * (size_t)i + 4) > 0x7FFFFFFFu) mr[i] = -1;
    }
    snprintf(origin, sizeof(origin), "tokenizer file '%.280s'", path);
    r = it__tok_build(ctx, ml, mr, (int)n_merges, origin, out);
done:
    it__free(ctx, ml);
    it__free(ctx, mr);
    return r;
}

/* >>token_files --------------------------------------------------------------------------------- */
IT_API it_result it_token_file_write(it_context *ctx, const char *path, const int32_t *ids, size_t n, int vocab) {
    uint8_t header[IT_TOKEN_FILE_HEADER_INTS * 4], buf[4096];
    int wide = vocab > 65536, i, fd, failed;
    size_t k, fill = 0, width = wide ? 4 : 2;
    char tmp[IT__PATH_NAMED];
    it_result r;
    if (vocab <= 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "token file '%s': vocab %d must be positive", path,
                                vocab);
    if (n > 0x7FFFFFFFu)
        return it_context_error(ctx, IT_ERR_RANGE, "token file '%s': %zu tokens, the llm.c header holds at most %lu",
                                path, n, 0x7FFFFFFFul);
    for (k = 0; k < n; k++)
        if (ids[k] < 0 || ids[k] >= vocab)
            return it_context_error(ctx, IT_ERR_RANGE,
                                    "token file '%s': token %zu is %ld, outside the vocabulary [0, %d)", path, k,
                                    (long)ids[k], vocab);
    memset(header, 0, sizeof(header));
    it__data_put_u32(header + 0, wide ? IT_TOKEN_FILE_MAGIC_U32 : IT_TOKEN_FILE_MAGIC_U16);
    it__data_put_u32(header + 4, wide ? IT_TOKEN_FILE_VERSION_U32 : IT_TOKEN_FILE_VERSION_U16);
    it__data_put_u32(header + 8, (uint32_t)n);
    if (it__io_tmp_name(path, tmp, sizeof tmp) != 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "token file '%s': path too long", path);
    if ((r = it__io_create(ctx, tmp, &fd)) != IT_OK) return r;
    failed = it__write_all(fd, header, sizeof(header));
    for (k = 0; k < n && !failed; k++) { /* streamed: the ids may be far larger than one buffer */
        uint32_t v = (uint32_t)ids[k];
        for (i = 0; i < (int)width; i++) buf[fill++] = (uint8_t)(v >> (8 * i));
        if (fill == sizeof(buf) || k + 1 == n) {
            failed = it__write_all(fd, buf, fill);
            fill = 0;
        }
    }
    r = it__io_close_synced(ctx, tmp, fd, failed);
    if (r == IT_OK) r = it__io_publish(ctx, tmp, path);
    if (r != IT_OK) unlink(tmp);
    return r;
}

/* What a data file holds: text, an llm.c token file (its magic), or nanoGPT's raw uint16 ids (a
   .bin without the magic: nanoGPT's prepare.py writes no header). */
enum { IT__TOKENS_NONE = 0, IT__TOKENS_LLMC, IT__TOKENS_RAW16 };
static it_result it__token_file_kind(it_context *ctx, const char *path, int *kind) {
    uint8_t head[4] = {0, 0, 0, 0};
    uint32_t magic;
    uint64_t size;
    size_t got = 0, len = strlen(path);
    int fd;
    it_result r = it__io_open_regular(ctx, path, "data file", &fd, &size, NULL);
    *kind = IT__TOKENS_NONE;
    if (r != IT_OK) return r;
    if (it__io_read_all(fd, head, 4, &got) != 0) {
        r = it_context_error(ctx, IT_ERR_IO, "data file '%s': read failed: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    close(fd);
    if (got == 0) return it_context_error(ctx, IT_ERR_FORMAT, "data file '%s' is empty", path);
    magic = it__data_get_u32(head);
    if (got == 4 && (magic == IT_TOKEN_FILE_MAGIC_U16 || magic == IT_TOKEN_FILE_MAGIC_U32)) *kind = IT__TOKENS_LLMC;
    else if (len > 4 && strcmp(path + len - 4, ".bin") == 0) *kind = IT__TOKENS_RAW16;
    return IT_OK;
}
IT_API it_result it_token_file_probe(it_context *ctx, const char *path, int *is_token_file) {
    int kind;
    it_result r = it__token_file_kind(ctx, path, &kind);
    *is_token_file = kind != IT__TOKENS_NONE;
    return r;
}

IT_API it_result it_file_read(it_context *ctx, const char *path, size_t max_bytes, uint8_t **bytes, size_t *n) {
    return it__io_read_file(ctx, path, "file", max_bytes, bytes, n, NULL);
}
IT_API void it_file_free(it_context *ctx, uint8_t *bytes) { it__free(ctx, bytes); }

IT_API it_result it_token_file_read(it_context *ctx, const char *path, int32_t **out_ids, size_t *out_n) {
    uint8_t *bytes;
    size_t n;
    it_result r = it__io_read_file(ctx, path, "token file", 0, &bytes, &n, NULL);
    *out_ids = NULL;
    *out_n = 0;
    if (r != IT_OK) return r;
    r = it_token_file_parse(ctx, path, bytes, n, out_ids, out_n);
    it__free(ctx, bytes);
    return r;
}

IT_API it_result it_token_file_parse(it_context *ctx, const char *path, const uint8_t *bytes, size_t size,
                                     int32_t **out_ids, size_t *out_n) {
    const size_t header = IT_TOKEN_FILE_HEADER_INTS * 4;
    uint32_t magic, version;
    int32_t count;
    size_t width, k;
    unsigned long long expect;
    int32_t *ids;
    *out_ids = NULL;
    *out_n = 0;
    if (!path) path = "token buffer";
    if (size == 0) return it_context_error(ctx, IT_ERR_FORMAT, "token file '%s' is empty", path);
    if (size < header)
        return it_context_error(ctx, IT_ERR_FORMAT, "token file '%s' is truncated: %zu bytes, the header alone is %d",
                                path, size, (int)header);
    magic = it__data_get_u32(bytes);
    version = it__data_get_u32(bytes + 4);
    count = (int32_t)it__data_get_u32(bytes + 8);
    if (magic == IT_TOKEN_FILE_MAGIC_U16 && version == IT_TOKEN_FILE_VERSION_U16) width = 2;
    else if (magic == IT_TOKEN_FILE_MAGIC_U32 && version == IT_TOKEN_FILE_VERSION_U32) width = 4;
    else {
        if (magic != IT_TOKEN_FILE_MAGIC_U16 && magic != IT_TOKEN_FILE_MAGIC_U32)
            return it_context_error(ctx, IT_ERR_FORMAT,
                                    "'%s' is not an llm.c token file: magic %lu, expected %d (uint16 tokens) or %d "
                                    "(uint32); headerless nanoGPT files need the 1024-byte llm.c header",
                                    path, (unsigned long)magic, IT_TOKEN_FILE_MAGIC_U16, IT_TOKEN_FILE_MAGIC_U32);
        return it_context_error(ctx, IT_ERR_FORMAT, "token file '%s': magic %lu with version %lu is not supported",
                                path, (unsigned long)magic, (unsigned long)version);
    }
    if (count < 0) return it_context_error(ctx, IT_ERR_FORMAT, "token file '%s': negative token count %ld", path, (long)count);
    expect = header + (unsigned long long)count * width;
    if ((unsigned long long)size != expect) {
        if ((unsigned long long)size < expect)
            return it_context_error(ctx, IT_ERR_FORMAT,
                                    "token file '%s' is truncated: the header announces %ld tokens (%llu bytes), "
                                    "the file has %zu bytes", path, (long)count, expect, size);
        return it_context_error(ctx, IT_ERR_FORMAT,
                                "token file '%s': %zu bytes, but the header announces %ld tokens (%llu bytes)", path,
                                size, (long)count, expect);
    }
    ids = (int32_t *)it__alloc_array(ctx, (size_t)count, sizeof(int32_t));
    if (!ids)
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "token file '%s': cannot allocate %ld tokens", path,
                                (long)count);
    for (k = 0; k < (size_t)count; k++) {
        const uint8_t *p = bytes + header + k * width;
        uint32_t v = width == 2 ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) : it__data_get_u32(p);
        if (v > 0x7FFFFFFFu) {
            it__free(ctx, ids);
            return it_context_error(ctx, IT_ERR_FORMAT, "token file '%s': token %zu is %lu, beyond int32", path, k,
                                    (unsigned long)v);
        }
        ids[k] = (int32_t)v;
    }
    *out_ids = ids;
    *out_n = (size_t)count;
    return IT_OK;
}

/* >>dataset ------------------------------------------------------------------------------------- */
struct it_dataset {
    it_context *ctx;
    int32_t *ids;
    size_t n, n_train; /* train = [0, n_train), val = [n_train, n) */
    int vocab;
    char name[256];
};

/* Takes ownership of ids (freed on failure too). */
static it_result it__ds_make(it_context *ctx, int32_t *ids, size_t n, int vocab, int min_seq, const char *name,
                             it_dataset **out) {
    it_dataset *ds;
    size_t i, n_val, need;
    *out = NULL;
    if (!name) name = "token buffer";
    if (vocab <= 0 || min_seq <= 0) {
        it__free(ctx, ids);
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "data '%s': vocab %d and min_seq %d must be positive",
                                name, vocab, min_seq);
    }
    if (n == 0) {
        it__free(ctx, ids);
        return it_context_error(ctx, IT_ERR_FORMAT, "data '%s' is empty: no tokens", name);
    }
    for (i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            it_result r = it_context_error(ctx, IT_ERR_RANGE,
                                           "data '%s': token %zu is %ld, outside the vocabulary [0, %d)", name, i,
                                           (long)ids[i], vocab);
            it__free(ctx, ids);
            return r;
        }
    n_val = n / 10;
    need = 10 * ((size_t)min_seq + 1);
    if (n_val < (size_t)min_seq + 1) {
        it__free(ctx, ids);
        return it_context_error(ctx, IT_ERR_RANGE,
                                "data '%s' is too short: %zu tokens give a validation split (last 10%%) of %zu, and "
                                "each split needs seq + 1 = %d tokens: at least %zu tokens are needed",
                                name, n, n_val, min_seq + 1, need);
    }
    ds = (it_dataset *)it__alloc(ctx, sizeof(it_dataset));
    if (!ds) {
        it__free(ctx, ids);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "data '%s': out of memory", name);
    }
    memset(ds, 0, sizeof(*ds));
    ds->ctx = ctx;
    ds->ids = ids;
    ds->n = n;
    ds->n_train = n - n_val;
    ds->vocab = vocab;
    snprintf(ds->name, sizeof(ds->name), "%s", name);
    if (it__own(ctx, ds, (void (*)(void *))it_dataset_destroy, "dataset") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    *out = ds;
    return IT_OK;
}

IT_API it_result it_dataset_from_ids(it_context *ctx, const int32_t *ids, size_t n, int vocab, int min_seq,
                                     const char *name, it_dataset **out) {
    int32_t *copy;
    IT__NOT_NULL(ctx, "it_dataset_from_ids");
    IT__NOT_NULL(out, "it_dataset_from_ids");
    IT__REQUIRE(ids || n == 0, __FILE__, __LINE__, "it_dataset_from_ids: ids is NULL with n = %zu", n);
    copy = (int32_t *)it__alloc_array(ctx, n, sizeof(int32_t));
    *out = NULL;
    if (!copy) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "data '%s': out of memory", name ? name : "");
    if (n) memcpy(copy, ids, n * sizeof(int32_t));
    return it__ds_make(ctx, copy, n, vocab, min_seq, name, out);
}

IT_API it_result it_dataset_from_bin(it_context *ctx, const char *path, int vocab, int min_seq, it_dataset **out) {
    int32_t *ids;
    size_t n;
    it_result r = it_token_file_read(ctx, path, &ids, &n);
    *out = NULL;
    if (r != IT_OK) return r;
    return it__ds_make(ctx, ids, n, vocab, min_seq, path, out);
}

IT_API it_result it_dataset_from_text(it_context *ctx, const char *path, const it_tokenizer *tok, int vocab,
                                      int min_seq, it_dataset **out) {
    uint8_t *text;
    size_t n, n_ids;
    int32_t *ids;
    it_result r;
    *out = NULL;
    if (!tok)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "data file '%s' is text and needs a tokenizer", path);
    r = it__io_read_file(ctx, path, "data file", 0, &text, &n, NULL);
    if (r != IT_OK) return r;
    if (n == 0) {
        it__free(ctx, text);
        return it_context_error(ctx, IT_ERR_FORMAT, "data file '%s' is empty", path);
    }
    r = it_tokenizer_encode(ctx, tok, text, n, &ids, &n_ids);
    it__free(ctx, text);
    if (r != IT_OK) return r;
    return it__ds_make(ctx, ids, n_ids, vocab > 0 ? vocab : it_tokenizer_vocab_size(tok), min_seq, path, out);
}

/* nanoGPT's prepare.py writes np.uint16 ids with no header: the file is the ids. */
static it_result it__ds_from_raw_u16(it_context *ctx, const char *path, int vocab, int min_seq, it_dataset **out) {
    uint8_t *bytes;
    size_t n, i;
    int32_t *ids;
    it_result r = it__io_read_file(ctx, path, "data file", 0, &bytes, &n, NULL);
    if (r != IT_OK) return r;
    if (n % 2) {
        it__free(ctx, bytes);
        return it_context_error(ctx, IT_ERR_FORMAT, "data file '%s' is neither an llm.c token file (no magic) nor nanoGPT's "
                                "raw uint16 ids (%zu bytes, an odd size)", path, n);
    }
    ids = (int32_t *)it__alloc_array(ctx, n / 2, sizeof(int32_t));
    if (!ids) {
        it__free(ctx, bytes);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "data file '%s': out of memory", path);
    }
    for (i = 0; i < n / 2; i++) ids[i] = (int32_t)(bytes[2 * i] | (uint32_t)bytes[2 * i + 1] << 8);
    it__free(ctx, bytes);
    it_log(ctx, IT_LOG_INFO, "data file '%s' has no llm.c header: read as nanoGPT's raw uint16 token ids (%zu tokens)",
           path, n / 2);
    return it__ds_make(ctx, ids, n / 2, vocab, min_seq, path, out);
}
IT_API it_result it_dataset_load(it_context *ctx, const char *path, const it_tokenizer *tok, int vocab, int min_seq,
                                 it_dataset **out) {
    int kind;
    it_result r = it__token_file_kind(ctx, path, &kind);
    *out = NULL;
    if (r != IT_OK) return r;
    return kind == IT__TOKENS_LLMC  ? it_dataset_from_bin(ctx, path, vocab, min_seq, out)
         : kind == IT__TOKENS_RAW16 ? it__ds_from_raw_u16(ctx, path, vocab, min_seq, out)
                                    : it_dataset_from_text(ctx, path, tok, vocab, min_seq, out);
}
IT_API it_result it_dataset_set_validation(it_dataset *ds, it_dataset *val) {
    int32_t *ids;
    it_result r = IT_OK;
    if (!ds || !val) {
        it_dataset_destroy(val);
        return it_context_error(ds ? ds->ctx : NULL, IT_ERR_INVALID_ARGUMENT, "it_dataset_set_validation: no dataset");
    }
    if (val->vocab != ds->vocab)
        r = it_context_error(ds->ctx, IT_ERR_INVALID_ARGUMENT, "validation data '%s' has vocab %d but '%s' has %d", val->name,
                             val->vocab, ds->name, ds->vocab);
    else if (!(ids = (int32_t *)it__alloc_array(ds->ctx, ds->n + val->n, sizeof(int32_t))))
        r = it_context_error(ds->ctx, IT_ERR_OUT_OF_MEMORY, "validation data '%s': out of memory", val->name);
    else {
        memcpy(ids, ds->ids, ds->n * sizeof(int32_t));
        memcpy(ids + ds->n, val->ids, val->n * sizeof(int32_t));
        it__free(ds->ctx, ds->ids);
        ds->ids = ids;
        ds->n_train = ds->n;
        ds->n += val->n;
    }
    it_dataset_destroy(val);
    return r;
}

IT_API void it_dataset_destroy(it_dataset *ds) {
    if (!ds) return;
    it__disown(ds->ctx, ds);
    it__free(ds->ctx, ds->ids);
    it__free(ds->ctx, ds);
}
IT_API int it_dataset_vocab(const it_dataset *ds) { return ds->vocab; }

IT_API const int32_t *it_dataset_tokens(const it_dataset *ds, it_split split, size_t *n) {
    if (split == IT_SPLIT_VAL) {
        *n = ds->n - ds->n_train;
        return ds->ids + ds->n_train;
    }
    if (split == IT_SPLIT_TRAIN) {
        *n = ds->n_train;
        return ds->ids;
    }
    *n = 0;
    return NULL;
}

/* The split's tokens, checked to hold B windows of T + 1. */
static it_result it__ds_split(it_dataset *ds, it_split split, int B, int T, const int32_t **tokens, size_t *len) {
    *tokens = it_dataset_tokens(ds, split, len);
    if (!*tokens || B <= 0 || T <= 0)
        return it_context_error(ds->ctx, IT_ERR_INVALID_ARGUMENT, "data '%s': batch of split %d with B %d, T %d",
                                ds->name, (int)split, B, T);
    if (*len < (size_t)T + 1)
        return it_context_error(ds->ctx, IT_ERR_RANGE, "data '%s': the %s split has %zu tokens, fewer than T + 1 = %d",
                                ds->name, split == IT_SPLIT_VAL ? "validation" : "train", *len, T + 1);
    return IT_OK;
}

/* Uniform in [0, n), n >= 1, from the caller's generator (64-bit ranges by rejection). */
static uint64_t it__ds_below(it_rng *rng, uint64_t n) {
    uint64_t x, limit;
    if (n <= 0xFFFFFFFFull) return it_rng_below(rng, (uint32_t)n);
    limit = (uint64_t)-1 - ((uint64_t)-1 % n);
    do x = it_rng_u64(rng);
    while (x >= limit);
    return x % n;
}

IT_API it_result it_dataset_batch(it_dataset *ds, it_split split, it_rng *rng, int B, int T, int32_t *inputs,
                                  int32_t *targets) {
    const int32_t *tok;
    size_t len;
    int b;
    it_result r = it__ds_split(ds, split, B, T, &tok, &len);
    if (r != IT_OK) return r;
    if (!it_rng_valid(rng)) /* it would pick window 0 forever */
        return it_context_error(ds->ctx, IT_ERR_INVALID_ARGUMENT, "data '%s': the batch generator is in the all-zero "
                                "state (seed it with it_rng_seed)", ds->name);
    for (b = 0; b < B; b++) {
        size_t start = (size_t)it__ds_below(rng, (uint64_t)(len - (size_t)T));
        memcpy(inputs + (size_t)b * T, tok + start, (size_t)T * sizeof(int32_t));
        memcpy(targets + (size_t)b * T, tok + start + 1, (size_t)T * sizeof(int32_t));
    }
    return IT_OK;
}

IT_API it_result it_dataset_eval_batch(it_dataset *ds, it_split split, size_t index, int B, int T, int32_t *inputs,
                                       int32_t *targets) {
    const int32_t *tok;
    size_t len, windows;
    int b;
    it_result r = it__ds_split(ds, split, B, T, &tok, &len);
    if (r != IT_OK) return r;
    windows = (len - 1) / (size_t)T; /* window w = tokens [w T, w T + T] */
    for (b = 0; b < B; b++) {
        size_t w = ((index % windows) * ((size_t)B % windows) + (size_t)b) % windows;
        memcpy(inputs + (size_t)b * T, tok + w * (size_t)T, (size_t)T * sizeof(int32_t));
        memcpy(targets + (size_t)b * T, tok + w * (size_t)T + 1, (size_t)T * sizeof(int32_t));
    }
    return IT_OK;
}

IT_API size_t it_dataset_eval_batches(const it_dataset *ds, it_split split, int B, int T) {
    size_t len, windows;
    if (B <= 0 || T <= 0 || !it_dataset_tokens(ds, split, &len) || len < (size_t)T + 1) return 0;
    windows = (len - 1) / (size_t)T;
    return windows / (size_t)B ? windows / (size_t)B : 1;
}

/* >>schedules ----------------------------------------------------------------------------------- */
IT_API const char *it_schedule_name(it_schedule_kind kind) {
    static const char *names[IT_SCHEDULE_COUNT] = {"cosine",
#define IT__SCHEDULE_NAME(name, text) text,
                                                   IT_SCHEDULE_LIST(IT__SCHEDULE_NAME)
#undef IT__SCHEDULE_NAME
    };
    return ((int)kind >= 0 && kind < IT_SCHEDULE_COUNT) ? names[kind] : "invalid";
}

IT_API it_result it_schedule_parse(const char *name, it_schedule_kind *out) {
    int k;
    for (k = 1; k < (int)IT_SCHEDULE_COUNT; k++)
        if (name && strcmp(name, it_schedule_name((it_schedule_kind)k)) == 0) {
            *out = (it_schedule_kind)k;
            return IT_OK;
        }
    return IT_ERR_INVALID_ARGUMENT;
}

/* Every default of it_schedule in one place: kind 0 = cosine, decay_frac 0 = 0.2, a negative
   warmup = none. */
static it_schedule it__schedule_defaults(const it_schedule *sched) {
    it_schedule s = *sched;
    if (s.kind == IT_SCHEDULE_DEFAULT) s.kind = IT_SCHEDULE_COSINE;
    if (!(s.decay_frac > 0.0f)) s.decay_frac = 0.2f;
    if (s.warmup_steps < 0) s.warmup_steps = 0;
    return s;
}
IT_API float it_schedule_lr(const it_schedule *sched, int step) {
    it_schedule resolved = it__schedule_defaults(sched);
    const it_schedule *s = &resolved;
    double base = s->base_lr, floor_lr = (double)s->base_lr * (double)s->min_lr_ratio, p, lr;
    int warm = s->warmup_steps, total = s->total_steps;
    it_schedule_kind kind = s->kind;
    if (step < 0) step = 0;
    if (kind == IT_SCHEDULE_CONSTANT) return s->base_lr;
    if (step < warm) return (float)(base * (double)(step + 1) / (double)warm);
    if (kind == IT_SCHEDULE_INVSQRT) {
        double w = warm > 1 ? (double)warm : 1.0;
        lr = base * sqrt(w / (step > w ? (double)step : w));
        return (float)(lr > floor_lr ? lr : floor_lr);
    }
    if (total <= 0) return s->base_lr;
    if (step >= total) return (float)floor_lr;
    if (kind == IT_SCHEDULE_WSD) {
        double frac = s->decay_frac;
        int decay = (int)(frac * total + 0.5), start = total - decay;
        if (start < warm) start = warm;
        if (step < start) return s->base_lr;
        p = (double)(step - start) / (double)(total - start);
        return (float)(base - (base - floor_lr) * p);
    }
    p = total > warm ? (double)(step - warm) / (double)(total - warm) : 1.0;
    if (kind == IT_SCHEDULE_LINEAR) return (float)(base - (base - floor_lr) * p);
    return (float)(floor_lr + (base - floor_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * p))); /* cosine */
}

/* >>checkpoints ---------------------------------------------------------------------------------
   Implementation of the checkpoint section: a strict bounded JSON reader/writer (>>json), CRC-32,
   safetensors parsing and writing (>>safetensors), the name map between model parameters and
   checkpoint tensors, atomic directory saves and validating loads. POSIX file calls only. */

#define IT__JSON_MAX_DEPTH 32
#define IT__JSON_MAX_STRING 65536
#define IT__JSON_MAX_NUMBER 400
#define IT__ST_MAX_HEADER 100000000u /* as the Rust reference: 100 MB */
#define IT__ST_MAX_DIMS 8
#define IT__CK_CHUNK (1u << 20)     /* floats per chunk while streaming tensor data */
#define IT__CK_MAX_JSON_FILE (16u << 20)

/* >>json ----------------------------------------------------------------------------------------
   A DOM in one array: values refer to children by index. Strings are decoded into one arena (never
   larger than the text). Strict RFC 8259: no trailing commas, comments, NaN, leading zeros, lone
   surrogates, invalid UTF-8 or control characters; duplicate keys and trailing garbage are errors.
   Bounded: depth IT__JSON_MAX_DEPTH, strings IT__JSON_MAX_STRING bytes; \u0000 is rejected (keys
   and values are C strings). */
enum { IT__J_NULL = 1, IT__J_FALSE, IT__J_TRUE, IT__J_NUM, IT__J_STR, IT__J_ARR, IT__J_OBJ };
typedef struct it__jv {
    int type;
    int n;           /* children of arrays and objects */
    int first, next; /* first child, next sibling; -1 for none */
    const char *key; /* decoded member name (children of objects) */
    const char *str; /* decoded string */
    size_t len;      /* decoded string length */
    double num;
    int64_t i64;
    int is_int;      /* integer syntax that fits int64 */
    size_t raw_begin, raw_end; /* the value's bytes in the text */
} it__jv;
typedef struct it__json {
    it_context *ctx; /* whose allocator (set by it__json_parse) */
    it__jv *v;
    int n, cap;
    char *arena;
    size_t arena_used;
    const char *text;
    size_t len, pos;
    char err[200];
} it__json;

static void it__json_free(it__json *j) {
    it__free(j->ctx, j->v);
    it__free(j->ctx, j->arena);
    j->v = NULL;
    j->arena = NULL;
    j->n = j->cap = 0;
}
static int it__jerr(it__json *j, const char *what) {
    if (!j->err[0]) snprintf(j->err, sizeof j->err, "%s at byte %lu", what, (unsigned long)j->pos);
    return -1;
}
static int it__jnew(it__json *j, int type) {
    it__jv *bigger;
    if (j->n == j->cap) {
        int cap = j->cap ? j->cap * 2 : 64;
        if (j->cap > (1 << 28)) return it__jerr(j, "too many JSON values");
        bigger = (it__jv *)it__realloc(j->ctx, j->v, sizeof(it__jv) * (size_t)j->n, sizeof(it__jv) * (size_t)cap);
        if (!bigger) return it__jerr(j, "out of memory");
        j->v = bigger;
        j->cap = cap;
    }
    memset(&j->v[j->n], 0, sizeof(it__jv));
    j->v[j->n].type = type;
    j->v[j->n].first = j->v[j->n].next = -1;
    j->v[j->n].raw_begin = j->pos;
    return j->n++;
}
static void it__jws(it__json *j) {
    while (j->pos < j->len) {
        char c = j->text[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        j->pos++;
    }
}
static int it__jhex4(it__json *j, unsigned *out) {
    unsigned v = 0;
    int i;
    if (j->len - j->pos < 4) return it__jerr(j, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        char c = j->text[j->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return it__jerr(j, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}
/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid (overlong, surrogate, > U+10FFFF). */
static int it__utf8_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    int len, i;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < (size_t)len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}
/* Parses a string at j->pos (on the quote) into the arena. */
static int it__jstring(it__json *j, const char **out, size_t *out_len) {
    char *dst = j->arena + j->arena_used;
    size_t n = 0;
    j->pos++; /* opening quote */
    for (;;) {
        unsigned char c;
        if (j->pos >= j->len) return it__jerr(j, "unterminated string");
        if (n > IT__JSON_MAX_STRING) return it__jerr(j, "string longer than 64 KiB");
        c = (unsigned char)j->text[j->pos];
        if (c == '"') {
            j->pos++;
            break;
        }
        if (c < 0x20) return it__jerr(j, "control character in string");
        if (c == '\\') {
            unsigned cp;
            if (++j->pos >= j->len) return it__jerr(j, "unterminated escape");
            c = (unsigned char)j->text[j->pos++];
            switch (c) {
            case '"': dst[n++] = '"'; continue;
            case '\\': dst[n++] = '\\'; continue;
            case '/': dst[n++] = '/'; continue;
            case 'b': dst[n++] = '\b'; continue;
            case 'f': dst[n++] = '\f'; continue;
            case 'n': dst[n++] = '\n'; continue;
            case 'r': dst[n++] = '\r'; continue;
            case 't': dst[n++] = '\t'; continue;
            case 'u': break;
            default: j->pos--; return it__jerr(j, "bad escape in string");
            }
            if (it__jhex4(j, &cp)) return -1;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return it__jerr(j, "lone low surrogate in string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (j->len - j->pos < 2 || j->text[j->pos] != '\\' || j->text[j->pos + 1] != 'u')
                    return it__jerr(j, "high surrogate without its low half");
                j->pos += 2;
                if (it__jhex4(j, &lo)) return -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return it__jerr(j, "high surrogate without its low half");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return it__jerr(j, "\\u0000 in string (not supported)");
            if (cp < 0x80) dst[n++] = (char)cp;
            else if (cp < 0x800) {
                dst[n++] = (char)(0xC0 | (cp >> 6));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                dst[n++] = (char)(0xE0 | (cp >> 12));
                dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                dst[n++] = (char)(0xF0 | (cp >> 18));
                dst[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            }
        } else if (c < 0x80) {
            dst[n++] = (char)c;
            j->pos++;
        } else {
            int k = it__utf8_len((const unsigned char *)j->text + j->pos, j->len - j->pos);
            if (!k) return it__jerr(j, "invalid UTF-8 in string");
            memcpy(dst + n, j->text + j->pos, (size_t)k);
            n += (size_t)k;
            j->pos += (size_t)k;
        }
    }
    if (n > IT__JSON_MAX_STRING) return it__jerr(j, "string longer than 64 KiB");
    dst[n] = 0; /* decoded + NUL never exceeds the raw bytes (quotes included) */
    j->arena_used += n + 1;
    *out = dst;
    *out_len = n;
    return 0;
}
static int it__jnumber(it__json *j, int idx) {
    char buf[IT__JSON_MAX_NUMBER + 1];
    size_t start = j->pos, k;
    int is_int = 1;
    const char *t = j->text;
    if (j->pos < j->len && t[j->pos] == '-') j->pos++;
    if (j->pos >= j->len) return it__jerr(j, "truncated number");
    if (t[j->pos] == '0') j->pos++;
    else if (t[j->pos] >= '1' && t[j->pos] <= '9')
        while (j->pos < j->len && t[j->pos] >= '0' && t[j->pos] <= '9') j->pos++;
    else
        return it__jerr(j, "bad number");
    if (j->pos < j->len && t[j->pos] == '.') {
        is_int = 0;
        j->pos++;
        if (j->pos >= j->len || t[j->pos] < '0' || t[j->pos] > '9') return it__jerr(j, "digit expected after '.'");
        while (j->pos < j->len && t[j->pos] >= '0' && t[j->pos] <= '9') j->pos++;
    }
    if (j->pos < j->len && (t[j->pos] == 'e' || t[j->pos] == 'E')) {
        is_int = 0;
        j->pos++;
        if (j->pos < j->len && (t[j->pos] == '+' || t[j->pos] == '-')) j->pos++;
        if (j->pos >= j->len || t[j->pos] < '0' || t[j->pos] > '9') return it__jerr(j, "digit expected in exponent");
        while (j->pos < j->len && t[j->pos] >= '0' && t[j->pos] <= '9') j->pos++;
    }
    if (j->pos - start > IT__JSON_MAX_NUMBER) return it__jerr(j, "number too long");
    memcpy(buf, t + start, j->pos - start);
    buf[j->pos - start] = 0;
    j->v[idx].num = strtod(buf, NULL);
    if (!isfinite(j->v[idx].num)) return it__jerr(j, "number out of range");
    if (is_int) { /* exact int64 when it fits */
        uint64_t u = 0;
        int neg = buf[0] == '-', ok = 1;
        for (k = (size_t)neg; buf[k]; k++) {
            unsigned d = (unsigned)(buf[k] - '0');
            if (u > (UINT64_MAX - d) / 10) { ok = 0; break; }
            u = u * 10 + d;
        }
        if (ok && (neg ? u <= (uint64_t)INT64_MAX + 1 : u <= (uint64_t)INT64_MAX)) {
            j->v[idx].is_int = 1;
            j->v[idx].i64 = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
        }
    }
    return 0;
}
static int it__jkeycmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }
static int it__jvalue(it__json *j, int depth);
static int it__jcontainer(it__json *j, int idx, int depth) {
    int is_obj = j->v[idx].type == IT__J_OBJ, last = -1;
    char close = is_obj ? '}' : ']';
    if (depth >= IT__JSON_MAX_DEPTH) return it__jerr(j, "nesting deeper than 32");
    j->pos++;
    it__jws(j);
    if (j->pos < j->len && j->text[j->pos] == close) {
        j->pos++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen;
        int child;
        it__jws(j);
        if (is_obj) {
            if (j->pos >= j->len || j->text[j->pos] != '"') return it__jerr(j, "member name expected");
            if (it__jstring(j, &key, &klen)) return -1;
            it__jws(j);
            if (j->pos >= j->len || j->text[j->pos] != ':') return it__jerr(j, "':' expected");
            j->pos++;
            it__jws(j);
        }
        child = it__jvalue(j, depth + 1);
        if (child < 0) return -1;
        j->v[child].key = key;
        if (last < 0) j->v[idx].first = child;
        else j->v[last].next = child;
        last = child;
        if (j->v[idx].n == INT32_MAX) return it__jerr(j, "too many members");
        j->v[idx].n++;
        it__jws(j);
        if (j->pos >= j->len) return it__jerr(j, "unterminated array or object");
        if (j->text[j->pos] == ',') {
            j->pos++;
            continue;
        }
        if (j->text[j->pos] == close) {
            j->pos++;
            break;
        }
        return it__jerr(j, is_obj ? "',' or '}' expected" : "',' or ']' expected");
    }
    if (is_obj && j->v[idx].n > 1) { /* duplicate keys: sort the names, compare neighbours */
        const char **keys = (const char **)it__alloc(j->ctx, sizeof(char *) * (size_t)j->v[idx].n);
        int c, i = 0, dup = 0;
        if (!keys) return it__jerr(j, "out of memory");
        for (c = j->v[idx].first; c >= 0; c = j->v[c].next) keys[i++] = j->v[c].key;
        qsort(keys, (size_t)i, sizeof(char *), it__jkeycmp);
        for (c = 1; c < i && !dup; c++) dup = strcmp(keys[c - 1], keys[c]) == 0;
        if (dup) {
            size_t p = j->pos;
            j->pos = j->v[idx].raw_begin;
            snprintf(j->err, sizeof j->err, "duplicate key \"%.60s\" in the object at byte %lu", keys[c - 1],
                     (unsigned long)j->pos);
            j->pos = p;
        }
        it__free(j->ctx, (void *)keys);
        if (dup) return -1;
    }
    return 0;
}
static int it__jvalue(it__json *j, int depth) {
    int idx;
    char c;
    if (j->pos >= j->len) {
        it__jerr(j, "value expected");
        return -1;
    }
    c = j->text[j->pos];
    idx = it__jnew(j, c == '{' ? IT__J_OBJ : c == '[' ? IT__J_ARR : c == '"' ? IT__J_STR : IT__J_NUM);
    if (idx < 0) return -1;
    if (c == '{' || c == '[') {
        if (it__jcontainer(j, idx, depth)) return -1;
    } else if (c == '"') {
        const char *s;
        size_t n;
        if (it__jstring(j, &s, &n)) return -1;
        j->v[idx].str = s;
        j->v[idx].len = n;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (it__jnumber(j, idx)) return -1;
    } else {
        static const char *const words[3] = {"null", "false", "true"};
        static const int types[3] = {IT__J_NULL, IT__J_FALSE, IT__J_TRUE};
        int w;
        for (w = 0; w < 3; w++) {
            size_t wl = strlen(words[w]);
            if (j->len - j->pos >= wl && memcmp(j->text + j->pos, words[w], wl) == 0) {
                j->v[idx].type = types[w];
                j->pos += wl;
                break;
            }
        }
        if (w == 3) {
            it__jerr(j, "unexpected character");
            return -1;
        }
    }
    j->v[idx].raw_end = j->pos;
    return idx;
}
/* Parses text[0, len) completely; 0 on success, else -1 with j->err. The root is value 0. */
static int it__json_parse(it_context *ctx, it__json *j, const char *text, size_t len) {
    memset(j, 0, sizeof *j);
    j->ctx = ctx;
    j->text = text;
    j->len = len;
    j->arena = (char *)it__alloc(ctx, len + 1);
    if (!j->arena) return it__jerr(j, "out of memory");
    it__jws(j);
    if (it__jvalue(j, 0) < 0) return -1;
    it__jws(j);
    if (j->pos != len) return it__jerr(j, "trailing characters after the JSON value");
    return 0;
}
/* Member `key` of object value obj, -1 if absent. */
static int it__jget(const it__json *j, int obj, const char *key) {
    int c;
    if (obj < 0 || j->v[obj].type != IT__J_OBJ) return -1;
    for (c = j->v[obj].first; c >= 0; c = j->v[c].next)
        if (strcmp(j->v[c].key, key) == 0) return c;
    return -1;
}

/* Growable output buffer for the writers; a failed allocation sticks in `failed`. */
typedef struct it__buf {
    it_context *ctx; /* whose allocator */
    char *p;
    size_t n, cap;
    int failed;
} it__buf;
static void it__buf_init(it__buf *b, it_context *ctx) {
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
}
static void it__buf_put(it__buf *b, const void *s, size_t n) {
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *q;
        while (cap < b->n + n + 1) cap *= 2;
        q = (char *)it__realloc(b->ctx, b->p, b->n, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void it__buf_puts(it__buf *b, const char *s) { it__buf_put(b, s, strlen(s)); }
static void it__buf_printf(it__buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = 1; /* only short numbers and names are formatted */
        return;
    }
    it__buf_put(b, tmp, (size_t)n);
}
static void it__buf_free(it__buf *b) {
    it__free(b->ctx, b->p);
    it__buf_init(b, b->ctx);
}
/* A JSON string literal: quotes, \" \\ and control characters escaped, UTF-8 passed through. */
static void it__json_put_string(it__buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    it__buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            it__buf_put(b, esc, 2);
        } else if (c == '\n') it__buf_puts(b, "\\n");
        else if (c == '\t') it__buf_puts(b, "\\t");
        else if (c == '\r') it__buf_puts(b, "\\r");
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            it__buf_put(b, esc, 6);
        } else
            it__buf_put(b, s, 1);
    }
    it__buf_put(b, "\"", 1);
}
/* The shortest decimal that reads back as the same float; null for NaN and infinities. */
static void it__json_put_float(it__buf *b, float f) {
    char tmp[48];
    int prec;
    if (!isfinite(f)) {
        it__buf_puts(b, "null");
        return;
    }
    if (f == floorf(f) && fabsf(f) < 1e9f) { /* 10000.0, not 1e+04 */
        snprintf(tmp, sizeof tmp, "%.1f", (double)f);
        it__buf_puts(b, tmp);
        return;
    }
    for (prec = 1; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
        if ((float)strtod(tmp, NULL) == f) break;
    }
    it__buf_puts(b, tmp);
}

static void it__hex8(char *out, uint32_t v) {
    static const char hex[] = "0123456789abcdef";
    int i;
    for (i = 7; i >= 0; i--, v >>= 4) out[i] = hex[v & 15];
}
/* Exactly 8 lowercase hex digits. */
static int it__parse_hex8(const char *s, size_t len, uint32_t *out) {
    uint32_t v = 0;
    size_t i;
    if (len != 8) return -1;
    for (i = 0; i < 8; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* >>safetensors ------------------------------------------------------------------------------- */
typedef struct it__st_dtype { const char *name; int size; } it__st_dtype;
static const it__st_dtype it__st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1}, {"I16", 2}, {"U16", 2},
    {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8},
};
#define IT__ST_N_DTYPES ((int)(sizeof it__st_dtypes / sizeof it__st_dtypes[0]))

typedef struct it__st_tensor {
    const char *name;
    int dtype; /* index into it__st_dtypes */
    int ndim;
    uint64_t shape[IT__ST_MAX_DIMS];
    uint64_t numel, begin, end;
    int used; /* matched while loading */
} it__st_tensor;
typedef struct it__st_file {
    const char *label; /* "DIR/model.safetensors", for messages */
    unsigned char *buf;
    size_t size;
    it__json json;
    int meta; /* JSON index of __metadata__, -1 if none */
    it__st_tensor *t;
    int n_t;
    it__st_tensor **by_name; /* t sorted by name, for it__st_find */
    uint64_t header_len; /* N: the JSON header's bytes after the 8-byte length */
    const unsigned char *data;
    uint64_t data_len;
} it__st_file;

static void it__st_free(it_context *ctx, it__st_file *f) {
    it__json_free(&f->json);
    it__free(ctx, f->t);
    it__free(ctx, f->by_name);
    it__free(ctx, f->buf);
    f->by_name = NULL;
    f->t = NULL;
    f->buf = NULL;
}
static int it__st_cmp_offset(const void *a, const void *b) {
    const it__st_tensor *x = *(const it__st_tensor *const *)a, *y = *(const it__st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}
/* __metadata__ value for key, NULL if absent. */
static const it__jv *it__st_meta(const it__st_file *f, const char *key) {
    int i = it__jget(&f->json, f->meta, key);
    return i < 0 ? NULL : &f->json.v[i];
}
/* Non-negative JSON integer that fits uint64 (and 2^53 so every reader agrees). */
static int it__j_u64(const it__jv *v, uint64_t *out) {
    if (v->type != IT__J_NUM || !v->is_int || v->i64 < 0 || v->i64 > ((int64_t)1 << 53)) return -1;
    *out = (uint64_t)v->i64;
    return 0;
}

/* One tensor entry of the header (JSON index c): dtype, shape, data_offsets within the data region. */
static it_result it__st_parse_entry(it_context *ctx, it__st_file *f, int c, it__st_tensor *t) {
    const char *L = f->label;
    const it__jv *e = &f->json.v[c];
    int dt, sh, off, d;
    uint64_t bytes;
    memset(t, 0, sizeof *t);
    t->name = e->key;
    if (e->type != IT__J_OBJ) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': entry is not an object", L, e->key);
        return IT_ERR_FORMAT;
    }
    dt = it__jget(&f->json, c, "dtype");
    sh = it__jget(&f->json, c, "shape");
    off = it__jget(&f->json, c, "data_offsets");
    if (dt < 0 || sh < 0 || off < 0 || e->n != 3) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': needs exactly dtype, shape and data_offsets", L, e->key);
        return IT_ERR_FORMAT;
    }
    t->dtype = -1;
    if (f->json.v[dt].type == IT__J_STR)
        for (d = 0; d < IT__ST_N_DTYPES; d++)
            if (strcmp(f->json.v[dt].str, it__st_dtypes[d].name) == 0) t->dtype = d;
    if (t->dtype < 0) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': unknown dtype %.40s", L, e->key,
                         f->json.v[dt].type == IT__J_STR ? f->json.v[dt].str : "(not a string)");
        return IT_ERR_FORMAT;
    }
    if (f->json.v[sh].type != IT__J_ARR || f->json.v[sh].n > IT__ST_MAX_DIMS) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': shape is not an array of at most 8 sizes", L, e->key);
        return IT_ERR_FORMAT;
    }
    t->numel = 1;
    for (d = f->json.v[sh].first; d >= 0; d = f->json.v[d].next) {
        uint64_t s;
        if (it__j_u64(&f->json.v[d], &s)) {
            it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': shape holds a non-integer or negative size", L, e->key);
            return IT_ERR_FORMAT;
        }
        if (s && t->numel > ((uint64_t)1 << 53) / s) {
            it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': shape overflows", L, e->key);
            return IT_ERR_FORMAT;
        }
        t->shape[t->ndim++] = s;
        t->numel *= s;
    }
    if (f->json.v[off].type != IT__J_ARR || f->json.v[off].n != 2 ||
        it__j_u64(&f->json.v[f->json.v[off].first], &t->begin) ||
        it__j_u64(&f->json.v[f->json.v[f->json.v[off].first].next], &t->end)) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': data_offsets must be two non-negative integers", L, e->key);
        return IT_ERR_FORMAT;
    }
    bytes = t->numel * (uint64_t)it__st_dtypes[t->dtype].size;
    if (t->end < t->begin || t->end - t->begin != bytes) {
        it_context_error(ctx, IT_ERR_FORMAT,
                         "%s: tensor '%.80s': data_offsets [%llu, %llu] do not hold %llu elements of %s (%llu bytes)", L,
                         e->key, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)t->numel,
                         it__st_dtypes[t->dtype].name, (unsigned long long)bytes);
        return IT_ERR_FORMAT;
    }
    if (t->end > f->data_len) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': data_offsets end %llu beyond the %llu-byte data region", L,
                         e->key, (unsigned long long)t->end, (unsigned long long)f->data_len);
        return IT_ERR_FORMAT;
    }
    return IT_OK;
}

/* The 8-byte header length N against the limit and the file's size. */
static it_result it__st_check_length(it_context *ctx, const char *L, uint64_t N, uint64_t file_size) {
    if (N > IT__ST_MAX_HEADER) return it_context_error(ctx, IT_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit", L, (unsigned long long)N);
    if (N > file_size - 8)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: header length %llu runs past the end of the %llu-byte file", L,
                                (unsigned long long)N, (unsigned long long)file_size);
    return IT_OK;
}
/* Step 1: the 8-byte length and the JSON header in f->buf[0, 8 + N), for a file of file_size bytes
   (the data need not be in memory: it__st_read_header reads only this much). */
static it_result it__st_parse_header(it_context *ctx, it__st_file *f, uint64_t file_size) {
    const char *L = f->label;
    uint64_t N = 0;
    int i;
    f->meta = -1;
    if (file_size < 8) return it_context_error(ctx, IT_ERR_FORMAT, "%s: %llu bytes, too short for the 8-byte header length", L, (unsigned long long)file_size);
    for (i = 7; i >= 0; i--) N = N << 8 | f->buf[i];
    if (it__st_check_length(ctx, L, N, file_size) != IT_OK) return IT_ERR_FORMAT;
    if (N < 2 || f->buf[8] != '{') return it_context_error(ctx, IT_ERR_FORMAT, "%s: the header does not start with '{'", L);
    if (it__json_parse(ctx, &f->json, (const char *)f->buf + 8, (size_t)N))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: header JSON: %s", L, f->json.err);
    f->header_len = N;
    f->data = f->buf + 8 + N;
    f->data_len = file_size - 8 - N;
    return IT_OK;
}
static int it__st_cmp_name(const void *a, const void *b) {
    return strcmp((*(const it__st_tensor *const *)a)->name, (*(const it__st_tensor *const *)b)->name);
}
/* Step 2: every entry (and __metadata__, whose values must be strings) into f->t. */
static it_result it__st_parse_entries(it_context *ctx, it__st_file *f) {
    const char *L = f->label;
    int c, m, ti = 0, n = f->json.v[0].n;
    if (n > 0) {
        f->t = (it__st_tensor *)it__alloc(ctx, sizeof(it__st_tensor) * (size_t)n);
        if (!f->t) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory for %d tensors", L, n);
    }
    for (c = f->json.v[0].first; c >= 0; c = f->json.v[c].next) {
        const it__jv *e = &f->json.v[c];
        if (strcmp(e->key, "__metadata__") == 0) {
            if (e->type != IT__J_OBJ) return it_context_error(ctx, IT_ERR_FORMAT, "%s: __metadata__ is not an object", L);
            for (m = e->first; m >= 0; m = f->json.v[m].next)
                if (f->json.v[m].type != IT__J_STR)
                    return it_context_error(ctx, IT_ERR_FORMAT, "%s: __metadata__ value '%.80s' is not a string", L, f->json.v[m].key);
            f->meta = c;
            continue;
        }
        if (it__st_parse_entry(ctx, f, c, &f->t[ti]) != IT_OK) return IT_ERR_FORMAT;
        f->n_t = ++ti;
    }
    if (ti > 0) { /* a name index, so matching a deep model's tensors is n log n */
        f->by_name = (it__st_tensor **)it__alloc(ctx, sizeof(it__st_tensor *) * (size_t)ti);
        if (!f->by_name) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory for %d tensors", L, ti);
        for (c = 0; c < ti; c++) f->by_name[c] = &f->t[c];
        qsort(f->by_name, (size_t)ti, sizeof(it__st_tensor *), it__st_cmp_name);
    }
    return IT_OK;
}
/* Step 3: the tensors tile the data region exactly: sorted by offset, contiguous from 0, no gap,
   no overlap, nothing after the last. */
static it_result it__st_check_layout(it_context *ctx, it__st_file *f) {
    const char *L = f->label;
    it__st_tensor **order = NULL;
    uint64_t at = 0;
    int i, ti = f->n_t;
    it_result r = IT_OK;
    if (ti > 0) {
        order = (it__st_tensor **)it__alloc(ctx, sizeof(it__st_tensor *) * (size_t)ti);
        if (!order) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory for %d tensors", L, ti);
        for (i = 0; i < ti; i++) order[i] = &f->t[i];
    }
    if (ti > 1) qsort(order, (size_t)ti, sizeof(it__st_tensor *), it__st_cmp_offset);
    for (i = 0; i < ti && r == IT_OK; i++) {
        if (order[i]->begin != at)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.80s': data starts at %llu, expected %llu (%s)", L,
                                 order[i]->name, (unsigned long long)order[i]->begin, (unsigned long long)at,
                                 order[i]->begin < at ? "overlaps the previous tensor" : "gap before it");
        at = order[i]->end;
    }
    if (r == IT_OK && at != f->data_len)
        r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensors cover %llu bytes but the data region holds %llu (%s)", L,
                             (unsigned long long)at, (unsigned long long)f->data_len,
                             at < f->data_len ? "trailing bytes" : "truncated");
    if (order) it__free(ctx, order);
    return r;
}
/* Step 4: the irontensor checksums of the header and of the data, when present (files this library
   wrote always carry both: a damaged key must not disable the check). */
static it_result it__st_check_checksums(it_context *ctx, it__st_file *f) {
    const char *L = f->label;
    const it__jv *hcrc = it__st_meta(f, "irontensor.crc32_header"), *dcrc = it__st_meta(f, "irontensor.crc32_data");
    it__crc *crc;
    uint32_t want, got;
    int c;
    if (!hcrc && !dcrc) {
        if (f->meta >= 0)
            for (c = f->json.v[f->meta].first; c >= 0; c = f->json.v[c].next)
                if (strncmp(f->json.v[c].key, "irontensor", 10) == 0)
                    return it_context_error(ctx, IT_ERR_FORMAT, "%s: irontensor file without its checksums (damaged metadata key?)", L);
        return IT_OK;
    }
    if (!hcrc || !dcrc || it__parse_hex8(hcrc->str, hcrc->len, &want) || hcrc->raw_end - hcrc->raw_begin != 10)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: irontensor.crc32_header / crc32_data missing or not 8 hex digits", L);
    crc = (it__crc *)it__alloc(ctx, sizeof(it__crc));
    if (!crc) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", L);
    it__crc_init(crc);
    /* the header checksum reads its own 8 digits as zeros */
    got = it__crc_update(crc, 0, f->buf, 8 + hcrc->raw_begin + 1);
    got = it__crc_update(crc, got, "00000000", 8);
    got = it__crc_update(crc, got, f->buf + 8 + hcrc->raw_end - 1, (size_t)(f->header_len - (hcrc->raw_end - 1)));
    if (got != want) {
        it__free(ctx, crc);
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: header checksum mismatch (stored %08lx, computed %08lx): corrupt header", L,
                                (unsigned long)want, (unsigned long)got);
    }
    if (it__parse_hex8(dcrc->str, dcrc->len, &want)) {
        it__free(ctx, crc);
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: irontensor.crc32_data is not 8 hex digits", L);
    }
    got = it__crc_update(crc, 0, f->data, (size_t)f->data_len);
    it__free(ctx, crc);
    if (got != want)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: data checksum mismatch (stored %08lx, computed %08lx): corrupt tensor data", L,
                                (unsigned long)want, (unsigned long)got);
    return IT_OK;
}
/* Parses and validates a whole safetensors file held in f->buf[0, f->size), in four steps. f->buf
   stays owned by f. */
static it_result it__st_parse(it_context *ctx, it__st_file *f) {
    it_result r = it__st_parse_header(ctx, f, f->size);
    if (r == IT_OK) r = it__st_parse_entries(ctx, f);
    if (r == IT_OK) r = it__st_check_layout(ctx, f);
    if (r == IT_OK) r = it__st_check_checksums(ctx, f);
    return r;
}
/* Only the header of the safetensors file at path (steps 1-3: names, dtypes, shapes, layout
   against the file's size), without reading the data: cheap checks before anything is built. */
static it_result it__st_read_header(it_context *ctx, const char *path, it__st_file *f, int *missing) {
    unsigned char len8[8];
    uint64_t size, N = 0;
    size_t got;
    int fd, i;
    it_result r = it__io_open_regular(ctx, path, "safetensors file", &fd, &size, missing);
    if (r != IT_OK) return r;
    if (it__io_read_all(fd, len8, 8, &got) != 0 || got != 8) {
        close(fd);
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: %llu bytes, too short for the 8-byte header length", f->label,
                                (unsigned long long)size);
    }
    for (i = 7; i >= 0; i--) N = N << 8 | len8[i];
    if (it__st_check_length(ctx, f->label, N, size) != IT_OK) {
        close(fd);
        return IT_ERR_FORMAT;
    }
    f->buf = (unsigned char *)it__alloc(ctx, (size_t)N + 9);
    if (!f->buf) {
        close(fd);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory for the header", f->label);
    }
    memcpy(f->buf, len8, 8);
    r = it__io_read_all(fd, f->buf + 8, (size_t)N, &got) != 0 || got != (size_t)N
            ? it_context_error(ctx, IT_ERR_IO, "%s: cannot read the %llu-byte header", f->label, (unsigned long long)N)
            : IT_OK;
    close(fd);
    if (r != IT_OK) return r;
    f->buf[8 + N] = 0;
    f->size = (size_t)N + 8;
    r = it__st_parse_header(ctx, f, size);
    if (r == IT_OK) r = it__st_parse_entries(ctx, f);
    if (r == IT_OK) r = it__st_check_layout(ctx, f);
    return r;
}

static const it__st_tensor *it__st_find(const it__st_file *f, const char *name) {
    int lo = 0, hi = f->n_t - 1;
    if (!f->by_name) return NULL;
    while (lo <= hi) { /* binary search of the name index */
        int mid = lo + (hi - lo) / 2, c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}
static float it__f16_to_f32(uint16_t h) {
    unsigned s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 1024), (int)e - 25);
    return s ? -v : v;
}
/* n elements of a F32 / BF16 / F16 tensor starting at element `first` -> out (little-endian file). */
static void it__st_to_f32(float *out, const unsigned char *src, int dtype, size_t first, size_t n) {
    size_t i;
    const char *dn = it__st_dtypes[dtype].name;
    if (strcmp(dn, "F32") == 0) {
        memcpy(out, src + first * 4, n * 4);
    } else if (strcmp(dn, "BF16") == 0) {
        for (i = 0; i < n; i++) {
            const unsigned char *p = src + (first + i) * 2;
            out[i] = it_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        }
    } else {
        for (i = 0; i < n; i++) {
            const unsigned char *p = src + (first + i) * 2;
            out[i] = it__f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        }
    }
}
static int it__st_is_float(int dtype) {
    const char *dn = it__st_dtypes[dtype].name;
    return strcmp(dn, "F32") == 0 || strcmp(dn, "BF16") == 0 || strcmp(dn, "F16") == 0;
}
static int it__little_endian(void) {
    uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* >>ckfiles  checkpoint directories (files themselves go through >>io) -------------------------- */
/* Size and CRC-32 of a regular file, read in chunks (data files can be large); never blocks. */
IT_API it_result it_file_fingerprint_compute(it_context *ctx, const char *path, it_file_fingerprint *out) {
    it__crc *crc;
    unsigned char *chunk;
    uint32_t c = 0;
    uint64_t size, total = 0;
    int fd;
    it_result r = it__io_open_regular(ctx, path, "file", &fd, &size, NULL);
    memset(out, 0, sizeof *out);
    if (r != IT_OK) return r;
    crc = (it__crc *)it__alloc(ctx, sizeof(it__crc));
    chunk = (unsigned char *)it__alloc(ctx, IT__CK_CHUNK);
    if (!crc || !chunk) r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "'%s': out of memory", path);
    else it__crc_init(crc);
    while (r == IT_OK) {
        size_t got = 0;
        if (it__io_read_all(fd, chunk, IT__CK_CHUNK, &got) != 0)
            r = it_context_error(ctx, IT_ERR_IO, "'%s': read failed: %s", path, strerror(errno));
        if (got == 0) break;
        c = it__crc_update(crc, c, chunk, got);
        total += got;
    }
    close(fd);
    it__free(ctx, crc);
    it__free(ctx, chunk);
    if (r != IT_OK) return r;
    out->size = (int64_t)total;
    out->crc32 = c;
    return IT_OK;
}
static int it__dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
/* DIR without trailing slashes, its parent and its last component. */
static it_result it__ck_split(it_context *ctx, const char *dir, char *clean, char *parent, char *base, size_t size) {
    size_t n = dir ? strlen(dir) : 0;
    const char *slash;
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || n >= size) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: empty or too long directory name");
    memcpy(clean, dir, n);
    clean[n] = 0;
    slash = strrchr(clean, '/');
    if (!slash) {
        strcpy(parent, ".");
        strcpy(base, clean);
    } else {
        size_t pl = (size_t)(slash - clean);
        if (pl == 0) pl = 1; /* "/x": parent "/" */
        memcpy(parent, clean, pl);
        parent[pl] = 0;
        strcpy(base, slash + 1);
    }
    if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: '%s' does not name a directory to write", dir);
    return IT_OK;
}
/* >>cksafe  what a save may replace, how it removes, stale temporaries, the writer's lock ---------
   The rules are stated at the >>checkpoints banner (SAFETY). Every removal goes through
   it__ck_remove_owned: the directory is opened with O_NOFOLLOW, its entries are examined with
   fstatat(AT_SYMLINK_NOFOLLOW) and removed with unlinkat, by name, only when the name is one this
   library writes. */
#define IT__CK_MARKER "irontensor.checkpoint"
#define IT__CK_LOCK_WAIT_MS 30000
static const char *const it__ck_own_files[] = {IT__CK_MARKER,      "config.json",        "model.safetensors",
                                               "optimizer.safetensors", "trainer_state.json", "tokenizer.bin",
                                               "loss.csv",           "loss.svg"};
/* One of the names above, or its atomic-write temporary NAME.tmp-<pid> (it__io_tmp_name), which a
   killed save can leave inside DIR.tmp-PID. */
static int it__ck_own_file(const char *name) {
    size_t i, n;
    for (i = 0; i < sizeof it__ck_own_files / sizeof it__ck_own_files[0]; i++) {
        n = strlen(it__ck_own_files[i]);
        if (strncmp(name, it__ck_own_files[i], n) != 0) continue;
        if (name[n] == 0) return 1;
        if (strncmp(name + n, ".tmp-", 5) == 0 && name[n + 5] && strspn(name + n + 5, "0123456789") == strlen(name + n + 5)) return 1;
    }
    return 0;
}
/* A directory opened without following a link in its last component; -1 (errno set) otherwise. */
static int it__ck_open_dir(const char *path) { return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW); }

/* What a directory holds, as far as replacing it goes. */
typedef struct it__ck_scan {
    int entries;       /* names other than . and .. */
    int marker;        /* IT__CK_MARKER, a regular file */
    int legacy;        /* a config.json carrying "irontensor_version" (saved before the marker existed) */
    char foreign[256]; /* the first entry that is not a regular file named in it__ck_own_files; "" if none */
} it__ck_scan;
/* 1 when the regular file `name` in directory dfd contains `needle` within its first 64 KB. */
static int it__ck_file_has(int dfd, const char *name, const char *needle) {
    char buf[65536];
    size_t got = 0;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK), found;
    if (fd < 0) return 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got == sizeof buf - 1) break;
    }
    close(fd);
    buf[got] = 0;
    found = strstr(buf, needle) != NULL;
    return found;
}
/* Scans the directory at path (never through a link). -1 with errno when it cannot be opened. */
static int it__ck_scan_dir(const char *path, it__ck_scan *s) {
    int dfd = it__ck_open_dir(path);
    DIR *d;
    struct dirent *e;
    memset(s, 0, sizeof *s);
    if (dfd < 0) return -1;
    if (!(d = fdopendir(dfd))) {
        close(dfd);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        int regular;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        s->entries++;
        regular = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
        if (!regular || !it__ck_own_file(e->d_name)) {
            if (!s->foreign[0]) snprintf(s->foreign, sizeof s->foreign, "%.200s%s", e->d_name, regular ? "" : " (not a regular file)");
            continue;
        }
        if (strcmp(e->d_name, IT__CK_MARKER) == 0) s->marker = 1;
        if (strcmp(e->d_name, "config.json") == 0) s->legacy = it__ck_file_has(dirfd(d), "config.json", "\"irontensor_version\"");
    }
    closedir(d);
    return 0;
}
/* Removes the directory at path when everything in it is a regular file named in it__ck_own_files:
   0. Otherwise -1 with errno, or with the first foreign entry in foreign, and nothing removed (an
   entry that appears between the scan and the removal stops it part-way: ours gone, it kept). */
static int it__ck_remove_owned(const char *path, char *foreign, size_t fsize) {
    it__ck_scan s;
    int dfd, rc = 0;
    DIR *d;
    struct dirent *e;
    if (foreign && fsize) foreign[0] = 0;
    if (it__ck_scan_dir(path, &s) != 0) return -1;
    if (s.foreign[0]) { /* nothing is removed from a directory that is not wholly ours */
        if (foreign && fsize) snprintf(foreign, fsize, "%s", s.foreign);
        return -1;
    }
    if ((dfd = it__ck_open_dir(path)) < 0) return -1;
    if (!(d = fdopendir(dfd))) {
        close(dfd);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (it__ck_own_file(e->d_name) && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            if (unlinkat(dirfd(d), e->d_name, 0) != 0) rc = -1;
        } else { /* appeared since the scan */
            if (foreign && fsize && !foreign[0]) snprintf(foreign, fsize, "%s", e->d_name);
            rc = -1;
        }
    }
    closedir(d);
    return rc == 0 ? rmdir(path) : rc; /* rmdir does not follow a link put in path's place */
}
/* Whether a save may write clean (split by it__ck_split into parent): IT_OK or an error naming
   clean and the reason. Touches nothing but a probe directory it removes at once. */
static it_result it__ck_check_target(it_context *ctx, const char *clean, const char *parent) {
    struct stat st;
    it__ck_scan s;
    char probe[IT__PATH_NAMED];
    if (stat(parent, &st) != 0)
        return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: the parent directory %s %s", clean, parent,
                                errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode)) return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: %s is not a directory", clean, parent);
    if (lstat(clean, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                    "checkpoint %s: is a symbolic link; a save never writes or removes through a link "
                                    "(give the directory it points to, if that is what you mean)", clean);
        if (!S_ISDIR(st.st_mode))
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint %s: exists and is not a directory", clean);
        if (it__ck_scan_dir(clean, &s) != 0)
            return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot list: %s", clean, strerror(errno));
        if (s.foreign[0])
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                    "checkpoint %s: refusing to replace a directory holding '%s', which IronTensor did not "
                                    "write (a save replaces only a missing path, an empty directory or a checkpoint); "
                                    "nothing was changed", clean, s.foreign);
        if (s.entries && !s.marker && !s.legacy)
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                    "checkpoint %s: refusing to replace a directory that is not an IronTensor checkpoint "
                                    "(no %s, and no config.json with irontensor_version); nothing was changed", clean,
                                    IT__CK_MARKER);
        if (access(clean, W_OK | X_OK) != 0)
            return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot replace it: %s", clean, strerror(errno));
    } else if (errno != ENOENT) {
        return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: %s", clean, strerror(errno));
    }
    /* a writable parent: tried, not predicted from mode bits (root, read-only mounts, ACLs) */
    snprintf(probe, sizeof probe, "%s.probe-%ld", clean, (long)getpid());
    if (mkdir(probe, 0700) != 0 && errno != EEXIST)
        return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot write in %s: %s", clean, parent, strerror(errno));
    rmdir(probe);
    return IT_OK;
}
/* 1 when the process that named a temporary is gone (or is this one): its leftovers are stale. */
static int it__ck_pid_gone(long pid) {
    if (pid <= 0) return 0;
    if (pid == (long)getpid()) return 1;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}
/* "BASE<tag><digits><tail>" -> the digits as a pid, else -1. */
static long it__ck_tagged_pid(const char *name, const char *base, const char *tag, const char *tail) {
    size_t bl = strlen(base), tl = strlen(tag), nd, tail_len = strlen(tail);
    const char *digits;
    long pid = 0;
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, tag, tl) != 0) return -1;
    digits = name + bl + tl;
    nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 9 || strcmp(digits + nd, tail) != 0 || strlen(digits) != nd + tail_len) return -1;
    for (; nd; nd--, digits++) pid = pid * 10 + (*digits - '0');
    return pid;
}

/* The lock of one save target: an fcntl write lock on PARENT/.BASE.lock, released by close or by the
   process's death. A lock file removed while we waited (prune removes a snapshot's) is re-opened. */
static it_result it__ck_lock(it_context *ctx, const char *clean, const char *parent, const char *base, int wait_ms, int *out_fd) {
    char path[IT__PATH_NAMED], name[1100];
    int waited = 0, fd = -1;
    if (wait_ms == 0) wait_ms = IT__CK_LOCK_WAIT_MS;
    snprintf(name, sizeof name, ".%s.lock", base);
    if (it__path_join(path, sizeof path, parent, name)) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: path too long");
    for (;;) {
        struct flock fl;
        struct stat a, b;
        if (fd < 0 && (fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0644)) < 0)
            return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot open the lock file %s: %s", clean, path, strerror(errno));
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(fd, F_SETLK, &fl) == 0) {
            if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                *out_fd = fd;
                return IT_OK;
            }
            close(fd); /* locked a file that is no longer there */
            fd = -1;
            continue;
        }
        if (errno != EACCES && errno != EAGAIN) {
            it_result r = it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot lock %s: %s", clean, path, strerror(errno));
            close(fd);
            return r;
        }
        if (wait_ms < 0 || waited >= wait_ms) {
            close(fd);
            return it_context_error(ctx, IT_ERR_IO,
                                    "checkpoint %s: another process is saving it (it holds %s; waited %d ms); not saved", clean,
                                    path, waited);
        }
        {
            struct timespec ts;
            ts.tv_sec = 0;
            ts.tv_nsec = 20 * 1000000L;
            nanosleep(&ts, NULL);
            waited += 20;
        }
    }
}
static void it__ck_unlock(int fd) {
    if (fd >= 0) close(fd); /* closing releases the fcntl lock */
}

/* CRC-32 of data[0, n) with the 8 bytes at `hole` read as ASCII zeros (a checksum stored inside
   the bytes it covers). */
static uint32_t it__crc_with_hole(const it__crc *c, const unsigned char *data, size_t n, size_t hole) {
    uint32_t r = it__crc_update(c, 0, data, hole);
    r = it__crc_update(c, r, "00000000", 8);
    return it__crc_update(c, r, data + hole + 8, n - hole - 8);
}

/* >>ckmap  model parameters <-> checkpoint tensors ----------------------------------------------
   An entry is one checkpoint tensor made of 1 or 3 parameters laid side by side by columns:
   element (r, c) of the entry is element (r, c - col0) of the part holding column c. A plain
   parameter is 1 row x numel columns; GPT-2's c_attn weight is C rows x (C | C | C). */
typedef struct it__ck_entry {
    char name[96];
    int ndim;
    uint64_t dims[2];
    int n_parts;
    char part[3][IT_MAX_NAME];
    uint64_t rows, part_cols[3];
    size_t part_off[3]; /* float offsets of the parts in their block, once bound to a context */
} it__ck_entry;
typedef struct it__ck_map {
    it__ck_entry *e;
    int n;
    int gpt2;
} it__ck_map;

static void it__ck_add(it__ck_map *m, const char *ck, const char *p0, const char *p1, const char *p2, int ndim,
                       uint64_t d0, uint64_t d1) {
    it__ck_entry *e = &m->e[m->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", ck);
    e->ndim = ndim;
    e->dims[0] = d0;
    e->dims[1] = ndim == 2 ? d1 : 0;
    e->n_parts = p1 ? 3 : 1;
    snprintf(e->part[0], IT_MAX_NAME, "%s", p0);
    if (p1) {
        snprintf(e->part[1], IT_MAX_NAME, "%s", p1);
        snprintf(e->part[2], IT_MAX_NAME, "%s", p2);
        e->rows = ndim == 2 ? d0 : 1;
        e->part_cols[0] = e->part_cols[1] = e->part_cols[2] = (ndim == 2 ? d1 : d0) / 3;
    } else {
        e->rows = 1;
        e->part_cols[0] = ndim == 2 ? d0 * d1 : d0;
    }
}
static uint64_t it__ck_numel(const it__ck_entry *e) { return e->ndim == 2 ? e->dims[0] * e->dims[1] : e->dims[0]; }
static int it__ck_cmp(const void *a, const void *b) {
    return strcmp(((const it__ck_entry *)a)->name, ((const it__ck_entry *)b)->name);
}
static void it__ck_map_free(it_context *ctx, it__ck_map *m) {
    it__free(ctx, m->e);
    m->e = NULL;
    m->n = 0;
}
/* A name with an optional %d for the layer. */
static void it__ck_fmt(char *out, size_t size, const char *fmt, int layer) {
    if (strstr(fmt, "%d")) snprintf(out, size, fmt, layer);
    else snprintf(out, size, "%s", fmt);
}
/* The checkpoint tensors of a config, sorted by name (the file order). */
/* How many checkpoint tensors a config implies: it__ck_map_build's count, without building it. */
static uint64_t it__ck_map_count(const it_model_config *c) {
    uint64_t per_layer = c->arch == IT_ARCH_GPT2 ? 12 : 9, outside = c->arch == IT_ARCH_GPT2 ? 4 : 2;
    if (c->arch == IT_ARCH_LLAMA) /* the Llama-family options' biases and norms */
        per_layer += (c->qkv_bias ? 3 : 0) + (c->o_bias ? 1 : 0) + (c->qk_norm ? 2 : 0) + (c->mlp_bias ? 3 : 0);
    return outside + per_layer * (uint64_t)(c->n_layers > 0 ? c->n_layers : 0) + (c->untied ? 1 : 0);
}
static it_result it__json_file_read(it_context *ctx, const char *path, unsigned char **buf, it__json *j, int *missing,
                                    int *edited);
/* Before anything is built from a config: model.safetensors's header (read alone, not the data)
   holds at least as many tensors as the config implies, so a 1 KB config.json claiming 100000 layers is
   refused at once. A missing file passes when `missing_ok` (a bare Hugging Face config). */
static it_result it__ck_check_header(it_context *ctx, const char *dir, const it_model_config *c, int missing_ok) {
    char path[IT__PATH_NAMED];
    it__st_file f;
    int missing = 0;
    it_result r;
    uint64_t want = it__ck_map_count(c);
    if (it__path_join(path, sizeof path, dir, "model.safetensors")) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: path too long");
    memset(&f, 0, sizeof f);
    f.label = path;
    r = it__st_read_header(ctx, path, &f, &missing);
    if (r != IT_OK && missing) { /* a sharded model: the index's weight_map lists every tensor */
        char index_path[IT__PATH_NAMED];
        unsigned char *buf = NULL;
        it__json j;
        int map, index_missing = 0;
        it__path_join(index_path, sizeof index_path, dir, "model.safetensors.index.json");
        if (it__json_file_read(ctx, index_path, &buf, &j, &index_missing, NULL) == IT_OK) {
            map = it__jget(&j, 0, "weight_map");
            f.n_t = map >= 0 && j.v[map].type == IT__J_OBJ ? j.v[map].n : 0;
            r = IT_OK;
            path[0] = 0;
            snprintf(path, sizeof path, "%s", index_path);
        } else if (!index_missing)
            r = IT_ERR_FORMAT; /* the index is unreadable: its error stands */
        it__json_free(&j);
        it__free(ctx, buf);
    }
    if (r != IT_OK && missing && missing_ok) r = IT_OK;
    else if (r == IT_OK && want > (uint64_t)f.n_t) /* fewer is for the full match to name */
        r = it_context_error(ctx, IT_ERR_FORMAT, "checkpoint %s: config.json describes %d layers (%llu tensors) but "
                             "%s holds %d tensors", dir, c->n_layers, (unsigned long long)want, path, f.n_t);
    f.label = NULL;
    it__st_free(ctx, &f);
    return r;
}
static it_result it__ck_map_build(it_context *ctx, const it_model_config *c, it__ck_map *m) {
    uint64_t C = (uint64_t)c->dim, V = (uint64_t)c->vocab_size, F = (uint64_t)c->ffn_dim, HD = (uint64_t)it_model_head_dim(c);
    uint64_t Q = HD * (uint64_t)c->n_heads, KV = HD * (uint64_t)c->n_kv_heads;
    int l, cap = 4 + IT_MODEL_LAYER_PARAMS * c->n_layers;
    char a[IT_MAX_NAME], b[IT_MAX_NAME], d[IT_MAX_NAME], k[96];
    memset(m, 0, sizeof *m);
    m->e = (it__ck_entry *)it__alloc(ctx, sizeof(it__ck_entry) * (size_t)cap);
    if (!m->e) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
    m->gpt2 = c->arch == IT_ARCH_GPT2;
#define IT__CK1(ckfmt, pfmt, nd, d0, d1)                  \
    do {                                                  \
        it__ck_fmt(k, sizeof k, ckfmt, l);                \
        it__ck_fmt(a, sizeof a, pfmt, l);                 \
        it__ck_add(m, k, a, NULL, NULL, nd, d0, d1);      \
    } while (0)
    l = 0;
    if (!m->gpt2) {
        IT__CK1("model.embed_tokens.weight", "model.embed_tokens.weight", 2, V, C);
        for (l = 0; l < c->n_layers; l++) {
            IT__CK1("model.layers.%d.input_layernorm.weight", "model.layers.%d.input_layernorm.weight", 1, C, 0);
            IT__CK1("model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.q_proj.weight", 2, Q, C);
            IT__CK1("model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.k_proj.weight", 2, KV, C);
            IT__CK1("model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.v_proj.weight", 2, KV, C);
            IT__CK1("model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.self_attn.o_proj.weight", 2, C, Q);
            if (c->qkv_bias) {
                IT__CK1("model.layers.%d.self_attn.q_proj.bias", "model.layers.%d.self_attn.q_proj.bias", 1, Q, 0);
                IT__CK1("model.layers.%d.self_attn.k_proj.bias", "model.layers.%d.self_attn.k_proj.bias", 1, KV, 0);
                IT__CK1("model.layers.%d.self_attn.v_proj.bias", "model.layers.%d.self_attn.v_proj.bias", 1, KV, 0);
            }
            if (c->o_bias) IT__CK1("model.layers.%d.self_attn.o_proj.bias", "model.layers.%d.self_attn.o_proj.bias", 1, C, 0);
            if (c->qk_norm) {
                IT__CK1("model.layers.%d.self_attn.q_norm.weight", "model.layers.%d.self_attn.q_norm.weight", 1, HD, 0);
                IT__CK1("model.layers.%d.self_attn.k_norm.weight", "model.layers.%d.self_attn.k_norm.weight", 1, HD, 0);
            }
            IT__CK1("model.layers.%d.post_attention_layernorm.weight", "model.layers.%d.post_attention_layernorm.weight", 1, C, 0);
            IT__CK1("model.layers.%d.mlp.gate_proj.weight", "model.layers.%d.mlp.gate_proj.weight", 2, F, C);
            IT__CK1("model.layers.%d.mlp.up_proj.weight", "model.layers.%d.mlp.up_proj.weight", 2, F, C);
            IT__CK1("model.layers.%d.mlp.down_proj.weight", "model.layers.%d.mlp.down_proj.weight", 2, C, F);
            if (c->mlp_bias) {
                IT__CK1("model.layers.%d.mlp.gate_proj.bias", "model.layers.%d.mlp.gate_proj.bias", 1, F, 0);
                IT__CK1("model.layers.%d.mlp.up_proj.bias", "model.layers.%d.mlp.up_proj.bias", 1, F, 0);
                IT__CK1("model.layers.%d.mlp.down_proj.bias", "model.layers.%d.mlp.down_proj.bias", 1, C, 0);
            }
        }
        l = 0;
        IT__CK1("model.norm.weight", "model.norm.weight", 1, C, 0);
    } else {
        IT__CK1("transformer.wte.weight", "wte.weight", 2, V, C);
        IT__CK1("transformer.wpe.weight", "wpe.weight", 2, (uint64_t)c->max_seq, C);
        for (l = 0; l < c->n_layers; l++) {
            IT__CK1("transformer.h.%d.ln_1.weight", "h.%d.ln_1.weight", 1, C, 0);
            IT__CK1("transformer.h.%d.ln_1.bias", "h.%d.ln_1.bias", 1, C, 0);
            snprintf(k, sizeof k, "transformer.h.%d.attn.c_attn.weight", l);
            snprintf(a, sizeof a, "h.%d.attn.q.weight", l);
            snprintf(b, sizeof b, "h.%d.attn.k.weight", l);
            snprintf(d, sizeof d, "h.%d.attn.v.weight", l);
            it__ck_add(m, k, a, b, d, 2, C, 3 * C);
            snprintf(k, sizeof k, "transformer.h.%d.attn.c_attn.bias", l);
            snprintf(a, sizeof a, "h.%d.attn.q.bias", l);
            snprintf(b, sizeof b, "h.%d.attn.k.bias", l);
            snprintf(d, sizeof d, "h.%d.attn.v.bias", l);
            it__ck_add(m, k, a, b, d, 1, 3 * C, 0);
            IT__CK1("transformer.h.%d.attn.c_proj.weight", "h.%d.attn.c_proj.weight", 2, C, C);
            IT__CK1("transformer.h.%d.attn.c_proj.bias", "h.%d.attn.c_proj.bias", 1, C, 0);
            IT__CK1("transformer.h.%d.ln_2.weight", "h.%d.ln_2.weight", 1, C, 0);
            IT__CK1("transformer.h.%d.ln_2.bias", "h.%d.ln_2.bias", 1, C, 0);
            IT__CK1("transformer.h.%d.mlp.c_fc.weight", "h.%d.mlp.c_fc.weight", 2, C, F);
            IT__CK1("transformer.h.%d.mlp.c_fc.bias", "h.%d.mlp.c_fc.bias", 1, F, 0);
            IT__CK1("transformer.h.%d.mlp.c_proj.weight", "h.%d.mlp.c_proj.weight", 2, F, C);
            IT__CK1("transformer.h.%d.mlp.c_proj.bias", "h.%d.mlp.c_proj.bias", 1, C, 0);
        }
        l = 0;
        IT__CK1("transformer.ln_f.weight", "ln_f.weight", 1, C, 0);
        IT__CK1("transformer.ln_f.bias", "ln_f.bias", 1, C, 0);
    }
    if (c->untied) IT__CK1("lm_head.weight", "lm_head.weight", 2, V, C);
#undef IT__CK1
    IT_ASSERT((uint64_t)m->n == it__ck_map_count(c)); /* the two must describe the same files */
    qsort(m->e, (size_t)m->n, sizeof(it__ck_entry), it__ck_cmp);
    return IT_OK;
}
/* Finds every part among ctx's parameters and records its offset; the sizes must agree. */
static it_result it__ck_map_bind(it_context *ctx, it__ck_map *m) {
    int i, k;
    for (i = 0; i < m->n; i++)
        for (k = 0; k < m->e[i].n_parts; k++) {
            it_tensor *t = it_param_find(ctx, m->e[i].part[k]);
            size_t off;
            if (!t || it_tensor_numel(t) != m->e[i].rows * m->e[i].part_cols[k])
                return it_context_error(ctx, IT_ERR_STATE, "checkpoint: tensor '%s': model parameter '%s' %s", m->e[i].name,
                                        m->e[i].part[k], t ? "has a different size than the config implies" : "is missing");
            it_tensor_block(t, &off);
            m->e[i].part_off[k] = off / sizeof(float);
        }
    return IT_OK;
}
/* Elements [first, first + n) of entry e, read from the block at base. */
static void it__ck_gather(const it__ck_entry *e, const float *base, uint64_t first, size_t n, float *out) {
    uint64_t cols = e->part_cols[0] * (uint64_t)e->n_parts;
    while (n) {
        uint64_t r = first / cols, c = first % cols, pc = e->part_cols[0];
        int k = (int)(c / pc);
        uint64_t lc = c - (uint64_t)k * pc, run = pc - lc;
        if (run > n) run = n;
        memcpy(out, base + e->part_off[k] + r * pc + lc, (size_t)run * sizeof(float));
        out += run;
        first += run;
        n -= (size_t)run;
    }
}
static void it__ck_scatter(const it__ck_entry *e, float *base, uint64_t first, size_t n, const float *in) {
    uint64_t cols = e->part_cols[0] * (uint64_t)e->n_parts;
    while (n) {
        uint64_t r = first / cols, c = first % cols, pc = e->part_cols[0];
        int k = (int)(c / pc);
        uint64_t lc = c - (uint64_t)k * pc, run = pc - lc;
        if (run > n) run = n;
        memcpy(base + e->part_off[k] + r * pc + lc, in, (size_t)run * sizeof(float));
        in += run;
        first += run;
        n -= (size_t)run;
    }
}
/* Optimizer state suffixes per kind, and where each lives in opt->state (in units of it_grad_numel,
   which is it_param_numel: see it__ck_optimizer_supported). */
/* The state is laid out like the gradient block, which matches the parameter block (what the map's
   offsets address) only when every parameter is trainable; a partly frozen model's state is
   refused rather than written or read at the wrong offsets. */
static it_result it__ck_optimizer_supported(it_context *ctx, const it_model *m, const char *what) {
    int i;
    for (i = 0; i < it_param_count(m->ctx); i++) {
        it_tensor *p = it_param_at(m->ctx, i);
        if (!it_param_trainable(p))
            return it_context_error(ctx, IT_ERR_UNSUPPORTED,
                                    "%s: optimizer state of a model with frozen parameters ('%s' is frozen) is not "
                                    "supported; save or load the weights without the optimizer", what, it_tensor_name(p));
    }
    return IT_OK;
}
static int it__ck_state_names(it_optimizer_kind kind, const char **names) {
    if (kind == IT_OPTIMIZER_ADAMW) {
        names[0] = "exp_avg";
        names[1] = "exp_avg_sq";
        return 2;
    }
    names[0] = "momentum";
    return 1;
}

/* >>ckwrite ----------------------------------------------------------------------------------- */
typedef struct it__st_item {
    char name[128];
    const it__ck_entry *e;
    const float *base;
} it__st_item;
static int it__st_item_cmp(const void *a, const void *b) {
    return strcmp(((const it__st_item *)a)->name, ((const it__st_item *)b)->name);
}
/* One pass over the data of every item, converted to the file dtype: CRC (fd < 0) or write. */
static int it__st_stream(const it__st_item *items, int n, int bf16, float *chunk, uint16_t *half, const it__crc *crc,
                         uint32_t *crc_out, int fd) {
    int i;
    uint32_t c = 0;
    for (i = 0; i < n; i++) {
        uint64_t total = it__ck_numel(items[i].e), at = 0;
        while (at < total) {
            size_t len = (size_t)(total - at < IT__CK_CHUNK ? total - at : IT__CK_CHUNK);
            const void *bytes = chunk;
            size_t nbytes = len * 4;
            it__ck_gather(items[i].e, items[i].base, at, len, chunk);
            if (bf16) {
                it_f32_to_bf16_array(half, chunk, len);
                bytes = half;
                nbytes = len * 2;
            }
            if (fd < 0) c = it__crc_update(crc, c, bytes, nbytes);
            else if (it__write_all(fd, bytes, nbytes) != 0) return -1;
            at += len;
        }
    }
    if (crc_out) *crc_out = c;
    return 0;
}
static it_result it__st_write(it_context *ctx, const char *path, it__st_item *items, int n, int bf16,
                              const char *content, const it_optimizer *opt) {
    it__buf h;
    it__crc *crc;
    float *chunk;
    uint16_t *half;
    uint64_t off = 0, N;
    size_t hole, es = bf16 ? 2 : 4;
    uint32_t dcrc = 0;
    unsigned char len8[8];
    char hex[9];
    int i, fd = -1;
    it_result r = IT_OK;
    it__buf_init(&h, ctx);
    qsort(items, (size_t)n, sizeof(it__st_item), it__st_item_cmp);
    crc = (it__crc *)it__alloc(ctx, sizeof(it__crc));
    chunk = (float *)it__alloc(ctx, IT__CK_CHUNK * sizeof(float));
    half = (uint16_t *)it__alloc(ctx, IT__CK_CHUNK * sizeof(uint16_t));
    if (!crc || !chunk || !half) {
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    it__crc_init(crc);
    it__st_stream(items, n, bf16, chunk, half, crc, &dcrc, -1);
    hex[8] = 0;
    it__hex8(hex, dcrc);
    it__buf_puts(&h, "{\"__metadata__\":{\"format\":\"pt\",\"irontensor.content\":");
    it__json_put_string(&h, content);
    if (opt) {
        it__buf_puts(&h, ",\"irontensor.optimizer\":");
        it__json_put_string(&h, it_optimizer_name(opt->desc.kind));
        it__buf_printf(&h, ",\"irontensor.optimizer_step\":\"%d\"", opt->step);
    }
    it__buf_printf(&h, ",\"irontensor.version\":\"%s\",\"irontensor.crc32_data\":\"%s\",\"irontensor.crc32_header\":\"",
                   IT_VERSION_STRING, hex);
    hole = h.n;
    it__buf_puts(&h, "00000000\"}");
    for (i = 0; i < n; i++) {
        const it__ck_entry *e = items[i].e;
        uint64_t bytes = it__ck_numel(e) * es;
        it__buf_puts(&h, ",");
        it__json_put_string(&h, items[i].name);
        it__buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[%llu", bf16 ? "BF16" : "F32", (unsigned long long)e->dims[0]);
        if (e->ndim == 2) it__buf_printf(&h, ",%llu", (unsigned long long)e->dims[1]);
        it__buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
        off += bytes;
    }
    it__buf_puts(&h, "}");
    /* the Rust writer's padding: data starts 8-aligned (a failed buffer no longer grows) */
    while (!h.failed && h.n % 8) it__buf_puts(&h, " ");
    if (h.failed) {
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory for the header", path);
        goto done;
    }
    N = h.n;
    for (i = 0; i < 8; i++) len8[i] = (unsigned char)(N >> (8 * i));
    {
        uint32_t hc = it__crc_update(crc, 0, len8, 8);
        hc = it__crc_update(crc, hc, h.p, h.n);
        it__hex8(h.p + hole, hc);
    }
    if ((r = it__io_create(ctx, path, &fd)) != IT_OK) goto done;
    r = it__io_close_synced(ctx, path, fd,
                            it__write_all(fd, len8, 8) || it__write_all(fd, h.p, h.n) ||
                                it__st_stream(items, n, bf16, chunk, half, crc, NULL, fd));
done:
    it__buf_free(&h);
    if (crc) it__free(ctx, crc);
    if (chunk) it__free(ctx, chunk);
    if (half) it__free(ctx, half);
    return r;
}
/* Closes a JSON object with "irontensor_crc32" (over the whole text, its own digits as zeros) and
   writes it. */
static it_result it__json_file_write(it_context *ctx, const char *path, it__buf *b) {
    size_t hole;
    it__crc *crc;
    it__buf_puts(b, ",\n  \"irontensor_crc32\": \"");
    hole = b->n;
    it__buf_puts(b, "00000000\"\n}\n");
    crc = (it__crc *)it__alloc(ctx, sizeof(it__crc));
    if (b->failed || !crc) {
        if (crc) it__free(ctx, crc);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    it__crc_init(crc);
    it__hex8(b->p + hole, it__crc_update(crc, 0, b->p, b->n));
    it__free(ctx, crc);
    return it__write_file(ctx, path, b->p, b->n);
}
static void it__config_json(it__buf *b, const it_model_config *c, int bf16) {
    const char *dt = bf16 ? "bfloat16" : "float32";
    if (c->arch == IT_ARCH_LLAMA) { /* the transformers 4.x dialect, which 5.x reads too */
        it_model_family family = it__config_family(c);
        const it_rope_scaling *rs = &c->rope_scaling;
        it__buf_printf(b, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n", it_model_family_architecture(family),
                       it_model_family_type(family));
        it__buf_printf(b, "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n", c->vocab_size, c->dim, c->ffn_dim);
        it__buf_printf(b, "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n",
                       c->n_layers, c->n_heads, c->n_kv_heads);
        it__buf_printf(b, "  \"head_dim\": %d,\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": ", it_model_head_dim(c), c->max_seq);
        it__json_put_float(b, c->norm_eps);
        it__buf_puts(b, ",\n  \"rope_theta\": ");
        it__json_put_float(b, c->rope_theta);
        if (rs->kind == IT_ROPE_DEFAULT) it__buf_puts(b, ",\n  \"rope_scaling\": null");
        else {
            it__buf_printf(b, ",\n  \"rope_scaling\": {\"rope_type\": \"%s\", \"factor\": ", rs->kind == IT_ROPE_LINEAR ? "linear" : "llama3");
            it__json_put_float(b, rs->factor);
            if (rs->kind == IT_ROPE_LLAMA3) {
                it__buf_puts(b, ", \"low_freq_factor\": ");
                it__json_put_float(b, rs->low_freq_factor);
                it__buf_puts(b, ", \"high_freq_factor\": ");
                it__json_put_float(b, rs->high_freq_factor);
                it__buf_printf(b, ", \"original_max_position_embeddings\": %d", rs->original_max_positions);
            }
            it__buf_puts(b, "}");
        }
        it__buf_puts(b, ",\n  \"hidden_act\": \"silu\",\n");
        if (family != IT_FAMILY_QWEN2) it__buf_printf(b, "  \"attention_bias\": %s,\n", c->o_bias ? "true" : "false");
        if (family == IT_FAMILY_LLAMA) it__buf_printf(b, "  \"mlp_bias\": %s,\n  \"pretraining_tp\": 1,\n", c->mlp_bias ? "true" : "false");
        if (family == IT_FAMILY_MISTRAL) {
            if (c->sliding_window) it__buf_printf(b, "  \"sliding_window\": %d,\n", c->sliding_window);
            else it__buf_puts(b, "  \"sliding_window\": null,\n");
        }
        if (family == IT_FAMILY_QWEN2 || family == IT_FAMILY_QWEN3)
            it__buf_puts(b, "  \"use_sliding_window\": false,\n  \"sliding_window\": null,\n");
        it__buf_puts(b, "  \"attention_dropout\": 0.0,\n");
    } else {
        it__buf_puts(b, "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n");
        it__buf_printf(b, "  \"vocab_size\": %d,\n  \"n_embd\": %d,\n  \"n_inner\": %d,\n  \"n_layer\": %d,\n  \"n_head\": %d,\n",
                       c->vocab_size, c->dim, c->ffn_dim, c->n_layers, c->n_heads);
        it__buf_printf(b, "  \"n_positions\": %d,\n  \"layer_norm_epsilon\": ", c->max_seq);
        it__json_put_float(b, c->norm_eps);
        it__buf_puts(b, ",\n  \"activation_function\": \"gelu_new\",\n  \"resid_pdrop\": 0.0,\n  \"embd_pdrop\": 0.0,\n");
        it__buf_puts(b, "  \"attn_pdrop\": 0.0,\n  \"scale_attn_weights\": true,\n");
    }
    it__buf_printf(b, "  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"%s\",\n", c->untied ? "false" : "true", dt);
    it__buf_puts(b, "  \"bos_token_id\": null,\n  \"eos_token_id\": null,\n  \"initializer_range\": 0.02,\n  \"use_cache\": true,\n");
    it__buf_printf(b, "  \"irontensor_version\": \"%s\"", IT_VERSION_STRING);
}
static void it__rng_json(it__buf *b, const char *key, const it_rng *r) {
    it__buf_printf(b, ",\n  \"%s\": [\"%llu\", \"%llu\", \"%llu\", \"%llu\"]", key, (unsigned long long)r->s[0],
                   (unsigned long long)r->s[1], (unsigned long long)r->s[2], (unsigned long long)r->s[3]);
}
/* Only fingerprints that were recorded are written ("size": 0 would claim an empty file). */
static void it__fingerprint_json(it__buf *b, const char *key, const it_file_fingerprint *f) {
    char hex[9];
    if (f->size <= 0) return;
    hex[8] = 0;
    it__hex8(hex, f->crc32);
    it__buf_printf(b, ",\n  \"%s\": {\"size\": %lld, \"crc32\": \"%s\"}", key, (long long)f->size, hex);
}
static void it__trainer_json(it__buf *b, const it_trainer_state *ts, const it_optimizer *opt) {
    const it_optimizer_desc *d = opt ? &opt->desc : &ts->optimizer;
    it__buf_puts(b, "{\n  \"format\": \"irontensor-trainer-state\",\n  \"version\": 1");
    it__buf_printf(b, ",\n  \"step\": %lld,\n  \"tokens_seen\": %lld,\n  \"seed\": \"%llu\"", (long long)ts->step,
                   (long long)ts->tokens_seen, (unsigned long long)ts->seed);
    it__buf_printf(b, ",\n  \"batch\": %d,\n  \"seq\": %d,\n  \"accum_steps\": %d,\n  \"accum_index\": %d", ts->batch, ts->seq,
                   ts->accum_steps, ts->accum_index);
    it__buf_puts(b, ",\n  \"optimizer\": {\"kind\": ");
    it__json_put_string(b, d->kind ? it_optimizer_name(d->kind) : "adamw");
    it__buf_printf(b, ", \"step\": %d, \"beta1\": ", opt ? opt->step : (int)ts->step);
    it__json_put_float(b, d->beta1);
    it__buf_puts(b, ", \"beta2\": ");
    it__json_put_float(b, d->beta2);
    it__buf_puts(b, ", \"eps\": ");
    it__json_put_float(b, d->eps);
    it__buf_puts(b, ", \"momentum\": ");
    it__json_put_float(b, d->momentum);
    it__buf_puts(b, ", \"weight_decay\": ");
    it__json_put_float(b, d->weight_decay);
    it__buf_printf(b, ", \"decay_vectors\": %s, \"clip_norm\": ", d->decay_vectors ? "true" : "false");
    it__json_put_float(b, d->clip_norm);
    it__buf_puts(b, "},\n  \"schedule\": {\"kind\": ");
    it__json_put_string(b, it_schedule_name(ts->schedule.kind));
    it__buf_puts(b, ", \"base_lr\": ");
    it__json_put_float(b, ts->schedule.base_lr);
    it__buf_printf(b, ", \"warmup_steps\": %d, \"total_steps\": %d, \"min_lr_ratio\": ", ts->schedule.warmup_steps,
                   ts->schedule.total_steps);
    it__json_put_float(b, ts->schedule.min_lr_ratio);
    it__buf_puts(b, ", \"decay_frac\": ");
    it__json_put_float(b, ts->schedule.decay_frac);
    it__buf_puts(b, "}");
    it__rng_json(b, "data_rng", &ts->data_rng);
    it__rng_json(b, "rng", &ts->rng);
    it__buf_puts(b, ",\n  \"best_val_loss\": ");
    it__json_put_float(b, ts->best_val_loss);
    if (ts->tokenizer[0]) {
        it__buf_puts(b, ",\n  \"tokenizer\": ");
        it__json_put_string(b, ts->tokenizer);
    }
    it__fingerprint_json(b, "data", &ts->data);
    it__fingerprint_json(b, "val_data", &ts->val_data);
    it__fingerprint_json(b, "tokenizer_file", &ts->tokenizer_file);
}

/* >>ckread ------------------------------------------------------------------------------------ */
/* Reads and parses a JSON file whose root must be an object; verifies "irontensor_crc32" when present.
   edited != NULL (config.json): people edit Hugging Face configs by hand, so a mismatch is a
   warning naming the file and sets *edited; every field is still validated by the parser. */
static it_result it__json_file_read(it_context *ctx, const char *path, unsigned char **buf, it__json *j, int *missing,
                                    int *edited) {
    size_t size;
    int c;
    it_result r = it__io_read_file(ctx, path, "checkpoint file", IT__CK_MAX_JSON_FILE, buf, &size, missing);
    memset(j, 0, sizeof *j);
    if (edited) *edited = 0;
    if (r != IT_OK) return r;
    if (it__json_parse(ctx, j, (const char *)*buf, size)) return it_context_error(ctx, IT_ERR_FORMAT, "%s: JSON: %s", path, j->err);
    if (j->v[0].type != IT__J_OBJ) return it_context_error(ctx, IT_ERR_FORMAT, "%s: the JSON root is not an object", path);
    c = it__jget(j, 0, "irontensor_crc32");
    if (c < 0) { /* files we wrote always carry it: a damaged key must not disable the check */
        int k;
        for (k = j->v[0].first; k >= 0; k = j->v[k].next)
            if (strncmp(j->v[k].key, "irontensor", 10) == 0 ||
                (j->v[k].type == IT__J_STR && strncmp(j->v[k].str, "irontensor", 10) == 0))
                return it_context_error(ctx, IT_ERR_FORMAT, "%s: irontensor file without its checksum (damaged key?)", path);
    }
    if (c >= 0) {
        it__crc *crc;
        uint32_t want, got;
        if (j->v[c].type != IT__J_STR || j->v[c].raw_end - j->v[c].raw_begin != 10 || it__parse_hex8(j->v[c].str, j->v[c].len, &want))
            return it_context_error(ctx, IT_ERR_FORMAT, "%s: irontensor_crc32 is not 8 lowercase hex digits", path);
        crc = (it__crc *)it__alloc(ctx, sizeof(it__crc));
        if (!crc) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        it__crc_init(crc);
        got = it__crc_with_hole(crc, *buf, size, j->v[c].raw_begin + 1);
        it__free(ctx, crc);
        if (got != want && edited) {
            *edited = 1;
            it_log(ctx, IT_LOG_WARN, "%s: checksum mismatch (stored %08lx, computed %08lx): the file was edited; using it, "
                   "every field is still checked", path, (unsigned long)want, (unsigned long)got);
        } else if (got != want)
            return it_context_error(ctx, IT_ERR_FORMAT, "%s: checksum mismatch (stored %08lx, computed %08lx): corrupt file", path,
                                    (unsigned long)want, (unsigned long)got);
    }
    return IT_OK;
}
/* Typed member getters: return 0 when absent (and `required` is 0), 1 when read, -1 after an error. */
static int it__jfield(it_context *ctx, const char *path, const it__json *j, int obj, const char *key, int type, int required) {
    int i = it__jget(j, obj, key);
    if (i < 0) {
        if (required) it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" is missing", path, key);
        return required ? -2 : -1;
    }
    if (j->v[i].type == IT__J_NULL && !required) return -1;
    if (type == IT__J_TRUE ? (j->v[i].type != IT__J_TRUE && j->v[i].type != IT__J_FALSE) : j->v[i].type != type) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" has the wrong type", path, key);
        return -2;
    }
    return i;
}
static int it__jint(it_context *ctx, const char *path, const it__json *j, int obj, const char *key, int required, int64_t lo,
                    int64_t hi, int64_t *out) {
    int i = it__jfield(ctx, path, j, obj, key, IT__J_NUM, required);
    if (i == -1) return 0;
    if (i < 0) return -1;
    if (!j->v[i].is_int || j->v[i].i64 < lo || j->v[i].i64 > hi) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" must be an integer in [%lld, %lld]", path, key, (long long)lo, (long long)hi);
        return -1;
    }
    *out = j->v[i].i64;
    return 1;
}
static int it__jfloat(it_context *ctx, const char *path, const it__json *j, int obj, const char *key, int required, float *out) {
    int i = it__jfield(ctx, path, j, obj, key, IT__J_NUM, required);
    if (i == -1) return 0;
    if (i < 0) return -1;
    if (fabs(j->v[i].num) > FLT_MAX) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" is out of float range", path, key);
        return -1;
    }
    *out = (float)j->v[i].num;
    return 1;
}
static int it__jbool(it_context *ctx, const char *path, const it__json *j, int obj, const char *key, int *out) {
    int i = it__jfield(ctx, path, j, obj, key, IT__J_TRUE, 0);
    if (i == -1) return 0;
    if (i < 0) return -1;
    *out = j->v[i].type == IT__J_TRUE;
    return 1;
}
static const char *it__jstr(const it__json *j, int obj, const char *key) {
    int i = it__jget(j, obj, key);
    return i >= 0 && j->v[i].type == IT__J_STR ? j->v[i].str : NULL;
}
/* The rope settings of a Llama-family config in either dialect: transformers 5.x nests them in
   "rope_parameters" {rope_theta, rope_type, factor, ...}; 4.x has a top-level "rope_theta" and an
   optional "rope_scaling" {rope_type (or "type"), factor, ...}. */
static it_result it__config_parse_rope(it_context *ctx, const char *path, const it__json *j, it_model_config *c) {
    int params = it__jget(j, 0, "rope_parameters"), scaling = it__jget(j, 0, "rope_scaling"), obj = -1;
    const char *type = NULL;
    float partial = 1.0f;
    int64_t v = 0;
    c->rope_theta = 10000.0f;
    if (it__jfloat(ctx, path, j, 0, "rope_theta", 0, &c->rope_theta) < 0) return IT_ERR_FORMAT;
    if (params >= 0 && j->v[params].type == IT__J_OBJ) obj = params;
    else if (params >= 0 && j->v[params].type != IT__J_NULL)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"rope_parameters\" must be an object", path);
    if (obj < 0 && scaling >= 0 && j->v[scaling].type == IT__J_OBJ) obj = scaling;
    else if (obj < 0 && scaling >= 0 && j->v[scaling].type != IT__J_NULL)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"rope_scaling\" must be an object or null", path);
    if (obj < 0) return IT_OK;
    if (it__jfloat(ctx, path, j, obj, "rope_theta", 0, &c->rope_theta) < 0) return IT_ERR_FORMAT;
    if (it__jfloat(ctx, path, j, obj, "partial_rotary_factor", 0, &partial) < 0) return IT_ERR_FORMAT;
    if (partial != 1.0f)
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: partial_rotary_factor %g (only full rotation)", path, (double)partial);
    type = it__jstr(j, obj, "rope_type");
    if (!type) type = it__jstr(j, obj, "type");
    if (!type || strcmp(type, "default") == 0) return IT_OK;
    if (strcmp(type, "linear") == 0) c->rope_scaling.kind = IT_ROPE_LINEAR;
    else if (strcmp(type, "llama3") == 0) c->rope_scaling.kind = IT_ROPE_LLAMA3;
    else
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: rope type \"%.40s\" is not supported (default, linear, llama3)",
                                path, type);
    if (it__jfloat(ctx, path, j, obj, "factor", 1, &c->rope_scaling.factor) < 0) return IT_ERR_FORMAT;
    if (c->rope_scaling.kind == IT_ROPE_LLAMA3) {
        if (it__jfloat(ctx, path, j, obj, "low_freq_factor", 1, &c->rope_scaling.low_freq_factor) < 0 ||
            it__jfloat(ctx, path, j, obj, "high_freq_factor", 1, &c->rope_scaling.high_freq_factor) < 0 ||
            it__jint(ctx, path, j, obj, "original_max_position_embeddings", 1, 1, INT32_MAX, &v) < 0)
            return IT_ERR_FORMAT;
        c->rope_scaling.original_max_positions = (int)v;
    }
    if (it__rope_scaling_problem(&c->rope_scaling))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: %s", path, it__rope_scaling_problem(&c->rope_scaling));
    return IT_OK;
}
/* "layer_types" (transformers 5.x): every layer the same kind, matching the sliding window. */
static it_result it__config_parse_layer_types(it_context *ctx, const char *path, const it__json *j, const it_model_config *c) {
    int arr = it__jget(j, 0, "layer_types"), e, n = 0;
    if (arr < 0 || j->v[arr].type == IT__J_NULL) return IT_OK;
    if (j->v[arr].type != IT__J_ARR) return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"layer_types\" must be a list", path);
    for (e = j->v[arr].first; e >= 0; e = j->v[e].next, n++) {
        const char *want = c->sliding_window ? "sliding_attention" : "full_attention";
        if (j->v[e].type != IT__J_STR) return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"layer_types\" holds a non-string", path);
        if (strcmp(j->v[e].str, want) != 0)
            return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: layer %d is \"%.40s\" but the model's layers are all \"%s\" "
                                    "(mixed attention kinds are not supported)", path, n, j->v[e].str, want);
    }
    if (n != c->n_layers)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"layer_types\" lists %d layers, num_hidden_layers is %d", path, n, c->n_layers);
    return IT_OK;
}
/* Hugging Face config.json -> it_model_config: the families of IT_MODEL_FAMILY_LIST, in the
   transformers 4.x and 5.x dialects. Anything the code cannot compute exactly (another
   activation, rope type, mixed layer kinds, Qwen's per-layer windows) is refused by name. */
static it_result it__config_parse(it_context *ctx, const char *path, const it__json *j, it_model_config *out) {
    const char *mt = it__jstr(j, 0, "model_type"), *act;
    int64_t v = 0;
    int tie = 1, b, i, arch_list;
    size_t f;
    const it__family_info *family = NULL;
    it_model_config c;
    memset(&c, 0, sizeof c);
#define IT__CFG_INT(key, field, req)                                         \
    do {                                                                     \
        if (it__jint(ctx, path, j, 0, key, req, 1, INT32_MAX, &v) < 0) return IT_ERR_FORMAT; \
        if (it__jget(j, 0, key) >= 0 && j->v[it__jget(j, 0, key)].type != IT__J_NULL) field = (int)v; \
    } while (0)
    if (!mt) return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"model_type\" is missing", path);
    for (f = 0; f < sizeof it__families / sizeof it__families[0]; f++)
        if (strcmp(mt, it__families[f].model_type) == 0) family = &it__families[f];
    if (!family)
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: model_type \"%.40s\" is not supported (llama, mistral, qwen2, "
                                "qwen3, gpt2)", path, mt);
    arch_list = it__jget(j, 0, "architectures");
    if (arch_list >= 0 && j->v[arch_list].type == IT__J_ARR)
        for (i = j->v[arch_list].first; i >= 0; i = j->v[i].next)
            if (j->v[i].type != IT__J_STR || strcmp(j->v[i].str, family->architecture) != 0)
                return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: architecture \"%.60s\" is not supported (a %s config "
                                        "must name %s)", path, j->v[i].type == IT__J_STR ? j->v[i].str : "?", mt,
                                        family->architecture);
    c.arch = family->arch;
    c.family = family->id;
    if (c.arch == IT_ARCH_LLAMA) {
        IT__CFG_INT("vocab_size", c.vocab_size, 1);
        IT__CFG_INT("hidden_size", c.dim, 1);
        IT__CFG_INT("intermediate_size", c.ffn_dim, 1);
        IT__CFG_INT("num_hidden_layers", c.n_layers, 1);
        IT__CFG_INT("num_attention_heads", c.n_heads, 1);
        c.n_kv_heads = c.n_heads;
        IT__CFG_INT("num_key_value_heads", c.n_kv_heads, 0);
        IT__CFG_INT("max_position_embeddings", c.max_seq, 1);
        c.norm_eps = 1e-6f; /* the configs' defaults */
        if (it__jfloat(ctx, path, j, 0, "rms_norm_eps", 0, &c.norm_eps) < 0) return IT_ERR_FORMAT;
        if (it__config_parse_rope(ctx, path, j, &c) != IT_OK) return IT_ERR_FORMAT;
        tie = 0;
        act = it__jstr(j, 0, "hidden_act");
        if (act && strcmp(act, "silu") != 0) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: hidden_act \"%.40s\" (only silu)", path, act);
        v = 0; /* explicit head_dim; the usual dim / heads is stored as 0 */
        if (it__jint(ctx, path, j, 0, "head_dim", 0, 1, INT32_MAX, &v) < 0) return IT_ERR_FORMAT;
        if (v && (c.dim % c.n_heads != 0 || v != c.dim / c.n_heads)) c.head_dim = (int)v;
        b = 0;
        if (family->id != IT_FAMILY_QWEN2 && it__jbool(ctx, path, j, 0, "attention_bias", &b) < 0) return IT_ERR_FORMAT;
        c.qkv_bias = c.o_bias = b;
        if (family->id == IT_FAMILY_QWEN2) c.qkv_bias = 1; /* Qwen2: q, k, v always carry biases, o never */
        b = 0;
        if (family->id == IT_FAMILY_LLAMA && it__jbool(ctx, path, j, 0, "mlp_bias", &b) < 0) return IT_ERR_FORMAT;
        c.mlp_bias = b;
        c.qk_norm = family->id == IT_FAMILY_QWEN3;
        if (family->id == IT_FAMILY_MISTRAL) {
            if (it__jint(ctx, path, j, 0, "sliding_window", 0, 1, INT32_MAX, &v) < 0) return IT_ERR_FORMAT;
            c.sliding_window = it__jget(j, 0, "sliding_window") >= 0 && j->v[it__jget(j, 0, "sliding_window")].type == IT__J_NUM ? (int)v : 0;
            if (c.sliding_window >= c.max_seq) c.sliding_window = 0; /* a window past every position is no window */
        } else if (family->id == IT_FAMILY_QWEN2 || family->id == IT_FAMILY_QWEN3) {
            b = 0;
            if (it__jbool(ctx, path, j, 0, "use_sliding_window", &b) < 0) return IT_ERR_FORMAT;
            if (b) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: use_sliding_window (Qwen's per-layer windows) is not supported", path);
        }
        if (it__config_parse_layer_types(ctx, path, j, &c) != IT_OK) return IT_ERR_FORMAT;
    } else {
        IT__CFG_INT("vocab_size", c.vocab_size, 1);
        IT__CFG_INT("n_embd", c.dim, 1);
        IT__CFG_INT("n_layer", c.n_layers, 1);
        IT__CFG_INT("n_head", c.n_heads, 1);
        IT__CFG_INT("n_positions", c.max_seq, 1);
        c.n_kv_heads = c.n_heads;
        c.ffn_dim = 4 * c.dim;
        IT__CFG_INT("n_inner", c.ffn_dim, 0);
        c.norm_eps = 1e-5f;
        c.rope_theta = 10000.0f;
        if (it__jfloat(ctx, path, j, 0, "layer_norm_epsilon", 0, &c.norm_eps) < 0) return IT_ERR_FORMAT;
        act = it__jstr(j, 0, "activation_function");
        if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
            return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: activation_function \"%.40s\" (only gelu_new)", path, act);
        b = 0;
        if (it__jbool(ctx, path, j, 0, "scale_attn_by_inverse_layer_idx", &b) < 0) return IT_ERR_FORMAT;
        if (b) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: scale_attn_by_inverse_layer_idx is not supported", path);
        b = 1;
        if (it__jbool(ctx, path, j, 0, "scale_attn_weights", &b) < 0) return IT_ERR_FORMAT;
        if (!b) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: scale_attn_weights false is not supported", path);
    }
#undef IT__CFG_INT
    if (it__jbool(ctx, path, j, 0, "tie_word_embeddings", &tie) < 0) return IT_ERR_FORMAT;
    c.untied = !tie;
    if (!(c.norm_eps > 0.0f) || !(c.rope_theta > 0.0f))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: norm epsilon and rope_theta must be positive", path);
    if (c.family == IT_FAMILY_LLAMA || c.family == IT_FAMILY_GPT2) c.family = IT_FAMILY_DEFAULT; /* the arch's own */
    if (it_model_config_check(NULL, &c) != IT_OK) {
        char why[512];
        it_model_config_check(ctx, &c);
        snprintf(why, sizeof why, "%.400s", it_context_last_error(ctx));
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: %s", path, why);
    }
    *out = c;
    return IT_OK;
}
static int it__parse_u64_dec(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!*s || strlen(s) > 20 || (s[0] == '0' && s[1])) return -1;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9') return -1;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
/* `live`: the generator must be usable (data_rng draws every batch); "rng" may still be all zeros,
   as runs that never draw from it save it. */
static it_result it__rng_parse(it_context *ctx, const char *path, const it__json *j, const char *key, it_rng *r, int live) {
    int a = it__jget(j, 0, key), e, k = 0;
    if (a < 0 || j->v[a].type != IT__J_ARR || j->v[a].n != 4)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" must be an array of 4 decimal strings", path, key);
    for (e = j->v[a].first; e >= 0; e = j->v[e].next, k++)
        if (j->v[e].type != IT__J_STR || it__parse_u64_dec(j->v[e].str, &r->s[k]))
            return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\"[%d] is not a decimal 64-bit string", path, key, k);
    if (live && !it_rng_valid(r))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" is the all-zero state, which a xoshiro generator "
                                "never leaves (every draw would be 0)", path, key);
    return IT_OK;
}
/* 0 when every field of ts is in range, else 1 with the first bad field in why. */
static int it__trainer_state_why(const it_trainer_state *ts, char *why, size_t size) {
    const it_optimizer_desc *o = &ts->optimizer;
    const it_schedule *s = &ts->schedule;
#define IT__TS_BAD(cond, ...)                   \
    do {                                        \
        if (cond) {                             \
            snprintf(why, size, __VA_ARGS__);   \
            return 1;                           \
        }                                       \
    } while (0)
    IT__TS_BAD(ts->batch < 1 || ts->seq < 1 || ts->seq >= INT32_MAX || (int64_t)ts->batch * ((int64_t)ts->seq + 1) > INT32_MAX,
               "batch %d x seq %d: both must be >= 1 and batch * (seq + 1) at most %d", ts->batch, ts->seq, INT32_MAX);
    IT__TS_BAD(ts->accum_steps < 1, "accum_steps is %d (must be >= 1)", ts->accum_steps);
    IT__TS_BAD(ts->accum_index < 0 || ts->accum_index >= ts->accum_steps, "accum_index is %d (must be in [0, accum_steps %d))",
               ts->accum_index, ts->accum_steps);
    IT__TS_BAD(ts->step < 0 || ts->tokens_seen < 0, "step %lld and tokens_seen %lld must be >= 0", (long long)ts->step,
               (long long)ts->tokens_seen);
    IT__TS_BAD(o->kind < IT_OPTIMIZER_INVALID || o->kind >= IT_OPTIMIZER_COUNT, "optimizer kind %d is unknown", (int)o->kind);
    IT__TS_BAD(!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->momentum >= 0 && o->momentum < 1),
               "optimizer beta1 %g, beta2 %g, momentum %g: each must be in [0, 1)", (double)o->beta1, (double)o->beta2,
               (double)o->momentum);
    IT__TS_BAD(!(o->eps >= 0 && o->eps <= FLT_MAX) || !(o->weight_decay >= 0 && o->weight_decay <= FLT_MAX) ||
                   !(o->clip_norm >= 0 && o->clip_norm <= FLT_MAX),
               "optimizer eps %g, weight_decay %g, clip_norm %g: each must be finite and >= 0", (double)o->eps,
               (double)o->weight_decay, (double)o->clip_norm);
    IT__TS_BAD(s->kind < IT_SCHEDULE_DEFAULT || s->kind >= IT_SCHEDULE_COUNT, "schedule kind %d is unknown", (int)s->kind);
    IT__TS_BAD(!(s->base_lr > 0 && s->base_lr <= FLT_MAX), "schedule base_lr is %g (must be finite and > 0)", (double)s->base_lr);
    IT__TS_BAD(s->total_steps < 1, "schedule total_steps is %d (must be >= 1)", s->total_steps);
    IT__TS_BAD(ts->step > s->total_steps, "step %lld is past the run's total_steps %d", (long long)ts->step, s->total_steps);
    IT__TS_BAD(s->warmup_steps < 0, "schedule warmup_steps is %d (must be >= 0)", s->warmup_steps);
    IT__TS_BAD(!(s->min_lr_ratio >= 0 && s->min_lr_ratio <= 1), "schedule min_lr_ratio is %g (must be in [0, 1])",
               (double)s->min_lr_ratio);
    IT__TS_BAD(!(s->decay_frac >= 0 && s->decay_frac <= 1), "schedule decay_frac is %g (must be in [0, 1])", (double)s->decay_frac);
    IT__TS_BAD(!isnan(ts->best_val_loss) && !(ts->best_val_loss >= 0 && ts->best_val_loss <= FLT_MAX),
               "best_val_loss is %g (must be NaN for none, or finite and >= 0)", (double)ts->best_val_loss);
    IT__TS_BAD(ts->data.size < 0 || ts->val_data.size < 0 || ts->tokenizer_file.size < 0, "a file fingerprint has a negative size");
#undef IT__TS_BAD
    return 0;
}
IT_API it_result it_trainer_state_check(it_context *ctx, const it_trainer_state *ts) {
    char why[200];
    if (!ts) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_trainer_state_check: no state");
    if (it__trainer_state_why(ts, why, sizeof why)) return it_context_error(ctx, IT_ERR_RANGE, "trainer state: %s", why);
    return IT_OK;
}
static it_result it__trainer_parse(it_context *ctx, const char *path, const it__json *j, it_trainer_state *out) {
    static const char *const known[] = {"format", "version", "step", "tokens_seen", "seed", "batch", "seq", "accum_steps",
                                        "accum_index", "optimizer", "schedule", "data_rng", "rng", "best_val_loss",
                                        "tokenizer", "data", "val_data", "tokenizer_file", "irontensor_crc32"};
    static const char *const prints[] = {"data", "val_data", "tokenizer_file"};
    it_trainer_state ts;
    it_file_fingerprint *print_fields[3];
    char why[200];
    int64_t v = 0;
    int c, o, s, k;
    const char *str;
    memset(&ts, 0, sizeof ts);
    print_fields[0] = &ts.data;
    print_fields[1] = &ts.val_data;
    print_fields[2] = &ts.tokenizer_file;
    for (c = j->v[0].first; c >= 0; c = j->v[c].next) {
        for (k = 0; k < (int)(sizeof known / sizeof known[0]); k++)
            if (strcmp(j->v[c].key, known[k]) == 0) break;
        if (k == (int)(sizeof known / sizeof known[0]))
            return it_context_error(ctx, IT_ERR_FORMAT, "%s: unknown field \"%.60s\"", path, j->v[c].key);
    }
    str = it__jstr(j, 0, "format");
    if (!str || strcmp(str, "irontensor-trainer-state") != 0)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"format\" is not \"irontensor-trainer-state\"", path);
    if (it__jint(ctx, path, j, 0, "version", 1, 1, 1, &v) < 0) return IT_ERR_FORMAT;
#define IT__TS_INT(key, field, lo, hi)                                                        \
    do {                                                                                      \
        if (it__jint(ctx, path, j, 0, key, 1, lo, hi, &v) < 0) return IT_ERR_FORMAT;          \
        field = v;                                                                            \
    } while (0)
    IT__TS_INT("step", ts.step, 0, INT64_MAX);
    IT__TS_INT("tokens_seen", ts.tokens_seen, 0, INT64_MAX);
    IT__TS_INT("batch", ts.batch, 0, INT32_MAX);
    IT__TS_INT("seq", ts.seq, 0, INT32_MAX);
    IT__TS_INT("accum_steps", ts.accum_steps, 0, INT32_MAX);
    IT__TS_INT("accum_index", ts.accum_index, 0, INT32_MAX);
    str = it__jstr(j, 0, "seed");
    if (!str || it__parse_u64_dec(str, &ts.seed)) return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"seed\" is not a decimal string", path);
    o = it__jfield(ctx, path, j, 0, "optimizer", IT__J_OBJ, 1);
    if (o < 0) return IT_ERR_FORMAT;
    str = it__jstr(j, o, "kind");
    if (it_optimizer_parse(str, &ts.optimizer.kind) != IT_OK) return it_context_error(ctx, IT_ERR_FORMAT, "%s: optimizer kind \"%.40s\" unknown", path, str ? str : "(none)");
    if (it__jfloat(ctx, path, j, o, "beta1", 1, &ts.optimizer.beta1) < 0 || it__jfloat(ctx, path, j, o, "beta2", 1, &ts.optimizer.beta2) < 0 ||
        it__jfloat(ctx, path, j, o, "eps", 1, &ts.optimizer.eps) < 0 || it__jfloat(ctx, path, j, o, "momentum", 1, &ts.optimizer.momentum) < 0 ||
        it__jfloat(ctx, path, j, o, "weight_decay", 1, &ts.optimizer.weight_decay) < 0 ||
        it__jfloat(ctx, path, j, o, "clip_norm", 1, &ts.optimizer.clip_norm) < 0 ||
        it__jbool(ctx, path, j, o, "decay_vectors", &ts.optimizer.decay_vectors) < 0 ||
        it__jint(ctx, path, j, o, "step", 1, 0, INT32_MAX, &v) < 0)
        return IT_ERR_FORMAT;
    s = it__jfield(ctx, path, j, 0, "schedule", IT__J_OBJ, 1);
    if (s < 0) return IT_ERR_FORMAT;
    str = it__jstr(j, s, "kind");
    if (!str || it_schedule_parse(str, &ts.schedule.kind) != IT_OK)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: schedule kind \"%.40s\" unknown (constant, cosine, linear, invsqrt, wsd)",
                                path, str ? str : "(none)");
    if (it__jfloat(ctx, path, j, s, "base_lr", 1, &ts.schedule.base_lr) < 0 ||
        it__jfloat(ctx, path, j, s, "min_lr_ratio", 1, &ts.schedule.min_lr_ratio) < 0 ||
        it__jfloat(ctx, path, j, s, "decay_frac", 1, &ts.schedule.decay_frac) < 0)
        return IT_ERR_FORMAT;
    if (it__jint(ctx, path, j, s, "warmup_steps", 1, INT32_MIN, INT32_MAX, &v) < 0) return IT_ERR_FORMAT;
    ts.schedule.warmup_steps = (int)v;
    if (it__jint(ctx, path, j, s, "total_steps", 1, INT32_MIN, INT32_MAX, &v) < 0) return IT_ERR_FORMAT;
    ts.schedule.total_steps = (int)v;
    if (it__rng_parse(ctx, path, j, "data_rng", &ts.data_rng, 1) != IT_OK || it__rng_parse(ctx, path, j, "rng", &ts.rng, 0) != IT_OK)
        return IT_ERR_FORMAT;
    ts.best_val_loss = NAN;
    c = it__jget(j, 0, "best_val_loss");
    if (c < 0) return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"best_val_loss\" is missing", path);
    if (j->v[c].type != IT__J_NULL && it__jfloat(ctx, path, j, 0, "best_val_loss", 1, &ts.best_val_loss) < 0) return IT_ERR_FORMAT;
#undef IT__TS_INT
    /* what the run was trained on: optional (older checkpoints do not record it) */
    str = it__jstr(j, 0, "tokenizer");
    if (it__jget(j, 0, "tokenizer") >= 0 && (!str || !*str || strlen(str) >= sizeof ts.tokenizer))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"tokenizer\" must be a name of 1 to %d bytes", path,
                                IT_CHECKPOINT_NAME_MAX - 1);
    if (str) strcpy(ts.tokenizer, str);
    for (k = 0; k < 3; k++) {
        int f = it__jfield(ctx, path, j, 0, prints[k], IT__J_OBJ, 0), h;
        if (f == -1) continue;
        if (f < 0) return IT_ERR_FORMAT;
        if (it__jint(ctx, path, j, f, "size", 1, 1, INT64_MAX, &v) < 0) return IT_ERR_FORMAT;
        print_fields[k]->size = v;
        h = it__jget(j, f, "crc32");
        if (h < 0 || j->v[h].type != IT__J_STR || it__parse_hex8(j->v[h].str, j->v[h].len, &print_fields[k]->crc32))
            return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\".crc32 is not 8 lowercase hex digits", path, prints[k]);
    }
    if (it__trainer_state_why(&ts, why, sizeof why))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: %s", path, why);
    *out = ts;
    return IT_OK;
}

/* DIR itself, or (DIR missing after a save was killed between its renames) the newest DIR.old-*. */
/* quiet: "nothing there" is an answer, not an error (recovery probes with it). */
static it_result it__ck_resolve(it_context *ctx, const char *dir, char *out, size_t size, int quiet) {
    char clean[IT__PATH_MAX], parent[IT__PATH_MAX], base[1024], best[1024];
    size_t bl;
    long best_time = -1;
    DIR *d;
    struct dirent *e;
    it_result r = it__ck_split(ctx, dir, clean, parent, base, sizeof base);
    if (r != IT_OK) return r;
    if (it__dir_exists(clean)) {
        if (strlen(clean) >= size) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: path too long");
        strcpy(out, clean);
        return IT_OK;
    }
    d = opendir(parent);
    bl = strlen(base);
    best[0] = 0;
    while (d && (e = readdir(d)) != NULL) {
        char p[IT__PATH_MAX];
        struct stat st;
        if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".old-", 5) != 0) continue;
        if (it__path_join(p, sizeof p, parent, e->d_name) || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if ((long)st.st_mtime > best_time || ((long)st.st_mtime == best_time && strcmp(e->d_name, best) > 0)) {
            best_time = (long)st.st_mtime;
            snprintf(best, sizeof best, "%s", e->d_name);
        }
    }
    if (d) closedir(d);
    if (!best[0]) return quiet ? IT_ERR_IO : it_context_error(ctx, IT_ERR_IO, "checkpoint %s: no such directory", clean);
    if (it__path_join(out, size, parent, best)) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: path too long");
    it_log(ctx, IT_LOG_WARN, "checkpoint %s is missing (a save was interrupted); reading %s", clean, out);
    return IT_OK;
}

/* Everything read and validated, nothing applied yet. */
typedef struct it__ck_read {
    char dir[IT__PATH_MAX];
    it_model_config cfg;
    it__ck_map map;
    it__st_file *model; /* model.safetensors, or every shard of model.safetensors.index.json */
    int n_model;
    char *model_labels; /* IT__CK_LABEL bytes per file */
    it__st_file optim;
    int have_optim, have_ts;
    it_optimizer_kind opt_kind;
    int opt_step;
    it_trainer_state ts;
} it__ck_read;
static void it__ck_free_model(it_context *ctx, it__ck_read *rd) {
    int i;
    for (i = 0; i < rd->n_model; i++) it__st_free(ctx, &rd->model[i]);
    it__free(ctx, rd->model);
    it__free(ctx, rd->model_labels);
    rd->model = NULL;
    rd->model_labels = NULL;
    rd->n_model = 0;
}
static void it__ck_read_free(it_context *ctx, it__ck_read *rd) {
    it__ck_map_free(ctx, &rd->map);
    it__ck_free_model(ctx, rd);
    it__st_free(ctx, &rd->optim);
}
static it_result it__ck_read_st(it_context *ctx, const char *dir, const char *file, it__st_file *f, char *label, size_t lsize,
                                int *missing) {
    it_result r;
    if (it__path_join(label, lsize, dir, file)) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: path too long");
    f->label = label;
    r = it__io_read_file(ctx, label, "checkpoint file", 0, &f->buf, &f->size, missing);
    return r != IT_OK ? r : it__st_parse(ctx, f);
}
/* Tensors a real file may carry that hold no weights: GPT-2's causal-mask buffers, the rotary
   frequencies older Llama files saved. Skipped by name. */
static int it__ck_no_weights(const it__ck_map *map, const char *name) {
    size_t n = strlen(name);
#define IT__ENDS(suffix) (n >= sizeof(suffix) - 1 && strcmp(name + n - (sizeof(suffix) - 1), suffix) == 0)
    return map->gpt2 ? IT__ENDS(".attn.bias") || IT__ENDS(".attn.masked_bias") : IT__ENDS(".rotary_emb.inv_freq");
#undef IT__ENDS
}
/* The tensor called name in any of the n files (*file set to its file), or NULL. */
static const it__st_tensor *it__ck_find(const it__st_file *files, int n, const char *name, const it__st_file **file) {
    int i;
    for (i = 0; i < n; i++) {
        const it__st_tensor *t = it__st_find(&files[i], name);
        if (t) {
            if (file) *file = &files[i];
            return t;
        }
    }
    return NULL;
}
/* Every entry present once across the n files, with its shape and an accepted dtype; nothing else
   in them but tensors that hold no weights. */
static it_result it__ck_match(it_context *ctx, it__st_file *files, int n_files, const it__ck_map *map, const char **suffixes,
                              int n_suffix, int f32_only) {
    int i, s, k, fi;
    char name[160];
    for (fi = 0; fi < n_files; fi++)
        for (i = 0; i < files[fi].n_t; i++) files[fi].t[i].used = 0;
    for (i = 0; i < map->n; i++)
        for (s = 0; s < n_suffix; s++) {
            const it__ck_entry *e = &map->e[i];
            it__st_tensor *t = NULL;
            int found = 0;
            const it__st_file *f = &files[0];
            for (k = 0; k < 2; k++) { /* GPT-2 files may omit "transformer." */
                const char *base = k == 0 ? e->name : (map->gpt2 && strncmp(e->name, "transformer.", 12) == 0 ? e->name + 12 : NULL);
                for (fi = 0; base && fi < n_files; fi++) {
                    const it__st_tensor *hit;
                    snprintf(name, sizeof name, "%s%s%s", base, suffixes[s][0] ? "." : "", suffixes[s]);
                    hit = it__st_find(&files[fi], name);
                    if (!hit) continue;
                    if (t)
                        return it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%s' appears twice (%s)", files[fi].label, name,
                                                f == &files[fi] ? "with and without \"transformer.\"" : "in two shards");
                    t = (it__st_tensor *)hit;
                    f = &files[fi];
                    found = 1;
                }
            }
            snprintf(name, sizeof name, "%s%s%s", e->name, suffixes[s][0] ? "." : "", suffixes[s]);
            if (!found) return it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%s' is missing", f->label, name);
            if (t->ndim != e->ndim || t->shape[0] != e->dims[0] || (e->ndim == 2 && t->shape[1] != e->dims[1])) {
                char got[96], want[64];
                int n = 0, d;
                for (d = 0; d < t->ndim && n < 80; d++) n += snprintf(got + n, sizeof got - (size_t)n, d ? ", %llu" : "%llu", (unsigned long long)t->shape[d]);
                if (!t->ndim) got[0] = 0;
                if (e->ndim == 2) snprintf(want, sizeof want, "%llu, %llu", (unsigned long long)e->dims[0], (unsigned long long)e->dims[1]);
                else snprintf(want, sizeof want, "%llu", (unsigned long long)e->dims[0]);
                return it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%s': shape [%s] but the config needs [%s]", f->label,
                                        name, got, want);
            }
            if (f32_only ? strcmp(it__st_dtypes[t->dtype].name, "F32") != 0 : !it__st_is_float(t->dtype))
                return it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%s': dtype %s is not supported here (%s)", f->label, name,
                                        it__st_dtypes[t->dtype].name, f32_only ? "F32 only" : "F32, BF16 or F16");
            t->used = 1;
        }
    for (fi = 0; fi < n_files; fi++)
        for (i = 0; i < files[fi].n_t; i++)
            if (!files[fi].t[i].used && !it__ck_no_weights(map, files[fi].t[i].name))
                return it_context_error(ctx, IT_ERR_FORMAT, "%s: unknown tensor '%.100s' (not in the model)", files[fi].label,
                                        files[fi].t[i].name);
    return IT_OK;
}
/* Every value finite (one NaN weight makes every output NaN; one in the optimizer state spreads to
   every weight it touches on the next step) and exp_avg_sq >= 0 (its square root is taken). One
   pass over the data, before anything is copied. */
static it_result it__st_check_values(it_context *ctx, const it__st_file *f) {
    float *tmp = (float *)it__alloc(ctx, IT__CK_CHUNK * sizeof(float));
    int i;
    if (!tmp) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", f->label);
    for (i = 0; i < f->n_t; i++) {
        const it__st_tensor *t = &f->t[i];
        size_t nl = strlen(t->name);
        int nonneg = nl > 11 && strcmp(t->name + nl - 11, ".exp_avg_sq") == 0;
        uint64_t at = 0;
        if (!it__st_is_float(t->dtype)) continue;
        while (at < t->numel) {
            size_t len = (size_t)(t->numel - at < IT__CK_CHUNK ? t->numel - at : IT__CK_CHUNK), k;
            it__st_to_f32(tmp, f->data + t->begin, t->dtype, (size_t)at, len);
            for (k = 0; k < len; k++)
                if (!isfinite(tmp[k]) || (nonneg && tmp[k] < 0.0f)) {
                    it_result r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%s' element %llu is %g (%s)", f->label,
                                                   t->name, (unsigned long long)(at + k), (double)tmp[k],
                                                   isfinite(tmp[k]) ? "a second moment must be >= 0" : "values must be finite");
                    it__free(ctx, tmp);
                    return r;
                }
            at += len;
        }
    }
    it__free(ctx, tmp);
    return IT_OK;
}
#define IT__CK_LABEL IT__PATH_NAMED
#define IT__CK_MAX_SHARDS 4096
/* A shard name from an index: a plain file name in the model directory, nothing that climbs out. */
static int it__ck_shard_name_ok(const char *name) {
    size_t n = strlen(name);
    return n > 12 && n < 256 && name[0] != '.' && !strchr(name, '/') && !strchr(name, '\\') &&
           strcmp(name + n - 12, ".safetensors") == 0;
}
/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}. Reads
   every shard named, then checks the map against what the shards hold. */
static it_result it__ck_read_shards(it_context *ctx, it__ck_read *rd, const char *index_path) {
    unsigned char *buf = NULL;
    it__json j;
    it_result r = it__json_file_read(ctx, index_path, &buf, &j, NULL, NULL);
    int map = -1, e, i, n = 0;
    const char **names = NULL;
    if (r == IT_OK) {
        map = it__jget(&j, 0, "weight_map");
        if (map < 0 || j.v[map].type != IT__J_OBJ || j.v[map].n < 1)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: \"weight_map\" must be an object naming at least one tensor", index_path);
    }
    if (r == IT_OK && !(names = (const char **)it__alloc(ctx, sizeof(char *) * (size_t)j.v[map].n)))
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
    for (e = r == IT_OK ? j.v[map].first : -1; e >= 0 && r == IT_OK; e = j.v[e].next) { /* the distinct shard names */
        if (j.v[e].type != IT__J_STR || !it__ck_shard_name_ok(j.v[e].str)) {
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.100s' maps to %s, not a .safetensors file in the directory",
                                 index_path, j.v[e].key, j.v[e].type == IT__J_STR ? "a bad name" : "a non-string");
            break;
        }
        for (i = 0; i < n && strcmp(names[i], j.v[e].str) != 0; i++) {}
        if (i == n) names[n++] = j.v[e].str;
        if (n > IT__CK_MAX_SHARDS) r = it_context_error(ctx, IT_ERR_FORMAT, "%s: more than %d shards", index_path, IT__CK_MAX_SHARDS);
    }
    if (r == IT_OK) {
        rd->model = (it__st_file *)it__alloc(ctx, sizeof(it__st_file) * (size_t)n);
        rd->model_labels = (char *)it__alloc(ctx, (size_t)IT__CK_LABEL * (size_t)n);
        if (!rd->model || !rd->model_labels) r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
        else memset(rd->model, 0, sizeof(it__st_file) * (size_t)n);
    }
    for (i = 0; i < n && r == IT_OK; i++) {
        r = it__ck_read_st(ctx, rd->dir, names[i], &rd->model[i], rd->model_labels + (size_t)i * IT__CK_LABEL, IT__CK_LABEL, NULL);
        rd->n_model = i + 1;
    }
    for (e = r == IT_OK ? j.v[map].first : -1; e >= 0 && r == IT_OK; e = j.v[e].next) { /* the map matches the shards */
        const it__st_file *in = NULL;
        if (!it__ck_find(rd->model, rd->n_model, j.v[e].key, &in) || strcmp(strrchr(in->label, '/') + 1, j.v[e].str) != 0)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.100s' is not in %s, where the index says it is", index_path,
                                 j.v[e].key, j.v[e].str);
    }
    for (i = 0; i < rd->n_model && r == IT_OK; i++) /* and the shards hold nothing the map does not list */
        for (e = 0; e < rd->model[i].n_t && r == IT_OK; e++)
            if (it__jget(&j, map, rd->model[i].t[e].name) < 0)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.100s' is not in the index %s", rd->model[i].label,
                                     rd->model[i].t[e].name, index_path);
    it__free(ctx, (void *)names);
    it__json_free(&j);
    it__free(ctx, buf);
    return r;
}
/* The model's weights: model.safetensors, else the shards of model.safetensors.index.json; each
   file structurally valid (it__st_parse) and, together, exactly the tensors of the map. */
static it_result it__ck_read_model(it_context *ctx, it__ck_read *rd) {
    static const char *const none[1] = {""};
    char index_path[IT__CK_LABEL];
    int missing = 0, i;
    it_result r;
    rd->model = (it__st_file *)it__alloc(ctx, sizeof(it__st_file));
    rd->model_labels = (char *)it__alloc(ctx, IT__CK_LABEL);
    if (!rd->model || !rd->model_labels) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
    memset(rd->model, 0, sizeof(it__st_file));
    rd->n_model = 1;
    r = it__ck_read_st(ctx, rd->dir, "model.safetensors", &rd->model[0], rd->model_labels, IT__CK_LABEL, &missing);
    if (r != IT_OK && missing) {
        struct stat st;
        it__path_join(index_path, sizeof index_path, rd->dir, "model.safetensors.index.json");
        if (stat(index_path, &st) != 0) return r; /* neither: the error names model.safetensors */
        it__ck_free_model(ctx, rd);
        r = it__ck_read_shards(ctx, rd, index_path);
    }
    for (i = 0; i < rd->n_model && r == IT_OK; i++) {
        const it__jv *c = rd->model[i].meta >= 0 ? it__st_meta(&rd->model[i], "irontensor.content") : NULL;
        if (c && strcmp(c->str, "model") != 0)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: holds \"%s\", not model weights", rd->model[i].label, c->str);
    }
    if (r == IT_OK) r = it__ck_match(ctx, rd->model, rd->n_model, &rd->map, (const char **)none, 1, 0);
    for (i = 0; i < rd->n_model && r == IT_OK; i++) r = it__st_check_values(ctx, &rd->model[i]);
    for (i = 0; i < rd->n_model; i++) rd->model[i].label = NULL; /* the labels are freed with rd */
    return r;
}
/* want: 0 = do not read, 1 = read when present, 2 = required. */
static it_result it__ck_read_all(it_context *ctx, const char *dir, int want_optim, int want_ts, it__ck_read *rd) {
    static char dummy;
    char path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    int missing = 0, config_edited = 0;
    it_result r;
    (void)dummy;
    memset(rd, 0, sizeof *rd);
    if (!it__little_endian()) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "checkpoint: big-endian hosts are not supported");
    if ((r = it__ck_resolve(ctx, dir, rd->dir, sizeof rd->dir, 0)) != IT_OK) return r;
    /* config.json */
    it__path_join(path, sizeof path, rd->dir, "config.json");
    r = it__json_file_read(ctx, path, &buf, &j, NULL, &config_edited);
    if (r == IT_OK) r = it__config_parse(ctx, path, &j, &rd->cfg);
    it__json_free(&j);
    if (buf) it__free(ctx, buf);
    buf = NULL;
    if (r != IT_OK) return r;
    if ((r = it__ck_check_header(ctx, rd->dir, &rd->cfg, 0)) != IT_OK) return r;
    if ((r = it__ck_map_build(ctx, &rd->cfg, &rd->map)) != IT_OK) return r;
    r = it__ck_read_model(ctx, rd);
    if (r != IT_OK && config_edited) { /* the shapes follow the config: say which file is the suspect */
        char first[600];
        snprintf(first, sizeof first, "%.500s", it_context_last_error(ctx));
        r = it_context_error(ctx, r, "%s (%s/config.json was edited: its checksum does not match)", first, rd->dir);
    }
    if (r != IT_OK) {
        it__ck_read_free(ctx, rd);
        return r;
    }
    /* optimizer.safetensors */
    if (want_optim) {
        char label[IT__PATH_NAMED];
        const it__jv *k, *st;
        const char *names[2];
        uint64_t step;
        r = it__ck_read_st(ctx, rd->dir, "optimizer.safetensors", &rd->optim, label, sizeof label, &missing);
        if (r != IT_OK && missing && want_optim == 1) r = IT_OK;
        else if (r == IT_OK) {
            k = it__st_meta(&rd->optim, "irontensor.optimizer");
            st = it__st_meta(&rd->optim, "irontensor.optimizer_step");
            if (!k || it_optimizer_parse(k->str, &rd->opt_kind) != IT_OK)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: __metadata__ irontensor.optimizer missing or unknown", label);
            else if (!st || it__parse_u64_dec(st->str, &step) || step > INT32_MAX)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: __metadata__ irontensor.optimizer_step missing or not a step", label);
            else {
                rd->opt_step = (int)step;
                r = it__ck_match(ctx, &rd->optim, 1, &rd->map, names, it__ck_state_names(rd->opt_kind, names), 1);
                if (r == IT_OK) r = it__st_check_values(ctx, &rd->optim);
                rd->have_optim = r == IT_OK;
            }
        }
        rd->optim.label = NULL;
        if (r != IT_OK) return r;
    }
    /* trainer_state.json */
    if (want_ts) {
        it__path_join(path, sizeof path, rd->dir, "trainer_state.json");
        r = it__json_file_read(ctx, path, &buf, &j, &missing, NULL);
        if (r != IT_OK && missing && want_ts == 1) r = IT_OK;
        else if (r == IT_OK) {
            r = it__trainer_parse(ctx, path, &j, &rd->ts);
            rd->have_ts = r == IT_OK;
            if (r == IT_OK && rd->have_optim && rd->ts.optimizer.kind != rd->opt_kind)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: optimizer \"%s\" but optimizer.safetensors holds \"%s\" state", path,
                                     it_optimizer_name(rd->ts.optimizer.kind), it_optimizer_name(rd->opt_kind));
        }
        it__json_free(&j);
        if (buf) it__free(ctx, buf);
        if (r != IT_OK) return r;
    }
    return IT_OK;
}

/* >>ckapi ------------------------------------------------------------------------------------- */
IT_API it_result it_checkpoint_read_config(it_context *ctx, const char *dir, it_model_config *out) {
    char d[IT__PATH_MAX], path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    int edited;
    it_result r = it__ck_resolve(ctx, dir, d, sizeof d, 0);
    if (r != IT_OK) return r;
    it__path_join(path, sizeof path, d, "config.json");
    r = it__json_file_read(ctx, path, &buf, &j, NULL, &edited);
    if (r == IT_OK) r = it__config_parse(ctx, path, &j, out);
    it__json_free(&j);
    if (buf) it__free(ctx, buf);
    if (r == IT_OK) r = it__ck_check_header(ctx, d, out, 1);
    return r;
}
IT_API it_result it_checkpoint_read_trainer_state(it_context *ctx, const char *dir, it_trainer_state *out) {
    char d[IT__PATH_MAX], path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    it_result r = it__ck_resolve(ctx, dir, d, sizeof d, 0);
    if (r != IT_OK) return r;
    it__path_join(path, sizeof path, d, "trainer_state.json");
    r = it__json_file_read(ctx, path, &buf, &j, NULL, NULL);
    if (r == IT_OK) r = it__trainer_parse(ctx, path, &j, out);
    it__json_free(&j);
    if (buf) it__free(ctx, buf);
    return r;
}
IT_API it_result it_checkpoint_validate(it_context *ctx, const char *dir) {
    it__ck_read rd;
    it_result r = it__ck_read_all(ctx, dir, 1, 1, &rd);
    it__ck_read_free(ctx, &rd);
    return r;
}
static int it__cfg_same(const it_model_config *a, const it_model_config *b) {
    const it_rope_scaling *ra = &a->rope_scaling, *rb = &b->rope_scaling;
    int same = a->arch == b->arch && a->vocab_size == b->vocab_size && a->dim == b->dim && a->n_layers == b->n_layers &&
               a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->ffn_dim == b->ffn_dim &&
               a->max_seq == b->max_seq && !a->untied == !b->untied && a->norm_eps == b->norm_eps;
    same = same && it_model_head_dim(a) == it_model_head_dim(b) && !a->qkv_bias == !b->qkv_bias && !a->o_bias == !b->o_bias &&
           !a->mlp_bias == !b->mlp_bias && !a->qk_norm == !b->qk_norm && a->sliding_window == b->sliding_window &&
           it__config_family(a) == it__config_family(b) && ra->kind == rb->kind &&
           (ra->kind == IT_ROPE_DEFAULT || (ra->factor == rb->factor && ra->low_freq_factor == rb->low_freq_factor &&
                                            ra->high_freq_factor == rb->high_freq_factor &&
                                            ra->original_max_positions == rb->original_max_positions));
    return same && (a->arch != IT_ARCH_LLAMA || a->rope_theta == b->rope_theta);
}
IT_API it_result it_checkpoint_load(it_context *ctx, it_model *m, it_optimizer *opt, it_trainer_state *ts, const char *dir) {
    it__ck_read rd;
    it_result r;
    int i, s;
    float *tmp = NULL;
    if (!m) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_load: no model");
    if (opt && (r = it__ck_optimizer_supported(ctx, m, "it_checkpoint_load")) != IT_OK) return r;
    r = it__ck_read_all(ctx, dir, opt ? 2 : 0, ts ? 2 : 0, &rd);
    if (r != IT_OK) goto done;
    if (!it__cfg_same(&rd.cfg, &m->config)) {
        const it_model_config *a = &rd.cfg, *b = &m->config;
        r = it_context_error(ctx, IT_ERR_FORMAT,
                             "%s/config.json: the checkpoint's model (%s vocab %d dim %d layers %d heads %d/%d ffn %d seq %d %s eps %g theta %g) "
                             "differs from the model being loaded (%s vocab %d dim %d layers %d heads %d/%d ffn %d seq %d %s eps %g theta %g)",
                             rd.dir, a->arch == IT_ARCH_GPT2 ? "gpt2" : "llama", a->vocab_size, a->dim, a->n_layers, a->n_heads,
                             a->n_kv_heads, a->ffn_dim, a->max_seq, a->untied ? "untied" : "tied", (double)a->norm_eps,
                             (double)a->rope_theta, b->arch == IT_ARCH_GPT2 ? "gpt2" : "llama", b->vocab_size, b->dim, b->n_layers,
                             b->n_heads, b->n_kv_heads, b->ffn_dim, b->max_seq, b->untied ? "untied" : "tied", (double)b->norm_eps,
                             (double)b->rope_theta);
        goto done;
    }
    if (opt && (opt->desc.kind != rd.opt_kind || opt->ctx != m->ctx)) {
        r = it_context_error(ctx, IT_ERR_FORMAT, "%s/optimizer.safetensors: holds %s state but the optimizer is %s", rd.dir,
                             it_optimizer_name(rd.opt_kind), it_optimizer_name(opt->desc.kind));
        goto done;
    }
    if ((r = it__ck_map_bind(m->ctx, &rd.map)) != IT_OK) goto done;
    if ((r = it_params_alloc(m->ctx)) != IT_OK) goto done;
    tmp = (float *)it__alloc(ctx, IT__CK_CHUNK * sizeof(float));
    if (!tmp) {
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
        goto done;
    }
    /* validated: apply */
    for (s = 0; s < (opt ? 2 : 1); s++) {
        it__st_file *files = s == 0 ? rd.model : &rd.optim;
        int n_files = s == 0 ? rd.n_model : 1;
        const char *names[2] = {"", ""};
        int n_names = s == 0 ? 1 : it__ck_state_names(rd.opt_kind, names), q;
        for (q = 0; q < n_names; q++) {
            float *base = s == 0 ? it_param_block(m->ctx) : opt->state + (size_t)q * it_grad_numel(m->ctx);
            for (i = 0; i < rd.map.n; i++) {
                const it__ck_entry *e = &rd.map.e[i];
                char name[160];
                const it__st_tensor *t;
                const it__st_file *f = NULL;
                uint64_t total = it__ck_numel(e), at = 0;
                snprintf(name, sizeof name, "%s%s%s", e->name, names[q][0] ? "." : "", names[q]);
                t = it__ck_find(files, n_files, name, &f);
                if (!t) t = it__ck_find(files, n_files, name + 12, &f); /* GPT-2 without "transformer." (validated) */
                while (at < total) {
                    size_t len = (size_t)(total - at < IT__CK_CHUNK ? total - at : IT__CK_CHUNK);
                    it__st_to_f32(tmp, f->data + t->begin, t->dtype, (size_t)at, len);
                    it__ck_scatter(e, base, at, len, tmp);
                    at += len;
                }
            }
        }
    }
    if (opt) opt->step = rd.opt_step;
    if (ts) *ts = rd.ts;
done:
    if (tmp) it__free(ctx, tmp);
    it__ck_read_free(ctx, &rd);
    return r;
}

/* Under clean's lock: when clean is missing, renames the newest stale DIR.old-PID back (a save
   killed between its two renames); then removes the stale DIR.tmp-PID, DIR.old-PID and
   DIR.tokenizer-PID.bin of processes that are gone. A live process's temporaries, links and
   directories holding foreign files are left alone. */
static it_result it__ck_recover_locked(it_context *ctx, const char *clean, const char *parent, const char *base) {
    char p[IT__PATH_NAMED], keep[IT__PATH_NAMED], foreign[256];
    long best_time = -1;
    struct stat st;
    DIR *d;
    struct dirent *e;
    int missing = lstat(clean, &st) != 0 && errno == ENOENT, pass;
    keep[0] = 0;
    for (pass = missing ? 0 : 1; pass < 2; pass++) { /* 0: find the copy to restore, 1: remove the rest */
        if (pass == 1 && keep[0]) {
            if (rename(keep, clean) != 0)
                return it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot restore %s: %s", clean, keep, strerror(errno));
            it__fsync_path(parent);
            it_log(ctx, IT_LOG_WARN, "checkpoint %s restored from %s", clean, keep);
        }
        if (!(d = opendir(parent))) return IT_OK; /* nothing to recover where nothing can be listed */
        while ((e = readdir(d)) != NULL) {
            long pid = it__ck_tagged_pid(e->d_name, base, ".old-", "");
            int is_dir = 1;
            if (pid < 0 && pass == 1 && (pid = it__ck_tagged_pid(e->d_name, base, ".tmp-", "")) < 0) {
                if ((pid = it__ck_tagged_pid(e->d_name, base, ".tokenizer-", ".bin")) < 0) continue;
                is_dir = 0;
            }
            if (pid < 0 || !it__ck_pid_gone(pid)) continue; /* a live process's save in progress */
            if (it__path_join(p, sizeof p, parent, e->d_name) || lstat(p, &st) != 0) continue;
            if (pass == 0) {
                if (S_ISDIR(st.st_mode) && ((long)st.st_mtime > best_time || ((long)st.st_mtime == best_time && strcmp(p, keep) > 0))) {
                    best_time = (long)st.st_mtime;
                    snprintf(keep, sizeof keep, "%s", p);
                }
            } else if (is_dir && S_ISDIR(st.st_mode)) {
                if (it__ck_remove_owned(p, foreign, sizeof foreign) != 0)
                    it_log(ctx, IT_LOG_WARN, "checkpoint %s: left the stale %s: %s%s", clean, p, foreign[0] ? "it holds " : "",
                           foreign[0] ? foreign : strerror(errno));
            } else if (!is_dir && S_ISREG(st.st_mode) && unlink(p) != 0) {
                it_log(ctx, IT_LOG_WARN, "checkpoint %s: cannot remove the stale %s: %s", clean, p, strerror(errno));
            }
        }
        closedir(d);
    }
    return IT_OK;
}
IT_API it_result it_checkpoint_recover(it_context *ctx, const char *dir) {
    char clean[IT__PATH_MAX], parent[IT__PATH_MAX], base[1024];
    int lock = -1;
    it_result r = it__ck_split(ctx, dir, clean, parent, base, sizeof base);
    if (r != IT_OK) return r;
    if ((r = it__ck_lock(ctx, clean, parent, base, 0, &lock)) != IT_OK) return r;
    r = it__ck_recover_locked(ctx, clean, parent, base);
    it__ck_unlock(lock);
    return r;
}

static int it__ck_run_id_ok(const char *id) {
    size_t n = strlen(id);
    return n > 0 && n < IT_CHECKPOINT_RUN_ID_MAX &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}
/* DIR's marker: 1 with its run id in buf ("" when it has none), 0 when DIR has no marker (not a
   regular file named so), -1 when the marker is damaged (error set). size >= IT_CHECKPOINT_RUN_ID_MAX. */
static int it__ck_marker_read(it_context *ctx, const char *dir, char *buf, size_t size) {
    char path[IT__PATH_NAMED];
    unsigned char *text = NULL;
    it__json j;
    struct stat st;
    const char *fmt, *id;
    int rc = 1, c;
    buf[0] = 0;
    if (it__path_join(path, sizeof path, dir, IT__CK_MARKER) || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (it__json_file_read(ctx, path, &text, &j, NULL, NULL) != IT_OK) {
        rc = -1;
    } else if (!(fmt = it__jstr(&j, 0, "format")) || strcmp(fmt, "irontensor checkpoint") != 0) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"format\" is not \"irontensor checkpoint\"", path);
        rc = -1;
    } else if ((c = it__jget(&j, 0, "run_id")) >= 0 && j.v[c].type != IT__J_NULL) {
        id = j.v[c].type == IT__J_STR ? j.v[c].str : NULL;
        if (!id || !it__ck_run_id_ok(id) || strlen(id) >= size) {
            it_context_error(ctx, IT_ERR_FORMAT, "%s: \"run_id\" is not a run id (letters, digits, '.', '_', '-')", path);
            rc = -1;
        } else {
            strcpy(buf, id);
        }
    }
    it__json_free(&j);
    if (text) it__free(ctx, text);
    return rc;
}
static void it__ck_marker_json(it__buf *b, const char *run_id) {
    it__buf_puts(b, "{\n  \"format\": \"irontensor checkpoint\",\n  \"irontensor_version\": \"" IT_VERSION_STRING "\",\n  \"run_id\": ");
    if (run_id) it__json_put_string(b, run_id);
    else it__buf_puts(b, "null");
}
/* Weights or optimizer state that are not finite would replace a good checkpoint with a useless one
   (a diverged run): refused before anything is written, naming the first such tensor. */
static it_result it__ck_check_finite(it_context *ctx, const it_model *m, const it_optimizer *opt, const char *clean) {
    it_context *mc = m->ctx;
    const float *block = it_param_block(mc);
    size_t numel = it_param_numel(mc), k, copies = opt ? opt->state_numel / (numel ? numel : 1) : 0, q;
    int i;
    for (q = 0; q <= copies; q++) {
        const float *x = q == 0 ? block : opt->state + (q - 1) * numel;
        for (k = 0; k < numel && isfinite(x[k]); k++) {}
        if (k == numel) continue;
        for (i = 0; i < it_param_count(mc); i++) {
            it_tensor *t = it_param_at(mc, i);
            size_t at = (size_t)(it_data(t) - block);
            if (k >= at && k < at + it_tensor_numel(t))
                return it_context_error(ctx, IT_ERR_RANGE,
                                        "checkpoint %s: %s of parameter '%s' holds %g at element %lu (the run diverged?); "
                                        "not saved, the checkpoint already there (if any) is unchanged",
                                        clean, q == 0 ? "the weight" : "the optimizer state", it_tensor_name(t), (double)x[k],
                                        (unsigned long)(k - at));
        }
        return it_context_error(ctx, IT_ERR_RANGE, "checkpoint %s: a value that is not finite at element %lu; not saved", clean,
                                (unsigned long)k);
    }
    return IT_OK;
}

static it_result it__copy_file(it_context *ctx, const char *from, const char *to) {
    unsigned char *buf;
    size_t n;
    it_result r = it__io_read_file(ctx, from, "tokenizer file", (size_t)1 << 30, &buf, &n, NULL);
    if (r != IT_OK) return r;
    r = it__write_file(ctx, to, buf, n);
    it__free(ctx, buf);
    return r;
}
static it_result it__ck_write_all(it_context *ctx, const it_model *m, const it_optimizer *opt, const it_trainer_state *ts,
                                  const char *tmp, int bf16, const it_checkpoint_options *o) {
    char path[IT__PATH_NAMED];
    it__ck_map map;
    it__st_item *items = NULL;
    it__buf b;
    it_result r;
    int i, q;
    it__buf_init(&b, ctx);
    if ((r = it__ck_map_build(ctx, &m->config, &map)) != IT_OK) return r;
    if ((r = it__ck_map_bind(m->ctx, &map)) != IT_OK) goto done;
    items = (it__st_item *)it__alloc(ctx, sizeof(it__st_item) * (size_t)map.n * 2);
    if (!items) {
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
        goto done;
    }
    it__path_join(path, sizeof path, tmp, "config.json");
    it__config_json(&b, &m->config, bf16);
    if ((r = it__json_file_write(ctx, path, &b)) != IT_OK) goto done;
    for (i = 0; i < map.n; i++) {
        snprintf(items[i].name, sizeof items[i].name, "%s", map.e[i].name);
        items[i].e = &map.e[i];
        items[i].base = it_param_block(m->ctx);
    }
    it__path_join(path, sizeof path, tmp, "model.safetensors");
    if ((r = it__st_write(ctx, path, items, map.n, bf16, "model", NULL)) != IT_OK) goto done;
    if (opt) {
        const char *names[2];
        int n_names = it__ck_state_names(opt->desc.kind, names), n = 0;
        for (q = 0; q < n_names; q++)
            for (i = 0; i < map.n; i++, n++) {
                snprintf(items[n].name, sizeof items[n].name, "%s.%s", map.e[i].name, names[q]);
                items[n].e = &map.e[i];
                items[n].base = opt->state + (size_t)q * it_grad_numel(m->ctx);
            }
        it__path_join(path, sizeof path, tmp, "optimizer.safetensors");
        if ((r = it__st_write(ctx, path, items, n, 0, "optimizer", opt)) != IT_OK) goto done;
    }
    if (ts) {
        it__buf_free(&b);
        it__trainer_json(&b, ts, opt);
        it__path_join(path, sizeof path, tmp, "trainer_state.json");
        if ((r = it__json_file_write(ctx, path, &b)) != IT_OK) goto done;
    }
    it__path_join(path, sizeof path, tmp, "tokenizer.bin");
    if (o && o->tokenizer_path && (r = it__copy_file(ctx, o->tokenizer_path, path)) != IT_OK) goto done;
    if (o && o->tokenizer && (r = it_tokenizer_save(ctx, o->tokenizer, path)) != IT_OK) goto done; /* fsynced */
    it__buf_free(&b); /* the marker last: a directory carrying it was written whole */
    it__ck_marker_json(&b, o ? o->run_id : NULL);
    it__path_join(path, sizeof path, tmp, IT__CK_MARKER);
    if ((r = it__json_file_write(ctx, path, &b)) != IT_OK) goto done;
done:
    it__buf_free(&b);
    if (items) it__free(ctx, items);
    it__ck_map_free(ctx, &map);
    return r;
}
/* Under clean's lock, clean checked: write DIR.tmp-PID, move DIR aside to DIR.old-PID, rename the
   new one in, remove the old one (only its own files). */
static it_result it__ck_save_locked(it_context *ctx, const it_model *m, const it_optimizer *opt, const it_trainer_state *ts,
                                    const char *clean, const char *parent, const it_checkpoint_options *o, int bf16) {
    char tmp[IT__PATH_NAMED], old[IT__PATH_NAMED], foreign[256];
    struct stat st;
    it_result r;
    {
        char suffix[64];
        size_t cl = strlen(clean);
        snprintf(suffix, sizeof suffix, ".tmp-%ld", (long)getpid());
        memcpy(tmp, clean, cl);
        strcpy(tmp + cl, suffix); /* clean < IT__PATH_MAX and suffix < 64 fit IT__PATH_NAMED */
        memcpy(old, tmp, cl + 1 + strlen(suffix));
        memcpy(old + cl + 1, "old", 3);
    }
    if (mkdir(tmp, 0755) != 0) return it_context_error(ctx, IT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    r = it__ck_write_all(ctx, m, opt, ts, tmp, bf16, o);
    if (r != IT_OK) {
        it__ck_remove_owned(tmp, NULL, 0);
        return r;
    }
    if (lstat(clean, &st) == 0) {
        if (rename(clean, old) != 0) {
            r = it_context_error(ctx, IT_ERR_IO, "checkpoint %s: cannot move the previous checkpoint aside: %s", clean, strerror(errno));
            it__ck_remove_owned(tmp, NULL, 0);
            return r;
        }
        it__fsync_path(parent); /* the old copy is now reachable under its new name */
    }
    if ((r = it__io_publish(ctx, tmp, clean)) != IT_OK) {
        if (!it__dir_exists(clean)) rename(old, clean); /* the rename itself failed: put the old one back */
        return r;
    }
    if (lstat(old, &st) == 0 && it__ck_remove_owned(old, foreign, sizeof foreign) != 0)
        it_log(ctx, IT_LOG_WARN, "checkpoint %s: kept the previous copy %s: %s%s", clean, old, foreign[0] ? "it holds " : "",
               foreign[0] ? foreign : strerror(errno));
    return IT_OK;
}
IT_API it_result it_checkpoint_save(it_context *ctx, const it_model *m, const it_optimizer *opt, const it_trainer_state *ts,
                                    const char *dir, const it_checkpoint_options *o) {
    char clean[IT__PATH_MAX], parent[IT__PATH_MAX], base[1024];
    it_dtype dt = o ? o->dtype : IT_DTYPE_INVALID;
    int lock = -1;
    it_result r;
    if (!m || !it_param_block(m->ctx)) return it_context_error(ctx, IT_ERR_STATE, "it_checkpoint_save: no model, or its parameters are not allocated");
    if (opt && !opt->state) return it_context_error(ctx, IT_ERR_STATE, "it_checkpoint_save: the optimizer has no state");
    if (opt && (r = it__ck_optimizer_supported(ctx, m, "it_checkpoint_save")) != IT_OK) return r;
    if (dt != IT_DTYPE_INVALID && dt != IT_F32 && dt != IT_BF16)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_save: dtype must be f32 or bf16");
    if (o && o->tokenizer && o->tokenizer_path)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_save: give tokenizer or tokenizer_path, not both");
    if (o && o->run_id && !it__ck_run_id_ok(o->run_id))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                "it_checkpoint_save: run_id '%.80s' is not 1-%d letters, digits, '.', '_' or '-'", o->run_id,
                                IT_CHECKPOINT_RUN_ID_MAX - 1);
    if (!it__little_endian()) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "checkpoint: big-endian hosts are not supported");
    if (ts && (r = it_trainer_state_check(ctx, ts)) != IT_OK) return r; /* a save must load back */
    if ((r = it__ck_split(ctx, dir, clean, parent, base, sizeof base)) != IT_OK) return r;
    it__sync(m->ctx); /* a device may still be writing the shared blocks */
    if ((r = it__ck_check_finite(ctx, m, opt, clean)) != IT_OK) return r;
    if ((r = it__ck_check_target(ctx, clean, parent)) != IT_OK) return r; /* before a lock file is created */
    if ((r = it__ck_lock(ctx, clean, parent, base, o ? o->lock_wait_ms : 0, &lock)) != IT_OK) return r;
    r = it__ck_recover_locked(ctx, clean, parent, base);
    if (r == IT_OK) r = it__ck_check_target(ctx, clean, parent); /* again: another writer may have gone first */
    if (r == IT_OK) r = it__ck_save_locked(ctx, m, opt, ts, clean, parent, o, dt == IT_BF16);
    it__ck_unlock(lock);
    return r;
}
IT_API it_result it_checkpoint_check_target(it_context *ctx, const char *dir) {
    char clean[IT__PATH_MAX], parent[IT__PATH_MAX], base[1024];
    it_result r = it__ck_split(ctx, dir, clean, parent, base, sizeof base);
    return r != IT_OK ? r : it__ck_check_target(ctx, clean, parent);
}
IT_API it_result it_checkpoint_read_run_id(it_context *ctx, const char *dir, char *buf, size_t size) {
    char path[IT__PATH_MAX];
    it_result r;
    if (!buf || size < IT_CHECKPOINT_RUN_ID_MAX)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_read_run_id: buf needs IT_CHECKPOINT_RUN_ID_MAX bytes");
    buf[0] = 0;
    if ((r = it__ck_resolve(ctx, dir, path, sizeof path, 0)) != IT_OK) return r;
    return it__ck_marker_read(ctx, path, buf, size) < 0 ? IT_ERR_FORMAT : IT_OK;
}

typedef struct it__prune_item { int64_t step; char name[256]; } it__prune_item;
static int it__prune_cmp(const void *a, const void *b) {
    int64_t x = ((const it__prune_item *)a)->step, y = ((const it__prune_item *)b)->step;
    return x < y ? -1 : x > y;
}
/* Removes one pruned snapshot under its own lock (skipped, with a warning, while another process
   writes it), then its lock file. */
static it_result it__prune_one(it_context *ctx, const char *parent, const char *name) {
    char p[IT__PATH_NAMED], lock_path[IT__PATH_NAMED], lock_name[300], foreign[256];
    int lock = -1;
    snprintf(lock_name, sizeof lock_name, ".%s.lock", name);
    if (it__path_join(p, sizeof p, parent, name) || it__path_join(lock_path, sizeof lock_path, parent, lock_name))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_prune: path too long");
    if (it__ck_lock(ctx, p, parent, name, -1, &lock) != IT_OK) {
        it_log(ctx, IT_LOG_WARN, "it_checkpoint_prune: %s is being written by another process; kept", p);
        return IT_OK;
    }
    if (it__ck_remove_owned(p, foreign, sizeof foreign) != 0) {
        if (foreign[0]) it_log(ctx, IT_LOG_WARN, "it_checkpoint_prune: kept %s: it holds '%s', which IronTensor did not write", p, foreign);
        else {
            it_result r = it_context_error(ctx, IT_ERR_IO, "it_checkpoint_prune: cannot remove %s: %s", p, strerror(errno));
            it__ck_unlock(lock);
            return r;
        }
    } else {
        unlink(lock_path); /* while held: a waiter re-opens (it__ck_lock checks the inode) */
    }
    it__ck_unlock(lock);
    return IT_OK;
}
IT_API it_result it_checkpoint_prune_run(it_context *ctx, const char *parent, const char *prefix, const char *run_id, int keep) {
    DIR *d;
    struct dirent *e;
    it__prune_item *items = NULL;
    int n = 0, cap = 0, i;
    size_t pl = prefix ? strlen(prefix) : 0;
    it_result r = IT_OK;
    if (keep < 1 || !parent) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_prune: keep must be >= 1");
    if (pl == 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                "it_checkpoint_prune: an empty prefix would match every numbered directory in %s", parent);
    d = opendir(parent);
    if (!d) return it_context_error(ctx, IT_ERR_IO, "%s: cannot list: %s", parent, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        const char *digits = e->d_name + pl;
        uint64_t step;
        char p[IT__PATH_NAMED], id[IT_CHECKPOINT_RUN_ID_MAX];
        struct stat st;
        if (strncmp(e->d_name, prefix, pl) != 0 || strlen(e->d_name) >= 256) continue;
        if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 18) continue;
        if (it__path_join(p, sizeof p, parent, e->d_name) || lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (it__ck_marker_read(ctx, p, id, sizeof id) != 1 || (run_id && strcmp(id, run_id) != 0)) continue; /* not this run's */
        step = 0;
        for (; *digits; digits++) step = step * 10 + (uint64_t)(*digits - '0');
        if (n == cap) {
            int nc = cap ? cap * 2 : 16;
            it__prune_item *bigger = (it__prune_item *)it__alloc(ctx, sizeof(it__prune_item) * (size_t)nc);
            if (!bigger) {
                r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_checkpoint_prune: out of memory");
                break;
            }
            if (items) {
                memcpy(bigger, items, sizeof(it__prune_item) * (size_t)n);
                it__free(ctx, items);
            }
            items = bigger;
            cap = nc;
        }
        items[n].step = (int64_t)step;
        strcpy(items[n].name, e->d_name);
        n++;
    }
    closedir(d);
    if (r == IT_OK && n > keep) {
        qsort(items, (size_t)n, sizeof(it__prune_item), it__prune_cmp);
        for (i = 0; i < n - keep && r == IT_OK; i++) r = it__prune_one(ctx, parent, items[i].name);
    }
    if (items) it__free(ctx, items);
    return r;
}
IT_API it_result it_checkpoint_prune(it_context *ctx, const char *parent, const char *prefix, int keep) {
    return it_checkpoint_prune_run(ctx, parent, prefix, NULL, keep);
}
IT_API int it_checkpoint_path(char *buf, size_t size, const char *parent, const char *prefix, int64_t step) {
    /* assembled by hand: snprintf with unbounded %s trips -Wformat-truncation in users' -Werror builds */
    char digits[32];
    size_t lp = strlen(parent), lx = prefix ? strlen(prefix) : 0, ld, total, at = 0;
    ld = (size_t)snprintf(digits, sizeof digits, "%08lld", (long long)step);
    total = lp + 1 + lx + ld;
    if (size) {
        size_t take;
        take = IT__MIN(lp, size - 1 - at), memcpy(buf + at, parent, take), at += take;
        if (at < size - 1) buf[at++] = '/';
        take = IT__MIN(lx, size - 1 - at), memcpy(buf + at, prefix ? prefix : "", take), at += take;
        take = IT__MIN(ld, size - 1 - at), memcpy(buf + at, digits, take), at += take;
        buf[at] = 0;
    }
    return (int)total;
}
IT_API int it_checkpoint_tokenizer_path(const char *dir, char *buf, size_t size) {
    struct stat st;
    if (it__path_join(buf, size, dir, "tokenizer.bin")) return 0;
    return stat(buf, &st) == 0; /* anything by that name: the loader says why a non-file is wrong */
}
IT_API it_result it_safetensors_inspect(it_context *ctx, const char *path, it_safetensors_fn fn, void *user) {
    it__st_file f;
    it_result r;
    int i, d;
    float *tmp;
    memset(&f, 0, sizeof f);
    f.label = path;
    r = it__io_read_file(ctx, path, "safetensors file", 0, &f.buf, &f.size, NULL);
    if (r == IT_OK) r = it__st_parse(ctx, &f);
    tmp = (float *)it__alloc(ctx, IT__CK_CHUNK * sizeof(float));
    if (r == IT_OK && !tmp) r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (i = 0; r == IT_OK && fn && i < f.n_t; i++) {
        const it__st_tensor *t = &f.t[i];
        it_safetensors_tensor_info info;
        memset(&info, 0, sizeof info);
        info.name = t->name;
        info.dtype = it__st_dtypes[t->dtype].name;
        info.ndim = t->ndim;
        for (d = 0; d < t->ndim; d++) info.shape[d] = (int64_t)t->shape[d];
        info.offset_begin = t->begin;
        info.offset_end = t->end;
        info.l2 = NAN;
        if (it__st_is_float(t->dtype)) {
            uint64_t at = 0;
            double ss = 0.0;
            while (at < t->numel) {
                size_t len = (size_t)(t->numel - at < IT__CK_CHUNK ? t->numel - at : IT__CK_CHUNK), k;
                it__st_to_f32(tmp, f.data + t->begin, t->dtype, (size_t)at, len);
                for (k = 0; k < len; k++) ss += (double)tmp[k] * (double)tmp[k];
                at += len;
            }
            info.l2 = sqrt(ss);
        }
        fn(&info, user);
    }
    if (tmp) it__free(ctx, tmp);
    it__st_free(ctx, &f);
    return r;
}

/* >>end ----------------------------------------------------------------------------------------- */
#endif /* IRONTENSOR_IMPLEMENTATION_INCLUDED */
#endif /* IRONTENSOR_IMPLEMENTATION */

/*
------------------------------------------------------------------------------------------------
MIT License. Copyright (c) 2026 The IronTensor-C authors. Permission is hereby granted, free of
charge, to any person obtaining a copy of this software and associated documentation files (the
"Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the
Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions: The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT
WARRANTY OF ANY KIND, EXPRESS OR IMPLIED. See LICENSE.
------------------------------------------------------------------------------------------------
*/
