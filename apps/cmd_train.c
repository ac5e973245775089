/* netsmith train: the Train card from the command line. Loads the data, splits it, trains
 * (once per seed), evaluates every split, writes the model, and records the run (settings
 * and per-epoch metrics) in a run directory. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "train_job.h"

static const char usage[] = "SPEC|MODEL --data DATA [options]\n"
                            "       netsmith train -c run.yaml [options]";
static const char about[] =
    "Trains a model spec (JSON) or a model file (.safetensors) on DATA: a built-in dataset\n"
    "(see 'netsmith datasets'), a CSV file, or an IDX image file. The data is split into\n"
    "train/validation/test parts (the official test set is kept when there is one),\n"
    "normalised with a fit on the training part, and trained; the test metrics are printed.";

/* ---- progress output ------------------------------------------------------------------------ */

/* metrics.csv: its rows are kept here and the whole file is rewritten atomically after an
 * epoch, at most once a CSV_EVERY seconds (and after the last epoch), so a reader sees whole
 * rows at most that far behind, a kill leaves the last whole file, and runs of many short
 * epochs do not spend their time in fsync. */
#define CSV_EVERY 1.0

typedef struct progress_view {
    bool tty, quiet;
    int64_t batches;
    double last_draw;
    int seed_index, n_seeds;
    ns_ctx *ctx;
    char csv_path[4200]; /* "" when no metrics.csv is kept */
    char *csv;           /* the file's text (malloc'ed) */
    size_t csv_len, csv_cap;
    bool csv_dirty;      /* rows not written yet */
    double csv_written;  /* when it was last written (mono) */
    char csv_error[1100]; /* why writing it failed ("" while it has not) */
} progress_view;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Appends a formatted piece to the CSV text; false when out of memory. */
static bool csv_add(progress_view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool csv_add(progress_view *v, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(v->csv ? v->csv + v->csv_len : NULL, v->csv ? v->csv_cap - v->csv_len : 0,
                          fmt, ap);
        va_end(ap);
        if (n < 0)
            return false;
        if (v->csv != NULL && v->csv_len + (size_t)n < v->csv_cap) {
            v->csv_len += (size_t)n;
            v->csv_dirty = true;
            return true;
        }
        size_t cap = v->csv_cap ? 2 * v->csv_cap : 4096;
        while (cap <= v->csv_len + (size_t)n)
            cap *= 2;
        char *grown = realloc(v->csv, cap);
        if (grown == NULL)
            return false;
        v->csv = grown;
        v->csv_cap = cap;
    }
}

/* Writes metrics.csv (whole, atomically) when rows are waiting and CSV_EVERY has passed or
 * force is set. False after a failure, whose message is kept in csv_error. */
static bool csv_write(progress_view *v, bool force)
{
    if (v->csv_path[0] == '\0' || v->csv_error[0] != '\0')
        return v->csv_error[0] == '\0';
    double now = mono();
    if (!v->csv_dirty || (!force && now - v->csv_written < CSV_EVERY))
        return true;
    if (ns_write_file(v->ctx, v->csv_path, v->csv, v->csv_len) != NS_OK) {
        snprintf(v->csv_error, sizeof v->csv_error, "%s", ns_errmsg(v->ctx));
        return false;
    }
    v->csv_dirty = false;
    v->csv_written = now;
    return true;
}

static bool on_batch(void *ud, ns_trainer *t, const ns_batch *b, double loss)
{
    progress_view *v = ud;
    (void)b;
    if (v->quiet || !v->tty)
        return true;
    double now = mono();
    if (now - v->last_draw < 0.1)
        return true;
    v->last_draw = now;
    const ns_trainer_state *s = ns_trainer_get_state(t);
    int width = 24, filled = (int)((double)width * (double)s->batch / (double)v->batches);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[Kepoch %lld/%d [%s] loss %.4f", (long long)s->epoch + 1,
            ns_trainer_config(t)->epochs, bar, loss);
    fflush(stderr);
    return true;
}

