/* Built-in datasets and Data Load dispatch: the table; every embedded CSV set loads by name with
 * its size, task, classes, target and first row; by name and by path give the same dataset;
 * ns_data_load sends IDX, CSV and unknown sources where they belong; Fashion-MNIST from
 * Debian's dataset-fashion-mnist package (skipped, saying how to install it, when absent). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "testutil.h"

#include "data/dataset_private.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ns_test_builtin_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
    return 0;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the table ----------------------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    static const char *const names[] = {"boston_housing", "wine", "iris", "breast_cancer",
                                        "fashion-mnist"};
    assert_int_equal(ns_data_builtin_count(), 5);
    for (int i = 0; i < ns_data_builtin_count(); i++) {
        const ns_builtin_info *b = ns_data_builtin(i);
        assert_non_null(b);
        assert_string_equal(b->name, names[i]);
        assert_ptr_equal(ns_data_builtin_find(b->name), b);
        assert_true(strlen(b->description) > 20);
        assert_true(b->rows > 0 && b->features > 0);
        assert_true(b->task == NS_TASK_REGRESSION ? b->classes == 0 : b->classes >= 2);
        assert_true(b->target != NULL && b->target[0] != '\0');
        assert_int_equal(b->has_test_split, strcmp(b->name, "fashion-mnist") == 0);
    }
    assert_null(ns_data_builtin(-1));
    assert_null(ns_data_builtin(5));
    assert_null(ns_data_builtin_find("Iris"));
    assert_null(ns_data_builtin_find(""));
    assert_null(ns_data_builtin_find(NULL));
}

/* ---- the embedded CSV sets ----------------------------------------------------------------- */

typedef struct csv_want {
    const char *name;
    int64_t rows;
    int features;
    ns_task task;
    int classes;
    const char *target;
    const char *first_feature; /* the first column's name */
    int n_first;               /* how many of the first row's features are listed */
    float first[13];
    float first_y;           /* regression target of the first row */
    const char *first_class; /* class name of the first row */
} csv_want;

/* clang-format off */
static const csv_want csv_sets[] = {
    {"boston_housing", 506, 13, NS_TASK_REGRESSION, 0, "MEDV", "CRIM", 13,
     {0.00632f, 18, 2.31f, 0, 0.538f, 6.575f, 65.2f, 4.09f, 1, 296, 15.3f, 396.9f, 4.98f}, 24,
     NULL},
    {"wine", 178, 13, NS_TASK_CLASSIFICATION, 3, "class", "alcohol", 13,
     {14.23f, 1.71f, 2.43f, 15.6f, 127, 2.8f, 3.06f, 0.28f, 2.29f, 5.64f, 1.04f, 3.92f, 1065}, 0,
     "0"},
    {"iris", 150, 4, NS_TASK_CLASSIFICATION, 3, "species", "sepal_length", 4,
     {5.1f, 3.5f, 1.4f, 0.2f}, 0, "setosa"},
    {"breast_cancer", 569, 30, NS_TASK_CLASSIFICATION, 2, "diagnosis", "mean_radius", 5,
     {17.99f, 10.38f, 122.8f, 1001, 0.1184f}, 0, "malignant"},
};
/* clang-format on */

static void check_csv_set(const ns_dataset *ds, const csv_want *w)
{
    const ns_builtin_info *b = ns_data_builtin_find(w->name);
    assert_non_null(b);
    assert_int_equal(b->rows, w->rows);
    assert_int_equal(b->features, w->features);
    assert_int_equal(b->task, w->task);
    assert_int_equal(b->classes, w->classes);
    assert_string_equal(b->target, w->target);

    assert_string_equal(ns_dataset_name(ds), w->name);
    assert_int_equal(ns_dataset_rows(ds), w->rows);
    assert_int_equal(ns_dataset_feature_count(ds), w->features);
    assert_int_equal(ns_dataset_task(ds), w->task);
    assert_int_equal(ns_dataset_class_count(ds), w->classes);
    assert_int_equal(ns_dataset_target_count(ds), 1);
    assert_string_equal(ns_dataset_target_name(ds, 0), w->target);
    assert_string_equal(ns_dataset_feature_name(ds, 0), w->first_feature);
    int shape[NS_MAX_DIMS - 1];
    assert_int_equal(ns_dataset_input_shape(ds, shape), 1);
    assert_int_equal(shape[0], w->features);
    assert_non_null(ds->store->xf); /* tables are stored as floats */

    float x[30], y = -1;
    int32_t label = -1;
    ns_dataset_row(ds, 0, x, &y, &label);
    NS_ASSERT_ALL_CLOSE(x, w->first, (size_t)w->n_first, 1e-6, 0);
    if (w->task == NS_TASK_REGRESSION) {
        NS_ASSERT_CLOSE(y, w->first_y, 1e-6, 0);
    } else {
        assert_true(label >= 0 && label < w->classes);
        assert_string_equal(ns_dataset_class_name(ds, label), w->first_class);
    }
}

