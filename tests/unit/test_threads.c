/* The context's threads (ns_ctx_set_threads): the split dense products, convolutions and
 * optimizer updates give the same bits at every thread count (kernels and whole trainings),
 * products split only while OpenBLAS runs on one thread, contexts training at once from
 * several threads share nothing, a context can be freed while its workers spin or sleep, a
 * pool that cannot be made falls back to the calling thread, and the setting is validated. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctx_private.h"
#include "kernels/kernels_internal.h"
#include "train/optim_internal.h"
#include "testutil.h"

static ns_ctx *new_ctx(int threads)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, threads));
    return ctx;
}

/* ---- kernels ------------------------------------------------------------------------------ */

/* ns__dense_forward_ctx / backward_ctx at 1 to 4 threads against the single-threaded public
 * kernels, bit for bit, on shapes that split (and some that do not, or split unevenly). */
static void test_dense_kernels_same_bits(void **state)
{
    (void)state;
    static const int shapes[][3] = {/* batch, in, out */
                                    {128, 784, 256}, {128, 256, 128}, {100, 300, 200},
                                    {256, 1024, 64}, {37, 513, 129},  {16, 64, 10},
                                    {200, 1000, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int B = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        size_t nx = (size_t)B * in, nw = (size_t)in * out, ny = (size_t)B * out;
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w),
              *b = malloc(out * sizeof *b);
        float *dy = malloc(ny * sizeof *dy);
        float *y0 = malloc(ny * sizeof *y0), *dx0 = malloc(nx * sizeof *dx0),
              *dw0 = malloc(nw * sizeof *dw0), *db0 = malloc(out * sizeof *db0);
        float *y1 = malloc(ny * sizeof *y1), *dx1 = malloc(nx * sizeof *dx1),
              *dw1 = malloc(nw * sizeof *dw1), *db1 = malloc(out * sizeof *db1);
        ns_test_fill_uniform(x, nx, 1 + s, -1, 1);
        ns_test_fill_uniform(w, nw, 2 + s, -0.1f, 0.1f);
        ns_test_fill_uniform(b, (size_t)out, 3 + s, -0.1f, 0.1f);
        ns_test_fill_uniform(dy, ny, 4 + s, -1, 1);
        /* The accumulators start from non-zero values (the kernels add). */
        ns_test_fill_uniform(dx0, nx, 5 + s, -1, 1);
        ns_test_fill_uniform(dw0, nw, 6 + s, -1, 1);
        ns_test_fill_uniform(db0, (size_t)out, 7 + s, -1, 1);
        memcpy(dx1, dx0, nx * sizeof *dx0);
        memcpy(dw1, dw0, nw * sizeof *dw0);
        memcpy(db1, db0, out * sizeof *db0);
        float *dx_ref = malloc(nx * sizeof *dx_ref), *dw_ref = malloc(nw * sizeof *dw_ref);
        memcpy(dx_ref, dx0, nx * sizeof *dx0);
        memcpy(dw_ref, dw0, nw * sizeof *dw0);
        ns_dense_forward(y0, x, w, b, B, in, out);
        ns_dense_backward(dx0, dw0, db0, dy, x, w, B, in, out);
        for (int t = 1; t <= 4; t++) {
            ns_ctx *ctx = new_ctx(t);
            memcpy(dx1, dx_ref, nx * sizeof *dx1);
            memcpy(dw1, dw_ref, nw * sizeof *dw1);
            ns_test_fill_uniform(db1, (size_t)out, 7 + s, -1, 1);
            memset(y1, 0xff, ny * sizeof *y1);
            ns__dense_forward_ctx(ctx, y1, x, w, b, B, in, out);
            ns__dense_backward_ctx(ctx, dx1, dw1, db1, dy, x, w, B, in, out);
            if (memcmp(y0, y1, ny * sizeof *y0) != 0 || memcmp(dx0, dx1, nx * sizeof *dx0) != 0 ||
                memcmp(dw0, dw1, nw * sizeof *dw0) != 0 || memcmp(db0, db1, out * sizeof *db0) != 0)
                fail_msg("dense %dx%dx%d: %d threads differ from 1 (y %d, dx %d, dw %d, db %d)", B,
                         in, out, t, memcmp(y0, y1, ny * sizeof *y0) != 0,
                         memcmp(dx0, dx1, nx * sizeof *dx0) != 0,
                         memcmp(dw0, dw1, nw * sizeof *dw0) != 0,
                         memcmp(db0, db1, out * sizeof *db0) != 0);
            /* No bias: the forward overwrites (beta 0). */
            ns_dense_forward(y0, x, w, NULL, B, in, out);
            ns__dense_forward_ctx(ctx, y1, x, w, NULL, B, in, out);
            assert_memory_equal(y0, y1, ny * sizeof *y0);
            ns_dense_forward(y0, x, w, b, B, in, out);
            ns_ctx_free(ctx);
        }
        free(x), free(w), free(b), free(dy), free(y0), free(dx0), free(dw0), free(db0);
        free(y1), free(dx1), free(dw1), free(db1), free(dx_ref), free(dw_ref);
    }
}

