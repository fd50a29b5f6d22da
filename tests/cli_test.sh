#!/usr/bin/env bash
# build/train on bad input: a clear message, a non-zero exit, never a crash (signals exit > 128).
# Usage: tests/cli_test.sh BUILD_DIR. Ends with "N passed, N failed".
set -u
B=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
small="--dim 32 --layers 1 --heads 2 --ffn 32 --batch 2 --seq 16 --steps 2 --eval-batches 1"

# expect EXIT_CODE "message fragment" -- command...
expect() {
    local want=$1 fragment=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" = "$want" ] && grep -q -- "$fragment" "$tmp/err" "$tmp/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $* -> exit $got (want $want), output:"; sed 's/^/    /' "$tmp/err" | head -5
    fi
}

: >"$tmp/empty.txt"
printf 'tiny' >"$tmp/short.txt"
head -c 20000 irontensor.h >"$tmp/text.txt"
"$B/it-tokens" "$tmp/text.txt" "$tmp/bytes.bin" >/dev/null
head -c 1500 "$tmp/bytes.bin" >"$tmp/truncated.bin"

expect 1 "cannot open --data" -- "$B/train" --data "$tmp/missing.txt" $small
expect 1 "empty" -- "$B/train" --data "$tmp/empty.txt" $small
expect 1 "too short\|fewer\|at least" -- "$B/train" --data "$tmp/short.txt" $small
expect 1 "outside\|out of range\|>= vocab\|vocab" -- "$B/train" --data "$tmp/bytes.bin" --vocab 100 $small
expect 1 "truncated\|size" -- "$B/train" --data "$tmp/truncated.bin" $small
expect 2 "unknown flag '--bogus'" -- "$B/train" --bogus 1
expect 1 "expects a whole number" -- "$B/train" --steps ten
expect 1 "expects a number" -- "$B/train" --lr fast
expect 2 "needs a value" -- "$B/train" --steps
expect 2 "--tokenizer must be byte or bpe" -- "$B/train" --tokenizer words
expect 1 "heads (3) must divide dim (32)" -- "$B/train" --data "$tmp/text.txt" --dim 32 --heads 3
expect 1 "kv-heads (3) must divide heads (4)" -- "$B/train" --data "$tmp/text.txt" --dim 32 --heads 4 --kv-heads 3
expect 1 "unknown --optimizer" -- "$B/train" --data "$tmp/text.txt" $small --optimizer adam
expect 1 "unknown preset" -- "$B/train" --preset enormous
expect 1 "Metal backend unavailable" -- "$B/train" --backend metal
expect 1 "Metal backend unavailable" -- "$B/bench" --backend metal
expect 1 "Metal backend unavailable" -- "$B/generate" --backend metal --model "$tmp/missing"
expect 2 "--backend must be cpu, metal or cuda, got 'gpu'" -- "$B/generate" --backend gpu --model "$tmp/missing"
expect 1 "CUDA backend unavailable" -- "$B/train" --backend cuda
expect 1 "CUDA backend unavailable" -- "$B/bench" --backend cuda
expect 2 "--pairs: 'two' is not a non-negative integer" -- "$B/bench" --pairs two
expect 2 "--pairs: '-1' is not a non-negative integer" -- "$B/bench" --pairs -1
expect 2 "--pairs needs a value" -- "$B/bench" --pairs
expect 1 "CUDA backend unavailable" -- "$B/generate" --backend cuda --model "$tmp/missing"
expect 0 "final step=2 train_loss=" -- "$B/train" --data "$tmp/text.txt" $small --save "$tmp/run"
expect 0 "usage: train" -- "$B/train" --help
[ -s "$tmp/run/loss.csv" ] && grep -q "<svg" "$tmp/run/loss.svg" && passed=$((passed + 1)) || {
    failed=$((failed + 1)); echo "FAIL: loss.csv / loss.svg not written"; }
# Resume determinism: 40 steps straight == 20 steps + save + a fresh process resuming for 20,
# bit for bit (weights, optimizer state, final line), for Lion and AdamW with accumulation on.
for optim in lion adamw; do
    run="--data $tmp/text.txt --dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 48 --batch 2 --seq 16 --accum 2
         --eval-batches 2 --optimizer $optim --lr 1e-3 --warmup 5 --steps 40"
    "$B/train" $run --save "$tmp/straight-$optim" >"$tmp/straight.out" 2>/dev/null
    "$B/train" $run --stop-after 20 --save "$tmp/split-$optim" >/dev/null 2>&1
    "$B/train" --data "$tmp/text.txt" --eval-batches 2 --resume "$tmp/split-$optim" --save "$tmp/split-$optim" \
        >"$tmp/resumed.out" 2>/dev/null
    if cmp -s "$tmp/straight-$optim/model.safetensors" "$tmp/split-$optim/model.safetensors" &&
       cmp -s "$tmp/straight-$optim/optimizer.safetensors" "$tmp/split-$optim/optimizer.safetensors" &&
       [ "$(tail -1 "$tmp/straight.out")" = "$(tail -1 "$tmp/resumed.out")" ] &&
       grep -q "final step=40" "$tmp/resumed.out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "FAIL: $optim resume is not bit-identical:"; tail -1 "$tmp/straight.out" "$tmp/resumed.out"
    fi
