/* The Train card over datasets: settings resolved from options, spec and data; task and
 * output inference; normalisation fitted on the training part; batchers; the training loop;
 * checkpoints and exact resume. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/run_internal.h"

#define DEFAULT_EVAL_BATCH 256

void ns_fit_result_free(ns_ctx *ctx, ns_fit_result *r)
{
    if (r == NULL)
        return;
    if (!r->borrowed)
        ns_model_free(r->model);
    ns_norm_deinit(ctx, &r->norm);
    ns_dealloc(ctx, r->history);
    ns_dealloc(ctx, r->settings_json);
    ns_dealloc(ctx, r->transfer_json);
    memset(r, 0, sizeof *r);
}

/* ---- batch sources over batchers ------------------------------------------------------------ */

static ns_status batcher_get(void *ud, int64_t epoch, int64_t index, ns_batch *out)
{
    return ns_batcher_get(ud, epoch, index, out);
}

ns_batch_source ns__batcher_source(ns_batcher *b)
{
    ns_batch_source s = {b ? ns_batcher_count(b) : 0, batcher_get, b};
    return s;
}

/* ---- settings
 * ------------------------------------------------------------------------------------- */

typedef struct resolved {
    ns_task task;
    int classes, outputs;
    ns_train_config train;
    int batch_size, eval_batch;
    bool shuffle, drop_last;
    uint64_t seed;
    ns_norm_kind normalize;
    ns_loss_kind loss;
    ns_optim_kind optim;
    const char *checkpoint_dir;
    int checkpoint_epochs;
    int64_t checkpoint_steps;
    bool resume;
    bool new_head; /* training on from a model: a new last layer for another output size */
    int n_freeze;  /* layers whose weights stay as they are */
    int freeze[64];
    int prefetch;
} resolved;

/* The loss a task takes when none is named: cross-entropy for class labels (bce for one
 * logit), mse otherwise. */
ns_loss_kind ns__default_loss(ns_task task, int outputs)
{
    if (task != NS_TASK_CLASSIFICATION)
        return NS_LOSS_MSE;
    return outputs == 1 ? NS_LOSS_BCE : NS_LOSS_CROSS_ENTROPY;
}

static ns_task read_task(const ns_run_config *cfg)
{
    const char *t = ns_run_config_string(cfg, "task");
    return strcmp(t, "classification") == 0 ? NS_TASK_CLASSIFICATION
           : strcmp(t, "regression") == 0   ? NS_TASK_REGRESSION
                                            : NS_TASK_AUTO;
}

/* The schedule: its kind with PyTorch's defaults, the defaults for a run of `epochs` epochs,
 * then the settings given. */
static ns_status read_schedule(ns_ctx *ctx, const ns_run_config *cfg, int epochs,
                               ns_sched_config *s)
{
    ns_sched_kind k;
    const char *name = ns_run_config_string(cfg, "schedule");
    if (ns_sched_kind_parse(name, &k) != NS_OK)
        return ns_errorf(ctx, NS_ERR_INVALID, "schedule: unknown schedule '%s'", name);
    ns_sched_config_default(s, k);
    if (k == NS_SCHED_COSINE)
        s->t_max = epochs;
    if (k == NS_SCHED_STEP)
        s->step_size = epochs / 3 > 0 ? epochs / 3 : 1;
    if (k == NS_SCHED_WARMUP)
        s->total_iters = epochs / 10 > 0 ? epochs / 10 : 1;
#define INT_IF(name, field)                                                                        \
    if (ns_run_config_has(cfg, name))                                                              \
        s->field = (int)ns_run_config_int(cfg, name);
#define NUM_IF(name, field)                                                                        \
    if (ns_run_config_has(cfg, name))                                                              \
        s->field = ns_run_config_number(cfg, name);
    INT_IF("step_size", step_size)
    NUM_IF("gamma", gamma)
    INT_IF("t_max", t_max)
    NUM_IF("eta_min", eta_min)
    NUM_IF("start_factor", start_factor)
    NUM_IF("end_factor", end_factor)
    INT_IF("total_iters", total_iters)
    NUM_IF("max_lr", max_lr)
    INT_IF("total_steps", total_steps)
    NUM_IF("pct_start", pct_start)
    NUM_IF("div_factor", div_factor)
    NUM_IF("final_div_factor", final_div_factor)
    NUM_IF("plateau_factor", factor)
    INT_IF("plateau_patience", patience)
    NUM_IF("threshold", threshold)
    INT_IF("cooldown", cooldown)
    NUM_IF("min_lr", min_lr)
#undef INT_IF
#undef NUM_IF
    if (ns_run_config_has(cfg, "anneal_strategy"))
        s->anneal_linear = strcmp(ns_run_config_string(cfg, "anneal_strategy"), "linear") == 0;
    double ms[NS_SCHED_MAX_MILESTONES];
    int n = ns_run_config_list(cfg, "milestones", ms, NS_SCHED_MAX_MILESTONES);
    if (n > 0) {
        s->n_milestones = n;
        for (int i = 0; i < n; i++)
            s->milestones[i] = (int)ms[i];
    }
    return NS_OK;
}

