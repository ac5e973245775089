/* Training state files: a model in mid-training (the model file plus gradients, forward count
 * and the last forward: its input and the activation arena) and an optimizer (settings as
 * doubles in F64 tensors, step count, moments), so a card in another process continues
 * exactly where the last one stopped. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json_read.h"
#include "io/io_internal.h"
#include "model/model_internal.h"

#define META_STATE "netsmith.state"
#define META_OPTIM "netsmith.optimizer"
#define META_VERSION "netsmith.version"
#define FORMAT_VERSION 1

#define T_GRADS "state.grads"
#define T_INPUT "state.input"
#define T_ARENA "state.arena"

/* What a defect of a state file's text asks for. */
#define DAMAGED "the file is damaged: save it again"

/* A reader of a state file: its metadata and tensors, in its messages. */
static ns__json_reader reader(ns_ctx *ctx, const char *path)
{
    return (ns__json_reader){ctx, path, NS_ERR_FORMAT, DAMAGED};
}

/* The JSON text of j on ctx (j is consumed); NULL when out of memory. */
static char *dump(ns_ctx *ctx, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char *copy = text != NULL ? ns_strdup(ctx, text) : NULL;
    free(text);
    return copy;
}

static ns_status check_version(const ns__json_reader *r, const char *path, json_t *o)
{
    int64_t v = 0;
    ns_status st = ns__jr_member_int64(r, path, o, "version", 0, INT_MAX, &v);
    if (st == NS_OK && v != FORMAT_VERSION)
        st = ns__jr_fail(r, path,
                         "format version %lld is not known to netsmith %s (it reads version %d); "
                         "use a newer netsmith",
                         (long long)v, NS_VERSION_STRING, FORMAT_VERSION);
    return st;
}

/* Parses the metadata entry at path ("__metadata__.netsmith.state"), which must be a JSON
 * object of this format version whose keys are all in keys[n]. The version comes first: a
 * newer file's keys are news, not damage. */
static ns_status parse_object(const ns__json_reader *r, const char *path, const char *text,
                              const char *const *keys, size_t n, json_t **out)
{
    ns_status st = ns__jr_load_entry(r, path, text, out);
    if (st == NS_OK && ((st = check_version(r, path, *out)) != NS_OK ||
                        (st = ns__jr_keys(r, path, *out, keys, (int)n)) != NS_OK)) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    buf[0] = '\0';
    for (int d = 0; d < ndim; d++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", d ? ", " : "",
                 (long long)shape[d]);
}

/* Finds tensor name and checks that it is dtype [shape]. */
static ns_status want(const ns__json_reader *r, const ns_st_file *f, const char *name,
                      ns_dtype dtype, int ndim, const int64_t *shape, const char *why,
                      const ns_st_tensor **out)
{
    const ns_st_tensor *t = ns_st_find(f, name);
    *out = t;
    char a[128], b[128];
    shape_text(b, sizeof b, ndim, shape);
    if (t == NULL)
        return ns__jr_fail(r, "", "tensor \"%s\" (%s [%s], %s) is missing; " DAMAGED, name,
                           ns_dtype_name(dtype), b, why);
    bool same = t->dtype == dtype && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (same)
        return NS_OK;
    shape_text(a, sizeof a, t->ndim, t->shape);
    return ns__jr_fail(r, "", "tensor \"%s\" is %s [%s] but %s needs %s [%s]; " DAMAGED, name,
                       ns_dtype_name(t->dtype), a, why, ns_dtype_name(dtype), b);
}

/* ---- models -------------------------------------------------------------------------------------
 */

static const char *const state_keys[] = {"version",     "max_batch",     "keep_input_grad",
                                         "output_size", "forward_count", "have_forward",
                                         "last_batch",  "last_training", "arena_bytes"};

