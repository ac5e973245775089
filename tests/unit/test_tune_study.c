/* Study files and studies in memory: a good file read with its defaults, the definition's JSON
 * read back to the same definition, every kind of bad file refused with its line and key, the
 * trial configs a space makes (run settings and short-form model keys, conditions), asking,
 * reporting and telling, the best trial, and a study rebuilt from its trials deciding the same. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"
#include "netsmith/tune.h"

static const char good[] = "study: boston-mlp\n"
                           "base:\n"
                           "  model: {hidden_layers: [128, 64], activation: relu, dropout: 0.2}\n"
                           "  data: boston_housing\n"
                           "  epochs: 50\n"
                           "  batch_size: 32\n"
                           "objective: {metric: val.rmse}\n"
                           "trials: 60\n"
                           "parallel: 2\n"
                           "sampler: {type: tpe, seed: 3}\n"
                           "pruner: {type: asha, min_epochs: 2, reduction_factor: 3}\n"
                           "space:\n"
                           "  learning_rate: {log_uniform: [1e-4, 1e-1]}\n"
                           "  hidden_layers: {choice: [[64], [128, 64], [128, 64, 32]]}\n"
                           "  dropout: {uniform: [0.0, 0.5]}\n"
                           "  batch_size: {choice: [16, 32, 64]}\n"
                           "  epochs: {int: [10, 50]}\n"
                           "  optimizer: {choice: [adam, sgd]}\n"
                           "  momentum: {uniform: [0.0, 0.9], when: {optimizer: sgd}}\n";

static ns_study_def *parse(ns_ctx *ctx, const char *text)
{
    ns_study_def *d = NULL;
    NS_ASSERT_OK(ctx, ns_study_def_parse(ctx, text, strlen(text), "s.yaml", NULL, &d));
    return d;
}

static void test_good_file(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    NS_ASSERT_OK(ctx, ns_ctx_new(NULL, &ctx));
    ns_study_def *d = parse(ctx, good);
    assert_string_equal(ns_study_def_name(d), "boston-mlp");
    assert_int_equal(ns_study_def_trials(d), 60);
    assert_int_equal(ns_study_def_parallel(d), 2);
    assert_string_equal(ns_study_def_metric(d), "val.rmse");
    assert_string_equal(ns_study_def_part(d), "val");
    assert_string_equal(ns_study_def_metric_name(d), "rmse");
    assert_false(ns_study_def_maximize(d)); /* rmse: lower is better, the default direction */
    assert_string_equal(ns_study_def_sampler(d), "tpe");
    assert_string_equal(ns_study_def_pruner(d), "asha");
    /* the JSON reads back to the same definition */
    char *a = NULL, *b = NULL;
    NS_ASSERT_OK(ctx, ns_study_def_to_json(d, &a));
    ns_study_def *d2 = parse(ctx, a);
    NS_ASSERT_OK(ctx, ns_study_def_to_json(d2, &b));
    assert_string_equal(a, b);
    json_error_t e;
    json_t *j = json_loads(a, 0, &e);
    json_t *s = json_object_get(j, "sampler");
    assert_int_equal(json_integer_value(json_object_get(s, "startup_trials")), 10);
    assert_int_equal(json_integer_value(json_object_get(s, "ei_candidates")), 24);
    assert_true(json_real_value(json_object_get(s, "gamma")) == 0.1);
    assert_int_equal(json_integer_value(json_object_get(s, "seed")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "objective"), "direction")),
        "minimize");
    json_decref(j);
    ns_dealloc(ctx, a);
    ns_dealloc(ctx, b);
    NS_ASSERT_STATUS(ctx, ns_study_def_set_trials(d, 0), NS_ERR_INVALID);
    NS_ASSERT_OK(ctx, ns_study_def_set_trials(d, 5));
    assert_int_equal(ns_study_def_trials(d), 5);
    ns_study_def_free(d2);
    ns_study_def_free(d);
    ns_ctx_free(ctx);
}

