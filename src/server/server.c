/* The server: the HTTP daemon (libmicrohttpd) and what every request goes through before its
 * route: the Host check, the token, the size limits, the body; then the answer, with the
 * headers every answer carries, and the access log. Routes live in api_*.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "format/json_read.h"
#include "server/server_private.h"

/* The web UI's files, compiled in (cmake/embed.cmake): bytes by path ("index.html"). */
const unsigned char *ns__www_file(const char *name, size_t *len);

#define SESSION_COOKIE "netsmith_session"

void ns_server_options_default(ns_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8321";
    o->workers = 1;
    o->max_body = (size_t)16 << 20;
    o->max_header = (size_t)32 << 10;
    o->max_connections = 2048;
    o->timeout_seconds = 30;
    o->threads = 4;
    o->keepalive_seconds = 15.0;
    o->poll_seconds = 0.1;
}

/* ---- the gate: Host, token, sizes -------------------------------------------------------- */

/* Whether host (the Host header) names this server: its listen address, or for loopback also
 * localhost, 127.0.0.1 and [::1], or an allowed name; with its port. */
static bool host_ok(const ns__server *srv, const char *host)
{
    if (host == NULL || strlen(host) > 255)
        return false;
    char want[300];
    const char *names[3 + NS_SERVER_MAX_HOSTS];
    int n = 0;
    names[n++] = srv->host;
    if (srv->loopback) {
        names[n++] = "localhost";
        names[n++] = srv->host[0] == '[' ? "127.0.0.1" : "[::1]";
    }
    for (int i = 0; i < srv->opts.n_allow_hosts; i++)
        names[n++] = srv->opts.allow_hosts[i];
    for (int i = 0; i < n; i++) {
        snprintf(want, sizeof want, "%s:%d", names[i], srv->port);
        if (strcasecmp(host, want) == 0)
            return true;
        if (srv->port == 80 && strcasecmp(host, names[i]) == 0)
            return true;
    }
    return false;
}

/* Whether the request carries the token or the session cookie (compared in constant time). */
static bool authorized(ns__server *srv, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *t = auth + 7;
        return strlen(t) == strlen(srv->token) && CRYPTO_memcmp(t, srv->token, strlen(t)) == 0;
    }
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, SESSION_COOKIE);
    return cookie != NULL && strlen(cookie) == strlen(srv->session) &&
           CRYPTO_memcmp(cookie, srv->session, strlen(cookie)) == 0;
}

/* ---- the UI's files and the login link ------------------------------------------------ */

static const char *media_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".map", "application/json"},
    };
    for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Whether the binary holds the web UI (a build without Node.js and npm holds none). */
static bool ui_built(void)
{
    size_t len;
    return ns__www_file("index.html", &len) != NULL;
}

/* A file of the UI directory (--ui-dir) by its path under it: only plain names of letters,
 * digits and "._-" between slashes, none starting with a dot, and only regular files. *len
 * and a malloc'd copy; NULL when there is no such file. */
