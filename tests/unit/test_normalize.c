/* Normalize: kind names, standard and min-max statistics, constant features, byte images,
 * normalised views (composition with splits, replacement), JSON round trips and messages,
 * allocation failures. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_private.h"
#include "testutil.h"

/* A regression dataset from x[rows, f] (float), or from bytes xu[rows, f] when xu != NULL. */
static ns_dataset *make_ds(ns_ctx *ctx, int64_t rows, int f, const float *x, const uint8_t *xu)
{
    ns__data_store *s = NULL;
    int shape[1] = {f};
    NS_ASSERT_OK(
        ctx, ns__store_new(ctx, "table", rows, 1, shape, xu != NULL, NS_TASK_REGRESSION, 1, &s));
    if (xu != NULL && rows > 0)
        memcpy(s->xu, xu, (size_t)rows * (size_t)f);
    else if (rows > 0)
        memcpy(s->xf, x, (size_t)rows * (size_t)f * sizeof(float));
    for (int64_t i = 0; i < rows; i++)
        s->y[i] = (float)i;
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns__dataset_from_store(s, &ds));
    ns__store_release(s);
    return ds;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(ns_norm_kind_name(NS_NORM_NONE), "none");
    assert_string_equal(ns_norm_kind_name(NS_NORM_STANDARD), "standard");
    assert_string_equal(ns_norm_kind_name(NS_NORM_MINMAX), "minmax");
    assert_null(ns_norm_kind_name((ns_norm_kind)7));
    ns_norm_kind k = NS_NORM_NONE;
    assert_int_equal(ns_norm_kind_parse("minmax", &k), NS_OK);
    assert_int_equal(k, NS_NORM_MINMAX);
    assert_int_equal(ns_norm_kind_parse("min-max", &k), NS_OK);
    assert_int_equal(k, NS_NORM_MINMAX);
    assert_int_equal(ns_norm_kind_parse("zscore", &k), NS_OK);
    assert_int_equal(k, NS_NORM_STANDARD);
    assert_int_equal(ns_norm_kind_parse("none", &k), NS_OK);
    assert_int_equal(k, NS_NORM_NONE);
    assert_int_equal(ns_norm_kind_parse("Standard", &k), NS_ERR_NOTFOUND);
    assert_int_equal(ns_norm_kind_parse(NULL, &k), NS_ERR_NOTFOUND);
}

/* col 0: 1 2 3 4; col 1: constant 7; col 2: -1 1 -1 1 */
static const float table[4 * 3] = {1, 7, -1, 2, 7, 1, 3, 7, -1, 4, 7, 1};

