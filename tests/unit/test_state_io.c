/* Training state files: a model saved between forward and backward (the seed MLP with dropout,
 * a CNN with conv2d, batchnorm2d, maxpool2d, dropout and dropout2d) and its optimizer load in
 * another context and continue bit for bit: the same gradients, the same step, the same dropout
 * draws. Every optimizer kind keeps its settings, step count and moments. Plain model files
 * load; damaged files get clear messages; allocation failures leak nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

/* examples/specs/seed.json */
static const char seed_spec[] =
    "{\"model_type\": \"deep_neural_network\", \"hidden_layers\": [128, 64, 32],"
    " \"activation\": \"relu\", \"dropout\": 0.2, \"learning_rate\": 0.001, \"epochs\": 50,"
    " \"batch_size\": 32}";

/* A small CNN in the form of examples/specs/fashion_cnn.json. */
static const char cnn_spec[] =
    "{\"input\": [1, 12, 12], \"layers\": ["
    " {\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3}, {\"type\": \"batchnorm2d\"},"
    " {\"type\": \"relu\"}, {\"type\": \"maxpool2d\", \"kernel\": 2},"
    " {\"type\": \"dropout\", \"p\": 0.3},"
    " {\"type\": \"conv2d\", \"filters\": 3, \"kernel\": 3, \"padding\": \"same\"},"
    " {\"type\": \"dropout2d\", \"p\": 0.25}, {\"type\": \"flatten\"},"
    " {\"type\": \"linear\", \"units\": 5}]}";

typedef struct net {
    const char *spec;
    int ndim;
    int shape[3];
    int output_size; /* 0: from the spec */
    bool keep_input_grad;
} net;

static const net seed_net = {seed_spec, 1, {13}, 1, false};
static const net cnn_net = {cnn_spec, 3, {1, 12, 12}, 0, true};

static ns_model *build(ns_ctx *ctx, const net *n, int max_batch)
{
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, n->spec, strlen(n->spec), "t", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 1);
    bo.input_ndim = n->ndim;
    memcpy(bo.input_shape, n->shape, sizeof n->shape);
    bo.output_size = n->output_size;
    bo.max_batch = max_batch;
    bo.seed = 21;
    bo.keep_input_grad = n->keep_input_grad;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    ns_spec_free(spec);
    return m;
}

static float *floats(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    ns_test_fill_uniform(x, n, seed, -1.5f, 1.5f);
    return x;
}

/* Parameters, gradients, buffers, counters and the forward count agree bit for bit. */
static void assert_same_model(ns_model *a, ns_model *b)
{
    assert_int_equal(ns_model_param_count(a), ns_model_param_count(b));
    size_t np = ns_model_param_count(a);
    assert_memory_equal(ns_model_params(a), ns_model_params(b), np * sizeof(float));
    assert_memory_equal(ns_model_grads(a), ns_model_grads(b), np * sizeof(float));
    assert_true(ns_model_forward_count(a) == ns_model_forward_count(b));
    assert_true(ns_model_seed(a) == ns_model_seed(b));
    assert_int_equal(ns_model_max_batch(a), ns_model_max_batch(b));
    assert_int_equal(ns_model_input_size(a), ns_model_input_size(b));
    assert_int_equal(ns_model_output_size(a), ns_model_output_size(b));
    const ns_build_opts *oa = ns_model_build_opts(a), *ob = ns_model_build_opts(b);
    assert_int_equal(oa->keep_input_grad, ob->keep_input_grad);
    assert_int_equal(oa->output_size, ob->output_size);
    assert_int_equal(ns_model_tensor_count(a), ns_model_tensor_count(b));
    for (int i = 0; i < ns_model_tensor_count(a); i++) {
        ns_named_tensor ta, tb;
        assert_int_equal(ns_model_tensor(a, i, &ta), NS_OK);
        assert_int_equal(ns_model_tensor(b, i, &tb), NS_OK);
        assert_string_equal(ta.name, tb.name);
        if (ta.count != NULL) {
            assert_true(*ta.count == *tb.count);
            continue;
        }
        size_t n = 1;
        for (int d = 0; d < ta.ndim; d++)
            n *= (size_t)ta.shape[d];
        assert_memory_equal(ta.data, tb.data, n * sizeof(float));
    }
}

