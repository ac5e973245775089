/* Hostile specs: windows, paddings, strides, dilations, unit and filter counts and input
 * shapes whose sizes do not fit are refused at build, with a message that names the layer
 * and the setting, never a crash or a run on garbage geometry; the Train card refuses them
 * before its first step; the edge cases that do fit still build and compute what PyTorch
 * does (kernel equal to the input, padding of exactly half the kernel, a dilation that fits,
 * windows far wider than the input). */
#include <limits.h>
#include <math.h>
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

/* Options for samples of shape[0..ndim); max_batch 0 keeps the default (256). */
static void opts_for(ns_build_opts *bo, int ndim, const int *shape, int max_batch)
{
    ns_build_opts_default(bo, 1);
    bo->input_ndim = ndim;
    for (int i = 0; i < ndim; i++)
        bo->input_shape[i] = shape[i];
    if (max_batch > 0)
        bo->max_batch = max_batch;
    bo->seed = 3;
}

static void assert_msg_has_all(ns_ctx *ctx, const char *what, const char *const *has, int n)
{
    for (int i = 0; i < n && has[i] != NULL; i++) {
        if (strstr(ns_errmsg(ctx), has[i]) == NULL)
            fprintf(stderr, "%s: message lacks \"%s\"\n", what, has[i]);
        NS_ASSERT_MSG_HAS(ctx, has[i]);
    }
}

/* ---- the cases ------------------------------------------------------------------------------- */

/* The data's per-sample shape. */
typedef struct input {
    int ndim;
    int shape[3];
} input;

typedef struct hostile {
    const char *what;
    input in;
    int max_batch;      /* 0: the default (256, what train plans for too) */
    ns_status status;   /* NS_ERR_SHAPE at build, or NS_ERR_PARSE when the parser refuses */
    bool train;         /* also through the Train card (the data's outputs match the spec's) */
    const char *json;   /* the spec */
    const char *has[3]; /* parts of the message: the layer, the setting, what is wrong */
} hostile;

#define L1(layer) "{\"layers\": [" layer "]}"
#define L3(layer)                                                                                  \
    "{\"layers\": [" layer ", {\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 10}]}"

/* clang-format off */
#define IMG {3, {1, 28, 28}}
#define FEAT {1, {13, 0, 0}}
#define SHAPE NS_ERR_SHAPE
#define PARSE NS_ERR_PARSE

