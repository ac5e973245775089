/* Tuner importance (fANOVA over a random forest): rankings of known objectives, sums, the cases
 * that give zeros, choices of many values, conditional settings, determinism, parity with Optuna's
 * FanovaImportanceEvaluator, speed at 1,000 trials and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "tune/tune_internal.h"

#define MAX_TRIALS 1000
#define N_SET 5
enum { X0, X1, X2, C, X3 };

/* A study made by hand: x0 uniform [0, 1], x1 log_uniform [1e-4, 1e-1], x2 int [1, 8], c a
 * choice of 3, and x3 uniform [0, 1] active only when c is its first value. */
typedef struct hand_study {
    ns__param p[N_SET];
    ns_study_def def;
    ns_study s;
    ns__trial trials[MAX_TRIALS];
    double x[MAX_TRIALS][N_SET];
} hand_study;

static hand_study *hand_new(ns_ctx *ctx, int n_set)
{
    hand_study *h = calloc(1, sizeof *h);
    assert_non_null(h);
    const struct {
        const char *name;
        ns__param_kind kind;
        double low, high;
    } specs[N_SET] = {{"x0", NS__P_UNIFORM, 0.0, 1.0},
                      {"x1", NS__P_LOG_UNIFORM, 1e-4, 1e-1},
                      {"x2", NS__P_INT, 1.0, 8.0},
                      {"c", NS__P_CHOICE, 0.0, 0.0},
                      {"x3", NS__P_UNIFORM, 0.0, 1.0}};
    for (int i = 0; i < N_SET; i++) {
        ns__param *p = &h->p[i];
        strcpy(p->name, specs[i].name);
        p->kind = specs[i].kind;
        p->low = specs[i].low;
        p->high = specs[i].high;
        p->n_choices = p->kind == NS__P_CHOICE ? 3 : 0;
        p->when_param = -1;
    }
    h->p[X3].when_param = C;
    h->p[X3].n_when = 1;
    h->p[X3].when_idx[0] = 0;
    h->def.ctx = ctx;
    h->def.space.p = h->p;
    h->def.space.n = n_set;
    h->s.ctx = ctx;
    h->s.def = &h->def;
    h->s.trials = h->trials;
    return h;
}

typedef double (*objective_fn)(const double *x);

/* Adds n complete trials with settings drawn from seed (x3 NAN unless c is 0) and values f(x). */
static void hand_fill(hand_study *h, int n, uint64_t seed, objective_fn f)
{
    ns_rng rng;
    ns_rng_init(&rng, seed, NS_RNG_USER, 0);
    for (int t = 0; t < n; t++) {
        double *x = h->x[h->s.n];
        x[X0] = (double)ns_rng_uniform(&rng);
        x[X1] = exp(log(1e-4) + (log(1e-1) - log(1e-4)) * (double)ns_rng_uniform(&rng));
        x[X2] = 1.0 + (double)ns_rng_below(&rng, 8);
        x[C] = (double)ns_rng_below(&rng, 3);
        x[X3] = x[C] == 0.0 ? (double)ns_rng_uniform(&rng) : (double)NAN;
        ns__trial *tr = &h->trials[h->s.n];
        tr->number = h->s.n;
        tr->state = NS_TRIAL_COMPLETE;
        tr->x = x;
        tr->value = f(x);
        h->s.n++;
    }
}

static void importance_of(hand_study *h, double *imp)
{
    NS_ASSERT_OK(h->s.ctx, ns__importance_fanova(&h->s, imp));
}

static int argmax(const double *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static void assert_sums_to_one(const double *imp, int n)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        assert_true(imp[i] >= 0.0 && imp[i] <= 1.0);
        sum += imp[i];
    }
    NS_ASSERT_CLOSE(sum, 1.0, 0.0, 1e-12);
}

