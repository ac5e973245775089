/* Models with the 2-D layers: the Fashion-MNIST CNN of examples/specs/fashion_cnn.json
 * (shapes, parameter count, state-dict names and shapes as PyTorch's, initialisation bounds,
 * forward and backward on a batch, determinism), build-time shape errors, batchnorm2d's
 * batch check, dropout2d's channel masks and global pooling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_private.h"
#include "testutil.h"

#define FASHION_SPEC NS_SOURCE_DIR "/examples/specs/fashion_cnn.json"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static void chw_opts(ns_build_opts *bo, int c, int h, int w, int max_batch)
{
    ns_build_opts_default(bo, 1);
    bo->input_ndim = 3;
    bo->input_shape[0] = c;
    bo->input_shape[1] = h;
    bo->input_shape[2] = w;
    bo->max_batch = max_batch;
    bo->seed = 7;
}

static ns_model *build_fashion(ns_ctx *ctx, int max_batch, bool keep_input_grad)
{
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_load(ctx, FASHION_SPEC, &spec));
    ns_build_opts bo;
    chw_opts(&bo, 1, 28, 28, max_batch);
    bo.keep_input_grad = keep_input_grad;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    ns_spec_free(spec);
    return m;
}

static void assert_shape(const ns__layer *l, int ndim, int d0, int d1, int d2)
{
    assert_int_equal(l->out_ndim, ndim);
    assert_int_equal(l->out_shape[0], d0);
    if (ndim == 3) {
        assert_int_equal(l->out_shape[1], d1);
        assert_int_equal(l->out_shape[2], d2);
    }
}

static void test_fashion_cnn_structure(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *m = build_fashion(ctx, 64, false);
    assert_int_equal(ns_model_layer_count(m), 10);
    assert_int_equal(ns_model_input_size(m), 28 * 28);
    assert_int_equal(ns_model_output_size(m), 10);
    /* 28 -conv3-> 26 -pool2-> 13 -conv3-> 11 -pool2-> 5: 64 * 5 * 5 = 1600 features */
    assert_shape(&m->layers[0], 3, 32, 26, 26);
    assert_shape(&m->layers[1], 3, 32, 26, 26);
    assert_shape(&m->layers[2], 3, 32, 13, 13);
    assert_shape(&m->layers[3], 3, 64, 11, 11);
    assert_shape(&m->layers[5], 3, 64, 5, 5);
    assert_shape(&m->layers[6], 1, 1600, 0, 0);
    assert_shape(&m->layers[7], 1, 128, 0, 0);
    assert_shape(&m->layers[9], 1, 10, 0, 0);

    /* torch: sum(p.numel() for p in model.parameters()) */
    size_t conv1 = 32 * 1 * 3 * 3 + 32, conv2 = 64 * 32 * 3 * 3 + 64;
    size_t fc1 = 128 * 1600 + 128, fc2 = 10 * 128 + 10;
    assert_int_equal(ns_model_param_count(m), conv1 + conv2 + fc1 + fc2);
    assert_int_equal(ns_model_param_count(m), 225034);

    /* state_dict names and shapes, in order */
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } want[] = {
        {"0.weight", 4, {32, 1, 3, 3}},  {"0.bias", 1, {32}},
        {"3.weight", 4, {64, 32, 3, 3}}, {"3.bias", 1, {64}},
        {"7.weight", 2, {128, 1600}},    {"7.bias", 1, {128}},
        {"9.weight", 2, {10, 128}},      {"9.bias", 1, {10}},
    };
    int n = (int)(sizeof want / sizeof want[0]);
    assert_int_equal(ns_model_tensor_count(m), n);
    for (int i = 0; i < n; i++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_tensor(m, i, &t));
        assert_string_equal(t.name, want[i].name);
        assert_int_equal(t.ndim, want[i].ndim);
        for (int d = 0; d < NS_MAX_DIMS; d++)
            assert_int_equal(t.shape[d], d < t.ndim ? want[i].shape[d] : 0);
        assert_true(t.trainable);
    }

    /* PyTorch's init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C/G * KH * KW, and the
     * values actually spread over the range. */
    static const struct {
        const char *name;
        double fan_in;
    } init[] = {{"0.weight", 9}, {"0.bias", 9}, {"3.weight", 288}, {"3.bias", 288}};
    for (size_t i = 0; i < sizeof init / sizeof init[0]; i++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_find_tensor(m, init[i].name, &t));
        size_t numel = 1;
        for (int d = 0; d < t.ndim; d++)
            numel *= (size_t)t.shape[d];
        double bound = 1.0 / sqrt(init[i].fan_in), lo = bound, hi = -bound;
        for (size_t k = 0; k < numel; k++) {
            lo = fmin(lo, (double)t.data[k]);
            hi = fmax(hi, (double)t.data[k]);
        }
        assert_true(lo >= -bound && hi <= bound);
        assert_true(hi - lo > bound); /* not all one value */
    }
    ns_model_free(m);
    ns_ctx_free(ctx);
}

