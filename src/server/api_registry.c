/* Registry routes: architectures, datasets, models and their versions. Bodies mirror the
 * command line's objects; every check is the store's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

/* ---- shared -------------------------------------------------------------------------- */

/* Answers a store call's result: its JSON (status on success) or its failure. */
static void answer(ns__req *rq, ns_status st, int status, char *json, const char *prefix)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    if (st != NS_OK) {
        ns_dealloc(ctx, json);
        ns__reply_status(rq, ctx, st, prefix);
        return;
    }
    ns__reply_text_json(rq, status, ctx, json);
}

/* Answers a store list's result a page at a time (ns__reply_list), or its failure. */
static void answer_list(ns__req *rq, ns_status st, char *json)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    if (st != NS_OK) {
        ns_dealloc(ctx, json);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    json_error_t e;
    json_t *list = json_loads(json, 0, &e);
    ns_dealloc(ctx, json);
    ns__reply_list(rq, list);
}

/* A name from the path or body as the store takes it. */
static const char *param(ns__req *rq, int i)
{
    return i < rq->n_params ? rq->params[i] : "";
}

/* ---- architectures ----------------------------------------------------------------------- */

/* GET /api/v1/architectures */
static void list_archs(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_arch_list(store, &json);
    answer_list(rq, st, json);
}

/* POST /api/v1/architectures {"name", "spec"} (spec: an object, or its text) */
static void add_arch(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"name", "spec"};
    const char *name = NULL;
    json_t *spec = json_object_get(body, "spec");
    if (!ns__req_keys(rq, body, known, 2) || (name = ns__req_string(rq, body, "name", false)) == NULL) {
        json_decref(body);
        return;
    }
    if (spec == NULL || !(json_is_object(spec) || json_is_array(spec) || json_is_string(spec))) {
        ns__reply_error(rq, 400, "spec",
                        "'spec' must be a model spec (a JSON object, its layer list, or its "
                        "text), %s",
                        spec == NULL ? "but it is missing" : "but it is not one");
        json_decref(body);
        return;
    }
    char *text = json_is_string(spec) ? strdup(json_string_value(spec))
                                      : json_dumps(spec, JSON_COMPACT | JSON_REAL_PRECISION(17));
    ns_store *store = text != NULL ? ns__req_store(rq) : NULL;
    if (store != NULL) {
        ns_status st = ns_store_arch_add(store, name, text, "spec");
        char *json = NULL;
        if (st == NS_OK)
            st = ns_store_arch_get(store, name, &json);
        answer(rq, st, 201, json, "spec");
    } else if (text == NULL) {
        ns__reply_error(rq, 500, NULL, "out of memory reading the spec");
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
            ns__reply_error(rq, 400, "input_size", "input_size must be a whole number from 1 to "
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
    ns_status st = ns_store_arch_get(store, param(rq, 0), &json);
    if (st != NS_OK || !have) {
        answer(rq, st, 200, json, NULL);
        return;
    }
    json_error_t e;
    json_t *arch = json_loads(json, 0, &e);
    ns_dealloc(ctx, json);
    char *spec_text = json_dumps(json_object_get(arch, "spec"), JSON_COMPACT);
    ns_spec *spec = NULL;
    ns_layer_shape *shapes = NULL;
    int count = 0;
    st = spec_text != NULL ? ns_spec_parse(ctx, spec_text, strlen(spec_text), param(rq, 0), &spec)
                           : NS_ERR_NOMEM;
    if (st == NS_OK)
        st = ns_spec_layer_shapes(ctx, spec, &bo, &shapes, &count);
    free(spec_text);
    if (st != NS_OK) {
        json_decref(arch);
        ns_spec_free(spec);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    json_t *layers = json_array();
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < shapes[i].ndim; d++)
            json_array_append_new(shape, json_integer(shapes[i].shape[d]));
        json_array_append_new(layers, json_pack("{s:i, s:s, s:o, s:i, s:I}", "index", i, "kind",
                                                ns_layer_kind_name(shapes[i].kind), "shape", shape,
                                                "size", shapes[i].size, "params",
                                                (json_int_t)shapes[i].params));
        total += shapes[i].params;
    }
    json_t *input = json_array();
    for (int d = 0; d < bo.input_ndim; d++)
        json_array_append_new(input, json_integer(bo.input_shape[d]));
    json_object_set_new(arch, "input_shape", input);
    json_object_set_new(arch, "layers", layers);
    json_object_set_new(arch, "params", json_integer((json_int_t)total));
    ns_dealloc(ctx, shapes);
    ns_spec_free(spec);
    ns__reply_json(rq, 200, arch);
}

#define ARCH_SCHEMA                                                                                \
    "{\"type\":\"object\",\"required\":[\"name\",\"hash\",\"spec\",\"created\"],\"properties\":{"  \
    "\"name\":{\"type\":\"string\"},\"hash\":{\"type\":\"string\"},\"spec\":{\"type\":\"object\"}," \
    "\"created\":{\"type\":\"number\"},\"layers\":{\"type\":\"array\"}}}"

const ns__route ns__routes_registry[] = {
    {"GET", "/api/v1/architectures", list_archs, "The architectures (named model specs).",
     "200 400 503", NULL, LIST_OF(ARCH_SCHEMA), false},
    {"POST", "/api/v1/architectures", add_arch,
     "Registers a spec as an architecture; the same name and spec again changes nothing.",
     "201 400 409 415 503",
     "{\"type\":\"object\",\"required\":[\"name\",\"spec\"],\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"spec\":{}}}",
     ARCH_SCHEMA, false},
    {"GET", "/api/v1/architectures/{name}", get_arch,
     "One architecture; with ?input_size=N or ?input_shape=C,H,W (and ?output_size=K) each "
     "layer's output shape and parameters.",
     "200 400 404 503", NULL, ARCH_SCHEMA, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
