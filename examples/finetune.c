/* finetune.c - adapt a pretrained model to instruction data: LoRA (PEFT's adapter format) or every
   weight (--full).

     cc -O2 -std=c99 -I. examples/finetune.c -o build/finetune -lm -lpthread
     build/finetune --model DIR --data train.jsonl [--valid valid.jsonl] --lora-rank 8 --lora-alpha 16 \
                    --lora-targets q_proj,v_proj [--lora-layers N] [--mask-prompt] --save ADAPTER_DIR

   DIR is a Hugging Face model directory (or an IronTensor checkpoint) with its tokenizer. The data
   are JSONL lines {"text"}, {"prompt", "completion"} or {"messages"} (the model's chat template),
   it_sft_load's formats; each example is one row of --seq tokens (longer ones cut, counted; shorter
   ones padded, the padding never in the loss), or with --pack several examples share a row, each
   seeing only itself (it_model_set_packed: a document mask and positions restarting per example).
   The loop is build/train's: the schedule's lr, --accum
   micro-batches, one clipped optimizer update, the same progress line, loss.csv / loss.svg, saves
   that are atomic and refuse what they did not write, SIGINT / SIGTERM finish the step and save,
   and --resume continues bit-exactly (the adapter's optimizer state and the data position are in
   the save). Validation (--valid) runs before the first step and every --eval-every steps, printed
   as val_loss=X. The adapter in ADAPTER_DIR loads in peft (PeftModel.from_pretrained) and in
   build/generate --model DIR --adapter ADAPTER_DIR; build/it-merge folds it into the weights.

   Data-parallel (README "Data-parallel training"): the same file built with MPI,
     mpicc -O2 -std=c99 -DIT_WITH_MPI -I. examples/finetune.c -o build/finetune_mpi -lm -lpthread
     mpirun -np 2 build/finetune_mpi --threads 1 --batch 8 ...
   runs one copy per rank. Every rank draws the same global batch of --batch examples (one data
   stream) and trains its share of the rows, weighted by its share of the batch's counted targets,
   so N ranks train as one process with the whole batch does (to rounding), and a resume may
   change the number of ranks without changing which examples are trained. */
#define _POSIX_C_SOURCE 200809L
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"

#include <math.h>
#define TRAIN_PROGRAM "finetune"
#include "train_common.h"

typedef struct options {
    const char *model, *data, *valid, *save, *resume, *optimizer, *schedule, *targets, *chat_template, *quant;
    int rank, layers, rslora, full, mask_prompt, pack, strict;
    int steps, batch, seq, accum, warmup, eval_every, log_every, threads, stop_after, zero;
    float alpha, dropout, lr, wd, clip, min_lr_ratio, comm_timeout;
    unsigned long long seed;
    char saved_chat_template[IT_CHECKPOINT_NAME_MAX]; /* --resume: the run's --chat-template */
    char saved_quant[IT_CHECKPOINT_NAME_MAX];         /* --resume: the run's --quant */
    it_dtype dtype, save_dtype; /* --dtype (the matrix products), --save-dtype (a --full checkpoint's weights) */
    int dtype_given;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: finetune --model DIR --data train.jsonl [flags]\n"
            "data\n"
            "  --data FILE           JSONL: {\"text\"}, {\"prompt\", \"completion\"} or {\"messages\"} per line\n"
            "  --valid FILE          validation JSONL, evaluated before the first step and every --eval-every\n"
            "  --mask-prompt         loss only on completions / assistant turns\n"
            "  --strict              a bad line stops the run (default: reported with its line number, skipped)\n"
            "  --chat-template NAME  render \"messages\" with this format (%s) instead of the model's\n"
            "  --pack                several examples per row, attention and loss kept inside each one\n"
            "adapter (default) or --full\n"
            "  --lora-rank R         rank (default 8)\n"
            "  --lora-alpha A        scale alpha / r (default 16)\n"
            "  --rslora              scale alpha / sqrt(r) instead\n"
            "  --lora-targets LIST   PEFT module names, or all-linear (default q_proj,v_proj; GPT-2 c_attn)\n"
            "  --lora-layers N       only the last N layers (default all)\n"
            "  --lora-dropout P      dropout on the adapter's input while training (default 0)\n"
            "  --quant TYPE          QLoRA: keep the frozen base's projections as bf16, q8_0 or q4_0 (Llama family)\n"
            "  --full                fine-tune every weight; --save then writes a model checkpoint\n"
            "training (as build/train)\n"
            "  --steps N --batch N --seq N --accum K (default 100, 4, 128, 1)\n"
            "  --optimizer NAME --lr X --wd X --clip X --warmup N --schedule NAME --min-lr-ratio X\n"
            "                        (default adamw, 1e-4 (1e-5 with --full), 0, 1, 10, cosine, 0.1)\n"
            "  --eval-every N        steps between validations (default 0: before the first step and at the end)\n"
            "  --stop-after N        stop (and save) after N steps of this invocation; --resume continues\n"
            "  --log-every N --seed N --threads N\n"
            "  --dtype f32|bf16      bf16 = mixed precision: bf16 operands, fp32 sums in the matrix products;\n"
            "                        weights, gradients and optimizer state stay fp32 (default f32)\n"
            "data parallel (build/finetune_mpi under mpirun: README \"Data-parallel training\")\n"
            "  --zero 0|1            1 = ZeRO-1: each rank keeps 1/N of the optimizer state (default 0)\n"
            "  --comm-timeout S      how long a rank waits for the others before ending the job (default 60)\n"
            "output\n"
            "  --save DIR            the adapter (adapter_config.json, adapter_model.safetensors) or, with\n"
            "                        --full, a checkpoint; plus the optimizer and trainer state for --resume\n"
            "  --save-dtype f32|bf16 with --full: the checkpoint's weights (default f32; adapters are saved in f32)\n"
            "  --resume DIR          continue the run saved in DIR (its adapter, optimizer and data position);\n"
            "                        give --data (the same file) again; --mask-prompt / --chat-template / --pack\n"
            "                        are restored from the run (a different one is refused); saves back into\n"
            "                        DIR unless --save says otherwise\n",
            it_chat_format_names());
}

