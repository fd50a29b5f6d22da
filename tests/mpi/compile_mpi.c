/* irontensor_mpi.h with its implementation, compiled in every mode tests/mpi/mpi.mk lists (C99, C11, C++11,
   IRONTENSOR_STATIC) with -Wall -Wextra -Werror -pedantic. */
#define IRONTENSOR_IMPLEMENTATION
#include "../../irontensor.h"
#define IRONTENSOR_MPI_IMPLEMENTATION
#include "../../irontensor_mpi.h"
int main(int c, char **v) { it_comm *m; if (it_mpi_init(&c, &v, NULL, &m) != IT_OK) return 1; it_mpi_finalize(m); return 0; }
