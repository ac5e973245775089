/* The ONNX writer: a plan as an ONNX ModelProto (IR version 8 for opset 17, 7 for opsets 13 to
 * 16; the default ai.onnx domain), written field by field from onnx.proto's field numbers
 * (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto): a model is a few nested messages,
 * so the encoder (xbuf.c) is a page where generated protobuf code would be thousands of lines.
 *
 * The graph: "input" float [N, features...] (N dynamic) -> Mul by the byte scale (images) ->
 * Sub shift, Mul scale (the normalisation, as netsmith applies it: (x - shift) * scale) -> one
 * rule per layer -> Softmax, or Sigmoid with [1 - p, p] for one logit (classifiers), ->
 * "probabilities" [N, classes] or "values" [N, targets]. Dropout is left out and batch norms
 * use their running statistics (inference form). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "export/export_internal.h"

/* TensorProto.DataType and AttributeProto.AttributeType values. */
enum { T_FLOAT = 1, T_INT64 = 7 };
enum { A_FLOAT = 1, A_INT = 2, A_INTS = 7 };

typedef struct onx {
    ns_ctx *ctx;
    int opset;
    ns__xbuf nodes; /* GraphProto.node entries */
    ns__xbuf inits; /* GraphProto.initializer entries */
    int next;       /* the number of the next value or node name */
} onx;

/* A value's name in the graph. */
typedef struct vname {
    char s[40];
} vname;

static vname fresh(onx *g, const char *hint)
{
    vname v;
    snprintf(v.s, sizeof v.s, "%s_%d", hint, g->next++);
    return v;
}

static bool little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* An initializer of data_type type with dims[ndim] and its raw little-endian bytes from n
 * values of elem bytes each. */
static void initializer(onx *g, const char *name, int type, const int64_t *dims, int ndim,
                        const void *data, size_t n, size_t elem)
{
    ns__xbuf t;
    ns__xbuf_init(&t, g->ctx);
    for (int d = 0; d < ndim; d++)
        ns__pb_varint(&t, 1, (uint64_t)dims[d]);
    ns__pb_varint(&t, 2, (uint64_t)type);
    ns__pb_string(&t, 8, name);
    if (little_endian()) {
        ns__pb_bytes(&t, 9, data, n * elem);
    } else {
        ns__xbuf raw;
        ns__xbuf_init(&raw, g->ctx);
        const unsigned char *p = data;
        for (size_t i = 0; i < n; i++)
            for (size_t b = elem; b-- > 0;)
                ns__xbuf_put(&raw, p + i * elem + b, 1);
        ns__pb_message(&t, 9, &raw);
        ns__xbuf_free(&raw);
    }
    ns__pb_message(&g->inits, 5, &t);
    ns__xbuf_free(&t);
}

static vname init_floats(onx *g, const char *hint, const float *data, const int64_t *dims, int ndim)
{
    vname v = fresh(g, hint);
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)dims[d];
    initializer(g, v.s, T_FLOAT, dims, ndim, data, n, sizeof(float));
    return v;
}

/* A constant filled with value (a batch norm's missing scale or shift, a layer norm's). */
static vname init_fill(onx *g, const char *hint, float value, int n)
{
    vname v = fresh(g, hint);
    int64_t dims[1] = {n};
    ns__xbuf raw;
    ns__xbuf_init(&raw, g->ctx);
    for (int i = 0; i < n; i++)
        ns__xbuf_put(&raw, &value, sizeof value);
    if (!raw.failed)
        initializer(g, v.s, T_FLOAT, dims, 1, raw.p, (size_t)n, sizeof(float));
    else
        g->inits.failed = true;
    ns__xbuf_free(&raw);
    return v;
}

static vname init_scalar(onx *g, const char *hint, float value)
{
    vname v = fresh(g, hint);
    initializer(g, v.s, T_FLOAT, NULL, 0, &value, 1, sizeof value);
    return v;
}

static vname init_int64s(onx *g, const char *hint, const int64_t *values, int n)
{
    vname v = fresh(g, hint);
    int64_t dims[1] = {n};
    initializer(g, v.s, T_INT64, dims, 1, values, (size_t)n, sizeof(int64_t));
    return v;
}