static void test_fashion_cnn_step(void **state)
{
    (void)state;
    enum { B = 64, OUT = 10 };
    ns_ctx *ctx = new_ctx();
    ns_model *m = build_fashion(ctx, B, false);
    float *x = malloc(sizeof(float) * B * 28 * 28), dy[B * OUT];
    assert_non_null(x);
    ns_test_fill_uniform(x, (size_t)B * 28 * 28, 1, 0.0f, 1.0f);
    ns_test_fill_uniform(dy, B * OUT, 2, -1.0f, 1.0f);

    const float *y = NULL;
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, true, &y));
    float y_train[B * OUT];
    memcpy(y_train, y, sizeof y_train);
    for (int i = 0; i < B * OUT; i++)
        assert_true(isfinite(y_train[i]));
    ns_model_zero_grad(m);
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    assert_null(ns_model_input_grad(m)); /* not asked for: the first conv skips it */

    /* Every parameter tensor gets a finite, non-zero gradient. */
    int n = ns_model_tensor_count(m);
    for (int i = 0; i < n; i++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_tensor(m, i, &t));
        size_t numel = 1, off = (size_t)(t.data - ns_model_params(m));
        for (int d = 0; d < t.ndim; d++)
            numel *= (size_t)t.shape[d];
        double norm = 0;
        for (size_t k = 0; k < numel; k++) {
            float g = ns_model_grads(m)[off + k];
            assert_true(isfinite(g));
            norm += fabs((double)g);
        }
        if (!(norm > 0))
            fprintf(stderr, "%s has an all-zero gradient\n", t.name);
        assert_true(norm > 0);
    }

    /* No dropout or batchnorm: evaluation mode computes the same. */
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, false, &y));
    NS_ASSERT_ALL_CLOSE(y, y_train, B * OUT, 0.0, 0.0);
    /* A smaller batch (a shorter GEMM) gives the same rows up to float rounding. */
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 5, true, &y));
    NS_ASSERT_ALL_CLOSE(y, y_train, 5 * OUT, 1e-5, 1e-6);

    /* Same seed, same build: bit-identical weights, outputs and gradients. */
    ns_model *m2 = build_fashion(ctx, B, false);
    assert_memory_equal(ns_model_params(m2), ns_model_params(m), ns_model_param_count(m) * 4);
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, true, &y));
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy)); /* m's grads: 2 backward passes */
    const float *y2 = NULL;
    NS_ASSERT_OK(ctx, ns_model_forward(m2, x, B, true, &y2));
    assert_memory_equal(y2, y_train, sizeof y_train);
    ns_model_zero_grad(m2);
    NS_ASSERT_OK(ctx, ns_model_backward(m2, dy));
    NS_ASSERT_OK(ctx, ns_model_backward(m2, dy));
    assert_memory_equal(ns_model_grads(m2), ns_model_grads(m), ns_model_param_count(m) * 4);
    ns_model_free(m2);

    /* With the input gradient kept, the first conv computes it too. */
    ns_model *m3 = build_fashion(ctx, B, true);
    NS_ASSERT_OK(ctx, ns_model_forward(m3, x, B, true, &y));
    NS_ASSERT_OK(ctx, ns_model_backward(m3, dy));
    const float *dx = ns_model_input_grad(m3);
    assert_non_null(dx);
    double norm = 0;
    for (int i = 0; i < B * 28 * 28; i++)
        norm += fabs((double)dx[i]);
    assert_true(norm > 0 && isfinite(norm));
    ns_model_free(m3);

    free(x);
    ns_model_free(m);
    ns_ctx_free(ctx);
}