ns_status ns_model_save_state(ns_model *m, const char *path)
{
    NS_ASSERT(m != NULL && path != NULL);
    ns_ctx *ctx = ns_model_ctx(m);
    uint64_t count = ns_model_forward_count(m);
    if (count > (uint64_t)INT64_MAX)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                         "%s: cannot save a forward count above 2^63 - 1 (%llu); reset it with "
                         "ns_model_set_forward_count",
                         path, (unsigned long long)count);
    const ns_build_opts *bo = ns_model_build_opts(m);
    ns__model_forward last;
    ns__model_last_forward(m, &last);
    bool fwd = last.have;
    int input_size = ns_model_input_size(m);
    size_t in_floats = fwd ? (size_t)last.batch * (size_t)input_size : 0;
    size_t arena = fwd ? last.arena_bytes : 0;
    json_t *j = json_pack("{si si sb si sI sb si sb sI}", "version", FORMAT_VERSION, "max_batch",
                          bo->max_batch, "keep_input_grad", (int)bo->keep_input_grad, "output_size",
                          bo->output_size, "forward_count", (json_int_t)count, "have_forward",
                          (int)fwd, "last_batch", fwd ? last.batch : 0, "last_training",
                          (int)(fwd && last.training), "arena_bytes", (json_int_t)arena);
    char *state = dump(ctx, j);
    if (state == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory saving the training state", path);
    ns_st_tensor ts[3];
    int n = 0;
    size_t np = ns_model_param_count(m);
    ts[n++] = (ns_st_tensor){.name = T_GRADS,
                             .dtype = NS_DTYPE_F32,
                             .ndim = 1,
                             .shape = {(int64_t)np},
                             .data = ns_model_grads(m),
                             .nbytes = np * sizeof(float)};
    if (fwd) {
        ts[n++] = (ns_st_tensor){.name = T_INPUT,
                                 .dtype = NS_DTYPE_F32,
                                 .ndim = 2,
                                 .shape = {last.batch, input_size},
                                 .data = last.x,
                                 .nbytes = in_floats * sizeof(float)};
        ts[n++] = (ns_st_tensor){.name = T_ARENA,
                                 .dtype = NS_DTYPE_U8,
                                 .ndim = 1,
                                 .shape = {(int64_t)arena},
                                 .data = last.arena,
                                 .nbytes = arena};
    }
    ns_st_meta meta[1] = {{META_STATE, state}};
    ns_status st = ns__model_write(m, path, ts, n, meta, 1);
    ns_dealloc(ctx, state);
    return st;
}

/* What "netsmith.state" says. */
typedef struct model_state {
    int max_batch;
    bool keep_input_grad;
    int output_size;
    uint64_t forward_count;
    bool have_forward;
    int last_batch;
    bool last_training;
    size_t arena_bytes;
} model_state;

static ns_status parse_state(const ns__json_reader *r, const char *text, model_state *s)
{
    static const char *const p = "__metadata__." META_STATE;
    json_t *o = NULL;
    ns_status st =
        parse_object(r, p, text, state_keys, sizeof state_keys / sizeof state_keys[0], &o);
    if (st != NS_OK)
        return st;
    int64_t v[5];
    if ((st = ns__jr_member_int64(r, p, o, "max_batch", 1, INT_MAX, &v[0])) == NS_OK &&
        (st = ns__jr_member_bool(r, p, o, "keep_input_grad", &s->keep_input_grad)) == NS_OK &&
        (st = ns__jr_member_int64(r, p, o, "output_size", 0, INT_MAX, &v[1])) == NS_OK &&
        (st = ns__jr_member_int64(r, p, o, "forward_count", 0, INT64_MAX, &v[2])) == NS_OK &&
        (st = ns__jr_member_bool(r, p, o, "have_forward", &s->have_forward)) == NS_OK &&
        (st = ns__jr_member_int64(r, p, o, "last_batch", s->have_forward ? 1 : 0,
                                  s->have_forward ? v[0] : 0, &v[3])) == NS_OK &&
        (st = ns__jr_member_bool(r, p, o, "last_training", &s->last_training)) == NS_OK &&
        (st = ns__jr_member_int64(r, p, o, "arena_bytes", 0, s->have_forward ? INT64_MAX : 0,
                                  &v[4])) == NS_OK) {
        s->max_batch = (int)v[0];
        s->output_size = (int)v[1];
        s->forward_count = (uint64_t)v[2];
        s->last_batch = (int)v[3];
        s->arena_bytes = (size_t)v[4];
        if (s->last_training && !s->have_forward)
            st = ns__jr_fail(
                r, p, "last_training is true without a forward (have_forward false); %s", r->fix);
    }
    json_decref(o);
    return st;
}

