/* Registry routes: architectures, datasets, models and their versions. Bodies mirror the
 * command line's objects; every check is the store's own. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netsmith/data.h"
#include "netsmith/export.h"
#include "format/json_read.h"
#include "server/server_private.h"

/* ---- shared -------------------------------------------------------------------------- */

/* ---- architectures ----------------------------------------------------------------------- */

/* GET /api/v1/architectures */
static void list_archs(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_arch_list(store, &json);
    ns__reply_store_list(rq, st, json);
}

/* The text of body's "spec" (an object, its layer list, or its text; malloc'd), or NULL after
 * answering 400 (no spec, or not one) or 500. */
static char *spec_text(ns__req *rq, json_t *body)
{
    json_t *spec = json_object_get(body, "spec");
    if (spec == NULL || !(json_is_object(spec) || json_is_array(spec) || json_is_string(spec))) {
        ns__reply_error(rq, 400, "spec",
                        "'spec' must be a model spec (a JSON object, its layer list, or its "
                        "text), %s",
                        spec == NULL ? "but it is missing" : "but it is not one");
        return NULL;
    }
    char *text = json_is_string(spec) ? strdup(json_string_value(spec))
                                      : json_dumps(spec, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (text == NULL)
        ns__reply_error(rq, 500, NULL, "out of memory reading the spec");
    return text;
}

/* POST /api/v1/architectures {"name", "spec"} (spec: an object, or its text) */
static void add_arch(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"name", "spec"};
    const char *name = NULL;
    char *text = NULL;
    if (ns__req_keys(rq, body, known, 2) &&
        (name = ns__req_string(rq, body, "name", false)) != NULL &&
        (text = spec_text(rq, body)) != NULL) {
        ns_store *store = ns__req_store(rq);
        if (store != NULL) {
            ns_status st = ns_store_arch_add(store, name, text, "spec");
            char *json = NULL;
            if (st == NS_OK)
                st = ns_store_arch_get(store, name, &json);
            ns__reply_store_json(rq, st, 201, json, "spec");
        }
    }
    free(text);
    json_decref(body);
}

/* The build options of ?input_size=N or ?input_shape=C,H,W (false after answering 400). */
static bool shape_query(ns__req *rq, ns_build_opts *bo, bool *have)
{
    const char *size = ns__req_query(rq, "input_size"), *shape = ns__req_query(rq, "input_shape");
    const char *outputs = ns__req_query(rq, "output_size");
    *have = size != NULL || shape != NULL;
    ns_build_opts_default(bo, 1);
    if (size != NULL) {
        char *end;
        long v = strtol(size, &end, 10);
        if (end == size || *end != '\0' || v < 1 || v > (1 << 24)) {
            ns__reply_error(rq, 400, "input_size",
                            "input_size must be a whole number from 1 to "
                            "16777216, got '%.40s'",
                            size);
            return false;
        }
        ns_build_opts_default(bo, (int)v);
    } else if (shape != NULL) {
        int dims[NS_MAX_DIMS - 1], n = 0;
        const char *p = shape;
        while (*p != '\0' && n < NS_MAX_DIMS - 1) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 1 || v > (1 << 24) || (*end != ',' && *end != '\0'))
                break;
            dims[n++] = (int)v;
            p = *end == ',' ? end + 1 : end;
        }
        if (*p != '\0' || (n != 1 && n != 3)) {
            ns__reply_error(rq, 400, "input_shape",
                            "input_shape must be N, or C,H,W for images (e.g. 1,28,28), got "
                            "'%.40s'",
                            shape);
            return false;
        }
        bo->input_ndim = n;
        memcpy(bo->input_shape, dims, sizeof dims[0] * (size_t)n);
    }
    if (outputs != NULL) {
        char *end;
        long v = strtol(outputs, &end, 10);
        if (end == outputs || *end != '\0' || v < 1 || v > (1 << 24)) {
            ns__reply_error(rq, 400, "output_size",
                            "output_size must be a whole number from 1 to 16777216");
            return false;
        }
        bo->output_size = (int)v;
    }
    return true;
}

/* The spec's layers for the build options: {"input_shape", "layers": [{index, kind, shape,
 * size, params}], "params", "layer_form": the spec as a layer list} set on out. The library's
 * status (its message on ctx). */
