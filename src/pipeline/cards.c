/* The card registry (built-in cards plus an application's own), the palette as JSON schemas,
 * and what a card's run function sees: inputs, settings, outputs, scratch state. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/settings.h"
#include "pipeline/pipeline_exec.h"

#define MAX_CARDS 256

struct ns_cards {
    ns_ctx *ctx;
    const ns_card_def *defs[MAX_CARDS];
    int n;
};

const ns_setting_def ns__common_settings[] = {
    {"execution", NS_SETTING_STRING, "\"local\"", "local",
     "where the card runs: in this process (remote execution will add choices)", 0, 0},
    {"device", NS_SETTING_STRING, "\"cpu\"", "cpu", "the device its math runs on", 0, 0},
};
const int ns__common_setting_count = 2;

static bool valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

ns_status ns_card_register(ns_cards *c, const ns_card_def *d)
{
    ns_ctx *ctx = c->ctx;
    if (d == NULL || !valid_name(d->name))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "ns_card_register: a card needs a name of lowercase letters, digits "
                         "and '_'");
    if (ns_cards_find(c, d->name) != NULL)
        return ns_errorf(ctx, NS_ERR_INVALID, "ns_card_register: a card named '%s' exists",
                         d->name);
    if ((d->run == NULL) == !d->is_loop)
        return ns_errorf(ctx, NS_ERR_INVALID, "ns_card_register: card '%s' needs a run function",
                         d->name);
    for (int i = 0; i < d->n_inputs + d->n_outputs; i++) {
        const ns_port_def *p = i < d->n_inputs ? &d->inputs[i] : &d->outputs[i - d->n_inputs];
        if (!valid_name(p->name) || p->kind <= NS_VALUE_NONE || p->kind >= NS_VALUE_KIND_COUNT)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "ns_card_register: card '%s' has a port without a valid name and "
                             "kind (port %d)",
                             d->name, i);
    }
    for (int i = 0; i < d->n_settings; i++) {
        const ns_setting_def *s = &d->settings[i];
        json_error_t e;
        json_t *def = s->default_json ? json_loads(s->default_json, JSON_DECODE_ANY, &e) : NULL;
        bool ok = valid_name(s->name) && (s->default_json == NULL || def != NULL);
        json_decref(def);
        if (!ok)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "ns_card_register: card '%s' setting %d needs a name and a JSON "
                             "default (or NULL)",
                             d->name, i);
    }
    if (c->n == MAX_CARDS)
        return ns_errorf(ctx, NS_ERR_INVALID, "ns_card_register: at most %d cards", MAX_CARDS);
    c->defs[c->n++] = d;
    return NS_OK;
}

ns_status ns_cards_new(ns_ctx *ctx, ns_cards **out)
{
    *out = NULL;
    ns_cards *c = ns_calloc(ctx, 1, sizeof *c);
    if (c == NULL)
        return NS_ERR_NOMEM;
    c->ctx = ctx;
    ns_status st = NS_OK;
    const ns_card_def *tables[] = {ns__data_cards, ns__model_cards, ns__step_cards};
    const int counts[] = {ns__data_card_count, ns__model_card_count, ns__step_card_count};
    for (int t = 0; t < 3 && st == NS_OK; t++)
        for (int i = 0; i < counts[t] && st == NS_OK; i++)
            st = ns_card_register(c, &tables[t][i]);
    if (st == NS_OK)
        st = ns_card_register(c, &ns__loop_card);
    if (st != NS_OK) {
        ns_cards_free(c);
        return st;
    }
    *out = c;
    return NS_OK;
}

void ns_cards_free(ns_cards *c)
{
    if (c != NULL)
        ns_dealloc(c->ctx, c);
}

int ns_cards_count(const ns_cards *c) { return c->n; }
const ns_card_def *ns_cards_get(const ns_cards *c, int i)
{
    return i >= 0 && i < c->n ? c->defs[i] : NULL;
}

const ns_card_def *ns_cards_find(const ns_cards *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->defs[i]->name, name) == 0)
            return c->defs[i];
    return NULL;
}

ns_ctx *ns__cards_ctx(const ns_cards *c) { return c->ctx; }

const char *ns__card_did_you_mean(const ns_cards *c, const char *got, char *buf, size_t cap)
{
    const char *names[MAX_CARDS];
    for (int i = 0; i < c->n; i++)
        names[i] = c->defs[i]->name;
    return ns__did_you_mean(buf, cap, got, names, c->n);
}

/* ---- the palette ----------------------------------------------------------------------------- */

