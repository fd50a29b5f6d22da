#!/bin/bash
# Our GGUF exports in real llama.cpp (issue 14), when given a llama.cpp build:
#   bash benchmarks/llamacpp_check.sh LLAMA_BUILD_DIR [BUILD] [--speed [PAIRS]] [--models "LIST"]
# LLAMA_BUILD_DIR is a CMake build of llama.cpp with shared libraries (bin/libllama.so; the source
# tree is read from its CMakeCache.txt), e.g.
#   cmake -S llama.cpp -B llama.cpp/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON
#   cmake --build llama.cpp/build -j2 --target llama-bench llama-simple
# Without one it prints a notice and exits 0 (nothing of llama.cpp is needed by the library).
#
# Two models, each exported by build/it-export-gguf at f32, f16, q8_0 and q4_0:
#   shake: a byte-level model trained here by build/train on tinyshakespeare (dim 128, 4 layers);
#          the prompt is text, tokenized by llama.cpp and by our reader of the file's tokenizer;
#   s135:  SmolLM2-135M's shape (30 layers, dim 576, 9/3 heads, ffn 1536, vocab 49152, tied),
#          one training step on random token ids (near-random weights), with the byte-level BPE
#          of a tiny build/train run beside it so the file carries a tokenizer (llama.cpp needs
#          one): 512 tokens, padded to the 49152 rows with unused [PADi] tokens; ids as the prompt.
# Five more made by benchmarks/llamacpp_models.py with transformers, tokenizers and sentencepiece
# (python3 with them, or $PY; their names in LIST, default all: shake s135 spm spmjson l3 qwen2 qwen3 conv),
# each exported at f32, q8_0 and q4_0 and compared on a text prompt, with the chat template
# llama.cpp reads (llama_model_chat_template) required to be the directory's chat_template.jinja:
#   spm:   Llama with a SentencePiece BPE tokenizer trained by sentencepiece (GGUF's `llama` model),
#          through the tokenizer.json transformers makes of its tokenizer.model; and ~280 texts
#          (tests/fixtures/hf_tokenizers/cases.json and lines of the data) tokenized by llama.cpp
#          and by our reader, which must agree on every one (llamacpp_compare --cases; how many give
#          sentencepiece's own ids is reported: the converter writes add_space_prefix false from
#          transformers 5's "add_prefix_space": null, so llama.cpp drops sentencepiece's dummy prefix);
#   spmjson: Llama with tests/fixtures/gguf_spm's Llama-2-style tokenizer.json (Prepend + Replace),
#          which our exporter writes as `llama` (transformers 5 writes spm's as Metaspace, refused);
#   l3:    Llama with Llama 3.1's llama3 rope scaling (our rope_freqs.weight), the llama3 tokenizer;
#   qwen2, qwen3: the qwen2 / qwen3 architectures, the qwen2 tokenizer.
#   conv:  spm converted by llama.cpp's own convert_hf_to_gguf.py (f32, q8_0) and read by ours.
# With FIXTURE_OUT=DIR, DIR receives what tests/fixtures/gguf_spm_real is made of (the converter's
# f32 file, sentencepiece's ids, transformers' logits, the tokenizer files).
# build/llamacpp_compare (benchmarks/llamacpp_compare.c, built here against libllama) loads each
# file in both, feeds both the same tokens (the prompt, then our greedy picks) and compares the
# logits at every step. Passes when llama.cpp loads every file, the tokenizers agree, and the
# largest logit difference over all steps, relative to the logits' range, is within the type's
# tolerance (f32: 1e-4, float rounding of two different summation orders; f16: 1e-2, llama.cpp
# multiplies f16-rounded activations, ours reads F16 files into f32; q8_0 / q4_0: 2e-2, llama.cpp
# keeps the int8 activations' block scale in fp16, ours in f32). Greedy agreement is printed
# (agree=K of steps=N, and the margin where they part).
#
# --speed: then whole-model decode speed on the 135M-shaped files (q8_0, q4_0, f32), one and two
# threads: llama.cpp's own llama-bench (-p 0 -n 64 -r 1: 64 tokens from an empty context, after its
# warm-up; its defaults otherwise: F16 K/V cache, Q4_0 repacked at load where its CPU backend
# does that) against our decoder on the same file (llamacpp_compare --time: a 1-token prompt, then
# 64 greedy single-token steps timed; F32 K/V cache), PAIRS (default 3) pairs run A B A B ...,
# medians and min-max; one line per file and thread count:
#   llamacpp_speed file=F threads=T ours_tok_s=M ours_min=.. ours_max=.. llama_tok_s=M llama_min=.. llama_max=.. ratio=ours/llama
# The load average is printed before and after: on a shared machine the figures move with it.
set -u
LLAMA_BUILD=
BUILD=build
SPEED=0
PAIRS=3
MODELS="shake s135 spm spmjson l3 qwen2 qwen3 conv"
PY=${PY:-python3}
while [ $# -gt 0 ]; do
    case $1 in
    --speed) SPEED=1; if [ $# -gt 1 ] && [ "$2" -eq "$2" ] 2>/dev/null; then PAIRS=$2; shift; fi ;;
    --models) MODELS=$2; shift ;;
    *) if [ -z "$LLAMA_BUILD" ]; then LLAMA_BUILD=$1; else BUILD=$1; fi ;;
    esac
    shift
