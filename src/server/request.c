/* What route handlers use: the request's store handle and context (one of the server's slots
 * at a time), its query, headers and JSON body, and the answers: JSON, bytes, errors with the
 * library's message and JSON path, lists a page at a time, and blobs as downloads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "format/json_read.h"
#include "server/server_private.h"

/* ---- answers ---------------------------------------------------------------------------- */

static const char *status_code(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 411:
        return "length_required";
    case 413:
        return "too_large";
    case 415:
        return "unsupported_media_type";
    case 422:
        return "unprocessable";
    case 431:
        return "headers_too_large";
    case 503:
        return "unavailable";
    default:
        return status >= 500 ? "internal" : "error";
    }
}

void ns__reply_bytes(ns__req *rq, int status, const char *type, const void *data, size_t n)
{
    free(rq->answer);
    rq->answer = malloc(n > 0 ? n : 1);
    if (rq->answer == NULL) {
        rq->status = 500;
        rq->answer_len = 0;
        rq->content_type = "text/plain";
        return;
    }
    if (n > 0)
        memcpy(rq->answer, data, n);
    rq->answer_len = n;
    rq->status = status;
    rq->content_type = type;
}

void ns__reply_json(ns__req *rq, int status, json_t *j)
{
    char *text =
        j != NULL ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (text == NULL) {
        static const char oom[] = "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":"
                                  "\"out of memory writing the answer\",\"path\":null}}";
        ns__reply_bytes(rq, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    free(rq->answer);
    rq->answer = text;
    rq->answer_len = strlen(text);
    rq->status = status;
    rq->content_type = "application/json";
}

void ns__reply_text_json(ns__req *rq, int status, ns_ctx *ctx, char *json)
{
    ns__reply_bytes(rq, status, "application/json", json, strlen(json));
    ns_dealloc(ctx, json);
}

/* {"status", "code", "message", "path" (null when none)}: an answer's error object. */
static json_t *error_object(int status, const char *path, const char *msg)
{
    json_t *e = json_pack("{s:i, s:s, s:s, s:s?}", "status", status, "code", status_code(status),
                          "message", msg, "path", path != NULL && path[0] != '\0' ? path : NULL);
    if (e != NULL && json_object_get(e, "path") == NULL)
        json_object_set_new(e, "path", json_null());
    return e;
}

void ns__reply_error(ns__req *rq, int status, const char *path, const char *fmt, ...)
{
    char msg[NS__ERRMSG_CAP + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ns__reply_json(rq, status, json_pack("{s:o}", "error", error_object(status, path, msg)));
}

void ns__reply_problems(ns__req *rq, int status, const char *path, const char *msg,
                        json_t *problems)
{
    ns__reply_json(rq, status,
                   json_pack("{s:o, s:b, s:o}", "error", error_object(status, path, msg), "ok", 0,
                             "problems", problems));
}

/* Whether a store handle still reaches its store: a query for PostgreSQL (a server that can
 * go away), always for a SQLite file. */
/* Whether the store answers a cheap query. */
static bool store_answers(ns_store *store)
{
    int64_t last = 0;
    return ns_store_event_last(store, &last) == NS_OK;
}

void ns__reply_status(ns__req *rq, ns_ctx *ctx, ns_status st, const char *prefix)
{
    int status;
    switch (st) {
    case NS_ERR_INVALID:
    case NS_ERR_PARSE:
    case NS_ERR_SHAPE:
    case NS_ERR_FORMAT:
    case NS_ERR_NONFINITE:
    case NS_ERR_UNSUPPORTED:
        status = 400;
        break;
    case NS_ERR_NOTFOUND:
        status = 404;
        break;
    case NS_ERR_STATE:
        status = 409;
        break;
    case NS_ERR_BUSY:
    case NS_ERR_IO:
        status = 503;
        break;
    case NS_ERR_CANCELLED:
        status = 409;
        break;
    default:
        status = 500;
        break;
    }
    /* the failure's own message and path (the check below may set others) */
    char msg[NS__ERRMSG_CAP], where[256];
    snprintf(msg, sizeof msg, "%s", ns_errmsg(ctx));
    snprintf(where, sizeof where, "%s", ns_error_path(ctx));
    /* a store that went away: said so; reopened for the next request */
    /* an input/output failure with a store that still answers was the request's file (a
     * dataset's CSV that cannot be read): the request's to fix, not the server's state */
    const char *gone = "";
    if (status == 503 && rq->slot != NULL && rq->slot->store != NULL) {
        if (st == NS_ERR_IO && store_answers(rq->slot->store)) {
            status = 400;
        } else {
            if (st == NS_ERR_IO)
                gone = "the store is not answering: ";
            ns_store_close(rq->slot->store);
            rq->slot->store = NULL;
        }
    }
    char path[512];
    if (prefix != NULL && where[0] != '\0')
        snprintf(path, sizeof path, "%s.%s", prefix, where);
    else if (prefix != NULL)
        snprintf(path, sizeof path, "%s", prefix);
    else
        snprintf(path, sizeof path, "%s", where);
    ns__reply_error(rq, status, path, "%s%s%s", gone, msg,
                    gone[0] != '\0' ? "; the server goes on and uses it again once it is back"
                                    : "");
}

/* ---- lists and downloads ------------------------------------------------------------------ */

static enum MHD_Result list_filter(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    json_t *filters = cls;
    if (strcmp(key, "offset") != 0 && strcmp(key, "limit") != 0)
        json_object_set_new(filters, key, json_string(value != NULL ? value : ""));
    return MHD_YES;
}

/* Whether item's member key reads as text. */
static bool member_is(json_t *item, const char *key, const char *text)
{
    json_t *v = json_object_get(item, key);
    char buf[64];
    if (json_is_string(v))
        return strcmp(json_string_value(v), text) == 0;
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_null(v))
        snprintf(buf, sizeof buf, "null");
    else
        return false;
    return strcmp(buf, text) == 0;
}

static bool query_count(ns__req *rq, const char *key, long lo, long hi, long *out)
{
    const char *v = ns__req_query(rq, key);
    if (v == NULL)
        return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < lo || n > hi) {
        ns__reply_error(rq, 400, key, "%s must be a whole number from %ld to %ld, got '%.40s'", key,
                        lo, hi, v);
        return false;
    }
    *out = n;
    return true;
}

void ns__reply_list(ns__req *rq, json_t *array)
{
    long offset = 0, limit = 100;
    if (!json_is_array(array)) {
        json_decref(array);
        ns__reply_error(rq, 500, NULL, "the list is not an array");
        return;
    }
    if (!query_count(rq, "offset", 0, 1L << 40, &offset) ||
        !query_count(rq, "limit", 1, 1000, &limit)) {
        json_decref(array);
        return;
    }
    json_t *filters = json_object();
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, list_filter, filters);
    const char *key;
    json_t *want;
    json_t *first = json_array_get(array, 0);
    json_object_foreach(filters, key, want)
    {
        if (first != NULL && json_object_get(first, key) == NULL) {
            char keys[512] = "";
            size_t used = 0;
            const char *k;
            json_t *v;
            json_object_foreach(first, k, v)
            {
                if (json_is_string(v) || json_is_integer(v) || json_is_boolean(v)) {
                    int n = snprintf(keys + used, sizeof keys - used, "%s%s", used ? ", " : "", k);
                    if (n > 0 && (size_t)n < sizeof keys - used)
                        used += (size_t)n;
                }
            }
            ns__reply_error(rq, 400, key,
                            "cannot filter on '%s': the items have no such member; filter on "
                            "one of: %s (and offset, limit)",
                            key, keys);
            json_decref(filters);
            json_decref(array);
            return;
        }
    }
    json_t *items = json_array();
    size_t total = 0;
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        bool keep = true;
        json_object_foreach(filters, key, want)
        {
            keep = keep && member_is(item, key, json_string_value(want));
        }
        if (!keep)
            continue;
        if (total >= (size_t)offset && json_array_size(items) < (size_t)limit)
            json_array_append(items, item);
        total++;
    }
    json_decref(filters);
    json_decref(array);
    ns__reply_json(rq, 200,
                   json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total,
                             "offset", (json_int_t)offset, "limit", (json_int_t)limit));
}

