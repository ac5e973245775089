/* Fuzz target: IDX image and label files, plain and gzipped. Input: one flag byte, two bytes
 * (little-endian) giving the length of the images part, then the images file and the labels
 * file. Flags: bit 0 gzips the images part here and bit 1 the labels part (so the fuzzer's
 * changes to the content also reach the reader through a valid gzip stream; a part that is
 * itself gzip data is read as such), bit 2 passes no labels path (the reader finds the labels
 * file beside the images by name). A dataset that loads is read row by row. */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_util.h"

/* data[size] as one gzip member (malloc'ed, *out_len bytes); a small window and little memory
 * keep it cheap. */
static unsigned char *gzip(const uint8_t *data, size_t size, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + 9, 1, Z_DEFAULT_STRATEGY) != Z_OK)
        ns_fuzz_fail("deflateInit2", NULL);
    size_t cap = deflateBound(&zs, (uLong)size) + 32;
    unsigned char *out = malloc(cap);
    if (out == NULL)
        ns_fuzz_fail("malloc", "out of memory");
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        ns_fuzz_fail("deflate", NULL);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static const char *write_part(const char *name, const uint8_t *data, size_t size, bool gz)
{
    if (!gz)
        return ns_fuzz_write(name, data, size);
    size_t n;
    unsigned char *z = gzip(data, size, &n);
    const char *path = ns_fuzz_write(name, z, n);
    free(z);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t n_images = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (n_images > size)
        n_images = size;
    const char *images = write_part("t-images-idx3-ubyte", data, n_images, flags & 1);
    const char *labels =
        write_part("t-labels-idx1-ubyte", data + n_images, size - n_images, flags & 2);

    ns_ctx *ctx = ns_fuzz_ctx();
    ns_dataset *ds = NULL;
    ns_status st = ns_data_load_idx(ctx, images, (flags & 4) ? NULL : labels, NULL, &ds);
    if (st == NS_OK) {
        int nf = ns_dataset_feature_count(ds);
        int classes = ns_dataset_class_count(ds);
        float *x = malloc((size_t)nf * sizeof *x);
        if (x == NULL)
            ns_fuzz_fail("malloc", "out of memory");
        for (int64_t r = 0; r < ns_dataset_rows(ds); r++) {
            int32_t label = -1;
            ns_dataset_row(ds, r, x, NULL, &label);
            if (label < 0 || label >= classes)
                ns_fuzz_fail("a label is not a class", NULL);
            for (int i = 0; i < nf; i++)
                if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                    ns_fuzz_fail("a pixel is outside [0, 1]", NULL);
        }
        for (int c = 0; c < classes; c++)
            if (ns_dataset_class_name(ds, c) == NULL)
                ns_fuzz_fail("a class has no name", NULL);
        (void)ns_dataset_hash(ds);
        free(x);
    } else if (ds != NULL) {
        ns_fuzz_fail("a failed load left a dataset", NULL);
    }
    ns_dataset_free(ds);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
