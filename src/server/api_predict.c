/* Predict routes: a model version of the store run over rows a request sends (JSON objects by
 * column, JSON arrays by position, or CSV text), read as the model was trained. The rows
 * become a CSV in a private temporary directory that the run layer reads with the model's
 * columns, categories and normalisation (ns_fit_predictions_open); loaded models are kept by
 * their weights' sha256 so repeated predictions do not read the blob again. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/server_private.h"

/* ---- loaded models, by their weights' sha256 --------------------------------------------- */

/* Models kept loaded (least recently used goes first). */
#define CACHE_SIZE 4

typedef struct loaded {
    char sha[65];
    ns_ctx *ctx; /* the model's own: it moves between request threads with it */
    ns_model *model;
    ns_model_info info;
    pthread_mutex_t use; /* a prediction uses the model's buffers: one at a time */
    int refs;            /* requests holding it (cache_lock) */
    uint64_t used;       /* when last taken (cache_lock) */
    bool cached;         /* in cache[] (cache_lock); else freed by its last holder */
} loaded;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded *cache[CACHE_SIZE];
static uint64_t cache_tick;

static void loaded_free(loaded *m)
{
    if (m == NULL)
        return;
    ns_model_info_deinit(m->ctx, &m->info);
    ns_model_free(m->model);
    ns_ctx_free(m->ctx);
    pthread_mutex_destroy(&m->use);
    free(m);
}

/* The cached model of sha, held (refs + 1), or NULL. */
static loaded *cache_take(const char *sha)
{
    loaded *got = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SIZE && got == NULL; i++)
        if (cache[i] != NULL && strcmp(cache[i]->sha, sha) == 0)
            got = cache[i];
    if (got != NULL) {
        got->refs++;
        got->used = ++cache_tick;
    }
    pthread_mutex_unlock(&cache_lock);
    return got;
}

/* Puts m (held by the caller) into the cache, in place of the least recently used model no
 * request holds; returns the model to use: m, or one of the same weights another request put
 * there first (m is then freed). When every place is held, m stays outside the cache. */
static loaded *cache_put(loaded *m)
{
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SIZE; i++)
        if (cache[i] != NULL && strcmp(cache[i]->sha, m->sha) == 0) {
            loaded *other = cache[i];
            other->refs++;
            other->used = ++cache_tick;
            pthread_mutex_unlock(&cache_lock);
            loaded_free(m);
            return other;
        }
    int slot = -1;
    for (int i = 0; i < CACHE_SIZE && slot < 0; i++)
        if (cache[i] == NULL)
            slot = i;
    for (int i = 0; i < CACHE_SIZE && slot < 0; i++)
        if (cache[i]->refs == 0)
            slot = i;
    for (int i = 0; i < CACHE_SIZE; i++)
        if (slot >= 0 && cache[slot] != NULL && cache[i] != NULL && cache[i]->refs == 0 &&
            cache[i]->used < cache[slot]->used)
            slot = i;
    m->refs = 1;
    m->used = ++cache_tick;
    if (slot >= 0) {
        loaded_free(cache[slot]); /* no request holds it, and none can take it now */
        cache[slot] = m;
        m->cached = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return m;
}

static void cache_give(loaded *m)
{
    pthread_mutex_lock(&cache_lock);
    bool drop = --m->refs == 0 && !m->cached;
    pthread_mutex_unlock(&cache_lock);
    if (drop)
        loaded_free(m);
}

/* Loads the weights blob sha through path (removed afterwards) into *out, a new model on
 * its own context; the message on ctx when it fails. */
