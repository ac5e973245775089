/* The study file: its name, base run config, objective, budget, sampler, pruner and search
 * space, checked against the run config's settings so that a bad file is refused with its
 * file, line and key before any trial runs. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/json_read.h"
#include "format/yaml_doc.h"
#include "netsmith/format.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/run.h"
#include "tune/tune_internal.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct reader {
    ns_ctx *ctx;
    const char *source;
    const char *base_dir;
    ns__yaml_doc doc;
    ns_study_def *def;
} reader;

/* "FILE:LINE: PATH: what" */
__attribute__((format(printf, 5, 6))) static ns_status fail_at(const reader *r, const json_t *node,
                                                               const char *key, const char *path,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ns_status st =
        ns__yaml_vfail(r->ctx, NS_ERR_INVALID, &r->doc, r->source, node, key, path, fmt, ap);
    va_end(ap);
    return st;
}

static ns_status check_keys(const reader *r, const json_t *o, const char *path,
                            const char *const *known, int n)
{
    return ns__yaml_keys(r->ctx, NS_ERR_INVALID, &r->doc, r->source, o, path, known, n);
}

/* An integer member in [lo, hi], or dflt when absent. */
static ns_status int_member(const reader *r, const json_t *o, const char *key, const char *path,
                            int lo, int hi, int dflt, int *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return NS_OK;
    double x = json_is_number(v) ? json_number_value(v) : (double)NAN;
    if (!(x == floor(x)) || x < lo || x > hi) {
        char got[NS__JR_GOT_CAP];
        return fail_at(r, o, key, path, "%s must be a whole number in [%d, %d], got %s", key, lo,
                       hi, ns__jr_describe(got, sizeof got, v));
    }
    *out = (int)x;
    return NS_OK;
}

static ns_status real_member(const reader *r, const json_t *o, const char *key, const char *path,
                             double lo, double hi, double dflt, double *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return NS_OK;
    double x = json_is_number(v) ? json_number_value(v) : (double)NAN;
    if (!(x >= lo && x <= hi)) {
        char got[NS__JR_GOT_CAP];
        return fail_at(r, o, key, path, "%s must be a number in [%g, %g], got %s", key, lo, hi,
                       ns__jr_describe(got, sizeof got, v));
    }
    *out = x;
    return NS_OK;
}

static ns_status bool_member(const reader *r, const json_t *o, const char *key, const char *path,
                             bool dflt, bool *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return NS_OK;
    if (!json_is_boolean(v)) {
        char got[NS__JR_GOT_CAP];
        return fail_at(r, o, key, path, "%s must be true or false, got %s", key,
                       ns__jr_describe(got, sizeof got, v));
    }
    *out = json_is_true(v);
    return NS_OK;
}

/* A member naming one of names[n] (dflt when absent). */
static ns_status name_member(const reader *r, const json_t *o, const char *key, const char *path,
                             const char *const *names, int n, int dflt, int *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return NS_OK;
    int k = json_is_string(v) ? ns__jr_find(names, n, json_string_value(v)) : -1;
    if (k < 0) {
        char list[200], got[NS__JR_GOT_CAP], h[NS__JR_HINT_CAP];
        return fail_at(
            r, o, key, path, "%s must be one of %s, got %s%s", key,
            ns__jr_list(list, sizeof list, names, n), ns__jr_describe(got, sizeof got, v),
            json_is_string(v) ? ns__jr_hint(h, sizeof h, json_string_value(v), names, n) : "");
    }
    *out = k;
    return NS_OK;
}

/* ---- the base run config ------------------------------------------------------------------- */

/* path made absolute: against dir, and a relative dir against the current directory (a copy
 * on ctx), so that the definition reads the same from anywhere; NULL on NS_ERR_NOMEM. */
static char *resolve(ns_ctx *ctx, const char *dir, const char *path)
{
    if (path[0] == '/')
        return ns_strdup(ctx, path);
    char cwd[4096] = "";
    if ((dir == NULL || dir[0] != '/') && getcwd(cwd, sizeof cwd) == NULL)
        cwd[0] = '\0';
    size_t n = strlen(cwd) + (dir != NULL ? strlen(dir) : 0) + strlen(path) + 3;
    char *out = ns_alloc(ctx, n);
    if (out != NULL)
        snprintf(out, n, "%s%s%s%s%s", cwd, cwd[0] != '\0' ? "/" : "", dir != NULL ? dir : "",
                 dir != NULL && dir[0] != '\0' ? "/" : "", path);
    return out;
}

/* Whether a file exists at path. */
static bool is_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

/* The base's file names made absolute against dir, and a spec file read in as the model, so
 * the base stands alone (in the store, on a worker elsewhere). */