/* ns__conv2d_forward_ctx / backward_ctx at 1 to 4 threads against the public kernels (one
 * thread), bit for bit: batches of one gradient chunk, several (the last one short), and more
 * than one round of chunks; groups, stride, padding, no bias, no dx. */
static void test_conv_kernels_same_bits(void **state)
{
    (void)state;
    typedef struct conv_case {
        int c, h, w, oc, k, stride, pad, groups, batch;
        bool bias, dx;
    } conv_case;
    static const conv_case cases[] = {
        {1, 28, 28, 32, 3, 1, 0, 1, 64, true, false}, {32, 13, 13, 64, 3, 1, 0, 1, 64, true, true},
        {4, 9, 11, 6, 3, 2, 1, 2, 37, false, true},   {3, 6, 6, 5, 2, 1, 1, 1, 5, true, true},
        {2, 5, 5, 3, 3, 1, 1, 1, 200, true, true},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *cc = &cases[ci];
        ns_conv2d_geom g = {cc->c,
                            cc->h,
                            cc->w,
                            cc->oc,
                            0,
                            0,
                            {cc->k, cc->k},
                            {cc->stride, cc->stride},
                            {cc->pad, cc->pad},
                            {1, 1},
                            cc->groups};
        g.out_h = ns_conv2d_out_len(g.in_h, cc->k, cc->stride, cc->pad, 1);
        g.out_w = ns_conv2d_out_len(g.in_w, cc->k, cc->stride, cc->pad, 1);
        const int B = cc->batch, chunk = 3;
        size_t nx = (size_t)B * cc->c * cc->h * cc->w;
        size_t ny = (size_t)B * cc->oc * g.out_h * g.out_w;
        size_t nw = (size_t)cc->oc * (cc->c / cc->groups) * cc->k * cc->k;
        size_t ncol = ns_conv2d_col_floats(&g, chunk), ntmp = ns_conv2d_tmp_floats(&g, chunk);
        ns_conv2d_work work = {chunk, malloc(ncol * sizeof(float)), malloc(ncol * sizeof(float)),
                               malloc(ntmp * sizeof(float))};
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w),
              *b = malloc((size_t)cc->oc * sizeof *b), *dy = malloc(ny * sizeof *dy);
        float *y[2], *dx[2], *dw[2], *db[2];
        for (int r = 0; r < 2; r++) {
            y[r] = malloc(ny * sizeof(float));
            dx[r] = malloc(nx * sizeof(float));
            dw[r] = malloc(nw * sizeof(float));
            db[r] = malloc((size_t)cc->oc * sizeof(float));
        }
        ns_test_fill_uniform(x, nx, 11 + ci, -1, 1);
        ns_test_fill_uniform(w, nw, 12 + ci, -0.3f, 0.3f);
        ns_test_fill_uniform(b, (size_t)cc->oc, 13 + ci, -0.1f, 0.1f);
        ns_test_fill_uniform(dy, ny, 14 + ci, -1, 1);
        const float *bias = cc->bias ? b : NULL;
        for (int t = 0; t <= 4; t++) { /* t = 0: the public kernels, the reference */
            int r = t == 0 ? 0 : 1;
            ns_ctx *ctx = t == 0 ? NULL : new_ctx(t);
            /* The accumulators start from non-zero values (the kernels add). */
            ns_test_fill_uniform(dx[r], nx, 15 + ci, -1, 1);
            ns_test_fill_uniform(dw[r], nw, 16 + ci, -1, 1);
            ns_test_fill_uniform(db[r], (size_t)cc->oc, 17 + ci, -1, 1);
            memset(y[r], 0xff, ny * sizeof(float));
            for (int rep = 0; rep < 2; rep++) { /* the second call finds the pool's scratch */
                if (t == 0) {
                    ns_conv2d_forward(y[r], x, w, bias, &g, B, &work);
                    ns_conv2d_backward(cc->dx ? dx[r] : NULL, dw[r], bias ? db[r] : NULL, dy, x, w,
                                       &g, B, &work, 1);
                } else {
                    ns__conv2d_forward_ctx(ctx, y[r], x, w, bias, &g, B, &work);
                    ns__conv2d_backward_ctx(ctx, cc->dx ? dx[r] : NULL, dw[r], bias ? db[r] : NULL,
                                            dy, x, w, &g, B, &work, 1);
                }
            }
            if (t > 0) {
                if (memcmp(y[0], y[1], ny * sizeof(float)) != 0 ||
                    memcmp(dx[0], dx[1], nx * sizeof(float)) != 0 ||
                    memcmp(dw[0], dw[1], nw * sizeof(float)) != 0 ||
                    memcmp(db[0], db[1], (size_t)cc->oc * sizeof(float)) != 0)
                    fail_msg("conv case %zu: %d threads differ from the public kernels (y %d, dx "
                             "%d, dw %d, db %d)",
                             ci, t, memcmp(y[0], y[1], ny * sizeof(float)) != 0,
                             memcmp(dx[0], dx[1], nx * sizeof(float)) != 0,
                             memcmp(dw[0], dw[1], nw * sizeof(float)) != 0,
                             memcmp(db[0], db[1], (size_t)cc->oc * sizeof(float)) != 0);
                ns_ctx_free(ctx);
            }
        }
        for (int r = 0; r < 2; r++)
            free(y[r]), free(dx[r]), free(dw[r]), free(db[r]);
        free(x), free(w), free(b), free(dy), free(work.col), free(work.dcol), free(work.tmp);
    }
}

