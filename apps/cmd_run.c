/* netsmith run, card and cards: pipelines of cards from the command line. run checks and runs
 * a pipeline file with a status line per card; card runs one card alone over files; cards
 * lists the palette. */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "netsmith/store.h"

#define MAX_REPEAT 64

/* Removes every "--name VALUE" / "--name=VALUE" from argv into vals[]; returns the new argc,
 * or -1 after a message (missing value, too many). */
static int take_repeated(const char *cmd, int argc, char **argv, const char *name,
                         const char **vals, int *n)
{
    size_t len = strlen(name);
    int out = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, name) == 0) {
            if (i + 1 >= argc) {
                cli_error(cmd, "option '%s' needs a value", name);
                return -1;
            }
            v = argv[++i];
        } else if (strncmp(a, name, len) == 0 && a[len] == '=') {
            v = a + len + 1;
        }
        if (v == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        if (*n == MAX_REPEAT) {
            cli_error(cmd, "at most %d %s options", MAX_REPEAT, name);
            return -1;
        }
        vals[(*n)++] = v;
    }
    return out;
}

/* The registry with the built-in cards and the plugins: those NETSMITH_PLUGINS lists
 * (':'-separated), then each --plugin. NULL after a message. */
static ns_cards *open_cards(const char *cmd, ns_ctx *ctx, const char *const *plugins, int n)
{
    ns_cards *cards = NULL;
    ns_status st = ns_cards_new(ctx, &cards);
    if (st == NS_OK)
        st = ns_cards_load_plugins(cards, getenv("NETSMITH_PLUGINS"));
    for (int i = 0; i < n && st == NS_OK; i++)
        st = ns_cards_load_plugin(cards, plugins[i]);
    if (st != NS_OK) {
        cli_fail(cmd, ctx);
        ns_cards_free(cards);
        return NULL;
    }
    return cards;
}

#define PLUGIN_HELP "a shared object with more cards (repeatable; also NETSMITH_PLUGINS)"

/* ---- showing values ------------------------------------------------------------------------ */

static void show_dataset(const ns_dataset *ds)
{
    int f = ns_dataset_feature_count(ds), t = ns_dataset_target_count(ds);
    bool cls = ns_dataset_task(ds) == NS_TASK_CLASSIFICATION;
    int shape[NS_MAX_DIMS - 1];
    int nd = ns_dataset_input_shape(ds, shape);
    printf("dataset '%s': %lld rows, %d features", ns_dataset_name(ds),
           (long long)ns_dataset_rows(ds), f);
    if (nd > 1)
        printf(" (%dx%dx%d)", shape[0], shape[1], shape[2]);
    if (cls)
        printf(", %d classes\n", ns_dataset_class_count(ds));
    else
        printf(", %d target%s\n", t, t == 1 ? "" : "s");
    int cols = f < 6 ? f : 6;
    float *x = malloc((size_t)f * sizeof(float)), *y = malloc((size_t)(t ? t : 1) * sizeof(float));
    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        return;
    }
    for (int j = 0; j < cols; j++) {
        const char *n = ns_dataset_feature_name(ds, j);
        printf("%12.12s", n ? n : "");
    }
    printf("%s%12.12s\n", f > cols ? "  ..." : "", cls ? "class" : ns_dataset_target_name(ds, 0));
    int64_t rows = ns_dataset_rows(ds) < 5 ? ns_dataset_rows(ds) : 5;
    for (int64_t r = 0; r < rows; r++) {
        int32_t label = 0;
        ns_dataset_row(ds, r, x, cls ? NULL : y, cls ? &label : NULL);
        for (int j = 0; j < cols; j++)
            printf("%12.5g", (double)x[j]);
        if (cls)
            printf("%s%12.12s\n", f > cols ? "  ..." : "", ns_dataset_class_name(ds, label));
        else
            printf("%s%12.5g\n", f > cols ? "  ..." : "", (double)y[0]);
    }
    if (ns_dataset_rows(ds) > rows)
        printf("  ... %lld more rows\n", (long long)(ns_dataset_rows(ds) - rows));
    free(x);
    free(y);
}

