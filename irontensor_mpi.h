/* irontensor_mpi.h - the communicator of irontensor.h (>>comm) over MPI, for data-parallel
   training on several processes or machines. MIT licence (see irontensor.h).

   USAGE
     In the file that has IRONTENSOR_IMPLEMENTATION:
         #define IRONTENSOR_IMPLEMENTATION
         #include "irontensor.h"
         #define IRONTENSOR_MPI_IMPLEMENTATION
         #include "irontensor_mpi.h"
     and build with the MPI compiler wrapper (Open MPI or MPICH; only the standard MPI-3 C API is
     used, no extension of either):
         mpicc -O2 -std=c99 -DIT_WITH_MPI -I. examples/train.c -o build/train_mpi -lm -lpthread
         mpirun -np 2 build/train_mpi --data input.txt ...
     irontensor.h itself stays libc + libm + pthreads: only this header needs MPI.

         it_comm *comm;
         it_mpi_init(&argc, &argv, NULL, &comm);       // MPI_Init_thread, errors returned
         desc.comm = comm;                             // it_context_desc
         it_context_create(&desc, &ctx);               // ... train as usual ...
         it_mpi_finalize(comm);

   FAULTS
     The communicator is MPI_COMM_WORLD duplicated, with MPI_ERRORS_RETURN: an MPI failure comes
     back as IT_ERR_BACKEND with MPI's message in comm->error, never as an abort inside MPI. Every
     operation is started non-blocking and waited for by polling with a deadline
     (it_mpi_desc.timeout_seconds, default 60 s): when another rank has died, hangs or never gets
     there, the wait ends with "timed out after N s" instead of hanging forever. The caller then
     calls comm->abort (MPI_Abort), which ends every rank.

   THREADS
     MPI is initialised with MPI_THREAD_FUNNELED: only the thread that called it_mpi_init calls
     MPI (the library's worker threads never do). */
#ifndef IRONTENSOR_MPI_H
#define IRONTENSOR_MPI_H
#include "irontensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_mpi_desc {
    double timeout_seconds; /* how long one operation may wait for the other ranks; 0 = 60 */
} it_mpi_desc;

/* MPI_Init_thread (unless MPI is already initialised) and a communicator over every rank of the
   job. desc may be NULL (defaults). On failure *out is NULL and the reason is printed to stderr. */
IT_API it_result it_mpi_init(int *argc, char ***argv, const it_mpi_desc *desc, it_comm **out);
/* Frees the communicator and calls MPI_Finalize (when it_mpi_init initialised MPI). NULL is fine. */
IT_API void it_mpi_finalize(it_comm *comm);

#ifdef __cplusplus
}
#endif
#endif /* IRONTENSOR_MPI_H */

#if defined(IRONTENSOR_MPI_IMPLEMENTATION) && !defined(IRONTENSOR_MPI_IMPLEMENTED)
#define IRONTENSOR_MPI_IMPLEMENTED
#include <limits.h>
/* the C API only: without these, a C++ file would also get the deprecated MPI C++ bindings */
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One library request is up to IT__MPI_PIECES MPI requests: a count is an int in MPI, so a longer
   buffer is summed in pieces of at most IT__MPI_PIECE floats. */
#define IT__MPI_PIECE ((size_t)1 << 30)
#define IT__MPI_PIECES 8
#define IT__MPI_REQUESTS 1024
typedef struct it__mpi_request {
    int used, n;
    MPI_Request r[IT__MPI_PIECES];
    const char *what;
    size_t floats;
} it__mpi_request;
typedef struct it__mpi {
    it_comm comm;
    MPI_Comm world;
    double timeout;
    int we_initialised;
    int *counts, *displs; /* per rank, for reduce-scatter and all-gather */
    it__mpi_request req[IT__MPI_REQUESTS];
} it__mpi;

static double it__mpi_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
static it_result it__mpi_fail(it_comm *c, int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(c->error, sizeof c->error, "%s failed on rank %d: %.400s", what, c->rank, text);
    return IT_ERR_BACKEND;
}
/* Polls until every piece of q has finished or the deadline has passed. Polling (MPI_Testall,
   then a short sleep) keeps the wait bounded: a blocking MPI_Wait would wait forever for a rank
   that has died. The first thousand polls do not sleep, so small messages are not slowed. */
