/* The samplers' shared internals (never installed): the random streams' lanes, the 53-bit
 * uniform, and TPE's pieces (the split, the Parzen estimator, the truncated normal) opened to
 * the tests, which check them against hand-worked cases and Optuna 3.1. */
#ifndef NETSMITH_TUNE_TPE_H
#define NETSMITH_TUNE_TPE_H

#include <stdbool.h>
#include <stdint.h>

#include "tune/tune_internal.h"

/* Lanes of a trial's stream (seed, NS__RNG_TUNE, number): one per setting for random draws,
 * one per setting for univariate TPE, one for the joint TPE draw, and the grid's shuffle
 * (step 0), so no draw depends on which other settings were active or drawn. */
#define NS__LANE_RANDOM 0u     /* + setting index */
#define NS__LANE_TPE 0x100000u /* + setting index */
#define NS__LANE_TPE_JOINT 0x200000u
#define NS__LANE_GRID 0x300000u

/* A uniform double in [0, 1) with 53 random bits (two draws). */
static inline double ns__uniform53(ns_rng *rng)
{
    uint32_t a = ns_rng_u32(rng) >> 5, b = ns_rng_u32(rng) >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

/* Setting i's uniform draw (ns__sample_random's) from its own lane of trial number's stream. */
double ns__random_value(const ns_study *s, int number, int i);

/* ---- the truncated normal (Optuna's _truncnorm.py, in double) ----------------------------- */

/* log Phi(a), accurate in both tails (an asymptotic series below -20). */
double ns__log_ndtr(double a);
/* log of the standard normal's mass on [a, b] (a <= b), worked in the left tail for
 * accuracy. */
double ns__log_gauss_mass(double a, double b);
/* The standard normal's quantile: Phi(x) = p, p in (0, 1). */
double ns__ndtri(double p);
/* x with log Phi(x) = y (y < 0), also where exp(y) underflows. */
double ns__ndtri_exp(double y);
/* The quantile q in [0, 1) of the standard normal truncated to [a, b] (a < b). */
double ns__truncnorm_ppf(double q, double a, double b);

/* ---- the split ------------------------------------------------------------------------- */

/* Optuna 3.1's split of trials[0..number) for one objective: the observed trials (complete,
 * pruned and paused; running ones too with constant_liar) ranked by (-last step, loss), with
 * complete trials first, and the best min(ceil(gamma * n), gamma_max) of them (n: the
 * observed trials that are not running) in the good group. below[number] and
 * observed[number] (either may be NULL) get each trial's membership; returns n. */
int ns__tpe_split(const ns_study *s, int number, bool *below, bool *observed);

/* ---- the Parzen estimator ---------------------------------------------------------------- */

/* A Parzen estimator fitted to n_obs observations obs[n_obs][n_params] of params[n_params]
 * (values as in a trial's x, all active), in trial order, with Optuna's default weights, a
 * prior of weight prior_weight and magic clip; multivariate: one joint kernel per
 * observation with the SIGMA0_MAGNITUDE bandwidth, else (n_params 1) the neighbour rule.
 * log_pdf[n_points] gets the log density at points[n_points][n_params] (as Optuna 3.1 defines
 * it: the kernels of numeric settings in their own transformed units). mus, sigmas
 * [(n_obs + 1) * n_params] (component-major, transformed units; a choice's mu is the
 * observed index, -1 for the prior, sigma 0) and weights[n_obs + 1] may be NULL. Errors:
 * NS_ERR_NOMEM. */
ns_status ns__parzen_eval(ns_ctx *ctx, const ns__param *params, int n_params, bool multivariate,
                          double prior_weight, const double *obs, int n_obs, const double *points,
                          int n_points, double *log_pdf, double *mus, double *sigmas,
                          double *weights);

#endif
