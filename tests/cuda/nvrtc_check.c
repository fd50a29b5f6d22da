/* nvrtc_check.c - compiles the translated kernels (shaders_cuda.h) with NVRTC, no GPU needed:
   the exact compile irontensor_cuda.h does at backend creation, for a chosen architecture.
     build/cuda/nvrtc_check [sm_90]      exit 0: compiled; 1: NVRTC's log; 77: no libnvrtc here */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shaders/it_kernel_args.h"
#include "shaders_cuda.h"

typedef int (*create_fn)(void **, const char *, const char *, int, const char *const *, const char *const *);
typedef int (*compile_fn)(void *, int, const char *const *);
typedef int (*size_fn)(void *, size_t *);
typedef int (*get_fn)(void *, char *);

int main(int argc, char **argv) {
    const char *names[] = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "/usr/local/cuda/lib64/libnvrtc.so"};
    void *lib = NULL, *prog = NULL;
    char arch[64], *src, *log;
    const char *opts[4];
    size_t total = 0, i, len;
    int r;
    for (i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW);
    if (!lib) {
        printf("nvrtc_check: no libnvrtc on this machine: skipped\n");
        return 77;
    }
    for (i = 0; i < sizeof it_cuda_source / sizeof it_cuda_source[0]; i++) total += strlen(it_cuda_source[i]);
    src = (char *)malloc(total + 1);
    for (total = 0, i = 0; i < sizeof it_cuda_source / sizeof it_cuda_source[0]; i++) {
        len = strlen(it_cuda_source[i]);
        memcpy(src + total, it_cuda_source[i], len);
        total += len;
    }
    src[total] = 0;
    snprintf(arch, sizeof arch, "--gpu-architecture=%s", argc > 1 ? argv[1] : "sm_90");
    opts[0] = arch;
    opts[1] = "--use_fast_math";
    opts[2] = "--std=c++17";
    opts[3] = "-default-device";
    r = ((create_fn)dlsym(lib, "nvrtcCreateProgram"))(&prog, src, "shaders_cuda.cu", 0, NULL, NULL);
    if (r) return printf("nvrtcCreateProgram failed (%d)\n", r), 1;
    r = ((compile_fn)dlsym(lib, "nvrtcCompileProgram"))(prog, 4, opts);
    ((size_fn)dlsym(lib, "nvrtcGetProgramLogSize"))(prog, &len);
    log = (char *)malloc(len + 1);
    ((get_fn)dlsym(lib, "nvrtcGetProgramLog"))(prog, log);
    if (r) {
        printf("nvrtc_check: %s: compile FAILED\n%s\n", arch + 19, log);
        return 1;
    }
    printf("nvrtc_check: %d kernels compiled by NVRTC for %s%s%s\n", IT_CUDA_KERNEL_COUNT, arch + 19, len > 1 ? ", log: " : "",
           len > 1 ? log : "");
    return 0;
}
