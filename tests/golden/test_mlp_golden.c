/* Golden parity with PyTorch: the seed MLP (13 -> 128 -> 64 -> 32 -> 1, relu) trained 20 steps
 * with each optimizer and each loss from the same initial weights and batches must give the
 * same loss at every step and the same final weights (fixtures: tools/fixtures_mlp.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define STEPS 20
#define BATCH 32
#define IN 13

/* The tolerances come from measurement. tools/fixtures_mlp.py runs every case with each
 * OpenBLAS core the fixture machine can run (Prescott, Nehalem, Sandybridge, Haswell, Zen,
 * SkylakeX where there is AVX-512) and records in the fixture how far PyTorch itself moves
 * across them ("spread": the largest relative difference of a step's loss, and the largest
 * absolute difference of an element of each final tensor). netsmith's products are just
 * another summation order, so it must stay within MARGIN times that spread. A spread of zero
 * (every core agreed to the bit) is taken as SPREAD_FLOOR, about one rounding step of a
 * weight of size 1, so the bound never asks for more than the last bit.
 *
 * MARGIN: measured, netsmith's largest difference from the fixture is at most 1.8 times
 * PyTorch's own spread over every case and tensor, with OpenBLAS's Prescott, Nehalem,
 * Sandybridge, Haswell and Zen cores (NETSMITH_BLAS_CORE); 4 leaves room for kernels that
 * were not measured. The case where a kernel's order matters most is AdamW: PyTorch's final
 * weights move by 4.6e-6 between the Zen and the Prescott kernels, because Adam divides by
 * sqrt(v), which magnifies the relative error of the gradients that are close to zero. */
#define MARGIN 4.0
#define SPREAD_FLOOR 1.2e-7

static double jnum(json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return v ? json_number_value(v) : dflt;
}
static bool jbool(json_t *o, const char *k) { return json_is_true(json_object_get(o, k)); }

