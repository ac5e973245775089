/* The tuner's pruners on studies built by hand: median (startup trials, the percentile at a step,
 * direction, warmup and interval steps), ASHA (rungs, the promotion threshold, pauses and later
 * promotions, NaN), Hyperband (Optuna's bracket ids, each bracket's rungs and competitors), and
 * parity with Optuna 3.1's own decisions on recorded sequences (tests/fixtures/pruners_optuna.json,
 * made by tools/make_pruners_fixture.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tune/pruners.h"

#define MAX_TRIALS 128
#define MAX_STEPS 32

/* A study in memory without study.c: the definition on the heap, trials with step arrays. */
typedef struct tstudy {
    ns_ctx *ctx;
    ns_study_def def;
    ns_study s;
    char name[64];
} tstudy;

static tstudy *ts_new(ns__pruner_type type, bool maximize, const char *name)
{
    tstudy *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(ns_ctx_new(NULL, &t->ctx), NS_OK);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "study");
    t->def.ctx = t->ctx;
    t->def.name = t->name;
    t->def.maximize = maximize;
    t->def.pruner = (ns__pruner_cfg){.type = type,
                                     .startup_trials = 5,
                                     .warmup_steps = 0,
                                     .interval_steps = 1,
                                     .min_epochs = 1,
                                     .reduction_factor = 3,
                                     .max_epochs = 9};
    t->s.ctx = t->ctx;
    t->s.def = &t->def;
    t->s.trials = calloc(MAX_TRIALS, sizeof *t->s.trials);
    assert_non_null(t->s.trials);
    t->s.cap = MAX_TRIALS;
    return t;
}

static void ts_free(tstudy *t)
{
    for (int i = 0; i < t->s.n; i++)
        free(t->s.trials[i].steps);
    free(t->s.trials);
    ns_ctx_free(t->ctx);
    free(t);
}

/* Adds trial number n (the next) in state st with steps[0..n_steps); NAN marks no value. */
static int ts_add(tstudy *t, ns_trial_state st, const double *steps, int n_steps)
{
    assert_true(t->s.n < MAX_TRIALS && n_steps <= MAX_STEPS);
    ns__trial *tr = &t->s.trials[t->s.n];
    tr->number = t->s.n;
    tr->state = st;
    tr->value = NAN;
    tr->steps = malloc(MAX_STEPS * sizeof *tr->steps);
    assert_non_null(tr->steps);
    for (int k = 0; k < MAX_STEPS; k++)
        tr->steps[k] = k < n_steps ? steps[k] : (double)NAN;
    tr->n_steps = n_steps;
    tr->cap_steps = MAX_STEPS;
    if (st == NS_TRIAL_COMPLETE && n_steps > 0)
        tr->value = steps[n_steps - 1];
    return t->s.n++;
}

/* A trial with one value, v at step `step` (NAN before it). */
static int ts_add_at(tstudy *t, ns_trial_state st, int step, double v)
{
    double steps[MAX_STEPS];
    for (int k = 0; k < step; k++)
        steps[k] = NAN;
    steps[step - 1] = v;
    return ts_add(t, st, steps, step);
}

/* Trial `number` reports v at step (the steps between stay NAN). */
static void ts_report(tstudy *t, int number, int step, double v)
{
    ns__trial *tr = &t->s.trials[number];
    assert_true(step >= 1 && step <= MAX_STEPS);
    tr->steps[step - 1] = v;
    if (step > tr->n_steps)
        tr->n_steps = step;
}

static ns_prune_decision judge(tstudy *t, int number, int step)
{
    return ns__prune(&t->s, number, step);
}

/* ---- none ---------------------------------------------------------------------------------- */

static void test_none(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_NONE, false, NULL);
    for (int i = 0; i < 6; i++)
        ts_add_at(t, NS_TRIAL_COMPLETE, 1, 0.1);
    int bad = ts_add_at(t, NS_TRIAL_RUNNING, 1, 100.0);
    int nan = ts_add_at(t, NS_TRIAL_RUNNING, 1, NAN);
    ts_add_at(t, NS_TRIAL_PAUSED, 1, 0.0);
    assert_int_equal(judge(t, bad, 1), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, nan, 1), NS_PRUNE_CONTINUE);
    /* A step beyond the trial's values: nothing to judge, for every pruner. */
    for (int type = NS__PRUNER_NONE; type <= NS__PRUNER_HYPERBAND; type++) {
        t->def.pruner.type = (ns__pruner_type)type;
        assert_int_equal(ns__prune(&t->s, bad, 2), NS_PRUNE_CONTINUE);
        assert_int_equal(ns__prune(&t->s, bad, 0), NS_PRUNE_CONTINUE);
    }
    t->def.pruner.type = NS__PRUNER_NONE;
    int out[4];
    assert_int_equal(ns__promotable(&t->s, out, 4), 0);
    ts_free(t);
}

