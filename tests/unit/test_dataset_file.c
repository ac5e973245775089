/* Dataset files: built-in sets, split and normalised views and byte images survive
 * ns_dataset_save / ns_dataset_load_file exactly (rows, hash, names, batches); ns_data_load
 * recognises the files; damaged files get clear messages; allocation failures leak nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset_private.h"
#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns_dataset *builtin(ns_ctx *ctx, const char *name)
{
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load(ctx, name, NULL, NULL, &ds, NULL));
    return ds;
}

/* Every batch of two epochs (shuffled, batch size 7, a short last batch) is bit-identical. */
static void assert_same_batches(const ns_dataset *a, const ns_dataset *b)
{
    ns_batch_options o = {.batch_size = 7, .seed = 11};
    ns_batcher *ba = NULL, *bb = NULL;
    assert_int_equal(ns_batcher_new(a, &o, &ba), NS_OK);
    assert_int_equal(ns_batcher_new(b, &o, &bb), NS_OK);
    assert_int_equal(ns_batcher_count(ba), ns_batcher_count(bb));
    size_t f = (size_t)ns_dataset_feature_count(a), t = (size_t)ns_dataset_target_count(a);
    for (int64_t e = 0; e < 2; e++)
        for (int64_t i = 0; i < ns_batcher_count(ba); i++) {
            ns_batch x, y;
            assert_int_equal(ns_batcher_get(ba, e, i, &x), NS_OK);
            assert_int_equal(ns_batcher_get(bb, e, i, &y), NS_OK);
            assert_int_equal(x.n, y.n);
            assert_memory_equal(x.x, y.x, (size_t)x.n * f * sizeof(float));
            if (x.labels != NULL) {
                assert_non_null(y.labels);
                assert_memory_equal(x.labels, y.labels, (size_t)x.n * sizeof(int32_t));
            } else {
                assert_non_null(y.y);
                assert_null(y.labels);
                assert_memory_equal(x.y, y.y, (size_t)x.n * t * sizeof(float));
            }
        }
    ns_batcher_free(ba);
    ns_batcher_free(bb);
}

/* Everything a reader of a dataset can see is the same. */
static void assert_same_dataset(const ns_dataset *a, const ns_dataset *b)
{
    assert_string_equal(ns_dataset_name(a), ns_dataset_name(b));
    assert_int_equal(ns_dataset_rows(a), ns_dataset_rows(b));
    assert_int_equal(ns_dataset_feature_count(a), ns_dataset_feature_count(b));
    int sa[NS_MAX_DIMS - 1], sb[NS_MAX_DIMS - 1];
    assert_int_equal(ns_dataset_input_shape(a, sa), ns_dataset_input_shape(b, sb));
    assert_memory_equal(sa, sb, sizeof sa);
    assert_int_equal(ns_dataset_task(a), ns_dataset_task(b));
    assert_int_equal(ns_dataset_target_count(a), ns_dataset_target_count(b));
    assert_int_equal(ns_dataset_class_count(a), ns_dataset_class_count(b));
    for (int i = 0; i < ns_dataset_class_count(a); i++)
        assert_string_equal(ns_dataset_class_name(a, i), ns_dataset_class_name(b, i));
    for (int i = 0; i < ns_dataset_feature_count(a); i++)
        assert_string_equal(ns_dataset_feature_name(a, i), ns_dataset_feature_name(b, i));
    for (int i = 0; i < ns_dataset_target_count(a); i++)
        assert_string_equal(ns_dataset_target_name(a, i), ns_dataset_target_name(b, i));
    assert_true(ns_dataset_hash(a) == ns_dataset_hash(b));
    assert_int_equal(a->has_norm, b->has_norm);
    if (a->has_norm)
        assert_int_equal(a->norm_kind, b->norm_kind);
    size_t f = (size_t)ns_dataset_feature_count(a), t = (size_t)ns_dataset_target_count(a);
    float *xa = malloc(f * sizeof(float)), *xb = malloc(f * sizeof(float));
    float *ya = malloc(t * sizeof(float)), *yb = malloc(t * sizeof(float));
    assert_non_null(xa);
    assert_non_null(xb);
    assert_non_null(ya);
    assert_non_null(yb);
    for (int64_t r = 0; r < ns_dataset_rows(a); r++) {
        int32_t la = -7, lb = -7;
        memset(ya, 0, t * sizeof(float));
        memset(yb, 0, t * sizeof(float));
        ns_dataset_row(a, r, xa, ya, &la);
        ns_dataset_row(b, r, xb, yb, &lb);
        assert_memory_equal(xa, xb, f * sizeof(float));
        assert_memory_equal(ya, yb, t * sizeof(float));
        assert_int_equal(la, lb);
    }
    free(xa);
    free(xb);
    free(ya);
    free(yb);
    if (ns_dataset_rows(a) > 0)
        assert_same_batches(a, b);
}

