/* Model specs: layer-kind names, parsing and validating the two JSON forms (the short form of
 * the Model Define card and the layer-list form), loading, cloning and expansion into a layer
 * list. The canonical printer is in spec_print.c. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/json_read.h"
#include "model/model_private.h"

/* A layer-list spec longer than this is almost certainly a mistake; it also keeps counts in int. */
#define SPEC_MAX_LAYERS 4096
/* Spec files are small; refuse to slurp anything larger into memory. */
#define SPEC_MAX_FILE_BYTES ((size_t)16 << 20)

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The short form's hidden activations; "gelu_tanh" is gelu with the tanh approximation. */
static const struct {
    const char *name;
    ns_layer_kind kind;
    bool tanh_approx;
} activations[] = {
    {"relu", NS_LAYER_RELU, false},     {"leaky_relu", NS_LAYER_LEAKY_RELU, false},
    {"elu", NS_LAYER_ELU, false},       {"gelu", NS_LAYER_GELU, false},
    {"gelu_tanh", NS_LAYER_GELU, true}, {"silu", NS_LAYER_SILU, false},
    {"tanh", NS_LAYER_TANH, false},     {"sigmoid", NS_LAYER_SIGMOID, false},
};

const char *ns__activation_name(ns_layer_kind kind, bool tanh_approx)
{
    for (int i = 0; i < COUNT_OF(activations); i++)
        if (activations[i].kind == kind && activations[i].tanh_approx == tanh_approx)
            return activations[i].name;
    return NULL;
}

/* Keys, in canonical order. The short form's training keys sit at the top level. */
static const char *const short_keys[] = {
    "model_type", "hidden_layers", "activation", "dropout", "output_size",  "learning_rate",
    "epochs",     "batch_size",    "optimizer",  "loss",    "weight_decay", "task",
};
enum {
    SHORT_MODEL_TYPE,
    SHORT_HIDDEN,
    SHORT_ACTIVATION,
    SHORT_DROPOUT,
    SHORT_OUTPUT_SIZE,
    SHORT_FIRST_TRAINING
};
static const char *const training_keys[] = {
    "learning_rate", "epochs", "batch_size", "optimizer", "loss", "weight_decay", "task",
};
enum {
    TR_LEARNING_RATE,
    TR_EPOCHS,
    TR_BATCH_SIZE,
    TR_OPTIMIZER,
    TR_LOSS,
    TR_WEIGHT_DECAY,
    TR_TASK
};
static const char *const layer_form_keys[] = {"input", "layers", "training"};
/* Every top-level key of either form: a typo of one ("layer") is suggested in both forms. */
static const char *const top_keys[] = {
    "model_type",    "hidden_layers", "activation", "dropout",   "output_size",
    "learning_rate", "epochs",        "batch_size", "optimizer", "loss",
    "weight_decay",  "task",          "input",      "layers",    "training",
};
static const char *const model_types[] = {"deep_neural_network", "mlp"};

/* ---- messages: the JSON reader (format/json_read.h) ------------------------------------ */

typedef ns__json_reader parser;

/* ---- training settings ---------------------------------------------------------------------- */

static void training_default(ns_train_settings *tr)
{
    memset(tr, 0, sizeof *tr);
    tr->learning_rate = 0.001;
    tr->epochs = 50;
    tr->batch_size = 32;
    snprintf(tr->optimizer, sizeof tr->optimizer, "%s", ns_optim_kind_name(NS_OPTIM_ADAM));
    tr->loss[0] = '\0';
    tr->weight_decay = 0.0;
    tr->task = NS_TASK_AUTO;
}

