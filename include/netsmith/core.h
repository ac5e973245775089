/* netsmith core: status codes, the context (allocation hooks + error message),
 * the step arena, the counter-based random generator and float32 tensor views. */
#ifndef NETSMITH_CORE_H
#define NETSMITH_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NS_VERSION_MAJOR 0
#define NS_VERSION_MINOR 1
#define NS_VERSION_PATCH 0
#define NS_VERSION_STRING "0.1.0"

/* Marks the library's public functions: the library is built with -fvisibility=hidden, so
 * these are all its shared object exports (its ns__ internals stay inside). */
#if defined(__GNUC__) || defined(__clang__)
#define NS_API __attribute__((visibility("default")))
#else
#define NS_API
#endif

/* Returns NS_VERSION_STRING of the library actually linked. */
NS_API const char *ns_version(void);

/* What the products run on: the BLAS library netsmith loaded at run time, its version, its
 * kernel set and why that one, e.g. "OpenBLAS 0.3.21 (libopenblas.so.0), core Haswell: chosen
 * from the CPU's AVX2 and FMA". OpenBLAS is loaded with the kernels for the CPU's widest
 * instruction set even where its own CPU table does not know the model; the environment can
 * change the choice: NETSMITH_BLAS_CORE=<core> forces an OpenBLAS core, OPENBLAS_CORETYPE is
 * kept unless it names kernels older than the CPU's, NETSMITH_BLAS=<library> loads another
 * CBLAS library (BLIS) or oneDNN. When no BLAS could be loaded the text says why. Loads the
 * BLAS on first call (ns_ctx_new does too); the string is static, never NULL; thread-safe. */
NS_API const char *ns_kernel_path(void);

/* Sets the loaded BLAS's own thread count, for the whole process (OpenBLAS or BLIS; other
 * libraries are left as they are). n < 1 is ignored. Products split over a context's threads
 * (ns_ctx_set_threads) only while this is 1. Thread-safe, but not during a product. */
NS_API void ns_blas_set_threads(int n);

/* ---- status codes ------------------------------------------------------ */

/* X(name, value, description). 0 is success, every error is negative. */
#define NS_STATUS_MAP(X)                                                                           \
    X(OK, 0, "ok")                                                                                 \
    X(ERR_NOMEM, -1, "out of memory")                                                              \
    X(ERR_INVALID, -2, "invalid argument")                                                         \
    X(ERR_PARSE, -3, "parse error")                                                                \
    X(ERR_IO, -4, "input/output error")                                                            \
    X(ERR_FORMAT, -5, "malformed file")                                                            \
    X(ERR_SHAPE, -6, "shape mismatch")                                                             \
    X(ERR_UNSUPPORTED, -7, "not supported")                                                        \
    X(ERR_STATE, -8, "call out of order")                                                          \
    X(ERR_NONFINITE, -9, "non-finite value")                                                       \
    X(ERR_CANCELLED, -10, "cancelled")                                                             \
    X(ERR_NOTFOUND, -11, "not found")                                                              \
    X(ERR_BUSY, -12, "busy: held by another")

typedef enum ns_status {
#define NS__STATUS_ENUM(name, value, desc) NS_##name = value,
    NS_STATUS_MAP(NS__STATUS_ENUM)
#undef NS__STATUS_ENUM
} ns_status;

/* A static, never-NULL description of a status ("unknown status" for others). */
NS_API const char *ns_status_str(ns_status status);

