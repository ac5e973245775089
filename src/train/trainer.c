/* The training loop (Train card) and evaluation (Evaluate card): epochs over batches from a
 * batch source, running metrics, validation, schedules, early stopping, a non-finite guard,
 * callbacks and cancellation. All state that decides the next step is plain data (the
 * trainer state, the model, the optimizer), so a checkpoint resumes bit for bit. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core_internal.h"
#include "netsmith/metrics.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"

struct ns_trainer {
    ns_ctx *ctx;
    ns_model *model;
    ns_optim *optim;
    bool owns_optim; /* made here (else borrowed from the caller) */
    ns_train_config cfg;
    ns_task task;
    int classes;
    ns_trainer_state state;
    ns_metrics *train_acc, *val_acc;
    float *dpred; /* [max_batch, outputs] */
    float *tvals; /* [max_batch] float targets made from labels (binary bce) */
    /* early stopping and plateau monitors */
    int monitor_id;
    bool monitor_val;
    bool monitor_max;
    int plateau_id;
    bool plateau_val;
    float *best_params, *best_buffers;
    ns_epoch_report *history;
    int n_history, cap_history;
    double epoch_start; /* seconds, monotonic */
    int64_t epoch_samples;
};

static const char *const stop_names[] = {"completed", "early stopping", "stopped by a callback",
                                         "cancelled", "non-finite value"};

const char *ns_stop_reason_name(ns_stop_reason r)
{
    return (r >= 0 && r <= NS_STOP_NONFINITE) ? stop_names[r] : "unknown";
}

void ns_train_config_default(ns_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 50;
    ns_optim_config_default(&cfg->optim, NS_OPTIM_ADAM);
    ns_loss_config_default(&cfg->loss, NS_LOSS_MSE);
    ns_sched_config_default(&cfg->sched, NS_SCHED_CONSTANT);
    snprintf(cfg->early.monitor, sizeof cfg->early.monitor, "val_loss");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "val_accuracy" -> (accuracy, on validation); "loss" -> (loss, on training). */
/* What the plateau schedule watches: its own monitor, else early stopping's, else val_loss. */
static const char *plateau_monitor(const ns_train_config *cfg)
{
    return cfg->plateau_monitor[0] ? cfg->plateau_monitor
           : cfg->early.monitor[0] ? cfg->early.monitor
                                   : "val_loss";
}

static ns_status parse_monitor(ns_ctx *ctx, const char *what, const char *name, ns_task task,
                               int *id, bool *on_val)
{
    const char *metric = name;
    *on_val = false;
    if (strncmp(name, "val_", 4) == 0) {
        metric = name + 4;
        *on_val = true;
    }
    ns_metric_id m;
    if (ns_metric_find(metric, &m) != NS_OK)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "%s: unknown metric '%s'; use loss, accuracy, f1_macro, rmse, ... with "
                         "an optional val_ prefix",
                         what, name);
    if (!ns_metric_applies(m, task))
        return ns_errorf(ctx, NS_ERR_INVALID, "%s: metric '%s' does not apply to %s", what, name,
                         task == NS_TASK_CLASSIFICATION ? "classification" : "regression");
    *id = (int)m;
    return NS_OK;
}

void ns_trainer_free(ns_trainer *t)
{
    if (t == NULL)
        return;
    ns_ctx *ctx = t->ctx;
    if (t->owns_optim)
        ns_optim_free(t->optim);
    ns_metrics_free(t->train_acc);
    ns_metrics_free(t->val_acc);
    ns_dealloc(ctx, t->dpred);
    ns_dealloc(ctx, t->tvals);
    ns_dealloc(ctx, t->best_params);
    ns_dealloc(ctx, t->best_buffers);
    ns_dealloc(ctx, t->history);
    ns_dealloc(ctx, t);
}

