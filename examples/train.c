/* train.c - train a small language model on a text file (or an llm.c .bin token file).

     cc -O2 -std=c99 -I. examples/train.c -o build/train -lm -lpthread
     build/train --data ../shared/data/tinyshakespeare.txt --preset shakespeare --tokenizer bpe --steps 500

   The loop, in the order a reader should follow it:
     1. data: bytes -> tokenizer -> token ids -> train/validation split
     2. model: parameters declared in the context, one planned training graph and one eval graph
     3. each step: lr from the schedule, k micro-batches (gradients accumulate), one optimizer
        update with the gradients averaged and clipped
     4. every --eval-every steps: mean validation loss over fixed batches
   It writes loss.csv and loss.svg, and a checkpoint when --save is given. The last line is
   "final step=N train_loss=X val_loss=Y".
   Saving is careful (README "Checkpoints"): the --save target is checked before anything runs,
   a checkpoint is written only while the loss is finite, and SIGINT / SIGTERM finish the step,
   save and exit 130 / 143 (a second one exits at once).

   Data-parallel (README "Data-parallel training"): the same file built with MPI,
     mpicc -O2 -std=c99 -DIT_WITH_MPI -I. examples/train.c -o build/train_mpi -lm -lpthread
     mpirun -np 2 build/train_mpi --threads 1 --batch 16 ...
   runs one copy per rank; --batch is the global micro-batch, split evenly across the ranks. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty, getrusage, mkdir, sigaction under -std=c99 */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#define IRONTENSOR_METAL_IMPLEMENTATION
#include "irontensor_metal.h"
#define IRONTENSOR_CUDA_IMPLEMENTATION
#include "irontensor_cuda.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRAIN_PROGRAM "train"
#include "train_common.h"

typedef struct options {
    const char *data, *val_data, *preset, *tokenizer, *optimizer, *schedule, *save, *resume, *backend, *init_from;
    const char *given[64]; /* the flags on the command line (--resume refuses those that conflict) */
    int n_given, allow_new_data;
    it_model_config model;
    int steps, batch, seq, warmup, accum, threads, eval_every, eval_batches, save_every, stop_after, keep, log_every;
    int zero;
    it_dtype dtype, save_dtype; /* --dtype (the matrix products) and --save-dtype (model.safetensors) */
    int master_weights;         /* --master-weights: 1 = fp32 weights; 0 = bf16 weights, stochastic rounding */
    float lr, beta1, beta2, wd, min_lr_ratio, clip, comm_timeout;
    unsigned long long seed;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: train [flags]\n"
            "data\n"
            "  --data PATH           text file, or a .bin token file: llm.c's (with its header) or nanoGPT's\n"
            "                        (raw uint16 ids, no header) (default: irontensor.h)\n"
            "  --val-data PATH       a separate validation file (nanoGPT's val.bin); default: the last 10%% of --data\n"
            "  --tokenizer byte|bpe  byte-level (vocab 256) or BPE trained on the data to --vocab (default byte)\n"
            "model (a preset, then overrides)\n"
            "  --preset NAME         %s (default shakespeare)\n"
            "  --vocab N --dim N --layers N --heads N --kv-heads N --ffn N --max-seq N\n"
            "training\n"
            "  --steps N             total optimizer steps of the run (default 200)\n"
            "  --batch N --seq N     sequences per micro-batch and tokens per sequence (default 16, 128)\n"
            "  --accum K             micro-batches per step, gradients averaged (default 1)\n"
            "  --optimizer NAME      lion, adamw or sgd (default adamw)\n"
            "  --lr X                peak learning rate (default 1e-3; try 1e-4 for lion)\n"
            "  --beta1 X --beta2 X   optimizer betas (SGD: beta1 is the momentum; default per optimizer)\n"
            "  --wd X                weight decay on matrices (default 0.1)\n"
            "  --clip X              global gradient-norm clip, 0 = off (default 1.0)\n"
            "  --schedule NAME       cosine, linear, constant, invsqrt or wsd (default cosine)\n"
            "  --warmup N            warmup steps (default 20)\n"
            "  --min-lr-ratio X      final lr as a fraction of --lr (default 0.1)\n"
            "  --seed N              initialisation and data order (default 1)\n"
            "  --threads N           CPU threads, 0 = all cores (default 0)\n"
            "  --backend cpu|metal|cuda  where the step runs (default cpu)\n"
            "  --dtype f32|bf16      precision of the matrix products: bf16 = mixed precision, bf16 operands with\n"
            "                        fp32 sums; weights, gradients, optimizer state, norms, softmax and loss stay\n"
            "                        fp32 (default f32; CPU backend)\n"
            "  --master-weights 1|0  with --dtype bf16: 0 keeps the weights themselves in bf16, each update rounded\n"
            "                        stochastically (llm.c); 1 = fp32 master weights (default 1)\n"
            "evaluation and output\n"
            "  --eval-every N        validation loss every N steps, 0 = only at the end (default 50)\n"
            "  --eval-batches N      validation batches per evaluation (default 8)\n"
            "  --log-every N         progress lines when not on a terminal (default 10)\n"
            "checkpoints (a directory: model.safetensors, config.json, optimizer and trainer state)\n"
            "  --save DIR            write a checkpoint to DIR at the end (loss.csv and loss.svg go there too);\n"
            "                        DIR must be new, empty or a checkpoint (missing parents are created)\n"
            "  --save-every N        also every N steps: DIR is updated and DIR.stepNNNNNNNN kept (default 0)\n"
            "  --keep K              how many DIR.step* checkpoints --save-every keeps (default 3)\n"
            "  --save-dtype f32|bf16 model.safetensors in f32 or bf16 (optimizer state stays f32; default f32). With\n"
            "                        fp32 master weights a bf16 save rounds them, so --resume continues from rounded\n"
            "                        weights; --master-weights 0 saves exactly\n"
            "  --stop-after K        end this invocation after K steps, saving to --save (the run's total\n"
            "                        stays --steps; continue it with --resume)\n"
            "  --resume DIR          continue the run saved in DIR: model, optimizer, schedule, data order\n"
            "                        and RNG come from the checkpoint; the result is bit-identical to a run\n"
            "                        that never stopped. --data is required and must be the same file (size\n"
            "                        and CRC-32 are recorded); a flag that conflicts with the checkpoint is refused.\n"
            "                        Saves back into DIR unless --save names another directory\n"
            "  --allow-new-data      with --resume: continue on a --data / --val-data other than the run's\n"
            "  --init-from DIR       start from the model in DIR (a Hugging Face model directory or a checkpoint):\n"
            "                        its weights, config and tokenizer (tokenizer.json / tokenizer.bin); a fresh\n"
            "                        optimizer, schedule and data; model-shape flags must agree with DIR's config.\n"
            "                        --save keeps the tokenizer, chat template and generation_config.json\n"
            "data parallel (build/train_mpi under mpirun: README \"Data-parallel training\")\n"
            "  --zero 0|1            1 = ZeRO-1: each rank keeps 1/N of the optimizer state (default 0)\n"
            "  --comm-timeout S      how long a rank waits for the others before ending the job (default 60)\n"
            "  SIGINT (Ctrl-C) or SIGTERM: the step finishes, the checkpoint is saved (with --save), exit 130\n"
            "                        or 143; a second signal exits at once\n"
            "  --help                this text\n",
            it_model_preset_names());
}

