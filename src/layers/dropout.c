/* dropout: inverted dropout (torch.nn.Dropout); the identity in evaluation mode. */
#include <string.h>

#include "layers/layer.h"

static ns_status dropout_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    if (!(l->spec.p >= 0.0 && l->spec.p < 1.0))
        return ns_errorf(ctx, NS_ERR_SHAPE, "layers[%d] (dropout): p must be in [0, 1), got %g",
                         l->index, l->spec.p);
    ns__layer_same_shape(l);
    *per_sample = (size_t)l->in_size; /* the mask */
    *fixed = 0;
    return NS_OK;
}

static void dropout_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    size_t n = (size_t)batch * (size_t)l->in_size;
    if (!training || l->spec.p == 0.0) {
        memcpy(l->y, x, n * sizeof(float));
        return;
    }
    /* Keep with probability 1 - p, scaled by 1 / (1 - p). */
    float keep = (float)(1.0 - l->spec.p);
    float scale = 1.0f / keep;
    ns_rng_fill_uniform(rng, l->scratch, n);
    for (size_t i = 0; i < n; i++)
        l->scratch[i] = l->scratch[i] < keep ? scale : 0.0f;
    ns_dropout_apply(l->y, x, l->scratch, n);
}

static void dropout_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    (void)x;
    size_t n = (size_t)batch * (size_t)l->in_size;
    if (l->dx == NULL)
        return;
    if (l->spec.p == 0.0) {
        memcpy(l->dx, dy, n * sizeof(float));
        return;
    }
    ns__layer_clear_dx(l, batch);
    ns_dropout_backward(l->dx, dy, l->scratch, n);
}

static const ns__layer_setting *const dropout_settings[] = {&ns__lset_p, NULL};

const ns__layer_type ns__dropout_type = {.kind = NS_LAYER_DROPOUT,
                                         .settings = dropout_settings,
                                         .setup = dropout_setup,
                                         .forward = dropout_forward,
                                         .backward = dropout_backward};
