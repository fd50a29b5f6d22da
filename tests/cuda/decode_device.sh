#!/usr/bin/env bash
# tests/cuda/decode_device.sh OUT - the GPU decoder's verification on a machine with an NVIDIA GPU, in
# one go: builds the backend test, build/generate and build/bench; the decoder against the CPU's
# (test_cuda_backend --decode: tokens, logits, one wait per token; with the token graphs (the
# default), and --no-graphs: launched one by one); build/generate --backend cuda
# against --backend cpu on the fixture models (tests/cuda/generate_compare.sh, here on the real
# driver); compute-sanitizer memcheck and racecheck (RACECHECK=0: memcheck only) over decoding; then
# benchmarks/cuda_decode_bench.sh (ours and PyTorch's, interleaved). Logs go to OUT/.
set -u
out=${1:-build/cuda/device}
mkdir -p "$out" build/cuda
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64
export PATH=$PATH:/usr/local/cuda/bin
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
lscpu | grep -E "Model name|^CPU\(s\)" | tee -a "$out/gpu.txt"
cc -std=c99 -O2 -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -I. tests/cuda/test_cuda_backend.c -o build/cuda/test_cuda_backend -lm -lpthread -ldl &
cc -O2 -std=c99 -Wall -Wextra -Werror -I. examples/generate.c -o build/generate -lm -lpthread -ldl &
cc -O2 -std=c99 -Wall -Wextra -Werror -I. examples/bench.c -o build/bench -lm -lpthread -ldl &
wait
[ -x build/cuda/test_cuda_backend ] && [ -x build/generate ] && [ -x build/bench ] || { echo "decode_device.sh: build failed"; exit 1; }
if [ -f /usr/local/cuda/include/cuda.h ]; then
  cc -std=c99 -Wall -Wextra -Werror -I. -I/usr/local/cuda/include -fsyntax-only tests/cuda/abi_check.c &&
    echo "abi_check: the declared constants, driver symbols and the kernel node struct agree with cuda.h" || status=1
fi
echo "== the GPU decoder against the CPU's (and compute-sanitizer over it, at the same time)"
SECONDS=0
san=""; command -v compute-sanitizer >/dev/null && san=1
tools="memcheck"; [ "${RACECHECK:-1}" = 1 ] && tools="memcheck racecheck"
if [ -n "$san" ]; then
  for tool in $tools; do
    timeout 70 compute-sanitizer --tool $tool --error-exitcode 9 build/cuda/test_cuda_backend --decode --quick > "$out/san_decode_$tool.txt" 2>&1 &
  done
fi
timeout 75 build/cuda/test_cuda_backend --decode > "$out/decode.txt" 2>&1 || status=1
timeout 75 build/cuda/test_cuda_backend --decode --quick --no-graphs > "$out/decode_nographs.txt" 2>&1 || status=1
wait
grep -E "FAIL|passed|cuda:|decode model|error path" "$out/decode.txt"; grep -E "FAIL|passed" "$out/decode_nographs.txt"
if [ -n "$san" ]; then
  for tool in $tools; do
    echo "== compute-sanitizer --tool $tool over decoding (llama GQA, GPT-2: prompt, greedy, sampled; token graphs)"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Hazard|========= Error|passed" "$out/san_decode_$tool.txt" | sort | uniq -c | head -8
  done
else
  echo "compute-sanitizer not found"
fi
echo "($SECONDS s)"
echo "== build/generate --backend cuda against --backend cpu"
timeout 25 bash tests/cuda/generate_compare.sh build > "$out/generate.txt" 2>&1; tail -4 "$out/generate.txt"
echo "== decode speed: ours and PyTorch, interleaved"
SECONDS=0
timeout "${BENCH_S:-100}" bash benchmarks/cuda_decode_bench.sh build "${ROUNDS:-2}" 2>&1 | tee "$out/bench.txt"
echo "($SECONDS s)"
exit $status