static int fail_usage(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "train: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(see train --help)\n");
    return 2;
}
static int given(const options *o, const char *flag);
/* Returns 0 on success, the exit code otherwise (1 = bad value, 2 = usage). */
static int parse_args(int argc, char **argv, options *o) {
    int i, *model_int = NULL;
    memset(o, 0, sizeof *o);
    o->data = "irontensor.h";
    o->preset = "shakespeare";
    o->tokenizer = "byte";
    o->optimizer = "adamw";
    o->schedule = "cosine";
    o->backend = "cpu";
    o->steps = 200;
    o->batch = 16;
    o->seq = 128;
    o->accum = 1;
    o->warmup = 20;
    o->eval_every = 50;
    o->eval_batches = 8;
    o->log_every = 10;
    o->keep = 3;
    o->lr = 1e-3f;
    o->wd = 0.1f;
    o->clip = 1.0f;
    o->min_lr_ratio = 0.1f;
    o->seed = 1;
    o->dtype = o->save_dtype = IT_F32;
    o->master_weights = 1;
    o->model.vocab_size = -1; /* -1 = not given: from the preset (or the tokenizer) */
    o->model.dim = o->model.n_layers = o->model.n_heads = o->model.n_kv_heads = o->model.ffn_dim = o->model.max_seq = -1;
    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(f, "--", 2) != 0) return fail_usage("unexpected argument '%s'%s", f, "");
        if (!strcmp(f, "--allow-new-data")) { /* the one flag without a value */
            o->allow_new_data = 1;
            continue;
        }
        if (!v) return fail_usage("%s needs a value%s", f, "");
        if (o->n_given < (int)(sizeof o->given / sizeof o->given[0])) o->given[o->n_given++] = f;
        model_int = !strcmp(f, "--vocab") ? &o->model.vocab_size : !strcmp(f, "--dim") ? &o->model.dim
                  : !strcmp(f, "--layers") ? &o->model.n_layers : !strcmp(f, "--heads") ? &o->model.n_heads
                  : !strcmp(f, "--kv-heads") ? &o->model.n_kv_heads : !strcmp(f, "--ffn") ? &o->model.ffn_dim
                  : !strcmp(f, "--max-seq") ? &o->model.max_seq : NULL;
        if (model_int) ok = parse_int(f, v, 1, model_int);
        else if (!strcmp(f, "--data")) o->data = v;
        else if (!strcmp(f, "--val-data")) o->val_data = v;
        else if (!strcmp(f, "--preset")) o->preset = v;
        else if (!strcmp(f, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(f, "--optimizer")) o->optimizer = v;
        else if (!strcmp(f, "--schedule")) o->schedule = v;
        else if (!strcmp(f, "--save")) o->save = v;
        else if (!strcmp(f, "--resume")) o->resume = v;
        else if (!strcmp(f, "--init-from")) o->init_from = v;
        else if (!strcmp(f, "--backend")) o->backend = v;
        else if (!strcmp(f, "--steps")) ok = parse_int(f, v, 1, &o->steps);
        else if (!strcmp(f, "--batch")) ok = parse_int(f, v, 1, &o->batch);
        else if (!strcmp(f, "--seq")) ok = parse_int(f, v, 1, &o->seq);
        else if (!strcmp(f, "--accum")) ok = parse_int(f, v, 1, &o->accum);
        else if (!strcmp(f, "--warmup")) ok = parse_int(f, v, 0, &o->warmup);
        else if (!strcmp(f, "--threads")) ok = parse_int(f, v, 0, &o->threads);
        else if (!strcmp(f, "--eval-every")) ok = parse_int(f, v, 0, &o->eval_every);
        else if (!strcmp(f, "--eval-batches")) ok = parse_int(f, v, 1, &o->eval_batches);
        else if (!strcmp(f, "--log-every")) ok = parse_int(f, v, 1, &o->log_every);
        else if (!strcmp(f, "--save-every")) ok = parse_int(f, v, 0, &o->save_every);
        else if (!strcmp(f, "--keep")) ok = parse_int(f, v, 1, &o->keep);
        else if (!strcmp(f, "--stop-after")) ok = parse_int(f, v, 1, &o->stop_after);
        else if (!strcmp(f, "--zero")) ok = parse_int(f, v, 0, &o->zero);
        else if (!strcmp(f, "--dtype")) ok = parse_dtype(f, v, &o->dtype);
        else if (!strcmp(f, "--save-dtype")) ok = parse_dtype(f, v, &o->save_dtype);
        else if (!strcmp(f, "--master-weights")) ok = parse_int(f, v, 0, &o->master_weights);
        else if (!strcmp(f, "--comm-timeout")) ok = parse_float(f, v, 0.001f, &o->comm_timeout);
        else if (!strcmp(f, "--lr")) ok = parse_float(f, v, 0.0f, &o->lr);
        else if (!strcmp(f, "--beta1")) ok = parse_float(f, v, 0.0f, &o->beta1);
        else if (!strcmp(f, "--beta2")) ok = parse_float(f, v, 0.0f, &o->beta2);
        else if (!strcmp(f, "--wd")) ok = parse_float(f, v, 0.0f, &o->wd);
        else if (!strcmp(f, "--clip")) ok = parse_float(f, v, 0.0f, &o->clip);
        else if (!strcmp(f, "--min-lr-ratio")) ok = parse_float(f, v, 0.0f, &o->min_lr_ratio);
        else if (!strcmp(f, "--seed")) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            ok = *v && !*end;
            if (!ok) fprintf(stderr, "train: --seed expects a whole number, got '%s'\n", v);
        } else
            return fail_usage("unknown flag '%s'%s", f, "");
        if (!ok) return 1;
        i++;
    }
    if (strcmp(o->tokenizer, "byte") && strcmp(o->tokenizer, "bpe"))
        return fail_usage("--tokenizer must be byte or bpe, got '%s'%s", o->tokenizer, "");
    if (strcmp(o->backend, "cpu") && strcmp(o->backend, "metal") && strcmp(o->backend, "cuda"))
        return fail_usage("--backend must be cpu, metal or cuda, got '%s'%s", o->backend, "");
    if (o->min_lr_ratio > 1.0f) return fail_usage("--min-lr-ratio must be at most 1%s%s", "", "");
    if (!o->save && o->resume) o->save = o->resume; /* a resumed run saves back where it came from */
    if (o->stop_after && !o->save) return fail_usage("--stop-after needs --save DIR to continue from%s%s", "", "");
    if (o->save_every && !o->save) return fail_usage("--save-every needs --save DIR%s%s", "", "");
    if (o->allow_new_data && !o->resume) return fail_usage("--allow-new-data only applies to --resume%s%s", "", "");
    if (o->lr <= 0.0f) return fail_usage("--lr must be greater than 0%s%s", "", "");
    if (!dp_flags_ok(o->zero, o->comm_timeout)) return 2;
    if (o->master_weights > 1) return fail_usage("--master-weights must be 1 (fp32 weights) or 0 (bf16 weights)%s%s", "", "");
    if (!o->master_weights && o->dtype != IT_BF16 && !o->resume)
        return fail_usage("--master-weights 0 keeps the weights in bf16: it needs --dtype bf16%s%s", "", "");
    if (o->init_from && o->resume)
        return fail_usage("--init-from and --resume are alternatives: --resume continues a run, --init-from starts a new one "
                          "from a model%s%s", "", "");
    if (o->init_from && given(o, "--tokenizer"))
        return fail_usage("--tokenizer does not apply to --init-from %s: the model brings its own%s", o->init_from, "");
    return 0;
}
static int given(const options *o, const char *flag) {
    int i;
    for (i = 0; i < o->n_given; i++)
        if (!strcmp(o->given[i], flag)) return 1;
    return 0;
}

/* Mean loss over the first n fixed validation batches. With several ranks each one runs its own
   rows of every batch (the eval graph holds batch / ranks of them) and the means are averaged. */