/* Parses training setting `which` (an index into training_keys) at path. */
static ns_status parse_training_value(const parser *ps, const char *path, int which,
                                      const json_t *v, ns_train_settings *tr)
{
    int k;
    ns_status st;
    switch (which) {
    case TR_LEARNING_RATE:
        return ns__jr_real(ps, path, v, 0.0, true, HUGE_VAL, false, "a positive number",
                           &tr->learning_rate);
    case TR_EPOCHS:
        return ns__jr_int(ps, path, v, 1, "a positive integer", &tr->epochs);
    case TR_BATCH_SIZE:
        return ns__jr_int(ps, path, v, 1, "a positive integer", &tr->batch_size);
    case TR_OPTIMIZER: {
        /* Parsed by the name table, so any alias it learns is accepted here too. */
        const char *names[NS_OPTIM_KIND_COUNT];
        for (int i = 0; i < NS_OPTIM_KIND_COUNT; i++)
            names[i] = ns_optim_kind_name((ns_optim_kind)i);
        ns_optim_kind o;
        if (!json_is_string(v))
            return ns__jr_not_name(ps, path, v, "optimizer", names, NS_OPTIM_KIND_COUNT);
        if (ns_optim_kind_parse(json_string_value(v), &o) != NS_OK)
            return ns__jr_unknown_name(ps, path, "optimizer", json_string_value(v), names,
                                       NS_OPTIM_KIND_COUNT);
        snprintf(tr->optimizer, sizeof tr->optimizer, "%s", ns_optim_kind_name(o));
        return NS_OK;
    }
    case TR_LOSS: {
        const char *names[NS_LOSS_KIND_COUNT];
        for (int i = 0; i < NS_LOSS_KIND_COUNT; i++)
            names[i] = ns_loss_kind_name((ns_loss_kind)i);
        ns_loss_kind l;
        if (json_is_null(v)) { /* explicit "choose from the task" */
            tr->loss[0] = '\0';
            return NS_OK;
        }
        if (!json_is_string(v))
            return ns__jr_not_name(ps, path, v, "loss", names, NS_LOSS_KIND_COUNT);
        if (ns_loss_kind_parse(json_string_value(v), &l) != NS_OK)
            return ns__jr_unknown_name(ps, path, "loss", json_string_value(v), names,
                                       NS_LOSS_KIND_COUNT);
        snprintf(tr->loss, sizeof tr->loss, "%s", ns_loss_kind_name(l));
        return NS_OK;
    }
    case TR_WEIGHT_DECAY:
        return ns__jr_real(ps, path, v, 0.0, false, HUGE_VAL, false, "a number >= 0",
                           &tr->weight_decay);
    case TR_TASK: {
        const char *task_names[] = {ns_task_name(NS_TASK_AUTO), ns_task_name(NS_TASK_REGRESSION),
                                    ns_task_name(NS_TASK_CLASSIFICATION)};
        st = ns__jr_name(ps, path, v, "task", task_names, COUNT_OF(task_names), &k);
        if (st == NS_OK)
            tr->task = (ns_task)k;
        return st;
    }
    }
    NS_ASSERT(!"unreachable training key");
    return NS_ERR_INVALID;
}

/* ---- the short form ------------------------------------------------------------------------- */

static ns_status parse_hidden(const parser *ps, const json_t *v, ns_spec *spec)
{
    char got[NS__JR_GOT_CAP], path[32];
    if (!json_is_array(v))
        return ns__jr_fail(
            ps, "hidden_layers",
            "expected an array of positive integers (e.g. [64, 32], or [] for a linear "
            "model), got %s",
            ns__jr_describe(got, sizeof got, v));
    size_t n = json_array_size(v);
    if (n > NS__MAX_HIDDEN)
        return ns__jr_fail(
            ps, "hidden_layers",
            "at most %d hidden layers, got %zu; use the layer-list form (\"layers\") for "
            "deeper networks",
            NS__MAX_HIDDEN, n);
    for (size_t i = 0; i < n; i++) {
        ns_status st = ns__jr_int(ps, ns__jr_index(path, sizeof path, "hidden_layers", i),
                                  json_array_get(v, i), 1, "a positive integer", &spec->hidden[i]);
        if (st != NS_OK)
            return st;
    }
    spec->n_hidden = (int)n;
    return NS_OK;
}

