/* Golden values of the Evaluate card's metrics against scikit-learn's definitions computed
 * with numpy in float64 (fixtures: tools/fixtures_metrics.py -> tests/fixtures/metrics.json):
 * multi-class, single-logit binary, a class never predicted, multi-output regression, a
 * constant target. The samples go in batches of uneven sizes; the JSON writer is checked on
 * the same numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Both sides compute in double from the same float32 inputs; they differ only in the order
 * of summation. */
#define RTOL 1e-9

/* Uneven batch sizes, cycled, so that batch boundaries fall everywhere. */
static const int batch_sizes[] = {1, 7, 32, 13, 64, 2};

typedef struct golden {
    json_t *root, *c;
    bool cls;
    int outputs, n;
    float *pred, *y;
    int32_t *labels;
    double *sample_loss;
} golden;

static void golden_load(golden *g, const char *name)
{
    memset(g, 0, sizeof *g);
    g->root = ns_test_json_load("metrics.json");
    g->c = json_object_get(g->root, name);
    if (g->c == NULL) {
        fprintf(stderr, "metrics.json has no case \"%s\"\n", name);
        fail();
    }
    const char *task = json_string_value(json_object_get(g->c, "task"));
    assert_non_null(task);
    g->cls = strcmp(task, "classification") == 0;
    g->outputs = (int)ns_test_json_number(g->c, "outputs");
    size_t np;
    int64_t shape[8];
    g->pred = ns_test_json_tensor(g->c, "pred", &np, shape, NULL);
    g->n = (int)shape[0];
    assert_int_equal(shape[1], g->outputs);
    if (g->cls) {
        size_t nl;
        float *lf = ns_test_json_tensor(g->c, "labels", &nl, NULL, NULL);
        assert_int_equal(nl, (size_t)g->n);
        g->labels = malloc(nl * sizeof *g->labels);
        assert_non_null(g->labels);
        for (size_t i = 0; i < nl; i++)
            g->labels[i] = (int32_t)lf[i];
        free(lf);
    } else {
        size_t ny;
        g->y = ns_test_json_tensor(g->c, "y", &ny, NULL, NULL);
        assert_int_equal(ny, np);
    }
    json_t *sl = json_object_get(g->c, "sample_loss");
    assert_int_equal(json_array_size(sl), (size_t)g->n);
    g->sample_loss = malloc((size_t)g->n * sizeof *g->sample_loss);
    assert_non_null(g->sample_loss);
    for (int i = 0; i < g->n; i++)
        g->sample_loss[i] = json_number_value(json_array_get(sl, (size_t)i));
}

static void golden_free(golden *g)
{
    free(g->pred), free(g->y), free(g->labels), free(g->sample_loss);
    json_decref(g->root);
}

/* Feeds samples [0, n) in the cycled batch sizes, each batch with its summed loss. */
static void feed(ns_ctx *ctx, ns_metrics *m, const golden *g)
{
    size_t k = (size_t)g->outputs;
    size_t nb = sizeof batch_sizes / sizeof batch_sizes[0];
    for (int start = 0, b = 0; start < g->n; b++) {
        int len = batch_sizes[(size_t)b % nb];
        if (len > g->n - start)
            len = g->n - start;
        double loss = 0.0;
        for (int i = start; i < start + len; i++)
            loss += g->sample_loss[i];
        NS_ASSERT_OK(ctx, ns_metrics_add(m, g->pred + (size_t)start * k,
                                         g->y ? g->y + (size_t)start * k : NULL,
                                         g->labels ? g->labels + start : NULL, len, loss));
        start += len;
    }
}

static void check_values(const ns_metric_values *v, json_t *want, bool cls)
{
    assert_true(v->is_classification == cls);
    for (int i = 0; i < NS_METRIC_COUNT; i++) {
        ns_metric_id id = (ns_metric_id)i;
        const char *name = ns_metric_name(id);
        double got = ns_metric_value(v, id);
        if (!ns_metric_applies(id, cls ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION)) {
            assert_true(isnan(got));
            assert_null(json_object_get(want, name));
            continue;
        }
        double w = ns_test_json_number(want, name);
        if (fabs(got - w) > RTOL * fabs(w))
            fprintf(stderr, "metric %s\n", name);
        NS_ASSERT_CLOSE(got, w, RTOL, 0.0);
    }
}

