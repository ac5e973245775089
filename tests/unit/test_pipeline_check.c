/* Pipelines: one test per check made before anything runs, each with its message (file, line,
 * card id and the fix), JSON input, --set overrides, and failed allocations while reading. */

#include "pipeline_fixture.h"

static void test_valid_pipelines_parse(void **state)
{
    fixture *f = *state;
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse(f, issue_pipeline, &p));
    assert_string_equal(ns_pipeline_name(p), "boston-steps");
    assert_int_equal(ns_pipeline_card_count(p), 7); /* the loop's cards are inside it */
    assert_string_equal(ns_pipeline_card_id(p, 5), "epochs");
    assert_null(ns_pipeline_card_id(p, 7));
    assert_null(ns_pipeline_card_id(p, -1));
    ns_pipeline_free(p);
    NS_ASSERT_OK(f->ctx, parse(f, issue_train_pipeline, &p));
    ns_pipeline_free(p);
    NS_ASSERT_OK(f->ctx, parse(f, small_pipeline, &p));
    assert_int_equal(ns_pipeline_card_count(p), 5);
    ns_pipeline_free(p);
    ns_pipeline_free(NULL);
}

/* ---- one test per validation error ------------------------------------------------------------
 */

static void test_unknown_card(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "card: data_split", "card: data_splt");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:9: card 'split': uses the unknown card 'data_splt' (did you mean "
                   "'data_split'?); netsmith cards lists them");
    /* nothing close: no suggestion */
    t = replace(f, small_pipeline, "card: data_split", "card: qqqqqqqqqq");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:9: card 'split': uses the unknown card 'qqqqqqqqqq'",
                 "netsmith cards lists them");
    assert_null(strstr(ns_errmsg(f->ctx), "did you mean"));
    /* a card without a card name */
    t = replace(f, small_pipeline, "    card: data_split\n", "");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:8: card 'split': needs a card name");
}

static void test_unknown_setting(void **state)
{
    fixture *f = *state;
    /* the line is that of the setting's key, inside the with block */
    char *t = replace(f, small_pipeline, "      test_ratio: 0.2\n", "      tset_ratio: 0.2\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:14: data_split 'split' has no setting 'tset_ratio' (did you mean "
                 "'test_ratio'?); its settings are train_ratio, val_ratio, test_ratio");
    /* the issue's pipeline, flow style: the line of the with key */
    /* model_define passes its settings to the spec reader, which names the key */
    t = replace(f, small_pipeline, "      hidden_layers: [8]\n", "      hiden_layers: [8]\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:17: model_define 'define' ", "hiden_layers",
                 "did you mean 'hidden_layers'?");
    t = replace(f, issue_pipeline, "{loss_type: mse}", "{los_type: mse}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:28: calculate_loss 'loss' has no setting 'los_type' (did you mean "
                 "'loss_type'?)");
}

static void test_setting_of_wrong_type(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "train_ratio: 0.8", "train_ratio: most");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:13: data_split 'split' setting 'train_ratio' must be a number, not "
                   "\"most\"");
    t = replace(f, issue_pipeline, "epochs: 50,", "epochs: 2.5,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:22: loop 'epochs' setting 'epochs' must be a whole number, not 2.5");
    t = replace(f, small_pipeline, "hidden_layers: [8]", "hidden_layers: [8, wide]");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:18: model_define 'define' setting 'hidden_layers' must be a list of "
                 "numbers");
    /* a whole number written as 3.0 is a whole number */
    ns_pipeline *p = NULL;
    t = replace(f, issue_pipeline, "epochs: 50,", "epochs: 3.0,");
    NS_ASSERT_OK(f->ctx, parse(f, t, &p));
    ns_pipeline_free(p);
    t = replace(f, small_pipeline, "    with:\n      train_ratio: 0.8\n      test_ratio: 0.2\n",
                "    with: 3\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:12: data_split 'split' 'with' must map setting names");
}

static void test_setting_outside_choices(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "optimizer_type: adam", "optimizer_type: adamm");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:30: init_optimizer 'optim' setting 'optimizer_type' is 'adamm'; "
                   "choose one of sgd|adam|adamw|rmsprop");
    /* the common settings have choices too */
    t = replace(f, small_pipeline, "      activation: relu\n",
                "      activation: relu\n      device: tpu\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:20: model_define 'define' setting 'device' is 'tpu'; choose one of "
                 "cpu|cuda");
}

