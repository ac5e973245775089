/* Golden parity with PyTorch 1.13 for the 2-D layers (fixtures: tools/fixtures_conv.py ->
 * tests/fixtures/conv.json). Each case is built as a one-layer model from the fixture's own
 * layer spec, so the spec names, the state-dict names and shapes, forward outputs, input and
 * parameter gradients and running statistics are all compared with torch's. The conv cases
 * also run the kernel directly with one sample per GEMM and with the batch folded in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_private.h"
#include "testutil.h"

/* Outputs and input gradients agree with PyTorch to 1e-5 relative. Entries near zero get an
 * absolute floor of 1e-6: the values are O(1) and a conv output sums up to 72 products, and
 * PyTorch's own float32 outputs are up to 5e-7 off a float64 evaluation of the same fixture.
 * Weight and bias gradients sum batch * OH * OW products that largely cancel; there PyTorch
 * itself is looser (its float32 dweight is up to 5e-6 off the float64 values in these cases),
 * so they get a 1e-5 absolute floor, still with 1e-5 relative. */
#define RTOL 1e-5
#define ATOL 1e-6
#define ATOL_PARAM_GRAD 1e-5
/* Those floors must hold MARGIN times the spread the fixture measured: how far PyTorch's own
 * numbers move between OpenBLAS's cores (Prescott, Nehalem, Sandybridge, Haswell, Zen and
 * SkylakeX where the CPU has it; tools/fixtures_conv.py). Only the 1x1 convolution goes
 * through OpenBLAS in PyTorch, its dweight moving by up to 1.9e-6; netsmith's own results pass
 * at a quarter of these tolerances with each of those cores forced (NETSMITH_BLAS_CORE), and
 * the fixtures made before on another machine differed from these by at most 9.5e-7. */
#define MARGIN 4.0

static json_t *g_root;

static int load(void **state)
{
    (void)state;
    g_root = ns_test_json_load("conv.json");
    return 0;
}

static int unload(void **state)
{
    (void)state;
    json_decref(g_root);
    return 0;
}

static json_t *get_case(const char *name) { return ns_test_json_case(g_root, "conv.json", name); }

static bool has(json_t *c, const char *name)
{
    return json_object_get(c, name) != NULL;
}

/* A one-layer model for the case's "layer" spec and x[B, C, H, W]; max_batch = B. */
static ns_model *build(ns_ctx *ctx, json_t *c, int64_t *xshape)
{
    char *layer = json_dumps(json_object_get(c, "layer"), JSON_COMPACT);
    assert_non_null(layer);
    char text[1024];
    snprintf(text, sizeof text, "{\"layers\": [%s]}", layer);
    free(layer);
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, text, strlen(text), "conv.json", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 1);
    bo.input_ndim = 3;
    for (int d = 0; d < 3; d++)
        bo.input_shape[d] = (int)xshape[d + 1];
    bo.max_batch = (int)xshape[0];
    bo.keep_input_grad = true;
    bo.seed = 5;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    ns_spec_free(spec);
    return m;
}

/* Model tensor "0.<name>" must have the fixture tensor's shape (PyTorch's state_dict shape);
 * copies the fixture's values in. */
static void set_tensor(ns_model *m, json_t *c, const char *fixture, const char *name)
{
    char full[64];
    snprintf(full, sizeof full, "0.%s", name);
    ns_named_tensor t;
    NS_ASSERT_OK(ns_model_ctx(m), ns_model_find_tensor(m, full, &t));
    size_t n;
    int64_t shape[8];
    int ndim;
    float *v = ns_test_json_tensor(c, fixture, &n, shape, &ndim);
    assert_int_equal(t.ndim, ndim);
    for (int d = 0; d < ndim; d++)
        assert_int_equal(t.shape[d], shape[d]);
    memcpy(t.data, v, n * sizeof *v);
    free(v);
}

/* Compares model tensor "0.<name>" (its value, or with grad its gradient) with a fixture's. */
static void check_tensor(ns_model *m, json_t *c, const char *fixture, const char *name, bool grad)
{
    char full[64];
    snprintf(full, sizeof full, "0.%s", name);
    ns_named_tensor t;
    NS_ASSERT_OK(ns_model_ctx(m), ns_model_find_tensor(m, full, &t));
    size_t n;
    float *want = ns_test_json_tensor(c, fixture, &n, NULL, NULL);
    const float *got = t.data;
    if (grad)
        got = ns_model_grads(m) + (t.data - ns_model_params(m));
    NS_ASSERT_ALL_CLOSE(got, want, n, RTOL, grad ? ATOL_PARAM_GRAD : ATOL);
    free(want);
}