/* Always-on assertion for programmer errors (never for user input). */
#define NS_ASSERT(cond)                                                                            \
    ((cond) ? (void)0 : ns__assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void ns__assert_fail(const char *expr, const char *file, int line);

/* ---- the context --------------------------------------------------------- */

/* Allocation hooks. realloc(ud, NULL, n) must behave as malloc; free(ud, NULL) is a no-op.
 * Zero-size requests are never made. */
typedef struct ns_allocator {
    void *(*malloc)(void *ud, size_t size);
    void *(*realloc)(void *ud, void *ptr, size_t size);
    void (*free)(void *ud, void *ptr);
    void *ud;
} ns_allocator;

/* A context holds the allocation hooks, the last error message and the thread setting
 * (with its worker pool, see ns_ctx_set_threads). Every handle is
 * made from a context and keeps using it. Thread safety: a context and all handles
 * made from it belong to one thread at a time; use one context per job or thread. */
typedef struct ns_ctx ns_ctx;

/* Makes a context. alloc may be NULL for the C library's malloc; it is copied. The first call
 * in a process also loads the BLAS (ns_kernel_path). Returns NS_ERR_NOMEM if the context
 * itself cannot be allocated, NS_ERR_UNSUPPORTED if no BLAS can be loaded (ns_kernel_path
 * says why); *out is NULL then. On success *out is the caller's: ns_ctx_free. */
NS_API ns_status ns_ctx_new(const ns_allocator *alloc, ns_ctx **out);
/* Frees the context. Every handle made from it must already be freed. NULL is a no-op. */
NS_API void ns_ctx_free(ns_ctx *ctx);

/* ---- threads ------------------------------------------------------------------------ */

/* Most threads a context may use. */
#define NS_MAX_THREADS 64

/* How many threads the kernels of this context's handles may use: the calling thread plus
 * n - 1 workers of the context's own pool, made on the first call that can use them and
 * freed with the context (or when the setting changes). n is 1 to NS_MAX_THREADS, or 0 for
 * the default, ns_ctx_default_threads() (1). Returns NS_ERR_INVALID (with a message)
 * otherwise.
 * Large dense-layer products are split (over 4 M multiply-adds; each piece keeps at least
 * 2 M) by bands of output rows, each piece one sgemm call; convolutions are split by chunks
 * of 8 samples (weight and bias gradients summed per chunk, then over chunks in order);
 * optimizer updates by blocks of 32 Ki parameters; small products run on the calling thread.
 * Results do not depend on n: the pieces are the same whatever thread runs them.
 * OpenBLAS: its own thread count is process-wide (OPENBLAS_NUM_THREADS). With n > 1 run it
 * at 1 for the full effect; while it runs on more than one thread, products are left to it
 * (it splits them over its own threads) and only the optimizer update uses the pool. With
 * n = 1 (the default) OpenBLAS's own threading applies as before.
 * The pool is this context's alone: contexts used from different threads never share or
 * wait for each other's workers; with many contexts training at once keep 1 each. Idle
 * workers spin about 0.1 ms after each parallel call (not at all while OpenBLAS has threads
 * of its own, which would then wait for the core), then sleep. Not to be called while
 * another thread uses the context. */
NS_API ns_status ns_ctx_set_threads(ns_ctx *ctx, int n);
/* The context's thread count (set, or the default). */
NS_API int ns_ctx_threads(const ns_ctx *ctx);
/* The default thread count: 1 (see ns_ctx_set_threads). */
NS_API int ns_ctx_default_threads(void);

/* The message of the last failed call on this context (or a handle made from it),
 * "" if none. Valid until the next failing call. Never NULL. */
NS_API const char *ns_errmsg(const ns_ctx *ctx);
/* Where in a JSON text the last error is, when it is about one: the path inside the text the
 * message names ("layers[2].units"; "" for the whole text, or an error about no JSON text).
 * A message built around the previous one keeps its path. Borrowed from ctx. */
NS_API const char *ns_error_path(const ns_ctx *ctx);
/* Clears the message. */
NS_API void ns_errclear(ns_ctx *ctx);

/* Records a formatted message and returns status, so callers can write
 * `return ns_errorf(ctx, NS_ERR_PARSE, "spec.json: %s ...", ...);` */
NS_API ns_status ns_errorf(ns_ctx *ctx, ns_status status, const char *fmt, ...)
           __attribute__((format(printf, 3, 4)));
NS_API ns_status ns_verrorf(ns_ctx *ctx, ns_status status, const char *fmt, va_list ap)
           __attribute__((format(printf, 3, 0)));

/* Allocation through the context's hooks. ns_alloc/ns_calloc record an
 * out-of-memory message on failure and return NULL. size 0 returns NULL without error. */
NS_API void *ns_alloc(ns_ctx *ctx, size_t size);
NS_API void *ns_calloc(ns_ctx *ctx, size_t count, size_t size);
NS_API void *ns_realloc(ns_ctx *ctx, void *ptr, size_t size);
NS_API void ns_dealloc(ns_ctx *ctx, void *ptr);
/* A copy of s (NUL-terminated) through the hooks, or NULL on out of memory. */
NS_API char *ns_strdup(ns_ctx *ctx, const char *s);

/* ---- progress and cancellation (every long call takes one) ------------------------------ */

/* fn (may be NULL) is called now and then with the work done out of total (total 0 when
 * unknown) and a short stage name ("parse", "inflate", ...); returning false cancels.
 * cancel (may be NULL) may be set non-zero from any thread to cancel. A cancelled call
 * returns NS_ERR_CANCELLED and leaves nothing behind. */
typedef struct ns_progress {
    bool (*fn)(void *ud, const char *stage, double done, double total);
    void *ud;
    const atomic_int *cancel;
} ns_progress;

/* Reports progress; returns NS_ERR_CANCELLED (with a message) when asked to stop.
 * progress may be NULL. */
NS_API ns_status ns_progress_report(ns_ctx *ctx, const ns_progress *progress, const char *stage,
                                    double done, double total);

/* ---- settings --------------------------------------------------------------- */

/* A typed setting with its default, range and documentation: the one machinery behind the
 * cards' settings and the run config, read from YAML/JSON, flags and card settings, and
 * printed as JSON schemas for forms and search spaces. */
typedef enum ns_setting_type {
    NS_SETTING_INT = 1,
    NS_SETTING_NUMBER,
    NS_SETTING_BOOL,
    NS_SETTING_STRING,
    NS_SETTING_LIST, /* a list of numbers */
    NS_SETTING_ANY   /* any JSON value, checked by the card */
} ns_setting_type;

typedef struct ns_setting_def {
    const char *name;
    ns_setting_type type;
    const char *default_json; /* NULL: no default; "null": absent unless given */
    const char *choices;      /* for strings: "a|b|c", or NULL for free text */
    const char *doc;
    double min, max;          /* for numbers (and a list's elements), when min < max */
} ns_setting_def;

/* ---- arena ----------------------------------------------------------------- */

/* A bump allocator over one block, planned once and reset each step.
 * Alignment is 64 bytes. Caller-owned struct (ns_arena_init/deinit). */
typedef struct ns_arena {
    unsigned char *base;
    size_t cap;  /* bytes */
    size_t used; /* bytes */
} ns_arena;

/* Allocates cap bytes for the arena (cap 0 allocates nothing). Returns NS_ERR_NOMEM on failure
 * (arena is then zeroed). The block is the caller's: ns_arena_deinit frees it. */
NS_API ns_status ns_arena_init(ns_ctx *ctx, ns_arena *arena, size_t cap);
NS_API void ns_arena_deinit(ns_ctx *ctx, ns_arena *arena);
/* n floats from the arena, 64-byte aligned; NULL when the plan was too small
 * (a programmer error: plans are computed from the same shapes). */
NS_API float *ns_arena_floats(ns_arena *arena, size_t n);
static inline void ns_arena_reset(ns_arena *arena) { arena->used = 0; }
/* Bytes an allocation of n floats occupies, for planning. */
NS_API size_t ns_arena_plan_floats(size_t n);

/* ---- random numbers ---------------------------------------------------------- */

/* Purposes that keep random streams apart. A stream is derived from
 * (seed, purpose, step); it never depends on call order elsewhere. */
typedef enum ns_rng_purpose {
    NS_RNG_INIT = 1,    /* weight initialisation; step = layer index */
    NS_RNG_DROPOUT = 2, /* dropout masks; step = forward-pass counter */
    NS_RNG_SHUFFLE = 3, /* batch order; step = epoch */
    NS_RNG_SPLIT = 4,   /* data split */
    NS_RNG_USER = 100   /* first value free for applications */
} ns_rng_purpose;

/* Philox4x32-10 counter-based generator. Caller-owned, plain data: copying it
 * copies the stream position; saving its fields saves the stream. */
typedef struct ns_rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int used; /* how many of buf were consumed (4 = refill) */
} ns_rng;

