/* linear: y[B,out] = x[B,in] . W[out,in]^T + b[out]  (torch.nn.Linear) */
#include <stddef.h>
#include <math.h>

#include "core/checked.h"
#include "layers/layer.h"
#include "kernels/kernels_internal.h"

static ns_status linear_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    if (l->in_ndim != 1)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (linear): expects a flat feature vector but its input has "
                         "%d dimensions; add a flatten layer before it",
                         l->index, l->in_ndim);
    if (l->spec.units <= 0)
        return ns_errorf(ctx, NS_ERR_SHAPE, "layers[%d] (linear): units must be positive, got %d",
                         l->index, l->spec.units);
    int64_t wshape[2] = {l->spec.units, l->in_shape[0]}, values;
    if (!ns__product_i64(2, wshape, &values) || values > NS__MAX_VALUES) {
        char n[48];
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (linear): units %d with %d input features make a weight of "
                         "[%d, %d], %s values, more than the %d one tensor may hold; use fewer "
                         "units (or fewer input features)",
                         l->index, l->spec.units, l->in_shape[0], l->spec.units, l->in_shape[0],
                         ns__product_text(n, sizeof n, 2, wshape), NS__MAX_VALUES);
    }
    l->out_ndim = 1;
    l->out_shape[0] = l->spec.units;
    ns__layer_add_param(l, "weight", 2, l->spec.units, l->in_shape[0]);
    if (l->spec.bias)
        ns__layer_add_param(l, "bias", 1, l->spec.units, 0);
    *per_sample = 0;
    *fixed = 0;
    l->ctx = ctx;
    return NS_OK;
}

/* PyTorch: kaiming_uniform_(a=sqrt(5)) for the weight, which is U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), and the same bound for the bias. */
static void linear_init(ns__layer *l, ns_rng *rng)
{
    float bound = 1.0f / sqrtf((float)l->in_shape[0]);
    for (int p = 0; p < l->n_params; p++)
        for (size_t i = 0; i < l->params[p].numel; i++)
            l->params[p].data[i] = ns_rng_uniform_range(rng, -bound, bound);
}

static void linear_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)training;
    (void)rng;
    const float *b = l->spec.bias ? l->params[1].data : NULL;
    ns__dense_forward_ctx(l->ctx, l->y, x, l->params[0].data, b, batch, l->in_size, l->out_size);
}

static void linear_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    float *db = l->spec.bias ? l->params[1].grad : NULL;
    ns__layer_clear_dx(l, batch);
    ns__dense_backward_ctx(l->ctx, l->dx, l->params[0].grad, db, dy, x, l->params[0].data, batch,
                           l->in_size, l->out_size);
}

static const ns__layer_setting units = {.name = "units",
                                        .type = NS__LSET_INT,
                                        .offset = offsetof(ns_layer_spec, units),
                                        .min = 1,
                                        .want = "a positive integer",
                                        .required = true,
                                        .show_always = true};
static const ns__layer_setting *const linear_settings[] = {&units, &ns__lset_bias, NULL};

const ns__layer_type ns__linear_type = {
    .kind = NS_LAYER_LINEAR,
    .settings = linear_settings,
    .needs =
        "\"units\" (its number of output features), e.g. {\"type\": \"linear\", \"units\": 64}",
    .example = "{\"type\": \"linear\", \"units\": 3}",
    .flags = NS__LAYER_OUTPUT_UNREAD | NS__LAYER_DX_OPTIONAL,
    .size_hint = "fewer units",
    .setup = linear_setup,
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward};
