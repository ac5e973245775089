/* The pruners: none, Optuna 3.1's MedianPruner, asynchronous successive halving (ASHA) that
 * pauses a trial at a rung instead of pruning it, and Hyperband's brackets of ASHA. */
#include "tune/pruners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* ---- numpy's percentile ---------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ns__percentile(double *v, int n, double q)
{
    NS_ASSERT(n >= 1);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    /* numpy: virtual index (n - 1) * (q / 100); below and above it the neighbours (both the
     * last one from n - 1 on); gamma the index's fraction. */
    double virt = (double)(n - 1) * (q / 100.0);
    if (virt >= (double)(n - 1))
        return v[n - 1];
    if (virt <= 0.0)
        return v[0];
    double lo_idx = floor(virt);
    int lo = (int)lo_idx;
    double a = v[lo], b = v[lo + 1], t = virt - lo_idx;
    /* numpy's _lerp: from b's side when t >= 0.5, which keeps the result within [a, b]. */
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

/* ---- median ---------------------------------------------------------------------------------- */

/* Whether step has a reported value in t ((double)NAN marks none). */
static bool reported(const ns__trial *t, int64_t step)
{
    return step >= 1 && step <= t->n_steps && !isnan(t->steps[step - 1]);
}

/* Optuna's _is_first_in_interval_step: whether no step of t reported before `step` lies at or
 * after the latest pruning step warmup + j * interval not above step, so that a check that found
 * no value at its own step is made at the next reported one. */
static bool first_in_interval(const ns__trial *t, int64_t step, int64_t warmup, int64_t interval)
{
    int64_t nearest = (step - warmup) / interval * interval + warmup;
    int64_t second_last = -1;
    for (int64_t k = step - 1; k >= 1; k--) {
        if (reported(t, k)) {
            second_last = k;
            break;
        }
    }
    return second_last < nearest;
}

/* PercentilePruner(percentile).prune with Optuna's n_min_trials = 1. It compares raw values
 * (the best is the largest when maximising, against the 100 - percentile point), as Optuna
 * does, so that the interpolated percentile is bit for bit numpy's. */
static ns_prune_decision prune_percentile(const ns_study *s, const ns__trial *t, int64_t step,
                                          double percentile)
{
    const ns__pruner_cfg *cfg = &s->def->pruner;
    bool maximize = s->def->maximize;
    NS_ASSERT(cfg->interval_steps >= 1 && cfg->warmup_steps >= 0);

    int complete = 0;
    for (int i = 0; i < s->n; i++)
        complete += s->trials[i].state == NS_TRIAL_COMPLETE;
    if (complete == 0 || complete < cfg->startup_trials)
        return NS_PRUNE_CONTINUE;
    if (step < cfg->warmup_steps)
        return NS_PRUNE_CONTINUE;
    if (!first_in_interval(t, step, cfg->warmup_steps, cfg->interval_steps))
        return NS_PRUNE_CONTINUE;

    /* The trial's best value over the steps it reported (numpy's nanmin or nanmax). */
    double best = (double)NAN;
    for (int64_t k = 1; k <= step && k <= t->n_steps; k++) {
        double v = t->steps[k - 1];
        if (!isnan(v) && (isnan(best) || (maximize ? v > best : v < best)))
            best = v;
    }
    if (isnan(best))
        return NS_PRUNE_STOP;

    /* The complete trials' values at this step (nanpercentile leaves NaN out). */
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->trials[i].state == NS_TRIAL_COMPLETE && reported(&s->trials[i], step);
    if (n == 0)
        return NS_PRUNE_CONTINUE;
    double *v = ns__realloc_quiet(s->ctx, NULL, (size_t)n * sizeof *v);
    if (!v)
        return NS_PRUNE_CONTINUE; /* no memory to judge: the trial goes on */
    n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->trials[i].state == NS_TRIAL_COMPLETE && reported(&s->trials[i], step))
            v[n++] = s->trials[i].steps[step - 1];
    double p = ns__percentile(v, n, maximize ? 100.0 - percentile : percentile);
    ns_dealloc(s->ctx, v);
    if (isnan(p))
        return NS_PRUNE_CONTINUE;
    return (maximize ? best < p : best > p) ? NS_PRUNE_STOP : NS_PRUNE_CONTINUE;
}

