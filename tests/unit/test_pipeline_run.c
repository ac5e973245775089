/* Pipelines running: the issue's step-by-step pipeline equal to the bit to the Train card
 * (regression and classification), events, cancellation, application cards through
 * ns_card_register, the palette as JSON, restarts from a state directory, one card over
 * files, and the run order. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdatomic.h>
#include <unistd.h>

#include "pipeline_fixture.h"

/* ---- running: the step cards equal the Train card ----------------------------------------------
 */

/* A copy of a model output's weights (free() it). */
static float *weights_of(ns_pipeline *p, const char *ref, size_t *n)
{
    ns_value *v = ns_pipeline_output(p, ref);
    assert_non_null(v);
    assert_int_equal(ns_value_get_kind(v), NS_VALUE_MODEL);
    ns_model *m = ns_value_model(v);
    assert_non_null(m);
    *n = ns_model_param_count(m);
    assert_true(*n > 0);
    float *w = malloc(*n * sizeof(float));
    assert_non_null(w);
    memcpy(w, ns_model_params(m), *n * sizeof(float));
    return w;
}

static void assert_same_weights(ns_pipeline *a, const char *ra, ns_pipeline *b, const char *rb)
{
    size_t na, nb;
    float *wa = weights_of(a, ra, &na), *wb = weights_of(b, rb, &nb);
    assert_int_equal(na, nb);
    if (memcmp(wa, wb, na * sizeof(float)) != 0) {
        for (size_t i = 0; i < na; i++)
            if (memcmp(&wa[i], &wb[i], sizeof(float)) != 0) {
                fprintf(stderr, "%s and %s differ first at weight %zu: %.9g vs %.9g\n", ra, rb, i,
                        (double)wa[i], (double)wb[i]);
                break;
            }
        fail();
    }
    free(wa);
    free(wb);
}

static void assert_different_weights(ns_pipeline *a, const char *ra, ns_pipeline *b, const char *rb)
{
    size_t na, nb;
    float *wa = weights_of(a, ra, &na), *wb = weights_of(b, rb, &nb);
    assert_int_equal(na, nb);
    assert_int_not_equal(memcmp(wa, wb, na * sizeof(float)), 0);
    free(wa);
    free(wb);
}

static void test_issue_pipeline_equals_train_card(void **state)
{
    fixture *f = *state;
    const char *ov_steps[] = {"epochs.epochs=3"}, *ov_train[] = {"train.epochs=3"};
    ns_pipeline *steps = NULL, *train = NULL, *start = NULL;
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_pipeline, ov_steps, 1, &steps));
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_train_pipeline, ov_train, 1, &train));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(steps, NULL));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(train, NULL));
    assert_same_weights(steps, "epochs.model", train, "train.model");
    /* the loop passes on the model object built by 'build' */
    assert_ptr_equal(ns_pipeline_output(steps, "epochs.model"),
                     ns_pipeline_output(steps, "build.model"));
    assert_string_equal(ns_value_object(ns_pipeline_output(steps, "epochs.model")), "build");
    /* and training did change it */
    NS_ASSERT_OK(f->ctx, parse(f, ISSUE_HEAD, &start));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(start, NULL));
    assert_different_weights(steps, "epochs.model", start, "build.model");
    /* the same test metrics */
    const ns_metrics_value *ms = ns_value_metrics(ns_pipeline_output(steps, "eval.metrics"));
    const ns_metrics_value *mt = ns_value_metrics(ns_pipeline_output(train, "eval.metrics"));
    assert_non_null(ms);
    assert_non_null(mt);
    assert_int_equal(ms->task, NS_TASK_REGRESSION);
    assert_memory_equal(&ms->values, &mt->values, sizeof ms->values);
    /* what a loop passes on */
    const char *names[8];
    ns_value *values[8];
    assert_int_equal(ns_pipeline_outputs(steps, "epochs", names, values, 8), 3);
    assert_string_equal(names[0], "dataset");
    assert_string_equal(names[1], "model");
    assert_string_equal(names[2], "optimizer");
    assert_ptr_equal(values[1], ns_pipeline_output(steps, "epochs.model"));
    assert_int_equal(ns_pipeline_outputs(steps, "fwd", names, values, 8), -1); /* inner card */
    assert_int_equal(ns_pipeline_outputs(steps, "nope", names, values, 8), -1);
    assert_null(ns_pipeline_output(steps, "eval.nope"));
    assert_null(ns_pipeline_output(steps, "evalmetrics"));
    /* a pipeline runs once */
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(steps, NULL), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(f->ctx, "a pipeline runs once");
    ns_pipeline_free(steps);
    ns_pipeline_free(train);
    ns_pipeline_free(start);
}