static const hostile cases[] = {
    /* Crashed train with SIGSEGV in the max-pooling kernel. */
    {"maxpool 2e9/1e9", IMG, 0, SHAPE, true,
     L3("{\"type\": \"maxpool2d\", \"kernel\": 2000000000, \"padding\": 1000000000}"),
     {"layers[0] (maxpool2d)",
      "kernel 2000000000 with padding 1000000000 does not fit the 28x28 input",
      "use a kernel no larger than the input"}},
    {"maxpool INT_MAX/2^30-1", IMG, 0, SHAPE, true,
     L3("{\"type\": \"maxpool2d\", \"kernel\": 2147483647, \"padding\": 1073741823}"),
     {"layers[0] (maxpool2d)", "kernel 2147483647 with padding 1073741823 does not fit",
      "the padded input would be 2147483674x2147483674"}},
    /* Trained with exit 0 on a divisor that had overflowed. */
    {"avgpool 2e9/1e9", IMG, 0, SHAPE, true,
     L3("{\"type\": \"avgpool2d\", \"kernel\": 2000000000, \"padding\": 1000000000}"),
     {"layers[0] (avgpool2d)", "kernel 2000000000 with padding 1000000000 does not fit", NULL}},
    {"avgpool 2e9", IMG, 0, SHAPE, true,
     L3("{\"type\": \"avgpool2d\", \"kernel\": 2000000000}"),
     {"layers[0] (avgpool2d)", "kernel 2000000000 is larger than the 28x28 input", NULL}},
    {"maxpool stride INT_MAX", IMG, 0, SHAPE, true,
     L3("{\"type\": \"maxpool2d\", \"kernel\": 2, \"stride\": 2147483647}"),
     {"layers[0] (maxpool2d)", "stride 2147483647 is longer than", "use at most 28"}},
    {"pool one past the axis limit", IMG, 0, SHAPE, true,
     L3("{\"type\": \"maxpool2d\", \"kernel\": [1, 16777190], \"padding\": [0, 8388595]}"),
     {"layers[0] (maxpool2d)", "kernel 1x16777190 with padding 0x8388595 does not fit",
      "28x16777218"}},
    /* Were "produces an empty output" (the output size had overflowed). */
    {"conv filters 1e8", IMG, 0, SHAPE, true,
     L3("{\"type\": \"conv2d\", \"filters\": 100000000, \"kernel\": 3}"),
     {"layers[0] (conv2d)", "filters 100000000",
      "[100000000, 26, 26], 67600000000 values per sample"}},
    {"conv padding 30000", IMG, 0, SHAPE, true,
     L3("{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"padding\": 30000}"),
     {"layers[0] (conv2d)", "padding 30000", "[8, 60026, 60026]"}},
    {"adaptive 2e9", IMG, 0, SHAPE, true,
     L3("{\"type\": \"adaptive_avgpool2d\", \"output_size\": 2000000000}"),
     {"layers[0] (adaptive_avgpool2d)", "output_size 2000000000",
      "[1, 2000000000, 2000000000], 4000000000000000000 values"}},
    {"adaptive [1, 2e9]", IMG, 0, SHAPE, true,
     L3("{\"type\": \"adaptive_avgpool2d\", \"output_size\": [1, 2000000000]}"),
     {"layers[0] (adaptive_avgpool2d)", "output_size 1x2000000000 is longer than", NULL}},
    /* Was "kernel 3 (dilated to -294967295)". */
    {"conv dilation 2e9", IMG, 0, SHAPE, true,
     L3("{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"dilation\": 2000000000}"),
     {"layers[0] (conv2d)", "kernel 3 (dilated to 4000000001) is larger than the 28x28 input",
      "smaller kernel or dilation"}},
    {"conv dilation 2e9 same", IMG, 0, SHAPE, true,
     L3("{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"dilation\": 2000000000, "
        "\"padding\": \"same\"}"),
     {"layers[0] (conv2d)",
      "kernel 3 (dilation 2000000000) with padding 2000000000 does not fit", NULL}},
    {"conv kernel 2e9 padding 1e9", IMG, 0, SHAPE, true,
     L3("{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 2000000000, \"padding\": 1000000000}"),
     {"layers[0] (conv2d)", "kernel 2000000000 with padding 1000000000 does not fit", NULL}},
    /* Weights, im2col matrices and batch activations past what one tensor may hold. */
    {"conv weight", {3, {1, 50, 50}}, 0, SHAPE, false,
     L3("{\"type\": \"conv2d\", \"filters\": 1000000, \"kernel\": 50}"),
     {"layers[0] (conv2d)", "filters 1000000 with kernel 50",
      "weight of [1000000, 1, 50, 50], 2500000000 values"}},
    {"conv im2col", {3, {1, 20000, 20000}}, 1, SHAPE, false,
     L1("{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 100, \"padding\": 50}"),
     {"layers[0] (conv2d)", "kernel 100", "im2col matrix of 4000400010000 values per sample"}},
    {"conv output for the batch", {3, {1, 512, 512}}, 0, SHAPE, false,
     L1("{\"type\": \"conv2d\", \"filters\": 64, \"kernel\": 3, \"padding\": 1}"),
     {"layers[0] (conv2d)", "4294967296 for a batch of 256", "fewer filters"}},
    {"conv after a long input", {3, {1, 1, 16777217}}, 1, SHAPE, false,
     L1("{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 1}"),
     {"layers[0] (conv2d)", "1x16777217 input is longer than the 16777216", NULL}},
    {"units 2e9", FEAT, 0, SHAPE, false,
     L1("{\"type\": \"linear\", \"units\": 2000000000}"),
     {"layers[0] (linear)", "units 2000000000 with 13 input features",
      "weight of [2000000000, 13], 26000000000 values"}},
    {"units 1e8", FEAT, 0, SHAPE, false,
     L1("{\"type\": \"linear\", \"units\": 100000000}"),
     {"layers[0] (linear)",
      "[100000000] has 100000000 values per sample, 25600000000 for a batch of 256",
      "fewer units"}},
    {"short form hidden 2e9", FEAT, 0, SHAPE, true,
     "{\"hidden_layers\": [2000000000], \"output_size\": 1}",
     {"layers[0] (linear)", "units 2000000000 with 13 input features", NULL}},
    {"short form output 2e9", FEAT, 0, SHAPE, false,
     "{\"hidden_layers\": [64], \"output_size\": 2000000000}",
     {"layers[2] (linear)", "units 2000000000 with 64 input features", NULL}},
    {"units after a flatten", IMG, 0, SHAPE, false,
     "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 3000000}]}",
     {"layers[1] (linear)", "units 3000000 with 784 input features", NULL}},
    /* Input shapes. */
    {"input product", {3, {100000, 100000, 100000}}, 0, SHAPE, false,
     L1("{\"type\": \"linear\", \"units\": 1}"),
     {"build: the input [100000, 100000, 100000]", "1000000000000000 values per sample", NULL}},
    {"input for the batch", {3, {3, 2048, 2048}}, 0, SHAPE, false,
     L1("{\"type\": \"relu\"}"),
     {"build: the input [3, 2048, 2048]", "3221225472 for a batch of 256", NULL}},
    {"input for a huge max_batch", FEAT, 2147483647, SHAPE, false,
     L1("{\"type\": \"linear\", \"units\": 1}"),
     {"build: the input [13]", "for a batch of 2147483647", NULL}},
    /* The parser's own refusals (sizes that cannot even be stored, negative values). */
    {"pool padding INT_MAX", IMG, 0, PARSE, false,
     L1("{\"type\": \"maxpool2d\", \"kernel\": 3, \"padding\": 2147483647}"),
     {"layers[0].padding", "padding 2147483647 is more than half the kernel 3", "use at most 1"}},
    {"pool padding > kernel / 2", IMG, 0, PARSE, false,
     L1("{\"type\": \"avgpool2d\", \"kernel\": [5, 4], \"padding\": [2, 3]}"),
     {"layers[0].padding", "more than half the kernel [5, 4]", NULL}},
    {"same padding beyond an int", IMG, 0, PARSE, false,
     L1("{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 5, \"dilation\": 2147483647, "
        "\"padding\": \"same\"}"),
     {"layers[0].padding", "needs 4294967294 padding on each side", "smaller kernel or dilation"}},
    {"kernel past INT_MAX", IMG, 0, PARSE, false,
     L1("{\"type\": \"maxpool2d\", \"kernel\": 10000000000}"),
     {"layers[0].kernel", "expected a positive integer", "10000000000"}},
    {"negative units", FEAT, 0, PARSE, false,
     L1("{\"type\": \"linear\", \"units\": -5}"),
     {"layers[0].units", "expected a positive integer, got -5", NULL}},
    {"negative stride", IMG, 0, PARSE, false,
     L1("{\"type\": \"conv2d\", \"filters\": 1, \"kernel\": 3, \"stride\": [1, -2]}"),
     {"layers[0].stride[1]", "got -2", NULL}},
    {"zero filters", IMG, 0, PARSE, false,
     L1("{\"type\": \"conv2d\", \"filters\": 0, \"kernel\": 3}"),
     {"layers[0].filters", "expected a positive integer, got 0", NULL}},
    {"negative output_size", IMG, 0, PARSE, false,
     L1("{\"type\": \"adaptive_avgpool2d\", \"output_size\": -3}"),
     {"layers[0].output_size", "got -3", NULL}},
    {"negative input", IMG, 0, PARSE, false,
     "{\"input\": [1, -28, 28], \"layers\": [{\"type\": \"relu\"}]}",
     {"input[1]", "got -28", NULL}},
};
/* clang-format on */