static int parse_args(int argc, char **argv, options *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->optimizer = "adamw";
    o->schedule = "cosine";
    o->targets = "";
    o->rank = 8;
    o->alpha = 16.0f;
    o->steps = 100;
    o->batch = 4;
    o->seq = 128;
    o->accum = 1;
    o->warmup = 10;
    o->lr = -1.0f;
    o->clip = 1.0f;
    o->min_lr_ratio = 0.1f;
    o->log_every = 10;
    o->seed = 1234;
    o->dtype = o->save_dtype = IT_F32;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--rslora")) o->rslora = 1, takes = 0;
        else if (!strcmp(a, "--full")) o->full = 1, takes = 0;
        else if (!strcmp(a, "--mask-prompt")) o->mask_prompt = 1, takes = 0;
        else if (!strcmp(a, "--pack")) o->pack = 1, takes = 0;
        else if (!strcmp(a, "--strict")) o->strict = 1, takes = 0;
        else if (!v) {
            fprintf(stderr, "finetune: %s needs a value (or is unknown; see --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--valid")) o->valid = v;
        else if (!strcmp(a, "--save")) o->save = v;
        else if (!strcmp(a, "--resume")) o->resume = v;
        else if (!strcmp(a, "--optimizer")) o->optimizer = v;
        else if (!strcmp(a, "--schedule")) o->schedule = v;
        else if (!strcmp(a, "--lora-targets")) o->targets = v;
        else if (!strcmp(a, "--chat-template")) o->chat_template = v;
        else if (!strcmp(a, "--quant")) o->quant = v;
        else if (!strcmp(a, "--lora-rank")) ok = parse_int(a, v, 1, &o->rank);
        else if (!strcmp(a, "--lora-layers")) ok = parse_int(a, v, 1, &o->layers);
        else if (!strcmp(a, "--lora-alpha")) ok = parse_float(a, v, 1e-30f, &o->alpha);
        else if (!strcmp(a, "--lora-dropout")) ok = parse_float(a, v, 0.0f, &o->dropout);
        else if (!strcmp(a, "--steps")) ok = parse_int(a, v, 1, &o->steps);
        else if (!strcmp(a, "--batch")) ok = parse_int(a, v, 1, &o->batch);
        else if (!strcmp(a, "--seq")) ok = parse_int(a, v, 1, &o->seq);
        else if (!strcmp(a, "--accum")) ok = parse_int(a, v, 1, &o->accum);
        else if (!strcmp(a, "--warmup")) ok = parse_int(a, v, 0, &o->warmup);
        else if (!strcmp(a, "--eval-every")) ok = parse_int(a, v, 0, &o->eval_every);
        else if (!strcmp(a, "--log-every")) ok = parse_int(a, v, 1, &o->log_every);
        else if (!strcmp(a, "--stop-after")) ok = parse_int(a, v, 1, &o->stop_after);
        else if (!strcmp(a, "--threads")) ok = parse_int(a, v, 0, &o->threads);
        else if (!strcmp(a, "--dtype")) ok = parse_dtype(a, v, &o->dtype), o->dtype_given = 1;
        else if (!strcmp(a, "--save-dtype")) ok = parse_dtype(a, v, &o->save_dtype);
        else if (!strcmp(a, "--zero")) ok = parse_int(a, v, 0, &o->zero);
        else if (!strcmp(a, "--comm-timeout")) ok = parse_float(a, v, 0.001f, &o->comm_timeout);
        else if (!strcmp(a, "--lr")) ok = parse_float(a, v, 1e-30f, &o->lr);
        else if (!strcmp(a, "--wd")) ok = parse_float(a, v, 0.0f, &o->wd);
        else if (!strcmp(a, "--clip")) ok = parse_float(a, v, 0.0f, &o->clip);
        else if (!strcmp(a, "--min-lr-ratio")) ok = parse_float(a, v, 0.0f, &o->min_lr_ratio);
        else if (!strcmp(a, "--seed")) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            ok = *v && !*end;
            if (!ok) fprintf(stderr, "finetune: --seed expects a whole number, got '%s'\n", v);
        } else {
            fprintf(stderr, "finetune: unknown flag '%s' (see --help)\n", a);
            return 2;
        }
        if (!ok) return 2;
        i += takes;
    }
    if (!o->model || !o->data) {
        fprintf(stderr, "finetune: --model and --data are required (see --help)\n");
        return 2;
    }
    if (!dp_flags_ok(o->zero, o->comm_timeout)) return 2;
    if (!(o->dropout < 1.0f)) {
        fprintf(stderr, "finetune: --lora-dropout %g must be in [0, 1)\n", (double)o->dropout);
        return 2;
    }
    if (o->quant && (it_weight_type_from_name(o->quant) == IT_WEIGHT_INVALID || !strcmp(o->quant, "f32"))) {
        fprintf(stderr, "finetune: --quant %s: expected bf16, q8_0 or q4_0\n", o->quant);
        return 2;
    }
    if (o->quant && o->full) {
        fprintf(stderr, "finetune: --quant keeps the base frozen: it cannot go with --full\n");
        return 2;
    }
    if (o->full && (o->resume == NULL) && (o->rank != 8 || o->layers || o->targets[0] || o->rslora))
        fprintf(stderr, "finetune: --full fine-tunes every weight: the --lora-* flags are ignored\n");
    if (o->lr < 0) o->lr = o->full ? 1e-5f : 1e-4f;
    if (o->resume && !o->save) o->save = o->resume;
    return 0;
}