static json_t *ports_json(const ns_port_def *p, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:s}", "name", p[i].name, "kind",
                                           ns_value_kind_name(p[i].kind), "required",
                                           !p[i].optional, "description",
                                           p[i].doc ? p[i].doc : ""));
    return a;
}

static json_t *card_json(const ns_card_def *d)
{
    json_t *props = json_object(), *req = json_array();
    for (int pass = 0; pass < 2; pass++) {
        const ns_setting_def *s = pass ? ns__common_settings : d->settings;
        int n = pass ? ns__common_setting_count : d->n_settings;
        for (int i = 0; i < n; i++) {
            json_object_set_new(props, s[i].name, ns__setting_schema(&s[i], NULL));
            if (s[i].default_json == NULL)
                json_array_append_new(req, json_string(s[i].name));
        }
    }
    json_t *settings = json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props,
                                 "required", req, "additionalProperties",
                                 d->open_settings ? 1 : 0);
    return json_pack("{s:s, s:s, s:b, s:o, s:o, s:o}", "card", d->name, "description",
                     d->doc ? d->doc : "", "loop", d->is_loop, "inputs",
                     ports_json(d->inputs, d->n_inputs), "outputs",
                     ports_json(d->outputs, d->n_outputs), "settings", settings);
}

ns_status ns_cards_to_json(const ns_cards *c, char **json)
{
    *json = NULL;
    json_t *kinds = json_object();
    for (int k = 1; k < NS_VALUE_KIND_COUNT; k++)
        json_object_set_new(kinds, ns_value_kind_name((ns_value_kind)k),
                            json_string(ns_value_kind_doc((ns_value_kind)k)));
    json_t *cards = json_array();
    for (int i = 0; i < c->n; i++)
        json_array_append_new(cards, card_json(c->defs[i]));
    json_t *root = json_pack("{s:o, s:o}", "kinds", kinds, "cards", cards);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (text != NULL)
        *json = ns_strdup(c->ctx, text);
    free(text);
    return *json ? NS_OK : ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory writing the cards");
}

/* ---- inside a card ------------------------------------------------------------------------- */

ns_ctx *ns_card_ctx(ns_card_call *c) { return c->ctx; }
const char *ns_card_id(ns_card_call *c) { return c->node->id; }
const ns_progress *ns_card_progress(ns_card_call *c) { return c->progress; }

ns_value *ns_card_in(ns_card_call *c, const char *port)
{
    for (int i = 0; i < c->node->n_in; i++)
        if (strcmp(c->node->in[i].port, port) == 0)
            return ns__input_value(&c->node->in[i]);
    return NULL;
}

json_t *ns__card_setting(ns_card_call *c, const char *name)
{
    json_t *v = json_object_get(c->node->settings, name);
    return json_is_null(v) ? NULL : v;
}

bool ns_card_has(ns_card_call *c, const char *name) { return ns__card_setting(c, name) != NULL; }