ns_status ns_trainer_new(ns_model *model, const ns_train_config *cfg, ns_optim *optim, ns_task task,
                         int classes, ns_trainer **out)
{
    ns_ctx *ctx = ns_model_ctx(model);
    *out = NULL;
    if (cfg->epochs < 1)
        return ns_errorf(ctx, NS_ERR_INVALID, "train: epochs must be at least 1, got %d",
                         cfg->epochs);
    if (optim != NULL && ns_optim_model(optim) != model)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: the optimizer given was made for another model; make one for "
                         "this model");
    if (task != NS_TASK_REGRESSION && task != NS_TASK_CLASSIFICATION)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: the task must be regression or "
                         "classification (decide it from the data first)");
    ns_trainer *t = ns_calloc(ctx, 1, sizeof *t);
    if (t == NULL)
        return NS_ERR_NOMEM;
    t->ctx = ctx;
    t->model = model;
    t->cfg = *cfg;
    if (optim != NULL) /* a borrowed optimizer keeps its own settings */
        t->cfg.optim = *ns_optim_get_config(optim);
    t->task = task;
    t->classes = classes;
    t->state.best_epoch = -1;
    ns_status st = NS_OK;
    int outputs = ns_model_output_size(model);
    size_t mb = (size_t)ns_model_max_batch(model);
    int metric_width = outputs; /* a one-logit binary classifier has width 1 (2 classes) */

    if (cfg->early.patience > 0 || cfg->early.restore_best)
        st = parse_monitor(ctx, "early stopping monitor", cfg->early.monitor, task, &t->monitor_id,
                           &t->monitor_val);
    if (st == NS_OK) {
        int mode = cfg->early.mode;
        t->monitor_max = mode == 2 || (mode == 0 && ns_metric_higher_is_better(t->monitor_id));
        if (cfg->sched.kind == NS_SCHED_PLATEAU)
            st = parse_monitor(ctx, "plateau monitor", plateau_monitor(cfg), task, &t->plateau_id,
                               &t->plateau_val);
    }
    if (st == NS_OK && optim != NULL) {
        t->optim = optim;
    } else if (st == NS_OK) {
        st = ns_optim_new(model, &cfg->optim, &t->optim);
        t->owns_optim = st == NS_OK;
    }
    if (st == NS_OK)
        st = ns_sched_init(ctx, &t->state.sched, &cfg->sched, t->cfg.optim.lr);
    if (st == NS_OK) {
        /* a borrowed optimizer goes on at its own rate */
        if (optim == NULL)
            ns_optim_set_lr(t->optim, t->state.sched.lr);
        st = ns_metrics_new(ctx, task, metric_width, &t->train_acc);
    }
    if (st == NS_OK)
        st = ns_metrics_new(ctx, task, metric_width, &t->val_acc);
    if (st == NS_OK) {
        t->dpred = ns_alloc(ctx, mb * (size_t)outputs * sizeof(float));
        t->tvals = ns_alloc(ctx, mb * sizeof(float));
        t->cap_history = cfg->epochs;
        t->history = ns_calloc(ctx, (size_t)t->cap_history, sizeof *t->history);
        if (!t->dpred || !t->tvals || !t->history)
            st = NS_ERR_NOMEM;
    }
    if (st == NS_OK && cfg->early.restore_best) {
        size_t np = ns_model_param_count(model), nb = ns_model_buffer_count(model);
        t->best_params = ns_alloc(ctx, (np ? np : 1) * sizeof(float));
        t->best_buffers = ns_alloc(ctx, (nb ? nb : 1) * sizeof(float));
        if (!t->best_params || !t->best_buffers)
            st = NS_ERR_NOMEM;
    }
    if (st != NS_OK) {
        ns_trainer_free(t);
        return st;
    }
    *out = t;
    return NS_OK;
}

ns_model *ns_trainer_model(ns_trainer *t)
{
    return t->model;
}
ns_optim *ns_trainer_optim(ns_trainer *t)
{
    return t->optim;
}
const ns_train_config *ns_trainer_config(const ns_trainer *t)
{
    return &t->cfg;
}
ns_trainer_state *ns_trainer_get_state(ns_trainer *t)
{
    return &t->state;
}
float *ns_trainer_best_params(ns_trainer *t)
{
    return t->best_params;
}
float *ns_trainer_best_buffers(ns_trainer *t)
{
    return t->best_buffers;
}
int ns_trainer_history_count(const ns_trainer *t)
{
    return t->n_history;
}

