/* fake_cuda.h - what tests/cuda/fake_cuda.c (the CUDA stand-ins on the MSL emulator) counts, for the test. */
#ifndef FAKE_CUDA_H
#define FAKE_CUDA_H
typedef struct fake_cuda_counters {
    unsigned long launches, kernels_run, gemms, captures, graph_launches, synchronizes, allocations, frees;
    unsigned long node_updates; /* cuGraphExecKernelNodeSetParams */
    unsigned long long bytes_up, bytes_down;
    long graphs_live;
} fake_cuda_counters;
extern fake_cuda_counters fake_cuda_counts;
const char *fake_cuda_message(void); /* the last thing the fake refused or saw fail */
int fake_cuda_live_allocations(void);
unsigned long fake_cuda_kernel_runs(const char *name); /* how often the stream ran that kernel */
#endif
