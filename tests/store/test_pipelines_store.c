/* Saved pipelines (netsmith/store.h) against the store the environment names
 * (NETSMITH_TEST_STORE: a postgresql:// URL, else a fresh SQLite file): save, the same again,
 * a new text, get, list, delete, and the errors with their messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netsmith/store.h"
#include "store/store_fixture.h"

static void pause_ms(long ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

static const char iris_text[] = "pipeline: iris\n"
                                "cards:\n"
                                "  - id: load\n"
                                "    card: data_load\n"
                                "    with: {name: iris}\n";

static const char iris_text2[] = "pipeline: iris\n"
                                 "cards:\n"
                                 "  - id: load\n"
                                 "    card: data_load\n"
                                 "    with: {name: iris}\n"
                                 "  - id: split\n"
                                 "    card: data_split\n"
                                 "    in: {dataset: load.dataset}\n";

static json_t *get_json(ns_ctx *ctx, ns_store *s, const char *name)
{
    char *json = NULL;
    NS_ASSERT_OK(ctx, ns_store_pipeline_get(s, name, &json));
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    ns_dealloc(ns_store_ctx(s), json);
    assert_non_null(j);
    return j;
}

static void test_save_get_update(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "iris-load", iris_text, NULL));
    json_t *a = get_json(ctx, s, "iris-load");
    assert_string_equal(json_string_value(json_object_get(a, "name")), "iris-load");
    assert_string_equal(json_string_value(json_object_get(a, "text")), iris_text);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "hash"))), 64);
    double created = json_real_value(json_object_get(a, "created"));
    assert_true(created > 1e9);
    assert_true(json_real_value(json_object_get(a, "updated")) >= created);
    /* the same again: nothing changes */
    pause_ms(20);
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "iris-load", iris_text, "other.yaml"));
    json_t *b = get_json(ctx, s, "iris-load");
    assert_true(json_equal(a, b));
    json_decref(b);
    /* a new text: replaced, updated later, created kept */
    pause_ms(20);
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "iris-load", iris_text2, NULL));
    json_t *c = get_json(ctx, s, "iris-load");
    assert_string_equal(json_string_value(json_object_get(c, "text")), iris_text2);
    assert_string_not_equal(json_string_value(json_object_get(c, "hash")),
                            json_string_value(json_object_get(a, "hash")));
    assert_true(json_real_value(json_object_get(c, "created")) == created);
    assert_true(json_real_value(json_object_get(c, "updated")) > created);
    json_decref(a);
    json_decref(c);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_list_and_delete(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    char *json = NULL;
    NS_ASSERT_OK(ctx, ns_store_pipeline_list(s, &json));
    assert_string_equal(json, "[]");
    ns_dealloc(ctx, json);
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "b-pipe", iris_text, NULL));
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "a-pipe", iris_text2, NULL));
    NS_ASSERT_OK(ctx, ns_store_pipeline_list(s, &json));
    json_error_t e;
    json_t *list = json_loads(json, 0, &e);
    ns_dealloc(ctx, json);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
                        "a-pipe");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "name")),
                        "b-pipe");
    json_decref(list);
    NS_ASSERT_OK(ctx, ns_store_pipeline_delete(s, "a-pipe"));
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_get(s, "a-pipe", &json), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "no pipeline named 'a-pipe'");
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_delete(s, "b-pip"), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'b-pipe'");
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_delete(s, "a-pipe"), NS_ERR_NOTFOUND);
    NS_ASSERT_OK(ctx, ns_store_pipeline_list(s, &json));
    list = json_loads(json, 0, &e);
    ns_dealloc(ctx, json);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "-bad", iris_text, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "not a valid pipeline name");
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "a/b", iris_text, NULL), NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "", iris_text, NULL), NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "empty", "", NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "the text is empty");
    /* an unknown card: the message names the source, line and card */
    static const char bad_card[] = "pipeline: x\n"
                                   "cards:\n"
                                   "  - id: load\n"
                                   "    card: data_lod\n";
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "bad", bad_card, "bad.yaml"), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "bad.yaml:4:");
    NS_ASSERT_MSG_HAS(ctx, "card 'load'");
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'data_load'");
    /* without a source, the name */
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "bad", bad_card, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "bad:4:");
    /* not YAML */
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_save(s, "bad", "cards: [\n  - {", NULL), NS_ERR_PARSE);
    /* the cards' own checks (which may read files) are the run's: a spec file that is not
     * there is no error at saving */
    static const char spec_file[] = "cards:\n"
                                    "  - id: define\n"
                                    "    card: model_define\n"
                                    "    with: {file: no-such-spec.json}\n";
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "later", spec_file, NULL));
    NS_ASSERT_OK(ctx, ns_store_pipeline_delete(s, "later"));
    /* nothing of these was kept */
    char *json = NULL;
    NS_ASSERT_STATUS(ctx, ns_store_pipeline_get(s, "bad", &json), NS_ERR_NOTFOUND);
    NS_ASSERT_OK(ctx, ns_store_pipeline_list(s, &json));
    assert_string_equal(json, "[]");
    ns_dealloc(ctx, json);
    /* a failed save keeps the old text */
    NS_ASSERT_OK(ctx, ns_store_pipeline_save(s, "keep", iris_text, NULL));
    assert_int_not_equal(ns_store_pipeline_save(s, "keep", bad_card, NULL), NS_OK);
    json_t *j = get_json(ctx, s, "keep");
    assert_string_equal(json_string_value(json_object_get(j, "text")), iris_text);
    json_decref(j);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_get_update),
        cmocka_unit_test(test_list_and_delete),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
