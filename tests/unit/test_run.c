/* The run layer: the run config (one settings table: round trips, aliases and groups, one bad
 * value of each setting type with its message, the schema), ns_run (events in order, the
 * record and the run directory, several seeds, cancellation with a checkpoint that resumes to
 * the same weights, a reused run directory refused) and allocation failure over a whole run
 * with checkpoints. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netsmith/netsmith.h"
#include "run/run_internal.h"
#include "testutil.h"

static const char spec_json[] = "{\"hidden_layers\": [8], \"epochs\": 3, \"batch_size\": 16}";

static char *tmpdir(void)
{
    char *d = strdup("/tmp/ns_run_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmrf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static bool exists(const char *dir, const char *name)
{
    char p[1400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

/* A config for iris with the spec inline and the run directory under dir. */
static ns_run_config *iris_config(ns_ctx *ctx, const char *dir, const char *extra)
{
    ns_run_config *cfg = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    char text[2048];
    snprintf(text, sizeof text, "{\"model\": %s, \"data\": \"iris\", \"run_dir\": \"%s/run\"%s%s}",
             spec_json, dir, extra ? ", " : "", extra ? extra : "");
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg, text, "test"));
    return cfg;
}

/* ---- the run config ------------------------------------------------------------------------ */

static void test_config_round_trip(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_run_config *a = NULL, *b = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &a));
    /* names, aliases and groups all land on the canonical names */
    NS_ASSERT_OK(ctx, ns_run_config_merge(
                          a,
                          "{\"net\": \"mlp\", \"net_config\": {\"nodes\": 16, \"layers\": 1},"
                          " \"data\": \"wine\", \"optimizer_type\": \"adam\","
                          " \"optimizer_config\": {\"lr\": 0.01, \"betas\": [0.8, 0.99],"
                          " \"eps\": 1e-7, \"weight_decay\": 0.001},"
                          " \"scheduler\": \"step\", \"scheduler_config\": {\"step_size\": 4,"
                          " \"gamma\": 0.5}, \"early_stopping\": {\"patience\": 5,"
                          " \"monitor\": \"val_accuracy\", \"restore_best\": true},"
                          " \"clip_norm\": 1.5, \"seeds\": [1, 2], \"split\": [0.6, 0.2, 0.2],"
                          " \"one_hot\": true}",
                          "cfg.yaml"));
    NS_ASSERT_OK(ctx, ns_run_config_set_text(a, "lr", "0.02", "--lr"));
    NS_ASSERT_OK(ctx, ns_run_config_set_text(a, "momentum", "0", "--momentum"));
    assert_string_equal(ns_run_config_string(a, "model"), "mlp");
    assert_string_equal(ns_run_config_string(a, "optimizer"), "adam");
    NS_ASSERT_CLOSE(ns_run_config_number(a, "learning_rate"), 0.02, 0, 0); /* the later wins */
    double betas[2];
    assert_int_equal(ns_run_config_list(a, "betas", betas, 2), 2);
    NS_ASSERT_CLOSE(betas[0], 0.8, 0, 0);
    assert_string_equal(ns_run_config_string(a, "schedule"), "step");
    assert_int_equal(ns_run_config_int(a, "step_size"), 4);
    assert_int_equal(ns_run_config_int(a, "early_stopping"), 5);
    assert_string_equal(ns_run_config_string(a, "monitor"), "val_accuracy");
    assert_true(ns_run_config_bool(a, "restore_best"));
    NS_ASSERT_CLOSE(ns_run_config_number(a, "gradient_clip"), 1.5, 0, 0);
    /* defaults read through */
    assert_false(ns_run_config_has(a, "epochs"));
    assert_string_equal(ns_run_config_string(a, "normalize"), "standard");
    assert_int_equal(ns_run_config_int(a, "eval_batch"), 256);
    /* out and back in */
    char *ja = NULL, *jb = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_to_json(a, &ja));
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &b));
    NS_ASSERT_OK(ctx, ns_run_config_merge(b, ja, "round trip"));
    NS_ASSERT_OK(ctx, ns_run_config_to_json(b, &jb));
    assert_string_equal(ja, jb);
    assert_non_null(strstr(ja, "\"learning_rate\": 0.02"));
    assert_null(strstr(ja, "\"lr\""));
    ns_dealloc(ctx, ja);
    ns_dealloc(ctx, jb);
    ns_run_config_free(a);
    ns_run_config_free(b);
    ns_ctx_free(ctx);
}