void ns__reply_blob(ns__req *rq, ns_store *store, const char *sha, const char *type,
                    const char *filename)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    void *data = NULL;
    size_t n = 0;
    ns_status st = ns_store_blob_get(store, sha, &data, &n);
    if (st != NS_OK) {
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    free(rq->answer);
    rq->answer = malloc(n > 0 ? n : 1);
    if (rq->answer == NULL) {
        ns_dealloc(ctx, data);
        ns__reply_error(rq, 500, NULL, "out of memory sending %zu bytes", n);
        return;
    }
    memcpy(rq->answer, data, n);
    ns_dealloc(ctx, data);
    rq->answer_len = n;
    rq->status = 200;
    rq->content_type = type;
    /* the name is the caller's (model names: letters, digits, '-', '_', '.') */
    snprintf(rq->disposition, sizeof rq->disposition, "attachment; filename=\"%s\"", filename);
}

/* ---- what handlers use ------------------------------------------------------------------ */

static ns__slot *slot_take(ns__server *srv)
{
    pthread_mutex_lock(&srv->lock);
    ns__slot *got = NULL;
    while (got == NULL) {
        for (int i = 0; i < srv->n_slots && got == NULL; i++)
            if (!srv->slots[i].busy)
                got = &srv->slots[i];
        if (got == NULL)
            pthread_cond_wait(&srv->slot_free, &srv->lock);
    }
    got->busy = true;
    pthread_mutex_unlock(&srv->lock);
    return got;
}

