/* Shared pieces of the subcommands: strict flag parsing with --help, the thread setting, data
 * loading from flags, and metric tables. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "netsmith %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const char *cmd, ns_ctx *ctx)
{
    cli_error(cmd, "%s", ns_errmsg(ctx));
    return CLI_ERROR;
}

static void print_usage(const cli_args *a, const char *usage, const char *about)
{
    printf("usage: netsmith %s %s\n\n%s\n\noptions:\n", a->cmd, usage, about);
    for (int i = 0; i < a->n_flags; i++) {
        const cli_flag *f = &a->flags[i];
        if (f->help == NULL) /* another name of a flag listed with it */
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s%s", f->alias ? f->alias : "", f->alias ? ", " : "",
                 f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        printf("  %-28s %s\n", left, f->help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
}

static cli_flag *find_flag(cli_args *a, const char *name)
{
    for (int i = 0; i < a->n_flags; i++)
        if (strcmp(a->flags[i].name, name) == 0 ||
            (a->flags[i].alias && strcmp(a->flags[i].alias, name) == 0))
            return &a->flags[i];
    return NULL;
}

int cli_parse(cli_args *a, int argc, char **argv, const char *usage, const char *about, bool *done)
{
    *done = false;
    a->n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_usage(a, usage, about);
            *done = true;
            return CLI_OK;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            /* --name=value is accepted as well as --name value */
            char name[64];
            const char *eq = strchr(arg, '=');
            size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
            snprintf(name, sizeof name, "%.*s", (int)len, arg);
            cli_flag *f = find_flag(a, name);
            if (f == NULL) {
                cli_error(a->cmd, "unknown option '%s'; see 'netsmith %s --help'", name, a->cmd);
                return CLI_USAGE;
            }
            if (f->arg == NULL) {
                if (eq) {
                    cli_error(a->cmd, "option '%s' takes no value", name);
                    return CLI_USAGE;
                }
                f->value = "1";
            } else if (eq) {
                f->value = eq + 1;
            } else if (i + 1 < argc) {
                f->value = argv[++i];
            } else {
                cli_error(a->cmd, "option '%s' needs a value (%s)", name, f->arg);
                return CLI_USAGE;
            }
            continue;
        }
        if (a->n_pos == (int)(sizeof a->pos / sizeof a->pos[0])) {
            cli_error(a->cmd, "too many arguments");
            return CLI_USAGE;
        }
        a->pos[a->n_pos++] = arg;
    }
    return CLI_OK;
}

const char *cli_get(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->n_flags; i++)
        if (strcmp(a->flags[i].name, name) == 0)
            return a->flags[i].value;
    return NULL;
}

bool cli_has(const cli_args *a, const char *name)
{
    return cli_get(a, name) != NULL;
}

bool cli_int(const cli_args *a, const char *name, long long lo, long long hi, long long *out)
{
    const char *v = cli_get(a, name);
    if (v == NULL)
        return true;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || x < lo || x > hi) {
        cli_error(a->cmd, "%s: expected an integer in [%lld, %lld], got '%s'", name, lo, hi, v);
        return false;
    }
    *out = x;
    return true;
}

bool cli_double(const cli_args *a, const char *name, double lo, double hi, double *out)
{
    const char *v = cli_get(a, name);
    if (v == NULL)
        return true;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(x) || x < lo || x > hi) {
        cli_error(a->cmd, "%s: expected a number in [%g, %g], got '%s'", name, lo, hi, v);
        return false;
    }
    *out = x;
    return true;
}

/* The default stops at 8 (more with --threads N): idle workers spin a little after each
 * parallel call, so a many-core machine does not lend them all to one job unasked. */
enum { DEFAULT_THREADS_MAX = 8 };