static void assert_all_zero(const double *imp, int n)
{
    for (int i = 0; i < n; i++)
        NS_ASSERT_CLOSE(imp[i], 0.0, 0.0, 0.0);
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static double f_linear(const double *x)
{
    return 10.0 * x[X0] + 0.1 * x[X1];
}
static double f_choice(const double *x)
{
    static const double level[3] = {3.0, -1.0, 7.0};
    return level[(int)x[C]] + 0.2 * x[X0] + 0.05 * x[X2];
}
static double f_mixed(const double *x)
{
    return 4.0 * x[X0] * x[X0] + 1.5 * (x[C] == 1.0) + 0.2 * x[X2] + 10.0 * x[X1];
}
static double f_constant(const double *x)
{
    (void)x;
    return 2.5;
}
static double f_int(const double *x)
{
    return sin(x[X2]) + 0.01 * x[X0];
}

static void test_linear_ranks_x0_first(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, 3);
    hand_fill(h, 200, 1, f_linear);
    double imp[3];
    importance_of(h, imp);
    assert_int_equal(argmax(imp, 3), X0);
    assert_true(imp[X0] > 0.9);
    assert_sums_to_one(imp, 3);
    free(h);
    ns_ctx_free(ctx);
}

static void test_choice_ranks_first(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, 4);
    hand_fill(h, 150, 2, f_choice);
    double imp[4];
    importance_of(h, imp);
    assert_int_equal(argmax(imp, 4), C);
    assert_true(imp[C] > 0.9);
    assert_sums_to_one(imp, 4);
    free(h);
    ns_ctx_free(ctx);
}

/* A choice of 12 values: more one-hot combinations than a tree has leaves. */
static void test_large_choice_ranks_first(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, 4);
    h->p[C].n_choices = 12;
    hand_fill(h, 240, 10, f_linear);
    for (int t = 0; t < h->s.n; t++) {
        h->x[t][C] = (double)(t % 12);
        h->trials[t].value = (double)((t % 12) * 7 % 12) + 0.5 * h->x[t][X0];
    }
    double imp[4];
    importance_of(h, imp);
    assert_int_equal(argmax(imp, 4), C);
    assert_true(imp[C] > 0.8);
    assert_sums_to_one(imp, 4);
    free(h);
    ns_ctx_free(ctx);
}

static void test_integer_ranks_first(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, 4);
    hand_fill(h, 120, 3, f_int);
    double imp[4];
    importance_of(h, imp);
    assert_int_equal(argmax(imp, 4), X2);
    assert_sums_to_one(imp, 4);
    free(h);
    ns_ctx_free(ctx);
}

static void test_too_few_trials(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, 4);
    double imp[4] = {1, 1, 1, 1};
    importance_of(h, imp); /* no trials */
    assert_all_zero(imp, 4);
    hand_fill(h, 3, 4, f_mixed);
    /* One complete trial; the others running and pruned do not count. */
    h->trials[1].state = NS_TRIAL_RUNNING;
    h->trials[1].value = (double)NAN;
    h->trials[2].state = NS_TRIAL_PRUNED;
    importance_of(h, imp);
    assert_all_zero(imp, 4);
    h->trials[2].state = NS_TRIAL_COMPLETE; /* two: an answer */
    importance_of(h, imp);
    if (h->trials[0].value != h->trials[2].value)
        assert_sums_to_one(imp, 4);
    free(h);
    ns_ctx_free(ctx);
}

static void test_constant_objective(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, 4);
    hand_fill(h, 50, 5, f_constant);
    double imp[4] = {1, 1, 1, 1};
    importance_of(h, imp);
    assert_all_zero(imp, 4);
    free(h);
    ns_ctx_free(ctx);
}

static void test_conditional_setting(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, N_SET);
    hand_fill(h, 150, 6, f_mixed);
    /* x3 is inactive in the trials whose c is not 0. */
    double imp[N_SET];
    importance_of(h, imp);
    NS_ASSERT_CLOSE(imp[X3], 0.0, 0.0, 0.0);
    assert_sums_to_one(imp, N_SET);
    /* Active in every complete trial (inactive only in a pruned one), it takes part. */
    for (int t = 0; t < h->s.n; t++)
        if (isnan(h->x[t][X3])) {
            if (t % 10 == 0) {
                h->trials[t].state = NS_TRIAL_PRUNED;
            } else {
                h->x[t][C] = 0.0;
                h->x[t][X3] = (double)(t % 7) / 7.0;
            }
        }
    for (int t = 0; t < h->s.n; t++)
        h->trials[t].value = f_mixed(h->x[t]) + 5.0 * h->x[t][X3];
    importance_of(h, imp);
    assert_true(imp[X3] > 0.1);
    assert_sums_to_one(imp, N_SET);
    free(h);
    ns_ctx_free(ctx);
}

