# IronTensor-C. `make` builds the examples into build/, `make test` runs the whole suite.
CC      ?= cc
CXX     ?= g++
CLANG   ?= clang
CLANGXX ?= clang++
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -std=c99 -Wall -Wextra -Werror
# the tests use fork, pipe, usleep (POSIX) on top of C99
TEST_CFLAGS = $(OPT) -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g
LDLIBS  = -lm -lpthread
HEADERS = irontensor.h irontensor_metal.h irontensor_cuda.h shaders_cuda.h

EXAMPLES = autograd train finetune generate bench serve
TESTS    = $(sort $(basename $(notdir $(wildcard tests/test_*.c))))
TEST_BINS = $(TESTS:%=$(BUILD)/%)

.PHONY: check-banners all examples fuzz test test-unit test-cli test-serve test-docs test-compile test-compile-arm64 asan clean check-deps check-unicode train generate bench
all: examples
examples: $(EXAMPLES:%=$(BUILD)/%) $(BUILD)/it-tokens $(BUILD)/it-tokenize $(BUILD)/it-inspect $(BUILD)/it-eval $(BUILD)/it-merge $(BUILD)/it-export-gguf $(BUILD)/it-quantize $(BUILD)/paired_export

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/%: examples/%.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)
$(BUILD)/train $(BUILD)/finetune: examples/train_common.h

$(BUILD)/it-%: tools/it_%.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)
# tool names with two words: the file name has underscores
$(BUILD)/it-export-gguf: tools/it_export_gguf.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)

# The paired comparison with PyTorch (README: training against PyTorch).
$(BUILD)/paired_export: benchmarks/paired_export.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -D_DEFAULT_SOURCE -I. $< -o $@ $(LDLIBS)

$(BUILD)/test_%: tests/test_%.c tests/it_test.h tests/it_count_alloc.h $(HEADERS) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -I. $< -o $@ $(LDLIBS)

# Every test program ends with "N passed, N failed"; a failing program fails the target but the
# others still run, so one log shows everything.
test-unit: $(TEST_BINS)
	@status=0; for t in $(TEST_BINS); do echo "== $$t"; ./$$t || status=1; done; exit $$status

# The command-line programs on bad input: clear messages, non-zero exits, no crashes.
test-cli: $(BUILD)/finetune $(BUILD)/it-merge $(BUILD)/train $(BUILD)/bench $(BUILD)/generate $(BUILD)/it-tokens $(BUILD)/it-tokenize $(BUILD)/it-inspect $(BUILD)/it-eval $(BUILD)/it-export-gguf $(BUILD)/it-quantize
	@status=0; for s in tests/cli_test.sh tests/cli_hostile.sh tests/lora_cli_test.sh; do echo "== $$s"; bash $$s $(BUILD) || status=1; done; exit $$status

# build/serve on 127.0.0.1: curl, hostile requests and the official `openai` npm client driven by
# node (tests/serve_test.sh; it runs `npm ci` in tests/serve when the package is not installed).
$(BUILD)/serve_make_model: tests/serve/make_model.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)
test-serve: $(BUILD)/serve $(BUILD)/serve_make_model
	@echo "== tests/serve_test.sh"; bash tests/serve_test.sh $(BUILD)

# The README's example program and the header's EXAMPLE: one text, compiled, run, and printing
# what examples/autograd.c prints.
test-docs: $(BUILD)/autograd
	@echo "== tests/docs_test.sh"; CC="$(CC)" bash tests/docs_test.sh $(BUILD)

# Both headers, implementation included, in every language mode we promise, with and without
# IRONTENSOR_STATIC; -pedantic -Werror so nothing slips.
COMPILE_MODES = "$(CC) -std=c99" "$(CC) -std=c11" "$(CXX) -std=c++11 -x c++"
test-compile: | $(BUILD)
	@status=0; for mode in $(COMPILE_MODES); do for static in "" "-DIRONTENSOR_STATIC"; do \
	  if $$mode $$static -Wall -Wextra -Werror -pedantic -I. -c tests/compile_test.c -o $(BUILD)/compile_test.o; \
	  then echo "compile ok: $$mode $$static"; else echo "compile FAILED: $$mode $$static"; status=1; fi; \
	done; done; exit $$status

