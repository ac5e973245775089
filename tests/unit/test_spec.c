/* Model specs: both forms, defaults, canonical printing round trips, clone, expand, error
 * messages for bad specs, file loading and allocation-failure injection. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_private.h"
#include "testutil.h"

#define SPEC_DIR NS_SOURCE_DIR "/examples/specs"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns_spec *parse_ok(ns_ctx *ctx, const char *json)
{
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec));
    assert_non_null(spec);
    return spec;
}

/* The canonical text of a spec; the caller frees it with ns_dealloc(ctx, text). */
static char *print_ok(ns_ctx *ctx, const ns_spec *spec)
{
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_spec_to_json(spec, &text));
    assert_non_null(text);
    return text;
}

static void assert_train_equal(const ns_train_settings *a, const ns_train_settings *b)
{
    assert_true(a->learning_rate == b->learning_rate);
    assert_int_equal(a->epochs, b->epochs);
    assert_int_equal(a->batch_size, b->batch_size);
    assert_string_equal(a->optimizer, b->optimizer);
    assert_string_equal(a->loss, b->loss);
    assert_true(a->weight_decay == b->weight_decay);
    assert_int_equal(a->task, b->task);
}

/* Every field that parsing sets, compared exactly (doubles with ==: they must round-trip). */
static void assert_spec_equal(const ns_spec *a, const ns_spec *b)
{
    assert_int_equal(a->form, b->form);
    assert_string_equal(a->model_type, b->model_type);
    assert_int_equal(a->n_hidden, b->n_hidden);
    for (int i = 0; i < a->n_hidden; i++)
        assert_int_equal(a->hidden[i], b->hidden[i]);
    assert_int_equal(a->activation, b->activation);
    assert_int_equal(a->activation_tanh_approx, b->activation_tanh_approx);
    assert_true(a->dropout == b->dropout);
    assert_int_equal(a->output_size, b->output_size);
    assert_int_equal(a->input_ndim, b->input_ndim);
    for (int i = 0; i < a->input_ndim; i++)
        assert_int_equal(a->input_shape[i], b->input_shape[i]);
    assert_int_equal(a->n_layers, b->n_layers);
    if (a->n_layers > 0)
        assert_memory_equal(a->layers, b->layers, (size_t)a->n_layers * sizeof *a->layers);
    assert_train_equal(&a->training, &b->training);
}

/* print -> parse -> print gives the same bytes and the same spec; returns the first print. */
static char *assert_round_trip(ns_ctx *ctx, const ns_spec *spec, const char *what)
{
    char *first = print_ok(ctx, spec);
    size_t n = strlen(first);
    assert_true(n > 2 && first[n - 1] == '\n' && first[n - 2] != '\n');
    ns_spec *again = NULL;
    ns_status st = ns_spec_parse(ctx, first, n, "canonical", &again);
    if (st != NS_OK)
        fprintf(stderr, "%s: canonical text does not parse: %s\n%s", what, ns_errmsg(ctx), first);
    assert_int_equal(st, NS_OK);
    char *second = print_ok(ctx, again);
    if (strcmp(first, second) != 0)
        fprintf(stderr, "%s: canonical print differs:\n%s---\n%s", what, first, second);
    assert_string_equal(first, second);
    assert_spec_equal(spec, again);
    ns_dealloc(ctx, second);
    ns_spec_free(again);
    return first;
}

/* ---- names and defaults --------------------------------------------------------------------- */

static void test_layer_kind_names(void **state)
{
    (void)state;
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++) {
        const char *name = ns_layer_kind_name((ns_layer_kind)k);
        assert_non_null(name);
        ns_layer_kind back = NS_LAYER_KIND_COUNT;
        assert_int_equal(ns_layer_kind_parse(name, &back), NS_OK);
        assert_int_equal(back, k);
    }
    assert_string_equal(ns_layer_kind_name(NS_LAYER_BATCHNORM1D), "batchnorm1d");
    assert_null(ns_layer_kind_name(NS_LAYER_KIND_COUNT));
    assert_null(ns_layer_kind_name((ns_layer_kind)-1));
    ns_layer_kind k;
    assert_int_equal(ns_layer_kind_parse("conv3d", &k), NS_ERR_NOTFOUND);
    assert_int_equal(ns_layer_kind_parse("Linear", &k), NS_ERR_NOTFOUND);
    assert_int_equal(ns_layer_kind_parse(NULL, &k), NS_ERR_NOTFOUND);
}

static void test_layer_spec_defaults(void **state)
{
    (void)state;
    ns_layer_spec ls;
    ns_layer_spec_default(&ls, NS_LAYER_LINEAR);
    assert_int_equal(ls.kind, NS_LAYER_LINEAR);
    assert_int_equal(ls.units, 0);
    assert_true(ls.bias);
    ns_layer_spec_default(&ls, NS_LAYER_LEAKY_RELU);
    assert_true(ls.alpha == 0.01);
    ns_layer_spec_default(&ls, NS_LAYER_ELU);
    assert_true(ls.alpha == 1.0);
    ns_layer_spec_default(&ls, NS_LAYER_GELU);
    assert_false(ls.tanh_approx);
    ns_layer_spec_default(&ls, NS_LAYER_DROPOUT);
    assert_true(ls.p == 0.5);
    ns_layer_spec_default(&ls, NS_LAYER_BATCHNORM1D);
    assert_true(ls.eps == 1e-5);
    assert_true(ls.momentum == 0.1);
    assert_true(ls.affine);
    ns_layer_spec_default(&ls, NS_LAYER_LAYERNORM);
    assert_true(ls.eps == 1e-5);
    assert_true(ls.affine);
}

/* ---- the short form ------------------------------------------------------------------------- */

