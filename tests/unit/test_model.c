/* Build Model, Forward Pass and Backward Pass: layer lists, parameter layout and names,
 * PyTorch-default initialisation, state errors, determinism and out-of-memory safety. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static const char seed_json[] =
    "{\"model_type\": \"deep_neural_network\", \"hidden_layers\": [128, 64, 32],"
    " \"activation\": \"relu\", \"dropout\": 0.2, \"learning_rate\": 0.001, \"epochs\": 50,"
    " \"batch_size\": 32}";

static ns_spec *parse(ns_ctx *ctx, const char *json)
{
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "test", &spec));
    return spec;
}

static ns_model *build(ns_ctx *ctx, const ns_spec *spec, int in, int out, uint64_t seed)
{
    ns_build_opts bo;
    ns_build_opts_default(&bo, in);
    bo.output_size = out;
    bo.seed = seed;
    bo.max_batch = 64;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    return m;
}

static void test_seed_blueprint_layout(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_spec *spec = parse(ctx, seed_json);
    ns_model *m = build(ctx, spec, 13, 1, 7);
    /* linear, relu, dropout x 3, then the output linear: nn.Sequential indices 0..9 */
    assert_int_equal(ns_model_layer_count(m), 10);
    assert_int_equal(ns_model_layer(m, 0)->kind, NS_LAYER_LINEAR);
    assert_int_equal(ns_model_layer(m, 1)->kind, NS_LAYER_RELU);
    assert_int_equal(ns_model_layer(m, 2)->kind, NS_LAYER_DROPOUT);
    assert_int_equal(ns_model_layer(m, 9)->kind, NS_LAYER_LINEAR);
    assert_int_equal(ns_model_param_count(m), 13 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 33);
    assert_int_equal(ns_model_input_size(m), 13);
    assert_int_equal(ns_model_output_size(m), 1);
    const char *names[] = {"0.weight", "0.bias", "3.weight", "3.bias",
                           "6.weight", "6.bias", "9.weight", "9.bias"};
    assert_int_equal(ns_model_tensor_count(m), 8);
    float *base = ns_model_params(m);
    size_t offset = 0;
    for (int i = 0; i < 8; i++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_tensor(m, i, &t));
        assert_string_equal(t.name, names[i]);
        /* Views into the one parameter block, in order, back to back. */
        assert_ptr_equal(t.data, base + offset);
        offset += (size_t)t.shape[0] * (size_t)(t.ndim == 2 ? t.shape[1] : 1);
    }
    assert_int_equal(offset, ns_model_param_count(m));
    ns_named_tensor t;
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "3.weight", &t));
    assert_int_equal(t.shape[0], 64);
    assert_int_equal(t.shape[1], 128);
    NS_ASSERT_STATUS(ctx, ns_model_find_tensor(m, "1.weight", &t), NS_ERR_NOTFOUND);
    /* Numbers outside [0, count) are refused, and the message names the one asked for. */
    NS_ASSERT_STATUS(ctx, ns_model_tensor(m, -1, &t), NS_ERR_NOTFOUND);
    assert_non_null(
        strstr(ns_errmsg(ctx), "no tensor number -1; tensors are numbered from 0 to 7"));
    NS_ASSERT_STATUS(ctx, ns_model_tensor(m, 8, &t), NS_ERR_NOTFOUND);
    assert_non_null(strstr(ns_errmsg(ctx), "no tensor number 8;"));
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* PyTorch's nn.Linear default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void test_init_follows_pytorch(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_spec *spec = parse(ctx, "{\"layers\": [{\"type\": \"linear\", \"units\": 400},"
                               " {\"type\": \"batchnorm1d\"}, {\"type\": \"layernorm\"}]}");
    ns_model *m = build(ctx, spec, 100, 0, 3);
    ns_named_tensor w, b;
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "0.weight", &w));
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "0.bias", &b));
    double bound = 1.0 / sqrt(100.0), sum = 0, sq = 0;
    size_t n = 400 * 100;
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs((double)w.data[i]) <= bound);
        sum += (double)w.data[i];
        sq += (double)w.data[i] * (double)w.data[i];
    }
    NS_ASSERT_CLOSE(sum / (double)n, 0.0, 0, 0.002);
    NS_ASSERT_CLOSE(sq / (double)n, bound * bound / 3.0, 0.03, 0); /* variance of U(-a, a) */
    for (size_t i = 0; i < 400; i++)
        assert_true(fabs((double)b.data[i]) <= bound);
    /* Norm layers start as the identity: weight 1, bias 0, running mean 0, variance 1. */
    const char *ones[] = {"1.weight", "1.running_var", "2.weight"};
    const char *zeros[] = {"1.bias", "1.running_mean", "2.bias"};
    for (int k = 0; k < 3; k++) {
        ns_named_tensor t;
        NS_ASSERT_OK(ctx, ns_model_find_tensor(m, ones[k], &t));
        for (int i = 0; i < 400; i++)
            assert_true(t.data[i] == 1.0f);
        NS_ASSERT_OK(ctx, ns_model_find_tensor(m, zeros[k], &t));
        for (int i = 0; i < 400; i++)
            assert_true(t.data[i] == 0.0f);
    }
    ns_named_tensor cnt;
    NS_ASSERT_OK(ctx, ns_model_find_tensor(m, "1.num_batches_tracked", &cnt));
    assert_non_null(cnt.count);
    assert_int_equal(*cnt.count, 0);
    /* Same seed, same weights; another seed, other weights. */
    ns_model *same = build(ctx, spec, 100, 0, 3), *other = build(ctx, spec, 100, 0, 4);
    size_t np = ns_model_param_count(m);
    assert_memory_equal(ns_model_params(m), ns_model_params(same), np * sizeof(float));
    assert_true(memcmp(ns_model_params(m), ns_model_params(other), np * sizeof(float)) != 0);
    ns_model_free(same);
    ns_model_free(other);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_forward_backward_state_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_spec *spec = parse(ctx, seed_json);
    ns_model *m = build(ctx, spec, 13, 1, 1);
    float x[13 * 64], dy[64];
    ns_test_fill_uniform(x, 13 * 64, 1, -1, 1);
    ns_test_fill_uniform(dy, 64, 2, -1, 1);
    const float *y = NULL;
    NS_ASSERT_STATUS(ctx, ns_model_backward(m, dy), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, "training-mode forward");
    NS_ASSERT_STATUS(ctx, ns_model_forward(m, x, 65, true, &y), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "batch size 65");
    NS_ASSERT_STATUS(ctx, ns_model_forward(m, x, 0, true, &y), NS_ERR_INVALID);
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 8, false, &y));
    NS_ASSERT_STATUS(ctx, ns_model_backward(m, dy), NS_ERR_STATE);
    /* Evaluation mode: no dropout, so two passes agree exactly. */
    float first[8];
    memcpy(first, y, sizeof first);
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 8, false, &y));
    assert_memory_equal(first, y, sizeof first);
    assert_int_equal(ns_model_forward_count(m), 0);
    /* Training mode: dropout changes with every pass. */
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 8, true, &y));
    assert_int_equal(ns_model_forward_count(m), 1);
    assert_true(memcmp(first, y, sizeof first) != 0);
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    assert_null(ns_model_input_grad(m)); /* not kept unless asked for */
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_backward_accumulates_and_zero_grad(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_spec *spec = parse(ctx, "{\"layers\": [{\"type\": \"linear\", \"units\": 8},"
                               " {\"type\": \"batchnorm1d\"}, {\"type\": \"tanh\"},"
                               " {\"type\": \"linear\", \"units\": 3}]}");
    ns_model *m = build(ctx, spec, 5, 0, 9);
    size_t np = ns_model_param_count(m);
    float x[5 * 6], dy[3 * 6];
    ns_test_fill_uniform(x, sizeof x / sizeof x[0], 3, -2, 2);
    ns_test_fill_uniform(dy, sizeof dy / sizeof dy[0], 4, -1, 1);
    const float *y = NULL;
    ns_model_zero_grad(m);
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 6, true, &y));
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    float once[128];
    assert_true(np <= 128);
    memcpy(once, ns_model_grads(m), np * sizeof(float));
    double norm = 0;
    for (size_t i = 0; i < np; i++)
        norm += fabs((double)once[i]);
    assert_true(norm > 0);
    NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
    for (size_t i = 0; i < np; i++)
        /* Not bit-exact: the second pass sums onto the first (e.g. the bias sums start from
         * the stored value), so near-cancelling sums differ in their last bits. */
        NS_ASSERT_CLOSE(ns_model_grads(m)[i], 2.0f * once[i], 1e-5, 1e-6);
    ns_model_zero_grad(m);
    for (size_t i = 0; i < np; i++)
        assert_true(ns_model_grads(m)[i] == 0.0f);
    /* batchnorm needs two values per feature to train */
    NS_ASSERT_STATUS(ctx, ns_model_forward(m, x, 1, true, &y), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "batchnorm1d");
    NS_ASSERT_OK(ctx, ns_model_forward(m, x, 1, false, &y));
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_build_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_model *m = NULL;
    ns_build_opts bo;
    /* The spec's optional input shape must match the data. */
    ns_spec *spec =
        parse(ctx, "{\"input\": [13], \"layers\": [{\"type\": \"linear\", \"units\": 1}]}");
    ns_build_opts_default(&bo, 12);
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "expects input [13] but the data has [12]");
    assert_null(m);
    ns_spec_free(spec);
    /* Linear on a 2-D sample needs a flatten. */
    spec = parse(ctx, "{\"layers\": [{\"type\": \"linear\", \"units\": 4}]}");
    ns_build_opts_default(&bo, 3);
    bo.input_ndim = 2;
    bo.input_shape[1] = 5;
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "add a flatten layer");
    ns_spec_free(spec);
    spec =
        parse(ctx, "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 4}]}");
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    assert_int_equal(ns_model_input_size(m), 15);
    ns_model_free(m);
    ns_spec_free(spec);
    /* Short form without an output size anywhere. */
    spec = parse(ctx, "{\"hidden_layers\": [4]}");
    ns_build_opts_default(&bo, 3);
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "output_size");
    ns_build_opts_default(&bo, 0);
    bo.output_size = 1;
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_INVALID);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* Every failing allocation during build returns out-of-memory and leaks nothing. */
static void test_build_out_of_memory(void **state)
{
    (void)state;
    ns_ctx *pctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &pctx), NS_OK);
    ns_spec *spec =
        parse(pctx, "{\"layers\": [{\"type\": \"linear\", \"units\": 16},"
                    " {\"type\": \"batchnorm1d\"}, {\"type\": \"relu\"},"
                    " {\"type\": \"dropout\", \"p\": 0.1},"
                    " {\"type\": \"layernorm\"}, {\"type\": \"linear\", \"units\": 2}]}");
    int failures = 0;
    for (size_t n = 1;; n++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        ta.fail_at = ta.calls + n;
        ns_build_opts bo;
        ns_build_opts_default(&bo, 7);
        ns_model *m = NULL;
        ns_status st = ns_model_build(ctx, spec, &bo, &m);
        if (st == NS_OK) {
            ns_model_free(m);
            ns_ctx_free(ctx);
            assert_int_equal(ta.live, 0);
            break;
        }
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        assert_null(m);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        failures++;
        assert_true(n < 1000);
    }
    assert_true(failures >= 5);
    ns_spec_free(spec);
    ns_ctx_free(pctx);
}

