/* Datasets: reference-counted storage, views (splits, normalised copies), accessors, row
 * gathering and hashing, and the row shuffle splits and batches share. */
#include <stdio.h>
#include <string.h>

#include "data/dataset_private.h"

ns_status ns__store_new(ns_ctx *ctx, const char *name, int64_t rows, int x_ndim,
                        const int *x_shape, bool bytes, ns_task task, int targets,
                        ns__data_store **out)
{
    NS_ASSERT(rows >= 0 && x_ndim >= 1 && x_ndim <= NS_MAX_DIMS - 1 && targets >= 1);
    *out = NULL;
    ns__data_store *s = ns_calloc(ctx, 1, sizeof *s);
    if (s == NULL)
        return NS_ERR_NOMEM;
    atomic_init(&s->refs, 1);
    s->ctx = ctx;
    s->rows = rows;
    s->x_ndim = x_ndim;
    s->features = 1;
    for (int i = 0; i < x_ndim; i++) {
        s->x_shape[i] = x_shape[i];
        s->features *= x_shape[i];
    }
    s->task = task;
    s->targets = task == NS_TASK_CLASSIFICATION ? 1 : targets;
    s->u8_scale = 1.0f / 255.0f;
    size_t cells = (size_t)rows * (size_t)s->features;
    s->name = ns_strdup(ctx, name ? name : "");
    bool ok = s->name != NULL;
    if (ok && cells > 0) {
        if (bytes)
            ok = (s->xu = ns_calloc(ctx, cells, 1)) != NULL;
        else
            ok = (s->xf = ns_calloc(ctx, cells, sizeof(float))) != NULL;
    }
    if (ok && rows > 0) {
        if (task == NS_TASK_CLASSIFICATION)
            ok = (s->labels = ns_calloc(ctx, (size_t)rows, sizeof(int32_t))) != NULL;
        else
            ok = (s->y = ns_calloc(ctx, (size_t)rows * (size_t)s->targets, sizeof(float))) != NULL;
    }
    if (ok && !bytes)
        ok = (s->feature_names = ns_calloc(ctx, (size_t)s->features, sizeof(char *))) != NULL;
    if (ok)
        ok = (s->target_names = ns_calloc(ctx, (size_t)s->targets, sizeof(char *))) != NULL;
    if (!ok) {
        ns__store_release(s);
        return NS_ERR_NOMEM;
    }
    *out = s;
    return NS_OK;
}

ns_status ns__store_set_classes(ns__data_store *s, int count, const char *const *names)
{
    char **copy = ns_calloc(s->ctx, (size_t)(count > 0 ? count : 1), sizeof(char *));
    if (copy == NULL)
        return NS_ERR_NOMEM;
    for (int i = 0; i < count; i++) {
        copy[i] = ns_strdup(s->ctx, names[i] ? names[i] : "");
        if (copy[i] == NULL) {
            ns__free_strings(s->ctx, copy, count);
            return NS_ERR_NOMEM;
        }
    }
    ns__free_strings(s->ctx, s->class_names, s->classes);
    s->class_names = copy;
    s->classes = count;
    return NS_OK;
}

void ns__store_release(ns__data_store *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    ns_ctx *ctx = s->ctx;
    ns__free_strings(ctx, s->class_names, s->classes);
    ns__free_strings(ctx, s->feature_names, s->xf || s->feature_names ? s->features : 0);
    ns__free_strings(ctx, s->target_names, s->targets);
    ns__free_strings(ctx, s->one_hot_column, s->one_hot_count);
    ns_dealloc(ctx, s->one_hot_first);
    ns_dealloc(ctx, s->one_hot_width);
    ns_dealloc(ctx, s->xf);
    ns_dealloc(ctx, s->xu);
    ns_dealloc(ctx, s->y);
    ns_dealloc(ctx, s->labels);
    ns_dealloc(ctx, s->name);
    ns_dealloc(ctx, s);
}

ns_status ns__dataset_from_store(ns__data_store *s, ns_dataset **out)
{
    ns_dataset *ds = ns_calloc(s->ctx, 1, sizeof *ds);
    *out = NULL;
    if (ds == NULL)
        return NS_ERR_NOMEM;
    atomic_fetch_add(&s->refs, 1);
    ds->ctx = s->ctx;
    ds->store = s;
    ds->rows = s->rows;
    *out = ds;
    return NS_OK;
}

void ns_dataset_free(ns_dataset *ds)
{
    if (ds == NULL)
        return;
    ns_ctx *ctx = ds->ctx;
    ns__store_release(ds->store);
    ns_dealloc(ctx, ds->index);
    ns_dealloc(ctx, ds->shift);
    ns_dealloc(ctx, ds->scale);
    ns_dealloc(ctx, ds);
}

