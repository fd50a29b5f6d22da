#!/usr/bin/env bash
# Data-parallel training on this machine: one process on every core against 2 ranks (mpirun, one
# core each) and 2 ranks with ZeRO-1, the same global batch, interleaved repetitions (A B C A B C ...).
# Reports per configuration the median and range of tokens/s and step time, the share of the step
# rank 0 spent waiting for the all-reduce, the bytes summed per step, and the peak memory and
# optimizer state per process. Then the same for a LoRA fine-tune (build/finetune against 2 ranks of
# build/finetune_mpi, and ZeRO-1) of a model of that shape on JSONL examples: step time and rows/s
# (medians over steps 2.. of each run, then over the runs). Usage: benchmarks/dp_bench.sh BUILD_DIR
# [REPS] [STEPS] (make bench-dp). Needs build/train, build/train_mpi, build/finetune, build/finetune_mpi.
set -u
B=${1:-build}
reps=${2:-3}
steps=${3:-12}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cores=$(nproc)
model="--data irontensor.h --tokenizer byte --dim 256 --layers 4 --heads 4 --ffn 768 --seq 128 --batch 16
       --optimizer adamw --steps $steps --warmup 2 --eval-every 0 --eval-batches 1 --log-every 1"
run() { # NAME COMMAND...: one run, its last step line and data-parallel report kept
    local name=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" || { echo "$name failed:"; tail -5 "$tmp/err"; exit 1; }
    local last=$(grep '^step ' "$tmp/out" | tail -1)
    local tok=$(echo "$last" | sed 's/.* \([0-9]*\) tok\/s.*/\1/')
    local mem=$(echo "$last" | sed 's/.*mem \([0-9]*\) MB.*/\1/')
    local optmb=$(sed -n 's/^memory: .*optimizer \([0-9.]*\) MB.*/\1/p' "$tmp/err")
    local wait=$(sed -n 's/.* \([0-9.]*\) ms per step waiting.*(\([0-9.]*\)% of.*/\2/p' "$tmp/err")
    local mb=$(sed -n 's/.* \([0-9.]*\) MB summed per step.*/\1/p' "$tmp/err")
    echo "$name $tok $mem $optmb ${wait:--} ${mb:--}" >>"$tmp/results"
}
simd=$(grep -qw avx512f /proc/cpuinfo && echo "AVX-512" || (grep -qw avx2 /proc/cpuinfo && echo "AVX2" || echo "no AVX2"))
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores, $simd; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: llama dim 256, 4 layers, ffn 768, vocab 256 (byte), seq 128, global batch 16, AdamW, $steps steps, $reps repetitions interleaved"
for r in $(seq 1 "$reps"); do
    run "1-process" "$B/train" $model --threads "$cores"
    run "2-ranks" bash "$here/../tests/mpi/mpi_run.sh" -np 2 "$B/train_mpi" $model --threads $((cores / 2 > 0 ? cores / 2 : 1))
    run "2-ranks-zero1" bash "$here/../tests/mpi/mpi_run.sh" -np 2 "$B/train_mpi" $model --zero 1 --threads $((cores / 2 > 0 ? cores / 2 : 1))
done
python3 - "$tmp/results" "$steps" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, tok, mem, opt, wait, mb = line.split()
    rows.setdefault(name, []).append((float(tok), float(mem), float(opt), wait, mb))
