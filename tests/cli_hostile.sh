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
# case 10: --resume refuses every flag that conflicts with the checkpoint (naming the flag and both
# values), requires --data, and refuses other data unless --allow-new-data
run 60 "$B/train" --data "$tmp/data.txt" $small --stop-after 1 --save "$tmp/r10"
head -c 150000 "$tmp/data.txt" >"$tmp/other.txt"
for flag in "--dim 64" "--layers 2" "--heads 4" "--kv-heads 1" "--ffn 64" "--max-seq 64" "--vocab 300" \
            "--optimizer lion" "--batch 4" "--seq 8" "--accum 2" "--lr 0.01" "--schedule wsd" "--seed 5" \
            "--warmup 3" "--min-lr-ratio 0.5" "--wd 0.2" "--clip 2" "--beta1 0.8" "--beta2 0.9" \
            "--tokenizer bpe" "--preset tiny"; do
    set -- $flag
    expect 1 "$1 $2 conflicts with the checkpoint .* which has " -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r10" $flag
done
expect 0 "resumed" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r10" --dim 32 --batch 2 --optimizer adamw
expect 2 "needs --data" -- "$B/train" --resume "$tmp/r10" --save "$tmp/r10"
expect 1 "is not the file the run .* was trained on.*--allow-new-data" -- \
    "$B/train" --data "$tmp/other.txt" --resume "$tmp/r10" --save "$tmp/r10"
expect 0 "continuing on it (--allow-new-data)" -- \
    "$B/train" --data "$tmp/other.txt" --resume "$tmp/r10" --allow-new-data --save "$tmp/r10b"
grep -q '"data": {"size": 150000' "$tmp/r10b/trainer_state.json" && pass || fail "case 10: the new data's fingerprint is not recorded"
expect 2 "only applies to --resume" -- "$B/train" --data "$tmp/data.txt" $small --allow-new-data

# case 12: resuming a finished run says so and exits 0, with no made-up "final" line
run 60 "$B/train" --data "$tmp/data.txt" $small --save "$tmp/r12"
expect 0 "already complete (step 3 of 3)" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r12" --save "$tmp/r12"
grep -q "final" "$tmp/out" && fail "case 12: a finished run printed a final line: $(cat "$tmp/out")" || pass
expect 2 "--lr must be greater than 0" -- "$B/train" --data "$tmp/data.txt" $small --lr 0

# case 11: a BPE checkpoint needs its tokenizer.bin (missing, a directory, a FIFO: an error in train
# and generate, never a byte-level fallback); a vocab other than 256 needs a tokenizer
run 120 "$B/train" --data "$tmp/data.txt" $small --tokenizer bpe --vocab 300 --stop-after 1 --save "$tmp/r11"
[ -f "$tmp/r11/tokenizer.bin" ] && pass || fail "case 11: the BPE run saved no tokenizer.bin"
mv "$tmp/r11/tokenizer.bin" "$tmp/r11.tokenizer"
expect 1 "tokenizer.bin is missing" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r11" --save "$tmp/r11"
expect 1 "tokenizer" -- "$B/generate" --checkpoint "$tmp/r11" --prompt "a" --max-new-tokens 2
mkdir "$tmp/r11/tokenizer.bin"
expect 1 "not a regular file" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r11" --save "$tmp/r11"
expect 1 "not a regular file" -- "$B/generate" --checkpoint "$tmp/r11" --prompt "a" --max-new-tokens 2
rmdir "$tmp/r11/tokenizer.bin"
mkfifo "$tmp/r11/tokenizer.bin"
expect 1 "not a regular file" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r11" --save "$tmp/r11"
expect 1 "not a regular file" -- "$B/generate" --checkpoint "$tmp/r11" --prompt "a" --max-new-tokens 2
rm -f "$tmp/r11/tokenizer.bin"
mv "$tmp/r11.tokenizer" "$tmp/r11/tokenizer.bin"
expect 0 "resumed" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r11" --save "$tmp/r11"
expect 1 "--vocab 300 needs --tokenizer bpe" -- "$B/train" --data "$tmp/data.txt" $small --vocab 300

# case 13: nanoGPT's headerless .bin is read as uint16 ids with a notice, never as text;
# --val-data is a separate validation file
"$B/it-tokens" "$tmp/data.txt" "$tmp/llmc.bin" >/dev/null
tail -c +1025 "$tmp/llmc.bin" >"$tmp/train.bin"
head -c 40000 "$tmp/train.bin" >"$tmp/val.bin"
expect 0 "nanoGPT's raw uint16" -- "$B/train" --data "$tmp/train.bin" $small
grep -q "data: .*train.bin, 180000 train + 20000 validation tokens (token file)" "$tmp/err" && pass ||
    fail "case 13: the raw .bin was not read as 200000 uint16 ids: $(grep '^data' "$tmp/err")"
expect 0 "180000 train + 20000 validation\|200000 train + 20000 validation" -- \
    "$B/train" --data "$tmp/train.bin" --val-data "$tmp/val.bin" $small
grep -q "200000 train + 20000 validation" "$tmp/err" && pass || fail "case 13: --val-data is not the validation split"
head -c 3001 "$tmp/train.bin" >"$tmp/odd.bin"
expect 1 "odd size" -- "$B/train" --data "$tmp/odd.bin" $small
cp "$tmp/data.txt" "$tmp/text.bin"
expect 1 "outside the vocabulary" -- "$B/train" --data "$tmp/text.bin" $small

# case 15: it-tokens never overwrites its input; --bpe needs a number
cp "$tmp/data.txt" "$tmp/same.txt"
expect 1 "is also the input" -- "$B/it-tokens" "$tmp/same.txt" "$tmp/same.txt"
cmp -s "$tmp/same.txt" "$tmp/data.txt" && pass || fail "case 15: it-tokens overwrote its input"
ln -sf "$tmp/same.txt" "$tmp/same-link.bin"
expect 1 "is also the input" -- "$B/it-tokens" "$tmp/same.txt" "$tmp/same-link.bin"
expect 2 "--bpe expects a vocabulary size" -- "$B/it-tokens" --bpe abc --save-tokenizer "$tmp/t.bin" "$tmp/data.txt" "$tmp/o.bin"
expect 2 "--bpe expects a vocabulary size" -- "$B/it-tokens" --bpe 300.5 --save-tokenizer "$tmp/t.bin" "$tmp/data.txt" "$tmp/o.bin"

# case 22: a hand-edited config.json loads with a warning naming it
sed 's/"use_cache": true/"use_cache": false/' "$tmp/r12/config.json" >"$tmp/config.edited" && mv "$tmp/config.edited" "$tmp/r12/config.json"
expect 0 "config.json: checksum mismatch" -- "$B/generate" --checkpoint "$tmp/r12" --prompt "a" --max-new-tokens 2
expect 0 "valid: yes" -- "$B/it-inspect" "$tmp/r12"

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