/* Seeds a stream from (seed, purpose, step): the same three give the same numbers whatever
 * else ran before. */
NS_API void ns_rng_init(ns_rng *rng, uint64_t seed, uint32_t purpose, uint64_t step);
/* A sub-stream, e.g. one per layer: same seed/purpose/step, different lane. */
NS_API void ns_rng_init_lane(ns_rng *rng, uint64_t seed, uint32_t purpose, uint64_t step,
                             uint32_t lane);
NS_API uint32_t ns_rng_u32(ns_rng *rng);
/* Uniform in [0, 1) with 24 random bits. */
NS_API float ns_rng_uniform(ns_rng *rng);
/* n uniforms in [0, 1): exactly the values n calls of ns_rng_uniform would give, faster. */
NS_API void ns_rng_fill_uniform(ns_rng *rng, float *out, size_t n);
/* Uniform in [lo, hi). */
NS_API float ns_rng_uniform_range(ns_rng *rng, float lo, float hi);
/* Standard normal (Box-Muller on two uniforms). */
NS_API float ns_rng_normal(ns_rng *rng);
/* Uniform integer in [0, n), unbiased. n > 0. */
NS_API uint32_t ns_rng_below(ns_rng *rng, uint32_t n);

/* ---- tensors -------------------------------------------------------------------- */

#define NS_MAX_DIMS 4

/* A float32 view: data is borrowed, never owned. Row-major, contiguous. */
typedef struct ns_tensor {
    float *data;
    int ndim;
    int64_t shape[NS_MAX_DIMS];
} ns_tensor;

/* Number of elements (1 for ndim 0). */
NS_API int64_t ns_tensor_numel(const ns_tensor *t);
NS_API ns_tensor ns_tensor_view(float *data, int ndim, const int64_t *shape);

/* One batch, as Prepare Batch yields it and the training loop takes it: x[n, F] float
 * features; y[n, T] regression targets or labels[n] class indices (the other NULL).
 * Borrowed pointers; the producer says how long they stay valid. */
typedef struct ns_batch {
    const float *x;
    const float *y;
    const int32_t *labels;
    int n;
    int64_t epoch, index;
} ns_batch;

#ifdef __cplusplus
}
#endif
#endif