static void show_model(ns_model *m)
{
    printf("model: %d inputs -> %d outputs, %zu parameters, %d layers (max batch %d)\n",
           ns_model_input_size(m), ns_model_output_size(m), ns_model_param_count(m),
           ns_model_layer_count(m), ns_model_max_batch(m));
    for (int i = 0; i < ns_model_layer_count(m); i++)
        printf("  %2d  %s\n", i, ns_layer_kind_name(ns_model_layer(m, i)->kind));
}

static void show_value(const char *ref, const ns_value *v)
{
    printf("== %s (%s)\n", ref, ns_value_kind_name(ns_value_get_kind(v)));
    switch (ns_value_get_kind(v)) {
    case NS_VALUE_DATASET:
        show_dataset(ns_value_dataset(v));
        break;
    case NS_VALUE_MODEL:
        show_model(ns_value_model(v));
        break;
    case NS_VALUE_OPTIMIZER: {
        const ns_optim_config *c = ns_optim_get_config(ns_value_optim(v));
        printf("optimizer %s, lr %g, weight decay %g, %lld steps taken\n",
               ns_optim_kind_name(c->kind), ns_optim_lr(ns_value_optim(v)), c->weight_decay,
               (long long)ns_optim_step_count(ns_value_optim(v)));
        break;
    }
    case NS_VALUE_METRICS: {
        const ns_metrics_value *m = ns_value_metrics(v);
        cli_print_metrics(stdout, "metrics", &m->values);
        if (m->confusion != NULL && m->classes <= 20) {
            printf("confusion matrix (rows: true class, columns: predicted)\n");
            for (int i = 0; i < m->classes; i++) {
                printf("  %12.12s", m->class_names ? m->class_names[i] : "");
                for (int j = 0; j < m->classes; j++)
                    printf(" %6lld", (long long)m->confusion[i * m->classes + j]);
                printf("\n");
            }
        }
        break;
    }
    case NS_VALUE_PREDICTIONS: {
        const ns_tensor2 *t = ns_value_tensor(v);
        printf("%lld rows x %d\n", (long long)t->rows, t->cols);
        for (int64_t r = 0; r < t->rows && r < 5; r++) {
            for (int j = 0; j < t->cols && j < 10; j++)
                printf("%12.5g", (double)t->data[r * t->cols + j]);
            printf("\n");
        }
        break;
    }
    case NS_VALUE_HISTORY: {
        const ns_history_value *h = ns_value_history(v);
        bool cls = h->task == NS_TASK_CLASSIFICATION;
        const char *m = cls ? "accuracy" : "rmse";
        printf("%6s %12s %12s %12s %12s %9s\n", "epoch", "loss", m, "val_loss",
               cls ? "val_acc" : "val_rmse", "seconds");
        for (int i = 0; i < h->epochs; i++) {
            const ns_epoch_report *r = &h->reports[i];
            double a = cls ? r->train.accuracy : r->train.rmse;
            printf("%6d %12.5g %12.5g", r->epoch + 1, r->train.loss, a);
            if (r->has_val)
                printf(" %12.5g %12.5g", r->val.loss, cls ? r->val.accuracy : r->val.rmse);
            else
                printf(" %12s %12s", "-", "-");
            printf(" %9.3f\n", r->seconds);
        }
        break;
    }
    case NS_VALUE_LOSS:
        printf("loss %.6g\n", ns_value_loss(v)->value);
        break;
    case NS_VALUE_DATA_SHAPE: {
        const ns_data_shape *s = ns_value_data_shape(v);
        printf("input");
        for (int i = 0; i < s->ndim; i++)
            printf("%s%d", i ? "x" : " ", s->shape[i]);
        printf(", %d outputs\n", s->outputs);
        break;
    }
    case NS_VALUE_MODEL_SPEC: {
        char *json = NULL;
        if (ns_spec_to_json(ns_value_spec(v), &json) == NS_OK)
            fputs(json, stdout);
        ns_dealloc(ns_spec_ctx(ns_value_spec(v)), json);
        break;
    }
    case NS_VALUE_FILE:
        printf("%s\n", ns_value_file(v));
        break;
    case NS_VALUE_INTEGER: {
        int64_t x = 0;
        ns_value_integer(v, &x);
        printf("%lld\n", (long long)x);
        break;
    }
    default:
        break;
    }
}

