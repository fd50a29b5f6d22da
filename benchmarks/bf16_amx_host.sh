#!/usr/bin/env bash
# bf16_amx_host.sh - issue 17's AMX run, everything in one go on a host whose CPU has AMX (the GPU
# machine's Intel Xeon Sapphire Rapids): the CPU's flags, tests/test_bf16 (its amx level must run and
# match the double-precision reference), which kernels oneDNN picks for PyTorch's bf16 autocast, then
# benchmarks/bf16_bench.sh at two fixed thread counts - rounds of (ours fp32, ours bf16, PyTorch bf16
# autocast, PyTorch fp32), our fp32/bf16 ratio from steps alternating in one process - and the
# bf16 step with the AVX512-BF16 kernel forced, on the same host, for the kernel's share.
# Logs go to $OUT (a directory; default /tmp/bf16_amx), a few files, each section under a timeout.
#   OUT=DIR bash benchmarks/bf16_amx_host.sh BUILD_DIR [THREADS]   (BUILD_DIR: test_bf16 and bench, made if missing)
# BF16_HOST_EXTRA="--batch 2 --seq 64 --vocab 512" appends to every benchmark's flags (a dry run of the plumbing).
set -u
build=${1:-build} threads=${2:-16}
read -r -a extra <<<"${BF16_HOST_EXTRA:-}"
out=${OUT:-/tmp/bf16_amx}
mkdir -p "$out"
export PYTHON=${PYTHON:-python3}
say() { echo "$*" | tee -a "$out/summary.txt"; }

{
    date -u
    uname -a
    echo "nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
    lscpu
    cc --version 2>&1 | head -1
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cpu capability", torch.backends.cpu.get_cpu_capability(), "mkldnn", torch.backends.mkldnn.is_available())' 2>&1
} >"$out/env.txt" 2>&1
say "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
say "== CPU flags (bf16-related): $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(amx|avx512_bf16|avx512_fp16|avx512f$)' | sort | tr '\n' ' ')"

# The binaries: carried ones if they run here, else built here.
carried=0
if [ -x "$build/bench" ] && [ -x "$build/test_bf16" ]; then
    "$build/bench" --bad-flag >/dev/null 2>&1 # the usage message (exit 2) says the binary runs here
    [ $? -eq 2 ] && carried=1
fi
if [ $carried = 0 ]; then
    say "== building $build/test_bf16 $build/bench here"
    make BUILD="$build" "$build/test_bf16" "$build/bench" -j2 >"$out/build.log" 2>&1 || { say "build failed"; tail -20 "$out/build.log"; exit 1; }
fi

timeout 60 "$build/test_bf16" >"$out/test_bf16.log" 2>&1
say "== test_bf16 exit $?: $(grep -E '^bf16 kernel on this CPU|bf16 products, |passed, ' "$out/test_bf16.log" | tr '\n' ';')"
grep -q 'bf16 products, amx: ok' "$out/test_bf16.log" && say "== the amx kernel ran and matched the reference" ||
    say "== the amx kernel did NOT pass (or did not run): see test_bf16.log"

# oneDNN's choice for a bf16 linear of the head's shape under autocast (its verbose log names the ISA)
ONEDNN_VERBOSE=1 timeout 40 "$PYTHON" -c '
import torch
torch.set_num_threads('"$threads"')
x, lin = torch.randn(4096, 256), torch.nn.Linear(256, 2048, bias=False)
with torch.autocast("cpu", dtype=torch.bfloat16):
    for _ in range(2): y = lin(x)
' 2>&1 | grep -E "onednn_verbose,(exec,cpu|info,cpu,isa)" | head -4 >"$out/onednn.txt"
say "== oneDNN (PyTorch bf16 autocast linear [4096 x 256] @ [256 x 2048]): $(grep -o -m1 'isa:[^,]*' "$out/onednn.txt"); $(grep -m1 exec "$out/onednn.txt" | cut -d, -f4-6)"

run_bench() { # log, seconds, bf16_bench.sh arguments
    local log=$1 limit=$2
    shift 2
    timeout "$limit" bash benchmarks/bf16_bench.sh "$build" "$@" "${extra[@]}" >"$out/$log" 2>&1
    say "== bf16_bench.sh $* (exit $?)"
    grep -E '^(round|bf16 step|our |PyTorch bf16|bench_bf16|== load)' "$out/$log" | tee -a "$out/summary.txt"
}
run_bench bench_t$threads.log 120 --threads "$threads" --rounds 3 --steps 3 --warmup 2 --gen 8 --torch-fp32
timeout 40 "$build/bench" --no-quant --dtype bf16 --bf16-kernel avx512bf16 --threads "$threads" --steps 3 --warmup 2 --gen 8 \
    "${extra[@]}" >"$out/kernel_avx512bf16.log" 2>&1
say "== the same host with the AVX512-BF16 kernel forced, $threads threads (exit $?):"
grep -E '^bench_bf16' "$out/kernel_avx512bf16.log" | tee -a "$out/summary.txt"
run_bench bench_t2.log 90 --threads 2 --batch 4 --rounds 2 --steps 3 --warmup 1 --gen 8 --torch-fp32
say "== done $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
