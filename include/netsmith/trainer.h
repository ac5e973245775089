/* netsmith trainer: the training loop behind the Train card (epochs over batches, validation,
 * metrics, schedules, early stopping, a non-finite guard, callbacks), the Evaluate card, and
 * the plain-data training state that checkpoints save and resume from.
 *
 * The loop reads batches through ns_batch_source, so it does not depend on where the data
 * comes from (a batcher over a dataset, a pipeline, a test's arrays). */
#ifndef NETSMITH_TRAINER_H
#define NETSMITH_TRAINER_H

#include "netsmith/core.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where batches come from. get fills *out with batch `index` of `epoch`; the batch stays valid
 * until the next get. The same (epoch, index) must always give the same batch. */
typedef struct ns_batch_source {
    int64_t batches; /* per epoch */
    ns_status (*get)(void *ud, int64_t epoch, int64_t index, ns_batch *out);
    void *ud;
} ns_batch_source;

/* The loss's targets for a batch: its labels for cross-entropy; float values otherwise (made
 * in tvals[b->n] from the labels of a one-logit binary classifier). The Train card and the
 * Calculate Loss card share it. */
NS_API ns_targets ns_batch_targets(const ns_loss_config *loss, const ns_batch *b, float *tvals);

/* Early stopping on a monitored metric. */
typedef struct ns_early_stop {
    int patience;       /* epochs without improvement before stopping; 0 = off */
    double min_delta;   /* an improvement must beat the best by more than this */
    char monitor[32];   /* "val_loss" (default), "val_accuracy", "loss", "val_rmse", ... */
    int mode;           /* 0 = from the metric (loss: min, accuracy: max), 1 = min, 2 = max */
    bool restore_best;  /* at the end, put back the weights of the best epoch */
} ns_early_stop;

typedef struct ns_train_config {
    int epochs;
    ns_optim_config optim;
    ns_loss_config loss;
    ns_sched_config sched;  /* NS_SCHED_CONSTANT for none */
    ns_clip clip;           /* zeros for none */
    ns_early_stop early;
    /* reduce-on-plateau watches this metric (default: early.monitor, else "val_loss") */
    char plateau_monitor[32];
} ns_train_config;

/* Fills defaults: 50 epochs, Adam (lr 1e-3), MSE, no schedule, no clipping, no early stop,
 * monitor "val_loss". */
NS_API void ns_train_config_default(ns_train_config *cfg);

/* What one epoch did. */
typedef struct ns_epoch_report {
    int epoch;               /* 0-based */
    int epochs;              /* planned */
    int64_t step;            /* optimizer steps so far */
    double lr;               /* the learning rate used in this epoch's last step */
    double seconds;          /* wall time of the epoch (training and validation) */
    double samples_per_second;
    ns_metric_values train;  /* running metrics over the epoch's batches (train mode) */
    ns_metric_values val;    /* on the validation source (eval mode), if has_val */
    bool has_val;
    bool improved;           /* the monitored metric improved (early stopping) */
} ns_epoch_report;

typedef struct ns_trainer ns_trainer;

/* Callbacks: any may be NULL. Returning false stops training after the current batch or
 * epoch (the result says NS_STOP_CALLBACK). A callback may save a checkpoint: the trainer's
 * state is consistent when they run. */
typedef struct ns_train_callbacks {
    bool (*on_batch_end)(void *ud, ns_trainer *t, const ns_batch *batch, double loss);
    bool (*on_epoch_end)(void *ud, ns_trainer *t, const ns_epoch_report *report);
    void *ud;
} ns_train_callbacks;

typedef enum ns_stop_reason {
    NS_STOP_COMPLETED = 0,
    NS_STOP_EARLY,     /* early stopping */
    NS_STOP_CALLBACK,  /* a callback returned false */
    NS_STOP_CANCELLED, /* the progress hook cancelled */
    NS_STOP_NONFINITE  /* the non-finite guard */
} ns_stop_reason;

/* The reason's name ("completed", "early", ...; a static string). */
NS_API const char *ns_stop_reason_name(ns_stop_reason r);

/* The trainer's own state: plain data, saved in checkpoints. The model (weights, buffers,
 * forward count) and optimizer (moments, step count) hold the rest. */
typedef struct ns_trainer_state {
    int64_t epoch;        /* the epoch being trained (or next to train when batch == 0) */
    int64_t batch;        /* the next batch index within the epoch */
    int64_t step;         /* optimizer steps taken */
    ns_sched sched;
    double best;          /* best monitored value so far (early stopping) */
    int64_t best_epoch;   /* -1 before the first */
    int64_t bad_epochs;
    bool stopped;         /* training ended (completed or stopped) */
    int stop_reason;      /* ns_stop_reason when stopped */
} ns_trainer_state;

