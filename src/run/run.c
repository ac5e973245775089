/* ns_run: one training run for every face. Load -> split -> (per seed) normalise, fit,
 * evaluate every part, save -> summary, with events, cancellation and the run record written
 * into the run directory as the run goes (settings.json, metrics.csv, record.json,
 * summary.json). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "run/run_internal.h"

static const char *const event_names[] = {
    "started",    "seed_started", "resumed",       "no_checkpoint", "batch", "epoch",
    "checkpoint", "saved",        "seed_finished", "finished",      "failed"};

const char *ns_run_event_kind_name(ns_run_event_kind kind)
{
    return (unsigned)kind < sizeof event_names / sizeof event_names[0] ? event_names[kind]
                                                                       : "unknown";
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *dupf(ns_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *dupf(ns_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = ns_alloc(ctx, (size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- the record ------------------------------------------------------------------------------ */

void ns_run_record_free(ns_run_record *r)
{
    if (r == NULL)
        return;
    ns_ctx *ctx = r->ctx;
    for (int i = 0; i < r->n_seeds; i++) {
        ns_dealloc(ctx, r->seeds[i].dir);
        ns_dealloc(ctx, r->seeds[i].model_path);
        ns_dealloc(ctx, r->seeds[i].history);
        ns_dealloc(ctx, r->seeds[i].confusion);
    }
    ns_dealloc(ctx, r->seeds);
    ns_dealloc(ctx, r->run_dir);
    ns_dealloc(ctx, r->settings_json);
    ns_dealloc(ctx, r->transfer_json);
    ns_dealloc(ctx, r->spec_json);
    ns_dealloc(ctx, r->data);
    ns_dealloc(ctx, r->data_name);
    ns_dealloc(ctx, r->kernels);
    ns_dealloc(ctx, r->error);
    ns_dealloc(ctx, r->resume_dir);
    ns_dealloc(ctx, r);
}

static json_t *metrics_json(const ns_metric_values *v)
{
    json_t *o = json_object();
    ns_task task = v->is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    for (int id = 0; id < NS_METRIC_COUNT; id++)
        if (id == NS_METRIC_N || ns_metric_applies((ns_metric_id)id, task)) {
            double x = ns_metric_value(v, (ns_metric_id)id);
            json_object_set_new(o, ns_metric_name((ns_metric_id)id),
                                id == NS_METRIC_N ? json_integer((json_int_t)x)
                                : isfinite(x)     ? json_real(x)
                                                  : json_null());
        }
    return o;
}

static json_t *epoch_json(const ns_epoch_report *r)
{
    json_t *o =
        json_pack("{s:i, s:I, s:f, s:f, s:o}", "epoch", r->epoch + 1, "step", (json_int_t)r->step,
                  "lr", r->lr, "seconds", r->seconds, "train", metrics_json(&r->train));
    if (o != NULL && r->has_val)
        json_object_set_new(o, "val", metrics_json(&r->val));
    return o;
}

static json_t *record_json(const ns_run_record *r)
{
    json_error_t err;
    json_t *settings = r->settings_json ? json_loads(r->settings_json, 0, &err) : NULL;
    json_t *spec = r->spec_json ? json_loads(r->spec_json, 0, &err) : NULL;
    json_t *seeds = json_array();
    for (int i = 0; seeds && i < r->n_seeds; i++) {
        const ns_run_seed *s = &r->seeds[i];
        json_t *h = json_array();
        for (int e = 0; h && e < s->epochs_run; e++)
            json_array_append_new(h, epoch_json(&s->history[e]));
        json_t *o = json_pack("{s:I, s:s?, s:s?, s:i, s:s, s:b, s:f, s:o, s:o}", "seed",
                              (json_int_t)s->seed, "dir", s->dir, "model", s->model_path,
                              "epochs_run", s->epochs_run, "stop_reason",
                              ns_stop_reason_name(s->stop_reason), "resumed", s->resumed, "seconds",
                              s->seconds, "history", h, "train", metrics_json(&s->train));
        if (o != NULL && s->has_val)
            json_object_set_new(o, "val", metrics_json(&s->val));
        if (o != NULL && s->has_test)
            json_object_set_new(o, "test", metrics_json(&s->test));
        json_array_append_new(seeds, o);
    }
    char hash[24];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r->data_hash);
    json_t *o = json_pack(
        "{s:s?, s:o*, s:o*, s:{s:s?, s:s?, s:s, s:I, s:I, s:I, s:I, s:b, s:s, s:i}, s:o, "
        "s:{s:s, s:s?, s:i, s:s, s:f}, s:s, s:s?}",
        "run_dir", r->run_dir, "settings", settings, "model", spec, "data", "source", r->data,
        "name", r->data_name, "hash", hash, "rows", (json_int_t)r->rows, "train_rows",
        (json_int_t)r->train_rows, "val_rows", (json_int_t)r->val_rows, "test_rows",
        (json_int_t)r->test_rows, "official_test", r->official_test, "task",
        r->task == NS_TASK_CLASSIFICATION ? "classification" : "regression", "classes", r->classes,
        "seeds", seeds, "provenance", "netsmith", r->version, "kernels", r->kernels, "threads",
        r->threads, "started", r->started, "seconds", r->seconds, "status",
        r->status == NS_OK              ? "succeeded"
        : r->status == NS_ERR_CANCELLED ? "cancelled"
                                        : "failed",
        "error", r->error);
    if (o != NULL && r->transfer_json != NULL)
        json_object_set_new(o, "transfer", json_loads(r->transfer_json, 0, &err));
    if (o != NULL && r->n_seeds > 1 && r->n_seeds == r->seeds_planned && r->status == NS_OK &&
        r->seeds[r->n_seeds - 1].model_path != NULL) {
        json_t *sum = json_object();
        ns_task task = r->mean.is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
        for (int id = 0; id < NS_METRIC_COUNT; id++)
            if (id != NS_METRIC_N && ns_metric_applies((ns_metric_id)id, task))
                json_object_set_new(sum, ns_metric_name((ns_metric_id)id),
                                    json_pack("{s:f, s:f}", "mean",
                                              ns_metric_value(&r->mean, (ns_metric_id)id), "std",
                                              ns_metric_value(&r->std, (ns_metric_id)id)));
        json_object_set_new(o, "summary",
                            json_pack("{s:s, s:i, s:o}", "part",
                                      r->summary_of_test ? "test" : "val", "seeds", r->n_seeds,
                                      "metrics", sum));
    }
    return o;
}