done
if [ -z "$LLAMA_BUILD" ] || [ ! -f "$LLAMA_BUILD/bin/libllama.so" ] || [ ! -f "$LLAMA_BUILD/CMakeCache.txt" ]; then
    echo "llamacpp_check: skipped (give a llama.cpp CMake build directory with bin/libllama.so: bash $0 LLAMA_BUILD_DIR)"
    exit 0
fi
LLAMA_SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$LLAMA_BUILD/CMakeCache.txt")
if [ ! -f "$LLAMA_SRC/include/llama.h" ]; then
    echo "llamacpp_check: $LLAMA_BUILD/CMakeCache.txt names source $LLAMA_SRC, which has no include/llama.h"
    exit 1
fi
LLAMA_COMMIT=${LLAMA_COMMIT:-$(git -C "$LLAMA_SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)}
set -e
make -s "$BUILD/train" "$BUILD/it-export-gguf" "$BUILD/generate"
cc -O2 -std=gnu11 -D_DEFAULT_SOURCE -Wall -Wextra -I. -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" \
    benchmarks/llamacpp_compare.c -o "$BUILD/llamacpp_compare" \
    -L"$LLAMA_BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$(cd "$LLAMA_BUILD/bin" && pwd)" -lm -lpthread
set +e

DATA=${DATA:-../shared/data/tinyshakespeare.txt}
WORK=$(mktemp -d /tmp/llamacpp_check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail=0
echo "llamacpp_check: llama.cpp $LLAMA_COMMIT ($LLAMA_SRC), CPU; work in $WORK"

want() { case " $MODELS " in *" $1 "*) return 0 ;; esac; return 1; }
want shake && { "$BUILD/train" --data "$DATA" --dim 128 --layers 4 --heads 4 --ffn 384 --batch 8 --seq 128 --steps 400 --lr 2e-3 \
    --threads 1 --save "$WORK/shake" > "$WORK/train_shake.log" 2>&1 || { tail -5 "$WORK/train_shake.log"; exit 1; }; }
if want s135; then
python3 -c "
import random, array
random.seed(1)
open('$WORK/random_ids.bin', 'wb').write(array.array('H', [random.randrange(49152) for _ in range(4096)]).tobytes())"
"$BUILD/train" --data "$WORK/random_ids.bin" --vocab 49152 --dim 576 --layers 30 --heads 9 --kv-heads 3 --ffn 1536 \
    --batch 1 --seq 16 --steps 1 --threads 1 --eval-every 0 --eval-batches 1 --save "$WORK/s135" > "$WORK/train_s135.log" 2>&1 ||
    { tail -5 "$WORK/train_s135.log"; exit 1; }
rm -f "$WORK/s135/optimizer.safetensors"
"$BUILD/train" --data "$DATA" --tokenizer bpe --vocab 512 --dim 32 --layers 1 --heads 2 --ffn 64 --batch 1 --seq 16 --steps 1 \
    --threads 1 --eval-every 0 --eval-batches 1 --save "$WORK/bpe512" > "$WORK/train_bpe.log" 2>&1 || { tail -5 "$WORK/train_bpe.log"; exit 1; }
cp "$WORK/bpe512/tokenizer.bin" "$WORK/s135/"
fi
if want spm || want spmjson || want l3 || want qwen2 || want qwen3 || want conv; then
    "$PY" benchmarks/llamacpp_models.py "$WORK" "$DATA" "$WORK/fixture" > "$WORK/models.log" 2>&1 ||
        { tail -20 "$WORK/models.log"; exit 1; }
    sed 's/^/  /' "$WORK/models.log"
fi

compare() { # compare FILE TOLERANCE ARGS...: one llamacpp_compare run on WORK/FILE, judged
    local file=$1 tol=$2 out line cases
    shift 2
    out=$("$BUILD/llamacpp_compare" "$WORK/$file" "$@" 2>&1)
    line=$(echo "$out" | grep '^llamacpp_check ')
    if [ -z "$line" ]; then
        echo "FAIL $file: $out"
        fail=1
        return
    fi
    echo "$out" | grep -v '^llamacpp_check \|^llamacpp_cases ' | sed 's/^/  /'
    cases=$(echo "$out" | grep '^llamacpp_cases ')
    [ -z "$cases" ] || echo "$cases" | sed "s|$WORK/||"
    echo "$line" | sed "s|$WORK/||"
    if ! echo "$line" | awk -v tol="$tol" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            exit !(v["rel_max_diff"] + 0 <= tol + 0 && v["tokenize_equal"] != "0" && v["chat_template_equal"] != "0") }'; then
        echo "FAIL $file: logits differ by more than $tol of their range, the tokenizers or the chat templates disagree"
        fail=1
    fi
    if [ -n "$cases" ] && ! echo "$cases" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            exit !(v["ours_llama_equal"] == v["cases"]) }'; then
        echo "FAIL $file: our tokenizer differs from llama.cpp's"
        fail=1
    fi
}
check() { # check MODEL TYPE TOLERANCE ARGS...: our export of WORK/MODEL at TYPE, compared
    local model=$1 type=$2 tol=$3
    shift 3
    "$BUILD/it-export-gguf" --model "$WORK/$model" --type "$type" --out "$WORK/$model-$type.gguf" > "$WORK/export.log" 2>&1 ||
        { echo "FAIL $model $type: it-export-gguf: $(tail -3 "$WORK/export.log")"; fail=1; return; }
    compare "$model-$type.gguf" "$tol" "$@"
}
for t in f32 f16 q8_0 q4_0; do
    case $t in f32) tol=1e-5 ;; f16) tol=2e-3 ;; *) tol=2e-2 ;; esac
    want shake && check shake $t $tol --prompt "ROMEO:
