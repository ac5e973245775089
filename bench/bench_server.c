/* A loopback load client for `netsmith serve` (bench/bench_server.sh): one process, one epoll
 * loop, non-blocking sockets. It holds N Server-Sent Events streams open on GET /api/v1/events
 * and records, per stream, the ids of the events it gets (gaps and duplicates are found
 * against a reference stream read at the end), while an open-loop generator sends R API
 * requests a second (GETs of --paths in turn; default /api/v1/system, /jobs, /jobs/1,
 * /architectures, /models) over a small pool of keep-alive connections. A request's latency runs
 * from the moment the schedule gave it (not from when a connection was free) to the last byte of
 * its answer, so a server that falls behind shows in the latency (no coordinated omission).
 *
 * The end: the generator stops, the answers still due are waited for (5 s); the store's newest
 * event id (GET /api/v1/system's store.last_event) is END; every stream reads on until it has
 * END (10 s at most); one more stream opened with ?last_event_id=START (the oldest start of
 * any stream) reads the log's events (START, END] as the reference. A stream that started at
 * S should hold every reference id in (S, END]: the ones it lacks are lost. Prints one JSON
 * object on stdout; "load started" and "load ended" lines go to stderr (bench_server.sh waits
 * for the first to submit its trainings).
 *
 *   bench_server HOST:PORT TOKEN_FILE [--sse N] [--rate R] [--seconds S] [--pool P]
 *                [--paths PATH,PATH...]
 *
 * client_cpu_s is this process's CPU time during the load (what the client takes from the
 * trainings on a shared machine). The file limit is raised to its hard limit here (setrlimit), not
 * in the server. */
#define _DEFAULT_SOURCE /* TCP_NODELAY, strdup */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "bench_util.h"

static void die(const char *what)
{
    fprintf(stderr, "bench_server: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct sockaddr_in server_addr;
static char host_header[128]; /* "127.0.0.1:PORT" */
static char token[128];
static int epfd;

/* ---- growable arrays ------------------------------------------------------------------- */

typedef struct ids {
    int64_t *v;
    size_t n, cap;
} ids;

static void ids_push(ids *a, int64_t id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (a->v == NULL)
            die("out of memory");
    }
    a->v[a->n++] = id;
}

typedef struct dbuf {
    char *p;
    size_t n, cap;
} dbuf;

static void dbuf_add(dbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void dbuf_drop(dbuf *b, size_t n)
{
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
    if (b->p != NULL)
        b->p[b->n] = '\0';
}

/* ---- connections --------------------------------------------------------------------- */

enum kind { SSE, API };
enum phase { IDLE, CONNECTING, SENDING, HEADERS, BODY, CLOSED };

typedef struct conn {
    enum kind kind;
    enum phase phase;
    int fd;
    bool reference; /* the stream read at the end */
    char req[1024]; /* the request being sent */
    size_t req_len, req_sent;
    dbuf in;    /* bytes read, not yet parsed */
    int status; /* the answer's */
    bool chunked;
    long long length; /* Content-Length (-1: none) */
    long long chunk;  /* bytes left in the current chunk (-1: a size line is next) */
    size_t body_got;
    /* an event stream */
    dbuf line;     /* the SSE line being assembled */
    bool hello;    /* its hello came */
    bool in_hello; /* the event being read is the hello */
    int64_t start; /* the hub's newest id at the hello: events after it are this stream's */
    int64_t last;  /* the newest id it got */
    int64_t pending_id;
    ids got;
    long dups; /* ids not above the one before */
    long reconnects;
    /* an API connection */
    double scheduled; /* the request's time on the schedule */
} conn;

static void watch(conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) != 0)
        die("epoll_ctl");
}

