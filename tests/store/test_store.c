/* The registry and the job queue (netsmith/store.h) against the store the environment names
 * (NETSMITH_TEST_STORE: a postgresql:// URL, else a fresh SQLite file): objects and their
 * errors, the queue's leases and fencing tokens, concurrent claims, and a worker's train job
 * whose weights are those of the same ns_run run directly. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netsmith/store.h"
#include "store/store_fixture.h"

static const char spec_json[] =
    "{\"layers\": [{\"type\": \"linear\", \"units\": 8}, {\"type\": \"relu\"}, "
    "{\"type\": \"linear\", \"units\": 3}], \"training\": {\"epochs\": 3, \"batch_size\": 16}}";

static void test_open_and_schema(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    assert_int_equal(ns_store_schema_version(s), 3);
    ns_store_close(s);
    /* opened again: the schema is there and stays */
    NS_ASSERT_OK(ctx, ns_store_open(ctx, url, &s));
    assert_int_equal(ns_store_schema_version(s), 3);
    ns_store_close(s);
    /* bad URLs */
    NS_ASSERT_STATUS(ctx, ns_store_open(ctx, "mysql://x", &s), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "use sqlite:PATH or postgresql://");
    assert_null(s);
    NS_ASSERT_STATUS(ctx, ns_store_open(ctx, "sqlite:/no/such/dir/x.db", &s), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "/no/such/dir/x.db");
    ns_ctx_free(ctx);
}

