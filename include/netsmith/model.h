/* netsmith model: model specs (the Model Define card), building a model for an
 * input shape (Build Model), and the Forward Pass / Backward Pass cards. */
#ifndef NETSMITH_MODEL_H
#define NETSMITH_MODEL_H

#include "netsmith/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layer kinds ---------------------------------------------------------------- */

/* X(enum name, spec name). One row per layer type. */
#define NS_LAYER_KIND_MAP(X)                                                                       \
    X(LINEAR, "linear")                                                                            \
    X(RELU, "relu")                                                                                \
    X(LEAKY_RELU, "leaky_relu")                                                                    \
    X(ELU, "elu")                                                                                  \
    X(GELU, "gelu")                                                                                \
    X(SILU, "silu")                                                                                \
    X(TANH, "tanh")                                                                                \
    X(SIGMOID, "sigmoid")                                                                          \
    X(SOFTMAX, "softmax")                                                                          \
    X(DROPOUT, "dropout")                                                                          \
    X(BATCHNORM1D, "batchnorm1d")                                                                  \
    X(LAYERNORM, "layernorm")                                                                      \
    X(FLATTEN, "flatten")

typedef enum ns_layer_kind {
#define NS__LAYER_ENUM(name, str) NS_LAYER_##name,
    NS_LAYER_KIND_MAP(NS__LAYER_ENUM)
#undef NS__LAYER_ENUM
        NS_LAYER_KIND_COUNT
} ns_layer_kind;

/* "linear", ...; NULL for an out-of-range kind. */
const char *ns_layer_kind_name(ns_layer_kind kind);
/* Looks a kind up by its spec name; NS_ERR_NOTFOUND if unknown. */
ns_status ns_layer_kind_parse(const char *name, ns_layer_kind *out);

/* One layer of a spec. Fields that do not apply to the kind keep their defaults. */
typedef struct ns_layer_spec {
    ns_layer_kind kind;
    int units;      /* linear: output features (> 0) */
    bool bias;      /* linear: with bias (default true) */
    double alpha;   /* leaky_relu: negative slope (0.01); elu: alpha (1.0) */
    bool tanh_approx; /* gelu: the tanh approximation (default false: exact erf) */
    double p;       /* dropout: drop probability in [0, 1) */
    double eps;     /* batchnorm1d, layernorm: 1e-5 */
    double momentum; /* batchnorm1d: running-statistics momentum (0.1) */
    bool affine;    /* batchnorm1d, layernorm: learnable scale and shift (true) */
} ns_layer_spec;

/* Fills a layer spec of this kind with PyTorch's defaults. */
void ns_layer_spec_default(ns_layer_spec *ls, ns_layer_kind kind);

/* ---- specs -------------------------------------------------------------------------- */

typedef enum ns_spec_form {
    NS_SPEC_SHORT = 0, /* {"model_type": "deep_neural_network", "hidden_layers": [...]} */
    NS_SPEC_LAYERS = 1 /* {"layers": [{"type": ...}, ...], "training": {...}} */
} ns_spec_form;

typedef enum ns_task {
    NS_TASK_AUTO = 0, /* decided from the data */
    NS_TASK_REGRESSION,
    NS_TASK_CLASSIFICATION
} ns_task;

/* Training settings carried by a spec. Strings are short names ("adam", "mse");
 * "" means "not given, choose from the task". */
typedef struct ns_train_settings {
    double learning_rate; /* 0.001 */
    int epochs;           /* 50 */
    int batch_size;       /* 32 */
    char optimizer[16];   /* "adam" */
    char loss[24];        /* "" = from task */
    double weight_decay;  /* 0 */
    ns_task task;         /* auto */
} ns_train_settings;

/* A parsed, validated blueprint. It never holds an input size. Immutable after
 * parsing; safe to share between threads for reading. */
typedef struct ns_spec ns_spec;

/* Parses and validates a spec from JSON text (len bytes, need not be NUL-terminated).
 * source names the text in messages ("spec.json"). Unknown keys, wrong types and out-of-range
 * values fail with NS_ERR_PARSE and a message "SOURCE: PATH: what; how to fix".
 * On success *out is a new spec owned by the caller (ns_spec_free). */
ns_status ns_spec_parse(ns_ctx *ctx, const char *json, size_t len, const char *source,
                        ns_spec **out);
/* Reads and parses a file; NS_ERR_IO names the file if it cannot be read. */
ns_status ns_spec_load(ns_ctx *ctx, const char *path, ns_spec **out);
void ns_spec_free(ns_spec *spec);
/* A deep copy. */
ns_status ns_spec_clone(const ns_spec *spec, ns_spec **out);

