/* The training cards: Prepare Batch, Zero Gradients, Forward Pass, Calculate Loss, Backward
 * Pass, Optimizer Step (one step, card by card), Train (the whole loop in one card), and the
 * loop card that repeats cards over epochs and batches. A step pipeline and the Train card
 * make the same calls in the same order, so their weights agree bit for bit. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "netsmith/trainer.h"
#include "pipeline/pipeline_private.h"
#include "run/run_internal.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- prepare_batch --------------------------------------------------------------------------- */

typedef struct batch_scratch {
    ns_ctx *ctx;
    ns_batcher *b;
    const ns_dataset *ds;
    ns_batch_pos key;
} batch_scratch;

static void batch_scratch_free(void *p)
{
    batch_scratch *s = p;
    ns_batcher_free(s->b);
    ns_dealloc(s->ctx, s);
}

static const ns_port_def batch_in[] = {
    {"dataset", NS_VALUE_DATASET, false, "the rows to draw from"},
    {"batch_index", NS_VALUE_BATCH_INDEX, false, "which batch (from a loop over batches)"},
};
static const ns_port_def batch_out[] = {
    {"batch_data", NS_VALUE_BATCH_DATA, false, "the batch's inputs and targets"},
};

static ns_status batch_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    const ns_batch_pos *pos = ns_value_batch_pos(ns_card_in(c, "batch_index"));
    batch_scratch **slot = (batch_scratch **)ns_card_scratch(c, batch_scratch_free);
    batch_scratch *s = *slot;
    bool same = s != NULL && s->ds == ds && s->key.batch_size == pos->batch_size &&
                s->key.shuffle == pos->shuffle && s->key.drop_last == pos->drop_last &&
                s->key.seed == pos->seed;
    if (!same) {
        if (s == NULL && (s = *slot = ns_calloc(ctx, 1, sizeof *s)) == NULL)
            return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        s->ctx = ctx;
        ns_batcher_free(s->b);
        s->b = NULL;
        ns_batch_options o = {.batch_size = pos->batch_size,
                              .no_shuffle = !pos->shuffle,
                              .drop_last = pos->drop_last,
                              .seed = pos->seed};
        ns_status st = ns_batcher_new(ds, &o, &s->b);
        if (st != NS_OK)
            return st;
        s->ds = ds;
        s->key = *pos;
    }
    if (ns_batcher_count(s->b) != pos->batches)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "the batch position counts %lld batches but '%s' makes %lld of %d "
                         "rows; wire the dataset the loop runs over",
                         (long long)pos->batches, ns_dataset_name(ds),
                         (long long)ns_batcher_count(s->b), pos->batch_size);
    ns_batch b;
    ns_status st = ns_batcher_get(s->b, pos->epoch, pos->index, &b);
    if (st != NS_OK)
        return st;
    int targets = ns_dataset_task(ds) == NS_TASK_CLASSIFICATION ? 0 : ns_dataset_target_count(ds);
    return ns_card_out_batch(c, "batch_data", &b, ns_dataset_feature_count(ds), targets);
}

/* ---- zero_grad ----------------------------------------------------------------------------- */

static const ns_port_def zero_in[] = {
    {"optimizer", NS_VALUE_OPTIMIZER, true, "zeroes the gradients of its model"},
    {"model", NS_VALUE_MODEL, true, "or zero this model's gradients"},
};
static const ns_port_def zero_out[] = {
    {"optimizer", NS_VALUE_OPTIMIZER, true, "the same optimizer"},
    {"model", NS_VALUE_MODEL, true,
     "the same model (the optimizer's model when only an optimizer is wired)"},
};

static ns_status zero_run(ns_card_call *c)
{
    ns_value *o = ns_card_in(c, "optimizer"), *m = ns_card_in(c, "model");
    if (o == NULL && m == NULL)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID,
                         "wire an optimizer or a model whose gradients to zero");
    if (o != NULL && m != NULL && o->model != m)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID,
                         "the model wired in is not the optimizer's: the optimizer was made for "
                         "'%s'; wire that model, or only the optimizer",
                         o->model->object);
    if (o != NULL)
        ns_optim_zero_grad(ns_value_optim(o));
    if (m != NULL)
        ns_model_zero_grad(ns_value_model(m));
    ns_status st = NS_OK;
    if (o != NULL)
        st = ns_card_out_same(c, "optimizer", o);
    /* With only an optimizer wired, the model output is the optimizer's model: the same
     * object, so a card wired to this card's model sees the zeroed gradients. */
    if (m == NULL && o != NULL)
        m = o->model;
    if (st == NS_OK && m != NULL)
        st = ns_card_out_same(c, "model", m);
    return st;
}