#define WINE_HEAD                                                                                  \
    "pipeline: wine-steps\n"                                                                       \
    "seed: 7\n"                                                                                    \
    "cards:\n"                                                                                     \
    "  - {id: load, card: data_load, with: {name: wine}}\n"                                        \
    "  - {id: split, card: data_split, in: {dataset: load.dataset}, with: {train_ratio: 0.8, "     \
    "test_ratio: 0.2}}\n"                                                                          \
    "  - {id: norm, card: normalize, in: {train_dataset: split.train_dataset, test_dataset: "      \
    "split.test_dataset}}\n"                                                                       \
    "  - {id: define, card: model_define, with: {hidden_layers: [16, 8], activation: tanh, "       \
    "dropout: 0.1}}\n"                                                                             \
    "  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: "          \
    "split.input_size}}\n"                                                                         \
    "  - {id: optim, card: init_optimizer, in: {model: build.model}, with: {optimizer_type: sgd, " \
    "learning_rate: 0.05, momentum: 0.9}}\n"

static void test_wine_steps_equal_train_card(void **state)
{
    fixture *f = *state;
    static const char steps_text[] = WINE_HEAD
        "  - id: epochs\n"
        "    card: loop\n"
        "    with: {epochs: 3, batch_size: 16}\n"
        "    in: {dataset: norm.train_dataset, model: build.model, optimizer: optim.optimizer}\n"
        "    cards:\n"
        "      - {id: batch, card: prepare_batch, in: {dataset: epochs.dataset, batch_index: "
        "epochs.batch_index}}\n"
        "      - {id: zero, card: zero_grad, in: {optimizer: epochs.optimizer}}\n"
        "      - {id: fwd, card: forward, in: {model: epochs.model, batch_data: "
        "batch.batch_data}}\n"
        "      - {id: loss, card: calculate_loss, in: {predictions: fwd.predictions, batch_data: "
        "batch.batch_data}, with: {loss_type: cross_entropy}}\n"
        "      - {id: bwd, card: backward, in: {loss: loss.loss, model: fwd.model}}\n"
        "      - {id: step, card: optimizer_step, in: {optimizer: zero.optimizer, model: "
        "bwd.model}}\n"
        "  - {id: eval, card: evaluate, in: {model: epochs.model, dataset: norm.test_dataset}}\n";
    static const char train_text[] = WINE_HEAD
        "  - id: train\n"
        "    card: train\n"
        "    in: {model: build.model, optimizer: optim.optimizer, dataset: norm.train_dataset}\n"
        "    with: {epochs: 3, batch_size: 16, loss_type: cross_entropy}\n"
        "  - {id: eval, card: evaluate, in: {model: train.model, dataset: norm.test_dataset}}\n";
    ns_pipeline *steps = NULL, *train = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, steps_text, &steps));
    NS_ASSERT_OK(f->ctx, parse(f, train_text, &train));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(steps, NULL));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(train, NULL));
    assert_same_weights(steps, "epochs.model", train, "train.model");
    const ns_metrics_value *ms = ns_value_metrics(ns_pipeline_output(steps, "eval.metrics"));
    const ns_metrics_value *mt = ns_value_metrics(ns_pipeline_output(train, "eval.metrics"));
    assert_int_equal(ms->task, NS_TASK_CLASSIFICATION);
    assert_int_equal(ms->classes, 3);
    assert_non_null(ms->confusion);
    assert_memory_equal(&ms->values, &mt->values, sizeof ms->values);
    assert_memory_equal(ms->confusion, mt->confusion, 9 * sizeof(int64_t));
    ns_pipeline_free(steps);
    ns_pipeline_free(train);

    /* the loop body listed out of order runs in dependency order: the same weights */
    char *t = keep(f, strdup(steps_text));
    const char *first = strstr(steps_text, "      - {id: batch"),
               *eval = strstr(steps_text, "  - {id: eval");
    const char *lines[6];
    lines[0] = first;
    for (int i = 1; i < 6; i++)
        lines[i] = strchr(lines[i - 1], '\n') + 1;
    size_t at = (size_t)(first - steps_text);
    for (int i = 5; i >= 0; i--) {
        size_t len = (size_t)((i == 5 ? eval : lines[i + 1]) - lines[i]);
        memcpy(t + at, lines[i], len);
        at += len;
    }
    assert_ptr_equal(t + at, t + (eval - steps_text));
    NS_ASSERT_OK(f->ctx, parse(f, t, &steps));
    NS_ASSERT_OK(f->ctx, parse(f, train_text, &train));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(steps, NULL));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(train, NULL));
    assert_same_weights(steps, "epochs.model", train, "train.model");
    ns_pipeline_free(steps);
    ns_pipeline_free(train);
}

