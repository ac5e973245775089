/* Studies in the store: their definitions, their trials (a row of settings and a trial job
 * each), a study loaded back into memory to decide (ns_study), and a study as JSON for the
 * faces. A trial's state, step values and value are read from its job, so that what a trial
 * does is written once, in its job's fenced transactions. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store_private.h"
#include "store/studies.h"

/* ---- creating and reading definitions ------------------------------------------------------ */

ns_status ns__study_id(ns_store *s, const char *name, int64_t *id)
{
    return ns__store_id_of(s, "studies", "study", name, "netsmith study list", id);
}

ns_status ns_store_study_create(ns_store *s, const ns_study_def *def)
{
    const char *name = ns_study_def_name(def);
    ns__sql_value q[] = {NS__SQL_T(name)};
    ns__sql_result *row = NULL;
    ns_status st = ns__store_query_row(s, "SELECT id FROM studies WHERE name = ?", q, 1, &row);
    bool exists = row != NULL;
    ns__sql_result_free(s->ctx, row);
    if (st != NS_OK)
        return st;
    if (exists)
        return ns_errorf(s->ctx, NS_ERR_STATE,
                         "study %s exists in the store already; continue it with 'netsmith tune "
                         "--resume %s' (or give the study another name)",
                         name, name);
    /* the data's settings as a dataset of their own */
    json_error_t e;
    json_t *base = json_loads(ns_study_def_base(def), 0, &e);
    json_t *data = json_object();
    int n = 0;
    const char *const *keys = ns_run_data_settings(&n);
    for (int i = 0; base != NULL && i < n; i++) {
        json_t *v = json_object_get(base, keys[i]);
        if (v != NULL)
            json_object_set(data, keys[i], v);
    }
    json_decref(base);
    char dataset[80];
    snprintf(dataset, sizeof dataset, "study-%s", name);
    char *dtext = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    char *text = NULL;
    if (dtext == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    st = ns__store_begin(s);
    if (st == NS_OK)
        st = ns_store_data_add(s, dataset, dtext);
    if (st == NS_OK)
        st = ns_study_def_to_json(def, &text);
    ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_T(text)};
    if (st == NS_OK)
        st = ns__store_exec(s,
                            "INSERT INTO studies (name, definition, created, updated) VALUES (?, "
                            "?, {now}, {now})",
                            a, 2, NULL, NULL);
    ns_dealloc(ns_study_def_ctx(def), text);
    free(dtext);
    return ns__store_end(s, st);
}

