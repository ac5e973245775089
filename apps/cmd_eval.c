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
    "The task defaults to the model's.";

/* ---- classes ----------------------------------------------------------------------------------
 */

/* Whether the data's class names are "0", "1", ...: classes known only by number (IDX
 * labels, integer CSV targets), which are then taken as the model's class indices. */
static bool numbered(const ns_dataset *ds)
{
    for (int i = 0; i < ns_dataset_class_count(ds); i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        if (strcmp(ns_dataset_class_name(ds, i), num) != 0)
            return false;
    }
    return true;
}

static void names_text(char *buf, size_t cap, char **names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
}

/* map[i] receives the model's class for the data's class i (map has room for the data's
 * class count), matched by name; by number when the model has no names or the data's are
 * only numbers. *identity says whether every map[i] == i. NS_ERR_INVALID names a class the
 * model does not know. */
static ns_status class_map(ns_ctx *ctx, const ns_model_info *info, const ns_dataset *ds,
                           int32_t *map, bool *identity)
{
    int dc = ns_dataset_class_count(ds);
    *identity = true;
    bool by_name = info->class_names != NULL;
    for (int i = 0; by_name && i < dc; i++) {
        map[i] = -1;
        for (int j = 0; j < info->classes && map[i] < 0; j++)
            if (strcmp(ns_dataset_class_name(ds, i), info->class_names[j]) == 0)
                map[i] = j;
        if (map[i] < 0 && !numbered(ds)) {
            char names[512];
            names_text(names, sizeof names, info->class_names, info->classes);
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "'%s' has the class '%s', which the model does not know (its "
                             "classes: %s); use data labelled with the model's classes",
                             ns_dataset_name(ds), ns_dataset_class_name(ds, i), names);
        }
        by_name = map[i] >= 0;
    }
    if (!by_name) {
        if (dc > info->classes)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "'%s' has %d classes but the model knows %d; use data labelled "
                             "with the model's classes",
                             ns_dataset_name(ds), dc, info->classes);
        for (int i = 0; i < dc; i++)
            map[i] = i;
    }
    for (int i = 0; i < dc; i++)
        *identity = *identity && map[i] == i;
    return NS_OK;
}

/* A batch source over a batcher that renumbers the labels through map. */
typedef struct relabel {
    ns_batcher *b;
    const int32_t *map;
    int32_t *labels; /* [max batch] */
} relabel;

static ns_status relabel_get(void *ud, int64_t epoch, int64_t index, ns_batch *out)
{
    relabel *r = ud;
    ns_status st = ns_batcher_get(r->b, epoch, index, out);
    if (st != NS_OK)
        return st;
    for (int i = 0; i < out->n; i++)
        r->labels[i] = r->map[out->labels[i]];
    out->labels = r->labels;
    return NS_OK;
}

/* The Evaluate card with the data's classes renumbered to the model's: what ns_fit_evaluate
 * does (normalise with the model's fit, batches in order, the task's loss) over a relabelling
 * batch source. The data must have the model's feature count. */
static ns_status evaluate_relabelled(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                                     const ns_dataset *data, const int32_t *map, ns_metrics *acc)
{
    ns_dataset *view = NULL;
    relabel r = {NULL, map, NULL};
    ns_status st = NS_OK;
    if (info->norm.kind != NS_NORM_NONE)
        st = ns_data_normalize(data, &info->norm, &view);
    ns_batch_options bo = {.batch_size = ns_model_max_batch(model), .no_shuffle = true};
    if (st == NS_OK)
        st = ns_batcher_new(view ? view : data, &bo, &r.b);
    if (st == NS_OK && (r.labels = ns_alloc(ctx, (size_t)bo.batch_size * sizeof *r.labels)) == NULL)
        st = NS_ERR_NOMEM;
    if (st == NS_OK) {
        int outputs = ns_model_output_size(model);
        ns_loss_config lc;
        ns_loss_config_default(&lc, outputs == 1 ? NS_LOSS_BCE : NS_LOSS_CROSS_ENTROPY);
        ns_batch_source src = {ns_batcher_count(r.b), relabel_get, &r};
        st = ns_evaluate(model, &lc, &src, acc);
    }
    ns_dealloc(ctx, r.labels);
    ns_batcher_free(r.b);
    ns_dataset_free(view);
    return st;
}

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
        {"--json", NULL, NULL, "print the metrics as one JSON object", NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
    };
    cli_args a = {"eval", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
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
    ns_dataset *data = NULL, *test = NULL;
    ns_metrics *acc = NULL;
    int32_t *map = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("eval", "out of memory");
        return CLI_ERROR;
    }
    if ((rc = cli_threads(&a, 0, ctx)) != CLI_OK)
        goto out;
    rc = CLI_ERROR;
    if (ns_fit_load(ctx, a.pos[0], 0, &model, &info) != NS_OK)
        goto fail;
    /* The data is read for the model's task unless --task says otherwise, so an integer
     * regression target is not taken for class labels. */
    for (int i = 0; i < a.n_flags; i++)
        if (strcmp(flags[i].name, "--task") == 0 && flags[i].value == NULL &&
            info.task != NS_TASK_AUTO)
            flags[i].value = info.task == NS_TASK_CLASSIFICATION ? "classification" : "regression";
    if (cli_load_data(ctx, &a, source, &data, &test) != NS_OK)
        goto fail;
    const ns_dataset *ds = test ? test : data;
    if (info.task == NS_TASK_AUTO) { /* a built model never trained: the data's task */
        int outputs = ns_model_output_size(model);
        info.task = ns_dataset_task(ds);
        info.classes = info.task == NS_TASK_CLASSIFICATION ? (outputs == 1 ? 2 : outputs) : 0;
        info.targets = info.task == NS_TASK_CLASSIFICATION ? 0 : outputs;
    }

    ns_status st = ns_metrics_new(ctx, info.task, ns_model_output_size(model), &acc);
    bool identity = true;
    if (st == NS_OK && info.task == NS_TASK_CLASSIFICATION &&
        ns_dataset_task(ds) == NS_TASK_CLASSIFICATION &&
        ns_dataset_feature_count(ds) == ns_model_input_size(model)) {
        int dc = ns_dataset_class_count(ds);
        map = ns_alloc(ctx, (size_t)(dc > 0 ? dc : 1) * sizeof *map);
        st = map ? class_map(ctx, &info, ds, map, &identity) : NS_ERR_NOMEM;
    }
    if (st == NS_OK)
        st = identity ? ns_fit_evaluate(model, &info, ds, 0, acc)
                      : evaluate_relabelled(ctx, model, &info, ds, map, acc);
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
    ns_dealloc(ctx, map);
    ns_metrics_free(acc);
    ns_dataset_free(data);
    ns_dataset_free(test);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    ns_ctx_free(ctx);
    return rc;
}
