/* What the server's files share (never installed; src/server/ alone): the server, a request
 * as its route handler sees it, the route table's rows, and the answers. A route is one row
 * in its resource's file (api_*.c) and that file's table named in routes.c. */
#ifndef NETSMITH_SERVER_PRIVATE_H
#define NETSMITH_SERVER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "netsmith/layers.h"
#include "netsmith/run.h"
#include "netsmith/server.h"

typedef struct ns__server ns__server;
typedef struct ns__hub ns__hub;

/* ---- store handles, one per request at a time ------------------------------------------- */

/* A context and (opened on first use, reopened after the store went away) a store handle. */
typedef struct ns__slot {
    ns_ctx *ctx;
    ns_store *store;
    bool busy;
} ns__slot;

/* ---- a request -------------------------------------------------------------------------- */

#define NS__MAX_PARAMS 4

typedef struct ns__req {
    ns__server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url; /* the path, percent-decoded by the HTTP library */
    const struct ns__route *route;
    char params[NS__MAX_PARAMS][256]; /* the route's {name} segments, in order */
    int n_params;
    char *body; /* the request body, NUL-terminated (NULL: none) */
    size_t body_len;
    ns__slot *slot; /* ns__req_store's, given back after the answer */
    /* the answer */
    int status;
    char *answer; /* malloc'd bytes (MHD frees them) */
    size_t answer_len;
    const char *content_type;
    char disposition[320]; /* a Content-Disposition header, or "" */
    char location[320];    /* a Location header, or "" */
    char cookie[320];      /* a Set-Cookie header, or "" */
    void *stream;          /* an event stream instead of an answer (events.c) */
    struct timespec began;
} ns__req;

/* ---- routes ----------------------------------------------------------------------------- */

typedef void (*ns__route_fn)(ns__req *rq);

typedef struct ns__route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE" */
    const char *pattern; /* "/api/v1/models/{name}/versions/{v}/file" */
    ns__route_fn handler;
    const char *summary;  /* one line for the API's description */
    const char *statuses; /* the statuses it answers besides 401/403 ("200 400 404") */
    const char *body;     /* the request body's JSON schema (a JSON text), or NULL */
    const char *answer;   /* the success answer's JSON schema, or NULL (or a media type:
                           * "text/event-stream", "application/octet-stream") */
    bool open;            /* served without the token (the description, the login page) */
} ns__route;

/* The schema of a ns__reply_list answer whose items have schema item (a JSON text). */
#define LIST_OF(item)                                                                              \
    "{\"type\":\"object\",\"required\":[\"items\",\"total\",\"offset\",\"limit\"],"                \
    "\"properties\":{\"items\":{\"type\":\"array\",\"items\":" item "},\"total\":{\"type\":"       \
    "\"integer\"},\"offset\":{\"type\":\"integer\"},\"limit\":{\"type\":\"integer\"}}}"

/* Each resource's rows, ending with a row whose method is NULL (api_*.c). */
extern const ns__route ns__routes_system[];
extern const ns__route ns__routes_registry[];
extern const ns__route ns__routes_jobs[];
extern const ns__route ns__routes_pipelines[];
extern const ns__route ns__routes_predict[];
extern const ns__route ns__routes_studies[];
extern const ns__route ns__routes_events[];

/* The tables in order (routes.c), ending with NULL. */
extern const ns__route *const ns__route_tables[];

/* The route for method and path: *route and its {name} values into rq; NULL route with
 * *allowed set to the methods that path does have ("GET, POST"), or "" for an unknown path. */
const ns__route *ns__route_find(ns__req *rq, const char *method, const char *path, char *allowed,
                                size_t cap);

/* The API's OpenAPI 3.1 description, made from srv's route tables (openapi.c). */
json_t *ns__openapi(const ns__server *srv);

/* ---- what handlers use ------------------------------------------------------------------ */

/* The store handle for this request (its context is ns__req_ctx's); NULL after answering 503
 * when the store cannot be reached. */
ns_store *ns__req_store(ns__req *rq);
/* Gives the request's slot back (after its answer; a no-op without one). */
void ns__req_release(ns__req *rq);
/* A context for messages (the slot's). */
ns_ctx *ns__req_ctx(ns__req *rq);
/* A query parameter, or NULL. */
const char *ns__req_query(ns__req *rq, const char *key);
/* A request header, or NULL. */
const char *ns__req_header(ns__req *rq, const char *key);
/* The body as a JSON object: NULL after answering 400 (not JSON, with line and column, or not
 * an object). */
json_t *ns__req_json(ns__req *rq);
/* A string member of the body: NULL after answering 400 naming it (missing, not a string)
 * unless optional (then NULL without an answer when missing). */
const char *ns__req_string(ns__req *rq, json_t *body, const char *key, bool optional);
/* Checks that body has only the keys known[n]: false after answering 400 with the library's
 * did-you-mean, the answer's path naming the key at fault. */