static void test_standard(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 4, 3, table, NULL);
    ns_norm nm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &nm));
    assert_int_equal(nm.kind, NS_NORM_STANDARD);
    assert_int_equal(nm.features, 3);
    /* population std: sqrt(1.25) */
    NS_ASSERT_CLOSE(nm.shift[0], 2.5, 0, 0);
    NS_ASSERT_CLOSE(nm.scale[0], (float)(1.0 / sqrt(1.25)), 0, 0);
    /* constant: shifted to 0, scale 1 */
    NS_ASSERT_CLOSE(nm.shift[1], 7.0, 0, 0);
    NS_ASSERT_CLOSE(nm.scale[1], 1.0, 0, 0);
    NS_ASSERT_CLOSE(nm.shift[2], 0.0, 0, 0);
    NS_ASSERT_CLOSE(nm.scale[2], 1.0, 0, 0);

    ns_dataset *norm = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(ds, &nm, &norm));
    assert_int_equal(ns_dataset_rows(norm), 4);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < 4; i++) {
        float x[3], y;
        ns_dataset_row(norm, i, x, &y, NULL);
        assert_true(y == (float)i); /* targets untouched */
        assert_true(x[1] == 0.0f);
        NS_ASSERT_CLOSE(x[2], table[i * 3 + 2], 0, 0);
        sum += (double)x[0];
        sq += (double)x[0] * (double)x[0];
    }
    NS_ASSERT_CLOSE(sum / 4, 0.0, 0, 1e-6);
    NS_ASSERT_CLOSE(sq / 4, 1.0, 1e-6, 0);
    ns_dataset_free(norm);
    ns_norm_deinit(ctx, &nm);
    assert_null(nm.shift);
    ns_norm_deinit(ctx, &nm); /* twice is harmless */
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_minmax(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 4, 3, table, NULL);
    ns_norm nm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_MINMAX, &nm));
    assert_true(nm.shift[0] == 1.0f && nm.scale[0] == (float)(1.0 / 3.0));
    assert_true(nm.shift[1] == 7.0f && nm.scale[1] == 1.0f);
    assert_true(nm.shift[2] == -1.0f && nm.scale[2] == 0.5f);
    ns_dataset *norm = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(ds, &nm, &norm));
    float x[3];
    ns_dataset_row(norm, 0, x, NULL, NULL);
    assert_true(x[0] == 0.0f && x[1] == 0.0f && x[2] == 0.0f);
    ns_dataset_row(norm, 3, x, NULL, NULL);
    NS_ASSERT_CLOSE(x[0], 1.0, 1e-7, 0);
    assert_true(x[1] == 0.0f && x[2] == 1.0f);
    ns_dataset_free(norm);
    ns_norm_deinit(ctx, &nm);

    /* NS_NORM_NONE: an identity fit and a view without normalisation. */
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_NONE, &nm));
    assert_true(nm.shift[0] == 0.0f && nm.scale[0] == 1.0f);
    NS_ASSERT_OK(ctx, ns_data_normalize(ds, &nm, &norm));
    assert_int_equal(ns_dataset_hash(norm), ns_dataset_hash(ds));
    ns_dataset_free(norm);
    ns_norm_deinit(ctx, &nm);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* A constant feature whose mean does not come out exactly in double still gets scale 1. */
static void test_constant_feature_rounding(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float x[7];
    for (int i = 0; i < 7; i++)
        x[i] = 0.1f;
    ns_dataset *ds = make_ds(ctx, 7, 1, x, NULL);
    ns_norm nm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &nm));
    assert_true(nm.shift[0] == 0.1f && nm.scale[0] == 1.0f);
    ns_dataset *norm = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(ds, &nm, &norm));
    float v;
    ns_dataset_row(norm, 3, &v, NULL, NULL);
    assert_true(v == 0.0f);
    ns_dataset_free(norm);
    ns_norm_deinit(ctx, &nm);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_bytes_fit_scaled(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const uint8_t px[3 * 2] = {0, 9, 255, 9, 51, 9};
    ns_dataset *ds = make_ds(ctx, 3, 2, NULL, px);
    ns_norm nm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_MINMAX, &nm));
    assert_true(nm.shift[0] == 0.0f && nm.scale[0] == 1.0f); /* range 0..1 after /255 */
    assert_true(nm.shift[1] == 9.0f / 255.0f && nm.scale[1] == 1.0f);
    ns_norm_deinit(ctx, &nm);
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &nm));
    double v[3] = {0.0, 1.0, (double)(51.0f * (1.0f / 255.0f))};
    double mean = (v[0] + v[1] + v[2]) / 3, var = 0;
    for (int i = 0; i < 3; i++)
        var += (v[i] - mean) * (v[i] - mean) / 3;
    assert_true(nm.shift[0] == (float)mean);
    assert_true(nm.scale[0] == (float)(1.0 / sqrt(var)));
    ns_dataset *norm = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(ds, &nm, &norm));
    float x[2];
    ns_dataset_row(norm, 1, x, NULL, NULL);
    NS_ASSERT_CLOSE(x[0], (1.0 - mean) / sqrt(var), 1e-6, 0);
    assert_true(x[1] == 0.0f);
    ns_dataset_free(norm);
    ns_norm_deinit(ctx, &nm);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Split, fit on train, normalise train/val/test with the train fit: every row of every part is
 * (raw - shift) * scale, the fit matches statistics computed here over train's rows only, and
 * fitting ignores a view's normalisation. */