static unsigned char *ui_dir_file(const char *dir, const char *name, size_t *len)
{
    if (strlen(name) > 200)
        return NULL;
    for (const char *p = name; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' || *p == '/';
        if (!ok || (*p == '.' && (p == name || p[-1] == '/')) || (*p == '/' && p[1] == '/'))
            return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd < 0)
        return NULL;
    unsigned char *data = NULL;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < (64 << 20)) {
        data = malloc((size_t)sb.st_size + 1);
        size_t got = 0;
        while (data != NULL && got < (size_t)sb.st_size) {
            ssize_t r = read(fd, data + got, (size_t)sb.st_size - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (data != NULL && got != (size_t)sb.st_size) {
            free(data);
            data = NULL;
        }
        *len = got;
    }
    close(fd);
    return data;
}

static const unsigned char *ui_file(ns__server *srv, const char *name, size_t *len,
                                    unsigned char **owned)
{
    *owned = NULL;
    if (srv->opts.ui_dir == NULL)
        return ns__www_file(name, len);
    return *owned = ui_dir_file(srv->opts.ui_dir, name, len);
}

/* GET of a path outside /api: a file of the UI (built into the binary, or --ui-dir's), else
 * (a page of the UI's own routing: no dot in its last part) index.html. */
static void serve_file(ns__req *rq)
{
    const char *name = rq->url[0] == '/' ? rq->url + 1 : rq->url;
    size_t len = 0;
    unsigned char *owned = NULL;
    const unsigned char *data = name[0] != '\0' ? ui_file(rq->srv, name, &len, &owned) : NULL;
    const char *last = strrchr(rq->url, '/');
    if (data == NULL && (last == NULL || strchr(last, '.') == NULL)) {
        name = "index.html";
        data = ui_file(rq->srv, name, &len, &owned);
        if (data == NULL && rq->srv->opts.ui_dir == NULL) {
            static const char page[] =
                "<!doctype html><meta charset=utf-8><title>netsmith</title><p>This netsmith was "
                "built without its web UI, which needs Node.js 20.19 or later and npm when "
                "netsmith is built. Install them and build again; the API is under "
                "<code>/api/v1/</code>.</p>";
            ns__reply_bytes(rq, 404, "text/html; charset=utf-8", page, sizeof page - 1);
            return;
        }
    }
    if (data == NULL) {
        ns__reply_error(rq, 404, NULL, "no file %s; the API is under /api/v1/", rq->url);
        return;
    }
    ns__reply_bytes(rq, 200, media_type(name), data, len);
    free(owned);
}

/* GET /login?code=CODE: the one-time code the server printed sets the session cookie. */
static void serve_login(ns__req *rq)
{
    const char *code = ns__req_query(rq, "code");
    ns__server *srv = rq->srv;
    pthread_mutex_lock(&srv->lock);
    bool ok = code != NULL && srv->login_code[0] != '\0' &&
              strlen(code) == strlen(srv->login_code) &&
              CRYPTO_memcmp(code, srv->login_code, strlen(code)) == 0;
    if (ok)
        srv->login_code[0] = '\0'; /* once */
    pthread_mutex_unlock(&srv->lock);
    if (!ok) {
        static const char page[] =
            "<!doctype html><title>netsmith</title><p>This login link is not valid (each link "
            "works once). Ask the server for a new one: <code>curl -X POST -H 'Authorization: "
            "Bearer TOKEN' URL/api/v1/login-links</code>.</p>";
        ns__reply_bytes(rq, 403, "text/html; charset=utf-8", page, sizeof page - 1);
        return;
    }
    snprintf(rq->cookie, sizeof rq->cookie,
             SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000",
             srv->session);
    snprintf(rq->location, sizeof rq->location, "/");
    ns__reply_bytes(rq, 303, "text/plain", "logged in\n", 10);
}

/* A fresh one-time login code into srv (under its lock). */
static void new_login_code(ns__server *srv)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        srv->login_code[0] = '\0';
        return;
    }
    for (int i = 0; i < 16; i++)
        snprintf(srv->login_code + 2 * i, 3, "%02x", raw[i]);
}

/* POST /api/v1/login-links: a new one-time login link (for another browser). */
static void make_login_link(ns__req *rq)
{
    ns__server *srv = rq->srv;
    pthread_mutex_lock(&srv->lock);
    new_login_code(srv);
    char link[256];
    snprintf(link, sizeof link, "%s/login?code=%s", srv->url, srv->login_code);
    pthread_mutex_unlock(&srv->lock);
    ns__reply_json(rq, 201, json_pack("{s:s}", "link", link));
}

/* ---- slow clients ------------------------------------------------------------------------ */

/* libmicrohttpd's timeout closes a connection only when nothing arrives for that long, so a
 * client that trickles a request's headers a byte at a time would keep its connection for
 * ever (slowloris). Each connection is watched from when it opens, and again from the end of
 * each request: one whose next request's headers are not complete within the timeout is shut
 * down (the daemon then closes it). A request being served (its body, its answer, an event
 * stream) is not watched. */
