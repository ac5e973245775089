/* The training loop: the Train card agrees to the bit with the step cards called one by one,
 * the non-finite guard, early stopping with restored best weights, callbacks that stop,
 * cancellation, and monitors that need validation data. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define ROWS 96
#define IN 6
#define BS 16

/* Batches straight from arrays, in a fixed order that depends on the epoch. */
typedef struct arrays {
    float x[ROWS * IN], y[ROWS];
    float bx[BS * IN], by[BS];
} arrays;

static ns_status arrays_get(void *ud, int64_t epoch, int64_t index, ns_batch *out)
{
    arrays *a = ud;
    for (int i = 0; i < BS; i++) {
        int r = (int)((index * BS + i + epoch * 7) % ROWS);
        memcpy(a->bx + i * IN, a->x + r * IN, IN * sizeof(float));
        a->by[i] = a->y[r];
    }
    *out = (ns_batch){.x = a->bx, .y = a->by, .n = BS, .epoch = epoch, .index = index};
    return NS_OK;
}

static void fill(arrays *a, float scale)
{
    ns_test_fill_uniform(a->x, ROWS * IN, 1, -1, 1);
    for (int r = 0; r < ROWS; r++) {
        double s = 0;
        for (int j = 0; j < IN; j++)
            s += (double)a->x[r * IN + j] * (j + 1);
        a->y[r] = (float)s * scale;
    }
}

static ns_model *make_model(ns_ctx *ctx, uint64_t seed)
{
    const char *json = "{\"hidden_layers\": [16, 8], \"dropout\": 0.25}";
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "t", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, IN);
    bo.output_size = 1;
    bo.max_batch = BS;
    bo.seed = seed;
    ns_model *m = NULL;
    NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
    ns_spec_free(spec);
    return m;
}