/* The optimizer's settings: each from the run config when given, else the blueprint's
 * (optimizer, learning rate, weight decay), else PyTorch's defaults for the kind. */
ns_status ns__resolve_optim(ns_ctx *ctx, const ns_run_config *cfg, const ns_spec *spec,
                            ns_optim_config *q)
{
    const ns_train_settings *ts = ns_spec_training(spec);
    const char *name = ns_run_config_has(cfg, "optimizer") ? ns_run_config_string(cfg, "optimizer")
                       : ts->optimizer[0]                  ? ts->optimizer
                                                           : "adam";
    ns_optim_kind kind;
    if (ns_optim_kind_parse(name, &kind) != NS_OK)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: unknown optimizer '%s'; use sgd, adam, adamw or rmsprop", name);
    ns_optim_config_default(q, kind);
    q->lr = ns_run_config_has(cfg, "learning_rate") ? ns_run_config_number(cfg, "learning_rate")
                                                    : ts->learning_rate;
    /* an explicit weight_decay is kept (0 included); adamw's default 0.01 stands only for a
     * blueprint that says 0 */
    if (ns_run_config_has(cfg, "weight_decay"))
        q->weight_decay = ns_run_config_number(cfg, "weight_decay");
    else if (ts->weight_decay > 0 || kind != NS_OPTIM_ADAMW)
        q->weight_decay = ts->weight_decay;
    if (ns_run_config_has(cfg, "momentum"))
        q->momentum = ns_run_config_number(cfg, "momentum");
    if (ns_run_config_has(cfg, "dampening"))
        q->dampening = ns_run_config_number(cfg, "dampening");
    if (ns_run_config_has(cfg, "nesterov"))
        q->nesterov = ns_run_config_bool(cfg, "nesterov");
    double betas[2];
    if (ns_run_config_has(cfg, "betas") && ns_run_config_list(cfg, "betas", betas, 2) == 2) {
        q->beta1 = betas[0];
        q->beta2 = betas[1];
    }
    if (ns_run_config_has(cfg, "eps"))
        q->eps = ns_run_config_number(cfg, "eps");
    if (ns_run_config_has(cfg, "amsgrad"))
        q->amsgrad = ns_run_config_bool(cfg, "amsgrad");
    if (ns_run_config_has(cfg, "alpha"))
        q->alpha = ns_run_config_number(cfg, "alpha");
    if (ns_run_config_has(cfg, "centered"))
        q->centered = ns_run_config_bool(cfg, "centered");
    return NS_OK;
}

/* model_outputs: the outputs of the model given (0 for a blueprint): a two-class model with
 * one output trains with bce unless a loss is named. */
