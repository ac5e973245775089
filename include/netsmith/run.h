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
    /* The training data's columns (see "data for a run" below); 0 and NULL in files written
     * before they were stored, and (features) for images: */
    int features;
    char **feature_names;        /* [features] the feature columns, in input order */
    int one_hot_count;
    ns_one_hot_column *one_hot;  /* [one_hot_count] text columns and their categories */
    int target_columns;
    char **target_column_names;  /* [target_columns] the target column(s) */
    float input_scale;           /* byte images: the factor bytes were multiplied by; else 0 */
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
 * ns_metrics_confusion. batch 0 means the model's max_batch. A classifier's data classes are
 * matched to the model's by name (ns_fit_class_map), so data with some of the classes, or in
 * another order, scores right; a class the model does not know is NS_ERR_INVALID. */
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

/* ==== data for a run ============================================================================
 * How every face reads data: the Data Load card (settings target, task, labels, features,
 * exclude, one_hot, delimiter, missing, max_classes), netsmith eval, predict and train (the
 * flags of the same names with dashes: --one-hot, --exclude, --features). */

typedef struct ns_data_options {
    const char *source;   /* a built-in name, a CSV or IDX images file, or a saved dataset */
    const char *target;   /* CSV target column(s) by name or 0-based index, comma-separated;
                             NULL: the last column (for a model: its target columns) */
    const char *features; /* CSV feature columns in order; NULL: all but target and exclude */
    const char *exclude;  /* CSV columns to leave out; may be NULL */
    const char *labels;   /* IDX labels file; NULL: found beside the images */
    ns_task task;         /* AUTO: from the target (for a model: the model's task) */
    bool one_hot;         /* text features become one 0/1 column per value */
    char delimiter;       /* 0: detected */
    bool no_header;
    ns_missing missing;
    int max_classes;      /* 0: 20 */
} ns_data_options;

/* Everything unset: no source, CSV defaults (ns_csv_options_default). */
void ns_data_options_default(ns_data_options *opts);

/* Sets one option from its text, by the Data Load card's setting name: "source", "target",
 * "features", "exclude", "labels" (strings, borrowed: they must outlive opts), "task"
 * (auto|classification|regression), "one_hot" and "no_header" (true|false), "delimiter"
 * (one character, or "\t" / "tab"), "missing" (error|drop|fill_mean), "max_classes" (an
 * integer >= 2). NS_ERR_INVALID names the setting and its allowed values; NS_ERR_NOTFOUND
 * for an unknown name. */
ns_status ns_data_options_set(ns_ctx *ctx, ns_data_options *opts, const char *name,
                              const char *value);

/* Data Load by the options: ns_data_load (or ns_data_load_idx with labels). *test receives an
 * official test set when the source has one, else NULL (test may be NULL). Errors as those
 * loaders', NS_ERR_INVALID for a missing source. */
ns_status ns_data_open(ns_ctx *ctx, const ns_data_options *opts, const ns_progress *progress,
                       ns_dataset **data, ns_dataset **test);

/* Data Load for a trained model (eval, predict): the data read the way the model was trained.
 * With the model's feature names (info->features > 0): the features are selected and ordered
 * by name (other columns are ignored, so swapped columns give the same rows), text columns
 * are one-hot encoded with the stored categories (ns_data_arrange: an unseen category is an
 * error), and the target is the model's target columns unless opts->target names others.
 * need_target false (predict): a CSV without the target columns is read without a target
 * (the rows get a placeholder target). need_target true (eval): missing target columns are
 * NS_ERR_NOTFOUND naming them. Without feature names (older files, images) the data is read
 * by position as ns_data_open does, with the model's task. opts->task AUTO means the model's.
 * Messages name the source: "data.csv has no column 'RM' that the model takes; ...".
 * Outputs and ownership as ns_data_open's. */
ns_status ns_data_open_for_model(ns_ctx *ctx, const ns_data_options *opts,
                                 const ns_model_info *info, bool need_target,
                                 const ns_progress *progress, ns_dataset **data,
                                 ns_dataset **test);

/* The training data's columns of ds (feature names unless images or unnamed, one-hot groups,
 * target columns, byte scale) into info's column fields (copies, freed by
 * ns_model_info_deinit); other fields are left alone. NS_ERR_NOMEM. */
ns_status ns_model_info_columns(ns_ctx *ctx, const ns_dataset *ds, ns_model_info *info);

/* map[i] receives the model's class for data class i (map holds ns_dataset_class_count(ds)
 * entries), matched by name, or by number when the model has no class names or the data's
 * names are only numbers ("0", "1", ...). *identity says whether map[i] == i throughout.
 * NS_ERR_INVALID names a class the model does not know (and the model's classes). */
ns_status ns_fit_class_map(ns_ctx *ctx, const ns_model_info *info, const ns_dataset *ds,
                           int32_t *map, bool *identity);

#ifdef __cplusplus
}
#endif
#endif