static void test_short_form_seed(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_load(ctx, SPEC_DIR "/seed.json", &spec));
    assert_int_equal(ns_spec_get_form(spec), NS_SPEC_SHORT);
    assert_ptr_equal(ns_spec_ctx(spec), ctx);
    assert_string_equal(spec->model_type, "deep_neural_network");
    assert_int_equal(spec->n_hidden, 3);
    assert_int_equal(spec->hidden[0], 128);
    assert_int_equal(spec->hidden[1], 64);
    assert_int_equal(spec->hidden[2], 32);
    assert_int_equal(spec->activation, NS_LAYER_RELU);
    assert_false(spec->activation_tanh_approx);
    assert_true(spec->dropout == 0.2);
    assert_int_equal(ns_spec_output_size(spec), 0);
    const ns_train_settings *tr = ns_spec_training(spec);
    assert_true(tr->learning_rate == 0.001);
    assert_int_equal(tr->epochs, 50);
    assert_int_equal(tr->batch_size, 32);
    /* defaults */
    assert_string_equal(tr->optimizer, "adam");
    assert_string_equal(tr->loss, "");
    assert_true(tr->weight_decay == 0.0);
    assert_int_equal(tr->task, NS_TASK_AUTO);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_short_form_defaults_and_aliases(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = parse_ok(ctx, "{\"model_type\": \"mlp\", \"hidden_layers\": []}");
    assert_string_equal(spec->model_type, "deep_neural_network"); /* alias -> canonical */
    assert_int_equal(spec->n_hidden, 0);
    assert_int_equal(spec->activation, NS_LAYER_RELU);
    assert_true(spec->dropout == 0.0);
    assert_int_equal(spec->output_size, 0);
    assert_true(spec->training.learning_rate == 0.001);
    assert_int_equal(spec->training.epochs, 50);
    assert_int_equal(spec->training.batch_size, 32);
    assert_string_equal(spec->training.optimizer, "adam");
    ns_spec_free(spec);

    spec = parse_ok(ctx, "{\"model_type\": \"deep_neural_network\", \"hidden_layers\": [64.0],"
                         " \"activation\": \"gelu_tanh\", \"output_size\": 3, \"task\": "
                         "\"classification\", \"loss\": \"ce\", \"optimizer\": \"rmsprop\","
                         " \"weight_decay\": 1e-4, \"epochs\": 7.0, \"batch_size\": 1,"
                         " \"learning_rate\": 2}");
    assert_int_equal(spec->hidden[0], 64);
    assert_int_equal(spec->activation, NS_LAYER_GELU);
    assert_true(spec->activation_tanh_approx);
    assert_int_equal(ns_spec_output_size(spec), 3);
    assert_int_equal(spec->training.task, NS_TASK_CLASSIFICATION);
    assert_string_equal(spec->training.loss, "cross_entropy"); /* alias -> canonical */
    assert_string_equal(spec->training.optimizer, "rmsprop");
    assert_true(spec->training.weight_decay == 1e-4);
    assert_int_equal(spec->training.epochs, 7);
    assert_true(spec->training.learning_rate == 2.0);
    ns_spec_free(spec);

    /* model_type may be left out */
    spec = parse_ok(ctx, "{\"hidden_layers\": [5, 4], \"dropout\": 0.1}");
    assert_string_equal(spec->model_type, "deep_neural_network");
    assert_int_equal(spec->n_hidden, 2);
    ns_spec_free(spec);

    /* null means "not given" for output_size and loss */
    spec = parse_ok(ctx, "{\"model_type\": \"mlp\", \"hidden_layers\": [4], \"output_size\": null,"
                         " \"loss\": null, \"activation\": \"leaky_relu\"}");
    assert_int_equal(spec->output_size, 0);
    assert_string_equal(spec->training.loss, "");
    assert_int_equal(spec->activation, NS_LAYER_LEAKY_RELU);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* ---- the layer-list form -------------------------------------------------------------------- */

static void test_layer_form_values(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = parse_ok(
        ctx, "{\"input\": [13], \"layers\": ["
             "{\"type\": \"linear\", \"units\": 64, \"bias\": false},"
             "{\"type\": \"relu\"},"
             "{\"type\": \"leaky_relu\", \"negative_slope\": 0.2},"
             "{\"type\": \"elu\", \"alpha\": 0.5},"
             "{\"type\": \"gelu\", \"approximate\": \"tanh\"},"
             "{\"type\": \"silu\"}, {\"type\": \"tanh\"}, {\"type\": \"sigmoid\"},"
             "{\"type\": \"dropout\", \"p\": 0.25},"
             "{\"type\": \"batchnorm1d\", \"eps\": 0.001, \"momentum\": 0.01, \"affine\": false},"
             "{\"type\": \"layernorm\", \"eps\": 1e-6, \"elementwise_affine\": false},"
             "{\"type\": \"flatten\"},"
             "{\"type\": \"linear\", \"units\": 2},"
             "{\"type\": \"softmax\"}],"
             " \"training\": {\"learning_rate\": 0.01, \"epochs\": 3, \"batch_size\": 8,"
             " \"optimizer\": \"adamw\", \"loss\": \"bce\", \"weight_decay\": 0.01,"
             " \"task\": \"regression\"}}");
    assert_int_equal(ns_spec_get_form(spec), NS_SPEC_LAYERS);
    assert_int_equal(spec->input_ndim, 1);
    assert_int_equal(spec->input_shape[0], 13);
    assert_int_equal(spec->n_layers, 14);
    const ns_layer_spec *l = spec->layers;
    assert_int_equal(l[0].kind, NS_LAYER_LINEAR);
    assert_int_equal(l[0].units, 64);
    assert_false(l[0].bias);
    assert_int_equal(l[1].kind, NS_LAYER_RELU);
    assert_true(l[2].alpha == 0.2);
    assert_true(l[3].alpha == 0.5);
    assert_true(l[4].tanh_approx);
    assert_int_equal(l[5].kind, NS_LAYER_SILU);
    assert_int_equal(l[6].kind, NS_LAYER_TANH);
    assert_int_equal(l[7].kind, NS_LAYER_SIGMOID);
    assert_true(l[8].p == 0.25);
    assert_true(l[9].eps == 0.001);
    assert_true(l[9].momentum == 0.01);
    assert_false(l[9].affine);
    assert_true(l[10].eps == 1e-6);
    assert_false(l[10].affine);
    assert_int_equal(l[11].kind, NS_LAYER_FLATTEN);
    assert_int_equal(l[13].kind, NS_LAYER_SOFTMAX);
    assert_int_equal(ns_spec_output_size(spec), 2);
    const ns_train_settings *tr = ns_spec_training(spec);
    assert_true(tr->learning_rate == 0.01);
    assert_int_equal(tr->epochs, 3);
    assert_int_equal(tr->batch_size, 8);
    assert_string_equal(tr->optimizer, "adamw");
    assert_string_equal(tr->loss, "bce");
    assert_true(tr->weight_decay == 0.01);
    assert_int_equal(tr->task, NS_TASK_REGRESSION);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_layer_form_defaults(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = parse_ok(ctx, "{\"layers\": [{\"type\": \"linear\", \"units\": 4},"
                                  " {\"type\": \"leaky_relu\"}, {\"type\": \"elu\"},"
                                  " {\"type\": \"gelu\"}, {\"type\": \"dropout\"},"
                                  " {\"type\": \"batchnorm1d\"}, {\"type\": \"layernorm\"}]}");
    assert_int_equal(spec->input_ndim, 0); /* "input" is optional */
    for (int i = 0; i < spec->n_layers; i++) {
        ns_layer_spec want;
        ns_layer_spec_default(&want, spec->layers[i].kind);
        if (want.kind == NS_LAYER_LINEAR)
            want.units = 4;
        assert_memory_equal(&spec->layers[i], &want, sizeof want);
    }
    ns_train_settings tr = *ns_spec_training(spec);
    assert_true(tr.learning_rate == 0.001);
    assert_int_equal(tr.epochs, 50);
    assert_int_equal(tr.batch_size, 32);
    assert_string_equal(tr.optimizer, "adam");
    assert_string_equal(tr.loss, "");
    assert_int_equal(tr.task, NS_TASK_AUTO);
    ns_spec_free(spec);

    /* a layer spec with no linear leaves the output size to the data */
    spec = parse_ok(ctx, "{\"input\": [2, 3, 4], \"layers\": [{\"type\": \"flatten\"}]}");
    assert_int_equal(spec->input_ndim, 3);
    assert_int_equal(spec->input_shape[2], 4);
    assert_int_equal(ns_spec_output_size(spec), 0);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* ---- canonical JSON ------------------------------------------------------------------------- */

static void test_canonical_examples(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    DIR *dir = opendir(SPEC_DIR);
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", SPEC_DIR, e->d_name);
        ns_spec *spec = NULL;
        NS_ASSERT_OK(ctx, ns_spec_load(ctx, path, &spec));
        ns_dealloc(ctx, assert_round_trip(ctx, spec, path));
        ns_spec_free(spec);
        n++;
    }
    closedir(dir);
    assert_true(n >= 3);
    ns_ctx_free(ctx);
}

static void test_canonical_text(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_load(ctx, SPEC_DIR "/seed.json", &spec));
    char *text = print_ok(ctx, spec);
    assert_string_equal(text, "{\n"
                              "  \"model_type\": \"deep_neural_network\",\n"
                              "  \"hidden_layers\": [128, 64, 32],\n"
                              "  \"activation\": \"relu\",\n"
                              "  \"dropout\": 0.2,\n"
                              "  \"output_size\": null,\n"
                              "  \"learning_rate\": 0.001,\n"
                              "  \"epochs\": 50,\n"
                              "  \"batch_size\": 32,\n"
                              "  \"optimizer\": \"adam\",\n"
                              "  \"loss\": null,\n"
                              "  \"weight_decay\": 0.0,\n"
                              "  \"task\": \"auto\"\n"
                              "}\n");
    ns_dealloc(ctx, text);
    ns_spec_free(spec);

    spec = parse_ok(ctx, "{\"training\": {\"task\": \"classification\", \"loss\": \"l1\"},"
                         " \"layers\": [{\"units\": 8, \"type\": \"linear\"},"
                         " {\"type\": \"gelu\"}, {\"type\": \"batchnorm1d\", \"eps\": 1},"
                         " {\"type\": \"leaky_relu\"}, {\"type\": \"relu\"}], \"input\": [5]}");
    text = print_ok(ctx, spec);
    assert_string_equal(text, "{\n"
                              "  \"input\": [5],\n"
                              "  \"layers\": [\n"
                              "    {\"type\": \"linear\", \"units\": 8, \"bias\": true},\n"
                              "    {\"type\": \"gelu\", \"approximate\": \"none\"},\n"
                              "    {\"type\": \"batchnorm1d\", \"eps\": 1.0, \"momentum\": 0.1, "
                              "\"affine\": true},\n"
                              "    {\"type\": \"leaky_relu\", \"negative_slope\": 0.01},\n"
                              "    {\"type\": \"relu\"}\n"
                              "  ],\n"
                              "  \"training\": {\n"
                              "    \"learning_rate\": 0.001,\n"
                              "    \"epochs\": 50,\n"
                              "    \"batch_size\": 32,\n"
                              "    \"optimizer\": \"adam\",\n"
                              "    \"loss\": \"mae\",\n"
                              "    \"weight_decay\": 0.0,\n"
                              "    \"task\": \"classification\"\n"
                              "  }\n"
                              "}\n");
    ns_dealloc(ctx, text);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* Specs with awkward numbers, every setting off its default, and both forms.
 * test_canonical_numbers looks at the printed text of [2] and [3]. */
static const char *const hand_specs[] = {
    "{\"model_type\": \"mlp\", \"hidden_layers\": []}",
    "{\"hidden_layers\": [7], \"task\": \"classification\", \"activation\": \"silu\"}",
    "{\"model_type\": \"mlp\", \"hidden_layers\": [1], \"dropout\": 0.30000000000000004,"
    " \"learning_rate\": 100, \"weight_decay\": 1e20, \"epochs\": 1, \"batch_size\": 100000}",
    "{\"model_type\": \"mlp\", \"hidden_layers\": [3, 5, 7, 11, 13], \"activation\": \"elu\","
    " \"dropout\": -0.0, \"output_size\": 9, \"learning_rate\": 1e-7, \"weight_decay\": 5e-324,"
    " \"loss\": \"binary_cross_entropy\", \"task\": \"regression\", \"optimizer\": \"sgd\"}",
    "{\"model_type\": \"mlp\", \"hidden_layers\": [2], \"activation\": \"gelu_tanh\","
    " \"dropout\": 0.999999, \"learning_rate\": 0.1}",
    "{\"model_type\": \"mlp\", \"hidden_layers\": [2], \"activation\": \"sigmoid\","
    " \"learning_rate\": 1.7976931348623157e308}",
    "{\"layers\": [{\"type\": \"linear\", \"units\": 1}]}",
    "{\"input\": null, \"layers\": [{\"type\": \"dropout\", \"p\": 0}, {\"type\": \"softmax\"}]}",
    "{\"input\": [1, 2, 3], \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"leaky_relu\","
    " \"negative_slope\": -3}, {\"type\": \"elu\", \"alpha\": 123456789012345678},"
    " {\"type\": \"layernorm\", \"eps\": 0.1, \"elementwise_affine\": false},"
    " {\"type\": \"batchnorm1d\", \"momentum\": 1, \"affine\": false, \"eps\": 2.5e-8},"
    " {\"type\": \"gelu\", \"approximate\": \"tanh\"}, {\"type\": \"linear\", \"units\": 3,"
    " \"bias\": false}], \"training\": {\"loss\": null, \"weight_decay\": 0.5}}",
    "{\"layers\": [{\"type\": \"silu\"}, {\"type\": \"tanh\"}, {\"type\": \"sigmoid\"}],"
    " \"training\": {\"optimizer\": \"rmsprop\", \"loss\": \"huber\", \"epochs\": 1000000,"
    " \"learning_rate\": 0.00030000000000000003}}",
};

static void test_canonical_hand_specs(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof hand_specs / sizeof hand_specs[0]; i++) {
        ns_spec *spec = parse_ok(ctx, hand_specs[i]);
        char what[32];
        snprintf(what, sizeof what, "hand spec %zu", i);
        ns_dealloc(ctx, assert_round_trip(ctx, spec, what));
        ns_spec_free(spec);
    }
    ns_ctx_free(ctx);
}

static void test_canonical_numbers(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = parse_ok(ctx, hand_specs[2]);
    char *text = print_ok(ctx, spec);
    assert_non_null(strstr(text, "\"dropout\": 0.30000000000000004,"));
    assert_non_null(strstr(text, "\"learning_rate\": 100.0,")); /* reals keep a '.' */
    assert_non_null(strstr(text, "\"weight_decay\": 1e+20,"));
    assert_non_null(strstr(text, "\"batch_size\": 100000,")); /* integers stay integers */
    ns_dealloc(ctx, text);
    ns_spec_free(spec);

    spec = parse_ok(ctx, hand_specs[3]);
    text = print_ok(ctx, spec);
    assert_non_null(strstr(text, "\"dropout\": 0.0,")); /* no negative zero */
    assert_non_null(strstr(text, "\"learning_rate\": 1e-07,"));
    assert_non_null(strstr(text, "\"loss\": \"bce\","));
    assert_non_null(strstr(text, "\"output_size\": 9,"));
    ns_dealloc(ctx, text);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* ---- clone, expand -------------------------------------------------------------------------- */

static void test_clone_equals(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof hand_specs / sizeof hand_specs[0]; i++) {
        ns_spec *spec = parse_ok(ctx, hand_specs[i]);
        ns_spec *copy = NULL;
        NS_ASSERT_OK(ctx, ns_spec_clone(spec, &copy));
        assert_spec_equal(spec, copy);
        assert_ptr_equal(ns_spec_ctx(copy), ctx);
        if (spec->n_layers > 0)
            assert_ptr_not_equal(spec->layers, copy->layers); /* deep */
        char *a = print_ok(ctx, spec), *b = print_ok(ctx, copy);
        ns_spec_free(spec); /* the copy outlives its source */
        assert_string_equal(a, b);
        char *c = print_ok(ctx, copy);
        assert_string_equal(a, c);
        ns_dealloc(ctx, a);
        ns_dealloc(ctx, b);
        ns_dealloc(ctx, c);
        ns_spec_free(copy);
    }
    ns_spec_free(NULL);
    ns_ctx_free(ctx);
}

static void assert_layer(const ns_layer_spec *ls, ns_layer_kind kind, int units, double p)
{
    assert_int_equal(ls->kind, kind);
    if (kind == NS_LAYER_LINEAR)
        assert_int_equal(ls->units, units);
    if (kind == NS_LAYER_DROPOUT)
        assert_true(ls->p == p);
}

static void test_expand_short(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_load(ctx, SPEC_DIR "/seed.json", &spec));
    ns_layer_spec *ls = NULL;
    int n = 0;
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 4, &ls, &n));
    assert_int_equal(n, 10);
    const int hidden[] = {128, 64, 32};
    for (int i = 0; i < 3; i++) {
        assert_layer(&ls[3 * i], NS_LAYER_LINEAR, hidden[i], 0);
        assert_true(ls[3 * i].bias);
        assert_layer(&ls[3 * i + 1], NS_LAYER_RELU, 0, 0);
        assert_layer(&ls[3 * i + 2], NS_LAYER_DROPOUT, 0, 0.2);
    }
    assert_layer(&ls[9], NS_LAYER_LINEAR, 4, 0);
    ns_dealloc(ctx, ls);

    /* no output size anywhere */
    NS_ASSERT_STATUS(ctx, ns_spec_expand(spec, 0, &ls, &n), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "the spec has no output_size and none was given");
    assert_null(ls);
    assert_int_equal(n, 0);
    NS_ASSERT_STATUS(ctx, ns_spec_expand(spec, -1, &ls, &n), NS_ERR_INVALID);
    ns_spec_free(spec);

    /* no dropout layers at p = 0; gelu_tanh keeps its approximation; the spec's output size */
    spec = parse_ok(ctx, "{\"model_type\": \"mlp\", \"hidden_layers\": [5, 6],"
                         " \"activation\": \"gelu_tanh\", \"output_size\": 2}");
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 0, &ls, &n));
    assert_int_equal(n, 5);
    assert_layer(&ls[0], NS_LAYER_LINEAR, 5, 0);
    assert_layer(&ls[1], NS_LAYER_GELU, 0, 0);
    assert_true(ls[1].tanh_approx);
    assert_layer(&ls[2], NS_LAYER_LINEAR, 6, 0);
    assert_layer(&ls[3], NS_LAYER_GELU, 0, 0);
    assert_layer(&ls[4], NS_LAYER_LINEAR, 2, 0);
    ns_dealloc(ctx, ls);
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 2, &ls, &n)); /* agreeing sizes are fine */
    ns_dealloc(ctx, ls);
    NS_ASSERT_STATUS(ctx, ns_spec_expand(spec, 3, &ls, &n), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "output_size is 2 but 3 outputs were asked for");
    ns_spec_free(spec);

    /* a linear model, leaky_relu with PyTorch's slope */
    spec = parse_ok(ctx, "{\"model_type\": \"mlp\", \"hidden_layers\": []}");
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 1, &ls, &n));
    assert_int_equal(n, 1);
    assert_layer(&ls[0], NS_LAYER_LINEAR, 1, 0);
    ns_dealloc(ctx, ls);
    ns_spec_free(spec);
    spec = parse_ok(ctx, "{\"model_type\": \"mlp\", \"hidden_layers\": [3],"
                         " \"activation\": \"leaky_relu\"}");
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 1, &ls, &n));
    assert_true(ls[1].alpha == 0.01);
    ns_dealloc(ctx, ls);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_expand_layers(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_load(ctx, SPEC_DIR "/classifier.json", &spec));
    assert_int_equal(ns_spec_output_size(spec), 10);
    ns_layer_spec *ls = NULL;
    int n = 0;
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 0, &ls, &n));
    assert_int_equal(n, spec->n_layers);
    assert_memory_equal(ls, spec->layers, (size_t)n * sizeof *ls);
    assert_ptr_not_equal(ls, spec->layers);
    ns_dealloc(ctx, ls);
    NS_ASSERT_OK(ctx, ns_spec_expand(spec, 10, &ls, &n));
    ns_dealloc(ctx, ls);
    ls = NULL;
    NS_ASSERT_STATUS(ctx, ns_spec_expand(spec, 3, &ls, &n), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(ctx, "last linear layer has 10 units but 3 outputs");
    assert_null(ls);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* ---- errors --------------------------------------------------------------------------------- */

typedef struct bad_spec {
    const char *json;
    ns_status status;
    const char *fragment;  /* must appear in the message */
    const char *fragment2; /* and this too, when not NULL */
} bad_spec;

#define SHORT_HEAD "{\"model_type\": \"mlp\", \"hidden_layers\": [8], "
#define LAYERS_HEAD "{\"layers\": ["

static const bad_spec bad_specs[] = {
    /* JSON syntax: SOURCE:LINE:COL */
    {"{\n  \"model_type\": \"mlp\",\n  \"hidden_layers\": [64 32]\n}", NS_ERR_PARSE,
     "spec.json:3:", NULL},
    {"{\"model_type\": \"mlp\", \"hidden_layers\": [1],}", NS_ERR_PARSE, "spec.json:1:", NULL},
    {"", NS_ERR_PARSE, "spec.json:1:", NULL},
    {"{\"model_type\": \"mlp\",\n \"model_type\": \"mlp\"}", NS_ERR_PARSE,
     "spec.json:2:", "duplicate key \"model_type\""},
    {"[1, 2]", NS_ERR_PARSE, "spec.json: expected a JSON object at the top level, got an array",
     NULL},
    /* unknown keys, with suggestions */
    {SHORT_HEAD "\"dropuot\": 0.1}", NS_ERR_PARSE,
     "spec.json: dropuot: unknown key; known keys: model_type, hidden_layers,",
     "did you mean 'dropout'?"},
    {SHORT_HEAD "\"colour\": 1}", NS_ERR_PARSE, "colour: unknown key; known keys:", NULL},
    {"{\"layer\": [{\"type\": \"relu\"}]}", NS_ERR_PARSE, "layer: unknown key",
     "did you mean 'layers'?"},
    {LAYERS_HEAD "{\"type\": \"relu\"}], \"optimiser\": \"adam\"}", NS_ERR_PARSE,
     "optimiser: unknown key; known keys: input, layers, training", "did you mean 'optimizer'?"},
    {LAYERS_HEAD "{\"type\": \"relu\"}], \"training\": {\"lr\": 0.1}}", NS_ERR_PARSE,
     "training.lr: unknown key; known keys: learning_rate, epochs,", NULL},
    {LAYERS_HEAD "{\"type\": \"linear\", \"unit\": 3}]}", NS_ERR_PARSE,
     "layers[0].unit: unknown key; known keys for linear: type, units, bias",
     "did you mean 'units'?"},
    /* short form values */
    {"{\"model_type\": \"mlp\", \"hidden_layers\": [64, -64]}", NS_ERR_PARSE,
     "spec.json: hidden_layers[1]: expected a positive integer, got -64", NULL},
    {"{\"model_type\": \"mlp\", \"hidden_layers\": [64.5]}", NS_ERR_PARSE,
     "hidden_layers[0]: expected a positive integer, got 64.5", NULL},
    {"{\"model_type\": \"mlp\", \"hidden_layers\": [0]}", NS_ERR_PARSE,
     "hidden_layers[0]: expected a positive integer, got 0", NULL},
    {"{\"model_type\": \"mlp\", \"hidden_layers\": \"64\"}", NS_ERR_PARSE,
     "hidden_layers: expected an array of positive integers", "got the string \"64\""},
    {"{\"model_type\": \"mlp\", \"hidden_layers\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
     "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}",
     NS_ERR_PARSE, "hidden_layers: at most 64 hidden layers, got 65", NULL},
    {SHORT_HEAD "\"dropout\": 1.0}", NS_ERR_PARSE,
     "spec.json: dropout: expected a number in [0, 1), got 1.0", NULL},
    {SHORT_HEAD "\"dropout\": -0.1}", NS_ERR_PARSE, "dropout: expected a number in [0, 1)", NULL},
    {SHORT_HEAD "\"dropout\": \"0.2\"}", NS_ERR_PARSE,
     "dropout: expected a number in [0, 1), got the string \"0.2\"", NULL},
    {SHORT_HEAD "\"activation\": \"relux\"}", NS_ERR_PARSE,
     "activation: unknown activation 'relux'; known activations: relu, leaky_relu, elu, gelu,"
     " gelu_tanh, silu, tanh, sigmoid",
     "did you mean 'relu'?"},
    {SHORT_HEAD "\"activation\": \"softmax\"}", NS_ERR_PARSE, "unknown activation 'softmax'", NULL},
    {SHORT_HEAD "\"activation\": null}", NS_ERR_PARSE,
     "activation: expected an activation name (one of relu,", "got null"},
    {"{\"model_type\": \"cnn\", \"hidden_layers\": []}", NS_ERR_PARSE,
     "model_type: unknown model type 'cnn'; known model types: deep_neural_network, mlp", NULL},
    {"{}", NS_ERR_PARSE, "spec.json: missing key \"hidden_layers\"", "layer-list form"},
    {"{\"model_type\": \"mlp\", \"dropout\": 0.5}", NS_ERR_PARSE, "missing key \"hidden_layers\"",
     NULL},
    {SHORT_HEAD "\"output_size\": 0}", NS_ERR_PARSE,
     "output_size: expected a positive integer or null", NULL},
    /* training values */
    {SHORT_HEAD "\"learning_rate\": 0}", NS_ERR_PARSE,
     "learning_rate: expected a positive number, got 0", NULL},
    {SHORT_HEAD "\"epochs\": 0}", NS_ERR_PARSE, "epochs: expected a positive integer, got 0", NULL},
    {SHORT_HEAD "\"epochs\": 1e10}", NS_ERR_PARSE,
     "epochs: expected a positive integer, got 10000000000.0", NULL},
    {SHORT_HEAD "\"batch_size\": true}", NS_ERR_PARSE,
     "batch_size: expected a positive integer, got true", NULL},
    {SHORT_HEAD "\"optimizer\": \"adamm\"}", NS_ERR_PARSE,
     "optimizer: unknown optimizer 'adamm'; known optimizers: sgd, adam, adamw, rmsprop",
     "did you mean 'adam'?"},
    {SHORT_HEAD "\"loss\": \"hinge\"}", NS_ERR_PARSE,
     "loss: unknown loss 'hinge'; known losses: mse, mae, huber, cross_entropy, bce", NULL},
    {SHORT_HEAD "\"loss\": 3}", NS_ERR_PARSE, "loss: expected a loss name", "got 3"},
    {SHORT_HEAD "\"weight_decay\": -1}", NS_ERR_PARSE,
     "weight_decay: expected a number >= 0, got -1", NULL},
    {SHORT_HEAD "\"task\": \"clustering\"}", NS_ERR_PARSE,
     "task: unknown task 'clustering'; known tasks: auto, regression, classification", NULL},
    /* mixed forms */
    {SHORT_HEAD "\"training\": {}}", NS_ERR_PARSE, "spec.json: training: only the layer-list form",
     NULL},
    {SHORT_HEAD "\"input\": [3]}", NS_ERR_PARSE, "input: only the layer-list form", NULL},
    {LAYERS_HEAD "{\"type\": \"relu\"}], \"learning_rate\": 0.1}", NS_ERR_PARSE,
     "learning_rate: a short-form key in a layer-list spec", "move it into \"training\""},
    {LAYERS_HEAD "{\"type\": \"relu\"}], \"hidden_layers\": [3]}", NS_ERR_PARSE,
     "hidden_layers: a short-form key in a layer-list spec", NULL},
    /* the layer list */
    {"{\"layers\": []}", NS_ERR_PARSE, "spec.json: layers: expected at least one layer", NULL},
    {"{\"layers\": {\"type\": \"relu\"}}", NS_ERR_PARSE,
     "layers: expected an array of layer objects, got an object", NULL},
    {LAYERS_HEAD "3]}", NS_ERR_PARSE, "layers[0]: expected a layer object", "got 3"},
    {LAYERS_HEAD "{\"units\": 3}]}", NS_ERR_PARSE, "layers[0]: missing key \"type\"", NULL},
    {LAYERS_HEAD "{\"type\": \"conv3d\"}]}", NS_ERR_PARSE,
     "spec.json: layers[0]: unknown layer type 'conv3d'; known types: linear, relu, leaky_relu,",
     "flatten"},
    {LAYERS_HEAD "{\"type\": \"Linear\", \"units\": 2}]}", NS_ERR_PARSE,
     "unknown layer type 'Linear'", "did you mean 'linear'?"},
    {LAYERS_HEAD "{\"type\": 5}]}", NS_ERR_PARSE, "layers[0].type: expected a layer type name",
     NULL},
    {LAYERS_HEAD "{\"type\": \"linear\", \"units\": 3}, {\"type\": \"relu\", \"units\": 3}]}",
     NS_ERR_PARSE, "layers[1].units: relu has no setting 'units' (that is a setting of linear)",
     "relu takes no settings"},
    {LAYERS_HEAD "{\"type\": \"linear\", \"units\": 3, \"p\": 0.5}]}", NS_ERR_PARSE,
     "layers[0].p: linear has no setting 'p'", "linear takes units, bias"},
    {LAYERS_HEAD "{\"type\": \"leaky_relu\", \"alpha\": 0.1}]}", NS_ERR_PARSE,
     "leaky_relu has no setting 'alpha' (that is a setting of elu)", "takes negative_slope"},
    {LAYERS_HEAD "{\"type\": \"linear\"}]}", NS_ERR_PARSE, "layers[0]: linear needs \"units\"",
     NULL},
    {LAYERS_HEAD "{\"type\": \"linear\", \"units\": 0}]}", NS_ERR_PARSE,
     "layers[0].units: expected a positive integer, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"linear\", \"units\": 2}, {\"type\": \"relu\"},"
                 " {\"type\": \"dropout\", \"p\": 1.5}]}",
     NS_ERR_PARSE, "spec.json: layers[2].p: expected a number in [0, 1), got 1.5", NULL},
    {LAYERS_HEAD "{\"type\": \"gelu\", \"approximate\": \"fast\"}]}", NS_ERR_PARSE,
     "layers[0].approximate: unknown approximation 'fast'; known approximations: none, tanh", NULL},
    {LAYERS_HEAD "{\"type\": \"batchnorm1d\", \"momentum\": 2}]}", NS_ERR_PARSE,
     "layers[0].momentum: expected a number in [0, 1], got 2", NULL},
    {LAYERS_HEAD "{\"type\": \"layernorm\", \"eps\": 0}]}", NS_ERR_PARSE,
     "layers[0].eps: expected a positive number, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"linear\", \"units\": 2, \"bias\": \"yes\"}]}", NS_ERR_PARSE,
     "layers[0].bias: expected true or false, got the string \"yes\"", NULL},
    {LAYERS_HEAD "{\"type\": \"relu\"}], \"training\": [1]}", NS_ERR_PARSE,
     "training: expected an object", "got an array"},
    {LAYERS_HEAD "{\"type\": \"relu\"}], \"training\": {\"epochs\": -2}}", NS_ERR_PARSE,
     "training.epochs: expected a positive integer, got -2", NULL},
    /* input shape */
    {"{\"input\": [], \"layers\": [{\"type\": \"relu\"}]}", NS_ERR_PARSE,
     "input: expected null or 1 to 3 positive integers", "got 0 numbers"},
    {"{\"input\": [1, 2, 3, 4], \"layers\": [{\"type\": \"relu\"}]}", NS_ERR_PARSE,
     "input: expected null or 1 to 3 positive integers", "got 4 numbers"},
    {"{\"input\": [13, 0], \"layers\": [{\"type\": \"relu\"}]}", NS_ERR_PARSE,
     "input[1]: expected a positive integer, got 0", NULL},
    {"{\"input\": 13, \"layers\": [{\"type\": \"relu\"}]}", NS_ERR_PARSE,
     "input: expected null or 1 to 3 positive integers", "got 13"},
};

static void test_bad_specs(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    size_t n = sizeof bad_specs / sizeof bad_specs[0];
    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++) {
        const bad_spec *b = &bad_specs[i];
        ns_spec *spec = (ns_spec *)&spec; /* must be reset to NULL */
        ns_errclear(ctx);
        ns_status st = ns_spec_parse(ctx, b->json, strlen(b->json), "spec.json", &spec);
        const char *msg = ns_errmsg(ctx);
        bool ok = st == b->status && strstr(msg, b->fragment) != NULL &&
                  (b->fragment2 == NULL || strstr(msg, b->fragment2) != NULL);
        if (!ok)
            fprintf(stderr, "bad spec %zu: %s\n  status %d, message: %s\n  wanted %d and: %s%s%s\n",
                    i, b->json, st, msg, b->status, b->fragment, b->fragment2 ? " / " : "",
                    b->fragment2 ? b->fragment2 : "");
        assert_true(ok);
        assert_null(spec);
    }
    ns_ctx_free(ctx);
}

