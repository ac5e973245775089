/* Specs of the 2-D layers (conv2d, the pools, batchnorm2d, dropout2d): parsed values and
 * defaults, canonical printing and its round trip, and the messages for bad settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_private.h"
#include "testutil.h"

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

static char *print_ok(ns_ctx *ctx, const ns_spec *spec)
{
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_spec_to_json(spec, &text));
    assert_non_null(text);
    return text;
}

/* print -> parse -> print gives the same bytes and the same layers (memcmp: every field,
 * padding zeroed). */
static void assert_round_trip(ns_ctx *ctx, const ns_spec *spec, const char *what)
{
    char *first = print_ok(ctx, spec);
    ns_spec *again = NULL;
    ns_status st = ns_spec_parse(ctx, first, strlen(first), "canonical", &again);
    if (st != NS_OK)
        fprintf(stderr, "%s: canonical text does not parse: %s\n%s", what, ns_errmsg(ctx), first);
    assert_int_equal(st, NS_OK);
    char *second = print_ok(ctx, again);
    if (strcmp(first, second) != 0)
        fprintf(stderr, "%s: canonical print differs:\n%s---\n%s", what, first, second);
    assert_string_equal(first, second);
    assert_int_equal(spec->n_layers, again->n_layers);
    assert_memory_equal(spec->layers, again->layers, (size_t)spec->n_layers * sizeof *spec->layers);
    assert_int_equal(spec->input_ndim, again->input_ndim);
    ns_dealloc(ctx, first);
    ns_dealloc(ctx, second);
    ns_spec_free(again);
}

#define LAYERS_HEAD "{\"input\": [3, 8, 8], \"layers\": ["

static void test_kind_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "conv2d",           "maxpool2d",   "avgpool2d", "adaptive_avgpool2d",
        "global_avgpool2d", "batchnorm2d", "dropout2d"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ns_layer_kind k = NS_LAYER_KIND_COUNT;
        assert_int_equal(ns_layer_kind_parse(names[i], &k), NS_OK);
        assert_string_equal(ns_layer_kind_name(k), names[i]);
    }
    ns_layer_kind k;
    assert_int_equal(ns_layer_kind_parse("Conv2d", &k), NS_ERR_NOTFOUND);
    assert_int_equal(ns_layer_kind_parse("conv3d", &k), NS_ERR_NOTFOUND);
}

static void test_defaults(void **state)
{
    (void)state;
    ns_layer_spec ls;
    ns_layer_spec_default(&ls, NS_LAYER_CONV2D);
    assert_int_equal(ls.filters, 0);
    assert_int_equal(ls.kernel[0], 0);
    assert_int_equal(ls.stride[0], 1);
    assert_int_equal(ls.stride[1], 1);
    assert_int_equal(ls.padding[1], 0);
    assert_int_equal(ls.dilation[0], 1);
    assert_int_equal(ls.groups, 1);
    assert_true(ls.bias);
    ns_layer_spec_default(&ls, NS_LAYER_MAXPOOL2D);
    assert_int_equal(ls.stride[0], 0); /* the kernel */
    ns_layer_spec_default(&ls, NS_LAYER_AVGPOOL2D);
    assert_true(ls.count_include_pad);
    ns_layer_spec_default(&ls, NS_LAYER_GLOBAL_AVGPOOL2D);
    assert_int_equal(ls.output_size[0], 1);
    assert_int_equal(ls.output_size[1], 1);
    ns_layer_spec_default(&ls, NS_LAYER_ADAPTIVE_AVGPOOL2D);
    assert_int_equal(ls.output_size[0], 0);
    ns_layer_spec_default(&ls, NS_LAYER_BATCHNORM2D);
    assert_true(ls.eps == 1e-5 && ls.momentum == 0.1 && ls.affine);
    ns_layer_spec_default(&ls, NS_LAYER_DROPOUT2D);
    assert_true(ls.p == 0.5);
}