/* Restores gradients, forward count and the last forward into a freshly loaded model. */
static ns_status restore_state(const ns__json_reader *r, ns_model *m, const ns_st_file *f,
                               const model_state *s)
{
    int nf = ns_st_count(f);
    for (int i = 0; i < nf; i++) {
        const char *name = ns_st_get(f, i)->name;
        bool known =
            strcmp(name, T_GRADS) == 0 ||
            (s->have_forward && (strcmp(name, T_INPUT) == 0 || strcmp(name, T_ARENA) == 0));
        if (strncmp(name, "state.", 6) == 0 && !known)
            return ns__jr_fail(r, "", "unexpected tensor \"%s\" in a state file%s; " DAMAGED, name,
                               s->have_forward ? "" : " without a last forward");
    }
    int outputs = ns_model_output_size(m);
    if (s->output_size != 0 && s->output_size != outputs)
        return ns__jr_fail(r, "__metadata__." META_STATE,
                           "output_size is %d but the model has %d outputs; " DAMAGED,
                           s->output_size, outputs);
    ns__model_set_built_output(m, s->output_size);
    const ns_st_tensor *t;
    int64_t gshape[1] = {(int64_t)ns_model_param_count(m)};
    ns_status st = want(r, f, T_GRADS, NS_DTYPE_F32, 1, gshape, "the gradient block", &t);
    if (st != NS_OK)
        return st;
    if (t->nbytes > 0)
        memcpy(ns_model_grads(m), t->data, t->nbytes);
    ns_model_set_forward_count(m, s->forward_count);
    if (!s->have_forward)
        return NS_OK;
    const ns_st_tensor *x;
    int64_t xshape[2] = {s->last_batch, ns_model_input_size(m)};
    if ((st = want(r, f, T_INPUT, NS_DTYPE_F32, 2, xshape, "the last forward's input", &x)) !=
        NS_OK)
        return st;
    size_t arena = ns__model_arena_bytes(m);
    int64_t ashape[1] = {(int64_t)arena};
    if (s->arena_bytes != arena)
        return ns__jr_fail(r, "",
                           "the saved activation arena has %zu bytes but this model's has %zu: "
                           "the file was written by a netsmith whose activation layout differs; "
                           "run the forward pass again in this version",
                           s->arena_bytes, arena);
    if ((st = want(r, f, T_ARENA, NS_DTYPE_U8, 1, ashape, "the activation arena", &t)) != NS_OK)
        return st;
    st = ns__model_restore_forward(m, x->data, s->last_batch, s->last_training, t->data);
    if (st == NS_ERR_FORMAT)
        return ns__jr_fail(r, "", "the saved activation arena is damaged: %s; save the state again",
                           ns_errmsg(r->ctx));
    return st;
}