static void test_syntax_error_position(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *json = "{\n  \"model_type\": \"mlp\",\n  \"hidden_layers\": [64 32]\n}";
    ns_spec *spec = NULL;
    NS_ASSERT_STATUS(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec), NS_ERR_PARSE);
    /* jansson points at the end of the offending token "32" */
    NS_ASSERT_MSG_HAS(ctx, "spec.json:3:25: ");
    /* the text need not be NUL-terminated: only len bytes are read */
    const char *prefix = "{\"model_type\": \"mlp\", \"hidden_layers\": [2]}garbage";
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, prefix, strlen(prefix) - 7, NULL, &spec));
    ns_spec_free(spec);
    NS_ASSERT_STATUS(ctx, ns_spec_parse(ctx, prefix, strlen(prefix), NULL, &spec), NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "<spec>:1:");
    ns_ctx_free(ctx);
}

/* ---- files ---------------------------------------------------------------------------------- */

static void test_load_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = NULL;
    const char *missing = SPEC_DIR "/no_such_spec.json";
    NS_ASSERT_STATUS(ctx, ns_spec_load(ctx, missing, &spec), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, missing);
    NS_ASSERT_MSG_HAS(ctx, strerror(ENOENT));
    assert_null(spec);

    /* a file's messages carry its path, with line and column for syntax errors */
    const char *path = NS_BINARY_DIR "/test_spec_bad.json";
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"model_type\": \"mlp\",\n \"hidden_layers\": [8],\n \"dropout\": 2}\n", f);
    fclose(f);
    NS_ASSERT_STATUS(ctx, ns_spec_load(ctx, path, &spec), NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "test_spec_bad.json: dropout: expected a number in [0, 1), got 2");
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"model_type\": \"mlp\",\n \"hidden_layers\": [8],,\n}\n", f);
    fclose(f);
    NS_ASSERT_STATUS(ctx, ns_spec_load(ctx, path, &spec), NS_ERR_PARSE);
    NS_ASSERT_MSG_HAS(ctx, "test_spec_bad.json:2:");
    remove(path);
    ns_ctx_free(ctx);
}