/* Same seed, same thread count: a bit-identical loss sequence, dropout included. */
static void train_losses(uint64_t seed, double *losses, int steps)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_spec *spec = parse(ctx, seed_json);
    ns_model *m = build(ctx, spec, 13, 1, seed);
    ns_optim_config oc;
    ns_optim_config_default(&oc, NS_OPTIM_ADAM);
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns_optim_new(m, &oc, &opt));
    ns_loss_config lc;
    ns_loss_config_default(&lc, NS_LOSS_MSE);
    float x[32 * 13], t[32], dy[32];
    for (int s = 0; s < steps; s++) {
        ns_test_fill_uniform(x, 32 * 13, 100 + (uint64_t)s, -2, 2);
        ns_test_fill_uniform(t, 32, 200 + (uint64_t)s, 0, 5);
        const float *y = NULL;
        ns_optim_zero_grad(opt);
        NS_ASSERT_OK(ctx, ns_model_forward(m, x, 32, true, &y));
        ns_targets tg = {.values = t};
        NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &lc, y, &tg, 32, 1, &losses[s], dy));
        NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
        NS_ASSERT_OK(ctx, ns_optim_step(opt, NULL, NULL));
    }
    ns_optim_free(opt);
    ns_model_free(m);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_determinism(void **state)
{
    (void)state;
    double a[30], b[30], c[30];
    train_losses(5, a, 30);
    train_losses(5, b, 30);
    train_losses(6, c, 30);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);
    assert_true(a[29] < a[0]); /* and it learns */
}

