/* Cross-file internals of the library: the structs behind the opaque handles and the
 * layer-type table. Never installed. */
#ifndef NETSMITH_INTERNAL_H
#define NETSMITH_INTERNAL_H

#include "netsmith/netsmith.h"

#define NS__ERRMSG_CAP 1024

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

/* The context's worker pool (core/threads.c). */
typedef struct ns__pool ns__pool;

struct ns_ctx {
    ns_allocator alloc;
    char msg[NS__ERRMSG_CAP];
    int threads;      /* ns_ctx_set_threads: 1 = the calling thread only */
    ns__pool *pool;   /* threads - 1 workers, made on first use; NULL until then */
    bool pool_failed; /* the pool could not be made (memory, threads): run on the caller */
};

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
static inline int ns__ctx_width(const ns_ctx *ctx) { return ctx != NULL ? ctx->threads : 1; }
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
/* Stops and frees ctx's pool, if any (ns_ctx_free, ns_ctx_set_threads). */
void ns__pool_free(ns_ctx *ctx);

/* ns_dense_forward / ns_dense_backward with their large GEMMs split over ctx's threads
 * (kernels/dense.c); the same results at any thread count. ctx may be NULL (one thread). */
void ns__dense_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                           int batch, int in, int out);
void ns__dense_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int batch, int in, int out);

/* ns_conv2d_forward / ns_conv2d_backward with the batch split over ctx's threads in gradient
 * chunks of NS__CONV_GRAD_CHUNK samples (kernels/conv.c); the same results at any thread
 * count. ctx may be NULL (one thread). */
#define NS__CONV_GRAD_CHUNK 8
void ns__conv2d_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                            const ns_conv2d_geom *g, int batch, ns_conv2d_work *work);
void ns__conv2d_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                             const float *x, const float *w, const ns_conv2d_geom *g, int batch,
                             ns_conv2d_work *work, int col_ready);

/* Shortest text that reads back as the same double ("0.2", "1e-05"); buf >= 32 bytes. Always
 * with a '.', whatever locale the application set. */
void ns__format_double(char *buf, size_t cap, double v);
/* strtod and snprintf in the C locale on this thread, whatever locale the application set
 * (setlocale(LC_ALL, "") under de_DE would read and write "0,5"): every number the library
 * reads from or writes into a file goes through these (or jansson, which does the same). */
