/* Internal entry to the optimizers: an optimizer over caller-owned flat parameter and
 * gradient blocks, without a model. ns_optim_new is a thin wrapper over it; tests use it
 * to check the update rules without building a model. Never installed. */
#ifndef NETSMITH_TRAIN_OPTIM_INTERNAL_H
#define NETSMITH_TRAIN_OPTIM_INTERNAL_H

#include "netsmith/train.h"

/* Makes an optimizer over params[n] and grads[n] (borrowed: both must outlive the optimizer
 * and must not move). cfg is validated and copied; the moment block is allocated from ctx and
 * zeroed. ns_optim_zero_grad clears grads[n] with one memset. n may be 0 (every step is then
 * a no-op that still counts). Errors: NS_ERR_INVALID names the bad setting and how to fix it;
 * NS_ERR_NOMEM leaves nothing allocated. On success *out is owned by the caller
 * (ns_optim_free); on failure *out is NULL. */
ns_status ns__optim_new_raw(ns_ctx *ctx, float *params, float *grads, size_t n,
                            const ns_optim_config *cfg, ns_optim **out);

#endif
