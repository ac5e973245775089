/* The model module's structs, private to it (spec.c, spec_print.c, model.c): the parsed spec
 * and the built model. Other modules reach them through netsmith/model.h and
 * model/model_internal.h. */
#ifndef NETSMITH_MODEL_PRIVATE_H
#define NETSMITH_MODEL_PRIVATE_H

#include "layers/layer.h"
#include "model/model_internal.h"
#include "netsmith/model.h"

/* ---- specs ---------------------------------------------------------------------- */

#define NS__MAX_HIDDEN 64

struct ns_spec {
    ns_ctx *ctx;
    ns_spec_form form;
    /* short form */
    char model_type[32];
    int n_hidden;
    int hidden[NS__MAX_HIDDEN];
    ns_layer_kind activation;
    bool activation_tanh_approx; /* "gelu_tanh" */
    double dropout;
    int output_size; /* 0: from the data */
    /* layer form */
    int input_ndim; /* 0: not given */
    int input_shape[NS_MAX_DIMS - 1];
    int n_layers;
    ns_layer_spec *layers;
    /* both */
    ns_train_settings training;
};

/* Layer settings a spec can spell out (PyTorch's argument names), in canonical print order.
 * Shared by the parser (spec.c) and the canonical printer (spec_print.c). */
typedef enum ns__setting {
    NS__SETTING_UNITS,              /* linear */
    NS__SETTING_FILTERS,            /* conv2d */
    NS__SETTING_OUTPUT_SIZE,        /* adaptive_avgpool2d: int or [h, w] */
    NS__SETTING_KERNEL,             /* conv2d, maxpool2d, avgpool2d: int or [h, w] */
    NS__SETTING_STRIDE,             /* conv2d, maxpool2d, avgpool2d: int or [h, w] */
    NS__SETTING_PADDING,            /* conv2d ("valid", "same" too), maxpool2d, avgpool2d */
    NS__SETTING_DILATION,           /* conv2d: int or [h, w] */
    NS__SETTING_GROUPS,             /* conv2d */
    NS__SETTING_COUNT_INCLUDE_PAD,  /* avgpool2d */
    NS__SETTING_BIAS,               /* linear, conv2d */
    NS__SETTING_NEGATIVE_SLOPE,     /* leaky_relu (ns_layer_spec.alpha) */
    NS__SETTING_ALPHA,              /* elu (ns_layer_spec.alpha) */
    NS__SETTING_APPROXIMATE,        /* gelu: "none" | "tanh" */
    NS__SETTING_P,                  /* dropout, dropout2d */
    NS__SETTING_EPS,                /* batchnorm1d, batchnorm2d, layernorm */
    NS__SETTING_MOMENTUM,           /* batchnorm1d, batchnorm2d */
    NS__SETTING_AFFINE,             /* batchnorm1d, batchnorm2d (ns_layer_spec.affine) */
    NS__SETTING_ELEMENTWISE_AFFINE, /* layernorm (ns_layer_spec.affine) */
    NS__SETTING_COUNT
} ns__setting;

/* The setting's JSON key ("units", "negative_slope", ...). */
const char *ns__setting_name(ns__setting s);
/* Whether a layer of this kind takes the setting. */
bool ns__setting_applies(ns_layer_kind kind, ns__setting s);
/* The short form's activation name ("relu", "gelu_tanh", ...); NULL if kind is not one. */
const char *ns__activation_name(ns_layer_kind kind, bool tanh_approx);

/* A deep copy of spec whose memory belongs to ctx (which may differ from the spec's). */
ns_status ns__spec_clone_ctx(ns_ctx *ctx, const ns_spec *spec, ns_spec **out);

/* ---- models ------------------------------------------------------------------------------ */

struct ns_model {
    ns_ctx *ctx;
    ns_spec *spec;
    ns_build_opts opts;
    int n_layers;
    ns__layer *layers;
    float *params; /* one block: every trainable parameter */
    float *grads;  /* same layout */
    size_t n_params;
    float *buffers; /* running statistics */
    size_t n_buffers;
    ns_arena arena; /* activations for max_batch, carved once at build */
    int input_size, output_size;
    /* the last forward */
    const float *last_x;
    int last_batch;
    bool last_training;
    bool have_forward;
    uint64_t forward_count;
    float *owned_x; /* a copy of the last forward's x that the model owns (restored by
                     * ns_model_load_state; last_x points at it until the next forward), or NULL */
};

#endif