static ns_status load_state_open(ns_ctx *ctx, const ns_st_file *f, const char *path, ns_model **out)
{
    const char *text = ns_st_meta_find(f, META_STATE);
    if (text == NULL) /* a plain model file: no gradients, no forward yet */
        return ns__model_from_file(ctx, f, path, 0, out);
    const ns__json_reader r = reader(ctx, path);
    model_state s;
    memset(&s, 0, sizeof s);
    ns_status st = parse_state(&r, text, &s);
    if (st != NS_OK)
        return st;
    ns_model *m = NULL;
    st = ns__model_from_file(ctx, f, path, s.max_batch, &m);
    if (st != NS_OK)
        return st;
    if (s.keep_input_grad) {
        /* Keeping the input gradient changes the arena's plan, so build again with it. */
        ns_build_opts bo = *ns_model_build_opts(m);
        bo.keep_input_grad = true;
        ns_model *k = NULL;
        st = ns_model_build(ctx, ns_model_spec(m), &bo, &k);
        if (st == NS_OK)
            st = ns_model_copy_weights(k, m);
        ns_model_free(m);
        m = k;
    }
    if (st == NS_OK)
        st = restore_state(&r, m, f, &s);
    if (st != NS_OK) {
        ns_model_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

ns_status ns_model_load_state(ns_ctx *ctx, const char *path, ns_model **out)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL);
    *out = NULL;
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st == NS_OK)
        st = load_state_open(ctx, f, path, out);
    ns_st_close(f);
    return st;
}

/* ---- optimizers
 * ----------------------------------------------------------------------------------- */

/* The double settings, each an F64 scalar tensor "optim.<name>". */
#define N_REALS 8
static const char *const real_names[N_REALS] = {
    "optim.lr",    "optim.weight_decay", "optim.momentum", "optim.dampening",
    "optim.beta1", "optim.beta2",        "optim.eps",      "optim.alpha"};

static void config_reals(const ns_optim_config *c, double *r)
{
    double v[N_REALS] = {c->lr,    c->weight_decay, c->momentum, c->dampening,
                         c->beta1, c->beta2,        c->eps,      c->alpha};
    memcpy(r, v, sizeof v);
}

static void reals_config(const double *r, ns_optim_config *c)
{
    c->lr = r[0];
    c->weight_decay = r[1];
    c->momentum = r[2];
    c->dampening = r[3];
    c->beta1 = r[4];
    c->beta2 = r[5];
    c->eps = r[6];
    c->alpha = r[7];
}

static const char *const optim_keys[] = {"version",  "kind",       "nesterov",    "amsgrad",
                                         "centered", "step_count", "param_count", "moments"};

/* Longest moment name ("max_exp_avg_sq", "momentum_buffer") with the "optim." prefix. */
#define MOMENT_NAME_CAP 48
#define MAX_MOMENTS 8

