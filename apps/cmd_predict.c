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
    ns_predictions pred;
    memset(&pred, 0, sizeof pred);
    ns_file_writer *w = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("predict", "out of memory");
        return CLI_ERROR;
    }
    if ((rc = cli_threads(&a, 0, ctx)) != CLI_OK)
        goto out;
    rc = CLI_ERROR;
    ns_data_options dopts;
    if (ns_fit_load(ctx, a.pos[0], 0, &model, &info) != NS_OK ||
        cli_data_options(ctx, &a, source, &dopts) != NS_OK ||
        ns_fit_predictions_open(ctx, model, &info, &dopts, NULL, &pred) != NS_OK) {
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
        ns_predictions_write_csv(ns_file_writer_stream(w), &pred);
        if (ns_file_writer_commit(w) != NS_OK) {
            rc = cli_fail("predict", ctx);
            goto out;
        }
    } else {
        ns_predictions_write_csv(stdout, &pred);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cli_error("predict", "standard output: cannot write: %s", strerror(errno));
            goto out;
        }
    }
    if (path != NULL && !cli_has(&a, "--quiet"))
        fprintf(stderr, "wrote %lld predictions to %s\n", (long long)pred.rows, path);
    rc = CLI_OK;
out:
    ns_file_writer_close(w);
    ns_predictions_free(ctx, &pred);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    ns_ctx_free(ctx);
    return rc;
}
