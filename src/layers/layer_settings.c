/* A layer's settings read, defaulted and written from its kind's row: the spec parser's
 * "layers" elements, ns_layer_spec_default and ns_layer_spec_text. Nothing here names a kind;
 * a new kind's settings come with its row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layer.h"

/* The most settings one kind may take (a bit each in the check's mask). */
#define MAX_SETTINGS 32

static int count_settings(const ns__layer_type *t)
{
    int n = 0;
    while (t->settings != NULL && t->settings[n] != NULL)
        n++;
    NS_ASSERT(n <= MAX_SETTINGS);
    return n;
}

static void put_default(ns_layer_spec *ls, const ns__layer_setting *s)
{
    switch (s->type) {
    case NS__LSET_INT:
        *NS__LSET_INT_AT(ls, s) = (int)s->def;
        break;
    case NS__LSET_PAIR:
        NS__LSET_INT_AT(ls, s)[0] = NS__LSET_INT_AT(ls, s)[1] = (int)s->def;
        break;
    case NS__LSET_REAL:
        *NS__LSET_REAL_AT(ls, s) = s->def;
        break;
    case NS__LSET_BOOL:
    case NS__LSET_NAMED:
        *NS__LSET_BOOL_AT(ls, s) = s->def != 0.0;
        break;
    }
}

void ns_layer_spec_default(ns_layer_spec *ls, ns_layer_kind kind)
{
    NS_ASSERT(ls != NULL && kind >= 0 && kind < NS_LAYER_KIND_COUNT);
    /* Zero the padding too, so equal specs compare equal with memcmp. */
    memset(ls, 0, sizeof *ls);
    ls->kind = kind;
    /* The fields' own defaults (model.h), for kinds that do not take them too. */
    ls->bias = true;
    ls->p = 0.5;
    ls->eps = 1e-5;
    ls->momentum = 0.1;
    ls->affine = true;
    for (int d = 0; d < 2; d++)
        ls->stride[d] = ls->dilation[d] = 1;
    ls->groups = 1;
    ls->count_include_pad = true;
    const ns__layer_type *t = ns__layer_type_get(kind);
    for (int i = 0; t->settings != NULL && t->settings[i] != NULL; i++)
        put_default(ls, t->settings[i]);
    if (t->defaults != NULL)
        t->defaults(ls);
}

/* ---- reading ------------------------------------------------------------------------------ */

/* The position of the setting called name in t's list, or -1. */
static int find_setting(const ns__layer_type *t, const char *name)
{
    for (int i = 0; t->settings != NULL && t->settings[i] != NULL; i++)
        if (strcmp(t->settings[i]->name, name) == 0)
            return i;
    return -1;
}

/* Whether any kind takes a setting of that name. */
static bool any_kind_takes(const char *name)
{
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++)
        if (find_setting(ns__layer_type_get((ns_layer_kind)k), name) >= 0)
            return true;
    return false;
}

/* "linear, conv2d": the kinds that take the setting. */
static const char *kinds_taking(char *buf, size_t cap, const char *name)
{
    const char *names[NS_LAYER_KIND_COUNT];
    int n = 0;
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++)
        if (find_setting(ns__layer_type_get((ns_layer_kind)k), name) >= 0)
            names[n++] = ns_layer_kind_name((ns_layer_kind)k);
    return ns__jr_list(buf, cap, names, n);
}

static ns_status parse_value(const ns__json_reader *r, const char *path, const ns__layer_setting *s,
                             const json_t *v, ns_layer_spec *ls)
{
    if (s->parse != NULL)
        return s->parse(r, path, v, ls);
    switch (s->type) {
    case NS__LSET_INT:
        return ns__jr_int(r, path, v, s->min, s->want, NS__LSET_INT_AT(ls, s));
    case NS__LSET_PAIR:
        return ns__jr_pair(r, path, v, s->min, s->want, NS__LSET_INT_AT(ls, s));
    case NS__LSET_REAL:
        return ns__jr_real(r, path, v, s->lo, s->lo_open, s->hi, s->hi_open, s->want,
                           NS__LSET_REAL_AT(ls, s));
    case NS__LSET_BOOL:
        return ns__jr_bool(r, path, v, NS__LSET_BOOL_AT(ls, s));
    case NS__LSET_NAMED: {
        int k = 0;
        ns_status st = ns__jr_name(r, path, v, s->want, s->names, 2, &k);
        if (st == NS_OK)
            *NS__LSET_BOOL_AT(ls, s) = k == 1;
        return st;
    }
    }
    NS_ASSERT(!"unreachable setting type");
    return NS_ERR_INVALID;
}

