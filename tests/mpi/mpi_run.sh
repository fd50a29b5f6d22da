#!/usr/bin/env bash
# mpi_run.sh MPIRUN-ARGS...: mpirun on this machine with Open MPI or MPICH, e.g.
#   mpi_run.sh -np 2 build/test_dp        mpi_run.sh -np 1 prog a : -np 1 prog b
# Open MPI wants --oversubscribe to run more ranks than cores, and refuses root without its two
# variables (CI runs as root); MPICH's mpiexec oversubscribes by itself and ignores them.
run=${MPIRUN:-mpirun}
flags=()
if "$run" --version 2>&1 | grep -q 'Open MPI'; then
  flags+=(--oversubscribe)
  if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
fi
exec "$run" "${flags[@]}" "$@"
