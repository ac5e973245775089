/* Optimizers, gradient clipping and learning-rate schedules: config validation and its
 * messages, the moment block, non-finite gradients, clipping math and order, resuming from
 * saved state, allocation failures, and the schedules' edge cases. The update rules
 * themselves are checked against PyTorch in tests/golden. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "train/optim_internal.h"

#define N 10

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

/* ---- configuration -------------------------------------------------------------- */

static void test_config_defaults_match_torch(void **state)
{
    (void)state;
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_SGD);
    assert_int_equal(c.kind, NS_OPTIM_SGD);
    assert_true(c.lr == 1e-2 && c.momentum == 0.0 && c.dampening == 0.0 && !c.nesterov);
    assert_true(c.weight_decay == 0.0);
    ns_optim_config_default(&c, NS_OPTIM_ADAM);
    assert_true(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8);
    assert_true(c.weight_decay == 0.0 && !c.amsgrad);
    ns_optim_config_default(&c, NS_OPTIM_ADAMW);
    assert_true(c.lr == 1e-3 && c.weight_decay == 1e-2);
    ns_optim_config_default(&c, NS_OPTIM_RMSPROP);
    assert_true(c.lr == 1e-2 && c.alpha == 0.99 && c.eps == 1e-8 && !c.centered);

    /* Every default is accepted. */
    ns_ctx *ctx = new_ctx();
    float p[N] = {0}, g[N] = {0};
    for (int k = 0; k < NS_OPTIM_KIND_COUNT; k++) {
        ns_optim_config_default(&c, (ns_optim_kind)k);
        ns_optim *opt = NULL;
        NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
        assert_int_equal(ns_optim_get_config(opt)->kind, k);
        ns_optim_free(opt);
    }
    ns_ctx_free(ctx);
}

/* One bad config: the kind, a change to its defaults, and what the message must say. */
typedef struct bad_case {
    ns_optim_kind kind;
    void (*change)(ns_optim_config *c);
    const char *needle;
} bad_case;

static void lr_negative(ns_optim_config *c)
{
    c->lr = -0.1;
}
static void lr_nan(ns_optim_config *c)
{
    c->lr = (double)NAN;
}
static void wd_negative(ns_optim_config *c)
{
    c->weight_decay = -1e-4;
}
static void wd_inf(ns_optim_config *c)
{
    c->weight_decay = HUGE_VAL;
}
static void momentum_one(ns_optim_config *c)
{
    c->momentum = 1.0;
}
static void momentum_negative(ns_optim_config *c)
{
    c->momentum = -0.5;
}
static void dampening_big(ns_optim_config *c)
{
    c->dampening = 1.5;
}
static void nesterov_alone(ns_optim_config *c)
{
    c->nesterov = true;
}
static void nesterov_dampened(ns_optim_config *c)
{
    c->nesterov = true;
    c->momentum = 0.9;
    c->dampening = 0.1;
}
static void beta1_one(ns_optim_config *c)
{
    c->beta1 = 1.0;
}
static void beta2_negative(ns_optim_config *c)
{
    c->beta2 = -0.1;
}
static void eps_zero(ns_optim_config *c)
{
    c->eps = 0.0;
}
static void eps_negative(ns_optim_config *c)
{
    c->eps = -1e-8;
}
static void alpha_one(ns_optim_config *c)
{
    c->alpha = 1.0;
}
static void amsgrad_on(ns_optim_config *c)
{
    c->amsgrad = true;
}
static void centered_on(ns_optim_config *c)
{
    c->centered = true;
}
static void momentum_on(ns_optim_config *c)
{
    c->momentum = 0.9;
}
static void dampening_on(ns_optim_config *c)
{
    c->dampening = 0.1;
}
static void kind_bogus(ns_optim_config *c)
{
    c->kind = (ns_optim_kind)99;
}

