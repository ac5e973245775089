/* Learning-rate schedules with torch.optim.lr_scheduler's semantics (PyTorch 1.13): StepLR,
 * MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR ("warmup"), OneCycleLR and
 * ReduceLROnPlateau, plus a constant rate. */
#include <math.h>
#include <string.h>

#include "core/core_internal.h"
#include "netsmith/metrics.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"

/* Python's math.pi: the same double, so cosines match PyTorch's to the bit. M_PI is not
 * declared in strict ISO C mode. */
#define NS__PI 3.141592653589793

/* ReduceLROnPlateau's eps: a reduction smaller than this is skipped. */
#define NS__PLATEAU_EPS 1e-8

void ns_sched_config_default(ns_sched_config *cfg, ns_sched_kind kind)
{
    NS_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    /* PyTorch's defaults where it has them. */
    cfg->step_size = 10;
    cfg->gamma = kind == NS_SCHED_EXPONENTIAL ? 0.95 : 0.1;
    cfg->start_factor = 1.0 / 3.0;
    cfg->end_factor = 1.0;
    cfg->total_iters = 5;
    cfg->pct_start = 0.3;
    cfg->div_factor = 25.0;
    cfg->final_div_factor = 1e4;
    cfg->factor = 0.1;
    cfg->patience = 10;
    cfg->threshold = 1e-4;
}

/* ---- validation ------------------------------------------------------------------ */

/* Records "schedule KIND: SETTING = VALUE: FIX" and returns NS_ERR_INVALID. */
static ns_status bad_setting(ns_ctx *ctx, const ns_sched_config *cfg, const char *setting,
                             double value, const char *fix)
{
    return ns_errorf(ctx, NS_ERR_INVALID, "schedule %s: %s = %g: %s", ns_sched_kind_name(cfg->kind),
                     setting, value, fix);
}

static bool positive(double x)
{
    return isfinite(x) && x > 0.0;
}
static bool non_negative(double x)
{
    return isfinite(x) && x >= 0.0;
}

static ns_status check_multistep(ns_ctx *ctx, const ns_sched_config *cfg)
{
    if (cfg->n_milestones < 1 || cfg->n_milestones > NS_SCHED_MAX_MILESTONES)
        return bad_setting(ctx, cfg, "n_milestones", cfg->n_milestones,
                           "give between 1 and 16 milestones (the steps where the rate drops)");
    for (int i = 0; i < cfg->n_milestones; i++) {
        if (cfg->milestones[i] < 1)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "schedule multistep: milestones[%d] = %d: milestones are step "
                             "numbers and must be >= 1",
                             i, cfg->milestones[i]);
        if (i > 0 && cfg->milestones[i] < cfg->milestones[i - 1])
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "schedule multistep: milestones[%d] = %d is below milestones[%d] = "
                             "%d: list the milestones in ascending order",
                             i, cfg->milestones[i], i - 1, cfg->milestones[i - 1]);
    }
    if (!positive(cfg->gamma))
        return bad_setting(ctx, cfg, "gamma", cfg->gamma, "must be finite and > 0 (0.1 is usual)");
    return NS_OK;
}

