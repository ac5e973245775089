/* Fuzz target: pipeline files, read and checked (never run). Input: the pipeline text (YAML or
 * JSON), then up to three NUL-separated --set overrides ("card.setting=value"). Relative paths
 * in settings are taken from the scratch directory, where the file is said to lie. A pipeline
 * that checks is walked: its name, its cards in run order and their (not yet made) outputs. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

#define MAX_OVERRIDES 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *parts[1 + MAX_OVERRIDES];
    size_t lens[1 + MAX_OVERRIDES];
    int n = ns_fuzz_split(data, size, parts, lens, 1 + MAX_OVERRIDES);
    char *ov[MAX_OVERRIDES];
    for (int i = 1; i < n; i++)
        ov[i - 1] = ns_fuzz_strndup(parts[i], lens[i]);

    ns_ctx *ctx = ns_fuzz_ctx();
    ns_cards *cards = NULL;
    if (ns_cards_new(ctx, &cards) != NS_OK)
        ns_fuzz_fail("ns_cards_new", ns_errmsg(ctx));
    ns_pipeline *p = NULL;
    ns_status st = ns_pipeline_parse(cards, (const char *)parts[0], lens[0],
                                     ns_fuzz_path("fuzz.yaml"), (const char *const *)ov, n - 1, &p);
    if (st == NS_OK) {
        if (ns_pipeline_name(p) == NULL)
            ns_fuzz_fail("a checked pipeline has no name", NULL);
        for (int i = 0; i < ns_pipeline_card_count(p); i++) {
            const char *id = ns_pipeline_card_id(p, i);
            if (id == NULL)
                ns_fuzz_fail("a card has no id", NULL);
            const char *names[16];
            ns_value *values[16];
            int k = ns_pipeline_outputs(p, id, names, values, 16);
            if (k < 0)
                ns_fuzz_fail("a listed card is unknown to ns_pipeline_outputs", id);
            for (int j = 0; j < k && j < 16; j++)
                if (values[j] != NULL)
                    ns_fuzz_fail("a pipeline that has not run has outputs", id);
        }
        if (ns_pipeline_card_id(p, ns_pipeline_card_count(p)) != NULL)
            ns_fuzz_fail("ns_pipeline_card_id past the end is not NULL", NULL);
    } else if (p != NULL) {
        ns_fuzz_fail("a failed check left a pipeline", NULL);
    }
    ns_pipeline_free(p);
    ns_cards_free(cards);
    ns_fuzz_ctx_free(ctx);
    for (int i = 1; i < n; i++)
        free(ov[i - 1]);
    return 0;
}