static it_result evaluate(it_model_graph *eval, it_dataset *ds, int n, float *out) {
    double sum = 0.0;
    int i, global = eval->batch * dp->size;
    size_t rows = (size_t)eval->batch * eval->seq, available = it_dataset_eval_batches(ds, IT_SPLIT_VAL, global, eval->seq);
    int32_t *tokens = it_data_i32(eval->tokens), *targets = it_data_i32(eval->targets);
    it_result r = IT_OK;
    if (dp->size > 1) { /* the whole batch, of which this rank copies its rows */
        tokens = (int32_t *)malloc(rows * dp->size * sizeof(int32_t));
        targets = (int32_t *)malloc(rows * dp->size * sizeof(int32_t));
        if (!tokens || !targets) r = IT_ERR_OUT_OF_MEMORY;
    }
    for (i = 0; i < n && r == IT_OK; i++) {
        r = it_dataset_eval_batch(ds, IT_SPLIT_VAL, (size_t)i % (available ? available : 1), global, eval->seq, tokens,
                                  targets);
        if (r == IT_OK && dp->size > 1) {
            memcpy(it_data_i32(eval->tokens), tokens + rows * dp->rank, rows * sizeof(int32_t));
            memcpy(it_data_i32(eval->targets), targets + rows * dp->rank, rows * sizeof(int32_t));
        }
        if (r == IT_OK) r = it_graph_run(eval->graph, IT_RUN_FORWARD);
        if (r == IT_OK) sum += it_data(eval->loss)[0];
    }
    if (dp->size > 1) { /* the ranks' means, averaged */
        free(tokens);
        free(targets);
        if (r == IT_OK && !dp_sum_doubles(&sum, 1)) r = IT_ERR_BACKEND;
        sum /= dp->size;
    }
    *out = (float)(sum / n);
    return r;
}

/* The tokenizer a model directory brings: tokenizer.json (Hugging Face; *hf = 1), tokenizer.bin
   (ours; its path in tok_path), or bytes for a 256-token vocabulary; none (*tok NULL) otherwise,
   which only a token file as --data can use. 0 after printing an error. */
static int load_model_tokenizer(it_context *ctx, const char *dir, const it_model_config *m, it_tokenizer **tok, char *tok_path,
                                size_t size, int *hf) {
    char json[4200];
    struct stat st;
    it_result r = IT_OK;
    *tok = NULL;
    *hf = 0;
    tok_path[0] = 0;
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    if (stat(json, &st) == 0) {
        *hf = 1;
        r = it_tokenizer_load_hf(ctx, dir, tok);
    } else if (it_checkpoint_tokenizer_path(dir, tok_path, size))
        r = it_tokenizer_load(ctx, tok_path, tok);
    else if ((tok_path[0] = 0), m->vocab_size == 256)
        r = it_tokenizer_byte(ctx, tok);
    if (r != IT_OK) {
        fprintf(stderr, "train: %s: %s\n", dir, it_context_last_error(ctx));
        return 0;
    }
    if (*tok && it_tokenizer_vocab_size(*tok) > m->vocab_size) {
        fprintf(stderr, "train: %s: the tokenizer has %d tokens but the model only %d\n", dir, it_tokenizer_vocab_size(*tok),
                m->vocab_size);
        return 0;
    }
    return 1;
}

/* Model config: the preset, then the flags that were given. */
static int model_config_from_flags(options *o) {
    it_model_config base, ov = o->model;
    if (it_model_preset(o->preset, &base) != IT_OK) {
        fprintf(stderr, "train: unknown preset '%s' (known: %s)\n", o->preset, it_model_preset_names());
        return 0;
    }
    if (ov.vocab_size > 0) base.vocab_size = ov.vocab_size;
    else if (!strcmp(o->tokenizer, "byte")) base.vocab_size = 256;
    if (ov.dim > 0) base.dim = ov.dim;
    if (ov.n_layers > 0) base.n_layers = ov.n_layers;
    if (ov.n_heads > 0) {
        base.n_heads = ov.n_heads;
        if (ov.n_kv_heads <= 0) base.n_kv_heads = ov.n_heads;
    }
    if (ov.n_kv_heads > 0) base.n_kv_heads = ov.n_kv_heads;
    if (ov.ffn_dim > 0) base.ffn_dim = ov.ffn_dim;
    if (ov.max_seq > 0) base.max_seq = ov.max_seq;
    if (base.max_seq < o->seq) base.max_seq = o->seq;
    o->model = base;
    return 1;
}

/* --resume takes the model, optimizer, schedule and data order from the checkpoint, so a flag that
   says otherwise would be silently ignored: each one given with a different value is refused,
   naming the flag and both values. Returns 1 when there is a conflict (after printing it). */
static int conflict(const char *flag, const char *given_value, const char *saved_value, const char *dir) {
    if (!strcmp(given_value, saved_value)) return 0;
    fprintf(stderr, "train: %s %s conflicts with the checkpoint %s, which has %s; omit %s to keep the checkpoint's\n", flag,
            given_value, dir, saved_value, flag);
    return 1;
}
/* A resumed run keeps saving model.safetensors in the dtype its checkpoint has, unless --save-dtype
   says otherwise. */
static void note_bf16_tensor(const it_safetensors_tensor_info *info, void *user) {
    if (!strcmp(info->dtype, "BF16")) *(int *)user = 1;
}
static it_dtype saved_model_dtype(it_context *ctx, const char *dir) {
    char path[4200];
    int bf16 = 0;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return it_safetensors_inspect(ctx, path, note_bf16_tensor, &bf16) == IT_OK && bf16 ? IT_BF16 : IT_F32;
}
/* The directory the model comes from: --resume's or --init-from's. */
static const char *source_dir(const options *o) { return o->resume ? o->resume : o->init_from; }
static int conflict_int(const options *o, const char *flag, long long given_value, long long saved_value) {
    char a[32], b[32];
    if (!given(o, flag)) return 0;
    snprintf(a, sizeof a, "%lld", given_value);
    snprintf(b, sizeof b, "%lld", saved_value);
    return conflict(flag, a, b, source_dir(o));
}
static int conflict_float(const options *o, const char *flag, float given_value, float saved_value) {
    char a[32], b[32];
    if (!given(o, flag) || given_value == saved_value) return 0;
    snprintf(a, sizeof a, "%g", (double)given_value);
    snprintf(b, sizeof b, "%g", (double)saved_value);
    if (!strcmp(a, b)) snprintf(b, sizeof b, "%.9g", (double)saved_value);
    return conflict(flag, a, b, source_dir(o));
}
/* The model-shape flags against the checkpoint's config (--resume and --init-from). */
static int model_conflicts(const options *o, const it_model_config *m) {
    int bad = 0;
    bad |= conflict_int(o, "--vocab", o->model.vocab_size, m->vocab_size);
    bad |= conflict_int(o, "--dim", o->model.dim, m->dim);
    bad |= conflict_int(o, "--layers", o->model.n_layers, m->n_layers);
    bad |= conflict_int(o, "--heads", o->model.n_heads, m->n_heads);
    bad |= conflict_int(o, "--kv-heads", o->model.n_kv_heads, m->n_kv_heads);
    bad |= conflict_int(o, "--ffn", o->model.ffn_dim, m->ffn_dim);
    bad |= conflict_int(o, "--max-seq", o->model.max_seq, m->max_seq);
    if (given(o, "--preset")) {
        it_model_config p;
        char a[160], b[160];
        if (it_model_preset(o->preset, &p) != IT_OK) {
            fprintf(stderr, "train: unknown preset '%s' (known: %s)\n", o->preset, it_model_preset_names());
            return 1;
        }
        snprintf(a, sizeof a, "(dim %d, %d layers, %d/%d heads, ffn %d)", p.dim, p.n_layers, p.n_heads, p.n_kv_heads, p.ffn_dim);
        snprintf(b, sizeof b, "(dim %d, %d layers, %d/%d heads, ffn %d)", m->dim, m->n_layers, m->n_heads, m->n_kv_heads,
                 m->ffn_dim);
        if (strcmp(a, b) || p.arch != m->arch) {
            fprintf(stderr, "train: --preset %s conflicts with the checkpoint %s, which has %s (the preset: %s); omit "
                            "--preset to keep the checkpoint's\n", o->preset, source_dir(o), b, a);
            bad = 1;
        }
    }
    return bad;
}
static int resume_conflicts(const options *o, const it_model_config *m, const it_trainer_state *ts) {
    const it_optimizer_desc *od = &ts->optimizer;
    const it_schedule *sc = &ts->schedule;
    int bad = model_conflicts(o, m);
    bad |= conflict_int(o, "--batch", o->batch, ts->batch);
    bad |= conflict_int(o, "--seq", o->seq, ts->seq);
    bad |= conflict_int(o, "--accum", o->accum, ts->accum_steps);
    bad |= conflict_int(o, "--warmup", o->warmup, sc->warmup_steps);
    bad |= conflict_float(o, "--lr", o->lr, sc->base_lr);
    bad |= conflict_float(o, "--min-lr-ratio", o->min_lr_ratio, sc->min_lr_ratio);
    bad |= conflict_float(o, "--wd", o->wd, od->weight_decay);
    bad |= conflict_float(o, "--clip", o->clip, od->clip_norm);
    bad |= conflict_float(o, "--beta1", o->beta1, od->kind == IT_OPTIMIZER_SGD ? od->momentum : od->beta1);
    bad |= conflict_float(o, "--beta2", o->beta2, od->beta2);
    if (given(o, "--seed") && o->seed != ts->seed) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%llu", o->seed);
        snprintf(b, sizeof b, "%llu", (unsigned long long)ts->seed);
        bad |= conflict("--seed", a, b, o->resume);
    }
    if (given(o, "--optimizer")) bad |= conflict("--optimizer", o->optimizer, it_optimizer_name(od->kind), o->resume);
    if (given(o, "--schedule")) bad |= conflict("--schedule", o->schedule, it_schedule_name(sc->kind), o->resume);
    if (given(o, "--tokenizer") && ts->tokenizer[0]) bad |= conflict("--tokenizer", o->tokenizer, ts->tokenizer, o->resume);
    if (given(o, "--dtype"))
        bad |= conflict("--dtype", it_dtype_name(o->dtype), it_dtype_name(ts->compute_dtype == IT_BF16 ? IT_BF16 : IT_F32), o->resume);
    bad |= conflict_int(o, "--master-weights", o->master_weights, !od->bf16_weights);
    return bad;
}

