# tests/mpi/mpi.mk - data-parallel training over MPI (irontensor_mpi.h). Included by the Makefile.
#   build/train_mpi, build/finetune_mpi   examples/train.c and finetune.c with the data-parallel path
#                     (-DIT_WITH_MPI, examples/train_common.h), built by mpicc; the plain build/train and
#                     build/finetune stay libc + libm + pthreads
#   test-mpi          irontensor_mpi.h in every compile mode, tests/mpi/test_dp.c (the library against one process),
#                     tests/mpi/mpi_train.sh (build/train_mpi: resume, world sizes, a killed or stopped rank, mismatched
#                     flags) and tests/mpi/mpi_finetune.sh (build/finetune_mpi against build/finetune: 2 ranks == one
#                     process, ZeRO-1, --full, resume, world sizes, mismatched flags),
#                     all under mpirun with 2 ranks; skipped with a notice when mpicc or mpirun is missing
MPICC ?= mpicc
MPICXX ?= mpicxx
MPIRUN ?= mpirun
MPI_COMPILE_MODES = "$(MPICC) -std=c99" "$(MPICC) -std=c11" "$(MPICXX) -std=c++11 -x c++"
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v $(MPIRUN) >/dev/null 2>&1 && echo yes)

$(BUILD)/train_mpi: examples/train.c examples/train_common.h irontensor_mpi.h $(HEADERS) | $(BUILD)
	$(MPICC) $(CFLAGS) -DIT_WITH_MPI -I. $< -o $@ $(LDLIBS)
$(BUILD)/finetune_mpi: examples/finetune.c examples/train_common.h irontensor_mpi.h $(HEADERS) | $(BUILD)
	$(MPICC) $(CFLAGS) -DIT_WITH_MPI -I. $< -o $@ $(LDLIBS)
$(BUILD)/test_dp: tests/mpi/test_dp.c irontensor_mpi.h tests/it_test.h $(HEADERS) | $(BUILD)
	$(MPICC) $(TEST_CFLAGS) -I. $< -o $@ $(LDLIBS)

.PHONY: test-mpi
ifeq ($(HAVE_MPI),yes)
test-mpi: $(BUILD)/train_mpi $(BUILD)/test_dp $(BUILD)/train $(BUILD)/finetune_mpi $(BUILD)/finetune
	@for mode in $(MPI_COMPILE_MODES); do for static in "" "-DIRONTENSOR_STATIC"; do \
	  $$mode $$static -Wall -Wextra -Werror -pedantic -c tests/mpi/compile_mpi.c -o $(BUILD)/compile_mpi.o || exit 1; \
	done; done; echo "compile ok: irontensor_mpi.h as C99, C11, C++11, with and without IRONTENSOR_STATIC"
	@echo "== tests/mpi/test_dp.c (2 ranks)"; MPIRUN=$(MPIRUN) bash tests/mpi/mpi_run.sh -np 2 $(BUILD)/test_dp
	@echo "== tests/mpi/mpi_train.sh"; MPIRUN=$(MPIRUN) bash tests/mpi/mpi_train.sh $(BUILD)
	@echo "== tests/mpi/mpi_finetune.sh"; MPIRUN=$(MPIRUN) bash tests/mpi/mpi_finetune.sh $(BUILD)
else
test-mpi:
	@echo "note: MPI is not installed (Debian: openmpi-bin libopenmpi-dev): the data-parallel tests are skipped"
endif

# benchmarks/dp_bench.sh: one process against 2 ranks (and ZeRO-1) on this machine (README "Data-parallel training").
.PHONY: bench-dp
bench-dp: $(BUILD)/train $(BUILD)/train_mpi $(BUILD)/finetune $(BUILD)/finetune_mpi
	@bash benchmarks/dp_bench.sh $(BUILD) $(DP_BENCH_ARGS)