/* ---- training ----------------------------------------------------------------------------- */

/* The seed blueprint (13-128-64-32-1, dropout) and network c of the benchmark (784-256-128-10,
 * batch 128: its first layer's products split four ways at 2 threads, the second's two). */
typedef struct net {
    const char *spec;
    int in, out, batch;
    ns_loss_kind loss;
    int shape[3];         /* per-sample [C, H, W] of a 2-D input; zeros for a flat one */
    bool keep_input_grad; /* the first layer computes dx too */
} net;

static const net seed_mlp = {"{\"hidden_layers\": [128, 64, 32], \"dropout\": 0.2}",
                             13,
                             1,
                             32,
                             NS_LOSS_MSE,
                             {0, 0, 0},
                             false};
static const net net_c = {"{\"layers\": [{\"type\": \"linear\", \"units\": 256}, {\"type\": "
                          "\"relu\"}, {\"type\": \"linear\", \"units\": 128}, {\"type\": "
                          "\"relu\"}, {\"type\": \"linear\", \"units\": 10}]}",
                          784,
                          10,
                          128,
                          NS_LOSS_CROSS_ENTROPY,
                          {0, 0, 0},
                          false};

/* Small CNNs: one with padding, groups, a conv without bias, and a batch whose last gradient
 * chunk is short, keeping the input gradient (the first conv computes dx); one whose batch
 * takes two rounds of gradient chunks. */
static const net cnn_small = {
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"padding\": 1},"
    " {\"type\": \"relu\"}, {\"type\": \"maxpool2d\", \"kernel\": 2},"
    " {\"type\": \"conv2d\", \"filters\": 12, \"kernel\": 3, \"groups\": 2, \"bias\": false},"
    " {\"type\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 10}]}",
    2 * 12 * 12,
    10,
    37,
    NS_LOSS_CROSS_ENTROPY,
    {2, 12, 12},
    true};
static const net cnn_rounds = {
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3}, {\"type\": \"relu\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 3}]}",
    1 * 8 * 8,
    3,
    140,
    NS_LOSS_MSE,
    {1, 8, 8},
    false};

#define STEPS 4

/* Trains `n` for STEPS Adam steps on a context with `threads` threads (ctx NULL: a new one)
 * and returns a malloc'ed copy of the parameters (count in *count) and the losses. */