static ns_status resolve(ns_ctx *ctx, const ns_spec *spec, const ns_dataset *train,
                         const ns_run_config *cfg, int model_outputs, resolved *r)
{
    const ns_train_settings *ts = ns_spec_training(spec);
    memset(r, 0, sizeof *r);
    ns_task data_task = ns_dataset_task(train), asked = read_task(cfg);
    r->task = asked != NS_TASK_AUTO ? asked : ts->task != NS_TASK_AUTO ? ts->task : data_task;
    if (r->task == NS_TASK_CLASSIFICATION && data_task != NS_TASK_CLASSIFICATION)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: the task is classification but '%s' has a continuous target; "
                         "load it with the task set to classification, or train a regression",
                         ns_dataset_name(train));
    if (r->task == NS_TASK_REGRESSION && data_task == NS_TASK_CLASSIFICATION)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: the task is regression but '%s' has class labels; load it with "
                         "the task set to regression to treat the labels as numbers",
                         ns_dataset_name(train));
    const char *loss =
        ns_run_config_has(cfg, "loss") ? ns_run_config_string(cfg, "loss") : ts->loss;
    if (loss[0] == '\0')
        r->loss =
            ns__default_loss(r->task, r->task == NS_TASK_CLASSIFICATION && model_outputs == 1 &&
                                              ns_dataset_class_count(train) == 2
                                          ? 1
                                          : 0);
    else if (ns_loss_kind_parse(loss, &r->loss) != NS_OK)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: unknown loss '%s'; use mse, mae, huber, cross_entropy or bce",
                         loss);
    bool cls_loss = r->loss == NS_LOSS_CROSS_ENTROPY || r->loss == NS_LOSS_BCE;
    if (r->task == NS_TASK_CLASSIFICATION && !cls_loss)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: loss %s does not fit a classification target; use "
                         "cross_entropy (or bce for two classes)",
                         ns_loss_kind_name(r->loss));
    if (r->task == NS_TASK_REGRESSION && r->loss == NS_LOSS_CROSS_ENTROPY)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: cross_entropy needs class labels but the target is continuous");
    if (r->task == NS_TASK_CLASSIFICATION) {
        r->classes = ns_dataset_class_count(train);
        if (r->loss == NS_LOSS_BCE && r->classes != 2)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "train: bce needs two classes but the target has %d; use "
                             "cross_entropy",
                             r->classes);
        r->outputs = r->loss == NS_LOSS_BCE ? 1 : r->classes;
    } else {
        r->outputs = ns_dataset_target_count(train);
    }
    ns_train_config *c = &r->train;
    ns_train_config_default(c);
    c->epochs =
        ns_run_config_has(cfg, "epochs") ? (int)ns_run_config_int(cfg, "epochs") : ts->epochs;
    r->batch_size = ns_run_config_has(cfg, "batch_size") ? (int)ns_run_config_int(cfg, "batch_size")
                                                         : ts->batch_size;
    ns_status st = ns__resolve_optim(ctx, cfg, spec, &c->optim);
    if (st != NS_OK)
        return st;
    r->optim = c->optim.kind;
    ns_loss_config_default(&c->loss, r->loss);
    c->loss.reduction =
        strcmp(ns_run_config_string(cfg, "reduction"), "sum") == 0 ? NS_REDUCE_SUM : NS_REDUCE_MEAN;
    if (ns_run_config_has(cfg, "huber_delta"))
        c->loss.huber_delta = ns_run_config_number(cfg, "huber_delta");
    if (ns_run_config_has(cfg, "label_smoothing"))
        c->loss.label_smoothing = ns_run_config_number(cfg, "label_smoothing");
    st = read_schedule(ctx, cfg, c->epochs, &c->sched);
    if (st != NS_OK)
        return st;
    c->clip.max_norm = ns_run_config_number(cfg, "gradient_clip");
    c->clip.max_value = ns_run_config_number(cfg, "clip_value");
    c->early.patience = (int)ns_run_config_int(cfg, "early_stopping");
    c->early.min_delta = ns_run_config_number(cfg, "min_delta");
    snprintf(c->early.monitor, sizeof c->early.monitor, "%s", ns_run_config_string(cfg, "monitor"));
    if (c->early.monitor[0] == '\0')
        snprintf(c->early.monitor, sizeof c->early.monitor, "val_loss");
    c->early.restore_best = ns_run_config_bool(cfg, "restore_best");
    r->eval_batch = (int)ns_run_config_int(cfg, "eval_batch");
    if (r->eval_batch < 1)
        r->eval_batch = DEFAULT_EVAL_BATCH;
    r->shuffle = ns_run_config_bool(cfg, "shuffle");
    r->drop_last = ns_run_config_bool(cfg, "drop_last");
    r->seed = (uint64_t)ns_run_config_int(cfg, "seed");
    if (ns_norm_kind_parse(ns_run_config_string(cfg, "normalize"), &r->normalize) != NS_OK)
        return ns_errorf(ctx, NS_ERR_INVALID, "normalize: expected standard, minmax or none");
    r->checkpoint_dir = ns_run_config_has(cfg, "checkpoint_dir")
                            ? ns_run_config_string(cfg, "checkpoint_dir")
                            : NULL;
    r->checkpoint_epochs = (int)ns_run_config_int(cfg, "checkpoint_every");
    r->checkpoint_steps = ns_run_config_int(cfg, "checkpoint_steps");
    r->resume = ns_run_config_bool(cfg, "resume");
    r->new_head = ns_run_config_bool(cfg, "new_head");
    double fz[64];
    int nf = ns_run_config_list(cfg, "freeze", fz, 64);
    if (nf > 64)
        return ns_errorf(ctx, NS_ERR_INVALID, "freeze: at most 64 layers, got %d", nf);
    for (int i = 0; i < nf; i++) {
        if (fz[i] != (double)(int)fz[i] || fz[i] < 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "freeze: expected layer numbers such as [0, 2], got %g", fz[i]);
        r->freeze[r->n_freeze++] = (int)fz[i];
    }
    r->prefetch = (int)ns_run_config_int(cfg, "prefetch");
    return NS_OK;
}

