/* Shared by the pipeline tests: a fixture (a context with a counting allocator and the
 * built-in cards), parse-and-expect helpers, and the pipelines they edit. */
#ifndef NETSMITH_TESTS_PIPELINE_FIXTURE_H
#define NETSMITH_TESTS_PIPELINE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- fixture: a context with a counting allocator and the built-in cards ------------------- */

typedef struct fixture {
    ns_test_alloc ta;
    ns_ctx *ctx;
    ns_cards *cards;
    char *texts[32]; /* made by replace and join, freed at teardown (also after a failure) */
    int n_texts;
} fixture;

static __attribute__((unused)) int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    ns_allocator a = ns_test_allocator(&f->ta);
    if (ns_ctx_new(&a, &f->ctx) != NS_OK || ns_cards_new(f->ctx, &f->cards) != NS_OK)
        return -1;
    *state = f;
    return 0;
}

static __attribute__((unused)) int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < f->n_texts; i++)
        free(f->texts[i]);
    ns_cards_free(f->cards);
    ns_ctx_free(f->ctx);
    long live = f->ta.live;
    free(f);
    if (live != 0) {
        fprintf(stderr, "teardown: %ld blocks allocated through the context were not freed\n",
                live);
        return -1;
    }
    return 0;
}

static __attribute__((unused)) ns_status parse_ov(fixture *f, const char *text,
                                                  const char *const *ov, int n_ov, ns_pipeline **p)
{
    return ns_pipeline_parse(f->cards, text, strlen(text), "pipe.yaml", ov, n_ov, p);
}

static __attribute__((unused)) ns_status parse(fixture *f, const char *text, ns_pipeline **p)
{
    return parse_ov(f, text, NULL, 0, p);
}

/* Parsing fails with `want` and the message holds every needle (NULL-terminated). */
static __attribute__((unused)) void expect_error_at(fixture *f, const char *text,
                                                    const char *const *ov, int n_ov, ns_status want,
                                                    const char *const *needles, const char *file,
                                                    int line)
{
    ns_pipeline *p = (ns_pipeline *)&p; /* must be reset to NULL */
    ns_status st = parse_ov(f, text, ov, n_ov, &p);
    if (st == NS_OK)
        ns_pipeline_free(p);
    ns_test_assert_status(f->ctx, st, want, "ns_pipeline_parse", file, line);
    if (p != NULL) {
        fprintf(stderr, "%s:%d: a failed parse left *out set\n", file, line);
        fail();
    }
    for (int i = 0; needles[i] != NULL; i++)
        ns_test_assert_msg_has(f->ctx, needles[i], file, line);
}

#define EXPECT_ERROR(f, text, want, ...)                                                           \
    expect_error_at((f), (text), NULL, 0, (want), (const char *const[]){__VA_ARGS__, NULL},        \
                    __FILE__, __LINE__)
#define EXPECT_ERROR_OV(f, text, ov, n_ov, want, ...)                                              \
    expect_error_at((f), (text), (ov), (n_ov), (want), (const char *const[]){__VA_ARGS__, NULL},   \
                    __FILE__, __LINE__)
/* The whole message, word for word. */
#define EXPECT_MESSAGE(f, text, want, msg)                                                         \
    do {                                                                                           \
        EXPECT_ERROR((f), (text), (want), (msg));                                                  \
        assert_string_equal(ns_errmsg((f)->ctx), (msg));                                           \
    } while (0)

static __attribute__((unused)) char *keep(fixture *f, char *text)
{
    assert_non_null(text);
    assert_true(f->n_texts < 32);
    f->texts[f->n_texts++] = text;
    return text;
}

