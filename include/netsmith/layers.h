/* netsmith layers: the layer kinds and one layer's settings. Each kind is one file under
 * src/layers/ and one row of NS_LAYER_KIND_MAP (docs/layer.md). */
#ifndef NETSMITH_LAYERS_H
#define NETSMITH_LAYERS_H

#include "netsmith/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layer kinds ---------------------------------------------------------------- */

/* X(ENUM, name): one row per layer kind, whose file src/layers/NAME.c (or its family's file)
 * defines ns__NAME_type, its row of settings, shape rule, forward and backward. */
#define NS_LAYER_KIND_MAP(X)                                                                       \
    X(LINEAR, linear)                                                                              \
    X(RELU, relu)                                                                                  \
    X(LEAKY_RELU, leaky_relu)                                                                      \
    X(ELU, elu)                                                                                    \
    X(GELU, gelu)                                                                                  \
    X(SILU, silu)                                                                                  \
    X(TANH, tanh)                                                                                  \
    X(SIGMOID, sigmoid)                                                                            \
    X(SOFTMAX, softmax)                                                                            \
    X(DROPOUT, dropout)                                                                            \
    X(BATCHNORM1D, batchnorm1d)                                                                    \
    X(LAYERNORM, layernorm)                                                                        \
    X(FLATTEN, flatten)                                                                            \
    X(CONV2D, conv2d)                                                                              \
    X(MAXPOOL2D, maxpool2d)                                                                        \
    X(AVGPOOL2D, avgpool2d)                                                                        \
    X(ADAPTIVE_AVGPOOL2D, adaptive_avgpool2d)                                                      \
    X(GLOBAL_AVGPOOL2D, global_avgpool2d)                                                          \
    X(BATCHNORM2D, batchnorm2d)                                                                    \
    X(DROPOUT2D, dropout2d)                                                                        \
    X(SOFTPLUS, softplus)                                                                          \
    /* a new kind: one row above this line */

typedef enum ns_layer_kind {
#define NS__LAYER_ENUM(name, str) NS_LAYER_##name,
    NS_LAYER_KIND_MAP(NS__LAYER_ENUM)
#undef NS__LAYER_ENUM
        NS_LAYER_KIND_COUNT
} ns_layer_kind;

/* "linear", ... (a static string); NULL for an out-of-range kind. */
NS_API const char *ns_layer_kind_name(ns_layer_kind kind);
/* Looks a kind up by its exact spec name; NS_ERR_NOTFOUND if unknown or NULL. */
NS_API ns_status ns_layer_kind_parse(const char *name, ns_layer_kind *out);

/* One layer of a spec. Fields that do not apply to the kind keep their defaults. The 2-D
 * layers work on NCHW data: a sample is [C, H, W], and pairs are [height, width]. */
/* Room for the settings of layer kinds without a named field in ns_layer_spec. */
#define NS_LAYER_ARGS 4

typedef struct ns_layer_spec {
    ns_layer_kind kind;
    int units;          /* linear: output features (> 0) */
    bool bias;          /* linear, conv2d: with bias (default true) */
    double alpha;       /* leaky_relu: negative slope (0.01); elu: alpha (1.0) */
    bool tanh_approx;   /* gelu: the tanh approximation (default false: exact erf) */
    double p;           /* dropout, dropout2d: drop probability in [0, 1) */
    double eps;         /* batchnorm1d, batchnorm2d, layernorm: 1e-5 */
    double momentum;    /* batchnorm1d, batchnorm2d: running-statistics momentum (0.1) */
    bool affine;        /* batchnorm1d, batchnorm2d, layernorm: learnable scale and shift (true) */
    int filters;        /* conv2d: output channels (> 0; torch's out_channels) */
    int kernel[2];      /* conv2d, maxpool2d, avgpool2d: window [kh, kw] (> 0) */
    int stride[2];      /* conv2d (1, 1); maxpool2d, avgpool2d: 0 means "the kernel" */
    int padding[2];     /* conv2d, maxpool2d, avgpool2d: per side, >= 0 (0, 0) */
    int dilation[2];    /* conv2d: (1, 1) */
    int groups;         /* conv2d: 1; divides the input channels and filters */
    int output_size[2]; /* adaptive_avgpool2d: [oh, ow]; global_avgpool2d: (1, 1) */
    bool count_include_pad;     /* avgpool2d: padding zeros count in the divisor (true) */
    double args[NS_LAYER_ARGS]; /* the settings of kinds without a field above (softplus'
                                 * beta, threshold); each kind's row says which is which (0) */
} ns_layer_spec;

/* Fills a layer spec of this kind with PyTorch's defaults: units 0 (a linear layer needs
 * them set), bias true, alpha 0.01 for leaky_relu and 1.0 for elu (0 otherwise),
 * tanh_approx false, p 0.5, eps 1e-5, momentum 0.1, affine true; filters 0 and kernel
 * (0, 0) (conv2d and the pools need them set), stride (1, 1) for conv2d and (0, 0) = the
 * kernel for the pools, padding (0, 0), dilation (1, 1), groups 1, output_size (1, 1) for
 * global_avgpool2d and (0, 0) otherwise (adaptive_avgpool2d needs it set),
 * count_include_pad true, args as the kind's row says (0 otherwise). Padding bytes are
 * zeroed, so two equal layer specs compare equal with memcmp. */
NS_API void ns_layer_spec_default(ns_layer_spec *ls, ns_layer_kind kind);

/* The settings of a layer that differ by kind, with PyTorch's names, as `netsmith inspect`
 * shows them: "units=64, bias=false", "kernel=3, stride=1, padding=1", "p=0.2" ("" for a kind
 * without settings). Defaults are left out except for the settings that say what the layer
 * is. Written into buf (cap bytes, clipped), which it returns. */
NS_API const char *ns_layer_spec_text(const ns_layer_spec *ls, char *buf, size_t cap);

/* The settings a kind takes, in words: "units: a positive integer, required; bias: true or
 * false (default true)" ("" for a kind without settings). Written into buf (cap bytes,
 * clipped), which it returns. */
NS_API const char *ns_layer_settings_doc(ns_layer_kind kind, char *buf, size_t cap);

/* Every layer kind as a JSON schema of its spec object, keyed by the kind's name: its
 * settings with their types, ranges, defaults and which are required ({"linear": {"type":
 * "object", "properties": {"type": {"const": "linear"}, "units": {"type": "integer", "minimum":
 * 1}, ...}, "required": ["type", "units"], ...}}), for a form or a check outside the library.
 * *json on ctx (ns_dealloc); NULL on failure. Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_layer_schema(ns_ctx *ctx, char **json);

#ifdef __cplusplus
}
#endif

#endif
