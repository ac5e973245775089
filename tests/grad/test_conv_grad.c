/* Gradient checks for the 2-D kernels and layers: conv2d (stride, padding, dilation, groups,
 * no bias, one sample or several per GEMM), max, average and adaptive average pooling, and,
 * through one-layer models, batchnorm2d and dropout2d; then a small CNN with every 2-D layer.
 * The analytic backward is compared with central differences of L = sum(y * r) for a fixed
 * random r, for the input and every parameter; backward twice must give twice the gradient;
 * and the check itself must reject a negated gradient and an all-zero one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Perturbation and tolerance, as in test_kernels_grad.c: conv and the average pools are
 * linear in each input, so central differences are exact but for float rounding (~1e-5 of
 * the gradient here); batchnorm's truncation error is ~h^2. 1e-2 relative is far above both
 * and far below the O(1) error of a wrong formula. */
#define H 1e-2f
#define TOL 1e-2
/* Gradients much smaller than this are compared absolutely. */
#define FLOOR 1e-2
/* The same for models, relative to the largest numeric gradient: through a few layers the
 * input gradients shrink to ~1e-3 while L's float rounding stays ~1e-7 * |L|, so the numeric
 * gradient carries an absolute noise of ~1e-6 that a fixed floor would not cover. */
#define MODEL_FLOOR 5e-2

/* Backward run twice accumulates: dw2 = dw + dw up to the rounding of summing in another
 * order (GEMMs with beta = 1, overlapping windows), hence not bit-exact. */
#define TWICE_RTOL 1e-5
#define TWICE_ATOL 1e-6

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* ---- the shared check -------------------------------------------------------------------- */

/* max_i |a_i - n_i| / max(|a_i|, |n_i|, floor). */
static double max_rel_err(const float *a, const double *num, size_t n, double sign, double floor)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double ai = sign * (double)a[i];
        double scale = fmax(fmax(fabs(ai), fabs(num[i])), floor);
        double e = fabs(ai - num[i]) / scale;
        if (e > worst)
            worst = e;
    }
    return worst;
}

/* The analytic gradient a[n] against the numeric num[n]: close, not all zero, and its
 * negation is rejected. */
static void compare(const char *name, const char *what, const float *a, const double *num, size_t n,
                    double floor)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++)
        nonzero |= a[i] != 0.0f;
    if (!nonzero) {
        fprintf(stderr, "%s: d%s is all zero\n", name, what);
        fail();
    }
    double err = max_rel_err(a, num, n, 1.0, floor);
    if (!(err < TOL)) {
        fprintf(stderr, "%s: d%s: max relative error %.3g >= %.3g\n", name, what, err, TOL);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  [%zu] analytic %.8g numeric %.8g\n", i, (double)a[i], num[i]);
        fail();
    }
    double bad = max_rel_err(a, num, n, -1.0, floor);
    if (!(bad > 1.0)) {
        fprintf(stderr, "%s: d%s: a negated gradient passes (error %.3g)\n", name, what, bad);
        fail();
    }
}

/* ---- kernels ------------------------------------------------------------------------------- */

typedef enum op_kind { CONV, MAXPOOL, AVGPOOL, ADAPTIVE } op_kind;

typedef struct op {
    const char *name;
    op_kind kind;
    ns_conv2d_geom g;
    int batch;
    int bias;              /* conv2d */
    int chunk;             /* conv2d: samples per GEMM */
    int count_include_pad; /* avgpool2d */
} op;

static size_t x_count(const op *o)
{
    return (size_t)o->batch * (size_t)o->g.in_c * (size_t)o->g.in_h * (size_t)o->g.in_w;
}
static size_t y_count(const op *o)
{
    return (size_t)o->batch * (size_t)o->g.out_c * (size_t)o->g.out_h * (size_t)o->g.out_w;
}
static size_t w_count(const op *o)
{
    if (o->kind != CONV)
        return 0;
    return (size_t)o->g.out_c * (size_t)(o->g.in_c / o->g.groups) * (size_t)o->g.kernel[0] *
           (size_t)o->g.kernel[1];
}
static size_t b_count(const op *o)
{
    return o->kind == CONV && o->bias ? (size_t)o->g.out_c : 0;
}

