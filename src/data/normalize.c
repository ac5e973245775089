/* Normalize: fitting standard or min-max statistics on a training view, normalised views of
 * other datasets, and the fit as JSON for model metadata. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/dataset_private.h"

/* Room for one float as ns_norm_to_json prints it ("-1.17549435e-38" and a ".0" at most). */
#define FLOAT_TEXT 32

static const char *const kind_names[] = {
    [NS_NORM_NONE] = "none",
    [NS_NORM_STANDARD] = "standard",
    [NS_NORM_MINMAX] = "minmax",
};
#define KIND_COUNT ((int)(sizeof kind_names / sizeof kind_names[0]))

const char *ns_norm_kind_name(ns_norm_kind kind)
{
    return ((int)kind >= 0 && (int)kind < KIND_COUNT) ? kind_names[kind] : NULL;
}

ns_status ns_norm_kind_parse(const char *name, ns_norm_kind *out)
{
    static const struct {
        const char *name;
        ns_norm_kind kind;
    } names[] = {
        {"none", NS_NORM_NONE},     {"standard", NS_NORM_STANDARD}, {"zscore", NS_NORM_STANDARD},
        {"minmax", NS_NORM_MINMAX}, {"min-max", NS_NORM_MINMAX},    {"min_max", NS_NORM_MINMAX},
    };
    NS_ASSERT(out != NULL);
    for (size_t i = 0; name != NULL && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(names[i].name, name) == 0) {
            *out = names[i].kind;
            return NS_OK;
        }
    }
    return NS_ERR_NOTFOUND;
}

static bool kind_valid(ns_norm_kind kind)
{
    return ns_norm_kind_name(kind) != NULL;
}

/* ---- fitting --------------------------------------------------------------------------------- */

/* ' ("NAME")' for feature j when the dataset names it, else "". */
static void feature_label(char *buf, size_t cap, const ns__data_store *s, int j)
{
    const char *name = s->feature_names ? s->feature_names[j] : NULL;
    if (name != NULL && name[0] != '\0')
        snprintf(buf, cap, " (\"%.64s\")", name);
    else
        buf[0] = '\0';
}

/* Row r's stored features as double, as ns__dataset_gather yields them before normalising
 * (bytes are scaled in float first, so the fit sees exactly the values it will be applied to). */
static void raw_row(const ns__data_store *s, int64_t r, double *v)
{
    size_t f = (size_t)s->features;
    if (s->xf != NULL) {
        const float *src = s->xf + (size_t)r * f;
        for (size_t j = 0; j < f; j++)
            v[j] = (double)src[j];
    } else {
        const uint8_t *src = s->xu + (size_t)r * f;
        for (size_t j = 0; j < f; j++)
            v[j] = (double)((float)src[j] * s->u8_scale);
    }
}

/* 1/d as a float scale, or 1 where the feature does not vary (d == 0) or varies so little
 * that 1/d overflows a float. */
static float inverse_scale(double d)
{
    if (!(d > 0.0))
        return 1.0f;
    float s = (float)(1.0 / d);
    return isfinite(s) ? s : 1.0f;
}