/* Layers below the first that learns take no part in backward (a flatten before the first
 * linear, as the short form puts on images): the parameter gradients are those of the same
 * network without them, bit for bit, and with the input gradient kept it is still there. */
static void test_backward_stops_below_the_first_learner(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    static const char with[] = "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"relu\"},"
                               " {\"type\": \"linear\", \"units\": 5}, {\"type\": \"tanh\"},"
                               " {\"type\": \"linear\", \"units\": 2}]}";
    static const char without[] = "{\"layers\": [{\"type\": \"relu\"},"
                                  " {\"type\": \"linear\", \"units\": 5}, {\"type\": \"tanh\"},"
                                  " {\"type\": \"linear\", \"units\": 2}]}";
    ns_spec *sa = NULL, *sb = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, with, strlen(with), "with", &sa));
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, without, strlen(without), "without", &sb));
    ns_build_opts ba, bb;
    ns_build_opts_default(&ba, 1);
    ba.input_ndim = 3;
    ba.input_shape[0] = 1, ba.input_shape[1] = 3, ba.input_shape[2] = 4;
    ba.max_batch = 4;
    ba.seed = 9;
    ns_build_opts_default(&bb, 12);
    bb.max_batch = 4;
    bb.seed = 9;
    float x[4 * 12], dy[4 * 2];
    ns_test_fill_uniform(x, 48, 1, -1, 1);
    ns_test_fill_uniform(dy, 8, 2, -1, 1);
    for (int keep = 0; keep < 2; keep++) {
        ba.keep_input_grad = bb.keep_input_grad = keep;
        ns_model *a = NULL, *b = NULL;
        NS_ASSERT_OK(ctx, ns_model_build(ctx, sa, &ba, &a));
        NS_ASSERT_OK(ctx, ns_model_build(ctx, sb, &bb, &b));
        assert_int_equal(ns_model_param_count(a), ns_model_param_count(b));
        size_t n = ns_model_param_count(a);
        memcpy(ns_model_params(a), ns_model_params(b), n * sizeof(float));
        const float *ya, *yb;
        NS_ASSERT_OK(ctx, ns_model_forward(a, x, 4, true, &ya));
        NS_ASSERT_OK(ctx, ns_model_forward(b, x, 4, true, &yb));
        assert_memory_equal(ya, yb, 8 * sizeof(float));
        ns_model_zero_grad(a);
        ns_model_zero_grad(b);
        NS_ASSERT_OK(ctx, ns_model_backward(a, dy));
        NS_ASSERT_OK(ctx, ns_model_backward(b, dy));
        assert_memory_equal(ns_model_grads(a), ns_model_grads(b), n * sizeof(float));
        if (keep) {
            assert_non_null(ns_model_input_grad(a));
            assert_memory_equal(ns_model_input_grad(a), ns_model_input_grad(b), 48 * sizeof(float));
        } else {
            assert_null(ns_model_input_grad(a));
        }
        ns_model_free(a);
        ns_model_free(b);
    }
    ns_spec_free(sa);
    ns_spec_free(sb);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_blueprint_layout),
        cmocka_unit_test(test_init_follows_pytorch),
        cmocka_unit_test(test_forward_backward_state_errors),
        cmocka_unit_test(test_backward_accumulates_and_zero_grad),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_build_out_of_memory),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_backward_stops_below_the_first_learner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