static ns_status base_inline(const reader *r, json_t *base, const char *dir, const char *where)
{
    static const char *const files[] = {"data", "labels"};
    for (int i = 0; i < COUNT_OF(files); i++) {
        json_t *v = json_object_get(base, files[i]);
        if (!json_is_string(v))
            continue;
        char *abs = resolve(r->ctx, dir, json_string_value(v));
        if (abs == NULL)
            return ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
        /* a built-in dataset's name names no file: it stays as it is */
        if (is_file(abs))
            json_object_set_new(base, files[i], json_string(abs));
        ns_dealloc(r->ctx, abs);
    }
    json_t *model = json_object_get(base, "model");
    if (!json_is_string(model))
        return NS_OK;
    const char *m = json_string_value(model);
    size_t len = strlen(m);
    char *abs = resolve(r->ctx, dir, m);
    if (abs == NULL)
        return ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
    ns_status st = NS_OK;
    if (len > 5 && strcmp(m + len - 5, ".json") == 0) {
        char *text = NULL;
        size_t n = 0;
        st = ns_read_file(r->ctx, abs, &text, &n);
        json_t *spec = NULL;
        if (st == NS_OK) {
            const ns__json_reader jr = {r->ctx, abs, NS_ERR_PARSE, NULL};
            st = ns__jr_load(&jr, text, n, &spec);
        }
        if (st == NS_OK && !json_is_object(spec))
            st = ns_errorf(r->ctx, NS_ERR_INVALID, "%s: %s: the spec must be a JSON object", where,
                           abs);
        if (st == NS_OK)
            json_object_set(base, "model", spec);
        json_decref(spec);
        ns_dealloc(r->ctx, text);
    } else if (is_file(abs)) {
        json_object_set_new(base, "model", json_string(abs));
    }
    ns_dealloc(r->ctx, abs);
    return st;
}

/* Settings a trial's runner owns: the search may not set them. */
static const char *const runner_owned[] = {"model",  "data",   "run_dir", "checkpoint_dir",
                                           "output", "resume", "seeds"};

static ns_status read_base(reader *r, json_t *root)
{
    json_t *b = json_object_get(root, "base");
    json_t *base = NULL;
    const char *dir = r->base_dir;
    char *base_dir = NULL;
    ns_status st = NS_OK;
    if (json_is_string(b)) {
        /* a run config file: read as `netsmith train --config` reads one */
        char *path = resolve(r->ctx, r->base_dir, json_string_value(b));
        char *text = NULL;
        size_t n = 0;
        st = path != NULL ? ns_read_file(r->ctx, path, &text, &n)
                          : ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
        char *js = NULL;
        if (st == NS_OK)
            st = ns_yaml_to_json(r->ctx, text, n, path, &js);
        if (st == NS_OK) {
            const ns__json_reader jr = {r->ctx, path, NS_ERR_PARSE, NULL};
            st = ns__jr_load_last_wins(&jr, js, strlen(js), &base);
        }
        if (st == NS_OK && !json_is_object(base))
            st = ns_errorf(r->ctx, NS_ERR_INVALID, "%s: a run config must be a mapping", path);
        if (st == NS_OK) {
            const char *slash = strrchr(path, '/');
            if (slash != NULL) {
                base_dir = ns_strdup(r->ctx, path);
                base_dir[slash - path] = '\0';
            } else {
                base_dir = ns_strdup(r->ctx, ".");
            }
            dir = base_dir;
        }
        ns_dealloc(r->ctx, js);
        ns_dealloc(r->ctx, text);
        ns_dealloc(r->ctx, path);
    } else if (json_is_object(b)) {
        base = json_deep_copy(b);
    } else {
        return fail_at(r, root, "base", "base",
                       "%s; give the run config every trial starts from, inline (model, data, "
                       "epochs, ...) or as a run config file's name",
                       b == NULL ? "missing" : "must be a mapping or a file name");
    }
    if (st == NS_OK)
        st = base_inline(r, base, dir, r->source);
    /* where a run writes is each trial's runner's: a run config's own run_dir, output and
     * checkpoints are not the trials' */
    static const char *const writes[] = {"run_dir", "output", "checkpoint_dir", "resume"};
    for (int i = 0; st == NS_OK && i < COUNT_OF(writes); i++)
        json_object_del(base, writes[i]);
    json_t *seeds = st == NS_OK ? json_object_get(base, "seeds") : NULL;
    if (seeds != NULL && !json_is_null(seeds))
        st = fail_at(r, root, "base", "base.seeds",
                     "a trial is one run of one seed; give base.seed instead (or search seed in "
                     "the space)");
    /* the base must be a run config a run accepts */
    ns_run_config *cfg = NULL;
    char *text = st == NS_OK ? json_dumps(base, JSON_COMPACT) : NULL;
    char where[300];
    snprintf(where, sizeof where, "%s:%d: base", r->source, ns__yaml_line(&r->doc, root, "base"));
    if (st == NS_OK)
        st = ns_run_config_new(r->ctx, &cfg);
    if (st == NS_OK)
        st = ns_run_config_merge(cfg, text, where);
    if (st == NS_OK)
        st = ns_run_config_check(cfg);
    if (st == NS_OK) {
        /* canonical names, so the space's keys and the base's meet */
        char *canon = NULL;
        st = ns_run_config_to_json(cfg, &canon);
        if (st == NS_OK)
            r->def->base_json = canon;
    }
    free(text);
    ns_run_config_free(cfg);
    json_decref(base);
    ns_dealloc(r->ctx, base_dir);
    return st;
}

/* ---- the objective, sampler and pruner ------------------------------------------------------ */

