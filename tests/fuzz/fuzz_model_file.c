/* Fuzz target: model files (safetensors with the spec, input shape and output size in the
 * metadata). The input is a whole file, parsed from memory and turned into a model with
 * max_batch 2 (the loader behind ns_model_load); a model that loads takes one training step
 * with batch 2 when that is cheap, and its tensors are listed and looked up by name. */
#include "fuzz_model.h"
#include "fuzz_util.h"
#include "io/io_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_ctx *ctx = ns_fuzz_ctx();
    ns_st_file *f = NULL;
    ns_model *m = NULL;
    if (ns_st_parse(ctx, size ? data : NULL, size, "fuzz.safetensors", &f) == NS_OK) {
        ns_status st = ns__model_from_file(ctx, f, "fuzz.safetensors", 2, &m);
        if (st == NS_OK) {
            for (int i = 0; i < ns_model_tensor_count(m); i++) {
                ns_named_tensor t, u;
                if (ns_model_tensor(m, i, &t) != NS_OK ||
                    ns_model_find_tensor(m, t.name, &u) != NS_OK || u.data != t.data)
                    ns_fuzz_fail("a model tensor cannot be found by its name", t.name);
            }
            ns_fuzz_model_step(m);
        } else if (m != NULL) {
            ns_fuzz_fail("a failed load left a model", NULL);
        }
    }
    ns_model_free(m);
    ns_st_close(f);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
