/* Average pooling: avgpool2d (torch.nn.AvgPool2d, floor mode, zero padding), and adaptive
 * average pooling to a fixed output size, adaptive_avgpool2d (torch.nn.AdaptiveAvgPool2d)
 * and global_avgpool2d (the same to [1, 1]; the output stays [C, 1, 1] as in PyTorch, so a
 * flatten goes before a linear layer). No parameters, no saved state. */
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

const ns__layer_type ns__avgpool2d_type = {.kind = NS_LAYER_AVGPOOL2D, .setup = avgpool_setup,
                                           .forward = avgpool_forward,
                                           .backward = avgpool_backward};
const ns__layer_type ns__adaptive_avgpool2d_type = {.kind = NS_LAYER_ADAPTIVE_AVGPOOL2D,
                                                    .setup = avgpool_setup,
                                                    .forward = avgpool_forward,
                                                    .backward = avgpool_backward};
const ns__layer_type ns__global_avgpool2d_type = {.kind = NS_LAYER_GLOBAL_AVGPOOL2D,
                                                  .setup = avgpool_setup,
                                                  .forward = avgpool_forward,
                                                  .backward = avgpool_backward};