/* ---- events -------------------------------------------------------------------------------- */

typedef struct rec_event {
    ns_card_event_kind kind;
    char id[32];
    int depth;
    int64_t iteration, iterations;
    double seconds;
    char message[512];
} rec_event;

typedef struct event_log {
    rec_event top[64]; /* depth 0 */
    int n_top;
    int inner_started, inner_finished, inner_failed;
    rec_event inner_fail;               /* the first inner FAILED */
    atomic_int *cancel_after_iteration; /* set it at the first ITERATION (when non-NULL) */
} event_log;

static void on_event(void *ud, const ns_card_event *ev)
{
    event_log *log = ud;
    assert_non_null(ev->id);
    assert_non_null(ev->card);
    rec_event r = {.kind = ev->kind,
                   .depth = ev->depth,
                   .iteration = ev->iteration,
                   .iterations = ev->iterations,
                   .seconds = ev->seconds};
    snprintf(r.id, sizeof r.id, "%s", ev->id);
    if (ev->message != NULL)
        snprintf(r.message, sizeof r.message, "%s", ev->message);
    assert_true(ev->kind != NS_CARD_FAILED || ev->message != NULL);
    if (ev->depth == 0) {
        assert_true(log->n_top < 64);
        log->top[log->n_top++] = r;
    } else {
        log->inner_started += ev->kind == NS_CARD_STARTED;
        log->inner_finished += ev->kind == NS_CARD_FINISHED;
        if (ev->kind == NS_CARD_FAILED && log->inner_failed++ == 0)
            log->inner_fail = r;
    }
    if (ev->kind == NS_CARD_ITERATION && log->cancel_after_iteration != NULL)
        atomic_store(log->cancel_after_iteration, 1);
}

static void test_events(void **state)
{
    fixture *f = *state;
    const char *ov[] = {"epochs.epochs=2"};
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_pipeline, ov, 1, &p));
    event_log *log = calloc(1, sizeof *log);
    assert_non_null(log);
    ns_run_options o = {.on_event = on_event, .ud = log};
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(p, &o));
    /* started/finished for every top-level card in run order, iterations inside the loop's */
    int k = 0, n = ns_pipeline_card_count(p);
    for (int i = 0; i < n; i++) {
        const char *id = ns_pipeline_card_id(p, i);
        assert_true(k < log->n_top);
        assert_int_equal(log->top[k].kind, NS_CARD_STARTED);
        assert_string_equal(log->top[k].id, id);
        k++;
        if (strcmp(id, "epochs") == 0)
            for (int e = 1; e <= 2; e++, k++) {
                assert_int_equal(log->top[k].kind, NS_CARD_ITERATION);
                assert_string_equal(log->top[k].id, "epochs");
                assert_int_equal(log->top[k].iteration, e);
                assert_int_equal(log->top[k].iterations, 2);
                assert_true(log->top[k].seconds >= 0);
            }
        assert_int_equal(log->top[k].kind, NS_CARD_FINISHED);
        assert_string_equal(log->top[k].id, id);
        assert_true(log->top[k].seconds >= 0);
        k++;
    }
    assert_int_equal(k, log->n_top);
    /* every inner card of every batch of both epochs */
    int64_t rows = ns_dataset_rows(ns_value_dataset(ns_pipeline_output(p, "split.train_dataset")));
    int64_t batches = (rows + 31) / 32;
    assert_int_equal(log->inner_started, 2 * batches * 6);
    assert_int_equal(log->inner_finished, 2 * batches * 6);
    assert_int_equal(log->inner_failed, 0);
    ns_pipeline_free(p);
    free(log);
}

