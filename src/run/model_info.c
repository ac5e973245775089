/* Model files with their data description: task, class labels, target names and the
 * normalisation fit, kept in the safetensors __metadata__ next to the weights. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "run/run_internal.h"

#define META_TASK "netsmith.task"
#define META_LABELS "netsmith.labels"
#define META_TARGETS "netsmith.targets"
#define META_NORM "netsmith.norm"
/* The training data's columns (added later; older files lack them): */
#define META_FEATURES "netsmith.features"             /* ["CRIM", "ZN", ...] */
#define META_ONE_HOT "netsmith.one_hot"               /* [{"column", "first", "values"}, ...] */
#define META_TARGET_COLUMNS "netsmith.target_columns" /* ["MEDV"] */
#define META_INPUT_SCALE "netsmith.input_scale"       /* 0.00392156886 (bytes -> [0, 1]) */

void ns_model_info_deinit(ns_ctx *ctx, ns_model_info *info)
{
    ns__free_strings(ctx, info->class_names, info->classes);
    ns__free_strings(ctx, info->target_names, info->targets);
    ns_norm_deinit(ctx, &info->norm);
    ns__free_strings(ctx, info->feature_names, info->features);
    for (int g = 0; info->one_hot != NULL && g < info->one_hot_count; g++) {
        ns_dealloc(ctx, info->one_hot[g].column);
        ns__free_strings(ctx, info->one_hot[g].values, info->one_hot[g].count);
    }
    ns_dealloc(ctx, info->one_hot);
    ns__free_strings(ctx, info->target_column_names, info->target_columns);
    memset(info, 0, sizeof *info);
}

/* A JSON array of strings, allocated on ctx. */
static ns_status names_json(ns_ctx *ctx, char **names, int n, char **out)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(names && names[i] ? names[i] : ""));
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(a);
    *out = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return *out ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing names");
}

ns_status ns__model_info_meta(ns_ctx *ctx, const ns_model_info *info, ns_st_meta *meta, int *n,
                              char **owned)
{
    /* owned[0..2] receive the strings to free: labels, targets, norm */
    *n = 0;
    meta[(*n)++] = (ns_st_meta){META_TASK, info->task == NS_TASK_CLASSIFICATION ? "classification"
                                                                                 : "regression"};
    ns_status st = NS_OK;
    if (info->task == NS_TASK_CLASSIFICATION) {
        st = names_json(ctx, info->class_names, info->classes, &owned[0]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_LABELS, owned[0]};
    } else {
        st = names_json(ctx, info->target_names, info->targets, &owned[1]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_TARGETS, owned[1]};
    }
    if (st == NS_OK && info->norm.kind != NS_NORM_NONE) {
        st = ns_norm_to_json(ctx, &info->norm, &owned[2]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_NORM, owned[2]};
    }
    return st;
}

static ns_status dumped(ns_ctx *ctx, json_t *j, char **out)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    *out = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return *out ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing the metadata");
}

ns_status ns__model_info_meta_columns(ns_ctx *ctx, const ns_model_info *info, ns_st_meta *meta,
                                      int *n, char **owned)
{
    *n = 0;
    ns_status st = NS_OK;
    if (info->features > 0 && info->feature_names != NULL) {
        st = names_json(ctx, info->feature_names, info->features, &owned[0]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_FEATURES, owned[0]};
    }
    if (st == NS_OK && info->one_hot_count > 0) {
        json_t *a = json_array();
        for (int g = 0; a && g < info->one_hot_count; g++) {
            const ns_one_hot_column *h = &info->one_hot[g];
            json_t *values = json_array();
            for (int v = 0; values && v < h->count; v++)
                json_array_append_new(values, json_string(h->values[v]));
            json_t *o = values ? json_pack("{s:s, s:I, s:o}", "column", h->column, "first",
                                           (json_int_t)h->first, "values", values)
                               : NULL;
            if (o == NULL || json_array_append_new(a, o) != 0) {
                json_decref(a);
                a = NULL;
            }
        }
        st = dumped(ctx, a, &owned[1]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_ONE_HOT, owned[1]};
    }
    if (st == NS_OK && info->target_columns > 0 && info->target_column_names != NULL) {
        st = names_json(ctx, info->target_column_names, info->target_columns, &owned[2]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_TARGET_COLUMNS, owned[2]};
    }
    if (st == NS_OK && info->input_scale > 0.0f) {
        char num[32];
        ns__snprintf_c(num, sizeof num, "%.9g", (double)info->input_scale); /* reads back exactly */
        if ((owned[3] = ns_strdup(ctx, num)) == NULL)
            st = NS_ERR_NOMEM;
        else
            meta[(*n)++] = (ns_st_meta){META_INPUT_SCALE, owned[3]};
    }
    return st;
}

