/* Numbers do not depend on the process locale: an application that calls
 * setlocale(LC_ALL, "") under a locale whose decimal point is ',' (de_DE.UTF-8) gets the same
 * JSON, YAML, CSV values, metrics and model files as under "C". The locale comes from the
 * system or from the copy CTest compiles with localedef into LOCPATH; without one the test
 * is skipped (exit 77) and says why. */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_internal.h"
#include "testutil.h"

static const char *comma_locale;

/* Reads a whole file (malloc'ed; *n its size). */
static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    buf[len] = '\0';
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

static void test_formatting_and_parsing(void **state)
{
    (void)state;
    assert_non_null(setlocale(LC_ALL, comma_locale));
    assert_string_equal(localeconv()->decimal_point, ",");
    ns_ctx *ctx = NULL;
    NS_ASSERT_OK(ctx, ns_ctx_new(NULL, &ctx));
    char buf[64];
    ns__format_double(buf, sizeof buf, 0.25);
    assert_string_equal(buf, "0.25");
    assert_true(ns__strtod("1.5", NULL) == 1.5);
    ns__snprintf_c(buf, sizeof buf, "%.3f", 2.5);
    assert_string_equal(buf, "2.500");
    /* YAML reals */
    char *json = NULL;
    static const char yaml[] = "a: 0.25\nb: [1.5, -2e-3]\n";
    NS_ASSERT_OK(ctx, ns_yaml_to_json(ctx, yaml, strlen(yaml), "t.yaml", &json));
    assert_non_null(strstr(json, "0.25"));
    assert_non_null(strstr(json, "1.5"));
    assert_null(strstr(json, "\"0.25\""));
    ns_dealloc(ctx, json);
    /* CSV values */
    static const char csv[] = "a,b,y\n0.5,1.25,3.75\n-2.5,1e-3,0.125\n1.0,2.0,3.0\n";
    ns_csv_options co;
    ns_csv_options_default(&co);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_parse_csv(ctx, csv, strlen(csv), "t.csv", &co, NULL, &ds));
    float x[2], y[1];
    ns_dataset_row(ds, 1, x, y, NULL);
    assert_true(x[0] == -2.5f && x[1] == 1e-3f && y[0] == 0.125f);
    /* a normalisation fit as model metadata */
    ns_norm norm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &norm));
    NS_ASSERT_OK(ctx, ns_norm_to_json(ctx, &norm, &json));
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "shift")), 2);
    assert_true((float)json_real_value(json_array_get(json_object_get(j, "shift"), 0)) ==
                norm.shift[0]);
    json_decref(j);
    ns_norm back;
    NS_ASSERT_OK(ctx, ns_norm_from_json(ctx, json, "norm", &back));
    assert_memory_equal(back.shift, norm.shift, 2 * sizeof(float));
    assert_memory_equal(back.scale, norm.scale, 2 * sizeof(float));
    ns_norm_deinit(ctx, &back);
    ns_norm_deinit(ctx, &norm);
    ns_dealloc(ctx, json);
    ns_dataset_free(ds);
    /* a spec prints and reads back */
    static const char spec_text[] = "{\"hidden_layers\": [4], \"dropout\": 0.25, "
                                    "\"learning_rate\": 0.003}";
    ns_spec *spec = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, spec_text, strlen(spec_text), NULL, &spec));
    NS_ASSERT_OK(ctx, ns_spec_to_json(spec, &json));
    assert_non_null(strstr(json, "0.25"));
    assert_non_null(strstr(json, "0.003"));
    ns_spec *again = NULL;
    NS_ASSERT_OK(ctx, ns_spec_parse(ctx, json, strlen(json), NULL, &again));
    assert_true(ns_spec_training(again)->learning_rate == 0.003);
    ns_spec_free(again);
    ns_spec_free(spec);
    ns_dealloc(ctx, json);
    /* metrics */
    ns_metric_values mv;
    memset(&mv, 0, sizeof mv);
    mv.loss = 0.125;
    mv.rmse = 1.5;
    mv.n = 4;
    NS_ASSERT_OK(ctx, ns_metrics_to_json(ctx, &mv, NULL, 0, &json));
    assert_non_null(strstr(json, "0.125"));
    assert_non_null(strstr(json, "1.5"));
    ns_dealloc(ctx, json);
    ns_ctx_free(ctx);
    setlocale(LC_ALL, "C");
}

