/* Declarative objects (netsmith apply -f objects.yaml): a YAML or JSON list of objects, each
 * {kind, metadata: {name}, spec}, made to exist in the store. Applying the same file again
 * changes nothing. Kinds:
 *   Architecture  spec: {file: SPEC.json} or the spec itself ({layers: ...} / {hidden_layers})
 *   Dataset       spec: the data settings of a run config ({data: boston_housing, target: y})
 *   Model         spec: {arch: NAME, source: {file: WEIGHTS.safetensors} | {model: NAME[@V]}}
 *   ModelJob      spec: {destinationModel: NAME, data: NAME, training: {run settings},
 *                        sourceModel: NAME[@V] (a fine-tune), freeze: [0], newHead: false}
 * Relative paths are taken from the file's directory. A bad object names the file, the line
 * and the key. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/json_read.h"
#include "format/yaml_doc.h"
#include "netsmith/data.h"
#include "netsmith/format.h"
#include "store/store_private.h"

typedef struct applier {
    ns_store *s;
    const char *source; /* the file's name, for messages */
    const char *base;   /* its directory, for relative paths */
    ns__yaml_doc doc;
    json_t *report;
} applier;

/* "FILE:LINE: PATH: what" (PATH like "[2].spec.arch") */
__attribute__((format(printf, 5, 6))) static ns_status fail_at(const applier *a, const json_t *node,
                                                               const char *key, const char *path,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ns_status st = ns__yaml_vfail(ns_store_ctx(a->s), NS_ERR_PARSE, &a->doc, a->source, node, key,
                                  path, fmt, ap);
    va_end(ap);
    return st;
}

/* The keys of o (at path) must be among known[n]. */
static ns_status check_keys(const applier *a, const json_t *o, const char *path,
                            const char *const *known, int n)
{
    return ns__yaml_keys(ns_store_ctx(a->s), NS_ERR_PARSE, &a->doc, a->source, o, path, known, n);
}

/* A path in the file, made absolute from the file's directory. */
static void resolve(const applier *a, const char *path, char *out, size_t cap)
{
    if (path[0] == '/' || a->base[0] == '\0')
        snprintf(out, cap, "%s", path);
    else
        snprintf(out, cap, "%s/%s", a->base, path);
}

static void note(applier *a, const char *kind, const char *name, const char *action)
{
    json_array_append_new(
        a->report, json_pack("{s:s, s:s, s:s}", "kind", kind, "name", name, "action", action));
}

/* Whether a named row exists in table. */
static bool exists(applier *a, const char *table, const char *name)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE name = ?", table);
    ns__sql_value v[] = {NS__SQL_T(name)};
    ns__sql_result *r = NULL;
    bool yes = ns__store_exec(a->s, sql, v, 1, &r, NULL) == NS_OK && r != NULL && r->rows > 0;
    ns__sql_result_free(ns_store_ctx(a->s), r);
    return yes;
}

static ns_status apply_arch(applier *a, const char *name, json_t *spec, const char *path)
{
    ns_ctx *ctx = ns_store_ctx(a->s);
    json_t *file = json_object_get(spec, "file");
    char *text = NULL;
    ns_status st;
    char where[1024];
    bool had = exists(a, "archs", name);
    if (file != NULL) {
        if (!json_is_string(file) || json_object_size(spec) != 1)
            return fail_at(a, spec, "file", path,
                           "give either {file: SPEC.json} alone or the spec itself");
        resolve(a, json_string_value(file), where, sizeof where);
        size_t n = 0;
        st = ns_read_file(ctx, where, &text, &n);
        if (st == NS_OK)
            st = ns_store_arch_add(a->s, name, text, where);
        ns_dealloc(ctx, text);
    } else {
        char *inline_spec = json_dumps(spec, JSON_COMPACT);
        snprintf(where, sizeof where, "%s: %s", a->source, path);
        st = inline_spec != NULL ? ns_store_arch_add(a->s, name, inline_spec, where) : NS_ERR_NOMEM;
        free(inline_spec);
    }
    if (st == NS_OK)
        note(a, "Architecture", name, had ? "unchanged" : "created");
    return st;
}

