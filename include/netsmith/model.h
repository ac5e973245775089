/* netsmith model: model specs (the Model Define card), building a model for an
 * input shape (Build Model), and the Forward Pass / Backward Pass cards. */
#ifndef NETSMITH_MODEL_H
#define NETSMITH_MODEL_H

#include "netsmith/core.h"
#include "netsmith/layers.h"
#include "netsmith/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- specs -------------------------------------------------------------------------- */

typedef enum ns_spec_form {
    NS_SPEC_SHORT = 0, /* {"model_type": "deep_neural_network", "hidden_layers": [...]} */
    NS_SPEC_LAYERS = 1 /* {"layers": [{"type": ...}, ...], "training": {...}} */
} ns_spec_form;

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

/* A parsed, validated blueprint. It never holds an input size: Build Model takes it from the
 * data. (The layer-list form may name the per-sample shape it expects in "input"; that is
 * only a check made at build time.) Immutable after parsing; safe to share between threads
 * for reading. Every spec remembers the context it was made with and allocates through it.
 *
 * Forms (a spec with "layers" is the layer-list form, otherwise the short form; a key of
 * the other form is an error naming it):
 *   short:  {"model_type": "deep_neural_network" (or "mlp"), "hidden_layers": [128, 64],
 *            "activation": "relu", "dropout": 0.2, "output_size": 3 or null,
 *            "learning_rate": 0.001, "epochs": 50, "batch_size": 32, "optimizer": "adam",
 *            "loss": "mse" or null, "weight_decay": 0, "task": "auto"}
 *           hidden_layers is required ([] is a linear model), model_type optional;
 *           activation is relu, leaky_relu, elu, gelu, gelu_tanh, silu, tanh or sigmoid.
 *   layers: {"input": [13] (optional), "layers": [{"type": "linear", "units": 64}, ...],
 *            "training": {learning_rate, epochs, batch_size, optimizer, loss, weight_decay,
 *                         task} (optional)}
 *           Layer settings use PyTorch's argument names: linear units (required), bias;
 *           leaky_relu negative_slope; elu alpha; gelu approximate ("none" | "tanh");
 *           dropout p; batchnorm1d eps, momentum, affine; layernorm eps, elementwise_affine;
 *           conv2d filters (torch's out_channels) and kernel (both required), stride,
 *           padding, dilation, groups, bias; maxpool2d kernel (required), stride (default:
 *           the kernel), padding; avgpool2d the same and count_include_pad;
 *           adaptive_avgpool2d output_size (required); global_avgpool2d (none; output
 *           [C, 1, 1]); batchnorm2d eps, momentum, affine; dropout2d p; softplus beta,
 *           threshold (`netsmith layers` and ns_layer_schema list them all). kernel, stride,
 *           padding, dilation and output_size are an integer or [h, w]; conv2d's padding may
 *           also be "valid" (0) or "same" (stride 1, and dilation * (kernel - 1) even so both
 *           sides get the same padding). They print as one integer when h == w, and a
 *           pool's stride prints as the number it stands for.
 * null for "output_size", "loss" or "input" means "not given". Integer settings accept
 * integral reals (64.0). */
typedef struct ns_spec ns_spec;

/* Parses and validates a spec from JSON text (len bytes, need not be NUL-terminated).
 * source names the text in messages ("spec.json"; NULL gives "<spec>"). JSON syntax errors
 * fail with NS_ERR_PARSE and "SOURCE:LINE:COL: what"; unknown keys (at every level), wrong
 * types and out-of-range values fail with NS_ERR_PARSE and "SOURCE: PATH: what; how to fix",
 * e.g. "spec.json: layers[2].p: expected a number in [0, 1), got 1.5". NS_ERR_NOMEM if an
 * allocation fails (nothing leaks). On success *out is a new spec owned by the caller
 * (ns_spec_free); on failure *out is NULL. */
NS_API ns_status ns_spec_parse(ns_ctx *ctx, const char *json, size_t len, const char *source,
                               ns_spec **out);
