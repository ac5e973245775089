/* The model cards: Model Define, Build Model, Initialize Optimizer, Evaluate, Inference and
 * Save Model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsmith/run.h"
#include "netsmith/io.h"
#include "pipeline/pipeline_private.h"
#include "run/run_internal.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- model_define -------------------------------------------------------------------------- */

static const ns_setting_def define_settings[] = {
    {"file", NS_SETTING_STRING, "null", NULL,
     "a JSON spec file to read instead of the settings below (relative to the pipeline file)", 0,
     0},
    {"hidden_layers", NS_SETTING_LIST, "null", NULL, "units of each hidden layer (blueprint)", 0,
     0},
    {"activation", NS_SETTING_STRING, "null", NULL,
     "relu, leaky_relu, elu, gelu, silu, tanh, "
     "sigmoid (blueprint)",
     0, 0},
    {"dropout", NS_SETTING_NUMBER, "null", NULL, "dropout after each hidden layer", 0, 1},
    {"layers", NS_SETTING_ANY, "null", NULL,
     "a layer list ([{type: conv2d, filters: 32, kernel: 3}, ...]) instead of a blueprint", 0, 0},
};

/* The spec JSON of the settings: every given setting but the card's own. */
static ns_status define_spec(ns_card_call *c, ns_spec **out)
{
    ns_ctx *ctx = ns_card_ctx(c);
    if (ns_card_has(c, "file")) {
        const char *path = ns_card_input_path(c, ns_card_string(c, "file"));
        return path ? ns_spec_load(ctx, path, out)
                    : ns_errorf(ctx, NS_ERR_IO, "the spec file's path is too long");
    }
    const char *settings = ns_card_settings_json(c);
    if (settings == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory reading the settings");
    json_error_t e;
    json_t *all = json_loads(settings, 0, &e), *spec = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(all, key, v)
    {
        if (json_is_null(v) || !strcmp(key, "file"))
            continue;
        bool common = false;
        for (int i = 0; i < ns__common_setting_count; i++)
            common |= !strcmp(key, ns__common_settings[i].name);
        if (!common)
            json_object_set(spec, key, v);
    }
    json_decref(all);
    if (json_object_size(spec) == 0) {
        json_decref(spec);
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "describe the network: hidden_layers (with activation, dropout), "
                         "layers, or file");
    }
    char *text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(spec);
    if (text == NULL)
        return NS_ERR_NOMEM;
    char src[96];
    snprintf(src, sizeof src, "card '%s'", ns_card_id(c));
    ns_status st = ns_spec_parse(ctx, text, strlen(text), src, out);
    free(text);
    return st;
}

static ns_status define_check(ns_card_call *c)
{
    ns_spec *s = NULL;
    ns_status st = define_spec(c, &s);
    ns_spec_free(s);
    /* a missing spec file is reported when the card runs */
    return st == NS_ERR_IO ? NS_OK : st;
}

static ns_status define_run(ns_card_call *c)
{
    ns_spec *s = NULL;
    ns_status st = define_spec(c, &s);
    return st == NS_OK ? ns_card_out_spec(c, "model_spec", s) : st;
}

static const ns_port_def define_out[] = {
    {"model_spec", NS_VALUE_MODEL_SPEC, false, "the blueprint"},
};

/* ---- build_model ------------------------------------------------------------------------------
 */

static const ns_setting_def build_settings[] = {
    {"input_size", NS_SETTING_INT, "null", NULL, "features per sample when no data shape is wired",
     1, 1e9},
    {"output_size", NS_SETTING_INT, "null", NULL,
     "outputs (default: what the data needs, else the spec's)", 1, 1e9},
    {"seed", NS_SETTING_INT, "null", NULL,
     "initial weights and dropout (default: the pipeline's seed)", 0, 1.8e19},
    {"max_batch", NS_SETTING_INT, "256", NULL,
     "the largest batch the model will see (memory is planned for it)", 1, 1e7},
};
static const ns_port_def build_in[] = {
    {"model_spec", NS_VALUE_MODEL_SPEC, false, "the blueprint"},
    {"input_size", NS_VALUE_DATA_SHAPE, true, "the data's sample shape and outputs"},
};
static const ns_port_def build_out[] = {
    {"model", NS_VALUE_MODEL, false, "the built network with initial weights"},
};