ns_status ns_norm_fit(ns_ctx *ctx, const ns_dataset *train, ns_norm_kind kind, ns_norm *out)
{
    NS_ASSERT(ctx != NULL && train != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    const ns__data_store *s = train->store;
    if (!kind_valid(kind))
        return ns_errorf(ctx, NS_ERR_INVALID, "normalize: unknown kind %d", (int)kind);
    if (train->rows == 0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "normalize: cannot fit on '%s': the dataset has no rows", s->name);
    size_t f = (size_t)s->features;
    float *shift = ns_alloc(ctx, f * sizeof *shift);
    float *scale = ns_alloc(ctx, f * sizeof *scale);
    /* mean (sum first), lo, hi, sum of squared deviations, one row */
    double *acc = ns_calloc(ctx, 5 * f, sizeof *acc);
    ns_status st = NS_ERR_NOMEM;
    if (shift == NULL || scale == NULL || acc == NULL)
        goto fail;
    double *mean = acc, *lo = acc + f, *hi = acc + 2 * f, *ss = acc + 3 * f, *v = acc + 4 * f;
    int64_t n = train->rows;

    /* Pass 1: sums and ranges over the raw stored features of the view's rows (any
     * normalisation the view already has is ignored). */
    for (int64_t i = 0; i < n; i++) {
        raw_row(s, ns__ds_store_row(train, i), v);
        for (size_t j = 0; j < f; j++) {
            mean[j] += v[j];
            if (i == 0 || v[j] < lo[j])
                lo[j] = v[j];
            if (i == 0 || v[j] > hi[j])
                hi[j] = v[j];
        }
    }
    for (size_t j = 0; j < f; j++) {
        if (!isfinite(mean[j]) || !isfinite(lo[j]) || !isfinite(hi[j])) {
            char label[96];
            feature_label(label, sizeof label, s, (int)j);
            st = ns_errorf(ctx, NS_ERR_NONFINITE,
                           "normalize: feature %zu%s of '%s' has a non-finite value (or its sum "
                           "overflows); clean the data first",
                           j, label, s->name);
            goto fail;
        }
        mean[j] /= (double)n;
    }
    /* Pass 2 (standard): squared deviations from the mean, so the variance is accurate. */
    if (kind == NS_NORM_STANDARD) {
        for (int64_t i = 0; i < n; i++) {
            raw_row(s, ns__ds_store_row(train, i), v);
            for (size_t j = 0; j < f; j++)
                ss[j] += (v[j] - mean[j]) * (v[j] - mean[j]);
        }
    }
    for (size_t j = 0; j < f; j++) {
        /* A constant feature is detected by its range, not its variance, which rounding in
         * the mean can make tiny but non-zero; it is shifted to 0 and keeps scale 1. */
        bool constant = lo[j] == hi[j];
        switch (kind) {
        case NS_NORM_STANDARD:
            shift[j] = constant ? (float)lo[j] : (float)mean[j];
            scale[j] = constant ? 1.0f : inverse_scale(sqrt(ss[j] / (double)n));
            break;
        case NS_NORM_MINMAX:
            shift[j] = (float)lo[j];
            scale[j] = constant ? 1.0f : inverse_scale(hi[j] - lo[j]);
            break;
        case NS_NORM_NONE:
            shift[j] = 0.0f;
            scale[j] = 1.0f;
            break;
        }
    }
    ns_dealloc(ctx, acc);
    out->kind = kind;
    out->features = (int)f;
    out->shift = shift;
    out->scale = scale;
    return NS_OK;
fail:
    ns_dealloc(ctx, shift);
    ns_dealloc(ctx, scale);
    ns_dealloc(ctx, acc);
    return st;
}

void ns_norm_deinit(ns_ctx *ctx, ns_norm *norm)
{
    if (norm == NULL)
        return;
    ns_dealloc(ctx, norm->shift);
    ns_dealloc(ctx, norm->scale);
    memset(norm, 0, sizeof *norm);
}

/* Checks a caller's fit: known kind, arrays present, values finite, scales non-zero. */
static ns_status check_norm(ns_ctx *ctx, const char *what, const ns_norm *norm)
{
    if (!kind_valid(norm->kind))
        return ns_errorf(ctx, NS_ERR_INVALID, "%s: unknown normalisation kind %d", what,
                         (int)norm->kind);
    if (norm->features < 0 || (norm->features > 0 && (!norm->shift || !norm->scale)))
        return ns_errorf(ctx, NS_ERR_INVALID, "%s: the fit has no shift/scale arrays", what);
    for (int j = 0; j < norm->features; j++) {
        if (!isfinite(norm->shift[j]) || !isfinite(norm->scale[j]) || norm->scale[j] == 0.0f)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "%s: feature %d has shift %g and scale %g; both must be finite "
                             "and the scale non-zero",
                             what, j, (double)norm->shift[j], (double)norm->scale[j]);
    }
    return NS_OK;
}

