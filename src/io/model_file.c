/* Model files: a safetensors file with PyTorch nn.Sequential state_dict names and a
 * self-describing __metadata__ (spec, input shape, output size, version). */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

#define META_SPEC "netsmith.spec"
#define META_INPUT "netsmith.input_shape"
#define META_OUTPUT "netsmith.output_size"
#define META_SEED "netsmith.seed"
#define META_VERSION "netsmith.version"

static size_t named_numel(const ns_named_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

static ns_status check_finite(ns_model *m, const char *path)
{
    int n = ns_model_tensor_count(m);
    for (int i = 0; i < n; i++) {
        ns_named_tensor t;
        ns_model_tensor(m, i, &t);
        if (t.data == NULL)
            continue;
        size_t numel = named_numel(&t);
        for (size_t k = 0; k < numel; k++)
            if (!isfinite(t.data[k]))
                return ns_errorf(ns_model_ctx(m), NS_ERR_NONFINITE,
                                 "%s: not saved: tensor %s holds a non-finite value at index %zu "
                                 "(training diverged: lower the learning rate or normalise the "
                                 "data)",
                                 path, t.name, k);
    }
    return NS_OK;
}

ns_status ns__model_write(ns_model *m, const char *path, const ns_st_tensor *more, int n_more,
                          const ns_st_meta *extra, int n_extra)
{
    ns_ctx *ctx = ns_model_ctx(m);
    ns_status st = check_finite(m, path);
    if (st != NS_OK)
        return st;
    int n = ns_model_tensor_count(m);
    ns_st_tensor *ts = ns_calloc(ctx, (size_t)(n + n_more) + 1, sizeof *ts);
    ns_named_tensor *nt = ns_calloc(ctx, (size_t)n + 1, sizeof *nt);
    ns_st_meta *meta = ns_calloc(ctx, (size_t)n_extra + 6, sizeof *meta);
    char *spec_json = NULL;
    if (ts == NULL || nt == NULL || meta == NULL) {
        st = NS_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        ns_model_tensor(m, i, &nt[i]);
        ts[i].name = nt[i].name;
        ts[i].ndim = nt[i].ndim;
        for (int d = 0; d < nt[i].ndim; d++)
            ts[i].shape[d] = nt[i].shape[d];
        if (nt[i].count != NULL) { /* num_batches_tracked: an int64 scalar, as in PyTorch */
            ts[i].dtype = NS_DTYPE_I64;
            ts[i].data = nt[i].count;
            ts[i].nbytes = sizeof(int64_t);
        } else {
            ts[i].dtype = NS_DTYPE_F32;
            ts[i].data = nt[i].data;
            ts[i].nbytes = named_numel(&nt[i]) * sizeof(float);
        }
    }
    for (int i = 0; i < n_more; i++)
        ts[n + i] = more[i];
    st = ns_spec_to_json(ns_model_spec(m), &spec_json);
    const ns_build_opts *bo = ns_model_build_opts(m);
    if (st != NS_OK)
        goto done;
    char input[64] = "[", output[24];
    for (int d = 0; d < bo->input_ndim; d++)
        snprintf(input + strlen(input), sizeof input - strlen(input), "%s%d", d ? ", " : "",
                 bo->input_shape[d]);
    strcat(input, "]");
    snprintf(output, sizeof output, "%d", ns_model_output_size(m));
    int k = 0;
    meta[k++] = (ns_st_meta){"format", "pt"};
    meta[k++] = (ns_st_meta){META_VERSION, NS_VERSION_STRING};
    meta[k++] = (ns_st_meta){META_SPEC, spec_json};
    meta[k++] = (ns_st_meta){META_INPUT, input};
    meta[k++] = (ns_st_meta){META_OUTPUT, output};
    /* The seed picks the dropout stream, so a resumed run must get it back. */
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)bo->seed);
    meta[k++] = (ns_st_meta){META_SEED, seed};
    for (int i = 0; i < n_extra; i++)
        meta[k++] = extra[i];
    st = ns_st_write(ctx, path, ts, n + n_more, meta, k);
done:
    ns_dealloc(ctx, spec_json);
    ns_dealloc(ctx, meta);
    ns_dealloc(ctx, nt);
    ns_dealloc(ctx, ts);
    return st;
}

ns_status ns_model_save(ns_model *m, const char *path, const ns_st_meta *extra, int n_extra)
{
    return ns__model_write(m, path, NULL, 0, extra, n_extra);
}

/* Model tensors are named "<layer index>.<name>"; other tensors (optimizer state in a
 * checkpoint) are not the model's business. */
static bool is_layer_tensor(const char *name) { return isdigit((unsigned char)name[0]) != 0; }