/* Opens c's socket and starts connecting (the request in c->req is sent once connected). */
static bool conn_open(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return false;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    int rc = connect(c->fd, (struct sockaddr *)&server_addr, sizeof server_addr);
    if (rc != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    c->phase = CONNECTING;
    c->in.n = 0;
    watch(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
    return true;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->phase = CLOSED;
}

static void set_request(conn *c, const char *path, const char *extra)
{
    int n = snprintf(c->req, sizeof c->req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s\r\n", path,
                     host_header, token, extra);
    c->req_len = (size_t)n;
    c->req_sent = 0;
    c->status = 0;
    c->chunked = false;
    c->length = -1;
    c->chunk = -1;
    c->body_got = 0;
}

/* ---- the numbers --------------------------------------------------------------------- */

static double *lat; /* ms of each answered request */
static size_t n_lat, cap_lat;
static long requests, errors, sse_errors, sse_reconnects;
static long error_status[600];

static void record_latency(double ms)
{
    if (n_lat == cap_lat) {
        cap_lat = cap_lat ? 2 * cap_lat : 4096;
        lat = realloc(lat, cap_lat * sizeof *lat);
        if (lat == NULL)
            die("out of memory");
    }
    lat[n_lat++] = ms;
}

/* ---- event streams ---------------------------------------------------------------------- */

static long long parse_ll(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p != NULL ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* One line of the stream (without its newline). */
static void sse_line(conn *c, const char *l)
{
    if (l[0] == '\0') { /* the end of an event */
        if (c->pending_id >= 0) {
            if (c->pending_id <= c->last)
                c->dups++;
            else {
                ids_push(&c->got, c->pending_id);
                c->last = c->pending_id;
            }
        }
        c->pending_id = -1;
        c->in_hello = false;
        return;
    }
    if (strncmp(l, "id:", 3) == 0)
        c->pending_id = strtoll(l + 3, NULL, 10);
    else if (strcmp(l, "event: hello") == 0)
        c->in_hello = true;
    else if (c->in_hello && strncmp(l, "data:", 5) == 0 && !c->hello) {
        c->hello = true;
        long long v = parse_ll(l, "\"last_id\":");
        c->start = v;
        if (c->last < 0)
            c->last = v;
    }
}

static void sse_bytes(conn *c, const char *p, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n') {
            dbuf_add(&c->line, p + from, i - from);
            if (c->line.n > 0 && c->line.p[c->line.n - 1] == '\r')
                c->line.p[--c->line.n] = '\0';
            sse_line(c, c->line.p != NULL ? c->line.p : "");
            c->line.n = 0;
            from = i + 1;
        }
    dbuf_add(&c->line, p + from, n - from);
}

static void sse_request(conn *c)
{
    char extra[64] = "";
    if (c->last >= 0)
        snprintf(extra, sizeof extra, "Last-Event-ID: %lld\r\n", (long long)c->last);
    set_request(c, "/api/v1/events", extra);
}

/* ---- API requests ---------------------------------------------------------------------- */

static char **paths; /* the mix, sent in turn */
static int n_paths;
static long next_path;

static void api_send(conn *c, double scheduled)
{
    set_request(c, paths[next_path++ % n_paths], "");
    c->scheduled = scheduled;
    requests++; /* sent (the "requests" printed are those the schedule gave) */
    if (c->fd < 0 || c->phase == CLOSED) {
        if (!conn_open(c)) {
            errors++;
            c->phase = CLOSED;
        }
        return;
    }
    c->phase = SENDING;
    watch(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_MOD);
}

static void api_done(conn *c, bool ok)
{
    double ms = 1e3 * (now() - c->scheduled);
    if (ok && c->status == 200)
        record_latency(ms);
    else {
        errors++;
        if (c->status > 0 && c->status < 600)
            error_status[c->status]++;
    }
    c->phase = IDLE;
    c->in.n = 0;
    if (c->fd >= 0)
        watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* ---- reading answers --------------------------------------------------------------------- */

/* The connection failed or the server closed it. */
static void conn_lost(conn *c)
{
    bool busy = c->phase != IDLE;
    conn_close(c);
    if (c->kind == API) {
        if (busy)
            api_done(c, false);
        c->phase = CLOSED;
        return;
    }
    sse_errors++;
    if (c->reconnects >= 20) { /* the server keeps refusing it: given up */
        c->phase = CLOSED;
        return;
    }
    /* a browser reconnects with Last-Event-ID; so does this client */
    c->reconnects++;
    sse_reconnects++;
    c->line.n = 0;
    c->pending_id = -1;
    c->in_hello = false;
    sse_request(c);
    if (!conn_open(c))
        c->phase = CLOSED;
}

/* Parses what c has read; false when the connection is to be dropped. */
static bool parse(conn *c)
{
    if (c->phase == HEADERS) {
        char *end = strstr(c->in.p, "\r\n\r\n");
        if (end == NULL)
            return c->in.n < 65536;
        *end = '\0';
        if (sscanf(c->in.p, "HTTP/1.%*d %d", &c->status) != 1)
            return false;
        for (char *l = strstr(c->in.p, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
            if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
                c->length = strtoll(l + 17, NULL, 10);
            if (strncasecmp(l + 2, "Transfer-Encoding:", 18) == 0 && strstr(l, "chunked") != NULL)
                c->chunked = true;
        }
        dbuf_drop(&c->in, (size_t)(end + 4 - c->in.p));
        c->phase = BODY;
        if (c->kind == SSE && c->status != 200)
            return false;
    }
    if (c->phase != BODY)
        return true;
    /* the body: chunks (or plain bytes) handed to the stream parser or counted */
    size_t at = 0;
    for (;;) {
        const char *p = c->in.p + at;
        size_t left = c->in.n - at;
        if (c->chunked && c->chunk < 0) {
            const char *nl = memchr(p, '\n', left);
            if (nl == NULL)
                break;
            c->chunk = strtoll(p, NULL, 16);
            at += (size_t)(nl - p) + 1;
            if (c->chunk == 0) { /* the last chunk: the answer is complete (trailer ignored) */
                at = c->in.n;
                c->length = (long long)c->body_got;
                if (c->kind == SSE)
                    return false;
                break;
            }
            continue;
        }
        if (c->chunked && c->chunk == 0) { /* the CRLF after a chunk's data */
            if (left < 2)
                break;
            at += 2;
            c->chunk = -1;
            continue;
        }
        size_t take = left;
        if (c->chunked && (long long)take > c->chunk)
            take = (size_t)c->chunk;
        if (!c->chunked && c->length >= 0 && (long long)(c->body_got + take) > c->length)
            take = (size_t)(c->length - (long long)c->body_got);
        if (take == 0)
            break;
        if (c->kind == SSE)
            sse_bytes(c, p, take);
        c->body_got += take;
        at += take;
        if (c->chunked)
            c->chunk -= (long long)take; /* at 0, the chunk's CRLF is next */
    }
    dbuf_drop(&c->in, at);
    if (c->kind == API && c->length >= 0 && (long long)c->body_got >= c->length &&
        (!c->chunked || c->chunk < 0 || c->chunk == 0))
        api_done(c, true);
    return true;
}

static void on_ready(conn *c, uint32_t events)
{
    if (c->phase == CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            conn_lost(c);
            return;
        }
        c->phase = SENDING;
    }
    if (c->phase == SENDING) {
        while (c->req_sent < c->req_len) {
            ssize_t n = send(c->fd, c->req + c->req_sent, c->req_len - c->req_sent, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (n <= 0) {
                conn_lost(c);
                return;
            }
            c->req_sent += (size_t)n;
        }
        c->phase = HEADERS;
        watch(c, EPOLLIN, EPOLL_CTL_MOD);
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_lost(c);
            return;
        }
        if (c->phase == IDLE) { /* bytes on an idle keep-alive connection: not HTTP */
            conn_lost(c);
            return;
        }
        dbuf_add(&c->in, buf, (size_t)n);
        if (!parse(c)) {
            conn_lost(c);
            return;
        }
    }
}

static void loop_once(int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(epfd, evs, 256, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++)
        on_ready(evs[i].data.ptr, evs[i].events);
}

/* ---- one blocking request (set-up and the end) ---------------------------------------- */

static long long store_last_event(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0}; /* a server that does not accept (at its connection limit) */
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /api/v1/system HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n",
                     host_header, token);
    dbuf b = {0};
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == 0 &&
        write(fd, req, (size_t)n) == n) {
        char buf[4096];
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0)
            dbuf_add(&b, buf, (size_t)k);
    }
    close(fd);
    long long v = b.p != NULL ? parse_ll(b.p, "\"last_event\":") : -1;
    if (v < 0)
        fprintf(stderr, "bench_server: GET /api/v1/system gave no store.last_event (%s)\n",
                b.p != NULL ? "an answer without it" : "no answer in 10 s");
    free(b.p);
    return v;
}

