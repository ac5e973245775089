/* The worker: claims jobs from the store and runs each one as one ns_run (train, fine-tune) or
 * an evaluation, in a directory of its own, with its inputs brought out of the store (the
 * architecture's spec, the dataset's file, the last checkpoint) and its outputs put back (each
 * checkpoint, the model file, the run record). A thread renews the lease; every write names the
 * lease's fencing token, so a worker whose lease was taken over stops and writes nothing more.
 * A re-claimed job resumes from its last checkpoint: ns_run's resume is bit-exact, so the final
 * weights are the same bytes as an uninterrupted run's. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <math.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netsmith/format.h"
#include "netsmith/metrics.h"
#include "netsmith/pipeline.h"
#include "netsmith/run.h"
#include "store/store_private.h"

void ns_worker_options_default(ns_worker_options *o)
{
    memset(o, 0, sizeof *o);
    o->lease_seconds = 30.0;
    o->poll_seconds = 0.5;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the lease, renewed by a thread of its own ----------------------------------------------- */

typedef struct heartbeat {
    const char *url;
    const ns_progress *worker_stop; /* the worker's own stop flag (may be NULL) */
    ns_lease lease;
    double lease_seconds;
    atomic_int stop;      /* the job ended: the thread returns */
    atomic_int cancel;    /* the run's cancel flag: set on a cancel request or a lost lease */
    atomic_int lost;      /* the lease was taken over: write nothing more */
    atomic_int requested; /* the job was asked to stop */
    pthread_t thread;
    bool running;
} heartbeat;

static void *heartbeat_main(void *arg)
{
    heartbeat *h = arg;
    ns_ctx *ctx = NULL;
    ns_store *s = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return NULL;
    double every = h->lease_seconds / 3.0;
    double waited = 0.0;
    while (!atomic_load(&h->stop)) {
        sleep_seconds(0.05);
        if (h->worker_stop != NULL && h->worker_stop->cancel != NULL &&
            atomic_load(h->worker_stop->cancel))
            atomic_store(&h->cancel, 1); /* the worker stops: the job goes back to the queue */
        waited += 0.05;
        if (waited < every)
            continue;
        waited = 0.0;
        if (s == NULL && ns_store_open(ctx, h->url, &s) != NS_OK)
            continue; /* the store is away: try again; the lease may lapse meanwhile */
        bool cancel = false;
        ns_status st = ns_job_heartbeat(s, &h->lease, h->lease_seconds, &cancel);
        if (st == NS_ERR_STATE) {
            atomic_store(&h->lost, 1);
            atomic_store(&h->cancel, 1);
        } else if (st == NS_OK && cancel) {
            atomic_store(&h->requested, 1);
            atomic_store(&h->cancel, 1);
        } else if (st != NS_OK) {
            ns_store_close(s); /* reconnect next time */
            s = NULL;
        }
    }
    ns_store_close(s);
    ns_ctx_free(ctx);
    return NULL;
}

/* ---- one job ------------------------------------------------------------------------------ */

typedef struct job_run {
    ns_store *store;
    const ns_worker_options *opts;
    ns_job *job;
    ns_lease lease;
    heartbeat hb;
    char dir[1024];      /* the job's directory */
    char ckpt_dir[1100]; /* its checkpoints */
    ns_status write_st;  /* the first failed store write, if any */
    /* a trial job: its study, number, and what the pruner said (the epoch it said it at) */
    const char *study;
    int trial;
    ns_prune_decision decision;
    int64_t decision_epoch;
} job_run;

/* A store write of the running job: a lost lease (or any failure) cancels the run. */
static void note_write(job_run *j, ns_status st)
{
    if (st == NS_OK)
        return;
    if (j->write_st == NS_OK)
        j->write_st = st;
    if (st == NS_ERR_STATE)
        atomic_store(&j->hb.lost, 1);
    atomic_store(&j->hb.cancel, 1);
}

/* A trial job after its epoch `step` was recorded: the pruner reads the study as the store
 * holds it now (every trial's step values) and may stop the run here, pruned or paused. */
static void judge_trial(job_run *j, int64_t step)
{
    ns_study *study = NULL;
    if (ns_store_study_load(j->store, j->study, &study, NULL) != NS_OK)
        return; /* no decision without the study: the trial trains on */
    ns_prune_decision d = ns_study_judge(study, j->trial, step);
    ns_study_free(study);
    if (d != NS_PRUNE_CONTINUE) {
        j->decision = d;
        j->decision_epoch = step;
        atomic_store(&j->hb.cancel, 1); /* the run stops within a batch, checkpointing first */
    }
}

