/* Gradient checks for the activation, softmax, dropout and normalisation kernels: the
 * analytic backward against central differences of L = sum(y * r) for a fixed random r,
 * for the input and every parameter (gamma, beta); backward twice must give twice the
 * gradient; and the check itself must reject a negated gradient and an all-zero one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Perturbation and tolerance. y is float, so L(x + h) - L(x - h) carries a rounding error of
 * about sqrt(n) * 6e-8 * |y|, which divided by 2h = 2e-2 is ~1e-5 of the gradient; the
 * truncation error of central differences is h^2 f''' / 6 ~ 2e-5. A relative tolerance of
 * 1e-2 is far above both yet far below the O(1) error of a wrong formula (a missing term,
 * a sign, a factor of 2). */
#define H 1e-2f
#define TOL 1e-2
/* Entries whose gradient is much smaller than this are compared absolutely, so a gradient
 * of ~0 (a saturated unit) cannot blow the relative error up. */
#define FLOOR 1e-2

#define MAX_N 64

/* One kernel under test. forward: y[ny] from x[nx] and gamma/beta[np] (NULL when the op
 * has no parameters). backward: accumulates dx, dgamma, dbeta for upstream dy, running
 * whatever forward it needs itself (the saved mean/rstd or y). */
typedef struct op op;
struct op {
    const char *name;
    size_t nx, ny, np; /* np = 0: no gamma/beta */
    int rows, cols;    /* softmax, layernorm: [rows, cols]; batchnorm: batch, channels */
    int spatial;       /* batchnorm */
    float scalar;      /* slope, alpha, eps */
    int flag;          /* gelu: tanh approximation */
    float margin;      /* inputs are kept this far from 0 (kinks) */
    void (*forward)(const op *o, float *y, const float *x, const float *gamma, const float *beta);
    void (*backward)(const op *o, float *dx, float *dgamma, float *dbeta, const float *dy,
                     const float *x, const float *gamma, const float *beta);
};

/* ---- the ops ------------------------------------------------------------------------- */

static void relu_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_relu_forward(y, x, o->nx);
}
static void relu_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                   const float *g, const float *b)
{
    (void)dg, (void)db;
    float y[MAX_N];
    relu_f(o, y, x, g, b);
    ns_relu_backward(dx, dy, y, o->nx);
}

static void leaky_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_leaky_relu_forward(y, x, o->nx, o->scalar);
}
static void leaky_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                    const float *g, const float *b)
{
    (void)dg, (void)db, (void)g, (void)b;
    ns_leaky_relu_backward(dx, dy, x, o->nx, o->scalar);
}

static void elu_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_elu_forward(y, x, o->nx, o->scalar);
}
static void elu_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                  const float *g, const float *b)
{
    (void)dg, (void)db;
    float y[MAX_N];
    elu_f(o, y, x, g, b);
    ns_elu_backward(dx, dy, x, y, o->nx, o->scalar);
}

static void gelu_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_gelu_forward(y, x, o->nx, o->flag);
}
static void gelu_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                   const float *g, const float *b)
{
    (void)dg, (void)db, (void)g, (void)b;
    ns_gelu_backward(dx, dy, x, o->nx, o->flag);
}

static void silu_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_silu_forward(y, x, o->nx);
}
static void silu_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                   const float *g, const float *b)
{
    (void)dg, (void)db, (void)g, (void)b;
    ns_silu_backward(dx, dy, x, o->nx);
}

static void tanh_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_tanh_forward(y, x, o->nx);
}
static void tanh_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                   const float *g, const float *b)
{
    (void)dg, (void)db;
    float y[MAX_N];
    tanh_f(o, y, x, g, b);
    ns_tanh_backward(dx, dy, y, o->nx);
}

static void sigmoid_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_sigmoid_forward(y, x, o->nx);
}
static void sigmoid_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                      const float *g, const float *b)
{
    (void)dg, (void)db;
    float y[MAX_N];
    sigmoid_f(o, y, x, g, b);
    ns_sigmoid_backward(dx, dy, y, o->nx);
}

static void softmax_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    ns_softmax_forward(y, x, o->rows, o->cols);
}
static void softmax_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                      const float *g, const float *b)
{
    (void)dg, (void)db;
    float y[MAX_N];
    softmax_f(o, y, x, g, b);
    ns_softmax_backward(dx, dy, y, o->rows, o->cols);
}