/* ---- median -------------------------------------------------------------------------------- */

/* Five complete trials whose step-3 values are 0.2, 0.9, 0.5, 0.4, 1.0 (steps 1 and 2 at 2.0). */
static void add_five_complete(tstudy *t)
{
    const double at3[5] = {0.2, 0.9, 0.5, 0.4, 1.0};
    for (int i = 0; i < 5; i++) {
        double steps[3] = {2.0, 2.0, at3[i]};
        ts_add(t, NS_TRIAL_COMPLETE, steps, 3);
    }
}

static void test_median_startup(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_MEDIAN, false, NULL);
    /* No complete trial, then 1 .. 4: fewer than startup_trials = 5, never pruned. */
    int bad = ts_add(t, NS_TRIAL_RUNNING, (double[]){9.0, 9.0, 9.0}, 3);
    assert_int_equal(judge(t, bad, 3), NS_PRUNE_CONTINUE);
    const double at3[5] = {0.2, 0.9, 0.5, 0.4, 1.0};
    for (int i = 0; i < 4; i++) {
        ts_add(t, NS_TRIAL_COMPLETE, (double[]){2.0, 2.0, at3[i]}, 3);
        assert_int_equal(judge(t, bad, 3), NS_PRUNE_CONTINUE);
    }
    /* Paused, pruned and running trials are not counted. */
    ts_add(t, NS_TRIAL_PRUNED, (double[]){0.1, 0.1, 0.1}, 3);
    ts_add(t, NS_TRIAL_PAUSED, (double[]){0.1, 0.1, 0.1}, 3);
    assert_int_equal(judge(t, bad, 3), NS_PRUNE_CONTINUE);
    /* The fifth complete trial: now 9.0 > median 0.5 (see below) stops it. */
    ts_add(t, NS_TRIAL_COMPLETE, (double[]){2.0, 2.0, at3[4]}, 3);
    assert_int_equal(judge(t, bad, 3), NS_PRUNE_STOP);
    /* startup_trials 7: five complete are not enough again. */
    t->def.pruner.startup_trials = 7;
    assert_int_equal(judge(t, bad, 3), NS_PRUNE_CONTINUE);
    ts_free(t);
}

static void test_median_step3(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_MEDIAN, false, NULL);
    add_five_complete(t);
    /* Step 3: sorted [0.2, 0.4, 0.5, 0.9, 1.0], index 0.5 * (5 - 1) = 2: the median is 0.5.
     * The trial's best value over its steps is what is compared. */
    int worse = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.9, 0.8, 0.75}, 3);  /* best 0.75 > 0.5 */
    int better = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.9, 0.6, 0.45}, 3); /* 0.45 < 0.5 */
    int early = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.3, 0.8, 0.9}, 3);   /* best 0.3 */
    int equal = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.7, 0.6, 0.5}, 3);   /* 0.5, not worse */
    assert_int_equal(judge(t, worse, 3), NS_PRUNE_STOP);
    assert_int_equal(judge(t, better, 3), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, early, 3), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, equal, 3), NS_PRUNE_CONTINUE);
    /* At step 1 every complete trial had 2.0: the median is 2.0 and 0.9 is better. */
    assert_int_equal(judge(t, worse, 1), NS_PRUNE_CONTINUE);

    /* Maximising: the percentile is 100 - 50 = 50, the same 0.5; the best is the largest
     * value. [0.9, 0.8, 0.75]: 0.9 > 0.5 goes on; [0.1, 0.2, 0.3]: 0.3 < 0.5 stops. */
    t->def.maximize = true;
    int low = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.1, 0.2, 0.3}, 3);
    assert_int_equal(judge(t, worse, 3), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, low, 3), NS_PRUNE_STOP);
    t->def.maximize = false;

    /* A sixth complete trial (0.6 at step 3): sorted [0.2, 0.4, 0.5, 0.6, 0.9, 1.0], index
     * 0.5 * 5 = 2.5, between 0.5 and 0.6: numpy's lerp 0.6 - (0.6 - 0.5) * 0.5 = 0.55. */
    ts_add(t, NS_TRIAL_COMPLETE, (double[]){2.0, 2.0, 0.6}, 3);
    int above = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.9, 0.8, 0.56}, 3);
    int below = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.9, 0.8, 0.54}, 3);
    assert_int_equal(judge(t, above, 3), NS_PRUNE_STOP);
    assert_int_equal(judge(t, below, 3), NS_PRUNE_CONTINUE);

    /* Complete trials without a value at the step are left out: at step 4 only the one below
     * (0.7) has one, so the median is 0.7. */
    ts_add(t, NS_TRIAL_COMPLETE, (double[]){2.0, 2.0, 2.0, 0.7}, 4);
    int at4 = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.9, 0.9, 0.9, 0.8}, 4);
    assert_int_equal(judge(t, at4, 4), NS_PRUNE_STOP); /* 0.8 > 0.7 */
    /* No complete trial reached step 5: no percentile, no pruning. */
    int at5 = ts_add(t, NS_TRIAL_RUNNING, (double[]){9, 9, 9, 9, 9}, 5);
    assert_int_equal(judge(t, at5, 5), NS_PRUNE_CONTINUE);
    ts_free(t);
}