static void slot_give(ns__server *srv, ns__slot *slot)
{
    pthread_mutex_lock(&srv->lock);
    slot->busy = false;
    pthread_cond_signal(&srv->slot_free);
    pthread_mutex_unlock(&srv->lock);
}

void ns__req_release(ns__req *rq)
{
    if (rq->slot != NULL) {
        slot_give(rq->srv, rq->slot);
        rq->slot = NULL;
    }
}

ns_ctx *ns__req_ctx(ns__req *rq)
{
    if (rq->slot == NULL) {
        rq->slot = slot_take(rq->srv);
        ns_errclear(rq->slot->ctx);
    }
    return rq->slot->ctx;
}

ns_store *ns__req_store(ns__req *rq)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns__slot *slot = rq->slot;
    /* a server's connection may have gone away since the last request (the server restarted,
     * or is down): asked first, so that every route answers 503 while it is down and none
     * fails on a stale connection once it is back */
    if (slot->store != NULL && !store_answers(slot->store)) {
        ns_store_close(slot->store);
        slot->store = NULL;
    }
    ns_errclear(ctx);
    if (slot->store == NULL) {
        ns_status st = ns_store_open(ctx, rq->srv->opts.store_url, &slot->store);
        if (st != NS_OK) {
            slot->store = NULL;
            ns__reply_error(rq, 503, NULL,
                            "the store is not answering: %s; the server goes on and uses it "
                            "again once it is back",
                            ns_errmsg(ctx));
            return NULL;
        }
    }
    return slot->store;
}

const char *ns__req_query(ns__req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *ns__req_header(ns__req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, key);
}

json_t *ns__req_json(ns__req *rq)
{
    const char *type = ns__req_header(rq, "Content-Type");
    /* the media type itself (case-insensitive), then only its parameters
     * ("application/json; charset=utf-8"): not "application/jsonp" */
    size_t skip = type != NULL ? strspn(type, " \t") : 0;
    if (type == NULL || strncasecmp(type + skip, "application/json", 16) != 0 ||
        (type[skip + 16] != '\0' && type[skip + 16] != ';' && type[skip + 16] != ' ' &&
         type[skip + 16] != '\t')) {
        ns__reply_error(rq, 415, NULL,
                        "the body must be JSON, sent with 'Content-Type: application/json' "
                        "(got %s)",
                        type != NULL ? type : "no Content-Type");
        return NULL;
    }
    if (rq->body == NULL || rq->body_len == 0) {
        ns__reply_error(rq, 400, NULL, "the request has no body; send a JSON object");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL) {
        ns__reply_error(rq, 400, NULL, "the body is not JSON: line %d, column %d: %s", e.line,
                        e.column, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        ns__reply_error(rq, 400, NULL, "the body must be a JSON object ({...})");
        return NULL;
    }
    return j;
}

const char *ns__req_string(ns__req *rq, json_t *body, const char *key, bool optional)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL && optional)
        return NULL;
    if (!json_is_string(v)) {
        ns__reply_error(rq, 400, key, "'%s' must be a string, %s", key,
                        v == NULL ? "but it is missing" : "but it is not one");
        return NULL;
    }
    return json_string_value(v);
}

bool ns__req_keys(ns__req *rq, json_t *body, const char *const *known, int n)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns__json_reader r = {ctx, "body", NS_ERR_INVALID, NULL};
    if (ns__jr_keys(&r, "", body, known, n) == NS_OK)
        return true;
    /* the path names the key at fault (the reader's is the object's) */
    const char *key, *bad = NULL;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool found = false;
        for (int i = 0; i < n && !found; i++)
            found = strcmp(known[i], key) == 0;
        if (!found && bad == NULL)
            bad = key;
    }
    ns__reply_error(rq, 400, bad, "%s", ns_errmsg(ctx));
    return false;
}

void ns__reply_store_list(ns__req *rq, ns_status st, char *json)
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

void ns__reply_store_json(ns__req *rq, ns_status st, int status, char *json, const char *prefix)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    if (st != NS_OK) {
        ns_dealloc(ctx, json);
        ns__reply_status(rq, ctx, st, prefix);
        return;
    }
    ns__reply_text_json(rq, status, ctx, json);
}

const char *ns__req_param(const ns__req *rq, int i)
{
    return i < rq->n_params ? rq->params[i] : "";
}
