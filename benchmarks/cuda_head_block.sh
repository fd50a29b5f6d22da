#!/usr/bin/env bash
# benchmarks/cuda_head_block.sh [ROUNDS] - on a machine with an NVIDIA GPU and PyTorch (the device):
# the `tiny` fp32 step with the CUDA fused head in its default row blocks (IT_CUDA_HEAD_BLOCK_FLOATS,
# two blocks of 2048 rows at B16 x T256) against one block of all 4096 rows (the macro raised to
# 128M floats at build time), with and without --no-recompute, interleaved with PyTorch eager fp32
# (benchmarks/torch_cuda.py), ROUNDS rounds (default 3) of 20 steps; then IT_CUDA_PROFILE=1 of the
# one-block build for the head's products. Prints the raw bench_cuda / torch_cuda lines (README,
# CUDA, 2026-12-07 evening).
set -u
rounds=${1:-3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
lscpu | grep -E "Model name|^CPU\(s\)"; uptime
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64
mkdir -p build
cc -O2 -std=c99 -I. examples/bench.c -o build/bench -lm -lpthread -ldl &
cc -O2 -std=c99 -I. '-DIT_CUDA_HEAD_BLOCK_FLOATS=(128u << 20)' examples/bench.c -o build/bench_head4096 -lm -lpthread -ldl &
wait
run() {
    local b=$1; shift
    echo "== $b $*"
    "build/$b" --backend cuda --preset tiny --batch 16 --seq 256 --steps 20 --gen 4 --no-quant --pairs 0 "$@" 2>&1 |
        grep -E "^bench_cuda|error" || echo "bench failed ($b $*)"
}
for r in $(seq "$rounds"); do
    echo "#### round $r"
    run bench; run bench_head4096
    echo "== torch fp32"; python3 benchmarks/torch_cuda.py --preset tiny --steps 20 2>&1 | tail -1
    run bench --no-recompute; run bench_head4096 --no-recompute
done
echo "#### IT_CUDA_PROFILE=1, one block"
IT_CUDA_PROFILE=1 build/bench_head4096 --backend cuda --preset tiny --batch 16 --seq 256 --steps 10 --gen 4 --no-quant --pairs 0 2>&1 |
    grep -E "over k +(256|32000|4096) " | head -20