static void test_median_nan(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_MEDIAN, false, NULL);
    add_five_complete(t);
    /* No finite value at all: the best is NaN, which stops. */
    int nan = ts_add(t, NS_TRIAL_RUNNING, (double[]){NAN}, 1);
    assert_int_equal(judge(t, nan, 1), NS_PRUNE_STOP);
    /* A NaN after a good value: the best (nanmin) is 0.1 < 0.5, it goes on. */
    int later = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.1, 0.8, NAN}, 3);
    assert_int_equal(judge(t, later, 3), NS_PRUNE_CONTINUE);
    ts_free(t);
}

static void test_median_warmup_interval(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_MEDIAN, false, NULL);
    t->def.pruner.warmup_steps = 2;
    t->def.pruner.interval_steps = 3;
    for (int i = 0; i < 5; i++) {
        double steps[8];
        for (int k = 0; k < 8; k++)
            steps[k] = 0.1 * (i + 1); /* the median at every step is 0.3 */
        ts_add(t, NS_TRIAL_COMPLETE, steps, 8);
    }
    double bad[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int b = ts_add(t, NS_TRIAL_RUNNING, bad, 8);
    /* Step 1 < warmup 2: no check. From the warmup on the checks are at 2 + 3j: the latest
     * check step not above k is (k - 2) / 3 * 3 + 2, and k checks when no earlier reported step
     * is at or after it: 2 (after 1), 5 (after 4), 8 (after 7) check; 3, 4, 6, 7 do not. */
    const ns_prune_decision want[8] = {NS_PRUNE_CONTINUE, NS_PRUNE_STOP, NS_PRUNE_CONTINUE,
                                       NS_PRUNE_CONTINUE, NS_PRUNE_STOP, NS_PRUNE_CONTINUE,
                                       NS_PRUNE_CONTINUE, NS_PRUNE_STOP};
    for (int k = 1; k <= 8; k++)
        assert_int_equal(judge(t, b, k), want[k - 1]);
    /* A check step without a value is put off to the next reported step: with step 5 missing,
     * step 6 checks (the latest check step is 5, the step reported before it 4 < 5). */
    double gap[6] = {1, 1, 1, 1, NAN, 1};
    int g = ts_add(t, NS_TRIAL_RUNNING, gap, 6);
    assert_int_equal(judge(t, g, 6), NS_PRUNE_STOP);
    /* interval 1, warmup 0: every step checks. */
    t->def.pruner.warmup_steps = 0;
    t->def.pruner.interval_steps = 1;
    for (int k = 1; k <= 8; k++)
        assert_int_equal(judge(t, b, k), NS_PRUNE_STOP);
    ts_free(t);
}

static void test_median_no_memory(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_MEDIAN, false, NULL);
    add_five_complete(t);
    int worse = ts_add(t, NS_TRIAL_RUNNING, (double[]){0.9, 0.8, 0.75}, 3);
    /* A context whose first allocation fails: no memory to judge, the trial goes on and
     * nothing leaks; the next allocation succeeds again. */
    ns_test_alloc ta = {0, 0, 0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    long live = ta.live;
    ta.fail_at = ta.calls + 1;
    t->s.ctx = ctx;
    assert_int_equal(judge(t, worse, 3), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, worse, 3), NS_PRUNE_STOP);
    assert_int_equal(ta.live, live);
    t->s.ctx = t->ctx;
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
    ts_free(t);
}

/* ---- ASHA ---------------------------------------------------------------------------------- */

