/* Data for a run: the read options every face shares (the Data Load card's settings, the
 * command line's flags), and data read the way a trained model takes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run_internal.h"

void ns_data_options_default(ns_data_options *opts)
{
    NS_ASSERT(opts != NULL);
    memset(opts, 0, sizeof *opts);
    opts->task = NS_TASK_AUTO;
    opts->missing = NS_MISSING_ERROR;
}

static ns_status parse_bool(ns_ctx *ctx, const char *name, const char *value, bool *out)
{
    if (!strcmp(value, "true") || !strcmp(value, "1")) {
        *out = true;
        return NS_OK;
    }
    if (!strcmp(value, "false") || !strcmp(value, "0")) {
        *out = false;
        return NS_OK;
    }
    return ns_errorf(ctx, NS_ERR_INVALID, "%s: expected true or false, got '%s'", name, value);
}

ns_status ns_data_options_set(ns_ctx *ctx, ns_data_options *opts, const char *name,
                              const char *value)
{
    NS_ASSERT(ctx != NULL && opts != NULL && name != NULL && value != NULL);
    const char **strings[] = {&opts->source, &opts->target, &opts->features, &opts->exclude,
                              &opts->labels};
    const char *string_names[] = {"source", "target", "features", "exclude", "labels"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (!strcmp(name, string_names[i])) {
            *strings[i] = value;
            return NS_OK;
        }
    if (!strcmp(name, "task")) {
        if (!strcmp(value, "classification"))
            opts->task = NS_TASK_CLASSIFICATION;
        else if (!strcmp(value, "regression"))
            opts->task = NS_TASK_REGRESSION;
        else if (!strcmp(value, "auto"))
            opts->task = NS_TASK_AUTO;
        else
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "task: expected classification, regression or auto, got '%s'",
                             value);
        return NS_OK;
    }
    if (!strcmp(name, "one_hot"))
        return parse_bool(ctx, name, value, &opts->one_hot);
    if (!strcmp(name, "no_header"))
        return parse_bool(ctx, name, value, &opts->no_header);
    if (!strcmp(name, "delimiter")) {
        if (!strcmp(value, "\\t") || !strcmp(value, "tab"))
            opts->delimiter = '\t';
        else if (strlen(value) == 1)
            opts->delimiter = value[0];
        else
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "delimiter: expected one character such as ',' ';' or tab, got "
                             "'%s'",
                             value);
        return NS_OK;
    }
    if (!strcmp(name, "missing")) {
        if (!strcmp(value, "error"))
            opts->missing = NS_MISSING_ERROR;
        else if (!strcmp(value, "drop"))
            opts->missing = NS_MISSING_DROP;
        else if (!strcmp(value, "fill_mean"))
            opts->missing = NS_MISSING_FILL_MEAN;
        else
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "missing: expected error, drop or fill_mean, got '%s'", value);
        return NS_OK;
    }
    if (!strcmp(name, "max_classes")) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno != 0 || v < 2 || v > 1000000)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "max_classes: expected an integer from 2 to 1000000, got '%s'",
                             value);
        opts->max_classes = (int)v;
        return NS_OK;
    }
    return ns_errorf(ctx, NS_ERR_NOTFOUND,
                     "no data option '%s'; the options are source, target, features, exclude, "
                     "labels, task, one_hot, delimiter, no_header, missing, max_classes",
                     name);
}

static void csv_options(const ns_data_options *o, ns_csv_options *co)
{
    ns_csv_options_default(co);
    co->delimiter = o->delimiter;
    co->no_header = o->no_header;
    co->target = o->target;
    co->features = o->features;
    co->exclude = o->exclude;
    co->task = o->task;
    co->one_hot = o->one_hot;
    co->missing = o->missing;
    if (o->max_classes > 0)
        co->max_classes = o->max_classes;
}

ns_status ns_data_open(ns_ctx *ctx, const ns_data_options *opts, const ns_progress *progress,
                       ns_dataset **data, ns_dataset **test)
{
    NS_ASSERT(ctx != NULL && opts != NULL && data != NULL);
    *data = NULL;
    if (test != NULL)
        *test = NULL;
    if (opts->source == NULL || opts->source[0] == '\0')
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "no data source: give a built-in dataset's name or a CSV, IDX or "
                         "dataset file");
    if (opts->labels != NULL)
        return ns_data_load_idx(ctx, opts->source, opts->labels, progress, data);
    ns_csv_options co;
    csv_options(opts, &co);
    return ns_data_load(ctx, opts->source, &co, progress, data, test);
}

/* ---- data for a trained model ----------------------------------------------------------------- */

