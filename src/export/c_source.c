/* The C source writer: a plan as NAME.c and NAME.h. The .c holds the weights as static const
 * float arrays, one small kernel per layer kind the model uses (emitted once, only when used,
 * so the file compiles warning-free with -Wall -Wextra -pedantic), and NAME_predict, which runs
 * the layers over one sample at a time in two static scratch buffers. It needs nothing beyond
 * <math.h> and allocates nothing. The kernels do what netsmith's do at inference, with the
 * same arithmetic (float sums; batch and layer norms, softmax, pooling over a plane and the
 * transcendental functions in double, as src/kernels does), so a prediction agrees with
 * `netsmith predict` to float rounding: only the order of the long float sums differs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "export/export_internal.h"

typedef struct cw {
    ns__xbuf *c;
    const ns__xplan *plan;
    const char *name;
    bool used[NS_LAYER_KIND_COUNT]; /* kernels already emitted */
    bool gelu_tanh;                 /* GELU's tanh form emitted */
} cw;

/* A float as a C literal that reads back to the same float ("0.5f", "-3.0f", "1e-05f"). */
static void put_float(ns__xbuf *b, float v)
{
    char t[40];
    snprintf(t, sizeof t, "%.9g", (double)v);
    bool real = strpbrk(t, ".e") != NULL;
    ns__xbuf_printf(b, "%s%sf", t, real ? "" : ".0");
}

/* s as a C string literal: printable ASCII as it is, '"', '\\' and '?' (trigraphs) escaped,
 * anything else as a three-digit octal escape. */
static void put_string(ns__xbuf *b, const char *s)
{
    ns__xbuf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            ns__xbuf_printf(b, "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f)
            ns__xbuf_put(b, p, 1);
        else
            ns__xbuf_printf(b, "\\%03o", *p);
    }
    ns__xbuf_puts(b, "\"");
}

static void put_array(ns__xbuf *b, const char *id, const float *v, size_t n)
{
    ns__xbuf_printf(b, "static const float %s[%zu] = {", id, n);
    for (size_t i = 0; i < n; i++) {
        ns__xbuf_puts(b, i % 8 == 0 ? "\n    " : " ");
        put_float(b, v[i]);
        if (i + 1 < n)
            ns__xbuf_puts(b, ",");
    }
    ns__xbuf_puts(b, "\n};\n");
}

/* ---- the kernels (emitted once per kind used) --------------------------------------------------
 */

static const char k_geom[] =
    "/* The window of a convolution or pooling layer: input [c, h, w], output [oc, oh, ow],\n"
    " * kernel, stride, padding per side, dilation and groups. */\n"
    "typedef struct k_geom {\n"
    "    int c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, groups;\n"
    "} k_geom;\n\n";

static const char k_dense[] =
    "/* y[out] = w[out, in] x[in] + b[out] (b may be null) */\n"
    "static void k_dense(const float *w, const float *b, const float *x, float *y, int in, int "
    "out)\n"
    "{\n"
    "    int o, i;\n"
    "    for (o = 0; o < out; o++) {\n"
    "        const float *wo = w + o * in;\n"
    "        k_acc acc = 0;\n"
    "        for (i = 0; i < in; i++)\n"
    "            acc += (k_acc)wo[i] * (k_acc)x[i];\n"
    "        y[o] = (float)(b ? acc + (k_acc)b[o] : acc);\n"
    "    }\n"
    "}\n\n";

static const char k_conv2d[] =
    "/* y[oc, oh, ow] = sum over the group's channels and the window of w x, + b[oc] */\n"
    "static void k_conv2d(const k_geom *g, const float *w, const float *b, const float *x, float "
    "*y)\n"
    "{\n"
    "    int cpg = g->c / g->groups, opg = g->oc / g->groups, oc, oh, ow, ic, i, j;\n"
    "    for (oc = 0; oc < g->oc; oc++) {\n"
    "        const float *xg = x + (oc / opg) * cpg * g->h * g->w;\n"
    "        const float *wo = w + oc * cpg * g->kh * g->kw;\n"
    "        for (oh = 0; oh < g->oh; oh++)\n"
    "            for (ow = 0; ow < g->ow; ow++) {\n"
    "                k_acc acc = 0;\n"
    "                for (ic = 0; ic < cpg; ic++)\n"
    "                    for (i = 0; i < g->kh; i++) {\n"
    "                        int ih = oh * g->sh - g->ph + i * g->dh;\n"
    "                        if (ih < 0 || ih >= g->h)\n"
    "                            continue;\n"
    "                        for (j = 0; j < g->kw; j++) {\n"
    "                            int iw = ow * g->sw - g->pw + j * g->dw;\n"
    "                            if (iw >= 0 && iw < g->w)\n"
    "                                acc += (k_acc)wo[(ic * g->kh + i) * g->kw + j] *\n"
    "                                       (k_acc)xg[(ic * g->h + ih) * g->w + iw];\n"
    "                        }\n"
    "                    }\n"
    "                y[(oc * g->oh + oh) * g->ow + ow] = (float)(b ? acc + (k_acc)b[oc] : acc);\n"
    "            }\n"
    "    }\n"
    "}\n\n";