typedef struct bad_case {
    const char *json; /* one setting */
    const char *message;
} bad_case;

static void test_config_bad_values(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        /* an unknown key, with a did-you-mean, and one inside a group */
        {"{\"epohcs\": 3}", "run.yaml: unknown setting 'epohcs' (did you mean 'epochs'?)"},
        {"{\"optimizer_config\": {\"betaz\": [0.9, 0.99]}}",
         "run.yaml: unknown setting 'betaz' in optimizer_config"},
        {"{\"scheduler_config\": {\"nope\": 1}}", "unknown setting 'nope' in scheduler_config"},
        /* one per type */
        {"{\"epochs\": \"ten\"}", "run.yaml: epochs: expected an integer in [1, 1000000000], got "
                                  "'ten'"},
        {"{\"epochs\": 0}", "run.yaml: epochs: expected an integer in [1, 1000000000], got '0'"},
        {"{\"batch_size\": 2.5}", "run.yaml: batch_size: expected an integer"},
        {"{\"learning_rate\": \"fast\"}", "run.yaml: learning_rate: expected a number in [0, "
                                          "1000000], got 'fast'"},
        {"{\"lr\": -1}", "run.yaml: lr: expected a number in [0, 1000000], got '-1'"},
        {"{\"restore_best\": 1}", "run.yaml: restore_best: must be true or false, not 1"},
        {"{\"optimizer\": \"adamax\"}",
         "run.yaml: optimizer: is 'adamax'; choose one of sgd|adam|adamw|rmsprop"},
        {"{\"normalize\": 3}", "run.yaml: normalize: must be a text, not 3"},
        {"{\"split\": [0.8, \"x\"]}", "run.yaml: split: must be a list of numbers"},
        {"{\"split\": [0.8]}", "run.yaml: split: must be [train, val] or [train, val, test]"},
        {"{\"betas\": [0.9]}", "run.yaml: betas: must be two numbers"},
        {"{\"betas\": [0.9, 1.5]}", "run.yaml: betas: has 1.5 at [1]"},
        {"{\"seeds\": [1, 2.5]}", "run.yaml: seeds[1] is 2.5; every seed is a whole number"},
        {"{\"model\": 7}", "run.yaml: model: must be a file name, a named blueprint"},
        {"{\"model_config\": [1]}", "run.yaml: model_config: must be a mapping"},
    };
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ns_run_config *cfg = NULL;
        NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
        ns_status st = ns_run_config_merge(cfg, cases[i].json, "run.yaml");
        if (st == NS_OK || strstr(ns_errmsg(ctx), cases[i].message) == NULL)
            fail_msg("%s: got status %d, message '%s'; wanted '%s'", cases[i].json, st,
                     ns_errmsg(ctx), cases[i].message);
        assert_false(ns_run_config_has(cfg, "epochs")); /* nothing half set */
        ns_run_config_free(cfg);
    }
    /* flags name themselves */
    ns_run_config *cfg = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_STATUS(ctx, ns_run_config_set_text(cfg, "threads", "x", "--threads"), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "--threads: expected an integer in [1, 64], got 'x'");
    NS_ASSERT_STATUS(ctx, ns_run_config_set_text(cfg, "betas", "0.9,,0.99", "--betas"),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "--betas: must be comma-separated numbers");
    NS_ASSERT_STATUS(ctx, ns_run_config_set_text(cfg, "amsgrad", "maybe", "--amsgrad"),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "--amsgrad: must be true or false, not 'maybe'");
    ns_run_config_free(cfg);
    ns_ctx_free(ctx);
}