static ns_status layer_table(ns_ctx *ctx, const char *spec_text, const char *source,
                             const ns_build_opts *bo, json_t *out)
{
    ns_spec *spec = NULL;
    ns_layer_shape *shapes = NULL;
    int count = 0;
    char *as_layers = NULL;
    ns_status st = ns_spec_parse(ctx, spec_text, strlen(spec_text), source, &spec);
    if (st == NS_OK)
        st = ns_spec_layer_shapes(ctx, spec, bo, &shapes, &count);
    if (st == NS_OK)
        st = ns_spec_layer_form_json(spec, bo->input_ndim, bo->output_size, &as_layers);
    if (st != NS_OK) {
        ns_spec_free(spec);
        return st;
    }
    json_error_t e;
    json_object_set_new(out, "layer_form", json_loads(as_layers, 0, &e));
    ns_dealloc(ns_spec_ctx(spec), as_layers);
    json_t *layers = json_array();
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < shapes[i].ndim; d++)
            json_array_append_new(shape, json_integer(shapes[i].shape[d]));
        json_array_append_new(layers,
                              json_pack("{s:i, s:s, s:o, s:i, s:I}", "index", i, "kind",
                                        ns_layer_kind_name(shapes[i].kind), "shape", shape, "size",
                                        shapes[i].size, "params", (json_int_t)shapes[i].params));
        total += shapes[i].params;
    }
    json_t *input = json_array();
    for (int d = 0; d < bo->input_ndim; d++)
        json_array_append_new(input, json_integer(bo->input_shape[d]));
    json_object_set_new(out, "input_shape", input);
    json_object_set_new(out, "layers", layers);
    json_object_set_new(out, "params", json_integer((json_int_t)total));
    ns_dealloc(ctx, shapes);
    ns_spec_free(spec);
    return NS_OK;
}

/* GET /api/v1/architectures/{name}[?input_size=N | ?input_shape=C,H,W][&output_size=K]: with
 * a shape, "layers" gives each layer's output shape and parameters. */