/* ---- forward ------------------------------------------------------------------------------- */

static const ns_setting_def fwd_settings[] = {
    {"training", NS_SETTING_BOOL, "true", NULL,
     "training mode (dropout on, batch statistics) or evaluation mode", 0, 0},
};
static const ns_port_def fwd_in[] = {
    {"model", NS_VALUE_MODEL, false, "the network"},
    {"batch_data", NS_VALUE_BATCH_DATA, false, "the inputs"},
};
static const ns_port_def fwd_out[] = {
    {"predictions", NS_VALUE_PREDICTIONS, false, "the outputs, one row per sample"},
    {"model", NS_VALUE_MODEL, false, "the same model, holding this pass for backward"},
};

static ns_status fwd_run(ns_card_call *c)
{
    ns_value *mv = ns_card_in(c, "model");
    ns_model *m = ns_value_model(mv);
    ns_value *bv = ns_card_in(c, "batch_data");
    const ns_batch *b = ns_value_batch(bv);
    int features, targets;
    ns_value_batch_widths(bv, &features, &targets);
    if (features != ns_model_input_size(m))
        return ns_errorf(ns_card_ctx(c), NS_ERR_SHAPE,
                         "the batch has %d features per sample but the model takes %d",
                         features, ns_model_input_size(m));
    const float *y = NULL;
    ns_status st = ns_model_forward(m, b->x, b->n, ns_card_bool(c, "training"), &y);
    if (st == NS_OK)
        st = ns_card_out_tensor(c, "predictions", y, b->n, ns_model_output_size(m));
    if (st == NS_OK)
        st = ns_card_out_same(c, "model", mv);
    return st;
}

/* ---- calculate_loss ------------------------------------------------------------------------- */

static const ns_setting_def loss_settings[] = {
    {"loss_type", NS_SETTING_STRING, "null", "mse|mae|huber|cross_entropy|bce",
     "default: cross_entropy for class labels, else mse", 0, 0},
    {"reduction", NS_SETTING_STRING, "\"mean\"", "mean|sum", "average or sum over the batch", 0,
     0},
    {"huber_delta", NS_SETTING_NUMBER, "1.0", NULL, "huber: where it turns linear", 1e-12, 1e12},
    {"label_smoothing", NS_SETTING_NUMBER, "0.0", NULL, "cross_entropy: in [0, 1]", 0, 1},
};
static const ns_port_def loss_in[] = {
    {"predictions", NS_VALUE_PREDICTIONS, false, "the model's outputs"},
    {"batch_data", NS_VALUE_BATCH_DATA, false, "the batch with the targets"},
};
static const ns_port_def loss_out[] = {
    {"loss", NS_VALUE_LOSS, false, "the loss and its gradient for the predictions"},
};

/* The loss settings of a card (loss_type null: from the data). */
static ns_status loss_config(ns_card_call *c, bool labels, int outputs, ns_loss_config *cfg)
{
    ns_loss_kind kind =
        ns__default_loss(labels ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION, outputs);
    if (ns_card_has(c, "loss_type") &&
        ns_loss_kind_parse(ns_card_string(c, "loss_type"), &kind) != NS_OK)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID, "unknown loss_type '%s'",
                         ns_card_string(c, "loss_type"));
    ns_loss_config_default(cfg, kind);
    cfg->reduction = strcmp(ns_card_string(c, "reduction"), "sum") == 0 ? NS_REDUCE_SUM
                                                                        : NS_REDUCE_MEAN;
    cfg->huber_delta = ns_card_number(c, "huber_delta");
    cfg->label_smoothing = ns_card_number(c, "label_smoothing");
    return NS_OK;
}

typedef struct loss_scratch {
    ns_ctx *ctx;
    float *tvals, *grad;
    size_t cap_t, cap_g;
} loss_scratch;

static void loss_scratch_free(void *p)
{
    loss_scratch *s = p;
    ns_dealloc(s->ctx, s->tvals);
    ns_dealloc(s->ctx, s->grad);
    ns_dealloc(s->ctx, s);
}