/* Saves ds, loads it on another context and compares; returns the loaded dataset. */
static ns_dataset *round_trip(const ns_dataset *ds, ns_ctx *ctx2, const char *name)
{
    const char *path = ns_test_tmp(name);
    ns_status st = ns_dataset_save(ds, path);
    if (st != NS_OK)
        fail_msg("save %s: %s", path, ns_errmsg(ctx2));
    ns_dataset *back = NULL;
    NS_ASSERT_OK(ctx2, ns_dataset_load_file(ctx2, path, &back));
    assert_same_dataset(ds, back);
    return back;
}

/* ---- round trips --------------------------------------------------------------------------- */

static void test_builtins(void **state)
{
    (void)state;
    static const char *const names[] = {"boston_housing", "wine", "iris"};
    ns_ctx *ctx = new_ctx(), *ctx2 = new_ctx();
    for (size_t i = 0; i < 3; i++) {
        ns_dataset *ds = builtin(ctx, names[i]);
        char file[64];
        snprintf(file, sizeof file, "%s.safetensors", names[i]);
        ns_dataset *back = round_trip(ds, ctx2, file);
        /* And once more from the loaded copy: the file is a fixed point. */
        ns_dataset *again = round_trip(back, ctx, "again.safetensors");
        ns_dataset_free(again);
        ns_dataset_free(back);
        ns_dataset_free(ds);
    }
    ns_ctx_free(ctx);
    ns_ctx_free(ctx2);
}

static void test_split_and_normalized_views(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx(), *ctx2 = new_ctx();
    static const char *const names[] = {"wine", "boston_housing"};
    for (size_t i = 0; i < 2; i++) {
        ns_dataset *ds = builtin(ctx, names[i]);
        ns_split_options so;
        ns_split_options_default(&so);
        so.seed = 42;
        ns_dataset *train = NULL, *val = NULL, *test = NULL;
        NS_ASSERT_OK(ctx, ns_data_split(ds, &so, &train, &val, &test));
        ns_dataset *b = round_trip(train, ctx2, "train.safetensors");
        assert_int_equal(ns_dataset_rows(b), ns_dataset_rows(train));
        ns_dataset_free(b);
        b = round_trip(test, ctx2, "test.safetensors");
        ns_dataset_free(b);

        for (int kind = NS_NORM_STANDARD; kind <= NS_NORM_MINMAX; kind++) {
            ns_norm norm;
            NS_ASSERT_OK(ctx, ns_norm_fit(ctx, train, (ns_norm_kind)kind, &norm));
            ns_dataset *ntrain = NULL, *nval = NULL;
            NS_ASSERT_OK(ctx, ns_data_normalize(train, &norm, &ntrain));
            NS_ASSERT_OK(ctx, ns_data_normalize(val, &norm, &nval));
            ns_norm_deinit(ctx, &norm);
            b = round_trip(ntrain, ctx2, "ntrain.safetensors");
            /* A split of the loaded normalised view keeps the normalisation, as the original's
             * does. */
            ns_dataset *p1 = NULL, *p2 = NULL, *q1 = NULL, *q2 = NULL;
            so.test = 0;
            NS_ASSERT_OK(ctx, ns_data_split(ntrain, &so, &p1, &p2, NULL));
            NS_ASSERT_OK(ctx2, ns_data_split(b, &so, &q1, &q2, NULL));
            so.test = 0.15;
            assert_same_dataset(p1, q1);
            assert_same_dataset(p2, q2);
            ns_dataset_free(p1);
            ns_dataset_free(p2);
            ns_dataset_free(q1);
            ns_dataset_free(q2);
            ns_dataset_free(b);
            b = round_trip(nval, ctx2, "nval.safetensors");
            ns_dataset_free(b);
            ns_dataset_free(ntrain);
            ns_dataset_free(nval);
        }
        ns_dataset_free(train);
        ns_dataset_free(val);
        ns_dataset_free(test);
        ns_dataset_free(ds);
    }
    ns_ctx_free(ctx);
    ns_ctx_free(ctx2);
}

