/* The tuner: runs a study to its end over the queue. It keeps `parallel` trials queued or
 * running, asking the sampler for a trial's settings when a slot frees and promoting paused
 * trials first, and runs local workers itself unless the trials are left to workers
 * elsewhere. Everything it decides is read back from the store each round, so a tuner killed
 * at any moment and started again with resume goes on exactly where the store stands. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netsmith/format.h"
#include "store/store_private.h"
#include "store/studies.h"

void ns_tune_options_default(ns_tune_options *o)
{
    memset(o, 0, sizeof *o);
    o->poll_seconds = 0.2;
    o->lease_seconds = 30.0;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- workers on this machine -------------------------------------------------------------- */

ns_status ns_job_reclaim_local(ns_store *s, int *count)
{
    if (count != NULL)
        *count = 0;
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    ns__sql_value a[] = {NS__SQL_T(host)};
    ns__sql_result *rows = NULL;
    ns_status st =
        ns__store_exec(s, "SELECT id, worker FROM jobs WHERE state = 'running'", a, 0, &rows, NULL);
    size_t hl = strlen(host);
    for (int i = 0; st == NS_OK && rows != NULL && i < rows->rows; i++) {
        const char *w = ns__store_text_at(rows, i, 1);
        if (w == NULL || strncmp(w, host, hl) != 0 || w[hl] != ':')
            continue;
        char *end = NULL;
        long pid = strtol(w + hl + 1, &end, 10);
        if (end == w + hl + 1 || *end != '\0' || pid <= 0)
            continue; /* not a default name: its owner may be alive elsewhere */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* the process is there */
        ns__sql_value u[] = {NS__SQL_I((int64_t)ns__store_real_at(rows, i, 0)), NS__SQL_T(w)};
        int64_t changed = 0;
        st = ns__store_exec(s,
                            "UPDATE jobs SET lease_expires = 0 WHERE id = ? AND worker = ? AND "
                            "state = 'running'",
                            u, 2, NULL, &changed);
        if (count != NULL)
            *count += (int)changed;
    }
    ns__sql_result_free(s->ctx, rows);
    return st;
}

typedef struct local_worker {
    const char *url;
    ns_worker_options opts;
    pthread_t thread;
    bool started;
    atomic_int failed; /* the worker's error status once it stopped on one (0 until then) */
    char message[512]; /* its message, written before failed */
} local_worker;

static void *worker_main(void *arg)
{
    local_worker *w = arg;
    ns_ctx *ctx = NULL;
    ns_store *s = NULL;
    ns_status st = ns_ctx_new(NULL, &ctx);
    if (st == NS_OK)
        st = ns_store_open(ctx, w->url, &s);
    if (st == NS_OK)
        st = ns_worker_run(s, &w->opts, NULL);
    if (st != NS_OK && st != NS_ERR_CANCELLED) {
        snprintf(w->message, sizeof w->message, "%s",
                 ctx != NULL ? ns_errmsg(ctx) : "out of memory");
        atomic_store(&w->failed, (int)st);
    }
    ns_store_close(s);
    ns_ctx_free(ctx);
    return NULL;
}

/* ---- the loop ------------------------------------------------------------------------------- */

/* Tells the face what happened to a trial, with the study's best so far. */
static void tell(const ns_tune_options *o, const ns_study *study, ns_tune_event_kind kind,
                 int trial, ns_trial_state state, double value, const char *params, int done,
                 int total)
{
    if (o->on_event == NULL)
        return;
    ns_tune_event ev = {kind, trial, state, value, params, done, total, ns_study_best(study), NAN};
    if (ev.best >= 0)
        ns_study_trial(study, ev.best, NULL, &ev.best_value, NULL);
    o->on_event(o->ud, &ev);
}

/* Marks the study's paused trials pruned, ends the study and registers its best trial's model
 * (once: a version made by the best trial's job is not added again). */
