/* netsmith vocabulary: the kinds that blueprints, run configs, cards and the command line spell
 * out by name (tasks, losses, optimizers, schedules), at the bottom of the house so that every
 * module can name them. Their name tables are in src/core/names.c. */
#ifndef NETSMITH_VOCAB_H
#define NETSMITH_VOCAB_H

#include "netsmith/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tasks ------------------------------------------------------------------- */

typedef enum ns_task {
    NS_TASK_AUTO = 0, /* decided from the data */
    NS_TASK_REGRESSION,
    NS_TASK_CLASSIFICATION
} ns_task;

/* "auto", "regression", "classification" (a static string); NULL out of range. */
NS_API const char *ns_task_name(ns_task task);
/* The task of that exact name; NS_ERR_NOTFOUND (with no message) for another name or NULL. */
NS_API ns_status ns_task_parse(const char *name, ns_task *out);

/* ---- losses ------------------------------------------------------------------ */

#define NS_LOSS_KIND_MAP(X)                                                                        \
    X(MSE, "mse")                                                                                  \
    X(MAE, "mae")                                                                                  \
    X(HUBER, "huber")                                                                              \
    X(CROSS_ENTROPY, "cross_entropy")                                                              \
    X(BCE, "bce")

typedef enum ns_loss_kind {
#define NS__LOSS_ENUM(name, str) NS_LOSS_##name,
    NS_LOSS_KIND_MAP(NS__LOSS_ENUM)
#undef NS__LOSS_ENUM
        NS_LOSS_KIND_COUNT
} ns_loss_kind;

/* The kind's name ("mse", ...; a static string, NULL out of range). */
NS_API const char *ns_loss_kind_name(ns_loss_kind kind);
/* Accepts the names above and the aliases "l1", "crossentropy", "ce",
 * "binary_cross_entropy", "bce_with_logits". NS_ERR_NOTFOUND otherwise. */
NS_API ns_status ns_loss_kind_parse(const char *name, ns_loss_kind *out);

/* ---- optimizers -------------------------------------------------------------- */

#define NS_OPTIM_KIND_MAP(X)                                                                       \
    X(SGD, "sgd")                                                                                  \
    X(ADAM, "adam")                                                                                \
    X(ADAMW, "adamw")                                                                              \
    X(RMSPROP, "rmsprop")

typedef enum ns_optim_kind {
#define NS__OPTIM_ENUM(name, str) NS_OPTIM_##name,
    NS_OPTIM_KIND_MAP(NS__OPTIM_ENUM)
#undef NS__OPTIM_ENUM
        NS_OPTIM_KIND_COUNT
} ns_optim_kind;

/* The kind's name ("sgd", "adam", "adamw", "rmsprop"; static) and back (NS_ERR_NOTFOUND for
 * another name, with no message). */
NS_API const char *ns_optim_kind_name(ns_optim_kind kind);
NS_API ns_status ns_optim_kind_parse(const char *name, ns_optim_kind *out);

/* ---- schedules --------------------------------------------------------------- */

/* Each kind reproduces its torch.optim.lr_scheduler class's get_last_lr() sequence, using
 * PyTorch's recursive forms so the doubles agree:
 * constant (the rate never changes); step (StepLR): step_size, gamma; multistep (MultiStepLR):
 * milestones, gamma; exponential (ExponentialLR): gamma; cosine (CosineAnnealingLR): t_max,
 * eta_min; warmup (LinearLR): start_factor, end_factor, total_iters; onecycle (OneCycleLR,
 * three_phase false, no momentum cycling): max_lr, total_steps, pct_start, div_factor,
 * final_div_factor, anneal; plateau (ReduceLROnPlateau, eps 1e-8): mode, factor, patience,
 * threshold, threshold mode, cooldown, min_lr. */
#define NS_SCHED_KIND_MAP(X)                                                                       \
    X(CONSTANT, "constant")                                                                        \
    X(STEP, "step")                                                                                \
    X(MULTISTEP, "multistep")                                                                      \
    X(EXPONENTIAL, "exponential")                                                                  \
    X(COSINE, "cosine")                                                                            \
    X(WARMUP, "warmup")                                                                            \
    X(ONECYCLE, "onecycle")                                                                        \
    X(PLATEAU, "plateau")

typedef enum ns_sched_kind {
#define NS__SCHED_ENUM(name, str) NS_SCHED_##name,
    NS_SCHED_KIND_MAP(NS__SCHED_ENUM)
#undef NS__SCHED_ENUM
        NS_SCHED_KIND_COUNT
} ns_sched_kind;

/* The kind's name ("constant", "step", ...; static) and back (NS_ERR_NOTFOUND for another
 * name, with no message). */
NS_API const char *ns_sched_kind_name(ns_sched_kind kind);
NS_API ns_status ns_sched_kind_parse(const char *name, ns_sched_kind *out);

#ifdef __cplusplus
}
#endif

#endif