static ns_status build_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    const ns_spec *spec = ns_value_spec(ns_card_in(c, "model_spec"));
    const ns_data_shape *shape = ns_value_data_shape(ns_card_in(c, "input_size"));
    ns_build_opts o;
    ns_build_opts_default(&o, 1);
    if (shape != NULL) {
        o.input_ndim = shape->ndim;
        memcpy(o.input_shape, shape->shape, sizeof o.input_shape);
        o.output_size = shape->outputs;
    } else if (ns_card_has(c, "input_size")) {
        o.input_shape[0] = (int)ns_card_int(c, "input_size");
    } else {
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "needs the input size: wire a data shape (in: {input_size: "
                         "split.input_size}) or set input_size");
    }
    if (ns_card_has(c, "input_size") && shape != NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "the input size is both wired and set; keep one of them");
    if (ns_card_has(c, "output_size"))
        o.output_size = (int)ns_card_int(c, "output_size");
    else if (ns_spec_output_size(spec) > 0)
        o.output_size = 0;
    o.max_batch = (int)ns_card_int(c, "max_batch");
    o.seed = ns__card_seed(c, "seed");
    ns_model *m = NULL;
    ns_status st = ns_model_build(ctx, spec, &o, &m);
    return st == NS_OK ? ns_card_out_model(c, "model", m) : st;
}

/* ---- init_optimizer ----------------------------------------------------------------------------
 */

/* The optimizer's settings are the run config's (src/run/config.c): the same names, defaults
 * and ranges as the Train card's and netsmith train's; those not given come from the model's
 * blueprint (optimizer, learning rate, weight decay), else the defaults. */
static const ns_port_def optim_in[] = {
    {"model", NS_VALUE_MODEL, false, "the model whose weights it updates"},
};
static const ns_port_def optim_out[] = {
    {"optimizer", NS_VALUE_OPTIMIZER, false, "the optimizer, bound to the model"},
};

static ns_status optim_run(ns_card_call *c)
{
    ns_value *mv = ns_card_in(c, "model");
    ns_run_config *rc = NULL;
    ns_optim_config cfg;
    ns_status st = ns__card_run_config(c, ns__run_setting_table + NS__OPTIM_SETTING_FIRST,
                                       NS__OPTIM_SETTING_COUNT, false, &rc);
    if (st == NS_OK)
        st = ns__resolve_optim(ns_card_ctx(c), rc, ns_model_spec(ns_value_model(mv)), &cfg);
    ns_run_config_free(rc);
    ns_optim *o = NULL;
    if (st == NS_OK)
        st = ns_optim_new(ns_value_model(mv), &cfg, &o);
    return st == NS_OK ? ns_card_out_optim(c, "optimizer", o, mv) : st;
}

/* ---- evaluate and inference ------------------------------------------------------------------ */

/* What a model needs to know about data to evaluate or save: task, names, normalisation.
 * Borrowed strings (no copies): do not deinit; names[cap] holds the class names. */
/* mv: the model value; the normalisation its Train card fitted applies to a dataset that has
 * none of its own (borrowed into info). */
static void info_of(const ns_dataset *ds, const ns_value *mv, ns_model_info *info, char **names,
                    int cap)
{
    memset(info, 0, sizeof *info);
    ns_norm view;
    if (!ns_dataset_normalization(ds, &view) && mv != NULL && mv->norm.kind != NS_NORM_NONE)
        info->norm = mv->norm;
    info->task = ns_dataset_task(ds);
    info->classes = ns_dataset_class_count(ds);
    info->targets = ns_dataset_target_count(ds);
    if (names != NULL && info->classes > 0 && info->classes <= cap) {
        for (int i = 0; i < info->classes; i++)
            names[i] = (char *)ns_dataset_class_name(ds, i);
        info->class_names = names;
    }
}

