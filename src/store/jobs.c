/* Jobs as they are submitted: their parameters checked against the registry and the run
 * settings before anything is queued, so that a bad job is refused at once rather than failing
 * on a worker; and retraining a finished job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/json_read.h"
#include "netsmith/format.h"
#include "netsmith/io.h"
#include "netsmith/model.h"
#include "netsmith/pipeline.h"
#include "store/store_private.h"

/* The run settings a job's worker sets itself. */
static const char *const worker_owned[] = {"model",          "data",   "run_dir",
                                           "checkpoint_dir", "resume", "output"};

/* Checks a job's "config" (a run config's settings as a JSON object, or absent). */
static ns_status check_config(ns_store *s, const ns__json_reader *r, json_t *config)
{
    if (config == NULL || json_is_null(config))
        return NS_OK;
    if (!json_is_object(config))
        return ns__jr_fail(r, "config", "expected an object of run settings, got %s",
                           json_is_array(config) ? "an array" : "a value");
    for (size_t i = 0; i < sizeof worker_owned / sizeof worker_owned[0]; i++)
        if (json_object_get(config, worker_owned[i]) != NULL)
            return ns__jr_fail(r, "config",
                               "'%s' is set by the job itself (from its model and dataset, and "
                               "in the worker's directory); leave it out",
                               worker_owned[i]);
    char *text = json_dumps(config, JSON_COMPACT);
    if (text == NULL)
        return NS_ERR_NOMEM;
    ns_run_config *cfg = NULL;
    ns_status st = ns_run_config_new(s->ctx, &cfg);
    if (st == NS_OK)
        st = ns_run_config_merge(cfg, text, r->source);
    /* the rules between settings, with stand-ins for what the worker sets */
    if (st == NS_OK)
        st = ns_run_config_set(cfg, "model", "\"mlp\"", r->source);
    if (st == NS_OK)
        st = ns_run_config_set(cfg, "data", "\"iris\"", r->source);
    if (st == NS_OK)
        st = ns_run_config_check(cfg);
    ns_run_config_free(cfg);
    free(text);
    return st;
}

/* The string member key of o, or a message naming it. */
static ns_status need_string(const ns__json_reader *r, json_t *o, const char *key, const char **out)
{
    return ns__jr_member_string(r, "", o, key, "a name", out);
}

/* NS_OK when table holds a row called name, else not-found with a did-you-mean. */
static ns_status id_exists(ns_store *s, const char *table, const char *what, const char *name,
                           const char *list_cmd)
{
    int64_t id = 0;
    return ns__store_id_of(s, table, what, name, list_cmd, &id);
}

ns_status ns_job_submit(ns_store *s, ns_job_kind kind, const char *params_json, int priority,
                        int64_t *id)
{
    return ns__job_submit_named(s, NULL, kind, params_json, priority, id);
}

