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

void ns_fit_options_default(ns_fit_options *o)
{
    memset(o, 0, sizeof *o);
    o->weight_decay = -1;
    o->eval_batch = DEFAULT_EVAL_BATCH;
    ns_sched_config_default(&o->sched, NS_SCHED_CONSTANT);
    snprintf(o->early.monitor, sizeof o->early.monitor, "val_loss");
}

void ns_fit_result_free(ns_ctx *ctx, ns_fit_result *r)
{
    if (r == NULL)
        return;
    ns_model_free(r->model);
    ns_norm_deinit(ctx, &r->norm);
    ns_dealloc(ctx, r->history);
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

/* ---- settings ------------------------------------------------------------------------------------- */

typedef struct resolved {
    ns_task task;
    int classes, outputs;
    ns_train_config train;
    int batch_size;
    ns_loss_kind loss;
    ns_optim_kind optim;
} resolved;

static ns_status resolve(ns_ctx *ctx, const ns_spec *spec, const ns_dataset *train,
                         const ns_fit_options *o, resolved *r)
{
    const ns_train_settings *ts = ns_spec_training(spec);
    memset(r, 0, sizeof *r);
    ns_task data_task = ns_dataset_task(train);
    r->task = o->task != NS_TASK_AUTO ? o->task : ts->task != NS_TASK_AUTO ? ts->task : data_task;
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
    const char *loss = o->loss[0] ? o->loss : ts->loss;
    if (loss[0] == '\0')
        r->loss = r->task == NS_TASK_CLASSIFICATION ? NS_LOSS_CROSS_ENTROPY : NS_LOSS_MSE;
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
    const char *optim = o->optimizer[0] ? o->optimizer : ts->optimizer[0] ? ts->optimizer : "adam";
    if (ns_optim_kind_parse(optim, &r->optim) != NS_OK)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "train: unknown optimizer '%s'; use sgd, adam, adamw or rmsprop", optim);
    ns_train_config *c = &r->train;
    ns_train_config_default(c);
    c->epochs = o->epochs > 0 ? o->epochs : ts->epochs;
    r->batch_size = o->batch_size > 0 ? o->batch_size : ts->batch_size;
    ns_optim_config_default(&c->optim, r->optim);
    c->optim.lr = o->lr > 0 ? o->lr : ts->learning_rate;
    double wd = o->weight_decay >= 0 ? o->weight_decay : ts->weight_decay;
    if (wd > 0 || r->optim != NS_OPTIM_ADAMW)
        c->optim.weight_decay = wd;
    ns_loss_config_default(&c->loss, r->loss);
    c->sched = o->sched;
    c->clip = o->clip;
    c->early = o->early;
    if (c->early.monitor[0] == '\0')
        snprintf(c->early.monitor, sizeof c->early.monitor, "val_loss");
    return NS_OK;
}

/* The resolved settings as a JSON object, for checkpoints to compare. */
static char *settings_json(ns_ctx *ctx, const resolved *r, const ns_fit_options *o)
{
    const ns_train_config *c = &r->train;
    json_t *j = json_object();
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "task", json_string(r->task == NS_TASK_CLASSIFICATION ? "classification"
                                                                                  : "regression"));
    json_object_set_new(j, "epochs", json_integer(c->epochs));
    json_object_set_new(j, "batch_size", json_integer(r->batch_size));
    json_object_set_new(j, "eval_batch", json_integer(o->eval_batch));
    json_object_set_new(j, "normalize", json_string(ns_norm_kind_name(o->normalize)));
    json_object_set_new(j, "loss", json_string(ns_loss_kind_name(c->loss.kind)));
    json_object_set_new(j, "reduction", json_integer(c->loss.reduction));
    json_object_set_new(j, "optimizer", json_string(ns_optim_kind_name(c->optim.kind)));
    const ns_optim_config *q = &c->optim;
    json_object_set_new(j, "optim", json_pack("[f f f f b f f f b f b]", q->lr, q->weight_decay,
                                              q->momentum, q->dampening, q->nesterov, q->beta1,
                                              q->beta2, q->eps, q->amsgrad, q->alpha, q->centered));
    const ns_sched_config *s = &c->sched;
    json_object_set_new(j, "schedule", json_string(ns_sched_kind_name(s->kind)));
    json_object_set_new(j, "schedule_settings",
                        json_pack("[i f i f f f i f i f f f b b f i f b i f]", s->step_size,
                                  s->gamma, s->t_max, s->eta_min, s->start_factor, s->end_factor, s->total_iters,
                                  s->max_lr, s->total_steps, s->pct_start, s->div_factor,
                                  s->final_div_factor, s->anneal_linear, s->mode_max, s->factor,
                                  s->patience, s->threshold, s->threshold_abs, s->cooldown,
                                  s->min_lr));
    json_t *ms = json_array();
    for (int i = 0; i < s->n_milestones; i++)
        json_array_append_new(ms, json_integer(s->milestones[i]));
    json_object_set_new(j, "milestones", ms);
    json_object_set_new(j, "clip", json_pack("[f f]", c->clip.max_norm, c->clip.max_value));
    json_object_set_new(j, "early_stopping",
                        json_pack("{si sf ss si sb}", "patience", c->early.patience, "min_delta",
                                  c->early.min_delta, "monitor", c->early.monitor, "mode",
                                  c->early.mode, "restore_best", c->early.restore_best));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    char *out = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return out;
}