enum { MAX_NAMED_CLASSES = 4096 };

static const ns_setting_def eval_settings[] = {
    {"batch_size", NS_SETTING_INT, "256", NULL,
     "rows per forward pass (at most the model's max_batch)", 1, 1e7},
};
static const ns_port_def eval_in[] = {
    {"model", NS_VALUE_MODEL, false, "the trained model"},
    {"dataset", NS_VALUE_DATASET, false,
     "the rows to score: normalised as for training, or raw when the model's Train card "
     "normalised (its fit is applied)"},
};
static const ns_port_def eval_out[] = {
    {"metrics", NS_VALUE_METRICS, false,
     "loss with accuracy, precision, recall, F1 and the confusion matrix (classes), or MSE, "
     "RMSE, MAE and R2 (regression)"},
};

static ns_status eval_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_model *m = ns_value_model(ns_card_in(c, "model"));
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    ns_model_info info;
    /* the one evaluation every face uses (classes matched by name, as netsmith eval does) */
    char **class_names = ns_calloc(ctx, MAX_NAMED_CLASSES, sizeof *class_names);
    if (class_names == NULL)
        return NS_ERR_NOMEM;
    info_of(ds, ns_card_in(c, "model"), &info, class_names, MAX_NAMED_CLASSES);
    ns_metrics *acc = NULL;
    ns_status st = ns_metrics_new(ctx, info.task, ns_model_output_size(m), &acc);
    if (st == NS_OK)
        st = ns_fit_evaluate(m, &info, ds, (int)ns_card_int(c, "batch_size"), acc,
                             ns_card_progress(c));
    ns_metric_values v;
    if (st == NS_OK)
        st = ns_metrics_compute(acc, &v);
    if (st == NS_OK) {
        int classes = 0;
        const int64_t *conf = ns_metrics_confusion(acc, &classes);
        const char *names[4096];
        bool named = classes > 0 && classes <= 4096;
        for (int i = 0; named && i < classes; i++)
            names[i] = ns_dataset_class_name(ds, i);
        st = ns_card_out_metrics(c, "metrics", info.task, &v, conf ? classes : 0, conf,
                                 named && conf ? names : NULL);
    }
    ns_metrics_free(acc);
    ns_dealloc(ctx, class_names);
    return st;
}

static const ns_setting_def infer_settings[] = {
    {"probabilities", NS_SETTING_BOOL, "false", NULL,
     "classification: class probabilities instead of logits", 0, 0},
    {"path", NS_SETTING_STRING, "null", NULL,
     "also write the predictions as CSV here (as netsmith predict does), relative to the "
     "current directory",
     0, 0},
};
static const ns_port_def infer_out[] = {
    {"predictions", NS_VALUE_PREDICTIONS, false, "one row of outputs per row of the data"},
};

static ns_status infer_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_model *m = ns_value_model(ns_card_in(c, "model"));
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    ns_model_info info;
    info_of(ds, ns_card_in(c, "model"), &info, NULL, 0);
    int64_t rows = ns_dataset_rows(ds);
    int k = ns_model_output_size(m);
    bool probs = ns_card_bool(c, "probabilities");
    if (probs && info.task != NS_TASK_CLASSIFICATION)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "probabilities need a classification dataset; turn the setting off");
    const char *path = ns_card_has(c, "path") ? ns_card_string(c, "path") : NULL;
    bool cls = info.task == NS_TASK_CLASSIFICATION;
    int width = cls && k == 1 ? 2 : k;
    float *out = ns_alloc(ctx, (size_t)(rows ? rows : 1) * (size_t)k * sizeof(float));
    /* a classifier's CSV holds probabilities, so they are made whenever it is written */
    float *p = cls && (probs || path)
                   ? ns_alloc(ctx, (size_t)(rows ? rows : 1) * (size_t)width * sizeof(float))
                   : NULL;
    ns_status st = out == NULL || (cls && (probs || path) && p == NULL) ? NS_ERR_NOMEM : NS_OK;
    if (st == NS_OK)
        st = ns_fit_predict(m, &info, ds, out, p, ns_card_progress(c));
    if (st == NS_OK)
        st = ns_card_out_tensor(c, "predictions", probs ? p : out, rows, probs ? width : k);
    if (st == NS_OK && path != NULL) {
        ns_file_writer *w = NULL;
        st = ns_make_parent_dirs(ctx, path);
        if (st == NS_OK)
            st = ns_file_writer_open(ctx, path, &w);
        if (st == NS_OK) {
            ns_fit_write_predictions(ns_file_writer_stream(w), &info, ds, rows, k, out, p);
            st = ns_file_writer_commit(w); /* reports a write that failed on the way */
        }
        ns_file_writer_close(w);
    }
    ns_dealloc(ctx, out);
    ns_dealloc(ctx, p);
    return st;
}