static ns_status check_onecycle(ns_ctx *ctx, const ns_sched_config *cfg)
{
    if (!positive(cfg->max_lr))
        return bad_setting(ctx, cfg, "max_lr", cfg->max_lr,
                           "the peak rate must be finite and > 0 (0 takes the optimizer's rate)");
    if (cfg->total_steps < 2)
        return bad_setting(ctx, cfg, "total_steps", cfg->total_steps,
                           "must be >= 2: set it to epochs x batches per epoch");
    if (!(cfg->pct_start > 0.0 && cfg->pct_start < 1.0))
        return bad_setting(ctx, cfg, "pct_start", cfg->pct_start,
                           "the warm-up fraction must be in (0, 1) (0.3 is usual)");
    /* Each phase must span more than a step, or PyTorch's phase fraction divides by zero. */
    if (!(cfg->pct_start * cfg->total_steps > 1.0))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "schedule onecycle: pct_start = %g with total_steps = %d gives a warm-up "
                         "of %g steps; pct_start x total_steps must be > 1 (raise either)",
                         cfg->pct_start, cfg->total_steps, cfg->pct_start * cfg->total_steps);
    if (!positive(cfg->div_factor))
        return bad_setting(ctx, cfg, "div_factor", cfg->div_factor,
                           "must be finite and > 0 (the first rate is max_lr / div_factor; 25 is "
                           "usual)");
    if (!positive(cfg->final_div_factor))
        return bad_setting(ctx, cfg, "final_div_factor", cfg->final_div_factor,
                           "must be finite and > 0 (the last rate is max_lr / div_factor / "
                           "final_div_factor; 1e4 is usual)");
    return NS_OK;
}

static ns_status check_plateau(ns_ctx *ctx, const ns_sched_config *cfg)
{
    if (!(isfinite(cfg->factor) && cfg->factor > 0.0 && cfg->factor < 1.0))
        return bad_setting(ctx, cfg, "factor", cfg->factor,
                           "the rate is multiplied by factor on a plateau; it must be in (0, 1) "
                           "(0.1 is usual)");
    if (cfg->patience < 0)
        return bad_setting(ctx, cfg, "patience", cfg->patience, "must be >= 0 steps");
    if (cfg->cooldown < 0)
        return bad_setting(ctx, cfg, "cooldown", cfg->cooldown, "must be >= 0 steps");
    if (!non_negative(cfg->threshold) || (!cfg->threshold_abs && cfg->threshold >= 1.0))
        return bad_setting(ctx, cfg, "threshold", cfg->threshold,
                           cfg->threshold_abs
                               ? "must be finite and >= 0"
                               : "a relative threshold must be in [0, 1) (1e-4 is usual)");
    if (!non_negative(cfg->min_lr))
        return bad_setting(ctx, cfg, "min_lr", cfg->min_lr, "must be finite and >= 0");
    return NS_OK;
}

/* Checks the settings the kind uses (after max_lr's default has been filled in). */
static ns_status check_config(ns_ctx *ctx, const ns_sched_config *cfg)
{
    switch (cfg->kind) {
    case NS_SCHED_CONSTANT:
        return NS_OK;
    case NS_SCHED_STEP:
        if (cfg->step_size < 1)
            return bad_setting(ctx, cfg, "step_size", cfg->step_size,
                               "must be >= 1 (the rate drops every step_size steps)");
        if (!positive(cfg->gamma))
            return bad_setting(ctx, cfg, "gamma", cfg->gamma,
                               "must be finite and > 0 (0.1 is usual)");
        return NS_OK;
    case NS_SCHED_MULTISTEP:
        return check_multistep(ctx, cfg);
    case NS_SCHED_EXPONENTIAL:
        if (!positive(cfg->gamma))
            return bad_setting(ctx, cfg, "gamma", cfg->gamma,
                               "must be finite and > 0 (below 1 to decay; 0.95 is usual)");
        return NS_OK;
    case NS_SCHED_COSINE:
        if (cfg->t_max < 1)
            return bad_setting(ctx, cfg, "t_max", cfg->t_max,
                               "must be >= 1: the steps of a half cosine, usually the number "
                               "of epochs");
        if (!non_negative(cfg->eta_min))
            return bad_setting(ctx, cfg, "eta_min", cfg->eta_min, "must be finite and >= 0");
        return NS_OK;
    case NS_SCHED_WARMUP:
        /* start_factor 0 would make PyTorch's recursive form divide by zero on step 1. */
        if (!(isfinite(cfg->start_factor) && cfg->start_factor > 0.0 && cfg->start_factor <= 1.0))
            return bad_setting(ctx, cfg, "start_factor", cfg->start_factor,
                               "must be in (0, 1]; use a small value such as 0.001 to start "
                               "near zero");
        if (!(isfinite(cfg->end_factor) && cfg->end_factor >= 0.0 && cfg->end_factor <= 1.0))
            return bad_setting(ctx, cfg, "end_factor", cfg->end_factor, "must be in [0, 1]");
        if (cfg->total_iters < 1)
            return bad_setting(ctx, cfg, "total_iters", cfg->total_iters,
                               "must be >= 1 (the steps the warm-up takes)");
        return NS_OK;
    case NS_SCHED_ONECYCLE:
        return check_onecycle(ctx, cfg);
    case NS_SCHED_PLATEAU:
        return check_plateau(ctx, cfg);
    case NS_SCHED_KIND_COUNT:
        break;
    }
    return ns_errorf(ctx, NS_ERR_INVALID,
                     "schedule kind %d is unknown; use constant, step, multistep, exponential, "
                     "cosine, warmup, onecycle or plateau",
                     (int)cfg->kind);
}