ns_status ns_fit_save(ns_model *model, const ns_model_info *info, const char *path)
{
    ns_ctx *ctx = ns_model_ctx(model);
    ns_st_meta meta[8];
    char *owned[7] = {NULL};
    int n = 0, m = 0;
    ns_status st = ns__model_info_meta(ctx, info, meta, &n, owned);
    if (st == NS_OK)
        st = ns__model_info_meta_columns(ctx, info, meta + n, &m, owned + 3);
    if (st == NS_OK)
        st = ns_model_save(model, path, meta, n + m);
    for (int i = 0; i < 7; i++)
        ns_dealloc(ctx, owned[i]);
    return st;
}

static ns_status parse_names(ns_ctx *ctx, const char *path, const char *key, const char *text,
                             char ***names, int *count)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err);
    if (a == NULL || !json_is_array(a)) {
        json_decref(a);
        return ns_errorf(ctx, NS_ERR_FORMAT, "%s: __metadata__.%s must be a JSON list of names",
                         path, key);
    }
    size_t n = json_array_size(a);
    char **out = ns_calloc(ctx, n ? n : 1, sizeof *out);
    ns_status st = out ? NS_OK : NS_ERR_NOMEM;
    for (size_t i = 0; st == NS_OK && i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s == NULL)
            st = ns_errorf(ctx, NS_ERR_FORMAT, "%s: __metadata__.%s[%zu] is not a string", path,
                           key, i);
        else if ((out[i] = ns_strdup(ctx, s)) == NULL)
            st = NS_ERR_NOMEM;
    }
    json_decref(a);
    if (st != NS_OK) {
        ns__free_strings(ctx, out, (int)n);
        return st;
    }
    *names = out;
    *count = (int)n;
    return NS_OK;
}

/* The one-hot groups of META_ONE_HOT, checked against the feature names. */
static ns_status parse_one_hot(ns_ctx *ctx, const char *path, const char *text,
                               ns_model_info *info)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err);
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    ns_status st = NS_OK;
    if (!json_is_array(a) || info->feature_names == NULL)
        st = ns_errorf(ctx, NS_ERR_FORMAT,
                       "%s: __metadata__." META_ONE_HOT " must be a JSON list of {\"column\", "
                       "\"first\", \"values\"} objects (beside " META_FEATURES ")",
                       path);
    if (st == NS_OK && (info->one_hot = ns_calloc(ctx, n ? n : 1, sizeof *info->one_hot)) == NULL)
        st = NS_ERR_NOMEM;
    for (size_t g = 0; st == NS_OK && g < n; g++) {
        json_t *o = json_array_get(a, g), *values = json_object_get(o, "values");
        const char *column = json_string_value(json_object_get(o, "column"));
        json_t *first = json_object_get(o, "first");
        ns_one_hot_column *h = &info->one_hot[g];
        info->one_hot_count = (int)g + 1;
        if (column == NULL || !json_is_integer(first) || !json_is_array(values) ||
            json_object_size(o) != 3) {
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: __metadata__." META_ONE_HOT "[%zu] must be {\"column\": name, "
                           "\"first\": index, \"values\": [...]}",
                           path, g);
            break;
        }
        size_t count = json_array_size(values);
        json_int_t at = json_integer_value(first);
        if ((h->column = ns_strdup(ctx, column)) == NULL ||
            (h->values = ns_calloc(ctx, count ? count : 1, sizeof *h->values)) == NULL) {
            st = NS_ERR_NOMEM;
            break;
        }
        h->first = at >= 0 && at <= info->features ? (int)at : -1;
        h->count = (int)count;
        if (h->first < 0 || (json_int_t)count > info->features - at)
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: __metadata__." META_ONE_HOT "[%zu] ('%s') lies outside the %d "
                           "features",
                           path, g, column, info->features);
        for (size_t v = 0; st == NS_OK && v < count; v++) {
            const char *value = json_string_value(json_array_get(values, v));
            const char *name = info->feature_names[h->first + (int)v];
            size_t cl = strlen(column);
            if (value == NULL || strncmp(name, column, cl) != 0 || name[cl] != '=' ||
                strcmp(name + cl + 1, value) != 0)
                st = ns_errorf(ctx, NS_ERR_FORMAT,
                               "%s: __metadata__." META_ONE_HOT "[%zu].values[%zu] does not "
                               "match feature %d ('%s')",
                               path, g, v, h->first + (int)v, name);
            else if ((h->values[v] = ns_strdup(ctx, value)) == NULL)
                st = NS_ERR_NOMEM;
        }
    }
    json_decref(a);
    return st;
}