/* A fixed mask: every third element dropped, the rest scaled by 1/(1-p) with p = 0.25. */
static void dropout_mask(float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mask[i] = i % 3 == 1 ? 0.0f : 1.0f / 0.75f;
}
static void dropout_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    (void)g, (void)b;
    float mask[MAX_N];
    dropout_mask(mask, o->nx);
    ns_dropout_apply(y, x, mask, o->nx);
}
static void dropout_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                      const float *g, const float *b)
{
    (void)dg, (void)db, (void)x, (void)g, (void)b;
    float mask[MAX_N];
    dropout_mask(mask, o->nx);
    ns_dropout_backward(dx, dy, mask, o->nx);
}

static void ln_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    float mean[MAX_N], rstd[MAX_N];
    ns_layernorm_forward(y, mean, rstd, x, g, b, o->rows, o->cols, o->scalar);
}
static void ln_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                 const float *g, const float *b)
{
    float y[MAX_N], mean[MAX_N], rstd[MAX_N];
    ns_layernorm_forward(y, mean, rstd, x, g, b, o->rows, o->cols, o->scalar);
    ns_layernorm_backward(dx, dg, db, dy, x, mean, rstd, g, o->rows, o->cols);
}

/* Training mode; the running statistics go to scratch so every forward sees the same. */
static void bn_f(const op *o, float *y, const float *x, const float *g, const float *b)
{
    float mean[MAX_N], rstd[MAX_N], rm[MAX_N] = {0}, rv[MAX_N] = {0};
    ns_batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, b, o->rows, o->cols, o->spatial,
                               o->scalar, 0.1f);
}
static void bn_b(const op *o, float *dx, float *dg, float *db, const float *dy, const float *x,
                 const float *g, const float *b)
{
    float y[MAX_N], mean[MAX_N], rstd[MAX_N], rm[MAX_N] = {0}, rv[MAX_N] = {0};
    ns_batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, b, o->rows, o->cols, o->spatial,
                               o->scalar, 0.1f);
    ns_batchnorm_backward(dx, dg, db, dy, x, mean, rstd, g, o->rows, o->cols, o->spatial);
}

/* ---- the check ----------------------------------------------------------------------- */

/* max_i |a_i - n_i| / max(|a_i|, |n_i|, FLOOR): the worst relative disagreement between an
 * analytic gradient a[n] and a numeric one num[n]. */
static double max_rel_err(const float *a, const double *num, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs((double)a[i]), fabs(num[i])), FLOOR);
        double e = fabs((double)a[i] - num[i]) / scale;
        if (e > worst)
            worst = e;
    }
    return worst;
}

/* L = sum(y * r), accumulated in double. */
static double objective(const op *o, const float *x, const float *g, const float *b, const float *r)
{
    float y[MAX_N];
    o->forward(o, y, x, g, b);
    double l = 0.0;
    for (size_t i = 0; i < o->ny; i++)
        l += (double)y[i] * (double)r[i];
    return l;
}

/* Central differences of L with respect to every element of v[n] (x, gamma or beta, which
 * the x/g/b pointers alias); the step is the float difference actually taken. */
static void numeric_grad(const op *o, float *v, size_t n, const float *x, const float *g,
                         const float *b, const float *r, double *out)
{
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        float hi = keep + H, lo = keep - H;
        v[i] = hi;
        double lp = objective(o, x, g, b, r);
        v[i] = lo;
        double lm = objective(o, x, g, b, r);
        v[i] = keep;
        out[i] = (lp - lm) / ((double)hi - (double)lo);
    }
}

/* Compares one analytic gradient a[n] with its numeric counterpart; also the guards: the
 * analytic gradient is not all zero and the comparison rejects its negation. */
static void compare(const op *o, const char *what, const float *a, const double *num, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++)
        nonzero |= a[i] != 0.0f;
    if (!nonzero) {
        fprintf(stderr, "%s: d%s is all zero\n", o->name, what);
        fail();
    }
    double err = max_rel_err(a, num, n);
    if (!(err < TOL)) {
        fprintf(stderr, "%s: d%s: max relative error %.3g >= %.3g\n", o->name, what, err, TOL);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  [%zu] analytic %.8g numeric %.8g\n", i, (double)a[i], num[i]);
        fail();
    }
    float neg[MAX_N];
    for (size_t i = 0; i < n; i++)
        neg[i] = -a[i];
    double bad = max_rel_err(neg, num, n);
    if (!(bad > 1.0)) {
        fprintf(stderr, "%s: d%s: a negated gradient passes (error %.3g)\n", o->name, what, bad);
        fail();
    }
}

/* Inputs uniform in [-2, 2] pushed margin away from 0; gamma in [0.5, 1.5] (either sign of
 * beta); r in [-1, 1]. */