/* ---- Hyperband's brackets -------------------------------------------------------------------- */

void ns__hyperband_init(ns__hyperband *hb, const ns__pruner_cfg *cfg, const char *study_name)
{
    NS_ASSERT(cfg->min_epochs >= 1 && cfg->reduction_factor >= 2);
    memset(hb, 0, sizeof *hb);
    const char *name = study_name ? study_name : "";
    hb->name_crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)name, (uInt)strlen(name));
    double ratio = (double)cfg->max_epochs / (double)cfg->min_epochs;
    if (!(ratio >= 1.0))
        return;
    /* Python's math.log(ratio, eta) is log(ratio) / log(eta) with the same libm log. */
    int n = (int)floor(log(ratio) / log((double)cfg->reduction_factor)) + 1;
    NS_ASSERT(n >= 1 && n <= NS__HYPERBAND_MAX);
    hb->n_brackets = n;
    for (int b = 0; b < n; b++) {
        int s = n - 1 - b;
        int64_t pow = 1;
        for (int i = 0; i < s; i++)
            pow *= cfg->reduction_factor;
        /* ceil(n * eta^s / (s + 1)) exactly: the integers stay far below 2^53. */
        hb->budgets[b] = ((int64_t)n * pow + s) / (s + 1);
        hb->total += hb->budgets[b];
    }
}

int ns__hyperband_bracket(const ns__hyperband *hb, int number)
{
    if (hb->n_brackets == 0)
        return 0;
    char tail[16];
    int len = snprintf(tail, sizeof tail, "_%d", number);
    unsigned long crc = crc32(hb->name_crc, (const Bytef *)tail, (uInt)len);
    int64_t k = (int64_t)(crc % (unsigned long)hb->total);
    for (int b = 0; b < hb->n_brackets; b++) {
        k -= hb->budgets[b];
        if (k < 0)
            return b;
    }
    return hb->n_brackets - 1; /* not reached: k < total, the budgets' sum */
}

/* ---- successive halving ---------------------------------------------------------------------- */

/* One successive halving: rungs at first * eta^k, k >= 0; its trials are those of bracket
 * `bracket` of hb (every trial when hb is NULL). */
typedef struct ladder {
    int64_t first;
    int64_t eta;
    const ns__hyperband *hb;
    int bracket;
} ladder;

static ladder ladder_of(const ns__pruner_cfg *cfg, const ns__hyperband *hb, int bracket)
{
    NS_ASSERT(cfg->min_epochs >= 1 && cfg->reduction_factor >= 2);
    ladder l = {cfg->min_epochs, cfg->reduction_factor, hb, bracket};
    for (int b = 0; b < bracket && l.first <= INT64_MAX / l.eta; b++)
        l.first *= l.eta;
    return l;
}

static bool is_rung(const ladder *l, int64_t step)
{
    int64_t r = l->first;
    while (r < step && r <= INT64_MAX / l->eta)
        r *= l->eta;
    return r == step;
}

static bool in_ladder(const ladder *l, const ns__trial *t)
{
    return !l->hb || ns__hyperband_bracket(l->hb, t->number) == l->bracket;
}

/* Optuna's _is_trial_promotable_to_next_rung for a loss at rung `step` against the losses there
 * of every trial of the ladder that reached it (the judged trial among them): promotable when
 * loss <= the sorted losses[max(n / eta - 1, 0)], that is when at most that index many are
 * strictly smaller (no NaN is among them: (double)NAN marks a step never reached). */
static bool promotable_at(const ns_study *s, const ladder *l, int64_t step, double loss)
{
    int64_t total = 0, better = 0;
    for (int i = 0; i < s->n; i++) {
        const ns__trial *t = &s->trials[i];
        if (!reported(t, step) || !in_ladder(l, t))
            continue;
        total++;
        better += ns__step_loss(s, t->steps[step - 1]) < loss;
    }
    int64_t idx = total / l->eta - 1;
    if (idx < 0)
        idx = 0;
    return better <= idx;
}

static ns_prune_decision prune_halving(const ns_study *s, const ns__trial *t, int64_t step,
                                       const ladder *l)
{
    if (!is_rung(l, step))
        return NS_PRUNE_CONTINUE;
    double v = t->steps[step - 1];
    if (isnan(v))
        return NS_PRUNE_STOP;
    return promotable_at(s, l, step, ns__step_loss(s, v)) ? NS_PRUNE_CONTINUE : NS_PRUNE_PAUSE;
}