ns_status ns_data_normalize(const ns_dataset *ds, const ns_norm *norm, ns_dataset **out)
{
    NS_ASSERT(ds != NULL && norm != NULL && out != NULL);
    *out = NULL;
    ns_ctx *ctx = ds->ctx;
    int f = ds->store->features;
    if (norm->features != f)
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "normalize: the fit has %d features but '%s' has %d; fit on data "
                         "with the same columns",
                         norm->features, ds->store->name, f);
    ns_status st = check_norm(ctx, "normalize", norm);
    if (st != NS_OK)
        return st;

    /* The same rows as ds; the normalisation replaces ds's (none for NS_NORM_NONE). */
    ns_dataset *v = ns_calloc(ctx, 1, sizeof *v);
    if (v == NULL)
        return NS_ERR_NOMEM;
    v->ctx = ctx;
    v->store = ds->store;
    atomic_fetch_add(&v->store->refs, 1);
    v->rows = ds->rows;
    bool ok = true;
    if (ds->index != NULL && ds->rows > 0) {
        v->index = ns_alloc(ctx, (size_t)ds->rows * sizeof *v->index);
        ok = v->index != NULL;
        if (ok)
            memcpy(v->index, ds->index, (size_t)ds->rows * sizeof *v->index);
    }
    if (ok && norm->kind != NS_NORM_NONE && f > 0) {
        v->shift = ns_alloc(ctx, (size_t)f * sizeof(float));
        v->scale = ns_alloc(ctx, (size_t)f * sizeof(float));
        ok = v->shift != NULL && v->scale != NULL;
        if (ok) {
            memcpy(v->shift, norm->shift, (size_t)f * sizeof(float));
            memcpy(v->scale, norm->scale, (size_t)f * sizeof(float));
            v->has_norm = true;
            v->norm_kind = norm->kind;
        }
    }
    if (!ok) {
        ns_dataset_free(v);
        return NS_ERR_NOMEM;
    }
    *out = v;
    return NS_OK;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* The shortest "%.Ng" text that reads back as v through strtod and a cast to float (the path
 * a JSON reader takes), with ".0" added to integral values so they read as reals (and -0
 * keeps its sign). v is finite. */
static void format_float(char buf[FLOAT_TEXT], float v)
{
    bool found = false;
    for (int prec = 1; prec <= 9 && !found; prec++) {
        ns__snprintf_c(buf, FLOAT_TEXT, "%.*g", prec, (double)v);
        found = (float)ns__strtod(buf, NULL) == v;
    }
    if (!found) /* the double itself is exact */
        ns__snprintf_c(buf, FLOAT_TEXT, "%.17g", (double)v);
    if (strpbrk(buf, ".e") == NULL)
        strcat(buf, ".0");
}

static size_t append_array(char *p, const float *a, int n)
{
    char *start = p;
    *p++ = '[';
    for (int j = 0; j < n; j++) {
        char num[FLOAT_TEXT];
        format_float(num, a[j]);
        p += sprintf(p, "%s%s", j > 0 ? ", " : "", num);
    }
    *p++ = ']';
    *p = '\0';
    return (size_t)(p - start);
}

ns_status ns_norm_to_json(ns_ctx *ctx, const ns_norm *norm, char **json)
{
    NS_ASSERT(ctx != NULL && norm != NULL && json != NULL);
    *json = NULL;
    ns_status st = check_norm(ctx, "normalisation to JSON", norm);
    if (st != NS_OK)
        return st;
    /* Each number takes at most FLOAT_TEXT - 1 characters plus ", ". */
    size_t cap = 96 + 2 * (size_t)norm->features * (FLOAT_TEXT + 2);
    char *text = ns_alloc(ctx, cap);
    if (text == NULL)
        return NS_ERR_NOMEM;
    char *p = text;
    p += sprintf(p, "{\"kind\": \"%s\", \"shift\": ", ns_norm_kind_name(norm->kind));
    p += append_array(p, norm->shift, norm->features);
    p += sprintf(p, ", \"scale\": ");
    p += append_array(p, norm->scale, norm->features);
    p += sprintf(p, "}");
    NS_ASSERT((size_t)(p - text) < cap);
    *json = text;
    return NS_OK;
}

/* Reads one of the arrays into a new float array of *n values (*n < 0: not yet known; else the
 * length it must have). */
