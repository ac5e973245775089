/* CSV loading: the built-in data files, RFC 4180 details, delimiters, choosing targets and
 * features, one-hot, missing values, class inference, strict and correctly rounded numbers, a
 * table of bad inputs with their messages, allocation-failure injection, cancellation and a
 * deterministic mutation loop that must never crash (run it under ASan). */
#include <locale.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns_csv_options defaults(void)
{
    ns_csv_options o;
    ns_csv_options_default(&o);
    return o;
}

/* Parses text that must load. opts may be NULL. */
static ns_dataset *parse_ok(ns_ctx *ctx, const char *text, const ns_csv_options *opts)
{
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, strlen(text), "t.csv", opts, NULL, &ds));
    assert_non_null(ds);
    return ds;
}

static ns_dataset *load_ok(ns_ctx *ctx, const char *file, const ns_csv_options *opts)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/%s", NS_SOURCE_DIR, file);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_csv(ctx, path, opts, NULL, &ds));
    assert_non_null(ds);
    return ds;
}

static void row(const ns_dataset *ds, int64_t r, float *x, float *y, int32_t *label)
{
    ns_dataset_row(ds, r, x, y, label);
}

static void assert_features(const ns_dataset *ds, const char *const *names, int n)
{
    assert_int_equal(ns_dataset_feature_count(ds), n);
    for (int i = 0; i < n; i++)
        assert_string_equal(ns_dataset_feature_name(ds, i), names[i]);
}

static void assert_classes(const ns_dataset *ds, const char *const *names, int n)
{
    assert_int_equal(ns_dataset_task(ds), NS_TASK_CLASSIFICATION);
    assert_int_equal(ns_dataset_class_count(ds), n);
    for (int i = 0; i < n; i++)
        assert_string_equal(ns_dataset_class_name(ds, i), names[i]);
}

/* ---- the built-in data files ----------------------------------------------------------------- */

static void test_options_default(void **state)
{
    (void)state;
    ns_csv_options o;
    memset(&o, 0x5a, sizeof o);
    ns_csv_options_default(&o);
    assert_int_equal(o.delimiter, 0);
    assert_false(o.no_header);
    assert_null(o.target);
    assert_null(o.features);
    assert_null(o.exclude);
    assert_int_equal(o.task, NS_TASK_AUTO);
    assert_int_equal(o.max_classes, 20);
    assert_false(o.one_hot);
    assert_int_equal(o.missing, NS_MISSING_ERROR);
}

