/* System routes: what the server is (version, kernels, threads, store backend) and the API's
 * description. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/server_private.h"

/* GET /api/v1/system */
static void get_system(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    ns__server *srv = rq->srv;
    int64_t last = 0;
    ns_status st = ns_store_event_last(store, &last);
    if (st != NS_OK) {
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
        return;
    }
    json_t *dirs = json_array();
    for (int i = 0; i < srv->opts.n_data_dirs; i++)
        json_array_append_new(dirs, json_string(srv->opts.data_dirs[i]));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ns__reply_json(
        rq, 200,
        json_pack("{s:s, s:s, s:i, s:i, s:{s:s, s:i, s:I}, s:{s:i, s:s}, s:o, s:s, s:[s]}",
                  "version", ns_version(), "kernel_path", ns_kernel_path(), "threads",
                  ns_ctx_threads(ns__req_ctx(rq)), "cpus", (int)cpus, "store", "backend",
                  ns_store_backend(store), "schema", ns_store_schema_version(store), "last_event",
                  (json_int_t)last, "workers", "in_process", srv->opts.workers, "devices",
                  srv->opts.devices != NULL ? srv->opts.devices : "cpu", "data_dirs", dirs, "url",
                  srv->url, "devices_built", "cpu"));
}

/* A schema the library writes (ns_run_config_schema, ns_layer_schema) as the answer. */
static void reply_schema(ns__req *rq, ns_status (*write)(ns_ctx *, char **))
{
    ns_ctx *ctx = ns__req_ctx(rq);
    char *json = NULL;
    ns_status st = write(ctx, &json);
    if (st != NS_OK) {
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    ns__reply_text_json(rq, 200, ctx, json);
}

/* GET /api/v1/schemas/run-config: every run setting, for forms built from it. */
static void get_run_schema(ns__req *rq)
{
    reply_schema(rq, ns_run_config_schema);
}

/* GET /api/v1/schemas/layers: every layer kind's spec object. */
static void get_layer_schema(ns__req *rq)
{
    reply_schema(rq, ns_layer_schema);
}

/* GET /api/v1/openapi.json */
static void get_openapi(ns__req *rq)
{
    ns__reply_json(rq, 200, ns__openapi(rq->srv));
}

const ns__route ns__routes_system[] = {
    {"GET", "/api/v1/system", get_system,
     "What the server is: netsmith's version, the kernel path, threads, the store's backend "
     "and schema, its workers and data dirs.",
     "200 503", NULL,
     "{\"type\":\"object\",\"required\":[\"version\",\"kernel_path\",\"threads\",\"store\"]}",
     false},
    {"GET", "/api/v1/schemas/run-config", get_run_schema,
     "The run config's JSON schema: every setting with its type, range, default, description "
     "and aliases (the names run configs, flags, job settings and forms share).",
     "200", NULL, "{\"type\":\"object\",\"required\":[\"properties\"]}", false},
    {"GET", "/api/v1/schemas/layers", get_layer_schema,
     "Every layer kind's spec object as a JSON schema, keyed by the kind's name.", "200", NULL,
     "{\"type\":\"object\"}", false},
    {"GET", "/api/v1/openapi.json", get_openapi, "This description of the API (OpenAPI 3.1).",
     "200", NULL, "{\"type\":\"object\"}", true},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
