/* The export's library face: formats by name and by file name, the options it refuses with
 * their messages, the ONNX model's top-level protobuf fields (IR version, opset, producer,
 * graph) read back by a small decoder, the C files' names (from the file, sanitised, or
 * given), files written next to each other and atomically, and model files loaded from memory
 * (ns_fit_load_buffer) as from disk. tests/export/export_test.py checks the outputs of both
 * formats against `netsmith predict` for every layer kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "netsmith/export.h"
#include "netsmith/io.h"
#include "netsmith/netsmith.h"

/* A trained-looking model: spec with a normalisation and class names in info. */
typedef struct fixture {
    ns_ctx *ctx;
    ns_model *model;
    ns_model_info info;
    float shift[3], scale[3];
    char *classes[2];
} fixture;

static void make(fixture *f, const char *spec_json)
{
    memset(f, 0, sizeof *f);
    NS_ASSERT_OK(NULL, ns_ctx_new(NULL, &f->ctx));
    ns_spec *spec = NULL;
    NS_ASSERT_OK(f->ctx, ns_spec_parse(f->ctx, spec_json, strlen(spec_json), "s.json", &spec));
    ns_build_opts bo;
    ns_build_opts_default(&bo, 3);
    bo.output_size = 2;
    NS_ASSERT_OK(f->ctx, ns_model_build(f->ctx, spec, &bo, &f->model));
    ns_spec_free(spec);
    f->info.task = NS_TASK_CLASSIFICATION;
    f->info.classes = 2;
    f->classes[0] = "no";
    f->classes[1] = "yes";
    f->info.class_names = f->classes;
    f->info.norm.kind = NS_NORM_STANDARD;
    f->info.norm.features = 3;
    for (int i = 0; i < 3; i++)
        f->shift[i] = (float)i, f->scale[i] = 0.5f;
    f->info.norm.shift = f->shift;
    f->info.norm.scale = f->scale;
}

static void unmake(fixture *f)
{
    ns_model_free(f->model);
    ns_ctx_free(f->ctx);
}

static const char mlp[] = "{\"layers\": [{\"type\": \"linear\", \"units\": 4}, {\"type\": "
                          "\"gelu\"}, {\"type\": \"dropout\", \"p\": 0.5}, {\"type\": "
                          "\"linear\", \"units\": 2}]}";

static void test_formats(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    NS_ASSERT_OK(NULL, ns_ctx_new(NULL, &ctx));
    ns_export_format f = NS_EXPORT_C;
    assert_string_equal(ns_export_format_name(NS_EXPORT_ONNX), "onnx");
    assert_string_equal(ns_export_format_name(NS_EXPORT_C), "c");
    assert_null(ns_export_format_name((ns_export_format)7));
    NS_ASSERT_OK(ctx, ns_export_format_parse(ctx, "onnx", &f));
    assert_int_equal(f, NS_EXPORT_ONNX);
    NS_ASSERT_STATUS(ctx, ns_export_format_parse(ctx, "onxx", &f), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "did you mean 'onnx'");
    NS_ASSERT_MSG_HAS(ctx, "c (C source");
    assert_true(ns_export_format_of_path("out/m.onnx", &f) && f == NS_EXPORT_ONNX);
    assert_true(ns_export_format_of_path("m.c", &f) && f == NS_EXPORT_C);
    assert_true(ns_export_format_of_path("m.h", &f) && f == NS_EXPORT_C);
    assert_false(ns_export_format_of_path("m.safetensors", &f));
    assert_false(ns_export_format_of_path(".c", &f));
    assert_false(ns_export_format_of_path(NULL, &f));
    ns_ctx_free(ctx);
}