static ns_status finish(ns_store *s, ns_study *study, const int64_t *jobs)
{
    const ns_study_def *def = ns_study_get_def(study);
    const char *name = ns_study_def_name(def);
    int64_t study_id = 0;
    ns_status st = ns__study_id(s, name, &study_id);
    int best = ns_study_best(study);
    ns_job job;
    memset(&job, 0, sizeof job);
    if (st == NS_OK && best >= 0)
        st = ns_job_get(s, jobs[best], &job);
    json_error_t e;
    json_t *res = job.result != NULL ? json_loads(job.result, 0, &e) : NULL;
    const char *weights = json_string_value(json_object_get(res, "weights"));
    const char *record = json_string_value(json_object_get(res, "record"));
    char model[96] = "", arch[96];
    /* the architecture: the run record's blueprint */
    if (st == NS_OK && weights != NULL && record != NULL) {
        void *rb = NULL;
        size_t rn = 0;
        st = ns_store_blob_get(s, record, &rb, &rn);
        json_t *rj = st == NS_OK ? json_loadb(rb, rn, 0, &e) : NULL;
        ns_dealloc(s->ctx, rb);
        json_t *spec = json_object_get(rj, "model"); /* the record's blueprint */
        char *spec_text = spec != NULL ? json_dumps(spec, JSON_COMPACT) : NULL;
        snprintf(arch, sizeof arch, "%.60s-trial-%d", name, best);
        if (st == NS_OK && spec_text == NULL)
            st = ns_errorf(s->ctx, NS_ERR_FORMAT, "trial %d's run record holds no spec", best);
        if (st == NS_OK)
            st = ns_store_arch_add(s, arch, spec_text, arch);
        snprintf(model, sizeof model, "%.64s", name);
        if (st == NS_OK) {
            st = ns_store_model_create(s, model, arch);
            if (st == NS_ERR_STATE) { /* the study's model is of another architecture */
                snprintf(model, sizeof model, "%s", arch);
                st = ns_store_model_create(s, model, arch);
            }
        }
        free(spec_text);
        json_decref(rj);
    }
    int64_t model_id = 0;
    if (st == NS_OK && model[0] != '\0')
        st = ns__store_id_of(s, "models", "model", model, "netsmith model list", &model_id);
    if (st == NS_OK && (st = ns__store_begin(s)) == NS_OK) {
        ns__sql_value p[] = {NS__SQL_I(study_id)};
        st = ns__store_exec(s,
                            "UPDATE trials SET state = 'pruned' WHERE study_id = ? AND job_id IN "
                            "(SELECT id FROM jobs WHERE state = 'cancelled' AND result LIKE "
                            "'%\"paused\"%')",
                            p, 1, NULL, NULL);
        int version = 0;
        if (st == NS_OK && model_id != 0) {
            ns__sql_value q[] = {NS__SQL_I(model_id), NS__SQL_I(job.id)};
            ns__sql_result *row = NULL;
            st = ns__store_query_row(s,
                                     "SELECT version FROM versions WHERE model_id = ? AND job_id "
                                     "= ?",
                                     q, 2, &row);
            version = row != NULL ? (int)ns__store_real_at(row, 0, 0) : 0;
            ns__sql_result_free(s->ctx, row);
            char *metrics = NULL;
            json_t *m = json_object_get(res, "metrics");
            if (m != NULL)
                metrics = json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(17));
            int64_t vid = 0;
            if (st == NS_OK && version == 0)
                st = ns__store_insert_version(s, model_id, weights, record, job.id, 0, metrics,
                                              &version, &vid);
            free(metrics);
        }
        ns__sql_value u[] = {NS__SQL_T(model[0] != '\0' ? model : NULL),
                             version > 0 ? NS__SQL_I(version) : NS__SQL_N, NS__SQL_I(study_id)};
        if (st == NS_OK)
            st = ns__store_exec(s,
                                "UPDATE studies SET state = 'complete', model = ?, model_version "
                                "= ?, updated = {now} WHERE id = ?",
                                u, 3, NULL, NULL);
        st = ns__store_end(s, st);
    }
    json_decref(res);
    ns_job_clear(&job);
    return st;
}

/* The study ready to run: made from def, or the stored one with resume (the flags' budget and
 * parallelism written into it). */
