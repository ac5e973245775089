/* dropout2d: channel dropout (torch.nn.Dropout2d) on [B, C, H, W]: each (sample, channel)
 * plane is kept with probability 1 - p and scaled by 1 / (1 - p), or zeroed; the identity in
 * evaluation mode. */
#include <string.h>

#include "layers/layer.h"

static ns_status dropout2d_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    if (!(l->spec.p >= 0.0 && l->spec.p < 1.0))
        return ns_errorf(ctx, NS_ERR_SHAPE, "layers[%d] (dropout2d): p must be in [0, 1), got %g",
                         l->index, l->spec.p);
    ns_status st = ns__layer_expect_chw(ctx, l);
    if (st != NS_OK)
        return st;
    ns__layer_same_shape(l);
    *per_sample = (size_t)l->in_shape[0]; /* the mask: one value per channel */
    *fixed = 0;
    return NS_OK;
}

static size_t plane_of(const ns__layer *l)
{
    return (size_t)l->in_shape[1] * (size_t)l->in_shape[2];
}

static void dropout2d_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    if (!training || l->spec.p == 0.0) {
        memcpy(l->y, x, (size_t)batch * (size_t)l->in_size * sizeof(float));
        return;
    }
    /* Keep with probability 1 - p, scaled by 1 / (1 - p); one draw per (sample, channel), in
     * that order, from this forward's stream. */
    size_t rows = (size_t)batch * (size_t)l->in_shape[0];
    float keep = (float)(1.0 - l->spec.p);
    float scale = 1.0f / keep;
    for (size_t r = 0; r < rows; r++)
        l->scratch[r] = ns_rng_uniform(rng) < keep ? scale : 0.0f;
    ns_dropout2d_apply(l->y, x, l->scratch, rows, plane_of(l));
}

static void dropout2d_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    (void)x;
    if (l->dx == NULL)
        return;
    if (l->spec.p == 0.0) {
        memcpy(l->dx, dy, (size_t)batch * (size_t)l->in_size * sizeof(float));
        return;
    }
    ns__layer_clear_dx(l, batch);
    ns_dropout2d_backward(l->dx, dy, l->scratch, (size_t)batch * (size_t)l->in_shape[0],
                          plane_of(l));
}

static const ns__layer_setting *const dropout2d_settings[] = {&ns__lset_p, NULL};

const ns__layer_type ns__dropout2d_type = {.kind = NS_LAYER_DROPOUT2D,
                                           .settings = dropout2d_settings,
                                           .setup = dropout2d_setup,
                                           .forward = dropout2d_forward,
                                           .backward = dropout2d_backward};
