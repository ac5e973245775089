/* Metrics: the name table, hand-computed classification and regression cases (perfect, all
 * wrong, a class never predicted, a single binary logit, multi-output R² with a constant
 * target), batch-by-batch accumulation equal to all at once, checkpoint state, the JSON text,
 * errors that name the row and leave the accumulator unchanged, and allocation failures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns_metrics *new_metrics(ns_ctx *ctx, ns_task task, int outputs)
{
    ns_metrics *m = NULL;
    NS_ASSERT_OK(ctx, ns_metrics_new(ctx, task, outputs, &m));
    assert_non_null(m);
    return m;
}

static ns_metric_values compute(ns_ctx *ctx, const ns_metrics *m)
{
    ns_metric_values v;
    memset(&v, 0, sizeof v);
    NS_ASSERT_OK(ctx, ns_metrics_compute(m, &v));
    return v;
}

/* Every metric of a and b has the same bits (NaN included). */
static void assert_values_identical(const ns_metric_values *a, const ns_metric_values *b)
{
    assert_true(a->is_classification == b->is_classification);
    for (int i = 0; i < NS_METRIC_COUNT; i++) {
        double x = ns_metric_value(a, (ns_metric_id)i), y = ns_metric_value(b, (ns_metric_id)i);
        if (memcmp(&x, &y, sizeof x) != 0) {
            fprintf(stderr, "metric %s: %.17g != %.17g\n", ns_metric_name((ns_metric_id)i), x, y);
            fail();
        }
    }
}

/* The whole running state of m, for "unchanged" checks. */
static double *state_of(const ns_metrics *m, size_t *n)
{
    *n = ns_metrics_state_len(m);
    double *s = malloc(*n * sizeof *s);
    assert_non_null(s);
    ns_metrics_state_get(m, s);
    return s;
}

static void assert_state_is(const ns_metrics *m, const double *want, size_t n)
{
    size_t len;
    double *now = state_of(m, &len);
    assert_int_equal(len, n);
    assert_memory_equal(now, want, n * sizeof *now);
    free(now);
}

/* ---- the name table ------------------------------------------------------------------------ */

static void test_name_table(void **st)
{
    (void)st;
    static const char *const names[] = {
        "loss", "accuracy", "precision_macro", "recall_macro", "f1_macro", "mse", "rmse", "mae",
        "r2",   "n"};
    static const bool higher[] = {false, true, true, true, true, false, false, false, true, false};
    assert_int_equal(NS_METRIC_COUNT, 10);
    for (int i = 0; i < NS_METRIC_COUNT; i++) {
        ns_metric_id id = NS_METRIC_COUNT;
        assert_int_equal(ns_metric_find(names[i], &id), NS_OK);
        assert_int_equal(id, i);
        assert_string_equal(ns_metric_name(id), names[i]);
        assert_true(ns_metric_higher_is_better(id) == higher[i]);
    }
    ns_metric_id id = NS_METRIC_MSE;
    assert_int_equal(ns_metric_find("val_loss", &id), NS_ERR_NOTFOUND);
    assert_int_equal(ns_metric_find("Loss", &id), NS_ERR_NOTFOUND);
    assert_int_equal(ns_metric_find("", &id), NS_ERR_NOTFOUND);
    assert_int_equal(ns_metric_find(NULL, &id), NS_ERR_NOTFOUND);
    assert_int_equal(id, NS_METRIC_MSE);
    assert_null(ns_metric_name(NS_METRIC_COUNT));
    assert_null(ns_metric_name((ns_metric_id)-1));
    assert_false(ns_metric_higher_is_better(NS_METRIC_COUNT));

    /* Scopes. */
    assert_true(ns_metric_applies(NS_METRIC_LOSS, NS_TASK_REGRESSION));
    assert_true(ns_metric_applies(NS_METRIC_LOSS, NS_TASK_CLASSIFICATION));
    assert_true(ns_metric_applies(NS_METRIC_N, NS_TASK_AUTO));
    assert_true(ns_metric_applies(NS_METRIC_F1_MACRO, NS_TASK_CLASSIFICATION));
    assert_false(ns_metric_applies(NS_METRIC_F1_MACRO, NS_TASK_REGRESSION));
    assert_false(ns_metric_applies(NS_METRIC_ACCURACY, NS_TASK_AUTO));
    assert_true(ns_metric_applies(NS_METRIC_R2, NS_TASK_REGRESSION));
    assert_false(ns_metric_applies(NS_METRIC_RMSE, NS_TASK_CLASSIFICATION));
    assert_false(ns_metric_applies(NS_METRIC_COUNT, NS_TASK_REGRESSION));

    /* Each id reads its own field. */
    ns_metric_values v = {.n = 10,
                          .loss = 1,
                          .accuracy = 2,
                          .precision_macro = 3,
                          .recall_macro = 4,
                          .f1_macro = 5,
                          .mse = 6,
                          .rmse = 7,
                          .mae = 8,
                          .r2 = 9};
    for (int i = 0; i < NS_METRIC_COUNT; i++)
        assert_true(ns_metric_value(&v, (ns_metric_id)i) == (i == NS_METRIC_N ? 10.0 : i + 1));
    assert_true(isnan(ns_metric_value(&v, NS_METRIC_COUNT)));
}