tokens_per_step = 16 * 128
print("| configuration | tokens/s (median, range) | step ms (median) | waiting for the all-reduce | summed per step | peak RSS per process | optimizer state per process |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name in ("1-process", "2-ranks", "2-ranks-zero1"):
    r = rows[name]
    toks = [x[0] for x in r]
    med = statistics.median(toks)
    waits = [float(x[3]) for x in r if x[3] != "-"]
    print("| %s | %.0f (%.0f..%.0f) | %.0f | %s | %s | %.0f MB | %.1f MB |" % (
        name, med, min(toks), max(toks), 1000.0 * tokens_per_step / med,
        ("%.0f%% of the step" % statistics.median(waits)) if waits else "-",
        (r[0][4] + " MB") if r[0][4] != "-" else "-", statistics.median([x[1] for x in r]), r[0][2]))
EOF

# --- LoRA fine-tuning: the base model is the shape above after one step of build/train ---
"$B/train" $model --steps 1 --threads "$cores" --save "$tmp/base" >/dev/null 2>&1 || { echo "the base model failed"; exit 1; }
python3 - "$tmp/train.jsonl" <<'EOF'
import json, sys
lines = [l.strip() for l in open("irontensor.h", errors="replace") if len(l.strip()) > 20][:4000]
with open(sys.argv[1], "w") as f:
    for i in range(0, len(lines) - 1, 2): # a line as the prompt, the next as the completion: lengths vary
        f.write(json.dumps({"prompt": lines[i], "completion": " " + lines[i + 1]}) + "\n")
EOF
lora="--model $tmp/base --data $tmp/train.jsonl --mask-prompt --lora-rank 8 --lora-alpha 16 --lora-targets all-linear
      --batch 16 --seq 128 --steps $steps --warmup 2 --log-every 1"
ft() { # NAME COMMAND...: one fine-tune, the median step time of steps 2.. kept
    local name=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" || { echo "$name failed:"; tail -5 "$tmp/err"; exit 1; }
    local ms=$(grep '^step ' "$tmp/out" | tail -n +2 | sed 's/.* step_ms \([0-9.]*\) .*/\1/' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    local mem=$(grep '^step ' "$tmp/out" | tail -1 | sed 's/.*mem \([0-9]*\) MB.*/\1/')
    local floats=$(sed -n 's/.*optimizer state \([0-9]*\) floats per rank.*/\1/p' "$tmp/err")
    local wait=$(sed -n 's/.* ms per step waiting.*(\([0-9.]*\)% of.*/\1/p' "$tmp/err")
    local mb=$(sed -n 's/.* \([0-9.]*\) MB summed per step.*/\1/p' "$tmp/err")
    local optmb=$(sed -n 's/^memory: .*optimizer \([0-9.]*\) MB.*/\1/p' "$tmp/err")
    echo "$name $ms $mem ${floats:--} $optmb ${wait:--} ${mb:--}" >>"$tmp/ft_results"
}
echo
echo "LoRA fine-tune of that model: rank 8, all-linear, AdamW, global batch 16, seq 128, --mask-prompt, $steps steps, $reps repetitions interleaved"
for r in $(seq 1 "$reps"); do
    ft "1-process" "$B/finetune" $lora --threads "$cores"
    ft "2-ranks" bash "$here/../tests/mpi/mpi_run.sh" -np 2 "$B/finetune_mpi" $lora --threads $((cores / 2 > 0 ? cores / 2 : 1))
    ft "2-ranks-zero1" bash "$here/../tests/mpi/mpi_run.sh" -np 2 "$B/finetune_mpi" $lora --zero 1 --threads $((cores / 2 > 0 ? cores / 2 : 1))
done
python3 - "$tmp/ft_results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, ms, mem, floats, optmb, wait, mb = line.split()
    rows.setdefault(name, []).append((float(ms), float(mem), floats, optmb, wait, mb))
print("| configuration | step ms (median, range) | rows/s | waiting for the all-reduce | summed per step | peak RSS per process | optimizer state per process |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name in ("1-process", "2-ranks", "2-ranks-zero1"):
    r = rows[name]
    ms = [x[0] for x in r]
    med = statistics.median(ms)
    waits = [float(x[4]) for x in r if x[4] != "-"]
    state = ("%.2f MB" % (int(r[0][2]) * 4 / 1e6)) if r[0][2] != "-" else r[0][3] + " MB"
    print("| %s | %.0f (%.0f..%.0f) | %.1f | %s | %s | %.0f MB | %s |" % (
        name, med, min(ms), max(ms), 16 * 1000.0 / med, ("%.0f%% of the step" % statistics.median(waits)) if waits else "-",
        (r[0][5] + " MB") if r[0][5] != "-" else "-", statistics.median([x[1] for x in r]), state))
EOF