/* Fills out_h/out_w from the rest of the geometry. */
static void finish_geom(ns_conv2d_geom *g)
{
    g->out_h =
        ns_conv2d_out_len(g->in_h, g->kernel[0], g->stride[0], g->padding[0], g->dilation[0]);
    g->out_w =
        ns_conv2d_out_len(g->in_w, g->kernel[1], g->stride[1], g->padding[1], g->dilation[1]);
    assert_true(g->out_h > 0 && g->out_w > 0);
}

/* The conv work buffers for o->chunk samples. */
static ns_conv2d_work work_new(const op *o)
{
    size_t n = ns_conv2d_col_floats(&o->g, o->chunk);
    size_t t = ns_conv2d_tmp_floats(&o->g, o->chunk);
    return (ns_conv2d_work){o->chunk, alloc_floats(n), alloc_floats(n), t ? alloc_floats(t) : NULL};
}
static void work_free(ns_conv2d_work *w)
{
    free(w->col), free(w->dcol), free(w->tmp);
}

static void op_forward(const op *o, float *y, const float *x, const float *w, const float *b,
                       int32_t *argmax, ns_conv2d_work *work)
{
    switch (o->kind) {
    case CONV:
        ns_conv2d_forward(y, x, w, b, &o->g, o->batch, work);
        break;
    case MAXPOOL:
        ns_maxpool2d_forward(y, argmax, x, &o->g, o->batch);
        break;
    case AVGPOOL:
        ns_avgpool2d_forward(y, x, &o->g, o->batch, o->count_include_pad);
        break;
    case ADAPTIVE:
        ns_adaptive_avgpool2d_forward(y, x, &o->g, o->batch);
        break;
    }
}

/* A forward (for maxpool's argmax and conv's im2col), then the backward of upstream r. */
static void op_backward(const op *o, float *dx, float *dw, float *db, const float *r,
                        const float *x, const float *w, const float *b, int32_t *argmax,
                        ns_conv2d_work *work)
{
    float *y = alloc_floats(y_count(o));
    op_forward(o, y, x, w, b, argmax, work);
    switch (o->kind) {
    case CONV:
        ns_conv2d_backward(dx, dw, db, r, x, w, &o->g, o->batch, work, 1);
        break;
    case MAXPOOL:
        ns_maxpool2d_backward(dx, r, argmax, &o->g, o->batch);
        break;
    case AVGPOOL:
        ns_avgpool2d_backward(dx, r, &o->g, o->batch, o->count_include_pad);
        break;
    case ADAPTIVE:
        ns_adaptive_avgpool2d_backward(dx, r, &o->g, o->batch);
        break;
    }
    free(y);
}

static double op_objective(const op *o, const float *x, const float *w, const float *b,
                           const float *r, int32_t *argmax, ns_conv2d_work *work)
{
    size_t ny = y_count(o);
    float *y = alloc_floats(ny);
    op_forward(o, y, x, w, b, argmax, work);
    double l = 0.0;
    for (size_t i = 0; i < ny; i++)
        l += (double)y[i] * (double)r[i];
    free(y);
    return l;
}

/* Central differences of L with respect to every element of v[n] (aliased by x, w or b). */
static void op_numeric(const op *o, float *v, size_t n, const float *x, const float *w,
                       const float *b, const float *r, int32_t *argmax, ns_conv2d_work *work,
                       double *out)
{
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        float hi = keep + H, lo = keep - H;
        v[i] = hi;
        double lp = op_objective(o, x, w, b, r, argmax, work);
        v[i] = lo;
        double lm = op_objective(o, x, w, b, r, argmax, work);
        v[i] = keep;
        out[i] = (lp - lm) / ((double)hi - (double)lo);
    }
}

/* x in [-2, 2] (maxpool: distinct values 0.05 apart, so no +-H step reorders a window),
 * w and b in [-0.5, 0.5], r in [-1, 1]. */
