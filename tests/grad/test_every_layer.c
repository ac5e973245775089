/* Every layer kind of the table, each on its own, with nothing written for it here: its row's
 * example (or {"type": NAME}) is parsed, printed and parsed again to the same text, its
 * settings text is written, an unknown key names the kind's known keys, and a model of it
 * followed by flatten and linear passes a gradient check (training mode, the dropout mask held
 * by replaying the forward count) for its input and every parameter. A new layer gets all of
 * this from its row alone. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "layers/layer.h"
#include "testutil.h"

#define B 4
#define OUT 3

/* L = sum(y * r); *size (may be NULL) receives sum |y * r|, the scale of its rounding. */
static double objective_size(ns_model *m, const float *x, const float *r, double *size)
{
    const float *y = NULL;
    ns_model_set_forward_count(m, 0);
    assert_int_equal(ns_model_forward(m, x, B, true, &y), NS_OK);
    double s = 0, a = 0;
    for (int i = 0; i < B * OUT; i++) {
        s += (double)y[i] * (double)r[i];
        a += fabs((double)y[i] * (double)r[i]);
    }
    if (size != NULL)
        *size = a;
    return s;
}

static double objective(ns_model *m, const float *x, const float *r)
{
    return objective_size(m, x, r, NULL);
}

/* Max over elements of |analytic - numeric| / max(|numeric|, floor), central differences with
 * h = 1e-2 (test_model_grad.c has the reasoning behind the bound of 2e-2). The floor is 1e-3,
 * or what float rounding of the objective leaves in a difference quotient (50 ulps of
 * sum |y * r|, over h) when that is more: a batch norm's input gradients are small next to
 * the objective (its inputs are spread over [-8, 8] and divided by their deviation). */
static double check(ns_model *m, float *v, const float *analytic, size_t n, const float *x,
                    const float *r)
{
    const float h = 1e-2f;
    double size = 0;
    (void)objective_size(m, x, r, &size);
    ns_test_probe p = {m, x, r, B, OUT};
    return ns_test_grad_error(v, analytic, n, h,
                              fmax(1e-3, 50.0 * (double)FLT_EPSILON * size / (double)h),
                              ns_test_probe_objective, &p);
}

/* Inputs on a shuffled grid 16 / n apart (never closer than 2h, nor within h of 0), so that no
 * difference crosses a kink of relu or a tie of max pooling. */
static void grid_input(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = -8.0f + 16.0f * ((float)i + 0.5f) / (float)n;
    uint64_t s = 7;
    for (int i = n - 1; i > 0; i--) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int j = (int)((s >> 33) % (uint64_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static void example_of(ns_layer_kind k, char *buf, size_t cap)
{
    const ns__layer_type *t = ns__layer_type_get(k);
    if (t->example != NULL)
        snprintf(buf, cap, "%s", t->example);
    else
        snprintf(buf, cap, "{\"type\": \"%s\"}", ns_layer_kind_name(k));
}

static void test_round_trip_and_messages(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++) {
        const char *name = ns_layer_kind_name((ns_layer_kind)k);
        char layer[256], json[512];
        example_of((ns_layer_kind)k, layer, sizeof layer);
        snprintf(json, sizeof json, "{\"layers\": [%s]}", layer);
        ns_spec *spec = NULL, *again = NULL;
        char *text = NULL, *text2 = NULL;
        if (ns_spec_parse(ctx, json, strlen(json), name, &spec) != NS_OK)
            fail_msg("%s: its example %s does not parse: %s", name, layer, ns_errmsg(ctx));
        NS_ASSERT_OK(ctx, ns_spec_to_json(spec, &text));
        NS_ASSERT_OK(ctx, ns_spec_parse(ctx, text, strlen(text), name, &again));
        NS_ASSERT_OK(ctx, ns_spec_to_json(again, &text2));
        assert_string_equal(text, text2);
        assert_non_null(strstr(text, name));

        /* Parsing filled every setting the row lists: the settings text names the required
         * ones and says nothing it does not know. */
        ns_layer_spec *ls = NULL;
        int n = 0;
        NS_ASSERT_OK(ctx, ns_spec_expand(spec, 0, &ls, &n));
        assert_int_equal(n, 1);
        char desc[256];
        ns_layer_spec_text(&ls[0], desc, sizeof desc);
        assert_null(strstr(desc, "(null)"));
        const ns__layer_type *t = ns__layer_type_get((ns_layer_kind)k);
        for (int i = 0; t->settings != NULL && t->settings[i] != NULL; i++)
            if (t->settings[i]->required)
                assert_non_null(strstr(desc, t->settings[i]->name));

        /* A key no kind takes: the message names the kind and its keys. */
        char bad[320];
        snprintf(bad, sizeof bad, "{\"layers\": [{\"type\": \"%s\", \"no_such_setting\": 1}]}",
                 name);
        ns_spec *none = NULL;
        assert_int_equal(ns_spec_parse(ctx, bad, strlen(bad), "bad.json", &none), NS_ERR_PARSE);
        char want[96];
        snprintf(want, sizeof want, "known keys for %s: type", name);
        if (strstr(ns_errmsg(ctx), want) == NULL)
            fail_msg("%s: %s", name, ns_errmsg(ctx));

        ns_dealloc(ctx, ls);
        ns_dealloc(ctx, text);
        ns_dealloc(ctx, text2);
        ns_spec_free(again);
        ns_spec_free(spec);
    }
    ns_ctx_free(ctx);
}

/* Builds EXAMPLE, flatten, linear(OUT) for flat [6] samples, or for [2, 6, 6] when the layer
 * wants images. */
static ns_model *build(ns_ctx *ctx, ns_layer_kind k, ns_spec **spec)
{
    char layer[256], json[512];
    example_of(k, layer, sizeof layer);
    snprintf(json, sizeof json,
             "{\"layers\": [%s, {\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": %d}]}",
             layer, OUT);
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "every_layer", spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 6);
    bo.max_batch = B;
    bo.seed = 5;
    bo.keep_input_grad = true;
    ns_model *m = NULL;
    if (ns_model_build(ctx, *spec, &bo, &m) == NS_OK)
        return m;
    bo.input_ndim = 3;
    bo.input_shape[0] = 2;
    bo.input_shape[1] = 6;
    bo.input_shape[2] = 6;
    if (ns_model_build(ctx, *spec, &bo, &m) != NS_OK)
        fail_msg("%s: builds for neither [6] nor [2, 6, 6]: %s", ns_layer_kind_name(k),
                 ns_errmsg(ctx));
    return m;
}

