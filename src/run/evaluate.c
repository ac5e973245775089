/* The Evaluate and Inference cards over datasets: data normalised as the model was trained,
 * the model in evaluation mode, metrics accumulated or outputs collected. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run/run_internal.h"

/* ---- Evaluate and Inference over datasets
 * ----------------------------------------------------------- */

/* A view of data normalised as the model was trained (or data itself). */
static ns_status prepared(const ns_model *model, const ns_model_info *info, const ns_dataset *data,
                          ns_dataset **view)
{
    ns_ctx *ctx = ns_model_ctx(model);
    *view = NULL;
    if (ns_dataset_feature_count(data) != ns_model_input_size(model))
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "'%s' has %d features but the model takes %d; use data with the "
                         "model's columns",
                         ns_dataset_name(data), ns_dataset_feature_count(data),
                         ns_model_input_size(model));
    if (info->norm.kind == NS_NORM_NONE)
        return NS_OK;
    return ns_data_normalize(data, &info->norm, view);
}

/* ---- classes matched by name ---------------------------------------------------------------- */

/* Whether the data's class names are "0", "1", ...: classes known only by number (IDX
 * labels, integer CSV targets), which are then taken as the model's class indices. */
static bool numbered(const ns_dataset *ds)
{
    for (int i = 0; i < ns_dataset_class_count(ds); i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        if (strcmp(ns_dataset_class_name(ds, i), num) != 0)
            return false;
    }
    return true;
}

static void names_text(char *buf, size_t cap, char **names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
}

/* Whether every class name of the model is a whole number ("0", "1", ...). */
static bool names_numbered(const ns_model_info *info)
{
    for (int j = 0; j < info->classes; j++) {
        const char *p = info->class_names[j];
        if (*p == '-')
            p++;
        if (*p == '\0')
            return false;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    return true;
}

ns_status ns_fit_class_map(ns_ctx *ctx, const ns_model_info *info, const ns_dataset *ds,
                           int32_t *map, bool *identity)
{
    int dc = ns_dataset_class_count(ds);
    *identity = true;
    bool by_name = info->class_names != NULL;
    for (int i = 0; by_name && i < dc; i++) {
        map[i] = -1;
        for (int j = 0; j < info->classes && map[i] < 0; j++)
            if (strcmp(ns_dataset_class_name(ds, i), info->class_names[j]) == 0)
                map[i] = j;
        /* by number only where the model's classes have names that are not numbers and the
         * data's are numbers; a class a numbered model does not know is refused */
        if (map[i] < 0 && (!numbered(ds) || names_numbered(info))) {
            char names[512];
            names_text(names, sizeof names, info->class_names, info->classes);
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "'%s' has the class '%s', which the model does not know (its "
                             "classes: %s); use data labelled with the model's classes",
                             ns_dataset_name(ds), ns_dataset_class_name(ds, i), names);
        }
        by_name = map[i] >= 0;
    }
    if (!by_name) {
        if (dc > info->classes)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "'%s' has %d classes but the model knows %d; use data labelled "
                             "with the model's classes",
                             ns_dataset_name(ds), dc, info->classes);
        for (int i = 0; i < dc; i++)
            map[i] = i;
    }
    for (int i = 0; i < dc; i++)
        *identity = *identity && map[i] == i;
    return NS_OK;
}

/* A batch source over a batcher that renumbers the labels through map. */
typedef struct relabel {
    ns_batcher *b;
    const int32_t *map;
    int32_t *labels; /* [max batch] */
} relabel;

static ns_status relabel_get(void *ud, int64_t epoch, int64_t index, ns_batch *out)
{
    relabel *r = ud;
    ns_status st = ns_batcher_get(r->b, epoch, index, out);
    if (st != NS_OK)
        return st;
    for (int i = 0; i < out->n; i++)
        r->labels[i] = r->map[out->labels[i]];
    out->labels = r->labels;
    return NS_OK;
}

/* A batch source that reports each batch to a progress hook (which can cancel). */
typedef struct reporting {
    ns_batch_source inner;
    ns_ctx *ctx;
    const ns_progress *progress;
    const char *stage;
} reporting;

static ns_status reporting_get(void *ud, int64_t epoch, int64_t index, ns_batch *out)
{
    reporting *r = ud;
    ns_status st =
        ns_progress_report(r->ctx, r->progress, r->stage, (double)index, (double)r->inner.batches);
    return st == NS_OK ? r->inner.get(r->inner.ud, epoch, index, out) : st;
}