static ns_status read_objective(reader *r, json_t *root)
{
    ns_study_def *d = r->def;
    json_t *o = json_object_get(root, "objective");
    if (!json_is_object(o))
        return fail_at(r, root, "objective", "objective",
                       "%s; give {metric: val.rmse, direction: minimize} (any metric of the run: "
                       "train., val. or test. and loss, accuracy, f1_macro, rmse, mae, r2, ...)",
                       o == NULL ? "missing" : "must be a mapping");
    static const char *const keys[] = {"metric", "direction"};
    ns_status st = check_keys(r, o, "objective", keys, 2);
    if (st != NS_OK)
        return st;
    json_t *m = json_object_get(o, "metric");
    const char *text = json_string_value(m);
    const char *dot = text != NULL ? strchr(text, '.') : NULL;
    static const char *const parts[] = {"train", "val", "test"};
    int part = -1;
    if (dot != NULL && (size_t)(dot - text) < sizeof d->part) {
        char p[8];
        memcpy(p, text, (size_t)(dot - text));
        p[dot - text] = '\0';
        part = ns__jr_find(parts, 3, p);
    }
    ns_metric_id id;
    if (part < 0 || ns_metric_find(dot + 1, &id) != NS_OK || strlen(text) >= sizeof d->metric)
        return fail_at(r, o, "metric", "objective.metric",
                       "'%.60s' is not a metric of a run; write PART.METRIC with PART train, val "
                       "or test and METRIC loss, accuracy, precision_macro, recall_macro, "
                       "f1_macro, mse, rmse, mae or r2 (like val.rmse)",
                       text != NULL ? text : "(not a string)");
    snprintf(d->metric, sizeof d->metric, "%s", text);
    snprintf(d->part, sizeof d->part, "%s", parts[part]);
    snprintf(d->metric_name, sizeof d->metric_name, "%s", ns_metric_name(id));
    static const char *const dirs[] = {"minimize", "maximize"};
    int dir = ns_metric_higher_is_better(id) ? 1 : 0;
    st = name_member(r, o, "direction", "objective", dirs, 2, dir, &dir);
    d->maximize = dir == 1;
    return st;
}

static ns_status read_sampler(reader *r, json_t *root)
{
    ns__sampler_cfg *c = &r->def->sampler;
    *c = (ns__sampler_cfg){.type = NS__SAMPLER_TPE,
                           .startup_trials = 10,
                           .ei_candidates = 24,
                           .gamma = 0.1,
                           .gamma_max = 25,
                           .prior_weight = 1.0,
                           .points = 5};
    json_t *o = json_object_get(root, "sampler");
    if (o == NULL || json_is_null(o))
        return NS_OK;
    if (!json_is_object(o))
        return fail_at(r, root, "sampler", "sampler",
                       "must be a mapping like {type: tpe, seed: 0}");
    static const char *const types[] = {"tpe", "random", "grid"};
    int type = 0;
    ns_status st = name_member(r, o, "type", "sampler", types, 3, 0, &type);
    if (st != NS_OK)
        return st;
    c->type = (ns__sampler_type)type;
    static const char *const tpe_keys[] = {"type",          "seed",         "startup_trials",
                                           "ei_candidates", "gamma",        "gamma_max",
                                           "prior_weight",  "multivariate", "constant_liar"};
    static const char *const random_keys[] = {"type", "seed"};
    static const char *const grid_keys[] = {"type", "seed", "points"};
    st = type == 0   ? check_keys(r, o, "sampler", tpe_keys, COUNT_OF(tpe_keys))
         : type == 1 ? check_keys(r, o, "sampler", random_keys, COUNT_OF(random_keys))
                     : check_keys(r, o, "sampler", grid_keys, COUNT_OF(grid_keys));
    json_t *seed = json_object_get(o, "seed");
    if (st == NS_OK && seed != NULL && !json_is_null(seed)) {
        if (!json_is_integer(seed) || json_integer_value(seed) < 0)
            return fail_at(r, o, "seed", "sampler", "seed must be a whole number of at least 0");
        c->seed = (uint64_t)json_integer_value(seed);
    }
    int n;
    if (st == NS_OK &&
        (st = int_member(r, o, "startup_trials", "sampler", 0, 100000, 10, &n)) == NS_OK)
        c->startup_trials = n;
    if (st == NS_OK &&
        (st = int_member(r, o, "ei_candidates", "sampler", 1, 10000, 24, &n)) == NS_OK)
        c->ei_candidates = n;
    if (st == NS_OK && (st = int_member(r, o, "gamma_max", "sampler", 1, 100000, 25, &n)) == NS_OK)
        c->gamma_max = n;
    if (st == NS_OK && (st = int_member(r, o, "points", "sampler", 2, 1000, 5, &n)) == NS_OK)
        c->points = n;
    if (st == NS_OK)
        st = real_member(r, o, "gamma", "sampler", 1e-6, 1.0, 0.1, &c->gamma);
    if (st == NS_OK)
        st = real_member(r, o, "prior_weight", "sampler", 1e-9, 1e9, 1.0, &c->prior_weight);
    if (st == NS_OK)
        st = bool_member(r, o, "multivariate", "sampler", false, &c->multivariate);
    if (st == NS_OK)
        st = bool_member(r, o, "constant_liar", "sampler", false, &c->constant_liar);
    return st;
}