ns_status ns_run_record_to_json(ns_ctx *ctx, const ns_run_record *r, char **json)
{
    json_t *o = record_json(r);
    char *text =
        o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    *json = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return *json ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
}

static ns_status write_record(ns_ctx *ctx, const ns_run_record *r)
{
    if (r->run_dir == NULL)
        return NS_OK;
    json_t *o = record_json(r);
    char path[4200];
    snprintf(path, sizeof path, "%s/record.json", r->run_dir);
    ns_status st = o ? ns_write_json(ctx, path, o,
                                     JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17))
                     : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    if (st == NS_OK && r->n_seeds > 1 && json_object_get(o, "summary") != NULL) {
        snprintf(path, sizeof path, "%s/summary.json", r->run_dir);
        st = ns_write_json(ctx, path, json_object_get(o, "summary"),
                           JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    }
    json_decref(o);
    return st;
}

/* ---- metrics.csv -------------------------------------------------------------------------- */

/* Rewritten whole (atomically) from the trainer's history after an epoch, at most once a
 * CSV_EVERY seconds (and at the end), so it holds every epoch once, also after a resume. */
#define CSV_EVERY 1.0

typedef struct seed_run {
    ns_ctx *ctx;
    const ns_run_record *rec;
    const char *dir;
    const ns_run_hooks *hooks;
    int seed_index, seeds;
    uint64_t seed;
    char csv_path[4200];
    double csv_written;
    ns_status csv_status;
    char csv_error[NS__ERRMSG_CAP];
    bool cls;
    bool started; /* its record was begun: settings.json and metrics.csv are there */
} seed_run;

static ns_status csv_write(seed_run *s, const ns_epoch_report *h, int n)
{
    size_t cap = 256 + (size_t)n * 400, len = 0;
    char *text = ns_alloc(s->ctx, cap);
    if (text == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "%s: out of memory", s->csv_path);
    len += (size_t)snprintf(
        text, cap, "epoch,step,lr,seconds,loss,n,%s,val_loss,val_%s,val_%s,val_r2\n",
        s->cls ? "accuracy" : "rmse", s->cls ? "accuracy" : "rmse", s->cls ? "f1_macro" : "mae");
    for (int i = 0; i < n && len < cap; i++) {
        const ns_epoch_report *r = &h[i];
        len += (size_t)ns__snprintf_c(text + len, cap - len, "%d,%lld,%.9g,%.9g,%.9g,%lld,%.9g",
                                      r->epoch + 1, (long long)r->step, r->lr, r->seconds,
                                      r->train.loss, (long long)r->train.n,
                                      s->cls ? r->train.accuracy : r->train.rmse);
        if (len >= cap)
            break;
        if (r->has_val)
            len += (size_t)ns__snprintf_c(text + len, cap - len, ",%.9g,%.9g,%.9g,%.9g\n",
                                          r->val.loss, s->cls ? r->val.accuracy : r->val.rmse,
                                          s->cls ? r->val.f1_macro : r->val.mae,
                                          s->cls ? (double)NAN : r->val.r2);
        else
            len += (size_t)snprintf(text + len, cap - len, ",,,,\n");
    }
    ns_status st = len < cap
                       ? ns_write_file(s->ctx, s->csv_path, text, len)
                       : ns_errorf(s->ctx, NS_ERR_IO, "%s: a row too long to write", s->csv_path);
    ns_dealloc(s->ctx, text);
    return st;
}