/* The resolved settings as a JSON object, for checkpoints to compare. */
static char *settings_json(ns_ctx *ctx, const resolved *r)
{
    const ns_train_config *c = &r->train;
    json_t *j = json_object();
    json_object_set_new(j, "seed", json_integer((json_int_t)r->seed));
    json_object_set_new(
        j, "task",
        json_string(r->task == NS_TASK_CLASSIFICATION ? "classification" : "regression"));
    json_object_set_new(j, "epochs", json_integer(c->epochs));
    json_object_set_new(j, "batch_size", json_integer(r->batch_size));
    json_object_set_new(j, "eval_batch", json_integer(r->eval_batch));
    json_object_set_new(j, "normalize", json_string(ns_norm_kind_name(r->normalize)));
    json_object_set_new(j, "loss", json_string(ns_loss_kind_name(c->loss.kind)));
    json_object_set_new(j, "reduction", json_integer(c->loss.reduction));
    json_object_set_new(j, "optimizer", json_string(ns_optim_kind_name(c->optim.kind)));
    const ns_optim_config *q = &c->optim;
    json_object_set_new(j, "optim",
                        json_pack("[f f f f b f f f b f b]", q->lr, q->weight_decay, q->momentum,
                                  q->dampening, q->nesterov, q->beta1, q->beta2, q->eps, q->amsgrad,
                                  q->alpha, q->centered));
    const ns_sched_config *s = &c->sched;
    json_object_set_new(j, "schedule", json_string(ns_sched_kind_name(s->kind)));
    json_object_set_new(j, "schedule_settings",
                        json_pack("[i f i f f f i f i f f f b b f i f b i f]", s->step_size,
                                  s->gamma, s->t_max, s->eta_min, s->start_factor, s->end_factor,
                                  s->total_iters, s->max_lr, s->total_steps, s->pct_start,
                                  s->div_factor, s->final_div_factor, s->anneal_linear, s->mode_max,
                                  s->factor, s->patience, s->threshold, s->threshold_abs,
                                  s->cooldown, s->min_lr));
    json_t *ms = json_array();
    for (int i = 0; i < s->n_milestones; i++)
        json_array_append_new(ms, json_integer(s->milestones[i]));
    json_object_set_new(j, "milestones", ms);
    json_object_set_new(j, "clip", json_pack("[f f]", c->clip.max_norm, c->clip.max_value));
    json_object_set_new(j, "early_stopping",
                        json_pack("{si sf ss si sb}", "patience", c->early.patience, "min_delta",
                                  c->early.min_delta, "monitor", c->early.monitor, "mode",
                                  c->early.mode, "restore_best", c->early.restore_best));
    /* settings added later appear only when they differ from what runs made before them did,
     * so their checkpoints still resume */
    if (!r->shuffle || r->drop_last)
        json_object_set_new(j, "batches",
                            json_pack("{sb sb}", "shuffle", r->shuffle, "drop_last", r->drop_last));
    if (c->loss.huber_delta != 1.0 || c->loss.label_smoothing != 0.0)
        json_object_set_new(j, "loss_settings",
                            json_pack("[f f]", c->loss.huber_delta, c->loss.label_smoothing));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    char *out = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return out;
}

/* Every setting of the run config as used: the values given, the defaults, and what came
 * from the blueprint and the data (epochs, batch size, optimizer, learning rate, loss, task,
 * the schedule's settings), as a JSON object in the table's order. */
static char *used_settings_json(ns_ctx *ctx, const ns_run_config *cfg, const resolved *r)
{
    const ns_train_config *c = &r->train;
    const ns_optim_config *q = &c->optim;
    const ns_sched_config *s = &c->sched;
    int n;
    const ns_setting_def *defs = ns_run_settings(&n);
    json_t *j = json_object();
    for (int i = 0; j && i < n; i++) {
        const json_t *v = ns__run_config_get(cfg, defs[i].name);
        json_object_set_new(j, defs[i].name, v ? json_deep_copy(v) : json_null());
    }
#define SET(name, value) json_object_set_new(j, name, value)
    SET("task", json_string(r->task == NS_TASK_CLASSIFICATION ? "classification" : "regression"));
    SET("epochs", json_integer(c->epochs));
    SET("batch_size", json_integer(r->batch_size));
    SET("optimizer", json_string(ns_optim_kind_name(q->kind)));
    SET("learning_rate", json_real(q->lr));
    SET("weight_decay", json_real(q->weight_decay));
    SET("momentum", json_real(q->momentum));
    SET("dampening", json_real(q->dampening));
    SET("nesterov", json_boolean(q->nesterov));
    SET("betas", json_pack("[f f]", q->beta1, q->beta2));
    SET("eps", json_real(q->eps));
    SET("amsgrad", json_boolean(q->amsgrad));
    SET("alpha", json_real(q->alpha));
    SET("centered", json_boolean(q->centered));
    SET("loss", json_string(ns_loss_kind_name(c->loss.kind)));
    SET("huber_delta", json_real(c->loss.huber_delta));
    SET("label_smoothing", json_real(c->loss.label_smoothing));
    SET("schedule", json_string(ns_sched_kind_name(s->kind)));
    switch (s->kind) {
    case NS_SCHED_STEP:
        SET("step_size", json_integer(s->step_size));
        SET("gamma", json_real(s->gamma));
        break;
    case NS_SCHED_MULTISTEP:
        SET("gamma", json_real(s->gamma));
        break;
    case NS_SCHED_EXPONENTIAL:
        SET("gamma", json_real(s->gamma));
        break;
    case NS_SCHED_COSINE:
        SET("t_max", json_integer(s->t_max));
        break;
    case NS_SCHED_WARMUP:
        SET("total_iters", json_integer(s->total_iters));
        break;
    case NS_SCHED_ONECYCLE:
        SET("total_steps", s->total_steps > 0 ? json_integer(s->total_steps) : json_null());
        break;
    default:
        break;
    }
    SET("monitor", json_string(c->early.monitor));
    SET("eval_batch", json_integer(r->eval_batch));
#undef SET
    char *text =
        j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    char *out = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return out;
}

/* ---- checkpoint hooks and events ----------------------------------------------------------------
 */

/* The parameters of frozen layers: where they are in the model's block, and their values. */
typedef struct frozen {
    size_t n;
    size_t at[2 * 64], len[2 * 64];
    float *values; /* the frozen parameters back to back */
} frozen;

typedef struct fit_run {
    ns_ctx *ctx;
    const resolved *r;
    frozen *frozen; /* NULL: nothing frozen */
    ns_model *model;
    const ns_train_callbacks *user;
    const ns_run_hooks *hooks;
    const ns_model_info *info;
    const ns__run_identity *id;
    int64_t batches;
    ns_status ckpt_status;
} fit_run;

