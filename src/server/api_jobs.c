/* Job routes: the queue's jobs (train, fine-tune, evaluate, pipeline), submitted with the
 * command line's parameters, watched, cancelled, retried and retrained. Every check is the
 * store's own (ns_job_submit checks the objects and the run settings at submission). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "format/json_read.h"
#include "server/server_private.h"

/* ---- shared -------------------------------------------------------------------------- */

/* The job {id} of the path into *id; false after answering 400. */
static bool path_id(ns__req *rq, int64_t *id)
{
    const char *text = rq->n_params > 0 ? rq->params[0] : "";
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || v < 1) {
        ns__reply_error(rq, 400, "id", "a job is named by its number (1, 2, ...), got '%.40s'",
                        text);
        return false;
    }
    *id = v;
    return true;
}

/* The job as the API shows it: the store's JSON plus "progress" (epochs done of planned, 0 to
 * 1; 1 once it succeeded). NULL after answering the failure. */
static json_t *job_view(ns__req *rq, ns_store *store, int64_t id)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_job job;
    memset(&job, 0, sizeof job);
    ns_status st = ns_job_get(store, id, &job);
    char *text = NULL;
    if (st == NS_OK)
        st = ns_job_to_json(ctx, &job, &text);
    if (st != NS_OK) {
        ns_job_clear(&job);
        ns__reply_status(rq, ctx, st, NULL);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ns_dealloc(ctx, text);
    if (j == NULL) {
        ns_job_clear(&job);
        ns__reply_error(rq, 500, NULL, "the store's job is not JSON");
        return NULL;
    }
    double progress = job.state == NS_JOB_SUCCEEDED ? 1.0
                      : job.epochs > 0              ? (double)job.epoch / (double)job.epochs
                                                    : 0.0;
    if (progress > 1.0)
        progress = 1.0;
    json_object_set_new(j, "progress", json_real(progress));
    ns_job_clear(&job);
    return j;
}

/* Answers job id with status (and its Location). */
static void answer_job(ns__req *rq, ns_store *store, int64_t id, int status)
{
    json_t *j = job_view(rq, store, id);
    if (j == NULL)
        return;
    if (status == 201)
        snprintf(rq->location, sizeof rq->location, "/api/v1/jobs/%lld", (long long)id);
    ns__reply_json(rq, status, j);
}

/* Renames the first member of the library's JSON path of the failure on ctx from the job's
 * parameter names to the body's ("config.epochz" -> "settings.epochz", "data" -> "dataset"). */
static void body_path(ns_ctx *ctx)
{
    static const char *const names[][2] = {{"config", "settings"}, {"data", "dataset"}};
    const char *path = ns_error_path(ctx);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i][0]);
        if (strncmp(path, names[i][0], n) == 0 &&
            (path[n] == '\0' || path[n] == '.' || path[n] == '[')) {
            char renamed[512];
            snprintf(renamed, sizeof renamed, "%s%s", names[i][1], path + n);
            ns__error_set_path(ctx, renamed);
            return;
        }
    }
}

/* Checks the run settings one at a time with the library (as ns_job_submit does for the
 * whole), so that the answer's path names the one at fault ("settings.epochz"); false after
 * answering. */