static void check_op(const op *o, uint64_t seed)
{
    size_t nx = x_count(o), ny = y_count(o), nw = w_count(o), nb = b_count(o);
    float *x = alloc_floats(nx), *w = alloc_floats(nw), *b = alloc_floats(nb);
    float *r = alloc_floats(ny);
    ns_test_fill_uniform(x, nx, seed, -2.0f, 2.0f);
    if (o->kind == MAXPOOL) {
        /* Rank the random values: x[i] = 0.05 * rank, a permutation of distinct values. */
        float *v = alloc_floats(nx);
        for (size_t i = 0; i < nx; i++) {
            size_t rank = 0;
            for (size_t j = 0; j < nx; j++)
                rank += x[j] < x[i] || (x[j] == x[i] && j < i);
            v[i] = 0.05f * (float)rank - 0.025f * (float)nx;
        }
        memcpy(x, v, nx * sizeof *x);
        free(v);
    }
    ns_test_fill_uniform(w, nw, seed + 1, -0.5f, 0.5f);
    ns_test_fill_uniform(b, nb, seed + 2, -0.5f, 0.5f);
    ns_test_fill_uniform(r, ny, seed + 3, -1.0f, 1.0f);
    float *wp = nw ? w : NULL, *bp = nb ? b : NULL;
    int32_t *argmax = calloc(ny, sizeof *argmax);
    assert_non_null(argmax);
    ns_conv2d_work work = o->kind == CONV ? work_new(o) : (ns_conv2d_work){0};

    float *dx = alloc_floats(nx), *dw = alloc_floats(nw), *db = alloc_floats(nb);
    op_backward(o, dx, wp ? dw : NULL, bp ? db : NULL, r, x, wp, bp, argmax, &work);

    size_t most = nx > nw ? nx : nw;
    double *num = malloc((most ? most : 1) * sizeof *num);
    assert_non_null(num);
    op_numeric(o, x, nx, x, wp, bp, r, argmax, &work, num);
    compare(o->name, "x", dx, num, nx, FLOOR);
    if (nw) {
        op_numeric(o, w, nw, x, wp, bp, r, argmax, &work, num);
        compare(o->name, "w", dw, num, nw, FLOOR);
    }
    if (nb) {
        op_numeric(o, b, nb, x, wp, bp, r, argmax, &work, num);
        compare(o->name, "b", db, num, nb, FLOOR);
    }

    /* Backward accumulates: a second call doubles every gradient. */
    float *dx2 = alloc_floats(nx), *dw2 = alloc_floats(nw), *db2 = alloc_floats(nb);
    memcpy(dx2, dx, nx * sizeof *dx);
    memcpy(dw2, dw, nw * sizeof *dw);
    memcpy(db2, db, nb * sizeof *db);
    op_backward(o, dx2, wp ? dw2 : NULL, bp ? db2 : NULL, r, x, wp, bp, argmax, &work);
    for (size_t i = 0; i < nx; i++)
        NS_ASSERT_CLOSE(dx2[i], 2.0 * (double)dx[i], TWICE_RTOL, TWICE_ATOL);
    for (size_t i = 0; i < nw; i++)
        NS_ASSERT_CLOSE(dw2[i], 2.0 * (double)dw[i], TWICE_RTOL, TWICE_ATOL);
    for (size_t i = 0; i < nb; i++)
        NS_ASSERT_CLOSE(db2[i], 2.0 * (double)db[i], TWICE_RTOL, TWICE_ATOL);

    if (o->kind == CONV) {
        /* A third backward with no forward in between, as the model allows (its columns may
         * have been overwritten by the last backward's chunks): three times the gradient. */
        ns_conv2d_backward(dx2, dw2, bp ? db2 : NULL, r, x, wp, &o->g, o->batch, &work, 1);
        for (size_t i = 0; i < nx; i++)
            NS_ASSERT_CLOSE(dx2[i], 3.0 * (double)dx[i], TWICE_RTOL, TWICE_ATOL);
        for (size_t i = 0; i < nw; i++)
            NS_ASSERT_CLOSE(dw2[i], 3.0 * (double)dw[i], TWICE_RTOL, TWICE_ATOL);
        for (size_t i = 0; i < nb; i++)
            NS_ASSERT_CLOSE(db2[i], 3.0 * (double)db[i], TWICE_RTOL, TWICE_ATOL);
        /* Only some gradients: the others are untouched (NULL), the wanted ones the same. */
        float *dx3 = alloc_floats(nx), *dw3 = alloc_floats(nw);
        ns_conv2d_backward(dx3, NULL, NULL, r, x, wp, &o->g, o->batch, &work, 0);
        NS_ASSERT_ALL_CLOSE(dx3, dx, nx, 1e-6, 1e-7);
        ns_conv2d_backward(NULL, dw3, NULL, r, x, wp, &o->g, o->batch, &work, 0);
        NS_ASSERT_ALL_CLOSE(dw3, dw, nw, 1e-6, 1e-7);
        free(dx3), free(dw3);
        work_free(&work);
    }
    free(x), free(w), free(b), free(r), free(argmax), free(num);
    free(dx), free(dw), free(db), free(dx2), free(dw2), free(db2);
}