int cli_threads(const cli_args *a, int fallback, ns_ctx *ctx)
{
    long long n = fallback;
    if (n < 1) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > DEFAULT_THREADS_MAX ? DEFAULT_THREADS_MAX : cpus;
    }
    if (!cli_int(a, "--threads", 1, NS_MAX_THREADS, &n))
        return CLI_USAGE;
    /* The pool splits products and convolutions only while OpenBLAS runs on one thread; on
     * 2 cores the pool at 2 with OpenBLAS at 1 measured fastest or tied on every network
     * (1.5x OpenBLAS's own threading on the CNN). */
    ns_blas_set_threads(1);
    if (ns_ctx_set_threads(ctx, (int)n) != NS_OK) {
        cli_error(a->cmd, "--threads: %s", ns_errmsg(ctx));
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_input_shape(const cli_args *a, bool required, ns_build_opts *bo, bool *given)
{
    const char *size = cli_get(a, "--input-size"), *shape = cli_get(a, "--input-shape");
    if (given != NULL)
        *given = size != NULL || shape != NULL;
    if ((size != NULL && shape != NULL) || (required && size == NULL && shape == NULL)) {
        cli_error(a->cmd, required
                              ? "give exactly one of --input-size N and --input-shape C,H,W"
                              : "give one of --input-size N and --input-shape C,H,W, not both");
        return CLI_USAGE;
    }
    long long n = 1;
    if (!cli_int(a, "--input-size", 1, INT32_MAX, &n))
        return CLI_USAGE;
    ns_build_opts_default(bo, (int)n);
    if (shape == NULL)
        return CLI_OK;
    int ndim = 0;
    const char *p = shape;
    for (;;) {
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (end == p || errno != 0 || d < 1 || d > INT32_MAX || ndim == NS_MAX_DIMS - 1 ||
            (*end != ',' && *end != '\0')) {
            cli_error(a->cmd,
                      "--input-shape: expected 1 to %d positive sizes like 1,28,28, got '%s'",
                      NS_MAX_DIMS - 1, shape);
            return CLI_USAGE;
        }
        bo->input_shape[ndim++] = (int)d;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    bo->input_ndim = ndim;
    return CLI_OK;
}

int cli_model_and_data(const cli_args *a, const char **source)
{
    if (a->n_pos != 1) {
        cli_error(a->cmd, "expected one MODEL file, got %d arguments; see 'netsmith %s --help'",
                  a->n_pos, a->cmd);
        return CLI_USAGE;
    }
    *source = cli_get(a, "--data");
    if (*source == NULL) {
        cli_error(a->cmd, "missing --data DATA (a built-in name, CSV or IDX file)");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Each read option's flag is the Data Load (and run config) setting of the same name, with
 * dashes. */
static const char *const data_flags[][2] = {
    {"--target", "target"},           {"--features", "features"}, {"--exclude", "exclude"},
    {"--labels", "labels"},           {"--task", "task"},         {"--one-hot", "one_hot"},
    {"--delimiter", "delimiter"},     {"--missing", "missing"},   {"--no-header", "no_header"},
    {"--max-classes", "max_classes"},
};
#define N_DATA_FLAGS (sizeof data_flags / sizeof data_flags[0])

ns_status cli_data_options(ns_ctx *ctx, const cli_args *a, const char *source, ns_data_options *o)
{
    ns_data_options_default(o);
    o->source = source;
    const char *const(*flags)[2] = data_flags;
    ns_run_config *cfg = NULL;
    ns_status st = ns_run_config_new(ctx, &cfg);
    for (size_t i = 0; st == NS_OK && i < N_DATA_FLAGS; i++) {
        const char *v = cli_get(a, flags[i][0]);
        if (v == NULL)
            continue;
        /* checked as the run config's setting (the message names the flag), then set */
        const ns_setting_def *d = ns_run_setting_find(flags[i][1]);
        st = ns_run_config_set_text(
            cfg, flags[i][1], d && d->type == NS_SETTING_BOOL && strcmp(v, "1") == 0 ? "true" : v,
            flags[i][0]);
        if (st == NS_OK)
            st = ns_data_options_set(ctx, o, flags[i][1],
                                     d && d->type == NS_SETTING_BOOL ? "true" : v);
    }
    ns_run_config_free(cfg);
    return st;
}

void cli_data_help(cli_flag *flags, int n)
{
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < N_DATA_FLAGS; k++)
            if (strcmp(flags[i].name, data_flags[k][0]) == 0) {
                const ns_setting_def *d = ns_run_setting_find(data_flags[k][1]);
                if (d != NULL)
                    flags[i].help = d->doc;
            }
}

ns_status cli_load_data(ns_ctx *ctx, const cli_args *a, const char *source, ns_dataset **data,
                        ns_dataset **test)
{
    ns_data_options o;
    *data = NULL;
    *test = NULL;
    ns_status st = cli_data_options(ctx, a, source, &o);
    return st == NS_OK ? ns_data_open(ctx, &o, NULL, data, test) : st;
}

void cli_print_metrics(FILE *f, const char *title, const ns_metric_values *v)
{
    fprintf(f, "%s (n = %lld)\n", title, (long long)v->n);
    for (int id = 0; id < NS_METRIC_COUNT; id++) {
        if (id == NS_METRIC_N ||
            !ns_metric_applies((ns_metric_id)id,
                               v->is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION))
            continue;
        fprintf(f, "  %-16s %10.4f\n", ns_metric_name((ns_metric_id)id),
                ns_metric_value(v, (ns_metric_id)id));
    }
}
