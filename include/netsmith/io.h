/* netsmith io: model files and training-state files (above train). The generic formats they
 * are written in (safetensors, atomic writes, directory locks, YAML) are netsmith/format.h. */
#ifndef NETSMITH_IO_H
#define NETSMITH_IO_H

#include <stdio.h>

#include "netsmith/core.h"
#include "netsmith/format.h"
#include "netsmith/model.h"
#include "netsmith/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- model files ---------------------------------------------------------------------- */

/* Saves the model's parameters and buffers under nn.Sequential state_dict names, with
 * metadata "format": "pt", "netsmith.version", "netsmith.spec" (canonical JSON),
 * "netsmith.input_shape" and "netsmith.output_size", plus extra (may be NULL) entries.
 * Refuses (NS_ERR_NONFINITE) to save non-finite weights. Written atomically (ns_st_write).
 * Other errors (on the model's context): those of ns_st_write (NS_ERR_IO; NS_ERR_INVALID for
 * an extra entry that is not valid UTF-8 or repeats a key), NS_ERR_NOMEM. */
NS_API ns_status ns_model_save(ns_model *model, const char *path, const ns_st_meta *extra, int n_extra);
/* Rebuilds a model from a file written by ns_model_save (spec and shapes from metadata,
 * weights from tensors). Missing, extra or mis-shaped tensors are NS_ERR_FORMAT naming
 * the tensor. max_batch 0 means the default. Errors: those of ns_st_open (NS_ERR_IO,
 * NS_ERR_FORMAT, ...); NS_ERR_FORMAT naming the file for missing or bad metadata or an output
 * size the spec does not build; those of ns_spec_parse for the stored spec and of
 * ns_model_build; NS_ERR_NOMEM. *out is the caller's: ns_model_free; NULL on failure. */
NS_API ns_status ns_model_load(ns_ctx *ctx, const char *path, int max_batch, ns_model **out);
/* Loads matching tensors of an open file into an existing model (every model tensor must
 * be present with the same shape, dtype F32, or I64 for counters). Errors (on the model's
 * context): NS_ERR_FORMAT naming a tensor that is missing, has another dtype or shape, or is
 * a layer tensor ("<index>.<name>") the model does not have. Tensors are copied as they are
 * checked, so after a failure the model may hold some of the file's weights. */
NS_API ns_status ns_model_load_weights(ns_model *model, const ns_st_file *f);

/* ---- training state files ---------------------------------------------------------------- */

/* Saves a model in mid-training so another process can continue it exactly: the model file
 * (as ns_model_save writes it) plus
 *   "state.grads"  F32 [param_count]: the gradient block;
 *   "state.input"  F32 [last_batch, input_size]: the last forward's x (only after a forward);
 *   "state.arena"  U8 [bytes]: the activation arena as the last forward left it (outputs,
 *                  dropout masks, pooling indices, batch statistics, im2col buffers; only after
 *                  a forward),
 * and metadata "netsmith.state", a JSON object {"version": 1, "max_batch", "keep_input_grad",
 * "output_size" (the build option), "forward_count", "have_forward", "last_batch",
 * "last_training", "arena_bytes"}. The seed, spec, weights, running statistics and batch
 * counters travel as in any model file. The last forward's x must still hold what it held
 * then (as backward requires). The arena is saved whole: max_batch x the activations of
 * every layer, so build with a max_batch near the batch size to keep files small. Written
 * atomically (ns_st_write). Errors (on the model's context): NS_ERR_NONFINITE for
 * non-finite weights (gradients are saved whatever they hold), NS_ERR_UNSUPPORTED for a
 * forward count above 2^63 - 1, NS_ERR_IO, NS_ERR_NOMEM.
 * Thread safety: reads the model only. */
NS_API ns_status ns_model_save_state(ns_model *model, const char *path);
/* Rebuilds a model from a state file with the same max_batch (and keep_input_grad) and
 * restores gradients, forward count and the last forward, so ns_model_backward(dy) gives
 * bit-identical gradients and the next training forward draws the same dropout masks as the
 * saved model would have. The model owns its copy of the last input. A plain model file (no
 * "netsmith.state") loads too, with the default max_batch, zero gradients and no last
 * forward (backward is then NS_ERR_STATE). Errors: those of ns_st_open and ns_model_load
 * (NS_ERR_IO, NS_ERR_FORMAT, ...); NS_ERR_FORMAT naming the file for a state entry that is not
 * valid JSON, has a missing, unknown or out-of-range key, or a state tensor that is missing or
 * has the wrong dtype or shape (an arena of another size means the file was written by a
 * netsmith whose activation layout differs); NS_ERR_NOMEM (nothing leaks). On success *out is
 * owned by the caller (ns_model_free); on failure it is NULL. */
NS_API ns_status ns_model_load_state(ns_ctx *ctx, const char *path, ns_model **out);

/* Saves an optimizer's full state: its settings (every field of ns_optim_config, lr as last
 * set), completed steps and moments. Tensors: "optim.<moment name>" F32 [param_count] per
 * moment (PyTorch's state keys: "optim.exp_avg", ...), and F64 scalars "optim.lr",
 * "optim.weight_decay", "optim.momentum", "optim.dampening", "optim.beta1", "optim.beta2",
 * "optim.eps", "optim.alpha" (so doubles come back bit for bit). Metadata: "netsmith.version"
 * and "netsmith.optimizer", a JSON object {"version": 1, "kind", "nesterov", "amsgrad",
 * "centered", "step_count", "param_count", "moments": [names in block order]}. The model is
 * not saved (ns_model_save_state does that). Written atomically. Errors (on the optimizer's
 * context): NS_ERR_IO, NS_ERR_NOMEM. Thread safety: reads the optimizer only. */
NS_API ns_status ns_optim_save_state(const ns_optim *opt, const char *path);
/* Reads an optimizer state file and makes an optimizer over `model` (as ns_optim_new) with
 * those settings, step count and moments, so its next step is the one the saved optimizer
 * would have taken. Errors (on the model's context): those of ns_st_open; NS_ERR_FORMAT
 * naming the file for a missing "netsmith.optimizer", bad JSON, a missing, unknown or
 * out-of-range key, or a tensor that is missing or has the wrong dtype or shape; NS_ERR_SHAPE
 * when the moments were saved for another number of parameters than the model has (load it
 * with the model it was saved with); NS_ERR_INVALID for settings ns_optim_new refuses;
 * NS_ERR_NOMEM. On success *out is owned by the caller (ns_optim_free); on failure NULL. */
NS_API ns_status ns_optim_load_state(ns_model *model, const char *path, ns_optim **out);

#ifdef __cplusplus
}
#endif
#endif