/* ---- load_model ----------------------------------------------------------------------------- */

static const ns_setting_def load_settings[] = {
    {"path", NS_SETTING_STRING, "null", NULL,
     "the model file to read (safetensors, as netsmith writes it), relative to the pipeline file",
     0, 0},
    {"model", NS_SETTING_STRING, "null", NULL,
     "or a model in the store: NAME, NAME@VERSION or NAME@ALIAS (netsmith run --store)", 0, 0},
    {"max_batch", NS_SETTING_INT, "256", NULL,
     "the largest batch the model will see (memory is planned for it)", 1, 1e7},
};
static const ns_port_def load_out[] = {
    {"model", NS_VALUE_MODEL, false,
     "the model with its weights and its normalisation (train on from it, evaluate, predict)"},
};

static ns_status load_model_check(ns_card_call *c)
{
    if (ns_card_has(c, "path") == ns_card_has(c, "model"))
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID,
                         "give exactly one of 'path' (a model file) and 'model' (a model in the "
                         "store, NAME[@VERSION])");
    return NS_OK;
}

static ns_status load_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    char from_store[4096];
    const char *path = NULL;
    if (ns_card_has(c, "model")) {
        if (c->host == NULL || c->host->model_file == NULL)
            return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                             "model '%s' is a model in the store: run the pipeline with a store "
                             "(netsmith run --store URL), or give path, a model file",
                             ns_card_string(c, "model"));
        ns_status st = c->host->model_file(c->host->ud, ctx, ns_card_string(c, "model"), from_store,
                                           sizeof from_store);
        if (st != NS_OK)
            return st;
        path = from_store;
    } else {
        path = ns_card_input_path(c, ns_card_string(c, "path"));
    }
    if (path == NULL)
        return NS_ERR_NOMEM;
    ns_model *m = NULL;
    ns_model_info info;
    memset(&info, 0, sizeof info);
    ns_status st = ns_fit_load(ctx, path, (int)ns_card_int(c, "max_batch"), &m, &info);
    ns_value *v = NULL;
    if (st == NS_OK)
        st = ns__value_new(ctx, NS_VALUE_MODEL, &v);
    if (st == NS_OK) {
        v->u.model = m;
        m = NULL;
        snprintf(v->object, sizeof v->object, "%s", ns_card_id(c));
        st = ns__value_set_norm(ctx, v, &info.norm);
    }
    if (st == NS_OK)
        st = ns_card_out_same(c, "model", v);
    ns_value_release(v);
    ns_model_free(m);
    ns_model_info_deinit(ctx, &info);
    return st;
}

/* ---- save_model ----------------------------------------------------------------------------- */

static const ns_setting_def save_settings[] = {
    {"path", NS_SETTING_STRING, NULL, NULL,
     "the model file to write (safetensors), relative to the current directory", 0, 0},
};
static const ns_port_def save_in[] = {
    {"model", NS_VALUE_MODEL, false, "the model to write"},
    {"dataset", NS_VALUE_DATASET, true,
     "the training data: its task, class and target names and normalisation go into the file "
     "so that predict can use raw data"},
};
static const ns_port_def save_out[] = {
    {"file", NS_VALUE_FILE, false, "the path written"},
};

