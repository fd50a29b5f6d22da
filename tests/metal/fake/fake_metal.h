/* fake_metal.h - Metal, MPS and Foundation look-alike classes on GCC's libobjc (Linux tests only).

   fake_metal_install() registers classes under the names the backend looks up (NSString,
   MTLCompileOptions, MPSMatrix, ...) plus the device, queue, command buffer, encoder, buffer,
   library, function and pipeline classes MTLCreateSystemDefaultDevice hands out. Their methods
   validate like Metal's API validation layer and execute kernels through the MSL emulator
   (itemu), deferred to waitUntilCompleted in queue order; MPS matmuls run a CPU GEMM.
   Every method's C type is checked at compile time against irontensor_metal.h's message table.
   Validation failures are counted and printed as "fake-metal VALIDATION: ..." lines. */
#ifndef FAKE_METAL_H
#define FAKE_METAL_H
#include <stddef.h>

typedef struct fake_metal_counters {
    unsigned long command_buffers, dispatches, buffer_allocs, mps_encodes;
    unsigned long waits; /* waitUntilCompleted calls: each is a CPU stall on a real GPU */
} fake_metal_counters;

typedef struct fake_metal_config {
    int no_device;            /* MTLCreateSystemDefaultDevice returns nil */
    const char *compile_error;/* newLibraryWithSource fails with this log */
    long fail_dispatch;       /* > 0: the n-th executed dispatch from now fails (GPU error) */
    unsigned long max_threads;/* pipelines' maxTotalThreadsPerThreadgroup (0 = 1024) */
    int quiet;                /* do not print validation messages (negative tests count them) */
    unsigned long simd_width; /* pipelines' threadExecutionWidth (0 = 32, Apple GPUs; AMD: 64, Intel: 8/16) */
    int apple_family;         /* highest MTLGPUFamilyAppleN the device supports (0 = 9, an M3; -1 = none) */
    unsigned long max_language;/* newest MTLLanguageVersion the OS compiles (0 = any; 0x30000: macOS 13, no MSL 3.1) */
} fake_metal_config;

int fake_metal_install(void);
/* autorelease pools open right now (the host's and the library's): a public function of the
   library must return with the depth it was called with */
int fake_metal_pool_depth(void);
/* the MTLLanguageVersion of the last newLibraryWithSource: (0 = no options) */
unsigned long fake_metal_last_language(void);
unsigned long fake_metal_prev_language(void); /* ... of the one before it */
fake_metal_config *fake_metal_config_get(void);
fake_metal_counters fake_metal_counters_get(void);
int fake_metal_validation_errors(void);
const char *fake_metal_last_validation(void);
/* objects created and not yet deallocated; the classes of (up to 8 of) them into buf */
int fake_metal_live_objects(char *buf, size_t size);
/* kernels of shaders/ (the emulator's registry) that no dispatch has used so far: their number,
   their names into buf; *total = how many kernels shaders/ has */
int fake_metal_undispatched_kernels(int *total, char *buf, size_t size);
/* dispatches of the kernel so far (0 for a name the emulator does not know) */
unsigned long fake_metal_kernel_dispatches(const char *name);
#endif