/* Runs a small pipeline that saves a trained model and its test metrics into dir. */
static void run_pipeline(const char *dir)
{
    ns_ctx *ctx = NULL;
    ns_cards *cards = NULL;
    NS_ASSERT_OK(ctx, ns_ctx_new(NULL, &ctx));
    NS_ASSERT_OK(ctx, ns_cards_new(ctx, &cards));
    char text[2048];
    snprintf(text, sizeof text,
             "pipeline: locale\nseed: 2\ncards:\n"
             "  - {id: load, card: data_load, with: {name: boston_housing}}\n"
             "  - {id: split, card: data_split, in: {dataset: load.dataset}, with: {train_ratio: "
             "0.8, test_ratio: 0.2}}\n"
             "  - {id: norm, card: normalize, in: {train_dataset: split.train_dataset, "
             "test_dataset: split.test_dataset}}\n"
             "  - {id: define, card: model_define, with: {hidden_layers: [8], dropout: 0.25, "
             "learning_rate: 0.005}}\n"
             "  - {id: build, card: build_model, in: {model_spec: define.model_spec, "
             "input_size: split.input_size}}\n"
             "  - {id: train, card: train, in: {model: build.model, dataset: norm.train_dataset}, "
             "with: {epochs: 2}}\n"
             "  - {id: eval, card: evaluate, in: {model: train.model, dataset: "
             "norm.test_dataset}}\n"
             "  - {id: save, card: save_model, in: {model: train.model, dataset: "
             "norm.train_dataset}, with: {path: \"%s/model.safetensors\"}}\n",
             dir);
    ns_pipeline *p = NULL;
    NS_ASSERT_OK(ctx, ns_pipeline_parse(cards, text, strlen(text), "locale.yaml", NULL, 0, &p));
    NS_ASSERT_OK(ctx, ns_pipeline_run(p, NULL));
    NS_ASSERT_OK(ctx, ns_value_save(ctx, ns_pipeline_output(p, "eval.metrics"), dir, "metrics",
                                    NULL));
    ns_pipeline_free(p);
    ns_cards_free(cards);
    ns_ctx_free(ctx);
}

static void test_same_files_in_both_locales(void **state)
{
    (void)state;
    char a[4096], b[4096], path[4200];
    snprintf(a, sizeof a, "%s", ns_test_tmp("c"));
    snprintf(b, sizeof b, "%s", ns_test_tmp("de"));
    assert_int_equal(mkdir(a, 0700), 0);
    assert_int_equal(mkdir(b, 0700), 0);
    setlocale(LC_ALL, "C");
    run_pipeline(a);
    assert_non_null(setlocale(LC_ALL, comma_locale));
    run_pipeline(b);
    setlocale(LC_ALL, "C");
    static const char *const files[] = {"model.safetensors", "metrics.json"};
    for (int i = 0; i < 2; i++) {
        size_t na, nb;
        snprintf(path, sizeof path, "%s/%s", a, files[i]);
        char *fa = slurp(path, &na);
        snprintf(path, sizeof path, "%s/%s", b, files[i]);
        char *fb = slurp(path, &nb);
        if (na != nb || memcmp(fa, fb, na) != 0) {
            fprintf(stderr, "%s differs between the C locale and %s\n", files[i], comma_locale);
            fail();
        }
        free(fa);
        free(fb);
    }
}

int main(void)
{
    static const char *const candidates[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8",
                                             "nl_NL.UTF-8", "it_IT.UTF-8"};
    for (size_t i = 0; comma_locale == NULL && i < sizeof candidates / sizeof candidates[0];
         i++)
        if (setlocale(LC_ALL, candidates[i]) != NULL &&
            strcmp(localeconv()->decimal_point, ",") == 0)
            comma_locale = candidates[i];
    setlocale(LC_ALL, "C");
    if (comma_locale == NULL) {
        printf("SKIP: no locale with a ',' decimal point (de_DE.UTF-8 ...) is installed or could "
               "be compiled (Debian: the locales package's localedef; LOCPATH=%s)\n",
               getenv("LOCPATH") ? getenv("LOCPATH") : "(unset)");
        return 77;
    }
    printf("testing under %s\n", comma_locale);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formatting_and_parsing),
        cmocka_unit_test(test_same_files_in_both_locales),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
