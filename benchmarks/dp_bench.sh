#!/usr/bin/env bash
# Data-parallel training on this machine: one process on every core against 2 ranks (mpirun, one
# core each) and 2 ranks with ZeRO-1, the same global batch, interleaved repetitions (A B C A B C ...).
# Reports per configuration the median and range of tokens/s and step time, the share of the step
# rank 0 spent waiting for the all-reduce, the bytes summed per step, and the peak memory and
# optimizer state per process. Usage: benchmarks/dp_bench.sh BUILD_DIR [REPS] [STEPS]
# (make bench-dp). Needs build/train and build/train_mpi.
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
