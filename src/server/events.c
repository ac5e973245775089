/* Live events: GET /api/v1/events, a Server-Sent Events stream of the store's event log (job
 * state changes, epoch ends, checkpoints, pipeline card events). One poller reads the log and
 * hands each new event to every open stream; a stream with nothing to send is suspended (no
 * thread waits on it) and resumed when there is. A client that reconnects with Last-Event-ID
 * first gets what it missed: from the store's log, then from the hub's ring of what was sent
 * since. Each stream has an id: PUT /api/v1/events/streams/{id} changes which jobs and types
 * it carries, so one stream carries all of a browser tab's subscriptions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "server/server_private.h"

#define RING 4096
#define MAX_JOBS 64
#define MAX_PENDING ((size_t)4 << 20) /* a client this far behind is dropped (it reconnects) */
#define REPLAY_MAX 100000             /* events read from the store for one replay */

typedef struct stream {
    ns__hub *hub;
    struct MHD_Connection *conn;
    char id[17];
    int64_t jobs[MAX_JOBS]; /* only these jobs' events (n_jobs 0: all) */
    int n_jobs;
    char types[256]; /* ",job,epoch," or "" for all */
    char *buf;       /* bytes to send: [sent, len) */
    size_t len, cap, sent;
    int64_t last_id; /* the newest event handed to it (or skipped by its filter) */
    bool suspended;
    bool ended; /* the server stops, or the client fell too far behind */
    struct stream *next;
} stream;

typedef struct ring_event {
    int64_t id, job;
    char type[32];
    char *text; /* the SSE lines */
} ring_event;

struct ns__hub {
    ns__server *srv;
    pthread_mutex_t lock;
    stream *streams;
    int n_streams;
    ring_event ring[RING];
    int ring_start, ring_n;
    int64_t last_id; /* the newest event the poller handed out */
    pthread_t poller;
    bool poller_started;
    atomic_int stop;
    ns_ctx *ctx;
    ns_store *store;
    bool store_down; /* said once until it answers again */
    bool ended_all;  /* ns__hub_stop's first call: every stream ends, new ones at once */
};

/* ---- one stream's bytes ------------------------------------------------------------------ */

/* Appends text to s (under the hub's lock); false when s is too far behind (it is ended). */
static bool push(stream *s, const char *text, size_t n)
{
    if (s->ended)
        return false;
    if (s->len - s->sent + n > MAX_PENDING) {
        s->ended = true;
        return false;
    }
    if (s->sent > 0 && s->sent == s->len)
        s->sent = s->len = 0;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap > 0 ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *grown = realloc(s->buf, cap);
        if (grown == NULL) {
            s->ended = true;
            return false;
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return true;
}

static void wake(stream *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

static bool wants(const stream *s, int64_t job, const char *type)
{
    if (s->n_jobs > 0) {
        bool found = false;
        for (int i = 0; i < s->n_jobs && !found; i++)
            found = s->jobs[i] == job;
        if (!found)
            return false;
    }
    if (s->types[0] != '\0') {
        char key[40];
        snprintf(key, sizeof key, ",%s,", type);
        return strstr(s->types, key) != NULL;
    }
    return true;
}

/* Hands one event to s when its filter takes it and it is newer than what s has. */
static void offer(stream *s, int64_t id, int64_t job, const char *type, const char *text)
{
    if (id <= s->last_id)
        return;
    s->last_id = id;
    if (wants(s, job, type))
        push(s, text, strlen(text));
}

/* The SSE lines of an event of the log (a JSON object); NULL when out of memory. */
static char *format_event(json_t *ev, int64_t *id, int64_t *job, const char **type)
{
    *id = (int64_t)json_integer_value(json_object_get(ev, "id"));
    *job = (int64_t)json_integer_value(json_object_get(ev, "job"));
    *type = json_string_value(json_object_get(ev, "type"));
    if (*type == NULL)
        *type = "event";
    char *data = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (data == NULL)
        return NULL;
    size_t n = strlen(data) + strlen(*type) + 64;
    char *text = malloc(n);
    if (text != NULL)
        snprintf(text, n, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)*id, *type, data);
    free(data);
    return text;
}

/* ---- the poller ------------------------------------------------------------------------- */

static void broadcast(ns__hub *h, json_t *list)
{
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < json_array_size(list); i++) {
        int64_t id, job;
        const char *type;
        char *text = format_event(json_array_get(list, i), &id, &job, &type);
        if (text == NULL || id <= h->last_id) {
            free(text);
            continue;
        }
        for (stream *s = h->streams; s != NULL; s = s->next)
            offer(s, id, job, type, text);
        /* into the ring (its oldest dropped when full) */
        int slot = (h->ring_start + h->ring_n) % RING;
        if (h->ring_n == RING) {
            free(h->ring[h->ring_start].text);
            h->ring_start = (h->ring_start + 1) % RING;
            slot = (h->ring_start + RING - 1) % RING;
        } else {
            h->ring_n++;
        }
        h->ring[slot].id = id;
        h->ring[slot].job = job;
        snprintf(h->ring[slot].type, sizeof h->ring[slot].type, "%s", type);
        h->ring[slot].text = text;
        h->last_id = id;
    }
    for (stream *s = h->streams; s != NULL; s = s->next)
        if (s->len > s->sent || s->ended)
            wake(s);
    pthread_mutex_unlock(&h->lock);
}

