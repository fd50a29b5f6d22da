#!/usr/bin/env bash
# The command-line programs as a hostile or careless user drives them (issue: reliability):
# user files are never deleted, conflicting flags are refused, no tool hangs (every command runs
# under `timeout`) and none exits >= 128 on bad input. Usage: tests/cli_hostile.sh BUILD_DIR.
# Ends with "N passed, N failed".
set -u
B=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
SHARED_DATA=../shared/data/tinyshakespeare.txt
# B: a 1-layer dim-32 model for 3 steps on a 200 KB piece of tinyshakespeare (this file when the
# corpus is absent, so the suite runs from a bare clone too)
if [ -f "$SHARED_DATA" ]; then head -c 200000 "$SHARED_DATA" >"$tmp/data.txt"; else
    for _ in 1 2 3 4 5 6 7 8; do cat irontensor.h; done | head -c 200000 >"$tmp/data.txt"; fi
small="--dim 32 --layers 1 --heads 2 --ffn 32 --batch 2 --seq 16 --steps 3 --eval-batches 1"

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# run SECONDS command... : runs under a timeout, output in $tmp/out and $tmp/err, status in $got
run() {
    local seconds=$1
    shift
    timeout -k 2 "$seconds" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
}

# expect EXIT_CODE "message fragment" -- command... (60 s limit; 124 means it hung)
expect() {
    local want=$1 fragment=$2
    shift 3
    run 60 "$@"
    if [ "$got" = "$want" ] && grep -q -- "$fragment" "$tmp/err" "$tmp/out"; then
        pass
    else
        fail "$* -> exit $got (want $want, message '$fragment'), output:"
        sed 's/^/    /' "$tmp/err" | head -5
    fi
}

# ---- data loss (cases 1-9) ---------------------------------------------------------------------

# ---- silently wrong (cases 10-15, 22) ----------------------------------------------------------

# ---- hangs (case 18) and messages (case 21) ----------------------------------------------------

# case 18: a FIFO (no writer) as the data, a checkpoint's config.json or model.safetensors, or a
# tokenizer is refused at once, naming it; no tool blocks on it
mkfifo "$tmp/fifo"
mkdir -p "$tmp/fifo_ck_config" && mkfifo "$tmp/fifo_ck_config/config.json"
expect 1 "is a FIFO, not a regular file" -- "$B/train" --data "$tmp/fifo" $small
expect 1 "is a FIFO, not a regular file" -- "$B/generate" --checkpoint "$tmp/fifo_ck_config" --max-new-tokens 4
expect 1 "is a FIFO" -- "$B/it-inspect" "$tmp/fifo_ck_config"
expect 1 "is a FIFO, not a regular file" -- "$B/it-tokens" "$tmp/fifo" "$tmp/fifo_ids.bin"
expect 1 "is a FIFO, not a regular file" -- "$B/it-tokens" --bpe 300 --save-tokenizer "$tmp/fifo_tok.bin" "$tmp/fifo" "$tmp/fifo_ids.bin"
run 60 "$B/train" $small --data "$tmp/data.txt" --save "$tmp/fifo_ck_model"
if [ "$got" = 0 ] && rm "$tmp/fifo_ck_model/model.safetensors" && mkfifo "$tmp/fifo_ck_model/model.safetensors"; then
    expect 1 "is a FIFO, not a regular file" -- "$B/generate" --checkpoint "$tmp/fifo_ck_model" --max-new-tokens 4
    expect 1 "is a FIFO, not a regular file" -- "$B/train" --resume "$tmp/fifo_ck_model" --data "$tmp/data.txt"
else
    fail "case 18: could not make a checkpoint to damage (train exit $got)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