static ns_status model_load(ns_ctx *ctx, ns_store *store, const char *sha, const char *path,
                            loaded **out)
{
    *out = NULL;
    loaded *m = calloc(1, sizeof *m);
    if (m == NULL || ns_ctx_new(NULL, &m->ctx) != NS_OK) {
        free(m);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory loading the model");
    }
    pthread_mutex_init(&m->use, NULL);
    snprintf(m->sha, sizeof m->sha, "%s", sha);
    ns_status st = ns_store_blob_get_file(store, sha, path);
    if (st == NS_OK && (st = ns_fit_load(m->ctx, path, 0, &m->model, &m->info)) != NS_OK)
        ns_errorf(ctx, st, "%s", ns_errmsg(m->ctx));
    unlink(path);
    if (st != NS_OK) {
        loaded_free(m);
        return st;
    }
    *out = m;
    return NS_OK;
}

/* ---- a private directory for the request's files ------------------------------------------ */

/* Makes a directory only this process reads into dir[cap]; false when it cannot. */
static bool temp_dir(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(dir, cap, "%s/netsmith-predict-XXXXXX", base);
    return n > 0 && (size_t)n < cap && mkdtemp(dir) != NULL;
}

/* Removes dir and the files in it. */
static void temp_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* ---- the rows as CSV ----------------------------------------------------------------------- */

/* Writes s as one CSV field, quoted when it needs to be. */
static void csv_text(FILE *f, const char *s)
{
    size_t n = strlen(s);
    if (strpbrk(s, ",\"\r\n") == NULL && !(n > 0 && (s[0] == ' ' || s[n - 1] == ' '))) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* Writes a row's value as a CSV field: false after answering 400 for one that is not a
 * number or a string (path names it). */
static bool csv_value(ns__req *rq, FILE *f, json_t *v, const char *path)
{
    char buf[40];
    if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        fputs(buf, f);
    } else if (json_is_string(v) && json_string_length(v) > 0 &&
               strlen(json_string_value(v)) == json_string_length(v)) {
        csv_text(f, json_string_value(v));
    } else {
        ns__reply_error(rq, 400, path,
                        "%s must be a number, or a string for a text column, but it is %s", path,
                        json_is_null(v)      ? "null (a missing value)"
                        : json_is_string(v)  ? "an empty string or holds a NUL"
                        : json_is_boolean(v) ? "a boolean"
                                             : "an array or object");
        return false;
    }
    return true;
}

/* The body {"rows": [...]} as a CSV file at path for model info: objects keyed by column
 * (the first row's keys are the header; every row has the same), or arrays by position (the
 * model's columns). false after answering 400 (or 500). */