static void on_event(void *ud, const ns_run_event *ev)
{
    job_run *j = ud;
    ns_ctx *ctx = ns_store_ctx(j->store);
    if (atomic_load(&j->hb.lost))
        return;
    if (ev->kind == NS_RUN_EPOCH && ev->report != NULL) {
        char *train = NULL, *val = NULL;
        ns_metrics_to_json(ctx, &ev->report->train, NULL, 0, &train);
        if (ev->report->has_val)
            ns_metrics_to_json(ctx, &ev->report->val, NULL, 0, &val);
        char *metrics = ns_alloc(ctx, (train ? strlen(train) : 4) + (val ? strlen(val) : 4) + 64);
        if (metrics != NULL)
            sprintf(metrics, "{\"epoch\": %d, \"train\": %s, \"val\": %s}", ev->report->epoch,
                    train ? train : "null", val ? val : "null");
        note_write(j, ns_job_progress(j->store, &j->lease, ev->report->epoch + 1,
                                      ev->report->epochs, metrics));
        ns_dealloc(ctx, metrics);
        ns_dealloc(ctx, train);
        ns_dealloc(ctx, val);
        /* the last epoch ends the trial: it is complete, whatever a rung there would say */
        if (j->study != NULL && !atomic_load(&j->hb.cancel) &&
            ev->report->epoch + 1 < ev->report->epochs)
            judge_trial(j, ev->report->epoch + 1);
    } else if (ev->kind == NS_RUN_CHECKPOINT && ev->path != NULL) {
        /* the checkpoint file into the store, then the job points at it */
        char sha[65];
        ns_status st = ns_store_blob_put_file(j->store, ev->path, sha);
        const char *base = strrchr(ev->path, '/');
        base = base != NULL ? base + 1 : ev->path;
        json_t *c = json_pack("{s:s, s:s}", "file", base, "sha256", sha);
        char *text = c != NULL ? json_dumps(c, JSON_COMPACT) : NULL;
        json_decref(c);
        if (st == NS_OK)
            st = text != NULL ? ns_job_checkpoint(j->store, &j->lease, text) : NS_ERR_NOMEM;
        free(text);
        note_write(j, st);
    }
    if (j->opts->on_event != NULL)
        j->opts->on_event(j->opts->ud, j->job, ev);
}

/* Sets run setting name to the JSON string of text. */
static ns_status set_string(ns_run_config *cfg, const char *name, const char *text,
                            const char *source)
{
    json_t *v = json_string(text);
    char *js = v != NULL ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    ns_status st = js != NULL ? ns_run_config_set(cfg, name, js, source) : NS_ERR_NOMEM;
    free(js);
    return st;
}

/* Brings dataset name out of the store: its settings into cfg, its file (if any) into the
 * job's directory. */
static ns_status use_dataset(job_run *j, ns_run_config *cfg, const char *name, const char *source)
{
    ns_ctx *ctx = ns_store_ctx(j->store);
    char *settings = NULL;
    ns_status st = ns_store_data_settings(j->store, name, j->dir, &settings);
    if (st == NS_OK)
        st = ns_run_config_merge(cfg, settings, source);
    ns_dealloc(ctx, settings);
    return st;
}