static void test_asha_threshold(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_ASHA, false, NULL); /* min_epochs 1, eta 3: rungs 1, 3, 9 */
    /* The first trial at a rung: 1 competitor, index max(1 / 3 - 1, 0) = 0, itself. */
    int first = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.5);
    assert_int_equal(judge(t, first, 1), NS_PRUNE_CONTINUE);
    /* Four at step 1: 0.5 (running on), 0.1, 0.3, 0.4. */
    ts_add_at(t, NS_TRIAL_COMPLETE, 1, 0.1);
    ts_add_at(t, NS_TRIAL_PAUSED, 1, 0.3);
    ts_add_at(t, NS_TRIAL_PRUNED, 1, 0.4);
    /* A fifth: 5 competitors, index 5 / 3 - 1 = 0, the threshold is the best, 0.1: 0.2 pauses,
     * 0.1 (a tie, <=) and 0.05 go on. */
    int x = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.2);
    assert_int_equal(judge(t, x, 1), NS_PRUNE_PAUSE);
    ts_report(t, x, 1, 0.1);
    assert_int_equal(judge(t, x, 1), NS_PRUNE_CONTINUE);
    ts_report(t, x, 1, 0.05);
    assert_int_equal(judge(t, x, 1), NS_PRUNE_CONTINUE);
    ts_report(t, x, 1, 0.2);
    /* A sixth (0.6): index 6 / 3 - 1 = 1, the 2nd best of [0.1, 0.2, 0.3, 0.4, 0.5, y]. */
    int y = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.6);
    assert_int_equal(judge(t, y, 1), NS_PRUNE_PAUSE);    /* 2nd best is 0.2 */
    assert_int_equal(judge(t, x, 1), NS_PRUNE_CONTINUE); /* 0.2 <= 0.2 now */
    ts_report(t, y, 1, 0.15); /* sorted [0.1, 0.15, 0.2, ...]: 0.15 <= 0.15 */
    assert_int_equal(judge(t, y, 1), NS_PRUNE_CONTINUE);
    ts_report(t, y, 1, 0.35); /* sorted [0.1, 0.2, 0.3, 0.35, ...]: 0.35 > 0.2 */
    assert_int_equal(judge(t, y, 1), NS_PRUNE_PAUSE);

    /* Steps 2 and 4 .. 8 are no rung: whatever the value, the trial goes on. */
    for (int k = 2; k <= 8; k++) {
        if (k == 3)
            continue;
        ts_report(t, y, k, 100.0);
        assert_int_equal(judge(t, y, k), NS_PRUNE_CONTINUE);
    }
    /* Rung 3 counts only those with a value at step 3: first (0.3) and y (0.45), 2
     * competitors, index 0, the threshold 0.3: y pauses, first goes on. */
    ts_report(t, first, 3, 0.3);
    ts_report(t, y, 3, 0.45);
    assert_int_equal(judge(t, y, 3), NS_PRUNE_PAUSE);
    assert_int_equal(judge(t, first, 3), NS_PRUNE_CONTINUE);
    ts_free(t);
}

static void test_asha_nan_and_direction(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_ASHA, false, NULL);
    /* NaN at a rung stops (even when alone); NaN between rungs goes on. */
    int n = ts_add_at(t, NS_TRIAL_RUNNING, 1, NAN);
    assert_int_equal(judge(t, n, 1), NS_PRUNE_STOP);
    ts_report(t, n, 1, 0.5);
    ts_report(t, n, 2, NAN);
    assert_int_equal(judge(t, n, 2), NS_PRUNE_CONTINUE);
    /* A NaN at a rung is no competitor: the trial at 0.9 is the only one with a value. */
    ts_add_at(t, NS_TRIAL_PRUNED, 3, NAN);
    int alone = ts_add_at(t, NS_TRIAL_RUNNING, 3, 0.9);
    assert_int_equal(judge(t, alone, 3), NS_PRUNE_CONTINUE);
    ts_free(t);

    /* Maximising: 0.5 against 0.9 pauses (loss -0.5 > -0.9), 0.95 goes on. */
    t = ts_new(NS__PRUNER_ASHA, true, NULL);
    ts_add_at(t, NS_TRIAL_COMPLETE, 1, 0.9);
    int m = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.5);
    assert_int_equal(judge(t, m, 1), NS_PRUNE_PAUSE);
    ts_report(t, m, 1, 0.95);
    assert_int_equal(judge(t, m, 1), NS_PRUNE_CONTINUE);
    ts_free(t);

    /* min_epochs 2, eta 2: rungs 2, 4, 8; step 1, 3, 5 are none. */
    t = ts_new(NS__PRUNER_ASHA, false, NULL);
    t->def.pruner.min_epochs = 2;
    t->def.pruner.reduction_factor = 2;
    ts_add(t, NS_TRIAL_COMPLETE, (double[]){0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, 8);
    int w = ts_add(t, NS_TRIAL_RUNNING, (double[]){1, 1, 1, 1, 1, 1, 1, 1}, 8);
    const ns_prune_decision want[8] = {NS_PRUNE_CONTINUE, NS_PRUNE_PAUSE,    NS_PRUNE_CONTINUE,
                                       NS_PRUNE_PAUSE,    NS_PRUNE_CONTINUE, NS_PRUNE_CONTINUE,
                                       NS_PRUNE_CONTINUE, NS_PRUNE_PAUSE};
    for (int k = 1; k <= 8; k++)
        assert_int_equal(judge(t, w, k), want[k - 1]);
    ts_free(t);
}