/* ---- checkpoint hooks --------------------------------------------------------------------------- */

typedef struct fit_run {
    ns_ctx *ctx;
    const ns_fit_options *opts;
    const ns_train_callbacks *user;
    const ns_model_info *info;
    const ns__run_identity *id;
    ns_status ckpt_status;
} fit_run;

static bool save_checkpoint(fit_run *run, ns_trainer *t)
{
    run->ckpt_status = ns__checkpoint_save(t, run->info, run->id, run->opts->checkpoint_dir);
    return run->ckpt_status == NS_OK;
}

static bool on_batch(void *ud, ns_trainer *t, const ns_batch *b, double loss)
{
    fit_run *run = ud;
    int64_t every = run->opts->checkpoint_steps;
    if (run->opts->checkpoint_dir && every > 0 && ns_trainer_get_state(t)->step % every == 0 &&
        !save_checkpoint(run, t))
        return false;
    if (run->user && run->user->on_batch_end)
        return run->user->on_batch_end(run->user->ud, t, b, loss);
    return true;
}

static bool on_epoch(void *ud, ns_trainer *t, const ns_epoch_report *r)
{
    fit_run *run = ud;
    const ns_trainer_state *s = ns_trainer_get_state(t);
    int every = run->opts->checkpoint_epochs;
    bool due = s->stopped || (every > 0 && s->epoch % every == 0);
    if (run->opts->checkpoint_dir && due && !save_checkpoint(run, t))
        return false;
    if (run->user && run->user->on_epoch_end)
        return run->user->on_epoch_end(run->user->ud, t, r);
    return true;
}

/* ---- the Train card ------------------------------------------------------------------------------ */

