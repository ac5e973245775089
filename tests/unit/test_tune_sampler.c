/* The tuner's samplers: random draws in range, conditionals, determinism, the grid's
 * enumeration and resumption, TPE's split and Parzen estimator against hand-worked cases and
 * Optuna 3.1 (tests/fixtures/tpe_optuna.json, from tools/make_tpe_fixture.py), and TPE
 * beating random on a quadratic. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "tune/tpe.h"
#include "tune/tune_internal.h"

#define MAXP 8

/* A study built by hand: the definition, the study and its trials' storage. */
typedef struct hstudy {
    ns_study_def def;
    ns_study s;
    ns__param p[MAXP];
    double *xs, *steps;
    int max_trials, max_steps;
} hstudy;

static ns__sampler_cfg cfg_of(ns__sampler_type type, uint64_t seed)
{
    ns__sampler_cfg c = {0};
    c.type = type;
    c.seed = seed;
    c.startup_trials = 10;
    c.ei_candidates = 24;
    c.gamma = 0.1;
    c.gamma_max = 25;
    c.prior_weight = 1.0;
    c.points = 5;
    return c;
}

static ns__param P(ns__param_kind kind, double low, double high)
{
    ns__param p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.low = low;
    p.high = high;
    p.when_param = -1;
    return p;
}

static ns__param C(int n_choices)
{
    ns__param p = P(NS__P_CHOICE, 0, 0);
    p.n_choices = n_choices;
    return p;
}

/* p active only when param `parent` took one of idx[n]. */
static ns__param when(ns__param p, int parent, int n, const int *idx)
{
    p.when_param = parent;
    p.n_when = n;
    for (int k = 0; k < n; k++)
        p.when_idx[k] = idx[k];
    return p;
}

static hstudy *hs_new(ns_ctx *ctx, const ns__param *params, int n, ns__sampler_cfg cfg,
                      int max_trials)
{
    hstudy *h = calloc(1, sizeof *h);
    assert_non_null(h);
    assert_true(n <= MAXP);
    memcpy(h->p, params, (size_t)n * sizeof *params);
    h->def.ctx = ctx;
    h->def.space.p = h->p;
    h->def.space.n = n;
    h->def.sampler = cfg;
    h->max_trials = max_trials;
    h->max_steps = 8;
    h->xs = calloc((size_t)max_trials * MAXP, sizeof *h->xs);
    h->steps = calloc((size_t)max_trials * (size_t)h->max_steps, sizeof *h->steps);
    h->s.ctx = ctx;
    h->s.def = &h->def;
    h->s.trials = calloc((size_t)max_trials, sizeof *h->s.trials);
    h->s.cap = max_trials;
    assert_true(h->xs && h->steps && h->s.trials);
    return h;
}

static void hs_free(hstudy *h)
{
    free(h->xs);
    free(h->steps);
    free(h->s.trials);
    free(h);
}