static float *train(const net *n, int threads, size_t *count, double losses[STEPS])
{
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK || ns_ctx_set_threads(ctx, threads) != NS_OK)
        return NULL;
    ns_spec *spec = NULL;
    if (ns_spec_parse(ctx, n->spec, strlen(n->spec), "t", &spec) != NS_OK)
        return NULL;
    ns_build_opts bo;
    ns_build_opts_default(&bo, n->in);
    bo.output_size = n->out;
    bo.max_batch = n->batch;
    if (n->shape[0] > 0) {
        bo.input_ndim = 3;
        memcpy(bo.input_shape, n->shape, sizeof n->shape);
    }
    bo.keep_input_grad = n->keep_input_grad;
    bo.seed = 7;
    ns_model *m = NULL;
    if (ns_model_build(ctx, spec, &bo, &m) != NS_OK)
        return NULL;
    ns_optim_config oc;
    ns_optim_config_default(&oc, NS_OPTIM_ADAM);
    oc.lr = 1e-3;
    ns_optim *opt = NULL;
    if (ns_optim_new(m, &oc, &opt) != NS_OK)
        return NULL;
    ns_loss_config lc;
    ns_loss_config_default(&lc, n->loss);
    size_t nx = (size_t)n->batch * (size_t)n->in;
    float *x = malloc(nx * sizeof *x), *yv = malloc((size_t)n->batch * n->out * sizeof *yv);
    float *dpred = malloc((size_t)n->batch * n->out * sizeof *dpred);
    int32_t *labels = malloc((size_t)n->batch * sizeof *labels);
    for (int s = 0; s < STEPS; s++) {
        ns_test_fill_uniform(x, nx, 100 + (uint64_t)s, -1, 1);
        ns_test_fill_uniform(yv, (size_t)n->batch * n->out, 200 + (uint64_t)s, -1, 1);
        for (int i = 0; i < n->batch; i++)
            labels[i] = (int32_t)((i * 7 + s) % n->out);
        ns_optim_zero_grad(opt);
        const float *pred = NULL;
        ns_targets tg = {.values = yv, .labels = labels};
        if (ns_model_forward(m, x, n->batch, true, &pred) != NS_OK ||
            ns_loss_compute(ctx, &lc, pred, &tg, n->batch, n->out, &losses[s], dpred) != NS_OK ||
            ns_model_backward(m, dpred) != NS_OK || ns_optim_step(opt, NULL, NULL) != NS_OK)
            return NULL;
    }
    *count = ns_model_param_count(m);
    float *params = malloc(*count * sizeof *params);
    memcpy(params, ns_model_params(m), *count * sizeof *params);
    free(x), free(yv), free(dpred), free(labels);
    ns_optim_free(opt);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
    return params;
}

static void assert_same_training(const net *n, int threads)
{
    size_t c1 = 0, c2 = 0;
    double l1[STEPS], l2[STEPS];
    float *p1 = train(n, 1, &c1, l1);
    float *p2 = train(n, threads, &c2, l2);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_int_equal(c1, c2);
    for (int s = 0; s < STEPS; s++)
        if (l1[s] != l2[s])
            fail_msg("step %d loss: %.17g at 1 thread, %.17g at %d", s, l1[s], l2[s], threads);
    for (size_t i = 0; i < c1; i++)
        if (memcmp(&p1[i], &p2[i], sizeof p1[i]) != 0)
            fail_msg("parameter %zu: %.9g at 1 thread, %.9g at %d", i, (double)p1[i], (double)p2[i],
                     threads);
    free(p1);
    free(p2);
}

static void test_training_same_bits_any_thread_count(void **state)
{
    (void)state;
    for (int t = 2; t <= 3; t++) {
        assert_same_training(&seed_mlp, t);
        assert_same_training(&net_c, t);
    }
}

/* The CNNs' trained weights at 1, 2 and 3 threads, bit for bit. */
static void test_cnn_training_same_bits_any_thread_count(void **state)
{
    (void)state;
    for (int t = 2; t <= 3; t++) {
        assert_same_training(&cnn_small, t);
        assert_same_training(&cnn_rounds, t);
    }
}

/* ---- contexts at once --------------------------------------------------------------------- */

#define JOBS 4

typedef struct job {
    int threads;
    float *params;
    size_t count;
    double losses[STEPS];
} job;

static void *job_main(void *arg)
{
    job *j = arg;
    j->params = train(&net_c, j->threads, &j->count, j->losses);
    return NULL;
}

/* Four threads, each training network c on its own context (with two threads of its own),
 * at the same time: every one gets the weights a lone training gets. */
