/* netsmith metrics: the numbers of the Evaluate card (loss, accuracy, macro precision, recall
 * and F1, confusion matrix; MSE, RMSE, MAE, R²), accumulated batch by batch in double, and the
 * table of metric names that early stopping and the command line's JSON use. */
#ifndef NETSMITH_METRICS_H
#define NETSMITH_METRICS_H

#include "netsmith/core.h"
#include "netsmith/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the name table ------------------------------------------------------------- */

/* Which task a metric belongs to. */
typedef enum ns_metric_scope {
    NS_METRIC_SCOPE_ANY = 0,        /* every task */
    NS_METRIC_SCOPE_CLASSIFICATION, /* classification only */
    NS_METRIC_SCOPE_REGRESSION      /* regression only */
} ns_metric_scope;

/* X(ID, field, higher_is_better, scope). The name ("loss", "f1_macro", ...) is the field of
 * ns_metric_values spelled as a string; these names are fixed: early stopping monitors them
 * (with a "val_" prefix for the validation set) and the CLI's --json writes them. The order
 * is the order of the JSON output. n is a count, not a quality: it is never "better". */
#define NS_METRIC_MAP(X)                                                                           \
    X(LOSS, loss, false, NS_METRIC_SCOPE_ANY)                                                      \
    X(ACCURACY, accuracy, true, NS_METRIC_SCOPE_CLASSIFICATION)                                    \
    X(PRECISION_MACRO, precision_macro, true, NS_METRIC_SCOPE_CLASSIFICATION)                      \
    X(RECALL_MACRO, recall_macro, true, NS_METRIC_SCOPE_CLASSIFICATION)                            \
    X(F1_MACRO, f1_macro, true, NS_METRIC_SCOPE_CLASSIFICATION)                                    \
    X(MSE, mse, false, NS_METRIC_SCOPE_REGRESSION)                                                 \
    X(RMSE, rmse, false, NS_METRIC_SCOPE_REGRESSION)                                               \
    X(MAE, mae, false, NS_METRIC_SCOPE_REGRESSION)                                                 \
    X(R2, r2, true, NS_METRIC_SCOPE_REGRESSION)                                                    \
    X(N, n, false, NS_METRIC_SCOPE_ANY)

typedef enum ns_metric_id {
#define NS__METRIC_ENUM(id, field, higher, scope) NS_METRIC_##id,
    NS_METRIC_MAP(NS__METRIC_ENUM)
#undef NS__METRIC_ENUM
        NS_METRIC_COUNT
} ns_metric_id;

/* Finds a metric by its exact name ("val_" prefixes are the caller's to strip). Returns
 * NS_ERR_NOTFOUND (and leaves *id unchanged) for any other name, NULL included. Pure. */
NS_API ns_status ns_metric_find(const char *name, ns_metric_id *id);
/* The metric's fixed name (a static string), or NULL for an id out of range. */
NS_API const char *ns_metric_name(ns_metric_id id);
/* Whether a larger value is better (accuracy, r2) rather than smaller (loss, mse). False for
 * n and for an id out of range. */
NS_API bool ns_metric_higher_is_better(ns_metric_id id);
/* Whether the metric is computed for the task: loss and n for every task (NS_TASK_AUTO
 * included), the others for their own task only. False for an id out of range. */
NS_API bool ns_metric_applies(ns_metric_id id, ns_task task);

/* ---- values ------------------------------------------------------------------------------ */

/* What ns_metrics_compute gives. The fields of the other task are NaN.
 *
 * Classification (C classes; K == 1 output means C = 2):
 *   accuracy         correct / n
 *   precision_macro  mean over the C classes of tp / (tp + fp); a class never predicted has
 *                    precision 0 (sklearn's zero_division=0)
 *   recall_macro     mean over the C classes of tp / (tp + fn); a class absent from the labels
 *                    has recall 0
 *   f1_macro         mean over the C classes of 2 tp / (2 tp + fp + fn), 0 when that is 0/0
 *   The means run over every class 0..C-1 the model knows, also one absent from both labels
 *   and predictions (it counts 0). sklearn's default averages only over the classes present
 *   in y_true or y_pred; ours equals sklearn's with labels=range(C), zero_division=0.
 *   A binary classifier is averaged over both classes too (sklearn's average='macro', not
 *   its default 'binary', which scores class 1 alone).
 * Regression (K outputs, every sum over samples i and outputs j of r = y - pred):
 *   mse   mean over outputs of sum_i r^2 / n (= the mean over all n K elements)
 *   rmse  sqrt(mse). sklearn's multi-output RMSE is the mean of per-output RMSEs instead; the
 *         two agree for one output.
 *   mae   mean over outputs of sum_i |r| / n
 *   r2    mean over outputs of 1 - SS_res / SS_tot (sklearn's r2_score, 'uniform_average'),
 *         where an output with SS_tot == 0 (a constant target) scores 1 if SS_res == 0 else 0
 *         (sklearn's force_finite). One sample gives SS_tot == 0.
 * Both: n (samples added) and loss (the loss_sum of every batch / n). */