ns_status ns__job_submit_named(ns_store *s, const char *name, ns_job_kind kind,
                               const char *params_json, int priority, int64_t *id)
{
    char source[48];
    snprintf(source, sizeof source, "%s job",
             ns_job_kind_name(kind) != NULL ? ns_job_kind_name(kind) : "unknown");
    if (kind < 0 || kind >= NS_JOB_KIND_COUNT)
        return ns_errorf(s->ctx, NS_ERR_INVALID, "unknown kind of job %d", (int)kind);
    const ns__json_reader r = {s->ctx, source, NS_ERR_INVALID, NULL};
    json_t *o = NULL;
    ns_status st = ns__jr_load(&r, params_json, strlen(params_json), &o);
    if (st != NS_OK)
        return st;
    static const char *const train_keys[] = {"model", "data", "config"};
    static const char *const finetune_keys[] = {
        "from", "to", "data", "freeze", "new_head", "refit_normalization", "config"};
    static const char *const evaluate_keys[] = {"model", "data"};
    const char *model = NULL, *data = NULL, *device = NULL;
    if (!json_is_object(o)) {
        st = ns__jr_fail(&r, "", "expected a JSON object of the job's parameters");
    } else if (kind == NS_JOB_TRAIN) {
        st = ns__jr_keys(&r, "", o, train_keys, 3);
        if (st == NS_OK && (st = need_string(&r, o, "model", &model)) == NS_OK &&
            (st = need_string(&r, o, "data", &data)) == NS_OK &&
            (st = id_exists(s, "models", "model", model, "netsmith model list")) == NS_OK &&
            (st = id_exists(s, "datasets", "dataset", data, "netsmith data list")) == NS_OK)
            st = check_config(s, &r, json_object_get(o, "config"));
    } else if (kind == NS_JOB_CARD) {
        static const char *const card_keys[] = {"card", "settings", "device", "files", "inputs"};
        st = ns__jr_keys(&r, "", o, card_keys, 5);
        const char *card = NULL;
        if (st == NS_OK && (st = need_string(&r, o, "card", &card)) == NS_OK) {
            json_t *files = json_object_get(o, "files"), *inputs = json_object_get(o, "inputs");
            device = json_string_value(json_object_get(o, "device"));
            if (device != NULL && strcmp(device, "cpu") != 0 && strcmp(device, "cuda") != 0)
                st = ns__jr_fail(&r, "device", "expected \"cpu\" or \"cuda\", got \"%s\"", device);
            if (st == NS_OK && ((files != NULL && !json_is_object(files)) ||
                                (inputs != NULL && !json_is_object(inputs))))
                st = ns__jr_fail(&r, "", "files and inputs must be objects");
        }
    } else if (kind == NS_JOB_PIPELINE) {
        static const char *const pipe_keys[] = {"pipeline", "source", "set"};
        st = ns__jr_keys(&r, "", o, pipe_keys, 3);
        const char *text = NULL;
        if (st == NS_OK)
            st = ns__jr_member_string(&r, "", o, "pipeline", "a pipeline file's text", &text);
        json_t *set = json_object_get(o, "set");
        const char *over[64];
        int n_over = 0;
        for (size_t i = 0; st == NS_OK && set != NULL && i < json_array_size(set) && n_over < 64;
             i++)
            over[n_over++] = json_string_value(json_array_get(set, i));
        for (int i = 0; i < n_over && st == NS_OK; i++)
            if (over[i] == NULL)
                st = ns__jr_fail(&r, "set", "expected CARD.SETTING=VALUE strings");
        /* checked now, as netsmith run --check does */
        ns_cards *cards = NULL;
        ns_pipeline *p = NULL;
        const char *src = json_string_value(json_object_get(o, "source"));
        if (st == NS_OK)
            st = ns_cards_new(s->ctx, &cards);
        if (st == NS_OK)
            st = ns_pipeline_parse(cards, text, strlen(text), src != NULL ? src : "pipeline", over,
                                   n_over, &p);
        ns_pipeline_free(p);
        ns_cards_free(cards);
    } else if (kind == NS_JOB_EVALUATE) {
        st = ns__jr_keys(&r, "", o, evaluate_keys, 2);
        ns_store_version v;
        if (st == NS_OK && (st = need_string(&r, o, "model", &model)) == NS_OK &&
            (st = need_string(&r, o, "data", &data)) == NS_OK &&
            (st = ns_store_version_get(s, model, &v)) == NS_OK)
            st = id_exists(s, "datasets", "dataset", data, "netsmith data list");
    } else {
        st = ns__jr_keys(&r, "", o, finetune_keys, 7);
        const char *from = NULL, *to = NULL;
        ns_store_version v;
        if (st == NS_OK && (st = need_string(&r, o, "from", &from)) == NS_OK &&
            (st = need_string(&r, o, "to", &to)) == NS_OK &&
            (st = need_string(&r, o, "data", &data)) == NS_OK &&
            (st = ns_store_version_get(s, from, &v)) == NS_OK &&
            (st = id_exists(s, "datasets", "dataset", data, "netsmith data list")) == NS_OK &&
            (st = check_config(s, &r, json_object_get(o, "config"))) == NS_OK) {
            json_t *freeze = json_object_get(o, "freeze");
            if (freeze != NULL && !json_is_array(freeze))
                st = ns__jr_fail(&r, "freeze", "expected a list of layer numbers, e.g. [0, 2]");
            for (size_t i = 0; st == NS_OK && freeze != NULL && i < json_array_size(freeze); i++) {
                char path[32];
                int layer = 0;
                st = ns__jr_int(&r, ns__jr_index(path, sizeof path, "freeze", i),
                                json_array_get(freeze, i), 0, "a layer number >= 0", &layer);
            }
            bool b = false;
            if (st == NS_OK && json_object_get(o, "new_head") != NULL)
                st = ns__jr_bool(&r, "new_head", json_object_get(o, "new_head"), &b);
            if (st == NS_OK && json_object_get(o, "refit_normalization") != NULL)
                st = ns__jr_bool(&r, "refit_normalization",
                                 json_object_get(o, "refit_normalization"), &b);
            /* the destination: made an instance of the source's architecture when missing */
            if (st == NS_OK)
                st = ns_store_model_create(s, to, v.arch);
        }
    }
    char *text = st == NS_OK ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (st == NS_OK && text == NULL)
        st = NS_ERR_NOMEM;
    if (st == NS_OK)
        st = ns__job_insert(s, name, kind, text, priority, device, id);
    free(text);
    json_decref(o);
    return st;
}

ns_status ns_job_retrain(ns_store *s, int64_t id, bool from_weights, int64_t *new_id)
{
    ns_job job;
    ns_status st = ns_job_get(s, id, &job);
    if (st != NS_OK)
        return st;
    if (!from_weights) {
        st = ns__job_insert(s, NULL, job.kind, job.params, job.priority, NULL, new_id);
        ns_job_clear(&job);
        return st;
    }
    /* continue from the version it made: a fine-tune of it into the same model */
    json_error_t e;
    json_t *result = job.result != NULL ? json_loads(job.result, 0, &e) : NULL;
    json_t *params = json_loads(job.params, 0, &e);
    const char *model = json_string_value(json_object_get(result, "model"));
    json_int_t version = json_integer_value(json_object_get(result, "version"));
    if (job.state != NS_JOB_SUCCEEDED || model == NULL || version < 1 || params == NULL) {
        st = ns_errorf(s->ctx, NS_ERR_STATE,
                       "job %lld made no model version to start from (it is %s); retrain it "
                       "without --from-weights",
                       (long long)id, ns_job_state_name(job.state));
    } else {
        char from[96];
        snprintf(from, sizeof from, "%s@%lld", model, (long long)version);
        json_t *ft =
            json_pack("{s:s, s:s, s:O?, s:O?}", "from", from, "to", model, "data",
                      json_object_get(params, "data"), "config", json_object_get(params, "config"));
        char *text = ft != NULL ? json_dumps(ft, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        st = text != NULL ? ns_job_submit(s, NS_JOB_FINETUNE, text, job.priority, new_id)
                          : NS_ERR_NOMEM;
        free(text);
        json_decref(ft);
    }
    json_decref(result);
    json_decref(params);
    ns_job_clear(&job);
    return st;
}