/* The file a flag names against the fingerprint the run recorded for it: the same file, or (only
   with --allow-new-data) a different one, said so. *now gets the file's fingerprint. */
static int check_same_file(it_context *ctx, const options *o, const char *flag, const char *path,
                           const it_file_fingerprint *saved, it_file_fingerprint *now) {
    if (it_file_fingerprint_compute(ctx, path, now) != IT_OK) {
        fprintf(stderr, "train: %s %s: %s\n", flag, path, it_context_last_error(ctx));
        return 0;
    }
    if (saved->size == 0) {
        fprintf(stderr, "train: note: %s records no fingerprint of its %s file, so %s %s cannot be checked\n", o->resume,
                flag + 2, flag, path);
        return 1;
    }
    if (saved->size == now->size && saved->crc32 == now->crc32) return 1;
    fprintf(stderr, "train: %s %s (%lld bytes, crc32 %08lx) is not the file the run in %s was trained on (%lld bytes, crc32 "
                    "%08lx)%s\n", flag, path, (long long)now->size, (unsigned long)now->crc32, o->resume,
            (long long)saved->size, (unsigned long)saved->crc32,
            o->allow_new_data ? "; continuing on it (--allow-new-data)" : "; pass --allow-new-data to continue on it anyway");
    return o->allow_new_data;
}

/* The --save-every snapshots PARENT/PREFIX<step> this invocation will write that already exist must
   be replaceable too: checked now, not at their step. */
static int check_snapshot_targets(it_context *ctx, const char *parent, const char *prefix, int first_step, int last_step,
                                  int every) {
    DIR *d = opendir(parent);
    struct dirent *e;
    size_t pl = strlen(prefix);
    int ok = 1;
    while (d && ok && (e = readdir(d)) != NULL) {
        const char *digits = e->d_name + pl;
        char path[4500];
        long long step = 0;
        if (strncmp(e->d_name, prefix, pl) != 0 || !*digits || strspn(digits, "0123456789") != strlen(digits) ||
            strlen(digits) > 12)
            continue;
        for (; *digits; digits++) step = step * 10 + (*digits - '0');
        if (step <= first_step || step > last_step || step % every != 0) continue;
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        if (it_checkpoint_check_target(ctx, path) != IT_OK) {
            fprintf(stderr, "train: --save-every would replace %s at step %lld: %s\n", path, step, it_context_last_error(ctx));
            ok = 0;
        }
    }
    if (d) closedir(d);
    return ok;
}

/* A checkpoint must hold weights the run can go on from: the step's training loss finite and, on
   the weights just updated, one validation batch with a finite loss and finite gradients. (Loss
   alone is not enough: after --lr 1e30 the model outputs a uniform, finite ln(vocab) and only the
   next backward overflows.) The probe goes through the training graph and leaves nothing behind:
   the gradient block is zeroed before every step, and no data-order state is touched. A diverged
   run is stopped here, before its weights replace the last good checkpoint. */
static int weights_usable(it_context *ctx, it_model_graph *train, it_dataset *ds, int step, float train_loss,
                          const char *last_good) {
    float probe_loss = NAN;
    double grad_sq = NAN;
    if (isfinite(train_loss)) {
        it_zero_grads(ctx);
        if (it_dataset_eval_batch(ds, IT_SPLIT_VAL, 0, train->batch, train->seq, it_data_i32(train->tokens),
                                  it_data_i32(train->targets)) == IT_OK &&
            it_graph_run(train->graph, IT_RUN_FORWARD_BACKWARD) == IT_OK) {
            probe_loss = it_data(train->loss)[0];
            grad_sq = it_cpu_sum_squares(it_grad_block(ctx), it_param_numel(ctx));
        }
        it_zero_grads(ctx);
    }
    if (isfinite(train_loss) && isfinite(probe_loss) && isfinite(grad_sq)) return 1;
    fprintf(stderr, "\ntrain: step %d: not finite (training loss %g; after the update: validation loss %g, squared "
                    "gradient norm %g): the run diverged; not saving it, %s; stopping (try a lower --lr)\n",
            step, (double)train_loss, (double)probe_loss, grad_sq, last_good);
    return 0;
}

/* --- data parallel (train_common.h has what build/finetune shares) ---------------------------
   Each rank draws its own data windows: the data RNG is seeded by rank. */

/* A rank's data stream: rank 0's is the one-process stream (so one rank trains exactly as
   build/train does), every other rank mixes its rank (and, for a rank a resumed checkpoint did
   not have, the step) into the seed. */
static void dp_seed_data_rng(it_rng *rng, unsigned long long seed, int rank, int step) {
    it_rng_seed(rng, (seed ^ 0x5EEDDA7Aull) + (uint64_t)rank * 0x9E3779B97F4A7C15ull + (uint64_t)step * 0xD1B54A32D192ED03ull);
}
/* After --resume: this rank's data position. The same world size continues every rank's own
   stream (bit-exact); another one is said, and changes the data order only. */
static void dp_resume_data_rng(it_trainer_state *ts, const options *o, int step) {
    int saved = ts->world_size > 1 ? ts->world_size : 1;
    if (dp->rank == 0 && saved != dp->size)
        fprintf(stderr, "train: note: %s was saved by %d rank%s and this run has %d: the data order changes (ranks beyond "
                        "the checkpoint's start new streams, streams of ranks no longer here end); the weights, optimizer, "
                        "schedule and global batch continue unchanged\n", o->resume, saved, saved == 1 ? "" : "s", dp->size);
    if (dp->rank > 0) {
        if (dp->rank < saved) ts->data_rng = ts->rank_data_rng[dp->rank - 1];
        else dp_seed_data_rng(&ts->data_rng, o->seed, dp->rank, step);
    }
}
/* Everything every rank must agree on (dp_check_config): the model, the flags that shape
   training, the data files and the weights themselves (after init or resume). */