/* ---- run ---------------------------------------------------------------------------------- */

/* Ctrl-C asks the run to stop after the running card's current step (the cards finished so far
 * keep their outputs in --state); a second one ends the process at once. */
static atomic_int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
    signal(SIGINT, SIG_DFL);
}

typedef struct run_ui {
    bool quiet, tty;
    double last_draw;
} run_ui;

static void on_event(void *ud, const ns_card_event *ev)
{
    run_ui *ui = ud;
    if (ui->quiet || ev->depth > 0)
        return;
    switch (ev->kind) {
    case NS_CARD_STARTED:
        if (ui->tty)
            fprintf(stderr, "  %-16s %-15s running\r", ev->id, ev->card);
        break;
    case NS_CARD_FINISHED:
        fprintf(stderr, "  %-16s %-15s done    %8.3f s%s\n", ev->id, ev->card, ev->seconds,
                ui->tty ? "        " : "");
        break;
    case NS_CARD_FAILED:
        fprintf(stderr, "  %-16s %-15s failed  %8.3f s\n", ev->id, ev->card, ev->seconds);
        break;
    case NS_CARD_SKIPPED:
        fprintf(stderr, "  %-16s %-15s restored from the state directory\n", ev->id, ev->card);
        break;
    case NS_CARD_ITERATION:
        if (ui->tty)
            fprintf(stderr, "  %-16s %-15s epoch %lld/%lld  %.1f s\r", ev->id, ev->card,
                    (long long)ev->iteration, (long long)ev->iterations, ev->seconds);
        else if (ev->iteration == ev->iterations || ev->seconds - ui->last_draw >= 5.0) {
            fprintf(stderr, "  %-16s %-15s epoch %lld/%lld  %.1f s\n", ev->id, ev->card,
                    (long long)ev->iteration, (long long)ev->iterations, ev->seconds);
            ui->last_draw = ev->seconds;
        }
        break;
    }
}