/* The index of name among cols[n], or -1. */
static int find_name(char **cols, int n, const char *name)
{
    for (int j = 0; j < n; j++)
        if (strcmp(cols[j], name) == 0)
            return j;
    return -1;
}

/* The model's group holding feature j, or -1. */
static int group_of(const ns_model_info *info, int j)
{
    for (int g = 0; g < info->one_hot_count; g++)
        if (j >= info->one_hot[g].first && j < info->one_hot[g].first + info->one_hot[g].count)
            return g;
    return -1;
}

/* Appends a column to a comma-separated list: by name, or by index when the name holds a
 * comma (which a list cannot carry). */
static bool append_column(char *buf, size_t cap, size_t *used, char **cols, int n,
                          const char *name)
{
    char idx[16];
    const char *item = name;
    if (strchr(name, ',') != NULL) {
        snprintf(idx, sizeof idx, "%d", find_name(cols, n, name));
        item = idx;
    }
    int w = snprintf(buf + *used, cap - *used, "%s%s", *used ? "," : "", item);
    if (w < 0 || (size_t)w >= cap - *used)
        return false;
    *used += (size_t)w;
    return true;
}

static void list_columns(char *buf, size_t cap, char **cols, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int j = 0; j < n && used < cap; j++)
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s'", j ? ", " : "", cols[j]);
}

/* A CSV read for the model: checks the header against the model's columns, then reads only
 * those (and the target, when there is one) with one-hot on for text columns. */
static ns_status open_csv(ns_ctx *ctx, const ns_data_options *opts, const ns_model_info *info,
                          bool need_target, const ns_progress *progress, ns_dataset **loaded)
{
    ns_csv_options co;
    csv_options(opts, &co);
    char **cols = NULL;
    int n = 0;
    ns_status st = ns_data_csv_columns(ctx, opts->source, &co, &cols, &n);
    if (st != NS_OK)
        return st;
    size_t cap = 64;
    for (int j = 0; j < n; j++)
        cap += strlen(cols[j]) + 16;
    char *features = ns_alloc(ctx, cap), *target = ns_alloc(ctx, cap), *list = NULL;
    size_t fu = 0, tu = 0;
    if (features == NULL || target == NULL)
        st = NS_ERR_NOMEM;
    /* the feature columns: a plain feature by its name, a one-hot group by its column */
    for (int j = 0; st == NS_OK && j < info->features; j++) {
        int g = group_of(info, j);
        if (g >= 0 && j != info->one_hot[g].first)
            continue;
        const char *name = g >= 0 ? info->one_hot[g].column : info->feature_names[j];
        if (find_name(cols, n, name) < 0) {
            if ((list = ns_alloc(ctx, cap + 512)) == NULL) {
                st = NS_ERR_NOMEM;
                break;
            }
            list_columns(list, cap + 512, cols, n);
            st = ns_errorf(ctx, NS_ERR_NOTFOUND,
                           "%s has no column '%s' that the model takes; its columns are %s. "
                           "Give data with the model's columns (netsmith inspect lists them)",
                           opts->source, name, list);
            break;
        }
        if (!append_column(features, cap, &fu, cols, n, name))
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory listing the columns");
    }
    /* the target: the one asked for, else the model's target columns when present */
    bool has_target = opts->target != NULL;
    /* data only predicted from never reads a target (a column of placeholders, empty cells or
     * text there cannot get in the way) */
    if (st == NS_OK && !has_target && need_target && info->target_columns > 0) {
        int missing = -1;
        for (int t = 0; t < info->target_columns && missing < 0; t++)
            if (find_name(cols, n, info->target_column_names[t]) < 0)
                missing = t;
        if (missing >= 0 && need_target) {
            st = ns_errorf(ctx, NS_ERR_NOTFOUND,
                           "%s has no target column '%s' that the model was trained on; add "
                           "it, or name the target column (setting target, flag --target)",
                           opts->source, info->target_column_names[missing]);
        } else if (missing < 0) {
            for (int t = 0; t < info->target_columns; t++)
                if (!append_column(target, cap, &tu, cols, n, info->target_column_names[t]))
                    st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory listing the columns");
            has_target = true;
            co.target = target;
        }
    } else if (st == NS_OK && !has_target && need_target) {
        has_target = true; /* the last column, as in training */
    }
    if (st == NS_OK) {
        co.features = features;
        co.exclude = NULL;
        co.no_target = !has_target;
        co.one_hot = co.one_hot || info->one_hot_count > 0;
        st = ns_data_load_csv(ctx, opts->source, &co, progress, loaded);
    }
    ns_dealloc(ctx, list);
    ns_dealloc(ctx, features);
    ns_dealloc(ctx, target);
    for (int j = 0; j < n; j++)
        ns_dealloc(ctx, cols[j]);
    ns_dealloc(ctx, cols);
    return st;
}