/* The run config of a train or fine-tune job; *model_name gets the model it trains. */
static ns_status job_config(job_run *j, json_t *params, ns_run_config *cfg, const char **model,
                            int64_t *parent)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    char source[48], path[1200];
    snprintf(source, sizeof source, "job %lld", (long long)j->job->id);
    ns_status st = NS_OK;
    json_t *config = json_object_get(params, "config");
    if (json_is_object(config)) {
        char *text = json_dumps(config, JSON_COMPACT);
        st = text != NULL ? ns_run_config_merge(cfg, text, source) : NS_ERR_NOMEM;
        free(text);
    }
    *parent = 0;
    if (st == NS_OK && j->job->kind == NS_JOB_TRIAL) {
        *model = NULL; /* the trial's config holds its model */
    } else if (st == NS_OK && j->job->kind == NS_JOB_TRAIN) {
        /* the model's architecture as the blueprint */
        *model = json_string_value(json_object_get(params, "model"));
        char *mj = NULL, *aj = NULL;
        st = ns_store_model_get(s, *model, &mj);
        json_error_t e;
        json_t *m = st == NS_OK ? json_loads(mj, 0, &e) : NULL;
        if (st == NS_OK)
            st = ns_store_arch_get(s, json_string_value(json_object_get(m, "arch")), &aj);
        json_t *a = st == NS_OK ? json_loads(aj, 0, &e) : NULL;
        char *spec = a != NULL ? json_dumps(json_object_get(a, "spec"), JSON_INDENT(2)) : NULL;
        snprintf(path, sizeof path, "%s/spec.json", j->dir);
        if (st == NS_OK)
            st = spec != NULL ? ns_write_file(ctx, path, spec, strlen(spec)) : NS_ERR_NOMEM;
        if (st == NS_OK)
            st = set_string(cfg, "model", path, source);
        free(spec);
        json_decref(a);
        json_decref(m);
        ns_dealloc(ctx, mj);
        ns_dealloc(ctx, aj);
    } else if (st == NS_OK) {
        /* a fine-tune: the source version's weights file is the model trained on from */
        *model = json_string_value(json_object_get(params, "to"));
        ns_store_version v;
        st = ns_store_version_get(s, json_string_value(json_object_get(params, "from")), &v);
        snprintf(path, sizeof path, "%s/source.safetensors", j->dir);
        if (st == NS_OK)
            st = ns_store_blob_get_file(s, v.weights, path);
        if (st == NS_OK)
            st = set_string(cfg, "model", path, source);
        *parent = v.id;
        /* the fine-tune's own settings, by their run setting names */
        static const char *const keys[] = {"freeze", "new_head", "refit_normalization"};
        for (int i = 0; st == NS_OK && i < 3; i++) {
            json_t *val = json_object_get(params, keys[i]);
            char *text = val != NULL ? json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            if (text != NULL)
                st = ns_run_config_set(cfg, keys[i], text, source);
            free(text);
        }
    }
    if (st == NS_OK)
        st = use_dataset(j, cfg, json_string_value(json_object_get(params, "data")), source);
    char run_dir[1200], out[1200];
    snprintf(run_dir, sizeof run_dir, "%s/run", j->dir);
    snprintf(out, sizeof out, "%s/model.safetensors", j->dir);
    if (st == NS_OK)
        st = set_string(cfg, "run_dir", run_dir, source);
    if (st == NS_OK)
        st = set_string(cfg, "checkpoint_dir", j->ckpt_dir, source);
    if (st == NS_OK)
        st = set_string(cfg, "output", out, source);
    if (st == NS_OK && j->opts->checkpoint_steps > 0 &&
        !ns_run_config_has(cfg, "checkpoint_steps")) {
        char n[32];
        snprintf(n, sizeof n, "%lld", (long long)j->opts->checkpoint_steps);
        st = ns_run_config_set(cfg, "checkpoint_steps", n, source);
    }
    /* a job claimed again goes on from its last checkpoint */
    if (st == NS_OK && j->job->checkpoint != NULL) {
        json_error_t e;
        json_t *c = json_loads(j->job->checkpoint, 0, &e);
        const char *file = json_string_value(json_object_get(c, "file"));
        const char *sha = json_string_value(json_object_get(c, "sha256"));
        if (file != NULL && sha != NULL && strchr(file, '/') == NULL) {
            snprintf(path, sizeof path, "%s/%s", j->ckpt_dir, file);
            st = ns_store_blob_get_file(s, sha, path);
            if (st == NS_OK)
                st = ns_run_config_set(cfg, "resume", "true", source);
        }
        json_decref(c);
    }
    return st;
}

/* Ends a job by how its work went (st): succeeded with result, given back to the queue when
 * the worker stops, cancelled when asked, else failed with the message; nothing at all when
 * the lease was lost (the job is another worker's now). */
static ns_status end_job(job_run *j, ns_status st, const char *result)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    if (atomic_load(&j->hb.lost))
        return NS_OK;
    if (st == NS_OK)
        return ns_job_finish(s, &j->lease, NS_JOB_SUCCEEDED, result, NULL);
    if (st == NS_ERR_CANCELLED && !atomic_load(&j->hb.requested))
        return ns_job_release(s, &j->lease);
    const char *why = ns_errmsg(ctx);
    char *msg = ns_strdup(ctx, why[0] != '\0' ? why : ns_status_str(st));
    ns_status fin = ns_job_finish(
        s, &j->lease, atomic_load(&j->hb.requested) ? NS_JOB_CANCELLED : NS_JOB_FAILED, NULL, msg);
    ns_dealloc(ctx, msg);
    return fin;
}

/* A finished run's outputs into the store: its first seed's model file and the run record as
 * blobs (their sha256 into weights and record), and the metrics of the seed's last part
 * evaluated (test, else val, else train) as JSON into *metrics (ns_dealloc). */