static void test_csv_builtins_by_name(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof csv_sets / sizeof csv_sets[0]; i++) {
        ns_dataset *ds = NULL, *test = (ns_dataset *)&test; /* must be reset to NULL */
        NS_ASSERT_OK(ctx, ns_data_load(ctx, csv_sets[i].name, NULL, NULL, &ds, &test));
        assert_null(test);
        check_csv_set(ds, &csv_sets[i]);
        ns_dataset_free(ds);
    }
    ns_ctx_free(ctx);
}

/* A built-in by name and its file under data/ by path go through the same parser. */
static void test_name_and_path_agree(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof csv_sets / sizeof csv_sets[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/data/%s.csv", NS_SOURCE_DIR, csv_sets[i].name);
        ns_dataset *by_name = NULL, *by_path = NULL, *by_csv = NULL;
        NS_ASSERT_OK(ctx, ns_data_load(ctx, csv_sets[i].name, NULL, NULL, &by_name, NULL));
        NS_ASSERT_OK(ctx, ns_data_load(ctx, path, NULL, NULL, &by_path, NULL));
        NS_ASSERT_OK(ctx, ns_data_load_csv(ctx, path, NULL, NULL, &by_csv));
        assert_true(ns_dataset_hash(by_name) == ns_dataset_hash(by_path));
        assert_true(ns_dataset_hash(by_name) == ns_dataset_hash(by_csv));
        assert_int_equal(ns_dataset_task(by_name), ns_dataset_task(by_path));
        assert_int_equal(ns_dataset_class_count(by_name), ns_dataset_class_count(by_path));
        for (int c = 0; c < ns_dataset_class_count(by_name); c++)
            assert_string_equal(ns_dataset_class_name(by_name, c),
                                ns_dataset_class_name(by_path, c));
        for (int f = 0; f < ns_dataset_feature_count(by_name); f++)
            assert_string_equal(ns_dataset_feature_name(by_name, f),
                                ns_dataset_feature_name(by_path, f));
        ns_dataset_free(by_csv);
        ns_dataset_free(by_path);
        ns_dataset_free(by_name);
    }
    ns_ctx_free(ctx);
}

