/* The context's worker threads: a small pool, made on the first call that can use it, that
 * runs the pieces of one parallel call (ns__parallel) next to the calling thread.
 *
 * Hand-off. The caller publishes a task (function, argument, piece count) and bumps a
 * generation counter; workers that are spinning see it within a fraction of a microsecond,
 * sleeping ones are woken through a condition variable. Every thread, the caller included,
 * then claims pieces from one atomic counter until none are left, so a worker that is late
 * (asleep, or its core taken by another process) costs nothing: the caller simply runs the
 * pieces itself. The caller returns once every claimed piece is done.
 *
 * Idle workers spin for NS__SPIN_NS after a task (a training step issues its GEMMs a few
 * microseconds apart), then sleep on the condition variable, so a pool between steps or
 * between trainings does not hold a core.
 *
 * Results never depend on which thread runs a piece: pieces write disjoint outputs.
 *
 * Scratch. Each worker owns a buffer (ns__ctx_reserve) that a piece of ns__parallel_tid finds
 * through its thread index; it is grown through the context's hooks between tasks, only when
 * a caller asks for more than it holds, so steady training allocates nothing. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/ctx_private.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins for the next task before it sleeps. */
#define NS__SPIN_NS 100000L

/* One worker thread: its index (1..n_workers; the caller is 0) and its scratch. */
typedef struct ns__worker {
    ns__pool *pool;
    int tid;
    float *scratch;
    size_t cap; /* floats */
} ns__worker;

struct ns__pool {
    ns_ctx *ctx;
    int n_workers;
    pthread_t *threads;
    ns__worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the current task (written by the caller before it bumps gen) */
    ns__task_fn fn; /* one of fn and fn_tid */
    ns__task_tid_fn fn_tid;
    void *arg;
    int pieces;
    atomic_int next;     /* next unclaimed piece */
    atomic_int done;     /* pieces finished */
    atomic_uint gen;     /* task generation; bumped once per task */
    atomic_int busy;     /* workers inside the current task's claim loop */
    atomic_int sleepers; /* workers that may be waiting on cv */
    atomic_bool quit;
};

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* Claims and runs pieces of the current task until none are left. */
static void run_pieces(ns__pool *p, int tid)
{
    for (;;) {
        int i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->pieces)
            return;
        if (p->fn_tid != NULL)
            p->fn_tid(p->arg, i, p->pieces, tid);
        else
            p->fn(p->arg, i, p->pieces);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

/* The generation is odd while the caller writes a task, even once it is published. */
static bool fresh(unsigned g, unsigned seen)
{
    return g != seen && (g & 1u) == 0;
}

static void *worker_main(void *arg)
{
    const ns__worker *self = arg;
    ns__pool *p = self->pool;
    unsigned seen = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (;;) {
        /* Spin a while for the next task, then sleep. */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long spin_ns = ns__blas_threads() > 1 ? 0 : NS__SPIN_NS;
        unsigned g;
        for (int k = 0;; k++) {
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
            if (fresh(g, seen) || atomic_load_explicit(&p->quit, memory_order_relaxed))
                break;
            CPU_RELAX();
            if ((k & 63) == 63 && elapsed_ns(&t0) > spin_ns) {
                atomic_fetch_add(&p->sleepers, 1);
                pthread_mutex_lock(&p->mu);
                while (!fresh(g = atomic_load(&p->gen), seen) && !atomic_load(&p->quit))
                    pthread_cond_wait(&p->cv, &p->mu);
                pthread_mutex_unlock(&p->mu);
                atomic_fetch_sub(&p->sleepers, 1);
                break;
            }
        }
        if (atomic_load(&p->quit))
            return NULL;
        seen = g;
        /* Enter the task only while it is still the published one: the caller makes gen odd
         * and then waits for busy to drop to 0 before it rewrites the task, so a worker
         * either is counted in busy before that wait or sees the odd gen here (both are
         * sequentially consistent) and skips. */
        atomic_fetch_add(&p->busy, 1);
        if (atomic_load(&p->gen) == seen)
            run_pieces(p, self->tid);
        atomic_fetch_sub_explicit(&p->busy, 1, memory_order_release);
    }
}

static void pool_destroy(ns__pool *p, int started)
{
    atomic_store(&p->quit, true);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    for (int i = 0; i < p->n_workers; i++)
        if (p->workers[i].scratch != NULL)
            p->ctx->alloc.free(p->ctx->alloc.ud, p->workers[i].scratch);
    p->ctx->alloc.free(p->ctx->alloc.ud, p->workers);
    p->ctx->alloc.free(p->ctx->alloc.ud, p->threads);
    p->ctx->alloc.free(p->ctx->alloc.ud, p);
}

/* A pool of n_workers threads, or NULL when memory or threads cannot be had (the caller then
 * runs every piece itself; nothing is reported: the results are the same). Allocates through
 * the context's hooks without touching its error message. */
static ns__pool *pool_new(ns_ctx *ctx, int n_workers)
{
    ns_allocator *a = &ctx->alloc;
    ns__pool *p = a->malloc(a->ud, sizeof *p);
    if (p == NULL)
        return NULL;
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->threads = a->malloc(a->ud, (size_t)n_workers * sizeof *p->threads);
    if (p->threads == NULL) {
        a->free(a->ud, p);
        return NULL;
    }
    p->workers = a->malloc(a->ud, (size_t)n_workers * sizeof *p->workers);
    if (p->workers == NULL) {
        a->free(a->ud, p->threads);
        a->free(a->ud, p);
        return NULL;
    }
    for (int i = 0; i < n_workers; i++)
        p->workers[i] = (ns__worker){p, i + 1, NULL, 0};
    atomic_init(&p->next, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->busy, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->quit, false);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        a->free(a->ud, p->workers);
        a->free(a->ud, p->threads);
        a->free(a->ud, p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        a->free(a->ud, p->workers);
        a->free(a->ud, p->threads);
        a->free(a->ud, p);
        return NULL;
    }
    p->n_workers = n_workers; /* pool_destroy frees every worker's (still NULL) scratch */
    for (int i = 0; i < n_workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) {
            pool_destroy(p, i);
            return NULL;
        }
    }
    return p;
}