static ns_status put_outputs(ns_store *s, const ns_run_record *rec, char weights[65],
                             char record[65], char **metrics)
{
    ns_ctx *ctx = ns_store_ctx(s);
    const ns_run_seed *seed = &rec->seeds[0];
    char *rec_json = NULL;
    *metrics = NULL;
    ns_status st = ns_store_blob_put_file(s, seed->model_path, weights);
    if (st == NS_OK && (st = ns_run_record_to_json(ctx, rec, &rec_json)) == NS_OK)
        st = ns_store_blob_put(s, rec_json, strlen(rec_json), record);
    const ns_metric_values *final = seed->has_test  ? &seed->test
                                    : seed->has_val ? &seed->val
                                                    : &seed->train;
    if (st == NS_OK)
        st = ns_metrics_to_json(ctx, final, seed->confusion, seed->classes, metrics);
    ns_dealloc(ctx, rec_json);
    return st;
}

/* The job's run config (job_config) and its run, with the job's events and cancel flag; *cfg
 * and *rec are the caller's to free whatever the status. */
static ns_status run_job_config(job_run *j, json_t *params, ns_run_config **cfg, const char **model,
                                int64_t *parent, ns_run_record **rec)
{
    ns_ctx *ctx = ns_store_ctx(j->store);
    ns_status st = ns_run_config_new(ctx, cfg);
    if (st == NS_OK)
        st = job_config(j, params, *cfg, model, parent);
    if (st == NS_OK) {
        ns_progress progress = {NULL, NULL, &j->hb.cancel};
        ns_run_hooks hooks = {on_event, j, &progress};
        st = ns_run(ctx, *cfg, &hooks, rec);
    }
    return st;
}

/* Runs a train or fine-tune job to its end; the job's state is written here. */
static ns_status run_training(job_run *j, json_t *params)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    ns_run_config *cfg = NULL;
    const char *model = NULL;
    int64_t parent = 0;
    ns_run_record *rec = NULL;
    ns_status st = run_job_config(j, params, &cfg, &model, &parent, &rec);
    if (atomic_load(&j->hb.lost)) {
        /* another worker has the job now: nothing more is written */
    } else if (st == NS_OK && rec != NULL && rec->n_seeds > 0) {
        char weights[65], record[65] = "";
        char *metrics = NULL;
        st = put_outputs(s, rec, weights, record, &metrics);
        if (st == NS_OK)
            st = ns_job_succeed(s, &j->lease, model, weights, record, parent, metrics, NULL);
        ns_dealloc(ctx, metrics);
    } else {
        if (st == NS_OK)
            st = ns_errorf(ctx, NS_ERR_STATE, "the run trained no model");
        st = end_job(j, st, NULL);
    }
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    return st;
}

/* The objective's value in a seed's results: the part's metric (NAN when the run has no such
 * part or metric). */
static double objective_of(const ns_study_def *def, const ns_run_seed *seed)
{
    const char *part = ns_study_def_part(def);
    const ns_metric_values *v = strcmp(part, "train") == 0                    ? &seed->train
                                : strcmp(part, "val") == 0 && seed->has_val   ? &seed->val
                                : strcmp(part, "test") == 0 && seed->has_test ? &seed->test
                                                                              : NULL;
    ns_metric_id id;
    if (v == NULL || ns_metric_find(ns_study_def_metric_name(def), &id) != NS_OK)
        return NAN;
    return ns_metric_value(v, id);
}