static void test_parse_values(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = parse_ok(
        ctx, LAYERS_HEAD
        "{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": [3, 5], \"stride\": 2,"
        " \"padding\": [1, 2], \"dilation\": [2, 1], \"groups\": 2, \"bias\": false},"
        "{\"type\": \"maxpool2d\", \"kernel\": 2},"
        "{\"type\": \"avgpool2d\", \"kernel\": [3, 2], \"stride\": 1, \"padding\": [1, 0],"
        " \"count_include_pad\": false},"
        "{\"type\": \"adaptive_avgpool2d\", \"output_size\": 4},"
        "{\"type\": \"global_avgpool2d\"},"
        "{\"type\": \"batchnorm2d\", \"eps\": 0.001, \"momentum\": 0.2, \"affine\": false},"
        "{\"type\": \"dropout2d\", \"p\": 0.25},"
        "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 5, \"padding\": \"same\","
        " \"dilation\": 2},"
        "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 4.0, \"padding\": \"valid\"}]}");
    const ns_layer_spec *l = spec->layers;
    assert_int_equal(spec->n_layers, 9);
    assert_int_equal(l[0].kind, NS_LAYER_CONV2D);
    assert_int_equal(l[0].filters, 8);
    assert_int_equal(l[0].kernel[0], 3);
    assert_int_equal(l[0].kernel[1], 5);
    assert_int_equal(l[0].stride[0], 2);
    assert_int_equal(l[0].stride[1], 2);
    assert_int_equal(l[0].padding[0], 1);
    assert_int_equal(l[0].padding[1], 2);
    assert_int_equal(l[0].dilation[0], 2);
    assert_int_equal(l[0].dilation[1], 1);
    assert_int_equal(l[0].groups, 2);
    assert_false(l[0].bias);
    /* a pool's stride defaults to its kernel and is stored as such */
    assert_int_equal(l[1].kernel[0], 2);
    assert_int_equal(l[1].stride[0], 2);
    assert_int_equal(l[1].stride[1], 2);
    assert_int_equal(l[2].kernel[0], 3);
    assert_int_equal(l[2].kernel[1], 2);
    assert_int_equal(l[2].stride[1], 1);
    assert_false(l[2].count_include_pad);
    assert_int_equal(l[3].output_size[0], 4);
    assert_int_equal(l[3].output_size[1], 4);
    assert_int_equal(l[4].output_size[0], 1);
    assert_true(l[5].eps == 0.001 && l[5].momentum == 0.2 && !l[5].affine);
    assert_true(l[6].p == 0.25);
    /* "same": dilation * (kernel - 1) / 2 per side */
    assert_int_equal(l[7].padding[0], 4);
    assert_int_equal(l[7].padding[1], 4);
    assert_int_equal(l[8].kernel[0], 4);
    assert_int_equal(l[8].padding[0], 0);
    /* no linear layer: the output size comes from the data */
    assert_int_equal(ns_spec_output_size(spec), 0);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static void test_canonical_text(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_spec *spec = parse_ok(
        ctx, "{\"layers\": [{\"kernel\": 3, \"type\": \"conv2d\", \"filters\": 16,"
             " \"padding\": \"same\"}, {\"type\": \"maxpool2d\", \"kernel\": [2, 2]},"
             " {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": [3, 1], \"groups\": 8,"
             " \"stride\": [2, 1]}, {\"type\": \"avgpool2d\", \"kernel\": 2, \"stride\": 1},"
             " {\"type\": \"adaptive_avgpool2d\", \"output_size\": [2, 3]},"
             " {\"type\": \"global_avgpool2d\"}, {\"type\": \"batchnorm2d\"},"
             " {\"type\": \"dropout2d\", \"p\": 0.1}], \"input\": [3, 32, 32]}");
    char *text = print_ok(ctx, spec);
    assert_string_equal(
        text, "{\n"
              "  \"input\": [3, 32, 32],\n"
              "  \"layers\": [\n"
              "    {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"stride\": 1, "
              "\"padding\": 1, \"dilation\": 1, \"groups\": 1, \"bias\": true},\n"
              "    {\"type\": \"maxpool2d\", \"kernel\": 2, \"stride\": 2, \"padding\": 0},\n"
              "    {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": [3, 1], \"stride\": [2, 1], "
              "\"padding\": 0, \"dilation\": 1, \"groups\": 8, \"bias\": true},\n"
              "    {\"type\": \"avgpool2d\", \"kernel\": 2, \"stride\": 1, \"padding\": 0, "
              "\"count_include_pad\": true},\n"
              "    {\"type\": \"adaptive_avgpool2d\", \"output_size\": [2, 3]},\n"
              "    {\"type\": \"global_avgpool2d\"},\n"
              "    {\"type\": \"batchnorm2d\", \"eps\": 1e-05, \"momentum\": 0.1, "
              "\"affine\": true},\n"
              "    {\"type\": \"dropout2d\", \"p\": 0.1}\n"
              "  ],\n"
              "  \"training\": {\n"
              "    \"learning_rate\": 0.001,\n"
              "    \"epochs\": 50,\n"
              "    \"batch_size\": 32,\n"
              "    \"optimizer\": \"adam\",\n"
              "    \"loss\": null,\n"
              "    \"weight_decay\": 0.0,\n"
              "    \"task\": \"auto\"\n"
              "  }\n"
              "}\n");
    ns_dealloc(ctx, text);
    assert_round_trip(ctx, spec, "canonical text");
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

static const char *const hand_specs[] = {
    "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 1}]}",
    LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": [7, 1], \"stride\": [1, 3],"
                " \"padding\": [3, 0], \"dilation\": [1, 4], \"groups\": 3, \"bias\": false},"
                " {\"type\": \"maxpool2d\", \"kernel\": [3, 4], \"stride\": [1, 2], "
                "\"padding\": [1, 2]}]}",
    LAYERS_HEAD "{\"type\": \"avgpool2d\", \"kernel\": 5, \"padding\": 2, \"count_include_pad\":"
                " false}, {\"type\": \"adaptive_avgpool2d\", \"output_size\": [1, 7]},"
                " {\"type\": \"batchnorm2d\", \"eps\": 2.5e-8, \"momentum\": 1, \"affine\": false},"
                " {\"type\": \"dropout2d\", \"p\": 0}, {\"type\": \"global_avgpool2d\"},"
                " {\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 2}]}",
    ("{\"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": [1, 3], \"padding\": "
     "\"same\", \"dilation\": [5, 3]}]}"),
};

static void test_round_trips(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof hand_specs / sizeof hand_specs[0]; i++) {
        ns_spec *spec = parse_ok(ctx, hand_specs[i]);
        char what[32];
        snprintf(what, sizeof what, "hand spec %zu", i);
        assert_round_trip(ctx, spec, what);
        ns_spec_free(spec);
    }
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_load(ctx, NS_SOURCE_DIR "/examples/specs/fashion_cnn.json", &spec));
    assert_round_trip(ctx, spec, "fashion_cnn.json");
    assert_int_equal(spec->n_layers, 10);
    assert_int_equal(ns_spec_output_size(spec), 10);
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

typedef struct bad_spec {
    const char *json;
    const char *fragment;  /* must appear in the message */
    const char *fragment2; /* and this too (NULL: no second) */
} bad_spec;

static const bad_spec bad_specs[] = {
    /* required settings */
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"kernel\": 3}]}",
     "spec.json: layers[0]: conv2d needs \"filters\" (its number of output channels) and "
     "\"kernel\"",
     "{\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3}"},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 3}]}", "layers[0]: conv2d needs", NULL},
    {LAYERS_HEAD "{\"type\": \"maxpool2d\", \"stride\": 2}]}",
     "layers[0]: maxpool2d needs \"kernel\" (the window size)", NULL},
    {LAYERS_HEAD "{\"type\": \"avgpool2d\"}]}", "layers[0]: avgpool2d needs \"kernel\"", NULL},
    {LAYERS_HEAD "{\"type\": \"adaptive_avgpool2d\"}]}",
     "layers[0]: adaptive_avgpool2d needs \"output_size\"", "global_avgpool2d"},
    /* values */
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 0}]}",
     "spec.json: layers[0].kernel: expected a positive integer or [h, w], got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": [3, 0]}]}",
     "layers[0].kernel[1]: expected a positive integer, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": [3, 3, 3]}]}",
     "layers[0].kernel: expected a positive integer or [h, w], got an array of 3", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 2.5}]}",
     "layers[0].kernel: expected a positive integer or [h, w], got 2.5", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": \"3\"}]}",
     "layers[0].kernel: expected a positive integer or [h, w], got the string \"3\"", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 0, \"kernel\": 3}]}",
     "layers[0].filters: expected a positive integer, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"stride\": 0}]}",
     "layers[0].stride: expected a positive integer or [h, w], got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": -1}]}",
     "layers[0].padding: expected \"valid\", \"same\", a non-negative integer or [h, w], got -1",
     NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": \"full\"}]}",
     "layers[0].padding: expected \"valid\", \"same\", a non-negative integer or [h, w], got the "
     "string \"full\"",
     NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"dilation\": [1, 0]}]}",
     "layers[0].dilation[1]: expected a positive integer, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"groups\": 0}]}",
     "layers[0].groups: expected a positive integer, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"groups\": 4}]}",
     "layers[0].groups: groups 4 does not divide filters 6", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"bias\": 1}]}",
     "layers[0].bias: expected true or false, got 1", NULL},
    /* padding "same" */
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"padding\": \"same\","
                 " \"stride\": 2}]}",
     "layers[0].padding: padding \"same\" needs stride 1", NULL},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": [3, 2], \"padding\": "
                 "\"same\"}]}",
     "layers[0].padding: padding \"same\" with kernel 2 (dilation 1) needs 1 padding",
     "use an odd kernel"},
    {LAYERS_HEAD "{\"type\": \"maxpool2d\", \"kernel\": 3, \"padding\": \"same\"}]}",
     "layers[0].padding: expected a non-negative integer or [h, w], got the string \"same\"", NULL},
    /* pools */
    {LAYERS_HEAD "{\"type\": \"maxpool2d\", \"kernel\": 3, \"padding\": 2}]}",
     "layers[0].padding: padding 2 is more than half the kernel 3; use at most 1", NULL},
    {LAYERS_HEAD "{\"type\": \"avgpool2d\", \"kernel\": [4, 2], \"padding\": [2, 2]}]}",
     "layers[0].padding: padding 2 is more than half the kernel [4, 2]; use at most [2, 1]", NULL},
    {LAYERS_HEAD "{\"type\": \"maxpool2d\", \"kernel\": 2, \"dilation\": 2}]}",
     "layers[0].dilation: maxpool2d has no setting 'dilation' (that is a setting of conv2d)",
     "maxpool2d takes kernel, stride, padding"},
    {LAYERS_HEAD "{\"type\": \"maxpool2d\", \"kernel\": 2, \"count_include_pad\": true}]}",
     "maxpool2d has no setting 'count_include_pad' (that is a setting of avgpool2d)", NULL},
    {LAYERS_HEAD "{\"type\": \"avgpool2d\", \"kernel\": 2, \"count_include_pad\": 0}]}",
     "layers[0].count_include_pad: expected true or false, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"adaptive_avgpool2d\", \"output_size\": [0, 1]}]}",
     "layers[0].output_size[0]: expected a positive integer, got 0", NULL},
    {LAYERS_HEAD "{\"type\": \"adaptive_avgpool2d\", \"output_size\": null}]}",
     "layers[0].output_size: expected a positive integer or [h, w], got null", NULL},
    {LAYERS_HEAD "{\"type\": \"global_avgpool2d\", \"output_size\": 1}]}",
     "global_avgpool2d has no setting 'output_size' (that is a setting of adaptive_avgpool2d)",
     "global_avgpool2d takes no settings"},
    /* batchnorm2d, dropout2d */
    {LAYERS_HEAD "{\"type\": \"batchnorm2d\", \"momentum\": 1.5}]}",
     "layers[0].momentum: expected a number in [0, 1], got 1.5", NULL},
    {LAYERS_HEAD "{\"type\": \"batchnorm2d\", \"elementwise_affine\": true}]}",
     "batchnorm2d has no setting 'elementwise_affine'", "batchnorm2d takes eps, momentum, affine"},
    {LAYERS_HEAD "{\"type\": \"dropout2d\", \"p\": 1}]}",
     "layers[0].p: expected a number in [0, 1), got 1", NULL},
    /* typos */
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filter\": 4, \"kernel\": 3}]}",
     "layers[0].filter: unknown key; known keys for conv2d: type, filters, kernel, stride, "
     "padding, dilation, groups, bias",
     "did you mean 'filters'?"},
    {LAYERS_HEAD "{\"type\": \"conv2d\", \"filters\": 4, \"kernel_size\": 3}]}",
     "layers[0].kernel_size: unknown key", NULL},
    {LAYERS_HEAD "{\"type\": \"Conv2d\", \"filters\": 4, \"kernel\": 3}]}",
     "unknown layer type 'Conv2d'", "did you mean 'conv2d'?"},
    {LAYERS_HEAD "{\"type\": \"maxpool\", \"kernel\": 2}]}", "unknown layer type 'maxpool'",
     "did you mean 'maxpool2d'?"},
};

static void test_bad_settings(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof bad_specs / sizeof bad_specs[0]; i++) {
        const bad_spec *b = &bad_specs[i];
        ns_spec *spec = (ns_spec *)&spec; /* must be reset to NULL */
        ns_errclear(ctx);
        ns_status st = ns_spec_parse(ctx, b->json, strlen(b->json), "spec.json", &spec);
        const char *msg = ns_errmsg(ctx);
        bool ok = st == NS_ERR_PARSE && strstr(msg, b->fragment) != NULL &&
                  (b->fragment2 == NULL || strstr(msg, b->fragment2) != NULL);
        if (!ok)
            fprintf(stderr, "bad spec %zu: %s\n  status %d, message: %s\n  wanted: %s%s%s\n", i,
                    b->json, st, msg, b->fragment, b->fragment2 ? " / " : "",
                    b->fragment2 ? b->fragment2 : "");
        assert_true(ok);
        assert_null(spec);
    }
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),   cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_values), cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_round_trips),  cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
