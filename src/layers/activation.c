/* Elementwise activation layers (relu, leaky_relu, elu, gelu, silu, tanh, sigmoid) and
 * softmax over the features: no parameters, output shape = input shape. */
#include <math.h>
#include <stddef.h>

#include "layers/layer.h"

static ns_status act_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    (void)ctx;
    ns__layer_same_shape(l);
    *per_sample = 0;
    *fixed = 0;
    return NS_OK;
}

static size_t n_of(const ns__layer *l, int batch)
{
    return (size_t)batch * (size_t)l->in_size;
}

/* Each row: forward from x, backward from x and/or y (the saved output). */
static void relu_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_relu_forward(l->y, x, n_of(l, b));
}
static void relu_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    (void)x;
    ns_relu_backward_set(l->dx, dy, l->y, n_of(l, b));
}

static void leaky_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_leaky_relu_forward(l->y, x, n_of(l, b), (float)l->spec.alpha);
}
static void leaky_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    ns__layer_clear_dx(l, b);
    ns_leaky_relu_backward(l->dx, dy, x, n_of(l, b), (float)l->spec.alpha);
}

static void elu_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_elu_forward(l->y, x, n_of(l, b), (float)l->spec.alpha);
}
static void elu_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    ns__layer_clear_dx(l, b);
    ns_elu_backward(l->dx, dy, x, l->y, n_of(l, b), (float)l->spec.alpha);
}

static void gelu_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_gelu_forward(l->y, x, n_of(l, b), l->spec.tanh_approx);
}
static void gelu_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    ns__layer_clear_dx(l, b);
    ns_gelu_backward(l->dx, dy, x, n_of(l, b), l->spec.tanh_approx);
}

static void silu_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_silu_forward(l->y, x, n_of(l, b));
}
static void silu_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    ns__layer_clear_dx(l, b);
    ns_silu_backward(l->dx, dy, x, n_of(l, b));
}

static void tanh_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_tanh_forward(l->y, x, n_of(l, b));
}
static void tanh_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    (void)x;
    ns__layer_clear_dx(l, b);
    ns_tanh_backward(l->dx, dy, l->y, n_of(l, b));
}

static void sigmoid_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    ns_sigmoid_forward(l->y, x, n_of(l, b));
}
static void sigmoid_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    (void)x;
    ns__layer_clear_dx(l, b);
    ns_sigmoid_backward(l->dx, dy, l->y, n_of(l, b));
}

/* Softmax over the last dimension of each sample. */
static int softmax_cols(const ns__layer *l)
{
    return l->in_shape[l->in_ndim - 1];
}
static void softmax_fwd(ns__layer *l, const float *x, int b, bool t, ns_rng *r)
{
    (void)t, (void)r;
    int cols = softmax_cols(l);
    ns_softmax_forward(l->y, x, (int)(n_of(l, b) / (size_t)cols), cols);
}
static void softmax_bwd(ns__layer *l, const float *x, const float *dy, int b)
{
    (void)x;
    int cols = softmax_cols(l);
    ns__layer_clear_dx(l, b);
    ns_softmax_backward(l->dx, dy, l->y, (int)(n_of(l, b) / (size_t)cols), cols);
}

static const ns__layer_setting negative_slope = {.name = "negative_slope",
                                                 .type = NS__LSET_REAL,
                                                 .offset = offsetof(ns_layer_spec, alpha),
                                                 .def = 0.01,
                                                 .lo = -HUGE_VAL,
                                                 .hi = HUGE_VAL,
                                                 .want = "a number",
                                                 .show_always = true};
static const ns__layer_setting *const leaky_settings[] = {&negative_slope, NULL};
static const ns__layer_setting alpha = {.name = "alpha",
                                        .type = NS__LSET_REAL,
                                        .offset = offsetof(ns_layer_spec, alpha),
                                        .def = 1.0,
                                        .lo = -HUGE_VAL,
                                        .hi = HUGE_VAL,
                                        .want = "a number",
                                        .show_always = true};
static const ns__layer_setting *const elu_settings[] = {&alpha, NULL};
static const char *const approximations[] = {"none", "tanh", NULL};
static const ns__layer_setting approximate = {.name = "approximate",
                                              .type = NS__LSET_NAMED,
                                              .offset = offsetof(ns_layer_spec, tanh_approx),
                                              .want = "approximation",
                                              .names = approximations,
                                              .show_always = true};
static const ns__layer_setting *const gelu_settings[] = {&approximate, NULL};

const ns__layer_type ns__relu_type = {.kind = NS_LAYER_RELU,
                                      .flags = NS__LAYER_IN_PLACE,
                                      .setup = act_setup,
                                      .forward = relu_fwd,
                                      .backward = relu_bwd};
const ns__layer_type ns__leaky_relu_type = {.kind = NS_LAYER_LEAKY_RELU,
                                            .settings = leaky_settings,
                                            .setup = act_setup,
                                            .forward = leaky_fwd,
                                            .backward = leaky_bwd};
const ns__layer_type ns__elu_type = {.kind = NS_LAYER_ELU,
                                     .settings = elu_settings,
                                     .setup = act_setup,
                                     .forward = elu_fwd,
                                     .backward = elu_bwd};
const ns__layer_type ns__gelu_type = {.kind = NS_LAYER_GELU,
                                      .settings = gelu_settings,
                                      .setup = act_setup,
                                      .forward = gelu_fwd,
                                      .backward = gelu_bwd};
const ns__layer_type ns__silu_type = {
    .kind = NS_LAYER_SILU, .setup = act_setup, .forward = silu_fwd, .backward = silu_bwd};
const ns__layer_type ns__tanh_type = {
    .kind = NS_LAYER_TANH, .setup = act_setup, .forward = tanh_fwd, .backward = tanh_bwd};
const ns__layer_type ns__sigmoid_type = {
    .kind = NS_LAYER_SIGMOID, .setup = act_setup, .forward = sigmoid_fwd, .backward = sigmoid_bwd};
const ns__layer_type ns__softmax_type = {
    .kind = NS_LAYER_SOFTMAX, .setup = act_setup, .forward = softmax_fwd, .backward = softmax_bwd};