static bool check_settings(ns__req *rq, json_t *settings)
{
    if (!json_is_object(settings))
        return true;
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_run_config *cfg = NULL;
    ns_status st = ns_run_config_new(ctx, &cfg);
    const char *key;
    json_t *v;
    json_object_foreach(settings, key, v)
    {
        if (st != NS_OK)
            break;
        json_t *one = json_pack("{s:O}", key, v);
        char *text = one != NULL ? json_dumps(one, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(one);
        st = text != NULL ? ns_run_config_merge(cfg, text, "settings") : NS_ERR_NOMEM;
        free(text);
        if (st != NS_OK) {
            const char *lib = ns_error_path(ctx);
            size_t kl = strlen(key);
            char path[512];
            if (lib[0] == '\0')
                snprintf(path, sizeof path, "settings.%s", key);
            else if (strncmp(lib, key, kl) == 0 &&
                     (lib[kl] == '\0' || lib[kl] == '.' || lib[kl] == '['))
                snprintf(path, sizeof path, "settings.%s", lib);
            else
                snprintf(path, sizeof path, "settings.%s.%s", key, lib);
            ns__error_set_path(ctx, path);
            ns_run_config_free(cfg);
            ns__reply_status(rq, ctx, st, NULL);
            return false;
        }
    }
    ns_run_config_free(cfg);
    if (st != NS_OK) {
        ns__reply_status(rq, ctx, st, NULL);
        return false;
    }
    return true;
}

/* ---- routes ------------------------------------------------------------------------------ */

/* GET /api/v1/jobs[?state=running&kind=train]: newest first */
static void list_jobs(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_job_list(store, NS_JOB_STATE_COUNT, &json);
    ns__reply_store_list(rq, st, json);
}

/* Copies body's member from (when there) into params as to. */
static void carry(json_t *params, json_t *body, const char *from, const char *to)
{
    json_t *v = json_object_get(body, from);
    if (v != NULL)
        json_object_set(params, to, v);
}

/* POST /api/v1/jobs {"kind", "model", "dataset", "settings", "priority", ...}: the parameters
 * of `netsmith job submit KIND`; kind "pipeline" goes to the pipelines' submission. */
static void submit_job(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    const char *kind_name = ns__req_string(rq, body, "kind", false);
    ns_job_kind kind = NS_JOB_TRAIN;
    if (kind_name == NULL) {
        json_decref(body);
        return;
    }
    if (ns_job_kind_parse(kind_name, &kind) != NS_OK || kind == NS_JOB_CARD) {
        ns__reply_error(
            rq, 400, "kind", "'kind' must be train, finetune, evaluate or pipeline, got '%.40s'%s",
            kind_name,
            kind == NS_JOB_CARD ? " (card jobs are made by a pipeline's remote cards)" : "");
        json_decref(body);
        return;
    }
    if (kind == NS_JOB_PIPELINE) {
        ns__submit_pipeline_job(rq, body);
        json_decref(body);
        return;
    }
    static const char *const train_keys[] = {"kind", "model", "dataset", "settings", "priority"};
    static const char *const finetune_keys[] = {
        "kind",     "from",    "to", "dataset", "freeze", "new_head", "refit_normalization",
        "settings", "priority"};
    static const char *const evaluate_keys[] = {"kind", "model", "dataset", "priority"};
    bool ok = kind == NS_JOB_TRAIN      ? ns__req_keys(rq, body, train_keys, 5)
              : kind == NS_JOB_FINETUNE ? ns__req_keys(rq, body, finetune_keys, 9)
                                        : ns__req_keys(rq, body, evaluate_keys, 4);
    /* the names the store needs, said in the body's own words when missing */
    if (ok && kind == NS_JOB_FINETUNE)
        ok = ns__req_string(rq, body, "from", false) != NULL &&
             ns__req_string(rq, body, "to", false) != NULL;
    else if (ok)
        ok = ns__req_string(rq, body, "model", false) != NULL;
    ok = ok && ns__req_string(rq, body, "dataset", false) != NULL;
    json_t *prio = json_object_get(body, "priority");
    if (ok && prio != NULL &&
        (!json_is_integer(prio) || json_integer_value(prio) < -1000000 ||
         json_integer_value(prio) > 1000000)) {
        ns__reply_error(rq, 400, "priority",
                        "'priority' must be a whole number from -1000000 to 1000000 (higher runs "
                        "first)");
        ok = false;
    }
    json_t *settings = json_object_get(body, "settings");
    if (ok && settings != NULL && !json_is_object(settings) && !json_is_null(settings)) {
        ns__reply_error(rq, 400, "settings",
                        "'settings' must be an object of run settings ({\"epochs\": 3, ...})");
        ok = false;
    }
    if (!ok || (kind != NS_JOB_EVALUATE && !check_settings(rq, settings))) {
        json_decref(body);
        return;
    }
    json_t *params = json_object();
    carry(params, body, "model", "model");
    carry(params, body, "from", "from");
    carry(params, body, "to", "to");
    carry(params, body, "dataset", "data");
    carry(params, body, "freeze", "freeze");
    carry(params, body, "new_head", "new_head");
    carry(params, body, "refit_normalization", "refit_normalization");
    if (kind != NS_JOB_EVALUATE)
        carry(params, body, "settings", "config");
    char *text = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(params);
    ns_store *store = text != NULL ? ns__req_store(rq) : NULL;
    if (store != NULL) {
        int64_t id = 0;
        ns_status st = ns_job_submit(store, kind, text, (int)json_integer_value(prio), &id);
        if (st == NS_OK) {
            answer_job(rq, store, id, 201);
        } else {
            ns_ctx *ctx = ns__req_ctx(rq);
            body_path(ctx);
            ns__reply_status(rq, ctx, st, NULL);
        }
    } else if (text == NULL) {
        ns__reply_error(rq, 500, NULL, "out of memory reading the job");
    }
    free(text);
    json_decref(body);
}

/* GET /api/v1/jobs/{id}: state, epoch of epochs and "progress", per-epoch "history", error */
static void get_job(ns__req *rq)
{
    int64_t id;
    if (!path_id(rq, &id))
        return;
    ns_store *store = ns__req_store(rq);
    if (store != NULL)
        answer_job(rq, store, id, 200);
}

/* Runs a store action on the job of the path (ns_job_cancel, ns_job_retry) and answers the
 * job. */
static void job_action(ns__req *rq, ns_status (*action)(ns_store *, int64_t))
{
    int64_t id;
    if (!path_id(rq, &id))
        return;
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    ns_status st = action(store, id);
    if (st != NS_OK)
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
    else
        answer_job(rq, store, id, 200);
}

/* POST /api/v1/jobs/{id}/cancel: a queued job at once, a running one at its next heartbeat */
static void cancel_job(ns__req *rq)
{
    job_action(rq, ns_job_cancel);
}

/* POST /api/v1/jobs/{id}/retry: a failed or cancelled job queued again */
static void retry_job(ns__req *rq)
{
    job_action(rq, ns_job_retry);
}

/* POST /api/v1/jobs/{id}/retrain [{"from_weights": bool}]: a new job with its parameters */
static void retrain_job(ns__req *rq)
{
    int64_t id;
    if (!path_id(rq, &id))
        return;
    bool from_weights = false;
    if (rq->body_len > 0) {
        json_t *body = ns__req_json(rq);
        if (body == NULL)
            return;
        static const char *const known[] = {"from_weights"};
        json_t *fw = json_object_get(body, "from_weights");
        bool ok = ns__req_keys(rq, body, known, 1);
        if (ok && fw != NULL && !json_is_boolean(fw)) {
            ns__reply_error(rq, 400, "from_weights", "'from_weights' must be true or false");
            ok = false;
        }
        from_weights = json_is_true(fw);
        json_decref(body);
        if (!ok)
            return;
    }
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    int64_t new_id = 0;
    ns_status st = ns_job_retrain(store, id, from_weights, &new_id);
    if (st != NS_OK)
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
    else
        answer_job(rq, store, new_id, 201);
}

#define JOB_SCHEMA                                                                                 \
    "{\"type\":\"object\",\"required\":[\"id\",\"kind\",\"state\"],\"properties\":{\"id\":{"       \
    "\"type\":\"integer\"},\"kind\":{\"type\":\"string\",\"enum\":[\"train\",\"finetune\","        \
    "\"evaluate\",\"card\",\"pipeline\"]},\"state\":{\"type\":\"string\",\"enum\":[\"queued\","    \
    "\"running\",\"succeeded\",\"failed\",\"cancelled\"]},\"priority\":{\"type\":\"integer\"},"    \
    "\"epoch\":{\"type\":\"integer\"},\"epochs\":{\"type\":\"integer\"},\"progress\":{\"type\":"   \
    "\"number\"},\"params\":{},\"metrics\":{},\"history\":{\"type\":\"array\"},\"result\":{},"     \
    "\"error\":{\"type\":[\"string\",\"null\"]}}}"

#define JOB_BODY                                                                                   \
    "{\"type\":\"object\",\"required\":[\"kind\"],\"properties\":{\"kind\":{\"type\":\"string\","  \
    "\"enum\":[\"train\",\"finetune\",\"evaluate\",\"pipeline\"]},\"model\":{\"type\":"            \
    "\"string\",\"description\":\"train: the model; evaluate: NAME[@V]\"},\"dataset\":{\"type\":"  \
    "\"string\"},\"from\":{\"type\":\"string\",\"description\":\"finetune: NAME[@V]\"},\"to\":{"   \
    "\"type\":\"string\"},\"freeze\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"       \
    "\"new_head\":{\"type\":\"boolean\"},\"refit_normalization\":{\"type\":\"boolean\"},"          \
    "\"settings\":{\"type\":\"object\",\"description\":\"run settings (epochs, batch_size, "       \
    "...)\"},\"priority\":{\"type\":\"integer\"}}}"

const ns__route ns__routes_jobs[] = {
    {"GET", "/api/v1/jobs", list_jobs,
     "The jobs, newest first (filter with ?state=running, ?kind=train, ...).", "200 400 503", NULL,
     LIST_OF(JOB_SCHEMA), false},
    {"POST", "/api/v1/jobs", submit_job,
     "Submits a job (train, finetune, evaluate or pipeline), checked now: its objects and "
     "run settings.",
     "201 400 404 409 415 503", JOB_BODY, JOB_SCHEMA, false},
    {"GET", "/api/v1/jobs/{id}", get_job,
     "One job: its state, epoch of epochs and progress, per-epoch history, result or error.",
     "200 400 404 503", NULL, JOB_SCHEMA, false},
    {"POST", "/api/v1/jobs/{id}/cancel", cancel_job,
     "Cancels a queued job at once, or asks a running one to stop.", "200 400 404 409 503", NULL,
     JOB_SCHEMA, false},
    {"POST", "/api/v1/jobs/{id}/retry", retry_job,
     "Queues a failed or cancelled job again (it resumes from its last checkpoint).",
     "200 400 404 409 503", NULL, JOB_SCHEMA, false},
    {"POST", "/api/v1/jobs/{id}/retrain", retrain_job,
     "A new job with a finished job's parameters; from_weights fine-tunes the version it made.",
     "201 400 404 409 415 503",
     "{\"type\":\"object\",\"properties\":{\"from_weights\":{\"type\":\"boolean\"}}}", JOB_SCHEMA,
     false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