/* Adds a trial with settings x (copied), state, value and steps[n_steps]. */
static void hs_add(hstudy *h, const double *x, ns_trial_state state, double value,
                   const double *steps, int n_steps)
{
    assert_true(h->s.n < h->max_trials && n_steps <= h->max_steps);
    int t = h->s.n++;
    ns__trial *tr = &h->s.trials[t];
    tr->number = t;
    tr->state = state;
    tr->x = h->xs + (size_t)t * MAXP;
    memcpy(tr->x, x, (size_t)h->def.space.n * sizeof *x);
    tr->value = state == NS_TRIAL_COMPLETE ? value : (double)NAN;
    tr->steps = h->steps + (size_t)t * (size_t)h->max_steps;
    for (int k = 0; k < n_steps; k++)
        tr->steps[k] = steps[k];
    tr->n_steps = n_steps;
    tr->cap_steps = h->max_steps;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static bool same_x(const double *a, const double *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
            return false;
    return true;
}

/* ---- random --------------------------------------------------------------------------- */

static void test_random_ranges(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__param ps[5] = {P(NS__P_UNIFORM, -2, 3), P(NS__P_LOG_UNIFORM, 1e-4, 1), P(NS__P_INT, 1, 6),
                       P(NS__P_INT_LOG, 1, 1000), C(3)};
    hstudy *h = hs_new(ctx, ps, 5, cfg_of(NS__SAMPLER_RANDOM, 7), 1);
    int hits_int[7] = {0}, hits_choice[3] = {0}, log_low = 0, intlog_low = 0;
    double mean_u = 0;
    const int n = 2000;
    for (int t = 0; t < n; t++) {
        double x[5];
        NS_ASSERT_OK(ctx, ns__sample_random(&h->s, t, x));
        assert_true(x[0] >= -2 && x[0] <= 3);
        assert_true(x[1] >= 1e-4 && x[1] <= 1);
        assert_true(x[2] >= 1 && x[2] <= 6 && x[2] == floor(x[2]));
        assert_true(x[3] >= 1 && x[3] <= 1000 && x[3] == floor(x[3]));
        assert_true(x[4] >= 0 && x[4] <= 2 && x[4] == floor(x[4]));
        mean_u += x[0] / n;
        log_low += x[1] < 1e-2;
        intlog_low += x[3] <= 31;
        hits_int[(int)x[2]]++;
        hits_choice[(int)x[4]]++;
    }
    NS_ASSERT_CLOSE(mean_u, 0.5, 0, 0.1);
    /* log-uniform: 1e-2 is the middle of [1e-4, 1] in log */
    assert_true(log_low > 0.44 * n && log_low < 0.56 * n);
    /* int_log: log(31.5) is near the middle of [log 0.5, log 1000.5] */
    assert_true(intlog_low > 0.48 * n && intlog_low < 0.62 * n);
    for (int v = 1; v <= 6; v++)
        assert_true(hits_int[v] > n / 6 - 80 && hits_int[v] < n / 6 + 80);
    for (int v = 0; v < 3; v++)
        assert_true(hits_choice[v] > n / 3 - 100 && hits_choice[v] < n / 3 + 100);
    hs_free(h);
    ns_ctx_free(ctx);
}

/* opt (choice of 3) decides: lr when 0, units when 1 or 2, act (choice of 2) when 2, and
 * alpha when act is 1. */
static void cond_space(ns__param *ps)
{
    static const int zero[1] = {0}, one_two[2] = {1, 2}, two[1] = {2}, one[1] = {1};
    ps[0] = C(3);
    ps[1] = when(P(NS__P_LOG_UNIFORM, 1e-4, 1e-1), 0, 1, zero);
    ps[2] = when(P(NS__P_INT, 8, 64), 0, 2, one_two);
    ps[3] = when(C(2), 0, 1, two);
    ps[4] = when(P(NS__P_UNIFORM, 0, 1), 3, 1, one);
}

static void assert_cond_pattern(const double *x)
{
    int opt = (int)x[0];
    assert_true(x[0] >= 0 && x[0] <= 2);
    assert_int_equal(isnan(x[1]), opt != 0);
    assert_int_equal(isnan(x[2]), opt == 0);
    assert_int_equal(isnan(x[3]), opt != 2);
    assert_int_equal(isnan(x[4]), !(opt == 2 && x[3] == 1));
    if (!isnan(x[1]))
        assert_true(x[1] >= 1e-4 && x[1] <= 1e-1);
    if (!isnan(x[2]))
        assert_true(x[2] >= 8 && x[2] <= 64 && x[2] == floor(x[2]));
}

static double cond_objective(const double *x)
{
    int opt = (int)x[0];
    if (opt == 0)
        return fabs(log10(x[1]) + 2.5);
    if (opt == 1)
        return 1.0 + fabs(x[2] - 30) / 30;
    return x[3] == 1 ? fabs(x[4] - 0.3) : 2.0;
}

static void test_conditionals(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__param ps[5];
    cond_space(ps);
    hstudy *h = hs_new(ctx, ps, 5, cfg_of(NS__SAMPLER_RANDOM, 3), 80);
    int seen_alpha = 0;
    for (int t = 0; t < 300; t++) {
        double x[5];
        NS_ASSERT_OK(ctx, ns__sample_random(&h->s, t, x));
        assert_cond_pattern(x);
        seen_alpha += !isnan(x[4]);
    }
    assert_true(seen_alpha > 20);
    /* TPE, univariate and multivariate: the same pattern, and every branch still explored */
    for (int mv = 0; mv < 2; mv++) {
        h->def.sampler = cfg_of(NS__SAMPLER_TPE, 11);
        h->def.sampler.multivariate = mv;
        h->s.n = 0;
        int branch[3] = {0};
        for (int t = 0; t < 80; t++) {
            double x[5];
            NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, t, x));
            assert_cond_pattern(x);
            branch[(int)x[0]]++;
            hs_add(h, x, NS_TRIAL_COMPLETE, cond_objective(x), NULL, 0);
        }
        for (int b = 0; b < 3; b++)
            assert_true(branch[b] > 0);
    }
    hs_free(h);
    ns_ctx_free(ctx);
}

/* ---- determinism ------------------------------------------------------------------------ */

