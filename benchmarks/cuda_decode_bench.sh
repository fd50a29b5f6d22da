#!/usr/bin/env bash
# benchmarks/cuda_decode_bench.sh BUILD [ROUNDS] - the KV-cache decoder on the GPU against PyTorch's, in
# one run, interleaved (ours, torch, ours, ...): build/bench --backend cuda's decode table
# (bench_cuda_decode lines: tiny and SmolLM2-135M's shape, f32 / bf16 / Q8_0 / Q4_0 weights) and
# benchmarks/torch_cuda_decode.py (the same shapes, eager fp32 and bf16). Prints the raw lines; the
# medians go in README.md. Needs the GPU machine's PyTorch.
set -u
B=${1:-build}; rounds=${2:-2}
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64
for r in $(seq "$rounds"); do
  "$B/bench" --backend cuda --steps 2 --warmup 1 --gen 8 2>&1 | grep -E "^bench_cuda_decode|^bench_inference|error" || echo "bench failed"
  [ "$r" -lt "$rounds" ] || break
  (cd benchmarks && PYTHONUNBUFFERED=1 python3 torch_cuda_decode.py 2>&1 | grep -E "^torch_cuda_decode|skipped|Error")
done
