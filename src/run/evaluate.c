/* The Evaluate and Inference cards over datasets: data normalised as the model was trained,
 * the model in evaluation mode, metrics accumulated or outputs collected. */
#include <math.h>
#include <string.h>

#include "run/run_internal.h"

/* ---- Evaluate and Inference over datasets ----------------------------------------------------------- */

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

ns_status ns_fit_evaluate(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                          int batch, ns_metrics *acc)
{
    ns_ctx *ctx = ns_model_ctx(model);
    ns_dataset *view = NULL;
    ns_batcher *b = NULL;
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
    ns_loss_config_default(&lc, info->task == NS_TASK_CLASSIFICATION
                                    ? (outputs == 1 ? NS_LOSS_BCE : NS_LOSS_CROSS_ENTROPY)
                                    : NS_LOSS_MSE);
    ns_batch_source src = ns__batcher_source(b);
    st = ns_evaluate(model, &lc, &src, acc);
done:
    ns_model_forget_forward(model);
    ns_batcher_free(b);
    ns_dataset_free(view);
    return st;
}

ns_status ns_fit_predict(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                         float *out, float *probs)
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
    }
    ns_model_forget_forward(model);
    ns_batcher_free(b);
    ns_dataset_free(view);
    return st;
}
