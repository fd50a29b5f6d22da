/* it_kernel_args.h - argument structs shared by the .metal kernels in shaders/ and the C side of the Metal backend.
   Passed with setBytes. Only 32-bit scalars (unsigned int, int, float), so C and MSL lay the
   structs out identically without packing pragmas. Each .metal file includes this header behind
   #ifndef IT_KERNEL_ARGS_H, so the joined source (shaders.h: this header first) skips the include. */
#ifndef IT_KERNEL_ARGS_H
#define IT_KERNEL_ARGS_H

/* elementwise.metal, activations.metal: n values; b is broadcast with period nb (a bias) */
typedef struct it_elementwise_args {
    unsigned int n;
    unsigned int nb;
    float alpha;
    float pad_;
} it_elementwise_args;

/* embedding.metal: ids [N], table [V, C] */
typedef struct it_embedding_args {
    unsigned int N, C, V, pad_;
} it_embedding_args;

/* rmsnorm.metal, layernorm.metal, softmax.metal: rows [N, C] */
typedef struct it_norm_args {
    unsigned int N, C;
    float eps;
    unsigned int has_bias; /* layernorm: b/db bound and used */
} it_norm_args;

/* rmsnorm.metal, layernorm.metal, elementwise.metal: column sums over x [N, C] in blocks of
   block_rows rows (block b: rows b * block_rows ..), written as partials [n_blocks, C] that a
   second pass (it_sum_rows_f32 with one block) adds in block order: weight and bias gradients
   spread over C x n_blocks threads instead of C, and deterministic (a fixed order, no atomics).
   With one block there is no second pass: the first adds straight into the gradient.
   IT_COLUMN_BLOCK_ROWS(N) is the block height both GPU backends use: 64 rows, taller past 1024
   blocks (CUDA grids stop at 65535 in y; the second pass stays short). */
typedef struct it_column_sum_args {
    unsigned int N, C, block_rows;
    unsigned int accumulate; /* out += instead of = */
    unsigned int has_bias;   /* layernorm: the db partials are written */
    unsigned int pad_[3];
} it_column_sum_args;
#define IT_COLUMN_BLOCK_ROWS(N) ((N) > 64u * 1024u ? ((N) + 1023u) / 1024u : 64u)

/* rope.metal: x [B, T, H, D], D even; the frequencies scaled as it_rope_scaling says (kind 0
   default, 1 linear, 2 llama3: it_rope_kind) */
typedef struct it_rope_args {
    unsigned int B, T, H, D;
    float theta;
    int pos_offset;
    unsigned int kind;
    float factor;
    float low_freq_factor, high_freq_factor;
    int original_max_positions;
    unsigned int pad_;
} it_rope_args;

/* attention.metal, attention_backward.metal: q [B, T, Hq, D]; k, v [B, T, Hkv, D];
   lse, delta [B, Hq, T]; D <= IT_ATTN_MAX_D */
#define IT_ATTN_MAX_D 64
/* the row length of attention tiles in threadgroup memory that lane j reads along row j: one
   float of padding puts the 32 lanes' column d in 32 different banks (unpadded, 64 floats apart,
   they all hit one bank: a 32-way conflict the H200 showed as the slowest kernels of a step) */
#define IT_ATTN_TILE_LD (IT_ATTN_MAX_D + 1)

/* attention_scores.metal: the row steps between attention's matrix products (the CUDA backend's
   attention as cuBLAS products): scores [Hq, nb, T, T], query head h and batch row b0 + j at
   (h * nb + j) * T * T, for the nb batch rows from b0; lse, delta [B, Hq, T] as above */
typedef struct it_attention_scores_args {
    unsigned int T, Hq, nb, b0;
    float scale;         /* 1/sqrt(D) */
    unsigned int window; /* as it_attention_args.window */
    unsigned int rows;   /* Hq * nb * T */
    unsigned int pad_;
} it_attention_scores_args;
typedef struct it_attention_args {
    unsigned int B, T, Hq, Hkv, D;
    float scale;         /* 1/sqrt(D) */
    unsigned int window; /* > 0: query t sees keys t - window + 1 .. t only (a sliding window) */
    unsigned int pad_;
} it_attention_args;

/* paged_attention.metal: out, q [n, Hq, D]; one layer's k, v pool (block b at b * block_stride
   floats); tables [*, table_stride]; D <= IT_ATTN_MAX_D; window 0 = every earlier key */
