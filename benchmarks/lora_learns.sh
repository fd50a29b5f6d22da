#!/usr/bin/env bash
# "It learns" (README "Fine-tuning"): a LoRA fine-tune of a model build/train made on
# tinyshakespeare, on question -> answer pairs templated over the corpus's lines
# (benchmarks/shakespeare_qa.py: "Which word opens this line?", or TASK=follows: "Which word
# follows X in it?"), with the masked validation loss before and during training and the answers
# build/generate --adapter gives.
# Usage: benchmarks/lora_learns.sh BUILD_DIR [OUT_DIR] (THREADS=N, CORPUS=PATH, STEPS=N, TASK=first|follows)
#   1. base: Llama, BPE 1024, dim 192, 4 layers, 6 heads, ffn 512 (2.0M parameters), 800 steps
#      of batch 16 x 128 tokens of tinyshakespeare (build/train --save: a Hugging Face layout);
#   2. 4000 training pairs from the corpus's first 90% of lines, 200 validation pairs from the
#      last 10% (lines never seen in fine-tuning); the answer is in the prompt's line, so it is a
#      reading (copying) task, not a memory one;
#   3. build/finetune: LoRA r 16, alpha 32, all seven projections, --mask-prompt (loss on the
#      answer only), --pack (about 6 examples a row of 256), batch 8, AdamW lr 2e-3, STEPS steps,
#      validation every 50 steps;
#   4. on the first 100 validation prompts, greedy, 4 new tokens: how often the reply begins
#      with the answer, and how often its first word is the answer exactly (the byte-level BPE
#      tokenizer has no end-of-text token, so the model was never taught to stop after it), the
#      base alone and with the adapter.
set -eu
B=${1:-build}
out=${2:-$(mktemp -d)}
THREADS=${THREADS:-2}
STEPS=${STEPS:-300}
TASK=${TASK:-first}
corpus=${CORPUS:-../shared/data/tinyshakespeare.txt}
[ -f "$corpus" ] || { echo "no corpus at $corpus (set CORPUS=tinyshakespeare.txt)"; exit 1; }
mkdir -p "$out"
if [ ! -f "$out/base/model.safetensors" ]; then
    "$B/train" --data "$corpus" --tokenizer bpe --vocab 1024 --dim 192 --layers 4 --heads 6 --kv-heads 6 --ffn 512 \
        --max-seq 256 --batch 16 --seq 128 --steps 800 --lr 2e-3 --warmup 40 --eval-every 200 --eval-batches 4 \
        --log-every 100 --threads "$THREADS" --save "$out/base" >"$out/base.log" 2>&1
fi
grep '^final' "$out/base.log" | sed 's/^/base: /'
python3 benchmarks/shakespeare_qa.py "$corpus" "$out" 4000 200 "$TASK"
"$B/finetune" --model "$out/base" --data "$out/train.jsonl" --valid "$out/valid.jsonl" --mask-prompt --pack --seq 256 \
    --batch 8 --steps "$STEPS" --lr 2e-3 --warmup 20 --eval-every 50 --log-every 50 --threads "$THREADS" \
    --lora-rank 16 --lora-alpha 32 --lora-targets all-linear --save "$out/adapter" >"$out/finetune.log" 2>"$out/finetune.err"
grep '^data: --pack' "$out/finetune.err"
grep 'val_loss=' "$out/finetune.log" | sed 's/ lr .*step_ms/ step_ms/; s/ [0-9]*m[0-9]*s mem.*//'
python3 - "$B" "$out" <<'PY'
import json, subprocess, sys
build, out = sys.argv[1], sys.argv[2]
pairs = [json.loads(l) for l in open(out + "/valid.jsonl")][:100]
def answers(adapter):
    got = []
    for p in pairs:
        cmd = [build + "/generate", "--model", out + "/base", "--prompt", p["prompt"], "--max-new-tokens", "4", "--greedy",
               "--threads", "1"] + (["--adapter", out + "/adapter"] if adapter else [])
        got.append(subprocess.run(cmd, capture_output=True, text=True).stdout[len(p["prompt"]):])
    return got
for adapter in (False, True):
    got = answers(adapter)
    begins = sum(t.startswith(p["completion"]) for t, p in zip(got, pairs))
    exact = sum((t.split() or [""])[0].strip(".,;:!?'\"") == p["completion"].strip() for t, p in zip(got, pairs))
    print("%s: the reply begins with the answer %d of %d, its first word is the answer %d of %d"
          % ("with the adapter" if adapter else "base alone", begins, len(pairs), exact, len(pairs)))
    for t, p in list(zip(got, pairs))[:4]:
        print("    %-56s -> %-16r (want %r)" % (p["prompt"].split("\n")[0][:56], t, p["completion"]))
PY