static void test_boston(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = load_ok(ctx, "boston_housing.csv", NULL);
    assert_string_equal(ns_dataset_name(ds), "boston_housing");
    assert_int_equal(ns_dataset_rows(ds), 506);
    assert_int_equal(ns_dataset_feature_count(ds), 13);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    assert_int_equal(ns_dataset_target_count(ds), 1);
    assert_int_equal(ns_dataset_class_count(ds), 0);
    assert_string_equal(ns_dataset_target_name(ds, 0), "MEDV");
    assert_string_equal(ns_dataset_feature_name(ds, 0), "CRIM");
    assert_string_equal(ns_dataset_feature_name(ds, 12), "LSTAT");
    float x[13], y;
    row(ds, 0, x, &y, NULL);
    const float first[13] = {0.00632f, 18, 2.31f, 0,     0.538f, 6.575f, 65.2f,
                             4.09f,    1,  296,   15.3f, 396.9f, 4.98f};
    for (int i = 0; i < 13; i++)
        assert_true(x[i] == first[i]);
    assert_true(y == 24.0f);
    row(ds, 505, x, &y, NULL);
    assert_true(x[0] == 0.04741f && x[12] == 7.88f && y == 11.9f);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_wine(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = load_ok(ctx, "wine.csv", NULL);
    assert_int_equal(ns_dataset_rows(ds), 178);
    assert_int_equal(ns_dataset_feature_count(ds), 13);
    assert_classes(ds, (const char *const[]){"0", "1", "2"}, 3);
    assert_string_equal(ns_dataset_target_name(ds, 0), "class");
    float x[13];
    int32_t label = -1;
    row(ds, 0, x, NULL, &label);
    assert_true(x[0] == 14.23f && x[12] == 1065.0f);
    assert_int_equal(label, 0);
    row(ds, 177, x, NULL, &label);
    assert_true(x[0] == 14.13f && x[12] == 560.0f);
    assert_int_equal(label, 2);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_iris(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = load_ok(ctx, "iris.csv", NULL);
    assert_int_equal(ns_dataset_rows(ds), 150);
    assert_features(
        ds, (const char *const[]){"sepal_length", "sepal_width", "petal_length", "petal_width"}, 4);
    assert_classes(ds, (const char *const[]){"setosa", "versicolor", "virginica"}, 3);
    float x[4];
    int32_t label;
    row(ds, 0, x, NULL, &label);
    assert_true(x[0] == 5.1f && x[1] == 3.5f && x[2] == 1.4f && x[3] == 0.2f);
    assert_int_equal(label, 0);
    row(ds, 149, x, NULL, &label);
    assert_true(x[0] == 5.9f && x[3] == 1.8f);
    assert_int_equal(label, 2);
    int counts[3] = {0, 0, 0};
    for (int64_t r = 0; r < 150; r++) {
        row(ds, r, NULL, NULL, &label);
        counts[label]++;
    }
    assert_int_equal(counts[0], 50);
    assert_int_equal(counts[1], 50);
    assert_int_equal(counts[2], 50);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_breast_cancer(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = load_ok(ctx, "breast_cancer.csv", NULL);
    assert_int_equal(ns_dataset_rows(ds), 569);
    assert_int_equal(ns_dataset_feature_count(ds), 30);
    assert_classes(ds, (const char *const[]){"benign", "malignant"}, 2);
    assert_string_equal(ns_dataset_target_name(ds, 0), "diagnosis");
    float x[30];
    int32_t label;
    row(ds, 0, x, NULL, &label);
    assert_true(x[0] == 17.99f && x[29] == 0.1189f);
    assert_int_equal(label, 1);
    row(ds, 568, x, NULL, &label);
    assert_true(x[0] == 7.76f);
    assert_int_equal(label, 0);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* The file path (mapped) and the same bytes in memory give the same dataset. */
static void test_file_and_memory_agree(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    char path[1024];
    snprintf(path, sizeof path, "%s/data/iris.csv", NS_SOURCE_DIR);
    char *text = NULL;
    size_t len = 0;
    NS_ASSERT_OK(ctx, ns_read_file(ctx, path, &text, &len));
    ns_dataset *a = load_ok(ctx, "iris.csv", NULL), *b = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, len, "iris", NULL, NULL, &b));
    assert_true(ns_dataset_hash(a) == ns_dataset_hash(b));
    assert_string_equal(ns_dataset_name(b), "iris");
    ns_dealloc(ctx, text);
    ns_dataset_free(a);
    ns_dataset_free(b);

    ns_dataset *ds = (ns_dataset *)&ds;
    NS_ASSERT_STATUS(ctx, ns_data_load_csv(ctx, "/nonexistent/x.csv", NULL, NULL, &ds), NS_ERR_IO);
    assert_null(ds);
    NS_ASSERT_MSG_HAS(ctx, "/nonexistent/x.csv");
    /* An empty file on disk is the empty-file error, not an I/O error. */
    char tmp[] = "/tmp/ns_csv_emptyXXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    NS_ASSERT_STATUS(ctx, ns_data_load_csv(ctx, tmp, NULL, NULL, &ds), NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "empty");
    unlink(tmp);
    ns_ctx_free(ctx);
}

/* ---- RFC 4180 -------------------------------------------------------------------------------- */

static void test_quoting(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    /* quoted numbers, doubled quotes, a newline and the delimiter inside quotes, CRLF, blanks */
    const char *text = "\xEF\xBB\xBF\"x 1\",\"x\"\"2\",label\r\n"
                       "\"1.5\", 2 ,\"a,\"\"b\"\"\"\r\n"
                       "  3 ,\"4\" ,\"multi\r\nline\"\r\n"
                       "5,6,plain\r\n";
    ns_dataset *ds = parse_ok(ctx, text, NULL);
    assert_int_equal(ns_dataset_rows(ds), 3);
    assert_features(ds, (const char *const[]){"x 1", "x\"2"}, 2);
    assert_string_equal(ns_dataset_target_name(ds, 0), "label");
    assert_classes(ds, (const char *const[]){"a,\"b\"", "multi\r\nline", "plain"}, 3);
    float x[2];
    int32_t label;
    row(ds, 0, x, NULL, &label);
    assert_true(x[0] == 1.5f && x[1] == 2.0f);
    assert_int_equal(label, 0);
    row(ds, 1, x, NULL, &label);
    assert_true(x[0] == 3.0f && x[1] == 4.0f);
    assert_int_equal(label, 1);
    row(ds, 2, x, NULL, &label);
    assert_int_equal(label, 2);
    ns_dataset_free(ds);

    /* No final line end, blank lines between rows, lone CR line ends. */
    ds = parse_ok(ctx, "a,b\n\n1,2\n\n\n3,4", NULL);
    assert_int_equal(ns_dataset_rows(ds), 2);
    ns_dataset_free(ds);
    ds = parse_ok(ctx, "a,b\r1,2\r3,4\r", NULL);
    assert_int_equal(ns_dataset_rows(ds), 2);
    ns_dataset_free(ds);
    /* more rows than '\n's (the one-pass load sizes its rows by them, then falls back) */
    ds = parse_ok(ctx, "a,b\n1,2\r3,4\r5,6\r7,8", NULL);
    assert_int_equal(ns_dataset_rows(ds), 4);
    float v;
    int32_t k;
    row(ds, 3, &v, NULL, &k);
    assert_true(v == 7.0f);
    assert_string_equal(ns_dataset_class_name(ds, k), "8");
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_no_header(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_csv_options o = defaults();
    o.no_header = true;
    o.task = NS_TASK_REGRESSION;
    ns_dataset *ds = parse_ok(ctx, "1,2,3\n4,5,6\n", &o);
    assert_int_equal(ns_dataset_rows(ds), 2);
    assert_features(ds, (const char *const[]){"0", "1"}, 2);
    assert_string_equal(ns_dataset_target_name(ds, 0), "2");
    float x[2], y;
    row(ds, 0, x, &y, NULL);
    assert_true(x[0] == 1.0f && x[1] == 2.0f && y == 3.0f);
    ns_dataset_free(ds);
    o.target = "0";
    ds = parse_ok(ctx, "1,2,3\n4,5,6\n", &o);
    row(ds, 1, x, &y, NULL);
    assert_true(x[0] == 5.0f && x[1] == 6.0f && y == 4.0f);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_delimiters(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    static const char *texts[] = {
        "a;b;c\n1.5;2;0.25\n3;4;0.5\n",
        "a\tb\tc\n1.5\t2\t0.25\n3\t4\t0.5\n",
        "a,b,c\n1.5,2,0.25\n3,4,0.5\n",
        /* a ';' file whose header has a comma in a quoted name */
        "\"a,x\";b;c\n1.5;2;0.25\n3;4;0.5\n",
    };
    static const char delims[] = {';', '\t', ',', ';'};
    for (int i = 0; i < 4; i++) {
        for (int given = 0; given < 2; given++) {
            ns_csv_options o = defaults();
            o.delimiter = given ? delims[i] : 0;
            ns_dataset *ds = parse_ok(ctx, texts[i], &o);
            assert_int_equal(ns_dataset_rows(ds), 2);
            assert_int_equal(ns_dataset_feature_count(ds), 2);
            float x[2], y;
            row(ds, 0, x, &y, NULL);
            assert_true(x[0] == 1.5f && x[1] == 2.0f && y == 0.25f);
            ns_dataset_free(ds);
        }
    }
    /* Given the wrong delimiter: one column. */
    ns_csv_options o = defaults();
    o.delimiter = ',';
    ns_dataset *ds = NULL;
    NS_ASSERT_STATUS(ctx,
                     ns_data_parse_csv(ctx, texts[0], strlen(texts[0]), "t.csv", &o, NULL, &ds),
                     NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "single column");
    ns_ctx_free(ctx);
}

/* ---- choosing columns ------------------------------------------------------------------------ */

static const char *s_table = "a,b,c,y1,y2\n"
                             "1,2,3,0.5,10\n"
                             "4,5,6,1.5,20\n";

static void test_targets(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_csv_options o = defaults();
    o.target = "y1,y2";
    ns_dataset *ds = parse_ok(ctx, s_table, &o);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    assert_int_equal(ns_dataset_target_count(ds), 2);
    assert_string_equal(ns_dataset_target_name(ds, 0), "y1");
    assert_string_equal(ns_dataset_target_name(ds, 1), "y2");
    assert_features(ds, (const char *const[]){"a", "b", "c"}, 3);
    float x[3], y[2];
    row(ds, 1, x, y, NULL);
    assert_true(x[0] == 4.0f && x[2] == 6.0f && y[0] == 1.5f && y[1] == 20.0f);
    ns_dataset_free(ds);

    /* by index, in the given order (spaces around list items are fine) */
    o.target = "4, 1";
    ds = parse_ok(ctx, s_table, &o);
    assert_string_equal(ns_dataset_target_name(ds, 0), "y2");
    assert_string_equal(ns_dataset_target_name(ds, 1), "b");
    assert_features(ds, (const char *const[]){"a", "c", "y1"}, 3);
    row(ds, 0, x, y, NULL);
    assert_true(x[2] == 0.5f && y[0] == 10.0f && y[1] == 2.0f);
    ns_dataset_free(ds);

    /* one target by name: the integer column 'a' with 2 values is classification */
    o.target = "a";
    ds = parse_ok(ctx, s_table, &o);
    assert_classes(ds, (const char *const[]){"1", "4"}, 2);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_features_and_exclude(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_csv_options o = defaults();
    o.target = "y1";
    o.features = "c,a";
    ns_dataset *ds = parse_ok(ctx, s_table, &o);
    assert_features(ds, (const char *const[]){"c", "a"}, 2);
    float x[2], y;
    row(ds, 1, x, &y, NULL);
    assert_true(x[0] == 6.0f && x[1] == 4.0f && y == 1.5f);
    ns_dataset_free(ds);

    o = defaults();
    o.exclude = "b,y1";
    o.task = NS_TASK_REGRESSION;
    ds = parse_ok(ctx, s_table, &o);
    assert_features(ds, (const char *const[]){"a", "c"}, 2);
    assert_string_equal(ns_dataset_target_name(ds, 0), "y2");
    row(ds, 0, x, &y, NULL);
    assert_true(x[0] == 1.0f && x[1] == 3.0f && y == 10.0f);
    ns_dataset_free(ds);

    /* Excluded and unused columns are not typed: text there is fine. */
    o = defaults();
    o.exclude = "name";
    ds = parse_ok(ctx, "name,x,y\nbob,1,0.5\n\"ann, jr\",2,1.5\n", &o);
    assert_features(ds, (const char *const[]){"x"}, 1);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_one_hot(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_csv_options o = defaults();
    o.one_hot = true;
    const char *text = "size,color,price\n"
                       "1,red,2.5\n"
                       "2,blue,3.5\n"
                       "3,\"red\",4.5\n"
                       "4,green,5.5\n";
    ns_dataset *ds = parse_ok(ctx, text, &o);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    assert_features(ds, (const char *const[]){"size", "color=blue", "color=green", "color=red"}, 4);
    float x[4], y;
    row(ds, 0, x, &y, NULL);
    assert_true(x[0] == 1.0f && x[1] == 0.0f && x[2] == 0.0f && x[3] == 1.0f && y == 2.5f);
    row(ds, 1, x, &y, NULL);
    assert_true(x[1] == 1.0f && x[2] == 0.0f && x[3] == 0.0f);
    row(ds, 3, x, &y, NULL);
    assert_true(x[1] == 0.0f && x[2] == 1.0f && x[3] == 0.0f && y == 5.5f);
    ns_dataset_free(ds);

    /* a missing one-hot value under fill_mean: each of its columns gets its mean */
    o.missing = NS_MISSING_FILL_MEAN;
    ds = parse_ok(ctx, "c,y\nred,1\nblue,2\n,3\nred,4\n", &o);
    assert_features(ds, (const char *const[]){"c=blue", "c=red"}, 2);
    row(ds, 2, x, &y, NULL);
    NS_ASSERT_CLOSE(x[0], 1.0 / 3.0, 1e-6, 0);
    NS_ASSERT_CLOSE(x[1], 2.0 / 3.0, 1e-6, 0);
    ns_dataset_free(ds);

    /* text late in a column that looked numeric: every value is a category */
    ds = parse_ok(ctx, "c,y\n2,1.5\n1,2.5\n1,3.5\nx,4.5\n", &o);
    assert_features(ds, (const char *const[]){"c=1", "c=2", "c=x"}, 3);
    row(ds, 0, x, &y, NULL);
    assert_true(x[0] == 0.0f && x[1] == 1.0f && x[2] == 0.0f && y == 1.5f);
    row(ds, 3, x, &y, NULL);
    assert_true(x[0] == 0.0f && x[1] == 0.0f && x[2] == 1.0f && y == 4.5f);
    ns_dataset_free(ds);

    /* Without one_hot the text column is an error that says what to do. */
    ds = NULL;
    NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, text, strlen(text), "t.csv", NULL, NULL, &ds),
                     NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "line 2, column 2 (\"color\")");
    NS_ASSERT_MSG_HAS(ctx, "one_hot");
    NS_ASSERT_MSG_HAS(ctx, "exclude");
    ns_ctx_free(ctx);
}

/* ---- missing values -------------------------------------------------------------------------- */

static void test_missing(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *text = "a,b,y\n"
                       "1,,0.5\n"
                       "3,4,1.5\n"
                       "NA,8,2.5\n"
                       "5,nan,\n"
                       "N/A,NaN,3.5\n";
    ns_dataset *ds = NULL;
    NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, text, strlen(text), "t.csv", NULL, NULL, &ds),
                     NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "t.csv: line 2, column 2 (\"b\"): missing value");
    NS_ASSERT_MSG_HAS(ctx, "drop");

    ns_csv_options o = defaults();
    o.missing = NS_MISSING_DROP;
    ds = parse_ok(ctx, text, &o);
    assert_int_equal(ns_dataset_rows(ds), 1);
    float x[2], y;
    row(ds, 0, x, &y, NULL);
    assert_true(x[0] == 3.0f && x[1] == 4.0f && y == 1.5f);
    ns_dataset_free(ds);

    /* fill_mean: feature gaps get the mean of the kept rows; a row without a target drops */
    o.missing = NS_MISSING_FILL_MEAN;
    ds = parse_ok(ctx, text, &o);
    assert_int_equal(ns_dataset_rows(ds), 4);
    const float want[4][3] = {{1, 6, 0.5f}, {3, 4, 1.5f}, {2, 8, 2.5f}, {2, 6, 3.5f}};
    for (int r = 0; r < 4; r++) {
        row(ds, r, x, &y, NULL);
        assert_true(x[0] == want[r][0] && x[1] == want[r][1] && y == want[r][2]);
    }
    ns_dataset_free(ds);

    /* a text target: missing labels drop under both policies */
    ds = parse_ok(ctx, "a,y\n1,cat\n2,\n3,dog\n", &o);
    assert_int_equal(ns_dataset_rows(ds), 2);
    assert_classes(ds, (const char *const[]){"cat", "dog"}, 2);
    ns_dataset_free(ds);
    /* labels seen only in dropped rows are not classes */
    o.missing = NS_MISSING_DROP;
    ds = parse_ok(ctx, "a,y\n1,cat\n,bird\n3,dog\n", &o);
    assert_classes(ds, (const char *const[]){"cat", "dog"}, 2);
    ns_dataset_free(ds);
    ds = parse_ok(ctx, "a,y\n1,1\n,7\n3,2\n", &o);
    assert_classes(ds, (const char *const[]){"1", "2"}, 2);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* ---- classes --------------------------------------------------------------------------------- */

static void test_class_inference(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *ints = "a,y\n1,10\n2,-1\n3,2\n4,10\n";
    ns_dataset *ds = parse_ok(ctx, ints, NULL);
    assert_classes(ds, (const char *const[]){"-1", "2", "10"}, 3); /* numeric order */
    int32_t label;
    const int32_t want[4] = {2, 0, 1, 2};
    for (int r = 0; r < 4; r++) {
        row(ds, r, NULL, NULL, &label);
        assert_int_equal(label, want[r]);
    }
    ns_dataset_free(ds);

    ns_csv_options o = defaults();
    o.task = NS_TASK_REGRESSION;
    ds = parse_ok(ctx, ints, &o);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    float y;
    row(ds, 1, NULL, &y, NULL);
    assert_true(y == -1.0f);
    ns_dataset_free(ds);

    /* more distinct values than max_classes: regression */
    o = defaults();
    o.max_classes = 2;
    ds = parse_ok(ctx, ints, &o);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    ns_dataset_free(ds);

    /* 25 distinct integers: regression by default; forced classification keeps them all */
    char text[1024] = "a,y\n";
    for (int i = 0; i < 25; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d\n", i, 24 - i);
    ds = parse_ok(ctx, text, NULL);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    ns_dataset_free(ds);
    o = defaults();
    o.task = NS_TASK_CLASSIFICATION;
    ds = parse_ok(ctx, text, &o);
    assert_int_equal(ns_dataset_class_count(ds), 25);
    assert_string_equal(ns_dataset_class_name(ds, 24), "24");
    row(ds, 0, NULL, NULL, &label);
    assert_int_equal(label, 24);
    ns_dataset_free(ds);

    /* integers that a float cannot hold apart, and -0 as 0 */
    ds = parse_ok(ctx, "a,y\n1,16777217\n2,16777219\n3,16777217\n", NULL);
    assert_classes(ds, (const char *const[]){"16777217", "16777219"}, 2);
    const int32_t big[3] = {0, 1, 0};
    for (int r = 0; r < 3; r++) {
        row(ds, r, NULL, NULL, &label);
        assert_int_equal(label, big[r]);
    }
    ns_dataset_free(ds);
    ds = parse_ok(ctx, "a,y\n1,-0\n2,1\n3,0\n", NULL);
    assert_classes(ds, (const char *const[]){"0", "1"}, 2);
    row(ds, 0, NULL, NULL, &label);
    assert_int_equal(label, 0);
    ns_dataset_free(ds);

    /* decimals are regression unless forced; forced, numbers are class names */
    const char *dec = "a,y\n1,0.5\n2,1.5\n3,0.5\n";
    ds = parse_ok(ctx, dec, NULL);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    ns_dataset_free(ds);
    ds = parse_ok(ctx, dec, &o);
    assert_classes(ds, (const char *const[]){"0.5", "1.5"}, 2);
    ns_dataset_free(ds);

    /* forced classification of a mixed column: every value is a class name (sorted bytewise) */
    ds = parse_ok(ctx, "a,y\n1,10\n2,9\n3,x\n", &o);
    assert_classes(ds, (const char *const[]){"10", "9", "x"}, 3);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* ---- numbers --------------------------------------------------------------------------------- */

/* Parses each string as feature a of its own row and compares with strtof (C locale). */
static void check_numbers(ns_ctx *ctx, const char *const *nums, int n)
{
    size_t cap = 16;
    for (int i = 0; i < n; i++)
        cap += strlen(nums[i]) + 8;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t o = (size_t)snprintf(text, cap, "a,y\n");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s,0.5\n", nums[i]);
    ns_dataset *ds = parse_ok(ctx, text, NULL);
    assert_int_equal(ns_dataset_rows(ds), n);
    for (int i = 0; i < n; i++) {
        float x;
        row(ds, i, &x, NULL, NULL);
        float want = strtof(nums[i], NULL);
        if (memcmp(&x, &want, sizeof x) != 0) {
            fprintf(stderr, "\"%s\": got %.9g, strtof gives %.9g\n", nums[i], (double)x,
                    (double)want);
            fail();
        }
    }
    ns_dataset_free(ds);
    free(text);
}

static void test_numbers(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    static const char *const nums[] = {
        "0", "-0", "+2.5", "1.", ".5", "-.5", "3.14159", "1e3", "1E-3", "2.5e+2", "0.1", "007",
        "123456789", "16777217", "16777219", "4294967297", "9007199254740993", "1.17549435e-38",
        "1e-45", "1.4e-45", "1e-50", "3.4028234e38", "3.4028235e38",
        "7.038531e-26",                       /* double rounding via strtod gives the wrong float */
        "1.0000000596046448",                 /* a double on a float midpoint; true value above */
        "1.0000000596046446",                 /* ... and below */
        "1.000000059604644775390625",         /* exactly the midpoint: even */
        "1.00000005960464477539062500000001", /* just above */
        "0.000000000000000000000000000001", "123456789012345678901234567890", "9999999999999999999",
        "99999999999999999999", "1e22", "1e23", "1e-22", "1e-23",
        /* padded and quoted: checked separately */
        " 1.5", "1.5 ", "\t2", "\" 3.25 \"", "\"4\""};
    int n = (int)(sizeof nums / sizeof nums[0]);
    check_numbers(ctx, nums, n - 5); /* the padded and quoted forms follow */
    ns_dataset *ds = parse_ok(ctx, "a,y\n 1.5,1\n1.5 ,1\n\t2,1\n\" 3.25 \",1\n\"4\",1\n", NULL);
    const float pad[5] = {1.5f, 1.5f, 2.0f, 3.25f, 4.0f};
    for (int i = 0; i < 5; i++) {
        float x;
        row(ds, i, &x, NULL, NULL);
        assert_true(x == pad[i]);
    }
    ns_dataset_free(ds);

    /* random decimals of every length and exponent, through the fast and the slow path */
    enum { N = 20000 };
    char **rnd = malloc(N * sizeof *rnd);
    assert_non_null(rnd);
    ns_rng rng;
    ns_rng_init(&rng, 7, NS_RNG_USER, 1);
    for (int i = 0; i < N; i++) {
        char buf[64];
        size_t o = 0;
        if (ns_rng_below(&rng, 4) == 0)
            buf[o++] = '-';
        int digits = 1 + (int)ns_rng_below(&rng, 24);
        int point = (int)ns_rng_below(&rng, (uint32_t)digits + 1);
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                buf[o++] = '.';
            buf[o++] = (char)('0' + ns_rng_below(&rng, 10));
        }
        if (ns_rng_below(&rng, 3) == 0)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "e%d", (int)ns_rng_below(&rng, 80) - 45);
        buf[o] = '\0';
        if (isinf(strtof(buf, NULL))) { /* beyond float: an error, tested elsewhere */
            i--;
            continue;
        }
        rnd[i] = strdup(buf);
        assert_non_null(rnd[i]);
    }
    check_numbers(ctx, (const char *const *)rnd, N);
    for (int i = 0; i < N; i++)
        free(rnd[i]);
    free(rnd);
    ns_ctx_free(ctx);
}

/* The application's locale (a comma decimal point) does not change what is parsed. */
static void test_locale_independent(void **state)
{
    (void)state;
    static const char *const locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                          "ru_RU.UTF-8"};
    const char *set = NULL;
    for (int i = 0; i < 4 && set == NULL; i++)
        set = setlocale(LC_NUMERIC, locales[i]);
    if (set == NULL) {
        /* No such locale installed: at least check a plain C locale app. */
        setlocale(LC_NUMERIC, "C");
    }
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = parse_ok(ctx, "a,y\n1.5,0.25\n123456789012345678901234.5,1e-40\n", NULL);
    float x, y;
    row(ds, 0, &x, &y, NULL);
    assert_true(x == 1.5f && y == 0.25f);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    setlocale(LC_NUMERIC, "C");
}

/* ---- bad input: a table ---------------------------------------------------------------------- */

typedef struct bad_case {
    const char *text;
    ns_csv_options opts; /* zero means the defaults: ns_csv_options_default is all zeros but
                            max_classes, and 0 there means 20 */
    ns_status want;
    const char *msg1, *msg2;
    size_t len; /* 0: strlen(text) */
} bad_case;

#define O(...)                                                                                     \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

static const bad_case s_bad[] = {
    {"", O(0), NS_ERR_PARSE, "t.csv: the file is empty", NULL, 0},
    {"\n\r\n\n", O(0), NS_ERR_PARSE, "the file is empty", NULL, 0},
    {"\xEF\xBB\xBF", O(0), NS_ERR_PARSE, "the file is empty", NULL, 0},
    {"a,b\n", O(0), NS_ERR_PARSE, "header row but no data rows", NULL, 0},
    {"a,b\n\n\n", O(0), NS_ERR_PARSE, "no data rows", NULL, 0},
    {"a,b,c\n1,2,3\n4,5\n", O(0), NS_ERR_PARSE, "t.csv: line 3 has 2 fields, the header has 3",
     "add the missing fields", 0},
    {"a,b\n1,2\n3,4,5,6\n", O(0), NS_ERR_PARSE, "line 3 has 4 fields, the header has 2",
     "quote fields that contain the delimiter", 0},
    {"1,2\n3\n", O(.no_header = true), NS_ERR_PARSE, "line 2 has 1 field, the first row has 2",
     NULL, 0},
    /* physical lines: the quoted newline counts */
    {"a,b,c\n\"x\ny\",1,2\n1,2\n", O(.one_hot = true), NS_ERR_PARSE, "line 4 has 2 fields", NULL,
     0},
    {"a,b\n1,2\n\"3,4\n5,6\n", O(0), NS_ERR_PARSE, "line 3, column 1 (\"a\")",
     "closing quote is missing", 0},
    {"a,b\n1,2\n3,\"4\n\n", O(0), NS_ERR_PARSE, "line 3, column 2 (\"b\")",
     "closing quote is missing", 0},
    {"a,b\n1,2\n3,4\"x\n", O(0), NS_ERR_PARSE, "line 3, column 2 (\"b\")",
     "quote in the middle of an unquoted field", 0},
    {"a,b\n\"x\"y,2\n", O(0), NS_ERR_PARSE, "line 2, column 1", "text after the closing quote", 0},
    {"a,\"b\ny\"z,c\n1,2,3\n", O(0), NS_ERR_PARSE, "line 2, column 2",
     "text after the closing quote", 0},
    {"x,y,x\n1,2,3\n", O(0), NS_ERR_PARSE, "columns 1 and 3 are both named \"x\"", "rename", 0},
    {"only\n1\n2\n", O(0), NS_ERR_PARSE, "single column (\"only\")", "delimiter", 0},
    {"a,b\n1,\n2,\n", O(.missing = NS_MISSING_DROP), NS_ERR_PARSE,
     "target column \"b\" has no valid rows", NULL, 0},
    {"a,b\n1,NA\n", O(0), NS_ERR_PARSE, "target column \"b\" has no valid rows", NULL, 0},
    {"a,b\n1,2\n,3\n", O(0), NS_ERR_PARSE, "line 3, column 1 (\"a\"): missing value", "fill_mean",
     0},
    {"a,b\n1,2\n3,NaN\n", O(0), NS_ERR_PARSE, "line 3, column 2 (\"b\"): missing value \"NaN\"",
     "drop", 0},
    {"a,b\n1,2\ninf,3\n", O(.missing = NS_MISSING_DROP), NS_ERR_PARSE,
     "line 3, column 1 (\"a\"): \"inf\" is not a finite number", NULL, 0},
    {"a,b\n-Infinity,3\n", O(0), NS_ERR_PARSE, "line 2, column 1", "not a finite number", 0},
    {"a,b\n0x1A,3\n", O(0), NS_ERR_PARSE, "line 2, column 1", "hexadecimal", 0},
    {"a,b\n1e39,3\n", O(0), NS_ERR_PARSE, "line 2, column 1 (\"a\"): \"1e39\" is too large", NULL,
     0},
    {"a,b\n1,-3.5e38\n", O(0), NS_ERR_PARSE, "line 2, column 2", "too large for a 32-bit float", 0},
    {"a,b\nred,3\n", O(0), NS_ERR_PARSE, "line 2, column 1 (\"a\"): the column is text", "one_hot",
     0},
    {"a,b\n1,3\n2,3\n1.5.2,3\n", O(0), NS_ERR_PARSE,
     "line 4, column 1 (\"a\"): \"1.5.2\" is not a number", "line 2: \"1\"", 0},
    {"a,b\n1,3\n1 000,3\n", O(0), NS_ERR_PARSE, "line 3, column 1", "is not a number", 0},
    {"a,b\n1,3\n+-1,3\n", O(0), NS_ERR_PARSE, "line 3, column 1", "is not a number", 0},
    {"a,b\n1,3\n1e,3\n", O(0), NS_ERR_PARSE, "line 3, column 1", "is not a number", 0},
    {"a,b\n1,2\n", O(.target = "c"), NS_ERR_NOTFOUND, "target: no column named \"c\"",
     "the columns are \"a\", \"b\"", 0},
    {"alpha,beta\n1,2\n", O(.target = "Beta"), NS_ERR_NOTFOUND, "did you mean \"beta\"?", NULL, 0},
    {"alpha,beta\n1,2\n", O(.exclude = "alpah"), NS_ERR_NOTFOUND,
     "exclude: no column named \"alpah\" (did you mean \"alpha\"?)", NULL, 0},
    {"a,b\n1,2\n", O(.target = "7"), NS_ERR_NOTFOUND, "column index 7 is out of range", "0 to 1",
     0},
    {"a,b,c\n1,2,3\n", O(.features = "a,a"), NS_ERR_INVALID,
     "features: column \"a\" is listed twice", NULL, 0},
    {"a,b,c\n1,2,3\n", O(.target = "a,"), NS_ERR_INVALID, "target: an empty column name", NULL, 0},
    {"a,b,c\n1,2,3\n", O(.target = "c", .features = "a,c"), NS_ERR_INVALID,
     "\"c\" is both a feature and a target", NULL, 0},
    {"a,b,c\n1,2,3\n", O(.exclude = "c"), NS_ERR_INVALID, "\"c\" is both a target and excluded",
     NULL, 0},
    {"a,b,c\n1,2,3\n", O(.features = "a", .exclude = "a"), NS_ERR_INVALID,
     "both in features and in exclude", NULL, 0},
    {"a,b,c\n1,2,3\n", O(.exclude = "a,b"), NS_ERR_INVALID, "no feature columns are left", NULL, 0},
    {"a,b,c\n1,x,2\n", O(.target = "b,c"), NS_ERR_PARSE, "line 2, column 2 (\"b\")", "multi-output",
     0},
    {"a,b,c\n1,2,3\n", O(.target = "b,c", .task = NS_TASK_CLASSIFICATION), NS_ERR_INVALID,
     "classification takes one target column, not 2", NULL, 0},
    {"a,b\n1,cat\n", O(.task = NS_TASK_REGRESSION), NS_ERR_PARSE,
     "line 2, column 2 (\"b\"): \"cat\" is text", "cannot be a regression target", 0},
    {"a,b\n1,2\n2,cat\n", O(0), NS_ERR_PARSE, "line 3, column 2",
     "holds text (\"cat\") and numbers", 0},
    {"a,b\n1,ab\xff\n", O(0), NS_ERR_PARSE, "line 2, column 2 (\"b\"): invalid UTF-8 at byte 3",
     "UTF-8", 0},
    {"a,b,c\n1,\xc3\x28,2\n", O(.one_hot = true), NS_ERR_PARSE, "line 2, column 2",
     "invalid UTF-8 at byte 1", 0},
    {"a,b\n1,\"x\n\xed\xa0\x80\"\n", O(0), NS_ERR_PARSE, "line 2, column 2", "invalid UTF-8", 0},
    {"a,b\n1,x\0y\n", O(0), NS_ERR_PARSE, "line 2, column 2", "a NUL byte", 10},
    {"a,b\xc0\xaf\n1,2\n", O(0), NS_ERR_PARSE, "line 1, column 2", "invalid UTF-8", 0},
    {"a,b\n,1\n,2\n", O(.missing = NS_MISSING_DROP), NS_ERR_PARSE,
     "every one of the 2 rows has a missing value", "fill_mean", 0},
    {"a,b,c\n,1,2\n,3,4\n", O(.missing = NS_MISSING_FILL_MEAN), NS_ERR_PARSE, "\"a\" has no values",
     "exclude", 0},
    {"a,b\n1,2\n", O(.delimiter = '"'), NS_ERR_INVALID, "delimiter", NULL, 0},
    {"a,b\n1,2\n", O(.max_classes = -1), NS_ERR_INVALID, "max_classes", NULL, 0},
    {"a,b\n1,2\n", O(.task = (ns_task)9), NS_ERR_INVALID, "unknown task", NULL, 0},
    {"a,b\n1,2\n", O(.missing = (ns_missing)9), NS_ERR_INVALID, "missing-value policy", NULL, 0},
};

static void test_bad_inputs(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    int n = (int)(sizeof s_bad / sizeof s_bad[0]);
    assert_true(n >= 25);
    for (int i = 0; i < n; i++) {
        const bad_case *b = &s_bad[i];
        ns_csv_options o = b->opts;
        if (o.max_classes == 0)
            o.max_classes = 20;
        ns_dataset *ds = (ns_dataset *)&ds;
        ns_errclear(ctx);
        ns_status st = ns_data_parse_csv(ctx, b->text, b->len ? b->len : strlen(b->text), "t.csv",
                                         &o, NULL, &ds);
        if (st != b->want || ds != NULL || strstr(ns_errmsg(ctx), b->msg1) == NULL ||
            (b->msg2 && strstr(ns_errmsg(ctx), b->msg2) == NULL) ||
            strstr(ns_errmsg(ctx), "t.csv") == NULL) {
            fprintf(stderr, "case %d: status %d (want %d), message \"%s\", want \"%s\"%s%s\n", i,
                    st, b->want, ns_errmsg(ctx), b->msg1, b->msg2 ? " and " : "",
                    b->msg2 ? b->msg2 : "");
            fail();
        }
    }
    ns_ctx_free(ctx);
}

/* Fields over 1 MiB, and one-hot columns with too many values. */
static void test_limits(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    size_t big = (1u << 20) + 10;
    char *text = malloc(big + 64);
    assert_non_null(text);
    for (int quoted = 0; quoted < 2; quoted++) {
        size_t o = (size_t)sprintf(text, "a,b\n1,2\n3,%s", quoted ? "\"" : "");
        memset(text + o, 'x', big);
        o += big;
        o += (size_t)sprintf(text + o, "%s\n", quoted ? "\"" : "");
        ns_dataset *ds = NULL;
        NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, text, o, "t.csv", NULL, NULL, &ds),
                         NS_ERR_PARSE);
        NS_ASSERT_MSG_HAS(ctx, "line 3, column 2");
        NS_ASSERT_MSG_HAS(ctx, "longer than 1 MiB");
    }
    /* exactly 1 MiB of text is fine (as a class name here) */
    size_t o = (size_t)sprintf(text, "a,b\n1,");
    memset(text + o, 'y', 1u << 20);
    o += 1u << 20;
    text[o++] = '\n';
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, o, "t.csv", NULL, NULL, &ds));
    assert_int_equal(strlen(ns_dataset_class_name(ds, 0)), 1u << 20);
    ns_dataset_free(ds);
    free(text);

    /* 1001 distinct one-hot values */
    char *many = malloc(1002 * 16 + 16);
    assert_non_null(many);
    o = (size_t)sprintf(many, "c,y\n");
    for (int i = 0; i < 1001; i++)
        o += (size_t)sprintf(many + o, "v%d,%d\n", i, i % 2);
    ns_csv_options opts = defaults();
    opts.one_hot = true;
    NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, many, o, "t.csv", &opts, NULL, &ds), NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "more than 1000 distinct values");
    NS_ASSERT_MSG_HAS(ctx, "line 1002, column 1 (\"c\")");
    free(many);
    ns_ctx_free(ctx);
}

