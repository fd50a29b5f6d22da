// Must be rejected by mslprep: fast math may fold -INFINITY comparisons away; use -FLT_MAX.
#include <metal_stdlib>
using namespace metal;
kernel void itbad_lint_2(device float *o [[buffer(0)]]) { o[0] = -INFINITY; }
