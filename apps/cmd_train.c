/* netsmith train: flags and a run config file into the run config, ns_run, and printing. The
 * flags come from the run config's settings table: every setting is --name-with-dashes, and
 * its plain aliases are flags too (--lr, --clip-norm, --early-stop). */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] = "SPEC|MODEL --data DATA [options]\n"
                            "       netsmith train -c run.yaml [options]";
static const char about[] =
    "Trains a model spec (JSON), a named blueprint (mlp) or a model file (.safetensors) on\n"
    "DATA: a built-in dataset (see 'netsmith datasets'), a CSV file, or an IDX image file. The\n"
    "data is split into train/validation/test parts (the official test set is kept when there\n"
    "is one), normalised with a fit on the training part, and trained; the test metrics are\n"
    "printed and the run is recorded in its run directory. A run config (-c) holds the same\n"
    "settings as the flags, under the names below with underscores; flags win over it.\n"
    "--schema prints every setting as a JSON schema.";

/* ---- progress output ------------------------------------------------------------------------ */

static atomic_int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

typedef struct view {
    bool tty, quiet, json;
    const char *output;
    double last_draw;
} view;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_event(void *ud, const ns_run_event *ev)
{
    view *v = ud;
    if (v->quiet)
        return;
    switch (ev->kind) {
    case NS_RUN_SEED_STARTED:
        fprintf(stderr, "training on %lld rows (validation %lld, test %lld), seed %llu\n",
                (long long)ev->train_rows, (long long)ev->val_rows, (long long)ev->test_rows,
                (unsigned long long)ev->seed);
        break;
    case NS_RUN_RESUMED:
        fprintf(stderr, "resumed from epoch %lld, batch %lld (%s)\n", (long long)ev->epoch + 1,
                (long long)ev->batch, ev->path);
        break;
    case NS_RUN_NO_CHECKPOINT:
        fprintf(stderr, "--resume: %s holds no checkpoint yet; training from the start\n",
                ev->path);
        break;
    case NS_RUN_BATCH: {
        if (!v->tty)
            break;
        double now = mono();
        if (now - v->last_draw < 0.1)
            break;
        v->last_draw = now;
        int width = 24, filled = ev->batches > 0 ? (int)(width * ev->batch / ev->batches) : 0;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] loss %.4f", (long long)ev->epoch + 1,
                (long long)ev->epochs, bar, ev->loss);
        fflush(stderr);
        break;
    }
    case NS_RUN_EPOCH: {
        const ns_epoch_report *r = ev->report;
        bool cls = r->train.is_classification;
        double eta = r->seconds * (double)(r->epochs - r->epoch - 1);
        char line[256];
        int n = snprintf(line, sizeof line, "epoch %3d/%d  loss %.4f", r->epoch + 1, r->epochs,
                         r->train.loss);
        if (r->has_val)
            n += snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.4f  val_%s %.4f",
                          r->val.loss, cls ? "accuracy" : "rmse",
                          cls ? r->val.accuracy : r->val.rmse);
        snprintf(line + n, sizeof line - (size_t)n, "  %.0f samples/s  ETA %.1fs",
                 r->samples_per_second, eta);
        if (v->tty)
            fprintf(stderr, "\r\033[K%s%s", line, r->epoch + 1 == r->epochs ? "\n" : "");
        else
            fprintf(stderr, "%s\n", line);
        break;
    }
    case NS_RUN_SAVED:
        if (v->tty)
            fprintf(stderr, "\r\033[K");
        if (v->output != NULL && ev->seeds == 1)
            fprintf(stderr, "saved %s\n", ev->path);
        break;
    default:
        break;
    }
}

/* ---- reporting
 * --------------------------------------------------------------------------------------- */

static void json_part(ns_ctx *ctx, const char *name, const ns_metric_values *v, bool first)
{
    char *text = NULL;
    if (ns_metrics_to_json(ctx, v, NULL, 0, &text) == NS_OK)
        printf("%s\"%s\": %s", first ? "" : ", ", name, text);
    ns_dealloc(ctx, text);
}

static void report(ns_ctx *ctx, const view *v, const ns_run_record *r)
{
    const ns_run_seed *s = &r->seeds[0];
    if (r->n_seeds == 1) {
        if (v->json) {
            printf("{");
            json_part(ctx, "train", &s->train, true);
            if (s->has_val)
                json_part(ctx, "val", &s->val, false);
            if (s->has_test)
                json_part(ctx, "test", &s->test, false);
            printf("}\n");
            return;
        }
        if (!v->quiet && s->has_val)
            cli_print_metrics(stdout, "validation", &s->val);
        if (s->has_test)
            cli_print_metrics(stdout, "test", &s->test);
        return;
    }
    /* Several seeds: mean and standard deviation of each test (or validation) metric. */
    ns_task task = r->mean.is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    if (v->json)
        printf("{\"seeds\": %d", r->n_seeds);
    else
        printf("%s over %d seeds (mean, std)\n", r->summary_of_test ? "test" : "validation",
               r->n_seeds);
    for (int id = 0; id < NS_METRIC_COUNT; id++) {
        if (id == NS_METRIC_N || !ns_metric_applies((ns_metric_id)id, task))
            continue;
        double mean = ns_metric_value(&r->mean, (ns_metric_id)id);
        double sd = ns_metric_value(&r->std, (ns_metric_id)id);
        if (v->json)
            printf(", \"%s\": {\"mean\": %.9g, \"std\": %.9g}", ns_metric_name((ns_metric_id)id),
                   mean, sd);
        else
            printf("  %-16s %10.4f %10.4f\n", ns_metric_name((ns_metric_id)id), mean, sd);
    }
    if (v->json)
        printf("}\n");
}

