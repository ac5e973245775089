/* Data read the way a model was trained: split ratios that must add up to 1, features
 * arranged by name with one-hot categories, the model file's column metadata, the shared
 * read options and class matching by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsmith/run.h"
#include "testutil.h"

static const char train_csv[] = "a,color,b,y\n"
                                "1,red,10,1\n"
                                "2,blue,20,2\n"
                                "3,green,30,3\n"
                                "4,red,40,4\n";

static ns_dataset *parse(ns_ctx *ctx, const char *text, bool one_hot)
{
    ns_csv_options o;
    ns_csv_options_default(&o);
    o.one_hot = one_hot;
    o.task = NS_TASK_REGRESSION;
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, strlen(text), "data.csv", &o, NULL, &ds));
    return ds;
}

static void test_split_exact_sum(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_dataset *ds = parse(ctx, train_csv, true);
    ns_split_options o;
    ns_split_options_default(&o);
    o.train = 0.8;
    o.val = 0.3;
    o.test = 0.0;
    o.exact_sum = true;
    ns_dataset *a = NULL, *b = NULL;
    NS_ASSERT_STATUS(ctx, ns_data_split(ds, &o, &a, &b, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "add up to 1.1, not 1");
    assert_null(a);
    /* the same split as without exact_sum when they do add up */
    o.train = 0.5;
    o.val = 0.5;
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &a, &b, NULL));
    assert_int_equal(ns_dataset_rows(a), 2);
    ns_dataset_free(a);
    ns_dataset_free(b);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_arrange(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_dataset *tr = parse(ctx, train_csv, true);
    assert_int_equal(ns_dataset_feature_count(tr), 5);
    assert_int_equal(ns_dataset_one_hot_count(tr), 1);
    int first = 0, width = 0;
    assert_string_equal(ns_dataset_one_hot(tr, 0, &first, &width), "color");
    assert_int_equal(first, 1);
    assert_int_equal(width, 3);
    ns_model_info info;
    memset(&info, 0, sizeof info);
    NS_ASSERT_OK(ctx, ns_model_info_columns(ctx, tr, &info));
    assert_int_equal(info.features, 5);
    assert_string_equal(info.feature_names[1], "color=blue");
    assert_string_equal(info.one_hot[0].values[2], "red");
    assert_string_equal(info.target_column_names[0], "y");

    /* other column order and only one category: arranged as in training */
    ns_dataset *nw = parse(ctx, "b,color,a,y\n20,red,2,0\n", true), *got = NULL;
    NS_ASSERT_OK(ctx, ns_data_arrange(nw, NULL, (const char *const *)info.feature_names, 5,
                                      info.one_hot, info.one_hot_count, &got));
    float x[5];
    ns_dataset_row(got, 0, x, NULL, NULL);
    const float want[5] = {2, 0, 0, 1, 20};
    for (int j = 0; j < 5; j++)
        assert_true(x[j] == want[j]);
    ns_dataset_free(got);
    ns_dataset_free(nw);
    /* an unseen category and a missing column are errors naming them */
    nw = parse(ctx, "a,color,b,y\n1,purple,2,0\n", true);
    NS_ASSERT_STATUS(ctx,
                     ns_data_arrange(nw, "new.csv", (const char *const *)info.feature_names, 5,
                                     info.one_hot, info.one_hot_count, &got),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "column 'color' has the value 'purple'");
    assert_null(got);
    ns_dataset_free(nw);
    nw = parse(ctx, "color,b,y\nred,2,0\n", true);
    NS_ASSERT_STATUS(ctx,
                     ns_data_arrange(nw, "new.csv", (const char *const *)info.feature_names, 5,
                                     info.one_hot, info.one_hot_count, &got),
                     NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "new.csv has no column 'a' that the model takes");
    ns_dataset_free(nw);
    ns_model_info_deinit(ctx, &info);
    ns_dataset_free(tr);
    ns_ctx_free(ctx);
}

static void test_no_target_and_options(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_csv_options o;
    ns_csv_options_default(&o);
    o.no_target = true;
    ns_dataset *ds = NULL;
    const char *text = "a,b\n1,2\n3,4\n";
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, strlen(text), "x", &o, NULL, &ds));
    assert_int_equal(ns_dataset_feature_count(ds), 2);
    assert_int_equal(ns_dataset_target_count(ds), 1);
    float x[2], y[1] = {5};
    ns_dataset_row(ds, 1, x, y, NULL);
    assert_true(x[0] == 3 && x[1] == 4 && y[0] == 0);
    ns_dataset_free(ds);
    /* a text feature's advice names the setting and the flag */
    const char *txt = "a,c,y\n1,u,2\n";
    ns_csv_options_default(&o);
    NS_ASSERT_STATUS(ctx, ns_data_parse_csv(ctx, txt, strlen(txt), "t", &o, NULL, &ds),
                     NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "one_hot: true");
    NS_ASSERT_MSG_HAS(ctx, "--one-hot");

    ns_data_options d;
    ns_data_options_default(&d);
    NS_ASSERT_OK(ctx, ns_data_options_set(ctx, &d, "one_hot", "true"));
    NS_ASSERT_OK(ctx, ns_data_options_set(ctx, &d, "task", "regression"));
    NS_ASSERT_OK(ctx, ns_data_options_set(ctx, &d, "delimiter", "tab"));
    assert_true(d.one_hot && d.task == NS_TASK_REGRESSION && d.delimiter == '\t');
    NS_ASSERT_STATUS(ctx, ns_data_options_set(ctx, &d, "task", "x"), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "task: expected classification, regression or auto");
    NS_ASSERT_STATUS(ctx, ns_data_options_set(ctx, &d, "onehot", "1"), NS_ERR_NOTFOUND);
    NS_ASSERT_STATUS(ctx, ns_data_open(ctx, &d, NULL, &ds, NULL), NS_ERR_INVALID);
    ns_ctx_free(ctx);
}

static void test_class_map(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_csv_options o;
    ns_csv_options_default(&o);
    const char *text = "a,k\n1,cat\n2,dog\n";
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, text, strlen(text), "pets", &o, NULL, &ds));
    char *names[3] = {"bird", "cat", "dog"};
    ns_model_info info;
    memset(&info, 0, sizeof info);
    info.task = NS_TASK_CLASSIFICATION;
    info.classes = 3;
    info.class_names = names;
    int32_t map[2];
    bool identity = true;
    NS_ASSERT_OK(ctx, ns_fit_class_map(ctx, &info, ds, map, &identity));
    assert_false(identity);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[1], 2);
    names[2] = "emu";
    NS_ASSERT_STATUS(ctx, ns_fit_class_map(ctx, &info, ds, map, &identity), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "the class 'dog', which the model does not know");
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_exact_sum),
        cmocka_unit_test(test_arrange),
        cmocka_unit_test(test_no_target_and_options),
        cmocka_unit_test(test_class_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