double ns__strtod(const char *s, char **end);
int ns__snprintf_c(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees strings[0..n-1] (each may be NULL) and the array, all from ctx's allocator (core.c).
 * strings may be NULL (a no-op). */
void ns__free_strings(ns_ctx *ctx, char **strings, int n);
/* The candidate closest to got (case-insensitive edit distance with swaps) when close enough
 * to be a likely typo, else NULL. */
const char *ns__suggest(const char *got, const char *const *cands, int n);
/* " (did you mean 'x'?)" for the suggestion of ns__suggest, or "" (written into buf). */
const char *ns__did_you_mean(char *buf, size_t cap, const char *got, const char *const *cands,
                             int n);

/* ---- specs ---------------------------------------------------------------------- */

#define NS__MAX_HIDDEN 64

struct ns_spec {
    ns_ctx *ctx;
    ns_spec_form form;
    /* short form */
    char model_type[32];
    int n_hidden;
    int hidden[NS__MAX_HIDDEN];
    ns_layer_kind activation;
    bool activation_tanh_approx; /* "gelu_tanh" */
    double dropout;
    int output_size; /* 0: from the data */
    /* layer form */
    int input_ndim; /* 0: not given */
    int input_shape[NS_MAX_DIMS - 1];
    int n_layers;
    ns_layer_spec *layers;
    /* both */
    ns_train_settings training;
};

/* Layer settings a spec can spell out (PyTorch's argument names), in canonical print order.
 * Shared by the parser (spec.c) and the canonical printer (spec_print.c). */
typedef enum ns__setting {
    NS__SETTING_UNITS,              /* linear */
    NS__SETTING_FILTERS,            /* conv2d */
    NS__SETTING_OUTPUT_SIZE,        /* adaptive_avgpool2d: int or [h, w] */
    NS__SETTING_KERNEL,             /* conv2d, maxpool2d, avgpool2d: int or [h, w] */
    NS__SETTING_STRIDE,             /* conv2d, maxpool2d, avgpool2d: int or [h, w] */
    NS__SETTING_PADDING,            /* conv2d ("valid", "same" too), maxpool2d, avgpool2d */
    NS__SETTING_DILATION,           /* conv2d: int or [h, w] */
    NS__SETTING_GROUPS,             /* conv2d */
    NS__SETTING_COUNT_INCLUDE_PAD,  /* avgpool2d */
    NS__SETTING_BIAS,               /* linear, conv2d */
    NS__SETTING_NEGATIVE_SLOPE,     /* leaky_relu (ns_layer_spec.alpha) */
    NS__SETTING_ALPHA,              /* elu (ns_layer_spec.alpha) */
    NS__SETTING_APPROXIMATE,        /* gelu: "none" | "tanh" */
    NS__SETTING_P,                  /* dropout, dropout2d */
    NS__SETTING_EPS,                /* batchnorm1d, batchnorm2d, layernorm */
    NS__SETTING_MOMENTUM,           /* batchnorm1d, batchnorm2d */
    NS__SETTING_AFFINE,             /* batchnorm1d, batchnorm2d (ns_layer_spec.affine) */
    NS__SETTING_ELEMENTWISE_AFFINE, /* layernorm (ns_layer_spec.affine) */
    NS__SETTING_COUNT
} ns__setting;

/* The setting's JSON key ("units", "negative_slope", ...). */
const char *ns__setting_name(ns__setting s);
/* Whether a layer of this kind takes the setting. */
bool ns__setting_applies(ns_layer_kind kind, ns__setting s);
/* "auto", "regression", "classification". */
const char *ns__task_name(ns_task task);
/* The short form's activation name ("relu", "gelu_tanh", ...); NULL if kind is not one. */
const char *ns__activation_name(ns_layer_kind kind, bool tanh_approx);
/* A double as canonical JSON prints it: shortest round-trip text, and integral values keep a
 * ".0" ("1.0", "100.0") so reals read as reals; buf >= 32 bytes. */
void ns__format_real(char *buf, size_t cap, double v);

/* A deep copy of spec whose memory belongs to ctx (which may differ from the spec's). */
ns_status ns__spec_clone_ctx(ns_ctx *ctx, const ns_spec *spec, ns_spec **out);

/* ---- layers ------------------------------------------------------------------------- */

/* Size limits of a built model, checked once at build (the shape rules and ns_model_build,
 * with overflow-checked arithmetic), so that the kernels may count in int:
 *   NS__MAX_VALUES  the most values one tensor may hold: a sample's input or output, a
 *                   parameter, an activation for the largest batch, one sample's im2col
 *                   matrix (INT_MAX: 8 GiB of floats; the kernels' counts, offsets within a
 *                   plane and GEMM dimensions are int);
 *   NS__MAX_AXIS    the longest a 2-D layer's geometry may be along one axis: the input, the
 *                   padded input, the (dilated) window, the stride and the output (2^24, far
 *                   beyond any image, so that a sum of a few of them stays in int). */
#define NS__MAX_VALUES 2147483647 /* INT_MAX */
#define NS__MAX_AXIS (1 << 24)

#define NS__MAX_LAYER_PARAMS 2
#define NS__MAX_LAYER_BUFFERS 2

typedef struct ns__tensor_slot {
    const char *name; /* "weight", "bias", "running_mean", ... (static strings) */
    int ndim;
    int64_t shape[NS_MAX_DIMS]; /* unused dimensions are 0 */
    size_t numel;
    float *data; /* view into the model's parameter or buffer block */
    float *grad; /* view into the gradient block (parameters only) */
} ns__tensor_slot;

typedef struct ns__layer {
    ns_layer_spec spec;
    const struct ns__layer_type *type;
    int index; /* position in the nn.Sequential */
    int in_ndim, out_ndim;
    int in_shape[NS_MAX_DIMS - 1], out_shape[NS_MAX_DIMS - 1];
    int in_size, out_size; /* floats per sample */
    int max_batch;         /* the largest batch the arena is planned for (set before setup) */
    bool need_dx;          /* backward must produce dx (false for a linear or conv2d layer
                            * below which nothing learns, unless the input gradient is kept;
                            * set before setup) */
    bool no_backward;      /* nothing at or below it learns (a flatten, dropout or activation
                            * before the first layer with parameters): backward stops above it */
    int n_params, n_buffers;
    ns__tensor_slot params[NS__MAX_LAYER_PARAMS];
    ns__tensor_slot buffers[NS__MAX_LAYER_BUFFERS];
    bool has_counter; /* batchnorm: num_batches_tracked */
    int64_t counter;
    /* activations, carved from the model's arena for max_batch samples */
    float *y;       /* output [B, out_size] */
    float *dx;      /* gradient w.r.t. the input [B, in_size] */
    float *scratch; /* per-layer saved state: dropout mask, norm mean/rstd */
    ns_ctx *ctx;    /* the model's context, for its threads (set by setup of layers that
                     * use them: linear, conv2d) */
} ns__layer;

/* One row per layer kind: shape inference, parameters, init, forward, backward. */
typedef struct ns__layer_type {
    ns_layer_kind kind;
    /* Sets out_ndim/out_shape from in_*, declares params/buffers (name, shape) and says how
     * many scratch floats a sample (per_sample) and a batch (fixed) need. Returns NS_ERR_SHAPE
     * with a message naming the layer when the input does not fit. */
    ns_status (*setup)(ns_ctx *ctx, ns__layer *l, size_t *scratch_per_sample,
                       size_t *scratch_fixed);
    /* Initialises parameters and buffers (PyTorch defaults). rng is this layer's stream. */
    void (*init)(ns__layer *l, ns_rng *rng);
    /* y = f(x). rng is this forward's dropout stream for the layer. */
    void (*forward)(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng);
    /* l->dx = df/dx^T dy (overwrite), parameter gradients accumulate. */
    void (*backward)(ns__layer *l, const float *x, const float *dy, int batch);
    /* Checks the saved state a forward of batch samples left in scratch when it comes from a
     * file (a training state's activation arena), before backward relies on it; NS_ERR_FORMAT
     * with a message naming the layer. NULL: scratch holds nothing backward could misuse. */
    ns_status (*check_restored)(ns_ctx *ctx, const ns__layer *l, int batch);
} ns__layer_type;

const ns__layer_type *ns__layer_type_get(ns_layer_kind kind);

/* Declares a parameter or buffer of a layer during setup. */
void ns__layer_add_param(ns__layer *l, const char *name, int ndim, int64_t d0, int64_t d1);
/* A parameter of 1 to NS_MAX_DIMS dimensions (conv2d's weight [OC, C/G, KH, KW]). */
void ns__layer_add_param_nd(ns__layer *l, const char *name, int ndim, const int64_t *shape);
void ns__layer_add_buffer(ns__layer *l, const char *name, int64_t d0);
/* Output shape = input shape (elementwise layers). */
void ns__layer_same_shape(ns__layer *l);
/* Zeroes l->dx for a batch (backward kernels accumulate); no-op when dx is not kept. */
void ns__layer_clear_dx(ns__layer *l, int batch);

/* 2-D layers (layer.c). NS_ERR_SHAPE unless the input is [C, H, W] per sample; the message
 * names the layer and says what to do. */
ns_status ns__layer_expect_chw(ns_ctx *ctx, const ns__layer *l);
/* The window geometry of a conv2d or pooling layer from its spec and input shape (stride 0
 * = the kernel); out_c is the spec's filters for conv2d, else C; out_h/out_w are computed.
 * On success also sets the layer's output shape to [out_c, out_h, out_w] (setup). NS_ERR_SHAPE
 * with "layers[3] (conv2d): kernel 7 is larger than the 5x5 input (padding 0); use a smaller
 * kernel or add padding" when no window fits. */
ns_status ns__layer_window(ns_ctx *ctx, ns__layer *l, ns_conv2d_geom *g);
/* The same geometry for a layer whose setup succeeded (forward, backward). */
void ns__layer_geom(const ns__layer *l, ns_conv2d_geom *g);
/* A shape for a message: "[13]", "[3, 4, 5]" (into buf, which it returns). */
const char *ns__shape_text(char *buf, size_t cap, int ndim, const int *shape);

/* ---- models ------------------------------------------------------------------------------ */

struct ns_model {
    ns_ctx *ctx;
    ns_spec *spec;
    ns_build_opts opts;
    int n_layers;
    ns__layer *layers;
    float *params; /* one block: every trainable parameter */
    float *grads;  /* same layout */
    size_t n_params;
    float *buffers; /* running statistics */
    size_t n_buffers;
    ns_arena arena; /* activations for max_batch, carved once at build */
    int input_size, output_size;
    /* the last forward */
    const float *last_x;
    int last_batch;
    bool last_training;
    bool have_forward;
    uint64_t forward_count;
    float *owned_x; /* a copy of the last forward's x that the model owns (restored by
                     * ns_model_load_state; last_x points at it until the next forward), or NULL */
};

/* ---- model files ------------------------------------------------------------------------- */

/* Writes the model's tensors followed by `more` tensors, with the model metadata and extra. */
ns_status ns__model_write(ns_model *m, const char *path, const ns_st_tensor *more, int n_more,
                          const ns_st_meta *extra, int n_extra);
/* Builds a model from an open model file (spec and shapes from metadata, weights from its
 * tensors); path names the file in messages. */
/* Runs every layer's check_restored over the forward of m->last_batch samples restored from a
 * file; NS_ERR_FORMAT with a message naming the layer. */
ns_status ns__model_check_restored(ns_ctx *ctx, const ns_model *m);
ns_status ns__model_from_file(ns_ctx *ctx, const ns_st_file *f, const char *path, int max_batch,
                              ns_model **out);

#endif
