/* batchnorm2d: per-channel normalisation over (batch, height, width) (torch.nn.BatchNorm2d)
 * for inputs [B, C, H, W]; running statistics for evaluation. The batchnorm kernels with
 * spatial = H * W. */
#include "internal.h"

static int bn2_channels(const ns__layer *l)
{
    return l->in_shape[0];
}
static int bn2_spatial(const ns__layer *l)
{
    return l->in_shape[1] * l->in_shape[2];
}

static ns_status bn2_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    if (l->in_ndim != 3)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (batchnorm2d): expects [C, H, W] per sample, got %d "
                         "dimension%s; use batchnorm1d for [C] or [C, L]",
                         l->index, l->in_ndim, l->in_ndim == 1 ? "" : "s");
    ns__layer_same_shape(l);
    int c = bn2_channels(l);
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

static void bn2_init(ns__layer *l, ns_rng *rng)
{
    (void)rng;
    for (int i = 0; i < bn2_channels(l); i++) {
        if (l->spec.affine) {
            l->params[0].data[i] = 1.0f;
            l->params[1].data[i] = 0.0f;
        }
        l->buffers[0].data[i] = 0.0f;
        l->buffers[1].data[i] = 1.0f;
    }
    l->counter = 0;
}

static void bn2_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)rng;
    int c = bn2_channels(l);
    const float *gamma = l->spec.affine ? l->params[0].data : NULL;
    const float *beta = l->spec.affine ? l->params[1].data : NULL;
    if (training) {
        ns_batchnorm_forward_train(l->y, l->scratch, l->scratch + c, l->buffers[0].data,
                                   l->buffers[1].data, x, gamma, beta, batch, c, bn2_spatial(l),
                                   (float)l->spec.eps, (float)l->spec.momentum);
        l->counter++;
    } else {
        ns_batchnorm_forward_eval(l->y, x, l->buffers[0].data, l->buffers[1].data, gamma, beta,
                                  batch, c, bn2_spatial(l), (float)l->spec.eps);
    }
}

static void bn2_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    int c = bn2_channels(l);
    ns__layer_clear_dx(l, batch);
    ns_batchnorm_backward(l->dx, l->spec.affine ? l->params[0].grad : NULL,
                          l->spec.affine ? l->params[1].grad : NULL, dy, x, l->scratch,
                          l->scratch + c, l->spec.affine ? l->params[0].data : NULL, batch, c,
                          bn2_spatial(l));
}

const ns__layer_type ns__batchnorm2d_type = {NS_LAYER_BATCHNORM2D, bn2_setup, bn2_init, bn2_forward,
                                             bn2_backward};