/* The training data's columns, when the file has them. */
static ns_status read_columns(ns_ctx *ctx, const ns_st_file *f, const char *path,
                              const ns_model *model, ns_model_info *info)
{
    const char *features = ns_st_meta_find(f, META_FEATURES);
    const char *one_hot = ns_st_meta_find(f, META_ONE_HOT);
    const char *targets = ns_st_meta_find(f, META_TARGET_COLUMNS);
    const char *scale = ns_st_meta_find(f, META_INPUT_SCALE);
    ns_status st = NS_OK;
    if (features != NULL) {
        st = parse_names(ctx, path, META_FEATURES, features, &info->feature_names,
                         &info->features);
        if (st == NS_OK && info->features != ns_model_input_size(model))
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: __metadata__." META_FEATURES " names %d features but the model "
                           "takes %d",
                           path, info->features, ns_model_input_size(model));
    }
    if (st == NS_OK && one_hot != NULL)
        st = parse_one_hot(ctx, path, one_hot, info);
    if (st == NS_OK && targets != NULL)
        st = parse_names(ctx, path, META_TARGET_COLUMNS, targets, &info->target_column_names,
                         &info->target_columns);
    /* the columns must fit the model: one label column for a classifier, one column per output
     * for a regression; no name twice, no target among the features */
    int want = info->task == NS_TASK_CLASSIFICATION ? 1 : ns_model_output_size(model);
    if (st == NS_OK && targets != NULL && info->target_columns != want)
        st = ns_errorf(ctx, NS_ERR_FORMAT,
                       "%s: __metadata__." META_TARGET_COLUMNS " names %d column%s but the "
                       "model's %s needs %d",
                       path, info->target_columns, info->target_columns == 1 ? "" : "s",
                       info->task == NS_TASK_CLASSIFICATION ? "label" : "outputs", want);
    for (int i = 0; st == NS_OK && info->feature_names && i < info->features; i++) {
        for (int j = 0; st == NS_OK && j < i; j++)
            if (strcmp(info->feature_names[i], info->feature_names[j]) == 0)
                st = ns_errorf(ctx, NS_ERR_FORMAT,
                               "%s: __metadata__." META_FEATURES " names '%s' twice", path,
                               info->feature_names[i]);
        for (int t = 0; st == NS_OK && info->target_column_names && t < info->target_columns; t++)
            if (strcmp(info->feature_names[i], info->target_column_names[t]) == 0)
                st = ns_errorf(ctx, NS_ERR_FORMAT,
                               "%s: __metadata__: '%s' is both a feature and a target column",
                               path, info->feature_names[i]);
    }
    for (int t = 0; st == NS_OK && info->target_column_names && t < info->target_columns; t++)
        for (int u = 0; st == NS_OK && u < t; u++)
            if (strcmp(info->target_column_names[t], info->target_column_names[u]) == 0)
                st = ns_errorf(ctx, NS_ERR_FORMAT,
                               "%s: __metadata__." META_TARGET_COLUMNS " names '%s' twice", path,
                               info->target_column_names[t]);
    if (st == NS_OK && scale != NULL) {
        char *end;
        double v = ns__strtod(scale, &end);
        if (end == scale || *end != '\0' || !(v > 0.0) || v > 1e30)
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: __metadata__." META_INPUT_SCALE " must be a positive number, "
                           "got '%s'",
                           path, scale);
        info->input_scale = (float)v;
    }
    return st;
}

