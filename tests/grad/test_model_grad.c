/* Whole-model gradient check: a network with every layer kind, trained mode (dropout mask held
 * fixed by replaying the same forward count), against central differences of
 * L = sum(y * r) accumulated in double, for the input and every parameter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define B 4
#define IN 5

static const char spec_json[] =
    "{\"layers\": ["
    "{\"type\": \"linear\", \"units\": 6}, {\"type\": \"layernorm\"}, {\"type\": \"gelu\"},"
    "{\"type\": \"linear\", \"units\": 6}, {\"type\": \"batchnorm1d\"}, {\"type\": \"elu\"},"
    "{\"type\": \"dropout\", \"p\": 0.3},"
    "{\"type\": \"linear\", \"units\": 5}, {\"type\": \"silu\"},"
    "{\"type\": \"linear\", \"units\": 5}, {\"type\": \"tanh\"},"
    "{\"type\": \"linear\", \"units\": 4}, {\"type\": \"leaky_relu\", \"negative_slope\": 0.1},"
    "{\"type\": \"flatten\"},"
    "{\"type\": \"linear\", \"units\": 4}, {\"type\": \"gelu\", \"approximate\": \"tanh\"},"
    "{\"type\": \"linear\", \"units\": 3}, {\"type\": \"sigmoid\"},"
    "{\"type\": \"linear\", \"units\": 3}, {\"type\": \"relu\"},"
    "{\"type\": \"linear\", \"units\": 3}, {\"type\": \"softmax\"}"
    "]}";

static double objective(ns_model *m, const float *x, const float *r)
{
    ns_test_probe p = {m, x, r, B, 3};
    return ns_test_probe_objective(&p);
}

/* Max over elements of |analytic - numeric| / max(|numeric|, 1e-3): float central differences
 * with h = 1e-2 have truncation and rounding error around 1e-3 relative, so the bound is 2e-2. */
static double check(ns_model *m, float *v, const float *analytic, size_t n, const float *x,
                    const float *r)
{
    ns_test_probe p = {m, x, r, B, 3};
    return ns_test_grad_error(v, analytic, n, 1e-2f, 1e-3, ns_test_probe_objective, &p);
}

static void test_model_gradients(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, spec_json, strlen(spec_json), "grad", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, IN);
    bo.max_batch = B;
    bo.seed = 11;
    bo.keep_input_grad = true;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    float x[B * IN], r[B * 3];
    ns_test_fill_uniform(x, B * IN, 1, -2, 2);
    ns_test_fill_uniform(r, B * 3, 2, -1, 1);

    ns_model_zero_grad(m);
    (void)objective(m, x, r);
    NS_ASSERT_OK(ctx, ns_model_backward(m, r));
    size_t np = ns_model_param_count(m);
    float *g = malloc(np * sizeof *g);
    float dx[B * IN];
    memcpy(g, ns_model_grads(m), np * sizeof *g);
    memcpy(dx, ns_model_input_grad(m), sizeof dx);

    double gsum = 0;
    for (size_t i = 0; i < np; i++)
        gsum += fabs((double)g[i]);
    assert_true(gsum > 0); /* an all-zero gradient would pass trivially */

    double e_params = check(m, ns_model_params(m), g, np, x, r);
    double e_input = check(m, x, dx, B * IN, x, r);
    fprintf(stderr, "max relative error: params %.3g, input %.3g\n", e_params, e_input);
    assert_true(e_params < 2e-2);
    assert_true(e_input < 2e-2);
    /* The check itself can fail: a wrong (negated) gradient is caught. */
    for (size_t i = 0; i < np; i++)
        g[i] = -g[i];
    assert_true(check(m, ns_model_params(m), g, np, x, r) > 0.5);

    free(g);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
