#!/usr/bin/env bash
# The documentation's example program is a real program: the README's marked c block and the
# header's EXAMPLE are extracted, must be the same text, must compile as C99 with -pedantic -Werror,
# and must run and print the loss and gradient that examples/autograd.c prints (which also checks
# the gradient by hand).
# Usage: tests/docs_test.sh BUILD_DIR (BUILD_DIR/autograd built). Ends with "N passed, N failed".
set -u
B=${1:-build}
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { # check CONDITION_EXIT_CODE "what" [detail]
    if [ "$1" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $2${3:+: $3}"; fi
}

# README: the first ```c block after the docs-example marker
awk '/<!-- docs-example/ {armed = 1; next}
     armed && /^```c$/ {inside = 1; next}
     inside && /^```$/ {exit}
     inside {print}' README.md >"$tmp/readme.c"
# irontensor.h: the lines after "EXAMPLE:" (and its wrapped title line) up to the next section
# title, less the 9 spaces of indentation; trailing blank lines dropped
awk '/^   EXAMPLE:/ {inside = 1; next}
     inside && /^   [A-Z]+$/ {exit}
     inside && /^         / {print substr($0, 10); next}
     inside && /^$/ {print; next}' irontensor.h | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$tmp/header.c"

test -s "$tmp/readme.c" && grep -q "int main" "$tmp/readme.c"
check $? "README.md has a docs-example c block with a main()"
test -s "$tmp/header.c" && grep -q "int main" "$tmp/header.c"
check $? "irontensor.h's EXAMPLE has a main()"
diff -u "$tmp/readme.c" "$tmp/header.c" >"$tmp/diff"
check $? "the header's EXAMPLE is the README's program" "$(head -20 "$tmp/diff")"

for which in readme header; do
    if $CC -std=c99 -pedantic -Wall -Wextra -Werror -I. "$tmp/$which.c" -o "$tmp/$which" -lm -lpthread 2>"$tmp/$which.err"; then
        check 0 "$which example compiles"
        "$tmp/$which" >"$tmp/$which.out" 2>&1
        check $? "$which example exits 0" "$(head -3 "$tmp/$which.out")"
    else
        check 1 "$which example compiles" "$(head -10 "$tmp/$which.err")"
    fi
done

# the numbers: "loss L, dL/dw[0][0] G" against build/autograd's "loss L" and "dL/dw[0][0] = G (by hand: H)"
"$B/autograd" >"$tmp/autograd.out" 2>&1
check $? "$B/autograd runs"
want_loss=$(sed -n 's/^loss \([-0-9.]*\)$/\1/p' "$tmp/autograd.out")
want_grad=$(sed -n 's/^dL\/dw\[0\]\[0\] = \([-0-9.]*\) (by hand: \([-0-9.]*\))$/\1/p' "$tmp/autograd.out")
by_hand=$(sed -n 's/^dL\/dw\[0\]\[0\] = \([-0-9.]*\) (by hand: \([-0-9.]*\))$/\2/p' "$tmp/autograd.out")
awk -v g="$want_grad" -v h="$by_hand" 'BEGIN { d = g - h; if (d < 0) d = -d; exit !(g != "" && d <= 1e-5 * (h < 0 ? -h : h) + 1e-6) }'
check $? "examples/autograd.c: the gradient matches the one worked out by hand" "$want_grad vs $by_hand"
got=$(cat "$tmp/readme.out" 2>/dev/null)
test -n "$want_loss" && test "$got" = "loss $want_loss, dL/dw[0][0] $want_grad"
check $? "the README program prints examples/autograd.c's loss and gradient" "'$got' vs loss $want_loss, grad $want_grad"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