What say you, my lord?" --new 48 --threads 1
    want s135 && check s135 $t $tol --ids 1,2,3,4,5 --new 16 --threads 1
    [ $t = f16 ] && continue
    if want spm; then # transformers 5 writes spm's tokenizer.json with a Metaspace pre-tokenizer: refused by name
        if "$BUILD/it-export-gguf" --model "$WORK/spm" --type $t --out "$WORK/spm-$t.gguf" > "$WORK/export.log" 2>&1; then
            compare spm-$t.gguf $tol --prompt "$(cat "$WORK/spm/prompt.txt")" --template "$WORK/spm/chat_template.jinja" \
                --cases "$WORK/fixture/cases.txt" --new 16 --threads 1
        elif grep -q "Metaspace and other set-ups are not exported" "$WORK/export.log"; then
            echo "spm $t: it-export-gguf refuses transformers' Metaspace tokenizer.json, as documented"
        else
            echo "FAIL spm $t: it-export-gguf: $(tail -3 "$WORK/export.log")"
            fail=1
        fi
    fi
    for m in spmjson l3 qwen2 qwen3; do
        want $m && check $m $t $tol --prompt "$(cat "$WORK/$m/prompt.txt")" --template "$WORK/$m/chat_template.jinja" \
            --new 16 --threads 1
    done