static void test_refused_options(void **state)
{
    (void)state;
    fixture f;
    make(&f, mlp);
    ns_export_options o;
    ns_export_result r;
    ns_export_options_default(&o);
    o.opset = 12;
    NS_ASSERT_STATUS(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f.ctx, "opset 12");
    NS_ASSERT_MSG_HAS(f.ctx, "from 13 to 17");
    assert_int_equal(r.count, 0);
    o.opset = 18;
    NS_ASSERT_STATUS(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r), NS_ERR_INVALID);
    o.opset = 0;
    o.format = NS_EXPORT_C;
    const char *bad[] = {"9lives", "my-model", "a b", "caf\xc3\xa9",
                         "a_name_that_is_much_longer_than_forty_eight_chars_x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.name = bad[i];
        NS_ASSERT_STATUS(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r), NS_ERR_INVALID);
        NS_ASSERT_MSG_HAS(f.ctx, "not a C identifier");
    }
    o.name = NULL;
    o.file = "../up";
    NS_ASSERT_STATUS(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f.ctx, "'/'");
    /* a normalisation of another width than the input */
    o.file = NULL;
    f.info.norm.features = 2;
    NS_ASSERT_STATUS(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(f.ctx, "normalisation has 2 features but the model takes 3");
    unmake(&f);
}

/* A protobuf field of buf at *pos: its number, wire type and value (varint) or bytes. */
static int next_field(const unsigned char *buf, size_t n, size_t *pos, int *wire, uint64_t *v,
                      const unsigned char **bytes)
{
    uint64_t key = 0;
    int shift = 0;
    while (*pos < n) {
        unsigned char b = buf[(*pos)++];
        key |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    *wire = (int)(key & 7);
    if (*wire == 0 || *wire == 2) {
        *v = 0;
        shift = 0;
        while (*pos < n) {
            unsigned char b = buf[(*pos)++];
            *v |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80))
                break;
        }
        if (*wire == 2) {
            *bytes = buf + *pos;
            *pos += (size_t)*v;
        }
    } else if (*wire == 5) {
        *pos += 4;
    }
    return (int)(key >> 3);
}

static void test_onnx_fields(void **state)
{
    (void)state;
    fixture f;
    make(&f, mlp);
    for (int opset = 13; opset <= 17; opset += 4) {
        ns_export_options o;
        ns_export_options_default(&o);
        o.opset = opset;
        o.file = "tiny";
        ns_export_result r;
        NS_ASSERT_OK(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r));
        assert_int_equal(r.count, 1);
        assert_string_equal(r.files[0].name, "tiny.onnx");
        size_t pos = 0;
        int wire, have_graph = 0, ir = 0, op = 0, metas = 0;
        uint64_t v;
        const unsigned char *b = NULL;
        char producer[32] = "";
        while (pos < r.files[0].size) {
            int field = next_field(r.files[0].data, r.files[0].size, &pos, &wire, &v, &b);
            if (field == 1 && wire == 0)
                ir = (int)v;
            if (field == 2 && wire == 2 && v < sizeof producer)
                memcpy(producer, b, (size_t)v), producer[v] = '\0';
            if (field == 7 && wire == 2)
                have_graph = v > 100;
            if (field == 14)
                metas++;
            if (field == 8 && wire == 2) { /* OperatorSetIdProto: version is field 2 */
                size_t p2 = 0;
                while (p2 < (size_t)v) {
                    const unsigned char *b2;
                    uint64_t v2;
                    int w2;
                    if (next_field(b, (size_t)v, &p2, &w2, &v2, &b2) == 2)
                        op = (int)v2;
                }
            }
        }
        assert_int_equal(pos, r.files[0].size);
        assert_int_equal(ir, opset == 17 ? 8 : 7);
        assert_int_equal(op, opset);
        assert_string_equal(producer, "netsmith");
        assert_true(have_graph);
        assert_true(metas >= 6);
        ns_export_result_free(f.ctx, &r);
        assert_int_equal(r.count, 0);
    }
    unmake(&f);
}

