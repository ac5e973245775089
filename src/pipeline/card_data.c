/* The data cards: Data Load, Data Split, Normalize. */
#include <stdio.h>
#include <string.h>

#include "netsmith/run.h"
#include "pipeline/pipeline_private.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The shape a dataset gives a model: its sample shape and the outputs its targets need. */
static void shape_of(const ns_dataset *ds, ns_data_shape *s)
{
    memset(s, 0, sizeof *s);
    s->ndim = ns_dataset_input_shape(ds, s->shape);
    s->task = ns_dataset_task(ds);
    s->classes = ns_dataset_class_count(ds);
    s->outputs = s->task == NS_TASK_CLASSIFICATION ? s->classes : ns_dataset_target_count(ds);
}

static ns_status out_shape(ns_card_call *c, const ns_dataset *ds)
{
    ns_data_shape s;
    shape_of(ds, &s);
    return ns_card_out_data_shape(c, "input_size", &s);
}

/* ---- data_load ------------------------------------------------------------------------------ */

static const ns_setting_def load_settings[] = {
    {"source", NS_SETTING_STRING, "\"auto\"", "auto|builtin|file",
     "builtin: a built-in dataset by name; file: a CSV, IDX or saved dataset by path; auto: "
     "whichever of name and path is given",
     0, 0},
    {"name", NS_SETTING_STRING, "null", NULL,
     "a built-in dataset: boston_housing, wine, iris, breast_cancer, fashion-mnist", 0, 0},
    {"path", NS_SETTING_STRING, "null", NULL,
     "a CSV file, an IDX images file or a saved dataset (.safetensors), relative to the "
     "pipeline file",
     0, 0},
    {"dataset", NS_SETTING_STRING, "null", NULL,
     "or a dataset in the store, by name, with its own read options (netsmith run --store)", 0, 0},
    {"target", NS_SETTING_STRING, "null", NULL,
     "the target column(s) of a CSV, by name or 0-based index, comma-separated (default: the "
     "last column)",
     0, 0},
    {"features", NS_SETTING_STRING, "null", NULL,
     "the feature columns in this order (default: all but the target and excluded ones)", 0, 0},
    {"exclude", NS_SETTING_STRING, "null", NULL, "columns to leave out", 0, 0},
    {"task", NS_SETTING_STRING, "\"auto\"", "auto|regression|classification",
     "auto: text or few integer targets are classes", 0, 0},
    {"delimiter", NS_SETTING_STRING, "null", NULL, "',' ';' or '\\t' (default: detected)", 0, 0},
    {"missing", NS_SETTING_STRING, "\"error\"", "error|drop|fill_mean",
     "what to do with empty or NaN fields", 0, 0},
    {"one_hot", NS_SETTING_BOOL, "false", NULL, "turn text features into 0/1 columns", 0, 0},
    {"labels", NS_SETTING_STRING, "null", NULL,
     "an IDX labels file for IDX images, relative to the pipeline file (default: found beside "
     "the images)",
     0, 0},
    {"max_classes", NS_SETTING_INT, "20", NULL,
     "an integer target with at most this many values is a class label (task auto)", 2, 1e6},
};
static const ns_port_def load_out[] = {
    {"dataset", NS_VALUE_DATASET, false,
     "the rows (the training set when there is an "
     "official test set)"},
    {"test_dataset", NS_VALUE_DATASET, true, "the official test set, when the source has one"},
    {"input_size", NS_VALUE_DATA_SHAPE, false, "the sample shape and the outputs it needs"},
};