/* ---- classification ------------------------------------------------------------------------ */

/* One-hot-ish logits for the given predicted classes: [n, k]. */
static void logits_for(float *logits, const int *pred, int n, int k)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < k; c++)
            logits[i * k + c] = c == pred[i] ? 2.0f : -1.0f - 0.1f * (float)c;
}

static void test_perfect(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_metrics *m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 3);
    const int pred[6] = {0, 1, 2, 2, 1, 0};
    const int32_t labels[6] = {0, 1, 2, 2, 1, 0};
    float logits[18];
    logits_for(logits, pred, 6, 3);
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 6, 0.6));
    ns_metric_values v = compute(ctx, m);
    assert_true(v.is_classification);
    assert_int_equal(v.n, 6);
    NS_ASSERT_CLOSE(v.loss, 0.1, 1e-15, 0.0);
    assert_true(v.accuracy == 1.0 && v.precision_macro == 1.0);
    assert_true(v.recall_macro == 1.0 && v.f1_macro == 1.0);
    assert_true(isnan(v.mse) && isnan(v.rmse) && isnan(v.mae) && isnan(v.r2));
    int classes = 0;
    const int64_t *cm = ns_metrics_confusion(m, &classes);
    assert_int_equal(classes, 3);
    const int64_t want[9] = {2, 0, 0, 0, 2, 0, 0, 0, 2};
    assert_memory_equal(cm, want, sizeof want);
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

static void test_all_wrong(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_metrics *m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 3);
    const int pred[4] = {1, 2, 0, 0};
    const int32_t labels[4] = {0, 1, 2, 1};
    float logits[12];
    logits_for(logits, pred, 4, 3);
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 4, 0.0));
    ns_metric_values v = compute(ctx, m);
    assert_true(v.accuracy == 0.0 && v.precision_macro == 0.0);
    assert_true(v.recall_macro == 0.0 && v.f1_macro == 0.0);
    assert_true(v.loss == 0.0);
    const int64_t *cm = ns_metrics_confusion(m, NULL);
    const int64_t want[9] = {0, 1, 0, 1, 0, 1, 1, 0, 0};
    assert_memory_equal(cm, want, sizeof want);
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

/* Class 2 is never predicted: its precision counts 0. With a 4th class the model knows but
 * that appears nowhere, the macro averages divide by 4 (sklearn's default would divide by 3).
 * confusion (rows true): [2 0 0; 1 1 0; 0 2 0]; tp 2 1 0; predicted 3 3 0; actual 2 2 2. */