static int file_exists(const char *dir, const char *name) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}
/* A --full checkpoint of a Hugging Face model keeps its tokenizer and chat template beside it. */
static void copy_hf_files(const char *from_dir, const char *to_dir) {
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json"};
    size_t k;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        char from[4200], to[4200], buf[65536];
        FILE *in, *out;
        size_t n;
        snprintf(from, sizeof from, "%s/%s", from_dir, names[k]);
        snprintf(to, sizeof to, "%s/%s", to_dir, names[k]);
        if (!(in = fopen(from, "rb"))) continue;
        if ((out = fopen(to, "wb")) != NULL) {
            while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                if (fwrite(buf, 1, n, out) != n) break;
            if (fclose(out) != 0) fprintf(stderr, "finetune: writing %s failed\n", to);
        }
        fclose(in);
    }
}
/* One row of seq positions: example order[0] (it_sft_row), or with packed rows as many of order[0
   .. n_order) as fit (it_sft_pack_row, positions[] too); n_order 0: a fully masked row, which
   counts nothing. Returns how many examples it took. */
static int fill_row(const it_sft_data *d, const int *order, int n_order, int seq, int packed, int32_t *tokens,
                    int32_t *targets, int32_t *positions) {
    int t;
    if (packed) return it_sft_pack_row(d, order, n_order, seq, tokens, targets, positions);
    if (n_order) it_sft_row(d, order[0], seq, tokens, targets);
    else
        for (t = 0; t < seq; t++) tokens[t] = 0, targets[t] = -1;
    return n_order ? 1 : 0;
}
/* A row from the data stream (a pure function of data_rng): the examples a packed row takes are
   drawn ahead on a copy, then the stream advances by the ones it used, so the next row starts
   with the first that did not fit and a resume draws the same rows. draws: seq ints. */
static void draw_row(const it_sft_data *d, it_rng *data_rng, int seq, int packed, int32_t *tokens, int32_t *targets,
                     int32_t *positions, int *draws) {
    it_rng ahead = *data_rng;
    int k, n = packed ? seq : 1, used;
    for (k = 0; k < n; k++) draws[k] = (int)it_rng_below(&ahead, (uint32_t)it_sft_count(d));
    used = fill_row(d, draws, n, seq, packed, tokens, targets, positions);
    for (k = 0; k < used; k++) it_rng_below(data_rng, (uint32_t)it_sft_count(d));
}
/* --resume: the rows are made as the run made them. A flag given again must agree with the run;
   one left out is taken from it. Returns 0 (after saying why) on a mismatch. */
static int restore_data_options(options *o, const it_trainer_state *ts) {
    const char *saved_chat = ts->sft.chat_template[0] ? ts->sft.chat_template : NULL;
    if (!ts->sft.recorded) return 1; /* saved before runs recorded them: the flags as given */
    if ((o->mask_prompt && !ts->sft.mask_prompt) || (o->pack && !ts->sft.pack) ||
        (o->chat_template && (!saved_chat || strcmp(o->chat_template, saved_chat) != 0)) ||
        (o->quant && strcmp(o->quant, ts->sft.base_storage) != 0)) {
        fprintf(stderr, "finetune: --resume %s: the run was trained with %s, %s, %s%s and %s%s; resume it without other data "
                "flags\n", o->resume, ts->sft.mask_prompt ? "--mask-prompt" : "no --mask-prompt", ts->sft.pack ? "--pack" : "no --pack",
                saved_chat ? "--chat-template " : "the model's chat template", saved_chat ? saved_chat : "",
                ts->sft.base_storage[0] ? "--quant " : "an f32 base", ts->sft.base_storage);
        return 0;
    }
    if (dp->rank == 0) {
        if (ts->sft.mask_prompt && !o->mask_prompt) fprintf(stderr, "resume: --mask-prompt, as the run was trained\n");
        if (ts->sft.pack && !o->pack) fprintf(stderr, "resume: --pack, as the run was trained\n");
        if (saved_chat && !o->chat_template) fprintf(stderr, "resume: --chat-template %s, as the run was trained\n", saved_chat);
        if (ts->sft.base_storage[0] && !o->quant) fprintf(stderr, "resume: --quant %s, as the run was trained\n", ts->sft.base_storage);
    }
    o->mask_prompt = ts->sft.mask_prompt;
    o->pack = ts->sft.pack;
    snprintf(o->saved_chat_template, sizeof o->saved_chat_template, "%s", ts->sft.chat_template);
    o->chat_template = saved_chat ? o->saved_chat_template : NULL;
    snprintf(o->saved_quant, sizeof o->saved_quant, "%s", ts->sft.base_storage);
    o->quant = o->saved_quant[0] ? o->saved_quant : NULL;
    return 1;
}
/* Mean loss over every validation example in file order, a global batch of batch rows at a time
   (the last padded with fully masked rows, which count nothing). With several ranks each one runs
   its rows of every global batch (the eval graph holds batch / ranks of them) and the sums are
   added up; every rank makes every row (packed rows hold a varying number of examples), keeping
   its own. order: 0 .. n - 1; spare: 3 x seq ints for the other ranks' rows. */
static it_result validate(it_model_graph *eval, const it_sft_data *val, const int *order, int32_t *spare, double *out) {
    int n = it_sft_count(val), B = eval->batch, T = eval->seq, i = 0, b, packed = eval->model->packed;
    double sums[2] = {0.0, 0.0}; /* loss x counted targets, counted targets */
    while (i < n) {
        size_t batch_counted = 0, t;
        it_result r;
        for (b = 0; b < B * dp->size; b++) {
            int mine = b / B == dp->rank;
            size_t at = (size_t)(b % B) * (size_t)T;
            i += fill_row(val, order + i, n - i, T, packed, mine ? it_data_i32(eval->tokens) + at : spare,
                          mine ? it_data_i32(eval->targets) + at : spare + T,
                          packed ? (mine ? it_data_i32(eval->positions) + at : spare + 2 * T) : NULL);
        }
        for (t = 0; t < (size_t)B * T; t++) batch_counted += it_data_i32(eval->targets)[t] >= 0;
        if (!batch_counted) continue; /* this rank's rows of the last batch are padding */
        if ((r = it_graph_run(eval->graph, IT_RUN_FORWARD)) != IT_OK) return r;
        sums[0] += (double)it_data(eval->loss)[0] * (double)batch_counted; /* the graph's loss is the batch mean */
        sums[1] += (double)batch_counted;
    }
    if (!dp_sum_doubles(sums, 2)) return IT_ERR_BACKEND;
    *out = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
    return IT_OK;
}