static ns_status loss_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    const ns_tensor2 *pred = ns_value_tensor(ns_card_in(c, "predictions"));
    const ns_batch *b = ns_value_batch(ns_card_in(c, "batch_data"));
    if (pred->rows != b->n)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "%lld predictions for a batch of %d: wire the batch the forward pass "
                         "used",
                         (long long)pred->rows, b->n);
    ns_loss_config cfg;
    ns_status st = loss_config(c, b->labels != NULL, pred->cols, &cfg);
    if (st != NS_OK)
        return st;
    if (b->labels == NULL && cfg.kind == NS_LOSS_CROSS_ENTROPY)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "cross_entropy needs class labels but the batch has continuous "
                         "targets; use mse, mae or huber");
    loss_scratch **slot = (loss_scratch **)ns_card_scratch(c, loss_scratch_free);
    if (*slot == NULL && (*slot = ns_calloc(ctx, 1, sizeof **slot)) == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    loss_scratch *s = *slot;
    s->ctx = ctx;
    size_t nt = (size_t)b->n, ng = (size_t)b->n * (size_t)pred->cols;
    if (s->cap_t < nt || s->cap_g < ng) {
        ns_dealloc(ctx, s->tvals);
        ns_dealloc(ctx, s->grad);
        s->tvals = ns_alloc(ctx, (nt ? nt : 1) * sizeof(float));
        s->grad = ns_alloc(ctx, (ng ? ng : 1) * sizeof(float));
        s->cap_t = nt;
        s->cap_g = ng;
        if (s->tvals == NULL || s->grad == NULL) {
            s->cap_t = s->cap_g = 0;
            return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        }
    }
    ns_targets tg = ns_batch_targets(&cfg, b, s->tvals);
    double loss = 0;
    st = ns_loss_compute(ctx, &cfg, pred->data, &tg, b->n, pred->cols, &loss, s->grad);
    if (st == NS_OK && !isfinite(loss))
        st = ns_errorf(ctx, NS_ERR_NONFINITE,
                       "the loss is not finite at epoch %lld, batch %lld; lower the learning "
                       "rate, normalise the inputs, or clip gradients",
                       (long long)b->epoch + 1, (long long)b->index + 1);
    if (st != NS_OK)
        return st;
    return ns_card_out_loss(c, "loss", loss, s->grad, b->n, pred->cols, cfg.kind);
}

/* ---- backward ---------------------------------------------------------------------------- */

static const ns_port_def bwd_in[] = {
    {"loss", NS_VALUE_LOSS, false, "the loss of the model's last forward pass"},
    {"model", NS_VALUE_MODEL, false, "the model that made the predictions"},
};
static const ns_port_def bwd_out[] = {
    {"model", NS_VALUE_MODEL, false, "the same model with gradients added"},
};

static ns_status bwd_run(ns_card_call *c)
{
    ns_value *mv = ns_card_in(c, "model");
    ns_model *m = ns_value_model(mv);
    const ns_loss_value *l = ns_value_loss(ns_card_in(c, "loss"));
    if (l->grad.cols != ns_model_output_size(m))
        return ns_errorf(ns_card_ctx(c), NS_ERR_SHAPE,
                         "the loss has %d outputs per sample but the model makes %d",
                         l->grad.cols, ns_model_output_size(m));
    ns_status st = ns_model_backward(m, l->grad.data);
    return st == NS_OK ? ns_card_out_same(c, "model", mv) : st;
}

/* ---- optimizer_step ----------------------------------------------------------------------- */

static const ns_setting_def step_settings[] = {
    {"gradient_clip", NS_SETTING_NUMBER, "0", NULL,
     "scale gradients to at most this global L2 norm (0: off)", 0, 1e12},
    {"clip_value", NS_SETTING_NUMBER, "0", NULL, "clamp each gradient to +-this (0: off)", 0,
     1e12},
};
static const ns_port_def step_in[] = {
    {"optimizer", NS_VALUE_OPTIMIZER, false, "the optimizer"},
    {"model", NS_VALUE_MODEL, true, "its model, holding the gradients (the optimizer's own)"},
};
static const ns_port_def step_out[] = {
    {"optimizer", NS_VALUE_OPTIMIZER, false, "the same optimizer, one step further"},
    {"model", NS_VALUE_MODEL, false, "the model with updated weights"},
};