#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* Parses and builds case c; returns the status (the spec, if any, is freed). */
static ns_status build_case(ns_ctx *ctx, const hostile *c)
{
    ns_spec *spec = NULL;
    ns_status st = ns_spec_parse(ctx, c->json, strlen(c->json), "spec.json", &spec);
    if (st != NS_OK)
        return st;
    ns_build_opts bo;
    opts_for(&bo, c->in.ndim, c->in.shape, c->max_batch);
    ns_model *m = (ns_model *)&m;
    st = ns_model_build(ctx, spec, &bo, &m);
    if (st != NS_OK)
        assert_null(m);
    ns_model_free(st == NS_OK ? m : NULL);
    ns_spec_free(spec);
    return st;
}

static void test_hostile_builds_refused(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (int i = 0; i < N_CASES; i++) {
        const hostile *c = &cases[i];
        ns_status st = build_case(ctx, c);
        if (st != c->status)
            fprintf(stderr, "case \"%s\": status %d, message: %s\n", c->what, st, ns_errmsg(ctx));
        NS_ASSERT_STATUS(ctx, st, c->status);
        assert_msg_has_all(ctx, c->what, c->has, 3);
    }
    ns_ctx_free(ctx);
}

/* ---- settings no parser would let through (a spec made or edited in code) -------------------- */