static void test_config_validation_messages(void **state)
{
    (void)state;
    static const bad_case bad[] = {
        {NS_OPTIM_SGD, lr_negative, "optimizer sgd: lr = -0.1: the learning rate must be"},
        {NS_OPTIM_ADAM, lr_nan, "optimizer adam: lr = nan"},
        {NS_OPTIM_ADAMW, wd_negative, "optimizer adamw: weight_decay = -0.0001: must be"},
        {NS_OPTIM_SGD, wd_inf, "weight_decay = inf"},
        {NS_OPTIM_SGD, momentum_one, "optimizer sgd: momentum = 1: must be in [0, 1)"},
        {NS_OPTIM_RMSPROP, momentum_negative, "optimizer rmsprop: momentum = -0.5"},
        {NS_OPTIM_SGD, dampening_big, "dampening = 1.5: must be in [0, 1]"},
        {NS_OPTIM_SGD, nesterov_alone, "nesterov needs momentum > 0"},
        {NS_OPTIM_SGD, nesterov_dampened, "nesterov needs dampening = 0"},
        {NS_OPTIM_ADAM, beta1_one, "optimizer adam: beta1 = 1: must be in [0, 1)"},
        {NS_OPTIM_ADAMW, beta2_negative, "optimizer adamw: beta2 = -0.1"},
        {NS_OPTIM_ADAM, eps_zero, "optimizer adam: eps = 0: must be finite and > 0"},
        {NS_OPTIM_RMSPROP, eps_negative, "optimizer rmsprop: eps = -1e-08"},
        {NS_OPTIM_RMSPROP, alpha_one, "optimizer rmsprop: alpha = 1"},
        {NS_OPTIM_SGD, amsgrad_on, "amsgrad applies only to adam and adamw"},
        {NS_OPTIM_ADAM, centered_on, "centered applies only to rmsprop"},
        {NS_OPTIM_ADAM, nesterov_alone, "nesterov applies only to sgd"},
        {NS_OPTIM_ADAMW, momentum_on, "take their momentum from beta1"},
        {NS_OPTIM_RMSPROP, dampening_on, "dampening applies only to sgd"},
        {NS_OPTIM_SGD, kind_bogus, "optimizer kind 99 is unknown; use sgd, adam, adamw or rmsprop"},
    };
    ns_ctx *ctx = new_ctx();
    float p[N] = {0}, g[N] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ns_optim_config c;
        ns_optim_config_default(&c, bad[i].kind);
        bad[i].change(&c);
        ns_optim *opt = (ns_optim *)&c; /* must be reset to NULL */
        ns_errclear(ctx);
        NS_ASSERT_STATUS(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt), NS_ERR_INVALID);
        assert_null(opt);
        NS_ASSERT_MSG_HAS(ctx, bad[i].needle);
    }
    ns_ctx_free(ctx);
}

/* ---- the moment block ----------------------------------------------------------------- */

static void test_moment_layout(void **state)
{
    (void)state;
    static const struct {
        ns_optim_kind kind;
        double momentum;
        bool amsgrad, centered;
        int count;
        const char *names[3];
    } layouts[] = {
        {NS_OPTIM_SGD, 0.0, false, false, 0, {NULL}},
        {NS_OPTIM_SGD, 0.9, false, false, 1, {"momentum_buffer"}},
        {NS_OPTIM_ADAM, 0.0, false, false, 2, {"exp_avg", "exp_avg_sq"}},
        {NS_OPTIM_ADAMW, 0.0, true, false, 3, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
        {NS_OPTIM_RMSPROP, 0.0, false, false, 1, {"square_avg"}},
        {NS_OPTIM_RMSPROP, 0.0, false, true, 2, {"square_avg", "grad_avg"}},
        {NS_OPTIM_RMSPROP, 0.5, false, true, 3, {"square_avg", "momentum_buffer", "grad_avg"}},
    };
    ns_ctx *ctx = new_ctx();
    float p[N] = {0}, g[N] = {0};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        ns_optim_config c;
        ns_optim_config_default(&c, layouts[i].kind);
        c.momentum = layouts[i].momentum;
        c.amsgrad = layouts[i].amsgrad;
        c.centered = layouts[i].centered;
        ns_optim *opt = NULL;
        NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
        int count = ns_optim_moment_count(opt);
        assert_int_equal(count, layouts[i].count);
        for (int k = 0; k < count; k++)
            assert_string_equal(ns_optim_moment_name(opt, k), layouts[i].names[k]);
        assert_null(ns_optim_moment_name(opt, count));
        assert_null(ns_optim_moment_name(opt, -1));
        float *m = ns_optim_moments(opt);
        if (count == 0) {
            assert_null(m);
        } else {
            /* One zeroed block of count x N floats (ASan checks the extent). */
            assert_non_null(m);
            for (int k = 0; k < count * N; k++)
                assert_true(m[k] == 0.0f);
        }
        ns_optim_free(opt);
    }
    ns_ctx_free(ctx);
}

