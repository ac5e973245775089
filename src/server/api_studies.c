/* Study routes: the tuner's studies as the store holds them (read only; `netsmith tune` makes
 * and runs them). A study's trials are jobs of kind "trial", so their progress is on the
 * event stream like every job's. */
#include <stdio.h>
#include <string.h>

#include "server/server_private.h"

/* GET /api/v1/studies[?state=running]: newest first */
static void list_studies(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_study_list(store, &json);
    ns__reply_store_list(rq, st, json);
}

/* Whether name could name a study: 1 to 64 letters, digits, '-', '_' or '.' (the study file's
 * rule). */
static bool study_name_ok(const char *name)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    return ok;
}

/* GET /api/v1/studies/{name}: the study in full (its definition, trials with their step
 * values, the best trial, its model, the settings' importance) */
static void get_study(ns__req *rq)
{
    const char *name = ns__req_param(rq, 0);
    if (!study_name_ok(name)) {
        ns__reply_error(rq, 400, "name",
                        "'%.80s' is not a valid study name: use 1 to 64 letters, digits, '-', '_' "
                        "or '.'",
                        name);
        return;
    }
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_study_get(store, name, &json);
    ns__reply_store_json(rq, st, 200, json, NULL);
}

/* ---- the table --------------------------------------------------------------------------- */

#define STUDY_FIELDS                                                                               \
    "\"name\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"},\"budget\":{\"type\":"         \
    "\"integer\"},\"complete\":{\"type\":\"integer\"},\"pruned\":{\"type\":\"integer\"},"          \
    "\"paused\":{\"type\":\"integer\"},\"running\":{\"type\":\"integer\"},\"failed\":{\"type\":"   \
    "\"integer\"},\"best_value\":{\"type\":[\"number\",\"null\"]},\"best_trial\":{\"type\":["      \
    "\"integer\",\"null\"]},\"metric\":{\"type\":\"string\"},\"direction\":{\"type\":\"string\","  \
    "\"enum\":[\"minimize\",\"maximize\"]},\"sampler\":{\"type\":\"string\"},\"pruner\":{"         \
    "\"type\":\"string\"},\"created\":{\"type\":\"number\"},\"updated\":{\"type\":\"number\"},"    \
    "\"model\":{\"type\":[\"object\",\"null\"],\"properties\":{\"name\":{\"type\":\"string\"},"    \
    "\"version\":{\"type\":\"integer\"}}}"

#define STUDY_REQUIRED                                                                             \
    "\"name\",\"state\",\"budget\",\"complete\",\"pruned\",\"running\",\"failed\",\"best_value\"," \
    "\"metric\",\"direction\",\"sampler\",\"pruner\",\"created\",\"updated\""

#define STUDY_SUMMARY_SCHEMA                                                                       \
    "{\"type\":\"object\",\"required\":[" STUDY_REQUIRED                                           \
    ",\"trials\"],\"properties\":{" STUDY_FIELDS                                                   \
    ",\"trials\":{\"type\":\"integer\",\"description\":\"the trials so far\"}}}"

#define TRIAL_SCHEMA                                                                               \
    "{\"type\":\"object\",\"required\":[\"number\",\"state\",\"params\",\"value\",\"job\","        \
    "\"steps\"],\"properties\":{\"number\":{\"type\":\"integer\"},\"state\":{\"type\":\"string\"," \
    "\"enum\":[\"running\",\"complete\",\"pruned\",\"paused\",\"failed\"]},\"params\":{\"type\":"  \
    "\"object\"},\"value\":{\"type\":[\"number\",\"null\"]},\"job\":{\"type\":\"integer\"},"       \
    "\"steps\":{\"type\":\"array\",\"items\":{\"type\":[\"number\",\"null\"]},\"description\":"    \
    "\"the objective's value by epoch\"},\"epoch\":{\"type\":\"integer\"},\"attempts\":{\"type\":" \
    "\"integer\"}}}"

#define STUDY_SCHEMA                                                                               \
    "{\"type\":\"object\",\"required\":[" STUDY_REQUIRED ",\"trial_count\",\"definition\","        \
    "\"trials\",\"best\",\"importance\"],\"properties\":{" STUDY_FIELDS                            \
    ",\"trial_count\":{\"type\":\"integer\"},\"definition\":{\"type\":\"object\",\"description\":" \
    "\"the study file as JSON\"},\"trials\":{\"type\":\"array\",\"items\":" TRIAL_SCHEMA "},"      \
    "\"best\":{\"type\":[\"object\",\"null\"],\"properties\":{\"number\":{\"type\":\"integer\"},"  \
    "\"value\":{\"type\":\"number\"},\"params\":{\"type\":\"object\"},\"job\":{\"type\":"          \
    "\"integer\"}}},\"importance\":{\"type\":\"object\",\"properties\":{\"method\":{\"type\":"     \
    "\"string\"},\"trials\":{\"type\":\"integer\"},\"importances\":{\"type\":\"array\","           \
    "\"items\":{\"type\":\"object\",\"properties\":{\"setting\":{\"type\":\"string\"},"            \
    "\"importance\":{\"type\":\"number\"}}}}}}}}"

const ns__route ns__routes_studies[] = {
    {"GET", "/api/v1/studies", list_studies,
     "The tuner's studies, newest first: each one's state, trial counts, best value and "
     "objective.",
     "200 400 503", NULL, LIST_OF(STUDY_SUMMARY_SCHEMA), false},
    {"GET", "/api/v1/studies/{name}", get_study,
     "One study in full: its definition, every trial (settings, state, value, the objective "
     "by epoch), the best trial, its registered model and the settings' importance.",
     "200 400 404 503", NULL, STUDY_SCHEMA, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