/* The file with one line replaced (the first line that starts with from). */
static char *edit(const char *from, const char *to)
{
    static char buf[4096];
    const char *at = strstr(good, from);
    assert_non_null(at);
    const char *eol = strchr(at, '\n');
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, to, eol);
    return buf;
}

static void expect_refused(ns_ctx *ctx, const char *text, const char *needle)
{
    ns_study_def *d = NULL;
    ns_status st = ns_study_def_parse(ctx, text, strlen(text), "s.yaml", NULL, &d);
    assert_true(st == NS_ERR_INVALID || st == NS_ERR_PARSE);
    assert_null(d);
    NS_ASSERT_MSG_HAS(ctx, needle);
}

static void test_bad_files(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    NS_ASSERT_OK(ctx, ns_ctx_new(NULL, &ctx));
    expect_refused(ctx, edit("  learning_rate:", "  learnin_rate: {log_uniform: [1e-4, 1e-1]}"),
                   "s.yaml:13: space.learnin_rate: unknown setting 'learnin_rate'; did you mean "
                   "'learning_rate'?");
    expect_refused(ctx, edit("  momentum:", "  momentum: {uniform: [0.0, 2]}"),
                   "s.yaml:19: space.momentum: [0, 2] is outside momentum's own range");
    expect_refused(ctx, edit("  learning_rate:", "  learning_rate: {log_uniform: [0, 1e-1]}"),
                   "s.yaml:13: space.learning_rate: log_uniform needs low above 0");
    expect_refused(ctx, edit("  learning_rate:", "  learning_rate: {uniform: [0.1, 0.01]}"),
                   "low 0.1 must be below high 0.01");
    expect_refused(ctx, edit("  epochs: {int", "  epochs: {uniform: [10, 50]}"),
                   "space.epochs: epochs is a whole number; search it with int or int_log");
    expect_refused(ctx, edit("  epochs: {int", "  epochs: {int: [10.5, 50]}"),
                   "int takes whole numbers");
    expect_refused(ctx, edit("  batch_size: {", "  batch_size: {choice: [16, 0]}"),
                   "space.batch_size.choice[1]:");
    expect_refused(ctx, edit("  batch_size: {", "  batch_size: {choice: [16, 16]}"),
                   "repeats choice 0");
    expect_refused(ctx, edit("  batch_size: {", "  batch_size: {choice: [16], uniform: [1, 2]}"),
                   "give exactly one of uniform, log_uniform, int, int_log and choice");
    expect_refused(ctx, edit("  batch_size: {", "  batch_size: {chioce: [16]}"),
                   "unknown key 'chioce'; did you mean 'choice'?");
    expect_refused(ctx, edit("  hidden_layers:", "  hidden_layers: {choice: [[64], [0]]}"),
                   "space.hidden_layers.choice[1]: the model refuses it");
    expect_refused(ctx, edit("  dropout:", "  dropout: {uniform: [0.0, 1.0]}"),
                   "is outside dropout's own range [0, 1)");
    expect_refused(
        ctx, edit("  momentum:", "  momentum: {uniform: [0, 0.9], when: {optimizer: rmsprop}}"),
        "space.momentum.when: the string \"rmsprop\" is not one of optimizer's choices");
    expect_refused(ctx, edit("  momentum:", "  momentum: {uniform: [0, 0.9], when: {epochs: 10}}"),
                   "epochs is not a choice listed before momentum");
    expect_refused(ctx, edit("  epochs: {int", "  data: {choice: [iris, wine]}"),
                   "data cannot be searched: each trial's runner sets it");
    expect_refused(ctx, edit("  epochs: {int", "  run_dir: {choice: [a]}"),
                   "run_dir cannot be searched");
    expect_refused(ctx, edit("objective:", "objective: {metric: val.rsme}"),
                   "s.yaml:7: objective.metric: 'val.rsme' is not a metric of a run");
    expect_refused(ctx, edit("objective:", "objective: {metric: val.rmse, direction: up}"),
                   "direction must be one of minimize, maximize");
    expect_refused(ctx, edit("sampler:", "sampler: {type: tpf}"),
                   "s.yaml:10: sampler: type must be one of tpe, random, grid, got the string "
                   "\"tpf\"; did you mean 'tpe'?");
    expect_refused(ctx, edit("sampler:", "sampler: {type: random, gamma: 0.2}"),
                   "sampler: unknown key 'gamma'");
    expect_refused(ctx, edit("sampler:", "sampler: {type: tpe, ei_candidates: 0}"),
                   "ei_candidates must be a whole number in [1, 10000]");
    expect_refused(ctx, edit("pruner:", "pruner: {type: asha, reduction_factor: 1}"),
                   "reduction_factor must be a whole number in [2, 1000]");
    expect_refused(ctx, edit("pruner:", "pruner: {type: median, min_epochs: 2}"),
                   "pruner: unknown key 'min_epochs'");
    expect_refused(ctx, edit("  epochs: 50", "  seed: 1"),
                   "asha needs the base run's epochs (base.epochs) as its largest budget");
    expect_refused(ctx, edit("trials:", "trials: 0"),
                   "trials must be a whole number in [1, 100000]");
    expect_refused(ctx, edit("study:", "study: a/b"), "s.yaml:1: study: is not a valid name");
    expect_refused(ctx, edit("study:", "studdy: x"), "unknown key 'studdy'; did you mean 'study'?");
    expect_refused(ctx, edit("  data:", "  dat: boston_housing"), "base: unknown setting 'dat'");
    expect_refused(ctx, edit("  data:", "  seed: 3"), "data: missing");
    expect_refused(ctx, edit("  model:", "  model: mlp"),
                   "hidden_layers is a key of the short-form model spec, but the base's model is "
                   "not one");
    expect_refused(ctx, "space: [", "s.yaml:2:1: did not find expected node content");
    ns_ctx_free(ctx);
}

