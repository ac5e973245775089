/* netsmith inspect: shows a spec's or a model file's layers (settings, output shapes,
 * parameter counts), its training settings and, for a model file, what its metadata says
 * about the data (task, classes, normalisation, version). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "SPEC|MODEL [--input-size N | --input-shape C,H,W] [--output-size K]";
static const char about[] =
    "Shows the layers of a spec (JSON) or a model file (.safetensors): type, settings,\n"
    "per-sample output shape and parameter count, then the training settings. A spec has no\n"
    "input size: give --input-size N (or --input-shape C,H,W) for shapes and parameter\n"
    "counts. A model file also shows its task, classes, normalisation and metadata.";

/* ---- one layer ----------------------------------------------------------------------------------
 */

/* The settings of a layer that differ by kind, PyTorch's names ("units=64", "p=0.2");
 * unknown_units prints a linear layer's units as "?" (left to the data). */
static void settings(char *buf, size_t cap, const ns_layer_spec *ls, bool unknown_units)
{
    if (unknown_units)
        snprintf(buf, cap, "units=? (from the data)%s", ls->bias ? "" : ", bias=false");
    else
        ns_layer_spec_text(ls, buf, cap);
}

static const char *shape_text(char *buf, size_t cap, int ndim, const int *shape)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? ", " : "", shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

/* ---- the layer table
 * ------------------------------------------------------------------------------ */

/* One printed row of the layer table. */
typedef struct layer_row {
    char type[24], settings[160], shape[48], params[24];
} layer_row;

/* Prints a model's layers with shapes from its input shape and its parameter counts, or
 * (model NULL) the n layers of a spec with "?" for both. unknown_output: the last linear
 * layer's units come from the data. Columns are as wide as their longest entry. */
static void print_layers(ns_model *model, const ns_layer_spec *spec_layers, int n,
                         bool unknown_output)
{
    if (model != NULL)
        n = ns_model_layer_count(model);
    /* row 0 is the input, rows 1..n the layers */
    layer_row *rows = calloc((size_t)n + 1, sizeof *rows);
    if (rows == NULL) {
        cli_error("inspect", "out of memory");
        return;
    }
    int ndim = 0, shape[NS_MAX_DIMS - 1] = {0};
    snprintf(rows[0].type, sizeof rows[0].type, "input");
    snprintf(rows[0].shape, sizeof rows[0].shape, "?");
    if (model != NULL) {
        const ns_build_opts *bo = ns_model_build_opts(model);
        ndim = bo->input_ndim;
        memcpy(shape, bo->input_shape, sizeof shape);
        shape_text(rows[0].shape, sizeof rows[0].shape, ndim, shape);
    }
    int last_linear = -1;
    for (int i = 0; spec_layers != NULL && i < n; i++)
        last_linear = spec_layers[i].kind == NS_LAYER_LINEAR ? i : last_linear;
    size_t w_set = strlen("settings"), w_shape = strlen("output");
    for (int i = 0; i < n; i++) {
        const ns_layer_spec *ls = model ? ns_model_layer(model, i) : &spec_layers[i];
        layer_row *r = &rows[i + 1];
        snprintf(r->type, sizeof r->type, "%s", ns_layer_kind_name(ls->kind));
        settings(r->settings, sizeof r->settings, ls, unknown_output && i == last_linear);
        snprintf(r->shape, sizeof r->shape, "?");
        snprintf(r->params, sizeof r->params, "?");
        ns_layer_shape sh;
        if (model != NULL && ns_model_layer_shape(model, i, &sh) == NS_OK) {
            shape_text(r->shape, sizeof r->shape, sh.ndim, sh.shape);
            snprintf(r->params, sizeof r->params, "%zu", sh.params);
        }
        w_set = strlen(r->settings) > w_set ? strlen(r->settings) : w_set;
        w_shape = strlen(r->shape) > w_shape ? strlen(r->shape) : w_shape;
    }
    printf("  %3s  %-18s  %-*s  %-*s  %10s\n", "#", "layer", (int)w_set, "settings", (int)w_shape,
           "output", "params");
    printf("  %3s  %-18s  %-*s  %s\n", "", rows[0].type, (int)w_set, "", rows[0].shape);
    for (int i = 0; i < n; i++)
        printf("  %3d  %-18s  %-*s  %-*s  %10s\n", i, rows[i + 1].type, (int)w_set,
               rows[i + 1].settings, (int)w_shape, rows[i + 1].shape, rows[i + 1].params);
    if (model != NULL)
        printf("total parameters: %zu (%.1f KiB as float32)\n", ns_model_param_count(model),
               (double)ns_model_param_count(model) * 4.0 / 1024.0);
    free(rows);
}