int64_t ns_card_int(ns_card_call *c, const char *name)
{
    json_t *v = ns__card_setting(c, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_number_value(v);
}

double ns_card_number(ns_card_call *c, const char *name)
{
    return json_number_value(ns__card_setting(c, name));
}

bool ns_card_bool(ns_card_call *c, const char *name) { return json_is_true(ns__card_setting(c, name)); }

const char *ns_card_string(ns_card_call *c, const char *name)
{
    const char *s = json_string_value(ns__card_setting(c, name));
    return s ? s : "";
}

int ns_card_list(ns_card_call *c, const char *name, double *out, int cap)
{
    json_t *v = ns__card_setting(c, name);
    if (!json_is_array(v))
        return -1;
    int n = (int)json_array_size(v);
    for (int i = 0; i < n && i < cap; i++)
        out[i] = json_number_value(json_array_get(v, (size_t)i));
    return n;
}

const char *ns_card_settings_json(ns_card_call *c)
{
    if (c->node->settings_json == NULL) {
        char *t = json_dumps(c->node->settings, JSON_COMPACT | JSON_PRESERVE_ORDER);
        c->node->settings_json = t ? ns_strdup(c->ctx, t) : NULL;
        free(t);
    }
    return c->node->settings_json;
}

const char *ns_card_input_path(ns_card_call *c, const char *path)
{
    if (path[0] == '/' || c->base_dir == NULL || strcmp(c->base_dir, ".") == 0)
        return path;
    if (snprintf(c->path, sizeof c->path, "%s/%s", c->base_dir, path) >= (int)sizeof c->path)
        return NULL;
    return c->path;
}

uint64_t ns__card_seed(ns_card_call *c, const char *name)
{
    json_t *v = ns__card_setting(c, name);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : c->seed;
}

void **ns_card_scratch(ns_card_call *c, void (*free_fn)(void *))
{
    c->node->scratch_free = free_fn;
    return &c->node->scratch;
}

/* ---- outputs ------------------------------------------------------------------------------------ */

static int out_index(ns_card_call *c, const char *port)
{
    const ns_card_def *d = c->node->def;
    for (int i = 0; i < d->n_outputs; i++)
        if (strcmp(d->outputs[i].name, port) == 0)
            return i;
    return -1;
}

/* Puts v on the port (taking v's reference). */
static ns_status put(ns_card_call *c, const char *port, ns_value *v)
{
    int i = out_index(c, port);
    if (i < 0 || c->node->def->outputs[i].kind != v->kind) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_INVALID, "card '%s' has no %s output '%s'",
                         c->node->def->name, ns_value_kind_name(v->kind), port);
    }
    ns_value_release(c->node->out[i]);
    c->node->out[i] = v;
    return NS_OK;
}

static ns_status make(ns_card_call *c, ns_value_kind k, ns_value **v)
{
    ns_status st = ns__value_new(c->ctx, k, v);
    return st == NS_OK ? NS_OK : ns_errorf(c->ctx, st, "out of memory in card '%s'", c->node->id);
}

ns_status ns_card_out_dataset(ns_card_call *c, const char *port, ns_dataset *ds)
{
    ns_value *v;
    if (make(c, NS_VALUE_DATASET, &v) != NS_OK) {
        ns_dataset_free(ds);
        return NS_ERR_NOMEM;
    }
    v->u.dataset = ds;
    return put(c, port, v);
}

ns_status ns_card_out_spec(ns_card_call *c, const char *port, ns_spec *spec)
{
    ns_value *v;
    if (make(c, NS_VALUE_MODEL_SPEC, &v) != NS_OK) {
        ns_spec_free(spec);
        return NS_ERR_NOMEM;
    }
    v->u.spec = spec;
    return put(c, port, v);
}