static void get_arch(ns__req *rq)
{
    ns_build_opts bo;
    bool have = false;
    if (!shape_query(rq, &bo, &have))
        return;
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    ns_ctx *ctx = ns__req_ctx(rq);
    char *json = NULL;
    ns_status st = ns_store_arch_get(store, ns__req_param(rq, 0), &json);
    if (st != NS_OK || !have) {
        ns__reply_store_json(rq, st, 200, json, NULL);
        return;
    }
    json_error_t e;
    json_t *arch = json_loads(json, 0, &e);
    ns_dealloc(ctx, json);
    char *text = json_dumps(json_object_get(arch, "spec"), JSON_COMPACT);
    st = text != NULL ? layer_table(ctx, text, ns__req_param(rq, 0), &bo, arch) : NS_ERR_NOMEM;
    free(text);
    if (st != NS_OK) {
        json_decref(arch);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    ns__reply_json(rq, 200, arch);
}

/* POST /api/v1/architectures/check[?input_size=N | ?input_shape=C,H,W][&output_size=K]
 * {"spec"}: a spec checked as registering it would, without registering it; with a shape,
 * each layer's output shape and parameters. 200 {"ok": true, ...}, or 400 with the library's
 * message, its JSON path, and {"ok": false, "problems": [{message, path}]}. */
static void check_arch(ns__req *rq)
{
    ns_build_opts bo;
    bool have = false;
    if (!shape_query(rq, &bo, &have))
        return;
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"spec"};
    char *text = ns__req_keys(rq, body, known, 1) ? spec_text(rq, body) : NULL;
    json_decref(body);
    if (text == NULL)
        return;
    ns_ctx *ctx = ns__req_ctx(rq);
    json_t *out = json_object();
    ns_status st;
    if (have) {
        st = layer_table(ctx, text, "spec", &bo, out);
    } else {
        ns_spec *parsed = NULL;
        st = ns_spec_parse(ctx, text, strlen(text), "spec", &parsed);
        ns_spec_free(parsed);
    }
    free(text);
    if (st == NS_OK) {
        json_object_set_new(out, "ok", json_true());
        ns__reply_json(rq, 200, out);
        return;
    }
    json_decref(out);
    if (st == NS_ERR_NOMEM) {
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    const char *lib_path = ns_error_path(ctx);
    char path[1024] = "";
    if (lib_path != NULL && lib_path[0] != '\0')
        snprintf(path, sizeof path, "spec.%s", lib_path);
    ns__reply_problems(rq, 400, path, ns_errmsg(ctx),
                       json_pack("[{s:s, s:s?}]", "message", ns_errmsg(ctx), "path",
                                 path[0] != '\0' ? path : NULL));
}

/* ---- datasets ---------------------------------------------------------------------------- */

/* GET /api/v1/datasets */
static void list_datasets(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_data_list(store, &json);
    ns__reply_store_list(rq, st, json);
}

/* The data settings a dataset takes, as `netsmith data add` passes them (run setting names). */
static const char *const data_keys[] = {"name",      "data",      "target",  "task",
                                        "labels",    "features",  "exclude", "one_hot",
                                        "delimiter", "no_header", "missing", "max_classes"};
#define N_DATA_KEYS ((int)(sizeof data_keys / sizeof data_keys[0]))

/* Replaces settings' member key (a path the request names) with its place under a data dir;
 * false after answering (400, 403, 404). */
static bool resolve_file(ns__req *rq, json_t *settings, const char *key)
{
    json_t *v = json_object_get(settings, key);
    if (!json_is_string(v))
        return true; /* a wrong type is the run config's to say */
    /* a path sent %-encoded by mistake names a file of that literal name, but one that would
     * climb out once decoded ("%2e%2e/x.csv") is refused as the plain one is */
    const char *path = json_string_value(v);
    char decoded[PATH_MAX];
    size_t n = 0;
    for (const char *p = path; *p != '\0' && n + 1 < sizeof decoded; n++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], '\0'};
            decoded[n] = (char)strtol(hex, NULL, 16);
            p += 3;
        } else {
            decoded[n] = *p++;
        }
    }
    decoded[n] = '\0';
    bool climbs = decoded[0] == '/' || decoded[0] == '\\';
    for (const char *p = decoded; !climbs && p != NULL; p = strpbrk(p, "/\\")) {
        p += *p == '/' || *p == '\\';
        climbs = strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\\' || p[2] == '\0');
    }
    if (climbs && strcmp(decoded, path) != 0) {
        ns__reply_error(rq, 403, key,
                        "%s: '%.80s' leads outside the data dirs once its %%-escapes are "
                        "decoded; give a plain path inside a data dir",
                        key, path);
        return false;
    }
    char where[PATH_MAX];
    if (!ns__req_path(rq, key, path, true, where, sizeof where))
        return false;
    /* a directory or a device is no data file (and a FIFO would hold the request) */
    struct stat sb;
    if (lstat(where, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ns__reply_error(rq, 400, key, "%s: '%.80s' is not a regular file", key, path);
        return false;
    }
    json_object_set_new(settings, key, json_string(where));
    return true;
}

/* POST /api/v1/datasets {"name", "data", "target", ...}: data a built-in dataset's name or a
 * file under a data dir (its bytes go into the store); labels a file likewise. */
static void add_dataset(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    const char *name = NULL;
    if (!ns__req_keys(rq, body, data_keys, N_DATA_KEYS) ||
        (name = ns__req_string(rq, body, "name", false)) == NULL) {
        json_decref(body);
        return;
    }
    json_t *settings = json_deep_copy(body);
    json_object_del(settings, "name");
    json_t *data = json_object_get(settings, "data");
    if (data == NULL) {
        ns__reply_error(rq, 400, "data",
                        "'data' is missing: give a built-in dataset's name (iris, ...) or a file "
                        "under a data dir");
    } else if ((!json_is_string(data) || ns_data_builtin_find(json_string_value(data)) != NULL ||
                resolve_file(rq, settings, "data")) &&
               resolve_file(rq, settings, "labels")) {
        char *text = json_dumps(settings, JSON_COMPACT | JSON_REAL_PRECISION(17));
        ns_store *store = text != NULL ? ns__req_store(rq) : NULL;
        if (store != NULL) {
            ns_status st = ns_store_data_add(store, name, text);
            char *json = NULL;
            if (st == NS_OK)
                st = ns_store_data_get(store, name, &json);
            if (st == NS_OK)
                snprintf(rq->location, sizeof rq->location, "/api/v1/datasets/%s", name);
            ns__reply_store_json(rq, st, 201, json, NULL);
        } else if (text == NULL) {
            ns__reply_error(rq, 500, NULL, "out of memory reading the settings");
        }
        free(text);
    }
    json_decref(settings);
    json_decref(body);
}