static void test_config_file_paths_and_schema(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *dir = tmpdir();
    char path[600], sub[600];
    snprintf(sub, sizeof sub, "%s/conf", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    snprintf(path, sizeof path, "%s/conf/spec.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(spec_json, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/conf/run.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("net: spec.json\ndata: iris\noutput: out.safetensors\n"
          "optimizer_config: {momentum: 0.5}\ndata_config: {labels: l/labels.idx}\n",
          f);
    fclose(f);
    ns_run_config *cfg = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_OK(ctx, ns_run_config_load(cfg, path));
    /* files read are found from the file's directory; built-in names and written files stay */
    char want[700];
    snprintf(want, sizeof want, "%s/conf/spec.json", dir);
    assert_string_equal(ns_run_config_string(cfg, "model"), want);
    assert_string_equal(ns_run_config_string(cfg, "data"), "iris");
    assert_string_equal(ns_run_config_string(cfg, "output"), "out.safetensors");
    snprintf(want, sizeof want, "%s/conf/l/labels.idx", dir); /* also inside a group */
    assert_string_equal(ns_run_config_string(cfg, "labels"), want);
    NS_ASSERT_CLOSE(ns_run_config_number(cfg, "momentum"), 0.5, 0, 0);
    ns_run_config_free(cfg);
    /* a bad key in a file names the file */
    f = fopen(path, "w");
    fputs("data: iris\nbatchsize: 3\n", f);
    fclose(f);
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_STATUS(ctx, ns_run_config_load(cfg, path), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "run.yaml: unknown setting 'batchsize' (did you mean 'batch_size'?)");
    ns_run_config_free(cfg);
    /* the schema: every setting with its type and default, aliases for the seed's names */
    char *schema = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_schema(ctx, &schema));
    json_error_t err;
    json_t *js = json_loads(schema, 0, &err);
    assert_non_null(js);
    json_t *props = json_object_get(js, "properties");
    int n;
    const ns_setting_def *defs = ns_run_settings(&n);
    assert_int_equal((int)json_object_size(props), n);
    json_t *lr = json_object_get(props, "learning_rate");
    assert_string_equal(json_string_value(json_object_get(lr, "type")), "number");
    assert_non_null(json_object_get(lr, "aliases"));
    json_t *opt = json_object_get(props, "optimizer");
    assert_int_equal(json_array_size(json_object_get(opt, "enum")), 4);
    assert_true(json_is_false(json_object_get(js, "additionalProperties")));
    /* the Train card's settings are the table's first rows */
    assert_string_equal(defs[NS__FIT_SETTING_COUNT - 1].name, "seed");
    json_decref(js);
    ns_dealloc(ctx, schema);
    rmrf(dir);
    free(dir);
    ns_ctx_free(ctx);
}

/* ---- ns_run -------------------------------------------------------------------------------- */

typedef struct event_log {
    ns_run_event_kind kinds[4096];
    int seed_index[4096];
    int n;
    int cancel_after; /* batches; 0: never */
    int batches;
    atomic_int cancel;
} event_log;

static void on_event(void *ud, const ns_run_event *ev)
{
    event_log *log = ud;
    if (log->n < 4096) {
        log->kinds[log->n] = ev->kind;
        log->seed_index[log->n] = ev->seed_index;
        log->n++;
    }
    if (ev->kind == NS_RUN_BATCH && log->cancel_after > 0 && ++log->batches == log->cancel_after)
        atomic_store(&log->cancel, 1);
}