/* ---- attributes and nodes -------------------------------------------------------------------- */

static void attr_begin(ns__xbuf *t, ns_ctx *ctx, const char *name)
{
    ns__xbuf_init(t, ctx);
    ns__pb_string(t, 1, name);
}

static void attr_end(ns__xbuf *attrs, ns__xbuf *t, int type)
{
    ns__pb_varint(t, 20, (uint64_t)type);
    ns__pb_message(attrs, 5, t);
    ns__xbuf_free(t);
}

static void attr_int(ns__xbuf *attrs, const char *name, int64_t v)
{
    ns__xbuf t;
    attr_begin(&t, attrs->ctx, name);
    ns__pb_varint(&t, 3, (uint64_t)v);
    attr_end(attrs, &t, A_INT);
}

static void attr_float(ns__xbuf *attrs, const char *name, float v)
{
    ns__xbuf t;
    attr_begin(&t, attrs->ctx, name);
    ns__pb_float(&t, 2, v);
    attr_end(attrs, &t, A_FLOAT);
}

static void attr_ints(ns__xbuf *attrs, const char *name, const int64_t *v, int n)
{
    ns__xbuf t;
    attr_begin(&t, attrs->ctx, name);
    for (int i = 0; i < n; i++)
        ns__pb_varint(&t, 8, (uint64_t)v[i]);
    attr_end(attrs, &t, A_INTS);
}

/* A node op(in[0..n_in-1]) -> out, with attributes (field-5 entries; NULL for none). */
static void node_to(onx *g, const char *op, const char *const *in, int n_in, const char *out,
                    ns__xbuf *attrs)
{
    ns__xbuf n;
    ns__xbuf_init(&n, g->ctx);
    for (int i = 0; i < n_in; i++)
        ns__pb_string(&n, 1, in[i]);
    ns__pb_string(&n, 2, out);
    char name[48];
    snprintf(name, sizeof name, "%s_%d", op, g->next++);
    ns__pb_string(&n, 3, name);
    ns__pb_string(&n, 4, op);
    if (attrs != NULL) {
        if (attrs->failed)
            n.failed = true;
        ns__xbuf_put(&n, attrs->p, attrs->n);
        ns__xbuf_free(attrs);
    }
    ns__pb_message(&g->nodes, 1, &n);
    ns__xbuf_free(&n);
}

