# tests/metal/backend.mk - the Metal backend (irontensor_metal.h) end to end. Include AFTER
# tests/metal/metal.mk (it reuses its kernel objects):   -include tests/metal/backend.mk
# Targets:
#   test-metal-backend   Linux: the real backend on fake Metal (GCC libobjc classes in
#                        tests/metal/fake/ executing kernels on the itemu emulator), built twice:
#                        objc_msg_lookup dispatch, and objc_msgSend/_stret trampolines (the macOS
#                        x86-64 calling sequence); build/train on fake Metal against the CPU
#                        (train_fake.sh); the Apple cross-compiles; the compile-time
#                        signature check. macOS: the same test_backend.c on the real GPU.
#   metal-apple-check    irontensor_metal.h -> arm64-apple-macos and x86_64-apple-macos objects
#                        (-std=c99 -pedantic -Wall -Wextra -Werror, stub headers), _stret only on x86-64
CLANG14 ?= $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null || echo clang)
LLVM_NM ?= $(shell command -v llvm-nm-14 2>/dev/null || command -v llvm-nm 2>/dev/null || echo llvm-nm)
ITB_OUT := $(BUILD)/metal/backend
ITB_DEPS := irontensor.h irontensor_metal.h shaders.h shaders/it_kernel_args.h tests/metal/fake/fake_metal.h tests/it_count_alloc.h
ITB_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -DIT_METAL_FAKE -I.
ITB_KOBJS := $(ITM_NAMES:%=$(ITM_OUT)/obj/%.o) $(ITM_OUT)/obj/itemu_rt.o
ITB_RESOURCE := $(shell $(CLANG14) -print-resource-dir 2>/dev/null)/include
.PHONY: test-metal-backend metal-apple-check metal-bad-signature

ifeq ($(shell uname -s),Darwin)
# On a Mac: the real GPU (written, not yet run by anyone).
$(ITB_OUT)/test_backend_gpu: tests/metal/test_backend.c $(ITB_DEPS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. $< -o $@ -framework Foundation -framework Metal \
	  -framework MetalPerformanceShaders -framework CoreGraphics -lobjc -lm -lpthread
test-metal-backend: $(ITB_OUT)/test_backend_gpu
	MTL_DEBUG_LAYER=1 $(ITB_OUT)/test_backend_gpu
else
# explicit targets: a pattern's % never matches the empty stem, so a `test_backend%.o` rule would
# leave test_backend.o without a rule (never rebuilt after the first build)
$(ITB_OUT)/fake_metal.o $(ITB_OUT)/fake_metal_msgsend.o: tests/metal/fake/fake_metal.c $(ITB_DEPS) tests/metal/itemu.h
	@mkdir -p $(@D)
	$(CC) $(ITB_CFLAGS) $(if $(findstring msgsend,$(@F)),-DIT_METAL_FAKE_MSGSEND) -c $< -o $@
$(ITB_OUT)/test_backend.o $(ITB_OUT)/test_backend_msgsend.o: tests/metal/test_backend.c $(ITB_DEPS)
	@mkdir -p $(@D)
	$(CC) $(ITB_CFLAGS) $(if $(findstring msgsend,$(@F)),-DIT_METAL_FAKE_MSGSEND) -c $< -o $@
$(ITB_OUT)/test_backend: $(ITB_OUT)/test_backend.o $(ITB_OUT)/fake_metal.o $(ITB_KOBJS)
	$(CXX) -o $@ $^ -lobjc -lm -lpthread -ldl
$(ITB_OUT)/test_backend_msgsend: $(ITB_OUT)/test_backend_msgsend.o $(ITB_OUT)/fake_metal_msgsend.o \
    tests/metal/fake/msgsend_x86_64.S $(ITB_KOBJS)
	$(CXX) -o $@ $^ -lobjc -lm -lpthread -ldl

# build/train itself on fake Metal (tests/metal/train_fake.sh compares it with the CPU's)
$(ITB_OUT)/train_fake: tests/metal/fake/train_fake.c examples/train.c examples/train_common.h $(ITB_DEPS) \
    $(ITB_OUT)/fake_metal.o $(ITB_KOBJS)
	$(CC) $(ITB_CFLAGS) -c $< -o $@.o
	$(CXX) -o $@ $@.o $(ITB_OUT)/fake_metal.o $(ITB_KOBJS) -lobjc -lm -lpthread -ldl

metal-apple-check: tests/metal/fake/apple_check.c irontensor_metal.h
	@mkdir -p $(ITB_OUT)
	@for t in arm64 x86_64; do \
	  $(CLANG14) --target=$$t-apple-macos14 -std=c99 -pedantic -Wall -Wextra -Werror -O1 -nostdinc -ffreestanding \
	    -isystem $(ITB_RESOURCE) -isystem tests/metal/fake/apple_stub -c $< -o $(ITB_OUT)/apple_$$t.o || exit 1; \
	  syms=$$($(LLVM_NM) -u $(ITB_OUT)/apple_$$t.o); \
	  echo "$$syms" | grep -qx '_objc_msgSend' || { echo "$$t: no _objc_msgSend"; exit 1; }; \
	  if echo "$$syms" | grep -qx '_objc_msgSend_stret'; then st=yes; else st=no; fi; \
	  want=no; [ $$t = x86_64 ] && want=yes; \
	  [ $$st = $$want ] || { echo "$$t: _objc_msgSend_stret referenced: $$st (want $$want)"; exit 1; }; \
	  echo "metal-apple-check: $$t-apple-macos14 object ok, _objc_msgSend_stret referenced: $$st"; \
	done

metal-bad-signature: tests/metal/fake/bad_signature.c irontensor_metal.h
	@mkdir -p $(ITB_OUT)
	@if $(CC) -std=gnu11 -I. -c $< -o $(ITB_OUT)/bad_signature.o 2>$(ITB_OUT)/bad_signature.log; then \
	  echo "metal-bad-signature: a float alpha/beta fake method COMPILED (must be rejected)"; exit 1; \
	else echo "metal-bad-signature: rejected at compile time: $$(grep -m1 -o 'fake bad_init[^"]*' $(ITB_OUT)/bad_signature.log)"; fi

test-metal-backend: $(ITB_OUT)/test_backend $(ITB_OUT)/test_backend_msgsend $(ITB_OUT)/train_fake metal-apple-check metal-bad-signature
	@echo "== Metal backend on fake Metal (objc_msg_lookup dispatch)"
	ITEMU_ORDER=7 ITEMU_GROUP_SEED=7 $(ITB_OUT)/test_backend
	@echo "== Metal backend on fake Metal (objc_msgSend / objc_msgSend_stret trampolines: the macOS x86-64 path)"
	ITEMU_ORDER=1 $(ITB_OUT)/test_backend_msgsend
	@echo "== build/train on fake Metal against the CPU"
	sh tests/metal/train_fake.sh $(ITB_OUT)/train_fake
endif
