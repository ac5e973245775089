/* The core's library-internal interface, open to every module above it (never installed): the
 * worker pool's parallel loops, CPU-specific copies of hot loops, locale-proof number text and
 * the did-you-mean helper. The context's struct stays private to core (ctx_private.h). */
#ifndef NETSMITH_CORE_INTERNAL_H
#define NETSMITH_CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "netsmith/core.h"

/* The size of a context's message buffer (ns_last_error). */
#define NS__ERRMSG_CAP 1024

/* Records where in a JSON text the error just reported is (ns_error_path). */
void ns__error_set_path(ns_ctx *ctx, const char *path);

/* Hot loops get a second copy compiled for x86-64-v3 CPUs (AVX2, FMA), picked at load time (ifunc), so
 * one binary runs everywhere and vectorises where it can. Results do not change: the loops use
 * no reassociation, and fmaf / sqrtf are exactly rounded either way. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                           \
    !defined(__SANITIZE_ADDRESS__) && defined(__OPTIMIZE__)
#define NS__CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NS__CPU_CLONES
#endif

/* NS__CPU_CLONES for loops over many short rows (a few dozen floats): kept as loops, where
 * gcc would otherwise call memcpy / memset for each row, which costs more than the copy. */
#if defined(__GNUC__) && !defined(__clang__)
#define NS__ROW_LOOPS NS__CPU_CLONES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NS__ROW_LOOPS NS__CPU_CLONES
#endif

/* Piece `piece` of `pieces` of a parallel task. */
typedef void (*ns__task_fn)(void *arg, int piece, int pieces);
/* Runs fn(arg, i, pieces) for every i in [0, pieces) on the calling thread and ctx's workers
 * (ctx may be NULL: the calling thread alone), returning once all are done. Pieces must be
 * independent (disjoint outputs); which thread runs which piece is not fixed. Never fails:
 * without a pool (1 thread, or one that could not be made) the caller runs every piece. */
void ns__parallel(ns_ctx *ctx, int pieces, ns__task_fn fn, void *arg);
/* The same with the index of the thread that runs the piece: 0 for the calling thread,
 * 1 .. threads-1 for ctx's workers (whose scratch ns__ctx_scratch gives). */
typedef void (*ns__task_tid_fn)(void *arg, int piece, int pieces, int tid);
void ns__parallel_tid(ns_ctx *ctx, int pieces, ns__task_tid_fn fn, void *arg);
/* Makes sure each of ctx's workers holds a scratch buffer of at least `floats` floats (made,
 * or grown, through ctx's allocator; kept until the pool goes) and returns how many threads
 * ns__parallel_tid may then use: ctx's thread count, or 1 when ctx has no pool (1 thread,
 * or it could not be made) or the memory cannot be had (the caller then runs alone, with
 * its own buffers; nothing is reported). Call it from the thread that calls ns__parallel. */
int ns__ctx_reserve(ns_ctx *ctx, size_t floats);
/* Worker tid's (>= 1) scratch after an ns__ctx_reserve that returned more than 1. */
float *ns__ctx_scratch(ns_ctx *ctx, int tid);
/* How many threads ns__parallel can use on ctx (1 for NULL). */
int ns__ctx_width(const ns_ctx *ctx);
/* Runs fn(arg, lo, hi) over [0, n) in blocks of `block` elements (the last one the rest) on
 * ctx's threads, or once over all of it without them or when one block holds it all (ctx
 * may be NULL). For elementwise work: blocks must be independent. */
typedef void (*ns__range_fn)(void *arg, size_t lo, size_t hi);
void ns__parallel_range(ns_ctx *ctx, size_t n, size_t block, ns__range_fn fn, void *arg);
/* Elements per block of elementwise work on the pool (128 KiB of floats, far above the cost
 * of a hand-off; a multiple of 16, so blocks of a 64-byte-aligned array stay aligned). */
#define NS__PARALLEL_BLOCK ((size_t)32768)
/* p[0..n) = 0, split over ctx's threads in blocks when n is large (ctx may be NULL). */
void ns__parallel_zero(ns_ctx *ctx, float *p, size_t n);
/* How many of ctx's threads may split work made of OpenBLAS products (dense layers'
 * row bands, convolutions' sample chunks): ctx's count while OpenBLAS runs on one thread,
 * else 1, because OpenBLAS then splits every large product over its own threads and
 * splitting again would put two threads on each core. Elementwise work (the optimizer's
 * update) splits over ctx's threads either way. */
int ns__gemm_width(const ns_ctx *ctx);
/* Shortest text that reads back as the same double ("0.2", "1e-05"); buf >= 32 bytes. Always
 * with a '.', whatever locale the application set. */
void ns__format_double(char *buf, size_t cap, double v);
/* A double as canonical JSON prints it: shortest round-trip text, and integral values keep a
 * ".0" ("1.0", "100.0") so reals read as reals; buf >= 32 bytes. */
void ns__format_real(char *buf, size_t cap, double v);
/* strtod and snprintf in the C locale on this thread, whatever locale the application set
 * (setlocale(LC_ALL, "") under de_DE would read and write "0,5"): every number the library
 * reads from or writes into a file goes through these (or jansson, which does the same). */
double ns__strtod(const char *s, char **end);
int ns__snprintf_c(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ns_realloc that leaves the context's message alone when it fails (NULL; ptr stays valid): for
 * a shrink the caller can do without. */
void *ns__realloc_quiet(ns_ctx *ctx, void *ptr, size_t size);
/* Frees strings[0..n-1] (each may be NULL) and the array, all from ctx's allocator (core.c).
 * strings may be NULL (a no-op). */
void ns__free_strings(ns_ctx *ctx, char **strings, int n);
/* The candidate closest to got (case-insensitive edit distance with swaps) when close enough
 * to be a likely typo, else NULL. */
const char *ns__suggest(const char *got, const char *const *cands, int n);
/* " (did you mean 'x'?)" for the suggestion of ns__suggest, or "" (written into buf). */
const char *ns__did_you_mean(char *buf, size_t cap, const char *got, const char *const *cands,
                             int n);

#endif