static void test_event_failed_at_run_time(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - {id: define, card: model_define, with: {hidden_layers: [4]}}\n"
                               "  - id: load\n" /* 4 */
                               "    card: data_load\n"
                               "    with: {path: no/such/file.csv}\n"
                               "  - {id: split, card: data_split, in: {dataset: load.dataset}}\n";
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, text, &p));
    event_log *log = calloc(1, sizeof *log);
    assert_non_null(log);
    ns_run_options o = {.on_event = on_event, .ud = log};
    ns_status st = ns_pipeline_run(p, &o);
    assert_true(st != NS_OK);
    NS_ASSERT_MSG_HAS(f->ctx, "pipe.yaml:4: data_load 'load' failed: ");
    NS_ASSERT_MSG_HAS(f->ctx, "no/such/file.csv");
    /* define ran; load started and failed; split never started */
    assert_int_equal(log->n_top, 4);
    assert_int_equal(log->top[0].kind, NS_CARD_STARTED);
    assert_string_equal(log->top[0].id, "define");
    assert_int_equal(log->top[1].kind, NS_CARD_FINISHED);
    assert_int_equal(log->top[2].kind, NS_CARD_STARTED);
    assert_string_equal(log->top[2].id, "load");
    assert_int_equal(log->top[3].kind, NS_CARD_FAILED);
    assert_string_equal(log->top[3].id, "load");
    assert_string_equal(log->top[3].message, ns_errmsg(f->ctx));
    /* what was made stays readable */
    assert_non_null(ns_pipeline_output(p, "define.model_spec"));
    assert_null(ns_pipeline_output(p, "load.dataset"));
    ns_pipeline_free(p);
    free(log);

    /* a card inside a loop fails: it names itself, and the loop fails with its message */
    char *t = replace(f, issue_pipeline, "{loss_type: mse}", "{loss_type: cross_entropy}");
    NS_ASSERT_OK(f->ctx, parse(f, t, &p));
    log = calloc(1, sizeof *log);
    assert_non_null(log);
    o.ud = log;
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "pipe.yaml:28: calculate_loss 'loss' failed: cross_entropy needs "
                              "class labels");
    assert_int_equal(log->inner_failed, 1);
    assert_string_equal(log->inner_fail.id, "loss");
    assert_int_equal(log->inner_fail.depth, 1);
    rec_event *last = &log->top[log->n_top - 1];
    assert_int_equal(last->kind, NS_CARD_FAILED);
    assert_string_equal(last->id, "epochs");
    assert_string_equal(last->message, ns_errmsg(f->ctx));
    ns_pipeline_free(p);
    free(log);
}

/* ---- cancellation ------------------------------------------------------------------------------
 */

static bool stop_at_third(void *ud, const char *stage, double done, double total)
{
    int *calls = ud;
    assert_non_null(stage);
    assert_true(done <= total);
    return ++*calls < 3;
}

static void test_cancellation(void **state)
{
    fixture *f = *state;
    const char *ov[] = {"epochs.epochs=3"};
    /* set before the run: nothing runs */
    atomic_int cancel = 1;
    ns_progress pr = {.cancel = &cancel};
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_pipeline, ov, 1, &p));
    event_log *log = calloc(1, sizeof *log);
    assert_non_null(log);
    ns_run_options o = {.on_event = on_event, .ud = log, .progress = &pr};
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_CANCELLED);
    assert_null(ns_pipeline_output(p, "load.dataset"));
    ns_pipeline_free(p);

    /* set during the run (after the first epoch) */
    atomic_store(&cancel, 0);
    memset(log, 0, sizeof *log);
    log->cancel_after_iteration = &cancel;
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_pipeline, ov, 1, &p));
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_CANCELLED);
    int iterations = 0;
    for (int i = 0; i < log->n_top; i++)
        iterations += log->top[i].kind == NS_CARD_ITERATION;
    assert_int_equal(iterations, 1);
    assert_int_equal(log->top[log->n_top - 1].kind, NS_CARD_FAILED);
    assert_string_equal(log->top[log->n_top - 1].id, "epochs");
    ns_pipeline_free(p);

    /* the progress function says stop */
    int calls = 0;
    ns_progress pf = {.fn = stop_at_third, .ud = &calls};
    o = (ns_run_options){.progress = &pf};
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_pipeline, ov, 1, &p));
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_CANCELLED);
    assert_int_equal(calls, 3);
    ns_pipeline_free(p);
    free(log);
}

/* ---- application cards --------------------------------------------------------------------- */

static const ns_port_def count_in[] = {{"dataset", NS_VALUE_DATASET, false, "the rows"}};
static const ns_port_def count_out[] = {{"rows", NS_VALUE_INTEGER, false, "how many rows"}};
static const ns_setting_def count_settings[] = {
    {"plus", NS_SETTING_INT, "0", NULL, "added to the count", -1000, 1000},
};

static ns_status count_run(ns_card_call *c)
{
    ns_dataset *ds = ns_value_dataset(ns_card_in(c, "dataset"));
    if (ds == NULL)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID, "no dataset");
    return ns_card_out_integer(c, "rows", ns_dataset_rows(ds) + ns_card_int(c, "plus"));
}

static ns_status count_check(ns_card_call *c)
{
    if (ns_card_int(c, "plus") == 13)
        return ns_errorf(ns_card_ctx(c), NS_ERR_INVALID, "plus must not be 13");
    return NS_OK;
}