static const char k_maxpool2d[] =
    "/* The largest value of each window (padding never wins; a NaN does, as in PyTorch). */\n"
    "static void k_maxpool2d(const k_geom *g, const float *x, float *y)\n"
    "{\n"
    "    int c, oh, ow, i, j;\n"
    "    for (c = 0; c < g->c; c++)\n"
    "        for (oh = 0; oh < g->oh; oh++)\n"
    "            for (ow = 0; ow < g->ow; ow++) {\n"
    "                float m = 0.0f;\n"
    "                int first = 1;\n"
    "                for (i = 0; i < g->kh; i++) {\n"
    "                    int ih = oh * g->sh - g->ph + i;\n"
    "                    if (ih < 0 || ih >= g->h)\n"
    "                        continue;\n"
    "                    for (j = 0; j < g->kw; j++) {\n"
    "                        int iw = ow * g->sw - g->pw + j;\n"
    "                        float v;\n"
    "                        if (iw < 0 || iw >= g->w)\n"
    "                            continue;\n"
    "                        v = x[(c * g->h + ih) * g->w + iw];\n"
    "                        if (first || v > m || (v != v && m == m))\n"
    "                            m = v;\n"
    "                        first = 0;\n"
    "                    }\n"
    "                }\n"
    "                y[(c * g->oh + oh) * g->ow + ow] = m;\n"
    "            }\n"
    "}\n\n";

static const char k_avgpool2d[] =
    "/* The mean of each window: a float sum divided once, by the window's area within the\n"
    " * padded input (count_include_pad) or by the values it holds. */\n"
    "static void k_avgpool2d(const k_geom *g, int count_include_pad, const float *x, float *y)\n"
    "{\n"
    "    int c, oh, ow, h, w;\n"
    "    for (c = 0; c < g->c; c++)\n"
    "        for (oh = 0; oh < g->oh; oh++)\n"
    "            for (ow = 0; ow < g->ow; ow++) {\n"
    "                int hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;\n"
    "                int he = hs + g->kh < g->h + g->ph ? hs + g->kh : g->h + g->ph;\n"
    "                int we = ws + g->kw < g->w + g->pw ? ws + g->kw : g->w + g->pw;\n"
    "                int h0 = hs > 0 ? hs : 0, w0 = ws > 0 ? ws : 0;\n"
    "                int h1 = he < g->h ? he : g->h, w1 = we < g->w ? we : g->w;\n"
    "                float sum = 0.0f;\n"
    "                for (h = h0; h < h1; h++)\n"
    "                    for (w = w0; w < w1; w++)\n"
    "                        sum += x[(c * g->h + h) * g->w + w];\n"
    "                y[(c * g->oh + oh) * g->ow + ow] =\n"
    "                    sum / (float)(count_include_pad ? (he - hs) * (we - ws)\n"
    "                                                    : (h1 - h0) * (w1 - w0));\n"
    "            }\n"
    "}\n\n";

static const char k_adaptive[] =
    "/* Adaptive average pooling: output (oh, ow) is the mean of rows floor(oh h / OH) ..\n"
    " * ceil((oh + 1) h / OH) - 1 and the same columns, summed in double. */\n"
    "static void k_adaptive_avgpool2d(const k_geom *g, const float *x, float *y)\n"
    "{\n"
    "    int c, oh, ow, h, w;\n"
    "    for (c = 0; c < g->c; c++)\n"
    "        for (oh = 0; oh < g->oh; oh++)\n"
    "            for (ow = 0; ow < g->ow; ow++) {\n"
    "                int h0 = oh * g->h / g->oh, h1 = ((oh + 1) * g->h + g->oh - 1) / g->oh;\n"
    "                int w0 = ow * g->w / g->ow, w1 = ((ow + 1) * g->w + g->ow - 1) / g->ow;\n"
    "                double sum = 0.0;\n"
    "                for (h = h0; h < h1; h++)\n"
    "                    for (w = w0; w < w1; w++)\n"
    "                        sum += (double)x[(c * g->h + h) * g->w + w];\n"
    "                y[(c * g->oh + oh) * g->ow + ow] =\n"
    "                    (float)(sum / (double)((h1 - h0) * (w1 - w0)));\n"
    "            }\n"
    "}\n\n";