done
# bf16 mixed precision (--dtype bf16): the same bit-for-bit resume with fp32 master weights (f32
# save) and with the weights kept in bf16 by stochastic rounding (--master-weights 0, bf16 save:
# exact, so the resumed run's saves stay bf16 without being asked); bf16 changes the numbers.
for mode in "lion 1 f32" "adamw 0 bf16"; do
    set -- $mode
    run="--data $tmp/text.txt --dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 48 --batch 2 --seq 16 --accum 2
         --eval-batches 2 --optimizer $1 --lr 1e-3 --warmup 5 --steps 40 --dtype bf16 --master-weights $2 --save-dtype $3"
    "$B/train" $run --save "$tmp/bf16-straight" >"$tmp/straight.out" 2>/dev/null
    "$B/train" $run --stop-after 20 --save "$tmp/bf16-split" >/dev/null 2>&1
    "$B/train" --data "$tmp/text.txt" --eval-batches 2 --resume "$tmp/bf16-split" >"$tmp/resumed.out" 2>"$tmp/resumed.err"
    if cmp -s "$tmp/bf16-straight/model.safetensors" "$tmp/bf16-split/model.safetensors" &&
       cmp -s "$tmp/bf16-straight/optimizer.safetensors" "$tmp/bf16-split/optimizer.safetensors" &&
       [ "$(tail -1 "$tmp/straight.out")" = "$(tail -1 "$tmp/resumed.out")" ] &&
       grep -q "final step=40" "$tmp/resumed.out" && grep -q "precision: bf16 mixed" "$tmp/resumed.err" &&
       grep -q '"compute_dtype": "bf16"' "$tmp/bf16-split/trainer_state.json" &&
       { [ "$3" = f32 ] || "$B/it-inspect" "$tmp/bf16-split" | grep -q "BF16"; } &&
       { [ "$1" != lion ] || ! cmp -s "$tmp/straight-lion/model.safetensors" "$tmp/bf16-straight/model.safetensors"; }; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "FAIL: bf16 ($mode) resume is not bit-identical:"; tail -1 "$tmp/straight.out" "$tmp/resumed.out"
    fi
    rm -rf "$tmp/bf16-straight" "$tmp/bf16-split"
done
"$B/train" --data "$tmp/text.txt" --dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 48 --batch 2 --seq 16 --accum 2 \
    --eval-batches 2 --optimizer lion --lr 1e-3 --warmup 5 --steps 40 --dtype bf16 --stop-after 20 --save "$tmp/bf16-run" >/dev/null 2>&1
expect 1 "expects f32 or bf16, got 'f16'" -- "$B/train" --data "$tmp/text.txt" $small --dtype f16
expect 1 "expects f32 or bf16, got 'half'" -- "$B/train" --data "$tmp/text.txt" $small --save-dtype half
expect 2 "it needs --dtype bf16" -- "$B/train" --data "$tmp/text.txt" $small --master-weights 0
expect 2 "--master-weights must be 1" -- "$B/train" --data "$tmp/text.txt" $small --dtype bf16 --master-weights 2
expect 1 "--dtype f32 conflicts with the checkpoint" -- "$B/train" --data "$tmp/text.txt" --resume "$tmp/bf16-run" --dtype f32
expect 1 "--master-weights 0 conflicts with the checkpoint" -- "$B/train" --data "$tmp/text.txt" --resume "$tmp/bf16-run" \
    --master-weights 0
expect 1 "--dtype bf16 conflicts with the checkpoint" -- "$B/train" --data "$tmp/text.txt" --resume "$tmp/split-lion" --dtype bf16
expect 2 "expects f32 or bf16" -- "$B/finetune" --model "$tmp/split-lion" --data "$tmp/text.txt" --dtype f8
expect 1 "differs from the resumed run's total" -- "$B/train" --data "$tmp/text.txt" --resume "$tmp/split-lion" --steps 50
expect 1 "nowhere: no such directory" -- "$B/train" --data "$tmp/text.txt" --resume "$tmp/nowhere"
expect 0 "valid: yes" -- "$B/it-inspect" "$tmp/split-adamw"
printf 'garbage' >"$tmp/split-adamw/config.json"
expect 1 "config.json" -- "$B/it-inspect" "$tmp/split-adamw"