/* A conv op: batch, C, H, W, filters, kernel, stride, padding, dilation, groups (square
 * unless given per axis by the caller afterwards). */
static op conv_op(const char *name, int batch, int c, int h, int w, int filters, int k, int s,
                  int p, int d, int groups, int bias, int chunk)
{
    op o = {.name = name, .kind = CONV, .batch = batch, .bias = bias, .chunk = chunk};
    o.g = (ns_conv2d_geom){.in_c = c,
                           .in_h = h,
                           .in_w = w,
                           .out_c = filters,
                           .kernel = {k, k},
                           .stride = {s, s},
                           .padding = {p, p},
                           .dilation = {d, d},
                           .groups = groups};
    finish_geom(&o.g);
    return o;
}

static void test_conv2d_plain(void **st)
{
    (void)st;
    op o = conv_op("conv2d", 2, 3, 5, 5, 4, 3, 1, 0, 1, 1, 1, 2);
    check_op(&o, 1);
}
static void test_conv2d_stride2_pad1(void **st)
{
    (void)st;
    op o = conv_op("conv2d_stride2_pad1", 2, 2, 6, 5, 3, 3, 2, 1, 1, 1, 1, 2);
    check_op(&o, 2);
}
static void test_conv2d_dilation2(void **st)
{
    (void)st;
    op o = conv_op("conv2d_dilation2", 2, 2, 7, 6, 3, 3, 1, 1, 2, 1, 1, 2);
    check_op(&o, 3);
}
static void test_conv2d_groups2(void **st)
{
    (void)st;
    op o = conv_op("conv2d_groups2", 2, 4, 5, 5, 6, 3, 1, 1, 1, 2, 1, 2);
    check_op(&o, 4);
}
static void test_conv2d_no_bias(void **st)
{
    (void)st;
    op o = conv_op("conv2d_no_bias", 2, 2, 5, 4, 3, 2, 1, 0, 1, 1, 0, 2);
    check_op(&o, 5);
}
/* Every option at once, a non-square kernel, and 3 samples in chunks of 2 (2 + 1) and 1. */
static void test_conv2d_all_chunks(void **st)
{
    (void)st;
    for (int chunk = 1; chunk <= 3; chunk++) {
        op o = conv_op("conv2d_all", 3, 4, 7, 8, 4, 3, 2, 1, 2, 2, 1, chunk);
        o.g.kernel[1] = 2;
        o.g.stride[1] = 1;
        o.g.padding[1] = 0;
        finish_geom(&o.g);
        check_op(&o, 6);
    }
}

static op pool_op(const char *name, op_kind kind, int batch, int c, int h, int w, int k, int s,
                  int p)
{
    op o = {.name = name, .kind = kind, .batch = batch, .count_include_pad = 1};
    o.g = (ns_conv2d_geom){.in_c = c,
                           .in_h = h,
                           .in_w = w,
                           .out_c = c,
                           .kernel = {k, k},
                           .stride = {s, s},
                           .padding = {p, p},
                           .dilation = {1, 1},
                           .groups = 1};
    finish_geom(&o.g);
    return o;
}

static void test_maxpool2d(void **st)
{
    (void)st;
    op o = pool_op("maxpool2d", MAXPOOL, 2, 2, 6, 6, 2, 2, 0);
    check_op(&o, 7);
    /* Overlapping windows with padding: one input can feed several outputs. */
    op o2 = pool_op("maxpool2d_overlap", MAXPOOL, 2, 2, 7, 6, 3, 2, 1);
    check_op(&o2, 8);
}

static void test_avgpool2d(void **st)
{
    (void)st;
    op o = pool_op("avgpool2d", AVGPOOL, 2, 2, 6, 6, 2, 2, 0);
    check_op(&o, 9);
    op o2 = pool_op("avgpool2d_pad", AVGPOOL, 2, 2, 7, 5, 3, 2, 1);
    check_op(&o2, 10);
    o2.name = "avgpool2d_pad_exclude";
    o2.count_include_pad = 0;
    check_op(&o2, 11);
}

