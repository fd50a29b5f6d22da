#!/usr/bin/env bash
# build/finetune and build/it-merge from the command line: a LoRA fine-tune of a small model
# build/train makes, its adapter in PEFT's layout, --resume bit-exact, validation lines, bad JSONL
# lines named by file and line, --strict, refused flags, it-merge's merged model valid (and the
# fixture adapter merged into its fixture base). Usage: tests/lora_cli_test.sh BUILD_DIR.
# Ends with "N passed, N failed".
set -u
B=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
run() { # run SECONDS command...: output in $tmp/out, $tmp/err, status in $got
    local seconds=$1
    shift
    timeout -k 2 "$seconds" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
}
expect() { # expect EXIT_CODE "fragment" -- command...
    local want=$1 fragment=$2
    shift 3
    run 120 "$@"
    if [ "$got" = "$want" ] && grep -q -- "$fragment" "$tmp/err" "$tmp/out"; then pass; else
        fail "$* -> exit $got (want $want, message '$fragment'), output:"
        sed 's/^/    /' "$tmp/err" | head -5
    fi
}
check() {
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}

# a base model with a BPE tokenizer (tokenizer.bin), trained for a few steps
for _ in 1 2 3 4; do cat README.md; done >"$tmp/corpus.txt"
run 120 "$B/train" --data "$tmp/corpus.txt" --tokenizer bpe --vocab 300 --dim 32 --layers 2 --heads 2 --kv-heads 2 --ffn 64 \
    --max-seq 64 --batch 2 --seq 32 --steps 3 --eval-batches 1 --save "$tmp/base"
check "the base model trains (exit $got)" test "$got" = 0
base="$tmp/base"
{
    echo '{"prompt": "Say hi:", "completion": " hi"}'
    echo '{"text": "IronTensor trains small language models."}'
    echo '{"prompt": "Say yes:", "completion": " yes"}'
    echo '{"prompt": "Say no:"'
    echo '{"prompt": "Say no:", "completion": ""}'
    echo '{"prompt": "Say ok:", "completion": " ok"}'
} >"$tmp/train.jsonl"
head -1 "$tmp/train.jsonl" >"$tmp/valid.jsonl"
F="$B/finetune"
A=(--model "$base" --data "$tmp/train.jsonl" --mask-prompt --lora-rank 4 --lora-alpha 8 --lora-targets q_proj,v_proj,down_proj
   --batch 2 --seq 24 --steps 6 --lr 1e-3)

# bad lines are named and skipped; --strict stops at the first
expect 0 "train.jsonl:4: invalid JSON" -- "$F" "${A[@]}" --save "$tmp/ad"
check "the skipped lines are counted" grep -q "4 examples (2 lines skipped" "$tmp/err"
check "the run ends with a final line" grep -q "^final step=6 train_loss=" "$tmp/out"
for f in adapter_config.json adapter_model.safetensors optimizer.safetensors trainer_state.json loss.csv; do
    check "the adapter directory holds $f" test -s "$tmp/ad/$f"
