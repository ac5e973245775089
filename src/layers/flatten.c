/* flatten: [B, d1, d2, ...] -> [B, d1*d2*...] (torch.nn.Flatten); the data is unchanged. */
#include <string.h>

#include "layers/layer.h"

static ns_status flatten_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    (void)ctx;
    l->out_ndim = 1;
    l->out_shape[0] = l->in_size;
    *per_sample = 0;
    *fixed = 0;
    return NS_OK;
}

static void flatten_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)training;
    (void)rng;
    memcpy(l->y, x, (size_t)batch * (size_t)l->in_size * sizeof(float));
}

static void flatten_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    (void)x;
    if (l->dx != NULL)
        memcpy(l->dx, dy, (size_t)batch * (size_t)l->in_size * sizeof(float));
}

const ns__layer_type ns__flatten_type = {.kind = NS_LAYER_FLATTEN,
                                         .setup = flatten_setup,
                                         .forward = flatten_forward,
                                         .backward = flatten_backward};
