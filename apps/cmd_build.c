/* netsmith build: the Build Model card from the command line. Builds a spec for an input
 * size or shape, with initialised weights, and saves the model file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "SPEC (--input-size N | --input-shape C,H,W) [options] -o model.safetensors";
static const char about[] =
    "Builds the model a spec (JSON) describes for samples of N features (or of shape C,H,W\n"
    "for images), initialises its weights from --seed as PyTorch does, and writes a\n"
    "safetensors model file whose tensors load into PyTorch's nn.Sequential. The file holds\n"
    "no data description yet: 'netsmith train' adds the task, labels and normalisation.";

static void shape_text(char *buf, size_t cap, const ns_build_opts *bo)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < bo->input_ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? ", " : "", bo->input_shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

int cmd_build(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--input-size", NULL, "N", "features per sample", NULL},
        {"--input-shape", NULL, "C,H,W", "per-sample shape, e.g. 1,28,28 for images", NULL},
        {"--output-size", NULL, "K", "outputs (default: the spec's)", NULL},
        {"--seed", NULL, "S", "seed of the initial weights (default 0)", NULL},
        {"--output", "-o", "FILE", "the model file to write (.safetensors)", NULL},
        {"--quiet", "-q", NULL, "print no summary", NULL},
    };
    cli_args a = {"build", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, usage, about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (a.n_pos != 1) {
        cli_error("build", "expected one SPEC, got %d arguments; see 'netsmith build --help'",
                  a.n_pos);
        return CLI_USAGE;
    }
    ns_build_opts bo;
    if ((rc = cli_input_shape(&a, true, &bo, NULL)) != CLI_OK)
        return rc;
    long long output = 0, seed = 0;
    if (!cli_int(&a, "--output-size", 1, INT32_MAX, &output) ||
        !cli_int(&a, "--seed", 0, INT64_MAX, &seed))
        return CLI_USAGE;
    bo.output_size = (int)output;
    bo.seed = (uint64_t)seed;
    const char *out = cli_get(&a, "--output");
    if (out == NULL) {
        cli_error("build", "missing -o FILE, the model file to write");
        return CLI_USAGE;
    }

    ns_ctx *ctx = NULL;
    ns_spec *spec = NULL;
    ns_model *model = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK) {
        cli_error("build", "out of memory");
        return CLI_ERROR;
    }
    rc = CLI_OK;
    if (ns_spec_load(ctx, a.pos[0], &spec) != NS_OK ||
        ns_model_build(ctx, spec, &bo, &model) != NS_OK ||
        ns_model_save(model, out, NULL, 0) != NS_OK)
        rc = cli_fail("build", ctx);
    if (rc == CLI_OK && !cli_has(&a, "--quiet")) {
        char shape[64];
        shape_text(shape, sizeof shape, &bo);
        printf("%s: %d layers, %zu parameters, input %s -> %d outputs; wrote %s\n", a.pos[0],
               ns_model_layer_count(model), ns_model_param_count(model), shape,
               ns_model_output_size(model), out);
    }
    ns_model_free(model);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
    return rc;
}
