/* The canonical JSON printer for model specs: fixed key order, every setting explicit,
 * shortest round-trip numbers, two-space indent. parse(print(s)) prints the same bytes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/model_private.h"

/* A growing string through the context's hooks. After a failed allocation every append is a
 * no-op and failed stays set, so the printer checks once at the end. */
typedef struct sbuf {
    ns_ctx *ctx;
    char *data;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_append(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = ns_realloc(b->ctx, b->data, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_append(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    NS_ASSERT(n >= 0 && (size_t)n < sizeof tmp); /* only short keys and numbers go through here */
    sb_append(b, tmp, (size_t)n);
}

/* An object being written: either one key per line at indent, or all on one line. */
typedef struct obj {
    sbuf *b;
    const char *indent; /* of the keys; the closing brace goes two spaces to the left */
    bool one_line;
    int n;
} obj;

static obj obj_open(sbuf *b, const char *indent, bool one_line)
{
    sb_puts(b, "{");
    return (obj){b, indent, one_line, 0};
}

static void obj_close(obj *o)
{
    if (!o->one_line) {
        size_t n = strlen(o->indent);
        sb_puts(o->b, "\n");
        sb_append(o->b, o->indent, n >= 2 ? n - 2 : 0);
    }
    sb_puts(o->b, "}");
}

/* Starts the next member: separator, indent and "key": */
static void key(obj *o, const char *k)
{
    if (o->one_line)
        sb_puts(o->b, o->n ? ", " : "");
    else
        sb_printf(o->b, "%s\n%s", o->n ? "," : "", o->indent);
    sb_printf(o->b, "\"%s\": ", k);
    o->n++;
}

/* Names printed here come from the library's own tables, never from user text, so they need
 * no escaping. */
static void put_str(obj *o, const char *k, const char *v)
{
    key(o, k);
    sb_printf(o->b, "\"%s\"", v);
}

static void put_int(obj *o, const char *k, int v)
{
    key(o, k);
    sb_printf(o->b, "%d", v);
}

static void put_real(obj *o, const char *k, double v)
{
    char num[40];
    ns__format_real(num, sizeof num, v);
    key(o, k);
    sb_puts(o->b, num);
}

static void put_bool(obj *o, const char *k, bool v)
{
    key(o, k);
    sb_puts(o->b, v ? "true" : "false");
}

static void put_null(obj *o, const char *k)
{
    key(o, k);
    sb_puts(o->b, "null");
}

/* [a, b, c] on one line; null when n is 0 and null_when_empty. */
static void put_int_array(obj *o, const char *k, const int *v, int n, bool null_when_empty)
{
    key(o, k);
    if (n == 0 && null_when_empty) {
        sb_puts(o->b, "null");
        return;
    }
    sb_puts(o->b, "[");
    for (int i = 0; i < n; i++)
        sb_printf(o->b, "%s%d", i ? ", " : "", v[i]);
    sb_puts(o->b, "]");
}

/* A [h, w] setting: one integer when both are equal (as most specs write it), else [h, w]. */
static void put_pair(obj *o, const char *k, const int *v)
{
    if (v[0] == v[1])
        put_int(o, k, v[0]);
    else
        put_int_array(o, k, v, 2, false);
}

/* The training settings in their canonical order (spec.c's training_keys). */
static void put_training(obj *o, const ns_train_settings *tr)
{
    put_real(o, "learning_rate", tr->learning_rate);
    put_int(o, "epochs", tr->epochs);
    put_int(o, "batch_size", tr->batch_size);
    put_str(o, "optimizer", tr->optimizer);
    if (tr->loss[0] != '\0')
        put_str(o, "loss", tr->loss);
    else
        put_null(o, "loss"); /* choose from the task */
    put_real(o, "weight_decay", tr->weight_decay);
    put_str(o, "task", ns_task_name(tr->task));
}

static void put_short(sbuf *b, const ns_spec *spec)
{
    obj o = obj_open(b, "  ", false);
    put_str(&o, "model_type", spec->model_type);
    put_int_array(&o, "hidden_layers", spec->hidden, spec->n_hidden, false);
    const char *act = ns__activation_name(spec->activation, spec->activation_tanh_approx);
    NS_ASSERT(act != NULL);
    put_str(&o, "activation", act);
    put_real(&o, "dropout", spec->dropout);
    if (spec->output_size != 0)
        put_int(&o, "output_size", spec->output_size);
    else
        put_null(&o, "output_size"); /* from the data */
    put_training(&o, &spec->training);
    obj_close(&o);
}

/* {"type": "linear", "units": 64, "bias": true}: the settings the kind's row lists, in its
 * order. */
static void put_layer(sbuf *b, const ns_layer_spec *ls)
{
    obj o = obj_open(b, "", true);
    put_str(&o, "type", ns_layer_kind_name(ls->kind));
    const ns__layer_type *t = ns__layer_type_get(ls->kind);
    for (int i = 0; t->settings != NULL && t->settings[i] != NULL; i++) {
        const ns__layer_setting *s = t->settings[i];
        switch (s->type) {
        case NS__LSET_INT:
            put_int(&o, s->name, *NS__LSET_INT_AT(ls, s));
            break;
        case NS__LSET_PAIR:
            put_pair(&o, s->name, NS__LSET_INT_AT(ls, s));
            break;
        case NS__LSET_REAL:
            put_real(&o, s->name, *NS__LSET_REAL_AT(ls, s));
            break;
        case NS__LSET_BOOL:
            put_bool(&o, s->name, *NS__LSET_BOOL_AT(ls, s));
            break;
        case NS__LSET_NAMED:
            put_str(&o, s->name, s->names[*NS__LSET_BOOL_AT(ls, s) ? 1 : 0]);
            break;
        }
    }
    obj_close(&o);
}

static void put_layer_form(sbuf *b, const ns_spec *spec)
{
    obj o = obj_open(b, "  ", false);
    /* null: no check, the input shape comes from the data alone */
    put_int_array(&o, "input", spec->input_shape, spec->input_ndim, true);
    key(&o, "layers");
    sb_puts(b, "[");
    for (int i = 0; i < spec->n_layers; i++) {
        sb_puts(b, i ? ",\n    " : "\n    ");
        put_layer(b, &spec->layers[i]);
    }
    sb_puts(b, "\n  ]");
    key(&o, "training");
    obj t = obj_open(b, "    ", false);
    put_training(&t, &spec->training);
    obj_close(&t);
    obj_close(&o);
}

ns_status ns_spec_to_json(const ns_spec *spec, char **out)
{
    NS_ASSERT(spec != NULL && out != NULL);
    *out = NULL;
    sbuf b = {.ctx = spec->ctx};
    if (spec->form == NS_SPEC_SHORT)
        put_short(&b, spec);
    else
        put_layer_form(&b, spec);
    sb_puts(&b, "\n");
    if (b.failed) {
        ns_dealloc(spec->ctx, b.data);
        return NS_ERR_NOMEM;
    }
    *out = b.data;
    return NS_OK;
}

ns_status ns_spec_layer_form_json(const ns_spec *spec, int input_ndim, int output_size, char **out)
{
    NS_ASSERT(spec != NULL && out != NULL);
    *out = NULL;
    if (spec->form != NS_SPEC_SHORT)
        return ns_spec_to_json(spec, out);
    ns_layer_spec *layers = NULL;
    int n = 0;
    ns_status st = ns_spec_expand_input(spec, input_ndim, output_size, &layers, &n);
    if (st != NS_OK)
        return st;
    ns_spec as_layers = *spec;
    as_layers.form = NS_SPEC_LAYERS;
    as_layers.input_ndim = 0;
    as_layers.n_layers = n;
    as_layers.layers = layers;
    sbuf b = {.ctx = spec->ctx};
    put_layer_form(&b, &as_layers);
    sb_puts(&b, "\n");
    ns_dealloc(spec->ctx, layers);
    if (b.failed) {
        ns_dealloc(spec->ctx, b.data);
        return ns_errorf(spec->ctx, NS_ERR_NOMEM, "out of memory writing the spec");
    }
    *out = b.data;
    return NS_OK;
}