typedef struct it_paged_attention_args {
    unsigned int n, Hq, Hkv, D;
    unsigned int block_size, table_stride, block_stride, window;
    float scale; /* 1/sqrt(D) */
    unsigned int pad_[3];
} it_paged_attention_args;

/* cross_entropy.metal: a chunk of logits [N, chunk] (row stride ld) holding vocabulary columns
   [v0, v0 + chunk) of V; state [3, N] = running max, running sum of exp, target logit. */
typedef struct it_cross_entropy_args {
    unsigned int N, V, v0, chunk;
    unsigned int ld;
    int ignore_index;
    unsigned int accumulate; /* dlogits: 1 = +=, 0 = = */
    unsigned int pad_;
} it_cross_entropy_args;

/* matmul.metal: c [M, N] (+)= op(a) @ op(b); batch strides in elements (0 = shared operand);
   bf16: both operands rounded to bf16 as they are read, fp32 sums (it_context_set_compute_dtype) */
typedef struct it_matmul_args {
    unsigned int M, N, K;
    unsigned int trans_a, trans_b, accumulate;
    unsigned int batch_stride_a, batch_stride_b, batch_stride_c;
    unsigned int bf16;
    unsigned int pad_[2];
} it_matmul_args;

/* optimizer.metal: n values; the effective gradient scale is grad_scale * gscale[0], and
   gscale[1] != 0 skips the update (device values, so clipping and the finiteness check computed
   on the GPU need no round trip) */
typedef struct it_optimizer_args {
    unsigned int n;
    int step;   /* AdamW, t >= 1 */
    float lr, beta1, beta2, eps, wd, grad_scale;
    float momentum;
    unsigned int pad_[3];
} it_optimizer_args;

/* decode.metal: y [rows] (+)= W [rows, cols] x (matvec) or y [cols] (+)= x [rows] W (vecmat),
   plus a bias when has_bias; argmax over cols values */
typedef struct it_matvec_args {
    unsigned int rows, cols;
    unsigned int accumulate; /* 1: y += (a residual added in place) */
    unsigned int has_bias;
} it_matvec_args;

/* sample.metal: a token from logits [V] (it_cpu_sample_min_p: temperature > 0, top_k 0 = off,
   top_p 1 = off, min_p 0 = off, coin in [0, 1)); the repetition penalty over ids [n_ids] */
typedef struct it_sample_args {
    unsigned int V, n_ids, top_k;
    float temperature, top_p, min_p, coin, penalty;
} it_sample_args;

/* quant_matvec.metal: weights in blocks of IT_QBLOCK (irontensor.h's >>quant); activations for Q8_0
   and Q4_0 weights quantised per block to IT_QACT_BYTES: 32 int8 values, then their float scale */
#ifndef IT_QBLOCK
#define IT_QBLOCK 32
#endif
#define IT_QACT_BYTES (IT_QBLOCK + 4)

/* decode.metal: n new queries q [n, Hq, D] at positions p0 .. p0 + n - 1 against the cache
   k, v [S, Hkv, D]; window > 0: each query sees its last `window` positions only */
typedef struct it_decode_attention_args {
    unsigned int n, p0, Hq, Hkv, D, window;
    float scale; /* 1/sqrt(D) */
    unsigned int pad_;
} it_decode_attention_args;

/* lora.metal: the rank-r branch of a LoRA linear over N rows. down: u [N, r] = scale x [N, K] M^T;
   up: y [N, K] += u [N, r] M^T. The matrix M is read at mat[row * ld_row + col * ld_col], so A,
   B and their transposes bind as they are stored. bf16: both factors of every product rounded to
   bf16, fp32 sums (as it_matmul_args.bf16). */
typedef struct it_lora_args {
    unsigned int N, K, r;
    unsigned int ld_row, ld_col;
    float scale;
    unsigned int bf16;
    unsigned int pad_;
} it_lora_args;

/* grad_norm.metal: partial sums of squares over n values, then the clip scale */
typedef struct it_grad_norm_args {
    unsigned int n;
    unsigned int n_partials;
    float max_norm;   /* <= 0: no clipping */
    float extra_scale;/* the gradient scale (1/k after k accumulated micro-batches): norm and
                         scale follow it_optimizer_step */
} it_grad_norm_args;

#endif /* IT_KERNEL_ARGS_H */