ns_status ns__dataset_view(const ns_dataset *parent, const int64_t *rows, int64_t n,
                           ns_dataset **out)
{
    ns_ctx *ctx = parent->ctx;
    *out = NULL;
    ns_dataset *ds = ns_calloc(ctx, 1, sizeof *ds);
    if (ds == NULL)
        return NS_ERR_NOMEM;
    ds->ctx = ctx;
    ds->store = parent->store;
    atomic_fetch_add(&ds->store->refs, 1);
    ds->rows = n;
    int f = parent->store->features;
    bool ok = true;
    if (n > 0) {
        ds->index = ns_alloc(ctx, (size_t)n * sizeof *ds->index);
        ok = ds->index != NULL;
        for (int64_t i = 0; ok && i < n; i++) {
            NS_ASSERT(rows[i] >= 0 && rows[i] < parent->rows);
            ds->index[i] = ns__ds_store_row(parent, rows[i]);
        }
    }
    if (ok && parent->has_norm) {
        ds->shift = ns_alloc(ctx, (size_t)f * sizeof(float));
        ds->scale = ns_alloc(ctx, (size_t)f * sizeof(float));
        ok = ds->shift && ds->scale;
        if (ok) {
            memcpy(ds->shift, parent->shift, (size_t)f * sizeof(float));
            memcpy(ds->scale, parent->scale, (size_t)f * sizeof(float));
            ds->has_norm = true;
            ds->norm_kind = parent->norm_kind;
        }
    }
    if (!ok) {
        ns_dataset_free(ds);
        return NS_ERR_NOMEM;
    }
    *out = ds;
    return NS_OK;
}

/* ---- accessors -------------------------------------------------------------------------------- */

const char *ns_dataset_name(const ns_dataset *ds) { return ds->store->name; }
int64_t ns_dataset_rows(const ns_dataset *ds) { return ds->rows; }
int ns_dataset_feature_count(const ns_dataset *ds) { return ds->store->features; }
ns_task ns_dataset_task(const ns_dataset *ds) { return ds->store->task; }
int ns_dataset_target_count(const ns_dataset *ds) { return ds->store->targets; }
int ns_dataset_class_count(const ns_dataset *ds) { return ds->store->classes; }

int ns_dataset_input_shape(const ns_dataset *ds, int shape[NS_MAX_DIMS - 1])
{
    for (int i = 0; i < NS_MAX_DIMS - 1; i++)
        shape[i] = i < ds->store->x_ndim ? ds->store->x_shape[i] : 0;
    return ds->store->x_ndim;
}

static const char *name_at(char **names, int n, int i)
{
    if (i < 0 || i >= n)
        return NULL;
    return names && names[i] ? names[i] : "";
}

const char *ns_dataset_class_name(const ns_dataset *ds, int i)
{
    return name_at(ds->store->class_names, ds->store->classes, i);
}
const char *ns_dataset_feature_name(const ns_dataset *ds, int i)
{
    return name_at(ds->store->feature_names, ds->store->features, i);
}
const char *ns_dataset_target_name(const ns_dataset *ds, int i)
{
    return name_at(ds->store->target_names, ds->store->targets, i);
}

float ns_dataset_byte_scale(const ns_dataset *ds)
{
    return ds->store->xu != NULL ? ds->store->u8_scale : 0.0f;
}

int ns_dataset_one_hot_count(const ns_dataset *ds) { return ds->store->one_hot_count; }

const char *ns_dataset_one_hot(const ns_dataset *ds, int g, int *first, int *width)
{
    const ns__data_store *s = ds->store;
    if (g < 0 || g >= s->one_hot_count)
        return NULL;
    if (first != NULL)
        *first = s->one_hot_first[g];
    if (width != NULL)
        *width = s->one_hot_width[g];
    return s->one_hot_column[g];
}

ns_status ns__store_add_one_hot(ns__data_store *s, const char *column, int first, int width)
{
    ns_ctx *ctx = s->ctx;
    size_t n = (size_t)s->one_hot_count + 1;
    char **names = ns_realloc(ctx, s->one_hot_column, n * sizeof *names);
    if (names == NULL)
        return NS_ERR_NOMEM;
    s->one_hot_column = names;
    int *f = ns_realloc(ctx, s->one_hot_first, n * sizeof *f);
    if (f == NULL)
        return NS_ERR_NOMEM;
    s->one_hot_first = f;
    int *w = ns_realloc(ctx, s->one_hot_width, n * sizeof *w);
    if (w == NULL)
        return NS_ERR_NOMEM;
    s->one_hot_width = w;
    if ((names[n - 1] = ns_strdup(ctx, column)) == NULL)
        return NS_ERR_NOMEM;
    f[n - 1] = first;
    w[n - 1] = width;
    s->one_hot_count = (int)n;
    return NS_OK;
}