static const char k_batchnorm[] =
    "/* Batch norm with the running statistics, per channel over its spatial values, in place:\n"
    " * x (x - mean) / sqrt(var + eps) * gamma + beta (gamma, beta may be null). */\n"
    "static void k_batchnorm(const float *mean, const float *var, const float *gamma,\n"
    "                        const float *beta, float eps, float *x, int channels, int spatial)\n"
    "{\n"
    "    int c, s;\n"
    "    for (c = 0; c < channels; c++) {\n"
    "        double rs = 1.0 / sqrt((double)var[c] + (double)eps);\n"
    "        double scale = rs * (gamma ? (double)gamma[c] : 1.0);\n"
    "        double shift = (beta ? (double)beta[c] : 0.0) - (double)mean[c] * scale;\n"
    "        for (s = 0; s < spatial; s++)\n"
    "            x[c * spatial + s] = (float)((double)x[c * spatial + s] * scale + shift);\n"
    "    }\n"
    "}\n\n";

static const char k_layernorm[] =
    "/* Layer norm over the last dimension (cols), row by row, in place. */\n"
    "static void k_layernorm(const float *gamma, const float *beta, float eps, float *x, int "
    "rows,\n"
    "                        int cols)\n"
    "{\n"
    "    int r, c;\n"
    "    for (r = 0; r < rows; r++) {\n"
    "        float *xr = x + r * cols;\n"
    "        double sum = 0.0, mu, ss = 0.0, rs;\n"
    "        for (c = 0; c < cols; c++)\n"
    "            sum += (double)xr[c];\n"
    "        mu = sum / cols;\n"
    "        for (c = 0; c < cols; c++)\n"
    "            ss += ((double)xr[c] - mu) * ((double)xr[c] - mu);\n"
    "        rs = 1.0 / sqrt(ss / cols + (double)eps);\n"
    "        for (c = 0; c < cols; c++) {\n"
    "            double v = ((double)xr[c] - mu) * rs;\n"
    "            if (gamma)\n"
    "                v *= (double)gamma[c];\n"
    "            if (beta)\n"
    "                v += (double)beta[c];\n"
    "            xr[c] = (float)v;\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char k_softmax[] =
    "/* y[rows, cols] = exp(x - max) / sum exp(x - max), row by row (y may be x). */\n"
    "static void k_softmax(const float *x, float *y, int rows, int cols)\n"
    "{\n"
    "    int r, c;\n"
    "    for (r = 0; r < rows; r++) {\n"
    "        const float *xr = x + r * cols;\n"
    "        float *yr = y + r * cols;\n"
    "        float mx = xr[0];\n"
    "        double sum = 0.0, inv;\n"
    "        for (c = 1; c < cols; c++)\n"
    "            if (xr[c] > mx)\n"
    "                mx = xr[c];\n"
    "        for (c = 0; c < cols; c++)\n"
    "            sum += exp((double)xr[c] - (double)mx);\n"
    "        inv = 1.0 / sum;\n"
    "        for (c = 0; c < cols; c++)\n"
    "            yr[c] = (float)(exp((double)xr[c] - (double)mx) * inv);\n"
    "    }\n"
    "}\n\n";

static const char k_sigmoid_d[] = "/* The logistic function in double, without overflow. */\n"
                                  "static double k_sigmoid_d(double v)\n"
                                  "{\n"
                                  "    double e;\n"
                                  "    if (v >= 0.0)\n"
                                  "        return 1.0 / (1.0 + exp(-v));\n"
                                  "    e = exp(v);\n"
                                  "    return e / (1.0 + e);\n"
                                  "}\n\n";

/* An elementwise kernel in place over x[n]: "static void k_NAME(float *x, int n)" with body
 * the statement for one v = x[i]. */
static void elementwise(ns__xbuf *b, const char *name, const char *doc, const char *params,
                        const char *locals, const char *stmt)
{
    ns__xbuf_printf(b,
                    "/* %s, in place */\n"
                    "static void k_%s(float *x, int n%s)\n"
                    "{\n"
                    "    int i;\n"
                    "%s"
                    "    for (i = 0; i < n; i++) {\n"
                    "        float v = x[i];\n"
                    "        %s\n"
                    "    }\n"
                    "}\n\n",
                    doc, name, params, locals, stmt);
}