static void test_zero_grad_and_accessors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float p[N], g[N];
    ns_test_fill_uniform(p, N, 1, -1.0f, 1.0f);
    ns_test_fill_uniform(g, N, 2, -1.0f, 1.0f);
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_ADAM);
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
    ns_optim_zero_grad(opt);
    for (int i = 0; i < N; i++)
        assert_true(g[i] == 0.0f);

    assert_true(ns_optim_lr(opt) == 1e-3);
    ns_optim_set_lr(opt, 0.25);
    assert_true(ns_optim_lr(opt) == 0.25);
    assert_true(ns_optim_get_config(opt)->lr == 0.25);
    assert_int_equal(ns_optim_step_count(opt), 0);
    NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
    assert_int_equal(ns_optim_step_count(opt), 1);
    ns_optim_set_step_count(opt, 41);
    assert_int_equal(ns_optim_step_count(opt), 41);
    ns_optim_free(opt);
    ns_optim_free(NULL);
    ns_ctx_free(ctx);
}

static void test_empty_parameter_block(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_ADAM);
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, NULL, NULL, 0, &c, &opt));
    assert_null(ns_optim_moments(opt));
    double norm = -1.0;
    NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, &norm));
    assert_true(norm == 0.0);
    assert_int_equal(ns_optim_step_count(opt), 1);
    ns_optim_zero_grad(opt);
    ns_optim_free(opt);
    ns_ctx_free(ctx);
}

/* ---- steps ------------------------------------------------------------------------------ */

/* SGD with lr 1 and no momentum makes p -= g, so the step shows the gradient it used. */
static void test_sgd_step_by_hand(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float p[3] = {1.0f, 2.0f, 3.0f}, g[3] = {0.5f, -1.0f, 0.25f};
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_SGD);
    c.lr = 1.0;
    c.momentum = 0.5;
    c.dampening = 0.5;
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, 3, &c, &opt));
    /* Step 1: the buffer is a copy of g (no dampening). */
    NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
    assert_true(p[0] == 0.5f && p[1] == 3.0f && p[2] == 2.75f);
    /* Step 2: buf = 0.5 * buf + (1 - 0.5) * g = g. */
    NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
    assert_true(p[0] == 0.0f && p[1] == 4.0f && p[2] == 2.5f);
    const float *buf = ns_optim_moments(opt);
    assert_true(buf[0] == 0.5f && buf[1] == -1.0f && buf[2] == 0.25f);
    ns_optim_free(opt);
    ns_ctx_free(ctx);
}

/* Adam's first step moves every weight by lr * g / (|g| + eps'): about lr against the sign. */
static void test_adam_first_step_is_lr_sized(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float p[N], g[N], p0[N];
    ns_test_fill_uniform(p, N, 3, -1.0f, 1.0f);
    ns_test_fill_uniform(g, N, 4, -5.0f, 5.0f);
    memcpy(p0, p, sizeof p);
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_ADAM);
    c.lr = 0.01;
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
    NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
    for (int i = 0; i < N; i++)
        NS_ASSERT_CLOSE(p0[i] - p[i], g[i] > 0.0f ? 0.01 : -0.01, 1e-4, 0.0);
    ns_optim_free(opt);
    ns_ctx_free(ctx);
}