static it_result it__mpi_finish(it__mpi *m, it__mpi_request *q) {
    double deadline = it__mpi_now() + m->timeout;
    long polls = 0;
    int done = 0, rc;
    MPI_Status statuses[IT__MPI_PIECES]; /* not MPI_STATUSES_IGNORE: GCC takes MPICH's (MPI_Status *)1 for a buffer */
    while (!done) {
        if ((rc = MPI_Testall(q->n, q->r, &done, statuses)) != MPI_SUCCESS) {
            q->used = 0;
            return it__mpi_fail(&m->comm, rc, q->what);
        }
        if (done) break;
        if (++polls > 1000) {
            struct timespec pause = {0, 50000}; /* 50 us */
            if (it__mpi_now() > deadline) {
                snprintf(m->comm.error, sizeof m->comm.error,
                         "%s (%zu floats) timed out after %g s on rank %d: another rank has died, hangs or is far "
                         "behind", q->what, q->floats, m->timeout, m->comm.rank);
                q->used = 0;
                return IT_ERR_BACKEND;
            }
            nanosleep(&pause, NULL);
        }
    }
    q->used = 0;
    return IT_OK;
}
static it__mpi_request *it__mpi_new_request(it__mpi *m, const char *what, size_t floats, int *id) {
    int i;
    for (i = 0; i < IT__MPI_REQUESTS; i++)
        if (!m->req[i].used) {
            it__mpi_request *q = &m->req[i];
            memset(q, 0, sizeof *q);
            q->used = 1, q->what = what, q->floats = floats;
            if (id) *id = i;
            return q;
        }
    snprintf(m->comm.error, sizeof m->comm.error, "%s: more than %d operations in flight", what, IT__MPI_REQUESTS);
    return NULL;
}

/* Starts the sum of n floats over the ranks, in pieces: onto every rank (root < 0, MPI_Iallreduce)
   or onto rank root (MPI_Ireduce; ZeRO-1 sends each gradient bucket to the rank that owns it). */
