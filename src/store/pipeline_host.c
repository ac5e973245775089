/* The store as a pipeline's host: load_model's model (NAME[@VERSION]) exported from the store
 * into a file, data_load's dataset (a registered name) with its file brought out of the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "netsmith/pipeline.h"
#include "store/store_private.h"

typedef struct host_state {
    ns_store *store;
    char dir[1024];
} host_state;

/* name with the characters a file name should not hold made '_'. */
static void file_name(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s", name);
    for (char *p = out; *p; p++)
        if (*p == '/' || *p == '@' || *p == ' ')
            *p = '_';
}

static ns_status model_file(void *ud, ns_ctx *ctx, const char *ref, char *path, size_t cap)
{
    host_state *h = ud;
    (void)ctx;
    ns_store_version v;
    ns_status st = ns_store_version_get(h->store, ref, &v);
    if (st != NS_OK)
        return st;
    char base[160];
    snprintf(base, sizeof base, "%s@%d", v.model, v.version);
    char safe[160];
    file_name(safe, sizeof safe, base);
    if (snprintf(path, cap, "%s/%s.safetensors", h->dir, safe) >= (int)cap)
        return ns_errorf(ns_store_ctx(h->store), NS_ERR_INVALID, "%s: the path is too long",
                         h->dir);
    return ns_store_blob_get_file(h->store, v.weights, path);
}

static ns_status dataset(void *ud, ns_ctx *ctx, const char *name, char **settings_json)
{
    host_state *h = ud;
    *settings_json = NULL;
    char *text = NULL;
    ns_status st = ns_store_data_get(h->store, name, &text);
    json_error_t e;
    json_t *d = st == NS_OK ? json_loads(text, 0, &e) : NULL;
    ns_dealloc(ns_store_ctx(h->store), text);
    if (st != NS_OK)
        return st;
    json_t *src = json_deep_copy(json_object_get(d, "source"));
    const char *blob = json_string_value(json_object_get(d, "blob"));
    char path[1400], safe[200];
    if (blob != NULL) {
        file_name(safe, sizeof safe, json_string_value(json_object_get(src, "data")));
        snprintf(path, sizeof path, "%s/data-%s-%s", h->dir, name, safe);
        st = ns_store_blob_get_file(h->store, blob, path);
        if (st == NS_OK)
            json_object_set_new(src, "data", json_string(path));
    }
    const char *labels_blob = json_string_value(json_object_get(src, "labels_blob"));
    if (st == NS_OK && labels_blob != NULL) {
        file_name(safe, sizeof safe, json_string_value(json_object_get(src, "labels")));
        snprintf(path, sizeof path, "%s/labels-%s-%s", h->dir, name, safe);
        st = ns_store_blob_get_file(h->store, labels_blob, path);
        json_object_set_new(src, "labels", json_string(path));
    }
    json_object_del(src, "labels_blob");
    char *out = st == NS_OK ? json_dumps(src, JSON_COMPACT) : NULL;
    if (st == NS_OK)
        *settings_json = out != NULL ? ns_strdup(ctx, out) : NULL;
    if (st == NS_OK && *settings_json == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(out);
    json_decref(src);
    json_decref(d);
    return st;
}

ns_status ns_store_pipeline_host(ns_store *s, const char *dir, ns_pipeline_host *host, void **state)
{
    *state = NULL;
    memset(host, 0, sizeof *host);
    host_state *h = ns_calloc(s->ctx, 1, sizeof *h);
    if (h == NULL)
        return NS_ERR_NOMEM;
    h->store = s;
    if (snprintf(h->dir, sizeof h->dir, "%s", dir) >= (int)sizeof h->dir) {
        ns_dealloc(s->ctx, h);
        return ns_errorf(s->ctx, NS_ERR_INVALID, "%s: the directory's name is too long", dir);
    }
    ns_status st = ns_make_dirs(s->ctx, dir);
    if (st != NS_OK) {
        ns_dealloc(s->ctx, h);
        return st;
    }
    host->model_file = model_file;
    host->dataset = dataset;
    host->ud = h;
    *state = h;
    return NS_OK;
}

void ns_store_pipeline_host_free(ns_store *s, void *state)
{
    if (state != NULL)
        ns_dealloc(s->ctx, state);
}