static void test_determinism(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__param ps[5];
    cond_space(ps);
    for (int type = 0; type < 3; type++) {
        for (int mv = 0; mv < 2; mv++) {
            ns__sampler_cfg cfg = cfg_of((ns__sampler_type)type, 42);
            cfg.multivariate = mv;
            hstudy *h = hs_new(ctx, ps, 5, cfg, 40);
            hstudy *g = hs_new(ctx, ps, 5, cfg, 40);
            ns_status (*fn)(const ns_study *, int, double *) =
                type == NS__SAMPLER_TPE      ? ns__sample_tpe
                : type == NS__SAMPLER_RANDOM ? ns__sample_random
                                             : ns__sample_grid;
            for (int t = 0; t < 7; t++) {
                double x[5];
                NS_ASSERT_OK(ctx, fn(&h->s, t, x));
                hs_add(h, x, NS_TRIAL_COMPLETE, cond_objective(x), NULL, 0);
            }
            for (int t = 0; t < 7; t++) /* g: the same trials, added directly */
                hs_add(g, h->s.trials[t].x, NS_TRIAL_COMPLETE, h->s.trials[t].value, NULL, 0);
            /* trial 7 asked twice, once after asking for trial 6 (and after other draws) */
            double a[5], b[5], c[5], scratch[5];
            NS_ASSERT_OK(ctx, fn(&h->s, 7, a));
            NS_ASSERT_OK(ctx, fn(&h->s, 7, b));
            h->s.n = 6;
            NS_ASSERT_OK(ctx, fn(&h->s, 6, scratch));
            h->s.n = 7;
            NS_ASSERT_OK(ctx, fn(&g->s, 7, c));
            assert_memory_equal(a, b, sizeof a);
            assert_memory_equal(a, c, sizeof a);
            hs_free(h);
            hs_free(g);
        }
    }
    /* TPE past its start-up: two calls agree bit for bit, a different seed differs */
    ns__param q[2] = {P(NS__P_UNIFORM, -1, 1), P(NS__P_INT, 0, 100)};
    hstudy *h = hs_new(ctx, q, 2, cfg_of(NS__SAMPLER_TPE, 5), 40);
    for (int t = 0; t < 30; t++) {
        double x[2];
        NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, t, x));
        hs_add(h, x, NS_TRIAL_COMPLETE, x[0] * x[0] + x[1] / 100, NULL, 0);
    }
    double a[2], b[2], c[2];
    NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 30, a));
    NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 30, b));
    assert_memory_equal(a, b, sizeof a);
    h->def.sampler.seed = 6;
    NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 30, c));
    assert_true(a[0] != c[0]);
    hs_free(h);
    ns_ctx_free(ctx);
}

/* ---- grid ---------------------------------------------------------------------------- */

/* kind (choice of 2): rate (3 points) when 0, width (int 1..4) when 1; decay (3 log points)
 * always: 3 * 3 + 4 * 3 = 21 points. */
static void grid_space(ns__param *ps)
{
    static const int zero[1] = {0}, one[1] = {1};
    ps[0] = C(2);
    ps[1] = when(P(NS__P_UNIFORM, 0, 1), 0, 1, zero);
    ps[2] = when(P(NS__P_INT, 1, 4), 0, 1, one);
    ps[3] = P(NS__P_LOG_UNIFORM, 1e-3, 1e-1);
}

static void test_grid_enumerates(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__param ps[4];
    grid_space(ps);
    ns__sampler_cfg cfg = cfg_of(NS__SAMPLER_GRID, 9);
    cfg.points = 3;
    hstudy *h = hs_new(ctx, ps, 4, cfg, 30);
    assert_int_equal(ns__grid_size(&h->s), 21);
    int per_kind[2] = {0};
    for (int t = 0; t < 21; t++) {
        double x[4];
        NS_ASSERT_OK(ctx, ns__sample_grid(&h->s, t, x));
        for (int u = 0; u < t; u++)
            assert_false(same_x(x, h->s.trials[u].x, 4));
        if (x[0] == 0) {
            assert_true(x[1] == 0 || x[1] == 0.5 || x[1] == 1);
            assert_true(isnan(x[2]));
        } else {
            assert_true(isnan(x[1]));
            assert_true(x[2] >= 1 && x[2] <= 4 && x[2] == floor(x[2]));
        }
        assert_true(x[3] == 1e-3 || x[3] == 1e-1 || fabs(x[3] - 1e-2) < 1e-15);
        per_kind[(int)x[0]]++;
        /* every kind of state counts as taken */
        hs_add(h, x, t % 3 == 0 ? NS_TRIAL_FAILED : NS_TRIAL_COMPLETE, t, NULL, 0);
    }
    assert_int_equal(per_kind[0], 9);
    assert_int_equal(per_kind[1], 12);
    double x[4];
    NS_ASSERT_STATUS(ctx, ns__sample_grid(&h->s, 21, x), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "the grid's 21 points are all taken");

    /* a study resumed with points taken in another order (another seed's) never repeats */
    hstudy *g = hs_new(ctx, ps, 4, cfg, 30);
    g->def.sampler.seed = 1234;
    for (int t = 0; t < 8; t++) {
        NS_ASSERT_OK(ctx, ns__sample_grid(&g->s, t, x));
        hs_add(g, x, NS_TRIAL_COMPLETE, 0, NULL, 0);
    }
    double off_grid[4] = {0, 0.25, NAN, 1e-2}; /* a trial from elsewhere, no grid point */
    hs_add(g, off_grid, NS_TRIAL_COMPLETE, 0, NULL, 0);
    g->def.sampler.seed = 9;
    for (int t = 9; t < 22; t++) {
        NS_ASSERT_OK(ctx, ns__sample_grid(&g->s, t, x));
        for (int u = 0; u < t; u++)
            assert_false(same_x(x, g->s.trials[u].x, 4));
        hs_add(g, x, NS_TRIAL_COMPLETE, 0, NULL, 0);
    }
    NS_ASSERT_STATUS(ctx, ns__sample_grid(&g->s, 22, x), NS_ERR_STATE);
    hs_free(g);
    hs_free(h);
    ns_ctx_free(ctx);
}