static void test_asha_promotable(void **state)
{
    (void)state;
    tstudy *t = ts_new(NS__PRUNER_ASHA, false, NULL);
    int out[8];
    /* Trial 0 (0.1) goes on; 1 (0.3) and 2 (0.25) pause: with 2 and 3 competitors the index is
     * 0, the threshold 0.1. */
    int a = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.1);
    assert_int_equal(judge(t, a, 1), NS_PRUNE_CONTINUE);
    int b = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.3);
    assert_int_equal(judge(t, b, 1), NS_PRUNE_PAUSE);
    t->s.trials[b].state = NS_TRIAL_PAUSED;
    int c = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.25);
    assert_int_equal(judge(t, c, 1), NS_PRUNE_PAUSE);
    t->s.trials[c].state = NS_TRIAL_PAUSED;
    assert_int_equal(ns__promotable(&t->s, out, 8), 0);
    /* Three worse ones (0.5, 0.6, 0.7), each paused: 6 competitors, index 1, sorted
     * [0.1, 0.25, 0.3, 0.5, 0.6, 0.7]: 0.25 is promotable, 0.3 not yet. */
    for (int i = 0; i < 3; i++) {
        int w = ts_add_at(t, NS_TRIAL_RUNNING, 1, 0.5 + 0.1 * i);
        assert_int_equal(judge(t, w, 1), NS_PRUNE_PAUSE);
        t->s.trials[w].state = NS_TRIAL_PAUSED;
    }
    assert_int_equal(ns__promotable(&t->s, out, 8), 1);
    assert_int_equal(out[0], c);
    /* Three more (0.8, 0.9, 0.95): 9 competitors, index 2, threshold 0.3: both, best first. */
    for (int i = 0; i < 3; i++) {
        int w = ts_add_at(t, NS_TRIAL_RUNNING, 1, i == 2 ? 0.95 : 0.8 + 0.1 * i);
        assert_int_equal(judge(t, w, 1), NS_PRUNE_PAUSE);
        t->s.trials[w].state = NS_TRIAL_PAUSED;
    }
    assert_int_equal(ns__promotable(&t->s, out, 8), 2);
    assert_int_equal(out[0], c);
    assert_int_equal(out[1], b);
    /* cap 1: the best only, the count still 2; cap 0 and no array: only the count. */
    out[1] = -7;
    assert_int_equal(ns__promotable(&t->s, out, 1), 2);
    assert_int_equal(out[0], c);
    assert_int_equal(out[1], -7);
    assert_int_equal(ns__promotable(&t->s, NULL, 0), 2);
    /* Trial 9 pauses at 0.25 too (10 competitors, index 2, sorted [0.1, 0.25, 0.25, 0.3, ...]:
     * threshold 0.25). Now 2 and 9 tie and are promotable, the lower number first; 1 (0.3,
     * three better) is not any more. */
    int d = ts_add_at(t, NS_TRIAL_PAUSED, 1, 0.25);
    assert_int_equal(ns__promotable(&t->s, out, 8), 2);
    assert_int_equal(out[0], c);
    assert_int_equal(out[1], d);
    /* Promoted (running again), 2 is no longer listed. */
    t->s.trials[c].state = NS_TRIAL_RUNNING;
    assert_int_equal(ns__promotable(&t->s, out, 8), 1);
    assert_int_equal(out[0], d);

    /* A paused trial is judged at the rung of its last step. Trial 0 goes on to step 3 (0.2)
     * and pauses there; trials 10 (0.15) and 11 (0.3, paused) reach step 3: 3 competitors,
     * index 0, threshold 0.15, neither paused one is promotable (trial 9 still is, at step 1).
     * Three more at step 3 (0.4, 0.5, 0.6): 6, index 1, sorted [0.15, 0.2, 0.3, ...]: trial 0
     * (0.2) is promotable and comes before trial 9 (0.25); trial 11 (two better) is not. */
    ts_report(t, a, 2, 0.2);
    ts_report(t, a, 3, 0.2);
    t->s.trials[a].state = NS_TRIAL_PAUSED;
    ts_add_at(t, NS_TRIAL_RUNNING, 3, 0.15);
    ts_add_at(t, NS_TRIAL_PAUSED, 3, 0.3);
    assert_int_equal(ns__promotable(&t->s, out, 8), 1);
    assert_int_equal(out[0], d);
    for (int i = 0; i < 3; i++)
        ts_add_at(t, NS_TRIAL_COMPLETE, 3, 0.4 + 0.1 * i);
    assert_int_equal(ns__promotable(&t->s, out, 8), 2);
    assert_int_equal(out[0], a);
    assert_int_equal(out[1], d);
    ts_free(t);
}

