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
T="$B/train"
d="$tmp/dl"
mkdir -p "$d"
# a check that needs no command: check "what" condition...
check() {
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}
# no "step N/" line: the run was refused before training
not_trained() { ! grep -q "^step " "$tmp/out"; }
valid_checkpoint() { test -s "$1/model.safetensors" && "$B/it-inspect" "$1" 2>/dev/null | grep -q "^valid: yes"; }

# 1. an ordinary directory is refused before training, naming it and a foreign file; nothing touched
mkdir -p "$d/myproject/src"
echo 'int main(void) { return 0; }' >"$d/myproject/main.c"
echo 'my project' >"$d/myproject/README"
echo 'int a;' >"$d/myproject/src/a.c"
expect 1 "myproject.*\(main.c\|README\|src\)" -- "$T" --data "$tmp/data.txt" $small --save "$d/myproject"
check "case 1: refused before training" not_trained
check "case 1: the project's files are untouched" \
    test "$(cat "$d/myproject/main.c" "$d/myproject/README" "$d/myproject/src/a.c")" = "$(printf 'int main(void) { return 0; }\nmy project\nint a;')"
check "case 1: nothing written into the project" test ! -e "$d/myproject/model.safetensors"

# 2. a --save that is a link, or a snapshot that is one, leaves what it points to alone
mkdir -p "$d/victim" "$d/victim2"
echo 'years of work' >"$d/victim/thesis.tex"
echo 'more work' >"$d/victim2/notes.txt"
ln -s "$d/victim" "$d/savelink"
expect 1 "symbolic link" -- "$T" --data "$tmp/data.txt" $small --save "$d/savelink"
check "case 2: the link's target is untouched" test "$(cat "$d/victim/thesis.tex")" = "years of work"
ln -s "$d/victim2" "$d/ck2.step00000001"
expect 1 "ck2.step00000001.*symbolic link" -- "$T" --data "$tmp/data.txt" $small --save "$d/ck2" --save-every 1 --keep 1
check "case 2: refused before training" not_trained
check "case 2: a snapshot link's target is untouched" test "$(cat "$d/victim2/notes.txt")" = "more work"

# 3. pruning keeps a user's PREFIX<digits> directory and other runs' snapshots
mkdir -p "$d/ck3.step00000001"
echo 'keep me' >"$d/ck3.step00000001/notes.txt"
run 60 "$T" --data "$tmp/data.txt" $small --steps 4 --save "$d/ck3" --save-every 2 --keep 1
check "case 3: a --save-every 2 run succeeds (exit $got)" test "$got" = 0
check "case 3: the user's ck3.step00000001/notes.txt is kept" test "$(cat "$d/ck3.step00000001/notes.txt" 2>/dev/null)" = "keep me"
check "case 3: keep 1 kept the newest snapshot" test -d "$d/ck3.step00000004" -a ! -e "$d/ck3.step00000002"
run 60 "$T" --data "$tmp/data.txt" $small --steps 6 --save "$d/old" --save-every 1 --keep 2 # an older run: steps 5, 6
run 60 "$T" --data "$tmp/data.txt" $small --steps 3 --save "$d/old" --save-every 1 --keep 1 # a new one beside it
check "case 3: the new run's fresh snapshot survives the older run's higher-numbered ones" test -d "$d/old.step00000003"
check "case 3: the older run's snapshots are left alone" test -d "$d/old.step00000005" -a -d "$d/old.step00000006"

# 4. a target that cannot be written is refused at start-up; missing parents are created
for target in '' / . "$tmp/data.txt"; do
    expect 1 "checkpoint" -- "$T" --data "$tmp/data.txt" $small --save "$target"
    check "case 4: --save '$target' refused before training" not_trained
done
mkdir -p "$d/ro"
chmod 555 "$d/ro"
ro="$d/ro"
if touch "$d/ro/probe" 2>/dev/null; then rm -f "$d/ro/probe"; ro=/proc; fi # root writes through mode bits
expect 1 "cannot write" -- "$T" --data "$tmp/data.txt" $small --save "$ro/ck"
check "case 4: a read-only parent refused before training" not_trained
expect 0 "created" -- "$T" --data "$tmp/data.txt" $small --save "$d/new/deeper/ck"
check "case 4: missing parents created, checkpoint written" test -s "$d/new/deeper/ck/model.safetensors"

