#!/bin/sh
# train_fake.sh BIN - build/train on fake Metal (BIN, tests/metal/fake/train_fake.c) against the
# same program on the CPU: every progress line (step, loss, val, lr, norm) must be the same. On
# Metal the optimizer is queued without a wait and the gradient norm arrives at the next wait, so
# build/train prints such a step's line after the next step's first run (or synchronizes at the
# last step); a norm printed before it arrived would read "nan" here. A diverging run stops on
# both with the reason.
set -e
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp README.md "$tmp/data.txt" # text, no corpus needed
args="--data data.txt --dim 32 --layers 1 --heads 2 --ffn 32 --batch 2 --seq 16 --eval-batches 1 --threads 1 --steps 5"
fail=0
for every in 1 3; do
    (cd "$tmp" && "$bin" $args --log-every $every >cpu.out 2>cpu.err) || { cat "$tmp/cpu.err"; exit 1; }
    (cd "$tmp" && "$bin" $args --log-every $every --backend metal >metal.out 2>metal.err) || { cat "$tmp/metal.err"; exit 1; }
    for s in cpu metal; do # the lines without the speed and memory figures
        sed -n 's/^\(step [0-9]*\/[0-9]* loss .* norm [^ ]*\) .*/\1/p' "$tmp/$s.out" >"$tmp/$s.lines"
    done
    want=$([ $every = 1 ] && echo 5 || echo 3) # --log-every 3: steps 1, 3 and the last
    if [ "$(wc -l <"$tmp/cpu.lines")" -ne "$want" ] || grep -q nan "$tmp/metal.lines" || ! cmp -s "$tmp/cpu.lines" "$tmp/metal.lines"; then
        echo "FAIL: build/train --backend metal (fake) --log-every $every: progress lines differ from the CPU's (want $want):"
        diff "$tmp/cpu.lines" "$tmp/metal.lines" || true
        fail=1
    else
        echo "fake-metal train --log-every $every: $want progress lines equal to the CPU's, e.g. '$(tail -1 "$tmp/metal.lines")'"
    fi
done
# a diverging run (lr 1e30: step 2's gradient is not finite): the CPU stops at its step 2's
# it_optimizer_step, Metal at the next wait (step 3's run) with the GPU's skip; both exit 1
for s in cpu metal; do
    code=0
    (cd "$tmp" && "$bin" $args --lr 1e30 --warmup 0 --backend $s >$s.out 2>$s.err) || code=$?
    if [ $code -ne 1 ] || ! grep -q "diverged" "$tmp/$s.err" || { [ $s = metal ] && ! grep -q "skipped on the GPU" "$tmp/$s.err"; }; then
        echo "FAIL: build/train --backend $s, a diverging run: exit $code (want 1), the divergence named:"
        cat "$tmp/$s.err"
        fail=1
    else
        echo "fake-metal train diverging --backend $s: exit 1, $(grep diverged "$tmp/$s.err")"
    fi
done
exit $fail