/* One micro-batch: every rank draws the same --batch rows from the one data stream (a pure
   function of data_rng) into tokens / targets / positions [batch, seq], and copies its own rows
   (batch / ranks of them) into the graph. Returns the loss weight of this rank's rows: ranks x
   its counted targets / the batch's (1 with one process), so that the average over the ranks is
   the whole batch's mean. */
static float draw_micro_batch(it_model_graph *train, const it_sft_data *data, it_rng *data_rng, int batch, int32_t *tokens,
                              int32_t *targets, int32_t *positions, int *draws) {
    size_t T = (size_t)train->seq, rows = (size_t)train->batch, first = rows * (size_t)dp->rank, t;
    size_t all = 0, mine = 0;
    int b, packed = train->model->packed;
    for (b = 0; b < batch; b++)
        draw_row(data, data_rng, (int)T, packed, tokens + (size_t)b * T, targets + (size_t)b * T,
                 packed ? positions + (size_t)b * T : NULL, draws);
    for (t = 0; t < (size_t)batch * T; t++)
        if (targets[t] >= 0) all++, mine += t >= first * T && t < (first + rows) * T;
    memcpy(it_data_i32(train->tokens), tokens + first * T, rows * T * sizeof(int32_t));
    memcpy(it_data_i32(train->targets), targets + first * T, rows * T * sizeof(int32_t));
    if (packed) memcpy(it_data_i32(train->positions), positions + first * T, rows * T * sizeof(int32_t));
    return all ? (float)((double)dp->size * (double)mine / (double)all) : 1.0f;
}

/* The data-parallel configuration check (dp_check_config): the model and its weights, the
   adapter, the flags that shape training and the data as tokenised. */
static int dp_check_finetune_config(it_context *ctx, const options *o, const it_model_config *m, const it_lora *lora,
                                    const it_optimizer_desc *od, const it_trainer_state *ts, const it_sft_data *train_data,
                                    const it_sft_data *val_data, int first_step) {
    char config[3072], adapter[400];
    const it_lora_config *lc = lora ? it_lora_get_config(lora) : NULL;
    it_file_fingerprint valid;
    int len;
    if (dp->size == 1) return 1;
    memset(&valid, 0, sizeof valid);
    if (o->valid && it_file_fingerprint_compute(ctx, o->valid, &valid) != IT_OK) {
        fprintf(stderr, "finetune: --valid: %s\n", it_context_last_error(ctx));
        return 0;
    }
    if (lc)
        snprintf(adapter, sizeof adapter, "LoRA rank %d alpha %.9g rslora %d targets %s last_layers %d dropout %.9g base %s",
                 lc->rank, (double)lc->alpha, lc->use_rslora, lc->targets, lc->last_layers, (double)lc->dropout,
                 o->quant ? o->quant : "f32");
    else
        snprintf(adapter, sizeof adapter, "full fine-tune");
    len = snprintf(config, sizeof config,
                   "model: arch %d vocab %d dim %d layers %d heads %d/%d ffn %d max_seq %d untied %d\n"
                   "adapter: %s\n"
                   "batch %d seq %d accum %d steps %d first_step %d seed %llu\n"
                   "optimizer %s beta1 %.9g beta2 %.9g eps %.9g momentum %.9g wd %.9g clip %.9g zero %d\n"
                   "schedule %s lr %.9g warmup %d total %d min_lr_ratio %.9g\n"
                   "data %lld bytes crc32 %08lx, valid %lld bytes crc32 %08lx\n"
                   "examples: mask_prompt %d pack %d strict %d chat_template %s: %d train (%zu counted targets), %d valid\n"
                   "weights fnv1a %016llx\n",
                   (int)m->arch, m->vocab_size, m->dim, m->n_layers, m->n_heads, m->n_kv_heads, m->ffn_dim, m->max_seq,
                   m->untied, adapter, o->batch, o->seq, o->accum, o->steps, first_step, o->seed,
                   it_optimizer_name(od->kind), (double)od->beta1, (double)od->beta2, (double)od->eps, (double)od->momentum,
                   (double)od->weight_decay, (double)od->clip_norm, od->zero_stage, it_schedule_name(ts->schedule.kind),
                   (double)ts->schedule.base_lr, ts->schedule.warmup_steps, ts->schedule.total_steps,
                   (double)ts->schedule.min_lr_ratio, (long long)ts->data.size, (unsigned long)ts->data.crc32,
                   (long long)valid.size, (unsigned long)valid.crc32, o->mask_prompt, o->pack, o->strict,
                   o->chat_template ? o->chat_template : "(the model's)", it_sft_count(train_data),
                   it_sft_trained_tokens(train_data), val_data ? it_sft_count(val_data) : 0,
                   (unsigned long long)dp_weights_hash(ctx));
    if (len < 0 || len >= (int)sizeof config) return 0;
    return dp_check_config(config, o->batch);
}

static int finetune_main(int argc, char **argv);
int main(int argc, char **argv) { return dp_main(argc, argv, finetune_main); }