static void print_training(const ns_spec *spec, bool of_model)
{
    const ns_train_settings *t = ns_spec_training(spec);
    printf("\n%s optimizer %s, learning rate %g, weight decay %g,\n"
           "          epochs %d, batch size %d, loss %s, task %s\n",
           of_model ? "blueprint's training settings (a run may set others):\n         "
                    : "training:",
           t->optimizer, t->learning_rate, t->weight_decay, t->epochs, t->batch_size,
           t->loss[0] ? t->loss : "(from the task)", ns_task_name(t->task));
}

/* A model file in a run directory: what the run used and did, from its record beside it. */
static void print_run(const char *model_path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", model_path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    char path[4200];
    snprintf(path, sizeof path, "%s/settings.json", dir);
    json_error_t err;
    json_t *s = json_load_file(path, 0, &err);
    if (!json_is_object(s)) {
        json_decref(s);
        return;
    }
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    int epochs_run = 0;
    FILE *f = fopen(path, "r");
    char line[1024];
    while (f != NULL && fgets(line, sizeof line, f))
        epochs_run += line[0] >= '0' && line[0] <= '9';
    if (f != NULL)
        fclose(f);
    const char *optim = json_string_value(json_object_get(s, "optimizer"));
    const char *loss = json_string_value(json_object_get(s, "loss"));
    printf("trained (the run recorded in %s/settings.json):\n"
           "          %d epochs of %lld, batch size %lld, optimizer %s, learning rate %g, "
           "loss %s, seed %llu\n",
           dir, epochs_run, (long long)json_integer_value(json_object_get(s, "epochs")),
           (long long)json_integer_value(json_object_get(s, "batch_size")), optim ? optim : "?",
           json_number_value(json_object_get(s, "learning_rate")), loss ? loss : "?",
           (unsigned long long)json_integer_value(json_object_get(s, "seed")));
    json_decref(s);
}

/* ---- specs and model files ------------------------------------------------------------------- */

int cli_print_spec(ns_ctx *ctx, const char *cmd, const char *title, const ns_spec *spec,
                   ns_build_opts *bo, bool have_input)
{
    ns_model *model = NULL;
    ns_layer_spec *layers = NULL;
    int n = 0, rc = CLI_OK;
    bool short_form = ns_spec_get_form(spec) == NS_SPEC_SHORT;
    int output = bo->output_size ? bo->output_size : ns_spec_output_size(spec);
    bool unknown_output = output == 0 && short_form;
    printf("%s (%s form)\n", title, short_form ? "short" : "layer-list");
    if (have_input && !unknown_output) {
        if (ns_model_build(ctx, spec, bo, &model) != NS_OK) {
            rc = cli_fail(cmd, ctx);
            goto out;
        }
        printf("\n");
        print_layers(model, NULL, 0, false);
    } else {
        if (ns_spec_expand_input(spec, have_input ? bo->input_ndim : 1,
                                 unknown_output ? 1 : bo->output_size, &layers, &n) != NS_OK) {
            rc = cli_fail(cmd, ctx);
            goto out;
        }
        printf("\n");
        print_layers(NULL, layers, n, unknown_output);
        if (!have_input)
            printf("give --input-size N (or --input-shape C,H,W) for shapes and parameter "
                   "counts\n");
        if (unknown_output)
            printf("the output size comes from the data; give --output-size K to fix it\n");
    }
    print_training(spec, false);
out:
    ns_dealloc(ns_spec_ctx(spec), layers);
    ns_model_free(model);
    return rc;
}

static int inspect_spec(ns_ctx *ctx, const char *path, ns_build_opts *bo, bool have_input)
{
    ns_spec *spec = NULL;
    if (ns_spec_load(ctx, path, &spec) != NS_OK)
        return cli_fail("inspect", ctx);
    char title[1100];
    snprintf(title, sizeof title, "spec %s", path);
    int rc = cli_print_spec(ctx, "inspect", title, spec, bo, have_input);
    ns_spec_free(spec);
    return rc;
}

/* Prints a metadata value on one line, shortened when long. */
static void print_meta(const char *key, const char *value)
{
    enum { MAX = 72 };
    size_t len = strlen(value), line = strcspn(value, "\n");
    if (len <= MAX && line == len)
        printf("  %-24s %s\n", key, value);
    else
        printf("  %-24s %.*s... (%zu bytes)\n", key, (int)(line < MAX ? line : MAX), value, len);
}