ns_status ns_model_load_weights(ns_model *m, const ns_st_file *f)
{
    ns_ctx *ctx = ns_model_ctx(m);
    int n = ns_model_tensor_count(m);
    for (int i = 0; i < n; i++) {
        ns_named_tensor t;
        ns_model_tensor(m, i, &t);
        const ns_st_tensor *s = ns_st_find(f, t.name);
        if (s == NULL)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "model file: tensor '%s' is missing (the file was written for "
                             "another architecture)",
                             t.name);
        ns_dtype want = t.count ? NS_DTYPE_I64 : NS_DTYPE_F32;
        bool same = s->dtype == want && s->ndim == t.ndim;
        for (int d = 0; same && d < t.ndim; d++)
            same = s->shape[d] == t.shape[d];
        if (!same) {
            char got[96] = "", exp[96] = "";
            for (int d = 0; d < s->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                         (long long)s->shape[d]);
            for (int d = 0; d < t.ndim; d++)
                snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", d ? ", " : "",
                         (long long)t.shape[d]);
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "model file: tensor '%s' is %s [%s] but the model needs %s [%s]",
                             t.name, ns_dtype_name(s->dtype), got, ns_dtype_name(want), exp);
        }
        if (t.count)
            memcpy(t.count, s->data, sizeof(int64_t));
        else
            memcpy(t.data, s->data, s->nbytes);
    }
    int nf = ns_st_count(f);
    for (int i = 0; i < nf; i++) {
        const char *name = ns_st_get(f, i)->name;
        ns_named_tensor t;
        if (is_layer_tensor(name) && ns_model_find_tensor(m, name, &t) != NS_OK)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "model file: tensor '%s' does not belong to this model's "
                             "architecture",
                             name);
    }
    return NS_OK;
}

/* "[1, 28, 28]" -> ndim/shape */
static ns_status parse_shape(ns_ctx *ctx, const char *path, const char *text, ns_build_opts *bo)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err);
    size_t n = a && json_is_array(a) ? json_array_size(a) : 0;
    bool ok = n >= 1 && n <= NS_MAX_DIMS - 1;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *v = json_array_get(a, i);
        ok = json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < INT32_MAX;
        if (ok)
            bo->input_shape[i] = (int)json_integer_value(v);
    }
    bo->input_ndim = (int)n;
    json_decref(a);
    if (!ok)
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "%s: __metadata__." META_INPUT " must be a list of 1 to %d positive "
                         "integers, got '%s'",
                         path, NS_MAX_DIMS - 1, text);
    return NS_OK;
}

ns_status ns__model_from_file(ns_ctx *ctx, const ns_st_file *f, const char *path, int max_batch,
                              ns_model **out)
{
    ns_spec *spec = NULL;
    ns_model *m = NULL;
    ns_status st = NS_OK;
    *out = NULL;
    const char *spec_json = ns_st_meta_find(f, META_SPEC);
    const char *input = ns_st_meta_find(f, META_INPUT);
    const char *output = ns_st_meta_find(f, META_OUTPUT);
    if (spec_json == NULL || input == NULL || output == NULL) {
        st = ns_errorf(ctx, NS_ERR_FORMAT,
                       "%s: not a netsmith model file: __metadata__ lacks '%s' (a plain "
                       "safetensors file has weights but no blueprint; load it into a model "
                       "built from its spec instead)",
                       path, spec_json == NULL ? META_SPEC : input == NULL ? META_INPUT : META_OUTPUT);
        goto done;
    }
    char source[512];
    snprintf(source, sizeof source, "%s: __metadata__." META_SPEC, path);
    st = ns_spec_parse(ctx, spec_json, strlen(spec_json), source, &spec);
    if (st != NS_OK)
        goto done;
    ns_build_opts bo;
    ns_build_opts_default(&bo, 1);
    st = parse_shape(ctx, path, input, &bo);
    if (st != NS_OK)
        goto done;
    char *end = NULL;
    long outsz = strtol(output, &end, 10);
    if (end == output || *end != '\0' || outsz <= 0 || outsz > INT32_MAX) {
        st = ns_errorf(ctx, NS_ERR_FORMAT,
                       "%s: __metadata__." META_OUTPUT " must be a positive integer, got '%s'",
                       path, output);
        goto done;
    }
    /* The short form needs the output size; the layer form carries it in its last linear. */
    bo.output_size = ns_spec_get_form(spec) == NS_SPEC_SHORT ? (int)outsz : 0;
    const char *seed = ns_st_meta_find(f, META_SEED);
    if (seed != NULL) {
        char *send = NULL;
        errno = 0;
        unsigned long long sv = strtoull(seed, &send, 10);
        if (send == seed || *send != '\0' || errno != 0) {
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: __metadata__." META_SEED " must be a non-negative integer, got "
                           "'%s'",
                           path, seed);
            goto done;
        }
        bo.seed = sv;
    }
    if (max_batch > 0)
        bo.max_batch = max_batch;
    st = ns_model_build(ctx, spec, &bo, &m);
    if (st != NS_OK)
        goto done;
    if (ns_model_output_size(m) != (int)outsz) {
        st = ns_errorf(ctx, NS_ERR_FORMAT,
                       "%s: __metadata__." META_OUTPUT " says %ld outputs but the spec builds %d",
                       path, outsz, ns_model_output_size(m));
        ns_model_free(m);
        m = NULL;
        goto done;
    }
    st = ns_model_load_weights(m, f);
    if (st != NS_OK) {
        ns_errorf(ctx, st, "%s: %s", path, ns_errmsg(ctx));
        ns_model_free(m);
        m = NULL;
    }
done:
    ns_spec_free(spec);
    *out = m;
    return st;
}

ns_status ns_model_load(ns_ctx *ctx, const char *path, int max_batch, ns_model **out)
{
    NS_ASSERT(ctx && path && out);
    *out = NULL;
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st == NS_OK)
        st = ns__model_from_file(ctx, f, path, max_batch, out);
    ns_st_close(f);
    return st;
}
