/* What the layer files share, below them all: the kinds' names, the helpers of setup, the
 * settings several kinds take, the 2-D geometry and the pools' check. The table of kinds is in
 * layer_table.c, above the layer files. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/checked.h"
#include "layers/layer.h"

void ns__layer_add_param(ns__layer *l, const char *name, int ndim, int64_t d0, int64_t d1)
{
    NS_ASSERT(l->n_params < NS__MAX_LAYER_PARAMS && ndim >= 1 && ndim <= 2);
    ns__tensor_slot *s = &l->params[l->n_params++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = ndim == 2 ? d1 : 0;
    s->numel = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1);
}

void ns__layer_add_param_nd(ns__layer *l, const char *name, int ndim, const int64_t *shape)
{
    NS_ASSERT(l->n_params < NS__MAX_LAYER_PARAMS && ndim >= 1 && ndim <= NS_MAX_DIMS);
    ns__tensor_slot *s = &l->params[l->n_params++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->ndim = ndim;
    s->numel = 1;
    for (int d = 0; d < ndim; d++) {
        s->shape[d] = shape[d];
        s->numel *= (size_t)shape[d];
    }
}

void ns__layer_add_buffer(ns__layer *l, const char *name, int64_t d0)
{
    NS_ASSERT(l->n_buffers < NS__MAX_LAYER_BUFFERS);
    ns__tensor_slot *s = &l->buffers[l->n_buffers++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->ndim = 1;
    s->shape[0] = d0;
    s->numel = (size_t)d0;
}

void ns__layer_same_shape(ns__layer *l)
{
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
}

void ns__layer_clear_dx(ns__layer *l, int batch)
{
    if (l->dx != NULL)
        memset(l->dx, 0, (size_t)batch * (size_t)l->in_size * sizeof(float));
}

/* ---- the kinds' names (the layers own their kinds) -------------------------------------- */

#define NS__NAME_ROW(name, str) #str,
static const char *const layer_kind_names[NS_LAYER_KIND_COUNT] = {NS_LAYER_KIND_MAP(NS__NAME_ROW)};
#undef NS__NAME_ROW

const char *ns_layer_kind_name(ns_layer_kind kind)
{
    return (kind >= 0 && kind < NS_LAYER_KIND_COUNT) ? layer_kind_names[kind] : NULL;
}

ns_status ns_layer_kind_parse(const char *name, ns_layer_kind *out)
{
    NS_ASSERT(out != NULL);
    for (int i = 0; name != NULL && i < NS_LAYER_KIND_COUNT; i++) {
        if (strcmp(layer_kind_names[i], name) == 0) {
            *out = (ns_layer_kind)i;
            return NS_OK;
        }
    }
    return NS_ERR_NOTFOUND;
}

/* ---- settings several kinds share ------------------------------------------------------ */

const ns__layer_setting ns__lset_bias = {
    .name = "bias", .type = NS__LSET_BOOL, .offset = offsetof(ns_layer_spec, bias), .def = 1};
const ns__layer_setting ns__lset_p = {.name = "p",
                                      .type = NS__LSET_REAL,
                                      .offset = offsetof(ns_layer_spec, p),
                                      .def = 0.5,
                                      .lo = 0.0,
                                      .hi = 1.0,
                                      .hi_open = true,
                                      .want = "a number in [0, 1)",
                                      .show_always = true};
const ns__layer_setting ns__lset_eps = {.name = "eps",
                                        .type = NS__LSET_REAL,
                                        .offset = offsetof(ns_layer_spec, eps),
                                        .def = 1e-5,
                                        .lo = 0.0,
                                        .lo_open = true,
                                        .hi = HUGE_VAL,
                                        .want = "a positive number",
                                        .show_always = true};
const ns__layer_setting ns__lset_kernel = {.name = "kernel",
                                           .type = NS__LSET_PAIR,
                                           .offset = offsetof(ns_layer_spec, kernel),
                                           .min = 1,
                                           .want = "a positive integer",
                                           .required = true,
                                           .show_always = true};
const ns__layer_setting ns__lset_pool_stride = {.name = "stride",
                                                .type = NS__LSET_PAIR,
                                                .offset = offsetof(ns_layer_spec, stride),
                                                .def = 0, /* the kernel (PyTorch's None) */
                                                .min = 1,
                                                .want = "a positive integer",
                                                .show_always = true,
                                                .zero_is_kernel = true};
const ns__layer_setting ns__lset_pool_padding = {.name = "padding",
                                                 .type = NS__LSET_PAIR,
                                                 .offset = offsetof(ns_layer_spec, padding),
                                                 .min = 0,
                                                 .want = "a non-negative integer",
                                                 .show_always = true};

