/* Gradient checks for every loss and reduction: d loss / d pred from ns_loss_compute against
 * central differences of the loss itself; dpred is overwritten (not accumulated); and the
 * check must reject a negated gradient and an all-zero one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The loss is evaluated in double from float predictions, so the difference quotient has
 * almost no rounding error (~1e-16 / 2e-3); what remains is the truncation error of
 * central differences, h^2 f''' / 6 ~ 1e-6 for these smooth losses. 1e-3 relative keeps a
 * wide margin while any wrong term or factor (mean vs sum, weights, smoothing) is O(1). */
#define H 1e-3f
#define TOL 1e-3
/* Entries below this are compared absolutely (confident softmax rows give tiny gradients). */
#define FLOOR 1e-3

#define B 5
#define O 4
#define N (B * O)

/* max_i |a_i - n_i| / max(|a_i|, |n_i|, FLOOR) */
static double max_rel_err(const float *a, const double *num, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs((double)a[i]), fabs(num[i])), FLOOR);
        double e = fabs((double)a[i] - num[i]) / scale;
        if (e > worst)
            worst = e;
    }
    return worst;
}

static double loss_of(ns_ctx *ctx, const ns_loss_config *cfg, const float *pred,
                      const ns_targets *tg)
{
    double l = 0.0;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, cfg, pred, tg, B, O, &l, NULL));
    return l;
}

/* Random predictions and targets that keep every +-H step away from the losses' kinks:
 * mae's |d| = 0 and huber's |d| = delta are at least 0.1 away. */
static void make_data(const ns_loss_config *cfg, uint64_t seed, float *pred, float *values,
                      int32_t *labels)
{
    ns_test_fill_uniform(pred, N, seed, -2.0f, 2.0f);
    float off[N];
    ns_test_fill_uniform(off, N, seed + 1, -2.0f, 2.0f);
    for (int i = 0; i < N; i++) {
        float d = off[i] + (off[i] < 0.0f ? -0.1f : 0.1f);
        if (cfg->kind == NS_LOSS_HUBER && fabs(fabs((double)d) - cfg->huber_delta) < 0.1)
            d += d < 0.0f ? -0.2f : 0.2f;
        values[i] = pred[i] - d;
    }
    if (cfg->kind == NS_LOSS_BCE) /* probabilities, with hard 0 and 1 among them */
        for (int i = 0; i < N; i++)
            values[i] = i % 5 == 0 ? 0.0f : (i % 5 == 1 ? 1.0f : (off[i] + 2.0f) / 4.0f);
    for (int r = 0; r < B; r++)
        labels[r] = (int32_t)((r * 3 + (int)seed) % O);
}

static void check_loss(const char *name, const ns_loss_config *cfg, uint64_t seed)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    float pred[N], values[N];
    int32_t labels[B];
    make_data(cfg, seed, pred, values, labels);
    ns_targets tg = {.values = values, .labels = labels};

    /* dpred is overwritten: prefilled garbage must not leak into the result. */
    float grad[N], grad2[N];
    for (int i = 0; i < N; i++)
        grad2[i] = 1234.5f;
    double l1 = 0.0, l2 = 0.0;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, cfg, pred, &tg, B, O, &l1, grad));
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, cfg, pred, &tg, B, O, &l2, grad2));
    assert_true(l1 == l2);
    NS_ASSERT_ALL_CLOSE(grad2, grad, N, 0.0, 0.0);

    double num[N];
    for (int i = 0; i < N; i++) {
        float keep = pred[i];
        float hi = keep + H, lo = keep - H;
        pred[i] = hi;
        double lp = loss_of(ctx, cfg, pred, &tg);
        pred[i] = lo;
        double lm = loss_of(ctx, cfg, pred, &tg);
        pred[i] = keep;
        num[i] = (lp - lm) / ((double)hi - (double)lo);
    }

    bool nonzero = false;
    for (int i = 0; i < N; i++)
        nonzero |= grad[i] != 0.0f;
    if (!nonzero) {
        fprintf(stderr, "%s: gradient is all zero\n", name);
        fail();
    }
    double err = max_rel_err(grad, num, N);
    if (!(err < TOL)) {
        fprintf(stderr, "%s: max relative error %.3g >= %.3g\n", name, err, TOL);
        for (int i = 0; i < N; i++)
            fprintf(stderr, "  [%d] analytic %.8g numeric %.8g\n", i, (double)grad[i], num[i]);
        fail();
    }
    float neg[N];
    for (int i = 0; i < N; i++)
        neg[i] = -grad[i];
    double bad = max_rel_err(neg, num, N);
    if (!(bad > 1.0)) {
        fprintf(stderr, "%s: a negated gradient passes (error %.3g)\n", name, bad);
        fail();
    }
    ns_ctx_free(ctx);
}

static const float class_weights[O] = {0.5f, 2.0f, 1.0f, 0.25f};

static void test_mse(void **st)
{
    (void)st;
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_MSE);
    check_loss("mse mean", &cfg, 1);
    cfg.reduction = NS_REDUCE_SUM;
    check_loss("mse sum", &cfg, 2);
}

static void test_mae(void **st)
{
    (void)st;
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_MAE);
    check_loss("mae mean", &cfg, 3);
    cfg.reduction = NS_REDUCE_SUM;
    check_loss("mae sum", &cfg, 4);
}

static void test_huber(void **st)
{
    (void)st;
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_HUBER);
    check_loss("huber mean", &cfg, 5);
    cfg.reduction = NS_REDUCE_SUM;
    cfg.huber_delta = 0.5;
    check_loss("huber sum delta 0.5", &cfg, 6);
}

static void test_bce(void **st)
{
    (void)st;
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_BCE);
    check_loss("bce mean", &cfg, 7);
    cfg.reduction = NS_REDUCE_SUM;
    check_loss("bce sum", &cfg, 8);
}

static void test_cross_entropy(void **st)
{
    (void)st;
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    check_loss("ce mean", &cfg, 9);
    cfg.reduction = NS_REDUCE_SUM;
    check_loss("ce sum", &cfg, 10);
}

static void test_cross_entropy_weights_smoothing(void **st)
{
    (void)st;
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    cfg.class_weights = class_weights;
    check_loss("ce weights mean", &cfg, 11);
    cfg.class_weights = NULL;
    cfg.label_smoothing = 0.1;
    check_loss("ce smoothing mean", &cfg, 12);
    cfg.class_weights = class_weights;
    cfg.label_smoothing = 0.3;
    check_loss("ce weights smoothing mean", &cfg, 13);
    cfg.reduction = NS_REDUCE_SUM;
    check_loss("ce weights smoothing sum", &cfg, 14);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_mae),
        cmocka_unit_test(test_huber),
        cmocka_unit_test(test_bce),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_cross_entropy_weights_smoothing),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