static ns_status parse_short_key(const parser *ps, const char *key, const json_t *v, ns_spec *spec)
{
    const char *act_names[COUNT_OF(activations)];
    int which = ns__jr_find(short_keys, COUNT_OF(short_keys), key), k;
    ns_status st;
    switch (which) {
    case SHORT_MODEL_TYPE:
        /* Every alias prints as the first, canonical name. */
        st = ns__jr_name(ps, key, v, "model type", model_types, COUNT_OF(model_types), &k);
        if (st == NS_OK)
            snprintf(spec->model_type, sizeof spec->model_type, "%s", model_types[0]);
        return st;
    case SHORT_HIDDEN:
        return parse_hidden(ps, v, spec);
    case SHORT_ACTIVATION:
        for (int i = 0; i < COUNT_OF(activations); i++)
            act_names[i] = activations[i].name;
        st = ns__jr_name(ps, key, v, "activation", act_names, COUNT_OF(activations), &k);
        if (st == NS_OK) {
            spec->activation = activations[k].kind;
            spec->activation_tanh_approx = activations[k].tanh_approx;
        }
        return st;
    case SHORT_DROPOUT:
        return ns__jr_real(ps, key, v, 0.0, false, 1.0, true, "a number in [0, 1)", &spec->dropout);
    case SHORT_OUTPUT_SIZE:
        if (json_is_null(v)) { /* explicit "from the data" */
            spec->output_size = 0;
            return NS_OK;
        }
        return ns__jr_int(ps, key, v, 1, "a positive integer or null (from the data)",
                          &spec->output_size);
    default:
        NS_ASSERT(which >= SHORT_FIRST_TRAINING);
        return parse_training_value(ps, key, which - SHORT_FIRST_TRAINING, v, &spec->training);
    }
}

static ns_status parse_short(const parser *ps, json_t *root, ns_spec *spec)
{
    bool have_hidden = false;
    for (void *it = json_object_iter(root); it != NULL; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it);
        if (ns__jr_find(short_keys, COUNT_OF(short_keys), key) < 0) {
            if (ns__jr_find(layer_form_keys, COUNT_OF(layer_form_keys), key) >= 0)
                return ns__jr_fail(
                    ps, key,
                    "only the layer-list form (a spec with \"layers\") takes this key, "
                    "but this is a short-form spec; remove \"%s\" or list every layer "
                    "under \"layers\"",
                    key);
            return ns__jr_unknown_key(ps, key, key, short_keys, COUNT_OF(short_keys), top_keys,
                                      COUNT_OF(top_keys));
        }
        ns_status st = parse_short_key(ps, key, v, spec);
        if (st != NS_OK)
            return st;
        have_hidden |= strcmp(key, "hidden_layers") == 0;
    }
    /* model_type may be left out (it has one value); the network itself may not. */
    if (!have_hidden)
        return ns__jr_fail(
            ps, "",
            "missing key \"hidden_layers\"; a spec is either the short form "
            "{\"model_type\": \"deep_neural_network\", \"hidden_layers\": [64, 32], ...} "
            "([] for a linear model) or the layer-list form {\"layers\": [...]}");
    return NS_OK;
}

/* ---- the layer-list form -------------------------------------------------------------------- */

static ns_status parse_input(const parser *ps, const json_t *v, ns_spec *spec)
{
    char got[NS__JR_GOT_CAP], path[32];
    const char *want = "expected null or 1 to 3 positive integers (the per-sample shape, e.g. "
                       "[13] or [1, 28, 28])";
    if (json_is_null(v)) {
        spec->input_ndim = 0;
        return NS_OK;
    }
    if (!json_is_array(v))
        return ns__jr_fail(ps, "input", "%s, got %s", want, ns__jr_describe(got, sizeof got, v));
    size_t n = json_array_size(v);
    if (n < 1 || n > NS_MAX_DIMS - 1)
        return ns__jr_fail(ps, "input", "%s, got %zu numbers", want, n);
    for (size_t i = 0; i < n; i++) {
        ns_status st =
            ns__jr_int(ps, ns__jr_index(path, sizeof path, "input", i), json_array_get(v, i), 1,
                       "a positive integer", &spec->input_shape[i]);
        if (st != NS_OK)
            return st;
    }
    spec->input_ndim = (int)n;
    return NS_OK;
}

