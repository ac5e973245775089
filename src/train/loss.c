/* Calculate Loss: mse, mae (L1), huber, cross-entropy from logits (class weights, label
 * smoothing) and binary cross-entropy with logits, each with mean or sum reduction exactly as
 * torch.nn.functional in PyTorch 1.13, plus d loss / d pred. Sums are taken in double. */
#include <math.h>

#include "core/core_internal.h"
#include "netsmith/metrics.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"

void ns_loss_config_default(ns_loss_config *cfg, ns_loss_kind kind)
{
    NS_ASSERT(cfg != NULL);
    cfg->kind = kind;
    cfg->reduction = NS_REDUCE_MEAN;
    cfg->huber_delta = 1.0;
    cfg->label_smoothing = 0.0;
    cfg->class_weights = NULL;
}

/* "nan", "inf" or "-inf" for a non-finite value, for messages. */
static const char *nonfinite_name(float v)
{
    return isnan(v) ? "nan" : (v > 0.0f ? "inf" : "-inf");
}

/* Settings and shapes, before any data is read. */
static ns_status check_config(ns_ctx *ctx, const ns_loss_config *cfg, const char *name,
                              const ns_targets *targets, int batch, int outputs)
{
    if (cfg->reduction != NS_REDUCE_MEAN && cfg->reduction != NS_REDUCE_SUM)
        return ns_errorf(ctx, NS_ERR_INVALID, "loss (%s): unknown reduction %d; use mean or sum",
                         name, (int)cfg->reduction);
    if (batch <= 0 || outputs <= 0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "loss (%s): batch %d x outputs %d; both must be at least 1", name, batch,
                         outputs);
    bool ce = cfg->kind == NS_LOSS_CROSS_ENTROPY;
    if (targets == NULL || (ce ? targets->labels == NULL : targets->values == NULL))
        return ns_errorf(ctx, NS_ERR_INVALID, "loss (%s): missing targets; %s", name,
                         ce ? "cross_entropy needs integer labels[batch]"
                            : "this loss needs target values[batch, outputs]");
    /* A setting of another kind is an error rather than silently ignored: it most likely
     * means the caller meant that other loss. */
    if (cfg->kind != NS_LOSS_HUBER && cfg->huber_delta != 1.0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "loss (%s): huber_delta %g applies only to huber; leave it at 1", name,
                         cfg->huber_delta);
    if (!ce && (cfg->label_smoothing != 0.0 || cfg->class_weights != NULL))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "loss (%s): %s applies only to cross_entropy; leave it unset", name,
                         cfg->class_weights != NULL ? "class_weights" : "label_smoothing");
    if (cfg->kind == NS_LOSS_HUBER && !(cfg->huber_delta > 0.0 && isfinite(cfg->huber_delta)))
        return ns_errorf(ctx, NS_ERR_INVALID, "loss (huber): delta %g must be positive and finite",
                         cfg->huber_delta);
    if (ce && !(cfg->label_smoothing >= 0.0 && cfg->label_smoothing <= 1.0))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "loss (cross_entropy): label_smoothing %g must be in [0, 1]",
                         cfg->label_smoothing);
    if (ce && cfg->class_weights != NULL) {
        for (int c = 0; c < outputs; c++) {
            float w = cfg->class_weights[c];
            if (!(isfinite(w) && w >= 0.0f))
                return ns_errorf(ctx, NS_ERR_INVALID,
                                 "loss (cross_entropy): class weight %d is %g; class weights "
                                 "must be finite and non-negative",
                                 c, (double)w);
        }
    }
    return NS_OK;
}

/* Every prediction finite; every target finite (and in [0, 1] for bce) or every label in
 * range. Checked row by row so the message names the first bad row. */
