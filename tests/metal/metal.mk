# tests/metal/metal.mk - Metal kernels: embedding into shaders.h and the Linux MSL emulator.
# Included by the top-level Makefile. Targets:
#   shaders          regenerate shaders.h from shaders/ (tools/embed_shaders.c)
#   check-shaders    fail when shaders.h is stale
#   test-metal       every .metal through g++ and clang++ (-Werror), the clang address-space pass
#                    (and the wrong kernels it must reject), then the emulator kernel suite in
#                    ascending, descending and shuffled fiber order, and once more with the
#                    transcendental functions a few ulp off (a stand-in for fast math)
#   test-metal-asan  the emulator suite once under ASan + UBSan
CC ?= cc
CXX ?= g++
CLANGXX ?= $(shell command -v clang++-14 2>/dev/null || command -v clang++ 2>/dev/null || echo clang++)
BUILD ?= build

ITM_DIR := tests/metal
ITM_OUT := $(BUILD)/metal
ITM_HDRS := shaders/it_kernel_args.h shaders/it_reduce.h
ITM_SHADERS := $(sort $(wildcard shaders/*.metal))
ITM_BAD := $(sort $(wildcard $(ITM_DIR)/bad/*.metal))
ITM_BAD_AS := $(sort $(wildcard $(ITM_DIR)/bad_as/*.metal))
ITM_NAMES := $(basename $(notdir $(ITM_SHADERS)))
ITM_BAD_NAMES := $(basename $(notdir $(ITM_BAD)))
ITM_SHIM := $(ITM_DIR)/shim/metal_stdlib $(ITM_DIR)/itemu.h
ITM_CFLAGS_C := -std=c99 -O1 -Wall -Wextra -Werror -pedantic
ITM_KFLAGS := -std=c++17 -fstack-clash-protection -Wall -Wextra -Werror -I$(ITM_DIR)/shim -I$(ITM_DIR) -Ishaders -Wno-attributes
ITM_CLANG_KFLAGS := -std=c++17 -Wall -Wextra -Werror -I$(ITM_DIR)/shim -I$(ITM_DIR) -Ishaders -Wno-unknown-attributes
ITM_ASFLAGS := -std=c++17 -fsyntax-only -DITEMU_CHECK_AS -mavx512fp16 -I$(ITM_DIR)/shim -I$(ITM_DIR) -Ishaders -Wno-unknown-attributes
ITM_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ITM_ORDERS ?= 0 1 7

.PRECIOUS: $(ITM_OUT)/pp/%.cpp $(ITM_OUT)/pp/bad/%.cpp $(ITM_OUT)/pp/joined.cpp
.PHONY: shaders check-shaders test-metal test-metal-asan metal-compile metal-as-check

$(ITM_OUT)/embed_shaders: tools/embed_shaders.c
	@mkdir -p $(@D)
	$(CC) $(ITM_CFLAGS_C) -o $@ $<

$(ITM_OUT)/mslprep: $(ITM_DIR)/mslprep.c
	@mkdir -p $(@D)
	$(CC) $(ITM_CFLAGS_C) -o $@ $<

shaders: $(ITM_OUT)/embed_shaders
	$(ITM_OUT)/embed_shaders -o shaders.h $(ITM_HDRS) $(ITM_SHADERS)

check-shaders: $(ITM_OUT)/embed_shaders
	@$(ITM_OUT)/embed_shaders -o $(ITM_OUT)/shaders.h.fresh $(ITM_HDRS) $(ITM_SHADERS)
	@if cmp -s $(ITM_OUT)/shaders.h.fresh shaders.h; then echo "check-shaders: shaders.h is up to date"; \
	 else echo "check-shaders: shaders.h is stale; run 'make shaders' and commit it"; exit 1; fi

# pre-pass output, one C++ file per .metal (shaders and the deliberately buggy kernels)
$(ITM_OUT)/pp/%.cpp: shaders/%.metal $(ITM_OUT)/mslprep $(ITM_HDRS)
	@mkdir -p $(@D)
	$(ITM_OUT)/mslprep $< -o $@
$(ITM_OUT)/pp/bad/%.cpp: $(ITM_DIR)/bad/%.metal $(ITM_OUT)/mslprep
	@mkdir -p $(@D)
	$(ITM_OUT)/mslprep $< -o $@
# the whole library as the backend joins it: catches clashes between files
$(ITM_OUT)/pp/joined.metal: $(ITM_HDRS) $(ITM_SHADERS)
	@mkdir -p $(@D)
	cat $(ITM_HDRS) $(ITM_SHADERS) > $@
$(ITM_OUT)/pp/joined.cpp: $(ITM_OUT)/pp/joined.metal $(ITM_OUT)/mslprep
	$(ITM_OUT)/mslprep $< -o $@

ITM_PP := $(ITM_NAMES:%=$(ITM_OUT)/pp/%.cpp)
ITM_PP_BAD := $(ITM_BAD_NAMES:%=$(ITM_OUT)/pp/bad/%.cpp)

# run-mode objects (g++), plain and sanitized
$(ITM_OUT)/obj/%.o: $(ITM_OUT)/pp/%.cpp $(ITM_SHIM)
	@mkdir -p $(@D)
	$(CXX) $(ITM_KFLAGS) -O2 -g -c $< -o $@
$(ITM_OUT)/asan/%.o: $(ITM_OUT)/pp/%.cpp $(ITM_SHIM)
	@mkdir -p $(@D)
	$(CXX) $(ITM_KFLAGS) -O1 -g $(ITM_SAN) -c $< -o $@
# clang++ run-mode compile and the address-space pass: stamps
$(ITM_OUT)/clang/%.ok: $(ITM_OUT)/pp/%.cpp $(ITM_SHIM)
	@mkdir -p $(@D)
	$(CLANGXX) $(ITM_CLANG_KFLAGS) -fsyntax-only $<
	$(CLANGXX) $(ITM_ASFLAGS) $<
	@touch $@

ITM_OBJS := $(ITM_NAMES:%=$(ITM_OUT)/obj/%.o) $(ITM_BAD_NAMES:%=$(ITM_OUT)/obj/bad/%.o)
ITM_ASAN_OBJS := $(ITM_NAMES:%=$(ITM_OUT)/asan/%.o) $(ITM_BAD_NAMES:%=$(ITM_OUT)/asan/bad/%.o)
ITM_CLANG_OK := $(ITM_NAMES:%=$(ITM_OUT)/clang/%.ok) $(ITM_OUT)/clang/joined.ok

$(ITM_OUT)/obj/itemu_rt.o: $(ITM_DIR)/itemu_rt.cpp $(ITM_DIR)/itemu.h
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -c $< -o $@
$(ITM_OUT)/asan/itemu_rt.o: $(ITM_DIR)/itemu_rt.cpp $(ITM_DIR)/itemu.h
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O1 -g -Wall -Wextra -Werror $(ITM_SAN) -c $< -o $@
# the kernel tests: C, with the CPU reference kernels from irontensor.h in the same TU
$(ITM_OUT)/obj/test_kernels.o: $(ITM_DIR)/test_kernels.c $(wildcard $(ITM_DIR)/*.inc) $(ITM_DIR)/itemu.h irontensor.h $(ITM_HDRS)
	@mkdir -p $(@D)
	$(CC) -std=c99 -O2 -g -Wall -Wextra -Werror -I$(ITM_DIR) -Ishaders -c $< -o $@
$(ITM_OUT)/asan/test_kernels.o: $(ITM_DIR)/test_kernels.c $(wildcard $(ITM_DIR)/*.inc) $(ITM_DIR)/itemu.h irontensor.h $(ITM_HDRS)
	@mkdir -p $(@D)
	$(CC) -std=c99 -O1 -g -Wall -Wextra -Werror $(ITM_SAN) -I$(ITM_DIR) -Ishaders -c $< -o $@

$(ITM_OUT)/test_kernels: $(ITM_OUT)/obj/test_kernels.o $(ITM_OUT)/obj/itemu_rt.o $(ITM_OBJS)
	$(CXX) -o $@ $^ -lm -lpthread -ldl
$(ITM_OUT)/test_kernels_asan: $(ITM_OUT)/asan/test_kernels.o $(ITM_OUT)/asan/itemu_rt.o $(ITM_ASAN_OBJS)
	$(CXX) $(ITM_SAN) -o $@ $^ -lm -lpthread -ldl

# each file in bad_as/ holds one address-space mistake Apple's compiler rejects; all must fail here
$(ITM_OUT)/bad_as.ok: $(ITM_BAD_AS) $(ITM_OUT)/mslprep $(ITM_SHIM)
	@mkdir -p $(ITM_OUT)/pp/bad_as
	@fail=0; for f in $(ITM_BAD_AS); do \
	  out=$(ITM_OUT)/pp/bad_as/$$(basename $$f .metal).cpp; \
	  $(ITM_OUT)/mslprep $$f -o $$out || exit 1; \
	  if $(CLANGXX) $(ITM_ASFLAGS) $$out 2>$$out.log; then echo "address-space pass ACCEPTED $$f (must be rejected)"; fail=1; \
	  else echo "address-space pass rejects $$f: $$(grep -m1 'error:' $$out.log | sed 's/.*error: //')"; fi; \
	done; test $$fail = 0
	@touch $@

# shaders.h: warning-free as C99 and C++11, and its joined lines equal the sources byte for byte
$(ITM_OUT)/shaders_h.ok: shaders.h $(ITM_DIR)/shaders_h_check.c $(ITM_OUT)/pp/joined.metal
	@mkdir -p $(@D)
	$(CXX) -std=c++11 -x c++ -Wall -Wextra -Werror -pedantic -o $(ITM_OUT)/shaders_h_check_cxx $(ITM_DIR)/shaders_h_check.c
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -o $(ITM_OUT)/shaders_h_check $(ITM_DIR)/shaders_h_check.c
	$(ITM_OUT)/shaders_h_check $(ITM_OUT)/shaders_h.joined
	cmp $(ITM_OUT)/shaders_h.joined $(ITM_OUT)/pp/joined.metal
	@touch $@

metal-compile: $(ITM_OBJS) $(ITM_CLANG_OK)
metal-as-check: $(ITM_CLANG_OK) $(ITM_OUT)/bad_as.ok

test-metal: check-shaders $(ITM_OUT)/shaders_h.ok metal-as-check $(ITM_OUT)/test_kernels
	@for o in $(ITM_ORDERS); do \
	  echo "== emulator kernel suite, fiber order $$o (0 ascending, 1 descending, else shuffled)"; \
	  ITEMU_ORDER=$$o ITEMU_GROUP_SEED=$$o $(ITM_OUT)/test_kernels || exit 1; \
	done
	@echo "== emulator kernel suite, shuffled order, transcendental functions off by up to 4 ulp (fast-math stand-in)"
	ITEMU_ORDER=3 ITEMU_GROUP_SEED=3 ITEMU_FAST_MATH_ULPS=4 $(ITM_OUT)/test_kernels

test-metal-asan: $(ITM_OUT)/test_kernels_asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ITEMU_ORDER=7 $(ITM_OUT)/test_kernels_asan

# each file in bad_lint/ uses something Apple's compiler rejects or fast math breaks; mslprep
# must refuse every one
ITM_BAD_LINT := $(sort $(wildcard $(ITM_DIR)/bad_lint/*.metal))
$(ITM_OUT)/bad_lint.ok: $(ITM_BAD_LINT) $(ITM_OUT)/mslprep
	@mkdir -p $(ITM_OUT)/pp/bad_lint
	@fail=0; for f in $(ITM_BAD_LINT); do \
	  out=$(ITM_OUT)/pp/bad_lint/$$(basename $$f .metal).cpp; \
	  if $(ITM_OUT)/mslprep $$f -o $$out 2>$$out.log; then echo "mslprep ACCEPTED $$f (must be rejected)"; fail=1; \
	  else echo "mslprep rejects $$f: $$(grep -m1 'error:' $$out.log | sed 's/.*error: //')"; fi; \
	done; test $$fail = 0
	@touch $@
metal-as-check: $(ITM_OUT)/bad_lint.ok