static bool json_rows_csv(ns__req *rq, json_t *body, const ns_model_info *info, const char *path)
{
    static const char *const known[] = {"rows"};
    if (!ns__req_keys(rq, body, known, 1))
        return false;
    json_t *rows = json_object_get(body, "rows");
    if (!json_is_array(rows) || json_array_size(rows) == 0) {
        ns__reply_error(rq, 400, "rows",
                        "'rows' must be a non-empty array of rows: objects keyed by column "
                        "({\"column\": value, ...}) or arrays of values by position, %s",
                        rows == NULL          ? "but it is missing"
                        : json_is_array(rows) ? "but it is empty"
                                              : "but it is not an array");
        return false;
    }
    json_t *first = json_array_get(rows, 0);
    bool objects = json_is_object(first);
    if (!objects && !json_is_array(first)) {
        ns__reply_error(rq, 400, "rows[0]",
                        "rows[0] must be an object keyed by column or an array of values");
        return false;
    }
    /* the header: the first row's keys, or the model's columns */
    int width = 0;
    const char **cols = NULL;
    char(*numbered)[16] = NULL;
    bool by_number = false; /* a model without feature names: columns x0, x1, ... */
    if (objects) {
        width = (int)json_object_size(first);
        cols = calloc((size_t)(width > 0 ? width : 1), sizeof *cols);
        int j = 0;
        const char *key;
        json_t *v;
        json_object_foreach(first, key, v)
        {
            if (cols != NULL)
                cols[j++] = key;
        }
    } else {
        width = ns_model_info_input_columns(info, NULL, 0);
        if (width == 0) {
            by_number = true;
            width = (int)json_array_size(first);
            numbered = calloc((size_t)(width > 0 ? width : 1), sizeof *numbered);
            cols = calloc((size_t)(width > 0 ? width : 1), sizeof *cols);
            for (int j = 0; numbered != NULL && cols != NULL && j < width; j++) {
                snprintf(numbered[j], sizeof numbered[j], "x%d", j);
                cols[j] = numbered[j];
            }
        } else {
            cols = calloc((size_t)width, sizeof *cols);
            if (cols != NULL)
                ns_model_info_input_columns(info, cols, width);
        }
    }
    if (cols == NULL || (by_number && numbered == NULL)) {
        free(cols);
        free(numbered);
        ns__reply_error(rq, 500, NULL, "out of memory reading the rows");
        return false;
    }
    if (width == 0) {
        free(cols);
        free(numbered);
        ns__reply_error(rq, 400, "rows[0]", "rows[0] is empty: give the model's columns");
        return false;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        free(cols);
        free(numbered);
        ns__reply_error(rq, 500, NULL, "cannot write the rows to a temporary file: %s",
                        strerror(errno));
        return false;
    }
    for (int j = 0; j < width; j++) {
        if (j > 0)
            fputc(',', f);
        csv_text(f, cols[j]);
    }
    fputc('\n', f);
    bool ok = true;
    size_t i;
    json_t *row;
    char where[320];
    json_array_foreach(rows, i, row)
    {
        if (!ok)
            break;
        snprintf(where, sizeof where, "rows[%zu]", i);
        if (objects != json_is_object(row) || (!objects && !json_is_array(row))) {
            ns__reply_error(rq, 400, where, "%s must be %s, as rows[0] is", where,
                            objects ? "an object keyed by column" : "an array of values");
            ok = false;
            break;
        }
        size_t n = objects ? json_object_size(row) : json_array_size(row);
        if (!objects && n != (size_t)width) {
            ns__reply_error(rq, 400, where,
                            "%s has %zu values but %s %d: one value for each of the model's "
                            "columns, in order (%s%s)",
                            where, n, by_number ? "rows[0] has" : "the model takes", width, cols[0],
                            width > 1 ? ", ..." : "");
            ok = false;
            break;
        }
        if (objects && n != (size_t)width) {
            const char *key;
            json_t *v;
            const char *extra = NULL;
            json_object_foreach(row, key, v)
            {
                if (extra == NULL && json_object_get(first, key) == NULL)
                    extra = key;
            }
            if (extra != NULL) {
                ns__reply_error(rq, 400, where,
                                "%s has the column '%s' that rows[0] lacks: every row needs the "
                                "same columns",
                                where, extra);
                ok = false;
                break;
            }
        }
        for (int j = 0; ok && j < width; j++) {
            json_t *v = objects ? json_object_get(row, cols[j]) : json_array_get(row, (size_t)j);
            char at[400];
            if (objects)
                snprintf(at, sizeof at, "%s.%s", where, cols[j]);
            else
                snprintf(at, sizeof at, "%s[%d]", where, j);
            if (v == NULL) {
                ns__reply_error(rq, 400, at,
                                "%s has no column '%s' (rows[0] has it): every row needs the "
                                "same columns",
                                where, cols[j]);
                ok = false;
                break;
            }
            if (j > 0)
                fputc(',', f);
            ok = csv_value(rq, f, v, at);
        }
        if (ok)
            fputc('\n', f);
    }
    bool written = !ferror(f);
    written = fclose(f) == 0 && written;
    free(cols);
    free(numbered);
    if (ok && !written) {
        ns__reply_error(rq, 500, NULL, "cannot write the rows to a temporary file");
        ok = false;
    }
    return ok;
}

/* The body's CSV text as a file at path. false after answering 400 (or 500). */
static bool csv_body(ns__req *rq, const char *path)
{
    if (rq->body == NULL || rq->body_len == 0) {
        ns__reply_error(rq, 400, NULL,
                        "the request has no body; send CSV text with a header row of the "
                        "model's columns");
        return false;
    }
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL && fwrite(rq->body, 1, rq->body_len, f) == rq->body_len;
    ok = f != NULL && fclose(f) == 0 && ok;
    if (!ok)
        ns__reply_error(rq, 500, NULL, "cannot write the rows to a temporary file");
    return ok;
}