static void assert_same_optim(ns_optim *a, ns_optim *b)
{
    const ns_optim_config *ca = ns_optim_get_config(a), *cb = ns_optim_get_config(b);
    assert_int_equal(ca->kind, cb->kind);
    double ra[8] = {ca->lr,    ca->weight_decay, ca->momentum, ca->dampening,
                    ca->beta1, ca->beta2,        ca->eps,      ca->alpha};
    double rb[8] = {cb->lr,    cb->weight_decay, cb->momentum, cb->dampening,
                    cb->beta1, cb->beta2,        cb->eps,      cb->alpha};
    assert_memory_equal(ra, rb, sizeof ra);
    assert_int_equal(ca->nesterov, cb->nesterov);
    assert_int_equal(ca->amsgrad, cb->amsgrad);
    assert_int_equal(ca->centered, cb->centered);
    assert_true(ns_optim_lr(a) == ns_optim_lr(b));
    assert_true(ns_optim_step_count(a) == ns_optim_step_count(b));
    assert_int_equal(ns_optim_moment_count(a), ns_optim_moment_count(b));
    assert_true(ns_optim_param_count(a) == ns_optim_param_count(b));
    for (int k = 0; k < ns_optim_moment_count(a); k++)
        assert_string_equal(ns_optim_moment_name(a, k), ns_optim_moment_name(b, k));
    size_t n = (size_t)ns_optim_moment_count(a) * ns_optim_param_count(a);
    if (n > 0)
        assert_memory_equal(ns_optim_moments(a), ns_optim_moments(b), n * sizeof(float));
}

static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void assert_same_file(const char *a, const char *b)
{
    size_t la, lb;
    void *fa = read_all(a, &la), *fb = read_all(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(fa, fb, la);
    free(fa);
    free(fb);
}

/* One training step: forward (training), backward with dy from seed, optimizer step. */
static void train_step(ns_ctx *ctx, ns_model *m, ns_optim *opt, const float *x, int batch,
                       uint64_t seed)
{
    const float *y;
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, batch, true, &y));
    float *dy = floats((size_t)batch * (size_t)ns_model_output_size(m), seed);
    ns_optim_zero_grad(opt);
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    ns_clip clip = {.max_norm = 5.0};
    NS_ASSERT_OK(ctx, ns_optim_step(opt, &clip, NULL));
    free(dy);
}

/* Model A trains `warm` steps, runs a training forward and is saved with its optimizer; B and
 * its optimizer are loaded in another context; then both run backward with the same dy, step,
 * forward again (same dropout draws) and step again, agreeing bit for bit throughout. */
