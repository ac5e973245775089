/* Golden parity with PyTorch 1.13 for the activation, softmax, dropout and normalisation
 * kernels: outputs, input gradients, parameter gradients and running statistics from
 * torch autograd (fixtures: tools/fixtures_kernels.py -> tests/fixtures/kernels.json). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Our kernels reduce in double and round once, PyTorch works in float: the two differ by a
 * few float ulps, far inside 1e-5 relative. The absolute floor covers values near zero,
 * where a relative bound is meaningless (e.g. GELU of a very negative input). */
#define RTOL 1e-5
#define ATOL 1e-6

static json_t *g_root;

static int load(void **state)
{
    (void)state;
    g_root = ns_test_json_load("kernels.json");
    return 0;
}

static int unload(void **state)
{
    (void)state;
    json_decref(g_root);
    return 0;
}

static json_t *get_case(const char *name) { return ns_test_json_case(g_root, "kernels.json", name); }

/* Fixture tensor `name` of a case; *n receives its element count (may be NULL). */
static float *tensor(json_t *c, const char *name, size_t *n)
{
    size_t count;
    float *t = ns_test_json_tensor(c, name, &count, NULL, NULL);
    if (n != NULL)
        *n = count;
    return t;
}

/* Zeroed floats (backward kernels accumulate). */
static float *zeros(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* ---- elementwise activations --------------------------------------------------------- */

typedef enum act { RELU, LEAKY, ELU, GELU, GELU_TANH, SILU, TANH, SIGMOID } act;

/* Forward and backward of one activation; backward reads x or the saved output y. */
static void act_run(act a, json_t *c, float *y, float *dx, const float *x, const float *dy,
                    size_t n)
{
    switch (a) {
    case RELU:
        ns_relu_forward(y, x, n);
        ns_relu_backward(dx, dy, y, n);
        break;
    case LEAKY: {
        float slope = (float)ns_test_json_number(c, "slope");
        ns_leaky_relu_forward(y, x, n, slope);
        ns_leaky_relu_backward(dx, dy, x, n, slope);
        break;
    }
    case ELU: {
        float alpha = (float)ns_test_json_number(c, "alpha");
        ns_elu_forward(y, x, n, alpha);
        ns_elu_backward(dx, dy, x, y, n, alpha);
        break;
    }
    case GELU:
    case GELU_TANH: {
        int approx = (int)ns_test_json_number(c, "tanh_approx");
        assert_int_equal(approx, a == GELU_TANH);
        ns_gelu_forward(y, x, n, approx);
        ns_gelu_backward(dx, dy, x, n, approx);
        break;
    }
    case SILU:
        ns_silu_forward(y, x, n);
        ns_silu_backward(dx, dy, x, n);
        break;
    case TANH:
        ns_tanh_forward(y, x, n);
        ns_tanh_backward(dx, dy, y, n);
        break;
    case SIGMOID:
        ns_sigmoid_forward(y, x, n);
        ns_sigmoid_backward(dx, dy, y, n);
        break;
    }
}

static void check_activation(const char *name, act a, double rtol)
{
    json_t *c = get_case(name);
    size_t n;
    float *x = tensor(c, "x", &n);
    float *dy = tensor(c, "dy", NULL);
    float *want_y = tensor(c, "y", NULL);
    float *want_dx = tensor(c, "dx", NULL);
    float *y = zeros(n), *dx = zeros(n);
    act_run(a, c, y, dx, x, dy, n);
    NS_ASSERT_ALL_CLOSE(y, want_y, n, rtol, ATOL);
    NS_ASSERT_ALL_CLOSE(dx, want_dx, n, rtol, ATOL);
    free(x), free(dy), free(want_y), free(want_dx), free(y), free(dx);
}

static void test_relu(void **s)
{
    (void)s;
    check_activation("relu", RELU, RTOL);
}
static void test_leaky_relu(void **s)
{
    (void)s;
    check_activation("leaky_relu", LEAKY, RTOL);
}
static void test_elu(void **s)
{
    (void)s;
    check_activation("elu", ELU, RTOL);
}
static void test_gelu(void **s)
{
    (void)s;
    check_activation("gelu", GELU, RTOL);
}
static void test_gelu_tanh(void **s)
{
    (void)s;
    check_activation("gelu_tanh", GELU_TANH, RTOL);
}
static void test_silu(void **s)
{
    (void)s;
    check_activation("silu", SILU, RTOL);
}
static void test_tanh(void **s)
{
    (void)s;
    check_activation("tanh", TANH, RTOL);
}
static void test_sigmoid(void **s)
{
    (void)s;
    check_activation("sigmoid", SIGMOID, RTOL);
}

/* ---- softmax, dropout ---------------------------------------------------------------- */

static void test_softmax(void **state)
{
    (void)state;
    json_t *c = get_case("softmax");
    size_t n;
    int64_t shape[8];
    float *x = ns_test_json_tensor(c, "x", &n, shape, NULL);
    int rows = (int)shape[0], cols = (int)shape[1];
    float *dy = tensor(c, "dy", NULL);
    float *want_y = tensor(c, "y", NULL);
    float *want_dx = tensor(c, "dx", NULL);
    float *y = zeros(n), *dx = zeros(n);
    ns_softmax_forward(y, x, rows, cols);
    ns_softmax_backward(dx, dy, y, rows, cols);
    NS_ASSERT_ALL_CLOSE(y, want_y, n, RTOL, ATOL);
    NS_ASSERT_ALL_CLOSE(dx, want_dx, n, RTOL, ATOL);
    free(x), free(dy), free(want_y), free(want_dx), free(y), free(dx);
}

/* The mask is PyTorch's (read back from its output); this checks the 1/(1-p) scaling and
 * that forward and backward both apply it. */
static void test_dropout(void **state)
{
    (void)state;
    json_t *c = get_case("dropout");
    size_t n;
    float *x = tensor(c, "x", &n);
    float *dy = tensor(c, "dy", NULL);
    float *mask = tensor(c, "mask", NULL);
    float *want_y = tensor(c, "y", NULL);
    float *want_dx = tensor(c, "dx", NULL);
    float *y = zeros(n), *dx = zeros(n);
    ns_dropout_apply(y, x, mask, n);
    ns_dropout_backward(dx, dy, mask, n);
    NS_ASSERT_ALL_CLOSE(y, want_y, n, RTOL, ATOL);
    NS_ASSERT_ALL_CLOSE(dx, want_dx, n, RTOL, ATOL);
    free(x), free(dy), free(mask), free(want_y), free(want_dx), free(y), free(dx);
}

/* ---- layernorm ----------------------------------------------------------------------- */

static void check_layernorm(const char *name, bool affine)
{
    json_t *c = get_case(name);
    size_t n;
    int64_t shape[8];
    float *x = ns_test_json_tensor(c, "x", &n, shape, NULL);
    int rows = (int)shape[0], cols = (int)shape[1];
    float eps = (float)ns_test_json_number(c, "eps");
    float *dy = tensor(c, "dy", NULL);
    float *gamma = affine ? tensor(c, "gamma", NULL) : NULL;
    float *beta = affine ? tensor(c, "beta", NULL) : NULL;
    float *y = zeros(n), *dx = zeros(n), *mean = zeros((size_t)rows), *rstd = zeros((size_t)rows);
    float *dgamma = zeros((size_t)cols), *dbeta = zeros((size_t)cols);

    ns_layernorm_forward(y, mean, rstd, x, gamma, beta, rows, cols, eps);
    ns_layernorm_backward(dx, affine ? dgamma : NULL, affine ? dbeta : NULL, dy, x, mean, rstd,
                          gamma, rows, cols);

    float *want = tensor(c, "y", NULL);
    NS_ASSERT_ALL_CLOSE(y, want, n, RTOL, ATOL);
    free(want);
    want = tensor(c, "dx", NULL);
    NS_ASSERT_ALL_CLOSE(dx, want, n, RTOL, ATOL);
    free(want);
    if (affine) {
        want = tensor(c, "dgamma", NULL);
        NS_ASSERT_ALL_CLOSE(dgamma, want, (size_t)cols, RTOL, ATOL);
        free(want);
        want = tensor(c, "dbeta", NULL);
        NS_ASSERT_ALL_CLOSE(dbeta, want, (size_t)cols, RTOL, ATOL);
        free(want);
    }
    free(x), free(dy), free(gamma), free(beta), free(y), free(dx), free(mean), free(rstd);
    free(dgamma), free(dbeta);
}

static void test_layernorm_affine(void **s)
{
    (void)s;
    check_layernorm("layernorm_affine", true);
}
static void test_layernorm_plain(void **s)
{
    (void)s;
    check_layernorm("layernorm", false);
}

/* ---- batchnorm ----------------------------------------------------------------------- */

/* Training mode on x[B,C] or x[B,C,S]: output, gradients and updated running statistics. */
static void check_batchnorm_train(const char *name, bool affine)
{
    json_t *c = get_case(name);
    size_t n;
    int64_t shape[8];
    int ndim;
    float *x = ns_test_json_tensor(c, "x", &n, shape, &ndim);
    int batch = (int)shape[0], ch = (int)shape[1], sp = ndim == 3 ? (int)shape[2] : 1;
    float eps = (float)ns_test_json_number(c, "eps");
    float momentum = (float)ns_test_json_number(c, "momentum");
    float *dy = tensor(c, "dy", NULL);
    float *rm = tensor(c, "running_mean_in", NULL);
    float *rv = tensor(c, "running_var_in", NULL);
    float *gamma = affine ? tensor(c, "gamma", NULL) : NULL;
    float *beta = affine ? tensor(c, "beta", NULL) : NULL;
    size_t nc = (size_t)ch;
    float *y = zeros(n), *dx = zeros(n), *mean = zeros(nc), *rstd = zeros(nc);
    float *dgamma = zeros(nc), *dbeta = zeros(nc);

    ns_batchnorm_forward_train(y, mean, rstd, rm, rv, x, gamma, beta, batch, ch, sp, eps, momentum);
    ns_batchnorm_backward(dx, affine ? dgamma : NULL, affine ? dbeta : NULL, dy, x, mean, rstd,
                          gamma, batch, ch, sp);

    float *want = tensor(c, "y", NULL);
    NS_ASSERT_ALL_CLOSE(y, want, n, RTOL, ATOL);
    free(want);
    want = tensor(c, "dx", NULL);
    NS_ASSERT_ALL_CLOSE(dx, want, n, RTOL, ATOL);
    free(want);
    want = tensor(c, "running_mean", NULL);
    NS_ASSERT_ALL_CLOSE(rm, want, nc, RTOL, ATOL);
    free(want);
    want = tensor(c, "running_var", NULL);
    NS_ASSERT_ALL_CLOSE(rv, want, nc, RTOL, ATOL);
    free(want);
    if (affine) {
        want = tensor(c, "dgamma", NULL);
        NS_ASSERT_ALL_CLOSE(dgamma, want, nc, RTOL, ATOL);
        free(want);
        want = tensor(c, "dbeta", NULL);
        NS_ASSERT_ALL_CLOSE(dbeta, want, nc, RTOL, ATOL);
        free(want);
    }
    free(x), free(dy), free(rm), free(rv), free(gamma), free(beta), free(y), free(dx);
    free(mean), free(rstd), free(dgamma), free(dbeta);
}

static void test_batchnorm1d_train(void **s)
{
    (void)s;
    check_batchnorm_train("batchnorm1d_train", true);
}
static void test_batchnorm1d_train_noaffine(void **s)
{
    (void)s;
    check_batchnorm_train("batchnorm1d_train_noaffine", false);
}
static void test_batchnorm_spatial_train(void **s)
{
    (void)s;
    check_batchnorm_train("batchnorm_spatial_train", true);
}

static void test_batchnorm1d_eval(void **state)
{
    (void)state;
    json_t *c = get_case("batchnorm1d_eval");
    size_t n;
    int64_t shape[8];
    float *x = ns_test_json_tensor(c, "x", &n, shape, NULL);
    int batch = (int)shape[0], ch = (int)shape[1];
    float *rm = tensor(c, "running_mean", NULL);
    float *rv = tensor(c, "running_var", NULL);
    float *gamma = tensor(c, "gamma", NULL);
    float *beta = tensor(c, "beta", NULL);
    float *want = tensor(c, "y", NULL);
    float *y = zeros(n);
    ns_batchnorm_forward_eval(y, x, rm, rv, gamma, beta, batch, ch, 1,
                              (float)ns_test_json_number(c, "eps"));
    NS_ASSERT_ALL_CLOSE(y, want, n, RTOL, ATOL);
    free(x), free(rm), free(rv), free(gamma), free(beta), free(want), free(y);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_leaky_relu),
        cmocka_unit_test(test_elu),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_gelu_tanh),
        cmocka_unit_test(test_silu),
        cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_sigmoid),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_layernorm_affine),
        cmocka_unit_test(test_layernorm_plain),
        cmocka_unit_test(test_batchnorm1d_train),
        cmocka_unit_test(test_batchnorm1d_train_noaffine),
        cmocka_unit_test(test_batchnorm_spatial_train),
        cmocka_unit_test(test_batchnorm1d_eval),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, load, unload);
}
