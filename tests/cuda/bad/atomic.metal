// must be refused: atomics are not translated (write a CUDA kernel instead)
#include <metal_stdlib>
using namespace metal;
kernel void bad_atomic(device atomic_uint *count [[buffer(0)]], uint i [[thread_position_in_grid]]) {
    atomic_fetch_add_explicit(count, i, memory_order_relaxed);
}