static void check_op(const op *o, uint64_t seed)
{
    assert_true(o->nx <= MAX_N && o->ny <= MAX_N && o->np <= MAX_N);
    float x[MAX_N], g[MAX_N], b[MAX_N], r[MAX_N];
    ns_test_fill_uniform(x, o->nx, seed, -2.0f, 2.0f);
    for (size_t i = 0; i < o->nx; i++)
        x[i] += x[i] < 0.0f ? -o->margin : o->margin;
    ns_test_fill_uniform(g, o->np, seed + 1, 0.5f, 1.5f);
    ns_test_fill_uniform(b, o->np, seed + 2, -1.0f, 1.0f);
    ns_test_fill_uniform(r, o->ny, seed + 3, -1.0f, 1.0f);
    float *gp = o->np ? g : NULL, *bp = o->np ? b : NULL;

    float dx[MAX_N] = {0}, dg[MAX_N] = {0}, db[MAX_N] = {0};
    o->backward(o, dx, gp ? dg : NULL, bp ? db : NULL, r, x, gp, bp);

    double num[MAX_N];
    numeric_grad(o, x, o->nx, x, gp, bp, r, num);
    compare(o, "x", dx, num, o->nx);
    if (o->np) {
        numeric_grad(o, g, o->np, x, gp, bp, r, num);
        compare(o, "gamma", dg, num, o->np);
        numeric_grad(o, b, o->np, x, gp, bp, r, num);
        compare(o, "beta", db, num, o->np);
    }

    /* Backward accumulates: a second call doubles every gradient (v + v is exact). */
    float dx2[MAX_N], dg2[MAX_N], db2[MAX_N];
    memcpy(dx2, dx, sizeof dx);
    memcpy(dg2, dg, sizeof dg);
    memcpy(db2, db, sizeof db);
    o->backward(o, dx2, gp ? dg2 : NULL, bp ? db2 : NULL, r, x, gp, bp);
    for (size_t i = 0; i < o->nx; i++)
        NS_ASSERT_CLOSE(dx2[i], 2.0 * (double)dx[i], 0.0, 0.0);
    for (size_t i = 0; i < o->np; i++) {
        NS_ASSERT_CLOSE(dg2[i], 2.0 * (double)dg[i], 0.0, 0.0);
        NS_ASSERT_CLOSE(db2[i], 2.0 * (double)db[i], 0.0, 0.0);
    }
}

/* ---- the tests ----------------------------------------------------------------------- */

/* 12 elements; 0.1 from zero keeps every +-H step on one side of relu/leaky/elu's kink. */
#define ELEMWISE(nm, f, b, s, fl)                                                                  \
    {                                                                                              \
        .name = nm, .nx = 12, .ny = 12, .scalar = s, .flag = fl, .margin = 0.1f, .forward = f,     \
        .backward = b                                                                              \
    }

static void test_relu(void **st)
{
    (void)st;
    op o = ELEMWISE("relu", relu_f, relu_b, 0.0f, 0);
    check_op(&o, 1);
}
static void test_leaky_relu(void **st)
{
    (void)st;
    op o = ELEMWISE("leaky_relu", leaky_f, leaky_b, 0.1f, 0);
    check_op(&o, 2);
}
static void test_elu(void **st)
{
    (void)st;
    op o = ELEMWISE("elu", elu_f, elu_b, 0.7f, 0);
    check_op(&o, 3);
}
static void test_gelu(void **st)
{
    (void)st;
    op o = ELEMWISE("gelu", gelu_f, gelu_b, 0.0f, 0);
    check_op(&o, 4);
}
static void test_gelu_tanh(void **st)
{
    (void)st;
    op o = ELEMWISE("gelu_tanh", gelu_f, gelu_b, 0.0f, 1);
    check_op(&o, 5);
}
static void test_silu(void **st)
{
    (void)st;
    op o = ELEMWISE("silu", silu_f, silu_b, 0.0f, 0);
    check_op(&o, 6);
}
static void test_tanh(void **st)
{
    (void)st;
    op o = ELEMWISE("tanh", tanh_f, tanh_b, 0.0f, 0);
    check_op(&o, 7);
}
static void test_sigmoid(void **st)
{
    (void)st;
    op o = ELEMWISE("sigmoid", sigmoid_f, sigmoid_b, 0.0f, 0);
    check_op(&o, 8);
}
static void test_dropout(void **st)
{
    (void)st;
    op o = ELEMWISE("dropout", dropout_f, dropout_b, 0.0f, 0);
    check_op(&o, 9);
}

static void test_softmax(void **st)
{
    (void)st;
    op o = {.name = "softmax",
            .nx = 15,
            .ny = 15,
            .rows = 3,
            .cols = 5,
            .forward = softmax_f,
            .backward = softmax_b};
    check_op(&o, 10);
}

