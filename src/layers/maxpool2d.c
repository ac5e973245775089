/* maxpool2d: the maximum of each window of each channel (torch.nn.MaxPool2d, dilation 1,
 * floor mode); padding counts as -infinity. The forward saves, per output, where its maximum
 * came from, and backward routes the gradient there. */
#include <stdint.h>

#include "internal.h"

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

const ns__layer_type ns__maxpool2d_type = {NS_LAYER_MAXPOOL2D, maxpool_setup, NULL, maxpool_forward,
                                           maxpool_backward};
