#!/usr/bin/env bash
# LoRA against the full fine-tune, and against PEFT: step time and true peak memory (README
# "Fine-tuning"). Usage: benchmarks/lora_bench.sh BUILD_DIR [STEPS] [REPS]
#   1. a base model: Llama, byte vocabulary, dim 512, 8 layers, 8 heads, ffn 1376 (25.7M
#      parameters), written by build/train after one step (a checkpoint transformers and peft load);
#   2. JSONL text rows of tinyshakespeare, each longer than --seq, so every row is full;
#   3. build/finetune, LoRA rank 8 on all seven projections, QLoRA (the same on a Q4_0 and a Q8_0
#      base, --quant), and --full, same batch 4 x seq 128, AdamW, interleaved A B C D A B C D; each
#      run's steps after the first two timed (per step), peak RSS from the kernel (getrusage: the
#      process's high-water mark);
#   4. with python3 + torch + peft importable (PEFT_PYTHON=...): the same model, adapter and batch in
#      PyTorch (benchmarks/peft_step.py), torch.set_num_threads = IronTensor's threads.
# Prints one line per configuration: median ms/step, spread (min-max), peak RSS MB.
set -u
B=${1:-build}
STEPS=${2:-12}
REPS=${3:-2}
THREADS=${THREADS:-2}
PY=${PEFT_PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=../shared/data/tinyshakespeare.txt
[ -f "$data" ] || data=irontensor.h
"$B/train" --data "$data" --vocab 256 --dim 512 --layers 8 --heads 8 --kv-heads 8 --ffn 1376 --max-seq 256 --batch 1 --seq 32 \
    --steps 1 --eval-batches 1 --threads "$THREADS" --save "$tmp/base" >/dev/null 2>&1 || { echo "cannot make the base model"; exit 1; }
python3 - "$data" "$tmp/data.jsonl" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
with open(sys.argv[2], "w") as f:
    for i in range(0, min(len(text), 400 * 300), 300):
        f.write(json.dumps({"text": text[i:i + 300]}) + "\n")
PY
# run NAME flags...: per-step ms of steps 3.. into $tmp/NAME.ms, peak RSS MB into $tmp/NAME.rss
run() {
    local name=$1
    shift
    "$B/finetune" --model "$tmp/base" --data "$tmp/data.jsonl" --batch 4 --seq 128 --steps "$STEPS" --log-every 1 \
        --threads "$THREADS" "$@" >"$tmp/out" 2>"$tmp/err" || { echo "$name failed:"; tail -3 "$tmp/err"; exit 1; }
    awk '/^step [0-9]+\//{split($2, s, "/"); if (s[1] > 2) for (i = 1; i <= NF; i++) if ($i == "step_ms") print $(i + 1)}' \
        "$tmp/out" >>"$tmp/$name.ms"
    awk '/^step [0-9]+\//{for (i = 1; i <= NF; i++) if ($i == "MB") m = $(i - 1)} END {print m}' "$tmp/out" >>"$tmp/$name.rss"
    grep '^memory:' "$tmp/err" >"$tmp/$name.mem"
}
for rep in $(seq "$REPS"); do
    run lora --lora-rank 8 --lora-alpha 16 --lora-targets all-linear
    run q4 --lora-rank 8 --lora-alpha 16 --lora-targets all-linear --quant q4_0
    run q8 --lora-rank 8 --lora-alpha 16 --lora-targets all-linear --quant q8_0
    run full --full
done
summary() { # NAME LABEL
    sort -n "$tmp/$1.ms" | awk -v label="$2" -v rss="$(sort -n "$tmp/$1.rss" | tail -1)" \
        '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
          printf "%-28s median %8.1f ms/step  (min %.1f, max %.1f, n %d)  peak RSS %s MB\n", label, m, v[1], v[NR], NR, rss}'
    sed 's/^/    /' "$tmp/$1.mem"
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $THREADS threads; steps $STEPS x $REPS runs each"
summary lora "IronTensor LoRA r8 all-linear"
summary q4 "IronTensor QLoRA r8, Q4_0 base"
summary q8 "IronTensor QLoRA r8, Q8_0 base"
summary full "IronTensor full fine-tune"
median() { sort -n "$1" | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
awk -v a="$(median "$tmp/lora.ms")" -v b="$(median "$tmp/full.ms")" 'BEGIN {printf "LoRA / full step time (medians): %.2f\n", a / b}'
if "$PY" -c "import torch, transformers, peft" 2>/dev/null; then
    for mode in lora full; do "$PY" benchmarks/peft_step.py "$tmp/base" "$mode" "$STEPS" "$THREADS"; done
else
    echo "PEFT: not importable with $PY (set PEFT_PYTHON); skipped"
fi