static it_result it__mpi_sum_start(it_comm *c, float *buf, size_t n, int root, int *request) {
    it__mpi *m = (it__mpi *)c->user;
    const char *what = root < 0 ? "all-reduce" : "reduce";
    it__mpi_request *q;
    size_t done;
    int rc;
    if (n > IT__MPI_PIECE * IT__MPI_PIECES) {
        snprintf(c->error, sizeof c->error, "%s of %zu floats: more than %zu at once", what, n, IT__MPI_PIECE * IT__MPI_PIECES);
        return IT_ERR_RANGE;
    }
    if (!(q = it__mpi_new_request(m, what, n, request))) return IT_ERR_STATE;
    for (done = 0; done < n || q->n == 0; q->n++) {
        size_t piece = n - done < IT__MPI_PIECE ? n - done : IT__MPI_PIECE;
        if (root < 0)
            rc = MPI_Iallreduce(MPI_IN_PLACE, buf + done, (int)piece, MPI_FLOAT, MPI_SUM, m->world, &q->r[q->n]);
        else /* in place on the root; the others' buffers are only sent */
            rc = MPI_Ireduce(c->rank == root ? MPI_IN_PLACE : (void *)(buf + done), buf + done, (int)piece, MPI_FLOAT,
                             MPI_SUM, root, m->world, &q->r[q->n]);
        if (rc != MPI_SUCCESS) {
            q->used = 0;
            return it__mpi_fail(c, rc, root < 0 ? "MPI_Iallreduce" : "MPI_Ireduce");
        }
        done += piece;
    }
    return IT_OK;
}
static it_result it__mpi_all_reduce_start(it_comm *c, float *buf, size_t n, int *request) {
    return it__mpi_sum_start(c, buf, n, -1, request);
}
static it_result it__mpi_reduce_start(it_comm *c, float *buf, size_t n, int root, int *request) {
    return it__mpi_sum_start(c, buf, n, root, request);
}
static it_result it__mpi_test(it_comm *c, int request, int *done) {
    it__mpi *m = (it__mpi *)c->user;
    it__mpi_request *q;
    MPI_Status statuses[IT__MPI_PIECES];
    int rc;
    *done = 0;
    if (request < 0 || request >= IT__MPI_REQUESTS || !m->req[request].used) {
        snprintf(c->error, sizeof c->error, "test of request %d, which is not in flight", request);
        return IT_ERR_STATE;
    }
    q = &m->req[request];
    if ((rc = MPI_Testall(q->n, q->r, done, statuses)) != MPI_SUCCESS) {
        q->used = 0;
        return it__mpi_fail(c, rc, q->what);
    }
    if (*done) q->used = 0;
    return IT_OK;
}
static it_result it__mpi_wait(it_comm *c, int request) {
    it__mpi *m = (it__mpi *)c->user;
    if (request < 0 || request >= IT__MPI_REQUESTS || !m->req[request].used) {
        snprintf(c->error, sizeof c->error, "wait for request %d, which is not in flight", request);
        return IT_ERR_STATE;
    }
    return it__mpi_finish(m, &m->req[request]);
}
static it_result it__mpi_broadcast(it_comm *c, void *buf, size_t bytes, int root) {
    it__mpi *m = (it__mpi *)c->user;
    it__mpi_request *q;
    size_t done;
    int rc;
    if (bytes > IT__MPI_PIECE * IT__MPI_PIECES) {
        snprintf(c->error, sizeof c->error, "broadcast of %zu bytes: more than %zu at once", bytes, IT__MPI_PIECE * IT__MPI_PIECES);
        return IT_ERR_RANGE;
    }
    if (!(q = it__mpi_new_request(m, "broadcast", bytes / sizeof(float), NULL))) return IT_ERR_STATE;
    for (done = 0; done < bytes || q->n == 0; q->n++) {
        size_t piece = bytes - done < IT__MPI_PIECE ? bytes - done : IT__MPI_PIECE;
        if ((rc = MPI_Ibcast((char *)buf + done, (int)piece, MPI_BYTE, root, m->world, &q->r[q->n])) != MPI_SUCCESS) {
            q->used = 0;
            return it__mpi_fail(c, rc, "MPI_Ibcast");
        }
        done += piece;
    }
    return it__mpi_finish(m, q);
}
static it_result it__mpi_barrier(it_comm *c) {
    it__mpi *m = (it__mpi *)c->user;
    it__mpi_request *q = it__mpi_new_request(m, "barrier", 0, NULL);
    int rc;
    if (!q) return IT_ERR_STATE;
    q->n = 1;
    if ((rc = MPI_Ibarrier(m->world, &q->r[0])) != MPI_SUCCESS) {
        q->used = 0;
        return it__mpi_fail(c, rc, "MPI_Ibarrier");
    }
    return it__mpi_finish(m, q);
}
/* The parts of it_comm_part as MPI counts and displacements. */
static it_result it__mpi_parts(it__mpi *m, size_t n, const char *what) {
    int r;
    for (r = 0; r < m->comm.size; r++) {
        size_t b, e;
        it_comm_part(n, m->comm.size, r, &b, &e);
        if (e - b > (size_t)INT_MAX || b > (size_t)INT_MAX) {
            snprintf(m->comm.error, sizeof m->comm.error, "%s of %zu floats: a rank's part does not fit an MPI count", what, n);
            return IT_ERR_RANGE;
        }
        m->counts[r] = (int)(e - b), m->displs[r] = (int)b;
    }
    return IT_OK;
}
static it_result it__mpi_reduce_scatter(it_comm *c, float *buf, size_t n) {
    it__mpi *m = (it__mpi *)c->user;
    it__mpi_request *q;
    it_result r;
    int rc;
    if ((r = it__mpi_parts(m, n, "reduce-scatter")) != IT_OK) return r;
    if (!(q = it__mpi_new_request(m, "reduce-scatter", n, NULL))) return IT_ERR_STATE;
    q->n = 1;
    /* in place: the input is the whole buffer, this rank's sum lands at its start */
    if ((rc = MPI_Ireduce_scatter(MPI_IN_PLACE, buf, m->counts, MPI_FLOAT, MPI_SUM, m->world, &q->r[0])) != MPI_SUCCESS) {
        q->used = 0;
        return it__mpi_fail(c, rc, "MPI_Ireduce_scatter");
    }
    if ((r = it__mpi_finish(m, q)) != IT_OK) return r;
    memmove(buf + m->displs[c->rank], buf, (size_t)m->counts[c->rank] * sizeof(float));
    return IT_OK;
}
static it_result it__mpi_all_gather(it_comm *c, float *buf, size_t n) {
    it__mpi *m = (it__mpi *)c->user;
    it__mpi_request *q;
    it_result r;
    int rc;
    if ((r = it__mpi_parts(m, n, "all-gather")) != IT_OK) return r;
    if (!(q = it__mpi_new_request(m, "all-gather", n, NULL))) return IT_ERR_STATE;
    q->n = 1;
    rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, m->counts, m->displs, MPI_FLOAT, m->world, &q->r[0]);
    if (rc != MPI_SUCCESS) {
        q->used = 0;
        return it__mpi_fail(c, rc, "MPI_Iallgatherv");
    }
    return it__mpi_finish(m, q);
}
static void it__mpi_abort(it_comm *c, int code) {
    it__mpi *m = (it__mpi *)c->user;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(m->world, code);
    exit(code); /* MPI_Abort does not return; should an implementation return, this rank still ends */
}

