/* netsmith predict: the Inference card from the command line. Runs a model file over data
 * and writes the predictions as CSV: class and probabilities for a classifier, values for a
 * regression. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "MODEL --data DATA [-o predictions.csv] [options]";
static const char about[] =
    "Predicts with a model file (.safetensors) for every row of DATA (a built-in dataset, a\n"
    "CSV file or an IDX image file; a built-in with an official test split is predicted on\n"
    "that split), after the model's normalisation. Writes CSV to FILE or standard output:\n"
    "  classification: row,label,p_<class>,...  (the predicted class and each class's\n"
    "                  probability, with the class names stored in the model)\n"
    "  regression:     row,<target>,...         (the predicted values)\n"
    "row counts the data's rows from 0. A CSV is read the way the model was trained: its\n"
    "columns are picked and ordered by the model's feature names (others are ignored), text\n"
    "columns are one-hot encoded with the model's categories (an unseen category is an\n"
    "error), and the target columns, which are not used, may be left out. For a model file\n"
    "without feature names (older files) the columns are taken by position and a CSV needs a\n"
    "target column (--target COL, default the last).";

/* Whether the target the loader took could have been a numeric feature column: a regression
 * target, or classes that are all numbers (not text labels). */
static bool numeric_target(const ns_dataset *ds)
{
    for (int c = 0; ns_dataset_task(ds) == NS_TASK_CLASSIFICATION && c < ns_dataset_class_count(ds);
         c++) {
        const char *name = ns_dataset_class_name(ds, c);
        char *end;
        strtod(name, &end);
        if (end == name || *end != '\0')
            return false;
    }
    return true;
}

/* Says clearly why data with just the model's input columns (no target) cannot be read yet:
 * the loader always takes a target column out of the inputs, leaving one column too few.
 * Returns whether that is the case (and the message was printed). */
static bool no_target_column(const ns_model *model, const ns_dataset *ds, const char *source)
{
    int features = ns_dataset_feature_count(ds), targets = ns_dataset_target_count(ds);
    if (features == ns_model_input_size(model) ||
        features + targets != ns_model_input_size(model) || !numeric_target(ds))
        return false;
    cli_error("predict",
              "%s has %d columns, as many as the model's inputs, so it seems to have no target "
              "column; the data loader always takes one (the last, or --target COL) out of "
              "the inputs: add a placeholder target column",
              source, features + targets);
    return true;
}

int cmd_predict(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--data", NULL, "DATA", "built-in name, CSV path or IDX images file", NULL},
        {"--target", NULL, "COL",
         "the CSV's target column(s), left out of the inputs (default: "
         "the last)",
         NULL},
        {"--task", NULL, "TASK", "how to read the target: classification, regression or auto",
         NULL},
        {"--labels", NULL, "FILE", "IDX labels file (default: found beside the images)", NULL},
        CLI_DATA_FLAGS,
        {"--output", "-o", "FILE", "write the CSV here (default: standard output)", NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
        {"--quiet", "-q", NULL, "print no summary", NULL},
    };
    cli_args a = {"predict", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
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
    ns_dataset *data = NULL, *test = NULL;
    float *out = NULL, *probs = NULL;
    ns_file_writer *w = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("predict", "out of memory");
        return CLI_ERROR;
    }
    if ((rc = cli_threads(&a, 0, ctx)) != CLI_OK)
        goto out;
    rc = CLI_ERROR;
    /* read as the model was trained: its columns, categories and target (none needed) */
    ns_data_options dopts;
    if (ns_fit_load(ctx, a.pos[0], 0, &model, &info) != NS_OK ||
        cli_data_options(ctx, &a, source, &dopts) != NS_OK ||
        ns_data_open_for_model(ctx, &dopts, &info, false, NULL, &data, &test) != NS_OK) {
        rc = cli_fail("predict", ctx);
        goto out;
    }
    const ns_dataset *ds = test ? test : data;
    if (info.features == 0 && no_target_column(model, ds, source))
        goto out;
    int k = ns_model_output_size(model);
    if (info.task == NS_TASK_AUTO) { /* a built model never trained: the data's task */
        info.task = ns_dataset_task(ds) == NS_TASK_CLASSIFICATION ? NS_TASK_CLASSIFICATION
                                                                  : NS_TASK_REGRESSION;
        info.classes = info.task == NS_TASK_CLASSIFICATION ? (k == 1 ? 2 : k) : 0;
        info.targets = info.task == NS_TASK_CLASSIFICATION ? 0 : k;
    }
    int64_t rows = ns_dataset_rows(ds);
    size_t n = (size_t)(rows > 0 ? rows : 1);
    out = ns_alloc(ctx, n * (size_t)k * sizeof *out);
    int width = k == 1 ? 2 : k; /* probabilities per row: one logit is a binary classifier */
    if (info.task == NS_TASK_CLASSIFICATION)
        probs = ns_alloc(ctx, n * (size_t)width * sizeof *probs);
    if (out == NULL || (info.task == NS_TASK_CLASSIFICATION && probs == NULL) ||
        ns_fit_predict(model, &info, ds, out, probs, NULL) != NS_OK) {
        rc = cli_fail("predict", ctx);
        goto out;
    }
    const char *path = cli_get(&a, "--output");
    if (path != NULL) {
        /* atomic: a failed write leaves the old file (or none), never a part of the rows */
        if (ns_file_writer_open(ctx, path, &w) != NS_OK) {
            rc = cli_fail("predict", ctx);
            goto out;
        }
        ns_fit_write_predictions(ns_file_writer_stream(w), &info, ds, rows, k, out, probs);
        if (ns_file_writer_commit(w) != NS_OK) {
            rc = cli_fail("predict", ctx);
            goto out;
        }
    } else {
        ns_fit_write_predictions(stdout, &info, ds, rows, k, out, probs);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cli_error("predict", "standard output: cannot write: %s", strerror(errno));
            goto out;
        }
    }
    if (path != NULL && !cli_has(&a, "--quiet"))
        fprintf(stderr, "wrote %lld predictions to %s\n", (long long)rows, path);
    rc = CLI_OK;
out:
    ns_file_writer_close(w);
    ns_dealloc(ctx, out);
    ns_dealloc(ctx, probs);
    ns_dataset_free(data);
    ns_dataset_free(test);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    ns_ctx_free(ctx);
    return rc;
}
