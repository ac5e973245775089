/* netsmith server: `netsmith serve`, in the library netsmith_server (above the store; the core
 * links no HTTP library). An HTTP/1.1 server (libmicrohttpd) with a JSON API under /api/v1/
 * over the registry, the job queue and pipelines, live events (Server-Sent Events, replayed
 * from the store's event log), inference, and the web UI's files from the binary. It runs
 * in-process workers that claim jobs like `netsmith worker`; workers elsewhere share the store.
 *
 * Safe by default: it listens on loopback; every /api route needs the bearer token (made at
 * first start, saved with mode 0600) or the session cookie a one-time login link sets; the Host
 * header must name the server (no DNS rebinding); no CORS unless configured; bodies, headers,
 * connections and slow clients are limited; request paths are confined to the --data-dir roots.
 * No training, registry or pipeline logic lives here: it calls the library. */
#ifndef NETSMITH_SERVER_H
#define NETSMITH_SERVER_H

#include <stdio.h>

#include "netsmith/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NS_SERVER_MAX_DATA_DIRS 16
#define NS_SERVER_MAX_HOSTS 16

typedef struct ns_server_options {
    const char *store_url;  /* NULL: ns_store_default_url() */
    const char *listen;     /* "HOST:PORT" ("127.0.0.1:8321"; port 0: any free one) */
    int workers;            /* in-process workers (1; 0: none) */
    const char *token_file; /* NULL: $XDG_CONFIG_HOME/netsmith/token or ~/.config/... */
    const char *data_dirs[NS_SERVER_MAX_DATA_DIRS]; /* roots request paths must lie under */
    int n_data_dirs;
    const char *allow_hosts[NS_SERVER_MAX_HOSTS]; /* Host names accepted besides the listen
                                                   * address's (a proxy's name) */
    int n_allow_hosts;
    const char *cors_origin;  /* an origin allowed cross-site requests (NULL: none) */
    size_t max_body;          /* bytes (16 MiB); a larger body is a 413 */
    size_t max_header;        /* bytes of a request's headers (32 KiB); more is a 431/413 */
    int max_connections;      /* open connections at once (2048) */
    int timeout_seconds;      /* an idle or slow client is closed after this (30) */
    int threads;              /* HTTP threads (4) */
    double keepalive_seconds; /* a comment line down each quiet event stream (15) */
    double poll_seconds;      /* how often the event log is read (0.1) */
    const char *work_dir;     /* the in-process workers' (default: temporary) */
    int64_t checkpoint_steps; /* the workers' (0: every epoch) */
    double lease_seconds;     /* the workers' lease on a job (0: the worker's default, 30) */
    const char *devices;      /* the workers' devices ("cpu") */
    const char *access_log;   /* a file to append one line per request to (NULL: none) */
    const char *ui_dir;       /* serve the web UI's files from this directory instead of the
                               * ones built into the binary (for working on the UI; NULL) */
    const ns_progress *stop;  /* its cancel flag stops the server (may be NULL) */
    FILE *out;                /* where the addresses, the token and warnings go (stderr) */
} ns_server_options;

/* The defaults above, everything else zero or NULL. */
NS_API void ns_server_options_default(ns_server_options *opts);

/* Serves until opts->stop's flag is set. Prints to opts->out the address it listens on
 * ("serving on http://127.0.0.1:8321"), the token when it made one, and a one-time login link
 * for the web UI. Errors: NS_ERR_INVALID for bad options (a listen address that is not
 * HOST:PORT, a data dir that is not a directory); NS_ERR_IO when it cannot listen, or cannot
 * read or write the token file; the store's errors when it cannot be opened at start. */
NS_API ns_status ns_server_run(ns_ctx *ctx, const ns_server_options *opts);

#ifdef __cplusplus
}
#endif

#endif
