/* The store's event log and job history (netsmith/store.h), against the store the environment
 * names (NETSMITH_TEST_STORE: a postgresql:// URL, else a fresh SQLite file): every change of
 * a job is an event with a growing id, written with the change itself (a refused change
 * writes none); the window drops the oldest and says so; a running job's own events are
 * fenced by its lease; the history keeps one entry per epoch across a resume; and a schema 1
 * store migrates to 2 keeping its jobs. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "netsmith/store.h"
#include "store/store_fixture.h"

static const char spec_json[] = "{\"layers\": [{\"type\": \"linear\", \"units\": 3}]}";

/* A store with an architecture, a model and a dataset, and one queued train job. */
static int64_t one_job(ns_ctx *ctx, ns_store *s)
{
    NS_ASSERT_OK(ctx, ns_store_arch_add(s, "a", spec_json, "spec"));
    NS_ASSERT_OK(ctx, ns_store_model_create(s, "m", "a"));
    NS_ASSERT_OK(ctx, ns_store_data_add(s, "iris", "{\"data\": \"iris\"}"));
    int64_t id = 0;
    NS_ASSERT_OK(ctx,
                 ns_job_submit(s, NS_JOB_TRAIN,
                               "{\"model\": \"m\", \"data\": \"iris\", \"config\": {}}", 0, &id));
    return id;
}

/* The log after `after` as a JSON array (the caller's). */
static json_t *events(ns_ctx *ctx, ns_store *s, int64_t after, int64_t job, int64_t *first)
{
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_store_events(s, after, job, 0, &text, first));
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ns_dealloc(ctx, text);
    assert_non_null(j);
    return j;
}

static const char *type_at(json_t *list, size_t i)
{
    return json_string_value(json_object_get(json_array_get(list, i), "type"));
}

static const char *state_at(json_t *list, size_t i)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(list, i), "data"), "state"));
}