static ns_status load_check(ns_card_call *c)
{
    bool name = ns_card_has(c, "name"), path = ns_card_has(c, "path");
    bool registered = ns_card_has(c, "dataset");
    const char *src = ns_card_string(c, "source");
    if ((int)name + (int)path + (int)registered != 1)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID,
                         "give exactly one of 'name' (a built-in dataset), 'path' (a file) and "
                         "'dataset' (a dataset in the store)");
    if (registered)
        return NS_OK;
    if ((!strcmp(src, "builtin") && !name) || (!strcmp(src, "file") && !path))
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID, "source %s needs the setting '%s'", src,
                         !strcmp(src, "builtin") ? "name" : "path");
    const char *d = ns_card_string(c, "delimiter");
    if (ns_card_has(c, "delimiter") && strcmp(d, "\t") != 0 && strlen(d) != 1)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID,
                         "delimiter must be one character, e.g. ',' or ';'");
    if (name && ns_data_builtin_find(ns_card_string(c, "name")) == NULL) {
        const char *names[16];
        int n = ns_data_builtin_count();
        for (int i = 0; i < n && i < 16; i++)
            names[i] = ns_data_builtin(i)->name;
        char h[96];
        return ns_errorf(
            ns_card_ctx(c), NS_ERR_NOTFOUND,
            "there is no built-in dataset '%s'%s; netsmith datasets lists them",
            ns_card_string(c, "name"),
            ns__did_you_mean(h, sizeof h, ns_card_string(c, "name"), names, n < 16 ? n : 16));
    }
    return NS_OK;
}

/* A dataset in the store: its own settings, read by the run config's table. */
static ns_status open_registered(ns_card_call *c, ns_dataset **ds, ns_dataset **test)
{
    ns_ctx *ctx = ns_card_ctx(c);
    const char *name = ns_card_string(c, "dataset");
    if (c->host == NULL || c->host->dataset == NULL)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                         "dataset '%s' is a dataset in the store: run the pipeline with a store "
                         "(netsmith run --store URL), or give name or path",
                         name);
    char *settings = NULL;
    ns_status st = c->host->dataset(c->host->ud, ctx, name, &settings);
    ns_run_config *cfg = NULL;
    if (st == NS_OK)
        st = ns_run_config_new(ctx, &cfg);
    if (st == NS_OK)
        st = ns_run_config_merge(cfg, settings, name);
    ns_data_options o;
    if (st == NS_OK)
        st = ns_run_config_data_options(cfg, &o);
    if (st == NS_OK)
        st = ns_data_open(ctx, &o, ns_card_progress(c), ds, test);
    ns_run_config_free(cfg);
    ns_dealloc(ctx, settings);
    return st;
}

static ns_status load_run(ns_card_call *c)
{
    /* the options every face shares (ns_data_options), by setting name */
    ns_ctx *ctx = ns_card_ctx(c);
    if (ns_card_has(c, "dataset")) {
        ns_dataset *ds = NULL, *test = NULL;
        ns_status st = open_registered(c, &ds, &test);
        if (st != NS_OK)
            return st;
        st = out_shape(c, ds);
        if (st == NS_OK)
            st = ns_card_out_dataset(c, "dataset", ds);
        else
            ns_dataset_free(ds);
        if (test != NULL && st == NS_OK)
            st = ns_card_out_dataset(c, "test_dataset", test);
        else
            ns_dataset_free(test);
        return st;
    }
    ns_data_options o;
    ns_data_options_default(&o);
    static const char *const strings[] = {"target", "features",  "exclude",
                                          "task",   "delimiter", "missing"};
    ns_status st = NS_OK;
    for (int i = 0; st == NS_OK && i < N(strings); i++)
        if (ns_card_has(c, strings[i]))
            st = ns_data_options_set(ctx, &o, strings[i], ns_card_string(c, strings[i]));
    if (st != NS_OK)
        return st;
    o.one_hot = ns_card_bool(c, "one_hot");
    o.max_classes = (int)ns_card_int(c, "max_classes");
    char labels[4096];
    if (ns_card_has(c, "labels")) {
        const char *p = ns_card_input_path(c, ns_card_string(c, "labels"));
        if (p == NULL || strlen(p) >= sizeof labels)
            return ns_errorf(ctx, NS_ERR_IO, "the labels file's path is too long");
        memcpy(labels, p, strlen(p) + 1); /* the next ns_card_input_path reuses its buffer */
        o.labels = labels;
    }
    o.source = ns_card_has(c, "name") ? ns_card_string(c, "name")
                                      : ns_card_input_path(c, ns_card_string(c, "path"));
    if (o.source == NULL)
        return ns_errorf(ctx, NS_ERR_IO, "the data file's path is too long");
    ns_dataset *ds = NULL, *test = NULL;
    st = ns_data_open(ctx, &o, ns_card_progress(c), &ds, &test);
    if (st != NS_OK)
        return st;
    const ns_dataset *shape_src = ds;
    st = out_shape(c, shape_src);
    if (st == NS_OK)
        st = ns_card_out_dataset(c, "dataset", ds);
    else
        ns_dataset_free(ds);
    if (test != NULL) {
        if (st == NS_OK)
            st = ns_card_out_dataset(c, "test_dataset", test);
        else
            ns_dataset_free(test);
    }
    return st;
}