int cmd_run(int argc, char **argv)
{
    static const char usage[] =
        "FILE [--check] [--set CARD.SETTING=VALUE ...] [--state DIR] [--from CARD] "
        "[--show CARD[.OUTPUT] ...] [--threads N] [--quiet] [--plugin FILE.so ...]";
    static const char about[] =
        "Checks a pipeline file (YAML or JSON) and runs its cards in dependency order, with a\n"
        "status line per card. --check only checks it. --set changes a card's setting (the\n"
        "value is read as YAML: --set train.epochs=5). --state DIR keeps every card's outputs\n"
        "(datasets, models and optimizers as safetensors, the rest as JSON) so that --from CARD\n"
        "can rerun from that card. --show prints a card's outputs after the run (a table\n"
        "preview of a dataset, metrics, a model summary). --plugin FILE.so loads an\n"
        "application's own cards (a shared object defining netsmith_register_cards; also the\n"
        "':'-separated list in NETSMITH_PLUGINS). 'netsmith cards' lists the cards.";
    const char *sets[MAX_REPEAT], *shows[MAX_REPEAT], *plugins[MAX_REPEAT];
    int n_set = 0, n_show = 0, n_plugin = 0;
    argc = take_repeated("run", argc, argv, "--set", sets, &n_set);
    if (argc >= 0)
        argc = take_repeated("run", argc, argv, "--show", shows, &n_show);
    if (argc >= 0)
        argc = take_repeated("run", argc, argv, "--plugin", plugins, &n_plugin);
    if (argc < 0)
        return CLI_USAGE;
    cli_flag flags[] = {
        {"--check", NULL, NULL, "check the file only", NULL},
        {"--set", NULL, "CARD.SETTING=VALUE", "change a setting (repeatable)", NULL},
        {"--state", NULL, "DIR", "keep every card's outputs in DIR", NULL},
        {"--from", NULL, "CARD", "restart at CARD, reading earlier outputs from --state", NULL},
        {"--show", NULL, "CARD[.OUTPUT]", "print a card's outputs after the run (repeatable)",
         NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
        {"--quiet", "-q", NULL, "no status lines", NULL},
        {"--plugin", NULL, "FILE.so", PLUGIN_HELP, NULL},
        {"--store", NULL, "URL",
         "a store whose models (load_model's model) and datasets (data_load's dataset) the "
         "pipeline may use: sqlite:PATH or postgresql://...",
         NULL},
    };
    cli_args a = {.cmd = "run", .flags = flags, .n_flags = sizeof flags / sizeof flags[0]};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos != 1) {
        cli_error("run", "give one pipeline file; see 'netsmith run --help'");
        return CLI_USAGE;
    }
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("run", "out of memory");
        return CLI_ERROR;
    }
    if ((rc = cli_threads(&a, 0, ctx)) != CLI_OK) {
        ns_ctx_free(ctx);
        return rc;
    }
    /* every card runs on ctx: its models and optimizers are made there */
    ns_cards *cards = open_cards("run", ctx, plugins, n_plugin);
    if (cards == NULL) {
        ns_ctx_free(ctx);
        return CLI_ERROR;
    }
    ns_pipeline *p = NULL;
    ns_status st = ns_pipeline_load(cards, a.pos[0], sets, n_set, &p);
    rc = CLI_OK;
    if (st != NS_OK) {
        rc = cli_fail("run", ctx);
    } else if (cli_has(&a, "--check")) {
        printf("%s: pipeline '%s' is valid (%d top-level cards)\n", a.pos[0], ns_pipeline_name(p),
               ns_pipeline_card_count(p));
    } else {
        for (int i = 0; i < n_show; i++) {
            bool found = false;
            size_t len = strcspn(shows[i], ".");
            for (int j = 0; j < ns_pipeline_card_count(p); j++)
                found |= strlen(ns_pipeline_card_id(p, j)) == len &&
                         !strncmp(ns_pipeline_card_id(p, j), shows[i], len);
            if (!found) {
                cli_error("run", "--show %s: no top-level card '%.*s' in %s", shows[i], (int)len,
                          shows[i], a.pos[0]);
                rc = CLI_USAGE;
            }
        }
        run_ui ui = {.quiet = cli_has(&a, "--quiet"), .tty = isatty(2) != 0};
        ns_progress progress = {.cancel = &interrupted};
        ns_run_options o = {.state_dir = cli_get(&a, "--state"),
                            .from = cli_get(&a, "--from"),
                            .on_event = on_event,
                            .ud = &ui,
                            .progress = &progress};
        struct sigaction sa = {.sa_handler = on_sigint}, old;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
        /* a store: its models and datasets by name, their files under the state directory
         * (or a temporary one) */
        ns_store *store = NULL;
        void *host_state = NULL;
        char tmp[] = "/tmp/netsmith-run-XXXXXX";
        bool made_tmp = false;
        if (rc == CLI_OK && cli_has(&a, "--store")) {
            char dir[4096];
            const char *state = cli_get(&a, "--state");
            if (state != NULL) {
                snprintf(dir, sizeof dir, "%s/store-files", state);
            } else if (mkdtemp(tmp) != NULL) {
                made_tmp = true;
                snprintf(dir, sizeof dir, "%s", tmp);
            } else {
                snprintf(dir, sizeof dir, "netsmith-store-files");
            }
            ns_pipeline_host host;
            if (ns_store_open(ctx, cli_get(&a, "--store"), &store) != NS_OK ||
                ns_store_pipeline_host(store, dir, &host, &host_state) != NS_OK)
                rc = cli_fail("run", ctx);
            else
                ns_pipeline_set_host(p, &host);
        }
        if (rc == CLI_OK && !ui.quiet)
            fprintf(stderr, "pipeline '%s' (%s)\n", ns_pipeline_name(p), a.pos[0]);
        if (rc == CLI_OK && ns_pipeline_run(p, &o) != NS_OK)
            rc = cli_fail("run", ctx);
        ns_pipeline_set_host(p, NULL);
        ns_store_pipeline_host_free(store, host_state);
        ns_store_close(store);
        if (made_tmp) {
            char cmd[128];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
            if (system(cmd) != 0)
                fprintf(stderr, "netsmith run: %s is left behind\n", tmp);
        }
        sigaction(SIGINT, &old, NULL);
        for (int i = 0; i < n_show && rc == CLI_OK; i++) {
            const char *dot = strchr(shows[i], '.');
            if (dot != NULL) {
                ns_value *v = ns_pipeline_output(p, shows[i]);
                if (v == NULL)
                    printf("== %s: no such output (or it was not made)\n", shows[i]);
                else
                    show_value(shows[i], v);
                continue;
            }
            /* every output of the card (a loop: what it passes on) */
            const char *onames[64];
            ns_value *ovals[64];
            int k = ns_pipeline_outputs(p, shows[i], onames, ovals, 64), shown = 0;
            for (int j = 0; j < k; j++) {
                if (ovals[j] == NULL)
                    continue;
                char ref[160];
                snprintf(ref, sizeof ref, "%s.%s", shows[i], onames[j]);
                show_value(ref, ovals[j]);
                shown++;
            }
            if (shown == 0)
                printf("== %s: no outputs\n", shows[i]);
        }
    }
    ns_pipeline_free(p);
    ns_cards_free(cards);
    ns_ctx_free(ctx);
    return rc;
}