/* Emits the kernel of layer kind k (GELU's tanh form: tanh_gelu), once. */
static void need_kernel(cw *w, ns_layer_kind k, bool tanh_gelu)
{
    ns__xbuf *b = w->c;
    if (k == NS_LAYER_GELU && tanh_gelu) {
        if (!w->gelu_tanh)
            elementwise(b, "gelu_tanh", "0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))", "", "",
                        "double d = (double)v;\n"
                        "        x[i] = (float)(d * 0.5 * (1.0 + tanh(0.79788456080286535588 "
                        "* (d + 0.044715 * d * d * d))));");
        w->gelu_tanh = true;
        return;
    }
    if (w->used[k])
        return;
    w->used[k] = true;
    switch (k) {
    case NS_LAYER_LINEAR:
        ns__xbuf_puts(b, k_dense);
        break;
    case NS_LAYER_CONV2D:
        ns__xbuf_puts(b, k_conv2d);
        break;
    case NS_LAYER_MAXPOOL2D:
        ns__xbuf_puts(b, k_maxpool2d);
        break;
    case NS_LAYER_AVGPOOL2D:
        ns__xbuf_puts(b, k_avgpool2d);
        break;
    case NS_LAYER_ADAPTIVE_AVGPOOL2D:
    case NS_LAYER_GLOBAL_AVGPOOL2D:
        w->used[NS_LAYER_ADAPTIVE_AVGPOOL2D] = w->used[NS_LAYER_GLOBAL_AVGPOOL2D] = true;
        ns__xbuf_puts(b, k_adaptive);
        break;
    case NS_LAYER_BATCHNORM1D:
    case NS_LAYER_BATCHNORM2D:
        w->used[NS_LAYER_BATCHNORM1D] = w->used[NS_LAYER_BATCHNORM2D] = true;
        ns__xbuf_puts(b, k_batchnorm);
        break;
    case NS_LAYER_LAYERNORM:
        ns__xbuf_puts(b, k_layernorm);
        break;
    case NS_LAYER_SOFTMAX:
        ns__xbuf_puts(b, k_softmax);
        break;
    case NS_LAYER_RELU:
        elementwise(b, "relu", "max(x, 0) (a NaN passes)", "", "", "x[i] = v < 0.0f ? 0.0f : v;");
        break;
    case NS_LAYER_LEAKY_RELU:
        elementwise(b, "leaky_relu", "x > 0 ? x : slope x", ", float slope", "",
                    "x[i] = v > 0.0f ? v : v * slope;");
        break;
    case NS_LAYER_ELU:
        elementwise(b, "elu", "x > 0 ? x : alpha (exp(x) - 1)", ", float alpha", "",
                    "x[i] = v > 0.0f ? v : (float)((double)alpha * expm1((double)v));");
        break;
    case NS_LAYER_GELU:
        elementwise(b, "gelu", "0.5 x (1 + erf(x / sqrt 2))", "", "",
                    "x[i] = (float)((double)v * 0.5 * erfc(-(double)v * "
                    "0.70710678118654752440));");
        break;
    case NS_LAYER_SILU:
        if (!w->used[NS_LAYER_SIGMOID])
            ns__xbuf_puts(b, k_sigmoid_d);
        elementwise(b, "silu", "x sigmoid(x)", "", "",
                    "x[i] = (float)((double)v * k_sigmoid_d((double)v));");
        break;
    case NS_LAYER_TANH:
        elementwise(b, "tanh", "tanh(x)", "", "", "x[i] = (float)tanh((double)v);");
        break;
    case NS_LAYER_SIGMOID:
        if (!w->used[NS_LAYER_SILU])
            ns__xbuf_puts(b, k_sigmoid_d);
        elementwise(b, "sigmoid", "1 / (1 + exp(-x))", "", "",
                    "x[i] = (float)k_sigmoid_d((double)v);");
        break;
    case NS_LAYER_SOFTPLUS:
        elementwise(b, "softplus", "log(1 + exp(beta x)) / beta, or x where beta x > threshold",
                    ", float beta, float threshold", "",
                    "float bx = v * beta;\n"
                    "        x[i] = bx > threshold ? v : (fmaxf(bx, 0.0f) + "
                    "log1pf(expf(-fabsf(bx)))) / beta;");
        break;
    default:
        break; /* dropout, flatten: no kernel */
    }
}

/* ---- the layers ---------------------------------------------------------------------------- */

/* The call of layer l in NAME_predict: from a into b (then swapped) or in place over a. */
typedef void (*c_rule)(cw *w, const ns__xlayer *l, ns__xbuf *body);

static void swap(ns__xbuf *body)
{
    ns__xbuf_puts(body, "        t = a, a = b, b = t;\n");
}

static void tensor_or_null(ns__xbuf *body, const float *t, int index, const char *name)
{
    if (t != NULL)
        ns__xbuf_printf(body, "l%d_%s", index, name);
    else
        ns__xbuf_puts(body, "0");
}