static void test_grid_values_and_limits(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    /* wide integer ranges: `points` values, log-spaced for int_log; at most 100 values: all */
    ns__param ps[3] = {P(NS__P_INT, 0, 1000), P(NS__P_INT_LOG, 1, 1000), P(NS__P_INT, 1, 100)};
    ns__sampler_cfg cfg = cfg_of(NS__SAMPLER_GRID, 1);
    cfg.points = 4;
    hstudy *h = hs_new(ctx, ps, 3, cfg, 2000);
    assert_int_equal(ns__grid_size(&h->s), 4 * 4 * 100);
    bool lin[1001] = {0}, lg[1001] = {0};
    for (int t = 0; t < 1600; t++) {
        double x[3];
        NS_ASSERT_OK(ctx, ns__sample_grid(&h->s, t, x));
        lin[(int)x[0]] = lg[(int)x[1]] = true;
        hs_add(h, x, NS_TRIAL_COMPLETE, 0, NULL, 0);
    }
    assert_true(lin[0] && lin[333] && lin[667] && lin[1000]);
    assert_true(lg[1] && lg[10] && lg[100] && lg[1000]);
    hs_free(h);

    /* 5 choices of 20: 3.2 million points, refused by the sampler */
    ns__param big[5] = {C(20), C(20), C(20), C(20), C(20)};
    h = hs_new(ctx, big, 5, cfg, 1);
    assert_int_equal(ns__grid_size(&h->s), 3200000);
    double x[5];
    NS_ASSERT_STATUS(ctx, ns__sample_grid(&h->s, 0, x), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "3200000 points, more than 1000000");
    hs_free(h);
    /* sizes past INT_MAX are capped */
    ns__param huge[8] = {C(100), C(100), C(100), C(100), C(100), C(100), C(100), C(100)};
    h = hs_new(ctx, huge, 8, cfg, 1);
    assert_int_equal(ns__grid_size(&h->s), INT_MAX / 2);
    NS_ASSERT_STATUS(ctx, ns__sample_grid(&h->s, 0, x), NS_ERR_INVALID);
    hs_free(h);
    ns_ctx_free(ctx);
}

/* ---- TPE: the split ---------------------------------------------------------------------- */

static void test_tpe_split_by_hand(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__param ps[1] = {P(NS__P_UNIFORM, 0, 1)};
    ns__sampler_cfg cfg = cfg_of(NS__SAMPLER_TPE, 0);
    cfg.gamma = 0.6;
    hstudy *h = hs_new(ctx, ps, 1, cfg, 10);
    double x[1] = {0.5}, st_a[2] = {5, 4}, st_b[3] = {9, 0.1, NAN}, st_c[1] = {0.01};
    hs_add(h, x, NS_TRIAL_COMPLETE, 3, NULL, 0); /* 0 */
    hs_add(h, x, NS_TRIAL_COMPLETE, 1, NULL, 0); /* 1 */
    hs_add(h, x, NS_TRIAL_RUNNING, 0, NULL, 0);  /* 2 */
    hs_add(h, x, NS_TRIAL_PRUNED, 0, st_a, 2);   /* 3: step 2, value 4 */
    hs_add(h, x, NS_TRIAL_FAILED, 0, NULL, 0);   /* 4 */
    hs_add(h, x, NS_TRIAL_COMPLETE, 2, NULL, 0); /* 5 */
    hs_add(h, x, NS_TRIAL_PRUNED, 0, st_b, 3);   /* 6: step 2 (3 is absent), value 0.1 */
    hs_add(h, x, NS_TRIAL_PAUSED, 0, st_c, 1);   /* 7: step 1, value 0.01 */
    bool below[8], obs[8];
    /* n = 6 finished: ceil(0.6 * 6) = 4 good: the complete 0, 1, 5, then the best of those
     * pruned at the latest step (2): 6 (0.1 < 4); 7 has a better value at an earlier step */
    assert_int_equal(ns__tpe_split(&h->s, 8, below, obs), 6);
    bool want_below[8] = {true, true, false, false, false, true, true, false};
    bool want_obs[8] = {true, true, false, true, false, true, true, true};
    assert_memory_equal(below, want_below, sizeof below);
    assert_memory_equal(obs, want_obs, sizeof obs);
    /* maximising: pruned 3 (4 > 0.1) instead */
    h->def.maximize = true;
    assert_int_equal(ns__tpe_split(&h->s, 8, below, obs), 6);
    bool want_max[8] = {true, true, false, true, false, true, false, false};
    assert_memory_equal(below, want_max, sizeof below);
    /* constant_liar: the running trial is observed, ranked last, n unchanged */
    h->def.sampler.constant_liar = true;
    assert_int_equal(ns__tpe_split(&h->s, 8, below, obs), 6);
    assert_true(obs[2] && !below[2]);
    /* startup: random draws until startup_trials finished trials (running ones never count) */
    h->def.maximize = false;
    h->def.sampler.startup_trials = 7;
    double got[1], rnd[1];
    NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 8, got));
    NS_ASSERT_OK(ctx, ns__sample_random(&h->s, 8, rnd));
    assert_memory_equal(got, rnd, sizeof got);
    h->def.sampler.startup_trials = 6;
    NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 8, got));
    assert_true(got[0] != rnd[0]);
    hs_free(h);
    ns_ctx_free(ctx);
}