/* ---- card ------------------------------------------------------------------------------------ */

int cmd_card(int argc, char **argv)
{
    static const char usage[] =
        "CARD --in NAME=FILE ... --out DIR [--with JSON] [--set SETTING=VALUE ...] [--threads N]\n"
        "       [--plugin FILE.so ...]";
    static const char about[] =
        "Runs one card alone: its inputs are read from files (as 'netsmith run --state' or\n"
        "another 'netsmith card' wrote them), its outputs are written into DIR with a manifest\n"
        "(DIR/outputs.json). Models and optimizers carry their whole training state (weights,\n"
        "gradients, the last forward pass, moments, step count, random streams), so a training\n"
        "step can run card by card in separate processes with the same result. An optimizer's\n"
        "model is the card's model input, or else the model file written beside it.";
    const char *ins[MAX_REPEAT], *sets[MAX_REPEAT], *plugins[MAX_REPEAT];
    int n_in = 0, n_set = 0, n_plugin = 0;
    argc = take_repeated("card", argc, argv, "--in", ins, &n_in);
    if (argc >= 0)
        argc = take_repeated("card", argc, argv, "--set", sets, &n_set);
    if (argc >= 0)
        argc = take_repeated("card", argc, argv, "--plugin", plugins, &n_plugin);
    if (argc < 0)
        return CLI_USAGE;
    cli_flag flags[] = {
        {"--in", NULL, "NAME=FILE", "an input from a file (repeatable)", NULL},
        {"--out", "-o", "DIR", "where the outputs go", NULL},
        {"--with", NULL, "JSON", "the settings as a JSON object", NULL},
        {"--set", NULL, "SETTING=VALUE", "one setting, read as YAML (repeatable)", NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
        {"--plugin", NULL, "FILE.so", PLUGIN_HELP, NULL},
    };
    cli_args a = {.cmd = "card", .flags = flags, .n_flags = sizeof flags / sizeof flags[0]};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos != 1 || !cli_has(&a, "--out")) {
        cli_error("card", "give a card name and --out DIR; see 'netsmith card --help'");
        return CLI_USAGE;
    }
    const char *names[MAX_REPEAT], *paths[MAX_REPEAT];
    char buf[MAX_REPEAT][64];
    for (int i = 0; i < n_in; i++) {
        const char *eq = strchr(ins[i], '=');
        if (eq == NULL || eq == ins[i] || eq[1] == '\0' || (size_t)(eq - ins[i]) >= 64) {
            cli_error("card",
                      "--in '%s': write NAME=FILE (e.g. --in model=state/fwd/model.safetensors)",
                      ins[i]);
            return CLI_USAGE;
        }
        snprintf(buf[i], sizeof buf[i], "%.*s", (int)(eq - ins[i]), ins[i]);
        names[i] = buf[i];
        paths[i] = eq + 1;
    }
    /* --set NAME=VALUE pairs become a JSON object (values read as YAML) */
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("card", "out of memory");
        return CLI_ERROR;
    }
    if ((rc = cli_threads(&a, 0, ctx)) != CLI_OK) {
        ns_ctx_free(ctx);
        return rc;
    }
    char *settings = NULL;
    ns_status st = NS_OK;
    if (n_set > 0) {
        size_t cap = 64;
        for (int i = 0; i < n_set; i++)
            cap += strlen(sets[i]) + 16;
        char *yaml = malloc(cap);
        size_t used = 0;
        for (int i = 0; yaml && i < n_set; i++) {
            const char *eq = strchr(sets[i], '=');
            if (eq == NULL) {
                cli_error("card", "--set '%s': write SETTING=VALUE", sets[i]);
                free(yaml);
                ns_ctx_free(ctx);
                return CLI_USAGE;
            }
            used += (size_t)snprintf(yaml + used, cap - used, "%.*s: %s\n", (int)(eq - sets[i]),
                                     sets[i], eq + 1);
        }
        st = yaml ? ns_yaml_to_json(ctx, yaml, used, "--set", &settings) : NS_ERR_NOMEM;
        free(yaml);
        if (st == NS_OK && cli_has(&a, "--with")) {
            cli_error("card", "give the settings with --with or with --set, not both");
            ns_dealloc(ctx, settings);
            ns_ctx_free(ctx);
            return CLI_USAGE;
        }
    }
    ns_cards *cards = NULL;
    if (st == NS_OK && (cards = open_cards("card", ctx, plugins, n_plugin)) == NULL) {
        ns_dealloc(ctx, settings);
        ns_ctx_free(ctx);
        return CLI_ERROR;
    }
    if (st == NS_OK)
        st = ns_card_run_files(cards, a.pos[0], names, paths, n_in,
                               settings ? settings : cli_get(&a, "--with"), cli_get(&a, "--out"),
                               NULL);
    rc = st == NS_OK ? CLI_OK : cli_fail("card", ctx);
    ns_dealloc(ctx, settings);
    ns_cards_free(cards);
    ns_ctx_free(ctx);
    return rc;
}