# 5. SIGINT / SIGTERM: the step finishes, the checkpoint and the curve are saved, exit 130 / 143
long="--dim 32 --layers 1 --heads 2 --ffn 32 --batch 2 --seq 16 --eval-batches 1 --steps 1000000 --log-every 1"
# start_training DIR: a long run in the background, $pid (train itself, not a `timeout` in between,
# which would relay the signal and then SIGKILL after -k), once its first step is printed; a
# watchdog kills it after 60 s. stop_training: waits for it, its status in $got.
start_training() {
    "$T" --data "$tmp/data.txt" $long --save "$1" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    (sleep 60; kill -KILL "$pid") >/dev/null 2>&1 &
    watchdog=$!
    for _ in $(seq 300); do grep -q "^step " "$tmp/out" 2>/dev/null && break; sleep 0.1; done
}
stop_training() {
    wait "$pid"
    got=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
}
for sig in INT:130 TERM:143; do
    dir="$d/sig${sig%:*}"
    start_training "$dir"
    kill -"${sig%:*}" "$pid"
    stop_training
    check "case 5: SIG${sig%:*} exits ${sig#*:} (got $got)" test "$got" = "${sig#*:}"
    check "case 5: SIG${sig%:*} saved the checkpoint" valid_checkpoint "$dir"
    check "case 5: SIG${sig%:*} saved loss.csv and loss.svg" test -s "$dir/loss.csv" -a -s "$dir/loss.svg"
    check "case 5: SIG${sig%:*} says where" grep -q "resume $dir" "$tmp/err"
done
# a second signal exits at once: both arrive while the process is stopped, so the second is
# handled before the step can finish
start_training "$d/sig2"
kill -STOP "$pid"
kill -INT "$pid"
kill -TERM "$pid"
kill -CONT "$pid"
stop_training
check "case 5: a second signal exits at once (got $got)" test "$got" = 130 -o "$got" = 143
check "case 5: ... saying so" grep -q "interrupted again" "$tmp/err"
check "case 5: ... with nothing saved" test ! -e "$d/sig2/model.safetensors"

# 6. --resume DIR without --save saves back into DIR, saying so
run 60 "$T" --data "$tmp/data.txt" $small --steps 6 --stop-after 3 --save "$d/res"
expect 0 "saving back into" -- "$T" --data "$tmp/data.txt" --resume "$d/res"
check "case 6: the resumed run's progress was saved" grep -q '"step": 6' "$d/res/trainer_state.json"

# 7. no DIR.tokenizer-PID.bin left by a failed run; stale temporaries of dead processes cleaned
expect 1 "" -- "$T" --data "$tmp/data.txt" $small --tokenizer bpe --vocab 300 --seq 1000000 --save "$d/tok"
check "case 7: a failed BPE run leaves no tokenizer temporary" test -z "$(ls -a "$d" | grep '^tok\.tokenizer-')"
(exit 0) & gone=$!
wait "$gone"
mkdir -p "$d/ck7.tmp-$gone" "$d/ck7.old-$gone"
echo '{}' >"$d/ck7.tmp-$gone/config.json"
echo 'x' >"$d/ck7.tokenizer-$gone.bin"
run 60 "$T" --data "$tmp/data.txt" $small --save "$d/ck7"
check "case 7: a dead process's temporaries are removed by the next save" \
    test ! -e "$d/ck7.tmp-$gone" -a ! -e "$d/ck7.old-$gone" -a ! -e "$d/ck7.tokenizer-$gone.bin"

# 8. two runs saving to one directory: both finish, every save whole (the lock; C test: case 8)
timeout -k 2 120 "$T" --data "$tmp/data.txt" $small --steps 30 --save-every 1 --keep 2 --save "$d/two" >"$tmp/out8a" 2>&1 &
a=$!
timeout -k 2 120 "$T" --data "$tmp/data.txt" $small --steps 30 --save-every 1 --keep 2 --save "$d/two" >"$tmp/out8b" 2>&1 &
b=$!
wait "$a"; ga=$?
wait "$b"; gb=$?
check "case 8: two runs saving to one directory both finish (exit $ga, $gb)" test "$ga" = 0 -a "$gb" = 0
check "case 8: the checkpoint is whole" valid_checkpoint "$d/two"