static bool on_epoch(void *ud, ns_trainer *t, const ns_epoch_report *r)
{
    progress_view *v = ud;
    (void)t;
    bool cls = r->train.is_classification;
    if (v->csv_path[0] != '\0') {
        bool ok = csv_add(v, "%d,%lld,%.9g,%.9g,%.9g,%lld,%.9g", r->epoch + 1,
                          (long long)r->step, r->lr, r->seconds, r->train.loss,
                          (long long)r->train.n, cls ? r->train.accuracy : r->train.rmse);
        if (ok && r->has_val)
            ok = csv_add(v, ",%.9g,%.9g,%.9g,%.9g\n", r->val.loss,
                         cls ? r->val.accuracy : r->val.rmse, cls ? r->val.f1_macro : r->val.mae,
                         cls ? (double)NAN : r->val.r2);
        else if (ok)
            ok = csv_add(v, ",,,,\n");
        if (!ok && v->csv_error[0] == '\0')
            snprintf(v->csv_error, sizeof v->csv_error, "%.1000s: out of memory", v->csv_path);
        /* a run directory that cannot be written stops the run: its record would be lost */
        if (!ok || !csv_write(v, r->epoch + 1 == r->epochs))
            return false;
    }
    if (v->quiet)
        return true;
    double eta = r->seconds * (double)(r->epochs - r->epoch - 1);
    char line[256];
    int n = snprintf(line, sizeof line, "epoch %3d/%d  loss %.4f", r->epoch + 1, r->epochs,
                     r->train.loss);
    if (r->has_val)
        n += snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.4f  val_%s %.4f",
                      r->val.loss, cls ? "accuracy" : "rmse", cls ? r->val.accuracy : r->val.rmse);
    snprintf(line + n, sizeof line - (size_t)n, "  %.0f samples/s  ETA %.1fs",
             r->samples_per_second, eta);
    if (v->tty)
        fprintf(stderr, "\r\033[K%s%s", line, r->epoch + 1 == r->epochs ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    return true;
}

/* ---- the run directory ------------------------------------------------------------------------- */

/* threads: the context's count; recorded for the timings, the results do not depend on it.
 * Written atomically; errors on ctx. */
static ns_status write_settings(ns_ctx *ctx, const train_job *job, const char *dir,
                                uint64_t seed, int threads)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/settings.json", dir);
    const ns_fit_options *o = &job->fit;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:[f, f, f], s:I, s:i, s:i, s:s, s:f, s:f, s:s, s:s, s:s, s:i, s:s, "
        "s:f, s:i, s:s}",
        "net", job->net ? job->net : "(inline)", "data", job->data, "target",
        job->target ? job->target : "", "split", job->split[0], job->split[1], job->split[2],
        "seed", (json_int_t)seed, "epochs", o->epochs, "batch_size", o->batch_size, "optimizer",
        o->optimizer, "lr", o->lr, "weight_decay", o->weight_decay, "loss", o->loss, "normalize",
        ns_norm_kind_name(o->normalize), "schedule", ns_sched_kind_name(o->sched.kind),
        "early_stop_patience", o->early.patience, "monitor", o->early.monitor, "clip_norm",
        o->clip.max_norm, "threads", threads, "netsmith", ns_version());
    ns_status st = ns_write_json(ctx, path, j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return st;
}

/* ---- one training run ------------------------------------------------------------------------- */

typedef struct run_out {
    ns_metric_values train, val, test;
    bool has_val, has_test;
} run_out;

static ns_status evaluate_split(ns_model *m, const ns_model_info *info, const ns_dataset *ds,
                                ns_metric_values *out)
{
    ns_ctx *ctx = ns_model_ctx(m);
    ns_metrics *acc = NULL;
    ns_status st = ns_metrics_new(ctx, info->task, ns_model_output_size(m), &acc);
    if (st == NS_OK)
        st = ns_fit_evaluate(m, info, ds, 0, acc);
    if (st == NS_OK)
        st = ns_metrics_compute(acc, out);
    ns_metrics_free(acc);
    return st;
}

