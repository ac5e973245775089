/* The io module's library-internal interface (never installed): model files written with more
 * tensors and read from an open file, for the training state (io/train_state.c) and the run
 * layer's checkpoints. */
#ifndef NETSMITH_IO_INTERNAL_H
#define NETSMITH_IO_INTERNAL_H

#include "core/core_internal.h"
#include "netsmith/format.h"
#include "netsmith/io.h"
#include "netsmith/model.h"

/* Writes the model's tensors followed by `more` tensors, with the model metadata and extra
 * (atomically, as ns_model_save). Errors: those of ns_model_save. */
ns_status ns__model_write(ns_model *m, const char *path, const ns_st_tensor *more, int n_more,
                          const ns_st_meta *extra, int n_extra);
/* Builds a model from an open model file (spec and shapes from metadata, weights from its
 * tensors); path names the file in messages. *out is the caller's (ns_model_free). Errors:
 * those of ns_model_load. */
ns_status ns__model_from_file(ns_ctx *ctx, const ns_st_file *f, const char *path, int max_batch,
                              ns_model **out);

#endif
