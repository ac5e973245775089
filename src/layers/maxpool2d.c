/* maxpool2d: the maximum of each window of each channel (torch.nn.MaxPool2d, dilation 1,
 * floor mode); padding counts as -infinity. The forward saves, per output, where its maximum
 * came from, and backward routes the gradient there. */
#include <stddef.h>
#include <stdint.h>

#include "layers/layer.h"

static ns_status maxpool_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    ns_status st = ns__layer_expect_chw(ctx, l);
    ns_conv2d_geom g;
    if (st == NS_OK)
        st = ns__layer_window(ctx, l, &g);
    if (st != NS_OK)
        return st;
    /* The argmax indices: one int32 per output, in scratch sized in floats (same size). */
    *per_sample = (size_t)g.out_c * (size_t)g.out_h * (size_t)g.out_w;
    *fixed = 0;
    return NS_OK;
}

/* The scratch is arena memory (from malloc, no declared type) that is only ever read and
 * written as int32 here, so viewing it through int32_t * is well defined; float and int32
 * have the same size and the arena aligns to 64 bytes. */
static int32_t *argmax_of(ns__layer *l)
{
    return (int32_t *)(void *)l->scratch;
}

static void maxpool_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)training;
    (void)rng;
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    ns_maxpool2d_forward(l->y, argmax_of(l), x, &g, batch);
}

static void maxpool_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    (void)x;
    if (l->dx == NULL)
        return;
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    ns_maxpool2d_backward_set(l->dx, dy, argmax_of(l), &g, batch);
}

/* Backward scatters into argmax[o] of each input plane: every saved index must lie in it. */
static ns_status maxpool_check_restored(ns_ctx *ctx, const ns__layer *l, int batch)
{
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    const int32_t *argmax = (const int32_t *)(const void *)l->scratch;
    const int64_t plane = (int64_t)g.in_h * g.in_w;
    const size_t n = (size_t)batch * (size_t)g.in_c * (size_t)g.out_h * (size_t)g.out_w;
    for (size_t i = 0; i < n; i++)
        if (argmax[i] < 0 || argmax[i] >= plane)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "layers[%d] (maxpool2d): saved argmax %d of output %zu is outside the "
                             "%dx%d input plane",
                             l->index, (int)argmax[i], i, g.in_h, g.in_w);
    return NS_OK;
}

/* The stride second: ns__pool_check looks for it there. */
static const ns__layer_setting *const maxpool_settings[] = {&ns__lset_kernel, &ns__lset_pool_stride,
                                                            &ns__lset_pool_padding, NULL};

const ns__layer_type ns__maxpool2d_type = {
    .kind = NS_LAYER_MAXPOOL2D,
    .settings = maxpool_settings,
    .needs = "\"kernel\" (the window size), e.g. {\"type\": \"maxpool2d\", \"kernel\": 2}",
    .example = "{\"type\": \"maxpool2d\", \"kernel\": 2}",
    .check = ns__pool_check,
    .setup = maxpool_setup,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .check_restored = maxpool_check_restored};