/* ---- the route -------------------------------------------------------------------------- */

/* The library's message on ctx with the temporary file's path said as what it is. */
static void reply_data_error(ns__req *rq, ns_ctx *ctx, ns_status st, const char *path)
{
    char msg[2048];
    const char *m = ns_errmsg(ctx), *at;
    size_t used = 0, plen = strlen(path);
    const char *said = "the request's rows";
    msg[0] = '\0';
    while ((at = strstr(m, path)) != NULL && used < sizeof msg) {
        used += (size_t)snprintf(msg + used, sizeof msg - used, "%.*s%s", (int)(at - m), m, said);
        m = at + plen;
    }
    if (used < sizeof msg)
        snprintf(msg + used, sizeof msg - used, "%s", m);
    /* what the rows lack or hold wrongly is the request's fault, whatever the status */
    int status = st == NS_ERR_NOMEM || st == NS_ERR_IO ? 500 : 400;
    ns__reply_error(rq, status, ns_error_path(ctx), "%s", msg);
}

/* Resolves ref into *v: false after answering 404 (unknown model, version or alias), 409 (a
 * model with no versions yet), 400 (a malformed ref) or 503. */
static bool resolve(ns__req *rq, ns_store *store, const char *ref, ns_store_version *v)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_status st = ns_store_version_get(store, ref, v);
    if (st == NS_OK)
        return true;
    if (st == NS_ERR_NOTFOUND && strchr(ref, '@') == NULL) {
        /* the model is there but has no version yet: a state, not a missing thing */
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", ns_errmsg(ctx));
        char *json = NULL;
        if (ns_store_model_get(store, ref, &json) == NS_OK) {
            ns_dealloc(ctx, json);
            ns__reply_error(rq, 409, NULL, "%s", msg);
            return false;
        }
        ns_dealloc(ctx, json);
        ns_errorf(ctx, st, "%s", msg);
    }
    ns__reply_status(rq, ctx, st, NULL);
    return false;
}

/* POST /api/v1/models/{ref}/predict: body {"rows": [{...}, ...]} or {"rows": [[...], ...]}
 * (application/json), or CSV text with a header row (text/csv). */