static void test_class_never_predicted(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    const int pred[6] = {0, 0, 1, 0, 1, 1};
    const int32_t labels[6] = {0, 0, 1, 1, 2, 2};
    float logits[24];

    ns_metrics *m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 3);
    logits_for(logits, pred, 6, 3);
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 6, 0.0));
    ns_metric_values v = compute(ctx, m);
    NS_ASSERT_CLOSE(v.accuracy, 0.5, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.precision_macro, (2.0 / 3 + 1.0 / 3 + 0.0) / 3, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.recall_macro, (1.0 + 0.5 + 0.0) / 3, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.f1_macro, (0.8 + 0.4 + 0.0) / 3, 1e-15, 0.0);
    const int64_t want3[9] = {2, 0, 0, 1, 1, 0, 0, 2, 0};
    assert_memory_equal(ns_metrics_confusion(m, NULL), want3, sizeof want3);
    ns_metrics_free(m);

    m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 4);
    logits_for(logits, pred, 6, 4);
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 6, 0.0));
    v = compute(ctx, m);
    NS_ASSERT_CLOSE(v.accuracy, 0.5, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.precision_macro, 0.25, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.recall_macro, 0.375, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.f1_macro, 0.3, 1e-15, 0.0);
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

/* One logit: class 1 when the logit is > 0 (0 itself is class 0).
 * predictions 1 0 0 1 0 for labels 1 0 1 0 1: confusion [1 1; 2 1]. */
static void test_binary_single_logit(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_metrics *m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 1);
    const float logits[5] = {2.0f, -1.0f, 0.0f, 0.5f, -3.0f};
    const int32_t labels[5] = {1, 0, 1, 0, 1};
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 5, 2.5));
    ns_metric_values v = compute(ctx, m);
    NS_ASSERT_CLOSE(v.loss, 0.5, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.accuracy, 0.4, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.precision_macro, 5.0 / 12, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.recall_macro, 5.0 / 12, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.f1_macro, 0.4, 1e-15, 0.0);
    int classes = 0;
    const int64_t *cm = ns_metrics_confusion(m, &classes);
    assert_int_equal(classes, 2);
    const int64_t want[4] = {1, 1, 2, 1};
    assert_memory_equal(cm, want, sizeof want);
    /* Label 2 does not exist for a binary classifier. */
    const int32_t bad[1] = {2};
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, bad, 1, 0.0), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "[0, 2)");
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

/* Tied logits predict the first maximal class, as numpy's and torch's argmax. */
static void test_argmax_ties(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_metrics *m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 3);
    const float logits[6] = {1.0f, 3.0f, 3.0f, -0.0f, 0.0f, 0.0f};
    const int32_t labels[2] = {1, 0};
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 2, 0.0));
    ns_metric_values v = compute(ctx, m);
    assert_true(v.accuracy == 1.0);
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

/* ---- regression ------------------------------------------------------------------------------ */

/* Two outputs, four samples in two batches.
 *   output 0: y 1 2 3 4, pred 1 2 3 5: SS_res 1, SS_tot 5, R² 0.8, |r| sum 1
 *   output 1: y constant 2: predicted exactly R² 1 (SS_tot == 0 == SS_res), else 0. */