static void test_gradients(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++) {
        const char *name = ns_layer_kind_name((ns_layer_kind)k);
        ns_spec *spec = NULL;
        ns_model *m = build(ctx, (ns_layer_kind)k, &spec);
        int in = ns_model_input_size(m);
        size_t np = ns_model_param_count(m);
        float *x = malloc((size_t)(B * in) * sizeof *x),
              *dx = malloc((size_t)(B * in) * sizeof *dx);
        float *g = malloc(np * sizeof *g), r[B * OUT];
        assert_non_null(x);
        assert_non_null(dx);
        assert_non_null(g);
        grid_input(x, B * in);
        ns_test_fill_uniform(r, B * OUT, 2, -1, 1);

        ns_model_zero_grad(m);
        (void)objective(m, x, r);
        NS_ASSERT_OK(ctx, ns_model_backward(m, r));
        memcpy(g, ns_model_grads(m), np * sizeof *g);
        memcpy(dx, ns_model_input_grad(m), (size_t)(B * in) * sizeof *dx);
        double dsum = 0;
        for (int i = 0; i < B * in; i++)
            dsum += fabs((double)dx[i]);
        if (!(dsum > 0)) /* an all-zero gradient would pass trivially */
            fail_msg("%s: the input gradient is all zero", name);

        double e_params = check(m, ns_model_params(m), g, np, x, r);
        double e_input = check(m, x, dx, (size_t)(B * in), x, r);
        fprintf(stderr, "%-20s input %d, max relative error: params %.3g, input %.3g\n", name, in,
                e_params, e_input);
        if (!(e_params < 2e-2 && e_input < 2e-2))
            fail_msg("%s: gradient check failed (params %.3g, input %.3g)", name, e_params,
                     e_input);
        /* The check itself can fail: a negated input gradient is caught. */
        for (int i = 0; i < B * in; i++)
            dx[i] = -dx[i];
        assert_true(check(m, x, dx, (size_t)(B * in), x, r) > 0.5);

        free(g);
        free(dx);
        free(x);
        ns_model_free(m);
        ns_spec_free(spec);
    }
    ns_ctx_free(ctx);
}

/* The schemas name every kind, its settings and its required ones, as the rows say. */
static void test_schema(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    char *text = NULL;
    NS_ASSERT_OK(ctx, ns_layer_schema(ctx, &text));
    json_error_t err;
    json_t *all = json_loads(text, 0, &err);
    assert_non_null(all);
    assert_int_equal(json_object_size(all), NS_LAYER_KIND_COUNT);
    for (int k = 0; k < NS_LAYER_KIND_COUNT; k++) {
        const char *name = ns_layer_kind_name((ns_layer_kind)k);
        json_t *kind = json_object_get(all, name);
        assert_non_null(kind);
        assert_true(json_is_false(json_object_get(kind, "additionalProperties")));
        json_t *props = json_object_get(kind, "properties"),
               *req = json_object_get(kind, "required");
        const ns__layer_type *t = ns__layer_type_get((ns_layer_kind)k);
        size_t n = 0, n_req = 0;
        for (int i = 0; t->settings != NULL && t->settings[i] != NULL; i++, n++) {
            assert_non_null(json_object_get(props, t->settings[i]->name));
            n_req += t->settings[i]->required;
        }
        assert_int_equal(json_object_size(props), 1 + n);
        assert_int_equal(json_array_size(req), 1 + n_req);
        char doc[1024];
        ns_layer_settings_doc((ns_layer_kind)k, doc, sizeof doc);
        assert_true(n == 0 ? doc[0] == '\0' : strstr(doc, t->settings[0]->name) == doc);
    }
    json_decref(all);
    ns_dealloc(ctx, text);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_messages),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