static void check_layer_case(const char *name)
{
    json_t *c = get_case(name);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    size_t nx, ny;
    int64_t xshape[8];
    float *x = ns_test_json_tensor(c, "x", &nx, xshape, NULL);
    float *want_y = ns_test_json_tensor(c, "y", &ny, NULL, NULL);
    int batch = (int)xshape[0];
    ns_model *m = build(ctx, c, xshape);
    assert_int_equal((size_t)ns_model_input_size(m) * (size_t)batch, nx);
    assert_int_equal((size_t)ns_model_output_size(m) * (size_t)batch, ny);

    static const char *const params[][2] = {{"weight", "weight"},
                                            {"bias", "bias"},
                                            {"running_mean_in", "running_mean"},
                                            {"running_var_in", "running_var"}};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (has(c, params[i][0]))
            set_tensor(m, c, params[i][0], params[i][1]);

    bool training = !has(c, "training") || json_is_true(json_object_get(c, "training"));
    const float *y = NULL;
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, batch, training, &y));
    NS_ASSERT_ALL_CLOSE(y, want_y, ny, RTOL, ATOL);
    if (has(c, "running_mean") && training) {
        check_tensor(m, c, "running_mean", "running_mean", false);
        check_tensor(m, c, "running_var", "running_var", false);
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "0.num_batches_tracked", &t));
        assert_int_equal(*t.count, 1);
    }
    if (has(c, "dy")) {
        float *dy = ns_test_json_tensor(c, "dy", &ny, NULL, NULL);
        float *want_dx = ns_test_json_tensor(c, "dx", &nx, NULL, NULL);
        ns_model_zero_grad(m);
        NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
        NS_ASSERT_ALL_CLOSE(ns_model_input_grad(m), want_dx, nx, RTOL, ATOL);
        if (has(c, "dweight"))
            check_tensor(m, c, "dweight", "weight", true);
        if (has(c, "dbias"))
            check_tensor(m, c, "dbias", "bias", true);
        free(dy);
        free(want_dx);
    }
    free(x);
    free(want_y);
    ns_model_free(m);
    ns_ctx_free(ctx);
}

/* The conv kernel on its own, `chunk` samples per GEMM, against the same fixture. */
static void check_conv_kernel(const char *name, int chunk)
{
    json_t *c = get_case(name);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    size_t nx, ny, nw, n;
    int64_t xshape[8];
    float *x = ns_test_json_tensor(c, "x", &nx, xshape, NULL);
    float *dy = ns_test_json_tensor(c, "dy", &ny, NULL, NULL);
    float *w = ns_test_json_tensor(c, "weight", &nw, NULL, NULL);
    float *want_y = ns_test_json_tensor(c, "y", &n, NULL, NULL);
    float *want_dx = ns_test_json_tensor(c, "dx", &n, NULL, NULL);
    float *want_dw = ns_test_json_tensor(c, "dweight", &n, NULL, NULL);
    float *b = has(c, "bias") ? ns_test_json_tensor(c, "bias", &n, NULL, NULL) : NULL;
    float *want_db = has(c, "dbias") ? ns_test_json_tensor(c, "dbias", &n, NULL, NULL) : NULL;
    int batch = (int)xshape[0];
    ns_model *m = build(ctx, c, xshape); /* only for the geometry the spec gives */
    ns_conv2d_geom g;
    ns__layer_geom(&m->layers[0], &g);

    size_t ncol = ns_conv2d_col_floats(&g, chunk), ntmp = ns_conv2d_tmp_floats(&g, chunk);
    ns_conv2d_work work = {chunk, malloc(ncol * sizeof(float)), malloc(ncol * sizeof(float)),
                           ntmp ? malloc(ntmp * sizeof(float)) : NULL};
    float *y = calloc(ny, sizeof *y), *dx = calloc(nx, sizeof *dx), *dw = calloc(nw, sizeof *dw);
    float db[64] = {0};
    assert_true(g.out_c <= 64);
    ns_conv2d_forward(y, x, w, b, &g, batch, &work);
    NS_ASSERT_ALL_CLOSE(y, want_y, ny, RTOL, ATOL);
    /* Without the forward's im2col, then with it: the same gradients either way. */
    ns_conv2d_backward(dx, dw, b ? db : NULL, dy, x, w, &g, batch, &work, 0);
    NS_ASSERT_ALL_CLOSE(dx, want_dx, nx, RTOL, ATOL);
    NS_ASSERT_ALL_CLOSE(dw, want_dw, nw, RTOL, ATOL_PARAM_GRAD);
    if (b != NULL)
        NS_ASSERT_ALL_CLOSE(db, want_db, (size_t)g.out_c, RTOL, ATOL_PARAM_GRAD);
    memset(dx, 0, nx * sizeof *dx);
    memset(dw, 0, nw * sizeof *dw);
    ns_conv2d_forward(y, x, w, b, &g, batch, &work);
    ns_conv2d_backward(dx, dw, NULL, dy, x, w, &g, batch, &work, 1);
    NS_ASSERT_ALL_CLOSE(dx, want_dx, nx, RTOL, ATOL);
    NS_ASSERT_ALL_CLOSE(dw, want_dw, nw, RTOL, ATOL_PARAM_GRAD);

    free(work.col), free(work.dcol), free(work.tmp);
    free(y), free(dx), free(dw), free(x), free(dy), free(w), free(b), free(want_y), free(want_dx);
    free(want_dw), free(want_db);
    ns_model_free(m);
    ns_ctx_free(ctx);
}