static void keepalive(ns__hub *h)
{
    pthread_mutex_lock(&h->lock);
    for (stream *s = h->streams; s != NULL; s = s->next)
        if (s->len == s->sent && push(s, ": keep-alive\n\n", 14))
            wake(s);
    pthread_mutex_unlock(&h->lock);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads the log's new events (true when it could). */
static bool poll_once(ns__hub *h)
{
    ns__server *srv = h->srv;
    if (h->store == NULL && ns_store_open(h->ctx, srv->opts.store_url, &h->store) != NS_OK) {
        h->store = NULL;
        if (!h->store_down)
            fprintf(srv->opts.out, "events: the store is not answering (%s); trying again\n",
                    ns_errmsg(h->ctx));
        h->store_down = true;
        return false;
    }
    pthread_mutex_lock(&h->lock);
    int64_t after = h->last_id;
    pthread_mutex_unlock(&h->lock);
    char *json = NULL;
    ns_status st = ns_store_events(h->store, after, 0, 1000, &json, NULL);
    if (st != NS_OK) {
        if (!h->store_down)
            fprintf(srv->opts.out, "events: cannot read the event log (%s); trying again\n",
                    ns_errmsg(h->ctx));
        h->store_down = true;
        ns_store_close(h->store);
        h->store = NULL;
        return false;
    }
    if (h->store_down)
        fprintf(srv->opts.out, "events: the store answers again\n");
    h->store_down = false;
    json_error_t e;
    json_t *list = json_loads(json, 0, &e);
    ns_dealloc(h->ctx, json);
    size_t n = json_array_size(list);
    if (n > 0)
        broadcast(h, list);
    json_decref(list);
    return n == 1000; /* more waiting: read again at once */
}

static void *poller_main(void *arg)
{
    ns__hub *h = arg;
    const ns_server_options *o = &h->srv->opts;
    double last_beat = now_seconds();
    while (!atomic_load(&h->stop)) {
        bool more = poll_once(h);
        if (now_seconds() - last_beat >= o->keepalive_seconds) {
            keepalive(h);
            last_beat = now_seconds();
        }
        if (!more) {
            double wait = o->poll_seconds > 0 ? o->poll_seconds : 0.1;
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

ns_status ns__hub_start(ns__server *srv)
{
    ns__hub *h = calloc(1, sizeof *h);
    if (h == NULL)
        return ns_errorf(srv->ctx, NS_ERR_NOMEM, "out of memory starting the event hub");
    h->srv = srv;
    pthread_mutex_init(&h->lock, NULL);
    ns_status st = ns_ctx_new(NULL, &h->ctx);
    if (st == NS_OK)
        st = ns_store_open(h->ctx, srv->opts.store_url, &h->store);
    if (st == NS_OK)
        st = ns_store_event_last(h->store, &h->last_id); /* new streams start from now */
    if (st != NS_OK)
        ns_errorf(srv->ctx, st, "%s", h->ctx != NULL ? ns_errmsg(h->ctx) : "out of memory");
    if (st == NS_OK && pthread_create(&h->poller, NULL, poller_main, h) != 0)
        st = ns_errorf(srv->ctx, NS_ERR_NOMEM, "cannot start the event hub's thread");
    h->poller_started = st == NS_OK;
    srv->hub = h;
    return st;
}

/* Called twice: before the daemon stops, it stops the poller and ends every stream (and any
 * opened later, by a request still in flight); once the daemon has stopped, and so no request
 * or stream can reach the hub any more, it frees the hub. */
void ns__hub_stop(ns__server *srv)
{
    ns__hub *h = srv->hub;
    if (h == NULL)
        return;
    if (h->ended_all) {
        for (int i = 0; i < h->ring_n; i++)
            free(h->ring[(h->ring_start + i) % RING].text);
        pthread_mutex_destroy(&h->lock);
        free(h);
        srv->hub = NULL;
        return;
    }
    atomic_store(&h->stop, 1);
    if (h->poller_started)
        pthread_join(h->poller, NULL);
    /* every stream ends; wait (a little) until the daemon has let them go */
    for (int tries = 0; tries < 200; tries++) {
        pthread_mutex_lock(&h->lock);
        h->ended_all = true;
        for (stream *s = h->streams; s != NULL; s = s->next) {
            s->ended = true;
            wake(s);
        }
        int left = h->n_streams;
        pthread_mutex_unlock(&h->lock);
        if (left == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ns_store_close(h->store);
    ns_ctx_free(h->ctx);
    h->store = NULL;
    h->ctx = NULL;
}

/* ---- the stream as an HTTP answer ------------------------------------------------------- */

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    ns__hub *h = s->hub;
    pthread_mutex_lock(&h->lock);
    ssize_t n = 0;
    if (s->sent < s->len) {
        size_t k = s->len - s->sent < max ? s->len - s->sent : max;
        memcpy(buf, s->buf + s->sent, k);
        s->sent += k;
        n = (ssize_t)k;
    } else if (s->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        MHD_suspend_connection(s->conn); /* until the hub has something for it */
        s->suspended = true;
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void free_stream(void *cls)
{
    stream *s = cls;
    ns__hub *h = s->hub;
    pthread_mutex_lock(&h->lock);
    for (stream **p = &h->streams; *p != NULL; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            h->n_streams--;
            break;
        }
    pthread_mutex_unlock(&h->lock);
    free(s->buf);
    free(s);
}

struct MHD_Response *ns__hub_response(ns__req *rq)
{
    stream *s = rq->stream;
    rq->stream = NULL;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_stream, s, free_stream);
    if (r == NULL) {
        free_stream(s);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}

/* Reads a comma-separated list of job ids (from a query or a JSON array) into s. */
static bool set_jobs(stream *s, const char *list)
{
    s->n_jobs = 0;
    for (const char *p = list; p != NULL && *p != '\0';) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || s->n_jobs == MAX_JOBS || (*end != ',' && *end != '\0'))
            return false;
        s->jobs[s->n_jobs++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return true;
}

static bool set_types(stream *s, const char *list)
{
    s->types[0] = '\0';
    if (list == NULL || list[0] == '\0')
        return true;
    if (strlen(list) + 3 > sizeof s->types ||
        strspn(list, "abcdefghijklmnopqrstuvwxyz_,") != strlen(list))
        return false;
    snprintf(s->types, sizeof s->types, ",%s,", list);
    return true;
}

/* GET /api/v1/events[?job=1,2][&types=job,epoch] with Last-Event-ID (or ?last_event_id=). */
static void get_events(ns__req *rq)
{
    ns__hub *h = rq->srv->hub;
    /* streams stay open: some connections are kept for the API and the UI */
    int cap = rq->srv->opts.max_connections;
    int most = cap - (cap / 16 > 8 ? cap / 16 : 8);
    pthread_mutex_lock(&h->lock);
    int open = h->n_streams;
    pthread_mutex_unlock(&h->lock);
    if (open >= most) {
        ns__reply_error(rq, 503, NULL,
                        "%d event streams are open, the most this server keeps (it keeps the "
                        "rest of its %d connections for the API); close one, or start the server "
                        "with a larger --max-connections",
                        open, cap);
        return;
    }
    stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        ns__reply_error(rq, 500, NULL, "out of memory opening an event stream");
        return;
    }
    s->hub = h;
    s->conn = rq->conn;
    unsigned char raw[8];
    RAND_bytes(raw, sizeof raw);
    for (int i = 0; i < 8; i++)
        snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
    if (!set_jobs(s, ns__req_query(rq, "job"))) {
        free(s);
        ns__reply_error(rq, 400, "job", "job must be job ids separated by commas (at most %d)",
                        MAX_JOBS);
        return;
    }
    if (!set_types(s, ns__req_query(rq, "types"))) {
        free(s);
        ns__reply_error(rq, 400, "types",
                        "types must be event types separated by commas: job, cancel_requested, "
                        "epoch, checkpoint, card");
        return;
    }
    const char *last = ns__req_header(rq, "Last-Event-ID");
    if (last == NULL)
        last = ns__req_query(rq, "last_event_id");
    int64_t after = -1;
    if (last != NULL) {
        char *end;
        errno = 0;
        long long v = strtoll(last, &end, 10);
        if (end == last || *end != '\0' || v < 0 || errno == ERANGE ||
            strspn(last, "0123456789") != strlen(last)) {
            free(s);
            ns__reply_error(rq, 400, "Last-Event-ID",
                            "Last-Event-ID must be an event's id (a number), got '%.40s'", last);
            return;
        }
        after = v;
    }
    /* what it missed, from the store's log */
    json_t *missed = NULL;
    int64_t first = 0, newest = 0;
    if (after >= 0) {
        ns_store *store = ns__req_store(rq);
        if (store == NULL) {
            free(s);
            return;
        }
        char *json = NULL;
        ns_status st = ns_store_events(store, after, 0, REPLAY_MAX, &json, &first);
        if (st == NS_OK)
            st = ns_store_event_last(store, &newest);
        if (st != NS_OK) {
            ns_dealloc(ns__req_ctx(rq), json);
            free(s);
            ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
            return;
        }
        json_error_t e;
        missed = json_loads(json, 0, &e);
        ns_dealloc(ns__req_ctx(rq), json);
        if (missed == NULL) {
            free(s);
            ns__reply_error(rq, 500, NULL, "the store's event log did not read as JSON: %s",
                            e.text);
            return;
        }
    }
    char hello[256];
    pthread_mutex_lock(&h->lock);
    snprintf(hello, sizeof hello,
             "retry: 2000\n\nevent: hello\ndata: {\"stream\":\"%s\",\"last_id\":%lld}\n\n", s->id,
             (long long)h->last_id);
    push(s, hello, strlen(hello));
    /* an id beyond the log's newest names another log (a store made anew): the client
     * hears of a gap and is served from now */
    bool beyond = after > newest && after > h->last_id;
    if (after >= 0 && (first > after + 1 || beyond)) {
        char gap[160];
        snprintf(gap, sizeof gap, "event: gap\ndata: {\"after\":%lld,\"oldest_kept\":%lld}\n\n",
                 (long long)after, (long long)first);
        push(s, gap, strlen(gap));
    }
    s->last_id = after >= 0 && !beyond ? after : h->last_id;
    /* a replay larger than a stream may hold is sent in parts: what fits, then the stream
     * ends and the client reconnects from the last id it got */
    bool cut = false;
    for (size_t i = 0; i < json_array_size(missed) && !cut; i++) {
        int64_t id, job;
        const char *type;
        char *text = format_event(json_array_get(missed, i), &id, &job, &type);
        if (text != NULL && s->len - s->sent + strlen(text) > MAX_PENDING / 2)
            cut = true;
        else if (text != NULL)
            offer(s, id, job, type, text);
        free(text);
    }
    if (json_array_size(missed) >= (size_t)REPLAY_MAX)
        cut = true; /* the store holds more than one read gave */
    for (int i = 0; i < h->ring_n && !cut; i++) {
        const ring_event *ev = &h->ring[(h->ring_start + i) % RING];
        if (ev->id > s->last_id && s->len - s->sent + strlen(ev->text) > MAX_PENDING / 2)
            cut = true;
        else
            offer(s, ev->id, ev->job, ev->type, ev->text);
    }
    if (cut)
        s->ended = true; /* after what it holds */
    if (!cut && s->last_id < h->last_id)
        s->last_id = h->last_id;
    if (h->ended_all)
        s->ended = true; /* the server stops */
    s->next = h->streams;
    h->streams = s;
    h->n_streams++;
    pthread_mutex_unlock(&h->lock);
    json_decref(missed);
    rq->stream = s;
}

/* PUT /api/v1/events/streams/{id}: {"jobs": [ids] (empty: all), "types": [names] (empty:
 * all)}. */
static void put_stream(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"jobs", "types"};
    if (!ns__req_keys(rq, body, known, 2)) {
        json_decref(body);
        return;
    }
    char jobs[MAX_JOBS * 21 + 1] = "", types[256] = "";
    json_t *j = json_object_get(body, "jobs"), *t = json_object_get(body, "types");
    bool ok = (j == NULL || json_is_array(j)) && (t == NULL || json_is_array(t)) &&
              json_array_size(j) <= MAX_JOBS;
    size_t used = 0;
    for (size_t i = 0; ok && i < json_array_size(j); i++) {
        json_t *v = json_array_get(j, i);
        ok = json_is_integer(v) && json_integer_value(v) > 0;
        used += (size_t)snprintf(jobs + used, sizeof jobs - used, "%s%lld", i ? "," : "",
                                 (long long)json_integer_value(v));
    }
    if (!ok) {
        json_decref(body);
        ns__reply_error(rq, 400, "jobs", "jobs must be an array of at most %d job ids", MAX_JOBS);
        return;
    }
    used = 0;
    for (size_t i = 0; ok && i < json_array_size(t); i++) {
        const char *name = json_string_value(json_array_get(t, i));
        ok = name != NULL && used + strlen(name) + 2 < sizeof types;
        if (ok)
            used += (size_t)snprintf(types + used, sizeof types - used, "%s%s", i ? "," : "", name);
    }
    json_decref(body);
    ns__hub *h = rq->srv->hub;
    pthread_mutex_lock(&h->lock);
    stream *s = h->streams;
    while (s != NULL && strcmp(s->id, rq->params[0]) != 0)
        s = s->next;
    stream probe;
    memset(&probe, 0, sizeof probe);
    bool types_ok = ok && set_types(&probe, types);
    if (s != NULL && types_ok) {
        set_jobs(s, jobs);
        memcpy(s->types, probe.types, sizeof s->types);
    }
    pthread_mutex_unlock(&h->lock);
    if (!types_ok)
        ns__reply_error(rq, 400, "types",
                        "types must be an array of event types: job, cancel_requested, epoch, "
                        "checkpoint, card");
    else if (s == NULL)
        ns__reply_error(rq, 404, NULL,
                        "no open event stream %s (it ended); open GET /api/v1/events again",
                        rq->params[0]);
    else
        ns__reply_json(
            rq, 200,
            json_pack("{s:s, s:s, s:s}", "stream", rq->params[0], "jobs", jobs, "types", types));
}

const ns__route ns__routes_events[] = {
    {"GET", "/api/v1/events", get_events,
     "Live events (Server-Sent Events): job state changes, epoch ends with metrics, checkpoints "
     "and pipeline card events, optionally of some jobs (?job=1,2) or types (?types=job,epoch). "
     "Reconnecting with Last-Event-ID replays what was missed; a 'gap' event says when some "
     "fell out of the replay window.",
     "200 400 503", NULL, "text/event-stream", false},
    {"PUT", "/api/v1/events/streams/{id}", put_stream,
     "Changes which jobs and event types an open stream carries (the id its 'hello' event "
     "gave).",
     "200 400 404 415",
     "{\"type\":\"object\",\"properties\":{\"jobs\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"integer\"}},\"types\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
     "{\"type\":\"object\"}", false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
