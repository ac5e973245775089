/* Fuzz target: the CSV reader with its options. Input: two option bytes, then up to three
 * NUL-terminated column lists (target, features, exclude; empty means not given), then the CSV
 * text (which may itself hold NULs):
 *   byte 0: bits 0-1 delimiter (detect, ',', ';', tab), bit 2 no_header, bit 3 one_hot,
 *           bits 4-5 missing (error, drop, fill_mean), bits 6-7 task (auto, regression,
 *           classification)
 *   byte 1: bits 0-5 max_classes (0: the default), bit 6 read from a file instead of memory.
 * A table that loads is read row by row, named, hashed, normalised and split. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static void use(ns_ctx *ctx, ns_dataset *ds)
{
    int64_t rows = ns_dataset_rows(ds);
    int nf = ns_dataset_feature_count(ds), nt = ns_dataset_target_count(ds);
    int shape[NS_MAX_DIMS - 1];
    int ndim = ns_dataset_input_shape(ds, shape);
    if (rows < 1 || nf < 1 || nt < 1 || ndim < 1 || ndim > NS_MAX_DIMS - 1)
        ns_fuzz_fail("a loaded CSV has no rows, features or targets", NULL);
    ns_fuzz_check_dataset(ds, "a loaded CSV");
    float *x = malloc((size_t)nf * sizeof *x), *y = malloc((size_t)nt * sizeof *y);
    if (x == NULL || y == NULL)
        ns_fuzz_fail("malloc", "out of memory");

    ns_norm norm;
    if (ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &norm) == NS_OK) {
        ns_dataset *n = NULL;
        if (ns_data_normalize(ds, &norm, &n) == NS_OK) {
            ns_dataset_row(n, rows - 1, x, y, NULL);
            (void)ns_dataset_hash(n);
        }
        char *json = NULL;
        if (ns_norm_to_json(ctx, &norm, &json) == NS_OK) {
            ns_norm back;
            if (ns_norm_from_json(ctx, json, "fuzz", &back) != NS_OK)
                ns_fuzz_fail("a fitted normalisation does not read back", ns_errmsg(ctx));
            ns_norm_deinit(ctx, &back);
        }
        ns_dealloc(ctx, json);
        ns_dataset_free(n);
        ns_norm_deinit(ctx, &norm);
    }
    if (rows >= 3) {
        ns_split_options so;
        ns_split_options_default(&so);
        ns_dataset *tr = NULL, *va = NULL, *te = NULL;
        if (ns_data_split(ds, &so, &tr, &va, &te) == NS_OK &&
            ns_dataset_rows(tr) + (va ? ns_dataset_rows(va) : 0) + (te ? ns_dataset_rows(te) : 0) !=
                rows)
            ns_fuzz_fail("a split lost rows", NULL);
        ns_dataset_free(tr);
        ns_dataset_free(va);
        ns_dataset_free(te);
    }
    free(x);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[4] = {0, ',', ';', '\t'};
    ns_csv_options o;
    ns_csv_options_default(&o);
    o.delimiter = delims[data[0] & 3];
    o.no_header = (data[0] >> 2) & 1;
    o.one_hot = (data[0] >> 3) & 1;
    o.missing = (ns_missing)(((data[0] >> 4) & 3) % 3);
    o.task = (ns_task)(((data[0] >> 6) & 3) % 3);
    o.max_classes = data[1] & 0x3f;
    bool from_file = (data[1] >> 6) & 1;

    const uint8_t *parts[4];
    size_t lens[4];
    int n = ns_fuzz_split(data + 2, size - 2, parts, lens, 4);
    char *lists[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n - 1; i++)
        if (lens[i] > 0)
            lists[i] = ns_fuzz_strndup(parts[i], lens[i]);
    o.target = lists[0];
    o.features = lists[1];
    o.exclude = lists[2];
    const char *text = (const char *)parts[n - 1];
    size_t len = lens[n - 1];

    ns_ctx *ctx = ns_fuzz_ctx();
    ns_dataset *ds = NULL;
    ns_status st;
    if (from_file)
        st = ns_data_load_csv(ctx, ns_fuzz_write("fuzz.csv", text, len), &o, NULL, &ds);
    else
        st = ns_data_parse_csv(ctx, len ? text : NULL, len, "fuzz.csv", &o, NULL, &ds);
    if (st == NS_OK)
        use(ctx, ds);
    else if (ds != NULL)
        ns_fuzz_fail("a failed load left a dataset", NULL);
    ns_dataset_free(ds);
    ns_fuzz_ctx_free(ctx);
    for (int i = 0; i < 3; i++)
        free(lists[i]);
    return 0;
}