/* The caller's CSV options apply to built-ins; a target they name replaces the default. */
static void test_builtin_options(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_csv_options opts;
    ns_csv_options_default(&opts);
    opts.target = "CHAS"; /* the 0/1 river dummy: a two-class target */
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load(ctx, "boston_housing", &opts, NULL, &ds, NULL));
    assert_string_equal(ns_dataset_target_name(ds, 0), "CHAS");
    assert_int_equal(ns_dataset_feature_count(ds), 13); /* MEDV is a feature now */
    assert_int_equal(ns_dataset_task(ds), NS_TASK_CLASSIFICATION);
    assert_int_equal(ns_dataset_class_count(ds), 2);
    ns_dataset_free(ds);

    /* A forced task: wine's class as a regression target. */
    ns_csv_options_default(&opts);
    opts.task = NS_TASK_REGRESSION;
    NS_ASSERT_OK(ctx, ns_data_load(ctx, "wine", &opts, NULL, &ds, NULL));
    assert_int_equal(ns_dataset_task(ds), NS_TASK_REGRESSION);
    assert_string_equal(ns_dataset_target_name(ds, 0), "class");
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static void write_file(const char *path, const void *b, size_t n, bool gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
        assert_int_equal(gzclose(g), Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Two 2x2 images and labels 1, 0, written under tmpdir as images_name and labels_name. */
static void write_idx_pair(const char *images_name, const char *labels_name, bool gz,
                           char *images_path, size_t cap)
{
    static const unsigned char images[16 + 8] = {0, 0, 8, 3, 0, 0,  0,   2,   0,   0, 0, 2,
                                                 0, 0, 0, 2, 0, 51, 102, 255, 255, 0, 0, 0};
    static const unsigned char labels[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 0};
    char path[512];
    snprintf(images_path, cap, "%s/%s", tmpdir, images_name);
    write_file(images_path, images, sizeof images, gz);
    snprintf(path, sizeof path, "%s/%s", tmpdir, labels_name);
    write_file(path, labels, sizeof labels, gz);
}

static void expect_idx(ns_ctx *ctx, const char *source)
{
    ns_dataset *ds = NULL, *test = (ns_dataset *)&test;
    NS_ASSERT_OK(ctx, ns_data_load(ctx, source, NULL, NULL, &ds, &test));
    assert_null(test);
    assert_int_equal(ns_dataset_rows(ds), 2);
    assert_int_equal(ns_dataset_feature_count(ds), 4);
    assert_int_equal(ns_dataset_class_count(ds), 2);
    float x[4];
    int32_t label;
    ns_dataset_row(ds, 0, x, NULL, &label);
    assert_int_equal(label, 1);
    NS_ASSERT_CLOSE(x[1], 0.2, 1e-6, 0);
    NS_ASSERT_CLOSE(x[3], 1.0, 1e-6, 0);
    ns_dataset_free(ds);
}

static void test_dispatch(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    char path[512];
    /* By suffix: "-ubyte", "-ubyte.gz", ".idx". */
    write_idx_pair("d-images-idx3-ubyte", "d-labels-idx1-ubyte", false, path, sizeof path);
    expect_idx(ctx, path);
    write_idx_pair("d-images-idx3-ubyte.gz", "d-labels-idx1-ubyte.gz", true, path, sizeof path);
    expect_idx(ctx, path);
    write_idx_pair("digits-images.idx", "digits-labels.idx", false, path, sizeof path);
    expect_idx(ctx, path);
    /* By content: an IDX magic, or gzip's, under a name that says nothing. */
    write_idx_pair("images.bin", "labels.bin", false, path, sizeof path);
    expect_idx(ctx, path);
    write_idx_pair("images.dat", "labels.dat", true, path, sizeof path);
    expect_idx(ctx, path);
    /* A bad IDX reaches the IDX loader's messages. */
    snprintf(path, sizeof path, "%s/float-images-idx3-ubyte", tmpdir);
    write_file(path, "\0\0\x0d\x03\0\0\0\1\0\0\0\1\0\0\0\1\0\0\0\0", 20, false);
    ns_dataset *ds = NULL;
    NS_ASSERT_STATUS(ctx, ns_data_load(ctx, path, NULL, NULL, &ds, NULL), NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(ctx, "type code 0x0d (float32)");

    /* Anything else is CSV, with the caller's options. */
    snprintf(path, sizeof path, "%s/small.txt", tmpdir);
    write_file(path, "a;b;y\n1;2;0.5\n3;4;1.5\n", 22, false);
    NS_ASSERT_OK(ctx, ns_data_load(ctx, path, NULL, NULL, &ds, NULL));
    assert_int_equal(ns_dataset_rows(ds), 2);
    assert_int_equal(ns_dataset_feature_count(ds), 2);
    assert_string_equal(ns_dataset_target_name(ds, 0), "y");
    ns_dataset_free(ds);
    ns_csv_options opts;
    ns_csv_options_default(&opts);
    opts.target = "a";
    NS_ASSERT_OK(ctx, ns_data_load(ctx, path, &opts, NULL, &ds, NULL));
    assert_string_equal(ns_dataset_target_name(ds, 0), "a");
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* A source that is neither a file nor a built-in: the message lists the built-ins. */
static void test_unknown_source(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    static const char *const sources[] = {"boston", "no_such_dir/data.csv", "mnist-ubyte.gz"};
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        ns_dataset *ds = (ns_dataset *)&ds, *test = (ns_dataset *)&test;
        NS_ASSERT_STATUS(ctx, ns_data_load(ctx, sources[i], NULL, NULL, &ds, &test),
                         NS_ERR_NOTFOUND);
        assert_null(ds);
        assert_null(test);
        NS_ASSERT_MSG_HAS(ctx, sources[i]);
        NS_ASSERT_MSG_HAS(ctx, "not a built-in dataset");
        for (int b = 0; b < ns_data_builtin_count(); b++)
            NS_ASSERT_MSG_HAS(ctx, ns_data_builtin(b)->name);
    }
    ns_ctx_free(ctx);
}

/* ---- Fashion-MNIST -------------------------------------------------------------------------- */

static bool count_progress(void *ud, const char *stage, double done, double total)
{
    (void)done;
    (void)total;
    (void)stage;
    (*(int *)ud)++;
    return true;
}

static void check_fashion(const ns_dataset *ds, int64_t rows, const char *name)
{
    static const char *const classes[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                            "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};
    assert_string_equal(ns_dataset_name(ds), name);
    assert_int_equal(ns_dataset_rows(ds), rows);
    int shape[NS_MAX_DIMS - 1];
    assert_int_equal(ns_dataset_input_shape(ds, shape), 3);
    assert_int_equal(shape[0], 1);
    assert_int_equal(shape[1], 28);
    assert_int_equal(shape[2], 28);
    assert_int_equal(ns_dataset_feature_count(ds), 784);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_CLASSIFICATION);
    assert_int_equal(ns_dataset_class_count(ds), 10);
    for (int c = 0; c < 10; c++)
        assert_string_equal(ns_dataset_class_name(ds, c), classes[c]);
    /* One byte a pixel in memory (47 MB for the train set, not 188 MB of floats). */
    assert_non_null(ds->store->xu);
    assert_null(ds->store->xf);
    /* Both sets start with an ankle boot. */
    float x[784];
    int32_t label = -1;
    ns_dataset_row(ds, 0, x, NULL, &label);
    assert_int_equal(label, 9);
    for (int j = 0; j < 784; j++)
        assert_true(x[j] >= 0.0f && x[j] <= 1.0f);
}

static void test_fashion_mnist(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *train = NULL, *test = NULL;
    int reports = 0;
    ns_progress pr = {count_progress, &reports, NULL};
    if (access(FASHION_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        /* Absent: the error must say how to get it. */
        NS_ASSERT_STATUS(ctx, ns_data_load(ctx, "fashion-mnist", NULL, NULL, &train, &test),
                         NS_ERR_NOTFOUND);
        NS_ASSERT_MSG_HAS(ctx, "install it with: apt-get install dataset-fashion-mnist");
        assert_null(train);
        assert_null(test);
        fprintf(stderr,
                "fashion-mnist: %s is not installed, so only its error was checked (%s); "
                "apt-get install dataset-fashion-mnist to run this test\n",
                FASHION_DIR, ns_errmsg(ctx));
        ns_ctx_free(ctx);
        skip();
    }
    double t0 = seconds();
    NS_ASSERT_OK(ctx, ns_data_load(ctx, "fashion-mnist", NULL, &pr, &train, &test));
    double t1 = seconds();
    fprintf(stderr,
            "fashion-mnist: 60,000 train + 10,000 test images loaded in %.2f s "
            "(%d progress reports)\n",
            t1 - t0, reports);
    assert_true(reports >= 10);
    check_fashion(train, 60000, "fashion-mnist");
    check_fashion(test, 10000, "fashion-mnist-test");
    const ns_builtin_info *b = ns_data_builtin_find("fashion-mnist");
    assert_int_equal(b->rows, ns_dataset_rows(train) + ns_dataset_rows(test));
    assert_int_equal(b->features, ns_dataset_feature_count(train));

    /* The same files by path (labels found beside them) give the same train rows. */
    ns_dataset *by_path = NULL, *no_test = NULL;
    NS_ASSERT_OK(ctx, ns_data_load(ctx, FASHION_DIR "/train-images-idx3-ubyte.gz", NULL, NULL,
                                   &by_path, NULL));
    assert_true(ns_dataset_hash(by_path) == ns_dataset_hash(train));
    ns_dataset_free(by_path);
    /* Without a place for the test set only the train set is read. */
    NS_ASSERT_OK(ctx, ns_data_load(ctx, "fashion-mnist", NULL, NULL, &no_test, NULL));
    assert_int_equal(ns_dataset_rows(no_test), 60000);
    ns_dataset_free(no_test);

    ns_dataset_free(test);
    ns_dataset_free(train);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_csv_builtins_by_name),
        cmocka_unit_test(test_name_and_path_agree),
        cmocka_unit_test(test_builtin_options),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_unknown_source),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