/* ---- TPE: the Parzen estimator by hand --------------------------------------------------- */

static double phi(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static double lse(const double *v, int n)
{
    double m = v[0], s = 0;
    for (int i = 1; i < n; i++)
        m = fmax(m, v[i]);
    for (int i = 0; i < n; i++)
        s += exp(v[i] - m);
    return m + log(s);
}

static void test_parzen_by_hand(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    /* uniform [0, 10], observations 1, 4, 9 and the prior at 5: sorted 1 4 5 9 between the
     * ends 0 and 10; gaps give sigmas 3 (inner gap of the first), 3, 4, 4 (inner gap of the
     * last); clipped to at least 10 / min(100, 5) = 2; the prior's is 10 */
    ns__param u = P(NS__P_UNIFORM, 0, 10);
    double obs[3] = {1, 4, 9}, pt[1] = {3}, lp, mus[4], sig[4], w[4];
    NS_ASSERT_OK(ctx, ns__parzen_eval(ctx, &u, 1, false, 1.0, obs, 3, pt, 1, &lp, mus, sig, w));
    const double want_mu[4] = {1, 4, 9, 5}, want_sig[4] = {3, 3, 4, 10};
    double terms[4];
    for (int j = 0; j < 4; j++) {
        NS_ASSERT_CLOSE(mus[j], want_mu[j], 0, 0);
        NS_ASSERT_CLOSE(sig[j], want_sig[j], 0, 0);
        NS_ASSERT_CLOSE(w[j], 0.25, 1e-15, 0);
        double z = (3 - want_mu[j]) / want_sig[j];
        double mass = phi((10 - want_mu[j]) / want_sig[j]) - phi((0 - want_mu[j]) / want_sig[j]);
        /* Optuna 3.1's kernel: the standard normal's density at z over the kept mass */
        terms[j] = log(0.25) - z * z / 2 - 0.5 * log(2 * 3.14159265358979323846) - log(mass);
    }
    NS_ASSERT_CLOSE(lp, lse(terms, 4), 0, 1e-12);

    /* int [1, 3], one observation 2: support [0.5, 3.5], the prior also at 2; both gaps 0,
     * clipped to 3 / min(100, 3) = 1; prior sigma 3. At 2: each kernel's mass on [1.5, 2.5]
     * over its mass on the support. */
    ns__param it = P(NS__P_INT, 1, 3);
    double o2[1] = {2}, p2[1] = {2};
    NS_ASSERT_OK(ctx, ns__parzen_eval(ctx, &it, 1, false, 1.0, o2, 1, p2, 1, &lp, mus, sig, w));
    NS_ASSERT_CLOSE(sig[0], 1, 0, 0);
    NS_ASSERT_CLOSE(sig[1], 3, 0, 0);
    double m0 = (phi(0.5) - phi(-0.5)) / (phi(1.5) - phi(-1.5));
    double m1 = (phi(0.5 / 3) - phi(-0.5 / 3)) / (phi(0.5) - phi(-0.5));
    NS_ASSERT_CLOSE(lp, log(0.5 * m0 + 0.5 * m1), 0, 1e-12);

    /* a choice of 3, observations 0, 0, 2, prior weight 1: v = 1/4 per entry, an observed
     * row (5/4, 1/4, 1/4) / (7/4), the prior's uniform: p = 10/21, 4/21, 7/21 */
    ns__param ch = C(3);
    double o3[3] = {0, 0, 2}, p3[3] = {0, 1, 2}, lp3[3];
    NS_ASSERT_OK(ctx,
                 ns__parzen_eval(ctx, &ch, 1, false, 1.0, o3, 3, p3, 3, lp3, NULL, NULL, NULL));
    NS_ASSERT_CLOSE(lp3[0], log(10.0 / 21), 0, 1e-12);
    NS_ASSERT_CLOSE(lp3[1], log(4.0 / 21), 0, 1e-12);
    NS_ASSERT_CLOSE(lp3[2], log(7.0 / 21), 0, 1e-12);
    ns_ctx_free(ctx);
}

/* ---- TPE against Optuna 3.1 -------------------------------------------------------------- */

static ns__param param_of(json_t *j)
{
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (strcmp(kind, "choice") == 0)
        return C((int)json_integer_value(json_object_get(j, "n_choices")));
    ns__param_kind k = strcmp(kind, "uniform") == 0       ? NS__P_UNIFORM
                       : strcmp(kind, "log_uniform") == 0 ? NS__P_LOG_UNIFORM
                       : strcmp(kind, "int") == 0         ? NS__P_INT
                                                          : NS__P_INT_LOG;
    return P(k, json_number_value(json_object_get(j, "low")),
             json_number_value(json_object_get(j, "high")));
}

static double *matrix_of(json_t *rows, int cols, int *n_rows)
{
    *n_rows = (int)json_array_size(rows);
    double *m = calloc((size_t)(*n_rows * cols + 1), sizeof *m);
    assert_non_null(m);
    for (int i = 0; i < *n_rows; i++)
        for (int k = 0; k < cols; k++)
            m[i * cols + k] = json_number_value(json_array_get(json_array_get(rows, i), k));
    return m;
}

static void test_parzen_optuna(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    json_t *root = ns_test_json_load("tpe_optuna.json");
    json_t *cases = json_object_get(root, "parzen");
    assert_true(json_array_size(cases) >= 10);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        const char *name = json_string_value(json_object_get(cs, "name"));
        json_t *jp = json_object_get(cs, "params");
        int np = (int)json_array_size(jp), n_obs, n_pts;
        ns__param ps[MAXP];
        for (int k = 0; k < np; k++)
            ps[k] = param_of(json_array_get(jp, k));
        double *obs = matrix_of(json_object_get(cs, "obs"), np, &n_obs);
        double *pts = matrix_of(json_object_get(cs, "points"), np, &n_pts);
        double *lp = calloc((size_t)n_pts, sizeof *lp);
        double *mus = calloc((size_t)((n_obs + 1) * np), sizeof *mus);
        double *sig = calloc((size_t)((n_obs + 1) * np), sizeof *sig);
        double *w = calloc((size_t)(n_obs + 1), sizeof *w);
        assert_true(lp && mus && sig && w);
        NS_ASSERT_OK(ctx,
                     ns__parzen_eval(ctx, ps, np, json_is_true(json_object_get(cs, "multivariate")),
                                     json_number_value(json_object_get(cs, "prior_weight")), obs,
                                     n_obs, pts, n_pts, lp, mus, sig, w));
        json_t *want = json_object_get(cs, "log_pdf");
        for (int i = 0; i < n_pts; i++) {
            double e = json_number_value(json_array_get(want, (size_t)i));
            if (fabs(lp[i] - e) > 1e-9 * fmax(1, fabs(e)))
                fail_msg("%s: log_pdf at point %d: %.17g, Optuna %.17g", name, i, lp[i], e);
        }
        json_t *jw = json_object_get(cs, "weights");
        for (int j = 0; j <= n_obs; j++)
            NS_ASSERT_CLOSE(w[j], json_number_value(json_array_get(jw, (size_t)j)), 1e-12, 0);
        for (int k = 0; k < np; k++) {
            json_t *jm = json_array_get(json_object_get(cs, "mus"), (size_t)k);
            json_t *js = json_array_get(json_object_get(cs, "sigmas"), (size_t)k);
            if (json_is_null(jm))
                continue;
            for (int j = 0; j <= n_obs; j++) {
                NS_ASSERT_CLOSE(mus[j * np + k], json_number_value(json_array_get(jm, (size_t)j)),
                                1e-12, 1e-12);
                NS_ASSERT_CLOSE(sig[j * np + k], json_number_value(json_array_get(js, (size_t)j)),
                                1e-12, 1e-12);
            }
        }
        free(obs);
        free(pts);
        free(lp);
        free(mus);
        free(sig);
        free(w);
    }
    json_t *ppf = json_object_get(root, "ppf");
    for (size_t i = 0; i < json_array_size(ppf); i++) {
        json_t *e = json_array_get(ppf, i);
        double q = ns_test_json_number(e, "q"), a = ns_test_json_number(e, "a"),
               b = ns_test_json_number(e, "b");
        NS_ASSERT_CLOSE(ns__truncnorm_ppf(q, a, b), ns_test_json_number(e, "ppf"), 1e-9, 1e-12);
        NS_ASSERT_CLOSE(ns__log_gauss_mass(a, b), ns_test_json_number(e, "log_mass"), 1e-12, 1e-14);
    }
    json_t *lnd = json_object_get(root, "log_ndtr");
    for (size_t i = 0; i < json_array_size(lnd); i++) {
        json_t *e = json_array_get(lnd, i);
        NS_ASSERT_CLOSE(ns__log_ndtr(ns_test_json_number(e, "a")),
                        ns_test_json_number(e, "log_ndtr"), 1e-13, 1e-300);
    }
    json_decref(root);
    ns_ctx_free(ctx);
}