static void test_adaptive_avgpool2d(void **st)
{
    (void)st;
    op o = pool_op("adaptive_avgpool2d", ADAPTIVE, 2, 2, 7, 5, 1, 1, 0);
    o.g.out_h = 3; /* overlapping, uneven windows */
    o.g.out_w = 2;
    check_op(&o, 12);
    o.name = "global_avgpool2d";
    o.g.out_h = o.g.out_w = 1;
    check_op(&o, 13);
}

/* ---- layers through models ----------------------------------------------------------------- */

typedef struct model_case {
    const char *name;
    const char *layers; /* the JSON inside "layers": [...] */
    int batch, c, h, w;
} model_case;

static double max_abs(const double *v, size_t n)
{
    double m = 1e-30;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

static double model_objective(ns_model *m, const float *x, int batch, const float *r)
{
    const float *y = NULL;
    ns_model_set_forward_count(m, 0); /* the same dropout masks every time */
    assert_int_equal(ns_model_forward(m, x, batch, true, &y), NS_OK);
    double s = 0;
    size_t ny = (size_t)batch * (size_t)ns_model_output_size(m);
    for (size_t i = 0; i < ny; i++)
        s += (double)y[i] * (double)r[i];
    return s;
}

static void model_numeric(ns_model *m, float *v, size_t n, const float *x, int batch,
                          const float *r, double *out)
{
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        float hi = keep + H, lo = keep - H;
        v[i] = hi;
        double up = model_objective(m, x, batch, r);
        v[i] = lo;
        double down = model_objective(m, x, batch, r);
        v[i] = keep;
        out[i] = (up - down) / ((double)hi - (double)lo);
    }
}

/* Builds the model, checks d/dx and d/dparams (if any) against central differences, and that
 * a second backward doubles the parameter gradients and gives the same input gradient. The
 * input is distinct values 0.05 apart (maxpool first layers see no ties). */
static void check_model(const model_case *mc, uint64_t seed)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char json[2048];
    snprintf(json, sizeof json, "{\"layers\": [%s]}", mc->layers);
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), mc->name, &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 1);
    bo.input_ndim = 3;
    bo.input_shape[0] = mc->c;
    bo.input_shape[1] = mc->h;
    bo.input_shape[2] = mc->w;
    bo.max_batch = mc->batch;
    bo.seed = seed;
    bo.keep_input_grad = true;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));

    size_t nx = (size_t)mc->batch * (size_t)ns_model_input_size(m);
    size_t ny = (size_t)mc->batch * (size_t)ns_model_output_size(m);
    size_t np = ns_model_param_count(m);
    float *x = alloc_floats(nx), *r = alloc_floats(ny);
    /* A fixed permutation of distinct values 0.05 apart (37 is prime to every nx here). */
    assert_true(nx % 37 != 0);
    for (size_t i = 0; i < nx; i++)
        x[i] = 0.05f * (float)((i * 37 + 11) % nx) - 0.025f * (float)nx;
    ns_test_fill_uniform(r, ny, seed + 1, -1.0f, 1.0f);

    ns_model_zero_grad(m);
    (void)model_objective(m, x, mc->batch, r);
    NS_ASSERT_OK(ctx, ns_model_backward(m, r));
    float *g = alloc_floats(np), *dx = alloc_floats(nx);
    memcpy(g, ns_model_grads(m), np * sizeof *g);
    memcpy(dx, ns_model_input_grad(m), nx * sizeof *dx);

    double *num = malloc((nx > np ? nx : np) * sizeof *num);
    assert_non_null(num);
    model_numeric(m, x, nx, x, mc->batch, r, num);
    compare(mc->name, "x", dx, num, nx, MODEL_FLOOR * max_abs(num, nx));
    if (np > 0) {
        model_numeric(m, ns_model_params(m), np, x, mc->batch, r, num);
        compare(mc->name, "params", g, num, np, MODEL_FLOOR * max_abs(num, np));
    }

    /* A second backward after the same forward: parameter gradients double, dx is the same
     * (a layer's dx is overwritten, not accumulated). */
    ns_model_zero_grad(m);
    (void)model_objective(m, x, mc->batch, r);
    NS_ASSERT_OK(ctx, ns_model_backward(m, r));
    NS_ASSERT_OK(ctx, ns_model_backward(m, r));
    for (size_t i = 0; i < np; i++)
        NS_ASSERT_CLOSE(ns_model_grads(m)[i], 2.0 * (double)g[i], TWICE_RTOL, TWICE_ATOL);
    NS_ASSERT_ALL_CLOSE(ns_model_input_grad(m), dx, nx, 0.0, 0.0);

    free(x), free(r), free(g), free(dx), free(num);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_conv2d_layer(void **st)
{
    (void)st;
    model_case mc = {"conv2d layer",
                     "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": [3, 2], \"stride\": 2, "
                     "\"padding\": 1, \"dilation\": [1, 2], \"groups\": 2}",
                     3,
                     4,
                     6,
                     7};
    check_model(&mc, 21);
}

