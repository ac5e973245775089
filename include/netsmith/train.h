/* netsmith train: losses (Calculate Loss), optimizers (Initialize Optimizer, Zero
 * Gradients, Optimizer Step), gradient clipping and learning-rate schedules. */
#ifndef NETSMITH_TRAIN_H
#define NETSMITH_TRAIN_H

#include "netsmith/core.h"
#include "netsmith/model.h"

#ifdef __cplusplus
extern "C" {
#endif

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

const char *ns_loss_kind_name(ns_loss_kind kind);
/* Accepts the names above and the aliases "l1", "crossentropy", "ce",
 * "binary_cross_entropy", "bce_with_logits". NS_ERR_NOTFOUND otherwise. */
ns_status ns_loss_kind_parse(const char *name, ns_loss_kind *out);

typedef enum ns_reduction { NS_REDUCE_MEAN = 0, NS_REDUCE_SUM = 1 } ns_reduction;

typedef struct ns_loss_config {
    ns_loss_kind kind;
    ns_reduction reduction;     /* mean (default) */
    double huber_delta;         /* huber: 1.0 */
    double label_smoothing;     /* cross_entropy: in [0, 1] */
    const float *class_weights; /* cross_entropy: [classes] or NULL (borrowed) */
} ns_loss_config;

void ns_loss_config_default(ns_loss_config *cfg, ns_loss_kind kind);

/* The targets of a batch: regression and bce use values[batch, outputs];
 * cross_entropy uses labels[batch] in [0, outputs). */
typedef struct ns_targets {
    const float *values;
    const int32_t *labels;
} ns_targets;

/* Calculate Loss. pred[batch, outputs] (logits for cross_entropy and bce).
 * *loss receives the reduced loss; dpred[batch, outputs] (may be NULL) is overwritten with
 * d loss / d pred. Matches torch.nn.functional's losses. Errors: NS_ERR_INVALID for a label
 * out of range (message names the row), NS_ERR_NONFINITE for a NaN/Inf prediction or target. */
ns_status ns_loss_compute(ns_ctx *ctx, const ns_loss_config *cfg, const float *pred,
                          const ns_targets *targets, int batch, int outputs, double *loss,
                          float *dpred);

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

const char *ns_optim_kind_name(ns_optim_kind kind);
ns_status ns_optim_kind_parse(const char *name, ns_optim_kind *out);

/* Every setting of torch.optim's SGD, Adam, AdamW and RMSprop. */
typedef struct ns_optim_config {
    ns_optim_kind kind;
    double lr;           /* sgd 0.01 (torch requires it; we default to 0.01), adam 1e-3, rmsprop 1e-2 */
    double weight_decay; /* 0 (adamw: 1e-2) */
    /* sgd */
    double momentum;     /* 0; also rmsprop momentum */
    double dampening;    /* 0 */
    bool nesterov;
    /* adam, adamw */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 (adam), 1e-8 (rmsprop) */
    bool amsgrad;
    /* rmsprop */
    double alpha;        /* 0.99 */
    bool centered;
} ns_optim_config;

void ns_optim_config_default(ns_optim_config *cfg, ns_optim_kind kind);

/* Gradient clipping applied inside a step, before the update. */
typedef struct ns_clip {
    double max_norm;  /* > 0: scale gradients so their global L2 norm is at most this */
    double max_value; /* > 0: clamp every gradient to [-max_value, max_value] */
} ns_clip;

typedef struct ns_optim ns_optim;

/* Initialize Optimizer: moments live in one contiguous block (kinds x param_count floats).
 * The model must outlive the optimizer. Errors: NS_ERR_INVALID names the bad setting. */
ns_status ns_optim_new(ns_model *model, const ns_optim_config *cfg, ns_optim **out);
void ns_optim_free(ns_optim *opt);

/* Zero Gradients (of the optimizer's model). */
void ns_optim_zero_grad(ns_optim *opt);
/* Optimizer Step: optional clipping (clip may be NULL), then the update.
 * *grad_norm (may be NULL) receives the global gradient norm before clipping.
 * A non-finite gradient fails with NS_ERR_NONFINITE and leaves the weights unchanged. */
ns_status ns_optim_step(ns_optim *opt, const ns_clip *clip, double *grad_norm);

double ns_optim_lr(const ns_optim *opt);
void ns_optim_set_lr(ns_optim *opt, double lr);
const ns_optim_config *ns_optim_get_config(const ns_optim *opt);
int64_t ns_optim_step_count(const ns_optim *opt);
void ns_optim_set_step_count(ns_optim *opt, int64_t steps);
/* The moment block: moment_count x param_count floats (adam: exp_avg, exp_avg_sq
 * [, max_exp_avg_sq]; sgd: momentum_buffer; rmsprop: square_avg [, momentum_buffer]
 * [, grad_avg]). Names for state files come from ns_optim_moment_name. */
float *ns_optim_moments(ns_optim *opt);
int ns_optim_moment_count(const ns_optim *opt);
const char *ns_optim_moment_name(const ns_optim *opt, int i);

/* Global L2 norm of a block, accumulated in double. */
double ns_grad_norm(const float *g, size_t n);
/* Scales g so its norm is at most max_norm (PyTorch's clip_grad_norm_: factor
 * max_norm / (norm + 1e-6), only when below 1). Returns the norm before clipping. */
double ns_clip_grad_norm(float *g, size_t n, double max_norm);
void ns_clip_grad_value(float *g, size_t n, double max_value);

/* ---- learning-rate schedules --------------------------------------------------- */

/* constant; step: step_size, gamma; multistep: milestones, gamma; exponential: gamma;
 * cosine: t_max, eta_min; warmup (LinearLR): start_factor, end_factor, total_iters;
 * onecycle: max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal;
 * plateau: mode, factor, patience, threshold, threshold mode, cooldown, min_lr. */
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

const char *ns_sched_kind_name(ns_sched_kind kind);
ns_status ns_sched_kind_parse(const char *name, ns_sched_kind *out);

#define NS_SCHED_MAX_MILESTONES 16

typedef struct ns_sched_config {
    ns_sched_kind kind;
    int step_size;
    double gamma;
    int milestones[NS_SCHED_MAX_MILESTONES];
    int n_milestones;
    int t_max;
    double eta_min;
    double start_factor, end_factor;
    int total_iters;
    double max_lr;
    int total_steps;
    double pct_start, div_factor, final_div_factor;
    bool anneal_linear; /* onecycle: linear instead of cosine annealing */
    bool mode_max;      /* plateau: metric should rise (accuracy) */
    double factor;
    int patience;
    double threshold;
    bool threshold_abs; /* plateau: absolute instead of relative threshold */
    int cooldown;
    double min_lr;
} ns_sched_config;

void ns_sched_config_default(ns_sched_config *cfg, ns_sched_kind kind);

/* Schedule state: plain data, so a checkpoint saves it by value. */
typedef struct ns_sched {
    ns_sched_config cfg;
    double base_lr;
    double lr;        /* the current learning rate */
    int64_t last_step; /* how many times ns_sched_step was called */
    /* plateau */
    double best;
    int bad_steps;
    int cooldown_left;
} ns_sched;

/* Starts a schedule for an optimizer whose initial learning rate is base_lr; sets
 * sched->lr to the learning rate of step 0 (onecycle: max_lr / div_factor).
 * NS_ERR_INVALID names a bad setting. */
ns_status ns_sched_init(ns_ctx *ctx, ns_sched *sched, const ns_sched_config *cfg, double base_lr);
/* Advances one step (an epoch, or a batch for onecycle) and returns the new learning rate,
 * as PyTorch's scheduler.step() followed by get_last_lr(). metric is used only by plateau. */
double ns_sched_step(ns_sched *sched, double metric);

#ifdef __cplusplus
}
#endif
#endif