/* op(in...) into a fresh value named after the op. */
static vname node(onx *g, const char *op, const char *const *in, int n_in, ns__xbuf *attrs)
{
    char hint[24];
    snprintf(hint, sizeof hint, "%s", op);
    for (char *p = hint; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    vname v = fresh(g, hint);
    node_to(g, op, in, n_in, v.s, attrs);
    return v;
}

static vname op1(onx *g, const char *op, const char *x, ns__xbuf *attrs)
{
    const char *in[1] = {x};
    return node(g, op, in, 1, attrs);
}

static vname op2(onx *g, const char *op, const char *a, const char *b)
{
    const char *in[2] = {a, b};
    return node(g, op, in, 2, NULL);
}

/* ---- the layer rules ----------------------------------------------------------------------- */

/* One rule per layer kind: the nodes of layer l over value x, its output into *y. */
typedef void (*onnx_rule)(onx *g, const ns__xlayer *l, const char *x, vname *y);

static vname weight(onx *g, const ns__xlayer *l)
{
    return init_floats(g, "weight", l->weight, l->weight_shape, l->weight_ndim);
}

static vname bias_of(onx *g, const ns__xlayer *l, int n)
{
    int64_t dims[1] = {n};
    return init_floats(g, "bias", l->bias, dims, 1);
}

static void rule_linear(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    vname w = weight(g, l), b;
    const char *in[3] = {x, w.s, NULL};
    if (l->bias != NULL) {
        b = bias_of(g, l, l->out_size);
        in[2] = b.s;
    }
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_int(&a, "transB", 1);
    *y = node(g, "Gemm", in, l->bias != NULL ? 3 : 2, &a);
}

static void rule_relu(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    *y = op1(g, "Relu", x, NULL);
}

static void rule_leaky_relu(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_float(&a, "alpha", (float)l->spec->alpha);
    *y = op1(g, "LeakyRelu", x, &a);
}

static void rule_elu(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_float(&a, "alpha", (float)l->spec->alpha);
    *y = op1(g, "Elu", x, &a);
}

/* Gelu is an operator from opset 20 on; before it, its formula: 0.5 x (1 + erf(x / sqrt 2)),
 * or with the tanh approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
static void rule_gelu(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    vname half = init_scalar(g, "half", 0.5f), one = init_scalar(g, "one", 1.0f), t;
    if (l->spec->tanh_approx) {
        vname k = init_scalar(g, "kappa", 0.044715f);
        vname c = init_scalar(g, "sqrt_2_pi", (float)0.79788456080286535588);
        vname x2 = op2(g, "Mul", x, x), x3 = op2(g, "Mul", x2.s, x);
        vname inner = op2(g, "Add", x, op2(g, "Mul", x3.s, k.s).s);
        t = op1(g, "Tanh", op2(g, "Mul", inner.s, c.s).s, NULL);
    } else {
        vname r = init_scalar(g, "rsqrt2", (float)0.70710678118654752440);
        t = op1(g, "Erf", op2(g, "Mul", x, r.s).s, NULL);
    }
    vname hx = op2(g, "Mul", x, half.s);
    *y = op2(g, "Mul", hx.s, op2(g, "Add", t.s, one.s).s);
}

/* x sigmoid(x) (Silu is no operator of opsets 13 to 17). */
static void rule_silu(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    vname s = op1(g, "Sigmoid", x, NULL);
    *y = op2(g, "Mul", x, s.s);
}

static void rule_tanh(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    *y = op1(g, "Tanh", x, NULL);
}

static void rule_sigmoid(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    *y = op1(g, "Sigmoid", x, NULL);
}

/* Over the last dimension, as netsmith's softmax layer. */
static void rule_softmax(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_int(&a, "axis", -1);
    *y = op1(g, "Softmax", x, &a);
}

/* Dropout is the identity at inference: no node. */
static void rule_identity(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)g, (void)l;
    snprintf(y->s, sizeof y->s, "%s", x);
}

/* BatchNormalization with the running statistics; a norm without affine gets scale 1, shift 0. */
static void rule_batchnorm(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    int c = l->in_shape[0];
    int64_t dims[1] = {c};
    vname scale = l->weight ? init_floats(g, "bn_scale", l->weight, dims, 1)
                            : init_fill(g, "bn_scale", 1.0f, c);
    vname shift =
        l->bias ? init_floats(g, "bn_bias", l->bias, dims, 1) : init_fill(g, "bn_bias", 0.0f, c);
    vname mean = init_floats(g, "bn_mean", l->mean, dims, 1);
    vname var = init_floats(g, "bn_var", l->var, dims, 1);
    const char *in[5] = {x, scale.s, shift.s, mean.s, var.s};
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_float(&a, "epsilon", (float)l->spec->eps);
    *y = node(g, "BatchNormalization", in, 5, &a);
}