# The table of contents at the top of irontensor.h lists every section banner in order.
check-banners:
	@bash tests/banners_test.sh irontensor.h

# No dependency beyond libc, libm, pthreads (and the loader): checked on a real binary.
check-deps: $(BUILD)/test_planner
	@extra=$$(ldd $(BUILD)/test_planner | grep -v -E 'linux-vdso|libc\.so|libm\.so|libpthread|ld-linux' || true); \
	if [ -n "$$extra" ]; then echo "unexpected dependencies:"; echo "$$extra"; exit 1; \
	else echo "dependencies ok: libc, libm, pthreads only"; fi
	@# thread-local storage: the C library gives every thread of the host program its own zeroed
	@# copy, so the library keeps its scratch per pool worker instead (no TLS segment over 4 KB)
	@tls=$$(readelf -lW $(BUILD)/test_planner | awk '$$1 == "TLS" { print $$6 }'); tls=$$(( $${tls:-0} )); \
	if [ "$$tls" -ge 4096 ]; then echo "TLS segment of $(BUILD)/test_planner is $$tls bytes (limit 4096)"; exit 1; \
	else echo "thread-local storage ok: $$tls bytes"; fi

# The Unicode tables inside irontensor.h (the tokenizer's regex classes and NFC) against the Unicode
# Character Database they were generated from (Debian: apt-get install unicode-data). To regenerate
# after a data update: build/gen_unicode $(UNICODE_DATA) irontensor.h
UNICODE_DATA ?= /usr/share/unicode
$(BUILD)/gen_unicode: tools/gen_unicode.c | $(BUILD)
	$(CC) $(CFLAGS) -pedantic $< -o $@
check-unicode: $(BUILD)/gen_unicode
	$(BUILD)/gen_unicode --check $(UNICODE_DATA) irontensor.h

# The Metal kernels are proven on Linux by the emulator suite (tests/metal/metal.mk).
# Suites that live in their own fragments join when their fragment exists.
FRAGMENT_TESTS = $(if $(wildcard tests/metal/backend.mk),test-metal-backend) $(if $(wildcard tests/parity/parity.mk),test-parity) \
                 $(if $(wildcard tests/cuda/cuda.mk),test-cuda) \
                 $(if $(wildcard tests/mpi/mpi.mk),test-mpi)
# The header (implementation included: SGEMM, vector exp, flash attention) for arm64, where the x86
# intrinsics drop out and NEON / scalar paths remain (the quantised products twice: plain NEON and
# armv8.2-a's sdot); skipped when clang cannot target aarch64.
# Debian's cross C library (libc6-dev-arm64-cross) keeps its headers where clang does not look by itself.
ARM64_INCLUDE = $(if $(wildcard /usr/aarch64-linux-gnu/include/stdio.h),-isystem /usr/aarch64-linux-gnu/include)
test-compile-arm64: | $(BUILD)
	@if printf '#include <stdio.h>\n#include <pthread.h>\nint x;\n' | $(CLANG) --target=aarch64-linux-gnu $(ARM64_INCLUDE) -x c -c - -o /dev/null 2>/dev/null; then \
	  $(CLANG) --target=aarch64-linux-gnu $(ARM64_INCLUDE) -O2 -std=c99 -Wall -Wextra -Werror -pedantic -I. -c tests/compile_test.c -o $(BUILD)/compile_test_arm64.o && \
	  $(CLANG) --target=aarch64-linux-gnu $(ARM64_INCLUDE) -O2 -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I. -fsyntax-only tests/test_fast.c && \
	  $(CLANG) --target=aarch64-linux-gnu -march=armv8.2-a+dotprod $(ARM64_INCLUDE) -O2 -std=c99 -Wall -Wextra -Werror -pedantic -I. -c tests/compile_test.c -o $(BUILD)/compile_test_arm64_dotprod.o && \
	  echo "compile ok: clang --target=aarch64-linux-gnu"; \
	else echo "note: no aarch64 C library headers (Debian: libc6-dev-arm64-cross); arm64 compile test skipped"; fi