ns_status ns__model_info_read(ns_ctx *ctx, const ns_st_file *f, const char *path,
                              const ns_model *model, ns_model_info *info)
{
    memset(info, 0, sizeof *info);
    const char *task = ns_st_meta_find(f, META_TASK);
    const char *labels = ns_st_meta_find(f, META_LABELS);
    const char *targets = ns_st_meta_find(f, META_TARGETS);
    const char *norm = ns_st_meta_find(f, META_NORM);
    ns_status st = NS_OK;
    if (task == NULL)
        info->task = ns_spec_training(ns_model_spec(model))->task;
    else if (strcmp(task, "classification") == 0)
        info->task = NS_TASK_CLASSIFICATION;
    else if (strcmp(task, "regression") == 0)
        info->task = NS_TASK_REGRESSION;
    else
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "%s: __metadata__." META_TASK " must be classification or regression, "
                         "got '%s'",
                         path, task);
    if (labels != NULL)
        st = parse_names(ctx, path, META_LABELS, labels, &info->class_names, &info->classes);
    if (st == NS_OK && targets != NULL)
        st = parse_names(ctx, path, META_TARGETS, targets, &info->target_names, &info->targets);
    if (st == NS_OK && norm != NULL) {
        char source[512];
        snprintf(source, sizeof source, "%s: __metadata__." META_NORM, path);
        st = ns_norm_from_json(ctx, norm, source, &info->norm);
        if (st == NS_OK && info->norm.features != ns_model_input_size(model))
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: the normalisation has %d features but the model takes %d", path,
                           info->norm.features, ns_model_input_size(model));
    }
    if (st == NS_OK)
        st = read_columns(ctx, f, path, model, info);
    int outputs = ns_model_output_size(model);
    if (st == NS_OK && info->task == NS_TASK_CLASSIFICATION && info->classes == 0)
        info->classes = outputs == 1 ? 2 : outputs;
    if (st == NS_OK && info->task != NS_TASK_CLASSIFICATION && info->targets == 0)
        info->targets = outputs;
    if (st != NS_OK)
        ns_model_info_deinit(ctx, info);
    return st;
}

/* The model and info of an open file (named name in messages); f is the caller's. */
static ns_status fit_from_file(ns_ctx *ctx, ns_st_file *f, const char *name, int max_batch,
                               ns_model **model, ns_model_info *info)
{
    ns_status st = ns__model_from_file(ctx, f, name, max_batch, model);
    if (st == NS_OK)
        st = ns__model_info_read(ctx, f, name, *model, info);
    if (st != NS_OK) {
        ns_model_free(*model);
        *model = NULL;
    }
    return st;
}

ns_status ns_fit_load(ns_ctx *ctx, const char *path, int max_batch, ns_model **model,
                      ns_model_info *info)
{
    *model = NULL;
    memset(info, 0, sizeof *info);
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st == NS_OK)
        st = fit_from_file(ctx, f, path, max_batch, model, info);
    ns_st_close(f);
    return st;
}

ns_status ns_fit_load_buffer(ns_ctx *ctx, const void *buf, size_t len, const char *name,
                             int max_batch, ns_model **model, ns_model_info *info)
{
    *model = NULL;
    memset(info, 0, sizeof *info);
    if (name == NULL)
        name = "(buffer)";
    ns_st_file *f = NULL;
    ns_status st = ns_st_parse(ctx, buf, len, name, &f);
    if (st == NS_OK)
        st = fit_from_file(ctx, f, name, max_batch, model, info);
    ns_st_close(f);
    return st;
}

