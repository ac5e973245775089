/* Golden: SGD, Adam, AdamW, RMSprop and gradient clipping replayed against PyTorch 1.13
 * (tests/fixtures/optim.json, made by tools/fixtures_optim.py). Each case runs 20 steps of
 * L(p) = sum(w * (p - t)^2) on 37 parameters and compares the parameters, the (clipped)
 * gradients and the reported gradient norm after every step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "train/optim_internal.h"

#define FIXTURE "optim.json"

/* Per element |got - want| <= atol + RTOL * |want|. The update rules match PyTorch's float ops
 * to the bit (every case without norm clipping replays exactly); norm clipping starts from
 * PyTorch's float32 norm, which is not correctly rounded and so may differ from ours in the
 * last bit, and that difference then travels through the steps. Gradients 2w(p - t) get a
 * larger atol: near p = t they cancel, turning a last-bit difference in p (~1e-7) into an
 * absolute one of 2w times that, however small g is. */
#define RTOL 1e-5
#define ATOL_PARAM 1e-7
#define ATOL_GRAD 1e-6

static const char *const cases[] = {
    "sgd_plain",
    "sgd_momentum_dampening",
    "sgd_nesterov_weight_decay",
    "adam",
    "adam_amsgrad_weight_decay",
    "adamw",
    "adamw_amsgrad",
    "rmsprop",
    "rmsprop_momentum",
    "rmsprop_centered",
    "rmsprop_centered_momentum",
    "sgd_clip_norm",
    "adam_clip_value",
    "adamw_clip_norm_and_value",
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* A number the case may leave out (settings of other kinds). */
static double number_or(json_t *c, const char *key, double dflt)
{
    json_t *v = json_object_get(c, key);
    return v != NULL ? json_number_value(v) : dflt;
}

static bool flag_or(json_t *c, const char *key, bool dflt)
{
    json_t *v = json_object_get(c, key);
    return v != NULL ? json_is_true(v) : dflt;
}

/* The case's settings, over ns_optim_config_default for its kind. */
static void read_config(json_t *c, ns_optim_config *cfg, ns_clip *clip)
{
    json_t *kind_name = json_object_get(c, "kind");
    assert_non_null(kind_name);
    ns_optim_kind kind;
    assert_int_equal(ns_optim_kind_parse(json_string_value(kind_name), &kind), NS_OK);
    ns_optim_config_default(cfg, kind);
    cfg->lr = ns_test_json_number(c, "lr");
    cfg->weight_decay = ns_test_json_number(c, "weight_decay");
    cfg->momentum = number_or(c, "momentum", cfg->momentum);
    cfg->dampening = number_or(c, "dampening", cfg->dampening);
    cfg->nesterov = flag_or(c, "nesterov", cfg->nesterov);
    cfg->beta1 = number_or(c, "beta1", cfg->beta1);
    cfg->beta2 = number_or(c, "beta2", cfg->beta2);
    cfg->eps = number_or(c, "eps", cfg->eps);
    cfg->amsgrad = flag_or(c, "amsgrad", cfg->amsgrad);
    cfg->alpha = number_or(c, "alpha", cfg->alpha);
    cfg->centered = flag_or(c, "centered", cfg->centered);
    clip->max_norm = ns_test_json_number(c, "max_norm");
    clip->max_value = ns_test_json_number(c, "max_value");
}

/* Compares one step's block, naming case, step and index on failure; returns the largest
 * relative error seen (for the summary line). */
static double check_block(const char *name, const char *what, int step, const float *got,
                          const float *want, size_t n, double atol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = (double)got[i], b = (double)want[i];
        double err = fabs(a - b);
        if (!(err <= atol + RTOL * fabs(b))) {
            fprintf(stderr, "%s: step %d: %s[%zu]: got %.9g, PyTorch %.9g (|diff| %.3g)\n", name,
                    step + 1, what, i, a, b, err);
            fail();
        }
        if (b != 0.0 && err / fabs(b) > worst)
            worst = err / fabs(b);
    }
    return worst;
}