static const char *const conv_names[] = {
    "conv2d_basic",     "conv2d_stride2_pad1", "conv2d_dilation2", "conv2d_groups2_rect",
    "conv2d_depthwise", "conv2d_nobias",       "conv2d_1x1",       "conv2d_all",
    "conv2d_same",      "conv2d_wide",
};

/* The tolerances are backed by measurement: every tensor's floor covers MARGIN times the
 * spread recorded with it (a fixture regenerated where PyTorch moves more fails here, not at
 * random on some kernel). */
static void test_tolerances_cover_spread(void **state)
{
    (void)state;
    const char *name;
    json_t *c;
    int checked = 0;
    json_object_foreach(g_root, name, c) {
        json_t *spread = json_object_get(c, "spread");
        assert_non_null(spread);
        const char *key;
        json_t *v;
        json_object_foreach(spread, key, v) {
            bool param_grad = key[0] == 'd' && strcmp(key, "dx") != 0 && strcmp(key, "dy") != 0;
            double floor = param_grad ? ATOL_PARAM_GRAD : ATOL;
            if (MARGIN * json_number_value(v) > floor)
                fail_msg("%s %s: PyTorch's spread over OpenBLAS cores %.3g times %.0f exceeds "
                         "the tolerance %.3g",
                         name, key, json_number_value(v), MARGIN, floor);
            checked++;
        }
    }
    assert_true(checked > 100);
}

static void test_conv2d(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof conv_names / sizeof conv_names[0]; i++)
        check_layer_case(conv_names[i]);
}

static void test_conv2d_kernel_chunks(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof conv_names / sizeof conv_names[0]; i++)
        for (int chunk = 1; chunk <= 3; chunk++) /* 3 samples in chunks of 2: 2 + 1 */
            check_conv_kernel(conv_names[i], chunk);
}

static void test_maxpool2d(void **state)
{
    (void)state;
    check_layer_case("maxpool2d_k2");
    check_layer_case("maxpool2d_k3_s2_p1");
    check_layer_case("maxpool2d_rect");
}

static void test_avgpool2d(void **state)
{
    (void)state;
    check_layer_case("avgpool2d_k2");
    check_layer_case("avgpool2d_k3_s2_p1");
    check_layer_case("avgpool2d_k3_s2_p1_exclude_pad");
    check_layer_case("avgpool2d_rect");
}

static void test_adaptive_avgpool2d(void **state)
{
    (void)state;
    check_layer_case("adaptive_avgpool2d_3x2");
    check_layer_case("adaptive_avgpool2d_4");
    check_layer_case("adaptive_avgpool2d_up");
    check_layer_case("global_avgpool2d");
}