/* Reads a file and parses it with its path as SOURCE. NS_ERR_IO names the path and the
 * system's reason if it cannot be read, or says it is larger than 16 MiB; NS_ERR_NOMEM;
 * otherwise as ns_spec_parse. *out is the caller's: ns_spec_free; NULL on failure. */
NS_API ns_status ns_spec_load(ns_ctx *ctx, const char *path, ns_spec **out);
/* Frees a spec; NULL is a no-op. */
NS_API void ns_spec_free(ns_spec *spec);
/* A deep copy on the same context; NS_ERR_NOMEM on failure (*out NULL). *out is the caller's:
 * ns_spec_free. */
NS_API ns_status ns_spec_clone(const ns_spec *spec, ns_spec **out);
/* The context the spec allocates through (for ns_dealloc of to_json/expand results). */
NS_API ns_ctx *ns_spec_ctx(const ns_spec *spec);

/* Canonical JSON: fixed key order, every setting explicit (defaults included, null for "not
 * given"), shortest round-trip numbers (reals always with a '.' or exponent, integers
 * without), two-space indent, one layer per line, trailing newline. The short form stays
 * short. parse(print(s)) prints the same text. *out is allocated with the spec's context;
 * free it with ns_dealloc(ns_spec_ctx(spec), *out). NS_ERR_NOMEM on failure. */
NS_API ns_status ns_spec_to_json(const ns_spec *spec, char **out);

/* The spec in the layer-list form, printed as ns_spec_to_json prints one: a short-form spec
 * expanded as ns_spec_expand_input does for samples of input_ndim dimensions and output_size
 * outputs, with its training settings; a layer-list spec as it is. For an editor that shows
 * every spec as a layer stack. *out as ns_spec_to_json's. Errors: ns_spec_expand_input's,
 * NS_ERR_NOMEM. */
NS_API ns_status ns_spec_layer_form_json(const ns_spec *spec, int input_ndim, int output_size,
                                         char **out);

/* The spec's form (short or layer list) and its training settings (borrowed: valid while the
 * spec lives; defaults for what it does not say). */
NS_API ns_spec_form ns_spec_get_form(const ns_spec *spec);
NS_API const ns_train_settings *ns_spec_training(const ns_spec *spec);
/* Output size given by the spec (short form "output_size", or the last linear layer's
 * units in the layer form); 0 if the spec leaves it to the data. */
NS_API int ns_spec_output_size(const ns_spec *spec);

/* The layer list the spec expands to for a given output size. Short form: linear(h),
 * activation, dropout(p) if p > 0 for each hidden size h, then linear(output size); layer
 * form: a copy of its layers. output_size 0 uses the spec's own (ns_spec_output_size).
 * Errors: NS_ERR_SHAPE if both are non-zero and differ, NS_ERR_INVALID if a short-form spec
 * has none and none is given (or output_size < 0), NS_ERR_NOMEM. *out ([*count]) is owned by
 * the caller: ns_dealloc(ns_spec_ctx(spec), *out). */
NS_API ns_status ns_spec_expand(const ns_spec *spec, int output_size, ns_layer_spec **out,
                                int *count);
/* As ns_spec_expand, for samples of input_ndim dimensions (ns_build_opts.input_ndim): a
 * short-form spec given samples of more than one dimension (images [C, H, W]) starts with a
 * flatten layer, which counts in the tensor names as in the layer-list form (the first linear
 * layer's weight is then "1.weight"). For input_ndim 1, and for the layer-list form, the
 * same as ns_spec_expand. ns_model_build expands a spec this way. Errors (on the spec's
 * context) as ns_spec_expand's; *out ([*count]) is the caller's as there:
 * ns_dealloc(ns_spec_ctx(spec), *out); NULL and 0 on failure. */
NS_API ns_status ns_spec_expand_input(const ns_spec *spec, int input_ndim, int output_size,
                                      ns_layer_spec **out, int *count);

/* ---- models ---------------------------------------------------------------------------- */

typedef struct ns_model ns_model;

