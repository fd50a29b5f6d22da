// Must be rejected: a constant pointer passed to a device-pointer parameter.
#include <metal_stdlib>
using namespace metal;
inline void itbad_store(device float *p, float v) { p[0] = v; }
kernel void itbad_as_5(constant float *c [[buffer(0)]], device float *o [[buffer(1)]]) {
    itbad_store(c, o[0]);
}