ns_status ns_fit(ns_ctx *ctx, const ns_spec *spec, ns_model *start, const ns_dataset *train,
                 const ns_dataset *val, const ns_fit_options *o,
                 const ns_train_callbacks *callbacks, const ns_progress *progress,
                 ns_fit_result *res)
{
    NS_ASSERT((spec == NULL) != (start == NULL) && train && o && res);
    memset(res, 0, sizeof *res);
    if (start != NULL)
        spec = ns_model_spec(start);
    resolved r;
    ns_status st = resolve(ctx, spec, train, o, &r);
    if (st != NS_OK)
        return st;
    if (ns_dataset_rows(train) < 1)
        return ns_errorf(ctx, NS_ERR_INVALID, "train: the training data has no rows");
    int eval_batch = o->eval_batch > 0 ? o->eval_batch : DEFAULT_EVAL_BATCH;
    int max_batch = r.batch_size > eval_batch ? r.batch_size : eval_batch;

    ns_dataset *tr = NULL, *va = NULL;
    ns_batcher *tb = NULL, *vb = NULL;
    ns_trainer *t = NULL;
    ns_model *model = NULL;
    ns_st_file *ckpt = NULL;
    ns_dir_lock *ckpt_lock = NULL;
    char *spec_json = NULL, *settings = NULL;
    ns_model_info info;
    memset(&info, 0, sizeof info);

    /* The checkpoint directory is this run's until it ends: two runs there would resume from
     * and prune each other's checkpoints. */
    if (o->checkpoint_dir != NULL) {
        st = ns_dir_lock_open(ctx, o->checkpoint_dir, "checkpoint",
                              "wait for it to finish, or use another checkpoint directory",
                              &ckpt_lock);
        if (st != NS_OK)
            return st;
    }

    /* Normalize: fitted on the training part only, applied to both parts. */
    if (o->normalize != NS_NORM_NONE) {
        st = ns_norm_fit(ctx, train, o->normalize, &res->norm);
        if (st == NS_OK)
            st = ns_data_normalize(train, &res->norm, &tr);
        if (st == NS_OK && val != NULL)
            st = ns_data_normalize(val, &res->norm, &va);
        if (st != NS_OK)
            goto done;
    }
    const ns_dataset *trd = tr ? tr : train, *vad = va ? va : val;

    /* The run's identity, for checkpoints. */
    settings = settings_json(ctx, &r, o);
    st = settings ? ns_spec_to_json(spec, &spec_json) : NS_ERR_NOMEM;
    if (st != NS_OK)
        goto done;
    ns__run_identity id = {spec_json, settings, ns_dataset_hash(trd),
                           vad ? ns_dataset_hash(vad) : 0};

    /* Build Model, or take the given one, or the checkpoint's. */
    char ckpt_path[4096] = "";
    bool found = false;
    if (o->resume) {
        if (o->checkpoint_dir == NULL) {
            st = ns_errorf(ctx, NS_ERR_INVALID, "train: resuming needs a checkpoint directory");
            goto done;
        }
        st = ns__checkpoint_find(ctx, o->checkpoint_dir, &id, max_batch, &model, &ckpt, &found,
                                 ckpt_path, sizeof ckpt_path);
        if (st != NS_OK)
            goto done;
    }
    int shape[NS_MAX_DIMS - 1];
    int ndim = ns_dataset_input_shape(trd, shape);
    if (!found && start != NULL) {
        ns_build_opts bo = *ns_model_build_opts(start);
        bo.max_batch = max_batch;
        st = ns_model_build(ctx, spec, &bo, &model);
        if (st == NS_OK)
            st = ns_model_copy_weights(model, start);
        if (st != NS_OK)
            goto done;
    } else if (!found) {
        ns_build_opts bo;
        ns_build_opts_default(&bo, 1);
        bo.input_ndim = ndim;
        memcpy(bo.input_shape, shape, sizeof bo.input_shape);
        bo.output_size = ns_spec_get_form(spec) == NS_SPEC_SHORT ? r.outputs : 0;
        bo.max_batch = max_batch;
        bo.seed = o->seed;
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

    /* Batches: the training order from (seed, shuffle, epoch); validation in order. */
    ns_batch_options bopt = {.batch_size = r.batch_size, .seed = o->seed, .prefetch = o->prefetch};
    st = ns_batcher_new(trd, &bopt, &tb);
    if (st == NS_OK && vad != NULL && ns_dataset_rows(vad) > 0) {
        ns_batch_options vopt = {.batch_size = eval_batch, .no_shuffle = true};
        st = ns_batcher_new(vad, &vopt, &vb);
    }
    if (st == NS_OK)
        st = ns_trainer_new(model, &r.train, r.task, r.classes, &t);
    if (st == NS_OK && found)
        st = ns__checkpoint_restore(t, ckpt, ckpt_path);
    if (st != NS_OK)
        goto done;
    res->task = r.task;
    res->classes = r.classes;
    st = ns_model_info_from(ctx, res, train, &info);
    if (st != NS_OK)
        goto done;

    fit_run run = {ctx, o, callbacks, &info, &id, NS_OK};
    ns_train_callbacks cb = {on_batch, on_epoch, &run};
    ns_batch_source ts = ns__batcher_source(tb), vs;
    if (vb != NULL)
        vs = ns__batcher_source(vb);
    res->resumed = found;
    res->resumed_epoch = ns_trainer_get_state(t)->epoch;
    res->resumed_batch = ns_trainer_get_state(t)->batch;
    st = ns_trainer_run(t, &ts, vb ? &vs : NULL, &cb, progress);
    if (st == NS_OK && run.ckpt_status != NS_OK)
        st = run.ckpt_status;

    /* The result: the model and its history, also after a guard stop or a cancel. */
    int nh = ns_trainer_history_count(t);
    res->history = ns_calloc(ctx, (size_t)(nh > 0 ? nh : 1), sizeof *res->history);
    if (res->history == NULL) {
        st = NS_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < nh; i++)
        res->history[i] = *ns_trainer_history(t, i);
    res->epochs_run = nh;
    res->stop_reason = (ns_stop_reason)ns_trainer_get_state(t)->stop_reason;
    snprintf(res->loss, sizeof res->loss, "%s", ns_loss_kind_name(r.loss));
    snprintf(res->optimizer, sizeof res->optimizer, "%s", ns_optim_kind_name(r.optim));
    ns_model_forget_forward(model); /* its last input was in the batchers */
    res->model = model;
    model = NULL;
done:
    ns_dir_lock_close(ckpt_lock);
    ns_model_info_deinit(ctx, &info);
    ns_trainer_free(t);
    ns_batcher_free(tb);
    ns_batcher_free(vb);
    ns_dataset_free(tr);
    ns_dataset_free(va);
    ns_st_close(ckpt);
    ns_model_free(model);
    ns_dealloc(ctx, spec_json);
    ns_dealloc(ctx, settings);
    if (res->model == NULL) {
        ns_norm_deinit(ctx, &res->norm);
        ns_dealloc(ctx, res->history);
        res->history = NULL;
    }
    return st;
}

