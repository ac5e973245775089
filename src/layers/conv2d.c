/* conv2d: y[B,OC,OH,OW] = conv(x[B,C,H,W], weight[OC,C/G,KH,KW]) + bias[OC]
 * (torch.nn.Conv2d with zero padding). The im2col work buffers live in the layer's scratch:
 * col [C*KH*KW, chunk*OH*OW] and dcol (same; only when dx is needed), chunk samples at a
 * time, then tmp (the gradient chunks' partial sums, conv.c). When a batch is one chunk, col
 * survives from forward to backward, which reuses it. With more than one thread in the
 * model's context, the kernels split the batch (conv.c); the workers' own col and dcol are
 * their pool scratch, so the layer's scratch does not depend on the thread count. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/checked.h"
#include "layers/layer.h"
#include "kernels/kernels_internal.h"

/* Most floats one work buffer (col, and dcol) may take. A chunk of samples shares one im2col
 * and one col2im pass; the GEMMs run sample by sample either way (conv.c), so a large chunk
 * buys nothing but memory: 64 Ki floats (256 KiB) keeps col and dcol in the L2 cache
 * between those passes and the GEMMs. A sample whose columns are larger gets a chunk of one. */
#define CONV_COL_BUDGET ((size_t)1 << 16)

/* Samples per im2col pass: as many as the budget allows, at most the batch the arena is
 * planned for and a gradient chunk (the kernels never pass more at once). */
static int conv_chunk(const ns__layer *l, const ns_conv2d_geom *g)
{
    size_t per_sample = ns_conv2d_col_floats(g, 1);
    size_t fit = per_sample > 0 ? CONV_COL_BUDGET / per_sample : 1;
    if (fit < 1)
        fit = 1;
    if (fit > NS__CONV_GRAD_CHUNK)
        fit = NS__CONV_GRAD_CHUNK;
    return fit < (size_t)l->max_batch ? (int)fit : l->max_batch;
}

static ns_status conv_setup(ns_ctx *ctx, ns__layer *l, size_t *per_sample, size_t *fixed)
{
    const ns_layer_spec *s = &l->spec;
    ns_status st = ns__layer_expect_chw(ctx, l);
    if (st != NS_OK)
        return st;
    if (s->filters <= 0 || s->groups <= 0)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (conv2d): filters and groups must be positive, got %d and %d",
                         l->index, s->filters, s->groups);
    int c = l->in_shape[0];
    if (c % s->groups != 0 || s->filters % s->groups != 0)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (conv2d): groups %d must divide both the %d input channels "
                         "and the %d filters; change groups (or filters)",
                         l->index, s->groups, c, s->filters);
    ns_conv2d_geom g;
    st = ns__layer_window(ctx, l, &g);
    if (st != NS_OK)
        return st;
    char n[48], k[48];
    snprintf(k, sizeof k, s->kernel[0] == s->kernel[1] ? "%d" : "%dx%d", s->kernel[0],
             s->kernel[1]);
    int64_t wshape[4] = {s->filters, c / s->groups, s->kernel[0], s->kernel[1]}, values;
    if (!ns__product_i64(4, wshape, &values) || values > NS__MAX_VALUES)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (conv2d): filters %d with kernel %s over %d input "
                         "channel%s (groups %d) make a weight of [%lld, %lld, %lld, %lld], %s "
                         "values, more than the %d one tensor may hold; use fewer filters or a "
                         "smaller kernel",
                         l->index, s->filters, k, c, c == 1 ? "" : "s", s->groups,
                         (long long)wshape[0], (long long)wshape[1], (long long)wshape[2],
                         (long long)wshape[3], ns__product_text(n, sizeof n, 4, wshape),
                         NS__MAX_VALUES);
    /* One sample's im2col matrix, [C*KH*KW, OH*OW]: its rows are at most the weight's values
     * (filters >= groups), its columns at most the output's. */
    int64_t col[4] = {c, s->kernel[0] * (int64_t)s->kernel[1], g.out_h, g.out_w};
    if (!ns__product_i64(4, col, &values) || values > NS__MAX_VALUES)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (conv2d): kernel %s over %d input channel%s with a %dx%d "
                         "output makes an im2col matrix of %s values per sample, more than the "
                         "%d one tensor may hold; use a smaller kernel or a larger stride",
                         l->index, k, c, c == 1 ? "" : "s", g.out_h, g.out_w,
                         ns__product_text(n, sizeof n, 4, col), NS__MAX_VALUES);
    ns__layer_add_param_nd(l, "weight", 4, wshape);
    if (s->bias)
        ns__layer_add_param(l, "bias", 1, s->filters, 0);
    int chunk = conv_chunk(l, &g);
    /* col (and dcol) for a chunk stay within max(one sample's, CONV_COL_BUDGET), tmp within a
     * few weights: these cannot overflow, but are added as every size is, checked. */
    size_t floats = ns_conv2d_col_floats(&g, chunk);
    if (!ns__mul_size(floats, l->need_dx ? 2 : 1, &floats) ||
        !ns__add_size(floats, ns_conv2d_tmp_floats(&g, chunk), &floats))
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (conv2d): its work buffers do not fit in memory; use a "
                         "smaller kernel or fewer filters",
                         l->index);
    *per_sample = 0;
    *fixed = floats;
    l->ctx = ctx;
    return NS_OK;
}