static void test_events_in_order(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *dir = tmpdir();
    char ck[600];
    snprintf(ck, sizeof ck, "\"checkpoint_dir\": \"%s/ck\", \"seeds\": [3, 4], \"threads\": 2",
             dir);
    ns_run_config *cfg = iris_config(ctx, dir, ck);
    event_log *log = calloc(1, sizeof *log);
    ns_run_hooks hooks = {on_event, log, NULL};
    ns_run_record *rec = NULL;
    NS_ASSERT_OK(ctx, ns_run(ctx, cfg, &hooks, &rec));
    /* started; per seed: seed_started, (batches, epoch, checkpoint) x 3, saved, seed_finished;
     * finished */
    int k = 0;
    assert_int_equal(log->kinds[k++], NS_RUN_STARTED);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(log->kinds[k], NS_RUN_SEED_STARTED);
        assert_int_equal(log->seed_index[k++], s);
        for (int e = 0; e < 3; e++) {
            int batches = 0;
            while (log->kinds[k] == NS_RUN_BATCH)
                k++, batches++;
            assert_int_equal(batches, 7); /* 105 training rows in batches of 16 */
            assert_int_equal(log->kinds[k++], NS_RUN_EPOCH);
            assert_int_equal(log->kinds[k++], NS_RUN_CHECKPOINT);
        }
        assert_int_equal(log->kinds[k++], NS_RUN_SAVED);
        assert_int_equal(log->kinds[k], NS_RUN_SEED_FINISHED);
        assert_int_equal(log->seed_index[k++], s);
    }
    assert_int_equal(log->kinds[k++], NS_RUN_FINISHED);
    assert_int_equal(k, log->n);
    /* the record, and the run directory it was written to */
    assert_int_equal(rec->n_seeds, 2);
    assert_int_equal(rec->threads, 2); /* the config's threads are the run's */
    assert_int_equal(rec->seeds[1].seed, 4);
    assert_int_equal(rec->seeds[0].epochs_run, 3);
    assert_true(rec->seeds[0].has_test && rec->summary_of_test);
    double mean = (rec->seeds[0].test.accuracy + rec->seeds[1].test.accuracy) / 2;
    NS_ASSERT_CLOSE(rec->mean.accuracy, mean, 1e-12, 0);
    assert_non_null(strstr(rec->settings_json, "\"epochs\": 3")); /* the blueprint's, resolved */
    assert_non_null(strstr(rec->settings_json, "\"optimizer\": \"adam\""));
    assert_null(strstr(rec->settings_json, "-1"));
    char run[600];
    snprintf(run, sizeof run, "%s/run", dir);
    assert_true(exists(run, "record.json"));
    assert_true(exists(run, "summary.json"));
    assert_true(exists(run, "seed-3/settings.json"));
    assert_true(exists(run, "seed-4/metrics.csv"));
    assert_true(exists(run, "seed-4/model.safetensors"));
    assert_true(exists(dir, "ck/seed-3"));
    char *json = NULL;
    NS_ASSERT_OK(ctx, ns_run_record_to_json(ctx, rec, &json));
    assert_non_null(strstr(json, "\"status\": \"succeeded\""));
    assert_non_null(strstr(json, "\"kernels\""));
    ns_dealloc(ctx, json);
    ns_run_record_free(rec);
    /* the same run directory again is refused, naming it */
    NS_ASSERT_STATUS(ctx, ns_run(ctx, cfg, NULL, NULL), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "holds the record of another run");
    ns_run_config_free(cfg);
    free(log);
    rmrf(dir);
    free(dir);
    ns_ctx_free(ctx);
}

static float *params_of(ns_ctx *ctx, const char *path, size_t *n)
{
    ns_model *m = NULL;
    ns_model_info info;
    NS_ASSERT_OK(ctx, ns_fit_load(ctx, path, 0, &m, &info));
    *n = ns_model_param_count(m);
    float *p = malloc(*n * sizeof *p);
    memcpy(p, ns_model_params(m), *n * sizeof *p);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(m);
    return p;
}

static void test_cancel_and_resume(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *dir = tmpdir(), *ref = tmpdir();
    /* the run never stopped */
    ns_run_config *cfg = iris_config(ctx, ref, "\"seed\": 5");
    NS_ASSERT_OK(ctx, ns_run(ctx, cfg, NULL, NULL));
    ns_run_config_free(cfg);
    /* the run cancelled after 10 batches: a checkpoint and the way to go on */
    cfg = iris_config(ctx, dir, "\"seed\": 5");
    event_log *log = calloc(1, sizeof *log);
    log->cancel_after = 10;
    ns_progress progress = {.cancel = &log->cancel};
    ns_run_hooks hooks = {on_event, log, &progress};
    ns_run_record *rec = NULL;
    NS_ASSERT_STATUS(ctx, ns_run(ctx, cfg, &hooks, &rec), NS_ERR_CANCELLED);
    NS_ASSERT_MSG_HAS(ctx, "stopped after 1 whole epoch");
    NS_ASSERT_MSG_HAS(ctx, "/run/checkpoints");
    NS_ASSERT_MSG_HAS(ctx, "resume");
    assert_int_equal(log->kinds[log->n - 1], NS_RUN_FAILED);
    assert_int_equal(rec->status, NS_ERR_CANCELLED);
    assert_int_equal(rec->seeds[0].epochs_run, 1);
    ns_run_record_free(rec);
    char run[600];
    snprintf(run, sizeof run, "%s/run", dir);
    assert_false(exists(run, "model.safetensors"));
    assert_true(exists(run, "metrics.csv"));
    /* resumed: the same weights as the run never stopped, every epoch once in the record */
    char extra[700];
    snprintf(extra, sizeof extra,
             "\"seed\": 5, \"checkpoint_dir\": \"%s/run/checkpoints\", \"resume\": true", dir);
    ns_run_config_free(cfg);
    cfg = iris_config(ctx, dir, extra);
    memset(log, 0, sizeof *log);
    NS_ASSERT_OK(ctx, ns_run(ctx, cfg, &hooks, &rec));
    assert_true(rec->seeds[0].resumed);
    assert_int_equal(rec->seeds[0].resumed_epoch, 1);
    assert_int_equal(rec->seeds[0].resumed_batch, 3);
    assert_int_equal(rec->seeds[0].epochs_run, 3);
    ns_run_record_free(rec);
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/run/model.safetensors", dir);
    snprintf(pb, sizeof pb, "%s/run/model.safetensors", ref);
    size_t na, nb;
    float *a = params_of(ctx, pa, &na), *b = params_of(ctx, pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    free(a);
    free(b);
    snprintf(pa, sizeof pa, "%s/run/metrics.csv", dir);
    FILE *f = fopen(pa, "r");
    assert_non_null(f);
    char line[512];
    int rows = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f))
        assert_int_equal(atoi(line), ++rows);
    fclose(f);
    assert_int_equal(rows, 3);
    ns_run_config_free(cfg);
    free(log);
    rmrf(dir);
    rmrf(ref);
    free(dir);
    free(ref);
    ns_ctx_free(ctx);
}

