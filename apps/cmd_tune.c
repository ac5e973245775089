/* netsmith tune and netsmith study: run a study of trials over the queue, and read studies
 * back from the store (flags -> ns_tune / ns_store_study_*, printing). */
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static atomic_int tune_stop;
static void on_tune_signal(int sig)
{
    (void)sig;
    atomic_store(&tune_stop, 1);
}

static void on_tune_event(void *ud, const ns_tune_event *ev)
{
    (void)ud;
    switch (ev->kind) {
    case NS_TUNE_TRIAL_STARTED:
        fprintf(stderr, "trial %d started: %s\n", ev->trial, ev->params ? ev->params : "{}");
        break;
    case NS_TUNE_TRIAL_PROMOTED:
        fprintf(stderr, "trial %d promoted: it goes on from its checkpoint\n", ev->trial);
        break;
    case NS_TUNE_TRIAL_ENDED:
        if (ev->state == NS_TRIAL_COMPLETE)
            fprintf(stderr, "trial %d complete: %.6g (best: trial %d, %.6g) [%d/%d]\n", ev->trial,
                    ev->value, ev->best, ev->best_value, ev->done, ev->total);
        else
            fprintf(stderr, "trial %d %s [%d/%d]\n", ev->trial, ns_trial_state_name(ev->state),
                    ev->done, ev->total);
        break;
    case NS_TUNE_FINISHED:
        if (ev->best >= 0)
            fprintf(stderr, "study finished: best trial %d, %.6g\n", ev->best, ev->best_value);
        else
            fprintf(stderr, "study finished: no trial completed\n");
        break;
    }
}

/* Whether arg names a file (a study file) rather than a study in the store. */
static bool is_file(const char *arg)
{
    FILE *f = fopen(arg, "rb");
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

static void print_best(const json_t *study);

int cmd_tune(int argc, char **argv)
{
    static const char usage[] = "STUDY.yaml | --resume STUDY [--store URL] [--resume] [--trials "
                                "N] [--parallel N] [--remote]";
    static const char about[] =
        "Runs a study: trials of the study file's base run config with settings from its search\n"
        "space, chosen by its sampler (tpe, random, grid) and stopped early by its pruner "
        "(median,\n"
        "asha, hyperband). Trials are jobs on the store's queue: --parallel N run at once, on N\n"
        "local workers this command runs, or with --remote on workers elsewhere ('netsmith\n"
        "worker'). A paused trial that successive halving promotes goes on from its checkpoint.\n"
        "--resume continues a stopped or killed study (by its file or its name): no trial is\n"
        "lost or run twice. SIGINT stops it; resume goes on. The best trial's model becomes a\n"
        "version of the model named after the study.";
    cli_flag flags[] = {
        STORE_FLAG,
        {"--resume", NULL, NULL, "continue the stored study of that name", NULL},
        {"--trials", NULL, "N", "the study's budget of trials (overrides the file's)", NULL},
        {"--parallel", NULL, "N", "trials running at once (overrides the file's)", NULL},
        {"--remote", NULL, NULL, "only queue trials: workers elsewhere run them", NULL},
        {"--lease", NULL, "SECONDS", "the local workers' leases (default 30)", NULL},
        {"--work-dir", NULL, "DIR", "where local workers run trials (default: a temporary dir)",
         NULL},
        JSON_FLAG,
        {"--quiet", "-q", NULL, "print no progress", NULL}};
    cli_args a = {"tune", flags, 9, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos != 1) {
        cli_error("tune", "give one study file (or, with --resume, a study's name); see "
                          "'netsmith tune --help'");
        return CLI_USAGE;
    }
    ns_tune_options o;
    ns_tune_options_default(&o);
    long long trials = 0, parallel = 0;
    if ((cli_has(&a, "--trials") && !cli_int(&a, "--trials", 1, 100000, &trials)) ||
        (cli_has(&a, "--parallel") && !cli_int(&a, "--parallel", 1, 256, &parallel)) ||
        (cli_has(&a, "--lease") && !cli_double(&a, "--lease", 0.5, 86400, &o.lease_seconds)))
        return CLI_USAGE;
    o.trials = (int)trials;
    o.parallel = (int)parallel;
    o.resume = cli_has(&a, "--resume");
    o.remote = cli_has(&a, "--remote");
    o.work_dir = cli_get(&a, "--work-dir");
    if (!cli_has(&a, "--quiet"))
        o.on_event = on_tune_event;
    session s;
    if ((rc = open_session(&s, &a, "tune")) != CLI_OK)
        return rc;
    const char *arg = a.pos[0];
    ns_study_def *def = NULL;
    if (is_file(arg) && ns_study_def_load(s.ctx, arg, &def) != NS_OK) {
        rc = cli_fail("tune", s.ctx);
        close_session(&s);
        return rc;
    }
    if (def == NULL && !o.resume) {
        cli_error("tune", "%s: no such study file (to continue a stored study, give --resume)",
                  arg);
        close_session(&s);
        return CLI_USAGE;
    }
    signal(SIGINT, on_tune_signal);
    signal(SIGTERM, on_tune_signal);
    ns_progress stop = {NULL, NULL, &tune_stop};
    o.stop = &stop;
    char *summary = NULL;
    ns_status st = ns_tune(s.store, def, def != NULL ? ns_study_def_name(def) : arg, &o, &summary);
    if (st == NS_ERR_CANCELLED) {
        cli_error("tune", "%s", ns_errmsg(s.ctx));
        rc = 130;
    } else if (st != NS_OK) {
        rc = cli_fail("tune", s.ctx);
    } else if (cli_has(&a, "--json")) {
        printf("%s\n", summary);
    } else {
        json_error_t e;
        json_t *j = json_loads(summary, 0, &e);
        print_best(j);
        json_decref(j);
    }
    ns_dealloc(s.ctx, summary);
    ns_study_def_free(def);
    close_session(&s);
    return rc;
}

/* ---- netsmith study ---------------------------------------------------------------------- */

static void print_value(const json_t *v)
{
    if (json_is_number(v))
        printf("%.6g", json_number_value(v));
    else
        printf("-");
}

static void print_params(const json_t *params)
{
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach((json_t *)params, key, v)
    {
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));
        printf("%s%s=%s", first ? "" : " ", key, t != NULL ? t : "?");
        free(t);
        first = false;
    }
}

