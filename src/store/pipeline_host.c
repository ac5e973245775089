/* The store as a pipeline's host (load_model's model, data_load's dataset, remote cards), and
 * a registered dataset made ready to read (its files written out of the store, or the pipeline
 * that makes it run): the two use each other, a dataset's pipeline having the store as host. */
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

/* Runs the pipeline of a dataset's source and saves its output dataset into dir; *path gets the
 * file (a saved dataset that ns_data_open reads). */
static ns_status from_pipeline(ns_store *s, const char *name, json_t *src, const char *dir,
                               char *path, size_t cap)
{
    ns_ctx *ctx = s->ctx;
    const char *text = json_string_value(json_object_get(src, "pipeline"));
    const char *ref = json_string_value(json_object_get(src, "output"));
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    ns_pipeline_host host;
    void *hs = NULL;
    char files[1100], state[1100];
    snprintf(files, sizeof files, "%s/pipeline-%s-files", dir, name);
    snprintf(state, sizeof state, "%s/pipeline-%s-state", dir, name);
    ns_status st =
        text != NULL && ref != NULL
            ? ns_cards_new(ctx, &cards)
            : ns_errorf(ctx, NS_ERR_FORMAT,
                        "dataset '%s': its pipeline source has no pipeline or output", name);
    if (st == NS_OK)
        st = ns_pipeline_parse(cards, text, strlen(text), name, NULL, 0, &p);
    if (st == NS_OK)
        st = ns_store_pipeline_host(s, files, &host, &hs);
    if (st == NS_OK) {
        ns_pipeline_set_host(p, &host);
        ns_run_options o = {.state_dir = state};
        st = ns_pipeline_run(p, &o);
    }
    ns_value *v = st == NS_OK ? ns_pipeline_output(p, ref) : NULL;
    if (st == NS_OK && (v == NULL || ns_value_get_kind(v) != NS_VALUE_DATASET))
        st = ns_errorf(ctx, NS_ERR_INVALID,
                       "dataset '%s': the pipeline made no dataset '%s'; name a card's dataset "
                       "output, e.g. load.dataset",
                       name, ref);
    char *saved = NULL;
    char port[96];
    file_name(port, sizeof port, name);
    if (st == NS_OK)
        st = ns_value_save(ctx, v, dir, port, &saved);
    if (st == NS_OK && snprintf(path, cap, "%s", saved) >= (int)cap)
        st = ns_errorf(ctx, NS_ERR_INVALID, "%s: the path is too long", saved);
    ns_dealloc(ctx, saved);
    ns_store_pipeline_host_free(s, hs);
    ns_pipeline_free(p);
    ns_cards_free(cards);
    return st;
}

ns_status ns_store_data_settings(ns_store *s, const char *name, const char *dir,
                                 char **settings_json)
{
    ns_ctx *ctx = s->ctx;
    *settings_json = NULL;
    char *text = NULL;
    ns_status st = ns_store_data_get(s, name, &text);
    json_error_t e;
    json_t *d = st == NS_OK ? json_loads(text, 0, &e) : NULL;
    ns_dealloc(ctx, text);
    if (st != NS_OK)
        return st;
    if (d == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    if ((st = ns_make_dirs(ctx, dir)) != NS_OK) {
        json_decref(d);
        return st;
    }
    json_t *src = json_deep_copy(json_object_get(d, "source"));
    const char *blob = json_string_value(json_object_get(d, "blob"));
    char path[1400], safe[200];
    if (json_object_get(src, "pipeline") != NULL) {
        st = from_pipeline(s, name, src, dir, path, sizeof path);
        json_decref(src);
        src = st == NS_OK ? json_pack("{s:s}", "data", path) : NULL;
    } else if (blob != NULL) {
        file_name(safe, sizeof safe, json_string_value(json_object_get(src, "data")));
        snprintf(path, sizeof path, "%s/data-%s-%s", dir, name, safe);
        st = ns_store_blob_get_file(s, blob, path);
        if (st == NS_OK)
            json_object_set_new(src, "data", json_string(path));
    }
    const char *labels_blob = json_string_value(json_object_get(src, "labels_blob"));
    if (st == NS_OK && labels_blob != NULL) {
        file_name(safe, sizeof safe, json_string_value(json_object_get(src, "labels")));
        snprintf(path, sizeof path, "%s/labels-%s-%s", dir, name, safe);
        st = ns_store_blob_get_file(s, labels_blob, path);
        json_object_set_new(src, "labels", json_string(path));
    }
    json_object_del(src, "labels_blob");
    char *out = st == NS_OK && src != NULL ? json_dumps(src, JSON_COMPACT) : NULL;
    if (st == NS_OK)
        *settings_json = out != NULL ? ns_strdup(ctx, out) : NULL;
    if (st == NS_OK && *settings_json == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(out);
    json_decref(src);
    json_decref(d);
    return st;
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
    char *text = NULL;
    ns_status st = ns_store_data_settings(h->store, name, h->dir, &text);
    *settings_json = st == NS_OK ? ns_strdup(ctx, text) : NULL;
    if (st == NS_OK && *settings_json == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    ns_dealloc(ns_store_ctx(h->store), text);
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
