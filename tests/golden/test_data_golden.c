/* Golden data tests on the built-in CSV files (data/NAME.csv, target = the last column):
 * - ns_norm_fit against numpy's mean, population std, min and max per feature
 *   (tools/fixtures_data.py -> tests/fixtures/data_norm.json);
 * - split membership and batch order against tests/fixtures/data_split.json, a regression
 *   fixture written once by netsmith itself (split and batch order come from our Philox streams,
 *   which the fixture script does not re-implement): part sizes, per-class counts, a hash of
 *   each part (ns_dataset_hash: the stored rows in order) and its first rows spelled out, and
 *   the rows of the first batches. Regenerate after an intended change of the algorithms (and
 *   say why in the commit) with: NS_WRITE_FIXTURES=1 build/tests/test_data_golden */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* numpy and netsmith both sum the float32 values in double (in other orders). */
#define RTOL 1e-6
#define ATOL 1e-12

static ns_dataset *load_csv(ns_ctx *ctx, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/data/%s", NS_SOURCE_DIR, file);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_csv(ctx, path, NULL, NULL, &ds));
    return ds;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

/* ---- normalisation statistics ---------------------------------------------------------------- */

static double at(json_t *obj, const char *key, size_t j)
{
    json_t *v = json_array_get(json_object_get(obj, key), j);
    assert_true(v != NULL && json_is_number(v));
    return json_number_value(v);
}

static void check_norm(const char *name)
{
    json_t *root = ns_test_json_load("data_norm.json");
    json_t *c = json_object_get(root, name);
    assert_non_null(c);
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = load_csv(ctx, json_string_value(json_object_get(c, "file")));
    json_t *names = json_object_get(c, "features");
    size_t f = json_array_size(names);
    assert_int_equal(ns_dataset_rows(ds), json_integer_value(json_object_get(c, "rows")));
    assert_int_equal(ns_dataset_feature_count(ds), f);
    for (size_t j = 0; j < f; j++)
        assert_string_equal(ns_dataset_feature_name(ds, (int)j),
                            json_string_value(json_array_get(names, j)));

    ns_norm st, mm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &st));
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_MINMAX, &mm));
    for (size_t j = 0; j < f; j++) {
        double mean = at(c, "mean", j), sd = at(c, "std", j);
        double lo = at(c, "min", j), hi = at(c, "max", j);
        NS_ASSERT_CLOSE(st.shift[j], mean, RTOL, ATOL);
        NS_ASSERT_CLOSE(1.0 / (double)st.scale[j], sd, RTOL, ATOL);
        NS_ASSERT_CLOSE(mm.shift[j], lo, 0, 0); /* a stored value, exactly */
        NS_ASSERT_CLOSE(1.0 / (double)mm.scale[j], hi - lo, RTOL, ATOL);
    }
    ns_norm_deinit(ctx, &st);
    ns_norm_deinit(ctx, &mm);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    json_decref(root);
}

static void test_norm_boston(void **state)
{
    (void)state;
    check_norm("boston_housing");
}
static void test_norm_breast_cancer(void **state)
{
    (void)state;
    check_norm("breast_cancer");
}
static void test_norm_iris(void **state)
{
    (void)state;
    check_norm("iris");
}
static void test_norm_wine(void **state)
{
    (void)state;
    check_norm("wine");
}

/* ---- split and batch regression fixture ------------------------------------------------------ */

#define FIRST_ROWS 20

/* The cases; their parameters are also written to the fixture and checked against it. */
typedef struct split_case {
    const char *name, *file;
    uint64_t seed;
    double ratios[3];
    bool stratify;
} split_case;

static const split_case split_cases[] = {
    {"iris_stratified", "iris.csv", 42, {0.7, 0.15, 0.15}, true},
    {"wine_stratified_two_parts", "wine.csv", 3, {0.8, 0.2, 0.0}, true},
    {"boston_unstratified", "boston_housing.csv", 42, {0.7, 0.15, 0.15}, false},
};