/* GET /api/v1/datasets/{name} */
static void get_dataset(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_data_get(store, ns__req_param(rq, 0), &json);
    ns__reply_store_json(rq, st, 200, json, NULL);
}

/* ---- models ------------------------------------------------------------------------------ */

/* Model name's JSON (as the store gives it) from cache (an object by name), read once; NULL
 * when the store has none. */
static json_t *cached_model(ns_store *store, json_t *cache, const char *name)
{
    json_t *m = json_object_get(cache, name);
    if (m != NULL)
        return json_is_object(m) ? m : NULL;
    char *text = NULL;
    json_t *got = NULL;
    if (ns_store_model_get(store, name, &text) == NS_OK) {
        json_error_t e;
        got = json_loads(text, 0, &e);
    }
    ns_dealloc(ns_store_ctx(store), text);
    json_object_set_new(cache, name, got != NULL ? got : json_null());
    return json_is_object(got) ? got : NULL;
}

/* The version numbered v of model m, or NULL. */
static json_t *version_of(json_t *m, json_int_t v)
{
    size_t i;
    json_t *ver;
    json_array_foreach(json_object_get(m, "versions"), i, ver)
    {
        if (json_integer_value(json_object_get(ver, "version")) == v)
            return ver;
    }
    return NULL;
}

/* The parents of a version, nearest first: "NAME@V" each, following "parent" through the
 * models it names (at most 64 steps). */
static json_t *lineage(ns_store *store, json_t *cache, json_t *version)
{
    json_t *chain = json_array();
    json_t *parent = json_object_get(version, "parent");
    for (int depth = 0; json_is_string(parent) && depth < 64; depth++) {
        const char *ref = json_string_value(parent);
        json_array_append_new(chain, json_string(ref));
        const char *at = strrchr(ref, '@');
        if (at == NULL || (size_t)(at - ref) >= 128)
            break;
        char model[128];
        memcpy(model, ref, (size_t)(at - ref));
        model[at - ref] = '\0';
        char *end;
        long long v = strtoll(at + 1, &end, 10);
        json_t *m = *end == '\0' ? cached_model(store, cache, model) : NULL;
        json_t *pv = m != NULL ? version_of(m, (json_int_t)v) : NULL;
        parent = pv != NULL ? json_object_get(pv, "parent") : NULL;
    }
    return chain;
}

/* Gives each version of model m its "ref" ("NAME@V"), "lineage" and "aliases" (the names
 * pointing at it). */
static void decorate_model(ns_store *store, json_t *m)
{
    json_t *cache = json_object();
    const char *name = json_string_value(json_object_get(m, "name"));
    json_object_set(cache, name != NULL ? name : "", m);
    json_t *aliases = json_object_get(m, "aliases");
    size_t i;
    json_t *ver;
    json_array_foreach(json_object_get(m, "versions"), i, ver)
    {
        json_int_t v = json_integer_value(json_object_get(ver, "version"));
        json_object_set_new(ver, "ref",
                            json_sprintf("%s@%lld", name != NULL ? name : "", (long long)v));
        json_object_set_new(ver, "lineage", lineage(store, cache, ver));
        json_t *names = json_array();
        const char *alias;
        json_t *num;
        json_object_foreach(aliases, alias, num)
        {
            if (json_integer_value(num) == v)
                json_array_append_new(names, json_string(alias));
        }
        json_object_set_new(ver, "aliases", names);
    }
    json_decref(cache);
}