/* A NaN or Inf gradient fails the step and leaves everything as it was. */
static void test_nonfinite_gradient_leaves_state_unchanged(void **state)
{
    (void)state;
    static const ns_optim_kind kinds[] = {NS_OPTIM_SGD, NS_OPTIM_ADAM, NS_OPTIM_RMSPROP};
    ns_ctx *ctx = new_ctx();
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        float p[N], g[N];
        ns_test_fill_uniform(p, N, 5, -1.0f, 1.0f);
        ns_optim_config c;
        ns_optim_config_default(&c, kinds[k]);
        c.momentum = kinds[k] == NS_OPTIM_ADAM ? 0.0 : 0.9;
        ns_optim *opt = NULL;
        NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
        for (int s = 0; s < 2; s++) {
            ns_test_fill_uniform(g, N, 6 + (uint64_t)s, -1.0f, 1.0f);
            NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
        }
        const size_t mbytes = (size_t)ns_optim_moment_count(opt) * N * sizeof(float);
        float p_before[N], g_before[N], m_before[3 * N];
        ns_test_fill_uniform(g, N, 9, -1.0f, 1.0f);

        const float bad[] = {NAN, INFINITY, -INFINITY};
        const char *names[] = {"is nan", "is inf", "is -inf"};
        for (int b = 0; b < 3; b++) {
            g[5] = bad[b];
            memcpy(p_before, p, sizeof p);
            memcpy(g_before, g, sizeof g);
            memcpy(m_before, ns_optim_moments(opt), mbytes);
            double norm = 0.0;
            const ns_clip clip = {1.0, 0.5}; /* clipping must not touch the gradients either */
            NS_ASSERT_STATUS(ctx, ns_optim_step(opt, &clip, &norm), NS_ERR_NONFINITE);
            assert_false(isfinite(norm));
            NS_ASSERT_MSG_HAS(ctx, "step 3: gradient[5] of 10");
            NS_ASSERT_MSG_HAS(ctx, names[b]);
            NS_ASSERT_MSG_HAS(ctx, "weights left unchanged");
            assert_memory_equal(p, p_before, sizeof p);
            assert_memory_equal(g, g_before, sizeof g);
            assert_memory_equal(ns_optim_moments(opt), m_before, mbytes);
            assert_int_equal(ns_optim_step_count(opt), 2);
        }
        /* A finite gradient steps again, numbered 3. */
        g[5] = 0.5f;
        NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
        assert_int_equal(ns_optim_step_count(opt), 3);
        ns_optim_free(opt);
    }
    ns_ctx_free(ctx);
}

static void test_invalid_clip_settings(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float p[N] = {0}, g[N] = {0};
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_SGD);
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
    ns_clip clip = {-1.0, 0.0};
    NS_ASSERT_STATUS(ctx, ns_optim_step(opt, &clip, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "clip max_norm = -1: must be finite and >= 0");
    clip = (ns_clip){0.0, (double)NAN};
    NS_ASSERT_STATUS(ctx, ns_optim_step(opt, &clip, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "clip max_value = nan");
    assert_int_equal(ns_optim_step_count(opt), 0);
    ns_optim_free(opt);
    ns_ctx_free(ctx);
}

/* ---- clipping ------------------------------------------------------------------------- */

static void test_grad_norm_accumulates_in_double(void **state)
{
    (void)state;
    float g[2] = {3.0f, 4.0f};
    assert_true(ns_grad_norm(g, 2) == 5.0);
    assert_true(ns_grad_norm(g, 0) == 0.0);
    /* Squares that overflow float are fine in double. */
    float big[2] = {3e30f, 4e30f};
    NS_ASSERT_CLOSE(ns_grad_norm(big, 2), 5e30, 1e-7, 0.0);
    /* A million equal values: a float sum would be off by about 5e-3, a double sum by 1e-11. */
    size_t n = 1000003;
    float *many = malloc(n * sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < n; i++)
        many[i] = 0.001f;
    NS_ASSERT_CLOSE(ns_grad_norm(many, n), sqrt((double)n) * (double)0.001f, 1e-10, 0.0);
    many[n - 1] = NAN;
    assert_true(isnan(ns_grad_norm(many, n)));
    free(many);
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    float g[2] = {3.0f, 4.0f};
    /* Above the bound: scaled by max_norm / (norm + 1e-6). */
    assert_true(ns_clip_grad_norm(g, 2, 1.0) == 5.0);
    NS_ASSERT_CLOSE(g[0], 3.0 / (5.0 + 1e-6), 3e-7, 0.0);
    NS_ASSERT_CLOSE(g[1], 4.0 / (5.0 + 1e-6), 3e-7, 0.0);
    NS_ASSERT_CLOSE(ns_grad_norm(g, 2), 1.0, 1e-6, 0.0);
    /* Within the bound: untouched, bit for bit. */
    float h[2] = {3.0f, 4.0f};
    assert_true(ns_clip_grad_norm(h, 2, 10.0) == 5.0);
    assert_true(h[0] == 3.0f && h[1] == 4.0f);
    /* Off, or a non-finite norm: untouched. */
    assert_true(ns_clip_grad_norm(h, 2, 0.0) == 5.0);
    assert_true(h[0] == 3.0f && h[1] == 4.0f);
    float bad[2] = {INFINITY, 1.0f};
    assert_true(isinf(ns_clip_grad_norm(bad, 2, 1.0)));
    assert_true(bad[1] == 1.0f);
}

static void test_clip_grad_value(void **state)
{
    (void)state;
    float g[5] = {-3.0f, -0.5f, 0.0f, 0.75f, 2.0f};
    ns_clip_grad_value(g, 5, 1.0);
    assert_true(g[0] == -1.0f && g[1] == -0.5f && g[2] == 0.0f && g[3] == 0.75f && g[4] == 1.0f);
    ns_clip_grad_value(g, 5, 0.0); /* off */
    assert_true(g[0] == -1.0f && g[4] == 1.0f);
    float n[1] = {NAN};
    ns_clip_grad_value(n, 1, 1.0);
    assert_true(isnan(n[0])); /* as torch.clamp */
}

/* Norm clipping first (from the unclipped norm), then value clipping; the clipped gradient is
 * written back and the reported norm is the one before clipping. */
static void test_step_clip_order(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    float p[3] = {0.0f, 0.0f, 0.0f}, g[3] = {3.0f, 4.0f, 0.0f};
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_SGD);
    c.lr = 1.0;
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, 3, &c, &opt));
    const ns_clip clip = {2.5, 1.8};
    double norm = 0.0;
    NS_ASSERT_OK(ctx, ns_optim_step(opt, &clip, &norm));
    assert_true(norm == 5.0);
    /* Scale 2.5 / 5: {1.5, 2.0}, then clamp at 1.8: {1.5, 1.8}. */
    NS_ASSERT_CLOSE(g[0], 1.5, 1e-6, 0.0);
    assert_true(g[1] == 1.8f);
    assert_true(g[2] == 0.0f);
    assert_true(p[0] == -g[0] && p[1] == -g[1] && p[2] == 0.0f);
    /* No clipping: gradients are read, never written. */
    g[0] = 30.0f;
    NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, &norm));
    assert_true(g[0] == 30.0f);
    ns_optim_free(opt);
    ns_ctx_free(ctx);
}