static void test_split_optuna(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    json_t *root = ns_test_json_load("tpe_optuna.json");
    json_t *lists = json_object_get(root, "split_lists");
    assert_int_equal(json_array_size(lists), 2);
    ns__param ps[1] = {P(NS__P_UNIFORM, 0, 1)};
    for (size_t l = 0; l < json_array_size(lists); l++) {
        json_t *trials = json_object_get(json_array_get(lists, l), "trials");
        json_t *splits = json_object_get(json_array_get(lists, l), "splits");
        int nt = (int)json_array_size(trials);
        hstudy *h = hs_new(ctx, ps, 1, cfg_of(NS__SAMPLER_TPE, 0), nt);
        for (int t = 0; t < nt; t++) {
            json_t *jt = json_array_get(trials, (size_t)t);
            const char *sname = json_string_value(json_object_get(jt, "state"));
            ns_trial_state st = strcmp(sname, "complete") == 0  ? NS_TRIAL_COMPLETE
                                : strcmp(sname, "pruned") == 0  ? NS_TRIAL_PRUNED
                                : strcmp(sname, "running") == 0 ? NS_TRIAL_RUNNING
                                                                : NS_TRIAL_FAILED;
            double steps[8], x[1] = {0.5};
            int n_steps = 0;
            for (int k = 0; k < 8; k++)
                steps[k] = NAN;
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(jt, "steps"), key, v)
            {
                int k = atoi(key);
                assert_true(k >= 1 && k <= 8);
                steps[k - 1] = json_number_value(v);
                n_steps = k > n_steps ? k : n_steps;
            }
            json_t *jv = json_object_get(jt, "value");
            hs_add(h, x, st, jv ? json_number_value(jv) : (double)NAN, steps, n_steps);
        }
        for (size_t c = 0; c < json_array_size(splits); c++) {
            json_t *sp = json_array_get(splits, c);
            h->def.maximize = json_is_true(json_object_get(sp, "maximize"));
            h->def.sampler.constant_liar = json_is_true(json_object_get(sp, "constant_liar"));
            bool below[64], obs[64], want_b[64] = {0}, want_o[64] = {0};
            assert_true(nt <= 64);
            int n = ns__tpe_split(&h->s, nt, below, obs);
            assert_int_equal(n, (int)ns_test_json_number(sp, "n"));
            json_t *jb = json_object_get(sp, "below"), *jo = json_object_get(sp, "observed");
            for (size_t i = 0; i < json_array_size(jb); i++)
                want_b[json_integer_value(json_array_get(jb, i))] = true;
            for (size_t i = 0; i < json_array_size(jo); i++)
                want_o[json_integer_value(json_array_get(jo, i))] = true;
            for (int t = 0; t < nt; t++) {
                if (below[t] != want_b[t] || obs[t] != want_o[t])
                    fail_msg("list %zu split %zu: trial %d below %d observed %d, Optuna %d %d", l,
                             c, t, below[t], obs[t], want_b[t], want_o[t]);
            }
        }
        hs_free(h);
    }
    json_decref(root);
    ns_ctx_free(ctx);
}