/* ---- allocation failures, cancellation, mutations -------------------------------------------- */

/* Fails each allocation of a clean run in turn, for inputs that take each path: text and
 * one-hot (three passes), numbers (one pass, the scan's rows adopted), integer classes. Every
 * failure is NS_ERR_NOMEM and leaks nothing, except that a failed shrink of the adopted rows
 * is no error. */
static void test_alloc_failures(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "x,color,shape,y\n"
        "1.5,red,\"round\",cat\n"
        "2,blue,square,dog\n"
        ",red,round,cat\n"
        "4,green,square,\n"
        "5,blue,round,bird\n",
        "a,b,y\n1,2,0.5\n\n3,,1.5\n5,6,2.5\n",
        "a,b,y\n1,2,0\n3,4,1\n5,6,2\n7,,1\n",
    };
    static const int rows[] = {4, 3, 4}, features[] = {5, 2, 2}, classes[] = {3, 0, 3};
    ns_csv_options o = defaults();
    o.one_hot = true;
    o.missing = NS_MISSING_FILL_MEAN;
    for (int t = 0; t < 3; t++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        long base = ta.live;
        size_t len = strlen(texts[t]);
        size_t before = ta.calls;
        ns_dataset *ds = NULL;
        NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, texts[t], len, "t.csv", &o, NULL, &ds));
        ns_dataset_free(ds);
        size_t n_calls = ta.calls - before;
        int failures = 0;
        for (size_t k = 1; k <= n_calls; k++) {
            ta.fail_at = ta.calls + k;
            ds = (ns_dataset *)&ds;
            ns_status st = ns_data_parse_csv(ctx, texts[t], len, "t.csv", &o, NULL, &ds);
            ta.fail_at = 0;
            if (st == NS_OK) {
                assert_int_equal(ns_dataset_rows(ds), rows[t]);
                assert_int_equal(ns_dataset_feature_count(ds), features[t]);
                assert_int_equal(ns_dataset_class_count(ds), classes[t]);
                ns_dataset_free(ds);
            } else {
                NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
                assert_null(ds);
                failures++;
            }
            assert_int_equal(ta.live, base);
        }
        assert_true(failures >= (int)n_calls - 2 && failures > 10);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
    }
}

