#!/usr/bin/env bash
# benchmarks/cuda_bench.sh BUILD [REPS] - IronTensor's CUDA backend and PyTorch on the same GPU, in one
# run, interleaved for each preset, REPS rounds of: build/bench --backend cuda in fp32, PyTorch fp32
# eager (benchmarks/torch_cuda.py), ours with --tf32, ours with --tf32 and the tiled attention kernels
# (IT_CUDA_ATTN_SCORES=0: the A/B of attention as cuBLAS products), ours with --tf32 --dtype bf16
# (bf16 products, TF32 attention), PyTorch's bf16 autocast eager. Prints the raw lines; the medians
# go in README.md. Needs the GPU machine's PyTorch.
set -u
B=${1:-build}; reps=${2:-3}
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64
ours() { "$B/bench" --backend cuda --preset $preset --batch 16 --seq 256 --steps $steps --gen 4 --no-quant --pairs 0 "$@" 2>&1 | grep -E "^bench_cuda|error" || echo "bench failed ($preset $*)"; }
torch() { python3 benchmarks/torch_cuda.py --preset $preset --steps $steps "$@" 2>&1 | tail -1; }
for preset in tiny small medium; do
  steps=20; [ $preset = medium ] && steps=10
  for r in $(seq "$reps"); do
    ours; torch
    ours --tf32
    echo "attention=tiled"; IT_CUDA_ATTN_SCORES=0 ours --tf32
    ours --tf32 --dtype bf16; torch --bf16
  done
  ours --tf32 --dtype bf16 --no-recompute
done