/* "3" or "[3, 5]", as a pair setting is written. */
static const char *pair_json(char *buf, size_t cap, const int *v)
{
    if (v[0] == v[1])
        snprintf(buf, cap, "%d", v[0]);
    else
        snprintf(buf, cap, "[%d, %d]", v[0], v[1]);
    return buf;
}

ns_status ns__pool_check(const ns__json_reader *r, const char *path, unsigned given,
                         ns_layer_spec *ls)
{
    char sub[96];
    /* The stride is the second of a pool's settings (kernel, stride, padding, ...). */
    if (!(given & (1u << 1))) /* PyTorch: stride=None is the kernel */
        memcpy(ls->stride, ls->kernel, sizeof ls->stride);
    /* padding > kernel / 2 is 2 * padding > kernel without overflowing an int */
    if (ls->padding[0] > ls->kernel[0] / 2 || ls->padding[1] > ls->kernel[1] / 2) {
        char p[32], k[32], most[32];
        int half[2] = {ls->kernel[0] / 2, ls->kernel[1] / 2};
        return ns__jr_fail(r, ns__jr_join(sub, sizeof sub, path, "padding"),
                           "padding %s is more than half the kernel %s; use at most %s",
                           pair_json(p, sizeof p, ls->padding), pair_json(k, sizeof k, ls->kernel),
                           pair_json(most, sizeof most, half));
    }
    return NS_OK;
}

/* ---- 2-D layers ----------------------------------------------------------------------- */

const char *ns__shape_text(char *buf, size_t cap, int ndim, const int *shape)
{
    snprintf(buf, cap, "[");
    for (int i = 0; i < ndim; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%d", i ? ", " : "", shape[i]);
    snprintf(buf + strlen(buf), cap - strlen(buf), "]");
    return buf;
}

ns_status ns__layer_expect_chw(ns_ctx *ctx, const ns__layer *l)
{
    if (l->in_ndim == 3)
        return NS_OK;
    char got[64];
    ns__shape_text(got, sizeof got, l->in_ndim, l->in_shape);
    if (l->in_ndim == 1 && l->index > 0)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): expects [channels, height, width] per sample but its "
                         "input is %s, flat features (after a flatten or linear layer?); put the "
                         "2-D layers before flatten",
                         l->index, ns_layer_kind_name(l->spec.kind), got);
    return ns_errorf(ctx, NS_ERR_SHAPE,
                     "layers[%d] (%s): expects [channels, height, width] per sample but its "
                     "input is %s; give the data's shape as [C, H, W] (e.g. \"input\": [1, 28, "
                     "28] for grey 28x28 images)",
                     l->index, ns_layer_kind_name(l->spec.kind), got);
}

/* "3" or "3x5" */
static const char *pair_text(char *buf, size_t cap, const int *v)
{
    if (v[0] == v[1])
        snprintf(buf, cap, "%d", v[0]);
    else
        snprintf(buf, cap, "%dx%d", v[0], v[1]);
    return buf;
}

/* The same for 64-bit values (lengths computed before they are known to fit an int). */
static const char *pair_text64(char *buf, size_t cap, const int64_t *v)
{
    if (v[0] == v[1])
        snprintf(buf, cap, "%lld", (long long)v[0]);
    else
        snprintf(buf, cap, "%lldx%lld", (long long)v[0], (long long)v[1]);
    return buf;
}

static bool is_adaptive(const ns_layer_spec *s)
{
    return s->kind == NS_LAYER_ADAPTIVE_AVGPOOL2D || s->kind == NS_LAYER_GLOBAL_AVGPOOL2D;
}

static void geom_fill(const ns__layer *l, ns_conv2d_geom *g)
{
    const ns_layer_spec *s = &l->spec;
    memset(g, 0, sizeof *g);
    g->in_c = l->in_shape[0];
    g->in_h = l->in_shape[1];
    g->in_w = l->in_shape[2];
    g->out_c = s->kind == NS_LAYER_CONV2D ? s->filters : g->in_c;
    g->groups = s->kind == NS_LAYER_CONV2D ? s->groups : 1;
    bool adaptive = is_adaptive(s);
    for (int d = 0; d < 2; d++) {
        int in = d == 0 ? g->in_h : g->in_w;
        if (adaptive) {
            g->kernel[d] = g->stride[d] = g->dilation[d] = 1;
            int out = s->kind == NS_LAYER_GLOBAL_AVGPOOL2D ? 1 : s->output_size[d];
            *(d == 0 ? &g->out_h : &g->out_w) = out;
            continue;
        }
        g->kernel[d] = s->kernel[d];
        g->stride[d] = s->stride[d] != 0 ? s->stride[d] : s->kernel[d];
        g->padding[d] = s->padding[d];
        g->dilation[d] = s->kind == NS_LAYER_CONV2D ? s->dilation[d] : 1;
        *(d == 0 ? &g->out_h : &g->out_w) =
            ns_conv2d_out_len(in, g->kernel[d], g->stride[d], g->padding[d], g->dilation[d]);
    }
}