static void rule_linear(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_dense(l%d_weight, ", l->index);
    tensor_or_null(body, l->bias, l->index, "bias");
    ns__xbuf_printf(body, ", a, b, %d, %d);\n", l->in_size, l->out_size);
    swap(body);
}

static void rule_simple(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_%s(a, %d);\n", ns_layer_kind_name(l->spec->kind), l->in_size);
}

static void rule_leaky_relu(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_leaky_relu(a, %d, ", l->in_size);
    put_float(body, (float)l->spec->alpha);
    ns__xbuf_puts(body, ");\n");
}

static void rule_elu(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_elu(a, %d, ", l->in_size);
    put_float(body, (float)l->spec->alpha);
    ns__xbuf_puts(body, ");\n");
}

static void rule_gelu(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_gelu%s(a, %d);\n", l->spec->tanh_approx ? "_tanh" : "",
                    l->in_size);
}

static void rule_softplus(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    /* ns_layer_spec's args: beta in args[0], threshold in args[1] (softplus.c's row) */
    ns__xbuf_printf(body, "        k_softplus(a, %d, ", l->in_size);
    put_float(body, (float)l->spec->args[0]);
    ns__xbuf_puts(body, ", ");
    put_float(body, (float)l->spec->args[1]);
    ns__xbuf_puts(body, ");\n");
}

static void rule_softmax(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    int cols = l->in_shape[l->in_ndim - 1];
    ns__xbuf_printf(body, "        k_softmax(a, a, %d, %d);\n", l->in_size / cols, cols);
}

static void rule_none(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        /* layers[%d] (%s): nothing at inference */\n", l->index,
                    ns_layer_kind_name(l->spec->kind));
}

static void rule_batchnorm(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_batchnorm(l%d_running_mean, l%d_running_var, ", l->index,
                    l->index);
    tensor_or_null(body, l->weight, l->index, "weight");
    ns__xbuf_puts(body, ", ");
    tensor_or_null(body, l->bias, l->index, "bias");
    ns__xbuf_puts(body, ", ");
    put_float(body, (float)l->spec->eps);
    ns__xbuf_printf(body, ", a, %d, %d);\n", l->in_shape[0], l->in_size / l->in_shape[0]);
}

static void rule_layernorm(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    int cols = l->in_shape[l->in_ndim - 1];
    ns__xbuf_puts(body, "        k_layernorm(");
    tensor_or_null(body, l->weight, l->index, "weight");
    ns__xbuf_puts(body, ", ");
    tensor_or_null(body, l->bias, l->index, "bias");
    ns__xbuf_puts(body, ", ");
    put_float(body, (float)l->spec->eps);
    ns__xbuf_printf(body, ", a, %d, %d);\n", l->in_size / cols, cols);
}

static void rule_conv2d(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_conv2d(&l%d_geom, l%d_weight, ", l->index, l->index);
    tensor_or_null(body, l->bias, l->index, "bias");
    ns__xbuf_puts(body, ", a, b);\n");
    swap(body);
}

static void rule_maxpool2d(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_maxpool2d(&l%d_geom, a, b);\n", l->index);
    swap(body);
}

static void rule_avgpool2d(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_avgpool2d(&l%d_geom, %d, a, b);\n", l->index,
                    l->spec->count_include_pad ? 1 : 0);
    swap(body);
}

static void rule_adaptive(cw *w, const ns__xlayer *l, ns__xbuf *body)
{
    (void)w;
    ns__xbuf_printf(body, "        k_adaptive_avgpool2d(&l%d_geom, a, b);\n", l->index);
    swap(body);
}

static const c_rule rules[NS_LAYER_KIND_COUNT] = {
    [NS_LAYER_LINEAR] = rule_linear,
    [NS_LAYER_RELU] = rule_simple,
    [NS_LAYER_LEAKY_RELU] = rule_leaky_relu,
    [NS_LAYER_ELU] = rule_elu,
    [NS_LAYER_GELU] = rule_gelu,
    [NS_LAYER_SILU] = rule_simple,
    [NS_LAYER_TANH] = rule_simple,
    [NS_LAYER_SIGMOID] = rule_simple,
    [NS_LAYER_SOFTMAX] = rule_softmax,
    [NS_LAYER_DROPOUT] = rule_none,
    [NS_LAYER_BATCHNORM1D] = rule_batchnorm,
    [NS_LAYER_LAYERNORM] = rule_layernorm,
    [NS_LAYER_FLATTEN] = rule_none,
    [NS_LAYER_CONV2D] = rule_conv2d,
    [NS_LAYER_MAXPOOL2D] = rule_maxpool2d,
    [NS_LAYER_AVGPOOL2D] = rule_avgpool2d,
    [NS_LAYER_ADAPTIVE_AVGPOOL2D] = rule_adaptive,
    [NS_LAYER_GLOBAL_AVGPOOL2D] = rule_adaptive,
    [NS_LAYER_BATCHNORM2D] = rule_batchnorm,
    [NS_LAYER_DROPOUT2D] = rule_none,
    [NS_LAYER_SOFTPLUS] = rule_softplus,
};

/* The layer's arrays: its tensors and, for a window, its geometry. */
static void layer_data(cw *w, const ns__xlayer *l)
{
    ns__xbuf *c = w->c;
    char id[48];
    size_t wn = 1;
    for (int d = 0; d < l->weight_ndim; d++)
        wn *= (size_t)l->weight_shape[d];
    size_t bn = l->spec->kind == NS_LAYER_CONV2D      ? (size_t)l->geom.out_c
                : l->spec->kind == NS_LAYER_LINEAR    ? (size_t)l->out_size
                : l->spec->kind == NS_LAYER_LAYERNORM ? (size_t)l->in_shape[l->in_ndim - 1]
                                                      : (size_t)l->in_shape[0];
    if (l->weight != NULL) {
        snprintf(id, sizeof id, "l%d_weight", l->index);
        put_array(c, id, l->weight,
                  l->spec->kind == NS_LAYER_LINEAR || l->spec->kind == NS_LAYER_CONV2D ? wn : bn);
    }
    if (l->bias != NULL) {
        snprintf(id, sizeof id, "l%d_bias", l->index);
        put_array(c, id, l->bias, bn);
    }
    if (l->mean != NULL) {
        snprintf(id, sizeof id, "l%d_running_mean", l->index);
        put_array(c, id, l->mean, (size_t)l->in_shape[0]);
        snprintf(id, sizeof id, "l%d_running_var", l->index);
        put_array(c, id, l->var, (size_t)l->in_shape[0]);
    }
    ns_layer_kind k = l->spec->kind;
    if (k == NS_LAYER_CONV2D || k == NS_LAYER_MAXPOOL2D || k == NS_LAYER_AVGPOOL2D ||
        k == NS_LAYER_ADAPTIVE_AVGPOOL2D || k == NS_LAYER_GLOBAL_AVGPOOL2D) {
        const ns_conv2d_geom *g = &l->geom;
        ns__xbuf_printf(c,
                        "static const k_geom l%d_geom = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, "
                        "%d, %d, %d, %d, %d};\n",
                        l->index, g->in_c, g->in_h, g->in_w, g->out_c, g->out_h, g->out_w,
                        g->kernel[0], g->kernel[1], g->stride[0], g->stride[1], g->padding[0],
                        g->padding[1], g->dilation[0], g->dilation[1], g->groups);
    }
}

static void shape_text(char *buf, size_t cap, int ndim, const int *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", d ? ", " : "", shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static void upper(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s[n] && n + 1 < cap; n++)
        out[n] = (char)(s[n] >= 'a' && s[n] <= 'z' ? s[n] - 'a' + 'A' : s[n]);
    out[n] = '\0';
}

static void names_array(ns__xbuf *b, const char *name, const char *what, const char *macro,
                        char *const *names, int n)
{
    ns__xbuf_printf(b, "const char *const %s_%s[%s] = {", name, what, macro);
    for (int i = 0; i < n; i++) {
        ns__xbuf_puts(b, i % 4 == 0 ? "\n    " : " ");
        put_string(b, names[i] ? names[i] : "");
        if (i + 1 < n)
            ns__xbuf_puts(b, ",");
    }
    ns__xbuf_puts(b, "\n};\n\n");
}

static void write_header(const ns__xplan *plan, const char *name, const char *file, const char *up,
                         size_t scratch_bytes, bool has_inputs, ns__xbuf *h)
{
    bool cls = plan->post != NS__XPOST_VALUES;
    char shape[64];
    shape_text(shape, sizeof shape, plan->in_ndim, plan->in_shape);
    ns__xbuf_printf(h,
                    "/* %s.h: the netsmith model %s as C source (netsmith %s); the code is in "
                    "%s.c.\n"
                    " *\n"
                    " *   int %s_predict(const float *x, int n, float *y);\n"
                    " *\n"
                    " * predicts n samples. x holds n * %s_INPUT_SIZE floats, sample after "
                    "sample, each\n",
                    file, name, ns_version(), file, name, up);
    if (plan->input_scale > 0.0f)
        ns__xbuf_printf(h,
                        " * the %s image's raw pixel values (0 to 255), channel by channel, "
                        "row by row,\n",
                        shape);
    else if (has_inputs)
        ns__xbuf_printf(h,
                        " * the %d raw features in the order of %s_input_names (text columns "
                        "one-hot, 0 or 1),\n",
                        plan->in_size, name);
    else
        ns__xbuf_printf(h, " * the %d raw features in the training data's column order,\n",
                        plan->in_size);
    ns__xbuf_printf(h,
                    " * as `netsmith predict` reads them (the model's normalisation is inside). "
                    "y gets\n"
                    " * n * %s_OUTPUT_SIZE floats: for each sample %s, in the order of\n"
                    " * %s_output_names. It returns 0, or -1 when x or y is null or n is "
                    "negative (it then\n"
                    " * writes nothing).\n"
                    " *\n"
                    " * It allocates nothing and needs only <math.h> (link with -lm). It works "
                    "in\n"
                    " * %s_SCRATCH_BYTES of static scratch memory in %s.c and a few locals on "
                    "the stack,\n"
                    " * so it is not reentrant: one call at a time (share it between threads "
                    "under a lock).\n"
                    " * Its sums run in double; compile %s.c with -D%s_ACCUMULATOR=float for a "
                    "single-precision\n"
                    " * FPU. */\n"
                    "#ifndef %s_NETSMITH_H\n"
                    "#define %s_NETSMITH_H\n\n"
                    "#ifdef __cplusplus\n"
                    "extern \"C\" {\n"
                    "#endif\n\n"
                    "#define %s_INPUT_SIZE %d\n"
                    "#define %s_OUTPUT_SIZE %d\n"
                    "#define %s_SCRATCH_BYTES %zu\n\n",
                    up, cls ? "each class's probability" : "the predicted values", name, up, file,
                    file, up, up, up, up, plan->in_size, up, plan->width, up, scratch_bytes);
    if (has_inputs)
        ns__xbuf_printf(h,
                        "/* The input features' names, in input order. */\n"
                        "extern const char *const %s_input_names[%s_INPUT_SIZE];\n",
                        name, up);
    ns__xbuf_printf(h,
                    "/* The %s, in output order. */\n"
                    "extern const char *const %s_output_names[%s_OUTPUT_SIZE];\n\n"
                    "int %s_predict(const float *x, int n, float *y);\n\n"
                    "#ifdef __cplusplus\n"
                    "}\n"
                    "#endif\n\n"
                    "#endif\n",
                    cls ? "class names" : "target names", name, up, name);
}

static bool is_window(ns_layer_kind k)
{
    return k == NS_LAYER_CONV2D || k == NS_LAYER_MAXPOOL2D || k == NS_LAYER_AVGPOOL2D ||
           k == NS_LAYER_ADAPTIVE_AVGPOOL2D || k == NS_LAYER_GLOBAL_AVGPOOL2D;
}

/* Layers that write from a into b (then swapped); the others work in place. */
static bool swaps(ns_layer_kind k)
{
    return k == NS_LAYER_LINEAR || is_window(k);
}

/* The file's opening comment: the model layer by layer. */
static void describe(ns__xbuf *src, const ns__xplan *plan, const char *name, const char *file)
{
    char shape[64], settings[160];
    ns__xbuf_printf(src,
                    "/* %s.c: the netsmith model %s as C source (netsmith %s); see %s.h.\n"
                    " *\n",
                    file, name, ns_version(), file);
    shape_text(shape, sizeof shape, plan->in_ndim, plan->in_shape);
    ns__xbuf_printf(src, " * input      %s%s%s\n", shape,
                    plan->input_scale > 0.0f ? ", raw pixels times the byte scale" : "",
                    plan->shift != NULL ? ", normalised" : "");
    for (int i = 0; i < plan->n_layers; i++) {
        const ns__xlayer *l = &plan->layers[i];
        shape_text(shape, sizeof shape, l->out_ndim, l->out_shape);
        ns_layer_spec_text(l->spec, settings, sizeof settings);
        ns__xbuf_printf(src, " * layers[%d]  %-18s -> %s%s%s%s\n", i,
                        ns_layer_kind_name(l->spec->kind), shape, settings[0] ? " (" : "", settings,
                        settings[0] ? ")" : "");
    }
    ns__xbuf_printf(src, " * output     [%d]: %s\n */\n", plan->width,
                    plan->post == NS__XPOST_SOFTMAX    ? "softmax, each class's probability"
                    : plan->post == NS__XPOST_SIGMOID2 ? "[1 - sigmoid, sigmoid] of the one logit"
                                                       : "the values");
}

ns_status ns__export_c(ns_ctx *ctx, const ns__xplan *plan, const char *name, const char *file,
                       ns__xbuf *src, ns__xbuf *hdr)
{
    for (int i = 0; i < plan->n_layers; i++)
        if (rules[plan->layers[i].spec->kind] == NULL)
            return ns__export_refuse(ctx, &plan->layers[i], "c");
    ns__c_locale loc = ns__c_locale_begin();
    char up[64];
    upper(up, sizeof up, name);
    cw w = {src, plan, name, {false}, false};
    const ns_model_info *info = plan->info;
    bool has_inputs =
        info->features == plan->in_size && info->feature_names != NULL && plan->input_scale == 0.0f;
    bool any_swap = false, any_window = false;
    for (int i = 0; i < plan->n_layers; i++) {
        any_swap |= swaps(plan->layers[i].spec->kind);
        any_window |= is_window(plan->layers[i].spec->kind);
    }
    int buffers = any_swap ? 2 : 1;
    size_t scratch_bytes = (size_t)buffers * (size_t)plan->max_size * sizeof(float);

    describe(src, plan, name, file);
    ns__xbuf_printf(src, "#include <math.h>\n\n#include \"%s.h\"\n\n", file);
    if (any_swap)
        ns__xbuf_printf(src,
                        "/* What the long sums of the linear and convolution layers add up in: "
                        "double, so that\n"
                        " * a prediction is netsmith's to float rounding; -D%s_ACCUMULATOR=float "
                        "for a single-\n"
                        " * precision FPU (predictions then differ by a few 1e-6 relative). */\n"
                        "#ifndef %s_ACCUMULATOR\n"
                        "#define %s_ACCUMULATOR double\n"
                        "#endif\n"
                        "typedef %s_ACCUMULATOR k_acc;\n\n",
                        up, up, up, up);
    if (has_inputs) {
        char macro[80];
        snprintf(macro, sizeof macro, "%s_INPUT_SIZE", up);
        names_array(src, name, "input_names", macro, info->feature_names, plan->in_size);
    }
    char macro[80];
    snprintf(macro, sizeof macro, "%s_OUTPUT_SIZE", up);
    names_array(src, name, "output_names", macro, plan->names, plan->width);

    /* the weights */
    if (any_window)
        ns__xbuf_puts(src, k_geom);
    if (plan->input_scale > 0.0f || plan->shift != NULL)
        ns__xbuf_puts(src, "/* the input's scaling: (x * byte scale - shift) * scale */\n");
    if (plan->shift != NULL) {
        put_array(src, "norm_shift", plan->shift, (size_t)plan->in_size);
        put_array(src, "norm_scale", plan->scale, (size_t)plan->in_size);
    }
    for (int i = 0; i < plan->n_layers; i++)
        layer_data(&w, &plan->layers[i]);
    ns__xbuf_printf(src,
                    "\n/* %s_SCRATCH_BYTES: %d buffer%s of %d floats, each step's input and "
                    "output */\nstatic float scratch[%d][%d];\n\n",
                    up, buffers, buffers > 1 ? "s" : "", plan->max_size, buffers, plan->max_size);

    /* the kernels, then the function */
    for (int i = 0; i < plan->n_layers; i++)
        need_kernel(&w, plan->layers[i].spec->kind, plan->layers[i].spec->tanh_approx);
    if (plan->post == NS__XPOST_SOFTMAX)
        need_kernel(&w, NS_LAYER_SOFTMAX, false);
    ns__xbuf_printf(src,
                    "int %s_predict(const float *x, int n, float *y)\n"
                    "{\n"
                    "    int s, i;\n"
                    "    if (x == 0 || y == 0 || n < 0)\n"
                    "        return -1;\n"
                    "    for (s = 0; s < n; s++) {\n"
                    "        const float *in = x + (unsigned long)s * %s_INPUT_SIZE;\n"
                    "        float *out = y + (unsigned long)s * %s_OUTPUT_SIZE;\n"
                    "        float *a = scratch[0]%s;\n"
                    "        for (i = 0; i < %s_INPUT_SIZE; i++) {\n"
                    "            float v = in[i];\n",
                    name, up, up, any_swap ? ", *b = scratch[1], *t" : "", up);
    if (plan->input_scale > 0.0f) {
        ns__xbuf_puts(src, "            v = v * ");
        put_float(src, plan->input_scale);
        ns__xbuf_puts(src, ";\n");
    }
    if (plan->shift != NULL)
        ns__xbuf_puts(src, "            v = (v - norm_shift[i]) * norm_scale[i];\n");
    ns__xbuf_puts(src, "            a[i] = v;\n        }\n");
    for (int i = 0; i < plan->n_layers; i++)
        rules[plan->layers[i].spec->kind](&w, &plan->layers[i], src);
    switch (plan->post) {
    case NS__XPOST_SOFTMAX:
        ns__xbuf_printf(src, "        k_softmax(a, out, 1, %d);\n", plan->width);
        break;
    case NS__XPOST_SIGMOID2:
        ns__xbuf_puts(src, "        {\n"
                           "            float p = 1.0f / (1.0f + expf(-a[0]));\n"
                           "            out[0] = 1.0f - p;\n"
                           "            out[1] = p;\n"
                           "        }\n");
        break;
    default:
        ns__xbuf_printf(src, "        for (i = 0; i < %d; i++)\n            out[i] = a[i];\n",
                        plan->width);
        break;
    }
    ns__xbuf_puts(src, "    }\n    return 0;\n}\n");
    write_header(plan, name, file, up, scratch_bytes, has_inputs, hdr);
    ns__c_locale_end(loc);
    if (src->failed || hdr->failed)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing the C source");
    return NS_OK;
}