static void continue_exactly(const net *n, const ns_optim_config *cfg, int warm, int batch)
{
    ns_ctx *ca = new_ctx(), *cb = new_ctx();
    ns_model *a = build(ca, n, batch + 3);
    ns_optim *oa = NULL;
    NS_ASSERT_OK(ca, ns_optim_new(a, cfg, &oa));
    size_t in = (size_t)ns_model_input_size(a), out = (size_t)ns_model_output_size(a);
    size_t xn = (size_t)batch * in;
    for (int s = 0; s < warm; s++) {
        float *x = floats(xn, 100 + (uint64_t)s);
        train_step(ca, a, oa, x, batch, 200 + (uint64_t)s);
        free(x);
    }
    /* Mid-step: gradients of the last step are still there (not zeroed), forward done. */
    float *xa = floats(xn, 7);
    const float *ya, *yb;
    NS_ASSERT_OK(ca, ns_model_forward(a, xa, batch, true, &ya));
    NS_ASSERT_OK(ca, ns_model_save_state(a, ns_test_tmp("a.state")));
    NS_ASSERT_OK(ca, ns_optim_save_state(oa, ns_test_tmp("a.optim")));

    ns_model *b = NULL;
    ns_optim *ob = NULL;
    NS_ASSERT_OK(cb, ns_model_load_state(cb, ns_test_tmp("a.state"), &b));
    NS_ASSERT_OK(cb, ns_optim_load_state(b, ns_test_tmp("a.optim"), &ob));
    assert_same_model(a, b);
    assert_same_optim(oa, ob);
    /* Saving the loaded pair again gives the same files. */
    NS_ASSERT_OK(cb, ns_model_save_state(b, ns_test_tmp("b.state")));
    NS_ASSERT_OK(cb, ns_optim_save_state(ob, ns_test_tmp("b.optim")));
    assert_same_file(ns_test_tmp("a.state"), ns_test_tmp("b.state"));
    assert_same_file(ns_test_tmp("a.optim"), ns_test_tmp("b.optim"));

    /* Backward: A reads its caller's x, B its own copy (so clobber A's afterwards). */
    float *dy = floats((size_t)batch * out, 8);
    NS_ASSERT_OK(ca, ns_model_backward(a, dy));
    ns_test_fill_uniform(xa, xn, 999, -9.0f, 9.0f);
    NS_ASSERT_OK(cb, ns_model_backward(b, dy));
    assert_same_model(a, b);
    size_t np = ns_model_param_count(a);
    bool nonzero = false;
    for (size_t i = 0; i < np && !nonzero; i++)
        nonzero = ns_model_grads(a)[i] != 0.0f;
    assert_true(nonzero);
    if (n->keep_input_grad) {
        assert_non_null(ns_model_input_grad(b));
        assert_memory_equal(ns_model_input_grad(a), ns_model_input_grad(b), xn * sizeof(float));
    }
    ns_clip clip = {.max_norm = 5.0, .max_value = 0.5};
    double na, nb;
    NS_ASSERT_OK(ca, ns_optim_step(oa, &clip, &na));
    NS_ASSERT_OK(cb, ns_optim_step(ob, &clip, &nb));
    assert_memory_equal(&na, &nb, sizeof na);
    assert_same_model(a, b);
    assert_same_optim(oa, ob);

    /* The next forward draws the same dropout masks; one more step stays in step. */
    float *x2 = floats(xn, 9);
    NS_ASSERT_OK(ca, ns_model_forward(a, x2, batch, true, &ya));
    NS_ASSERT_OK(cb, ns_model_forward(b, x2, batch, true, &yb));
    assert_memory_equal(ya, yb, (size_t)batch * out * sizeof(float));
    ns_optim_zero_grad(oa);
    ns_optim_zero_grad(ob);
    NS_ASSERT_OK(ca, ns_model_backward(a, dy));
    NS_ASSERT_OK(cb, ns_model_backward(b, dy));
    NS_ASSERT_OK(ca, ns_optim_step(oa, NULL, NULL));
    NS_ASSERT_OK(cb, ns_optim_step(ob, NULL, NULL));
    assert_same_model(a, b);
    assert_same_optim(oa, ob);
    NS_ASSERT_OK(ca, ns_model_forward(a, x2, batch, false, &ya));
    NS_ASSERT_OK(cb, ns_model_forward(b, x2, batch, false, &yb));
    assert_memory_equal(ya, yb, (size_t)batch * out * sizeof(float));

    free(x2);
    free(dy);
    free(xa);
    ns_optim_free(oa);
    ns_optim_free(ob);
    ns_model_free(a);
    ns_model_free(b);
    ns_ctx_free(ca);
    ns_ctx_free(cb);
}

static void test_seed_mlp_adam(void **state)
{
    (void)state;
    ns_optim_config cfg;
    ns_optim_config_default(&cfg, NS_OPTIM_ADAM);
    continue_exactly(&seed_net, &cfg, 0, 8); /* fresh: zero moments, step 0 */
    continue_exactly(&seed_net, &cfg, 3, 8); /* mid-training */
    continue_exactly(&seed_net, &cfg, 2, 1); /* a batch of one */
}

static void test_cnn_adam(void **state)
{
    (void)state;
    ns_optim_config cfg;
    ns_optim_config_default(&cfg, NS_OPTIM_ADAM);
    continue_exactly(&cnn_net, &cfg, 0, 6);
    continue_exactly(&cnn_net, &cfg, 3, 6);
    net plain = cnn_net;
    plain.keep_input_grad = false;
    continue_exactly(&plain, &cfg, 2, 5);
}