static int inspect_model(ns_ctx *ctx, const char *path)
{
    ns_st_file *f = NULL;
    ns_model *model = NULL;
    ns_model_info info;
    memset(&info, 0, sizeof info);
    if (ns_st_open(ctx, path, &f) != NS_OK || ns_fit_load(ctx, path, 0, &model, &info) != NS_OK) {
        ns_st_close(f);
        return cli_fail("inspect", ctx);
    }
    printf("model %s\n\n", path);
    print_layers(model, NULL, 0, false);
    print_training(ns_model_spec(model), true);
    print_run(path);

    if (ns_st_meta_find(f, "netsmith.task") == NULL) {
        printf("\ndata: none recorded (a built model; 'netsmith train' records the task, "
               "classes and normalisation)");
    } else if (info.task == NS_TASK_CLASSIFICATION) {
        printf("\ndata: task classification, %d classes", info.classes);
        for (int i = 0; info.class_names != NULL && i < info.classes; i++)
            printf("%s%s", i ? ", " : ": ", info.class_names[i]);
    } else {
        printf("\ndata: task regression, %d target%s", info.targets, info.targets == 1 ? "" : "s");
        for (int i = 0; info.target_names != NULL && i < info.targets; i++)
            printf("%s%s", i ? ", " : ": ", info.target_names[i]);
    }
    printf("\nnormalisation: %s", ns_norm_kind_name(info.norm.kind));
    if (info.norm.kind != NS_NORM_NONE)
        printf(" (fitted on the training data, %d features)", info.norm.features);
    printf("\n\nmetadata:\n");
    for (int i = 0; i < ns_st_meta_count(f); i++) {
        const ns_st_meta *m = ns_st_meta_get(f, i);
        if (strcmp(m->key, "netsmith.spec") == 0) /* shown above as layers and settings */
            continue;
        print_meta(m->key, m->value);
    }
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    ns_st_close(f);
    return CLI_OK;
}

int cmd_inspect(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--input-size", NULL, "N", "features per sample (for a spec's shapes and parameters)",
         NULL},
        {"--input-shape", NULL, "C,H,W", "per-sample shape, e.g. 1,28,28 for images", NULL},
        {"--output-size", NULL, "K", "outputs, when the spec leaves them to the data", NULL},
    };
    cli_args a = {"inspect", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos != 1) {
        cli_error("inspect",
                  "expected one SPEC or MODEL file, got %d arguments; see 'netsmith inspect "
                  "--help'",
                  a.n_pos);
        return CLI_USAGE;
    }
    ns_build_opts bo;
    bool have_input;
    long long output = 0;
    if ((rc = cli_input_shape(&a, false, &bo, &have_input)) != CLI_OK)
        return rc;
    if (!cli_int(&a, "--output-size", 1, INT32_MAX, &output))
        return CLI_USAGE;
    bo.output_size = (int)output;

    const char *path = a.pos[0];
    size_t len = strlen(path);
    bool model_file = len > 12 && strcmp(path + len - 12, ".safetensors") == 0;
    if (model_file && (have_input || output > 0)) {
        cli_error("inspect", "a model file knows its input and output sizes; drop "
                             "--input-size, --input-shape and --output-size");
        return CLI_USAGE;
    }
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("inspect", "out of memory");
        return CLI_ERROR;
    }
    rc = model_file ? inspect_model(ctx, path) : inspect_spec(ctx, path, &bo, have_input);
    ns_ctx_free(ctx);
    return rc;
}

int cmd_layers(int argc, char **argv)
{
    static const char layers_usage[] = "[KIND ...] [--json]";
    static const char layers_about[] =
        "Lists the layer kinds a layer-list spec can use, with their settings (PyTorch's\n"
        "argument names), ranges and defaults. --json prints each kind's JSON schema.";
    cli_flag flags[] = {{"--json", NULL, NULL, "JSON schemas", NULL}};
    cli_args a = {.cmd = "layers", .flags = flags, .n_flags = 1};
    bool done;
    int rc = cli_parse(&a, argc, argv, layers_usage, layers_about, &done);
    if (rc != CLI_OK || done)
        return rc;
    for (int k = 0; k < a.n_pos; k++) {
        ns_layer_kind kind;
        if (ns_layer_kind_parse(a.pos[k], &kind) != NS_OK) {
            cli_error("layers", "no layer kind named '%s'; 'netsmith layers' lists them", a.pos[k]);
            return CLI_USAGE;
        }
    }
    if (cli_has(&a, "--json")) {
        ns_ctx *ctx = NULL;
        if (ns_ctx_new(NULL, &ctx) != NS_OK) {
            cli_error("layers", "out of memory");
            return CLI_ERROR;
        }
        char *json = NULL;
        if (ns_layer_schema(ctx, &json) == NS_OK)
            printf("%s\n", json);
        else
            rc = cli_fail("layers", ctx);
        ns_dealloc(ctx, json);
        ns_ctx_free(ctx);
        return rc;
    }
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++) {
        const char *name = ns_layer_kind_name((ns_layer_kind)k);
        bool wanted = a.n_pos == 0;
        for (int i = 0; i < a.n_pos; i++)
            wanted |= strcmp(a.pos[i], name) == 0;
        if (!wanted)
            continue;
        char doc[1024];
        ns_layer_settings_doc((ns_layer_kind)k, doc, sizeof doc);
        printf("%-20s %s\n", name, doc[0] != '\0' ? doc : "(no settings)");
    }
    return CLI_OK;
}
