// Must be rejected by mslprep: there is no std:: in MSL.
#include <metal_stdlib>
using namespace metal;
kernel void itbad_lint_3(device float *o [[buffer(0)]]) { o[0] = std::max(o[0], 1.0f); }