static void test_train_card_equals_step_cards(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    arrays *a = calloc(1, sizeof *a);
    fill(a, 0.1f);
    ns_batch_source src = {ROWS / BS, arrays_get, a};
    ns_train_config cfg;
    ns_train_config_default(&cfg);
    cfg.epochs = 3;
    cfg.clip.max_norm = 1.0;

    /* The Train card. */
    ns_model *m1 = make_model(ctx, 5);
    ns_trainer *t = NULL;
    NS_ASSERT_OK(ctx, ns_trainer_new(m1, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    NS_ASSERT_OK(ctx, ns_trainer_run(t, &src, NULL, NULL, NULL));
    assert_int_equal(ns_trainer_get_state(t)->stop_reason, NS_STOP_COMPLETED);
    assert_int_equal(ns_trainer_history_count(t), 3);

    /* The step cards, one call each. */
    ns_model *m2 = make_model(ctx, 5);
    ns_optim *opt = NULL;
    NS_ASSERT_OK(ctx, ns_optim_new(m2, &cfg.optim, &opt));
    float dy[BS];
    for (int e = 0; e < 3; e++) {
        for (int i = 0; i < ROWS / BS; i++) {
            ns_batch b;
            NS_ASSERT_OK(ctx, arrays_get(a, e, i, &b));
            const float *y = NULL;
            double loss = 0;
            ns_targets tg = {.values = b.y};
            ns_optim_zero_grad(opt);
            NS_ASSERT_OK(ctx, ns_model_forward(m2, b.x, b.n, true, &y));
            NS_ASSERT_OK(ctx, ns_loss_compute(ctx, &cfg.loss, y, &tg, b.n, 1, &loss, dy));
            NS_ASSERT_OK(ctx, ns_model_backward(m2, dy));
            NS_ASSERT_OK(ctx, ns_optim_step(opt, &cfg.clip, NULL));
        }
    }
    assert_memory_equal(ns_model_params(m1), ns_model_params(m2),
                        ns_model_param_count(m1) * sizeof(float));
    ns_optim_free(opt);
    ns_trainer_free(t);
    ns_model_free(m1);
    ns_model_free(m2);
    free(a);
    ns_ctx_free(ctx);
}

static void test_nonfinite_guard(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    arrays *a = calloc(1, sizeof *a);
    fill(a, 1e6f);
    ns_batch_source src = {ROWS / BS, arrays_get, a};
    ns_train_config cfg;
    ns_train_config_default(&cfg);
    ns_optim_config_default(&cfg.optim, NS_OPTIM_SGD);
    cfg.optim.lr = 1e3;
    cfg.epochs = 20;
    ns_model *m = make_model(ctx, 1);
    ns_trainer *t = NULL;
    NS_ASSERT_OK(ctx, ns_trainer_new(m, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    NS_ASSERT_STATUS(ctx, ns_trainer_run(t, &src, NULL, NULL, NULL), NS_ERR_NONFINITE);
    NS_ASSERT_MSG_HAS(ctx, "training stopped at epoch 1, step ");
    NS_ASSERT_MSG_HAS(ctx, "lower the learning rate");
    assert_int_equal(ns_trainer_get_state(t)->stop_reason, NS_STOP_NONFINITE);
    for (size_t i = 0; i < ns_model_param_count(m); i++)
        assert_true(isfinite(ns_model_params(m)[i]));
    ns_trainer_free(t);
    ns_model_free(m);
    free(a);
    ns_ctx_free(ctx);
}

static float *epoch0_params;

static bool keep_epoch0(void *ud, ns_trainer *t, const ns_epoch_report *r)
{
    (void)ud;
    if (r->epoch == 0)
        memcpy(epoch0_params, ns_model_params(ns_trainer_model(t)),
               ns_model_param_count(ns_trainer_model(t)) * sizeof(float));
    return true;
}

static void test_early_stopping_restores_best(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    arrays *a = calloc(1, sizeof *a);
    fill(a, 0.1f);
    ns_batch_source src = {ROWS / BS, arrays_get, a};
    ns_train_config cfg;
    ns_train_config_default(&cfg);
    cfg.epochs = 30;
    cfg.early.patience = 2;
    cfg.early.min_delta = 1e9; /* nothing after the first epoch counts as better */
    cfg.early.restore_best = true;
    snprintf(cfg.early.monitor, sizeof cfg.early.monitor, "val_loss");
    ns_model *m = make_model(ctx, 2);
    epoch0_params = malloc(ns_model_param_count(m) * sizeof(float));
    ns_trainer *t = NULL;
    NS_ASSERT_OK(ctx, ns_trainer_new(m, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    /* Monitoring val_loss without validation data is refused. */
    NS_ASSERT_STATUS(ctx, ns_trainer_run(t, &src, NULL, NULL, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "no validation data");
    ns_train_callbacks cb = {NULL, keep_epoch0, NULL};
    NS_ASSERT_OK(ctx, ns_trainer_run(t, &src, &src, &cb, NULL));
    assert_int_equal(ns_trainer_get_state(t)->stop_reason, NS_STOP_EARLY);
    assert_int_equal(ns_trainer_history_count(t), 3);
    assert_true(ns_trainer_history(t, 0)->improved);
    assert_false(ns_trainer_history(t, 1)->improved);
    assert_memory_equal(ns_model_params(m), epoch0_params, ns_model_param_count(m) * sizeof(float));
    free(epoch0_params);
    ns_trainer_free(t);
    ns_model_free(m);
    free(a);
    ns_ctx_free(ctx);
}

/* A plateau schedule with no monitor of its own watches val_loss; without validation data the
 * message names it. */
static void test_plateau_needs_validation(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    arrays *a = calloc(1, sizeof *a);
    fill(a, 0.1f);
    ns_batch_source src = {ROWS / BS, arrays_get, a};
    ns_train_config cfg;
    ns_train_config_default(&cfg);
    cfg.epochs = 2;
    ns_sched_config_default(&cfg.sched, NS_SCHED_PLATEAU);
    ns_model *m = make_model(ctx, 2);
    ns_trainer *t = NULL;
    NS_ASSERT_OK(ctx, ns_trainer_new(m, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    NS_ASSERT_STATUS(ctx, ns_trainer_run(t, &src, NULL, NULL, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "'val_loss' is monitored but there is no validation data");
    ns_trainer_free(t);
    ns_model_free(m);
    free(a);
    ns_ctx_free(ctx);
}

static bool stop_after_two(void *ud, ns_trainer *t, const ns_epoch_report *r)
{
    (void)ud, (void)t;
    return r->epoch < 1;
}

static bool cancel_now(void *ud, const char *stage, double done, double total)
{
    (void)ud, (void)stage, (void)total;
    return done < 10;
}

static void test_callbacks_and_cancel(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    arrays *a = calloc(1, sizeof *a);
    fill(a, 0.1f);
    ns_batch_source src = {ROWS / BS, arrays_get, a};
    ns_train_config cfg;
    ns_train_config_default(&cfg);
    cfg.epochs = 10;
    ns_model *m = make_model(ctx, 3);
    ns_trainer *t = NULL;
    NS_ASSERT_OK(ctx, ns_trainer_new(m, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    ns_train_callbacks cb = {NULL, stop_after_two, NULL};
    NS_ASSERT_OK(ctx, ns_trainer_run(t, &src, NULL, &cb, NULL));
    assert_int_equal(ns_trainer_get_state(t)->stop_reason, NS_STOP_CALLBACK);
    assert_int_equal(ns_trainer_history_count(t), 2);
    ns_trainer_free(t);

    /* Cancelled by the progress hook after 10 steps, and by the flag. */
    NS_ASSERT_OK(ctx, ns_trainer_new(m, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    ns_progress p = {cancel_now, NULL, NULL};
    NS_ASSERT_STATUS(ctx, ns_trainer_run(t, &src, NULL, NULL, &p), NS_ERR_CANCELLED);
    assert_int_equal(ns_trainer_get_state(t)->step, 10);
    assert_int_equal(ns_trainer_get_state(t)->stop_reason, NS_STOP_CANCELLED);
    ns_trainer_free(t);
    atomic_int flag = 1;
    ns_progress q = {NULL, NULL, &flag};
    NS_ASSERT_OK(ctx, ns_trainer_new(m, &cfg, NULL, NS_TASK_REGRESSION, 0, &t));
    NS_ASSERT_STATUS(ctx, ns_trainer_run(t, &src, NULL, NULL, &q), NS_ERR_CANCELLED);
    assert_int_equal(ns_trainer_get_state(t)->step, 1);
    ns_trainer_free(t);
    ns_model_free(m);
    free(a);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_card_equals_step_cards),
        cmocka_unit_test(test_nonfinite_guard),
        cmocka_unit_test(test_early_stopping_restores_best),
        cmocka_unit_test(test_plateau_needs_validation),
        cmocka_unit_test(test_callbacks_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