ns_status ns_fit_evaluate(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                          int batch, ns_metrics *acc, const ns_progress *progress)
{
    ns_ctx *ctx = ns_model_ctx(model);
    ns_dataset *view = NULL;
    ns_batcher *b = NULL;
    int32_t *map = NULL;
    relabel r = {NULL, NULL, NULL};
    ns_status st = prepared(model, info, data, &view);
    if (st == NS_OK && info->task == NS_TASK_CLASSIFICATION &&
        ns_dataset_task(data) != NS_TASK_CLASSIFICATION)
        st = ns_errorf(ctx, NS_ERR_INVALID,
                       "'%s' has a continuous target but the model is a classifier",
                       ns_dataset_name(data));
    if (st == NS_OK && info->task == NS_TASK_REGRESSION &&
        ns_dataset_task(data) == NS_TASK_CLASSIFICATION)
        st = ns_errorf(ctx, NS_ERR_INVALID,
                       "'%s' has class labels but the model is a regression; load the data "
                       "with the task set to regression",
                       ns_dataset_name(data));
    if (st == NS_OK && info->task == NS_TASK_REGRESSION &&
        ns_dataset_target_count(data) != ns_model_output_size(model))
        st = ns_errorf(ctx, NS_ERR_SHAPE,
                       "'%s' has %d target column%s but the model predicts %d; give the "
                       "model's target columns",
                       ns_dataset_name(data), ns_dataset_target_count(data),
                       ns_dataset_target_count(data) == 1 ? "" : "s", ns_model_output_size(model));
    if (st != NS_OK)
        goto done;
    ns_batch_options bo = {.batch_size = batch > 0 && batch <= ns_model_max_batch(model)
                                             ? batch
                                             : ns_model_max_batch(model),
                           .no_shuffle = true};
    st = ns_batcher_new(view ? view : data, &bo, &b);
    if (st != NS_OK)
        goto done;
    ns_loss_config lc;
    int outputs = ns_model_output_size(model);
    ns_loss_config_default(&lc, ns__default_loss(info->task, outputs));
    ns_batch_source src = ns__batcher_source(b);
    if (info->task == NS_TASK_CLASSIFICATION) {
        int dc = ns_dataset_class_count(data);
        bool identity = true;
        map = ns_alloc(ctx, (size_t)(dc > 0 ? dc : 1) * sizeof *map);
        st = map ? ns_fit_class_map(ctx, info, data, map, &identity) : NS_ERR_NOMEM;
        if (st == NS_OK && !identity) {
            r = (relabel){b, map, ns_alloc(ctx, (size_t)bo.batch_size * sizeof *r.labels)};
            src = (ns_batch_source){ns_batcher_count(b), relabel_get, &r};
            if (r.labels == NULL)
                st = NS_ERR_NOMEM;
        }
        if (st != NS_OK)
            goto done;
    }
    reporting rep = {src, ctx, progress, "evaluate"};
    ns_batch_source reported = {src.batches, reporting_get, &rep};
    st = ns_evaluate(model, &lc, progress ? &reported : &src, acc);
    if (st == NS_OK)
        st =
            ns_progress_report(ctx, progress, "evaluate", (double)src.batches, (double)src.batches);
done:
    ns_model_forget_forward(model);
    ns_dealloc(ctx, r.labels);
    ns_dealloc(ctx, map);
    ns_batcher_free(b);
    ns_dataset_free(view);
    return st;
}

ns_status ns_fit_predict(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                         float *out, float *probs, const ns_progress *progress)
{
    ns_dataset *view = NULL;
    ns_batcher *b = NULL;
    ns_status st = prepared(model, info, data, &view);
    ns_batch_options bo = {.batch_size = ns_model_max_batch(model), .no_shuffle = true};
    if (st == NS_OK)
        st = ns_batcher_new(view ? view : data, &bo, &b);
    int k = ns_model_output_size(model);
    int64_t row = 0;
    for (int64_t i = 0; st == NS_OK && i < ns_batcher_count(b); i++) {
        ns_batch batch;
        const float *y = NULL;
        st = ns_batcher_get(b, 0, i, &batch);
        if (st == NS_OK)
            st = ns_model_forward(model, batch.x, batch.n, false, &y);
        if (st != NS_OK)
            break;
        memcpy(out + (size_t)row * (size_t)k, y, (size_t)batch.n * (size_t)k * sizeof(float));
        if (probs != NULL && info->task == NS_TASK_CLASSIFICATION) {
            if (k == 1) {
                for (int n = 0; n < batch.n; n++) {
                    float p = 1.0f / (1.0f + expf(-y[n]));
                    probs[(size_t)(row + n) * 2] = 1.0f - p;
                    probs[(size_t)(row + n) * 2 + 1] = p;
                }
            } else {
                ns_softmax_forward(probs + (size_t)row * (size_t)k, y, batch.n, k);
            }
        }
        row += batch.n;
        st = ns_progress_report(ns_model_ctx(model), progress, "predict", (double)(i + 1),
                                (double)ns_batcher_count(b));
    }
    ns_model_forget_forward(model);
    ns_batcher_free(b);
    ns_dataset_free(view);
    return st;
}

ns_status ns_fit_evaluate_file(ns_ctx *ctx, const char *path, const ns_data_options *opts,
                               const ns_progress *progress, ns_model **model, ns_model_info *info,
                               ns_dataset **data, ns_metrics **acc)
{
    *model = NULL;
    *data = NULL;
    *acc = NULL;
    memset(info, 0, sizeof *info);
    ns_dataset *all = NULL, *test = NULL;
    ns_status st = ns_fit_load(ctx, path, 0, model, info);
    if (st == NS_OK)
        st = ns_data_open_for_model(ctx, opts, info, true, progress, &all, &test);
    const ns_dataset *ds = test != NULL ? test : all;
    if (st == NS_OK && info->task == NS_TASK_AUTO) { /* built, never trained: the data's task */
        int outputs = ns_model_output_size(*model);
        info->task = ns_dataset_task(ds);
        info->classes = info->task == NS_TASK_CLASSIFICATION ? (outputs == 1 ? 2 : outputs) : 0;
        info->targets = info->task == NS_TASK_CLASSIFICATION ? 0 : outputs;
    }
    if (st == NS_OK)
        st = ns_metrics_new(ctx, info->task, ns_model_output_size(*model), acc);
    if (st == NS_OK) /* classes matched to the model's by name */
        st = ns_fit_evaluate(*model, info, ds, 0, *acc, progress);
    if (st != NS_OK) {
        ns_metrics_free(*acc);
        *acc = NULL;
        ns_dataset_free(all);
        ns_dataset_free(test);
        ns_model_info_deinit(ctx, info);
        ns_model_free(*model);
        *model = NULL;
        return st;
    }
    if (test != NULL) {
        ns_dataset_free(all);
        *data = test;
    } else {
        *data = all;
    }
    return NS_OK;
}