static void test_number_out_of_range(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "train_ratio: 0.8", "train_ratio: 1.5");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:13: data_split 'split' setting 'train_ratio' is 1.5; it must be "
                   "between 0 and 1");
    t = replace(f, issue_pipeline, "epochs: 50,", "epochs: 0,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:22: loop 'epochs' setting 'epochs' is 0; it must be between 1 and");
}

static void test_missing_required_setting(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - {id: define, card: model_define, with: {hidden_layers: [4]}}\n"
                               "  - {id: build, card: build_model, in: {model_spec: "
                               "define.model_spec}, with: {input_size: 3}}\n"
                               "  - id: save\n" /* 5 */
                               "    card: save_model\n"
                               "    in: {model: build.model}\n";
    EXPECT_ERROR(f, text, NS_ERR_INVALID,
                 "pipe.yaml:5: save_model 'save' needs the setting 'path' (a text): the model "
                 "file to write");
}

static void test_missing_required_input(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "    in:\n      model: build.model\n", "");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:25: init_optimizer 'optim' needs its input 'model' (a model) wired");
    /* the issue's pipeline: the evaluation without its model */
    t = replace(f, issue_pipeline, "in: {model: epochs.model, dataset: split.test_dataset}",
                "in: {dataset: split.test_dataset}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:31: evaluate 'eval' needs its input 'model' (a model) wired");
}

/* The example wire in the message must be one that would be accepted: an output of a card
 * that runs before, in the same scope (not an inner card of a loop further down). */
static void test_missing_input_suggests_usable_output(void **state)
{
    fixture *f = *state;
    char *t = replace(f, issue_pipeline, "in: {model: build.model}\n", "in: {}\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:16: init_optimizer 'optim' needs its input 'model' (a model) wired",
                 "e.g. in: {model: build.model}");
}

static void test_unknown_input_name(void **state)
{
    fixture *f = *state;
    char *t =
        replace(f, small_pipeline, "      model: build.model\n", "      modle: build.model\n");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:28: init_optimizer 'optim' has no input 'modle' (did you mean "
                   "'model'?); its inputs are model");
    /* a card without inputs */
    t = replace(f, small_pipeline, "    card: model_define\n",
                "    card: model_define\n    in: {x: load.dataset}\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:17: model_define 'define' has no input 'x'; its inputs are none");
}

static void test_wire_to_unknown_card(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "model: build.model", "model: biuld.model");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:28: init_optimizer 'optim' input 'model' names 'biuld.model', but "
                   "there is no card 'biuld' (did you mean 'build'?)");
}

static void test_wire_to_unknown_output(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "model: build.model", "model: build.modl");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:28: init_optimizer 'optim' input 'model' names 'build.modl', but "
                   "build_model 'build' has no output 'modl' (did you mean 'model'?); its "
                   "outputs are model");
    /* a loop passes on only what is wired into it */
    t = replace(f, issue_pipeline, "in: {model: epochs.model, dataset",
                "in: {model: epochs.net, dataset");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:33: evaluate 'eval' input 'model' names 'epochs.net', but loop "
                 "'epochs' passes on only what is wired into it",
                 "wire net into the loop first");
}

static void test_wire_not_card_dot_output(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {"build", "build.model.x", ".model", "build.", "3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char to[64];
        snprintf(to, sizeof to, "model: %s\n", bad[i]);
        char *t = replace(f, small_pipeline, "model: build.model\n", to);
        EXPECT_ERROR(f, t, NS_ERR_INVALID,
                     "pipe.yaml:28: init_optimizer 'optim' input 'model' must name an output as "
                     "card.output (e.g. build.model)");
    }
    char *t =
        replace(f, small_pipeline, "    in:\n      model: build.model\n", "    in: build.model\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:27: init_optimizer 'optim' 'in' must map input names to outputs");
}