/* One axis of a window's geometry in 64 bits, worked out before anything is known to fit an
 * int (a hostile spec can ask for any int in each setting). */
typedef struct axis {
    int64_t in, kernel, stride, padding, dilation;
    int64_t span;   /* dilation * (kernel - 1) + 1: the inputs one window covers */
    int64_t padded; /* in + 2 * padding */
    int64_t out;    /* windows along the axis; 0 when none fits */
} axis;

/* Axis d (0: height, 1: width) of a conv2d or (non-adaptive) pooling layer. The settings are
 * at most INT_MAX each, so none of these products and sums overflows int64. */
static axis axis_of(const ns__layer *l, int d)
{
    const ns_layer_spec *s = &l->spec;
    axis a;
    a.in = l->in_shape[1 + d];
    a.kernel = s->kernel[d];
    a.stride = s->stride[d] != 0 ? s->stride[d] : s->kernel[d]; /* negative: refused */
    a.padding = s->padding[d];
    a.dilation = s->kind == NS_LAYER_CONV2D ? s->dilation[d] : 1;
    a.span = a.dilation * (a.kernel - 1) + 1;
    a.padded = a.in + 2 * a.padding;
    a.out = 0;
    if (a.kernel > 0 && a.stride > 0 && a.padding >= 0 && a.dilation > 0 && a.span <= a.padded)
        a.out = (a.padded - a.span) / a.stride + 1;
    return a;
}

/* The window checks of a conv2d or a pool with a kernel; out[2] receives the output lengths. */
static ns_status kernel_window_check(ns_ctx *ctx, const ns__layer *l, int64_t out[2])
{
    const ns_layer_spec *s = &l->spec;
    const char *name = ns_layer_kind_name(s->kind);
    bool conv = s->kind == NS_LAYER_CONV2D;
    axis a[2] = {axis_of(l, 0), axis_of(l, 1)};
    char k[48], p[48], st[48], in[48], e[48], more[96] = "";
    for (int d = 0; d < 2; d++)
        if (a[d].kernel <= 0 || a[d].stride <= 0 || a[d].padding < 0 || a[d].dilation <= 0)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): kernel, stride and dilation must be positive and "
                             "padding non-negative",
                             l->index, name);
    /* PyTorch's rule for pools: every window holds at least one input. (padding > kernel / 2
     * is 2 * padding > kernel without the overflow.) */
    if (!conv)
        for (int d = 0; d < 2; d++)
            if (s->padding[d] > s->kernel[d] / 2)
                return ns_errorf(ctx, NS_ERR_SHAPE,
                                 "layers[%d] (%s): padding %s is more than half the kernel %s; "
                                 "use padding <= kernel / 2",
                                 l->index, name, pair_text(p, sizeof p, s->padding),
                                 pair_text(k, sizeof k, s->kernel));
    snprintf(in, sizeof in, "%dx%d", l->in_shape[1], l->in_shape[2]);
    if (a[0].in > NS__MAX_AXIS || a[1].in > NS__MAX_AXIS)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): its %s input is longer than the %d a 2-D layer takes "
                         "along one axis; reshape the data (or use flat features)",
                         l->index, name, in, NS__MAX_AXIS);
    pair_text(k, sizeof k, s->kernel);
    pair_text(p, sizeof p, s->padding);
    bool dilated = a[0].dilation != 1 || a[1].dilation != 1;
    if (a[0].out < 1 || a[1].out < 1) {
        int64_t span[2] = {a[0].span, a[1].span};
        if (dilated)
            snprintf(more, sizeof more, " (dilated to %s)", pair_text64(e, sizeof e, span));
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): kernel %s%s is larger than the %s input (padding %s); "
                         "use a smaller kernel%s or add padding",
                         l->index, name, k, more, in, p, dilated ? " or dilation," : "");
    }
    /* The window fits the padded input; the padded input must fit the kernels' ints. */
    if (a[0].padded > NS__MAX_AXIS || a[1].padded > NS__MAX_AXIS) {
        int64_t padded[2] = {a[0].padded, a[1].padded};
        if (dilated)
            snprintf(more, sizeof more, " (dilation %s)", pair_text(e, sizeof e, s->dilation));
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): kernel %s%s with padding %s does not fit the %s input: "
                         "the padded input would be %lldx%lld, longer than the %d a 2-D layer "
                         "takes along one axis; use a %s no larger than the input%s",
                         l->index, name, k, more, p, in, (long long)padded[0], (long long)padded[1],
                         NS__MAX_AXIS, conv && dilated ? "window (kernel and dilation)" : "kernel",
                         conv ? " and less padding" : " and padding of at most half the kernel");
    }
    if (a[0].stride > NS__MAX_AXIS || a[1].stride > NS__MAX_AXIS) {
        int64_t stride[2] = {a[0].stride, a[1].stride};
        int64_t padded[2] = {a[0].padded, a[1].padded};
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): stride %s is longer than the %d a 2-D layer takes "
                         "along one axis; use at most %s, the padded input's length (any "
                         "longer stride gives the same output)",
                         l->index, name, pair_text64(st, sizeof st, stride), NS__MAX_AXIS,
                         pair_text64(e, sizeof e, padded));
    }
    out[0] = a[0].out;
    out[1] = a[1].out;
    return NS_OK;
}

