/* irontensor.h - v0.1.0 - train and run small language models from plain C. MIT licence at the end.

   IronTensor-C is a single-header library: tensors, a static graph with autograd, a liveness
   memory planner, a threaded CPU backend with a blocked SGEMM, Llama and GPT-2 models,
   Lion/AdamW/SGD, learning-rate schedules, byte-level and BPE tokenizers, llm.c token files and
   Hugging Face-readable safetensors checkpoints. The Metal backend lives in irontensor_metal.h.

   SECTIONS (search for the banner, e.g. ">>planner"; tests/banners_test.sh keeps this list true)
     declarations  >>results >>context >>tensors >>rng >>params >>graph >>quant >>models >>batch >>optimizers
                   >>comm >>tokenizers >>chat >>token_files >>dataset >>schedules >>checkpoints >>lora >>ops >>backend
                   >>cpu_kernels
     implementation >>util >>results >>rng >>dtypes >>threads >>context >>tensors >>params >>graph
                   >>autograd >>planner >>run, then the CPU backend as one block: >>cpu_kernels
                   >>sgemm >>fast_kernels >>cpu; >>quant >>models >>decoder >>paged >>batch >>comm >>optimizers >>io >>crc32 >>tokenizers >>token_files >>dataset
                   >>schedules >>checkpoints >>json >>safetensors >>ckfiles >>cksafe >>ckmap
                   >>ckwrite >>ckread >>ckapi >>lora >>hf_tokenizers >>unicode >>regex >>hf_load >>hf_encode
                   >>hf_decode >>hf_api >>token_stream >>chat >>end

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
     failed it_context_create can still be reported. Destroying twice is a programmer error
     too: every it_*_destroy takes NULL, and a destroyed object's struct stays, marked dead,
     among its context's 256 most recently destroyed objects, so destroying it again (or handing
     a destroy another kind of object) stops with the function named instead of freeing memory
     twice. Not checked, and undefined as with free(): older dangling pointers, pointers the
     library did not make, and every pointer of a context after it_context_destroy (the context's
     own included: destroy it once). Failures of the environment
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

typedef struct it_comm it_comm; /* data parallelism across processes: >>comm */

typedef struct it_context_desc {
    int n_threads;          /* CPU worker threads; 0 = all cores */
    it_allocator allocator; /* zero = aligned malloc/free */
    it_logger logger;       /* zero = stderr */
    it_comm *comm;          /* the ranks of a data-parallel run (>>comm); NULL = this process alone */
    size_t grad_bucket_floats; /* data parallel: gradient floats per all-reduce bucket; 0 = 1M (4 MB) */
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
/* A linear layer with a LoRA adapter (Hu et al. 2021), one node: y = x W^T + scale (x A^T) B^T.
   x [..., in]; W [out, in] (w_in_out = 0, Llama) or [in, out] (w_in_out = 1, GPT-2's Conv1D);
   A [r, in]; B [out, r]. The base product x W^T is the matmul op's kernel, called by the LoRA
   kernel through the backend's op table (so a backend's own matmul, or another weight format's,
   serves it); the branch adds into y without an [N, out] temporary, and its backward produces
   dA, dB and the branch's share of dx in one pass. W is normally frozen (it_param_set_trainable). */
IT_API it_tensor *it_lora_linear_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, it_tensor *a,
                                    it_tensor *b, float scale, int w_in_out);
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
#define it_lora_linear(...) it_lora_linear_at(__FILE__, __LINE__, __VA_ARGS__)
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
   after the forward graph is complete. d(loss) is seeded with 1. When the parameter block cannot
   be allocated here, it_graph_plan returns that error (IT_ERR_OUT_OF_MEMORY), as it does for the
   gradients it allocates itself. */
IT_API void it_graph_backward(it_graph *g, it_tensor *loss);

typedef struct it_plan_stats {
    size_t arena_bytes;      /* planned size of the arena (activations, gradients, saved) */
    size_t unplanned_bytes;  /* sum of every arena buffer's size: what no reuse would need */
    size_t input_bytes;      /* inputs block */
    size_t param_bytes;      /* parameter block (gradient block is the same size) */
    int n_nodes;             /* forward nodes */
    int n_steps;             /* forward + backward steps */
    int n_buffers;           /* arena buffers placed */
    size_t pack_steps;       /* the packing's inner steps (tree nodes visited, spans searched and
                                moved): about n_buffers * log2(n_steps) * 10 for a layered model */
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
   >>quant  weight storage for inference: f32, bf16 and llama.cpp's Q8_0 / Q4_0 blocks, and the
   products of quantised weights with activations (decode and prompt batches).
   Blocks of 32 consecutive weights of a row, byte for byte as ggml lays them out (so GGUF export
   is a copy): Q8_0 = fp16 scale d + 32 int8 q (34 bytes), w = d q, d = max|x| / 127;
   Q4_0 = fp16 scale d + 16 bytes (18 bytes), weight j in the low nibble of byte j and j + 16 in the
   high nibble, w = d (q - 8), d = (the value of largest magnitude) / -8,
   q = min(15, (int8)(x / d + 8.5)). A row's length must be a multiple of 32.
------------------------------------------------------------------------------------------------ */
/* X(id, name, weights per block, bytes per block) */
#define IT_WEIGHT_TYPE_LIST(X)          \
    X(IT_WEIGHT_F32, "f32", 1, 4)       \
    X(IT_WEIGHT_BF16, "bf16", 1, 2)     \
    X(IT_WEIGHT_Q8_0, "q8_0", 32, 34)   \
    X(IT_WEIGHT_Q4_0, "q4_0", 32, 18)
typedef enum it_weight_type {
    IT_WEIGHT_INVALID = 0,
#define IT__WEIGHT_ENUM(id, name, block, bytes) id,
    IT_WEIGHT_TYPE_LIST(IT__WEIGHT_ENUM)
#undef IT__WEIGHT_ENUM
    IT_WEIGHT_COUNT
} it_weight_type;
#define IT_QBLOCK 32 /* weights per Q8_0 / Q4_0 block */
typedef struct it_block_q8_0 { uint16_t d; int8_t qs[IT_QBLOCK]; } it_block_q8_0;      /* 34 bytes */
typedef struct it_block_q4_0 { uint16_t d; uint8_t qs[IT_QBLOCK / 2]; } it_block_q4_0; /* 18 bytes */

IT_API const char *it_weight_type_name(it_weight_type t); /* "q8_0"; "invalid" when unknown */
IT_API it_weight_type it_weight_type_from_name(const char *name); /* IT_WEIGHT_INVALID when unknown */
IT_API int it_weight_type_block(it_weight_type t);          /* weights per block: 1 or 32; 0 when unknown */
IT_API size_t it_weight_type_block_bytes(it_weight_type t); /* bytes per block; 0 when unknown */
/* Bytes of a [rows, cols] matrix stored as t; 0 when cols is not a multiple of the block (or t
   is unknown, or the size does not fit in a size_t). */
IT_API size_t it_weight_bytes(it_weight_type t, size_t rows, size_t cols);
/* IEEE half precision (the block scales, GGUF's F16): round to nearest even, exact back. */
IT_API uint16_t it_f32_to_f16(float f);
IT_API float it_f16_to_f32(uint16_t h);
/* n weights (a multiple of t's block) to t's layout and back. Quantising refuses a NaN or infinite
   weight with IT_ERR_RANGE (out is then unspecified). */
IT_API it_result it_weights_quantize(it_weight_type t, void *out, const float *in, size_t n);
IT_API void it_weights_dequantize(it_weight_type t, float *out, const void *in, size_t n);
/* y [n, rows] = x [n, cols] @ W^T for W [rows, cols] stored as t, on the context's thread pool.
   Q8_0 / Q4_0: each row of x is first quantised to int8 per block of 32 (scale max|x| / 127, kept
   in f32), then the products are integer dot products (AVX-512 VNNI, AVX2, NEON or portable,
   chosen at run time); bf16 and f32 multiply in f32. `scratch` holds the quantised activations:
   it_weights_matmul_scratch(t, n, cols) bytes (0 for f32 and bf16: then it may be NULL). */
IT_API size_t it_weights_matmul_scratch(it_weight_type t, int n, int cols);
IT_API void it_weights_matmul(it_context *ctx, float *y, const float *x, const void *w, it_weight_type t, int n, int rows,
                              int cols, void *scratch);
/* The kernel set it_weights_matmul uses on this CPU: "avx512vnni", "avx2", "neon-dotprod", "neon",
   "generic". */
IT_API const char *it_weights_isa(void);

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
    struct it_lora *lora;     /* the attached LoRA adapter (it_lora_create), or NULL */
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
/* A decoder whose linear layers (and head) multiply from their own copy of the weights stored as
   bf16, Q8_0 or Q4_0 (>>quant): the copy is made here, from the parameters as they are now
   (re-create the decoder after changing them); norms, biases and the embedding rows stay f32.
   Every linear layer's input size must be a multiple of 32 for Q8_0 / Q4_0 (IT_ERR_UNSUPPORTED
   names the tensor otherwise). */
typedef struct it_decoder_desc {
    int max_seq;            /* cache positions; 0 (or more than the model's) = the model's max_seq */
    it_weight_type weights; /* the attention and MLP projections; 0 = f32 (the parameters themselves) */
    it_weight_type head;    /* the output head (tied or not); 0 = the same as weights */
} it_decoder_desc;
IT_API it_result it_decoder_create_ex(it_model *m, const it_decoder_desc *desc, it_decoder **out);
IT_API it_weight_type it_decoder_weights(const it_decoder *d); /* the projections' type */
/* Bytes of weights one decoded token reads: every projection and the head, in their storage
   types (the memory-bandwidth bound of decode is read bandwidth / this). */
IT_API size_t it_decoder_weight_bytes(const it_decoder *d);
IT_API void it_decoder_destroy(it_decoder *d);
IT_API void it_decoder_reset(it_decoder *d);       /* empty the cache: position 0 */
IT_API int it_decoder_pos(const it_decoder *d);    /* tokens in the cache */
IT_API int it_decoder_vocab(const it_decoder *d);
/* Appends n >= 1 tokens at positions pos .. pos + n - 1 in one pass and points *logits at the
   last one's logits [vocab] (valid until the next call). IT_ERR_RANGE past max_seq or for an id
   outside the vocabulary (the cache is unchanged then). */
IT_API it_result it_decoder_feed(it_decoder *d, const int32_t *tokens, int n, const float **logits);

/* ------------------------------------------------------------------------------------------------
   >>batch  many sequences at once: a batch of (token, position, sequence) rows as llama.cpp's
   llama_batch; a paged KV cache (vLLM's PagedAttention layout: fixed-size blocks from one pool, a
   block table per sequence, reference-counted blocks shared between sequences with a common
   prefix, copy-on-write of a shared block before it is written); and a continuous batcher
   (it_generator) that decodes one token for every running sequence in one batched pass per step,
   with per-sequence sampling, RNG and stop rules, sequences joining and leaving between steps.

   POSITIONS. A sequence's tokens sit at positions 0, 1, ... of its cache: a batch row for
   sequence s must have pos = it_kv_seq_len(s) plus the number of earlier rows of s in the batch.
   it_kv_seq_shift drops the oldest blocks and re-rotates the kept keys (RoPE is a rotation, so
   key(p) rotated by -n is key(p - n)), as llama.cpp's context shift does; the positions of the
   kept tokens go down by the same n. GPT-2's learned positions cannot be shifted
   (IT_ERR_UNSUPPORTED).
------------------------------------------------------------------------------------------------ */
#define IT_KV_BLOCK_SIZE 16 /* tokens per cache block (vLLM's default) */

/* A batch: rows of (token, position, sequence id, logits wanted). Made through a context like
   every object; the arrays may also be filled directly (n_tokens <= capacity). */
typedef struct it_batch {
    it_context *ctx;
    int n_tokens, capacity;
    int32_t *token, *pos, *seq;
    int8_t *logits; /* 1 = compute this row's logits (it_batch_logits) */
} it_batch;
IT_API it_result it_batch_create(it_context *ctx, int capacity, it_batch **out);
IT_API void it_batch_destroy(it_batch *b); /* NULL is fine */
IT_API void it_batch_clear(it_batch *b);
/* Appends one row; IT_ERR_RANGE when the batch is full. */
IT_API it_result it_batch_add(it_batch *b, int32_t token, int pos, int seq, int logits);

typedef struct it_batch_decoder_desc {
    int max_seqs;    /* sequence ids 0 .. max_seqs - 1; 0 = 16 */
    int max_context; /* tokens one sequence may hold; 0 = the model's max_seq (the most allowed) */
    int n_blocks;    /* blocks in the pool; 0 = enough for every sequence to hold max_context */
    int block_size;  /* tokens per block; 0 = IT_KV_BLOCK_SIZE */
    int max_batch;   /* rows in one it_batch_decode; 0 = 512 */
    int max_logits;  /* rows with logits in one it_batch_decode; 0 = max_seqs */
} it_batch_decoder_desc;
/* The paged counterpart of it_decoder: every allocation happens at create (the pool, block tables,
   work rows for max_batch tokens); a decode allocates nothing. The same layer code as it_decoder
   (>>decoder), so a sequence decoded here gives the contiguous decoder's logits to rounding (the
   tests check the greedy tokens are equal for Llama GQA and GPT-2). Belongs to the model's
   context. */
typedef struct it_batch_decoder it_batch_decoder;
IT_API it_result it_batch_decoder_create(it_model *m, const it_batch_decoder_desc *desc, it_batch_decoder **out);
IT_API void it_batch_decoder_destroy(it_batch_decoder *d); /* NULL is fine */
/* Runs every row of the batch in one pass (each weight matrix read once for all rows): appends
   each row's k and v to its sequence's blocks (taking free blocks, copying a shared partly filled
   block first), attends each row to its sequence's keys up to its position, and computes the
   logits of the rows that ask. Errors change nothing: IT_ERR_RANGE for a bad token, sequence id,
   position or a sequence past max_context ("context full"); IT_ERR_INVALID_ARGUMENT for more rows
   than max_batch or more logits rows than max_logits; IT_ERR_OUT_OF_MEMORY when the pool has too
   few free blocks for the batch (the message says how many it needs and has). */
IT_API it_result it_batch_decode(it_batch_decoder *d, const it_batch *b);
/* Logits [vocab] of row i of the last decoded batch, NULL when that row did not ask for them.
   Valid until the next it_batch_decode. */
IT_API const float *it_batch_logits(const it_batch_decoder *d, int i);
IT_API int it_batch_decoder_vocab(const it_batch_decoder *d);
IT_API int it_batch_decoder_max_context(const it_batch_decoder *d);
IT_API int it_batch_decoder_max_seqs(const it_batch_decoder *d);

/* The reference kernel of paged attention (plain loops: the specification the batch decoder's fast
   path and the Metal kernel shaders/paged_attention.metal are tested against). One layer: out, q
   [n, Hq, D]; row i belongs to sequence row_seq[i], whose block table is tables + row_seq[i] *
   table_stride, sits at position row_pos[i] and attends to keys first .. row_pos[i] (first = 0, or
   row_pos[i] - window + 1 under a sliding window); key p of that sequence is k + table[p /
   block_size] * block_stride + (p % block_size) * Hkv * D (v alike); query head h reads kv head
   h / (Hq / Hkv); scale 1/sqrt(D). */
IT_API void it_cpu_paged_attention_forward(float *out, const float *q, const float *k, const float *v, const int32_t *tables,
                                           int table_stride, const int32_t *row_seq, const int32_t *row_pos, int n,
                                           int block_size, size_t block_stride, int Hq, int Hkv, int D, int window);

/* The cache of one sequence. */
IT_API int it_kv_seq_len(const it_batch_decoder *d, int seq); /* tokens held; 0 for a bad id */
/* Block id of the sequence's i-th block (tokens i * block_size ...), -1 past its end. */
IT_API int it_kv_seq_block(const it_batch_decoder *d, int seq, int i);
/* dst (which must be empty) gets src's first n tokens (n < 0: all of them) by sharing src's
   blocks: nothing is copied until one of them writes into a shared block. n samples of one
   prompt, or requests with one system prompt, hold the prefix once. */
IT_API it_result it_kv_seq_fork(it_batch_decoder *d, int src, int dst, int n);
/* Empties the sequence, releasing its blocks (a block shared with another stays with it). */
IT_API void it_kv_seq_clear(it_batch_decoder *d, int seq);
/* Context shift: drops the oldest n tokens (n a multiple of the block size, at most the length)
   and re-rotates the kept keys to positions 0 .. len - n - 1. A kept block shared with another
   sequence is copied first (IT_ERR_OUT_OF_MEMORY when there is no free block for that; nothing
   changes). Llama family only. */
IT_API it_result it_kv_seq_shift(it_batch_decoder *d, int seq, int n);
/* Free blocks it_batch_decode would need to append n tokens to seq (new blocks + a copy-on-write). */
IT_API int it_kv_seq_blocks_needed(const it_batch_decoder *d, int seq, int n);
typedef struct it_kv_stats {
    int n_blocks, free_blocks, shared_blocks; /* shared: held by more than one sequence */
    int block_size;
    size_t block_bytes; /* k and v of one block, every layer */
} it_kv_stats;
IT_API it_kv_stats it_kv_cache_stats(const it_batch_decoder *d);

/* Sampling: temperature (<= 0: greedy), then top-k (0 = off), top-p (0 or 1 = off), min-p (0 = off:
   tokens under min_p times the most likely one's probability are dropped, as llama.cpp and
   transformers' min_p). */
typedef struct it_sampling {
    float temperature;
    int top_k;
    float top_p, min_p;
    uint64_t seed;
} it_sampling;
/* One token from logits [V] under s with the generator r; scratch: 2 V floats and V ints. */
IT_API int32_t it_sample(const it_sampling *s, it_rng *r, const float *logits, int V, float *scratch, int *scratch_index);

/* Why a sequence ended. */
#define IT_FINISH_LIST(X)                                                          \
    X(IT_FINISH_NONE, "none")              /* still running */                      \
    X(IT_FINISH_STOP, "stop")              /* sampled a stop token (EOS) */         \
    X(IT_FINISH_LENGTH, "length")          /* max_tokens generated */               \
    X(IT_FINISH_CONTEXT, "context_full")   /* max_context reached, no shift asked */ \
    X(IT_FINISH_CANCELLED, "cancelled")    /* it_generator_cancel */                \
    X(IT_FINISH_CACHE_FULL, "cache_full")  /* no free block for its next token */
typedef enum it_finish_reason {
#define IT__FINISH_ENUM(id, text) id,
    IT_FINISH_LIST(IT__FINISH_ENUM)
#undef IT__FINISH_ENUM
    IT_FINISH_COUNT
} it_finish_reason;
IT_API const char *it_finish_reason_name(it_finish_reason r);

typedef struct it_generator_desc {
    it_batch_decoder_desc cache; /* max_seqs is the most sequences running at once */
    int context_shift;           /* 1: a sequence at max_context drops its oldest block and goes on */
} it_generator_desc;
typedef struct it_request {
    const int32_t *prompt; /* copied at submit */
    int n_prompt;          /* >= 1 and < max_context */
    int max_tokens;        /* tokens to generate; 0 = until a stop token or the context ends */
    int n;                 /* samples of the prompt, sharing its blocks; 0 = 1 */
    it_sampling sampling;  /* sample i draws from seed + i */
    const int32_t *stop_ids; /* tokens that end a sample (EOS, end of turn); copied */
    int n_stop_ids;
    void *user;            /* handed back in every event */
} it_request;
/* One step's news of one sample: a new token (token >= 0) and/or its end (finish != NONE; token
   -1 when it ended without a new one: cancelled, context or cache full). A stop token is
   reported (token = the stop id, finish = STOP) so the caller can decide to hide it. */
typedef struct it_generation_event {
    int id;        /* the sample's id from it_generator_submit */
    int index;     /* which of the request's n samples */
    int32_t token;
    it_finish_reason finish;
    void *user;
} it_generation_event;
typedef struct it_generator it_generator;
IT_API it_result it_generator_create(it_model *m, const it_generator_desc *desc, it_generator **out);
IT_API void it_generator_destroy(it_generator *g); /* NULL is fine */
/* Queues a request; ids[0 .. n - 1] get the ids of its samples (unique for the generator's life).
   It joins the running sequences at a later step, when there are free sequence slots and blocks
   for its prompt. Blocks of the prompt that an earlier running sequence already holds (the same
   first tokens, whole blocks) are shared, not recomputed. IT_ERR_RANGE for a prompt that does not
   fit the context (or an id outside the vocabulary), IT_ERR_INVALID_ARGUMENT for n above max_seqs. */
IT_API it_result it_generator_submit(it_generator *g, const it_request *req, int *ids);
/* Ends a sample now (its event comes from the next step, finish CANCELLED). Unknown ids: nothing. */
IT_API void it_generator_cancel(it_generator *g, int id);
/* One step: admits queued requests, builds one batch (a token for every running sample, then
   prompt chunks up to max_batch rows), decodes it, samples. *events (valid until the next step)
   gets what happened; a finished sample's blocks are released at once. */
IT_API it_result it_generator_step(it_generator *g, const it_generation_event **events, int *n_events);
IT_API int it_generator_pending(const it_generator *g); /* samples queued or running */
IT_API it_batch_decoder *it_generator_decoder(it_generator *g);
/* Prompt tokens computed so far, and prompt tokens not computed because their blocks were shared
   (a request's n samples, or whole blocks a running sequence already held). */
IT_API void it_generator_counts(const it_generator *g, int64_t *prompt_computed, int64_t *prompt_shared);

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
    int zero_stage;         /* 1 = ZeRO-1 over the context's communicator (>>comm): this rank keeps
                               the state of its part of the gradient block only; 0 = all of it */
} it_optimizer_desc;
typedef struct it_optimizer {
    it_context *ctx;
    it_optimizer_desc desc;
    float *state;    /* one block: m (and v for AdamW) for the gradient floats [shard_begin,
                        shard_end), laid out like the gradient block (shard_end - shard_begin
                        floats each) */
    size_t state_numel;
    size_t shard_begin, shard_end; /* all of the gradient block, or (ZeRO-1) this rank's part */
    int step;        /* updates applied so far */
} it_optimizer;
/* desc NULL (or zeroed) is AdamW with the defaults above. */
IT_API it_result it_optimizer_create(it_context *ctx, const it_optimizer_desc *desc, it_optimizer **out);
IT_API void it_optimizer_destroy(it_optimizer *opt); /* NULL is fine */
/* One update of every parameter from the gradient block. grad_scale multiplies the gradients
   (1/k after accumulating k micro-batches); clipping applies to the scaled gradient. Returns the
   scaled gradient's global norm (before clipping) in *grad_norm when not NULL. lr and grad_scale
   must be finite and >= 0 (else IT_ERR_INVALID_ARGUMENT and nothing changes). */
IT_API it_result it_optimizer_step(it_optimizer *opt, float lr, float grad_scale, float *grad_norm);
/* With a communicator of N > 1 ranks the step first waits for the gradient sync (>>comm) and
   updates with the average over the ranks (the summed block times grad_scale / N).
   ZeRO-1 checkpoints: it_optimizer_gather_state (every rank calls it) makes the state whole on
   every rank, as a checkpoint save or load needs it; it_optimizer_shard_state keeps this rank's
   part again. Both are no-ops without ZeRO-1. */
IT_API it_result it_optimizer_gather_state(it_optimizer *opt);
IT_API it_result it_optimizer_shard_state(it_optimizer *opt);

/* ------------------------------------------------------------------------------------------------
   >>comm  data-parallel training over several processes (ranks) through a communicator the
   context is given (it_context_desc.comm). The library only calls the table below; an existing
   engine implements it: MPI in irontensor_mpi.h (compiled with mpicc), NCCL later. Without one
   the context has a built-in communicator of one rank, and nothing below costs anything.

   A step over N ranks: each rank runs its micro-batches on its own data; before the last one
   the caller arms the gradient sync (it_grad_sync_arm), and during that backward the gradient
   block is summed across ranks in buckets (it_context_desc.grad_bucket_floats), each started as
   soon as the last node that writes its gradients has run (the CPU backend runs nodes in order,
   so the runner knows; other backends sum after the run). it_optimizer_step waits for them and
   every rank applies the same update to the same average, so the gradient norm, and clipping,
   are the global ones and the weights stay identical on every rank.
   ZeRO-1 (it_optimizer_desc.zero_stage = 1): each rank keeps the optimizer state of 1/N of the
   gradient block; the step reduce-scatters the gradients, updates that part of the weights and
   all-gathers them (parts cut by it_comm_part).

   Every function returns IT_OK, or < 0 with the reason (the rank, the timeout, the engine's
   message) in error[]; a rank that cannot go on calls abort, which ends every rank.
------------------------------------------------------------------------------------------------ */
struct it_comm {
    int rank, size; /* this process, and how many there are; rank 0 writes checkpoints */
    void *user;     /* the implementation's state */
    /* Sums n floats over every rank, in place, without waiting: *request names the operation
       for wait / test, and the buffer is the communicator's until it has finished. */
    it_result (*all_reduce_start)(it_comm *c, float *buf, size_t n, int *request);
    /* *done = 1 when the request has finished (it is then released, as by wait); lets the engine
       progress. May be NULL: the library then only calls wait. */
    it_result (*test)(it_comm *c, int request, int *done);
    it_result (*wait)(it_comm *c, int request);
    it_result (*broadcast)(it_comm *c, void *buf, size_t bytes, int root);
    it_result (*barrier)(it_comm *c);
    /* n floats on every rank, cut in `size` parts by it_comm_part: afterwards part `rank` holds
       the sum of that part over the ranks (the other parts are undefined). */
    it_result (*reduce_scatter_sum)(it_comm *c, float *buf, size_t n);
    /* Part `rank` of buf holds this rank's values: afterwards every part holds its owner's. */
    it_result (*all_gather)(it_comm *c, float *buf, size_t n);
    /* Ends every rank with exit status `code` after a failure this rank cannot recover from.
       Does not return. */
    void (*abort)(it_comm *c, int code);
    char error[512]; /* what the last failed call met */
};
/* The context's communicator: the one it was given, or its own one-rank one. Never NULL. */
IT_API it_comm *it_context_comm(it_context *ctx);
/* Part `rank` of n floats cut in `size` parts: [*begin, *end), each part but the last a multiple
   of 16 floats (64 bytes), the last part the rest (possibly empty). */
IT_API void it_comm_part(size_t n, int size, int rank, size_t *begin, size_t *end);
/* Blocking conveniences over the table (all_reduce_start + wait). */
IT_API it_result it_comm_all_reduce_sum(it_comm *c, float *buf, size_t n);
IT_API it_result it_comm_broadcast(it_comm *c, void *buf, size_t bytes, int root);
IT_API it_result it_comm_barrier(it_comm *c);
/* c->abort(c, code) when the communicator has one (it does not return); the one-rank communicator
   has none, so this returns and the caller exits as usual. */
IT_API void it_comm_abort(it_comm *c, int code);

/* The next forward + backward run of g is the step's last micro-batch: its gradients are summed
   across ranks while the backward runs (see above). No-op with one rank or with ZeRO-1 (whose
   reduce-scatter runs in it_optimizer_step). */
IT_API it_result it_grad_sync_arm(it_graph *g);
/* Starts every bucket not started yet and waits for all: afterwards the gradient block holds the
   sum over the ranks. it_optimizer_step calls it; IT_OK at once with one rank. An error (a rank
   gone, a timeout) goes to last-error with the communicator's message. */
IT_API it_result it_grad_sync_wait(it_context *ctx);
/* What the gradient sync did so far (this rank): payload bytes summed by all-reduce or reduce-
   scatter + all-gather, seconds spent blocked waiting for them, steps synced. */
typedef struct it_grad_sync_stats {
    int buckets;           /* all-reduce buckets the gradient block is cut into */
    int64_t steps;         /* optimizer steps that synced */
    double bytes;          /* gradient (and ZeRO-1 weight) payload bytes */
    double wait_seconds;   /* time blocked in the communicator (what overlap did not hide) */
} it_grad_sync_stats;
IT_API it_grad_sync_stats it_grad_sync_get_stats(it_context *ctx);

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
   *out_n <= n for IronTensor's own tokenizers. A Hugging Face tokenizer encodes as tokenizers'
   encode(text) does, special tokens (the template's BOS / EOS) included; the text must then be
   valid UTF-8 (IT_ERR_INVALID_ARGUMENT otherwise). */
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
/* A list of token ids as people type it, "1,2,3": decimal ids in [0, vocab) separated by single
   commas (no signs, spaces, empty items, or more digits than an id has). *out_ids as for
   it_tokenizer_encode (release with it_ids_free). IT_ERR_INVALID_ARGUMENT naming the item and why. */
IT_API it_result it_ids_parse(it_context *ctx, const char *text, int vocab, int32_t **out_ids, size_t *out_n);

/* Hugging Face tokenizers (tokenizer.json, as the `tokenizers` library writes it), BPE models of
   three families: GPT-2 byte-level (ByteLevel pre-tokenizer and its regex); Llama-3 / Qwen2
   (Split with a regex, then ByteLevel without it; ignore_merges; NFC); SentencePiece-style
   (Llama-2, Mistral, TinyLlama: byte_fallback to <0xXX> tokens, the unknown token, fuse_unk,
   Prepend / Replace normalizers or a Metaspace pre-tokenizer, the Replace / ByteFallback / Fuse /
   Strip decoder). Added tokens (special or not, lstrip / rstrip, normalized or not) are found
   before anything else; merges may be "a b" strings or ["a", "b"] pairs; TemplateProcessing adds
   BOS / EOS. Encoding and decoding give exactly the ids and text `tokenizers` gives (checked
   against tests/fixtures/hf_tokenizers). Other model types (WordPiece, Unigram, WordLevel) and
   every normalizer, pre-tokenizer, decoder, post-processor or regex construct not listed above are
   refused by name with IT_ERR_UNSUPPORTED; malformed files fail with IT_ERR_FORMAT.

   path is tokenizer.json itself or a model directory holding it. In a directory,
   tokenizer_config.json (optional) names bos_token / eos_token (it_tokenizer_bos_eos) and, for a
   tokenizer.json without TemplateProcessing, add_bos_token / add_eos_token add them; a template
   in tokenizer.json wins, as in transformers 5.

   The tokenizer's vocab size is its id space (the highest id + 1); it_tokenizer_token_bytes gives
   the bytes one token stands for; it cannot be saved with it_tokenizer_save (keep the json). */
#define IT_TOKENIZE_NO_SPECIAL 1 /* encode: no BOS / EOS template; decode: skip special tokens */
IT_API it_result it_tokenizer_load_hf(it_context *ctx, const char *path, it_tokenizer **out);
/* it_tokenizer_encode / it_tokenizer_decode with flags (IT_TOKENIZE_NO_SPECIAL). The decoding of
   a Hugging Face tokenizer is tokenizers' decode(ids, skip_special_tokens): UTF-8 text, invalid
   byte sequences replaced by U+FFFD; it allocates (from the tokenizer's context), and returns
   (size_t)-1 when memory runs out.
   it_tokenizer_decode keeps special tokens (flags 0). */
IT_API it_result it_tokenizer_encode_flags(it_context *ctx, const it_tokenizer *tok, const uint8_t *text, size_t n, int flags,
                                           int32_t **out_ids, size_t *out_n);
IT_API size_t it_tokenizer_decode_flags(const it_tokenizer *tok, const int32_t *ids, size_t n, int flags, uint8_t *out,
                                        size_t cap);
/* 1 for the special added tokens of a Hugging Face tokenizer, 0 otherwise. */
IT_API int it_tokenizer_is_special(const it_tokenizer *tok, int32_t id);
/* The id of a token given by its string (an added token's content or a vocabulary entry, e.g.
   "<|eot_id|>"), -1 when there is none or the tokenizer is not a Hugging Face one. */
IT_API int32_t it_tokenizer_find(const it_tokenizer *tok, const char *token);
/* bos_token / eos_token of tokenizer_config.json, -1 when not known. */
IT_API void it_tokenizer_bos_eos(const it_tokenizer *tok, int32_t *bos, int32_t *eos);

/* Streaming decode while generating (tokenizers' DecodeStream): push ids one at a time and get
   the text each one completes, always whole UTF-8 characters; a token that ends inside a
   character gives nothing until a later one completes it. The concatenated pieces equal
   it_tokenizer_decode_flags of all the ids. *text stays valid until the next push.
   A stream belongs to its context like every object (released with it, or earlier by destroy). */
typedef struct it_token_stream it_token_stream;
IT_API it_result it_token_stream_create(it_context *ctx, const it_tokenizer *tok, int flags, it_token_stream **out);
IT_API it_result it_token_stream_push(it_token_stream *s, int32_t id, const char **text, size_t *len);
IT_API void it_token_stream_destroy(it_token_stream *s); /* NULL is fine */

/* ------------------------------------------------------------------------------------------------
   >>chat  chat templates: the `chat_template` of tokenizer_config.json (or chat_template.jinja)
   is Jinja, which this library does not interpret. As llama.cpp does (src/llama-chat.cpp), the
   common templates are recognised by markers in their text and rendered by built-in code that
   gives, character for character, what transformers' apply_chat_template(..., tokenize=False)
   gives for the published templates (tests/test_chat.c against renderings made by transformers):
     chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n ...; a default system message the template
              writes when the conversation opens without one is taken from the template text
              (Qwen2.5, SmolLM2); plain ChatML has none (OpenHermes)
     llama3   BOS <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT(trimmed)<|eot_id|> ...;
              Llama 3.1 / 3.2 / 3.3 templates also always open with a system header holding
              "Cutting Knowledge Date: December 2023\nToday Date: DATE\n\n" and the system text
     llama2   Llama-2-chat: BOS[INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] ASSISTANT EOS ...
     mistral  Mistral-7B-Instruct v0.1 / v0.2, Mixtral-8x7B-Instruct: BOS[INST] USER [/INST]ASSISTANTEOS
              (no system message: the template refuses one)
     zephyr   Zephyr, TinyLlama-Chat: <|ROLE|>\nCONTENT EOS\n ... <|assistant|>\n
     gemma    Gemma 1 / 2: BOS<start_of_turn>ROLE\nCONTENT(trimmed)<end_of_turn>\n, assistant
              written as "model" (no system message: the template refuses one)
   A template with one of these markers but built differently (Mistral's v3 / v7 tools templates,
   Phi-4's <|im_sep|>, Gemma 3's merged system turn, ...) is not recognised: a clear error, never a
   rendering that might differ. Roles are "system", "user" and "assistant"; tool messages and tool
   definitions are not rendered (IT_ERR_UNSUPPORTED). Where the template raises (roles that do not
   alternate, a system message it does not take) it_chat_apply fails the same way.
------------------------------------------------------------------------------------------------ */
#define IT_CHAT_FORMAT_LIST(X)                                                            \
    X(IT_CHAT_CHATML, "chatml") X(IT_CHAT_LLAMA3, "llama3") X(IT_CHAT_LLAMA2, "llama2") \
    X(IT_CHAT_MISTRAL, "mistral") X(IT_CHAT_ZEPHYR, "zephyr") X(IT_CHAT_GEMMA, "gemma")
typedef enum it_chat_format {
    IT_CHAT_UNKNOWN = 0,
#define IT__CHAT_ENUM(name, text) name,
    IT_CHAT_FORMAT_LIST(IT__CHAT_ENUM)
#undef IT__CHAT_ENUM
    IT_CHAT_FORMAT_COUNT
} it_chat_format;
IT_API const char *it_chat_format_name(it_chat_format f); /* "chatml", ...; "unknown" outside the list */
IT_API const char *it_chat_format_names(void);            /* "chatml, llama3, ..." for help texts */
/* Name (as it_chat_format_name prints it) to format; IT_ERR_INVALID_ARGUMENT for an unknown name. */
IT_API it_result it_chat_format_parse(const char *name, it_chat_format *out);
/* The format a template's Jinja text is recognised as; IT_CHAT_UNKNOWN when none (a pure function). */
IT_API it_chat_format it_chat_template_detect(const char *jinja);

#define IT_CHAT_TOKEN_MAX 64   /* bytes of a bos / eos token string, its zero included */
#define IT_CHAT_SYSTEM_MAX 1024 /* bytes of a template's default system message, its zero included */
/* What a rendering needs besides the messages. Zero-initialised plus a format it renders that
   format with no BOS / EOS text; it_chat_template_load fills it from a model directory. */
typedef struct it_chat_template {
    it_chat_format format;
    char bos_token[IT_CHAT_TOKEN_MAX]; /* the text the template's bos_token / eos_token stand for */
    char eos_token[IT_CHAT_TOKEN_MAX]; /* ("<s>", "</s>"; tokenizer_config.json's); "" = none */
    char default_system[IT_CHAT_SYSTEM_MAX]; /* chatml: written when messages[0] is not a system message */
    int knowledge_header; /* llama3: the Llama 3.1+ system header (above) */
    char date[32];        /* its "Today Date"; "" = today, "%d %b %Y" in English (as transformers' strftime_now) */
} it_chat_template;
typedef struct it_chat_message {
    const char *role;    /* "system", "user", "assistant" */
    const char *content; /* UTF-8 */
} it_chat_message;

/* Recognises `jinja` (len bytes) into out->format and its details (default system message,
   knowledge header and its default date); out's bos / eos strings are left as they are. An
   unrecognised template is IT_ERR_UNSUPPORTED with a message that says so and lists the names a
   caller may pass instead. */
IT_API it_result it_chat_template_parse(it_context *ctx, const char *jinja, size_t len, it_chat_template *out);
/* From a model directory: the template is chat_template.jinja when present, else tokenizer_config.json's
   "chat_template" (a string, or a list of {"name", "template"} of which "default" is used);
   bos_token / eos_token from tokenizer_config.json (a string or {"content": ...}). name != NULL
   (a format name, e.g. from --chat-template) overrides the template text, which then need not
   exist. No template and no name: IT_ERR_UNSUPPORTED saying so. Malformed files: IT_ERR_FORMAT. */
IT_API it_result it_chat_template_load(it_context *ctx, const char *dir, const char *name, it_chat_template *out);
/* Renders n >= 1 messages (add_generation_prompt: the opening of the assistant's reply after them)
   into out, at most cap bytes, zero-terminated when cap > 0; *out_len = the rendering's length
   (without the zero) even when it did not fit, like snprintf: call with cap 0 to size the
   buffer. Encode the text with IT_TOKENIZE_NO_SPECIAL (the template already wrote BOS where the
   model wants it), as transformers does. Errors: IT_ERR_INVALID_ARGUMENT for what the template
   refuses (the message says which rule), IT_ERR_UNSUPPORTED for a role outside the three. */
IT_API it_result it_chat_apply(it_context *ctx, const it_chat_template *t, const it_chat_message *messages, int n,
                               int add_generation_prompt, char *out, size_t cap, size_t *out_len);
/* The text that ends a turn of the model's ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", or the
   EOS token): generation stops there (look its id up with it_tokenizer_find). "" when unknown. */
IT_API const char *it_chat_template_end_of_turn(const it_chat_template *t);

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
/* A float32 array as a NumPy .npy file (format 1.0: '<f4', C order, shape[0..ndim)), written
   atomically (path.tmp-PID, then renamed over path: a reader never sees half a file). A path that
   is a directory is refused, never replaced. */
IT_API it_result it_npy_write_f32(it_context *ctx, const char *path, const float *data, int ndim, const int64_t *shape);
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
   >>checkpoints  a directory a Python user can open directly (numpy, torch or transformers)

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
#define IT_CHECKPOINT_MAX_RANKS 256  /* data-parallel ranks whose data positions a checkpoint keeps */

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
    /* a data-parallel run (>>comm): how many ranks saved it (0 or 1 = one process), and the data
       loader position of ranks 1 .. world_size - 1 (rank 0's is data_rng) */
    int world_size;
    it_rng rank_data_rng[IT_CHECKPOINT_MAX_RANKS - 1];
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
/* A model from a directory in one call: it_checkpoint_read_config, it_model_create and
   it_checkpoint_load (weights only) of a Hugging Face model directory or a checkpoint. On failure
   *out = NULL (the parameters it declared stay in ctx, as after a failed it_checkpoint_load). */
IT_API it_result it_model_load(it_context *ctx, const char *dir, it_model **out);
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

/* GENERATION CONFIG: what a Hugging Face model directory's generation_config.json says about
   decoding, as transformers' GenerationConfig reads it: eos_token_id (an id or a list of them),
   bos_token_id, pad_token_id, do_sample and the default sampling (temperature, top_k, top_p,
   min_p, repetition_penalty, max_new_tokens). Without the file the ids come from config.json
   (GenerationConfig.from_model_config), and a file without eos_token_id takes config.json's.
   Neither file: everything unset, IT_OK. A present key of the wrong type or out of range
   (a negative id, temperature < 0, top_p outside [0, 1], repetition_penalty <= 0, more than
   IT_GENERATION_MAX_EOS eos ids) is IT_ERR_FORMAT naming the file and the key. The ids are not
   checked against a vocabulary (the caller knows it). */
#define IT_GENERATION_MAX_EOS 16
typedef struct it_generation_config {
    int n_eos;
    int32_t eos_ids[IT_GENERATION_MAX_EOS];
    int32_t bos_id, pad_id; /* -1 = not given */
    int do_sample;          /* -1 = not given, else 0 or 1 */
    float temperature, top_p, min_p, repetition_penalty; /* < 0 = not given */
    int top_k, max_new_tokens;                           /* -1 = not given */
} it_generation_config;
IT_API it_result it_generation_config_read(it_context *ctx, const char *dir, it_generation_config *out);

/* ------------------------------------------------------------------------------------------------
   >>lora  LoRA adapters (Hu et al. 2021) on a model's linear layers, in PEFT's format, so an
   adapter moves both ways between IronTensor and Hugging Face's peft.

   An adapter adds y += scale (x A^T) B^T to chosen projections: A [r, in], B [out, r], scale =
   alpha / r (rsLoRA: alpha / sqrt(r), Kalajdzievski 2023). Targets are PEFT's module names:
   Llama family q_proj k_proj v_proj o_proj gate_proj up_proj down_proj; GPT-2 c_attn (q, k and v:
   one A, B's rows q | k | v), c_proj (attention output and MLP down), c_fc; "all-linear" is every
   projection (not the head). it_lora_create freezes every base parameter, so gradients and
   optimizer state exist for A and B only; graphs and decoders made afterwards include the adapter
   (unmerged), until it_lora_merge folds scale B A into W.

   DIRECTORY (what PEFT's save_pretrained writes, plus what a resume needs)
     adapter_config.json        peft_type "LORA", r, lora_alpha, lora_dropout, target_modules,
                                use_rslora, layers_to_transform, bias "none", fan_in_fan_out
                                (true for GPT-2), base_model_name_or_path, task_type "CAUSAL_LM"
     adapter_model.safetensors  f32, PEFT's keys: base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight,
                                ...lora_B.weight (GPT-2: base_model.model.transformer.h.N.attn.c_attn...)
     optimizer.safetensors, trainer_state.json, irontensor.checkpoint, loss.csv, loss.svg
                                as for checkpoints (state for A and B only, under their adapter keys)
   Saves are atomic and safe exactly as checkpoint saves (>>checkpoints: ATOMIC SAVES, SAFETY).
   Loads validate everything first: the config (peft_type, r >= 1 and at most IT_LORA_MAX_RANK,
   finite alpha, dropout in [0, 1), known targets for the model's architecture, layers inside the
   model, no DoRA / bias / other PEFT options that change the arithmetic), every key present once
   with its shape, no unknown key, finite values; then copy.
------------------------------------------------------------------------------------------------ */
#define IT_LORA_MAX_RANK 4096
#define IT_LORA_MAX_LAYERS 256 /* layers a config may list (layers_to_transform) */
typedef struct it_lora_config {
    int rank;              /* r, 1 .. IT_LORA_MAX_RANK */
    float alpha;           /* lora_alpha; 0 = 2 r (scale 2) */
    int use_rslora;        /* scale alpha / sqrt(r) instead of alpha / r */
    float dropout;         /* lora_dropout, recorded; training with dropout > 0 is not implemented (IT_ERR_UNSUPPORTED) */
    char targets[256];     /* comma-separated PEFT module names, or "all-linear"; "" = q_proj,v_proj (c_attn for GPT-2) */
    int last_layers;       /* 0 = every layer (or the list below); N = only the last N layers */
    int n_layers;          /* > 0: exactly these layer indices (PEFT's layers_to_transform) */
    int layers[IT_LORA_MAX_LAYERS];
    char base_model[512];  /* base_model_name_or_path, written to adapter_config.json; "" = null */
} it_lora_config;
typedef struct it_lora it_lora;

/* Declares A and B for every target of cfg in m's context (before its parameters are allocated),
   freezes the base, attaches the adapter to m. A ~ Kaiming-uniform as PEFT initialises it (bound
   1/sqrt(in)), B = 0, from it_lora_init once parameters exist. The context releases it. Errors:
   IT_ERR_INVALID_ARGUMENT naming the bad field (unknown target, rank, layer), IT_ERR_STATE once
   the parameters are allocated or an adapter is already attached. */
IT_API it_result it_lora_create(it_model *m, const it_lora_config *cfg, it_lora **out);
IT_API void it_lora_destroy(it_lora *l); /* detaches it; its parameters stay in the context */
/* A ~ U(-1/sqrt(in), 1/sqrt(in)) seeded, B = 0: the model's output is unchanged at step 0. */
IT_API it_result it_lora_init(it_lora *l, uint64_t seed);
IT_API float it_lora_scale(const it_lora *l);
IT_API const it_lora_config *it_lora_get_config(const it_lora *l);
/* Number of adapted projections, and the A and B of one (layer, IT_LP_* slot); NULL when that
   projection has none. GPT-2's q, k and v share one A. */
IT_API int it_lora_count(const it_lora *l);
IT_API it_result it_lora_pair(const it_lora *l, int layer, int slot, it_tensor **a, it_tensor **b);
/* adapter_config.json of DIR -> *out (so the adapter can be created before its weights load). */
IT_API it_result it_lora_read_config(it_context *ctx, const char *dir, it_lora_config *out);
/* Validates DIR against l (config, shapes, values), then copies A and B (and, when given, the
   optimizer state of A and B and the trainer state, as it_checkpoint_load does). */
IT_API it_result it_lora_load(it_context *ctx, it_lora *l, it_optimizer *opt, it_trainer_state *ts, const char *dir);
/* it_lora_read_config + it_lora_create + it_lora_load: attach the adapter in DIR to m (whose
   parameters are not yet allocated; load the base weights afterwards with it_checkpoint_load). */
IT_API it_result it_lora_attach(it_model *m, const char *dir, it_lora **out);
/* Writes DIR atomically and safely (as it_checkpoint_save; o's dtype must be f32, its tokenizer
   options are ignored). opt and ts may be NULL. */
IT_API it_result it_lora_save(it_context *ctx, const it_lora *l, const it_optimizer *opt, const it_trainer_state *ts,
                              const char *dir, const it_checkpoint_options *o);
/* Folds the adapter into the base: W += scale B A for every adapted projection (W^T for GPT-2),
   then detaches it (graphs and decoders made afterwards run the plain model; save it with
   it_checkpoint_save). */
IT_API it_result it_lora_merge(it_lora *l);

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
    IT_OP_BACKWARD_READS_IN3 = 1 << 3,
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
    X(IT_OP_RESHAPE, "reshape", 0)                                                                 \
    X(IT_OP_LORA, "lora", IT__BWD_IN012 | IT_OP_BACKWARD_READS_IN3)

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
    /* Optional, for a device with memory of its own (CUDA): buffer_create's pointer is then a host
       mirror, and this is called before the host touches one: `bytes` at ptr (it_data and friends,
       per tensor), or every block (ptr NULL: it__sync, before the core reads or writes whole
       blocks). The backend copies the device's newer bytes in and uploads them again before its
       next device work. NULL = shared memory (CPU, Metal). */
    void (*host_access)(it_backend *be, const void *ptr, size_t bytes);
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
/* Waits until the backend has finished what it queued and returns its verdict (a GPU error, an
   optimizer update it skipped for a non-finite norm). A no-op on the CPU backend. it_graph_run
   waits by itself; a GPU's it_optimizer_step may not (Metal: one wait per training step), so call
   this before reading parameters or optimizer state on the CPU. The library's own readers
   (checkpoints, the decoder) do. A device with memory of its own (CUDA) also copies the
   parameter, gradient and optimizer-state blocks to the host here (tensors read through it_data
   need no call: the backend copies what they name). */
IT_API it_result it_context_synchronize(it_context *ctx);

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
/* The same with min-p after top-p (transformers' MinPLogitsWarper): tokens whose probability is
   below min_p times the most likely one's are dropped (0 = off). */
IT_API int it_cpu_sample_min_p(const float *logits, int V, float temperature, int top_k, float top_p, float min_p,
                               float coin, float *scratch_probs, int *scratch_index);
/* transformers' RepetitionPenaltyLogitsProcessor, in place: the logit of every token that occurs in
   ids[0..n) (once, however often it occurs) is divided by penalty when positive, multiplied when
   negative; penalty 1 changes nothing. seen needs V bytes, all zero, and is left so. Ids outside
   [0, V) are skipped. */
IT_API void it_cpu_repetition_penalty(float *logits, int V, const int32_t *ids, size_t n, float penalty, unsigned char *seen);
/* LoRA linear (it_lora_linear), the reference: x [N, in], w [out, in] (or [in, out] when w_in_out),
   a [r, in], b [out, r]; out [N, out] = x w^T + scale (x a^T) b^T; xa [N, r] saved = scale x a^T.
   Backward accumulates dx [N, in], da [r, in], db [out, r] (each may be NULL) from dout [N, out]. */
IT_API void it_cpu_lora_forward(float *out, float *xa, const float *x, const float *w, const float *a, const float *b,
                                int N, int in, int out_dim, int r, float scale, int w_in_out);
IT_API void it_cpu_lora_backward(float *dx, float *da, float *db, const float *dout, const float *x, const float *w,
                                 const float *a, const float *b, const float *xa, int N, int in, int out_dim, int r,
                                 float scale, int w_in_out);
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

/* Programmer errors: print where the caller was and what was wrong, then abort: a misuse is a bug
   in the caller, not a condition to handle, so it must not pass quietly. */
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


/* The CPU backend's own state (its functions are at >>cpu): the table, first, so the it_backend *
   the context hands around is this struct, and what the run in progress told the backend. */
typedef struct it__cpu_backend {
    it_backend be;
    it_context *ctx;
    it_run_mode run_mode; /* of the run in progress (begin_step) */
    int loss_grads_done;  /* the loss node's forward already wrote its input gradients */
} it__cpu_backend;
/* The gradient sync of a data-parallel step (>>comm): the gradient block cut into buckets of
   whole parameters, and what the armed run has started. */
typedef struct it__grad_bucket {
    size_t begin, end; /* floats of the gradient block */
    int ready_at;      /* the armed run's position (forward node i, or n_nodes + backward step) after
                          which no node writes these gradients again; -1 = none writes them */
    int request;       /* the communicator's id while started */
    int started;
} it__grad_bucket;
typedef struct it__grad_sync {
    it__grad_bucket *buckets;
    int n_buckets;
    int *order;         /* bucket indices by ready_at: the armed run starts them in this order */
    int next;           /* order[next] is the next bucket to start */
    it_graph *armed;    /* the graph whose next run is the step's last micro-batch */
    int zero;           /* a ZeRO-1 optimizer exists: its step reduce-scatters the block instead */
    size_t bucket_floats;
    it_grad_sync_stats stats;
} it__grad_sync;
#define IT__RETIRED 256 /* destroyed objects a context keeps marked dead (it__object_retire) */
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
    void *retired[IT__RETIRED]; /* the latest destroyed objects, kept marked dead (it__object_retire) */
    unsigned n_retired;
    it__cpu_backend cpu;
    it_backend *backend;
    it_comm *comm;       /* the desc's, or own_comm: one rank */
    it_comm own_comm;
    it__grad_sync gsync;
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

/* The destroy contract (header, ERRORS). Every object a context makes sits behind a header that
   names its kind and says whether it is alive, so a destroy can tell a live object from one that
   is gone: a destroyed object's contents are freed at once, but its own struct stays, marked dead,
   among the context's latest IT__RETIRED destroyed objects (a quarantine, as AddressSanitizer
   keeps freed memory). Destroying it again, or passing another kind of object, is a programmer
   error that stops with the function named, instead of freeing memory twice. Object kinds made
   through it__object_new are checked; kinds added later should use it too. */
#define IT__OBJECT_LIVE 0x4C495645u /* "LIVE" */
#define IT__OBJECT_DEAD 0x44454144u /* "DEAD" */
#define IT__OBJECT_KIND_LIST(X) \
    X(IT__OBJ_GRAPH, "graph") X(IT__OBJ_MODEL, "model") X(IT__OBJ_OPTIMIZER, "optimizer") X(IT__OBJ_DECODER, "decoder") \
    X(IT__OBJ_TOKENIZER, "tokenizer") X(IT__OBJ_DATASET, "dataset") X(IT__OBJ_TOKEN_STREAM, "token stream") \
    X(IT__OBJ_BATCH, "batch") X(IT__OBJ_BATCH_DECODER, "batch decoder") X(IT__OBJ_GENERATOR, "generator")
typedef enum it__object_kind {
    IT__OBJ_NONE = 0,
#define IT__OBJECT_ENUM(id, name) id,
    IT__OBJECT_KIND_LIST(IT__OBJECT_ENUM)
#undef IT__OBJECT_ENUM
    IT__OBJ_COUNT
} it__object_kind;
static const char *it__object_kind_name(int kind) {
    static const char *const names[IT__OBJ_COUNT] = {
        "?",
#define IT__OBJECT_NAME(id, name) name,
        IT__OBJECT_KIND_LIST(IT__OBJECT_NAME)
#undef IT__OBJECT_NAME
    };
    return kind > IT__OBJ_NONE && kind < IT__OBJ_COUNT ? names[kind] : "?";
}
typedef struct it__object_header {
    uint32_t state; /* IT__OBJECT_LIVE, or IT__OBJECT_DEAD once destroyed */
    int kind;       /* it__object_kind */
    it_context *ctx;
} it__object_header;
#define IT__OBJECT_HEADER_BYTES IT__ALIGN /* the object after it keeps the allocator's alignment */
static it__object_header *it__object_header_of(const void *object) {
    return (it__object_header *)((unsigned char *)(uintptr_t)object - IT__OBJECT_HEADER_BYTES);
}
/* A zeroed object of `size` bytes behind its header, alive; NULL when out of memory. */
static void *it__object_new(it_context *ctx, it__object_kind kind, size_t size) {
    unsigned char *p;
    it__object_header *h;
    if (size > (size_t)-1 - IT__OBJECT_HEADER_BYTES) return NULL;
    p = (unsigned char *)it__calloc(ctx, IT__OBJECT_HEADER_BYTES + size);
    if (!p) return NULL;
    h = (it__object_header *)p;
    h->state = IT__OBJECT_LIVE;
    h->kind = (int)kind;
    h->ctx = ctx;
    return p + IT__OBJECT_HEADER_BYTES;
}
/* Stops unless object is a live object of this kind; fn names the call in the message. */
static void it__object_check(const void *object, it__object_kind kind, const char *fn) {
    const it__object_header *h = it__object_header_of(object);
    const char *want = it__object_kind_name((int)kind), *is = it__object_kind_name(h->kind);
    if (h->state == IT__OBJECT_LIVE && h->kind == (int)kind) return;
    if (h->state == IT__OBJECT_DEAD && h->kind == (int)kind)
        it__fail(__FILE__, __LINE__, "%s: this %s was already destroyed (destroyed twice, or used after its destroy)", fn, want);
    if (h->state == IT__OBJECT_LIVE || h->state == IT__OBJECT_DEAD)
        it__fail(__FILE__, __LINE__, "%s: the pointer is a %s%s, not a %s", fn, h->state == IT__OBJECT_DEAD ? "destroyed " : "",
                 is, want);
    it__fail(__FILE__, __LINE__, "%s: the pointer is not a %s this library made", fn, want);
}
/* Frees an object that was never handed out (a create that failed half-way). NULL is fine. */
static void it__object_drop(it_context *ctx, void *object) {
    if (object) it__free(ctx, it__object_header_of(object));
}
/* The end of a destroy, after its contents are freed: the struct is marked dead and kept among
   the latest retired objects; the oldest of those is freed for good. */
static void it__object_retire(void *object) {
    it__object_header *h = it__object_header_of(object);
    it_context *ctx = h->ctx;
    unsigned slot = ctx->n_retired++ % IT__RETIRED;
    h->state = IT__OBJECT_DEAD;
    it__free(ctx, ctx->retired[slot]);
    ctx->retired[slot] = h;
}

/* Waits for the backend before the CPU reads shared blocks (a no-op on the CPU backend). */
static void it__sync(it_context *ctx) {
    if (ctx->backend->synchronize) ctx->backend->synchronize(ctx->backend);
    if (ctx->backend->host_access) ctx->backend->host_access(ctx->backend, NULL, 0);
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
static void it__comm_single_init(it_comm *c);             /* >>comm */
static it_result it__grad_sync_after(it_graph *g, int t); /* >>comm: the runner's hook */

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
    it__comm_single_init(&ctx->own_comm);
    ctx->comm = d.comm ? d.comm : &ctx->own_comm;
    ctx->gsync.bucket_floats = d.grad_bucket_floats ? d.grad_bucket_floats : (size_t)1 << 20;
    *out_ctx = ctx;
    return IT_OK;
}

IT_API it_backend *it_context_backend(it_context *ctx) { return ctx->backend; }
IT_API it_result it_context_synchronize(it_context *ctx) {
    it_result r = ctx->backend->synchronize ? ctx->backend->synchronize(ctx->backend) : IT_OK;
    if (ctx->backend->host_access) ctx->backend->host_access(ctx->backend, NULL, 0);
    return r;
}
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
    it_backend *be;
    if (!t) return NULL;
    base = it__block_base(it__root(t));
    if (!base) return NULL;
    be = t->ctx->backend;
    if (be && be->host_access) be->host_access(be, base + it__root(t)->offset, it_tensor_nbytes(it__root(t)));
    return base + it__root(t)->offset;
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
    IT__REQUIRE(ctx->param_numel <= (size_t)-1 / 64 - t->numel, __FILE__, __LINE__,
                "parameter '%s': the parameter block would exceed the address space", t->name);
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
    it_result build_error; /* an environment failure while defining (it_graph_backward's allocation), reported by it_graph_plan */
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
        IT__REQUIRE(t->numel <= (size_t)-1 / 16 / (size_t)dims[i], __FILE__, __LINE__,
                    "tensor '%s': its element count overflows at dim %d (%d): too large to address", t->name, i, dims[i]);
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
    g = (it_graph *)it__object_new(ctx, IT__OBJ_GRAPH, sizeof(it_graph));
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
    it__object_retire(g);
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
    it__object_check(g, IT__OBJ_GRAPH, "it_graph_destroy");
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
    it__free(ctx, ctx->gsync.buckets);
    it__free(ctx, ctx->gsync.order);
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
    for (i = 0; i < IT__RETIRED; i++) it__free(ctx, ctx->retired[i]);
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

IT_API it_tensor *it_lora_linear_at(const char *file, int line, it_graph *g, it_tensor *x, it_tensor *w, it_tensor *a,
                                    it_tensor *b, float scale, int w_in_out) {
    char sx[64], sw[64], sa[64], sb[64];
    int in, out_dim, r, dims[IT_MAX_DIMS], i;
    it_node *n;
    it__check_graph_tensor(file, line, "lora", g, x, "x");
    it__check_graph_tensor(file, line, "lora", g, w, "w");
    it__check_graph_tensor(file, line, "lora", g, a, "a");
    it__check_graph_tensor(file, line, "lora", g, b, "b");
    it__check_dtype(file, line, "lora", x, IT_F32, "x");
    IT__REQUIRE(w->ndim == 2 && a->ndim == 2 && b->ndim == 2, file, line, "lora: w %s, a %s, b %s must be matrices",
                IT__SHAPE(w, sw), IT__SHAPE(a, sa), IT__SHAPE(b, sb));
    in = x->dims[x->ndim - 1];
    out_dim = w_in_out ? w->dims[1] : w->dims[0];
    r = a->dims[0];
    IT__REQUIRE((w_in_out ? w->dims[0] : w->dims[1]) == in && a->dims[1] == in && b->dims[0] == out_dim && b->dims[1] == r,
                file, line, "lora: x %s, w %s%s, a %s, b %s: want w [out, in] (or [in, out]), a [r, in], b [out, r]",
                IT__SHAPE(x, sx), IT__SHAPE(w, sw), w_in_out ? " (in, out)" : "", IT__SHAPE(a, sa), IT__SHAPE(b, sb));
    IT__REQUIRE(isfinite(scale), file, line, "lora: scale %g is not finite", (double)scale);
    for (i = 0; i < x->ndim - 1; i++) dims[i] = x->dims[i];
    dims[x->ndim - 1] = out_dim;
    n = it__node_add(g, IT_OP_LORA, it__act(g, IT_KIND_ACTIVATION, x->ndim, dims), 3, x, w, a);
    n->in[3] = b; /* a fourth input: it__node_add takes three */
    n->n_in = 4;
    b->consumers++;
    if (b->requires_grad) n->out->requires_grad = 1;
    /* the base product is a matmul node's: iparam as it_matmul stores them (x @ op(w)) */
    n->iparam[0] = 0;
    n->iparam[1] = !w_in_out;
    n->iparam[2] = IT_OP_MATMUL; /* the base product's op (another weight format names its own) */
    n->fparam[0] = scale;
    dims[0] = (int)it__rows(x);
    dims[1] = r;
    n->saved[0] = it__act(g, IT_KIND_SAVED, 2, dims);     /* scale x A^T, read by the backward for dB */
    n->bwd_scratch = it__act(g, IT_KIND_SCRATCH, 2, dims); /* dout B */
    return n->out;
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
    if (r != IT_OK) { /* the environment, not the caller: it_graph_plan reports it as a result */
        g->build_error = r;
        return;
    }
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
   (a root tensor: not a view, not an input or parameter) lives from its first to its last step,
   and a second time when a checkpoint segment recomputes it. The packing (it__pack_lifetimes,
   below) gives each buffer an offset that no buffer alive at the same step shares. */
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
/* The packing. Buffers are placed largest first, each at the lowest offset clear of every placed
   buffer alive at one of its steps: "greedy by size" (Pisarchyk and Lee, "Efficient Memory
   Management for Deep Neural Net Inference", 2020; TFLite's GPU delegate), which reaches the
   lower bound (the most bytes alive at one step) on every preset's training graph. Comparing each
   buffer with every placed one is quadratic (a 4000-layer model planned for minutes), so the
   placed buffers are indexed over time by a segment tree: a query or an insertion visits
   O(log steps) tree nodes, and each node holds the placed bytes as a few merged spans, searched by
   bisection. Same offsets as the quadratic search, in O(n log n) steps for layered models. */
typedef struct it__span { size_t lo, hi; } it__span; /* bytes [lo, hi) */
/* Sorted, disjoint spans; spans that touch are merged, so neighbouring buffers make one span. */
typedef struct it__span_set { it__span *v; int n, cap; } it__span_set;
/* One buffer to place: its size and its steps, [first, last] and [first2, last2] when first2 >= 0
   (a buffer recomputed inside a checkpoint segment keeps its offset between its two lives). */
typedef struct it__lifetime { size_t size; int first, last, first2, last2; } it__lifetime;
/* At most this many tree nodes answer a query: per interval, two per tree level (those inside it)
   and two on its way down (those it only touches), over at most 32 levels. */
#define IT__PACK_MAX_SETS (2 * 4 * 33)
typedef struct it__packer {
    it_context *ctx;
    int n_steps;
    /* per tree node (node 1 holds every step; node v's children 2v and 2v + 1 halve its steps): */
    it__span_set *alive_all; /* bytes of the placed buffers alive at every step of the node */
    it__span_set *alive_any; /* bytes of the placed buffers alive at some step of the node */
    it__span **chunks;       /* span storage: sets are many and small, so they share large blocks */
    int n_chunks, cap_chunks;
    it__span *spare;         /* the unused end of the last chunk */
    size_t n_spare;
    size_t work;             /* inner steps: tree nodes visited, spans probed, merged or moved */
    int out_of_memory;
} it__packer;
/* Room for one more span in s: a set that is full moves to a slice twice its size (the old slice
   is left behind in its chunk; slices double, so at most half of the storage is left behind). */
static int it__span_set_reserve(it__packer *p, it__span_set *s) {
    int cap = s->cap ? 2 * s->cap : 2;
    if (s->n < s->cap) return 1;
    if (p->n_spare < (size_t)cap) {
        size_t n = IT__MAX((size_t)4096, (size_t)cap);
        it__span *chunk = (it__span *)it__alloc_array(p->ctx, n, sizeof(it__span));
        if (!chunk || it__grow_array(p->ctx, (void **)&p->chunks, &p->cap_chunks, p->n_chunks + 1, sizeof(it__span *)) != IT_OK) {
            it__free(p->ctx, chunk);
            p->out_of_memory = 1;
            return 0;
        }
        p->chunks[p->n_chunks++] = chunk;
        p->spare = chunk;
        p->n_spare = n;
    }
    if (s->n) memcpy(p->spare, s->v, sizeof(it__span) * (size_t)s->n);
    s->v = p->spare;
    s->cap = cap;
    p->spare += cap;
    p->n_spare -= (size_t)cap;
    p->work += (size_t)s->n;
    return 1;
}
/* The first span of s that ends after byte x (s->n if none), by bisection. */
static int it__span_after(it__packer *p, const it__span_set *s, size_t x) {
    int lo = 0, hi = s->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        p->work++;
        if (s->v[mid].hi > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}
/* Adds [lo, hi) to s, merging it with every span it overlaps or touches. */
static void it__span_set_add(it__packer *p, it__span_set *s, size_t lo, size_t hi) {
    int i = lo ? it__span_after(p, s, lo - 1) : 0, j = i; /* i: the first span with hi >= lo */
    while (j < s->n && s->v[j].lo <= hi) {
        lo = IT__MIN(lo, s->v[j].lo);
        hi = IT__MAX(hi, s->v[j].hi);
        j++;
    }
    if (j == i) { /* nothing to merge with: a new span at i */
        if (!it__span_set_reserve(p, s)) return;
        memmove(s->v + i + 1, s->v + i, sizeof(it__span) * (size_t)(s->n - i));
        s->n++;
    } else { /* spans i .. j-1 become one */
        memmove(s->v + i + 1, s->v + j, sizeof(it__span) * (size_t)(s->n - j));
        s->n -= j - i - 1;
    }
    p->work += (size_t)(j - i) + (size_t)(s->n - i);
    s->v[i].lo = lo;
    s->v[i].hi = hi;
}
/* Records bytes [lo, hi) as taken at steps [a, b]; node v holds steps [l, r). */
static void it__packer_insert(it__packer *p, int v, int l, int r, int a, int b, size_t lo, size_t hi) {
    if (b < l || a >= r) return;
    p->work++;
    it__span_set_add(p, &p->alive_any[v], lo, hi);
    if (a <= l && r - 1 <= b) {
        it__span_set_add(p, &p->alive_all[v], lo, hi);
        return;
    }
    it__packer_insert(p, 2 * v, l, l + (r - l) / 2, a, b, lo, hi);
    it__packer_insert(p, 2 * v + 1, l + (r - l) / 2, r, a, b, lo, hi);
}
/* The sets whose union is every byte taken at some step of [a, b]: a node inside [a, b] gives what
   is alive at any of its steps, a node [a, b] only overlaps gives what is alive at all of its steps
   (what lives at only some of them is found further down). */
static void it__packer_gather(it__packer *p, int v, int l, int r, int a, int b, it__span_set **sets, int *n) {
    if (b < l || a >= r) return;
    p->work++;
    if (a <= l && r - 1 <= b) {
        if (p->alive_any[v].n) sets[(*n)++] = &p->alive_any[v];
        return;
    }
    if (p->alive_all[v].n) sets[(*n)++] = &p->alive_all[v];
    it__packer_gather(p, 2 * v, l, l + (r - l) / 2, a, b, sets, n);
    it__packer_gather(p, 2 * v + 1, l + (r - l) / 2, r, a, b, sets, n);
}
/* The lowest offset where t's bytes are free at all of its steps; records them as taken. */
static size_t it__packer_place(it__packer *p, const it__lifetime *t) {
    it__span_set *sets[IT__PACK_MAX_SETS];
    int n_sets = 0, k, moved = 1;
    size_t at = 0;
    it__packer_gather(p, 1, 0, p->n_steps, t->first, t->last, sets, &n_sets);
    if (t->first2 >= 0) it__packer_gather(p, 1, 0, p->n_steps, t->first2, t->last2, sets, &n_sets);
    while (moved) { /* move past each span in the way until none is */
        moved = 0;
        for (k = 0; k < n_sets; k++) {
            int i = it__span_after(p, sets[k], at);
            if (i < sets[k]->n && sets[k]->v[i].lo < at + t->size) {
                at = sets[k]->v[i].hi;
                moved = 1;
            }
        }
    }
    if (t->size) {
        it__packer_insert(p, 1, 0, p->n_steps, t->first, t->last, at, at + t->size);
        if (t->first2 >= 0) it__packer_insert(p, 1, 0, p->n_steps, t->first2, t->last2, at, at + t->size);
    }
    return at;
}
/* Offsets for n buffers living within steps [0, n_steps), placed in the order given (largest first
   packs best); returns the arena size, or (size_t)-1 when out of memory. The sizes' sum must fit a
   size_t. *work (may be NULL) gets the count of inner steps, which tests hold to O(n log n). */
static size_t it__pack_lifetimes(it_context *ctx, const it__lifetime *items, int n, int n_steps, size_t *offsets,
                                 size_t *work) {
    it__packer p;
    size_t total = 0, nodes = 4 * (size_t)IT__MAX(n_steps, 1);
    int i;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.n_steps = IT__MAX(n_steps, 1);
    p.alive_all = (it__span_set *)it__alloc_array(ctx, nodes, sizeof(it__span_set));
    p.alive_any = (it__span_set *)it__alloc_array(ctx, nodes, sizeof(it__span_set));
    p.out_of_memory = !p.alive_all || !p.alive_any;
    if (!p.out_of_memory) {
        memset(p.alive_all, 0, nodes * sizeof(it__span_set));
        memset(p.alive_any, 0, nodes * sizeof(it__span_set));
    }
    for (i = 0; i < n && !p.out_of_memory; i++) {
        offsets[i] = it__packer_place(&p, &items[i]);
        total = IT__MAX(total, offsets[i] + items[i].size);
    }
    for (i = 0; i < p.n_chunks; i++) it__free(ctx, p.chunks[i]);
    it__free(ctx, p.chunks);
    it__free(ctx, p.alive_all);
    it__free(ctx, p.alive_any);
    if (work) *work = p.work;
    return p.out_of_memory ? (size_t)-1 : total;
}
/* Gives each of the n arena buffers its offset (largest first, or one after another with
   no_reuse); returns the arena size, or (size_t)-1 when out of memory. */
static size_t it__pack(it_graph *g, it_tensor **bufs, int n, int n_steps, int no_reuse, size_t *work) {
    it__lifetime *items = (it__lifetime *)it__alloc_array(g->ctx, (size_t)n, sizeof(it__lifetime));
    size_t *offsets = (size_t *)it__alloc_array(g->ctx, (size_t)n, sizeof(size_t));
    it_tensor **tmp = (it_tensor **)it__alloc_array(g->ctx, (size_t)n, sizeof(it_tensor *));
    size_t total = (size_t)-1;
    int i;
    *work = 0;
    if (items && offsets && tmp) {
        it__sort_by_size(bufs, tmp, n);
        for (i = 0; i < n; i++) {
            it_tensor *t = bufs[i];
            items[i].size = IT__ALIGN_UP(it_tensor_nbytes(t), (size_t)IT__ALIGN);
            items[i].first = t->first_step, items[i].last = t->last_step;
            items[i].first2 = t->first2, items[i].last2 = t->last2;
        }
        if (no_reuse)
            for (total = 0, i = 0; i < n; i++) offsets[i] = total, total += items[i].size;
        else
            total = it__pack_lifetimes(g->ctx, items, n, n_steps, offsets, work);
        if (total != (size_t)-1)
            for (i = 0; i < n; i++) bufs[i]->offset = offsets[i];
    }
    it__free(g->ctx, items);
    it__free(g->ctx, offsets);
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
    size_t input_bytes = 0, unplanned = 0, arena_bytes, pack_steps;
    it_result r;
    if (g->planned) return it_context_error(ctx, IT_ERR_STATE, "it_graph_plan: the graph is already planned");
    if (g->build_error != IT_OK)
        return it_context_error(ctx, g->build_error, "it_graph_plan: it_graph_backward could not allocate the parameter "
                                "block: %s", it_context_last_error(ctx));
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
        size_t size = IT__ALIGN_UP(it_tensor_nbytes(t), (size_t)IT__ALIGN);
        if (t->view_of) continue;
        if (size > (size_t)-1 / 2 - IT__MAX(input_bytes, unplanned)) { /* the sums below stay exact */
            it__free(ctx, bufs);
            return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_graph_plan: the graph's buffers exceed the address space");
        }
        if (t->block == IT_BLOCK_INPUTS) {
            t->offset = input_bytes;
            input_bytes += size;
        } else if (t->block == IT_BLOCK_ARENA && t->first_step >= 0) {
            bufs[n_bufs++] = t;
            unplanned += size;
        }
    }
    arena_bytes = it__pack(g, bufs, n_bufs, last_step + 1, no_reuse, &pack_steps);
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
    g->stats.pack_steps = pack_steps;
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
        if (r == IT_OK && g->ctx->gsync.armed == g) r = it__grad_sync_after(g, i);
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
            if (r == IT_OK && g->ctx->gsync.armed == g) r = it__grad_sync_after(g, g->n_nodes + p);
        }
    }
    if (g->ctx->gsync.armed == g) g->ctx->gsync.armed = NULL; /* it_grad_sync_wait starts what is left */
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

/* LoRA: plain loops, the specification of the CPU backend's fused kernel (it__cpu_lora_*). */
IT_API void it_cpu_lora_forward(float *out, float *xa, const float *x, const float *w, const float *a, const float *b,
                                int N, int in, int out_dim, int r, float scale, int w_in_out) {
    int n, o, k, i;
    for (n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * in;
        float *un = xa + (size_t)n * r;
        for (k = 0; k < r; k++) {
            float s = 0.0f;
            for (i = 0; i < in; i++) s += xn[i] * a[(size_t)k * in + i];
            un[k] = scale * s;
        }
        for (o = 0; o < out_dim; o++) {
            float s = 0.0f;
            for (i = 0; i < in; i++) s += xn[i] * (w_in_out ? w[(size_t)i * out_dim + o] : w[(size_t)o * in + i]);
            for (k = 0; k < r; k++) s += un[k] * b[(size_t)o * r + k];
            out[(size_t)n * out_dim + o] = s;
        }
    }
}
IT_API void it_cpu_lora_backward(float *dx, float *da, float *db, const float *dout, const float *x, const float *w,
                                 const float *a, const float *b, const float *xa, int N, int in, int out_dim, int r,
                                 float scale, int w_in_out) {
    int n, o, k, i;
    for (n = 0; n < N; n++) {
        const float *dn = dout + (size_t)n * out_dim, *xn = x + (size_t)n * in;
        for (k = 0; k < r; k++) {
            float du = 0.0f; /* d(loss) / d(x a^T)[n, k] = scale (dout b)[n, k] */
            for (o = 0; o < out_dim; o++) du += dn[o] * b[(size_t)o * r + k];
            du *= scale;
            if (db)
                for (o = 0; o < out_dim; o++) db[(size_t)o * r + k] += dn[o] * xa[(size_t)n * r + k];
            if (da)
                for (i = 0; i < in; i++) da[(size_t)k * in + i] += du * xn[i];
            if (dx)
                for (i = 0; i < in; i++) dx[(size_t)n * in + i] += du * a[(size_t)k * in + i];
        }
        if (dx)
            for (i = 0; i < in; i++) {
                float s = 0.0f;
                for (o = 0; o < out_dim; o++) s += dn[o] * (w_in_out ? w[(size_t)i * out_dim + o] : w[(size_t)o * in + i]);
                dx[(size_t)n * in + i] += s;
            }
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
    return it_cpu_sample_min_p(logits, V, temperature, top_k, top_p, 0.0f, coin, probs, index);
}
IT_API void it_cpu_repetition_penalty(float *logits, int V, const int32_t *ids, size_t n, float penalty, unsigned char *seen) {
    size_t i;
    IT__REQUIRE(penalty > 0.0f, __FILE__, __LINE__, "it_cpu_repetition_penalty: penalty %g must be > 0", (double)penalty);
    for (i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= V || seen[id]) continue;
        seen[id] = 1;
        logits[id] = logits[id] > 0.0f ? logits[id] / penalty : logits[id] * penalty;
    }
    for (i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < V) seen[ids[i]] = 0;
}
IT_API int it_cpu_sample_min_p(const float *logits, int V, float temperature, int top_k, float top_p, float min_p,
                               float coin, float *probs, int *index) {
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
    if (min_p > 0.0f) { /* the most likely token always stays */
        float floor = min_p * probs[index[0]];
        for (i = 1; i < keep && probs[index[i]] >= floor; i++) continue;
        keep = i;
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
   per-worker buffers (micro-panels NR columns / MR rows wide, zero padded), then a register-tiled
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
/* c[0..3] (+)= the sums of s0..s3: one shuffle tree for the four (a horizontal sum each would cost
   four times as much and dominate the 4 x 4 kernel below). */
__attribute__((target("avx512f"))) static void it__sgemm_store4_avx512(float *c, __m512 s0, __m512 s1, __m512 s2, __m512 s3,
                                                                       int accumulate) {
    __m512 t01 = _mm512_add_ps(_mm512_unpacklo_ps(s0, s1), _mm512_unpackhi_ps(s0, s1)); /* per lane: s0 s1 s0 s1 */
    __m512 t23 = _mm512_add_ps(_mm512_unpacklo_ps(s2, s3), _mm512_unpackhi_ps(s2, s3));
    __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t01, t23, 0x44), _mm512_shuffle_ps(t01, t23, 0xEE)); /* s0 s1 s2 s3 */
    __m128 r;
    u = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, 0x4E)); /* the four 128-bit lanes summed */
    u = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, 0xB1));
    r = _mm512_castps512_ps128(u);
    if (accumulate) r = _mm_add_ps(r, _mm_loadu_ps(c));
    _mm_storeu_ps(c, r);
}
/* c[i ldc + j] (+)= a[i K ..] . b[j K ..] for 4 rows of a and 4 rows of b, K a multiple of 16: 16
   accumulators, each chunk of a row of b loaded once for 4 rows of a (the few-rows path with
   several rows: one token of each of several sequences against a weight matrix). */
__attribute__((target("avx512f"))) static void it__sgemm_dots4x4_avx512(float *c, size_t ldc, const float *a,
                                                                        const float *b, int K, int accumulate) {
#define IT__D4_ROWS(X, i) X(i, 0) X(i, 1) X(i, 2) X(i, 3)
#define IT__D4_ALL(X) IT__D4_ROWS(X, 0) IT__D4_ROWS(X, 1) IT__D4_ROWS(X, 2) IT__D4_ROWS(X, 3)
#define IT__D4_DECL(i, j) __m512 s##i##j = _mm512_setzero_ps();
#define IT__D4_FMA(i, j) s##i##j = _mm512_fmadd_ps(a##i, b##j, s##i##j);
#define IT__D4_STORE(i) it__sgemm_store4_avx512(c + (size_t)(i) * ldc, s##i##0, s##i##1, s##i##2, s##i##3, accumulate);
    int k;
    IT__D4_ALL(IT__D4_DECL)
    for (k = 0; k < K; k += 16) {
        __m512 a0 = _mm512_loadu_ps(a + k), a1 = _mm512_loadu_ps(a + K + k), a2 = _mm512_loadu_ps(a + 2 * (size_t)K + k),
               a3 = _mm512_loadu_ps(a + 3 * (size_t)K + k);
        __m512 b0 = _mm512_loadu_ps(b + k), b1 = _mm512_loadu_ps(b + K + k), b2 = _mm512_loadu_ps(b + 2 * (size_t)K + k),
               b3 = _mm512_loadu_ps(b + 3 * (size_t)K + k);
        IT__D4_ALL(IT__D4_FMA)
    }
    IT__D4_STORE(0) IT__D4_STORE(1) IT__D4_STORE(2) IT__D4_STORE(3)
#undef IT__D4_ROWS
#undef IT__D4_ALL
#undef IT__D4_DECL
#undef IT__D4_FMA
#undef IT__D4_STORE
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

/* A few rows against a transposed b (decode: one token, or one token of each of a few sequences,
   times a weight matrix [N, K]): packing b would cost more than the product itself, so each value
   is a dot product of two contiguous rows. b goes by in blocks of rows small enough to stay in
   cache while every row of a passes over them, so b is read from memory once for all M rows. */
#define IT__SGEMM_SMALL_M 24
static void it__sgemm_small_tb(const it__sgemm_isa *g, float *c, const float *a, const float *b, int M, int N, int K,
                               int n0, int n1, int accumulate) {
    int i, j0, block = M == 1 ? n1 - n0 : IT__MAX(16, (int)(32768 / ((size_t)K * sizeof(float)))); /* ~32 KB of b */
    for (j0 = n0; j0 < n1; j0 += block) {
        int n = IT__MIN(block, n1 - j0);
        i = 0;
#ifdef IT__SGEMM_X86
        if (g->dots == it__sgemm_dots_avx512 && !(K & 15)) /* quads of rows against quads of b's rows */
            for (; i + 4 <= M; i += 4) {
                int j = 0;
                for (; j + 4 <= n; j += 4)
                    it__sgemm_dots4x4_avx512(c + (size_t)i * N + j0 + j, (size_t)N, a + (size_t)i * K, b + (size_t)(j0 + j) * K, K,
                                             accumulate);
                if (j < n) {
                    int r;
                    for (r = 0; r < 4; r++)
                        g->dots(c + (size_t)(i + r) * N + j0 + j, a + (size_t)(i + r) * K, b + (size_t)(j0 + j) * K, K, n - j, accumulate);
                }
            }
#endif
        for (; i < M; i++) g->dots(c + (size_t)i * N + j0, a + (size_t)i * K, b + (size_t)j0 * K, K, n, accumulate);
    }
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

/* --- lora: the base product through the op table, then the branch added into the same output --- */
/* The base product as the node of its own op: the LoRA node's x, w and iparam are laid out as that
   op's (in[0], in[1], the transposes), so a copy with the op replaced is that node. */
static it_node it__lora_base_node(const it_node *n) {
    it_node base = *n;
    base.op = (it_op)n->iparam[2];
    base.n_in = 2;
    base.in[2] = base.in[3] = NULL;
    base.saved[0] = base.saved[1] = base.scratch = base.bwd_scratch = NULL;
    return base;
}
static int it__lora_rows(const it_node *n) { return (int)it__rows(n->in[0]); }
static it_result it__cpu_lora_fwd(it_backend *be, it_graph *g, const it_node *n) {
    it_node base = it__lora_base_node(n);
    int N = it__lora_rows(n), in = it__last(n->in[0]), out_dim = it__last(n->out), r = n->in[2]->dims[0];
    float *u = it_data(n->saved[0]);
    it_result res;
    if (!be->forward[base.op] || !be->backward[base.op])
        return it_context_error(g->ctx, IT_ERR_UNSUPPORTED, "lora: backend %s has no %s kernel for the base product", be->name,
                                it_op_name(base.op));
    if ((res = be->forward[base.op](be, g, &base)) != IT_OK) return res; /* y = x W^T */
    it__gemm(g->ctx, u, IT__IN(n, 0), IT__IN(n, 2), N, r, in, 0, 1, 0); /* u = x A^T [N, r] */
    it_cpu_scale_forward(u, u, n->fparam[0], (size_t)N * r);              /* u = scale x A^T */
    it__gemm(g->ctx, it_data(n->out), u, IT__IN(n, 3), N, out_dim, r, 0, 1, 1); /* y += u B^T */
    return IT_OK;
}
static it_result it__cpu_lora_bwd(it_backend *be, it_graph *g, const it_node *n) {
    it_node base = it__lora_base_node(n);
    int N = it__lora_rows(n), in = it__last(n->in[0]), out_dim = it__last(n->out), r = n->in[2]->dims[0];
    const float *dy = it_grad(n->out), *u = it_data(n->saved[0]);
    float *du = it_data(n->bwd_scratch), *dx = IT__DIN(n, 0), *da = IT__DIN(n, 2), *db = IT__DIN(n, 3);
    it_result res = be->backward[base.op](be, g, &base); /* dx += dy W (and dW when W trains) */
    if (res != IT_OK) return res;
    if (db) it__gemm(g->ctx, db, dy, u, out_dim, r, N, 1, 0, 1); /* dB += dy^T u */
    if (!da && !dx) return IT_OK;
    it__gemm(g->ctx, du, dy, IT__IN(n, 3), N, r, out_dim, 0, 0, 0); /* du = dy B [N, r] */
    it_cpu_scale_forward(du, du, n->fparam[0], (size_t)N * r);
    if (da) it__gemm(g->ctx, da, du, IT__IN(n, 0), r, in, N, 1, 0, 1); /* dA += du^T x */
    if (dx) it__gemm(g->ctx, dx, du, IT__IN(n, 2), N, in, r, 0, 0, 1); /* dx += du A */
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
    it_backend_set_op(be, IT_OP_LORA, it__cpu_lora_fwd, it__cpu_lora_bwd);
}

/* >>quant ---------------------------------------------------------------------------------------
   Weight blocks (their layouts are at the >>quant declarations) and their products with
   activations. The quantised products follow ggml's scheme: each row of activations is quantised
   once, per block of 32, to int8 with a scale (ggml keeps it in fp16; f32 costs nothing here and
   loses less), and every block's integer dot product is then scaled by the two scales:
       Q8_0:  y = sum_b dw_b dx_b sum_j qw_bj qx_bj
       Q4_0:  y = sum_b dw_b dx_b (sum_j nib_bj qx_bj - 8 sum_j qx_bj)   (nib = the stored nibble)
   so each weight byte is read once and there is no float work inside a block. The x86 byte
   products multiply unsigned by signed bytes (vpdpbusd, vpmaddubsw): Q4_0's nibbles are unsigned
   already and the -8 is applied through the activation block's sum; Q8_0 multiplies |w| by x with
   w's sign moved onto it (sign(x, w)), as ggml's AVX2 code does. Activations are rounded to the
   nearest int8, ties to even; |qx| <= 127, so no 16-bit pair sum of vpmaddubsw can saturate
   (2 * 128 * 127 < 32768). */
static const struct {
    const char *name;
    int block;
    size_t bytes;
} it__weight_types[IT_WEIGHT_COUNT] = {
    {"invalid", 0, 0},
#define IT__WEIGHT_ROW(id, name, block, bytes) {name, block, bytes},
    IT_WEIGHT_TYPE_LIST(IT__WEIGHT_ROW)
#undef IT__WEIGHT_ROW
};
static int it__weight_type_ok(it_weight_type t) { return t > IT_WEIGHT_INVALID && t < IT_WEIGHT_COUNT; }
IT_API const char *it_weight_type_name(it_weight_type t) { return it__weight_types[it__weight_type_ok(t) ? t : 0].name; }
IT_API it_weight_type it_weight_type_from_name(const char *name) {
    int t;
    for (t = 1; name && t < IT_WEIGHT_COUNT; t++)
        if (strcmp(name, it__weight_types[t].name) == 0) return (it_weight_type)t;
    return IT_WEIGHT_INVALID;
}
IT_API int it_weight_type_block(it_weight_type t) { return it__weight_types[it__weight_type_ok(t) ? t : 0].block; }
IT_API size_t it_weight_type_block_bytes(it_weight_type t) { return it__weight_types[it__weight_type_ok(t) ? t : 0].bytes; }
IT_API size_t it_weight_bytes(it_weight_type t, size_t rows, size_t cols) {
    size_t block, bytes, row_bytes;
    if (!it__weight_type_ok(t)) return 0;
    block = (size_t)it__weight_types[t].block;
    bytes = it__weight_types[t].bytes;
    if (cols % block || cols / block > SIZE_MAX / bytes) return 0;
    row_bytes = cols / block * bytes;
    if (row_bytes && rows > SIZE_MAX / row_bytes) return 0;
    return rows * row_bytes;
}

IT_API uint16_t it_f32_to_f16(float f) {
    uint32_t u, sign, a;
    memcpy(&u, &f, 4);
    sign = (u >> 16) & 0x8000u;
    a = u & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) return (uint16_t)(sign | 0x7C00u | (a > 0x7F800000u ? 0x200u : 0u)); /* inf, quiet NaN */
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* 65520 and up round past 65504: inf */
    if (a < 0x38800000u) { /* below 2^-14: a multiple of 2^-24 (subnormal), exact scaling then rounding */
        float v;
        memcpy(&v, &a, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(v * 16777216.0f)); /* 1024 is the smallest normal's code */
    }
    a += 0xFFFu + ((a >> 13) & 1u); /* round the 13 dropped bits to nearest, ties to even */
    return (uint16_t)(sign | ((a - 0x38000000u) >> 13)); /* exponent bias 127 -> 15 */
}
IT_API float it_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, u;
    float f;
    if (e == 0) {
        f = (float)m * 5.9604644775390625e-8f; /* 2^-24 */
        return sign ? -f : f;
    }
    u = sign | (e == 31 ? 0x7F800000u : (e + 112u) << 23) | (m << 13);
    memcpy(&f, &u, 4);
    return f;
}

/* ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref, block by block (same arithmetic, so the
   same bytes for the same floats). */
static void it__quantize_q8_0(it_block_q8_0 *y, const float *x, size_t n_blocks) {
    size_t b;
    int j;
    for (b = 0; b < n_blocks; b++, x += IT_QBLOCK) {
        float amax = 0.0f, d, id;
        for (j = 0; j < IT_QBLOCK; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        d = amax / 127.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = it_f32_to_f16(d);
        for (j = 0; j < IT_QBLOCK; j++) y[b].qs[j] = (int8_t)roundf(x[j] * id);
    }
}
static void it__quantize_q4_0(it_block_q4_0 *y, const float *x, size_t n_blocks) {
    size_t b;
    int j;
    for (b = 0; b < n_blocks; b++, x += IT_QBLOCK) {
        float amax = 0.0f, max = 0.0f, d, id;
        for (j = 0; j < IT_QBLOCK; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        d = max / -8.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = it_f32_to_f16(d);
        for (j = 0; j < IT_QBLOCK / 2; j++) {
            int lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + IT_QBLOCK / 2] * id + 8.5f);
            y[b].qs[j] = (uint8_t)(IT__MIN(15, lo) | IT__MIN(15, hi) << 4);
        }
    }
}
IT_API it_result it_weights_quantize(it_weight_type t, void *out, const float *in, size_t n) {
    size_t i, block = (size_t)it_weight_type_block(t);
    IT_ASSERT(block && n % block == 0);
    for (i = 0; i < n; i++) /* the block formulas are defined for finite values only */
        if (!(fabsf(in[i]) <= FLT_MAX)) return IT_ERR_RANGE;
    switch (t) {
    case IT_WEIGHT_F32: memcpy(out, in, n * sizeof(float)); break;
    case IT_WEIGHT_BF16: it_f32_to_bf16_array((uint16_t *)out, in, n); break;
    case IT_WEIGHT_Q8_0: it__quantize_q8_0((it_block_q8_0 *)out, in, n / IT_QBLOCK); break;
    default: it__quantize_q4_0((it_block_q4_0 *)out, in, n / IT_QBLOCK); break;
    }
    return IT_OK;
}
IT_API void it_weights_dequantize(it_weight_type t, float *out, const void *in, size_t n) {
    size_t b, block = (size_t)it_weight_type_block(t);
    int j;
    IT_ASSERT(block && n % block == 0);
    if (t == IT_WEIGHT_F32) memcpy(out, in, n * sizeof(float));
    else if (t == IT_WEIGHT_BF16) it_bf16_to_f32_array(out, (const uint16_t *)in, n);
    else if (t == IT_WEIGHT_Q8_0) {
        const it_block_q8_0 *x = (const it_block_q8_0 *)in;
        for (b = 0; b < n / IT_QBLOCK; b++, out += IT_QBLOCK) {
            float d = it_f16_to_f32(x[b].d);
            for (j = 0; j < IT_QBLOCK; j++) out[j] = d * x[b].qs[j];
        }
    } else {
        const it_block_q4_0 *x = (const it_block_q4_0 *)in;
        for (b = 0; b < n / IT_QBLOCK; b++, out += IT_QBLOCK) {
            float d = it_f16_to_f32(x[b].d);
            for (j = 0; j < IT_QBLOCK / 2; j++) {
                out[j] = d * ((x[b].qs[j] & 15) - 8);
                out[j + IT_QBLOCK / 2] = d * ((x[b].qs[j] >> 4) - 8);
            }
        }
    }
}

/* One block of quantised activations: x_j ~ d qs[j]; dsum = d * sum_j qs[j] (Q4_0's -8 term). */
typedef struct it__qact {
    int8_t qs[IT_QBLOCK];
    float d, dsum;
} it__qact;
/* 2^23 + 2^22: adding and subtracting it rounds a float of magnitude < 2^22 to an integer, ties to
   even, in the default rounding mode (no libm call per activation) */
#define IT__ROUND_MAGIC 12582912.0f
static void it__quantize_acts(it__qact *y, const float *x, int n_blocks) {
    int b, j;
    for (b = 0; b < n_blocks; b++, x += IT_QBLOCK) {
        float amax = 0.0f, id;
        int sum = 0;
        for (j = 0; j < IT_QBLOCK; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        y[b].d = amax / 127.0f;
        id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (j = 0; j < IT_QBLOCK; j++) {
            int q = (int)(x[j] * id + IT__ROUND_MAGIC - IT__ROUND_MAGIC); /* IEEE order: never folded */
            q = q > 127 ? 127 : q < -127 ? -127 : q; /* |x id| <= 127 up to rounding of id */
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
        y[b].dsum = y[b].d * (float)sum;
    }
}

/* ---- dot products of one weight row with one row of activations ----------------------------- */
static float it__qdot_q8_0_generic(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q8_0 *w = (const it_block_q8_0 *)wv;
    float s = 0.0f;
    int b, j;
    for (b = 0; b < n_blocks; b++) {
        int32_t acc = 0;
        for (j = 0; j < IT_QBLOCK; j++) acc += w[b].qs[j] * x[b].qs[j];
        s += it_f16_to_f32(w[b].d) * x[b].d * (float)acc;
    }
    return s;
}
static float it__qdot_q4_0_generic(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q4_0 *w = (const it_block_q4_0 *)wv;
    float s = 0.0f;
    int b, j;
    for (b = 0; b < n_blocks; b++) {
        int32_t acc = 0;
        for (j = 0; j < IT_QBLOCK / 2; j++)
            acc += ((w[b].qs[j] & 15) - 8) * x[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + IT_QBLOCK / 2];
        s += it_f16_to_f32(w[b].d) * x[b].d * (float)acc;
    }
    return s;
}
static float it__dot_bf16_generic(const uint16_t *w, const float *x, int n) {
    float s = 0.0f;
    int i;
    for (i = 0; i < n; i++) s += it_bf16_to_f32(w[i]) * x[i];
    return s;
}

#ifdef IT__SGEMM_X86
#define IT__HSUM256(v, out)                                                                   \
    {                                                                                         \
        __m128 h_ = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));      \
        h_ = _mm_add_ps(h_, _mm_movehl_ps(h_, h_));                                           \
        out = _mm_cvtss_f32(_mm_add_ss(h_, _mm_movehdup_ps(h_)));                             \
    }
/* A Q4_0 block's 16 bytes -> its 32 nibbles in weight order (low nibbles, then high) as bytes. */
#define IT__Q4_NIBBLES(qs) \
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)(qs)), 4), \
                                      _mm_loadu_si128((const __m128i *)(qs))), _mm256_set1_epi8(15))
/* Two blocks per iteration into two accumulators (the FMA's latency is longer than a block's
   loads and byte products). PRODUCT(b) is block b's 8 int32 partial sums; Q4_0 also sums
   dw_b * dsum_b for its -8 (OFFSET 1). */
#define IT__QDOT_BODY(PRODUCT, OFFSET)                                                                   \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;                                                      \
    float s, off = 0.0f;                                                                                 \
    int b;                                                                                               \
    for (b = 0; b + 1 < n_blocks; b += 2) {                                                              \
        float d0 = _cvtsh_ss(w[b].d), d1 = _cvtsh_ss(w[b + 1].d);                                        \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * x[b].d), _mm256_cvtepi32_ps(PRODUCT(b)), acc0);        \
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * x[b + 1].d), _mm256_cvtepi32_ps(PRODUCT(b + 1)), acc1); \
        if (OFFSET) off += d0 * x[b].dsum + d1 * x[b + 1].dsum;                                          \
    }                                                                                                    \
    if (b < n_blocks) {                                                                                  \
        float d0 = _cvtsh_ss(w[b].d);                                                                    \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * x[b].d), _mm256_cvtepi32_ps(PRODUCT(b)), acc0);        \
        if (OFFSET) off += d0 * x[b].dsum;                                                               \
    }                                                                                                    \
    acc0 = _mm256_add_ps(acc0, acc1);                                                                    \
    IT__HSUM256(acc0, s)                                                                                 \
    return s - 8.0f * off;
#define IT__XQ(b) _mm256_loadu_si256((const __m256i *)x[b].qs)
#define IT__WQ8(b) _mm256_loadu_si256((const __m256i *)w[b].qs)
#define IT__Q8_AVX2(b) \
    _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(IT__WQ8(b), IT__WQ8(b)), _mm256_sign_epi8(IT__XQ(b), IT__WQ8(b))), ones)
#define IT__Q4_AVX2(b) _mm256_madd_epi16(_mm256_maddubs_epi16(IT__Q4_NIBBLES(w[b].qs), IT__XQ(b)), ones)
#define IT__Q8_VNNI(b) \
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(IT__WQ8(b), IT__WQ8(b)), _mm256_sign_epi8(IT__XQ(b), IT__WQ8(b)))
#define IT__Q4_VNNI(b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), IT__Q4_NIBBLES(w[b].qs), IT__XQ(b))
#define IT__AVX2 __attribute__((target("avx2,fma,f16c")))
#define IT__VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
IT__AVX2 static float it__qdot_q8_0_avx2(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q8_0 *w = (const it_block_q8_0 *)wv;
    const __m256i ones = _mm256_set1_epi16(1);
    IT__QDOT_BODY(IT__Q8_AVX2, 0)
}
IT__AVX2 static float it__qdot_q4_0_avx2(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q4_0 *w = (const it_block_q4_0 *)wv;
    const __m256i ones = _mm256_set1_epi16(1);
    IT__QDOT_BODY(IT__Q4_AVX2, 1)
}
IT__VNNI static float it__qdot_q8_0_vnni(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q8_0 *w = (const it_block_q8_0 *)wv;
    IT__QDOT_BODY(IT__Q8_VNNI, 0)
}
IT__VNNI static float it__qdot_q4_0_vnni(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q4_0 *w = (const it_block_q4_0 *)wv;
    IT__QDOT_BODY(IT__Q4_VNNI, 1)
}
/* it__quantize_acts in 8 lanes: the same products x * id, rounded by cvtps (nearest, ties to even,
   the default MXCSR mode), so the same bytes as the portable loop */
IT__AVX2 static void it__quantize_acts_avx2(it__qact *y, const float *x, int n_blocks) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the packs' lane interleave */
    int b;
    for (b = 0; b < n_blocks; b++, x += IT_QBLOCK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                                 _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        __m256i i0, i1, i2, i3, sum;
        __m128i s4;
        float amax, id;
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        amax = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
        y[b].d = amax / 127.0f;
        id = amax != 0.0f ? 127.0f / amax : 0.0f;
        i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, _mm256_set1_ps(id)));
        i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, _mm256_set1_ps(id)));
        i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, _mm256_set1_ps(id)));
        i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, _mm256_set1_ps(id)));
        sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        y[b].dsum = y[b].d * (float)_mm_cvtsi128_si32(s4);
        _mm256_storeu_si256((__m256i *)y[b].qs,
                            _mm256_permutevar8x32_epi32(_mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3)), order));
    }
}
/* bf16 -> f32 is a 16-bit shift: widen, shift, multiply-add in f32. */
IT__AVX2 static float it__dot_bf16_avx2(const uint16_t *w, const float *x, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    float s;
    int i = 0;
#define IT__BF16X8(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(IT__BF16X8(w + i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(IT__BF16X8(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    }
#undef IT__BF16X8
    acc0 = _mm256_add_ps(acc0, acc1);
    IT__HSUM256(acc0, s)
    for (; i < n; i++) s += it_bf16_to_f32(w[i]) * x[i];
    return s;
}
__attribute__((target("avx512f,avx512bw,avx512vl"))) static float it__dot_bf16_avx512(const uint16_t *w, const float *x, int n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    int i = 0;
#define IT__BF16X16(p) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(IT__BF16X16(w + i), _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(IT__BF16X16(w + i + 16), _mm512_loadu_ps(x + i + 16), acc1);
    }
    for (; i < n; i += 16) { /* masked tail */
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 wf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + i)), 16));
        acc0 = _mm512_fmadd_ps(wf, _mm512_maskz_loadu_ps(m, x + i), acc0);
    }
#undef IT__BF16X16
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#undef IT__XQ
#undef IT__WQ8
#undef IT__Q8_AVX2
#undef IT__Q4_AVX2
#undef IT__Q8_VNNI
#undef IT__Q4_VNNI
#undef IT__AVX2
#undef IT__VNNI
#endif /* IT__SGEMM_X86 */

#ifdef IT__SGEMM_NEON
/* sum of the 32 byte products a . b; sdot where the target has it (armv8.2-a+dotprod, every Apple
   chip), else widening multiplies (|a b| <= 128 * 127, so a pair fits in int16) */
static inline int32_t it__neon_dot32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1));
#else
    int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), vget_high_s8(a0), vget_high_s8(b0));
    int16x8_t p1 = vmlal_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(b1)), vget_high_s8(a1), vget_high_s8(b1));
    return vaddvq_s32(vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
#endif
}
static float it__qdot_q8_0_neon(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q8_0 *w = (const it_block_q8_0 *)wv;
    float s = 0.0f;
    int b;
    for (b = 0; b < n_blocks; b++) {
        int32_t acc = it__neon_dot32(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16));
        s += it_f16_to_f32(w[b].d) * x[b].d * (float)acc;
    }
    return s;
}
static float it__qdot_q4_0_neon(const void *wv, const it__qact *x, int n_blocks) {
    const it_block_q4_0 *w = (const it_block_q4_0 *)wv;
    const int8x16_t eight = vdupq_n_s8(8);
    float s = 0.0f;
    int b;
    for (b = 0; b < n_blocks; b++) {
        uint8x16_t raw = vld1q_u8(w[b].qs);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(15))), eight);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
        int32_t acc = it__neon_dot32(lo, hi, vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16));
        s += it_f16_to_f32(w[b].d) * x[b].d * (float)acc;
    }
    return s;
}
#endif /* IT__SGEMM_NEON */

typedef struct it__quant_isa {
    float (*dot_q8_0)(const void *w, const it__qact *x, int n_blocks);
    float (*dot_q4_0)(const void *w, const it__qact *x, int n_blocks);
    float (*dot_bf16)(const uint16_t *w, const float *x, int n);
    void (*quantize_acts)(it__qact *y, const float *x, int n_blocks);
    const char *name;
} it__quant_isa;
#ifdef IT__SGEMM_X86
#include <cpuid.h>
/* CPUID leaf 1, ECX bit 29 (not every compiler's __builtin_cpu_supports knows "f16c") */
static int it__cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
}
#endif
/* 0 = the best this CPU runs; tests set 1 (portable), 2 (AVX2), 3 (AVX-512 VNNI) to cover every
   path on one machine. A request the CPU cannot run falls back to the automatic choice. */
static int it__quant_force_isa = 0;
static it__quant_isa it__quant_pick_isa(void) {
    it__quant_isa q;
    int force = it__quant_force_isa;
    q.dot_q8_0 = it__qdot_q8_0_generic, q.dot_q4_0 = it__qdot_q4_0_generic, q.dot_bf16 = it__dot_bf16_generic;
    q.quantize_acts = it__quantize_acts;
    q.name = "generic";
    if (force == 1) return q;
#if defined(IT__SGEMM_X86)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !it__cpu_has_f16c()) return q;
    q.dot_q8_0 = it__qdot_q8_0_avx2, q.dot_q4_0 = it__qdot_q4_0_avx2, q.dot_bf16 = it__dot_bf16_avx2;
    q.quantize_acts = it__quantize_acts_avx2;
    q.name = "avx2";
    if (force == 2) return q;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        q.dot_bf16 = it__dot_bf16_avx512;
    if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni")) {
        q.dot_q8_0 = it__qdot_q8_0_vnni, q.dot_q4_0 = it__qdot_q4_0_vnni;
        q.name = "avx512vnni";
    }
#elif defined(IT__SGEMM_NEON)
    q.dot_q8_0 = it__qdot_q8_0_neon, q.dot_q4_0 = it__qdot_q4_0_neon;
#if defined(__ARM_FEATURE_DOTPROD)
    q.name = "neon-dotprod";
#else
    q.name = "neon";
#endif
#endif
    return q;
}
IT_API const char *it_weights_isa(void) { return it__quant_pick_isa().name; }

/* ---- matrix products: weight rows split over the pool; each row is read once and dotted with
   every activation row while it is in L1 (a prompt batch costs little more than one token) ---- */
typedef struct it__qmatmul_job {
    float *y;
    const float *x;     /* f32 activations (f32, bf16 weights) */
    const it__qact *xq; /* quantised activations (Q8_0, Q4_0) */
    const unsigned char *w;
    it_weight_type type;
    int n, rows, cols;
    size_t row_bytes;
    it__quant_isa isa;
} it__qmatmul_job;
static void it__qmatmul_rows(const void *job, size_t begin, size_t end) {
    const it__qmatmul_job *j = (const it__qmatmul_job *)job;
    int nb = j->cols / IT_QBLOCK, i;
    size_t r;
    for (r = begin; r < end; r++) {
        const unsigned char *wr = j->w + r * j->row_bytes;
        for (i = 0; i < j->n; i++) {
            float *yi = j->y + (size_t)i * j->rows + r;
            switch (j->type) {
            case IT_WEIGHT_Q8_0: *yi = j->isa.dot_q8_0(wr, j->xq + (size_t)i * nb, nb); break;
            case IT_WEIGHT_Q4_0: *yi = j->isa.dot_q4_0(wr, j->xq + (size_t)i * nb, nb); break;
            default: *yi = j->isa.dot_bf16((const uint16_t *)wr, j->x + (size_t)i * j->cols, j->cols); break;
            }
        }
    }
}
IT_API size_t it_weights_matmul_scratch(it_weight_type t, int n, int cols) {
    if (t != IT_WEIGHT_Q8_0 && t != IT_WEIGHT_Q4_0) return 0;
    return (size_t)n * (size_t)(cols / IT_QBLOCK) * sizeof(it__qact);
}
/* The product with activations already quantised (xq: n rows of cols / 32 blocks; the decoder
   quantises a row once for the q, k and v projections). x is read for f32 and bf16 weights. */
static void it__weights_matmul_q(it_context *ctx, float *y, const float *x, const it__qact *xq, const void *w,
                                 it_weight_type t, int n, int rows, int cols) {
    it__qmatmul_job job;
    if (t == IT_WEIGHT_F32) {
        it__gemm(ctx, y, x, (const float *)w, n, rows, cols, 0, 1, 0);
        return;
    }
    job.y = y;
    job.x = x;
    job.xq = xq;
    job.w = (const unsigned char *)w;
    job.type = t;
    job.n = n;
    job.rows = rows;
    job.cols = cols;
    job.row_bytes = it_weight_bytes(t, 1, (size_t)cols);
    job.isa = it__quant_pick_isa();
    it__parallel(ctx, &job, (size_t)rows, (size_t)cols * (size_t)n, it__qmatmul_rows);
}
IT_API void it_weights_matmul(it_context *ctx, float *y, const float *x, const void *w, it_weight_type t, int n, int rows,
                              int cols, void *scratch) {
    int i;
    IT_ASSERT(it__weight_type_ok(t) && n >= 0 && rows >= 0 && cols % it_weight_type_block(t) == 0);
    IT_ASSERT(scratch || !it_weights_matmul_scratch(t, n, cols));
    if (t == IT_WEIGHT_Q8_0 || t == IT_WEIGHT_Q4_0)
        for (i = 0; i < n; i++) it__quant_pick_isa().quantize_acts((it__qact *)scratch + (size_t)i * (cols / IT_QBLOCK), x + (size_t)i * cols, cols / IT_QBLOCK);
    it__weights_matmul_q(ctx, y, x, (const it__qact *)scratch, w, t, n, rows, cols);
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
static double it__config_param_count(const it_model_config *c);
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
    else if (it__config_param_count(c) > (double)((size_t)-1 / 64)) {
        /* weights, gradients and two optimizer states of 4 bytes, with alignment, must be addressable */
        snprintf(buf, sizeof buf, "%.3g parameters: their weights, gradients and optimizer state would not fit "
                 "in this machine's address space", it__config_param_count(c));
        why = buf;
    }
    if (!why) return IT_OK;
    return ctx ? it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "model config: %s", why) : IT_ERR_INVALID_ARGUMENT;
}
/* The parameter count in double, so a config whose count would wrap size_t is still measured
   (it_model_config_check refuses it); exact below 2^53. */
static double it__config_param_count(const it_model_config *c) {
    double C = (double)c->dim, hd = (double)it_model_head_dim(c), q = hd * (double)c->n_heads;
    double kv = hd * (double)c->n_kv_heads, F = (double)c->ffn_dim, V = (double)c->vocab_size, per_layer, total;
    if (c->arch == IT_ARCH_GPT2) {
        per_layer = 4 * C + (C * C + C) * 4 + (C * F + F) + (F * C + C); /* 2 LayerNorms, q k v o, MLP */
        total = V * C + (double)c->max_seq * C + per_layer * (double)c->n_layers + 2 * C;
    } else {
        per_layer = 2 * C + C * q * 2 + C * kv * 2 + 3 * C * F; /* 2 norms, q o, k v, MLP */
        per_layer += (c->qkv_bias ? q + 2 * kv : 0) + (c->o_bias ? C : 0) + (c->mlp_bias ? 2 * F + C : 0) +
                     (c->qk_norm ? 2 * hd : 0);
        total = V * C + per_layer * (double)c->n_layers + C;
    }
    return total + (c->untied ? V * C : 0);
}
IT_API size_t it_model_config_param_count(const it_model_config *c) { return (size_t)it__config_param_count(c); }

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
    m = (it_model *)it__object_new(ctx, IT__OBJ_MODEL, sizeof(it_model));
    if (m) m->layer_params = (it_tensor **)it__calloc(ctx, sizeof(it_tensor *) * (size_t)c.n_layers * IT_MODEL_LAYER_PARAMS);
    if (!m || !m->layer_params) {
        it__object_drop(ctx, m);
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
    it__object_check(m, IT__OBJ_MODEL, "it_model_destroy");
    it__disown(m->ctx, m);
    it__free(m->ctx, m->layer_params);
    it__object_retire(m);
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

static void it__lora_lookup(const it_model *m, int layer, int slot, it_tensor **a, it_tensor **b, float *scale);
/* Projection `slot` of layer l: y = x W^T for Llama's [out, in] weights, y = x W for GPT-2's [in,
   out] Conv1D weights, plus the bias when it has one; through the LoRA op when an adapter is on it. */
static it_tensor *it__linear(it_graph *g, const it_model *m, it_tensor *x, int l, int slot, int bias_slot) {
    it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS, *a, *b, *y;
    float scale;
    int llama = m->config.arch == IT_ARCH_LLAMA;
    it__lora_lookup(m, l, slot, &a, &b, &scale);
    y = a ? it_lora_linear(g, x, p[slot], a, b, scale, !llama) : it_matmul(g, x, p[slot], 0, llama);
    return p[bias_slot] ? it_add(g, y, p[bias_slot]) : y;
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
        q = it_reshape(g, it__linear(g, m, h, l, IT_LP_Q, IT_LP_Q_B), 4, qdims);
        k = it_reshape(g, it__linear(g, m, h, l, IT_LP_K, IT_LP_K_B), 4, kvdims);
        v = it_reshape(g, it__linear(g, m, h, l, IT_LP_V, IT_LP_V_B), 4, kvdims);
        if (c->qk_norm) { /* Qwen3: each head's q and k normalised over its own D values */
            q = it_rmsnorm(g, q, p[IT_LP_Q_NORM], c->norm_eps);
            k = it_rmsnorm(g, k, p[IT_LP_K_NORM], c->norm_eps);
        }
        if (llama) {
            q = it_rope_scaled(g, q, c->rope_theta, &c->rope_scaling, 0);
            k = it_rope_scaled(g, k, c->rope_theta, &c->rope_scaling, 0);
        }
        a = it_reshape(g, it_attention_window(g, q, k, v, c->sliding_window), 3, flat);
        x = it_add(g, x, it__linear(g, m, a, l, IT_LP_O, IT_LP_O_B));
        if (llama) {
            h = it_rmsnorm(g, x, p[IT_LP_MLP_NORM], c->norm_eps);
            h = it_swiglu(g, it__linear(g, m, h, l, IT_LP_GATE, IT_LP_GATE_B), it__linear(g, m, h, l, IT_LP_UP, IT_LP_UP_B));
        } else {
            h = it_layernorm(g, x, p[IT_LP_MLP_NORM], p[IT_LP_MLP_NORM_B], c->norm_eps);
            h = it_gelu(g, it__linear(g, m, h, l, IT_LP_UP, IT_LP_UP_B));
        }
        x = it_add(g, x, it__linear(g, m, h, l, IT_LP_DOWN, IT_LP_DOWN_B));
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
   the cached keys up to its own position. Only the last row goes through the head. A quantised
   decoder keeps its projections as it__dec_weight copies (>>quant) and quantises each row of
   activations once for all the projections that read it. */
typedef struct it__dec_weight {
    it_tensor *param;    /* f32: multiply straight from the parameter */
    const void *data;    /* otherwise: [rows, cols] in `type`, inside the decoder's weight block */
    it_weight_type type; /* 0 = not a projection of this architecture */
    int rows, cols;      /* out, in */
    it_tensor *lora_a, *lora_b; /* the projection's LoRA adapter (unmerged), or NULL */
    float lora_scale;
} it__dec_weight;
struct it_decoder {
    it_context *ctx; /* owner (the model's): released with it */
    it_model *model;
    int max_seq, pos;
    it__dec_weight *lin; /* [n_layers * IT_MODEL_LAYER_PARAMS] by parameter slot; NULL: f32 parameters */
    it__dec_weight head;
    unsigned char *weight_mem; /* every quantised copy (NULL for an f32 decoder) */
    it__qact *xq;              /* [rows, widest input / 32] quantised activation rows (a work row) */
    float *kcache, *vcache;                    /* [n_layers, max_seq, Hkv * D] */
    float *x, *h, *q, *k, *v, *att, *f1, *f2;  /* [max_seq, ...] work rows */
    float *stat0, *stat1, *scores, *logits;    /* [max_seq * heads], [max_seq], [max_seq], [vocab] */
    int32_t *positions;                        /* [max_seq] of the rows in one call */
    float *lora_u;                             /* [max_seq, lora rank]: x A^T of an adapted projection */
    struct it_lora *lora;                      /* the adapter the rows were sized for (lora_u) */
};
/* The work rows of one pass of up to S tokens (x, h, q, att, k, v, f1, f2, the norm statistics,
   the positions) carved from block at float offset off; returns the offset after them. With
   block NULL it only counts. The contiguous and the batch decoder both carve theirs here. */
static size_t it__decoder_rows(it_decoder *d, float *block, size_t off, size_t S) {
    const it_model_config *c = &d->model->config;
    size_t C = (size_t)c->dim, hd = (size_t)it_model_head_dim(c), Q = hd * (size_t)c->n_heads;
    size_t KV = hd * (size_t)c->n_kv_heads, F = (size_t)c->ffn_dim;
#define IT__DEC_TAKE(field, count) (d->field = block ? block + off : NULL, off += IT__ALIGN_UP((size_t)(count), 16))
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
    d->xq = block ? (it__qact *)(block + off) : NULL;
    off += IT__ALIGN_UP(S * (IT__MAX(IT__MAX(C, Q), F) / IT_QBLOCK) * (sizeof(it__qact) / sizeof(float)), 16);
    d->lora = d->model->lora;
    IT__DEC_TAKE(lora_u, S * (d->lora ? (size_t)it_lora_get_config(d->lora)->rank : 0));
#undef IT__DEC_TAKE
    d->positions = block ? (int32_t *)(block + off) : NULL;
    return off + IT__ALIGN_UP(S, 16);
}
/* The projections a layer of this architecture has (GPT-2: no gate). */
static int it__decoder_is_projection(const it_model_config *c, int slot) {
    return slot == IT_LP_Q || slot == IT_LP_K || slot == IT_LP_V || slot == IT_LP_O || slot == IT_LP_UP || slot == IT_LP_DOWN ||
           (slot == IT_LP_GATE && c->arch == IT_ARCH_LLAMA);
}
/* w as a [rows = out, cols = in] matrix of `type`: Llama and the head store [out, in], GPT-2's
   projections [in, out]. */
static it__dec_weight it__decoder_weight_of(const it_model *m, it_tensor *w, it_weight_type type) {
    it__dec_weight dw;
    int out_in = m->config.arch == IT_ARCH_LLAMA || w == m->head;
    memset(&dw, 0, sizeof dw);
    if (!w) return dw; /* a slot the architecture does not have */
    dw.param = w;
    dw.data = NULL;
    dw.type = type;
    dw.rows = out_in ? w->dims[0] : w->dims[1];
    dw.cols = out_in ? w->dims[1] : w->dims[0];
    return dw;
}
/* Rows [begin, end) of one matrix into its storage type (GPT-2's [in, out] read by column). */
typedef struct it__decoder_quantize_job { const it__dec_weight *w; int transposed; it_result result; } it__decoder_quantize_job;
static void it__decoder_quantize_rows(const void *job, size_t begin, size_t end) {
    it__decoder_quantize_job *j = (it__decoder_quantize_job *)job;
    const it__dec_weight *w = j->w;
    size_t row_bytes = it_weight_bytes(w->type, 1, (size_t)w->cols), block_bytes = it_weight_type_block_bytes(w->type), r;
    const float *src = it_data(w->param);
    float part[IT_QBLOCK];
    int k, i, block = it_weight_type_block(w->type);
    for (r = begin; r < end; r++) {
        unsigned char *dst = (unsigned char *)w->data + r * row_bytes;
        if (!j->transposed) {
            if (it_weights_quantize(w->type, dst, src + r * (size_t)w->cols, (size_t)w->cols) != IT_OK) j->result = IT_ERR_RANGE;
            continue;
        }
        for (k = 0; k < w->cols; k += IT_QBLOCK) { /* a block's worth of the row from a column of [in, out] */
            int len = IT__MIN(IT_QBLOCK, w->cols - k);
            for (i = 0; i < len; i++) part[i] = src[(size_t)(k + i) * (size_t)w->rows + r];
            if (it_weights_quantize(w->type, dst + (size_t)(k / block) * block_bytes, part, (size_t)len) != IT_OK)
                j->result = IT_ERR_RANGE;
        }
    }
}
/* Makes w's copy at *mem (advanced past it); every part of the pool quantises a share of the rows. */
static it_result it__decoder_quantize(it_decoder *d, it__dec_weight *w, unsigned char **mem) {
    it__decoder_quantize_job job;
    if (w->type == IT_WEIGHT_F32) return IT_OK;
    w->data = *mem;
    *mem += IT__ALIGN_UP(it_weight_bytes(w->type, (size_t)w->rows, (size_t)w->cols), 64);
    job.w = w;
    job.transposed = d->model->config.arch != IT_ARCH_LLAMA && w->param != d->model->head;
    job.result = IT_OK; /* parts only ever write IT_ERR_RANGE here */
    it__parallel(d->ctx, &job, (size_t)w->rows, (size_t)w->cols * 8, it__decoder_quantize_rows);
    if (job.result != IT_OK)
        return it_context_error(d->ctx, IT_ERR_RANGE, "it_decoder_create: %s holds a NaN or infinite weight, which %s cannot store",
                                w->param->name, it_weight_type_name(w->type));
    return IT_OK;
}
/* The weight table and the quantised copies the desc asks for (nothing for an all-f32 decoder). */
static it_result it__decoder_weights_init(it_decoder *d, const it_decoder_desc *desc) {
    const it_model_config *c = &d->model->config;
    it_weight_type wt = desc->weights ? desc->weights : IT_WEIGHT_F32, ht = desc->head ? desc->head : wt;
    size_t n = (size_t)c->n_layers * IT_MODEL_LAYER_PARAMS, i, bytes = 0;
    unsigned char *mem;
    it_result r;
    if (!it__weight_type_ok(wt) || !it__weight_type_ok(ht))
        return it_context_error(d->ctx, IT_ERR_INVALID_ARGUMENT, "it_decoder_create: unknown weight type %d / %d", (int)wt, (int)ht);
    d->head = it__decoder_weight_of(d->model, d->model->head, ht);
    if (wt == IT_WEIGHT_F32 && ht == IT_WEIGHT_F32) return IT_OK;
    if (!(d->lin = (it__dec_weight *)it__calloc(d->ctx, n * sizeof(it__dec_weight))))
        return it_context_error(d->ctx, IT_ERR_OUT_OF_MEMORY, "it_decoder_create: cannot allocate the weight table");
    for (i = 0; i <= n; i++) {
        it__dec_weight *w = i < n ? &d->lin[i] : &d->head;
        if (i < n && !it__decoder_is_projection(c, (int)(i % IT_MODEL_LAYER_PARAMS))) continue;
        if (i < n) *w = it__decoder_weight_of(d->model, d->model->layer_params[i], wt);
        if (w->type == IT_WEIGHT_F32) continue;
        if (!it_weight_bytes(w->type, (size_t)w->rows, (size_t)w->cols))
            return it_context_error(d->ctx, IT_ERR_UNSUPPORTED, "it_decoder_create: %s has %d inputs, not a multiple of %s's "
                                    "block of %d", w->param->name, w->cols, it_weight_type_name(w->type), it_weight_type_block(w->type));
        bytes += IT__ALIGN_UP(it_weight_bytes(w->type, (size_t)w->rows, (size_t)w->cols), 64);
    }
    if (!(d->weight_mem = mem = (unsigned char *)it__alloc(d->ctx, bytes)))
        return it_context_error(d->ctx, IT_ERR_OUT_OF_MEMORY, "it_decoder_create: cannot allocate %zu bytes of quantised weights", bytes);
    for (i = 0; i <= n; i++)
        if ((i == n || d->lin[i].type) && (r = it__decoder_quantize(d, i < n ? &d->lin[i] : &d->head, &mem)) != IT_OK) return r;
    return IT_OK;
}
/* Slot `slot` of layer l as the decoder multiplies it. */
static it__dec_weight it__decoder_weight(const it_decoder *d, int l, int slot) {
    it__dec_weight w = d->lin ? d->lin[(size_t)l * IT_MODEL_LAYER_PARAMS + slot]
                              : it__decoder_weight_of(d->model, d->model->layer_params[(size_t)l * IT_MODEL_LAYER_PARAMS + slot],
                                                      IT_WEIGHT_F32);
    it__lora_lookup(d->model, l, slot, &w.lora_a, &w.lora_b, &w.lora_scale);
    return w;
}
IT_API it_result it_decoder_create(it_model *m, int max_seq, it_decoder **out) {
    it_decoder_desc desc;
    memset(&desc, 0, sizeof desc);
    desc.max_seq = max_seq;
    return it_decoder_create_ex(m, &desc, out);
}
IT_API it_result it_decoder_create_ex(it_model *m, const it_decoder_desc *desc, it_decoder **out) {
    it_context *ctx = m->ctx;
    int max_seq = desc->max_seq;
    const it_model_config *c = &m->config;
    size_t S, KV = (size_t)it_model_head_dim(c) * (size_t)c->n_kv_heads, L = (size_t)c->n_layers, cache, total;
    it_decoder *d;
    float *block;
    it_result r;
    *out = NULL;
    if (max_seq <= 0 || max_seq > c->max_seq) max_seq = c->max_seq;
    if (!ctx->param_block) {
        it_result r = it_params_alloc(ctx);
        if (r != IT_OK) return r;
    }
    S = (size_t)max_seq;
    d = (it_decoder *)it__object_new(ctx, IT__OBJ_DECODER, sizeof(it_decoder));
    if (!d) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_decoder_create: out of memory");
    d->ctx = ctx;
    d->model = m;
    d->max_seq = max_seq;
    cache = IT__ALIGN_UP(L * S * KV, 16); /* each of k and v */
    total = it__decoder_rows(d, NULL, 2 * cache, S) + IT__ALIGN_UP(S, 16) + (size_t)c->vocab_size;
    block = (float *)it__alloc(ctx, total * sizeof(float));
    if (!block) {
        it__object_drop(ctx, d);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_decoder_create: cannot allocate %zu bytes", total * 4);
    }
    d->kcache = block;
    d->vcache = block + cache;
    d->scores = block + it__decoder_rows(d, block, 2 * cache, S);
    d->logits = d->scores + IT__ALIGN_UP(S, 16);
    if (it__own(ctx, d, (void (*)(void *))it_decoder_destroy, "it_decoder_create") != IT_OK)
        return IT_ERR_OUT_OF_MEMORY;
    if ((r = it__decoder_weights_init(d, desc)) != IT_OK) {
        it_decoder_destroy(d);
        return r;
    }
    *out = d;
    return IT_OK;
}
IT_API void it_decoder_destroy(it_decoder *d) {
    if (!d) return;
    it__object_check(d, IT__OBJ_DECODER, "it_decoder_destroy");
    it__disown(d->ctx, d);
    it__free(d->ctx, d->kcache); /* the start of the one block */
    if (d->lin) it__free(d->ctx, d->lin);
    if (d->weight_mem) it__free(d->ctx, d->weight_mem);
    it__object_retire(d);
}
IT_API void it_decoder_reset(it_decoder *d) { d->pos = 0; }
IT_API int it_decoder_pos(const it_decoder *d) { return d->pos; }
IT_API int it_decoder_vocab(const it_decoder *d) { return d->model->config.vocab_size; }
IT_API it_weight_type it_decoder_weights(const it_decoder *d) { return it__decoder_weight(d, 0, IT_LP_Q).type; }
IT_API size_t it_decoder_weight_bytes(const it_decoder *d) {
    const it_model_config *c = &d->model->config;
    size_t bytes = it_weight_bytes(d->head.type, (size_t)d->head.rows, (size_t)d->head.cols);
    int l, s;
    for (l = 0; l < c->n_layers; l++)
        for (s = 0; s < IT_MODEL_LAYER_PARAMS; s++)
            if (it__decoder_is_projection(c, s)) {
                it__dec_weight w = it__decoder_weight(d, l, s);
                bytes += it_weight_bytes(w.type, (size_t)w.rows, (size_t)w.cols);
            }
    return bytes;
}

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
/* The rows x [n, in] as int8 blocks in d->xq for the Q8_0 / Q4_0 projections that read them next
   (nothing for f32 and bf16). */
static void it__decoder_quantize_acts(it_decoder *d, const float *x, const it__dec_weight *w, int n) {
    int i, nb = w->cols / IT_QBLOCK;
    it__quant_isa isa;
    if (w->type != IT_WEIGHT_Q8_0 && w->type != IT_WEIGHT_Q4_0) return;
    isa = it__quant_pick_isa();
    for (i = 0; i < n; i++) isa.quantize_acts(d->xq + (size_t)i * nb, x + (size_t)i * w->cols, nb);
}
/* y [n, out] = x [n, in] @ W + b: f32 from the parameter (Llama's [out, in]: transposed; GPT-2's
   [in, out]: not), otherwise from the decoder's [out, in] copy (Q8_0 / Q4_0 read d->xq, which the
   caller filled from x with it__decoder_quantize_acts) */
static void it__decoder_linear(it_decoder *d, float *y, const float *x, const it__dec_weight *w, it_tensor *b, int n) {
    it_context *ctx = d->model->ctx;
    int i;
    if (w->type == IT_WEIGHT_F32)
        it__gemm(ctx, y, x, it_data(w->param), n, w->rows, w->cols, 0,
                 d->model->config.arch == IT_ARCH_LLAMA || w->param == d->model->head, 0);
    else
        it__weights_matmul_q(ctx, y, x, d->xq, w->data, w->type, n, w->rows, w->cols);
    if (w->lora_a) { /* the adapter's branch, unmerged: y += scale (x A^T) B^T */
        int r = w->lora_a->dims[0];
        it__gemm(ctx, d->lora_u, x, it_data(w->lora_a), n, r, w->cols, 0, 1, 0);
        it_cpu_scale_forward(d->lora_u, d->lora_u, w->lora_scale, (size_t)n * r);
        it__gemm(ctx, y, d->lora_u, it_data(w->lora_b), n, w->rows, r, 0, 1, 1);
    }
    if (b)
        for (i = 0; i < n; i++) it_cpu_add_forward(y + (size_t)i * w->rows, y + (size_t)i * w->rows, it_data(b), (size_t)w->rows);
}
static void it__decoder_norm(it_decoder *d, float *out, const float *x, it_tensor *w, it_tensor *b, int n) {
    const it_model_config *c = &d->model->config;
    if (c->arch == IT_ARCH_LLAMA) it_cpu_rmsnorm_forward(out, d->stat0, x, it_data(w), n, c->dim, c->norm_eps);
    else it_cpu_layernorm_forward(out, d->stat0, d->stat1, x, it_data(w), b ? it_data(b) : NULL, n, c->dim, c->norm_eps);
}
/* Token embeddings of n rows into d->x, plus GPT-2's learned position of each row. */
static void it__decoder_embed(it_decoder *d, const int32_t *tokens, const int32_t *pos, int n) {
    it_model *m = d->model;
    const it_model_config *c = &m->config;
    int C = c->dim, i;
    it_cpu_embedding_forward(d->x, tokens, it_data(m->embed), n, C, c->vocab_size);
    if (c->arch != IT_ARCH_LLAMA)
        for (i = 0; i < n; i++)
            it_cpu_add_forward(d->x + (size_t)i * C, d->x + (size_t)i * C, it_data(m->pos_embed) + (size_t)pos[i] * C, (size_t)C);
}
/* One pass of the n rows in d->x through every layer, row i at position pos[i]. Per layer, attend
   gets the new rows' q, k, v in d->q, d->k, d->v (k after RoPE) and writes d->att [n, Hq * D]:
   the contiguous decoder keeps k and v in its cache, the batch decoder in each sequence's blocks
   (>>paged). Everything else is the same code for both. */
typedef void (*it__decoder_attend_fn)(void *self, int layer, int n, const int32_t *pos);
static void it__decoder_layers(it_decoder *d, int n, const int32_t *pos, it__decoder_attend_fn attend, void *self) {
    it_model *m = d->model;
    const it_model_config *c = &m->config;
    int hd = it_model_head_dim(c), Q = hd * c->n_heads, KV = hd * c->n_kv_heads, F = c->ffn_dim, i, l;
    int llama = c->arch == IT_ARCH_LLAMA;
    size_t rows = (size_t)n * c->dim;
    for (l = 0; l < c->n_layers; l++) {
        it_tensor **p = m->layer_params + (size_t)l * IT_MODEL_LAYER_PARAMS;
        it__dec_weight wq = it__decoder_weight(d, l, IT_LP_Q), wk = it__decoder_weight(d, l, IT_LP_K);
        it__dec_weight wv = it__decoder_weight(d, l, IT_LP_V), wo = it__decoder_weight(d, l, IT_LP_O);
        it__dec_weight wg = it__decoder_weight(d, l, IT_LP_GATE), wu = it__decoder_weight(d, l, IT_LP_UP);
        it__dec_weight wd = it__decoder_weight(d, l, IT_LP_DOWN);
        it__decoder_norm(d, d->h, d->x, p[IT_LP_ATTN_NORM], p[IT_LP_ATTN_NORM_B], n);
        it__decoder_quantize_acts(d, d->h, &wq, n); /* once for q, k and v */
        it__decoder_linear(d, d->q, d->h, &wq, p[IT_LP_Q_B], n);
        it__decoder_linear(d, d->k, d->h, &wk, p[IT_LP_K_B], n);
        it__decoder_linear(d, d->v, d->h, &wv, p[IT_LP_V_B], n);
        if (c->qk_norm) { /* per head: n * heads rows of hd values */
            it_cpu_rmsnorm_forward(d->q, d->stat0, d->q, it_data(p[IT_LP_Q_NORM]), n * c->n_heads, hd, c->norm_eps);
            it_cpu_rmsnorm_forward(d->k, d->stat0, d->k, it_data(p[IT_LP_K_NORM]), n * c->n_kv_heads, hd, c->norm_eps);
        }
        if (llama) /* each row at its own position (one batch may hold many sequences) */
            for (i = 0; i < n; i++) {
                it_cpu_rope_forward(d->q + (size_t)i * Q, d->q + (size_t)i * Q, 1, 1, c->n_heads, hd, c->rope_theta,
                                    &c->rope_scaling, pos[i]);
                it_cpu_rope_forward(d->k + (size_t)i * KV, d->k + (size_t)i * KV, 1, 1, c->n_kv_heads, hd, c->rope_theta,
                                    &c->rope_scaling, pos[i]);
            }
        attend(self, l, n, pos);
        it__decoder_quantize_acts(d, d->att, &wo, n);
        it__decoder_linear(d, d->h, d->att, &wo, p[IT_LP_O_B], n);
        it_cpu_add_forward(d->x, d->x, d->h, rows);
        it__decoder_norm(d, d->h, d->x, p[IT_LP_MLP_NORM], p[IT_LP_MLP_NORM_B], n);
        it__decoder_quantize_acts(d, d->h, &wu, n); /* once for gate and up */
        if (llama) {
            it__decoder_linear(d, d->f1, d->h, &wg, p[IT_LP_GATE_B], n);
            it__decoder_linear(d, d->f2, d->h, &wu, p[IT_LP_UP_B], n);
            it__swiglu_forward_fast(d->f1, d->f1, d->f2, (size_t)n * F);
        } else {
            it__decoder_linear(d, d->f2, d->h, &wu, p[IT_LP_UP_B], n);
            it_cpu_gelu_forward(d->f1, d->f2, (size_t)n * F);
        }
        it__decoder_quantize_acts(d, d->f1, &wd, n);
        it__decoder_linear(d, d->h, d->f1, &wd, p[IT_LP_DOWN_B], n);
        it_cpu_add_forward(d->x, d->x, d->h, rows);
    }
}
/* logits [n, vocab] of n final hidden rows x [n, C]: the final norm into d->h, then the head in one
   product (the head's weights read once for all n rows). */
static void it__decoder_head(it_decoder *d, float *logits, const float *x, int n) {
    it_model *m = d->model;
    it__dec_weight head = d->head.param ? d->head : it__decoder_weight_of(m, m->head, IT_WEIGHT_F32);
    it__decoder_norm(d, d->h, x, m->final_norm, m->final_norm_bias, n);
    it__decoder_quantize_acts(d, d->h, &head, n);
    it__decoder_linear(d, logits, d->h, &head, NULL, n);
}
/* The contiguous cache: the new rows go to positions pos[0] .. pos[0] + n - 1 of the layer's cache. */
static void it__decoder_attend_cache(void *self, int l, int n, const int32_t *pos) {
    it_decoder *d = (it_decoder *)self;
    const it_model_config *c = &d->model->config;
    int hd = it_model_head_dim(c);
    size_t KV = (size_t)hd * c->n_kv_heads, p0 = (size_t)pos[0];
    float *kc = d->kcache + (size_t)l * d->max_seq * KV, *vc = d->vcache + (size_t)l * d->max_seq * KV;
    memcpy(kc + p0 * KV, d->k, sizeof(float) * (size_t)n * KV);
    memcpy(vc + p0 * KV, d->v, sizeof(float) * (size_t)n * KV);
    it__decoder_attention(&d->model->ctx->scratch[0], d->att, d->scores, d->q, kc, vc, n, (int)p0, c->n_heads,
                          c->n_kv_heads, hd, c->sliding_window); /* on the calling thread: worker 0's scratch */
}
/* Checks n token ids against the vocabulary (IT_ERR_RANGE naming the first bad one), and that the
   model's LoRA adapter is the one the work rows were sized for. */
static it_result it__decoder_check_ids(it_context *ctx, const char *fn, const int32_t *tokens, int n, int vocab,
                                       const it_decoder *rows) {
    int i;
    if (rows && rows->lora != rows->model->lora)
        return it_context_error(ctx, IT_ERR_STATE, "%s: the model's LoRA adapter changed since the decoder was created "
                                "(attached, merged or destroyed): create a new one", fn);
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab)
            return it_context_error(ctx, IT_ERR_RANGE, "%s: token %ld at %d is outside [0, %d)", fn, (long)tokens[i], i, vocab);
    return IT_OK;
}
IT_API it_result it_decoder_feed(it_decoder *d, const int32_t *tokens, int n, const float **logits) {
    it_model *m = d->model;
    const it_model_config *c = &m->config;
    int p0 = d->pos, i;
    it_result r;
    if (n < 1 || p0 + n > d->max_seq)
        return it_context_error(m->ctx, IT_ERR_RANGE, "it_decoder_feed: %d tokens at position %d exceed max_seq %d", n, p0,
                                d->max_seq);
    it__sync(m->ctx); /* the decoder reads the parameters on the CPU */
    if ((r = it__decoder_check_ids(m->ctx, "it_decoder_feed", tokens, n, c->vocab_size, d)) != IT_OK) return r;
    for (i = 0; i < n; i++) d->positions[i] = p0 + i;
    it__decoder_embed(d, tokens, d->positions, n);
    it__decoder_layers(d, n, d->positions, it__decoder_attend_cache, d);
    it__decoder_head(d, d->logits, d->x + (size_t)(n - 1) * c->dim, 1);
    d->pos = p0 + n;
    *logits = d->logits;
    return IT_OK;
}

/* >>paged  the paged KV cache and the batch decoder -----------------------------------------------
   Each pool holds n_blocks blocks; block b keeps, for every layer l, block_size rows of k (or v):
   pool + b * block_floats + (l * block_size + slot) * KV. So a block is one contiguous run of
   floats per pool (copy-on-write is two memcpy), and one layer's keys in a block are block_size
   rows with the row stride of the contiguous cache. A sequence's block table lists its blocks in
   position order; refs counts the tables that hold a block; free blocks sit on a stack. */
struct it_batch_decoder {
    it_context *ctx;         /* owner (the model's): released with it */
    it_decoder rows;         /* the model and the work rows for max_batch tokens (no cache of its own) */
    int max_seqs, max_context, n_blocks, block_size, max_batch, max_logits, max_table;
    size_t block_floats;     /* n_layers * block_size * KV */
    float *kpool, *vpool;
    int32_t *refs;           /* [n_blocks] */
    int32_t *free_stack;     /* [n_blocks], n_free on it */
    int n_free;
    int32_t *tables;         /* [max_seqs, max_table] */
    int32_t *len;            /* [max_seqs] tokens held */
    int32_t *added;          /* [max_seqs] rows of each sequence in the batch being decoded */
    float *logits;           /* [max_logits, vocab] */
    int32_t *logit_slot;     /* [max_batch] row -> logits row, -1 */
    float *last_rows;        /* [max_logits, dim] hidden rows that go through the head */
    float *scores;           /* [n_threads, max_context] one worker's attention weights */
    const it_batch *batch;   /* during it_batch_decode: the rows the attention reads */
    int n_rows;              /* rows of the last decoded batch */
};

IT_API it_result it_batch_create(it_context *ctx, int capacity, it_batch **out) {
    it_batch *b;
    *out = NULL;
    if (capacity < 1) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_batch_create: capacity %d < 1", capacity);
    b = (it_batch *)it__object_new(ctx, IT__OBJ_BATCH, sizeof(it_batch));
    if (b) b->token = (int32_t *)it__alloc_array(ctx, (size_t)capacity * 3 + (size_t)capacity / 4 + 1, sizeof(int32_t));
    if (!b || !b->token) {
        it__object_drop(ctx, b);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_batch_create: out of memory for %d rows", capacity);
    }
    b->ctx = ctx;
    b->capacity = capacity;
    b->pos = b->token + capacity;
    b->seq = b->pos + capacity;
    b->logits = (int8_t *)(b->seq + capacity);
    if (it__own(ctx, b, (void (*)(void *))it_batch_destroy, "it_batch_create") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    *out = b;
    return IT_OK;
}
IT_API void it_batch_destroy(it_batch *b) {
    if (!b) return;
    it__object_check(b, IT__OBJ_BATCH, "it_batch_destroy");
    it__disown(b->ctx, b);
    it__free(b->ctx, b->token); /* the start of the one array */
    it__object_retire(b);
}
IT_API void it_batch_clear(it_batch *b) { b->n_tokens = 0; }
IT_API it_result it_batch_add(it_batch *b, int32_t token, int pos, int seq, int logits) {
    int i = b->n_tokens;
    if (i >= b->capacity)
        return it_context_error(b->ctx, IT_ERR_RANGE, "it_batch_add: the batch is full (%d rows)", b->capacity);
    b->token[i] = token, b->pos[i] = pos, b->seq[i] = seq, b->logits[i] = (int8_t)(logits != 0);
    b->n_tokens = i + 1;
    return IT_OK;
}

IT_API it_result it_batch_decoder_create(it_model *m, const it_batch_decoder_desc *desc, it_batch_decoder **out) {
    it_context *ctx = m->ctx;
    const it_model_config *c = &m->config;
    it_batch_decoder_desc o;
    size_t KV = (size_t)it_model_head_dim(c) * (size_t)c->n_kv_heads, total, off, pool, i;
    it_batch_decoder *d;
    float *block;
    *out = NULL;
    if (desc) o = *desc;
    else memset(&o, 0, sizeof o);
    if (!o.max_seqs) o.max_seqs = 16;
    if (!o.max_context) o.max_context = c->max_seq;
    if (!o.block_size) o.block_size = IT_KV_BLOCK_SIZE;
    if (!o.max_batch) o.max_batch = 512;
    if (!o.max_logits) o.max_logits = o.max_seqs;
    if (o.max_seqs < 1 || o.max_seqs > 65536 || o.max_context < 1 || o.max_context > c->max_seq || o.block_size < 1 ||
        o.block_size > 4096 || o.max_batch < 1 || o.max_batch > 65536 || o.max_logits < 1 || o.max_logits > o.max_batch ||
        o.n_blocks < 0)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                "it_batch_decoder_create: max_seqs %d (1..65536), max_context %d (1..%d, the model's "
                                "max_seq), block_size %d (1..4096), max_batch %d (1..65536), max_logits %d (1..max_batch), "
                                "n_blocks %d (>= 0)", o.max_seqs, o.max_context, c->max_seq, o.block_size, o.max_batch,
                                o.max_logits, o.n_blocks);
    if (!ctx->param_block) {
        it_result r = it_params_alloc(ctx);
        if (r != IT_OK) return r;
    }
    d = (it_batch_decoder *)it__object_new(ctx, IT__OBJ_BATCH_DECODER, sizeof(it_batch_decoder));
    if (!d) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_batch_decoder_create: out of memory");
    d->ctx = d->rows.ctx = ctx;
    d->rows.model = m;
    d->rows.max_seq = o.max_batch;
    d->max_seqs = o.max_seqs, d->max_context = o.max_context, d->block_size = o.block_size;
    d->max_batch = o.max_batch, d->max_logits = o.max_logits;
    d->max_table = (o.max_context + o.block_size - 1) / o.block_size;
    d->n_blocks = o.n_blocks ? o.n_blocks : d->max_seqs * d->max_table;
    d->block_floats = (size_t)c->n_layers * (size_t)o.block_size * KV;
    /* one allocation: the two pools, then the work rows, logits, head rows, scores, int arrays */
    pool = IT__ALIGN_UP((size_t)d->n_blocks * d->block_floats, 16);
    off = it__decoder_rows(&d->rows, NULL, 2 * pool, (size_t)o.max_batch);
    total = off + IT__ALIGN_UP((size_t)o.max_logits * c->vocab_size, 16) + IT__ALIGN_UP((size_t)o.max_logits * c->dim, 16) +
            IT__ALIGN_UP((size_t)ctx->n_threads * o.max_context, 16) + 2 * (size_t)d->n_blocks +
            (size_t)d->max_seqs * (d->max_table + 2) + (size_t)o.max_batch + 16;
    if ((double)d->n_blocks * (double)d->block_floats > 1e15 ||
        !(block = (float *)it__alloc_array(ctx, total, sizeof(float)))) {
        it__object_drop(ctx, d);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_batch_decoder_create: cannot allocate %.0f bytes for %d "
                                "blocks of %d tokens", (double)total * 4, d->n_blocks, o.block_size);
    }
    d->kpool = block;
    d->vpool = block + pool;
    it__decoder_rows(&d->rows, block, 2 * pool, (size_t)o.max_batch);
    d->logits = block + off;
    d->last_rows = d->logits + IT__ALIGN_UP((size_t)o.max_logits * c->vocab_size, 16);
    d->scores = d->last_rows + IT__ALIGN_UP((size_t)o.max_logits * c->dim, 16);
    d->refs = (int32_t *)(d->scores + IT__ALIGN_UP((size_t)ctx->n_threads * o.max_context, 16));
    d->free_stack = d->refs + d->n_blocks;
    d->tables = d->free_stack + d->n_blocks;
    d->len = d->tables + (size_t)d->max_seqs * d->max_table;
    d->added = d->len + d->max_seqs;
    d->logit_slot = d->added + d->max_seqs;
    for (i = 0; i < (size_t)d->n_blocks; i++) d->refs[i] = 0, d->free_stack[i] = d->n_blocks - 1 - (int32_t)i;
    d->n_free = d->n_blocks;
    memset(d->len, 0, sizeof(int32_t) * (size_t)d->max_seqs);
    if (it__own(ctx, d, (void (*)(void *))it_batch_decoder_destroy, "it_batch_decoder_create") != IT_OK)
        return IT_ERR_OUT_OF_MEMORY;
    *out = d;
    return IT_OK;
}
IT_API void it_batch_decoder_destroy(it_batch_decoder *d) {
    if (!d) return;
    it__object_check(d, IT__OBJ_BATCH_DECODER, "it_batch_decoder_destroy");
    it__disown(d->ctx, d);
    it__free(d->ctx, d->kpool); /* the start of the one block */
    it__object_retire(d);
}
IT_API int it_batch_decoder_vocab(const it_batch_decoder *d) { return d->rows.model->config.vocab_size; }
IT_API int it_batch_decoder_max_context(const it_batch_decoder *d) { return d->max_context; }
IT_API int it_batch_decoder_max_seqs(const it_batch_decoder *d) { return d->max_seqs; }

static int it__kv_valid_seq(const it_batch_decoder *d, int seq) { return seq >= 0 && seq < d->max_seqs; }
static int32_t *it__kv_table(const it_batch_decoder *d, int seq) { return d->tables + (size_t)seq * d->max_table; }
static int it__kv_blocks_of(const it_batch_decoder *d, int n_tokens) { return (n_tokens + d->block_size - 1) / d->block_size; }
IT_API int it_kv_seq_len(const it_batch_decoder *d, int seq) { return it__kv_valid_seq(d, seq) ? d->len[seq] : 0; }
IT_API int it_kv_seq_block(const it_batch_decoder *d, int seq, int i) {
    if (!it__kv_valid_seq(d, seq) || i < 0 || i >= it__kv_blocks_of(d, d->len[seq])) return -1;
    return it__kv_table(d, seq)[i];
}
IT_API int it_kv_seq_blocks_needed(const it_batch_decoder *d, int seq, int n) {
    int len, fresh, cow;
    if (!it__kv_valid_seq(d, seq) || n <= 0) return 0;
    len = d->len[seq];
    fresh = it__kv_blocks_of(d, len + n) - it__kv_blocks_of(d, len);
    cow = len % d->block_size && d->refs[it__kv_table(d, seq)[len / d->block_size]] > 1; /* writes into a shared block */
    return fresh + cow;
}
IT_API it_kv_stats it_kv_cache_stats(const it_batch_decoder *d) {
    it_kv_stats s;
    int i;
    s.n_blocks = d->n_blocks, s.free_blocks = d->n_free, s.shared_blocks = 0, s.block_size = d->block_size;
    s.block_bytes = 2 * d->block_floats * sizeof(float);
    for (i = 0; i < d->n_blocks; i++) s.shared_blocks += d->refs[i] > 1;
    return s;
}
static int32_t it__kv_take(it_batch_decoder *d) {
    int32_t b;
    IT_ASSERT(d->n_free > 0); /* callers count the blocks they need first */
    b = d->free_stack[--d->n_free];
    d->refs[b] = 1;
    return b;
}
static void it__kv_release(it_batch_decoder *d, int32_t b) {
    if (--d->refs[b] == 0) d->free_stack[d->n_free++] = b;
}
/* Block i of seq is shared: give seq its own copy (k and v of every layer). */
static void it__kv_copy_on_write(it_batch_decoder *d, int seq, int i) {
    int32_t *table = it__kv_table(d, seq), old = table[i], fresh = it__kv_take(d);
    memcpy(d->kpool + (size_t)fresh * d->block_floats, d->kpool + (size_t)old * d->block_floats, d->block_floats * sizeof(float));
    memcpy(d->vpool + (size_t)fresh * d->block_floats, d->vpool + (size_t)old * d->block_floats, d->block_floats * sizeof(float));
    it__kv_release(d, old);
    table[i] = fresh;
}
IT_API it_result it_kv_seq_fork(it_batch_decoder *d, int src, int dst, int n) {
    int i, nb;
    if (!it__kv_valid_seq(d, src) || !it__kv_valid_seq(d, dst) || src == dst)
        return it_context_error(d->ctx, IT_ERR_RANGE, "it_kv_seq_fork: sequences %d -> %d (ids 0..%d, different)", src, dst,
                                d->max_seqs - 1);
    if (d->len[dst]) return it_context_error(d->ctx, IT_ERR_STATE, "it_kv_seq_fork: sequence %d is not empty", dst);
    if (n < 0) n = d->len[src];
    if (n > d->len[src])
        return it_context_error(d->ctx, IT_ERR_RANGE, "it_kv_seq_fork: %d tokens of sequence %d, which holds %d", n, src,
                                d->len[src]);
    nb = it__kv_blocks_of(d, n);
    for (i = 0; i < nb; i++) d->refs[it__kv_table(d, dst)[i] = it__kv_table(d, src)[i]]++;
    d->len[dst] = n;
    return IT_OK;
}
IT_API void it_kv_seq_clear(it_batch_decoder *d, int seq) {
    int i, nb;
    if (!it__kv_valid_seq(d, seq)) return;
    nb = it__kv_blocks_of(d, d->len[seq]);
    for (i = 0; i < nb; i++) it__kv_release(d, it__kv_table(d, seq)[i]);
    d->len[seq] = 0;
}
IT_API it_result it_kv_seq_shift(it_batch_decoder *d, int seq, int n) {
    const it_model_config *c = &d->rows.model->config;
    int hd = it_model_head_dim(c), KV = hd * c->n_kv_heads, i, l, nb, drop, freed = 0, copies = 0;
    int32_t *table;
    if (!it__kv_valid_seq(d, seq)) return it_context_error(d->ctx, IT_ERR_RANGE, "it_kv_seq_shift: sequence %d", seq);
    if (c->arch != IT_ARCH_LLAMA)
        return it_context_error(d->ctx, IT_ERR_UNSUPPORTED, "it_kv_seq_shift: GPT-2's learned positions cannot be "
                                "shifted (only rotary keys can be re-rotated)");
    if (n <= 0 || n % d->block_size || n > d->len[seq])
        return it_context_error(d->ctx, IT_ERR_INVALID_ARGUMENT, "it_kv_seq_shift: %d tokens of sequence %d (which holds "
                                "%d): a multiple of the block size %d, at most the length", n, seq, d->len[seq], d->block_size);
    table = it__kv_table(d, seq);
    nb = it__kv_blocks_of(d, d->len[seq]), drop = n / d->block_size;
    for (i = 0; i < nb; i++) {
        if (i < drop) freed += d->refs[table[i]] == 1;
        else copies += d->refs[table[i]] > 1; /* re-rotating a shared block would move the other's keys */
    }
    if (copies > d->n_free + freed)
        return it_context_error(d->ctx, IT_ERR_OUT_OF_MEMORY, "it_kv_seq_shift: sequence %d shares %d blocks and needs "
                                "copies of them, %d blocks free", seq, copies, d->n_free + freed);
    for (i = 0; i < drop; i++) it__kv_release(d, table[i]);
    memmove(table, table + drop, sizeof(int32_t) * (size_t)(nb - drop));
    d->len[seq] -= n;
    for (i = 0; i < nb - drop; i++) {
        int rows = IT__MIN(d->block_size, d->len[seq] - i * d->block_size);
        if (d->refs[table[i]] > 1) it__kv_copy_on_write(d, seq, i);
        for (l = 0; l < c->n_layers; l++) { /* rows x one position each, rotated by -n */
            float *k = d->kpool + (size_t)table[i] * d->block_floats + (size_t)l * d->block_size * KV;
            it_cpu_rope_forward(k, k, rows, 1, c->n_kv_heads, hd, c->rope_theta, &c->rope_scaling, -n);
        }
    }
    return IT_OK;
}

IT_API void it_cpu_paged_attention_forward(float *out, const float *q, const float *k, const float *v, const int32_t *tables,
                                           int table_stride, const int32_t *row_seq, const int32_t *row_pos, int n,
                                           int block_size, size_t block_stride, int Hq, int Hkv, int D, int window) {
    int i, h, p, d;
    float scale = 1.0f / sqrtf((float)D);
    for (i = 0; i < n; i++)
        for (h = 0; h < Hq; h++) {
            const int32_t *table = tables + (size_t)row_seq[i] * table_stride;
            const float *qi = q + ((size_t)i * Hq + h) * D;
            float *oi = out + ((size_t)i * Hq + h) * D, m = -FLT_MAX, sum = 0.0f;
            int first = it__attention_first_key(row_pos[i], window), kvh = h / (Hq / Hkv);
            for (p = first; p <= row_pos[i]; p++) { /* the largest score, then the weighted sum */
                const float *kp = k + (size_t)table[p / block_size] * block_stride + ((size_t)(p % block_size) * Hkv + kvh) * D;
                float sc = scale * it__dot(qi, kp, D);
                m = sc > m ? sc : m;
            }
            for (d = 0; d < D; d++) oi[d] = 0.0f;
            for (p = first; p <= row_pos[i]; p++) {
                size_t at = (size_t)table[p / block_size] * block_stride + ((size_t)(p % block_size) * Hkv + kvh) * D;
                float w = expf(scale * it__dot(qi, k + at, D) - m);
                sum += w;
                for (d = 0; d < D; d++) oi[d] += w * v[at + d];
            }
            for (d = 0; d < D; d++) oi[d] /= sum;
        }
}

/* Attention of one query row and head over its sequence's blocks: out [D] for the query at
   position p against keys first .. p, block by block through the block table (the scores of a
   block through the SGEMM with the cache's row stride, as it__decoder_attention does for the
   contiguous cache; the softmax over all of them; the values accumulated block by block). */
static void it__paged_attention_row(const it__scratch *sc, float *out, float *scores, const float *q, const float *kpool,
                                    const float *vpool, const int32_t *table, int p, int block_size, size_t block_floats,
                                    size_t layer_offset, int kv_head, int Hkv, int D, int window) {
    it__sgemm_isa g = it__sgemm_pick_isa();
    ptrdiff_t ld = (ptrdiff_t)Hkv * D;
    int first = it__attention_first_key(p, window), len = p + 1 - first, j0, d, acc = 0;
    float scale = 1.0f / sqrtf((float)D), m, inv_sum;
    for (j0 = first; j0 <= p;) {
        int blk = j0 / block_size, j1 = IT__MIN(p + 1, (blk + 1) * block_size);
        const float *kb = kpool + (size_t)table[blk] * block_floats + layer_offset + (size_t)(j0 - blk * block_size) * ld +
                          (size_t)kv_head * D;
        it__fa_gemm(&g, sc, scores + (j0 - first), j1 - j0, q, D, 1, kb, 1, ld, 1, j1 - j0, D, 0); /* q K^T */
        j0 = j1;
    }
    m = it__vmax(scores, len);
    inv_sum = 1.0f / it__vexp(scores, scores, len, scale, m * scale, 1.0f); /* exp(scale (s - max)) */
    for (j0 = first; j0 <= p;) {
        int blk = j0 / block_size, j1 = IT__MIN(p + 1, (blk + 1) * block_size);
        const float *vb = vpool + (size_t)table[blk] * block_floats + layer_offset + (size_t)(j0 - blk * block_size) * ld +
                          (size_t)kv_head * D;
        it__fa_gemm(&g, sc, out, D, scores + (j0 - first), j1 - j0, 1, vb, ld, 1, 1, D, j1 - j0, acc); /* += p V */
        acc = 1;
        j0 = j1;
    }
    for (d = 0; d < D; d++) out[d] *= inv_sum;
}
typedef struct it__paged_job { it_batch_decoder *d; int layer, n; } it__paged_job;
/* The (row, head) pairs of a batch split over the pool: every pair writes its own output row. */
static void it__paged_attention_part(void *arg, int part, int n_parts) {
    it__paged_job *job = (it__paged_job *)arg;
    it_batch_decoder *d = job->d;
    const it_model_config *c = &d->rows.model->config;
    int hd = it_model_head_dim(c), Hq = c->n_heads, group = Hq / c->n_kv_heads;
    size_t begin, end, item, layer_offset = (size_t)job->layer * d->block_size * (size_t)hd * c->n_kv_heads;
    it__split((size_t)job->n * Hq, part, n_parts, &begin, &end);
    for (item = begin; item < end; item++) {
        int i = (int)(item / Hq), h = (int)(item % Hq), seq = d->batch->seq[i];
        it__paged_attention_row(&d->ctx->scratch[part], d->rows.att + ((size_t)i * Hq + h) * hd,
                                d->scores + (size_t)part * d->max_context, d->rows.q + ((size_t)i * Hq + h) * hd, d->kpool,
                                d->vpool, it__kv_table(d, seq), d->batch->pos[i], d->block_size, d->block_floats,
                                layer_offset, h / group, c->n_kv_heads, hd, c->sliding_window);
    }
}
/* The batch's new k, v rows into their blocks, then every row's attention. */
static void it__paged_attend(void *self, int l, int n, const int32_t *pos) {
    it_batch_decoder *d = (it_batch_decoder *)self;
    const it_model_config *c = &d->rows.model->config;
    size_t KV = (size_t)it_model_head_dim(c) * c->n_kv_heads;
    it__paged_job job;
    int i;
    for (i = 0; i < n; i++) {
        int p = pos[i];
        size_t at = (size_t)it__kv_table(d, d->batch->seq[i])[p / d->block_size] * d->block_floats +
                    ((size_t)l * d->block_size + (size_t)(p % d->block_size)) * KV;
        memcpy(d->kpool + at, d->rows.k + (size_t)i * KV, sizeof(float) * KV);
        memcpy(d->vpool + at, d->rows.v + (size_t)i * KV, sizeof(float) * KV);
    }
    job.d = d, job.layer = l, job.n = n;
    it__pool_run(&d->ctx->pool, it__paged_attention_part, &job, IT__MIN(d->ctx->n_threads, n * c->n_heads));
}
IT_API it_result it_batch_decode(it_batch_decoder *d, const it_batch *b) {
    it_model *m = d->rows.model;
    const it_model_config *c = &m->config;
    int n = b->n_tokens, i, s, n_logits = 0, need = 0;
    it_result r;
    if (n < 1 || n > d->max_batch)
        return it_context_error(d->ctx, IT_ERR_INVALID_ARGUMENT, "it_batch_decode: %d rows (1..%d, max_batch)", n, d->max_batch);
    if ((r = it__decoder_check_ids(d->ctx, "it_batch_decode", b->token, n, c->vocab_size, &d->rows)) != IT_OK) return r;
    memset(d->added, 0, sizeof(int32_t) * (size_t)d->max_seqs);
    for (i = 0; i < n; i++) {
        int seq = b->seq[i], want;
        if (!it__kv_valid_seq(d, seq))
            return it_context_error(d->ctx, IT_ERR_RANGE, "it_batch_decode: row %d: sequence %d outside 0..%d", i, seq,
                                    d->max_seqs - 1);
        want = d->len[seq] + d->added[seq];
        if (want >= d->max_context)
            return it_context_error(d->ctx, IT_ERR_RANGE, "it_batch_decode: row %d: sequence %d is full (context full: "
                                    "%d tokens, max_context)", i, seq, d->max_context);
        if (b->pos[i] != want)
            return it_context_error(d->ctx, IT_ERR_RANGE, "it_batch_decode: row %d: position %d of sequence %d, expected "
                                    "%d (its length plus its earlier rows)", i, b->pos[i], seq, want);
        d->added[seq]++;
        n_logits += b->logits[i] != 0;
    }
    if (n_logits > d->max_logits)
        return it_context_error(d->ctx, IT_ERR_INVALID_ARGUMENT, "it_batch_decode: %d rows ask for logits (max_logits %d)",
                                n_logits, d->max_logits);
    for (s = 0; s < d->max_seqs; s++) need += it_kv_seq_blocks_needed(d, s, d->added[s]);
    if (need > d->n_free)
        return it_context_error(d->ctx, IT_ERR_OUT_OF_MEMORY, "it_batch_decode: the KV pool is exhausted: the batch needs "
                                "%d free blocks, %d of %d are free", need, d->n_free, d->n_blocks);
    for (s = 0; s < d->max_seqs; s++) { /* every block the rows will write, owned by their sequence alone */
        int len = d->len[s], nb = it__kv_blocks_of(d, len), grow = it__kv_blocks_of(d, len + d->added[s]);
        if (!d->added[s]) continue;
        if (len % d->block_size && d->refs[it__kv_table(d, s)[nb - 1]] > 1) it__kv_copy_on_write(d, s, nb - 1);
        for (i = nb; i < grow; i++) it__kv_table(d, s)[i] = it__kv_take(d);
    }
    it__sync(d->ctx); /* the decoder reads the parameters on the CPU */
    d->batch = b;
    it__decoder_embed(&d->rows, b->token, b->pos, n);
    it__decoder_layers(&d->rows, n, b->pos, it__paged_attend, d);
    d->batch = NULL;
    for (i = 0, n_logits = 0; i < n; i++) { /* the rows that ask, through the head together */
        d->logit_slot[i] = b->logits[i] ? n_logits : -1;
        if (b->logits[i])
            memcpy(d->last_rows + (size_t)n_logits++ * c->dim, d->rows.x + (size_t)i * c->dim, sizeof(float) * (size_t)c->dim);
    }
    if (n_logits) it__decoder_head(&d->rows, d->logits, d->last_rows, n_logits);
    for (s = 0; s < d->max_seqs; s++) d->len[s] += d->added[s];
    d->n_rows = n;
    return IT_OK;
}
IT_API const float *it_batch_logits(const it_batch_decoder *d, int i) {
    if (i < 0 || i >= d->n_rows || d->logit_slot[i] < 0) return NULL;
    return d->logits + (size_t)d->logit_slot[i] * d->rows.model->config.vocab_size;
}

/* >>batch  sampling and the continuous batcher ----------------------------------------------------
   A sample (one of a request's n) lives in a slot = a sequence id of the batch decoder. States:
   prefill (its prompt goes in, chunk by chunk), waiting (a sibling of a prefilling sample: it is
   forked from that one's blocks once the prompt is in, and samples from the same logits),
   decoding (its last sampled token goes in next step). A step puts one row per decoding sample
   first, so prompts never delay tokens already streaming, then prompt chunks up to max_batch. */
IT_API const char *it_finish_reason_name(it_finish_reason r) {
    switch (r) {
#define IT__FINISH_CASE(id, text) case id: return text;
        IT_FINISH_LIST(IT__FINISH_CASE)
#undef IT__FINISH_CASE
    default: return "invalid";
    }
}
IT_API int32_t it_sample(const it_sampling *s, it_rng *r, const float *logits, int V, float *scratch, int *scratch_index) {
    float top_p = s->top_p > 0.0f && s->top_p < 1.0f ? s->top_p : 1.0f;
    const float *l = logits;
    if (s->temperature <= 0.0f) return it_cpu_sample(logits, V, 0.0f, 0, 1.0f, 0.0f, scratch, scratch_index);
    if (s->min_p > 0.0f && s->min_p <= 1.0f) { /* p_i >= min_p p_max  <=>  l_i >= l_max + T log(min_p) */
        float m = -FLT_MAX, cut, *masked = scratch + V;
        int i;
        for (i = 0; i < V; i++) m = logits[i] > m ? logits[i] : m;
        cut = m + s->temperature * logf(s->min_p);
        for (i = 0; i < V; i++) masked[i] = logits[i] >= cut ? logits[i] : -INFINITY;
        l = masked;
    }
    return it_cpu_sample(l, V, s->temperature, s->top_k, top_p, it_rng_uniform(r), scratch, scratch_index);
}

enum { IT__GEN_FREE = 0, IT__GEN_PREFILL, IT__GEN_WAITING, IT__GEN_DECODING };
typedef struct it__gen_request {
    int32_t *prompt, *stop_ids; /* copies, one allocation */
    int n_prompt, n_stop_ids, max_tokens, n, first_id, admitted, live;
    it_sampling sampling;
    void *user;
    int8_t *cancelled;          /* [n] before admission */
} it__gen_request;
typedef struct it__gen_slot {
    int state, id, index, generated, cancel;
    int prefilled;              /* prompt tokens in the cache */
    int32_t next;               /* the token to feed next (decoding) */
    int leader;                 /* waiting: the slot whose prompt it shares */
    it__gen_request *req;
    it_rng rng;
} it__gen_slot;
struct it_generator {
    it_context *ctx;
    it_batch_decoder *dec;
    it_batch *batch;
    int context_shift, next_id, vocab;
    it__gen_slot *slots;        /* [max_seqs] */
    int32_t *tokens;            /* [max_seqs, max_context]: what each slot's cache holds */
    it__gen_request **queue;    /* every request with live samples, in submit order */
    int n_queue, cap_queue;
    it_generation_event *events;
    int n_events, cap_events;
    float *probs;               /* [2 vocab] */
    int *order;                 /* [vocab] */
    int64_t prompt_computed, prompt_shared;
};
IT_API it_result it_generator_create(it_model *m, const it_generator_desc *desc, it_generator **out) {
    it_context *ctx = m->ctx;
    it_generator_desc o;
    it_generator *g;
    it_result r;
    int S, T, V = m->config.vocab_size;
    *out = NULL;
    if (desc) o = *desc;
    else memset(&o, 0, sizeof o);
    g = (it_generator *)it__object_new(ctx, IT__OBJ_GENERATOR, sizeof(it_generator));
    if (!g) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_generator_create: out of memory");
    g->ctx = ctx;
    if ((r = it_batch_decoder_create(m, &o.cache, &g->dec)) != IT_OK) {
        it__object_drop(ctx, g);
        return r;
    }
    S = g->dec->max_seqs, T = g->dec->max_context;
    g->context_shift = o.context_shift;
    g->vocab = V;
    g->slots = (it__gen_slot *)it__calloc(ctx, sizeof(it__gen_slot) * (size_t)S);
    g->tokens = (int32_t *)it__alloc_array(ctx, (size_t)S * T, sizeof(int32_t));
    g->probs = (float *)it__alloc_array(ctx, 2 * (size_t)V, sizeof(float));
    g->order = (int *)it__alloc_array(ctx, (size_t)V, sizeof(int));
    r = g->slots && g->tokens && g->probs && g->order ? it_batch_create(ctx, g->dec->max_batch, &g->batch) : IT_ERR_OUT_OF_MEMORY;
    if (r == IT_OK) r = it__own(ctx, g, (void (*)(void *))it_generator_destroy, "it_generator_create");
    else {
        it_generator_destroy(g);
        if (r == IT_ERR_OUT_OF_MEMORY) it_context_error(ctx, r, "it_generator_create: out of memory");
    }
    if (r != IT_OK) return r;
    *out = g;
    return IT_OK;
}
static void it__gen_request_free(it_generator *g, it__gen_request *q) {
    int i;
    for (i = 0; i < g->n_queue; i++)
        if (g->queue[i] == q) {
            memmove(g->queue + i, g->queue + i + 1, sizeof(*g->queue) * (size_t)(g->n_queue - i - 1));
            g->n_queue--;
            break;
        }
    it__free(g->ctx, q->prompt);
    it__free(g->ctx, q);
}
IT_API void it_generator_destroy(it_generator *g) {
    if (!g) return;
    it__object_check(g, IT__OBJ_GENERATOR, "it_generator_destroy");
    it__disown(g->ctx, g);
    while (g->n_queue) it__gen_request_free(g, g->queue[0]);
    it__free(g->ctx, g->queue);
    it__free(g->ctx, g->events);
    it_batch_destroy(g->batch);
    it_batch_decoder_destroy(g->dec);
    it__free(g->ctx, g->slots);
    it__free(g->ctx, g->tokens);
    it__free(g->ctx, g->probs);
    it__free(g->ctx, g->order);
    it__object_retire(g);
}
IT_API it_batch_decoder *it_generator_decoder(it_generator *g) { return g->dec; }
IT_API void it_generator_counts(const it_generator *g, int64_t *prompt_computed, int64_t *prompt_shared) {
    if (prompt_computed) *prompt_computed = g->prompt_computed;
    if (prompt_shared) *prompt_shared = g->prompt_shared;
}
IT_API int it_generator_pending(const it_generator *g) {
    int i, j, n = 0;
    for (i = 0; i < g->dec->max_seqs; i++) n += g->slots[i].state != IT__GEN_FREE;
    for (i = 0; i < g->n_queue; i++)
        if (!g->queue[i]->admitted)
            for (j = 0; j < g->queue[i]->n; j++) n += !g->queue[i]->cancelled[j];
    return n;
}
IT_API it_result it_generator_submit(it_generator *g, const it_request *req, int *ids) {
    it_batch_decoder *d = g->dec;
    int n = req->n ? req->n : 1, i;
    size_t words;
    it__gen_request *q;
    it_result r;
    if (!req->prompt || req->n_prompt < 1 || req->n_prompt >= d->max_context)
        return it_context_error(g->ctx, IT_ERR_RANGE, "it_generator_submit: a prompt of %d tokens (1..%d: the context "
                                "holds %d, one is left for the answer)", req->n_prompt, d->max_context - 1, d->max_context);
    if (n < 1 || n > d->max_seqs || req->max_tokens < 0 || req->n_stop_ids < 0 || (req->n_stop_ids && !req->stop_ids))
        return it_context_error(g->ctx, IT_ERR_INVALID_ARGUMENT, "it_generator_submit: n %d (1..%d, max_seqs), max_tokens "
                                "%d and n_stop_ids %d (>= 0)", n, d->max_seqs, req->max_tokens, req->n_stop_ids);
    if ((r = it__decoder_check_ids(g->ctx, "it_generator_submit", req->prompt, req->n_prompt, g->vocab, NULL)) != IT_OK) return r;
    if (it__grow_array(g->ctx, (void **)&g->queue, &g->cap_queue, g->n_queue + 1, sizeof(*g->queue)) != IT_OK ||
        !(q = (it__gen_request *)it__calloc(g->ctx, sizeof(it__gen_request))))
        return it_context_error(g->ctx, IT_ERR_OUT_OF_MEMORY, "it_generator_submit: out of memory");
    words = (size_t)req->n_prompt + (size_t)req->n_stop_ids + (size_t)n / 4 + 1;
    if (!(q->prompt = (int32_t *)it__alloc_array(g->ctx, words, sizeof(int32_t)))) {
        it__free(g->ctx, q);
        return it_context_error(g->ctx, IT_ERR_OUT_OF_MEMORY, "it_generator_submit: out of memory for %d tokens", req->n_prompt);
    }
    q->stop_ids = q->prompt + req->n_prompt;
    q->cancelled = (int8_t *)(q->stop_ids + req->n_stop_ids);
    memcpy(q->prompt, req->prompt, sizeof(int32_t) * (size_t)req->n_prompt);
    if (req->n_stop_ids) memcpy(q->stop_ids, req->stop_ids, sizeof(int32_t) * (size_t)req->n_stop_ids);
    memset(q->cancelled, 0, (size_t)n);
    q->n_prompt = req->n_prompt, q->n_stop_ids = req->n_stop_ids, q->max_tokens = req->max_tokens, q->n = n;
    q->sampling = req->sampling, q->user = req->user, q->first_id = g->next_id, q->live = n;
    g->next_id += n;
    for (i = 0; i < n; i++) ids[i] = q->first_id + i;
    g->queue[g->n_queue++] = q;
    return IT_OK;
}
IT_API void it_generator_cancel(it_generator *g, int id) {
    int i;
    for (i = 0; i < g->dec->max_seqs; i++)
        if (g->slots[i].state != IT__GEN_FREE && g->slots[i].id == id) g->slots[i].cancel = 1;
    for (i = 0; i < g->n_queue; i++) {
        it__gen_request *q = g->queue[i];
        if (!q->admitted && id >= q->first_id && id < q->first_id + q->n) q->cancelled[id - q->first_id] = 1;
    }
}
static void it__gen_event(it_generator *g, int id, int index, int32_t token, it_finish_reason finish, void *user) {
    it_generation_event *e;
    /* the array only grows while a step reports: at most one event per sample alive */
    if (it__grow_array(g->ctx, (void **)&g->events, &g->cap_events, g->n_events + 1, sizeof(*g->events)) != IT_OK) return;
    e = &g->events[g->n_events++];
    e->id = id, e->index = index, e->token = token, e->finish = finish, e->user = user;
}
/* A sample ends: its event, its blocks back to the pool, its request freed with its last sample. */
static void it__gen_finish(it_generator *g, int s, int32_t token, it_finish_reason why) {
    it__gen_slot *sl = &g->slots[s];
    it__gen_event(g, sl->id, sl->index, token, why, sl->req->user);
    it_kv_seq_clear(g->dec, s);
    if (--sl->req->live == 0) it__gen_request_free(g, sl->req);
    memset(sl, 0, sizeof(*sl));
}
/* The longest run of whole blocks at the start of prompt that a running slot's cache holds. */
static int it__gen_shared_prefix(it_generator *g, const int32_t *prompt, int n_prompt, int *from) {
    it_batch_decoder *d = g->dec;
    int s, best = 0, B = d->block_size;
    for (s = 0; s < d->max_seqs; s++) {
        const int32_t *t = g->tokens + (size_t)s * d->max_context;
        int held = d->len[s], n = 0;
        if (g->slots[s].state == IT__GEN_FREE || g->slots[s].state == IT__GEN_WAITING) continue;
        while (n + B <= held && n + B < n_prompt && !memcmp(t + n, prompt + n, sizeof(int32_t) * (size_t)B)) n += B;
        if (n > best) best = n, *from = s;
    }
    return best;
}
/* Moves queued requests into free slots, first come first served, while slots and blocks last. */
static void it__gen_admit(it_generator *g) {
    it_batch_decoder *d = g->dec;
    int qi, s, i;
    for (qi = 0; qi < g->n_queue; qi++) {
        it__gen_request *q = g->queue[qi];
        int want = 0, free_slots = 0, from = -1, shared, blocks, leader = -1, running = 0;
        if (q->admitted) continue;
        for (i = 0; i < q->n; i++) want += !q->cancelled[i];
        for (s = 0; s < d->max_seqs; s++) free_slots += g->slots[s].state == IT__GEN_FREE, running += g->slots[s].state != IT__GEN_FREE;
        if (want == 0) { /* every sample cancelled while queued */
            for (i = 0; i < q->n; i++) it__gen_event(g, q->first_id + i, i, -1, IT_FINISH_CANCELLED, q->user);
            it__gen_request_free(g, q);
            qi--;
            continue;
        }
        if (free_slots < want) return;
        shared = it__gen_shared_prefix(g, q->prompt, q->n_prompt, &from);
        blocks = it__kv_blocks_of(d, q->n_prompt) - shared / d->block_size + want; /* + each sample's first write */
        if (blocks > d->n_free) {
            if (running) return; /* wait for running samples to give blocks back */
            for (i = 0; i < q->n; i++) /* the pool can never hold this prompt */
                it__gen_event(g, q->first_id + i, i, -1, q->cancelled[i] ? IT_FINISH_CANCELLED : IT_FINISH_CACHE_FULL, q->user);
            it__gen_request_free(g, q);
            qi--;
            continue;
        }
        q->admitted = 1;
        q->live = want;
        for (i = 0, s = 0; i < q->n; i++) {
            it__gen_slot *sl;
            if (q->cancelled[i]) {
                it__gen_event(g, q->first_id + i, i, -1, IT_FINISH_CANCELLED, q->user);
                continue;
            }
            while (g->slots[s].state != IT__GEN_FREE) s++;
            sl = &g->slots[s];
            sl->id = q->first_id + i, sl->index = i, sl->req = q;
            it_rng_seed(&sl->rng, q->sampling.seed + (uint64_t)i);
            if (leader < 0) {
                leader = s;
                sl->state = IT__GEN_PREFILL;
                memcpy(g->tokens + (size_t)s * d->max_context, q->prompt, sizeof(int32_t) * (size_t)q->n_prompt);
                if (shared) it_kv_seq_fork(d, from, s, shared); /* cannot fail: s is empty, from holds them */
                sl->prefilled = shared;
                g->prompt_shared += shared;
            } else {
                sl->state = IT__GEN_WAITING;
                sl->leader = leader;
            }
            s++;
        }
    }
}
/* A sampled token of slot s: report it, and end the sample on a stop token or at max_tokens. */
static void it__gen_sampled(it_generator *g, int s, const float *logits) {
    it__gen_slot *sl = &g->slots[s];
    it__gen_request *q = sl->req;
    int32_t t = it_sample(&q->sampling, &sl->rng, logits, g->vocab, g->probs, g->order);
    int i;
    sl->generated++;
    for (i = 0; i < q->n_stop_ids; i++)
        if (q->stop_ids[i] == t) {
            it__gen_finish(g, s, t, IT_FINISH_STOP);
            return;
        }
    if (q->max_tokens && sl->generated >= q->max_tokens) {
        it__gen_finish(g, s, t, IT_FINISH_LENGTH);
        return;
    }
    it__gen_event(g, sl->id, sl->index, t, IT_FINISH_NONE, q->user);
    sl->state = IT__GEN_DECODING;
    sl->next = t;
}
IT_API it_result it_generator_step(it_generator *g, const it_generation_event **events, int *n_events) {
    it_batch_decoder *d = g->dec;
    it_batch *b = g->batch;
    int s, i, free_blocks, T = d->max_context;
    it_result r;
    g->n_events = 0;
    for (s = 0; s < d->max_seqs; s++) /* cancellations first: their blocks serve this step */
        if (g->slots[s].state != IT__GEN_FREE && g->slots[s].cancel) it__gen_finish(g, s, -1, IT_FINISH_CANCELLED);
    for (s = 0; s < d->max_seqs; s++) /* a waiting sample whose leader went away prefills itself */
        if (g->slots[s].state == IT__GEN_WAITING && g->slots[g->slots[s].leader].req != g->slots[s].req) {
            g->slots[s].state = IT__GEN_PREFILL;
            memcpy(g->tokens + (size_t)s * T, g->slots[s].req->prompt, sizeof(int32_t) * (size_t)g->slots[s].req->n_prompt);
        }
    it__gen_admit(g);
    it_batch_clear(b);
    free_blocks = d->n_free;
    for (s = 0; s < d->max_seqs; s++) { /* one row per decoding sample */
        it__gen_slot *sl = &g->slots[s];
        int need;
        if (sl->state != IT__GEN_DECODING) continue;
        if (d->len[s] >= T) {
            if (!g->context_shift || d->rows.model->config.arch != IT_ARCH_LLAMA || T <= d->block_size) {
                it__gen_finish(g, s, -1, IT_FINISH_CONTEXT);
                continue;
            }
            if (it_kv_seq_shift(d, s, d->block_size) != IT_OK) { /* no block to copy a shared one into */
                it__gen_finish(g, s, -1, IT_FINISH_CACHE_FULL);
                continue;
            }
            memmove(g->tokens + (size_t)s * T, g->tokens + (size_t)s * T + d->block_size, sizeof(int32_t) * (size_t)(T - d->block_size));
            free_blocks = d->n_free;
        }
        need = it_kv_seq_blocks_needed(d, s, 1);
        if (need > free_blocks) {
            it__gen_finish(g, s, -1, IT_FINISH_CACHE_FULL);
            continue;
        }
        free_blocks -= need;
        g->tokens[(size_t)s * T + d->len[s]] = sl->next;
        it_batch_add(b, sl->next, d->len[s], s, 1);
    }
    for (s = 0; s < d->max_seqs && b->n_tokens < b->capacity; s++) { /* then prompt chunks */
        it__gen_slot *sl = &g->slots[s];
        int chunk, need;
        if (sl->state != IT__GEN_PREFILL) continue;
        chunk = IT__MIN(sl->req->n_prompt - sl->prefilled, b->capacity - b->n_tokens);
        while (chunk > 0 && (need = it_kv_seq_blocks_needed(d, s, chunk)) > free_blocks)
            chunk = IT__MIN(chunk - 1, (d->len[s] / d->block_size + free_blocks) * d->block_size - d->len[s]);
        if (chunk <= 0) continue; /* waits for blocks */
        free_blocks -= it_kv_seq_blocks_needed(d, s, chunk);
        for (i = 0; i < chunk; i++)
            it_batch_add(b, sl->req->prompt[sl->prefilled + i], sl->prefilled + i, s, sl->prefilled + i == sl->req->n_prompt - 1);
        sl->prefilled += chunk;
        g->prompt_computed += chunk;
    }
    if (b->n_tokens) {
        if ((r = it_batch_decode(d, b)) != IT_OK) return r;
        for (i = 0; i < b->n_tokens; i++) {
            const float *logits = it_batch_logits(d, i);
            int j;
            if (!logits) continue;
            s = b->seq[i];
            if (g->slots[s].state == IT__GEN_PREFILL) /* the prompt is in: its waiting siblings share it */
                for (j = 0; j < d->max_seqs; j++)
                    if (g->slots[j].state == IT__GEN_WAITING && g->slots[j].leader == s && g->slots[j].req == g->slots[s].req) {
                        it_kv_seq_fork(d, s, j, -1);
                        memcpy(g->tokens + (size_t)j * T, g->tokens + (size_t)s * T, sizeof(int32_t) * (size_t)d->len[s]);
                        g->prompt_shared += d->len[s];
                        it__gen_sampled(g, j, logits);
                    }
            it__gen_sampled(g, s, logits);
        }
    } else if (it_generator_pending(g) && !g->n_events) {
        for (s = 0; s < d->max_seqs; s++) /* nothing can move: the pool is too small for what is running */
            if (g->slots[s].state == IT__GEN_PREFILL) it__gen_finish(g, s, -1, IT_FINISH_CACHE_FULL);
    }
    *events = g->events;
    *n_events = g->n_events;
    return IT_OK;
}

/* >>comm ----------------------------------------------------------------------------------------
   The one-rank communicator every context has, the blocking helpers, and the gradient sync: the
   block cut into buckets of whole parameters (from the last declared, which the backward reaches
   first), the runner's hook that starts a bucket once no later node writes its gradients, and
   the ZeRO-1 parts of the optimizer step. The overlap follows PyTorch DDP's gradient buckets;
   the sharded update llm.c's -z 1. */
static it_result it__single_all_reduce_start(it_comm *c, float *buf, size_t n, int *request) {
    (void)c, (void)buf, (void)n;
    *request = 0;
    return IT_OK; /* the sum over one rank is the buffer itself */
}
static it_result it__single_test(it_comm *c, int request, int *done) {
    (void)c, (void)request;
    *done = 1;
    return IT_OK;
}
static it_result it__single_wait(it_comm *c, int request) { return (void)c, (void)request, IT_OK; }
static it_result it__single_broadcast(it_comm *c, void *buf, size_t bytes, int root) {
    return (void)c, (void)buf, (void)bytes, (void)root, IT_OK;
}
static it_result it__single_barrier(it_comm *c) { return (void)c, IT_OK; }
static it_result it__single_floats(it_comm *c, float *buf, size_t n) { return (void)c, (void)buf, (void)n, IT_OK; }
static void it__comm_single_init(it_comm *c) {
    memset(c, 0, sizeof *c);
    c->rank = 0, c->size = 1;
    c->all_reduce_start = it__single_all_reduce_start;
    c->test = it__single_test;
    c->wait = it__single_wait;
    c->broadcast = it__single_broadcast;
    c->barrier = it__single_barrier;
    c->reduce_scatter_sum = it__single_floats;
    c->all_gather = it__single_floats;
    /* abort stays NULL: with one rank the caller's own exit ends the run (it_comm_abort returns) */
}
IT_API it_comm *it_context_comm(it_context *ctx) {
    IT__NOT_NULL(ctx, "it_context_comm");
    return ctx->comm;
}
IT_API void it_comm_part(size_t n, int size, int rank, size_t *begin, size_t *end) {
    size_t part = size > 0 ? ((n + (size_t)size - 1) / (size_t)size + 15) / 16 * 16 : n;
    *begin = IT__MIN((size_t)rank * part, n);
    *end = IT__MIN(*begin + part, n);
}
IT_API it_result it_comm_all_reduce_sum(it_comm *c, float *buf, size_t n) {
    int request;
    it_result r = c->all_reduce_start(c, buf, n, &request);
    return r == IT_OK ? c->wait(c, request) : r;
}
IT_API it_result it_comm_broadcast(it_comm *c, void *buf, size_t bytes, int root) { return c->broadcast(c, buf, bytes, root); }
IT_API it_result it_comm_barrier(it_comm *c) { return c->barrier(c); }
IT_API void it_comm_abort(it_comm *c, int code) {
    if (c && c->abort) c->abort(c, code);
}

static double it__seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static it_result it__comm_failed(it_context *ctx, it_result r, const char *what) {
    return it_context_error(ctx, r, "data parallel (rank %d of %d): %s: %s", ctx->comm->rank, ctx->comm->size, what,
                            ctx->comm->error[0] ? ctx->comm->error : it_result_string(r));
}

/* Buckets of about bucket_floats, made once the gradient block is laid out: walking the
   trainable parameters from the last declared (the backward's first) to the first, a bucket
   closes when it is big enough. Each covers [offset of its first parameter, offset of the next
   bucket), so together they cover the whole block, padding included. */
static it_result it__grad_sync_buckets(it_context *ctx) {
    it__grad_sync *gs = &ctx->gsync;
    size_t *offs, hi;
    int i, n = 0, j;
    if (gs->buckets) return IT_OK;
    if (!ctx->grad_block) return it_context_error(ctx, IT_ERR_STATE, "gradient sync: the gradients are not allocated yet");
    offs = (size_t *)it__alloc_array(ctx, (size_t)ctx->n_params + 1, sizeof(size_t));
    gs->buckets = (it__grad_bucket *)it__alloc_array(ctx, (size_t)ctx->n_params + 1, sizeof(it__grad_bucket));
    gs->order = (int *)it__alloc_array(ctx, (size_t)ctx->n_params + 1, sizeof(int));
    if (!offs || !gs->buckets || !gs->order) {
        it__free(ctx, offs), it__free(ctx, gs->buckets), it__free(ctx, gs->order);
        gs->buckets = NULL, gs->order = NULL;
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "gradient sync: out of memory");
    }
    for (i = 0; i < ctx->n_params; i++)
        if (ctx->params[i]->grad) offs[n++] = ctx->params[i]->grad->offset / sizeof(float);
    hi = ctx->grad_numel;
    gs->n_buckets = 0;
    for (j = n - 1; j >= 0; j--)
        if (hi - offs[j] >= gs->bucket_floats || j == 0) {
            it__grad_bucket *b = &gs->buckets[gs->n_buckets++];
            memset(b, 0, sizeof *b);
            b->begin = j == 0 ? 0 : offs[j], b->end = hi;
            hi = b->begin;
        }
    it__free(ctx, offs);
    gs->stats.buckets = gs->n_buckets;
    return IT_OK;
}
/* The bucket holding gradient float `off` (buckets run from the block's end to its start). */
static int it__grad_bucket_of(const it__grad_sync *gs, size_t off) {
    int lo = 0, hi = gs->n_buckets - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (off >= gs->buckets[mid].begin) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}
/* A node that writes t's gradient at run position `at`: its bucket is final no earlier. */
static void it__grad_sync_mark(it__grad_sync *gs, it_tensor *t, int at) {
    it__grad_bucket *b;
    if (!t) return;
    t = it__root(t);
    if (t->kind != IT_KIND_PARAM || !t->grad) return;
    b = &gs->buckets[it__grad_bucket_of(gs, t->grad->offset / sizeof(float))];
    if (at > b->ready_at) b->ready_at = at;
}
IT_API it_result it_grad_sync_arm(it_graph *g) {
    it_context *ctx;
    it__grad_sync *gs;
    int i, k, p;
    it_result r;
    IT__NOT_NULL(g, "it_grad_sync_arm");
    ctx = g->ctx, gs = &ctx->gsync;
    if (ctx->comm->size == 1 || gs->zero) return IT_OK;
    if (!g->planned) return it_context_error(ctx, IT_ERR_STATE, "it_grad_sync_arm: plan the graph first");
    if ((r = it__grad_sync_buckets(ctx)) != IT_OK) return r;
    for (i = 0; i < gs->n_buckets; i++)
        if (gs->buckets[i].started == 1)
            return it_context_error(ctx, IT_ERR_STATE, "it_grad_sync_arm: the last step's sync was not waited for "
                                    "(it_optimizer_step or it_grad_sync_wait)");
    if (ctx->backend != &ctx->cpu.be) return IT_OK; /* a device's nodes finish later: everything is summed after the run */
    for (i = 0; i < gs->n_buckets; i++) gs->buckets[i].ready_at = -1, gs->buckets[i].started = 0;
    for (i = 0; i < g->n_nodes; i++) /* a loss that writes its inputs' gradients in its forward */
        if (it_op_flags(g->nodes[i].op) & IT_OP_LOSS_GRADS_IN_FORWARD)
            for (k = 0; k < g->nodes[i].n_in; k++) it__grad_sync_mark(gs, g->nodes[i].in[k], i);
    for (p = 0; p < g->n_sched; p++)
        if (g->sched[p] >= 0) { /* a backward (recomputed forwards write no gradients) */
            const it_node *n = &g->nodes[g->sched[p]];
            for (k = 0; k < n->n_in; k++) it__grad_sync_mark(gs, n->in[k], g->n_nodes + p);
        }
    for (i = 0; i < gs->n_buckets; i++) { /* start order: by ready_at (insertion sort: few buckets) */
        int b = i, j = i;
        for (; j > 0 && gs->buckets[gs->order[j - 1]].ready_at > gs->buckets[b].ready_at; j--) gs->order[j] = gs->order[j - 1];
        gs->order[j] = b;
    }
    gs->next = 0;
    gs->armed = g;
    return IT_OK;
}
static it_result it__grad_bucket_start(it_context *ctx, it__grad_bucket *b) {
    it_result r = ctx->comm->all_reduce_start(ctx->comm, ctx->grad_block + b->begin, b->end - b->begin, &b->request);
    if (r != IT_OK) return it__comm_failed(ctx, r, "starting a gradient all-reduce");
    b->started = 1;
    ctx->gsync.stats.bytes += (double)(b->end - b->begin) * sizeof(float);
    return IT_OK;
}
/* After run position t of the armed graph: start the buckets that are final, and let the engine
   progress the ones in flight. */
static it_result it__grad_sync_after(it_graph *g, int t) {
    it_context *ctx = g->ctx;
    it__grad_sync *gs = &ctx->gsync;
    it_comm *c = ctx->comm;
    it_result r;
    int i, done;
    for (; gs->next < gs->n_buckets && gs->buckets[gs->order[gs->next]].ready_at <= t; gs->next++)
        if ((r = it__grad_bucket_start(ctx, &gs->buckets[gs->order[gs->next]])) != IT_OK) return r;
    for (i = 0; c->test && i < gs->next; i++) {
        it__grad_bucket *b = &gs->buckets[gs->order[i]];
        if (b->started != 1) continue;
        if ((r = c->test(c, b->request, &done)) != IT_OK) return it__comm_failed(ctx, r, "a gradient all-reduce");
        if (done) b->started = 2;
    }
    return IT_OK;
}
IT_API it_result it_grad_sync_wait(it_context *ctx) {
    it__grad_sync *gs = &ctx->gsync;
    it_result r = IT_OK;
    double t0;
    int i;
    IT__NOT_NULL(ctx, "it_grad_sync_wait");
    if (ctx->comm->size == 1) return IT_OK;
    it__sync(ctx); /* a device may still be writing gradients */
    if ((r = it__grad_sync_buckets(ctx)) != IT_OK) return r;
    gs->armed = NULL;
    t0 = it__seconds();
    for (i = 0; i < gs->n_buckets && r == IT_OK; i++)
        if (!gs->buckets[i].started) r = it__grad_bucket_start(ctx, &gs->buckets[i]);
    for (i = 0; i < gs->n_buckets; i++) { /* every started one is waited for, even after an error */
        it__grad_bucket *b = &gs->buckets[i];
        if (b->started == 1) {
            it_result w = ctx->comm->wait(ctx->comm, b->request);
            if (w != IT_OK && r == IT_OK) r = it__comm_failed(ctx, w, "waiting for a gradient all-reduce");
        }
        b->started = 0;
    }
    gs->stats.wait_seconds += it__seconds() - t0;
    gs->stats.steps++;
    return r;
}
IT_API it_grad_sync_stats it_grad_sync_get_stats(it_context *ctx) {
    IT__NOT_NULL(ctx, "it_grad_sync_get_stats");
    if (ctx->comm->size > 1 && !ctx->gsync.buckets && ctx->grad_block && !ctx->gsync.zero) it__grad_sync_buckets(ctx);
    return ctx->gsync.stats;
}

/* ZeRO-1: sum the block so that this rank's part is whole (the rest is left undefined). */
static it_result it__zero_reduce_scatter(it_context *ctx) {
    double t0 = it__seconds();
    it_result r;
    it__sync(ctx);
    r = ctx->comm->reduce_scatter_sum(ctx->comm, ctx->grad_block, ctx->grad_numel);
    ctx->gsync.stats.wait_seconds += it__seconds() - t0;
    ctx->gsync.stats.bytes += (double)ctx->grad_numel * sizeof(float);
    ctx->gsync.stats.steps++;
    return r == IT_OK ? IT_OK : it__comm_failed(ctx, r, "reduce-scatter of the gradients");
}
/* The squared norm of this rank's part to the global one. A double travels as two floats (its
   float value and the remainder), so the sum keeps about 48 bits. */
static it_result it__zero_norm_sum(it_context *ctx, double *sum_squares) {
    float parts[2];
    it_result r;
    parts[0] = (float)*sum_squares;
    parts[1] = (float)(*sum_squares - (double)parts[0]);
    if ((r = it_comm_all_reduce_sum(ctx->comm, parts, 2)) != IT_OK) return it__comm_failed(ctx, r, "summing the gradient norm");
    *sum_squares = (double)parts[0] + (double)parts[1];
    return IT_OK;
}
/* Squares of p's gradient inside the gradient floats [begin, end). */
static double it__grad_sum_squares(const it_tensor *p, size_t begin, size_t end) {
    size_t g0 = p->grad->offset / sizeof(float), lo = IT__MAX(g0, begin), hi = IT__MIN(g0 + p->numel, end);
    return lo < hi ? it_cpu_sum_squares(p->ctx->grad_block + lo, hi - lo) : 0.0;
}
/* After updating the weights of the gradient floats [begin, end): every rank's updated part is
   gathered through the gradient block (laid out like the trainable weights, and no longer
   needed), then copied back. Afterwards the gradient block holds the weights. */
static it_result it__zero_all_gather_weights(it_context *ctx, size_t begin, size_t end) {
    double t0 = it__seconds();
    it_result r;
    int i;
    for (i = 0; i < ctx->n_params; i++) {
        it_tensor *p = ctx->params[i];
        size_t g0, lo, hi;
        if (!p->grad) continue;
        g0 = p->grad->offset / sizeof(float), lo = IT__MAX(g0, begin), hi = IT__MIN(g0 + p->numel, end);
        if (lo < hi) memcpy(ctx->grad_block + lo, ctx->param_block + p->offset / sizeof(float) + (lo - g0), (hi - lo) * sizeof(float));
    }
    r = ctx->comm->all_gather(ctx->comm, ctx->grad_block, ctx->grad_numel);
    ctx->gsync.stats.wait_seconds += it__seconds() - t0;
    ctx->gsync.stats.bytes += (double)ctx->grad_numel * sizeof(float);
    if (r != IT_OK) return it__comm_failed(ctx, r, "all-gather of the updated weights");
    for (i = 0; i < ctx->n_params; i++) {
        it_tensor *p = ctx->params[i];
        if (p->grad)
            memcpy(ctx->param_block + p->offset / sizeof(float), ctx->grad_block + p->grad->offset / sizeof(float),
                   p->numel * sizeof(float));
    }
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
    it_optimizer_desc d;
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d); /* NULL: every default, as a zeroed desc */
    if (!d.kind) d.kind = IT_OPTIMIZER_ADAMW;
    if (!d.beta1) d.beta1 = 0.9f;
    if (!d.beta2) d.beta2 = d.kind == IT_OPTIMIZER_LION ? 0.99f : 0.999f;
    if (!d.eps) d.eps = 1e-8f;
    return d;
}
/* Zeroed state for the gradient floats [shard_begin, shard_end): m (and v for AdamW) laid out
   like that part of the gradient block. */
static it_result it__optimizer_state_alloc(it_optimizer *opt) {
    it_context *ctx = opt->ctx;
    size_t floats = (opt->shard_end - opt->shard_begin) * (opt->desc.kind == IT_OPTIMIZER_ADAMW ? 2 : 1);
    float *state = (float *)ctx->backend->buffer_create(ctx->backend, IT__MAX(floats, 1) * sizeof(float));
    if (!state)
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "optimizer: cannot allocate %zu bytes of state", floats * sizeof(float));
    memset(state, 0, IT__MAX(floats, 1) * sizeof(float));
    opt->state = state;
    opt->state_numel = floats;
    return IT_OK;
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
    if (d.zero_stage < 0 || d.zero_stage > 1)
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "optimizer: ZeRO stage %d (0 = off, 1 = sharded optimizer state)",
                                d.zero_stage);
    if (d.zero_stage && ctx->backend->optimizer_step)
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "optimizer: ZeRO-1 runs the update on the CPU; the '%s' backend "
                                "updates on its device", ctx->backend->name);
    if ((r = it_grads_alloc(ctx)) != IT_OK) return r;
    opt = (it_optimizer *)it__object_new(ctx, IT__OBJ_OPTIMIZER, sizeof(it_optimizer));
    if (!opt) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "optimizer: out of memory");
    opt->ctx = ctx;
    opt->desc = d;
    opt->shard_end = ctx->grad_numel;
    if (d.zero_stage) it_comm_part(ctx->grad_numel, ctx->comm->size, ctx->comm->rank, &opt->shard_begin, &opt->shard_end);
    if ((r = it__optimizer_state_alloc(opt)) != IT_OK) {
        it__object_drop(ctx, opt);
        return r;
    }
    if (it__own(ctx, opt, (void (*)(void *))it_optimizer_destroy, "optimizer") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    if (d.zero_stage && ctx->comm->size > 1) ctx->gsync.zero = 1;
    *out = opt;
    return IT_OK;
}
IT_API void it_optimizer_destroy(it_optimizer *opt) {
    if (!opt) return;
    it__object_check(opt, IT__OBJ_OPTIMIZER, "it_optimizer_destroy");
    it__disown(opt->ctx, opt);
    opt->ctx->backend->buffer_free(opt->ctx->backend, opt->state);
    it__object_retire(opt);
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
/* The job updates the gradient floats [begin, end): everything, or (ZeRO-1) this rank's part,
   inside the range the state covers. */
typedef struct it__optim_job { it_optimizer *opt; float lr, scale; size_t begin, end; } it__optim_job;
static void it__optim_part(void *arg, int part, int n_parts) {
    it__optim_job *job = (it__optim_job *)arg;
    it_optimizer *opt = job->opt;
    it_context *ctx = opt->ctx;
    const it_optimizer_desc *d = &opt->desc;
    size_t begin, end, state_len = opt->shard_end - opt->shard_begin;
    int i;
    it__split(job->end - job->begin, part, n_parts, &begin, &end);
    begin += job->begin, end += job->begin;
    for (i = 0; i < ctx->n_params; i++) {
        it_tensor *p = ctx->params[i];
        float wd = it_optimizer_param_decay(opt, p), *w, *m;
        const float *gr;
        size_t g0, g1, lo, hi;
        if (!p->grad) continue;
        g0 = p->grad->offset / sizeof(float), g1 = g0 + p->numel, lo = IT__MAX(g0, begin), hi = IT__MIN(g1, end);
        if (lo >= hi) continue;
        w = ctx->param_block + p->offset / sizeof(float) + (lo - g0);
        m = opt->state + (lo - opt->shard_begin);
        gr = ctx->grad_block + lo;
        switch (d->kind) {
        case IT_OPTIMIZER_LION: it__lion_fast(w, m, gr, hi - lo, job->lr, d->beta1, d->beta2, wd, job->scale); break;
        case IT_OPTIMIZER_ADAMW:
            it_cpu_adamw_update(w, m, m + state_len, gr, hi - lo, job->lr, d->beta1, d->beta2, d->eps, wd, opt->step,
                                job->scale);
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
    grad_scale /= (float)ctx->comm->size; /* the gradient block holds the sum over the ranks */
    job.begin = 0, job.end = ctx->grad_numel;
    if (ctx->gsync.zero) { /* ZeRO-1: this rank sums, clips and updates its part only */
        if ((r = it__zero_reduce_scatter(ctx)) != IT_OK) return r;
        it_comm_part(ctx->grad_numel, ctx->comm->size, ctx->comm->rank, &job.begin, &job.end);
    } else if ((r = it_grad_sync_wait(ctx)) != IT_OK)
        return r;
    if (ctx->backend->optimizer_step) { /* the device does it all, in its own queue */
        opt->step++;
        r = ctx->backend->optimizer_step(ctx->backend, opt, lr, grad_scale, grad_norm);
        if (r != IT_OK) opt->step--;
        return r;
    }
    it__sync(ctx);
    if (opt->desc.clip_norm > 0.0f || grad_norm) {
        for (i = 0; i < ctx->n_params; i++) /* per parameter, fixed order: independent of threads */
            if (ctx->params[i]->grad) norm += it__grad_sum_squares(ctx->params[i], job.begin, job.end);
        if (ctx->gsync.zero && (r = it__zero_norm_sum(ctx, &norm)) != IT_OK) return r;
        norm = sqrt(norm) * grad_scale;
        if ((r = it_optimizer_check_norm(opt, norm)) != IT_OK) return r;
    }
    if (grad_norm) *grad_norm = (float)norm;
    job.opt = opt;
    job.lr = lr;
    job.scale = grad_scale;
    if (opt->desc.clip_norm > 0.0f && norm > opt->desc.clip_norm) job.scale *= (float)(opt->desc.clip_norm / norm);
    opt->step++;
    it__pool_run(&ctx->pool, it__optim_part, &job, job.end - job.begin < IT__OPTIMIZER_PARALLEL_MIN ? 1 : ctx->n_threads);
    if (ctx->gsync.zero) return it__zero_all_gather_weights(ctx, job.begin, job.end);
    return IT_OK;
}
IT_API it_result it_optimizer_gather_state(it_optimizer *opt) {
    it_context *ctx;
    float *part;
    size_t b, len, total;
    int twice;
    it_result r;
    IT__NOT_NULL(opt, "it_optimizer_gather_state");
    ctx = opt->ctx, total = ctx->grad_numel, b = opt->shard_begin, len = opt->shard_end - opt->shard_begin;
    if (b == 0 && len == total) return IT_OK;
    twice = opt->desc.kind == IT_OPTIMIZER_ADAMW;
    part = opt->state;
    opt->shard_begin = 0, opt->shard_end = total;
    if ((r = it__optimizer_state_alloc(opt)) != IT_OK) { /* the part stays as it was */
        opt->state = part, opt->shard_begin = b, opt->shard_end = b + len;
        return r;
    }
    memcpy(opt->state + b, part, len * sizeof(float));
    if (twice) memcpy(opt->state + total + b, part + len, len * sizeof(float));
    ctx->backend->buffer_free(ctx->backend, part);
    if ((r = ctx->comm->all_gather(ctx->comm, opt->state, total)) != IT_OK ||
        (twice && (r = ctx->comm->all_gather(ctx->comm, opt->state + total, total)) != IT_OK))
        return it__comm_failed(ctx, r, "all-gather of the optimizer state");
    return IT_OK;
}
IT_API it_result it_optimizer_shard_state(it_optimizer *opt) {
    it_context *ctx;
    float *whole;
    size_t b, e, old_b, old_len;
    it_result r;
    IT__NOT_NULL(opt, "it_optimizer_shard_state");
    ctx = opt->ctx;
    if (!opt->desc.zero_stage) return IT_OK;
    it_comm_part(ctx->grad_numel, ctx->comm->size, ctx->comm->rank, &b, &e);
    if (b == opt->shard_begin && e == opt->shard_end) return IT_OK;
    if (b < opt->shard_begin || e > opt->shard_end)
        return it_context_error(ctx, IT_ERR_STATE, "it_optimizer_shard_state: the state holds %zu..%zu, not this rank's part %zu..%zu",
                                opt->shard_begin, opt->shard_end, b, e);
    whole = opt->state, old_b = opt->shard_begin, old_len = opt->shard_end - opt->shard_begin;
    opt->shard_begin = b, opt->shard_end = e;
    if ((r = it__optimizer_state_alloc(opt)) != IT_OK) {
        opt->state = whole, opt->shard_begin = old_b, opt->shard_end = old_b + old_len;
        return r;
    }
    memcpy(opt->state, whole + (b - old_b), (e - b) * sizeof(float));
    if (opt->desc.kind == IT_OPTIMIZER_ADAMW) memcpy(opt->state + (e - b), whole + old_len + (b - old_b), (e - b) * sizeof(float));
    ctx->backend->buffer_free(ctx->backend, whole);
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

/* Little-endian helpers for the token files and the tokenizer file that follow -----------------
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

IT_API it_result it_npy_write_f32(it_context *ctx, const char *path, const float *data, int ndim, const int64_t *shape) {
    char header[256];
    struct stat st;
    size_t count = 1, len, padded, i;
    unsigned char *file;
    it_result r;
    int d;
    if (!path || !path[0]) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, ".npy: no path given");
    if (ndim < 1 || ndim > 8) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "%s: %d dimensions (1 to 8 here)", path, ndim);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "%s is a directory; give a file name for the .npy", path);
    len = (size_t)snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] && count > ((size_t)-1 / 8) / (size_t)shape[d]))
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "%s: bad shape", path);
        count *= (size_t)shape[d];
        len += (size_t)snprintf(header + len, sizeof header - len, ndim == 1 ? "%lld,), }" : d + 1 < ndim ? "%lld, " : "%lld), }",
                                (long long)shape[d]);
    }
    /* magic, version 1.0, header length, the dict padded with spaces and a newline to a multiple of 64 */
    padded = (10 + len + 1 + 63) / 64 * 64;
    file = (unsigned char *)it__alloc(ctx, padded + count * 4);
    if (!file) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lu bytes", path, (unsigned long)(padded + count * 4));
    memcpy(file, "\x93NUMPY\x01\x00", 8);
    file[8] = (unsigned char)((padded - 10) & 0xFF);
    file[9] = (unsigned char)((padded - 10) >> 8);
    memcpy(file + 10, header, len);
    memset(file + 10 + len, ' ', padded - 10 - len - 1);
    file[padded - 1] = '\n';
    for (i = 0; i < count; i++) { /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &data[i], 4);
        it__data_put_u32(file + padded + 4 * i, u);
    }
    r = it__io_write_atomic(ctx, path, ".npy file", file, padded + count * 4);
    it__free(ctx, file);
    return r;
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
IT_API it_result it_ids_parse(it_context *ctx, const char *text, int vocab, int32_t **out_ids, size_t *out_n) {
    size_t cap = 1, k = 0, i;
    const char *p = text;
    *out_ids = NULL;
    *out_n = 0;
    if (!text || !text[0]) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "token ids: the list is empty");
    for (i = 0; text[i]; i++) cap += text[i] == ',';
    *out_ids = (int32_t *)it__alloc_array(ctx, cap, sizeof(int32_t));
    if (!*out_ids) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "token ids: out of memory for %lu ids", (unsigned long)cap);
    for (;;) {
        const char *start = p;
        int64_t v = 0;
        int item_len = (int)(strcspn(start, ",") < 40 ? strcspn(start, ",") : 40);
        for (; *p >= '0' && *p <= '9'; p++) /* saturates: a 30-digit id is still "outside the vocabulary" */
            if (v < (int64_t)1 << 40) v = v * 10 + (*p - '0');
        if (p == start || (*p != ',' && *p != 0)) {
            it__free(ctx, *out_ids);
            *out_ids = NULL;
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "token ids: item %lu ('%.*s') is not a decimal id (a list "
                                    "looks like 1,2,3)", (unsigned long)k + 1, item_len, start);
        }
        if (v >= vocab) {
            it__free(ctx, *out_ids);
            *out_ids = NULL;
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "token ids: item %lu ('%.*s') is outside the vocabulary "
                                    "[0, %d)", (unsigned long)k + 1, item_len, start, vocab);
        }
        (*out_ids)[k++] = (int32_t)v;
        if (*p++ == 0) break;
    }
    *out_n = k;
    return IT_OK;
}

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
    struct it__hf *hf; /* a Hugging Face tokenizer (>>hf_tokenizers): its own encoding and decoding;
                          tok_off/tok_len/bytes then hold each token's bytes, n_merges is 0 */
};
static void it__hf_free(struct it__hf *hf);
static it_result it__hf_encode(it_context *ctx, const struct it__hf *hf, const uint8_t *text, size_t n, int flags,
                               int32_t **out_ids, size_t *out_n);

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
    it__object_check(tok, IT__OBJ_TOKENIZER, "it_tokenizer_destroy");
    ctx = tok->ctx;
    it__disown(ctx, tok);
    it__free(ctx, tok->merge_l);
    it__free(ctx, tok->merge_r);
    it__free(ctx, tok->tok_off);
    it__free(ctx, tok->tok_len);
    it__free(ctx, tok->bytes);
    it__free(ctx, tok->map_key);
    it__free(ctx, tok->map_val);
    it__hf_free(tok->hf);
    it__object_retire(tok);
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
    t = (it_tokenizer *)it__object_new(ctx, IT__OBJ_TOKENIZER, sizeof(it_tokenizer));
    if (!t) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", origin);
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

/* The training text as distinct words (pre-tokenizer chunks) with their frequencies, and each
   word's current symbols (bytes at first, merged ids as training goes) in one array. */
typedef struct it__bpe_words {
    size_t n_words, total_syms;
    size_t *start, *off; /* word w: text[start[w] ..], its symbols at sym[off[w] ..] */
    int32_t *len, *sym;  /* len[w]: current symbol count (it shrinks as merges apply) */
    int64_t *freq;
} it__bpe_words;
static void it__bpe_words_free(it_context *ctx, it__bpe_words *w) {
    it__free(ctx, w->start);
    it__free(ctx, w->off);
    it__free(ctx, w->len);
    it__free(ctx, w->freq);
    it__free(ctx, w->sym);
}
/* Step 1: split the text into chunks and count each distinct one (an open-addressing table of
   word indices); then lay out every word's bytes as its first symbols. 0 = out of memory. */
static int it__bpe_count_words(it_context *ctx, const uint8_t *text, size_t n, size_t n_chunks, it__bpe_words *w) {
    size_t wcap = 16, pos, i;
    int32_t *wmap;
    while (wcap < n_chunks * 2) wcap *= 2;
    wmap = (int32_t *)it__alloc_array(ctx, wcap, sizeof(int32_t));
    w->start = (size_t *)it__alloc_array(ctx, n_chunks, sizeof(size_t));
    w->off = (size_t *)it__alloc_array(ctx, n_chunks, sizeof(size_t));
    w->len = (int32_t *)it__alloc_array(ctx, n_chunks, sizeof(int32_t));
    w->freq = (int64_t *)it__alloc_array(ctx, n_chunks, sizeof(int64_t));
    if (!wmap || !w->start || !w->off || !w->len || !w->freq) {
        it__free(ctx, wmap);
        return 0;
    }
    for (i = 0; i < wcap; i++) wmap[i] = -1;
    for (pos = 0; pos < n;) {
        size_t len = it__tok_chunk(text + pos, n - pos), h = it__tok_hash_bytes(text + pos, len) & (wcap - 1);
        for (; wmap[h] >= 0; h = (h + 1) & (wcap - 1)) {
            int32_t k = wmap[h];
            if ((size_t)w->len[k] == len && memcmp(text + w->start[k], text + pos, len) == 0) break;
        }
        if (wmap[h] < 0) {
            wmap[h] = (int32_t)w->n_words;
            w->start[w->n_words] = pos;
            w->len[w->n_words] = (int32_t)len;
            w->freq[w->n_words] = 0;
            w->off[w->n_words] = w->total_syms;
            w->total_syms += len;
            w->n_words++;
        }
        w->freq[wmap[h]]++;
        pos += len;
    }
    it__free(ctx, wmap);
    w->sym = (int32_t *)it__alloc_array(ctx, w->total_syms, sizeof(int32_t));
    if (!w->sym) return 0;
    for (i = 0; i < w->n_words; i++) {
        int32_t j, *s = w->sym + w->off[i];
        for (j = 0; j < w->len[i]; j++) s[j] = text[w->start[i] + (size_t)j];
    }
    return 1;
}
/* Step 2: every adjacent pair of every word, weighted by the word's frequency, into the pair table
   and the heap. 0 = out of memory. */
static int it__bpe_count_pairs(it__bpe *b, const it__bpe_words *w) {
    size_t i;
    for (i = 0; i < w->n_words; i++) {
        const int32_t *s = w->sym + w->off[i];
        int32_t j;
        for (j = 0; j + 1 < w->len[i]; j++)
            if (!it__bpe_add(b, s[j], s[j + 1], w->freq[i], (int32_t)i, -1)) return 0;
    }
    for (i = 0; i < (size_t)b->n_pairs; i++)
        if (b->pairs[i].count > 0 && !it__bpe_push(b, (int32_t)i, b->pairs[i].count)) return 0;
    return 1;
}
/* Step 3, one merge: (A, B) -> Z in every word that holds the pair, non-overlapping, left to right,
   rewritten in place; the neighbouring pairs' counts move from (x, A) / (B, y) to (x, Z) / (Z, y)
   and the pairs that gained are re-filed in the heap. 0 = out of memory. */
static int it__bpe_apply_merge(it_context *ctx, it__bpe *b, it__bpe_words *w, int32_t pair, int32_t Z, int merge) {
    int32_t A = (int32_t)(b->pairs[pair].key >> 32), B = (int32_t)(uint32_t)b->pairs[pair].key, k;
    int32_t *list = b->pairs[pair].words, n_list = b->pairs[pair].n_words; /* (A, B) only loses now: stable */
    size_t i;
    b->n_touched = 0;
    for (k = 0; k < n_list; k++) {
        int32_t word = list[k], *s = w->sym + w->off[word], len = w->len[word], ii = 0, j = 0;
        int64_t f = w->freq[word];
        while (ii < len) {
            if (ii + 1 < len && s[ii] == A && s[ii + 1] == B) {
                if (j > 0 && (!it__bpe_add(b, s[j - 1], A, -f, word, -1) || !it__bpe_add(b, s[j - 1], Z, f, word, merge)))
                    return 0;
                if (ii + 2 < len && (!it__bpe_add(b, B, s[ii + 2], -f, word, -1) ||
                                     !it__bpe_add(b, Z, s[ii + 2], f, word, merge)))
                    return 0;
                if (!it__bpe_add(b, A, B, -f, word, -1)) return 0;
                s[j++] = Z;
                ii += 2;
            } else {
                s[j++] = s[ii++];
            }
        }
        w->len[word] = j;
    }
    /* the pairs array may have moved while new pairs were created: index again */
    it__free(ctx, b->pairs[pair].words);
    b->pairs[pair].words = NULL;
    b->pairs[pair].n_words = b->pairs[pair].cap_words = 0;
    b->pairs[pair].count = 0;
    for (i = 0; i < b->n_touched; i++)
        if (b->pairs[b->touched[i]].count > 0 && !it__bpe_push(b, b->touched[i], b->pairs[b->touched[i]].count)) return 0;
    return 1;
}

IT_API it_result it_tokenizer_train_bpe(it_context *ctx, const uint8_t *text, size_t n, int vocab_size,
                                        it_tokenizer **out) {
    it__bpe b;
    it__bpe_words words;
    size_t n_chunks = 0, pos, i;
    int32_t *ml = NULL, *mr = NULL;
    int n_target = vocab_size - 256, n_merges = 0;
    it_result res = IT_OK;
    *out = NULL;
    memset(&b, 0, sizeof(b));
    memset(&words, 0, sizeof(words));
    b.ctx = ctx;
    if (vocab_size < 256 || vocab_size > IT_TOKENIZER_MAX_VOCAB)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "bpe training: vocab_size %d is outside [256, %d]",
                                vocab_size, IT_TOKENIZER_MAX_VOCAB);
    for (pos = 0; pos < n; pos += it__tok_chunk(text + pos, n - pos)) n_chunks++;
    if (n_chunks > 0x3FFFFFFF) /* word indices are int32 */
        return it_context_error(ctx, IT_ERR_RANGE, "bpe training: %zu bytes of text is too much (%zu chunks; at "
                                "most 2^30)", n, n_chunks);
    ml = (int32_t *)it__alloc_array(ctx, (size_t)n_target, sizeof(int32_t));
    mr = (int32_t *)it__alloc_array(ctx, (size_t)n_target, sizeof(int32_t));
    b.pmask = 4095;
    b.pmap = (int32_t *)it__alloc_array(ctx, b.pmask + 1, sizeof(int32_t));
    if (!ml || !mr || !b.pmap) goto oom;
    for (i = 0; i <= b.pmask; i++) b.pmap[i] = -1;
    if (!it__bpe_count_words(ctx, text, n, n_chunks, &words) || !it__bpe_count_pairs(&b, &words)) goto oom;
    /* step 3: the most frequent pair becomes the next token, until the vocabulary is full */
    while (n_merges < n_target && b.n_heap > 0) {
        it__bpe_entry e = it__bpe_pop(&b);
        if (b.pairs[e.pair].count != e.count) { /* stale: counts only fall, so re-file it */
            if (b.pairs[e.pair].count > 0 && !it__bpe_push(&b, e.pair, b.pairs[e.pair].count)) goto oom;
            continue;
        }
        if (e.count <= 0) continue;
        ml[n_merges] = (int32_t)(b.pairs[e.pair].key >> 32);
        mr[n_merges] = (int32_t)(uint32_t)b.pairs[e.pair].key;
        if (!it__bpe_apply_merge(ctx, &b, &words, e.pair, 256 + n_merges, n_merges)) goto oom;
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
    it__bpe_words_free(ctx, &words);
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
    *out_ids = NULL;
    *out_n = 0;
    if (tok->hf) return it__hf_encode(ctx, tok->hf, text, n, 0, out_ids, out_n);
    ids = (int32_t *)it__alloc_array(ctx, n, sizeof(int32_t));
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
    if (tok->hf) return it_tokenizer_decode_flags(tok, ids, n, 0, out, cap);
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
    uint8_t *buf;
    it_result res;
    if (tok->hf)
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "saving tokenizer '%s': a Hugging Face tokenizer is kept as its "
                                "tokenizer.json, not in IronTensor's tokenizer format", path);
    buf = it__tokenizer_bytes(ctx, tok, &size);
    if (!buf) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "saving tokenizer '%s': out of memory", path);
    res = it__io_write_atomic(ctx, path, "tokenizer file", buf, size);
    it__free(ctx, buf);
    return res;
}
IT_API it_result it_tokenizer_fingerprint(it_context *ctx, const it_tokenizer *tok, it_file_fingerprint *out) {
    size_t size;
    uint8_t *buf;
    memset(out, 0, sizeof *out);
    if (tok->hf) /* its identity is its tokenizer.json: fingerprint that file */
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "tokenizer fingerprint: not defined for a Hugging Face tokenizer");
    buf = it__tokenizer_bytes(ctx, tok, &size);
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
    ds = (it_dataset *)it__object_new(ctx, IT__OBJ_DATASET, sizeof(it_dataset));
    if (!ds) {
        it__free(ctx, ids);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "data '%s': out of memory", name);
    }
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
    it__object_check(ds, IT__OBJ_DATASET, "it_dataset_destroy");
    it__disown(ds->ctx, ds);
    it__free(ds->ctx, ds->ids);
    it__object_retire(ds);
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
/* The one UTF-8 validator (JSON strings, tokenizers' text, lossy decoding). The length of the
   valid sequence at p (n >= 1 bytes left), or 0 when it is invalid (overlong, a surrogate, above
   U+10FFFF, cut short); then *bad (may be NULL) gets how many bytes one replacement character
   stands for: the lead byte and the continuation bytes that were still possible, as Rust's
   String::from_utf8_lossy (and so tokenizers' decode) counts them. */
static int it__utf8_seq(const unsigned char *p, size_t n, size_t *bad) {
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    int len, i;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2; /* C0, C1: overlong */
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* E0 80..9F: overlong */
        if (c == 0xED) hi = 0x9F; /* ED A0..BF: surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* F0 80..8F: overlong */
        if (c == 0xF4) hi = 0x8F; /* F4 90..BF: above U+10FFFF */
    } else
        len = 0; /* a continuation byte or F5..FF */
    for (i = 1; i < len; i++)
        if ((size_t)i >= n || p[i] < (i == 1 ? lo : 0x80u) || p[i] > (i == 1 ? hi : 0xBFu)) break;
    if (len && i == len) return len;
    if (bad) *bad = (size_t)i;
    return 0;
}
static int it__utf8_len(const unsigned char *p, size_t n) { return it__utf8_seq(p, n, NULL); }
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
                                               "loss.csv",           "loss.svg",           "adapter_config.json",
                                               "adapter_model.safetensors", /* what it-merge carries over from its base: */
                                               "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                               "generation_config.json"};
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
/* 1 when DIR holds no model.safetensors but a model.safetensors.index.json (a sharded model, as
   save_pretrained writes large ones); the index's path into index_path when given. */
static int it__ck_sharded(const char *dir, char *index_path, size_t size) {
    char path[IT__PATH_NAMED];
    struct stat st;
    if (it__path_join(path, sizeof path, dir, "model.safetensors") || lstat(path, &st) == 0 || errno != ENOENT) return 0;
    if (it__path_join(path, sizeof path, dir, "model.safetensors.index.json") || lstat(path, &st) != 0) return 0;
    if (index_path) snprintf(index_path, size, "%s", path);
    return 1;
}
/* A file this library wrote says what it holds: model weights, not (say) an optimizer's state. */
static it_result it__ck_holds_model(it_context *ctx, const it__st_file *f) {
    const it__jv *c = f->meta >= 0 ? it__st_meta(f, "irontensor.content") : NULL;
    if (c && strcmp(c->str, "model") != 0)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: holds \"%s\", not model weights", f->label, c->str);
    return IT_OK;
}
static it_result it__ck_map_build(it_context *ctx, const it_model_config *c, it__ck_map *m);
static it_result it__ck_match(it_context *ctx, it__st_file *files, int n_files, const it__ck_map *map, const char **suffixes,
                              int n_suffix, int f32_only);
/* A sharded model's model.safetensors.index.json, parsed once per load: the header check counts
   its weight_map, the shard reader then uses it. */
typedef struct it__ck_index {
    unsigned char *buf;
    it__json j;
    int parsed;
} it__ck_index;
static void it__ck_index_free(it_context *ctx, it__ck_index *x) {
    it__json_free(&x->j);
    it__free(ctx, x->buf);
    memset(x, 0, sizeof *x);
}
/* Before anything is built from a config: model.safetensors's header (read alone, not the data)
   holds at least as many tensors as the config implies, so a 1 KB config.json claiming 100000 layers is
   refused at once, and then exactly the tensors the config names, in its shapes (a config.json
   claiming dim 65536 is refused before gigabytes are allocated for it). A missing file passes
   when `missing_ok` (a bare Hugging Face config). A sharded model's index is parsed into *index
   (NULL: parsed and dropped). */
static it_result it__ck_check_header(it_context *ctx, const char *dir, const it_model_config *c, int missing_ok,
                                     it__ck_index *index) {
    char path[IT__PATH_NAMED];
    it__st_file f;
    int missing = 0;
    it_result r;
    uint64_t want = it__ck_map_count(c);
    if (it__path_join(path, sizeof path, dir, "model.safetensors")) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "checkpoint: path too long");
    memset(&f, 0, sizeof f);
    f.label = path;
    if (!it__ck_sharded(dir, NULL, 0)) r = it__st_read_header(ctx, path, &f, &missing);
    else { /* a sharded model: the index's weight_map lists every tensor */
        char index_path[IT__PATH_NAMED];
        it__ck_index x;
        int map, index_missing = 0;
        memset(&x, 0, sizeof x);
        it__path_join(index_path, sizeof index_path, dir, "model.safetensors.index.json");
        missing = 1;
        r = IT_ERR_IO;
        if (it__json_file_read(ctx, index_path, &x.buf, &x.j, &index_missing, NULL) == IT_OK) {
            map = it__jget(&x.j, 0, "weight_map");
            f.n_t = map >= 0 && x.j.v[map].type == IT__J_OBJ ? x.j.v[map].n : 0;
            r = IT_OK;
            x.parsed = 1;
            snprintf(path, sizeof path, "%s", index_path);
        } else if (!index_missing)
            r = IT_ERR_FORMAT; /* the index is unreadable: its error stands */
        if (index && x.parsed) *index = x; /* the shard reader's now */
        else it__ck_index_free(ctx, &x);
    }
    if (r != IT_OK && missing && missing_ok) r = IT_OK;
    else if (r == IT_OK && want > (uint64_t)f.n_t) /* fewer is for the full match to name */
        r = it_context_error(ctx, IT_ERR_FORMAT, "checkpoint %s: config.json describes %d layers (%llu tensors) but "
                             "%s holds %d tensors", dir, c->n_layers, (unsigned long long)want, path, f.n_t);
    else if (r == IT_OK && f.t) { /* a single file: every tensor's name and shape too (a sharded index has no shapes) */
        static const char *const none[1] = {""};
        it__ck_map map;
        memset(&map, 0, sizeof map);
        r = it__ck_holds_model(ctx, &f);
        if (r == IT_OK) r = it__ck_map_build(ctx, c, &map); /* at most as many entries as the header holds tensors */
        if (r == IT_OK) r = it__ck_match(ctx, &f, 1, &map, (const char **)none, 1, 0);
        it__ck_map_free(ctx, &map);
    }
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
static it_result it__ck_optimizer_supported(it_context *ctx, const it_model *m, const it_optimizer *opt, const char *what) {
    int i;
    if (opt->shard_begin != 0 || opt->shard_end != opt->ctx->grad_numel)
        return it_context_error(ctx, IT_ERR_STATE, "%s: the optimizer state is sharded (ZeRO-1: this rank holds gradient "
                                "floats %zu..%zu of %zu); call it_optimizer_gather_state on every rank first", what,
                                opt->shard_begin, opt->shard_end, opt->ctx->grad_numel);
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
static void it__rng_words_json(it__buf *b, const it_rng *r) {
    it__buf_printf(b, "[\"%llu\", \"%llu\", \"%llu\", \"%llu\"]", (unsigned long long)r->s[0],
                   (unsigned long long)r->s[1], (unsigned long long)r->s[2], (unsigned long long)r->s[3]);
}
static void it__rng_json(it__buf *b, const char *key, const it_rng *r) {
    it__buf_printf(b, ",\n  \"%s\": ", key);
    it__rng_words_json(b, r);
}
/* A data-parallel run's ranks 1..N-1 each draw their own windows: every position is kept. */
static void it__rank_rngs_json(it__buf *b, const it_trainer_state *ts) {
    int r;
    if (ts->world_size <= 1) return;
    it__buf_printf(b, ",\n  \"world_size\": %d,\n  \"rank_data_rng\": [", ts->world_size);
    for (r = 1; r < ts->world_size; r++) {
        it__buf_puts(b, r > 1 ? ", " : "");
        it__rng_words_json(b, &ts->rank_data_rng[r - 1]);
    }
    it__buf_puts(b, "]");
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
    it__rank_rngs_json(b, ts);
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
/* The JSON value a (an array of 4 decimal strings) into r; `key` names it in errors. */
static it_result it__rng_parse_value(it_context *ctx, const char *path, const it__json *j, int a, const char *key,
                                     it_rng *r, int live) {
    int e, k = 0;
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
static it_result it__rng_parse(it_context *ctx, const char *path, const it__json *j, const char *key, it_rng *r, int live) {
    return it__rng_parse_value(ctx, path, j, it__jget(j, 0, key), key, r, live);
}
/* "world_size" (optional, 1..IT_CHECKPOINT_MAX_RANKS) and, when it is above 1, "rank_data_rng":
   one live generator for each rank but 0. */
static it_result it__rank_rngs_parse(it_context *ctx, const char *path, const it__json *j, it_trainer_state *ts) {
    int64_t v = 1;
    int a, e, r = 1;
    char key[48];
    if (it__jint(ctx, path, j, 0, "world_size", 0, 1, IT_CHECKPOINT_MAX_RANKS, &v) < 0) return IT_ERR_FORMAT;
    ts->world_size = (int)v;
    a = it__jget(j, 0, "rank_data_rng");
    if (v == 1) {
        if (a >= 0) return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"rank_data_rng\" without a \"world_size\" above 1", path);
        return IT_OK;
    }
    if (a < 0 || j->v[a].type != IT__J_ARR || j->v[a].n != (int)v - 1)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"rank_data_rng\" must be an array of world_size - 1 = %d "
                                "generators (ranks 1..%d)", path, (int)v - 1, (int)v - 1);
    for (e = j->v[a].first; e >= 0; e = j->v[e].next, r++) {
        snprintf(key, sizeof key, "rank_data_rng[%d] (rank %d)", r - 1, r);
        if (it__rng_parse_value(ctx, path, j, e, key, &ts->rank_data_rng[r - 1], 1) != IT_OK) return IT_ERR_FORMAT;
    }
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
    IT__TS_BAD(ts->world_size < 0 || ts->world_size > IT_CHECKPOINT_MAX_RANKS, "world_size is %d (must be in [0, %d])",
               ts->world_size, IT_CHECKPOINT_MAX_RANKS);
    {
        int r;
        for (r = 1; r < ts->world_size; r++)
            IT__TS_BAD(!it_rng_valid(&ts->rank_data_rng[r - 1]), "rank %d's data_rng is the all-zero state", r);
    }
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
                                        "tokenizer", "data", "val_data", "tokenizer_file", "world_size",
                                        "rank_data_rng", "irontensor_crc32"};
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
    if (it__rng_parse(ctx, path, j, "data_rng", &ts.data_rng, 1) != IT_OK || it__rng_parse(ctx, path, j, "rng", &ts.rng, 0) != IT_OK ||
        it__rank_rngs_parse(ctx, path, j, &ts) != IT_OK)
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
    it__ck_index index; /* a sharded model's, from the header check */
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
    it__ck_index_free(ctx, &rd->index);
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
    it_result r = rd->index.parsed ? IT_OK : it__json_file_read(ctx, index_path, &rd->index.buf, &rd->index.j, NULL, NULL);
    it__json *j = &rd->index.j;
    int map = -1, e, i, n = 0;
    const char **names = NULL;
    rd->index.parsed = r == IT_OK;
    if (r == IT_OK) {
        map = it__jget(j, 0, "weight_map");
        if (map < 0 || j->v[map].type != IT__J_OBJ || j->v[map].n < 1)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: \"weight_map\" must be an object naming at least one tensor", index_path);
    }
    if (r == IT_OK && !(names = (const char **)it__alloc(ctx, sizeof(char *) * (size_t)j->v[map].n)))
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
    for (e = r == IT_OK ? j->v[map].first : -1; e >= 0 && r == IT_OK; e = j->v[e].next) { /* the distinct shard names */
        if (j->v[e].type != IT__J_STR || !it__ck_shard_name_ok(j->v[e].str)) {
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.100s' maps to %s, not a .safetensors file in the directory",
                                 index_path, j->v[e].key, j->v[e].type == IT__J_STR ? "a bad name" : "a non-string");
            break;
        }
        for (i = 0; i < n && strcmp(names[i], j->v[e].str) != 0; i++) {}
        if (i == n) names[n++] = j->v[e].str;
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
    for (e = r == IT_OK ? j->v[map].first : -1; e >= 0 && r == IT_OK; e = j->v[e].next) { /* the map matches the shards */
        const it__st_file *in = NULL;
        if (!it__ck_find(rd->model, rd->n_model, j->v[e].key, &in) || strcmp(strrchr(in->label, '/') + 1, j->v[e].str) != 0)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.100s' is not in %s, where the index says it is", index_path,
                                 j->v[e].key, j->v[e].str);
    }
    for (i = 0; i < rd->n_model && r == IT_OK; i++) /* and the shards hold nothing the map does not list */
        for (e = 0; e < rd->model[i].n_t && r == IT_OK; e++)
            if (it__jget(j, map, rd->model[i].t[e].name) < 0)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: tensor '%.100s' is not in the index %s", rd->model[i].label,
                                     rd->model[i].t[e].name, index_path);
    it__free(ctx, (void *)names);
    return r; /* the index is freed with rd */
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
    if (it__ck_sharded(rd->dir, index_path, sizeof index_path)) {
        it__ck_free_model(ctx, rd);
        r = it__ck_read_shards(ctx, rd, index_path);
    } else /* missing too: the error names model.safetensors */
        r = it__ck_read_st(ctx, rd->dir, "model.safetensors", &rd->model[0], rd->model_labels, IT__CK_LABEL, &missing);
    for (i = 0; i < rd->n_model && r == IT_OK; i++) r = it__ck_holds_model(ctx, &rd->model[i]);
    if (r == IT_OK) r = it__ck_match(ctx, rd->model, rd->n_model, &rd->map, (const char **)none, 1, 0);
    for (i = 0; i < rd->n_model && r == IT_OK; i++) r = it__st_check_values(ctx, &rd->model[i]);
    for (i = 0; i < rd->n_model; i++) rd->model[i].label = NULL; /* the labels are freed with rd */
    return r;
}
/* want: 0 = do not read, 1 = read when present, 2 = required. */
/* Step 1: DIR/config.json into *cfg. A checksum mismatch is a hand edit (a warning, the fields are
   still checked); *edited (optional) says so. */
static it_result it__ck_read_config(it_context *ctx, const char *dir, it_model_config *cfg, int *edited) {
    char path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    int was_edited = 0;
    it_result r;
    it__path_join(path, sizeof path, dir, "config.json");
    r = it__json_file_read(ctx, path, &buf, &j, NULL, &was_edited);
    if (edited) *edited = was_edited;
    if (r == IT_OK) r = it__config_parse(ctx, path, &j, cfg);
    it__json_free(&j);
    if (buf) it__free(ctx, buf);
    return r;
}
/* Step 3: optimizer.safetensors (want 1: if present, 2: required): its optimizer kind and step in
   the metadata, every state tensor of the map, finite values. */
static it_result it__ck_read_optimizer(it_context *ctx, it__ck_read *rd, int want) {
    char label[IT__PATH_NAMED];
    const it__jv *k, *st;
    const char *names[2];
    uint64_t step;
    int missing = 0;
    it_result r = it__ck_read_st(ctx, rd->dir, "optimizer.safetensors", &rd->optim, label, sizeof label, &missing);
    if (r != IT_OK && missing && want == 1) r = IT_OK;
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
    return r;
}
/* Step 4: trainer_state.json (want 1: if present, 2: required), every field validated, and its
   optimizer kind the one optimizer.safetensors holds. */
static it_result it__ck_read_trainer(it_context *ctx, it__ck_read *rd, int want) {
    char path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    int missing = 0;
    it_result r;
    it__path_join(path, sizeof path, rd->dir, "trainer_state.json");
    r = it__json_file_read(ctx, path, &buf, &j, &missing, NULL);
    if (r != IT_OK && missing && want == 1) r = IT_OK;
    else if (r == IT_OK) {
        r = it__trainer_parse(ctx, path, &j, &rd->ts);
        rd->have_ts = r == IT_OK;
        if (r == IT_OK && rd->have_optim && rd->ts.optimizer.kind != rd->opt_kind)
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: optimizer \"%s\" but optimizer.safetensors holds \"%s\" state", path,
                                 it_optimizer_name(rd->ts.optimizer.kind), it_optimizer_name(rd->opt_kind));
    }
    it__json_free(&j);
    if (buf) it__free(ctx, buf);
    return r;
}
/* The whole checkpoint in steps: config (checked against model.safetensors's header before the map
   is built), model weights, optimizer state, trainer state. want_*: 0 skip, 1 if present, 2 required. */
static it_result it__ck_read_all(it_context *ctx, const char *dir, int want_optim, int want_ts, it__ck_read *rd) {
    int config_edited = 0;
    it_result r;
    memset(rd, 0, sizeof *rd);
    if (!it__little_endian()) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "checkpoint: big-endian hosts are not supported");
    if ((r = it__ck_resolve(ctx, dir, rd->dir, sizeof rd->dir, 0)) != IT_OK) return r;
    if ((r = it__ck_read_config(ctx, rd->dir, &rd->cfg, &config_edited)) != IT_OK) return r;
    if ((r = it__ck_check_header(ctx, rd->dir, &rd->cfg, 0, &rd->index)) == IT_OK && (r = it__ck_map_build(ctx, &rd->cfg, &rd->map)) == IT_OK)
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
    if (want_optim && (r = it__ck_read_optimizer(ctx, rd, want_optim)) != IT_OK) return r;
    if (want_ts && (r = it__ck_read_trainer(ctx, rd, want_ts)) != IT_OK) return r;
    return IT_OK;
}

/* >>ckapi ------------------------------------------------------------------------------------- */
IT_API it_result it_checkpoint_read_config(it_context *ctx, const char *dir, it_model_config *out) {
    char d[IT__PATH_MAX];
    it_result r = it__ck_resolve(ctx, dir, d, sizeof d, 0);
    if (r == IT_OK) r = it__ck_read_config(ctx, d, out, NULL);
    if (r == IT_OK) r = it__ck_check_header(ctx, d, out, 1, NULL);
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
    if (opt && (r = it__ck_optimizer_supported(ctx, m, opt, "it_checkpoint_load")) != IT_OK) return r;
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
    if ((r = it__ck_lock(ctx, clean, parent, base, IT__CK_LOCK_WAIT_MS, &lock)) != IT_OK) return r;
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
    if (o->tokenizer_path && (r = it__copy_file(ctx, o->tokenizer_path, path)) != IT_OK) goto done;
    if (o->tokenizer && (r = it_tokenizer_save(ctx, o->tokenizer, path)) != IT_OK) goto done; /* fsynced */
    it__buf_free(&b); /* the marker last: a directory carrying it was written whole */
    it__ck_marker_json(&b, o->run_id);
    it__path_join(path, sizeof path, tmp, IT__CK_MARKER);
    if ((r = it__json_file_write(ctx, path, &b)) != IT_OK) goto done;
done:
    it__buf_free(&b);
    if (items) it__free(ctx, items);
    it__ck_map_free(ctx, &map);
    return r;
}
/* What a save writes into the temporary directory (a checkpoint, a LoRA adapter): job is the
   writer's own description of it. */
typedef it_result (*it__ck_writer)(it_context *ctx, const void *job, const char *tmp);
typedef struct it__ck_write_job {
    const it_model *m;
    const it_optimizer *opt;
    const it_trainer_state *ts;
    const it_checkpoint_options *o;
    int bf16;
} it__ck_write_job;
static it_result it__ck_write_checkpoint(it_context *ctx, const void *job, const char *tmp) {
    const it__ck_write_job *j = (const it__ck_write_job *)job;
    return it__ck_write_all(ctx, j->m, j->opt, j->ts, tmp, j->bf16, j->o);
}
/* Under clean's lock, clean checked: write DIR.tmp-PID, move DIR aside to DIR.old-PID, rename the
   new one in, remove the old one (only its own files). */
static it_result it__ck_save_locked(it_context *ctx, it__ck_writer write, const void *job, const char *clean,
                                    const char *parent) {
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
    r = write(ctx, job, tmp);
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
/* The whole safe save of directory dir (SAFETY, ATOMIC SAVES at >>checkpoints) around a writer:
   target check, lock, recovery of stale temporaries, the check again, the atomic write. */
static it_result it__ck_save_dir(it_context *ctx, const char *dir, int lock_wait_ms, it__ck_writer write, const void *job) {
    char clean[IT__PATH_MAX], parent[IT__PATH_MAX], base[1024];
    int lock = -1;
    it_result r;
    if ((r = it__ck_split(ctx, dir, clean, parent, base, sizeof base)) != IT_OK) return r;
    if ((r = it__ck_check_target(ctx, clean, parent)) != IT_OK) return r; /* before a lock file is created */
    if ((r = it__ck_lock(ctx, clean, parent, base, lock_wait_ms, &lock)) != IT_OK) return r;
    r = it__ck_recover_locked(ctx, clean, parent, base);
    if (r == IT_OK) r = it__ck_check_target(ctx, clean, parent); /* again: another writer may have gone first */
    if (r == IT_OK) r = it__ck_save_locked(ctx, write, job, clean, parent);
    it__ck_unlock(lock);
    return r;
}
/* Every default of it_checkpoint_options in one place (NULL = all zeros): dtype 0 = f32,
   lock_wait_ms 0 = 30 s. */
static it_checkpoint_options it__checkpoint_options_defaults(const it_checkpoint_options *o) {
    it_checkpoint_options d;
    memset(&d, 0, sizeof d);
    if (o) d = *o;
    if (d.dtype == IT_DTYPE_INVALID) d.dtype = IT_F32;
    if (d.lock_wait_ms == 0) d.lock_wait_ms = IT__CK_LOCK_WAIT_MS;
    return d;
}
IT_API it_result it_checkpoint_save(it_context *ctx, const it_model *m, const it_optimizer *opt, const it_trainer_state *ts,
                                    const char *dir, const it_checkpoint_options *options) {
    char clean[IT__PATH_MAX], parent[IT__PATH_MAX], base[1024];
    it_checkpoint_options resolved = it__checkpoint_options_defaults(options);
    const it_checkpoint_options *o = &resolved;
    it_dtype dt = o->dtype;
    it__ck_write_job job;
    it_result r;
    if (!m || !it_param_block(m->ctx)) return it_context_error(ctx, IT_ERR_STATE, "it_checkpoint_save: no model, or its parameters are not allocated");
    if (opt && !opt->state) return it_context_error(ctx, IT_ERR_STATE, "it_checkpoint_save: the optimizer has no state");
    if (opt && (r = it__ck_optimizer_supported(ctx, m, opt, "it_checkpoint_save")) != IT_OK) return r;
    if (dt != IT_F32 && dt != IT_BF16)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_save: dtype must be f32 or bf16");
    if (o->tokenizer && o->tokenizer_path)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_checkpoint_save: give tokenizer or tokenizer_path, not both");
    if (o->run_id && !it__ck_run_id_ok(o->run_id))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT,
                                "it_checkpoint_save: run_id '%.80s' is not 1-%d letters, digits, '.', '_' or '-'", o->run_id,
                                IT_CHECKPOINT_RUN_ID_MAX - 1);
    if (!it__little_endian()) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "checkpoint: big-endian hosts are not supported");
    if (ts && (r = it_trainer_state_check(ctx, ts)) != IT_OK) return r; /* a save must load back */
    if ((r = it__ck_split(ctx, dir, clean, parent, base, sizeof base)) != IT_OK) return r;
    it__sync(m->ctx); /* a device may still be writing the shared blocks */
    if ((r = it__ck_check_finite(ctx, m, opt, clean)) != IT_OK) return r;
    job.m = m;
    job.opt = opt;
    job.ts = ts;
    job.o = o;
    job.bf16 = dt == IT_BF16;
    return it__ck_save_dir(ctx, dir, o->lock_wait_ms, it__ck_write_checkpoint, &job);
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

IT_API it_result it_model_load(it_context *ctx, const char *dir, it_model **out) {
    it_model_config config;
    it_result r;
    *out = NULL;
    if ((r = it_checkpoint_read_config(ctx, dir, &config)) != IT_OK || (r = it_model_create(ctx, &config, out)) != IT_OK)
        return r;
    if ((r = it_checkpoint_load(ctx, *out, NULL, NULL, dir)) != IT_OK) {
        it_model_destroy(*out);
        *out = NULL;
    }
    return r;
}

/* generation_config.json (and config.json's ids without it): see GENERATION CONFIG above. */
static int it__gen_id(it_context *ctx, const char *path, const it__jv *v, const char *key, int32_t *out) {
    if (v->type != IT__J_NUM || !v->is_int || v->i64 < 0 || v->i64 > INT32_MAX) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" must be a token id (an integer >= 0)%s", path, key,
                         v->type == IT__J_NUM ? "" : ", or a list of them");
        return -1;
    }
    *out = (int32_t)v->i64;
    return 0;
}
/* The ids of one file: eos (an id or a list), bos, pad. Absent or null keys leave the fields alone. */
static it_result it__gen_ids(it_context *ctx, const char *path, const it__json *j, it_generation_config *g) {
    static const char *const keys[2] = {"bos_token_id", "pad_token_id"};
    int32_t *fields[2];
    int e = it__jget(j, 0, "eos_token_id"), k;
    fields[0] = &g->bos_id;
    fields[1] = &g->pad_id;
    if (e >= 0 && j->v[e].type == IT__J_ARR) {
        int c, n = 0;
        if (j->v[e].n > IT_GENERATION_MAX_EOS)
            return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"eos_token_id\" lists %d ids, more than the %d supported", path,
                                    j->v[e].n, IT_GENERATION_MAX_EOS);
        for (c = j->v[e].first; c >= 0; c = j->v[c].next)
            if (it__gen_id(ctx, path, &j->v[c], "eos_token_id", &g->eos_ids[n++])) return IT_ERR_FORMAT;
        g->n_eos = n;
    } else if (e >= 0 && j->v[e].type != IT__J_NULL) {
        if (it__gen_id(ctx, path, &j->v[e], "eos_token_id", &g->eos_ids[0])) return IT_ERR_FORMAT;
        g->n_eos = 1;
    }
    for (k = 0; k < 2; k++) {
        int v = it__jget(j, 0, keys[k]);
        if (v >= 0 && j->v[v].type != IT__J_NULL && it__gen_id(ctx, path, &j->v[v], keys[k], fields[k])) return IT_ERR_FORMAT;
    }
    return IT_OK;
}
/* A number key in [lo, hi] (lo_open: lo itself excluded) into *out; absent or null leaves it. */
static int it__gen_float(it_context *ctx, const char *path, const it__json *j, const char *key, double lo, int lo_open,
                         double hi, float *out) {
    float f = 0.0f;
    int got = it__jfloat(ctx, path, j, 0, key, 0, &f);
    if (got < 0) return -1;
    if (got == 0) return 0;
    if (!(f >= lo && f <= hi) || (lo_open && f == lo)) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" is %g, outside %s%g, %g]", path, key, (double)f, lo_open ? "(" : "[", lo, hi);
        return -1;
    }
    *out = f;
    return 0;
}
IT_API it_result it_generation_config_read(it_context *ctx, const char *dir, it_generation_config *out) {
    char path[IT__PATH_NAMED], model_path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    int missing = 0, flag = -1;
    int64_t top_k = -1, max_new = -1;
    it_result r;
    IT__NOT_NULL(out, "it_generation_config_read");
    memset(out, 0, sizeof *out);
    out->bos_id = out->pad_id = -1;
    out->do_sample = out->top_k = out->max_new_tokens = -1;
    out->temperature = out->top_p = out->min_p = out->repetition_penalty = -1.0f;
    if (!dir || it__path_join(path, sizeof path, dir, "generation_config.json") ||
        it__path_join(model_path, sizeof model_path, dir, "config.json"))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "generation config: the directory path is missing or too long");
    r = it__json_file_read(ctx, path, &buf, &j, &missing, NULL);
    if (r == IT_OK) {
        if ((r = it__gen_ids(ctx, path, &j, out)) != IT_OK || it__jbool(ctx, path, &j, 0, "do_sample", &flag) < 0 ||
            it__gen_float(ctx, path, &j, "temperature", 0, 0, 1e6, &out->temperature) ||
            it__gen_float(ctx, path, &j, "top_p", 0, 0, 1, &out->top_p) ||
            it__gen_float(ctx, path, &j, "min_p", 0, 0, 1, &out->min_p) ||
            it__gen_float(ctx, path, &j, "repetition_penalty", 0, 1, 1e6, &out->repetition_penalty) ||
            it__jint(ctx, path, &j, 0, "top_k", 0, 0, INT32_MAX, &top_k) < 0 ||
            it__jint(ctx, path, &j, 0, "max_new_tokens", 0, 0, INT32_MAX, &max_new) < 0)
            r = IT_ERR_FORMAT;
        out->do_sample = flag;
        out->top_k = (int)top_k;
        out->max_new_tokens = (int)max_new;
    }
    it__json_free(&j);
    it__free(ctx, buf);
    buf = NULL;
    if (r != IT_OK && !missing) return r;
    if (missing || out->n_eos == 0) { /* the model config's ids fill what generation_config.json left out */
        it_generation_config from_model;
        memset(&from_model, 0, sizeof from_model);
        from_model.bos_id = from_model.pad_id = -1;
        size_t size;
        missing = 0;
        memset(&j, 0, sizeof j);
        /* read as it is: loading the model verified (or warned about) its checksum already */
        r = it__io_read_file(ctx, model_path, "model config", IT__CK_MAX_JSON_FILE, &buf, &size, &missing);
        if (r == IT_OK && (it__json_parse(ctx, &j, (const char *)buf, size) || j.v[0].type != IT__J_OBJ))
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: %s", model_path, j.err[0] ? j.err : "the JSON root is not an object");
        if (r == IT_OK) r = it__gen_ids(ctx, model_path, &j, &from_model);
        it__json_free(&j);
        it__free(ctx, buf);
        if (r != IT_OK && !missing) return r;
        if (out->n_eos == 0) {
            out->n_eos = from_model.n_eos;
            memcpy(out->eos_ids, from_model.eos_ids, sizeof out->eos_ids);
        }
        if (out->bos_id < 0) out->bos_id = from_model.bos_id;
        if (out->pad_id < 0) out->pad_id = from_model.pad_id;
    }
    return IT_OK;
}

/* >>lora  adapters on the model's projections; PEFT's files (declarations at >>lora above) ------- */
/* One adapted module as PEFT names it: GPT-2's c_attn covers three of the model's projections
   (q, k, v: one A, B's rows stacked), every other module one. */
typedef struct it__lora_module {
    const char *target; /* the target_modules name: "q_proj", "c_attn", ... */
    const char *path;   /* the module under the base model, %d = layer */
    int slots[3], n_slots;
} it__lora_module;
static const it__lora_module it__lora_llama_modules[] = {
    {"q_proj", "model.layers.%d.self_attn.q_proj", {IT_LP_Q}, 1},
    {"k_proj", "model.layers.%d.self_attn.k_proj", {IT_LP_K}, 1},
    {"v_proj", "model.layers.%d.self_attn.v_proj", {IT_LP_V}, 1},
    {"o_proj", "model.layers.%d.self_attn.o_proj", {IT_LP_O}, 1},
    {"gate_proj", "model.layers.%d.mlp.gate_proj", {IT_LP_GATE}, 1},
    {"up_proj", "model.layers.%d.mlp.up_proj", {IT_LP_UP}, 1},
    {"down_proj", "model.layers.%d.mlp.down_proj", {IT_LP_DOWN}, 1},
};
static const it__lora_module it__lora_gpt2_modules[] = {
    {"c_attn", "transformer.h.%d.attn.c_attn", {IT_LP_Q, IT_LP_K, IT_LP_V}, 3},
    {"c_proj", "transformer.h.%d.attn.c_proj", {IT_LP_O}, 1},
    {"c_fc", "transformer.h.%d.mlp.c_fc", {IT_LP_UP}, 1},
    {"c_proj", "transformer.h.%d.mlp.c_proj", {IT_LP_DOWN}, 1},
};
#define IT__LORA_KEY_PREFIX "base_model.model." /* PeftModelForCausalLM's prefix of every key */
struct it_lora {
    it_context *ctx;
    it_model *model;
    it_lora_config config;
    float scale;
    int n_adapted;
    it_tensor **a, **b; /* [n_layers x IT_MODEL_LAYER_PARAMS]; NULL where not adapted */
};
static const it__lora_module *it__lora_modules(const it_model_config *c, int *n) {
    if (c->arch == IT_ARCH_GPT2) {
        *n = (int)(sizeof it__lora_gpt2_modules / sizeof it__lora_gpt2_modules[0]);
        return it__lora_gpt2_modules;
    }
    *n = (int)(sizeof it__lora_llama_modules / sizeof it__lora_llama_modules[0]);
    return it__lora_llama_modules;
}
static void it__lora_lookup(const it_model *m, int layer, int slot, it_tensor **a, it_tensor **b, float *scale) {
    const it_lora *l = m->lora;
    size_t at = (size_t)layer * IT_MODEL_LAYER_PARAMS + (size_t)slot;
    *a = l ? l->a[at] : NULL;
    *b = l ? l->b[at] : NULL;
    *scale = l ? l->scale : 0.0f;
}
/* 1 when `name` is in the comma-separated list (or the list is "all-linear"). */
static int it__lora_targets_has(const char *list, const char *name) {
    size_t n = strlen(name);
    const char *p = list;
    if (strcmp(list, "all-linear") == 0) return 1;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}
/* The config with its defaults, checked against the model: NULL when usable, else why not. */
static const char *it__lora_config_problem(const it_model_config *mc, it_lora_config *c, char *buf, size_t size) {
    int n_modules, i, k;
    const it__lora_module *mods = it__lora_modules(mc, &n_modules);
    const char *p;
    if (!c->targets[0]) snprintf(c->targets, sizeof c->targets, "%s", mc->arch == IT_ARCH_GPT2 ? "c_attn" : "q_proj,v_proj");
    if (c->alpha == 0.0f) c->alpha = 2.0f * (float)c->rank;
    if (c->rank < 1 || c->rank > IT_LORA_MAX_RANK) {
        snprintf(buf, size, "rank r = %d must be in [1, %d]", c->rank, IT_LORA_MAX_RANK);
        return buf;
    }
    if (!isfinite(c->alpha) || c->alpha <= 0.0f) return "lora_alpha must be a finite positive number";
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return "lora_dropout must be in [0, 1)";
    if (c->last_layers < 0 || c->last_layers > mc->n_layers) {
        snprintf(buf, size, "the last %d layers: the model has %d", c->last_layers, mc->n_layers);
        return buf;
    }
    if (c->n_layers < 0 || c->n_layers > IT_LORA_MAX_LAYERS) return "too many layers listed";
    for (i = 0; i < c->n_layers; i++)
        if (c->layers[i] < 0 || c->layers[i] >= mc->n_layers) {
            snprintf(buf, size, "layer %d is not in the model (layers 0..%d)", c->layers[i], mc->n_layers - 1);
            return buf;
        }
    if (strcmp(c->targets, "all-linear") == 0) return NULL;
    for (p = c->targets; *p;) { /* every listed name is a module of this architecture */
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        for (k = 0; k < n_modules; k++)
            if (strlen(mods[k].target) == len && strncmp(mods[k].target, p, len) == 0) break;
        if (k == n_modules) {
            snprintf(buf, size, "unknown target module '%.*s' for a %s model (%s)", (int)(len < 64 ? len : 64), p,
                     mc->arch == IT_ARCH_GPT2 ? "GPT-2" : "Llama-family",
                     mc->arch == IT_ARCH_GPT2 ? "c_attn, c_proj, c_fc, or all-linear"
                                              : "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear");
            return buf;
        }
        if (!end) break;
        p = end + 1;
    }
    return NULL;
}
static int it__lora_layer_on(const it_lora_config *c, int n_layers, int layer) {
    int i;
    if (c->n_layers > 0) {
        for (i = 0; i < c->n_layers; i++)
            if (c->layers[i] == layer) return 1;
        return 0;
    }
    return c->last_layers == 0 || layer >= n_layers - c->last_layers;
}
/* Input and output size of projection `slot` (Llama W [out, in], GPT-2 W [in, out]). */
static void it__lora_dims(const it_model *m, const it_tensor *w, int *in, int *out) {
    int llama = m->config.arch == IT_ARCH_LLAMA;
    *in = llama ? w->dims[1] : w->dims[0];
    *out = llama ? w->dims[0] : w->dims[1];
}
IT_API it_result it_lora_create(it_model *m, const it_lora_config *cfg, it_lora **out) {
    it_context *ctx;
    it_lora *l;
    char buf[200], name[IT_MAX_NAME], path[IT_MAX_NAME - 12]; /* "lora." path ".B2" fits a parameter name */
    const char *why;
    int n_modules, layer, k, s, i;
    const it__lora_module *mods;
    size_t cells;
    IT__NOT_NULL(m, "it_lora_create");
    IT__NOT_NULL(cfg, "it_lora_create");
    IT__NOT_NULL(out, "it_lora_create");
    ctx = m->ctx;
    *out = NULL;
    if (m->lora) return it_context_error(ctx, IT_ERR_STATE, "it_lora_create: the model already has an adapter");
    if (ctx->param_block)
        return it_context_error(ctx, IT_ERR_STATE, "it_lora_create: the context's parameters are already allocated (attach "
                                "the adapter before loading the base weights or planning a graph)");
    mods = it__lora_modules(&m->config, &n_modules);
    cells = (size_t)m->config.n_layers * IT_MODEL_LAYER_PARAMS;
    l = (it_lora *)it__calloc(ctx, sizeof(it_lora));
    if (!l) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_lora_create: out of memory");
    l->config = *cfg;
    if ((why = it__lora_config_problem(&m->config, &l->config, buf, sizeof buf)) != NULL) {
        it__free(ctx, l);
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "LoRA config: %s", why);
    }
    l->a = (it_tensor **)it__calloc(ctx, sizeof(it_tensor *) * cells);
    l->b = (it_tensor **)it__calloc(ctx, sizeof(it_tensor *) * cells);
    if (!l->a || !l->b) {
        it__free(ctx, l->a);
        it__free(ctx, l->b);
        it__free(ctx, l);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "it_lora_create: out of memory");
    }
    l->ctx = ctx;
    l->model = m;
    l->scale = l->config.use_rslora ? l->config.alpha / sqrtf((float)l->config.rank) : l->config.alpha / (float)l->config.rank;
    for (i = 0; i < it_param_count(ctx); i++) it_param_set_trainable(it_param_at(ctx, i), 0); /* the base is frozen */
    for (layer = 0; layer < m->config.n_layers; layer++) {
        it_tensor **p = m->layer_params + (size_t)layer * IT_MODEL_LAYER_PARAMS;
        if (!it__lora_layer_on(&l->config, m->config.n_layers, layer)) continue;
        for (k = 0; k < n_modules; k++) {
            int in, out_dim, dims[2];
            it_tensor *a;
            if (!it__lora_targets_has(l->config.targets, mods[k].target)) continue;
            snprintf(path, sizeof path, mods[k].path, layer);
            it__lora_dims(m, p[mods[k].slots[0]], &in, &out_dim);
            dims[0] = l->config.rank;
            dims[1] = in;
            snprintf(name, sizeof name, "lora.%s.A", path);
            a = it_param(ctx, name, 2, dims);
            for (s = 0; s < mods[k].n_slots; s++) {
                int slot = mods[k].slots[s];
                it__lora_dims(m, p[slot], &in, &out_dim);
                dims[0] = out_dim;
                dims[1] = l->config.rank;
                snprintf(name, sizeof name, mods[k].n_slots > 1 ? "lora.%s.B%d" : "lora.%s.B", path, s);
                l->a[(size_t)layer * IT_MODEL_LAYER_PARAMS + slot] = a;
                l->b[(size_t)layer * IT_MODEL_LAYER_PARAMS + slot] = it_param(ctx, name, 2, dims);
                l->n_adapted++;
            }
        }
    }
    if (l->n_adapted == 0) {
        it__free(ctx, l->a);
        it__free(ctx, l->b);
        it__free(ctx, l);
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "LoRA config: targets '%s' select no projection of the model",
                                cfg->targets);
    }
    if (it__own(ctx, l, (void (*)(void *))it_lora_destroy, "it_lora_create") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    m->lora = l;
    *out = l;
    return IT_OK;
}
IT_API void it_lora_destroy(it_lora *l) {
    if (!l) return;
    it__disown(l->ctx, l);
    if (l->model && l->model->lora == l) l->model->lora = NULL;
    it__free(l->ctx, l->a);
    it__free(l->ctx, l->b);
    it__free(l->ctx, l);
}
IT_API float it_lora_scale(const it_lora *l) { return l->scale; }
IT_API const it_lora_config *it_lora_get_config(const it_lora *l) { return &l->config; }
IT_API int it_lora_count(const it_lora *l) { return l->n_adapted; }
IT_API it_result it_lora_pair(const it_lora *l, int layer, int slot, it_tensor **a, it_tensor **b) {
    size_t at;
    if (layer < 0 || layer >= l->model->config.n_layers || slot < 0 || slot >= IT_MODEL_LAYER_PARAMS)
        return it_context_error(l->ctx, IT_ERR_RANGE, "it_lora_pair: layer %d slot %d is not in the model", layer, slot);
    at = (size_t)layer * IT_MODEL_LAYER_PARAMS + (size_t)slot;
    *a = l->a[at];
    *b = l->b[at];
    return IT_OK;
}
IT_API it_result it_lora_init(it_lora *l, uint64_t seed) {
    it_rng rng;
    size_t i, cells = (size_t)l->model->config.n_layers * IT_MODEL_LAYER_PARAMS, j;
    it_result r = it_params_alloc(l->ctx);
    if (r != IT_OK) return r;
    it_rng_seed(&rng, seed);
    for (i = 0; i < cells; i++) {
        it_tensor *a = l->a[i];
        if (!a) continue;
        it_param_fill(l->b[i], 0.0f);
        if (i > 0 && l->a[i - 1] == a) continue; /* GPT-2's q, k, v share one A */
        /* PEFT: kaiming_uniform_(A, a=sqrt(5)): bound sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(in) */
        for (j = 0; j < a->numel; j++)
            it_data(a)[j] = (2.0f * it_rng_uniform(&rng) - 1.0f) / sqrtf((float)a->dims[1]);
    }
    return IT_OK;
}

/* The adapter's file tensors as checkpoint map entries: ENTRY "MODULE.lora_A.weight" is one A,
   "MODULE.lora_B.weight" one B or (GPT-2 c_attn) three stacked by rows, which as flat arrays is
   their concatenation (one row of three parts). grads = 1 binds to the gradient block's offsets
   (where the optimizer state sits), else to the parameter block's. */
static it_result it__lora_map(it_context *ctx, const it_lora *l, int grads, it__ck_map *map) {
    int n_modules, layer, k, s, half;
    const it__lora_module *mods = it__lora_modules(&l->model->config, &n_modules);
    char path[IT_MAX_NAME];
    memset(map, 0, sizeof *map);
    map->e = (it__ck_entry *)it__calloc(ctx, sizeof(it__ck_entry) * (size_t)(2 * l->n_adapted + 1));
    if (!map->e) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "LoRA: out of memory");
    for (layer = 0; layer < l->model->config.n_layers; layer++)
        for (k = 0; k < n_modules; k++) {
            size_t at = (size_t)layer * IT_MODEL_LAYER_PARAMS + (size_t)mods[k].slots[0];
            if (!l->a[at]) continue;
            snprintf(path, sizeof path, mods[k].path, layer);
            for (half = 0; half < 2; half++) {
                it__ck_entry *e = &map->e[map->n++];
                int parts = half == 0 ? 1 : mods[k].n_slots;
                uint64_t rows = 0;
                snprintf(e->name, sizeof e->name, IT__LORA_KEY_PREFIX "%s.lora_%c.weight", path, half == 0 ? 'A' : 'B');
                e->ndim = 2;
                e->n_parts = parts;
                e->rows = 1;
                for (s = 0; s < parts; s++) {
                    it_tensor *t = half == 0 ? l->a[at] : l->b[(size_t)layer * IT_MODEL_LAYER_PARAMS + (size_t)mods[k].slots[s]];
                    size_t off;
                    snprintf(e->part[s], IT_MAX_NAME, "%s", t->name);
                    e->part_cols[s] = t->numel;
                    e->dims[1] = (uint64_t)t->dims[1];
                    rows += (uint64_t)t->dims[0];
                    it_tensor_block(grads ? it_grad_tensor(t) : t, &off);
                    e->part_off[s] = off / sizeof(float);
                }
                e->dims[0] = rows;
            }
        }
    qsort(map->e, (size_t)map->n, sizeof(it__ck_entry), it__ck_cmp);
    return IT_OK;
}

/* ---- adapter_config.json ---- */
static void it__lora_config_json(it__buf *b, const it_lora *l) {
    const it_lora_config *c = &l->config;
    int n_modules, k, first = 1, i;
    const it__lora_module *mods = it__lora_modules(&l->model->config, &n_modules);
    it__buf_puts(b, "{\n  \"peft_type\": \"LORA\",\n  \"task_type\": \"CAUSAL_LM\",\n  \"base_model_name_or_path\": ");
    if (c->base_model[0]) it__json_put_string(b, c->base_model);
    else it__buf_puts(b, "null");
    it__buf_printf(b, ",\n  \"r\": %d,\n  \"lora_alpha\": ", c->rank);
    it__json_put_float(b, c->alpha);
    it__buf_puts(b, ",\n  \"lora_dropout\": ");
    it__json_put_float(b, c->dropout);
    it__buf_puts(b, ",\n  \"target_modules\": [");
    for (k = 0; k < n_modules; k++) { /* each name once, in the module table's order */
        int seen = 0, j;
        for (j = 0; j < k; j++) seen |= strcmp(mods[j].target, mods[k].target) == 0;
        if (seen || !it__lora_targets_has(c->targets, mods[k].target)) continue;
        it__buf_printf(b, "%s\"%s\"", first ? "" : ", ", mods[k].target);
        first = 0;
    }
    it__buf_printf(b, "],\n  \"use_rslora\": %s,\n  \"use_dora\": false,\n  \"bias\": \"none\",\n  \"fan_in_fan_out\": %s",
                   c->use_rslora ? "true" : "false", l->model->config.arch == IT_ARCH_GPT2 ? "true" : "false");
    it__buf_puts(b, ",\n  \"layers_to_transform\": ");
    if (c->n_layers == 0 && c->last_layers == 0) it__buf_puts(b, "null");
    else {
        int n = l->model->config.n_layers;
        first = 1;
        it__buf_puts(b, "[");
        for (i = 0; i < n; i++)
            if (it__lora_layer_on(c, n, i)) {
                it__buf_printf(b, "%s%d", first ? "" : ", ", i);
                first = 0;
            }
        it__buf_puts(b, "]");
    }
    it__buf_puts(b, ",\n  \"layers_pattern\": null,\n  \"rank_pattern\": {},\n  \"alpha_pattern\": {},\n  \"modules_to_save\": null"
                    ",\n  \"init_lora_weights\": true,\n  \"inference_mode\": true\n}\n");
}
/* PEFT options that would change the arithmetic: each must be absent or at its neutral value. */
static it_result it__lora_config_refuse(it_context *ctx, const char *path, const it__json *j) {
    static const char *false_keys[] = {"use_dora", "lora_bias", "use_qalora"};
    static const char *null_keys[] = {"modules_to_save", "layer_replication", "exclude_modules", "target_parameters",
                                      "trainable_token_indices", "alora_invocation_tokens", "megatron_config"};
    static const char *empty_keys[] = {"rank_pattern", "alpha_pattern"};
    size_t i;
    const char *bias = it__jstr(j, 0, "bias");
    for (i = 0; i < sizeof false_keys / sizeof false_keys[0]; i++) {
        int c = it__jget(j, 0, false_keys[i]);
        if (c >= 0 && j->v[c].type != IT__J_FALSE && j->v[c].type != IT__J_NULL)
            return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"%s\" is set: only plain LoRA is supported", path, false_keys[i]);
    }
    for (i = 0; i < sizeof null_keys / sizeof null_keys[0]; i++) {
        int c = it__jget(j, 0, null_keys[i]);
        if (c >= 0 && j->v[c].type != IT__J_NULL && !((j->v[c].type == IT__J_ARR || j->v[c].type == IT__J_OBJ) && j->v[c].n == 0))
            return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"%s\" is set: not supported (only LoRA on linear layers)", path,
                                    null_keys[i]);
    }
    for (i = 0; i < sizeof empty_keys / sizeof empty_keys[0]; i++) {
        int c = it__jget(j, 0, empty_keys[i]);
        if (c >= 0 && j->v[c].type != IT__J_NULL && !(j->v[c].type == IT__J_OBJ && j->v[c].n == 0))
            return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"%s\" gives layers their own rank or alpha: not supported",
                                    path, empty_keys[i]);
    }
    if (it__jget(j, 0, "bias") >= 0 && (!bias || strcmp(bias, "none") != 0))
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"bias\" must be \"none\" (trained biases are not supported)", path);
    return IT_OK;
}
IT_API it_result it_lora_read_config(it_context *ctx, const char *dir, it_lora_config *out) {
    char d[IT__PATH_MAX], path[IT__PATH_NAMED];
    unsigned char *buf = NULL;
    it__json j;
    it_result r;
    int64_t v = 0;
    int c, e, tm;
    const char *type;
    IT__NOT_NULL(ctx, "it_lora_read_config");
    IT__NOT_NULL(out, "it_lora_read_config");
    memset(out, 0, sizeof *out);
    if ((r = it__ck_resolve(ctx, dir, d, sizeof d, 0)) != IT_OK) return r;
    it__path_join(path, sizeof path, d, "adapter_config.json");
    r = it__json_file_read(ctx, path, &buf, &j, NULL, NULL);
    if (r != IT_OK) goto done;
    r = IT_ERR_FORMAT;
    type = it__jstr(&j, 0, "peft_type");
    if (!type || strcmp(type, "LORA") != 0) {
        it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"peft_type\" is %s%s%s, not \"LORA\"", path, type ? "\"" : "",
                         type ? type : "missing", type ? "\"" : "");
        r = IT_ERR_UNSUPPORTED;
        goto done;
    }
    if ((r = it__lora_config_refuse(ctx, path, &j)) != IT_OK) goto done;
    r = IT_ERR_FORMAT;
    if (it__jint(ctx, path, &j, 0, "r", 1, 1, IT_LORA_MAX_RANK, &v) < 0) goto done;
    out->rank = (int)v;
    out->alpha = 8.0f; /* PEFT's default */
    if (it__jfloat(ctx, path, &j, 0, "lora_alpha", 0, &out->alpha) < 0) goto done;
    if (it__jfloat(ctx, path, &j, 0, "lora_dropout", 0, &out->dropout) < 0) goto done;
    if (it__jbool(ctx, path, &j, 0, "use_rslora", &out->use_rslora) < 0) goto done;
    if (!(out->alpha > 0.0f) || !(out->dropout >= 0.0f && out->dropout < 1.0f)) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: lora_alpha must be > 0 and lora_dropout in [0, 1)", path);
        goto done;
    }
    tm = it__jget(&j, 0, "target_modules");
    if (tm >= 0 && j.v[tm].type == IT__J_STR) {
        if (strcmp(j.v[tm].str, "all-linear") != 0) { /* a bare string is a regular expression to PEFT */
            it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"target_modules\" is the pattern '%.80s': only a list of module "
                             "names or \"all-linear\" is supported", path, j.v[tm].str);
            r = IT_ERR_UNSUPPORTED;
            goto done;
        }
        snprintf(out->targets, sizeof out->targets, "all-linear");
    } else if (tm >= 0 && j.v[tm].type == IT__J_ARR && j.v[tm].n > 0) {
        size_t at = 0;
        for (e = j.v[tm].first; e >= 0; e = j.v[e].next) {
            const char *name = j.v[e].type == IT__J_STR ? j.v[e].str : NULL;
            if (!name || !name[0] || strchr(name, ',') || strlen(name) + at + 2 > sizeof out->targets) {
                it_context_error(ctx, IT_ERR_FORMAT, "%s: \"target_modules\" must list module names (strings)", path);
                goto done;
            }
            at += (size_t)snprintf(out->targets + at, sizeof out->targets - at, "%s%s", at ? "," : "", name);
        }
    } else {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"target_modules\" must be a non-empty list of module names", path);
        goto done;
    }
    c = it__jget(&j, 0, "layers_to_transform");
    if (c >= 0 && j.v[c].type == IT__J_NUM) {
        if (!j.v[c].is_int || j.v[c].i64 < 0 || j.v[c].i64 > INT32_MAX) {
            it_context_error(ctx, IT_ERR_FORMAT, "%s: \"layers_to_transform\" must be layer indices", path);
            goto done;
        }
        out->n_layers = 1;
        out->layers[0] = (int)j.v[c].i64;
    } else if (c >= 0 && j.v[c].type == IT__J_ARR) {
        for (e = j.v[c].first; e >= 0; e = j.v[e].next) {
            if (j.v[e].type != IT__J_NUM || !j.v[e].is_int || j.v[e].i64 < 0 || j.v[e].i64 > INT32_MAX ||
                out->n_layers == IT_LORA_MAX_LAYERS) {
                it_context_error(ctx, IT_ERR_FORMAT, "%s: \"layers_to_transform\" must be at most %d layer indices", path,
                                 IT_LORA_MAX_LAYERS);
                goto done;
            }
            out->layers[out->n_layers++] = (int)j.v[e].i64;
        }
    } else if (c >= 0 && j.v[c].type != IT__J_NULL) {
        it_context_error(ctx, IT_ERR_FORMAT, "%s: \"layers_to_transform\" must be null, an index or a list", path);
        goto done;
    }
    type = it__jstr(&j, 0, "base_model_name_or_path");
    if (type) snprintf(out->base_model, sizeof out->base_model, "%s", type);
    r = IT_OK;
done:
    it__json_free(&j);
    if (buf) it__free(ctx, buf);
    return r;
}
static int it__lora_same_layers(const it_lora_config *a, const it_lora_config *b, int n_layers) {
    int i;
    for (i = 0; i < n_layers; i++)
        if (it__lora_layer_on(a, n_layers, i) != it__lora_layer_on(b, n_layers, i)) return 0;
    return 1;
}

/* ---- load ---- */
IT_API it_result it_lora_load(it_context *ctx, it_lora *l, it_optimizer *opt, it_trainer_state *ts, const char *dir) {
    char d[IT__PATH_MAX], label[IT__PATH_NAMED], olabel[IT__PATH_NAMED], buf[200];
    it_lora_config fc;
    it__st_file f, of;
    it__ck_map map, gmap;
    it_trainer_state state;
    it_optimizer_kind kind = IT_OPTIMIZER_INVALID;
    uint64_t step = 0;
    float *tmp = NULL;
    it_result r;
    int i, q;
    const char *names[2] = {"", ""}, *why;
    IT__NOT_NULL(ctx, "it_lora_load");
    IT__NOT_NULL(l, "it_lora_load");
    memset(&f, 0, sizeof f);
    memset(&of, 0, sizeof of);
    memset(&map, 0, sizeof map);
    memset(&gmap, 0, sizeof gmap);
    if ((r = it__ck_resolve(ctx, dir, d, sizeof d, 0)) != IT_OK) return r;
    if ((r = it_lora_read_config(ctx, d, &fc)) != IT_OK) return r;
    if ((why = it__lora_config_problem(&l->model->config, &fc, buf, sizeof buf)) != NULL)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s/adapter_config.json: %s", d, why);
    if (fc.rank != l->config.rank || fc.alpha != l->config.alpha || !fc.use_rslora != !l->config.use_rslora ||
        !it__lora_same_layers(&fc, &l->config, l->model->config.n_layers))
        return it_context_error(ctx, IT_ERR_FORMAT, "%s/adapter_config.json: r %d, alpha %g%s differ from the adapter being "
                                "loaded (r %d, alpha %g%s) or its layers do", d, fc.rank, (double)fc.alpha,
                                fc.use_rslora ? " rslora" : "", l->config.rank, (double)l->config.alpha,
                                l->config.use_rslora ? " rslora" : "");
    if ((r = it_params_alloc(l->ctx)) != IT_OK) return r;
    if ((r = it__lora_map(ctx, l, 0, &map)) != IT_OK) return r;
    /* the adapter's modules: the file must hold exactly the tensors of the config's targets */
    r = it__ck_read_st(ctx, d, "adapter_model.safetensors", &f, label, sizeof label, NULL);
    if (r == IT_OK) r = it__ck_match(ctx, &f, 1, &map, names, 1, 0);
    if (r == IT_OK) r = it__st_check_values(ctx, &f);
    if (r == IT_OK && opt) {
        const it__jv *k, *st;
        if (opt->ctx != l->ctx) r = it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_lora_load: the optimizer is another context's");
        if (r == IT_OK) r = it__ck_read_st(ctx, d, "optimizer.safetensors", &of, olabel, sizeof olabel, NULL);
        if (r == IT_OK) {
            k = it__st_meta(&of, "irontensor.optimizer");
            st = it__st_meta(&of, "irontensor.optimizer_step");
            if (!k || k->type != IT__J_STR || it_optimizer_parse(k->str, &kind) != IT_OK || kind != opt->desc.kind)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: holds %s state, the optimizer is %s", olabel,
                                     k && k->type == IT__J_STR ? k->str : "no known", it_optimizer_name(opt->desc.kind));
            else if (!st || st->type != IT__J_STR || it__parse_u64_dec(st->str, &step) || step > INT32_MAX)
                r = it_context_error(ctx, IT_ERR_FORMAT, "%s: __metadata__ irontensor.optimizer_step missing or not a step", olabel);
        }
        if (r == IT_OK) r = it__ck_match(ctx, &of, 1, &map, names, it__ck_state_names(kind, names), 1);
        if (r == IT_OK) r = it__st_check_values(ctx, &of);
        if (r == IT_OK) r = it__lora_map(ctx, l, 1, &gmap);
    }
    if (r == IT_OK && ts) r = it_checkpoint_read_trainer_state(ctx, d, &state);
    if (r == IT_OK && ts && opt && state.optimizer.kind != kind)
        r = it_context_error(ctx, IT_ERR_FORMAT, "%s/trainer_state.json: names %s, optimizer.safetensors holds %s", d,
                             it_optimizer_name(state.optimizer.kind), it_optimizer_name(kind));
    if (r == IT_OK && !(tmp = (float *)it__alloc(ctx, IT__CK_CHUNK * sizeof(float))))
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "LoRA: out of memory");
    /* validated: apply */
    for (q = 0; r == IT_OK && q < (opt ? 1 + it__ck_state_names(kind, names) : 1); q++) {
        const it__st_file *src = q == 0 ? &f : &of;
        const it__ck_map *mp = q == 0 ? &map : &gmap;
        float *base = q == 0 ? it_param_block(l->ctx) : opt->state + (size_t)(q - 1) * it_grad_numel(l->ctx);
        if (q > 0) it__ck_state_names(kind, names);
        for (i = 0; i < mp->n; i++) {
            const it__ck_entry *e = &mp->e[i];
            char name[200];
            const it__st_tensor *t;
            uint64_t total = it__ck_numel(e), at = 0;
            snprintf(name, sizeof name, "%s%s%s", e->name, q ? "." : "", q ? names[q - 1] : "");
            t = it__st_find(src, name);
            while (at < total) {
                size_t len = (size_t)(total - at < IT__CK_CHUNK ? total - at : IT__CK_CHUNK);
                it__st_to_f32(tmp, src->data + t->begin, t->dtype, (size_t)at, len);
                it__ck_scatter(e, base, at, len, tmp);
                at += len;
            }
        }
    }
    if (r == IT_OK && opt) opt->step = (int)step;
    if (r == IT_OK && ts) *ts = state;
    if (tmp) it__free(ctx, tmp);
    f.label = of.label = NULL;
    it__st_free(ctx, &f);
    it__st_free(ctx, &of);
    it__ck_map_free(ctx, &map);
    it__ck_map_free(ctx, &gmap);
    return r;
}
IT_API it_result it_lora_attach(it_model *m, const char *dir, it_lora **out) {
    it_lora_config c;
    it_result r;
    IT__NOT_NULL(m, "it_lora_attach");
    IT__NOT_NULL(out, "it_lora_attach");
    *out = NULL;
    if ((r = it_lora_read_config(m->ctx, dir, &c)) != IT_OK) return r;
    if ((r = it_lora_create(m, &c, out)) != IT_OK) return r;
    return it_lora_load(m->ctx, *out, NULL, NULL, dir);
}

/* ---- save ---- */
typedef struct it__lora_save_job {
    const it_lora *l;
    const it_optimizer *opt;
    const it_trainer_state *ts;
    const char *run_id;
} it__lora_save_job;
static it_result it__lora_write(it_context *ctx, const void *job, const char *tmp) {
    const it__lora_save_job *j = (const it__lora_save_job *)job;
    char path[IT__PATH_NAMED];
    it__ck_map map, gmap;
    it__st_item *items = NULL;
    it__buf b;
    it_result r;
    int i, q;
    it__buf_init(&b, ctx);
    memset(&gmap, 0, sizeof gmap);
    if ((r = it__lora_map(ctx, j->l, 0, &map)) != IT_OK) return r;
    if (j->opt && (r = it__lora_map(ctx, j->l, 1, &gmap)) != IT_OK) goto done;
    items = (it__st_item *)it__alloc(ctx, sizeof(it__st_item) * (size_t)map.n * 2);
    if (!items) {
        r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "LoRA save: out of memory");
        goto done;
    }
    it__lora_config_json(&b, j->l); /* plain JSON, as peft writes it (no checksum key: peft would keep it as an option) */
    it__path_join(path, sizeof path, tmp, "adapter_config.json");
    if (b.failed) r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    else r = it__write_file(ctx, path, b.p, b.n);
    if (r != IT_OK) goto done;
    for (i = 0; i < map.n; i++) {
        snprintf(items[i].name, sizeof items[i].name, "%s", map.e[i].name);
        items[i].e = &map.e[i];
        items[i].base = it_param_block(j->l->ctx);
    }
    it__path_join(path, sizeof path, tmp, "adapter_model.safetensors");
    if ((r = it__st_write(ctx, path, items, map.n, 0, "lora adapter", NULL)) != IT_OK) goto done;
    if (j->opt) {
        const char *names[2];
        int n_names = it__ck_state_names(j->opt->desc.kind, names), n = 0;
        for (q = 0; q < n_names; q++)
            for (i = 0; i < gmap.n; i++, n++) {
                snprintf(items[n].name, sizeof items[n].name, "%s.%s", gmap.e[i].name, names[q]);
                items[n].e = &gmap.e[i];
                items[n].base = j->opt->state + (size_t)q * it_grad_numel(j->l->ctx);
            }
        it__path_join(path, sizeof path, tmp, "optimizer.safetensors");
        if ((r = it__st_write(ctx, path, items, n, 0, "optimizer", j->opt)) != IT_OK) goto done;
    }
    if (j->ts) {
        it__buf_free(&b);
        it__trainer_json(&b, j->ts, j->opt);
        it__path_join(path, sizeof path, tmp, "trainer_state.json");
        if ((r = it__json_file_write(ctx, path, &b)) != IT_OK) goto done;
    }
    it__buf_free(&b); /* the marker last: a directory carrying it was written whole */
    it__ck_marker_json(&b, j->run_id);
    it__path_join(path, sizeof path, tmp, IT__CK_MARKER);
    r = it__json_file_write(ctx, path, &b);
done:
    it__buf_free(&b);
    if (items) it__free(ctx, items);
    it__ck_map_free(ctx, &map);
    it__ck_map_free(ctx, &gmap);
    return r;
}
IT_API it_result it_lora_save(it_context *ctx, const it_lora *l, const it_optimizer *opt, const it_trainer_state *ts,
                              const char *dir, const it_checkpoint_options *options) {
    it_checkpoint_options o = it__checkpoint_options_defaults(options);
    it__lora_save_job job;
    const char *state_names[2];
    size_t i, cells;
    int q, copies;
    it_result r;
    IT__NOT_NULL(ctx, "it_lora_save");
    IT__NOT_NULL(l, "it_lora_save");
    if (!it_param_block(l->ctx)) return it_context_error(ctx, IT_ERR_STATE, "it_lora_save: the parameters are not allocated");
    if (opt && (!opt->state || opt->ctx != l->ctx))
        return it_context_error(ctx, IT_ERR_STATE, "it_lora_save: the optimizer has no state or is another context's");
    if (o.dtype != IT_F32) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_lora_save: adapters are saved in f32");
    if (o.run_id && !it__ck_run_id_ok(o.run_id))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "it_lora_save: run_id '%.80s' is not a run id", o.run_id);
    if (!it__little_endian()) return it_context_error(ctx, IT_ERR_UNSUPPORTED, "LoRA save: big-endian hosts are not supported");
    if (ts && (r = it_trainer_state_check(ctx, ts)) != IT_OK) return r;
    it__sync(l->ctx);
    /* a diverged adapter must not replace a good one: every A, B (and their state) finite */
    cells = (size_t)l->model->config.n_layers * IT_MODEL_LAYER_PARAMS;
    copies = opt ? it__ck_state_names(opt->desc.kind, state_names) : 0;
    for (i = 0; i < 2 * cells; i++) {
        it_tensor *t = i < cells ? l->a[i] : l->b[i - cells];
        size_t k, off;
        if (!t) continue;
        for (q = 0; q <= copies; q++) {
            const float *x = it_data(t);
            if (q > 0) {
                it_tensor_block(it_grad_tensor(t), &off);
                x = opt->state + (size_t)(q - 1) * it_grad_numel(l->ctx) + off / sizeof(float);
            }
            for (k = 0; k < t->numel; k++)
                if (!isfinite(x[k]))
                    return it_context_error(ctx, IT_ERR_RANGE, "LoRA save %s: %s of '%s' holds %g at element %lu (the run "
                                            "diverged?); not saved, the adapter already there (if any) is unchanged", dir,
                                            q ? "the optimizer state" : "the weight", t->name, (double)x[k], (unsigned long)k);
        }
    }
    job.l = l;
    job.opt = opt;
    job.ts = ts;
    job.run_id = o.run_id;
    return it__ck_save_dir(ctx, dir, o.lock_wait_ms, it__lora_write, &job);
}

/* ---- merge ---- */
IT_API it_result it_lora_merge(it_lora *l) {
    it_model *m;
    size_t i, cells;
    IT__NOT_NULL(l, "it_lora_merge");
    m = l->model;
    if (!it_param_block(l->ctx)) return it_context_error(l->ctx, IT_ERR_STATE, "it_lora_merge: the parameters are not allocated");
    if (m->lora != l) return it_context_error(l->ctx, IT_ERR_STATE, "it_lora_merge: the adapter is not attached (merged already?)");
    it__sync(l->ctx);
    cells = (size_t)m->config.n_layers * IT_MODEL_LAYER_PARAMS;
    for (i = 0; i < cells; i++) {
        it_tensor *w = m->layer_params[i], *a = l->a[i], *b = l->b[i];
        int in, out_dim, r;
        float *scaled;
        if (!a) continue;
        it__lora_dims(m, w, &in, &out_dim);
        r = a->dims[0];
        scaled = (float *)it__alloc(l->ctx, b->numel * sizeof(float));
        if (!scaled) return it_context_error(l->ctx, IT_ERR_OUT_OF_MEMORY, "it_lora_merge: out of memory");
        it_cpu_scale_forward(scaled, it_data(b), l->scale, b->numel);
        if (m->config.arch == IT_ARCH_LLAMA) /* W [out, in] += (scale B) A */
            it__gemm(l->ctx, it_data(w), scaled, it_data(a), out_dim, in, r, 0, 0, 1);
        else /* Conv1D W [in, out] += A^T (scale B)^T */
            it__gemm(l->ctx, it_data(w), it_data(a), scaled, in, out_dim, r, 1, 1, 1);
        it__free(l->ctx, scaled);
    }
    m->lora = NULL; /* graphs and decoders made from now on run the merged weights alone */
    return IT_OK;
}

/* >>hf_tokenizers  Hugging Face tokenizer.json: Unicode tables, a small regex engine, the loader,
   encoding and decoding. What follows mirrors the pipeline of the `tokenizers` library:
     1. added tokens are cut out of the text first: those with normalized = false on the raw text,
        the others after normalization, leftmost-longest, widened by lstrip / rstrip;
     2. each remaining piece is normalized (NFC, NFD, Prepend, Replace, Strip, Sequence);
     3. pre-tokenizers split pieces into words (ByteLevel with GPT-2's regex, Split with a regex
        or a string and one of the five behaviours, Metaspace, Sequence);
     4. the BPE model turns each word into ids: the word's characters (byte fallback to <0xXX>
        tokens, or the unknown token, fused when fuse_unk), then merges lowest rank first, leftmost
        first, through a heap over a linked list (O(L log L) in the word length L); with
        ignore_merges a word that is itself in the vocabulary is one id;
     5. the post-processor's TemplateProcessing adds BOS / EOS (unless IT_TOKENIZE_NO_SPECIAL).
   Decoding maps ids to token strings (added tokens by content) and runs the decoder chain
   (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence). Everything else in a file
   (another model type, normalizer, pre-tokenizer, decoder or processor) is refused by name. */

/* >>unicode  tables generated by tools/gen_unicode.c; `make check-unicode` (part of make test)
   regenerates them from the Unicode Character Database and fails on any difference. */
/* BEGIN GENERATED UNICODE TABLES (tools/gen_unicode.c from the Unicode Character Database: UnicodeData.txt,
   PropList.txt, CompositionExclusions.txt, CaseFolding.txt; do not edit, run the tool) */
static const uint32_t it__uc_gc_runs[] = {
    0x1a, 0x417, 0x432, 0x494, 0x4b2, 0x50e, 0x52f, 0x552, 0x573, 0x592,
    0x5ad, 0x5d2, 0x609, 0x752, 0x793, 0x7f2, 0x821, 0xb6e, 0xb92, 0xbaf,
    0xbd5, 0xbec, 0xc15, 0xc22, 0xf6e, 0xf93, 0xfaf, 0xfd3, 0xffa, 0x1417,
    0x1432, 0x1454, 0x14d6, 0x14f2, 0x1515, 0x1536, 0x1545, 0x1570, 0x1593, 0x15bb,
    0x15d6, 0x15f5, 0x1616, 0x1633, 0x164b, 0x1695, 0x16a2, 0x16d2, 0x1715, 0x172b,
    0x1745, 0x1771, 0x178b, 0x17f2, 0x1801, 0x1af3, 0x1b01, 0x1be2, 0x1ef3, 0x1f02,
    0x2001, 0x2022, 0x2041, 0x2062, 0x2081, 0x20a2, 0x20c1, 0x20e2, 0x2101, 0x2122,
    0x2141, 0x2162, 0x2181, 0x21a2, 0x21c1, 0x21e2, 0x2201, 0x2222, 0x2241, 0x2262,
    0x2281, 0x22a2, 0x22c1, 0x22e2, 0x2301, 0x2322, 0x2341, 0x2362, 0x2381, 0x23a2,
    0x23c1, 0x23e2, 0x2401, 0x2422, 0x2441, 0x2462, 0x2481, 0x24a2, 0x24c1, 0x24e2,
    0x2501, 0x2522, 0x2541, 0x2562, 0x2581, 0x25a2, 0x25c1, 0x25e2, 0x2601, 0x2622,
    0x2641, 0x2662, 0x2681, 0x26a2, 0x26c1, 0x26e2, 0x2721, 0x2742, 0x2761, 0x2782,
    0x27a1, 0x27c2, 0x27e1, 0x2802, 0x2821, 0x2842, 0x2861, 0x2882, 0x28a1, 0x28c2,
    0x28e1, 0x2902, 0x2941, 0x2962, 0x2981, 0x29a2, 0x29c1, 0x29e2, 0x2a01, 0x2a22,
    0x2a41, 0x2a62, 0x2a81, 0x2aa2, 0x2ac1, 0x2ae2, 0x2b01, 0x2b22, 0x2b41, 0x2b62,
    0x2b81, 0x2ba2, 0x2bc1, 0x2be2, 0x2c01, 0x2c22, 0x2c41, 0x2c62, 0x2c81, 0x2ca2,
    0x2cc1, 0x2ce2, 0x2d01, 0x2d22, 0x2d41, 0x2d62, 0x2d81, 0x2da2, 0x2dc1, 0x2de2,
    0x2e01, 0x2e22, 0x2e41, 0x2e62, 0x2e81, 0x2ea2, 0x2ec1, 0x2ee2, 0x2f01, 0x2f42,
    0x2f61, 0x2f82, 0x2fa1, 0x2fc2, 0x3021, 0x3062, 0x3081, 0x30a2, 0x30c1, 0x3102,
    0x3121, 0x3182, 0x31c1, 0x3242, 0x3261, 0x32a2, 0x32c1, 0x3322, 0x3381, 0x33c2,
    0x33e1, 0x3422, 0x3441, 0x3462, 0x3481, 0x34a2, 0x34c1, 0x3502, 0x3521, 0x3542,
    0x3581, 0x35a2, 0x35c1, 0x3602, 0x3621, 0x3682, 0x36a1, 0x36c2, 0x36e1, 0x3722,
    0x3765, 0x3781, 0x37a2, 0x3805, 0x3881, 0x38a3, 0x38c2, 0x38e1, 0x3903, 0x3922,
    0x3941, 0x3963, 0x3982, 0x39a1, 0x39c2, 0x39e1, 0x3a02, 0x3a21, 0x3a42, 0x3a61,
    0x3a82, 0x3aa1, 0x3ac2, 0x3ae1, 0x3b02, 0x3b21, 0x3b42, 0x3b61, 0x3b82, 0x3bc1,
    0x3be2, 0x3c01, 0x3c22, 0x3c41, 0x3c62, 0x3c81, 0x3ca2, 0x3cc1, 0x3ce2, 0x3d01,
    0x3d22, 0x3d41, 0x3d62, 0x3d81, 0x3da2, 0x3dc1, 0x3de2, 0x3e21, 0x3e43, 0x3e62,
    0x3e81, 0x3ea2, 0x3ec1, 0x3f22, 0x3f41, 0x3f62, 0x3f81, 0x3fa2, 0x3fc1, 0x3fe2,
    0x4001, 0x4022, 0x4041, 0x4062, 0x4081, 0x40a2, 0x40c1, 0x40e2, 0x4101, 0x4122,
    0x4141, 0x4162, 0x4181, 0x41a2, 0x41c1, 0x41e2, 0x4201, 0x4222, 0x4241, 0x4262,
    0x4281, 0x42a2, 0x42c1, 0x42e2, 0x4301, 0x4322, 0x4341, 0x4362, 0x4381, 0x43a2,
    0x43c1, 0x43e2, 0x4401, 0x4422, 0x4441, 0x4462, 0x4481, 0x44a2, 0x44c1, 0x44e2,
    0x4501, 0x4522, 0x4541, 0x4562, 0x4581, 0x45a2, 0x45c1, 0x45e2, 0x4601, 0x4622,
    0x4641, 0x4662, 0x4741, 0x4782, 0x47a1, 0x47e2, 0x4821, 0x4842, 0x4861, 0x48e2,
    0x4901, 0x4922, 0x4941, 0x4962, 0x4981, 0x49a2, 0x49c1, 0x49e2, 0x5285, 0x52a2,
    0x5604, 0x5855, 0x58c4, 0x5a55, 0x5c04, 0x5cb5, 0x5d84, 0x5db5, 0x5dc4, 0x5df5,
    0x6006, 0x6e01, 0x6e22, 0x6e41, 0x6e62, 0x6e84, 0x6eb5, 0x6ec1, 0x6ee2, 0x6f00,
    0x6f44, 0x6f62, 0x6fd2, 0x6fe1, 0x7000, 0x7095, 0x70c1, 0x70f2, 0x7101, 0x7160,
    0x7181, 0x71a0, 0x71c1, 0x7202, 0x7221, 0x7440, 0x7461, 0x7582, 0x79e1, 0x7a02,
    0x7a41, 0x7aa2, 0x7b01, 0x7b22, 0x7b41, 0x7b62, 0x7b81, 0x7ba2, 0x7bc1, 0x7be2,
    0x7c01, 0x7c22, 0x7c41, 0x7c62, 0x7c81, 0x7ca2, 0x7cc1, 0x7ce2, 0x7d01, 0x7d22,
    0x7d41, 0x7d62, 0x7d81, 0x7da2, 0x7dc1, 0x7de2, 0x7e81, 0x7ea2, 0x7ed3, 0x7ee1,
    0x7f02, 0x7f21, 0x7f62, 0x7fa1, 0x8602, 0x8c01, 0x8c22, 0x8c41, 0x8c62, 0x8c81,
    0x8ca2, 0x8cc1, 0x8ce2, 0x8d01, 0x8d22, 0x8d41, 0x8d62, 0x8d81, 0x8da2, 0x8dc1,
    0x8de2, 0x8e01, 0x8e22, 0x8e41, 0x8e62, 0x8e81, 0x8ea2, 0x8ec1, 0x8ee2, 0x8f01,
    0x8f22, 0x8f41, 0x8f62, 0x8f81, 0x8fa2, 0x8fc1, 0x8fe2, 0x9001, 0x9022, 0x9056,
    0x9066, 0x9108, 0x9141, 0x9162, 0x9181, 0x91a2, 0x91c1, 0x91e2, 0x9201, 0x9222,
    0x9241, 0x9262, 0x9281, 0x92a2, 0x92c1, 0x92e2, 0x9301, 0x9322, 0x9341, 0x9362,
    0x9381, 0x93a2, 0x93c1, 0x93e2, 0x9401, 0x9422, 0x9441, 0x9462, 0x9481, 0x94a2,
    0x94c1, 0x94e2, 0x9501, 0x9522, 0x9541, 0x9562, 0x9581, 0x95a2, 0x95c1, 0x95e2,
    0x9601, 0x9622, 0x9641, 0x9662, 0x9681, 0x96a2, 0x96c1, 0x96e2, 0x9701, 0x9722,
    0x9741, 0x9762, 0x9781, 0x97a2, 0x97c1, 0x97e2, 0x9801, 0x9842, 0x9861, 0x9882,
    0x98a1, 0x98c2, 0x98e1, 0x9902, 0x9921, 0x9942, 0x9961, 0x9982, 0x99a1, 0x99c2,
    0x9a01, 0x9a22, 0x9a41, 0x9a62, 0x9a81, 0x9aa2, 0x9ac1, 0x9ae2, 0x9b01, 0x9b22,
    0x9b41, 0x9b62, 0x9b81, 0x9ba2, 0x9bc1, 0x9be2, 0x9c01, 0x9c22, 0x9c41, 0x9c62,
    0x9c81, 0x9ca2, 0x9cc1, 0x9ce2, 0x9d01, 0x9d22, 0x9d41, 0x9d62, 0x9d81, 0x9da2,
    0x9dc1, 0x9de2, 0x9e01, 0x9e22, 0x9e41, 0x9e62, 0x9e81, 0x9ea2, 0x9ec1, 0x9ee2,
    0x9f01, 0x9f22, 0x9f41, 0x9f62, 0x9f81, 0x9fa2, 0x9fc1, 0x9fe2, 0xa001, 0xa022,
    0xa041, 0xa062, 0xa081, 0xa0a2, 0xa0c1, 0xa0e2, 0xa101, 0xa122, 0xa141, 0xa162,
    0xa181, 0xa1a2, 0xa1c1, 0xa1e2, 0xa201, 0xa222, 0xa241, 0xa262, 0xa281, 0xa2a2,
    0xa2c1, 0xa2e2, 0xa301, 0xa322, 0xa341, 0xa362, 0xa381, 0xa3a2, 0xa3c1, 0xa3e2,
    0xa401, 0xa422, 0xa441, 0xa462, 0xa481, 0xa4a2, 0xa4c1, 0xa4e2, 0xa501, 0xa522,
    0xa541, 0xa562, 0xa581, 0xa5a2, 0xa5c1, 0xa5e2, 0xa600, 0xa621, 0xaae0, 0xab24,
    0xab52, 0xac02, 0xb132, 0xb14d, 0xb160, 0xb1b6, 0xb1f4, 0xb200, 0xb226, 0xb7cd,
    0xb7e6, 0xb812, 0xb826, 0xb872, 0xb886, 0xb8d2, 0xb8e6, 0xb900, 0xba05, 0xbd60,
    0xbde5, 0xbe72, 0xbea0, 0xc01b, 0xc0d3, 0xc132, 0xc174, 0xc192, 0xc1d6, 0xc206,
    0xc372, 0xc39b, 0xc3b2, 0xc405, 0xc804, 0xc825, 0xc966, 0xcc09, 0xcd52, 0xcdc5,
    0xce06, 0xce25, 0xda92, 0xdaa5, 0xdac6, 0xdbbb, 0xdbd6, 0xdbe6, 0xdca4, 0xdce6,
    0xdd36, 0xdd46, 0xddc5, 0xde09, 0xdf45, 0xdfb6, 0xdfe5, 0xe012, 0xe1c0, 0xe1fb,
    0xe205, 0xe226, 0xe245, 0xe606, 0xe960, 0xe9a5, 0xf4c6, 0xf625, 0xf640, 0xf809,
    0xf945, 0xfd66, 0xfe84, 0xfed6, 0xfef2, 0xff44, 0xff60, 0xffa6, 0xffd4, 0x10005,
    0x102c6, 0x10344, 0x10366, 0x10484, 0x104a6, 0x10504, 0x10526, 0x105c0, 0x10612, 0x107e0,
    0x10805, 0x10b26, 0x10b80, 0x10bd2, 0x10be0, 0x10c05, 0x10d60, 0x10e05, 0x11115, 0x11125,
    0x111e0, 0x1121b, 0x11240, 0x11306, 0x11405, 0x11924, 0x11946, 0x11c5b, 0x11c66, 0x12067,
    0x12085, 0x12746, 0x12767, 0x12786, 0x127a5, 0x127c7, 0x12826, 0x12927, 0x129a6, 0x129c7,
    0x12a05, 0x12a26, 0x12b05, 0x12c46, 0x12c92, 0x12cc9, 0x12e12, 0x12e24, 0x12e45, 0x13026,
    0x13047, 0x13080, 0x130a5, 0x131a0, 0x131e5, 0x13220, 0x13265, 0x13520, 0x13545, 0x13620,
    0x13645, 0x13660, 0x136c5, 0x13740, 0x13786, 0x137a5, 0x137c7, 0x13826, 0x138a0, 0x138e7,
    0x13920, 0x13967, 0x139a6, 0x139c5, 0x139e0, 0x13ae7, 0x13b00, 0x13b85, 0x13bc0, 0x13be5,
    0x13c46, 0x13c80, 0x13cc9, 0x13e05, 0x13e54, 0x13e8b, 0x13f56, 0x13f74, 0x13f85, 0x13fb2,
    0x13fc6, 0x13fe0, 0x14026, 0x14067, 0x14080, 0x140a5, 0x14160, 0x141e5, 0x14220, 0x14265,
    0x14520, 0x14545, 0x14620, 0x14645, 0x14680, 0x146a5, 0x146e0, 0x14705, 0x14740, 0x14786,
    0x147a0, 0x147c7, 0x14826, 0x14860, 0x148e6, 0x14920, 0x14966, 0x149c0, 0x14a26, 0x14a40,
    0x14b25, 0x14ba0, 0x14bc5, 0x14be0, 0x14cc9, 0x14e06, 0x14e45, 0x14ea6, 0x14ed2, 0x14ee0,
    0x15026, 0x15067, 0x15080, 0x150a5, 0x151c0, 0x151e5, 0x15240, 0x15265, 0x15520, 0x15545,
    0x15620, 0x15645, 0x15680, 0x156a5, 0x15740, 0x15786, 0x157a5, 0x157c7, 0x15826, 0x158c0,
    0x158e6, 0x15927, 0x15940, 0x15967, 0x159a6, 0x159c0, 0x15a05, 0x15a20, 0x15c05, 0x15c46,
    0x15c80, 0x15cc9, 0x15e12, 0x15e34, 0x15e40, 0x15f25, 0x15f46, 0x16000, 0x16026, 0x16047,
    0x16080, 0x160a5, 0x161a0, 0x161e5, 0x16220, 0x16265, 0x16520, 0x16545, 0x16620, 0x16645,
    0x16680, 0x166a5, 0x16740, 0x16786, 0x167a5, 0x167c7, 0x167e6, 0x16807, 0x16826, 0x168a0,
    0x168e7, 0x16920, 0x16967, 0x169a6, 0x169c0, 0x16aa6, 0x16ae7, 0x16b00, 0x16b85, 0x16bc0,
    0x16be5, 0x16c46, 0x16c80, 0x16cc9, 0x16e16, 0x16e25, 0x16e4b, 0x16f00, 0x17046, 0x17065,
    0x17080, 0x170a5, 0x17160, 0x171c5, 0x17220, 0x17245, 0x172c0, 0x17325, 0x17360, 0x17385,
    0x173a0, 0x173c5, 0x17400, 0x17465, 0x174a0, 0x17505, 0x17560, 0x175c5, 0x17740, 0x177c7,
    0x17806, 0x17827, 0x17860, 0x178c7, 0x17920, 0x17947, 0x179a6, 0x179c0, 0x17a05, 0x17a20,
    0x17ae7, 0x17b00, 0x17cc9, 0x17e0b, 0x17e76, 0x17f34, 0x17f56, 0x17f60, 0x18006, 0x18027,
    0x18086, 0x180a5, 0x181a0, 0x181c5, 0x18220, 0x18245, 0x18520, 0x18545, 0x18740, 0x18786,
    0x187a5, 0x187c6, 0x18827, 0x188a0, 0x188c6, 0x18920, 0x18946, 0x189c0, 0x18aa6, 0x18ae0,
    0x18b05, 0x18b60, 0x18ba5, 0x18bc0, 0x18c05, 0x18c46, 0x18c80, 0x18cc9, 0x18e00, 0x18ef2,
    0x18f0b, 0x18ff6, 0x19005, 0x19026, 0x19047, 0x19092, 0x190a5, 0x191a0, 0x191c5, 0x19220,
    0x19245, 0x19520, 0x19545, 0x19680, 0x196a5, 0x19740, 0x19786, 0x197a5, 0x197c7, 0x197e6,
    0x19807, 0x198a0, 0x198c6, 0x198e7, 0x19920, 0x19947, 0x19986, 0x199c0, 0x19aa7, 0x19ae0,
    0x19ba5, 0x19be0, 0x19c05, 0x19c46, 0x19c80, 0x19cc9, 0x19e00, 0x19e25, 0x19e67, 0x19e80,
    0x1a006, 0x1a047, 0x1a085, 0x1a1a0, 0x1a1c5, 0x1a220, 0x1a245, 0x1a766, 0x1a7a5, 0x1a7c7,
    0x1a826, 0x1a8a0, 0x1a8c7, 0x1a920, 0x1a947, 0x1a9a6, 0x1a9c5, 0x1a9f6, 0x1aa00, 0x1aa85,
    0x1aae7, 0x1ab0b, 0x1abe5, 0x1ac46, 0x1ac80, 0x1acc9, 0x1ae0b, 0x1af36, 0x1af45, 0x1b000,
    0x1b026, 0x1b047, 0x1b080, 0x1b0a5, 0x1b2e0, 0x1b345, 0x1b640, 0x1b665, 0x1b780, 0x1b7a5,
    0x1b7c0, 0x1b805, 0x1b8e0, 0x1b946, 0x1b960, 0x1b9e7, 0x1ba46, 0x1baa0, 0x1bac6, 0x1bae0,
    0x1bb07, 0x1bc00, 0x1bcc9, 0x1be00, 0x1be47, 0x1be92, 0x1bea0, 0x1c025, 0x1c626, 0x1c645,
    0x1c686, 0x1c760, 0x1c7f4, 0x1c805, 0x1c8c4, 0x1c8e6, 0x1c9f2, 0x1ca09, 0x1cb52, 0x1cb80,
    0x1d025, 0x1d060, 0x1d085, 0x1d0a0, 0x1d0c5, 0x1d160, 0x1d185, 0x1d480, 0x1d4a5, 0x1d4c0,
    0x1d4e5, 0x1d626, 0x1d645, 0x1d686, 0x1d7a5, 0x1d7c0, 0x1d805, 0x1d8a0, 0x1d8c4, 0x1d8e0,
    0x1d906, 0x1d9e0, 0x1da09, 0x1db40, 0x1db85, 0x1dc00, 0x1e005, 0x1e036, 0x1e092, 0x1e276,
    0x1e292, 0x1e2b6, 0x1e306, 0x1e356, 0x1e409, 0x1e54b, 0x1e696, 0x1e6a6, 0x1e6d6, 0x1e6e6,
    0x1e716, 0x1e726, 0x1e74e, 0x1e76f, 0x1e78e, 0x1e7af, 0x1e7c7, 0x1e805, 0x1e900, 0x1e925,
    0x1eda0, 0x1ee26, 0x1efe7, 0x1f006, 0x1f0b2, 0x1f0c6, 0x1f105, 0x1f1a6, 0x1f300, 0x1f326,
    0x1f7a0, 0x1f7d6, 0x1f8c6, 0x1f8f6, 0x1f9a0, 0x1f9d6, 0x1fa12, 0x1fab6, 0x1fb32, 0x1fb60,
    0x20005, 0x20567, 0x205a6, 0x20627, 0x20646, 0x20707, 0x20726, 0x20767, 0x207a6, 0x207e5,
    0x20809, 0x20952, 0x20a05, 0x20ac7, 0x20b06, 0x20b45, 0x20bc6, 0x20c25, 0x20c47, 0x20ca5,
    0x20ce7, 0x20dc5, 0x20e26, 0x20ea5, 0x21046, 0x21067, 0x210a6, 0x210e7, 0x211a6, 0x211c5,
    0x211e7, 0x21209, 0x21347, 0x213a6, 0x213d6, 0x21401, 0x218c0, 0x218e1, 0x21900, 0x219a1,
    0x219c0, 0x21a02, 0x21f72, 0x21f84, 0x21fa2, 0x22005, 0x24920, 0x24945, 0x249c0, 0x24a05,
    0x24ae0, 0x24b05, 0x24b20, 0x24b45, 0x24bc0, 0x24c05, 0x25120, 0x25145, 0x251c0, 0x25205,
    0x25620, 0x25645, 0x256c0, 0x25705, 0x257e0, 0x25805, 0x25820, 0x25845, 0x258c0, 0x25905,
    0x25ae0, 0x25b05, 0x26220, 0x26245, 0x262c0, 0x26305, 0x26b60, 0x26ba6, 0x26c12, 0x26d2b,
    0x26fa0, 0x27005, 0x27216, 0x27340, 0x27401, 0x27ec0, 0x27f02, 0x27fc0, 0x2800d, 0x28025,
    0x2cdb6, 0x2cdd2, 0x2cde5, 0x2d017, 0x2d025, 0x2d36e, 0x2d38f, 0x2d3a0, 0x2d405, 0x2dd72,
    0x2ddca, 0x2de25, 0x2df20, 0x2e005, 0x2e246, 0x2e2a7, 0x2e2c0, 0x2e3e5, 0x2e646, 0x2e687,
    0x2e6b2, 0x2e6e0, 0x2e805, 0x2ea46, 0x2ea80, 0x2ec05, 0x2eda0, 0x2edc5, 0x2ee20, 0x2ee46,
    0x2ee80, 0x2f005, 0x2f686, 0x2f6c7, 0x2f6e6, 0x2f7c7, 0x2f8c6, 0x2f8e7, 0x2f926, 0x2fa92,
    0x2fae4, 0x2fb12, 0x2fb74, 0x2fb85, 0x2fba6, 0x2fbc0, 0x2fc09, 0x2fd40, 0x2fe0b, 0x2ff40,
    0x30012, 0x300cd, 0x300f2, 0x30166, 0x301db, 0x301e6, 0x30209, 0x30340, 0x30405, 0x30864,
    0x30885, 0x30f20, 0x31005, 0x310a6, 0x310e5, 0x31526, 0x31545, 0x31560, 0x31605, 0x31ec0,
    0x32005, 0x323e0, 0x32406, 0x32467, 0x324e6, 0x32527, 0x32580, 0x32607, 0x32646, 0x32667,
    0x32726, 0x32780, 0x32816, 0x32820, 0x32892, 0x328c9, 0x32a05, 0x32dc0, 0x32e05, 0x32ea0,
    0x33005, 0x33580, 0x33605, 0x33940, 0x33a09, 0x33b4b, 0x33b60, 0x33bd6, 0x34005, 0x342e6,
    0x34327, 0x34366, 0x34380, 0x343d2, 0x34405, 0x34aa7, 0x34ac6, 0x34ae7, 0x34b06, 0x34be0,
    0x34c06, 0x34c27, 0x34c46, 0x34c67, 0x34ca6, 0x34da7, 0x34e66, 0x34fa0, 0x34fe6, 0x35009,
    0x35140, 0x35209, 0x35340, 0x35412, 0x354e4, 0x35512, 0x355c0, 0x35606, 0x357c8, 0x357e6,
    0x359e0, 0x36006, 0x36087, 0x360a5, 0x36686, 0x366a7, 0x366c6, 0x36767, 0x36786, 0x367a7,
    0x36846, 0x36867, 0x368a5, 0x369a0, 0x36a09, 0x36b52, 0x36c36, 0x36d66, 0x36e96, 0x36fb2,
    0x36fe0, 0x37006, 0x37047, 0x37065, 0x37427, 0x37446, 0x374c7, 0x37506, 0x37547, 0x37566,
    0x375c5, 0x37609, 0x37745, 0x37cc6, 0x37ce7, 0x37d06, 0x37d47, 0x37da6, 0x37dc7, 0x37de6,
    0x37e47, 0x37e80, 0x37f92, 0x38005, 0x38487, 0x38586, 0x38687, 0x386c6, 0x38700, 0x38772,
    0x38809, 0x38940, 0x389a5, 0x38a09, 0x38b45, 0x38f04, 0x38fd2, 0x39002, 0x39120, 0x39201,
    0x39760, 0x397a1, 0x39812, 0x39900, 0x39a06, 0x39a72, 0x39a86, 0x39c27, 0x39c46, 0x39d25,
    0x39da6, 0x39dc5, 0x39e86, 0x39ea5, 0x39ee7, 0x39f06, 0x39f45, 0x39f60, 0x3a002, 0x3a584,
    0x3ad62, 0x3af04, 0x3af22, 0x3b364, 0x3b806, 0x3c001, 0x3c022, 0x3c041, 0x3c062, 0x3c081,
    0x3c0a2, 0x3c0c1, 0x3c0e2, 0x3c101, 0x3c122, 0x3c141, 0x3c162, 0x3c181, 0x3c1a2, 0x3c1c1,
    0x3c1e2, 0x3c201, 0x3c222, 0x3c241, 0x3c262, 0x3c281, 0x3c2a2, 0x3c2c1, 0x3c2e2, 0x3c301,
    0x3c322, 0x3c341, 0x3c362, 0x3c381, 0x3c3a2, 0x3c3c1, 0x3c3e2, 0x3c401, 0x3c422, 0x3c441,
    0x3c462, 0x3c481, 0x3c4a2, 0x3c4c1, 0x3c4e2, 0x3c501, 0x3c522, 0x3c541, 0x3c562, 0x3c581,
    0x3c5a2, 0x3c5c1, 0x3c5e2, 0x3c601, 0x3c622, 0x3c641, 0x3c662, 0x3c681, 0x3c6a2, 0x3c6c1,
    0x3c6e2, 0x3c701, 0x3c722, 0x3c741, 0x3c762, 0x3c781, 0x3c7a2, 0x3c7c1, 0x3c7e2, 0x3c801,
    0x3c822, 0x3c841, 0x3c862, 0x3c881, 0x3c8a2, 0x3c8c1, 0x3c8e2, 0x3c901, 0x3c922, 0x3c941,
    0x3c962, 0x3c981, 0x3c9a2, 0x3c9c1, 0x3c9e2, 0x3ca01, 0x3ca22, 0x3ca41, 0x3ca62, 0x3ca81,
    0x3caa2, 0x3cac1, 0x3cae2, 0x3cb01, 0x3cb22, 0x3cb41, 0x3cb62, 0x3cb81, 0x3cba2, 0x3cbc1,
    0x3cbe2, 0x3cc01, 0x3cc22, 0x3cc41, 0x3cc62, 0x3cc81, 0x3cca2, 0x3ccc1, 0x3cce2, 0x3cd01,
    0x3cd22, 0x3cd41, 0x3cd62, 0x3cd81, 0x3cda2, 0x3cdc1, 0x3cde2, 0x3ce01, 0x3ce22, 0x3ce41,
    0x3ce62, 0x3ce81, 0x3cea2, 0x3cec1, 0x3cee2, 0x3cf01, 0x3cf22, 0x3cf41, 0x3cf62, 0x3cf81,
    0x3cfa2, 0x3cfc1, 0x3cfe2, 0x3d001, 0x3d022, 0x3d041, 0x3d062, 0x3d081, 0x3d0a2, 0x3d0c1,
    0x3d0e2, 0x3d101, 0x3d122, 0x3d141, 0x3d162, 0x3d181, 0x3d1a2, 0x3d1c1, 0x3d1e2, 0x3d201,
    0x3d222, 0x3d241, 0x3d262, 0x3d281, 0x3d2a2, 0x3d3c1, 0x3d3e2, 0x3d401, 0x3d422, 0x3d441,
    0x3d462, 0x3d481, 0x3d4a2, 0x3d4c1, 0x3d4e2, 0x3d501, 0x3d522, 0x3d541, 0x3d562, 0x3d581,
    0x3d5a2, 0x3d5c1, 0x3d5e2, 0x3d601, 0x3d622, 0x3d641, 0x3d662, 0x3d681, 0x3d6a2, 0x3d6c1,
    0x3d6e2, 0x3d701, 0x3d722, 0x3d741, 0x3d762, 0x3d781, 0x3d7a2, 0x3d7c1, 0x3d7e2, 0x3d801,
    0x3d822, 0x3d841, 0x3d862, 0x3d881, 0x3d8a2, 0x3d8c1, 0x3d8e2, 0x3d901, 0x3d922, 0x3d941,
    0x3d962, 0x3d981, 0x3d9a2, 0x3d9c1, 0x3d9e2, 0x3da01, 0x3da22, 0x3da41, 0x3da62, 0x3da81,
    0x3daa2, 0x3dac1, 0x3dae2, 0x3db01, 0x3db22, 0x3db41, 0x3db62, 0x3db81, 0x3dba2, 0x3dbc1,
    0x3dbe2, 0x3dc01, 0x3dc22, 0x3dc41, 0x3dc62, 0x3dc81, 0x3dca2, 0x3dcc1, 0x3dce2, 0x3dd01,
    0x3dd22, 0x3dd41, 0x3dd62, 0x3dd81, 0x3dda2, 0x3ddc1, 0x3dde2, 0x3de01, 0x3de22, 0x3de41,
    0x3de62, 0x3de81, 0x3dea2, 0x3dec1, 0x3dee2, 0x3df01, 0x3df22, 0x3df41, 0x3df62, 0x3df81,
    0x3dfa2, 0x3dfc1, 0x3dfe2, 0x3e101, 0x3e202, 0x3e2c0, 0x3e301, 0x3e3c0, 0x3e402, 0x3e501,
    0x3e602, 0x3e701, 0x3e802, 0x3e8c0, 0x3e901, 0x3e9c0, 0x3ea02, 0x3eb00, 0x3eb21, 0x3eb40,
    0x3eb61, 0x3eb80, 0x3eba1, 0x3ebc0, 0x3ebe1, 0x3ec02, 0x3ed01, 0x3ee02, 0x3efc0, 0x3f002,
    0x3f103, 0x3f202, 0x3f303, 0x3f402, 0x3f503, 0x3f602, 0x3f6a0, 0x3f6c2, 0x3f701, 0x3f783,
    0x3f7b5, 0x3f7c2, 0x3f7f5, 0x3f842, 0x3f8a0, 0x3f8c2, 0x3f901, 0x3f983, 0x3f9b5, 0x3fa02,
    0x3fa80, 0x3fac2, 0x3fb01, 0x3fb80, 0x3fbb5, 0x3fc02, 0x3fd01, 0x3fdb5, 0x3fe00, 0x3fe42,
    0x3fea0, 0x3fec2, 0x3ff01, 0x3ff83, 0x3ffb5, 0x3ffe0, 0x40017, 0x4017b, 0x4020d, 0x402d2,
    0x40310, 0x40331, 0x4034e, 0x40370, 0x403b1, 0x403ce, 0x403f0, 0x40412, 0x40518, 0x40539,
    0x4055b, 0x405f7, 0x40612, 0x40730, 0x40751, 0x40772, 0x407ec, 0x40832, 0x40893, 0x408ae,
    0x408cf, 0x408f2, 0x40a53, 0x40a72, 0x40a8c, 0x40ab2, 0x40bf7, 0x40c1b, 0x40ca0, 0x40cdb,
    0x40e0b, 0x40e24, 0x40e40, 0x40e8b, 0x40f53, 0x40fae, 0x40fcf, 0x40fe4, 0x4100b, 0x41153,
    0x411ae, 0x411cf, 0x411e0, 0x41204, 0x413a0, 0x41414, 0x41820, 0x41a06, 0x41ba8, 0x41c26,
    0x41c48, 0x41ca6, 0x41e20, 0x42016, 0x42041, 0x42076, 0x420e1, 0x42116, 0x42142, 0x42161,
    0x421c2, 0x42201, 0x42262, 0x42296, 0x422a1, 0x422d6, 0x42313, 0x42321, 0x423d6, 0x42481,
    0x424b6, 0x424c1, 0x424f6, 0x42501, 0x42536, 0x42541, 0x425d6, 0x425e2, 0x42601, 0x42682,
    0x426a5, 0x42722, 0x42756, 0x42782, 0x427c1, 0x42813, 0x428a1, 0x428c2, 0x42956, 0x42973,
    0x42996, 0x429c2, 0x429f6, 0x42a0b, 0x42c0a, 0x43061, 0x43082, 0x430aa, 0x4312b, 0x43156,
    0x43180, 0x43213, 0x432b6, 0x43353, 0x43396, 0x43413, 0x43436, 0x43473, 0x43496, 0x434d3,
    0x434f6, 0x435d3, 0x435f6, 0x439d3, 0x43a16, 0x43a53, 0x43a76, 0x43a93, 0x43ab6, 0x43e93,
    0x46016, 0x4610e, 0x4612f, 0x4614e, 0x4616f, 0x46196, 0x46413, 0x46456, 0x4652e, 0x4654f,
    0x46576, 0x46f93, 0x46fb6, 0x47373, 0x47696, 0x47b93, 0x47c56, 0x484e0, 0x48816, 0x48960,
    0x48c0b, 0x49396, 0x49d4b, 0x4a016, 0x4b6f3, 0x4b716, 0x4b833, 0x4b856, 0x4bf13, 0x4c016,
    0x4cdf3, 0x4ce16, 0x4ed0e, 0x4ed2f, 0x4ed4e, 0x4ed6f, 0x4ed8e, 0x4edaf, 0x4edce, 0x4edef,
    0x4ee0e, 0x4ee2f, 0x4ee4e, 0x4ee6f, 0x4ee8e, 0x4eeaf, 0x4eecb, 0x4f296, 0x4f813, 0x4f8ae,
    0x4f8cf, 0x4f8f3, 0x4fcce, 0x4fcef, 0x4fd0e, 0x4fd2f, 0x4fd4e, 0x4fd6f, 0x4fd8e, 0x4fdaf,
    0x4fdce, 0x4fdef, 0x4fe13, 0x50016, 0x52013, 0x5306e, 0x5308f, 0x530ae, 0x530cf, 0x530ee,
    0x5310f, 0x5312e, 0x5314f, 0x5316e, 0x5318f, 0x531ae, 0x531cf, 0x531ee, 0x5320f, 0x5322e,
    0x5324f, 0x5326e, 0x5328f, 0x532ae, 0x532cf, 0x532ee, 0x5330f, 0x53333, 0x53b0e, 0x53b2f,
    0x53b4e, 0x53b6f, 0x53b93, 0x53f8e, 0x53faf, 0x53fd3, 0x56016, 0x56613, 0x568b6, 0x568f3,
    0x569b6, 0x56e80, 0x56ed6, 0x572c0, 0x572f6, 0x58001, 0x58602, 0x58c01, 0x58c22, 0x58c41,
    0x58ca2, 0x58ce1, 0x58d02, 0x58d21, 0x58d42, 0x58d61, 0x58d82, 0x58da1, 0x58e22, 0x58e41,
    0x58e62, 0x58ea1, 0x58ec2, 0x58f84, 0x58fc1, 0x59022, 0x59041, 0x59062, 0x59081, 0x590a2,
    0x590c1, 0x590e2, 0x59101, 0x59122, 0x59141, 0x59162, 0x59181, 0x591a2, 0x591c1, 0x591e2,
    0x59201, 0x59222, 0x59241, 0x59262, 0x59281, 0x592a2, 0x592c1, 0x592e2, 0x59301, 0x59322,
    0x59341, 0x59362, 0x59381, 0x593a2, 0x593c1, 0x593e2, 0x59401, 0x59422, 0x59441, 0x59462,
    0x59481, 0x594a2, 0x594c1, 0x594e2, 0x59501, 0x59522, 0x59541, 0x59562, 0x59581, 0x595a2,
    0x595c1, 0x595e2, 0x59601, 0x59622, 0x59641, 0x59662, 0x59681, 0x596a2, 0x596c1, 0x596e2,
    0x59701, 0x59722, 0x59741, 0x59762, 0x59781, 0x597a2, 0x597c1, 0x597e2, 0x59801, 0x59822,
    0x59841, 0x59862, 0x59881, 0x598a2, 0x598c1, 0x598e2, 0x59901, 0x59922, 0x59941, 0x59962,
    0x59981, 0x599a2, 0x599c1, 0x599e2, 0x59a01, 0x59a22, 0x59a41, 0x59a62, 0x59a81, 0x59aa2,
    0x59ac1, 0x59ae2, 0x59b01, 0x59b22, 0x59b41, 0x59b62, 0x59b81, 0x59ba2, 0x59bc1, 0x59be2,
    0x59c01, 0x59c22, 0x59c41, 0x59c62, 0x59cb6, 0x59d61, 0x59d82, 0x59da1, 0x59dc2, 0x59de6,
    0x59e41, 0x59e62, 0x59e80, 0x59f32, 0x59fab, 0x59fd2, 0x5a002, 0x5a4c0, 0x5a4e2, 0x5a500,
    0x5a5a2, 0x5a5c0, 0x5a605, 0x5ad00, 0x5ade4, 0x5ae12, 0x5ae20, 0x5afe6, 0x5b005, 0x5b2e0,
    0x5b405, 0x5b4e0, 0x5b505, 0x5b5e0, 0x5b605, 0x5b6e0, 0x5b705, 0x5b7e0, 0x5b805, 0x5b8e0,
    0x5b905, 0x5b9e0, 0x5ba05, 0x5bae0, 0x5bb05, 0x5bbe0, 0x5bc06, 0x5c012, 0x5c050, 0x5c071,
    0x5c090, 0x5c0b1, 0x5c0d2, 0x5c130, 0x5c151, 0x5c172, 0x5c190, 0x5c1b1, 0x5c1d2, 0x5c2ed,
    0x5c312, 0x5c34d, 0x5c372, 0x5c390, 0x5c3b1, 0x5c3d2, 0x5c410, 0x5c431, 0x5c44e, 0x5c46f,
    0x5c48e, 0x5c4af, 0x5c4ce, 0x5c4ef, 0x5c50e, 0x5c52f, 0x5c552, 0x5c5e4, 0x5c612, 0x5c74d,
    0x5c792, 0x5c80d, 0x5c832, 0x5c84e, 0x5c872, 0x5ca16, 0x5ca52, 0x5caae, 0x5cacf, 0x5caee,
    0x5cb0f, 0x5cb2e, 0x5cb4f, 0x5cb6e, 0x5cb8f, 0x5cbad, 0x5cbc0, 0x5d016, 0x5d340, 0x5d376,
    0x5de80, 0x5e016, 0x5fac0, 0x5fe16, 0x5ff80, 0x60017, 0x60032, 0x60096, 0x600a4, 0x600c5,
    0x600ea, 0x6010e, 0x6012f, 0x6014e, 0x6016f, 0x6018e, 0x601af, 0x601ce, 0x601ef, 0x6020e,
    0x6022f, 0x60256, 0x6028e, 0x602af, 0x602ce, 0x602ef, 0x6030e, 0x6032f, 0x6034e, 0x6036f,
    0x6038d, 0x603ae, 0x603cf, 0x60416, 0x6042a, 0x60546, 0x605c7, 0x6060d, 0x60624, 0x606d6,
    0x6070a, 0x60764, 0x60785, 0x607b2, 0x607d6, 0x60800, 0x60825, 0x612e0, 0x61326, 0x61375,
    0x613a4, 0x613e5, 0x6140d, 0x61425, 0x61f72, 0x61f84, 0x61fe5, 0x62000, 0x620a5, 0x62600,
    0x62625, 0x631e0, 0x63216, 0x6324b, 0x632d6, 0x63405, 0x63816, 0x63c80, 0x63e05, 0x64016,
    0x643e0, 0x6440b, 0x64556, 0x6490b, 0x64a16, 0x64a2b, 0x64c16, 0x6500b, 0x65156, 0x6562b,
    0x65816, 0x68005, 0x9b816, 0x9c005, 0x1402a4, 0x1402c5, 0x1491a0, 0x149216, 0x1498e0, 0x149a05,
    0x149f04, 0x149fd2, 0x14a005, 0x14c184, 0x14c1b2, 0x14c205, 0x14c409, 0x14c545, 0x14c580, 0x14c801,
    0x14c822, 0x14c841, 0x14c862, 0x14c881, 0x14c8a2, 0x14c8c1, 0x14c8e2, 0x14c901, 0x14c922, 0x14c941,
    0x14c962, 0x14c981, 0x14c9a2, 0x14c9c1, 0x14c9e2, 0x14ca01, 0x14ca22, 0x14ca41, 0x14ca62, 0x14ca81,
    0x14caa2, 0x14cac1, 0x14cae2, 0x14cb01, 0x14cb22, 0x14cb41, 0x14cb62, 0x14cb81, 0x14cba2, 0x14cbc1,
    0x14cbe2, 0x14cc01, 0x14cc22, 0x14cc41, 0x14cc62, 0x14cc81, 0x14cca2, 0x14ccc1, 0x14cce2, 0x14cd01,
    0x14cd22, 0x14cd41, 0x14cd62, 0x14cd81, 0x14cda2, 0x14cdc5, 0x14cde6, 0x14ce08, 0x14ce72, 0x14ce86,
    0x14cfd2, 0x14cfe4, 0x14d001, 0x14d022, 0x14d041, 0x14d062, 0x14d081, 0x14d0a2, 0x14d0c1, 0x14d0e2,
    0x14d101, 0x14d122, 0x14d141, 0x14d162, 0x14d181, 0x14d1a2, 0x14d1c1, 0x14d1e2, 0x14d201, 0x14d222,
    0x14d241, 0x14d262, 0x14d281, 0x14d2a2, 0x14d2c1, 0x14d2e2, 0x14d301, 0x14d322, 0x14d341, 0x14d362,
    0x14d384, 0x14d3c6, 0x14d405, 0x14dcca, 0x14de06, 0x14de52, 0x14df00, 0x14e015, 0x14e2e4, 0x14e415,
    0x14e441, 0x14e462, 0x14e481, 0x14e4a2, 0x14e4c1, 0x14e4e2, 0x14e501, 0x14e522, 0x14e541, 0x14e562,
    0x14e581, 0x14e5a2, 0x14e5c1, 0x14e5e2, 0x14e641, 0x14e662, 0x14e681, 0x14e6a2, 0x14e6c1, 0x14e6e2,
    0x14e701, 0x14e722, 0x14e741, 0x14e762, 0x14e781, 0x14e7a2, 0x14e7c1, 0x14e7e2, 0x14e801, 0x14e822,
    0x14e841, 0x14e862, 0x14e881, 0x14e8a2, 0x14e8c1, 0x14e8e2, 0x14e901, 0x14e922, 0x14e941, 0x14e962,
    0x14e981, 0x14e9a2, 0x14e9c1, 0x14e9e2, 0x14ea01, 0x14ea22, 0x14ea41, 0x14ea62, 0x14ea81, 0x14eaa2,
    0x14eac1, 0x14eae2, 0x14eb01, 0x14eb22, 0x14eb41, 0x14eb62, 0x14eb81, 0x14eba2, 0x14ebc1, 0x14ebe2,
    0x14ec01, 0x14ec22, 0x14ec41, 0x14ec62, 0x14ec81, 0x14eca2, 0x14ecc1, 0x14ece2, 0x14ed01, 0x14ed22,
    0x14ed41, 0x14ed62, 0x14ed81, 0x14eda2, 0x14edc1, 0x14ede2, 0x14ee04, 0x14ee22, 0x14ef21, 0x14ef42,
    0x14ef61, 0x14ef82, 0x14efa1, 0x14efe2, 0x14f001, 0x14f022, 0x14f041, 0x14f062, 0x14f081, 0x14f0a2,
    0x14f0c1, 0x14f0e2, 0x14f104, 0x14f135, 0x14f161, 0x14f182, 0x14f1a1, 0x14f1c2, 0x14f1e5, 0x14f201,
    0x14f222, 0x14f241, 0x14f262, 0x14f2c1, 0x14f2e2, 0x14f301, 0x14f322, 0x14f341, 0x14f362, 0x14f381,
    0x14f3a2, 0x14f3c1, 0x14f3e2, 0x14f401, 0x14f422, 0x14f441, 0x14f462, 0x14f481, 0x14f4a2, 0x14f4c1,
    0x14f4e2, 0x14f501, 0x14f522, 0x14f541, 0x14f5e2, 0x14f601, 0x14f6a2, 0x14f6c1, 0x14f6e2, 0x14f701,
    0x14f722, 0x14f741, 0x14f762, 0x14f781, 0x14f7a2, 0x14f7c1, 0x14f7e2, 0x14f801, 0x14f822, 0x14f841,
    0x14f862, 0x14f881, 0x14f902, 0x14f921, 0x14f942, 0x14f960, 0x14fa01, 0x14fa22, 0x14fa40, 0x14fa62,
    0x14fa80, 0x14faa2, 0x14fac1, 0x14fae2, 0x14fb01, 0x14fb22, 0x14fb40, 0x14fe44, 0x14fea1, 0x14fec2,
    0x14fee5, 0x14ff04, 0x14ff42, 0x14ff65, 0x150046, 0x150065, 0x1500c6, 0x1500e5, 0x150166, 0x150185,
    0x150467, 0x1504a6, 0x1504e7, 0x150516, 0x150586, 0x1505a0, 0x15060b, 0x1506d6, 0x150714, 0x150736,
    0x150740, 0x150805, 0x150e92, 0x150f00, 0x151007, 0x151045, 0x151687, 0x151886, 0x1518c0, 0x1519d2,
    0x151a09, 0x151b40, 0x151c06, 0x151e45, 0x151f12, 0x151f65, 0x151f92, 0x151fa5, 0x151fe6, 0x152009,
    0x152145, 0x1524c6, 0x1525d2, 0x152605, 0x1528e6, 0x152a47, 0x152a80, 0x152bf2, 0x152c05, 0x152fa0,
    0x153006, 0x153067, 0x153085, 0x153666, 0x153687, 0x1536c6, 0x153747, 0x153786, 0x1537c7, 0x153832,
    0x1539c0, 0x1539e4, 0x153a09, 0x153b40, 0x153bd2, 0x153c05, 0x153ca6, 0x153cc4, 0x153ce5, 0x153e09,
    0x153f45, 0x153fe0, 0x154005, 0x154526, 0x1545e7, 0x154626, 0x154667, 0x1546a6, 0x1546e0, 0x154805,
    0x154866, 0x154885, 0x154986, 0x1549a7, 0x1549c0, 0x154a09, 0x154b40, 0x154b92, 0x154c05, 0x154e04,
    0x154e25, 0x154ef6, 0x154f45, 0x154f67, 0x154f86, 0x154fa7, 0x154fc5, 0x155606, 0x155625, 0x155646,
    0x1556a5, 0x1556e6, 0x155725, 0x1557c6, 0x155805, 0x155826, 0x155845, 0x155860, 0x155b65, 0x155ba4,
    0x155bd2, 0x155c05, 0x155d67, 0x155d86, 0x155dc7, 0x155e12, 0x155e45, 0x155e64, 0x155ea7, 0x155ec6,
    0x155ee0, 0x156025, 0x1560e0, 0x156125, 0x1561e0, 0x156225, 0x1562e0, 0x156405, 0x1564e0, 0x156505,
    0x1565e0, 0x156602, 0x156b75, 0x156b84, 0x156c02, 0x156d24, 0x156d55, 0x156d80, 0x156e02, 0x157805,
    0x157c67, 0x157ca6, 0x157cc7, 0x157d06, 0x157d27, 0x157d72, 0x157d87, 0x157da6, 0x157dc0, 0x157e09,
    0x157f40, 0x158005, 0x1af480, 0x1af605, 0x1af8e0, 0x1af965, 0x1aff80, 0x1b001c, 0x1c001d, 0x1f2005,
    0x1f4dc0, 0x1f4e05, 0x1f5b40, 0x1f6002, 0x1f60e0, 0x1f6262, 0x1f6300, 0x1f63a5, 0x1f63c6, 0x1f63e5,
    0x1f6533, 0x1f6545, 0x1f66e0, 0x1f6705, 0x1f67a0, 0x1f67c5, 0x1f67e0, 0x1f6805, 0x1f6840, 0x1f6865,
    0x1f68a0, 0x1f68c5, 0x1f7655, 0x1f7860, 0x1f7a65, 0x1fa7cf, 0x1fa7ee, 0x1fa816, 0x1faa05, 0x1fb200,
    0x1fb245, 0x1fb900, 0x1fb9f6, 0x1fba00, 0x1fbe05, 0x1fbf94, 0x1fbfb6, 0x1fc006, 0x1fc212, 0x1fc2ee,
    0x1fc30f, 0x1fc332, 0x1fc340, 0x1fc406, 0x1fc612, 0x1fc62d, 0x1fc66c, 0x1fc6ae, 0x1fc6cf, 0x1fc6ee,
    0x1fc70f, 0x1fc72e, 0x1fc74f, 0x1fc76e, 0x1fc78f, 0x1fc7ae, 0x1fc7cf, 0x1fc7ee, 0x1fc80f, 0x1fc82e,
    0x1fc84f, 0x1fc86e, 0x1fc88f, 0x1fc8b2, 0x1fc8ee, 0x1fc90f, 0x1fc932, 0x1fc9ac, 0x1fca12, 0x1fca60,
    0x1fca92, 0x1fcb0d, 0x1fcb2e, 0x1fcb4f, 0x1fcb6e, 0x1fcb8f, 0x1fcbae, 0x1fcbcf, 0x1fcbf2, 0x1fcc53,
    0x1fcc6d, 0x1fcc93, 0x1fcce0, 0x1fcd12, 0x1fcd34, 0x1fcd52, 0x1fcd80, 0x1fce05, 0x1fcea0, 0x1fcec5,
    0x1fdfa0, 0x1fdffb, 0x1fe000, 0x1fe032, 0x1fe094, 0x1fe0b2, 0x1fe10e, 0x1fe12f, 0x1fe152, 0x1fe173,
    0x1fe192, 0x1fe1ad, 0x1fe1d2, 0x1fe209, 0x1fe352, 0x1fe393, 0x1fe3f2, 0x1fe421, 0x1fe76e, 0x1fe792,
    0x1fe7af, 0x1fe7d5, 0x1fe7ec, 0x1fe815, 0x1fe822, 0x1feb6e, 0x1feb93, 0x1febaf, 0x1febd3, 0x1febee,
    0x1fec0f, 0x1fec32, 0x1fec4e, 0x1fec6f, 0x1fec92, 0x1fecc5, 0x1fee04, 0x1fee25, 0x1ff3c4, 0x1ff405,
    0x1ff7e0, 0x1ff845, 0x1ff900, 0x1ff945, 0x1ffa00, 0x1ffa45, 0x1ffb00, 0x1ffb45, 0x1ffba0, 0x1ffc14,
    0x1ffc53, 0x1ffc75, 0x1ffc96, 0x1ffcb4, 0x1ffce0, 0x1ffd16, 0x1ffd33, 0x1ffdb6, 0x1ffde0, 0x1fff3b,
    0x1fff96, 0x1fffc0, 0x200005, 0x200180, 0x2001a5, 0x2004e0, 0x200505, 0x200760, 0x200785, 0x2007c0,
    0x2007e5, 0x2009c0, 0x200a05, 0x200bc0, 0x201005, 0x201f60, 0x202012, 0x202060, 0x2020eb, 0x202680,
    0x2026f6, 0x20280a, 0x202eab, 0x202f36, 0x20314b, 0x203196, 0x2031e0, 0x203216, 0x2033a0, 0x203416,
    0x203420, 0x203a16, 0x203fa6, 0x203fc0, 0x205005, 0x2053a0, 0x205405, 0x205a20, 0x205c06, 0x205c2b,
    0x205f80, 0x206005, 0x20640b, 0x206480, 0x2065a5, 0x20682a, 0x206845, 0x20694a, 0x206960, 0x206a05,
    0x206ec6, 0x206f60, 0x207005, 0x2073c0, 0x2073f2, 0x207405, 0x207880, 0x207905, 0x207a12, 0x207a2a,
    0x207ac0, 0x208001, 0x208502, 0x208a05, 0x2093c0, 0x209409, 0x209540, 0x209601, 0x209a80, 0x209b02,
    0x209f80, 0x20a005, 0x20a500, 0x20a605, 0x20ac80, 0x20adf2, 0x20ae01, 0x20af60, 0x20af81, 0x20b160,
    0x20b181, 0x20b260, 0x20b281, 0x20b2c0, 0x20b2e2, 0x20b440, 0x20b462, 0x20b640, 0x20b662, 0x20b740,
    0x20b762, 0x20b7a0, 0x20c005, 0x20e6e0, 0x20e805, 0x20eac0, 0x20ec05, 0x20ed00, 0x20f004, 0x20f0c0,
    0x20f0e4, 0x20f620, 0x20f644, 0x20f760, 0x210005, 0x2100c0, 0x210105, 0x210120, 0x210145, 0x2106c0,
    0x2106e5, 0x210720, 0x210785, 0x2107a0, 0x2107e5, 0x210ac0, 0x210af2, 0x210b0b, 0x210c05, 0x210ef6,
    0x210f2b, 0x211005, 0x2113e0, 0x2114eb, 0x211600, 0x211c05, 0x211e60, 0x211e85, 0x211ec0, 0x211f6b,
    0x212005, 0x2122cb, 0x212380, 0x2123f2, 0x212405, 0x212740, 0x2127f2, 0x212800, 0x213005, 0x213700,
    0x21378b, 0x2137c5, 0x21380b, 0x213a00, 0x213a4b, 0x214005, 0x214026, 0x214080, 0x2140a6, 0x2140e0,
    0x214186, 0x214205, 0x214280, 0x2142a5, 0x214300, 0x214325, 0x2146c0, 0x214706, 0x214760, 0x2147e6,
    0x21480b, 0x214920, 0x214a12, 0x214b20, 0x214c05, 0x214fab, 0x214ff2, 0x215005, 0x2153ab, 0x215400,
    0x215805, 0x215916, 0x215925, 0x215ca6, 0x215ce0, 0x215d6b, 0x215e12, 0x215ee0, 0x216005, 0x2166c0,
    0x216732, 0x216805, 0x216ac0, 0x216b0b, 0x216c05, 0x216e60, 0x216f0b, 0x217005, 0x217240, 0x217332,
    0x2173a0, 0x21752b, 0x217600, 0x218005, 0x218920, 0x219001, 0x219660, 0x219802, 0x219e60, 0x219f4b,
    0x21a005, 0x21a486, 0x21a500, 0x21a609, 0x21a740, 0x21cc0b, 0x21cfe0, 0x21d005, 0x21d540, 0x21d566,
    0x21d5ad, 0x21d5c0, 0x21d605, 0x21d640, 0x21dfa6, 0x21e005, 0x21e3ab, 0x21e4e5, 0x21e500, 0x21e605,
    0x21e8c6, 0x21ea2b, 0x21eab2, 0x21eb40, 0x21ee05, 0x21f046, 0x21f0d2, 0x21f140, 0x21f605, 0x21f8ab,
    0x21f980, 0x21fc05, 0x21fee0, 0x220007, 0x220026, 0x220047, 0x220065, 0x220706, 0x2208f2, 0x2209c0,
    0x220a4b, 0x220cc9, 0x220e06, 0x220e25, 0x220e66, 0x220ea5, 0x220ec0, 0x220fe6, 0x221047, 0x221065,
    0x221607, 0x221666, 0x2216e7, 0x221726, 0x221772, 0x2217bb, 0x2217d2, 0x221846, 0x221860, 0x2219bb,
    0x2219c0, 0x221a05, 0x221d20, 0x221e09, 0x221f40, 0x222006, 0x222065, 0x2224e6, 0x222587, 0x2225a6,
    0x2226a0, 0x2226c9, 0x222812, 0x222885, 0x2228a7, 0x2228e5, 0x222900, 0x222a05, 0x222e66, 0x222e92,
    0x222ec5, 0x222ee0, 0x223006, 0x223047, 0x223065, 0x223667, 0x2236c6, 0x2237e7, 0x223825, 0x2238b2,
    0x223926, 0x2239b2, 0x2239c7, 0x2239e6, 0x223a09, 0x223b45, 0x223b72, 0x223b85, 0x223bb2, 0x223c00,
    0x223c2b, 0x223ea0, 0x224005, 0x224240, 0x224265, 0x224587, 0x2245e6, 0x224647, 0x224686, 0x2246a7,
    0x2246c6, 0x224712, 0x2247c6, 0x2247e5, 0x224826, 0x224840, 0x225005, 0x2250e0, 0x225105, 0x225120,
    0x225145, 0x2251c0, 0x2251e5, 0x2253c0, 0x2253e5, 0x225532, 0x225540, 0x225605, 0x225be6, 0x225c07,
    0x225c66, 0x225d60, 0x225e09, 0x225f40, 0x226006, 0x226047, 0x226080, 0x2260a5, 0x2261a0, 0x2261e5,
    0x226220, 0x226265, 0x226520, 0x226545, 0x226620, 0x226645, 0x226680, 0x2266a5, 0x226740, 0x226766,
    0x2267a5, 0x2267c7, 0x226806, 0x226827, 0x2268a0, 0x2268e7, 0x226920, 0x226967, 0x2269c0, 0x226a05,
    0x226a20, 0x226ae7, 0x226b00, 0x226ba5, 0x226c47, 0x226c80, 0x226cc6, 0x226da0, 0x226e06, 0x226ea0,
    0x228005, 0x2286a7, 0x228706, 0x228807, 0x228846, 0x2288a7, 0x2288c6, 0x2288e5, 0x228972, 0x228a09,
    0x228b52, 0x228b80, 0x228bb2, 0x228bc6, 0x228be5, 0x228c40, 0x229005, 0x229607, 0x229666, 0x229727,
    0x229746, 0x229767, 0x2297e6, 0x229827, 0x229846, 0x229885, 0x2298d2, 0x2298e5, 0x229900, 0x229a09,
    0x229b40, 0x22b005, 0x22b5e7, 0x22b646, 0x22b6c0, 0x22b707, 0x22b786, 0x22b7c7, 0x22b7e6, 0x22b832,
    0x22bb05, 0x22bb86, 0x22bbc0, 0x22c005, 0x22c607, 0x22c666, 0x22c767, 0x22c7a6, 0x22c7c7, 0x22c7e6,
    0x22c832, 0x22c885, 0x22c8a0, 0x22ca09, 0x22cb40, 0x22cc12, 0x22cda0, 0x22d005, 0x22d566, 0x22d587,
    0x22d5a6, 0x22d5c7, 0x22d606, 0x22d6c7, 0x22d6e6, 0x22d705, 0x22d732, 0x22d740, 0x22d809, 0x22d940,
    0x22e005, 0x22e360, 0x22e3a6, 0x22e407, 0x22e446, 0x22e4c7, 0x22e4e6, 0x22e580, 0x22e609, 0x22e74b,
    0x22e792, 0x22e7f6, 0x22e805, 0x22e8e0, 0x230005, 0x230587, 0x2305e6, 0x230707, 0x230726, 0x230772,
    0x230780, 0x231401, 0x231802, 0x231c09, 0x231d4b, 0x231e60, 0x231fe5, 0x2320e0, 0x232125, 0x232140,
    0x232185, 0x232280, 0x2322a5, 0x2322e0, 0x232305, 0x232607, 0x2326c0, 0x2326e7, 0x232720, 0x232766,
    0x2327a7, 0x2327c6, 0x2327e5, 0x232807, 0x232825, 0x232847, 0x232866, 0x232892, 0x2328e0, 0x232a09,
    0x232b40, 0x233405, 0x233500, 0x233545, 0x233a27, 0x233a86, 0x233b00, 0x233b46, 0x233b87, 0x233c06,
    0x233c25, 0x233c52, 0x233c65, 0x233c87, 0x233ca0, 0x234005, 0x234026, 0x234165, 0x234666, 0x234727,
    0x234745, 0x234766, 0x2347f2, 0x2348e6, 0x234900, 0x234a05, 0x234a26, 0x234ae7, 0x234b26, 0x234b85,
    0x235146, 0x2352e7, 0x235306, 0x235352, 0x2353a5, 0x2353d2, 0x235460, 0x235605, 0x235f20, 0x236012,
    0x236140, 0x238005, 0x238120, 0x238145, 0x2385e7, 0x238606, 0x2386e0, 0x238706, 0x2387c7, 0x2387e6,
    0x238805, 0x238832, 0x2388c0, 0x238a09, 0x238b4b, 0x238da0, 0x238e12, 0x238e45, 0x239200, 0x239246,
    0x239500, 0x239527, 0x239546, 0x239627, 0x239646, 0x239687, 0x2396a6, 0x2396e0, 0x23a005, 0x23a0e0,
    0x23a105, 0x23a140, 0x23a165, 0x23a626, 0x23a6e0, 0x23a746, 0x23a760, 0x23a786, 0x23a7c0, 0x23a7e6,
    0x23a8c5, 0x23a8e6, 0x23a900, 0x23aa09, 0x23ab40, 0x23ac05, 0x23acc0, 0x23ace5, 0x23ad20, 0x23ad45,
    0x23b147, 0x23b1e0, 0x23b206, 0x23b240, 0x23b267, 0x23b2a6, 0x23b2c7, 0x23b2e6, 0x23b305, 0x23b320,
    0x23b409, 0x23b540, 0x23dc05, 0x23de66, 0x23dea7, 0x23def2, 0x23df20, 0x23e006, 0x23e045, 0x23e067,
    0x23e085, 0x23e220, 0x23e245, 0x23e687, 0x23e6c6, 0x23e760, 0x23e7c7, 0x23e806, 0x23e827, 0x23e846,
    0x23e872, 0x23ea09, 0x23eb40, 0x23f605, 0x23f620, 0x23f80b, 0x23fab6, 0x23fbb4, 0x23fc36, 0x23fe40,
    0x23fff2, 0x240005, 0x247340, 0x24800a, 0x248de0, 0x248e12, 0x248ea0, 0x249005, 0x24a880, 0x25f205,
    0x25fe32, 0x25fe60, 0x260005, 0x26861b, 0x268806, 0x268825, 0x2688e6, 0x268ac0, 0x288005, 0x28c8e0,
    0x2d0005, 0x2d4720, 0x2d4805, 0x2d4be0, 0x2d4c09, 0x2d4d40, 0x2d4dd2, 0x2d4e05, 0x2d57e0, 0x2d5809,
    0x2d5940, 0x2d5a05, 0x2d5dc0, 0x2d5e06, 0x2d5eb2, 0x2d5ec0, 0x2d6005, 0x2d6606, 0x2d66f2, 0x2d6796,
    0x2d6804, 0x2d6892, 0x2d68b6, 0x2d68c0, 0x2d6a09, 0x2d6b40, 0x2d6b6b, 0x2d6c40, 0x2d6c65, 0x2d6f00,
    0x2d6fa5, 0x2d7200, 0x2dc801, 0x2dcc02, 0x2dd00b, 0x2dd2f2, 0x2dd360, 0x2de005, 0x2de960, 0x2de9e6,
    0x2dea05, 0x2dea27, 0x2df100, 0x2df1e6, 0x2df264, 0x2df400, 0x2dfc04, 0x2dfc52, 0x2dfc64, 0x2dfc86,
    0x2dfca0, 0x2dfe07, 0x2dfe40, 0x2e0005, 0x30ff00, 0x310005, 0x319ac0, 0x31a005, 0x31a120, 0x35fe04,
    0x35fe80, 0x35fea4, 0x35ff80, 0x35ffa4, 0x35ffe0, 0x360005, 0x362460, 0x362645, 0x362660, 0x362a05,
    0x362a60, 0x362aa5, 0x362ac0, 0x362c85, 0x362d00, 0x362e05, 0x365f80, 0x378005, 0x378d60, 0x378e05,
    0x378fa0, 0x379005, 0x379120, 0x379205, 0x379340, 0x379396, 0x3793a6, 0x3793f2, 0x37941b, 0x379480,
    0x39e006, 0x39e5c0, 0x39e606, 0x39e8e0, 0x39ea16, 0x39f880, 0x3a0016, 0x3a1ec0, 0x3a2016, 0x3a24e0,
    0x3a2536, 0x3a2ca7, 0x3a2ce6, 0x3a2d56, 0x3a2da7, 0x3a2e7b, 0x3a2f66, 0x3a3076, 0x3a30a6, 0x3a3196,
    0x3a3546, 0x3a35d6, 0x3a3d60, 0x3a4016, 0x3a4846, 0x3a48b6, 0x3a48c0, 0x3a580b, 0x3a5a80, 0x3a5c0b,
    0x3a5e80, 0x3a6016, 0x3a6ae0, 0x3a6c0b, 0x3a6f20, 0x3a8001, 0x3a8342, 0x3a8681, 0x3a89c2, 0x3a8aa0,
    0x3a8ac2, 0x3a8d01, 0x3a9042, 0x3a9381, 0x3a93a0, 0x3a93c1, 0x3a9400, 0x3a9441, 0x3a9460, 0x3a94a1,
    0x3a94e0, 0x3a9521, 0x3a95a0, 0x3a95c1, 0x3a96c2, 0x3a9740, 0x3a9762, 0x3a9780, 0x3a97a2, 0x3a9880,
    0x3a98a2, 0x3a9a01, 0x3a9d42, 0x3aa081, 0x3aa0c0, 0x3aa0e1, 0x3aa160, 0x3aa1a1, 0x3aa2a0, 0x3aa2c1,
    0x3aa3a0, 0x3aa3c2, 0x3aa701, 0x3aa740, 0x3aa761, 0x3aa7e0, 0x3aa801, 0x3aa8a0, 0x3aa8c1, 0x3aa8e0,
    0x3aa941, 0x3aaa20, 0x3aaa42, 0x3aad81, 0x3ab0c2, 0x3ab401, 0x3ab742, 0x3aba81, 0x3abdc2, 0x3ac101,
    0x3ac442, 0x3ac781, 0x3acac2, 0x3ace01, 0x3ad142, 0x3ad4c0, 0x3ad501, 0x3ad833, 0x3ad842, 0x3adb73,
    0x3adb82, 0x3adc41, 0x3adf73, 0x3adf82, 0x3ae2b3, 0x3ae2c2, 0x3ae381, 0x3ae6b3, 0x3ae6c2, 0x3ae9f3,
    0x3aea02, 0x3aeac1, 0x3aedf3, 0x3aee02, 0x3af133, 0x3af142, 0x3af201, 0x3af533, 0x3af542, 0x3af873,
    0x3af882, 0x3af941, 0x3af962, 0x3af980, 0x3af9c9, 0x3b0016, 0x3b4006, 0x3b46f6, 0x3b4766, 0x3b4db6,
    0x3b4ea6, 0x3b4ed6, 0x3b5086, 0x3b50b6, 0x3b50f2, 0x3b5180, 0x3b5366, 0x3b5400, 0x3b5426, 0x3b5600,
    0x3be002, 0x3be145, 0x3be162, 0x3be3e0, 0x3be4a2, 0x3be560, 0x3c0006, 0x3c00e0, 0x3c0106, 0x3c0320,
    0x3c0366, 0x3c0440, 0x3c0466, 0x3c04a0, 0x3c04c6, 0x3c0560, 0x3c0604, 0x3c0dc0, 0x3c11e6, 0x3c1200,
    0x3c2005, 0x3c25a0, 0x3c2606, 0x3c26e4, 0x3c27c0, 0x3c2809, 0x3c2940, 0x3c29c5, 0x3c29f6, 0x3c2a00,
    0x3c5205, 0x3c55c6, 0x3c55e0, 0x3c5805, 0x3c5d86, 0x3c5e09, 0x3c5f40, 0x3c5ff4, 0x3c6000, 0x3c9a05,
    0x3c9d64, 0x3c9d86, 0x3c9e09, 0x3c9f40, 0x3cfc05, 0x3cfce0, 0x3cfd05, 0x3cfd80, 0x3cfda5, 0x3cfde0,
    0x3cfe05, 0x3cffe0, 0x3d0005, 0x3d18a0, 0x3d18eb, 0x3d1a06, 0x3d1ae0, 0x3d2001, 0x3d2442, 0x3d2886,
    0x3d2964, 0x3d2980, 0x3d2a09, 0x3d2b40, 0x3d2bd2, 0x3d2c00, 0x3d8e2b, 0x3d9596, 0x3d95ab, 0x3d9614,
    0x3d962b, 0x3d96a0, 0x3da02b, 0x3da5d6, 0x3da5eb, 0x3da7c0, 0x3dc005, 0x3dc080, 0x3dc0a5, 0x3dc400,
    0x3dc425, 0x3dc460, 0x3dc485, 0x3dc4a0, 0x3dc4e5, 0x3dc500, 0x3dc525, 0x3dc660, 0x3dc685, 0x3dc700,
    0x3dc725, 0x3dc740, 0x3dc765, 0x3dc780, 0x3dc845, 0x3dc860, 0x3dc8e5, 0x3dc900, 0x3dc925, 0x3dc940,
    0x3dc965, 0x3dc980, 0x3dc9a5, 0x3dca00, 0x3dca25, 0x3dca60, 0x3dca85, 0x3dcaa0, 0x3dcae5, 0x3dcb00,
    0x3dcb25, 0x3dcb40, 0x3dcb65, 0x3dcb80, 0x3dcba5, 0x3dcbc0, 0x3dcbe5, 0x3dcc00, 0x3dcc25, 0x3dcc60,
    0x3dcc85, 0x3dcca0, 0x3dcce5, 0x3dcd60, 0x3dcd85, 0x3dce60, 0x3dce85, 0x3dcf00, 0x3dcf25, 0x3dcfa0,
    0x3dcfc5, 0x3dcfe0, 0x3dd005, 0x3dd140, 0x3dd165, 0x3dd380, 0x3dd425, 0x3dd480, 0x3dd4a5, 0x3dd540,
    0x3dd565, 0x3dd780, 0x3dde13, 0x3dde40, 0x3e0016, 0x3e0580, 0x3e0616, 0x3e1280, 0x3e1416, 0x3e15e0,
    0x3e1636, 0x3e1800, 0x3e1836, 0x3e1a00, 0x3e1a36, 0x3e1ec0, 0x3e200b, 0x3e21b6, 0x3e35c0, 0x3e3cd6,
    0x3e4060, 0x3e4216, 0x3e4780, 0x3e4816, 0x3e4920, 0x3e4a16, 0x3e4a40, 0x3e4c16, 0x3e4cc0, 0x3e6016,
    0x3e7f75, 0x3e8016, 0x3edb00, 0x3edb96, 0x3edda0, 0x3ede16, 0x3edfa0, 0x3ee016, 0x3eeee0, 0x3eef76,
    0x3efb40, 0x3efc16, 0x3efd80, 0x3efe16, 0x3efe20, 0x3f0016, 0x3f0180, 0x3f0216, 0x3f0900, 0x3f0a16,
    0x3f0b40, 0x3f0c16, 0x3f1100, 0x3f1216, 0x3f15c0, 0x3f1616, 0x3f1640, 0x3f2016, 0x3f4a80, 0x3f4c16,
    0x3f4dc0, 0x3f4e16, 0x3f4fa0, 0x3f5016, 0x3f5120, 0x3f5216, 0x3f57c0, 0x3f57f6, 0x3f58c0, 0x3f59d6,
    0x3f5b80, 0x3f5c16, 0x3f5d20, 0x3f5e16, 0x3f5f20, 0x3f6016, 0x3f7260, 0x3f7296, 0x3f7960, 0x3f7e09,
    0x3f7f40, 0x400005, 0x54dc00, 0x54e005, 0x56e740, 0x56e805, 0x5703c0, 0x570405, 0x59d440, 0x59d605,
    0x5d7c20, 0x5f0005, 0x5f43c0, 0x600005, 0x626960, 0x626a05, 0x647600, 0x1c0003b, 0x1c00040, 0x1c0041b,
    0x1c01000, 0x1c02006, 0x1c03e00, 0x1e0001d, 0x1ffffc0, 0x200001d, 0x21fffc0,
};
static const uint32_t it__uc_space_ranges[] = {
    0x9, 0xd, 0x20, 0x20, 0x85, 0x85, 0xa0, 0xa0, 0x1680, 0x1680,
    0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000,
};
static const uint32_t it__uc_ccc_runs[] = {
    0x0, 0x300e6, 0x315e8, 0x316dc, 0x31ae8, 0x31bd8, 0x31cdc, 0x321ca, 0x323dc, 0x327ca,
    0x329dc, 0x33401, 0x339dc, 0x33de6, 0x345f0, 0x346e6, 0x347dc, 0x34ae6, 0x34ddc, 0x34f00,
    0x350e6, 0x353dc, 0x357e6, 0x358e8, 0x359dc, 0x35be6, 0x35ce9, 0x35dea, 0x35fe9, 0x360ea,
    0x362e9, 0x363e6, 0x37000, 0x483e6, 0x48800, 0x591dc, 0x592e6, 0x596dc, 0x597e6, 0x59ade,
    0x59bdc, 0x59ce6, 0x5a2dc, 0x5a8e6, 0x5aadc, 0x5abe6, 0x5adde, 0x5aee4, 0x5afe6, 0x5b00a,
    0x5b10b, 0x5b20c, 0x5b30d, 0x5b40e, 0x5b50f, 0x5b610, 0x5b711, 0x5b812, 0x5b913, 0x5bb14,
    0x5bc15, 0x5bd16, 0x5be00, 0x5bf17, 0x5c000, 0x5c118, 0x5c219, 0x5c300, 0x5c4e6, 0x5c5dc,
    0x5c600, 0x5c712, 0x5c800, 0x610e6, 0x6181e, 0x6191f, 0x61a20, 0x61b00, 0x64b1b, 0x64c1c,
    0x64d1d, 0x64e1e, 0x64f1f, 0x65020, 0x65121, 0x65222, 0x653e6, 0x655dc, 0x657e6, 0x65cdc,
    0x65de6, 0x65fdc, 0x66000, 0x67023, 0x67100, 0x6d6e6, 0x6dd00, 0x6dfe6, 0x6e3dc, 0x6e4e6,
    0x6e500, 0x6e7e6, 0x6e900, 0x6eadc, 0x6ebe6, 0x6eddc, 0x6ee00, 0x71124, 0x71200, 0x730e6,
    0x731dc, 0x732e6, 0x734dc, 0x735e6, 0x737dc, 0x73ae6, 0x73bdc, 0x73de6, 0x73edc, 0x73fe6,
    0x742dc, 0x743e6, 0x744dc, 0x745e6, 0x746dc, 0x747e6, 0x748dc, 0x749e6, 0x74b00, 0x7ebe6,
    0x7f2dc, 0x7f3e6, 0x7f400, 0x7fddc, 0x7fe00, 0x816e6, 0x81a00, 0x81be6, 0x82400, 0x825e6,
    0x82800, 0x829e6, 0x82e00, 0x859dc, 0x85c00, 0x898e6, 0x899dc, 0x89ce6, 0x8a000, 0x8cae6,
    0x8cfdc, 0x8d4e6, 0x8e200, 0x8e3dc, 0x8e4e6, 0x8e6dc, 0x8e7e6, 0x8e9dc, 0x8eae6, 0x8eddc,
    0x8f01b, 0x8f11c, 0x8f21d, 0x8f3e6, 0x8f6dc, 0x8f7e6, 0x8f9dc, 0x8fbe6, 0x90000, 0x93c07,
    0x93d00, 0x94d09, 0x94e00, 0x951e6, 0x952dc, 0x953e6, 0x95500, 0x9bc07, 0x9bd00, 0x9cd09,
    0x9ce00, 0x9fee6, 0x9ff00, 0xa3c07, 0xa3d00, 0xa4d09, 0xa4e00, 0xabc07, 0xabd00, 0xacd09,
    0xace00, 0xb3c07, 0xb3d00, 0xb4d09, 0xb4e00, 0xbcd09, 0xbce00, 0xc3c07, 0xc3d00, 0xc4d09,
    0xc4e00, 0xc5554, 0xc565b, 0xc5700, 0xcbc07, 0xcbd00, 0xccd09, 0xcce00, 0xd3b09, 0xd3d00,
    0xd4d09, 0xd4e00, 0xdca09, 0xdcb00, 0xe3867, 0xe3a09, 0xe3b00, 0xe486b, 0xe4c00, 0xeb876,
    0xeba09, 0xebb00, 0xec87a, 0xecc00, 0xf18dc, 0xf1a00, 0xf35dc, 0xf3600, 0xf37dc, 0xf3800,
    0xf39d8, 0xf3a00, 0xf7181, 0xf7282, 0xf7300, 0xf7484, 0xf7500, 0xf7a82, 0xf7e00, 0xf8082,
    0xf8100, 0xf82e6, 0xf8409, 0xf8500, 0xf86e6, 0xf8800, 0xfc6dc, 0xfc700, 0x103707, 0x103800,
    0x103909, 0x103b00, 0x108ddc, 0x108e00, 0x135de6, 0x136000, 0x171409, 0x171600, 0x173409, 0x173500,
    0x17d209, 0x17d300, 0x17dde6, 0x17de00, 0x18a9e4, 0x18aa00, 0x1939de, 0x193ae6, 0x193bdc, 0x193c00,
    0x1a17e6, 0x1a18dc, 0x1a1900, 0x1a6009, 0x1a6100, 0x1a75e6, 0x1a7d00, 0x1a7fdc, 0x1a8000, 0x1ab0e6,
    0x1ab5dc, 0x1abbe6, 0x1abddc, 0x1abe00, 0x1abfdc, 0x1ac1e6, 0x1ac3dc, 0x1ac5e6, 0x1acadc, 0x1acbe6,
    0x1acf00, 0x1b3407, 0x1b3500, 0x1b4409, 0x1b4500, 0x1b6be6, 0x1b6cdc, 0x1b6de6, 0x1b7400, 0x1baa09,
    0x1bac00, 0x1be607, 0x1be700, 0x1bf209, 0x1bf400, 0x1c3707, 0x1c3800, 0x1cd0e6, 0x1cd300, 0x1cd401,
    0x1cd5dc, 0x1cdae6, 0x1cdcdc, 0x1ce0e6, 0x1ce100, 0x1ce201, 0x1ce900, 0x1ceddc, 0x1cee00, 0x1cf4e6,
    0x1cf500, 0x1cf8e6, 0x1cfa00, 0x1dc0e6, 0x1dc2dc, 0x1dc3e6, 0x1dcadc, 0x1dcbe6, 0x1dcdea, 0x1dced6,
    0x1dcfdc, 0x1dd0ca, 0x1dd1e6, 0x1df6e8, 0x1df7e4, 0x1df9dc, 0x1dfada, 0x1dfbe6, 0x1dfce9, 0x1dfddc,
    0x1dfee6, 0x1dffdc, 0x1e0000, 0x20d0e6, 0x20d201, 0x20d4e6, 0x20d801, 0x20dbe6, 0x20dd00, 0x20e1e6,
    0x20e200, 0x20e501, 0x20e7e6, 0x20e8dc, 0x20e9e6, 0x20ea01, 0x20ecdc, 0x20f0e6, 0x20f100, 0x2cefe6,
    0x2cf200, 0x2d7f09, 0x2d8000, 0x2de0e6, 0x2e0000, 0x302ada, 0x302be4, 0x302ce8, 0x302dde, 0x302ee0,
    0x303000, 0x309908, 0x309b00, 0xa66fe6, 0xa67000, 0xa674e6, 0xa67e00, 0xa69ee6, 0xa6a000, 0xa6f0e6,
    0xa6f200, 0xa80609, 0xa80700, 0xa82c09, 0xa82d00, 0xa8c409, 0xa8c500, 0xa8e0e6, 0xa8f200, 0xa92bdc,
    0xa92e00, 0xa95309, 0xa95400, 0xa9b307, 0xa9b400, 0xa9c009, 0xa9c100, 0xaab0e6, 0xaab100, 0xaab2e6,
    0xaab4dc, 0xaab500, 0xaab7e6, 0xaab900, 0xaabee6, 0xaac000, 0xaac1e6, 0xaac200, 0xaaf609, 0xaaf700,
    0xabed09, 0xabee00, 0xfb1e1a, 0xfb1f00, 0xfe20e6, 0xfe27dc, 0xfe2ee6, 0xfe3000, 0x101fddc, 0x101fe00,
    0x102e0dc, 0x102e100, 0x10376e6, 0x1037b00, 0x10a0ddc, 0x10a0e00, 0x10a0fe6, 0x10a1000, 0x10a38e6, 0x10a3901,
    0x10a3adc, 0x10a3b00, 0x10a3f09, 0x10a4000, 0x10ae5e6, 0x10ae6dc, 0x10ae700, 0x10d24e6, 0x10d2800, 0x10eabe6,
    0x10ead00, 0x10efddc, 0x10f0000, 0x10f46dc, 0x10f48e6, 0x10f4bdc, 0x10f4ce6, 0x10f4ddc, 0x10f5100, 0x10f82e6,
    0x10f83dc, 0x10f84e6, 0x10f85dc, 0x10f8600, 0x1104609, 0x1104700, 0x1107009, 0x1107100, 0x1107f09, 0x1108000,
    0x110b909, 0x110ba07, 0x110bb00, 0x11100e6, 0x1110300, 0x1113309, 0x1113500, 0x1117307, 0x1117400, 0x111c009,
    0x111c100, 0x111ca07, 0x111cb00, 0x1123509, 0x1123607, 0x1123700, 0x112e907, 0x112ea09, 0x112eb00, 0x1133b07,
    0x1133d00, 0x1134d09, 0x1134e00, 0x11366e6, 0x1136d00, 0x11370e6, 0x1137500, 0x1144209, 0x1144300, 0x1144607,
    0x1144700, 0x1145ee6, 0x1145f00, 0x114c209, 0x114c307, 0x114c400, 0x115bf09, 0x115c007, 0x115c100, 0x1163f09,
    0x1164000, 0x116b609, 0x116b707, 0x116b800, 0x1172b09, 0x1172c00, 0x1183909, 0x1183a07, 0x1183b00, 0x1193d09,
    0x1193f00, 0x1194307, 0x1194400, 0x119e009, 0x119e100, 0x11a3409, 0x11a3500, 0x11a4709, 0x11a4800, 0x11a9909,
    0x11a9a00, 0x11c3f09, 0x11c4000, 0x11d4207, 0x11d4300, 0x11d4409, 0x11d4600, 0x11d9709, 0x11d9800, 0x11f4109,
    0x11f4300, 0x16af001, 0x16af500, 0x16b30e6, 0x16b3700, 0x16ff006, 0x16ff200, 0x1bc9e01, 0x1bc9f00, 0x1d165d8,
    0x1d16701, 0x1d16a00, 0x1d16de2, 0x1d16ed8, 0x1d17300, 0x1d17bdc, 0x1d18300, 0x1d185e6, 0x1d18adc, 0x1d18c00,
    0x1d1aae6, 0x1d1ae00, 0x1d242e6, 0x1d24500, 0x1e000e6, 0x1e00700, 0x1e008e6, 0x1e01900, 0x1e01be6, 0x1e02200,
    0x1e023e6, 0x1e02500, 0x1e026e6, 0x1e02b00, 0x1e08fe6, 0x1e09000, 0x1e130e6, 0x1e13700, 0x1e2aee6, 0x1e2af00,
    0x1e2ece6, 0x1e2f000, 0x1e4ece8, 0x1e4eedc, 0x1e4efe6, 0x1e4f000, 0x1e8d0dc, 0x1e8d700, 0x1e944e6, 0x1e94a07,
    0x1e94b00,
};
static const uint32_t it__uc_decomp[] = {
    0xc0, 0x41, 0x300, 0xc1, 0x41, 0x301, 0xc2, 0x41, 0x302, 0xc3,
    0x41, 0x303, 0xc4, 0x41, 0x308, 0xc5, 0x41, 0x30a, 0xc7, 0x43,
    0x327, 0xc8, 0x45, 0x300, 0xc9, 0x45, 0x301, 0xca, 0x45, 0x302,
    0xcb, 0x45, 0x308, 0xcc, 0x49, 0x300, 0xcd, 0x49, 0x301, 0xce,
    0x49, 0x302, 0xcf, 0x49, 0x308, 0xd1, 0x4e, 0x303, 0xd2, 0x4f,
    0x300, 0xd3, 0x4f, 0x301, 0xd4, 0x4f, 0x302, 0xd5, 0x4f, 0x303,
    0xd6, 0x4f, 0x308, 0xd9, 0x55, 0x300, 0xda, 0x55, 0x301, 0xdb,
    0x55, 0x302, 0xdc, 0x55, 0x308, 0xdd, 0x59, 0x301, 0xe0, 0x61,
    0x300, 0xe1, 0x61, 0x301, 0xe2, 0x61, 0x302, 0xe3, 0x61, 0x303,
    0xe4, 0x61, 0x308, 0xe5, 0x61, 0x30a, 0xe7, 0x63, 0x327, 0xe8,
    0x65, 0x300, 0xe9, 0x65, 0x301, 0xea, 0x65, 0x302, 0xeb, 0x65,
    0x308, 0xec, 0x69, 0x300, 0xed, 0x69, 0x301, 0xee, 0x69, 0x302,
    0xef, 0x69, 0x308, 0xf1, 0x6e, 0x303, 0xf2, 0x6f, 0x300, 0xf3,
    0x6f, 0x301, 0xf4, 0x6f, 0x302, 0xf5, 0x6f, 0x303, 0xf6, 0x6f,
    0x308, 0xf9, 0x75, 0x300, 0xfa, 0x75, 0x301, 0xfb, 0x75, 0x302,
    0xfc, 0x75, 0x308, 0xfd, 0x79, 0x301, 0xff, 0x79, 0x308, 0x100,
    0x41, 0x304, 0x101, 0x61, 0x304, 0x102, 0x41, 0x306, 0x103, 0x61,
    0x306, 0x104, 0x41, 0x328, 0x105, 0x61, 0x328, 0x106, 0x43, 0x301,
    0x107, 0x63, 0x301, 0x108, 0x43, 0x302, 0x109, 0x63, 0x302, 0x10a,
    0x43, 0x307, 0x10b, 0x63, 0x307, 0x10c, 0x43, 0x30c, 0x10d, 0x63,
    0x30c, 0x10e, 0x44, 0x30c, 0x10f, 0x64, 0x30c, 0x112, 0x45, 0x304,
    0x113, 0x65, 0x304, 0x114, 0x45, 0x306, 0x115, 0x65, 0x306, 0x116,
    0x45, 0x307, 0x117, 0x65, 0x307, 0x118, 0x45, 0x328, 0x119, 0x65,
    0x328, 0x11a, 0x45, 0x30c, 0x11b, 0x65, 0x30c, 0x11c, 0x47, 0x302,
    0x11d, 0x67, 0x302, 0x11e, 0x47, 0x306, 0x11f, 0x67, 0x306, 0x120,
    0x47, 0x307, 0x121, 0x67, 0x307, 0x122, 0x47, 0x327, 0x123, 0x67,
    0x327, 0x124, 0x48, 0x302, 0x125, 0x68, 0x302, 0x128, 0x49, 0x303,
    0x129, 0x69, 0x303, 0x12a, 0x49, 0x304, 0x12b, 0x69, 0x304, 0x12c,
    0x49, 0x306, 0x12d, 0x69, 0x306, 0x12e, 0x49, 0x328, 0x12f, 0x69,
    0x328, 0x130, 0x49, 0x307, 0x134, 0x4a, 0x302, 0x135, 0x6a, 0x302,
    0x136, 0x4b, 0x327, 0x137, 0x6b, 0x327, 0x139, 0x4c, 0x301, 0x13a,
    0x6c, 0x301, 0x13b, 0x4c, 0x327, 0x13c, 0x6c, 0x327, 0x13d, 0x4c,
    0x30c, 0x13e, 0x6c, 0x30c, 0x143, 0x4e, 0x301, 0x144, 0x6e, 0x301,
    0x145, 0x4e, 0x327, 0x146, 0x6e, 0x327, 0x147, 0x4e, 0x30c, 0x148,
    0x6e, 0x30c, 0x14c, 0x4f, 0x304, 0x14d, 0x6f, 0x304, 0x14e, 0x4f,
    0x306, 0x14f, 0x6f, 0x306, 0x150, 0x4f, 0x30b, 0x151, 0x6f, 0x30b,
    0x154, 0x52, 0x301, 0x155, 0x72, 0x301, 0x156, 0x52, 0x327, 0x157,
    0x72, 0x327, 0x158, 0x52, 0x30c, 0x159, 0x72, 0x30c, 0x15a, 0x53,
    0x301, 0x15b, 0x73, 0x301, 0x15c, 0x53, 0x302, 0x15d, 0x73, 0x302,
    0x15e, 0x53, 0x327, 0x15f, 0x73, 0x327, 0x160, 0x53, 0x30c, 0x161,
    0x73, 0x30c, 0x162, 0x54, 0x327, 0x163, 0x74, 0x327, 0x164, 0x54,
    0x30c, 0x165, 0x74, 0x30c, 0x168, 0x55, 0x303, 0x169, 0x75, 0x303,
    0x16a, 0x55, 0x304, 0x16b, 0x75, 0x304, 0x16c, 0x55, 0x306, 0x16d,
    0x75, 0x306, 0x16e, 0x55, 0x30a, 0x16f, 0x75, 0x30a, 0x170, 0x55,
    0x30b, 0x171, 0x75, 0x30b, 0x172, 0x55, 0x328, 0x173, 0x75, 0x328,
    0x174, 0x57, 0x302, 0x175, 0x77, 0x302, 0x176, 0x59, 0x302, 0x177,
    0x79, 0x302, 0x178, 0x59, 0x308, 0x179, 0x5a, 0x301, 0x17a, 0x7a,
    0x301, 0x17b, 0x5a, 0x307, 0x17c, 0x7a, 0x307, 0x17d, 0x5a, 0x30c,
    0x17e, 0x7a, 0x30c, 0x1a0, 0x4f, 0x31b, 0x1a1, 0x6f, 0x31b, 0x1af,
    0x55, 0x31b, 0x1b0, 0x75, 0x31b, 0x1cd, 0x41, 0x30c, 0x1ce, 0x61,
    0x30c, 0x1cf, 0x49, 0x30c, 0x1d0, 0x69, 0x30c, 0x1d1, 0x4f, 0x30c,
    0x1d2, 0x6f, 0x30c, 0x1d3, 0x55, 0x30c, 0x1d4, 0x75, 0x30c, 0x1d5,
    0xdc, 0x304, 0x1d6, 0xfc, 0x304, 0x1d7, 0xdc, 0x301, 0x1d8, 0xfc,
    0x301, 0x1d9, 0xdc, 0x30c, 0x1da, 0xfc, 0x30c, 0x1db, 0xdc, 0x300,
    0x1dc, 0xfc, 0x300, 0x1de, 0xc4, 0x304, 0x1df, 0xe4, 0x304, 0x1e0,
    0x226, 0x304, 0x1e1, 0x227, 0x304, 0x1e2, 0xc6, 0x304, 0x1e3, 0xe6,
    0x304, 0x1e6, 0x47, 0x30c, 0x1e7, 0x67, 0x30c, 0x1e8, 0x4b, 0x30c,
    0x1e9, 0x6b, 0x30c, 0x1ea, 0x4f, 0x328, 0x1eb, 0x6f, 0x328, 0x1ec,
    0x1ea, 0x304, 0x1ed, 0x1eb, 0x304, 0x1ee, 0x1b7, 0x30c, 0x1ef, 0x292,
    0x30c, 0x1f0, 0x6a, 0x30c, 0x1f4, 0x47, 0x301, 0x1f5, 0x67, 0x301,
    0x1f8, 0x4e, 0x300, 0x1f9, 0x6e, 0x300, 0x1fa, 0xc5, 0x301, 0x1fb,
    0xe5, 0x301, 0x1fc, 0xc6, 0x301, 0x1fd, 0xe6, 0x301, 0x1fe, 0xd8,
    0x301, 0x1ff, 0xf8, 0x301, 0x200, 0x41, 0x30f, 0x201, 0x61, 0x30f,
    0x202, 0x41, 0x311, 0x203, 0x61, 0x311, 0x204, 0x45, 0x30f, 0x205,
    0x65, 0x30f, 0x206, 0x45, 0x311, 0x207, 0x65, 0x311, 0x208, 0x49,
    0x30f, 0x209, 0x69, 0x30f, 0x20a, 0x49, 0x311, 0x20b, 0x69, 0x311,
    0x20c, 0x4f, 0x30f, 0x20d, 0x6f, 0x30f, 0x20e, 0x4f, 0x311, 0x20f,
    0x6f, 0x311, 0x210, 0x52, 0x30f, 0x211, 0x72, 0x30f, 0x212, 0x52,
    0x311, 0x213, 0x72, 0x311, 0x214, 0x55, 0x30f, 0x215, 0x75, 0x30f,
    0x216, 0x55, 0x311, 0x217, 0x75, 0x311, 0x218, 0x53, 0x326, 0x219,
    0x73, 0x326, 0x21a, 0x54, 0x326, 0x21b, 0x74, 0x326, 0x21e, 0x48,
    0x30c, 0x21f, 0x68, 0x30c, 0x226, 0x41, 0x307, 0x227, 0x61, 0x307,
    0x228, 0x45, 0x327, 0x229, 0x65, 0x327, 0x22a, 0xd6, 0x304, 0x22b,
    0xf6, 0x304, 0x22c, 0xd5, 0x304, 0x22d, 0xf5, 0x304, 0x22e, 0x4f,
    0x307, 0x22f, 0x6f, 0x307, 0x230, 0x22e, 0x304, 0x231, 0x22f, 0x304,
    0x232, 0x59, 0x304, 0x233, 0x79, 0x304, 0x340, 0x300, 0x0, 0x341,
    0x301, 0x0, 0x343, 0x313, 0x0, 0x344, 0x308, 0x301, 0x374, 0x2b9,
    0x0, 0x37e, 0x3b, 0x0, 0x385, 0xa8, 0x301, 0x386, 0x391, 0x301,
    0x387, 0xb7, 0x0, 0x388, 0x395, 0x301, 0x389, 0x397, 0x301, 0x38a,
    0x399, 0x301, 0x38c, 0x39f, 0x301, 0x38e, 0x3a5, 0x301, 0x38f, 0x3a9,
    0x301, 0x390, 0x3ca, 0x301, 0x3aa, 0x399, 0x308, 0x3ab, 0x3a5, 0x308,
    0x3ac, 0x3b1, 0x301, 0x3ad, 0x3b5, 0x301, 0x3ae, 0x3b7, 0x301, 0x3af,
    0x3b9, 0x301, 0x3b0, 0x3cb, 0x301, 0x3ca, 0x3b9, 0x308, 0x3cb, 0x3c5,
    0x308, 0x3cc, 0x3bf, 0x301, 0x3cd, 0x3c5, 0x301, 0x3ce, 0x3c9, 0x301,
    0x3d3, 0x3d2, 0x301, 0x3d4, 0x3d2, 0x308, 0x400, 0x415, 0x300, 0x401,
    0x415, 0x308, 0x403, 0x413, 0x301, 0x407, 0x406, 0x308, 0x40c, 0x41a,
    0x301, 0x40d, 0x418, 0x300, 0x40e, 0x423, 0x306, 0x419, 0x418, 0x306,
    0x439, 0x438, 0x306, 0x450, 0x435, 0x300, 0x451, 0x435, 0x308, 0x453,
    0x433, 0x301, 0x457, 0x456, 0x308, 0x45c, 0x43a, 0x301, 0x45d, 0x438,
    0x300, 0x45e, 0x443, 0x306, 0x476, 0x474, 0x30f, 0x477, 0x475, 0x30f,
    0x4c1, 0x416, 0x306, 0x4c2, 0x436, 0x306, 0x4d0, 0x410, 0x306, 0x4d1,
    0x430, 0x306, 0x4d2, 0x410, 0x308, 0x4d3, 0x430, 0x308, 0x4d6, 0x415,
    0x306, 0x4d7, 0x435, 0x306, 0x4da, 0x4d8, 0x308, 0x4db, 0x4d9, 0x308,
    0x4dc, 0x416, 0x308, 0x4dd, 0x436, 0x308, 0x4de, 0x417, 0x308, 0x4df,
    0x437, 0x308, 0x4e2, 0x418, 0x304, 0x4e3, 0x438, 0x304, 0x4e4, 0x418,
    0x308, 0x4e5, 0x438, 0x308, 0x4e6, 0x41e, 0x308, 0x4e7, 0x43e, 0x308,
    0x4ea, 0x4e8, 0x308, 0x4eb, 0x4e9, 0x308, 0x4ec, 0x42d, 0x308, 0x4ed,
    0x44d, 0x308, 0x4ee, 0x423, 0x304, 0x4ef, 0x443, 0x304, 0x4f0, 0x423,
    0x308, 0x4f1, 0x443, 0x308, 0x4f2, 0x423, 0x30b, 0x4f3, 0x443, 0x30b,
    0x4f4, 0x427, 0x308, 0x4f5, 0x447, 0x308, 0x4f8, 0x42b, 0x308, 0x4f9,
    0x44b, 0x308, 0x622, 0x627, 0x653, 0x623, 0x627, 0x654, 0x624, 0x648,
    0x654, 0x625, 0x627, 0x655, 0x626, 0x64a, 0x654, 0x6c0, 0x6d5, 0x654,
    0x6c2, 0x6c1, 0x654, 0x6d3, 0x6d2, 0x654, 0x929, 0x928, 0x93c, 0x931,
    0x930, 0x93c, 0x934, 0x933, 0x93c, 0x958, 0x915, 0x93c, 0x959, 0x916,
    0x93c, 0x95a, 0x917, 0x93c, 0x95b, 0x91c, 0x93c, 0x95c, 0x921, 0x93c,
    0x95d, 0x922, 0x93c, 0x95e, 0x92b, 0x93c, 0x95f, 0x92f, 0x93c, 0x9cb,
    0x9c7, 0x9be, 0x9cc, 0x9c7, 0x9d7, 0x9dc, 0x9a1, 0x9bc, 0x9dd, 0x9a2,
    0x9bc, 0x9df, 0x9af, 0x9bc, 0xa33, 0xa32, 0xa3c, 0xa36, 0xa38, 0xa3c,
    0xa59, 0xa16, 0xa3c, 0xa5a, 0xa17, 0xa3c, 0xa5b, 0xa1c, 0xa3c, 0xa5e,
    0xa2b, 0xa3c, 0xb48, 0xb47, 0xb56, 0xb4b, 0xb47, 0xb3e, 0xb4c, 0xb47,
    0xb57, 0xb5c, 0xb21, 0xb3c, 0xb5d, 0xb22, 0xb3c, 0xb94, 0xb92, 0xbd7,
    0xbca, 0xbc6, 0xbbe, 0xbcb, 0xbc7, 0xbbe, 0xbcc, 0xbc6, 0xbd7, 0xc48,
    0xc46, 0xc56, 0xcc0, 0xcbf, 0xcd5, 0xcc7, 0xcc6, 0xcd5, 0xcc8, 0xcc6,
    0xcd6, 0xcca, 0xcc6, 0xcc2, 0xccb, 0xcca, 0xcd5, 0xd4a, 0xd46, 0xd3e,
    0xd4b, 0xd47, 0xd3e, 0xd4c, 0xd46, 0xd57, 0xdda, 0xdd9, 0xdca, 0xddc,
    0xdd9, 0xdcf, 0xddd, 0xddc, 0xdca, 0xdde, 0xdd9, 0xddf, 0xf43, 0xf42,
    0xfb7, 0xf4d, 0xf4c, 0xfb7, 0xf52, 0xf51, 0xfb7, 0xf57, 0xf56, 0xfb7,
    0xf5c, 0xf5b, 0xfb7, 0xf69, 0xf40, 0xfb5, 0xf73, 0xf71, 0xf72, 0xf75,
    0xf71, 0xf74, 0xf76, 0xfb2, 0xf80, 0xf78, 0xfb3, 0xf80, 0xf81, 0xf71,
    0xf80, 0xf93, 0xf92, 0xfb7, 0xf9d, 0xf9c, 0xfb7, 0xfa2, 0xfa1, 0xfb7,
    0xfa7, 0xfa6, 0xfb7, 0xfac, 0xfab, 0xfb7, 0xfb9, 0xf90, 0xfb5, 0x1026,
    0x1025, 0x102e, 0x1b06, 0x1b05, 0x1b35, 0x1b08, 0x1b07, 0x1b35, 0x1b0a, 0x1b09,
    0x1b35, 0x1b0c, 0x1b0b, 0x1b35, 0x1b0e, 0x1b0d, 0x1b35, 0x1b12, 0x1b11, 0x1b35,
    0x1b3b, 0x1b3a, 0x1b35, 0x1b3d, 0x1b3c, 0x1b35, 0x1b40, 0x1b3e, 0x1b35, 0x1b41,
    0x1b3f, 0x1b35, 0x1b43, 0x1b42, 0x1b35, 0x1e00, 0x41, 0x325, 0x1e01, 0x61,
    0x325, 0x1e02, 0x42, 0x307, 0x1e03, 0x62, 0x307, 0x1e04, 0x42, 0x323,
    0x1e05, 0x62, 0x323, 0x1e06, 0x42, 0x331, 0x1e07, 0x62, 0x331, 0x1e08,
    0xc7, 0x301, 0x1e09, 0xe7, 0x301, 0x1e0a, 0x44, 0x307, 0x1e0b, 0x64,
    0x307, 0x1e0c, 0x44, 0x323, 0x1e0d, 0x64, 0x323, 0x1e0e, 0x44, 0x331,
    0x1e0f, 0x64, 0x331, 0x1e10, 0x44, 0x327, 0x1e11, 0x64, 0x327, 0x1e12,
    0x44, 0x32d, 0x1e13, 0x64, 0x32d, 0x1e14, 0x112, 0x300, 0x1e15, 0x113,
    0x300, 0x1e16, 0x112, 0x301, 0x1e17, 0x113, 0x301, 0x1e18, 0x45, 0x32d,
    0x1e19, 0x65, 0x32d, 0x1e1a, 0x45, 0x330, 0x1e1b, 0x65, 0x330, 0x1e1c,
    0x228, 0x306, 0x1e1d, 0x229, 0x306, 0x1e1e, 0x46, 0x307, 0x1e1f, 0x66,
    0x307, 0x1e20, 0x47, 0x304, 0x1e21, 0x67, 0x304, 0x1e22, 0x48, 0x307,
    0x1e23, 0x68, 0x307, 0x1e24, 0x48, 0x323, 0x1e25, 0x68, 0x323, 0x1e26,
    0x48, 0x308, 0x1e27, 0x68, 0x308, 0x1e28, 0x48, 0x327, 0x1e29, 0x68,
    0x327, 0x1e2a, 0x48, 0x32e, 0x1e2b, 0x68, 0x32e, 0x1e2c, 0x49, 0x330,
    0x1e2d, 0x69, 0x330, 0x1e2e, 0xcf, 0x301, 0x1e2f, 0xef, 0x301, 0x1e30,
    0x4b, 0x301, 0x1e31, 0x6b, 0x301, 0x1e32, 0x4b, 0x323, 0x1e33, 0x6b,
    0x323, 0x1e34, 0x4b, 0x331, 0x1e35, 0x6b, 0x331, 0x1e36, 0x4c, 0x323,
    0x1e37, 0x6c, 0x323, 0x1e38, 0x1e36, 0x304, 0x1e39, 0x1e37, 0x304, 0x1e3a,
    0x4c, 0x331, 0x1e3b, 0x6c, 0x331, 0x1e3c, 0x4c, 0x32d, 0x1e3d, 0x6c,
    0x32d, 0x1e3e, 0x4d, 0x301, 0x1e3f, 0x6d, 0x301, 0x1e40, 0x4d, 0x307,
    0x1e41, 0x6d, 0x307, 0x1e42, 0x4d, 0x323, 0x1e43, 0x6d, 0x323, 0x1e44,
    0x4e, 0x307, 0x1e45, 0x6e, 0x307, 0x1e46, 0x4e, 0x323, 0x1e47, 0x6e,
    0x323, 0x1e48, 0x4e, 0x331, 0x1e49, 0x6e, 0x331, 0x1e4a, 0x4e, 0x32d,
    0x1e4b, 0x6e, 0x32d, 0x1e4c, 0xd5, 0x301, 0x1e4d, 0xf5, 0x301, 0x1e4e,
    0xd5, 0x308, 0x1e4f, 0xf5, 0x308, 0x1e50, 0x14c, 0x300, 0x1e51, 0x14d,
    0x300, 0x1e52, 0x14c, 0x301, 0x1e53, 0x14d, 0x301, 0x1e54, 0x50, 0x301,
    0x1e55, 0x70, 0x301, 0x1e56, 0x50, 0x307, 0x1e57, 0x70, 0x307, 0x1e58,
    0x52, 0x307, 0x1e59, 0x72, 0x307, 0x1e5a, 0x52, 0x323, 0x1e5b, 0x72,
    0x323, 0x1e5c, 0x1e5a, 0x304, 0x1e5d, 0x1e5b, 0x304, 0x1e5e, 0x52, 0x331,
    0x1e5f, 0x72, 0x331, 0x1e60, 0x53, 0x307, 0x1e61, 0x73, 0x307, 0x1e62,
    0x53, 0x323, 0x1e63, 0x73, 0x323, 0x1e64, 0x15a, 0x307, 0x1e65, 0x15b,
    0x307, 0x1e66, 0x160, 0x307, 0x1e67, 0x161, 0x307, 0x1e68, 0x1e62, 0x307,
    0x1e69, 0x1e63, 0x307, 0x1e6a, 0x54, 0x307, 0x1e6b, 0x74, 0x307, 0x1e6c,
    0x54, 0x323, 0x1e6d, 0x74, 0x323, 0x1e6e, 0x54, 0x331, 0x1e6f, 0x74,
    0x331, 0x1e70, 0x54, 0x32d, 0x1e71, 0x74, 0x32d, 0x1e72, 0x55, 0x324,
    0x1e73, 0x75, 0x324, 0x1e74, 0x55, 0x330, 0x1e75, 0x75, 0x330, 0x1e76,
    0x55, 0x32d, 0x1e77, 0x75, 0x32d, 0x1e78, 0x168, 0x301, 0x1e79, 0x169,
    0x301, 0x1e7a, 0x16a, 0x308, 0x1e7b, 0x16b, 0x308, 0x1e7c, 0x56, 0x303,
    0x1e7d, 0x76, 0x303, 0x1e7e, 0x56, 0x323, 0x1e7f, 0x76, 0x323, 0x1e80,
    0x57, 0x300, 0x1e81, 0x77, 0x300, 0x1e82, 0x57, 0x301, 0x1e83, 0x77,
    0x301, 0x1e84, 0x57, 0x308, 0x1e85, 0x77, 0x308, 0x1e86, 0x57, 0x307,
    0x1e87, 0x77, 0x307, 0x1e88, 0x57, 0x323, 0x1e89, 0x77, 0x323, 0x1e8a,
    0x58, 0x307, 0x1e8b, 0x78, 0x307, 0x1e8c, 0x58, 0x308, 0x1e8d, 0x78,
    0x308, 0x1e8e, 0x59, 0x307, 0x1e8f, 0x79, 0x307, 0x1e90, 0x5a, 0x302,
    0x1e91, 0x7a, 0x302, 0x1e92, 0x5a, 0x323, 0x1e93, 0x7a, 0x323, 0x1e94,
    0x5a, 0x331, 0x1e95, 0x7a, 0x331, 0x1e96, 0x68, 0x331, 0x1e97, 0x74,
    0x308, 0x1e98, 0x77, 0x30a, 0x1e99, 0x79, 0x30a, 0x1e9b, 0x17f, 0x307,
    0x1ea0, 0x41, 0x323, 0x1ea1, 0x61, 0x323, 0x1ea2, 0x41, 0x309, 0x1ea3,
    0x61, 0x309, 0x1ea4, 0xc2, 0x301, 0x1ea5, 0xe2, 0x301, 0x1ea6, 0xc2,
    0x300, 0x1ea7, 0xe2, 0x300, 0x1ea8, 0xc2, 0x309, 0x1ea9, 0xe2, 0x309,
    0x1eaa, 0xc2, 0x303, 0x1eab, 0xe2, 0x303, 0x1eac, 0x1ea0, 0x302, 0x1ead,
    0x1ea1, 0x302, 0x1eae, 0x102, 0x301, 0x1eaf, 0x103, 0x301, 0x1eb0, 0x102,
    0x300, 0x1eb1, 0x103, 0x300, 0x1eb2, 0x102, 0x309, 0x1eb3, 0x103, 0x309,
    0x1eb4, 0x102, 0x303, 0x1eb5, 0x103, 0x303, 0x1eb6, 0x1ea0, 0x306, 0x1eb7,
    0x1ea1, 0x306, 0x1eb8, 0x45, 0x323, 0x1eb9, 0x65, 0x323, 0x1eba, 0x45,
    0x309, 0x1ebb, 0x65, 0x309, 0x1ebc, 0x45, 0x303, 0x1ebd, 0x65, 0x303,
    0x1ebe, 0xca, 0x301, 0x1ebf, 0xea, 0x301, 0x1ec0, 0xca, 0x300, 0x1ec1,
    0xea, 0x300, 0x1ec2, 0xca, 0x309, 0x1ec3, 0xea, 0x309, 0x1ec4, 0xca,
    0x303, 0x1ec5, 0xea, 0x303, 0x1ec6, 0x1eb8, 0x302, 0x1ec7, 0x1eb9, 0x302,
    0x1ec8, 0x49, 0x309, 0x1ec9, 0x69, 0x309, 0x1eca, 0x49, 0x323, 0x1ecb,
    0x69, 0x323, 0x1ecc, 0x4f, 0x323, 0x1ecd, 0x6f, 0x323, 0x1ece, 0x4f,
    0x309, 0x1ecf, 0x6f, 0x309, 0x1ed0, 0xd4, 0x301, 0x1ed1, 0xf4, 0x301,
    0x1ed2, 0xd4, 0x300, 0x1ed3, 0xf4, 0x300, 0x1ed4, 0xd4, 0x309, 0x1ed5,
    0xf4, 0x309, 0x1ed6, 0xd4, 0x303, 0x1ed7, 0xf4, 0x303, 0x1ed8, 0x1ecc,
    0x302, 0x1ed9, 0x1ecd, 0x302, 0x1eda, 0x1a0, 0x301, 0x1edb, 0x1a1, 0x301,
    0x1edc, 0x1a0, 0x300, 0x1edd, 0x1a1, 0x300, 0x1ede, 0x1a0, 0x309, 0x1edf,
    0x1a1, 0x309, 0x1ee0, 0x1a0, 0x303, 0x1ee1, 0x1a1, 0x303, 0x1ee2, 0x1a0,
    0x323, 0x1ee3, 0x1a1, 0x323, 0x1ee4, 0x55, 0x323, 0x1ee5, 0x75, 0x323,
    0x1ee6, 0x55, 0x309, 0x1ee7, 0x75, 0x309, 0x1ee8, 0x1af, 0x301, 0x1ee9,
    0x1b0, 0x301, 0x1eea, 0x1af, 0x300, 0x1eeb, 0x1b0, 0x300, 0x1eec, 0x1af,
    0x309, 0x1eed, 0x1b0, 0x309, 0x1eee, 0x1af, 0x303, 0x1eef, 0x1b0, 0x303,
    0x1ef0, 0x1af, 0x323, 0x1ef1, 0x1b0, 0x323, 0x1ef2, 0x59, 0x300, 0x1ef3,
    0x79, 0x300, 0x1ef4, 0x59, 0x323, 0x1ef5, 0x79, 0x323, 0x1ef6, 0x59,
    0x309, 0x1ef7, 0x79, 0x309, 0x1ef8, 0x59, 0x303, 0x1ef9, 0x79, 0x303,
    0x1f00, 0x3b1, 0x313, 0x1f01, 0x3b1, 0x314, 0x1f02, 0x1f00, 0x300, 0x1f03,
    0x1f01, 0x300, 0x1f04, 0x1f00, 0x301, 0x1f05, 0x1f01, 0x301, 0x1f06, 0x1f00,
    0x342, 0x1f07, 0x1f01, 0x342, 0x1f08, 0x391, 0x313, 0x1f09, 0x391, 0x314,
    0x1f0a, 0x1f08, 0x300, 0x1f0b, 0x1f09, 0x300, 0x1f0c, 0x1f08, 0x301, 0x1f0d,
    0x1f09, 0x301, 0x1f0e, 0x1f08, 0x342, 0x1f0f, 0x1f09, 0x342, 0x1f10, 0x3b5,
    0x313, 0x1f11, 0x3b5, 0x314, 0x1f12, 0x1f10, 0x300, 0x1f13, 0x1f11, 0x300,
    0x1f14, 0x1f10, 0x301, 0x1f15, 0x1f11, 0x301, 0x1f18, 0x395, 0x313, 0x1f19,
    0x395, 0x314, 0x1f1a, 0x1f18, 0x300, 0x1f1b, 0x1f19, 0x300, 0x1f1c, 0x1f18,
    0x301, 0x1f1d, 0x1f19, 0x301, 0x1f20, 0x3b7, 0x313, 0x1f21, 0x3b7, 0x314,
    0x1f22, 0x1f20, 0x300, 0x1f23, 0x1f21, 0x300, 0x1f24, 0x1f20, 0x301, 0x1f25,
    0x1f21, 0x301, 0x1f26, 0x1f20, 0x342, 0x1f27, 0x1f21, 0x342, 0x1f28, 0x397,
    0x313, 0x1f29, 0x397, 0x314, 0x1f2a, 0x1f28, 0x300, 0x1f2b, 0x1f29, 0x300,
    0x1f2c, 0x1f28, 0x301, 0x1f2d, 0x1f29, 0x301, 0x1f2e, 0x1f28, 0x342, 0x1f2f,
    0x1f29, 0x342, 0x1f30, 0x3b9, 0x313, 0x1f31, 0x3b9, 0x314, 0x1f32, 0x1f30,
    0x300, 0x1f33, 0x1f31, 0x300, 0x1f34, 0x1f30, 0x301, 0x1f35, 0x1f31, 0x301,
    0x1f36, 0x1f30, 0x342, 0x1f37, 0x1f31, 0x342, 0x1f38, 0x399, 0x313, 0x1f39,
    0x399, 0x314, 0x1f3a, 0x1f38, 0x300, 0x1f3b, 0x1f39, 0x300, 0x1f3c, 0x1f38,
    0x301, 0x1f3d, 0x1f39, 0x301, 0x1f3e, 0x1f38, 0x342, 0x1f3f, 0x1f39, 0x342,
    0x1f40, 0x3bf, 0x313, 0x1f41, 0x3bf, 0x314, 0x1f42, 0x1f40, 0x300, 0x1f43,
    0x1f41, 0x300, 0x1f44, 0x1f40, 0x301, 0x1f45, 0x1f41, 0x301, 0x1f48, 0x39f,
    0x313, 0x1f49, 0x39f, 0x314, 0x1f4a, 0x1f48, 0x300, 0x1f4b, 0x1f49, 0x300,
    0x1f4c, 0x1f48, 0x301, 0x1f4d, 0x1f49, 0x301, 0x1f50, 0x3c5, 0x313, 0x1f51,
    0x3c5, 0x314, 0x1f52, 0x1f50, 0x300, 0x1f53, 0x1f51, 0x300, 0x1f54, 0x1f50,
    0x301, 0x1f55, 0x1f51, 0x301, 0x1f56, 0x1f50, 0x342, 0x1f57, 0x1f51, 0x342,
    0x1f59, 0x3a5, 0x314, 0x1f5b, 0x1f59, 0x300, 0x1f5d, 0x1f59, 0x301, 0x1f5f,
    0x1f59, 0x342, 0x1f60, 0x3c9, 0x313, 0x1f61, 0x3c9, 0x314, 0x1f62, 0x1f60,
    0x300, 0x1f63, 0x1f61, 0x300, 0x1f64, 0x1f60, 0x301, 0x1f65, 0x1f61, 0x301,
    0x1f66, 0x1f60, 0x342, 0x1f67, 0x1f61, 0x342, 0x1f68, 0x3a9, 0x313, 0x1f69,
    0x3a9, 0x314, 0x1f6a, 0x1f68, 0x300, 0x1f6b, 0x1f69, 0x300, 0x1f6c, 0x1f68,
    0x301, 0x1f6d, 0x1f69, 0x301, 0x1f6e, 0x1f68, 0x342, 0x1f6f, 0x1f69, 0x342,
    0x1f70, 0x3b1, 0x300, 0x1f71, 0x3ac, 0x0, 0x1f72, 0x3b5, 0x300, 0x1f73,
    0x3ad, 0x0, 0x1f74, 0x3b7, 0x300, 0x1f75, 0x3ae, 0x0, 0x1f76, 0x3b9,
    0x300, 0x1f77, 0x3af, 0x0, 0x1f78, 0x3bf, 0x300, 0x1f79, 0x3cc, 0x0,
    0x1f7a, 0x3c5, 0x300, 0x1f7b, 0x3cd, 0x0, 0x1f7c, 0x3c9, 0x300, 0x1f7d,
    0x3ce, 0x0, 0x1f80, 0x1f00, 0x345, 0x1f81, 0x1f01, 0x345, 0x1f82, 0x1f02,
    0x345, 0x1f83, 0x1f03, 0x345, 0x1f84, 0x1f04, 0x345, 0x1f85, 0x1f05, 0x345,
    0x1f86, 0x1f06, 0x345, 0x1f87, 0x1f07, 0x345, 0x1f88, 0x1f08, 0x345, 0x1f89,
    0x1f09, 0x345, 0x1f8a, 0x1f0a, 0x345, 0x1f8b, 0x1f0b, 0x345, 0x1f8c, 0x1f0c,
    0x345, 0x1f8d, 0x1f0d, 0x345, 0x1f8e, 0x1f0e, 0x345, 0x1f8f, 0x1f0f, 0x345,
    0x1f90, 0x1f20, 0x345, 0x1f91, 0x1f21, 0x345, 0x1f92, 0x1f22, 0x345, 0x1f93,
    0x1f23, 0x345, 0x1f94, 0x1f24, 0x345, 0x1f95, 0x1f25, 0x345, 0x1f96, 0x1f26,
    0x345, 0x1f97, 0x1f27, 0x345, 0x1f98, 0x1f28, 0x345, 0x1f99, 0x1f29, 0x345,
    0x1f9a, 0x1f2a, 0x345, 0x1f9b, 0x1f2b, 0x345, 0x1f9c, 0x1f2c, 0x345, 0x1f9d,
    0x1f2d, 0x345, 0x1f9e, 0x1f2e, 0x345, 0x1f9f, 0x1f2f, 0x345, 0x1fa0, 0x1f60,
    0x345, 0x1fa1, 0x1f61, 0x345, 0x1fa2, 0x1f62, 0x345, 0x1fa3, 0x1f63, 0x345,
    0x1fa4, 0x1f64, 0x345, 0x1fa5, 0x1f65, 0x345, 0x1fa6, 0x1f66, 0x345, 0x1fa7,
    0x1f67, 0x345, 0x1fa8, 0x1f68, 0x345, 0x1fa9, 0x1f69, 0x345, 0x1faa, 0x1f6a,
    0x345, 0x1fab, 0x1f6b, 0x345, 0x1fac, 0x1f6c, 0x345, 0x1fad, 0x1f6d, 0x345,
    0x1fae, 0x1f6e, 0x345, 0x1faf, 0x1f6f, 0x345, 0x1fb0, 0x3b1, 0x306, 0x1fb1,
    0x3b1, 0x304, 0x1fb2, 0x1f70, 0x345, 0x1fb3, 0x3b1, 0x345, 0x1fb4, 0x3ac,
    0x345, 0x1fb6, 0x3b1, 0x342, 0x1fb7, 0x1fb6, 0x345, 0x1fb8, 0x391, 0x306,
    0x1fb9, 0x391, 0x304, 0x1fba, 0x391, 0x300, 0x1fbb, 0x386, 0x0, 0x1fbc,
    0x391, 0x345, 0x1fbe, 0x3b9, 0x0, 0x1fc1, 0xa8, 0x342, 0x1fc2, 0x1f74,
    0x345, 0x1fc3, 0x3b7, 0x345, 0x1fc4, 0x3ae, 0x345, 0x1fc6, 0x3b7, 0x342,
    0x1fc7, 0x1fc6, 0x345, 0x1fc8, 0x395, 0x300, 0x1fc9, 0x388, 0x0, 0x1fca,
    0x397, 0x300, 0x1fcb, 0x389, 0x0, 0x1fcc, 0x397, 0x345, 0x1fcd, 0x1fbf,
    0x300, 0x1fce, 0x1fbf, 0x301, 0x1fcf, 0x1fbf, 0x342, 0x1fd0, 0x3b9, 0x306,
    0x1fd1, 0x3b9, 0x304, 0x1fd2, 0x3ca, 0x300, 0x1fd3, 0x390, 0x0, 0x1fd6,
    0x3b9, 0x342, 0x1fd7, 0x3ca, 0x342, 0x1fd8, 0x399, 0x306, 0x1fd9, 0x399,
    0x304, 0x1fda, 0x399, 0x300, 0x1fdb, 0x38a, 0x0, 0x1fdd, 0x1ffe, 0x300,
    0x1fde, 0x1ffe, 0x301, 0x1fdf, 0x1ffe, 0x342, 0x1fe0, 0x3c5, 0x306, 0x1fe1,
    0x3c5, 0x304, 0x1fe2, 0x3cb, 0x300, 0x1fe3, 0x3b0, 0x0, 0x1fe4, 0x3c1,
    0x313, 0x1fe5, 0x3c1, 0x314, 0x1fe6, 0x3c5, 0x342, 0x1fe7, 0x3cb, 0x342,
    0x1fe8, 0x3a5, 0x306, 0x1fe9, 0x3a5, 0x304, 0x1fea, 0x3a5, 0x300, 0x1feb,
    0x38e, 0x0, 0x1fec, 0x3a1, 0x314, 0x1fed, 0xa8, 0x300, 0x1fee, 0x385,
    0x0, 0x1fef, 0x60, 0x0, 0x1ff2, 0x1f7c, 0x345, 0x1ff3, 0x3c9, 0x345,
    0x1ff4, 0x3ce, 0x345, 0x1ff6, 0x3c9, 0x342, 0x1ff7, 0x1ff6, 0x345, 0x1ff8,
    0x39f, 0x300, 0x1ff9, 0x38c, 0x0, 0x1ffa, 0x3a9, 0x300, 0x1ffb, 0x38f,
    0x0, 0x1ffc, 0x3a9, 0x345, 0x1ffd, 0xb4, 0x0, 0x2000, 0x2002, 0x0,
    0x2001, 0x2003, 0x0, 0x2126, 0x3a9, 0x0, 0x212a, 0x4b, 0x0, 0x212b,
    0xc5, 0x0, 0x219a, 0x2190, 0x338, 0x219b, 0x2192, 0x338, 0x21ae, 0x2194,
    0x338, 0x21cd, 0x21d0, 0x338, 0x21ce, 0x21d4, 0x338, 0x21cf, 0x21d2, 0x338,
    0x2204, 0x2203, 0x338, 0x2209, 0x2208, 0x338, 0x220c, 0x220b, 0x338, 0x2224,
    0x2223, 0x338, 0x2226, 0x2225, 0x338, 0x2241, 0x223c, 0x338, 0x2244, 0x2243,
    0x338, 0x2247, 0x2245, 0x338, 0x2249, 0x2248, 0x338, 0x2260, 0x3d, 0x338,
    0x2262, 0x2261, 0x338, 0x226d, 0x224d, 0x338, 0x226e, 0x3c, 0x338, 0x226f,
    0x3e, 0x338, 0x2270, 0x2264, 0x338, 0x2271, 0x2265, 0x338, 0x2274, 0x2272,
    0x338, 0x2275, 0x2273, 0x338, 0x2278, 0x2276, 0x338, 0x2279, 0x2277, 0x338,
    0x2280, 0x227a, 0x338, 0x2281, 0x227b, 0x338, 0x2284, 0x2282, 0x338, 0x2285,
    0x2283, 0x338, 0x2288, 0x2286, 0x338, 0x2289, 0x2287, 0x338, 0x22ac, 0x22a2,
    0x338, 0x22ad, 0x22a8, 0x338, 0x22ae, 0x22a9, 0x338, 0x22af, 0x22ab, 0x338,
    0x22e0, 0x227c, 0x338, 0x22e1, 0x227d, 0x338, 0x22e2, 0x2291, 0x338, 0x22e3,
    0x2292, 0x338, 0x22ea, 0x22b2, 0x338, 0x22eb, 0x22b3, 0x338, 0x22ec, 0x22b4,
    0x338, 0x22ed, 0x22b5, 0x338, 0x2329, 0x3008, 0x0, 0x232a, 0x3009, 0x0,
    0x2adc, 0x2add, 0x338, 0x304c, 0x304b, 0x3099, 0x304e, 0x304d, 0x3099, 0x3050,
    0x304f, 0x3099, 0x3052, 0x3051, 0x3099, 0x3054, 0x3053, 0x3099, 0x3056, 0x3055,
    0x3099, 0x3058, 0x3057, 0x3099, 0x305a, 0x3059, 0x3099, 0x305c, 0x305b, 0x3099,
    0x305e, 0x305d, 0x3099, 0x3060, 0x305f, 0x3099, 0x3062, 0x3061, 0x3099, 0x3065,
    0x3064, 0x3099, 0x3067, 0x3066, 0x3099, 0x3069, 0x3068, 0x3099, 0x3070, 0x306f,
    0x3099, 0x3071, 0x306f, 0x309a, 0x3073, 0x3072, 0x3099, 0x3074, 0x3072, 0x309a,
    0x3076, 0x3075, 0x3099, 0x3077, 0x3075, 0x309a, 0x3079, 0x3078, 0x3099, 0x307a,
    0x3078, 0x309a, 0x307c, 0x307b, 0x3099, 0x307d, 0x307b, 0x309a, 0x3094, 0x3046,
    0x3099, 0x309e, 0x309d, 0x3099, 0x30ac, 0x30ab, 0x3099, 0x30ae, 0x30ad, 0x3099,
    0x30b0, 0x30af, 0x3099, 0x30b2, 0x30b1, 0x3099, 0x30b4, 0x30b3, 0x3099, 0x30b6,
    0x30b5, 0x3099, 0x30b8, 0x30b7, 0x3099, 0x30ba, 0x30b9, 0x3099, 0x30bc, 0x30bb,
    0x3099, 0x30be, 0x30bd, 0x3099, 0x30c0, 0x30bf, 0x3099, 0x30c2, 0x30c1, 0x3099,
    0x30c5, 0x30c4, 0x3099, 0x30c7, 0x30c6, 0x3099, 0x30c9, 0x30c8, 0x3099, 0x30d0,
    0x30cf, 0x3099, 0x30d1, 0x30cf, 0x309a, 0x30d3, 0x30d2, 0x3099, 0x30d4, 0x30d2,
    0x309a, 0x30d6, 0x30d5, 0x3099, 0x30d7, 0x30d5, 0x309a, 0x30d9, 0x30d8, 0x3099,
    0x30da, 0x30d8, 0x309a, 0x30dc, 0x30db, 0x3099, 0x30dd, 0x30db, 0x309a, 0x30f4,
    0x30a6, 0x3099, 0x30f7, 0x30ef, 0x3099, 0x30f8, 0x30f0, 0x3099, 0x30f9, 0x30f1,
    0x3099, 0x30fa, 0x30f2, 0x3099, 0x30fe, 0x30fd, 0x3099, 0xf900, 0x8c48, 0x0,
    0xf901, 0x66f4, 0x0, 0xf902, 0x8eca, 0x0, 0xf903, 0x8cc8, 0x0, 0xf904,
    0x6ed1, 0x0, 0xf905, 0x4e32, 0x0, 0xf906, 0x53e5, 0x0, 0xf907, 0x9f9c,
    0x0, 0xf908, 0x9f9c, 0x0, 0xf909, 0x5951, 0x0, 0xf90a, 0x91d1, 0x0,
    0xf90b, 0x5587, 0x0, 0xf90c, 0x5948, 0x0, 0xf90d, 0x61f6, 0x0, 0xf90e,
    0x7669, 0x0, 0xf90f, 0x7f85, 0x0, 0xf910, 0x863f, 0x0, 0xf911, 0x87ba,
    0x0, 0xf912, 0x88f8, 0x0, 0xf913, 0x908f, 0x0, 0xf914, 0x6a02, 0x0,
    0xf915, 0x6d1b, 0x0, 0xf916, 0x70d9, 0x0, 0xf917, 0x73de, 0x0, 0xf918,
    0x843d, 0x0, 0xf919, 0x916a, 0x0, 0xf91a, 0x99f1, 0x0, 0xf91b, 0x4e82,
    0x0, 0xf91c, 0x5375, 0x0, 0xf91d, 0x6b04, 0x0, 0xf91e, 0x721b, 0x0,
    0xf91f, 0x862d, 0x0, 0xf920, 0x9e1e, 0x0, 0xf921, 0x5d50, 0x0, 0xf922,
    0x6feb, 0x0, 0xf923, 0x85cd, 0x0, 0xf924, 0x8964, 0x0, 0xf925, 0x62c9,
    0x0, 0xf926, 0x81d8, 0x0, 0xf927, 0x881f, 0x0, 0xf928, 0x5eca, 0x0,
    0xf929, 0x6717, 0x0, 0xf92a, 0x6d6a, 0x0, 0xf92b, 0x72fc, 0x0, 0xf92c,
    0x90ce, 0x0, 0xf92d, 0x4f86, 0x0, 0xf92e, 0x51b7, 0x0, 0xf92f, 0x52de,
    0x0, 0xf930, 0x64c4, 0x0, 0xf931, 0x6ad3, 0x0, 0xf932, 0x7210, 0x0,
    0xf933, 0x76e7, 0x0, 0xf934, 0x8001, 0x0, 0xf935, 0x8606, 0x0, 0xf936,
    0x865c, 0x0, 0xf937, 0x8def, 0x0, 0xf938, 0x9732, 0x0, 0xf939, 0x9b6f,
    0x0, 0xf93a, 0x9dfa, 0x0, 0xf93b, 0x788c, 0x0, 0xf93c, 0x797f, 0x0,
    0xf93d, 0x7da0, 0x0, 0xf93e, 0x83c9, 0x0, 0xf93f, 0x9304, 0x0, 0xf940,
    0x9e7f, 0x0, 0xf941, 0x8ad6, 0x0, 0xf942, 0x58df, 0x0, 0xf943, 0x5f04,
    0x0, 0xf944, 0x7c60, 0x0, 0xf945, 0x807e, 0x0, 0xf946, 0x7262, 0x0,
    0xf947, 0x78ca, 0x0, 0xf948, 0x8cc2, 0x0, 0xf949, 0x96f7, 0x0, 0xf94a,
    0x58d8, 0x0, 0xf94b, 0x5c62, 0x0, 0xf94c, 0x6a13, 0x0, 0xf94d, 0x6dda,
    0x0, 0xf94e, 0x6f0f, 0x0, 0xf94f, 0x7d2f, 0x0, 0xf950, 0x7e37, 0x0,
    0xf951, 0x964b, 0x0, 0xf952, 0x52d2, 0x0, 0xf953, 0x808b, 0x0, 0xf954,
    0x51dc, 0x0, 0xf955, 0x51cc, 0x0, 0xf956, 0x7a1c, 0x0, 0xf957, 0x7dbe,
    0x0, 0xf958, 0x83f1, 0x0, 0xf959, 0x9675, 0x0, 0xf95a, 0x8b80, 0x0,
    0xf95b, 0x62cf, 0x0, 0xf95c, 0x6a02, 0x0, 0xf95d, 0x8afe, 0x0, 0xf95e,
    0x4e39, 0x0, 0xf95f, 0x5be7, 0x0, 0xf960, 0x6012, 0x0, 0xf961, 0x7387,
    0x0, 0xf962, 0x7570, 0x0, 0xf963, 0x5317, 0x0, 0xf964, 0x78fb, 0x0,
    0xf965, 0x4fbf, 0x0, 0xf966, 0x5fa9, 0x0, 0xf967, 0x4e0d, 0x0, 0xf968,
    0x6ccc, 0x0, 0xf969, 0x6578, 0x0, 0xf96a, 0x7d22, 0x0, 0xf96b, 0x53c3,
    0x0, 0xf96c, 0x585e, 0x0, 0xf96d, 0x7701, 0x0, 0xf96e, 0x8449, 0x0,
    0xf96f, 0x8aaa, 0x0, 0xf970, 0x6bba, 0x0, 0xf971, 0x8fb0, 0x0, 0xf972,
    0x6c88, 0x0, 0xf973, 0x62fe, 0x0, 0xf974, 0x82e5, 0x0, 0xf975, 0x63a0,
    0x0, 0xf976, 0x7565, 0x0, 0xf977, 0x4eae, 0x0, 0xf978, 0x5169, 0x0,
    0xf979, 0x51c9, 0x0, 0xf97a, 0x6881, 0x0, 0xf97b, 0x7ce7, 0x0, 0xf97c,
    0x826f, 0x0, 0xf97d, 0x8ad2, 0x0, 0xf97e, 0x91cf, 0x0, 0xf97f, 0x52f5,
    0x0, 0xf980, 0x5442, 0x0, 0xf981, 0x5973, 0x0, 0xf982, 0x5eec, 0x0,
    0xf983, 0x65c5, 0x0, 0xf984, 0x6ffe, 0x0, 0xf985, 0x792a, 0x0, 0xf986,
    0x95ad, 0x0, 0xf987, 0x9a6a, 0x0, 0xf988, 0x9e97, 0x0, 0xf989, 0x9ece,
    0x0, 0xf98a, 0x529b, 0x0, 0xf98b, 0x66c6, 0x0, 0xf98c, 0x6b77, 0x0,
    0xf98d, 0x8f62, 0x0, 0xf98e, 0x5e74, 0x0, 0xf98f, 0x6190, 0x0, 0xf990,
    0x6200, 0x0, 0xf991, 0x649a, 0x0, 0xf992, 0x6f23, 0x0, 0xf993, 0x7149,
    0x0, 0xf994, 0x7489, 0x0, 0xf995, 0x79ca, 0x0, 0xf996, 0x7df4, 0x0,
    0xf997, 0x806f, 0x0, 0xf998, 0x8f26, 0x0, 0xf999, 0x84ee, 0x0, 0xf99a,
    0x9023, 0x0, 0xf99b, 0x934a, 0x0, 0xf99c, 0x5217, 0x0, 0xf99d, 0x52a3,
    0x0, 0xf99e, 0x54bd, 0x0, 0xf99f, 0x70c8, 0x0, 0xf9a0, 0x88c2, 0x0,
    0xf9a1, 0x8aaa, 0x0, 0xf9a2, 0x5ec9, 0x0, 0xf9a3, 0x5ff5, 0x0, 0xf9a4,
    0x637b, 0x0, 0xf9a5, 0x6bae, 0x0, 0xf9a6, 0x7c3e, 0x0, 0xf9a7, 0x7375,
    0x0, 0xf9a8, 0x4ee4, 0x0, 0xf9a9, 0x56f9, 0x0, 0xf9aa, 0x5be7, 0x0,
    0xf9ab, 0x5dba, 0x0, 0xf9ac, 0x601c, 0x0, 0xf9ad, 0x73b2, 0x0, 0xf9ae,
    0x7469, 0x0, 0xf9af, 0x7f9a, 0x0, 0xf9b0, 0x8046, 0x0, 0xf9b1, 0x9234,
    0x0, 0xf9b2, 0x96f6, 0x0, 0xf9b3, 0x9748, 0x0, 0xf9b4, 0x9818, 0x0,
    0xf9b5, 0x4f8b, 0x0, 0xf9b6, 0x79ae, 0x0, 0xf9b7, 0x91b4, 0x0, 0xf9b8,
    0x96b8, 0x0, 0xf9b9, 0x60e1, 0x0, 0xf9ba, 0x4e86, 0x0, 0xf9bb, 0x50da,
    0x0, 0xf9bc, 0x5bee, 0x0, 0xf9bd, 0x5c3f, 0x0, 0xf9be, 0x6599, 0x0,
    0xf9bf, 0x6a02, 0x0, 0xf9c0, 0x71ce, 0x0, 0xf9c1, 0x7642, 0x0, 0xf9c2,
    0x84fc, 0x0, 0xf9c3, 0x907c, 0x0, 0xf9c4, 0x9f8d, 0x0, 0xf9c5, 0x6688,
    0x0, 0xf9c6, 0x962e, 0x0, 0xf9c7, 0x5289, 0x0, 0xf9c8, 0x677b, 0x0,
    0xf9c9, 0x67f3, 0x0, 0xf9ca, 0x6d41, 0x0, 0xf9cb, 0x6e9c, 0x0, 0xf9cc,
    0x7409, 0x0, 0xf9cd, 0x7559, 0x0, 0xf9ce, 0x786b, 0x0, 0xf9cf, 0x7d10,
    0x0, 0xf9d0, 0x985e, 0x0, 0xf9d1, 0x516d, 0x0, 0xf9d2, 0x622e, 0x0,
    0xf9d3, 0x9678, 0x0, 0xf9d4, 0x502b, 0x0, 0xf9d5, 0x5d19, 0x0, 0xf9d6,
    0x6dea, 0x0, 0xf9d7, 0x8f2a, 0x0, 0xf9d8, 0x5f8b, 0x0, 0xf9d9, 0x6144,
    0x0, 0xf9da, 0x6817, 0x0, 0xf9db, 0x7387, 0x0, 0xf9dc, 0x9686, 0x0,
    0xf9dd, 0x5229, 0x0, 0xf9de, 0x540f, 0x0, 0xf9df, 0x5c65, 0x0, 0xf9e0,
    0x6613, 0x0, 0xf9e1, 0x674e, 0x0, 0xf9e2, 0x68a8, 0x0, 0xf9e3, 0x6ce5,
    0x0, 0xf9e4, 0x7406, 0x0, 0xf9e5, 0x75e2, 0x0, 0xf9e6, 0x7f79, 0x0,
    0xf9e7, 0x88cf, 0x0, 0xf9e8, 0x88e1, 0x0, 0xf9e9, 0x91cc, 0x0, 0xf9ea,
    0x96e2, 0x0, 0xf9eb, 0x533f, 0x0, 0xf9ec, 0x6eba, 0x0, 0xf9ed, 0x541d,
    0x0, 0xf9ee, 0x71d0, 0x0, 0xf9ef, 0x7498, 0x0, 0xf9f0, 0x85fa, 0x0,
    0xf9f1, 0x96a3, 0x0, 0xf9f2, 0x9c57, 0x0, 0xf9f3, 0x9e9f, 0x0, 0xf9f4,
    0x6797, 0x0, 0xf9f5, 0x6dcb, 0x0, 0xf9f6, 0x81e8, 0x0, 0xf9f7, 0x7acb,
    0x0, 0xf9f8, 0x7b20, 0x0, 0xf9f9, 0x7c92, 0x0, 0xf9fa, 0x72c0, 0x0,
    0xf9fb, 0x7099, 0x0, 0xf9fc, 0x8b58, 0x0, 0xf9fd, 0x4ec0, 0x0, 0xf9fe,
    0x8336, 0x0, 0xf9ff, 0x523a, 0x0, 0xfa00, 0x5207, 0x0, 0xfa01, 0x5ea6,
    0x0, 0xfa02, 0x62d3, 0x0, 0xfa03, 0x7cd6, 0x0, 0xfa04, 0x5b85, 0x0,
    0xfa05, 0x6d1e, 0x0, 0xfa06, 0x66b4, 0x0, 0xfa07, 0x8f3b, 0x0, 0xfa08,
    0x884c, 0x0, 0xfa09, 0x964d, 0x0, 0xfa0a, 0x898b, 0x0, 0xfa0b, 0x5ed3,
    0x0, 0xfa0c, 0x5140, 0x0, 0xfa0d, 0x55c0, 0x0, 0xfa10, 0x585a, 0x0,
    0xfa12, 0x6674, 0x0, 0xfa15, 0x51de, 0x0, 0xfa16, 0x732a, 0x0, 0xfa17,
    0x76ca, 0x0, 0xfa18, 0x793c, 0x0, 0xfa19, 0x795e, 0x0, 0xfa1a, 0x7965,
    0x0, 0xfa1b, 0x798f, 0x0, 0xfa1c, 0x9756, 0x0, 0xfa1d, 0x7cbe, 0x0,
    0xfa1e, 0x7fbd, 0x0, 0xfa20, 0x8612, 0x0, 0xfa22, 0x8af8, 0x0, 0xfa25,
    0x9038, 0x0, 0xfa26, 0x90fd, 0x0, 0xfa2a, 0x98ef, 0x0, 0xfa2b, 0x98fc,
    0x0, 0xfa2c, 0x9928, 0x0, 0xfa2d, 0x9db4, 0x0, 0xfa2e, 0x90de, 0x0,
    0xfa2f, 0x96b7, 0x0, 0xfa30, 0x4fae, 0x0, 0xfa31, 0x50e7, 0x0, 0xfa32,
    0x514d, 0x0, 0xfa33, 0x52c9, 0x0, 0xfa34, 0x52e4, 0x0, 0xfa35, 0x5351,
    0x0, 0xfa36, 0x559d, 0x0, 0xfa37, 0x5606, 0x0, 0xfa38, 0x5668, 0x0,
    0xfa39, 0x5840, 0x0, 0xfa3a, 0x58a8, 0x0, 0xfa3b, 0x5c64, 0x0, 0xfa3c,
    0x5c6e, 0x0, 0xfa3d, 0x6094, 0x0, 0xfa3e, 0x6168, 0x0, 0xfa3f, 0x618e,
    0x0, 0xfa40, 0x61f2, 0x0, 0xfa41, 0x654f, 0x0, 0xfa42, 0x65e2, 0x0,
    0xfa43, 0x6691, 0x0, 0xfa44, 0x6885, 0x0, 0xfa45, 0x6d77, 0x0, 0xfa46,
    0x6e1a, 0x0, 0xfa47, 0x6f22, 0x0, 0xfa48, 0x716e, 0x0, 0xfa49, 0x722b,
    0x0, 0xfa4a, 0x7422, 0x0, 0xfa4b, 0x7891, 0x0, 0xfa4c, 0x793e, 0x0,
    0xfa4d, 0x7949, 0x0, 0xfa4e, 0x7948, 0x0, 0xfa4f, 0x7950, 0x0, 0xfa50,
    0x7956, 0x0, 0xfa51, 0x795d, 0x0, 0xfa52, 0x798d, 0x0, 0xfa53, 0x798e,
    0x0, 0xfa54, 0x7a40, 0x0, 0xfa55, 0x7a81, 0x0, 0xfa56, 0x7bc0, 0x0,
    0xfa57, 0x7df4, 0x0, 0xfa58, 0x7e09, 0x0, 0xfa59, 0x7e41, 0x0, 0xfa5a,
    0x7f72, 0x0, 0xfa5b, 0x8005, 0x0, 0xfa5c, 0x81ed, 0x0, 0xfa5d, 0x8279,
    0x0, 0xfa5e, 0x8279, 0x0, 0xfa5f, 0x8457, 0x0, 0xfa60, 0x8910, 0x0,
    0xfa61, 0x8996, 0x0, 0xfa62, 0x8b01, 0x0, 0xfa63, 0x8b39, 0x0, 0xfa64,
    0x8cd3, 0x0, 0xfa65, 0x8d08, 0x0, 0xfa66, 0x8fb6, 0x0, 0xfa67, 0x9038,
    0x0, 0xfa68, 0x96e3, 0x0, 0xfa69, 0x97ff, 0x0, 0xfa6a, 0x983b, 0x0,
    0xfa6b, 0x6075, 0x0, 0xfa6c, 0x242ee, 0x0, 0xfa6d, 0x8218, 0x0, 0xfa70,
    0x4e26, 0x0, 0xfa71, 0x51b5, 0x0, 0xfa72, 0x5168, 0x0, 0xfa73, 0x4f80,
    0x0, 0xfa74, 0x5145, 0x0, 0xfa75, 0x5180, 0x0, 0xfa76, 0x52c7, 0x0,
    0xfa77, 0x52fa, 0x0, 0xfa78, 0x559d, 0x0, 0xfa79, 0x5555, 0x0, 0xfa7a,
    0x5599, 0x0, 0xfa7b, 0x55e2, 0x0, 0xfa7c, 0x585a, 0x0, 0xfa7d, 0x58b3,
    0x0, 0xfa7e, 0x5944, 0x0, 0xfa7f, 0x5954, 0x0, 0xfa80, 0x5a62, 0x0,
    0xfa81, 0x5b28, 0x0, 0xfa82, 0x5ed2, 0x0, 0xfa83, 0x5ed9, 0x0, 0xfa84,
    0x5f69, 0x0, 0xfa85, 0x5fad, 0x0, 0xfa86, 0x60d8, 0x0, 0xfa87, 0x614e,
    0x0, 0xfa88, 0x6108, 0x0, 0xfa89, 0x618e, 0x0, 0xfa8a, 0x6160, 0x0,
    0xfa8b, 0x61f2, 0x0, 0xfa8c, 0x6234, 0x0, 0xfa8d, 0x63c4, 0x0, 0xfa8e,
    0x641c, 0x0, 0xfa8f, 0x6452, 0x0, 0xfa90, 0x6556, 0x0, 0xfa91, 0x6674,
    0x0, 0xfa92, 0x6717, 0x0, 0xfa93, 0x671b, 0x0, 0xfa94, 0x6756, 0x0,
    0xfa95, 0x6b79, 0x0, 0xfa96, 0x6bba, 0x0, 0xfa97, 0x6d41, 0x0, 0xfa98,
    0x6edb, 0x0, 0xfa99, 0x6ecb, 0x0, 0xfa9a, 0x6f22, 0x0, 0xfa9b, 0x701e,
    0x0, 0xfa9c, 0x716e, 0x0, 0xfa9d, 0x77a7, 0x0, 0xfa9e, 0x7235, 0x0,
    0xfa9f, 0x72af, 0x0, 0xfaa0, 0x732a, 0x0, 0xfaa1, 0x7471, 0x0, 0xfaa2,
    0x7506, 0x0, 0xfaa3, 0x753b, 0x0, 0xfaa4, 0x761d, 0x0, 0xfaa5, 0x761f,
    0x0, 0xfaa6, 0x76ca, 0x0, 0xfaa7, 0x76db, 0x0, 0xfaa8, 0x76f4, 0x0,
    0xfaa9, 0x774a, 0x0, 0xfaaa, 0x7740, 0x0, 0xfaab, 0x78cc, 0x0, 0xfaac,
    0x7ab1, 0x0, 0xfaad, 0x7bc0, 0x0, 0xfaae, 0x7c7b, 0x0, 0xfaaf, 0x7d5b,
    0x0, 0xfab0, 0x7df4, 0x0, 0xfab1, 0x7f3e, 0x0, 0xfab2, 0x8005, 0x0,
    0xfab3, 0x8352, 0x0, 0xfab4, 0x83ef, 0x0, 0xfab5, 0x8779, 0x0, 0xfab6,
    0x8941, 0x0, 0xfab7, 0x8986, 0x0, 0xfab8, 0x8996, 0x0, 0xfab9, 0x8abf,
    0x0, 0xfaba, 0x8af8, 0x0, 0xfabb, 0x8acb, 0x0, 0xfabc, 0x8b01, 0x0,
    0xfabd, 0x8afe, 0x0, 0xfabe, 0x8aed, 0x0, 0xfabf, 0x8b39, 0x0, 0xfac0,
    0x8b8a, 0x0, 0xfac1, 0x8d08, 0x0, 0xfac2, 0x8f38, 0x0, 0xfac3, 0x9072,
    0x0, 0xfac4, 0x9199, 0x0, 0xfac5, 0x9276, 0x0, 0xfac6, 0x967c, 0x0,
    0xfac7, 0x96e3, 0x0, 0xfac8, 0x9756, 0x0, 0xfac9, 0x97db, 0x0, 0xfaca,
    0x97ff, 0x0, 0xfacb, 0x980b, 0x0, 0xfacc, 0x983b, 0x0, 0xfacd, 0x9b12,
    0x0, 0xface, 0x9f9c, 0x0, 0xfacf, 0x2284a, 0x0, 0xfad0, 0x22844, 0x0,
    0xfad1, 0x233d5, 0x0, 0xfad2, 0x3b9d, 0x0, 0xfad3, 0x4018, 0x0, 0xfad4,
    0x4039, 0x0, 0xfad5, 0x25249, 0x0, 0xfad6, 0x25cd0, 0x0, 0xfad7, 0x27ed3,
    0x0, 0xfad8, 0x9f43, 0x0, 0xfad9, 0x9f8e, 0x0, 0xfb1d, 0x5d9, 0x5b4,
    0xfb1f, 0x5f2, 0x5b7, 0xfb2a, 0x5e9, 0x5c1, 0xfb2b, 0x5e9, 0x5c2, 0xfb2c,
    0xfb49, 0x5c1, 0xfb2d, 0xfb49, 0x5c2, 0xfb2e, 0x5d0, 0x5b7, 0xfb2f, 0x5d0,
    0x5b8, 0xfb30, 0x5d0, 0x5bc, 0xfb31, 0x5d1, 0x5bc, 0xfb32, 0x5d2, 0x5bc,
    0xfb33, 0x5d3, 0x5bc, 0xfb34, 0x5d4, 0x5bc, 0xfb35, 0x5d5, 0x5bc, 0xfb36,
    0x5d6, 0x5bc, 0xfb38, 0x5d8, 0x5bc, 0xfb39, 0x5d9, 0x5bc, 0xfb3a, 0x5da,
    0x5bc, 0xfb3b, 0x5db, 0x5bc, 0xfb3c, 0x5dc, 0x5bc, 0xfb3e, 0x5de, 0x5bc,
    0xfb40, 0x5e0, 0x5bc, 0xfb41, 0x5e1, 0x5bc, 0xfb43, 0x5e3, 0x5bc, 0xfb44,
    0x5e4, 0x5bc, 0xfb46, 0x5e6, 0x5bc, 0xfb47, 0x5e7, 0x5bc, 0xfb48, 0x5e8,
    0x5bc, 0xfb49, 0x5e9, 0x5bc, 0xfb4a, 0x5ea, 0x5bc, 0xfb4b, 0x5d5, 0x5b9,
    0xfb4c, 0x5d1, 0x5bf, 0xfb4d, 0x5db, 0x5bf, 0xfb4e, 0x5e4, 0x5bf, 0x1109a,
    0x11099, 0x110ba, 0x1109c, 0x1109b, 0x110ba, 0x110ab, 0x110a5, 0x110ba, 0x1112e, 0x11131,
    0x11127, 0x1112f, 0x11132, 0x11127, 0x1134b, 0x11347, 0x1133e, 0x1134c, 0x11347, 0x11357,
    0x114bb, 0x114b9, 0x114ba, 0x114bc, 0x114b9, 0x114b0, 0x114be, 0x114b9, 0x114bd, 0x115ba,
    0x115b8, 0x115af, 0x115bb, 0x115b9, 0x115af, 0x11938, 0x11935, 0x11930, 0x1d15e, 0x1d157,
    0x1d165, 0x1d15f, 0x1d158, 0x1d165, 0x1d160, 0x1d15f, 0x1d16e, 0x1d161, 0x1d15f, 0x1d16f,
    0x1d162, 0x1d15f, 0x1d170, 0x1d163, 0x1d15f, 0x1d171, 0x1d164, 0x1d15f, 0x1d172, 0x1d1bb,
    0x1d1b9, 0x1d165, 0x1d1bc, 0x1d1ba, 0x1d165, 0x1d1bd, 0x1d1bb, 0x1d16e, 0x1d1be, 0x1d1bc,
    0x1d16e, 0x1d1bf, 0x1d1bb, 0x1d16f, 0x1d1c0, 0x1d1bc, 0x1d16f, 0x2f800, 0x4e3d, 0x0,
    0x2f801, 0x4e38, 0x0, 0x2f802, 0x4e41, 0x0, 0x2f803, 0x20122, 0x0, 0x2f804,
    0x4f60, 0x0, 0x2f805, 0x4fae, 0x0, 0x2f806, 0x4fbb, 0x0, 0x2f807, 0x5002,
    0x0, 0x2f808, 0x507a, 0x0, 0x2f809, 0x5099, 0x0, 0x2f80a, 0x50e7, 0x0,
    0x2f80b, 0x50cf, 0x0, 0x2f80c, 0x349e, 0x0, 0x2f80d, 0x2063a, 0x0, 0x2f80e,
    0x514d, 0x0, 0x2f80f, 0x5154, 0x0, 0x2f810, 0x5164, 0x0, 0x2f811, 0x5177,
    0x0, 0x2f812, 0x2051c, 0x0, 0x2f813, 0x34b9, 0x0, 0x2f814, 0x5167, 0x0,
    0x2f815, 0x518d, 0x0, 0x2f816, 0x2054b, 0x0, 0x2f817, 0x5197, 0x0, 0x2f818,
    0x51a4, 0x0, 0x2f819, 0x4ecc, 0x0, 0x2f81a, 0x51ac, 0x0, 0x2f81b, 0x51b5,
    0x0, 0x2f81c, 0x291df, 0x0, 0x2f81d, 0x51f5, 0x0, 0x2f81e, 0x5203, 0x0,
    0x2f81f, 0x34df, 0x0, 0x2f820, 0x523b, 0x0, 0x2f821, 0x5246, 0x0, 0x2f822,
    0x5272, 0x0, 0x2f823, 0x5277, 0x0, 0x2f824, 0x3515, 0x0, 0x2f825, 0x52c7,
    0x0, 0x2f826, 0x52c9, 0x0, 0x2f827, 0x52e4, 0x0, 0x2f828, 0x52fa, 0x0,
    0x2f829, 0x5305, 0x0, 0x2f82a, 0x5306, 0x0, 0x2f82b, 0x5317, 0x0, 0x2f82c,
    0x5349, 0x0, 0x2f82d, 0x5351, 0x0, 0x2f82e, 0x535a, 0x0, 0x2f82f, 0x5373,
    0x0, 0x2f830, 0x537d, 0x0, 0x2f831, 0x537f, 0x0, 0x2f832, 0x537f, 0x0,
    0x2f833, 0x537f, 0x0, 0x2f834, 0x20a2c, 0x0, 0x2f835, 0x7070, 0x0, 0x2f836,
    0x53ca, 0x0, 0x2f837, 0x53df, 0x0, 0x2f838, 0x20b63, 0x0, 0x2f839, 0x53eb,
    0x0, 0x2f83a, 0x53f1, 0x0, 0x2f83b, 0x5406, 0x0, 0x2f83c, 0x549e, 0x0,
    0x2f83d, 0x5438, 0x0, 0x2f83e, 0x5448, 0x0, 0x2f83f, 0x5468, 0x0, 0x2f840,
    0x54a2, 0x0, 0x2f841, 0x54f6, 0x0, 0x2f842, 0x5510, 0x0, 0x2f843, 0x5553,
    0x0, 0x2f844, 0x5563, 0x0, 0x2f845, 0x5584, 0x0, 0x2f846, 0x5584, 0x0,
    0x2f847, 0x5599, 0x0, 0x2f848, 0x55ab, 0x0, 0x2f849, 0x55b3, 0x0, 0x2f84a,
    0x55c2, 0x0, 0x2f84b, 0x5716, 0x0, 0x2f84c, 0x5606, 0x0, 0x2f84d, 0x5717,
    0x0, 0x2f84e, 0x5651, 0x0, 0x2f84f, 0x5674, 0x0, 0x2f850, 0x5207, 0x0,
    0x2f851, 0x58ee, 0x0, 0x2f852, 0x57ce, 0x0, 0x2f853, 0x57f4, 0x0, 0x2f854,
    0x580d, 0x0, 0x2f855, 0x578b, 0x0, 0x2f856, 0x5832, 0x0, 0x2f857, 0x5831,
    0x0, 0x2f858, 0x58ac, 0x0, 0x2f859, 0x214e4, 0x0, 0x2f85a, 0x58f2, 0x0,
    0x2f85b, 0x58f7, 0x0, 0x2f85c, 0x5906, 0x0, 0x2f85d, 0x591a, 0x0, 0x2f85e,
    0x5922, 0x0, 0x2f85f, 0x5962, 0x0, 0x2f860, 0x216a8, 0x0, 0x2f861, 0x216ea,
    0x0, 0x2f862, 0x59ec, 0x0, 0x2f863, 0x5a1b, 0x0, 0x2f864, 0x5a27, 0x0,
    0x2f865, 0x59d8, 0x0, 0x2f866, 0x5a66, 0x0, 0x2f867, 0x36ee, 0x0, 0x2f868,
    0x36fc, 0x0, 0x2f869, 0x5b08, 0x0, 0x2f86a, 0x5b3e, 0x0, 0x2f86b, 0x5b3e,
    0x0, 0x2f86c, 0x219c8, 0x0, 0x2f86d, 0x5bc3, 0x0, 0x2f86e, 0x5bd8, 0x0,
    0x2f86f, 0x5be7, 0x0, 0x2f870, 0x5bf3, 0x0, 0x2f871, 0x21b18, 0x0, 0x2f872,
    0x5bff, 0x0, 0x2f873, 0x5c06, 0x0, 0x2f874, 0x5f53, 0x0, 0x2f875, 0x5c22,
    0x0, 0x2f876, 0x3781, 0x0, 0x2f877, 0x5c60, 0x0, 0x2f878, 0x5c6e, 0x0,
    0x2f879, 0x5cc0, 0x0, 0x2f87a, 0x5c8d, 0x0, 0x2f87b, 0x21de4, 0x0, 0x2f87c,
    0x5d43, 0x0, 0x2f87d, 0x21de6, 0x0, 0x2f87e, 0x5d6e, 0x0, 0x2f87f, 0x5d6b,
    0x0, 0x2f880, 0x5d7c, 0x0, 0x2f881, 0x5de1, 0x0, 0x2f882, 0x5de2, 0x0,
    0x2f883, 0x382f, 0x0, 0x2f884, 0x5dfd, 0x0, 0x2f885, 0x5e28, 0x0, 0x2f886,
    0x5e3d, 0x0, 0x2f887, 0x5e69, 0x0, 0x2f888, 0x3862, 0x0, 0x2f889, 0x22183,
    0x0, 0x2f88a, 0x387c, 0x0, 0x2f88b, 0x5eb0, 0x0, 0x2f88c, 0x5eb3, 0x0,
    0x2f88d, 0x5eb6, 0x0, 0x2f88e, 0x5eca, 0x0, 0x2f88f, 0x2a392, 0x0, 0x2f890,
    0x5efe, 0x0, 0x2f891, 0x22331, 0x0, 0x2f892, 0x22331, 0x0, 0x2f893, 0x8201,
    0x0, 0x2f894, 0x5f22, 0x0, 0x2f895, 0x5f22, 0x0, 0x2f896, 0x38c7, 0x0,
    0x2f897, 0x232b8, 0x0, 0x2f898, 0x261da, 0x0, 0x2f899, 0x5f62, 0x0, 0x2f89a,
    0x5f6b, 0x0, 0x2f89b, 0x38e3, 0x0, 0x2f89c, 0x5f9a, 0x0, 0x2f89d, 0x5fcd,
    0x0, 0x2f89e, 0x5fd7, 0x0, 0x2f89f, 0x5ff9, 0x0, 0x2f8a0, 0x6081, 0x0,
    0x2f8a1, 0x393a, 0x0, 0x2f8a2, 0x391c, 0x0, 0x2f8a3, 0x6094, 0x0, 0x2f8a4,
    0x226d4, 0x0, 0x2f8a5, 0x60c7, 0x0, 0x2f8a6, 0x6148, 0x0, 0x2f8a7, 0x614c,
    0x0, 0x2f8a8, 0x614e, 0x0, 0x2f8a9, 0x614c, 0x0, 0x2f8aa, 0x617a, 0x0,
    0x2f8ab, 0x618e, 0x0, 0x2f8ac, 0x61b2, 0x0, 0x2f8ad, 0x61a4, 0x0, 0x2f8ae,
    0x61af, 0x0, 0x2f8af, 0x61de, 0x0, 0x2f8b0, 0x61f2, 0x0, 0x2f8b1, 0x61f6,
    0x0, 0x2f8b2, 0x6210, 0x0, 0x2f8b3, 0x621b, 0x0, 0x2f8b4, 0x625d, 0x0,
    0x2f8b5, 0x62b1, 0x0, 0x2f8b6, 0x62d4, 0x0, 0x2f8b7, 0x6350, 0x0, 0x2f8b8,
    0x22b0c, 0x0, 0x2f8b9, 0x633d, 0x0, 0x2f8ba, 0x62fc, 0x0, 0x2f8bb, 0x6368,
    0x0, 0x2f8bc, 0x6383, 0x0, 0x2f8bd, 0x63e4, 0x0, 0x2f8be, 0x22bf1, 0x0,
    0x2f8bf, 0x6422, 0x0, 0x2f8c0, 0x63c5, 0x0, 0x2f8c1, 0x63a9, 0x0, 0x2f8c2,
    0x3a2e, 0x0, 0x2f8c3, 0x6469, 0x0, 0x2f8c4, 0x647e, 0x0, 0x2f8c5, 0x649d,
    0x0, 0x2f8c6, 0x6477, 0x0, 0x2f8c7, 0x3a6c, 0x0, 0x2f8c8, 0x654f, 0x0,
    0x2f8c9, 0x656c, 0x0, 0x2f8ca, 0x2300a, 0x0, 0x2f8cb, 0x65e3, 0x0, 0x2f8cc,
    0x66f8, 0x0, 0x2f8cd, 0x6649, 0x0, 0x2f8ce, 0x3b19, 0x0, 0x2f8cf, 0x6691,
    0x0, 0x2f8d0, 0x3b08, 0x0, 0x2f8d1, 0x3ae4, 0x0, 0x2f8d2, 0x5192, 0x0,
    0x2f8d3, 0x5195, 0x0, 0x2f8d4, 0x6700, 0x0, 0x2f8d5, 0x669c, 0x0, 0x2f8d6,
    0x80ad, 0x0, 0x2f8d7, 0x43d9, 0x0, 0x2f8d8, 0x6717, 0x0, 0x2f8d9, 0x671b,
    0x0, 0x2f8da, 0x6721, 0x0, 0x2f8db, 0x675e, 0x0, 0x2f8dc, 0x6753, 0x0,
    0x2f8dd, 0x233c3, 0x0, 0x2f8de, 0x3b49, 0x0, 0x2f8df, 0x67fa, 0x0, 0x2f8e0,
    0x6785, 0x0, 0x2f8e1, 0x6852, 0x0, 0x2f8e2, 0x6885, 0x0, 0x2f8e3, 0x2346d,
    0x0, 0x2f8e4, 0x688e, 0x0, 0x2f8e5, 0x681f, 0x0, 0x2f8e6, 0x6914, 0x0,
    0x2f8e7, 0x3b9d, 0x0, 0x2f8e8, 0x6942, 0x0, 0x2f8e9, 0x69a3, 0x0, 0x2f8ea,
    0x69ea, 0x0, 0x2f8eb, 0x6aa8, 0x0, 0x2f8ec, 0x236a3, 0x0, 0x2f8ed, 0x6adb,
    0x0, 0x2f8ee, 0x3c18, 0x0, 0x2f8ef, 0x6b21, 0x0, 0x2f8f0, 0x238a7, 0x0,
    0x2f8f1, 0x6b54, 0x0, 0x2f8f2, 0x3c4e, 0x0, 0x2f8f3, 0x6b72, 0x0, 0x2f8f4,
    0x6b9f, 0x0, 0x2f8f5, 0x6bba, 0x0, 0x2f8f6, 0x6bbb, 0x0, 0x2f8f7, 0x23a8d,
    0x0, 0x2f8f8, 0x21d0b, 0x0, 0x2f8f9, 0x23afa, 0x0, 0x2f8fa, 0x6c4e, 0x0,
    0x2f8fb, 0x23cbc, 0x0, 0x2f8fc, 0x6cbf, 0x0, 0x2f8fd, 0x6ccd, 0x0, 0x2f8fe,
    0x6c67, 0x0, 0x2f8ff, 0x6d16, 0x0, 0x2f900, 0x6d3e, 0x0, 0x2f901, 0x6d77,
    0x0, 0x2f902, 0x6d41, 0x0, 0x2f903, 0x6d69, 0x0, 0x2f904, 0x6d78, 0x0,
    0x2f905, 0x6d85, 0x0, 0x2f906, 0x23d1e, 0x0, 0x2f907, 0x6d34, 0x0, 0x2f908,
    0x6e2f, 0x0, 0x2f909, 0x6e6e, 0x0, 0x2f90a, 0x3d33, 0x0, 0x2f90b, 0x6ecb,
    0x0, 0x2f90c, 0x6ec7, 0x0, 0x2f90d, 0x23ed1, 0x0, 0x2f90e, 0x6df9, 0x0,
    0x2f90f, 0x6f6e, 0x0, 0x2f910, 0x23f5e, 0x0, 0x2f911, 0x23f8e, 0x0, 0x2f912,
    0x6fc6, 0x0, 0x2f913, 0x7039, 0x0, 0x2f914, 0x701e, 0x0, 0x2f915, 0x701b,
    0x0, 0x2f916, 0x3d96, 0x0, 0x2f917, 0x704a, 0x0, 0x2f918, 0x707d, 0x0,
    0x2f919, 0x7077, 0x0, 0x2f91a, 0x70ad, 0x0, 0x2f91b, 0x20525, 0x0, 0x2f91c,
    0x7145, 0x0, 0x2f91d, 0x24263, 0x0, 0x2f91e, 0x719c, 0x0, 0x2f91f, 0x243ab,
    0x0, 0x2f920, 0x7228, 0x0, 0x2f921, 0x7235, 0x0, 0x2f922, 0x7250, 0x0,
    0x2f923, 0x24608, 0x0, 0x2f924, 0x7280, 0x0, 0x2f925, 0x7295, 0x0, 0x2f926,
    0x24735, 0x0, 0x2f927, 0x24814, 0x0, 0x2f928, 0x737a, 0x0, 0x2f929, 0x738b,
    0x0, 0x2f92a, 0x3eac, 0x0, 0x2f92b, 0x73a5, 0x0, 0x2f92c, 0x3eb8, 0x0,
    0x2f92d, 0x3eb8, 0x0, 0x2f92e, 0x7447, 0x0, 0x2f92f, 0x745c, 0x0, 0x2f930,
    0x7471, 0x0, 0x2f931, 0x7485, 0x0, 0x2f932, 0x74ca, 0x0, 0x2f933, 0x3f1b,
    0x0, 0x2f934, 0x7524, 0x0, 0x2f935, 0x24c36, 0x0, 0x2f936, 0x753e, 0x0,
    0x2f937, 0x24c92, 0x0, 0x2f938, 0x7570, 0x0, 0x2f939, 0x2219f, 0x0, 0x2f93a,
    0x7610, 0x0, 0x2f93b, 0x24fa1, 0x0, 0x2f93c, 0x24fb8, 0x0, 0x2f93d, 0x25044,
    0x0, 0x2f93e, 0x3ffc, 0x0, 0x2f93f, 0x4008, 0x0, 0x2f940, 0x76f4, 0x0,
    0x2f941, 0x250f3, 0x0, 0x2f942, 0x250f2, 0x0, 0x2f943, 0x25119, 0x0, 0x2f944,
    0x25133, 0x0, 0x2f945, 0x771e, 0x0, 0x2f946, 0x771f, 0x0, 0x2f947, 0x771f,
    0x0, 0x2f948, 0x774a, 0x0, 0x2f949, 0x4039, 0x0, 0x2f94a, 0x778b, 0x0,
    0x2f94b, 0x4046, 0x0, 0x2f94c, 0x4096, 0x0, 0x2f94d, 0x2541d, 0x0, 0x2f94e,
    0x784e, 0x0, 0x2f94f, 0x788c, 0x0, 0x2f950, 0x78cc, 0x0, 0x2f951, 0x40e3,
    0x0, 0x2f952, 0x25626, 0x0, 0x2f953, 0x7956, 0x0, 0x2f954, 0x2569a, 0x0,
    0x2f955, 0x256c5, 0x0, 0x2f956, 0x798f, 0x0, 0x2f957, 0x79eb, 0x0, 0x2f958,
    0x412f, 0x0, 0x2f959, 0x7a40, 0x0, 0x2f95a, 0x7a4a, 0x0, 0x2f95b, 0x7a4f,
    0x0, 0x2f95c, 0x2597c, 0x0, 0x2f95d, 0x25aa7, 0x0, 0x2f95e, 0x25aa7, 0x0,
    0x2f95f, 0x7aee, 0x0, 0x2f960, 0x4202, 0x0, 0x2f961, 0x25bab, 0x0, 0x2f962,
    0x7bc6, 0x0, 0x2f963, 0x7bc9, 0x0, 0x2f964, 0x4227, 0x0, 0x2f965, 0x25c80,
    0x0, 0x2f966, 0x7cd2, 0x0, 0x2f967, 0x42a0, 0x0, 0x2f968, 0x7ce8, 0x0,
    0x2f969, 0x7ce3, 0x0, 0x2f96a, 0x7d00, 0x0, 0x2f96b, 0x25f86, 0x0, 0x2f96c,
    0x7d63, 0x0, 0x2f96d, 0x4301, 0x0, 0x2f96e, 0x7dc7, 0x0, 0x2f96f, 0x7e02,
    0x0, 0x2f970, 0x7e45, 0x0, 0x2f971, 0x4334, 0x0, 0x2f972, 0x26228, 0x0,
    0x2f973, 0x26247, 0x0, 0x2f974, 0x4359, 0x0, 0x2f975, 0x262d9, 0x0, 0x2f976,
    0x7f7a, 0x0, 0x2f977, 0x2633e, 0x0, 0x2f978, 0x7f95, 0x0, 0x2f979, 0x7ffa,
    0x0, 0x2f97a, 0x8005, 0x0, 0x2f97b, 0x264da, 0x0, 0x2f97c, 0x26523, 0x0,
    0x2f97d, 0x8060, 0x0, 0x2f97e, 0x265a8, 0x0, 0x2f97f, 0x8070, 0x0, 0x2f980,
    0x2335f, 0x0, 0x2f981, 0x43d5, 0x0, 0x2f982, 0x80b2, 0x0, 0x2f983, 0x8103,
    0x0, 0x2f984, 0x440b, 0x0, 0x2f985, 0x813e, 0x0, 0x2f986, 0x5ab5, 0x0,
    0x2f987, 0x267a7, 0x0, 0x2f988, 0x267b5, 0x0, 0x2f989, 0x23393, 0x0, 0x2f98a,
    0x2339c, 0x0, 0x2f98b, 0x8201, 0x0, 0x2f98c, 0x8204, 0x0, 0x2f98d, 0x8f9e,
    0x0, 0x2f98e, 0x446b, 0x0, 0x2f98f, 0x8291, 0x0, 0x2f990, 0x828b, 0x0,
    0x2f991, 0x829d, 0x0, 0x2f992, 0x52b3, 0x0, 0x2f993, 0x82b1, 0x0, 0x2f994,
    0x82b3, 0x0, 0x2f995, 0x82bd, 0x0, 0x2f996, 0x82e6, 0x0, 0x2f997, 0x26b3c,
    0x0, 0x2f998, 0x82e5, 0x0, 0x2f999, 0x831d, 0x0, 0x2f99a, 0x8363, 0x0,
    0x2f99b, 0x83ad, 0x0, 0x2f99c, 0x8323, 0x0, 0x2f99d, 0x83bd, 0x0, 0x2f99e,
    0x83e7, 0x0, 0x2f99f, 0x8457, 0x0, 0x2f9a0, 0x8353, 0x0, 0x2f9a1, 0x83ca,
    0x0, 0x2f9a2, 0x83cc, 0x0, 0x2f9a3, 0x83dc, 0x0, 0x2f9a4, 0x26c36, 0x0,
    0x2f9a5, 0x26d6b, 0x0, 0x2f9a6, 0x26cd5, 0x0, 0x2f9a7, 0x452b, 0x0, 0x2f9a8,
    0x84f1, 0x0, 0x2f9a9, 0x84f3, 0x0, 0x2f9aa, 0x8516, 0x0, 0x2f9ab, 0x273ca,
    0x0, 0x2f9ac, 0x8564, 0x0, 0x2f9ad, 0x26f2c, 0x0, 0x2f9ae, 0x455d, 0x0,
    0x2f9af, 0x4561, 0x0, 0x2f9b0, 0x26fb1, 0x0, 0x2f9b1, 0x270d2, 0x0, 0x2f9b2,
    0x456b, 0x0, 0x2f9b3, 0x8650, 0x0, 0x2f9b4, 0x865c, 0x0, 0x2f9b5, 0x8667,
    0x0, 0x2f9b6, 0x8669, 0x0, 0x2f9b7, 0x86a9, 0x0, 0x2f9b8, 0x8688, 0x0,
    0x2f9b9, 0x870e, 0x0, 0x2f9ba, 0x86e2, 0x0, 0x2f9bb, 0x8779, 0x0, 0x2f9bc,
    0x8728, 0x0, 0x2f9bd, 0x876b, 0x0, 0x2f9be, 0x8786, 0x0, 0x2f9bf, 0x45d7,
    0x0, 0x2f9c0, 0x87e1, 0x0, 0x2f9c1, 0x8801, 0x0, 0x2f9c2, 0x45f9, 0x0,
    0x2f9c3, 0x8860, 0x0, 0x2f9c4, 0x8863, 0x0, 0x2f9c5, 0x27667, 0x0, 0x2f9c6,
    0x88d7, 0x0, 0x2f9c7, 0x88de, 0x0, 0x2f9c8, 0x4635, 0x0, 0x2f9c9, 0x88fa,
    0x0, 0x2f9ca, 0x34bb, 0x0, 0x2f9cb, 0x278ae, 0x0, 0x2f9cc, 0x27966, 0x0,
    0x2f9cd, 0x46be, 0x0, 0x2f9ce, 0x46c7, 0x0, 0x2f9cf, 0x8aa0, 0x0, 0x2f9d0,
    0x8aed, 0x0, 0x2f9d1, 0x8b8a, 0x0, 0x2f9d2, 0x8c55, 0x0, 0x2f9d3, 0x27ca8,
    0x0, 0x2f9d4, 0x8cab, 0x0, 0x2f9d5, 0x8cc1, 0x0, 0x2f9d6, 0x8d1b, 0x0,
    0x2f9d7, 0x8d77, 0x0, 0x2f9d8, 0x27f2f, 0x0, 0x2f9d9, 0x20804, 0x0, 0x2f9da,
    0x8dcb, 0x0, 0x2f9db, 0x8dbc, 0x0, 0x2f9dc, 0x8df0, 0x0, 0x2f9dd, 0x208de,
    0x0, 0x2f9de, 0x8ed4, 0x0, 0x2f9df, 0x8f38, 0x0, 0x2f9e0, 0x285d2, 0x0,
    0x2f9e1, 0x285ed, 0x0, 0x2f9e2, 0x9094, 0x0, 0x2f9e3, 0x90f1, 0x0, 0x2f9e4,
    0x9111, 0x0, 0x2f9e5, 0x2872e, 0x0, 0x2f9e6, 0x911b, 0x0, 0x2f9e7, 0x9238,
    0x0, 0x2f9e8, 0x92d7, 0x0, 0x2f9e9, 0x92d8, 0x0, 0x2f9ea, 0x927c, 0x0,
    0x2f9eb, 0x93f9, 0x0, 0x2f9ec, 0x9415, 0x0, 0x2f9ed, 0x28bfa, 0x0, 0x2f9ee,
    0x958b, 0x0, 0x2f9ef, 0x4995, 0x0, 0x2f9f0, 0x95b7, 0x0, 0x2f9f1, 0x28d77,
    0x0, 0x2f9f2, 0x49e6, 0x0, 0x2f9f3, 0x96c3, 0x0, 0x2f9f4, 0x5db2, 0x0,
    0x2f9f5, 0x9723, 0x0, 0x2f9f6, 0x29145, 0x0, 0x2f9f7, 0x2921a, 0x0, 0x2f9f8,
    0x4a6e, 0x0, 0x2f9f9, 0x4a76, 0x0, 0x2f9fa, 0x97e0, 0x0, 0x2f9fb, 0x2940a,
    0x0, 0x2f9fc, 0x4ab2, 0x0, 0x2f9fd, 0x29496, 0x0, 0x2f9fe, 0x980b, 0x0,
    0x2f9ff, 0x980b, 0x0, 0x2fa00, 0x9829, 0x0, 0x2fa01, 0x295b6, 0x0, 0x2fa02,
    0x98e2, 0x0, 0x2fa03, 0x4b33, 0x0, 0x2fa04, 0x9929, 0x0, 0x2fa05, 0x99a7,
    0x0, 0x2fa06, 0x99c2, 0x0, 0x2fa07, 0x99fe, 0x0, 0x2fa08, 0x4bce, 0x0,
    0x2fa09, 0x29b30, 0x0, 0x2fa0a, 0x9b12, 0x0, 0x2fa0b, 0x9c40, 0x0, 0x2fa0c,
    0x9cfd, 0x0, 0x2fa0d, 0x4cce, 0x0, 0x2fa0e, 0x4ced, 0x0, 0x2fa0f, 0x9d67,
    0x0, 0x2fa10, 0x2a0ce, 0x0, 0x2fa11, 0x4cf8, 0x0, 0x2fa12, 0x2a105, 0x0,
    0x2fa13, 0x2a20e, 0x0, 0x2fa14, 0x2a291, 0x0, 0x2fa15, 0x9ebb, 0x0, 0x2fa16,
    0x4d56, 0x0, 0x2fa17, 0x9ef9, 0x0, 0x2fa18, 0x9efe, 0x0, 0x2fa19, 0x9f05,
    0x0, 0x2fa1a, 0x9f0f, 0x0, 0x2fa1b, 0x9f16, 0x0, 0x2fa1c, 0x9f3b, 0x0,
    0x2fa1d, 0x2a600, 0x0,
};
static const uint32_t it__uc_comp[] = {
    0x3c, 0x338, 0x226e, 0x3d, 0x338, 0x2260, 0x3e, 0x338, 0x226f, 0x41,
    0x300, 0xc0, 0x41, 0x301, 0xc1, 0x41, 0x302, 0xc2, 0x41, 0x303,
    0xc3, 0x41, 0x304, 0x100, 0x41, 0x306, 0x102, 0x41, 0x307, 0x226,
    0x41, 0x308, 0xc4, 0x41, 0x309, 0x1ea2, 0x41, 0x30a, 0xc5, 0x41,
    0x30c, 0x1cd, 0x41, 0x30f, 0x200, 0x41, 0x311, 0x202, 0x41, 0x323,
    0x1ea0, 0x41, 0x325, 0x1e00, 0x41, 0x328, 0x104, 0x42, 0x307, 0x1e02,
    0x42, 0x323, 0x1e04, 0x42, 0x331, 0x1e06, 0x43, 0x301, 0x106, 0x43,
    0x302, 0x108, 0x43, 0x307, 0x10a, 0x43, 0x30c, 0x10c, 0x43, 0x327,
    0xc7, 0x44, 0x307, 0x1e0a, 0x44, 0x30c, 0x10e, 0x44, 0x323, 0x1e0c,
    0x44, 0x327, 0x1e10, 0x44, 0x32d, 0x1e12, 0x44, 0x331, 0x1e0e, 0x45,
    0x300, 0xc8, 0x45, 0x301, 0xc9, 0x45, 0x302, 0xca, 0x45, 0x303,
    0x1ebc, 0x45, 0x304, 0x112, 0x45, 0x306, 0x114, 0x45, 0x307, 0x116,
    0x45, 0x308, 0xcb, 0x45, 0x309, 0x1eba, 0x45, 0x30c, 0x11a, 0x45,
    0x30f, 0x204, 0x45, 0x311, 0x206, 0x45, 0x323, 0x1eb8, 0x45, 0x327,
    0x228, 0x45, 0x328, 0x118, 0x45, 0x32d, 0x1e18, 0x45, 0x330, 0x1e1a,
    0x46, 0x307, 0x1e1e, 0x47, 0x301, 0x1f4, 0x47, 0x302, 0x11c, 0x47,
    0x304, 0x1e20, 0x47, 0x306, 0x11e, 0x47, 0x307, 0x120, 0x47, 0x30c,
    0x1e6, 0x47, 0x327, 0x122, 0x48, 0x302, 0x124, 0x48, 0x307, 0x1e22,
    0x48, 0x308, 0x1e26, 0x48, 0x30c, 0x21e, 0x48, 0x323, 0x1e24, 0x48,
    0x327, 0x1e28, 0x48, 0x32e, 0x1e2a, 0x49, 0x300, 0xcc, 0x49, 0x301,
    0xcd, 0x49, 0x302, 0xce, 0x49, 0x303, 0x128, 0x49, 0x304, 0x12a,
    0x49, 0x306, 0x12c, 0x49, 0x307, 0x130, 0x49, 0x308, 0xcf, 0x49,
    0x309, 0x1ec8, 0x49, 0x30c, 0x1cf, 0x49, 0x30f, 0x208, 0x49, 0x311,
    0x20a, 0x49, 0x323, 0x1eca, 0x49, 0x328, 0x12e, 0x49, 0x330, 0x1e2c,
    0x4a, 0x302, 0x134, 0x4b, 0x301, 0x1e30, 0x4b, 0x30c, 0x1e8, 0x4b,
    0x323, 0x1e32, 0x4b, 0x327, 0x136, 0x4b, 0x331, 0x1e34, 0x4c, 0x301,
    0x139, 0x4c, 0x30c, 0x13d, 0x4c, 0x323, 0x1e36, 0x4c, 0x327, 0x13b,
    0x4c, 0x32d, 0x1e3c, 0x4c, 0x331, 0x1e3a, 0x4d, 0x301, 0x1e3e, 0x4d,
    0x307, 0x1e40, 0x4d, 0x323, 0x1e42, 0x4e, 0x300, 0x1f8, 0x4e, 0x301,
    0x143, 0x4e, 0x303, 0xd1, 0x4e, 0x307, 0x1e44, 0x4e, 0x30c, 0x147,
    0x4e, 0x323, 0x1e46, 0x4e, 0x327, 0x145, 0x4e, 0x32d, 0x1e4a, 0x4e,
    0x331, 0x1e48, 0x4f, 0x300, 0xd2, 0x4f, 0x301, 0xd3, 0x4f, 0x302,
    0xd4, 0x4f, 0x303, 0xd5, 0x4f, 0x304, 0x14c, 0x4f, 0x306, 0x14e,
    0x4f, 0x307, 0x22e, 0x4f, 0x308, 0xd6, 0x4f, 0x309, 0x1ece, 0x4f,
    0x30b, 0x150, 0x4f, 0x30c, 0x1d1, 0x4f, 0x30f, 0x20c, 0x4f, 0x311,
    0x20e, 0x4f, 0x31b, 0x1a0, 0x4f, 0x323, 0x1ecc, 0x4f, 0x328, 0x1ea,
    0x50, 0x301, 0x1e54, 0x50, 0x307, 0x1e56, 0x52, 0x301, 0x154, 0x52,
    0x307, 0x1e58, 0x52, 0x30c, 0x158, 0x52, 0x30f, 0x210, 0x52, 0x311,
    0x212, 0x52, 0x323, 0x1e5a, 0x52, 0x327, 0x156, 0x52, 0x331, 0x1e5e,
    0x53, 0x301, 0x15a, 0x53, 0x302, 0x15c, 0x53, 0x307, 0x1e60, 0x53,
    0x30c, 0x160, 0x53, 0x323, 0x1e62, 0x53, 0x326, 0x218, 0x53, 0x327,
    0x15e, 0x54, 0x307, 0x1e6a, 0x54, 0x30c, 0x164, 0x54, 0x323, 0x1e6c,
    0x54, 0x326, 0x21a, 0x54, 0x327, 0x162, 0x54, 0x32d, 0x1e70, 0x54,
    0x331, 0x1e6e, 0x55, 0x300, 0xd9, 0x55, 0x301, 0xda, 0x55, 0x302,
    0xdb, 0x55, 0x303, 0x168, 0x55, 0x304, 0x16a, 0x55, 0x306, 0x16c,
    0x55, 0x308, 0xdc, 0x55, 0x309, 0x1ee6, 0x55, 0x30a, 0x16e, 0x55,
    0x30b, 0x170, 0x55, 0x30c, 0x1d3, 0x55, 0x30f, 0x214, 0x55, 0x311,
    0x216, 0x55, 0x31b, 0x1af, 0x55, 0x323, 0x1ee4, 0x55, 0x324, 0x1e72,
    0x55, 0x328, 0x172, 0x55, 0x32d, 0x1e76, 0x55, 0x330, 0x1e74, 0x56,
    0x303, 0x1e7c, 0x56, 0x323, 0x1e7e, 0x57, 0x300, 0x1e80, 0x57, 0x301,
    0x1e82, 0x57, 0x302, 0x174, 0x57, 0x307, 0x1e86, 0x57, 0x308, 0x1e84,
    0x57, 0x323, 0x1e88, 0x58, 0x307, 0x1e8a, 0x58, 0x308, 0x1e8c, 0x59,
    0x300, 0x1ef2, 0x59, 0x301, 0xdd, 0x59, 0x302, 0x176, 0x59, 0x303,
    0x1ef8, 0x59, 0x304, 0x232, 0x59, 0x307, 0x1e8e, 0x59, 0x308, 0x178,
    0x59, 0x309, 0x1ef6, 0x59, 0x323, 0x1ef4, 0x5a, 0x301, 0x179, 0x5a,
    0x302, 0x1e90, 0x5a, 0x307, 0x17b, 0x5a, 0x30c, 0x17d, 0x5a, 0x323,
    0x1e92, 0x5a, 0x331, 0x1e94, 0x61, 0x300, 0xe0, 0x61, 0x301, 0xe1,
    0x61, 0x302, 0xe2, 0x61, 0x303, 0xe3, 0x61, 0x304, 0x101, 0x61,
    0x306, 0x103, 0x61, 0x307, 0x227, 0x61, 0x308, 0xe4, 0x61, 0x309,
    0x1ea3, 0x61, 0x30a, 0xe5, 0x61, 0x30c, 0x1ce, 0x61, 0x30f, 0x201,
    0x61, 0x311, 0x203, 0x61, 0x323, 0x1ea1, 0x61, 0x325, 0x1e01, 0x61,
    0x328, 0x105, 0x62, 0x307, 0x1e03, 0x62, 0x323, 0x1e05, 0x62, 0x331,
    0x1e07, 0x63, 0x301, 0x107, 0x63, 0x302, 0x109, 0x63, 0x307, 0x10b,
    0x63, 0x30c, 0x10d, 0x63, 0x327, 0xe7, 0x64, 0x307, 0x1e0b, 0x64,
    0x30c, 0x10f, 0x64, 0x323, 0x1e0d, 0x64, 0x327, 0x1e11, 0x64, 0x32d,
    0x1e13, 0x64, 0x331, 0x1e0f, 0x65, 0x300, 0xe8, 0x65, 0x301, 0xe9,
    0x65, 0x302, 0xea, 0x65, 0x303, 0x1ebd, 0x65, 0x304, 0x113, 0x65,
    0x306, 0x115, 0x65, 0x307, 0x117, 0x65, 0x308, 0xeb, 0x65, 0x309,
    0x1ebb, 0x65, 0x30c, 0x11b, 0x65, 0x30f, 0x205, 0x65, 0x311, 0x207,
    0x65, 0x323, 0x1eb9, 0x65, 0x327, 0x229, 0x65, 0x328, 0x119, 0x65,
    0x32d, 0x1e19, 0x65, 0x330, 0x1e1b, 0x66, 0x307, 0x1e1f, 0x67, 0x301,
    0x1f5, 0x67, 0x302, 0x11d, 0x67, 0x304, 0x1e21, 0x67, 0x306, 0x11f,
    0x67, 0x307, 0x121, 0x67, 0x30c, 0x1e7, 0x67, 0x327, 0x123, 0x68,
    0x302, 0x125, 0x68, 0x307, 0x1e23, 0x68, 0x308, 0x1e27, 0x68, 0x30c,
    0x21f, 0x68, 0x323, 0x1e25, 0x68, 0x327, 0x1e29, 0x68, 0x32e, 0x1e2b,
    0x68, 0x331, 0x1e96, 0x69, 0x300, 0xec, 0x69, 0x301, 0xed, 0x69,
    0x302, 0xee, 0x69, 0x303, 0x129, 0x69, 0x304, 0x12b, 0x69, 0x306,
    0x12d, 0x69, 0x308, 0xef, 0x69, 0x309, 0x1ec9, 0x69, 0x30c, 0x1d0,
    0x69, 0x30f, 0x209, 0x69, 0x311, 0x20b, 0x69, 0x323, 0x1ecb, 0x69,
    0x328, 0x12f, 0x69, 0x330, 0x1e2d, 0x6a, 0x302, 0x135, 0x6a, 0x30c,
    0x1f0, 0x6b, 0x301, 0x1e31, 0x6b, 0x30c, 0x1e9, 0x6b, 0x323, 0x1e33,
    0x6b, 0x327, 0x137, 0x6b, 0x331, 0x1e35, 0x6c, 0x301, 0x13a, 0x6c,
    0x30c, 0x13e, 0x6c, 0x323, 0x1e37, 0x6c, 0x327, 0x13c, 0x6c, 0x32d,
    0x1e3d, 0x6c, 0x331, 0x1e3b, 0x6d, 0x301, 0x1e3f, 0x6d, 0x307, 0x1e41,
    0x6d, 0x323, 0x1e43, 0x6e, 0x300, 0x1f9, 0x6e, 0x301, 0x144, 0x6e,
    0x303, 0xf1, 0x6e, 0x307, 0x1e45, 0x6e, 0x30c, 0x148, 0x6e, 0x323,
    0x1e47, 0x6e, 0x327, 0x146, 0x6e, 0x32d, 0x1e4b, 0x6e, 0x331, 0x1e49,
    0x6f, 0x300, 0xf2, 0x6f, 0x301, 0xf3, 0x6f, 0x302, 0xf4, 0x6f,
    0x303, 0xf5, 0x6f, 0x304, 0x14d, 0x6f, 0x306, 0x14f, 0x6f, 0x307,
    0x22f, 0x6f, 0x308, 0xf6, 0x6f, 0x309, 0x1ecf, 0x6f, 0x30b, 0x151,
    0x6f, 0x30c, 0x1d2, 0x6f, 0x30f, 0x20d, 0x6f, 0x311, 0x20f, 0x6f,
    0x31b, 0x1a1, 0x6f, 0x323, 0x1ecd, 0x6f, 0x328, 0x1eb, 0x70, 0x301,
    0x1e55, 0x70, 0x307, 0x1e57, 0x72, 0x301, 0x155, 0x72, 0x307, 0x1e59,
    0x72, 0x30c, 0x159, 0x72, 0x30f, 0x211, 0x72, 0x311, 0x213, 0x72,
    0x323, 0x1e5b, 0x72, 0x327, 0x157, 0x72, 0x331, 0x1e5f, 0x73, 0x301,
    0x15b, 0x73, 0x302, 0x15d, 0x73, 0x307, 0x1e61, 0x73, 0x30c, 0x161,
    0x73, 0x323, 0x1e63, 0x73, 0x326, 0x219, 0x73, 0x327, 0x15f, 0x74,
    0x307, 0x1e6b, 0x74, 0x308, 0x1e97, 0x74, 0x30c, 0x165, 0x74, 0x323,
    0x1e6d, 0x74, 0x326, 0x21b, 0x74, 0x327, 0x163, 0x74, 0x32d, 0x1e71,
    0x74, 0x331, 0x1e6f, 0x75, 0x300, 0xf9, 0x75, 0x301, 0xfa, 0x75,
    0x302, 0xfb, 0x75, 0x303, 0x169, 0x75, 0x304, 0x16b, 0x75, 0x306,
    0x16d, 0x75, 0x308, 0xfc, 0x75, 0x309, 0x1ee7, 0x75, 0x30a, 0x16f,
    0x75, 0x30b, 0x171, 0x75, 0x30c, 0x1d4, 0x75, 0x30f, 0x215, 0x75,
    0x311, 0x217, 0x75, 0x31b, 0x1b0, 0x75, 0x323, 0x1ee5, 0x75, 0x324,
    0x1e73, 0x75, 0x328, 0x173, 0x75, 0x32d, 0x1e77, 0x75, 0x330, 0x1e75,
    0x76, 0x303, 0x1e7d, 0x76, 0x323, 0x1e7f, 0x77, 0x300, 0x1e81, 0x77,
    0x301, 0x1e83, 0x77, 0x302, 0x175, 0x77, 0x307, 0x1e87, 0x77, 0x308,
    0x1e85, 0x77, 0x30a, 0x1e98, 0x77, 0x323, 0x1e89, 0x78, 0x307, 0x1e8b,
    0x78, 0x308, 0x1e8d, 0x79, 0x300, 0x1ef3, 0x79, 0x301, 0xfd, 0x79,
    0x302, 0x177, 0x79, 0x303, 0x1ef9, 0x79, 0x304, 0x233, 0x79, 0x307,
    0x1e8f, 0x79, 0x308, 0xff, 0x79, 0x309, 0x1ef7, 0x79, 0x30a, 0x1e99,
    0x79, 0x323, 0x1ef5, 0x7a, 0x301, 0x17a, 0x7a, 0x302, 0x1e91, 0x7a,
    0x307, 0x17c, 0x7a, 0x30c, 0x17e, 0x7a, 0x323, 0x1e93, 0x7a, 0x331,
    0x1e95, 0xa8, 0x300, 0x1fed, 0xa8, 0x301, 0x385, 0xa8, 0x342, 0x1fc1,
    0xc2, 0x300, 0x1ea6, 0xc2, 0x301, 0x1ea4, 0xc2, 0x303, 0x1eaa, 0xc2,
    0x309, 0x1ea8, 0xc4, 0x304, 0x1de, 0xc5, 0x301, 0x1fa, 0xc6, 0x301,
    0x1fc, 0xc6, 0x304, 0x1e2, 0xc7, 0x301, 0x1e08, 0xca, 0x300, 0x1ec0,
    0xca, 0x301, 0x1ebe, 0xca, 0x303, 0x1ec4, 0xca, 0x309, 0x1ec2, 0xcf,
    0x301, 0x1e2e, 0xd4, 0x300, 0x1ed2, 0xd4, 0x301, 0x1ed0, 0xd4, 0x303,
    0x1ed6, 0xd4, 0x309, 0x1ed4, 0xd5, 0x301, 0x1e4c, 0xd5, 0x304, 0x22c,
    0xd5, 0x308, 0x1e4e, 0xd6, 0x304, 0x22a, 0xd8, 0x301, 0x1fe, 0xdc,
    0x300, 0x1db, 0xdc, 0x301, 0x1d7, 0xdc, 0x304, 0x1d5, 0xdc, 0x30c,
    0x1d9, 0xe2, 0x300, 0x1ea7, 0xe2, 0x301, 0x1ea5, 0xe2, 0x303, 0x1eab,
    0xe2, 0x309, 0x1ea9, 0xe4, 0x304, 0x1df, 0xe5, 0x301, 0x1fb, 0xe6,
    0x301, 0x1fd, 0xe6, 0x304, 0x1e3, 0xe7, 0x301, 0x1e09, 0xea, 0x300,
    0x1ec1, 0xea, 0x301, 0x1ebf, 0xea, 0x303, 0x1ec5, 0xea, 0x309, 0x1ec3,
    0xef, 0x301, 0x1e2f, 0xf4, 0x300, 0x1ed3, 0xf4, 0x301, 0x1ed1, 0xf4,
    0x303, 0x1ed7, 0xf4, 0x309, 0x1ed5, 0xf5, 0x301, 0x1e4d, 0xf5, 0x304,
    0x22d, 0xf5, 0x308, 0x1e4f, 0xf6, 0x304, 0x22b, 0xf8, 0x301, 0x1ff,
    0xfc, 0x300, 0x1dc, 0xfc, 0x301, 0x1d8, 0xfc, 0x304, 0x1d6, 0xfc,
    0x30c, 0x1da, 0x102, 0x300, 0x1eb0, 0x102, 0x301, 0x1eae, 0x102, 0x303,
    0x1eb4, 0x102, 0x309, 0x1eb2, 0x103, 0x300, 0x1eb1, 0x103, 0x301, 0x1eaf,
    0x103, 0x303, 0x1eb5, 0x103, 0x309, 0x1eb3, 0x112, 0x300, 0x1e14, 0x112,
    0x301, 0x1e16, 0x113, 0x300, 0x1e15, 0x113, 0x301, 0x1e17, 0x14c, 0x300,
    0x1e50, 0x14c, 0x301, 0x1e52, 0x14d, 0x300, 0x1e51, 0x14d, 0x301, 0x1e53,
    0x15a, 0x307, 0x1e64, 0x15b, 0x307, 0x1e65, 0x160, 0x307, 0x1e66, 0x161,
    0x307, 0x1e67, 0x168, 0x301, 0x1e78, 0x169, 0x301, 0x1e79, 0x16a, 0x308,
    0x1e7a, 0x16b, 0x308, 0x1e7b, 0x17f, 0x307, 0x1e9b, 0x1a0, 0x300, 0x1edc,
    0x1a0, 0x301, 0x1eda, 0x1a0, 0x303, 0x1ee0, 0x1a0, 0x309, 0x1ede, 0x1a0,
    0x323, 0x1ee2, 0x1a1, 0x300, 0x1edd, 0x1a1, 0x301, 0x1edb, 0x1a1, 0x303,
    0x1ee1, 0x1a1, 0x309, 0x1edf, 0x1a1, 0x323, 0x1ee3, 0x1af, 0x300, 0x1eea,
    0x1af, 0x301, 0x1ee8, 0x1af, 0x303, 0x1eee, 0x1af, 0x309, 0x1eec, 0x1af,
    0x323, 0x1ef0, 0x1b0, 0x300, 0x1eeb, 0x1b0, 0x301, 0x1ee9, 0x1b0, 0x303,
    0x1eef, 0x1b0, 0x309, 0x1eed, 0x1b0, 0x323, 0x1ef1, 0x1b7, 0x30c, 0x1ee,
    0x1ea, 0x304, 0x1ec, 0x1eb, 0x304, 0x1ed, 0x226, 0x304, 0x1e0, 0x227,
    0x304, 0x1e1, 0x228, 0x306, 0x1e1c, 0x229, 0x306, 0x1e1d, 0x22e, 0x304,
    0x230, 0x22f, 0x304, 0x231, 0x292, 0x30c, 0x1ef, 0x391, 0x300, 0x1fba,
    0x391, 0x301, 0x386, 0x391, 0x304, 0x1fb9, 0x391, 0x306, 0x1fb8, 0x391,
    0x313, 0x1f08, 0x391, 0x314, 0x1f09, 0x391, 0x345, 0x1fbc, 0x395, 0x300,
    0x1fc8, 0x395, 0x301, 0x388, 0x395, 0x313, 0x1f18, 0x395, 0x314, 0x1f19,
    0x397, 0x300, 0x1fca, 0x397, 0x301, 0x389, 0x397, 0x313, 0x1f28, 0x397,
    0x314, 0x1f29, 0x397, 0x345, 0x1fcc, 0x399, 0x300, 0x1fda, 0x399, 0x301,
    0x38a, 0x399, 0x304, 0x1fd9, 0x399, 0x306, 0x1fd8, 0x399, 0x308, 0x3aa,
    0x399, 0x313, 0x1f38, 0x399, 0x314, 0x1f39, 0x39f, 0x300, 0x1ff8, 0x39f,
    0x301, 0x38c, 0x39f, 0x313, 0x1f48, 0x39f, 0x314, 0x1f49, 0x3a1, 0x314,
    0x1fec, 0x3a5, 0x300, 0x1fea, 0x3a5, 0x301, 0x38e, 0x3a5, 0x304, 0x1fe9,
    0x3a5, 0x306, 0x1fe8, 0x3a5, 0x308, 0x3ab, 0x3a5, 0x314, 0x1f59, 0x3a9,
    0x300, 0x1ffa, 0x3a9, 0x301, 0x38f, 0x3a9, 0x313, 0x1f68, 0x3a9, 0x314,
    0x1f69, 0x3a9, 0x345, 0x1ffc, 0x3ac, 0x345, 0x1fb4, 0x3ae, 0x345, 0x1fc4,
    0x3b1, 0x300, 0x1f70, 0x3b1, 0x301, 0x3ac, 0x3b1, 0x304, 0x1fb1, 0x3b1,
    0x306, 0x1fb0, 0x3b1, 0x313, 0x1f00, 0x3b1, 0x314, 0x1f01, 0x3b1, 0x342,
    0x1fb6, 0x3b1, 0x345, 0x1fb3, 0x3b5, 0x300, 0x1f72, 0x3b5, 0x301, 0x3ad,
    0x3b5, 0x313, 0x1f10, 0x3b5, 0x314, 0x1f11, 0x3b7, 0x300, 0x1f74, 0x3b7,
    0x301, 0x3ae, 0x3b7, 0x313, 0x1f20, 0x3b7, 0x314, 0x1f21, 0x3b7, 0x342,
    0x1fc6, 0x3b7, 0x345, 0x1fc3, 0x3b9, 0x300, 0x1f76, 0x3b9, 0x301, 0x3af,
    0x3b9, 0x304, 0x1fd1, 0x3b9, 0x306, 0x1fd0, 0x3b9, 0x308, 0x3ca, 0x3b9,
    0x313, 0x1f30, 0x3b9, 0x314, 0x1f31, 0x3b9, 0x342, 0x1fd6, 0x3bf, 0x300,
    0x1f78, 0x3bf, 0x301, 0x3cc, 0x3bf, 0x313, 0x1f40, 0x3bf, 0x314, 0x1f41,
    0x3c1, 0x313, 0x1fe4, 0x3c1, 0x314, 0x1fe5, 0x3c5, 0x300, 0x1f7a, 0x3c5,
    0x301, 0x3cd, 0x3c5, 0x304, 0x1fe1, 0x3c5, 0x306, 0x1fe0, 0x3c5, 0x308,
    0x3cb, 0x3c5, 0x313, 0x1f50, 0x3c5, 0x314, 0x1f51, 0x3c5, 0x342, 0x1fe6,
    0x3c9, 0x300, 0x1f7c, 0x3c9, 0x301, 0x3ce, 0x3c9, 0x313, 0x1f60, 0x3c9,
    0x314, 0x1f61, 0x3c9, 0x342, 0x1ff6, 0x3c9, 0x345, 0x1ff3, 0x3ca, 0x300,
    0x1fd2, 0x3ca, 0x301, 0x390, 0x3ca, 0x342, 0x1fd7, 0x3cb, 0x300, 0x1fe2,
    0x3cb, 0x301, 0x3b0, 0x3cb, 0x342, 0x1fe7, 0x3ce, 0x345, 0x1ff4, 0x3d2,
    0x301, 0x3d3, 0x3d2, 0x308, 0x3d4, 0x406, 0x308, 0x407, 0x410, 0x306,
    0x4d0, 0x410, 0x308, 0x4d2, 0x413, 0x301, 0x403, 0x415, 0x300, 0x400,
    0x415, 0x306, 0x4d6, 0x415, 0x308, 0x401, 0x416, 0x306, 0x4c1, 0x416,
    0x308, 0x4dc, 0x417, 0x308, 0x4de, 0x418, 0x300, 0x40d, 0x418, 0x304,
    0x4e2, 0x418, 0x306, 0x419, 0x418, 0x308, 0x4e4, 0x41a, 0x301, 0x40c,
    0x41e, 0x308, 0x4e6, 0x423, 0x304, 0x4ee, 0x423, 0x306, 0x40e, 0x423,
    0x308, 0x4f0, 0x423, 0x30b, 0x4f2, 0x427, 0x308, 0x4f4, 0x42b, 0x308,
    0x4f8, 0x42d, 0x308, 0x4ec, 0x430, 0x306, 0x4d1, 0x430, 0x308, 0x4d3,
    0x433, 0x301, 0x453, 0x435, 0x300, 0x450, 0x435, 0x306, 0x4d7, 0x435,
    0x308, 0x451, 0x436, 0x306, 0x4c2, 0x436, 0x308, 0x4dd, 0x437, 0x308,
    0x4df, 0x438, 0x300, 0x45d, 0x438, 0x304, 0x4e3, 0x438, 0x306, 0x439,
    0x438, 0x308, 0x4e5, 0x43a, 0x301, 0x45c, 0x43e, 0x308, 0x4e7, 0x443,
    0x304, 0x4ef, 0x443, 0x306, 0x45e, 0x443, 0x308, 0x4f1, 0x443, 0x30b,
    0x4f3, 0x447, 0x308, 0x4f5, 0x44b, 0x308, 0x4f9, 0x44d, 0x308, 0x4ed,
    0x456, 0x308, 0x457, 0x474, 0x30f, 0x476, 0x475, 0x30f, 0x477, 0x4d8,
    0x308, 0x4da, 0x4d9, 0x308, 0x4db, 0x4e8, 0x308, 0x4ea, 0x4e9, 0x308,
    0x4eb, 0x627, 0x653, 0x622, 0x627, 0x654, 0x623, 0x627, 0x655, 0x625,
    0x648, 0x654, 0x624, 0x64a, 0x654, 0x626, 0x6c1, 0x654, 0x6c2, 0x6d2,
    0x654, 0x6d3, 0x6d5, 0x654, 0x6c0, 0x928, 0x93c, 0x929, 0x930, 0x93c,
    0x931, 0x933, 0x93c, 0x934, 0x9c7, 0x9be, 0x9cb, 0x9c7, 0x9d7, 0x9cc,
    0xb47, 0xb3e, 0xb4b, 0xb47, 0xb56, 0xb48, 0xb47, 0xb57, 0xb4c, 0xb92,
    0xbd7, 0xb94, 0xbc6, 0xbbe, 0xbca, 0xbc6, 0xbd7, 0xbcc, 0xbc7, 0xbbe,
    0xbcb, 0xc46, 0xc56, 0xc48, 0xcbf, 0xcd5, 0xcc0, 0xcc6, 0xcc2, 0xcca,
    0xcc6, 0xcd5, 0xcc7, 0xcc6, 0xcd6, 0xcc8, 0xcca, 0xcd5, 0xccb, 0xd46,
    0xd3e, 0xd4a, 0xd46, 0xd57, 0xd4c, 0xd47, 0xd3e, 0xd4b, 0xdd9, 0xdca,
    0xdda, 0xdd9, 0xdcf, 0xddc, 0xdd9, 0xddf, 0xdde, 0xddc, 0xdca, 0xddd,
    0x1025, 0x102e, 0x1026, 0x1b05, 0x1b35, 0x1b06, 0x1b07, 0x1b35, 0x1b08, 0x1b09,
    0x1b35, 0x1b0a, 0x1b0b, 0x1b35, 0x1b0c, 0x1b0d, 0x1b35, 0x1b0e, 0x1b11, 0x1b35,
    0x1b12, 0x1b3a, 0x1b35, 0x1b3b, 0x1b3c, 0x1b35, 0x1b3d, 0x1b3e, 0x1b35, 0x1b40,
    0x1b3f, 0x1b35, 0x1b41, 0x1b42, 0x1b35, 0x1b43, 0x1e36, 0x304, 0x1e38, 0x1e37,
    0x304, 0x1e39, 0x1e5a, 0x304, 0x1e5c, 0x1e5b, 0x304, 0x1e5d, 0x1e62, 0x307,
    0x1e68, 0x1e63, 0x307, 0x1e69, 0x1ea0, 0x302, 0x1eac, 0x1ea0, 0x306, 0x1eb6,
    0x1ea1, 0x302, 0x1ead, 0x1ea1, 0x306, 0x1eb7, 0x1eb8, 0x302, 0x1ec6, 0x1eb9,
    0x302, 0x1ec7, 0x1ecc, 0x302, 0x1ed8, 0x1ecd, 0x302, 0x1ed9, 0x1f00, 0x300,
    0x1f02, 0x1f00, 0x301, 0x1f04, 0x1f00, 0x342, 0x1f06, 0x1f00, 0x345, 0x1f80,
    0x1f01, 0x300, 0x1f03, 0x1f01, 0x301, 0x1f05, 0x1f01, 0x342, 0x1f07, 0x1f01,
    0x345, 0x1f81, 0x1f02, 0x345, 0x1f82, 0x1f03, 0x345, 0x1f83, 0x1f04, 0x345,
    0x1f84, 0x1f05, 0x345, 0x1f85, 0x1f06, 0x345, 0x1f86, 0x1f07, 0x345, 0x1f87,
    0x1f08, 0x300, 0x1f0a, 0x1f08, 0x301, 0x1f0c, 0x1f08, 0x342, 0x1f0e, 0x1f08,
    0x345, 0x1f88, 0x1f09, 0x300, 0x1f0b, 0x1f09, 0x301, 0x1f0d, 0x1f09, 0x342,
    0x1f0f, 0x1f09, 0x345, 0x1f89, 0x1f0a, 0x345, 0x1f8a, 0x1f0b, 0x345, 0x1f8b,
    0x1f0c, 0x345, 0x1f8c, 0x1f0d, 0x345, 0x1f8d, 0x1f0e, 0x345, 0x1f8e, 0x1f0f,
    0x345, 0x1f8f, 0x1f10, 0x300, 0x1f12, 0x1f10, 0x301, 0x1f14, 0x1f11, 0x300,
    0x1f13, 0x1f11, 0x301, 0x1f15, 0x1f18, 0x300, 0x1f1a, 0x1f18, 0x301, 0x1f1c,
    0x1f19, 0x300, 0x1f1b, 0x1f19, 0x301, 0x1f1d, 0x1f20, 0x300, 0x1f22, 0x1f20,
    0x301, 0x1f24, 0x1f20, 0x342, 0x1f26, 0x1f20, 0x345, 0x1f90, 0x1f21, 0x300,
    0x1f23, 0x1f21, 0x301, 0x1f25, 0x1f21, 0x342, 0x1f27, 0x1f21, 0x345, 0x1f91,
    0x1f22, 0x345, 0x1f92, 0x1f23, 0x345, 0x1f93, 0x1f24, 0x345, 0x1f94, 0x1f25,
    0x345, 0x1f95, 0x1f26, 0x345, 0x1f96, 0x1f27, 0x345, 0x1f97, 0x1f28, 0x300,
    0x1f2a, 0x1f28, 0x301, 0x1f2c, 0x1f28, 0x342, 0x1f2e, 0x1f28, 0x345, 0x1f98,
    0x1f29, 0x300, 0x1f2b, 0x1f29, 0x301, 0x1f2d, 0x1f29, 0x342, 0x1f2f, 0x1f29,
    0x345, 0x1f99, 0x1f2a, 0x345, 0x1f9a, 0x1f2b, 0x345, 0x1f9b, 0x1f2c, 0x345,
    0x1f9c, 0x1f2d, 0x345, 0x1f9d, 0x1f2e, 0x345, 0x1f9e, 0x1f2f, 0x345, 0x1f9f,
    0x1f30, 0x300, 0x1f32, 0x1f30, 0x301, 0x1f34, 0x1f30, 0x342, 0x1f36, 0x1f31,
    0x300, 0x1f33, 0x1f31, 0x301, 0x1f35, 0x1f31, 0x342, 0x1f37, 0x1f38, 0x300,
    0x1f3a, 0x1f38, 0x301, 0x1f3c, 0x1f38, 0x342, 0x1f3e, 0x1f39, 0x300, 0x1f3b,
    0x1f39, 0x301, 0x1f3d, 0x1f39, 0x342, 0x1f3f, 0x1f40, 0x300, 0x1f42, 0x1f40,
    0x301, 0x1f44, 0x1f41, 0x300, 0x1f43, 0x1f41, 0x301, 0x1f45, 0x1f48, 0x300,
    0x1f4a, 0x1f48, 0x301, 0x1f4c, 0x1f49, 0x300, 0x1f4b, 0x1f49, 0x301, 0x1f4d,
    0x1f50, 0x300, 0x1f52, 0x1f50, 0x301, 0x1f54, 0x1f50, 0x342, 0x1f56, 0x1f51,
    0x300, 0x1f53, 0x1f51, 0x301, 0x1f55, 0x1f51, 0x342, 0x1f57, 0x1f59, 0x300,
    0x1f5b, 0x1f59, 0x301, 0x1f5d, 0x1f59, 0x342, 0x1f5f, 0x1f60, 0x300, 0x1f62,
    0x1f60, 0x301, 0x1f64, 0x1f60, 0x342, 0x1f66, 0x1f60, 0x345, 0x1fa0, 0x1f61,
    0x300, 0x1f63, 0x1f61, 0x301, 0x1f65, 0x1f61, 0x342, 0x1f67, 0x1f61, 0x345,
    0x1fa1, 0x1f62, 0x345, 0x1fa2, 0x1f63, 0x345, 0x1fa3, 0x1f64, 0x345, 0x1fa4,
    0x1f65, 0x345, 0x1fa5, 0x1f66, 0x345, 0x1fa6, 0x1f67, 0x345, 0x1fa7, 0x1f68,
    0x300, 0x1f6a, 0x1f68, 0x301, 0x1f6c, 0x1f68, 0x342, 0x1f6e, 0x1f68, 0x345,
    0x1fa8, 0x1f69, 0x300, 0x1f6b, 0x1f69, 0x301, 0x1f6d, 0x1f69, 0x342, 0x1f6f,
    0x1f69, 0x345, 0x1fa9, 0x1f6a, 0x345, 0x1faa, 0x1f6b, 0x345, 0x1fab, 0x1f6c,
    0x345, 0x1fac, 0x1f6d, 0x345, 0x1fad, 0x1f6e, 0x345, 0x1fae, 0x1f6f, 0x345,
    0x1faf, 0x1f70, 0x345, 0x1fb2, 0x1f74, 0x345, 0x1fc2, 0x1f7c, 0x345, 0x1ff2,
    0x1fb6, 0x345, 0x1fb7, 0x1fbf, 0x300, 0x1fcd, 0x1fbf, 0x301, 0x1fce, 0x1fbf,
    0x342, 0x1fcf, 0x1fc6, 0x345, 0x1fc7, 0x1ff6, 0x345, 0x1ff7, 0x1ffe, 0x300,
    0x1fdd, 0x1ffe, 0x301, 0x1fde, 0x1ffe, 0x342, 0x1fdf, 0x2190, 0x338, 0x219a,
    0x2192, 0x338, 0x219b, 0x2194, 0x338, 0x21ae, 0x21d0, 0x338, 0x21cd, 0x21d2,
    0x338, 0x21cf, 0x21d4, 0x338, 0x21ce, 0x2203, 0x338, 0x2204, 0x2208, 0x338,
    0x2209, 0x220b, 0x338, 0x220c, 0x2223, 0x338, 0x2224, 0x2225, 0x338, 0x2226,
    0x223c, 0x338, 0x2241, 0x2243, 0x338, 0x2244, 0x2245, 0x338, 0x2247, 0x2248,
    0x338, 0x2249, 0x224d, 0x338, 0x226d, 0x2261, 0x338, 0x2262, 0x2264, 0x338,
    0x2270, 0x2265, 0x338, 0x2271, 0x2272, 0x338, 0x2274, 0x2273, 0x338, 0x2275,
    0x2276, 0x338, 0x2278, 0x2277, 0x338, 0x2279, 0x227a, 0x338, 0x2280, 0x227b,
    0x338, 0x2281, 0x227c, 0x338, 0x22e0, 0x227d, 0x338, 0x22e1, 0x2282, 0x338,
    0x2284, 0x2283, 0x338, 0x2285, 0x2286, 0x338, 0x2288, 0x2287, 0x338, 0x2289,
    0x2291, 0x338, 0x22e2, 0x2292, 0x338, 0x22e3, 0x22a2, 0x338, 0x22ac, 0x22a8,
    0x338, 0x22ad, 0x22a9, 0x338, 0x22ae, 0x22ab, 0x338, 0x22af, 0x22b2, 0x338,
    0x22ea, 0x22b3, 0x338, 0x22eb, 0x22b4, 0x338, 0x22ec, 0x22b5, 0x338, 0x22ed,
    0x3046, 0x3099, 0x3094, 0x304b, 0x3099, 0x304c, 0x304d, 0x3099, 0x304e, 0x304f,
    0x3099, 0x3050, 0x3051, 0x3099, 0x3052, 0x3053, 0x3099, 0x3054, 0x3055, 0x3099,
    0x3056, 0x3057, 0x3099, 0x3058, 0x3059, 0x3099, 0x305a, 0x305b, 0x3099, 0x305c,
    0x305d, 0x3099, 0x305e, 0x305f, 0x3099, 0x3060, 0x3061, 0x3099, 0x3062, 0x3064,
    0x3099, 0x3065, 0x3066, 0x3099, 0x3067, 0x3068, 0x3099, 0x3069, 0x306f, 0x3099,
    0x3070, 0x306f, 0x309a, 0x3071, 0x3072, 0x3099, 0x3073, 0x3072, 0x309a, 0x3074,
    0x3075, 0x3099, 0x3076, 0x3075, 0x309a, 0x3077, 0x3078, 0x3099, 0x3079, 0x3078,
    0x309a, 0x307a, 0x307b, 0x3099, 0x307c, 0x307b, 0x309a, 0x307d, 0x309d, 0x3099,
    0x309e, 0x30a6, 0x3099, 0x30f4, 0x30ab, 0x3099, 0x30ac, 0x30ad, 0x3099, 0x30ae,
    0x30af, 0x3099, 0x30b0, 0x30b1, 0x3099, 0x30b2, 0x30b3, 0x3099, 0x30b4, 0x30b5,
    0x3099, 0x30b6, 0x30b7, 0x3099, 0x30b8, 0x30b9, 0x3099, 0x30ba, 0x30bb, 0x3099,
    0x30bc, 0x30bd, 0x3099, 0x30be, 0x30bf, 0x3099, 0x30c0, 0x30c1, 0x3099, 0x30c2,
    0x30c4, 0x3099, 0x30c5, 0x30c6, 0x3099, 0x30c7, 0x30c8, 0x3099, 0x30c9, 0x30cf,
    0x3099, 0x30d0, 0x30cf, 0x309a, 0x30d1, 0x30d2, 0x3099, 0x30d3, 0x30d2, 0x309a,
    0x30d4, 0x30d5, 0x3099, 0x30d6, 0x30d5, 0x309a, 0x30d7, 0x30d8, 0x3099, 0x30d9,
    0x30d8, 0x309a, 0x30da, 0x30db, 0x3099, 0x30dc, 0x30db, 0x309a, 0x30dd, 0x30ef,
    0x3099, 0x30f7, 0x30f0, 0x3099, 0x30f8, 0x30f1, 0x3099, 0x30f9, 0x30f2, 0x3099,
    0x30fa, 0x30fd, 0x3099, 0x30fe, 0x11099, 0x110ba, 0x1109a, 0x1109b, 0x110ba, 0x1109c,
    0x110a5, 0x110ba, 0x110ab, 0x11131, 0x11127, 0x1112e, 0x11132, 0x11127, 0x1112f, 0x11347,
    0x1133e, 0x1134b, 0x11347, 0x11357, 0x1134c, 0x114b9, 0x114b0, 0x114bc, 0x114b9, 0x114ba,
    0x114bb, 0x114b9, 0x114bd, 0x114be, 0x115b8, 0x115af, 0x115ba, 0x115b9, 0x115af, 0x115bb,
    0x11935, 0x11930, 0x11938,
};
static const uint32_t it__uc_fold_ascii[] = {
    0x17f, 0x73, 0x212a, 0x6b,
};
/* END GENERATED UNICODE TABLES */

enum { /* general categories, in the generator's order */
    IT__GC_Cn, IT__GC_Lu, IT__GC_Ll, IT__GC_Lt, IT__GC_Lm, IT__GC_Lo, IT__GC_Mn, IT__GC_Mc, IT__GC_Me,
    IT__GC_Nd, IT__GC_Nl, IT__GC_No, IT__GC_Pc, IT__GC_Pd, IT__GC_Ps, IT__GC_Pe, IT__GC_Pi, IT__GC_Pf,
    IT__GC_Po, IT__GC_Sm, IT__GC_Sc, IT__GC_Sk, IT__GC_So, IT__GC_Zs, IT__GC_Zl, IT__GC_Zp, IT__GC_Cc,
    IT__GC_Cf, IT__GC_Cs, IT__GC_Co, IT__GC_COUNT
};
#define IT__GC_BIT(c) (1u << IT__GC_##c)
#define IT__GC_L (IT__GC_BIT(Lu) | IT__GC_BIT(Ll) | IT__GC_BIT(Lt) | IT__GC_BIT(Lm) | IT__GC_BIT(Lo))
#define IT__GC_M (IT__GC_BIT(Mn) | IT__GC_BIT(Mc) | IT__GC_BIT(Me))
#define IT__GC_N (IT__GC_BIT(Nd) | IT__GC_BIT(Nl) | IT__GC_BIT(No))

#define IT__UC_COUNT(t) (sizeof(t) / sizeof((t)[0]))
/* Index of the last run in a (start << shift | value) table that starts at or before cp. */
static size_t it__uc_run(const uint32_t *t, size_t n, uint32_t cp, int shift) {
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if ((t[mid] >> shift) <= cp) lo = mid;
        else hi = mid;
    }
    return lo;
}
static int it__uc_gc(uint32_t cp) {
    if (cp >= 0x110000) return IT__GC_Cn;
    return (int)(it__uc_gc_runs[it__uc_run(it__uc_gc_runs, IT__UC_COUNT(it__uc_gc_runs), cp, 5)] & 31u);
}
static int it__uc_ccc(uint32_t cp) {
    if (cp < 0x300 || cp >= 0x110000) return 0;
    return (int)(it__uc_ccc_runs[it__uc_run(it__uc_ccc_runs, IT__UC_COUNT(it__uc_ccc_runs), cp, 8)] & 255u);
}
/* White_Space, which is also what Rust's char::is_whitespace tests. */
static int it__uc_space(uint32_t cp) {
    size_t i;
    if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13);
    for (i = 0; i < IT__UC_COUNT(it__uc_space_ranges); i += 2)
        if (cp >= it__uc_space_ranges[i] && cp <= it__uc_space_ranges[i + 1]) return 1;
    return 0;
}
/* The one-level canonical decomposition of cp: 0 (none), 1 or 2 code points. */
static int it__uc_decompose1(uint32_t cp, uint32_t *a, uint32_t *b) {
    size_t lo = 0, hi = IT__UC_COUNT(it__uc_decomp) / 3;
    if (cp >= 0xAC00 && cp < 0xAC00 + 11172) { /* Hangul syllable: LV or LVT, algorithmic */
        uint32_t s = cp - 0xAC00, t = s % 28;
        if (t) {
            *a = cp - t;
            *b = 0x11A7 + t;
        } else {
            *a = 0x1100 + s / 588;
            *b = 0x1161 + (s % 588) / 28;
        }
        return 2;
    }
    if (cp < 0xC0) return 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (it__uc_decomp[3 * mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo >= IT__UC_COUNT(it__uc_decomp) / 3 || it__uc_decomp[3 * lo] != cp) return 0;
    *a = it__uc_decomp[3 * lo + 1];
    *b = it__uc_decomp[3 * lo + 2];
    return *b ? 2 : 1;
}
/* The primary composite of (a, b), 0 when there is none. */
static uint32_t it__uc_compose(uint32_t a, uint32_t b) {
    size_t lo = 0, hi = IT__UC_COUNT(it__uc_comp) / 3;
    if (a >= 0x1100 && a < 0x1113 && b >= 0x1161 && b < 0x1176) return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
    if (a >= 0xAC00 && a < 0xAC00 + 11172 && (a - 0xAC00) % 28 == 0 && b > 0x11A7 && b < 0x11C3) return a + (b - 0x11A7);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = it__uc_comp + 3 * mid;
        if (e[0] < a || (e[0] == a && e[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < IT__UC_COUNT(it__uc_comp) / 3 && it__uc_comp[3 * lo] == a && it__uc_comp[3 * lo + 1] == b)
        return it__uc_comp[3 * lo + 2];
    return 0;
}

/* UTF-8 of valid text (checked once at the entry points). */
static uint32_t it__utf8_get(const uint8_t *s, size_t *len) {
    if (s[0] < 0x80) { *len = 1; return s[0]; }
    if (s[0] < 0xE0) { *len = 2; return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F); }
    if (s[0] < 0xF0) { *len = 3; return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); }
    *len = 4;
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}
static size_t it__utf8_put(uint8_t *d, uint32_t cp) {
    if (cp < 0x80) { d[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { d[0] = (uint8_t)(0xC0 | (cp >> 6)); d[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (uint8_t)(0xE0 | (cp >> 12));
        d[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (uint8_t)(0xF0 | (cp >> 18));
    d[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
/* Offset of the first invalid UTF-8 byte, n when all is valid. */
static size_t it__utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int k = it__utf8_len(s + i, n - i);
        if (!k) return i;
        i += (size_t)k;
    }
    return n;
}
/* A growable byte buffer and a growable uint32 buffer; `failed` sticks after an allocation fails. */
typedef struct it__bytes {
    it_context *ctx; /* whose allocator */
    uint8_t *p;
    size_t n, cap;
    int failed;
} it__bytes;
static int it__bytes_reserve(it__bytes *b, size_t extra) {
    size_t cap;
    uint8_t *q;
    if (b->failed) return 0;
    if (b->n + extra <= b->cap && b->n + extra >= b->n) return 1;
    if (extra > ((size_t)-1 >> 2) - b->n) { /* no such size: fail rather than double forever */
        b->failed = 1;
        return 0;
    }
    cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    q = (uint8_t *)it__realloc(b->ctx, b->p, b->n, cap);
    if (!q) {
        b->failed = 1;
        return 0;
    }
    b->p = q;
    b->cap = cap;
    return 1;
}
static void it__bytes_put(it__bytes *b, const void *s, size_t n) {
    if (n && it__bytes_reserve(b, n)) {
        memcpy(b->p + b->n, s, n);
        b->n += n;
    }
}
static void it__bytes_cp(it__bytes *b, uint32_t cp) {
    if (it__bytes_reserve(b, 4)) b->n += it__utf8_put(b->p + b->n, cp);
}
/* Appends s with every invalid UTF-8 sequence replaced by U+FFFD (String::from_utf8_lossy). */
static void it__bytes_put_lossy(it__bytes *b, const uint8_t *s, size_t n) {
    size_t i = 0, bad = 1;
    while (i < n) {
        size_t k = (size_t)it__utf8_seq(s + i, n - i, &bad);
        if (k) {
            it__bytes_put(b, s + i, k);
            i += k;
        } else {
            it__bytes_cp(b, 0xFFFD);
            i += bad;
        }
    }
}
static void it__bytes_free(it__bytes *b) {
    it_context *ctx = b->ctx;
    it__free(ctx, b->p);
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
}
typedef struct it__u32s {
    it_context *ctx;
    uint32_t *p;
    size_t n, cap;
    int failed;
} it__u32s;
static int it__u32s_push(it__u32s *v, uint32_t x) {
    if (v->failed) return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint32_t *q = (uint32_t *)it__realloc(v->ctx, v->p, v->n * sizeof(uint32_t), cap * sizeof(uint32_t));
        if (!q) {
            v->failed = 1;
            return 0;
        }
        v->p = q;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return 1;
}

/* NFC (compose = 1) or NFD of valid UTF-8 s into out: full canonical decomposition, canonical
   ordering of combining marks (stable by class), then canonical composition with blocking. */
static void it__uc_normalize(const uint8_t *s, size_t n, int compose, it__u32s *cps, it__bytes *out) {
    size_t i, len, k;
    for (i = 0; i < n && s[i] < 0x80; i++) {}
    if (i == n) { /* ASCII is its own normal form */
        it__bytes_put(out, s, n);
        return;
    }
    cps->n = 0;
    for (i = 0; i < n; i += len) {
        uint32_t stack[32], a, b;
        int sp = 0;
        stack[sp++] = it__utf8_get(s + i, &len);
        while (sp > 0) { /* depth-first: the first code point of a decomposition decomposes further */
            uint32_t c = stack[--sp];
            int m = it__uc_decompose1(c, &a, &b);
            if (m == 0 || sp > 28) it__u32s_push(cps, c);
            else {
                if (m == 2) stack[sp++] = b;
                stack[sp++] = a;
            }
        }
    }
    for (k = 1; k < cps->n; k++) { /* insertion sort of each run of non-starters by class */
        uint32_t c = cps->p[k];
        int cc = it__uc_ccc(c);
        size_t j = k;
        if (cc == 0) continue;
        while (j > 0 && it__uc_ccc(cps->p[j - 1]) > cc) {
            cps->p[j] = cps->p[j - 1];
            j--;
        }
        cps->p[j] = c;
    }
    if (compose && cps->n > 0) {
        /* out[w-1] is the last character kept; a mark composes with the last starter unless a
           character between them has class 0 or a class >= its own (marks are already ordered,
           so the last one kept decides) */
        size_t w = 1;
        long starter = it__uc_ccc(cps->p[0]) == 0 ? 0 : -1;
        int last_cc = it__uc_ccc(cps->p[0]);
        for (k = 1; k < cps->n; k++) {
            uint32_t c = cps->p[k], comp;
            int cc = it__uc_ccc(c);
            int blocked = starter < 0 || ((size_t)starter != w - 1 && (last_cc == 0 || last_cc >= cc));
            if (!blocked && (comp = it__uc_compose(cps->p[starter], c)) != 0) {
                cps->p[starter] = comp;
                continue;
            }
            if (cc == 0) starter = (long)w;
            last_cc = cc;
            cps->p[w++] = c;
        }
        cps->n = w;
    }
    for (k = 0; k < cps->n; k++) it__bytes_cp(out, cps->p[k]);
}

/* >>regex  a backtracking matcher (leftmost-first alternation, greedy or lazy quantifiers, as
   Oniguruma, which `tokenizers` uses) for the constructs pre-tokenizer patterns use: literals,
   ., classes [...] with ranges and negation, \s \S \d \D \w \W \p{..} \P{..} (general categories
   by their short names), \r \n \t \f \v \xHH \x{H..} \uHHHH and escaped punctuation, groups (..)
   (?:..) (?i:..) (?=..) (?!..), alternation, and the quantifiers ? * + {n} {n,} {n,m} (lazy with a
   trailing ?). A quantified single-character atom runs as one instruction that backs off one
   character at a time, so `\p{L}+` costs one backtrack entry, not one per character. Anything
   else (anchors, backreferences, lookbehind, possessive quantifiers, case-insensitive non-ASCII
   letters) is refused when the pattern is compiled, with the position. */
enum { IT__RX_RANGE = 1, IT__RX_GC, IT__RX_SPACE };
typedef struct it__rx_item {
    uint8_t kind, neg;
    uint32_t lo, hi; /* RANGE: code points; GC: a mask of categories in lo */
} it__rx_item;
typedef struct it__rx_class {
    int first, n, neg;
} it__rx_class;
enum { IT__RX_CHAR = 1, IT__RX_REPEAT, IT__RX_SPLIT, IT__RX_JMP, IT__RX_LOOK, IT__RX_MATCH };
typedef struct it__rx_inst {
    int op;
    int cls;    /* CHAR, REPEAT */
    int x, y;   /* SPLIT: preferred, other; JMP: x; LOOK: sub-program x, continuation y */
    int min, max, greedy, neg; /* REPEAT (max -1: unbounded); LOOK: neg */
} it__rx_inst;
typedef struct it__rx {
    it_context *ctx;
    it__rx_inst *code;
    int n_code, cap_code;
    it__rx_item *items;
    int n_items, cap_items;
    it__rx_class *classes;
    int n_classes, cap_classes;
} it__rx;

static void it__rx_free(it__rx *rx) {
    it_context *ctx = rx->ctx;
    it__free(rx->ctx, rx->code);
    it__free(rx->ctx, rx->items);
    it__free(rx->ctx, rx->classes);
    memset(rx, 0, sizeof *rx);
    rx->ctx = ctx;
}

/* Parser state: the pattern, a position, the first error. The syntax tree is built in `nodes`. */
enum { IT__RXN_CLASS = 1, IT__RXN_CAT, IT__RXN_ALT, IT__RXN_REPEAT, IT__RXN_LOOK, IT__RXN_EMPTY };
typedef struct it__rxn {
    int kind, cls, a, b; /* CAT/ALT: children a, b; REPEAT/LOOK: child a */
    int min, max, greedy, neg;
} it__rxn;
typedef struct it__rxp {
    const uint8_t *s;
    size_t n, pos;
    int icase, depth;
    it__rx *rx;
    it__rxn *nodes;
    int n_nodes, cap_nodes;
    char err[160];
} it__rxp;

static int it__rxp_fail(it__rxp *p, const char *what) {
    if (!p->err[0]) snprintf(p->err, sizeof p->err, "%s at offset %lu of the pattern", what, (unsigned long)p->pos);
    return -1;
}
static int it__rxp_node(it__rxp *p, int kind, int a, int b) {
    it__rxn *nn;
    if (p->n_nodes == p->cap_nodes) {
        int cap = p->cap_nodes ? p->cap_nodes * 2 : 64;
        nn = (it__rxn *)it__realloc(p->rx->ctx, p->nodes, (size_t)p->n_nodes * sizeof(it__rxn), (size_t)cap * sizeof(it__rxn));
        if (!nn) return it__rxp_fail(p, "out of memory");
        p->nodes = nn;
        p->cap_nodes = cap;
    }
    nn = &p->nodes[p->n_nodes];
    memset(nn, 0, sizeof *nn);
    nn->kind = kind;
    nn->a = a;
    nn->b = b;
    return p->n_nodes++;
}
static int it__rxp_item(it__rxp *p, int kind, int neg, uint32_t lo, uint32_t hi) {
    it__rx *rx = p->rx;
    if (rx->n_items == rx->cap_items) {
        int cap = rx->cap_items ? rx->cap_items * 2 : 32;
        it__rx_item *ni = (it__rx_item *)it__realloc(rx->ctx, rx->items, (size_t)rx->n_items * sizeof(it__rx_item),
                                                          (size_t)cap * sizeof(it__rx_item));
        if (!ni) return it__rxp_fail(p, "out of memory");
        rx->items = ni;
        rx->cap_items = cap;
    }
    rx->items[rx->n_items].kind = (uint8_t)kind;
    rx->items[rx->n_items].neg = (uint8_t)neg;
    rx->items[rx->n_items].lo = lo;
    rx->items[rx->n_items].hi = hi;
    rx->n_items++;
    return 0;
}
/* A range, and under (?i) its other-case ASCII letters and the code points that fold to them. */
static int it__rxp_range(it__rxp *p, uint32_t lo, uint32_t hi) {
    uint32_t c;
    size_t k;
    if (it__rxp_item(p, IT__RX_RANGE, 0, lo, hi)) return -1;
    if (!p->icase) return 0;
    if (hi >= 0x80) {
        int gc = it__uc_gc(lo);
        if (lo != hi || gc == IT__GC_Lu || gc == IT__GC_Ll || gc == IT__GC_Lt) {
            char what[96];
            snprintf(what, sizeof what, "case-insensitive matching of non-ASCII letters (U+%04lX) is not supported",
                     (unsigned long)lo);
            return it__rxp_fail(p, what);
        }
    }
    for (c = lo; c <= hi && c < 0x80; c++) {
        uint32_t low = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        if (!(low >= 'a' && low <= 'z')) continue;
        if (it__rxp_item(p, IT__RX_RANGE, 0, low ^ 0x20, low ^ 0x20) || it__rxp_item(p, IT__RX_RANGE, 0, low, low))
            return -1;
        for (k = 0; k < IT__UC_COUNT(it__uc_fold_ascii); k += 2)
            if (it__uc_fold_ascii[k + 1] == low && it__rxp_item(p, IT__RX_RANGE, 0, it__uc_fold_ascii[k], it__uc_fold_ascii[k]))
                return -1;
    }
    return 0;
}
static int it__rxp_class_begin(it__rxp *p, int neg) {
    it__rx *rx = p->rx;
    if (rx->n_classes == rx->cap_classes) {
        int cap = rx->cap_classes ? rx->cap_classes * 2 : 16;
        it__rx_class *nc = (it__rx_class *)it__realloc(rx->ctx, rx->classes, (size_t)rx->n_classes * sizeof(it__rx_class),
                                                            (size_t)cap * sizeof(it__rx_class));
        if (!nc) return it__rxp_fail(p, "out of memory");
        rx->classes = nc;
        rx->cap_classes = cap;
    }
    rx->classes[rx->n_classes].first = rx->n_items;
    rx->classes[rx->n_classes].n = 0;
    rx->classes[rx->n_classes].neg = neg;
    return rx->n_classes++;
}
static void it__rxp_class_end(it__rxp *p, int cls) { p->rx->classes[cls].n = p->rx->n_items - p->rx->classes[cls].first; }

static int it__rxp_hex(it__rxp *p, int digits, uint32_t *out) {
    uint32_t v = 0;
    int k = 0, braced = digits == 0;
    if (braced) {
        if (p->pos >= p->n || p->s[p->pos] != '{') return it__rxp_fail(p, "bad \\x escape");
        p->pos++;
        digits = 8;
    }
    while (k < digits && p->pos < p->n) {
        uint8_t c = p->s[p->pos];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + (uint32_t)d;
        p->pos++;
        k++;
    }
    if (braced) {
        if (p->pos >= p->n || p->s[p->pos] != '}' || k == 0) return it__rxp_fail(p, "bad \\x{...} escape");
        p->pos++;
    } else if (k != digits)
        return it__rxp_fail(p, "bad hex escape");
    if (v >= 0x110000) return it__rxp_fail(p, "code point above U+10FFFF");
    *out = v;
    return 0;
}
/* \p{Name}: a mask of general categories. */
static int it__rxp_property(it__rxp *p, uint32_t *mask) {
    static const char *const names[] = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
                                        "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
    char name[32];
    size_t k = 0;
    int i;
    if (p->pos < p->n && p->s[p->pos] != '{') { /* \pL */
        name[k++] = (char)p->s[p->pos++];
    } else {
        p->pos++;
        while (p->pos < p->n && p->s[p->pos] != '}' && k < sizeof name - 1) name[k++] = (char)p->s[p->pos++];
        if (p->pos >= p->n || p->s[p->pos] != '}') return it__rxp_fail(p, "unterminated \\p{...}");
        p->pos++;
    }
    name[k] = 0;
    if (k == 1) {
        switch (name[0]) {
        case 'L': *mask = IT__GC_L; return 0;
        case 'M': *mask = IT__GC_M; return 0;
        case 'N': *mask = IT__GC_N; return 0;
        case 'P': *mask = ((1u << (IT__GC_Po + 1)) - 1) & ~((1u << IT__GC_Pc) - 1); return 0;
        case 'S': *mask = ((1u << (IT__GC_So + 1)) - 1) & ~((1u << IT__GC_Sm) - 1); return 0;
        case 'Z': *mask = IT__GC_BIT(Zs) | IT__GC_BIT(Zl) | IT__GC_BIT(Zp); return 0;
        case 'C': *mask = IT__GC_BIT(Cc) | IT__GC_BIT(Cf) | IT__GC_BIT(Cs) | IT__GC_BIT(Co) | IT__GC_BIT(Cn); return 0;
        default: break;
        }
    }
    for (i = 0; i < IT__GC_COUNT; i++)
        if (strcmp(names[i], name) == 0) {
            *mask = 1u << i;
            return 0;
        }
    {
        char what[80];
        snprintf(what, sizeof what, "unknown Unicode property \\p{%s}", name);
        return it__rxp_fail(p, what);
    }
}
/* One escape after the backslash: either a set (adds items, *is_set = 1) or a code point. */
static int it__rxp_escape(it__rxp *p, int *is_set, uint32_t *cp, int in_class) {
    uint8_t c;
    uint32_t mask = 0;
    *is_set = 0;
    if (p->pos >= p->n) return it__rxp_fail(p, "pattern ends in a backslash");
    c = p->s[p->pos++];
    switch (c) {
    case 's': case 'S': *is_set = 1; return it__rxp_item(p, IT__RX_SPACE, c == 'S', 0, 0);
    case 'd': case 'D': *is_set = 1; return it__rxp_item(p, IT__RX_GC, c == 'D', IT__GC_BIT(Nd), 0);
    case 'w': case 'W':
        *is_set = 1;
        return it__rxp_item(p, IT__RX_GC, c == 'W', IT__GC_L | IT__GC_M | IT__GC_BIT(Nd) | IT__GC_BIT(Pc), 0);
    case 'p': case 'P':
        *is_set = 1;
        if (it__rxp_property(p, &mask)) return -1;
        return it__rxp_item(p, IT__RX_GC, c == 'P', mask, 0);
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case 'x': return it__rxp_hex(p, p->pos < p->n && p->s[p->pos] == '{' ? 0 : 2, cp);
    case 'u': return it__rxp_hex(p, 4, cp);
    default:
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            *cp = c;
            return 0;
        }
        (void)in_class;
        p->pos--;
        return it__rxp_fail(p, "unsupported escape");
    }
}
static int it__rxp_char(it__rxp *p, uint32_t *cp) {
    size_t len;
    *cp = it__utf8_get(p->s + p->pos, &len);
    p->pos += len;
    return 0;
}
static int it__rxp_bracket(it__rxp *p) { /* after '[' */
    int neg = 0, cls, first = 1, node;
    if (p->pos < p->n && p->s[p->pos] == '^') {
        neg = 1;
        p->pos++;
    }
    cls = it__rxp_class_begin(p, neg);
    if (cls < 0) return -1;
    for (;;) {
        uint32_t lo, hi;
        int is_set;
        if (p->pos >= p->n) return it__rxp_fail(p, "unterminated [ ] class");
        if (p->s[p->pos] == ']' && !first) {
            p->pos++;
            break;
        }
        first = 0;
        if (p->s[p->pos] == '[') return it__rxp_fail(p, "nested classes are not supported");
        if (p->s[p->pos] == '\\') {
            p->pos++;
            if (it__rxp_escape(p, &is_set, &lo, 1)) return -1;
            if (is_set) continue;
        } else
            it__rxp_char(p, &lo);
        hi = lo;
        if (p->pos + 1 < p->n && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
            p->pos++;
            if (p->s[p->pos] == '\\') {
                p->pos++;
                if (it__rxp_escape(p, &is_set, &hi, 1)) return -1;
                if (is_set) return it__rxp_fail(p, "a class cannot end a range");
            } else
                it__rxp_char(p, &hi);
            if (hi < lo) return it__rxp_fail(p, "reversed range in a class");
        }
        if (it__rxp_range(p, lo, hi)) return -1;
    }
    it__rxp_class_end(p, cls);
    node = it__rxp_node(p, IT__RXN_CLASS, 0, 0);
    if (node >= 0) p->nodes[node].cls = cls;
    return node;
}
static int it__rxp_alt(it__rxp *p);
static int it__rxp_atom(it__rxp *p) {
    uint8_t c = p->s[p->pos];
    int cls, node, is_set;
    uint32_t cp;
    if (c == '(') {
        int saved = p->icase, look = 0, neg = 0, inner;
        p->pos++;
        if (++p->depth > 32) return it__rxp_fail(p, "groups nested deeper than 32");
        if (p->pos < p->n && p->s[p->pos] == '?') {
            p->pos++;
            if (p->pos < p->n && p->s[p->pos] == ':') p->pos++;
            else if (p->pos < p->n && (p->s[p->pos] == '=' || p->s[p->pos] == '!')) {
                look = 1;
                neg = p->s[p->pos] == '!';
                p->pos++;
            } else if (p->pos + 1 < p->n && p->s[p->pos] == 'i' && p->s[p->pos + 1] == ':') {
                p->icase = 1;
                p->pos += 2;
            } else
                return it__rxp_fail(p, "unsupported group syntax (?...)");
        }
        inner = it__rxp_alt(p);
        p->icase = saved;
        p->depth--;
        if (inner < 0) return -1;
        if (p->pos >= p->n || p->s[p->pos] != ')') return it__rxp_fail(p, "missing )");
        p->pos++;
        if (!look) return inner;
        node = it__rxp_node(p, IT__RXN_LOOK, inner, 0);
        if (node >= 0) p->nodes[node].neg = neg;
        return node;
    }
    if (c == '^' || c == '$') return it__rxp_fail(p, "anchors are not supported");
    if (c == ')' || c == '|') return it__rxp_fail(p, "empty expression");
    if (c == '*' || c == '+' || c == '?' || c == '{') return it__rxp_fail(p, "quantifier without an atom");
    if (c == '[') {
        p->pos++;
        return it__rxp_bracket(p);
    }
    cls = it__rxp_class_begin(p, 0);
    if (cls < 0) return -1;
    if (c == '.') {
        p->pos++;
        if (it__rxp_item(p, IT__RX_RANGE, 0, '\n', '\n')) return -1;
        p->rx->classes[cls].neg = 1;
    } else if (c == '\\') {
        p->pos++;
        if (it__rxp_escape(p, &is_set, &cp, 0)) return -1;
        if (!is_set && it__rxp_range(p, cp, cp)) return -1;
    } else {
        it__rxp_char(p, &cp);
        if (it__rxp_range(p, cp, cp)) return -1;
    }
    it__rxp_class_end(p, cls);
    node = it__rxp_node(p, IT__RXN_CLASS, 0, 0);
    if (node >= 0) p->nodes[node].cls = cls;
    return node;
}
static int it__rxp_number(it__rxp *p, int *v) {
    int k = 0;
    *v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        if (*v > 1000) return it__rxp_fail(p, "repeat count above 1000");
        *v = *v * 10 + (p->s[p->pos++] - '0');
        k++;
    }
    return k ? 0 : -1;
}
static int it__rxp_nullable(const it__rxp *p, int node) {
    const it__rxn *x = &p->nodes[node];
    switch (x->kind) {
    case IT__RXN_CLASS: return 0;
    case IT__RXN_CAT: return it__rxp_nullable(p, x->a) && it__rxp_nullable(p, x->b);
    case IT__RXN_ALT: return it__rxp_nullable(p, x->a) || it__rxp_nullable(p, x->b);
    case IT__RXN_REPEAT: return x->min == 0 || it__rxp_nullable(p, x->a);
    default: return 1;
    }
}
static int it__rxp_repeat(it__rxp *p) {
    int atom = it__rxp_atom(p);
    while (atom >= 0 && p->pos < p->n) {
        uint8_t c = p->s[p->pos];
        int min, max, node;
        size_t at = p->pos;
        if (c == '*') { min = 0; max = -1; p->pos++; }
        else if (c == '+') { min = 1; max = -1; p->pos++; }
        else if (c == '?') { min = 0; max = 1; p->pos++; }
        else if (c == '{') {
            p->pos++;
            if (it__rxp_number(p, &min)) { p->pos = at; return it__rxp_fail(p, "bad {n,m} repeat"); }
            max = min;
            if (p->pos < p->n && p->s[p->pos] == ',') {
                p->pos++;
                max = -1;
                if (p->pos < p->n && p->s[p->pos] != '}' && it__rxp_number(p, &max)) return it__rxp_fail(p, "bad {n,m} repeat");
            }
            if (p->pos >= p->n || p->s[p->pos] != '}' || (max >= 0 && max < min)) return it__rxp_fail(p, "bad {n,m} repeat");
            p->pos++;
        } else
            break;
        if (p->nodes[atom].kind == IT__RXN_LOOK) return it__rxp_fail(p, "quantified lookaround");
        if (max < 0 && p->nodes[atom].kind != IT__RXN_CLASS && it__rxp_nullable(p, atom))
            return it__rxp_fail(p, "unbounded repeat of an expression that can match nothing");
        node = it__rxp_node(p, IT__RXN_REPEAT, atom, 0);
        if (node < 0) return -1;
        p->nodes[node].min = min;
        p->nodes[node].max = max;
        p->nodes[node].greedy = 1;
        if (p->pos < p->n && p->s[p->pos] == '?') {
            p->nodes[node].greedy = 0;
            p->pos++;
        } else if (p->pos < p->n && p->s[p->pos] == '+')
            return it__rxp_fail(p, "possessive quantifiers are not supported");
        atom = node;
    }
    return atom;
}
static int it__rxp_cat(it__rxp *p) {
    int left = -1;
    while (p->pos < p->n && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
        int right = it__rxp_repeat(p);
        if (right < 0) return -1;
        left = left < 0 ? right : it__rxp_node(p, IT__RXN_CAT, left, right);
        if (left < 0) return -1;
    }
    return left < 0 ? it__rxp_node(p, IT__RXN_EMPTY, 0, 0) : left;
}
static int it__rxp_alt(it__rxp *p) {
    int left = it__rxp_cat(p);
    while (left >= 0 && p->pos < p->n && p->s[p->pos] == '|') {
        int right;
        p->pos++;
        right = it__rxp_cat(p);
        if (right < 0) return -1;
        left = it__rxp_node(p, IT__RXN_ALT, left, right);
    }
    return left;
}

static int it__rx_emit(it__rx *rx, int op) {
    if (rx->n_code == rx->cap_code) {
        int cap = rx->cap_code ? rx->cap_code * 2 : 64;
        it__rx_inst *nc;
        if (rx->n_code > 100000) return -1;
        nc = (it__rx_inst *)it__realloc(rx->ctx, rx->code, (size_t)rx->n_code * sizeof(it__rx_inst), (size_t)cap * sizeof(it__rx_inst));
        if (!nc) return -1;
        rx->code = nc;
        rx->cap_code = cap;
    }
    memset(&rx->code[rx->n_code], 0, sizeof(it__rx_inst));
    rx->code[rx->n_code].op = op;
    return rx->n_code++;
}
/* Code for node; -1 when the program grows past its limit or memory runs out. */
static int it__rx_gen(it__rx *rx, const it__rxp *p, int node) {
    const it__rxn *x = &p->nodes[node];
    int i, at, k;
    switch (x->kind) {
    case IT__RXN_EMPTY: return 0;
    case IT__RXN_CLASS:
        if ((at = it__rx_emit(rx, IT__RX_CHAR)) < 0) return -1;
        rx->code[at].cls = x->cls;
        return 0;
    case IT__RXN_CAT: return it__rx_gen(rx, p, x->a) || it__rx_gen(rx, p, x->b) ? -1 : 0;
    case IT__RXN_ALT: {
        int split = it__rx_emit(rx, IT__RX_SPLIT), jmp;
        if (split < 0 || it__rx_gen(rx, p, x->a)) return -1;
        if ((jmp = it__rx_emit(rx, IT__RX_JMP)) < 0) return -1;
        rx->code[split].x = split + 1;
        rx->code[split].y = rx->n_code;
        if (it__rx_gen(rx, p, x->b)) return -1;
        rx->code[jmp].x = rx->n_code;
        return 0;
    }
    case IT__RXN_LOOK: {
        int look = it__rx_emit(rx, IT__RX_LOOK);
        if (look < 0 || it__rx_gen(rx, p, x->a) || it__rx_emit(rx, IT__RX_MATCH) < 0) return -1;
        rx->code[look].x = look + 1;
        rx->code[look].y = rx->n_code;
        rx->code[look].neg = x->neg;
        return 0;
    }
    case IT__RXN_REPEAT:
        if (p->nodes[x->a].kind == IT__RXN_CLASS) {
            if ((at = it__rx_emit(rx, IT__RX_REPEAT)) < 0) return -1;
            rx->code[at].cls = p->nodes[x->a].cls;
            rx->code[at].min = x->min;
            rx->code[at].max = x->max;
            rx->code[at].greedy = x->greedy;
            return 0;
        }
        for (i = 0; i < x->min; i++)
            if (it__rx_gen(rx, p, x->a)) return -1;
        if (x->max < 0) { /* L: SPLIT body, out; body; JMP L */
            int split = it__rx_emit(rx, IT__RX_SPLIT), jmp;
            if (split < 0 || it__rx_gen(rx, p, x->a) || (jmp = it__rx_emit(rx, IT__RX_JMP)) < 0) return -1;
            rx->code[jmp].x = split;
            rx->code[split].x = x->greedy ? split + 1 : rx->n_code;
            rx->code[split].y = x->greedy ? rx->n_code : split + 1;
            return 0;
        }
        { /* nested optionals (body (body ...)?)?: each one's "skip" leaves the whole repeat */
            int splits[16], n_splits = 0;
            if (x->max - x->min > 16) return -1;
            for (k = x->min; k < x->max; k++) {
                int split = it__rx_emit(rx, IT__RX_SPLIT);
                if (split < 0 || it__rx_gen(rx, p, x->a)) return -1;
                splits[n_splits++] = split;
            }
            for (k = 0; k < n_splits; k++) {
                rx->code[splits[k]].x = x->greedy ? splits[k] + 1 : rx->n_code;
                rx->code[splits[k]].y = x->greedy ? rx->n_code : splits[k] + 1;
            }
        }
        return 0;
    default: return -1;
    }
}

/* Compiles pattern (valid UTF-8) into rx. 0, or -1 with the reason in err. */
static int it__rx_compile(it_context *ctx, it__rx *rx, const char *pattern, size_t n, char *err, size_t err_size) {
    it__rxp p;
    int root;
    memset(rx, 0, sizeof *rx);
    rx->ctx = ctx;
    memset(&p, 0, sizeof p);
    p.s = (const uint8_t *)pattern;
    p.n = n;
    p.rx = rx;
    if (it__utf8_check(p.s, n) != n) {
        snprintf(err, err_size, "the pattern is not valid UTF-8");
        return -1;
    }
    root = it__rxp_alt(&p);
    if (root >= 0 && p.pos < p.n) root = it__rxp_fail(&p, "unbalanced )");
    if (root >= 0 && (it__rx_gen(rx, &p, root) || it__rx_emit(rx, IT__RX_MATCH) < 0)) root = it__rxp_fail(&p, "pattern too large");
    it__free(rx->ctx, p.nodes);
    if (root < 0) {
        snprintf(err, err_size, "%s", p.err);
        it__rx_free(rx);
        return -1;
    }
    return 0;
}

static int it__rx_class_has(const it__rx *rx, int cls, uint32_t cp) {
    const it__rx_class *c = &rx->classes[cls];
    int i, gc = -1;
    for (i = 0; i < c->n; i++) {
        const it__rx_item *it = &rx->items[c->first + i];
        int hit;
        if (it->kind == IT__RX_RANGE) hit = cp >= it->lo && cp <= it->hi;
        else if (it->kind == IT__RX_SPACE) hit = it__uc_space(cp);
        else {
            if (gc < 0) gc = it__uc_gc(cp);
            hit = (it->lo >> gc) & 1u;
        }
        if (hit != it->neg) return !c->neg;
    }
    return c->neg;
}

/* Backtracking: entries (kind, instruction, position, count). */
enum { IT__RXB_ALT = 1, IT__RXB_GREEDY, IT__RXB_LAZY };
typedef struct it__rxb {
    int kind, pc, count;
    size_t pos;
} it__rxb;
typedef struct it__rx_stack {
    it_context *ctx;
    it__rxb *e;
    size_t n, cap;
} it__rx_stack;
static int it__rx_push(it__rx_stack *st, int kind, int pc, size_t pos, int count) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        it__rxb *ne = (it__rxb *)it__realloc(st->ctx, st->e, st->n * sizeof(it__rxb), cap * sizeof(it__rxb));
        if (!ne) return -1;
        st->e = ne;
        st->cap = cap;
    }
    st->e[st->n].kind = kind;
    st->e[st->n].pc = pc;
    st->e[st->n].pos = pos;
    st->e[st->n].count = count;
    st->n++;
    return 0;
}
/* Runs the program from pc at s[pos] (s[0, n) valid UTF-8). 1 with *end on a match, 0 when none,
   -1 out of memory. */
static int it__rx_run(const it__rx *rx, int pc, const uint8_t *s, size_t n, size_t pos, it__rx_stack *st, size_t *end) {
    size_t base = st->n, len;
    for (;;) {
        const it__rx_inst *in = &rx->code[pc];
        switch (in->op) {
        case IT__RX_CHAR:
            if (pos < n && it__rx_class_has(rx, in->cls, it__utf8_get(s + pos, &len))) {
                pos += len;
                pc++;
                continue;
            }
            goto fail;
        case IT__RX_REPEAT: {
            int count = 0, limit = in->greedy ? in->max : in->min;
            while ((limit < 0 || count < limit) && pos < n && it__rx_class_has(rx, in->cls, it__utf8_get(s + pos, &len))) {
                pos += len;
                count++;
            }
            if (count < in->min) goto fail;
            if (in->greedy ? count > in->min : (in->max < 0 || count < in->max))
                if (it__rx_push(st, in->greedy ? IT__RXB_GREEDY : IT__RXB_LAZY, pc, pos, count)) return -1;
            pc++;
            continue;
        }
        case IT__RX_SPLIT:
            if (it__rx_push(st, IT__RXB_ALT, in->y, pos, 0)) return -1;
            pc = in->x;
            continue;
        case IT__RX_JMP: pc = in->x; continue;
        case IT__RX_LOOK: {
            size_t ignored;
            int r = it__rx_run(rx, in->x, s, n, pos, st, &ignored);
            if (r < 0) return -1;
            if ((r == 1) != in->neg) {
                pc = in->y;
                continue;
            }
            goto fail;
        }
        case IT__RX_MATCH:
            *end = pos;
            st->n = base;
            return 1;
        default: return -1;
        }
    fail:
        for (;;) {
            it__rxb *e;
            if (st->n == base) return 0;
            e = &st->e[st->n - 1];
            if (e->kind == IT__RXB_ALT) {
                pc = e->pc;
                pos = e->pos;
                st->n--;
                break;
            }
            if (e->kind == IT__RXB_GREEDY) { /* give back one character */
                const it__rx_inst *rep = &rx->code[e->pc];
                do e->pos--;
                while ((s[e->pos] & 0xC0) == 0x80);
                e->count--;
                pos = e->pos;
                pc = e->pc + 1;
                if (e->count <= rep->min) st->n--;
                break;
            } else { /* lazy: take one more character */
                const it__rx_inst *rep = &rx->code[e->pc];
                if (e->pos < n && it__rx_class_has(rx, rep->cls, it__utf8_get(s + e->pos, &len))) {
                    e->pos += len;
                    e->count++;
                    pos = e->pos;
                    pc = e->pc + 1;
                    if (rep->max >= 0 && e->count >= rep->max) st->n--;
                    break;
                }
                st->n--;
            }
        }
    }
}

/* >>hf_load  the tokenizer description, read from tokenizer.json and validated once */
#define IT__HF_MAX_FILE (512u << 20)
#define IT__HF_MAX_ADDED 65536
#define IT__HF_MAX_STEPS 64 /* normalizers, pre-tokenizers or decoders in one file */
/* Split behaviours, as tokenizers' SplitDelimiterBehavior */
enum { IT__HFS_REMOVED = 1, IT__HFS_ISOLATED, IT__HFS_MERGED_PREVIOUS, IT__HFS_MERGED_NEXT, IT__HFS_CONTIGUOUS };
enum { IT__HF_PREPEND_ALWAYS = 1, IT__HF_PREPEND_FIRST, IT__HF_PREPEND_NEVER };
enum { IT__HFN_NFC = 1, IT__HFN_NFD, IT__HFN_PREPEND, IT__HFN_REPLACE, IT__HFN_STRIP };
enum { IT__HFP_BYTELEVEL = 1, IT__HFP_SPLIT, IT__HFP_METASPACE };
enum { IT__HFD_BYTELEVEL = 1, IT__HFD_METASPACE, IT__HFD_REPLACE, IT__HFD_BYTEFALLBACK, IT__HFD_FUSE, IT__HFD_STRIP };

typedef struct it__hf_str {
    uint32_t off, len; /* into it__hf.strs */
} it__hf_str;
typedef struct it__hf_step {
    int kind;
    it__hf_str a, b;  /* Prepend: a; Replace: pattern a, content b; Split: literal a; Strip (decoder): a */
    int left, right;  /* Strip: normalizer flags, or decoder start / stop counts */
    int rx;           /* Split / ByteLevel regex: index in it__hf.rx, -1 for a literal */
    int behavior, invert, add_prefix_space, use_regex, prepend_scheme, split;
    uint32_t replacement; /* Metaspace */
} it__hf_step;
typedef struct it__hf_added {
    int32_t id;
    it__hf_str content;
    uint8_t special, lstrip, rstrip, normalized;
} it__hf_added;

typedef struct it__hf {
    it_context *ctx;     /* whose allocator */
    int n_ids;           /* the id space: every id below it may have a token */
    it__hf_str *token;   /* [n_ids] the token string of each id (added tokens by content); len 0 = none */
    uint8_t *kind;       /* [n_ids] 0 none, 1 model vocabulary, 2 added, 3 added special */
    it__bytes strs;
    int32_t *vmap;       /* model vocabulary: string -> id, open addressing, -1 empty */
    size_t vmask;
    int n_merges;
    uint64_t *mkey;      /* (left << 32 | right) -> rank, open addressing, mrank -1 empty */
    int32_t *mrank, *mnew; /* mnew[rank] = id of the merged token */
    size_t mmask;
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id, byte_id[256];
    it__hf_added *added;
    int n_added;
    it__hf_step *norm, *pre, *dec;
    int n_norm, n_pre, n_dec, has_decoder;
    it__rx *rx;
    int n_rx;
    int32_t *tmpl;       /* ids before $A (tmpl[0, n_tmpl_pre)) and after it */
    int n_tmpl_pre, n_tmpl_post;
    int32_t bos_id, eos_id;
    uint32_t byte_char[256]; /* ByteLevel: byte -> code point (GPT-2's bytes_to_unicode) */
    int16_t char_byte[324];  /* and back, -1 for code points that stand for no byte */
} it__hf;

static void it__hf_free(it__hf *hf) {
    int i;
    if (!hf) return;
    /* the regexes free through their own ctx */
    it__free(hf->ctx, hf->token);
    it__free(hf->ctx, hf->kind);
    it__bytes_free(&hf->strs);
    it__free(hf->ctx, hf->vmap);
    it__free(hf->ctx, hf->mkey);
    it__free(hf->ctx, hf->mrank);
    it__free(hf->ctx, hf->mnew);
    it__free(hf->ctx, hf->added);
    it__free(hf->ctx, hf->norm);
    it__free(hf->ctx, hf->pre);
    it__free(hf->ctx, hf->dec);
    for (i = 0; i < hf->n_rx; i++) it__rx_free(&hf->rx[i]);
    it__free(hf->ctx, hf->rx);
    it__free(hf->ctx, hf->tmpl);
    it__free(hf->ctx, hf);
}
static const uint8_t *it__hf_s(const it__hf *hf, it__hf_str s) { return hf->strs.p + s.off; }

static int32_t it__hf_vocab_find(const it__hf *hf, const uint8_t *s, size_t n) {
    size_t i = it__tok_hash_bytes(s, n) & hf->vmask;
    while (hf->vmap[i] >= 0) {
        it__hf_str t = hf->token[hf->vmap[i]];
        if (t.len == n && memcmp(it__hf_s(hf, t), s, n) == 0) return hf->vmap[i];
        i = (i + 1) & hf->vmask;
    }
    return -1;
}
static int32_t it__hf_merge_rank(const it__hf *hf, int32_t l, int32_t r) {
    uint64_t key = it__tok_pair_key(l, r);
    size_t i = it__tok_hash_pair(key) & hf->mmask;
    while (hf->mrank[i] >= 0) {
        if (hf->mkey[i] == key) return hf->mrank[i];
        i = (i + 1) & hf->mmask;
    }
    return -1;
}

/* Loader context: the parsed file, its name for messages, the result. */
typedef struct it__hfl {
    it_context *ctx;
    const char *path;
    it__json j;
    it__hf *hf;
    it_result r; /* the first error */
} it__hfl;

static it_result it__hfl_err(it__hfl *L, it_result r, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->r == IT_OK) L->r = r;
    return it_context_error(L->ctx, r, "tokenizer '%s': %s", L->path, msg);
}
/* Member key of obj of JSON type `type` (IT__J_TRUE also accepts false); -1 when absent or null
   and not required; -2 after an error. */
static int it__hfl_get(it__hfl *L, int obj, const char *where, const char *key, int type, int required) {
    static const char *const names[] = {"?", "null", "a boolean", "a boolean", "a number", "a string", "an array", "an object"};
    int v = it__jget(&L->j, obj, key), t;
    if (v < 0 || L->j.v[v].type == IT__J_NULL) {
        if (!required) return -1;
        it__hfl_err(L, IT_ERR_FORMAT, "%s has no \"%s\"", where, key);
        return -2;
    }
    t = L->j.v[v].type;
    if (t == IT__J_FALSE) t = IT__J_TRUE;
    if (t != type) {
        it__hfl_err(L, IT_ERR_FORMAT, "%s.%s is %s, expected %s", where, key, names[L->j.v[v].type], names[type]);
        return -2;
    }
    return v;
}
static int it__hfl_bool(it__hfl *L, int obj, const char *where, const char *key, int dflt, int *out) {
    int v = it__hfl_get(L, obj, where, key, IT__J_TRUE, 0);
    if (v == -2) return -1;
    *out = v < 0 ? dflt : L->j.v[v].type == IT__J_TRUE;
    return 0;
}
static int it__hfl_int(it__hfl *L, int obj, const char *where, const char *key, int required, long lo, long hi, long *out) {
    int v = it__hfl_get(L, obj, where, key, IT__J_NUM, required);
    if (v == -2) return -1;
    if (v < 0) return 0;
    if (!L->j.v[v].is_int || L->j.v[v].i64 < lo || L->j.v[v].i64 > hi) {
        it__hfl_err(L, IT_ERR_FORMAT, "%s.%s is %g, expected an integer in [%ld, %ld]", where, key, L->j.v[v].num, lo, hi);
        return -1;
    }
    *out = (long)L->j.v[v].i64;
    return 0;
}
static int it__hfl_str(it__hfl *L, it__hf_str *out, const char *s, size_t n) {
    if (n > IT__JSON_MAX_STRING) return -1;
    out->off = (uint32_t)L->hf->strs.n;
    out->len = (uint32_t)n;
    it__bytes_put(&L->hf->strs, s, n);
    if (L->hf->strs.failed || L->hf->strs.n > 0xFFFFFFFFu - IT__JSON_MAX_STRING) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory for token strings");
        return -1;
    }
    return 0;
}
/* A string member kept in the string arena. */
static int it__hfl_kstr(it__hfl *L, int obj, const char *where, const char *key, int required, it__hf_str *out) {
    int v = it__hfl_get(L, obj, where, key, IT__J_STR, required);
    if (v == -2) return -1;
    if (v < 0) {
        out->off = out->len = 0;
        return 0;
    }
    return it__hfl_str(L, out, L->j.v[v].str, L->j.v[v].len);
}
/* The only code point of a one-character string member. */
static int it__hfl_char(it__hfl *L, int obj, const char *where, const char *key, uint32_t dflt, uint32_t *out) {
    int v = it__hfl_get(L, obj, where, key, IT__J_STR, 0);
    size_t len;
    if (v == -2) return -1;
    if (v < 0) {
        *out = dflt;
        return 0;
    }
    if (L->j.v[v].len == 0 || (*out = it__utf8_get((const uint8_t *)L->j.v[v].str, &len), len != L->j.v[v].len)) {
        it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s.%s \"%s\" is not one character", where, key, L->j.v[v].str);
        return -1;
    }
    return 0;
}
/* "pattern": {"String": s} or {"Regex": r}: a literal (rx -1) or a compiled regex. */
static int it__hfl_pattern(it__hfl *L, int obj, const char *where, int regex_ok, it__hf_step *st) {
    int v = it__hfl_get(L, obj, where, "pattern", IT__J_OBJ, 1), s, r;
    char err[200];
    it__rx *bigger;
    if (v < 0) return -1;
    s = it__hfl_get(L, v, where, "String", IT__J_STR, 0);
    r = it__hfl_get(L, v, where, "Regex", IT__J_STR, 0);
    if (s == -2 || r == -2) return -1;
    if (s >= 0) {
        st->rx = -1;
        if (L->j.v[s].len == 0) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s.pattern.String is empty", where);
            return -1;
        }
        return it__hfl_str(L, &st->a, L->j.v[s].str, L->j.v[s].len);
    }
    if (r < 0) {
        it__hfl_err(L, IT_ERR_FORMAT, "%s.pattern holds neither \"String\" nor \"Regex\"", where);
        return -1;
    }
    if (!regex_ok) {
        it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s: a Regex pattern is supported in Split only", where);
        return -1;
    }
    bigger = (it__rx *)it__realloc(L->ctx, L->hf->rx, (size_t)L->hf->n_rx * sizeof(it__rx), (size_t)(L->hf->n_rx + 1) * sizeof(it__rx));
    if (!bigger) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    L->hf->rx = bigger;
    if (it__rx_compile(L->ctx, &L->hf->rx[L->hf->n_rx], L->j.v[r].str, L->j.v[r].len, err, sizeof err)) {
        it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s: regex \"%.120s\": %s", where, L->j.v[r].str, err);
        return -1;
    }
    st->rx = L->hf->n_rx++;
    return 0;
}

/* GPT-2's pre-tokenizer pattern, which ByteLevel uses when use_regex is true. */
static const char it__hf_gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int it__hfl_prepend_scheme(it__hfl *L, int obj, const char *where, int *out) {
    int v = it__hfl_get(L, obj, where, "prepend_scheme", IT__J_STR, 0), add;
    if (v == -2) return -1;
    if (v < 0) { /* files from before prepend_scheme carry add_prefix_space */
        if (it__hfl_bool(L, obj, where, "add_prefix_space", 1, &add)) return -1;
        *out = add ? IT__HF_PREPEND_ALWAYS : IT__HF_PREPEND_NEVER;
        return 0;
    }
    if (!strcmp(L->j.v[v].str, "always")) *out = IT__HF_PREPEND_ALWAYS;
    else if (!strcmp(L->j.v[v].str, "first")) *out = IT__HF_PREPEND_FIRST;
    else if (!strcmp(L->j.v[v].str, "never")) *out = IT__HF_PREPEND_NEVER;
    else {
        it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s.prepend_scheme \"%s\" is unknown", where, L->j.v[v].str);
        return -1;
    }
    return 0;
}

/* Appends the steps of one normalizer / pre-tokenizer / decoder object (Sequence flattened).
   what: 0 normalizer, 1 pre-tokenizer, 2 decoder. */
static int it__hfl_steps(it__hfl *L, int obj, int what, const char *where, it__hf_step **steps, int *n, int depth) {
    static const char *const seq_key[3] = {"normalizers", "pretokenizers", "decoders"};
    int tv = it__hfl_get(L, obj, where, "type", IT__J_STR, 1), c;
    const char *type;
    it__hf_step st, *bigger;
    char sub[96];
    if (tv < 0) return -1;
    type = L->j.v[tv].str;
    if (!strcmp(type, "Sequence")) {
        int arr = it__hfl_get(L, obj, where, seq_key[what], IT__J_ARR, 1), k = 0;
        if (arr < 0) return -1;
        if (depth > 4) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s: Sequence nested deeper than 4", where);
            return -1;
        }
        for (c = L->j.v[arr].first; c >= 0; c = L->j.v[c].next, k++) {
            snprintf(sub, sizeof sub, "%.60s.%s[%d]", where, seq_key[what], k);
            if (L->j.v[c].type != IT__J_OBJ) {
                it__hfl_err(L, IT_ERR_FORMAT, "%s is not an object", sub);
                return -1;
            }
            if (it__hfl_steps(L, c, what, sub, steps, n, depth + 1)) return -1;
        }
        return 0;
    }
    memset(&st, 0, sizeof st);
    st.rx = -1;
    if (what == 0) {
        if (!strcmp(type, "NFC")) st.kind = IT__HFN_NFC;
        else if (!strcmp(type, "NFD")) st.kind = IT__HFN_NFD;
        else if (!strcmp(type, "Prepend")) {
            st.kind = IT__HFN_PREPEND;
            if (it__hfl_kstr(L, obj, where, "prepend", 1, &st.a)) return -1;
        } else if (!strcmp(type, "Replace")) {
            st.kind = IT__HFN_REPLACE;
            if (it__hfl_pattern(L, obj, where, 0, &st) || it__hfl_kstr(L, obj, where, "content", 1, &st.b)) return -1;
        } else if (!strcmp(type, "Strip")) {
            st.kind = IT__HFN_STRIP;
            if (it__hfl_bool(L, obj, where, "strip_left", 0, &st.left) ||
                it__hfl_bool(L, obj, where, "strip_right", 0, &st.right))
                return -1;
        }
    } else if (what == 1) {
        if (!strcmp(type, "ByteLevel")) {
            st.kind = IT__HFP_BYTELEVEL;
            if (it__hfl_bool(L, obj, where, "add_prefix_space", 1, &st.add_prefix_space) ||
                it__hfl_bool(L, obj, where, "use_regex", 1, &st.use_regex))
                return -1;
            if (st.use_regex) { /* one compiled copy however many ByteLevel steps there are */
                int k;
                for (k = 0; k < *n && st.rx < 0; k++)
                    if ((*steps)[k].kind == IT__HFP_BYTELEVEL && (*steps)[k].use_regex) st.rx = (*steps)[k].rx;
                if (st.rx < 0) {
                    char err[200];
                    it__rx *bigger_rx = (it__rx *)it__realloc(L->ctx, L->hf->rx, (size_t)L->hf->n_rx * sizeof(it__rx),
                                                                   (size_t)(L->hf->n_rx + 1) * sizeof(it__rx));
                    if (!bigger_rx) {
                        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory");
                        return -1;
                    }
                    L->hf->rx = bigger_rx;
                    if (it__rx_compile(L->ctx, &L->hf->rx[L->hf->n_rx], it__hf_gpt2_pattern, sizeof it__hf_gpt2_pattern - 1, err,
                                       sizeof err)) {
                        it__hfl_err(L, IT_ERR_FORMAT, "internal: GPT-2 pattern: %s", err);
                        return -1;
                    }
                    st.rx = L->hf->n_rx++;
                }
            }
        } else if (!strcmp(type, "Split")) {
            int bv = it__hfl_get(L, obj, where, "behavior", IT__J_STR, 1);
            const char *b;
            st.kind = IT__HFP_SPLIT;
            if (bv < 0 || it__hfl_pattern(L, obj, where, 1, &st) || it__hfl_bool(L, obj, where, "invert", 0, &st.invert))
                return -1;
            b = L->j.v[bv].str;
            st.behavior = !strcmp(b, "Removed") ? IT__HFS_REMOVED : !strcmp(b, "Isolated") ? IT__HFS_ISOLATED
                        : !strcmp(b, "MergedWithPrevious") ? IT__HFS_MERGED_PREVIOUS
                        : !strcmp(b, "MergedWithNext") ? IT__HFS_MERGED_NEXT : !strcmp(b, "Contiguous") ? IT__HFS_CONTIGUOUS : 0;
            if (!st.behavior) {
                it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s.behavior \"%s\" is unknown", where, b);
                return -1;
            }
        } else if (!strcmp(type, "Metaspace")) {
            st.kind = IT__HFP_METASPACE;
            if (it__hfl_char(L, obj, where, "replacement", 0x2581, &st.replacement) ||
                it__hfl_prepend_scheme(L, obj, where, &st.prepend_scheme) || it__hfl_bool(L, obj, where, "split", 1, &st.split))
                return -1;
        }
    } else {
        if (!strcmp(type, "ByteLevel")) st.kind = IT__HFD_BYTELEVEL;
        else if (!strcmp(type, "ByteFallback")) st.kind = IT__HFD_BYTEFALLBACK;
        else if (!strcmp(type, "Fuse")) st.kind = IT__HFD_FUSE;
        else if (!strcmp(type, "Metaspace")) {
            st.kind = IT__HFD_METASPACE;
            if (it__hfl_char(L, obj, where, "replacement", 0x2581, &st.replacement) ||
                it__hfl_prepend_scheme(L, obj, where, &st.prepend_scheme))
                return -1;
        } else if (!strcmp(type, "Replace")) {
            st.kind = IT__HFD_REPLACE;
            if (it__hfl_pattern(L, obj, where, 0, &st) || it__hfl_kstr(L, obj, where, "content", 1, &st.b)) return -1;
        } else if (!strcmp(type, "Strip")) {
            long start = 0, stop = 0;
            st.kind = IT__HFD_STRIP;
            if (it__hfl_char(L, obj, where, "content", ' ', &st.replacement) ||
                it__hfl_int(L, obj, where, "start", 1, 0, 1 << 20, &start) || it__hfl_int(L, obj, where, "stop", 1, 0, 1 << 20, &stop))
                return -1;
            st.left = (int)start;
            st.right = (int)stop;
        }
    }
    if (!st.kind) {
        static const char *const kinds[3] = {"normalizer", "pre-tokenizer", "decoder"};
        it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s: %s type \"%s\" is not supported", where, kinds[what], type);
        return -1;
    }
    if (*n >= IT__HF_MAX_STEPS) {
        it__hfl_err(L, IT_ERR_FORMAT, "%s: more than %d steps", where, IT__HF_MAX_STEPS);
        return -1;
    }
    bigger = (it__hf_step *)it__realloc(L->ctx, *steps, (size_t)*n * sizeof(it__hf_step), (size_t)(*n + 1) * sizeof(it__hf_step));
    if (!bigger) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    *steps = bigger;
    (*steps)[(*n)++] = st;
    return 0;
}

/* The BPE model: vocabulary, merges, flags. */
static int it__hfl_model(it__hfl *L, int model) {
    it__hf *hf = L->hf;
    int tv = it__hfl_get(L, model, "model", "type", IT__J_STR, 0), vocab, merges, c, k;
    long max_id = -1;
    size_t cap, mark;
    if (tv == -2) return -1;
    if (tv >= 0 && strcmp(L->j.v[tv].str, "BPE") != 0) {
        it__hfl_err(L, IT_ERR_UNSUPPORTED, "model type \"%s\" is not supported (BPE only)", L->j.v[tv].str);
        return -1;
    }
    {
        static const char *const unsupported[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
        int v;
        for (k = 0; k < 2; k++) {
            v = it__hfl_get(L, model, "model", unsupported[k], IT__J_STR, 0);
            if (v == -2) return -1;
            if (v >= 0 && L->j.v[v].len) {
                it__hfl_err(L, IT_ERR_UNSUPPORTED, "model.%s \"%s\" is not supported", unsupported[k], L->j.v[v].str);
                return -1;
            }
        }
        v = it__hfl_get(L, model, "model", "dropout", IT__J_NUM, 0);
        if (v == -2) return -1;
        if (v >= 0 && L->j.v[v].num != 0.0) {
            it__hfl_err(L, IT_ERR_UNSUPPORTED, "model.dropout %g is not supported (encoding would be random)", L->j.v[v].num);
            return -1;
        }
    }
    if (it__hfl_bool(L, model, "model", "byte_fallback", 0, &hf->byte_fallback) ||
        it__hfl_bool(L, model, "model", "fuse_unk", 0, &hf->fuse_unk) ||
        it__hfl_bool(L, model, "model", "ignore_merges", 0, &hf->ignore_merges))
        return -1;
    vocab = it__hfl_get(L, model, "model", "vocab", IT__J_OBJ, 1);
    merges = it__hfl_get(L, model, "model", "merges", IT__J_ARR, 0);
    if (vocab < 0 || merges == -2) return -1;
    if (L->j.v[vocab].n > IT_TOKENIZER_MAX_VOCAB) {
        it__hfl_err(L, IT_ERR_FORMAT, "model.vocab has %d tokens, more than the limit of %d", L->j.v[vocab].n, IT_TOKENIZER_MAX_VOCAB);
        return -1;
    }
    for (c = L->j.v[vocab].first; c >= 0; c = L->j.v[c].next) {
        const it__jv *v = &L->j.v[c];
        if (v->type != IT__J_NUM || !v->is_int || v->i64 < 0 || v->i64 >= IT_TOKENIZER_MAX_VOCAB) {
            it__hfl_err(L, IT_ERR_FORMAT, "model.vocab[\"%.60s\"] is not an id in [0, %d)", v->key, IT_TOKENIZER_MAX_VOCAB);
            return -1;
        }
        if (v->i64 > max_id) max_id = (long)v->i64;
    }
    /* the id space also covers added tokens */
    {
        int at = it__hfl_get(L, 0, "tokenizer.json", "added_tokens", IT__J_ARR, 0);
        if (at == -2) return -1;
        if (at >= 0)
            for (c = L->j.v[at].first; c >= 0; c = L->j.v[c].next) {
                int idv = it__jget(&L->j, c, "id");
                if (idv >= 0 && L->j.v[idv].type == IT__J_NUM && L->j.v[idv].is_int && L->j.v[idv].i64 >= 0 &&
                    L->j.v[idv].i64 < IT_TOKENIZER_MAX_VOCAB && L->j.v[idv].i64 > max_id)
                    max_id = (long)L->j.v[idv].i64;
            }
    }
    hf->n_ids = (int)(max_id + 1);
    hf->token = (it__hf_str *)it__alloc_array(L->ctx, (size_t)hf->n_ids, sizeof(it__hf_str));
    hf->kind = (uint8_t *)it__alloc_array(L->ctx, (size_t)hf->n_ids, 1);
    for (cap = 16; cap < (size_t)L->j.v[vocab].n * 2; cap *= 2) {}
    hf->vmask = cap - 1;
    hf->vmap = (int32_t *)it__alloc_array(L->ctx, cap, sizeof(int32_t));
    if (!hf->token || !hf->kind || !hf->vmap) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory for %d tokens", hf->n_ids);
        return -1;
    }
    memset(hf->token, 0, (size_t)hf->n_ids * sizeof(it__hf_str));
    memset(hf->kind, 0, (size_t)hf->n_ids);
    for (cap = 0; cap <= hf->vmask; cap++) hf->vmap[cap] = -1;
    for (c = L->j.v[vocab].first; c >= 0; c = L->j.v[c].next) {
        const it__jv *v = &L->j.v[c];
        int32_t id = (int32_t)v->i64;
        size_t klen = strlen(v->key), h;
        if (hf->kind[id]) {
            it__hfl_err(L, IT_ERR_FORMAT, "model.vocab gives id %ld to both \"%.60s\" and \"%.60s\"", (long)id,
                        (const char *)it__hf_s(hf, hf->token[id]), v->key);
            return -1;
        }
        if (klen == 0) {
            it__hfl_err(L, IT_ERR_FORMAT, "model.vocab has an empty token (id %ld)", (long)id);
            return -1;
        }
        if (it__hfl_str(L, &hf->token[id], v->key, klen + 1)) return -1; /* with its NUL, for messages */
        hf->token[id].len = (uint32_t)klen;
        hf->kind[id] = 1;
        for (h = it__tok_hash_bytes((const uint8_t *)v->key, klen) & hf->vmask; hf->vmap[h] >= 0; h = (h + 1) & hf->vmask) {}
        hf->vmap[h] = id; /* duplicate keys were refused by the JSON reader */
    }
    for (k = 0; k < 256; k++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", k);
        hf->byte_id[k] = it__hf_vocab_find(hf, (const uint8_t *)name, 6);
    }
    hf->unk_id = -1;
    {
        int uv = it__hfl_get(L, model, "model", "unk_token", IT__J_STR, 0);
        if (uv == -2) return -1;
        if (uv >= 0) {
            hf->unk_id = it__hf_vocab_find(hf, (const uint8_t *)L->j.v[uv].str, L->j.v[uv].len);
            if (hf->unk_id < 0) {
                it__hfl_err(L, IT_ERR_FORMAT, "model.unk_token \"%.60s\" is not in the vocabulary", L->j.v[uv].str);
                return -1;
            }
        }
    }
    /* merges: "a b" strings (files before tokenizers 0.20) or ["a", "b"] pairs; rank = position */
    hf->n_merges = merges >= 0 ? L->j.v[merges].n : 0;
    for (cap = 16; cap < (size_t)hf->n_merges * 2; cap *= 2) {}
    hf->mmask = cap - 1;
    hf->mkey = (uint64_t *)it__alloc_array(L->ctx, cap, sizeof(uint64_t));
    hf->mrank = (int32_t *)it__alloc_array(L->ctx, cap, sizeof(int32_t));
    hf->mnew = (int32_t *)it__alloc_array(L->ctx, (size_t)hf->n_merges, sizeof(int32_t));
    if (!hf->mkey || !hf->mrank || !hf->mnew) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory for %d merges", hf->n_merges);
        return -1;
    }
    for (cap = 0; cap <= hf->mmask; cap++) hf->mrank[cap] = -1;
    mark = hf->strs.n;
    for (c = merges >= 0 ? L->j.v[merges].first : -1, k = 0; c >= 0; c = L->j.v[c].next, k++) {
        const it__jv *m = &L->j.v[c];
        const char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0, h;
        int32_t ia, ib, inew;
        uint64_t key;
        if (m->type == IT__J_STR) {
            const char *sp = (const char *)memchr(m->str, ' ', m->len);
            if (sp && !memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str))) {
                a = m->str;
                alen = (size_t)(sp - m->str);
                b = sp + 1;
                blen = m->len - alen - 1;
            }
        } else if (m->type == IT__J_ARR && m->n == 2 && L->j.v[m->first].type == IT__J_STR &&
                   L->j.v[L->j.v[m->first].next].type == IT__J_STR) {
            a = L->j.v[m->first].str;
            alen = L->j.v[m->first].len;
            b = L->j.v[L->j.v[m->first].next].str;
            blen = L->j.v[L->j.v[m->first].next].len;
        }
        if (!a) {
            it__hfl_err(L, IT_ERR_FORMAT, "model.merges[%d] is neither \"left right\" nor [\"left\", \"right\"]", k);
            return -1;
        }
        ia = it__hf_vocab_find(hf, (const uint8_t *)a, alen);
        ib = it__hf_vocab_find(hf, (const uint8_t *)b, blen);
        hf->strs.n = mark; /* the joined string, in scratch space at the arena's end */
        it__bytes_put(&hf->strs, a, alen);
        it__bytes_put(&hf->strs, b, blen);
        if (hf->strs.failed) {
            it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory");
            return -1;
        }
        inew = it__hf_vocab_find(hf, hf->strs.p + mark, alen + blen);
        hf->strs.n = mark;
        if (ia < 0 || ib < 0 || inew < 0) {
            it__hfl_err(L, IT_ERR_FORMAT, "model.merges[%d] (\"%.*s\", \"%.*s\"): %s is not in the vocabulary", k, (int)(alen < 40 ? alen : 40), a,
                        (int)(blen < 40 ? blen : 40), b, ia < 0 ? "the left token" : ib < 0 ? "the right token" : "the merged token");
            return -1;
        }
        key = it__tok_pair_key(ia, ib);
        for (h = it__tok_hash_pair(key) & hf->mmask; hf->mrank[h] >= 0; h = (h + 1) & hf->mmask)
            if (hf->mkey[h] == key) {
                it__hfl_err(L, IT_ERR_FORMAT, "model.merges[%d] repeats merges[%ld]", k, (long)hf->mrank[h]);
                return -1;
            }
        hf->mkey[h] = key;
        hf->mrank[h] = k;
        hf->mnew[k] = inew;
    }
    return 0;
}

static int it__hfl_added(it__hfl *L) {
    it__hf *hf = L->hf;
    int at = it__hfl_get(L, 0, "tokenizer.json", "added_tokens", IT__J_ARR, 0), c, k = 0;
    if (at == -2) return -1;
    if (at < 0) return 0;
    if (L->j.v[at].n > IT__HF_MAX_ADDED) {
        it__hfl_err(L, IT_ERR_FORMAT, "%d added tokens, more than the limit of %d", L->j.v[at].n, IT__HF_MAX_ADDED);
        return -1;
    }
    hf->added = (it__hf_added *)it__alloc_array(L->ctx, (size_t)L->j.v[at].n, sizeof(it__hf_added));
    if (!hf->added) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    for (c = L->j.v[at].first; c >= 0; c = L->j.v[c].next, k++) {
        char where[48];
        it__hf_added *a = &hf->added[hf->n_added];
        long id = -1;
        int single_word = 0, b[4], cv;
        snprintf(where, sizeof where, "added_tokens[%d]", k);
        if (L->j.v[c].type != IT__J_OBJ) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s is not an object", where);
            return -1;
        }
        cv = it__hfl_get(L, c, where, "content", IT__J_STR, 1);
        if (cv < 0 || it__hfl_int(L, c, where, "id", 1, 0, hf->n_ids - 1, &id) ||
            it__hfl_bool(L, c, where, "single_word", 0, &single_word) || it__hfl_bool(L, c, where, "lstrip", 0, &b[0]) ||
            it__hfl_bool(L, c, where, "rstrip", 0, &b[1]) || it__hfl_bool(L, c, where, "special", 0, &b[3]) ||
            it__hfl_bool(L, c, where, "normalized", !b[3], &b[2]))
            return -1;
        if (single_word) {
            it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s \"%.60s\": single_word added tokens are not supported", where, L->j.v[cv].str);
            return -1;
        }
        if (L->j.v[cv].len == 0) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s has empty content", where);
            return -1;
        }
        if (hf->kind[id] >= 2) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s: id %ld is already the added token \"%.60s\"", where, id,
                        (const char *)it__hf_s(hf, hf->token[id]));
            return -1;
        }
        if (it__hfl_str(L, &a->content, L->j.v[cv].str, L->j.v[cv].len + 1)) return -1;
        a->content.len = (uint32_t)L->j.v[cv].len;
        a->id = (int32_t)id;
        a->lstrip = (uint8_t)b[0];
        a->rstrip = (uint8_t)b[1];
        a->normalized = (uint8_t)b[2];
        a->special = (uint8_t)b[3];
        hf->token[id] = a->content;
        hf->kind[id] = (uint8_t)(a->special ? 3 : 2);
        hf->n_added++;
    }
    return 0;
}

/* TemplateProcessing's "single": SpecialToken items before and after the one Sequence. */
static int it__hfl_template(it__hfl *L, int pp, const char *where) {
    it__hf *hf = L->hf;
    int single = it__hfl_get(L, pp, where, "single", IT__J_ARR, 1), specials = it__hfl_get(L, pp, where, "special_tokens", IT__J_OBJ, 0);
    int c, k = 0, seen_seq = 0, total = 0;
    if (single < 0 || specials == -2) return -1;
    for (c = L->j.v[single].first; c >= 0; c = L->j.v[c].next) { /* count ids first */
        int sp = it__jget(&L->j, c, "SpecialToken"), idv, ids;
        if (sp < 0) continue;
        idv = it__jget(&L->j, sp, "id");
        ids = idv >= 0 && L->j.v[idv].type == IT__J_STR && specials >= 0 ? it__jget(&L->j, specials, L->j.v[idv].str) : -1;
        ids = ids >= 0 ? it__jget(&L->j, ids, "ids") : -1;
        if (ids < 0 || L->j.v[ids].type != IT__J_ARR) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s.single: a SpecialToken without an entry (and its ids) in special_tokens", where);
            return -1;
        }
        total += L->j.v[ids].n;
    }
    if (total > 64) {
        it__hfl_err(L, IT_ERR_FORMAT, "%s: the template adds %d ids (at most 64)", where, total);
        return -1;
    }
    hf->tmpl = (int32_t *)it__alloc_array(L->ctx, (size_t)total, sizeof(int32_t));
    if (!hf->tmpl) {
        it__hfl_err(L, IT_ERR_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    for (c = L->j.v[single].first; c >= 0; c = L->j.v[c].next, k++) {
        int sp = it__jget(&L->j, c, "SpecialToken"), sq = it__jget(&L->j, c, "Sequence"), ids, e;
        if (sq >= 0) {
            int idv = it__jget(&L->j, sq, "id");
            if (seen_seq || idv < 0 || L->j.v[idv].type != IT__J_STR || strcmp(L->j.v[idv].str, "A") != 0) {
                it__hfl_err(L, IT_ERR_FORMAT, "%s.single[%d]: the single template holds one Sequence, A", where, k);
                return -1;
            }
            seen_seq = 1;
            continue;
        }
        if (sp < 0) {
            it__hfl_err(L, IT_ERR_FORMAT, "%s.single[%d] is neither SpecialToken nor Sequence", where, k);
            return -1;
        }
        ids = it__jget(&L->j, it__jget(&L->j, specials, L->j.v[it__jget(&L->j, sp, "id")].str), "ids");
        for (e = L->j.v[ids].first; e >= 0; e = L->j.v[e].next) {
            const it__jv *v = &L->j.v[e];
            if (v->type != IT__J_NUM || !v->is_int || v->i64 < 0 || v->i64 >= hf->n_ids) {
                it__hfl_err(L, IT_ERR_FORMAT, "%s.special_tokens: an id outside [0, %d)", where, hf->n_ids);
                return -1;
            }
            hf->tmpl[hf->n_tmpl_pre + hf->n_tmpl_post] = (int32_t)v->i64;
            if (seen_seq) hf->n_tmpl_post++;
            else hf->n_tmpl_pre++;
        }
    }
    if (!seen_seq) {
        it__hfl_err(L, IT_ERR_FORMAT, "%s.single has no Sequence A", where);
        return -1;
    }
    return 0;
}
static int it__hfl_post(it__hfl *L, int pp, const char *where, int *has_template, int depth) {
    int tv = it__hfl_get(L, pp, where, "type", IT__J_STR, 1), c, k = 0;
    char sub[80];
    if (tv < 0) return -1;
    if (!strcmp(L->j.v[tv].str, "ByteLevel")) return 0; /* offsets only */
    if (!strcmp(L->j.v[tv].str, "TemplateProcessing")) {
        if (*has_template) {
            it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s: a second TemplateProcessing", where);
            return -1;
        }
        *has_template = 1;
        return it__hfl_template(L, pp, where);
    }
    if (!strcmp(L->j.v[tv].str, "Sequence") && depth < 4) {
        int arr = it__hfl_get(L, pp, where, "processors", IT__J_ARR, 1);
        if (arr < 0) return -1;
        for (c = L->j.v[arr].first; c >= 0; c = L->j.v[c].next, k++) {
            snprintf(sub, sizeof sub, "%.50s.processors[%d]", where, k);
            if (L->j.v[c].type != IT__J_OBJ) {
                it__hfl_err(L, IT_ERR_FORMAT, "%s is not an object", sub);
                return -1;
            }
            if (it__hfl_post(L, c, sub, has_template, depth + 1)) return -1;
        }
        return 0;
    }
    it__hfl_err(L, IT_ERR_UNSUPPORTED, "%s: post-processor type \"%s\" is not supported", where, L->j.v[tv].str);
    return -1;
}

/* tokenizer_config.json beside tokenizer.json (optional): bos/eos token names and, when the
   tokenizer has no TemplateProcessing, add_bos_token / add_eos_token. */
static int32_t it__hf_token_id(const it__hf *hf, const uint8_t *s, size_t n) {
    int i;
    for (i = 0; i < hf->n_added; i++)
        if (hf->added[i].content.len == n && memcmp(it__hf_s(hf, hf->added[i].content), s, n) == 0) return hf->added[i].id;
    return it__hf_vocab_find(hf, s, n);
}
static int it__hfl_config(it__hfl *L, const char *path, int has_template) {
    it__hfl C;
    unsigned char *buf = NULL;
    size_t size;
    int k, add[2] = {0, 0};
    int32_t ids[2] = {-1, -1};
    static const char *const names[2] = {"bos_token", "eos_token"}, *const adds[2] = {"add_bos_token", "add_eos_token"};
    it_result r = it__io_read_file(L->ctx, path, "tokenizer config", 16u << 20, &buf, &size, NULL);
    if (r != IT_OK) {
        L->r = r;
        return -1;
    }
    memset(&C, 0, sizeof C);
    C.ctx = L->ctx;
    C.path = path;
    C.hf = L->hf;
    if (it__json_parse(L->ctx, &C.j, (const char *)buf, size) || C.j.v[0].type != IT__J_OBJ) {
        it__hfl_err(&C, IT_ERR_FORMAT, "%s", C.j.err[0] ? C.j.err : "the JSON root is not an object");
        goto fail;
    }
    for (k = 0; k < 2; k++) {
        int v = it__jget(&C.j, 0, names[k]);
        if (v >= 0 && C.j.v[v].type == IT__J_OBJ) v = it__jget(&C.j, v, "content"); /* AddedToken form */
        if (v >= 0 && C.j.v[v].type == IT__J_STR) {
            ids[k] = it__hf_token_id(L->hf, (const uint8_t *)C.j.v[v].str, C.j.v[v].len);
            if (ids[k] < 0) {
                it__hfl_err(&C, IT_ERR_FORMAT, "%s \"%.60s\" is not a token of the tokenizer", names[k], C.j.v[v].str);
                goto fail;
            }
        } else if (v >= 0 && C.j.v[v].type != IT__J_NULL) {
            it__hfl_err(&C, IT_ERR_FORMAT, "%s is neither a string nor null", names[k]);
            goto fail;
        }
        if (it__hfl_bool(&C, 0, "tokenizer_config.json", adds[k], 0, &add[k])) goto fail;
    }
    L->hf->bos_id = ids[0];
    L->hf->eos_id = ids[1];
    if (!has_template && (add[0] || add[1])) {
        L->hf->tmpl = (int32_t *)it__alloc_array(L->ctx, 2, sizeof(int32_t));
        if (!L->hf->tmpl) goto fail;
        for (k = 0; k < 2; k++)
            if (add[k]) {
                if (ids[k] < 0) {
                    it__hfl_err(&C, IT_ERR_FORMAT, "%s is true but %s is not set", adds[k], names[k]);
                    goto fail;
                }
                L->hf->tmpl[L->hf->n_tmpl_pre + L->hf->n_tmpl_post] = ids[k];
                if (k == 0) L->hf->n_tmpl_pre = 1;
                else L->hf->n_tmpl_post = 1;
            }
    }
    it__json_free(&C.j);
    it__free(L->ctx, buf);
    return 0;
fail:
    L->r = C.r != IT_OK ? C.r : IT_ERR_OUT_OF_MEMORY;
    it__json_free(&C.j);
    it__free(L->ctx, buf);
    return -1;
}

static void it__hf_byte_map(it__hf *hf) { /* GPT-2's bytes_to_unicode */
    int b, n = 0;
    for (b = 0; b < 324; b++) hf->char_byte[b] = -1;
    for (b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        hf->byte_char[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
        hf->char_byte[hf->byte_char[b]] = (int16_t)b;
    }
}

/* >>hf_encode  text -> pieces -> words -> ids. A piece list holds byte ranges of its own buffer;
   id >= 0 marks an added token already found. at_start: the piece begins at offset 0 of the
   original text (Metaspace's prepend_scheme "first" asks). */
typedef struct it__hf_piece {
    size_t off, len;
    int32_t id;
    int at_start;
} it__hf_piece;
typedef struct it__hf_list {
    it__bytes b;
    it__hf_piece *p;
    size_t n, cap;
    int failed;
} it__hf_list;
typedef struct it__hf_scratch {
    it_context *ctx;
    it__hf_list lists[2];
    it__bytes tmp, tmp2;
    it__u32s cps;
    it__rx_stack stack;
    int32_t *sym, *prv, *nxt; /* the BPE word's symbols as a linked list */
    uint64_t *heap;           /* (rank << 32 | position) */
    size_t cap_sym, cap_heap;
    int32_t *ids;
    size_t n_ids, cap_ids;
    int failed;
} it__hf_scratch;

static void it__hf_list_clear(it__hf_list *l) {
    l->n = 0;
    l->b.n = 0;
}
/* Adds the piece l->b[off, off + len) (bytes already in the buffer). */
static void it__hf_list_push(it__hf_list *l, size_t off, size_t len, int32_t id, int at_start) {
    if (l->failed || l->b.failed) {
        l->failed = 1;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        it__hf_piece *np = (it__hf_piece *)it__realloc(l->b.ctx, l->p, l->n * sizeof(it__hf_piece), cap * sizeof(it__hf_piece));
        if (!np) {
            l->failed = 1;
            return;
        }
        l->p = np;
        l->cap = cap;
    }
    l->p[l->n].off = off;
    l->p[l->n].len = len;
    l->p[l->n].id = id;
    l->p[l->n].at_start = at_start;
    l->n++;
}
/* Copies s[0, n) in as a piece; empty text pieces vanish, as in tokenizers. */
static void it__hf_list_add(it__hf_list *l, const uint8_t *s, size_t n, int32_t id, int at_start) {
    size_t off = l->b.n;
    if (n == 0 && id < 0) return;
    it__bytes_put(&l->b, s, n);
    it__hf_list_push(l, off, n, id, at_start);
}
/* Registers the bytes the caller has just written, l->b[start, end), as one piece. */
static void it__hf_list_register(it__hf_list *l, size_t start, int keep_empty, int at_start) {
    if (l->b.n == start && !keep_empty) return;
    it__hf_list_push(l, start, l->b.n - start, -1, at_start);
}
static void it__hf_scratch_init(it__hf_scratch *sc, it_context *ctx) {
    memset(sc, 0, sizeof *sc);
    sc->ctx = sc->lists[0].b.ctx = sc->lists[1].b.ctx = sc->tmp.ctx = sc->tmp2.ctx = sc->cps.ctx = sc->stack.ctx = ctx;
}
static void it__hf_scratch_free(it__hf_scratch *sc) {
    int i;
    for (i = 0; i < 2; i++) {
        it__bytes_free(&sc->lists[i].b);
        it__free(sc->ctx, sc->lists[i].p);
    }
    it__bytes_free(&sc->tmp);
    it__bytes_free(&sc->tmp2);
    it__free(sc->ctx, sc->cps.p);
    it__free(sc->ctx, sc->stack.e);
    it__free(sc->ctx, sc->sym);
    it__free(sc->ctx, sc->prv);
    it__free(sc->ctx, sc->nxt);
    it__free(sc->ctx, sc->heap);
    it__free(sc->ctx, sc->ids);
}
static void it__hf_emit(it__hf_scratch *sc, int32_t id) {
    if (sc->failed) return;
    if (sc->n_ids == sc->cap_ids) {
        size_t cap = sc->cap_ids ? sc->cap_ids * 2 : 256;
        int32_t *ni = (int32_t *)it__realloc(sc->ctx, sc->ids, sc->n_ids * sizeof(int32_t), cap * sizeof(int32_t));
        if (!ni) {
            sc->failed = 1;
            return;
        }
        sc->ids = ni;
        sc->cap_ids = cap;
    }
    sc->ids[sc->n_ids++] = id;
}

/* Splits s into added tokens of one pass (normalized or not) and text pieces, leftmost-longest,
   then widens each match by lstrip (whitespace before it, not past the previous match) and
   rstrip (whitespace after it). */
static void it__hf_split_added(const it__hf *hf, const uint8_t *s, size_t n, int normalized, int at_start, it__hf_list *out) {
    size_t i = 0, from = 0;
    while (i < n) {
        int best = -1, k;
        size_t best_len = 0, start, stop, len;
        for (k = 0; k < hf->n_added; k++) {
            const it__hf_added *a = &hf->added[k];
            if (a->normalized != normalized || a->content.len > n - i || a->content.len <= best_len) continue;
            if (it__hf_s(hf, a->content)[0] == s[i] && memcmp(it__hf_s(hf, a->content), s + i, a->content.len) == 0) {
                best = k;
                best_len = a->content.len;
            }
        }
        if (best < 0) {
            i++;
            continue;
        }
        start = i;
        stop = i + best_len;
        if (hf->added[best].lstrip)
            while (start > from) {
                size_t b = start - 1;
                while (b > from && (s[b] & 0xC0) == 0x80) b--;
                if (!it__uc_space(it__utf8_get(s + b, &len))) break;
                start = b;
            }
        if (hf->added[best].rstrip)
            while (stop < n && it__uc_space(it__utf8_get(s + stop, &len))) stop += len;
        it__hf_list_add(out, s + from, start - from, -1, at_start && from == 0);
        it__hf_list_add(out, s + start, stop - start, hf->added[best].id, 0);
        from = i = stop;
    }
    it__hf_list_add(out, s + from, n - from, -1, at_start && from == 0);
}

static void it__hf_replace(const uint8_t *s, size_t n, const uint8_t *pat, size_t np, const uint8_t *with, size_t nw, it__bytes *out) {
    size_t i = 0;
    while (i < n) {
        if (n - i >= np && memcmp(s + i, pat, np) == 0) {
            it__bytes_put(out, with, nw);
            i += np;
        } else
            it__bytes_put(out, s + i++, 1);
    }
}
/* The normalizer chain on one piece into out. */
static void it__hf_normalize(const it__hf *hf, const uint8_t *s, size_t n, it__hf_scratch *sc, it__bytes *out) {
    int k;
    it__bytes *cur = &sc->tmp, *next = &sc->tmp2, *t;
    cur->n = 0;
    it__bytes_put(cur, s, n);
    for (k = 0; k < hf->n_norm; k++) {
        const it__hf_step *st = &hf->norm[k];
        next->n = 0;
        switch (st->kind) {
        case IT__HFN_NFC:
        case IT__HFN_NFD: it__uc_normalize(cur->p, cur->n, st->kind == IT__HFN_NFC, &sc->cps, next); break;
        case IT__HFN_PREPEND:
            if (cur->n) it__bytes_put(next, it__hf_s(hf, st->a), st->a.len);
            it__bytes_put(next, cur->p, cur->n);
            break;
        case IT__HFN_REPLACE: it__hf_replace(cur->p, cur->n, it__hf_s(hf, st->a), st->a.len, it__hf_s(hf, st->b), st->b.len, next); break;
        default: { /* Strip */
            size_t a = 0, b = cur->n, len;
            while (st->left && a < b && it__uc_space(it__utf8_get(cur->p + a, &len))) a += len;
            while (st->right && b > a) {
                size_t c = b - 1;
                while (c > a && (cur->p[c] & 0xC0) == 0x80) c--;
                if (!it__uc_space(it__utf8_get(cur->p + c, &len))) break;
                b = c;
            }
            it__bytes_put(next, cur->p + a, b - a);
        }
        }
        t = cur;
        cur = next;
        next = t;
    }
    it__bytes_put(out, cur->p, cur->n);
    if (cur->failed || next->failed || sc->cps.failed) sc->failed = 1;
}

/* Matches of a regex (or a literal) in s as (start, end) pairs into sc->cps (as two uint32s). */
static int it__hf_find_all(const it__hf *hf, const it__hf_step *st, const uint8_t *s, size_t n, it__hf_scratch *sc) {
    size_t i = 0, end, len;
    sc->cps.n = 0;
    if (n > 0xFFFFFFFFu) return -1;
    while (i < n) {
        int r;
        if (st->rx < 0) {
            r = n - i >= st->a.len && memcmp(s + i, it__hf_s(hf, st->a), st->a.len) == 0;
            end = i + st->a.len;
        } else {
            r = it__rx_run(&hf->rx[st->rx], 0, s, n, i, &sc->stack, &end);
            if (r < 0) return -1;
        }
        if (r == 1 && end > i) {
            if (!it__u32s_push(&sc->cps, (uint32_t)i) || !it__u32s_push(&sc->cps, (uint32_t)end)) return -1;
            i = end;
        } else {
            it__utf8_get(s + i, &len);
            i += len;
        }
    }
    return 0;
}
/* Split: the matches and the gaps between them, grouped by the behaviour. */
static int it__hf_split(const it__hf *hf, const it__hf_step *st, const it__hf_piece *pc, const uint8_t *s, it__hf_scratch *sc,
                        it__hf_list *out) {
    size_t m, prev = 0, n = pc->len, cur_a = 0, cur_b = 0;
    int have = 0, prev_match = 0;
    if (it__hf_find_all(hf, st, s, n, sc)) return -1;
    /* walk the (span, is_match) sequence; `have` holds a piece being grown */
    for (m = 0; m <= sc->cps.n / 2; m++) {
        size_t seg[2][2];
        int is_match[2], ns = 0, q;
        if (m < sc->cps.n / 2) {
            size_t a = sc->cps.p[2 * m], b = sc->cps.p[2 * m + 1];
            if (a > prev) {
                seg[ns][0] = prev; seg[ns][1] = a; is_match[ns++] = 0;
            }
            seg[ns][0] = a; seg[ns][1] = b; is_match[ns++] = 1;
            prev = b;
        } else if (prev < n) {
            seg[ns][0] = prev; seg[ns][1] = n; is_match[ns++] = 0;
        }
        for (q = 0; q < ns; q++) {
            int match = is_match[q] != st->invert;
            size_t a = seg[q][0], b = seg[q][1];
            switch (st->behavior) {
            case IT__HFS_REMOVED:
                if (!match) it__hf_list_add(out, s + a, b - a, -1, pc->at_start && a == 0);
                break;
            case IT__HFS_ISOLATED: it__hf_list_add(out, s + a, b - a, -1, pc->at_start && a == 0); break;
            case IT__HFS_MERGED_PREVIOUS: /* a match joins the piece before it */
                if (match && !prev_match && have) cur_b = b;
                else {
                    if (have) it__hf_list_add(out, s + cur_a, cur_b - cur_a, -1, pc->at_start && cur_a == 0);
                    cur_a = a; cur_b = b; have = 1;
                }
                break;
            case IT__HFS_MERGED_NEXT: /* a match starts the next piece */
                if (have && prev_match && !match) cur_b = b;
                else {
                    if (have) it__hf_list_add(out, s + cur_a, cur_b - cur_a, -1, pc->at_start && cur_a == 0);
                    cur_a = a; cur_b = b; have = 1;
                }
                break;
            default: /* Contiguous: runs of matches become one piece */
                if (have && match && prev_match) cur_b = b;
                else {
                    if (have) it__hf_list_add(out, s + cur_a, cur_b - cur_a, -1, pc->at_start && cur_a == 0);
                    cur_a = a; cur_b = b; have = 1;
                }
            }
            prev_match = match;
        }
    }
    if (have) it__hf_list_add(out, s + cur_a, cur_b - cur_a, -1, pc->at_start && cur_a == 0);
    return 0;
}

/* One pre-tokenizer over every text piece of `in` into `out` (added tokens pass through). */
static int it__hf_pretokenize(const it__hf *hf, const it__hf_step *st, it__hf_list *in, it__hf_list *out, it__hf_scratch *sc) {
    size_t k, i, len;
    it__hf_list_clear(out);
    for (k = 0; k < in->n; k++) {
        it__hf_piece pc = in->p[k];
        const uint8_t *s = in->b.p + pc.off;
        if (pc.id >= 0) {
            it__hf_list_add(out, NULL, 0, pc.id, 0);
            continue;
        }
        if (st->kind == IT__HFP_SPLIT) {
            if (it__hf_split(hf, st, &pc, s, sc, out)) return -1;
        } else if (st->kind == IT__HFP_BYTELEVEL) {
            it__hf_step isolated;
            size_t q, first = 0, nparts;
            sc->tmp.n = 0;
            if (st->add_prefix_space && (pc.len == 0 || s[0] != ' ')) it__bytes_put(&sc->tmp, " ", 1);
            it__bytes_put(&sc->tmp, s, pc.len);
            /* the regex cuts the (prefixed) piece; each part is then spelled in byte characters */
            if (st->use_regex) {
                memset(&isolated, 0, sizeof isolated);
                isolated.rx = st->rx;
                if (it__hf_find_all(hf, &isolated, sc->tmp.p, sc->tmp.n, sc)) return -1;
            } else
                sc->cps.n = 0;
            nparts = st->use_regex ? sc->cps.n / 2 : 0;
            for (q = 0; q <= nparts; q++) { /* matches and the gaps between them, in order */
                size_t bounds[4], nb = 0, z;
                if (q < nparts) {
                    if (sc->cps.p[2 * q] > first) { bounds[nb++] = first; bounds[nb++] = sc->cps.p[2 * q]; }
                    bounds[nb++] = sc->cps.p[2 * q];
                    bounds[nb++] = sc->cps.p[2 * q + 1];
                    first = sc->cps.p[2 * q + 1];
                } else if (first < sc->tmp.n) {
                    bounds[nb++] = first;
                    bounds[nb++] = sc->tmp.n;
                }
                for (z = 0; z < nb; z += 2) {
                    size_t start = out->b.n;
                    for (i = bounds[z]; i < bounds[z + 1]; i++) it__bytes_cp(&out->b, hf->byte_char[sc->tmp.p[i]]);
                    it__hf_list_register(out, start, 0, pc.at_start && bounds[z] == 0);
                }
            }
        } else { /* Metaspace: spaces become the replacement, which may be prepended, then split */
            uint8_t rep[4];
            size_t nrep = it__utf8_put(rep, st->replacement), start;
            sc->tmp.n = 0;
            sc->tmp2.n = 0;
            it__hf_replace(s, pc.len, (const uint8_t *)" ", 1, rep, nrep, &sc->tmp2);
            /* prepended only when the text (spaces already replaced) does not start with it */
            if ((st->prepend_scheme == IT__HF_PREPEND_ALWAYS || (st->prepend_scheme == IT__HF_PREPEND_FIRST && pc.at_start)) &&
                !(sc->tmp2.n >= nrep && memcmp(sc->tmp2.p, rep, nrep) == 0))
                it__bytes_put(&sc->tmp, rep, nrep);
            it__bytes_put(&sc->tmp, sc->tmp2.p, sc->tmp2.n);
            if (sc->tmp.failed) return -1;
            if (!st->split) {
                it__hf_list_add(out, sc->tmp.p, sc->tmp.n, -1, pc.at_start);
                continue;
            }
            for (i = 0, start = 0; i < sc->tmp.n; i += len) { /* MergedWithNext on the replacement */
                it__utf8_get(sc->tmp.p + i, &len);
                if (i > start && len == nrep && memcmp(sc->tmp.p + i, rep, nrep) == 0) {
                    it__hf_list_add(out, sc->tmp.p + start, i - start, -1, pc.at_start && start == 0);
                    start = i;
                }
            }
            it__hf_list_add(out, sc->tmp.p + start, sc->tmp.n - start, -1, pc.at_start && start == 0);
        }
    }
    return out->failed || sc->tmp.failed || sc->cps.failed ? -1 : 0;
}

static void it__hf_heap_push(uint64_t *heap, size_t *n, uint64_t v) {
    size_t c = (*n)++;
    while (c > 0 && heap[(c - 1) / 2] > v) {
        heap[c] = heap[(c - 1) / 2];
        c = (c - 1) / 2;
    }
    heap[c] = v;
}
static uint64_t it__hf_heap_pop(uint64_t *heap, size_t *n) {
    uint64_t top = heap[0], last = heap[--*n];
    size_t p = 0;
    for (;;) {
        size_t c = 2 * p + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= last) break;
        heap[p] = heap[c];
        p = c;
    }
    if (*n) heap[p] = last;
    return top;
}
/* The BPE model on one word (tokenizers' BPE::merge_word). */
static int it__hf_bpe(const it__hf *hf, const uint8_t *w, size_t n, it__hf_scratch *sc) {
    size_t i, len, n_heap = 0, n_sym = 0;
    int32_t unk = -1; /* a pending unknown token, emitted when a known character follows */
    int k;
    if (hf->ignore_merges) {
        int32_t id = it__hf_vocab_find(hf, w, n);
        if (id >= 0) {
            it__hf_emit(sc, id);
            return 0;
        }
    }
    if (n + 1 > sc->cap_sym) {
        size_t cap = sc->cap_sym ? sc->cap_sym : 256;
        while (cap < n + 1) cap *= 2;
        it__free(sc->ctx, sc->sym);
        it__free(sc->ctx, sc->prv);
        it__free(sc->ctx, sc->nxt);
        it__free(sc->ctx, sc->heap);
        sc->sym = (int32_t *)it__alloc_array(sc->ctx, cap, sizeof(int32_t));
        sc->prv = (int32_t *)it__alloc_array(sc->ctx, cap, sizeof(int32_t));
        sc->nxt = (int32_t *)it__alloc_array(sc->ctx, cap, sizeof(int32_t));
        sc->heap = (uint64_t *)it__alloc_array(sc->ctx, 2 * cap, sizeof(uint64_t)); /* n - 1 first pairs + 2 per merge */
        sc->cap_sym = cap;
        if (!sc->sym || !sc->prv || !sc->nxt || !sc->heap) {
            sc->cap_sym = 0;
            return -1;
        }
    }
    for (i = 0; i < n; i += len) {
        int32_t id;
        it__utf8_get(w + i, &len);
        id = it__hf_vocab_find(hf, w + i, len);
        if (id >= 0) {
            if (unk >= 0) sc->sym[n_sym++] = unk;
            unk = -1;
            sc->sym[n_sym++] = id;
            continue;
        }
        if (hf->byte_fallback) {
            size_t b;
            for (b = 0; b < len && hf->byte_id[w[i + b]] >= 0; b++) {}
            if (b == len) {
                for (b = 0; b < len; b++) sc->sym[n_sym++] = hf->byte_id[w[i + b]];
                continue;
            }
        }
        if (hf->unk_id >= 0) {
            if (unk >= 0 && !hf->fuse_unk) sc->sym[n_sym++] = unk;
            unk = hf->unk_id;
        }
    }
    if (unk >= 0) sc->sym[n_sym++] = unk;
    for (i = 0; i < n_sym; i++) {
        sc->prv[i] = (int32_t)i - 1;
        sc->nxt[i] = (int32_t)i + 1;
    }
    for (i = 0; i + 1 < n_sym; i++) {
        int32_t r = it__hf_merge_rank(hf, sc->sym[i], sc->sym[i + 1]);
        if (r >= 0) it__hf_heap_push(sc->heap, &n_heap, ((uint64_t)(uint32_t)r << 32) | i);
    }
    while (n_heap > 0) {
        uint64_t top = it__hf_heap_pop(sc->heap, &n_heap);
        int32_t r = (int32_t)(top >> 32), p = (int32_t)(uint32_t)top, q = sc->nxt[p], r2;
        if (sc->sym[p] < 0 || q >= (int32_t)n_sym || it__hf_merge_rank(hf, sc->sym[p], sc->sym[q]) != r) continue;
        sc->sym[p] = hf->mnew[r];
        sc->sym[q] = -1;
        sc->nxt[p] = sc->nxt[q];
        if (sc->nxt[q] < (int32_t)n_sym) sc->prv[sc->nxt[q]] = p;
        if (sc->prv[p] >= 0 && (r2 = it__hf_merge_rank(hf, sc->sym[sc->prv[p]], sc->sym[p])) >= 0)
            it__hf_heap_push(sc->heap, &n_heap, ((uint64_t)(uint32_t)r2 << 32) | (uint32_t)sc->prv[p]);
        if (sc->nxt[p] < (int32_t)n_sym && (r2 = it__hf_merge_rank(hf, sc->sym[p], sc->sym[sc->nxt[p]])) >= 0)
            it__hf_heap_push(sc->heap, &n_heap, ((uint64_t)(uint32_t)r2 << 32) | (uint32_t)p);
    }
    for (k = 0; k < (int)n_sym; k = sc->nxt[k]) it__hf_emit(sc, sc->sym[k]);
    return sc->failed ? -1 : 0;
}

static it_result it__hf_encode(it_context *ctx, const it__hf *hf, const uint8_t *text, size_t n, int flags, int32_t **out_ids,
                               size_t *out_n) {
    it__hf_scratch sc;
    it__hf_list *a, *b, *t;
    size_t bad = it__utf8_check(text, n), k;
    int i;
    it_result r = IT_OK;
    *out_ids = NULL;
    *out_n = 0;
    if (bad != n)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "tokenizer: the text is not valid UTF-8 (byte %zu of %zu)", bad, n);
    it__hf_scratch_init(&sc, ctx);
    a = &sc.lists[0];
    b = &sc.lists[1];
    /* 1-2. added tokens on the raw text, normalization, added tokens on the normalized text */
    it__hf_split_added(hf, text, n, 0, 1, a);
    it__hf_list_clear(b);
    for (k = 0; k < a->n; k++) {
        it__hf_piece pc = a->p[k];
        if (pc.id >= 0) {
            it__hf_list_add(b, NULL, 0, pc.id, 0);
            continue;
        }
        if (hf->n_norm) {
            it__bytes norm;
            memset(&norm, 0, sizeof norm);
            norm.ctx = ctx;
            it__hf_normalize(hf, a->b.p + pc.off, pc.len, &sc, &norm);
            if (norm.failed) sc.failed = 1;
            it__hf_split_added(hf, norm.p, norm.n, 1, pc.at_start, b);
            it__bytes_free(&norm);
        } else
            it__hf_split_added(hf, a->b.p + pc.off, pc.len, 1, pc.at_start, b);
    }
    /* 3. pre-tokenizers */
    for (i = 0; i < hf->n_pre && !sc.failed; i++) {
        if (it__hf_pretokenize(hf, &hf->pre[i], b, a, &sc)) sc.failed = 1;
        t = a;
        a = b;
        b = t;
    }
    /* 4-5. the template's leading ids, the model, the trailing ids */
    if (!(flags & IT_TOKENIZE_NO_SPECIAL))
        for (i = 0; i < hf->n_tmpl_pre; i++) it__hf_emit(&sc, hf->tmpl[i]);
    for (k = 0; k < b->n && !sc.failed; k++) {
        if (b->p[k].id >= 0) it__hf_emit(&sc, b->p[k].id);
        else if (it__hf_bpe(hf, b->b.p + b->p[k].off, b->p[k].len, &sc)) sc.failed = 1;
    }
    if (!(flags & IT_TOKENIZE_NO_SPECIAL))
        for (i = 0; i < hf->n_tmpl_post; i++) it__hf_emit(&sc, hf->tmpl[hf->n_tmpl_pre + i]);
    if (sc.failed || a->failed || b->failed) r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding %zu bytes", n);
    else {
        it__hf_emit(&sc, 0); /* never an empty array */
        if (sc.failed) r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding %zu bytes", n);
        else {
            *out_ids = sc.ids;
            *out_n = sc.n_ids - 1;
            sc.ids = NULL;
        }
    }
    it__hf_scratch_free(&sc);
    return r;
}

/* >>hf_decode  ids -> token strings -> the decoder chain. Lists of strings live in an it__hf_list. */
static void it__hf_decode_step(const it__hf *hf, const it__hf_step *st, it__hf_list *in, it__hf_list *out) {
    size_t k, i, len;
    it__hf_list_clear(out);
    if (st->kind == IT__HFD_FUSE || st->kind == IT__HFD_BYTELEVEL) { /* many strings -> one */
        it__bytes acc;
        memset(&acc, 0, sizeof acc);
        acc.ctx = out->b.ctx;
        for (k = 0; k < in->n; k++) {
            const uint8_t *s = in->b.p + in->p[k].off;
            size_t n = in->p[k].len;
            int ok = st->kind == IT__HFD_BYTELEVEL;
            for (i = 0; i < n && ok; i += len) { /* every character stands for a byte, or the token is taken as is */
                uint32_t c = it__utf8_get(s + i, &len);
                ok = c < 324 && hf->char_byte[c] >= 0;
            }
            if (!ok) {
                it__bytes_put(&acc, s, n);
                continue;
            }
            for (i = 0; i < n; i += len) {
                uint8_t byte = (uint8_t)hf->char_byte[it__utf8_get(s + i, &len)];
                it__bytes_put(&acc, &byte, 1);
            }
        }
        if (st->kind == IT__HFD_BYTELEVEL) it__bytes_put_lossy(&out->b, acc.p, acc.n); /* invalid UTF-8 -> U+FFFD */
        else it__bytes_put(&out->b, acc.p, acc.n);
        if (acc.failed) out->failed = 1;
        it__bytes_free(&acc);
        it__hf_list_register(out, 0, 1, 0);
        return;
    }
    if (st->kind == IT__HFD_BYTEFALLBACK) { /* runs of <0xXX>: their bytes if valid UTF-8, else one U+FFFD per byte */
        size_t run = 0;
        it__bytes bytes;
        memset(&bytes, 0, sizeof bytes);
        bytes.ctx = out->b.ctx;
        for (k = 0; k <= in->n; k++) {
            const uint8_t *s = k < in->n ? in->b.p + in->p[k].off : NULL;
            int byte = -1;
            if (s && in->p[k].len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
                int hi = s[3] <= '9' ? s[3] - '0' : (s[3] | 0x20) - 'a' + 10, lo = s[4] <= '9' ? s[4] - '0' : (s[4] | 0x20) - 'a' + 10;
                int hex = ((s[3] >= '0' && s[3] <= '9') || ((s[3] | 0x20) >= 'a' && (s[3] | 0x20) <= 'f')) &&
                          ((s[4] >= '0' && s[4] <= '9') || ((s[4] | 0x20) >= 'a' && (s[4] | 0x20) <= 'f'));
                if (hex) byte = hi * 16 + lo;
            }
            if (byte >= 0) {
                uint8_t b8 = (uint8_t)byte;
                if (run == 0) bytes.n = 0;
                it__bytes_put(&bytes, &b8, 1);
                run++;
                continue;
            }
            if (run) {
                if (it__utf8_check(bytes.p, bytes.n) == bytes.n) {
                    size_t start = out->b.n;
                    it__bytes_put(&out->b, bytes.p, bytes.n);
                    it__hf_list_register(out, start, 1, 0);
                } else
                    for (i = 0; i < run; i++) {
                        size_t start = out->b.n;
                        it__bytes_put(&out->b, "\xEF\xBF\xBD", 3);
                        it__hf_list_register(out, start, 1, 0);
                    }
                run = 0;
            }
            if (s) {
                size_t start = out->b.n;
                it__bytes_put(&out->b, s, in->p[k].len);
                it__hf_list_register(out, start, 1, 0);
            }
        }
        if (bytes.failed) out->failed = 1;
        it__bytes_free(&bytes);
        return;
    }
    for (k = 0; k < in->n; k++) { /* per-token steps */
        const uint8_t *s = in->b.p + in->p[k].off;
        size_t n = in->p[k].len, start = out->b.n;
        if (st->kind == IT__HFD_REPLACE) it__hf_replace(s, n, it__hf_s(hf, st->a), st->a.len, it__hf_s(hf, st->b), st->b.len, &out->b);
        else if (st->kind == IT__HFD_METASPACE) {
            for (i = 0; i < n; i += len) {
                uint32_t c = it__utf8_get(s + i, &len);
                if (c != st->replacement) it__bytes_put(&out->b, s + i, len);
                else if (!(k == 0 && st->prepend_scheme != IT__HF_PREPEND_NEVER)) it__bytes_put(&out->b, " ", 1);
            }
        } else { /* Strip: up to `left` leading and `right` trailing copies of the character */
            size_t a = 0, b = n;
            int cut;
            for (cut = 0; cut < st->left && a < b && it__utf8_get(s + a, &len) == st->replacement; cut++) a += len;
            for (cut = 0; cut < st->right && b > a; cut++) {
                size_t c = b - 1;
                while (c > a && (s[c] & 0xC0) == 0x80) c--;
                if (it__utf8_get(s + c, &len) != st->replacement) break;
                b = c;
            }
            it__bytes_put(&out->b, s + a, b - a);
        }
        it__hf_list_register(out, start, 1, 0);
    }
    if (out->b.failed) out->failed = 1;
}

/* The whole decoding into out (a fresh buffer). -1 when memory runs out. */
static int it__hf_decode(const it__hf *hf, const int32_t *ids, size_t n, int flags, it__bytes *out) {
    it__hf_list lists[2], *a = &lists[0], *b = &lists[1], *t;
    size_t k;
    int i, failed;
    memset(lists, 0, sizeof lists);
    lists[0].b.ctx = lists[1].b.ctx = hf->ctx;
    for (k = 0; k < n; k++) {
        int32_t id = ids[k];
        if (id < 0 || id >= hf->n_ids || !hf->kind[id]) continue;
        if ((flags & IT_TOKENIZE_NO_SPECIAL) && hf->kind[id] == 3) continue;
        if (hf->token[id].len == 0) continue;
        {
            size_t start = a->b.n;
            it__bytes_put(&a->b, it__hf_s(hf, hf->token[id]), hf->token[id].len);
            it__hf_list_register(a, start, 1, 0);
        }
    }
    if (!hf->has_decoder) { /* tokenizers joins the tokens with spaces */
        for (k = 0; k < a->n; k++) {
            if (k) it__bytes_put(out, " ", 1);
            it__bytes_put(out, a->b.p + a->p[k].off, a->p[k].len);
        }
    } else {
        for (i = 0; i < hf->n_dec; i++) {
            it__hf_decode_step(hf, &hf->dec[i], a, b);
            t = a;
            a = b;
            b = t;
        }
        for (k = 0; k < a->n; k++) it__bytes_put(out, a->b.p + a->p[k].off, a->p[k].len);
    }
    failed = a->failed || b->failed || out->failed;
    for (i = 0; i < 2; i++) {
        it__bytes_free(&lists[i].b);
        it__free(hf->ctx, lists[i].p);
    }
    return failed ? -1 : 0;
}

/* >>hf_api */
static it_result it__hf_load(it__hfl *L, const char *config_path) {
    it__hf *hf = L->hf;
    int model, v, has_template = 0, k;
    if (L->j.v[0].type != IT__J_OBJ) return it__hfl_err(L, IT_ERR_FORMAT, "the JSON root is not an object");
    {
        static const char *const batch_only[2] = {"truncation", "padding"};
        for (k = 0; k < 2; k++) {
            v = it__jget(&L->j, 0, batch_only[k]);
            if (v >= 0 && L->j.v[v].type != IT__J_NULL)
                return it__hfl_err(L, IT_ERR_UNSUPPORTED, "\"%s\" is set; only null is supported", batch_only[k]);
        }
    }
#define IT__HFL_FAIL (L->r != IT_OK ? L->r : IT_ERR_FORMAT)
    model = it__hfl_get(L, 0, "tokenizer.json", "model", IT__J_OBJ, 1);
    if (model < 0 || it__hfl_model(L, model) || it__hfl_added(L)) return IT__HFL_FAIL;
    v = it__hfl_get(L, 0, "tokenizer.json", "normalizer", IT__J_OBJ, 0);
    if (v == -2 || (v >= 0 && it__hfl_steps(L, v, 0, "normalizer", &hf->norm, &hf->n_norm, 0))) return IT__HFL_FAIL;
    v = it__hfl_get(L, 0, "tokenizer.json", "pre_tokenizer", IT__J_OBJ, 0);
    if (v == -2 || (v >= 0 && it__hfl_steps(L, v, 1, "pre_tokenizer", &hf->pre, &hf->n_pre, 0))) return IT__HFL_FAIL;
    v = it__hfl_get(L, 0, "tokenizer.json", "decoder", IT__J_OBJ, 0);
    if (v == -2 || (v >= 0 && it__hfl_steps(L, v, 2, "decoder", &hf->dec, &hf->n_dec, 0))) return IT__HFL_FAIL;
    hf->has_decoder = v >= 0;
    v = it__hfl_get(L, 0, "tokenizer.json", "post_processor", IT__J_OBJ, 0);
    if (v == -2 || (v >= 0 && it__hfl_post(L, v, "post_processor", &has_template, 0))) return IT__HFL_FAIL;
    hf->bos_id = hf->eos_id = -1;
    if (config_path && it__hfl_config(L, config_path, has_template)) return IT__HFL_FAIL;
#undef IT__HFL_FAIL
    it__hf_byte_map(hf);
    return IT_OK;
}

/* The bytes one token stands for on its own (streaming while generating): the decoder's per-token
   steps, with ByteFallback's <0xXX> as its byte and no first-token stripping. cur_ and next_ are
   the caller's scratch buffers (reused from token to token). */
static void it__hf_token_raw(const it__hf *hf, int32_t id, it__bytes *cur_, it__bytes *next_, it__bytes *out) {
    const uint8_t *s = it__hf_s(hf, hf->token[id]);
    size_t n = hf->token[id].len, i, len;
    int k;
    it__bytes cur = *cur_, next = *next_, tmp;
    cur.n = next.n = 0;
    it__bytes_put(&cur, s, n);
    for (k = 0; k < hf->n_dec; k++) {
        const it__hf_step *st = &hf->dec[k];
        next.n = 0;
        if (st->kind == IT__HFD_BYTELEVEL) {
            int ok = 1;
            for (i = 0; i < cur.n && ok; i += len) {
                uint32_t c = it__utf8_get(cur.p + i, &len);
                ok = c < 324 && hf->char_byte[c] >= 0;
            }
            if (!ok) it__bytes_put(&next, cur.p, cur.n);
            else
                for (i = 0; i < cur.n; i += len) {
                    uint8_t byte = (uint8_t)hf->char_byte[it__utf8_get(cur.p + i, &len)];
                    it__bytes_put(&next, &byte, 1);
                }
        } else if (st->kind == IT__HFD_BYTEFALLBACK && cur.n == 6 && cur.p[0] == '<' && cur.p[1] == '0' && cur.p[2] == 'x' &&
                   cur.p[5] == '>') {
            unsigned v = 0;
            for (i = 3; i < 5; i++) v = v * 16 + (unsigned)(cur.p[i] <= '9' ? cur.p[i] - '0' : (cur.p[i] | 0x20) - 'a' + 10);
            {
                uint8_t byte = (uint8_t)v;
                it__bytes_put(&next, &byte, 1);
            }
        } else if (st->kind == IT__HFD_REPLACE)
            it__hf_replace(cur.p, cur.n, it__hf_s(hf, st->a), st->a.len, it__hf_s(hf, st->b), st->b.len, &next);
        else if (st->kind == IT__HFD_METASPACE) {
            for (i = 0; i < cur.n; i += len) {
                uint32_t c = it__utf8_get(cur.p + i, &len);
                if (c == st->replacement) it__bytes_put(&next, " ", 1);
                else it__bytes_put(&next, cur.p + i, len);
            }
        } else
            it__bytes_put(&next, cur.p, cur.n);
        tmp = cur;
        cur = next;
        next = tmp;
    }
    if (!hf->has_decoder) it__bytes_put(out, s, n);
    else it__bytes_put(out, cur.p, cur.n);
    if (cur.failed || next.failed) out->failed = 1;
    *cur_ = cur; /* the buffers may have grown or swapped */
    *next_ = next;
}

IT_API it_result it_tokenizer_load_hf(it_context *ctx, const char *path, it_tokenizer **out) {
    it__hfl L;
    struct stat st;
    char json_path[4096], config_path[4096];
    const char *config = NULL;
    unsigned char *buf = NULL;
    size_t size, total = 0;
    it_tokenizer *t = NULL;
    it_result r;
    int32_t id;
    *out = NULL;
    memset(&L, 0, sizeof L);
    L.ctx = ctx;
    if (!path || !path[0]) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "tokenizer: no path given");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { /* a model directory */
        if (it__path_join(json_path, sizeof json_path, path, "tokenizer.json") ||
            it__path_join(config_path, sizeof config_path, path, "tokenizer_config.json"))
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "tokenizer: path '%.200s...' is too long", path);
        if (stat(config_path, &st) == 0) config = config_path;
    } else if (strlen(path) < sizeof json_path)
        memcpy(json_path, path, strlen(path) + 1);
    else
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "tokenizer: path '%.200s...' is too long", path);
    L.path = json_path;
    r = it__io_read_file(ctx, json_path, "tokenizer", IT__HF_MAX_FILE, &buf, &size, NULL);
    if (r != IT_OK) return r;
    L.hf = (it__hf *)it__alloc(ctx, sizeof(it__hf));
    if (!L.hf) {
        it__free(ctx, buf);
        return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer '%s': out of memory", json_path);
    }
    memset(L.hf, 0, sizeof *L.hf);
    L.hf->ctx = L.hf->strs.ctx = ctx;
    if (it__json_parse(ctx, &L.j, (const char *)buf, size)) {
        r = it__hfl_err(&L, IT_ERR_FORMAT, "JSON: %s", L.j.err);
        goto done;
    }
    r = it__hf_load(&L, config);
    if (r != IT_OK) goto done;
    /* the it_tokenizer around it: vocab = the id space, token bytes for streaming */
    t = (it_tokenizer *)it__object_new(ctx, IT__OBJ_TOKENIZER, sizeof(it_tokenizer));
    if (!t) goto oom;
    t->ctx = ctx;
    t->hf = L.hf;
    t->vocab = L.hf->n_ids;
    t->tok_off = (uint32_t *)it__alloc_array(ctx, (size_t)t->vocab, sizeof(uint32_t));
    t->tok_len = (uint16_t *)it__alloc_array(ctx, (size_t)t->vocab, sizeof(uint16_t));
    if (!t->tok_off || !t->tok_len) goto oom;
    {
        it__bytes raw, cur, next;
        memset(&raw, 0, sizeof raw);
        memset(&cur, 0, sizeof cur);
        memset(&next, 0, sizeof next);
        raw.ctx = cur.ctx = next.ctx = ctx;
        for (id = 0; id < t->vocab; id++) {
            size_t before = raw.n;
            t->tok_off[id] = (uint32_t)raw.n;
            if (L.hf->kind[id]) it__hf_token_raw(L.hf, id, &cur, &next, &raw);
            if (raw.n - before > 65535 || raw.n > 0xFFFFFFFFu) {
                it__bytes_free(&raw);
                it__bytes_free(&cur);
                it__bytes_free(&next);
                r = it__hfl_err(&L, IT_ERR_FORMAT, "token %ld is longer than 65535 bytes", (long)id);
                goto done;
            }
            t->tok_len[id] = (uint16_t)(raw.n - before);
        }
        it__bytes_free(&cur);
        it__bytes_free(&next);
        if (raw.failed) {
            it__bytes_free(&raw);
            goto oom;
        }
        total = raw.n;
        t->bytes = raw.p ? raw.p : (uint8_t *)it__alloc(ctx, 1);
        if (!t->bytes) goto oom;
    }
    (void)total;
    L.hf = NULL; /* t holds it now */
    r = it__own(ctx, t, (void (*)(void *))it_tokenizer_destroy, "tokenizer"); /* on failure t is released */
    if (r == IT_OK) *out = t;
    t = NULL;
    goto done;
oom:
    r = it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "tokenizer '%s': out of memory", json_path);
done:
    if (t) {
        t->hf = NULL;
        it_tokenizer_destroy(t);
    }
    it__hf_free(L.hf);
    it__json_free(&L.j);
    it__free(ctx, buf);
    return r;
}

IT_API it_result it_tokenizer_encode_flags(it_context *ctx, const it_tokenizer *tok, const uint8_t *text, size_t n, int flags,
                                           int32_t **out_ids, size_t *out_n) {
    if (tok->hf) return it__hf_encode(ctx, tok->hf, text, n, flags, out_ids, out_n);
    return it_tokenizer_encode(ctx, tok, text, n, out_ids, out_n);
}
IT_API size_t it_tokenizer_decode_flags(const it_tokenizer *tok, const int32_t *ids, size_t n, int flags, uint8_t *out, size_t cap) {
    it__bytes b;
    size_t total;
    if (!tok->hf) return it_tokenizer_decode(tok, ids, n, out, cap);
    memset(&b, 0, sizeof b);
    b.ctx = tok->ctx;
    if (it__hf_decode(tok->hf, ids, n, flags, &b)) {
        it__bytes_free(&b);
        return (size_t)-1;
    }
    total = b.n;
    if (cap) memcpy(out, b.p, total < cap ? total : cap);
    it__bytes_free(&b);
    return total;
}
IT_API int it_tokenizer_is_special(const it_tokenizer *tok, int32_t id) {
    return tok->hf && id >= 0 && id < tok->hf->n_ids && tok->hf->kind[id] == 3;
}
IT_API int32_t it_tokenizer_find(const it_tokenizer *tok, const char *token) {
    if (!tok->hf) return -1;
    return it__hf_token_id(tok->hf, (const uint8_t *)token, strlen(token));
}
IT_API void it_tokenizer_bos_eos(const it_tokenizer *tok, int32_t *bos, int32_t *eos) {
    *bos = tok->hf ? tok->hf->bos_id : -1;
    *eos = tok->hf ? tok->hf->eos_id : -1;
}

/* >>token_stream  tokenizers' DecodeStream: decode the ids since the last complete character
   (the prefix) with and without the new id; the difference is the new text, given out once it
   no longer ends in U+FFFD or an unfinished UTF-8 sequence. Decoding the window alone is exact
   because both decodings treat its first token alike. */
#define IT__STREAM_WINDOW 64
struct it_token_stream {
    it_context *ctx;
    const it_tokenizer *tok;
    int flags;
    int32_t ids[IT__STREAM_WINDOW];
    int n_ids, prefix_index; /* ids[0, prefix_index) decode to the prefix */
    size_t prefix_len;
    it__bytes text;
};
IT_API it_result it_token_stream_create(it_context *ctx, const it_tokenizer *tok, int flags, it_token_stream **out) {
    it_token_stream *s = (it_token_stream *)it__object_new(ctx, IT__OBJ_TOKEN_STREAM, sizeof(it_token_stream));
    *out = NULL;
    if (!s) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "token stream: out of memory");
    s->ctx = s->text.ctx = ctx;
    s->tok = tok;
    s->flags = flags;
    if (it__own(ctx, s, (void (*)(void *))it_token_stream_destroy, "token stream") != IT_OK) return IT_ERR_OUT_OF_MEMORY;
    *out = s;
    return IT_OK;
}
IT_API void it_token_stream_destroy(it_token_stream *s) {
    if (!s) return;
    it__object_check(s, IT__OBJ_TOKEN_STREAM, "it_token_stream_destroy");
    it__disown(s->ctx, s);
    it__bytes_free(&s->text);
    it__object_retire(s);
}
static int it__stream_decode(it_token_stream *s, const int32_t *ids, int n, it__bytes *out) {
    size_t need;
    out->n = 0;
    need = it_tokenizer_decode_flags(s->tok, ids, (size_t)n, s->flags, NULL, 0);
    if (need == (size_t)-1 || !it__bytes_reserve(out, need + 1)) return -1;
    need = it_tokenizer_decode_flags(s->tok, ids, (size_t)n, s->flags, out->p, need);
    if (need == (size_t)-1) return -1; /* the second decoding can run out of memory too */
    out->n = need;
    return 0;
}
/* Does s end in U+FFFD or in a sequence that more bytes could complete? */
static int it__utf8_unfinished(const uint8_t *s, size_t n) {
    size_t k, bad = 0;
    if (n >= 3 && s[n - 3] == 0xEF && s[n - 2] == 0xBF && s[n - 1] == 0xBD) return 1;
    for (k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = s[n - k];
        if ((c & 0xC0) == 0x80) continue;
        if (c < 0x80) return 0;
        return it__utf8_seq(s + n - k, k, &bad) == 0 && bad == k && (size_t)(c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2) > k;
    }
    return 0;
}
IT_API it_result it_token_stream_push(it_token_stream *s, int32_t id, const char **text, size_t *len) {
    it__bytes now;
    *text = "";
    *len = 0;
    if (s->n_ids == IT__STREAM_WINDOW) { /* a run of unfinished characters that long: give up on it */
        memmove(s->ids, s->ids + s->prefix_index, (size_t)(s->n_ids - s->prefix_index) * sizeof(int32_t));
        s->n_ids -= s->prefix_index;
        s->prefix_index = 0;
        s->prefix_len = 0;
        if (s->n_ids == IT__STREAM_WINDOW) {
            s->n_ids = 0;
        }
    }
    s->ids[s->n_ids++] = id;
    memset(&now, 0, sizeof now);
    now.ctx = s->ctx;
    if (it__stream_decode(s, s->ids, s->n_ids, &now)) {
        it__bytes_free(&now);
        return it_context_error(s->ctx, IT_ERR_OUT_OF_MEMORY, "token stream: out of memory");
    }
    if (now.n > s->prefix_len && !it__utf8_unfinished(now.p, now.n)) {
        /* new text; the window restarts at the ids after the old prefix */
        size_t new_len = now.n - s->prefix_len;
        s->text.n = 0;
        it__bytes_put(&s->text, now.p + s->prefix_len, new_len);
        memmove(s->ids, s->ids + s->prefix_index, (size_t)(s->n_ids - s->prefix_index) * sizeof(int32_t));
        s->n_ids -= s->prefix_index;
        s->prefix_index = s->n_ids;
        if (it__stream_decode(s, s->ids, s->n_ids, &now) || s->text.failed) {
            it__bytes_free(&now);
            return it_context_error(s->ctx, IT_ERR_OUT_OF_MEMORY, "token stream: out of memory");
        }
        s->prefix_len = now.n;
        *text = (const char *)s->text.p;
        *len = new_len;
    }
    it__bytes_free(&now);
    return IT_OK;
}

/* >>chat  recognising chat templates by their text and rendering the built-in ones ---------------
   Detection follows llama.cpp's idea (src/llama-chat.cpp: markers such as <|im_start|> or [INST]
   decide) with the variants that would render differently refused; the renderers reproduce the
   published Jinja templates, which transformers runs with trim_blocks and lstrip_blocks. */
static const char *const it__chat_names[] = {
    "unknown",
#define IT__CHAT_NAME(name, text) text,
    IT_CHAT_FORMAT_LIST(IT__CHAT_NAME)
#undef IT__CHAT_NAME
};
IT_API const char *it_chat_format_name(it_chat_format f) {
    return f > IT_CHAT_UNKNOWN && f < IT_CHAT_FORMAT_COUNT ? it__chat_names[f] : "unknown";
}
IT_API const char *it_chat_format_names(void) { return "chatml, llama3, llama2, mistral, zephyr, gemma"; }
IT_API it_result it_chat_format_parse(const char *name, it_chat_format *out) {
    int f;
    for (f = 1; f < IT_CHAT_FORMAT_COUNT; f++)
        if (name && strcmp(name, it__chat_names[f]) == 0) {
            *out = (it_chat_format)f;
            return IT_OK;
        }
    return IT_ERR_INVALID_ARGUMENT;
}
IT_API it_chat_format it_chat_template_detect(const char *t) {
#define IT__HAS(s) (strstr(t, s) != NULL)
    if (!t) return IT_CHAT_UNKNOWN;
    if (IT__HAS("<|im_start|>")) return IT__HAS("<|im_sep|>") ? IT_CHAT_UNKNOWN : IT_CHAT_CHATML; /* Phi-4 */
    if (IT__HAS("[INST]")) {
        /* Mistral's later templates (system message at the last turn, tools, [SYSTEM_PROMPT]) and
           Llama-2 derivatives that do not strip or that write BOS once: different renderings */
        if (IT__HAS("[SYSTEM_PROMPT]") || IT__HAS("[AVAILABLE_TOOLS]") || IT__HAS("' [INST] '")) return IT_CHAT_UNKNOWN;
        if (IT__HAS("<<SYS>>"))
            return IT__HAS("bos_token + '[INST] '") && IT__HAS(".strip()") ? IT_CHAT_LLAMA2 : IT_CHAT_UNKNOWN;
        return IT__HAS("strip") || IT__HAS("trim") || IT__HAS("system_message") ? IT_CHAT_UNKNOWN : IT_CHAT_MISTRAL;
    }
    if (IT__HAS("<|user|>") && IT__HAS("<|assistant|>")) /* Phi-3 ends turns with <|end|>, Falcon 3 with \n */
        return IT__HAS("eos_token") && !IT__HAS("<|end|>") ? IT_CHAT_ZEPHYR : IT_CHAT_UNKNOWN;
    if (IT__HAS("<start_of_turn>")) return IT__HAS("first_user_prefix") ? IT_CHAT_UNKNOWN : IT_CHAT_GEMMA; /* Gemma 3 */
    if (IT__HAS("<|start_header_id|>") && IT__HAS("<|end_header_id|>")) return IT_CHAT_LLAMA3;
    return IT_CHAT_UNKNOWN;
#undef IT__HAS
}

/* The body of a Jinja string literal that follows `prefix` in the template (prefix itself written
   as the template writes it), up to `end`, unescaped into out: the literal must be plain text (no
   quote, no expression) or it is not taken. 1 when found. */
static int it__chat_literal_after(const char *t, const char *prefix, const char *end, char *out, size_t cap) {
    const char *at = t;
    while ((at = strstr(at, prefix)) != NULL) {
        const char *p = at + strlen(prefix), *stop = strstr(p, end);
        size_t n = 0;
        at = p;
        if (p[0] == '\\' && p[1] == 'n') p += 2; /* the newline after the role, escaped or literal */
        else if (p[0] == '\n') p += 1;
        else continue;
        if (!stop || stop <= p) continue;
        for (; p < stop; p++) {
            char c = *p;
            if (c == '\'' || c == '"' || c == '{' || c == '}' || c == '+') break;
            if (c == '\\') {
                c = *++p;
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
                if (p >= stop) break;
            }
            if (n + 1 >= cap) return 0;
            out[n++] = c;
        }
        if (p != stop || n == 0) continue;
        out[n] = 0;
        return 1;
    }
    return 0;
}

IT_API it_result it_chat_template_parse(it_context *ctx, const char *jinja, size_t len, it_chat_template *out) {
    char *text;
    it_chat_format f;
    IT__NOT_NULL(out, "it_chat_template_parse");
    if (!jinja) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat template: no text given");
    text = (char *)it__alloc(ctx, len + 1);
    if (!text) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    memcpy(text, jinja, len);
    text[len] = 0;
    f = strlen(text) == len ? it_chat_template_detect(text) : IT_CHAT_UNKNOWN;
    out->format = f;
    out->default_system[0] = 0;
    out->knowledge_header = 0;
    out->date[0] = 0;
    if (f == IT_CHAT_CHATML)
        it__chat_literal_after(text, "<|im_start|>system", "<|im_end|>", out->default_system, sizeof out->default_system);
    if (f == IT_CHAT_LLAMA3 && strstr(text, "Cutting Knowledge Date")) {
        out->knowledge_header = 1;
        /* Llama 3.1 writes a fixed date unless the caller passes one; 3.2 asks strftime_now (today) */
        if (!strstr(text, "strftime_now")) {
            const char *d = strstr(text, "set date_string = \"");
            size_t n = 0;
            if (d)
                for (d += 19; d[n] && d[n] != '"' && n + 1 < sizeof out->date; n++) out->date[n] = d[n];
            if (!d || d[n] != '"') {
                out->format = IT_CHAT_UNKNOWN;
                it__free(ctx, text);
                return it_context_error(ctx, IT_ERR_UNSUPPORTED, "chat template: a Llama 3 template with a knowledge-date "
                                        "header but neither strftime_now nor a default date_string");
            }
            out->date[n] = 0;
        }
    }
    it__free(ctx, text);
    if (out->format == IT_CHAT_UNKNOWN)
        return it_context_error(ctx, IT_ERR_UNSUPPORTED, "chat template not recognised (%lu bytes starting \"%.60s\"): "
                                "the built-in formats are %s; pass one by name (--chat-template NAME) if the model uses it",
                                (unsigned long)len, jinja, it_chat_format_names());
    return IT_OK;
}

/* tokenizer_config.json's bos_token / eos_token: a string, {"content": string} or null. */
static it_result it__chat_token(it_context *ctx, const char *path, const it__json *j, const char *key, char *out, size_t cap) {
    int v = it__jget(j, 0, key);
    out[0] = 0;
    if (v >= 0 && j->v[v].type == IT__J_OBJ) v = it__jget(j, v, "content");
    if (v < 0 || j->v[v].type == IT__J_NULL) return IT_OK;
    if (j->v[v].type != IT__J_STR)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" is neither a string, {\"content\": string} nor null", path, key);
    if (j->v[v].len >= cap)
        return it_context_error(ctx, IT_ERR_FORMAT, "%s: \"%s\" is %lu bytes, longer than the %d allowed", path, key,
                                (unsigned long)j->v[v].len, (int)cap - 1);
    memcpy(out, j->v[v].str, j->v[v].len + 1);
    return IT_OK;
}
IT_API it_result it_chat_template_load(it_context *ctx, const char *dir, const char *name, it_chat_template *out) {
    char path[IT__PATH_NAMED], jinja_path[IT__PATH_NAMED];
    unsigned char *buf = NULL, *jinja = NULL;
    size_t jinja_len = 0;
    it__json j;
    int missing = 0, jinja_missing = 0, tv = -1;
    it_result r;
    IT__NOT_NULL(out, "it_chat_template_load");
    memset(out, 0, sizeof *out);
    memset(&j, 0, sizeof j);
    if (!dir || it__path_join(path, sizeof path, dir, "tokenizer_config.json") ||
        it__path_join(jinja_path, sizeof jinja_path, dir, "chat_template.jinja"))
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat template: the directory path is missing or too long");
    if (name && it_chat_format_parse(name, &out->format) != IT_OK)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat template '%.60s' is not a built-in one (%s)", name,
                                it_chat_format_names());
    r = it__io_read_file(ctx, path, "tokenizer config", 16u << 20, &buf, &jinja_len, &missing);
    if (r != IT_OK && !missing) return r;
    if (r == IT_OK) {
        if (it__json_parse(ctx, &j, (const char *)buf, jinja_len) || j.v[0].type != IT__J_OBJ) {
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: %s", path, j.err[0] ? j.err : "the JSON root is not an object");
            goto done;
        }
        if ((r = it__chat_token(ctx, path, &j, "bos_token", out->bos_token, sizeof out->bos_token)) != IT_OK ||
            (r = it__chat_token(ctx, path, &j, "eos_token", out->eos_token, sizeof out->eos_token)) != IT_OK)
            goto done;
        tv = it__jget(&j, 0, "chat_template");
        if (tv >= 0 && j.v[tv].type == IT__J_ARR) { /* [{"name": "default", "template": ...}, {"name": "tool_use", ...}] */
            int e, found = -1;
            for (e = j.v[tv].first; e >= 0; e = j.v[e].next) {
                const char *n = it__jstr(&j, e, "name");
                int body = it__jget(&j, e, "template");
                if (j.v[e].type != IT__J_OBJ || !n || body < 0 || j.v[body].type != IT__J_STR) {
                    r = it_context_error(ctx, IT_ERR_FORMAT, "%s: \"chat_template\" is a list whose entries are not all "
                                         "{\"name\": string, \"template\": string}", path);
                    goto done;
                }
                if (strcmp(n, "default") == 0) found = body;
            }
            if (found < 0 && !name) {
                r = it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s: \"chat_template\" is a list with no \"default\" entry", path);
                goto done;
            }
            tv = found;
        } else if (tv >= 0 && j.v[tv].type == IT__J_NULL)
            tv = -1;
        else if (tv >= 0 && j.v[tv].type != IT__J_STR) {
            r = it_context_error(ctx, IT_ERR_FORMAT, "%s: \"chat_template\" is neither a string nor a list", path);
            goto done;
        }
    }
    r = IT_OK;
    if (name) goto done; /* the caller's choice wins over the text */
    /* transformers writes the template beside the config since 4.43; that file wins */
    r = it__io_read_file(ctx, jinja_path, "chat template", 16u << 20, &jinja, &jinja_len, &jinja_missing);
    if (r != IT_OK && !jinja_missing) goto done;
    if (r == IT_OK) r = it_chat_template_parse(ctx, (const char *)jinja, jinja_len, out);
    else if (tv >= 0) r = it_chat_template_parse(ctx, j.v[tv].str, j.v[tv].len, out);
    else
        r = it_context_error(ctx, IT_ERR_UNSUPPORTED, "%s has no chat template (no chat_template.jinja, no \"chat_template\" "
                             "in tokenizer_config.json): pass one by name (%s)", dir, it_chat_format_names());
done:
    it__json_free(&j);
    it__free(ctx, buf);
    it__free(ctx, jinja);
    return r;
}

/* Output in the snprintf manner: everything counted, what fits written. */
typedef struct it__chat_out { char *p; size_t cap, n; } it__chat_out;
static void it__chat_put(it__chat_out *o, const char *s, size_t n) {
    if (o->n < o->cap) memcpy(o->p + o->n, s, o->n + n < o->cap ? n : o->cap - o->n);
    o->n += n;
}
static void it__chat_puts(it__chat_out *o, const char *s) { it__chat_put(o, s, strlen(s)); }
/* Python's str.strip() (Jinja's trim): the characters str.isspace() accepts, at both ends. */
static size_t it__chat_space_at(const unsigned char *p, size_t n) {
    uint32_t c;
    int len;
    if (n == 0) return 0;
    if (*p == ' ' || (*p >= 0x09 && *p <= 0x0D) || (*p >= 0x1C && *p <= 0x1F)) return 1;
    len = it__utf8_len(p, n);
    if (len < 2) return 0;
    c = len == 2 ? ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F)
                 : len == 3 ? ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F) : 0;
    return (c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
            c == 0x202F || c == 0x205F || c == 0x3000) ? (size_t)len : 0;
}
static void it__chat_trimmed(const char *s, const char **begin, size_t *len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), k;
    while ((k = it__chat_space_at(p, n)) != 0) p += k, n -= k;
    for (;;) { /* the last character: step back over continuation bytes */
        size_t back = 1;
        while (back < n && back < 3 && (p[n - back] & 0xC0) == 0x80) back++;
        if (n == 0 || it__chat_space_at(p + n - back, back) != back) break;
        n -= back;
    }
    *begin = (const char *)p;
    *len = n;
}
static void it__chat_put_trimmed(it__chat_out *o, const char *s) {
    const char *b;
    size_t n;
    it__chat_trimmed(s, &b, &n);
    it__chat_put(o, b, n);
}
/* Today as strftime("%d %b %Y") gives it in the C locale ("02 Dec 2026"). */
static void it__chat_today(char *out, size_t cap) {
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm)) memset(&tm, 0, sizeof tm);
    snprintf(out, cap, "%02d %s %d", tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900);
}

IT_API it_result it_chat_apply(it_context *ctx, const it_chat_template *t, const it_chat_message *m, int n,
                               int add_generation_prompt, char *out, size_t cap, size_t *out_len) {
    it__chat_out o;
    const char *name;
    int i, first = 0, has_system;
    IT__NOT_NULL(t, "it_chat_apply");
    IT__NOT_NULL(out_len, "it_chat_apply");
    *out_len = 0;
    if (cap) out[0] = 0;
    o.p = out;
    o.cap = cap ? cap - 1 : 0;
    o.n = 0;
    name = it_chat_format_name(t->format);
    if (t->format <= IT_CHAT_UNKNOWN || t->format >= IT_CHAT_FORMAT_COUNT)
        return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat: the template has no known format (%d)", (int)t->format);
    if (n < 1 || !m) return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat: no messages to render");
    for (i = 0; i < n; i++) {
        if (!m[i].role || !m[i].content)
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat: message %d has no %s", i, m[i].role ? "content" : "role");
        if (strcmp(m[i].role, "system") != 0 && strcmp(m[i].role, "user") != 0 && strcmp(m[i].role, "assistant") != 0)
            return it_context_error(ctx, IT_ERR_UNSUPPORTED, "chat: message %d has role \"%.40s\"; the built-in templates "
                                    "render system, user and assistant messages only", i, m[i].role);
        if (it__utf8_check((const uint8_t *)m[i].content, strlen(m[i].content)) != strlen(m[i].content))
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat: message %d is not valid UTF-8", i);
    }
    has_system = strcmp(m[0].role, "system") == 0;
    /* the [INST] and Gemma templates take at most a leading system message, then raise unless the
       roles alternate user / assistant from the first turn */
    if (t->format == IT_CHAT_LLAMA2 || t->format == IT_CHAT_MISTRAL || t->format == IT_CHAT_GEMMA) {
        first = has_system;
        if (has_system && t->format != IT_CHAT_LLAMA2)
            return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat: the %s template does not take a system message", name);
        for (i = first; i < n; i++)
            if ((strcmp(m[i].role, "user") == 0) != ((i - first) % 2 == 0))
                return it_context_error(ctx, IT_ERR_INVALID_ARGUMENT, "chat: the %s template needs roles that alternate "
                                        "user/assistant/user/... (message %d is %s)", name, i, m[i].role);
    }
    switch (t->format) {
    case IT_CHAT_CHATML:
        if (t->default_system[0] && !has_system) {
            it__chat_puts(&o, "<|im_start|>system\n");
            it__chat_puts(&o, t->default_system);
            it__chat_puts(&o, "<|im_end|>\n");
        }
        for (i = 0; i < n; i++) {
            it__chat_puts(&o, "<|im_start|>");
            it__chat_puts(&o, m[i].role);
            it__chat_puts(&o, "\n");
            it__chat_puts(&o, m[i].content);
            it__chat_puts(&o, "<|im_end|>\n");
        }
        if (add_generation_prompt) it__chat_puts(&o, "<|im_start|>assistant\n");
        break;
    case IT_CHAT_LLAMA3:
        it__chat_puts(&o, t->bos_token);
        if (t->knowledge_header) { /* the system header always comes first, holding the system text */
            char today[32];
            if (!t->date[0]) it__chat_today(today, sizeof today);
            it__chat_puts(&o, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ");
            it__chat_puts(&o, t->date[0] ? t->date : today);
            it__chat_puts(&o, "\n\n");
            if (has_system) it__chat_put_trimmed(&o, m[0].content);
            it__chat_puts(&o, "<|eot_id|>");
            first = has_system;
        }
        for (i = first; i < n; i++) {
            it__chat_puts(&o, "<|start_header_id|>");
            it__chat_puts(&o, m[i].role);
            it__chat_puts(&o, "<|end_header_id|>\n\n");
            it__chat_put_trimmed(&o, m[i].content);
            it__chat_puts(&o, "<|eot_id|>");
        }
        if (add_generation_prompt) it__chat_puts(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case IT_CHAT_LLAMA2: /* the system text joins the first user turn; each part is stripped whole */
        for (i = first; i < n; i++) {
            const char *content = m[i].content;
            char *joined = NULL;
            if (i == first && has_system) {
                size_t a = strlen(m[0].content), b = strlen(content);
                joined = (char *)it__alloc(ctx, a + b + 32);
                if (!joined) return it_context_error(ctx, IT_ERR_OUT_OF_MEMORY, "chat: out of memory");
                memcpy(joined, "<<SYS>>\n", 8);
                memcpy(joined + 8, m[0].content, a);
                memcpy(joined + 8 + a, "\n<</SYS>>\n\n", 11);
                memcpy(joined + 19 + a, content, b + 1);
                content = joined;
            }
            if (strcmp(m[i].role, "user") == 0) {
                it__chat_puts(&o, t->bos_token);
                it__chat_puts(&o, "[INST] ");
                it__chat_put_trimmed(&o, content);
                it__chat_puts(&o, " [/INST]");
            } else {
                it__chat_puts(&o, " ");
                it__chat_put_trimmed(&o, content);
                it__chat_puts(&o, " ");
                it__chat_puts(&o, t->eos_token);
            }
            it__free(ctx, joined);
        }
        break;
    case IT_CHAT_MISTRAL:
        it__chat_puts(&o, t->bos_token);
        for (i = 0; i < n; i++) {
            int user = strcmp(m[i].role, "user") == 0;
            if (user) it__chat_puts(&o, "[INST] ");
            it__chat_puts(&o, m[i].content);
            it__chat_puts(&o, user ? " [/INST]" : t->eos_token);
        }
        break;
    case IT_CHAT_ZEPHYR:
        for (i = 0; i < n; i++) {
            it__chat_puts(&o, "<|");
            it__chat_puts(&o, m[i].role);
            it__chat_puts(&o, "|>\n");
            it__chat_puts(&o, m[i].content);
            it__chat_puts(&o, t->eos_token);
            it__chat_puts(&o, "\n");
        }
        if (add_generation_prompt) it__chat_puts(&o, "<|assistant|>\n");
        break;
    case IT_CHAT_GEMMA:
        it__chat_puts(&o, t->bos_token);
        for (i = 0; i < n; i++) {
            it__chat_puts(&o, "<start_of_turn>");
            it__chat_puts(&o, strcmp(m[i].role, "assistant") == 0 ? "model" : m[i].role);
            it__chat_puts(&o, "\n");
            it__chat_put_trimmed(&o, m[i].content);
            it__chat_puts(&o, "<end_of_turn>\n");
        }
        if (add_generation_prompt) it__chat_puts(&o, "<start_of_turn>model\n");
        break;
    default: break;
    }
    if (cap) out[o.n < o.cap ? o.n : o.cap] = 0;
    *out_len = o.n;
    return IT_OK;
}
IT_API const char *it_chat_template_end_of_turn(const it_chat_template *t) {
    IT__NOT_NULL(t, "it_chat_template_end_of_turn");
    switch (t->format) {
    case IT_CHAT_CHATML: return "<|im_end|>";
    case IT_CHAT_LLAMA3: return "<|eot_id|>";
    case IT_CHAT_GEMMA: return "<end_of_turn>";
    case IT_CHAT_LLAMA2: case IT_CHAT_MISTRAL: case IT_CHAT_ZEPHYR: return t->eos_token;
    default: return "";
    }
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