static void test_trials(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    NS_ASSERT_OK(ctx, ns_ctx_new(NULL, &ctx));
    ns_study_def *d = parse(ctx, edit("sampler:", "sampler: {type: random, seed: 5}"));
    ns_study *s = NULL;
    NS_ASSERT_OK(ctx, ns_study_new(ctx, d, &s));
    ns_study_def_free(d); /* the study keeps its own copy */
    assert_int_equal(ns_study_best(s), -1);
    for (int i = 0; i < 12; i++) {
        int n = -1;
        char *params = NULL, *config = NULL;
        NS_ASSERT_OK(ctx, ns_study_ask(s, &n, &params));
        assert_int_equal(n, i);
        json_error_t e;
        json_t *p = json_loads(params, 0, &e);
        const char *opt = json_string_value(json_object_get(p, "optimizer"));
        assert_non_null(opt);
        /* a condition: momentum only with sgd */
        assert_int_equal(json_object_get(p, "momentum") != NULL, strcmp(opt, "sgd") == 0);
        double lr = json_real_value(json_object_get(p, "learning_rate"));
        assert_true(lr >= 1e-4 && lr <= 1e-1);
        json_int_t epochs = json_integer_value(json_object_get(p, "epochs"));
        assert_true(epochs >= 10 && epochs <= 50);
        /* the trial's run config: settings at the top, model keys in the short-form spec */
        NS_ASSERT_OK(ctx, ns_study_trial_config(s, n, &config));
        json_t *c = json_loads(config, 0, &e);
        assert_true(
            json_equal(json_object_get(c, "learning_rate"), json_object_get(p, "learning_rate")));
        assert_true(json_equal(json_object_get(json_object_get(c, "model"), "hidden_layers"),
                               json_object_get(p, "hidden_layers")));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(c, "model"), "activation")), "relu");
        assert_string_equal(json_string_value(json_object_get(c, "data")), "boston_housing");
        json_decref(c);
        json_decref(p);
        ns_dealloc(ctx, params);
        ns_dealloc(ctx, config);
        for (int step = 1; step <= 3; step++)
            NS_ASSERT_OK(ctx, ns_study_report(s, n, step, 10.0 - i - step));
        NS_ASSERT_OK(ctx, ns_study_tell(s, n, NS_TRIAL_COMPLETE, (i * 7) % 12 + 0.5));
    }
    /* the best: the lowest rmse, (i * 7) % 12 == 0 at i = 0 */
    assert_int_equal(ns_study_best(s), 0);
    ns_trial_state st;
    double v;
    int64_t last;
    NS_ASSERT_OK(ctx, ns_study_trial(s, 5, &st, &v, &last));
    assert_int_equal(st, NS_TRIAL_COMPLETE);
    assert_true(v == (5 * 7) % 12 + 0.5);
    assert_int_equal(last, 3);
    NS_ASSERT_STATUS(ctx, ns_study_tell(s, 3, NS_TRIAL_COMPLETE, NAN), NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_study_report(s, 40, 1, 1.0), NS_ERR_NOTFOUND);
    NS_ASSERT_STATUS(ctx, ns_study_report(s, 1, 0, 1.0), NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_study_add(s, "{\"lerning_rate\": 0.1}", NS_TRIAL_FAILED, NAN, NULL, 0),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "lerning_rate is not a setting of study boston-mlp's space");
    NS_ASSERT_STATUS(ctx,
                     ns_study_add(s, "{\"optimizer\": \"sgdd\"}", NS_TRIAL_FAILED, NAN, NULL, 0),
                     NS_ERR_INVALID);
    char *imp = NULL;
    NS_ASSERT_OK(ctx, ns_study_importance(s, &imp));
    assert_non_null(strstr(imp, "\"method\":\"fanova\""));
    ns_dealloc(ctx, imp);
    ns_study_free(s);
    ns_ctx_free(ctx);
}