/* ---- Hyperband ----------------------------------------------------------------------------- */

static void test_hyperband_bracket_ids(void **state)
{
    (void)state;
    /* By hand for "hb-study", min 1, max 9, eta 3: floor(log 9 / log 3) + 1 = 3 brackets, budgets
     * ceil(3 * 3^2 / 3) = 9, ceil(3 * 3 / 2) = 5, ceil(3 * 1 / 1) = 3 (total 17); Optuna puts
     * trials 0 .. 5 in brackets 1, 0, 0, 2, 0, 2. */
    ns__pruner_cfg cfg = {
        .type = NS__PRUNER_HYPERBAND, .min_epochs = 1, .reduction_factor = 3, .max_epochs = 9};
    ns__hyperband hb;
    ns__hyperband_init(&hb, &cfg, "hb-study");
    assert_int_equal(hb.n_brackets, 3);
    assert_int_equal(hb.budgets[0], 9);
    assert_int_equal(hb.budgets[1], 5);
    assert_int_equal(hb.budgets[2], 3);
    assert_int_equal(hb.total, 17);
    const int ids[6] = {1, 0, 0, 2, 0, 2};
    for (int n = 0; n < 6; n++)
        assert_int_equal(ns__hyperband_bracket(&hb, n), ids[n]);
    /* max below min: no bracket (Optuna's HyperbandPruner then never prunes). */
    cfg.max_epochs = 0;
    ns__hyperband_init(&hb, &cfg, "hb-study");
    assert_int_equal(hb.n_brackets, 0);

    /* Optuna's own, for several names, resources and numbers. */
    json_t *root = ns_test_json_load("pruners_optuna.json");
    json_t *list = json_object_get(root, "hyperband");
    assert_true(json_array_size(list) >= 5);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        cfg.min_epochs = (int)json_integer_value(json_object_get(c, "min_epochs"));
        cfg.max_epochs = (int)json_integer_value(json_object_get(c, "max_epochs"));
        cfg.reduction_factor = (int)json_integer_value(json_object_get(c, "reduction_factor"));
        ns__hyperband_init(&hb, &cfg, json_string_value(json_object_get(c, "study_name")));
        assert_int_equal(hb.n_brackets, json_integer_value(json_object_get(c, "n_brackets")));
        json_t *budgets = json_object_get(c, "budgets");
        for (int b = 0; b < hb.n_brackets; b++)
            assert_int_equal(hb.budgets[b], json_integer_value(json_array_get(budgets, b)));
        json_t *want = json_object_get(c, "ids");
        assert_true(json_array_size(want) > 20);
        for (size_t k = 0; k < json_array_size(want); k++) {
            int number = (int)(k < 20 ? k : k == 20 ? 99 : k == 21 ? 1000 : 123456);
            assert_int_equal(ns__hyperband_bracket(&hb, number),
                             json_integer_value(json_array_get(want, k)));
        }
    }
    json_decref(root);
}

