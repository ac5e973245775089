/* netsmith tune: search spaces, samplers, pruners and studies. A study is a search space over
 * the settings of a run (the run config's names, and the short-form model spec's
 * hidden_layers, activation and dropout), a sampler (random, grid, TPE), a pruner (none,
 * median, ASHA, Hyperband), an objective (a metric of the run) and its trials. A trial is one
 * run (ns_run) of the base run config with the trial's settings; the library asks for each
 * trial's settings, is told its per-epoch values and its result, and says whether a running
 * trial goes on, is pruned, or pauses at a rung of successive halving until it is promoted
 * (it then continues from its checkpoint). The study here lives in memory; the store keeps it
 * (netsmith/store.h), and the queue runs its trials. */
#ifndef NETSMITH_TUNE_H
#define NETSMITH_TUNE_H

#include "netsmith/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the study file ------------------------------------------------------------------------ */

/* A study's definition, read from a study file:
 *   study: NAME
 *   base: {run config} or a run config file's name   (its model inline or a file name)
 *   objective: {metric: val.rmse, direction: minimize}
 *   trials: 60
 *   parallel: 2
 *   sampler: {type: tpe, seed: 0, startup_trials: 10, ei_candidates: 24, gamma: 0.1,
 *             prior_weight: 1.0, multivariate: false, constant_liar: false}
 *            | {type: random, seed} | {type: grid, seed, points: 5}
 *   pruner: {type: none} | {type: median, startup_trials: 5, warmup_steps: 0, interval_steps: 1}
 *           | {type: asha, min_epochs: 1, reduction_factor: 3}
 *           | {type: hyperband, min_epochs: 1, reduction_factor: 3}
 *   space: {SETTING: {uniform: [lo, hi]} | {log_uniform: [lo, hi]} | {int: [lo, hi]}
 *                   | {int_log: [lo, hi]} | {choice: [v, ...]}, with optional
 *           when: {SETTING: value or [values]} (active only when that choice has one of them)}
 * Immutable once made; a face changes trials and parallel with the setters below. */
typedef struct ns_study_def ns_study_def;

/* Reads a study file's text (YAML or JSON). Relative file names in it (a base run config,
 * the model, data files) are taken from base_dir (NULL: the current directory); a base given
 * as a file is read now and kept inline, so the definition stands alone. Errors: NS_ERR_PARSE
 * naming source, line and column for text that is not YAML; NS_ERR_INVALID naming source,
 * line and key for an unknown key, a missing one, an unknown setting in the space (with a
 * did-you-mean), a range outside the setting's own range, a choice the setting refuses, a
 * condition on a setting that is not a choice of the space, a bad sampler, pruner or
 * objective; those of reading the base file; NS_ERR_NOMEM. *out is the caller's
 * (ns_study_def_free); NULL on failure. */
NS_API ns_status ns_study_def_parse(ns_ctx *ctx, const char *text, size_t len, const char *source,
                                    const char *base_dir, ns_study_def **out);
/* ns_study_def_parse of a file (relative names from its directory). Errors also those of
 * ns_read_file. */
NS_API ns_status ns_study_def_load(ns_ctx *ctx, const char *path, ns_study_def **out);
NS_API void ns_study_def_free(ns_study_def *def);
/* The definition as JSON that ns_study_def_parse reads back to the same definition (the base
 * inline; every sampler and pruner setting given, defaults included). *json on the def's
 * context (ns_dealloc). Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_study_def_to_json(const ns_study_def *def, char **json);
NS_API const char *ns_study_def_name(const ns_study_def *def);
/* The context the definition was made on (its strings are allocated there). */
NS_API ns_ctx *ns_study_def_ctx(const ns_study_def *def);
/* The base run config as a JSON object (borrowed). */
NS_API const char *ns_study_def_base(const ns_study_def *def);
NS_API int ns_study_def_trials(const ns_study_def *def);
NS_API int ns_study_def_parallel(const ns_study_def *def);
/* The objective: "val.rmse" (part.metric) and whether higher is better. */
NS_API const char *ns_study_def_metric(const ns_study_def *def);
NS_API bool ns_study_def_maximize(const ns_study_def *def);
/* The sampler's and the pruner's type names ("tpe", "asha"). */
NS_API const char *ns_study_def_sampler(const ns_study_def *def);
NS_API const char *ns_study_def_pruner(const ns_study_def *def);
/* Overrides (flags): trials 1 to 100000, parallel 1 to 256. NS_ERR_INVALID out of range. */
NS_API ns_status ns_study_def_set_trials(ns_study_def *def, int trials);
NS_API ns_status ns_study_def_set_parallel(ns_study_def *def, int parallel);

/* The objective's two halves: the part ("train", "val", "test") and the metric ("rmse"). */
NS_API const char *ns_study_def_part(const ns_study_def *def);
NS_API const char *ns_study_def_metric_name(const ns_study_def *def);

/* ---- trials ------------------------------------------------------------------------------- */

#define NS_TRIAL_STATE_MAP(X)                                                                      \
    X(RUNNING, running)                                                                            \
    X(PAUSED, paused)                                                                              \
    X(COMPLETE, complete)                                                                          \
    X(PRUNED, pruned)                                                                              \
    X(FAILED, failed)