/* A trial job's end: {"trial", "state", ...} as the study reads it. */
static ns_status end_trial(job_run *j, ns_job_state state, json_t *result, const char *error)
{
    json_object_set_new(result, "trial", json_integer(j->trial));
    char *text = json_dumps(result, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(result);
    ns_status st = text != NULL ? ns_job_finish(j->store, &j->lease, state, text, error)
                                : ns_errorf(ns_store_ctx(j->store), NS_ERR_NOMEM, "out of memory");
    free(text);
    return st;
}

/* What the pruner said ends the trial: pruned (a finished job), or paused (a cancelled job
 * whose checkpoint the tuner's promotion resumes). */
static ns_status end_judged(job_run *j, const char *pruner)
{
    json_int_t epoch = (json_int_t)j->decision_epoch;
    if (j->decision == NS_PRUNE_STOP)
        return end_trial(j, NS_JOB_SUCCEEDED,
                         json_pack("{s:s, s:I}", "state", "pruned", "epoch", epoch), NULL);
    char why[200];
    snprintf(why, sizeof why,
             "paused at epoch %lld by the %s pruner; it resumes from its checkpoint when "
             "promoted",
             (long long)epoch, pruner);
    return end_trial(j, NS_JOB_CANCELLED,
                     json_pack("{s:s, s:I}", "state", "paused", "epoch", epoch), why);
}

/* Runs a trial job: one run of its study's base with the trial's settings, its step values
 * recorded each epoch and judged by the study's pruner. */
static ns_status run_trial(job_run *j, json_t *params)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    j->study = json_string_value(json_object_get(params, "study"));
    j->trial = (int)json_integer_value(json_object_get(params, "trial"));
    ns_study_def *def = NULL;
    ns_status st = j->study != NULL
                       ? ns_store_study_def(s, j->study, &def)
                       : ns_errorf(ctx, NS_ERR_INVALID, "the trial job names no study");
    /* A trial claimed again after its worker died may have been judged at its last epoch
     * already: judge it there again (the same decision) before training on. */
    if (st == NS_OK && j->job->history != NULL) {
        int64_t last = 0;
        for (const char *h = j->job->history; h != NULL && *h != '\0';) {
            const char *lf = strchr(h, '\n');
            json_error_t e;
            json_t *line = json_loadb(h, lf != NULL ? (size_t)(lf - h) : strlen(h), 0, &e);
            json_int_t ep = json_integer_value(json_object_get(line, "epoch"));
            last = ep > last ? ep : last;
            json_decref(line);
            h = lf != NULL ? lf + 1 : NULL;
        }
        if (last > 0 && last < j->job->epochs)
            judge_trial(j, last);
        if (j->decision != NS_PRUNE_CONTINUE) {
            st = end_judged(j, ns_study_def_pruner(def));
            ns_study_def_free(def);
            return st;
        }
    }
    ns_run_config *cfg = NULL;
    const char *model = NULL;
    int64_t parent = 0;
    ns_run_record *rec = NULL;
    if (st == NS_OK)
        st = run_job_config(j, params, &cfg, &model, &parent, &rec);
    if (atomic_load(&j->hb.lost)) {
        /* another worker has the trial now */
    } else if (j->decision != NS_PRUNE_CONTINUE && (st == NS_ERR_CANCELLED || st == NS_OK)) {
        st = end_judged(j, ns_study_def_pruner(def));
    } else if (st == NS_OK && rec != NULL && rec->n_seeds > 0) {
        const ns_run_seed *seed = &rec->seeds[0];
        double value = objective_of(def, seed);
        char weights[65], record[65];
        char *metrics = NULL;
        st = put_outputs(s, rec, weights, record, &metrics);
        json_error_t e;
        json_t *m = st == NS_OK ? json_loads(metrics, 0, &e) : NULL;
        if (st == NS_OK && !isfinite(value))
            st = end_trial(j, NS_JOB_FAILED,
                           json_pack("{s:s, s:o?}", "state", "failed", "metrics", m),
                           "the objective is not a finite number: the run has no such metric, or "
                           "it diverged");
        else if (st == NS_OK)
            st = end_trial(j, NS_JOB_SUCCEEDED,
                           json_pack("{s:s, s:f, s:I, s:s, s:s, s:o?}", "state", "complete",
                                     "value", value, "epoch", (json_int_t)seed->epochs_run,
                                     "weights", weights, "record", record, "metrics", m),
                           NULL);
        else
            json_decref(m);
        ns_dealloc(ctx, metrics);
        if (st != NS_OK && !atomic_load(&j->hb.lost))
            st = end_job(j, st, NULL);
    } else {
        if (st == NS_OK)
            st = ns_errorf(ctx, NS_ERR_STATE, "the run trained no model");
        st = end_job(j, st, NULL);
    }
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    ns_study_def_free(def);
    return st;
}

