/* The tuner's shared pieces (never installed): the search space, the sampler's and pruner's
 * settings, the study's trials, and the functions each sampler, pruner and the importance
 * measure provide. study.c owns the structs; sampler_*.c, pruners.c and importance.c read
 * them. */
#ifndef NETSMITH_TUNE_INTERNAL_H
#define NETSMITH_TUNE_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "netsmith/tune.h"

/* ---- the space ------------------------------------------------------------------------------ */

typedef enum ns__param_kind {
    NS__P_UNIFORM = 0, /* a real in [low, high] */
    NS__P_LOG_UNIFORM, /* a real in [low, high], uniform in log */
    NS__P_INT,         /* an integer in [low, high] */
    NS__P_INT_LOG,     /* an integer in [low, high], uniform in log */
    NS__P_CHOICE       /* one of choices[n_choices] (its index) */
} ns__param_kind;

#define NS__PARAM_NAME_MAX 64
#define NS__WHEN_MAX 16

typedef struct ns__param {
    char name[NS__PARAM_NAME_MAX]; /* the setting's canonical name, or hidden_layers, ... */
    ns__param_kind kind;
    double low, high; /* numeric kinds (ints as whole numbers) */
    int n_choices;
    json_t **choices; /* NS__P_CHOICE: the values (owned) */
    bool model_key;   /* a key of the short-form model spec, not a run setting */
    /* A condition: active only when param `when_param` (a choice, earlier in the space) took
     * one of the choice indices when_idx[n_when]; when_param -1: always active. */
    int when_param;
    int n_when;
    int when_idx[NS__WHEN_MAX];
} ns__param;

typedef struct ns__space {
    ns__param *p;
    int n;
} ns__space;

/* Whether param i is active in a trial whose values are x[space->n] (its condition's parent
 * active and among the chosen). */
bool ns__param_active(const ns__space *space, int i, const double *x);

/* ---- the sampler and the pruner --------------------------------------------------------- */

typedef enum ns__sampler_type {
    NS__SAMPLER_TPE = 0,
    NS__SAMPLER_RANDOM,
    NS__SAMPLER_GRID
} ns__sampler_type;

typedef struct ns__sampler_cfg {
    ns__sampler_type type;
    uint64_t seed;
    /* TPE (Optuna 3.1's defaults) */
    int startup_trials;  /* 10: random until this many trials are complete, pruned or paused */
    int ei_candidates;   /* 24 */
    double gamma;        /* 0.1: the good group is min(ceil(gamma * n), gamma_max) trials */
    int gamma_max;       /* 25 */
    double prior_weight; /* 1.0 */
    bool multivariate;   /* false: one density per setting; true: one joint density */
    bool constant_liar;  /* false: running trials count as bad ones */
    /* grid */
    int points; /* 5: values per real range (log-spaced for log ranges) */
} ns__sampler_cfg;

typedef enum ns__pruner_type {
    NS__PRUNER_NONE = 0,
    NS__PRUNER_MEDIAN,
    NS__PRUNER_ASHA,
    NS__PRUNER_HYPERBAND
} ns__pruner_type;

typedef struct ns__pruner_cfg {
    ns__pruner_type type;
    /* median (Optuna's defaults) */
    int startup_trials; /* 5: no pruning until this many trials are complete */
    int warmup_steps;   /* 0: no pruning before this step */
    int interval_steps; /* 1 */
    /* asha, hyperband */
    int min_epochs;       /* 1: the first rung */
    int reduction_factor; /* 3 */
    int max_epochs;       /* hyperband: the largest budget (the base run's epochs) */
} ns__pruner_cfg;

/* ---- trials and the study ------------------------------------------------------------------ */

typedef struct ns__trial {
    int number;
    ns_trial_state state;
    double
        *x; /* [space.n]: a numeric setting's value, a choice's index; (double)NAN when inactive */
    double value;  /* the objective as reported (COMPLETE); (double)NAN otherwise */
    double *steps; /* [n_steps]: step k's value at k - 1; (double)NAN where none was reported */
    int n_steps, cap_steps;
} ns__trial;

struct ns_study_def {
    ns_ctx *ctx;
    char *name;
    char *base_json; /* the base run config (JSON object) */
    char metric[64]; /* "val.rmse" */
    char part[8];    /* "val" */
    char metric_name[48];
    bool maximize;
    int trials, parallel;
    ns__space space;
    ns__sampler_cfg sampler;
    ns__pruner_cfg pruner;
};

struct ns_study {
    ns_ctx *ctx;
    ns_study_def *def; /* a copy */
    ns__trial *trials;
    int n, cap;
};

/* A trial's loss: the value to minimise (the value, negated when maximising); +inf for a
 * trial without a value. */
static inline double ns__trial_loss(const ns_study *s, const ns__trial *t)
{
    if (t->state != NS_TRIAL_COMPLETE || !isfinite(t->value))
        return (double)INFINITY;
    return s->def->maximize ? -t->value : t->value;
}

/* A step value as a loss (negated when maximising; (double)NAN stays (double)NAN). */
static inline double ns__step_loss(const ns_study *s, double v)
{
    return s->def->maximize ? -v : v;
}

/* The random stream of trial `number` of a sampler: (seed, NS__RNG_TUNE, number), so a
 * trial's draw never depends on what was drawn before. */
#define NS__RNG_TUNE 5u

/* ---- samplers: each fills x[space.n] for trial `number` from the trials s->trials[0..number)
 * (the new trial is not in s yet); inactive settings get (double)NAN.
 * -------------------------------- */

/* Uniform draws: reals uniform (or log-uniform), integers uniform over their values (or
 * log-uniform, rounded), choices uniform. */
ns_status ns__sample_random(const ns_study *s, int number, double *x);
/* The grid: every combination of choices, integers (all values, or `points` spread when
 * there are more) and reals (`points` values), in an order shuffled once by the seed; trial n
 * takes the nth point not yet taken. NS_ERR_STATE when none is left. */
ns_status ns__sample_grid(const ns_study *s, int number, double *x);
/* The grid's size (combinations after inactive settings are merged). */
int ns__grid_size(const ns_study *s);
/* TPE (Bergstra et al. 2011, with Optuna 3.1's choices): random for the first startup_trials
 * finished trials, then per setting (or jointly when multivariate) a Parzen estimator of the
 * good group l(x) and of the rest g(x), ei_candidates draws from l, and the draw with the
 * largest l(x)/g(x). */
ns_status ns__sample_tpe(const ns_study *s, int number, double *x);

/* ---- pruners -------------------------------------------------------------------------------- */

/* The decision after trial `number` reported `step` (its value is at steps[step - 1]). */
ns_prune_decision ns__prune(const ns_study *s, int number, int64_t step);
/* Paused trials that the pruner promotes now, best first (see ns_study_promotable). */
int ns__promotable(const ns_study *s, int *out, int cap);

/* ---- importance ------------------------------------------------------------------------------ */

/* fANOVA over a random forest fitted to the complete trials: importance[space.n] (summing to
 * 1; all 0 with fewer than 2 complete trials or a constant objective). */
ns_status ns__importance_fanova(const ns_study *s, double *importance);

#endif