# 9. a diverged step is not saved; the last good checkpoint is kept, and the run says so
expect 1 "not finite" -- "$T" --data "$tmp/data.txt" $small --lr 1e30 --save-every 1 --save "$d/div"
check "case 9: no exploded snapshot" test ! -e "$d/div.step00000001" -a ! -e "$d/div/model.safetensors"

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
expect 0 "resumed" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/r10" --dim 32 --batch 2 --optimizer adamw --save "$tmp/r10c" # r10 stays at step 1 (without --save it would save back)
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
run 60 "$B/train" --data "$tmp/train.bin" --val-data "$tmp/val.bin" $small --stop-after 1 --save "$tmp/r13"
expect 1 "validated on a separate --val-data file" -- "$B/train" --data "$tmp/train.bin" --resume "$tmp/r13" --save "$tmp/r13"
expect 1 "--val-data .*is not the file the run" -- \
    "$B/train" --data "$tmp/train.bin" --val-data "$tmp/train.bin" --resume "$tmp/r13" --save "$tmp/r13"
expect 0 "200000 train + 20000 validation" -- \
    "$B/train" --data "$tmp/train.bin" --val-data "$tmp/val.bin" --resume "$tmp/r13" --save "$tmp/r13"
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

# ---- hangs (cases 17, 18) and messages (case 21) -----------------------------------------------

# case 17: a config.json claiming 100000 layers beside a 1-layer model.safetensors is refused at
# once by every tool that reads it; a 4000-layer model plans in about a second (the quadratic
# packing took minutes), so a 30 s limit catches a regression
cp -R "$tmp/r12" "$tmp/r17"
sed 's/"num_hidden_layers": 1,/"num_hidden_layers": 100000,/' "$tmp/r12/config.json" >"$tmp/r17/config.json"
grep -q '"num_hidden_layers": 100000,' "$tmp/r17/config.json" && pass || fail "case 17: could not edit the config"
expect 1 "100000 layers" -- "$B/generate" --checkpoint "$tmp/r17" --prompt "a" --max-new-tokens 2
expect 1 "100000 layers" -- "$B/it-inspect" "$tmp/r17"
expect 1 "100000 layers" -- "$T" --data "$tmp/data.txt" --resume "$tmp/r17" --steps 4
# the right layer count but a width the weights do not have: refused from the header's shapes
sed 's/"hidden_size": 32,/"hidden_size": 65536,/' "$tmp/r12/config.json" >"$tmp/r17/config.json"
expect 1 "but the config needs" -- "$B/generate" --checkpoint "$tmp/r17" --prompt "a" --max-new-tokens 2
expect 1 "but the config needs" -- "$B/it-inspect" "$tmp/r17"
run 30 "$T" --data "$tmp/data.txt" --dim 8 --layers 4000 --heads 2 --ffn 8 --batch 1 --seq 8 --steps 1 \
    --eval-batches 1 --save "$tmp/deep4000"
[ "$got" = 0 ] && grep -q "^final step=1 " "$tmp/out" && pass ||
    fail "case 17: train --layers 4000 -> exit $got (124: still planning after 30 s)"

# case 19: sizes the machine cannot hold are errors (exit 1, named), never an abort
expect 1 "cannot allocate" -- "$B/train" --data "$tmp/data.txt" $small --ffn 1000000000
expect 1 "address space" -- "$B/train" --data "$tmp/data.txt" $small --dim 1000000000

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

# case 21: clear messages
run 60 "$B/train" --data "$tmp/data.txt" $small --save "$tmp/m21"
sed -e 's/"num_attention_heads": 2/"num_attention_heads": 3/' -e '/"head_dim"/d' "$tmp/m21/config.json" >"$tmp/m21.config"
mv "$tmp/m21.config" "$tmp/m21/config.json"
expect 1 "m21/config.json: .*heads (3) must divide dim (32)" -- "$B/train" --data "$tmp/data.txt" --resume "$tmp/m21"
expect 1 "m21/config.json: .*heads (3) must divide dim (32)" -- "$B/generate" --checkpoint "$tmp/m21"
expect 1 "m21/config.json: .*heads (3) must divide dim (32)" -- "$B/it-inspect" "$tmp/m21"
expect 1 "; stopping" -- "$B/train" --data "$tmp/data.txt" $small --steps 20 --lr 1e30 --clip 0 --warmup 0
expect 2 "unexpected argument '5' (--greedy takes no value)" -- "$B/generate" --checkpoint "$tmp/r12" --greedy 5
for flag in "--seed 1.5" "--threads 0.5" "--max-new-tokens 2.5" "--top-k 1e1"; do
    expect 1 "expects a whole number" -- "$B/generate" --checkpoint "$tmp/r12" --max-new-tokens 2 $flag