/* ---- the command
 * -------------------------------------------------------------------------------------- */

int cmd_train(int argc, char **argv)
{
    cli_run_flags *t = calloc(1, sizeof *t);
    if (t == NULL) {
        cli_error("train", "out of memory");
        return CLI_ERROR;
    }
    cli_run_flags_build(t, "train", "model", NULL, 0);
    cli_args a = {"train", t->flags, t->n, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    ns_ctx *ctx = NULL;
    ns_run_config *cfg = NULL;
    ns_run_record *rec = NULL;
    if (rc != CLI_OK || done)
        goto out;
    rc = CLI_ERROR;
    if (ns_ctx_new(NULL, &ctx) != NS_OK || ns_run_config_new(ctx, &cfg) != NS_OK)
        goto out;
    if (cli_has(&a, "--schema")) {
        char *schema = NULL;
        if (ns_run_config_schema(ctx, &schema) != NS_OK) {
            rc = cli_fail("train", ctx);
            goto out;
        }
        printf("%s\n", schema);
        ns_dealloc(ctx, schema);
        rc = CLI_OK;
        goto out;
    }
    rc = CLI_USAGE;
    if (cli_has(&a, "--config") && ns_run_config_load(cfg, cli_get(&a, "--config")) != NS_OK) {
        cli_error("train", "%s", ns_errmsg(ctx));
        goto out;
    }
    if (a.n_pos > 1) {
        cli_error("train", "expected one SPEC or MODEL, got %d arguments", a.n_pos);
        goto out;
    }
    if (a.n_pos == 1 && ns_run_config_set_text(cfg, "model", a.pos[0], "SPEC|MODEL") != NS_OK) {
        cli_error("train", "%s", ns_errmsg(ctx));
        goto out;
    }
    if ((rc = cli_run_flags_into(ctx, t, cfg)) != CLI_OK)
        goto out;
    rc = CLI_USAGE;
    if (!ns_run_config_has(cfg, "model")) {
        cli_error("train", "missing SPEC or MODEL (or a config with 'model'); see --help");
        goto out;
    }
    if (!ns_run_config_has(cfg, "data")) {
        cli_error("train", "missing --data DATA (a built-in name, CSV or IDX file)");
        goto out;
    }
    if (ns_run_config_check(cfg) != NS_OK) {
        cli_error("train", "%s", ns_errmsg(ctx));
        goto out;
    }
    if ((rc = cli_threads(&a, (int)ns_run_config_int(cfg, "threads"), ctx)) != CLI_OK)
        goto out;

    view v = {.tty = isatty(2) != 0,
              .json = cli_has(&a, "--json"),
              .output =
                  ns_run_config_has(cfg, "output") ? ns_run_config_string(cfg, "output") : NULL};
    v.quiet = cli_has(&a, "--quiet") || v.json;
    /* Ctrl-C stops the run at the next batch; it writes a checkpoint and says how to go on. */
    ns_progress progress = {.cancel = &interrupted};
    ns_run_hooks hooks = {on_event, &v, &progress};
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    ns_status st = ns_run(ctx, cfg, &hooks, &rec);
    sigaction(SIGINT, &old, NULL);
    if (v.tty && !v.quiet)
        fputc('\n', stderr);
    if (st == NS_ERR_CANCELLED) {
        cli_error("train", "%s", ns_errmsg(ctx));
        if (rec != NULL && rec->resume_dir != NULL)
            fprintf(stderr,
                    "netsmith train: to go on, run the same command with --run-dir %s "
                    "--checkpoint-dir %s --resume\n",
                    rec->run_dir, rec->resume_dir);
        rc = 130;
        goto out;
    }
    if (st != NS_OK) {
        /* the library names settings; here they are flags */
        const char *msg = ns_errmsg(ctx), *tail = "use another run_dir";
        size_t n = strlen(msg), k = strlen(tail);
        if (n >= k && strcmp(msg + n - k, tail) == 0)
            cli_error("train", "%.*suse another --run-dir", (int)(n - k), msg);
        else
            cli_error("train", "%s", msg);
        rc = CLI_ERROR;
        goto out;
    }
    report(ctx, &v, rec);
    if (!v.quiet)
        fprintf(stderr, "run recorded in %s\n", rec->run_dir);
    rc = CLI_OK;
out:
    ns_run_record_free(rec);
    ns_run_config_free(cfg);
    ns_ctx_free(ctx);
    free(t);
    return rc;
}