typedef struct edit {
    const char *what;
    const char *json; /* a valid spec to start from (input [1, 28, 28]) */
    void (*apply)(ns_layer_spec *l);
    const char *has[2];
} edit;

/* clang-format off */
static void pool_padding_int_max(ns_layer_spec *l) { l->padding[0] = l->padding[1] = INT_MAX; }
static void pool_padding_over_half(ns_layer_spec *l) { l->padding[1] = 2; }
static void kernel_negative(ns_layer_spec *l) { l->kernel[0] = -1; }
static void stride_negative(ns_layer_spec *l) { l->stride[1] = -4; }
static void dilation_zero(ns_layer_spec *l) { l->dilation[0] = 0; }
static void padding_negative(ns_layer_spec *l) { l->padding[0] = -1; }
static void filters_negative(ns_layer_spec *l) { l->filters = -8; }
static void groups_zero(ns_layer_spec *l) { l->groups = 0; }
static void units_negative(ns_layer_spec *l) { l->units = -1; }
static void output_size_negative(ns_layer_spec *l) { l->output_size[1] = -3; }
static void dilation_int_max(ns_layer_spec *l) { l->dilation[0] = l->dilation[1] = INT_MAX; }
static void p_out_of_range(ns_layer_spec *l) { l->p = 1.5; }

#define CONV L1("{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3}")

static const edit edits[] = {
    {"pool padding INT_MAX", L1("{\"type\": \"maxpool2d\", \"kernel\": 3}"), pool_padding_int_max,
     {"layers[0] (maxpool2d)", "padding 2147483647 is more than half the kernel 3"}},
    {"pool padding over half", L1("{\"type\": \"avgpool2d\", \"kernel\": 3}"),
     pool_padding_over_half,
     {"layers[0] (avgpool2d)", "padding 0x2 is more than half the kernel 3"}},
    {"kernel -1", L1("{\"type\": \"maxpool2d\", \"kernel\": 3}"), kernel_negative,
     {"layers[0] (maxpool2d)", "kernel, stride and dilation must be positive"}},
    {"stride -4", CONV, stride_negative,
     {"layers[0] (conv2d)", "kernel, stride and dilation must be positive"}},
    {"dilation 0", CONV, dilation_zero,
     {"layers[0] (conv2d)", "dilation must be positive"}},
    {"padding -1", CONV, padding_negative,
     {"layers[0] (conv2d)", "padding non-negative"}},
    {"filters -8", CONV, filters_negative,
     {"layers[0] (conv2d)", "filters and groups must be positive, got -8"}},
    {"groups 0", CONV, groups_zero,
     {"layers[0] (conv2d)", "filters and groups must be positive, got 2 and 0"}},
    {"units -1", "{\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 2}]}",
     units_negative, {"layers[1] (linear)", "units must be positive, got -1"}},
    {"output_size -3", L1("{\"type\": \"adaptive_avgpool2d\", \"output_size\": 2}"),
     output_size_negative, {"layers[0] (adaptive_avgpool2d)", "output_size must be positive"}},
    {"dilation INT_MAX", CONV, dilation_int_max,
     {"layers[0] (conv2d)", "kernel 3 (dilated to 4294967295) is larger than the 28x28 input"}},
    {"dropout2d p 1.5", L1("{\"type\": \"dropout2d\"}"), p_out_of_range,
     {"layers[0] (dropout2d)", "p must be in [0, 1), got 1.5"}},
};
/* clang-format on */

