// Must be rejected: threadgroup memory passed where a thread pointer is expected.
#include <metal_stdlib>
using namespace metal;
inline float itbad_first(thread float *p) { return p[0]; }
kernel void itbad_as_3(device float *x [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {
    threadgroup float s[32];
    s[tid] = x[tid];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    x[tid] = itbad_first(s);
}