typedef struct ns_build_opts {
    int input_ndim;                   /* 1 for feature vectors */
    int input_shape[NS_MAX_DIMS - 1]; /* per-sample shape, e.g. {13}; {C, H, W} = {1, 28, 28}
                                       * for images (NCHW, as the 2-D layers expect) */
    int output_size;                  /* 0: from the spec (error if the spec has none) */
    int max_batch;                    /* largest batch the arena is planned for (default 256) */
    uint64_t seed;                    /* initialisation and dropout streams */
    bool keep_input_grad;             /* keep d loss / d input (ns_model_input_grad) */
} ns_build_opts;

/* Fills build options for a flat input of input_size features. */
NS_API void ns_build_opts_default(ns_build_opts *opts, int input_size);

/* Builds real layers with initialised weights (PyTorch's default distributions).
 * The spec is copied. Errors: NS_ERR_SHAPE (e.g. a layer that cannot take the input, or sizes
 * past the limits: one tensor, be it a sample's input or output, a parameter, an activation
 * of max_batch samples or one sample's im2col matrix, holds at most 2^31 - 1 values, and a 2-D
 * layer's input, padded input, window, stride and output are at most 2^24 along an axis; the
 * message names the layer and the setting; also a spec "input" or output size that
 * disagrees with opts), NS_ERR_INVALID (bad options, or a short-form spec with no output size
 * from either), NS_ERR_NOMEM (nothing leaks). *out is the caller's: ns_model_free; NULL on
 * failure. */
NS_API ns_status ns_model_build(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *opts,
                                ns_model **out);
/* Frees a model and everything it owns; NULL is a no-op. */
NS_API void ns_model_free(ns_model *model);

/* A built model's context, its spec (borrowed, the model's own copy) and sizes. */
NS_API ns_ctx *ns_model_ctx(const ns_model *model);
NS_API const ns_spec *ns_model_spec(const ns_model *model);
NS_API int ns_model_input_size(const ns_model *model);  /* features per sample */
NS_API int ns_model_output_size(const ns_model *model); /* outputs per sample */
NS_API int ns_model_max_batch(const ns_model *model);
/* The options the model was built with (input shape, output size, seed, ...). */
NS_API const ns_build_opts *ns_model_build_opts(const ns_model *model);
NS_API int ns_model_layer_count(const ns_model *model);
/* The i-th layer's settings (kind, units, ...). */
NS_API const ns_layer_spec *ns_model_layer(const ns_model *model, int i);

/* What one layer makes of a sample: for the layer table of `netsmith inspect` and the
 * Architectures page. */
typedef struct ns_layer_shape {
    ns_layer_kind kind;
    int ndim;                   /* of the per-sample output: 1 (features) or 3 (C, H, W) */
    int shape[NS_MAX_DIMS - 1]; /* the per-sample output shape, e.g. {64} or {32, 26, 26} */
    int size;                   /* floats per sample (the product of shape) */
    size_t params;              /* trainable parameters (weights and biases; not the
                                   batchnorm running statistics) */
} ns_layer_shape;
/* Layer i of a built model (0 <= i < ns_model_layer_count); the input's shape is in
 * ns_model_build_opts. NS_ERR_INVALID (on the model's context) for a layer that does not
 * exist, with *out zeroed. Reads the model only. */
NS_API ns_status ns_model_layer_shape(const ns_model *model, int i, ns_layer_shape *out);
/* The same for every layer of the model a spec would build with opts (input shape, output
 * size), without building it: no weights are made or initialised, so it is cheap for large
 * networks. The checks and errors are ns_model_build's (NS_ERR_SHAPE naming the layer and
 * setting when a layer cannot take its input, NS_ERR_INVALID for bad options or a short-form
 * spec with no output size from either, NS_ERR_NOMEM). *out ([*count], the expanded layers in
 * order, a short-form spec's flatten included) is allocated on ctx: ns_dealloc(ctx, *out);
 * NULL and 0 on failure. */
NS_API ns_status ns_spec_layer_shapes(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *opts,
                                      ns_layer_shape **out, int *count);