static const ns_card_def count_card = {
    "count_rows",   "Count Rows: the rows of a dataset",
    count_in,       1,
    count_out,      1,
    count_settings, 1,
    count_run,      count_check,
    false,          false,
};

/* A card that forgets its output. */
static ns_status lazy_run(ns_card_call *c)
{
    (void)c;
    return NS_OK;
}
static const ns_card_def lazy_card = {
    "lazy", "makes nothing", count_in, 1, count_out, 1, NULL, 0, lazy_run, NULL, false, false,
};

static void test_card_register(void **state)
{
    fixture *f = *state;
    int n0 = ns_cards_count(f->cards);
    NS_ASSERT_OK(f->ctx, ns_card_register(f->cards, &count_card));
    NS_ASSERT_OK(f->ctx, ns_card_register(f->cards, &lazy_card));
    assert_int_equal(ns_cards_count(f->cards), n0 + 2);
    assert_ptr_equal(ns_cards_find(f->cards, "count_rows"), &count_card);
    assert_ptr_equal(ns_cards_get(f->cards, n0), &count_card);
    assert_null(ns_cards_get(f->cards, n0 + 2));

    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - {id: load, card: data_load, with: {name: iris}}\n"
                               "  - {id: split, card: data_split, in: {dataset: load.dataset}}\n"
                               "  - id: count\n" /* 5 */
                               "    card: count_rows\n"
                               "    in: {dataset: split.train_dataset}\n"
                               "    with: {plus: 2}\n"; /* 8 */
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, text, &p));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(p, NULL));
    int64_t rows = -1;
    ns_value *v = ns_pipeline_output(p, "count.rows");
    assert_int_equal(ns_value_get_kind(v), NS_VALUE_INTEGER);
    assert_true(ns_value_integer(v, &rows));
    int64_t train_rows =
        ns_dataset_rows(ns_value_dataset(ns_pipeline_output(p, "split.train_dataset")));
    assert_true(train_rows > 0);
    assert_int_equal(rows, train_rows + 2);
    assert_false(ns_value_integer(ns_pipeline_output(p, "split.train_dataset"), &rows));
    ns_pipeline_free(p);

    /* its settings are checked like a built-in card's, and its check runs before anything */
    char *t = replace(f, text, "{plus: 2}", "{plus: 2000}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:8: count_rows 'count' setting 'plus' is 2000");
    t = replace(f, text, "{plus: 2}", "{plsu: 2}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:8: count_rows 'count' has no setting 'plsu' (did you mean 'plus'?)");
    t = replace(f, text, "{plus: 2}", "{plus: 13}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:8: count_rows 'count' plus must not be 13");
    t = replace(f, text, "{dataset: split.train_dataset}", "{dataset: split.input_size}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:7: count_rows 'count' needs a dataset on 'dataset', but "
                 "'split.input_size' is a data_shape");

    /* a card that makes no output fails at run time, naming itself */
    t = replace(f, text, "card: count_rows", "card: lazy");
    char *t2 = replace(f, t, "    with: {plus: 2}\n", "");
    NS_ASSERT_OK(f->ctx, parse(f, t2, &p));
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, NULL), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(f->ctx, "pipe.yaml:5: lazy 'count' failed: made no 'rows' output");
    ns_pipeline_free(p);

    /* duplicates and malformed definitions */
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &count_card), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "a card named 'count_rows' exists");
    ns_card_def d = count_card;
    d.name = "train";
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &d), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "a card named 'train' exists");
    d.name = "Count Rows";
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &d), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "a card needs a name");
    d.name = NULL;
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &d), NS_ERR_INVALID);
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, NULL), NS_ERR_INVALID);
    d = count_card;
    d.name = "no_run";
    d.run = NULL;
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &d), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "card 'no_run' needs a run function");
    static const ns_port_def bad_port[] = {{"rows", NS_VALUE_NONE, false, "no kind"}};
    d = count_card;
    d.name = "bad_port";
    d.outputs = bad_port;
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &d), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "card 'bad_port' has a port without a valid name and kind");
    static const ns_setting_def bad_setting[] = {
        {"plus", NS_SETTING_INT, "{not json", NULL, "", 0, 0},
    };
    d = count_card;
    d.name = "bad_setting";
    d.settings = bad_setting;
    NS_ASSERT_STATUS(f->ctx, ns_card_register(f->cards, &d), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "card 'bad_setting' setting 0 needs a name and a JSON default");
    assert_int_equal(ns_cards_count(f->cards), n0 + 2);
    assert_null(ns_cards_find(f->cards, "no_run"));
}

/* ---- the palette --------------------------------------------------------------------------- */

