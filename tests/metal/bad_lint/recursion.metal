// Must be rejected by mslprep: MSL has no recursion.
#include <metal_stdlib>
using namespace metal;
inline uint itbad_fact(uint n) { return n ? n * itbad_fact(n - 1) : 1; }
kernel void itbad_lint_1(device uint *o [[buffer(0)]]) { o[0] = itbad_fact(5); }
