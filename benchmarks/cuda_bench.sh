#!/usr/bin/env bash
# benchmarks/cuda_bench.sh BUILD [REPS] - IronTensor's CUDA backend and PyTorch on the same GPU, in one
# run, interleaved (ours, torch, ours, torch, ...) for each preset: build/bench --backend cuda and
# benchmarks/torch_cuda.py (fp32 eager), then ours with --tf32 and PyTorch's bf16 autocast for reference. Prints the raw lines;
# the medians go in README.md. Needs the GPU machine's PyTorch.
set -u
B=${1:-build}; reps=${2:-3}
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64
for preset in tiny small medium; do
  steps=20; [ $preset = medium ] && steps=10
  for r in $(seq "$reps"); do
    "$B/bench" --backend cuda --preset $preset --batch 16 --seq 256 --steps $steps --gen 4 --no-quant 2>&1 | grep -E "^bench_cuda|error" || echo "bench failed ($preset)"
    python3 benchmarks/torch_cuda.py --preset $preset --steps $steps 2>&1 | tail -1
  done
  "$B/bench" --backend cuda --preset $preset --batch 16 --seq 256 --steps $steps --gen 4 --no-quant --tf32 2>&1 | grep -E "^bench_cuda|error"
  python3 benchmarks/torch_cuda.py --preset $preset --steps $steps --bf16 2>&1 | tail -1
done