static void test_layernorm_affine(void **st)
{
    (void)st;
    op o = {.name = "layernorm_affine",
            .nx = 15,
            .ny = 15,
            .np = 5,
            .rows = 3,
            .cols = 5,
            .scalar = 1e-5f,
            .forward = ln_f,
            .backward = ln_b};
    check_op(&o, 11);
}
static void test_layernorm_plain(void **st)
{
    (void)st;
    op o = {.name = "layernorm",
            .nx = 15,
            .ny = 15,
            .rows = 3,
            .cols = 5,
            .scalar = 1e-5f,
            .forward = ln_f,
            .backward = ln_b};
    check_op(&o, 12);
}

static void test_batchnorm1d_affine(void **st)
{
    (void)st;
    op o = {.name = "batchnorm1d_affine",
            .nx = 12,
            .ny = 12,
            .np = 3,
            .rows = 4,
            .cols = 3,
            .spatial = 1,
            .scalar = 1e-5f,
            .forward = bn_f,
            .backward = bn_b};
    check_op(&o, 13);
}
static void test_batchnorm1d_plain(void **st)
{
    (void)st;
    op o = {.name = "batchnorm1d",
            .nx = 12,
            .ny = 12,
            .rows = 4,
            .cols = 3,
            .spatial = 1,
            .scalar = 1e-5f,
            .forward = bn_f,
            .backward = bn_b};
    check_op(&o, 14);
}
static void test_batchnorm_spatial(void **st)
{
    (void)st;
    op o = {.name = "batchnorm_spatial",
            .nx = 24,
            .ny = 24,
            .np = 2,
            .rows = 3,
            .cols = 2,
            .spatial = 4,
            .scalar = 1e-5f,
            .forward = bn_f,
            .backward = bn_b};
    check_op(&o, 15);
}

/* dgamma/dbeta may be NULL: dx is unchanged, nothing else is written. */
static void test_norm_null_param_grads(void **st)
{
    (void)st;
    float x[12], g[3], r[12], y[12], mean[4], rstd[4], rm[3] = {0}, rv[3] = {0};
    ns_test_fill_uniform(x, 12, 21, -2.0f, 2.0f);
    ns_test_fill_uniform(g, 3, 22, 0.5f, 1.5f);
    ns_test_fill_uniform(r, 12, 23, -1.0f, 1.0f);
    float dx_all[12] = {0}, dx_none[12] = {0}, dg[4] = {0}, db[4] = {0};
    ns_layernorm_forward(y, mean, rstd, x, g, NULL, 4, 3, 1e-5f);
    ns_layernorm_backward(dx_all, dg, db, r, x, mean, rstd, g, 4, 3);
    ns_layernorm_backward(dx_none, NULL, NULL, r, x, mean, rstd, g, 4, 3);
    NS_ASSERT_ALL_CLOSE(dx_none, dx_all, 12, 0.0, 0.0);
    ns_batchnorm_forward_train(y, mean, rstd, rm, rv, x, g, NULL, 4, 3, 1, 1e-5f, 0.1f);
    memset(dx_all, 0, sizeof dx_all);
    memset(dx_none, 0, sizeof dx_none);
    ns_batchnorm_backward(dx_all, dg, db, r, x, mean, rstd, g, 4, 3, 1);
    ns_batchnorm_backward(dx_none, NULL, NULL, r, x, mean, rstd, g, 4, 3, 1);
    NS_ASSERT_ALL_CLOSE(dx_none, dx_all, 12, 0.0, 0.0);
    /* Only the parameter gradients are wanted. */
    float dg2[4] = {0}, db2[4] = {0};
    ns_batchnorm_backward(NULL, dg2, db2, r, x, mean, rstd, g, 4, 3, 1);
    float dg1[4] = {0}, db1[4] = {0};
    ns_batchnorm_backward(dx_all, dg1, db1, r, x, mean, rstd, g, 4, 3, 1);
    NS_ASSERT_ALL_CLOSE(dg2, dg1, 3, 0.0, 0.0);
    NS_ASSERT_ALL_CLOSE(db2, db1, 3, 0.0, 0.0);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_leaky_relu),
        cmocka_unit_test(test_elu),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_gelu_tanh),
        cmocka_unit_test(test_silu),
        cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_sigmoid),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layernorm_affine),
        cmocka_unit_test(test_layernorm_plain),
        cmocka_unit_test(test_batchnorm1d_affine),
        cmocka_unit_test(test_batchnorm1d_plain),
        cmocka_unit_test(test_batchnorm_spatial),
        cmocka_unit_test(test_norm_null_param_grads),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