static void check_case(const char *name)
{
    golden g;
    golden_load(&g, name);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_task task = g.cls ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    ns_metrics *m = NULL;
    NS_ASSERT_OK(ctx, ns_metrics_new(ctx, task, g.outputs, &m));
    feed(ctx, m, &g);

    ns_metric_values v;
    NS_ASSERT_OK(ctx, ns_metrics_compute(m, &v));
    json_t *want = json_object_get(g.c, "metrics");
    assert_non_null(want);
    assert_int_equal(v.n, g.n);
    check_values(&v, want, g.cls);

    int classes = -1;
    const int64_t *cm = ns_metrics_confusion(m, &classes);
    if (g.cls) {
        assert_int_equal(classes, (int)ns_test_json_number(g.c, "classes"));
        size_t ncm;
        float *wcm = ns_test_json_tensor(g.c, "confusion", &ncm, NULL, NULL);
        assert_int_equal(ncm, (size_t)classes * (size_t)classes);
        for (size_t i = 0; i < ncm; i++)
            assert_int_equal(cm[i], (int64_t)wcm[i]);
        free(wcm);
    } else {
        assert_null(cm);
        assert_int_equal(classes, 0);
    }

    /* All at once: every metric but the loss (whose batch sums differ) to the bit. */
    ns_metrics *one = NULL;
    NS_ASSERT_OK(ctx, ns_metrics_new(ctx, task, g.outputs, &one));
    NS_ASSERT_OK(ctx, ns_metrics_add(one, g.pred, g.y, g.labels, g.n, 0.0));
    ns_metric_values v1;
    NS_ASSERT_OK(ctx, ns_metrics_compute(one, &v1));
    for (int i = 0; i < NS_METRIC_COUNT; i++) {
        double a = ns_metric_value(&v, (ns_metric_id)i), b = ns_metric_value(&v1, (ns_metric_id)i);
        if (i != NS_METRIC_LOSS)
            assert_memory_equal(&a, &b, sizeof a);
    }
    ns_metrics_free(one);

    /* The JSON holds the same numbers under the fixed names. */
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_metrics_to_json(ctx, &v, cm, classes, &text));
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    if (doc == NULL) {
        fprintf(stderr, "bad JSON (%s): %s\n", err.text, text);
        fail();
    }
    /* Shortest round-trip text reads back as the same doubles. */
    for (int i = 0; i < NS_METRIC_COUNT; i++) {
        ns_metric_id id = (ns_metric_id)i;
        json_t *jv = json_object_get(doc, ns_metric_name(id));
        if (!ns_metric_applies(id, task)) {
            assert_null(jv);
            continue;
        }
        assert_non_null(jv);
        assert_true(json_number_value(jv) == ns_metric_value(&v, id));
    }
    if (g.cls) {
        json_t *jcm = json_object_get(doc, "confusion_matrix");
        assert_int_equal(json_array_size(jcm), (size_t)classes);
        for (int r = 0; r < classes; r++) {
            json_t *row = json_array_get(jcm, (size_t)r);
            assert_int_equal(json_array_size(row), (size_t)classes);
            for (int c = 0; c < classes; c++)
                assert_int_equal(json_integer_value(json_array_get(row, (size_t)c)),
                                 cm[r * classes + c]);
        }
    }
    assert_int_equal(json_object_size(doc), json_object_size(want) + (g.cls ? 1 : 0));
    json_decref(doc);
    ns_dealloc(ctx, text);

    ns_metrics_free(m);
    ns_ctx_free(ctx);
    golden_free(&g);
}

#define CASE(name)                                                                                 \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        check_case(#name);                                                                         \
    }
CASE(multiclass_5)
CASE(binary_single_logit)
CASE(class_never_predicted)
CASE(regression_3)
CASE(regression_constant_output)
CASE(regression_1)
#undef CASE

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multiclass_5),
        cmocka_unit_test(test_binary_single_logit),
        cmocka_unit_test(test_class_never_predicted),
        cmocka_unit_test(test_regression_3),
        cmocka_unit_test(test_regression_constant_output),
        cmocka_unit_test(test_regression_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
