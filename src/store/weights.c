/* Does a weights file fit an architecture? The check behind `netsmith model import`: the
 * architecture built for the file's input shape, and every tensor's name and shape loaded. */
#include <stdlib.h>
#include <string.h>

#include "netsmith/format.h"
#include "netsmith/io.h"
#include "netsmith/model.h"
#include "store/store_private.h"

ns_status ns__check_weights(ns_ctx *ctx, const char *spec_json, const char *arch, const char *path)
{
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st != NS_OK)
        return st;
    ns_spec *spec = NULL;
    st = ns_spec_parse(ctx, spec_json, strlen(spec_json), arch, &spec);
    ns_build_opts bo;
    const char *input = ns_st_meta_find(f, "netsmith.input_shape");
    const char *output = ns_st_meta_find(f, "netsmith.output_size");
    const ns_st_tensor *w0 = ns_st_find(f, "0.weight");
    if (st == NS_OK && input != NULL) {
        /* a netsmith file: its input shape, e.g. "[13]" or "[1, 28, 28]" */
        ns_build_opts_default(&bo, 1);
        bo.input_ndim = 0;
        for (const char *p = input; *p != '\0' && bo.input_ndim < NS_MAX_DIMS - 1;) {
            while (*p != '\0' && (*p < '0' || *p > '9'))
                p++;
            if (*p == '\0')
                break;
            bo.input_shape[bo.input_ndim++] = (int)strtol(p, (char **)&p, 10);
        }
        if (bo.input_ndim == 0)
            st = ns_errorf(ctx, NS_ERR_FORMAT, "%s: netsmith.input_shape '%s' names no shape", path,
                           input);
    } else if (st == NS_OK && w0 != NULL && w0->ndim == 2) {
        /* a plain nn.Sequential starting with Linear: the input size is its weight's columns */
        ns_build_opts_default(&bo, (int)w0->shape[1]);
    } else if (st == NS_OK) {
        st = ns_errorf(
            ctx, NS_ERR_FORMAT,
            "%s: cannot tell the model's input shape: the file has no netsmith.input_shape "
            "and does not start with a linear layer's 0.weight; save it with netsmith, "
            "or add netsmith.input_shape (e.g. \"[1, 28, 28]\") to its metadata",
            path);
    }
    if (st == NS_OK && output != NULL)
        bo.output_size = atoi(output);
    if (st == NS_OK && output == NULL && ns_spec_output_size(spec) == 0) {
        /* the output size from the last weight's rows */
        int last = -1;
        for (int i = 0; i < ns_st_count(f); i++) {
            const ns_st_tensor *t = ns_st_get(f, i);
            int k = atoi(t->name);
            if (strstr(t->name, ".weight") != NULL && k > last && t->ndim >= 1) {
                last = k;
                bo.output_size = (int)t->shape[0];
            }
        }
    }
    ns_model *m = NULL;
    if (st == NS_OK) {
        bo.max_batch = 1;
        st = ns_model_build(ctx, spec, &bo, &m);
        if (st != NS_OK)
            st = ns_errorf(ctx, st, "%s does not fit architecture '%s': %s", path, arch,
                           ns_errmsg(ctx));
    }
    if (st == NS_OK) {
        st = ns_model_load_weights(m, f);
        if (st != NS_OK)
            st = ns_errorf(ctx, st, "%s does not fit architecture '%s': %s", path, arch,
                           ns_errmsg(ctx));
    }
    ns_model_free(m);
    ns_spec_free(spec);
    ns_st_close(f);
    return st;
}
