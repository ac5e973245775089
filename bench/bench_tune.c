/* The tuner through its public API (netsmith/tune.h): studies made from study text, trials
 * asked and told in memory, no training. Prints one JSON object a line for
 * bench/bench_tune.sh, which puts the same runs of Optuna (bench/tune_optuna.py) beside them.
 *
 *   bench_tune --synthetic [--seeds S] [--trials T]
 *       Branin (2-D, x1 in [-5, 10], x2 in [0, 15]), Hartmann-6 ([0, 1]^6) and Rosenbrock-4D
 *       ([-5, 10]^4), each setting of the space a stand-in uniform [0, 1] mapped linearly onto
 *       the function's domain; TPE (Optuna's defaults), TPE multivariate and random, seeds
 *       0..S-1 (20), T trials each (100) asked and told complete; the best-so-far regret (best
 *       value minus the known global minimum) after 30, 60 and 100 trials.
 *   bench_tune --overhead [--trials T]
 *       One study of T (1,000) complete trials on a 5-setting space (the sphere around 0.3)
 *       per sampler (tpe, tpe multivariate, random): the wall time of each ns_study_ask from
 *       trial 900 on (CLOCK_MONOTONIC), median and p95 in ms.
 *   bench_tune --tabular TABLE [--seeds S] [--trials N]
 *       A sequential tuning run (parallel 1) replayed against a table of configurations and
 *       their per-epoch validation curves (bench/make_tune_table.sh): the table's axes as
 *       choices, N trials (30), TPE with the asha, median and no pruner, seeds 0..S-1 (20). A
 *       trial reports one epoch at a time and is judged after each but its last; asha's
 *       PAUSE stops it, and a paused trial that ns_study_promotable lists is taken up again
 *       (before a new one is asked) from the epoch after its last, so no epoch is trained
 *       twice. The objective is the value at the last epoch. Each line gives the epochs spent
 *       and, for every trial that completed with a new best, [epochs spent then, value]. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "netsmith/netsmith.h"
#include "netsmith/tune.h"
#include "bench_util.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The run settings standing in for x1..x6: each takes uniform [0, 1] (src/run/config.c). */
static const char *const xs[] = {"learning_rate",   "weight_decay", "dampening",
                                 "label_smoothing", "min_delta",    "gradient_clip"};

static void check(ns_ctx *ctx, ns_status st, const char *what)
{
    if (st != NS_OK) {
        fprintf(stderr, "bench_tune: %s: %s\n", what, ns_errmsg(ctx));
        exit(1);
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_tune: out of memory\n");
        exit(1);
    }
    return p;
}

/* A study of the given sampler, pruner and space (JSON texts). */
static ns_study *study_of(ns_ctx *ctx, const char *name, const char *base, int trials,
                          const char *sampler, const char *pruner, const char *space)
{
    size_t n = strlen(base) + strlen(sampler) + strlen(pruner) + strlen(space) + 400;
    char *text = xmalloc(n);
    snprintf(text, n,
             "{\"study\": \"%s\", \"base\": %s, \"objective\": {\"metric\": \"val.loss\", "
             "\"direction\": \"minimize\"}, \"trials\": %d, \"sampler\": %s, \"pruner\": %s, "
             "\"space\": %s}",
             name, base, trials, sampler, pruner, space);
    ns_study_def *def = NULL;
    check(ctx, ns_study_def_parse(ctx, text, strlen(text), name, NULL, &def), "study");
    ns_study *s = NULL;
    check(ctx, ns_study_new(ctx, def, &s), "study");
    ns_study_def_free(def);
    free(text);
    return s;
}

/* The first d stand-in settings, uniform [0, 1]. */
static void unit_space(char *out, size_t cap, int d)
{
    size_t at = (size_t)snprintf(out, cap, "{");
    for (int i = 0; i < d; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s\"%s\": {\"uniform\": [0, 1]}",
                               i > 0 ? ", " : "", xs[i]);
    snprintf(out + at, cap - at, "}");
}

/* A trial's values of the stand-ins, from its settings JSON (freed); false when one is missing
 * (its name in *missing). */