/* 23 byte images [1, 4, 5] in 3 classes named with UTF-8 text. */
static ns_dataset *byte_images(ns_ctx *ctx)
{
    ns__data_store *s = NULL;
    int shape[3] = {1, 4, 5};
    NS_ASSERT_OK(
        ctx, ns__store_new(ctx, "tiny-images", 23, 3, shape, true, NS_TASK_CLASSIFICATION, 1, &s));
    for (size_t i = 0; i < 23 * 20; i++)
        s->xu[i] = (uint8_t)(i * 37 + 11);
    for (int r = 0; r < 23; r++)
        s->labels[r] = (r * 7) % 3;
    static const char *const classes[3] = {"cat", "d\xc3\xb6g", "bird"};
    NS_ASSERT_OK(ctx, ns__store_set_classes(s, 3, classes));
    s->target_names[0] = ns_strdup(ctx, "label");
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns__dataset_from_store(s, &ds));
    ns__store_release(s);
    return ds;
}

static void test_byte_images(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx(), *ctx2 = new_ctx();
    ns_dataset *ds = byte_images(ctx);
    ns_dataset *b = round_trip(ds, ctx2, "images.safetensors");
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, ns_test_tmp("images.safetensors"), &f));
    const ns_st_tensor *x = ns_st_find(f, "x");
    assert_non_null(x);
    assert_int_equal(x->dtype, NS_DTYPE_U8);
    assert_int_equal(x->ndim, 4);
    assert_int_equal(x->shape[0], 23);
    assert_int_equal(x->shape[3], 5);
    assert_int_equal(ns_st_find(f, "labels")->dtype, NS_DTYPE_I32);
    assert_null(ns_st_find(f, "y"));
    assert_non_null(ns_st_meta_find(f, "netsmith.dataset"));
    ns_st_close(f);
    ns_dataset_free(b);

    /* A shuffled split, normalised with a fit on byte values. */
    ns_split_options so;
    ns_split_options_default(&so);
    so.seed = 5;
    so.test = 0;
    ns_dataset *train = NULL, *val = NULL;
    NS_ASSERT_OK(ctx, ns_data_split(ds, &so, &train, &val, NULL));
    ns_norm norm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, train, NS_NORM_STANDARD, &norm));
    ns_dataset *nval = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(val, &norm, &nval));
    ns_norm_deinit(ctx, &norm);
    b = round_trip(nval, ctx2, "nval-images.safetensors");
    ns_dataset_free(b);
    ns_dataset_free(nval);
    ns_dataset_free(train);
    ns_dataset_free(val);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    ns_ctx_free(ctx2);
}

/* A dataset with no rows (a store of 0 rows) still round-trips. */
static void test_empty(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx(), *ctx2 = new_ctx();
    ns__data_store *s = NULL;
    int shape[1] = {3};
    NS_ASSERT_OK(ctx, ns__store_new(ctx, "empty", 0, 1, shape, false, NS_TASK_REGRESSION, 2, &s));
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns__dataset_from_store(s, &ds));
    ns__store_release(s);
    ns_dataset *b = round_trip(ds, ctx2, "empty.safetensors");
    assert_int_equal(ns_dataset_rows(b), 0);
    assert_int_equal(ns_dataset_target_count(b), 2);
    ns_dataset_free(b);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    ns_ctx_free(ctx2);
}

/* ns_data_load takes a dataset file by extension and by content. */
static void test_data_load(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = builtin(ctx, "iris");
    NS_ASSERT_OK(ctx, ns_dataset_save(ds, ns_test_tmp("iris.safetensors")));
    NS_ASSERT_OK(ctx, ns_dataset_save(ds, ns_test_tmp("iris.data")));
    static const char *const files[] = {"iris.safetensors", "iris.data"};
    for (int i = 0; i < 2; i++) {
        ns_dataset *b = NULL, *t = (ns_dataset *)1;
        NS_ASSERT_OK(ctx, ns_data_load(ctx, ns_test_tmp(files[i]), NULL, NULL, &b, &t));
        assert_null(t);
        assert_same_dataset(ds, b);
        ns_dataset_free(b);
    }
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* ---- damaged files -----------------------------------------------------------------------------
 */

/* Loading path fails with want and a message containing both needles. */
static void expect_bad(ns_ctx *ctx, const char *path, ns_status want, const char *n1,
                       const char *n2)
{
    ns_dataset *ds = (ns_dataset *)1;
    NS_ASSERT_STATUS(ctx, ns_dataset_load_file(ctx, path, &ds), want);
    assert_null(ds);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, n1);
    if (n2 != NULL)
        NS_ASSERT_MSG_HAS(ctx, n2);
}