static void test_run_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *dir = tmpdir();
    ns_run_config *cfg = iris_config(ctx, dir, NULL);
    NS_ASSERT_STATUS(ctx, ns_run_config_merge(cfg, "{\"split\": [0.8, 0.3]}", "run.yaml"),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "run.yaml: split: the ratios 0.8, 0.3, 0 sum to 1.1, not 1");
    ns_run_config_free(cfg);
    cfg = iris_config(ctx, dir, "\"model\": \"mlpp\"");
    NS_ASSERT_STATUS(ctx, ns_run(ctx, cfg, NULL, NULL), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(ctx, "model: 'mlpp' is not a file and not a named blueprint");
    ns_run_config_free(cfg);
    cfg = iris_config(ctx, dir, "\"model\": \"mlp\", \"model_config\": {\"units\": 3}");
    NS_ASSERT_STATUS(ctx, ns_run(ctx, cfg, NULL, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "model_config: unknown key 'units'");
    ns_run_config_free(cfg);
    /* a setting the optimizer refuses, named by the optimizer */
    cfg = iris_config(ctx, dir, "\"optimizer\": \"adam\", \"momentum\": 0.9");
    assert_int_not_equal(ns_run(ctx, cfg, NULL, NULL), NS_OK);
    NS_ASSERT_MSG_HAS(ctx, "momentum");
    ns_run_config_free(cfg);
    rmrf(dir);
    free(dir);
    ns_ctx_free(ctx);
}

/* Evaluate and predict report each batch to the progress hook, which can cancel them. */
typedef struct counted {
    int calls;
    double last_done, last_total;
} counted;

static bool count_progress(void *ud, const char *stage, double done, double total)
{
    counted *c = ud;
    (void)stage;
    c->calls++;
    c->last_done = done;
    c->last_total = total;
    return true;
}

static void test_evaluate_and_predict_progress(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *dir = tmpdir();
    ns_run_config *cfg = iris_config(ctx, dir, "\"epochs\": 1, \"eval_batch\": 16");
    ns_run_record *rec = NULL;
    NS_ASSERT_OK(ctx, ns_run(ctx, cfg, NULL, &rec));
    ns_model *m = NULL;
    ns_model_info info;
    NS_ASSERT_OK(ctx, ns_fit_load(ctx, rec->seeds[0].model_path, 16, &m, &info));
    ns_dataset *data = NULL;
    NS_ASSERT_OK(ctx, ns_data_load(ctx, "iris", NULL, NULL, &data, NULL));
    ns_metrics *acc = NULL;
    NS_ASSERT_OK(ctx, ns_metrics_new(ctx, info.task, ns_model_output_size(m), &acc));
    counted c = {0};
    ns_progress p = {count_progress, &c, NULL};
    NS_ASSERT_OK(ctx, ns_fit_evaluate(m, &info, data, 16, acc, &p));
    assert_true(c.calls >= 10); /* 150 rows in batches of 16 */
    NS_ASSERT_CLOSE(c.last_done, c.last_total, 0, 0);
    float *out = malloc(150 * 3 * sizeof *out);
    memset(&c, 0, sizeof c);
    NS_ASSERT_OK(ctx, ns_fit_predict(m, &info, data, out, NULL, &p));
    assert_int_equal(c.calls, 10);
    atomic_int stop = 1;
    ns_progress cancel = {NULL, NULL, &stop};
    NS_ASSERT_STATUS(ctx, ns_fit_evaluate(m, &info, data, 16, acc, &cancel), NS_ERR_CANCELLED);
    NS_ASSERT_STATUS(ctx, ns_fit_predict(m, &info, data, out, NULL, &cancel), NS_ERR_CANCELLED);
    free(out);
    ns_metrics_free(acc);
    ns_dataset_free(data);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(m);
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    rmrf(dir);
    free(dir);
    ns_ctx_free(ctx);
}

/* ---- allocation failure -------------------------------------------------------------------- */

static void test_run_out_of_memory(void **state)
{
    (void)state;
    char *dir = tmpdir();
    bool ran = false;
    /* NS_OOM_FROM=k starts at the k-th allocation (to look at one in a debugger) */
    size_t fail_at = getenv("NS_OOM_FROM") ? (size_t)atol(getenv("NS_OOM_FROM")) : 1, step = 1;
    for (; !ran; fail_at += step) {
        assert_true(fail_at < 200000);
        ns_test_alloc ta = {0};
        ns_allocator al = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
        char extra[700];
        snprintf(extra, sizeof extra,
                 "\"checkpoint_dir\": \"%s/ck\", \"checkpoint_steps\": 5, \"epochs\": 2", dir);
        ns_run_config *cfg = iris_config(ctx, dir, extra);
        ns_run_record *rec = NULL;
        ta.fail_at = ta.calls + fail_at;
        ns_status st = ns_run(ctx, cfg, NULL, &rec);
        if (st == NS_OK) {
            /* only once the failing allocation was never reached: none is swallowed */
            if (ta.calls >= ta.fail_at)
                fail_msg("allocation %zu failed and the run still succeeded", fail_at);
            ran = true;
        } else if (st != NS_ERR_NOMEM || strstr(ns_errmsg(ctx), "out of memory") == NULL) {
            fail_msg("allocation %zu failed: status %d, message '%s'", fail_at, st, ns_errmsg(ctx));
        }
        ns_run_record_free(rec);
        ns_run_config_free(cfg);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        rmrf(dir);
        assert_int_equal(mkdir(dir, 0777), 0);
        /* every early allocation, then a stride through the many made per step */
        if (fail_at > 400)
            step = 7;
    }
    fprintf(stderr,
            "a whole run with checkpoints succeeded once the allocation after %zu was "
            "let through\n",
            fail_at - step);
    assert_true(fail_at > 100);
    rmrf(dir);
    free(dir);
}

/* ---- training on from a model file: normalisation kept, frozen layers, a new head ---------- */

/* Runs body (a run config object) and returns its record (the caller frees it). */
static ns_run_record *run_body(ns_ctx *ctx, const char *body)
{
    ns_run_config *cfg = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg, body, "test"));
    ns_run_record *rec = NULL;
    NS_ASSERT_OK(ctx, ns_run(ctx, cfg, NULL, &rec));
    ns_run_config_free(cfg);
    return rec;
}

