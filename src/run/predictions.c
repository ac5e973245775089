/* The Inference card's file: predictions as CSV (the predicted class and each class's
 * probability for a classifier, the values for a regression), named after the model's or the
 * data's classes and targets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run_internal.h"

/* Writes s as one CSV field: quoted (quotes doubled) when it holds a delimiter, a quote, a
 * line break or blanks at its ends, so any class or column name reads back unchanged. */
static void csv_field(FILE *f, const char *prefix, const char *s)
{
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") != NULL || (n > 0 && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        fprintf(f, "%s%s", prefix, s);
        return;
    }
    fputc('"', f);
    fputs(prefix, f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* The name of class c or target c: the model's, else the data's, else its number. */
static const char *output_name(char **names, int count, const ns_dataset *ds, bool cls, int c,
                               char *buf, size_t cap)
{
    if (names != NULL && c < count && names[c][0] != '\0')
        return names[c];
    const char *d = cls ? ns_dataset_class_name(ds, c) : ns_dataset_target_name(ds, c);
    if (d != NULL && d[0] != '\0')
        return d;
    snprintf(buf, cap, cls ? "%d" : "y%d", c);
    return buf;
}

/* ",<x>" with a '.' decimal point whatever the process locale. */
static void put_number(FILE *f, double x)
{
    char buf[40];
    ns__snprintf_c(buf, sizeof buf, ",%.9g", x);
    fputs(buf, f);
}

/* Where the names of the outputs come from: fixed[width] (an ns_predictions' own), or the
 * model's names[count], else the data's, else numbers (output_name). */
typedef struct namer {
    char *const *fixed;
    char **names;
    int count;
    const ns_dataset *ds;
    bool cls;
} namer;

static const char *name_of(const namer *n, int c, char *buf, size_t cap)
{
    return n->fixed != NULL ? n->fixed[c]
                            : output_name(n->names, n->count, n->ds, n->cls, c, buf, cap);
}

/* The CSV of predictions: "row,label,p_<class>,..." or "row,<target>,...". */
static void write_csv(FILE *f, const namer *nm, int width, int64_t rows, int k, const float *out,
                      const float *probs)
{
    char buf[32];
    bool cls = nm->cls;
    fputs(cls ? "row,label" : "row", f);
    for (int c = 0; c < width; c++) {
        fputc(',', f);
        csv_field(f, cls ? "p_" : "", name_of(nm, c, buf, sizeof buf));
    }
    fputc('\n', f);
    for (int64_t r = 0; r < rows; r++) {
        fprintf(f, "%lld", (long long)r);
        if (cls) {
            const float *p = probs + (size_t)r * (size_t)width;
            int best = 0;
            for (int c = 1; c < width; c++)
                best = p[c] > p[best] ? c : best;
            fputc(',', f);
            csv_field(f, "", name_of(nm, best, buf, sizeof buf));
            for (int c = 0; c < width; c++)
                put_number(f, (double)p[c]);
        } else {
            for (int c = 0; c < k; c++)
                put_number(f, (double)out[(size_t)r * (size_t)k + (size_t)c]);
        }
        fputc('\n', f);
    }
}

void ns_fit_write_predictions(FILE *f, const ns_model_info *info, const ns_dataset *ds,
                              int64_t rows, int k, const float *out, const float *probs)
{
    bool cls = info->task == NS_TASK_CLASSIFICATION;
    namer nm = {NULL, cls ? info->class_names : info->target_names,
                cls ? info->classes : info->targets, ds, cls};
    write_csv(f, &nm, cls ? (k == 1 ? 2 : k) : k, rows, k, out, probs);
}

/* ---- the Inference card's answer ---------------------------------------------------------- */

void ns_predictions_free(ns_ctx *ctx, ns_predictions *p)
{
    if (p == NULL)
        return;
    for (int c = 0; p->names != NULL && c < p->width; c++)
        ns_dealloc(ctx, p->names[c]);
    ns_dealloc(ctx, p->names);
    ns_dealloc(ctx, p->out);
    ns_dealloc(ctx, p->probs);
    ns_dealloc(ctx, p->labels);
    memset(p, 0, sizeof *p);
}

ns_status ns_fit_predictions(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                             const ns_dataset *data, const ns_progress *progress, ns_predictions *p)
{
    memset(p, 0, sizeof *p);
    int k = ns_model_output_size(model);
    ns_model_info use = *info;      /* borrowed fields; only the task's counts may differ */
    if (use.task == NS_TASK_AUTO) { /* a built model never trained: the data's task */
        use.task = ns_dataset_task(data) == NS_TASK_CLASSIFICATION ? NS_TASK_CLASSIFICATION
                                                                   : NS_TASK_REGRESSION;
        use.classes = use.task == NS_TASK_CLASSIFICATION ? (k == 1 ? 2 : k) : 0;
        use.targets = use.task == NS_TASK_CLASSIFICATION ? 0 : k;
    }
    bool cls = use.task == NS_TASK_CLASSIFICATION;
    int64_t rows = ns_dataset_rows(data);
    size_t n = (size_t)(rows > 0 ? rows : 1);
    p->task = use.task;
    p->rows = rows;
    p->outputs = k;
    p->width = cls ? (k == 1 ? 2 : k) : k;
    p->out = ns_alloc(ctx, n * (size_t)k * sizeof *p->out);
    p->names = ns_calloc(ctx, (size_t)p->width, sizeof *p->names);
    if (cls) {
        p->probs = ns_alloc(ctx, n * (size_t)p->width * sizeof *p->probs);
        p->labels = ns_alloc(ctx, n * sizeof *p->labels);
    }
    ns_status st =
        p->out == NULL || p->names == NULL || (cls && (p->probs == NULL || p->labels == NULL))
            ? ns_errorf(ctx, NS_ERR_NOMEM, "out of memory for %lld predictions", (long long)rows)
            : NS_OK;
    char **names = cls ? use.class_names : use.target_names;
    int count = cls ? use.classes : use.targets;
    for (int c = 0; st == NS_OK && c < p->width; c++) {
        char buf[32];
        p->names[c] = ns_strdup(ctx, output_name(names, count, data, cls, c, buf, sizeof buf));
        if (p->names[c] == NULL)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory naming the outputs");
    }
    if (st == NS_OK) {
        ns_ctx *mctx = ns_model_ctx(model);
        st = ns_fit_predict(model, &use, data, p->out, p->probs, progress);
        if (st != NS_OK && mctx != ctx) /* the message where the caller looks */
            ns_errorf(ctx, st, "%s", ns_errmsg(mctx));
    }
    for (int64_t r = 0; st == NS_OK && cls && r < rows; r++) {
        const float *q = p->probs + (size_t)r * (size_t)p->width;
        int best = 0;
        for (int c = 1; c < p->width; c++)
            best = q[c] > q[best] ? c : best;
        p->labels[r] = best;
    }
    if (st != NS_OK)
        ns_predictions_free(ctx, p);
    return st;
}

/* Whether the target the loader took could have been a numeric feature column: a regression
 * target, or classes that are all numbers (not text labels). */
static bool numeric_target(const ns_dataset *ds)
{
    for (int c = 0; ns_dataset_task(ds) == NS_TASK_CLASSIFICATION && c < ns_dataset_class_count(ds);
         c++) {
        const char *name = ns_dataset_class_name(ds, c);
        char *end;
        strtod(name, &end);
        if (end == name || *end != '\0')
            return false;
    }
    return true;
}

ns_status ns_fit_predictions_open(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                                  const ns_data_options *opts, const ns_progress *progress,
                                  ns_predictions *p)
{
    memset(p, 0, sizeof *p);
    ns_dataset *data = NULL, *test = NULL;
    /* read as the model was trained: its columns, categories and target (none needed) */
    ns_status st = ns_data_open_for_model(ctx, opts, info, false, progress, &data, &test);
    const ns_dataset *ds = test != NULL ? test : data;
    if (st == NS_OK && info->features == 0) {
        /* data with just the model's input columns (no target) cannot be read by position:
         * the loader always takes a target column out of the inputs, leaving one too few */
        int features = ns_dataset_feature_count(ds), targets = ns_dataset_target_count(ds);
        if (features != ns_model_input_size(model) &&
            features + targets == ns_model_input_size(model) && numeric_target(ds))
            st = ns_errorf(ctx, NS_ERR_INVALID,
                           "%s has %d columns, as many as the model's inputs, so it seems to "
                           "have no target column; the data loader always takes one (the last, "
                           "or --target COL) out of the inputs: add a placeholder target column",
                           opts->source != NULL ? opts->source : "the data", features + targets);
    }
    if (st == NS_OK)
        st = ns_fit_predictions(ctx, model, info, ds, progress, p);
    ns_dataset_free(data);
    ns_dataset_free(test);
    return st;
}

void ns_predictions_write_csv(FILE *f, const ns_predictions *p)
{
    namer nm = {p->names, NULL, 0, NULL, p->task == NS_TASK_CLASSIFICATION};
    write_csv(f, &nm, p->width, p->rows, p->outputs, p->out, p->probs);
}

/* x as a JSON number, or null when it is not finite (JSON has no NaN). */
static json_t *number(float x)
{
    return isfinite(x) ? json_real((double)x) : json_null();
}

ns_status ns_predictions_to_json(ns_ctx *ctx, const ns_predictions *p, char **json)
{
    *json = NULL;
    bool cls = p->task == NS_TASK_CLASSIFICATION;
    /* every value goes into its parent as soon as it is made (a _new call takes it also when
     * it fails), so freeing root frees all */
    json_t *root = json_object(), *names = json_array(), *preds = json_array();
    if (root == NULL) {
        json_decref(names);
        json_decref(preds);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing JSON");
    }
    const char *task = cls ? "classification" : "regression";
    bool ok = json_object_set_new(root, "task", json_string(task)) == 0;
    ok = json_object_set_new(root, cls ? "classes" : "targets", names) == 0 && ok;
    ok = json_object_set_new(root, "predictions", preds) == 0 && ok;
    for (int c = 0; ok && c < p->width; c++)
        ok = json_array_append_new(names, json_string(p->names[c])) == 0;
    for (int64_t r = 0; ok && r < p->rows; r++) {
        json_t *row = json_object(), *vals = row;
        ok = json_array_append_new(preds, row) == 0;
        if (ok && cls) {
            vals = json_object();
            ok = json_object_set_new(row, "label", json_string(p->names[p->labels[r]])) == 0 &&
                 json_object_set_new(row, "probabilities", vals) == 0;
        }
        for (int c = 0; ok && c < p->width; c++) {
            float x = cls ? p->probs[(size_t)r * (size_t)p->width + (size_t)c]
                          : p->out[(size_t)r * (size_t)p->outputs + (size_t)c];
            ok = json_object_set_new(vals, p->names[c], number(x)) == 0;
        }
    }
    char *text =
        ok ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(root);
    if (text != NULL)
        *json = ns_strdup(ctx, text);
    free(text);
    return *json != NULL ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing JSON");
}

int ns_model_info_input_columns(const ns_model_info *info, const char **names, int cap)
{
    int n = 0;
    for (int j = 0; info->feature_names != NULL && j < info->features; j++) {
        int g = -1;
        for (int h = 0; h < info->one_hot_count && g < 0; h++)
            if (j >= info->one_hot[h].first && j < info->one_hot[h].first + info->one_hot[h].count)
                g = h;
        if (g >= 0 && j != info->one_hot[g].first)
            continue;
        if (n < cap)
            names[n] = g >= 0 ? info->one_hot[g].column : info->feature_names[j];
        n++;
    }
    return n;
}