ns_status ns_card_out_data_shape(ns_card_call *c, const char *port, const ns_data_shape *s)
{
    ns_value *v;
    if (make(c, NS_VALUE_DATA_SHAPE, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.shape = *s;
    return put(c, port, v);
}

ns_status ns_card_out_model(ns_card_call *c, const char *port, ns_model *model)
{
    ns_value *v;
    if (make(c, NS_VALUE_MODEL, &v) != NS_OK) {
        ns_model_free(model);
        return NS_ERR_NOMEM;
    }
    v->u.model = model;
    snprintf(v->object, sizeof v->object, "%s", c->node->id);
    return put(c, port, v);
}

ns_status ns_card_out_optim(ns_card_call *c, const char *port, ns_optim *opt, ns_value *model)
{
    ns_value *v;
    if (make(c, NS_VALUE_OPTIMIZER, &v) != NS_OK) {
        ns_optim_free(opt);
        return NS_ERR_NOMEM;
    }
    v->u.optim = opt;
    v->model = ns__value_ref(model);
    snprintf(v->object, sizeof v->object, "%s", c->node->id);
    return put(c, port, v);
}

ns_status ns_card_out_batch_pos(ns_card_call *c, const char *port, const ns_batch_pos *p)
{
    ns_value *v;
    if (make(c, NS_VALUE_BATCH_INDEX, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.pos = *p;
    return put(c, port, v);
}

ns_status ns_card_out_batch(ns_card_call *c, const char *port, const ns_batch *b, int features,
                            int targets)
{
    ns_value *v;
    if (make(c, NS_VALUE_BATCH_DATA, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.batch = *b;
    v->features = features;
    v->targets = targets;
    return put(c, port, v);
}

static float *copy_floats(ns_ctx *ctx, const float *src, size_t n)
{
    float *p = ns_alloc(ctx, (n ? n : 1) * sizeof(float));
    if (p != NULL && n > 0)
        memcpy(p, src, n * sizeof(float));
    return p;
}

ns_status ns_card_out_tensor(ns_card_call *c, const char *port, const float *data, int64_t rows,
                             int cols)
{
    ns_value *v;
    if (make(c, NS_VALUE_PREDICTIONS, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.tensor = (ns_tensor2){copy_floats(c->ctx, data, (size_t)rows * (size_t)cols), rows, cols};
    if (v->u.tensor.data == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_loss(ns_card_call *c, const char *port, double value, const float *grad,
                           int64_t rows, int cols, ns_loss_kind kind)
{
    ns_value *v;
    if (make(c, NS_VALUE_LOSS, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.loss = (ns_loss_value){
        value, {copy_floats(c->ctx, grad, (size_t)rows * (size_t)cols), rows, cols}, kind};
    if (v->u.loss.grad.data == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_metrics(ns_card_call *c, const char *port, ns_task task,
                              const ns_metric_values *values, int classes,
                              const int64_t *confusion, const char *const *class_names)
{
    ns_value *v;
    if (make(c, NS_VALUE_METRICS, &v) != NS_OK)
        return NS_ERR_NOMEM;
    ns_metrics_value *m = &v->u.metrics;
    m->task = task;
    m->values = *values;
    m->classes = classes;
    bool ok = true;
    if (confusion != NULL && classes > 0) {
        size_t n = (size_t)classes * (size_t)classes;
        m->confusion = ns_alloc(c->ctx, n * sizeof(int64_t));
        ok = m->confusion != NULL;
        if (ok)
            memcpy(m->confusion, confusion, n * sizeof(int64_t));
    }
    if (ok && class_names != NULL && classes > 0) {
        m->class_names = ns_calloc(c->ctx, (size_t)classes, sizeof(char *));
        ok = m->class_names != NULL;
        for (int i = 0; ok && i < classes; i++)
            ok = (m->class_names[i] = ns_strdup(c->ctx, class_names[i] ? class_names[i] : ""));
    }
    if (!ok) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_history(ns_card_call *c, const char *port, ns_task task,
                              const ns_epoch_report *reports, int epochs)
{
    ns_value *v;
    if (make(c, NS_VALUE_HISTORY, &v) != NS_OK)
        return NS_ERR_NOMEM;
    ns_history_value *h = &v->u.history;
    h->task = task;
    h->epochs = epochs;
    h->reports = ns_alloc(c->ctx, (size_t)(epochs > 0 ? epochs : 1) * sizeof *reports);
    if (h->reports == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    if (epochs > 0)
        memcpy(h->reports, reports, (size_t)epochs * sizeof *reports);
    return put(c, port, v);
}

ns_status ns_card_out_integer(ns_card_call *c, const char *port, int64_t x)
{
    ns_value *v;
    if (make(c, NS_VALUE_INTEGER, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.integer = x;
    return put(c, port, v);
}

ns_status ns_card_out_file(ns_card_call *c, const char *port, const char *path)
{
    ns_value *v;
    if (make(c, NS_VALUE_FILE, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.file = ns_strdup(c->ctx, path);
    if (v->u.file == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_same(ns_card_call *c, const char *port, ns_value *v)
{
    if (v == NULL)
        return ns_errorf(c->ctx, NS_ERR_INVALID, "card '%s': nothing to pass on to '%s'",
                         c->node->id, port);
    return put(c, port, ns__value_ref(v));
}