/* text with `from` (which must occur exactly once) replaced by `to`; freed at teardown. */
static __attribute__((unused)) char *replace(fixture *f, const char *text, const char *from,
                                             const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    assert_null(strstr(at + 1, from));
    size_t n = strlen(text) - strlen(from) + strlen(to);
    char *out = keep(f, malloc(n + 1));
    snprintf(out, n + 1, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

/* a followed by b; freed at teardown. */
static __attribute__((unused)) char *join(fixture *f, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *out = keep(f, malloc(n));
    snprintf(out, n, "%s%s", a, b);
    return out;
}

/* ---- the issue's pipeline, word for word ------------------------------------------------------
 */

/* Lines: 3 load, 6 split, 10 define, 13 build, 16 optim (18: its in), 20 epochs (22: with,
 * 23: in, 24: cards, 25-30: batch zero fwd loss bwd step), 31 eval (33: its in). */
#define ISSUE_HEAD                                                                                 \
    "pipeline: boston-steps\n"                                                                     \
    "cards:\n"                                                                                     \
    "  - id: load\n"                                                                               \
    "    card: data_load\n"                                                                        \
    "    with: {source: builtin, name: boston_housing, target: MEDV}\n"                            \
    "  - id: split\n"                                                                              \
    "    card: data_split\n"                                                                       \
    "    in: {dataset: load.dataset}\n"                                                            \
    "    with: {train_ratio: 0.8, test_ratio: 0.2, random_seed: 42}\n"                             \
    "  - id: define\n"                                                                             \
    "    card: model_define\n"                                                                     \
    "    with: {hidden_layers: [128, 64, 32], activation: relu, dropout: 0.2}\n"                   \
    "  - id: build\n"                                                                              \
    "    card: build_model\n"                                                                      \
    "    in: {model_spec: define.model_spec, input_size: split.input_size}\n"                      \
    "  - id: optim\n"                                                                              \
    "    card: init_optimizer\n"                                                                   \
    "    in: {model: build.model}\n"                                                               \
    "    with: {optimizer_type: adam, learning_rate: 0.001, weight_decay: 0}\n"

static const char issue_pipeline[] __attribute__((unused)) = ISSUE_HEAD
    "  - id: epochs\n"
    "    card: loop\n"
    "    with: {epochs: 50, over: batches, batch_size: 32}\n"
    "    in: {dataset: split.train_dataset, model: build.model, optimizer: optim.optimizer}\n"
    "    cards:\n"
    "      - {id: batch, card: prepare_batch, in: {dataset: epochs.dataset, batch_index: "
    "epochs.batch_index}}\n"
    "      - {id: zero, card: zero_grad, in: {optimizer: epochs.optimizer}}\n"
    "      - {id: fwd, card: forward, in: {model: epochs.model, batch_data: batch.batch_data}}\n"
    "      - {id: loss, card: calculate_loss, in: {predictions: fwd.predictions, batch_data: "
    "batch.batch_data}, with: {loss_type: mse}}\n"
    "      - {id: bwd, card: backward, in: {loss: loss.loss, model: fwd.model}}\n"
    "      - {id: step, card: optimizer_step, in: {optimizer: zero.optimizer, model: bwd.model}, "
    "with: {gradient_clip: 1.0}}\n"
    "  - id: eval\n"
    "    card: evaluate\n"
    "    in: {model: epochs.model, dataset: split.test_dataset}\n";

/* The same with the six step cards (and their loop) replaced by one Train card. */
static const char issue_train_pipeline[] __attribute__((unused)) = ISSUE_HEAD
    "  - id: train\n"
    "    card: train\n"
    "    in: {model: build.model, optimizer: optim.optimizer, dataset: split.train_dataset}\n"
    "    with: {epochs: 50, batch_size: 32, loss_type: mse, gradient_clip: 1.0}\n"
    "  - id: eval\n"
    "    card: evaluate\n"
    "    in: {model: train.model, dataset: split.test_dataset}\n";

/* A small valid pipeline with block mappings, so that every key has its own line. */
static const char small_pipeline[] __attribute__((unused)) =
    "pipeline: small\n" /* 1 */
    "cards:\n"          /* 2 */
    "  - id: load\n"    /* 3 */
    "    card: data_load\n"
    "    with:\n" /* 5 */
    "      name: boston_housing\n"
    "      target: MEDV\n" /* 7 */
    "  - id: split\n"      /* 8 */
    "    card: data_split\n"
    "    in:\n"                     /* 10 */
    "      dataset: load.dataset\n" /* 11 */
    "    with:\n"                   /* 12 */
    "      train_ratio: 0.8\n"      /* 13 */
    "      test_ratio: 0.2\n"       /* 14 */
    "  - id: define\n"              /* 15 */
    "    card: model_define\n"
    "    with:\n" /* 17 */
    "      hidden_layers: [8]\n"
    "      activation: relu\n" /* 19 */
    "  - id: build\n"          /* 20 */
    "    card: build_model\n"
    "    in:\n"                             /* 22 */
    "      model_spec: define.model_spec\n" /* 23 */
    "      input_size: split.input_size\n"  /* 24 */
    "  - id: optim\n"                       /* 25 */
    "    card: init_optimizer\n"            /* 26 */
    "    in:\n"                             /* 27 */
    "      model: build.model\n"            /* 28 */
    "    with:\n"                           /* 29 */
    "      optimizer_type: adam\n"          /* 30 */
    "      learning_rate: 0.01\n";          /* 31 */

#endif