static void test_determinism(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, N_SET);
    hand_fill(h, 100, 7, f_mixed);
    double a[N_SET], b[N_SET];
    importance_of(h, a);
    importance_of(h, b);
    assert_memory_equal(a, b, sizeof a);
    /* The direction does not change the importances. */
    h->def.maximize = true;
    importance_of(h, b);
    assert_memory_equal(a, b, sizeof a);
    free(h);
    ns_ctx_free(ctx);
}

/* tools/make_importance_fixture.py: trials and Optuna 3.1's FanovaImportanceEvaluator(seed=0)
 * importances over x0, x1, x2, c. The forests' draws differ, so the ranking must agree and
 * each importance be within 0.05. */
static void test_optuna_parity(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    json_t *root = ns_test_json_load("tune_importance.json");
    json_t *trials = json_object_get(root, "trials"), *want = json_object_get(root, "importance");
    assert_true(json_is_array(trials) && json_is_array(want));
    assert_int_equal(json_array_size(want), 4);
    hand_study *h = hand_new(ctx, 4);
    size_t i;
    json_t *tr;
    json_array_foreach(trials, i, tr)
    {
        assert_true(i < MAX_TRIALS);
        json_t *x = json_object_get(tr, "x");
        for (int k = 0; k < 4; k++)
            h->x[i][k] = json_number_value(json_array_get(x, (size_t)k));
        h->trials[i].number = (int)i;
        h->trials[i].state = NS_TRIAL_COMPLETE;
        h->trials[i].x = h->x[i];
        h->trials[i].value = ns_test_json_number(tr, "value");
        h->s.n++;
    }
    double imp[4], ref[4];
    for (int k = 0; k < 4; k++)
        ref[k] = json_number_value(json_array_get(want, (size_t)k));
    importance_of(h, imp);
    for (int k = 0; k < 4; k++)
        NS_ASSERT_CLOSE(imp[k], ref[k], 0.0, 0.05);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            if (ref[a] > ref[b])
                assert_true(imp[a] > imp[b]);
    assert_sums_to_one(imp, 4);
    free(h);
    json_decref(root);
    ns_ctx_free(ctx);
}

/* 1,000 trials of 5 settings: well under a second in a release build; the bound here is loose
 * so sanitizer builds pass, and catches a slower-growing algorithm. */
static void test_speed(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    hand_study *h = hand_new(ctx, N_SET);
    hand_fill(h, MAX_TRIALS, 8, f_mixed);
    for (int t = 0; t < h->s.n; t++) /* x3 active everywhere: 5 settings in the forest */
        if (isnan(h->x[t][X3]))
            h->x[t][X3] = 0.5 * h->x[t][X0];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double imp[N_SET];
    importance_of(h, imp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    assert_true(secs < 10.0);
    assert_sums_to_one(imp, N_SET);
    assert_int_equal(argmax(imp, N_SET), X0);
    free(h);
    ns_ctx_free(ctx);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    ns_test_alloc ta = {0};
    ns_allocator al = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
    hand_study *h = hand_new(ctx, 4);
    hand_fill(h, 12, 9, f_mixed);
    double want[4], imp[4];
    importance_of(h, want);
    long live = ta.live;
    bool done = false;
    for (size_t k = 1; !done && k < 5000; k++) {
        ta.fail_at = ta.calls + k;
        ns_status st = ns__importance_fanova(&h->s, imp);
        ta.fail_at = 0;
        if (st == NS_OK) {
            done = true;
            assert_memory_equal(imp, want, sizeof imp);
        } else {
            assert_int_equal(st, NS_ERR_NOMEM);
            assert_all_zero(imp, 4);
        }
        assert_int_equal(ta.live, live);
    }
    assert_true(done);
    free(h);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_ranks_x0_first),
        cmocka_unit_test(test_choice_ranks_first),
        cmocka_unit_test(test_large_choice_ranks_first),
        cmocka_unit_test(test_integer_ranks_first),
        cmocka_unit_test(test_too_few_trials),
        cmocka_unit_test(test_constant_objective),
        cmocka_unit_test(test_conditional_setting),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_optuna_parity),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