static void test_bad_files(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *iris = builtin(ctx, "iris"), *boston = builtin(ctx, "boston_housing");
    const char *good_c = ns_test_tmp("good-iris.safetensors");
    const char *good_r = ns_test_tmp("good-boston.safetensors");
    NS_ASSERT_OK(ctx, ns_dataset_save(iris, good_c));
    NS_ASSERT_OK(ctx, ns_dataset_save(boston, good_r));
    ns_test_edit e;
    const char *bad = ns_test_tmp("bad.safetensors");

    /* Not a dataset file: a model file. */
    {
        ns_st_tensor w = {.name = "0.weight",
                          .dtype = NS_DTYPE_F32,
                          .ndim = 1,
                          .shape = {1},
                          .data = (float[]){1.0f},
                          .nbytes = 4};
        NS_ASSERT_OK(ctx, ns_st_write(ctx, bad, &w, 1, NULL, 0));
        expect_bad(ctx, bad, NS_ERR_PARSE, "not a netsmith dataset file", "netsmith.dataset");
    }
    /* Missing tensors. */
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_drop(&e, "labels");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "\"labels\"", "missing");
    ns_test_edit_load(ctx, good_r, &e);
    ns_test_edit_drop(&e, "x");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "\"x\"", "missing");
    /* A tensor the metadata does not call for. */
    ns_test_edit_load(ctx, good_r, &e);
    ns_test_edit_find(&e, "y")->name = "labels";
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "unexpected tensor \"labels\"", "regression");
    /* Wrong dtype of x and of the labels. */
    ns_test_edit_load(ctx, good_r, &e);
    ns_test_edit_find(&e, "x")->dtype = NS_DTYPE_I32;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "\"x\" is I32", "U8 (byte images) or F32");
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_find(&e, "labels")->dtype = NS_DTYPE_F32;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "\"labels\" is F32 [150]", "I32 [150]");
    /* Wrong shape: 2 features of 2 instead of 4. */
    ns_test_edit_load(ctx, good_c, &e);
    ns_st_tensor *x = ns_test_edit_find(&e, "x");
    x->ndim = 3;
    x->shape[1] = 2;
    x->shape[2] = 2;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "\"x\" is F32 [150, 2, 2]", "F32 [150, 4]");
    /* Row counts that disagree. */
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "rows", json_integer(151));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "has 150 rows", "says 151");
    /* Bad metadata: not JSON, an unknown key, a missing key, a bad task, bad names. */
    ns_test_edit_load(ctx, good_c, &e);
    for (int i = 0; i < e.nm; i++)
        if (strcmp(e.m[i].key, "netsmith.dataset") == 0)
            e.m[i].value = "{\"name\": ";
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "not valid JSON", NULL);
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "colour", json_string("blue"));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "unknown key \"colour\"", NULL);
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "classes", NULL);
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "classes", "missing");
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "task", json_string("clustering"));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "task", "\"classification\"");
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "class_names", json_pack("[ss]", "a", "b"));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "class_names", "3 strings");
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "version", json_integer(2));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "version 2", "newer netsmith");
    ns_test_edit_load(ctx, good_c, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "normalized", json_true());
    ns_test_edit_set_json(&e, "netsmith.dataset", "norm_kind", json_string("standard"));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "\"norm.shift\"", "missing");
    /* Values: a label outside the classes, a non-finite feature and target. */
    ns_test_edit_load(ctx, good_c, &e);
    int32_t *labels = ns_test_edit_own(&e, "labels");
    labels[17] = 3;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_INVALID, "labels[17] is 3", "3 classes");
    ns_test_edit_load(ctx, good_c, &e);
    labels = ns_test_edit_own(&e, "labels");
    labels[0] = -1;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_INVALID, "labels[0] is -1", NULL);
    ns_test_edit_load(ctx, good_r, &e);
    float *xs = ns_test_edit_own(&e, "x");
    xs[13 * 5 + 2] = NAN;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_INVALID, "x[5][2] is not finite", NULL);
    ns_test_edit_load(ctx, good_r, &e);
    float *ys = ns_test_edit_own(&e, "y");
    ys[9] = INFINITY;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_INVALID, "y[9][0] is not finite", NULL);

    /* A normalised view with a zero scale. */
    ns_norm norm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, boston, NS_NORM_MINMAX, &norm));
    ns_dataset *nb = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(boston, &norm, &nb));
    ns_norm_deinit(ctx, &norm);
    const char *good_n = ns_test_tmp("good-nboston.safetensors");
    NS_ASSERT_OK(ctx, ns_dataset_save(nb, good_n));
    ns_dataset_free(nb);
    ns_test_edit_load(ctx, good_n, &e);
    float *scale = ns_test_edit_own(&e, "norm.scale");
    scale[4] = 0.0f;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_INVALID, "feature 4", "non-zero");
    ns_test_edit_load(ctx, good_n, &e);
    ns_test_edit_set_json(&e, "netsmith.dataset", "norm_kind", json_string("robust"));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad(ctx, bad, NS_ERR_PARSE, "norm_kind", "\"minmax\"");

    /* A truncated file is caught by the safetensors reader. */
    FILE *in = fopen(good_r, "rb");
    assert_non_null(in);
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen(bad, "wb");
    assert_non_null(out);
    fwrite(buf, 1, got, out);
    fclose(out);
    expect_bad(ctx, bad, NS_ERR_FORMAT, "", NULL);
    /* A missing file. */
    ns_dataset *ds = NULL;
    NS_ASSERT_STATUS(ctx, ns_dataset_load_file(ctx, ns_test_tmp("nope.safetensors"), &ds),
                     NS_ERR_IO);

    ns_dataset_free(iris);
    ns_dataset_free(boston);
    ns_ctx_free(ctx);
}