done
for flag in "--seed 1.5" "--threads 0.5" "--steps 2.5"; do
    expect 1 "expects a whole number" -- "$B/train" --data "$tmp/data.txt" $small $flag
done
expect 0 "--eval-batches 1000000000 is more than the validation split holds (624 batches of 2 x 16); using 624" -- \
    "$B/train" --data "$tmp/data.txt" $small --eval-batches 1000000000
expect 0 "the warmup (50 steps) is longer than the run (3 steps)" -- "$B/train" --data "$tmp/data.txt" $small --warmup 50
expect 0 "usage: it-inspect" -- "$B/it-inspect" --help
expect 2 "usage: it-inspect" -- "$B/it-inspect" --bogus
printf 'garbage' >"$tmp/r11/tokenizer.bin"
expect 1 "valid: NO: tokenizer file .*truncated" -- "$B/it-inspect" "$tmp/r11"
rm "$tmp/r11/tokenizer.bin"
expect 1 "valid: NO: the run used a BPE tokenizer but .*tokenizer.bin is missing" -- "$B/it-inspect" "$tmp/r11"
mkdir "$tmp/r12.tmp-999999"
expect 0 "r12.tmp-999999 is a save that did not finish" -- "$B/it-inspect" "$tmp/r12"

# ---- Hugging Face model directories (issue 18): bad ids, bad files, flags that contradict -------
G="$B/generate"
hfm=tests/fixtures/hf_models
cp -r "$hfm/qwen2" "$tmp/q2"
for bad in "1,,2" "-1" "+1" "1, 2" "1,2," ",1" "1.5" "0x10" "abc"; do
    expect 1 "--ids: token ids: item [0-9] (.*) is not a decimal id" -- "$G" --model "$tmp/q2" --ids "$bad" --print-ids
done
expect 1 "--ids: token ids: the list is empty" -- "$G" --model "$tmp/q2" --ids "" --print-ids
expect 1 "item 1 ('99999999999') is outside the vocabulary \[0, 96)" -- "$G" --model "$tmp/q2" --ids 99999999999 --print-ids
expect 1 "item 1 ('99999999999999999999999999') is outside the vocabulary" -- "$G" --model "$tmp/q2" --ids 99999999999999999999999999 --print-ids
expect 1 "item 2 ('96') is outside the vocabulary" -- "$G" --model "$tmp/q2" --ids 5,96 --print-ids
expect 1 "--max-new-tokens expects a number in \[0, 1e+07\]" -- "$G" --model "$tmp/q2" --ids 1 --max-new-tokens 99999999999
expect 0 "0 new tokens" -- "$G" --model "$tmp/q2" --ids 1 --max-new-tokens 0 --print-ids
expect 2 "--prompt, --ids and --chat are alternatives" -- "$G" --model "$tmp/q2" --ids 1 --prompt hi
expect 2 "--prompt, --ids and --chat are alternatives" -- "$G" --model "$tmp/q2" --ids 1 --chat
expect 2 "--print-ids and --chat are alternatives" -- "$G" --model "$tmp/q2" --chat --print-ids
expect 2 "--print-ids and --stop" -- "$G" --model "$tmp/q2" --ids 1 --print-ids --stop x
expect 2 "--system only applies to --chat" -- "$G" --model "$tmp/q2" --ids 1 --system "be nice"
expect 2 "--stop needs a non-empty string" -- "$G" --model "$tmp/q2" --ids 1 --stop ""
expect 2 "--greedy and --temperature 0.5 contradict" -- "$G" --model "$tmp/q2" --ids 1 --greedy --temperature 0.5
expect 1 "--min-p expects a number in \[0, 1\]" -- "$G" --model "$tmp/q2" --ids 1 --min-p 2
expect 1 "--repeat-penalty expects a number" -- "$G" --model "$tmp/q2" --ids 1 --repeat-penalty 0
expect 1 "vocabulary of 96 tokens but no tokenizer" -- "$G" --model "$tmp/q2" --prompt "hello"
expect 1 "--chat needs the model's tokenizer\|no tokenizer" -- "$G" --model "$tmp/q2" --chat
# generation_config.json: corrupt, truncated, wrong types, ids outside the vocabulary, a directory
for bad in '{"eos_token_id": [2, 3' 'garbage' '{"eos_token_id": "2"}' '{"eos_token_id": [2, -1]}' '{"eos_token_id": 1.5}' \
    '{"temperature": -1}' '{"top_p": 1.5}' '{"top_k": "40"}' '{"repetition_penalty": 0}' '{"do_sample": 1}' \
    '{"max_new_tokens": -5}' '{"eos_token_id": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}'; do
    printf '%s' "$bad" >"$tmp/q2/generation_config.json"
    expect 1 "generation_config.json" -- "$G" --model "$tmp/q2" --ids 1 --print-ids