/* ---- resuming ---------------------------------------------------------------------------- */

/* Runs `steps` steps of L = sum((p - 1)^2) with a fresh optimizer over p. */
static void run_steps(ns_ctx *ctx, ns_optim *opt, float *p, float *g, int steps)
{
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < N; i++)
            g[i] = 2.0f * (p[i] - 1.0f);
        NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
    }
}

/* Moments + step count are the whole optimizer state: copying them into a new optimizer
 * continues bit for bit (what a checkpoint relies on). */
static void test_resume_from_moments_and_step_count(void **state)
{
    (void)state;
    static const ns_optim_kind kinds[] = {NS_OPTIM_SGD, NS_OPTIM_ADAM, NS_OPTIM_ADAMW,
                                          NS_OPTIM_RMSPROP};
    ns_ctx *ctx = new_ctx();
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        ns_optim_config c;
        ns_optim_config_default(&c, kinds[k]);
        if (kinds[k] == NS_OPTIM_SGD || kinds[k] == NS_OPTIM_RMSPROP)
            c.momentum = 0.9;
        c.amsgrad = kinds[k] == NS_OPTIM_ADAMW;
        c.centered = kinds[k] == NS_OPTIM_RMSPROP;
        float pa[N], ga[N], pb[N], gb[N];
        ns_test_fill_uniform(pa, N, 10, -2.0f, 2.0f);
        ns_optim *a = NULL, *b = NULL;
        NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, pa, ga, N, &c, &a));
        run_steps(ctx, a, pa, ga, 3);

        memcpy(pb, pa, sizeof pa);
        NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, pb, gb, N, &c, &b));
        memcpy(ns_optim_moments(b), ns_optim_moments(a),
               (size_t)ns_optim_moment_count(a) * N * sizeof(float));
        ns_optim_set_step_count(b, ns_optim_step_count(a));

        run_steps(ctx, a, pa, ga, 4);
        run_steps(ctx, b, pb, gb, 4);
        assert_memory_equal(pa, pb, sizeof pa);
        ns_optim_free(b);
        ns_optim_free(a);
    }
    ns_ctx_free(ctx);
}