typedef struct conn_watch conn_watch;
typedef struct watch_list {
    pthread_mutex_t lock;
    conn_watch *head;
    int seconds;
} watch_list;
struct conn_watch {
    watch_list *list;
    int fd;
    bool in_request;
    bool cut;
    double since; /* CLOCK_MONOTONIC seconds: opened, or its last request ended */
    conn_watch *prev, *next;
};

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    watch_list *list = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_watch *w = calloc(1, sizeof *w);
        if (w == NULL || info == NULL) {
            free(w);
            *socket_context = NULL;
            return;
        }
        w->list = list;
        w->fd = info->connect_fd;
        w->since = mono_seconds();
        pthread_mutex_lock(&list->lock);
        w->next = list->head;
        if (list->head != NULL)
            list->head->prev = w;
        list->head = w;
        pthread_mutex_unlock(&list->lock);
        *socket_context = w;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_watch *w = *socket_context;
        *socket_context = NULL;
        if (w == NULL)
            return;
        /* called before the daemon closes the socket: once w is off the list, no shutdown
         * can reach a later connection that gets the same descriptor */
        pthread_mutex_lock(&list->lock);
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            list->head = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&list->lock);
        free(w);
    }
}

static conn_watch *watch_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

/* Marks c's connection as serving a request (true: its headers are complete) or waiting for
 * the next (false). */
static void watch_mark(struct MHD_Connection *c, bool in_request)
{
    conn_watch *w = watch_of(c);
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->list->lock);
    w->in_request = in_request;
    w->since = mono_seconds();
    pthread_mutex_unlock(&w->list->lock);
}

/* Shuts down the connections whose next request's headers are late. */
static void watch_sweep(watch_list *list)
{
    double now = mono_seconds();
    pthread_mutex_lock(&list->lock);
    for (conn_watch *w = list->head; w != NULL; w = w->next)
        if (!w->in_request && !w->cut && now - w->since > (double)list->seconds) {
            shutdown(w->fd, SHUT_RDWR);
            w->cut = true;
        }
    pthread_mutex_unlock(&list->lock);
}

/* ---- the daemon's callbacks ------------------------------------------------------------- */

static void log_request(ns__req *rq)
{
    ns__server *srv = rq->srv;
    if (srv->access_log == NULL)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - rq->began.tv_sec) * 1e3 +
                (double)(now.tv_nsec - rq->began.tv_nsec) / 1e6;
    pthread_mutex_lock(&srv->log_lock);
    fprintf(srv->access_log, "%s %s %s %d %.3f\n", rq->method,
            rq->route != NULL ? rq->route->pattern : "-", rq->url, rq->status, ms);
    fflush(srv->access_log);
    pthread_mutex_unlock(&srv->log_lock);
}