static void test_views_compose(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    enum { N = 200, FE = 4 };
    float *x = malloc(N * FE * sizeof *x);
    assert_non_null(x);
    ns_test_fill_uniform(x, N * FE, 11, -3.0f, 5.0f);
    for (int i = 0; i < N; i++)
        x[i * FE + 3] = x[i * FE + 3] * 100.0f + 1000.0f;
    ns_dataset *ds = make_ds(ctx, N, FE, x, NULL);
    ns_split_options o;
    ns_split_options_default(&o);
    o.seed = 4;
    ns_dataset *tr, *va, *te;
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &tr, &va, &te));
    ns_norm nm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, tr, NS_NORM_STANDARD, &nm));

    /* Reference statistics over train's rows, in double. */
    int64_t n = ns_dataset_rows(tr);
    double mean[FE] = {0}, var[FE] = {0};
    for (int64_t i = 0; i < n; i++) {
        float r[FE];
        ns_dataset_row(tr, i, r, NULL, NULL);
        for (int j = 0; j < FE; j++)
            mean[j] += (double)r[j];
    }
    for (int j = 0; j < FE; j++)
        mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        float r[FE];
        ns_dataset_row(tr, i, r, NULL, NULL);
        for (int j = 0; j < FE; j++)
            var[j] += ((double)r[j] - mean[j]) * ((double)r[j] - mean[j]);
    }
    for (int j = 0; j < FE; j++) {
        assert_true(nm.shift[j] == (float)mean[j]);
        assert_true(nm.scale[j] == (float)(1.0 / sqrt(var[j] / (double)n)));
    }

    ns_dataset *parts[3] = {tr, va, te}, *normed[3];
    for (int p = 0; p < 3; p++) {
        NS_ASSERT_OK(ctx, ns_data_normalize(parts[p], &nm, &normed[p]));
        assert_int_equal(ns_dataset_rows(normed[p]), ns_dataset_rows(parts[p]));
        assert_true(ns_dataset_hash(normed[p]) != ns_dataset_hash(parts[p]));
        for (int64_t i = 0; i < ns_dataset_rows(parts[p]); i++) {
            float raw[FE], got[FE];
            ns_dataset_row(parts[p], i, raw, NULL, NULL);
            ns_dataset_row(normed[p], i, got, NULL, NULL);
            for (int j = 0; j < FE; j++)
                assert_true(got[j] == (raw[j] - nm.shift[j]) * nm.scale[j]);
        }
    }
    /* Fitting a normalised view sees the raw stored values: the same fit. */
    ns_norm again;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, normed[0], NS_NORM_STANDARD, &again));
    assert_memory_equal(again.shift, nm.shift, FE * sizeof(float));
    assert_memory_equal(again.scale, nm.scale, FE * sizeof(float));
    ns_norm_deinit(ctx, &again);

    /* A split of a normalised view keeps its normalisation. */
    ns_dataset *sub = NULL;
    ns_split_options o2 = o;
    o2.train = 1.0;
    o2.val = o2.test = 0.0;
    NS_ASSERT_OK(ctx, ns_data_split(normed[1], &o2, &sub, NULL, NULL));
    int64_t sn = ns_dataset_rows(sub);
    assert_int_equal(sn, ns_dataset_rows(va));
    float sx[FE];
    ns_dataset_row(sub, 0, sx, NULL, NULL);
    bool found = false;
    for (int64_t i = 0; i < sn && !found; i++) {
        float vx[FE];
        ns_dataset_row(normed[1], i, vx, NULL, NULL);
        found = memcmp(vx, sx, sizeof sx) == 0;
    }
    assert_true(found);
    ns_dataset_free(sub);

    /* Normalising replaces an earlier normalisation rather than stacking on it. */
    ns_norm mm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, tr, NS_NORM_MINMAX, &mm));
    ns_dataset *re = NULL, *direct = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(normed[2], &mm, &re));
    NS_ASSERT_OK(ctx, ns_data_normalize(te, &mm, &direct));
    assert_int_equal(ns_dataset_hash(re), ns_dataset_hash(direct));
    float a[FE], b[FE];
    ns_dataset_row(re, 5, a, NULL, NULL);
    ns_dataset_row(direct, 5, b, NULL, NULL);
    assert_memory_equal(a, b, sizeof a);
    ns_dataset_free(re);
    ns_dataset_free(direct);
    ns_norm_deinit(ctx, &mm);

    for (int p = 0; p < 3; p++) {
        ns_dataset_free(normed[p]);
        ns_dataset_free(parts[p]);
    }
    ns_norm_deinit(ctx, &nm);
    ns_dataset_free(ds);
    free(x);
    ns_ctx_free(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 4, 3, table, NULL);
    ns_norm nm;
    NS_ASSERT_STATUS(ctx, ns_norm_fit(ctx, ds, (ns_norm_kind)9, &nm), NS_ERR_INVALID);
    ns_dataset *empty = make_ds(ctx, 0, 3, NULL, NULL);
    NS_ASSERT_STATUS(ctx, ns_norm_fit(ctx, empty, NS_NORM_STANDARD, &nm), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "no rows");
    assert_null(nm.shift);
    ns_dataset_free(empty);

    float bad[2 * 2] = {1, 2, 3, INFINITY};
    ns_dataset *inf = make_ds(ctx, 2, 2, bad, NULL);
    NS_ASSERT_STATUS(ctx, ns_norm_fit(ctx, inf, NS_NORM_MINMAX, &nm), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "feature 1");
    ns_dataset_free(inf);

    /* Feature counts must agree. */
    ns_dataset *two = make_ds(ctx, 2, 2, bad, NULL);
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &nm));
    ns_dataset *out = ds;
    NS_ASSERT_STATUS(ctx, ns_data_normalize(two, &nm, &out), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "3 features");
    assert_null(out);
    /* A hand-made fit with a zero scale is refused. */
    nm.scale[1] = 0.0f;
    NS_ASSERT_STATUS(ctx, ns_data_normalize(ds, &nm, &out), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "feature 1");
    char *json = NULL;
    NS_ASSERT_STATUS(ctx, ns_norm_to_json(ctx, &nm, &json), NS_ERR_INVALID);
    assert_null(json);
    ns_norm_deinit(ctx, &nm);
    ns_dataset_free(two);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void round_trip(ns_ctx *ctx, const ns_norm *nm)
{
    char *json = NULL;
    NS_ASSERT_OK(ctx, ns_norm_to_json(ctx, nm, &json));
    ns_norm back;
    NS_ASSERT_OK(ctx, ns_norm_from_json(ctx, json, "meta", &back));
    assert_int_equal(back.kind, nm->kind);
    assert_int_equal(back.features, nm->features);
    /* bit for bit, -0 included */
    assert_memory_equal(back.shift, nm->shift, (size_t)nm->features * sizeof(float));
    assert_memory_equal(back.scale, nm->scale, (size_t)nm->features * sizeof(float));
    ns_norm_deinit(ctx, &back);
    ns_dealloc(ctx, json);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float shift[] = {0.0f,     -0.0f,   0.1f,   1.0f / 3.0f,  16777217.0f, -2.5f, FLT_MAX,
                     -FLT_MAX, FLT_MIN, 1e-45f, 123456789.0f, 3.14159274f, 1e-7f, 5e-39f};
    float scale[] = {1.0f,   2.0f,    0.3f, 7e10f,           1e-30f,          -4.0f, FLT_MIN,
                     1e-45f, FLT_MAX, 0.5f, 1.17549421e-38f, 9.99999975e-06f, 33.0f, 1e38f};
    enum { K = sizeof shift / sizeof shift[0] };
    ns_norm nm = {NS_NORM_STANDARD, K, shift, scale};
    round_trip(ctx, &nm);

    char *json = NULL;
    float s1[2] = {2.5f, 0.1f}, c1[2] = {1.0f, 0.5f};
    ns_norm small = {NS_NORM_MINMAX, 2, s1, c1};
    NS_ASSERT_OK(ctx, ns_norm_to_json(ctx, &small, &json));
    assert_string_equal(json,
                        "{\"kind\": \"minmax\", \"shift\": [2.5, 0.1], \"scale\": [1.0, 0.5]}");
    ns_dealloc(ctx, json);

    /* Many random bit patterns. */
    enum { R = 4096 };
    float *a = malloc(R * sizeof *a), *b = malloc(R * sizeof *b);
    assert_true(a && b);
    ns_rng rng;
    ns_rng_init(&rng, 5, NS_RNG_USER, 1);
    for (int i = 0; i < R; i++) {
        do {
            uint32_t u = ns_rng_u32(&rng);
            memcpy(&a[i], &u, sizeof u);
        } while (!isfinite(a[i]));
        do {
            uint32_t u = ns_rng_u32(&rng);
            memcpy(&b[i], &u, sizeof u);
        } while (!isfinite(b[i]) || b[i] == 0.0f);
    }
    ns_norm big = {NS_NORM_STANDARD, R, a, b};
    round_trip(ctx, &big);
    free(a);
    free(b);
    ns_ctx_free(ctx);
}