static void print_best(const json_t *study)
{
    const json_t *best = json_object_get(study, "best");
    long long count = (long long)json_integer_value(json_object_get(study, "trial_count"));
    printf("study %s: %s, %lld trial%s (%lld complete, %lld pruned, %lld failed), %s %s\n",
           json_string_value(json_object_get(study, "name")),
           json_string_value(json_object_get(study, "state")), count, count == 1 ? "" : "s",
           (long long)json_integer_value(json_object_get(study, "complete")),
           (long long)json_integer_value(json_object_get(study, "pruned")),
           (long long)json_integer_value(json_object_get(study, "failed")),
           json_string_value(json_object_get(study, "direction")),
           json_string_value(json_object_get(study, "metric")));
    if (!json_is_object(best)) {
        printf("best: none yet (no trial is complete)\n");
        return;
    }
    printf("best: trial %lld, %s ", (long long)json_integer_value(json_object_get(best, "number")),
           json_string_value(json_object_get(study, "metric")));
    print_value(json_object_get(best, "value"));
    printf(" (job %lld)\n  ", (long long)json_integer_value(json_object_get(best, "job")));
    print_params(json_object_get(best, "params"));
    printf("\n");
    const json_t *model = json_object_get(study, "model");
    if (json_is_object(model))
        printf("model: %s@%lld\n", json_string_value(json_object_get(model, "name")),
               (long long)json_integer_value(json_object_get(model, "version")));
}

/* The trials sorted best first (complete ones by value in the study's direction, then the
 * others by number). */
static int cmp_maximize;
static int by_value(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    const json_t *va = json_object_get(a, "value"), *vb = json_object_get(b, "value");
    bool ha = json_is_number(va), hb = json_is_number(vb);
    if (ha != hb)
        return ha ? -1 : 1;
    if (ha) {
        double x = json_number_value(va), y = json_number_value(vb);
        if (x != y)
            return (x < y) != (cmp_maximize != 0) ? -1 : 1;
    }
    return (int)(json_integer_value(json_object_get(a, "number")) -
                 json_integer_value(json_object_get(b, "number")));
}

