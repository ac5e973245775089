/* The contract between a layer type and the model that runs it (never installed): the layer's
 * struct, which its setup fills in and its forward and backward read, the layer-type row, and
 * the helpers the layer files share (layer_util.c). docs/layer.md tells a layer's life. */
#ifndef NETSMITH_LAYER_H
#define NETSMITH_LAYER_H

#include "core/core_internal.h"
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

#endif