done
printf '{"eos_token_id": 96}' >"$tmp/q2/generation_config.json"
expect 1 "eos_token_id 96 is outside the vocabulary of 96" -- "$G" --model "$tmp/q2" --ids 1 --print-ids
rm "$tmp/q2/generation_config.json" && mkdir "$tmp/q2/generation_config.json"
expect 1 "generation_config.json.*not a regular file" -- "$G" --model "$tmp/q2" --ids 1 --print-ids
rmdir "$tmp/q2/generation_config.json"
expect 0 "new tokens" -- "$G" --model "$tmp/q2" --ids 1 --print-ids  # no generation_config.json: config.json's ids
# tokenizer_config.json and its chat template: a model directory with a tokenizer (ours, plus qwen2's json)
run 120 "$B/train" --data "$tmp/data.txt" --tokenizer bpe --vocab 701 $small --stop-after 1 --save "$tmp/hfc"
cp tests/fixtures/hf_tokenizers/qwen2/tokenizer.json "$tmp/hfc/"
expect 1 "has no chat template" -- sh -c "echo hi | $G --model $tmp/hfc --chat"
expect 0 "chat template chatml" -- sh -c "echo hi | $G --model $tmp/hfc --chat --chat-template chatml --max-new-tokens 3"
expect 1 "not a built-in one" -- sh -c "echo hi | $G --model $tmp/hfc --chat --chat-template vicuna"
for bad in '{"chat_template": 3}' '{"chat_template": "{{ messages }}"}' '{"chat_template": "<|im_start|>",' \
    '{"bos_token": [1], "chat_template": "<|im_start|>"}'; do
    printf '%s' "$bad" >"$tmp/hfc/tokenizer_config.json"
    expect 1 "tokenizer_config.json\|not recognised" -- sh -c "echo hi | $G --model $tmp/hfc --chat --max-new-tokens 3"
done
printf '{"chat_template": "{{ messages }}"}' >"$tmp/hfc/tokenizer_config.json"
expect 1 "pass one by name (--chat-template NAME)" -- sh -c "echo hi | $G --model $tmp/hfc --chat --max-new-tokens 3"
rm "$tmp/hfc/tokenizer_config.json"
printf '{"chat_template": "<start_of_turn>"}' >"$tmp/hfc/tokenizer_config.json"
expect 1 "does not take a system message" -- sh -c "echo hi | $G --model $tmp/hfc --chat --system sys --max-new-tokens 3"
# a conversation longer than the model's context is refused, not cut
${PYTHON:-/usr/bin/python3} -c 'print(" ".join("w%d" % i for i in range(2000)))' >"$tmp/long_message.txt"
expect 1 "the model's context only" -- sh -c "$G --model $tmp/hfc --chat --max-new-tokens 3 <$tmp/long_message.txt"

# build/it-inspect: a broken generation_config.json makes the directory invalid (naming it); an
# unrecognised chat template is reported, and the model still loads
cp -r "$hfm/qwen2" "$tmp/q2i"
printf '{"eos_token_id": [2,' >"$tmp/q2i/generation_config.json"
expect 1 "valid: NO: .*generation_config.json" -- "$B/it-inspect" "$tmp/q2i"
rm "$tmp/q2i/generation_config.json"
printf '{"chat_template": "{{ messages }}"}' >"$tmp/q2i/tokenizer_config.json"
expect 0 "chat template: chat template not recognised" -- "$B/it-inspect" "$tmp/q2i"
printf '{"chat_template": 5}' >"$tmp/q2i/tokenizer_config.json"
expect 0 "chat template: .*neither a string nor a list" -- "$B/it-inspect" "$tmp/q2i"
rm "$tmp/q2i/model-"* 2>/dev/null; rm "$tmp/q2i/model.safetensors"
expect 1 "valid: NO: .*model.safetensors" -- "$B/it-inspect" "$tmp/q2i"

