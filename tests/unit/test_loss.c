/* Losses: defaults, hand-computed values, numerical stability at extreme logits, and the
 * errors (bad label naming the row, non-finite values naming row and column, bad settings),
 * which must leave the outputs untouched. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static void test_config_default(void **st)
{
    (void)st;
    ns_loss_config cfg;
    memset(&cfg, 0xff, sizeof cfg);
    ns_loss_config_default(&cfg, NS_LOSS_HUBER);
    assert_int_equal(cfg.kind, NS_LOSS_HUBER);
    assert_int_equal(cfg.reduction, NS_REDUCE_MEAN);
    assert_true(cfg.huber_delta == 1.0);
    assert_true(cfg.label_smoothing == 0.0);
    assert_null(cfg.class_weights);
}

static void test_hand_values(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    double loss;
    float grad[4];
    /* mse: diffs 1, -2, 0, 3 -> (1 + 4 + 0 + 9) / 4; grad 2 d / 4 */
    const float pred[4] = {1.0f, 0.0f, 2.0f, 3.0f}, tv[4] = {0.0f, 2.0f, 2.0f, 0.0f};
    ns_targets tg = {.values = tv};
    ns_loss_config_default(&cfg, NS_LOSS_MSE);
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, grad));
    NS_ASSERT_CLOSE(loss, 3.5, 1e-15, 0.0);
    NS_ASSERT_CLOSE(grad[1], -1.0, 0.0, 0.0);
    /* mae sum: 1 + 2 + 0 + 3; the zero difference has gradient 0 */
    ns_loss_config_default(&cfg, NS_LOSS_MAE);
    cfg.reduction = NS_REDUCE_SUM;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, grad));
    NS_ASSERT_CLOSE(loss, 6.0, 0.0, 0.0);
    NS_ASSERT_CLOSE(grad[0], 1.0, 0.0, 0.0);
    NS_ASSERT_CLOSE(grad[1], -1.0, 0.0, 0.0);
    NS_ASSERT_CLOSE(grad[2], 0.0, 0.0, 0.0);
    /* huber delta 1, sum: 0.5, 1.5, 0, 2.5 */
    ns_loss_config_default(&cfg, NS_LOSS_HUBER);
    cfg.reduction = NS_REDUCE_SUM;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, grad));
    NS_ASSERT_CLOSE(loss, 4.5, 1e-15, 0.0);
    NS_ASSERT_CLOSE(grad[3], 1.0, 0.0, 0.0);
    /* cross-entropy of equal logits is log(C), whatever the label */
    const float logits[3] = {0.5f, 0.5f, 0.5f};
    const int32_t label[1] = {2};
    ns_targets tl = {.labels = label};
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, logits, &tl, 1, 3, &loss, grad));
    NS_ASSERT_CLOSE(loss, log(3.0), 1e-12, 0.0);
    NS_ASSERT_CLOSE(grad[2], 1.0 / 3.0 - 1.0, 1e-6, 0.0);
    /* bce at logit 0 is log 2 */
    const float zero[1] = {0.0f}, one[1] = {1.0f};
    ns_targets tb = {.values = one};
    ns_loss_config_default(&cfg, NS_LOSS_BCE);
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, zero, &tb, 1, 1, &loss, grad));
    NS_ASSERT_CLOSE(loss, log(2.0), 1e-12, 0.0);
    NS_ASSERT_CLOSE(grad[0], -0.5, 0.0, 0.0);
    ns_ctx_free(ctx);
}

/* Extreme logits give finite, exact-enough results (no exp overflow, no log(0)). */
static void test_extreme_logits(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    double loss;
    float grad[3];
    const float big[2] = {100.0f, -100.0f}, tv[2] = {0.0f, 1.0f};
    ns_targets tb = {.values = tv};
    ns_loss_config_default(&cfg, NS_LOSS_BCE);
    cfg.reduction = NS_REDUCE_SUM;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, big, &tb, 1, 2, &loss, grad));
    NS_ASSERT_CLOSE(loss, 200.0, 1e-12, 0.0);
    NS_ASSERT_CLOSE(grad[0], 1.0, 0.0, 0.0);
    NS_ASSERT_CLOSE(grad[1], -1.0, 0.0, 0.0);

    const float logits[3] = {1000.0f, 0.0f, -1000.0f};
    const int32_t label[1] = {1};
    ns_targets tl = {.labels = label};
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, logits, &tl, 1, 3, &loss, grad));
    NS_ASSERT_CLOSE(loss, 1000.0, 1e-12, 0.0);
    NS_ASSERT_CLOSE(grad[0], 1.0, 0.0, 0.0);
    NS_ASSERT_CLOSE(grad[1], -1.0, 0.0, 0.0);
    NS_ASSERT_CLOSE(grad[2], 0.0, 0.0, 0.0);
    ns_ctx_free(ctx);
}