static void print_show(const json_t *study)
{
    print_best(study);
    const json_t *trials = json_object_get(study, "trials");
    size_t n = json_array_size(trials);
    json_t **sorted = malloc(sizeof *sorted * (n > 0 ? n : 1));
    if (sorted == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(trials, i);
    cmp_maximize = strcmp(json_string_value(json_object_get(study, "direction")), "maximize") == 0;
    qsort(sorted, n, sizeof *sorted, by_value);
    printf("\ntop trials:\n  %5s  %-9s  %12s  %6s  %s\n", "trial", "state", "value", "epochs",
           "settings");
    for (size_t i = 0; i < n && i < 10; i++) {
        const json_t *t = sorted[i];
        printf("  %5lld  %-9s  ", (long long)json_integer_value(json_object_get(t, "number")),
               json_string_value(json_object_get(t, "state")));
        const json_t *v = json_object_get(t, "value");
        if (json_is_number(v))
            printf("%12.6g", json_number_value(v));
        else
            printf("%12s", "-");
        printf("  %6zu  ", json_array_size(json_object_get(t, "steps")));
        print_params(json_object_get(t, "params"));
        printf("\n");
    }
    free(sorted);
    /* the optimisation history: each trial's value and the best so far */
    printf("\nhistory (trial: value, best so far):\n");
    double best = NAN;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(trials, i);
        const json_t *v = json_object_get(t, "value");
        if (json_is_number(v)) {
            double x = json_number_value(v);
            if (isnan(best) || (cmp_maximize ? x > best : x < best))
                best = x;
            printf("  %5zu: %12.6g  %12.6g\n", i, x, best);
        } else {
            const char *state = json_string_value(json_object_get(t, "state"));
            json_int_t epoch = json_integer_value(json_object_get(t, "epoch"));
            if (epoch > 0 && (strcmp(state, "pruned") == 0 || strcmp(state, "paused") == 0))
                printf("  %5zu: %12s  %12s  (%s at epoch %lld)\n", i, "-", "", state,
                       (long long)epoch);
            else
                printf("  %5zu: %12s  %12s  (%s)\n", i, "-", "", state);
        }
    }
    const json_t *imp = json_object_get(study, "importance");
    const json_t *list = json_object_get(imp, "importances");
    long long n_imp = (long long)json_integer_value(json_object_get(imp, "trials"));
    printf("\nsetting importance (%s over %lld complete trial%s):\n",
           json_string_value(json_object_get(imp, "method")), n_imp, n_imp == 1 ? "" : "s");
    if (json_array_size(list) == 0)
        printf("  (needs at least 2 complete trials whose values differ)\n");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i);
        double x = json_number_value(json_object_get(e, "importance"));
        int bar = (int)lround(x * 40);
        printf("  %-24s %6.3f  ", json_string_value(json_object_get(e, "setting")), x);
        for (int k = 0; k < bar; k++)
            putchar('#');
        putchar('\n');
    }
}

int cmd_study(int argc, char **argv)
{
    static const char usage[] = "list | show NAME | best NAME [--store URL] [--json]";
    static const char about[] =
        "Studies in the store. list: every study with its state, trials and best value. show:\n"
        "the best trial and its settings, the top trials, the optimisation history and the\n"
        "settings' importance (fANOVA). best: the best trial's settings as a run config's\n"
        "settings (JSON), to train with.";
    cli_flag flags[] = {STORE_FLAG, JSON_FLAG};
    cli_args a = {"study", flags, 2, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    static const char *const subs[] = {"list", "show", "best"};
    static const int npos[] = {1, 2, 2};
    int sub = -1;
    for (int i = 0; a.n_pos > 0 && i < 3; i++)
        if (strcmp(a.pos[0], subs[i]) == 0)
            sub = i;
    if (sub < 0 || a.n_pos != npos[sub]) {
        cli_error("study", "usage: netsmith study %s", usage);
        return CLI_USAGE;
    }
    session s;
    if ((rc = open_session(&s, &a, "study")) != CLI_OK)
        return rc;
    char *text = NULL;
    ns_status st = sub == 0 ? ns_store_study_list(s.store, &text)
                            : ns_store_study_get(s.store, a.pos[1], &text);
    if (st != NS_OK) {
        rc = cli_fail("study", s.ctx);
        close_session(&s);
        return rc;
    }
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (sub == 0 && cli_has(&a, "--json")) {
        printf("%s\n", text);
    } else if (sub == 0) {
        printf("%-24s %-9s %7s %9s %7s %-14s %-10s %s\n", "study", "state", "trials", "complete",
               "pruned", "metric", "sampler", "best");
        for (size_t i = 0; i < json_array_size(j); i++) {
            const json_t *o = json_array_get(j, i);
            printf("%-24s %-9s %7lld %9lld %7lld %-14s %-10s ",
                   json_string_value(json_object_get(o, "name")),
                   json_string_value(json_object_get(o, "state")),
                   (long long)json_integer_value(json_object_get(o, "trial_count")),
                   (long long)json_integer_value(json_object_get(o, "complete")),
                   (long long)json_integer_value(json_object_get(o, "pruned")),
                   json_string_value(json_object_get(o, "metric")),
                   json_string_value(json_object_get(o, "sampler")));
            print_value(json_object_get(o, "best_value"));
            printf("\n");
        }
    } else if (sub == 1 && cli_has(&a, "--json")) {
        printf("%s\n", text);
    } else if (sub == 1) {
        print_show(j);
    } else {
        /* best: the settings to train with */
        const json_t *best = json_object_get(j, "best");
        if (!json_is_object(best)) {
            cli_error("study", "study %s has no complete trial yet", a.pos[1]);
            rc = CLI_ERROR;
        } else if (cli_has(&a, "--json")) {
            char *t = json_dumps(best, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
            printf("%s\n", t != NULL ? t : "null");
            free(t);
        } else {
            char *t = json_dumps(json_object_get(best, "params"),
                                 JSON_INDENT(2) | JSON_REAL_PRECISION(17));
            printf("%s\n", t != NULL ? t : "{}");
            free(t);
        }
    }
    json_decref(j);
    ns_dealloc(s.ctx, text);
    close_session(&s);
    return rc;
}