# build/generate: greedy decoding is deterministic; bad checkpoints and flags are clear errors
"$B/generate" --checkpoint "$tmp/split-lion" --prompt "int " --max-new-tokens 12 --greedy >"$tmp/g1" 2>/dev/null
"$B/generate" --checkpoint "$tmp/split-lion" --prompt "int " --max-new-tokens 12 --greedy >"$tmp/g2" 2>/dev/null
if cmp -s "$tmp/g1" "$tmp/g2" && [ "$(head -c 4 "$tmp/g1")" = "int " ] && [ "$(wc -c <"$tmp/g1")" -ge 6 ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: greedy generation is not deterministic or lost the prompt"
fi
expect 0 "12 new tokens" -- "$B/generate" --checkpoint "$tmp/split-lion" --prompt "x" --max-new-tokens 12 --temperature 0.9 --top-k 5 --top-p 0.9
expect 2 "--model DIR is required" -- "$B/generate" --prompt hi
expect 1 "nowhere" -- "$B/generate" --checkpoint "$tmp/nowhere"
expect 1 "config.json" -- "$B/generate" --checkpoint "$tmp/split-adamw"
expect 1 "--top-p expects a number" -- "$B/generate" --checkpoint "$tmp/split-lion" --top-p 2
expect 1 "at least one token" -- "$B/generate" --checkpoint "$tmp/split-lion" --prompt ""
# --quant: the projections and head decoded from bf16 / Q8_0 / Q4_0 copies; an unknown type and a
# layer whose inputs are not whole blocks of 32 are clear errors
for q in f32 bf16 q8_0 q4_0; do
    expect 0 "12 new tokens" -- "$B/generate" --checkpoint "$tmp/run" --prompt "x" --max-new-tokens 12 --greedy --quant $q
done
expect 2 "--quant 'q5' is not one of" -- "$B/generate" --checkpoint "$tmp/split-lion" --quant q5
expect 1 "down_proj.weight has 48 inputs, not a multiple of q4_0's block of 32" -- "$B/generate" --checkpoint "$tmp/split-lion" --quant q4_0
expect 0 "4 new tokens" -- "$B/generate" --checkpoint "$tmp/split-lion" --max-new-tokens 4 --quant bf16

# build/generate --model on the Hugging Face fixtures: --print-ids gives transformers' greedy ids
# (generate(do_sample=False) without an EOS stop) for every architecture
hfm=tests/fixtures/hf_models
PY=${PYTHON:-/usr/bin/python3} # Debian's, with numpy
ref_ids() { $PY -c '
import json, struct, sys
f = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", f[:8])[0]; h = json.loads(f[8:8 + n])
b, e = h[sys.argv[2]]["data_offsets"]
print(",".join(str(v) for v in struct.unpack("<%dq" % ((e - b) // 8), f[8 + n + b:8 + n + e])))' "$1/reference.safetensors" "$2"; }
for m in llama_llama3 llama_bias_bf16_sharded mistral_window qwen2 qwen3 gpt2 gpt2_f16; do
    want=$(ref_ids "$hfm/$m" greedy_ids)
    got=$("$B/generate" --model "$hfm/$m" --ids "$(ref_ids "$hfm/$m" prompt_ids)" --greedy --max-new-tokens 8 --print-ids \
        --ignore-eos 2>/dev/null)
    if [ -n "$want" ] && [ "$got" = "$want" ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: generate --print-ids on $m: '$got', transformers '$want'"; fi
done
# the EOS ids of generation_config.json ([2, 3] in the fixtures) end the generation, unprinted
want=$(ref_ids "$hfm/llama_llama3" greedy_ids)
got=$("$B/generate" --model "$hfm/llama_llama3" --ids "$(ref_ids "$hfm/llama_llama3" prompt_ids)" --greedy --max-new-tokens 8 \
    --print-ids 2>/dev/null)
if [ "$want" = "6,83,31,0,17,83,70,3" ] && [ "$got" = "6,83,31,0,17,83,70" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: generate did not stop at eos_token_id 3: '$got'"; fi

# build/it-eval: the logits of the fixtures' 14-token sequence, read back with numpy, equal
# transformers' (reference.safetensors) to 1e-4 relative, and the loss line its loss
for m in llama_llama3 llama_bias_bf16_sharded mistral_window qwen2 qwen3 gpt2 gpt2_f16; do
    "$B/it-eval" --model "$hfm/$m" --ids "$(ref_ids "$hfm/$m" input_ids)" --logits-out "$tmp/$m.npy" >"$tmp/eval.out" 2>"$tmp/eval.err"
    if [ $? = 0 ] && $PY -c '
import json, struct, sys
import numpy as np
f = open(sys.argv[1] + "/reference.safetensors", "rb").read(); n = struct.unpack("<Q", f[:8])[0]; h = json.loads(f[8:8 + n])
def ref(name):
    b, e = h[name]["data_offsets"]
    return np.frombuffer(f[8 + n + b:8 + n + e], dtype="<f4").reshape(h[name]["shape"])
want, got = ref("logits").reshape(14, -1), np.load(sys.argv[2])
assert got.dtype == np.dtype("<f4") and got.shape == want.shape and got.flags["C_CONTIGUOUS"], (got.dtype, got.shape)
assert np.all(np.abs(got - want) <= 1e-5 + 1e-4 * np.abs(want)), np.max(np.abs(got - want))
loss = float(open(sys.argv[3]).read().split()[1])
assert abs(loss - float(ref("loss").reshape(-1)[0])) < 1e-4, loss' "$hfm/$m" "$tmp/$m.npy" "$tmp/eval.out"; then
        passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: it-eval on $m:"; head -3 "$tmp/eval.err"; fi
done

# a model with a Hugging Face tokenizer and chat template: a checkpoint of ours (vocabulary 701) with
# the qwen2 fixture's tokenizer.json, Qwen2.5's template, a generation_config.json
"$B/train" --data "$tmp/text.txt" --tokenizer bpe --vocab 701 $small --save "$tmp/hfdir" >/dev/null 2>&1
cp tests/fixtures/hf_tokenizers/qwen2/tokenizer.json "$tmp/hfdir/"
$PY -c '
import json, sys
c = json.load(open("tests/fixtures/hf_tokenizers/qwen2/tokenizer_config.json"))
c["chat_template"] = open("tests/fixtures/chat_templates/qwen2.5.jinja").read()
json.dump(c, open(sys.argv[1] + "/tokenizer_config.json", "w"))
json.dump({"eos_token_id": [2, 0], "pad_token_id": 1, "temperature": 0.7, "top_k": 20, "max_new_tokens": 30}, open(sys.argv[1] + "/generation_config.json", "w"))' "$tmp/hfdir"
utf8() { $PY -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <"$1"; }
printf 'Hello there\nHow are you?\n' | "$B/generate" --model "$tmp/hfdir" --chat --system "Be brief." >"$tmp/chat.out" 2>"$tmp/chat.err"
if [ $? = 0 ] && grep -q "chat template chatml" "$tmp/chat.err" && [ "$(grep -c 'context tokens' "$tmp/chat.err")" = 2 ] &&
   utf8 "$tmp/chat.out"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: generate --chat:"; head -5 "$tmp/chat.err"; fi
# --stop: the text up to the stop string, which is not printed, even when it spans tokens
"$B/generate" --model "$tmp/hfdir" --prompt "static int" --max-new-tokens 40 --greedy --repeat-penalty 1.3 >"$tmp/nostop.out" 2>/dev/null
stop=$($PY -c 'import sys; t = open(sys.argv[1], encoding="utf-8").read()[len("static int"):]; print(t[len(t) // 2:len(t) // 2 + 3])' "$tmp/nostop.out")
"$B/generate" --model "$tmp/hfdir" --prompt "static int" --max-new-tokens 40 --greedy --repeat-penalty 1.3 --stop "$stop" >"$tmp/stop.out" 2>/dev/null
if $PY -c '
import sys
a, b, stop = open(sys.argv[1], encoding="utf-8").read(), open(sys.argv[2], encoding="utf-8").read(), sys.argv[3]
cut = a.index(stop, len("static int"))
sys.exit(0 if len(stop) == 3 and b == a[:cut] + "\n" else 1)' "$tmp/nostop.out" "$tmp/stop.out" "$stop" && utf8 "$tmp/nostop.out"; then
    passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: --stop '$stop': '$(cat "$tmp/stop.out")' vs '$(cat "$tmp/nostop.out")'"; fi
expect 0 "20 new tokens" -- "$B/generate" --model "$tmp/hfdir" --prompt "x" --max-new-tokens 20 --min-p 0.05 --repeat-penalty 1.1 --ignore-eos
expect 0 "30 new tokens" -- "$B/generate" --model "$tmp/hfdir" --prompt "x" --ignore-eos

# build/train --init-from: an imported model trains on (fresh optimizer, new data): the first step's
# loss is the model's loss on that batch (a constant sequence, so every batch is the same: it-eval
# gives its loss), and training lowers it
$PY -c 'open(__import__("sys").argv[1], "w").write("A" * 6000)' "$tmp/aaa.txt"
"$B/it-tokens" "$tmp/aaa.txt" "$tmp/aaa.bin" >/dev/null
"$B/train" --init-from "$hfm/qwen2" --data "$tmp/aaa.bin" --batch 2 --seq 16 --steps 10 --lr 1e-2 --warmup 0 --eval-every 0 \
    --eval-batches 1 --log-every 1 --save "$tmp/init1" >"$tmp/init.out" 2>"$tmp/init.err"
"$B/it-eval" --model "$hfm/qwen2" --ids "$($PY -c 'print(",".join(["65"] * 17))')" --logits-out "$tmp/a.npy" >"$tmp/a.loss" 2>/dev/null
if $PY -c '
import re, sys
steps = [float(m) for m in re.findall(r"^step \d+/10 loss ([0-9.]+)", open(sys.argv[1]).read(), re.M)]
want = float(open(sys.argv[2]).read().split()[1])
sys.exit(0 if len(steps) == 10 and abs(steps[0] - want) <= 6e-5 and steps[-1] < 0.5 * steps[0] else 1)' "$tmp/init.out" "$tmp/a.loss" &&
   grep -q "initialised from $hfm/qwen2 (fresh optimizer and schedule)" "$tmp/init.err"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: train --init-from: first loss vs it-eval's $(cat "$tmp/a.loss")"; grep "^step" "$tmp/init.out" | head -3; head -3 "$tmp/init.err"; fi
expect 0 "valid: yes" -- "$B/it-inspect" "$tmp/init1"
# from a model with a tokenizer.json: text data through it; the save carries the tokenizer, chat
# template and generation_config.json, so generate --chat and --resume work on it
expect 0 "data: .*(the model's tokenizer.json)" -- "$B/train" --init-from "$tmp/hfdir" --data "$tmp/text.txt" --batch 2 --seq 16 \
    --steps 4 --stop-after 2 --eval-batches 1 --save "$tmp/ft"
if [ -f "$tmp/ft/tokenizer.json" ] && cmp -s "$tmp/ft/tokenizer_config.json" "$tmp/hfdir/tokenizer_config.json" &&
   cmp -s "$tmp/ft/generation_config.json" "$tmp/hfdir/generation_config.json" && [ ! -e "$tmp/ft/tokenizer.bin" ] &&
   grep -q '"tokenizer": "hf"' "$tmp/ft/trainer_state.json"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: the --init-from save lacks the model's tokenizer files: $(ls "$tmp/ft")"; fi
expect 0 "chat template chatml" -- sh -c "echo hi | $B/generate --model $tmp/ft --chat --max-new-tokens 4"
expect 0 "resumed .* at step 2 of 4" -- "$B/train" --resume "$tmp/ft" --data "$tmp/text.txt"
expect 0 "valid: yes" -- "$B/it-inspect" "$tmp/ft"

# build/it-inspect on Hugging Face directories: architecture, options, shards and dtype, tokenizer,
# chat template, generation defaults
expect 0 "weights: 34 tensors, .* dtype BF16 (3 shards)" -- "$B/it-inspect" "$hfm/llama_bias_bf16_sharded"
expect 0 "model: LlamaForCausalLM, 2 layers, .*(linear scaling: factor 2), q/k/v biases, output bias, MLP biases" -- \
    "$B/it-inspect" "$hfm/llama_bias_bf16_sharded"
expect 0 "generation: eos 2, 3; bos 1" -- "$B/it-inspect" "$hfm/qwen3"
expect 0 "model: Qwen3ForCausalLM.*head dim 16.*q/k norms" -- "$B/it-inspect" "$hfm/qwen3"
expect 0 "model: MistralForCausalLM.*sliding window 4" -- "$B/it-inspect" "$hfm/mistral_window"
expect 0 "weights: one file, .* dtype F16" -- "$B/it-inspect" "$hfm/gpt2_f16"
expect 0 "tokenizer: none (a vocabulary of 96 tokens" -- "$B/it-inspect" "$hfm/gpt2"
expect 0 "tokenizer: .*tokenizer.json (Hugging Face BPE, vocab 701, bos none, eos <|endoftext|> (0))" -- "$B/it-inspect" "$tmp/hfdir"
expect 0 'chat template: chatml (default system message: "You are Qwen' -- "$B/it-inspect" "$tmp/hfdir"
expect 0 "generation: eos 2, 0; bos none; pad 1; temperature 0.7; top_k 20; max_new_tokens 30" -- "$B/it-inspect" "$tmp/hfdir"

# build/it-tokenize: Hugging Face tokenizers from the command line (ids checked in test_hf_tokenizer)
hf=tests/fixtures/hf_tokenizers
printf 'Hello world, caf\xc3\xa9 \xf0\x9f\x98\x80!\n' >"$tmp/hello.txt"
"$B/it-tokenize" --tokenizer $hf/gpt2 <"$tmp/hello.txt" >"$tmp/hello.ids"
"$B/it-tokenize" --tokenizer $hf/gpt2 --decode <"$tmp/hello.ids" >"$tmp/hello.back"
if cmp -s "$tmp/hello.txt" "$tmp/hello.back" && grep -q '^[0-9]*\(,[0-9]*\)*$' "$tmp/hello.ids"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: it-tokenize encode/decode does not round-trip"
fi
if [ "$(printf hi | "$B/it-tokenize" --tokenizer $hf/llama3/tokenizer.json | cut -d, -f1)" = 0 ] &&
   [ "$(printf hi | "$B/it-tokenize" --tokenizer $hf/llama3 --no-special | cut -d, -f1)" != 0 ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: it-tokenize --no-special does not drop the BOS template"
fi
expect 1 "is not an id" -- sh -c "echo 1,99999999 | $B/it-tokenize --tokenizer $hf/gpt2 --decode"
expect 1 "cannot open" -- "$B/it-tokenize" --tokenizer "$tmp/nowhere.json"
expect 1 "not valid UTF-8" -- sh -c "printf 'a\\377' | $B/it-tokenize --tokenizer $hf/gpt2"
expect 2 "unknown argument '--bogus'" -- "$B/it-tokenize" --tokenizer $hf/gpt2 --bogus
expect 2 "usage" -- "$B/it-tokenize"

# build/it-export-gguf: GGUF v3 files read back by tests/gguf_reader.py, an independent reader in
# Python (metadata against config.json, every tensor against model.safetensors: F32 exact, F16/BF16
# rounded, Q8_0/Q4_0 byte for byte as ggml's reference quantisers, the Q/K permutation undone), for
# the byte tokenizer's checkpoint and for one with a Hugging Face tokenizer.json
py=${PYTHON:-/usr/bin/python3}
if "$py" -c 'import numpy' 2>/dev/null; then
    for dir in run hfdir; do for t in f32 f16 bf16 q8_0 q4_0; do
        if "$B/it-export-gguf" --model "$tmp/$dir" --type $t --out "$tmp/$dir-$t.gguf" >/dev/null 2>"$tmp/err" &&
           "$py" tests/gguf_reader.py "$tmp/$dir-$t.gguf" "$tmp/$dir" >"$tmp/out" 2>&1 && grep -q " 0 failed" "$tmp/out" &&
           grep -q "tokenizer: gpt2" "$tmp/out"; then passed=$((passed + 1)); else
            failed=$((failed + 1)); echo "FAIL: it-export-gguf $dir $t does not read back:"; grep -v '^ok' "$tmp/err" "$tmp/out" | head -5; fi
    done; done
else
    echo "note: $py has no numpy: the GGUF read-back checks are skipped"
fi
# generate --model FILE.gguf: an F32 export decodes to exactly the directory's greedy ids (the
# permutation undone), a Q4_0 one at its own precision unless --quant says otherwise
"$B/it-export-gguf" --model "$tmp/run" --type f32 --out "$tmp/run-f32.gguf" >/dev/null 2>&1
"$B/it-export-gguf" --model "$tmp/run" --type q4_0 --out "$tmp/run-q4.gguf" >/dev/null 2>&1
a=$("$B/generate" --model "$tmp/run" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids 2>/dev/null)
b=$("$B/generate" --model "$tmp/run-f32.gguf" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids 2>/dev/null)
c=$("$B/generate" --model "$tmp/run-q4.gguf" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids 2>/dev/null)
d=$("$B/generate" --model "$tmp/run-q4.gguf" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids --quant q4_0 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ -n "$c" ] && [ "$c" = "$d" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: generate on GGUF: dir '$a', f32 gguf '$b', q4_0 gguf '$c' / --quant q4_0 '$d'"; fi
expect 0 "12 new tokens" -- "$B/generate" --model "$tmp/run-q4.gguf" --prompt "x" --max-new-tokens 12 --greedy
# the GGUF file's own tokenizer (hfdir's is Qwen2's tokenizer.json: tokenizer.ggml.pre qwen2): a text
# prompt, no --ids, gives the directory's ids; without the tokenizer keys, a clear error
"$B/it-export-gguf" --model "$tmp/hfdir" --type f32 --out "$tmp/hfdir-tok.gguf" >/dev/null 2>&1
"$B/it-export-gguf" --model "$tmp/hfdir" --type f32 --out "$tmp/hfdir-notok.gguf" --no-tokenizer >/dev/null 2>&1
a=$("$B/generate" --model "$tmp/hfdir" --prompt "Hello, world 123 é" --greedy --ignore-eos --max-new-tokens 8 --print-ids 2>/dev/null)
b=$("$B/generate" --model "$tmp/hfdir-tok.gguf" --prompt "Hello, world 123 é" --greedy --ignore-eos --max-new-tokens 8 --print-ids 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: generate with the GGUF tokenizer: dir '$a', gguf '$b'"; fi
expect 0 "8 new tokens" -- "$B/generate" --model "$tmp/hfdir-tok.gguf" --prompt "Hello" --greedy --ignore-eos --max-new-tokens 8
# hfdir's chat template goes in as tokenizer.chat_template: --chat on the GGUF file alone renders it
printf 'Hello there\n' | "$B/generate" --model "$tmp/hfdir-tok.gguf" --chat --greedy --max-new-tokens 4 >"$tmp/ggchat.out" 2>"$tmp/ggchat.err"
if [ $? = 0 ] && grep -q "chat template chatml" "$tmp/ggchat.err"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: --chat on a GGUF with hfdir's template:"; head -3 "$tmp/ggchat.err"; fi
# a SentencePiece-style tokenizer.json (tests/fixtures/gguf_spm, vocabulary 856) goes in as GGUF's
# "llama" model: the Python reader derives tokenizer.json's merges from its scores, and a text prompt
# on the GGUF file alone gives the directory's ids; the trained sp fixture, whose merges are not a
# SentencePiece vocabulary's, and the Metaspace one are refused, naming why
"$B/train" --data "$tmp/text.txt" --tokenizer bpe --vocab 856 $small --save "$tmp/spdir" >/dev/null 2>&1
cp tests/fixtures/gguf_spm/tokenizer.json tests/fixtures/gguf_spm/tokenizer_config.json "$tmp/spdir/"
if "$B/it-export-gguf" --model "$tmp/spdir" --type f32 --out "$tmp/sp.gguf" >/dev/null 2>"$tmp/err" &&
   { ! "$py" -c 'import numpy' 2>/dev/null ||
     { "$py" tests/gguf_reader.py "$tmp/sp.gguf" "$tmp/spdir" >"$tmp/out" 2>&1 && grep -q " 0 failed" "$tmp/out" &&
       grep -q "tokenizer: llama" "$tmp/out" && grep -q "^ok   the scores give tokenizer.json's merges" "$tmp/out"; }; }; then
    passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: it-export-gguf of a SentencePiece tokenizer does not read back:"; grep -v '^ok' "$tmp/err" "$tmp/out" | head -5; fi
a=$("$B/generate" --model "$tmp/spdir" --prompt "Hello, world 123 é ✓" --greedy --ignore-eos --max-new-tokens 8 --print-ids 2>/dev/null)
b=$("$B/generate" --model "$tmp/sp.gguf" --prompt "Hello, world 123 é ✓" --greedy --ignore-eos --max-new-tokens 8 --print-ids 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: generate with the GGUF SentencePiece tokenizer: dir '$a', gguf '$b'"; fi
mkdir -p "$tmp/spbad" "$tmp/spmeta"
cp "$tmp/spdir/config.json" "$tmp/spdir/model.safetensors" "$tmp/spbad/"
cp "$tmp/spdir/config.json" "$tmp/spdir/model.safetensors" "$tmp/spmeta/"
cp tests/fixtures/hf_tokenizers/sp/tokenizer.json "$tmp/spbad/"
cp tests/fixtures/hf_tokenizers/meta/tokenizer.json "$tmp/spmeta/"
expect 1 "merges are not a SentencePiece vocabulary's" -- "$B/it-export-gguf" --model "$tmp/spbad" --type f32 --out "$tmp/g.gguf"
expect 1 "Metaspace and other set-ups are not exported" -- "$B/it-export-gguf" --model "$tmp/spmeta" --type f32 --out "$tmp/g.gguf"
expect 1 "but no tokenizer" -- "$B/generate" --model "$tmp/hfdir-notok.gguf" --prompt "Hello" --max-new-tokens 2
printf 'not a model' >"$tmp/notes.gguf"
expect 1 "no 'GGUF' magic" -- "$B/generate" --model "$tmp/notes.gguf"
expect 2 "--type 'q5' is not one of" -- "$B/it-export-gguf" --model "$tmp/run" --type q5 --out "$tmp/x.gguf"
expect 2 "are required" -- "$B/it-export-gguf" --model "$tmp/run" --type q8_0
printf 'my notes' >"$tmp/notes.txt"
expect 1 "is not a GGUF file: not replaced" -- "$B/it-export-gguf" --model "$tmp/run" --type q8_0 --out "$tmp/notes.txt"
# a pad id the vocabulary does not have: a warning, and the file has no padding_token_id
cp -r "$tmp/run" "$tmp/runpad" && printf '{"pad_token_id": 99999}' >"$tmp/runpad/generation_config.json"
expect 0 "pad_token_id 99999 is outside the vocabulary of 256: not written" -- "$B/it-export-gguf" --model "$tmp/runpad" --type f32 --out "$tmp/runpad.gguf"
if [ -f "$tmp/runpad.gguf" ] && ! grep -q "padding_token_id" "$tmp/runpad.gguf"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: an out-of-range pad id was written to the GGUF file"; fi
if [ "$(cat "$tmp/notes.txt")" = "my notes" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: a non-GGUF file was overwritten"; fi
expect 0 "matrices q4_0" -- "$B/it-export-gguf" --model "$tmp/run" --type q4_0 --out "$tmp/run-q8_0.gguf" # replaces a GGUF file
expect 1 "only Llama-family models" -- "$B/it-export-gguf" --model tests/fixtures/hf_models/gpt2 --type f16 --out "$tmp/g.gguf" --no-tokenizer
expect 1 "output or MLP projections with biases" -- "$B/it-export-gguf" --model tests/fixtures/hf_models/llama_bias_bf16_sharded --type f16 --out "$tmp/g.gguf" --no-tokenizer
expect 1 "no tokenizer" -- "$B/it-export-gguf" --model tests/fixtures/hf_models/qwen3 --type f16 --out "$tmp/g.gguf"
# Qwen2 (q/k/v biases) and Qwen3 (q/k norms) go in as llama.cpp's qwen2 / qwen3 architectures (no
# Q/K permutation: llama.cpp rotates their half-split pairs): the Python reader checks every tensor,
# and the GGUF file alone gives transformers' greedy ids
for m in qwen2 qwen3; do
    "$B/it-export-gguf" --model $hfm/$m --type f32 --out "$tmp/$m.gguf" --no-tokenizer >/dev/null 2>&1
    got=$("$B/generate" --model "$tmp/$m.gguf" --ids "$(ref_ids $hfm/$m prompt_ids)" --greedy --max-new-tokens 8 --print-ids --ignore-eos 2>/dev/null)
    if [ -n "$got" ] && [ "$got" = "$(ref_ids $hfm/$m greedy_ids)" ] &&
       { ! "$py" -c 'import numpy' 2>/dev/null || { "$py" tests/gguf_reader.py "$tmp/$m.gguf" $hfm/$m >"$tmp/out" 2>&1 &&
         grep -q " 0 failed" "$tmp/out" && grep -q "^ok   general.architecture '$m'" "$tmp/out"; }; }; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: a $m GGUF: greedy '$got', transformers '$(ref_ids $hfm/$m greedy_ids)'"; grep -v '^ok' "$tmp/out" | head -3; fi
done
# what the export cannot say is refused, naming the piece (a sliding window, below); first what it now says:
# llama3 rope scaling goes in as rope_freqs.weight: the Python reader computes its factors from
# config.json as llama.cpp's converter does, and the GGUF file alone gives transformers' greedy ids
"$B/it-export-gguf" --model $hfm/llama_llama3 --type f32 --out "$tmp/l3.gguf" --no-tokenizer >/dev/null 2>&1
got=$("$B/generate" --model "$tmp/l3.gguf" --ids "$(ref_ids $hfm/llama_llama3 prompt_ids)" --greedy --max-new-tokens 8 --print-ids --ignore-eos 2>/dev/null)
if [ -n "$got" ] && [ "$got" = "$(ref_ids $hfm/llama_llama3 greedy_ids)" ] &&
   { ! "$py" -c 'import numpy' 2>/dev/null || { "$py" tests/gguf_reader.py "$tmp/l3.gguf" $hfm/llama_llama3 >"$tmp/out" 2>&1 &&
     grep -q " 0 failed" "$tmp/out" && grep -q "^ok   rope_freqs.weight" "$tmp/out"; }; }; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: a llama3-scaled GGUF: greedy '$got', transformers '$(ref_ids $hfm/llama_llama3 greedy_ids)'"; grep -v '^ok' "$tmp/out" | head -3; fi
expect 1 "sliding-window attention is not exported" -- "$B/it-export-gguf" --model tests/fixtures/hf_models/mistral_window --type f16 --out "$tmp/g.gguf" --no-tokenizer
if [ ! -e "$tmp/g.gguf" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: a refused export left $tmp/g.gguf"; fi
expect 1 "not whole q8_0 blocks" -- "$B/it-export-gguf" --model "$tmp/split-lion" --type q8_0 --out "$tmp/g.gguf"
expect 1 "nowhere" -- "$B/it-export-gguf" --model "$tmp/nowhere" --type q8_0 --out "$tmp/g.gguf"

# build/it-quantize: a smaller model directory (the decoder's matrices as bf16 / Q8_0 / Q4_0 in
# model.safetensors, its tokenizer.json and generation config copied) that generate decodes at its
# own type, to the ids --quant TYPE gives on the original, and that it-eval reads
for t in bf16 q8_0 q4_0; do
    "$B/it-quantize" --model "$tmp/hfdir" --type $t --out "$tmp/hfdir-$t" >"$tmp/out" 2>"$tmp/err"
    a=$("$B/generate" --model "$tmp/hfdir" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids --quant $t 2>/dev/null)
    b=$("$B/generate" --model "$tmp/hfdir-$t" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids 2>/dev/null)
    if grep -q "matrices $t" "$tmp/out" && [ -n "$a" ] && [ "$a" = "$b" ] && [ -f "$tmp/hfdir-$t/tokenizer.json" ] &&
       [ -f "$tmp/hfdir-$t/generation_config.json" ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: it-quantize $t: '$a' (--quant) vs '$b' (the directory)"; head -3 "$tmp/err"; fi
done
expect 0 "12 new tokens" -- "$B/generate" --model "$tmp/hfdir-q4_0" --prompt "static int" --max-new-tokens 12 --greedy
# GPT-2 (Conv1D weights: the blocks run along the input, so they are stored transposed)
for t in q8_0 q4_0; do
    "$B/it-quantize" --model tests/fixtures/hf_models/gpt2 --type $t --out "$tmp/gpt2-$t" >/dev/null 2>&1
    a=$("$B/generate" --model tests/fixtures/hf_models/gpt2 --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids --quant $t 2>/dev/null)
    b=$("$B/generate" --model "$tmp/gpt2-$t" --ids 1,2,3 --greedy --max-new-tokens 12 --print-ids 2>/dev/null)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: it-quantize gpt2 $t: '$a' (--quant) vs '$b' (the directory)"; fi
done
# tests/quant_dir_reader.py reads the files with numpy alone: the blocks byte for byte as ggml's
# reference quantisers make them of the original's rows, everything else unchanged
if "$py" -c 'import numpy' 2>/dev/null; then
    for pair in "hfdir-bf16 hfdir" "hfdir-q8_0 hfdir" "hfdir-q4_0 hfdir" "gpt2-q8_0 tests/fixtures/hf_models/gpt2" "gpt2-q4_0 tests/fixtures/hf_models/gpt2"; do
        set -- $pair
        m=$2; [ "$m" = hfdir ] && m="$tmp/hfdir"
        if "$py" tests/quant_dir_reader.py "$tmp/$1" "$m" >"$tmp/out" 2>&1 && grep -q " 0 failed" "$tmp/out"; then passed=$((passed + 1)); else
            failed=$((failed + 1)); echo "FAIL: quant_dir_reader.py $1:"; grep -v '^ok' "$tmp/out" | head -5; fi
    done
fi
expect 0 "loss" -- "$B/it-eval" --model "$tmp/hfdir-q8_0" --ids 1,2,3,4,5 --logits-out "$tmp/q.npy"
expect 0 "matrices q8_0" -- "$B/it-quantize" --model "$tmp/run" --type q8_0 --out "$tmp/run-q"
expect 0 "matrices q4_0" -- "$B/it-quantize" --model "$tmp/run-q" --type q4_0 --out "$tmp/run-q" # replaces its own output
expect 2 "--type 'q5_1' is not one of" -- "$B/it-quantize" --model "$tmp/run" --type q5_1 --out "$tmp/x"
expect 2 "are required" -- "$B/it-quantize" --model "$tmp/run" --type q8_0
expect 2 "unknown flag '--bogus'" -- "$B/it-quantize" --model "$tmp/run" --type q8_0 --out "$tmp/x" --bogus 1
mkdir -p "$tmp/mine" && printf 'int main;' >"$tmp/mine/main.c"
expect 1 "main.c" -- "$B/it-quantize" --model "$tmp/run" --type q8_0 --out "$tmp/mine"
if [ "$(cat "$tmp/mine/main.c")" = "int main;" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: it-quantize replaced a user's file"; fi
expect 1 "not a multiple of q8_0's block of 32" -- "$B/it-quantize" --model "$tmp/split-lion" --type q8_0 --out "$tmp/x"
expect 1 "nowhere" -- "$B/it-quantize" --model "$tmp/nowhere" --type q8_0 --out "$tmp/x"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