static int train_once(ns_ctx *ctx, train_job *job, const ns_spec *spec, ns_model *start,
                      ns_dataset *data, ns_dataset *official_test, uint64_t seed, int seed_index,
                      run_out *out)
{
    ns_dataset *tr = NULL, *va = NULL, *te = NULL;
    ns_split_options so;
    ns_split_options_default(&so);
    so.train = job->split[0];
    so.val = job->split[1];
    so.test = official_test ? 0 : job->split[2];
    so.seed = seed;
    int rc = CLI_OK;
    ns_status st = ns_data_split(data, &so, &tr, so.val > 0 ? &va : NULL,
                                 so.test > 0 ? &te : NULL);
    if (st != NS_OK)
        return cli_fail("train", ctx);
    const ns_dataset *test = official_test ? official_test : te;

    char dir[4096];
    if (job->n_seeds > 1)
        snprintf(dir, sizeof dir, "%s/seed-%llu", job->run_dir, (unsigned long long)seed);
    else
        snprintf(dir, sizeof dir, "%s", job->run_dir);
    progress_view view = {.tty = isatty(2) != 0, .quiet = job->quiet || job->json,
                          .seed_index = seed_index, .n_seeds = job->n_seeds, .ctx = ctx};
    /* The record starts whole or not at all: settings.json, then metrics.csv with its header
     * (a run that cannot write them does not train). */
    st = ns_make_dirs(ctx, dir);
    if (st == NS_OK)
        st = write_settings(ctx, job, dir, seed, ns_ctx_threads(ctx));
    if (st != NS_OK) {
        rc = cli_fail("train", ctx);
        goto done;
    }
    snprintf(view.csv_path, sizeof view.csv_path, "%s/metrics.csv", dir);
    bool cls_data = ns_dataset_task(data) == NS_TASK_CLASSIFICATION;
    if (!csv_add(&view, "epoch,step,lr,seconds,loss,n,%s,val_loss,val_%s,val_%s,val_r2\n",
                 cls_data ? "accuracy" : "rmse", cls_data ? "accuracy" : "rmse",
                 cls_data ? "f1_macro" : "mae")) {
        cli_error("train", "out of memory");
        rc = CLI_ERROR;
        goto done;
    }
    if (!csv_write(&view, true)) {
        cli_error("train", "%s", view.csv_error);
        rc = CLI_ERROR;
        goto done;
    }
    if (!view.quiet)
        fprintf(stderr, "training on %lld rows (validation %lld, test %lld), seed %llu\n",
                (long long)ns_dataset_rows(tr), va ? (long long)ns_dataset_rows(va) : 0LL,
                test ? (long long)ns_dataset_rows(test) : 0LL, (unsigned long long)seed);

    ns_fit_options fo = job->fit;
    fo.seed = seed;
    /* Seeds run one after another: each has its own checkpoints (and resumes from them). */
    char ckpt_dir[4200];
    if (fo.checkpoint_dir != NULL && job->n_seeds > 1) {
        snprintf(ckpt_dir, sizeof ckpt_dir, "%s/seed-%llu", fo.checkpoint_dir,
                 (unsigned long long)seed);
        fo.checkpoint_dir = ckpt_dir;
    }
    ns_train_callbacks cb = {on_batch, on_epoch, &view};
    ns_fit_result res;
    int64_t bs = fo.batch_size > 0 ? fo.batch_size : ns_spec_training(spec)->batch_size;
    view.batches = (ns_dataset_rows(tr) + bs - 1) / bs; /* the Train card keeps short batches */
    st = ns_fit(ctx, start ? NULL : spec, start, tr, va, &fo, &cb, NULL, &res);
    if (view.tty && !view.quiet)
        fputc('\n', stderr);
    if (st != NS_OK && res.model == NULL) {
        rc = cli_fail("train", ctx);
        csv_write(&view, true); /* the epochs run so far, for the record */
        goto done;
    }
    if (!csv_write(&view, true)) { /* stopped the run when an epoch's write failed */
        cli_error("train", "%s; the run stopped after epoch %d and wrote no model",
                  view.csv_error, res.epochs_run);
        ns_fit_result_free(ctx, &res);
        rc = CLI_ERROR;
        goto done;
    }
    if (st != NS_OK) {
        cli_fail("train", ctx);
        rc = CLI_ERROR;
    }
    if (res.resumed && !view.quiet)
        fprintf(stderr, "resumed from epoch %lld, batch %lld\n", (long long)res.resumed_epoch + 1,
                (long long)res.resumed_batch);
    ns_model_info info;
    if (ns_model_info_from(ctx, &res, tr, &info) != NS_OK) {
        ns_fit_result_free(ctx, &res);
        rc = cli_fail("train", ctx);
        goto done;
    }
    if (rc == CLI_OK) {
        st = evaluate_split(res.model, &info, tr, &out->train);
        if (st == NS_OK && va)
            st = evaluate_split(res.model, &info, va, &out->val);
        if (st == NS_OK && test)
            st = evaluate_split(res.model, &info, test, &out->test);
        out->has_val = va != NULL;
        out->has_test = test != NULL;
        char path[4200];
        const char *model_path = job->out;
        if (model_path == NULL || job->n_seeds > 1) {
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
            model_path = path;
        }
        if (st == NS_OK)
            st = ns_fit_save(res.model, &info, model_path);
        if (st == NS_OK && job->out && job->n_seeds <= 1 && !job->json && !job->quiet)
            fprintf(stderr, "saved %s\n", job->out);
        if (st != NS_OK)
            rc = cli_fail("train", ctx);
    }
    ns_model_info_deinit(ctx, &info);
    ns_fit_result_free(ctx, &res);
done:
    free(view.csv);
    ns_dataset_free(tr);
    ns_dataset_free(va);
    ns_dataset_free(te);
    return rc;
}