/* ---- the rules ---------------------------------------------------------------------- */

/* Each expression below is written in the order of PyTorch's Python source, so the doubles
 * come out identical, not merely close. */

/* CosineAnnealingLR's recursive form (get_lr), e >= 1. It differs from the closed form
 * eta_min + (base - eta_min)(1 + cos(pi e / T))/2 in the last bits, and more after the rate
 * is changed from outside; PyTorch's training loops see this one. */
static double cosine_next(const ns_sched *s, int64_t e)
{
    const double t_max = s->cfg.t_max, eta_min = s->cfg.eta_min;
    if ((e - 1 - s->cfg.t_max) % (2 * (int64_t)s->cfg.t_max) == 0)
        return s->lr + (s->base_lr - eta_min) * (1.0 - cos(NS__PI / t_max)) / 2.0;
    return (1.0 + cos(NS__PI * (double)e / t_max)) / (1.0 + cos(NS__PI * (double)(e - 1) / t_max)) *
               (s->lr - eta_min) +
           eta_min;
}

/* LinearLR's recursive form (get_lr) for 1 <= e <= total_iters. */
static double warmup_next(const ns_sched *s, int64_t e)
{
    const double sf = s->cfg.start_factor, ef = s->cfg.end_factor;
    return s->lr *
           (1.0 + (ef - sf) / ((double)s->cfg.total_iters * sf + (double)(e - 1) * (ef - sf)));
}

/* OneCycleLR's annealing from start to end as pct goes from 0 to 1. */
static double anneal(bool linear, double start, double end, double pct)
{
    if (linear)
        return (end - start) * pct + start;
    double cos_out = cos(NS__PI * pct) + 1.0;
    return end + (start - end) / 2.0 * cos_out;
}

/* OneCycleLR (three_phase false) at step e in [0, total_steps]: up from max_lr / div_factor
 * to max_lr over pct_start of the steps, then down to max_lr / div_factor / final_div_factor,
 * reached at step total_steps - 1. Step total_steps overshoots that end, as in PyTorch; with
 * linear annealing the overshoot goes below zero, where PyTorch would ascend the loss, so the
 * rate is clamped at 0 (the only departure from PyTorch's values). */
static double onecycle_lr(const ns_sched_config *c, int64_t e)
{
    const double initial = c->max_lr / c->div_factor;
    const double min_lr = initial / c->final_div_factor;
    const double end1 = c->pct_start * c->total_steps - 1.0;
    const double end2 = (double)(c->total_steps - 1);
    const double step = (double)e;
    double lr;
    if (step <= end1)
        lr = anneal(c->anneal_linear, initial, c->max_lr, step / end1);
    else
        lr = anneal(c->anneal_linear, c->max_lr, min_lr, (step - end1) / (end2 - end1));
    return lr > 0.0 ? lr : 0.0;
}

/* ReduceLROnPlateau.is_better. NaN is never better. */
static bool plateau_better(const ns_sched_config *c, double a, double best)
{
    if (!c->mode_max)
        return c->threshold_abs ? a < best - c->threshold : a < best * (1.0 - c->threshold);
    return c->threshold_abs ? a > best + c->threshold : a > best * (c->threshold + 1.0);
}

