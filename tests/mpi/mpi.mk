# tests/mpi/mpi.mk - data-parallel training over MPI (irontensor_mpi.h). Included by the Makefile.
#   build/train_mpi   examples/train.c with the data-parallel path (-DIT_WITH_MPI), built by mpicc;
#                     the plain build/train stays libc + libm + pthreads
#   test-mpi          tests/mpi/test_dp.c (the library against one process) and tests/mpi/mpi_train.sh
#                     (build/train_mpi: resume, world sizes, a killed or stopped rank, mismatched flags),
#                     both under mpirun with 2 ranks; skipped with a notice when mpicc or mpirun is missing
MPICC ?= mpicc
MPIRUN ?= mpirun
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v $(MPIRUN) >/dev/null 2>&1 && echo yes)

$(BUILD)/train_mpi: examples/train.c irontensor_mpi.h $(HEADERS) | $(BUILD)
	$(MPICC) $(CFLAGS) -DIT_WITH_MPI -I. $< -o $@ $(LDLIBS)
$(BUILD)/test_dp: tests/mpi/test_dp.c irontensor_mpi.h tests/it_test.h $(HEADERS) | $(BUILD)
	$(MPICC) $(TEST_CFLAGS) -I. $< -o $@ $(LDLIBS)

.PHONY: test-mpi
ifeq ($(HAVE_MPI),yes)
test-mpi: $(BUILD)/train_mpi $(BUILD)/test_dp $(BUILD)/train
	@echo "== tests/mpi/test_dp.c (2 ranks)"; MPIRUN=$(MPIRUN) bash tests/mpi/mpi_run.sh -np 2 $(BUILD)/test_dp
	@echo "== tests/mpi/mpi_train.sh"; MPIRUN=$(MPIRUN) bash tests/mpi/mpi_train.sh $(BUILD)
else
test-mpi:
	@echo "note: MPI is not installed (Debian: openmpi-bin libopenmpi-dev): the data-parallel tests are skipped"
endif
