/* netsmith serve: the server (netsmith_server): the JSON API, live events and the web UI, with
 * in-process workers. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "netsmith/server.h"

static atomic_int serve_stop;
static void on_serve_signal(int sig)
{
    (void)sig;
    atomic_store(&serve_stop, 1);
}

/* Splits list at sep into out[cap] (pointers into copy, which the caller keeps); the count,
 * or -1 when there are more than cap. */
static int split(char *copy, char sep, const char **out, int cap)
{
    int n = 0;
    for (char *p = copy; p != NULL && *p != '\0';) {
        char *next = strchr(p, sep);
        if (next != NULL)
            *next++ = '\0';
        if (*p != '\0') {
            if (n == cap)
                return -1;
            out[n++] = p;
        }
        p = next;
    }
    return n;
}

int cmd_serve(int argc, char **argv)
{
    static const char usage[] =
        "[--store URL] [--listen HOST:PORT] [--workers N] [--token-file FILE] [--data-dir "
        "DIR[:DIR...]] [options]";
    static const char about[] =
        "Serves the JSON API (/api/v1/, described at /api/v1/openapi.json), live events and the\n"
        "web UI, and runs N workers that claim jobs from the store (workers on other machines\n"
        "share it: netsmith worker --store postgresql://...). It listens on loopback unless\n"
        "--listen names another address. Every API call needs the token, made at first start\n"
        "and saved with mode 0600 in the token file (default ~/.config/netsmith/token); the\n"
        "web UI logs in with the one-time link the server prints. Requests may name files only\n"
        "under the --data-dir roots. SIGINT or SIGTERM stop it; running jobs go back to the\n"
        "queue and resume from their checkpoints.";
    cli_flag flags[] = {
        {"--store", NULL, "URL", "the store (default: $NETSMITH_STORE or sqlite:netsmith.db)",
         NULL},
        {"--listen", NULL, "HOST:PORT", "the address (default 127.0.0.1:8321; port 0: any)", NULL},
        {"--workers", NULL, "N", "in-process workers (default 1; 0: none)", NULL},
        {"--token-file", NULL, "FILE", "the API token's file (made when missing)", NULL},
        {"--data-dir", NULL, "DIRS", "roots for the files requests name, ':'-separated", NULL},
        {"--allow-host", NULL, "NAMES",
         "Host names accepted besides the listen address "
         "(a proxy's), ','-separated",
         NULL},
        {"--cors-origin", NULL, "ORIGIN", "an origin allowed cross-site calls (default: none)",
         NULL},
        {"--max-body", NULL, "BYTES", "the largest request body (default 16777216)", NULL},
        {"--max-connections", NULL, "N", "open connections at once (default 2048)", NULL},
        {"--timeout", NULL, "SECONDS", "close idle or slow clients after this (default 30)", NULL},
        {"--http-threads", NULL, "N", "threads serving requests (default 4)", NULL},
        {"--keepalive", NULL, "SECONDS", "keep-alive interval of event streams (default 15)", NULL},
        {"--work-dir", NULL, "DIR", "where the workers run jobs (default: a temporary dir)", NULL},
        {"--checkpoint-steps", NULL, "N", "also checkpoint every N batches (default: every epoch)",
         NULL},
        {"--device", NULL, "LIST", "the workers' devices (cpu, or cpu,cuda)", NULL},
        {"--lease", NULL, "SECONDS", "the workers' lease on a job (default 30)", NULL},
        {"--access-log", NULL, "FILE", "append one line per request to FILE", NULL},
        {"--ui-dir", NULL, "DIR",
         "serve the web UI from DIR (a `npm run build` output) instead of the built-in one", NULL},
    };
    cli_args a = {"serve", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    ns_server_options o;
    ns_server_options_default(&o);
    long long workers = o.workers, body = (long long)o.max_body, conns = o.max_connections,
              timeout = o.timeout_seconds, threads = o.threads, steps = 0;
    if ((cli_has(&a, "--workers") && !cli_int(&a, "--workers", 0, 64, &workers)) ||
        (cli_has(&a, "--max-body") && !cli_int(&a, "--max-body", 1024, 1LL << 32, &body)) ||
        (cli_has(&a, "--max-connections") &&
         !cli_int(&a, "--max-connections", 8, 1000000, &conns)) ||
        (cli_has(&a, "--timeout") && !cli_int(&a, "--timeout", 1, 86400, &timeout)) ||
        (cli_has(&a, "--http-threads") && !cli_int(&a, "--http-threads", 1, 64, &threads)) ||
        (cli_has(&a, "--keepalive") &&
         !cli_double(&a, "--keepalive", 0.05, 3600, &o.keepalive_seconds)) ||
        (cli_has(&a, "--lease") && !cli_double(&a, "--lease", 0.5, 86400, &o.lease_seconds)) ||
        (cli_has(&a, "--checkpoint-steps") &&
         !cli_int(&a, "--checkpoint-steps", 1, 1000000000000LL, &steps)))
        return CLI_USAGE;
    o.workers = (int)workers;
    o.max_body = (size_t)body;
    o.max_connections = (int)conns;
    o.timeout_seconds = (int)timeout;
    o.threads = (int)threads;
    o.checkpoint_steps = steps;
    o.store_url = cli_get(&a, "--store");
    if (cli_has(&a, "--listen"))
        o.listen = cli_get(&a, "--listen");
    o.token_file = cli_get(&a, "--token-file");
    o.cors_origin = cli_get(&a, "--cors-origin");
    o.work_dir = cli_get(&a, "--work-dir");
    o.devices = cli_get(&a, "--device");
    o.access_log = cli_get(&a, "--access-log");
    o.ui_dir = cli_get(&a, "--ui-dir");
    char *dirs = cli_has(&a, "--data-dir") ? strdup(cli_get(&a, "--data-dir")) : NULL;
    char *hosts = cli_has(&a, "--allow-host") ? strdup(cli_get(&a, "--allow-host")) : NULL;
    char *real[NS_SERVER_MAX_DATA_DIRS] = {0};
    if (dirs != NULL) {
        o.n_data_dirs = split(dirs, ':', o.data_dirs, NS_SERVER_MAX_DATA_DIRS);
        /* the roots as absolute paths without links, so that paths under them compare */
        for (int i = 0; i < o.n_data_dirs; i++) {
            real[i] = realpath(o.data_dirs[i], NULL);
            if (real[i] == NULL) {
                cli_error("serve", "--data-dir %s: not a directory", o.data_dirs[i]);
                rc = CLI_USAGE;
                break;
            }
            o.data_dirs[i] = real[i];
        }
    }
    if (hosts != NULL)
        o.n_allow_hosts = split(hosts, ',', o.allow_hosts, NS_SERVER_MAX_HOSTS);
    if (o.n_data_dirs < 0 || o.n_allow_hosts < 0) {
        cli_error("serve", "at most %d data dirs and %d allowed hosts", NS_SERVER_MAX_DATA_DIRS,
                  NS_SERVER_MAX_HOSTS);
        rc = CLI_USAGE;
    }
    ns_ctx *ctx = NULL;
    if (rc == CLI_OK && ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("serve", "out of memory");
        rc = CLI_ERROR;
    }
    if (rc == CLI_OK) {
        signal(SIGINT, on_serve_signal);
        signal(SIGTERM, on_serve_signal);
        signal(SIGPIPE, SIG_IGN);
        ns_progress stop = {NULL, NULL, &serve_stop};
        o.stop = &stop;
        if (ns_server_run(ctx, &o) != NS_OK)
            rc = cli_fail("serve", ctx);
        else
            fprintf(stderr, "serve: stopped\n");
    }
    ns_ctx_free(ctx);
    for (int i = 0; i < NS_SERVER_MAX_DATA_DIRS; i++)
        free(real[i]);
    free(dirs);
    free(hosts);
    return rc;
}