static ns_status open_study(ns_store *s, const ns_study_def *def, const char *name,
                            const ns_tune_options *o)
{
    const char *n = def != NULL ? ns_study_def_name(def) : name;
    if (n == NULL)
        return ns_errorf(s->ctx, NS_ERR_INVALID,
                         "tune: give a study file, or a study's name to "
                         "resume");
    int64_t id = 0;
    ns__sql_value q[] = {NS__SQL_T(n)};
    ns__sql_result *row = NULL;
    ns_status st = ns__store_query_row(s, "SELECT id FROM studies WHERE name = ?", q, 1, &row);
    id = row != NULL ? (int64_t)ns__store_real_at(row, 0, 0) : 0;
    ns__sql_result_free(s->ctx, row);
    if (st != NS_OK)
        return st;
    if (id == 0 && def == NULL)
        return ns__study_id(s, n, &id); /* the not-found message, with a did-you-mean */
    if (id == 0)
        st = ns_store_study_create(s, def);
    else if (!o->resume)
        return ns_errorf(s->ctx, NS_ERR_STATE,
                         "study %s exists in the store already; continue it with --resume, or "
                         "give the study another name",
                         n);
    if (st != NS_OK)
        return st;
    /* a file given to resume must be the stored study's (but for its budget and parallelism,
     * which it may change) */
    int trials = o->trials, parallel = o->parallel;
    if (id != 0 && def != NULL) {
        ns_study_def *stored = NULL;
        char *a = NULL, *b = NULL;
        st = ns_store_study_def(s, n, &stored);
        int stored_trials = st == NS_OK ? ns_study_def_trials(stored) : 0;
        if (st == NS_OK &&
            (st = ns_study_def_set_trials(stored, ns_study_def_trials(def))) == NS_OK &&
            (st = ns_study_def_set_parallel(stored, ns_study_def_parallel(def))) == NS_OK &&
            (st = ns_study_def_to_json(stored, &a)) == NS_OK &&
            (st = ns_study_def_to_json(def, &b)) == NS_OK && strcmp(a, b) != 0)
            st = ns_errorf(s->ctx, NS_ERR_STATE,
                           "study %s in the store was made from another definition (its base, "
                           "objective, sampler, pruner or space differ from this file's); "
                           "resume it by name ('netsmith tune --resume %s'), or give this study "
                           "another name",
                           n, n);
        if (stored != NULL) {
            ns_dealloc(ns_study_def_ctx(stored), a);
            ns_dealloc(ns_study_def_ctx(def), b);
        }
        ns_study_def_free(stored);
        if (st != NS_OK)
            return st;
        /* the file may grow the budget, never shrink it below what the study had */
        if (trials == 0 && ns_study_def_trials(def) > stored_trials)
            trials = ns_study_def_trials(def);
        if (parallel == 0)
            parallel = ns_study_def_parallel(def);
    }
    /* overrides go into the stored definition, so a later resume keeps them */
    if (trials > 0 || parallel > 0) {
        ns_study_def *stored = NULL;
        st = ns_store_study_def(s, n, &stored);
        if (st == NS_OK && trials > 0)
            st = ns_study_def_set_trials(stored, trials);
        if (st == NS_OK && parallel > 0)
            st = ns_study_def_set_parallel(stored, parallel);
        if (st == NS_OK)
            st = ns__study_set_def(s, stored);
        ns_study_def_free(stored);
    }
    /* the study runs again: its paused trials are paused again (not pruned), so that the
     * trials to come may promote them */
    ns__sql_value u[] = {NS__SQL_T(n)};
    if (st == NS_OK && (st = ns__store_begin(s)) == NS_OK) {
        st = ns__store_exec(s, "UPDATE studies SET state = 'running' WHERE name = ?", u, 1, NULL,
                            NULL);
        if (st == NS_OK)
            st = ns__store_exec(s,
                                "UPDATE trials SET state = NULL WHERE study_id = (SELECT id FROM "
                                "studies WHERE name = ?)",
                                u, 1, NULL, NULL);
        st = ns__store_end(s, st);
    }
    return st;
}

