/* A study in memory: its definition and trials; asking the sampler for a trial's settings,
 * recording what trials report, and asking the pruner about them. The store loads a study's
 * trials into one of these to decide (the tuner, a trial's worker), so every face decides
 * the same way. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json_read.h"
#include "tune/tune_internal.h"

static const char *const state_names[] = {
#define NS__TRIAL_STATE_NAME(E, n) #n,
    NS_TRIAL_STATE_MAP(NS__TRIAL_STATE_NAME)
#undef NS__TRIAL_STATE_NAME
};

const char *ns_trial_state_name(ns_trial_state state)
{
    return (unsigned)state < NS_TRIAL_STATE_COUNT ? state_names[state] : NULL;
}

ns_status ns_trial_state_parse(const char *name, ns_trial_state *out)
{
    for (int i = 0; i < NS_TRIAL_STATE_COUNT; i++)
        if (name != NULL && strcmp(name, state_names[i]) == 0) {
            *out = (ns_trial_state)i;
            return NS_OK;
        }
    return NS_ERR_NOTFOUND;
}

/* ---- copying a definition ---------------------------------------------------------------- */

static ns_status def_copy(ns_ctx *ctx, const ns_study_def *src, ns_study_def **out)
{
    ns_study_def *d = ns_alloc(ctx, sizeof *d);
    if (d == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    *d = *src;
    d->ctx = ctx;
    d->name = ns_strdup(ctx, src->name);
    d->base_json = ns_strdup(ctx, src->base_json);
    d->space.p = ns_alloc(ctx, sizeof *d->space.p * (size_t)(src->space.n > 0 ? src->space.n : 1));
    d->space.n = 0;
    bool ok = d->name != NULL && d->base_json != NULL && d->space.p != NULL;
    for (int i = 0; ok && i < src->space.n; i++) {
        ns__param *p = &d->space.p[i];
        *p = src->space.p[i];
        p->choices = NULL;
        if (p->n_choices > 0) {
            p->choices = ns_alloc(ctx, sizeof *p->choices * (size_t)p->n_choices);
            ok = p->choices != NULL;
            for (int c = 0; ok && c < p->n_choices; c++)
                p->choices[c] = json_incref(src->space.p[i].choices[c]);
            if (!ok)
                p->n_choices = 0;
        }
        d->space.n++;
    }
    if (!ok) {
        ns_study_def_free(d);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    *out = d;
    return NS_OK;
}

/* ---- the study -------------------------------------------------------------------------- */

ns_status ns_study_new(ns_ctx *ctx, const ns_study_def *def, ns_study **out)
{
    *out = NULL;
    ns_study *s = ns_alloc(ctx, sizeof *s);
    if (s == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    ns_status st = def_copy(ctx, def, &s->def);
    if (st != NS_OK) {
        ns_dealloc(ctx, s);
        return st;
    }
    *out = s;
    return NS_OK;
}

void ns_study_free(ns_study *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++) {
        ns_dealloc(s->ctx, s->trials[i].x);
        ns_dealloc(s->ctx, s->trials[i].steps);
    }
    ns_dealloc(s->ctx, s->trials);
    ns_study_def_free(s->def);
    ns_dealloc(s->ctx, s);
}

const ns_study_def *ns_study_get_def(const ns_study *s)
{
    return s->def;
}
int ns_study_size(const ns_study *s)
{
    return s->n;
}

int ns_study_capacity(const ns_study *s)
{
    if (s->def->sampler.type != NS__SAMPLER_GRID)
        return INT_MAX;
    int n = ns__grid_size(s);
    return n >= 0 ? n : INT_MAX; /* out of memory: the sampler itself says so when asked */
}

/* A new trial slot (number s->n) holding x (taken over). */
static ns_status push_trial(ns_study *s, double *x, ns_trial_state state, double value)
{
    if (s->n == s->cap) {
        int cap = s->cap > 0 ? s->cap * 2 : 64;
        ns__trial *t = ns_realloc(s->ctx, s->trials, sizeof *t * (size_t)cap);
        if (t == NULL) {
            ns_dealloc(s->ctx, x);
            return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
        }
        s->trials = t;
        s->cap = cap;
    }
    ns__trial *t = &s->trials[s->n];
    memset(t, 0, sizeof *t);
    t->number = s->n;
    t->state = state;
    t->x = x;
    t->value = state == NS_TRIAL_COMPLETE ? value : (double)NAN;
    s->n++;
    return NS_OK;
}

static double *new_x(ns_study *s)
{
    int n = s->def->space.n;
    double *x = ns_alloc(s->ctx, sizeof *x * (size_t)(n > 0 ? n : 1));
    for (int i = 0; x != NULL && i < n; i++)
        x[i] = (double)NAN;
    return x;
}

/* The settings of x as {name: value} (active ones). */
static json_t *params_of(const ns__space *sp, const double *x)
{
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < sp->n; i++) {
        const ns__param *p = &sp->p[i];
        if (isnan(x[i]))
            continue;
        json_t *v;
        if (p->kind == NS__P_CHOICE)
            v = json_incref(p->choices[(int)x[i]]);
        else if (p->kind == NS__P_INT || p->kind == NS__P_INT_LOG)
            v = json_integer((json_int_t)x[i]);
        else
            v = json_real(x[i]);
        json_object_set_new(o, p->name, v);
    }
    return o;
}

static char *dump(ns_ctx *ctx, json_t *v)
{
    char *t = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    char *out = t != NULL ? ns_strdup(ctx, t) : NULL;
    free(t);
    return out;
}

ns_status ns_study_ask(ns_study *s, int *number, char **params_json)
{
    if (params_json != NULL)
        *params_json = NULL;
    double *x = new_x(s);
    if (x == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    ns_status st;
    switch (s->def->sampler.type) {
    case NS__SAMPLER_RANDOM:
        st = ns__sample_random(s, s->n, x);
        break;
    case NS__SAMPLER_GRID:
        st = ns__sample_grid(s, s->n, x);
        break;
    default:
        st = ns__sample_tpe(s, s->n, x);
        break;
    }
    if (st != NS_OK) {
        ns_dealloc(s->ctx, x);
        return st;
    }
    char *text = NULL;
    if (params_json != NULL) {
        json_t *p = params_of(&s->def->space, x);
        text = dump(s->ctx, p);
        json_decref(p);
        if (text == NULL) {
            ns_dealloc(s->ctx, x);
            return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
        }
    }
    int n = s->n;
    st = push_trial(s, x, NS_TRIAL_RUNNING, (double)NAN);
    if (st != NS_OK) {
        ns_dealloc(s->ctx, text);
        return st;
    }
    if (number != NULL)
        *number = n;
    if (params_json != NULL)
        *params_json = text;
    return NS_OK;
}

/* x from a trial's settings {name: value}. */
static ns_status read_params(ns_study *s, const char *params_json, double *x)
{
    const ns__space *sp = &s->def->space;
    const ns__json_reader r = {s->ctx, "trial settings", NS_ERR_INVALID, NULL};
    json_t *o = NULL;
    ns_status st = ns__jr_load(&r, params_json, strlen(params_json), &o);
    if (st != NS_OK)
        return st;
    if (!json_is_object(o)) {
        json_decref(o);
        return ns_errorf(s->ctx, NS_ERR_INVALID, "trial settings: must be a JSON object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int i = 0;
        while (i < sp->n && strcmp(sp->p[i].name, key) != 0)
            i++;
        if (i == sp->n) {
            st = ns_errorf(s->ctx, NS_ERR_INVALID,
                           "trial settings: %.64s is not a setting of study %s's space", key,
                           s->def->name);
            break;
        }
        const ns__param *p = &sp->p[i];
        if (p->kind == NS__P_CHOICE) {
            int found = -1;
            for (int c = 0; c < p->n_choices && found < 0; c++)
                if (json_equal(v, p->choices[c]))
                    found = c;
            if (found < 0) {
                st = ns_errorf(s->ctx, NS_ERR_INVALID,
                               "trial settings: %s's value is not one of its choices", key);
                break;
            }
            x[i] = found;
        } else if (json_is_number(v) && isfinite(json_number_value(v))) {
            x[i] = json_number_value(v);
        } else {
            st = ns_errorf(s->ctx, NS_ERR_INVALID, "trial settings: %s must be a number", key);
            break;
        }
    }
    json_decref(o);
    return st;
}

ns_status ns_study_add(ns_study *s, const char *params_json, ns_trial_state state, double value,
                       const double *steps, int n_steps)
{
    if ((unsigned)state >= NS_TRIAL_STATE_COUNT)
        return ns_errorf(s->ctx, NS_ERR_INVALID, "trial state %d is not a state", (int)state);
    if (state == NS_TRIAL_COMPLETE && !isfinite(value))
        return ns_errorf(s->ctx, NS_ERR_INVALID, "a complete trial needs a finite value, got %g",
                         value);
    double *x = new_x(s);
    if (x == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    ns_status st = params_json != NULL ? read_params(s, params_json, x) : NS_OK;
    if (st != NS_OK) {
        ns_dealloc(s->ctx, x);
        return st;
    }
    int n = s->n;
    st = push_trial(s, x, state, value);
    for (int k = 0; st == NS_OK && k < n_steps; k++)
        if (!isnan(steps[k]))
            st = ns_study_report(s, n, k + 1, steps[k]);
    return st;
}

static ns__trial *trial_at(const ns_study *s, int number)
{
    return number >= 0 && number < s->n ? &s->trials[number] : NULL;
}

ns_status ns_study_report(ns_study *s, int number, int64_t step, double value)
{
    ns__trial *t = trial_at(s, number);
    if (t == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOTFOUND, "study %s has no trial %d", s->def->name, number);
    if (step < 1 || step > 10000000)
        return ns_errorf(s->ctx, NS_ERR_INVALID, "step %lld is outside [1, 10000000]",
                         (long long)step);
    if (step > t->cap_steps) {
        int cap = t->cap_steps > 0 ? t->cap_steps : 16;
        while (cap < step)
            cap *= 2;
        double *v = ns_realloc(s->ctx, t->steps, sizeof *v * (size_t)cap);
        if (v == NULL)
            return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
        for (int k = t->cap_steps; k < cap; k++)
            v[k] = (double)NAN;
        t->steps = v;
        t->cap_steps = cap;
    }
    t->steps[step - 1] = value;
    if (step > t->n_steps)
        t->n_steps = (int)step;
    return NS_OK;
}

ns_status ns_study_tell(ns_study *s, int number, ns_trial_state state, double value)
{
    ns__trial *t = trial_at(s, number);
    if (t == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOTFOUND, "study %s has no trial %d", s->def->name, number);
    if ((unsigned)state >= NS_TRIAL_STATE_COUNT)
        return ns_errorf(s->ctx, NS_ERR_INVALID, "trial state %d is not a state", (int)state);
    if (state == NS_TRIAL_COMPLETE && !isfinite(value))
        return ns_errorf(s->ctx, NS_ERR_INVALID,
                         "trial %d: a complete trial needs a finite value, got %g", number, value);
    t->state = state;
    t->value = state == NS_TRIAL_COMPLETE ? value : (double)NAN;
    return NS_OK;
}

ns_prune_decision ns_study_judge(const ns_study *s, int number, int64_t step)
{
    const ns__trial *t = trial_at(s, number);
    if (t == NULL || step < 1 || step > t->n_steps || t->state != NS_TRIAL_RUNNING)
        return NS_PRUNE_CONTINUE;
    return ns__prune(s, number, step);
}

int ns_study_promotable(const ns_study *s, int *out, int cap)
{
    return ns__promotable(s, out, cap);
}

ns_status ns_study_trial(const ns_study *s, int number, ns_trial_state *state, double *value,
                         int64_t *last_step)
{
    const ns__trial *t = trial_at(s, number);
    if (t == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOTFOUND, "study %s has no trial %d", s->def->name, number);
    if (state != NULL)
        *state = t->state;
    if (value != NULL)
        *value = t->value;
    if (last_step != NULL)
        *last_step = t->n_steps;
    return NS_OK;
}

int ns_study_best(const ns_study *s)
{
    int best = -1;
    double loss = (double)INFINITY;
    for (int i = 0; i < s->n; i++) {
        double l = ns__trial_loss(s, &s->trials[i]);
        if (l < loss) {
            loss = l;
            best = i;
        }
    }
    return best;
}

ns_status ns_study_trial_config(const ns_study *s, int number, char **config_json)
{
    *config_json = NULL;
    const ns__trial *t = trial_at(s, number);
    if (t == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOTFOUND, "study %s has no trial %d", s->def->name, number);
    json_error_t e;
    json_t *base = json_loads(s->def->base_json, 0, &e);
    json_t *params = params_of(&s->def->space, t->x);
    if (base == NULL || params == NULL) {
        json_decref(base);
        json_decref(params);
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    }
    ns_status st = NS_OK;
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v)
    {
        int i = 0;
        while (i < s->def->space.n && strcmp(s->def->space.p[i].name, key) != 0)
            i++;
        if (s->def->space.p[i].model_key) {
            json_t *model = json_object_get(base, "model");
            if (!json_is_object(model)) {
                st = ns_errorf(s->ctx, NS_ERR_INVALID,
                               "study %s: %s is a key of the short-form model spec, but the "
                               "base's model is not one",
                               s->def->name, key);
                break;
            }
            json_object_set(model, key, v);
        } else {
            json_object_set(base, key, v);
        }
    }
    if (st == NS_OK) {
        *config_json = dump(s->ctx, base);
        if (*config_json == NULL)
            st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    }
    json_decref(base);
    json_decref(params);
    return st;
}

ns_status ns_study_importance(const ns_study *s, char **json)
{
    *json = NULL;
    int n = s->def->space.n;
    double *imp = ns_alloc(s->ctx, sizeof *imp * (size_t)(n > 0 ? n : 1));
    int *order = ns_alloc(s->ctx, sizeof *order * (size_t)(n > 0 ? n : 1));
    if (imp == NULL || order == NULL) {
        ns_dealloc(s->ctx, imp);
        ns_dealloc(s->ctx, order);
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    }
    ns_status st = ns__importance_fanova(s, imp);
    int complete = 0;
    for (int i = 0; i < s->n; i++)
        complete += s->trials[i].state == NS_TRIAL_COMPLETE;
    /* largest first; ties in the space's order */
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && imp[order[k]] > imp[order[k - 1]]; k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    json_t *list = json_array();
    double sum = 0;
    for (int i = 0; st == NS_OK && i < n; i++)
        sum += imp[i];
    for (int i = 0; st == NS_OK && sum > 0 && i < n; i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:f}", "setting", s->def->space.p[order[i]].name,
                                        "importance", imp[order[i]]));
    json_t *o =
        json_pack("{s:s, s:i, s:o}", "method", "fanova", "trials", complete, "importances", list);
    if (st == NS_OK) {
        *json = dump(s->ctx, o);
        if (*json == NULL)
            st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory");
    }
    json_decref(o);
    ns_dealloc(s->ctx, imp);
    ns_dealloc(s->ctx, order);
    return st;
}
