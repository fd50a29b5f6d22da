#!/usr/bin/env bash
# build/finetune_mpi under mpirun with 2 ranks (tests/mpi/mpi_run.sh): a LoRA fine-tune with AdamW,
# gradient accumulation, an active clip and masked prompts of different lengths (so the two
# ranks count different targets) gives one process's losses, validation losses and adapter
# tensors with 2 ranks x batch B/2 as build/finetune with batch B (to 1e-6 relative: only the
# summation order differs), with ZeRO-1 too, and with --full; a stop and resume in a fresh mpirun
# is bit-exact; another world size resumes with the notice (and trains the same examples); ranks
# started with different flags are stopped at start-up; bad data-parallel flags are refused.
# Usage: tests/mpi/mpi_finetune.sh BUILD_DIR. Ends with "N passed, N failed".
set -u
B=${1:-build}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
run() { bash "$here/mpi_run.sh" "$@"; }
check() { # check "what" CONDITION-EXIT-CODE
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}
show() { sed 's/^/    /' "$1" | tail -"${2:-8}"; }
# same DIR_A DIR_B FILE...: the safetensors files' tensors (same names and shapes) and loss.csv's
# losses agree to 1e-6 relative (tensors: |a - b| / |b| over each tensor)
same() {
    python3 - "$@" <<'EOF'
import json, math, struct, sys
a, b, files = sys.argv[1], sys.argv[2], sys.argv[3:]
def tensors(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    head = json.loads(blob[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__": continue
        assert t["dtype"] == "F32", (path, name, t["dtype"])
        lo, hi = t["data_offsets"]
        out[name] = (t["shape"], struct.unpack("<%df" % ((hi - lo) // 4), blob[8 + n + lo:8 + n + hi]))
    return out
worst = 0.0
for f in files:
    if f == "loss.csv":
        rows = [[l.split(",") for l in open(d + "/loss.csv").read().split()[1:]] for d in (a, b)]
        assert len(rows[0]) == len(rows[1]) > 0, "loss.csv: %d vs %d rows" % (len(rows[0]), len(rows[1]))
        for x, y in zip(*rows):
            for u, v in zip(x[1:], y[1:]):
                assert (u == "") == (v == ""), "loss.csv: a validation loss on one side only"
                if u: # the file's 6 decimals round too
                    assert abs(float(u) - float(v)) <= 1e-6 * abs(float(v)) + 5e-7, "loss.csv step %s: %s vs %s" % (x[0], u, v)
        continue
    ta, tb = tensors(a + "/" + f), tensors(b + "/" + f)
    assert sorted(ta) == sorted(tb), f + ": different tensor names"
    for name in ta:
        (sa, xa), (sb, xb) = ta[name], tb[name]
        assert sa == sb, "%s %s: shape %s vs %s" % (f, name, sa, sb)
        d = math.sqrt(sum((p - q) ** 2 for p, q in zip(xa, xb)))
        w = math.sqrt(sum(q * q for q in xb))
        rel = d / w if w > 0 else d
        worst = max(worst, rel)
        assert rel < 1e-6, "%s %s: relative difference %.3g" % (f, name, rel)
print("largest tensor difference %.2g" % worst)
EOF
}

# a byte-level base model (vocab 256: no tokenizer file needed), trained for two steps
for _ in 1 2; do head -c 20000 README.md; done >"$tmp/corpus.txt"
"$B/train" --data "$tmp/corpus.txt" --dim 32 --layers 2 --heads 2 --ffn 64 --max-seq 48 --batch 2 --seq 32 --steps 2 \
    --eval-batches 1 --threads 1 --save "$tmp/base" >"$tmp/base.out" 2>"$tmp/base.err"
check "the base model trains (exit $?)" $?
# prompts and completions of different lengths: with --mask-prompt each row counts its own number of targets
for i in 1 2 3 4 5 6 7 8 9 10 11; do
    printf '{"prompt": "Q%s: %s?", "completion": " %s"}\n' "$i" "$(head -c $((3 + i * 2)) /dev/zero | tr '\0' 'x')" \
        "$(head -c $((1 + (i * 7) % 13)) /dev/zero | tr '\0' 'y')"
done >"$tmp/train.jsonl"
echo '{"text": "IronTensor trains small language models."}' >>"$tmp/train.jsonl"
head -5 "$tmp/train.jsonl" >"$tmp/valid.jsonl"
looks="--threads 1 --log-every 1" # not part of a run's state: given again on resume
data="--model $tmp/base --data $tmp/train.jsonl --mask-prompt"
A="$data --valid $tmp/valid.jsonl --eval-every 2 --lora-rank 4 --lora-alpha 8 --lora-targets q_proj,v_proj,down_proj --optimizer adamw
   --lr 1e-2 --clip 0.05 --warmup 1 --batch 4 --accum 2 --seq 32 --steps 4 $looks"
adapter="adapter_model.safetensors loss.csv"

# 1. 2 ranks x batch 2 == one process x batch 4 (losses, validation losses, the adapter)
"$B/finetune" $A --save "$tmp/one" >"$tmp/one.out" 2>"$tmp/one.err"
check "one process (exit $?)" $?
run -np 2 "$B/finetune_mpi" $A --save "$tmp/two" >"$tmp/two.out" 2>"$tmp/two.err"
code=$?
check "2 ranks (exit $code)" $code
[ $code = 0 ] || show "$tmp/two.err"
grep -q "data parallel: 2 ranks, batch 2 each (global 4), configuration hash [0-9a-f]* agreed" "$tmp/two.err"
check "the ranks agreed on the configuration" $?
awk '$1 == "step" && $3 == "loss" && $4 + 0 > 0 { n++ } END { exit !(n == 4) }' "$tmp/two.out"
check "rank 0 prints 4 steps" $?
msg=$(same "$tmp/two" "$tmp/one" $adapter optimizer.safetensors 2>&1)
check "2 ranks == one process: losses, validation losses, adapter and optimizer state to 1e-6 ($msg)" $?
grep -q '"world_size": 2' "$tmp/two/trainer_state.json"
check "the save records the 2 ranks and their data positions" $?
grep -q 'summed per step' "$tmp/two.err"
check "the data-parallel report is printed" $?

# 1b. packed rows (--pack): every rank packs the same global batch and trains its rows, validation too
"$B/finetune" $A --pack --save "$tmp/one_packed" >"$tmp/onep.out" 2>"$tmp/onep.err"
check "one process, --pack (exit $?)" $?
run -np 2 "$B/finetune_mpi" $A --pack --save "$tmp/two_packed" >"$tmp/twop.out" 2>"$tmp/twop.err"
check "2 ranks, --pack (exit $?)" $?
msg=$(same "$tmp/two_packed" "$tmp/one_packed" $adapter optimizer.safetensors 2>&1)
check "--pack: 2 ranks == one process: losses, validation losses, adapter and optimizer state to 1e-6 ($msg)" $?

# 2. ZeRO-1: half the optimizer state per rank, the same training
run -np 2 "$B/finetune_mpi" $A --zero 1 --save "$tmp/zero" >"$tmp/zero.out" 2>"$tmp/zero.err"
code=$?
msg=$(same "$tmp/zero" "$tmp/one" $adapter optimizer.safetensors 2>&1)
check "ZeRO-1 over 2 ranks == one process (exit $code; $msg)" $?
opt0=$(sed -n 's/^data parallel: .*optimizer state \([0-9]*\) floats per rank$/\1/p' "$tmp/two.err")
opt1=$(sed -n 's/^data parallel: .*optimizer state \([0-9]*\) floats per rank (ZeRO-1: its part)$/\1/p' "$tmp/zero.err")
awk -v a="$opt0" -v b="$opt1" 'BEGIN { exit !(b > 0 && b <= a / 2 + 64) }' # parts are cut at 64 bytes
check "ZeRO-1 keeps half the optimizer state per rank (${opt1:-?} floats vs ${opt0:-?})" $?

# 3. --full: every weight, 2 ranks == one process
F="$data --full --lr 1e-3 --clip 0.05 --batch 4 --accum 2 --seq 32 --steps 2 $looks"
"$B/finetune" $F --save "$tmp/full1" >/dev/null 2>"$tmp/full1.err"
run -np 2 "$B/finetune_mpi" $F --save "$tmp/full2" >/dev/null 2>"$tmp/full2.err"
code=$?
msg=$(same "$tmp/full2" "$tmp/full1" model.safetensors loss.csv 2>&1)
check "--full: 2 ranks == one process (exit $code; $msg)" $?

# 4. stop after 2 steps, resume in a fresh mpirun: bit for bit the straight run
run -np 2 "$B/finetune_mpi" $A --stop-after 2 --save "$tmp/split" >"$tmp/s1.out" 2>"$tmp/s1.err"
grep -q '^stopped step=2' "$tmp/s1.out"
check "--stop-after 2 stops every rank at step 2" $?
cp -r "$tmp/split" "$tmp/stopped"
run -np 2 "$B/finetune_mpi" $data --valid "$tmp/valid.jsonl" --resume "$tmp/split" $looks >"$tmp/s2.out" 2>"$tmp/s2.err"
code=$?
same=0
for f in adapter_model.safetensors optimizer.safetensors trainer_state.json; do
    cmp -s "$tmp/two/$f" "$tmp/split/$f" || { same=1; echo "    $f differs"; }
done
check "stop + resume in a fresh mpirun == straight run, bit for bit (exit $code)" $same
[ "$(grep '^final' "$tmp/two.out")" = "$(grep '^final' "$tmp/s2.out")" ] && [ -n "$(grep '^final' "$tmp/s2.out")" ]
check "the same final line ($(grep '^final' "$tmp/s2.out"))" $?

# 5. another world size: the notice, and the same examples trained
"$B/finetune" $data --valid "$tmp/valid.jsonl" --resume "$tmp/stopped" --save "$tmp/resumed1" $looks >"$tmp/r1.out" 2>"$tmp/r1.err"
code=$?
grep -q "saved by 2 ranks and this run has 1: each step trains the same examples" "$tmp/r1.err" && grep -q '^final step=4' "$tmp/r1.out"
check "a 2-rank save resumed by one process: notice, finished (exit $code)" $?
msg=$(same "$tmp/resumed1" "$tmp/one" $adapter 2>&1)
check "... and it ends where one process ends ($msg)" $?
"$B/finetune" $A --stop-after 2 --save "$tmp/single" >/dev/null 2>&1
run -np 2 "$B/finetune_mpi" $data --valid "$tmp/valid.jsonl" --resume "$tmp/single" --save "$tmp/resumed2" $looks >"$tmp/r2.out" 2>"$tmp/r2.err"
code=$?
grep -q "saved by 1 rank and this run has 2" "$tmp/r2.err" && grep -q '^final step=4' "$tmp/r2.out"
check "a one-process save resumed by 2 ranks: notice, finished (exit $code)" $?
[ $code = 0 ] || show "$tmp/r2.err"
msg=$(same "$tmp/resumed2" "$tmp/one" $adapter 2>&1)
check "... and it ends where one process ends ($msg)" $?
run -np 2 "$B/finetune_mpi" $data --resume "$tmp/two" $looks >"$tmp/d.out" 2>"$tmp/d.err"
grep -q "already complete" "$tmp/d.err"
check "a complete run is recognised by every rank" $?

# 6. ranks started with different flags are stopped at start-up, naming the difference
S="$data --lora-rank 4 --batch 2 --seq 32 --steps 2 $looks"
run -np 1 "$B/finetune_mpi" $S : -np 1 "$B/finetune_mpi" $S --lora-alpha 4 >"$tmp/g.out" 2>"$tmp/g.err"
code=$?
grep -q 'rank 1 was started differently from rank 0: here "adapter: LoRA rank 4 alpha 4 ' "$tmp/g.err" && [ $code != 0 ]
check "a different --lora-alpha on rank 1: refused at start-up (exit $code)" $?
run -np 1 "$B/finetune_mpi" $S : -np 1 "$B/finetune_mpi" ${S/--mask-prompt/} >"$tmp/g.out" 2>"$tmp/g.err"
code=$?
grep -q 'rank 1 was started differently from rank 0: here "examples: mask_prompt 0' "$tmp/g.err" && [ $code != 0 ]
check "no --mask-prompt on rank 1: refused at start-up (exit $code)" $?
head -6 "$tmp/train.jsonl" >"$tmp/other.jsonl"
run -np 1 "$B/finetune_mpi" $S : -np 1 "$B/finetune_mpi" ${S/train.jsonl/other.jsonl} >"$tmp/g.out" 2>"$tmp/g.err"
code=$?
grep -q 'rank 1 was started differently from rank 0: here "data [0-9]* bytes' "$tmp/g.err" && [ $code != 0 ]
check "a different --data file on rank 1: refused at start-up (exit $code)" $?

# 7. bad data-parallel flags
run -np 2 "$B/finetune_mpi" $S --batch 3 >"$tmp/h.out" 2>"$tmp/h.err"
code=$?
grep -q -- "--batch 3 must be a multiple of the 2 ranks" "$tmp/h.err" && [ $code != 0 ]
check "--batch 3 over 2 ranks is refused (exit $code)" $?
"$B/finetune" $S --zero 1 >"$tmp/i.out" 2>"$tmp/i.err"
code=$?
grep -q -- "--zero is for the data-parallel build, build/finetune_mpi" "$tmp/i.err" && [ $code = 2 ]
check "the plain build refuses --zero (exit $code)" $?

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