/* ---- allocation failures -------------------------------------------------------------------- */

static void test_alloc_failures_leak_nothing(void **state)
{
    (void)state;
    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    const long live_ctx = ta.live;
    float p[N] = {0}, g[N] = {0};
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_ADAM);
    c.amsgrad = true;

    int failures = 0;
    for (size_t k = 1;; k++) {
        ta.fail_at = ta.calls + k;
        ns_optim *opt = (ns_optim *)&c;
        ns_status st = ns__optim_new_raw(ctx, p, g, N, &c, &opt);
        if (st == NS_OK) {
            assert_non_null(opt);
            ns_optim_free(opt);
            assert_int_equal(ta.live, live_ctx);
            break;
        }
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        NS_ASSERT_MSG_HAS(ctx, "out of memory");
        assert_null(opt);
        assert_int_equal(ta.live, live_ctx);
        failures++;
        assert_true(k < 100);
    }
    assert_int_equal(failures, 2); /* the handle and the moment block */
    ta.fail_at = 0;
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

/* A step never allocates: with every allocation failing, steps still succeed. */
static void test_step_does_not_allocate(void **state)
{
    (void)state;
    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    float p[N], g[N];
    ns_test_fill_uniform(p, N, 11, -1.0f, 1.0f);
    ns_optim_config c;
    ns_optim_config_default(&c, NS_OPTIM_RMSPROP);
    c.centered = true;
    c.momentum = 0.5;
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &c, &opt));
    size_t calls = ta.calls;
    const ns_clip clip = {0.5, 0.1};
    run_steps(ctx, opt, p, g, 3);
    NS_ASSERT_OK(ctx, ns_optim_step(opt, &clip, NULL));
    assert_int_equal(ta.calls, calls);
    ns_optim_free(opt);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

/* ---- schedules ---------------------------------------------------------------------------- */

static void test_sched_defaults(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_sched_config c;
    ns_sched s;
    /* Kinds with a default for everything start as is. */
    static const ns_sched_kind ready[] = {NS_SCHED_CONSTANT, NS_SCHED_STEP, NS_SCHED_EXPONENTIAL,
                                          NS_SCHED_WARMUP, NS_SCHED_PLATEAU};
    for (size_t i = 0; i < sizeof ready / sizeof ready[0]; i++) {
        ns_sched_config_default(&c, ready[i]);
        NS_ASSERT_OK(ctx, ns_sched_init(ctx, &s, &c, 0.1));
    }
    ns_sched_config_default(&c, NS_SCHED_WARMUP);
    NS_ASSERT_OK(ctx, ns_sched_init(ctx, &s, &c, 0.3));
    NS_ASSERT_CLOSE(s.lr, 0.1, 1e-15, 0.0); /* start_factor 1/3 */
    ns_sched_config_default(&c, NS_SCHED_PLATEAU);
    assert_true(c.factor == 0.1 && c.patience == 10 && c.threshold == 1e-4 && !c.mode_max);
    /* The others name the setting they need. */
    ns_sched_config_default(&c, NS_SCHED_COSINE);
    NS_ASSERT_STATUS(ctx, ns_sched_init(ctx, &s, &c, 0.1), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "schedule cosine: t_max = 0: must be >= 1");
    ns_sched_config_default(&c, NS_SCHED_ONECYCLE);
    NS_ASSERT_STATUS(ctx, ns_sched_init(ctx, &s, &c, 0.1), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "schedule onecycle: total_steps = 0");
    ns_sched_config_default(&c, NS_SCHED_MULTISTEP);
    NS_ASSERT_STATUS(ctx, ns_sched_init(ctx, &s, &c, 0.1), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "schedule multistep: n_milestones = 0");
    ns_ctx_free(ctx);
}

typedef struct bad_sched {
    ns_sched_kind kind;
    void (*change)(ns_sched_config *c);
    const char *needle;
} bad_sched;