void ns__pool_free(ns_ctx *ctx)
{
    if (ctx->pool != NULL)
        pool_destroy(ctx->pool, ctx->pool->n_workers);
    ctx->pool = NULL;
}

/* ---- the thread-count setting --------------------------------------------------------- */

/* 1: measured on a 2-core machine, 2 threads of the pool beat 1 on networks c and d only
 * with OpenBLAS held at 1 thread, which is a process-wide setting the library leaves to the
 * application (see ns_ctx_set_threads). */
int ns_ctx_default_threads(void)
{
    return 1;
}

ns_status ns_ctx_set_threads(ns_ctx *ctx, int n)
{
    NS_ASSERT(ctx != NULL);
    if (n < 0 || n > NS_MAX_THREADS)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "threads: %d is out of range; use 1 to %d, or 0 for the default (%d)", n,
                         NS_MAX_THREADS, ns_ctx_default_threads());
    if (n == 0)
        n = ns_ctx_default_threads();
    if (n != ctx->threads) {
        ns__pool_free(ctx); /* made again, at the new size, when next needed */
        ctx->threads = n;
        ctx->pool_failed = false;
    }
    return NS_OK;
}

int ns_ctx_threads(const ns_ctx *ctx)
{
    return ctx->threads;
}

int ns__ctx_width(const ns_ctx *ctx) { return ctx != NULL ? ctx->threads : 1; }

int ns__gemm_width(const ns_ctx *ctx)
{
    int width = ns__ctx_width(ctx);
    return width > 1 && ns__blas_threads() > 1 ? 1 : width;
}

/* ---- running a task ----------------------------------------------------------------------- */

/* ctx's pool, made on first use; NULL at 1 thread or when it cannot be made. */
static ns__pool *pool_get(ns_ctx *ctx)
{
    if (ctx == NULL || ctx->threads <= 1)
        return NULL;
    if (ctx->pool == NULL && !ctx->pool_failed) {
        ctx->pool = pool_new(ctx, ctx->threads - 1);
        ctx->pool_failed = ctx->pool == NULL;
    }
    return ctx->pool;
}