/* Runs an evaluation job: the version's metrics on the dataset's rows. */
static ns_status run_evaluation(job_run *j, json_t *params)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    char source[48], path[1200];
    snprintf(source, sizeof source, "job %lld", (long long)j->job->id);
    ns_store_version v;
    ns_status st = ns_store_version_get(s, json_string_value(json_object_get(params, "model")), &v);
    snprintf(path, sizeof path, "%s/model.safetensors", j->dir);
    if (st == NS_OK)
        st = ns_store_blob_get_file(s, v.weights, path);
    ns_run_config *cfg = NULL;
    if (st == NS_OK)
        st = ns_run_config_new(ctx, &cfg);
    if (st == NS_OK)
        st = use_dataset(j, cfg, json_string_value(json_object_get(params, "data")), source);
    ns_model *model = NULL;
    ns_model_info info;
    memset(&info, 0, sizeof info);
    ns_dataset *ds = NULL;
    ns_metrics *acc = NULL;
    char *metrics = NULL;
    ns_data_options dopts;
    if (st == NS_OK)
        st = ns_run_config_data_options(cfg, &dopts);
    ns_progress progress = {NULL, NULL, &j->hb.cancel};
    if (st == NS_OK)
        st = ns_fit_evaluate_file(ctx, path, &dopts, &progress, &model, &info, &ds, &acc);
    ns_metric_values values;
    if (st == NS_OK)
        st = ns_metrics_compute(acc, &values);
    int classes = 0;
    const int64_t *conf = st == NS_OK ? ns_metrics_confusion(acc, &classes) : NULL;
    if (st == NS_OK)
        st = ns_metrics_to_json(ctx, &values, conf, classes, &metrics);
    char *result = NULL;
    if (st == NS_OK) {
        json_error_t e;
        json_t *m = json_loads(metrics, 0, &e);
        json_t *r =
            json_pack("{s:s, s:i, s:o?}", "model", v.model, "version", v.version, "metrics", m);
        char *t = r != NULL ? json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        result = t != NULL ? ns_strdup(ctx, t) : NULL;
        free(t);
        json_decref(r);
    }
    st = end_job(j, st, result);
    ns_dealloc(ctx, result);
    ns_dealloc(ctx, metrics);
    ns_metrics_free(acc);
    ns_dataset_free(ds);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    ns_run_config_free(cfg);
    return st;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : 0; /* go on: leftovers are only disk */
}

/* Runs a card job: a pipeline's remote card, over the files it brought (ns_card_run_files), its
 * outputs put into the store. */
/* Whether name is one file's name in a directory: not empty, no '/', not "." or "..". */
static bool plain_name(const char *name)
{
    return name != NULL && name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static ns_status run_card_job(job_run *j, json_t *params)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    char in_dir[1200], out_dir[1200];
    snprintf(in_dir, sizeof in_dir, "%s/in", j->dir);
    snprintf(out_dir, sizeof out_dir, "%s/out", j->dir);
    ns_status st = ns_make_dirs(ctx, in_dir);
    const char *file;
    json_t *sha;
    json_object_foreach(json_object_get(params, "files"), file, sha)
    {
        char path[1400];
        if (st != NS_OK)
            break;
        if (!plain_name(file) || !json_is_string(sha)) {
            st = ns_errorf(ctx, NS_ERR_INVALID,
                           "card job: \"files\" must map plain file names (no '/', not '..') to "
                           "blobs' sha256, got '%.64s'",
                           file);
            break;
        }
        snprintf(path, sizeof path, "%s/%s", in_dir, file);
        st = ns_store_blob_get_file(s, json_string_value(sha), path);
    }
    const char *names[64], *paths[64];
    char pathbuf[64][1400];
    int n = 0;
    const char *port;
    json_t *f;
    json_object_foreach(json_object_get(params, "inputs"), port, f)
    {
        if (st != NS_OK || n == 64)
            break;
        if (!plain_name(json_string_value(f))) {
            st = ns_errorf(ctx, NS_ERR_INVALID,
                           "card job: input %s must name one of the job's files (a plain name, no "
                           "'/', not '..')",
                           port);
            break;
        }
        snprintf(pathbuf[n], sizeof pathbuf[n], "%s/%s", in_dir, json_string_value(f));
        names[n] = port;
        paths[n] = pathbuf[n];
        n++;
    }
    char *settings = json_dumps(json_object_get(params, "settings"), JSON_COMPACT);
    ns_cards *cards = NULL;
    if (st == NS_OK)
        st = ns_cards_new(ctx, &cards);
    ns_progress progress = {NULL, NULL, &j->hb.cancel};
    if (st == NS_OK)
        st = ns_card_run_files(cards, json_string_value(json_object_get(params, "card")), names,
                               paths, n, settings, out_dir, &progress);
    free(settings);
    ns_cards_free(cards);
    /* every file the card wrote into the store */
    json_t *files = json_object();
    DIR *d = st == NS_OK ? opendir(out_dir) : NULL;
    for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL && st == NS_OK;
         e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char path[1400], hash[65];
        if (snprintf(path, sizeof path, "%s/%s", out_dir, e->d_name) >= (int)sizeof path)
            continue;
        st = ns_store_blob_put_file(s, path, hash);
        json_object_set_new(files, e->d_name, json_string(hash));
    }
    if (d != NULL)
        closedir(d);
    json_t *result = json_pack("{s:o}", "files", files);
    char *text = result != NULL ? json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(result);
    st = end_job(j, st, text);
    free(text);
    return st;
}