static ns_status step_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_value *ov = ns_card_in(c, "optimizer"), *mv = ns_card_in(c, "model");
    if (mv != NULL && mv != ov->model)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "the model wired in is not the optimizer's: the optimizer was made for "
                         "'%s'; wire that model, or make an optimizer for this one",
                         ov->model->object);
    ns_clip clip = {ns_card_number(c, "gradient_clip"), ns_card_number(c, "clip_value")};
    bool clipping = clip.max_norm > 0 || clip.max_value > 0;
    ns_status st = ns_optim_step(ns_value_optim(ov), clipping ? &clip : NULL, NULL);
    if (st == NS_ERR_NONFINITE)
        return ns_errorf(ctx, st, "a gradient is not finite; lower the learning rate, normalise "
                                  "the inputs, or clip gradients");
    if (st == NS_OK)
        st = ns_card_out_same(c, "optimizer", ov);
    if (st == NS_OK)
        st = ns_card_out_same(c, "model", ov->model);
    return st;
}

/* ---- train ------------------------------------------------------------------------------------- */

/* The Train card's settings are the run config's training settings (src/run/config.c): one
 * vocabulary for the card, run configs and flags. */
static const ns_port_def train_in[] = {
    {"model", NS_VALUE_MODEL, true, "the model to train (its weights are the start)"},
    {"model_spec", NS_VALUE_MODEL_SPEC, true,
     "or a blueprint, built for the dataset's shape (seed, eval_batch) and trained"},
    {"optimizer", NS_VALUE_OPTIMIZER, true,
     "its optimizer, trained on in place (default: one made from the settings)"},
    {"dataset", NS_VALUE_DATASET, false,
     "the training rows (normalised here by the normalize setting unless a normalize card "
     "did it)"},
    {"val_dataset", NS_VALUE_DATASET, true, "validation rows, scored after every epoch"},
};
static const ns_port_def train_out[] = {
    {"model", NS_VALUE_MODEL, false, "the trained model"},
    {"optimizer", NS_VALUE_OPTIMIZER, true, "the optimizer (when one was wired in)"},
    {"metrics", NS_VALUE_METRICS, false,
     "the last epoch's metrics: on the validation rows when given, else the training rows"},
    {"history", NS_VALUE_HISTORY, false, "the metrics of every epoch (training and validation)"},
};

static void train_event(void *ud, const ns_run_event *ev)
{
    if (ev->kind == NS_RUN_EPOCH)
        ns_card_report_iteration(ud, ev->epoch + 1, ev->epochs);
}

static ns_status train_run(ns_card_call *c)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_value *mv = ns_card_in(c, "model"), *ov = ns_card_in(c, "optimizer");
    ns_value *sv = ns_card_in(c, "model_spec");
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    ns_dataset *val = ns_value_dataset(ns_card_in(c, "val_dataset"));
    if ((mv == NULL) == (sv == NULL))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "wire either a model (from build_model) or a model_spec (from "
                         "model_define), not %s",
                         mv ? "both" : "neither");
    if (sv != NULL && ov != NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "an optimizer belongs to a built model: wire build_model's model "
                         "instead of the model_spec");
    if (ov != NULL && mv != NULL && ov->model != mv)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "the optimizer wired in was made for another model ('%s')",
                         ov->model->object);
    ns_run_config *cfg = NULL;
    ns_status st = ns__card_run_config(c, ns__fit_settings, NS__FIT_SETTING_COUNT, true, &cfg);
    if (st != NS_OK)
        return st;
    /* A model wired in trains in place (its optimizer, when wired, is borrowed and goes on
     * with its own settings); a blueprint is built and trained as a new model. */
    ns_fit_input in = {.spec = sv ? ns_value_spec(sv) : NULL,
                       .model = mv ? ns_value_model(mv) : NULL,
                       .optim = ov ? ns_value_optim(ov) : NULL,
                       .train = ds,
                       .val = val,
                       .in_place = true};
    ns_run_hooks hooks = {train_event, c, ns_card_progress(c)};
    ns_fit_result res;
    st = ns_fit(ctx, cfg, &in, NULL, &hooks, &res);
    ns_run_config_free(cfg);
    if (st != NS_OK) {
        ns_fit_result_free(ctx, &res);
        return st;
    }
    ns_task task = res.task;
    ns_value *out = mv;
    if (!res.borrowed) {
        /* a new model object, named after this card */
        st = ns__value_new(ctx, NS_VALUE_MODEL, &out);
        if (st == NS_OK) {
            out->u.model = res.model;
            res.model = NULL;
            snprintf(out->object, sizeof out->object, "%s", ns_card_id(c));
        }
    }
    if (st == NS_OK)
        st = ns__value_set_norm(ctx, out, &res.norm);
    int n = res.epochs_run;
    const ns_epoch_report *last = n > 0 ? &res.history[n - 1] : NULL;
    ns_metric_values v = {0};
    if (last != NULL)
        v = last->has_val ? last->val : last->train;
    if (st == NS_OK)
        st = ns_card_out_metrics(c, "metrics", task, &v, 0, NULL, NULL);
    if (st == NS_OK)
        st = ns_card_out_history(c, "history", task, n > 0 ? res.history : NULL, n);
    if (st == NS_OK)
        st = ns_card_out_same(c, "model", out);
    if (st == NS_OK && ov != NULL)
        st = ns_card_out_same(c, "optimizer", ov);
    if (out != mv)
        ns_value_release(out);
    ns_fit_result_free(ctx, &res);
    return st;
}

