#!/usr/bin/env bash
# The table of contents at the top of irontensor.h lists every section banner, in file order:
# the declaration banners ("   >>name  ..." in the declarations' comment blocks) and the
# implementation banners ("/* >>name ..."). Usage: tests/banners_test.sh [HEADER]. Exit 1 on drift.
set -u
h=${1:-irontensor.h}
impl_start=$(grep -n '^#ifdef IRONTENSOR_IMPLEMENTATION' "$h" | head -1 | cut -d: -f1)
toc=$(sed -n '/^   SECTIONS/,/^$/p' "$h")
toc_decl=$(printf '%s\n' "$toc" | sed -n '/declarations/,/implementation/p' | sed '$d' | grep -o '>>[a-z_0-9]*' | tr '\n' ' ')
toc_impl=$(printf '%s\n' "$toc" | sed -n '/implementation/,$p' | grep -o '>>[a-z_0-9]*' | tr '\n' ' ')
code_decl=$(head -n "$impl_start" "$h" | grep -o '^   >>[a-z_0-9]*' | sed 's/^ *//' | tr '\n' ' ')
code_impl=$(tail -n "+$impl_start" "$h" | grep -o '^/\* >>[a-z_0-9]*' | sed 's#^/\* ##' | tr '\n' ' ')
status=0
if [ "$toc_decl" != "$code_decl" ]; then
    echo "FAIL: the declarations in the table of contents"; echo "  listed: $toc_decl"; echo "  in file: $code_decl"; status=1; fi
if [ "$toc_impl" != "$code_impl" ]; then
    echo "FAIL: the implementation in the table of contents"; echo "  listed: $toc_impl"; echo "  in file: $code_impl"; status=1; fi
[ $status = 0 ] && echo "banners ok: $(echo $code_decl | wc -w) declaration and $(echo $code_impl | wc -w) implementation sections listed in order"
exit $status