/* ---- reporting --------------------------------------------------------------------------------------- */

static void json_split(const char *name, const ns_metric_values *v, bool first)
{
    ns_ctx *ctx = NULL;
    char *text = NULL;
    if (ns_ctx_new(NULL, &ctx) == NS_OK && ns_metrics_to_json(ctx, v, NULL, 0, &text) == NS_OK)
        printf("%s\"%s\": %s", first ? "" : ", ", name, text);
    if (ctx)
        ns_dealloc(ctx, text);
    ns_ctx_free(ctx);
}

static void report(const train_job *job, const run_out *runs, int n)
{
    if (job->json && n == 1) {
        printf("{");
        json_split("train", &runs[0].train, true);
        if (runs[0].has_val)
            json_split("val", &runs[0].val, false);
        if (runs[0].has_test)
            json_split("test", &runs[0].test, false);
        printf("}\n");
        return;
    }
    const ns_metric_values *first = runs[0].has_test ? &runs[0].test : &runs[0].val;
    ns_task task = first->is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    if (n == 1) {
        if (!job->quiet && runs[0].has_val)
            cli_print_metrics(stdout, "validation", &runs[0].val);
        if (runs[0].has_test)
            cli_print_metrics(stdout, "test", &runs[0].test);
        return;
    }
    /* Several seeds: mean and standard deviation of each test (or validation) metric. */
    if (job->json)
        printf("{\"seeds\": %d", n);
    else
        printf("%s over %d seeds (mean, std)\n", runs[0].has_test ? "test" : "validation", n);
    for (int id = 0; id < NS_METRIC_COUNT; id++) {
        if (id == NS_METRIC_N || !ns_metric_applies((ns_metric_id)id, task))
            continue;
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            double x = ns_metric_value(runs[i].has_test ? &runs[i].test : &runs[i].val,
                                       (ns_metric_id)id);
            sum += x;
            sq += x * x;
        }
        double mean = sum / n, sd = n > 1 ? sqrt(fmax(0, (sq - n * mean * mean) / (n - 1))) : 0;
        if (job->json)
            printf(", \"%s\": {\"mean\": %.9g, \"std\": %.9g}", ns_metric_name((ns_metric_id)id),
                   mean, sd);
        else
            printf("  %-16s %10.4f %10.4f\n", ns_metric_name((ns_metric_id)id), mean, sd);
    }
    if (job->json)
        printf("}\n");
}

/* Makes a new run directory runs/<time>-<data> (with -2, -3, ... when that one exists, as
 * for two runs started in the same second) into buf. CLI_OK, or CLI_ERROR after a message. */
