/* Data Load by source: decides whether a source is a built-in dataset's name, an IDX file, a
 * dataset file (safetensors) or a CSV file, and hands it to that loader. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset_private.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* An IDX magic (00 00, a known type code, 1 to 4 dimensions) or gzip's (1f 8b). */
static bool looks_idx(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return true;
    if (n < 4 || b[0] != 0 || b[1] != 0 || b[3] < 1 || b[3] > 4)
        return false;
    return b[2] == 0x08 || b[2] == 0x09 || (b[2] >= 0x0B && b[2] <= 0x0E);
}

/* A safetensors file: a little-endian u64 header length, then the JSON header's '{'. */
static bool looks_safetensors(const unsigned char *b, size_t n)
{
    if (n < 9 || b[8] != '{')
        return false;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | b[i];
    return len >= 2 && len <= NS_ST_MAX_HEADER;
}

static ns_status unknown_source(ns_ctx *ctx, const char *source)
{
    char names[256] = "";
    size_t used = 0;
    for (int i = 0; i < ns_data_builtin_count() && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 ns_data_builtin(i)->name);
    return ns_errorf(ctx, NS_ERR_NOTFOUND,
                     "%s: no such file, and not a built-in dataset; give a CSV or IDX file's "
                     "path or one of the built-ins: %s",
                     source, names);
}

ns_data_source_kind ns_data_source_kind_of(const char *source)
{
    if (ns_data_builtin_find(source) != NULL)
        return NS_DATA_SOURCE_BUILTIN;
    FILE *fp = fopen(source, "rb");
    if (fp == NULL)
        return NS_DATA_SOURCE_MISSING;
    unsigned char head[9];
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    if (ends_with(source, ".safetensors") || looks_safetensors(head, n))
        return NS_DATA_SOURCE_DATASET_FILE;
    if (ends_with(source, ".idx") || ends_with(source, "-ubyte") ||
        ends_with(source, "-ubyte.gz") || looks_idx(head, n))
        return NS_DATA_SOURCE_IDX;
    return NS_DATA_SOURCE_CSV;
}

ns_status ns_data_load(ns_ctx *ctx, const char *source, const ns_csv_options *opts,
                       const ns_progress *progress, ns_dataset **out, ns_dataset **test)
{
    NS_ASSERT(ctx != NULL && source != NULL && out != NULL);
    *out = NULL;
    if (test != NULL)
        *test = NULL;
    const ns_builtin_info *info = ns_data_builtin_find(source);
    if (info != NULL)
        return ns__data_load_builtin(ctx, info, opts, progress, out, test);

    FILE *fp = fopen(source, "rb");
    if (fp == NULL) {
        int err = errno;
        if (err == ENOENT)
            return unknown_source(ctx, source);
        return ns_errorf(ctx, NS_ERR_IO, "%s: cannot open: %s", source, strerror(err));
    }
    unsigned char head[9];
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    if (ends_with(source, ".safetensors") || looks_safetensors(head, n))
        return ns_dataset_load_file(ctx, source, out);
    if (ends_with(source, ".idx") || ends_with(source, "-ubyte") ||
        ends_with(source, "-ubyte.gz") || looks_idx(head, n))
        return ns_data_load_idx(ctx, source, NULL, progress, out);
    return ns_data_load_csv(ctx, source, opts, progress, out);
}