static ns_status read_pruner(reader *r, json_t *root)
{
    ns__pruner_cfg *c = &r->def->pruner;
    *c = (ns__pruner_cfg){.type = NS__PRUNER_NONE,
                          .startup_trials = 5,
                          .warmup_steps = 0,
                          .interval_steps = 1,
                          .min_epochs = 1,
                          .reduction_factor = 3};
    json_t *o = json_object_get(root, "pruner");
    ns_status st = NS_OK;
    if (o != NULL && !json_is_null(o) && !json_is_object(o))
        return fail_at(r, root, "pruner", "pruner",
                       "must be a mapping like {type: asha, min_epochs: 2, reduction_factor: 3}");
    if (json_is_object(o)) {
        static const char *const types[] = {"none", "median", "asha", "hyperband"};
        int type = 0;
        st = name_member(r, o, "type", "pruner", types, 4, 0, &type);
        if (st != NS_OK)
            return st;
        c->type = (ns__pruner_type)type;
        static const char *const none_keys[] = {"type"};
        static const char *const median_keys[] = {"type", "startup_trials", "warmup_steps",
                                                  "interval_steps"};
        static const char *const sha_keys[] = {"type", "min_epochs", "reduction_factor"};
        st = type == 0   ? check_keys(r, o, "pruner", none_keys, 1)
             : type == 1 ? check_keys(r, o, "pruner", median_keys, COUNT_OF(median_keys))
                         : check_keys(r, o, "pruner", sha_keys, COUNT_OF(sha_keys));
        if (st == NS_OK)
            st = int_member(r, o, "startup_trials", "pruner", 0, 100000, 5, &c->startup_trials);
        if (st == NS_OK)
            st = int_member(r, o, "warmup_steps", "pruner", 0, 10000000, 0, &c->warmup_steps);
        if (st == NS_OK)
            st = int_member(r, o, "interval_steps", "pruner", 1, 10000000, 1, &c->interval_steps);
        if (st == NS_OK)
            st = int_member(r, o, "min_epochs", "pruner", 1, 10000000, 1, &c->min_epochs);
        if (st == NS_OK)
            st = int_member(r, o, "reduction_factor", "pruner", 2, 1000, 3, &c->reduction_factor);
    }
    /* the largest budget: the base run's epochs */
    json_error_t e;
    json_t *base = st == NS_OK ? json_loads(r->def->base_json, 0, &e) : NULL;
    json_t *epochs = json_object_get(base, "epochs");
    c->max_epochs = json_is_integer(epochs) ? (int)json_integer_value(epochs) : 0;
    json_decref(base);
    if (st == NS_OK && (c->type == NS__PRUNER_ASHA || c->type == NS__PRUNER_HYPERBAND)) {
        if (c->max_epochs == 0)
            return fail_at(r, o, NULL, "pruner",
                           "%s needs the base run's epochs (base.epochs) as its largest budget",
                           c->type == NS__PRUNER_ASHA ? "asha" : "hyperband");
        if (c->min_epochs >= c->max_epochs)
            return fail_at(r, o, "min_epochs", "pruner",
                           "min_epochs %d must be below the base run's epochs (%d): a trial "
                           "would end before its first rung",
                           c->min_epochs, c->max_epochs);
    }
    return st;
}

/* ---- the space ----------------------------------------------------------------------------- */

/* The short-form spec's keys a space may search. */
static const char *const model_keys[] = {"hidden_layers", "activation", "dropout"};

static const char *const kinds[] = {"uniform", "log_uniform", "int", "int_log", "choice"};

/* The base's model as a short-form spec (a mapping with hidden_layers), or NULL. */
static json_t *short_model(const ns_study_def *d, json_t *base)
{
    (void)d;
    json_t *m = json_object_get(base, "model");
    return json_is_object(m) && json_object_get(m, "layers") == NULL ? m : NULL;
}

/* Checks a value of a model key by building the short-form spec with it. */
static ns_status check_model_value(const reader *r, json_t *model, const char *key, json_t *v,
                                   const json_t *node, const char *path)
{
    json_t *m = json_deep_copy(model);
    json_object_set(m, key, v);
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    ns_spec *spec = NULL;
    ns_status st = text != NULL ? ns_spec_parse(r->ctx, text, strlen(text), "spec", &spec)
                                : ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
    free(text);
    ns_spec_free(spec);
    if (st == NS_ERR_NOMEM || st == NS_OK)
        return st;
    char why[600];
    snprintf(why, sizeof why, "%s", ns_errmsg(r->ctx));
    return fail_at(r, node, NULL, path, "the model refuses it: %s", why);
}