static void test_type_mismatch(void **state)
{
    fixture *f = *state;
    /* the issue's example, word for word */
    char *t = replace(f, issue_pipeline, "in: {model: build.model}\n",
                      "in: {model: define.model_spec}\n");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:18: init_optimizer 'optim' needs a model on 'model', but "
                   "'define.model_spec' is a model_spec: add a build_model card between them");
    /* a kind through a loop (the loop passes on what was wired into it); no bridge card: the
     * cards that make the wanted kind are listed */
    t = replace(f, issue_pipeline, "in: {model: epochs.model, dataset: split.test_dataset}",
                "in: {model: epochs.optimizer, dataset: split.test_dataset}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:33: evaluate 'eval' needs a model on 'model', but 'epochs.optimizer' "
                 "is a",
                 "optimizer: wire an output of kind model (made by");
    /* a bridge card is named */
    t = replace(f, small_pipeline, "      input_size: split.input_size\n",
                "      input_size: split.train_dataset\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:24: build_model 'build' needs a data_shape on 'input_size', but "
                 "'split.train_dataset' is a dataset: add a data_split card between them");
}

static void test_cycle_outside_loop(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - id: a\n"
                               "    card: zero_grad\n"
                               "    in: {model: b.model}\n"
                               "  - id: b\n"
                               "    card: zero_grad\n"
                               "    in: {model: a.model}\n";
    EXPECT_MESSAGE(f, text, NS_ERR_INVALID,
                   "pipe.yaml:3: zero_grad 'a' is part of a cycle outside a loop ('a', 'b' use "
                   "each other's outputs); to repeat cards, put them in a loop card");
    static const char self[] = "pipeline: t\n"
                               "cards:\n"
                               "  - id: a\n"
                               "    card: zero_grad\n"
                               "    in: {model: a.model}\n";
    EXPECT_ERROR(f, self, NS_ERR_INVALID,
                 "pipe.yaml:5: zero_grad 'a' input 'model' uses the card's own output 'a.model': "
                 "that is a cycle");
}

static void test_output_used_before_it_exists(void **state)
{
    fixture *f = *state;
    /* an inner card's output from outside the loop */
    char add[512];
    snprintf(add, sizeof add, "%s",
             "  - id: late\n"
             "    card: calculate_loss\n"
             "    in:\n"
             "      predictions: fwd.predictions\n" /* 37 */
             "      batch_data: batch.batch_data\n");
    char *t = join(f, issue_pipeline, add);
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:37: calculate_loss 'late' input 'predictions' uses "
                   "'fwd.predictions', which exists only inside loop 'epochs' while it runs; use "
                   "what the loop passes on (e.g. 'epochs.model') or move this card into it");
    /* what the loop makes only while it runs */
    snprintf(add, sizeof add, "%s",
             "  - id: late\n"
             "    card: prepare_batch\n"
             "    in:\n"
             "      dataset: split.train_dataset\n"
             "      batch_index: epochs.batch_index\n"); /* 38 */
    t = join(f, issue_pipeline, add);
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:38: prepare_batch 'late' input 'batch_index' uses "
                   "'epochs.batch_index', which exists only inside loop 'epochs' while it runs; "
                   "move this card into the loop");
    /* the loop's own values are not wired into it */
    t = replace(f, issue_pipeline, "in: {dataset: split.train_dataset,",
                "in: {batch_index: split.train_dataset, dataset: split.train_dataset,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:23: loop 'epochs' 'batch_index' is made by the loop itself");
}

/* A loop wired to an output of one of its own cards gets the message made for that case (not
 * "move this card into it", which cannot apply to the loop itself). */
static void test_loop_input_from_inside_itself(void **state)
{
    fixture *f = *state;
    char *t =
        replace(f, issue_pipeline, "optimizer: optim.optimizer}\n", "optimizer: step.optimizer}\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:23: loop 'epochs' input 'optimizer' uses 'step.optimizer' from inside "
                 "this loop: a loop's inputs must come from before it");
}

static void test_duplicate_card_ids(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "  - id: define\n", "  - id: load\n");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:15: two cards have the id 'load' (line 3 and here): give each card "
                   "its own id");
    /* ids are unique across loops too */
    t = replace(f, issue_pipeline, "{id: zero,", "{id: split,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:26: two cards have the id 'split' (line 6 and here)");
    t = replace(f, small_pipeline, "  - id: define\n", "  - id: my.card\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:15: card id 'my.card' must be 1 to 48 letters");
    t = replace(f, small_pipeline, "  - id: define\n    card", "  - card");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:15: a card needs an id");
}