const ns_epoch_report *ns_trainer_history(const ns_trainer *t, int i)
{
    NS_ASSERT(i >= 0 && i < t->n_history);
    return &t->history[i];
}

ns_status ns_trainer_set_history(ns_trainer *t, const ns_epoch_report *reports, int n)
{
    if (n < 0 || n > t->cap_history)
        return ns_errorf(t->ctx, NS_ERR_INVALID, "history of %d epochs does not fit %d epochs", n,
                         t->cap_history);
    if (n > 0)
        memcpy(t->history, reports, (size_t)n * sizeof *reports);
    t->n_history = n;
    return NS_OK;
}

size_t ns_trainer_epoch_state_len(const ns_trainer *t)
{
    return ns_metrics_state_len(t->train_acc);
}

void ns_trainer_epoch_state(const ns_trainer *t, double *values)
{
    ns_metrics_state_get(t->train_acc, values);
}

ns_status ns_trainer_set_epoch_state(ns_trainer *t, const double *values, size_t n)
{
    return ns_metrics_state_set(t->train_acc, values, n);
}

/* ---- one step ---------------------------------------------------------------------------------
 */

/* The loss's targets for a batch: labels for cross-entropy; float values otherwise (made in
 * tvals[n] from labels for a single-logit binary classifier). */
ns_targets ns_batch_targets(const ns_loss_config *loss, const ns_batch *b, float *tvals)
{
    ns_targets tg = {.values = b->y, .labels = b->labels};
    if (b->labels != NULL && loss->kind != NS_LOSS_CROSS_ENTROPY) {
        for (int i = 0; i < b->n; i++)
            tvals[i] = (float)b->labels[i];
        tg.values = tvals;
    }
    return tg;
}

static ns_status nonfinite(ns_trainer *t, int64_t epoch, const char *what)
{
    char why[NS__ERRMSG_CAP];
    snprintf(why, sizeof why, "%s", ns_errmsg(t->ctx));
    t->state.stopped = true;
    t->state.stop_reason = NS_STOP_NONFINITE;
    return ns_errorf(t->ctx, NS_ERR_NONFINITE,
                     "training stopped at epoch %lld, step %lld: the %s is not finite (%s); "
                     "lower the learning rate (now %g), normalise the inputs, or clip gradients",
                     (long long)epoch + 1, (long long)t->state.step + 1, what, why,
                     ns_optim_lr(t->optim));
}

/* Zero Gradients, Forward Pass, Calculate Loss, Backward Pass, Optimizer Step. */
static ns_status train_step(ns_trainer *t, const ns_batch *b, int64_t epoch, double *loss)
{
    ns_model *m = t->model;
    const float *pred = NULL;
    ns_optim_zero_grad(t->optim);
    ns_status st = ns_model_forward(m, b->x, b->n, true, &pred);
    if (st != NS_OK)
        return st;
    ns_targets tg = ns_batch_targets(&t->cfg.loss, b, t->tvals);
    st = ns_loss_compute(t->ctx, &t->cfg.loss, pred, &tg, b->n, ns_model_output_size(m), loss,
                         t->dpred);
    if (st == NS_ERR_NONFINITE || (st == NS_OK && !isfinite(*loss)))
        return nonfinite(t, epoch, "loss");
    if (st != NS_OK)
        return st;
    st = ns_metrics_add(t->train_acc, pred, b->y, b->labels, b->n,
                        t->cfg.loss.reduction == NS_REDUCE_SUM ? *loss : *loss * b->n);
    if (st != NS_OK)
        return st;
    st = ns_model_backward(m, t->dpred);
    if (st != NS_OK)
        return st;
    st = ns_optim_step(
        t->optim, (t->cfg.clip.max_norm > 0 || t->cfg.clip.max_value > 0) ? &t->cfg.clip : NULL,
        NULL);
    if (st == NS_ERR_NONFINITE)
        return nonfinite(t, epoch, "gradient");
    return st;
}