static ns_status save_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_model *m = ns_value_model(ns_card_in(c, "model"));
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    const char *path = ns_card_string(c, "path");
    ns_status st = ns_make_parent_dirs(ctx, path);
    if (st != NS_OK) {
        return st;
    } else if (ds == NULL) {
        st = ns_model_save(m, path, NULL, 0);
    } else {
        ns_model_info info;
        info_of(ds, ns_card_in(c, "model"), &info, NULL, 0);
        char **cn = NULL, **tn = NULL;
        if (info.task == NS_TASK_CLASSIFICATION && info.classes > 0) {
            cn = ns_calloc(ctx, (size_t)info.classes, sizeof *cn);
            for (int i = 0; cn && i < info.classes; i++)
                cn[i] = (char *)ns_dataset_class_name(ds, i);
            info.class_names = cn;
        }
        if (info.targets > 0) {
            tn = ns_calloc(ctx, (size_t)info.targets, sizeof *tn);
            for (int i = 0; tn && i < info.targets; i++)
                tn[i] = (char *)ns_dataset_target_name(ds, i);
            info.target_names = tn;
        }
        ns_norm view;
        if (ns_dataset_normalization(ds, &view))
            info.norm = view;
        /* the training data's columns, so that predict and eval read new data the same way */
        ns_model_info cols;
        memset(&cols, 0, sizeof cols);
        st = ns_model_info_columns(ctx, ds, &cols);
        info.features = cols.features;
        info.feature_names = cols.feature_names;
        info.one_hot_count = cols.one_hot_count;
        info.one_hot = cols.one_hot;
        info.target_columns = cols.target_columns;
        info.target_column_names = cols.target_column_names;
        info.input_scale = cols.input_scale;
        if (st == NS_OK)
            st = ns_fit_save(m, &info, path);
        ns_model_info_deinit(ctx, &cols);
        ns_dealloc(ctx, cn);
        ns_dealloc(ctx, tn);
    }
    return st == NS_OK ? ns_card_out_file(c, "file", path) : st;
}

const ns_card_def ns__model_cards[] = {
    {"model_define",
     "Model Define: a blueprint (hidden_layers, activation, dropout) or a layer "
     "list, or a spec file",
     NULL, 0, define_out, N(define_out), define_settings, N(define_settings), define_run,
     define_check, false, true},
    {"build_model", "Build Model: real layers with initial weights for the data's shape", build_in,
     N(build_in), build_out, N(build_out), build_settings, N(build_settings), build_run, NULL,
     false, false},
    {"init_optimizer", "Initialize Optimizer: SGD, Adam, AdamW or RMSprop bound to a model",
     optim_in, N(optim_in), optim_out, N(optim_out),
     ns__run_setting_table + NS__OPTIM_SETTING_FIRST, NS__OPTIM_SETTING_COUNT, optim_run, NULL,
     false, false},
    {"evaluate", "Evaluate: metrics of a model on a dataset (evaluation mode)", eval_in, N(eval_in),
     eval_out, N(eval_out), eval_settings, N(eval_settings), eval_run, NULL, false, false},
    {"inference", "Inference: the model's outputs for every row of a dataset", eval_in, N(eval_in),
     infer_out, N(infer_out), infer_settings, N(infer_settings), infer_run, NULL, false, false},
    {"load_model", "Load Model: reads a model file, or a model of the store, into the pipeline",
     NULL, 0, load_out, N(load_out), load_settings, N(load_settings), load_run, load_model_check,
     false, false},
    {"save_model", "Save Model: writes the model (and its data description) as safetensors",
     save_in, N(save_in), save_out, N(save_out), save_settings, N(save_settings), save_run, NULL,
     false, false},
};
const int ns__model_card_count = N(ns__model_cards);