IT_API it_result it_mpi_init(int *argc, char ***argv, const it_mpi_desc *desc, it_comm **out) {
    it__mpi *m;
    int initialised = 0, provided = 0, rc;
    *out = NULL;
    MPI_Initialized(&initialised);
    if (!initialised && (rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) {
        fprintf(stderr, "irontensor mpi: MPI_Init_thread failed (%d)\n", rc);
        return IT_ERR_BACKEND;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (!(m = (it__mpi *)calloc(1, sizeof *m))) {
        fprintf(stderr, "irontensor mpi: out of memory\n");
        return IT_ERR_OUT_OF_MEMORY;
    }
    m->we_initialised = !initialised;
    m->timeout = desc && desc->timeout_seconds > 0 ? desc->timeout_seconds : 60.0;
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->world)) != MPI_SUCCESS) {
        fprintf(stderr, "irontensor mpi: MPI_Comm_dup failed (%d)\n", rc);
        free(m);
        return IT_ERR_BACKEND;
    }
    MPI_Comm_set_errhandler(m->world, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->world, &m->comm.rank);
    MPI_Comm_size(m->world, &m->comm.size);
    m->counts = (int *)calloc((size_t)m->comm.size, sizeof(int));
    m->displs = (int *)calloc((size_t)m->comm.size, sizeof(int));
    if (!m->counts || !m->displs) {
        fprintf(stderr, "irontensor mpi: out of memory\n");
        free(m->counts), free(m->displs), free(m);
        return IT_ERR_OUT_OF_MEMORY;
    }
    m->comm.user = m;
    m->comm.all_reduce_start = it__mpi_all_reduce_start;
    m->comm.test = it__mpi_test;
    m->comm.wait = it__mpi_wait;
    m->comm.broadcast = it__mpi_broadcast;
    m->comm.barrier = it__mpi_barrier;
    m->comm.reduce_scatter_sum = it__mpi_reduce_scatter;
    m->comm.all_gather = it__mpi_all_gather;
    m->comm.reduce_start = it__mpi_reduce_start;
    m->comm.abort = it__mpi_abort;
    *out = &m->comm;
    return IT_OK;
}
IT_API void it_mpi_finalize(it_comm *comm) {
    it__mpi *m;
    int we;
    if (!comm) return;
    m = (it__mpi *)comm->user;
    we = m->we_initialised;
    MPI_Comm_free(&m->world);
    free(m->counts);
    free(m->displs);
    free(m);
    if (we) MPI_Finalize();
}
#endif /* IRONTENSOR_MPI_IMPLEMENTATION */