/* ---- main ------------------------------------------------------------------------------ */

/* This process's CPU time (user + system), s. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (n_lat == 0)
        return 0.0;
    size_t i = (size_t)ceil(p / 100.0 * (double)n_lat);
    return lat[i > 0 ? i - 1 : 0];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_server HOST:PORT TOKEN_FILE [--sse N] [--rate R] "
                        "[--seconds S] [--pool P] [--paths P,P...]\n");
        return 2;
    }
    int n_sse = 1000, pool = 16;
    double rate = 100, seconds = 60;
    const char *mix = "/api/v1/system,/api/v1/jobs,/api/v1/jobs/1,/api/v1/architectures,"
                      "/api/v1/models";
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sse") == 0)
            n_sse = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--pool") == 0)
            pool = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--paths") == 0)
            mix = argv[i + 1];
        else {
            fprintf(stderr, "bench_server: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n_sse < 0 || pool < 1 || rate <= 0 || seconds <= 0) {
        fprintf(stderr, "bench_server: bad options\n");
        return 2;
    }
    char *hp = strdup(argv[1]), *colon = strrchr(hp, ':');
    if (colon == NULL)
        return 2;
    *colon = '\0';
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, hp, &server_addr.sin_addr) != 1) {
        fprintf(stderr, "bench_server: %s is not an IPv4 HOST:PORT\n", argv[1]);
        return 2;
    }
    snprintf(host_header, sizeof host_header, "%s", argv[1]);
    FILE *tf = fopen(argv[2], "r");
    if (tf == NULL || fgets(token, sizeof token, tf) == NULL)
        die(argv[2]);
    fclose(tf);
    token[strcspn(token, "\r\n")] = '\0';
    char *list = strdup(mix);
    for (char *t = strtok(list, ","); t != NULL; t = strtok(NULL, ",")) {
        paths = realloc(paths, (size_t)(n_paths + 1) * sizeof *paths);
        if (paths == NULL)
            die("out of memory");
        paths[n_paths++] = t;
    }
    if (n_paths == 0) {
        fprintf(stderr, "bench_server: --paths is empty\n");
        return 2;
    }

    /* the file limit: enough for every stream, the pool and a margin */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = (rlim_t)(n_sse + pool + 64);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want) {
            fprintf(stderr, "bench_server: the file limit (hard %llu) is below the %llu needed\n",
                    (unsigned long long)rl.rlim_max, (unsigned long long)want);
            return 1;
        }
    }
    epfd = epoll_create1(0);
    if (epfd < 0)
        die("epoll_create1");

    /* the streams, opened 100 at a time */
    conn *sse = calloc((size_t)n_sse + 1, sizeof *sse);
    if (sse == NULL)
        die("out of memory");
    double t_connect = now();
    int opened = 0, connected = 0;
    while (now() - t_connect < 30.0) {
        connected = 0;
        for (int i = 0; i < opened; i++)
            connected += sse[i].hello;
        if (connected == n_sse)
            break;
        while (opened < n_sse && opened - connected < 100) {
            conn *c = &sse[opened++];
            c->kind = SSE;
            c->fd = -1;
            c->last = -1;
            c->start = -1;
            c->pending_id = -1;
            sse_request(c);
            if (!conn_open(c)) {
                sse_errors++;
                c->phase = CLOSED;
            }
        }
        loop_once(10);
    }
    double connect_s = now() - t_connect;
    int64_t start_min = INT64_MAX;
    for (int i = 0; i < n_sse; i++)
        if (sse[i].hello && sse[i].start < start_min)
            start_min = sse[i].start;
    if (start_min == INT64_MAX)
        start_min = store_last_event();
    if (start_min < 0)
        return 1;

    /* the load */
    conn *api = calloc((size_t)pool, sizeof *api);
    for (int i = 0; i < pool; i++) {
        api[i].kind = API;
        api[i].fd = -1;
        api[i].phase = CLOSED;
    }
    double *queue = malloc(sizeof(double) * (size_t)(rate * seconds + 16));
    size_t q_head = 0, q_tail = 0;
    fprintf(stderr, "load started: %d of %d streams open in %.1f s\n", connected, n_sse, connect_s);
    double t0 = now(), cpu0 = cpu_seconds();
    long due = (long)llround(rate * seconds);
    long sent = 0;
    for (;;) {
        double t = now();
        while (sent < due && t0 + (double)sent / rate <= t)
            queue[q_tail++] = t0 + (double)(sent++) / rate;
        for (int i = 0; i < pool && q_head < q_tail; i++)
            if (api[i].phase == IDLE || api[i].phase == CLOSED)
                api_send(&api[i], queue[q_head++]);
        bool busy = q_head < q_tail;
        for (int i = 0; i < pool && !busy; i++)
            busy = api[i].phase != IDLE && api[i].phase != CLOSED;
        if (sent == due && !busy)
            break;
        if (sent == due && t - t0 > seconds + 5.0)
            break; /* answers still due after 5 s: errors below */
        double next = sent < due ? t0 + (double)sent / rate : t + 0.05;
        int ms = (int)ceil(1e3 * (next - now()));
        loop_once(ms < 0 ? 0 : ms > 50 ? 50 : ms);
    }
    for (int i = 0; i < pool; i++)
        if (api[i].phase != IDLE && api[i].phase != CLOSED) {
            errors++;
            conn_close(&api[i]);
        }
    errors += (long)(q_tail - q_head);
    double load_s = now() - t0, load_cpu_s = cpu_seconds() - cpu0;
    fprintf(stderr, "load ended after %.1f s\n", load_s);

    /* the end: every stream reads up to END, then the reference */
    int64_t end = store_last_event();
    bool end_from_streams = end < 0;
    for (int i = 0; end_from_streams && i < n_sse; i++) /* the newest any stream got */
        if (sse[i].last > end)
            end = sse[i].last;
    double t_end = now();
    while (now() - t_end < 10.0) {
        bool all = true;
        for (int i = 0; i < n_sse && all; i++)
            all = !sse[i].hello || sse[i].phase == CLOSED || sse[i].last >= end;
        if (all)
            break;
        loop_once(20);
    }
    double drain_s = now() - t_end;
    conn *ref = &sse[n_sse];
    ref->kind = SSE;
    ref->fd = -1;
    ref->reference = true;
    ref->pending_id = -1;
    ref->last = start_min;
    sse_request(ref); /* Last-Event-ID: START */
    if (!conn_open(ref))
        die("connect");
    double t_ref = now();
    while (ref->last < end && now() - t_ref < 10.0)
        loop_once(20);
    if (ref->last < end)
        fprintf(stderr, "bench_server: the reference stream reached %lld of %lld\n",
                (long long)ref->last, (long long)end);

    /* per stream: the reference ids in (start, END] that it lacks */
    long long lost = 0, dups = 0, clients_lost = 0, streams_open = 0;
    long long min_events = -1, expected_all = 0;
    for (size_t k = 0; k < ref->got.n; k++)
        expected_all += ref->got.v[k] > start_min && ref->got.v[k] <= end;
    for (int i = 0; i < n_sse; i++) {
        conn *c = &sse[i];
        if (!c->hello)
            continue;
        streams_open += c->phase != CLOSED;
        long long mine = 0, missing = 0;
        size_t j = 0;
        for (size_t k = 0; k < ref->got.n; k++) {
            int64_t id = ref->got.v[k];
            if (id <= c->start || id > end)
                continue;
            while (j < c->got.n && c->got.v[j] < id)
                j++;
            if (j < c->got.n && c->got.v[j] == id)
                mine++;
            else
                missing++;
        }
        lost += missing;
        clients_lost += missing > 0;
        dups += c->dups;
        if (min_events < 0 || mine < min_events)
            min_events = mine;
    }
    qsort(lat, n_lat, sizeof *lat, cmp_double);
    char statuses[512] = "";
    size_t used = 0;
    for (int s = 0; s < 600; s++)
        if (error_status[s] > 0)
            used += (size_t)snprintf(statuses + used, sizeof statuses - used, "%s\"%d\": %ld",
                                     used ? ", " : "", s, error_status[s]);
    printf("{\"sse_clients\": %d, \"sse_connected\": %d, \"sse_connect_s\": %.2f, "
           "\"sse_open_at_end\": %lld, \"sse_errors\": %ld, \"sse_reconnects\": %ld, "
           "\"events_expected\": %lld, \"events_min_per_client\": %lld, \"events_lost\": %lld, "
           "\"clients_with_loss\": %lld, \"events_duplicated\": %lld, \"event_first\": %lld, "
           "\"event_last\": %lld, \"event_last_from_streams\": %s, \"reference_complete\": %s, "
           "\"drain_s\": %.2f, \"rate\": "
           "%.1f, \"seconds\": %.1f, "
           "\"load_s\": %.2f, \"client_cpu_s\": %.2f, \"requests\": %ld, \"answered\": %zu, "
           "\"errors\": %ld, "
           "\"error_statuses\": {%s}, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
           n_sse, connected, connect_s, streams_open, sse_errors, sse_reconnects, expected_all,
           min_events < 0 ? 0 : min_events, lost, clients_lost, dups, (long long)start_min,
           (long long)end, end_from_streams ? "true" : "false", ref->last >= end ? "true" : "false",
           drain_s, rate, seconds, load_s, load_cpu_s, sent, n_lat, errors, statuses, pct(50),
           pct(99), n_lat ? lat[n_lat - 1] : 0.0);
    return 0;
}