/* ---- data_split ---------------------------------------------------------------------------- */

static const ns_setting_def split_settings[] = {
    {"train_ratio", NS_SETTING_NUMBER, "0.8", NULL, "share of rows for training", 0, 1},
    {"val_ratio", NS_SETTING_NUMBER, "0.0", NULL, "share of rows for validation", 0, 1},
    {"test_ratio", NS_SETTING_NUMBER, "0.2", NULL,
     "share of rows for testing (ignored when an official test set is wired in)", 0, 1},
    {"random_seed", NS_SETTING_INT, "null", NULL, "the shuffle (default: the pipeline's seed)", 0,
     1.8e19},
    {"stratify", NS_SETTING_BOOL, "true", NULL,
     "keep class proportions in every part (classification)", 0, 0},
    {"normalize", NS_SETTING_STRING, "\"standard\"", "standard|minmax|none",
     "fitted on the training rows and applied to every part (the fit travels with the data "
     "into the model file), as netsmith train does; none keeps the values",
     0, 0},
};
static const ns_port_def split_in[] = {
    {"dataset", NS_VALUE_DATASET, false, "the rows to divide"},
    {"test_dataset", NS_VALUE_DATASET, true,
     "an official test set: passed on as the test part, the dataset is split into train and "
     "validation only"},
};
static const ns_port_def split_out[] = {
    {"train_dataset", NS_VALUE_DATASET, false, "the training rows"},
    {"val_dataset", NS_VALUE_DATASET, true, "the validation rows (when val_ratio > 0)"},
    {"test_dataset", NS_VALUE_DATASET, true, "the test rows (when test_ratio > 0)"},
    {"input_size", NS_VALUE_DATA_SHAPE, false, "the sample shape and the outputs it needs"},
};