static void tensor(ns_ctx *ctx, const char *path, const char *name, float *out, size_t n)
{
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, path, &f));
    const ns_st_tensor *t = ns_st_find(f, name);
    assert_non_null(t);
    assert_true(t->nbytes >= n * sizeof(float));
    memcpy(out, t->data, n * sizeof(float));
    ns_st_close(f);
}

static void test_train_on_from_a_model(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *dir = tmpdir();
    char body[8192], a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    snprintf(c, sizeof c, "%s/c.safetensors", dir);
    /* a: trained from the blueprint */
    snprintf(body, sizeof body,
             "{\"model\": %s, \"data\": \"iris\", \"seed\": 2, \"output\": \"%s\", "
             "\"run_dir\": \"%s/ra\"}",
             spec_json, a, dir);
    ns_run_record_free(run_body(ctx, body));
    /* b: a trained on, layer 0 frozen: its weights stay, the others move; the normalisation
     * is a's, not refitted on b's split */
    snprintf(body, sizeof body,
             "{\"model\": \"%s\", \"data\": \"iris\", \"seed\": 9, \"epochs\": 2, "
             "\"freeze\": [0], \"output\": \"%s\", \"run_dir\": \"%s/rb\"}",
             a, b, dir);
    ns_run_record *rec = run_body(ctx, body);
    assert_non_null(rec->transfer_json);
    assert_non_null(strstr(rec->transfer_json, "\"frozen\":[0]"));
    ns_run_record_free(rec);
    float wa[4 * 8], wb[4 * 8], ha[8 * 3], hb[8 * 3];
    tensor(ctx, a, "0.weight", wa, 32);
    tensor(ctx, b, "0.weight", wb, 32);
    assert_memory_equal(wa, wb, sizeof wa);
    tensor(ctx, a, "2.weight", ha, 24);
    tensor(ctx, b, "2.weight", hb, 24);
    assert_true(memcmp(ha, hb, sizeof ha) != 0);
    ns_st_file *fa = NULL, *fb = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, a, &fa));
    NS_ASSERT_OK(ctx, ns_st_open(ctx, b, &fb));
    assert_non_null(ns_st_meta_find(fa, "netsmith.norm"));
    assert_string_equal(ns_st_meta_find(fa, "netsmith.norm"), ns_st_meta_find(fb, "netsmith.norm"));
    ns_st_close(fa);
    ns_st_close(fb);
    /* c: a trained on for five classes, with a new head: 3 outputs become 5 */
    char csv[600];
    snprintf(csv, sizeof csv, "%s/five.csv", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "f1,f2,f3,f4,y\n");
    for (int i = 0; i < 100; i++)
        fprintf(f, "%d.5,%d,%d.25,%d,%d\n", i % 7, (i * 3) % 11, i % 5, (i * 7) % 13, i % 5);
    fclose(f);
    snprintf(body, sizeof body,
             "{\"model\": \"%s\", \"data\": \"%s\", \"task\": \"classification\", "
             "\"epochs\": 1, \"new_head\": true, \"output\": \"%s\", \"run_dir\": "
             "\"%s/rc\"}",
             a, csv, c, dir);
    ns_run_config *cfg = NULL;
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg, body, "test"));
    rec = NULL;
    ns_status st = ns_run(ctx, cfg, NULL, &rec);
    if (st != NS_OK)
        fail_msg("new head: %s", ns_errmsg(ctx));
    assert_non_null(strstr(rec->transfer_json, "\"new\":[\"2.weight\",\"2.bias\"]"));
    assert_non_null(strstr(rec->transfer_json, "\"loaded\":[\"0.weight\",\"0.bias\"]"));
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    /* without new_head the classes have to be the model's */
    snprintf(body, sizeof body,
             "{\"model\": \"%s\", \"data\": \"%s\", \"task\": \"classification\", "
             "\"epochs\": 1, \"run_dir\": \"%s/rd\"}",
             a, csv, dir);
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg, body, "test"));
    rec = NULL;
    assert_true(ns_run(ctx, cfg, NULL, &rec) != NS_OK);
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    /* a frozen layer without weights is refused */
    snprintf(body, sizeof body,
             "{\"model\": \"%s\", \"data\": \"iris\", \"freeze\": [1], \"epochs\": 1, "
             "\"run_dir\": \"%s/re\"}",
             a, dir);
    NS_ASSERT_OK(ctx, ns_run_config_new(ctx, &cfg));
    NS_ASSERT_OK(ctx, ns_run_config_merge(cfg, body, "test"));
    rec = NULL;
    NS_ASSERT_STATUS(ctx, ns_run(ctx, cfg, NULL, &rec), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "freeze: layer 1 has no weights");
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    rmrf(dir);
    free(dir);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_round_trip),
        cmocka_unit_test(test_config_bad_values),
        cmocka_unit_test(test_config_file_paths_and_schema),
        cmocka_unit_test(test_events_in_order),
        cmocka_unit_test(test_cancel_and_resume),
        cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_evaluate_and_predict_progress),
        cmocka_unit_test(test_run_out_of_memory),
        cmocka_unit_test(test_train_on_from_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