static void test_palette_json(void **state)
{
    fixture *f = *state;
    NS_ASSERT_OK(f->ctx, ns_card_register(f->cards, &count_card));
    char *text = NULL;
    NS_ASSERT_OK(f->ctx, ns_cards_to_json(f->cards, &text));
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    if (root == NULL)
        fprintf(stderr, "palette is not JSON: %s (line %d)\n", e.text, e.line);
    assert_non_null(root);
    ns_dealloc(f->ctx, text);
    json_t *kinds = json_object_get(root, "kinds");
    assert_true(json_is_object(kinds));
    assert_int_equal(json_object_size(kinds), NS_VALUE_KIND_COUNT - 1);
    assert_string_equal(json_string_value(json_object_get(kinds, "model")),
                        ns_value_kind_doc(NS_VALUE_MODEL));
    json_t *cards = json_object_get(root, "cards");
    assert_true(json_is_array(cards));
    assert_int_equal(json_array_size(cards), (size_t)ns_cards_count(f->cards));

    static const char *const builtin[] = {
        "data_load",      "data_split",     "normalize",  "model_define", "build_model",
        "init_optimizer", "prepare_batch",  "zero_grad",  "forward",      "calculate_loss",
        "backward",       "optimizer_step", "train",      "evaluate",     "inference",
        "save_model",     "loop",           "count_rows",
    };
    for (size_t b = 0; b < sizeof builtin / sizeof builtin[0]; b++) {
        const ns_card_def *d = ns_cards_find(f->cards, builtin[b]);
        if (d == NULL)
            fprintf(stderr, "no card '%s'\n", builtin[b]);
        assert_non_null(d);
        json_t *c = NULL, *it;
        size_t i;
        json_array_foreach(cards, i, it)
        {
            if (strcmp(json_string_value(json_object_get(it, "card")), builtin[b]) == 0)
                c = it;
        }
        if (c == NULL)
            fprintf(stderr, "the palette has no card '%s'\n", builtin[b]);
        assert_non_null(c);
        assert_true(json_is_string(json_object_get(c, "description")));
        assert_true(json_is_boolean(json_object_get(c, "loop")));
        assert_int_equal(json_is_true(json_object_get(c, "loop")), d->is_loop);
        json_t *in = json_object_get(c, "inputs"), *out = json_object_get(c, "outputs");
        assert_true(json_is_array(in));
        assert_true(json_is_array(out));
        assert_int_equal(json_array_size(in), (size_t)d->n_inputs);
        assert_int_equal(json_array_size(out), (size_t)d->n_outputs);
        for (int k = 0; k < d->n_inputs; k++) {
            json_t *port = json_array_get(in, (size_t)k);
            assert_string_equal(json_string_value(json_object_get(port, "name")),
                                d->inputs[k].name);
            assert_string_equal(json_string_value(json_object_get(port, "kind")),
                                ns_value_kind_name(d->inputs[k].kind));
            assert_int_equal(json_is_true(json_object_get(port, "required")),
                             !d->inputs[k].optional);
        }
        for (int k = 0; k < d->n_outputs; k++) {
            json_t *port = json_array_get(out, (size_t)k);
            assert_string_equal(json_string_value(json_object_get(port, "name")),
                                d->outputs[k].name);
            assert_string_equal(json_string_value(json_object_get(port, "kind")),
                                ns_value_kind_name(d->outputs[k].kind));
        }
        json_t *settings = json_object_get(c, "settings");
        assert_string_equal(json_string_value(json_object_get(settings, "type")), "object");
        json_t *props = json_object_get(settings, "properties");
        assert_true(json_is_object(props));
        assert_int_equal(json_object_size(props), (size_t)d->n_settings + 2);
        for (int k = 0; k < d->n_settings; k++) {
            json_t *s = json_object_get(props, d->settings[k].name);
            if (s == NULL)
                fprintf(stderr, "%s: no setting %s\n", d->name, d->settings[k].name);
            assert_non_null(s);
            if (d->settings[k].choices != NULL)
                assert_true(json_array_size(json_object_get(s, "enum")) >= 1);
        }
        assert_non_null(json_object_get(props, "execution"));
        assert_non_null(json_object_get(props, "device"));
        assert_true(json_is_array(json_object_get(settings, "required")));
    }
    /* details of one card */
    json_t *save = NULL, *it;
    size_t i;
    json_array_foreach(cards, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "card")), "save_model") == 0)
            save = it;
    }
    json_t *req = json_object_get(json_object_get(save, "settings"), "required");
    assert_int_equal(json_array_size(req), 1);
    assert_string_equal(json_string_value(json_array_get(req, 0)), "path");
    json_t *count = json_array_get(cards, json_array_size(cards) - 1);
    json_t *plus =
        json_object_get(json_object_get(json_object_get(count, "settings"), "properties"), "plus");
    assert_string_equal(json_string_value(json_object_get(plus, "type")), "integer");
    assert_int_equal(json_integer_value(json_object_get(plus, "default")), 0);
    assert_true(json_real_value(json_object_get(plus, "minimum")) == -1000.0);
    json_decref(root);
}