/* A study rebuilt from its trials (as the store loads one) asks the same next trial: trial
 * n's draw depends on the seed, n and the trials before it alone. */
static void test_rebuilt_asks_the_same(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    NS_ASSERT_OK(ctx, ns_ctx_new(NULL, &ctx));
    ns_study_def *d =
        parse(ctx, edit("sampler:", "sampler: {type: tpe, seed: 11, startup_trials: 4}"));
    ns_study *a = NULL;
    NS_ASSERT_OK(ctx, ns_study_new(ctx, d, &a));
    char *kept[16] = {0};
    for (int i = 0; i < 10; i++) {
        int n;
        NS_ASSERT_OK(ctx, ns_study_ask(a, &n, &kept[i]));
        double val[3] = {1.0 + i % 4, 0.5 + i % 3, NAN};
        for (int k = 0; k < 2; k++)
            NS_ASSERT_OK(ctx, ns_study_report(a, n, k + 1, val[k]));
        NS_ASSERT_OK(ctx, ns_study_tell(a, n, i % 3 == 2 ? NS_TRIAL_PRUNED : NS_TRIAL_COMPLETE,
                                        1.0 / (1 + (i * 5) % 7)));
    }
    ns_study *b = NULL;
    NS_ASSERT_OK(ctx, ns_study_new(ctx, d, &b));
    for (int i = 0; i < 10; i++) {
        double steps[2] = {1.0 + i % 4, 0.5 + i % 3};
        NS_ASSERT_OK(ctx, ns_study_add(b, kept[i], i % 3 == 2 ? NS_TRIAL_PRUNED : NS_TRIAL_COMPLETE,
                                       1.0 / (1 + (i * 5) % 7), steps, 2));
    }
    char *pa = NULL, *pb = NULL;
    int na, nb;
    NS_ASSERT_OK(ctx, ns_study_ask(a, &na, &pa));
    NS_ASSERT_OK(ctx, ns_study_ask(b, &nb, &pb));
    assert_int_equal(na, 10);
    assert_int_equal(nb, 10);
    assert_string_equal(pa, pb);
    assert_int_equal(ns_study_best(a), ns_study_best(b));
    for (int i = 0; i < 10; i++)
        ns_dealloc(ctx, kept[i]);
    ns_dealloc(ctx, pa);
    ns_dealloc(ctx, pb);
    ns_study_free(a);
    ns_study_free(b);
    ns_study_def_free(d);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_trials),
        cmocka_unit_test(test_rebuilt_asks_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