/* The kinds that take setting s, for "(that is a setting of X)". */
static ns_status parse_layers(const parser *ps, const json_t *v, ns_spec *spec)
{
    char got[NS__JR_GOT_CAP], path[32];
    if (!json_is_array(v))
        return ns__jr_fail(ps, "layers", "expected an array of layer objects, got %s",
                           ns__jr_describe(got, sizeof got, v));
    size_t n = json_array_size(v);
    if (n == 0)
        return ns__jr_fail(ps, "layers",
                           "expected at least one layer, e.g. [{\"type\": \"linear\", "
                           "\"units\": 1}]");
    if (n > SPEC_MAX_LAYERS)
        return ns__jr_fail(ps, "layers", "at most %d layers, got %zu", SPEC_MAX_LAYERS, n);
    if (spec->layers != NULL) /* a duplicate "layers" key is rejected by the JSON reader */
        return ns__jr_fail(ps, "layers", "given twice");
    spec->layers = ns_calloc(ps->ctx, n, sizeof *spec->layers);
    if (spec->layers == NULL)
        return NS_ERR_NOMEM;
    spec->n_layers = (int)n;
    for (size_t i = 0; i < n; i++) {
        ns_status st = ns__layer_parse(ps, ns__jr_index(path, sizeof path, "layers", i),
                                       json_array_get(v, i), &spec->layers[i]);
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

static ns_status parse_training(const parser *ps, json_t *v, ns_train_settings *tr)
{
    char got[NS__JR_GOT_CAP], path[96];
    if (!json_is_object(v))
        return ns__jr_fail(
            ps, "training",
            "expected an object such as {\"learning_rate\": 0.001, \"epochs\": 50}, got %s",
            ns__jr_describe(got, sizeof got, v));
    for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
        const char *key = json_object_iter_key(it);
        json_t *val = json_object_iter_value(it);
        ns__jr_join(path, sizeof path, "training", key);
        int which = ns__jr_find(training_keys, COUNT_OF(training_keys), key);
        if (which < 0)
            return ns__jr_unknown_key(ps, path, key, training_keys, COUNT_OF(training_keys),
                                      training_keys, COUNT_OF(training_keys));
        ns_status st = parse_training_value(ps, path, which, val, tr);
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

static ns_status parse_layer_form(const parser *ps, json_t *root, ns_spec *spec)
{
    for (void *it = json_object_iter(root); it != NULL; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it);
        ns_status st;
        switch (ns__jr_find(layer_form_keys, COUNT_OF(layer_form_keys), key)) {
        case 0:
            st = parse_input(ps, v, spec);
            break;
        case 1:
            st = parse_layers(ps, v, spec);
            break;
        case 2:
            st = parse_training(ps, v, &spec->training);
            break;
        default:
            if (ns__jr_find(training_keys, COUNT_OF(training_keys), key) >= 0)
                return ns__jr_fail(
                    ps, key,
                    "a short-form key in a layer-list spec (one with \"layers\"); move "
                    "it into \"training\": {\"%s\": ...}",
                    key);
            if (ns__jr_find(short_keys, COUNT_OF(short_keys), key) >= 0)
                return ns__jr_fail(
                    ps, key,
                    "a short-form key in a layer-list spec (one with \"layers\"); use one "
                    "form: either \"model_type\" and \"hidden_layers\", or \"layers\" "
                    "listing every layer");
            return ns__jr_unknown_key(ps, key, key, layer_form_keys, COUNT_OF(layer_form_keys),
                                      top_keys, COUNT_OF(top_keys));
        }
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

/* ---- public API ----------------------------------------------------------------------------- */

static void spec_default(ns_spec *spec, ns_ctx *ctx)
{
    memset(spec, 0, sizeof *spec);
    spec->ctx = ctx;
    spec->form = NS_SPEC_SHORT;
    snprintf(spec->model_type, sizeof spec->model_type, "%s", model_types[0]);
    spec->activation = NS_LAYER_RELU;
    training_default(&spec->training);
}

/* Turns a JSON syntax error into "SOURCE:LINE:COL: what". */
ns_status ns_spec_parse(ns_ctx *ctx, const char *json, size_t len, const char *source,
                        ns_spec **out)
{
    NS_ASSERT(ctx != NULL && out != NULL && (json != NULL || len == 0));
    *out = NULL;
    const parser ps = {ctx, source != NULL ? source : "<spec>", NS_ERR_PARSE, NULL};
    json_t *root = NULL;
    ns_status st = ns__jr_load(&ps, json, len, &root);
    if (st != NS_OK)
        return st;
    char got[NS__JR_GOT_CAP];
    if (!json_is_object(root)) {
        st = ns__jr_fail(&ps, "", "expected a JSON object at the top level, got %s",
                         ns__jr_describe(got, sizeof got, root));
        json_decref(root);
        return st;
    }
    ns_spec *spec = ns_alloc(ctx, sizeof *spec);
    if (spec == NULL) {
        json_decref(root);
        return NS_ERR_NOMEM;
    }
    spec_default(spec, ctx);
    if (json_object_get(root, "layers") != NULL) {
        spec->form = NS_SPEC_LAYERS;
        st = parse_layer_form(&ps, root, spec);
    } else {
        st = parse_short(&ps, root, spec);
    }
    json_decref(root);
    if (st != NS_OK) {
        ns_spec_free(spec);
        return st;
    }
    *out = spec;
    return NS_OK;
}

ns_status ns_spec_load(ns_ctx *ctx, const char *path, ns_spec **out)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return ns_errorf(ctx, NS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t len = 0, cap = 4096;
    char *buf = ns_alloc(ctx, cap);
    ns_status st = buf != NULL ? NS_OK : NS_ERR_NOMEM;
    while (st == NS_OK) {
        if (len == cap) {
            if (cap >= SPEC_MAX_FILE_BYTES) {
                st = ns_errorf(ctx, NS_ERR_IO, "%s: larger than %zu MiB; not a spec file?", path,
                               SPEC_MAX_FILE_BYTES >> 20);
                break;
            }
            char *bigger = ns_realloc(ctx, buf, cap * 2);
            if (bigger == NULL) {
                st = NS_ERR_NOMEM;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                st = ns_errorf(ctx, NS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == NS_OK)
        st = ns_spec_parse(ctx, buf, len, path, out);
    ns_dealloc(ctx, buf);
    return st;
}

void ns_spec_free(ns_spec *spec)
{
    if (spec == NULL)
        return;
    ns_ctx *ctx = spec->ctx;
    ns_dealloc(ctx, spec->layers);
    ns_dealloc(ctx, spec);
}

ns_status ns__spec_clone_ctx(ns_ctx *ctx, const ns_spec *spec, ns_spec **out)
{
    NS_ASSERT(ctx != NULL && spec != NULL && out != NULL);
    *out = NULL;
    ns_spec *copy = ns_alloc(ctx, sizeof *copy);
    if (copy == NULL)
        return NS_ERR_NOMEM;
    memcpy(copy, spec, sizeof *copy);
    copy->ctx = ctx;
    copy->layers = NULL;
    if (spec->n_layers > 0) {
        copy->layers = ns_alloc(ctx, (size_t)spec->n_layers * sizeof *copy->layers);
        if (copy->layers == NULL) {
            ns_dealloc(ctx, copy);
            return NS_ERR_NOMEM;
        }
        memcpy(copy->layers, spec->layers, (size_t)spec->n_layers * sizeof *copy->layers);
    }
    *out = copy;
    return NS_OK;
}

ns_status ns_spec_clone(const ns_spec *spec, ns_spec **out)
{
    NS_ASSERT(spec != NULL);
    return ns__spec_clone_ctx(spec->ctx, spec, out);
}

ns_ctx *ns_spec_ctx(const ns_spec *spec)
{
    NS_ASSERT(spec != NULL);
    return spec->ctx;
}

ns_spec_form ns_spec_get_form(const ns_spec *spec)
{
    NS_ASSERT(spec != NULL);
    return spec->form;
}

const ns_train_settings *ns_spec_training(const ns_spec *spec)
{
    NS_ASSERT(spec != NULL);
    return &spec->training;
}

int ns_spec_output_size(const ns_spec *spec)
{
    NS_ASSERT(spec != NULL);
    if (spec->form == NS_SPEC_SHORT)
        return spec->output_size;
    for (int i = spec->n_layers - 1; i >= 0; i--)
        if (spec->layers[i].kind == NS_LAYER_LINEAR)
            return spec->layers[i].units;
    return 0;
}

ns_status ns_spec_expand(const ns_spec *spec, int output_size, ns_layer_spec **out, int *count)
{
    return ns_spec_expand_input(spec, 1, output_size, out, count);
}

ns_status ns_spec_expand_input(const ns_spec *spec, int input_ndim, int output_size,
                               ns_layer_spec **out, int *count)
{
    NS_ASSERT(spec != NULL && out != NULL && count != NULL);
    *out = NULL;
    *count = 0;
    ns_ctx *ctx = spec->ctx;
    if (output_size < 0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "output size must be >= 0 (0: the spec's own), "
                         "got %d",
                         output_size);
    int own = ns_spec_output_size(spec);
    if (output_size != 0 && own != 0 && output_size != own) {
        if (spec->form == NS_SPEC_SHORT)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "the spec's output_size is %d but %d outputs were asked for; "
                             "remove output_size from the spec or set it to %d",
                             own, output_size, output_size);
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "the spec's last linear layer has %d units but %d outputs were asked "
                         "for; set its \"units\" to %d",
                         own, output_size, output_size);
    }

    if (spec->form == NS_SPEC_LAYERS) {
        NS_ASSERT(spec->n_layers > 0);
        ns_layer_spec *ls = ns_alloc(ctx, (size_t)spec->n_layers * sizeof *ls);
        if (ls == NULL)
            return NS_ERR_NOMEM;
        memcpy(ls, spec->layers, (size_t)spec->n_layers * sizeof *ls);
        *out = ls;
        *count = spec->n_layers;
        return NS_OK;
    }

    int outputs = output_size != 0 ? output_size : own;
    if (outputs == 0)
        return ns_errorf(ctx, NS_ERR_INVALID, "the spec has no output_size and none was given");
    int per_hidden = spec->dropout > 0.0 ? 3 : 2;
    /* A short-form network is a stack of linear layers: samples with more than one dimension
     * (images) are flattened first, as layer 0 (nn.Sequential(nn.Flatten(), nn.Linear, ...)),
     * so tensor names count it as the layer-list form does. */
    bool flatten = input_ndim > 1;
    int n = spec->n_hidden * per_hidden + 1 + (flatten ? 1 : 0);
    ns_layer_spec *ls = ns_alloc(ctx, (size_t)n * sizeof *ls);
    if (ls == NULL)
        return NS_ERR_NOMEM;
    int j = 0;
    if (flatten)
        ns_layer_spec_default(&ls[j++], NS_LAYER_FLATTEN);
    for (int i = 0; i < spec->n_hidden; i++) {
        ns_layer_spec_default(&ls[j], NS_LAYER_LINEAR);
        ls[j++].units = spec->hidden[i];
        ns_layer_spec_default(&ls[j], spec->activation);
        ls[j++].tanh_approx = spec->activation_tanh_approx;
        if (spec->dropout > 0.0) {
            ns_layer_spec_default(&ls[j], NS_LAYER_DROPOUT);
            ls[j++].p = spec->dropout;
        }
    }
    ns_layer_spec_default(&ls[j], NS_LAYER_LINEAR);
    ls[j++].units = outputs;
    NS_ASSERT(j == n);
    *out = ls;
    *count = n;
    return NS_OK;
}