static void emit(const ns_run_hooks *hooks, ns_run_event *ev)
{
    if (hooks != NULL && hooks->on_event != NULL) {
        ev->seeds = ev->seeds > 0 ? ev->seeds : 1;
        hooks->on_event(hooks->ud, ev);
    }
}

static bool save_checkpoint(fit_run *run, ns_trainer *t, const char *dir)
{
    char path[4200];
    run->ckpt_status = ns__checkpoint_save(t, run->info, run->id, dir, path, sizeof path);
    if (run->ckpt_status == NS_OK) {
        ns_run_event ev = {.kind = NS_RUN_CHECKPOINT,
                           .path = path,
                           .epoch = ns_trainer_get_state(t)->epoch,
                           .epochs = ns_trainer_config(t)->epochs};
        emit(run->hooks, &ev);
    }
    return run->ckpt_status == NS_OK;
}

/* Puts the frozen parameters back after a step (the optimizer moved them). */
static void refreeze(const fit_run *run)
{
    if (run->frozen == NULL)
        return;
    float *p = ns_model_params(run->model);
    const float *v = run->frozen->values;
    for (size_t i = 0; i < run->frozen->n; i++) {
        memcpy(p + run->frozen->at[i], v, run->frozen->len[i] * sizeof(float));
        v += run->frozen->len[i];
    }
}

/* The frozen layers' parameters of m, copied now (at the start, from the model trained on). */
static ns_status freeze_layers(ns_ctx *ctx, const resolved *r, ns_model *m, frozen *f)
{
    memset(f, 0, sizeof *f);
    size_t total = 0;
    float *base = ns_model_params(m);
    int n = ns_model_tensor_count(m);
    for (int k = 0; k < r->n_freeze; k++) {
        bool any = false;
        for (int i = 0; i < n; i++) {
            ns_named_tensor t;
            ns_model_tensor(m, i, &t);
            if (!t.trainable || atoi(t.name) != r->freeze[k] || f->n == 2 * 64)
                continue;
            size_t numel = 1;
            for (int d = 0; d < t.ndim; d++)
                numel *= (size_t)t.shape[d];
            f->at[f->n] = (size_t)(t.data - base);
            f->len[f->n++] = numel;
            total += numel;
            any = true;
        }
        if (!any)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "freeze: layer %d has no weights (layers with weights are those of "
                             "the tensor names: %d.weight, ...); give the number of a layer that "
                             "learns",
                             r->freeze[k], r->freeze[k]);
    }
    f->values = ns_alloc(ctx, (total > 0 ? total : 1) * sizeof(float));
    if (f->values == NULL)
        return NS_ERR_NOMEM;
    float *v = f->values;
    for (size_t i = 0; i < f->n; i++) {
        memcpy(v, base + f->at[i], f->len[i] * sizeof(float));
        v += f->len[i];
    }
    return NS_OK;
}

static bool on_batch(void *ud, ns_trainer *t, const ns_batch *b, double loss)
{
    fit_run *run = ud;
    refreeze(run);
    const ns_trainer_state *s = ns_trainer_get_state(t);
    if (run->hooks != NULL && run->hooks->on_event != NULL) {
        ns_run_event ev = {.kind = NS_RUN_BATCH,
                           .epoch = s->epoch,
                           .epochs = ns_trainer_config(t)->epochs,
                           .batch = s->batch,
                           .batches = run->batches,
                           .loss = loss};
        emit(run->hooks, &ev);
    }
    int64_t every = run->r->checkpoint_steps;
    if (run->r->checkpoint_dir && every > 0 && s->step % every == 0 &&
        !save_checkpoint(run, t, run->r->checkpoint_dir))
        return false;
    if (run->user && run->user->on_batch_end)
        return run->user->on_batch_end(run->user->ud, t, b, loss);
    return true;
}

static bool on_epoch(void *ud, ns_trainer *t, const ns_epoch_report *r)
{
    fit_run *run = ud;
    const ns_trainer_state *s = ns_trainer_get_state(t);
    ns_run_event ev = {.kind = NS_RUN_EPOCH, .epoch = r->epoch, .epochs = r->epochs, .report = r};
    emit(run->hooks, &ev);
    int every = run->r->checkpoint_epochs;
    bool due = s->stopped || (every > 0 && s->epoch % every == 0);
    if (run->r->checkpoint_dir && due && !save_checkpoint(run, t, run->r->checkpoint_dir))
        return false;
    if (run->user && run->user->on_epoch_end)
        return run->user->on_epoch_end(run->user->ud, t, r);
    return true;
}

/* The normalisation a dataset view already has (a Normalize card's output), copied. */
static ns_status norm_of(ns_ctx *ctx, const ns_dataset *ds, ns_norm *out)
{
    memset(out, 0, sizeof *out);
    ns_norm view;
    return ns_dataset_normalization(ds, &view) ? ns__norm_copy(ctx, &view, out) : NS_OK;
}

static bool normalised(const ns_dataset *ds)
{
    ns_norm view;
    return ns_dataset_normalization(ds, &view);
}

/* ---- the Train card
 * ------------------------------------------------------------------------------ */