static void predict(ns__req *rq)
{
    const char *type = ns__req_header(rq, "Content-Type");
    bool csv = type != NULL && strncasecmp(type, "text/csv", 8) == 0 &&
               (type[8] == '\0' || type[8] == ';' || type[8] == ' ');
    if (!csv && (type == NULL || strncasecmp(type, "application/json", 16) != 0)) {
        ns__reply_error(rq, 415, NULL,
                        "send the rows as JSON ('Content-Type: application/json', {\"rows\": "
                        "[...]}) or as CSV text with a header row ('Content-Type: text/csv'), "
                        "not %s",
                        type != NULL ? type : "a body without a Content-Type");
        return;
    }
    json_t *body = NULL;
    if (!csv && (body = ns__req_json(rq)) == NULL)
        return; /* 400 for a body that is not a JSON object */
    ns_store *store = ns__req_store(rq);
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_store_version v;
    char dir[512];
    if (store == NULL || !resolve(rq, store, rq->params[0], &v)) {
        json_decref(body);
        return;
    }
    if (!temp_dir(dir, sizeof dir - 32)) {
        json_decref(body);
        ns__reply_error(rq, 500, NULL, "cannot make a temporary directory: %s", strerror(errno));
        return;
    }
    char rows_path[544], model_path[544];
    snprintf(rows_path, sizeof rows_path, "%s/rows.csv", dir);
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", dir);
    loaded *m = cache_take(v.weights);
    if (m == NULL) {
        ns_status st = model_load(ctx, store, v.weights, model_path, &m);
        if (st != NS_OK) {
            json_decref(body);
            temp_dir_remove(dir);
            if (st == NS_ERR_IO || st == NS_ERR_BUSY) /* the store went away: 503 */
                ns__reply_status(rq, ctx, st, NULL);
            else /* weights the store holds but cannot be loaded: not the request's fault */
                ns__reply_error(rq, 500, NULL, "cannot load %s@%d: %s", v.model, v.version,
                                ns_errmsg(ctx));
            return;
        }
        m = cache_put(m);
    }
    bool ready = csv ? csv_body(rq, rows_path) : json_rows_csv(rq, body, &m->info, rows_path);
    json_decref(body);
    if (ready) {
        ns_data_options opts;
        ns_data_options_default(&opts);
        opts.source = rows_path;
        if (!csv)
            opts.delimiter = ',';
        ns_predictions pred;
        char *json = NULL;
        pthread_mutex_lock(&m->use);
        ns_status st = ns_fit_predictions_open(ctx, m->model, &m->info, &opts, NULL, &pred);
        pthread_mutex_unlock(&m->use);
        if (st != NS_OK) {
            reply_data_error(rq, ctx, st, rows_path);
        } else if ((st = ns_predictions_to_json(ctx, &pred, &json)) != NS_OK) {
            ns__reply_status(rq, ctx, st, NULL);
        } else {
            /* {"model": "NAME@V", "rows": N, ...the predictions' members} */
            char head[160];
            int n = snprintf(head, sizeof head, "{\"model\":\"%s@%d\",\"rows\":%lld,", v.model,
                             v.version, (long long)pred.rows);
            size_t len = strlen(json);
            char *text = malloc((size_t)n + len);
            if (text == NULL) {
                ns__reply_error(rq, 500, NULL, "out of memory writing the answer");
            } else {
                memcpy(text, head, (size_t)n);
                memcpy(text + n, json + 1, len); /* json's '{' dropped; its NUL kept */
                ns__reply_bytes(rq, 200, "application/json", text, (size_t)n + len - 1);
                free(text);
            }
        }
        ns_dealloc(ctx, json);
        ns_predictions_free(ctx, &pred);
    }
    cache_give(m);
    temp_dir_remove(dir);
}

#define PREDICT_BODY                                                                               \
    "{\"type\":\"object\",\"required\":[\"rows\"],\"properties\":{\"rows\":{\"type\":\"array\","   \
    "\"minItems\":1,\"items\":{\"oneOf\":[{\"type\":\"object\",\"additionalProperties\":{"         \
    "\"type\":[\"number\",\"string\"]}},{\"type\":\"array\",\"items\":{\"type\":[\"number\","      \
    "\"string\"]}}]}}}}"

#define PREDICT_ANSWER                                                                             \
    "{\"type\":\"object\",\"required\":[\"model\",\"rows\",\"task\",\"predictions\"],"             \
    "\"properties\":{\"model\":{\"type\":\"string\"},\"rows\":{\"type\":\"integer\"},\"task\":{"   \
    "\"enum\":[\"classification\",\"regression\"]},\"classes\":{\"type\":\"array\",\"items\":{"    \
    "\"type\":\"string\"}},\"targets\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"      \
    "\"predictions\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}"

const ns__route ns__routes_predict[] = {
    {"POST", "/api/v1/models/{ref}/predict", predict,
     "Predicts with a model version (NAME: the latest, NAME@VERSION or NAME@ALIAS) for rows "
     "given as {\"rows\": [{column: value}, ...]} (by the model's column names), {\"rows\": "
     "[[values], ...]} (by position) or CSV text with a header row (Content-Type: text/csv), read "
     "with the model's columns, categories and normalisation. Answers {\"model\": \"NAME@V\", "
     "\"rows\", \"task\", and for a classifier \"classes\" and \"predictions\": [{\"label\", "
     "\"probabilities\": {class: p}}], for a regression \"targets\" and \"predictions\": "
     "[{target: value}]}.",
     "200 400 404 409 413 415 503", PREDICT_BODY, PREDICT_ANSWER, false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
