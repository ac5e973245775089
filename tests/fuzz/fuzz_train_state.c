/* Fuzz target: training-state files. The input is a whole file, written to the scratch
 * directory and read by both io loaders of training state:
 *   ns_model_load_state: a model in mid-training (a model file plus the gradient block, the
 *     last forward's input and activation arena); a state with a last training forward takes
 *     the backward of that forward, then the model takes one training step with batch 2;
 *   ns_optim_load_state: an optimizer's settings, step count and moments, bound to the model
 *     just loaded, or else to a fixed small model (linear 4 -> 3, relu, linear 2, the model
 *     the corpus's optimizer files were saved from); an optimizer that loads takes a step. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_model.h"
#include "fuzz_util.h"

static const char fixed_spec[] =
    "{\"input\": [4], \"layers\": [{\"type\": \"linear\", \"units\": 3}, "
    "{\"type\": \"relu\"}, {\"type\": \"linear\", \"units\": 2}]}";

static ns_model *fixed_model(ns_ctx *ctx)
{
    ns_spec *spec = NULL;
    ns_model *m = NULL;
    ns_build_opts o;
    ns_build_opts_default(&o, 4);
    o.max_batch = 2;
    if (ns_spec_parse(ctx, fixed_spec, strlen(fixed_spec), "fixed", &spec) != NS_OK ||
        ns_model_build(ctx, spec, &o, &m) != NS_OK)
        ns_fuzz_fail("cannot build the fixed model", ns_errmsg(ctx));
    ns_spec_free(spec);
    return m;
}

/* The backward of the forward the state file restored. */
static void restored_backward(ns_model *m)
{
    ns_ctx *ctx = ns_model_ctx(m);
    /* Only the state's own batch size is known inside; a dy of max_batch rows covers it. */
    size_t n = (size_t)ns_model_max_batch(m) * (size_t)ns_model_output_size(m);
    if (n > ((size_t)1 << 22))
        return;
    float *dy = malloc(n * sizeof *dy);
    if (dy == NULL)
        ns_fuzz_fail("malloc", "out of memory");
    for (size_t i = 0; i < n; i++)
        dy[i] = (float)((int)(i % 5) - 2) * 0.125f;
    ns_status st = ns_model_backward(m, dy);
    if (st != NS_OK && st != NS_ERR_STATE)
        ns_fuzz_fail("backward of a restored forward", ns_errmsg(ctx));
    free(dy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = ns_fuzz_write("fuzz.safetensors", data, size);
    ns_ctx *ctx = ns_fuzz_ctx();
    ns_model *m = NULL;
    ns_status st = ns_model_load_state(ctx, path, &m);
    if (st == NS_OK) {
        if (ns_fuzz_model_cost(m, ns_model_max_batch(m)) <= 2e7)
            restored_backward(m);
        ns_fuzz_model_step(m);
    } else if (m != NULL) {
        ns_fuzz_fail("a failed load left a model", NULL);
    }

    ns_model *bind = m != NULL ? m : fixed_model(ctx);
    ns_optim *opt = NULL;
    st = ns_optim_load_state(bind, path, &opt);
    if (st == NS_OK) {
        if (ns_optim_param_count(opt) != ns_model_param_count(bind))
            ns_fuzz_fail("a loaded optimizer has another parameter count than its model", NULL);
        ns_model_zero_grad(bind);
        st = ns_optim_step(opt, NULL, NULL);
        if (st != NS_OK && st != NS_ERR_NONFINITE)
            ns_fuzz_fail("a step of a loaded optimizer", ns_errmsg(ctx));
        ns_optim_free(opt);
    } else if (opt != NULL) {
        ns_fuzz_fail("a failed load left an optimizer", NULL);
    }
    ns_model_free(bind);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
