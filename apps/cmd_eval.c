/* netsmith eval: the Evaluate card from the command line. Loads a model file (weights, task,
 * labels, normalisation) and data, and prints the metrics and, for a classifier, the
 * confusion matrix with the class names. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "MODEL --data DATA [options]";
static const char about[] =
    "Evaluates a model file (.safetensors, as 'netsmith train' writes it) on DATA: a built-in\n"
    "dataset, a CSV file or an IDX image file with the model's input columns and a target.\n"
    "The model's normalisation is applied to the data first. A built-in with an official\n"
    "test split (fashion-mnist) is evaluated on that split. Classes are matched to the\n"
    "model's by name, so data with only some of the classes, or in another order, is fine.\n"
    "A CSV is read the way the model was trained: its columns are picked and ordered by the\n"
    "model's feature names, text columns are one-hot encoded with the model's categories (an\n"
    "unseen category is an error), and the target is the model's target column unless\n"
    "--target names another. The task defaults to the model's.";

/* ---- output ---------------------------------------------------------------------------------- */

static const char *class_name(const ns_model_info *info, int c, char *buf, size_t cap)
{
    if (info->class_names != NULL && c < info->classes && info->class_names[c][0] != '\0')
        return info->class_names[c];
    snprintf(buf, cap, "%d", c);
    return buf;
}

/* The confusion matrix as a table: a row per true class, a column per predicted class; names
 * are cut to MAX_NAME characters. */
static void print_confusion(const ns_model_info *info, const int64_t *conf, int classes)
{
    enum { MIN_WIDTH = 5, MAX_NAME = 14 };
    char buf[16];
    int w = MIN_WIDTH;
    for (int c = 0; c < classes; c++) {
        int n = (int)strlen(class_name(info, c, buf, sizeof buf));
        w = n > w ? n : w;
    }
    w = w > MAX_NAME ? MAX_NAME : w;
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n  %*s", w, "");
    for (int p = 0; p < classes; p++)
        printf("  %*.*s", w, w, class_name(info, p, buf, sizeof buf));
    printf("\n");
    for (int t = 0; t < classes; t++) {
        printf("  %-*.*s", w, w, class_name(info, t, buf, sizeof buf));
        for (int p = 0; p < classes; p++)
            printf("  %*lld", w, (long long)conf[(size_t)t * (size_t)classes + (size_t)p]);
        printf("\n");
    }
}

/* One JSON object: ns_metrics_to_json's, plus "classes" (the names the matrix's rows and
 * columns stand for) for a classifier. */
static ns_status print_json(ns_ctx *ctx, const ns_model_info *info, const ns_metric_values *v,
                            const int64_t *conf, int classes)
{
    char *text = NULL;
    ns_status st = ns_metrics_to_json(ctx, v, conf, classes, &text);
    if (st != NS_OK)
        return st;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    char *names = NULL;
    if (conf != NULL && len > 0 && text[len - 1] == '}') {
        json_t *list = json_array();
        char buf[16];
        for (int c = 0; list != NULL && c < classes; c++)
            json_array_append_new(list, json_string(class_name(info, c, buf, sizeof buf)));
        names = list ? json_dumps(list, 0) : NULL; /* ", " as ns_metrics_to_json */
        json_decref(list);
    }
    if (names != NULL)
        printf("%.*s, \"classes\": %s}\n", (int)(len - 1), text, names);
    else
        printf("%.*s\n", (int)len, text);
    free(names);
    ns_dealloc(ctx, text);
    return NS_OK;
}

/* ---- the command ------------------------------------------------------------------------------
 */

int cmd_eval(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--data", NULL, "DATA", "built-in name, CSV path or IDX images file", NULL},
        {"--target", NULL, "COL", "target column(s) by name or index (default: the last)", NULL},
        {"--task", NULL, "TASK", "classification, regression or auto (default: the model's)", NULL},
        {"--labels", NULL, "FILE", "IDX labels file (default: found beside the images)", NULL},
        CLI_DATA_FLAGS,
        {"--json", NULL, NULL, "print the metrics as one JSON object", NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
    };
    cli_args a = {"eval", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    cli_data_help(flags, a.n_flags);
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    const char *source = NULL;
    if ((rc = cli_model_and_data(&a, &source)) != CLI_OK)
        return rc;

    ns_ctx *ctx = NULL;
    ns_model *model = NULL;
    ns_model_info info;
    memset(&info, 0, sizeof info);
    ns_dataset *data = NULL;
    ns_metrics *acc = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("eval", "out of memory");
        return CLI_ERROR;
    }
    if ((rc = cli_threads(&a, 0, ctx)) != CLI_OK)
        goto out;
    rc = CLI_ERROR;
    /* read as the model was trained: its columns, categories, target and task */
    ns_data_options dopts;
    if (cli_data_options(ctx, &a, source, &dopts) != NS_OK)
        goto fail;
    ns_status st = ns_fit_evaluate_file(ctx, a.pos[0], &dopts, NULL, &model, &info, &data, &acc);
    const ns_dataset *ds = data;
    ns_metric_values v;
    if (st == NS_OK)
        st = ns_metrics_compute(acc, &v);
    if (st != NS_OK)
        goto fail;
    int classes = 0;
    const int64_t *conf = ns_metrics_confusion(acc, &classes);
    if (cli_has(&a, "--json")) {
        if (print_json(ctx, &info, &v, conf, classes) != NS_OK)
            goto fail;
    } else {
        char title[512];
        snprintf(title, sizeof title, "%s on %s", a.pos[0], ns_dataset_name(ds));
        cli_print_metrics(stdout, title, &v);
        if (conf != NULL)
            print_confusion(&info, conf, classes);
    }
    rc = CLI_OK;
    goto out;
fail:
    rc = cli_fail("eval", ctx);
out:
    ns_metrics_free(acc);
    ns_dataset_free(data);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    ns_ctx_free(ctx);
    return rc;
}
