/* Fuzz target: dataset files (a dataset saved by ns_dataset_save: safetensors with x, y or
 * labels, an optional normalisation, and the "netsmith.dataset" metadata). The input is a whole
 * file, written to the scratch directory and read with ns_dataset_load_file; a dataset that
 * loads is read row by row, named, hashed, and given out as batches of 2. */
#include <stdlib.h>

#include "fuzz_util.h"

static void use(ns_dataset *ds)
{
    ns_fuzz_check_dataset(ds, "a loaded dataset file");
    int64_t rows = ns_dataset_rows(ds);
    int nf = ns_dataset_feature_count(ds);

    if (rows < 1)
        return;
    ns_batch_options bo = {.batch_size = 2, .seed = 1};
    ns_batcher *b = NULL;
    if (ns_batcher_new(ds, &bo, &b) != NS_OK)
        return;
    ns_batch batch;
    int64_t last = ns_batcher_count(b) - 1;
    if (ns_batcher_get(b, 0, 0, &batch) != NS_OK || ns_batcher_get(b, 1, last, &batch) != NS_OK)
        ns_fuzz_fail("a batch of a loaded dataset", NULL);
    volatile float sink = batch.x[0] + batch.x[(size_t)batch.n * (size_t)nf - 1];
    (void)sink;
    ns_batcher_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = ns_fuzz_write("fuzz.safetensors", data, size);
    ns_ctx *ctx = ns_fuzz_ctx();
    ns_dataset *ds = NULL;
    ns_status st = ns_dataset_load_file(ctx, path, &ds);
    if (st == NS_OK)
        use(ds);
    else if (ds != NULL)
        ns_fuzz_fail("a failed load left a dataset", NULL);
    ns_dataset_free(ds);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