/* Answers model name with its versions' lineage and aliases (status on success). */
static void answer_model(ns__req *rq, ns_store *store, const char *name, int status)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    char *text = NULL;
    ns_status st = ns_store_model_get(store, name, &text);
    if (st != NS_OK) {
        ns_dealloc(ctx, text);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    json_error_t e;
    json_t *m = json_loads(text, 0, &e);
    ns_dealloc(ctx, text);
    if (m == NULL) {
        ns__reply_error(rq, 500, NULL, "the store's model is not JSON");
        return;
    }
    decorate_model(store, m);
    ns__reply_json(rq, status, m);
}

/* GET /api/v1/models */
static void list_models(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_model_list(store, &json);
    ns__reply_store_list(rq, st, json);
}

/* POST /api/v1/models {"name", "architecture"} */
static void create_model(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"name", "architecture"};
    const char *name = NULL, *arch = NULL;
    if (ns__req_keys(rq, body, known, 2) &&
        (name = ns__req_string(rq, body, "name", false)) != NULL &&
        (arch = ns__req_string(rq, body, "architecture", false)) != NULL) {
        ns_store *store = ns__req_store(rq);
        if (store != NULL) {
            ns_status st = ns_store_model_create(store, name, arch);
            if (st != NS_OK) {
                ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
            } else {
                snprintf(rq->location, sizeof rq->location, "/api/v1/models/%s", name);
                answer_model(rq, store, name, 201);
            }
        }
    }
    json_decref(body);
}

/* GET /api/v1/models/{name}: its versions, each with its lineage and aliases */
static void get_model(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store != NULL)
        answer_model(rq, store, ns__req_param(rq, 0), 200);
}

/* The version {v} (a number or an alias) of model {name} into *v; false after answering. */
static bool find_version(ns__req *rq, ns_store *store, ns_store_version *v)
{
    char ref[520];
    snprintf(ref, sizeof ref, "%s@%s", ns__req_param(rq, 0), ns__req_param(rq, 1));
    ns_status st = ns_store_version_get(store, ref, v);
    if (st != NS_OK) {
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
        return false;
    }
    return true;
}

