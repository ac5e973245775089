/* netsmith train: losses (Calculate Loss), optimizers (Initialize Optimizer, Zero
 * Gradients, Optimizer Step), gradient clipping and learning-rate schedules. */
#ifndef NETSMITH_TRAIN_H
#define NETSMITH_TRAIN_H

#include "netsmith/core.h"
#include "netsmith/model.h"
#include "netsmith/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- losses ------------------------------------------------------------------ */


typedef enum ns_reduction { NS_REDUCE_MEAN = 0, NS_REDUCE_SUM = 1 } ns_reduction;

typedef struct ns_loss_config {
    ns_loss_kind kind;
    ns_reduction reduction;     /* mean (default) */
    double huber_delta;         /* huber: 1.0 */
    double label_smoothing;     /* cross_entropy: in [0, 1] */
    const float *class_weights; /* cross_entropy: [outputs], finite and >= 0, or NULL (borrowed) */
} ns_loss_config;

/* Fills cfg for kind with PyTorch's defaults: mean reduction, huber_delta 1, no label
 * smoothing, no class weights. */
NS_API void ns_loss_config_default(ns_loss_config *cfg, ns_loss_kind kind);

/* The targets of a batch: regression and bce use values[batch, outputs];
 * cross_entropy uses labels[batch] in [0, outputs). */
typedef struct ns_targets {
    const float *values;
    const int32_t *labels;
} ns_targets;

/* Calculate Loss. pred[batch, outputs] (logits for cross_entropy and bce).
 * *loss receives the reduced loss; dpred[batch, outputs] (may be NULL) is overwritten with
 * d loss / d pred. Matches torch.nn.functional's losses (mean: over every element for the
 * elementwise losses, over the batch weighted by the target classes' weights for
 * cross_entropy). Errors leave *loss and dpred unchanged: NS_ERR_INVALID for batch or
 * outputs < 1, missing targets, a bad setting or a setting of another kind left changed from
 * its default (label_smoothing on mse, ...), a label out of range or a bce target outside
 * [0, 1] (the message names the row), or mean cross_entropy whose target classes all weigh 0;
 * NS_ERR_NONFINITE for a NaN/Inf prediction or target (the message names row and column). */
NS_API ns_status ns_loss_compute(ns_ctx *ctx, const ns_loss_config *cfg, const float *pred,
                                 const ns_targets *targets, int batch, int outputs, double *loss,
                                 float *dpred);

/* ---- optimizers -------------------------------------------------------------- */


/* Every setting of torch.optim's SGD, Adam, AdamW and RMSprop (maximize and foreach aside).
 * Defaults (ns_optim_config_default) in comments; ranges are checked by ns_optim_new.
 * A setting that only other kinds use must keep its default (nesterov on adam, amsgrad on
 * sgd, ... are NS_ERR_INVALID rather than silently ignored). */
typedef struct ns_optim_config {
    ns_optim_kind kind;
    double lr;           /* >= 0. sgd 0.01 (torch requires it; we default to 0.01), adam and
                            adamw 1e-3, rmsprop 1e-2 */
    double weight_decay; /* >= 0. 0 (adamw: 1e-2). L2 added to the gradient; adamw decouples
                            it (p *= 1 - lr * weight_decay before the update) */
    /* sgd */
    double momentum;     /* [0, 1). 0; also rmsprop momentum; must be 0 for adam and adamw */
    double dampening;    /* [0, 1]. 0; not applied on the first step, as in PyTorch */
    bool nesterov;       /* needs momentum > 0 and dampening 0 */
    /* adam, adamw */
    double beta1, beta2; /* [0, 1). 0.9, 0.999 */
    double eps;          /* > 0. 1e-8 (adam, adamw, rmsprop) */
    bool amsgrad;
    /* rmsprop */
    double alpha;        /* [0, 1). 0.99 */
    bool centered;
} ns_optim_config;

/* Fills cfg with PyTorch's defaults for kind (every field, whatever the kind). */
NS_API void ns_optim_config_default(ns_optim_config *cfg, ns_optim_kind kind);

/* Gradient clipping applied inside a step, before the update. 0 turns either off; a negative
 * or non-finite bound makes ns_optim_step fail with NS_ERR_INVALID. With both set, norm
 * clipping comes first (from the norm measured before any clipping), then value clipping: the
 * result honours both bounds. */
