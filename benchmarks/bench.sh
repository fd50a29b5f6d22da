#!/usr/bin/env bash
# bench.sh - `make bench`: IronTensor-C's build/bench, PyTorch's benchmarks/torch_tiny.py and the GEMM
# benchmark in one invocation, then the two frameworks side by side with ratios (DESIGN section 7).
#   bash benchmarks/bench.sh BUILD_DIR [flags for both: --quick --steps N --vocab V --batch B --seq T --threads K]
# The machine and its load are printed first: the numbers mean little on a busy machine.
# Last, the fp32 step against PyTorch's in interleaved pairs (ours, PyTorch, ours, PyTorch ...) at
# vocab 32000 and 256: BENCH_PAIRS pairs (default 3) of BENCH_PAIR_STEPS timed steps each (default
# 10; 3 with --quick) after BENCH_PAIR_WARMUP discarded ones (default 5), each run's median step, then the median and spread of each side and of the
# per-pair ratios. One pair on a shared machine swung 0.46x to 0.90x; pairs taken back to back see
# the same load.
set -u
build=${1:-build}
shift || true
args=("$@")
py=${PYTHON:-/usr/bin/python3}
threads=2
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--threads" ] && threads=${args[$((i + 1))]}; done

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -sr)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
# Debian's PyTorch multiplies through whatever libblas.so.3 the alternatives system picks; with only
# the reference BLAS installed its fp32 step is tens of times slower (0.6 GFLOP/s for a 1024^3 SGEMM on
# one core, against 43 with OpenBLAS), and every ratio against it would flatter us.
if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
    blas=$("$py" -c 'import torch; torch.ones(2, 2) @ torch.ones(2, 2); print(" ".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l or "mkl" in l})) or "none found")')
    echo "== PyTorch $("$py" -c 'import torch; print(torch.__version__)') multiplies through: $blas"
    case $blas in *openblas* | *mkl* | *blis*) ;; *) echo "== WARNING: PyTorch is on the reference BLAS: its figures are not a fair comparison (Debian: apt-get install libopenblas0-pthread)" ;; esac
fi
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
    [ -n "$q4" ] && [ -n "$tf" ] && awk -v q="$q4" -v t="$tf" -v m="$m" 'BEGIN { printf "%s: our Q4_0 decode %.1f tok/s vs PyTorch f32 %.1f: %.1fx (target >= 5x: %s)\n", m, q, t, q / t, (q >= 5 * t ? "met" : "NOT met") }'
done
echo
echo "== GEMM: $build/gemm_bench --threads $threads"
"$build/gemm_bench" --threads "$threads" --reps 3 --secs 0.1
echo "== GEMM in bf16 (the step's --dtype bf16 products): $build/gemm_bench --threads $threads --dtype bf16"
"$build/gemm_bench" --threads "$threads" --reps 3 --secs 0.1 --dtype bf16
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# key=value fields of the machine-readable lines
field() { grep -m1 "^$1 " "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"; }

# The interleaved pairs (see the top). The other flags (--batch, --seq, --threads) go to both.
pairs=${BENCH_PAIRS:-3}
pair_steps=${BENCH_PAIR_STEPS:-10}
[ -n "$quick" ] && pair_steps=${BENCH_PAIR_STEPS:-3}
pair_warmup=${BENCH_PAIR_WARMUP:-5}
pair_args=()
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
    --quick) ;;
    --steps | --vocab | --warmup) i=$((i + 1)) ;;
    *) pair_args+=("${args[$i]}") ;;
    esac
done
pair_log=$(mktemp)
trap 'rm -f "$ours" "$theirs" "$pair_log" "$ours.pair" "$theirs.pair"' EXIT
if [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then
    for vocab in 32000 256; do
        echo "== fp32 step, interleaved pairs at vocab $vocab: $pairs x (build/bench, torch_tiny.py) --warmup $pair_warmup --steps $pair_steps ${pair_args[*]:-}"
        for ((p = 1; p <= pairs; p++)); do
            "$build/bench" --no-quant --gen 2 --warmup "$pair_warmup" --steps "$pair_steps" --vocab "$vocab" "${pair_args[@]}" >"$ours.pair" || { echo "bench: build/bench failed"; exit 1; }
            "$py" benchmarks/torch_tiny.py --gen 2 --warmup "$pair_warmup" --steps "$pair_steps" --vocab "$vocab" "${pair_args[@]}" >"$theirs.pair" || { echo "bench: torch_tiny.py failed"; exit 1; }
            o=$(field bench_flops "$ours.pair" step_median_ms) g=$(field bench_flops "$ours.pair" gflops) t=$(field torch "$theirs.pair" step_median_ms)
            echo "pair $p: ours $o ms ($g GFLOP/s), PyTorch $t ms, ratio $(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.2f", o / t }') (load $(cut -d' ' -f1 /proc/loadavg))"
            echo "$vocab $o $t" >>"$pair_log"
        done
        rm -f "$ours.pair" "$theirs.pair"
        # median and min-max of ours, PyTorch's and the per-pair ratios
        awk -v v="$vocab" 'BEGIN { n = 0 } $1 == v { o[n] = $2; t[n] = $3; r[n] = $2 / $3; n++ }
            function med(a, n,   i, j, x) { for (i = 1; i < n; i++) for (j = i; j > 0 && a[j - 1] > a[j]; j--) { x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
                                          return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2 }
            END { mo = med(o, n); lo = o[0]; ho = o[n - 1]; mt = med(t, n); lt = t[0]; ht = t[n - 1]; mr = med(r, n)
                  printf "vocab %s, %d pairs: ours %.1f ms (%.1f-%.1f), PyTorch %.1f ms (%.1f-%.1f), ours / PyTorch %.2fx (%.2f-%.2f)  target <= 0.5x: %s\n",
                         v, n, mo, lo, ho, mt, lt, ht, mr, r[0], r[n - 1], mr <= 0.5 ? "met" : "NOT met" }' "$pair_log"
    done
    echo
else
    echo "== fp32 step pairs against PyTorch skipped: $py cannot import torch"
fi

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
