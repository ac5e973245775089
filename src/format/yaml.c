/* YAML to JSON through libyaml's event parser, for run configs and pipeline files. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/core_internal.h"
#include "netsmith/format.h"
#include "format/yaml_doc.h"
#include "format/json_read.h"

#define MAX_DEPTH 64

typedef struct yconv {
    ns_ctx *ctx;
    yaml_parser_t parser;
    const char *source;
    ns_status st;
    ns__yaml_doc *doc; /* positions are recorded here when non-NULL */
} yconv;

static bool record(yconv *c, const json_t *node, const char *key, const yaml_mark_t *m)
{
    ns__yaml_doc *d = c->doc;
    if (d == NULL)
        return true;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        ns__ypos *p = ns_realloc(c->ctx, d->pos, (size_t)cap * sizeof *p);
        if (p == NULL)
            return false;
        d->pos = p;
        d->cap = cap;
    }
    char *k = NULL;
    if (key != NULL && (k = ns_strdup(c->ctx, key)) == NULL)
        return false;
    d->pos[d->n++] = (ns__ypos){node, k, (int)m->line + 1, (int)m->column + 1};
    return true;
}

static ns_status fail_at(yconv *c, const yaml_mark_t *m, const char *what)
{
    /* libyaml names what it was reading and where that began ("while parsing a flow
     * mapping" at line 5) when the problem is found later, e.g. a bracket never closed */
    const yaml_parser_t *p = &c->parser;
    if (p->context != NULL && p->context_mark.line != m->line)
        c->st = ns_errorf(c->ctx, NS_ERR_PARSE, "%s:%zu:%zu: %s (%s that starts at line %zu)",
                          c->source, m->line + 1, m->column + 1, what, p->context,
                          p->context_mark.line + 1);
    else
        c->st = ns_errorf(c->ctx, NS_ERR_PARSE, "%s:%zu:%zu: %s", c->source, m->line + 1,
                          m->column + 1, what);
    return c->st;
}

/* A plain scalar's JSON value (YAML 1.2 core schema, the common subset). */
static json_t *plain_scalar(const char *s)
{
    if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (end != s && *end == '\0' && errno == 0)
        return json_integer((json_int_t)i);
    /* Reals: digits with a dot or exponent (no hex, inf or nan). */
    bool ok = true, digit = false;
    for (const char *p = s; *p && ok; p++) {
        if (*p >= '0' && *p <= '9')
            digit = true;
        else
            ok = strchr("+-.eE", *p) != NULL;
    }
    if (ok && digit) {
        errno = 0;
        double d = ns__strtod(s, &end); /* "0.5" in any locale */
        if (end != s && *end == '\0' && errno == 0 && isfinite(d))
            return json_real(d);
    }
    return json_string(s);
}

static json_t *parse_node(yconv *c, yaml_event_t *ev, int depth);

static json_t *parse_collection(yconv *c, bool mapping, int depth)
{
    json_t *out = mapping ? json_object() : json_array();
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&c->parser, &ev)) {
            fail_at(c, &c->parser.problem_mark, c->parser.problem ? c->parser.problem : "bad YAML");
            json_decref(out);
            return NULL;
        }
        if (ev.type == (mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT)) {
            yaml_event_delete(&ev);
            return out;
        }
        if (mapping) {
            if (ev.type != YAML_SCALAR_EVENT) {
                fail_at(c, &ev.start_mark, "a mapping key must be a plain name");
                yaml_event_delete(&ev);
                json_decref(out);
                return NULL;
            }
            char *key = strdup((const char *)ev.data.scalar.value);
            yaml_mark_t km = ev.start_mark;
            yaml_event_delete(&ev);
            yaml_event_t vev;
            if (!yaml_parser_parse(&c->parser, &vev)) {
                fail_at(c, &c->parser.problem_mark,
                        c->parser.problem ? c->parser.problem : "bad YAML");
                free(key);
                json_decref(out);
                return NULL;
            }
            json_t *v = parse_node(c, &vev, depth + 1);
            yaml_event_delete(&vev);
            if (v == NULL || key == NULL || json_object_get(out, key) != NULL) {
                if (v != NULL && key != NULL) {
                    char msg[256];
                    snprintf(msg, sizeof msg, "duplicate key '%s'", key);
                    fail_at(c, &km, msg);
                }
                json_decref(v);
                free(key);
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, key, v);
            bool ok = record(c, out, key, &km);
            free(key);
            if (!ok) {
                c->st = ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory reading YAML");
                json_decref(out);
                return NULL;
            }
        } else {
            json_t *v = parse_node(c, &ev, depth + 1);
            yaml_event_delete(&ev);
            if (v == NULL) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, v);
        }
    }
}

static json_t *parse_node_at(yconv *c, yaml_event_t *ev, int depth);

static json_t *parse_node(yconv *c, yaml_event_t *ev, int depth)
{
    json_t *v = parse_node_at(c, ev, depth);
    if (v != NULL && (json_is_object(v) || json_is_array(v)) &&
        !record(c, v, NULL, &ev->start_mark)) {
        c->st = ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory reading YAML");
        json_decref(v);
        return NULL;
    }
    return v;
}