static enum MHD_Result count_hosts(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind, (void)value;
    if (strcasecmp(key, "Host") == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

/* Whether the request comes from the configured CORS origin. */
static bool cors_allowed(const ns__server *srv, struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    return srv->opts.cors_origin != NULL && origin != NULL &&
           strcmp(origin, srv->opts.cors_origin) == 0;
}

static enum MHD_Result send_answer(ns__req *rq)
{
    struct MHD_Response *r;
    if (rq->stream != NULL) {
        r = ns__hub_response(rq);
        rq->status = r != NULL ? 200 : 500;
    } else {
        if (rq->status == 0)
            ns__reply_error(rq, 500, NULL, "%s %s gave no answer", rq->method, rq->url);
        r = MHD_create_response_from_buffer(rq->answer_len, rq->answer, MHD_RESPMEM_MUST_FREE);
        if (r != NULL)
            rq->answer = NULL; /* MHD's now */
        if (r != NULL && rq->content_type != NULL)
            MHD_add_response_header(r, "Content-Type", rq->content_type);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self' "
                            "'unsafe-inline'; frame-ancestors 'none'");
    if (rq->disposition[0] != '\0')
        MHD_add_response_header(r, "Content-Disposition", rq->disposition);
    if (rq->location[0] != '\0')
        MHD_add_response_header(r, "Location", rq->location);
    if (rq->cookie[0] != '\0')
        MHD_add_response_header(r, "Set-Cookie", rq->cookie);
    if (cors_allowed(rq->srv, rq->conn)) {
        const char *origin = ns__req_header(rq, "Origin");
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE");
        MHD_add_response_header(r, "Vary", "Origin");
    }
    if (rq->status == 405 && rq->location[0] != '\0')
        MHD_add_response_header(r, "Allow", rq->location);
    enum MHD_Result ok = MHD_queue_response(rq->conn, (unsigned)rq->status, r);
    MHD_destroy_response(r);
    log_request(rq);
    ns__req_release(rq);
    return ok;
}

/* Routes the request (its body complete). */
static void dispatch(ns__req *rq)
{
    if (strncmp(rq->url, "/api/", 5) != 0 && strcmp(rq->url, "/api") != 0) {
        if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
            ns__reply_error(rq, 405, NULL, "%s %s: only GET is served outside /api/", rq->method,
                            rq->url);
        else if (strcmp(rq->url, "/login") == 0)
            serve_login(rq);
        else
            serve_file(rq);
        return;
    }
    if (strcmp(rq->method, "POST") == 0 && strcmp(rq->url, "/api/v1/login-links") == 0) {
        make_login_link(rq);
        return;
    }
    char allowed[128];
    const ns__route *route = ns__route_find(rq, rq->method, rq->url, allowed, sizeof allowed);
    if (route == NULL && allowed[0] != '\0') {
        snprintf(rq->location, sizeof rq->location, "%s", allowed); /* the Allow header */
        ns__reply_error(rq, 405, NULL, "%s %s: not allowed; this path takes %s", rq->method,
                        rq->url, allowed);
        return;
    }
    if (route == NULL) {
        ns__reply_error(rq, 404, NULL, "no route %s %s; GET /api/v1/openapi.json describes the API",
                        rq->method, rq->url);
        return;
    }
    rq->route = route;
    route->handler(rq);
    if (rq->status == 405)
        rq->location[0] = '\0';
}

static bool needs_token(const char *method, const char *url)
{
    (void)method;
    if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/api") != 0)
        return false;
    return strcmp(url, "/api/v1/openapi.json") != 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    ns__server *srv = cls;
    ns__req *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        rq->srv = srv;
        rq->conn = c;
        rq->method = method;
        rq->url = url;
        clock_gettime(CLOCK_MONOTONIC, &rq->began);
        watch_mark(c, true);
        /* the gate, before any body is read */
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        int hosts = 0;
        MHD_get_connection_values(c, MHD_HEADER_KIND, count_hosts, &hosts);
        if (!atomic_load_explicit(&srv->ready, memory_order_acquire)) {
            /* before the address is printed, no client was told it */
            ns__reply_error(rq, 503, NULL, "the server is starting; try again in a moment");
        } else if (hosts > 1) {
            ns__reply_error(rq, 400, NULL, "the request has %d Host headers; HTTP allows one",
                            hosts);
        } else if (!host_ok(srv, host)) {
            ns__reply_error(rq, 403, NULL,
                            "the Host header (%s) does not name this server (%s:%d); a page "
                            "elsewhere cannot reach it through another name",
                            host != NULL ? host : "none", srv->host, srv->port);
        } else if (strcmp(method, "OPTIONS") == 0 && cors_allowed(srv, c)) {
            /* a browser's preflight carries no token; the answer only names what the real
             * request may send, which then needs the token like any other */
            ns__reply_bytes(rq, 204, "text/plain", "", 0);
        } else if (needs_token(method, url) && !authorized(srv, c)) {
            ns__reply_error(rq, 401, NULL,
                            "this needs the server's token: send 'Authorization: Bearer TOKEN' "
                            "(the token is in the server's token file), or open the login link "
                            "the server printed");
        } else if (length != NULL && strtoull(length, NULL, 10) > srv->opts.max_body) {
            ns__reply_error(rq, 413, NULL,
                            "the body (%s bytes) is larger than the %zu bytes allowed", length,
                            srv->opts.max_body);
        } else if (strcmp(method, "OPTIONS") == 0) {
            ns__reply_bytes(rq, 204, "text/plain", "", 0);
        } else {
            return MHD_YES; /* the body comes next */
        }
        return send_answer(rq);
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->status != 0) {
            /* answered (too large): the rest is dropped, but a chunked body without end
             * would hold the connection for ever; past twice the limit it is closed */
            rq->body_len += n; /* the body was let go: this counts what was dropped */
            return rq->body_len > srv->opts.max_body ? MHD_NO : MHD_YES;
        }
        if (rq->body_len + n > srv->opts.max_body) {
            ns__reply_error(rq, 413, NULL, "the body is larger than the %zu bytes allowed",
                            srv->opts.max_body);
            free(rq->body);
            rq->body = NULL;
            rq->body_len = n;
            return MHD_YES;
        }
        char *grown = realloc(rq->body, rq->body_len + n + 1);
        if (grown == NULL)
            return MHD_NO;
        rq->body = grown;
        memcpy(rq->body + rq->body_len, upload, n);
        rq->body_len += n;
        rq->body[rq->body_len] = '\0';
        return MHD_YES;
    }
    if (rq->status == 0)
        dispatch(rq);
    return send_answer(rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)why, (void)cls;
    ns__req *rq = *con_cls;
    watch_mark(c, false);
    if (rq == NULL)
        return;
    ns__req_release(rq);
    free(rq->body);
    free(rq->answer);
    free(rq);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages, into the server's output; a client that closed its event
 * stream is said once a minute at most (each dead stream is found when the next event or
 * keep-alive reaches it). */
static void http_log(void *cls, const char *fmt, va_list ap)
{
    ns__server *srv = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    if (strstr(line, "no longer available for sending") != NULL ||
        strstr(line, "Failed to send") != NULL) {
        static _Atomic long last;
        long now = (long)time(NULL);
        if (now - atomic_load(&last) < 60)
            return;
        atomic_store(&last, now);
        fprintf(srv->opts.out,
                "http: a client went away (%s); more such lines are left out for "
                "a minute\n",
                line);
        return;
    }
    fprintf(srv->opts.out, "http: %s\n", line);
}

/* ---- start-up ---------------------------------------------------------------------------- */

/* Splits "HOST:PORT" ("[::1]:8321") into the socket address. */
static ns_status parse_listen(ns__server *srv, struct sockaddr_storage *addr, socklen_t *len)
{
    const char *l = srv->opts.listen;
    const char *colon = strrchr(l, ':');
    char host[96];
    if (colon == NULL || colon == l || (size_t)(colon - l) >= sizeof host)
        return ns_errorf(srv->ctx, NS_ERR_INVALID,
                         "--listen '%s': expected HOST:PORT, e.g. 127.0.0.1:8321", l);
    memcpy(host, l, (size_t)(colon - l));
    host[colon - l] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return ns_errorf(srv->ctx, NS_ERR_INVALID,
                         "--listen '%s': the port must be a number from 0 to 65535", l);
    snprintf(srv->host, sizeof srv->host, "%s", host);
    char bare[96];
    snprintf(bare, sizeof bare, "%s", host);
    if (bare[0] == '[') { /* [::1] */
        size_t n = strlen(bare);
        if (n < 3 || bare[n - 1] != ']')
            return ns_errorf(srv->ctx, NS_ERR_INVALID, "--listen '%s': unclosed '['", l);
        memmove(bare, bare + 1, n - 2);
        bare[n - 2] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%ld", port);
    int rc = getaddrinfo(bare, ps, &hints, &res);
    if (rc != 0 || res == NULL)
        return ns_errorf(srv->ctx, NS_ERR_INVALID, "--listen '%s': cannot resolve '%s': %s", l,
                         bare, gai_strerror(rc));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (addr->ss_family == AF_INET)
        srv->loopback = (ntohl(((struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    else if (addr->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)addr)->sin6_addr;
        srv->loopback = IN6_IS_ADDR_LOOPBACK(a6);
    }
    srv->port = (int)port;
    return NS_OK;
}

/* The token: read from the file, or made (32 random bytes as hex) and saved with mode 0600. */
static ns_status load_token(ns__server *srv, bool *made)
{
    *made = false;
    char path[PATH_MAX];
    if (srv->opts.token_file != NULL) {
        snprintf(path, sizeof path, "%s", srv->opts.token_file);
    } else {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (xdg != NULL && xdg[0] == '/')
            snprintf(path, sizeof path, "%s/netsmith/token", xdg);
        else if (home != NULL && home[0] == '/')
            snprintf(path, sizeof path, "%s/.config/netsmith/token", home);
        else
            return ns_errorf(srv->ctx, NS_ERR_INVALID,
                             "no HOME to keep the server's token in; pass --token-file FILE");
    }
    /* O_NONBLOCK: a FIFO in its place must not hang the start */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        struct stat sb;
        char buf[128];
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            close(fd);
            return ns_errorf(srv->ctx, NS_ERR_IO, "token file %s is not a regular file", path);
        }
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n < 0)
            return ns_errorf(srv->ctx, NS_ERR_IO, "token file %s: cannot read: %s", path,
                             strerror(errno));
        if ((sb.st_mode & 077) != 0)
            return ns_errorf(srv->ctx, NS_ERR_IO,
                             "token file %s can be read by other users (mode %03o); make it "
                             "yours alone: chmod 600 %s",
                             path, (unsigned)(sb.st_mode & 0777), path);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (strlen(buf) < 32 || strlen(buf) > 64 || strspn(buf, "0123456789abcdef") != strlen(buf))
            return ns_errorf(srv->ctx, NS_ERR_IO,
                             "token file %s does not hold a token (32 to 64 hex digits); remove "
                             "it and the server makes a new one",
                             path);
        memcpy(srv->token, buf, strlen(buf) + 1);
        return NS_OK;
    }
    if (errno != ENOENT)
        return ns_errorf(srv->ctx, NS_ERR_IO, "token file %s: cannot open: %s", path,
                         strerror(errno));
    if (ns_make_parent_dirs(srv->ctx, path) != NS_OK)
        return NS_ERR_IO;
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return ns_errorf(srv->ctx, NS_ERR_IO, "no random bytes for the token");
    for (int i = 0; i < 32; i++)
        snprintf(srv->token + 2 * i, 3, "%02x", raw[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ns_errorf(srv->ctx, NS_ERR_IO, "token file %s: cannot create: %s", path,
                         strerror(errno));
    char line[80];
    int n = snprintf(line, sizeof line, "%s\n", srv->token);
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok)
        return ns_errorf(srv->ctx, NS_ERR_IO, "token file %s: cannot write: %s", path,
                         strerror(errno));
    *made = true;
    fprintf(srv->opts.out, "made the server's token and saved it in %s (mode 0600):\n  %s\n", path,
            srv->token);
    return NS_OK;
}

/* The session cookie's value: HMAC-SHA256 of a fixed label under the token, so a login lasts
 * across restarts and ends when the token changes. */
static void make_session(ns__server *srv)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char label[] = "netsmith session v1";
    HMAC(EVP_sha256(), srv->token, (int)strlen(srv->token), (const unsigned char *)label,
         sizeof label - 1, md, &n);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(srv->session + 2 * i, 3, "%02x", md[i]);
}

/* ---- in-process workers --------------------------------------------------------------- */

typedef struct worker_thread {
    ns__server *srv;
    int index;
    pthread_t thread;
    bool started;
} worker_thread;

static void *worker_main(void *arg)
{
    worker_thread *w = arg;
    ns__server *srv = w->srv;
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return NULL;
    char name[128], host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "%s:%ld:serve-%d", host, (long)getpid(), w->index);
    while (!atomic_load(&srv->stopping)) {
        ns_store *s = NULL;
        if (ns_store_open(ctx, srv->opts.store_url, &s) == NS_OK) {
            ns_worker_options o;
            ns_worker_options_default(&o);
            o.name = name;
            o.work_dir = srv->opts.work_dir;
            o.checkpoint_steps = srv->opts.checkpoint_steps;
            if (srv->opts.lease_seconds > 0)
                o.lease_seconds = srv->opts.lease_seconds;
            o.devices = srv->opts.devices;
            o.stop = &srv->worker_stop;
            ns_status st = ns_worker_run(s, &o, NULL);
            if (st != NS_OK && st != NS_ERR_CANCELLED && !atomic_load(&srv->stopping))
                fprintf(srv->opts.out, "worker %s: %s; starting again\n", name, ns_errmsg(ctx));
            ns_store_close(s);
        }
        for (int i = 0; i < 20 && !atomic_load(&srv->stopping); i++) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    ns_ctx_free(ctx);
    return NULL;
}

/* ---- running ------------------------------------------------------------------------- */

static bool stop_asked(const ns__server *srv)
{
    const ns_progress *p = srv->opts.stop;
    return p != NULL && p->cancel != NULL && atomic_load(p->cancel);
}

static ns_status check_options(ns__server *srv)
{
    const ns_server_options *o = &srv->opts;
    for (int i = 0; i < o->n_data_dirs; i++) {
        struct stat sb;
        if (stat(o->data_dirs[i], &sb) != 0 || !S_ISDIR(sb.st_mode))
            return ns_errorf(srv->ctx, NS_ERR_INVALID, "--data-dir %s: not a directory",
                             o->data_dirs[i]);
        if (o->data_dirs[i][0] != '/')
            return ns_errorf(srv->ctx, NS_ERR_INVALID,
                             "--data-dir %s: give the directory as an absolute path",
                             o->data_dirs[i]);
    }
    if (o->threads < 1 || o->threads > 64 || o->workers < 0 || o->workers > 64)
        return ns_errorf(srv->ctx, NS_ERR_INVALID,
                         "threads must be 1 to 64 and workers 0 to 64 (got %d and %d)", o->threads,
                         o->workers);
    if (o->max_connections < 8 || o->timeout_seconds < 1)
        return ns_errorf(srv->ctx, NS_ERR_INVALID,
                         "max connections must be at least 8 and the timeout at least 1 s");
    return NS_OK;
}

ns_status ns_server_run(ns_ctx *ctx, const ns_server_options *opts)
{
    ns__server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory starting the server");
    srv->opts = *opts;
    if (srv->opts.out == NULL)
        srv->opts.out = stderr;
    if (srv->opts.store_url == NULL)
        srv->opts.store_url = ns_store_default_url();
    srv->ctx = ctx;
    srv->routes = ns__route_tables;
    srv->worker_stop.cancel = &srv->worker_cancel;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->log_lock, NULL);
    pthread_cond_init(&srv->slot_free, NULL);
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    bool made = false;
    ns_status st = check_options(srv);
    if (st == NS_OK)
        st = parse_listen(srv, &addr, &addr_len);
    if (st == NS_OK)
        st = load_token(srv, &made);
    /* the store must open now: a wrong URL is said at once */
    ns_store *first = NULL;
    if (st == NS_OK)
        st = ns_store_open(ctx, srv->opts.store_url, &first);
    ns_store_close(first);
    if (st == NS_OK && srv->opts.access_log != NULL &&
        (srv->access_log = fopen(srv->opts.access_log, "a")) == NULL)
        st = ns_errorf(ctx, NS_ERR_IO, "access log %s: cannot open: %s", srv->opts.access_log,
                       strerror(errno));
    srv->n_slots = srv->opts.threads + 2;
    srv->slots = st == NS_OK ? calloc((size_t)srv->n_slots, sizeof *srv->slots) : NULL;
    if (st == NS_OK && srv->slots == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory starting the server");
    for (int i = 0; st == NS_OK && i < srv->n_slots; i++)
        st = ns_ctx_new(NULL, &srv->slots[i].ctx);
    make_session(srv);
    new_login_code(srv);

    /* the hub before the daemon: a request may come as soon as it listens */
    if (st == NS_OK)
        st = ns__hub_start(srv);
    watch_list watch = {.head = NULL, .seconds = srv->opts.timeout_seconds};
    pthread_mutex_init(&watch.lock, NULL);
    struct MHD_Daemon *d = NULL;
    if (st == NS_OK) {
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        if (addr.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        d = MHD_start_daemon(flags, (uint16_t)srv->port, NULL, NULL, on_request, srv,
                             MHD_OPTION_EXTERNAL_LOGGER, http_log, srv, /* first: see its doc */
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->opts.threads,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->opts.max_connections,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->opts.timeout_seconds,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->opts.max_header,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                             MHD_OPTION_NOTIFY_CONNECTION, on_connection, &watch,
                             MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
        if (d == NULL)
            st = ns_errorf(ctx, NS_ERR_IO, "cannot listen on %s: %s (is the port taken?)",
                           srv->opts.listen, strerror(errno));
    }
    if (st == NS_OK && srv->port == 0) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = info != NULL ? info->port : 0;
    }
    if (st == NS_OK) {
        snprintf(srv->url, sizeof srv->url, "http://%s:%d", srv->host, srv->port);
        /* the daemon's threads already run: what they read of port and url is published here */
        atomic_store_explicit(&srv->ready, true, memory_order_release);
    }
    worker_thread *workers = NULL;
    if (st == NS_OK && srv->opts.workers > 0) {
        workers = calloc((size_t)srv->opts.workers, sizeof *workers);
        for (int i = 0; workers != NULL && i < srv->opts.workers; i++) {
            workers[i] = (worker_thread){srv, i + 1, 0, false};
            workers[i].started =
                pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0;
        }
    }
    if (st == NS_OK) {
        FILE *out = srv->opts.out;
        if (!srv->loopback)
            fprintf(out,
                    "warning: listening on %s, which other machines can reach; every API call "
                    "needs the token, and traffic is not encrypted (put it behind a TLS proxy)\n",
                    srv->opts.listen);
        fprintf(out, "serving on %s (store %s, %d worker%s)\n", srv->url, srv->opts.store_url,
                srv->opts.workers, srv->opts.workers == 1 ? "" : "s");
        if (!made)
            fprintf(out, "the API's token is in the token file\n");
        pthread_mutex_lock(&srv->lock);
        if (ui_built() || srv->opts.ui_dir != NULL)
            fprintf(out, "open the web UI (this link works once): %s/login?code=%s\n", srv->url,
                    srv->login_code);
        else
            fprintf(out,
                    "the web UI is not built (it needs Node.js 20.19 or later and npm when "
                    "netsmith is built); the API is served, and a login link is at "
                    "%s/login?code=%s\n",
                    srv->url, srv->login_code);
        pthread_mutex_unlock(&srv->lock);
        fflush(out);
        while (!stop_asked(srv)) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            watch_sweep(&watch);
        }
    }
    atomic_store(&srv->stopping, 1);
    atomic_store(&srv->worker_cancel, 1); /* running jobs go back to the queue */
    for (int i = 0; workers != NULL && i < srv->opts.workers; i++)
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
    free(workers);
    ns__hub_stop(srv); /* resumes the event streams, which end */
    if (d != NULL)
        MHD_stop_daemon(d); /* every connection's watch is freed by now */
    ns__hub_stop(srv);      /* no request can reach the hub now: freed */
    pthread_mutex_destroy(&watch.lock);
    for (int i = 0; srv->slots != NULL && i < srv->n_slots; i++) {
        ns_store_close(srv->slots[i].store);
        ns_ctx_free(srv->slots[i].ctx);
    }
    free(srv->slots);
    if (srv->access_log != NULL)
        fclose(srv->access_log);
    pthread_cond_destroy(&srv->slot_free);
    pthread_mutex_destroy(&srv->log_lock);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    return st;
}