ns_status ns_tune(ns_store *s, const ns_study_def *def, const char *name,
                  const ns_tune_options *opts, char **summary)
{
    if (summary != NULL)
        *summary = NULL;
    ns_tune_options o;
    if (opts != NULL)
        o = *opts;
    else
        ns_tune_options_default(&o);
    if (o.poll_seconds <= 0)
        o.poll_seconds = 0.2;
    ns_status st = open_study(s, def, name, &o);
    const char *study_name = def != NULL ? ns_study_def_name(def) : name;
    char sname[80];
    snprintf(sname, sizeof sname, "%s", study_name != NULL ? study_name : "");
    if (st == NS_OK && o.resume)
        st = ns_job_reclaim_local(s, NULL);
    ns_study_def *stored = NULL;
    if (st == NS_OK)
        st = ns_store_study_def(s, sname, &stored);
    if (st != NS_OK)
        return st;
    int parallel = ns_study_def_parallel(stored);
    int budget = ns_study_def_trials(stored);
    ns_study_def_free(stored);
    /* the local workers: threads of their own, each with its own store handle, running this
     * study's trials (named study:NAME:N) and nothing else */
    char prefix[96];
    snprintf(prefix, sizeof prefix, "study:%s:", sname);
    atomic_int stop_workers = 0;
    ns_progress worker_stop = {NULL, NULL, &stop_workers};
    local_worker *workers = NULL;
    int n_workers = o.remote ? 0 : parallel;
    if (n_workers > 0) {
        workers = ns_alloc(s->ctx, sizeof *workers * (size_t)n_workers);
        if (workers == NULL)
            return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
        memset(workers, 0, sizeof *workers * (size_t)n_workers);
    }
    for (int i = 0; i < n_workers; i++) {
        local_worker *w = &workers[i];
        w->url = s->url;
        ns_worker_options_default(&w->opts);
        w->opts.lease_seconds = o.lease_seconds > 0 ? o.lease_seconds : 30.0;
        w->opts.poll_seconds = o.poll_seconds;
        w->opts.work_dir = o.work_dir;
        w->opts.stop = &worker_stop;
        w->opts.name_prefix = prefix; /* this study's trials only */
        w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
    }
    /* the rounds: read the study, promote, queue, until every trial has ended */
    ns_trial_state *seen = NULL;
    int seen_n = 0;
    ns_study *study = NULL;
    int64_t *jobs = NULL;
    for (;;) {
        if (o.stop != NULL && o.stop->cancel != NULL && atomic_load(o.stop->cancel)) {
            st = ns_errorf(s->ctx, NS_ERR_CANCELLED,
                           "the tuner was stopped; its trials stay in the store: go on with "
                           "'netsmith tune --resume %s'",
                           sname);
            break;
        }
        ns_study_free(study);
        ns_dealloc(s->ctx, jobs);
        study = NULL;
        jobs = NULL;
        st = ns_store_study_load(s, sname, &study, &jobs);
        if (st == NS_ERR_BUSY) {
            nap(o.poll_seconds);
            continue;
        }
        if (st != NS_OK)
            break;
        int n = ns_study_size(study), active = 0, ended = 0;
        if (n > seen_n) {
            ns_trial_state *grown = ns_realloc(s->ctx, seen, sizeof *seen * (size_t)n);
            if (grown == NULL) {
                st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
                break;
            }
            for (int i = seen_n; i < n; i++)
                grown[i] = NS_TRIAL_RUNNING;
            seen = grown;
            seen_n = n;
        }
        for (int i = 0; i < n; i++) {
            ns_trial_state state;
            double value;
            ns_study_trial(study, i, &state, &value, NULL);
            active += state == NS_TRIAL_RUNNING;
            ended += state != NS_TRIAL_RUNNING && state != NS_TRIAL_PAUSED;
            if (state != seen[i] && state != NS_TRIAL_RUNNING)
                tell(&o, study, NS_TUNE_TRIAL_ENDED, i, state, value, NULL, ended, budget);
            seen[i] = state;
        }
        /* promotions first: a paused trial goes on from its checkpoint */
        int promote[64];
        int k = active < parallel ? ns_study_promotable(study, promote, 64) : 0;
        for (int i = 0; st == NS_OK && i < k && active < parallel; i++) {
            st = ns_job_retry(s, jobs[promote[i]]);
            if (st == NS_OK) {
                active++;
                seen[promote[i]] = NS_TRIAL_RUNNING;
                tell(&o, study, NS_TUNE_TRIAL_PROMOTED, promote[i], NS_TRIAL_RUNNING, NAN, NULL,
                     ended, budget);
            }
        }
        if (st == NS_ERR_BUSY) {
            st = NS_OK;
            nap(o.poll_seconds);
            continue;
        }
        if (st != NS_OK)
            break;
        int target = budget < ns_study_capacity(study) ? budget : ns_study_capacity(study);
        bool queued = false;
        while (st == NS_OK && active < parallel && ns_study_size(study) < target) {
            int number = -1;
            int64_t job = 0;
            char *params = NULL;
            st = ns__study_submit(s, study, &number, &job, &params);
            if (st == NS_OK) {
                active++;
                queued = true;
                tell(&o, study, NS_TUNE_TRIAL_STARTED, number, NS_TRIAL_RUNNING, NAN, params, ended,
                     budget);
            }
            ns_dealloc(s->ctx, params);
        }
        if (st == NS_ERR_BUSY) {
            st = NS_OK;
            nap(o.poll_seconds);
            continue;
        }
        if (st != NS_OK)
            break;
        if (!queued && active == 0 && k == 0 && ns_study_size(study) >= target) {
            st = finish(s, study, jobs);
            if (st == NS_OK)
                tell(&o, study, NS_TUNE_FINISHED, ns_study_best(study), NS_TRIAL_COMPLETE, NAN,
                     NULL, ended, budget);
            break;
        }
        /* a local worker that failed leaves trials nobody runs: say so */
        for (int i = 0; i < n_workers; i++) {
            int failed = atomic_load(&workers[i].failed);
            if (failed != 0) {
                st = ns_errorf(s->ctx, (ns_status)failed, "a local worker stopped: %s",
                               workers[i].message);
                break;
            }
        }
        if (st != NS_OK)
            break;
        nap(o.poll_seconds);
    }
    atomic_store(&stop_workers, 1);
    for (int i = 0; i < n_workers; i++)
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
    ns_dealloc(s->ctx, workers);
    ns_dealloc(s->ctx, seen);
    ns_dealloc(s->ctx, jobs);
    ns_study_free(study);
    if (st == NS_OK && summary != NULL)
        st = ns_store_study_get(s, sname, summary);
    return st;
}