static void test_batchnorm2d(void **state)
{
    (void)state;
    check_layer_case("batchnorm2d_train");
    check_layer_case("batchnorm2d_train_noaffine");
    check_layer_case("batchnorm2d_train_batch1");
    check_layer_case("batchnorm2d_eval");
}

/* Ties, NaN and all -inf windows, which JSON fixtures cannot carry: the values and indices
 * PyTorch 1.13 gives (F.max_pool2d(..., return_indices=True)), copied here by hand. */
static void test_maxpool2d_ties_nan(void **state)
{
    (void)state;
    const float nan = NAN, inf = INFINITY;
    const float x[16] = {1, 3, 3, 0, 3, 2, nan, 5, nan, 1, -1, -2, 4, nan, -3, -4};
    ns_conv2d_geom g = {1, 4, 4, 1, 2, 2, {2, 2}, {2, 2}, {0, 0}, {1, 1}, 1};
    float y[4];
    int32_t at[4];
    ns_maxpool2d_forward(y, at, x, &g, 1);
    /* first maximum of a tie; a NaN wins (the last one of the window) */
    const int32_t want_at[4] = {1, 6, 13, 10};
    assert_true(y[0] == 3.0f && isnan(y[1]) && isnan(y[2]) && y[3] == -1.0f);
    for (int i = 0; i < 4; i++)
        assert_int_equal(at[i], want_at[i]);
    float dx[16] = {0}, dy[4] = {1, 2, 3, 4};
    ns_maxpool2d_backward(dx, dy, at, &g, 1);
    assert_true(dx[1] == 1 && dx[6] == 2 && dx[13] == 3 && dx[10] == 4 && dx[4] == 0);

    /* all -inf, padding 1, stride 1: the first input of the window clipped to the plane */
    float ninf[9];
    for (int i = 0; i < 9; i++)
        ninf[i] = -inf;
    ns_conv2d_geom g2 = {1, 3, 3, 1, 4, 4, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1};
    float y2[16];
    int32_t at2[16];
    ns_maxpool2d_forward(y2, at2, ninf, &g2, 1);
    const int32_t want2[16] = {0, 0, 1, 2, 0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8};
    for (int i = 0; i < 16; i++) {
        assert_true(y2[i] == -inf);
        assert_int_equal(at2[i], want2[i]);
    }
}

/* PyTorch's channel mask (read back from its output) through the channel-dropout kernels:
 * the 1/(1-p) scaling and one value per (sample, channel) plane, forward and backward. */
static void test_dropout2d(void **state)
{
    (void)state;
    json_t *c = get_case("dropout2d");
    size_t n, nm;
    int64_t shape[8];
    float *x = ns_test_json_tensor(c, "x", &n, shape, NULL);
    float *dy = ns_test_json_tensor(c, "dy", &n, NULL, NULL);
    float *mask = ns_test_json_tensor(c, "mask", &nm, NULL, NULL);
    float *want_y = ns_test_json_tensor(c, "y", &n, NULL, NULL);
    float *want_dx = ns_test_json_tensor(c, "dx", &n, NULL, NULL);
    size_t spatial = (size_t)(shape[2] * shape[3]);
    assert_int_equal(nm * spatial, n);
    float *y = calloc(n, sizeof *y), *dx = calloc(n, sizeof *dx);
    ns_dropout2d_apply(y, x, mask, nm, spatial);
    ns_dropout2d_backward(dx, dy, mask, nm, spatial);
    NS_ASSERT_ALL_CLOSE(y, want_y, n, RTOL, ATOL);
    NS_ASSERT_ALL_CLOSE(dx, want_dx, n, RTOL, ATOL);
    free(x), free(dy), free(mask), free(want_y), free(want_dx), free(y), free(dx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tolerances_cover_spread),
        cmocka_unit_test(test_conv2d),      cmocka_unit_test(test_conv2d_kernel_chunks),
        cmocka_unit_test(test_maxpool2d),   cmocka_unit_test(test_maxpool2d_ties_nan),
        cmocka_unit_test(test_avgpool2d),   cmocka_unit_test(test_adaptive_avgpool2d),
        cmocka_unit_test(test_batchnorm2d), cmocka_unit_test(test_dropout2d),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