/* The ladder trial t runs on. */
static ladder ladder_for(const ns_study *s, const ns__hyperband *hb, const ns__trial *t)
{
    const ns__pruner_cfg *cfg = &s->def->pruner;
    if (cfg->type == NS__PRUNER_HYPERBAND)
        return ladder_of(cfg, hb, ns__hyperband_bracket(hb, t->number));
    return ladder_of(cfg, NULL, 0);
}

/* ---- the two entry points -------------------------------------------------------------------- */

ns_prune_decision ns__prune(const ns_study *s, int number, int64_t step)
{
    NS_ASSERT(number >= 0 && number < s->n);
    const ns__trial *t = &s->trials[number];
    /* A step the trial never stored has nothing to judge (ns_study_judge is public: a caller's
     * slip must not abort). */
    if (step < 1 || step > t->n_steps)
        return NS_PRUNE_CONTINUE;
    const ns__pruner_cfg *cfg = &s->def->pruner;
    switch (cfg->type) {
    case NS__PRUNER_MEDIAN:
        return prune_percentile(s, t, step, 50.0);
    case NS__PRUNER_ASHA: {
        ladder l = ladder_for(s, NULL, t);
        return prune_halving(s, t, step, &l);
    }
    case NS__PRUNER_HYPERBAND: {
        ns__hyperband hb;
        ns__hyperband_init(&hb, cfg, s->def->name);
        if (hb.n_brackets == 0)
            return NS_PRUNE_CONTINUE;
        ladder l = ladder_for(s, &hb, t);
        return prune_halving(s, t, step, &l);
    }
    case NS__PRUNER_NONE:
    default:
        return NS_PRUNE_CONTINUE;
    }
}

/* The last step t reported (0: none). */
static int64_t last_step(const ns__trial *t)
{
    for (int64_t k = t->n_steps; k >= 1; k--)
        if (!isnan(t->steps[k - 1]))
            return k;
    return 0;
}

/* Whether paused trial a (loss la) goes before b (loss lb): the smaller loss, then number. */
static bool before(double la, int a, double lb, int b)
{
    return la < lb || (la == lb && a < b);
}

int ns__promotable(const ns_study *s, int *out, int cap)
{
    const ns__pruner_cfg *cfg = &s->def->pruner;
    if (cfg->type != NS__PRUNER_ASHA && cfg->type != NS__PRUNER_HYPERBAND)
        return 0;
    ns__hyperband hb;
    if (cfg->type == NS__PRUNER_HYPERBAND) {
        ns__hyperband_init(&hb, cfg, s->def->name);
        if (hb.n_brackets == 0)
            return 0;
    }
    const ns__hyperband *hbp = cfg->type == NS__PRUNER_HYPERBAND ? &hb : NULL;
    if (!out)
        cap = 0;

    /* out[0..kept) holds the best so far in order (an insertion into at most cap entries, so
     * nothing is allocated); every promotable one is counted. */
    int count = 0, kept = 0;
    for (int i = 0; i < s->n; i++) {
        const ns__trial *t = &s->trials[i];
        if (t->state != NS_TRIAL_PAUSED)
            continue;
        int64_t step = last_step(t);
        if (step == 0)
            continue;
        ladder l = ladder_for(s, hbp, t);
        double loss = ns__step_loss(s, t->steps[step - 1]);
        if (!is_rung(&l, step) || !promotable_at(s, &l, step, loss))
            continue;
        count++;
        int at = kept;
        while (at > 0) {
            const ns__trial *o = &s->trials[out[at - 1]];
            if (!before(loss, t->number, ns__step_loss(s, o->steps[last_step(o) - 1]), o->number))
                break;
            at--;
        }
        if (at >= cap)
            continue;
        if (kept < cap)
            kept++;
        memmove(out + at + 1, out + at, (size_t)(kept - 1 - at) * sizeof *out);
        out[at] = i;
    }
    /* out held indices into s->trials; the caller wants numbers. */
    for (int k = 0; k < kept; k++)
        out[k] = s->trials[out[k]].number;
    return count;
}
