/* Fuzz target: YAML (run configs and pipeline files; JSON is read as YAML too). The input is a
 * document. It is converted to JSON text (ns_yaml_to_json), which must be valid JSON, and
 * loaded with positions (ns__yaml_load), whose tree must equal that JSON and whose every
 * mapping key and collection must have a line. */
#include <jansson.h>
#include <string.h>

#include "fuzz_util.h"
#include "format/yaml_doc.h"

static void walk(const ns__yaml_doc *doc, const json_t *node, int depth)
{
    if (depth > 256)
        ns_fuzz_fail("a YAML tree is deeper than the converter allows", NULL);
    if (json_is_object(node)) {
        if (ns__yaml_line(doc, node, NULL) < 1)
            ns_fuzz_fail("a mapping has no line", NULL);
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)node, key, v)
        {
            if (ns__yaml_line(doc, node, key) < 1)
                ns_fuzz_fail("a mapping key has no line", key);
            walk(doc, v, depth + 1);
        }
    } else if (json_is_array(node)) {
        if (ns__yaml_line(doc, node, NULL) < 1)
            ns_fuzz_fail("a sequence has no line", NULL);
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) walk(doc, v, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_ctx *ctx = ns_fuzz_ctx();
    const char *text = (const char *)data;
    char *json = NULL;
    ns_status st = ns_yaml_to_json(ctx, text, size, "fuzz.yaml", &json);
    json_t *converted = NULL;
    if (st == NS_OK) {
        json_error_t err;
        converted = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (converted == NULL)
            ns_fuzz_fail("ns_yaml_to_json gave text that is not JSON", err.text);
    }
    ns_dealloc(ctx, json);

    ns__yaml_doc doc;
    memset(&doc, 0, sizeof doc);
    ns_status st2 = ns__yaml_load(ctx, text, size, "fuzz.yaml", &doc);
    if (st2 == NS_OK) {
        if (converted != NULL && !json_equal(converted, doc.root))
            ns_fuzz_fail("ns_yaml_to_json and ns__yaml_load read different trees", NULL);
        walk(&doc, doc.root, 0);
    }
    if (st != st2 && st != NS_ERR_NOMEM && st2 != NS_ERR_NOMEM)
        ns_fuzz_fail("ns_yaml_to_json and ns__yaml_load disagree", ns_errmsg(ctx));
    ns__yaml_doc_free(ctx, &doc);
    json_decref(converted);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
