/* The store's queue, measured against the store's own floor in the same run: a write transaction
 * of one row (on SQLite with synchronous=FULL, one fsync of the log; on PostgreSQL a round trip
 * and a commit). Prints "key value" lines for bench/bench_store.sh:
 *   claim_ms       claim + complete of one job (one connection), ms per job
 *   floor_ms       a write transaction of one row, ms
 *   jobs2_s        1,000 empty jobs through 2 worker threads, each with its own connection, s
 *   train_s        a real training run (fashion-mnist, an MLP, 2 epochs) following its events
 *                  but writing nothing, s
 *   train_store_s  the same run writing its progress to the store every epoch (as a worker), s
 *   progress_ms    one progress write, ms
 *
 *   bench_store URL [JOBS]     (URL: sqlite:PATH or postgresql://...) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netsmith/netsmith.h"
#include "netsmith/store.h"
#include "store/store_private.h"
#include "bench_util.h"

static void check(ns_ctx *ctx, ns_status st, const char *what)
{
    if (st != NS_OK) {
        fprintf(stderr, "bench_store: %s: %s\n", what, ns_errmsg(ctx));
        exit(1);
    }
}

static const char *url;

/* n queued jobs, their parameters as the real ones would be */
static void submit(ns_ctx *ctx, ns_store *s, int n)
{
    for (int i = 0; i < n; i++) {
        int64_t id = 0;
        check(ctx,
              ns__job_insert(s, NULL, NS_JOB_TRAIN, "{\"model\": \"m\", \"data\": \"d\"}", 0, NULL,
                             &id),
              "submit");
    }
}

static int drain(ns_ctx *ctx, ns_store *s)
{
    int done = 0;
    for (;;) {
        ns_job j;
        ns_lease l;
        bool got = false;
        ns_status st = ns_job_claim(s, "bench", 60, &j, &l, &got);
        if (st == NS_ERR_BUSY)
            continue;
        check(ctx, st, "claim");
        if (!got)
            return done;
        st = ns_job_finish(s, &l, NS_JOB_SUCCEEDED, NULL, NULL);
        while (st == NS_ERR_BUSY)
            st = ns_job_finish(s, &l, NS_JOB_SUCCEEDED, NULL, NULL);
        check(ctx, st, "finish");
        ns_job_clear(&j);
        done++;
    }
}

static void *drain_thread(void *arg)
{
    int *done = arg;
    ns_ctx *ctx = NULL;
    ns_store *s = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return NULL;
    check(ctx, ns_store_open(ctx, url, &s), "open");
    *done = drain(ctx, s);
    ns_store_close(s);
    ns_ctx_free(ctx);
    return NULL;
}

static void empty_queue(ns_ctx *ctx, ns_store *s)
{
    check(ctx, ns__store_exec(s, "DELETE FROM jobs", NULL, 0, NULL, NULL), "empty the queue");
}

/* ---- progress writes during a real training ------------------------------------------------ */

typedef struct progress_sink {
    ns_store *s;
    ns_lease lease;
    ns_ctx *ctx;
} progress_sink;

static void on_event(void *ud, const ns_run_event *ev)
{
    progress_sink *p = ud;
    if (ev->kind != NS_RUN_EPOCH || ev->report == NULL || p->s == NULL)
        return;
    char *metrics = NULL;
    check(p->ctx, ns_metrics_to_json(p->ctx, &ev->report->train, NULL, 0, &metrics), "metrics");
    check(p->ctx,
          ns_job_progress(p->s, &p->lease, ev->report->epoch + 1, ev->report->epochs, metrics),
          "progress");
    ns_dealloc(p->ctx, metrics);
}