/* Over the last dimension: LayerNormalization from opset 17, its formula before. */
static void rule_layernorm(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    int cols = l->in_shape[l->in_ndim - 1];
    int64_t dims[1] = {cols};
    if (g->opset >= 17) {
        vname scale = l->weight ? init_floats(g, "ln_scale", l->weight, dims, 1)
                                : init_fill(g, "ln_scale", 1.0f, cols);
        vname shift = l->bias ? init_floats(g, "ln_bias", l->bias, dims, 1)
                              : init_fill(g, "ln_bias", 0.0f, cols);
        const char *in[3] = {x, scale.s, shift.s};
        ns__xbuf a;
        ns__xbuf_init(&a, g->ctx);
        attr_int(&a, "axis", -1);
        attr_float(&a, "epsilon", (float)l->spec->eps);
        *y = node(g, "LayerNormalization", in, 3, &a);
        return;
    }
    int64_t last[1] = {-1};
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_ints(&a, "axes", last, 1);
    vname mean = op1(g, "ReduceMean", x, &a);
    vname d = op2(g, "Sub", x, mean.s);
    ns__xbuf b;
    ns__xbuf_init(&b, g->ctx);
    attr_ints(&b, "axes", last, 1);
    vname var = op1(g, "ReduceMean", op2(g, "Mul", d.s, d.s).s, &b);
    vname eps = init_scalar(g, "ln_eps", (float)l->spec->eps);
    vname sd = op1(g, "Sqrt", op2(g, "Add", var.s, eps.s).s, NULL);
    *y = op2(g, "Div", d.s, sd.s);
    if (l->weight != NULL)
        *y = op2(g, "Mul", y->s, init_floats(g, "ln_scale", l->weight, dims, 1).s);
    if (l->bias != NULL)
        *y = op2(g, "Add", y->s, init_floats(g, "ln_bias", l->bias, dims, 1).s);
}

static void rule_flatten(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    attr_int(&a, "axis", 1);
    *y = op1(g, "Flatten", x, &a);
}

/* kernel_shape, strides and pads [top, left, bottom, right] of a window. */
static void window_attrs(ns__xbuf *a, const ns_conv2d_geom *geom)
{
    int64_t k[2] = {geom->kernel[0], geom->kernel[1]};
    int64_t s[2] = {geom->stride[0], geom->stride[1]};
    int64_t p[4] = {geom->padding[0], geom->padding[1], geom->padding[0], geom->padding[1]};
    attr_ints(a, "kernel_shape", k, 2);
    attr_ints(a, "strides", s, 2);
    attr_ints(a, "pads", p, 4);
}

static void rule_conv2d(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    vname w = weight(g, l), b;
    const char *in[3] = {x, w.s, NULL};
    if (l->bias != NULL) {
        b = bias_of(g, l, l->geom.out_c);
        in[2] = b.s;
    }
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    window_attrs(&a, &l->geom);
    int64_t d[2] = {l->geom.dilation[0], l->geom.dilation[1]};
    attr_ints(&a, "dilations", d, 2);
    attr_int(&a, "group", l->geom.groups);
    *y = node(g, "Conv", in, l->bias != NULL ? 3 : 2, &a);
}

static void rule_maxpool2d(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    window_attrs(&a, &l->geom);
    *y = op1(g, "MaxPool", x, &a);
}

static void rule_avgpool2d(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    ns__xbuf a;
    ns__xbuf_init(&a, g->ctx);
    window_attrs(&a, &l->geom);
    attr_int(&a, "count_include_pad", l->spec->count_include_pad ? 1 : 0);
    *y = op1(g, "AveragePool", x, &a);
}

/* Adaptive average pooling (torch's windows floor(i H / OH) .. ceil((i + 1) H / OH)):
 * GlobalAveragePool for a 1x1 output, AveragePool when the output divides the input, else
 * the average as a product with a constant [H W, OH OW] matrix (the pooling is linear). */
