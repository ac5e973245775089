/* The layer-type table: one row per layer kind, and helpers layers use during setup. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

extern const ns__layer_type ns__linear_type, ns__relu_type, ns__leaky_relu_type, ns__elu_type,
    ns__gelu_type, ns__silu_type, ns__tanh_type, ns__sigmoid_type, ns__softmax_type,
    ns__dropout_type, ns__batchnorm1d_type, ns__layernorm_type, ns__flatten_type, ns__conv2d_type,
    ns__maxpool2d_type, ns__avgpool2d_type, ns__adaptive_avgpool2d_type, ns__global_avgpool2d_type,
    ns__batchnorm2d_type, ns__dropout2d_type;

static const ns__layer_type *const layer_types[NS_LAYER_KIND_COUNT] = {
    [NS_LAYER_LINEAR] = &ns__linear_type,
    [NS_LAYER_RELU] = &ns__relu_type,
    [NS_LAYER_LEAKY_RELU] = &ns__leaky_relu_type,
    [NS_LAYER_ELU] = &ns__elu_type,
    [NS_LAYER_GELU] = &ns__gelu_type,
    [NS_LAYER_SILU] = &ns__silu_type,
    [NS_LAYER_TANH] = &ns__tanh_type,
    [NS_LAYER_SIGMOID] = &ns__sigmoid_type,
    [NS_LAYER_SOFTMAX] = &ns__softmax_type,
    [NS_LAYER_DROPOUT] = &ns__dropout_type,
    [NS_LAYER_BATCHNORM1D] = &ns__batchnorm1d_type,
    [NS_LAYER_LAYERNORM] = &ns__layernorm_type,
    [NS_LAYER_FLATTEN] = &ns__flatten_type,
    [NS_LAYER_CONV2D] = &ns__conv2d_type,
    [NS_LAYER_MAXPOOL2D] = &ns__maxpool2d_type,
    [NS_LAYER_AVGPOOL2D] = &ns__avgpool2d_type,
    [NS_LAYER_ADAPTIVE_AVGPOOL2D] = &ns__adaptive_avgpool2d_type,
    [NS_LAYER_GLOBAL_AVGPOOL2D] = &ns__global_avgpool2d_type,
    [NS_LAYER_BATCHNORM2D] = &ns__batchnorm2d_type,
    [NS_LAYER_DROPOUT2D] = &ns__dropout2d_type,
};

const ns__layer_type *ns__layer_type_get(ns_layer_kind kind)
{
    NS_ASSERT(kind >= 0 && kind < NS_LAYER_KIND_COUNT && layer_types[kind] != NULL);
    return layer_types[kind];
}

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

/* ---- 2-D layers ----------------------------------------------------------------------- */

/* "[13]", "[3, 4]" */
static const char *shape_text(char *buf, size_t cap, int ndim, const int *shape)
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
    shape_text(got, sizeof got, l->in_ndim, l->in_shape);
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

static void geom_fill(const ns__layer *l, ns_conv2d_geom *g)
{
    const ns_layer_spec *s = &l->spec;
    memset(g, 0, sizeof *g);
    g->in_c = l->in_shape[0];
    g->in_h = l->in_shape[1];
    g->in_w = l->in_shape[2];
    g->out_c = s->kind == NS_LAYER_CONV2D ? s->filters : g->in_c;
    g->groups = s->kind == NS_LAYER_CONV2D ? s->groups : 1;
    bool adaptive = s->kind == NS_LAYER_ADAPTIVE_AVGPOOL2D || s->kind == NS_LAYER_GLOBAL_AVGPOOL2D;
    for (int d = 0; d < 2; d++) {
        int in = d == 0 ? g->in_h : g->in_w;
        if (adaptive) {
            g->kernel[d] = g->stride[d] = g->dilation[d] = 1;
            int out = s->kind == NS_LAYER_GLOBAL_AVGPOOL2D ? 1 : s->output_size[d];
            *(d == 0 ? &g->out_h : &g->out_w) = out;
            continue;
        }
        g->kernel[d] = s->kernel[d];
        g->stride[d] = s->stride[d] > 0 ? s->stride[d] : s->kernel[d];
        g->padding[d] = s->padding[d];
        g->dilation[d] = s->kind == NS_LAYER_CONV2D ? s->dilation[d] : 1;
        *(d == 0 ? &g->out_h : &g->out_w) =
            ns_conv2d_out_len(in, g->kernel[d], g->stride[d], g->padding[d], g->dilation[d]);
    }
}

/* The geometry and its checks (ns__layer_window without the output shape). */
static ns_status window_check(ns_ctx *ctx, const ns__layer *l, ns_conv2d_geom *g)
{
    geom_fill(l, g);
    const char *name = ns_layer_kind_name(l->spec.kind);
    const ns_layer_spec *s = &l->spec;
    bool adaptive = s->kind == NS_LAYER_ADAPTIVE_AVGPOOL2D || s->kind == NS_LAYER_GLOBAL_AVGPOOL2D;
    if (adaptive) {
        if (g->out_h <= 0 || g->out_w <= 0)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): output_size must be positive, got [%d, %d]",
                             l->index, name, g->out_h, g->out_w);
        return NS_OK;
    }
    char k[32], p[32], in[32], span[64] = "";
    for (int d = 0; d < 2; d++)
        if (g->kernel[d] <= 0 || g->stride[d] <= 0 || g->padding[d] < 0 || g->dilation[d] <= 0)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): kernel, stride and dilation must be positive and "
                             "padding non-negative",
                             l->index, name);
    if (s->kind != NS_LAYER_CONV2D)
        for (int d = 0; d < 2; d++)
            if (2 * g->padding[d] > g->kernel[d])
                return ns_errorf(ctx, NS_ERR_SHAPE,
                                 "layers[%d] (%s): padding %s is more than half the kernel %s; "
                                 "use padding <= kernel / 2",
                                 l->index, name, pair_text(p, sizeof p, g->padding),
                                 pair_text(k, sizeof k, g->kernel));
    if (g->out_h >= 1 && g->out_w >= 1)
        return NS_OK;
    if (g->dilation[0] != 1 || g->dilation[1] != 1) {
        int eff[2] = {g->dilation[0] * (g->kernel[0] - 1) + 1,
                      g->dilation[1] * (g->kernel[1] - 1) + 1};
        char e[32];
        snprintf(span, sizeof span, " (dilated to %s)", pair_text(e, sizeof e, eff));
    }
    snprintf(in, sizeof in, "%dx%d", g->in_h, g->in_w);
    return ns_errorf(ctx, NS_ERR_SHAPE,
                     "layers[%d] (%s): kernel %s%s is larger than the %s input (padding %s); use "
                     "a smaller kernel or add padding",
                     l->index, name, pair_text(k, sizeof k, g->kernel), span, in,
                     pair_text(p, sizeof p, g->padding));
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
