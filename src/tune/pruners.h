/* The pruners' own pieces beyond tune_internal.h: Hyperband's brackets (as Optuna 3.1 counts
 * and assigns them) and numpy's linear percentile, shared with the tests. */
#ifndef NETSMITH_TUNE_PRUNERS_H
#define NETSMITH_TUNE_PRUNERS_H

#include "tune/tune_internal.h"

/* More brackets than any int resources allow (eta >= 2: at most 32). */
#define NS__HYPERBAND_MAX 64

/* Hyperband's brackets: n_brackets = floor(log(max_epochs / min_epochs) / log(eta)) + 1,
 * computed in double as Optuna does (so 243 / 1 with eta 3 gives 5 brackets, since the
 * quotient of the logs is 4.999999999999999); bracket b is successive halving whose first rung
 * is min_epochs * eta^b; a trial's bracket is crc32("{study name}_{number}") modulo the total
 * of the brackets' budgets ceil(n_brackets * eta^s / (s + 1)), s = n_brackets - 1 - b, taken
 * bracket by bracket. */
typedef struct ns__hyperband {
    int n_brackets;                     /* 0 when max_epochs < min_epochs: nothing pauses */
    int64_t budgets[NS__HYPERBAND_MAX]; /* [n_brackets] */
    int64_t total;                      /* their sum */
    unsigned long name_crc;             /* crc32 of the study's name */
} ns__hyperband;

/* Fills hb from cfg's min_epochs (>= 1), max_epochs and reduction_factor (>= 2) and the study's
 * name (NULL: ""). */
void ns__hyperband_init(ns__hyperband *hb, const ns__pruner_cfg *cfg, const char *study_name);
/* The bracket of trial `number` (0 .. n_brackets - 1; 0 when there are no brackets). */
int ns__hyperband_bracket(const ns__hyperband *hb, int number);

/* numpy's percentile with linear interpolation (its default) of v[n] (n >= 1, no NaN), sorted
 * in place; q in [0, 100]. Bit for bit numpy 1.24's: index (n - 1) * q / 100 and its lerp. */
double ns__percentile(double *v, int n, double q);

#endif