int ns__ctx_reserve(ns_ctx *ctx, size_t floats)
{
    ns__pool *p = pool_get(ctx);
    if (p == NULL)
        return 1;
    ns_allocator *a = &ctx->alloc;
    for (int i = 0; i < p->n_workers; i++) {
        ns__worker *wk = &p->workers[i];
        if (wk->cap >= floats)
            continue;
        /* No worker is inside a piece between tasks: replace the buffer. */
        if (wk->scratch != NULL)
            a->free(a->ud, wk->scratch);
        wk->cap = 0;
        wk->scratch = a->malloc(a->ud, floats * sizeof(float));
        if (wk->scratch == NULL)
            return 1;
        wk->cap = floats;
    }
    return ctx->threads;
}

float *ns__ctx_scratch(ns_ctx *ctx, int tid)
{
    NS_ASSERT(ctx != NULL && ctx->pool != NULL && tid >= 1 && tid <= ctx->pool->n_workers);
    return ctx->pool->workers[tid - 1].scratch;
}

static void parallel_run(ns_ctx *ctx, int pieces, ns__task_fn fn, ns__task_tid_fn fn_tid, void *arg)
{
    if (pieces <= 0)
        return;
    ns__pool *p = pieces > 1 ? pool_get(ctx) : NULL;
    if (p == NULL) {
        for (int i = 0; i < pieces; i++) {
            if (fn_tid != NULL)
                fn_tid(arg, i, pieces, 0);
            else
                fn(arg, i, pieces);
        }
        return;
    }
    /* Close the previous task (odd gen), wait until no worker is inside it (one that woke
     * late may still be in its claim loop, finding nothing left), write the new task, then
     * publish it (even gen). */
    atomic_fetch_add(&p->gen, 1);
    while (atomic_load(&p->busy) != 0)
        CPU_RELAX();
    p->fn = fn;
    p->fn_tid = fn_tid;
    p->arg = arg;
    p->pieces = pieces;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: see the sleepers test below */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_pieces(p, 0);
    /* Pieces claimed by workers may still be running. */
    for (int k = 0; atomic_load_explicit(&p->done, memory_order_acquire) < pieces; k++) {
        CPU_RELAX();
        if ((k & 1023) == 1023)
            sched_yield();
    }
}

typedef struct range_task {
    size_t n, block;
    ns__range_fn fn;
    void *arg;
} range_task;

static void range_piece(void *arg, int piece, int pieces)
{
    (void)pieces;
    const range_task *t = arg;
    size_t lo = (size_t)piece * t->block;
    t->fn(t->arg, lo, t->n - lo < t->block ? t->n : lo + t->block);
}

void ns__parallel_range(ns_ctx *ctx, size_t n, size_t block, ns__range_fn fn, void *arg)
{
    NS_ASSERT(block > 0);
    size_t pieces = n / block + (n % block != 0);
    if (ns__ctx_width(ctx) < 2 || pieces < 2 || pieces > INT_MAX) {
        if (n > 0)
            fn(arg, 0, n);
        return;
    }
    range_task t = {n, block, fn, arg};
    ns__parallel(ctx, (int)pieces, range_piece, &t);
}

static void zero_range(void *arg, size_t lo, size_t hi)
{
    float *p = arg;
    memset(p + lo, 0, (hi - lo) * sizeof *p);
}

void ns__parallel_zero(ns_ctx *ctx, float *p, size_t n)
{
    ns__parallel_range(ctx, n, NS__PARALLEL_BLOCK, zero_range, p);
}

void ns__parallel(ns_ctx *ctx, int pieces, ns__task_fn fn, void *arg)
{
    parallel_run(ctx, pieces, fn, NULL, arg);
}

void ns__parallel_tid(ns_ctx *ctx, int pieces, ns__task_tid_fn fn, void *arg)
{
    parallel_run(ctx, pieces, NULL, fn, arg);
}