static void test_edited_specs_refused(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const int img[3] = {1, 28, 28};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const edit *e = &edits[i];
        ns_spec *spec = NULL;
        NS_ASSERT_OK(ctx, ns_spec_parse(ctx, e->json, strlen(e->json), "spec.json", &spec));
        e->apply(&spec->layers[spec->n_layers - 1]);
        ns_build_opts bo;
        opts_for(&bo, 3, img, 4);
        ns_model *m = (ns_model *)&m;
        ns_status st = ns_model_build(ctx, spec, &bo, &m);
        if (st != NS_ERR_SHAPE)
            fprintf(stderr, "edit \"%s\": status %d, message: %s\n", e->what, st, ns_errmsg(ctx));
        NS_ASSERT_STATUS(ctx, st, NS_ERR_SHAPE);
        assert_null(m);
        assert_msg_has_all(ctx, e->what, e->has, 2);
        ns_spec_free(spec);
    }
    ns_ctx_free(ctx);
}

/* Build options no front end would pass. */
static void test_hostile_build_options(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *json = L1("{\"type\": \"relu\"}");
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec));
    ns_build_opts bo;
    ns_model *m = NULL;
    const int shapes[][3] = {{1, -28, 28}, {0, 28, 28}, {INT_MAX, INT_MAX, INT_MAX}};
    const char *msgs[] = {"input dimension 1 must be positive, got -28",
                          "input dimension 0 must be positive, got 0",
                          ("build: the input [2147483647, 2147483647, 2147483647] has about "
                           "9.9e+27 values per sample")};
    for (int i = 0; i < 3; i++) {
        opts_for(&bo, 3, shapes[i], 4);
        ns_status st = ns_model_build(ctx, spec, &bo, &m);
        assert_true(st == NS_ERR_INVALID || st == NS_ERR_SHAPE);
        NS_ASSERT_MSG_HAS(ctx, msgs[i]);
        assert_null(m);
    }
    opts_for(&bo, 3, shapes[0], 4);
    bo.input_ndim = 4;
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "1 to 3 dimensions per sample, got 4");
    const int img[3] = {1, 28, 28};
    opts_for(&bo, 3, img, 4);
    bo.max_batch = -1;
    NS_ASSERT_STATUS(ctx, ns_model_build(ctx, spec, &bo, &m), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "max_batch and output_size must not be negative");
    ns_spec_free(spec);
    ns_ctx_free(ctx);
}

/* ---- the Train card refuses them before its first step --------------------------------------- */

#define N_IMAGES 10

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* N_IMAGES 28x28 grey images, one of each of ten classes, as IDX files. */
static ns_dataset *load_images(ns_ctx *ctx)
{
    static unsigned char img[16 + N_IMAGES * 28 * 28], lab[8 + N_IMAGES];
    put_be32(img, 0x00000803);
    put_be32(img + 4, N_IMAGES);
    put_be32(img + 8, 28);
    put_be32(img + 12, 28);
    for (size_t k = 0; k < (size_t)N_IMAGES * 28 * 28; k++)
        img[16 + k] = (unsigned char)((k * 37 + k / 28) % 251);
    put_be32(lab, 0x00000801);
    put_be32(lab + 4, N_IMAGES);
    for (int i = 0; i < N_IMAGES; i++)
        lab[8 + i] = (unsigned char)(i % 10);
    char images[256], labels[256];
    snprintf(images, sizeof images, "%s", ns_test_tmp("images-idx3-ubyte"));
    snprintf(labels, sizeof labels, "%s", ns_test_tmp("labels-idx1-ubyte"));
    write_file(images, img, sizeof img);
    write_file(labels, lab, sizeof lab);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, images, labels, NULL, &ds));
    return ds;
}

/* N_IMAGES rows of 13 features and a numeric target. */
static ns_dataset *load_features(ns_ctx *ctx)
{
    char csv[2048];
    size_t n = (size_t)snprintf(csv, sizeof csv, "f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11,f12,y\n");
    for (int r = 0; r < N_IMAGES; r++) {
        for (int c = 0; c < 13; c++)
            n += (size_t)snprintf(csv + n, sizeof csv - n, "%d,", (r * 13 + c) % 7);
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%d.5\n", r);
    }
    ns_csv_options co;
    ns_csv_options_default(&co);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, csv, n, "features.csv", &co, NULL, &ds));
    return ds;
}