static void run_case(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "mlp_%s.safetensors", name);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, ns_test_fixture(path), &f));
    json_error_t jerr;
    json_t *c = json_loads(ns_st_meta_find(f, "case"), 0, &jerr);
    assert_non_null(c);
    json_t *spread = json_loads(ns_st_meta_find(f, "spread"), 0, &jerr);
    assert_non_null(spread);
    double loss_rtol = MARGIN * fmax(jnum(spread, "losses_rtol", -1), SPREAD_FLOOR);
    int outputs = (int)jnum(c, "outputs", 1);
    const char *loss_name = json_string_value(json_object_get(c, "loss"));
    const char *optim_name = json_string_value(json_object_get(c, "optim"));

    char spec_json[512];
    snprintf(spec_json, sizeof spec_json,
             "{\"layers\": [{\"type\": \"linear\", \"units\": 128}, {\"type\": \"relu\"},"
             "{\"type\": \"linear\", \"units\": 64}, {\"type\": \"relu\"},"
             "{\"type\": \"linear\", \"units\": 32}, {\"type\": \"relu\"},"
             "{\"type\": \"linear\", \"units\": %d}]}",
             outputs);
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, spec_json, strlen(spec_json), "golden", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, IN);
    bo.max_batch = BATCH;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));

    /* Initial weights from PyTorch. */
    int nt = ns_model_tensor_count(m);
    for (int i = 0; i < nt; i++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_tensor(m, i, &t));
        char key[64];
        snprintf(key, sizeof key, "init.%s", t.name);
        const ns_st_tensor *st = ns_st_find(f, key);
        assert_non_null(st);
        int64_t numel = 1;
        for (int d = 0; d < t.ndim; d++)
            numel *= t.shape[d];
        assert_int_equal(st->nbytes, (size_t)numel * sizeof(float));
        memcpy(t.data, st->data, st->nbytes);
    }

    ns_optim_kind ok;
    NS_ASSERT_OK(ctx, ns_optim_kind_parse(optim_name, &ok));
    ns_optim_config oc;
    ns_optim_config_default(&oc, ok);
    oc.lr = jnum(c, "lr", oc.lr);
    oc.weight_decay = jnum(c, "weight_decay", 0.0);
    oc.momentum = jnum(c, "momentum", 0.0);
    oc.dampening = jnum(c, "dampening", 0.0);
    oc.nesterov = jbool(c, "nesterov");
    oc.amsgrad = jbool(c, "amsgrad");
    oc.centered = jbool(c, "centered");
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns_optim_new(m, &oc, &opt));
    ns_clip clip = {.max_norm = jnum(c, "clip_norm", 0.0)};

    ns_loss_kind lk;
    NS_ASSERT_OK(ctx, ns_loss_kind_parse(loss_name, &lk));
    ns_loss_config lc;
    ns_loss_config_default(&lc, lk);
    const char *red = json_string_value(json_object_get(c, "reduction"));
    lc.reduction = (red && strcmp(red, "sum") == 0) ? NS_REDUCE_SUM : NS_REDUCE_MEAN;
    lc.huber_delta = jnum(c, "delta", 1.0);
    lc.label_smoothing = jnum(c, "label_smoothing", 0.0);

    const ns_st_tensor *xs = ns_st_find(f, "x"), *ys = ns_st_find(f, "y");
    const ns_st_tensor *ls = ns_st_find(f, "losses");
    assert_non_null(xs);
    assert_non_null(ys);
    assert_non_null(ls);
    assert_int_equal(ls->dtype, NS_DTYPE_F64);
    const float *x = xs->data;
    double want_loss[STEPS];
    memcpy(want_loss, ls->data, sizeof want_loss);
    int32_t labels[BATCH];
    float dpred[BATCH * 3];

    for (int s = 0; s < STEPS; s++) {
        ns_optim_zero_grad(opt);
        const float *pred = NULL;
        NS_ASSERT_OK(ctx, ns_model_forward(m, x + (size_t)s * BATCH * IN, BATCH, true, &pred));
        ns_targets tg = {0};
        if (lk == NS_LOSS_CROSS_ENTROPY) {
            const int64_t *y64 = (const int64_t *)ys->data + (size_t)s * BATCH;
            for (int i = 0; i < BATCH; i++)
                labels[i] = (int32_t)y64[i];
            tg.labels = labels;
        } else {
            tg.values = (const float *)ys->data + (size_t)s * BATCH * (size_t)outputs;
        }
        double loss = 0;
        NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &lc, pred, &tg, BATCH, outputs, &loss, dpred));
        NS_ASSERT_CLOSE(loss, want_loss[s], loss_rtol, 0);
        NS_ASSERT_OK(ctx, ns_model_backward(m, dpred));
        NS_ASSERT_OK(ctx, ns_optim_step(opt, clip.max_norm > 0 ? &clip : NULL, NULL));
    }

    for (int i = 0; i < nt; i++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_tensor(m, i, &t));
        char key[64];
        snprintf(key, sizeof key, "final.%s", t.name);
        const ns_st_tensor *st = ns_st_find(f, key);
        assert_non_null(st);
        size_t n = st->nbytes / sizeof(float);
        const float *want = (const float *)st->data;
        double worst = 0;
        for (size_t k = 0; k < n; k++)
            worst = fmax(worst, fabs((double)t.data[k] - (double)want[k]));
        json_t *js = json_object_get(json_object_get(spread, "final"), key);
        assert_non_null(js);
        double sp = fmax(json_number_value(js), SPREAD_FLOOR);
        fprintf(stderr, "  %-16s %-16s max |diff| %.2g, %.2f times PyTorch's spread %.2g\n", name,
                key, worst, worst / sp, sp);
        NS_ASSERT_ALL_CLOSE(t.data, want, n, 0, MARGIN * sp);
    }
    json_decref(spread);
    json_decref(c);
    ns_optim_free(opt);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_st_close(f);
    ns_ctx_free(ctx);
}

static void test_case(void **state) { run_case((const char *)*state); }

#define CASE(name)                                                                                 \
    {                                                                                              \
        "mlp_" name, test_case, NULL, NULL, (void *)name                                           \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE("sgd"),     CASE("sgd_momentum"), CASE("sgd_nesterov"), CASE("adam"),
        CASE("adam_amsgrad"), CASE("adamw"), CASE("rmsprop"),  CASE("rmsprop_centered"),
        CASE("mse_sum"), CASE("mae"),          CASE("huber"),        CASE("cross_entropy"),
        CASE("bce"),     CASE("adam_clip_norm"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