static void test_blobs(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    const char data[] = "weights\0with\0zeros";
    char sha[65], again[65];
    NS_ASSERT_OK(ctx, ns_store_blob_put(s, data, sizeof data, sha));
    NS_ASSERT_OK(ctx, ns_store_blob_put(s, data, sizeof data, again)); /* once */
    assert_string_equal(sha, again);
    void *got = NULL;
    size_t n = 0;
    NS_ASSERT_OK(ctx, ns_store_blob_get(s, sha, &got, &n));
    assert_int_equal(n, sizeof data);
    assert_memory_equal(got, data, n);
    ns_dealloc(ctx, got);
    /* the empty blob is a blob too */
    NS_ASSERT_OK(ctx, ns_store_blob_put(s, "", 0, sha));
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    NS_ASSERT_OK(ctx, ns_store_blob_get(s, sha, &got, &n));
    assert_int_equal(n, 0);
    ns_dealloc(ctx, got);
    NS_ASSERT_STATUS(ctx, ns_store_blob_get(s, "00", &got, &n), NS_ERR_NOTFOUND);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_architectures(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    NS_ASSERT_OK(ctx, ns_store_arch_add(s, "mlp-small", spec_json, "spec.json"));
    NS_ASSERT_OK(ctx, ns_store_arch_add(s, "mlp-small", spec_json, "spec.json")); /* no-op */
    NS_ASSERT_STATUS(ctx,
                     ns_store_arch_add(s, "mlp-small", "{\"hidden_layers\": [4]}", "other.json"),
                     NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "already in the store with other contents");
    NS_ASSERT_STATUS(
        ctx,
        ns_store_arch_add(s, "broken", "{\"layers\": [{\"type\": \"lienar\"}]}", "broken.json"),
        NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "broken.json: layers[0]");
    NS_ASSERT_STATUS(ctx, ns_store_arch_add(s, "no spaces", spec_json, NULL), NS_ERR_INVALID);
    char *json = NULL;
    NS_ASSERT_OK(ctx, ns_store_arch_get(s, "mlp-small", &json));
    assert_non_null(strstr(json, "\"units\": 8"));
    ns_dealloc(ctx, json);
    NS_ASSERT_STATUS(ctx, ns_store_arch_get(s, "mlp-smal", &json), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'mlp-small'");
    NS_ASSERT_OK(ctx, ns_store_arch_list(s, &json));
    assert_non_null(strstr(json, "mlp-small"));
    ns_dealloc(ctx, json);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

/* An architecture, a dataset (iris) and a model, for the tests below. */
static void registry(ns_ctx *ctx, ns_store *s)
{
    NS_ASSERT_OK(ctx, ns_store_arch_add(s, "mlp", spec_json, "spec.json"));
    NS_ASSERT_OK(ctx, ns_store_data_add(s, "iris", "{\"data\": \"iris\"}"));
    NS_ASSERT_OK(ctx, ns_store_model_create(s, "flowers", "mlp"));
}

static void test_datasets_and_models(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    registry(ctx, s);
    /* a CSV file goes into the store */
    char csv[300];
    snprintf(csv, sizeof csv, "%s/tiny.csv", dir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    fclose(f);
    char src[400];
    snprintf(src, sizeof src, "{\"data\": \"%s\", \"target\": \"y\"}", csv);
    NS_ASSERT_OK(ctx, ns_store_data_add(s, "tiny", src));
    char *json = NULL;
    NS_ASSERT_OK(ctx, ns_store_data_get(s, "tiny", &json));
    assert_non_null(strstr(json, "\"data\": \"tiny.csv\""));
    assert_null(strstr(json, "\"blob\": null"));
    ns_dealloc(ctx, json);
    NS_ASSERT_STATUS(ctx, ns_store_data_add(s, "bad", "{\"dta\": \"iris\"}"), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "dta");
    /* models */
    NS_ASSERT_OK(ctx, ns_store_model_create(s, "flowers", "mlp")); /* no-op */
    NS_ASSERT_STATUS(ctx, ns_store_model_create(s, "x", "nope"), NS_ERR_NOTFOUND);
    ns_store_version v;
    NS_ASSERT_STATUS(ctx, ns_store_version_get(s, "flowers", &v), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "has no versions yet");
    NS_ASSERT_STATUS(ctx, ns_store_version_get(s, "flowers@", &v), NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_store_version_get(s, "flower@2", &v), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'flowers'");
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_submit_checks(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    registry(ctx, s);
    int64_t id = 0;
    NS_ASSERT_STATUS(
        ctx, ns_job_submit(s, NS_JOB_TRAIN, "{\"model\": \"flower\", \"data\": \"iris\"}", 0, &id),
        NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'flowers'");
    NS_ASSERT_STATUS(ctx,
                     ns_job_submit(s, NS_JOB_TRAIN,
                                   "{\"model\": \"flowers\", \"data\": \"iris\", \"config\": "
                                   "{\"epochz\": 3}}",
                                   0, &id),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "epochz");
    NS_ASSERT_STATUS(ctx,
                     ns_job_submit(s, NS_JOB_TRAIN,
                                   "{\"model\": \"flowers\", \"data\": \"iris\", \"config\": "
                                   "{\"run_dir\": \"x\"}}",
                                   0, &id),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "set by the job itself");
    NS_ASSERT_STATUS(
        ctx, ns_job_submit(s, NS_JOB_TRAIN, "{\"model\": \"flowers\", \"dat\": \"iris\"}", 0, &id),
        NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'data'");
    NS_ASSERT_OK(ctx, ns_job_submit(s, NS_JOB_TRAIN,
                                    "{\"model\": \"flowers\", \"data\": \"iris\", \"config\": "
                                    "{\"epochs\": 2}}",
                                    0, &id));
    ns_job j;
    NS_ASSERT_OK(ctx, ns_job_get(s, id, &j));
    assert_int_equal(j.state, NS_JOB_QUEUED);
    assert_int_equal(j.kind, NS_JOB_TRAIN);
    ns_job_clear(&j);
    /* cancel a queued job, retry it */
    NS_ASSERT_OK(ctx, ns_job_cancel(s, id));
    NS_ASSERT_OK(ctx, ns_job_get(s, id, &j));
    assert_int_equal(j.state, NS_JOB_CANCELLED);
    ns_job_clear(&j);
    NS_ASSERT_STATUS(ctx, ns_job_cancel(s, id), NS_ERR_STATE);
    NS_ASSERT_OK(ctx, ns_job_retry(s, id));
    NS_ASSERT_OK(ctx, ns_job_get(s, id, &j));
    assert_int_equal(j.state, NS_JOB_QUEUED);
    ns_job_clear(&j);
    NS_ASSERT_STATUS(ctx, ns_job_get(s, 9999, &j), NS_ERR_NOTFOUND);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

static void test_leases_and_fencing(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    registry(ctx, s);
    int64_t low = 0, high = 0;
    NS_ASSERT_OK(ctx, ns_job_submit(s, NS_JOB_TRAIN, "{\"model\": \"flowers\", \"data\": \"iris\"}",
                                    0, &low));
    NS_ASSERT_OK(ctx, ns_job_submit(s, NS_JOB_TRAIN, "{\"model\": \"flowers\", \"data\": \"iris\"}",
                                    5, &high));
    ns_job a, b;
    ns_lease la, lb;
    bool got = false;
    /* the higher priority first */
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w1", 0.3, &a, &la, &got));
    assert_true(got);
    assert_int_equal(a.id, high);
    assert_int_equal(a.attempts, 1);
    NS_ASSERT_OK(ctx, ns_job_heartbeat(s, &la, 0.3, NULL));
    NS_ASSERT_OK(ctx, ns_job_progress(s, &la, 1, 3, "{\"loss\": 1.5}"));
    /* w1 goes quiet: its lease lapses and w2 takes the job over with a new token */
    struct timespec half = {0, 500000000};
    nanosleep(&half, NULL);
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w2", 30, &b, &lb, &got));
    assert_true(got);
    assert_int_equal(b.id, high);
    assert_int_equal(b.attempts, 2);
    assert_true(lb.token > la.token);
    assert_int_equal(b.epoch, 1); /* the progress stays */
    /* the old token can change nothing */
    NS_ASSERT_STATUS(ctx, ns_job_heartbeat(s, &la, 30, NULL), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "taken over");
    NS_ASSERT_STATUS(ctx, ns_job_progress(s, &la, 2, 3, NULL), NS_ERR_STATE);
    NS_ASSERT_STATUS(ctx, ns_job_checkpoint(s, &la, "{}"), NS_ERR_STATE);
    NS_ASSERT_STATUS(ctx, ns_job_finish(s, &la, NS_JOB_FAILED, NULL, "stale"), NS_ERR_STATE);
    char sha[65];
    NS_ASSERT_OK(ctx, ns_store_blob_put(s, "w", 1, sha));
    NS_ASSERT_STATUS(ctx, ns_job_succeed(s, &la, "flowers", sha, "", 0, NULL, NULL), NS_ERR_STATE);
    /* the new one can */
    bool cancel = true;
    NS_ASSERT_OK(ctx, ns_job_heartbeat(s, &lb, 30, &cancel));
    assert_false(cancel);
    NS_ASSERT_OK(ctx, ns_job_cancel(s, high)); /* asks the running job to stop */
    NS_ASSERT_OK(ctx, ns_job_heartbeat(s, &lb, 30, &cancel));
    assert_true(cancel);
    int version = 0;
    NS_ASSERT_OK(ctx, ns_job_succeed(s, &lb, "flowers", sha, "", 0, "{\"loss\": 1}", &version));
    assert_int_equal(version, 1);
    ns_job done;
    NS_ASSERT_OK(ctx, ns_job_get(s, high, &done));
    assert_int_equal(done.state, NS_JOB_SUCCEEDED);
    assert_non_null(strstr(done.result, "\"version\": 1"));
    ns_job_clear(&done);
    /* an ended job is claimed by nobody; the other one is next */
    ns_job c;
    ns_lease lc;
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w3", 30, &c, &lc, &got));
    assert_true(got);
    assert_int_equal(c.id, low);
    NS_ASSERT_OK(ctx, ns_job_release(s, &lc)); /* w3 stops: back to the queue */
    ns_job d;
    ns_lease ld;
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w4", 30, &d, &ld, &got));
    assert_true(got);
    assert_int_equal(d.id, low);
    NS_ASSERT_STATUS(ctx, ns_job_progress(s, &lc, 1, 1, NULL), NS_ERR_STATE);
    ns_job_clear(&d);
    ns_job_clear(&c);
    NS_ASSERT_OK(ctx, ns_job_claim(s, "w5", 30, &c, &lc, &got));
    assert_false(got);
    /* versions and aliases */
    NS_ASSERT_OK(ctx, ns_store_alias_set(s, "flowers@1", "production"));
    ns_store_version v;
    NS_ASSERT_OK(ctx, ns_store_version_get(s, "flowers@production", &v));
    assert_int_equal(v.version, 1);
    assert_int_equal(v.job, high);
    NS_ASSERT_STATUS(ctx, ns_store_alias_set(s, "flowers@1", "2x"), NS_ERR_INVALID);
    NS_ASSERT_STATUS(ctx, ns_store_version_get(s, "flowers@staging", &v), NS_ERR_NOTFOUND);
    ns_job_clear(&a);
    ns_job_clear(&b);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

/* ---- concurrent claims --------------------------------------------------------------------- */

#define WORKERS 4
#define JOBS 40

typedef struct claimer {
    int claimed[JOBS + 1];
    int n;
} claimer;

static void *claim_all(void *arg)
{
    claimer *c = arg;
    ns_ctx *ctx = NULL;
    ns_store *s = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK || ns_store_open(ctx, url, &s) != NS_OK)
        return NULL;
    for (;;) {
        ns_job j;
        ns_lease l;
        bool got = false;
        ns_status st = ns_job_claim(s, "racer", 60, &j, &l, &got);
        if (st == NS_ERR_BUSY)
            continue;
        if (st != NS_OK || !got)
            break;
        if (j.id >= 1 && j.id <= JOBS)
            c->claimed[j.id]++;
        c->n++;
        ns_job_finish(s, &l, NS_JOB_SUCCEEDED, NULL, NULL);
        ns_job_clear(&j);
    }
    ns_store_close(s);
    ns_ctx_free(ctx);
    return NULL;
}

static void test_concurrent_claims(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    registry(ctx, s);
    for (int i = 0; i < JOBS; i++) {
        int64_t id = 0;
        NS_ASSERT_OK(ctx, ns_job_submit(s, NS_JOB_TRAIN,
                                        "{\"model\": \"flowers\", \"data\": \"iris\"}", 0, &id));
    }
    claimer c[WORKERS];
    memset(c, 0, sizeof c);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    int total = 0;
    for (int id = 1; id <= JOBS; id++) {
        int times = 0;
        for (int i = 0; i < WORKERS; i++)
            times += c[i].claimed[id];
        if (times != 1)
            fail_msg("job %d was claimed %d times", id, times);
    }
    for (int i = 0; i < WORKERS; i++)
        total += c[i].n;
    assert_int_equal(total, JOBS);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

/* ---- a worker's train job ---------------------------------------------------------------- */

/* The tensors of two safetensors files are the same bytes. */
static void assert_same_tensors(ns_ctx *ctx, const char *a, const char *b)
{
    ns_st_file *fa = NULL, *fb = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, a, &fa));
    NS_ASSERT_OK(ctx, ns_st_open(ctx, b, &fb));
    assert_int_equal(ns_st_count(fa), ns_st_count(fb));
    for (int i = 0; i < ns_st_count(fa); i++) {
        const ns_st_tensor *ta = ns_st_get(fa, i);
        const ns_st_tensor *tb = ns_st_find(fb, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->nbytes, tb->nbytes);
        assert_memory_equal(ta->data, tb->data, ta->nbytes);
    }
    ns_st_close(fa);
    ns_st_close(fb);
}

static void test_worker_trains(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_store *s = open_fresh(ctx);
    registry(ctx, s);
    int64_t id = 0;
    NS_ASSERT_OK(ctx, ns_job_submit(s, NS_JOB_TRAIN,
                                    "{\"model\": \"flowers\", \"data\": \"iris\", \"config\": "
                                    "{\"seed\": 7, \"epochs\": 4}}",
                                    0, &id));
    ns_worker_options o;
    ns_worker_options_default(&o);
    o.once = true;
    o.checkpoint_steps = 3;
    int ran = 0;
    NS_ASSERT_OK(ctx, ns_worker_run(s, &o, &ran));
    assert_int_equal(ran, 1);
    ns_job j;
    NS_ASSERT_OK(ctx, ns_job_get(s, id, &j));
    if (j.state != NS_JOB_SUCCEEDED)
        fail_msg("job %lld is %s: %s", (long long)id, ns_job_state_name(j.state),
                 j.error ? j.error : "");
    assert_int_equal(j.epoch, 4);
    assert_non_null(j.checkpoint);
    ns_job_clear(&j);
    /* the version's weights are those of the same run made directly */
    char got[300], want[300], spec[300];
    snprintf(got, sizeof got, "%s/job.safetensors", dir);
    snprintf(want, sizeof want, "%s/direct.safetensors", dir);
    snprintf(spec, sizeof spec, "%s/spec.json", dir);
    ns_store_version v;
    NS_ASSERT_OK(ctx, ns_store_version_get(s, "flowers", &v));
    assert_int_equal(v.version, 1);
    assert_true(v.record[0] != '\0');
    NS_ASSERT_OK(ctx, ns_store_blob_get_file(s, v.weights, got));
    NS_ASSERT_OK(ctx, ns_write_file(ctx, spec, spec_json, strlen(spec_json)));
    ns_run_config *cfg = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\": \"%s\", \"data\": \"iris\", \"seed\": 7, \"epochs\": 4, \"output\": "
             "\"%s\", \"run_dir\": \"%s/direct-run\"}",
             spec, want, dir);
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg, body, "direct"));
    ns_run_record *rec = NULL;
    NS_ASSERT_OK(ctx, ns_run(ctx, cfg, NULL, &rec));
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    assert_same_tensors(ctx, got, want);
    ns_store_close(s);
    ns_ctx_free(ctx);
}

/* ---- out of memory ----------------------------------------------------------------------- */

/* The registry and the queue with the k-th allocation failing, for every k until the whole
 * sequence gets through: each failure is an error (never a crash or a silent success), nothing
 * leaks, and the store stays usable (what failed left nothing half-made). */
static ns_status sequence(ns_ctx *ctx, ns_store *s, int k)
{
    char name[32];
    snprintf(name, sizeof name, "m%d", k);
    ns_status st = ns_store_arch_add(s, "mlp", spec_json, "spec.json");
    if (st == NS_OK)
        st = ns_store_data_add(s, "iris", "{\"data\": \"iris\"}");
    if (st == NS_OK)
        st = ns_store_model_create(s, name, "mlp");
    char params[128];
    snprintf(params, sizeof params, "{\"model\": \"%s\", \"data\": \"iris\"}", name);
    int64_t id = 0;
    if (st == NS_OK)
        st = ns_job_submit(s, NS_JOB_TRAIN, params, 0, &id);
    ns_job j;
    ns_lease l;
    bool got = false;
    if (st == NS_OK)
        st = ns_job_claim(s, "w", 30, &j, &l, &got);
    if (st == NS_OK && got) {
        st = ns_job_progress(s, &l, 1, 2, "{\"loss\": 1}");
        char sha[65];
        if (st == NS_OK)
            st = ns_store_blob_put(s, "abc", 3, sha);
        if (st == NS_OK)
            st = ns_job_succeed(s, &l, name, sha, "", 0, NULL, NULL);
        ns_job_clear(&j);
    }
    char *json = NULL;
    if (st == NS_OK)
        st = ns_store_model_get(s, name, &json);
    ns_dealloc(ctx, json);
    json = NULL;
    if (st == NS_OK)
        st = ns_job_list(s, NS_JOB_STATE_COUNT, &json);
    ns_dealloc(ctx, json);
    return st;
}

static void test_out_of_memory(void **state)
{
    (void)state;
    bool done = false;
    for (int k = 1; !done && k < 5000; k++) {
        ns_test_alloc ta = {0};
        ns_allocator al = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
        ns_ctx *plain = NULL;
        assert_int_equal(ns_ctx_new(NULL, &plain), NS_OK);
        ns_store *fresh = open_fresh(plain); /* a fresh store, made without failures */
        ns_store_close(fresh);
        ns_store *s = NULL;
        ta.fail_at = ta.calls + (size_t)k;
        ns_status st = ns_store_open(ctx, url, &s);
        if (st == NS_OK)
            st = sequence(ctx, s, k);
        if (st == NS_OK) {
            done = ta.calls < ta.fail_at; /* the failing allocation was never reached */
            if (!done)
                fail_msg("allocation %d failed and the sequence still succeeded", k);
        } else if (st != NS_ERR_NOMEM && st != NS_ERR_IO) {
            fail_msg("allocation %d: %s (%s)", k, ns_status_str(st), ns_errmsg(ctx));
        }
        ns_store_close(s);
        /* the store is whole: the same sequence runs through without failures */
        ta.fail_at = 0;
        if (st != NS_OK) {
            ns_store *again = NULL;
            NS_ASSERT_OK(plain, ns_store_open(plain, url, &again));
            NS_ASSERT_OK(plain, sequence(plain, again, k));
            ns_store_close(again);
        }
        ns_ctx_free(ctx);
        ns_ctx_free(plain);
        if (ta.live != 0)
            fail_msg("allocation %d: %ld blocks leaked", k, ta.live);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_schema),   cmocka_unit_test(test_blobs),
        cmocka_unit_test(test_architectures),     cmocka_unit_test(test_datasets_and_models),
        cmocka_unit_test(test_submit_checks),     cmocka_unit_test(test_leases_and_fencing),
        cmocka_unit_test(test_concurrent_claims), cmocka_unit_test(test_worker_trains),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
