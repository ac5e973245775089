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
