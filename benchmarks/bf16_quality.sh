#!/usr/bin/env bash
# bf16_quality.sh - issue 17's quality check: README "Against PyTorch"'s 300-step tinyshakespeare
# run (byte-level Llama dim 128, 4 layers, AdamW, seed 1) in fp32 and in bf16 mixed precision, the
# final validation losses compared (target: within 1%) and both curves in benchmarks/bf16_quality.svg.
#   bash benchmarks/bf16_quality.sh BUILD_DIR DATA (e.g. ../shared/data/tinyshakespeare.txt) [OUT_DIR]
set -eu
build=$1 data=$2 out=${3:-$(mktemp -d)}
args=(--data "$data" --tokenizer byte --dim 128 --layers 4 --heads 4 --ffn 384 --steps 300 --batch 16 --seq 128
      --optimizer adamw --lr 1e-3 --beta2 0.95 --wd 0.1 --warmup 20 --min-lr-ratio 0.1 --clip 1.0 --seed 1 --threads 2)
for dt in f32 bf16; do
    rm -rf "$out/$dt"
    "$build/train" "${args[@]}" --dtype "$dt" --save "$out/$dt" >"$out/$dt.log" 2>&1
    tail -1 "$out/$dt.log"
done
${PYTHON:-python3} benchmarks/bf16_quality.py "$out/f32/loss.csv" "$out/bf16/loss.csv" benchmarks/bf16_quality.svg
v32=$(tail -1 "$out/f32.log" | sed -n 's/.*val_loss=//p') v16=$(tail -1 "$out/bf16.log" | sed -n 's/.*val_loss=//p')
awk -v a="$v32" -v b="$v16" 'BEGIN { d = (b - a) / a; printf "val_loss fp32 %s, bf16 %s: %+.2f%% (target within 1%%: %s)\n", a, b, 100 * d, (d < 0 ? -d : d) <= 0.01 ? "met" : "NOT met" }'