/* Checks a value of a run setting on a scratch config. */
static ns_status check_setting_value(const reader *r, const char *name, json_t *v,
                                     const json_t *node, const char *path)
{
    ns_run_config *cfg = NULL;
    ns_status st = ns_run_config_new(r->ctx, &cfg);
    char *text = st == NS_OK ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (st == NS_OK)
        st = text != NULL ? ns_run_config_set(cfg, name, text, "space")
                          : ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
    free(text);
    ns_run_config_free(cfg);
    if (st == NS_OK || st == NS_ERR_NOMEM)
        return st;
    char why[600];
    /* the config's message is "space: NAME: what": keep the what */
    const char *m = ns_errmsg(r->ctx);
    const char *colon = strstr(m, ": ");
    snprintf(why, sizeof why, "%s", colon != NULL ? colon + 2 : m);
    return fail_at(r, node, NULL, path, "%s", why);
}

static ns_status read_param(reader *r, json_t *space, const char *key, json_t *spec, json_t *base,
                            ns__param *p)
{
    ns_study_def *d = r->def;
    char path[160];
    snprintf(path, sizeof path, "space.%.100s", key);
    memset(p, 0, sizeof *p);
    p->when_param = -1;
    /* the setting: a run setting (by any of its names) or a short-form model key */
    const ns_setting_def *set = NULL;
    if (ns__jr_find(model_keys, COUNT_OF(model_keys), key) >= 0) {
        p->model_key = true;
        snprintf(p->name, sizeof p->name, "%s", key);
        if (short_model(d, base) == NULL)
            return fail_at(r, space, key, path,
                           "%s is a key of the short-form model spec, but the base's model is "
                           "not one; give base.model as {hidden_layers: [...], activation: ..., "
                           "dropout: ...}",
                           key);
    } else {
        set = ns_run_setting_find(key);
        if (set == NULL) {
            int n = 0;
            const ns_setting_def *all = ns_run_settings(&n);
            const char *names[160];
            int k = 0;
            for (int i = 0; i < n && k < 157; i++)
                names[k++] = all[i].name;
            for (int i = 0; i < COUNT_OF(model_keys); i++)
                names[k++] = model_keys[i];
            char h[NS__JR_HINT_CAP], shown[NS__JR_SHOW_CAP];
            return fail_at(r, space, key, path,
                           "unknown setting '%s'%s; a space searches the run config's settings "
                           "(netsmith train --help) and the short-form model's hidden_layers, "
                           "activation and dropout",
                           ns__jr_show(shown, sizeof shown, key),
                           ns__jr_hint(h, sizeof h, key, names, k));
        }
        if (ns__jr_find(runner_owned, COUNT_OF(runner_owned), set->name) >= 0 ||
            ns_run_setting_is_data(set->name))
            return fail_at(r, space, key, path,
                           "%s cannot be searched: each trial's runner sets it (a trial is one "
                           "seed of one run of the base's model and data)",
                           set->name);
        if (strlen(set->name) >= sizeof p->name)
            return fail_at(r, space, key, path, "the name is too long");
        snprintf(p->name, sizeof p->name, "%s", set->name);
    }
    if (!json_is_object(spec))
        return fail_at(r, space, key, path,
                       "must be a mapping: {uniform: [lo, hi]}, {log_uniform: [lo, hi]}, {int: "
                       "[lo, hi]}, {int_log: [lo, hi]} or {choice: [a, b, ...]}, with an optional "
                       "when: {SETTING: value}");
    static const char *const keys[] = {"uniform", "log_uniform", "int",
                                       "int_log", "choice",      "when"};
    ns_status st = check_keys(r, spec, path, keys, COUNT_OF(keys));
    if (st != NS_OK)
        return st;
    int kind = -1, count = 0;
    for (int k = 0; k < COUNT_OF(kinds); k++)
        if (json_object_get(spec, kinds[k]) != NULL) {
            kind = k;
            count++;
        }
    if (count != 1)
        return fail_at(r, spec, NULL, path,
                       "give exactly one of uniform, log_uniform, int, int_log and choice%s",
                       count > 1 ? " (it has several)" : "");
    p->kind = (ns__param_kind)kind;
    json_t *v = json_object_get(spec, kinds[kind]);
    if (p->kind == NS__P_CHOICE) {
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 1000)
            return fail_at(r, spec, kinds[kind], path, "choice must list 1 to 1000 values");
        p->n_choices = (int)json_array_size(v);
        p->choices = ns_alloc(r->ctx, sizeof *p->choices * (size_t)p->n_choices);
        if (p->choices == NULL)
            return ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
        for (int i = 0; i < p->n_choices; i++)
            p->choices[i] = NULL;
        for (int i = 0; i < p->n_choices; i++) {
            json_t *c = json_array_get(v, (size_t)i);
            char cpath[200];
            snprintf(cpath, sizeof cpath, "%s.choice[%d]", path, i);
            for (int k = 0; k < i; k++)
                if (json_equal(c, p->choices[k]))
                    return fail_at(r, spec, kinds[kind], cpath, "repeats choice %d", k);
            st = p->model_key ? check_model_value(r, short_model(d, base), key, c, spec, cpath)
                              : check_setting_value(r, p->name, c, spec, cpath);
            if (st != NS_OK)
                return st;
            p->choices[i] = json_incref(c);
        }
    } else {
        bool is_int = p->kind == NS__P_INT || p->kind == NS__P_INT_LOG;
        bool is_log = p->kind == NS__P_LOG_UNIFORM || p->kind == NS__P_INT_LOG;
        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
            !json_is_number(json_array_get(v, 1)))
            return fail_at(r, spec, kinds[kind], path, "%s must be [low, high], two numbers",
                           kinds[kind]);
        p->low = json_number_value(json_array_get(v, 0));
        p->high = json_number_value(json_array_get(v, 1));
        if (!(p->low < p->high) || !isfinite(p->low) || !isfinite(p->high))
            return fail_at(r, spec, kinds[kind], path, "low %g must be below high %g", p->low,
                           p->high);
        if (is_int && (p->low != floor(p->low) || p->high != floor(p->high)))
            return fail_at(r, spec, kinds[kind], path,
                           "%s takes whole numbers [low, high], got [%g, %g]", kinds[kind], p->low,
                           p->high);
        if (is_log && !(p->low > 0))
            return fail_at(r, spec, kinds[kind], path,
                           "%s needs low above 0 (it is uniform in the logarithm), got %g",
                           kinds[kind], p->low);
        if (p->model_key) {
            if (strcmp(key, "dropout") != 0 || is_int)
                return fail_at(r, spec, kinds[kind], path,
                               "%s takes a choice of values: {choice: [...]}", key);
            if (p->low < 0 || p->high >= 1)
                return fail_at(r, spec, kinds[kind], path,
                               "[%g, %g] is outside dropout's own range [0, 1)", p->low, p->high);
        } else {
            if (set->type != NS_SETTING_INT && set->type != NS_SETTING_NUMBER)
                return fail_at(r, spec, kinds[kind], path,
                               "%s is not a number; search it with {choice: [...]}", set->name);
            if (set->type == NS_SETTING_INT && !is_int)
                return fail_at(r, spec, kinds[kind], path,
                               "%s is a whole number; search it with int or int_log", set->name);
            if (set->min < set->max && (p->low < set->min || p->high > set->max))
                return fail_at(r, spec, kinds[kind], path,
                               "[%g, %g] is outside %s's own range [%g, %g]", p->low, p->high,
                               set->name, set->min, set->max);
        }
    }
    return NS_OK;
}