typedef struct ns_metric_values {
    int64_t n;
    double loss, accuracy, precision_macro, recall_macro, f1_macro, mse, rmse, mae, r2;
    bool is_classification;
} ns_metric_values;

/* The value of metric id in v (n as a double); NaN for an id out of range. Pure. */
NS_API double ns_metric_value(const ns_metric_values *v, ns_metric_id id);

/* ---- the accumulator -------------------------------------------------------------------- */

/* Metrics accumulated over batches. Updates run sample by sample in order (a Welford mean
 * and sum of squares per output for R², compensated sums for the errors), so every metric but
 * the loss is bit-identical however the same samples are split into batches; the loss is the
 * compensated sum of the batches' loss sums. Thread safety: as its context. */
typedef struct ns_metrics ns_metrics;

/* Makes an empty accumulator for task (NS_TASK_CLASSIFICATION or NS_TASK_REGRESSION) and a
 * model with `outputs` outputs, the width K of every pred row: for classification the
 * number of classes (logits), or 1 for a binary classifier with one logit (then C = 2 and
 * class 1 is predicted when the logit is > 0); for regression the number of targets.
 * Errors: NS_ERR_INVALID for another task or outputs < 1; NS_ERR_NOMEM (nothing leaks).
 * On success *out is owned by the caller (ns_metrics_free); on failure it is NULL. */
NS_API ns_status ns_metrics_new(ns_ctx *ctx, ns_task task, int outputs, ns_metrics **out);
/* Frees the accumulator. NULL is a no-op. */
NS_API void ns_metrics_free(ns_metrics *m);
/* Forgets every sample added (e.g. at the start of an epoch); keeps task and outputs. */
NS_API void ns_metrics_reset(ns_metrics *m);

/* Adds one batch of n samples. pred[n, K]: logits for classification (the predicted class is
 * the first maximal logit; for K == 1, logit > 0), predictions for regression. y[n, K]:
 * regression targets (unused for classification, may be NULL). labels[n] in [0, C):
 * classification labels (unused for regression, may be NULL). loss_sum: the batch's summed
 * (not mean) loss, so the mean loss weighs every sample alike; pass 0 when there is none.
 * n == 0 is a no-op. Borrowed arrays are only read during the call; no allocation.
 * Errors leave the accumulator unchanged: NS_ERR_INVALID for n < 0, missing pred, targets or
 * labels, a label out of range (the message names the batch row and the sample number);
 * NS_ERR_NONFINITE for a NaN/Inf prediction or target (naming row and column) or loss_sum. */
NS_API ns_status ns_metrics_add(ns_metrics *m, const float *pred, const float *y, const int32_t *labels,
                                int n, double loss_sum);

/* Computes the metrics of every sample added so far into *out (the other task's fields NaN).
 * The accumulator is unchanged; compute may be called any number of times.
 * Errors: NS_ERR_STATE when no sample was added (*out unchanged). */
NS_API ns_status ns_metrics_compute(const ns_metrics *m, ns_metric_values *out);

/* The confusion matrix [C, C], row-major: [t * C + p] counts samples of true class t
 * predicted as p. *classes (may be NULL) receives C. Borrowed: valid until ns_metrics_free,
 * its counts change with add and reset. For regression: NULL, and *classes = 0. */
NS_API const int64_t *ns_metrics_confusion(const ns_metrics *m, int *classes);

/* The running state as a flat array of doubles, for checkpoints taken mid-epoch: counts
 * (exact below 2^53), sums and their compensations, so a restored accumulator continues
 * bit-identically. state_len gives the length (it depends only on task and outputs);
 * state_get writes it to out[state_len]. state_set restores it into an accumulator made with
 * the same task and outputs; NS_ERR_INVALID (accumulator unchanged) when n differs from
 * state_len or the counts are not non-negative integers that agree with each other. */
NS_API size_t ns_metrics_state_len(const ns_metrics *m);
NS_API void ns_metrics_state_get(const ns_metrics *m, double *out);
NS_API ns_status ns_metrics_state_set(ns_metrics *m, const double *in, size_t n);

/* ---- JSON ----------------------------------------------------------------------------------- */

/* Writes values as one JSON object on one line, with the metrics that apply to its task in
 * table order under their fixed names ({"loss": 0.25, "accuracy": 0.9, ..., "n": 200}),
 * shortest round-trip numbers (a non-finite value as null), and, when confusion is not NULL,
 * "confusion_matrix": [[...], ...] of confusion[classes, classes] (as ns_metrics_confusion
 * gives; classes >= 1). *json is allocated through ctx's hooks: free it with ns_dealloc.
 * Errors: NS_ERR_NOMEM (*json NULL, nothing leaks). */
NS_API ns_status ns_metrics_to_json(ns_ctx *ctx, const ns_metric_values *values, const int64_t *confusion,
                                    int classes, char **json);

#ifdef __cplusplus
}
#endif
#endif