done
check "adapter_config.json is PEFT's LORA config" grep -q '"peft_type": "LORA"' "$tmp/ad/adapter_config.json"
check "PEFT's key names" grep -q 'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight' "$tmp/ad/adapter_model.safetensors"
expect 1 "train.jsonl:4: invalid JSON" -- "$F" "${A[@]}" --strict
# validation: before the first step and at the end, as val_loss=X
expect 0 "step 0 val_loss=" -- "$F" "${A[@]}" --valid "$tmp/valid.jsonl" --eval-every 3
check "validation every --eval-every steps" grep -q "^step 3/6 .*val_loss=" "$tmp/out"
# --resume: 3 steps, then 3 more, equals 6 straight (adapter and optimizer state bit for bit)
run 120 "$F" "${A[@]}" --save "$tmp/r" --stop-after 3
check "--stop-after stops at step 3" grep -q "^stopped step=3" "$tmp/out"
run 120 "$F" --model "$base" --data "$tmp/train.jsonl" --mask-prompt --resume "$tmp/r"
check "resumed to the end" grep -q "^final step=6" "$tmp/out"
check "resume is bit-exact (adapter)" cmp -s "$tmp/ad/adapter_model.safetensors" "$tmp/r/adapter_model.safetensors"
check "resume is bit-exact (optimizer state)" cmp -s "$tmp/ad/optimizer.safetensors" "$tmp/r/optimizer.safetensors"
run 120 "$F" "${A[@]}" --save "$tmp/r3" --stop-after 2
expect 1 "not the file the run" -- "$F" --model "$base" --data "$tmp/valid.jsonl" --resume "$tmp/r3"
# --resume records --mask-prompt / --pack / --chat-template: left out they are restored, a different one is refused
expect 1 "trained with --mask-prompt, no --pack, the model's chat template and an f32 base" -- "$F" --model "$base" --data "$tmp/train.jsonl" --pack --resume "$tmp/r3"
expect 1 "trained with --mask-prompt, no --pack, the model's chat template and an f32 base" -- "$F" --model "$base" --data "$tmp/train.jsonl" --chat-template chatml --resume "$tmp/r3"
expect 0 "resume: --mask-prompt, as the run was trained" -- "$F" --model "$base" --data "$tmp/train.jsonl" --resume "$tmp/r3" --save "$tmp/r3b"
check "resumed without the flag equals the straight run" cmp -s "$tmp/ad/adapter_model.safetensors" "$tmp/r3b/adapter_model.safetensors"
check "the trainer state records the data options" grep -q '"sft": {"mask_prompt": true, "pack": false, "chat_template": ""}' "$tmp/r3/trainer_state.json"
# --pack: several examples a row, each seeing only itself: the validation loss is the unpacked one
grep -v 'Say no' "$tmp/train.jsonl" >"$tmp/valid4.jsonl"
run 120 "$F" "${A[@]}" --valid "$tmp/valid4.jsonl" --steps 1
unpacked=$(sed -n 's/^step 0 val_loss=//p' "$tmp/out")
expect 0 "data: --pack: 4 examples in 3 rows of 24" -- "$F" "${A[@]}" --valid "$tmp/valid4.jsonl" --steps 1 --pack
packed=$(sed -n 's/^step 0 val_loss=//p' "$tmp/out")
check "packed validation loss $packed == unpacked $unpacked" awk -v a="$packed" -v b="$unpacked" 'BEGIN { d = a - b; exit !(a != "" && d * d <= 4e-8) }'
run 120 "$F" "${A[@]}" --pack --save "$tmp/p6"
check "a packed run trains (exit $got)" test "$got" = 0
run 120 "$F" "${A[@]}" --pack --save "$tmp/p3" --stop-after 3
expect 0 "resume: --pack, as the run was trained" -- "$F" --model "$base" --data "$tmp/train.jsonl" --resume "$tmp/p3"
check "a packed resume is bit-exact" cmp -s "$tmp/p6/adapter_model.safetensors" "$tmp/p3/adapter_model.safetensors"
check "packed rows train differently from one example a row" sh -c "! cmp -s '$tmp/p6/adapter_model.safetensors' '$tmp/ad/adapter_model.safetensors'"
# QLoRA: the frozen base's projections stored as q4_0 (and bf16); resume restores --quant
expect 0 "parameters .* MB with the base in q4_0, .*dequantised weight" -- "$F" "${A[@]}" --quant q4_0 --save "$tmp/q6"
run 120 "$F" "${A[@]}" --quant q4_0 --save "$tmp/q3" --stop-after 3
expect 0 "resume: --quant q4_0, as the run was trained" -- "$F" --model "$base" --data "$tmp/train.jsonl" --resume "$tmp/q3"
check "a QLoRA resume is bit-exact" cmp -s "$tmp/q6/adapter_model.safetensors" "$tmp/q3/adapter_model.safetensors"
check "a q4_0 base trains another adapter than the f32 base" sh -c "! cmp -s '$tmp/q6/adapter_model.safetensors' '$tmp/ad/adapter_model.safetensors'"
expect 1 "and --quant q4_0" -- "$F" --model "$base" --data "$tmp/train.jsonl" --quant q8_0 --resume "$tmp/q3"
expect 0 "with the base in bf16" -- "$F" "${A[@]}" --quant bf16 --steps 2
expect 0 "" -- "$B/generate" --model "$base" --adapter "$tmp/q6" --prompt "Say hi:" --max-new-tokens 3 --temperature 0
expect 2 "expected bf16, q8_0 or q4_0" -- "$F" "${A[@]}" --quant f16
expect 2 "cannot go with --full" -- "$F" "${A[@]}" --quant q8_0 --full
# --full writes a checkpoint of every weight
expect 0 "full fine-tune" -- "$F" "${A[@]}" --full --save "$tmp/full"
check "--full saves a valid checkpoint" sh -c "'$B/it-inspect' '$tmp/full' | grep -q '^valid: yes'"
# refused flags and targets, and a save target this library did not write
expect 2 "lora-dropout 1 must be in .0, 1)" -- "$F" "${A[@]}" --lora-dropout 1
# LoRA dropout: recorded in adapter_config.json, masks replayed on --resume
run 120 "$F" "${A[@]}" --lora-dropout 0.2 --save "$tmp/d6"
check "a run with dropout trains (exit $got)" test "$got" = 0
check "adapter_config.json records lora_dropout" grep -q '"lora_dropout": 0.2' "$tmp/d6/adapter_config.json"
run 120 "$F" "${A[@]}" --lora-dropout 0.2 --save "$tmp/d3" --stop-after 3
run 120 "$F" --model "$base" --data "$tmp/train.jsonl" --resume "$tmp/d3"
check "a resumed run with dropout is bit-exact" cmp -s "$tmp/d6/adapter_model.safetensors" "$tmp/d3/adapter_model.safetensors"
check "dropout changes the training" sh -c "! cmp -s '$tmp/d6/adapter_model.safetensors' '$tmp/ad/adapter_model.safetensors'"
expect 1 "unknown target module 'c_fc'" -- "$F" "${A[@]}" --lora-targets q_proj,c_fc
expect 2 "--model and --data are required" -- "$F" --data "$tmp/train.jsonl"
mkdir -p "$tmp/mine" && echo "keep me" >"$tmp/mine/notes.txt"
expect 1 "notes.txt" -- "$F" "${A[@]}" --save "$tmp/mine"
check "a refused save leaves the user's file" grep -q "keep me" "$tmp/mine/notes.txt"
echo '{"prompt": 1}' >"$tmp/bad.jsonl"
expect 1 "no usable example" -- "$F" --model "$base" --data "$tmp/bad.jsonl"
# it-merge: our adapter into our base, and PEFT's fixture adapter into its fixture model
expect 0 "merged 6 adapted projections" -- "$B/it-merge" --model "$base" --adapter "$tmp/ad" --out "$tmp/merged"
check "the merged model is a valid checkpoint with its tokenizer" sh -c "'$B/it-inspect' '$tmp/merged' | grep -q '^valid: yes' && test -s '$tmp/merged/tokenizer.bin'"
expect 0 "merged 14 adapted projections" -- "$B/it-merge" --model tests/fixtures/hf_models/llama_llama3 --adapter tests/fixtures/peft/llama_all --out "$tmp/m2"
expect 1 "unknown target module 'c_attn'" -- "$B/it-merge" --model tests/fixtures/hf_models/llama_llama3 --adapter tests/fixtures/peft/gpt2_all --out "$tmp/m3"
expect 1 "none: no such directory" -- "$B/it-merge" --model "$base" --adapter "$tmp/none" --out "$tmp/m4"
expect 2 "required" -- "$B/it-merge" --model "$base"
# unmerged inference: generate and it-eval with --adapter; it-eval's logits equal the merged model's
expect 0 "" -- "$B/generate" --model "$base" --adapter "$tmp/ad" --prompt "Say hi:" --max-new-tokens 3 --temperature 0
expect 1 "none: no such directory" -- "$B/generate" --model "$base" --adapter "$tmp/none" --prompt "x"
run 60 "$B/it-eval" --model "$base" --adapter "$tmp/ad" --ids 5,6,7,8,9 --logits-out "$tmp/unmerged.npy"
check "it-eval --adapter runs (exit $got)" test "$got" = 0
run 60 "$B/it-eval" --model "$tmp/merged" --ids 5,6,7,8,9 --logits-out "$tmp/merged.npy"
check "it-eval of the merged model runs (exit $got)" test "$got" = 0
if command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c "import numpy" 2>/dev/null; then
    check "merged logits == unmerged (1e-5 of their scale)" /usr/bin/python3 -c "
import numpy as np, sys
a, b = np.load('$tmp/unmerged.npy'), np.load('$tmp/merged.npy')
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(a).max() else 1)"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