/* Batches of the train part of iris_stratified. */
#define BATCH_SEED 7
#define BATCH_SIZE 16
#define BATCH_EPOCHS 2
#define BATCH_COUNT 2

static const char *const part_names[3] = {"train", "val", "test"};

/* The double nearest the shortest decimal that reads back as v, so the fixture shows 5.1 and
 * not 5.0999999 (dumped with 9 digits). */
static double shortest(float v)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        double d = strtod(buf, NULL);
        if ((float)d == v)
            return d;
    }
    return (double)v;
}

/* A row as JSON: its features, then its class name (classification) or targets. */
static json_t *row_json(const ns_dataset *ds, const float *x, const float *y, int32_t label)
{
    json_t *r = json_array();
    for (int j = 0; j < ns_dataset_feature_count(ds); j++)
        json_array_append_new(r, json_real(shortest(x[j])));
    if (ns_dataset_task(ds) == NS_TASK_CLASSIFICATION)
        json_array_append_new(r, json_string(ns_dataset_class_name(ds, label)));
    else
        for (int t = 0; t < ns_dataset_target_count(ds); t++)
            json_array_append_new(r, json_real(shortest(y[t])));
    return r;
}

static json_t *view_row_json(const ns_dataset *ds, int64_t i)
{
    float x[64], y[8];
    int32_t label = 0;
    assert_true(ns_dataset_feature_count(ds) <= 64 && ns_dataset_target_count(ds) <= 8);
    ns_dataset_row(ds, i, x, y, &label);
    return row_json(ds, x, y, label);
}

/* Asserts that a row (features and class name or targets) matches the fixture's exactly. */
static void check_row(json_t *want, json_t *got, const char *where, int64_t i)
{
    if (!json_equal(want, got)) {
        char *w = json_dumps(want, JSON_COMPACT | JSON_REAL_PRECISION(9));
        char *g = json_dumps(got, JSON_COMPACT | JSON_REAL_PRECISION(9));
        fprintf(stderr, "%s row %lld: expected %s, got %s\n", where, (long long)i, w, g);
        free(w);
        free(g);
        fail();
    }
}

static json_t *part_json(const ns_dataset *part)
{
    json_t *p = json_object();
    json_object_set_new(p, "rows", json_integer(ns_dataset_rows(part)));
    char hash[32];
    snprintf(hash, sizeof hash, "%016" PRIx64, ns_dataset_hash(part));
    json_object_set_new(p, "hash", json_string(hash));
    if (ns_dataset_task(part) == NS_TASK_CLASSIFICATION) {
        json_t *counts = json_object();
        for (int c = 0; c < ns_dataset_class_count(part); c++)
            json_object_set_new(counts, ns_dataset_class_name(part, c), json_integer(0));
        for (int64_t i = 0; i < ns_dataset_rows(part); i++) {
            int32_t label;
            ns_dataset_row(part, i, NULL, NULL, &label);
            json_t *n = json_object_get(counts, ns_dataset_class_name(part, label));
            json_integer_set(n, json_integer_value(n) + 1);
        }
        json_object_set_new(p, "class_counts", counts);
    }
    json_t *rows = json_array();
    for (int64_t i = 0; i < ns_dataset_rows(part) && i < FIRST_ROWS; i++)
        json_array_append_new(rows, view_row_json(part, i));
    json_object_set_new(p, "first_rows", rows);
    return p;
}

static void split_of(ns_ctx *ctx, const split_case *sc, ns_dataset *ds, ns_dataset *parts[3])
{
    ns_split_options o;
    ns_split_options_default(&o);
    o.train = sc->ratios[0];
    o.val = sc->ratios[1];
    o.test = sc->ratios[2];
    o.seed = sc->seed;
    o.no_stratify = !sc->stratify;
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
}