typedef enum ns_trial_state {
#define NS__TRIAL_STATE_ENUM(E, n) NS_TRIAL_##E,
    NS_TRIAL_STATE_MAP(NS__TRIAL_STATE_ENUM)
#undef NS__TRIAL_STATE_ENUM
        NS_TRIAL_STATE_COUNT
} ns_trial_state;

/* Names ("running"; static; NULL out of range) and back (NS_ERR_NOTFOUND). */
NS_API const char *ns_trial_state_name(ns_trial_state state);
NS_API ns_status ns_trial_state_parse(const char *name, ns_trial_state *out);

/* What the pruner says of a running trial after a step's value. */
typedef enum ns_prune_decision {
    NS_PRUNE_CONTINUE = 0, /* train on */
    NS_PRUNE_STOP,         /* stop: the trial is pruned */
    NS_PRUNE_PAUSE         /* stop here, keeping the checkpoint: successive halving may promote
                              it later (ns_study_promotable), and it then continues */
} ns_prune_decision;

/* ---- the study ----------------------------------------------------------------------------- */

/* A study in memory: the definition and its trials, numbered 0, 1, ... in the order they were
 * added. Sampling is deterministic: trial n's settings depend only on the sampler's seed, n
 * and the trials before it (their settings, states, values and step values), never on call
 * order elsewhere. A study belongs to one thread at a time. */
typedef struct ns_study ns_study;

/* A study of def (copied: def may be freed after) with no trials. *out is the caller's
 * (ns_study_free). Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_study_new(ns_ctx *ctx, const ns_study_def *def, ns_study **out);
NS_API void ns_study_free(ns_study *s);
NS_API const ns_study_def *ns_study_get_def(const ns_study *s);
/* Trials in the study. */
NS_API int ns_study_size(const ns_study *s);
/* The most trials the sampler can give (a grid's size; INT_MAX otherwise). */
NS_API int ns_study_capacity(const ns_study *s);

/* Samples the next trial (number ns_study_size) and adds it as running. *params_json (may be
 * NULL) gets its settings, {SETTING: value} for the settings active in it (on the study's
 * context: ns_dealloc). Errors: NS_ERR_STATE when a grid is exhausted; NS_ERR_NOMEM. */
NS_API ns_status ns_study_ask(ns_study *s, int *number, char **params_json);
/* Adds a trial known from elsewhere (the store): its settings (JSON object, as ns_study_ask
 * gives them), state, value (COMPLETE; else ignored) and step values steps[n_steps] (step k
 * at index k - 1; NAN where none was reported). Errors: NS_ERR_INVALID for settings that are
 * not the space's (naming the key) or a non-finite value of a complete trial; NS_ERR_PARSE;
 * NS_ERR_NOMEM. */
NS_API ns_status ns_study_add(ns_study *s, const char *params_json, ns_trial_state state,
                              double value, const double *steps, int n_steps);
/* A trial's value at step (1-based epochs), as it reports it. Errors: NS_ERR_NOTFOUND for no
 * such trial; NS_ERR_INVALID for a step below 1 or over 1e7; NS_ERR_NOMEM. */
NS_API ns_status ns_study_report(ns_study *s, int number, int64_t step, double value);
/* A trial's new state (and value when COMPLETE). Errors: NS_ERR_NOTFOUND; NS_ERR_INVALID for
 * a non-finite value of a complete trial. */
NS_API ns_status ns_study_tell(ns_study *s, int number, ns_trial_state state, double value);
/* What the pruner says of running trial number after it reported step. */
NS_API ns_prune_decision ns_study_judge(const ns_study *s, int number, int64_t step);
/* Paused trials the pruner would promote now, best first: up to cap numbers into out; returns
 * how many there are (0 for pruners that never pause). */
NS_API int ns_study_promotable(const ns_study *s, int *out, int cap);
/* A trial's state, value (NAN unless complete) and the last step it reported (0: none).
 * Errors: NS_ERR_NOTFOUND. */
NS_API ns_status ns_study_trial(const ns_study *s, int number, ns_trial_state *state, double *value,
                                int64_t *last_step);
/* The best complete trial's number, or -1 when none is complete. */
NS_API int ns_study_best(const ns_study *s);

/* Trial number's run config: the base with the trial's settings (a model key changes the
 * model's short-form spec), as a JSON object on the study's context (ns_dealloc). Errors:
 * NS_ERR_NOTFOUND; NS_ERR_INVALID when the base model is not a short-form spec and the space
 * has a model key; NS_ERR_NOMEM. */
NS_API ns_status ns_study_trial_config(const ns_study *s, int number, char **config_json);

/* How much each setting of the space explains the objective's variance over the complete
 * trials: {"method": "fanova", "trials": n, "importances": [{"setting", "importance"}, ...]}
 * (importances summing to 1, largest first; an empty list with fewer than 2 complete trials).
 * *json on the study's context (ns_dealloc). Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_study_importance(const ns_study *s, char **json);

#ifdef __cplusplus
}
#endif
#endif