done
if want conv; then # spm as llama.cpp's own converter writes it, read by ours
    for t in f32 q8_0; do
        case $t in f32) tol=1e-5 ;; *) tol=2e-2 ;; esac
        if "$PY" "$LLAMA_SRC/convert_hf_to_gguf.py" "$WORK/spm" --outtype $t --outfile "$WORK/spm-conv-$t.gguf" \
            > "$WORK/convert-$t.log" 2>&1; then
            compare spm-conv-$t.gguf $tol --prompt "$(cat "$WORK/spm/prompt.txt")" --template "$WORK/spm/chat_template.jinja" \
                --cases "$WORK/fixture/cases.txt" --new 16 --threads 1
        else
            echo "FAIL convert_hf_to_gguf.py spm --outtype $t:"; tail -15 "$WORK/convert-$t.log"; fail=1
        fi
    done
    if [ -n "${FIXTURE_OUT:-}" ] && [ -f "$WORK/spm-conv-f32.gguf" ]; then
        mkdir -p "$FIXTURE_OUT"
        cp "$WORK/spm-conv-f32.gguf" "$WORK/fixture/cases.txt" "$WORK/fixture/logits.txt" "$WORK/spm/tokenizer.model" \
            "$WORK/spm/tokenizer_config.json" "$WORK/spm/config.json" "$WORK/convert-f32.log" "$FIXTURE_OUT/"
        [ -f "$WORK/spm/tokenizer.json" ] && cp "$WORK/spm/tokenizer.json" "$FIXTURE_OUT/"
    fi
fi
if [ $fail = 0 ]; then echo "llamacpp_check: passed"; else echo "llamacpp_check: FAILED"; fi
[ $SPEED = 1 ] || exit $fail

median_min_max() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f %.2f %.2f", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
echo
echo "llamacpp_speed: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$LLAMA_BUILD/bin/llama-bench" -m "$WORK/s135-q4_0.gguf" -p 0 -n 1 -r 1 -t 1 -v 2>&1 | grep -i -m3 'repack\|CPU_REPACK' |
    sed 's/^/  llama.cpp q4_0 load: /'
for t in q8_0 q4_0 f32; do
    [ -f "$WORK/s135-$t.gguf" ] || "$BUILD/it-export-gguf" --model "$WORK/s135" --type $t --out "$WORK/s135-$t.gguf" > /dev/null
    for threads in 1 2; do
        : > "$WORK/ours.txt"
        : > "$WORK/llama.txt"
        for p in $(seq "$PAIRS"); do
            "$LLAMA_BUILD/bin/llama-bench" -m "$WORK/s135-$t.gguf" -p 0 -n 64 -r 1 -t $threads -o csv 2> /dev/null |
                awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "avg_ts") c = i } NR == 2 { gsub(/"/, "", $c); print $c }' \
                    >> "$WORK/llama.txt"
            "$BUILD/llamacpp_compare" "$WORK/s135-$t.gguf" --time --ids 1 --new 64 --threads $threads |
                sed -n 's/^ours_decode .* tok_s=\([0-9.]*\)$/\1/p' >> "$WORK/ours.txt"
        done
        if [ "$(wc -l < "$WORK/ours.txt")" != "$PAIRS" ] || [ "$(wc -l < "$WORK/llama.txt")" != "$PAIRS" ]; then
            echo "FAIL speed $t threads $threads: a run gave no figure"
            fail=1
            continue
        fi
        read -r om omin omax <<< "$(median_min_max < "$WORK/ours.txt")"
        read -r lm lmin lmax <<< "$(median_min_max < "$WORK/llama.txt")"
        echo "llamacpp_speed file=s135-$t.gguf threads=$threads ours_tok_s=$om ours_min=$omin ours_max=$omax" \
            "llama_tok_s=$lm llama_min=$lmin llama_max=$lmax ratio=$(awk -v a="$om" -v b="$lm" 'BEGIN { printf "%.2f", a / b }')"
    done
done
echo "llamacpp_speed: load $(cut -d' ' -f1-3 /proc/loadavg); ours: $(git rev-parse --short HEAD 2>/dev/null || echo unknown), llama.cpp $LLAMA_COMMIT"
exit $fail