static void expect_bad(ns_ctx *ctx, const char *json, const char *needle)
{
    static float dummy;
    ns_norm nm;
    nm.shift = nm.scale = &dummy; /* must be reset */
    ns_status st = ns_norm_from_json(ctx, json, "model.safetensors", &nm);
    if (st != NS_ERR_PARSE) {
        fprintf(stderr, "json %s: status %d (%s)\n", json, st, ns_errmsg(ctx));
        fail();
    }
    assert_null(nm.shift);
    assert_null(nm.scale);
    NS_ASSERT_MSG_HAS(ctx, "model.safetensors");
    NS_ASSERT_MSG_HAS(ctx, needle);
}

static void test_json_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [1.0,", "model.safetensors:1:");
    expect_bad(ctx, "[1, 2]", "expected an object");
    expect_bad(ctx, "{\"kind\": \"zcore\", \"shift\": [0], \"scale\": [1]}", "\"zcore\"");
    expect_bad(ctx, "{\"kind\": 3, \"shift\": [0], \"scale\": [1]}", "\"kind\" must be");
    expect_bad(ctx, "{\"shift\": [0], \"scale\": [1]}", "missing key \"kind\"");
    expect_bad(ctx, "{\"kind\": \"standard\", \"scale\": [1]}", "missing key \"shift\"");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [0]}", "missing key \"scale\"");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [0, 1], \"scale\": [1]}",
               "\"scale\" has 1 values but \"shift\" has 2");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [], \"scale\": []}", "non-empty array");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": 1, \"scale\": [1]}", "\"shift\" must be");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [0, \"a\"], \"scale\": [1, 1]}",
               "\"shift\"[1] is not a number");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [0, 1e39], \"scale\": [1, 1]}",
               "\"shift\"[1] = 1e+39 is not a finite float");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [0, 1], \"scale\": [1, 0.0]}",
               "\"scale\"[1] is 0");
    expect_bad(ctx, "{\"kind\": \"standard\", \"shift\": [0], \"scale\": [1], \"mean\": [0]}",
               "unknown key \"mean\"");
    expect_bad(ctx,
               "{\"kind\": \"standard\", \"kind\": \"minmax\", \"shift\": [0], \"scale\": [1]}",
               "kind");
    /* Integers are fine numbers; the source defaults to a generic name. */
    ns_norm nm;
    NS_ASSERT_OK(ctx,
                 ns_norm_from_json(ctx, "{\"scale\": [2], \"kind\": \"minmax\", \"shift\": [-1]}",
                                   NULL, &nm));
    assert_true(nm.kind == NS_NORM_MINMAX && nm.features == 1);
    assert_true(nm.shift[0] == -1.0f && nm.scale[0] == 2.0f);
    ns_norm_deinit(ctx, &nm);
    NS_ASSERT_STATUS(ctx, ns_norm_from_json(ctx, "{", NULL, &nm), NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "normalisation:1:");
    ns_ctx_free(ctx);
}