static bool seed_epoch(void *ud, ns_trainer *t, const ns_epoch_report *r)
{
    seed_run *s = ud;
    double now = mono();
    bool last = ns_trainer_get_state(t)->stopped || r->epoch + 1 == r->epochs;
    if (!last && now - s->csv_written < CSV_EVERY)
        return true;
    int n = ns_trainer_history_count(t);
    s->csv_status = csv_write(s, n > 0 ? ns_trainer_history(t, 0) : NULL, n);
    s->csv_written = now;
    if (s->csv_status != NS_OK) {
        snprintf(s->csv_error, sizeof s->csv_error, "%s", ns_errmsg(s->ctx));
        return false; /* a record that cannot be written stops the run */
    }
    return true;
}

static ns_status write_settings(ns_ctx *ctx, const char *dir, const char *used, uint64_t seed,
                                const ns_run_record *rec);

/* The record starts whole or not at all: settings.json, then metrics.csv with its header (a
 * run that cannot write them does not train). */
static ns_status seed_start(void *ud, const char *settings_json)
{
    seed_run *s = ud;
    ns_status st = write_settings(s->ctx, s->dir, settings_json, s->seed, s->rec);
    if (st == NS_OK)
        st = csv_write(s, NULL, 0);
    if (st == NS_OK)
        s->started = true;
    s->csv_written = mono();
    return st;
}

static void seed_event(void *ud, const ns_run_event *ev)
{
    seed_run *s = ud;
    if (s->hooks == NULL || s->hooks->on_event == NULL)
        return;
    ns_run_event e = *ev;
    e.seed_index = s->seed_index;
    e.seeds = s->seeds;
    e.seed = s->seed;
    s->hooks->on_event(s->hooks->ud, &e);
}

static void emit(const ns_run_hooks *hooks, ns_run_event *ev)
{
    if (hooks != NULL && hooks->on_event != NULL)
        hooks->on_event(hooks->ud, ev);
}

/* ---- the pieces of a run --------------------------------------------------------------- */

/* The blueprint: a spec file, a model file (its weights are the start), a named blueprint, or
 * a spec inline. */
static ns_status load_model(ns_ctx *ctx, const ns_run_config *cfg, ns_spec **spec, ns_model **start,
                            ns_model_info *start_info)
{
    const json_t *m = ns__run_config_get(cfg, "model");
    if (m == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "model: missing; give a spec file (.json), a model file "
                         "(.safetensors), a named blueprint (mlp) or a spec mapping");
    if (json_is_object(m)) {
        char *text = json_dumps(m, JSON_COMPACT);
        ns_status st = text ? ns_spec_parse(ctx, text, strlen(text), "model", spec)
                            : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        free(text);
        return st;
    }
    const char *name = json_string_value(m);
    size_t n = strlen(name);
    struct stat sb;
    if (n > 12 && strcmp(name + n - 12, ".safetensors") == 0)
        return ns_fit_load(ctx, name, 0, start, start_info);
    if (stat(name, &sb) == 0 || strchr(name, '/') != NULL ||
        (n > 5 && strcmp(name + n - 5, ".json") == 0))
        return ns_spec_load(ctx, name, spec);
    if (strcmp(name, "mlp") != 0 && strcmp(name, "deep_neural_network") != 0)
        return ns_errorf(ctx, NS_ERR_NOTFOUND,
                         "model: '%s' is not a file and not a named blueprint; the named "
                         "blueprint is mlp (model_config: {nodes: 64, layers: 2, activation: "
                         "relu, dropout: 0})",
                         name);
    /* mlp with model_config {nodes, layers, activation, dropout}: a short-form spec */
    const json_t *mc = ns__run_config_get(cfg, "model_config");
    long long nodes = 64, layers = 2;
    double dropout = 0;
    const char *act = "relu";
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)mc, key, v)
    {
        bool ok;
        if (strcmp(key, "nodes") == 0 && (ok = json_is_integer(v) && json_integer_value(v) >= 1 &&
                                               json_integer_value(v) <= 1 << 20))
            nodes = json_integer_value(v);
        else if (strcmp(key, "layers") == 0 &&
                 (ok = json_is_integer(v) && json_integer_value(v) >= 0 &&
                       json_integer_value(v) <= 64))
            layers = json_integer_value(v);
        else if (strcmp(key, "dropout") == 0 && (ok = json_is_number(v)))
            dropout = json_number_value(v);
        else if (strcmp(key, "activation") == 0 && (ok = json_is_string(v)))
            act = json_string_value(v);
        else if (strcmp(key, "nodes") != 0 && strcmp(key, "layers") != 0 &&
                 strcmp(key, "dropout") != 0 && strcmp(key, "activation") != 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "model_config: unknown key '%s'; mlp takes nodes, layers, "
                             "activation and dropout",
                             key);
        else
            ok = false;
        if (!ok)
            return ns_errorf(ctx, NS_ERR_INVALID, "model_config: %s must be %s", key,
                             strcmp(key, "nodes") == 0     ? "a whole number from 1 to 1048576"
                             : strcmp(key, "layers") == 0  ? "a whole number from 0 to 64"
                             : strcmp(key, "dropout") == 0 ? "a number"
                                                           : "an activation name");
    }
    json_t *hidden = json_array();
    for (long long i = 0; i < layers; i++)
        json_array_append_new(hidden, json_integer(nodes));
    json_t *sj = json_pack("{ss so ss sf}", "model_type", "deep_neural_network", "hidden_layers",
                           hidden, "activation", act, "dropout", dropout);
    char *text = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
    json_decref(sj);
    ns_status st = text ? ns_spec_parse(ctx, text, strlen(text), "model (mlp)", spec)
                        : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(text);
    return st;
}