/* GET /api/v1/models/{name}/versions/{v} */
static void get_version(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    ns_store_version v;
    if (store == NULL || !find_version(rq, store, &v))
        return;
    ns_ctx *ctx = ns__req_ctx(rq);
    char *text = NULL;
    ns_status st = ns_store_model_get(store, v.model, &text);
    if (st != NS_OK) {
        ns_dealloc(ctx, text);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    json_error_t e;
    json_t *m = json_loads(text, 0, &e);
    ns_dealloc(ctx, text);
    decorate_model(store, m);
    json_t *ver = version_of(m, v.version);
    if (ver == NULL) {
        json_decref(m);
        ns__reply_error(rq, 500, NULL, "%s@%d is missing from the model's versions", v.model,
                        v.version);
        return;
    }
    json_incref(ver);
    json_object_set_new(ver, "model", json_string(v.model));
    json_object_set_new(ver, "arch", json_string(v.arch));
    json_decref(m);
    ns__reply_json(rq, 200, ver);
}

/* GET /api/v1/models/{name}/versions/{v}/file: the weights (safetensors) */
static void get_version_file(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    ns_store_version v;
    if (store == NULL || !find_version(rq, store, &v))
        return;
    char filename[96];
    snprintf(filename, sizeof filename, "%s-v%d.safetensors", v.model, v.version);
    ns__reply_blob(rq, store, v.weights, "application/octet-stream", filename);
}

/* GET /api/v1/models/{name}/versions/{v}/export/{file}: the version exported for deployment
 * (netsmith/export.h). The file's extension picks the format (.onnx; .c or .h, the C source's
 * two files) and its base name names the export; ?opset=13..17 (ONNX) and ?name=IDENT (C). */
static void export_version(ns__req *rq)
{
    const char *file = ns__req_param(rq, 2);
    ns_export_options o;
    ns_export_options_default(&o);
    const char *dot = strrchr(file, '.');
    if (!ns_export_format_of_path(file, &o.format) || dot == file) {
        ns__reply_error(rq, 400, NULL,
                        "'%s' is not a file an export makes; ask for NAME.onnx (ONNX), or NAME.c "
                        "and NAME.h (C source)",
                        file);
        return;
    }
    char base[80];
    if ((size_t)(dot - file) >= sizeof base) {
        ns__reply_error(rq, 400, NULL, "the file name is longer than %zu characters",
                        sizeof base - 1);
        return;
    }
    memcpy(base, file, (size_t)(dot - file));
    base[dot - file] = '\0';
    o.file = base;
    const char *opset = ns__req_query(rq, "opset"), *name = ns__req_query(rq, "name");
    if (opset != NULL) {
        char *end = NULL;
        long v = strtol(opset, &end, 10);
        if (o.format != NS_EXPORT_ONNX || end == opset || *end != '\0' || v < NS_EXPORT_OPSET_MIN ||
            v > NS_EXPORT_OPSET_MAX) {
            ns__reply_error(rq, 400, NULL,
                            "opset '%s': an ONNX download takes an opset from %d to %d", opset,
                            NS_EXPORT_OPSET_MIN, NS_EXPORT_OPSET_MAX);
            return;
        }
        o.opset = (int)v;
    }
    if (name != NULL && o.format != NS_EXPORT_C) {
        ns__reply_error(rq, 400, NULL, "name names the C functions; an ONNX download takes none");
        return;
    }
    o.name = name;
    ns_store *store = ns__req_store(rq);
    ns_store_version v;
    if (store == NULL || !find_version(rq, store, &v))
        return;
    ns_ctx *ctx = ns__req_ctx(rq);
    char ref[96];
    snprintf(ref, sizeof ref, "%s@%d", v.model, v.version);
    ns_model *model = NULL;
    ns_model_info info;
    ns_export_result r;
    memset(&r, 0, sizeof r);
    ns_status st = ns_store_version_load(store, ref, ctx, &model, &info, NULL);
    if (st == NS_OK)
        st = ns_export(ctx, model, &info, &o, &r);
    if (st != NS_OK) {
        ns__reply_status(rq, ctx, st, NULL);
    } else {
        const ns_export_file *f = &r.files[strcmp(dot, ".h") == 0 ? 1 : 0];
        ns__reply_bytes(rq, 200,
                        o.format == NS_EXPORT_ONNX ? "application/octet-stream"
                                                   : "text/x-c; charset=utf-8",
                        f->data, f->size);
        /* the name passed ns_export's check: no quote, backslash, '/' or control character */
        snprintf(rq->disposition, sizeof rq->disposition, "attachment; filename=\"%s\"", f->name);
    }
    ns_export_result_free(ctx, &r);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
}

/* POST /api/v1/models/{name}/versions: a safetensors body (application/octet-stream) as a new
 * version, checked against the model's architecture. */
static void import_version(ns__req *rq)
{
    const char *type = ns__req_header(rq, "Content-Type");
    if (type == NULL || strncmp(type, "application/octet-stream", 24) != 0) {
        ns__reply_error(rq, 415, NULL,
                        "send the weights as a safetensors file with 'Content-Type: "
                        "application/octet-stream' (got %s)",
                        type != NULL ? type : "no Content-Type");
        return;
    }
    if (rq->body == NULL || rq->body_len == 0) {
        ns__reply_error(rq, 400, NULL, "the request has no body; send a safetensors file");
        return;
    }
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    int len = snprintf(path, sizeof path, "%s/netsmith-import-XXXXXX.safetensors",
                       tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int fd = len > 0 && (size_t)len < sizeof path ? mkstemps(path, 12) : -1;
    if (fd < 0) {
        ns__reply_error(rq, 500, NULL, "cannot make a temporary file for the upload");
        return;
    }
    size_t done = 0;
    while (done < rq->body_len) {
        ssize_t k = write(fd, rq->body + done, rq->body_len - done);
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    bool ok = close(fd) == 0 && done == rq->body_len;
    int version = 0;
    ns_status st = ok ? ns_store_model_import(store, ns__req_param(rq, 0), path, &version) : NS_OK;
    unlink(path);
    if (!ok) {
        ns__reply_error(rq, 500, NULL, "cannot write the upload into a temporary file");
        return;
    }
    if (st != NS_OK) {
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
        return;
    }
    snprintf(rq->params[1], sizeof rq->params[1], "%d", version);
    rq->n_params = 2;
    get_version(rq);
    if (rq->status == 200) {
        rq->status = 201;
        snprintf(rq->location, sizeof rq->location, "/api/v1/models/%s/versions/%d",
                 ns__req_param(rq, 0), version);
    }
}

/* POST /api/v1/models/{name}/aliases {"alias", "version"} (version: a number, or an alias) */
static void set_alias(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"alias", "version"};
    const char *alias = NULL;
    json_t *version = json_object_get(body, "version");
    char ref[520];
    if (!ns__req_keys(rq, body, known, 2) ||
        (alias = ns__req_string(rq, body, "alias", false)) == NULL) {
        json_decref(body);
        return;
    }
    if (json_is_integer(version)) {
        snprintf(ref, sizeof ref, "%s@%lld", ns__req_param(rq, 0),
                 (long long)json_integer_value(version));
    } else if (json_is_string(version)) {
        snprintf(ref, sizeof ref, "%s@%s", ns__req_param(rq, 0), json_string_value(version));
    } else {
        ns__reply_error(rq, 400, "version", "'version' must be a version number (or an alias), %s",
                        version == NULL ? "but it is missing" : "but it is not one");
        json_decref(body);
        return;
    }
    ns_store *store = ns__req_store(rq);
    if (store != NULL) {
        ns_status st = ns_store_alias_set(store, ref, alias);
        if (st != NS_OK)
            ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
        else
            answer_model(rq, store, ns__req_param(rq, 0), 200);
    }
    json_decref(body);
}

#define ARCH_SCHEMA                                                                                \
    "{\"type\":\"object\",\"required\":[\"name\",\"hash\",\"spec\",\"created\"],\"properties\":{"  \
    "\"name\":{\"type\":\"string\"},\"hash\":{\"type\":\"string\"},\"spec\":{\"type\":\"object\"}" \
    ","                                                                                            \
    "\"created\":{\"type\":\"number\"},\"layers\":{\"type\":\"array\"}}}"

#define DATASET_SCHEMA                                                                             \
    "{\"type\":\"object\",\"required\":[\"name\",\"source\",\"hash\",\"created\"],\"properties\":" \
    "{"                                                                                            \
    "\"name\":{\"type\":\"string\"},\"source\":{\"type\":\"object\"},\"hash\":{\"type\":"          \
    "\"string\"},\"blob\":{\"type\":[\"string\",\"null\"]},\"created\":{\"type\":\"number\"}}}"

#define VERSION_SCHEMA                                                                             \
    "{\"type\":\"object\",\"required\":[\"version\",\"weights\"],\"properties\":{\"version\":{"    \
    "\"type\":\"integer\"},\"ref\":{\"type\":\"string\"},\"weights\":{\"type\":\"string\"},"       \
    "\"record\":{\"type\":[\"string\",\"null\"]},\"job\":{\"type\":[\"integer\",\"null\"]},"       \
    "\"parent\":{\"type\":[\"string\",\"null\"]},\"lineage\":{\"type\":\"array\",\"items\":{"      \
    "\"type\":\"string\"}},\"aliases\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"      \
    "\"metrics\":{},\"created\":{\"type\":\"number\"}}}"

#define MODEL_SCHEMA                                                                               \
    "{\"type\":\"object\",\"required\":[\"name\",\"arch\",\"created\",\"versions\",\"aliases\"],"  \
    "\"properties\":{\"name\":{\"type\":\"string\"},\"arch\":{\"type\":\"string\"},\"created\":{"  \
    "\"type\":\"number\"},\"versions\":{\"type\":\"array\",\"items\":" VERSION_SCHEMA "},"         \
    "\"aliases\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}}}"

#define DATASET_BODY                                                                               \
    "{\"type\":\"object\",\"required\":[\"name\",\"data\"],\"properties\":{\"name\":{\"type\":"    \
    "\"string\"},\"data\":{\"type\":\"string\",\"description\":\"a built-in dataset's name, or a " \
    "CSV or IDX file under a --data-dir root\"},\"labels\":{\"type\":\"string\"},\"target\":{},"   \
    "\"task\":{\"type\":\"string\"},\"features\":{},\"exclude\":{},\"one_hot\":{\"type\":"         \
    "\"boolean\"},\"delimiter\":{\"type\":\"string\"},\"no_header\":{\"type\":\"boolean\"},"       \
    "\"missing\":{\"type\":\"string\"},\"max_classes\":{\"type\":\"integer\"}}}"

const ns__route ns__routes_registry[] = {
    {"GET", "/api/v1/architectures", list_archs, "The architectures (named model specs).",
     "200 400 503", NULL, LIST_OF(ARCH_SCHEMA), false},
    {"POST", "/api/v1/architectures", add_arch,
     "Registers a spec as an architecture; the same name and spec again changes nothing.",
     "201 400 409 415 503",
     "{\"type\":\"object\",\"required\":[\"name\",\"spec\"],\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"spec\":{}}}",
     ARCH_SCHEMA, false},
    {"POST", "/api/v1/architectures/check", check_arch,
     "Checks a spec as registering it would, without registering it; with ?input_size=N or "
     "?input_shape=C,H,W (and ?output_size=K) each layer's output shape and parameters.",
     "200 400 415", "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{}}}",
     "{\"type\":\"object\",\"required\":[\"ok\"]}", false},
    {"GET", "/api/v1/architectures/{name}", get_arch,
     "One architecture; with ?input_size=N or ?input_shape=C,H,W (and ?output_size=K) each "
     "layer's output shape and parameters.",
     "200 400 404 503", NULL, ARCH_SCHEMA, false},
    {"GET", "/api/v1/datasets", list_datasets, "The datasets (named data sources).", "200 400 503",
     NULL, LIST_OF(DATASET_SCHEMA), false},
    {"POST", "/api/v1/datasets", add_dataset,
     "Registers a data source as a dataset: a built-in, or a file under a data dir (its bytes "
     "go into the store), with its read settings; the same again changes nothing.",
     "201 400 404 409 415 503", DATASET_BODY, DATASET_SCHEMA, false},
    {"GET", "/api/v1/datasets/{name}", get_dataset, "One dataset.", "200 400 404 503", NULL,
     DATASET_SCHEMA, false},
    {"GET", "/api/v1/models", list_models, "The models (named instances of an architecture).",
     "200 400 503", NULL, LIST_OF(MODEL_SCHEMA), false},
    {"POST", "/api/v1/models", create_model,
     "Creates a model of an architecture; the same again changes nothing.",
     "201 400 404 409 415 503",
     "{\"type\":\"object\",\"required\":[\"name\",\"architecture\"],\"properties\":{\"name\":{"
     "\"type\":\"string\"},\"architecture\":{\"type\":\"string\"}}}",
     MODEL_SCHEMA, false},
    {"GET", "/api/v1/models/{name}", get_model,
     "One model: its versions, each with its lineage (the versions it was fine-tuned from) "
     "and aliases.",
     "200 400 404 503", NULL, MODEL_SCHEMA, false},
    {"POST", "/api/v1/models/{name}/versions", import_version,
     "Adds a version from a safetensors file (the body, application/octet-stream), checked "
     "against the model's architecture.",
     "201 400 404 415 503", NULL, VERSION_SCHEMA, false},
    {"GET", "/api/v1/models/{name}/versions/{v}", get_version,
     "One version of a model, by its number or an alias.", "200 400 404 503", NULL, VERSION_SCHEMA,
     false},
    {"GET", "/api/v1/models/{name}/versions/{v}/file", get_version_file,
     "A version's weights (safetensors).", "200 400 404 503", NULL, "application/octet-stream",
     false},
    {"GET", "/api/v1/models/{name}/versions/{v}/export/{file}", export_version,
     "A version exported for deployment: {file} NAME.onnx is an ONNX model (?opset=13..17, "
     "default 17), NAME.c and NAME.h the C source (?name=IDENT for its functions, default "
     "NAME). Both take the raw features and give what predict does.",
     "200 400 404 503", NULL, "application/octet-stream", false},
    {"POST", "/api/v1/models/{name}/aliases", set_alias,
     "Points an alias of the model at one of its versions.", "200 400 404 415 503",
     "{\"type\":\"object\",\"required\":[\"alias\",\"version\"],\"properties\":{\"alias\":{"
     "\"type\":\"string\"},\"version\":{\"type\":[\"integer\",\"string\"]}}}",
     MODEL_SCHEMA, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