static void replay_case(void **state)
{
    const char *name = *state;
    json_t *root = ns_test_json_load(FIXTURE);
    json_t *c = json_object_get(root, name);
    if (c == NULL) {
        fprintf(stderr, "%s has no case \"%s\"; rerun tools/fixtures_optim.py\n", FIXTURE, name);
        fail();
    }
    ns_optim_config cfg;
    ns_clip clip;
    read_config(c, &cfg, &clip);
    const int steps = (int)ns_test_json_number(c, "steps");

    size_t n, nw, nt, np, ng;
    float *p = ns_test_json_tensor(c, "p0", &n, NULL, NULL);
    float *w = ns_test_json_tensor(c, "w", &nw, NULL, NULL);
    float *t = ns_test_json_tensor(c, "t", &nt, NULL, NULL);
    float *want_p = ns_test_json_tensor(c, "params", &np, NULL, NULL);
    float *want_g = ns_test_json_tensor(c, "grads", &ng, NULL, NULL);
    json_t *norms = json_object_get(c, "grad_norms");
    assert_int_equal(nw, n);
    assert_int_equal(nt, n);
    assert_int_equal(np, (size_t)steps * n);
    assert_int_equal(ng, (size_t)steps * n);
    assert_int_equal(json_array_size(norms), (size_t)steps);

    float *g = calloc(n, sizeof *g);
    assert_non_null(g);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, n, &cfg, &opt));

    double worst_p = 0.0, worst_g = 0.0;
    for (int s = 0; s < steps; s++) {
        /* The same float32 expression the fixture script evaluates: 2 * w * (p - t). */
        for (size_t i = 0; i < n; i++)
            g[i] = 2.0f * w[i] * (p[i] - t[i]);
        double norm = -1.0;
        NS_ASSERT_OK(ctx, ns_optim_step(opt, &clip, &norm));
        /* Step 1 sees PyTorch's exact gradient, so its norm must agree to double rounding;
         * later gradients inherit the parameters' last-bit differences. */
        NS_ASSERT_CLOSE(norm, json_number_value(json_array_get(norms, (size_t)s)),
                        s == 0 ? 1e-12 : RTOL, 0.0);
        double ep = check_block(name, "param", s, p, want_p + (size_t)s * n, n, ATOL_PARAM);
        double eg = check_block(name, "grad", s, g, want_g + (size_t)s * n, n, ATOL_GRAD);
        worst_p = fmax(worst_p, ep);
        worst_g = fmax(worst_g, eg);
    }
    assert_int_equal(ns_optim_step_count(opt), steps);
    printf("%-28s %d steps, largest relative error: params %.2g, grads %.2g\n", name, steps,
           worst_p, worst_g);

    ns_optim_free(opt);
    ns_ctx_free(ctx);
    free(g);
    free(want_g);
    free(want_p);
    free(t);
    free(w);
    free(p);
    json_decref(root);
}

/* A case added to the fixture script must be added to the list above too. */
static void test_every_fixture_case_is_replayed(void **state)
{
    (void)state;
    json_t *root = ns_test_json_load(FIXTURE);
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        bool listed = false;
        for (size_t i = 0; i < N_CASES; i++)
            listed = listed || strcmp(cases[i], key) == 0;
        if (!listed) {
            fprintf(stderr, "%s case \"%s\" is not replayed; add it to cases[]\n", FIXTURE, key);
            fail();
        }
    }
    assert_int_equal(json_object_size(root), N_CASES);
    json_decref(root);
}

int main(void)
{
    struct CMUnitTest tests[N_CASES + 1];
    for (size_t i = 0; i < N_CASES; i++)
        tests[i] = (struct CMUnitTest){cases[i], replay_case, NULL, NULL, (void *)cases[i]};
    tests[N_CASES] = (struct CMUnitTest)cmocka_unit_test(test_every_fixture_case_is_replayed);
    return _cmocka_run_group_tests("optim_golden", tests, N_CASES + 1, NULL, NULL);
}