static void test_loop_without_cards(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - {id: load, card: data_load, with: {name: iris}}\n"
                               "  - id: l\n"
                               "    card: loop\n"
                               "    in: {dataset: load.dataset}\n"
                               "    cards: []\n";
    EXPECT_MESSAGE(f, text, NS_ERR_INVALID,
                   "pipe.yaml:4: loop 'l' a loop needs the cards it repeats (cards: [...])");
    char *t = replace(f, text, "    cards: []\n", "");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:4: loop 'l' a loop needs the cards it repeats");
}

static void test_cards_on_a_plain_card(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "    card: model_define\n",
                      "    card: model_define\n    cards:\n      - {id: x, card: zero_grad}\n");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:17: model_define 'define' only a loop card holds cards; move these "
                   "to the top level or into a loop");
}

static void test_unknown_top_level_key(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "cards:\n", "seeed: 3\ncards:\n");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:2: unknown key 'seeed' (did you mean 'seed'?); a pipeline has "
                   "pipeline, description, seed and cards");
    t = replace(f, small_pipeline, "cards:\n", "seed: -1\ncards:\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:2: seed must be a whole number >= 0");
    EXPECT_ERROR(f, "- a\n- b\n", NS_ERR_INVALID, "pipe.yaml:1: a pipeline is a mapping");
}

static void test_unknown_card_key(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "    in:\n      model: build.model\n",
                      "    inn:\n      model: build.model\n");
    EXPECT_MESSAGE(f, t, NS_ERR_INVALID,
                   "pipe.yaml:27: card 'optim': has an unknown key 'inn' (did you mean 'in'?); a "
                   "card has id, card, in, with (and cards, for a loop)");
}

/* Every message names the card: an unknown key in a card with an id names that id. */
static void test_unknown_card_key_names_card(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "    in:\n      model: build.model\n",
                      "    inn:\n      model: build.model\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:27:", "unknown key 'inn'", "'optim'");
}

/* A list item that is not a mapping: the message points at a line of the file, not line 0. */
static void test_card_not_a_mapping_line(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "  - id: build\n", "  - build\n  - id: build\n");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:", "a card must be a mapping");
    if (strstr(ns_errmsg(f->ctx), "pipe.yaml:0:") != NULL) {
        fprintf(stderr, "message points at line 0: %s\n", ns_errmsg(f->ctx));
        fail();
    }
}

static void test_yaml_syntax_error(void **state)
{
    fixture *f = *state;
    char *t = replace(f, small_pipeline, "      hidden_layers: [8]\n", "      hidden_layers: [8\n");
    EXPECT_ERROR(f, t, NS_ERR_PARSE, "pipe.yaml:19:");
    t = replace(f, small_pipeline, "  - id: split\n", "  - id: split\n   bad: [\n");
    EXPECT_ERROR(f, t, NS_ERR_PARSE, "pipe.yaml:9:");
    EXPECT_ERROR(f, "", NS_ERR_PARSE, "pipe.yaml");
}

static void test_empty_cards_list(void **state)
{
    fixture *f = *state;
    EXPECT_MESSAGE(f, "pipeline: t\ncards: []\n", NS_ERR_INVALID,
                   "pipe.yaml:2: a pipeline needs a non-empty list of cards (cards: [...])");
    EXPECT_ERROR(f, "pipeline: t\n", NS_ERR_INVALID, "a pipeline needs a non-empty list of cards");
    EXPECT_ERROR(f, "pipeline: t\ncards: {a: 1}\n", NS_ERR_INVALID,
                 "pipe.yaml:2: a pipeline needs a non-empty list of cards");
}

