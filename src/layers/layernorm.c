/* layernorm: normalisation over the last dimension of each sample (torch.nn.LayerNorm with
 * normalized_shape = the last dimension). */
#include <stddef.h>

#include "layers/layer.h"

static int ln_cols(const ns__layer *l)
{
    return l->in_shape[l->in_ndim - 1];
}
static int ln_rows(const ns__layer *l, int batch)
{
    return batch * (l->in_size / ln_cols(l));
}

static ns_status ln_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    (void)ctx;
    ns__layer_same_shape(l);
    int cols = ln_cols(l);
    if (l->spec.affine) {
        ns__layer_add_param(l, "weight", 1, cols, 0);
        ns__layer_add_param(l, "bias", 1, cols, 0);
    }
    *per_sample = 2 * (size_t)(l->in_size / cols); /* mean and 1/std per row */
    *fixed = 0;
    return NS_OK;
}

static void ln_init(ns__layer *l, ns_rng *rng)
{
    (void)rng;
    if (!l->spec.affine)
        return;
    for (int i = 0; i < ln_cols(l); i++) {
        l->params[0].data[i] = 1.0f;
        l->params[1].data[i] = 0.0f;
    }
}

static void ln_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)training;
    (void)rng;
    int rows = ln_rows(l, batch);
    ns_layernorm_forward(
        l->y, l->scratch, l->scratch + rows, x, l->spec.affine ? l->params[0].data : NULL,
        l->spec.affine ? l->params[1].data : NULL, rows, ln_cols(l), (float)l->spec.eps);
}

static void ln_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    int rows = ln_rows(l, batch);
    ns__layer_clear_dx(l, batch);
    ns_layernorm_backward(l->dx, l->spec.affine ? l->params[0].grad : NULL,
                          l->spec.affine ? l->params[1].grad : NULL, dy, x, l->scratch,
                          l->scratch + rows, l->spec.affine ? l->params[0].data : NULL, rows,
                          ln_cols(l));
}

static const ns__layer_setting elementwise_affine = {.name = "elementwise_affine",
                                                     .type = NS__LSET_BOOL,
                                                     .offset = offsetof(ns_layer_spec, affine),
                                                     .def = 1};
static const ns__layer_setting *const ln_settings[] = {&ns__lset_eps, &elementwise_affine, NULL};

const ns__layer_type ns__layernorm_type = {.kind = NS_LAYER_LAYERNORM,
                                           .settings = ln_settings,
                                           .setup = ln_setup,
                                           .init = ln_init,
                                           .forward = ln_forward,
                                           .backward = ln_backward};