ns_status ns_run_config_data_options(const ns_run_config *cfg, ns_data_options *o)
{
    ns_ctx *ctx = ns_run_config_ctx(cfg);
    ns_data_options_default(o);
    if (!ns_run_config_has(cfg, "data"))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "data: missing; give a built-in dataset name, a CSV file or an IDX "
                         "images file");
    static const char *const names[] = {"target",  "features",   "exclude",   "labels",
                                        "task",    "one_hot",    "delimiter", "no_header",
                                        "missing", "max_classes"};
    o->source = ns_run_config_string(cfg, "data");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!ns_run_config_has(cfg, names[i]))
            continue;
        const ns_setting_def *d = ns_run_setting_find(names[i]);
        char text[32];
        const char *v = text;
        if (d->type == NS_SETTING_BOOL)
            v = ns_run_config_bool(cfg, names[i]) ? "true" : "false";
        else if (d->type == NS_SETTING_INT)
            snprintf(text, sizeof text, "%lld", (long long)ns_run_config_int(cfg, names[i]));
        else
            v = ns_run_config_string(cfg, names[i]);
        ns_status st = ns_data_options_set(ctx, o, names[i], v);
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

/* The data with its read options. bp_task: the blueprint's task (used when the config's is
 * auto); model (may be NULL): a model file trained on from, whose columns, categories and
 * targets the data is read by. */
static ns_status load_data(ns_ctx *ctx, const ns_run_config *cfg, ns_task bp_task,
                           const ns_model_info *model, const ns_progress *progress,
                           ns_dataset **data, ns_dataset **test)
{
    *data = *test = NULL;
    ns_data_options o;
    ns_status st = ns_run_config_data_options(cfg, &o);
    if (st != NS_OK)
        return st;
    if (o.task == NS_TASK_AUTO && model == NULL)
        o.task = bp_task;
    if (model != NULL)
        return ns_data_open_for_model(ctx, &o, model, true, progress, data, test);
    return ns_data_open(ctx, &o, progress, data, test);
}

/* The split ratios: two or three, each >= 0, summing to 1. */
static ns_status read_split(ns_ctx *ctx, const ns_run_config *cfg, double split[3])
{
    double v[3] = {0, 0, 0};
    int n = ns_run_config_list(cfg, "split", v, 3);
    if (n < 2 || n > 3)
        return ns_errorf(ctx, NS_ERR_INVALID, "split: give [train, val] or [train, val, test]");
    double sum = v[0] + v[1] + v[2];
    if (fabs(sum - 1.0) > 1e-6)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "split: the ratios %g, %g, %g sum to %g, not 1; give ratios that sum "
                         "to 1, like 0.7,0.15,0.15",
                         v[0], v[1], v[2], sum);
    if (!(v[0] > 0))
        return ns_errorf(ctx, NS_ERR_INVALID, "split: the training ratio must be above 0");
    memcpy(split, v, sizeof v);
    return NS_OK;
}

/* A new run directory runs/<time>-<data> (with -2, -3, ... when taken), or the one given (made
 * when missing; whether it holds another run's record is checked under its lock). */
static ns_status claim_run_dir(ns_ctx *ctx, const ns_run_config *cfg, const char *data_name,
                               char **out)
{
    *out = NULL;
    if (ns_run_config_has(cfg, "run_dir")) {
        const char *dir = ns_run_config_string(cfg, "run_dir");
        ns_status st = ns_make_dirs(ctx, dir);
        if (st != NS_OK)
            return st;
        *out = ns_strdup(ctx, dir);
        return *out ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32], buf[512];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    ns_status st = ns_make_dirs(ctx, "runs");
    if (st != NS_OK)
        return st;
    for (int k = 1; k <= 100; k++) {
        int n = k == 1 ? snprintf(buf, sizeof buf, "runs/%s-%s", stamp, data_name)
                       : snprintf(buf, sizeof buf, "runs/%s-%s-%d", stamp, data_name, k);
        if (n < 0 || (size_t)n >= sizeof buf)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "run_dir: the name for '%s' is too long; give run_dir", data_name);
        for (char *p = buf + 5; *p; p++)
            if (*p == '/' || *p == ' ')
                *p = '_';
        if (mkdir(buf, 0777) == 0) {
            *out = ns_strdup(ctx, buf);
            return *out ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        }
        if (errno != EEXIST)
            return ns_errorf(ctx, NS_ERR_IO,
                             "cannot create the run directory %s: %s; give "
                             "run_dir",
                             buf, strerror(errno));
    }
    return ns_errorf(ctx, NS_ERR_STATE,
                     "runs/%s-%s and 99 more run directories exist already; give run_dir", stamp,
                     data_name);
}

/* The metrics of ds into *out, and (a classifier's) its confusion matrix into sr, replacing
 * the one of the part evaluated before. */