static void test_set_overrides(void **state)
{
    fixture *f = *state;
    /* an unknown card */
    const char *ov1[] = {"lod.name=wine"};
    EXPECT_ERROR_OV(f, small_pipeline, ov1, 1, NS_ERR_INVALID,
                    "--set 'lod.name=wine': pipe.yaml has no card 'lod' (did you mean 'load'?)");
    /* malformed */
    static const char *const bad[] = {"load", "load.name", "name=wine", ".name=wine", "load.=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "--set '%s': write card.setting=value", bad[i]);
        EXPECT_ERROR_OV(f, small_pipeline, &bad[i], 1, NS_ERR_INVALID, want);
    }
    /* an override is checked like the file's settings */
    const char *ov2[] = {"split.train_ratio=2"};
    EXPECT_ERROR_OV(f, small_pipeline, ov2, 1, NS_ERR_INVALID,
                    "data_split 'split' setting 'train_ratio' is 2; it must be between 0 and 1");
    const char *ov3[] = {"split.trian_ratio=0.5"};
    EXPECT_ERROR_OV(
        f, small_pipeline, ov3, 1, NS_ERR_INVALID,
        "data_split 'split' has no setting 'trian_ratio' (did you mean 'train_ratio'?)");
    /* an inner card of a loop can be set too, and the value is read as YAML */
    const char *ov4[] = {"loss.loss_type=huber", "epochs.epochs=3", "define.hidden_layers=[4, 2]",
                         "optim.learning_rate=1e-2"};
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(f->ctx, parse_ov(f, issue_pipeline, ov4, 4, &p));
    ns_pipeline_free(p);
    const char *ov5[] = {"loss.loss_type=hubber"};
    EXPECT_ERROR_OV(f, issue_pipeline, ov5, 1, NS_ERR_INVALID,
                    "calculate_loss 'loss' setting 'loss_type' is 'hubber'; choose one of");
}

/* A bad --set value for a card whose file has no `with` must not point at line 0. */
static void test_set_override_line(void **state)
{
    fixture *f = *state;
    const char *ov[] = {"eval.batch_size=abc"};
    EXPECT_ERROR_OV(f, issue_pipeline, ov, 1, NS_ERR_INVALID,
                    "evaluate 'eval' setting 'batch_size' must be a whole number, not \"abc\"");
    if (strstr(ns_errmsg(f->ctx), "pipe.yaml:0:") != NULL) {
        fprintf(stderr, "message points at line 0: %s\n", ns_errmsg(f->ctx));
        fail();
    }
}

static void test_json_input(void **state)
{
    fixture *f = *state;
    static const char json[] =
        "{\"pipeline\": \"boston-steps\",\n"
        " \"cards\": [\n"
        "  {\"id\": \"load\", \"card\": \"data_load\",\n"
        "   \"with\": {\"source\": \"builtin\", \"name\": \"boston_housing\", \"target\": "
        "\"MEDV\"}},\n"
        "  {\"id\": \"split\", \"card\": \"data_split\", \"in\": {\"dataset\": \"load.dataset\"},\n"
        "   \"with\": {\"train_ratio\": 0.8, \"test_ratio\": 0.2, \"random_seed\": 42}},\n"
        "  {\"id\": \"define\", \"card\": \"model_define\",\n"
        "   \"with\": {\"hidden_layers\": [128, 64, 32], \"activation\": \"relu\", \"dropout\": "
        "0.2}},\n"
        "  {\"id\": \"build\", \"card\": \"build_model\",\n"
        "   \"in\": {\"model_spec\": \"define.model_spec\", \"input_size\": "
        "\"split.input_size\"}},\n"
        "  {\"id\": \"optim\", \"card\": \"init_optimizer\", \"in\": {\"model\": "
        "\"build.model\"},\n"
        "   \"with\": {\"optimizer_type\": \"adam\", \"learning_rate\": 0.001, "
        "\"weight_decay\": 0}},\n"
        "  {\"id\": \"epochs\", \"card\": \"loop\",\n"
        "   \"with\": {\"epochs\": 50, \"over\": \"batches\", \"batch_size\": 32},\n"
        "   \"in\": {\"dataset\": \"split.train_dataset\", \"model\": \"build.model\", "
        "\"optimizer\": \"optim.optimizer\"},\n"
        "   \"cards\": [\n"
        "    {\"id\": \"batch\", \"card\": \"prepare_batch\", \"in\": {\"dataset\": "
        "\"epochs.dataset\", \"batch_index\": \"epochs.batch_index\"}},\n"
        "    {\"id\": \"zero\", \"card\": \"zero_grad\", \"in\": {\"optimizer\": "
        "\"epochs.optimizer\"}},\n"
        "    {\"id\": \"fwd\", \"card\": \"forward\", \"in\": {\"model\": \"epochs.model\", "
        "\"batch_data\": \"batch.batch_data\"}},\n"
        "    {\"id\": \"loss\", \"card\": \"calculate_loss\", \"in\": {\"predictions\": "
        "\"fwd.predictions\", \"batch_data\": \"batch.batch_data\"}, \"with\": {\"loss_type\": "
        "\"mse\"}},\n"
        "    {\"id\": \"bwd\", \"card\": \"backward\", \"in\": {\"loss\": \"loss.loss\", "
        "\"model\": \"fwd.model\"}},\n"
        "    {\"id\": \"step\", \"card\": \"optimizer_step\", \"in\": {\"optimizer\": "
        "\"zero.optimizer\", \"model\": \"bwd.model\"}, \"with\": {\"gradient_clip\": 1.0}}\n"
        "   ]},\n"
        "  {\"id\": \"eval\", \"card\": \"evaluate\", \"in\": {\"model\": \"epochs.model\", "
        "\"dataset\": \"split.test_dataset\"}}\n"
        " ]}\n";
    ns_pipeline *pj = NULL, *py = NULL;
    NS_ASSERT_OK(f->ctx,
                 ns_pipeline_parse(f->cards, json, strlen(json), "pipe.json", NULL, 0, &pj));
    NS_ASSERT_OK(f->ctx, parse(f, issue_pipeline, &py));
    assert_string_equal(ns_pipeline_name(pj), "boston-steps");
    assert_int_equal(ns_pipeline_card_count(pj), ns_pipeline_card_count(py));
    for (int i = 0; i < ns_pipeline_card_count(py); i++)
        assert_string_equal(ns_pipeline_card_id(pj, i), ns_pipeline_card_id(py, i));
    ns_pipeline_free(pj);
    ns_pipeline_free(py);
    /* JSON errors name lines too */
    char *t = replace(f, json, "\"model\": \"build.model\"}", "\"model\": \"define.model_spec\"}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:11: init_optimizer 'optim' needs a model on 'model', but "
                 "'define.model_spec' is a model_spec: add a build_model card between them");
    t = replace(f, json, "\"evaluate\", \"in\": {", "\"evaluate\", \"in\" {");
    EXPECT_ERROR(f, t, NS_ERR_PARSE, "pipe.yaml:24:");
}

