#!/usr/bin/env bash
# tests/cuda/device.sh OUT - the CUDA backend's verification on a machine with an NVIDIA GPU:
# builds the kernel suite on CUDA (tests/metal/test_kernels.c over tests/cuda/itemu_cuda.c) and the
# backend test, runs both (graphs on and off), then compute-sanitizer memcheck, racecheck and
# synccheck over the kernel suite and over training steps. Logs go to OUT/. Needs cc, the driver,
# libnvrtc and libcublas (LD_LIBRARY_PATH), compute-sanitizer on PATH for the last part.
set -u
out=${1:-build/cuda/device}
mkdir -p "$out" build/cuda
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64
export PATH=$PATH:/usr/local/cuda/bin
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1; cat "$out/gpu.txt"
cc -std=c99 -O2 -g -Wall -Wextra -Werror -Itests/metal -Ishaders -c tests/metal/test_kernels.c -o build/cuda/test_kernels.o &&
cc -std=c99 -O2 -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -I. -c tests/cuda/itemu_cuda.c -o build/cuda/itemu_cuda.o &&
cc -o build/cuda/test_kernels_cuda build/cuda/test_kernels.o build/cuda/itemu_cuda.o -lm -lpthread -ldl &&
cc -std=c99 -O2 -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -DIT_CUDA_HEAD_BLOCK_FLOATS=1000 -I. tests/cuda/test_cuda_backend.c -o build/cuda/test_cuda_backend -lm -lpthread -ldl ||
  { echo "device.sh: build failed"; exit 1; }
echo "== kernel suite on CUDA";              build/cuda/test_kernels_cuda > "$out/kernels.txt" 2>&1 || status=1; tail -60 "$out/kernels.txt"
echo "== backend vs CPU (CUDA graphs)";      build/cuda/test_cuda_backend > "$out/backend.txt" 2>&1 || status=1; grep -E "FAIL|passed|cuda:|step=3|decode" "$out/backend.txt" | head -60
echo "== backend vs CPU (no graphs)";        build/cuda/test_cuda_backend --no-graphs > "$out/backend_nographs.txt" 2>&1 || status=1; tail -3 "$out/backend_nographs.txt"
if [ "${SAN:-1}" = 0 ]; then
  echo "compute-sanitizer skipped (SAN=0)"
elif command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck synccheck; do
    echo "== compute-sanitizer --tool $tool: kernel suite"
    timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 build/cuda/test_kernels_cuda > "$out/san_kernels_$tool.txt" 2>&1; echo "exit $?"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Hazard|Error|passed" "$out/san_kernels_$tool.txt" | sort | uniq -c | head -12
    echo "== compute-sanitizer --tool $tool: training steps (no graphs: the sanitizer sees each launch)"
    timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 build/cuda/test_cuda_backend --no-graphs --quick > "$out/san_train_$tool.txt" 2>&1; echo "exit $?"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Hazard|Error|passed" "$out/san_train_$tool.txt" | sort | uniq -c | head -12
  done
else
  echo "compute-sanitizer not found"
fi
if [ "${BENCH:-0}" = 1 ]; then
  echo "== benchmark: IronTensor CUDA vs PyTorch, interleaved"
  cc -O2 -std=c99 -Wall -Wextra -Werror -I. examples/bench.c -o build/bench -lm -lpthread -ldl &&
    bash benchmarks/cuda_bench.sh build "${REPS:-3}" 2>&1 | tee "$out/bench.txt"
fi
if [ "${PROFILE:-0}" = 1 ]; then
  for preset in tiny medium; do
    echo "== IT_CUDA_PROFILE=1: where a $preset training step's GPU time goes (records timed one by one)"
    cc -O2 -std=c99 -I. examples/bench.c -o build/bench -lm -lpthread -ldl 2>/dev/null
    IT_CUDA_PROFILE=1 timeout 120 build/bench --backend cuda --preset $preset --steps 5 --gen 2 --no-quant 2>&1 | grep "cuda profile" | head -16 | tee "$out/profile_$preset.txt"
  done
fi
exit $status