/* The geometry and its checks (ns__layer_window without the output shape). Every length is
 * worked out in 64 bits and checked against NS__MAX_AXIS and NS__MAX_VALUES before the
 * geometry is stored in ints, so the kernels may rely on it. */
static ns_status window_check(ns_ctx *ctx, const ns__layer *l, ns_conv2d_geom *g)
{
    const ns_layer_spec *s = &l->spec;
    const char *name = ns_layer_kind_name(s->kind);
    int64_t out[2] = {0, 0};
    char k[48], p[48], st[48], d[48], n[48];
    if (is_adaptive(s)) {
        for (int i = 0; i < 2; i++)
            out[i] = s->kind == NS_LAYER_GLOBAL_AVGPOOL2D ? 1 : s->output_size[i];
        if (out[0] <= 0 || out[1] <= 0)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): output_size must be positive, got [%lld, %lld]",
                             l->index, name, (long long)out[0], (long long)out[1]);
    } else {
        ns_status status = kernel_window_check(ctx, l, out);
        if (status != NS_OK)
            return status;
    }
    int64_t oc = s->kind == NS_LAYER_CONV2D ? s->filters : l->in_shape[0];
    int64_t shape[3] = {oc, out[0], out[1]}, values;
    if (!ns__product_i64(3, shape, &values) || values > NS__MAX_VALUES) {
        char what[320], fix[96];
        if (s->kind == NS_LAYER_CONV2D) {
            snprintf(what, sizeof what,
                     "filters %d with kernel %s, stride %s, padding %s and dilation %s make",
                     s->filters, pair_text(k, sizeof k, s->kernel),
                     pair_text(st, sizeof st, s->stride), pair_text(p, sizeof p, s->padding),
                     pair_text(d, sizeof d, s->dilation));
            snprintf(fix, sizeof fix, "fewer filters, less padding or a larger stride");
        } else if (is_adaptive(s)) {
            snprintf(what, sizeof what, "output_size %s over %lld channel%s makes",
                     pair_text(k, sizeof k, s->output_size), (long long)oc, oc == 1 ? "" : "s");
            snprintf(fix, sizeof fix, "a smaller output_size");
        } else {
            int stride[2] = {s->stride[0] != 0 ? s->stride[0] : s->kernel[0],
                             s->stride[1] != 0 ? s->stride[1] : s->kernel[1]};
            snprintf(what, sizeof what, "kernel %s, stride %s and padding %s make",
                     pair_text(k, sizeof k, s->kernel), pair_text(st, sizeof st, stride),
                     pair_text(p, sizeof p, s->padding));
            snprintf(fix, sizeof fix, "a larger stride or a smaller input");
        }
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): %s an output of [%lld, %lld, %lld], %s values per "
                         "sample, more than the %d one tensor may hold; use %s",
                         l->index, name, what, (long long)oc, (long long)out[0], (long long)out[1],
                         ns__product_text(n, sizeof n, 3, shape), NS__MAX_VALUES, fix);
    }
    if (out[0] > NS__MAX_AXIS || out[1] > NS__MAX_AXIS) /* adaptive only: others are shorter */
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "layers[%d] (%s): output_size %s is longer than the %d a 2-D layer "
                         "takes along one axis; use a smaller output_size",
                         l->index, name, pair_text(k, sizeof k, s->output_size), NS__MAX_AXIS);
    geom_fill(l, g);
    return NS_OK;
}

ns_status ns__layer_window(ns_ctx *ctx, ns__layer *l, ns_conv2d_geom *g)
{
    ns_status st = window_check(ctx, l, g);
    if (st != NS_OK)
        return st;
    l->out_ndim = 3;
    l->out_shape[0] = g->out_c;
    l->out_shape[1] = g->out_h;
    l->out_shape[2] = g->out_w;
    return NS_OK;
}

void ns__layer_geom(const ns__layer *l, ns_conv2d_geom *g)
{
    geom_fill(l, g);
}