static void test_regression_hand(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    const float y[8] = {1, 2, 2, 2, 3, 2, 4, 2};
    float pred[8] = {1, 2, 2, 2, 3, 2, 5, 2};
    ns_metrics *m = new_metrics(ctx, NS_TASK_REGRESSION, 2);
    NS_ASSERT_OK(ctx, ns_metrics_add(m, pred, y, NULL, 2, 3.0));
    NS_ASSERT_OK(ctx, ns_metrics_add(m, pred + 4, y + 4, NULL, 2, 5.0));
    ns_metric_values v = compute(ctx, m);
    assert_false(v.is_classification);
    assert_int_equal(v.n, 4);
    assert_true(v.loss == 2.0);
    NS_ASSERT_CLOSE(v.mse, 0.125, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.rmse, sqrt(0.125), 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.mae, 0.125, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.r2, (0.8 + 1.0) / 2, 1e-15, 0.0);
    assert_true(isnan(v.accuracy) && isnan(v.precision_macro) && isnan(v.recall_macro) &&
                isnan(v.f1_macro));
    int classes = -1;
    assert_null(ns_metrics_confusion(m, &classes));
    assert_int_equal(classes, 0);

    /* The constant target missed once: its R² is 0 by sklearn's force_finite. */
    pred[7] = 3.0f;
    ns_metrics_reset(m);
    NS_ASSERT_OK(ctx, ns_metrics_add(m, pred, y, NULL, 4, 0.0));
    v = compute(ctx, m);
    NS_ASSERT_CLOSE(v.mse, 0.25, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.mae, 0.25, 1e-15, 0.0);
    NS_ASSERT_CLOSE(v.r2, 0.4, 1e-15, 0.0);

    /* One sample has no variance: R² is 1 for an exact prediction, 0 otherwise. */
    ns_metrics_reset(m);
    const float y1[2] = {7.0f, -1.0f}, p1[2] = {7.0f, 0.0f};
    NS_ASSERT_OK(ctx, ns_metrics_add(m, p1, y1, NULL, 1, 0.0));
    v = compute(ctx, m);
    NS_ASSERT_CLOSE(v.r2, 0.5, 0.0, 0.0);
    NS_ASSERT_CLOSE(v.mse, 0.5, 0.0, 0.0);
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

/* Targets far from zero with a small spread: the one-pass SS_tot keeps its digits (the
 * textbook sum(y²) - n·mean² would lose most of them at this offset). */
static void test_regression_offset(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    enum { N = 500 };
    float *y = malloc(N * sizeof *y), *pred = malloc(N * sizeof *pred);
    assert_non_null(y);
    assert_non_null(pred);
    ns_test_fill_uniform(y, N, 11, -1.0f, 1.0f);
    ns_test_fill_uniform(pred, N, 12, -0.25f, 0.25f);
    for (int i = 0; i < N; i++) {
        y[i] += 30000.0f;
        pred[i] += y[i];
    }
    double mean = 0.0, ss_tot = 0.0, ss_res = 0.0;
    for (int i = 0; i < N; i++)
        mean += (double)y[i];
    mean /= N;
    for (int i = 0; i < N; i++) {
        ss_tot += ((double)y[i] - mean) * ((double)y[i] - mean);
        ss_res += ((double)y[i] - (double)pred[i]) * ((double)y[i] - (double)pred[i]);
    }
    ns_metrics *m = new_metrics(ctx, NS_TASK_REGRESSION, 1);
    for (int i = 0; i < N; i += 50)
        NS_ASSERT_OK(ctx, ns_metrics_add(m, pred + i, y + i, NULL, 50, 0.0));
    ns_metric_values v = compute(ctx, m);
    NS_ASSERT_CLOSE(v.r2, 1.0 - ss_res / ss_tot, 1e-12, 0.0);
    NS_ASSERT_CLOSE(v.mse, ss_res / N, 1e-12, 0.0);
    free(y), free(pred);
    ns_metrics_free(m);
    ns_ctx_free(ctx);
}

/* ---- accumulation ---------------------------------------------------------------------------- */

/* Feeding the same samples in any batches gives the same bits as all at once (the loss sums
 * are multiples of 1/4, so they add exactly either way). */
static void check_batching(ns_task task, int k)
{
    enum { N = 97 };
    ns_ctx *ctx = new_ctx();
    float *pred = malloc((size_t)N * (size_t)k * sizeof *pred);
    float *y = malloc((size_t)N * (size_t)k * sizeof *y);
    int32_t labels[N];
    assert_non_null(pred);
    assert_non_null(y);
    ns_test_fill_uniform(pred, (size_t)N * (size_t)k, 21, -3.0f, 3.0f);
    ns_test_fill_uniform(y, (size_t)N * (size_t)k, 22, -5.0f, 105.0f);
    ns_rng rng;
    ns_rng_init(&rng, 23, NS_RNG_USER, 0);
    int classes = k == 1 ? 2 : k;
    for (int i = 0; i < N; i++)
        labels[i] = (int32_t)ns_rng_below(&rng, (uint32_t)classes);

    ns_metrics *once = new_metrics(ctx, task, k), *batched = new_metrics(ctx, task, k);
    NS_ASSERT_OK(ctx, ns_metrics_add(once, pred, y, labels, N, 0.25 * N));
    for (int start = 0; start < N;) {
        int len = 1 + (int)ns_rng_below(&rng, 20);
        if (len > N - start)
            len = N - start;
        size_t off = (size_t)start * (size_t)k;
        NS_ASSERT_OK(ctx,
                     ns_metrics_add(batched, pred + off, y + off, labels + start, len, 0.25 * len));
        NS_ASSERT_OK(ctx, ns_metrics_add(batched, pred, y, labels, 0, 0.0)); /* a no-op */
        start += len;
    }
    ns_metric_values a = compute(ctx, once), b = compute(ctx, batched);
    assert_values_identical(&a, &b);
    assert_true(a.loss == 0.25);
    size_t na, nb;
    double *sa = state_of(once, &na), *sb = state_of(batched, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa, sb, na * sizeof *sa);
    free(sa), free(sb);

    /* Reset forgets everything: the same samples again give the same values. */
    ns_metrics_reset(once);
    NS_ASSERT_STATUS(ctx, ns_metrics_compute(once, &a), NS_ERR_STATE);
    NS_ASSERT_OK(ctx, ns_metrics_add(once, pred, y, labels, N, 0.25 * N));
    a = compute(ctx, once);
    assert_values_identical(&a, &b);

    free(pred), free(y);
    ns_metrics_free(once);
    ns_metrics_free(batched);
    ns_ctx_free(ctx);
}

static void test_batches_equal_all_at_once(void **st)
{
    (void)st;
    check_batching(NS_TASK_CLASSIFICATION, 4);
    check_batching(NS_TASK_CLASSIFICATION, 1);
    check_batching(NS_TASK_REGRESSION, 3);
}

/* A state saved mid-way and restored into a fresh accumulator continues to the same bits. */
static void test_state_roundtrip(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    enum { N = 40, K = 3 };
    float pred[N * K], y[N * K];
    int32_t labels[N];
    ns_test_fill_uniform(pred, N * K, 31, -2.0f, 2.0f);
    ns_test_fill_uniform(y, N * K, 32, 0.0f, 10.0f);
    for (int i = 0; i < N; i++)
        labels[i] = i % K;
    for (int t = 0; t < 2; t++) {
        ns_task task = t == 0 ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
        ns_metrics *a = new_metrics(ctx, task, K), *b = new_metrics(ctx, task, K);
        NS_ASSERT_OK(ctx, ns_metrics_add(a, pred, y, labels, N / 2, 0.1));
        size_t n;
        double *s = state_of(a, &n);
        assert_int_equal(n, t == 0 ? 3u + K * K : 3u + 6u * K);
        NS_ASSERT_OK(ctx, ns_metrics_state_set(b, s, n));
        NS_ASSERT_OK(
            ctx, ns_metrics_add(a, pred + N / 2 * K, y + N / 2 * K, labels + N / 2, N / 2, 0.3));
        NS_ASSERT_OK(
            ctx, ns_metrics_add(b, pred + N / 2 * K, y + N / 2 * K, labels + N / 2, N / 2, 0.3));
        ns_metric_values va = compute(ctx, a), vb = compute(ctx, b);
        assert_values_identical(&va, &vb);

        /* Bad states are refused and change nothing. */
        size_t nb;
        double *before = state_of(b, &nb);
        NS_ASSERT_STATUS(ctx, ns_metrics_state_set(b, s, n - 1), NS_ERR_INVALID);
        NS_ASSERT_MSG_HAS(ctx, "values");
        double saved = s[0];
        s[0] = -1.0;
        NS_ASSERT_STATUS(ctx, ns_metrics_state_set(b, s, n), NS_ERR_INVALID);
        s[0] = saved + 0.5;
        NS_ASSERT_STATUS(ctx, ns_metrics_state_set(b, s, n), NS_ERR_INVALID);
        s[0] = saved;
        if (t == 0) {
            s[3] += 1.0; /* the confusion matrix no longer sums to n */
            NS_ASSERT_STATUS(ctx, ns_metrics_state_set(b, s, n), NS_ERR_INVALID);
            NS_ASSERT_MSG_HAS(ctx, "confusion");
        } else {
            s[3 + 1] = -1.0; /* a negative sum of squares */
            NS_ASSERT_STATUS(ctx, ns_metrics_state_set(b, s, n), NS_ERR_INVALID);
            s[3 + 1] = (double)NAN;
            NS_ASSERT_STATUS(ctx, ns_metrics_state_set(b, s, n), NS_ERR_INVALID);
        }
        assert_state_is(b, before, nb);
        free(before), free(s);
        ns_metrics_free(a);
        ns_metrics_free(b);
    }
    ns_ctx_free(ctx);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void test_json(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    char *text = NULL;

    ns_metrics *m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 1);
    const float logits[4] = {-1.0f, 1.0f, 2.0f, -2.0f};
    const int32_t labels[4] = {0, 1, 1, 1};
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, labels, 4, 0.8));
    ns_metric_values v = compute(ctx, m);
    int classes = 0;
    const int64_t *cm = ns_metrics_confusion(m, &classes);
    NS_ASSERT_OK(ctx, ns_metrics_to_json(ctx, &v, cm, classes, &text));
    assert_string_equal(text, "{\"loss\": 0.2, \"accuracy\": 0.75, \"precision_macro\": 0.75, "
                              "\"recall_macro\": 0.8333333333333333, \"f1_macro\": "
                              "0.7333333333333334, \"n\": 4, \"confusion_matrix\": [[1, 0], "
                              "[1, 2]]}");
    ns_dealloc(ctx, text);
    NS_ASSERT_OK(ctx, ns_metrics_to_json(ctx, &v, NULL, 0, &text));
    assert_string_equal(text, "{\"loss\": 0.2, \"accuracy\": 0.75, \"precision_macro\": 0.75, "
                              "\"recall_macro\": 0.8333333333333333, \"f1_macro\": "
                              "0.7333333333333334, \"n\": 4}");
    ns_dealloc(ctx, text);
    ns_metrics_free(m);

    /* Regression: only its own metrics; a non-finite value is written as null. */
    ns_metric_values r = {.n = 3,
                          .loss = 1.5,
                          .mse = 1.5,
                          .rmse = sqrt(1.5),
                          .mae = 1.0,
                          .r2 = (double)NAN,
                          .is_classification = false};
    NS_ASSERT_OK(ctx, ns_metrics_to_json(ctx, &r, NULL, 0, &text));
    assert_string_equal(text, "{\"loss\": 1.5, \"mse\": 1.5, \"rmse\": 1.224744871391589, "
                              "\"mae\": 1, \"r2\": null, \"n\": 3}");
    ns_dealloc(ctx, text);
    ns_ctx_free(ctx);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_errors(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_metrics *m = (ns_metrics *)&m; /* set to NULL on failure */
    NS_ASSERT_STATUS(ctx, ns_metrics_new(ctx, NS_TASK_AUTO, 3, &m), NS_ERR_INVALID);
    assert_null(m);
    NS_ASSERT_MSG_HAS(ctx, "auto");
    NS_ASSERT_STATUS(ctx, ns_metrics_new(ctx, NS_TASK_REGRESSION, 0, &m), NS_ERR_INVALID);
    assert_null(m);

    m = new_metrics(ctx, NS_TASK_CLASSIFICATION, 3);
    ns_metric_values v;
    NS_ASSERT_STATUS(ctx, ns_metrics_compute(m, &v), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "no samples");
    float logits[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const int32_t ok[3] = {0, 1, 2};
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, ok, 3, 0.3));
    NS_ASSERT_OK(ctx, ns_metrics_add(m, logits, NULL, ok, 2, 0.2));
    size_t n;
    double *before = state_of(m, &n);

    /* Label out of range: names the batch row and the sample number; nothing is added. */
    const int32_t bad[3] = {0, 1, 3};
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, bad, 3, 0.3), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "row 2 (sample 7)");
    NS_ASSERT_MSG_HAS(ctx, "label 3");
    const int32_t neg[1] = {-1};
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, neg, 1, 0.0), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "row 0 (sample 5)");
    /* NaN prediction: names row and column. */
    logits[5] = (float)NAN;
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, ok, 3, 0.3), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "row 1 (sample 6), column 2");
    NS_ASSERT_MSG_HAS(ctx, "nan");
    logits[5] = (float)INFINITY;
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, ok, 3, 0.3), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "inf");
    logits[5] = 0.0f;
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, ok, 3, (double)NAN), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "loss");
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, NULL, 3, 0.0), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "labels");
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, NULL, NULL, ok, 3, 0.0), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "pred");
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, logits, NULL, ok, -1, 0.0), NS_ERR_INVALID);
    assert_state_is(m, before, n);
    free(before);
    ns_metrics_free(m);

    m = new_metrics(ctx, NS_TASK_REGRESSION, 2);
    float pred[4] = {1, 2, 3, 4}, y[4] = {1, 2, 3, 4};
    NS_ASSERT_OK(ctx, ns_metrics_add(m, pred, y, NULL, 2, 0.0));
    before = state_of(m, &n);
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, pred, NULL, NULL, 2, 0.0), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "targets");
    y[3] = -(float)INFINITY;
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, pred, y, NULL, 2, 0.0), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "row 1 (sample 3), column 1: target is -inf");
    y[3] = 4.0f;
    pred[0] = (float)NAN;
    NS_ASSERT_STATUS(ctx, ns_metrics_add(m, pred, y, NULL, 2, 0.0), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "row 0 (sample 2), column 0: prediction is nan");
    assert_state_is(m, before, n);
    free(before);
    ns_metrics_free(m);
    ns_metrics_free(NULL);
    ns_ctx_free(ctx);
}