static void test_every_change_is_an_event(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    int64_t last = -1;
    NS_ASSERT_OK(ctx, ns_store_event_last(s, &last));
    assert_int_equal(last, 0);
    int64_t id = one_job(ctx, s);
    ns_job job;
    ns_lease lease;
    bool claimed = false;
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w1", 30, &job, &lease, &claimed));
    assert_true(claimed);
    ns_job_clear(&job);
    NS_ASSERT_OK(ctx, ns_job_progress(s, &lease, 1, 2, "{\"train\": {\"loss\": 0.5}}"));
    NS_ASSERT_OK(ctx, ns_job_checkpoint(s, &lease, "{\"file\": \"x\"}"));
    NS_ASSERT_OK(ctx, ns_job_event(s, &lease, "card", "{\"event\": \"started\", \"id\": \"c\"}"));
    NS_ASSERT_OK(ctx, ns_job_cancel(s, id));
    NS_ASSERT_OK(ctx, ns_job_finish(s, &lease, NS_JOB_CANCELLED, NULL, NULL));
    NS_ASSERT_OK(ctx, ns_job_retry(s, id));

    json_t *all = events(ctx, s, 0, 0, NULL);
    static const char *const types[] = {
        "job", "job", "epoch", "checkpoint", "card", "cancel_requested", "job", "job"};
    static const char *const states[] = {"queued", "running", NULL,        NULL,
                                         NULL,     NULL,      "cancelled", "queued"};
    assert_int_equal(json_array_size(all), 8);
    int64_t prev = 0;
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(type_at(all, i), types[i]);
        if (states[i] != NULL)
            assert_string_equal(state_at(all, i), states[i]);
        json_t *ev = json_array_get(all, i);
        int64_t eid = (int64_t)json_integer_value(json_object_get(ev, "id"));
        assert_true(eid > prev); /* ids only grow */
        prev = eid;
        assert_int_equal(json_integer_value(json_object_get(ev, "job")), id);
        assert_true(json_real_value(json_object_get(ev, "time")) > 1e9);
    }
    json_t *epoch = json_object_get(json_array_get(all, 2), "data");
    assert_int_equal(json_integer_value(json_object_get(epoch, "epoch")), 1);
    assert_int_equal(json_integer_value(json_object_get(epoch, "epochs")), 2);
    assert_true(json_object_get(json_object_get(epoch, "metrics"), "train") != NULL);
    NS_ASSERT_OK(ctx, ns_store_event_last(s, &last));
    assert_int_equal(last, prev);

    /* after an id: only the newer ones; a job filter; a limit */
    int64_t third = (int64_t)json_integer_value(json_object_get(json_array_get(all, 2), "id"));
    json_t *later = events(ctx, s, third, 0, NULL);
    assert_int_equal(json_array_size(later), 5);
    json_decref(later);
    json_t *other = events(ctx, s, 0, id + 100, NULL);
    assert_int_equal(json_array_size(other), 0);
    json_decref(other);
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_store_events(s, 0, id, 3, &text, NULL));
    json_error_t e;
    json_t *three = json_loads(text, 0, &e);
    assert_int_equal(json_array_size(three), 3);
    json_decref(three);
    ns_dealloc(ctx, text);

    /* a refused change writes no event: a lost lease, a finished job's cancel */
    NS_ASSERT_STATUS(ctx, ns_job_progress(s, &lease, 2, 2, NULL), NS_ERR_STATE);
    NS_ASSERT_STATUS(ctx, ns_job_event(s, &lease, "card", "{}"), NS_ERR_STATE);
    NS_ASSERT_STATUS(ctx, ns_job_event(s, &lease, "card", "[1]"), NS_ERR_INVALID);
    NS_ASSERT_OK(ctx, ns_store_event_last(s, &last));
    assert_int_equal(last, prev);
    json_decref(all);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_history_across_a_resume(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    int64_t id = one_job(ctx, s);
    ns_job job;
    ns_lease lease;
    bool claimed = false;
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w1", 30, &job, &lease, &claimed));
    ns_job_clear(&job);
    for (int e = 1; e <= 3; e++) {
        char m[64];
        snprintf(m, sizeof m, "{\"loss\": %d}", 10 + e);
        NS_ASSERT_OK(ctx, ns_job_progress(s, &lease, e, 5, m));
    }
    /* the worker dies after epoch 3, its checkpoint at epoch 2: the next one runs 3 again */
    NS_ASSERT_OK(ctx, ns_job_release(s, &lease));
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w2", 30, &job, &lease, &claimed));
    ns_job_clear(&job);
    NS_ASSERT_OK(ctx, ns_job_progress(s, &lease, 3, 5, "{\"loss\": 33}"));
    NS_ASSERT_OK(ctx, ns_job_progress(s, &lease, 4, 5, "{\"loss\": 44}"));
    NS_ASSERT_OK(ctx, ns_job_get(s, id, &job));
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_job_to_json(ctx, &job, &text));
    ns_job_clear(&job);
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ns_dealloc(ctx, text);
    json_t *history = json_object_get(j, "history");
    assert_int_equal(json_array_size(history), 4);
    static const int losses[] = {11, 12, 33, 44};
    for (size_t i = 0; i < 4; i++) {
        json_t *h = json_array_get(history, i);
        assert_int_equal(json_integer_value(json_object_get(h, "epoch")), (json_int_t)i + 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "metrics"), "loss")),
                         losses[i]);
    }
    json_decref(j);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_window(void **state)
{
    (void)state;
    setenv("NETSMITH_STORE_EVENTS_KEEP", "50", 1);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    int64_t id = one_job(ctx, s);
    /* 2 events per cancel + retry: 301 events in all */
    for (int i = 0; i < 150; i++) {
        NS_ASSERT_OK(ctx, ns_job_cancel(s, id));
        NS_ASSERT_OK(ctx, ns_job_retry(s, id));
    }
    int64_t last = 0, first = 0;
    NS_ASSERT_OK(ctx, ns_store_event_last(s, &last));
    json_t *kept = events(ctx, s, 0, 0, &first);
    /* at most keep + 63 (the window is cut every 64th event), at least keep */
    assert_true(json_array_size(kept) >= 50 && json_array_size(kept) < 50 + 64);
    assert_true(first > 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(kept, 0), "id")), first);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(kept, json_array_size(kept) - 1), "id")),
        last);
    json_decref(kept);
    ns_store_close(s);
    ns_ctx_free(ctx);
    unsetenv("NETSMITH_STORE_EVENTS_KEEP");
}

/* A store made by a netsmith of schema 1 (its tables as they were) opens as schema 2 with its
 * jobs and objects; SQLite only (the same statements run on PostgreSQL at every fresh open). */
static void test_migration_from_1(void **state)
{
    (void)state;
    if (on_postgres()) {
        skip();
        return;
    }
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    int64_t id = one_job(ctx, s);
    ns_store_close(s);
    /* back to schema 1: what version 2 added, removed */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(url + 7, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE events; DROP TABLE pipelines; ALTER TABLE jobs DROP "
                                  "COLUMN history; UPDATE meta SET value = '1' WHERE key = "
                                  "'schema_version'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    NS_ASSERT_OK(ctx, ns_store_open(ctx, url, &s));
    assert_int_equal(ns_store_schema_version(s), 3);
    ns_job job;
    NS_ASSERT_OK(ctx, ns_job_get(s, id, &job));
    assert_int_equal(job.state, NS_JOB_QUEUED);
    assert_null(job.history);
    ns_job_clear(&job);
    int64_t last = -1;
    NS_ASSERT_OK(ctx, ns_store_event_last(s, &last));
    assert_int_equal(last, 0); /* the old changes made no events; new ones do */
    NS_ASSERT_OK(ctx, ns_job_cancel(s, id));
    NS_ASSERT_OK(ctx, ns_store_event_last(s, &last));
    assert_int_equal(last, 1);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_change_is_an_event),
        cmocka_unit_test(test_history_across_a_resume),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_migration_from_1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
