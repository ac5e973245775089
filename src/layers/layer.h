/* The contract between a layer type and the model that runs it (never installed): the layer's
 * struct, which its setup fills in and its forward and backward read, the layer-type row, and
 * the helpers the layer files share (layer_util.c). docs/layer.md tells a layer's life. */
#ifndef NETSMITH_LAYER_H
#define NETSMITH_LAYER_H

#include "core/core_internal.h"
#include "format/json_read.h"
#include "netsmith/kernels.h"
#include "netsmith/layers.h"

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

/* ---- settings ------------------------------------------------------------------------- */

/* How a layer setting is written in a spec. */
typedef enum ns__lset_type {
    NS__LSET_INT,  /* an integer >= min, stored as int */
    NS__LSET_PAIR, /* an integer >= min or [h, w] of them, stored as int[2] */
    NS__LSET_REAL, /* a number in lo..hi, stored as double */
    NS__LSET_BOOL, /* true or false, stored as bool */
    NS__LSET_NAMED /* one of two names, stored as bool: names[1] is true ("none" | "tanh") */
} ns__lset_type;

/* One setting a layer kind takes: PyTorch's argument name, where its value lives in
 * ns_layer_spec, its default and range. A layer file lists its kind's settings in the order
 * the canonical printer writes them. */
typedef struct ns__layer_setting {
    const char *name; /* "units", "negative_slope" */
    ns__lset_type type;
    size_t offset; /* of the value in ns_layer_spec: offsetof(ns_layer_spec, units) */
    double def;    /* the default (both halves of a pair; 0/1 for a bool) */
    int min;       /* INT, PAIR: the least value */
    double lo, hi; /* REAL: the range, each end open or closed */
    bool lo_open, hi_open;
    const char *want;         /* the range in words for messages: "a positive integer" */
    const char *const *names; /* NAMED: {the name of false, the name of true, NULL}; for a
                               * setting with its own parse, names it also takes ("same") */
    bool required;            /* a spec must give it (PyTorch's required arguments) */
    bool show_always;    /* ns_layer_spec_text writes it always, else only when not the default */
    bool zero_is_kernel; /* a pool's stride: 0 stands for the kernel */
    /* Reads the value itself (conv2d's padding also takes "valid" and "same"); NULL: by type.
     * Messages go through r at path. */
    ns_status (*parse)(const ns__json_reader *r, const char *path, const json_t *v,
                       ns_layer_spec *ls);
} ns__layer_setting;

/* The value of setting s in ls, by its type. */
#define NS__LSET_INT_AT(ls, s) ((int *)((char *)(ls) + (s)->offset))
#define NS__LSET_REAL_AT(ls, s) ((double *)((char *)(ls) + (s)->offset))
#define NS__LSET_BOOL_AT(ls, s) ((bool *)((char *)(ls) + (s)->offset))

/* Settings several kinds share (layer_util.c). */
extern const ns__layer_setting ns__lset_bias, ns__lset_p, ns__lset_eps, ns__lset_kernel,
    ns__lset_pool_stride, ns__lset_pool_padding;

/* What the model may do with a layer of the kind (ns__layer_type.flags). */
enum {
    /* Backward never reads the layer's own output, so a following in-place layer may
     * overwrite it (linear, conv2d). */
    NS__LAYER_OUTPUT_UNREAD = 1u << 0,
    /* May run in place over the previous layer's output when that layer's backward does not
     * read it (relu: its backward reads its output, which is then the same values). */
    NS__LAYER_IN_PLACE = 1u << 1,
    /* May skip its input gradient when nothing below it learns (linear, conv2d). */
    NS__LAYER_DX_OPTIONAL = 1u << 2,
    /* Uses batch statistics in training: needs more than one value per feature. */
    NS__LAYER_BATCH_STATS = 1u << 3,
};

/* ---- the layer-type row ---------------------------------------------------------------- */

/* One row per layer kind, in the kind's own file (docs/layer.md): its settings and what the
 * spec parser tells a layer that lacks one, its flags, its shape rule (setup), init, forward,
 * backward. The kind's name is its row in NS_LAYER_KIND_MAP. */
typedef struct ns__layer_type {
    ns_layer_kind kind;
    /* Its settings, NULL-terminated (NULL: it takes none). */
    const ns__layer_setting *const *settings;
    /* What a layer lacking a required setting is told after "KIND needs ": "\"units\" (its
     * number of output features), e.g. {...}". NULL for a kind without required settings. */
    const char *needs;
    /* A layer of the kind as a spec writes it, with its required settings, for the tests
     * that run every kind: "{\"type\": \"linear\", \"units\": 3}". NULL: {"type": NAME}. */
    const char *example;
    unsigned flags; /* NS__LAYER_* */
    /* What makes its output large, for "use ... (or a smaller batch size)"; NULL: "smaller
     * layers before it". */
    const char *size_hint;
    /* Defaults beyond those of its settings (global_avgpool2d's fixed output size); NULL for
     * none. */
    void (*defaults)(ns_layer_spec *ls);
    /* Checks across its settings once all are read (given: a bit per setting, in list
     * order); may resolve one from others (a pool's stride from its kernel). NS_ERR_PARSE
     * through r at path. NULL: nothing to check. */
    ns_status (*check)(const ns__json_reader *r, const char *path, unsigned given,
                       ns_layer_spec *ls);
    /* Sets out_ndim/out_shape from in_*, declares params/buffers (name, shape) and says how
     * many scratch floats a sample (per_sample) and a batch (fixed) need. Returns NS_ERR_SHAPE
     * with a message naming the layer when the input does not fit. */
    ns_status (*setup)(ns_ctx *ctx, ns__layer *l, size_t *scratch_per_sample,
                       size_t *scratch_fixed);
    /* Initialises parameters and buffers (PyTorch defaults). rng is this layer's stream.
     * NULL: nothing to initialise. */
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

/* The row of a kind (layer_table.c). */
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

/* 2-D layers (layer_util.c). NS_ERR_SHAPE unless the input is [C, H, W] per sample; the message
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

/* The check of maxpool2d and avgpool2d (layer_util.c): the stride is the kernel when not
 * given, and the padding at most half the kernel. */
ns_status ns__pool_check(const ns__json_reader *r, const char *path, unsigned given,
                         ns_layer_spec *ls);

/* ---- reading and writing a layer (layer_settings.c) --------------------------------------- */

/* Reads one element of a spec's "layers" at path ("layers[2]") into ls: its "type", then its
 * settings, each checked against its row, then the kind's check. NS_ERR_PARSE through r:
 * unknown types and keys with the known ones and a did-you-mean, a setting of another kind
 * naming the kinds that take it, a missing required setting with an example. */
ns_status ns__layer_parse(const ns__json_reader *r, const char *path, json_t *v, ns_layer_spec *ls);

#endif