/* ---- allocation failures --------------------------------------------------------------------- */

/* Calls fn with the k-th allocation failing, k = 1, 2, ... until it succeeds; every failure must
 * be NS_ERR_NOMEM and leave nothing allocated. Returns the number of allocations it needs. */
typedef ns_status (*alloc_case)(ns_ctx *ctx, ns_dataset *ds, void *ud);

static int inject(alloc_case fn, void *ud)
{
    ns_test_alloc ta = {0};
    ns_allocator al = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
    ns_dataset *ds = make_ds(ctx, 4, 3, table, NULL);
    long live = ta.live;
    int k = 1;
    for (;; k++) {
        ta.fail_at = ta.calls + (size_t)k;
        ns_status st = fn(ctx, ds, ud);
        ta.fail_at = 0;
        assert_int_equal(ta.live, live);
        if (st == NS_OK)
            break;
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        assert_true(k < 50);
    }
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
    return k;
}

static ns_status case_fit(ns_ctx *ctx, ns_dataset *ds, void *ud)
{
    ns_norm nm;
    ns_status st = ns_norm_fit(ctx, ds, *(ns_norm_kind *)ud, &nm);
    if (st != NS_OK)
        assert_null(nm.shift);
    ns_norm_deinit(ctx, &nm);
    return st;
}