/* ---- TPE: behaviour and speed -------------------------------------------------------------- */

static double quadratic(const double *x)
{
    return (x[0] - 1.3) * (x[0] - 1.3) + 2 * (x[1] + 0.7) * (x[1] + 0.7);
}

static double best_of(ns_ctx *ctx, ns__sampler_type type, bool multivariate, uint64_t seed)
{
    ns__param ps[2] = {P(NS__P_UNIFORM, -5, 5), P(NS__P_UNIFORM, -5, 5)};
    ns__sampler_cfg cfg = cfg_of(type, seed);
    cfg.multivariate = multivariate;
    hstudy *h = hs_new(ctx, ps, 2, cfg, 60);
    double best = INFINITY;
    for (int t = 0; t < 60; t++) {
        double x[2];
        NS_ASSERT_OK(ctx, type == NS__SAMPLER_TPE ? ns__sample_tpe(&h->s, t, x)
                                                  : ns__sample_random(&h->s, t, x));
        double f = quadratic(x);
        best = fmin(best, f);
        hs_add(h, x, NS_TRIAL_COMPLETE, f, NULL, 0);
    }
    hs_free(h);
    return best;
}

static void test_tpe_beats_random(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (int mv = 0; mv < 2; mv++) {
        double log_tpe = 0, log_rnd = 0;
        int wins = 0;
        const int seeds = 12;
        for (uint64_t seed = 0; seed < (uint64_t)seeds; seed++) {
            double t = best_of(ctx, NS__SAMPLER_TPE, mv, seed);
            double r = best_of(ctx, NS__SAMPLER_RANDOM, false, seed);
            log_tpe += log(t) / seeds;
            log_rnd += log(r) / seeds;
            wins += t < r;
        }
        print_message("quadratic, 60 trials, %s: geometric mean of the best %.3g (TPE) vs "
                      "%.3g (random); TPE better for %d of %d seeds\n",
                      mv ? "multivariate" : "univariate", exp(log_tpe), exp(log_rnd), wins, seeds);
        assert_true(log_tpe < log_rnd - log(2.0)); /* half at most */
        assert_true(wins >= 8);
    }
    ns_ctx_free(ctx);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Prints the time of one call at 1,000 finished trials of 5 settings (no assertion on it). */
static void test_tpe_speed(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__param ps[5] = {P(NS__P_UNIFORM, -5, 5), P(NS__P_LOG_UNIFORM, 1e-5, 1), P(NS__P_INT, 1, 512),
                       P(NS__P_INT_LOG, 1, 4096), C(4)};
    for (int mv = 0; mv < 2; mv++) {
        ns__sampler_cfg cfg = cfg_of(NS__SAMPLER_TPE, 3);
        cfg.multivariate = mv;
        hstudy *h = hs_new(ctx, ps, 5, cfg, 1001);
        for (int t = 0; t < 1000; t++) {
            double x[5];
            NS_ASSERT_OK(ctx, ns__sample_random(&h->s, t, x));
            double f = x[0] * x[0] + fabs(log10(x[1]) + 3) + x[2] / 512 + x[4];
            hs_add(h, x, t % 10 == 9 ? NS_TRIAL_PRUNED : NS_TRIAL_COMPLETE, f, &f, 1);
        }
        const int reps = 20;
        double x[5], t0 = seconds();
        for (int r = 0; r < reps; r++)
            NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 1000, x));
        double ms = (seconds() - t0) / reps * 1e3;
        print_message("TPE (%s), 1000 finished trials, 5 settings: %.3f ms a call\n",
                      mv ? "multivariate" : "univariate", ms);
        assert_true(x[0] >= -5 && x[0] <= 5 && x[2] == floor(x[2]));
        hs_free(h);
    }
    ns_ctx_free(ctx);
}