static void test_kind_article(void **state)
{
    fixture *f = *state;
    char *t = replace(f, issue_pipeline, "in: {model: epochs.model, dataset: split.test_dataset}",
                      "in: {model: epochs.optimizer, dataset: split.test_dataset}");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "but 'epochs.optimizer' is an optimizer:");
    t = replace(f, issue_pipeline, "in: {dataset: split.train_dataset,",
                "in: {epoch: split.input_size, dataset: split.train_dataset,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "loop 'epochs' needs an integer on 'epoch'");
}

/* What a loop's own inputs take is checked like any card's. */
static void test_loop_input_kinds(void **state)
{
    fixture *f = *state;
    char *t = replace(f, issue_pipeline, "in: {dataset: split.train_dataset,",
                      "in: {dataset: split.input_size,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID,
                 "pipe.yaml:23: loop 'epochs' needs a dataset on 'dataset', but "
                 "'split.input_size' is a data_shape");
    t = replace(f, issue_pipeline, "in: {dataset: split.train_dataset,",
                "in: {epoch: split.input_size, dataset: split.train_dataset,");
    EXPECT_ERROR(f, t, NS_ERR_INVALID, "pipe.yaml:23: loop 'epochs' needs a",
                 "on 'epoch', but "
                 "'split.input_size' is a data_shape");
    /* any other input is passed on as it is */
    ns_pipeline *p = NULL;
    t = replace(f, issue_pipeline, "in: {dataset: split.train_dataset,",
                "in: {spec: define.model_spec, dataset: split.train_dataset,");
    NS_ASSERT_OK(f->ctx, parse(f, t, &p));
    ns_pipeline_free(p);
}

/* Two cards inside a loop using each other's outputs: the message must not say "outside a
 * loop" nor advise putting them in a loop. */