static ns_status evaluate_part(ns_model *m, const ns_model_info *info, const ns_dataset *ds,
                               const ns_progress *progress, ns_metric_values *out, ns_run_seed *sr)
{
    ns_ctx *ctx = ns_model_ctx(m);
    ns_metrics *acc = NULL;
    ns_status st = ns_metrics_new(ctx, info->task, ns_model_output_size(m), &acc);
    if (st == NS_OK)
        st = ns_fit_evaluate(m, info, ds, 0, acc, progress);
    if (st == NS_OK)
        st = ns_metrics_compute(acc, out);
    int classes = 0;
    const int64_t *conf = st == NS_OK ? ns_metrics_confusion(acc, &classes) : NULL;
    if (conf != NULL && classes > 0) {
        size_t n = (size_t)classes * (size_t)classes;
        int64_t *copy = ns_alloc(ctx, n * sizeof *copy);
        if (copy == NULL) {
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        } else {
            memcpy(copy, conf, n * sizeof *copy);
            ns_dealloc(ctx, sr->confusion);
            sr->confusion = copy;
            sr->classes = classes;
        }
    }
    ns_metrics_free(acc);
    return st;
}

/* settings.json: every setting as used, and the run's provenance. */
static ns_status write_settings(ns_ctx *ctx, const char *dir, const char *used, uint64_t seed,
                                const ns_run_record *rec)
{
    json_error_t err;
    json_t *o = json_loads(used, 0, &err);
    if (o == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    json_object_set_new(o, "seed", json_integer((json_int_t)seed));
    json_object_set_new(o, "threads", json_integer(rec->threads));
    json_object_set_new(o, "netsmith", json_string(rec->version));
    json_object_set_new(o, "kernels", json_string(rec->kernels ? rec->kernels : ""));
    char path[4200];
    snprintf(path, sizeof path, "%s/settings.json", dir);
    ns_status st =
        ns_write_json(ctx, path, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return st;
}

/* ---- the run ------------------------------------------------------------------------------ */

/* A text setting from a C string (any bytes: quotes, backslashes). */
static ns_status set_string(ns_run_config *cfg, const char *name, const char *value)
{
    ns_ctx *ctx = ns_run_config_ctx(cfg);
    json_t *v = json_string(value);
    char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    ns_status st = text ? ns_run_config_set(cfg, name, text, "run")
                        : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(text);
    return st;
}

static void set_values(ns_metric_values *v, const double *x)
{
#define NS__METRIC_SET(id, field, higher, scope) v->field = x[NS_METRIC_##id];
    NS_METRIC_MAP(NS__METRIC_SET)
#undef NS__METRIC_SET
}

static void summarise(ns_run_record *r)
{
    int n = r->n_seeds;
    r->summary_of_test = n > 0 && r->seeds[0].has_test;
    memset(&r->mean, 0, sizeof r->mean);
    memset(&r->std, 0, sizeof r->std);
    if (n == 0)
        return;
    const ns_metric_values *first = r->summary_of_test ? &r->seeds[0].test : &r->seeds[0].val;
    r->mean.is_classification = r->std.is_classification = first->is_classification;
    ns_task task = first->is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    double mean[NS_METRIC_COUNT], sd[NS_METRIC_COUNT];
    for (int id = 0; id < NS_METRIC_COUNT; id++) {
        mean[id] = sd[id] = 0;
        if (!ns_metric_applies((ns_metric_id)id, task) && id != NS_METRIC_N)
            continue;
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            double x = ns_metric_value(r->summary_of_test ? &r->seeds[i].test : &r->seeds[i].val,
                                       (ns_metric_id)id);
            sum += x;
            sq += x * x;
        }
        mean[id] = sum / n;
        sd[id] = n > 1 ? sqrt(fmax(0, (sq - n * mean[id] * mean[id]) / (n - 1))) : 0;
    }
    set_values(&r->mean, mean);
    set_values(&r->std, sd);
}

ns_status ns_run(ns_ctx *ctx, const ns_run_config *cfg, const ns_run_hooks *hooks,
                 ns_run_record **record)
{
    if (record != NULL)
        *record = NULL;
    double t0 = mono();
    ns_run_record *rec = ns_calloc(ctx, 1, sizeof *rec);
    if (rec == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    rec->ctx = ctx;
    snprintf(rec->version, sizeof rec->version, "%s", ns_version());
    rec->kernels = ns_strdup(ctx, ns_kernel_path());
    if (rec->kernels == NULL) {
        ns_dealloc(ctx, rec);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(rec->started, sizeof rec->started, "%Y-%m-%dT%H:%M:%SZ", &tm);

    ns_spec *spec = NULL;
    ns_model *start = NULL;
    ns_model_info start_info;
    memset(&start_info, 0, sizeof start_info);
    ns_dataset *data = NULL, *official = NULL;
    ns_dir_lock *lock = NULL;
    ns_run_config *seed_cfg = NULL;
    double split[3] = {0, 0, 0};
    double seeds[NS_RUN_MAX_SEEDS];
    int n_seeds = ns_run_config_list(cfg, "seeds", seeds, NS_RUN_MAX_SEEDS);
    if (n_seeds < 1) {
        n_seeds = 1;
        seeds[0] = (double)ns_run_config_int(cfg, "seed");
    }
    rec->seeds_planned = n_seeds;
    ns_status st = ns_run_config_check(cfg);
    if (st == NS_OK)
        st = read_split(ctx, cfg, split);
    /* the config's thread count is the context's for the run */
    if (st == NS_OK && ns_run_config_has(cfg, "threads"))
        st = ns_ctx_set_threads(ctx, (int)ns_run_config_int(cfg, "threads"));
    rec->threads = ns_ctx_threads(ctx);
    if (st == NS_OK)
        st = load_model(ctx, cfg, &spec, &start, &start_info);
    if (st == NS_OK) {
        const ns_spec *b = spec ? spec : ns_model_spec(start);
        /* a new head is for other targets: the data is read for itself */
        bool by_model = start != NULL && !ns_run_config_bool(cfg, "new_head");
        st = load_data(ctx, cfg, ns_spec_training(b)->task, by_model ? &start_info : NULL,
                       hooks ? hooks->progress : NULL, &data, &official);
    }
    if (st == NS_OK)
        st = (rec->seeds = ns_calloc(ctx, (size_t)n_seeds, sizeof *rec->seeds))
                 ? NS_OK
                 : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    if (st == NS_OK)
        st = claim_run_dir(ctx, cfg, ns_dataset_name(data), &rec->run_dir);
    /* The run directory is this run's until it ends (every seed's record is in it). */
    if (st == NS_OK)
        st = ns_dir_lock_open(ctx, rec->run_dir, "run",
                              "wait for it to finish, or use another run_dir", &lock);
    /* A run directory given again is refused unless the run resumes: its record is another
     * run's. */
    if (st == NS_OK && ns_run_config_has(cfg, "run_dir") && !ns_run_config_bool(cfg, "resume")) {
        char probe[2][4200];
        struct stat sb;
        snprintf(probe[0], sizeof probe[0], "%s/settings.json", rec->run_dir);
        snprintf(probe[1], sizeof probe[1], "%s/record.json", rec->run_dir);
        if (stat(probe[0], &sb) == 0 || stat(probe[1], &sb) == 0)
            st = ns_errorf(ctx, NS_ERR_STATE,
                           "run_dir: %s holds the record of another run; choose another "
                           "run_dir, remove it, or set resume to continue that run",
                           rec->run_dir);
    }
    const ns_spec *bp = spec ? spec : start ? ns_model_spec(start) : NULL;
    if (st == NS_OK) {
        rec->data = ns_strdup(ctx, ns_run_config_string(cfg, "data"));
        rec->data_name = ns_strdup(ctx, ns_dataset_name(data));
        if (rec->data == NULL || rec->data_name == NULL)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        rec->data_hash = ns_dataset_hash(data);
        rec->rows = ns_dataset_rows(data);
        rec->official_test = official != NULL;
        rec->task = ns_dataset_task(data);
        rec->classes = ns_dataset_class_count(data);
        if (st == NS_OK)
            st = ns_spec_to_json(bp, &rec->spec_json);
    }
    if (st == NS_OK) {
        ns_run_event ev = {.kind = NS_RUN_STARTED,
                           .seeds = n_seeds,
                           .path = rec->run_dir,
                           .rows = rec->rows,
                           .test_rows = official ? ns_dataset_rows(official) : 0};
        emit(hooks, &ev);
    }

    bool started = false;
    for (int i = 0; st == NS_OK && i < n_seeds; i++) {
        double ts = mono();
        uint64_t seed = (uint64_t)seeds[i];
        ns_run_seed *sr = &rec->seeds[i];
        rec->n_seeds = i + 1;
        sr->seed = seed;
        ns_dataset *tr = NULL, *va = NULL, *te = NULL;
        ns_fit_result res;
        memset(&res, 0, sizeof res);
        ns_model_info info;
        memset(&info, 0, sizeof info);
        /* an official test set is the test part: the other ratios are shared out as given */
        ns_split_options so;
        ns_split_options_default(&so);
        so.train = official ? split[0] / (split[0] + split[1]) : split[0];
        so.val = official ? split[1] / (split[0] + split[1]) : split[1];
        so.test = official ? 0 : split[2];
        so.seed = seed;
        so.exact_sum = true;
        st = ns_data_split(data, &so, &tr, so.val > 0 ? &va : NULL, so.test > 0 ? &te : NULL);
        const ns_dataset *test = official ? official : te;
        sr->dir =
            st == NS_OK
                ? (n_seeds > 1 ? dupf(ctx, "%s/seed-%llu", rec->run_dir, (unsigned long long)seed)
                               : ns_strdup(ctx, rec->run_dir))
                : NULL;
        if (st == NS_OK && sr->dir == NULL)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        if (st == NS_OK)
            st = ns_make_dirs(ctx, sr->dir);
        /* This seed's settings: its seed, and checkpoints of its own. */
        char *ckpt = NULL, *stop_dir = NULL;
        if (st == NS_OK)
            st = ns_run_config_copy(cfg, &seed_cfg);
        if (st == NS_OK) {
            char text[32];
            snprintf(text, sizeof text, "%llu", (unsigned long long)seed);
            st = ns_run_config_set(seed_cfg, "seed", text, "seeds");
        }
        const char *cdir = ns_run_config_has(cfg, "checkpoint_dir")
                               ? ns_run_config_string(cfg, "checkpoint_dir")
                               : NULL;
        if (st == NS_OK && cdir != NULL && n_seeds > 1) {
            ckpt = dupf(ctx, "%s/seed-%llu", cdir, (unsigned long long)seed);
            st = ckpt ? set_string(seed_cfg, "checkpoint_dir", ckpt)
                      : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        }
        /* Without checkpoints, a cancelled run still leaves one to resume from. */
        if (st == NS_OK && cdir == NULL) {
            stop_dir = n_seeds > 1 ? dupf(ctx, "%s/checkpoints/seed-%llu", rec->run_dir,
                                          (unsigned long long)seed)
                                   : dupf(ctx, "%s/checkpoints", rec->run_dir);
            if (stop_dir == NULL)
                st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        }
        /* A model file started from keeps its normalisation unless another is asked for. */
        if (st == NS_OK && start != NULL && start_info.norm.kind != NS_NORM_NONE &&
            !ns_run_config_has(cfg, "normalize")) {
            char kind[32];
            snprintf(kind, sizeof kind, "\"%s\"", ns_norm_kind_name(start_info.norm.kind));
            st = ns_run_config_set(seed_cfg, "normalize", kind, "model");
        }
        seed_run run = {.ctx = ctx,
                        .rec = rec,
                        .dir = sr->dir,
                        .hooks = hooks,
                        .seed_index = i,
                        .seeds = n_seeds,
                        .seed = seed,
                        .cls = ns_dataset_task(data) == NS_TASK_CLASSIFICATION};
        if (st == NS_OK) {
            snprintf(run.csv_path, sizeof run.csv_path, "%s/metrics.csv", sr->dir);
            rec->train_rows = ns_dataset_rows(tr);
            rec->val_rows = va ? ns_dataset_rows(va) : 0;
            rec->test_rows = test ? ns_dataset_rows(test) : 0;
            ns_run_event ev = {.kind = NS_RUN_SEED_STARTED,
                               .seed_index = i,
                               .seeds = n_seeds,
                               .seed = seed,
                               .path = sr->dir,
                               .train_rows = rec->train_rows,
                               .val_rows = rec->val_rows,
                               .test_rows = rec->test_rows};
            emit(hooks, &ev);
            /* ... and, unless refit_normalization, its fitted statistics too: the weights were
             * trained on inputs normalised by them */
            ns_dataset *trn = NULL, *van = NULL;
            bool keep = start != NULL && start_info.norm.kind != NS_NORM_NONE &&
                        !ns_run_config_has(cfg, "normalize") &&
                        !ns_run_config_bool(cfg, "refit_normalization");
            if (keep) {
                st = ns_data_normalize(tr, &start_info.norm, &trn);
                if (st == NS_OK && va != NULL)
                    st = ns_data_normalize(va, &start_info.norm, &van);
            }
            ns_fit_input in = {
                .spec = spec, .model = start, .train = trn ? trn : tr, .val = van ? van : va};
            ns_train_callbacks cb = {NULL, seed_epoch, &run};
            ns_run_hooks sh = {seed_event, &run, hooks ? hooks->progress : NULL};
            ns__fit_more more = {stop_dir, seed_start, &run};
            if (st == NS_OK)
                st = ns__fit(ctx, seed_cfg, &in, &cb, &sh, &more, &res);
            ns_dataset_free(trn);
            ns_dataset_free(van);
            if (st == NS_OK && run.csv_status != NS_OK)
                st = ns_errorf(ctx, run.csv_status,
                               "%s; the run stopped after epoch %d and wrote no model",
                               run.csv_error, res.epochs_run);
        }
        if (res.model != NULL) {
            ns_status hs = NS_OK;
            sr->epochs_run = res.epochs_run;
            sr->stop_reason = res.stop_reason;
            sr->resumed = res.resumed;
            sr->resumed_epoch = res.resumed_epoch;
            sr->resumed_batch = res.resumed_batch;
            sr->history = ns_calloc(ctx, (size_t)(res.epochs_run > 0 ? res.epochs_run : 1),
                                    sizeof *sr->history);
            if (sr->history != NULL) {
                memcpy(sr->history, res.history, (size_t)res.epochs_run * sizeof *sr->history);
            } else {
                sr->epochs_run = 0;
                if (st == NS_OK)
                    st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
            }
            if (rec->transfer_json == NULL && res.transfer_json != NULL &&
                (rec->transfer_json = ns_strdup(ctx, res.transfer_json)) == NULL && st == NS_OK)
                st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
            if (rec->settings_json == NULL &&
                (rec->settings_json = ns_strdup(ctx, res.settings_json)) == NULL && st == NS_OK)
                st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
            /* the record holds every epoch run so far, also when the run stops here */
            if (run.csv_status == NS_OK) {
                char msg[NS__ERRMSG_CAP];
                snprintf(msg, sizeof msg, "%s", ns_errmsg(ctx));
                hs = csv_write(&run, res.history, res.epochs_run);
                if (st != NS_OK)
                    ns_errorf(ctx, st, "%s", msg);
            }
            if (st == NS_OK && hs != NS_OK)
                st = hs;
        }
        if (st == NS_OK)
            st = ns_model_info_from(ctx, &res, tr, &info);
        if (st == NS_OK)
            st =
                evaluate_part(res.model, &info, tr, hooks ? hooks->progress : NULL, &sr->train, sr);
        if (st == NS_OK && va != NULL)
            st = evaluate_part(res.model, &info, va, hooks ? hooks->progress : NULL, &sr->val, sr);
        if (st == NS_OK && test != NULL)
            st = evaluate_part(res.model, &info, test, hooks ? hooks->progress : NULL, &sr->test,
                               sr);
        sr->has_val = va != NULL;
        sr->has_test = test != NULL;
        if (st == NS_OK) {
            sr->model_path = ns_run_config_has(cfg, "output") && n_seeds == 1
                                 ? ns_strdup(ctx, ns_run_config_string(cfg, "output"))
                                 : dupf(ctx, "%s/model.safetensors", sr->dir);
            st = sr->model_path ? ns_fit_save(res.model, &info, sr->model_path)
                                : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        }
        if (st == NS_OK) {
            ns_run_event ev = {.kind = NS_RUN_SAVED, .path = sr->model_path};
            seed_event(&run, &ev);
        }
        sr->seconds = mono() - ts;
        if (st == NS_OK) {
            ns_run_event ev = {.kind = NS_RUN_SEED_FINISHED, .result = sr};
            seed_event(&run, &ev);
        }
        /* A cancelled run says where it stopped and how to go on. */
        if (st == NS_ERR_CANCELLED && res.model != NULL) {
            const char *where = cdir ? ns_run_config_string(seed_cfg, "checkpoint_dir") : stop_dir;
            ns_dealloc(ctx, rec->resume_dir);
            rec->resume_dir = cdir          ? ns_strdup(ctx, cdir)
                              : n_seeds > 1 ? dupf(ctx, "%s/checkpoints", rec->run_dir)
                                            : ns_strdup(ctx, stop_dir);
            const ns_epoch_report *last =
                res.epochs_run > 0 ? &res.history[res.epochs_run - 1] : NULL;
            ns_errorf(ctx, NS_ERR_CANCELLED,
                      "stopped after %d whole epoch%s; the checkpoint in %s holds where it "
                      "stopped: run again with the same settings, checkpoint_dir %s%s and "
                      "resume to go on",
                      last ? last->epoch + 1 : 0, last && last->epoch == 0 ? "" : "s", where,
                      cdir          ? cdir
                      : n_seeds > 1 ? rec->run_dir
                                    : stop_dir,
                      cdir || n_seeds == 1 ? "" : "/checkpoints");
        }
        ns_model_info_deinit(ctx, &info);
        ns_fit_result_free(ctx, &res);
        ns_run_config_free(seed_cfg);
        seed_cfg = NULL;
        ns_dealloc(ctx, ckpt);
        ns_dealloc(ctx, stop_dir);
        ns_dataset_free(tr);
        ns_dataset_free(va);
        ns_dataset_free(te);
        if (st == NS_OK)
            summarise(rec);
        /* a run that never began its record (bad settings, a busy directory) leaves none */
        started = started || run.started;
        if (rec->run_dir != NULL && started) {
            char msg[NS__ERRMSG_CAP];
            snprintf(msg, sizeof msg, "%s", ns_errmsg(ctx));
            rec->status = st;
            if (st != NS_OK && rec->error == NULL)
                rec->error = ns_strdup(ctx, msg);
            ns_status ws = write_record(ctx, rec);
            if (st == NS_OK)
                st = ws;
            else
                ns_errorf(ctx, st, "%s", msg);
        }
    }
    rec->seconds = mono() - t0;
    rec->status = st;
    if (rec->run_dir != NULL && st == NS_OK && started)
        st = write_record(ctx, rec); /* with the whole run's time */
    rec->status = st;
    char msg[NS__ERRMSG_CAP];
    snprintf(msg, sizeof msg, "%s", ns_errmsg(ctx));
    if (st != NS_OK && rec->error == NULL)
        rec->error = ns_strdup(ctx, msg);
    ns_run_event ev = {.kind = st == NS_OK ? NS_RUN_FINISHED : NS_RUN_FAILED,
                       .seeds = n_seeds,
                       .path = rec->run_dir,
                       .message = st == NS_OK ? NULL : msg};
    emit(hooks, &ev);
    if (st != NS_OK)
        ns_errorf(ctx, st, "%s", msg);
    ns_dir_lock_close(lock);
    ns_dataset_free(data);
    ns_dataset_free(official);
    ns_model_info_deinit(ctx, &start_info);
    ns_model_free(start);
    ns_spec_free(spec);
    if (record != NULL)
        *record = rec;
    else
        ns_run_record_free(rec);
    return st;
}