/* Every optimizer kind with settings off their defaults (and doubles with no short decimal). */
static void test_every_optimizer(void **state)
{
    (void)state;
    ns_optim_config cfgs[6];
    ns_optim_config_default(&cfgs[0], NS_OPTIM_SGD);
    cfgs[0].lr = 0.1 / 3.0;
    cfgs[0].momentum = 0.9;
    cfgs[0].nesterov = true;
    cfgs[0].weight_decay = 1e-4;
    ns_optim_config_default(&cfgs[1], NS_OPTIM_SGD);
    cfgs[1].momentum = 0.8;
    cfgs[1].dampening = 0.1;
    ns_optim_config_default(&cfgs[2], NS_OPTIM_ADAM);
    cfgs[2].amsgrad = true;
    cfgs[2].lr = 1e-3 / 7.0;
    cfgs[2].eps = 1e-7 / 3.0;
    ns_optim_config_default(&cfgs[3], NS_OPTIM_ADAMW);
    cfgs[3].weight_decay = 0.03;
    cfgs[3].beta1 = 0.85;
    cfgs[3].beta2 = 0.995;
    ns_optim_config_default(&cfgs[4], NS_OPTIM_RMSPROP);
    cfgs[4].centered = true;
    cfgs[4].momentum = 0.5;
    cfgs[4].alpha = 0.95;
    ns_optim_config_default(&cfgs[5], NS_OPTIM_SGD); /* no moments at all */
    for (int i = 0; i < 6; i++)
        continue_exactly(&seed_net, &cfgs[i], 2, 4);
}

/* A schedule's learning rate (set_lr) is the one saved. */
static void test_lr_as_set(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *m = build(ctx, &seed_net, 4);
    ns_optim_config cfg;
    ns_optim_config_default(&cfg, NS_OPTIM_ADAM);
    ns_optim *o = NULL, *l = NULL;
    NS_ASSERT_OK(ctx, ns_optim_new(m, &cfg, &o));
    ns_optim_set_lr(o, 0.0123456789);
    ns_optim_set_step_count(o, 41);
    NS_ASSERT_OK(ctx, ns_optim_save_state(o, ns_test_tmp("lr.optim")));
    NS_ASSERT_OK(ctx, ns_optim_load_state(m, ns_test_tmp("lr.optim"), &l));
    assert_true(ns_optim_lr(l) == 0.0123456789);
    assert_true(ns_optim_step_count(l) == 41);
    ns_optim_free(o);
    ns_optim_free(l);
    ns_model_free(m);
    ns_ctx_free(ctx);
}

/* ---- other starting points ------------------------------------------------------------------- */

/* A plain model file loads: zero gradients, no last forward, default max_batch. */
static void test_plain_model_file(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *a = build(ctx, &seed_net, 8);
    float *x = floats(8 * 13, 1);
    const float *y;
    NS_ASSERT_OK(ctx, ns_model_forward(a, x, 8, true, &y));
    float *dy = floats(8, 2);
    NS_ASSERT_OK(ctx, ns_model_backward(a, dy));
    NS_ASSERT_OK(ctx, ns_model_save(a, ns_test_tmp("plain.safetensors"), NULL, 0));
    ns_model *b = NULL;
    NS_ASSERT_OK(ctx, ns_model_load_state(ctx, ns_test_tmp("plain.safetensors"), &b));
    assert_memory_equal(ns_model_params(a), ns_model_params(b),
                        ns_model_param_count(a) * sizeof(float));
    for (size_t i = 0; i < ns_model_param_count(b); i++)
        assert_true(ns_model_grads(b)[i] == 0.0f);
    assert_int_equal(ns_model_max_batch(b), 256);
    NS_ASSERT_STATUS(ctx, ns_model_backward(b, dy), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "training-mode forward");
    /* And the state file is a model file too. */
    NS_ASSERT_OK(ctx, ns_model_save_state(a, ns_test_tmp("st.safetensors")));
    ns_model *c = NULL;
    NS_ASSERT_OK(ctx, ns_model_load(ctx, ns_test_tmp("st.safetensors"), 0, &c));
    assert_memory_equal(ns_model_params(a), ns_model_params(c),
                        ns_model_param_count(a) * sizeof(float));
    ns_model_free(c);
    ns_model_free(b);
    ns_model_free(a);
    free(x);
    free(dy);
    ns_ctx_free(ctx);
}