static void test_contexts_train_concurrently(void **state)
{
    (void)state;
    size_t count = 0;
    double losses[STEPS];
    float *ref = train(&net_c, 1, &count, losses);
    assert_non_null(ref);
    job jobs[JOBS];
    pthread_t tid[JOBS];
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (job){.threads = 1 + i % 2};
        assert_int_equal(pthread_create(&tid[i], NULL, job_main, &jobs[i]), 0);
    }
    for (int i = 0; i < JOBS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    for (int i = 0; i < JOBS; i++) {
        assert_non_null(jobs[i].params);
        assert_int_equal(jobs[i].count, count);
        assert_memory_equal(jobs[i].params, ref, count * sizeof *ref);
        free(jobs[i].params);
    }
    free(ref);
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A context freed right after a parallel call (workers still spinning), after its workers
 * went to sleep, before it ever made them, and after the setting changed. */
static void test_ctx_free_while_idle(void **state)
{
    (void)state;
    enum { B = 128, IN = 784, OUT = 256 };
    float *x = calloc((size_t)B * IN, sizeof *x), *w = calloc((size_t)IN * OUT, sizeof *w);
    float *y = malloc((size_t)B * OUT * sizeof *y);
    for (int pause = 0; pause < 3; pause++) {
        ns_ctx *ctx = new_ctx(2);
        ns__dense_forward_ctx(ctx, y, x, w, NULL, B, IN, OUT);
        assert_non_null(ctx->pool);
        if (pause == 1)
            sleep_ms(1);
        if (pause == 2)
            sleep_ms(50); /* well past the spin: the workers sleep */
        ns_ctx_free(ctx);
    }
    ns_ctx *ctx = new_ctx(4); /* never used */
    ns_ctx_free(ctx);
    ctx = new_ctx(4);
    ns__dense_forward_ctx(ctx, y, x, w, NULL, B, IN, OUT);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 2)); /* the old pool goes */
    assert_null(ctx->pool);
    ns__dense_forward_ctx(ctx, y, x, w, NULL, B, IN, OUT);
    assert_non_null(ctx->pool);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 1));
    assert_null(ctx->pool);
    ns__dense_forward_ctx(ctx, y, x, w, NULL, B, IN, OUT);
    assert_null(ctx->pool); /* one thread never makes a pool */
    ns_ctx_free(ctx);
    free(x), free(w), free(y);
}

/* When the pool's memory cannot be had, the call runs on the caller with the same results
 * and leaves no message; everything is freed. */
static void test_pool_out_of_memory_falls_back(void **state)
{
    (void)state;
    enum { B = 128, IN = 784, OUT = 256 };
    float *x = malloc((size_t)B * IN * sizeof *x), *w = malloc((size_t)IN * OUT * sizeof *w);
    float *y0 = malloc((size_t)B * OUT * sizeof *y0), *y1 = malloc((size_t)B * OUT * sizeof *y1);
    ns_test_fill_uniform(x, (size_t)B * IN, 1, -1, 1);
    ns_test_fill_uniform(w, (size_t)IN * OUT, 2, -1, 1);
    ns_dense_forward(y0, x, w, NULL, B, IN, OUT);
    for (size_t k = 1; k <= 2; k++) { /* the pool, then its thread array */
        ns_test_alloc st = {0};
        ns_allocator a = ns_test_allocator(&st);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 2));
        st.fail_at = st.calls + k;
        ns__dense_forward_ctx(ctx, y1, x, w, NULL, B, IN, OUT);
        assert_null(ctx->pool);
        assert_string_equal(ns_errmsg(ctx), "");
        assert_memory_equal(y0, y1, (size_t)B * OUT * sizeof *y0);
        ns_ctx_free(ctx);
        assert_int_equal(st.live, 0);
    }
    free(x), free(w), free(y0), free(y1);
}

/* ---- the optimizers' update ---------------------------------------------------------------- */

/* Every optimizer kind and option that changes the update loop, with clipping, over a block
 * that splits into uneven pieces: the same bits at 1, 2 and 3 threads after several steps. */