static bool read_unit(ns_ctx *ctx, char *params, int d, double *u, const char **missing)
{
    json_error_t e;
    json_t *o = json_loads(params, 0, &e);
    bool ok = true;
    for (int i = 0; i < d && ok; i++) {
        json_t *v = json_object_get(o, xs[i]);
        ok = json_is_number(v);
        u[i] = ok ? json_number_value(v) : (double)NAN;
        if (!ok)
            *missing = xs[i];
    }
    json_decref(o);
    ns_dealloc(ctx, params);
    return ok;
}

/* ---- the synthetic functions, on u in [0, 1]^d ------------------------------------------------
 */

static const double pi = 3.14159265358979323846;

static double branin(const double *u)
{
    double x1 = -5 + 15 * u[0], x2 = 15 * u[1];
    double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
    double q = x2 - b * x1 * x1 + c * x1 - 6;
    return q * q + 10 * (1 - t) * cos(x1) + 10;
}

static double hartmann6(const double *u)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double p[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                   {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                   {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                   {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    double f = 0;
    for (int i = 0; i < 4; i++) {
        double e = 0;
        for (int j = 0; j < 6; j++)
            e += a[i][j] * (u[j] - p[i][j]) * (u[j] - p[i][j]);
        f -= alpha[i] * exp(-e);
    }
    return f;
}

static double rosenbrock4(const double *u)
{
    double x[4], f = 0;
    for (int i = 0; i < 4; i++)
        x[i] = -5 + 15 * u[i];
    for (int i = 0; i < 3; i++)
        f += 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (x[i] - 1) * (x[i] - 1);
    return f;
}

typedef struct function {
    const char *name;
    int d;
    double (*f)(const double *u);
    double fmin;
} function;

static const function functions[] = {
    {"branin", 2, branin, 0.397887357729738},
    {"hartmann6", 6, hartmann6, -3.32236801141551},
    {"rosenbrock4", 4, rosenbrock4, 0.0},
};

typedef struct sampler {
    const char *name;
    const char *type;
    const char *extra; /* more of the sampler's settings */
} sampler;

static const sampler samplers[] = {
    {"tpe", "tpe", ""},
    {"tpe_mv", "tpe", ", \"multivariate\": true"},
    {"random", "random", ""},
};

/* The sampler's JSON with the seed. */
static void sampler_json(char *out, size_t cap, const sampler *sm, int seed)
{
    snprintf(out, cap, "{\"type\": \"%s\", \"seed\": %d%s}", sm->type, seed, sm->extra);
}

static const char *const synthetic_base =
    "{\"model\": {\"hidden_layers\": [8]}, \"data\": \"iris\", \"epochs\": 27}";

static int synthetic(ns_ctx *ctx, int seeds, int trials)
{
    static const int at[] = {30, 60, 100};
    for (int fi = 0; fi < COUNT_OF(functions); fi++) {
        const function *fn = &functions[fi];
        char space[1024];
        unit_space(space, sizeof space, fn->d);
        for (int si = 0; si < COUNT_OF(samplers); si++) {
            for (int seed = 0; seed < seeds; seed++) {
                char sj[200];
                sampler_json(sj, sizeof sj, &samplers[si], seed);
                ns_study *s = study_of(ctx, fn->name, synthetic_base, trials, sj,
                                       "{\"type\": \"none\"}", space);
                double best = INFINITY, regret[COUNT_OF(at)];
                const char *missing = NULL;
                double t0 = now();
                for (int k = 0; k < COUNT_OF(at); k++)
                    regret[k] = NAN;
                for (int n = 0; n < trials; n++) {
                    int number = 0;
                    char *params = NULL;
                    check(ctx, ns_study_ask(s, &number, &params), "ask");
                    double u[6];
                    if (!read_unit(ctx, params, fn->d, u, &missing))
                        break;
                    double v = fn->f(u);
                    check(ctx, ns_study_tell(s, number, NS_TRIAL_COMPLETE, v), "tell");
                    if (v < best)
                        best = v;
                    for (int k = 0; k < COUNT_OF(at); k++)
                        if (n + 1 == at[k])
                            regret[k] = best - fn->fmin;
                }
                printf("{\"mode\": \"synthetic\", \"side\": \"netsmith\", \"function\": \"%s\", "
                       "\"sampler\": \"%s\", \"seed\": %d, \"trials\": %d, \"seconds\": %.4f",
                       fn->name, samplers[si].name, seed, trials, now() - t0);
                if (missing != NULL) {
                    /* a sampler that gives no value: said, and its runs left out */
                    printf(", \"error\": \"the sampler gave no %s\"}\n", missing);
                    ns_study_free(s);
                    break;
                }
                for (int k = 0; k < COUNT_OF(at); k++)
                    if (at[k] <= trials)
                        printf(", \"r%d\": %.10g", at[k], regret[k]);
                printf("}\n");
                fflush(stdout);
                ns_study_free(s);
            }
        }
    }
    return 0;
}

/* ---- the sampler's overhead -------------------------------------------------------------------
 */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's linear percentile of sorted v[n] */
static double percentile(const double *v, int n, double q)
{
    double at = (n - 1) * q / 100.0;
    int lo = (int)floor(at);
    if (lo >= n - 1)
        return v[n - 1];
    return v[lo] + (v[lo + 1] - v[lo]) * (at - lo);
}

static int overhead(ns_ctx *ctx, int trials)
{
    const int from = trials * 9 / 10;
    char space[1024];
    unit_space(space, sizeof space, 5);
    for (int si = 0; si < COUNT_OF(samplers); si++) {
        char sj[200];
        sampler_json(sj, sizeof sj, &samplers[si], 0);
        ns_study *s =
            study_of(ctx, "overhead", synthetic_base, trials, sj, "{\"type\": \"none\"}", space);
        double *ms = xmalloc(sizeof *ms * (size_t)(trials - from));
        int m = 0;
        const char *missing = NULL;
        double t0 = now();
        for (int n = 0; n < trials; n++) {
            int number = 0;
            char *params = NULL;
            double a = now();
            check(ctx, ns_study_ask(s, &number, &params), "ask");
            double b = now();
            if (n >= from)
                ms[m++] = 1e3 * (b - a);
            double u[5], v = 0;
            if (!read_unit(ctx, params, 5, u, &missing))
                break;
            for (int i = 0; i < 5; i++)
                v += (u[i] - 0.3) * (u[i] - 0.3);
            check(ctx, ns_study_tell(s, number, NS_TRIAL_COMPLETE, v), "tell");
        }
        double total = now() - t0;
        if (missing != NULL) {
            printf("{\"mode\": \"overhead\", \"side\": \"netsmith\", \"sampler\": \"%s\", "
                   "\"error\": \"the sampler gave no %s\"}\n",
                   samplers[si].name, missing);
            free(ms);
            ns_study_free(s);
            continue;
        }
        qsort(ms, (size_t)m, sizeof *ms, cmp_double);
        printf("{\"mode\": \"overhead\", \"side\": \"netsmith\", \"sampler\": \"%s\", \"trials\": "
               "%d, \"timed_from\": %d, \"median_ms\": %.6g, \"p95_ms\": %.6g, \"max_ms\": %.6g, "
               "\"total_s\": %.4f}\n",
               samplers[si].name, trials, from, percentile(ms, m, 50), percentile(ms, m, 95),
               ms[m - 1], total);
        fflush(stdout);
        free(ms);
        ns_study_free(s);
    }
    return 0;
}

/* ---- the tabular replay ---------------------------------------------------------------------- */

#define AXES_MAX 8

typedef struct table {
    json_t *root;
    const char *axis[AXES_MAX];
    json_t *values[AXES_MAX]; /* borrowed arrays */
    int n_axes;
    int epochs;
    int n_configs;
    int *index;     /* [prod of the axes' sizes]: the config at those axis indices, -1: none */
    double *curves; /* [n_configs][epochs] */
    char *space;    /* the study's space: each axis a choice */
} table;

static int value_index(json_t *values, json_t *v)
{
    for (size_t i = 0; i < json_array_size(values); i++)
        if (json_equal(json_array_get(values, i), v))
            return (int)i;
    return -1;
}

static void table_load(table *t, const char *path)
{
    json_error_t e;
    memset(t, 0, sizeof *t);
    t->root = json_load_file(path, 0, &e);
    if (t->root == NULL) {
        fprintf(stderr, "bench_tune: %s:%d: %s\n", path, e.line, e.text);
        exit(1);
    }
    json_t *axes = json_object_get(t->root, "axes");
    json_t *configs = json_object_get(t->root, "configs");
    t->epochs = (int)json_integer_value(json_object_get(t->root, "epochs"));
    if (!json_is_object(axes) || !json_is_array(configs) || t->epochs < 2) {
        fprintf(stderr, "bench_tune: %s: needs axes, configs and epochs\n", path);
        exit(1);
    }
    const char *key;
    json_t *v;
    size_t cells = 1;
    json_t *space = json_object();
    json_object_foreach(axes, key, v)
    {
        if (t->n_axes == AXES_MAX || !json_is_array(v) || json_array_size(v) == 0) {
            fprintf(stderr, "bench_tune: %s: 1 to %d axes, each a list\n", path, AXES_MAX);
            exit(1);
        }
        t->axis[t->n_axes] = key;
        t->values[t->n_axes] = v;
        t->n_axes++;
        cells *= json_array_size(v);
        json_object_set_new(space, key, json_pack("{s:O}", "choice", v));
    }
    t->space = json_dumps(space, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(space);
    t->n_configs = (int)json_array_size(configs);
    t->index = xmalloc(sizeof *t->index * cells);
    for (size_t i = 0; i < cells; i++)
        t->index[i] = -1;
    t->curves = xmalloc(sizeof *t->curves * (size_t)t->n_configs * (size_t)t->epochs);
    for (int c = 0; c < t->n_configs; c++) {
        json_t *cfg = json_array_get(configs, (size_t)c);
        size_t cell = 0;
        for (int a = 0; a < t->n_axes; a++) {
            int k = value_index(t->values[a], json_object_get(cfg, t->axis[a]));
            if (k < 0) {
                fprintf(stderr, "bench_tune: %s: config %d: %s is not on its axis\n", path, c,
                        t->axis[a]);
                exit(1);
            }
            cell = cell * json_array_size(t->values[a]) + (size_t)k;
        }
        t->index[cell] = c;
        json_t *curve = json_object_get(cfg, "val_loss");
        if ((int)json_array_size(curve) != t->epochs) {
            fprintf(stderr, "bench_tune: %s: config %d: %d epochs expected\n", path, c, t->epochs);
            exit(1);
        }
        for (int k = 0; k < t->epochs; k++)
            t->curves[(size_t)c * (size_t)t->epochs + (size_t)k] =
                json_number_value(json_array_get(curve, (size_t)k));
    }
}

static void table_free(table *t)
{
    free(t->index);
    free(t->curves);
    free(t->space);
    json_decref(t->root);
}

/* The curve of the configuration a trial's settings name. */
static const double *curve_of(ns_ctx *ctx, const table *t, char *params)
{
    json_error_t e;
    json_t *o = json_loads(params, 0, &e);
    size_t cell = 0;
    for (int a = 0; a < t->n_axes; a++) {
        int k = value_index(t->values[a], json_object_get(o, t->axis[a]));
        if (k < 0) {
            fprintf(stderr, "bench_tune: trial settings %s: no %s of the table\n", params,
                    t->axis[a]);
            exit(1);
        }
        cell = cell * json_array_size(t->values[a]) + (size_t)k;
    }
    json_decref(o);
    int c = t->index[cell];
    if (c < 0) {
        fprintf(stderr, "bench_tune: trial settings %s: not a configuration of the table\n",
                params);
        exit(1);
    }
    ns_dealloc(ctx, params);
    return t->curves + (size_t)c * (size_t)t->epochs;
}

typedef struct pruner {
    const char *name;
    const char *json;
} pruner;

static const pruner pruners[] = {
    {"asha", "{\"type\": \"asha\", \"min_epochs\": 1, \"reduction_factor\": 3}"},
    {"median", "{\"type\": \"median\"}"},
    {"none", "{\"type\": \"none\"}"},
};

static int tabular(ns_ctx *ctx, const char *path, int seeds, int trials)
{
    table t;
    table_load(&t, path);
    char base[200];
    snprintf(base, sizeof base,
             "{\"model\": {\"hidden_layers\": [8]}, \"data\": \"boston_housing\", \"epochs\": "
             "%d}",
             t.epochs);
    const double **curve = xmalloc(sizeof *curve * (size_t)trials);
    for (int pi_ = 0; pi_ < COUNT_OF(pruners); pi_++) {
        for (int seed = 0; seed < seeds; seed++) {
            char sj[200];
            sampler_json(sj, sizeof sj, &samplers[0], seed);
            ns_study *s = study_of(ctx, "tabular", base, trials, sj, pruners[pi_].json, t.space);
            long spent = 0;
            int asked = 0, complete = 0, pruned = 0, paused = 0, promotions = 0;
            double best = INFINITY;
            printf("{\"mode\": \"tabular\", \"side\": \"netsmith\", \"method\": \"tpe+%s\", "
                   "\"seed\": %d, \"trials\": %d, \"best\": [",
                   pruners[pi_].name, seed, trials);
            int shown = 0;
            for (;;) {
                int number = -1, first = 1;
                int promo[1];
                if (ns_study_promotable(s, promo, 1) > 0) {
                    number = promo[0];
                    int64_t last = 0;
                    check(ctx, ns_study_trial(s, number, NULL, NULL, &last), "trial");
                    check(ctx, ns_study_tell(s, number, NS_TRIAL_RUNNING, NAN), "promote");
                    first = (int)last + 1;
                    promotions++;
                    paused--;
                } else if (asked < trials) {
                    char *params = NULL;
                    check(ctx, ns_study_ask(s, &number, &params), "ask");
                    curve[number] = curve_of(ctx, &t, params);
                    asked++;
                } else {
                    break;
                }
                for (int e = first; e <= t.epochs; e++) {
                    double v = curve[number][e - 1];
                    check(ctx, ns_study_report(s, number, e, v), "report");
                    spent++;
                    if (e == t.epochs) {
                        check(ctx, ns_study_tell(s, number, NS_TRIAL_COMPLETE, v), "tell");
                        complete++;
                        if (v < best) {
                            best = v;
                            printf("%s[%ld, %.10g]", shown++ ? ", " : "", spent, v);
                        }
                        break;
                    }
                    ns_prune_decision d = ns_study_judge(s, number, e);
                    if (d == NS_PRUNE_STOP) {
                        check(ctx, ns_study_tell(s, number, NS_TRIAL_PRUNED, NAN), "tell");
                        pruned++;
                        break;
                    }
                    if (d == NS_PRUNE_PAUSE) {
                        check(ctx, ns_study_tell(s, number, NS_TRIAL_PAUSED, NAN), "tell");
                        paused++;
                        break;
                    }
                }
            }
            printf("], \"epochs\": %ld, \"complete\": %d, \"pruned\": %d, \"paused\": %d, "
                   "\"promotions\": %d}\n",
                   spent, complete, pruned, paused, promotions);
            fflush(stdout);
            ns_study_free(s);
        }
    }
    free(curve);
    table_free(&t);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_tune --synthetic [--seeds S] [--trials T]\n"
                    "       bench_tune --overhead [--trials T]\n"
                    "       bench_tune --tabular TABLE [--seeds S] [--trials N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *mode = NULL, *table_path = NULL;
    int seeds = 20, trials = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--synthetic") == 0 || strcmp(argv[i], "--overhead") == 0) {
            mode = argv[i] + 2;
        } else if (strcmp(argv[i], "--tabular") == 0 && i + 1 < argc) {
            mode = "tabular";
            table_path = argv[++i];
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--trials") == 0 && i + 1 < argc) {
            trials = atoi(argv[++i]);
        } else {
            usage();
        }
    }
    if (mode == NULL || seeds < 1)
        usage();
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        fprintf(stderr, "bench_tune: no context\n");
        return 1;
    }
    int rc;
    if (strcmp(mode, "synthetic") == 0)
        rc = synthetic(ctx, seeds, trials > 0 ? trials : 100);
    else if (strcmp(mode, "overhead") == 0)
        rc = overhead(ctx, trials >= 20 ? trials : 1000);
    else
        rc = tabular(ctx, table_path, seeds, trials > 0 ? trials : 30);
    ns_ctx_free(ctx);
    return rc;
}
