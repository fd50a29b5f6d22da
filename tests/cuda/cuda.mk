# tests/cuda/cuda.mk - the CUDA backend's CI part (no GPU): included by the top-level Makefile.
#   cuda-shaders        regenerate shaders_cuda.h from shaders/ (tools/msl2cuda.c); `make shaders` does it too
#   check-cuda-shaders  fail when shaders_cuda.h is stale
#   test-cuda           every kernel translates; the translated source compiles with g++ and clang++
#                       (-Wall -Wextra -Werror) against tests/cuda/cuda_stub.h; NVRTC compiles it for
#                       sm_80 and sm_90 when libnvrtc is installed (skipped otherwise); the wrong kernels
#                       in tests/cuda/bad/ are each refused with a message
CUDA_OUT := $(BUILD)/cuda
CUDA_INPUTS := tools/msl_cuda_prelude.h shaders/it_kernel_args.h shaders/it_reduce.h $(sort $(wildcard shaders/*.metal))
CUDA_BAD := $(sort $(wildcard tests/cuda/bad/*.metal))
.PHONY: cuda-shaders check-cuda-shaders test-cuda

$(CUDA_OUT)/msl2cuda: tools/msl2cuda.c
	@mkdir -p $(@D)
	$(CC) -std=c99 -O1 -Wall -Wextra -Werror -pedantic -o $@ $<

cuda-shaders: $(CUDA_OUT)/msl2cuda
	$(CUDA_OUT)/msl2cuda -o shaders_cuda.h $(CUDA_INPUTS)
shaders: cuda-shaders

check-cuda-shaders: $(CUDA_OUT)/msl2cuda
	@$(CUDA_OUT)/msl2cuda -o $(CUDA_OUT)/shaders_cuda.h.fresh -cu $(CUDA_OUT)/joined.cu $(CUDA_INPUTS)
	@if cmp -s $(CUDA_OUT)/shaders_cuda.h.fresh shaders_cuda.h; then echo "check-cuda-shaders: shaders_cuda.h is up to date"; \
	 else echo "check-cuda-shaders: shaders_cuda.h is stale; run 'make shaders' and commit it"; exit 1; fi

$(CUDA_OUT)/nvrtc_check: tests/cuda/nvrtc_check.c shaders_cuda.h shaders/it_kernel_args.h
	@mkdir -p $(@D)
	$(CC) -std=c99 -O1 -Wall -Wextra -Werror -I. -o $@ $< -ldl

test-cuda: check-cuda-shaders $(CUDA_OUT)/nvrtc_check
	@echo "== translated kernels through g++ and clang++ against tests/cuda/cuda_stub.h"
	$(CXX) -std=c++17 -fsyntax-only -Wall -Wextra -Werror -include tests/cuda/cuda_stub.h -x c++ $(CUDA_OUT)/joined.cu
	$(CLANGXX) -std=c++17 -fsyntax-only -Wall -Wextra -Werror -include tests/cuda/cuda_stub.h -x c++ $(CUDA_OUT)/joined.cu
	@echo "== NVRTC (the compile irontensor_cuda.h does at backend creation)"
	@for a in sm_80 sm_90; do $(CUDA_OUT)/nvrtc_check $$a; r=$$?; [ $$r = 0 ] || [ $$r = 77 ] || exit 1; done
	@echo "== the translator refuses what it cannot translate faithfully"
	@fail=0; for f in $(CUDA_BAD); do \
	  if $(CUDA_OUT)/msl2cuda -o $(CUDA_OUT)/bad.h tools/msl_cuda_prelude.h $$f 2>$(CUDA_OUT)/bad.log; then \
	    echo "msl2cuda ACCEPTED $$f (must be refused)"; fail=1; \
	  else echo "msl2cuda refuses $$f: $$(head -1 $(CUDA_OUT)/bad.log | sed 's/.*error: //')"; fi; \
	done; test $$fail = 0