/* Saved before any forward, and after an evaluation forward: backward refuses on both sides. */
static void test_without_training_forward(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *a = build(ctx, &cnn_net, 4);
    NS_ASSERT_OK(ctx, ns_model_save_state(a, ns_test_tmp("none.state")));
    ns_model *b = NULL;
    NS_ASSERT_OK(ctx, ns_model_load_state(ctx, ns_test_tmp("none.state"), &b));
    assert_same_model(a, b);
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, ns_test_tmp("none.state"), &f));
    assert_null(ns_st_find(f, "state.input"));
    assert_null(ns_st_find(f, "state.arena"));
    assert_non_null(ns_st_find(f, "state.grads"));
    ns_st_close(f);
    float *dy = floats(4 * 5, 3);
    NS_ASSERT_STATUS(ctx, ns_model_backward(b, dy), NS_ERR_STATE);
    ns_model_free(b);

    float *x = floats(4 * 144, 4);
    const float *ya, *yb;
    NS_ASSERT_OK(ctx, ns_model_forward(a, x, 4, true, &ya));
    NS_ASSERT_OK(ctx, ns_model_forward(a, x, 3, false, &ya));
    NS_ASSERT_OK(ctx, ns_model_save_state(a, ns_test_tmp("eval.state")));
    NS_ASSERT_OK(ctx, ns_model_load_state(ctx, ns_test_tmp("eval.state"), &b));
    assert_same_model(a, b);
    NS_ASSERT_STATUS(ctx, ns_model_backward(a, dy), NS_ERR_STATE);
    NS_ASSERT_STATUS(ctx, ns_model_backward(b, dy), NS_ERR_STATE);
    NS_ASSERT_OK(ctx, ns_model_forward(a, x, 4, true, &ya));
    float *keep = malloc(4 * 5 * sizeof(float));
    assert_non_null(keep);
    memcpy(keep, ya, 4 * 5 * sizeof(float));
    NS_ASSERT_OK(ctx, ns_model_forward(b, x, 4, true, &yb));
    assert_memory_equal(keep, yb, 4 * 5 * sizeof(float));
    free(keep);
    free(x);
    free(dy);
    ns_model_free(a);
    ns_model_free(b);
    ns_ctx_free(ctx);
}

/* ---- damaged files
 * ------------------------------------------------------------------------------- */

static void expect_bad_model(ns_ctx *ctx, const char *path, ns_status want, const char *n1,
                             const char *n2)
{
    ns_model *m = (ns_model *)1;
    NS_ASSERT_STATUS(ctx, ns_model_load_state(ctx, path, &m), want);
    assert_null(m);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, n1);
    if (n2 != NULL)
        NS_ASSERT_MSG_HAS(ctx, n2);
}

static void expect_bad_optim(ns_model *model, const char *path, ns_status want, const char *n1,
                             const char *n2)
{
    ns_ctx *ctx = ns_model_ctx(model);
    ns_optim *o = (ns_optim *)1;
    NS_ASSERT_STATUS(ctx, ns_optim_load_state(model, path, &o), want);
    assert_null(o);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, n1);
    if (n2 != NULL)
        NS_ASSERT_MSG_HAS(ctx, n2);
}