typedef struct progress_log {
    int calls;
    int stop_at; /* return false on this call (1-based); 0: never */
    double last_done, last_total;
} progress_log;

static bool on_progress(void *ud, const char *stage, double done, double total)
{
    progress_log *log = ud;
    assert_non_null(stage);
    log->calls++;
    log->last_done = done;
    log->last_total = total;
    return log->stop_at == 0 || log->calls < log->stop_at;
}

/* Cancels through the callback at each report in turn, and through the flag. A numeric file
 * takes one pass (two reports in 140000 rows); a text target takes three (six reports). */
static void test_cancel(void **state)
{
    (void)state;
    enum { ROWS = 140000 };
    char *text = malloc(ROWS * 24 + 16);
    assert_non_null(text);
    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    for (int labels = 0; labels < 2; labels++) {
        size_t o = (size_t)sprintf(text, "a,b,y\n");
        for (int i = 0; i < ROWS; i++)
            o += (size_t)sprintf(text + o, "%d,%d.5,%s%d\n", i, i % 7, labels ? "c" : "", i % 3);
        int reports = labels ? 6 : 2;

        progress_log log = {0};
        ns_progress p = {on_progress, &log, NULL};
        ns_dataset *ds = NULL;
        NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, o, "big.csv", NULL, &p, &ds));
        assert_int_equal(ns_dataset_rows(ds), ROWS);
        assert_int_equal(ns_dataset_class_count(ds), 3);
        assert_int_equal(log.calls, reports);
        assert_true(log.last_done > 0 && log.last_done <= log.last_total);
        ns_dataset_free(ds);

        for (int stop = 1; stop <= reports; stop++) {
            log = (progress_log){0, stop, 0, 0};
            ds = (ns_dataset *)&ds;
            NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, text, o, "big.csv", NULL, &p, &ds),
                             NS_ERR_CANCELLED);
            assert_null(ds);
            assert_int_equal(log.calls, stop);
            NS_ASSERT_MSG_HAS(ctx, "big.csv");
            NS_ASSERT_MSG_HAS(ctx, "cancelled");
            assert_int_equal(ta.live, 1);
        }
        atomic_int flag = 1;
        ns_progress pc = {NULL, NULL, &flag};
        NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, text, o, "big.csv", NULL, &pc, &ds),
                         NS_ERR_CANCELLED);
        assert_int_equal(ta.live, 1);
    }
    ns_ctx_free(ctx);
    free(text);
}

