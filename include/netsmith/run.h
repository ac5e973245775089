/* netsmith fit: the Train card over datasets (task inference, normalisation, batches,
 * the training loop, checkpoints and exact resume), and the Evaluate and Inference cards
 * over datasets. The command line, pipelines and (later) the server all call these. */
#ifndef NETSMITH_RUN_H
#define NETSMITH_RUN_H

#include <stdio.h>

#include "netsmith/core.h"
#include "netsmith/data.h"
#include "netsmith/io.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Settings of a training run. Zero / empty fields mean "from the spec, else the default". */
typedef struct ns_fit_options {
    uint64_t seed;            /* weights, dropout, shuffling */
    int epochs;               /* 0: the spec's */
    int batch_size;           /* 0: the spec's */
    char optimizer[16];       /* "": the spec's */
    double lr;                /* 0: the spec's */
    double weight_decay;      /* < 0: the spec's (fill with -1 by ns_fit_options_default) */
    char loss[24];            /* "": the spec's, else from the task */
    ns_task task;             /* AUTO: the data's */
    ns_norm_kind normalize;   /* fitted on the training data, stored in the model */
    ns_sched_config sched;
    ns_clip clip;
    ns_early_stop early;
    int eval_batch;           /* batch size for validation and evaluation (default 256) */
    /* checkpoints: every N epochs and/or steps (0: never), always at the end when a
     * directory is given; the last two are kept. The directory is made if missing and locked
     * for the run (ns_dir_lock): a second run on it fails with NS_ERR_STATE naming the
     * holder's process. */
    const char *checkpoint_dir;
    int checkpoint_epochs;
    int64_t checkpoint_steps;
    bool resume;              /* continue from the newest checkpoint in checkpoint_dir */
    int prefetch;             /* batches prepared ahead by a background thread (0: none) */
} ns_fit_options;

void ns_fit_options_default(ns_fit_options *opts);

/* What a run produced. Owned by the caller: ns_fit_result_free. */
typedef struct ns_fit_result {
    ns_model *model;             /* the trained model (normalisation and labels travel with it) */
    ns_task task;
    int classes;
    ns_norm norm;                /* the fitted normalisation (kind NONE if none) */
    ns_epoch_report *history;    /* per epoch */
    int epochs_run;
    ns_stop_reason stop_reason;
    bool resumed;                /* started from a checkpoint */
    int64_t resumed_epoch, resumed_batch;
    char loss[24], optimizer[16];
} ns_fit_result;

void ns_fit_result_free(ns_ctx *ctx, ns_fit_result *r);

/* The Train card. spec (a blueprint) or model (already built; its weights are the start) —
 * exactly one non-NULL. train and val (may be NULL) are datasets; the fitted normalisation
 * of opts->normalize is applied to both. callbacks and progress may be NULL. On NS_OK *result
 * holds the model; on NS_ERR_NONFINITE or NS_ERR_CANCELLED *result still holds the model and
 * history so far (the model's weights are finite). */
ns_status ns_fit(ns_ctx *ctx, const ns_spec *spec, ns_model *model, const ns_dataset *train,
                 const ns_dataset *val, const ns_fit_options *opts,
                 const ns_train_callbacks *callbacks, const ns_progress *progress,
                 ns_fit_result *result);

/* Model files with their data description: the normalisation, the task, class labels and
 * target names (all in __metadata__), next to the weights. */
typedef struct ns_model_info {
    ns_task task;
    int classes;
    char **class_names; /* [classes] or NULL */
    int targets;
    char **target_names; /* [targets] or NULL */
    ns_norm norm;
} ns_model_info;

/* Saves model + info (+ extra metadata). */
ns_status ns_fit_save(ns_model *model, const ns_model_info *info, const char *path);
/* Loads a model file and its info (info fields are allocated on ctx; ns_model_info_deinit). */
ns_status ns_fit_load(ns_ctx *ctx, const char *path, int max_batch, ns_model **model,
                      ns_model_info *info);
void ns_model_info_deinit(ns_ctx *ctx, ns_model_info *info);
/* The info of a training result and its training dataset: copies (ns_model_info_deinit). */
ns_status ns_model_info_from(ns_ctx *ctx, const ns_fit_result *r, const ns_dataset *ds,
                             ns_model_info *info);

/* The Evaluate card over a raw dataset: applies info's normalisation, runs the model in
 * evaluation mode with info's task loss, and accumulates into acc (made by the caller with
 * ns_metrics_new for info's task; reset first). Read it with ns_metrics_compute and
 * ns_metrics_confusion. batch 0 means the model's max_batch. */
ns_status ns_fit_evaluate(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                          int batch, ns_metrics *acc);

/* Inference: out[rows, outputs] model outputs in evaluation mode for every row of data
 * (normalised by info's fit). For classification also probabilities (softmax, or sigmoid for
 * one logit) when probs is non-NULL: probs[rows, classes]. */
ns_status ns_fit_predict(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                         float *out, float *probs);

/* Writes predictions as CSV to f: for a classifier "row,label,p_<class>,..." from
 * probs[rows, C] (C = k, or 2 for one logit), for a regression "row,<target>,..." from
 * out[rows, k]. Names come from info, else from ds, else numbers; fields are quoted as
 * RFC 4180 needs. Check ferror(f) afterwards. */
void ns_fit_write_predictions(FILE *f, const ns_model_info *info, const ns_dataset *ds,
                              int64_t rows, int k, const float *out, const float *probs);

#ifdef __cplusplus
}
#endif
#endif