static ns_status fit_one_step(ns_ctx *ctx, const char *json, const ns_dataset *ds, ns_task task,
                              ns_fit_result *res)
{
    ns_spec *spec = NULL;
    ns_status st = ns_spec_parse(ctx, json, strlen(json), "spec.json", &spec);
    if (st != NS_OK)
        return st;
    ns_run_config *cfg = NULL;
    char batch[32];
    snprintf(batch, sizeof batch, "%d", N_IMAGES); /* one epoch is one step */
    st = ns_run_config_new(ctx, &cfg);
    if (st == NS_OK)
        st = ns_run_config_set(cfg, "epochs", "1", "test");
    if (st == NS_OK)
        st = ns_run_config_set(cfg, "batch_size", batch, "test");
    if (st == NS_OK)
        st = ns_run_config_set(cfg, "normalize", "\"none\"", "test");
    if (st == NS_OK && task != NS_TASK_AUTO)
        st = ns_run_config_set(cfg, "task",
                               task == NS_TASK_CLASSIFICATION ? "\"classification\""
                                                              : "\"regression\"",
                               "test");
    ns_fit_input in = {.spec = spec, .train = ds};
    if (st == NS_OK)
        st = ns_fit(ctx, cfg, &in, NULL, NULL, res);
    else
        memset(res, 0, sizeof *res);
    ns_run_config_free(cfg);
    ns_spec_free(spec);
    return st;
}

static void test_train_refuses_first(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *images = load_images(ctx), *features = load_features(ctx);
    int tried = 0;
    for (int i = 0; i < N_CASES; i++) {
        const hostile *c = &cases[i];
        if (!c->train)
            continue;
        bool img = c->in.ndim == 3;
        ns_fit_result res;
        ns_status st = fit_one_step(ctx, c->json, img ? images : features,
                                    img ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION, &res);
        if (st != c->status)
            fprintf(stderr, "train \"%s\": status %d, message: %s\n", c->what, st, ns_errmsg(ctx));
        NS_ASSERT_STATUS(ctx, st, c->status);
        assert_null(res.model);
        assert_int_equal(res.epochs_run, 0);
        assert_msg_has_all(ctx, c->what, c->has, 3);
        ns_fit_result_free(ctx, &res);
        tried++;
    }
    assert_int_equal(tried, 14);
    /* The same data and settings train a spec that fits (so the refusals are the specs'). */
    ns_fit_result res;
    const char *ok = L3("{\"type\": \"maxpool2d\", \"kernel\": 28, \"padding\": 14}");
    NS_ASSERT_OK(ctx, fit_one_step(ctx, ok, images, NS_TASK_CLASSIFICATION, &res));
    assert_non_null(res.model);
    assert_int_equal(res.epochs_run, 1);
    ns_fit_result_free(ctx, &res);
    ok = "{\"hidden_layers\": [4], \"output_size\": 1}";
    NS_ASSERT_OK(ctx, fit_one_step(ctx, ok, features, NS_TASK_REGRESSION, &res));
    assert_int_equal(res.epochs_run, 1);
    ns_fit_result_free(ctx, &res);
    ns_dataset_free(images);
    ns_dataset_free(features);
    ns_ctx_free(ctx);
}

/* ---- edge cases that fit still build and compute --------------------------------------------- */

typedef struct fits {
    const char *json;
    int shape[3]; /* the input [C, H, W] */
    int out[3];   /* the first layer's output */
} fits;