static ns_status split_run(ns_card_call *c)
{
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    ns_value *official = ns_card_in(c, "test_dataset");
    ns_split_options o = {.train = ns_card_number(c, "train_ratio"),
                          .val = ns_card_number(c, "val_ratio"),
                          .test = official ? 0.0 : ns_card_number(c, "test_ratio"),
                          .seed = ns__card_seed(c, "random_seed"),
                          .no_stratify = !ns_card_bool(c, "stratify"),
                          .exact_sum = true};
    /* With an official test set the rows are divided between train and val only, in the
     * proportion of their ratios. */
    double tv = o.train + o.val;
    if (official != NULL && tv > 0.0) {
        o.train /= tv;
        o.val /= tv;
    }
    ns_dataset *tr = NULL, *va = NULL, *te = NULL, *ot = NULL;
    ns_status st = ns_data_split(ds, &o, &tr, &va, &te);
    if (st != NS_OK)
        return st;
    /* Normalize, fitted on the training part only (the default of every face). */
    ns_norm_kind kind = NS_NORM_NONE;
    ns_norm_kind_parse(ns_card_string(c, "normalize"), &kind);
    if (kind != NS_NORM_NONE) {
        ns_ctx *ctx = ns_card_ctx(c);
        ns_norm fit;
        ns_dataset **parts[] = {&tr, &va, &te};
        st = ns_norm_fit(ctx, tr, kind, &fit);
        for (int i = 0; i < 3 && st == NS_OK; i++) {
            ns_dataset *view = NULL;
            if (*parts[i] == NULL)
                continue;
            st = ns_data_normalize(*parts[i], &fit, &view);
            ns_dataset_free(*parts[i]);
            *parts[i] = view;
        }
        if (st == NS_OK && official != NULL)
            st = ns_data_normalize(ns_value_dataset(official), &fit, &ot);
        ns_norm_deinit(ctx, &fit);
        if (st != NS_OK) {
            ns_dataset_free(tr);
            ns_dataset_free(va);
            ns_dataset_free(te);
            return st;
        }
    }
    st = out_shape(c, tr);
    if (st == NS_OK)
        st = ns_card_out_dataset(c, "train_dataset", tr);
    else
        ns_dataset_free(tr);
    if (va != NULL)
        st = st == NS_OK ? ns_card_out_dataset(c, "val_dataset", va) : (ns_dataset_free(va), st);
    if (te != NULL)
        st = st == NS_OK ? ns_card_out_dataset(c, "test_dataset", te) : (ns_dataset_free(te), st);
    if (ot != NULL)
        st = st == NS_OK ? ns_card_out_dataset(c, "test_dataset", ot) : (ns_dataset_free(ot), st);
    else if (st == NS_OK && official != NULL)
        st = ns_card_out_same(c, "test_dataset", official);
    return st;
}

/* ---- normalize ---------------------------------------------------------------------------------
 */

static const ns_setting_def norm_settings[] = {
    {"method", NS_SETTING_STRING, "\"standard\"", "standard|minmax|none",
     "standard: (x - mean) / std; minmax: (x - min) / (max - min); fitted on the training rows", 0,
     0},
};
static const ns_port_def norm_in[] = {
    {"train_dataset", NS_VALUE_DATASET, false, "the rows the normalisation is fitted on"},
    {"val_dataset", NS_VALUE_DATASET, true, "normalised with the training fit"},
    {"test_dataset", NS_VALUE_DATASET, true, "normalised with the training fit"},
};
static const ns_port_def norm_out[] = {
    {"train_dataset", NS_VALUE_DATASET, false, "the training rows, normalised"},
    {"val_dataset", NS_VALUE_DATASET, true, "the validation rows, normalised"},
    {"test_dataset", NS_VALUE_DATASET, true, "the test rows, normalised"},
};

static ns_status norm_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_norm_kind kind = NS_NORM_NONE;
    ns_norm_kind_parse(ns_card_string(c, "method"), &kind);
    ns_norm fit = {0};
    ns_status st = ns_norm_fit(ctx, ns_value_dataset(ns_card_in(c, "train_dataset")), kind, &fit);
    for (int i = 0; i < N(norm_in) && st == NS_OK; i++) {
        ns_value *v = ns_card_in(c, norm_in[i].name);
        if (v == NULL)
            continue;
        ns_dataset *out = NULL;
        st = ns_data_normalize(ns_value_dataset(v), &fit, &out);
        if (st == NS_OK)
            st = ns_card_out_dataset(c, norm_out[i].name, out);
    }
    ns_norm_deinit(ctx, &fit);
    return st;
}

const ns_card_def ns__data_cards[] = {
    {"data_load", "Data Load: reads a built-in dataset, a CSV, IDX images or a saved dataset", NULL,
     0, load_out, N(load_out), load_settings, N(load_settings), load_run, load_check, false, false},
    {"data_split",
     "Data Split: divides rows into train, validation and test parts (seeded, "
     "stratified for classes)",
     split_in, N(split_in), split_out, N(split_out), split_settings, N(split_settings), split_run,
     NULL, false, false},
    {"normalize",
     "Normalize: fits a normalisation on the training rows and applies it to every "
     "part",
     norm_in, N(norm_in), norm_out, N(norm_out), norm_settings, N(norm_settings), norm_run, NULL,
     false, false},
};
const int ns__data_card_count = N(ns__data_cards);