ns_status ns_store_study_def(ns_store *s, const char *name, ns_study_def **def)
{
    *def = NULL;
    int64_t id = 0;
    ns_status st = ns__study_id(s, name, &id);
    ns__sql_value q[] = {NS__SQL_I(id)};
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = ns__store_query_row(s, "SELECT definition FROM studies WHERE id = ?", q, 1, &row);
    const char *text = row != NULL ? ns__store_text_at(row, 0, 0) : NULL;
    if (st == NS_OK && text == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOTFOUND, "study %s has no definition", name);
    char source[96];
    snprintf(source, sizeof source, "study %s (in the store)", name);
    if (st == NS_OK)
        st = ns_study_def_parse(s->ctx, text, strlen(text), source, NULL, def);
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns__study_set_def(ns_store *s, const ns_study_def *def)
{
    char *text = NULL;
    ns_status st = ns_study_def_to_json(def, &text);
    ns__sql_value a[] = {NS__SQL_T(text), NS__SQL_T(ns_study_def_name(def))};
    if (st == NS_OK)
        st = ns__store_exec(s, "UPDATE studies SET definition = ?, updated = {now} WHERE name = ?",
                            a, 2, NULL, NULL);
    ns_dealloc(ns_study_def_ctx(def), text);
    return st;
}

/* ---- trials from their jobs ------------------------------------------------------------------ */

/* The trials' columns: number, params, the row's state, the job's id, state, result, history,
 * attempts. */
#define TRIAL_SQL                                                                                  \
    "SELECT t.number, t.params, t.state, j.id, j.state, j.result, j.history, j.attempts FROM "     \
    "trials t JOIN jobs j ON j.id = t.job_id WHERE t.study_id = ? ORDER BY t.number"

ns_status ns__trial_from_row(const ns_study_def *def, const ns__sql_result *r, int i,
                             ns__trial_row *out)
{
    memset(out, 0, sizeof *out);
    out->number = (int)ns__store_real_at(r, i, 0);
    out->params = ns__store_text_at(r, i, 1);
    out->job = (int64_t)ns__store_real_at(r, i, 3);
    out->attempts = (int)ns__store_real_at(r, i, 7);
    out->value = NAN;
    const char *override = ns__store_text_at(r, i, 2);
    const char *job_state = ns__store_text_at(r, i, 4);
    ns_job_state js = NS_JOB_QUEUED;
    ns_job_state_parse(job_state, &js);
    json_error_t e;
    const char *result = ns__store_text_at(r, i, 5);
    json_t *res = result != NULL ? json_loads(result, 0, &e) : NULL;
    const char *rstate = json_string_value(json_object_get(res, "state"));
    out->epoch = (int64_t)json_integer_value(json_object_get(res, "epoch"));
    if (js == NS_JOB_QUEUED || js == NS_JOB_RUNNING) {
        out->state = NS_TRIAL_RUNNING;
    } else if (js == NS_JOB_SUCCEEDED && rstate != NULL && strcmp(rstate, "complete") == 0 &&
               json_is_number(json_object_get(res, "value"))) {
        out->state = NS_TRIAL_COMPLETE;
        out->value = json_number_value(json_object_get(res, "value"));
    } else if (js == NS_JOB_SUCCEEDED && rstate != NULL && strcmp(rstate, "pruned") == 0) {
        out->state = NS_TRIAL_PRUNED;
    } else if (js == NS_JOB_CANCELLED && rstate != NULL && strcmp(rstate, "paused") == 0) {
        out->state = NS_TRIAL_PAUSED;
    } else {
        out->state = NS_TRIAL_FAILED;
    }
    if (override != NULL && out->state == NS_TRIAL_PAUSED &&
        ns_trial_state_parse(override, &out->state) != NS_OK)
        out->state = NS_TRIAL_PRUNED;
    json_decref(res);
    /* the step values: the objective's metric in each epoch's history line (a test objective
     * reads validation values while training: a run scores its test part at the end only) */
    const char *part = ns_study_def_part(def);
    if (strcmp(part, "test") == 0)
        part = "val";
    const char *metric = ns_study_def_metric_name(def);
    const char *h = ns__store_text_at(r, i, 6);
    while (h != NULL && *h != '\0') {
        const char *lf = strchr(h, '\n');
        size_t len = lf != NULL ? (size_t)(lf - h) : strlen(h);
        json_t *line = json_loadb(h, len, 0, &e);
        json_int_t epoch = json_integer_value(json_object_get(line, "epoch"));
        json_t *v =
            json_object_get(json_object_get(json_object_get(line, "metrics"), part), metric);
        if (epoch >= 1 && epoch <= NS__TRIAL_STEPS_MAX && json_is_number(v)) {
            while (out->n_steps < epoch)
                out->steps[out->n_steps++] = NAN;
            out->steps[epoch - 1] = json_number_value(v);
        }
        json_decref(line);
        h = lf != NULL ? lf + 1 : h + len;
    }
    return NS_OK;
}

ns_status ns__study_rows(ns_store *s, int64_t study_id, ns__sql_result **rows)
{
    ns__sql_value q[] = {NS__SQL_I(study_id)};
    return ns__store_exec(s, TRIAL_SQL, q, 1, rows, NULL);
}

ns_status ns_store_study_load(ns_store *s, const char *name, ns_study **out, int64_t **jobs)
{
    *out = NULL;
    if (jobs != NULL)
        *jobs = NULL;
    ns_study_def *def = NULL;
    int64_t id = 0;
    ns_status st = ns_store_study_def(s, name, &def);
    if (st == NS_OK)
        st = ns__study_id(s, name, &id);
    ns__sql_result *rows = NULL;
    if (st == NS_OK)
        st = ns__study_rows(s, id, &rows);
    ns_study *study = NULL;
    if (st == NS_OK)
        st = ns_study_new(s->ctx, def, &study);
    int64_t *ids = NULL;
    int n = rows != NULL ? rows->rows : 0;
    if (st == NS_OK && jobs != NULL) {
        ids = ns_alloc(s->ctx, sizeof *ids * (size_t)(n > 0 ? n : 1));
        if (ids == NULL)
            st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    }
    ns__trial_row *t = st == NS_OK ? ns_alloc(s->ctx, sizeof *t) : NULL;
    if (st == NS_OK && t == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    for (int i = 0; st == NS_OK && i < n; i++) {
        st = ns__trial_from_row(def, rows, i, t);
        if (st == NS_OK && t->number != i)
            st = ns_errorf(s->ctx, NS_ERR_FORMAT,
                           "study %s: trial %d is missing from the store (trials are numbered "
                           "from 0 without gaps)",
                           name, i);
        if (st == NS_OK)
            st = ns_study_add(study, t->params, t->state, t->value, t->steps, t->n_steps);
        if (ids != NULL)
            ids[i] = t->job;
    }
    ns_dealloc(s->ctx, t);
    ns__sql_result_free(s->ctx, rows);
    ns_study_def_free(def);
    if (st != NS_OK) {
        ns_study_free(study);
        ns_dealloc(s->ctx, ids);
        return st;
    }
    *out = study;
    if (jobs != NULL)
        *jobs = ids;
    return NS_OK;
}

/* ---- queuing trials ---------------------------------------------------------------------- */

ns_status ns__study_submit(ns_store *s, ns_study *study, int *number, int64_t *job,
                           char **params_out)
{
    const ns_study_def *def = ns_study_get_def(study);
    const char *name = ns_study_def_name(def);
    int64_t study_id = 0;
    char *params = NULL, *config = NULL;
    int n = -1;
    ns_status st = ns__study_id(s, name, &study_id);
    if (st == NS_OK)
        st = ns_study_ask(study, &n, &params);
    if (st == NS_OK)
        st = ns_study_trial_config(study, n, &config);
    /* the job: the trial's config without the data (the study's dataset holds it) */
    json_error_t e;
    json_t *cfg = st == NS_OK ? json_loads(config, 0, &e) : NULL;
    int count = 0;
    const char *const *keys = ns_run_data_settings(&count);
    for (int i = 0; cfg != NULL && i < count; i++)
        json_object_del(cfg, keys[i]);
    char dataset[80];
    snprintf(dataset, sizeof dataset, "study-%s", name);
    json_t *p = cfg != NULL ? json_pack("{s:s, s:i, s:s, s:o}", "study", name, "trial", n, "data",
                                        dataset, "config", cfg)
                            : NULL;
    char *ptext = p != NULL ? json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(p);
    if (st == NS_OK && ptext == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    char jobname[160];
    snprintf(jobname, sizeof jobname, "study:%s:%d", name, n);
    int64_t id = 0;
    if (st == NS_OK && (st = ns__store_begin(s)) == NS_OK) {
        st = ns__job_insert(s, jobname, NS_JOB_TRIAL, ptext, 0, "cpu", &id);
        ns__sql_value a[] = {NS__SQL_I(study_id), NS__SQL_I(n), NS__SQL_I(id), NS__SQL_T(params)};
        if (st == NS_OK)
            st = ns__store_exec(s,
                                "INSERT INTO trials (study_id, number, job_id, params, created) "
                                "VALUES (?, ?, ?, ?, {now})",
                                a, 4, NULL, NULL);
        ns__sql_value u[] = {NS__SQL_I(study_id)};
        if (st == NS_OK)
            st = ns__store_exec(s, "UPDATE studies SET updated = {now} WHERE id = ?", u, 1, NULL,
                                NULL);
        st = ns__store_end(s, st);
    }
    free(ptext);
    ns_dealloc(s->ctx, config);
    if (st == NS_OK) {
        *number = n;
        *job = id;
        if (params_out != NULL)
            *params_out = params;
        else
            ns_dealloc(s->ctx, params);
    } else {
        ns_dealloc(s->ctx, params);
    }
    return st;
}

/* ---- the study as JSON ---------------------------------------------------------------------- */

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The list's fields of study row i of a "SELECT id, name, state, definition, created, updated,
 * model, model_version" result, with its trials' counts and best value. */
static ns_status study_summary(ns_store *s, const ns__sql_result *r, int i, json_t **out,
                               json_t **trials_out, ns_study **study_out)
{
    *out = NULL;
    int64_t id = (int64_t)ns__store_real_at(r, i, 0);
    const char *name = ns__store_text_at(r, i, 1);
    const char *text = ns__store_text_at(r, i, 3);
    ns_study_def *def = NULL;
    char source[96];
    snprintf(source, sizeof source, "study %s (in the store)", name);
    ns_status st = text != NULL
                       ? ns_study_def_parse(s->ctx, text, strlen(text), source, NULL, &def)
                       : ns_errorf(s->ctx, NS_ERR_FORMAT, "study %s has no definition", name);
    ns__sql_result *rows = NULL;
    if (st == NS_OK)
        st = ns__study_rows(s, id, &rows);
    ns_study *study = NULL;
    if (st == NS_OK)
        st = ns_study_new(s->ctx, def, &study);
    ns__trial_row *t = st == NS_OK ? ns_alloc(s->ctx, sizeof *t) : NULL;
    if (st == NS_OK && t == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    int counts[NS_TRIAL_STATE_COUNT] = {0};
    json_t *trials = json_array();
    for (int k = 0; st == NS_OK && rows != NULL && k < rows->rows; k++) {
        st = ns__trial_from_row(def, rows, k, t);
        if (st == NS_OK)
            st = ns_study_add(study, t->params, t->state, t->value, t->steps, t->n_steps);
        counts[t->state]++;
        json_error_t e;
        json_t *steps = json_array();
        for (int j = 0; j < t->n_steps; j++)
            json_array_append_new(steps, number_or_null(t->steps[j]));
        json_t *params = t->params != NULL ? json_loads(t->params, 0, &e) : NULL;
        json_array_append_new(
            trials, json_pack("{s:i, s:s, s:o, s:o, s:I, s:o, s:I, s:i}", "number", t->number,
                              "state", ns_trial_state_name(t->state), "params",
                              params != NULL ? params : json_object(), "value",
                              number_or_null(t->value), "job", (json_int_t)t->job, "steps", steps,
                              "epoch", (json_int_t)t->epoch, "attempts", t->attempts));
    }
    ns_dealloc(s->ctx, t);
    ns__sql_result_free(s->ctx, rows);
    int best = st == NS_OK ? ns_study_best(study) : -1;
    double best_value = NAN;
    if (best >= 0)
        ns_study_trial(study, best, NULL, &best_value, NULL);
    if (st == NS_OK) {
        const char *model = ns__store_text_at(r, i, 6);
        *out = json_pack(
            "{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:s, s:s, s:s, s:s, s:f, "
            "s:f, s:o}",
            "name", name, "state", ns__store_text_at(r, i, 2), "trial_count", ns_study_size(study),
            "budget", ns_study_def_trials(def), "complete", counts[NS_TRIAL_COMPLETE], "pruned",
            counts[NS_TRIAL_PRUNED], "paused", counts[NS_TRIAL_PAUSED], "running",
            counts[NS_TRIAL_RUNNING], "failed", counts[NS_TRIAL_FAILED], "best_value",
            number_or_null(best_value), "best_trial", best >= 0 ? json_integer(best) : json_null(),
            "metric", ns_study_def_metric(def), "direction",
            ns_study_def_maximize(def) ? "maximize" : "minimize", "sampler",
            ns_study_def_sampler(def), "pruner", ns_study_def_pruner(def), "created",
            ns__store_real_at(r, i, 4), "updated", ns__store_real_at(r, i, 5), "model",
            model != NULL ? json_pack("{s:s, s:I}", "name", model, "version",
                                      (json_int_t)ns__store_real_at(r, i, 7))
                          : json_null());
        if (*out == NULL)
            st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    }
    if (st == NS_OK && trials_out != NULL)
        *trials_out = trials;
    else
        json_decref(trials);
    if (st == NS_OK && study_out != NULL)
        *study_out = study;
    else
        ns_study_free(study);
    ns_study_def_free(def);
    return st;
}

#define STUDY_COLUMNS "id, name, state, definition, created, updated, model, model_version"

ns_status ns_store_study_list(ns_store *s, char **json)
{
    *json = NULL;
    ns__sql_result *rows = NULL;
    ns_status st = ns__store_exec(s, "SELECT " STUDY_COLUMNS " FROM studies ORDER BY id DESC", NULL,
                                  0, &rows, NULL);
    json_t *list = json_array();
    for (int i = 0; st == NS_OK && rows != NULL && i < rows->rows; i++) {
        json_t *one = NULL;
        st = study_summary(s, rows, i, &one, NULL, NULL);
        if (st == NS_OK)
            json_array_append_new(list, one);
    }
    ns__sql_result_free(s->ctx, rows);
    if (st != NS_OK) {
        json_decref(list);
        return st;
    }
    return ns__store_give_json(s, list, json);
}

ns_status ns_store_study_get(ns_store *s, const char *name, char **json)
{
    *json = NULL;
    int64_t id = 0;
    ns_status st = ns__study_id(s, name, &id);
    ns__sql_value q[] = {NS__SQL_I(id)};
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = ns__store_query_row(s, "SELECT " STUDY_COLUMNS " FROM studies WHERE id = ?", q, 1,
                                 &row);
    json_t *one = NULL, *trials = NULL;
    ns_study *study = NULL;
    if (st == NS_OK)
        st = study_summary(s, row, 0, &one, &trials, &study);
    char *imp = NULL;
    if (st == NS_OK)
        st = ns_study_importance(study, &imp);
    if (st == NS_OK) {
        json_error_t e;
        json_object_set_new(one, "definition", json_loads(ns__store_text_at(row, 0, 3), 0, &e));
        json_object_set_new(one, "trials_list", trials);
        trials = NULL;
        json_object_set_new(one, "importance", json_loads(imp, 0, &e));
        int best = ns_study_best(study);
        json_t *list = json_object_get(one, "trials_list");
        json_t *b = best >= 0 ? json_array_get(list, (size_t)best) : NULL;
        json_object_set_new(one, "best",
                            b != NULL ? json_pack("{s:i, s:O, s:O, s:O}", "number", best, "value",
                                                  json_object_get(b, "value"), "params",
                                                  json_object_get(b, "params"), "job",
                                                  json_object_get(b, "job"))
                                      : json_null());
        json_object_set(one, "trials", list);
        json_object_del(one, "trials_list");
    }
    json_decref(trials);
    ns_dealloc(s->ctx, imp);
    ns_study_free(study);
    ns__sql_result_free(s->ctx, row);
    if (st != NS_OK) {
        json_decref(one);
        return st;
    }
    return ns__store_give_json(s, one, json);
}