/* ---- rows ---------------------------------------------------------------------------------------- */

void ns__dataset_prefetch(const ns_dataset *ds, const int64_t *rows, int n)
{
    const ns__data_store *s = ds->store;
    size_t bytes = (size_t)s->features * (s->xf != NULL ? sizeof(float) : 1);
    const char *base = s->xf != NULL ? (const char *)s->xf : (const char *)s->xu;
    for (int i = 0; i < n && base != NULL; i++) {
        const char *row = base + (size_t)ns__ds_store_row(ds, rows[i]) * bytes;
        for (size_t k = 0; k < bytes; k += 64)
            __builtin_prefetch(row + k, 0, 1);
    }
}

/* The CPU-cloned loop is file-local: a global target_clones function's resolver would be
 * exported from the shared library whatever -fvisibility says. */
static NS__CPU_CLONES void gather(const ns_dataset *ds, const int64_t *rows, int64_t first, int n,
                                  float *x, float *y, int32_t *labels);

void ns__dataset_gather(const ns_dataset *ds, const int64_t *rows, int64_t first, int n, float *x,
                        float *y, int32_t *labels)
{
    gather(ds, rows, first, n, x, y, labels);
}

static NS__CPU_CLONES void gather(const ns_dataset *ds, const int64_t *rows, int64_t first, int n,
                                  float *x, float *y, int32_t *labels)
{
    const ns__data_store *s = ds->store;
    size_t f = (size_t)s->features, t = (size_t)s->targets;
    for (int i = 0; i < n; i++) {
        int64_t vr = rows ? rows[i] : first + i;
        NS_ASSERT(vr >= 0 && vr < ds->rows);
        size_t r = (size_t)ns__ds_store_row(ds, vr);
        if (x != NULL) {
            /* Locals with restrict: the stores to dst could otherwise alias the scale, shift
             * and factor the loops read, which keeps them from being vectorised. */
            float *restrict dst = x + (size_t)i * f;
            if (s->xf != NULL) {
                memcpy(dst, s->xf + r * f, f * sizeof(float));
            } else {
                const uint8_t *restrict src = s->xu + r * f;
                const float u8_scale = s->u8_scale;
                for (size_t j = 0; j < f; j++)
                    dst[j] = (float)src[j] * u8_scale;
            }
            if (ds->has_norm) {
                const float *restrict shift = ds->shift, *restrict scale = ds->scale;
                for (size_t j = 0; j < f; j++)
                    dst[j] = (dst[j] - shift[j]) * scale[j];
            }
        }
        if (y != NULL && s->y != NULL)
            memcpy(y + (size_t)i * t, s->y + r * t, t * sizeof(float));
        if (labels != NULL && s->labels != NULL)
            labels[i] = s->labels[r];
    }
}

void ns_dataset_row(const ns_dataset *ds, int64_t row, float *x, float *y, int32_t *label)
{
    ns__dataset_gather(ds, NULL, row, 1, x, y, label);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t ns_dataset_hash(const ns_dataset *ds)
{
    const ns__data_store *s = ds->store;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t f = (size_t)s->features, t = (size_t)s->targets;
    h = fnv(h, &ds->rows, sizeof ds->rows);
    h = fnv(h, &s->features, sizeof s->features);
    for (int64_t i = 0; i < ds->rows; i++) {
        size_t r = (size_t)ns__ds_store_row(ds, i);
        if (s->xf)
            h = fnv(h, s->xf + r * f, f * sizeof(float));
        else
            h = fnv(h, s->xu + r * f, f);
        if (s->y)
            h = fnv(h, s->y + r * t, t * sizeof(float));
        if (s->labels)
            h = fnv(h, s->labels + r, sizeof(int32_t));
    }
    if (ds->has_norm) {
        h = fnv(h, ds->shift, f * sizeof(float));
        h = fnv(h, ds->scale, f * sizeof(float));
    }
    return h;
}


void ns__shuffle_rows(int64_t *a, int64_t n, ns_rng *rng)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ns_rng_below(rng, (uint32_t)(i + 1));
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

bool ns_dataset_normalization(const ns_dataset *ds, ns_norm *out)
{
    if (!ds->has_norm) {
        *out = (ns_norm){NS_NORM_NONE, 0, NULL, NULL};
        return false;
    }
    *out = (ns_norm){ds->norm_kind, ns_dataset_feature_count(ds), ds->shift, ds->scale};
    return true;
}