static const fits fitting[] = {
    /* kernel equal to the input */
    {L1("{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 28}"), {1, 28, 28}, {4, 1, 1}},
    {L1("{\"type\": \"maxpool2d\", \"kernel\": 28}"), {1, 28, 28}, {1, 1, 1}},
    {L1("{\"type\": \"avgpool2d\", \"kernel\": [28, 5]}"), {2, 28, 5}, {2, 1, 1}},
    /* padding of exactly half the kernel */
    {L1("{\"type\": \"maxpool2d\", \"kernel\": 3, \"stride\": 1, \"padding\": 1}"),
     {1, 28, 28},
     {1, 28, 28}},
    {L1("{\"type\": \"avgpool2d\", \"kernel\": [4, 2], \"padding\": [2, 1]}"),
     {1, 28, 28},
     {1, 8, 15}},
    {L1("{\"type\": \"maxpool2d\", \"kernel\": 3, \"stride\": 2, \"padding\": 1}"),
     {3, 1, 1},
     {3, 1, 1}},
    /* a dilation that fits exactly, and with "same" padding */
    {L1("{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"dilation\": 13}"),
     {1, 28, 28},
     {2, 2, 2}},
    {L1("{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"dilation\": 13, \"padding\": "
        "\"same\"}"),
     {1, 28, 28},
     {2, 28, 28}},
    /* strides longer than the input */
    {L1("{\"type\": \"maxpool2d\", \"kernel\": 2, \"stride\": 1000}"), {1, 28, 28}, {1, 1, 1}},
    {L1("{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 1, \"stride\": 16777216}"),
     {1, 28, 28},
     {2, 1, 1}},
    /* windows far wider than the input, up to the axis limit */
    {L1("{\"type\": \"maxpool2d\", \"kernel\": 1000000, \"padding\": 500000}"),
     {1, 28, 28},
     {1, 1, 1}},
    {L1("{\"type\": \"maxpool2d\", \"kernel\": [1, 16777188], \"padding\": [0, 8388594]}"),
     {1, 28, 28},
     {1, 28, 1}},
    {L1("{\"type\": \"avgpool2d\", \"kernel\": 1000000, \"padding\": 500000}"),
     {1, 28, 28},
     {1, 1, 1}},
    /* an adaptive output larger than the input */
    {L1("{\"type\": \"adaptive_avgpool2d\", \"output_size\": 100}"), {2, 28, 28}, {2, 100, 100}},
};

static void test_edge_cases_build(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    for (size_t i = 0; i < sizeof fitting / sizeof fitting[0]; i++) {
        const fits *f = &fitting[i];
        ns_spec *spec = NULL;
        NS_ASSERT_OK(ctx, ns_spec_parse(ctx, f->json, strlen(f->json), "spec.json", &spec));
        ns_build_opts bo;
        opts_for(&bo, 3, f->shape, 2);
        ns_model *m = NULL;
        ns_status st = ns_model_build(ctx, spec, &bo, &m);
        if (st != NS_OK)
            fprintf(stderr, "edge case %zu (%s): %s\n", i, f->json, ns_errmsg(ctx));
        NS_ASSERT_OK(ctx, st);
        const ns__layer *l = &m->layers[0];
        for (int d = 0; d < 3; d++)
            assert_int_equal(l->out_shape[d], f->out[d]);
        /* A training forward and backward run on the geometry. */
        size_t n = 2 * (size_t)ns_model_input_size(m);
        float *x = malloc(n * sizeof *x);
        float *dy = malloc(2 * (size_t)ns_model_output_size(m) * sizeof *dy);
        assert_non_null(x);
        assert_non_null(dy);
        ns_test_fill_uniform(x, n, 11 + i, -1.0f, 1.0f);
        ns_test_fill_uniform(dy, 2 * (size_t)ns_model_output_size(m), 5, -1.0f, 1.0f);
        const float *y = NULL;
        NS_ASSERT_OK(ctx, ns_model_forward(m, x, 2, true, &y));
        for (int k = 0; k < 2 * ns_model_output_size(m); k++)
            assert_true(isfinite(y[k]));
        NS_ASSERT_OK(ctx, ns_model_backward(m, dy));
        free(x);
        free(dy);
        ns_model_free(m);
        ns_spec_free(spec);
    }
    ns_ctx_free(ctx);
}

/* Windows that cover the whole 28x28 input and much padding compute what PyTorch does: the
 * maximum, the mean of the real inputs, or their sum over the padded window's area. */