static ns_status check_data(ns_ctx *ctx, ns_loss_kind kind, const char *name, const float *pred,
                            const ns_targets *targets, int batch, int outputs)
{
    for (int r = 0; r < batch; r++) {
        const float *pr = pred + (size_t)r * (size_t)outputs;
        for (int c = 0; c < outputs; c++)
            if (!isfinite(pr[c]))
                return ns_errorf(ctx, NS_ERR_NONFINITE,
                                 "loss (%s): row %d, column %d: prediction is %s; the model "
                                 "diverged or its input holds non-finite values (try a lower "
                                 "learning rate)",
                                 name, r, c, nonfinite_name(pr[c]));
        if (kind == NS_LOSS_CROSS_ENTROPY) {
            int32_t label = targets->labels[r];
            if (label < 0 || label >= outputs)
                return ns_errorf(ctx, NS_ERR_INVALID,
                                 "loss (cross_entropy): row %d: label %d is out of range [0, %d); "
                                 "labels are class indices and the model has %d outputs",
                                 r, (int)label, outputs, outputs);
            continue;
        }
        const float *tr = targets->values + (size_t)r * (size_t)outputs;
        for (int c = 0; c < outputs; c++) {
            if (!isfinite(tr[c]))
                return ns_errorf(ctx, NS_ERR_NONFINITE,
                                 "loss (%s): row %d, column %d: target is %s", name, r, c,
                                 nonfinite_name(tr[c]));
            if (kind == NS_LOSS_BCE && !(tr[c] >= 0.0f && tr[c] <= 1.0f))
                return ns_errorf(ctx, NS_ERR_INVALID,
                                 "loss (bce): row %d, column %d: target %g is outside [0, 1]; bce "
                                 "targets are probabilities (use cross_entropy for class labels)",
                                 r, c, (double)tr[c]);
        }
    }
    return NS_OK;
}

/* The elementwise losses on d = pred - target (or on the logit for bce): the loss of one
 * element and its derivative with respect to pred. */
static double elem_loss(const ns_loss_config *cfg, double p, double t, double *grad)
{
    double d = p - t;
    switch (cfg->kind) {
    case NS_LOSS_MSE:
        *grad = 2.0 * d;
        return d * d;
    case NS_LOSS_MAE:
        /* sign(d), 0 at d = 0 as torch's l1_loss backward */
        *grad = (d > 0.0) - (d < 0.0);
        return fabs(d);
    case NS_LOSS_HUBER: {
        double delta = cfg->huber_delta;
        if (fabs(d) < delta) {
            *grad = d;
            return 0.5 * d * d;
        }
        *grad = d > 0.0 ? delta : -delta;
        return delta * (fabs(d) - 0.5 * delta);
    }
    case NS_LOSS_BCE: {
        /* -(t log s(p) + (1 - t) log(1 - s(p))) = max(p, 0) - p t + log(1 + exp(-|p|)):
         * exp only of a non-positive number, log1p keeps the tail accurate. */
        double s = p >= 0.0 ? 1.0 / (1.0 + exp(-p)) : exp(p) / (1.0 + exp(p));
        *grad = s - t;
        return (p > 0.0 ? p : 0.0) - p * t + log1p(exp(-fabs(p)));
    }
    default:
        break;
    }
    NS_ASSERT(0 && "not an elementwise loss");
    return 0.0;
}

/* Elementwise losses: mean over every element, or the sum. */
static double loss_elementwise(const ns_loss_config *cfg, const float *pred, const float *target,
                               size_t n, float *dpred)
{
    double scale = cfg->reduction == NS_REDUCE_MEAN ? 1.0 / (double)n : 1.0;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double g;
        total += elem_loss(cfg, (double)pred[i], (double)target[i], &g);
        if (dpred != NULL)
            dpred[i] = (float)(g * scale);
    }
    return total * scale;
}

/* The divisor of cross-entropy's reduction: sum_rows w[label] for mean (the batch size without
 * class weights), 1 for sum. labels[batch]. */
static double ce_divisor(const ns_loss_config *cfg, const int32_t *labels, int batch)
{
    if (cfg->reduction == NS_REDUCE_SUM)
        return 1.0;
    if (cfg->class_weights == NULL)
        return (double)batch;
    double norm = 0.0;
    for (int r = 0; r < batch; r++)
        norm += (double)cfg->class_weights[labels[r]];
    return norm;
}