static void test_bad_state_files(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *a = build(ctx, &seed_net, 8);
    float *x = floats(8 * 13, 1);
    const float *y;
    NS_ASSERT_OK(ctx, ns_model_forward(a, x, 8, true, &y));
    const char *good = ns_test_tmp("good.state"), *bad = ns_test_tmp("bad.state");
    NS_ASSERT_OK(ctx, ns_model_save_state(a, good));
    ns_test_edit e;

    /* Truncated: the safetensors reader names the defect. */
    size_t len;
    unsigned char *bytes = read_all(good, &len);
    FILE *out = fopen(bad, "wb");
    assert_non_null(out);
    fwrite(bytes, 1, len / 2, out);
    fclose(out);
    free(bytes);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "", NULL);

    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_text(&e, "netsmith.state", "{\"version\": 1,");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "netsmith.state is not valid JSON", NULL);
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.state", "learning", json_true());
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "unknown key \"learning\"", NULL);
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.state", "forward_count", NULL);
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "forward_count", "missing");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.state", "last_batch", json_integer(9));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "last_batch must be an integer in [1, 8]", NULL);
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.state", "last_batch", json_integer(7));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "\"state.input\" is F32 [8, 13]", "F32 [7, 13]");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.state", "version", json_integer(5));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "version 5", "newer netsmith");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_drop(&e, "state.grads");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "\"state.grads\"", "missing");
    ns_test_edit_load(ctx, good, &e);
    ns_st_tensor *g = ns_test_edit_find(&e, "state.grads");
    g->shape[0] -= 1;
    g->nbytes -= sizeof(float);
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "\"state.grads\" is F32", "the gradient block");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_find(&e, "state.arena")->name = "state.extra";
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "unexpected tensor \"state.extra\"", NULL);
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_drop(&e, "state.arena");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "\"state.arena\"", "missing");
    ns_test_edit_load(ctx, good, &e);
    ns_st_tensor *ar = ns_test_edit_find(&e, "state.arena");
    json_int_t wrong = (json_int_t)ar->nbytes - 64;
    ar->shape[0] = wrong;
    ar->nbytes = (size_t)wrong;
    ns_test_edit_set_json(&e, "netsmith.state", "arena_bytes", json_integer(wrong));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "activation layout differs", NULL);
    /* Model-file defects still get the model file's messages. */
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_drop(&e, "0.weight");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT, "'0.weight' is missing", NULL);

    ns_model_free(a);
    free(x);
    ns_ctx_free(ctx);
}

/* A state file's activation arena is the file's bytes: a maxpool2d argmax pointing outside its
 * input plane would send backward out of bounds, so the loader refuses it, naming the layer. */
static void test_damaged_arena(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *a = build(ctx, &cnn_net, 4);
    float *x = floats(4 * 144, 3);
    const float *y;
    NS_ASSERT_OK(ctx, ns_model_forward(a, x, 4, true, &y));
    const char *good = ns_test_tmp("cnn.state"), *bad = ns_test_tmp("cnn-bad.state");
    NS_ASSERT_OK(ctx, ns_model_save_state(a, good));
    ns_test_edit e;
    ns_test_edit_load(ctx, good, &e);
    unsigned char *arena = ns_test_edit_own(&e, "state.arena");
    memset(arena, 0x7f, ns_test_edit_find(&e, "state.arena")->nbytes);
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_model(ctx, bad, NS_ERR_FORMAT,
                     "the saved activation arena is damaged: layers[3] (maxpool2d): saved argmax "
                     "2139062143 of output 0 is outside the 10x10 input plane",
                     "save the state again");
    /* The undamaged file still loads and runs backward. */
    ns_model *b = NULL;
    NS_ASSERT_OK(ctx, ns_model_load_state(ctx, good, &b));
    float *dy = floats(4 * 5, 4);
    NS_ASSERT_OK(ctx, ns_model_backward(b, dy));
    ns_model_free(b);
    ns_model_free(a);
    free(dy);
    free(x);
    ns_ctx_free(ctx);
}

