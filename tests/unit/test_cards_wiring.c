/* Cards as a new user meets them: zero_grad's model output when only an optimizer is wired,
 * names other tools give the cards, batch_index files written by hand, plugin errors, a
 * short-form blueprint on images, and layer shapes from the model module. */
#include <stdio.h>
#include <unistd.h>

#include "pipeline_fixture.h"

/* ---- zero_grad wired to an optimizer passes its model on ---------------------------------- */

#define ZERO_HEAD                                                                                  \
    "pipeline: zero-model\n"                                                                       \
    "seed: 3\n"                                                                                    \
    "cards:\n"                                                                                     \
    "  - {id: load, card: data_load, with: {name: iris}}\n"                                        \
    "  - {id: define, card: model_define, with: {hidden_layers: [8]}}\n"                           \
    "  - {id: build, card: build_model, in: {model_spec: define.model_spec, input_size: "          \
    "load.input_size}}\n"                                                                          \
    "  - {id: optim, card: init_optimizer, in: {model: build.model}}\n"                            \
    "  - id: epochs\n"                                                                             \
    "    card: loop\n"                                                                             \
    "    with: {epochs: 2, batch_size: 50}\n"                                                      \
    "    in: {dataset: load.dataset, model: build.model, optimizer: optim.optimizer}\n"            \
    "    cards:\n"                                                                                 \
    "      - {id: batch, card: prepare_batch, in: {dataset: epochs.dataset, batch_index: "         \
    "epochs.batch_index}}\n"                                                                       \
    "      - {id: zero, card: zero_grad, in: {optimizer: epochs.optimizer}}\n"

#define ZERO_TAIL(model)                                                                           \
    "      - {id: fwd, card: forward, in: {model: " model ", batch_data: batch.batch_data}}\n"     \
    "      - {id: loss, card: calculate_loss, in: {predictions: fwd.predictions, batch_data: "     \
    "batch.batch_data}}\n"                                                                         \
    "      - {id: bwd, card: backward, in: {loss: loss.loss, model: fwd.model}}\n"                 \
    "      - {id: step, card: optimizer_step, in: {optimizer: zero.optimizer, model: "            \
    "bwd.model}}\n"                                                                                \
    "  - {id: zero_top, card: zero_grad, in: {optimizer: optim.optimizer}}\n"                      \
    "  - {id: eval, card: evaluate, in: {model: zero_top.model, dataset: load.dataset}}\n"

static void test_zero_grad_model_is_the_optimizers(void **state)
{
    fixture *f = *state;
    ns_pipeline *a = NULL, *b = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, ZERO_HEAD ZERO_TAIL("zero.model"), &a));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(a, NULL));
    NS_ASSERT_OK(f->ctx, parse(f, ZERO_HEAD ZERO_TAIL("epochs.model"), &b));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(b, NULL));
    /* the same object as the optimizer's model */
    ns_value *zm = ns_pipeline_output(a, "zero_top.model");
    assert_non_null(zm);
    assert_ptr_equal(zm, ns_pipeline_output(a, "build.model"));
    assert_non_null(ns_pipeline_output(a, "eval.metrics"));
    /* and training through zero.model is training through the loop's model */
    size_t n = ns_model_param_count(ns_value_model(zm));
    assert_memory_equal(ns_model_params(ns_value_model(zm)),
                        ns_model_params(ns_value_model(ns_pipeline_output(b, "build.model"))),
                        n * sizeof(float));
    ns_pipeline_free(a);
    ns_pipeline_free(b);
}

/* ---- other tools' card names ------------------------------------------------------------- */