/* Cross-entropy from logits pred[batch, outputs] and labels[batch], as F.cross_entropy:
 * with log-probabilities lp, smoothing e, C classes and class weights w (all 1 without),
 * each row's loss is -sum_c q_c lp_c with q_c = (1 - e) w[y] [c = y] + e / C * w[c], and
 * the sum is divided by norm (ce_divisor: torch 1.13 normalises the smoothing term by the
 * target classes' weights too, not by the weights of every class). The gradient of a row
 * is p * sum(q) - q, p = softmax(pred). */
/* Classes per row whose exponentials the gradient reuses (beyond: computed again). */
#define CE_KEEP 64

static double loss_cross_entropy(const ns_loss_config *cfg, const float *pred,
                                 const int32_t *labels, int batch, int outputs, double norm,
                                 float *dpred)
{
    const float *w = cfg->class_weights;
    double e = cfg->label_smoothing;
    double uniform = e / outputs;
    double sum_w_all = 0.0; /* sum_c w[c]: the total mass of the smoothing term per row */
    for (int c = 0; c < outputs; c++)
        sum_w_all += w ? (double)w[c] : 1.0;

    double total = 0.0;
    for (int r = 0; r < batch; r++) {
        const float *pr = pred + (size_t)r * (size_t)outputs;
        int y = labels[r];
        double wy = w ? (double)w[y] : 1.0;
        float mx = pr[0];
        for (int c = 1; c < outputs; c++)
            if (pr[c] > mx)
                mx = pr[c];
        /* exp(pred_c - mx) once per class; the gradient reuses them (p_c = e_c / se) for
         * rows of up to CE_KEEP classes. */
        double kept[CE_KEEP];
        double se = 0.0;
        for (int c = 0; c < outputs; c++) {
            double ec = exp((double)pr[c] - (double)mx);
            if (c < CE_KEEP)
                kept[c] = ec;
            se += ec;
        }
        double lse = (double)mx + log(se); /* log sum exp: lp_c = pred_c - lse */
        double row = 0.0;
        for (int c = 0; c < outputs; c++) {
            double q = uniform * (w ? (double)w[c] : 1.0);
            if (c == y)
                q += (1.0 - e) * wy;
            row -= q * ((double)pr[c] - lse);
        }
        total += row;
        if (dpred == NULL)
            continue;
        double mass = (1.0 - e) * wy + uniform * sum_w_all; /* sum_c q_c */
        for (int c = 0; c < outputs; c++) {
            double p = c < CE_KEEP ? kept[c] / se : exp((double)pr[c] - lse);
            double q = uniform * (w ? (double)w[c] : 1.0);
            if (c == y)
                q += (1.0 - e) * wy;
            dpred[(size_t)r * (size_t)outputs + (size_t)c] = (float)((p * mass - q) / norm);
        }
    }
    return total / norm;
}

ns_status ns_loss_compute(ns_ctx *ctx, const ns_loss_config *cfg, const float *pred,
                          const ns_targets *targets, int batch, int outputs, double *loss,
                          float *dpred)
{
    NS_ASSERT(ctx != NULL && cfg != NULL && pred != NULL && loss != NULL);
    const char *name = ns_loss_kind_name(cfg->kind);
    if (name == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID, "loss: unknown kind %d", (int)cfg->kind);
    ns_status st = check_config(ctx, cfg, name, targets, batch, outputs);
    if (st == NS_OK)
        st = check_data(ctx, cfg->kind, name, pred, targets, batch, outputs);
    if (st != NS_OK)
        return st;

    if (cfg->kind != NS_LOSS_CROSS_ENTROPY) {
        *loss =
            loss_elementwise(cfg, pred, targets->values, (size_t)batch * (size_t)outputs, dpred);
        return NS_OK;
    }
    double norm = ce_divisor(cfg, targets->labels, batch);
    if (norm == 0.0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "loss (cross_entropy): every label of this batch has class weight 0, "
                         "so the weighted mean divides by zero; give those classes a positive "
                         "weight or use sum reduction");
    *loss = loss_cross_entropy(cfg, pred, targets->labels, batch, outputs, norm, dpred);
    return NS_OK;
}