static void test_pool_layers(void **st)
{
    (void)st;
    model_case cases[] = {
        {"maxpool2d layer",
         "{\"type\": \"maxpool2d\", \"kernel\": 3, \"stride\": 2, \"padding\": 1}", 2, 2, 5, 6},
        {"avgpool2d layer",
         "{\"type\": \"avgpool2d\", \"kernel\": [2, 3], \"padding\": [1, 1], "
         "\"count_include_pad\": false}",
         2, 2, 5, 6},
        {"adaptive_avgpool2d layer", "{\"type\": \"adaptive_avgpool2d\", \"output_size\": [2, 4]}",
         2, 2, 5, 6},
        {"global_avgpool2d layer", "{\"type\": \"global_avgpool2d\"}", 2, 3, 4, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_model(&cases[i], 30 + i);
}

static void test_batchnorm2d_layer(void **st)
{
    (void)st;
    /* A conv before it gives non-trivial gamma/beta gradients and an input that is not
     * already normalised; the batchnorm's own weight and bias are in the parameters. */
    model_case affine = {"batchnorm2d layer",
                         "{\"type\": \"batchnorm2d\"}, {\"type\": \"conv2d\", \"filters\": 2, "
                         "\"kernel\": 2}",
                         3,
                         3,
                         4,
                         3};
    check_model(&affine, 40);
    model_case plain = {"batchnorm2d no affine",
                        "{\"type\": \"batchnorm2d\", \"affine\": false, \"eps\": 0.001}, "
                        "{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 2}",
                        2,
                        2,
                        3,
                        4};
    check_model(&plain, 41);
}

static void test_dropout2d_layer(void **st)
{
    (void)st;
    model_case mc = {
        "dropout2d layer",
        "{\"type\": \"dropout2d\", \"p\": 0.4}, {\"type\": \"conv2d\", \"filters\": 2, "
        "\"kernel\": 1}",
        4,
        3,
        3,
        2};
    check_model(&mc, 50);
}

/* Every 2-D layer in one network, ending in flatten and linear. maxpool comes first so its
 * windows hold the distinct test inputs (later, a +-H step could reorder near-equal values). */
static void test_small_cnn(void **st)
{
    (void)st;
    model_case mc = {
        "small cnn",
        "{\"type\": \"maxpool2d\", \"kernel\": 2, \"stride\": 1},"
        "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": \"same\"},"
        "{\"type\": \"batchnorm2d\"}, {\"type\": \"gelu\"},"
        "{\"type\": \"dropout2d\", \"p\": 0.3},"
        "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 2, \"stride\": 2, \"groups\": 2,"
        " \"bias\": false},"
        "{\"type\": \"avgpool2d\", \"kernel\": 3, \"stride\": 1, \"padding\": 1},"
        "{\"type\": \"adaptive_avgpool2d\", \"output_size\": [2, 1]},"
        "{\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 3}",
        3,
        2,
        7,
        7};
    check_model(&mc, 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_plain),       cmocka_unit_test(test_conv2d_stride2_pad1),
        cmocka_unit_test(test_conv2d_dilation2),   cmocka_unit_test(test_conv2d_groups2),
        cmocka_unit_test(test_conv2d_no_bias),     cmocka_unit_test(test_conv2d_all_chunks),
        cmocka_unit_test(test_maxpool2d),          cmocka_unit_test(test_avgpool2d),
        cmocka_unit_test(test_adaptive_avgpool2d), cmocka_unit_test(test_conv2d_layer),
        cmocka_unit_test(test_pool_layers),        cmocka_unit_test(test_batchnorm2d_layer),
        cmocka_unit_test(test_dropout2d_layer),    cmocka_unit_test(test_small_cnn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