static double train(ns_ctx *ctx, const char *dir, int k, progress_sink *sink)
{
    ns_run_config *cfg = NULL;
    check(ctx, ns_run_config_new(ctx, &cfg), "config");
    char body[600];
    snprintf(body, sizeof body,
             "{\"model\": \"mlp\", \"data\": \"fashion-mnist\", \"epochs\": 2, \"seed\": 1, "
             "\"threads\": 1, \"run_dir\": \"%s/run-%d\"}",
             dir, k);
    check(ctx, ns_run_config_merge(cfg, body, "bench"), "config");
    ns_run_hooks hooks = {on_event, sink, NULL};
    ns_run_record *rec = NULL;
    double t0 = now();
    check(ctx, ns_run(ctx, cfg, &hooks, &rec), "train");
    double t = now() - t0;
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store URL [JOBS]\n");
        return 2;
    }
    url = argv[1];
    int jobs = argc > 2 ? atoi(argv[2]) : 1000;
    ns_ctx *ctx = NULL;
    ns_store *s = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return 1;
    check(ctx, ns_store_open(ctx, url, &s), "open");
    empty_queue(ctx, s);

    /* the floor: a write transaction of one row */
    int n_floor = 200;
    double t0 = now();
    for (int i = 0; i < n_floor; i++) {
        check(ctx, s->backend->begin(s->conn), "begin");
        check(ctx,
              ns__store_exec(s, "UPDATE meta SET value = value WHERE key = 'schema_version'", NULL,
                             0, NULL, NULL),
              "write");
        check(ctx, s->backend->commit(s->conn), "commit");
    }
    double floor_ms = 1e3 * (now() - t0) / n_floor;

    /* claim + complete, one connection */
    int n_claim = 300;
    submit(ctx, s, n_claim);
    t0 = now();
    int done = drain(ctx, s);
    double claim_ms = 1e3 * (now() - t0) / (done > 0 ? done : 1);
    empty_queue(ctx, s);

    /* jobs through two workers */
    submit(ctx, s, jobs);
    int d[2] = {0, 0};
    pthread_t t[2];
    t0 = now();
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, drain_thread, &d[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double jobs2_s = now() - t0;
    if (d[0] + d[1] != jobs) {
        fprintf(stderr, "bench_store: %d of %d jobs ran\n", d[0] + d[1], jobs);
        return 1;
    }
    empty_queue(ctx, s);

    /* progress writes during a real training, alternating with the same run without them */
    char dir[] = "/tmp/netsmith-bench-store-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    submit(ctx, s, 1);
    progress_sink sink = {s, {0, 0}, ctx};
    ns_job j;
    bool got = false;
    check(ctx, ns_job_claim(s, "bench", 3600, &j, &sink.lease, &got), "claim");
    ns_job_clear(&j);
    /* the reference follows the same events and writes nothing */
    progress_sink quiet = {NULL, {0, 0}, ctx};
    double plain = 1e30, stored = 1e30;
    for (int r = 0; r < 3; r++) {
        double a = train(ctx, dir, 2 * r, &quiet);
        double b = train(ctx, dir, 2 * r + 1, &sink);
        plain = a < plain ? a : plain;
        stored = b < stored ? b : stored;
    }
    int n_prog = 100;
    t0 = now();
    for (int i = 0; i < n_prog; i++)
        check(ctx, ns_job_progress(s, &sink.lease, i, n_prog, "{\"loss\": 0.5}"), "progress");
    double progress_ms = 1e3 * (now() - t0) / n_prog;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_store: %s left behind\n", dir);
    empty_queue(ctx, s);

    printf("backend %s\n", ns_store_backend(s));
    printf("floor_ms %.4f\n", floor_ms);
    printf("claim_ms %.4f\n", claim_ms);
    printf("jobs2_s %.4f\n", jobs2_s);
    printf("jobs %d\n", jobs);
    printf("train_s %.4f\n", plain);
    printf("train_store_s %.4f\n", stored);
    printf("progress_ms %.4f\n", progress_ms);
    ns_store_close(s);
    ns_ctx_free(ctx);
    return 0;
}