static void test_bad_optim_files(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_model *a = build(ctx, &seed_net, 8);
    ns_optim_config cfg;
    ns_optim_config_default(&cfg, NS_OPTIM_ADAM);
    ns_optim *o = NULL;
    NS_ASSERT_OK(ctx, ns_optim_new(a, &cfg, &o));
    const char *good = ns_test_tmp("good.optim"), *bad = ns_test_tmp("bad.optim");
    NS_ASSERT_OK(ctx, ns_optim_save_state(o, good));
    ns_test_edit e;

    /* Another model: its parameter count differs. */
    net other = seed_net;
    other.shape[0] = 12;
    ns_model *b = build(ctx, &other, 8);
    expect_bad_optim(b, good, NS_ERR_SHAPE, "moments are for", "load it with the model");
    ns_model_free(b);
    /* Not an optimizer file. */
    NS_ASSERT_OK(ctx, ns_model_save(a, ns_test_tmp("model.safetensors"), NULL, 0));
    expect_bad_optim(a, ns_test_tmp("model.safetensors"), NS_ERR_FORMAT,
                     "not an optimizer state file", NULL);
    /* Bad metadata. */
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.optimizer", "kind", json_string("adagrad"));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "kind must be sgd, adam, adamw or rmsprop", "adagrad");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.optimizer", "step_count", json_integer(-1));
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "step_count", NULL);
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.optimizer", "amsgrad", json_true());
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "moments does not list", NULL);
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_set_json(&e, "netsmith.optimizer", "extra", json_true());
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "unknown key \"extra\"", NULL);
    /* Tensors. */
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_drop(&e, "optim.lr");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "\"optim.lr\"", "missing");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_drop(&e, "optim.exp_avg_sq");
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "\"optim.exp_avg_sq\"", "missing");
    ns_test_edit_load(ctx, good, &e);
    ns_test_edit_find(&e, "optim.exp_avg")->dtype = NS_DTYPE_I32;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_FORMAT, "\"optim.exp_avg\" is I32", NULL);
    ns_test_edit_load(ctx, good, &e);
    e.data = malloc(sizeof(double));
    assert_non_null(e.data);
    *(double *)e.data = 1.5;
    ns_test_edit_find(&e, "optim.beta1")->data = e.data;
    ns_test_edit_write(ctx, bad, &e);
    expect_bad_optim(a, bad, NS_ERR_INVALID, "beta1", "[0, 1)");

    ns_optim_free(o);
    ns_model_free(a);
    ns_ctx_free(ctx);
}

/* ---- allocation failures
 * ------------------------------------------------------------------------- */

static void test_out_of_memory(void **state)
{
    (void)state;
    ns_ctx *pctx = new_ctx();
    ns_model *a = build(pctx, &cnn_net, 4);
    ns_optim_config cfg;
    ns_optim_config_default(&cfg, NS_OPTIM_ADAMW);
    ns_optim *o = NULL;
    NS_ASSERT_OK(pctx, ns_optim_new(a, &cfg, &o));
    float *x = floats(4 * 144, 5);
    train_step(pctx, a, o, x, 4, 6);
    const float *y;
    NS_ASSERT_OK(pctx, ns_model_forward(a, x, 4, true, &y));
    NS_ASSERT_OK(pctx, ns_model_save_state(a, ns_test_tmp("oom.state")));
    NS_ASSERT_OK(pctx, ns_optim_save_state(o, ns_test_tmp("oom.optim")));
    int failures = 0;
    for (size_t n = 1;; n++) {
        ns_test_alloc ta = {0};
        ns_allocator al = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
        ta.fail_at = ta.calls + n;
        ns_model *m = NULL;
        ns_optim *l = NULL;
        ns_status st = ns_model_load_state(ctx, ns_test_tmp("oom.state"), &m);
        if (st == NS_OK)
            st = ns_optim_load_state(m, ns_test_tmp("oom.optim"), &l);
        if (st == NS_OK)
            st = ns_model_save_state(m, ns_test_tmp("oom2.state"));
        if (st == NS_OK)
            st = ns_optim_save_state(l, ns_test_tmp("oom2.optim"));
        if (st == NS_OK) {
            ta.fail_at = 0;
            assert_same_model(a, m);
            assert_same_optim(o, l);
            ns_optim_free(l);
            ns_model_free(m);
            ns_ctx_free(ctx);
            assert_int_equal(ta.live, 0);
            break;
        }
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        ns_optim_free(l);
        ns_model_free(m);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        failures++;
        assert_true(n < 2000);
    }
    assert_true(failures >= 10);
    free(x);
    ns_optim_free(o);
    ns_model_free(a);
    ns_ctx_free(pctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_mlp_adam),    cmocka_unit_test(test_cnn_adam),
        cmocka_unit_test(test_every_optimizer),  cmocka_unit_test(test_lr_as_set),
        cmocka_unit_test(test_plain_model_file), cmocka_unit_test(test_without_training_forward),
        cmocka_unit_test(test_bad_state_files),  cmocka_unit_test(test_damaged_arena),
        cmocka_unit_test(test_bad_optim_files),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
