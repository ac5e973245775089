/* netsmith define: the Model Define card from the command line. Turns flags into a short-form
 * spec, validates it with the library and prints (or writes) its canonical JSON. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "[--hidden 128,64,32] [--activation NAME] [options] [-o spec.json]";
static const char about[] =
    "Writes a model spec (the Model Define card): a multilayer perceptron in the short form\n"
    "(hidden layers, activation, dropout) with its training settings. The spec is checked\n"
    "and printed in canonical form, every setting explicit; it holds no input size, which\n"
    "'netsmith build' and 'netsmith train' take from the data. Settings not given keep the\n"
    "library's defaults (relu, no dropout, adam at 0.001, 50 epochs, batch 32).";

/* Appends the sizes of "128,64,32" to list; "" or "none" leaves it empty (a linear model). */
static bool parse_hidden(const char *text, json_t *list)
{
    if (text[0] == '\0' || strcmp(text, "none") == 0)
        return true;
    const char *p = text;
    for (;;) {
        char *end;
        errno = 0;
        long long n = strtoll(p, &end, 10);
        if (end == p || errno != 0 || n < 1 || n > (1 << 20) || (*end != ',' && *end != '\0'))
            return false;
        if (json_array_append_new(list, json_integer(n)) != 0)
            return false;
        if (*end == '\0')
            return true;
        p = end + 1;
    }
}

/* Sets key to a copy of the flag's string value when it was given. */
static void set_string(json_t *spec, const cli_args *a, const char *flag, const char *key)
{
    const char *v = cli_get(a, flag);
    if (v != NULL)
        json_object_set_new(spec, key, json_string(v));
}

/* Builds the short-form spec from the flags; NULL after printing a usage message. */
static json_t *spec_from_flags(const cli_args *a)
{
    json_t *spec = json_object();
    json_t *hidden = json_array();
    if (spec == NULL || hidden == NULL) {
        json_decref(spec);
        json_decref(hidden);
        cli_error("define", "out of memory");
        return NULL;
    }
    json_object_set_new(spec, "model_type", json_string("deep_neural_network"));
    json_object_set_new(spec, "hidden_layers", hidden);
    const char *v = cli_get(a, "--hidden");
    if (v != NULL && !parse_hidden(v, hidden)) {
        cli_error("define",
                  "--hidden: expected layer sizes like 128,64,32 (each in [1, 1048576]) or "
                  "'none', got '%s'",
                  v);
        json_decref(spec);
        return NULL;
    }
    if (v == NULL) { /* the Model Define card's default blueprint */
        json_array_append_new(hidden, json_integer(128));
        json_array_append_new(hidden, json_integer(64));
        json_array_append_new(hidden, json_integer(32));
    }
    set_string(spec, a, "--activation", "activation");
    set_string(spec, a, "--task", "task");
    set_string(spec, a, "--loss", "loss");
    set_string(spec, a, "--optimizer", "optimizer");

    /* Numbers are read strictly here (a usage error otherwise) within broad limits; the
     * library checks the exact ranges, and its messages name the setting. */
    double d;
    long long n;
    static const struct {
        const char *flag, *key;
        double lo, hi;
    } reals[] = {{"--dropout", "dropout", 0, 1},
                 {"--lr", "learning_rate", 0, 1e6},
                 {"--weight-decay", "weight_decay", 0, 1e6}};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        if (!cli_double(a, reals[i].flag, reals[i].lo, reals[i].hi, &d)) {
            json_decref(spec);
            return NULL;
        }
        if (cli_has(a, reals[i].flag))
            json_object_set_new(spec, reals[i].key, json_real(d));
    }
    static const struct {
        const char *flag, *key;
        long long lo, hi;
    } ints[] = {{"--epochs", "epochs", 1, 1000000},
                {"--batch-size", "batch_size", 1, 1 << 20},
                {"--output-size", "output_size", 1, 1 << 20}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!cli_int(a, ints[i].flag, ints[i].lo, ints[i].hi, &n)) {
            json_decref(spec);
            return NULL;
        }
        if (cli_has(a, ints[i].flag))
            json_object_set_new(spec, ints[i].key, json_integer(n));
    }
    return spec;
}

int cmd_define(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--hidden", NULL, "N,N,...", "hidden layer sizes (default 128,64,32; 'none': linear)",
         NULL},
        {"--activation", NULL, "NAME",
         "relu (default), leaky_relu, elu, gelu, gelu_tanh, silu, tanh or sigmoid", NULL},
        {"--dropout", NULL, "P", "dropout after each hidden layer, in [0, 1) (default 0)", NULL},
        {"--output-size", NULL, "N", "outputs (default: from the data at build time)", NULL},
        {"--task", NULL, "TASK", "classification, regression or auto (default)", NULL},
        {"--loss", NULL, "NAME", "mse, mae, huber, cross_entropy or bce (default: from the task)",
         NULL},
        {"--optimizer", NULL, "NAME", "sgd, adam (default), adamw or rmsprop", NULL},
        {"--lr", NULL, "X", "learning rate (default 0.001)", NULL},
        {"--weight-decay", NULL, "X", "weight decay (default 0)", NULL},
        {"--epochs", NULL, "N", "epochs (default 50)", NULL},
        {"--batch-size", NULL, "N", "batch size (default 32)", NULL},
        {"--output", "-o", "FILE", "write the spec here (default: standard output)", NULL},
    };
    cli_args a = {"define", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos > 0) {
        cli_error("define", "takes no arguments, got '%s'; see 'netsmith define --help'", a.pos[0]);
        return CLI_USAGE;
    }
    json_t *json = spec_from_flags(&a);
    if (json == NULL)
        return CLI_USAGE;
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    if (text == NULL) {
        cli_error("define", "out of memory");
        return CLI_ERROR;
    }

    ns_ctx *ctx = NULL;
    ns_spec *spec = NULL;
    char *canonical = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        free(text);
        cli_error("define", "out of memory");
        return CLI_ERROR;
    }
    /* A value the library refuses came from a flag, so it is a usage error. */
    ns_status st = ns_spec_parse(ctx, text, strlen(text), "spec", &spec);
    if (st == NS_OK)
        st = ns_spec_to_json(spec, &canonical);
    if (st != NS_OK) {
        cli_fail("define", ctx);
        rc = st == NS_ERR_PARSE ? CLI_USAGE : CLI_ERROR;
        goto out;
    }
    const char *path = cli_get(&a, "--output");
    if (path == NULL) {
        fputs(canonical, stdout);
    } else if (ns_write_file(ctx, path, canonical, strlen(canonical)) != NS_OK) {
        rc = cli_fail("define", ctx); /* atomic: a failed write leaves no part of a spec */
    }
out:
    if (spec != NULL)
        ns_dealloc(ns_spec_ctx(spec), canonical);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
    free(text);
    return rc;
}