/* ReduceLROnPlateau.step: count bad steps (none during cooldown); after more than patience,
 * multiply the rate by factor (not below min_lr, and only by more than eps), then cool down. */
static void plateau_step(ns_sched *s, double metric)
{
    const ns_sched_config *c = &s->cfg;
    if (plateau_better(c, metric, s->best)) {
        s->best = metric;
        s->bad_steps = 0;
    } else {
        s->bad_steps++;
    }
    if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad_steps = 0;
    }
    if (s->bad_steps > c->patience) {
        double reduced = fmax(s->lr * c->factor, c->min_lr);
        if (s->lr - reduced > NS__PLATEAU_EPS)
            s->lr = reduced;
        s->cooldown_left = c->cooldown;
        s->bad_steps = 0;
    }
}

/* ---- public entry points ---------------------------------------------------------------- */

ns_status ns_sched_init(ns_ctx *ctx, ns_sched *sched, const ns_sched_config *cfg, double base_lr)
{
    NS_ASSERT(ctx != NULL && sched != NULL && cfg != NULL);
    if (!non_negative(base_lr))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "schedule %s: base_lr = %g: the optimizer's learning rate must be "
                         "finite and >= 0",
                         ns_sched_kind_name(cfg->kind) ? ns_sched_kind_name(cfg->kind) : "?",
                         base_lr);
    ns_sched_config c = *cfg;
    if (c.kind == NS_SCHED_ONECYCLE && c.max_lr == 0.0)
        c.max_lr = base_lr;
    ns_status st = check_config(ctx, &c);
    if (st != NS_OK)
        return st;

    memset(sched, 0, sizeof *sched);
    sched->cfg = c;
    sched->base_lr = base_lr;
    sched->last_step = 0;
    sched->best = c.mode_max ? -HUGE_VAL : HUGE_VAL;
    switch (c.kind) {
    case NS_SCHED_WARMUP:
        sched->lr = base_lr * c.start_factor;
        break;
    case NS_SCHED_ONECYCLE:
        sched->lr = onecycle_lr(&c, 0);
        break;
    default:
        sched->lr = base_lr;
        break;
    }
    return NS_OK;
}

double ns_sched_step(ns_sched *sched, double metric)
{
    NS_ASSERT(sched != NULL);
    const ns_sched_config *c = &sched->cfg;
    const int64_t e = ++sched->last_step;
    switch (c->kind) {
    case NS_SCHED_CONSTANT:
        break;
    case NS_SCHED_STEP:
        if (e % c->step_size == 0)
            sched->lr = sched->lr * c->gamma;
        break;
    case NS_SCHED_MULTISTEP: {
        /* A milestone listed twice drops the rate twice (PyTorch counts them). */
        int hits = 0;
        for (int i = 0; i < c->n_milestones; i++)
            hits += c->milestones[i] == e;
        if (hits > 0)
            sched->lr = sched->lr * pow(c->gamma, (double)hits);
        break;
    }
    case NS_SCHED_EXPONENTIAL:
        sched->lr = sched->lr * c->gamma;
        break;
    case NS_SCHED_COSINE:
        sched->lr = cosine_next(sched, e);
        break;
    case NS_SCHED_WARMUP:
        if (e <= c->total_iters)
            sched->lr = warmup_next(sched, e);
        break;
    case NS_SCHED_ONECYCLE:
        /* PyTorch raises past total_steps; a schedule cannot fail, so the rate holds. */
        if (e <= c->total_steps)
            sched->lr = onecycle_lr(c, e);
        break;
    case NS_SCHED_PLATEAU:
        plateau_step(sched, metric);
        break;
    case NS_SCHED_KIND_COUNT:
        NS_ASSERT(c->kind < NS_SCHED_KIND_COUNT); /* validated by ns_sched_init */
    }
    return sched->lr;
}