static bool has(const ns_export_file *f, const char *needle)
{
    char *text = malloc(f->size + 1);
    memcpy(text, f->data, f->size);
    text[f->size] = '\0';
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void test_c_names(void **state)
{
    (void)state;
    fixture f;
    make(&f, mlp);
    ns_export_options o;
    ns_export_options_default(&o);
    o.format = NS_EXPORT_C;
    o.file = "2-wine.model";
    ns_export_result r;
    NS_ASSERT_OK(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r));
    assert_int_equal(r.count, 2);
    assert_string_equal(r.files[0].name, "2-wine.model.c");
    assert_string_equal(r.files[1].name, "2-wine.model.h");
    /* the name from the file: '-' and '.' made '_', a leading digit prefixed */
    assert_true(has(&r.files[0], "int _2_wine_model_predict(const float *x, int n, float *y)"));
    assert_true(has(&r.files[0], "#include \"2-wine.model.h\""));
    assert_true(has(&r.files[1], "#define _2_WINE_MODEL_INPUT_SIZE 3"));
    assert_true(has(&r.files[1], "#define _2_WINE_MODEL_OUTPUT_SIZE 2"));
    assert_true(has(&r.files[1], "_2_WINE_MODEL_SCRATCH_BYTES"));
    assert_true(has(&r.files[0], "\"no\", \"yes\""));
    assert_false(has(&r.files[0], "dropout(")); /* no kernel for what inference skips */
    ns_export_result_free(f.ctx, &r);
    o.name = "Edge_1";
    NS_ASSERT_OK(f.ctx, ns_export(f.ctx, f.model, &f.info, &o, &r));
    assert_true(has(&r.files[0], "int Edge_1_predict("));
    assert_true(has(&r.files[1], "#define EDGE_1_OUTPUT_SIZE 2"));
    ns_export_result_free(f.ctx, &r);
    unmake(&f);
}

static void test_files(void **state)
{
    (void)state;
    fixture f;
    make(&f, mlp);
    char dir[] = "/tmp/netsmith-export-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], written[2][4096];
    ns_export_options o;
    ns_export_options_default(&o);
    o.format = NS_EXPORT_C;
    snprintf(path, sizeof path, "%s/edge", dir); /* no ".c": it gets one */
    NS_ASSERT_OK(f.ctx, ns_export_write(f.ctx, f.model, &f.info, &o, path, written));
    snprintf(path, sizeof path, "%s/edge.c", dir);
    assert_string_equal(written[0], path);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/edge.h", dir);
    assert_string_equal(written[1], path);
    assert_int_equal(access(path, R_OK), 0);
    /* ONNX into the path as given */
    o.format = NS_EXPORT_ONNX;
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    NS_ASSERT_OK(f.ctx, ns_export_write(f.ctx, f.model, &f.info, &o, path, written));
    assert_string_equal(written[0], path);
    assert_string_equal(written[1], "");
    /* a directory that is not there: NS_ERR_IO naming the file */
    snprintf(path, sizeof path, "%s/none/m.onnx", dir);
    NS_ASSERT_STATUS(f.ctx, ns_export_write(f.ctx, f.model, &f.info, &o, path, written), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(f.ctx, "none/m.onnx");
    /* a model file, loaded from its bytes as from disk */
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    NS_ASSERT_OK(f.ctx, ns_fit_save(f.model, &f.info, path));
    char *bytes = NULL;
    size_t len = 0;
    NS_ASSERT_OK(f.ctx, ns_read_file(f.ctx, path, &bytes, &len));
    ns_model *m = NULL;
    ns_model_info info;
    NS_ASSERT_OK(f.ctx, ns_fit_load_buffer(f.ctx, bytes, len, "blob", 0, &m, &info));
    assert_int_equal(info.classes, 2);
    assert_string_equal(info.class_names[1], "yes");
    assert_int_equal(ns_model_param_count(m), ns_model_param_count(f.model));
    assert_memory_equal(ns_model_params(m), ns_model_params(f.model),
                        ns_model_param_count(m) * sizeof(float));
    ns_model_info_deinit(f.ctx, &info);
    ns_model_free(m);
    NS_ASSERT_STATUS(f.ctx, ns_fit_load_buffer(f.ctx, bytes, len / 2, "blob", 0, &m, &info),
                     NS_ERR_FORMAT);
    NS_ASSERT_MSG_HAS(f.ctx, "blob");
    assert_null(m);
    ns_dealloc(f.ctx, bytes);
    /* ns_export_model_file: the same from the file */
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    char out[256];
    snprintf(out, sizeof out, "%s/again.onnx", dir);
    NS_ASSERT_OK(f.ctx, ns_export_model_file(f.ctx, path, &o, out, written));
    assert_int_equal(access(out, R_OK), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unmake(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),     cmocka_unit_test(test_refused_options),
        cmocka_unit_test(test_onnx_fields), cmocka_unit_test(test_c_names),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
