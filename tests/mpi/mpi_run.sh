#!/usr/bin/env bash
# mpi_run.sh NP PROGRAM [ARGS...]: PROGRAM on NP ranks of this machine, with Open MPI or MPICH.
# Open MPI wants --oversubscribe to run more ranks than cores, and refuses root without its two
# variables (CI runs as root); MPICH's mpiexec oversubscribes by itself and ignores them.
np=$1; shift
run=${MPIRUN:-mpirun}
flags=()
if "$run" --version 2>&1 | grep -q 'Open MPI'; then
  flags+=(--oversubscribe)
  if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
fi
exec "$run" "${flags[@]}" -np "$np" "$@"
