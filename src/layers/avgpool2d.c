/* Average pooling: avgpool2d (torch.nn.AvgPool2d, floor mode, zero padding), and adaptive
 * average pooling to a fixed output size, adaptive_avgpool2d (torch.nn.AdaptiveAvgPool2d)
 * and global_avgpool2d (the same to [1, 1]; the output stays [C, 1, 1] as in PyTorch, so a
 * flatten goes before a linear layer). No parameters, no saved state. */
#include <stddef.h>

#include "layers/layer.h"

static bool is_adaptive(const ns__layer *l)
{
    return l->spec.kind != NS_LAYER_AVGPOOL2D;
}

static ns_status avgpool_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    ns_status st = ns__layer_expect_chw(ctx, l);
    ns_conv2d_geom g;
    if (st == NS_OK)
        st = ns__layer_window(ctx, l, &g);
    if (st != NS_OK)
        return st;
    *per_sample = 0;
    *fixed = 0;
    return NS_OK;
}

static void avgpool_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)training;
    (void)rng;
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    if (is_adaptive(l))
        ns_adaptive_avgpool2d_forward(l->y, x, &g, batch);
    else
        ns_avgpool2d_forward(l->y, x, &g, batch, l->spec.count_include_pad);
}

static void avgpool_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    (void)x;
    if (l->dx == NULL)
        return;
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    ns__layer_clear_dx(l, batch);
    if (is_adaptive(l))
        ns_adaptive_avgpool2d_backward(l->dx, dy, &g, batch);
    else
        ns_avgpool2d_backward(l->dx, dy, &g, batch, l->spec.count_include_pad);
}

static const ns__layer_setting count_include_pad = {.name = "count_include_pad",
                                                    .type = NS__LSET_BOOL,
                                                    .offset =
                                                        offsetof(ns_layer_spec, count_include_pad),
                                                    .def = 1};
/* The stride second: ns__pool_check looks for it there. */
static const ns__layer_setting *const avgpool_settings[] = {
    &ns__lset_kernel, &ns__lset_pool_stride, &ns__lset_pool_padding, &count_include_pad, NULL};
static const ns__layer_setting output_size = {.name = "output_size",
                                              .type = NS__LSET_PAIR,
                                              .offset = offsetof(ns_layer_spec, output_size),
                                              .min = 1,
                                              .want = "a positive integer",
                                              .required = true,
                                              .show_always = true};
static const ns__layer_setting *const adaptive_settings[] = {&output_size, NULL};

/* global_avgpool2d is adaptive pooling to [1, 1]. */
static void global_defaults(ns_layer_spec *ls)
{
    ls->output_size[0] = ls->output_size[1] = 1;
}

const ns__layer_type ns__avgpool2d_type = {
    .kind = NS_LAYER_AVGPOOL2D,
    .settings = avgpool_settings,
    .needs = "\"kernel\" (the window size), e.g. {\"type\": \"avgpool2d\", \"kernel\": 2}",
    .example = "{\"type\": \"avgpool2d\", \"kernel\": 2}",
    .check = ns__pool_check,
    .setup = avgpool_setup,
    .forward = avgpool_forward,
    .backward = avgpool_backward};
const ns__layer_type ns__adaptive_avgpool2d_type = {
    .kind = NS_LAYER_ADAPTIVE_AVGPOOL2D,
    .settings = adaptive_settings,
    .needs = "\"output_size\", e.g. {\"type\": \"adaptive_avgpool2d\", \"output_size\": [1, 1]} "
             "(or use global_avgpool2d)",
    .example = "{\"type\": \"adaptive_avgpool2d\", \"output_size\": 2}",
    .size_hint = "a smaller output_size",
    .setup = avgpool_setup,
    .forward = avgpool_forward,
    .backward = avgpool_backward};
const ns__layer_type ns__global_avgpool2d_type = {.kind = NS_LAYER_GLOBAL_AVGPOOL2D,
                                                  .defaults = global_defaults,
                                                  .setup = avgpool_setup,
                                                  .forward = avgpool_forward,
                                                  .backward = avgpool_backward};