/* Builds spec `layers` for a [c, h, w] input and expects NS_ERR_SHAPE with `fragment`. */
static void expect_build_error(ns_ctx *ctx, const char *layers, int ndim, int c, int h, int w,
                               const char *fragment)
{
    char json[1024];
    snprintf(json, sizeof json, "{\"layers\": [%s]}", layers);
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec));
    ns_build_opts bo;
    chw_opts(&bo, c, h, w, 4);
    bo.input_ndim = ndim;
    ns_model *m = (ns_model *)&m;
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, fragment);
    assert_null(m);
    ns_spec_free(spec);
}

static void test_shape_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    expect_build_error(ctx,
                       "{\"type\": \"relu\"}, {\"type\": \"relu\"}, {\"type\": \"relu\"},"
                       "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 7}",
                       3, 1, 5, 5,
                       "layers[3] (conv2d): kernel 7 is larger than the 5x5 input (padding 0); "
                       "use a smaller kernel or add padding");
    expect_build_error(
        ctx, "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"dilation\": 3}", 3, 1, 6, 6,
        "layers[0] (conv2d): kernel 3 (dilated to 7) is larger than the 6x6 input "
        "(padding 0)");
    expect_build_error(ctx, "{\"type\": \"maxpool2d\", \"kernel\": [4, 2], \"padding\": 1}", 3, 2,
                       1, 9,
                       "layers[0] (maxpool2d): kernel 4x2 is larger than the 1x9 input "
                       "(padding 1)");
    /* linear straight after a conv needs a flatten */
    expect_build_error(ctx,
                       "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3},"
                       "{\"type\": \"linear\", \"units\": 10}",
                       3, 1, 8, 8,
                       "layers[1] (linear): expects a flat feature vector but its input has 3 "
                       "dimensions; add a flatten layer before it");
    /* 2-D layers on flat data */
    expect_build_error(ctx, "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3}", 1, 13, 0, 0,
                       "layers[0] (conv2d): expects [channels, height, width] per sample but its "
                       "input is [13]; give the data's shape as [C, H, W]");
    expect_build_error(ctx, "{\"type\": \"flatten\"}, {\"type\": \"maxpool2d\", \"kernel\": 2}", 3,
                       1, 4, 4,
                       "layers[1] (maxpool2d): expects [channels, height, width] per sample but "
                       "its input is [16], flat features");
    expect_build_error(ctx, "{\"type\": \"global_avgpool2d\"}", 2, 3, 4, 0,
                       "layers[0] (global_avgpool2d): expects [channels, height, width]");
    expect_build_error(ctx, "{\"type\": \"dropout2d\"}", 1, 8, 0, 0,
                       "layers[0] (dropout2d): expects [channels, height, width]");
    expect_build_error(ctx, "{\"type\": \"batchnorm2d\"}", 1, 8, 0, 0,
                       "layers[0] (batchnorm2d): expects [C, H, W] per sample, got 1 dimension; "
                       "use batchnorm1d");
    expect_build_error(ctx, "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 1, \"groups\": 2}",
                       3, 3, 4, 4,
                       "layers[0] (conv2d): groups 2 must divide both the 3 input channels and "
                       "the 4 filters");
    ns_ctx_free(ctx);
}