static ns_status copy_names(ns_ctx *ctx, int n, const char *(*get)(const ns_dataset *, int),
                            const ns_dataset *ds, char ***out)
{
    *out = ns_calloc(ctx, (size_t)(n > 0 ? n : 1), sizeof **out);
    if (*out == NULL)
        return NS_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const char *name = get(ds, i);
        if (((*out)[i] = ns_strdup(ctx, name ? name : "")) == NULL)
            return NS_ERR_NOMEM;
    }
    return NS_OK;
}

ns_status ns__norm_copy(ns_ctx *ctx, const ns_norm *src, ns_norm *dst)
{
    memset(dst, 0, sizeof *dst);
    if (src->kind == NS_NORM_NONE || src->features <= 0)
        return NS_OK;
    size_t bytes = (size_t)src->features * sizeof(float);
    dst->shift = ns_alloc(ctx, bytes);
    dst->scale = ns_alloc(ctx, bytes);
    if (dst->shift == NULL || dst->scale == NULL) {
        ns_norm_deinit(ctx, dst);
        return NS_ERR_NOMEM;
    }
    memcpy(dst->shift, src->shift, bytes);
    memcpy(dst->scale, src->scale, bytes);
    dst->kind = src->kind;
    dst->features = src->features;
    return NS_OK;
}

ns_status ns_model_info_from(ns_ctx *ctx, const ns_fit_result *r, const ns_dataset *ds,
                             ns_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->task = r->task;
    ns_status st = ns__norm_copy(ctx, &r->norm, &info->norm);
    if (st == NS_OK && r->task == NS_TASK_CLASSIFICATION) {
        info->classes = r->classes;
        st = copy_names(ctx, info->classes, ns_dataset_class_name, ds, &info->class_names);
    } else if (st == NS_OK) {
        info->targets = ns_dataset_target_count(ds);
        st = copy_names(ctx, info->targets, ns_dataset_target_name, ds, &info->target_names);
    }
    if (st == NS_OK)
        st = ns_model_info_columns(ctx, ds, info);
    if (st != NS_OK)
        ns_model_info_deinit(ctx, info);
    return st;
}

ns_status ns_model_info_columns(ns_ctx *ctx, const ns_dataset *ds, ns_model_info *info)
{
    int nf = ns_dataset_feature_count(ds);
    info->input_scale = ns_dataset_byte_scale(ds);
    ns_status st = NS_OK;
    bool named = info->input_scale == 0.0f && nf > 0; /* float columns have names */
    for (int j = 0; named && j < nf; j++)
        named = ns_dataset_feature_name(ds, j)[0] != '\0';
    if (named) {
        st = copy_names(ctx, nf, ns_dataset_feature_name, ds, &info->feature_names);
        info->features = info->feature_names ? nf : 0;
    }
    int groups = info->features > 0 ? ns_dataset_one_hot_count(ds) : 0;
    if (st == NS_OK && groups > 0) {
        if ((info->one_hot = ns_calloc(ctx, (size_t)groups, sizeof *info->one_hot)) == NULL)
            st = NS_ERR_NOMEM;
        for (int g = 0; st == NS_OK && g < groups; g++) {
            ns_one_hot_column *h = &info->one_hot[g];
            int first = 0, width = 0;
            const char *column = ns_dataset_one_hot(ds, g, &first, &width);
            info->one_hot_count = g + 1;
            h->column = ns_strdup(ctx, column);
            h->values = ns_calloc(ctx, (size_t)(width > 0 ? width : 1), sizeof *h->values);
            if (h->column == NULL || h->values == NULL) {
                st = NS_ERR_NOMEM;
                break;
            }
            h->first = first;
            h->count = width;
            size_t cl = strlen(column);
            for (int v = 0; st == NS_OK && v < width; v++) {
                const char *name = ns_dataset_feature_name(ds, first + v);
                if ((h->values[v] = ns_strdup(ctx, strlen(name) > cl ? name + cl + 1 : "")) ==
                    NULL)
                    st = NS_ERR_NOMEM;
            }
        }
    }
    int nt = ns_dataset_target_count(ds);
    if (st == NS_OK && nt > 0) {
        st = copy_names(ctx, nt, ns_dataset_target_name, ds, &info->target_column_names);
        info->target_columns = info->target_column_names ? nt : 0;
    }
    return st;
}
