/* batchnorm1d and batchnorm2d: per-channel normalisation over the batch and any spatial
 * positions, with running statistics for evaluation (torch.nn.BatchNorm1d/2d). One
 * implementation, two table rows: they differ only in the input ranks they accept
 * (batchnorm1d [C] or [C, L], batchnorm2d [C, H, W] per sample). Channels are the first
 * per-sample dimension; spatial is the product of the rest (L, H * W or 1). */
#include <stddef.h>

#include "layers/layer.h"

static int bn_channels(const ns__layer *l)
{
    return l->in_shape[0];
}

static int bn_spatial(const ns__layer *l)
{
    int spatial = 1;
    for (int i = 1; i < l->in_ndim; i++)
        spatial *= l->in_shape[i];
    return spatial;
}

/* Parameters, buffers and scratch once the input rank has been checked. */
static ns_status bn_setup_common(ns__layer *l, size_t *per_sample, size_t *fixed)
{
    ns__layer_same_shape(l);
    int c = bn_channels(l);
    if (l->spec.affine) {
        ns__layer_add_param(l, "weight", 1, c, 0);
        ns__layer_add_param(l, "bias", 1, c, 0);
    }
    ns__layer_add_buffer(l, "running_mean", c);
    ns__layer_add_buffer(l, "running_var", c);
    l->has_counter = true;
    *per_sample = 0;
    *fixed = 2 * (size_t)c; /* batch mean and 1/std, saved for backward */
    return NS_OK;
}

static ns_status bn1d_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    if (l->in_ndim > 2)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (batchnorm1d): expects [C] or [C, L] per sample, got %d "
                         "dimensions; flatten first",
                         l->index, l->in_ndim);
    return bn_setup_common(l, per_sample, fixed);
}

static ns_status bn2d_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    if (l->in_ndim != 3)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (batchnorm2d): expects [C, H, W] per sample, got %d "
                         "dimension%s; use batchnorm1d for [C] or [C, L]",
                         l->index, l->in_ndim, l->in_ndim == 1 ? "" : "s");
    return bn_setup_common(l, per_sample, fixed);
}

/* gamma 1, beta 0, running mean 0, running variance 1 (PyTorch's defaults). */
static void bn_init(ns__layer *l, ns_rng *rng)
{
    (void)rng;
    int c = bn_channels(l);
    for (int i = 0; i < c; i++) {
        if (l->spec.affine) {
            l->params[0].data[i] = 1.0f;
            l->params[1].data[i] = 0.0f;
        }
        l->buffers[0].data[i] = 0.0f;
        l->buffers[1].data[i] = 1.0f;
    }
    l->counter = 0;
}

/* Training: batch statistics (saved in scratch for backward), running statistics updated;
 * evaluation: running statistics. */
static void bn_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)rng;
    int c = bn_channels(l);
    const float *gamma = l->spec.affine ? l->params[0].data : NULL;
    const float *beta = l->spec.affine ? l->params[1].data : NULL;
    if (training) {
        ns_batchnorm_forward_train(l->y, l->scratch, l->scratch + c, l->buffers[0].data,
                                   l->buffers[1].data, x, gamma, beta, batch, c, bn_spatial(l),
                                   (float)l->spec.eps, (float)l->spec.momentum);
        l->counter++;
    } else {
        ns_batchnorm_forward_eval(l->y, x, l->buffers[0].data, l->buffers[1].data, gamma, beta,
                                  batch, c, bn_spatial(l), (float)l->spec.eps);
    }
}

static void bn_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    int c = bn_channels(l);
    ns__layer_clear_dx(l, batch);
    ns_batchnorm_backward(l->dx, l->spec.affine ? l->params[0].grad : NULL,
                          l->spec.affine ? l->params[1].grad : NULL, dy, x, l->scratch,
                          l->scratch + c, l->spec.affine ? l->params[0].data : NULL, batch, c,
                          bn_spatial(l));
}

static const ns__layer_setting momentum = {.name = "momentum",
                                           .type = NS__LSET_REAL,
                                           .offset = offsetof(ns_layer_spec, momentum),
                                           .def = 0.1,
                                           .lo = 0.0,
                                           .hi = 1.0,
                                           .want = "a number in [0, 1]",
                                           .show_always = true};
static const ns__layer_setting affine = {
    .name = "affine", .type = NS__LSET_BOOL, .offset = offsetof(ns_layer_spec, affine), .def = 1};
static const ns__layer_setting *const bn_settings[] = {&ns__lset_eps, &momentum, &affine, NULL};

const ns__layer_type ns__batchnorm1d_type = {.kind = NS_LAYER_BATCHNORM1D,
                                             .settings = bn_settings,
                                             .flags = NS__LAYER_BATCH_STATS,
                                             .setup = bn1d_setup,
                                             .init = bn_init,
                                             .forward = bn_forward,
                                             .backward = bn_backward};
const ns__layer_type ns__batchnorm2d_type = {.kind = NS_LAYER_BATCHNORM2D,
                                             .settings = bn_settings,
                                             .flags = NS__LAYER_BATCH_STATS,
                                             .setup = bn2d_setup,
                                             .init = bn_init,
                                             .forward = bn_forward,
                                             .backward = bn_backward};