static void rule_adaptive_avgpool2d(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    const ns_conv2d_geom *geom = &l->geom;
    int H = geom->in_h, W = geom->in_w, OH = geom->out_h, OW = geom->out_w, C = geom->in_c;
    if (OH == 1 && OW == 1) {
        *y = op1(g, "GlobalAveragePool", x, NULL);
        return;
    }
    if (H % OH == 0 && W % OW == 0) {
        ns_conv2d_geom w = *geom;
        w.kernel[0] = w.stride[0] = H / OH;
        w.kernel[1] = w.stride[1] = W / OW;
        w.padding[0] = w.padding[1] = 0;
        ns__xbuf a;
        ns__xbuf_init(&a, g->ctx);
        window_attrs(&a, &w);
        *y = op1(g, "AveragePool", x, &a);
        return;
    }
    size_t n = (size_t)H * (size_t)W * (size_t)OH * (size_t)OW;
    float *m = ns_alloc(g->ctx, n * sizeof *m);
    if (m == NULL) {
        g->inits.failed = true;
        snprintf(y->s, sizeof y->s, "%s", x);
        return;
    }
    memset(m, 0, n * sizeof *m);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            int h0 = (int)(((long)oh * H) / OH), h1 = (int)(((long)(oh + 1) * H + OH - 1) / OH);
            int w0 = (int)(((long)ow * W) / OW), w1 = (int)(((long)(ow + 1) * W + OW - 1) / OW);
            float v = 1.0f / (float)((h1 - h0) * (w1 - w0));
            for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++)
                    m[((size_t)h * (size_t)W + (size_t)w) * (size_t)(OH * OW) +
                      (size_t)(oh * OW + ow)] = v;
        }
    int64_t mdims[2] = {(int64_t)H * W, (int64_t)OH * OW};
    vname mat = init_floats(g, "pool_matrix", m, mdims, 2);
    ns_dealloc(g->ctx, m);
    int64_t flat[3] = {0, C, (int64_t)H * W}, back[4] = {0, C, OH, OW};
    vname s1 = init_int64s(g, "shape", flat, 3), s2 = init_int64s(g, "shape", back, 4);
    vname r = op2(g, "Reshape", x, s1.s);
    vname p = op2(g, "MatMul", r.s, mat.s);
    *y = op2(g, "Reshape", p.s, s2.s);
}

static void rule_global_avgpool2d(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    (void)l;
    *y = op1(g, "GlobalAveragePool", x, NULL);
}

/* softplus with beta and threshold (ONNX's Softplus has neither):
 * where(beta x > threshold, x, softplus(beta x) / beta). */
static void rule_softplus(onx *g, const ns__xlayer *l, const char *x, vname *y)
{
    /* ns_layer_spec's args: beta in args[0], threshold in args[1] (softplus.c's row) */
    vname beta = init_scalar(g, "beta", (float)l->spec->args[0]);
    vname thr = init_scalar(g, "threshold", (float)l->spec->args[1]);
    vname bx = op2(g, "Mul", x, beta.s);
    vname sp = op2(g, "Div", op1(g, "Softplus", bx.s, NULL).s, beta.s);
    vname cond = op2(g, "Greater", bx.s, thr.s);
    const char *in[3] = {cond.s, x, sp.s};
    *y = node(g, "Where", in, 3, NULL);
}

static const onnx_rule rules[NS_LAYER_KIND_COUNT] = {
    [NS_LAYER_LINEAR] = rule_linear,
    [NS_LAYER_RELU] = rule_relu,
    [NS_LAYER_LEAKY_RELU] = rule_leaky_relu,
    [NS_LAYER_ELU] = rule_elu,
    [NS_LAYER_GELU] = rule_gelu,
    [NS_LAYER_SILU] = rule_silu,
    [NS_LAYER_TANH] = rule_tanh,
    [NS_LAYER_SIGMOID] = rule_sigmoid,
    [NS_LAYER_SOFTMAX] = rule_softmax,
    [NS_LAYER_DROPOUT] = rule_identity,
    [NS_LAYER_BATCHNORM1D] = rule_batchnorm,
    [NS_LAYER_LAYERNORM] = rule_layernorm,
    [NS_LAYER_FLATTEN] = rule_flatten,
    [NS_LAYER_CONV2D] = rule_conv2d,
    [NS_LAYER_MAXPOOL2D] = rule_maxpool2d,
    [NS_LAYER_AVGPOOL2D] = rule_avgpool2d,
    [NS_LAYER_ADAPTIVE_AVGPOOL2D] = rule_adaptive_avgpool2d,
    [NS_LAYER_GLOBAL_AVGPOOL2D] = rule_global_avgpool2d,
    [NS_LAYER_BATCHNORM2D] = rule_batchnorm,
    [NS_LAYER_DROPOUT2D] = rule_identity,
    [NS_LAYER_SOFTPLUS] = rule_softplus,
};

/* ---- the model ---------------------------------------------------------------------------------
 */