/* Makes a trainer for a model (borrowed; it must outlive the trainer). task says how metrics
 * are computed (from the model's outputs: logits per class, or one logit for two classes);
 * classes is the class count (informational). optim, when not NULL, is an optimizer of model
 * that the trainer borrows (it must outlive the trainer): training goes on from its settings,
 * moments, step count and learning rate, and cfg->optim is not used. NULL makes one from
 * cfg->optim. The schedule comes from cfg. Errors (on the model's context): NS_ERR_INVALID
 * names a bad setting (epochs < 1, an optimizer of another model, a task that is neither
 * regression nor classification, an unknown monitor metric or one of the other task, an
 * optimizer or schedule setting ns_optim_new or ns_sched_init refuses); NS_ERR_NOMEM.
 * *out is the caller's: ns_trainer_free (which frees the optimizer only when the trainer
 * made it); NULL on failure. */
NS_API ns_status ns_trainer_new(ns_model *model, const ns_train_config *cfg, ns_optim *optim,
                                ns_task task, int classes, ns_trainer **out);
/* Frees the trainer (and the optimizer it made, not a borrowed one). NULL is a no-op. */
NS_API void ns_trainer_free(ns_trainer *t);

/* The trainer's model and optimizer (borrowed or its own: both live as long as the trainer),
 * its settings and its state (the trainer's own, changed as it runs). */
NS_API ns_model *ns_trainer_model(ns_trainer *t);
NS_API ns_optim *ns_trainer_optim(ns_trainer *t);
NS_API const ns_train_config *ns_trainer_config(const ns_trainer *t);
NS_API ns_trainer_state *ns_trainer_get_state(ns_trainer *t);
/* The weights of the best epoch so far (same layout as the parameter and buffer blocks),
 * or NULL when early stopping with restore_best is off. */
NS_API float *ns_trainer_best_params(ns_trainer *t);
NS_API float *ns_trainer_best_buffers(ns_trainer *t);

/* The per-epoch history so far. */
NS_API int ns_trainer_history_count(const ns_trainer *t);
NS_API const ns_epoch_report *ns_trainer_history(const ns_trainer *t, int i);
/* Replaces the history (resume) with a copy of reports[n]. NS_ERR_INVALID for n < 0 or more
 * reports than cfg->epochs. */
NS_API ns_status ns_trainer_set_history(ns_trainer *t, const ns_epoch_report *reports, int n);

/* The running training metrics of the current epoch as a flat array of doubles (for
 * checkpoints taken mid-epoch): its length, a copy into values[len], and back. Setting it has
 * the errors of ns_metrics_state_set (NS_ERR_INVALID, the state unchanged). */
NS_API size_t ns_trainer_epoch_state_len(const ns_trainer *t);
NS_API void ns_trainer_epoch_state(const ns_trainer *t, double *values);
NS_API ns_status ns_trainer_set_epoch_state(ns_trainer *t, const double *values, size_t n);

/* The Train card's loop: trains from the current state to cfg->epochs (or until stopped).
 * val may be NULL. progress (may be NULL) is called after every batch with
 * (steps done, steps planned) and can cancel. Returns NS_OK when training ended normally
 * (completed, early stop, callback stop), NS_ERR_CANCELLED when cancelled, NS_ERR_NONFINITE
 * when the guard stopped it (the message names epoch and step and gives a hint); the state
 * says why either way. A finished trainer returns NS_OK at once. NS_ERR_INVALID when train
 * has no batches, or a validation metric is monitored and val has none. Any other error of
 * the batch sources, the forward and backward passes, the loss, the metrics or the optimizer
 * step is returned as it came. */
NS_API ns_status ns_trainer_run(ns_trainer *t, const ns_batch_source *train, const ns_batch_source *val,
                                const ns_train_callbacks *callbacks, const ns_progress *progress);

/* The Evaluate card: runs model in evaluation mode over every batch of epoch 0 of src and
 * accumulates into acc (reset first; made by the caller for the model's task), with the
 * loss of cfg (NULL: no loss). Read the result with ns_metrics_compute. Errors: those of
 * src->get, ns_model_forward (NS_ERR_INVALID for a batch over max_batch), ns_loss_compute and
 * ns_metrics_add (NS_ERR_INVALID, NS_ERR_NONFINITE), returned as they came; NS_ERR_NOMEM. */
NS_API ns_status ns_evaluate(ns_model *model, const ns_loss_config *loss, const ns_batch_source *src,
                             ns_metrics *acc);

#ifdef __cplusplus
}
#endif
#endif
