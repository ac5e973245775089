/* Model files: save and load round trip (weights, running statistics, counters, metadata),
 * refusal of non-finite weights, and clear errors for files that do not fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static ns_model *trained_model(ns_ctx *ctx, const char *json, int out)
{
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "t", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 6);
    bo.output_size = out;
    bo.max_batch = 16;
    bo.seed = 3;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    ns_spec_free(spec);
    /* A few forwards in training mode move the running statistics and counters. */
    float x[16 * 6];
    ns_test_fill_uniform(x, 16 * 6, 5, -3, 3);
    const float *y;
    for (int i = 0; i < 3; i++)
        NS_ASSERT_OK(ctx, ns_model_forward(m, x, 16, true, &y));
    return m;
}

static void test_round_trip(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    const char *json =
        "{\"layers\": [{\"type\": \"linear\", \"units\": 8},"
        " {\"type\": \"batchnorm1d\"}, {\"type\": \"relu\"},"
        " {\"type\": \"dropout\", \"p\": 0.25}, {\"type\": \"linear\", \"units\": 2}]}";
    ns_model *m = trained_model(ctx, json, 0);
    ns_st_meta extra[] = {{"labels", "[\"a\", \"b\"]"}};
    NS_ASSERT_OK(ctx, ns_model_save(m, ns_test_tmp("m.safetensors"), extra, 1));

    ns_ctx *ctx2 = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx2), NS_OK);
    ns_model *l = NULL;
    NS_ASSERT_OK(ctx2, ns_model_load(ctx2, ns_test_tmp("m.safetensors"), 0, &l));
    assert_int_equal(ns_model_param_count(l), ns_model_param_count(m));
    assert_memory_equal(ns_model_params(l), ns_model_params(m),
                        ns_model_param_count(m) * sizeof(float));
    ns_named_tensor a, b;
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "1.running_var", &a));
    NS_ASSERT_OK(ctx2, ns_model_find_tensor(l, "1.running_var", &b));
    assert_memory_equal(a.data, b.data, 8 * sizeof(float));
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "1.num_batches_tracked", &a));
    NS_ASSERT_OK(ctx2, ns_model_find_tensor(l, "1.num_batches_tracked", &b));
    assert_int_equal(*a.count, 3);
    assert_int_equal(*b.count, 3);
    /* Same predictions in evaluation mode. */
    float x[4 * 6];
    ns_test_fill_uniform(x, 4 * 6, 9, -1, 1);
    const float *ya, *yb;
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 4, false, &ya));
    NS_ASSERT_OK(ctx2, ns_model_forward(l, x, 4, false, &yb));
    assert_memory_equal(ya, yb, 8 * sizeof(float));
    /* The metadata describes the file. */
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, ns_test_tmp("m.safetensors"), &f));
    assert_string_equal(ns_st_meta_find(f, "format"), "pt");
    assert_string_equal(ns_st_meta_find(f, "netsmith.version"), ns_version());
    assert_string_equal(ns_st_meta_find(f, "netsmith.input_shape"), "[6]");
    assert_string_equal(ns_st_meta_find(f, "netsmith.output_size"), "2");
    assert_string_equal(ns_st_meta_find(f, "labels"), "[\"a\", \"b\"]");
    assert_non_null(ns_st_find(f, "4.weight"));
    const ns_st_tensor *cnt = ns_st_find(f, "1.num_batches_tracked");
    assert_non_null(cnt);
    assert_int_equal(cnt->dtype, NS_DTYPE_I64);
    assert_int_equal(cnt->ndim, 0);
    ns_st_close(f);
    ns_model_free(l);
    ns_model_free(m);
    ns_ctx_free(ctx2);
    ns_ctx_free(ctx);
}

static void test_short_form_round_trip(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_model *m = trained_model(ctx, "{\"hidden_layers\": [5, 4], \"dropout\": 0.1}", 3);
    NS_ASSERT_OK(ctx, ns_model_save(m, ns_test_tmp("s.safetensors"), NULL, 0));
    ns_model *l = NULL;
    NS_ASSERT_OK(ctx, ns_model_load(ctx, ns_test_tmp("s.safetensors"), 4, &l));
    assert_int_equal(ns_model_output_size(l), 3);
    assert_int_equal(ns_model_max_batch(l), 4);
    assert_memory_equal(ns_model_params(l), ns_model_params(m),
                        ns_model_param_count(m) * sizeof(float));
    ns_model_free(l);
    ns_model_free(m);
    ns_ctx_free(ctx);
}

static void test_non_finite_not_saved(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_model *m = trained_model(ctx, "{\"hidden_layers\": [5]}", 1);
    ns_model_params(m)[7] = NAN;
    NS_ASSERT_STATUS(ctx, ns_model_save(m, ns_test_tmp("nan.safetensors"), NULL, 0),
                     NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "0.weight");
    assert_int_equal(access(ns_test_tmp("nan.safetensors"), F_OK), -1);
    ns_model_free(m);
    ns_ctx_free(ctx);
}

static void test_files_that_do_not_fit(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_model *m = NULL;
    /* A plain safetensors file without the blueprint. */
    float w[4] = {1, 2, 3, 4};
    ns_st_tensor t = {.name = "0.weight",
                      .dtype = NS_DTYPE_F32,
                      .ndim = 2,
                      .shape = {2, 2},
                      .data = w,
                      .nbytes = sizeof w};
    NS_ASSERT_OK(ctx, ns_st_write(ctx, ns_test_tmp("plain.safetensors"), &t, 1, NULL, 0));
    NS_ASSERT_STATUS(ctx, ns_model_load(ctx, ns_test_tmp("plain.safetensors"), 0, &m),
                     NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(ctx, "not a netsmith model file");
    /* The blueprint with a tensor of the wrong shape, or one missing. */
    ns_st_meta meta[] = {{"netsmith.spec", "{\"layers\": [{\"type\": \"linear\", \"units\": 2}]}"},
                         {"netsmith.input_shape", "[3]"},
                         {"netsmith.output_size", "2"}};
    NS_ASSERT_OK(ctx, ns_st_write(ctx, ns_test_tmp("shape.safetensors"), &t, 1, meta, 3));
    NS_ASSERT_STATUS(ctx, ns_model_load(ctx, ns_test_tmp("shape.safetensors"), 0, &m),
                     NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(ctx, "'0.weight' is F32 [2, 2] but the model needs F32 [2, 3]");
    meta[1].value = "[2]";
    NS_ASSERT_OK(ctx, ns_st_write(ctx, ns_test_tmp("missing.safetensors"), &t, 1, meta, 3));
    NS_ASSERT_STATUS(ctx, ns_model_load(ctx, ns_test_tmp("missing.safetensors"), 0, &m),
                     NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(ctx, "'0.bias' is missing");
    meta[1].value = "[0]";
    NS_ASSERT_OK(ctx, ns_st_write(ctx, ns_test_tmp("badshape.safetensors"), &t, 1, meta, 3));
    NS_ASSERT_STATUS(ctx, ns_model_load(ctx, ns_test_tmp("badshape.safetensors"), 0, &m),
                     NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(ctx, "input_shape");
    NS_ASSERT_STATUS(ctx, ns_model_load(ctx, ns_test_tmp("absent.safetensors"), 0, &m), NS_ERR_IO);
    assert_null(m);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_short_form_round_trip),
        cmocka_unit_test(test_non_finite_not_saved),
        cmocka_unit_test(test_files_that_do_not_fit),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