/* A graph input or output: float [N, dims...] with N a named (dynamic) dimension. */
static void value_info(ns__xbuf *graph, int field, const char *name, const int *dims, int ndim,
                       const char *doc)
{
    ns_ctx *ctx = graph->ctx;
    ns__xbuf shape, tensor, type, vi;
    ns__xbuf_init(&shape, ctx);
    ns__xbuf_init(&tensor, ctx);
    ns__xbuf_init(&type, ctx);
    ns__xbuf_init(&vi, ctx);
    ns__xbuf d;
    ns__xbuf_init(&d, ctx);
    ns__pb_string(&d, 2, "N");
    ns__pb_message(&shape, 1, &d);
    ns__xbuf_free(&d);
    for (int i = 0; i < ndim; i++) {
        ns__xbuf_init(&d, ctx);
        ns__pb_varint(&d, 1, (uint64_t)dims[i]);
        ns__pb_message(&shape, 1, &d);
        ns__xbuf_free(&d);
    }
    ns__pb_varint(&tensor, 1, T_FLOAT);
    ns__pb_message(&tensor, 2, &shape);
    ns__pb_message(&type, 1, &tensor);
    ns__pb_string(&vi, 1, name);
    ns__pb_message(&vi, 2, &type);
    ns__pb_string(&vi, 3, doc);
    ns__pb_message(graph, field, &vi);
    ns__xbuf_free(&shape);
    ns__xbuf_free(&tensor);
    ns__xbuf_free(&type);
    ns__xbuf_free(&vi);
}

static void meta(ns__xbuf *model, const char *key, const char *value)
{
    ns__xbuf e;
    ns__xbuf_init(&e, model->ctx);
    ns__pb_string(&e, 1, key);
    ns__pb_string(&e, 2, value);
    ns__pb_message(model, 14, &e);
    ns__xbuf_free(&e);
}

/* A JSON array of names as metadata; false when out of memory. */
static bool meta_names(ns__xbuf *model, const char *key, char *const *names, int n)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(names[i] ? names[i] : "")) != 0) {
            json_decref(a);
            a = NULL;
        }
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (text == NULL)
        return false;
    meta(model, key, text);
    free(text);
    return true;
}

static const char *task_name(const ns__xplan *plan)
{
    return plan->post != NS__XPOST_VALUES           ? "classification"
           : plan->info->task == NS_TASK_REGRESSION ? "regression"
                                                    : "auto";
}