static ns_status apply_dataset(applier *a, const char *name, json_t *spec, const char *path)
{
    json_t *copy = json_deep_copy(spec);
    const char *data = json_string_value(json_object_get(copy, "data"));
    char where[1024];
    if (data == NULL) {
        json_decref(copy);
        return fail_at(a, spec, NULL, path, "a Dataset needs data: a built-in name or a file");
    }
    if (ns_data_builtin_find(data) == NULL) {
        resolve(a, data, where, sizeof where);
        json_object_set_new(copy, "data", json_string(where));
    }
    const char *labels = json_string_value(json_object_get(copy, "labels"));
    if (labels != NULL) {
        char lw[1024];
        resolve(a, labels, lw, sizeof lw);
        json_object_set_new(copy, "labels", json_string(lw));
    }
    char *text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    bool had = exists(a, "datasets", name);
    ns_status st = text != NULL ? ns_store_data_add(a->s, name, text) : NS_ERR_NOMEM;
    free(text);
    if (st == NS_OK)
        note(a, "Dataset", name, had ? "unchanged" : "created");
    return st;
}

static ns_status apply_model(applier *a, const char *name, json_t *spec, const char *path)
{
    static const char *const keys[] = {"arch", "source"};
    ns_status st = check_keys(a, spec, path, keys, 2);
    const char *arch = json_string_value(json_object_get(spec, "arch"));
    json_t *source = json_object_get(spec, "source");
    char sub[160];
    snprintf(sub, sizeof sub, "%s.source", path);
    static const char *const source_keys[] = {"file", "model"};
    if (st == NS_OK && arch == NULL &&
        !(json_is_object(source) && json_object_get(source, "model")))
        st = fail_at(a, spec, NULL, path, "a Model needs arch: the architecture's name");
    if (st == NS_OK && source != NULL && !json_is_object(source))
        st = fail_at(a, spec, "source", sub, "expected {file: PATH} or {model: NAME[@VERSION]}");
    if (st == NS_OK && source != NULL)
        st = check_keys(a, source, sub, source_keys, 2);
    if (st != NS_OK)
        return st;
    ns_store_version from;
    const char *from_ref = json_string_value(json_object_get(source, "model"));
    if (from_ref != NULL) {
        /* sourced from another model: its architecture, and its version as this one's first */
        if ((st = ns_store_version_get(a->s, from_ref, &from)) != NS_OK)
            return st;
        arch = arch != NULL ? arch : from.arch;
    }
    bool had = exists(a, "models", name);
    if ((st = ns_store_model_create(a->s, name, arch)) != NS_OK)
        return st;
    ns_store_version v;
    bool has_version = ns_store_version_get(a->s, name, &v) == NS_OK;
    const char *action = had ? "unchanged" : "created";
    const char *file = json_string_value(json_object_get(source, "file"));
    if (file != NULL && !has_version) {
        char where[1024];
        resolve(a, file, where, sizeof where);
        int num = 0;
        if ((st = ns_store_model_import(a->s, name, where, &num)) != NS_OK)
            return st;
        action = "imported";
    } else if (from_ref != NULL && !has_version) {
        if ((st = ns__store_version_copy(a->s, name, &from)) != NS_OK)
            return st;
        action = "created from a model";
    }
    note(a, "Model", name, action);
    return NS_OK;
}

static ns_status apply_job(applier *a, const char *name, json_t *spec, const char *path)
{
    static const char *const keys[] = {"sourceModel",        "destinationModel", "data",
                                       "training",           "freeze",           "newHead",
                                       "refitNormalization", "priority"};
    ns_status st = check_keys(a, spec, path, keys, 8);
    if (st != NS_OK)
        return st;
    int64_t id = 0;
    if ((st = ns__job_named(a->s, name, &id)) != NS_OK)
        return st;
    if (id != 0) { /* submitted before: applying again changes nothing */
        note(a, "ModelJob", name, "unchanged");
        return NS_OK;
    }
    const char *dest = json_string_value(json_object_get(spec, "destinationModel"));
    const char *data = json_string_value(json_object_get(spec, "data"));
    if (dest == NULL || data == NULL)
        return fail_at(a, spec, NULL, path, "a ModelJob needs destinationModel and data");
    json_t *src = json_object_get(spec, "sourceModel");
    json_t *p = json_object();
    ns_job_kind kind = src != NULL ? NS_JOB_FINETUNE : NS_JOB_TRAIN;
    if (src != NULL) {
        json_object_set(p, "from", src);
        json_object_set_new(p, "to", json_string(dest));
    } else {
        json_object_set_new(p, "model", json_string(dest));
    }
    json_object_set_new(p, "data", json_string(data));
    if (json_object_get(spec, "training") != NULL)
        json_object_set(p, "config", json_object_get(spec, "training"));
    if (src != NULL && json_object_get(spec, "freeze") != NULL)
        json_object_set(p, "freeze", json_object_get(spec, "freeze"));
    if (src != NULL && json_object_get(spec, "newHead") != NULL)
        json_object_set(p, "new_head", json_object_get(spec, "newHead"));
    if (src != NULL && json_object_get(spec, "refitNormalization") != NULL)
        json_object_set(p, "refit_normalization", json_object_get(spec, "refitNormalization"));
    int priority = (int)json_integer_value(json_object_get(spec, "priority"));
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    st = text != NULL ? ns__job_submit_named(a->s, name, kind, text, priority, &id) : NS_ERR_NOMEM;
    free(text);
    if (st != NS_OK)
        return ns_errorf(ns_store_ctx(a->s), st, "%s:%d: %s: %s", a->source,
                         ns__yaml_line(&a->doc, spec, NULL), path, ns_errmsg(ns_store_ctx(a->s)));
    char action[48];
    snprintf(action, sizeof action, "queued as job %lld", (long long)id);
    note(a, "ModelJob", name, action);
    return NS_OK;
}

