/* Golden: learning-rate schedules against torch.optim.lr_scheduler 1.13
 * (tests/fixtures/sched.json, made by tools/fixtures_optim.py). Each case holds the settings
 * and get_last_lr() after construction and after every step; plateau cases also hold the
 * metrics fed to step(). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define FIXTURE "sched.json"

/* The schedules use PyTorch's recursive forms in the same order of operations, so the doubles
 * agree exactly in practice; 1e-9 leaves room for a libm that rounds cos differently. */
#define RTOL 1e-9

static const char *const cases[] = {
    "step",
    "multistep",
    "exponential",
    "cosine",
    "cosine_eta0",
    "warmup",
    "warmup_decay",
    "onecycle_cos",
    "onecycle_linear",
    "plateau_min_rel",
    "plateau_max_abs",
};
#define N_CASES (sizeof cases / sizeof cases[0])

static double number_or(json_t *c, const char *key, double dflt)
{
    json_t *v = json_object_get(c, key);
    return v != NULL ? json_number_value(v) : dflt;
}

static int int_or(json_t *c, const char *key, int dflt)
{
    json_t *v = json_object_get(c, key);
    return v != NULL ? (int)json_integer_value(v) : dflt;
}

static bool flag_or(json_t *c, const char *key, bool dflt)
{
    json_t *v = json_object_get(c, key);
    return v != NULL ? json_is_true(v) : dflt;
}

/* The case's settings, over ns_sched_config_default for its kind. */
static void read_config(json_t *c, ns_sched_config *cfg)
{
    json_t *kind_name = json_object_get(c, "kind");
    assert_non_null(kind_name);
    ns_sched_kind kind;
    assert_int_equal(ns_sched_kind_parse(json_string_value(kind_name), &kind), NS_OK);
    ns_sched_config_default(cfg, kind);
    cfg->step_size = int_or(c, "step_size", cfg->step_size);
    cfg->gamma = number_or(c, "gamma", cfg->gamma);
    json_t *ms = json_object_get(c, "milestones");
    if (ms != NULL) {
        assert_true(json_array_size(ms) <= NS_SCHED_MAX_MILESTONES);
        cfg->n_milestones = (int)json_array_size(ms);
        for (int i = 0; i < cfg->n_milestones; i++)
            cfg->milestones[i] = (int)json_integer_value(json_array_get(ms, (size_t)i));
    }
    cfg->t_max = int_or(c, "t_max", cfg->t_max);
    cfg->eta_min = number_or(c, "eta_min", cfg->eta_min);
    cfg->start_factor = number_or(c, "start_factor", cfg->start_factor);
    cfg->end_factor = number_or(c, "end_factor", cfg->end_factor);
    cfg->total_iters = int_or(c, "total_iters", cfg->total_iters);
    cfg->max_lr = number_or(c, "max_lr", cfg->max_lr);
    cfg->total_steps = int_or(c, "total_steps", cfg->total_steps);
    cfg->pct_start = number_or(c, "pct_start", cfg->pct_start);
    cfg->div_factor = number_or(c, "div_factor", cfg->div_factor);
    cfg->final_div_factor = number_or(c, "final_div_factor", cfg->final_div_factor);
    cfg->anneal_linear = flag_or(c, "anneal_linear", cfg->anneal_linear);
    cfg->mode_max = flag_or(c, "mode_max", cfg->mode_max);
    cfg->factor = number_or(c, "factor", cfg->factor);
    cfg->patience = int_or(c, "patience", cfg->patience);
    cfg->threshold = number_or(c, "threshold", cfg->threshold);
    cfg->threshold_abs = flag_or(c, "threshold_abs", cfg->threshold_abs);
    cfg->cooldown = int_or(c, "cooldown", cfg->cooldown);
    cfg->min_lr = number_or(c, "min_lr", cfg->min_lr);
}

/* PyTorch's value, except where netsmith departs from it on purpose: onecycle's rate is never
 * negative (PyTorch's linear anneal overshoots below 0 at step total_steps). */
static double expected(const ns_sched_config *cfg, double torch_lr)
{
    if (cfg->kind == NS_SCHED_ONECYCLE && torch_lr < 0.0)
        return 0.0;
    return torch_lr;
}

static void check_lr(const char *name, int64_t step, double got, double want)
{
    if (!(fabs(got - want) <= RTOL * fabs(want))) {
        fprintf(stderr, "%s: step %lld: lr %.17g, PyTorch %.17g (rel diff %.3g)\n", name,
                (long long)step, got, want, fabs(got - want) / fabs(want));
        fail();
    }
}

static void replay_case(void **state)
{
    const char *name = *state;
    json_t *root = ns_test_json_load(FIXTURE);
    json_t *c = json_object_get(root, name);
    if (c == NULL) {
        fprintf(stderr, "%s has no case \"%s\"; rerun tools/fixtures_optim.py\n", FIXTURE, name);
        fail();
    }
    ns_sched_config cfg;
    read_config(c, &cfg);
    json_t *lrs = json_object_get(c, "lrs");
    json_t *metrics = json_object_get(c, "metrics");
    assert_non_null(lrs);
    const size_t steps = json_array_size(lrs) - 1;
    if (cfg.kind == NS_SCHED_PLATEAU)
        assert_int_equal(json_array_size(metrics), steps);

    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_sched s;
    NS_ASSERT_OK(ctx, ns_sched_init(ctx, &s, &cfg, ns_test_json_number(c, "base_lr")));
    check_lr(name, 0, s.lr, expected(&cfg, json_number_value(json_array_get(lrs, 0))));
    for (size_t k = 1; k <= steps; k++) {
        double metric = metrics ? json_number_value(json_array_get(metrics, k - 1)) : 0.0;
        double lr = ns_sched_step(&s, metric);
        assert_true(lr == s.lr);
        check_lr(name, (int64_t)k, lr, expected(&cfg, json_number_value(json_array_get(lrs, k))));
    }
    assert_int_equal(s.last_step, (int64_t)steps);
    ns_ctx_free(ctx);
    json_decref(root);
}

/* A case added to the fixture script must be added to the list above too. */
static void test_every_fixture_case_is_replayed(void **state)
{
    (void)state;
    json_t *root = ns_test_json_load(FIXTURE);
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        bool listed = false;
        for (size_t i = 0; i < N_CASES; i++)
            listed = listed || strcmp(cases[i], key) == 0;
        if (!listed) {
            fprintf(stderr, "%s case \"%s\" is not replayed; add it to cases[]\n", FIXTURE, key);
            fail();
        }
    }
    assert_int_equal(json_object_size(root), N_CASES);
    json_decref(root);
}

int main(void)
{
    struct CMUnitTest tests[N_CASES + 1];
    for (size_t i = 0; i < N_CASES; i++)
        tests[i] = (struct CMUnitTest){cases[i], replay_case, NULL, NULL, (void *)cases[i]};
    tests[N_CASES] = (struct CMUnitTest)cmocka_unit_test(test_every_fixture_case_is_replayed);
    return _cmocka_run_group_tests("sched_golden", tests, N_CASES + 1, NULL, NULL);
}