ns_status ns__export_onnx(ns_ctx *ctx, const ns__xplan *plan, int opset, ns__xbuf *out)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (rules[plan->layers[i].spec->kind] == NULL)
            return ns__export_refuse(ctx, &plan->layers[i], "onnx");
    onx g = {ctx, opset, {0}, {0}, 0};
    ns__xbuf_init(&g.nodes, ctx);
    ns__xbuf_init(&g.inits, ctx);

    /* the raw features, scaled and normalised as netsmith does before the first layer */
    vname cur;
    snprintf(cur.s, sizeof cur.s, "input");
    if (plan->input_scale > 0.0f)
        cur = op2(&g, "Mul", cur.s, init_scalar(&g, "byte_scale", plan->input_scale).s);
    if (plan->shift != NULL) {
        int64_t dims[3];
        for (int d = 0; d < plan->in_ndim; d++)
            dims[d] = plan->in_shape[d];
        vname shift = init_floats(&g, "norm_shift", plan->shift, dims, plan->in_ndim);
        vname scale = init_floats(&g, "norm_scale", plan->scale, dims, plan->in_ndim);
        cur = op2(&g, "Mul", op2(&g, "Sub", cur.s, shift.s).s, scale.s);
    }
    for (int i = 0; i < plan->n_layers; i++) {
        vname y;
        rules[plan->layers[i].spec->kind](&g, &plan->layers[i], cur.s, &y);
        cur = y;
    }
    const ns__xlayer *last = plan->n_layers > 0 ? &plan->layers[plan->n_layers - 1] : NULL;
    if (last != NULL && last->out_ndim > 1) {
        ns__xbuf a;
        ns__xbuf_init(&a, ctx);
        attr_int(&a, "axis", 1);
        cur = op1(&g, "Flatten", cur.s, &a);
    }
    const char *out_name = plan->post == NS__XPOST_VALUES ? "values" : "probabilities";
    if (plan->post == NS__XPOST_SOFTMAX) {
        ns__xbuf a;
        ns__xbuf_init(&a, ctx);
        attr_int(&a, "axis", 1);
        const char *in[1] = {cur.s};
        node_to(&g, "Softmax", in, 1, out_name, &a);
    } else if (plan->post == NS__XPOST_SIGMOID2) {
        vname p = op1(&g, "Sigmoid", cur.s, NULL);
        vname q = op2(&g, "Sub", init_scalar(&g, "one", 1.0f).s, p.s);
        ns__xbuf a;
        ns__xbuf_init(&a, ctx);
        attr_int(&a, "axis", 1);
        const char *in[2] = {q.s, p.s};
        node_to(&g, "Concat", in, 2, out_name, &a);
    } else {
        const char *in[1] = {cur.s};
        node_to(&g, "Identity", in, 1, out_name, NULL);
    }

    /* the graph */
    ns__xbuf graph;
    ns__xbuf_init(&graph, ctx);
    ns__xbuf_put(&graph, g.nodes.p, g.nodes.n);
    ns__pb_string(&graph, 2, "netsmith");
    ns__xbuf_put(&graph, g.inits.p, g.inits.n);
    if (g.nodes.failed || g.inits.failed)
        graph.failed = true;
    ns__xbuf_free(&g.nodes);
    ns__xbuf_free(&g.inits);
    ns__pb_string(&graph, 10,
                  "A netsmith model in inference form: raw features in, the model's "
                  "normalisation applied, what `netsmith predict` reports out.");
    char doc[160];
    snprintf(doc, sizeof doc, "%s",
             plan->input_scale > 0.0f
                 ? "raw pixel values (0 to 255) per sample, [N, C, H, W]"
                 : "raw features per sample, in the order of the metadata's \"features\"");
    value_info(&graph, 11, "input", plan->in_shape, plan->in_ndim, doc);
    int wdims[1] = {plan->width};
    value_info(&graph, 12, out_name, wdims, 1,
               plan->post == NS__XPOST_VALUES
                   ? "the predicted values per sample, in the order of the metadata's \"targets\""
                   : "each class's probability per sample, in the order of the metadata's "
                     "\"classes\"");

    /* the model */
    ns__pb_varint(out, 1, opset >= 17 ? 8 : 7); /* ir_version */
    ns__pb_string(out, 2, "netsmith");
    ns__pb_string(out, 3, ns_version());
    ns__pb_string(out, 6, "Exported by netsmith.");
    ns__pb_message(out, 7, &graph);
    ns__xbuf_free(&graph);
    ns__xbuf opsetid;
    ns__xbuf_init(&opsetid, ctx);
    ns__pb_string(&opsetid, 1, "");
    ns__pb_varint(&opsetid, 2, (uint64_t)opset);
    ns__pb_message(out, 8, &opsetid);
    ns__xbuf_free(&opsetid);

    meta(out, "netsmith.version", ns_version());
    meta(out, "task", task_name(plan));
    bool ok = meta_names(out, plan->post == NS__XPOST_VALUES ? "targets" : "classes", plan->names,
                         plan->width);
    if (ok && plan->info->features > 0 && plan->info->feature_names != NULL)
        ok = meta_names(out, "features", plan->info->feature_names, plan->info->features);
    meta(out, "input", "input");
    meta(out, "output", out_name);
    char *spec = NULL;
    if (ok && ns_spec_to_json(ns_model_spec(plan->model), &spec) == NS_OK) {
        meta(out, "netsmith.spec", spec);
        ns_dealloc(ns_spec_ctx(ns_model_spec(plan->model)), spec);
    } else {
        ok = false;
    }
    if (!ok || out->failed)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing the ONNX model");
    return NS_OK;
}