/* Training batchnorm2d needs batch * H * W > 1, not batch > 1. */
static void test_batchnorm2d_batch_check(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *json = "{\"layers\": [{\"type\": \"batchnorm2d\"}]}";
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec));
    ns_build_opts bo;
    chw_opts(&bo, 2, 1, 1, 4);
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float *y = NULL;
    NS_ASSERT_STATUS(ctx, ns_model_forward(m, x, 1, true, &y), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "layers[0] (batchnorm2d) needs more than one value per");
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 2, true, &y));
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 1, false, &y));
    ns_model_free(m);

    chw_opts(&bo, 2, 2, 1, 4); /* one sample, two values per channel */
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 1, true, &y));
    ns_named_tensor t;
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "0.num_batches_tracked", &t));
    assert_int_equal(*t.count, 1);
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "0.running_var", &t));
    assert_int_equal(t.shape[0], 2);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* Whole channels are dropped or kept (scaled by 1/(1-p)); the mask replays with the forward
 * count; evaluation is the identity; backward applies the same mask. */
static void test_dropout2d_channels(void **state)
{
    (void)state;
    enum { B = 8, C = 6, HW = 12 };
    ns_ctx *ctx = new_ctx();
    const char *json = "{\"layers\": [{\"type\": \"dropout2d\", \"p\": 0.5}]}";
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec));
    ns_build_opts bo;
    chw_opts(&bo, C, 3, 4, B);
    bo.keep_input_grad = true;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    float x[B * C * HW], dy[B * C * HW], first[B * C * HW];
    ns_test_fill_uniform(x, B * C * HW, 3, 0.5f, 1.5f); /* no zeros */
    ns_test_fill_uniform(dy, B * C * HW, 4, -1.0f, 1.0f);
    const float *y = NULL;
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, true, &y));
    memcpy(first, y, sizeof first);
    int dropped = 0;
    for (int plane = 0; plane < B * C; plane++) {
        const float *yp = first + plane * HW, *xp = x + plane * HW;
        bool zero = yp[0] == 0.0f;
        dropped += zero;
        for (int i = 0; i < HW; i++)
            assert_true(zero ? yp[i] == 0.0f : yp[i] == xp[i] * 2.0f);
    }
    assert_true(dropped >= 10 && dropped <= 38); /* 48 planes at p = 0.5 */
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    const float *dx = ns_model_input_grad(m);
    for (int i = 0; i < B * C * HW; i++)
        assert_true(dx[i] == (first[i - i % HW] == 0.0f ? 0.0f : dy[i] * 2.0f));
    /* The next forward draws a new mask; replaying the count gives the first again. */
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, true, &y));
    assert_true(memcmp(y, first, sizeof first) != 0);
    ns_model_set_forward_count(m, 0);
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, true, &y));
    assert_memory_equal(y, first, sizeof first);
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, B, false, &y));
    assert_memory_equal(y, x, sizeof x);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* global_avgpool2d keeps [C, 1, 1] as PyTorch; flatten then linear. */
static void test_global_pool_head(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *json = "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3,"
                       " \"padding\": \"same\"}, {\"type\": \"batchnorm2d\"}, {\"type\": \"relu\"},"
                       " {\"type\": \"global_avgpool2d\"}, {\"type\": \"flatten\"},"
                       " {\"type\": \"linear\", \"units\": 4}]}";
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec));
    ns_build_opts bo;
    chw_opts(&bo, 3, 9, 7, 4);
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    assert_shape(&m->layers[0], 3, 8, 9, 7);
    assert_shape(&m->layers[3], 3, 8, 1, 1);
    assert_shape(&m->layers[4], 1, 8, 0, 0);
    ns_named_tensor t;
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "1.running_mean", &t));
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "5.weight", &t));
    assert_int_equal(t.shape[1], 8);
    float x[4 * 3 * 9 * 7], dy[4 * 4];
    ns_test_fill_uniform(x, sizeof x / sizeof x[0], 5, -1.0f, 1.0f);
    ns_test_fill_uniform(dy, 16, 6, -1.0f, 1.0f);
    const float *y = NULL;
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 4, true, &y));
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_cnn_structure),
        cmocka_unit_test(test_fashion_cnn_step),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_batchnorm2d_batch_check),
        cmocka_unit_test(test_dropout2d_channels),
        cmocka_unit_test(test_global_pool_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
