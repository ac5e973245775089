/* Fuzz target: run configs (YAML or JSON, as `netsmith train -c` reads them). The input is a
 * document, read from a file with ns_run_config_load. A config that reads must print as JSON
 * that reads back into the same config (the round trip), and every setting of the table must
 * read (given or its default) without a crash; the same text is also given to one setting as
 * a flag's value (the first byte picks the setting). */
#include <jansson.h>
#include <string.h>

#include "fuzz_util.h"

static void read_all(const ns_run_config *cfg)
{
    int n;
    const ns_setting_def *defs = ns_run_settings(&n);
    double list[64];
    for (int i = 0; i < n; i++) {
        switch (defs[i].type) {
        case NS_SETTING_INT:
            (void)ns_run_config_int(cfg, defs[i].name);
            break;
        case NS_SETTING_NUMBER:
            (void)ns_run_config_number(cfg, defs[i].name);
            break;
        case NS_SETTING_BOOL:
            (void)ns_run_config_bool(cfg, defs[i].name);
            break;
        case NS_SETTING_LIST:
            if (ns_run_config_list(cfg, defs[i].name, list, 64) > 64 &&
                strcmp(defs[i].name, "seeds") == 0)
                ns_fuzz_fail("a run config holds more seeds than a run takes", NULL);
            break;
        default:
            (void)ns_run_config_string(cfg, defs[i].name);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_ctx *ctx = ns_fuzz_ctx();
    ns_run_config *cfg = NULL, *back = NULL;
    const char *path = ns_fuzz_write("run.yaml", data, size);
    if (ns_run_config_new(ctx, &cfg) == NS_OK && ns_run_config_load(cfg, path) == NS_OK) {
        read_all(cfg);
        char *a = NULL, *b = NULL;
        if (ns_run_config_to_json(cfg, &a) == NS_OK && ns_run_config_new(ctx, &back) == NS_OK) {
            if (ns_run_config_merge(back, a, "round trip") != NS_OK) {
                if (!ns_fuzz_refused())
                    ns_fuzz_fail("a run config's JSON does not read back", ns_errmsg(ctx));
            } else if (ns_run_config_to_json(back, &b) == NS_OK && strcmp(a, b) != 0) {
                ns_fuzz_fail("a run config's JSON reads back to another config", a);
            }
        }
        ns_dealloc(ctx, a);
        ns_dealloc(ctx, b);
    }
    ns_run_config_free(back);
    ns_run_config_free(cfg);
    /* the text as a flag's value */
    int n;
    const ns_setting_def *defs = ns_run_settings(&n);
    if (size > 1 && memchr(data + 1, '\0', size - 1) == NULL && ns_run_config_new(ctx, &cfg) == NS_OK) {
        char *text = ns_fuzz_strndup(data + 1, size - 1);
        if (ns_run_config_set_text(cfg, defs[data[0] % n].name, text, "--flag") == NS_OK)
            read_all(cfg);
        free(text);
        ns_run_config_free(cfg);
    }
    ns_fuzz_ctx_free(ctx);
    return 0;
}