static void test_wide_windows_values(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *specs[] = {
        L1("{\"type\": \"maxpool2d\", \"kernel\": 1000000, \"padding\": 500000}"),
        L1("{\"type\": \"avgpool2d\", \"kernel\": 1000000, \"padding\": 500000, "
           "\"count_include_pad\": false}"),
        L1("{\"type\": \"avgpool2d\", \"kernel\": 1000000, \"padding\": 500000}"),
        L1("{\"type\": \"maxpool2d\", \"kernel\": [1, 16777188], \"padding\": [0, 8388594]}"),
    };
    float x[28 * 28];
    ns_test_fill_uniform(x, 28 * 28, 9, -2.0f, 3.0f);
    float mx = -INFINITY, sum = 0.0f;
    for (int k = 0; k < 28 * 28; k++) {
        mx = x[k] > mx ? x[k] : mx;
        sum += x[k]; /* row-major, as the kernel sums */
    }
    const int img[3] = {1, 28, 28};
    for (int s = 0; s < 4; s++) {
        ns_spec *spec = NULL;
        NS_ASSERT_OK(ctx, ns_spec_parse(ctx, specs[s], strlen(specs[s]), "spec.json", &spec));
        ns_build_opts bo;
        opts_for(&bo, 3, img, 1);
        ns_model *m = NULL;
        NS_ASSERT_OK(ctx, ns_model_build(ctx, spec, &bo, &m));
        const float *y = NULL;
        NS_ASSERT_OK(ctx, ns_model_forward(m, x, 1, false, &y));
        if (s == 0)
            assert_true(y[0] == mx);
        else if (s == 1)
            assert_true(y[0] == sum / (float)(28 * 28));
        else if (s == 2)
            assert_true(y[0] == sum / 1e12f);
        else
            for (int r = 0; r < 28; r++) {
                float row = -INFINITY;
                for (int c = 0; c < 28; c++)
                    row = x[r * 28 + c] > row ? x[r * 28 + c] : row;
                assert_true(y[r] == row);
            }
        ns_model_free(m);
        ns_spec_free(spec);
    }
    ns_ctx_free(ctx);
}

/* Max pooling over every small geometry (windows wider than the input, padding up to half
 * the kernel, any stride) against a plain loop: the first maximum in row-major window order
 * and where it is. */
static void test_maxpool_against_plain_loop(void **state)
{
    (void)state;
    float x[2 * 6 * 6], y[2 * 6 * 6];
    int32_t arg[2 * 6 * 6];
    ns_test_fill_uniform(x, sizeof x / sizeof x[0], 21, -1.0f, 1.0f);
    x[7] = x[8]; /* a tie: the first wins */
    int checked = 0;
    for (int h = 1; h <= 6; h++)
        for (int w = 1; w <= 6; w++)
            for (int kh = 1; kh <= 7; kh++)
                for (int kw = 1; kw <= 9; kw++)
                    for (int s = 1; s <= 3; s++)
                        for (int p = 0; p <= kw / 2 && p <= kh / 2; p++) {
                            ns_conv2d_geom g = {1,        h,          w,      1,      0, 0,
                                                {kh, kw}, {s, s + 1}, {p, p}, {1, 1}, 1};
                            g.out_h = ns_conv2d_out_len(h, kh, s, p, 1);
                            g.out_w = ns_conv2d_out_len(w, kw, s + 1, p, 1);
                            if (g.out_h < 1 || g.out_w < 1)
                                continue;
                            ns_maxpool2d_forward(y, arg, x, &g, 2);
                            for (int b = 0; b < 2; b++)
                                for (int oh = 0; oh < g.out_h; oh++)
                                    for (int ow = 0; ow < g.out_w; ow++) {
                                        const float *xp = x + b * h * w;
                                        float best = -INFINITY;
                                        int at = -1;
                                        for (int i = 0; i < kh; i++)
                                            for (int j = 0; j < kw; j++) {
                                                int r = oh * s - p + i, c = ow * (s + 1) - p + j;
                                                if (r < 0 || r >= h || c < 0 || c >= w)
                                                    continue;
                                                if (at < 0 || xp[r * w + c] > best) {
                                                    best = xp[r * w + c];
                                                    at = r * w + c;
                                                }
                                            }
                                        int o = (b * g.out_h + oh) * g.out_w + ow;
                                        assert_true(at >= 0);
                                        assert_true(y[o] == best);
                                        assert_int_equal(arg[o], at);
                                        checked++;
                                    }
                        }
    assert_true(checked > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_builds_refused),
        cmocka_unit_test(test_edited_specs_refused),
        cmocka_unit_test(test_hostile_build_options),
        cmocka_unit_test(test_train_refuses_first),
        cmocka_unit_test(test_edge_cases_build),
        cmocka_unit_test(test_wide_windows_values),
        cmocka_unit_test(test_maxpool_against_plain_loop),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
