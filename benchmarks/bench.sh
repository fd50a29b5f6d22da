#!/usr/bin/env bash
# bench.sh - `make bench`: IronTensor-C's build/bench, PyTorch's benchmarks/torch_tiny.py and the GEMM
# benchmark in one invocation, then the two frameworks side by side with ratios (DESIGN section 7).
#   bash benchmarks/bench.sh BUILD_DIR [flags for both: --quick --steps N --vocab V --batch B --seq T --threads K]
# The machine and its load are printed first: the numbers mean little on a busy machine.
set -u
build=${1:-build}
shift || true
args=("$@")
py=${PYTHON:-/usr/bin/python3}
threads=2
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--threads" ] && threads=${args[$((i + 1))]}; done

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -sr)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT

echo "== IronTensor-C: $build/bench ${args[*]:-}"
"$build/bench" "${args[@]}" | tee "$ours" || { echo "bench: build/bench failed"; exit 1; }
echo
echo "== PyTorch: benchmarks/torch_tiny.py ${args[*]:-}"
if [ -x "$py" ]; then "$py" benchmarks/torch_tiny.py "${args[@]}" | tee "$theirs"; else echo "no $py: PyTorch skipped"; fi
echo
quick=; for a in "${args[@]}"; do [ "$a" = "--quick" ] && quick=--quick; done
echo "== PyTorch f32 decode of the quantised-decode table's shapes: benchmarks/torch_decode.py --threads $threads $quick"
if [ -x "$py" ]; then "$py" benchmarks/torch_decode.py --threads "$threads" $quick | tee -a "$theirs"; fi
for m in tiny smollm-135m; do
    q4=$(grep -m1 "^bench_quant model=$m " "$ours" | tr ' ' '\n' | sed -n 's/^q4_0_tok_s=//p')
    tf=$(grep -m1 "^torch_quant model=$m " "$theirs" | tr ' ' '\n' | sed -n 's/^f32_tok_s=//p')
    [ -n "$q4" ] && [ -n "$tf" ] && awk -v q="$q4" -v t="$tf" -v m="$m" 'BEGIN { printf "%s: our Q4_0 decode %.1f tok/s vs PyTorch f32 %.1f: %.1fx (target >= 5x: %s)\n", m, q, t, q / t, q >= 5 * t ? "met" : "NOT met" }'
done
echo
echo "== GEMM: $build/gemm_bench --threads $threads"
"$build/gemm_bench" --threads "$threads" --reps 3 --secs 0.1
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# key=value fields of the machine-readable lines
field() { grep -m1 "^$1 " "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
o_step=$(field bench "$ours" step_ms) o_tok=$(field bench "$ours" tok_s) o_rss=$(field bench "$ours" peak_rss_mb)
o_dec=$(field bench "$ours" decode_tok_s) o_arena=$(field bench "$ours" arena_mb)
o_t5=$(field bench_inference "$ours" ttft5_ms) o_t20=$(field bench_inference "$ours" ttft20_ms)
t_step=$(field torch "$theirs" step_ms) t_tok=$(field torch "$theirs" tok_s) t_rss=$(field torch "$theirs" peak_rss_mb)
t_dec=$(field torch "$theirs" decode_tok_s) t_t5=$(field torch "$theirs" ttft5_ms) t_t20=$(field torch "$theirs" ttft20_ms)
echo "== side by side (same machine, same invocation)"
if [ -z "$t_step" ]; then
    echo "PyTorch did not run (not installed?): IronTensor-C only"
    printf '%-26s %14s\n' "" "IronTensor-C" "train step ms" "$o_step" "train tokens/s" "$o_tok" "peak RSS MB" "$o_rss" \
        "decode tokens/s" "$o_dec" "TTFT ms (5 / 20)" "$o_t5 / $o_t20"
    exit 0
fi
awk -v os="$o_step" -v ts="$t_step" -v ot="$o_tok" -v tt="$t_tok" -v orr="$o_rss" -v tr="$t_rss" -v od="$o_dec" \
    -v td="$t_dec" -v o5="$o_t5" -v t5="$t_t5" -v o20="$o_t20" -v t20="$t_t20" -v oa="$o_arena" 'BEGIN {
    printf "%-22s %14s %14s %22s\n", "", "IronTensor-C", "PyTorch 1.13", "ratio (ours / torch)"
    printf "%-22s %14.1f %14.1f %15.2fx  %s\n", "train step ms", os, ts, os / ts, (os <= 0.5 * ts ? "target <= 0.5x: met" : "target <= 0.5x: NOT met")
    printf "%-22s %14.0f %14.0f %15.2fx\n", "train tokens/s", ot, tt, ot / tt
    printf "%-22s %14.1f %14.1f %15.2fx  %s\n", "peak RSS MB", orr, tr, orr / tr, (orr <= 250 ? "target <= 250 MB: met" : "target <= 250 MB: NOT met")
    printf "%-22s %14.1f %14s\n", "planned arena MB", oa, "-"
    printf "%-22s %14.1f %14.1f %15.2fx  %s\n", "decode tokens/s", od, td, od / td, (od >= 3 * td ? "target >= 3x: met" : "target >= 3x: NOT met")
    printf "%-22s %14.2f %14.2f %15.2fx\n", "TTFT ms, 5-token", o5, t5, o5 / t5
    printf "%-22s %14.2f %14.2f %15.2fx\n", "TTFT ms, 20-token", o20, t20, o20 / t20
}'
