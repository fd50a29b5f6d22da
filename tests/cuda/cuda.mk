# tests/cuda/cuda.mk - the CUDA backend's CI part (no GPU): included by the top-level Makefile.
#   cuda-shaders        regenerate shaders_cuda.h from shaders/ (tools/msl2cuda.c); `make shaders` does it too
#   check-cuda-shaders  fail when shaders_cuda.h is stale
#   test-cuda           every kernel translates; the translated source compiles with g++ and clang++
#                       (-Wall -Wextra -Werror) against tests/cuda/cuda_stub.h; NVRTC compiles it for
#                       sm_80 and sm_90 when libnvrtc is installed (skipped otherwise); the wrong kernels
#                       in tests/cuda/bad/ are each refused with a message; then the real irontensor_cuda.h
#                       on the fake driver (tests/cuda/fake_cuda.c: libcuda/NVRTC/cuBLAS stand-ins running the
#                       kernels on the MSL emulator): training vs the CPU with CUDA graphs and without, the
#                       driver's counters against the backend's, error paths, nothing left allocated; the
#                       GPU decoder against the CPU's; build/generate --backend cuda on the fake as a
#                       shared library (tests/cuda/generate_compare.sh)
CUDA_OUT := $(BUILD)/cuda
CUDA_INC ?= /usr/local/cuda/include
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

CUDA_DEPS := irontensor.h irontensor_cuda.h shaders_cuda.h shaders/it_kernel_args.h
$(CUDA_OUT)/fake_cuda.o: tests/cuda/fake_cuda.c tests/cuda/fake_cuda.h tests/metal/itemu.h $(CUDA_DEPS)
	@mkdir -p $(@D)
	$(CC) -std=c99 -O1 -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -I. -c $< -o $@
$(CUDA_OUT)/test_cuda_backend_fake.o: tests/cuda/test_cuda_backend.c tests/cuda/fake_cuda.h $(CUDA_DEPS)
	@mkdir -p $(@D)
	$(CC) -std=c99 -O1 -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -DFAKE -DIT_CUDA_HEAD_BLOCK_FLOATS=1000 -I. -c $< -o $@
# -rdynamic: the backend finds the stand-ins in the program itself (dlopen(NULL))
$(CUDA_OUT)/test_cuda_backend_fake: $(CUDA_OUT)/test_cuda_backend_fake.o $(CUDA_OUT)/fake_cuda.o \
    $(ITM_NAMES:%=$(ITM_OUT)/obj/%.o) $(ITM_OUT)/obj/itemu_rt.o
	$(CXX) -rdynamic -o $@ $^ -lm -lpthread -ldl

# The fake driver as a shared library (libcuda.so.1, with libnvrtc.so.13 and libcublas.so.13 links
# to it), so that the command-line programs load it as they would the real ones: position-
# independent builds of the fake and the emulator's objects
CUDA_FAKELIB := $(CUDA_OUT)/fakelib
$(CUDA_FAKELIB)/%.o: $(ITM_OUT)/pp/%.cpp $(ITM_SHIM)
	@mkdir -p $(@D)
	$(CXX) $(ITM_KFLAGS) -O1 -fPIC -c $< -o $@
$(CUDA_FAKELIB)/itemu_rt.o: $(ITM_DIR)/itemu_rt.cpp $(ITM_DIR)/itemu.h
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -fPIC -Wall -Wextra -Werror -c $< -o $@
$(CUDA_FAKELIB)/fake_cuda.o: tests/cuda/fake_cuda.c tests/cuda/fake_cuda.h tests/metal/itemu.h $(CUDA_DEPS)
	@mkdir -p $(@D)
	$(CC) -std=c99 -O1 -fPIC -Wall -Wextra -Werror -D_DEFAULT_SOURCE -I. -c $< -o $@
$(CUDA_FAKELIB)/libcuda.so.1: $(CUDA_FAKELIB)/fake_cuda.o $(ITM_NAMES:%=$(CUDA_FAKELIB)/%.o) $(CUDA_FAKELIB)/itemu_rt.o
	$(CXX) -shared -o $@ $^ -lm -lpthread -ldl
	ln -sf libcuda.so.1 $(CUDA_FAKELIB)/libnvrtc.so.13
	ln -sf libcuda.so.1 $(CUDA_FAKELIB)/libcublas.so.13

test-cuda: check-cuda-shaders $(CUDA_OUT)/nvrtc_check $(CUDA_OUT)/test_cuda_backend_fake $(CUDA_FAKELIB)/libcuda.so.1 $(BUILD)/generate
	@echo "== translated kernels through g++ and clang++ against tests/cuda/cuda_stub.h"
	$(CXX) -std=c++17 -fsyntax-only -Wall -Wextra -Werror -include tests/cuda/cuda_stub.h -x c++ $(CUDA_OUT)/joined.cu
	$(CLANGXX) -std=c++17 -fsyntax-only -Wall -Wextra -Werror -include tests/cuda/cuda_stub.h -x c++ $(CUDA_OUT)/joined.cu
	@echo "== NVRTC (the compile irontensor_cuda.h does at backend creation)"
	@for a in sm_80 sm_90; do $(CUDA_OUT)/nvrtc_check $$a; r=$$?; [ $$r = 0 ] || [ $$r = 77 ] || exit 1; done
	@if [ -f $(CUDA_INC)/cuda.h ] && [ -f $(CUDA_INC)/cublas_api.h ]; then \
	  $(CC) -std=c99 -Wall -Wextra -Werror -I. -I$(CUDA_INC) -fsyntax-only tests/cuda/abi_check.c && \
	  echo "abi_check: irontensor_cuda.h's constants and driver symbols agree with $(CUDA_INC)"; \
	else echo "abi_check: no CUDA headers in $(CUDA_INC): skipped"; fi
	@echo "== the translator refuses what it cannot translate faithfully"
	@fail=0; for f in $(CUDA_BAD); do \
	  if $(CUDA_OUT)/msl2cuda -o $(CUDA_OUT)/bad.h tools/msl_cuda_prelude.h $$f 2>$(CUDA_OUT)/bad.log; then \
	    echo "msl2cuda ACCEPTED $$f (must be refused)"; fail=1; \
	  else echo "msl2cuda refuses $$f: $$(head -1 $(CUDA_OUT)/bad.log | sed 's/.*error: //')"; fi; \
	done; test $$fail = 0
	@echo "== irontensor_cuda.h on the fake driver (kernels on the MSL emulator), CUDA graphs"
	ITEMU_ORDER=7 ITEMU_GROUP_SEED=7 $(CUDA_OUT)/test_cuda_backend_fake
	@echo "== the same without graphs (every record launched directly)"
	ITEMU_ORDER=1 $(CUDA_OUT)/test_cuda_backend_fake --no-graphs --quick
	@echo "== build/generate --backend cuda on the fake driver: the same ids as --backend cpu"
	LD_LIBRARY_PATH=$(CUDA_FAKELIB) bash tests/cuda/generate_compare.sh $(BUILD)
