/* Fuzz target: model specs (JSON, the short form and the layer list). A spec that parses must
 * print canonically and parse back to the same text (the contract of ns_spec_to_json), copy
 * and expand; then it is built for a small input (its own "input" if it names one, else 8
 * features, else a 3 x 8 x 8 image) with max_batch 2, and when that is cheap it takes one
 * training step with batch 2. */
#include <string.h>

#include "fuzz_model.h"
#include "fuzz_util.h"
#include "model/model_private.h"

static void check_print(ns_ctx *ctx, const ns_spec *spec)
{
    char *a = NULL, *b = NULL;
    ns_spec *again = NULL;
    if (ns_spec_to_json(spec, &a) != NS_OK)
        goto out;
    ns_status st = ns_spec_parse(ctx, a, strlen(a), "printed", &again);
    if (st == NS_ERR_NOMEM)
        goto out;
    if (st != NS_OK)
        ns_fuzz_fail("a printed spec does not parse", ns_errmsg(ctx));
    if (ns_spec_to_json(again, &b) != NS_OK)
        goto out;
    if (strcmp(a, b) != 0)
        ns_fuzz_fail("a printed spec prints differently after parsing", b);
out:
    ns_dealloc(ctx, a);
    ns_dealloc(ctx, b);
    ns_spec_free(again);
}

static void build_and_step(ns_ctx *ctx, const ns_spec *spec)
{
    ns_build_opts o;
    ns_build_opts_default(&o, 8);
    o.max_batch = 2;
    o.seed = 1;
    o.keep_input_grad = true;
    if (ns_spec_output_size(spec) == 0)
        o.output_size = 3;
    ns_model *m = NULL;
    ns_status st;
    if (spec->input_ndim > 0) {
        o.input_ndim = spec->input_ndim;
        memcpy(o.input_shape, spec->input_shape, sizeof o.input_shape);
        st = ns_model_build(ctx, spec, &o, &m);
    } else {
        st = ns_model_build(ctx, spec, &o, &m);
        if (st == NS_ERR_SHAPE) {
            o.input_ndim = 3;
            o.input_shape[0] = 3;
            o.input_shape[1] = 8;
            o.input_shape[2] = 8;
            st = ns_model_build(ctx, spec, &o, &m);
        }
    }
    if (st == NS_OK)
        ns_fuzz_model_step(m);
    else if (m != NULL)
        ns_fuzz_fail("a failed build left a model", NULL);
    ns_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_ctx *ctx = ns_fuzz_ctx();
    ns_spec *spec = NULL;
    ns_status st = ns_spec_parse(ctx, (const char *)data, size, "fuzz.json", &spec);
    if (st == NS_OK) {
        check_print(ctx, spec);
        ns_spec *copy = NULL;
        if (ns_spec_clone(spec, &copy) == NS_OK)
            ns_spec_free(copy);
        ns_layer_spec *layers = NULL;
        int n = 0;
        if (ns_spec_expand(spec, ns_spec_output_size(spec) ? 0 : 3, &layers, &n) == NS_OK) {
            for (int i = 0; i < n; i++)
                if (ns_layer_kind_name(layers[i].kind) == NULL)
                    ns_fuzz_fail("an expanded layer has no kind", NULL);
            ns_dealloc(ctx, layers);
        }
        build_and_step(ctx, spec);
    } else if (spec != NULL) {
        ns_fuzz_fail("a failed parse left a spec", NULL);
    }
    ns_spec_free(spec);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