test: check-banners examples test-compile test-compile-arm64 test-unit test-cli test-serve test-docs check-deps check-unicode check-shaders test-metal $(FRAGMENT_TESTS)
	@echo "make test: all suites passed"

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build directory.
# allocator_may_return_null: the library reports a failed allocation as IT_ERR_OUT_OF_MEMORY (the
# hostile tests ask for terabytes); by default ASan would stop the program at such a request instead.
asan:
	ASAN_OPTIONS=allocator_may_return_null=1 $(MAKE) BUILD=$(BUILD)/asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test-unit
	$(MAKE) test-metal-asan

# libFuzzer (clang) over every in-memory entry point a file reaches: safetensors, config.json,
# trainer_state.json, tokenizer.bin, llm.c token files. Each target starts from its seeds in
# tests/fuzz/corpus/<target>/ (real files) and gets FUZZ_SECONDS / 5 (CI: FUZZ_SECONDS=20).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = safetensors config trainer_state tokenizer token_file
FUZZ_EACH = $(shell expr $(FUZZ_SECONDS) / 5 \| 1)
fuzz: | $(BUILD)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  $(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_$$t.c -o $(BUILD)/fuzz_$$t $(LDLIBS); \
	  mkdir -p $(BUILD)/fuzz-corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_EACH) s"; \
	  $(BUILD)/fuzz_$$t $(BUILD)/fuzz-corpus/$$t tests/fuzz/corpus/$$t -max_total_time=$(FUZZ_EACH) -max_len=16384 \
	    >$(BUILD)/fuzz_$$t.log 2>&1 || { tail -40 $(BUILD)/fuzz_$$t.log; exit 1; }; \
	  tail -1 $(BUILD)/fuzz_$$t.log; \
	done

clean:
	rm -rf $(BUILD)

-include tests/metal/metal.mk
-include tests/metal/backend.mk
-include tests/parity/parity.mk
-include tests/cuda/cuda.mk
-include tests/mpi/mpi.mk

# IronTensor's benchmark protocol (DESIGN §7): build/bench, PyTorch's torch_tiny.py (skipped when
# torch is missing) and the GEMM benchmark (OpenBLAS beside ours when libopenblas-dev is installed),
# side by side with ratios. BENCH_ARGS="--quick" for a short run; flags: --steps --vocab --batch
# --seq --threads.
BENCH_ARGS ?=
HAVE_OPENBLAS := $(shell printf '\043include <cblas.h>\nint main(void){return 0;}\n' | $(CC) -x c - -lopenblas -o /dev/null 2>/dev/null && echo yes)
$(BUILD)/gemm_bench: benchmarks/gemm_bench.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $(if $(HAVE_OPENBLAS),-DIT_BENCH_OPENBLAS) $< -o $@ $(if $(HAVE_OPENBLAS),-lopenblas) $(LDLIBS)
# Perplexity of a checkpoint at f32 / bf16 / Q8_0 / Q4_0 decode weights (README: quantised inference).
$(BUILD)/quant_ppl: benchmarks/quant_ppl.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)
bench: $(BUILD)/bench $(BUILD)/gemm_bench $(BUILD)/batch_bench
	@bash benchmarks/bench.sh $(BUILD) $(BENCH_ARGS)
	@bash benchmarks/bf16_bench.sh $(BUILD) $(BENCH_ARGS)
	@echo "== batched generation: $(BUILD)/batch_bench"; $(BUILD)/batch_bench

# Batched generation (README: serving): 1 / 4 / 16 concurrent sequences against 16 sequential runs.
$(BUILD)/batch_bench: benchmarks/batch_bench.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)
bench-batch: $(BUILD)/batch_bench
	$(BUILD)/batch_bench

# A small model on the library's own source: needs nothing but this repository.
train: $(BUILD)/train
	$(BUILD)/train --data irontensor.h --tokenizer byte --dim 128 --layers 4 --heads 4 --ffn 384 \
	  --steps 200 --batch 16 --seq 128 --lr 1e-3 --beta2 0.95 --save $(BUILD)/checkpoint

# Samples from the checkpoint `make train` wrote.
generate: $(BUILD)/generate
	$(BUILD)/generate --checkpoint $(BUILD)/checkpoint --prompt "static " --max-new-tokens 200 --temperature 0.8
