/* Internals shared by the Train card's files: model-file metadata for the data description,
 * and checkpoints. */
#ifndef NETSMITH_RUN_INTERNAL_H
#define NETSMITH_RUN_INTERNAL_H

#include <jansson.h>

#include "core/core_internal.h"
#include "netsmith/data.h"
#include "netsmith/io.h"
#include "netsmith/kernels.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"
#include "netsmith/run.h"

/* Metadata entries (up to 4) describing info; owned[3] receive strings the caller frees. */
ns_status ns__model_info_meta(ns_ctx *ctx, const ns_model_info *info, ns_st_meta *meta, int *n,
                              char **owned);
/* Metadata entries (up to 4) for the training data's columns in info (feature names,
 * one-hot categories, target columns, byte-image scale); owned[4] receive strings the caller
 * frees. Kept apart from ns__model_info_meta so that its callers' arrays keep their size. */
ns_status ns__model_info_meta_columns(ns_ctx *ctx, const ns_model_info *info, ns_st_meta *meta,
                                      int *n, char **owned);
/* Reads the data description of an open model file (model built from it already). */
ns_status ns__model_info_read(ns_ctx *ctx, const ns_st_file *f, const char *path,
                              const ns_model *model, ns_model_info *info);
/* A batch source over a batcher (its batches of every epoch). */
ns_batch_source ns__batcher_source(ns_batcher *b);
ns_status ns__norm_copy(ns_ctx *ctx, const ns_norm *src, ns_norm *dst);

/* What a checkpoint must match to be resumed: the canonical spec, the resolved training
 * settings (JSON object text) and the data. */
typedef struct ns__run_identity {
    const char *spec_json;
    const char *settings_json;
    uint64_t train_hash, val_hash;
} ns__run_identity;

/* Writes a checkpoint of the trainer (model, optimizer moments, best weights, trainer state,
 * history, running epoch metrics) into dir as ckpt-<step>.safetensors, atomically, and
 * removes all but the newest two. */
ns_status ns__checkpoint_save(ns_trainer *t, const ns_model_info *info,
                              const ns__run_identity *id, const char *dir, char *path,
                              size_t path_cap);
/* Finds the newest checkpoint in dir that reads back whole, checks that it belongs to the
 * same run (NS_ERR_STATE saying what changed otherwise) and builds the model from it.
 * *found false (and NS_OK) when dir holds none. */
ns_status ns__checkpoint_find(ns_ctx *ctx, const char *dir, const ns__run_identity *id,
                              int max_batch, ns_model **model, ns_st_file **file, bool *found,
                              char *path, size_t path_cap);
/* Restores the optimizer moments and step count, the trainer state, best weights, history
 * and epoch metrics from an open checkpoint into a trainer made for its model. */
ns_status ns__checkpoint_restore(ns_trainer *t, const ns_st_file *f, const char *path);

/* What ns_run adds to ns_fit: stop_dir (may be NULL), where a checkpoint goes when the run is
 * cancelled and the config names no checkpoint directory; on_start (may be NULL), called with
 * every setting as used (JSON) once they are resolved and before training starts: an error
 * from it ends the run there (a record that cannot be written stops the run). */
typedef struct ns__fit_more {
    const char *stop_dir;
    ns_status (*on_start)(void *ud, const char *settings_json);
    void *ud;
} ns__fit_more;

ns_status ns__fit(ns_ctx *ctx, const ns_run_config *cfg, const ns_fit_input *in,
                  const ns_train_callbacks *callbacks, const ns_run_hooks *hooks,
                  const ns__fit_more *more, ns_fit_result *res);
/* The optimizer's settings from cfg, else the blueprint's (spec), else the defaults. */
ns_status ns__resolve_optim(ns_ctx *ctx, const ns_run_config *cfg, const ns_spec *spec,
                            ns_optim_config *q);
/* The Initialize Optimizer card's settings: the table's rows from "optimizer" on. */
#define NS__OPTIM_SETTING_FIRST 1
#define NS__OPTIM_SETTING_COUNT 11

/* The loss a task takes when none is named: cross-entropy for class labels (bce for one
 * logit), mse otherwise. */
ns_loss_kind ns__default_loss(ns_task task, int outputs);

/* The Train card's settings: the run config table's first NS__FIT_SETTING_COUNT rows (the
 * training settings, up to seed). */
#define NS__FIT_SETTING_COUNT 48
extern const ns_setting_def ns__run_setting_table[];
#define ns__fit_settings ns__run_setting_table

/* The run config's value of a setting, given or its default (NULL when it has none). */
const json_t *ns__run_config_get(const ns_run_config *cfg, const char *name);
ns_status ns__run_config_merge_json(ns_run_config *cfg, json_t *obj, const char *source,
                                    const char *base_dir);

#endif