ns_status ns_fit(ns_ctx *ctx, const ns_run_config *cfg, const ns_fit_input *in,
                 const ns_train_callbacks *callbacks, const ns_run_hooks *hooks, ns_fit_result *res)
{
    return ns__fit(ctx, cfg, in, callbacks, hooks, NULL, res);
}

/* spec with a last layer of `outputs` units: the short form's output_size, or the units of the
 * layer-list form's last linear layer (new_head). */
static ns_status spec_with_outputs(ns_ctx *ctx, const ns_spec *spec, int outputs, ns_spec **out)
{
    char *text = NULL;
    ns_status st = ns_spec_to_json(spec, &text);
    if (st != NS_OK)
        return st;
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ns_dealloc(ctx, text);
    if (j == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    json_t *layers = json_object_get(j, "layers");
    json_t *last = NULL;
    for (size_t i = 0; layers != NULL && i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        const char *type = json_string_value(json_object_get(l, "type"));
        if (type != NULL && strcmp(type, "linear") == 0)
            last = l;
    }
    if (layers == NULL)
        json_object_set_new(j, "output_size", json_integer(outputs));
    else if (last != NULL)
        json_object_set_new(last, "units", json_integer(outputs));
    char *edited = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (layers != NULL && last == NULL) {
        free(edited);
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "new_head: the spec has no linear layer to make anew; give the data's "
                         "output size to the spec instead");
    }
    st = edited != NULL ? ns_spec_parse(ctx, edited, strlen(edited), "new_head", out)
                        : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(edited);
    return st;
}

/* Copies into m every tensor of start with the same name and shape; *report gets the names of
 * those loaded and of those left new. */
static ns_status copy_matching(ns_ctx *ctx, ns_model *m, ns_model *start, json_t **report)
{
    json_t *loaded = json_array(), *fresh = json_array();
    int n = ns_model_tensor_count(m);
    for (int i = 0; i < n; i++) {
        ns_named_tensor a, b;
        ns_model_tensor(m, i, &a);
        bool same = ns_model_find_tensor(start, a.name, &b) == NS_OK && a.ndim == b.ndim &&
                    (a.count == NULL) == (b.count == NULL);
        size_t numel = 1;
        for (int d = 0; same && d < a.ndim; d++) {
            same = a.shape[d] == b.shape[d];
            numel *= (size_t)a.shape[d];
        }
        if (same && a.count != NULL)
            *a.count = *b.count;
        else if (same)
            memcpy(a.data, b.data, numel * sizeof(float));
        json_array_append_new(same ? loaded : fresh, json_string(a.name));
    }
    *report = json_pack("{s:o, s:o}", "loaded", loaded, "new", fresh);
    return *report != NULL ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
}