/* A condition `when: {SETTING: value or [values]}` on a choice earlier in the space. */
static ns_status read_when(reader *r, const char *key, json_t *spec, int index)
{
    ns__space *sp = &r->def->space;
    ns__param *p = &sp->p[index];
    json_t *w = json_object_get(spec, "when");
    if (w == NULL)
        return NS_OK;
    char path[160];
    snprintf(path, sizeof path, "space.%.100s.when", key);
    if (!json_is_object(w) || json_object_size(w) != 1)
        return fail_at(r, spec, "when", path,
                       "must name one choice of the space and its value(s), like when: "
                       "{optimizer: sgd}");
    const char *on = json_object_iter_key(json_object_iter(w));
    json_t *vals = json_object_iter_value(json_object_iter(w));
    const ns_setting_def *set = ns_run_setting_find(on);
    const char *canon = set != NULL ? set->name : on;
    int parent = -1;
    for (int i = 0; i < index; i++)
        if (strcmp(sp->p[i].name, canon) == 0)
            parent = i;
    if (parent < 0 || sp->p[parent].kind != NS__P_CHOICE)
        return fail_at(r, spec, "when", path,
                       "%.60s is not a choice listed before %s in the space; a condition "
                       "depends on an earlier {choice: [...]}",
                       on, key);
    p->when_param = parent;
    json_t *list = json_is_array(vals) ? vals : NULL;
    size_t n = list != NULL ? json_array_size(list) : 1;
    if (n < 1 || n > NS__WHEN_MAX)
        return fail_at(r, spec, "when", path, "lists 1 to %d values", NS__WHEN_MAX);
    for (size_t k = 0; k < n; k++) {
        json_t *v = list != NULL ? json_array_get(list, k) : vals;
        int found = -1;
        for (int c = 0; c < sp->p[parent].n_choices && found < 0; c++)
            if (json_equal(v, sp->p[parent].choices[c]))
                found = c;
        if (found < 0) {
            char got[NS__JR_GOT_CAP];
            return fail_at(r, spec, "when", path, "%s is not one of %s's choices",
                           ns__jr_describe(got, sizeof got, v), canon);
        }
        p->when_idx[p->n_when++] = found;
    }
    return NS_OK;
}

static ns_status read_space(reader *r, json_t *root)
{
    json_t *space = json_object_get(root, "space");
    if (!json_is_object(space) || json_object_size(space) == 0)
        return fail_at(r, root, "space", "space",
                       "%s; give the settings to search, like learning_rate: {log_uniform: "
                       "[1e-4, 1e-1]}",
                       space == NULL ? "missing" : "must be a mapping of settings");
    if (json_object_size(space) > 64)
        return fail_at(r, root, "space", "space", "searches at most 64 settings");
    ns__space *sp = &r->def->space;
    sp->p = ns_alloc(r->ctx, sizeof *sp->p * json_object_size(space));
    if (sp->p == NULL)
        return ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
    json_error_t e;
    json_t *base = json_loads(r->def->base_json, 0, &e);
    const char *key;
    json_t *spec;
    ns_status st = NS_OK;
    json_object_foreach(space, key, spec)
    {
        ns__param *p = &sp->p[sp->n];
        st = read_param(r, space, key, spec, base, p);
        sp->n++; /* counted even when it failed, so that its choices are freed */
        if (st != NS_OK)
            break;
        for (int i = 0; i < sp->n - 1; i++)
            if (strcmp(sp->p[i].name, p->name) == 0) {
                st = fail_at(r, space, key, "space",
                             "%s is searched twice (as '%s' and '%s'); give it once", p->name, key,
                             sp->p[i].name);
                break;
            }
        if (st == NS_OK)
            st = read_when(r, key, spec, sp->n - 1);
        if (st != NS_OK)
            break;
    }
    json_decref(base);
    return st;
}