# build/train --init-from: flags that contradict the imported model, data it cannot read
I="--init-from $tmp/q2 --batch 2 --seq 16 --steps 2 --eval-batches 1"
"$B/it-tokens" "$tmp/data.txt" "$tmp/bytes.bin" >/dev/null
${PYTHON:-/usr/bin/python3} -c 'open(__import__("sys").argv[1], "w").write("ABCDEFGH" * 800)' "$tmp/upper.txt"
"$B/it-tokens" "$tmp/upper.txt" "$tmp/upper.bin" >/dev/null
expect 2 "--init-from and --resume are alternatives" -- "$B/train" --data "$tmp/upper.bin" $I --resume "$tmp/r12"
expect 2 "--tokenizer does not apply to --init-from" -- "$B/train" --data "$tmp/upper.bin" $I --tokenizer bpe
expect 1 "--dim 64 conflicts with the checkpoint .*q2, which has 32" -- "$B/train" --data "$tmp/upper.bin" $I --dim 64
expect 1 "--preset tiny conflicts with the checkpoint" -- "$B/train" --data "$tmp/upper.bin" $I --preset tiny
expect 2 "--seq 100 is longer than the model's max-seq 64" -- "$B/train" --data "$tmp/upper.bin" $I --seq 100
expect 1 "no tokenizer .*--data must be a token file" -- "$B/train" --data "$tmp/data.txt" $I
expect 1 "outside the vocabulary" -- "$B/train" --data "$tmp/bytes.bin" $I
expect 1 "nowhere" -- "$B/train" --data "$tmp/upper.bin" --init-from "$tmp/nowhere" --steps 2
expect 0 "initialised from" -- "$B/train" --data "$tmp/upper.bin" $I --dim 32 --layers 2
expect 1 "not a Hugging Face\|cannot save\|refus\|foreign\|not an IronTensor" -- "$B/train" --data "$tmp/upper.bin" $I --save "$tmp/q2"
check "train --init-from: the model directory is untouched" cmp -s "$tmp/q2/model.safetensors" "$hfm/qwen2/model.safetensors"

# build/it-eval: bad ids, a bad .npy target (a directory is never replaced, a missing parent is an
# error), a sequence longer than the model's context, missing flags
E="$B/it-eval"
mkdir -p "$tmp/npydir/keep" && echo precious >"$tmp/npydir/keep/file"
expect 1 "is a directory" -- "$E" --model "$tmp/q2" --ids 1,2,3 --logits-out "$tmp/npydir"
check "it-eval: the directory is untouched" test "$(cat "$tmp/npydir/keep/file")" = precious
expect 1 "cannot create" -- "$E" --model "$tmp/q2" --ids 1,2,3 --logits-out "$tmp/no/such/dir/x.npy"
echo old >"$tmp/old.npy"
expect 0 "wrote" -- "$E" --model "$tmp/q2" --ids 1,2,3 --logits-out "$tmp/old.npy"
check "it-eval: the old file was replaced whole" test "$(head -c 6 "$tmp/old.npy" | tail -c 5)" = NUMPY
check "it-eval: no temporary left" test -z "$(ls "$tmp" | grep 'old.npy.tmp')"
expect 1 "--ids: token ids: item 2 ('') is not a decimal id" -- "$E" --model "$tmp/q2" --ids 1,,2 --logits-out "$tmp/x.npy"
expect 1 "item 2 ('-1') is not a decimal id" -- "$E" --model "$tmp/q2" --ids 1,-1 --logits-out "$tmp/x.npy"
expect 1 "outside the vocabulary \[0, 96)" -- "$E" --model "$tmp/q2" --ids 99999999999 --logits-out "$tmp/x.npy"
expect 1 "more than the model's max-seq of 64" -- "$E" --model "$tmp/q2" --ids "$(seq -s, 1 65 | sed 's/[0-9]*/1/g')" --logits-out "$tmp/x.npy"
expect 2 "are required" -- "$E" --model "$tmp/q2" --ids 1
expect 2 "unknown argument '--bogus'" -- "$E" --bogus
expect 2 "needs a value" -- "$E" --model
expect 1 "nowhere" -- "$E" --model "$tmp/nowhere" --ids 1 --logits-out "$tmp/x.npy"
check "it-eval: nothing written on errors" test ! -e "$tmp/x.npy"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