ns_status ns__layer_parse(const ns__json_reader *r, const char *path, json_t *v, ns_layer_spec *ls)
{
    char got[NS__JR_GOT_CAP], sub[96], list[512], tmp[NS__JR_SHOW_CAP], h[NS__JR_HINT_CAP];
    const char *kind_names[NS_LAYER_KIND_COUNT];
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++)
        kind_names[k] = ns_layer_kind_name((ns_layer_kind)k);
    if (!json_is_object(v))
        return ns__jr_fail(r, path, "expected a layer object such as {\"type\": \"relu\"}, got %s",
                           ns__jr_describe(got, sizeof got, v));
    const json_t *type = json_object_get(v, "type");
    if (type == NULL)
        return ns__jr_fail(r, path,
                           "missing key \"type\"; e.g. {\"type\": \"linear\", \"units\": 64}; "
                           "known types: %s",
                           ns__jr_list(list, sizeof list, kind_names, NS_LAYER_KIND_COUNT));
    if (!json_is_string(type))
        return ns__jr_fail(r, ns__jr_join(sub, sizeof sub, path, "type"),
                           "expected a layer type name (one of %s), got %s",
                           ns__jr_list(list, sizeof list, kind_names, NS_LAYER_KIND_COUNT),
                           ns__jr_describe(got, sizeof got, type));
    ns_layer_kind kind;
    const char *type_name = json_string_value(type);
    if (ns_layer_kind_parse(type_name, &kind) != NS_OK)
        return ns__jr_fail(r, path, "unknown layer type '%s'; known types: %s%s",
                           ns__jr_show(tmp, sizeof tmp, type_name),
                           ns__jr_list(list, sizeof list, kind_names, NS_LAYER_KIND_COUNT),
                           ns__jr_hint(h, sizeof h, type_name, kind_names, NS_LAYER_KIND_COUNT));
    ns_layer_spec_default(ls, kind);
    const ns__layer_type *t = ns__layer_type_get(kind);
    int n = count_settings(t);

    /* The keys this kind takes, for messages: "type" and its settings. */
    const char *keys[1 + MAX_SETTINGS] = {"type"};
    for (int i = 0; i < n; i++)
        keys[1 + i] = t->settings[i]->name;

    unsigned given = 0;
    for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
        const char *key = json_object_iter_key(it);
        const json_t *val = json_object_iter_value(it);
        if (strcmp(key, "type") == 0)
            continue;
        ns__jr_join(sub, sizeof sub, path, key);
        int i = find_setting(t, key);
        if (i < 0 && !any_kind_takes(key))
            return ns__jr_fail(r, sub, "unknown key; known keys for %s: %s%s", kind_names[kind],
                               ns__jr_list(list, sizeof list, keys, 1 + n),
                               ns__jr_hint(h, sizeof h, key, keys, 1 + n));
        if (i < 0) {
            char owners[128];
            if (n == 0)
                return ns__jr_fail(r, sub,
                                   "%s has no setting '%s' (that is a setting of %s); %s takes "
                                   "no settings",
                                   kind_names[kind], key, kinds_taking(owners, sizeof owners, key),
                                   kind_names[kind]);
            return ns__jr_fail(r, sub,
                               "%s has no setting '%s' (that is a setting of %s); %s takes %s",
                               kind_names[kind], key, kinds_taking(owners, sizeof owners, key),
                               kind_names[kind], ns__jr_list(list, sizeof list, keys + 1, n));
        }
        ns_status st = parse_value(r, sub, t->settings[i], val, ls);
        if (st != NS_OK)
            return st;
        given |= 1u << i;
    }
    for (int i = 0; i < n; i++)
        if (t->settings[i]->required && !(given & (1u << i)))
            return ns__jr_fail(r, path, "%s needs %s", kind_names[kind],
                               t->needs != NULL ? t->needs : "more settings");
    return t->check != NULL ? t->check(r, path, given, ls) : NS_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