/* ---- allocation failures -------------------------------------------------------------------- */

static const char *const alloc_specs[] = {
    "{\"model_type\": \"mlp\", \"hidden_layers\": [4, 3], \"dropout\": 0.1}",
    "{\"input\": [3], \"layers\": [{\"type\": \"linear\", \"units\": 4}, {\"type\": \"relu\"},"
    " {\"type\": \"linear\", \"units\": 2}]}",
};

/* Fails the 1st, 2nd, ... allocation until the call succeeds: every failure is NS_ERR_NOMEM with
 * *out NULL, and nothing leaks. */
static void test_alloc_failures_parse(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof alloc_specs / sizeof alloc_specs[0]; s++) {
        const char *json = alloc_specs[s];
        bool done = false;
        for (size_t fail_at = 1; !done; fail_at++) {
            assert_true(fail_at < 100);
            ns_test_alloc ta = {0};
            ns_allocator a = ns_test_allocator(&ta);
            ns_ctx *ctx = NULL;
            assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
            ta.fail_at = ta.calls + fail_at;
            ns_spec *spec = NULL;
            ns_status st = ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec);
            if (st == NS_OK) {
                done = true;
                assert_non_null(spec);
                ns_spec_free(spec);
            } else {
                NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
                NS_ASSERT_MSG_HAS(ctx, "out of memory");
                assert_null(spec);
            }
            ns_ctx_free(ctx);
            assert_int_equal(ta.live, 0);
        }
    }
}