/* ---- the whole file -------------------------------------------------------------------------- */

void ns_study_def_free(ns_study_def *d)
{
    if (d == NULL)
        return;
    for (int i = 0; i < d->space.n; i++) {
        for (int c = 0; c < d->space.p[i].n_choices && d->space.p[i].choices != NULL; c++)
            json_decref(d->space.p[i].choices[c]);
        ns_dealloc(d->ctx, d->space.p[i].choices);
    }
    ns_dealloc(d->ctx, d->space.p);
    ns_dealloc(d->ctx, d->name);
    ns_dealloc(d->ctx, d->base_json);
    ns_dealloc(d->ctx, d);
}

static ns_status read_root(reader *r, json_t *root)
{
    if (!json_is_object(root))
        return fail_at(r, root, NULL, "study file",
                       "must be a mapping with study, base, objective, trials, sampler, pruner "
                       "and space");
    static const char *const keys[] = {"study",    "base",    "objective", "trials",
                                       "parallel", "sampler", "pruner",    "space"};
    ns_status st = check_keys(r, root, "study file", keys, COUNT_OF(keys));
    if (st != NS_OK)
        return st;
    const char *name = json_string_value(json_object_get(root, "study"));
    bool ok = name != NULL && name[0] != '\0' && strlen(name) <= 64;
    for (const char *c = name; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '-' || *c == '_' || *c == '.';
    if (!ok)
        return fail_at(r, root, "study", "study",
                       "%s; name the study with 1 to 64 letters, digits, '-', '_' or '.'",
                       name == NULL ? "missing or not a string" : "is not a valid name");
    r->def->name = ns_strdup(r->ctx, name);
    if (r->def->name == NULL)
        return ns_errorf(r->ctx, NS_ERR_NOMEM, "out of memory");
    st = int_member(r, root, "trials", "study file", 1, 100000, 20, &r->def->trials);
    if (st == NS_OK)
        st = int_member(r, root, "parallel", "study file", 1, 256, 1, &r->def->parallel);
    if (st == NS_OK)
        st = read_base(r, root);
    if (st == NS_OK)
        st = read_objective(r, root);
    if (st == NS_OK)
        st = read_sampler(r, root);
    if (st == NS_OK)
        st = read_pruner(r, root);
    if (st == NS_OK)
        st = read_space(r, root);
    return st;
}

ns_status ns_study_def_parse(ns_ctx *ctx, const char *text, size_t len, const char *source,
                             const char *base_dir, ns_study_def **out)
{
    *out = NULL;
    reader r = {.ctx = ctx, .source = source != NULL ? source : "study", .base_dir = base_dir};
    ns_status st = ns__yaml_load(ctx, text, len, r.source, &r.doc);
    if (st != NS_OK)
        return st;
    r.def = ns_alloc(ctx, sizeof *r.def);
    if (r.def == NULL) {
        ns__yaml_doc_free(ctx, &r.doc);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    memset(r.def, 0, sizeof *r.def);
    r.def->ctx = ctx;
    st = read_root(&r, r.doc.root);
    ns__yaml_doc_free(ctx, &r.doc);
    if (st != NS_OK) {
        ns_study_def_free(r.def);
        return st;
    }
    *out = r.def;
    return NS_OK;
}

ns_status ns_study_def_load(ns_ctx *ctx, const char *path, ns_study_def **out)
{
    *out = NULL;
    char *text = NULL;
    size_t n = 0;
    ns_status st = ns_read_file(ctx, path, &text, &n);
    if (st != NS_OK)
        return st;
    char *dir = ns_strdup(ctx, path);
    if (dir == NULL) {
        ns_dealloc(ctx, text);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    st = ns_study_def_parse(ctx, text, n, path, slash != NULL ? dir : ".", out);
    ns_dealloc(ctx, dir);
    ns_dealloc(ctx, text);
    return st;
}

/* ---- back to JSON ------------------------------------------------------------------------------
 */

/* Adds the members of add (a new reference) to o. */
static void update_new(json_t *o, json_t *add)
{
    json_object_update(o, add);
    json_decref(add);
}

static json_t *param_json(const ns__space *sp, const ns__param *p)
{
    json_t *o = json_object();
    if (p->kind == NS__P_CHOICE) {
        json_t *a = json_array();
        for (int i = 0; i < p->n_choices; i++)
            json_array_append(a, p->choices[i]);
        json_object_set_new(o, "choice", a);
    } else if (p->kind == NS__P_INT || p->kind == NS__P_INT_LOG) {
        json_object_set_new(o, kinds[p->kind],
                            json_pack("[II]", (json_int_t)p->low, (json_int_t)p->high));
    } else {
        json_object_set_new(o, kinds[p->kind], json_pack("[ff]", p->low, p->high));
    }
    if (p->when_param >= 0) {
        const ns__param *parent = &sp->p[p->when_param];
        json_t *vals = json_array();
        for (int k = 0; k < p->n_when; k++)
            json_array_append(vals, parent->choices[p->when_idx[k]]);
        json_object_set_new(o, "when", json_pack("{s:o}", parent->name, vals));
    }
    return o;
}

ns_status ns_study_def_to_json(const ns_study_def *d, char **json)
{
    static const char *const sampler_names[] = {"tpe", "random", "grid"};
    static const char *const pruner_names[] = {"none", "median", "asha", "hyperband"};
    *json = NULL;
    json_error_t e;
    json_t *base = json_loads(d->base_json, 0, &e);
    const ns__sampler_cfg *s = &d->sampler;
    const ns__pruner_cfg *p = &d->pruner;
    json_t *sampler =
        json_pack("{s:s, s:I}", "type", sampler_names[s->type], "seed", (json_int_t)s->seed);
    if (s->type == NS__SAMPLER_TPE)
        update_new(sampler,
                   json_pack("{s:i, s:i, s:f, s:i, s:f, s:b, s:b}", "startup_trials",
                             s->startup_trials, "ei_candidates", s->ei_candidates, "gamma",
                             s->gamma, "gamma_max", s->gamma_max, "prior_weight", s->prior_weight,
                             "multivariate", s->multivariate, "constant_liar", s->constant_liar));
    if (s->type == NS__SAMPLER_GRID)
        json_object_set_new(sampler, "points", json_integer(s->points));
    json_t *pruner = json_pack("{s:s}", "type", pruner_names[p->type]);
    if (p->type == NS__PRUNER_MEDIAN)
        update_new(pruner,
                   json_pack("{s:i, s:i, s:i}", "startup_trials", p->startup_trials, "warmup_steps",
                             p->warmup_steps, "interval_steps", p->interval_steps));
    if (p->type == NS__PRUNER_ASHA || p->type == NS__PRUNER_HYPERBAND)
        update_new(pruner, json_pack("{s:i, s:i}", "min_epochs", p->min_epochs, "reduction_factor",
                                     p->reduction_factor));
    json_t *space = json_object();
    for (int i = 0; i < d->space.n; i++)
        json_object_set_new(space, d->space.p[i].name, param_json(&d->space, &d->space.p[i]));
    json_t *root = json_pack("{s:s, s:o, s:{s:s, s:s}, s:i, s:i, s:o, s:o, s:o}", "study", d->name,
                             "base", base, "objective", "metric", d->metric, "direction",
                             d->maximize ? "maximize" : "minimize", "trials", d->trials, "parallel",
                             d->parallel, "sampler", sampler, "pruner", pruner, "space", space);
    char *text = root != NULL ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    *json = text != NULL ? ns_strdup(d->ctx, text) : NULL;
    free(text);
    return *json != NULL ? NS_OK : ns_errorf(d->ctx, NS_ERR_NOMEM, "out of memory");
}

const char *ns_study_def_name(const ns_study_def *d)
{
    return d->name;
}
ns_ctx *ns_study_def_ctx(const ns_study_def *d)
{
    return d->ctx;
}
const char *ns_study_def_base(const ns_study_def *d)
{
    return d->base_json;
}
int ns_study_def_trials(const ns_study_def *d)
{
    return d->trials;
}
int ns_study_def_parallel(const ns_study_def *d)
{
    return d->parallel;
}
const char *ns_study_def_metric(const ns_study_def *d)
{
    return d->metric;
}
bool ns_study_def_maximize(const ns_study_def *d)
{
    return d->maximize;
}
const char *ns_study_def_part(const ns_study_def *d)
{
    return d->part;
}
const char *ns_study_def_metric_name(const ns_study_def *d)
{
    return d->metric_name;
}

const char *ns_study_def_sampler(const ns_study_def *d)
{
    static const char *const names[] = {"tpe", "random", "grid"};
    return names[d->sampler.type];
}

const char *ns_study_def_pruner(const ns_study_def *d)
{
    static const char *const names[] = {"none", "median", "asha", "hyperband"};
    return names[d->pruner.type];
}

ns_status ns_study_def_set_trials(ns_study_def *d, int trials)
{
    if (trials < 1 || trials > 100000)
        return ns_errorf(d->ctx, NS_ERR_INVALID, "trials: %d is outside [1, 100000]", trials);
    d->trials = trials;
    return NS_OK;
}

ns_status ns_study_def_set_parallel(ns_study_def *d, int parallel)
{
    if (parallel < 1 || parallel > 256)
        return ns_errorf(d->ctx, NS_ERR_INVALID, "parallel: %d is outside [1, 256]", parallel);
    d->parallel = parallel;
    return NS_OK;
}