ns_status ns__fit(ns_ctx *ctx, const ns_run_config *cfg, const ns_fit_input *in,
                  const ns_train_callbacks *callbacks, const ns_run_hooks *hooks,
                  const ns__fit_more *more, ns_fit_result *res)
{
    const char *stop_dir = more ? more->stop_dir : NULL;
    NS_ASSERT(cfg && in && res && in->train);
    NS_ASSERT((in->spec == NULL) != (in->model == NULL));
    memset(res, 0, sizeof *res);
    ns_model *start = in->model;
    const ns_spec *spec = start != NULL ? ns_model_spec(start) : in->spec;
    const ns_dataset *train = in->train, *val = in->val;
    if (in->optim != NULL && ns_optim_model(in->optim) != start)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: the optimizer given was made for another model; wire the "
                         "model it was made for, or make an optimizer for this one");
    resolved r;
    ns_status st = resolve(ctx, spec, train, cfg, start ? ns_model_output_size(start) : 0, &r);
    if (st != NS_OK)
        return st;
    if (ns_dataset_rows(train) < 1)
        return ns_errorf(ctx, NS_ERR_INVALID, "train: the training data has no rows");
    if (r.resume && r.checkpoint_dir == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: resuming needs a checkpoint directory (checkpoint_dir)");
    if (in->optim != NULL && r.resume)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: a run that resumes from a checkpoint makes its own optimizer; "
                         "do not give one");
    int max_batch = r.batch_size > r.eval_batch ? r.batch_size : r.eval_batch;
    /* a borrowed optimizer goes on with its own settings: those are the ones used */
    if (in->optim != NULL) {
        r.train.optim = *ns_optim_get_config(in->optim);
        r.optim = r.train.optim.kind;
    }

    ns_dataset *tr = NULL, *va = NULL;
    ns_batcher *tb = NULL, *vb = NULL;
    ns_trainer *t = NULL;
    ns_model *model = NULL;
    ns_st_file *ckpt = NULL;
    ns_dir_lock *ckpt_lock = NULL;
    char *spec_json = NULL, *settings = NULL;
    frozen frz;
    memset(&frz, 0, sizeof frz);
    ns_spec *head_spec = NULL; /* the start's spec with a new last layer (new_head) */
    json_t *transfer = NULL;   /* what a model trained on from gave: loaded, new, frozen */
    ns_model_info info;
    memset(&info, 0, sizeof info);

    /* The checkpoint directory is this run's until it ends: two runs there would resume from
     * and prune each other's checkpoints. */
    if (r.checkpoint_dir != NULL) {
        st = ns_dir_lock_open(ctx, r.checkpoint_dir, "checkpoint",
                              "wait for it to finish, or use another checkpoint directory",
                              &ckpt_lock);
        if (st != NS_OK)
            return st;
    }

    /* Normalize: fitted on the training part only, applied to both parts; data a Normalize
     * card made already keeps its fit (and the model records it). */
    if (normalised(train)) {
        st = norm_of(ctx, train, &res->norm);
        if (st == NS_OK && val != NULL && !normalised(val))
            st = ns_data_normalize(val, &res->norm, &va);
        if (st != NS_OK)
            goto done;
    } else if (r.normalize != NS_NORM_NONE) {
        st = ns_norm_fit(ctx, train, r.normalize, &res->norm);
        if (st == NS_OK)
            st = ns_data_normalize(train, &res->norm, &tr);
        if (st == NS_OK && val != NULL && !normalised(val))
            st = ns_data_normalize(val, &res->norm, &va);
        if (st != NS_OK)
            goto done;
    }
    const ns_dataset *trd = tr ? tr : train, *vad = va ? va : val;

    /* A new last layer for another output size: the spec the run is made of changes. */
    if (start != NULL && r.new_head && ns_model_output_size(start) != r.outputs) {
        st = spec_with_outputs(ctx, spec, r.outputs, &head_spec);
        if (st != NS_OK)
            goto done;
        spec = head_spec;
    }

    /* The run's identity, for checkpoints. */
    settings = settings_json(ctx, &r);
    st = settings ? ns_spec_to_json(spec, &spec_json)
                  : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    if (st != NS_OK)
        goto done;
    ns__run_identity id = {spec_json, settings, ns_dataset_hash(trd),
                           vad ? ns_dataset_hash(vad) : 0};

    /* Build Model, or take the given one, or the checkpoint's. */
    char ckpt_path[4096] = "";
    bool found = false;
    if (r.resume) {
        st = ns__checkpoint_find(ctx, r.checkpoint_dir, &id, max_batch, &model, &ckpt, &found,
                                 ckpt_path, sizeof ckpt_path);
        if (st != NS_OK)
            goto done;
        if (!found) { /* said, not silent: a worker that resumes whatever is there starts */
            ns_run_event ev = {
                .kind = NS_RUN_NO_CHECKPOINT, .path = r.checkpoint_dir, .epochs = r.train.epochs};
            emit(hooks, &ev);
        }
    }
    int shape[NS_MAX_DIMS - 1];
    int ndim = ns_dataset_input_shape(trd, shape);
    if (!found && start != NULL && (in->optim != NULL || in->in_place)) {
        /* the optimizer's model is trained in place */
        model = start;
        res->borrowed = true;
    } else if (!found && start != NULL) {
        ns_build_opts bo = *ns_model_build_opts(start);
        bo.max_batch = max_batch;
        bo.seed = r.seed;      /* the weights are the start's; dropout follows this run's seed */
        if (head_spec != NULL) /* the new head's size is the spec's now */
            bo.output_size = ns_spec_get_form(spec) == NS_SPEC_SHORT ? r.outputs : 0;
        st = ns_model_build(ctx, spec, &bo, &model);
        if (st == NS_OK)
            st = head_spec != NULL ? copy_matching(ctx, model, start, &transfer)
                                   : ns_model_copy_weights(model, start);
        if (st != NS_OK)
            goto done;
    } else if (!found) {
        ns_build_opts bo;
        ns_build_opts_default(&bo, 1);
        bo.input_ndim = ndim;
        memcpy(bo.input_shape, shape, sizeof bo.input_shape);
        bo.output_size = ns_spec_get_form(spec) == NS_SPEC_SHORT ? r.outputs : 0;
        bo.max_batch = max_batch;
        bo.seed = r.seed;
        st = ns_model_build(ctx, spec, &bo, &model);
        if (st != NS_OK)
            goto done;
    }
    if (ns_model_input_size(model) != ns_dataset_feature_count(trd)) {
        st = ns_errorf(ctx, NS_ERR_SHAPE,
                       "train: the model takes %d features but '%s' has %d; build the model for "
                       "this data",
                       ns_model_input_size(model), ns_dataset_name(train),
                       ns_dataset_feature_count(trd));
        goto done;
    }
    if (ns_model_output_size(model) != r.outputs) {
        st = ns_errorf(ctx, NS_ERR_SHAPE,
                       "train: the model has %d outputs but the %s target needs %d; set the last "
                       "layer's units (or output_size) to %d",
                       ns_model_output_size(model),
                       r.task == NS_TASK_CLASSIFICATION ? "classification" : "regression",
                       r.outputs, r.outputs);
        goto done;
    }

    /* Batches: the training order from (seed, shuffle, epoch); validation in order, in batches
     * the model takes. */
    int vbatch =
        r.eval_batch <= ns_model_max_batch(model) ? r.eval_batch : ns_model_max_batch(model);
    ns_batch_options bopt = {.batch_size = r.batch_size,
                             .seed = r.seed,
                             .prefetch = r.prefetch,
                             .no_shuffle = !r.shuffle,
                             .drop_last = r.drop_last};
    st = ns_batcher_new(trd, &bopt, &tb);
    if (st == NS_OK && vad != NULL && ns_dataset_rows(vad) > 0) {
        ns_batch_options vopt = {.batch_size = vbatch, .no_shuffle = true};
        st = ns_batcher_new(vad, &vopt, &vb);
    }
    if (st == NS_OK)
        st = ns_trainer_new(model, &r.train, in->optim, r.task, r.classes, &t);
    if (st == NS_OK && found)
        st = ns__checkpoint_restore(t, ckpt, ckpt_path);
    if (st == NS_OK && r.n_freeze > 0)
        st = freeze_layers(ctx, &r, model, &frz);
    if (st != NS_OK)
        goto done;
    res->task = r.task;
    res->classes = r.classes;
    st = ns_model_info_from(ctx, res, train, &info);
    if (st != NS_OK)
        goto done;

    res->settings_json = used_settings_json(ctx, cfg, &r);
    if (res->settings_json == NULL) {
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (more != NULL && more->on_start != NULL &&
        (st = more->on_start(more->ud, res->settings_json)) != NS_OK)
        goto done;
    fit_run run = {ctx,   &r,  r.n_freeze > 0 ? &frz : NULL, model, callbacks, hooks,
                   &info, &id, ns_batcher_count(tb),         NS_OK};
    ns_train_callbacks cb = {on_batch, on_epoch, &run};
    ns_batch_source ts = ns__batcher_source(tb), vs;
    if (vb != NULL)
        vs = ns__batcher_source(vb);
    res->resumed = found;
    res->resumed_epoch = ns_trainer_get_state(t)->epoch;
    res->resumed_batch = ns_trainer_get_state(t)->batch;
    if (found) {
        ns_run_event ev = {.kind = NS_RUN_RESUMED,
                           .path = ckpt_path,
                           .epoch = res->resumed_epoch,
                           .epochs = r.train.epochs,
                           .batch = res->resumed_batch,
                           .batches = run.batches};
        emit(hooks, &ev);
    }
    st = ns_trainer_run(t, &ts, vb ? &vs : NULL, &cb, hooks ? hooks->progress : NULL);
    if (st == NS_OK && run.ckpt_status != NS_OK)
        st = run.ckpt_status;
    /* Stopped from outside: a checkpoint of where it stopped, so the run can go on. */
    const char *stop_ckpt = r.checkpoint_dir ? r.checkpoint_dir : stop_dir;
    if (st == NS_ERR_CANCELLED && stop_ckpt != NULL) {
        char msg[NS__ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", ns_errmsg(ctx));
        if (!save_checkpoint(&run, t, stop_ckpt)) {
            st = run.ckpt_status;
            goto done;
        }
        ns_errorf(ctx, NS_ERR_CANCELLED, "%s", msg);
    }

    /* The result: the model and its history, also after a guard stop or a cancel. */
    int nh = ns_trainer_history_count(t);
    res->history = ns_calloc(ctx, (size_t)(nh > 0 ? nh : 1), sizeof *res->history);
    if (res->history == NULL) {
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nh; i++)
        res->history[i] = *ns_trainer_history(t, i);
    res->epochs_run = nh;
    res->stop_reason = (ns_stop_reason)ns_trainer_get_state(t)->stop_reason;
    snprintf(res->loss, sizeof res->loss, "%s", ns_loss_kind_name(r.loss));
    snprintf(res->optimizer, sizeof res->optimizer, "%s",
             ns_optim_kind_name(ns_trainer_config(t)->optim.kind));
    ns_model_forget_forward(model); /* its last input was in the batchers */
    res->model = model;
    model = NULL;
    if (start != NULL || r.n_freeze > 0) {
        if (transfer == NULL)
            transfer = json_object();
        json_t *fz = json_array();
        for (int i = 0; i < r.n_freeze; i++)
            json_array_append_new(fz, json_integer(r.freeze[i]));
        json_object_set_new(transfer, "frozen", fz);
        char *text = json_dumps(transfer, JSON_COMPACT);
        res->transfer_json = text != NULL ? ns_strdup(ctx, text) : NULL;
        free(text);
    }
done:
    json_decref(transfer);
    ns_dealloc(ctx, frz.values);
    ns_spec_free(head_spec);
    ns_dir_lock_close(ckpt_lock);
    ns_model_info_deinit(ctx, &info);
    ns_trainer_free(t);
    if (model != NULL && model == start)
        ns_model_forget_forward(model);
    ns_batcher_free(tb);
    ns_batcher_free(vb);
    ns_dataset_free(tr);
    ns_dataset_free(va);
    ns_st_close(ckpt);
    if (model != start)
        ns_model_free(model);
    ns_dealloc(ctx, spec_json);
    ns_dealloc(ctx, settings);
    if (res->model == NULL) {
        ns_norm_deinit(ctx, &res->norm);
        ns_dealloc(ctx, res->history);
        ns_dealloc(ctx, res->settings_json);
        res->history = NULL;
        res->settings_json = NULL;
        res->borrowed = false;
    }
    return st;
}