/* ---- cards -------------------------------------------------------------------------------------
 */

static const char *setting_type(ns_setting_type t)
{
    static const char *const n[] = {"", "integer", "number", "bool", "text", "list", "any"};
    return (unsigned)t < 7 ? n[t] : "";
}

/* "  file NAME  text" with the text wrapped at 96 columns under itself. */
static void print_wrapped(const char *name, const char *text)
{
    enum { INDENT = 24, WIDTH = 96 };
    printf("  file %-16s ", name);
    int col = INDENT;
    while (*text) {
        size_t word = strcspn(text, " ");
        if (col > INDENT && col + 1 + (int)word > WIDTH) {
            printf("\n%*s", INDENT, "");
            col = INDENT;
        } else if (col > INDENT) {
            putchar(' ');
            col++;
        }
        printf("%.*s", (int)word, text);
        col += (int)word;
        text += word;
        while (*text == ' ')
            text++;
    }
    putchar('\n');
}

int cmd_cards(int argc, char **argv)
{
    static const char usage[] = "[CARD ...] [--json] [--plugin FILE.so ...]";
    static const char about[] =
        "Lists the cards a pipeline can use, with their inputs, outputs and settings (the\n"
        "palette). --json prints the same as JSON schemas.";
    const char *plugins[MAX_REPEAT];
    int n_plugin = 0;
    argc = take_repeated("cards", argc, argv, "--plugin", plugins, &n_plugin);
    if (argc < 0)
        return CLI_USAGE;
    cli_flag flags[] = {{"--json", NULL, NULL, "JSON schemas", NULL},
                        {"--plugin", NULL, "FILE.so", PLUGIN_HELP, NULL}};
    cli_args a = {.cmd = "cards", .flags = flags, .n_flags = 2};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("cards", "out of memory");
        return CLI_ERROR;
    }
    ns_cards *cards = open_cards("cards", ctx, plugins, n_plugin);
    if (cards == NULL) {
        ns_ctx_free(ctx);
        return CLI_ERROR;
    }
    if (cli_has(&a, "--json")) {
        char *json = NULL;
        if (ns_cards_to_json(cards, &json) == NS_OK)
            printf("%s\n", json);
        else
            rc = cli_fail("cards", ctx);
        ns_dealloc(ctx, json);
    } else {
        for (int i = 0; i < ns_cards_count(cards); i++) {
            const ns_card_def *d = ns_cards_get(cards, i);
            bool wanted = a.n_pos == 0;
            for (int k = 0; k < a.n_pos; k++)
                wanted |= strcmp(a.pos[k], d->name) == 0;
            if (!wanted)
                continue;
            printf("%s\n  %s\n", d->name, d->doc);
            for (int k = 0; k < d->n_inputs; k++)
                printf("  in   %-16s %-12s %s%s\n", d->inputs[k].name,
                       ns_value_kind_name(d->inputs[k].kind),
                       d->inputs[k].optional ? "(optional) " : "", d->inputs[k].doc);
            for (int k = 0; k < d->n_outputs; k++)
                printf("  out  %-16s %-12s %s\n", d->outputs[k].name,
                       ns_value_kind_name(d->outputs[k].kind), d->outputs[k].doc);
            /* a card asked for by name: the files its inputs take when it runs alone */
            for (int k = 0; a.n_pos > 0 && k < d->n_inputs; k++)
                print_wrapped(d->inputs[k].name, ns_value_kind_file_doc(d->inputs[k].kind));
            for (int k = 0; k < d->n_settings; k++) {
                const ns_setting_def *s = &d->settings[k];
                printf("  with %-16s %-12s %s\n", s->name, setting_type(s->type), s->doc);
                bool unset = s->default_json && strcmp(s->default_json, "null") == 0;
                printf("       %-16s %-12s %s%s%s%s\n", "", "",
                       !s->default_json ? "required"
                       : unset          ? "optional"
                                        : "default ",
                       s->default_json && !unset ? s->default_json : "",
                       s->choices ? "; one of " : "", s->choices ? s->choices : "");
            }
            printf("\n");
        }
        printf("Every card also has 'execution' (local) and 'device' (cpu).\n");
        for (int k = 0; k < a.n_pos; k++) {
            if (ns_cards_find(cards, a.pos[k]) != NULL)
                continue;
            const char *s = ns_cards_suggest(cards, a.pos[k]);
            if (s != NULL)
                cli_error("cards",
                          "no card named %s (did you mean '%s'?); 'netsmith cards' "
                          "lists them",
                          a.pos[k], s);
            else
                cli_error("cards", "no card named %s; 'netsmith cards' lists them", a.pos[k]);
            rc = CLI_USAGE;
        }
    }
    ns_cards_free(cards);
    ns_ctx_free(ctx);
    return rc;
}
