/* Internals shared by the Train card's files: model-file metadata for the data description,
 * and checkpoints. */
#ifndef NETSMITH_RUN_INTERNAL_H
#define NETSMITH_RUN_INTERNAL_H

#include "internal.h"
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
                              const ns__run_identity *id, const char *dir);
/* Finds the newest checkpoint in dir that reads back whole, checks that it belongs to the
 * same run (NS_ERR_STATE saying what changed otherwise) and builds the model from it.
 * *found false (and NS_OK) when dir holds none. */
ns_status ns__checkpoint_find(ns_ctx *ctx, const char *dir, const ns__run_identity *id,
                              int max_batch, ns_model **model, ns_st_file **file, bool *found,
                              char *path, size_t path_cap);
/* Restores the optimizer moments and step count, the trainer state, best weights, history
 * and epoch metrics from an open checkpoint into a trainer made for its model. */
ns_status ns__checkpoint_restore(ns_trainer *t, const ns_st_file *f, const char *path);

#endif