static void test_hyperband_brackets(void **state)
{
    (void)state;
    /* "hb-study", min 1, max 9, eta 3: trials 0 and 12 are in bracket 1 (rungs 3, 9), trials
     * 1, 2 and 4 in bracket 0 (rungs 1, 3, 9), trial 3 in bracket 2 (rung 9). */
    tstudy *t = ts_new(NS__PRUNER_HYPERBAND, false, "hb-study");
    for (int i = 0; i < 13; i++)
        ts_add(t, NS_TRIAL_RUNNING, NULL, 0);
    ns__hyperband hb;
    ns__hyperband_init(&hb, &t->def.pruner, "hb-study");
    assert_int_equal(ns__hyperband_bracket(&hb, 0), 1);
    assert_int_equal(ns__hyperband_bracket(&hb, 12), 1);
    assert_int_equal(ns__hyperband_bracket(&hb, 1), 0);
    assert_int_equal(ns__hyperband_bracket(&hb, 3), 2);

    /* Bracket 0 at step 1: trial 1 (0.1) first goes on, trial 2 (0.5) pauses. */
    ts_report(t, 1, 1, 0.1);
    assert_int_equal(judge(t, 1, 1), NS_PRUNE_CONTINUE);
    ts_report(t, 2, 1, 0.5);
    assert_int_equal(judge(t, 2, 1), NS_PRUNE_PAUSE);
    /* Bracket 1's first rung is min_epochs * eta = 3: at step 1 trial 0 (0.9, worse than both)
     * goes on. */
    ts_report(t, 0, 1, 0.9);
    assert_int_equal(judge(t, 0, 1), NS_PRUNE_CONTINUE);
    /* At step 3: trial 1 (bracket 0) has 0.05; trial 0 (0.5) is alone in bracket 1 and goes
     * on; trial 12 (0.2) makes two there, index 0: 0.2 is the best, trial 0's 0.5 now pauses.
     * Trial 1's 0.05 is in no comparison of bracket 1. */
    ts_report(t, 1, 2, 0.1);
    ts_report(t, 1, 3, 0.05);
    ts_report(t, 0, 2, 0.7);
    ts_report(t, 0, 3, 0.5);
    assert_int_equal(judge(t, 0, 3), NS_PRUNE_CONTINUE);
    ts_report(t, 12, 1, 0.3);
    ts_report(t, 12, 2, 0.25);
    ts_report(t, 12, 3, 0.2);
    assert_int_equal(judge(t, 12, 3), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, 0, 3), NS_PRUNE_PAUSE);
    /* Bracket 2's only rung is 9: trial 3 goes on at 1 and 3 whatever its value. */
    ts_report(t, 3, 1, 5.0);
    ts_report(t, 3, 3, 5.0);
    assert_int_equal(judge(t, 3, 1), NS_PRUNE_CONTINUE);
    assert_int_equal(judge(t, 3, 3), NS_PRUNE_CONTINUE);

    /* Promotable per bracket: trial 2 (paused at step 1 of bracket 0, 0.5) becomes promotable
     * once bracket 0 has 6 at step 1 (index 1): trials 1, 2, 4 and three more of bracket 0. */
    t->s.trials[2].state = NS_TRIAL_PAUSED;
    t->s.trials[0].state = NS_TRIAL_PAUSED;
    int out[4];
    assert_int_equal(ns__promotable(&t->s, out, 4), 0);
    ts_report(t, 4, 1, 0.6);
    int added = 0;
    while (added < 3) {
        int n = ts_add(t, NS_TRIAL_RUNNING, NULL, 0);
        if (ns__hyperband_bracket(&hb, n) == 0) {
            ts_report(t, n, 1, 0.7 + 0.1 * added);
            added++;
        } else if (ns__hyperband_bracket(&hb, n) == 1) {
            ts_report(t, n, 3, 0.01); /* better than all in bracket 1, not in bracket 0's count */
        }
    }
    /* Bracket 0 at step 1: [0.1, 0.5, 0.6, 0.7, 0.8, 0.9], index 1: 0.5 is promotable. */
    assert_int_equal(ns__promotable(&t->s, out, 4), 1);
    assert_int_equal(out[0], 2);
    ts_free(t);
}

/* ---- parity with Optuna -------------------------------------------------------------------- */

static double value_of(json_t *v)
{
    return json_is_null(v) ? (double)NAN : json_number_value(v);
}