static void step_size_zero(ns_sched_config *c)
{
    c->step_size = 0;
}
static void gamma_zero(ns_sched_config *c)
{
    c->gamma = 0.0;
}
static void gamma_nan(ns_sched_config *c)
{
    c->gamma = (double)NAN;
}
static void milestones_descending(ns_sched_config *c)
{
    c->n_milestones = 3;
    c->milestones[0] = 5;
    c->milestones[1] = 9;
    c->milestones[2] = 7;
}
static void milestone_zero(ns_sched_config *c)
{
    c->n_milestones = 1;
    c->milestones[0] = 0;
}
static void milestones_too_many(ns_sched_config *c)
{
    c->n_milestones = 17;
}
static void cosine_eta_negative(ns_sched_config *c)
{
    c->t_max = 10;
    c->eta_min = -1.0;
}
static void warmup_start_zero(ns_sched_config *c)
{
    c->start_factor = 0.0;
}
static void warmup_end_big(ns_sched_config *c)
{
    c->end_factor = 1.5;
}
static void warmup_iters_zero(ns_sched_config *c)
{
    c->total_iters = 0;
}
static void onecycle_short_warmup(ns_sched_config *c)
{
    c->total_steps = 25;
    c->pct_start = 0.02;
}
static void onecycle_pct_one(ns_sched_config *c)
{
    c->total_steps = 25;
    c->pct_start = 1.0;
}
static void onecycle_div_zero(ns_sched_config *c)
{
    c->total_steps = 25;
    c->div_factor = 0.0;
}
static void plateau_factor_one(ns_sched_config *c)
{
    c->factor = 1.0;
}
static void plateau_patience_negative(ns_sched_config *c)
{
    c->patience = -1;
}
static void plateau_rel_threshold_one(ns_sched_config *c)
{
    c->threshold = 1.0;
}
static void plateau_min_lr_negative(ns_sched_config *c)
{
    c->min_lr = -1e-3;
}
static void sched_kind_bogus(ns_sched_config *c)
{
    c->kind = (ns_sched_kind)42;
}

static void test_sched_validation_messages(void **state)
{
    (void)state;
    static const bad_sched bad[] = {
        {NS_SCHED_STEP, step_size_zero, "schedule step: step_size = 0: must be >= 1"},
        {NS_SCHED_STEP, gamma_zero, "schedule step: gamma = 0: must be finite and > 0"},
        {NS_SCHED_EXPONENTIAL, gamma_nan, "schedule exponential: gamma = nan"},
        {NS_SCHED_EXPONENTIAL, gamma_zero, "schedule exponential: gamma = 0"},
        {NS_SCHED_MULTISTEP, milestones_descending,
         "milestones[2] = 7 is below milestones[1] = 9: list the milestones in ascending order"},
        {NS_SCHED_MULTISTEP, milestone_zero, "milestones[0] = 0: milestones are step numbers"},
        {NS_SCHED_MULTISTEP, milestones_too_many, "n_milestones = 17: give between 1 and 16"},
        {NS_SCHED_COSINE, cosine_eta_negative, "schedule cosine: eta_min = -1"},
        {NS_SCHED_WARMUP, warmup_start_zero,
         "schedule warmup: start_factor = 0: must be in (0, 1]"},
        {NS_SCHED_WARMUP, warmup_end_big, "schedule warmup: end_factor = 1.5"},
        {NS_SCHED_WARMUP, warmup_iters_zero, "schedule warmup: total_iters = 0"},
        {NS_SCHED_ONECYCLE, onecycle_short_warmup,
         "pct_start = 0.02 with total_steps = 25 gives a warm-up of 0.5 steps"},
        {NS_SCHED_ONECYCLE, onecycle_pct_one, "schedule onecycle: pct_start = 1: "},
        {NS_SCHED_ONECYCLE, onecycle_div_zero, "schedule onecycle: div_factor = 0"},
        {NS_SCHED_PLATEAU, plateau_factor_one, "schedule plateau: factor = 1"},
        {NS_SCHED_PLATEAU, plateau_patience_negative, "schedule plateau: patience = -1"},
        {NS_SCHED_PLATEAU, plateau_rel_threshold_one, "a relative threshold must be in [0, 1)"},
        {NS_SCHED_PLATEAU, plateau_min_lr_negative, "schedule plateau: min_lr = -0.001"},
        {NS_SCHED_STEP, sched_kind_bogus, "schedule kind 42 is unknown"},
    };
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ns_sched_config c;
        ns_sched_config_default(&c, bad[i].kind);
        bad[i].change(&c);
        ns_sched s, before;
        memset(&s, 0x5a, sizeof s);
        memcpy(&before, &s, sizeof s);
        ns_errclear(ctx);
        NS_ASSERT_STATUS(ctx, ns_sched_init(ctx, &s, &c, 0.1), NS_ERR_INVALID);
        NS_ASSERT_MSG_HAS(ctx, bad[i].needle);
        assert_memory_equal(&s, &before, sizeof s); /* untouched on failure */
    }
    ns_sched_config c;
    ns_sched s;
    ns_sched_config_default(&c, NS_SCHED_CONSTANT);
    NS_ASSERT_STATUS(ctx, ns_sched_init(ctx, &s, &c, -0.1), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "schedule constant: base_lr = -0.1");
    ns_ctx_free(ctx);
}

