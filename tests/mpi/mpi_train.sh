#!/usr/bin/env bash
# build/train_mpi under mpirun with 2 ranks (tests/mpi/mpi_run.sh): a resume in a fresh mpirun is
# bit-exact (plain and ZeRO-1), ZeRO-1 keeps half the optimizer state and trains like plain
# data-parallel, another world size resumes with the notice, a killed rank and a stopped rank end
# the job non-zero with a message in bounded time, ranks started with different flags are stopped
# at start-up, and bad data-parallel flags are refused. Usage: tests/mpi/mpi_train.sh BUILD_DIR.
# Ends with "N passed, N failed".
set -u
B=${1:-build}
here=$(dirname "$0")
tmp=$(mktemp -d)
bg=
trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0 failed=0
run() { bash "$here/mpi_run.sh" "$@"; }
check() { # check "what" CONDITION-EXIT-CODE
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}
show() { sed 's/^/    /' "$1" | tail -"${2:-8}"; }
head -c 200000 irontensor.h >"$tmp/text.txt"
looks="--threads 1 --eval-every 3 --eval-batches 2 --log-every 1" # not part of a run's state: given again on resume
small="--data $tmp/text.txt --dim 32 --layers 2 --heads 2 --ffn 64 --seq 32 --batch 4 --warmup 2 $looks"

# 1. resume in a fresh mpirun is bit-exact: 6 steps straight == 3, stop, 3 more
for zero in 0 1; do
    run -np 2 "$B/train_mpi" $small --zero $zero --steps 6 --save "$tmp/straight$zero" >"$tmp/a.out" 2>"$tmp/a.err"
    check "zero $zero: 2-rank run (exit $?)" $?
    run -np 2 "$B/train_mpi" $small --zero $zero --steps 6 --stop-after 3 --save "$tmp/split$zero" >"$tmp/b1.out" 2>"$tmp/b1.err"
    cp -r "$tmp/split$zero" "$tmp/stopped$zero"
    run -np 2 "$B/train_mpi" --resume "$tmp/split$zero" --data "$tmp/text.txt" $looks --zero $zero >"$tmp/b.out" 2>"$tmp/b.err"
    check "zero $zero: resumed run (exit $?)" $?
    same=0
    for f in model.safetensors optimizer.safetensors trainer_state.json; do
        cmp -s "$tmp/straight$zero/$f" "$tmp/split$zero/$f" || { same=1; echo "    $f differs"; }
    done
    check "zero $zero: stop + resume in a fresh mpirun == straight run, bit for bit" $same
    [ "$(grep '^final' "$tmp/a.out")" = "$(grep '^final' "$tmp/b.out")" ] && [ -n "$(grep '^final' "$tmp/a.out")" ]
    check "zero $zero: the same final line ($(grep '^final' "$tmp/a.out") / $(grep '^final' "$tmp/b.out"))" $?
    grep -q '"world_size": 2' "$tmp/straight$zero/trainer_state.json" && grep -q '"rank_data_rng"' "$tmp/straight$zero/trainer_state.json"
    check "zero $zero: both ranks' data RNG states are saved" $?
    grep '^memory' "$tmp/a.err" | sed 's/.*optimizer \([0-9.]*\) MB.*/\1/' >"$tmp/opt_mb$zero"
done
awk -v a="$(cat "$tmp/opt_mb0")" -v b="$(cat "$tmp/opt_mb1")" 'BEGIN { exit !(b > 0 && b <= a / 2 + 0.05) }'
check "ZeRO-1 keeps half the optimizer state per rank ($(cat "$tmp/opt_mb1") MB vs $(cat "$tmp/opt_mb0") MB)" $?
# ZeRO-1 and plain data-parallel: the same training (the clip is active, so the norm's rounding may differ)
python3 - "$tmp/straight0/loss.csv" "$tmp/straight1/loss.csv" <<'EOF'
import sys
a = [l.split(",") for l in open(sys.argv[1]).read().split()[1:]]
b = [l.split(",") for l in open(sys.argv[2]).read().split()[1:]]
sys.exit(0 if len(a) == len(b) == 6 and all(abs(float(x[1]) - float(y[1])) <= 1e-5 * abs(float(x[1])) for x, y in zip(a, b)) else 1)
EOF
check "ZeRO-1 losses equal plain data-parallel's" $?