/* PyTorch: kaiming_uniform_(a=sqrt(5)) for the weight, which is U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) with fan_in = C/G * KH * KW, and the same bound for the bias. */
static void conv_init(ns__layer *l, ns_rng *rng)
{
    const ns_layer_spec *s = &l->spec;
    int fan_in = l->in_shape[0] / s->groups * s->kernel[0] * s->kernel[1];
    float bound = 1.0f / sqrtf((float)fan_in);
    for (int p = 0; p < l->n_params; p++)
        for (size_t i = 0; i < l->params[p].numel; i++)
            l->params[p].data[i] = ns_rng_uniform_range(rng, -bound, bound);
}

/* The work buffers, carved from the scratch in the order setup sized them. */
static ns_conv2d_work conv_work(const ns__layer *l, const ns_conv2d_geom *g)
{
    int chunk = conv_chunk(l, g);
    size_t n = ns_conv2d_col_floats(g, chunk);
    ns_conv2d_work w = {chunk, l->scratch, NULL, NULL};
    w.dcol = l->need_dx ? l->scratch + n : NULL;
    w.tmp = ns_conv2d_tmp_floats(g, chunk) > 0 ? l->scratch + n * (l->need_dx ? 2 : 1) : NULL;
    return w;
}

static void conv_forward(ns__layer *l, const float *x, int batch, bool training, ns_rng *rng)
{
    (void)training;
    (void)rng;
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    ns_conv2d_work w = conv_work(l, &g);
    ns__conv2d_forward_ctx(l->ctx, l->y, x, l->params[0].data,
                           l->spec.bias ? l->params[1].data : NULL, &g, batch, &w);
}

/* The model runs backward only after a training forward on the same x and batch, and nothing
 * but this layer's backward writes the scratch in between, so col is ready (see
 * ns_conv2d_backward for when it is reused). */
static void conv_backward(ns__layer *l, const float *x, const float *dy, int batch)
{
    ns_conv2d_geom g;
    ns__layer_geom(l, &g);
    ns_conv2d_work w = conv_work(l, &g);
    ns__layer_clear_dx(l, batch);
    ns__conv2d_backward_ctx(l->ctx, l->dx, l->params[0].grad,
                            l->spec.bias ? l->params[1].grad : NULL, dy, x, l->params[0].data, &g,
                            batch, &w, 1);
}

/* ---- settings ------------------------------------------------------------------------- */

/* Padding "same" until conv_check turns it into numbers. */
#define PADDING_SAME (-1)

/* conv2d's padding: "valid" (0), "same" (resolved by conv_check) or numbers. */
static ns_status parse_padding(const ns__json_reader *r, const char *path, const json_t *v,
                               ns_layer_spec *ls)
{
    if (json_is_string(v)) {
        const char *text = json_string_value(v);
        if (strcmp(text, "valid") == 0) {
            ls->padding[0] = ls->padding[1] = 0;
            return NS_OK;
        }
        if (strcmp(text, "same") == 0) {
            ls->padding[0] = ls->padding[1] = PADDING_SAME;
            return NS_OK;
        }
    }
    return ns__jr_pair(r, path, v, 0, "\"valid\", \"same\", a non-negative integer", ls->padding);
}