static json_t *case_json(ns_ctx *ctx, const split_case *sc)
{
    ns_dataset *ds = load_csv(ctx, sc->file);
    ns_dataset *parts[3];
    split_of(ctx, sc, ds, parts);
    json_t *c = json_object();
    json_object_set_new(c, "file", json_string(sc->file));
    json_object_set_new(c, "seed", json_integer((json_int_t)sc->seed));
    json_object_set_new(c, "ratios",
                        json_pack("[fff]", sc->ratios[0], sc->ratios[1], sc->ratios[2]));
    json_object_set_new(c, "stratify", json_boolean(sc->stratify));
    json_t *pj = json_object();
    for (int p = 0; p < 3; p++) {
        if (parts[p] != NULL)
            json_object_set_new(pj, part_names[p], part_json(parts[p]));
        ns_dataset_free(parts[p]);
    }
    json_object_set_new(c, "parts", pj);
    ns_dataset_free(ds);
    return c;
}

/* The rows of the first BATCH_COUNT batches of BATCH_EPOCHS epochs of iris_stratified's train
 * part, read with the given prefetch depth. */
static json_t *batches_json(ns_ctx *ctx, int prefetch)
{
    const split_case *sc = &split_cases[0];
    ns_dataset *ds = load_csv(ctx, sc->file);
    ns_dataset *parts[3];
    split_of(ctx, sc, ds, parts);
    ns_batch_options o = {.batch_size = BATCH_SIZE, .seed = BATCH_SEED, .prefetch = prefetch};
    ns_batcher *b = NULL;
    NS_ASSERT_OK(ctx, ns_batcher_new(parts[0], &o, &b));
    json_t *epochs = json_array();
    for (int e = 0; e < BATCH_EPOCHS; e++) {
        json_t *batches = json_array();
        for (int i = 0; i < BATCH_COUNT; i++) {
            ns_batch bt;
            NS_ASSERT_OK(ctx, ns_batcher_get(b, e, i, &bt));
            json_t *rows = json_array();
            int f = ns_dataset_feature_count(parts[0]);
            for (int r = 0; r < bt.n; r++)
                json_array_append_new(
                    rows, row_json(parts[0], bt.x + (size_t)r * (size_t)f, NULL, bt.labels[r]));
            json_array_append_new(batches, rows);
        }
        json_array_append_new(epochs, batches);
    }
    ns_batcher_free(b);
    json_t *out = json_object();
    json_object_set_new(out, "case", json_string(sc->name));
    json_object_set_new(out, "part", json_string("train"));
    json_object_set_new(out, "seed", json_integer(BATCH_SEED));
    json_object_set_new(out, "batch_size", json_integer(BATCH_SIZE));
    json_object_set_new(out, "epochs", epochs);
    for (int p = 0; p < 3; p++)
        ns_dataset_free(parts[p]);
    ns_dataset_free(ds);
    return out;
}

static void write_fixture(ns_ctx *ctx)
{
    json_t *root = json_object();
    json_object_set_new(root, "about",
                        json_string("Regression fixture written by netsmith "
                                    "(NS_WRITE_FIXTURES=1 tests/golden/test_data_golden); "
                                    "see that file."));
    json_t *cases = json_object();
    for (size_t k = 0; k < sizeof split_cases / sizeof split_cases[0]; k++)
        json_object_set_new(cases, split_cases[k].name, case_json(ctx, &split_cases[k]));
    json_object_set_new(root, "splits", cases);
    json_object_set_new(root, "batches", batches_json(ctx, 0));
    const char *path = ns_test_fixture("data_split.json");
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(9)), 0);
    fprintf(stderr, "wrote %s\n", path);
    json_decref(root);
}