/* A name that is not UTF-8 cannot go into JSON: a clear error, nothing written. */
static void test_bad_name_not_saved(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__data_store *s = NULL;
    int shape[1] = {2};
    NS_ASSERT_OK(ctx, ns__store_new(ctx, "t", 1, 1, shape, false, NS_TASK_REGRESSION, 1, &s));
    s->feature_names[1] = ns_strdup(ctx, "bad\xff");
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns__dataset_from_store(s, &ds));
    ns__store_release(s);
    NS_ASSERT_STATUS(ctx, ns_dataset_save(ds, ns_test_tmp("badname.safetensors")), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "feature name 1");
    assert_int_equal(access(ns_test_tmp("badname.safetensors"), F_OK), -1);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Every allocation of a save and a load may fail: NS_ERR_NOMEM, nothing leaks. */
static void test_out_of_memory(void **state)
{
    (void)state;
    ns_ctx *pctx = new_ctx();
    ns_dataset *src = builtin(pctx, "wine");
    ns_split_options so;
    ns_split_options_default(&so);
    ns_dataset *train = NULL;
    NS_ASSERT_OK(pctx, ns_data_split(src, &so, &train, NULL, NULL));
    ns_norm norm;
    NS_ASSERT_OK(pctx, ns_norm_fit(pctx, train, NS_NORM_STANDARD, &norm));
    ns_dataset *ntrain = NULL;
    NS_ASSERT_OK(pctx, ns_data_normalize(train, &norm, &ntrain));
    ns_norm_deinit(pctx, &norm);
    const char *path = ns_test_tmp("oom.safetensors");
    NS_ASSERT_OK(pctx, ns_dataset_save(ntrain, path));
    int failures = 0;
    for (size_t n = 1;; n++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        ta.fail_at = ta.calls + n;
        ns_dataset *ds = NULL;
        ns_status st = ns_dataset_load_file(ctx, path, &ds);
        if (st == NS_OK) {
            ta.fail_at = 0;
            assert_same_dataset(ntrain, ds);
            /* Saving from this context: its allocations may fail too. */
            ns_status ss = NS_ERR_NOMEM;
            for (size_t k = 1; ss != NS_OK; k++) {
                ta.fail_at = ta.calls + k;
                ss = ns_dataset_save(ds, ns_test_tmp("oom2.safetensors"));
                if (ss != NS_OK)
                    NS_ASSERT_STATUS(ctx, ss, NS_ERR_NOMEM);
                assert_true(k < 100);
            }
            ta.fail_at = 0;
            ns_dataset_free(ds);
            ns_ctx_free(ctx);
            assert_int_equal(ta.live, 0);
            break;
        }
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        assert_null(ds);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        failures++;
        assert_true(n < 1000);
    }
    assert_true(failures >= 5);
    ns_dataset_free(ntrain);
    ns_dataset_free(train);
    ns_dataset_free(src);
    ns_ctx_free(pctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_split_and_normalized_views),
        cmocka_unit_test(test_byte_images),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_data_load),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_name_not_saved),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