/* ---- the state directory ----------------------------------------------------------------------
 */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_state_dir_restart(void **state)
{
    fixture *f = *state;
    char tmp[] = "/tmp/ns_pipeline_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char sdir[128], save_ov[160], empty[128];
    snprintf(sdir, sizeof sdir, "%s/state", tmp);
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    snprintf(save_ov, sizeof save_ov, "save.path=%s/model.safetensors", tmp);
    const char *ov[] = {"epochs.epochs=2", save_ov};
    const char *path = NS_SOURCE_DIR "/examples/pipelines/boston_steps.yaml";

    ns_pipeline *first = NULL, *p = NULL;
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &first));
    ns_run_options o = {.state_dir = sdir};
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(first, &o));
    char probe[256];
    snprintf(probe, sizeof probe, "%s/epochs/outputs.json", sdir);
    assert_int_equal(access(probe, R_OK), 0);
    snprintf(probe, sizeof probe, "%s/build/model.safetensors", sdir);
    assert_int_equal(access(probe, R_OK), 0);

    /* from the evaluation: everything before is read back, the trained model included */
    event_log *log = calloc(1, sizeof *log);
    assert_non_null(log);
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &p));
    o = (ns_run_options){.state_dir = sdir, .from = "eval", .on_event = on_event, .ud = log};
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(p, &o));
    assert_same_weights(first, "epochs.model", p, "epochs.model");
    assert_same_weights(first, "epochs.model", p, "build.model");
    const ns_metrics_value *m1 = ns_value_metrics(ns_pipeline_output(first, "eval.metrics"));
    const ns_metrics_value *m2 = ns_value_metrics(ns_pipeline_output(p, "eval.metrics"));
    assert_memory_equal(&m1->values, &m2->values, sizeof m1->values);
    int skipped = 0;
    for (int i = 0; i < log->n_top; i++) {
        if (log->top[i].kind == NS_CARD_SKIPPED)
            assert_string_equal(log->top[i].id, ns_pipeline_card_id(p, skipped++));
        else
            assert_true(i >= skipped);
    }
    assert_int_equal(skipped, 7); /* load split norm define build optim epochs */
    assert_string_equal(ns_pipeline_card_id(p, 7), "eval");
    ns_pipeline_free(p);
    free(log);

    /* from the loop: the model and optimizer as they were before training, trained again */
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &p));
    o = (ns_run_options){.state_dir = sdir, .from = "epochs"};
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(p, &o));
    assert_same_weights(first, "epochs.model", p, "epochs.model");
    /* and the optimizer is bound to that same model */
    ns_value *ov_opt = ns_pipeline_output(p, "epochs.optimizer");
    assert_non_null(ov_opt);
    assert_string_equal(ns_value_object(ov_opt), "optim");
    ns_pipeline_free(p);

    /* refused: a card inside a loop, no state directory, an unknown card, an empty directory */
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &p));
    o = (ns_run_options){.state_dir = sdir, .from = "fwd"};
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_INVALID);
    assert_string_equal(ns_errmsg(f->ctx),
                        "--from fwd: the card is inside loop 'epochs'; restart from the loop");
    ns_pipeline_free(p);
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &p));
    o = (ns_run_options){.from = "eval"};
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "--from eval needs --state DIR");
    ns_pipeline_free(p);
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &p));
    o = (ns_run_options){.state_dir = sdir, .from = "evl"};
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(f->ctx, "has no card 'evl'");
    ns_pipeline_free(p);
    NS_ASSERT_OK(f->ctx, ns_pipeline_load(f->cards, path, ov, 2, &p));
    o = (ns_run_options){.state_dir = empty, .from = "eval"};
    NS_ASSERT_STATUS(f->ctx, ns_pipeline_run(p, &o), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(f->ctx, "is missing or unreadable");
    NS_ASSERT_MSG_HAS(f->ctx, "run the pipeline with --state");
    ns_pipeline_free(p);

    ns_pipeline_free(first);
    rm_tree(tmp);
}

/* "a optimizer", "a integer": the kind names need their article. */
/* ---- one card alone over files --------------------------------------------------------------- */