/* Thousands of deterministic random edits of two valid files (one with text and quotes, one
 * all numbers, which loads in one pass) under random options: every result is a dataset or an
 * error with a message naming the source; nothing crashes or leaks (run under ASan). */
static void test_mutations_never_crash(void **state)
{
    (void)state;
    static const char *const origs[] = {
        "\xEF\xBB\xBFid,\"size\",color,score,label\r\n"
        "1,1.5,red,\"2.5e1\",cat\r\n"
        "2,-0.25,\"bl\"\"ue\",3,dog\r\n"
        "3,1e-3,\"gr\neen\",,cat\r\n"
        "4,7,red,nan,bird\r\n"
        "5,.5,blue,4.25,dog\r\n",
        "a,b,c,y\n"
        "1.5,-2,3e2,0\n"
        "0.25,17,-4.125,1\n"
        "12345.678,0.001,,2\n"
        "-7,8.5,9,1\n"
        "3.25,-0.5,1e-5,0\n",
    };
    static const char syntax[] = ",;\t\"\r\n .-+e0123456789xNa\xff\xc3";
    ns_ctx *ctx = new_ctx();
    ns_rng rng;
    ns_rng_init(&rng, 20240612, NS_RNG_USER, 0);
    int n_ok = 0, n_bad = 0;
    for (int which = 0; which < 2; which++) {
        const char *orig = origs[which];
        size_t len = strlen(orig);
        char *buf = malloc(len + 64);
        assert_non_null(buf);
        for (int iter = 0; iter < 3000; iter++) {
            memcpy(buf, orig, len);
            size_t n = len;
            int edits = 1 + (int)ns_rng_below(&rng, 4);
            for (int e = 0; e < edits && n > 0; e++) {
                uint32_t kind = ns_rng_below(&rng, 5);
                size_t pos = ns_rng_below(&rng, (uint32_t)n);
                switch (kind) {
                case 0: /* any byte */
                    buf[pos] = (char)ns_rng_u32(&rng);
                    break;
                case 1: /* CSV syntax */
                    buf[pos] = syntax[ns_rng_below(&rng, sizeof syntax - 1)];
                    break;
                case 2: /* truncate */
                    n = pos;
                    break;
                case 3: /* delete a byte */
                    memmove(buf + pos, buf + pos + 1, n - pos - 1);
                    n--;
                    break;
                default: /* insert a syntax byte */
                    if (n < len + 60) {
                        memmove(buf + pos + 1, buf + pos, n - pos);
                        buf[pos] = syntax[ns_rng_below(&rng, sizeof syntax - 1)];
                        n++;
                    }
                    break;
                }
            }
            ns_csv_options o = defaults();
            o.one_hot = ns_rng_below(&rng, 2) == 0;
            o.missing = (ns_missing)ns_rng_below(&rng, 3);
            o.task = (ns_task)ns_rng_below(&rng, 3);
            if (ns_rng_below(&rng, 4) == 0)
                o.exclude = which ? "b" : "id";
            ns_errclear(ctx);
            ns_dataset *ds = NULL;
            ns_status st = ns_data_parse_csv(ctx, buf, n, "mutant", &o, NULL, &ds);
            if (st == NS_OK) {
                assert_non_null(ds);
                assert_true(ns_dataset_rows(ds) > 0);
                int f = ns_dataset_feature_count(ds);
                assert_true(f > 0);
                float x[64], y[8];
                int32_t label;
                if (f <= 64 && ns_dataset_target_count(ds) <= 8)
                    for (int64_t r = 0; r < ns_dataset_rows(ds); r++) {
                        ns_dataset_row(ds, r, x, y, &label);
                        for (int i = 0; i < f; i++)
                            assert_false(isnan(x[i]));
                        if (ns_dataset_task(ds) == NS_TASK_CLASSIFICATION)
                            assert_true(label >= 0 && label < ns_dataset_class_count(ds));
                    }
                ns_dataset_free(ds);
                n_ok++;
            } else {
                assert_null(ds);
                assert_true(st == NS_ERR_PARSE || st == NS_ERR_NOTFOUND || st == NS_ERR_INVALID);
                assert_true(strstr(ns_errmsg(ctx), "mutant") != NULL);
                n_bad++;
            }
        }
        free(buf);
    }
    assert_true(n_ok > 100);
    assert_true(n_bad > 100);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_default),
        cmocka_unit_test(test_boston),
        cmocka_unit_test(test_wine),
        cmocka_unit_test(test_iris),
        cmocka_unit_test(test_breast_cancer),
        cmocka_unit_test(test_file_and_memory_agree),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_no_header),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_features_and_exclude),
        cmocka_unit_test(test_one_hot),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_class_inference),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_locale_independent),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
