#!/usr/bin/env bash
# tests/cuda/generate_compare.sh BUILD - build/generate --backend cuda against --backend cpu: for
# fixture models of each architecture, greedy and sampled, f32 and quantised weights, the generated
# ids are equal; a LoRA adapter on the GPU decoder is a clear error. make test-cuda runs it on the
# fake driver (its shared-library build first on LD_LIBRARY_PATH), tests/cuda/decode_device.sh on a
# real GPU. Ends with "N passed, N failed".
set -u
B=${1:-build}
F=tests/fixtures/hf_models
pass=0; fail=0
same_ids() { # NAME ARGS...: the ids of --backend cuda equal those of --backend cpu
  local name=$1; shift
  local cpu cuda
  cpu=$("$B/generate" --backend cpu "$@" --print-ids 2>/dev/null)
  cuda=$("$B/generate" --backend cuda "$@" --print-ids 2>"$B/generate_compare.err")
  if [ -n "$cpu" ] && [ "$cpu" = "$cuda" ]; then pass=$((pass + 1)); echo "generate_compare: $name: $cuda"
  else fail=$((fail + 1)); echo "FAIL: generate_compare: $name: cpu '$cpu' cuda '$cuda' ($(tail -1 "$B/generate_compare.err"))"; fi
}
for m in gpt2 qwen3 mistral_window llama_llama3; do
  same_ids "$m greedy" --model "$F/$m" --ids 1,2,3 --greedy --max-new-tokens 8 --ignore-eos
done
same_ids "qwen2 sampled" --model "$F/qwen2" --ids 3,1,4 --temperature 0.9 --top-k 6 --top-p 0.9 --repeat-penalty 1.2 --seed 7 \
  --max-new-tokens 8 --ignore-eos
same_ids "gpt2 q8_0" --model "$F/gpt2" --ids 1,2,3 --greedy --quant q8_0 --max-new-tokens 6 --ignore-eos
same_ids "qwen3 q4_0 sampled" --model "$F/qwen3" --ids 5,6 --temperature 0.7 --seed 2 --quant q4_0 --max-new-tokens 6 --ignore-eos
msg=$("$B/generate" --backend cuda --model "$F/gpt2" --adapter tests/fixtures/peft/gpt2_all --ids 1,2 --greedy --max-new-tokens 3 2>&1)
rc=$?
if [ $rc = 1 ] && printf '%s' "$msg" | grep -q "cuda decoder: a LoRA adapter is attached; merge it first"; then
  pass=$((pass + 1)); echo "generate_compare: a LoRA adapter: exit 1, $msg"
else fail=$((fail + 1)); echo "FAIL: generate_compare: a LoRA adapter on the GPU decoder: exit $rc, '$msg'"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