static void test_card_run_files(void **state)
{
    fixture *f = *state;
    char tmp[] = "/tmp/ns_card_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char out[128], path[192];
    snprintf(out, sizeof out, "%s/define", tmp);
    NS_ASSERT_OK(f->ctx, ns_card_run_files(f->cards, "model_define", NULL, NULL, 0,
                                           "{\"hidden_layers\": [4, 2]}", out, NULL));
    snprintf(path, sizeof path, "%s/outputs.json", out);
    json_error_t e;
    json_t *man = json_load_file(path, 0, &e);
    assert_non_null(man);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(man, "model_spec"), "kind")),
        "model_spec");
    json_decref(man);
    /* a spec file in, a built model out */
    const char *in_names[] = {"model_spec"};
    char spec[192];
    snprintf(spec, sizeof spec, "%s/model_spec.json", out);
    const char *in_paths[] = {spec};
    snprintf(out, sizeof out, "%s/build", tmp);
    NS_ASSERT_OK(f->ctx, ns_card_run_files(f->cards, "build_model", in_names, in_paths, 1,
                                           "{\"input_size\": 3, \"output_size\": 1}", out, NULL));
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    assert_int_equal(access(path, R_OK), 0);
    /* errors */
    NS_ASSERT_STATUS(f->ctx, ns_card_run_files(f->cards, "froward", NULL, NULL, 0, NULL, out, NULL),
                     NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(f->ctx, "no card 'froward' (did you mean 'forward'?)");
    NS_ASSERT_STATUS(f->ctx, ns_card_run_files(f->cards, "loop", NULL, NULL, 0, NULL, out, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "runs only inside a pipeline");
    NS_ASSERT_STATUS(f->ctx, ns_card_run_files(f->cards, "forward", NULL, NULL, 0, NULL, out, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "card forward needs --in model=FILE (a model)");
    NS_ASSERT_STATUS(f->ctx,
                     ns_card_run_files(f->cards, "model_define", NULL, NULL, 0, "[1]", out, NULL),
                     NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(f->ctx, "the settings must be a JSON object");
    NS_ASSERT_STATUS(f->ctx,
                     ns_card_run_files(f->cards, "model_define", NULL, NULL, 0,
                                       "{\"hiden_layers\": [4]}", out, NULL),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "hiden_layers");
    NS_ASSERT_MSG_HAS(f->ctx, "did you mean 'hidden_layers'?");
    const char *bad_names[] = {"modl"};
    NS_ASSERT_STATUS(
        f->ctx, ns_card_run_files(f->cards, "forward", bad_names, in_paths, 1, NULL, out, NULL),
        NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "card forward has no input 'modl'");
    rm_tree(tmp);
}

/* ---- the run order -----------------------------------------------------------------------------
 */

static void test_run_order(void **state)
{
    fixture *f = *state;
    static const char text[] =
        "pipeline: backwards\n"
        "cards:\n"
        "  - {id: ev, card: evaluate, in: {model: build.model, dataset: split.test_dataset}}\n"
        "  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: "
        "split.input_size}}\n"
        "  - {id: split, card: data_split, in: {dataset: load.dataset}}\n"
        "  - {id: define, card: model_define, with: {hidden_layers: [8]}}\n"
        "  - {id: load, card: data_load, with: {name: iris}}\n"
        "  - {id: alone, card: model_define, with: {hidden_layers: [2]}}\n";
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, text, &p));
    /* stable: the first card in file order whose inputs are ready */
    static const char *const want[] = {"define", "load", "split", "build", "ev", "alone"};
    assert_int_equal(ns_pipeline_card_count(p), 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(ns_pipeline_card_id(p, i), want[i]);
    event_log *log = calloc(1, sizeof *log);
    assert_non_null(log);
    ns_run_options o = {.on_event = on_event, .ud = log};
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(p, &o));
    assert_int_equal(log->n_top, 12);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(log->top[2 * i].id, want[i]);
        assert_int_equal(log->top[2 * i].kind, NS_CARD_STARTED);
        assert_string_equal(log->top[2 * i + 1].id, want[i]);
        assert_int_equal(log->top[2 * i + 1].kind, NS_CARD_FINISHED);
    }
    assert_non_null(ns_value_metrics(ns_pipeline_output(p, "ev.metrics")));
    ns_pipeline_free(p);
    free(log);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_issue_pipeline_equals_train_card),
        T(test_wine_steps_equal_train_card),
        T(test_events),
        T(test_event_failed_at_run_time),
        T(test_cancellation),
        T(test_card_register),
        T(test_palette_json),
        T(test_state_dir_restart),
        T(test_card_run_files),
        T(test_run_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