/* A pipeline card's event into the store's log (for the faces that show it live). Iterations
 * of inner loops (batches) are left out: epochs and cards are what a viewer follows. */
static void on_card_event(void *ud, const ns_card_event *ev)
{
    job_run *j = ud;
    if (atomic_load(&j->hb.lost) || (ev->kind == NS_CARD_ITERATION && ev->depth > 0))
        return;
    json_t *d = json_pack(
        "{s:s, s:s, s:s, s:i, s:I, s:I, s:f, s:s?}", "event", ns_card_event_kind_name(ev->kind),
        "id", ev->id, "card", ev->card, "depth", ev->depth, "iteration", (json_int_t)ev->iteration,
        "iterations", (json_int_t)ev->iterations, "seconds", ev->seconds, "message", ev->message);
    char *text = d != NULL ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (text != NULL)
        note_write(j, ns_job_event(j->store, &j->lease, "card", text));
    free(text);
}

/* Runs a pipeline job: the pipeline with the store as its host, every top-level card's outputs
 * (its state directory's files) put into the store. */
static ns_status run_pipeline_job(job_run *j, json_t *params)
{
    ns_store *s = j->store;
    ns_ctx *ctx = ns_store_ctx(s);
    const char *text = json_string_value(json_object_get(params, "pipeline"));
    const char *src = json_string_value(json_object_get(params, "source"));
    json_t *set = json_object_get(params, "set");
    const char *over[64];
    int n_over = 0;
    for (size_t i = 0; set != NULL && i < json_array_size(set) && n_over < 64; i++)
        if (json_is_string(json_array_get(set, i)))
            over[n_over++] = json_string_value(json_array_get(set, i));
    char state[1200], files[1200];
    snprintf(state, sizeof state, "%s/state", j->dir);
    snprintf(files, sizeof files, "%s/store-files", j->dir);
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    void *host_state = NULL;
    ns_pipeline_host host;
    ns_status st = text != NULL ? ns_cards_new(ctx, &cards)
                                : ns_errorf(ctx, NS_ERR_INVALID, "the job has no pipeline");
    if (st == NS_OK)
        st = ns_pipeline_parse(cards, text, strlen(text), src != NULL ? src : "pipeline", over,
                               n_over, &p);
    if (st == NS_OK)
        st = ns_store_pipeline_host(s, files, &host, &host_state);
    if (st == NS_OK) {
        ns_pipeline_set_host(p, &host);
        ns_progress progress = {NULL, NULL, &j->hb.cancel};
        ns_run_options o = {
            .state_dir = state, .on_event = on_card_event, .ud = j, .progress = &progress};
        st = ns_pipeline_run(p, &o);
    }
    /* the outputs into the store: state/CARD/FILE */
    json_t *outputs = json_object();
    DIR *d = st == NS_OK ? opendir(state) : NULL;
    for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL && st == NS_OK;
         e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char sub[1400];
        if (snprintf(sub, sizeof sub, "%s/%s", state, e->d_name) >= (int)sizeof sub)
            continue;
        DIR *cd = opendir(sub);
        for (struct dirent *f = cd != NULL ? readdir(cd) : NULL; f != NULL && st == NS_OK;
             f = readdir(cd)) {
            char path[1700], key[600], sha[65];
            if (f->d_name[0] == '.' ||
                snprintf(path, sizeof path, "%s/%s", sub, f->d_name) >= (int)sizeof path)
                continue;
            snprintf(key, sizeof key, "%s/%s", e->d_name, f->d_name);
            st = ns_store_blob_put_file(s, path, sha);
            json_object_set_new(outputs, key, json_string(sha));
        }
        if (cd != NULL)
            closedir(cd);
    }
    if (d != NULL)
        closedir(d);
    json_t *result = json_pack("{s:o}", "outputs", outputs);
    char *out = result != NULL ? json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(result);
    st = end_job(j, st, out);
    free(out);
    ns_store_pipeline_host_free(s, host_state);
    ns_pipeline_free(p);
    ns_cards_free(cards);
    return st;
}

