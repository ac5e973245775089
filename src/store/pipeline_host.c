/* The store as a pipeline's host: load_model's model (NAME[@VERSION]) exported from the store
 * into a file, data_load's dataset (a registered name) with its file brought out of the store. */
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A pipeline's remote card: its input files into the store, a card job, and once a worker has
 * run it, its output files out of the store into out_dir. */
static ns_status run_card(void *ud, ns_ctx *ctx, const char *card, const char *settings_json,
                          const char *device, const char *const *in_names,
                          const char *const *in_paths, int n, const char *out_dir,
                          const ns_progress *progress)
{
    host_state *h = ud;
    ns_store *s = h->store;
    json_t *files = json_object(), *inputs = json_object();
    ns_status st = NS_OK;
    /* every file of the inputs' directory: a value's file and what it wrote beside it */
    char dir[1024] = "";
    if (n > 0) {
        const char *slash = strrchr(in_paths[0], '/');
        snprintf(dir, sizeof dir, "%.*s", slash != NULL ? (int)(slash - in_paths[0]) : 0,
                 in_paths[0]);
    }
    DIR *d = dir[0] != '\0' ? opendir(dir) : NULL;
    for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL && st == NS_OK;
         e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char path[1400], sha[65];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        st = ns_store_blob_put_file(s, path, sha);
        json_object_set_new(files, e->d_name, json_string(sha));
    }
    if (d != NULL)
        closedir(d);
    for (int i = 0; i < n; i++) {
        const char *slash = strrchr(in_paths[i], '/');
        json_object_set_new(inputs, in_names[i],
                            json_string(slash != NULL ? slash + 1 : in_paths[i]));
    }
    json_error_t e;
    json_t *settings = settings_json != NULL ? json_loads(settings_json, 0, &e) : json_object();
    json_t *params = json_pack("{s:s, s:o, s:s, s:o, s:o}", "card", card, "settings",
                               settings != NULL ? settings : json_object(), "device",
                               device != NULL ? device : "cpu", "files", files, "inputs", inputs);
    char *text = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    int64_t id = 0;
    if (st == NS_OK)
        st = text != NULL ? ns_job_submit(s, NS_JOB_CARD, text, 0, &id)
                          : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(text);
    /* until a worker has run it */
    ns_job job;
    memset(&job, 0, sizeof job);
    bool asked = false;
    while (st == NS_OK) {
        ns_job_clear(&job);
        if ((st = ns_job_get(s, id, &job)) != NS_OK)
            break;
        if (job.state == NS_JOB_SUCCEEDED || job.state == NS_JOB_FAILED ||
            job.state == NS_JOB_CANCELLED)
            break;
        if (!asked && progress != NULL && progress->cancel != NULL &&
            atomic_load(progress->cancel)) {
            asked = true;
            ns_job_cancel(s, id);
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    if (st == NS_OK && job.state != NS_JOB_SUCCEEDED)
        st = ns_errorf(ctx, job.state == NS_JOB_CANCELLED ? NS_ERR_CANCELLED : NS_ERR_IO,
                       "the remote card (job %lld) %s: %s", (long long)id,
                       ns_job_state_name(job.state), job.error != NULL ? job.error : "");
    json_t *result = st == NS_OK ? json_loads(job.result, 0, &e) : NULL;
    if (st == NS_OK)
        st = ns_make_dirs(ns_store_ctx(s), out_dir);
    const char *name;
    json_t *sha;
    json_object_foreach(json_object_get(result, "files"), name, sha)
    {
        char path[1400];
        if (st != NS_OK || strchr(name, '/') != NULL || !json_is_string(sha))
            break;
        snprintf(path, sizeof path, "%s/%s", out_dir, name);
        st = ns_store_blob_get_file(s, json_string_value(sha), path);
    }
    json_decref(result);
    ns_job_clear(&job);
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
    host->run_card = run_card;
    host->ud = h;
    *state = h;
    return NS_OK;
}

void ns_store_pipeline_host_free(ns_store *s, void *state)
{
    if (state != NULL)
        ns_dealloc(s->ctx, state);
}
