/* One cheap training step over a model a fuzz target made (see fuzz_model.h). */
#include "fuzz_model.h"

#include <stdlib.h>

#include "fuzz_util.h"
#include "model/model_private.h"

#define BATCH 2
#define MAX_COST 2e7

double ns_fuzz_model_cost(const ns_model *m, int batch)
{
    double cost = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ns__layer *l = &m->layers[i];
        /* Multiply-adds an output needs: a weight row (linear, conv2d), a window (pools). */
        double per_out = 1;
        if (l->n_params > 0 && l->params[0].shape[0] > 0)
            per_out = (double)l->params[0].numel / (double)l->params[0].shape[0];
        else if (l->spec.kernel[0] > 0 && l->spec.kernel[1] > 0)
            per_out = (double)l->spec.kernel[0] * l->spec.kernel[1];
        cost += (double)l->out_size * per_out + (double)l->in_size;
    }
    return cost * batch;
}

static void must(ns_ctx *ctx, ns_status st, const char *what)
{
    if (st != NS_OK && !(st == NS_ERR_NOMEM && ns_fuzz_refused()))
        ns_fuzz_fail(what, ns_errmsg(ctx));
}

void ns_fuzz_model_step(ns_model *m)
{
    ns_ctx *ctx = ns_model_ctx(m);
    int in = ns_model_input_size(m), out = ns_model_output_size(m);
    if (in < 1 || out < 1)
        ns_fuzz_fail("a built model has no inputs or outputs", NULL);
    if (ns_model_max_batch(m) < BATCH || ns_fuzz_model_cost(m, BATCH) > MAX_COST)
        return;
    float *x = malloc((size_t)BATCH * (size_t)in * sizeof *x);
    float *dy = malloc((size_t)BATCH * (size_t)out * sizeof *dy);
    if (x == NULL || dy == NULL)
        ns_fuzz_fail("malloc", "out of memory");
    for (size_t i = 0; i < (size_t)BATCH * (size_t)in; i++)
        x[i] = (float)((int)(i % 7) - 3) * 0.25f;
    for (size_t i = 0; i < (size_t)BATCH * (size_t)out; i++)
        dy[i] = (float)((int)(i % 5) - 2) * 0.125f;

    const float *y = NULL;
    ns_model_zero_grad(m);
    must(ctx, ns_model_forward(m, x, BATCH, true, &y), "training forward");
    if (y == NULL)
        ns_fuzz_fail("forward gave no output", NULL);
    volatile float sink = y[0] + y[BATCH * out - 1];
    must(ctx, ns_model_backward(m, dy), "backward");
    const float *dx = ns_model_input_grad(m);
    if (dx != NULL)
        sink += dx[0] + dx[BATCH * in - 1];
    ns_optim_config cfg;
    ns_optim_config_default(&cfg, NS_OPTIM_ADAM);
    ns_optim *opt = NULL;
    if (ns_optim_new(m, &cfg, &opt) == NS_OK) {
        /* Non-finite gradients (from extreme weights in a loaded file) are refused, not bugs. */
        ns_status st = ns_optim_step(opt, NULL, NULL);
        if (st != NS_OK && st != NS_ERR_NONFINITE)
            ns_fuzz_fail("optimizer step", ns_errmsg(ctx));
        ns_optim_free(opt);
    }
    must(ctx, ns_model_forward(m, x, BATCH, false, &y), "evaluation forward");
    sink += y[0] + y[BATCH * out - 1];
    (void)sink;
    ns_model_forget_forward(m);
    free(x);
    free(dy);
}