static void test_card_aliases(void **state)
{
    fixture *f = *state;
    static const char *const pairs[][2] = {
        {"zero_gradients", "zero_grad"},   {"forward_pass", "forward"},
        {"backward_pass", "backward"},     {"loss", "calculate_loss"},
        {"compute_loss", "calculate_loss"}, {"optimizer", "init_optimizer"},
        {"initialize_optimizer", "init_optimizer"}, {"split_data", "data_split"},
        {"data_splitter", "data_split"},   {"load_data", "data_load"},
        {"evaluate_model", "evaluate"},    {"predict", "inference"},
        {"ZeroGradients", "zero_grad"},    {"Forward-Pass", "forward"},
        {"zero_gradient", "zero_grad"},    {"data_splt", "data_split"},
        {"ZeroGrad", "zero_grad"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *s = ns_cards_suggest(f->cards, pairs[i][0]);
        if (s == NULL || strcmp(s, pairs[i][1]) != 0) {
            fprintf(stderr, "%s: suggested %s, want %s\n", pairs[i][0], s ? s : "nothing",
                    pairs[i][1]);
            fail();
        }
    }
    assert_null(ns_cards_suggest(f->cards, "qqqqqqqqqq"));
    assert_null(ns_cards_suggest(f->cards, ""));
    /* the unknown-card message of a pipeline and of a card run alone */
    ns_pipeline *p = NULL;
    NS_ASSERT_STATUS(f->ctx,
                     parse(f,
                           "pipeline: x\ncards:\n  - {id: z, card: zero_gradients}\n", &p),
                     NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "unknown card 'zero_gradients' (did you mean 'zero_grad'?)");
    NS_ASSERT_STATUS(f->ctx,
                     ns_card_run_files(f->cards, "forward_pass", NULL, NULL, 0, NULL,
                                       ns_test_tmp("x"), NULL),
                     NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(f->ctx, "no card 'forward_pass' (did you mean 'forward'?)");
}

/* ---- batch_index files --------------------------------------------------------------------- */

static const char *write_text(const char *name, const char *text)
{
    const char *path = ns_test_tmp(name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Saves iris as a dataset file and returns its path. */
static const char *iris_file(fixture *f)
{
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(f->ctx, ns_data_load(f->ctx, "iris", NULL, NULL, &ds, NULL));
    const char *path = ns_test_tmp("iris.safetensors");
    NS_ASSERT_OK(f->ctx, ns_dataset_save(ds, path));
    ns_dataset_free(ds);
    return path;
}

static ns_status run_batch(fixture *f, const char *data, const char *pos, const char *out)
{
    const char *names[] = {"dataset", "batch_index"};
    const char *paths[] = {data, pos};
    return ns_card_run_files(f->cards, "prepare_batch", names, paths, 2, NULL, out, NULL);
}

static void test_batch_index_by_hand(void **state)
{
    fixture *f = *state;
    char data[4096];
    snprintf(data, sizeof data, "%s", iris_file(f));
    /* the minimal file: batches counted from the dataset */
    const char *pos = write_text("pos.json", "{\"epoch\": 0, \"index\": 2, \"batch_size\": 40}");
    char out[4096];
    snprintf(out, sizeof out, "%s", ns_test_tmp("out"));
    NS_ASSERT_OK(f->ctx, run_batch(f, data, pos, out));
    char batch_path[4200];
    snprintf(batch_path, sizeof batch_path, "%s/batch_data.safetensors", out);
    ns_value *b = NULL;
    NS_ASSERT_OK(f->ctx, ns_value_load(f->ctx, NS_VALUE_BATCH_DATA, batch_path, NULL, &b));
    assert_int_equal(ns_value_batch(b)->n, 40);
    assert_int_equal(ns_value_batch(b)->index, 2);
    ns_value_release(b);
    /* the last, short batch; every key given, the seed as a number */
    pos = write_text("pos.json", "{\"epoch\": 1, \"index\": 3, \"batch_size\": 40, \"batches\": 4, "
                                 "\"shuffle\": false, \"drop_last\": false, \"seed\": 5}");
    NS_ASSERT_OK(f->ctx, run_batch(f, data, pos, out));
    NS_ASSERT_OK(f->ctx, ns_value_load(f->ctx, NS_VALUE_BATCH_DATA, batch_path, NULL, &b));
    assert_int_equal(ns_value_batch(b)->n, 30);
    ns_value_release(b);
    /* malformed files: the message names the key */
    static const char *const bad[][2] = {
        {"{\"epoch\": 0, \"index\": 0, \"batchsize\": 40}", "unknown key \"batchsize\" (did you mean 'batch_size'?)"},
        {"{\"epoch\": 0, \"index\": 0}", "needs \"batch_size\""},
        {"{\"epoch\": 0, \"batch_size\": 4}", "needs \"index\""},
        {"{\"index\": -1, \"batch_size\": 4}", "\"index\" must be an integer of at least 0"},
        {"{\"index\": 0, \"batch_size\": 0}", "\"batch_size\" must be an integer of at least 1"},
        {"{\"index\": 0, \"batch_size\": \"4\"}", "\"batch_size\" must be an integer"},
        {"{\"index\": 0, \"batch_size\": 4, \"shuffle\": 1}", "\"shuffle\" must be true or false"},
        {"{\"index\": 0, \"batch_size\": 4, \"seed\": -2}", "\"seed\" must be a non-negative"},
        {"{\"index\": 5, \"batch_size\": 4, \"batches\": 5}", "\"index\" 5 is past the last batch"},
        {"{\"index\": 4, \"batch_size\": 40}", "\"index\" 4 is past the last batch: dataset"},
        {"{\"index\": 0, \"batch_size\": 40, \"batches\": 3}", "\"batches\" is 3 but dataset"},
        {"[0, 1]", "a batch_index file is a JSON object"},
        {"{\"index\": 0,", "pos.json:1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pos = write_text("pos.json", bad[i][0]);
        ns_status st = run_batch(f, data, pos, out);
        assert_int_not_equal(st, NS_OK);
        if (strstr(ns_errmsg(f->ctx), bad[i][1]) == NULL) {
            fprintf(stderr, "%s: message '%s' lacks '%s'\n", bad[i][0], ns_errmsg(f->ctx),
                    bad[i][1]);
            fail();
        }
        assert_non_null(strstr(ns_errmsg(f->ctx), "pos.json"));
    }
    /* the format is documented where the card's inputs are */
    assert_non_null(strstr(ns_value_kind_file_doc(NS_VALUE_BATCH_INDEX), "\"batch_size\""));
}

/* ---- plugins ------------------------------------------------------------------------------- */

static void test_plugin_errors(void **state)
{
    fixture *f = *state;
    int before = ns_cards_count(f->cards);
    NS_ASSERT_STATUS(f->ctx, ns_cards_load_plugin(f->cards, ns_test_tmp("none.so")), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(f->ctx, "none.so: cannot read it");
    const char *text = write_text("text.so", "not an object\n");
    NS_ASSERT_STATUS(f->ctx, ns_cards_load_plugin(f->cards, text), NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(f->ctx, "text.so: not a loadable shared object (");
    NS_ASSERT_STATUS(f->ctx, ns_cards_load_plugin(f->cards, ""), NS_ERR_INVALID);
    NS_ASSERT_OK(f->ctx, ns_cards_load_plugins(f->cards, NULL));
    NS_ASSERT_OK(f->ctx, ns_cards_load_plugins(f->cards, "::"));
    NS_ASSERT_STATUS(f->ctx, ns_cards_load_plugins(f->cards, ":/nonexistent/a.so"), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(f->ctx, "plugin /nonexistent/a.so");
#ifdef NS_LIBRARY_SO
    /* a shared object without the registration function */
    NS_ASSERT_STATUS(f->ctx, ns_cards_load_plugin(f->cards, NS_LIBRARY_SO), NS_ERR_NOTFOUND);
    NS_ASSERT_MSG_HAS(f->ctx, "has no function netsmith_register_cards");
#endif
#ifdef NS_OTHER_ABI_SO
    /* one built against another card layout */
    NS_ASSERT_STATUS(f->ctx, ns_cards_load_plugin(f->cards, NS_OTHER_ABI_SO), NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(f->ctx, "was built against card layout 2, this netsmith has 1");
#endif
    assert_int_equal(ns_cards_count(f->cards), before);
}

/* ---- a short-form blueprint on images ------------------------------------------------------ */

static void be32(FILE *fp, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, fp);
}

/* 60 images of 4x4 pixels in 3 classes (a bright row 0, 1 or 2), as IDX files. */
static void write_images(const char *images, const char *labels)
{
    FILE *fi = fopen(images, "wb"), *fl = fopen(labels, "wb");
    assert_non_null(fi);
    assert_non_null(fl);
    be32(fi, 0x803);
    be32(fi, 60);
    be32(fi, 4);
    be32(fi, 4);
    be32(fl, 0x801);
    be32(fl, 60);
    for (int i = 0; i < 60; i++) {
        int c = i % 3;
        for (int p = 0; p < 16; p++)
            fputc(p / 4 == c ? 200 + (i * 7 + p) % 50 : (i * 13 + p * 5) % 40, fi);
        fputc(c, fl);
    }
    fclose(fi);
    fclose(fl);
}

static void test_short_form_on_images(void **state)
{
    fixture *f = *state;
    char images[4096], labels[4096], text[16384];
    snprintf(images, sizeof images, "%s", ns_test_tmp("small-images-idx3-ubyte"));
    snprintf(labels, sizeof labels, "%s", ns_test_tmp("small-labels-idx1-ubyte"));
    write_images(images, labels);
    snprintf(text, sizeof text,
             "pipeline: images\nseed: 1\ncards:\n"
             "  - {id: load, card: data_load, with: {path: \"%s\"}}\n"
             "  - {id: define, card: model_define, with: {model_type: deep_neural_network, "
             "hidden_layers: [16]}}\n"
             "  - {id: build, card: build_model, in: {model_spec: define.model_spec, "
             "input_size: load.input_size}}\n"
             "  - {id: train, card: train, in: {model: build.model, dataset: load.dataset}, "
             "with: {epochs: 30, batch_size: 10, learning_rate: 0.01}}\n"
             "  - {id: eval, card: evaluate, in: {model: train.model, dataset: load.dataset}}\n",
             images);
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, text, &p));
    NS_ASSERT_OK(f->ctx, ns_pipeline_run(p, NULL));
    ns_model *m = ns_value_model(ns_pipeline_output(p, "train.model"));
    assert_non_null(m);
    /* nn.Sequential(Flatten, Linear(16, 16), ReLU, Linear(16, 3)) */
    assert_int_equal(ns_model_layer_count(m), 4);
    assert_int_equal(ns_model_layer(m, 0)->kind, NS_LAYER_FLATTEN);
    ns_named_tensor t;
    NS_ASSERT_OK(f->ctx, ns_model_find_tensor(m, "1.weight", &t));
    assert_int_equal(t.shape[0], 16);
    assert_int_equal(t.shape[1], 16);
    NS_ASSERT_OK(f->ctx, ns_model_find_tensor(m, "3.bias", &t));
    assert_int_equal(t.shape[0], 3);
    NS_ASSERT_STATUS(f->ctx, ns_model_find_tensor(m, "0.weight", &t), NS_ERR_NOTFOUND);
    const ns_metrics_value *mv = ns_value_metrics(ns_pipeline_output(p, "eval.metrics"));
    assert_non_null(mv);
    assert_true(mv->values.accuracy > 0.9);
    ns_pipeline_free(p);

    /* 1-D samples: no flatten, the first linear layer is still "0" */
    ns_spec *spec = NULL;
    static const char short_spec[] = "{\"hidden_layers\": [4]}";
    NS_ASSERT_OK(f->ctx, ns_spec_parse(f->ctx, short_spec, strlen(short_spec), NULL, &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 5);
    bo.output_size = 2;
    NS_ASSERT_OK(f->ctx, ns_model_build(f->ctx, spec, &bo, &m));
    assert_int_equal(ns_model_layer_count(m), 3);
    NS_ASSERT_OK(f->ctx, ns_model_find_tensor(m, "0.weight", &t));
    ns_model_free(m);
    ns_layer_spec *ls = NULL;
    int n = 0;
    NS_ASSERT_OK(f->ctx, ns_spec_expand_input(spec, 3, 2, &ls, &n));
    assert_int_equal(n, 4);
    assert_int_equal(ls[0].kind, NS_LAYER_FLATTEN);
    ns_dealloc(f->ctx, ls);
    NS_ASSERT_OK(f->ctx, ns_spec_expand_input(spec, 1, 2, &ls, &n));
    assert_int_equal(n, 3);
    assert_int_equal(ls[0].kind, NS_LAYER_LINEAR);
    ns_dealloc(f->ctx, ls);
    ns_spec_free(spec);
}

/* ---- layer shapes ---------------------------------------------------------------------------- */

static void test_layer_shapes(void **state)
{
    fixture *f = *state;
    static const char cnn[] =
        "{\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3}, {\"type\": "
        "\"relu\"}, {\"type\": \"maxpool2d\", \"kernel\": 2}, {\"type\": \"batchnorm2d\"}, "
        "{\"type\": \"flatten\"}, {\"type\": \"linear\", \"units\": 5}]}";
    ns_spec *spec = NULL;
    NS_ASSERT_OK(f->ctx, ns_spec_parse(f->ctx, cnn, strlen(cnn), NULL, &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 0);
    bo.input_ndim = 3;
    bo.input_shape[0] = 1;
    bo.input_shape[1] = 10;
    bo.input_shape[2] = 10;
    ns_layer_shape *shapes = NULL;
    int n = 0;
    long live = f->ta.live;
    NS_ASSERT_OK(f->ctx, ns_spec_layer_shapes(f->ctx, spec, &bo, &shapes, &n));
    assert_int_equal(n, 6);
    static const int want[6][4] = {{3, 4, 8, 8}, {3, 4, 8, 8}, {3, 4, 4, 4},
                                   {3, 4, 4, 4}, {1, 64},      {1, 5}};
    static const size_t params[6] = {4 * 9 + 4, 0, 0, 8, 0, 64 * 5 + 5};
    for (int i = 0; i < n; i++) {
        assert_int_equal(shapes[i].ndim, want[i][0]);
        for (int d = 0; d < shapes[i].ndim; d++)
            assert_int_equal(shapes[i].shape[d], want[i][1 + d]);
        assert_int_equal(shapes[i].params, params[i]);
    }
    assert_int_equal(shapes[4].size, 64);
    assert_int_equal(shapes[3].kind, NS_LAYER_BATCHNORM2D);
    /* the built model says the same */
    ns_model *m = NULL;
    NS_ASSERT_OK(f->ctx, ns_model_build(f->ctx, spec, &bo, &m));
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        ns_layer_shape s;
        NS_ASSERT_OK(f->ctx, ns_model_layer_shape(m, i, &s));
        assert_memory_equal(&s, &shapes[i], sizeof s);
        total += s.params;
    }
    assert_int_equal(total, ns_model_param_count(m));
    ns_layer_shape s;
    NS_ASSERT_STATUS(f->ctx, ns_model_layer_shape(m, 6, &s), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f->ctx, "layer 6 does not exist (the model has 6");
    NS_ASSERT_STATUS(f->ctx, ns_model_layer_shape(m, -1, &s), NS_ERR_INVALID);
    ns_model_free(m);
    ns_dealloc(f->ctx, shapes);
    assert_int_equal(f->ta.live, live);
    /* a layer that cannot take its input: the build's message, nothing left allocated */
    bo.input_shape[1] = 2;
    NS_ASSERT_STATUS(f->ctx, ns_spec_layer_shapes(f->ctx, spec, &bo, &shapes, &n), NS_ERR_SHAPE);
    NS_ASSERT_MSG_HAS(f->ctx, "layers[0] (conv2d)");
    assert_null(shapes);
    assert_int_equal(n, 0);
    assert_int_equal(f->ta.live, live);
    ns_spec_free(spec);
}

/* A pipeline keeps its registry (and so a plugin's cards) alive: freeing the registry first is
 * safe, and the pipeline still runs (ASan would see a use after free). */
static void test_registry_freed_before_its_pipeline(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_cards *cards = NULL;
    NS_ASSERT_OK(ctx, ns_cards_new(ctx, &cards));
    static const char text[] = "pipeline: p\ncards:\n"
                               "  - {id: load, card: data_load, with: {name: iris}}\n"
                               "  - {id: split, card: data_split, in: {dataset: load.dataset}}\n";
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(ctx, ns_pipeline_parse(cards, text, strlen(text), "p.yaml", NULL, 0, &p));
    ns_cards_free(cards);
    NS_ASSERT_OK(ctx, ns_pipeline_run(p, NULL));
    assert_non_null(ns_pipeline_output(p, "split.train_dataset"));
    ns_pipeline_free(p);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zero_grad_model_is_the_optimizers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_index_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_form_on_images, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_shapes, setup, teardown),
        cmocka_unit_test(test_registry_freed_before_its_pipeline),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