bool ns__req_keys(ns__req *rq, json_t *body, const char *const *known, int n);

/* Answers status with j (consumed) as JSON. */
void ns__reply_json(ns__req *rq, int status, json_t *j);
/* Answers status with text (copied) of a media type. */
void ns__reply_bytes(ns__req *rq, int status, const char *type, const void *data, size_t n);
/* Answers an error: {"error": {"status": 404, "code": "not_found", "message": ..., "path":
 * JSON path or null}}. */
void ns__reply_error(ns__req *rq, int status, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers a failed check: ns__reply_error's error with message msg, and "ok": false and
 * "problems" (an array, consumed) beside it. */
void ns__reply_problems(ns__req *rq, int status, const char *path, const char *msg,
                        json_t *problems);
/* Answers the failure st of a library call on ctx: its message and JSON path (prefix, when
 * not NULL, before it: the body member the text came from, "spec"), with the status that
 * fits (400 for a bad input, 404, 409 for a state, 503 for the store, 500 otherwise). */
void ns__reply_status(ns__req *rq, ns_ctx *ctx, ns_status st, const char *prefix);
/* Answers a list (a JSON array, consumed) a page at a time: ?offset= (0) and ?limit= (100, at
 * most 1000), after the filters of the query: every other parameter KEY=VALUE keeps the items
 * whose member KEY is VALUE (a string, or a number or boolean written so). The answer is
 * {"items": [...], "total": N (after filtering), "offset", "limit"}; a bad offset or limit is
 * a 400, a filter on a key the items lack too (naming the keys they have). */
void ns__reply_list(ns__req *rq, json_t *array);
/* Answers a store call's result: its JSON text (on the request's context, freed here) with
 * status, or its failure st (the JSON path after prefix, as ns__reply_status). */
void ns__reply_store_json(ns__req *rq, ns_status st, int status, char *json, const char *prefix);
/* The route's i-th {name} value ("" past the last). */
const char *ns__req_param(const ns__req *rq, int i);
/* Answers a store list's result (its JSON array text on the request's context, freed here) a
 * page at a time (ns__reply_list), or its failure st. */
void ns__reply_store_list(ns__req *rq, ns_status st, char *json);
/* Answers the blob sha from the store as a download named filename (type its media type). */
void ns__reply_blob(ns__req *rq, ns_store *store, const char *sha, const char *type,
                    const char *filename);
/* Answers the library's JSON text (an ns_dealloc string on ctx, freed here). */
void ns__reply_text_json(ns__req *rq, int status, ns_ctx *ctx, char *json);

/* Submits a pipeline job from a POST /api/v1/jobs body of kind "pipeline" (api_pipelines.c):
 * answers 201 with the job, or the error. */
void ns__submit_pipeline_job(ns__req *rq, json_t *body);

/* ---- paths under the data dirs (paths.c) ------------------------------------------------ */

/* Resolves a path a request names into out[cap]: relative, under one of the server's data
 * dirs (the first where it exists, else the first), with no "..", no symbolic link on the
 * way, no control characters. what names the field in messages ("data"). false after
 * answering 400 (or 403 when the server has no data dir). */
bool ns__req_path(ns__req *rq, const char *what, const char *path, bool must_exist, char *out,
                  size_t cap);

/* ---- the server ------------------------------------------------------------------------- */

struct ns__server {
    ns_server_options opts;
    const ns__route *const *routes; /* the route tables (ns__route_tables), ending with NULL */
    ns_ctx *ctx;                    /* the server's own (start-up, the hub's poller) */
    char url[128];                  /* "http://127.0.0.1:8321" */
    char host[96];                  /* the listen host as the Host header names it */
    int port;
    bool loopback;
    char token[65];       /* the bearer token */
    char session[65];     /* the session cookie's value (HMAC of the token) */
    char login_code[33];  /* the one-time login code, "" once used */
    pthread_mutex_t lock; /* slots, login_code */
    pthread_cond_t slot_free;
    ns__slot *slots;
    int n_slots;
    ns__hub *hub;
    FILE *access_log;
    pthread_mutex_t log_lock;
    atomic_bool ready; /* set (release) once port and url are known: the HTTP threads read
                        * them only after seeing it (acquire) */
    atomic_int stopping;
    atomic_int worker_cancel; /* stops the in-process workers (worker_stop's flag) */
    ns_progress worker_stop;
};

/* The event hub (events.c): started before the daemon listens; ns__hub_stop ends the streams before
 * the daemon stops and, called again after it has stopped, frees the hub. */
ns_status ns__hub_start(ns__server *srv);
void ns__hub_stop(ns__server *srv);
/* Makes the answer of GET /api/v1/events (events.c). */
struct MHD_Response *ns__hub_response(ns__req *rq);

#endif