/* The outputs of a failed call are untouched. */
static void assert_untouched(double loss, const float *grad, size_t n)
{
    assert_true(loss == -7.0);
    for (size_t i = 0; i < n; i++)
        assert_true(grad[i] == -7.0f);
}

static void test_label_out_of_range(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    float pred[9] = {0}, grad[9];
    int32_t labels[3] = {0, 2, 3};
    ns_targets tg = {.labels = labels};
    double loss = -7.0;
    for (int i = 0; i < 9; i++)
        grad[i] = -7.0f;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 3, 3, &loss, grad), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "row 2");
    NS_ASSERT_MSG_HAS(ctx, "label 3");
    assert_untouched(loss, grad, 9);
    labels[2] = 1;
    labels[1] = -1;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 3, 3, &loss, grad), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "row 1");
    assert_untouched(loss, grad, 9);
    ns_ctx_free(ctx);
}

static void test_nonfinite(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_MSE);
    float pred[6] = {0}, tv[6] = {0}, grad[6];
    ns_targets tg = {.values = tv};
    double loss = -7.0;
    for (int i = 0; i < 6; i++)
        grad[i] = -7.0f;
    pred[1 * 3 + 2] = NAN;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 3, &loss, grad),
                     NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "row 1, column 2");
    NS_ASSERT_MSG_HAS(ctx, "prediction is nan");
    assert_untouched(loss, grad, 6);

    pred[5] = 0.0f;
    tv[0 * 3 + 1] = -INFINITY;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 3, &loss, grad),
                     NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "row 0, column 1");
    NS_ASSERT_MSG_HAS(ctx, "target is -inf");
    assert_untouched(loss, grad, 6);

    /* cross-entropy checks its logits too */
    int32_t labels[2] = {0, 0};
    ns_targets tl = {.labels = labels};
    pred[3] = INFINITY;
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tl, 2, 3, &loss, grad),
                     NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "row 1, column 0");
    ns_ctx_free(ctx);
}

static void test_bce_target_range(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_BCE);
    float pred[4] = {0}, tv[4] = {0.0f, 1.0f, 0.5f, 1.5f};
    ns_targets tg = {.values = tv};
    double loss;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "row 1");
    NS_ASSERT_MSG_HAS(ctx, "outside [0, 1]");
    /* the same values are fine for a regression loss */
    ns_loss_config_default(&cfg, NS_LOSS_MSE);
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL));
    ns_ctx_free(ctx);
}

static void test_bad_arguments(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    float pred[4] = {0}, tv[4] = {0};
    int32_t labels[2] = {0, 1};
    ns_targets tg = {.values = tv, .labels = labels};
    ns_targets none = {0};
    double loss;

    ns_loss_config_default(&cfg, NS_LOSS_MSE);
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 0, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "batch 0");
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, -1, &loss, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, NULL, 2, 2, &loss, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "missing targets");
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &none, 2, 2, &loss, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "missing targets");
    cfg.reduction = (ns_reduction)5;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "reduction");
    cfg.kind = (ns_loss_kind)99;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);

    /* settings of another kind */
    ns_loss_config_default(&cfg, NS_LOSS_MSE);
    cfg.label_smoothing = 0.1;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "label_smoothing applies only to cross_entropy");
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    cfg.huber_delta = 2.0;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "huber_delta 2 applies only to huber");

    ns_loss_config_default(&cfg, NS_LOSS_HUBER);
    cfg.huber_delta = 0.0;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "delta");

    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &none, 2, 2, &loss, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "labels");
    cfg.label_smoothing = 1.5;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "label_smoothing");
    cfg.label_smoothing = 0.0;
    const float neg_w[2] = {1.0f, -1.0f};
    cfg.class_weights = neg_w;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 2, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "class weight 1");
    ns_ctx_free(ctx);
}

/* Mean cross-entropy divides by the target classes' weights: all zero is an error (torch
 * returns nan); sum reduction is fine. */
static void test_zero_target_weights(void **st)
{
    (void)st;
    ns_ctx *ctx = new_ctx();
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, NS_LOSS_CROSS_ENTROPY);
    const float w[3] = {0.0f, 1.0f, 0.0f};
    cfg.class_weights = w;
    float pred[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    int32_t labels[2] = {0, 2};
    ns_targets tg = {.labels = labels};
    double loss;
    NS_ASSERT_STATUS(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 3, &loss, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "weight 0");
    cfg.reduction = NS_REDUCE_SUM;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, 2, 3, &loss, NULL));
    NS_ASSERT_CLOSE(loss, 0.0, 0.0, 0.0);
    ns_ctx_free(ctx);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_default),
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_label_out_of_range),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_bce_target_range),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_zero_target_weights),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