/* The same for clone, to_json, expand and load, on a spec parsed beforehand. */
static void test_alloc_failures_other(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof alloc_specs / sizeof alloc_specs[0]; s++) {
        for (int op = 0; op < 4; op++) {
            bool done = false;
            for (size_t fail_at = 1; !done; fail_at++) {
                assert_true(fail_at < 100);
                ns_test_alloc ta = {0};
                ns_allocator a = ns_test_allocator(&ta);
                ns_ctx *ctx = NULL;
                assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
                ns_spec *spec = parse_ok(ctx, alloc_specs[s]);
                ta.fail_at = ta.calls + fail_at;
                ns_spec *other = NULL;
                char *text = NULL;
                ns_layer_spec *ls = NULL;
                int n = -1;
                ns_status st = NS_OK;
                switch (op) {
                case 0:
                    st = ns_spec_clone(spec, &other);
                    break;
                case 1:
                    st = ns_spec_to_json(spec, &text);
                    break;
                case 2:
                    st = ns_spec_expand(spec, 2, &ls, &n);
                    break;
                case 3:
                    st = ns_spec_load(ctx, SPEC_DIR "/regression_norm.json", &other);
                    break;
                }
                if (st == NS_OK) {
                    done = true;
                } else {
                    NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
                    assert_null(other);
                    assert_null(text);
                    assert_null(ls);
                }
                ns_spec_free(other);
                ns_dealloc(ctx, text);
                ns_dealloc(ctx, ls);
                ns_spec_free(spec);
                ns_ctx_free(ctx);
                assert_int_equal(ta.live, 0);
            }
        }
    }
}