static ns_status case_normalize(ns_ctx *ctx, ns_dataset *ds, void *ud)
{
    (void)ctx; /* the dataset carries it */
    (void)ud;
    float shift[3] = {1, 2, 3}, scale[3] = {1, 1, 2};
    ns_norm nm = {NS_NORM_STANDARD, 3, shift, scale};
    /* through a view too, so the row index is copied */
    ns_dataset *train = NULL, *out = NULL;
    ns_split_options o;
    ns_split_options_default(&o);
    o.train = 1.0;
    o.val = o.test = 0.0;
    ns_status st = ns_data_split(ds, &o, &train, NULL, NULL);
    if (st == NS_OK)
        st = ns_data_normalize(train, &nm, &out);
    if (st != NS_OK)
        assert_null(out);
    ns_dataset_free(out);
    ns_dataset_free(train);
    return st;
}

static ns_status case_json(ns_ctx *ctx, ns_dataset *ds, void *ud)
{
    (void)ds;
    (void)ud;
    float shift[2] = {0.25f, -1}, scale[2] = {3, 0.5f};
    ns_norm nm = {NS_NORM_MINMAX, 2, shift, scale}, back;
    char *json = NULL;
    ns_status st = ns_norm_to_json(ctx, &nm, &json);
    if (st == NS_OK)
        st = ns_norm_from_json(ctx, json, "x", &back);
    if (st == NS_OK)
        ns_norm_deinit(ctx, &back);
    ns_dealloc(ctx, json);
    return st;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    ns_norm_kind std = NS_NORM_STANDARD, mm = NS_NORM_MINMAX;
    assert_true(inject(case_fit, &std) > 1);
    assert_true(inject(case_fit, &mm) > 1);
    assert_true(inject(case_normalize, NULL) > 1);
    assert_true(inject(case_json, NULL) > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),       cmocka_unit_test(test_standard),
        cmocka_unit_test(test_minmax),           cmocka_unit_test(test_constant_feature_rounding),
        cmocka_unit_test(test_bytes_fit_scaled), cmocka_unit_test(test_views_compose),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_errors),      cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