static void test_optimizer_update_same_bits(void **state)
{
    (void)state;
    enum { N = 100003, OPT_STEPS = 3 };
    ns_optim_config cfgs[6];
    ns_optim_config_default(&cfgs[0], NS_OPTIM_SGD);
    cfgs[0].momentum = 0.9, cfgs[0].nesterov = true, cfgs[0].weight_decay = 1e-2;
    ns_optim_config_default(&cfgs[1], NS_OPTIM_ADAM);
    ns_optim_config_default(&cfgs[2], NS_OPTIM_ADAMW);
    cfgs[2].amsgrad = true, cfgs[2].weight_decay = 1e-2;
    ns_optim_config_default(&cfgs[3], NS_OPTIM_RMSPROP);
    cfgs[3].momentum = 0.9, cfgs[3].centered = true;
    ns_optim_config_default(&cfgs[4], NS_OPTIM_RMSPROP);
    ns_optim_config_default(&cfgs[5], NS_OPTIM_SGD);
    const ns_clip clip = {.max_norm = 1.0, .max_value = 0.01};
    float *ref = malloc(N * sizeof *ref), *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
    assert_true(ref && p && g);
    for (int c = 0; c < 6; c++) {
        for (int threads = 1; threads <= 3; threads++) {
            ns_ctx *ctx = new_ctx(threads);
            ns_optim *opt = NULL;
            ns_test_fill_uniform(p, N, 5, -1, 1);
            NS_ASSERT_OK(ctx, ns__optim_new_raw(ctx, p, g, N, &cfgs[c], &opt));
            for (int s = 0; s < OPT_STEPS; s++) {
                ns_test_fill_uniform(g, N, 10 + (uint64_t)s, -0.05, 0.05);
                NS_ASSERT_OK(ctx, ns_optim_step(opt, c % 2 ? &clip : NULL, NULL));
            }
            if (threads == 1)
                memcpy(ref, p, N * sizeof *p);
            else
                for (size_t i = 0; i < N; i++)
                    if (memcmp(&ref[i], &p[i], sizeof p[i]) != 0)
                        fail_msg("%s config %d, parameter %zu: %.9g at 1 thread, %.9g at %d",
                                 ns_optim_kind_name(cfgs[c].kind), c, i, (double)ref[i],
                                 (double)p[i], threads);
            ns_optim_free(opt);
            ns_ctx_free(ctx);
        }
    }
    free(ref), free(p), free(g);
}

/* Products split over the context's threads only while OpenBLAS runs on one thread (it splits
 * them itself otherwise); the context's own width stays for elementwise work. */
static void test_gemm_width_follows_openblas(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx(2);
    assert_int_equal(ns__gemm_width(ctx), 2);
    ns_blas_set_threads(2);
    assert_int_equal(ns__gemm_width(ctx), 1);
    assert_int_equal(ns__ctx_width(ctx), 2);
    ns_blas_set_threads(1);
    assert_int_equal(ns__gemm_width(ctx), 2);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 1));
    assert_int_equal(ns__gemm_width(ctx), 1);
    ns_ctx_free(ctx);
}

/* ---- the setting -------------------------------------------------------------------------- */

static void test_set_threads_validates(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    int def = ns_ctx_default_threads();
    assert_int_equal(def, 1);
    assert_int_equal(ns_ctx_threads(ctx), def);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 3));
    assert_int_equal(ns_ctx_threads(ctx), 3);
    NS_ASSERT_STATUS(ctx, ns_ctx_set_threads(ctx, -1), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "threads: -1 is out of range; use 1 to 64, or 0 for the default");
    NS_ASSERT_STATUS(ctx, ns_ctx_set_threads(ctx, NS_MAX_THREADS + 1), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "threads: 65 is out of range");
    assert_int_equal(ns_ctx_threads(ctx), 3); /* unchanged by a refused value */
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 0));
    assert_int_equal(ns_ctx_threads(ctx), def);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, NS_MAX_THREADS));
    assert_int_equal(ns_ctx_threads(ctx), NS_MAX_THREADS);
    NS_ASSERT_OK(ctx, ns_ctx_set_threads(ctx, 1));
    assert_int_equal(ns_ctx_threads(ctx), 1);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_kernels_same_bits),
        cmocka_unit_test(test_conv_kernels_same_bits),
        cmocka_unit_test(test_training_same_bits_any_thread_count),
        cmocka_unit_test(test_cnn_training_same_bits_any_thread_count),
        cmocka_unit_test(test_contexts_train_concurrently),
        cmocka_unit_test(test_ctx_free_while_idle),
        cmocka_unit_test(test_pool_out_of_memory_falls_back),
        cmocka_unit_test(test_optimizer_update_same_bits),
        cmocka_unit_test(test_gemm_width_follows_openblas),
        cmocka_unit_test(test_set_threads_validates),
    };
    /* The context splits products only while OpenBLAS runs on one thread (ns__gemm_width),
     * which is how the pool is meant to be used; hold it there whatever the machine's cores. */
    ns_blas_set_threads(1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