/* ---- allocation failures --------------------------------------------------------------------- */

static void test_alloc_failure(void **st)
{
    (void)st;
    const struct {
        ns_task task;
        int outputs;
    } kinds[] = {{NS_TASK_CLASSIFICATION, 5}, {NS_TASK_CLASSIFICATION, 1}, {NS_TASK_REGRESSION, 3}};
    for (size_t t = 0; t < sizeof kinds / sizeof kinds[0]; t++) {
        bool done = false;
        for (size_t k = 1; !done; k++) {
            assert_true(k < 10);
            ns_test_alloc ta = {0};
            ns_allocator a = ns_test_allocator(&ta);
            ns_ctx *ctx = NULL;
            assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
            ta.fail_at = ta.calls + k;
            ns_metrics *m = NULL;
            ns_status st_new = ns_metrics_new(ctx, kinds[t].task, kinds[t].outputs, &m);
            if (st_new == NS_OK) {
                done = true;
                ta.fail_at = 0;
                ns_metrics_free(m);
            } else {
                assert_int_equal(st_new, NS_ERR_NOMEM);
                assert_null(m);
                NS_ASSERT_MSG_HAS(ctx, "out of memory");
            }
            ns_ctx_free(ctx);
            assert_int_equal(ta.live, 0);
        }
    }

    /* The JSON text: one allocation. */
    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    ns_metric_values v = {.n = 1,
                          .loss = 0.5,
                          .accuracy = 1,
                          .precision_macro = 1,
                          .recall_macro = 1,
                          .f1_macro = 1,
                          .is_classification = true};
    const int64_t cm[4] = {1, 0, 0, 0};
    char *text = (char *)&text;
    ta.fail_at = ta.calls + 1;
    NS_ASSERT_STATUS(ctx, ns_metrics_to_json(ctx, &v, cm, 2, &text), NS_ERR_NOMEM);
    assert_null(text);
    ta.fail_at = 0;
    NS_ASSERT_OK(ctx, ns_metrics_to_json(ctx, &v, cm, 2, &text));
    ns_dealloc(ctx, text);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_table),
        cmocka_unit_test(test_perfect),
        cmocka_unit_test(test_all_wrong),
        cmocka_unit_test(test_class_never_predicted),
        cmocka_unit_test(test_binary_single_logit),
        cmocka_unit_test(test_argmax_ties),
        cmocka_unit_test(test_regression_hand),
        cmocka_unit_test(test_regression_offset),
        cmocka_unit_test(test_batches_equal_all_at_once),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
