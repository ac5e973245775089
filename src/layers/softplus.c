/* softplus: y = log(1 + exp(beta * x)) / beta, and y = x where beta * x > threshold
 * (torch.nn.Softplus, beta 1, threshold 20). No parameters; output shape = input shape. The
 * worked example of docs/layer.md: this file and one row of NS_LAYER_KIND_MAP are the whole
 * kind. */
#include <math.h>
#include <stddef.h>

#include "layers/layer.h"

/* Its settings live in ns_layer_spec's args: beta in args[0], threshold in args[1]. */
static const ns__layer_setting beta = {.name = "beta",
                                       .type = NS__LSET_REAL,
                                       .offset = offsetof(ns_layer_spec, args[0]),
                                       .def = 1.0,
                                       .lo = 0.0,
                                       .lo_open = true,
                                       .hi = HUGE_VAL,
                                       .want = "a positive number",
                                       .show_always = true};
static const ns__layer_setting threshold = {.name = "threshold",
                                            .type = NS__LSET_REAL,
                                            .offset = offsetof(ns_layer_spec, args[1]),
                                            .def = 20.0,
                                            .lo = -HUGE_VAL,
                                            .hi = HUGE_VAL,
                                            .want = "a number",
                                            .show_always = true};
static const ns__layer_setting *const settings[] = {&beta, &threshold, NULL};

static ns_status softplus_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    (void)ctx;
    ns__layer_same_shape(l);
    *per_sample = 0;
    *fixed = 0;
    return NS_OK;
}

/* log(1 + exp(bx)) as max(bx, 0) + log1p(exp(-|bx|)), which neither overflows nor loses the
 * small values (PyTorch's log1p(exp(bx)) overflows past bx = 88 when the threshold is set
 * higher). */
NS__CPU_CLONES static void softplus_forward(ns__layer *l, const float *x, int batch, bool training,
                                            ns_rng *rng)
{
    (void)training, (void)rng;
    float b = (float)l->spec.args[0], t = (float)l->spec.args[1];
    size_t n = (size_t)batch * (size_t)l->in_size;
    for (size_t i = 0; i < n; i++) {
        float bx = x[i] * b;
        l->y[i] = bx > t ? x[i] : (fmaxf(bx, 0.0f) + log1pf(expf(-fabsf(bx)))) / b;
    }
}

/* dy * sigmoid(beta * x), and dy where the forward was the identity. */
NS__CPU_CLONES static void softplus_backward(ns__layer *l, const float *x, const float *dy,
                                             int batch)
{
    if (l->dx == NULL)
        return;
    float b = (float)l->spec.args[0], t = (float)l->spec.args[1];
    size_t n = (size_t)batch * (size_t)l->in_size;
    for (size_t i = 0; i < n; i++) {
        float bx = x[i] * b;
        l->dx[i] = bx > t ? dy[i] : dy[i] / (1.0f + expf(-bx));
    }
}

const ns__layer_type ns__softplus_type = {.kind = NS_LAYER_SOFTPLUS,
                                          .settings = settings,
                                          .setup = softplus_setup,
                                          .forward = softplus_forward,
                                          .backward = softplus_backward};