static void test_cycle_inside_loop(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - {id: define, card: model_define, with: {hidden_layers: [4]}}\n"
                               "  - {id: build, card: build_model, in: {model_spec: "
                               "define.model_spec}, with: {input_size: 3}}\n"
                               "  - id: l\n"
                               "    card: loop\n"
                               "    with: {over: epochs, epochs: 2}\n"
                               "    in: {model: build.model}\n"
                               "    cards:\n"
                               "      - {id: a, card: zero_grad, in: {model: b.model}}\n" /* 10 */
                               "      - {id: b, card: zero_grad, in: {model: a.model}}\n";
    EXPECT_ERROR(f, text, NS_ERR_INVALID, "pipe.yaml:10: zero_grad 'a' ", "cycle", "'a', 'b'",
                 "loop 'l'");
    if (strstr(ns_errmsg(f->ctx), "outside a loop") != NULL) {
        fprintf(stderr, "misleading message: %s\n", ns_errmsg(f->ctx));
        fail();
    }
}

/* A loop over epochs has no batch_index: wiring it must fail the check, not the run. */
static void test_batch_index_of_an_epoch_loop(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - {id: load, card: data_load, with: {name: iris}}\n"
                               "  - id: l\n"
                               "    card: loop\n"
                               "    with: {over: epochs, epochs: 2}\n"
                               "    in: {dataset: load.dataset}\n"
                               "    cards:\n"
                               "      - {id: batch, card: prepare_batch, in: {dataset: l.dataset, "
                               "batch_index: l.batch_index}}\n"; /* 9 */
    EXPECT_ERROR(f, text, NS_ERR_INVALID, "pipe.yaml:9: prepare_batch 'batch' ", "batch_index",
                 "over");
}

/* A loop over batches needs a dataset: a missing one must fail the check, not the run. */
static void test_batch_loop_without_dataset(void **state)
{
    fixture *f = *state;
    static const char text[] = "pipeline: t\n"
                               "cards:\n"
                               "  - id: l\n" /* 3 */
                               "    card: loop\n"
                               "    with: {over: batches, epochs: 2}\n"
                               "    cards:\n"
                               "      - {id: d, card: model_define, with: {hidden_layers: [4]}}\n";
    EXPECT_ERROR(f, text, NS_ERR_INVALID, "pipe.yaml:3: loop 'l' ", "dataset");
}

/* ---- failed allocations -------------------------------------------------------------------- */

/* Every allocation of reading the issue's pipeline with a --set override fails in turn: an
 * error, nothing leaked (test_pipeline_oom.c covers whole runs). */
static void test_parse_out_of_memory(void **state)
{
    fixture *f = *state;
    const char *ov[] = {"epochs.epochs=2"};
    long base = f->ta.live;
    for (size_t k = 1;; k++) {
        f->ta.fail_at = f->ta.calls + k;
        ns_pipeline *p = NULL;
        ns_status st = parse_ov(f, issue_pipeline, ov, 1, &p);
        bool hit = f->ta.calls >= f->ta.fail_at;
        f->ta.fail_at = 0;
        if (st == NS_OK) {
            ns_pipeline_free(p);
            if (hit) {
                fprintf(stderr, "allocation %zu failed but the parse succeeded\n", k);
                fail();
            }
            break;
        }
        assert_null(p);
        assert_int_equal(st, NS_ERR_NOMEM);
        assert_int_equal(f->ta.live, base);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_valid_pipelines_parse),
        T(test_unknown_card),
        T(test_unknown_setting),
        T(test_setting_of_wrong_type),
        T(test_setting_outside_choices),
        T(test_number_out_of_range),
        T(test_missing_required_setting),
        T(test_missing_required_input),
        T(test_missing_input_suggests_usable_output),
        T(test_unknown_input_name),
        T(test_wire_to_unknown_card),
        T(test_wire_to_unknown_output),
        T(test_wire_not_card_dot_output),
        T(test_type_mismatch),
        T(test_cycle_outside_loop),
        T(test_output_used_before_it_exists),
        T(test_loop_input_from_inside_itself),
        T(test_duplicate_card_ids),
        T(test_loop_without_cards),
        T(test_cards_on_a_plain_card),
        T(test_unknown_top_level_key),
        T(test_unknown_card_key),
        T(test_unknown_card_key_names_card),
        T(test_card_not_a_mapping_line),
        T(test_yaml_syntax_error),
        T(test_empty_cards_list),
        T(test_set_overrides),
        T(test_set_override_line),
        T(test_json_input),
        T(test_kind_article),
        T(test_loop_input_kinds),
        T(test_cycle_inside_loop),
        T(test_batch_index_of_an_epoch_loop),
        T(test_batch_loop_without_dataset),
        T(test_parse_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