static int claim_run_dir(ns_ctx *ctx, const char *data_name, char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    if (ns_make_dirs(ctx, "runs") != NS_OK)
        return cli_fail("train", ctx);
    for (int k = 1; k <= 100; k++) {
        int n = k == 1 ? snprintf(buf, cap, "runs/%s-%s", stamp, data_name)
                       : snprintf(buf, cap, "runs/%s-%s-%d", stamp, data_name, k);
        if (n < 0 || (size_t)n >= cap) {
            cli_error("train", "the run directory name for '%s' is too long; give --run-dir",
                      data_name);
            return CLI_ERROR;
        }
        for (char *p = buf + 5; *p; p++)
            if (*p == '/' || *p == ' ')
                *p = '_';
        if (mkdir(buf, 0777) == 0)
            return CLI_OK;
        if (errno != EEXIST) {
            cli_error("train", "cannot create the run directory %s: %s; give --run-dir", buf,
                      strerror(errno));
            return CLI_ERROR;
        }
    }
    cli_error("train", "runs/%s-%s and 99 more run directories exist already; give --run-dir",
              stamp, data_name);
    return CLI_ERROR;
}

/* ---- the command -------------------------------------------------------------------------------------- */

int cmd_train(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", "-c", "FILE", "a run config (YAML or JSON) with the settings below", NULL},
        {"--data", NULL, "DATA", "built-in name, CSV path or IDX images file", NULL},
        {"--target", NULL, "COL", "target column(s) by name or index (default: the last)", NULL},
        {"--task", NULL, "TASK", "classification, regression or auto (default)", NULL},
        {"--labels", NULL, "FILE", "IDX labels file (default: found beside the images)", NULL},
        {"--split", NULL, "A,B[,C]", "train, validation, test ratios (default 0.7,0.15,0.15)",
         NULL},
        {"--seed", NULL, "S", "seed for weights, dropout, split and shuffling (default 0)", NULL},
        {"--epochs", NULL, "N", "epochs (default: the spec's)", NULL},
        {"--batch-size", NULL, "N", "batch size (default: the spec's)", NULL},
        {"--optimizer", NULL, "NAME", "sgd, adam, adamw or rmsprop (default: the spec's)", NULL},
        {"--lr", NULL, "X", "learning rate (default: the spec's)", NULL},
        {"--weight-decay", NULL, "X", "weight decay (default: the spec's)", NULL},
        {"--loss", NULL, "NAME", "mse, mae, huber, cross_entropy or bce (default: from the task)",
         NULL},
        {"--normalize", NULL, "KIND", "standard (default), minmax or none", NULL},
        {"--schedule", NULL, "NAME", "step, cosine, exponential, onecycle, plateau, warmup", NULL},
        {"--clip-norm", NULL, "X", "clip gradients to this global norm", NULL},
        {"--early-stop", NULL, "PATIENCE", "stop after PATIENCE epochs without improvement", NULL},
        {"--monitor", NULL, "METRIC", "metric for early stopping (default val_loss)", NULL},
        {"--restore-best", NULL, NULL, "end with the weights of the best epoch", NULL},
        {"--checkpoint-dir", NULL, "DIR", "write checkpoints here (and at the end)", NULL},
        {"--checkpoint-every", NULL, "N", "checkpoint every N epochs (default 1)", NULL},
        {"--checkpoint-steps", NULL, "N", "also checkpoint every N optimizer steps", NULL},
        {"--resume", NULL, NULL, "continue from the newest checkpoint in --checkpoint-dir", NULL},
        {"--output", "-o", "FILE", "model file to write (default RUN_DIR/model.safetensors)", NULL},
        {"--run-dir", NULL, "DIR", "where settings and per-epoch metrics go (default runs/...)",
         NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
        {"--json", NULL, NULL, "print the metrics as one JSON object", NULL},
        {"--quiet", "-q", NULL, "print no progress", NULL},
    };
    cli_args a = {"train", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;

    train_job job;
    train_job_init(&job);
    if (cli_has(&a, "--config") && (rc = train_job_from_config(&job, cli_get(&a, "--config"))))
        goto out;
    rc = CLI_USAGE;
    if (a.n_pos > 1) {
        cli_error("train", "expected one SPEC or MODEL, got %d arguments", a.n_pos);
        goto out;
    }
    if (a.n_pos == 1)
        job.net = a.pos[0];
    if (cli_has(&a, "--data"))
        job.data = cli_get(&a, "--data");
    if (job.net == NULL && job.net_json == NULL) {
        cli_error("train", "missing SPEC or MODEL (or a config with 'net'); see --help");
        goto out;
    }
    if (job.data == NULL) {
        cli_error("train", "missing --data DATA (a built-in name, CSV or IDX file)");
        goto out;
    }
    const char *v;
    long long x;
    if ((v = cli_get(&a, "--target")))
        job.target = v;
    if ((v = cli_get(&a, "--task")))
        job.task = v;
    if ((v = cli_get(&a, "--labels")))
        job.labels = v;
    if ((v = cli_get(&a, "--split")) && !parse_split(v, job.split)) {
        cli_error("train", "--split: expected two or three ratios like 0.7,0.15,0.15, got '%s'",
                  v);
        goto out;
    }
    if (cli_has(&a, "--seed")) {
        if (!cli_int(&a, "--seed", 0, INT64_MAX, &x))
            goto out;
        job.seeds[0] = (uint64_t)x;
        job.n_seeds = 1;
    }
    ns_fit_options *fo = &job.fit;
    if (!cli_int(&a, "--epochs", 1, 1000000, &x))
        goto out;
    fo->epochs = cli_has(&a, "--epochs") ? (int)x : fo->epochs;
    if (!cli_int(&a, "--batch-size", 1, 1 << 20, &x))
        goto out;
    fo->batch_size = cli_has(&a, "--batch-size") ? (int)x : fo->batch_size;
    if ((v = cli_get(&a, "--optimizer")))
        snprintf(fo->optimizer, sizeof fo->optimizer, "%s", v);
    if (!cli_double(&a, "--lr", 1e-12, 1e6, &fo->lr) ||
        !cli_double(&a, "--weight-decay", 0, 1e6, &fo->weight_decay) ||
        !cli_double(&a, "--clip-norm", 1e-12, 1e12, &fo->clip.max_norm))
        goto out;
    if ((v = cli_get(&a, "--loss")))
        snprintf(fo->loss, sizeof fo->loss, "%s", v);
    if ((v = cli_get(&a, "--normalize")) && ns_norm_kind_parse(v, &fo->normalize) != NS_OK) {
        cli_error("train", "--normalize: expected standard, minmax or none, got '%s'", v);
        goto out;
    }
    if (!cli_int(&a, "--early-stop", 1, 1000000, &x))
        goto out;
    if (cli_has(&a, "--early-stop"))
        fo->early.patience = (int)x;
    if ((v = cli_get(&a, "--monitor")))
        snprintf(fo->early.monitor, sizeof fo->early.monitor, "%s", v);
    if (cli_has(&a, "--restore-best"))
        fo->early.restore_best = true;
    if ((v = cli_get(&a, "--checkpoint-dir")))
        fo->checkpoint_dir = v;
    if (!cli_int(&a, "--checkpoint-every", 1, 1000000, &x))
        goto out;
    if (cli_has(&a, "--checkpoint-every"))
        fo->checkpoint_epochs = (int)x;
    if (!cli_int(&a, "--checkpoint-steps", 1, INT64_MAX, &x))
        goto out;
    if (cli_has(&a, "--checkpoint-steps"))
        fo->checkpoint_steps = x;
    if (cli_has(&a, "--resume"))
        fo->resume = true;
    if (fo->resume && fo->checkpoint_dir == NULL) {
        cli_error("train", "--resume needs --checkpoint-dir DIR");
        goto out;
    }
    if (fo->checkpoint_dir && fo->checkpoint_epochs == 0 && fo->checkpoint_steps == 0)
        fo->checkpoint_epochs = 1;
    if ((v = cli_get(&a, "--output")))
        job.out = v;
    if ((v = cli_get(&a, "--run-dir")))
        job.run_dir = v;
    job.json = job.json || cli_has(&a, "--json");
    job.quiet = job.quiet || cli_has(&a, "--quiet");
    if (job.n_seeds == 0)
        job.n_seeds = 1;

    /* The spec (or model), then the data. */
    rc = CLI_ERROR;
    ns_ctx *ctx = NULL;
    ns_spec *spec = NULL;
    ns_model *start = NULL;
    ns_model_info start_info;
    memset(&start_info, 0, sizeof start_info);
    ns_dataset *data = NULL, *test = NULL;
    run_out runs[JOB_MAX_SEEDS];
    char run_dir[512];
    ns_dir_lock *run_lock = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        goto out;
    if ((rc = cli_threads(&a, job.threads, ctx)) != CLI_OK)
        goto cleanup;
    rc = CLI_ERROR;
    ns_status st;
    size_t nl = job.net ? strlen(job.net) : 0;
    if (job.net_json != NULL)
        st = ns_spec_parse(ctx, job.net_json, strlen(job.net_json), "config net", &spec);
    else if (nl > 12 && strcmp(job.net + nl - 12, ".safetensors") == 0)
        st = ns_fit_load(ctx, job.net, 0, &start, &start_info);
    else
        st = ns_spec_load(ctx, job.net, &spec);
    if (st == NS_OK && job.fit.sched.kind == NS_SCHED_CONSTANT && (v = cli_get(&a, "--schedule"))) {
        int epochs = job.fit.epochs ? job.fit.epochs
                                    : ns_spec_training(spec ? spec : ns_model_spec(start))->epochs;
        if (!parse_schedule(v, epochs, &job.fit.sched)) {
            cli_error("train", "--schedule: unknown schedule '%s'; use step, multistep, "
                               "exponential, cosine, warmup, onecycle or plateau", v);
            rc = CLI_USAGE;
            goto cleanup;
        }
    }
    if (st == NS_OK) {
        cli_args da = a;
        for (int i = 0; i < da.n_flags; i++) { /* config values stand in for absent flags */
            if (strcmp(da.flags[i].name, "--target") == 0)
                da.flags[i].value = job.target;
            if (strcmp(da.flags[i].name, "--task") == 0)
                da.flags[i].value = job.task;
            if (strcmp(da.flags[i].name, "--labels") == 0)
                da.flags[i].value = job.labels;
        }
        st = cli_load_data(ctx, &da, job.data, &data, &test);
    }
    if (st != NS_OK) {
        rc = cli_fail("train", ctx);
        goto cleanup;
    }
    if (start != NULL && start_info.norm.kind != NS_NORM_NONE && !cli_has(&a, "--normalize"))
        job.fit.normalize = start_info.norm.kind;
    if (job.run_dir == NULL && (rc = claim_run_dir(ctx, ns_dataset_name(data), run_dir,
                                                   sizeof run_dir)) != CLI_OK)
        goto cleanup;
    if (job.run_dir == NULL)
        job.run_dir = run_dir;
    /* The run directory is this command's until it ends (every seed's record is in it). */
    if (ns_dir_lock_open(ctx, job.run_dir, "run", "wait for it to finish, or use another --run-dir",
                         &run_lock) != NS_OK) {
        rc = cli_fail("train", ctx);
        goto cleanup;
    }
    rc = CLI_OK;
    for (int i = 0; i < job.n_seeds && rc == CLI_OK; i++)
        rc = train_once(ctx, &job, spec ? spec : ns_model_spec(start), start, data, test,
                        job.seeds[i], i, &runs[i]);
    if (rc == CLI_OK)
        report(&job, runs, job.n_seeds);
    if (rc == CLI_OK && !job.quiet && !job.json)
        fprintf(stderr, "run recorded in %s\n", job.run_dir);
cleanup:
    ns_dir_lock_close(run_lock);
    ns_dataset_free(data);
    ns_dataset_free(test);
    ns_model_info_deinit(ctx, &start_info);
    ns_model_free(start);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
out:
    train_job_deinit(&job);
    return rc;
}