typedef struct ns_clip {
    double max_norm;  /* > 0: scale gradients so their global L2 norm is at most this */
    double max_value; /* > 0: clamp every gradient to [-max_value, max_value] */
} ns_clip;

typedef struct ns_optim ns_optim;

/* Initialize Optimizer over the model's parameter and gradient blocks: moments live in one
 * contiguous, zeroed block (moment_count x param_count floats) allocated from the model's
 * context. cfg is copied. The model must outlive the optimizer and its blocks must not move.
 * Errors: NS_ERR_INVALID names the bad setting and how to fix it; NS_ERR_NOMEM leaks nothing.
 * On success *out is owned by the caller (ns_optim_free); on failure it is NULL. */
NS_API ns_status ns_optim_new(ns_model *model, const ns_optim_config *cfg, ns_optim **out);
/* Frees the optimizer and its moments (not the model). NULL is a no-op. */
NS_API void ns_optim_free(ns_optim *opt);

/* Zero Gradients (of the optimizer's model): one memset of the gradient block. */
NS_API void ns_optim_zero_grad(ns_optim *opt);
/* Optimizer Step: measures the global gradient norm (double accumulation), clips (clip may
 * be NULL; see ns_clip for the order), then updates every parameter in one fused pass with
 * PyTorch's rule for the kind, and counts the step. Clipped gradients are written back to the
 * gradient block, as PyTorch clips p.grad in place. *grad_norm (may be NULL) receives the
 * norm before clipping, also when the step fails on it. A non-finite gradient fails with
 * NS_ERR_NONFINITE (the message names the step, counted from 1, and the first bad index)
 * and leaves weights, moments, gradients and the step count unchanged. No allocation. */
NS_API ns_status ns_optim_step(ns_optim *opt, const ns_clip *clip, double *grad_norm);

/* The learning rate of the next step. set_lr takes a finite lr >= 0 (asserted; schedules
 * only produce such rates). */
NS_API double ns_optim_lr(const ns_optim *opt);
NS_API void ns_optim_set_lr(ns_optim *opt, double lr);
/* The settings in use (lr as last set). Valid while the optimizer lives. */
NS_API const ns_optim_config *ns_optim_get_config(const ns_optim *opt);
/* The model an optimizer updates (NULL for one over raw blocks). */
NS_API ns_model *ns_optim_model(const ns_optim *opt);
/* Completed steps: Adam's bias corrections use step_count + 1, and SGD's momentum buffer
 * counts as empty while it is 0 (the next step copies the gradient into it). Restore it
 * together with the moments when resuming; steps >= 0. */
NS_API int64_t ns_optim_step_count(const ns_optim *opt);
NS_API void ns_optim_set_step_count(ns_optim *opt, int64_t steps);
/* The moment block: moment_count x param_count floats, moment i at i * param_count
 * (adam, adamw: exp_avg, exp_avg_sq [, max_exp_avg_sq with amsgrad]; sgd: momentum_buffer
 * when momentum > 0, else none; rmsprop: square_avg [, momentum_buffer when momentum > 0]
 * [, grad_avg when centered]). NULL when there are no moments or no parameters. The names
 * (PyTorch's state keys) come from ns_optim_moment_name; NULL for i out of range. */
NS_API float *ns_optim_moments(ns_optim *opt);
NS_API int ns_optim_moment_count(const ns_optim *opt);
NS_API const char *ns_optim_moment_name(const ns_optim *opt, int i);
/* Parameters the optimizer updates (the model's param_count): each moment's length. */
NS_API size_t ns_optim_param_count(const ns_optim *opt);
/* The context the optimizer was made with (its messages and allocations go there). */
NS_API ns_ctx *ns_optim_ctx(const ns_optim *opt);

/* Global L2 norm of g[n], accumulated in double in a fixed order (deterministic). Non-finite
 * exactly when some element is. */
NS_API double ns_grad_norm(const float *g, size_t n);
/* Scales g[n] so its norm is at most max_norm (PyTorch's clip_grad_norm_: factor
 * max_norm / (norm + 1e-6), only when below 1). Returns the norm before clipping. A non-finite
 * norm, or max_norm <= 0, leaves g unchanged. */
