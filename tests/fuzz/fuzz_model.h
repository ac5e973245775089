/* Running a model that a fuzz target built or loaded: one training step with batch 2, so that
 * shape and layout bugs behind a parser surface as memory errors. */
#ifndef NS_FUZZ_MODEL_H
#define NS_FUZZ_MODEL_H

#include "netsmith/netsmith.h"

/* A rough count of the multiply-adds of one forward pass of `batch` samples. */
double ns_fuzz_model_cost(const ns_model *m, int batch);

/* When the model is cheap enough (ns_fuzz_model_cost of 2 samples at most about 2e7, and
 * max_batch >= 2): a training forward of 2 samples, a backward, an Adam step (when
 * ns_optim_new accepts the model) and an evaluation forward. Aborts when a call that must
 * succeed fails or an output is missing. */
void ns_fuzz_model_step(ns_model *m);

#endif