static int finetune_main(int argc, char **argv) {
    options o;
    it_context *ctx = NULL;
    it_context_desc desc;
    it_tokenizer *tok = NULL;
    it_model_config cfg;
    it_model *model = NULL;
    it_lora *lora = NULL;
    it_lora_config lc;
    it_chat_template chat;
    it_sft_options so;
    it_sft_data *train_data = NULL, *val_data = NULL;
    it_model_graph train, eval;
    it_optimizer *opt = NULL;
    it_optimizer_desc od;
    it_trainer_state ts;
    it_checkpoint_options ck;
    curve c;
    char csv_path[4200], svg_path[4200], title[300], tok_path[4200], save_parent[4200] = ".", save_base[1024] = "";
    int *file_order = NULL, *draws = NULL, n_order, i;
    int32_t *row = NULL;
    int code, step, first_step = 0, stopped = 0, have_chat = 0, tty = isatty(1), interrupted = 0, rows_trained = 0;
    double t_start, val_loss = -1.0, last_loss = 0.0;
    it_file_fingerprint now;
    int32_t *batch_tokens = NULL, *batch_targets = NULL, *batch_positions = NULL; /* the global micro-batch, of which
                                                                                     this rank trains its rows */

    if ((code = parse_args(argc, argv, &o)) != 0) return code < 0 ? 0 : code;
    memset(&desc, 0, sizeof desc);
    desc.n_threads = o.threads;
    desc.logger.log = log_below_errors;
    desc.logger.min_level = IT_LOG_INFO;
    desc.comm = dp;
    if (it_context_create(&desc, &ctx) != IT_OK) return 1;
    dp = it_context_comm(ctx);
    if (o.save && dp->size > IT_CHECKPOINT_MAX_RANKS) {
        fprintf(stderr, "finetune: %d ranks: a save keeps the data positions of at most %d\n", dp->size, IT_CHECKPOINT_MAX_RANKS);
        return 2;
    }
    if (o.save) { /* rank 0 writes every save; the others wait for it */
        split_save_path(o.save, save_parent, sizeof save_parent, save_base, sizeof save_base);
        if (dp->rank == 0 && !(o.resume && !strcmp(o.save, o.resume)) && !prepare_save_target(ctx, o.save, save_parent))
            return 1;
    }
    memset(&ts, 0, sizeof ts);
    memset(&od, 0, sizeof od);

    /* 1. the base model, its tokenizer and chat template */
    if (it_checkpoint_read_config(ctx, o.model, &cfg) != IT_OK || it_model_create(ctx, &cfg, &model) != IT_OK) {
        fprintf(stderr, "finetune: --model %s: %s\n", o.model, it_context_last_error(ctx));
        return 1;
    }
    if (file_exists(o.model, "tokenizer.json")) {
        if (it_tokenizer_load_hf(ctx, o.model, &tok) != IT_OK) tok = NULL;
    } else if (file_exists(o.model, "tokenizer.bin")) {
        char p[4200];
        snprintf(p, sizeof p, "%s/tokenizer.bin", o.model);
        if (it_tokenizer_load(ctx, p, &tok) != IT_OK) tok = NULL;
    } else if (cfg.vocab_size == 256) {
        it_tokenizer_byte(ctx, &tok);
    } else {
        fprintf(stderr, "finetune: %s has a vocabulary of %d tokens but no tokenizer.json or tokenizer.bin\n", o.model,
                cfg.vocab_size);
        return 1;
    }
    if (!tok) {
        fprintf(stderr, "finetune: tokenizer of %s: %s\n", o.model, it_context_last_error(ctx));
        return 1;
    }

    /* 2. the adapter (from the flags, or the resumed run's), then the base weights */
    if (o.resume) {
        if (it_checkpoint_read_trainer_state(ctx, o.resume, &ts) != IT_OK) {
            fprintf(stderr, "finetune: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
            return 1;
        }
        if (!restore_data_options(&o, &ts)) return 1;
        o.full = !file_exists(o.resume, "adapter_config.json");
        if (!o.full && (it_lora_read_config(ctx, o.resume, &lc) != IT_OK || it_lora_create(model, &lc, &lora) != IT_OK)) {
            fprintf(stderr, "finetune: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
            return 1;
        }
        od = ts.optimizer;
        if (o.dtype_given && o.dtype != (ts.compute_dtype == IT_BF16 ? IT_BF16 : IT_F32)) {
            fprintf(stderr, "finetune: --dtype %s conflicts with the run in %s, which has %s; omit --dtype to keep it\n",
                    it_dtype_name(o.dtype), o.resume, ts.compute_dtype == IT_BF16 ? "bf16" : "f32");
            return 1;
        }
        o.dtype = ts.compute_dtype == IT_BF16 ? IT_BF16 : IT_F32;
        o.batch = ts.batch;
        o.seq = ts.seq;
        o.accum = ts.accum_steps;
        o.seed = ts.seed;
        o.steps = ts.schedule.total_steps;
        first_step = (int)ts.step;
        if (first_step >= o.steps) {
            fprintf(stderr, "finetune: the run in %s is already complete (step %d of %d)\n", o.resume, first_step, o.steps);
            return 0;
        }
        if (dp->rank == 0 && (ts.world_size > 1 ? ts.world_size : 1) != dp->size)
            fprintf(stderr, "finetune: note: %s was saved by %d rank%s and this run has %d: each step trains the same "
                            "examples, split over the ranks differently (only the summation order changes); the adapter, "
                            "optimizer, schedule and global batch continue unchanged\n", o.resume,
                    ts.world_size > 1 ? ts.world_size : 1, ts.world_size > 1 ? "s" : "", dp->size);
        if (it_file_fingerprint_compute(ctx, o.data, &now) != IT_OK ||
            (ts.data.size && (now.size != ts.data.size || now.crc32 != ts.data.crc32))) {
            fprintf(stderr, "finetune: --data %s is not the file the run in %s was trained on%s%s\n", o.data, o.resume,
                    now.size ? "" : ": ", now.size ? "" : it_context_last_error(ctx));
            return 1;
        }
    } else {
        if (!o.full) {
            memset(&lc, 0, sizeof lc);
            lc.rank = o.rank;
            lc.alpha = o.alpha;
            lc.use_rslora = o.rslora;
            lc.dropout = o.dropout;
            lc.last_layers = o.layers;
            snprintf(lc.targets, sizeof lc.targets, "%s", o.targets);
            snprintf(lc.base_model, sizeof lc.base_model, "%s", o.model);
            if (it_lora_create(model, &lc, &lora) != IT_OK) {
                fprintf(stderr, "finetune: %s\n", it_context_last_error(ctx));
                return 1;
            }
        }
        if (it_optimizer_parse(o.optimizer, &od.kind) != IT_OK) {
            fprintf(stderr, "finetune: unknown --optimizer '%s' (lion, adamw, sgd)\n", o.optimizer);
            return 1;
        }
        od.weight_decay = o.wd;
        od.clip_norm = o.clip;
        if (od.kind == IT_OPTIMIZER_SGD) od.momentum = 0.9f;
        if (it_schedule_parse(o.schedule, &ts.schedule.kind) != IT_OK) {
            fprintf(stderr, "finetune: unknown --schedule '%s'\n", o.schedule);
            return 1;
        }
        ts.schedule.base_lr = o.lr;
        ts.schedule.warmup_steps = o.warmup < o.steps ? o.warmup : o.steps - 1;
        ts.schedule.total_steps = o.steps;
        ts.schedule.min_lr_ratio = o.min_lr_ratio;
        ts.best_val_loss = NAN;
        it_rng_seed(&ts.data_rng, o.seed ^ 0x5EEDDA7Aull);
        it_rng_seed(&ts.rng, o.seed);
        if (it_file_fingerprint_compute(ctx, o.data, &ts.data) != IT_OK) {
            fprintf(stderr, "finetune: --data: %s\n", it_context_last_error(ctx));
            return 1;
        }
    }
    memset(&chat, 0, sizeof chat);
    have_chat = it_chat_template_load(ctx, o.model, o.chat_template, &chat) == IT_OK;
    if (o.chat_template && !have_chat) {
        fprintf(stderr, "finetune: --chat-template %s: %s\n", o.chat_template, it_context_last_error(ctx));
        return 1;
    }
    if (o.quant && it_model_set_base_storage(model, it_weight_type_from_name(o.quant)) != IT_OK) {
        fprintf(stderr, "finetune: --quant %s: %s\n", o.quant, it_context_last_error(ctx));
        return 1;
    }
    if (o.seq > cfg.max_seq) {
        fprintf(stderr, "finetune: --seq %d is longer than the model's %d positions; using %d\n", o.seq, cfg.max_seq, cfg.max_seq);
        o.seq = cfg.max_seq;
    }
    if (it_checkpoint_load(ctx, model, NULL, NULL, o.model) != IT_OK) {
        fprintf(stderr, "finetune: --model %s: %s\n", o.model, it_context_last_error(ctx));
        return 1;
    }

    /* 3. data: every example one row of seq inputs (seq + 1 tokens with the last target) */
    memset(&so, 0, sizeof so);
    so.mask_prompt = o.mask_prompt;
    so.strict = o.strict;
    so.max_tokens = o.seq + 1;
    so.chat = have_chat ? &chat : NULL;
    if (it_sft_load(ctx, o.data, tok, &so, &train_data) != IT_OK ||
        (o.valid && it_sft_load(ctx, o.valid, tok, &so, &val_data) != IT_OK)) {
        fprintf(stderr, "finetune: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (o.batch % dp->size != 0) {
        fprintf(stderr, "finetune: --batch %d must be a multiple of the %d ranks (each rank runs batch / ranks rows)\n",
                o.batch, dp->size);
        return 2;
    }
    batch_tokens = (int32_t *)malloc((size_t)o.batch * (size_t)o.seq * sizeof(int32_t));
    batch_targets = (int32_t *)malloc((size_t)o.batch * (size_t)o.seq * sizeof(int32_t));
    batch_positions = (int32_t *)malloc((size_t)o.batch * (size_t)o.seq * sizeof(int32_t));
    if (!batch_tokens || !batch_targets || !batch_positions) {
        fprintf(stderr, "finetune: out of memory\n");
        return 1;
    }
    if (dp->rank == 0) fprintf(stderr, "data: %s: %d examples (%d lines skipped, %d cut to %d tokens), %zu trained tokens%s\n", o.data,
            it_sft_count(train_data), it_sft_skipped(train_data), it_sft_truncated(train_data), o.seq + 1,
            it_sft_trained_tokens(train_data), o.mask_prompt ? " (prompts masked)" : "");
    if (val_data && dp->rank == 0)
        fprintf(stderr, "data: %s: %d validation examples (%d skipped, %d cut)\n", o.valid, it_sft_count(val_data),
                it_sft_skipped(val_data), it_sft_truncated(val_data));
    n_order = it_sft_count(train_data);
    if (val_data && it_sft_count(val_data) > n_order) n_order = it_sft_count(val_data);
    file_order = (int *)malloc(sizeof(int) * (size_t)n_order);
    draws = (int *)malloc(sizeof(int) * (size_t)o.seq);
    row = (int32_t *)malloc(sizeof(int32_t) * 3 * (size_t)o.seq);
    if (!file_order || !draws || !row) {
        fprintf(stderr, "finetune: out of memory\n");
        return 1;
    }
    for (i = 0; i < n_order; i++) file_order[i] = i;
    if (o.pack && dp->rank == 0) { /* how full packed rows are: the training file packed in its own order */
        int rows = 0;
        for (i = 0; i < it_sft_count(train_data); rows++)
            i += it_sft_pack_row(train_data, file_order + i, it_sft_count(train_data) - i, o.seq, row, row + o.seq, row + 2 * o.seq);
        fprintf(stderr, "data: --pack: %d examples in %d rows of %d (%.1f a row)\n", it_sft_count(train_data), rows, o.seq,
                (double)it_sft_count(train_data) / rows);
    }

    /* 4. graphs and optimizer, the adapter's first values or the resumed state */
    od.zero_stage = o.zero; /* how the state is kept, not what it is: a resume may change it */
    it_model_set_packed(model, o.pack);
    /* before the graphs: planned under bf16, they keep what only products read in bf16 (--full) */
    if (it_context_set_compute_dtype(ctx, o.dtype) != IT_OK) return 1;
    if (it_model_graph_create(model, IT_PURPOSE_TRAIN, o.batch / dp->size, o.seq, &train) != IT_OK ||
        (val_data && it_model_graph_create(model, IT_PURPOSE_EVAL, o.batch / dp->size, o.seq, &eval) != IT_OK) ||
        it_optimizer_create(ctx, &od, &opt) != IT_OK) {
        fprintf(stderr, "finetune: %s\n", it_context_last_error(ctx));
        return 1;
    }
    if (o.resume) {
        it_trainer_state saved = ts;
        it_result r = it_optimizer_gather_state(opt); /* ZeRO-1: the whole state loads, then this rank keeps its part */
        if (r == IT_OK)
            r = lora ? it_lora_load(ctx, lora, opt, &ts, o.resume) : it_checkpoint_load(ctx, model, opt, &ts, o.resume);
        if (r == IT_OK) r = it_optimizer_shard_state(opt);
        if (r != IT_OK) {
            fprintf(stderr, "finetune: --resume %s: %s\n", o.resume, it_context_last_error(ctx));
            return 1;
        }
        ts.data = saved.data;
        if (dp->rank == 0) fprintf(stderr, "resumed %s at step %d of %d\n", o.resume, first_step, o.steps);
        if (dp->rank == 0 && o.save && !strcmp(o.save, o.resume) && !prepare_save_target(ctx, o.save, save_parent)) return 1;
    } else if (lora) {
        it_lora_init(lora, o.seed);
    }
    ts.seed = o.seed;
    ts.sft.recorded = 1;
    ts.sft.mask_prompt = o.mask_prompt;
    ts.sft.pack = o.pack;
    snprintf(ts.sft.chat_template, sizeof ts.sft.chat_template, "%s", o.chat_template ? o.chat_template : "");
    snprintf(ts.sft.base_storage, sizeof ts.sft.base_storage, "%s", o.quant ? o.quant : "");
    ts.batch = o.batch;
    ts.seq = o.seq;
    ts.accum_steps = o.accum;
    ts.optimizer = opt->desc;
    ts.compute_dtype = o.dtype;
    if (o.dtype == IT_BF16)
        fprintf(stderr, "precision: bf16 mixed (bf16 operands, fp32 sums: the %s kernel), fp32 weights\n", it_bf16_kernel_name());
    snprintf(ts.tokenizer, sizeof ts.tokenizer, "%s", file_exists(o.model, "tokenizer.json") ? "hf" : "bpe");
    if (!dp_check_finetune_config(ctx, &o, &cfg, lora, &opt->desc, &ts, train_data, val_data, first_step)) return 1;
    if (dp->rank == 0) fprintf(stderr, "model: %s, %zu parameters; %s: %zu trainable (%.2f%%)\n", o.model, it_param_numel(ctx),
            lora ? "LoRA" : "full fine-tune", it_grad_numel(ctx), 100.0 * (double)it_grad_numel(ctx) / (double)it_param_numel(ctx));
    if (lora && dp->rank == 0)
        fprintf(stderr, "adapter: r %d, alpha %g (scale %g), %d projections (%s)%s, dropout %g\n", lc.rank,
                (double)it_lora_get_config(lora)->alpha, (double)it_lora_scale(lora), it_lora_count(lora),
                it_lora_get_config(lora)->targets, lc.last_layers ? ", last layers only" : "", (double)it_lora_get_config(lora)->dropout);
    if (dp->rank == 0) {
        fprintf(stderr, "memory: parameters %.1f MB%s%s, gradients %.1f MB, optimizer %.1f MB, arena %.1f MB",
                it_param_numel(ctx) * 4 / 1e6, o.quant ? " with the base in " : "", o.quant ? o.quant : "",
                it_grad_numel(ctx) * 4 / 1e6, opt->state_numel * 4 / 1e6, it_graph_stats(train.graph).arena_bytes / 1e6);
        if (it_graph_stats(train.graph).dequant_bytes)
            fprintf(stderr, ", dequantised weight %.1f MB", it_graph_stats(train.graph).dequant_bytes / 1e6);
        fprintf(stderr, "\n");
    }
    memset(&ck, 0, sizeof ck);
    if (o.save_dtype == IT_BF16 && lora) {
        fprintf(stderr, "finetune: --save-dtype bf16 applies to --full checkpoints; adapters are saved in f32\n");
        return 2;
    }
    ck.dtype = o.save_dtype;
    if (!lora && file_exists(o.model, "tokenizer.bin")) { /* a --full checkpoint carries its tokenizer */
        snprintf(tok_path, sizeof tok_path, "%s/tokenizer.bin", o.model);
        ck.tokenizer_path = tok_path;
    }

    /* 5. the loop (build/train's) */
    snprintf(csv_path, sizeof csv_path, "%s/loss.csv", o.save ? o.save : ".");
    snprintf(svg_path, sizeof svg_path, "%s/loss.svg", o.save ? o.save : ".");
    memset(&c, 0, sizeof c);
    if (o.resume) curve_load(&c, o.resume, first_step);
    if (val_data && first_step == 0) {
        if (validate(&eval, val_data, file_order, row, &val_loss) != IT_OK) {
            fprintf(stderr, "finetune: validation: %s\n", it_context_last_error(ctx));
            return 1;
        }
        printf("step 0 val_loss=%.4f\n", val_loss);
    }
    catch_stop_signals();
    t_start = now_seconds();
    for (step = first_step; step < o.steps; step++) {
        float lr = it_schedule_lr(&ts.schedule, step), norm = 0.0f;
        double loss_sum = 0.0, t_step = now_seconds(); /* this step's time, validation excluded */
        int k, stopping;
        it_zero_grads(ctx);
        /* LoRA dropout masks: a function of the run's seed and the step (then the micro-batch), so
           a resumed run draws the same ones */
        it_graph_set_dropout_seed(train.graph, ts.seed * 0x9E3779B97F4A7C15ull + (uint64_t)step);
        for (k = 0; k < o.accum; k++) {
            float weight = draw_micro_batch(&train, train_data, &ts.data_rng, o.batch, batch_tokens, batch_targets, batch_positions,
                                            draws);
            it_result r = IT_OK;
            it_graph_set_loss_weight(train.graph, weight);
            if (k == o.accum - 1) r = it_grad_sync_arm(train.graph); /* summed across ranks as it runs */
            if (r == IT_OK) r = it_graph_run(train.graph, IT_RUN_FORWARD_BACKWARD);
            if (r != IT_OK) {
                fprintf(stderr, "\nfinetune: step %d: %s\n", step + 1, it_context_last_error(ctx));
                return 1;
            }
            loss_sum += (double)it_data(train.loss)[0] * weight; /* this rank's share of the batch's mean */
            rows_trained += train.batch;
        }
        if (it_optimizer_step(opt, lr, 1.0f / (float)o.accum, &norm) != IT_OK) {
            fprintf(stderr, "\nfinetune: step %d: %s; stopping (a lower --lr may help)\n", step + 1, it_context_last_error(ctx));
            return 1;
        }
        ts.step = step + 1;
        ts.tokens_seen += (int64_t)o.batch * o.seq * o.accum;
        {
            float agreed = (float)(loss_sum / o.accum);
            stopping = stop_signal != 0 || (o.stop_after && step + 1 - first_step == o.stop_after && step + 1 < o.steps);
            if (!dp_step_agree(&agreed, &stopping)) return 1;
            last_loss = dp->size > 1 ? agreed : loss_sum / o.accum;
        }
        t_step = now_seconds() - t_step;
        val_loss = -1.0;
        if (val_data && ((o.eval_every && (step + 1) % o.eval_every == 0) || step + 1 == o.steps)) {
            if (validate(&eval, val_data, file_order, row, &val_loss) != IT_OK) {
                fprintf(stderr, "\nfinetune: validation: %s\n", it_context_last_error(ctx));
                return 1;
            }
            if (!(ts.best_val_loss <= val_loss)) ts.best_val_loss = (float)val_loss;
        }
        curve_add(&c, step + 1, (float)last_loss, (float)val_loss);
        {
            double elapsed = now_seconds() - t_start;
            char el[32], val[40] = "";
            format_duration(el, sizeof el, elapsed);
            if (val_loss >= 0) snprintf(val, sizeof val, " val_loss=%.4f", val_loss);
            if ((step + 1) % o.log_every == 0 || step == first_step || val_loss >= 0 || step + 1 == o.steps)
                fprintf(stdout, "step %d/%d loss %.4f%s lr %.2e norm %.2f step_ms %.1f %s mem %.0f MB\n", step + 1, o.steps,
                        last_loss, val, lr, norm, 1000.0 * t_step, el, peak_rss_mb());
            fflush(stdout);
        }
        if (o.save && (step + 1 == o.steps || stopping)) {
            it_result r;
            if (!isfinite(last_loss)) {
                fprintf(stderr, "\nfinetune: the loss is not finite: not saving\n");
                return 1;
            }
            if (!dp_before_save(ctx, opt)) return 1;
            if (dp->size > 1) { /* the ranks share one data stream: each one's position is data_rng */
                int rk;
                ts.world_size = dp->size;
                for (rk = 1; rk < dp->size; rk++) ts.rank_data_rng[rk - 1] = ts.data_rng;
            }
            if (dp->rank == 0) { /* the others wait for it in dp_after_save */
                r = lora ? it_lora_save(ctx, lora, opt, &ts, o.save, &ck) : it_checkpoint_save(ctx, model, opt, &ts, o.save, &ck);
                if (r != IT_OK) {
                    fprintf(stderr, "\nfinetune: saving %s: %s\n", o.save, it_context_last_error(ctx));
                    return 1;
                }
                write_csv(&c, csv_path);
                if (!lora && file_exists(o.model, "tokenizer.json")) copy_hf_files(o.model, o.save);
            }
            if (!dp_after_save(ctx, opt)) return 1;
        }
        if (stopping) {
            interrupted = stop_signal;
            stopped = 1;
            break;
        }
    }
    (void)tty;
    dp_report(ctx, opt, (int)ts.step - first_step, now_seconds() - t_start);
    if (dp->rank == 0) { /* the curve is rank 0's: every rank has the same losses */
        if (!o.save) write_csv(&c, csv_path);
        snprintf(title, sizeof title, "%s on %s: %s", o.model, o.data, lora ? "LoRA" : "full fine-tune");
        write_svg(&c, svg_path, title);
    }
    if (interrupted)
        fprintf(stderr, "finetune: %s at step %lld of %d%s%s\n", interrupted == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)",
                (long long)ts.step, o.steps, o.save ? "; continue with --resume " : "", o.save ? o.save : "");
    printf("%s step=%lld train_loss=%.4f val_loss=%.4f\n", interrupted ? "interrupted" : stopped ? "stopped" : "final", (long long)ts.step, last_loss,
           val_loss);
    free(file_order);
    free(draws);
    free(row);
    free(c.step);
    free(c.train);
    free(c.val);
    free(batch_tokens);
    free(batch_targets);
    free(batch_positions);
    it_context_destroy(ctx);
    (void)rows_trained;
    return interrupted ? 128 + interrupted : 0;
}