static json_t *parse_node_at(yconv *c, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        fail_at(c, &ev->start_mark, "nesting is too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        if (ev->data.scalar.tag != NULL) {
            fail_at(c, &ev->start_mark, "tags are not supported");
            return NULL;
        }
        return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s) : json_string(s);
    }
    case YAML_SEQUENCE_START_EVENT:
        return parse_collection(c, false, depth);
    case YAML_MAPPING_START_EVENT:
        return parse_collection(c, true, depth);
    case YAML_ALIAS_EVENT:
        fail_at(c, &ev->start_mark, "aliases are not supported; write the value out");
        return NULL;
    default:
        fail_at(c, &ev->start_mark, "unexpected YAML structure");
        return NULL;
    }
}

static ns_status load(ns_ctx *ctx, const char *text, size_t len, const char *source,
                      ns__yaml_doc *doc, json_t **out)
{
    *out = NULL;
    yconv c = {.ctx = ctx, .source = source ? source : "(yaml)", .st = NS_OK, .doc = doc};
    if (!yaml_parser_initialize(&c.parser))
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory starting the YAML parser");
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    json_t *root = NULL;
    bool in_doc = false, done = false;
    while (!done && c.st == NS_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&c.parser, &ev)) {
            fail_at(&c, &c.parser.problem_mark, c.parser.problem ? c.parser.problem : "bad YAML");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root != NULL)
                fail_at(&c, &ev.start_mark, "only one YAML document is allowed");
            in_doc = true;
            break;
        case YAML_DOCUMENT_END_EVENT:
            in_doc = false;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            if (!in_doc || root != NULL) {
                fail_at(&c, &ev.start_mark, "unexpected content");
            } else {
                root = parse_node(&c, &ev, 0);
                if (root == NULL && c.st == NS_OK)
                    c.st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory reading YAML");
            }
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&c.parser);
    if (c.st == NS_OK && root == NULL)
        c.st = ns_errorf(ctx, NS_ERR_PARSE, "%s: the document is empty", c.source);
    if (c.st != NS_OK) {
        json_decref(root);
        return c.st;
    }
    *out = root;
    return NS_OK;
}

ns_status ns__yaml_load(ns_ctx *ctx, const char *text, size_t len, const char *source,
                        ns__yaml_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    ns_status st = load(ctx, text, len, source, doc, &doc->root);
    if (st != NS_OK)
        ns__yaml_doc_free(ctx, doc);
    return st;
}

void ns__yaml_doc_free(ns_ctx *ctx, ns__yaml_doc *doc)
{
    for (int i = 0; i < doc->n; i++)
        ns_dealloc(ctx, doc->pos[i].key);
    ns_dealloc(ctx, doc->pos);
    json_decref(doc->root);
    memset(doc, 0, sizeof *doc);
}

int ns__yaml_line(const ns__yaml_doc *doc, const json_t *node, const char *key)
{
    if (doc == NULL)
        return 0;
    for (int i = 0; i < doc->n; i++) {
        const ns__ypos *p = &doc->pos[i];
        if (p->node == node && (key == NULL ? p->key == NULL : p->key && !strcmp(p->key, key)))
            return p->line;
    }
    return key != NULL ? ns__yaml_line(doc, node, NULL) : 0;
}

ns_status ns__yaml_vfail(ns_ctx *ctx, ns_status st, const ns__yaml_doc *doc, const char *source,
                         const json_t *node, const char *key, const char *path, const char *fmt,
                         va_list ap)
{
    char what[900];
    vsnprintf(what, sizeof what, fmt, ap);
    int line = ns__yaml_line(doc, node, key);
    return ns_errorf(ctx, st, "%s:%d: %s: %s", source, line > 0 ? line : 1, path, what);
}

/* ns__yaml_vfail with its arguments. */
__attribute__((format(printf, 8, 9))) static ns_status
yaml_fail(ns_ctx *ctx, ns_status st, const ns__yaml_doc *doc, const char *source,
          const json_t *node, const char *key, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st = ns__yaml_vfail(ctx, st, doc, source, node, key, path, fmt, ap);
    va_end(ap);
    return st;
}

ns_status ns__yaml_keys(ns_ctx *ctx, ns_status st, const ns__yaml_doc *doc, const char *source,
                        const json_t *o, const char *path, const char *const *known, int n)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (ns__jr_find(known, n, key) >= 0)
            continue;
        char list[400], h[NS__JR_HINT_CAP], shown[NS__JR_SHOW_CAP];
        return yaml_fail(ctx, st, doc, source, o, key, path, "unknown key '%s'%s; known keys: %s",
                         ns__jr_show(shown, sizeof shown, key),
                         ns__jr_hint(h, sizeof h, key, known, n),
                         ns__jr_list(list, sizeof list, known, n));
    }
    return NS_OK;
}

ns_status ns_yaml_to_json(ns_ctx *ctx, const char *text, size_t len, const char *source,
                          char **json)
{
    *json = NULL;
    json_t *root = NULL;
    yconv c = {.ctx = ctx, .st = load(ctx, text, len, source, NULL, &root)};
    if (c.st == NS_OK) {
        char *text_out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        *json = text_out ? ns_strdup(ctx, text_out) : NULL;
        free(text_out);
        if (*json == NULL)
            c.st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing JSON");
    }
    json_decref(root);
    return c.st;
}