/* The layer-list form of a short-form spec (the architecture editor's stack): the layers
 * ns_spec_expand gives, the same training settings, and a spec that parses as a layer list and
 * expands to the same layers; a layer-list spec prints as it is. */
static void test_layer_form_json(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *seed = parse_ok(ctx, "{\"hidden_layers\": [128, 64, 32], \"activation\": \"gelu\", "
                                  "\"dropout\": 0.2, \"epochs\": 7, \"learning_rate\": 0.003}");
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_spec_layer_form_json(seed, 1, 3, &text));
    ns_spec *layers = parse_ok(ctx, text);
    assert_int_equal(layers->form, NS_SPEC_LAYERS);
    assert_int_equal(layers->n_layers, 10);
    ns_layer_spec *want = NULL;
    int n = 0;
    NS_ASSERT_OK(ctx, ns_spec_expand(seed, 3, &want, &n));
    assert_int_equal(n, layers->n_layers);
    for (int i = 0; i < n; i++) {
        assert_int_equal(layers->layers[i].kind, want[i].kind);
        assert_int_equal(layers->layers[i].units, want[i].units);
        assert_true(layers->layers[i].p == want[i].p);
    }
    assert_train_equal(&layers->training, &seed->training);
    assert_int_equal(layers->training.epochs, 7);
    ns_dealloc(ctx, want);
    ns_dealloc(ctx, text);
    /* images: the short form starts with a flatten layer */
    NS_ASSERT_OK(ctx, ns_spec_layer_form_json(seed, 3, 10, &text));
    ns_spec *images = parse_ok(ctx, text);
    assert_int_equal(images->n_layers, 11);
    assert_int_equal(images->layers[0].kind, NS_LAYER_FLATTEN);
    ns_dealloc(ctx, text);
    /* a short form without an output size: the library's message */
    assert_int_equal(ns_spec_layer_form_json(seed, 1, 0, &text), NS_ERR_INVALID);
    assert_null(text);
    /* a layer list as it is */
    char *again = NULL, *canon = print_ok(ctx, layers);
    NS_ASSERT_OK(ctx, ns_spec_layer_form_json(layers, 1, 0, &again));
    assert_string_equal(again, canon);
    ns_dealloc(ctx, again);
    ns_dealloc(ctx, canon);
    ns_spec_free(images);
    ns_spec_free(layers);
    ns_spec_free(seed);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_kind_names),
        cmocka_unit_test(test_layer_spec_defaults),
        cmocka_unit_test(test_short_form_seed),
        cmocka_unit_test(test_short_form_defaults_and_aliases),
        cmocka_unit_test(test_layer_form_values),
        cmocka_unit_test(test_layer_form_defaults),
        cmocka_unit_test(test_canonical_examples),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_canonical_hand_specs),
        cmocka_unit_test(test_canonical_numbers),
        cmocka_unit_test(test_clone_equals),
        cmocka_unit_test(test_expand_short),
        cmocka_unit_test(test_expand_layers),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_alloc_failures_parse),
        cmocka_unit_test(test_alloc_failures_other),
        cmocka_unit_test(test_layer_form_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
