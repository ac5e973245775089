/* netsmith export: a model file as ONNX or as C source (the Save / Export card's other
 * formats). `netsmith model export` uses the same options for a version in the store. */
#include <string.h>

#include "cli.h"

static const char usage[] = "MODEL.safetensors -o OUT [--format onnx|c] [--name NAME] [--opset N]";
static const char about[] =
    "Exports a trained model for deployment. Both formats take the raw features `netsmith\n"
    "predict` reads (the model's normalisation is part of the export) and give what it\n"
    "reports: each class's probability for a classifier, the values for a regression.\n"
    "  onnx  OUT.onnx: an ONNX model (opset 17 unless --opset, 13 to 17) for any ONNX\n"
    "        runtime; input \"input\" [N, features...], output \"probabilities\" or \"values\"\n"
    "        [N, outputs], class names in its metadata\n"
    "  c     OUT.c and OUT.h: the weights as static arrays and\n"
    "        int NAME_predict(const float *x, int n, float *y), C99 with no allocation and\n"
    "        nothing beyond <math.h>; NAME is --name, else OUT's base name\n"
    "The format is --format, else OUT's extension (.onnx, .c or .h).";

int cli_export_options(const cli_args *a, const char *cmd, const char *out, ns_ctx *ctx,
                       ns_export_options *o)
{
    ns_export_options_default(o);
    const char *format = cli_get(a, "--format");
    if (format != NULL) {
        if (ns_export_format_parse(ctx, format, &o->format) != NS_OK) {
            cli_error(cmd, "--format: %s", ns_errmsg(ctx));
            return CLI_USAGE;
        }
    } else if (!ns_export_format_of_path(out, &o->format)) {
        cli_error(cmd,
                  "%s: say which format with --format onnx or --format c (or name the "
                  "file .onnx or .c)",
                  out);
        return CLI_USAGE;
    }
    long long opset = 0;
    if (cli_has(a, "--opset")) {
        if (o->format != NS_EXPORT_ONNX) {
            cli_error(cmd, "--opset is an ONNX setting; the c format has none");
            return CLI_USAGE;
        }
        if (!cli_int(a, "--opset", NS_EXPORT_OPSET_MIN, NS_EXPORT_OPSET_MAX, &opset))
            return CLI_USAGE;
    }
    o->opset = (int)opset;
    if (cli_has(a, "--name") && o->format != NS_EXPORT_C) {
        cli_error(cmd, "--name names the C functions; the onnx format takes none");
        return CLI_USAGE;
    }
    o->name = cli_get(a, "--name");
    return CLI_OK;
}

/* "wrote mlp.c and mlp.h" */
void cli_export_report(const char *what, char written[2][4096])
{
    if (written[1][0] != '\0')
        fprintf(stderr, "exported %s to %s and %s\n", what, written[0], written[1]);
    else
        fprintf(stderr, "exported %s to %s\n", what, written[0]);
}

int cmd_export(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--output", "-o", "OUT", "the file to write (c: OUT.c and OUT.h)", NULL},
        EXPORT_FLAGS,
        {"--quiet", "-q", NULL, "print nothing on success", NULL},
    };
    cli_args a = {"export", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos != 1 || !cli_has(&a, "--output")) {
        cli_error("export", "expected: netsmith export %s", usage);
        return CLI_USAGE;
    }
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("export", "out of memory");
        return CLI_ERROR;
    }
    ns_export_options o;
    const char *out = cli_get(&a, "--output");
    if ((rc = cli_export_options(&a, "export", out, ctx, &o)) == CLI_OK) {
        char written[2][4096];
        if (ns_export_model_file(ctx, a.pos[0], &o, out, written) != NS_OK)
            rc = cli_fail("export", ctx);
        else if (!cli_has(&a, "--quiet"))
            cli_export_report(a.pos[0], written);
    }
    ns_ctx_free(ctx);
    return rc;
}