/* Replays one recorded case: every report, our decision against Optuna's should_prune. */
static void replay(json_t *c)
{
    const char *kind = json_string_value(json_object_get(c, "pruner"));
    ns__pruner_type type = strcmp(kind, "median") == 0 ? NS__PRUNER_MEDIAN
                           : strcmp(kind, "asha") == 0 ? NS__PRUNER_ASHA
                                                       : NS__PRUNER_HYPERBAND;
    tstudy *t = ts_new(type, json_is_true(json_object_get(c, "maximize")),
                       json_string_value(json_object_get(c, "study_name")));
    ns__pruner_cfg *cfg = &t->def.pruner;
    if (type == NS__PRUNER_MEDIAN) {
        cfg->startup_trials = (int)json_integer_value(json_object_get(c, "startup_trials"));
        cfg->warmup_steps = (int)json_integer_value(json_object_get(c, "warmup_steps"));
        cfg->interval_steps = (int)json_integer_value(json_object_get(c, "interval_steps"));
    } else {
        cfg->min_epochs = (int)json_integer_value(json_object_get(c, "min_epochs"));
        cfg->reduction_factor = (int)json_integer_value(json_object_get(c, "reduction_factor"));
        cfg->max_epochs = (int)json_integer_value(json_object_get(c, "max_epochs"));
    }
    int trials = (int)json_integer_value(json_object_get(c, "trials"));
    assert_true(trials <= MAX_TRIALS);
    for (int i = 0; i < trials; i++)
        ts_add(t, NS_TRIAL_RUNNING, NULL, 0);
    json_t *brackets = json_object_get(c, "brackets");
    if (brackets) {
        ns__hyperband hb;
        ns__hyperband_init(&hb, cfg, t->name);
        for (int i = 0; i < trials; i++)
            assert_int_equal(ns__hyperband_bracket(&hb, i),
                             json_integer_value(json_array_get(brackets, (size_t)i)));
    }

    size_t i;
    json_t *e;
    int pruned = 0, paused = 0;
    json_array_foreach(json_object_get(c, "events"), i, e)
    {
        const char *what = json_string_value(json_array_get(e, 0));
        int number = (int)json_integer_value(json_array_get(e, 1));
        ns__trial *tr = &t->s.trials[number];
        if (strcmp(what, "complete") == 0) {
            tr->state = NS_TRIAL_COMPLETE;
            tr->value = json_number_value(json_array_get(e, 2));
            continue;
        }
        int step = (int)json_integer_value(json_array_get(e, 2));
        double v = value_of(json_array_get(e, 3));
        bool optuna_prunes = json_integer_value(json_array_get(e, 4)) != 0;
        ts_report(t, number, step, v);
        ns_prune_decision d = judge(t, number, step);
        ns_prune_decision want = !optuna_prunes                          ? NS_PRUNE_CONTINUE
                                 : type == NS__PRUNER_MEDIAN || isnan(v) ? NS_PRUNE_STOP
                                                                         : NS_PRUNE_PAUSE;
        if (d != want)
            fail_msg("%s: trial %d at step %d (%g): %d, Optuna's %d",
                     json_string_value(json_object_get(c, "name")), number, step, v, (int)d,
                     (int)want);
        if (d == NS_PRUNE_STOP) {
            tr->state = NS_TRIAL_PRUNED;
            pruned++;
        } else if (d == NS_PRUNE_PAUSE) {
            tr->state = NS_TRIAL_PAUSED;
            paused++;
        }
    }
    /* The sequence exercises the pruner: some trials stop or pause. */
    assert_true(pruned + paused >= 10);
    /* Whatever is promotable at the end is paused and listed best first. */
    int out[MAX_TRIALS];
    int n = ns__promotable(&t->s, out, MAX_TRIALS);
    assert_true(type != NS__PRUNER_MEDIAN || n == 0);
    for (int k = 0; k < n; k++)
        assert_int_equal(t->s.trials[out[k]].state, NS_TRIAL_PAUSED);
    ts_free(t);
}

static void test_parity_optuna(void **state)
{
    (void)state;
    json_t *root = ns_test_json_load("pruners_optuna.json");
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_array_size(cases) >= 4);
    int kinds = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *kind = json_string_value(json_object_get(c, "pruner"));
        kinds |= strcmp(kind, "median") == 0 ? 1 : strcmp(kind, "asha") == 0 ? 2 : 4;
        replay(c);
    }
    assert_int_equal(kinds, 7);
    json_decref(root);
}

/* ---- numpy's percentile -------------------------------------------------------------------- */

static void test_percentile(void **state)
{
    (void)state;
    /* [1, 2, 3, 4]: q 50 -> index 1.5 -> 3 - (3 - 2) * 0.5 = 2.5; q 25 -> 0.75 -> 1.75; q 10 ->
     * 0.3 -> 1 + 1 * 0.3 = 1.3; q 0 and 100 the ends; one value is every percentile. */
    double v[4] = {4, 1, 3, 2};
    assert_true(ns__percentile(v, 4, 50.0) == 2.5);
    assert_true(ns__percentile(v, 4, 25.0) == 1.75);
    NS_ASSERT_CLOSE(ns__percentile(v, 4, 10.0), 1.3, 0, 1e-15);
    assert_true(ns__percentile(v, 4, 0.0) == 1.0);
    assert_true(ns__percentile(v, 4, 100.0) == 4.0);
    double one[1] = {7.5};
    assert_true(ns__percentile(one, 1, 50.0) == 7.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_median_startup),
        cmocka_unit_test(test_median_step3),
        cmocka_unit_test(test_median_nan),
        cmocka_unit_test(test_median_warmup_interval),
        cmocka_unit_test(test_median_no_memory),
        cmocka_unit_test(test_asha_threshold),
        cmocka_unit_test(test_asha_nan_and_direction),
        cmocka_unit_test(test_asha_promotable),
        cmocka_unit_test(test_hyperband_bracket_ids),
        cmocka_unit_test(test_hyperband_brackets),
        cmocka_unit_test(test_parity_optuna),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