/* ---- evaluation
 * ----------------------------------------------------------------------------------- */

static ns_status eval_into(ns_model *model, const ns_loss_config *loss, const ns_batch_source *src,
                           ns_metrics *acc, float *tvals)
{
    ns_ctx *ctx = ns_model_ctx(model);
    ns_metrics_reset(acc);
    for (int64_t i = 0; i < src->batches; i++) {
        ns_batch b;
        ns_status st = src->get(src->ud, 0, i, &b);
        if (st != NS_OK)
            return st;
        const float *pred = NULL;
        st = ns_model_forward(model, b.x, b.n, false, &pred);
        if (st != NS_OK)
            return st;
        double l = 0;
        if (loss != NULL) {
            ns_targets tg = ns_batch_targets(loss, &b, tvals);
            st = ns_loss_compute(ctx, loss, pred, &tg, b.n, ns_model_output_size(model), &l, NULL);
            if (st != NS_OK)
                return st;
            if (loss->reduction == NS_REDUCE_MEAN)
                l *= b.n;
        }
        st = ns_metrics_add(acc, pred, b.y, b.labels, b.n, l);
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

ns_status ns_evaluate(ns_model *model, const ns_loss_config *loss, const ns_batch_source *src,
                      ns_metrics *acc)
{
    ns_ctx *ctx = ns_model_ctx(model);
    float *tvals = ns_alloc(ctx, (size_t)ns_model_max_batch(model) * sizeof(float));
    if (tvals == NULL)
        return NS_ERR_NOMEM;
    ns_status st = eval_into(model, loss, src, acc, tvals);
    ns_dealloc(ctx, tvals);
    return st;
}

/* ---- epochs
 * ----------------------------------------------------------------------------------------- */

static double monitored(const ns_epoch_report *r, int id, bool on_val)
{
    return ns_metric_value(on_val ? &r->val : &r->train, (ns_metric_id)id);
}

static void snapshot_best(ns_trainer *t)
{
    if (t->best_params == NULL)
        return;
    memcpy(t->best_params, ns_model_params(t->model),
           ns_model_param_count(t->model) * sizeof(float));
    memcpy(t->best_buffers, ns_model_buffers(t->model),
           ns_model_buffer_count(t->model) * sizeof(float));
}

static void restore_best(ns_trainer *t)
{
    if (t->best_params == NULL || t->state.best_epoch < 0)
        return;
    memcpy(ns_model_params(t->model), t->best_params,
           ns_model_param_count(t->model) * sizeof(float));
    memcpy(ns_model_buffers(t->model), t->best_buffers,
           ns_model_buffer_count(t->model) * sizeof(float));
}

/* After the epoch's batches: validation, the report, schedule and early stopping. */
static ns_status end_epoch(ns_trainer *t, const ns_batch_source *val, ns_epoch_report *r)
{
    ns_trainer_state *s = &t->state;
    memset(r, 0, sizeof *r);
    r->epoch = (int)s->epoch;
    r->epochs = t->cfg.epochs;
    r->step = s->step;
    r->lr = ns_optim_lr(t->optim);
    ns_status st = ns_metrics_compute(t->train_acc, &r->train);
    if (st == NS_OK && val != NULL && val->batches > 0) {
        st = eval_into(t->model, &t->cfg.loss, val, t->val_acc, t->tvals);
        if (st == NS_OK)
            st = ns_metrics_compute(t->val_acc, &r->val);
        r->has_val = st == NS_OK;
    }
    if (st != NS_OK)
        return st;
    r->seconds = now_seconds() - t->epoch_start;
    r->samples_per_second = r->seconds > 0 ? (double)r->train.n / r->seconds : 0;

    /* Schedules stepped per epoch (one-cycle steps per batch). */
    if (t->cfg.sched.kind != NS_SCHED_ONECYCLE && t->cfg.sched.kind != NS_SCHED_CONSTANT) {
        double metric =
            t->cfg.sched.kind == NS_SCHED_PLATEAU ? monitored(r, t->plateau_id, t->plateau_val) : 0;
        ns_optim_set_lr(t->optim, ns_sched_step(&s->sched, metric));
    }
    /* Early stopping (and the best weights). */
    if (t->cfg.early.patience > 0 || t->cfg.early.restore_best) {
        double v = monitored(r, t->monitor_id, t->monitor_val);
        double d = t->cfg.early.min_delta;
        bool better = s->best_epoch < 0 || (t->monitor_max ? v > s->best + d : v < s->best - d);
        if (better) {
            s->best = v;
            s->best_epoch = s->epoch;
            s->bad_epochs = 0;
            snapshot_best(t);
            r->improved = true;
        } else {
            s->bad_epochs++;
        }
    }
    if (t->n_history < t->cap_history)
        t->history[t->n_history++] = *r;
    s->epoch++;
    s->batch = 0;
    if (t->cfg.early.patience > 0 && s->bad_epochs >= t->cfg.early.patience) {
        s->stopped = true;
        s->stop_reason = NS_STOP_EARLY;
    } else if (s->epoch >= t->cfg.epochs) {
        s->stopped = true;
        s->stop_reason = NS_STOP_COMPLETED;
    }
    if (s->stopped && t->cfg.early.restore_best)
        restore_best(t);
    return NS_OK;
}

ns_status ns_trainer_run(ns_trainer *t, const ns_batch_source *train, const ns_batch_source *val,
                         const ns_train_callbacks *cb, const ns_progress *progress)
{
    ns_ctx *ctx = t->ctx;
    ns_trainer_state *s = &t->state;
    if (s->stopped)
        return NS_OK;
    if (train->batches < 1)
        return ns_errorf(ctx, NS_ERR_INVALID, "train: the training data has no batches");
    bool needs_val = ((t->cfg.early.patience > 0 || t->cfg.early.restore_best) && t->monitor_val) ||
                     (t->cfg.sched.kind == NS_SCHED_PLATEAU && t->plateau_val);
    if (needs_val && (val == NULL || val->batches < 1))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: '%s' is monitored but there is no validation data; give a "
                         "validation split or monitor a training metric such as \"loss\"",
                         t->monitor_val ? t->cfg.early.monitor : plateau_monitor(&t->cfg));
    double planned = (double)t->cfg.epochs * (double)train->batches;
    while (!s->stopped) {
        if (s->batch == 0) {
            ns_metrics_reset(t->train_acc);
        }
        t->epoch_start = now_seconds();
        for (; s->batch < train->batches;) {
            ns_batch b;
            ns_status st = train->get(train->ud, s->epoch, s->batch, &b);
            if (st != NS_OK)
                return st;
            double loss = 0;
            st = train_step(t, &b, s->epoch, &loss);
            if (st != NS_OK)
                return st;
            s->step++;
            s->batch++;
            if (t->cfg.sched.kind == NS_SCHED_ONECYCLE)
                ns_optim_set_lr(t->optim, ns_sched_step(&s->sched, 0));
            if (cb && cb->on_batch_end && !cb->on_batch_end(cb->ud, t, &b, loss)) {
                s->stopped = true;
                s->stop_reason = NS_STOP_CALLBACK;
                return NS_OK;
            }
            double done = (double)s->epoch * (double)train->batches + (double)s->batch;
            st = ns_progress_report(ctx, progress, "train", done, planned);
            if (st != NS_OK) {
                s->stop_reason = NS_STOP_CANCELLED;
                return st;
            }
        }
        ns_epoch_report r;
        ns_status st = end_epoch(t, val, &r);
        if (st != NS_OK)
            return st;
        if (cb && cb->on_epoch_end && !cb->on_epoch_end(cb->ud, t, &r) && !s->stopped) {
            s->stopped = true;
            s->stop_reason = NS_STOP_CALLBACK;
        }
    }
    return NS_OK;
}