static bool is_default(const ns_layer_spec *ls, const ns__layer_setting *s)
{
    switch (s->type) {
    case NS__LSET_INT:
        return *NS__LSET_INT_AT(ls, s) == (int)s->def;
    case NS__LSET_PAIR:
        return NS__LSET_INT_AT(ls, s)[0] == (int)s->def && NS__LSET_INT_AT(ls, s)[1] == (int)s->def;
    case NS__LSET_REAL:
        return *NS__LSET_REAL_AT(ls, s) == s->def;
    case NS__LSET_BOOL:
    case NS__LSET_NAMED:
        return *NS__LSET_BOOL_AT(ls, s) == (s->def != 0.0);
    }
    return false;
}

const char *ns_layer_spec_text(const ns_layer_spec *ls, char *buf, size_t cap)
{
    NS_ASSERT(ls != NULL && buf != NULL && cap > 0);
    buf[0] = '\0';
    if (ls->kind < 0 || ls->kind >= NS_LAYER_KIND_COUNT)
        return buf;
    const ns__layer_type *t = ns__layer_type_get(ls->kind);
    size_t len = 0;
    for (int i = 0; t->settings != NULL && t->settings[i] != NULL && len < cap; i++) {
        const ns__layer_setting *s = t->settings[i];
        if (!s->show_always && is_default(ls, s))
            continue;
        char v[64];
        switch (s->type) {
        case NS__LSET_INT:
            snprintf(v, sizeof v, "%d", *NS__LSET_INT_AT(ls, s));
            break;
        case NS__LSET_PAIR: {
            int p[2] = {NS__LSET_INT_AT(ls, s)[0], NS__LSET_INT_AT(ls, s)[1]};
            for (int d = 0; d < 2 && s->zero_is_kernel; d++)
                p[d] = p[d] > 0 ? p[d] : ls->kernel[d];
            if (p[0] == p[1])
                snprintf(v, sizeof v, "%d", p[0]);
            else
                snprintf(v, sizeof v, "%dx%d", p[0], p[1]);
            break;
        }
        case NS__LSET_REAL:
            ns__snprintf_c(v, sizeof v, "%g", *NS__LSET_REAL_AT(ls, s));
            break;
        case NS__LSET_BOOL:
            snprintf(v, sizeof v, "%s", *NS__LSET_BOOL_AT(ls, s) ? "true" : "false");
            break;
        case NS__LSET_NAMED:
            snprintf(v, sizeof v, "%s", s->names[*NS__LSET_BOOL_AT(ls, s) ? 1 : 0]);
            break;
        }
        int w = snprintf(buf + len, cap - len, "%s%s=%s", len ? ", " : "", s->name, v);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}

const char *ns_layer_settings_doc(ns_layer_kind kind, char *buf, size_t cap)
{
    NS_ASSERT(buf != NULL && cap > 0);
    buf[0] = '\0';
    if (kind < 0 || kind >= NS_LAYER_KIND_COUNT)
        return buf;
    const ns__layer_type *t = ns__layer_type_get(kind);
    size_t len = 0;
    for (int i = 0; t->settings != NULL && t->settings[i] != NULL && len < cap; i++) {
        const ns__layer_setting *s = t->settings[i];
        char what[160], def[48] = "";
        switch (s->type) {
        case NS__LSET_INT:
        case NS__LSET_PAIR:
            snprintf(what, sizeof what, "%s%s", s->want,
                     s->type == NS__LSET_PAIR ? " or [h, w]" : "");
            if (s->zero_is_kernel)
                snprintf(def, sizeof def, "the kernel");
            else
                snprintf(def, sizeof def, "%d", (int)s->def);
            break;
        case NS__LSET_REAL:
            snprintf(what, sizeof what, "%s", s->want);
            ns__snprintf_c(def, sizeof def, "%g", s->def);
            break;
        case NS__LSET_BOOL:
            snprintf(what, sizeof what, "true or false");
            snprintf(def, sizeof def, "%s", s->def != 0.0 ? "true" : "false");
            break;
        case NS__LSET_NAMED:
            snprintf(what, sizeof what, "%s or %s", s->names[0], s->names[1]);
            snprintf(def, sizeof def, "%s", s->names[s->def != 0.0 ? 1 : 0]);
            break;
        }
        int w = s->required ? snprintf(buf + len, cap - len, "%s%s: %s, required", len ? "; " : "",
                                       s->name, what)
                            : snprintf(buf + len, cap - len, "%s%s: %s (default %s)",
                                       len ? "; " : "", s->name, what, def);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}

/* ---- the kinds as JSON schemas -------------------------------------------------------------- */

static json_t *setting_schema(const ns__layer_setting *s)
{
    json_t *j = NULL;
    switch (s->type) {
    case NS__LSET_INT:
        j = json_pack("{s:s, s:i}", "type", "integer", "minimum", s->min);
        if (j != NULL && !s->required)
            json_object_set_new(j, "default", json_integer((json_int_t)s->def));
        break;
    case NS__LSET_PAIR: {
        json_t *one = json_pack("{s:s, s:i}", "type", "integer", "minimum", s->min);
        json_t *two = json_pack("{s:s, s:O, s:i, s:i}", "type", "array", "items", one, "minItems",
                                2, "maxItems", 2);
        j = json_pack("{s:[oo]}", "oneOf", one, two);
        json_t *names = json_array();
        for (int i = 0; s->names != NULL && s->names[i] != NULL; i++)
            json_array_append_new(names, json_string(s->names[i]));
        if (j != NULL && names != NULL && json_array_size(names) > 0)
            json_array_append_new(json_object_get(j, "oneOf"),
                                  json_pack("{s:s, s:O}", "type", "string", "enum", names));
        json_decref(names);
        if (j != NULL && !s->required && !s->zero_is_kernel)
            json_object_set_new(j, "default", json_integer((json_int_t)s->def));
        break;
    }
    case NS__LSET_REAL:
        j = json_pack("{s:s, s:f}", "type", "number", "default", s->def);
        if (j != NULL && isfinite(s->lo))
            json_object_set_new(j, s->lo_open ? "exclusiveMinimum" : "minimum", json_real(s->lo));
        if (j != NULL && isfinite(s->hi))
            json_object_set_new(j, s->hi_open ? "exclusiveMaximum" : "maximum", json_real(s->hi));
        break;
    case NS__LSET_BOOL:
        j = json_pack("{s:s, s:b}", "type", "boolean", "default", s->def != 0.0);
        break;
    case NS__LSET_NAMED:
        j = json_pack("{s:s, s:[ss], s:s}", "type", "string", "enum", s->names[0], s->names[1],
                      "default", s->names[s->def != 0.0 ? 1 : 0]);
        break;
    }
    if (j != NULL && s->want != NULL && s->type != NS__LSET_NAMED) {
        char d[128];
        snprintf(d, sizeof d, "%s%s", s->want, s->zero_is_kernel ? " (default: the kernel)" : "");
        json_object_set_new(j, "description", json_string(d));
    }
    return j;
}

ns_status ns_layer_schema(ns_ctx *ctx, char **json)
{
    NS_ASSERT(ctx != NULL && json != NULL);
    *json = NULL;
    json_t *all = json_object();
    bool ok = all != NULL;
    for (int k = 0; ok && k < NS_LAYER_KIND_COUNT; k++) {
        const ns__layer_type *t = ns__layer_type_get((ns_layer_kind)k);
        const char *name = ns_layer_kind_name((ns_layer_kind)k);
        json_t *props = json_pack("{s:{s:s}}", "type", "const", name);
        json_t *required = json_pack("[s]", "type");
        for (int i = 0;
             props != NULL && required != NULL && t->settings != NULL && t->settings[i] != NULL;
             i++) {
            const ns__layer_setting *s = t->settings[i];
            json_t *one = setting_schema(s);
            ok = one != NULL && json_object_set_new(props, s->name, one) == 0 &&
                 (!s->required || json_array_append_new(required, json_string(s->name)) == 0);
            if (!ok)
                break;
        }
        json_t *kind = props != NULL && required != NULL
                           ? json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties",
                                       props, "required", required, "additionalProperties", 0)
                           : NULL;
        if (kind == NULL) {
            ok = false;
            break;
        }
        if (t->needs != NULL)
            json_object_set_new(kind, "description", json_string(t->needs));
        ok = ok && json_object_set_new(all, name, kind) == 0;
    }
    char *text = ok ? json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(all);
    if (text == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing the layer kinds' schemas");
    *json = ns_strdup(ctx, text);
    free(text);
    return *json != NULL ? NS_OK : NS_ERR_NOMEM;
}