/* Removes the job's directory and all it holds (never following a link). */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ns_status run_job(ns_store *s, const ns_worker_options *o, const char *work_dir, ns_job *job,
                         const ns_lease *lease)
{
    ns_ctx *ctx = ns_store_ctx(s);
    job_run j;
    memset(&j, 0, sizeof j);
    j.store = s;
    j.opts = o;
    j.job = job;
    j.lease = *lease;
    int n = snprintf(j.dir, sizeof j.dir, "%s/job-%lld-%lld", work_dir, (long long)job->id,
                     (long long)lease->token);
    if (n < 0 || (size_t)n >= sizeof j.dir ||
        snprintf(j.ckpt_dir, sizeof j.ckpt_dir, "%s/checkpoints", j.dir) >= (int)sizeof j.ckpt_dir)
        return ns_errorf(ctx, NS_ERR_INVALID, "%s: the worker's directory's name is too long",
                         work_dir);
    ns_status st = ns_make_dirs(ctx, j.ckpt_dir);
    if (st != NS_OK)
        return st;
    if (job->cancel_requested) /* cancelled while its last worker was away */
        return ns_job_finish(s, lease, NS_JOB_CANCELLED, NULL, "cancelled");
    j.hb.url = s->url;
    j.hb.worker_stop = o->stop;
    j.hb.lease = *lease;
    j.hb.lease_seconds = o->lease_seconds;
    j.hb.running = pthread_create(&j.hb.thread, NULL, heartbeat_main, &j.hb) == 0;
    json_error_t e;
    json_t *params = json_loads(job->params, 0, &e);
    if (params == NULL)
        st = ns_job_finish(s, lease, NS_JOB_FAILED, NULL, "the job's parameters are not JSON");
    else if (job->kind == NS_JOB_EVALUATE)
        st = run_evaluation(&j, params);
    else if (job->kind == NS_JOB_CARD)
        st = run_card_job(&j, params);
    else if (job->kind == NS_JOB_PIPELINE)
        st = run_pipeline_job(&j, params);
    else if (job->kind == NS_JOB_TRIAL)
        st = run_trial(&j, params);
    else
        st = run_training(&j, params);
    json_decref(params);
    atomic_store(&j.hb.stop, 1);
    if (j.hb.running)
        pthread_join(j.hb.thread, NULL);
    remove_tree(j.dir);
    /* A lost lease is the other worker's job now, not this worker's failure: the job's fenced
     * writes (progress, checkpoint, completion) fail with NS_ERR_STATE only for that. */
    return st == NS_ERR_STATE ? NS_OK : st;
}

ns_status ns_worker_run(ns_store *s, const ns_worker_options *opts, int *done)
{
    ns_ctx *ctx = ns_store_ctx(s);
    ns_worker_options o;
    if (opts != NULL)
        o = *opts;
    else
        ns_worker_options_default(&o);
    if (o.lease_seconds <= 0)
        o.lease_seconds = 30.0;
    if (o.poll_seconds <= 0)
        o.poll_seconds = 0.5;
    if (done != NULL)
        *done = 0;
    char name[96];
    if (o.name == NULL) {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(name, sizeof name, "%s:%ld", host, (long)getpid());
        o.name = name;
    }
    char work[1024];
    bool own_dir = o.work_dir == NULL;
    if (own_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(work, sizeof work, "%s/netsmith-worker-XXXXXX", tmp != NULL ? tmp : "/tmp");
        if (mkdtemp(work) == NULL)
            return ns_errorf(ctx, NS_ERR_IO, "%s: cannot make the worker's directory: %s", work,
                             strerror(errno));
    } else {
        snprintf(work, sizeof work, "%s", o.work_dir);
        ns_status st = ns_make_dirs(ctx, work);
        if (st != NS_OK)
            return st;
    }
    ns_status st = NS_OK;
    int ran = 0;
    while (o.jobs == 0 || ran < o.jobs) {
        if (o.stop != NULL && o.stop->cancel != NULL && atomic_load(o.stop->cancel)) {
            st = ns_errorf(ctx, NS_ERR_CANCELLED, "the worker was stopped");
            break;
        }
        ns_job job;
        ns_lease lease;
        bool claimed = false;
        st = ns_job_claim_named(s, o.name, o.lease_seconds, o.devices != NULL ? o.devices : "cpu",
                                o.name_prefix, &job, &lease, &claimed);
        if (st == NS_ERR_BUSY) {
            st = NS_OK; /* another worker holds the store for a moment */
            sleep_seconds(o.poll_seconds);
            continue;
        }
        if (st != NS_OK)
            break;
        if (!claimed) {
            if (o.once)
                break;
            sleep_seconds(o.poll_seconds);
            continue;
        }
        st = run_job(s, &o, work, &job, &lease);
        ns_job_clear(&job);
        ran++;
        if (done != NULL)
            *done = ran;
        if (st != NS_OK)
            break;
    }
    if (own_dir)
        rmdir(work);
    return st;
}