# 2. another world size: a notice, and the run goes on
"$B/train" --resume "$tmp/stopped0" --data "$tmp/text.txt" $looks --save "$tmp/one" >"$tmp/c.out" 2>"$tmp/c.err"
code=$?
grep -q "saved by 2 ranks and this run has 1: the data order changes" "$tmp/c.err" && grep -q '^final step=6' "$tmp/c.out"
check "a 2-rank checkpoint resumed by one process: notice, finished (exit $code)" $?
run -np 2 "$B/train_mpi" --resume "$tmp/one" --data "$tmp/text.txt" $looks --steps 6 >"$tmp/d.out" 2>"$tmp/d.err"
grep -q "already complete" "$tmp/d.err"
check "a complete run is recognised by every rank" $?
"$B/train" $small --steps 6 --stop-after 3 --save "$tmp/single" >/dev/null 2>&1
run -np 2 "$B/train_mpi" --resume "$tmp/single" --data "$tmp/text.txt" $looks >"$tmp/e.out" 2>"$tmp/e.err"
code=$?
grep -q "saved by 1 rank and this run has 2" "$tmp/e.err" && grep -q '^final step=6' "$tmp/e.out"
check "a one-process checkpoint resumed by 2 ranks: notice, finished (exit $code)" $?
[ $code = 0 ] || show "$tmp/e.err"

# 3. a rank killed mid-run, and a rank that stops answering: the others end non-zero, with a message, in bounded time
for how in KILL STOP; do
    start=$(date +%s)
    run -np 2 "$B/train_mpi" $small --steps 100000 --eval-every 0 --comm-timeout 4 >"$tmp/f.out" 2>"$tmp/f.err" &
    bg=$!
    pid=
    for i in $(seq 1 300); do # wait for step 3 (at most 30 s)
        pid=$(sed -n 's/^data parallel: rank 1 of 2 is pid \([0-9]*\) .*/\1/p' "$tmp/f.err")
        [ -n "$pid" ] && grep -q '^step 3/' "$tmp/f.out" && break
        sleep 0.1
    done
    [ -n "$pid" ] && kill -"$how" "$pid"
    for i in $(seq 1 600); do kill -0 "$bg" 2>/dev/null || break; sleep 0.1; done # at most 60 s
    if kill -0 "$bg" 2>/dev/null; then
        kill -9 "$bg"
        code=hung
    else
        wait "$bg"
        code=$?
    fi
    bg=
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null # a stopped rank the job left behind
    elapsed=$(($(date +%s) - start))
    if [ $how = KILL ]; then
        grep -qi "rank 1\|signal 9\|killed\|timed out" "$tmp/f.err" "$tmp/f.out"
    else
        grep -q "timed out after 4 s on rank 0: another rank has died, hangs or is far behind" "$tmp/f.err" &&
            grep -q "rank 0 of 2 stops (exit 1): ending every rank" "$tmp/f.err"
    fi
    msg=$?
    [ -n "$pid" ] && [ "$code" != hung ] && [ "$code" != 0 ] && [ $msg = 0 ] && [ $elapsed -lt 90 ]
    [ -n "${VERBOSE:-}" ] && show "$tmp/f.err" 12
    check "SIG$how of rank 1 (pid ${pid:-not found}) at step 3: exit $code after ${elapsed} s, message found: $([ $msg = 0 ] && echo yes || echo no)" $?
    [ $msg = 0 ] || show "$tmp/f.err"
done

# 4. ranks started with different flags are stopped at start-up, naming the difference
run -np 1 "$B/train_mpi" $small --steps 3 --lr 1e-3 : -np 1 "$B/train_mpi" $small --steps 3 --lr 2e-3 >"$tmp/g.out" 2>"$tmp/g.err"
code=$?
grep -q "rank 1 was started differently from rank 0: here \"schedule cosine lr 0.002" "$tmp/g.err" && [ $code != 0 ]
check "different --lr on rank 1: refused at start-up (exit $code)" $?
head -c 150000 irontensor.h >"$tmp/other.txt"
run -np 1 "$B/train_mpi" $small --steps 3 : -np 1 "$B/train_mpi" $small --steps 3 --data "$tmp/other.txt" >"$tmp/g.out" 2>"$tmp/g.err"
code=$?
grep -q "rank 1 was started differently from rank 0: here \"data 150000 bytes" "$tmp/g.err" && [ $code != 0 ]
check "a different --data file on rank 1: refused at start-up (exit $code)" $?

# 5. bad data-parallel flags
run -np 2 "$B/train_mpi" $small --batch 5 >"$tmp/h.out" 2>"$tmp/h.err"
code=$?
grep -q -- "--batch 5 must be a multiple of the 2 ranks" "$tmp/h.err" && [ $code != 0 ]
check "--batch 5 over 2 ranks is refused (exit $code)" $?
"$B/train" $small --zero 1 >"$tmp/i.out" 2>"$tmp/i.err"
code=$?
grep -q -- "--zero is for the data-parallel build" "$tmp/i.err" && [ $code = 2 ]
check "the plain build refuses --zero (exit $code)" $?
run -np 2 "$B/train_mpi" $small --zero 2 >"$tmp/h.out" 2>"$tmp/h.err"
code=$?
grep -q -- "--zero must be 0 or 1" "$tmp/h.err" && [ $code != 0 ]
check "--zero 2 is refused (exit $code)" $?

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