static ns_status read_array(ns_ctx *ctx, const char *src, json_t *root, const char *key, int *n,
                            float **out)
{
    *out = NULL;
    json_t *a = json_object_get(root, key);
    if (a == NULL)
        return ns_errorf(ctx, NS_ERR_PARSE, "%s: missing key \"%s\"", src, key);
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > INT_MAX)
        return ns_errorf(ctx, NS_ERR_PARSE,
                         "%s: \"%s\" must be a non-empty array of numbers (one per feature)", src,
                         key);
    int len = (int)json_array_size(a);
    if (*n >= 0 && len != *n)
        return ns_errorf(ctx, NS_ERR_PARSE,
                         "%s: \"%s\" has %d values but \"shift\" has %d; they must match", src, key,
                         len, *n);
    float *v = ns_alloc(ctx, (size_t)len * sizeof *v);
    if (v == NULL)
        return NS_ERR_NOMEM;
    for (int j = 0; j < len; j++) {
        json_t *e = json_array_get(a, (size_t)j);
        if (!json_is_number(e)) {
            ns_dealloc(ctx, v);
            return ns_errorf(ctx, NS_ERR_PARSE, "%s: \"%s\"[%d] is not a number", src, key, j);
        }
        double d = json_number_value(e);
        v[j] = (float)d;
        if (!isfinite(v[j])) {
            ns_dealloc(ctx, v);
            return ns_errorf(ctx, NS_ERR_PARSE, "%s: \"%s\"[%d] = %g is not a finite float", src,
                             key, j, d);
        }
    }
    *n = len;
    *out = v;
    return NS_OK;
}

ns_status ns_norm_from_json(ns_ctx *ctx, const char *json, const char *source, ns_norm *out)
{
    NS_ASSERT(ctx != NULL && json != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    const char *src = source != NULL ? source : "normalisation";
    json_error_t err;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return ns_errorf(ctx, NS_ERR_PARSE, "%s:%d:%d: %s", src, err.line > 0 ? err.line : 1,
                         err.column > 0 ? err.column : 1, err.text);
    ns_status st = NS_OK;
    float *shift = NULL, *scale = NULL;
    int n = -1;
    ns_norm_kind kind = NS_NORM_NONE;
    if (!json_is_object(root)) {
        st = ns_errorf(ctx, NS_ERR_PARSE,
                       "%s: expected an object {\"kind\": ..., \"shift\": [...], \"scale\": "
                       "[...]}",
                       src);
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, "kind") != 0 && strcmp(key, "shift") != 0 && strcmp(key, "scale") != 0) {
            st = ns_errorf(ctx, NS_ERR_PARSE,
                           "%s: unknown key \"%.64s\"; expected kind, shift and scale", src, key);
            goto done;
        }
    }
    json_t *k = json_object_get(root, "kind");
    if (k == NULL) {
        st = ns_errorf(ctx, NS_ERR_PARSE, "%s: missing key \"kind\"", src);
        goto done;
    }
    if (!json_is_string(k) || ns_norm_kind_parse(json_string_value(k), &kind) != NS_OK) {
        st = ns_errorf(ctx, NS_ERR_PARSE,
                       "%s: \"kind\" must be \"none\", \"standard\" or \"minmax\", got %s%.64s%s",
                       src, json_is_string(k) ? "\"" : "",
                       json_is_string(k) ? json_string_value(k) : "a non-string",
                       json_is_string(k) ? "\"" : "");
        goto done;
    }
    st = read_array(ctx, src, root, "shift", &n, &shift);
    if (st == NS_OK)
        st = read_array(ctx, src, root, "scale", &n, &scale);
    for (int j = 0; st == NS_OK && j < n; j++) {
        if (scale[j] == 0.0f)
            st = ns_errorf(ctx, NS_ERR_PARSE, "%s: \"scale\"[%d] is 0; a scale must be non-zero",
                           src, j);
    }
done:
    json_decref(root);
    if (st != NS_OK) {
        ns_dealloc(ctx, shift);
        ns_dealloc(ctx, scale);
        return st;
    }
    out->kind = kind;
    out->features = n;
    out->shift = shift;
    out->scale = scale;
    return NS_OK;
}
