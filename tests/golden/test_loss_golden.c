/* Golden parity with PyTorch 1.13's torch.nn.functional losses: every loss with mean and sum
 * reduction, huber with delta 0.5, cross-entropy with class weights, label smoothing and both
 * together; the loss value and d loss / d pred from autograd (fixtures:
 * tools/fixtures_kernels.py -> tests/fixtures/losses.json). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* We sum in double and PyTorch in float: they agree to a few float ulps. The absolute floor
 * covers gradients near zero (mae at a zero difference, a confident softmax). */
#define RTOL 1e-5
#define ATOL 1e-6

static void check_case(const char *name)
{
    json_t *root = ns_test_json_load("losses.json");
    json_t *c = json_object_get(root, name);
    if (c == NULL) {
        fprintf(stderr, "losses.json has no case \"%s\"\n", name);
        fail();
    }
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);

    ns_loss_kind kind;
    NS_ASSERT_OK(ctx, ns_loss_kind_parse(json_string_value(json_object_get(c, "kind")), &kind));
    ns_loss_config cfg;
    ns_loss_config_default(&cfg, kind);
    const char *red = json_string_value(json_object_get(c, "reduction"));
    assert_non_null(red);
    cfg.reduction = strcmp(red, "sum") == 0 ? NS_REDUCE_SUM : NS_REDUCE_MEAN;
    if (json_object_get(c, "delta"))
        cfg.huber_delta = ns_test_json_number(c, "delta");
    if (json_object_get(c, "label_smoothing"))
        cfg.label_smoothing = ns_test_json_number(c, "label_smoothing");
    float *weights = NULL;
    if (json_object_get(c, "weights")) {
        size_t nw;
        weights = ns_test_json_tensor(c, "weights", &nw, NULL, NULL);
        cfg.class_weights = weights;
    }

    size_t n;
    int64_t shape[8];
    float *pred = ns_test_json_tensor(c, "pred", &n, shape, NULL);
    int batch = (int)shape[0], outputs = (int)shape[1];
    ns_targets tg = {0};
    float *values = NULL;
    int32_t *labels = NULL;
    if (kind == NS_LOSS_CROSS_ENTROPY) {
        size_t nl;
        float *lf = ns_test_json_tensor(c, "labels", &nl, NULL, NULL);
        assert_int_equal(nl, (size_t)batch);
        labels = malloc(nl * sizeof *labels);
        assert_non_null(labels);
        for (size_t i = 0; i < nl; i++)
            labels[i] = (int32_t)lf[i];
        free(lf);
        tg.labels = labels;
    } else {
        size_t nt;
        values = ns_test_json_tensor(c, "target", &nt, NULL, NULL);
        assert_int_equal(nt, n);
        tg.values = values;
    }

    double loss = 0.0;
    float *grad = malloc(n * sizeof *grad);
    assert_non_null(grad);
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, batch, outputs, &loss, grad));
    NS_ASSERT_CLOSE(loss, ns_test_json_number(c, "loss"), RTOL, ATOL);
    size_t ng;
    float *want = ns_test_json_tensor(c, "grad", &ng, NULL, NULL);
    assert_int_equal(ng, n);
    NS_ASSERT_ALL_CLOSE(grad, want, n, RTOL, ATOL);

    /* Without dpred the same loss comes back. */
    double loss2 = 0.0;
    NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg, pred, &tg, batch, outputs, &loss2, NULL));
    assert_true(loss2 == loss);

    free(want), free(grad), free(pred), free(values), free(labels), free(weights);
    ns_ctx_free(ctx);
    json_decref(root);
}

#define CASE(name)                                                                                 \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        check_case(#name);                                                                         \
    }
CASE(mse_mean)
CASE(mse_sum)
CASE(mae_mean)
CASE(mae_sum)
CASE(huber_mean)
CASE(huber_sum)
CASE(huber_delta_mean)
CASE(huber_delta_sum)
CASE(bce_mean)
CASE(bce_sum)
CASE(cross_entropy_mean)
CASE(cross_entropy_sum)
CASE(cross_entropy_weights_mean)
CASE(cross_entropy_weights_sum)
CASE(cross_entropy_smoothing_mean)
CASE(cross_entropy_smoothing_sum)
CASE(cross_entropy_weights_smoothing_mean)
CASE(cross_entropy_weights_smoothing_sum)
#undef CASE

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_mean),
        cmocka_unit_test(test_mse_sum),
        cmocka_unit_test(test_mae_mean),
        cmocka_unit_test(test_mae_sum),
        cmocka_unit_test(test_huber_mean),
        cmocka_unit_test(test_huber_sum),
        cmocka_unit_test(test_huber_delta_mean),
        cmocka_unit_test(test_huber_delta_sum),
        cmocka_unit_test(test_bce_mean),
        cmocka_unit_test(test_bce_sum),
        cmocka_unit_test(test_cross_entropy_mean),
        cmocka_unit_test(test_cross_entropy_sum),
        cmocka_unit_test(test_cross_entropy_weights_mean),
        cmocka_unit_test(test_cross_entropy_weights_sum),
        cmocka_unit_test(test_cross_entropy_smoothing_mean),
        cmocka_unit_test(test_cross_entropy_smoothing_sum),
        cmocka_unit_test(test_cross_entropy_weights_smoothing_mean),
        cmocka_unit_test(test_cross_entropy_weights_smoothing_sum),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