ns_status ns_store_apply(ns_store *s, const char *text, size_t len, const char *source,
                         const char *base_dir, char **report)
{
    ns_ctx *ctx = ns_store_ctx(s);
    *report = NULL;
    applier a = {s,
                 source != NULL ? source : "objects",
                 base_dir != NULL ? base_dir : "",
                 {0},
                 json_array()};
    ns_status st = ns__yaml_load(ctx, text, len, a.source, &a.doc);
    if (st != NS_OK) {
        json_decref(a.report);
        return st;
    }
    json_t *root = a.doc.root, *list = root;
    if (json_is_object(root)) {
        list = json_array();
        json_array_append(list, root);
    } else {
        json_incref(list);
    }
    if (!json_is_array(list))
        st = ns_errorf(ctx, NS_ERR_PARSE,
                       "%s:1: expected a list of objects ({kind, metadata, spec})", a.source);
    static const char *const kinds[] = {"Architecture", "Dataset", "Model", "ModelJob"};
    static const char *const top[] = {"kind", "metadata", "spec", "apiVersion"};
    for (size_t i = 0; st == NS_OK && i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        char path[32];
        snprintf(path, sizeof path, "[%zu]", i);
        if (!json_is_object(o)) {
            st = fail_at(&a, list, NULL, path, "expected an object {kind, metadata: {name}, spec}");
            break;
        }
        if ((st = check_keys(&a, o, path, top, 4)) != NS_OK)
            break;
        const char *kind = json_string_value(json_object_get(o, "kind"));
        int k = kind != NULL ? ns__jr_find(kinds, 4, kind) : -1;
        if (k < 0) {
            char h[NS__JR_HINT_CAP] = "";
            if (kind != NULL)
                ns__jr_hint(h, sizeof h, kind, kinds, 4);
            st = fail_at(&a, o, "kind", path,
                         "unknown kind '%s'%s; known kinds: Architecture, "
                         "Dataset, Model, ModelJob",
                         kind != NULL ? kind : "(none)", h);
            break;
        }
        json_t *meta = json_object_get(o, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (name == NULL) {
            st = fail_at(&a, o, "metadata", path, "missing metadata: {name: NAME}");
            break;
        }
        json_t *spec = json_object_get(o, "spec");
        char sub[48];
        snprintf(sub, sizeof sub, "%s.spec", path);
        if (!json_is_object(spec)) {
            st = fail_at(&a, o, "spec", sub, "expected an object");
            break;
        }
        switch (k) {
        case 0:
            st = apply_arch(&a, name, spec, sub);
            break;
        case 1:
            st = apply_dataset(&a, name, spec, sub);
            break;
        case 2:
            st = apply_model(&a, name, spec, sub);
            break;
        default:
            st = apply_job(&a, name, spec, sub);
            break;
        }
    }
    json_decref(list);
    ns__yaml_doc_free(ctx, &a.doc);
    if (st == NS_OK) {
        char *t = json_dumps(a.report, JSON_COMPACT);
        *report = t != NULL ? ns_strdup(ctx, t) : NULL;
        free(t);
        if (*report == NULL)
            st = NS_ERR_NOMEM;
    }
    json_decref(a.report);
    return st;
}