static int dp_check_train_config(it_context *ctx, const options *o, const it_optimizer_desc *od, const it_schedule *sc,
                                 const it_trainer_state *ts, int first_step) {
    char config[2048];
    const it_model_config *m = &o->model;
    int len;
    if (dp->size == 1) return 1;
    len = snprintf(config, sizeof config,
                   "model: arch %d vocab %d dim %d layers %d heads %d/%d ffn %d max_seq %d untied %d\n"
                   "batch %d seq %d accum %d steps %d first_step %d seed %llu\n"
                   "optimizer %s beta1 %.9g beta2 %.9g eps %.9g momentum %.9g wd %.9g clip %.9g zero %d\n"
                   "schedule %s lr %.9g warmup %d total %d min_lr_ratio %.9g\n"
                   "data %lld bytes crc32 %08lx, val_data %lld bytes crc32 %08lx, tokenizer %s\n"
                   "weights fnv1a %016llx\n",
                   (int)m->arch, m->vocab_size, m->dim, m->n_layers, m->n_heads, m->n_kv_heads, m->ffn_dim, m->max_seq,
                   m->untied, o->batch, o->seq, o->accum, o->steps, first_step, o->seed, it_optimizer_name(od->kind),
                   (double)od->beta1, (double)od->beta2, (double)od->eps, (double)od->momentum, (double)od->weight_decay,
                   (double)od->clip_norm, od->zero_stage, it_schedule_name(sc->kind), (double)sc->base_lr, sc->warmup_steps,
                   sc->total_steps, (double)sc->min_lr_ratio, (long long)ts->data.size, (unsigned long)ts->data.crc32,
                   (long long)ts->val_data.size, (unsigned long)ts->val_data.crc32, ts->tokenizer,
                   (unsigned long long)dp_weights_hash(ctx));
    if (len < 0 || len >= (int)sizeof config) return 0;
    return dp_check_config(config, o->batch);
}
/* Before rank 0 saves: every rank's data position into its trainer state (each rank's own stream
   travels by a broadcast from that rank), then dp_before_save. */
static int dp_collect_data_rngs(it_trainer_state *ts) {
    int r;
    if (dp->size == 1) return 1;
    ts->world_size = dp->size;
    for (r = 1; r < dp->size; r++) {
        it_rng stream = ts->data_rng;
        if (it_comm_broadcast(dp, &stream, sizeof stream, r) != IT_OK) {
            fprintf(stderr, "\ntrain: rank %d: collecting the data positions: %s\n", dp->rank, dp->error);
            return 0;
        }
        if (dp->rank == 0) ts->rank_data_rng[r - 1] = stream;
    }
    return 1;
}

static int train_main(int argc, char **argv);
int main(int argc, char **argv) { return dp_main(argc, argv, train_main); }

/* A step's progress line. Its gradient norm comes from it_optimizer_step, or, on a backend that
   queues the update (Metal: one wait per step), from the next wait: such a line is printed after
   the next step's first run. */
typedef struct progress_line {
    int pending; /* filled in, not printed yet */
    int step, steps, tty;
    float loss, val_loss, lr; /* val_loss < 0: no evaluation at this step */
    double rate, mem_mb;
    char elapsed[32], eta[32];
} progress_line;
static void progress_print(progress_line *p, float norm) {
    char val[32] = "";
    if (p->val_loss >= 0) snprintf(val, sizeof val, " val %.4f", p->val_loss);
    fprintf(stdout, "%sstep %d/%d loss %.4f%s lr %.2e norm %.2f %.0f tok/s %s eta %s mem %.0f MB%s", p->tty ? "\r" : "", p->step,
            p->steps, p->loss, val, p->lr, norm, p->rate, p->elapsed, p->eta, p->mem_mb, p->tty ? "\033[K" : "\n");
    if (p->val_loss >= 0 && p->tty) fprintf(stdout, "\n");
    fflush(stdout);
    p->pending = 0;
}

