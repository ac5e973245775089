/* Pipelines under allocation failure: failing the 1st, 2nd, ... allocation while reading,
 * checking and running a pipeline (every card kind, a loop of step cards, a state directory)
 * gives NS_ERR_NOMEM with an "out of memory" message and leaks nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netsmith/netsmith.h"
#include "testutil.h"

static const char pipeline[] =
    "pipeline: oom\n"
    "seed: 3\n"
    "cards:\n"
    "  - {id: load, card: data_load, with: {name: iris}}\n"
    "  - {id: split, card: data_split, in: {dataset: load.dataset},\n"
    "     with: {train_ratio: 0.6, val_ratio: 0.2, test_ratio: 0.2}}\n"
    "  - {id: norm, card: normalize, in: {train_dataset: split.train_dataset,\n"
    "     val_dataset: split.val_dataset, test_dataset: split.test_dataset}}\n"
    "  - {id: define, card: model_define, with: {hidden_layers: [8], dropout: 0.1}}\n"
    "  - {id: build, card: build_model, in: {model_spec: define.model_spec,\n"
    "     input_size: split.input_size}, with: {max_batch: 64}}\n"
    "  - {id: optim, card: init_optimizer, in: {model: build.model}}\n"
    "  - id: epochs\n"
    "    card: loop\n"
    "    with: {epochs: 1, batch_size: 32}\n"
    "    in: {dataset: norm.train_dataset, model: build.model, optimizer: optim.optimizer}\n"
    "    cards:\n"
    "      - {id: batch, card: prepare_batch, in: {dataset: epochs.dataset,\n"
    "         batch_index: epochs.batch_index}}\n"
    "      - {id: zero, card: zero_grad, in: {optimizer: epochs.optimizer}}\n"
    "      - {id: fwd, card: forward, in: {model: epochs.model, batch_data: batch.batch_data}}\n"
    "      - {id: loss, card: calculate_loss, in: {predictions: fwd.predictions,\n"
    "         batch_data: batch.batch_data}}\n"
    "      - {id: bwd, card: backward, in: {loss: loss.loss, model: fwd.model}}\n"
    "      - {id: step, card: optimizer_step, in: {optimizer: zero.optimizer,\n"
    "         model: bwd.model}}\n"
    "  - {id: train, card: train, in: {model_spec: define.model_spec,\n"
    "     dataset: norm.train_dataset, val_dataset: norm.val_dataset}, with: {epochs: 1}}\n"
    "  - {id: eval, card: evaluate, in: {model: epochs.model, dataset: norm.test_dataset}}\n"
    "  - {id: infer, card: inference, in: {model: train.model, dataset: norm.test_dataset},\n"
    "     with: {probabilities: true}}\n";

/* One attempt with the fail_at-th allocation failing (0: none); returns the status. */
static ns_status attempt(size_t fail_at, const char *state_dir, bool *ran)
{
    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    ta.fail_at = fail_at ? ta.calls + fail_at : 0;
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    ns_status st = ns_cards_new(ctx, &cards);
    if (st == NS_OK)
        st = ns_pipeline_parse(cards, pipeline, strlen(pipeline), "oom.yaml", NULL, 0, &p);
    if (st == NS_OK) {
        ns_run_options o = {.state_dir = state_dir};
        st = ns_pipeline_run(p, &o);
        *ran = st == NS_OK;
    }
    if (st != NS_OK) {
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        NS_ASSERT_MSG_HAS(ctx, "out of memory");
    }
    ns_pipeline_free(p);
    ns_cards_free(cards);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
    return st;
}

static void run_all(const char *state_dir)
{
    bool ran = false;
    size_t fail_at = 1;
    for (; !ran; fail_at++) {
        assert_true(fail_at < 20000);
        attempt(fail_at, state_dir, &ran);
    }
    fprintf(stderr, "  %zu allocations failed one at a time%s\n", fail_at - 1,
            state_dir ? " (with a state directory)" : "");
}

static void test_oom_run(void **state)
{
    (void)state;
    run_all(NULL);
}

static void test_oom_state_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/ns_pipeline_oom_XXXXXX";
    assert_non_null(mkdtemp(dir));
    run_all(dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_run),
        cmocka_unit_test(test_oom_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
