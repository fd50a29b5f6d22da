// Must be rejected by mslprep: MSL has no double.
#include <metal_stdlib>
using namespace metal;
kernel void itbad_lint_4(device float *o [[buffer(0)]]) { double d = o[0]; o[0] = (float)(d * 2.0); }