/* ds arranged as the model takes it (ds is freed; *ds replaced). */
static ns_status arrange(const ns_data_options *opts, const ns_model_info *info, ns_dataset **ds)
{
    if (*ds == NULL)
        return NS_OK;
    bool same = info->one_hot_count == 0 && ns_dataset_feature_count(*ds) == info->features;
    for (int j = 0; same && j < info->features; j++)
        same = strcmp(ns_dataset_feature_name(*ds, j), info->feature_names[j]) == 0;
    if (same)
        return NS_OK;
    ns_dataset *out = NULL;
    ns_status st = ns_data_arrange(*ds, opts->source, (const char *const *)info->feature_names,
                                   info->features, info->one_hot, info->one_hot_count, &out);
    if (st != NS_OK)
        return st;
    ns_dataset_free(*ds);
    *ds = out;
    return NS_OK;
}

ns_status ns_data_open_for_model(ns_ctx *ctx, const ns_data_options *opts,
                                 const ns_model_info *info, bool need_target,
                                 const ns_progress *progress, ns_dataset **data,
                                 ns_dataset **test)
{
    NS_ASSERT(ctx != NULL && opts != NULL && info != NULL && data != NULL);
    *data = NULL;
    if (test != NULL)
        *test = NULL;
    ns_data_options o = *opts;
    /* read for the model's task, so an integer regression target is not taken for classes */
    if (o.task == NS_TASK_AUTO && info->task != NS_TASK_AUTO)
        o.task = info->task;
    bool named = info->features > 0 && info->feature_names != NULL;
    if (!named || o.source == NULL || o.labels != NULL ||
        ns_data_source_kind_of(o.source) != NS_DATA_SOURCE_CSV) {
        ns_status st = ns_data_open(ctx, &o, progress, data, test);
        if (st == NS_OK && named)
            st = arrange(&o, info, data);
        if (st == NS_OK && named && test != NULL)
            st = arrange(&o, info, test);
        if (st != NS_OK) {
            ns_dataset_free(*data);
            *data = NULL;
            if (test != NULL) {
                ns_dataset_free(*test);
                *test = NULL;
            }
        }
        return st;
    }
    ns_dataset *loaded = NULL;
    ns_status st = open_csv(ctx, &o, info, need_target, progress, &loaded);
    if (st == NS_OK)
        st = arrange(&o, info, &loaded);
    if (st != NS_OK) {
        ns_dataset_free(loaded);
        return st;
    }
    *data = loaded;
    return NS_OK;
}