static void test_tpe_alloc_failure(void **state)
{
    (void)state;
    ns_test_alloc st = {0};
    ns_allocator al = ns_test_allocator(&st);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
    ns__param ps[2] = {P(NS__P_UNIFORM, 0, 1), C(3)};
    hstudy *h = hs_new(ctx, ps, 2, cfg_of(NS__SAMPLER_TPE, 1), 20);
    for (int t = 0; t < 15; t++) {
        double x[2];
        NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, t, x));
        hs_add(h, x, NS_TRIAL_COMPLETE, x[0], NULL, 0);
    }
    double x[2];
    st.fail_at = st.calls + 1;
    NS_ASSERT_STATUS(ctx, ns__sample_tpe(&h->s, 15, x), NS_ERR_NOMEM);
    st.fail_at = st.calls + 1;
    NS_ASSERT_STATUS(ctx, ns__sample_grid(&h->s, 15, x), NS_ERR_NOMEM);
    st.fail_at = 0;
    NS_ASSERT_OK(ctx, ns__sample_tpe(&h->s, 15, x));
    hs_free(h);
    ns_ctx_free(ctx);
    assert_int_equal(st.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ranges),
        cmocka_unit_test(test_conditionals),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_grid_enumerates),
        cmocka_unit_test(test_grid_values_and_limits),
        cmocka_unit_test(test_tpe_split_by_hand),
        cmocka_unit_test(test_parzen_by_hand),
        cmocka_unit_test(test_parzen_optuna),
        cmocka_unit_test(test_split_optuna),
        cmocka_unit_test(test_tpe_beats_random),
        cmocka_unit_test(test_tpe_speed),
        cmocka_unit_test(test_tpe_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