/* The flat blocks: all trainable parameters, and their gradients, same layout.
 * Tensors are views into them. */
NS_API float *ns_model_params(ns_model *model);
NS_API float *ns_model_grads(ns_model *model);
NS_API size_t ns_model_param_count(const ns_model *model);
/* The block of running statistics (batch norms' running_mean and running_var, in tensor
 * order) and its length; NULL and 0 for a model without them. A view: valid while the model
 * lives. */
NS_API float *ns_model_buffers(ns_model *model);
NS_API size_t ns_model_buffer_count(const ns_model *model);

/* Named tensors in PyTorch nn.Sequential state_dict order and names ("0.weight", ...):
 * parameters and buffers (running_mean, running_var; num_batches_tracked is int64 and is
 * reported with is_count set and data NULL). */
typedef struct ns_named_tensor {
    char name[48];
    float *data;    /* view into the model; NULL for counters */
    int64_t *count; /* for num_batches_tracked */
    int ndim;
    int64_t shape[NS_MAX_DIMS];
    bool trainable;
} ns_named_tensor;
/* The model's tensors in state_dict order: how many, and the i-th (0 <= i < count; an i past
 * the end is NS_ERR_NOTFOUND). out views the model's blocks: valid while the model lives. */
NS_API int ns_model_tensor_count(const ns_model *model);
NS_API ns_status ns_model_tensor(ns_model *model, int i, ns_named_tensor *out);
/* Finds a tensor by state_dict name; NS_ERR_NOTFOUND (on the model's context) otherwise. */
NS_API ns_status ns_model_find_tensor(ns_model *model, const char *name, ns_named_tensor *out);

/* Forward Pass. x[batch, input_size] -> *y[batch, output_size] (points into the model's
 * arena, valid until the next forward). training selects dropout and batch statistics.
 * batch must be in [1, max_batch]. x is borrowed: it must stay unchanged until the
 * backward of this forward. No allocation. Not reentrant on one model. Errors (on the
 * model's context): NS_ERR_INVALID for a batch outside [1, max_batch]; NS_ERR_SHAPE in
 * training mode when a batch norm layer would see one value per feature or channel (batch x H
 * x W < 2). *y is the model's, never the caller's to free. */
NS_API ns_status ns_model_forward(ns_model *model, const float *x, int batch, bool training,
                                  const float **y);
/* Backward Pass. dy[batch, output_size] is the gradient of the loss with respect to the
 * last forward's output; gradients are accumulated (+=) into the gradient block.
 * Requires a preceding training-mode forward (NS_ERR_STATE otherwise). */
NS_API ns_status ns_model_backward(ns_model *model, const float *dy);
/* Forgets the last forward pass (a later backward fails with NS_ERR_STATE). Callers that ran
 * forward passes over their own buffers call it before freeing them, since the model keeps a
 * pointer to the last input for backward (and training-state files copy it). */
NS_API void ns_model_forget_forward(ns_model *model);
/* The gradient with respect to the last forward's input x[batch, input_size], valid after
 * a backward until the next forward; NULL unless the model was built with keep_input_grad. */
NS_API const float *ns_model_input_grad(const ns_model *model);
/* Zero Gradients: one memset of the gradient block. */
NS_API void ns_model_zero_grad(ns_model *model);

/* How many training-mode forwards this model has run; it selects the dropout stream.
 * Part of the training state (saved in checkpoints). */
NS_API uint64_t ns_model_forward_count(const ns_model *model);
NS_API void ns_model_set_forward_count(ns_model *model, uint64_t n);
NS_API uint64_t ns_model_seed(const ns_model *model);

/* Copies parameters and buffers from src, which must have the same architecture:
 * NS_ERR_SHAPE (on dst's context) when the layer kinds, their input and output sizes or the
 * parameter and buffer counts differ. */
NS_API ns_status ns_model_copy_weights(ns_model *dst, const ns_model *src);

#ifdef __cplusplus
}
#endif
#endif