ns_status ns_optim_save_state(const ns_optim *opt, const char *path)
{
    NS_ASSERT(opt != NULL && path != NULL);
    ns_ctx *ctx = ns_optim_ctx(opt);
    const ns_optim_config *c = ns_optim_get_config(opt);
    size_t np = ns_optim_param_count(opt);
    int nm = ns_optim_moment_count(opt);
    NS_ASSERT(nm <= MAX_MOMENTS);
    json_t *names = json_array();
    for (int k = 0; names != NULL && k < nm; k++)
        if (json_array_append_new(names, json_string(ns_optim_moment_name(opt, k))) != 0) {
            json_decref(names);
            names = NULL;
        }
    json_t *j = names == NULL
                    ? NULL
                    : json_pack("{si ss sb sb sb sI sI so}", "version", FORMAT_VERSION, "kind",
                                ns_optim_kind_name(c->kind), "nesterov", (int)c->nesterov,
                                "amsgrad", (int)c->amsgrad, "centered", (int)c->centered,
                                "step_count", (json_int_t)ns_optim_step_count(opt), "param_count",
                                (json_int_t)np, "moments", names);
    char *meta_text = dump(ctx, j);
    if (meta_text == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory saving the optimizer", path);
    double reals[N_REALS];
    config_reals(c, reals);
    ns_st_tensor ts[N_REALS + MAX_MOMENTS];
    char tnames[MAX_MOMENTS][MOMENT_NAME_CAP];
    int n = 0;
    for (int r = 0; r < N_REALS; r++)
        ts[n++] = (ns_st_tensor){.name = real_names[r],
                                 .dtype = NS_DTYPE_F64,
                                 .ndim = 0,
                                 .data = &reals[r],
                                 .nbytes = sizeof(double)};
    /* The moments are only read; ns_optim_moments takes a non-const handle. */
    const float *moments = ns_optim_moments((ns_optim *)(uintptr_t)opt);
    for (int k = 0; k < nm; k++) {
        snprintf(tnames[k], sizeof tnames[k], "optim.%s", ns_optim_moment_name(opt, k));
        ts[n++] = (ns_st_tensor){.name = tnames[k],
                                 .dtype = NS_DTYPE_F32,
                                 .ndim = 1,
                                 .shape = {(int64_t)np},
                                 .data = np > 0 ? moments + (size_t)k * np : NULL,
                                 .nbytes = np * sizeof(float)};
    }
    ns_st_meta meta[2] = {{META_VERSION, NS_VERSION_STRING}, {META_OPTIM, meta_text}};
    ns_status st = ns_st_write(ctx, path, ts, n, meta, 2);
    ns_dealloc(ctx, meta_text);
    return st;
}

/* What "netsmith.optimizer" says, and the config it and the F64 tensors make. */
typedef struct optim_state {
    ns_optim_config cfg;
    int64_t steps;
    int64_t param_count;
    json_t *moments; /* the names, borrowed from the parsed object */
} optim_state;

static ns_status parse_optim(const ns__json_reader *r, const ns_st_file *f, json_t *o,
                             optim_state *s)
{
    static const char *const p = "__metadata__." META_OPTIM;
    static const char *const want_kind = "sgd, adam, adamw or rmsprop";
    const char *kind = NULL;
    ns_status st;
    ns_optim_kind k;
    if ((st = ns__jr_member_string(r, p, o, "kind", want_kind, &kind)) != NS_OK)
        return st;
    if (ns_optim_kind_parse(kind, &k) != NS_OK)
        return ns__jr_member_fail(r, p, "kind", json_object_get(o, "kind"), want_kind);
    ns_optim_config_default(&s->cfg, k);
    if ((st = ns__jr_member_bool(r, p, o, "nesterov", &s->cfg.nesterov)) != NS_OK ||
        (st = ns__jr_member_bool(r, p, o, "amsgrad", &s->cfg.amsgrad)) != NS_OK ||
        (st = ns__jr_member_bool(r, p, o, "centered", &s->cfg.centered)) != NS_OK ||
        (st = ns__jr_member_int64(r, p, o, "step_count", 0, INT64_MAX, &s->steps)) != NS_OK ||
        (st = ns__jr_member_int64(r, p, o, "param_count", 0, INT64_MAX, &s->param_count)) != NS_OK)
        return st;
    s->moments = json_object_get(o, "moments");
    bool ok = json_is_array(s->moments) && json_array_size(s->moments) <= MAX_MOMENTS;
    for (size_t i = 0; ok && i < json_array_size(s->moments); i++)
        ok = json_is_string(json_array_get(s->moments, i));
    if (!ok) {
        char want_names[48];
        snprintf(want_names, sizeof want_names, "a list of at most %d names", MAX_MOMENTS);
        return ns__jr_member_fail(r, p, "moments", s->moments, want_names);
    }
    double reals[N_REALS];
    for (int i = 0; i < N_REALS; i++) {
        const ns_st_tensor *t;
        if ((st = want(r, f, real_names[i], NS_DTYPE_F64, 0, NULL, "the optimizer's setting",
                       &t)) != NS_OK)
            return st;
        memcpy(&reals[i], t->data, sizeof(double));
    }
    reals_config(reals, &s->cfg);
    return NS_OK;
}

/* Checks the file's moments against the new optimizer's layout and copies them in. */
static ns_status restore_moments(const ns__json_reader *r, const ns_st_file *f,
                                 const optim_state *s, ns_optim *opt)
{
    int nm = ns_optim_moment_count(opt);
    size_t np = ns_optim_param_count(opt);
    bool same = json_array_size(s->moments) == (size_t)nm;
    for (int k = 0; same && k < nm; k++)
        same = strcmp(json_string_value(json_array_get(s->moments, (size_t)k)),
                      ns_optim_moment_name(opt, k)) == 0;
    if (!same)
        return ns__jr_fail(r, "__metadata__." META_OPTIM,
                           "moments does not list the %d moment(s) a %s optimizer with these "
                           "settings keeps; " DAMAGED,
                           nm, ns_optim_kind_name(ns_optim_get_config(opt)->kind));
    /* Every tensor must be a setting or a listed moment. */
    int nf = ns_st_count(f);
    for (int i = 0; i < nf; i++) {
        const char *name = ns_st_get(f, i)->name;
        bool known = false;
        for (int k = 0; !known && k < N_REALS; k++)
            known = strcmp(name, real_names[k]) == 0;
        for (int k = 0; !known && k < nm; k++)
            known = strncmp(name, "optim.", 6) == 0 &&
                    strcmp(name + 6, ns_optim_moment_name(opt, k)) == 0;
        if (!known)
            return ns__jr_fail(r, "",
                               "unexpected tensor \"%s\" in an optimizer state file (a %s "
                               "optimizer keeps %d moment(s)); " DAMAGED,
                               name, ns_optim_kind_name(ns_optim_get_config(opt)->kind), nm);
    }
    float *moments = ns_optim_moments(opt);
    int64_t shape[1] = {(int64_t)np};
    for (int k = 0; k < nm; k++) {
        char name[MOMENT_NAME_CAP];
        snprintf(name, sizeof name, "optim.%s", ns_optim_moment_name(opt, k));
        const ns_st_tensor *t;
        ns_status st = want(r, f, name, NS_DTYPE_F32, 1, shape, "an optimizer moment", &t);
        if (st != NS_OK)
            return st;
        if (np > 0)
            memcpy(moments + (size_t)k * np, t->data, np * sizeof(float));
    }
    ns_optim_set_step_count(opt, s->steps);
    return NS_OK;
}

ns_status ns_optim_load_state(ns_model *model, const char *path, ns_optim **out)
{
    NS_ASSERT(model != NULL && path != NULL && out != NULL);
    ns_ctx *ctx = ns_model_ctx(model);
    *out = NULL;
    ns_st_file *f = NULL;
    json_t *o = NULL;
    ns_optim *opt = NULL;
    const ns__json_reader r = reader(ctx, path);
    ns_status st = ns_st_open(ctx, path, &f);
    if (st != NS_OK)
        return st;
    const char *text = ns_st_meta_find(f, META_OPTIM);
    if (text == NULL) {
        st = ns__jr_fail(&r, "",
                         "not an optimizer state file: __metadata__ has no \"" META_OPTIM
                         "\" entry (optimizer files are written by ns_optim_save_state)");
        goto done;
    }
    st = parse_object(&r, "__metadata__." META_OPTIM, text, optim_keys,
                      sizeof optim_keys / sizeof optim_keys[0], &o);
    if (st != NS_OK)
        goto done;
    optim_state s;
    memset(&s, 0, sizeof s);
    if ((st = parse_optim(&r, f, o, &s)) != NS_OK)
        goto done;
    size_t np = ns_model_param_count(model);
    if (s.param_count != (int64_t)np) {
        st = ns_errorf(ctx, NS_ERR_SHAPE,
                       "%s: the optimizer's moments are for %lld parameters but the model has "
                       "%zu; load it with the model it was saved with",
                       path, (long long)s.param_count, np);
        goto done;
    }
    st = ns_optim_new(model, &s.cfg, &opt);
    if (st != NS_OK) {
        st = ns_errorf(ctx, st, "%s: %s", path, ns_errmsg(ctx));
        goto done;
    }
    st = restore_moments(&r, f, &s, opt);
done:
    if (st != NS_OK) {
        ns_optim_free(opt);
        opt = NULL;
    }
    json_decref(o);
    ns_st_close(f);
    *out = opt;
    return st;
}