/* ---- the loop ------------------------------------------------------------------------------ */

static const ns_setting_def loop_settings[] = {
    {"over", NS_SETTING_STRING, "\"batches\"", "batches|epochs",
     "batches: every batch of the dataset in each epoch; epochs: once per epoch", 0, 0},
    {"epochs", NS_SETTING_INT, "1", NULL, "how many epochs", 1, 1e9},
    {"batch_size", NS_SETTING_INT, "32", NULL, "rows per batch (over batches)", 1, 1e7},
    {"shuffle", NS_SETTING_BOOL, "true", NULL, "a new row order every epoch", 0, 0},
    {"drop_last", NS_SETTING_BOOL, "false", NULL, "skip a final short batch", 0, 0},
    {"seed", NS_SETTING_INT, "null", NULL, "the row order (default: the pipeline's seed)", 0,
     1.8e19},
};
static const ns_port_def loop_in[] = {
    {"dataset", NS_VALUE_DATASET, true, "the rows a loop over batches walks"},
    {"epoch", NS_VALUE_INTEGER, true, "the first epoch's number (from an enclosing loop)"},
};
static const ns_port_def loop_out[] = {
    {"epoch", NS_VALUE_INTEGER, true, "inside: the current epoch (from 0)"},
    {"batch_index", NS_VALUE_BATCH_INDEX, true, "inside a loop over batches: the current batch"},
};

const ns_card_def ns__loop_card = {
    "loop",
    "Loop: repeats its cards over epochs (and the batches of a dataset). Any input wired into "
    "it is passed on under the same name, inside and after it (loop.model is the model as "
    "training goes on, and the trained model after the loop); inside it also gives epoch and "
    "batch_index",
    loop_in,
    N(loop_in),
    loop_out,
    N(loop_out),
    loop_settings,
    N(loop_settings),
    NULL,
    NULL,
    true,
    false};

const ns_card_def ns__step_cards[] = {
    {"prepare_batch", "Prepare Batch: the rows of one batch (shuffled per epoch from the seed)",
     batch_in, N(batch_in), batch_out, N(batch_out), NULL, 0, batch_run, NULL, false, false},
    {"zero_grad", "Zero Gradients: clears the gradients of the optimizer's model", zero_in,
     N(zero_in), zero_out, N(zero_out), NULL, 0, zero_run, NULL, false, false},
    {"forward", "Forward Pass: the model's outputs for a batch", fwd_in, N(fwd_in), fwd_out,
     N(fwd_out), fwd_settings, N(fwd_settings), fwd_run, NULL, false, false},
    {"calculate_loss", "Calculate Loss: the loss of the predictions against the batch's targets",
     loss_in, N(loss_in), loss_out, N(loss_out), loss_settings, N(loss_settings), loss_run, NULL,
     false, false},
    {"backward", "Backward Pass: adds the gradients of the loss to the model", bwd_in, N(bwd_in),
     bwd_out, N(bwd_out), NULL, 0, bwd_run, NULL, false, false},
    {"optimizer_step", "Optimizer Step: updates the weights from the gradients (optional "
                       "clipping)",
     step_in, N(step_in), step_out, N(step_out), step_settings, N(step_settings), step_run, NULL,
     false, false},
    {"train", "Train: the whole loop in one card (epochs of batches, validation, early "
              "stopping), the run config's training settings; epochs, batch size, optimizer, "
              "learning rate and loss default to the blueprint's",
     train_in, N(train_in), train_out, N(train_out), ns__fit_settings, NS__FIT_SETTING_COUNT,
     train_run, NULL, false, false},
};
const int ns__step_card_count = N(ns__step_cards);