/* Canonical JSON: fixed key order, every setting explicit, shortest round-trip numbers,
 * two-space indent, trailing newline. parse(print(s)) prints the same text.
 * *out is allocated with the context's hooks; free it with ns_dealloc(ctx, *out). */
ns_status ns_spec_to_json(const ns_spec *spec, char **out);

ns_spec_form ns_spec_get_form(const ns_spec *spec);
const ns_train_settings *ns_spec_training(const ns_spec *spec);
/* Output size given by the spec (short form "output_size", or the last linear layer's
 * units in the layer form); 0 if the spec leaves it to the data. */
int ns_spec_output_size(const ns_spec *spec);

/* The layer list the spec expands to for a given output size (short form: linear,
 * activation, dropout per hidden layer, then the output linear). output_size 0 uses the
 * spec's own. *out is owned by the caller (ns_dealloc on the spec's context). */
ns_status ns_spec_expand(const ns_spec *spec, int output_size, ns_layer_spec **out,
                         int *count);

/* ---- models ---------------------------------------------------------------------------- */

typedef struct ns_model ns_model;

typedef struct ns_build_opts {
    int input_ndim;                  /* 1 for feature vectors */
    int input_shape[NS_MAX_DIMS - 1]; /* per-sample shape, e.g. {13} */
    int output_size;                 /* 0: from the spec (error if the spec has none) */
    int max_batch;                   /* largest batch the arena is planned for (default 256) */
    uint64_t seed;                   /* initialisation and dropout streams */
} ns_build_opts;

/* Builds real layers with initialised weights (PyTorch's default distributions).
 * The spec is copied. Errors: NS_ERR_SHAPE (e.g. a layer that cannot take the input),
 * NS_ERR_INVALID (bad options), NS_ERR_NOMEM (nothing leaks). */
ns_status ns_model_build(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *opts,
                         ns_model **out);
void ns_model_free(ns_model *model);

ns_ctx *ns_model_ctx(const ns_model *model);
const ns_spec *ns_model_spec(const ns_model *model);
int ns_model_input_size(const ns_model *model);  /* features per sample */
int ns_model_output_size(const ns_model *model); /* outputs per sample */
int ns_model_max_batch(const ns_model *model);
int ns_model_layer_count(const ns_model *model);
/* The i-th layer's settings (kind, units, ...). */
const ns_layer_spec *ns_model_layer(const ns_model *model, int i);

/* The flat blocks: all trainable parameters, and their gradients, same layout.
 * Tensors are views into them. */
float *ns_model_params(ns_model *model);
float *ns_model_grads(ns_model *model);
size_t ns_model_param_count(const ns_model *model);

/* Named tensors in PyTorch nn.Sequential state_dict order and names ("0.weight", ...):
 * parameters and buffers (running_mean, running_var; num_batches_tracked is int64 and is
 * reported with is_count set and data NULL). */
typedef struct ns_named_tensor {
    char name[48];
    float *data;   /* view into the model; NULL for counters */
    int64_t *count; /* for num_batches_tracked */
    int ndim;
    int64_t shape[NS_MAX_DIMS];
    bool trainable;
} ns_named_tensor;
int ns_model_tensor_count(const ns_model *model);
ns_status ns_model_tensor(ns_model *model, int i, ns_named_tensor *out);
/* Finds a tensor by state_dict name; NS_ERR_NOTFOUND otherwise. */
ns_status ns_model_find_tensor(ns_model *model, const char *name, ns_named_tensor *out);

/* Forward Pass. x[batch, input_size] -> *y[batch, output_size] (points into the model's
 * arena, valid until the next forward). training selects dropout and batch statistics.
 * batch must be in [1, max_batch]. No allocation. Not reentrant on one model. */
ns_status ns_model_forward(ns_model *model, const float *x, int batch, bool training,
                           const float **y);
/* Backward Pass. dy[batch, output_size] is the gradient of the loss with respect to the
 * last forward's output; gradients are accumulated (+=) into the gradient block.
 * Requires a preceding training-mode forward (NS_ERR_STATE otherwise). */
ns_status ns_model_backward(ns_model *model, const float *dy);
/* The gradient with respect to the last forward's input x[batch, input_size], valid after
 * a backward until the next forward. */
const float *ns_model_input_grad(const ns_model *model);
/* Zero Gradients: one memset of the gradient block. */
void ns_model_zero_grad(ns_model *model);

/* How many training-mode forwards this model has run; it selects the dropout stream.
 * Part of the training state (saved in checkpoints). */
uint64_t ns_model_forward_count(const ns_model *model);
void ns_model_set_forward_count(ns_model *model, uint64_t n);
uint64_t ns_model_seed(const ns_model *model);

/* Copies parameters and buffers from src, which must have the same architecture. */
ns_status ns_model_copy_weights(ns_model *dst, const ns_model *src);

#ifdef __cplusplus
}
#endif
#endif