static void test_sched_constant_and_onecycle_edges(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_sched_config c;
    ns_sched s;
    ns_sched_config_default(&c, NS_SCHED_CONSTANT);
    NS_ASSERT_OK(ctx, ns_sched_init(ctx, &s, &c, 0.05));
    for (int k = 0; k < 10; k++)
        assert_true(ns_sched_step(&s, 0.0) == 0.05);
    assert_int_equal(s.last_step, 10);

    /* onecycle: max_lr 0 takes the base rate; the rate is never negative; it holds past
     * total_steps. */
    ns_sched_config_default(&c, NS_SCHED_ONECYCLE);
    c.total_steps = 10;
    c.anneal_linear = true;
    NS_ASSERT_OK(ctx, ns_sched_init(ctx, &s, &c, 0.5));
    assert_true(s.cfg.max_lr == 0.5);
    NS_ASSERT_CLOSE(s.lr, 0.5 / 25.0, 1e-15, 0.0);
    double lr = s.lr;
    for (int k = 1; k <= 10; k++) {
        lr = ns_sched_step(&s, 0.0);
        assert_true(lr >= 0.0);
    }
    assert_true(lr == 0.0); /* PyTorch's linear overshoot at step total_steps is below 0 */
    assert_true(ns_sched_step(&s, 0.0) == lr);
    assert_true(ns_sched_step(&s, 0.0) == lr);
    ns_ctx_free(ctx);
}

static void test_sched_plateau_nan_counts_as_bad(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_sched_config c;
    ns_sched s;
    ns_sched_config_default(&c, NS_SCHED_PLATEAU);
    c.patience = 1;
    c.factor = 0.5;
    NS_ASSERT_OK(ctx, ns_sched_init(ctx, &s, &c, 1.0));
    assert_true(ns_sched_step(&s, 1.0) == 1.0); /* first metric: an improvement over +inf */
    assert_true(ns_sched_step(&s, (double)NAN) == 1.0); /* 1 bad step */
    assert_true(ns_sched_step(&s, (double)NAN) == 0.5); /* 2 > patience: halved */
    assert_true(s.best == 1.0);
    assert_int_equal(s.bad_steps, 0);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_match_torch),
        cmocka_unit_test(test_config_validation_messages),
        cmocka_unit_test(test_moment_layout),
        cmocka_unit_test(test_zero_grad_and_accessors),
        cmocka_unit_test(test_empty_parameter_block),
        cmocka_unit_test(test_sgd_step_by_hand),
        cmocka_unit_test(test_adam_first_step_is_lr_sized),
        cmocka_unit_test(test_nonfinite_gradient_leaves_state_unchanged),
        cmocka_unit_test(test_invalid_clip_settings),
        cmocka_unit_test(test_grad_norm_accumulates_in_double),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_clip_grad_value),
        cmocka_unit_test(test_step_clip_order),
        cmocka_unit_test(test_resume_from_moments_and_step_count),
        cmocka_unit_test(test_alloc_failures_leak_nothing),
        cmocka_unit_test(test_step_does_not_allocate),
        cmocka_unit_test(test_sched_defaults),
        cmocka_unit_test(test_sched_validation_messages),
        cmocka_unit_test(test_sched_constant_and_onecycle_edges),
        cmocka_unit_test(test_sched_plateau_nan_counts_as_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