static const ns__layer_setting filters = {.name = "filters",
                                          .type = NS__LSET_INT,
                                          .offset = offsetof(ns_layer_spec, filters),
                                          .min = 1,
                                          .want = "a positive integer",
                                          .required = true,
                                          .show_always = true};
static const ns__layer_setting stride = {.name = "stride",
                                         .type = NS__LSET_PAIR,
                                         .offset = offsetof(ns_layer_spec, stride),
                                         .def = 1,
                                         .min = 1,
                                         .want = "a positive integer",
                                         .show_always = true};
static const char *const padding_names[] = {"valid", "same", NULL};
static const ns__layer_setting padding = {.name = "padding",
                                          .type = NS__LSET_PAIR,
                                          .offset = offsetof(ns_layer_spec, padding),
                                          .min = 0,
                                          .want = "\"valid\", \"same\", a non-negative integer",
                                          .names = padding_names,
                                          .show_always = true,
                                          .parse = parse_padding};
static const ns__layer_setting dilation = {.name = "dilation",
                                           .type = NS__LSET_PAIR,
                                           .offset = offsetof(ns_layer_spec, dilation),
                                           .def = 1,
                                           .min = 1,
                                           .want = "a positive integer"};
static const ns__layer_setting groups = {.name = "groups",
                                         .type = NS__LSET_INT,
                                         .offset = offsetof(ns_layer_spec, groups),
                                         .def = 1,
                                         .min = 1,
                                         .want = "a positive integer"};
static const ns__layer_setting *const conv_settings[] = {
    &filters, &ns__lset_kernel, &stride, &padding, &dilation, &groups, &ns__lset_bias, NULL};

/* Padding "same" (stride 1, as in PyTorch, and an even total so both sides get the same), and
 * groups that divide the filters. */
static ns_status conv_check(const ns__json_reader *r, const char *path, unsigned given,
                            ns_layer_spec *ls)
{
    (void)given;
    char sub[96];
    if (ls->padding[0] == PADDING_SAME) {
        ns__jr_join(sub, sizeof sub, path, "padding");
        if (ls->stride[0] != 1 || ls->stride[1] != 1)
            return ns__jr_fail(r, sub,
                               "padding \"same\" needs stride 1 (as in PyTorch); give the padding "
                               "as numbers for a strided convolution");
        for (int d = 0; d < 2; d++) {
            /* In 64 bits: each factor may be as large as an int. */
            int64_t total = (int64_t)ls->dilation[d] * (int64_t)(ls->kernel[d] - 1);
            if (total % 2 != 0)
                return ns__jr_fail(r, sub,
                                   "padding \"same\" with kernel %d (dilation %d) needs %lld "
                                   "padding, which cannot be split evenly between the two sides; "
                                   "use an odd kernel or give the padding as numbers",
                                   ls->kernel[d], ls->dilation[d], (long long)total);
            if (total / 2 > INT_MAX)
                return ns__jr_fail(r, sub,
                                   "padding \"same\" with kernel %d (dilation %d) needs %lld "
                                   "padding on each side, more than a setting can hold (%d); use "
                                   "a smaller kernel or dilation",
                                   ls->kernel[d], ls->dilation[d], (long long)(total / 2), INT_MAX);
            ls->padding[d] = (int)(total / 2);
        }
    }
    if (ls->filters % ls->groups != 0)
        return ns__jr_fail(r, ns__jr_join(sub, sizeof sub, path, "groups"),
                           "groups %d does not divide filters %d; use a divisor of the filters",
                           ls->groups, ls->filters);
    return NS_OK;
}

const ns__layer_type ns__conv2d_type = {
    .kind = NS_LAYER_CONV2D,
    .settings = conv_settings,
    .needs = "\"filters\" (its number of output channels) and \"kernel\", e.g. {\"type\": "
             "\"conv2d\", \"filters\": 32, \"kernel\": 3}",
    .example = "{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3}",
    .flags = NS__LAYER_OUTPUT_UNREAD | NS__LAYER_DX_OPTIONAL,
    .size_hint = "fewer filters or a larger stride",
    .check = conv_check,
    .setup = conv_setup,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward};