NS_API double ns_clip_grad_norm(float *g, size_t n, double max_norm);
/* Clamps every g[i] to [-max_value, max_value] (PyTorch's clip_grad_value_); NaN stays NaN.
 * max_value <= 0 leaves g unchanged. */
NS_API void ns_clip_grad_value(float *g, size_t n, double max_value);

/* ---- learning-rate schedules --------------------------------------------------- */


#define NS_SCHED_MAX_MILESTONES 16

/* Settings of every kind; each kind reads only its own. Defaults (ns_sched_config_default)
 * and the ranges ns_sched_init accepts in comments. */
typedef struct ns_sched_config {
    ns_sched_kind kind;
    int step_size;                           /* step: >= 1; 10 */
    double gamma;                            /* step, multistep, exponential: > 0; 0.1
                                                (exponential 0.95) */
    int milestones[NS_SCHED_MAX_MILESTONES]; /* multistep: steps >= 1, ascending; a repeated
                                                milestone drops the rate twice */
    int n_milestones;                        /* multistep: 1..NS_SCHED_MAX_MILESTONES */
    int t_max;                               /* cosine: >= 1 (no default: usually epochs) */
    double eta_min;                          /* cosine: >= 0; 0 */
    double start_factor, end_factor;         /* warmup: (0, 1], [0, 1]; 1/3, 1 */
    int total_iters;                         /* warmup: >= 1; 5 */
    double max_lr;                           /* onecycle: > 0; 0 takes the base_lr */
    int total_steps;                         /* onecycle: >= 2 (no default: epochs x batches) */
    double pct_start;                        /* onecycle: (0, 1) with pct_start x total_steps
                                                > 1; 0.3 */
    double div_factor, final_div_factor;     /* onecycle: > 0; 25, 1e4 */
    bool anneal_linear; /* onecycle: linear instead of cosine annealing */
    bool mode_max;      /* plateau: metric should rise (accuracy) */
    double factor;      /* plateau: (0, 1); 0.1 */
    int patience;       /* plateau: >= 0; 10 */
    double threshold;   /* plateau: >= 0 (relative: < 1); 1e-4 */
    bool threshold_abs; /* plateau: absolute instead of relative threshold */
    int cooldown;       /* plateau: >= 0; 0 */
    double min_lr;      /* plateau: >= 0; 0 */
} ns_sched_config;

/* Fills cfg with PyTorch's defaults (every field, whatever the kind); milestones, t_max and
 * total_steps have none and must be set for their kinds. */
NS_API void ns_sched_config_default(ns_sched_config *cfg, ns_sched_kind kind);

/* Schedule state: plain data, so a checkpoint saves it by value. */
typedef struct ns_sched {
    ns_sched_config cfg;
    double base_lr;
    double lr;        /* the current learning rate */
    int64_t last_step; /* how many times ns_sched_step was called */
    /* plateau */
    double best;       /* best metric so far (+inf, or -inf with mode_max, before any) */
    int bad_steps;     /* steps without improvement since the best or the last reduction */
    int cooldown_left; /* steps left in which bad steps are not counted */
} ns_sched;

/* Starts a schedule for an optimizer whose initial learning rate is base_lr (finite, >= 0);
 * cfg is copied (onecycle's max_lr 0 becomes base_lr). Sets sched->lr to the learning rate of
 * step 0 (warmup: base_lr * start_factor; onecycle: max_lr / div_factor). ctx only receives
 * the message: NS_ERR_INVALID names a bad setting and how to fix it (sched is then
 * unchanged). The caller applies sched->lr with ns_optim_set_lr. */
NS_API ns_status ns_sched_init(ns_ctx *ctx, ns_sched *sched, const ns_sched_config *cfg, double base_lr);
/* Advances one step (an epoch, or a batch for onecycle) and returns the new learning rate,
 * as PyTorch's scheduler.step() followed by get_last_lr(). metric is used only by plateau
 * (a NaN metric counts as no improvement). Onecycle's rate never goes below 0 (PyTorch's
 * linear anneal dips below at step total_steps), and holds past total_steps (PyTorch raises
 * there). Never fails, never allocates. */
NS_API double ns_sched_step(ns_sched *sched, double metric);

#ifdef __cplusplus
}
#endif
#endif