static int train_main(int argc, char **argv) {
    options o;
    it_context *ctx = NULL;
    it_context_desc desc;
    it_tokenizer *tok = NULL;
    it_dataset *ds = NULL;
    it_model *model = NULL;
    it_model_graph train, eval;
    it_optimizer *opt = NULL;
    it_optimizer_desc od;
    it_schedule sched;
    it_trainer_state ts;
    it_checkpoint_options ck;
    curve c;
    char csv_path[4200], svg_path[4200], title[256], tok_path[4200] = "";
    int hf_tokenizer = 0; /* the tokenizer is a Hugging Face tokenizer.json (--init-from, or its resume) */
    char save_parent[4200] = ".", save_base[1024] = "", snap_prefix[1100] = "", run_id[IT_CHECKPOINT_RUN_ID_MAX] = "";
    char last_good[4400] = "no checkpoint of this run was written";
    /* progress on one line when stdout is a terminal; mpirun hands every rank a pseudo-terminal
       whatever the user's stdout is, so the data-parallel build prints whole lines */
#ifdef IT_WITH_MPI
    int tty = 0;
#else
    int tty = isatty(1);
#endif
    int code, step, first_step = 0, last_step, is_bin, save_tokenizer = 0, interrupted = 0;
    float last_loss = 0.0f, val_loss = -1.0f, norm = 0.0f;
    double t_start, tokens_per_step;
    const char *out_dir;
    progress_line line;

    if ((code = parse_args(argc, argv, &o)) != 0) return code;
    memset(&desc, 0, sizeof desc);
    desc.n_threads = o.threads;
    desc.logger.log = log_below_errors;
    desc.logger.min_level = IT_LOG_INFO;
    desc.comm = dp;
    if (it_context_create(&desc, &ctx) != IT_OK) {
        fprintf(stderr, "train: cannot create a context\n");
        return 1;
    }
    dp = it_context_comm(ctx);
    if (o.batch % dp->size != 0) {
        fprintf(stderr, "train: --batch %d must be a multiple of the %d ranks (each rank runs batch / ranks rows)\n", o.batch,
                dp->size);
        return 2;
    }
    if (o.save && dp->size > IT_CHECKPOINT_MAX_RANKS) {
        fprintf(stderr, "train: %d ranks: a checkpoint keeps the data positions of at most %d\n", dp->size, IT_CHECKPOINT_MAX_RANKS);
        return 2;
    }
    if (!strcmp(o.backend, "metal")) {
        it_backend *metal;
        if (it_metal_backend_create(ctx, NULL, &metal) != IT_OK) {
            fprintf(stderr, "train: --backend metal: %s\n", it_context_last_error(ctx));
            return 1;
        }
        it_context_set_backend(ctx, metal);
    }
    if (!strcmp(o.backend, "cuda")) {
        it_backend *cuda;
        if (it_cuda_backend_create(ctx, NULL, &cuda) != IT_OK) {
            fprintf(stderr, "train: --backend cuda: %s\n", it_context_last_error(ctx));
            return 1;
        }
        it_context_set_backend(ctx, cuda);
    }
    if (o.save) {
        split_save_path(o.save, save_parent, sizeof save_parent, save_base, sizeof save_base);
        snprintf(snap_prefix, sizeof snap_prefix, "%s.step", save_base);
        if (o.resume && o.save == o.resume) fprintf(stderr, "train: no --save given: saving back into %s\n", o.resume);
        else if (dp->rank == 0 && !prepare_save_target(ctx, o.save, save_parent)) return 1; /* saving back: checked once it has loaded */
    }
    memset(&ts, 0, sizeof ts);
    memset(&od, 0, sizeof od);
    memset(&sched, 0, sizeof sched);

    /* 1. what to train: from the flags, or (--resume) from the checkpoint */
    if (o.resume) {
        it_model_config saved;
        it_file_fingerprint now;
        int has_tok = it_checkpoint_tokenizer_path(o.resume, tok_path, sizeof tok_path);
        if (!given(&o, "--data")) {
            fprintf(stderr, "train: --resume needs --data: the file the run was trained on (the checkpoint records its "
                            "size and CRC-32)\n");
            return 2;
        }
        if (it_checkpoint_read_config(ctx, o.resume, &saved) != IT_OK ||
            it_checkpoint_read_trainer_state(ctx, o.resume, &ts) != IT_OK) {
            fprintf(stderr, "train: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
            return 1;
        }
        if (!ts.tokenizer[0]) { /* saved before the kind was recorded: tokenizer.bin, or what --data holds */
            int tokens = 0;
            if (!has_tok && it_token_file_probe(ctx, o.data, &tokens) != IT_OK) {
                fprintf(stderr, "train: cannot open --data: %s\n", it_context_last_error(ctx));
                return 1;
            }
            snprintf(ts.tokenizer, sizeof ts.tokenizer, "%s", has_tok ? "bpe" : tokens ? "none" : "byte");
        }
        if (given(&o, "--steps") && o.steps != ts.schedule.total_steps) {
            fprintf(stderr, "train: --steps %d differs from the resumed run's total %d (the schedule depends on it); "
                            "omit --steps to continue that run\n", o.steps, ts.schedule.total_steps);
            return 1;
        }
        if (resume_conflicts(&o, &saved, &ts)) return 1;
        if (ts.step >= ts.schedule.total_steps) { /* only a whole checkpoint may be called complete */
            if (it_checkpoint_validate(ctx, o.resume) != IT_OK) {
                fprintf(stderr, "train: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
                return 1;
            }
            fprintf(stderr, "train: the run in %s is already complete (step %lld of %d): nothing to train\n", o.resume,
                    (long long)ts.step, ts.schedule.total_steps);
            return 0;
        }
        if (!check_same_file(ctx, &o, "--data", o.data, &ts.data, &now)) return 1;
        ts.data = now; /* the checkpoint now describes what this run trains on */
        if (o.val_data) {
            if (!check_same_file(ctx, &o, "--val-data", o.val_data, &ts.val_data, &now)) return 1;
            ts.val_data = now;
        } else if (ts.val_data.size > 0 && !o.allow_new_data) {
            fprintf(stderr, "train: the run in %s was validated on a separate --val-data file (%lld bytes, crc32 %08lx); "
                            "pass it again (or --allow-new-data to use the last 10%% of --data)\n", o.resume,
                    (long long)ts.val_data.size, (unsigned long)ts.val_data.crc32);
            return 1;
        }
        o.model = saved;
        o.dtype = ts.compute_dtype == IT_BF16 ? IT_BF16 : IT_F32;
        if (!given(&o, "--save-dtype")) o.save_dtype = saved_model_dtype(ctx, o.resume);
        od = ts.optimizer;
        sched = ts.schedule;
        o.batch = ts.batch;
        o.seq = ts.seq;
        o.accum = ts.accum_steps;
        o.seed = ts.seed;
        o.steps = ts.schedule.total_steps;
        first_step = (int)ts.step;
        if (!strcmp(ts.tokenizer, "hf")) { /* a run started --init-from a Hugging Face model: its tokenizer.json */
            if (!load_model_tokenizer(ctx, o.resume, &saved, &tok, tok_path, sizeof tok_path, &hf_tokenizer)) return 1;
        } else if (has_tok) {
            if (it_tokenizer_load(ctx, tok_path, &tok) != IT_OK ||
                it_file_fingerprint_compute(ctx, tok_path, &now) != IT_OK) {
                fprintf(stderr, "train: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
                return 1;
            }
            if (ts.tokenizer_file.size && (now.size != ts.tokenizer_file.size || now.crc32 != ts.tokenizer_file.crc32)) {
                fprintf(stderr, "train: --resume %s: %s is not the tokenizer the run was trained with (%lld bytes, crc32 %08lx; "
                                "the run recorded %lld bytes, crc32 %08lx)\n", o.resume, tok_path, (long long)now.size,
                        (unsigned long)now.crc32, (long long)ts.tokenizer_file.size, (unsigned long)ts.tokenizer_file.crc32);
                return 1;
            }
            save_tokenizer = 1;
        } else {
            tok_path[0] = 0;
            if (!strcmp(ts.tokenizer, "bpe") || (strcmp(ts.tokenizer, "none") && o.model.vocab_size != 256)) {
                fprintf(stderr, "train: --resume %s: tokenizer.bin is missing, and the run's %s tokenizer (vocab %d) is "
                                "needed to read --data; bytes would be the wrong tokens\n", o.resume, ts.tokenizer,
                        o.model.vocab_size);
                return 1;
            }
        }
        if (it_checkpoint_read_run_id(ctx, o.resume, run_id, sizeof run_id) != IT_OK) { /* its snapshots stay this run's */
            fprintf(stderr, "train: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
            return 1;
        }
        snprintf(last_good, sizeof last_good, "the checkpoint %s (step %d) is kept", o.resume, first_step);
    } else {
        if (o.init_from) { /* the imported model's config; shape flags may only repeat it */
            it_model_config imported;
            if (it_checkpoint_read_config(ctx, o.init_from, &imported) != IT_OK) {
                fprintf(stderr, "train: --init-from %s: %s\n", o.init_from, it_context_last_error(ctx));
                return 1;
            }
            if (model_conflicts(&o, &imported)) return 1;
            if (o.seq > imported.max_seq) {
                fprintf(stderr, "train: --seq %d is longer than the model's max-seq %d (%s)\n", o.seq, imported.max_seq,
                        o.init_from);
                return 2;
            }
            o.model = imported;
            if (!load_model_tokenizer(ctx, o.init_from, &o.model, &tok, tok_path, sizeof tok_path, &hf_tokenizer)) return 1;
            save_tokenizer = tok_path[0] != 0; /* tokenizer.bin, copied verbatim */
        } else if (!model_config_from_flags(&o))
            return 1;
        if (it_optimizer_parse(o.optimizer, &od.kind) != IT_OK) {
            fprintf(stderr, "train: unknown --optimizer '%s' (lion, adamw, sgd)\n", o.optimizer);
            return 1;
        }
        od.beta1 = od.kind == IT_OPTIMIZER_SGD ? 0.0f : o.beta1;
        od.momentum = od.kind == IT_OPTIMIZER_SGD ? (o.beta1 > 0 ? o.beta1 : 0.9f) : 0.0f;
        od.beta2 = o.beta2;
        od.weight_decay = o.wd;
        od.clip_norm = o.clip;
        if (it_schedule_parse(o.schedule, &sched.kind) != IT_OK) {
            fprintf(stderr, "train: unknown --schedule '%s' (cosine, linear, constant, invsqrt, wsd)\n", o.schedule);
            return 1;
        }
        sched.base_lr = o.lr;
        sched.warmup_steps = o.warmup;
        sched.total_steps = o.steps;
        sched.min_lr_ratio = o.min_lr_ratio;
        dp_seed_data_rng(&ts.data_rng, o.seed, dp->rank, 0); /* data order: its own stream, apart from init */
    }
    if (!run_id[0]) /* names this run's --save-every snapshots, so pruning leaves other runs' alone */
        snprintf(run_id, sizeof run_id, "%lx-%lx", (unsigned long)time(NULL), (unsigned long)getpid());
    last_step = o.stop_after ? (first_step + o.stop_after < o.steps ? first_step + o.stop_after : o.steps) : o.steps;
    if (dp->rank == 0 && o.save_every && !check_snapshot_targets(ctx, save_parent, snap_prefix, first_step, last_step, o.save_every))
        return 1;
    if (it_model_config_check(ctx, &o.model) != IT_OK) {
        fprintf(stderr, "train: %s\n", it_context_last_error(ctx));
        return 1;
    }

    /* 2. data: bytes -> tokenizer -> ids -> 90/10 split (or --val-data) */
    if (it_token_file_probe(ctx, o.data, &is_bin) != IT_OK) { /* a FIFO or a directory is refused, never read */
        fprintf(stderr, "train: cannot open --data: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (o.init_from && !is_bin && !tok) {
        fprintf(stderr, "train: --init-from %s: the model has a vocabulary of %d tokens but no tokenizer (tokenizer.json or "
                        "tokenizer.bin): --data must be a token file\n", o.init_from, o.model.vocab_size);
        return 1;
    }
    if (!o.resume && !o.init_from && !is_bin && !strcmp(o.tokenizer, "byte") && o.model.vocab_size != 256) {
        fprintf(stderr, "train: --vocab %d needs --tokenizer bpe: the byte tokenizer has 256 tokens (a token file "
                        "as --data may have any vocabulary)\n", o.model.vocab_size);
        return 1;
    }
    if (!is_bin && !tok && !o.init_from) {
        it_result r;
        r = !strcmp(o.tokenizer, "bpe") ? it_tokenizer_train_bpe_file(ctx, o.data, o.model.vocab_size, &tok)
                                        : it_tokenizer_byte(ctx, &tok);
        if (r != IT_OK) {
            fprintf(stderr, "train: tokenizer: %s\n", it_context_last_error(ctx));
            return 1;
        }
        if (!strcmp(o.tokenizer, "bpe")) {
            if (it_tokenizer_vocab_size(tok) < o.model.vocab_size)
                o.model.vocab_size = it_tokenizer_vocab_size(tok); /* small corpus: fewer merges than asked */
            save_tokenizer = 1; /* the checkpoint carries its tokenizer */
        }
    }
    if (it_dataset_load(ctx, o.data, tok, o.model.vocab_size, o.seq, &ds) != IT_OK) {
        fprintf(stderr, "train: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (o.val_data) { /* the whole of --data trains, the whole of --val-data validates */
        it_dataset *val = NULL;
        if (it_dataset_load(ctx, o.val_data, tok, o.model.vocab_size, o.seq, &val) != IT_OK ||
            it_dataset_set_validation(ds, val) != IT_OK) {
            fprintf(stderr, "train: --val-data: %s\n", it_context_last_error(ctx));
            return 1;
        }
    }
    if (!o.resume) { /* what this run trains on, so a resume can tell the same files from others */
        snprintf(ts.tokenizer, sizeof ts.tokenizer, "%s",
                 is_bin ? "none" : hf_tokenizer ? "hf" : o.init_from ? (tok_path[0] ? "bpe" : "byte") : o.tokenizer);
        if (it_file_fingerprint_compute(ctx, o.data, &ts.data) != IT_OK ||
            (o.val_data && it_file_fingerprint_compute(ctx, o.val_data, &ts.val_data) != IT_OK) ||
            (save_tokenizer && it_tokenizer_fingerprint(ctx, tok, &ts.tokenizer_file) != IT_OK)) {
            fprintf(stderr, "train: %s\n", it_context_last_error(ctx));
            return 1;
        }
    }

    /* 3. model, graphs (one for training, one for evaluation: same parameters), optimizer */
    od.zero_stage = o.zero; /* how the state is kept, not what it is: a resume may change it */
    if (!o.resume) od.bf16_weights = !o.master_weights;
    if (it_context_set_compute_dtype(ctx, o.dtype) != IT_OK) {
        fprintf(stderr, "train: --dtype: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (o.dtype == IT_BF16 && !it_context_backend(ctx)->bf16_compute) {
        fprintf(stderr, "train: --dtype bf16: the %s backend has no bf16 compute yet (use --backend cpu)\n", o.backend);
        return 2;
    }
    if (it_model_create(ctx, &o.model, &model) != IT_OK ||
        it_model_graph_create(model, IT_PURPOSE_TRAIN, o.batch / dp->size, o.seq, &train) != IT_OK ||
        it_model_graph_create(model, IT_PURPOSE_EVAL, o.batch / dp->size, o.seq, &eval) != IT_OK ||
        it_optimizer_create(ctx, &od, &opt) != IT_OK) {
        fprintf(stderr, "train: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (o.resume) {
        it_trainer_state checked = ts; /* with the fingerprints of the files this invocation uses */
        if (it_optimizer_gather_state(opt) != IT_OK || it_checkpoint_load(ctx, model, opt, &ts, o.resume) != IT_OK ||
            it_optimizer_shard_state(opt) != IT_OK) {
            fprintf(stderr, "train: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
            return 1;
        }
        memcpy(ts.tokenizer, checked.tokenizer, sizeof ts.tokenizer);
        ts.data = checked.data;
        ts.val_data = checked.val_data;
        fprintf(stderr, "resumed %s at step %d of %d\n", o.resume, first_step, o.steps);
        dp_resume_data_rng(&ts, &o, first_step);
        if (dp->rank == 0 && o.save == o.resume && !prepare_save_target(ctx, o.save, save_parent)) return 1;
    } else if (o.init_from) {
        if (it_checkpoint_load(ctx, model, NULL, NULL, o.init_from) != IT_OK) {
            fprintf(stderr, "train: --init-from %s: %s\n", o.init_from, it_context_last_error(ctx));
            return 1;
        }
        if (dp->rank == 0) fprintf(stderr, "initialised from %s (fresh optimizer and schedule)\n", o.init_from);
    } else {
        it_model_init(model, o.seed);
    }
    if (od.bf16_weights && !o.resume) it_params_round_bf16(ctx); /* bf16 weights start as bf16 values */
    if (!dp_check_train_config(ctx, &o, &od, &sched, &ts, first_step)) return 1;

    { /* evaluating past the split's end repeats the same batches: minutes for the same number */
        size_t available = it_dataset_eval_batches(ds, IT_SPLIT_VAL, o.batch, o.seq);
        if (available && (size_t)o.eval_batches > available) {
            fprintf(stderr, "train: note: --eval-batches %d is more than the validation split holds (%zu batches of %d x %d); "
                            "using %zu\n", o.eval_batches, available, o.batch, o.seq, available);
            o.eval_batches = (int)available;
        }
    }
    if (dp->rank == 0) { /* what the run is: the same on every rank */
        if (o.dtype == IT_BF16)
            fprintf(stderr, "precision: bf16 mixed (bf16 operands, fp32 sums: the %s kernel), %s weights%s\n", it_bf16_kernel_name(),
                    od.bf16_weights ? "bf16 (stochastic rounding)" : "fp32 master",
                    o.save_dtype == IT_BF16 && !od.bf16_weights ? "; --save-dtype bf16 rounds them in the checkpoint" : "");
        if (sched.warmup_steps > sched.total_steps)
            fprintf(stderr, "train: warning: the warmup (%d steps) is longer than the run (%d steps): the learning rate "
                            "never reaches --lr %g\n", sched.warmup_steps, sched.total_steps, (double)sched.base_lr);
        fprintf(stderr, "model: %s %d layers, dim %d, %d heads (%d kv), ffn %d, vocab %d: %zu parameters\n",
                o.model.arch == IT_ARCH_LLAMA ? "llama" : "gpt2", o.model.n_layers, o.model.dim, o.model.n_heads,
                o.model.n_kv_heads, o.model.ffn_dim, o.model.vocab_size, it_model_config_param_count(&o.model));
        {
            size_t ntrain, nval;
            it_dataset_tokens(ds, IT_SPLIT_TRAIN, &ntrain);
            it_dataset_tokens(ds, IT_SPLIT_VAL, &nval);
            fprintf(stderr, "data: %s, %zu train + %zu validation tokens (%s)\n", o.data, ntrain, nval,
                    is_bin ? "token file" : hf_tokenizer ? "the model's tokenizer.json" : save_tokenizer ? "bpe" : "byte");
        }
        fprintf(stderr, "memory: parameters %.1f MB, gradients %.1f MB, optimizer %.1f MB, arena %.1f MB train + %.1f MB eval\n",
                it_param_numel(ctx) * 4 / 1e6, it_grad_numel(ctx) * 4 / 1e6, opt->state_numel * 4 / 1e6,
                it_graph_stats(train.graph).arena_bytes / 1e6, it_graph_stats(eval.graph).arena_bytes / 1e6);
    }

    /* the trainer state a checkpoint records (data_rng advances as batches are drawn) */
    ts.seed = o.seed;
    ts.batch = o.batch;
    ts.seq = o.seq;
    ts.accum_steps = o.accum;
    ts.accum_index = 0;
    ts.optimizer = opt->desc;
    ts.schedule = sched;
    ts.compute_dtype = o.dtype;
    if (!o.resume) ts.best_val_loss = NAN;
    memset(&ck, 0, sizeof ck);
    ck.dtype = o.save_dtype;
    ck.tokenizer_path = (o.resume || o.init_from) && save_tokenizer ? tok_path : NULL; /* tokenizer.bin, verbatim */
    ck.tokenizer = !o.resume && !o.init_from && save_tokenizer ? tok : NULL;          /* a fresh BPE run's, from memory */
    ck.hf_files_dir = hf_tokenizer ? source_dir(&o) : NULL; /* tokenizer.json, chat template, generation_config.json */
    ck.run_id = run_id;

    /* 4. the loop */
    out_dir = o.save ? o.save : ".";
    snprintf(csv_path, sizeof csv_path, "%s/loss.csv", out_dir);
    snprintf(svg_path, sizeof svg_path, "%s/loss.svg", out_dir);
    memset(&c, 0, sizeof c);
    memset(&line, 0, sizeof line);
    if (o.resume) curve_load(&c, o.resume, first_step);
    tokens_per_step = (double)o.batch * o.seq * o.accum;
    catch_stop_signals();
    t_start = now_seconds();
    for (step = first_step; step < last_step; step++) {
        float lr = it_schedule_lr(&sched, step);
        double loss_sum = 0.0;
        int k, stopping;
        it_zero_grads(ctx);
        for (k = 0; k < o.accum; k++) { /* gradients of k micro-batches add up in the gradient block */
            it_result r = it_dataset_batch(ds, IT_SPLIT_TRAIN, &ts.data_rng, train.batch, o.seq,
                                           it_data_i32(train.tokens), it_data_i32(train.targets));
            if (r == IT_OK && k == o.accum - 1) r = it_grad_sync_arm(train.graph); /* summed across ranks as it runs */
            if (r == IT_OK) r = it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD);
            if (line.pending) progress_print(&line, norm); /* the run's wait wrote the last step's norm */
            if (r != IT_OK) {
                fprintf(stderr, "\ntrain: step %d: %s\n", step + 1, it_context_last_error(ctx));
                return 1;
            }
            loss_sum += it_data(train.loss)[0];
        }
        /* norm outlives the iteration: a backend that queues the update (Metal) writes it at its
           next wait, NaN until then (it_optimizer_step) */
        if ((code = it_optimizer_step(opt, lr, 1.0f / (float)o.accum, &norm)) != IT_OK) { /* averaged, clipped */
            fprintf(stderr, "\ntrain: step %d: %s; stopping%s\n", step + 1, it_context_last_error(ctx),
                    code == IT_ERR_RANGE ? " (a lower --lr or --clip may help)" : "");
            return 1;
        }
        ts.step = step + 1;
        ts.tokens_seen += (int64_t)tokens_per_step;
        last_loss = (float)(loss_sum / o.accum);
        stopping = stop_signal != 0; /* read once: a signal after this point stops the next step */
        if (!dp_step_agree(&last_loss, &stopping)) return 1;
        val_loss = -1.0f;
        if ((o.eval_every && (step + 1) % o.eval_every == 0) || step + 1 == last_step) {
            if (evaluate(&eval, ds, o.eval_batches, &val_loss) != IT_OK) {
                fprintf(stderr, "\ntrain: evaluation: %s\n", it_context_last_error(ctx));
                return 1;
            }
            if (!(ts.best_val_loss <= val_loss)) ts.best_val_loss = val_loss;
        }
        curve_add(&c, step + 1, last_loss, val_loss);
        {
            double elapsed = now_seconds() - t_start, rate = tokens_per_step * (step + 1 - first_step) / elapsed;
            double eta = elapsed / (step + 1 - first_step) * (last_step - step - 1);
            if (tty || (step + 1) % o.log_every == 0 || step == first_step || val_loss >= 0 || step + 1 == last_step) {
                line.step = step + 1, line.steps = o.steps, line.tty = tty, line.val_loss = val_loss;
                line.loss = last_loss, line.lr = lr, line.rate = rate, line.mem_mb = peak_rss_mb();
                format_duration(line.elapsed, sizeof line.elapsed, elapsed);
                format_duration(line.eta, sizeof line.eta, eta);
                line.pending = 1;
                /* a queued norm (NaN): printed after the next run's wait, or now after a synchronize
                   when no run follows (whose verdict, a skipped last update, is an error too) */
                if (isnan(norm) && (step + 1 == last_step || stopping) && (code = it_context_synchronize(ctx)) != IT_OK) {
                    progress_print(&line, norm);
                    fprintf(stderr, "\ntrain: step %d: %s; stopping\n", step + 1, it_context_last_error(ctx));
                    return 1;
                }
                if (!isnan(norm)) progress_print(&line, norm);
            }
        }
        if (o.save && ((o.save_every && (step + 1) % o.save_every == 0) || step + 1 == last_step || stopping)) {
            char snapshot[4200];
            if (!dp_collect_data_rngs(&ts) || !dp_before_save(ctx, opt)) return 1;
            if (dp->rank == 0) { /* the others wait for it in dp_after_save */
                if (!weights_usable(ctx, &train, ds, step + 1, last_loss, last_good)) return 1;
                /* the atomic save replaces DIR whole, so the curve is written after it */
                if (it_checkpoint_save(ctx, model, opt, &ts, o.save, &ck) != IT_OK) {
                    fprintf(stderr, "\ntrain: saving %s: %s\n", o.save, it_context_last_error(ctx));
                    return 1;
                }
                snprintf(last_good, sizeof last_good, "the checkpoint %s (step %d) is kept", o.save, step + 1);
                write_csv(&c, csv_path);
                if (o.save_every && (step + 1) % o.save_every == 0) { /* history: DIR.stepNNNNNNNN, last K kept */
                    it_checkpoint_path(snapshot, sizeof snapshot, save_parent, snap_prefix, step + 1);
                    if (it_checkpoint_save(ctx, model, opt, &ts, snapshot, &ck) != IT_OK ||
                        it_checkpoint_prune_run(ctx, save_parent, snap_prefix, run_id, o.keep) != IT_OK) {
                        fprintf(stderr, "\ntrain: saving %s: %s\n", snapshot, it_context_last_error(ctx));
                        return 1;
                    }
                }
            }
            if (!dp_after_save(ctx, opt)) return 1;
        }
        if (stopping) {
            interrupted = stop_signal ? stop_signal : SIGTERM; /* another rank's signal stops this one too */
            last_step = step + 1;
            if (tty) fprintf(stdout, "\n");
            break;
        }
    }
    dp_report(ctx, opt, last_step - first_step, now_seconds() - t_start);
    if (dp->rank == 0) { /* the curve is rank 0's: every rank has the same losses */
        if (!o.save && mkdir_p(out_dir) != 0) return 1;
        write_csv(&c, csv_path);
        snprintf(title, sizeof title, "%s: %zu parameters, %d steps", o.data, it_model_config_param_count(&o.model),
                 o.steps);
        write_svg(&c, svg_path, title);
        fprintf(stderr, "wrote %s and %s%s%s\n", csv_path, svg_path, o.save ? ", checkpoint " : "", o.save ? o.save : "");
    }
    if (interrupted)
        fprintf(stderr, "train: %s at step %d of %d%s%s\n", interrupted == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)",
                last_step, o.steps, o.save ? "; continue with --resume " : " (no --save: nothing to resume from)",
                o.save ? o.save : "");
    printf("%s step=%d train_loss=%.4f val_loss=%.4f\n", interrupted ? "interrupted" : last_step == o.steps ? "final" : "stopped",
           last_step, last_loss, val_loss);

    free(c.step);
    free(c.train);
    free(c.val);
    it_optimizer_destroy(opt);
    it_model_graph_destroy(&train);
    it_model_graph_destroy(&eval);
    it_model_destroy(model);
    it_dataset_destroy(ds);
    if (tok) it_tokenizer_destroy(tok);
    it_context_destroy(ctx);
    return interrupted ? 128 + interrupted : 0;
}
