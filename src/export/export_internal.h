/* The export module inside: a model walked once into a plan (its input, byte scaling and
 * normalisation, each layer with its shapes, window and tensors, and the post-processing of
 * its outputs), which each format's writer turns into its files. A writer holds one rule per
 * layer kind, indexed by kind; a kind without a rule is refused, naming the layer and the
 * format (ns__export_refuse), so a new layer kind is refused until it gets its rows. */
#ifndef NETSMITH_EXPORT_INTERNAL_H
#define NETSMITH_EXPORT_INTERNAL_H

#include "export/xbuf.h"
#include "netsmith/export.h"
#include "netsmith/kernels.h"

/* How the model's outputs become what `netsmith predict` reports. */
typedef enum ns__xpost {
    NS__XPOST_VALUES = 0,  /* regression (or a model never trained): the outputs */
    NS__XPOST_SOFTMAX = 1, /* classification, k > 1 logits: softmax */
    NS__XPOST_SIGMOID2 = 2 /* classification, one logit: [1 - sigmoid, sigmoid] */
} ns__xpost;

typedef struct ns__xlayer {
    int index; /* in the nn.Sequential: "layers[3]", tensors "3.weight" */
    const ns_layer_spec *spec;
    int in_ndim, in_shape[3], in_size;
    int out_ndim, out_shape[3], out_size;
    ns_conv2d_geom geom; /* conv2d and the pools: the window, stride resolved (else zeroed) */
    /* The layer's tensors (views into the model; NULL where it has none): linear and conv2d
     * weight and bias, norms' weight and bias (affine) and a batch norm's running mean and
     * variance. */
    const float *weight, *bias, *mean, *var;
    int64_t weight_shape[4];
    int weight_ndim;
} ns__xlayer;

typedef struct ns__xplan {
    ns_model *model;
    const ns_model_info *info;
    int in_ndim, in_shape[3], in_size; /* a sample as the model takes it */
    float input_scale;                 /* byte images: raw x is multiplied by it; else 0 */
    const float *shift, *scale;        /* the normalisation, (x - shift) * scale; NULL: none */
    int n_layers;
    ns__xlayer *layers;
    int outputs; /* the model's outputs per sample */
    int width;   /* what an export gives per sample: outputs, or 2 for one logit */
    ns__xpost post;
    char **names; /* [width] the class or target names, as `netsmith predict` writes them */
    int max_size; /* the most floats a sample takes at any step (input, layers, output) */
} ns__xplan;

/* Walks model and info into *plan (on ctx). Errors: NS_ERR_INVALID for a normalisation of
 * another width than the input, NS_ERR_NOMEM. */
ns_status ns__xplan_make(ns_ctx *ctx, ns_model *model, const ns_model_info *info, ns__xplan *plan);
void ns__xplan_free(ns_ctx *ctx, ns__xplan *plan);

/* NS_ERR_UNSUPPORTED: "layers[3] (KIND): FORMAT export has no rule for this layer kind; ..." */
ns_status ns__export_refuse(ns_ctx *ctx, const ns__xlayer *l, const char *format);

/* The writers: the ONNX model's bytes into out; the C source and header into src and hdr,
 * with names prefixed name (a C identifier) and the header included as file.h. */
ns_status ns__export_onnx(ns_ctx *ctx, const ns__xplan *plan, int opset, ns__xbuf *out);
ns_status ns__export_c(ns_ctx *ctx, const ns__xplan *plan, const char *name, const char *file,
                       ns__xbuf *src, ns__xbuf *hdr);

#endif