/* Compares a freshly computed object with the fixture's, naming the first difference. */
static void check_equal(json_t *want, json_t *got, const char *where)
{
    if (json_equal(want, got))
        return;
    if (json_is_object(want) && json_is_object(got)) {
        const char *key;
        json_t *w;
        json_object_foreach(want, key, w)
        {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", where, key);
            json_t *g = json_object_get(got, key);
            if (g == NULL) {
                fprintf(stderr, "%s: missing\n", sub);
                fail();
            }
            check_equal(w, g, sub);
        }
        fprintf(stderr, "%s: extra keys\n", where);
        fail();
    }
    if (json_is_array(want) && json_is_array(got) &&
        json_array_size(want) == json_array_size(got)) {
        for (size_t i = 0; i < json_array_size(want); i++) {
            json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
            if (json_is_array(w) && json_is_number(json_array_get(w, 0))) {
                check_row(w, g, where, (int64_t)i);
            } else {
                char sub[256];
                snprintf(sub, sizeof sub, "%s[%zu]", where, i);
                check_equal(w, g, sub);
            }
        }
        return;
    }
    char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    fprintf(stderr, "%s: expected %.200s, got %.200s\n", where, w, g);
    free(w);
    free(g);
    fail();
}

/* Reals in the fixture were printed with 9 digits from the shortest decimals: reading them
 * back gives the same doubles, so json_equal compares the float values exactly. */
static void test_split_fixture(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *w = getenv("NS_WRITE_FIXTURES");
    if (w != NULL && strcmp(w, "1") == 0)
        write_fixture(ctx);
    json_t *root = ns_test_json_load("data_split.json");
    json_t *cases = json_object_get(root, "splits");
    assert_non_null(cases);
    for (size_t k = 0; k < sizeof split_cases / sizeof split_cases[0]; k++) {
        json_t *want = json_object_get(cases, split_cases[k].name);
        assert_non_null(want);
        json_t *got = case_json(ctx, &split_cases[k]);
        check_equal(want, got, split_cases[k].name);
        json_decref(got);
    }
    json_t *want = json_object_get(root, "batches");
    assert_non_null(want);
    /* The prefetching path must give the same batches. */
    for (int prefetch = 0; prefetch <= 2; prefetch += 2) {
        json_t *got = batches_json(ctx, prefetch);
        check_equal(want, got, prefetch ? "batches (prefetch 2)" : "batches");
        json_decref(got);
    }
    json_decref(root);
    ns_ctx_free(ctx);
}

/* Splitting the built-in sets keeps each class's share (checked on the real files, with the
 * seed and ratios a user would pick). */
static void test_stratified_shares(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *files[] = {"iris.csv", "wine.csv", "breast_cancer.csv"};
    for (size_t k = 0; k < 3; k++) {
        ns_dataset *ds = load_csv(ctx, files[k]);
        assert_int_equal(ns_dataset_task(ds), NS_TASK_CLASSIFICATION);
        int classes = ns_dataset_class_count(ds);
        assert_true(classes >= 2 && classes <= 8);
        int64_t total[8] = {0}, n = ns_dataset_rows(ds);
        for (int64_t i = 0; i < n; i++) {
            int32_t label;
            ns_dataset_row(ds, i, NULL, NULL, &label);
            total[label]++;
        }
        ns_split_options o;
        ns_split_options_default(&o);
        o.seed = 1234;
        ns_dataset *parts[3];
        NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
        for (int p = 0; p < 3; p++) {
            int64_t size = ns_dataset_rows(parts[p]), got[8] = {0};
            for (int64_t i = 0; i < size; i++) {
                int32_t label;
                ns_dataset_row(parts[p], i, NULL, NULL, &label);
                got[label]++;
            }
            for (int c = 0; c < classes; c++) {
                double ideal = (double)total[c] * (double)size / (double)n;
                if (fabs((double)got[c] - ideal) >= 1.0) {
                    fprintf(stderr, "%s part %d class %d: %lld rows, ideal %g\n", files[k], p, c,
                            (long long)got[c], ideal);
                    fail();
                }
            }
            ns_dataset_free(parts[p]);
        }
        ns_dataset_free(ds);
    }
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_boston),   cmocka_unit_test(test_norm_breast_cancer),
        cmocka_unit_test(test_norm_iris),     cmocka_unit_test(test_norm_wine),
        cmocka_unit_test(test_split_fixture), cmocka_unit_test(test_stratified_shares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
