/* Dataset files: a dataset view saved as a safetensors file (its raw rows in its order, the
 * targets, the normalisation, and names in a JSON metadata entry) and read back exactly, so
 * a card in another process sees the same rows, hash and batches.
 *
 * This file reads and writes safetensors through the io module (a layer above data in
 * DESIGN.md's list): the dataset's storage is private to the data module, so the file format
 * lives beside it. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_private.h"
#include "format/json_read.h"

#define META_DATASET "netsmith.dataset"
#define META_VERSION "netsmith.version"
#define FORMAT_VERSION 1

#define T_X "x"
#define T_Y "y"
#define T_LABELS "labels"
#define T_SHIFT "norm.shift"
#define T_SCALE "norm.scale"

/* ---- save ------------------------------------------------------------------------------------ */

/* A JSON array of n names ("" for a missing one); NULL with *bad = the index of a name that is
 * not valid UTF-8 (jansson refuses those), or *bad = -1 when out of memory. */
static json_t *names_json(char **names, int n, int *bad)
{
    json_t *a = json_array();
    *bad = -1;
    for (int i = 0; a != NULL && i < n; i++) {
        json_t *v = json_string(names != NULL && names[i] != NULL ? names[i] : "");
        if (v == NULL) {
            *bad = i;
            json_decref(a);
            return NULL;
        }
        if (json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The "netsmith.dataset" entry as compact JSON text on the dataset's context. */
static ns_status meta_json(const ns_dataset *ds, const char *path, char **out)
{
    const ns__data_store *s = ds->store;
    ns_ctx *ctx = ds->ctx;
    *out = NULL;
    json_t *o = json_object(), *shape = json_array();
    bool ok = o != NULL && shape != NULL;
    for (int d = 0; ok && d < s->x_ndim; d++)
        ok = json_array_append_new(shape, json_integer(s->x_shape[d])) == 0;
    if (!ok) {
        json_decref(o);
        json_decref(shape);
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory saving the dataset", path);
    }
    json_t *name = json_string(s->name);
    if (name == NULL) {
        json_decref(o);
        json_decref(shape);
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "%s: cannot save the dataset: its name is not valid UTF-8", path);
    }
    static const char *const what[3] = {"class", "feature", "target"};
    json_t *lists[3] = {NULL, NULL, NULL};
    int counts[3] = {s->classes, s->features, s->targets};
    char **arrays[3] = {s->class_names, s->feature_names, s->target_names};
    ns_status st = NS_OK;
    for (int k = 0; k < 3 && st == NS_OK; k++) {
        if (k == 1 && s->xu != NULL) { /* byte images have no feature names */
            lists[k] = json_null();
            continue;
        }
        int bad;
        lists[k] = names_json(arrays[k], counts[k], &bad);
        if (lists[k] == NULL)
            st = bad >= 0
                     ? ns_errorf(ctx, NS_ERR_INVALID,
                                 "%s: cannot save the dataset: %s name %d is not valid "
                                 "UTF-8; rename it",
                                 path, what[k], bad)
                     : ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory saving the dataset", path);
    }
    if (st == NS_OK) {
        json_object_set_new(o, "version", json_integer(FORMAT_VERSION));
        json_object_set_new(o, "name", name);
        json_object_set_new(o, "task", json_string(ns_task_name(s->task)));
        json_object_set_new(o, "rows", json_integer((json_int_t)ds->rows));
        json_object_set_new(o, "input_shape", shape);
        json_object_set_new(o, "targets", json_integer(s->targets));
        json_object_set_new(o, "classes", json_integer(s->classes));
        json_object_set_new(o, "class_names", lists[0]);
        json_object_set_new(o, "feature_names", lists[1]);
        json_object_set_new(o, "target_names", lists[2]);
        if (s->xu != NULL) /* a float prints with 17 digits, which read back to the same bits */
            json_object_set_new(o, "byte_scale", json_real((double)s->u8_scale));
        json_object_set_new(o, "normalized", json_boolean(ds->has_norm));
        if (ds->has_norm)
            json_object_set_new(o, "norm_kind", json_string(ns_norm_kind_name(ds->norm_kind)));
        name = shape = NULL;
        lists[0] = lists[1] = lists[2] = NULL;
        char *text = json_dumps(o, JSON_COMPACT);
        *out = text != NULL ? ns_strdup(ctx, text) : NULL;
        free(text);
        if (*out == NULL)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory saving the dataset", path);
    }
    for (int k = 0; k < 3; k++)
        json_decref(lists[k]);
    json_decref(name);
    json_decref(shape);
    json_decref(o);
    return st;
}

/* The view's rows of a store array of `width` elements of `size` bytes per row: the store's
 * own array when the view is every row in order, else a gathered copy (*copy, to free). */
static const void *view_rows(const ns_dataset *ds, const void *base, size_t width, size_t size,
                             void **copy)
{
    *copy = NULL;
    size_t row = width * size;
    if (ds->index == NULL || ds->rows == 0 || row == 0)
        return base;
    unsigned char *buf = ns_alloc(ds->ctx, (size_t)ds->rows * row);
    if (buf == NULL)
        return NULL;
    for (int64_t i = 0; i < ds->rows; i++)
        memcpy(buf + (size_t)i * row, (const unsigned char *)base + (size_t)ds->index[i] * row,
               row);
    *copy = buf;
    return buf;
}

ns_status ns_dataset_save(const ns_dataset *ds, const char *path)
{
    NS_ASSERT(ds != NULL && path != NULL);
    const ns__data_store *s = ds->store;
    ns_ctx *ctx = ds->ctx;
    size_t rows = (size_t)ds->rows, f = (size_t)s->features, t = (size_t)s->targets;
    void *xcopy = NULL, *ycopy = NULL;
    char *meta_text = NULL;
    ns_status st = meta_json(ds, path, &meta_text);
    if (st != NS_OK)
        return st;

    ns_st_tensor ts[4];
    int n = 0;
    bool bytes = s->xu != NULL;
    size_t xsize = bytes ? 1 : sizeof(float);
    const void *x =
        view_rows(ds, bytes ? (const void *)s->xu : (const void *)s->xf, f, xsize, &xcopy);
    bool cls = s->task == NS_TASK_CLASSIFICATION;
    const void *y = cls ? view_rows(ds, s->labels, 1, sizeof(int32_t), &ycopy)
                        : view_rows(ds, s->y, t, sizeof(float), &ycopy);
    if (rows > 0 && ((f > 0 && x == NULL) || y == NULL)) {
        st = NS_ERR_NOMEM;
        goto done;
    }
    ns_st_tensor tx = {.name = T_X,
                       .dtype = bytes ? NS_DTYPE_U8 : NS_DTYPE_F32,
                       .ndim = 1 + s->x_ndim,
                       .data = x,
                       .nbytes = rows * f * xsize};
    tx.shape[0] = (int64_t)rows;
    for (int d = 0; d < s->x_ndim; d++)
        tx.shape[1 + d] = s->x_shape[d];
    ts[n++] = tx;
    if (cls)
        ts[n++] = (ns_st_tensor){.name = T_LABELS,
                                 .dtype = NS_DTYPE_I32,
                                 .ndim = 1,
                                 .shape = {(int64_t)rows},
                                 .data = y,
                                 .nbytes = rows * sizeof(int32_t)};
    else
        ts[n++] = (ns_st_tensor){.name = T_Y,
                                 .dtype = NS_DTYPE_F32,
                                 .ndim = 2,
                                 .shape = {(int64_t)rows, (int64_t)t},
                                 .data = y,
                                 .nbytes = rows * t * sizeof(float)};
    if (ds->has_norm) {
        ts[n++] = (ns_st_tensor){.name = T_SHIFT,
                                 .dtype = NS_DTYPE_F32,
                                 .ndim = 1,
                                 .shape = {(int64_t)f},
                                 .data = ds->shift,
                                 .nbytes = f * sizeof(float)};
        ts[n++] = (ns_st_tensor){.name = T_SCALE,
                                 .dtype = NS_DTYPE_F32,
                                 .ndim = 1,
                                 .shape = {(int64_t)f},
                                 .data = ds->scale,
                                 .nbytes = f * sizeof(float)};
    }
    ns_st_meta meta[2] = {{META_VERSION, NS_VERSION_STRING}, {META_DATASET, meta_text}};
    st = ns_st_write(ctx, path, ts, n, meta, 2);
done:
    ns_dealloc(ctx, xcopy);
    ns_dealloc(ctx, ycopy);
    ns_dealloc(ctx, meta_text);
    return st;
}

/* ---- load: the metadata ------------------------------------------------------------------------
 */

/* What "netsmith.dataset" says. Strings point into the JSON tree. */
typedef struct meta_info {
    const char *name;
    ns_task task;
    int64_t rows;
    int x_ndim;
    int x_shape[NS_MAX_DIMS - 1];
    int features;
    int targets, classes;
    json_t *class_names, *feature_names, *target_names;
    bool has_byte_scale;
    double byte_scale;
    bool normalized;
    ns_norm_kind norm_kind;
} meta_info;

#define RESAVE "save the dataset again with ns_dataset_save"
/* Where the metadata sits, for messages. */
#define META_PATH "__metadata__." META_DATASET

/* A member that must be an array of n strings. */
static ns_status get_names(const ns__json_reader *r, json_t *o, const char *key, int n,
                           json_t **out)
{
    json_t *a = json_object_get(o, key);
    bool ok = json_is_array(a) && json_array_size(a) == (size_t)n;
    for (int i = 0; ok && i < n; i++)
        ok = json_is_string(json_array_get(a, (size_t)i));
    if (!ok) {
        char want[48];
        snprintf(want, sizeof want, "a list of %d strings", n);
        if (json_is_array(a) && json_array_size(a) != (size_t)n)
            return ns__jr_fail(r, META_PATH, "%s must be %s, got a list of %zu; %s", key, want,
                               json_array_size(a), r->fix);
        return ns__jr_member_fail(r, META_PATH, key, a, want);
    }
    *out = a;
    return NS_OK;
}

static ns_status parse_meta(const ns__json_reader *r, json_t *o, bool bytes, meta_info *m)
{
    static const char *const keys[] = {"version",       "name",         "task",       "rows",
                                       "input_shape",   "targets",      "classes",    "class_names",
                                       "feature_names", "target_names", "byte_scale", "normalized",
                                       "norm_kind"};
    /* The version first: a newer file's keys are news, not damage. */
    int64_t iv = 0;
    ns_status st = ns__jr_member_int64(r, META_PATH, o, "version", 0, INT_MAX, &iv);
    if (st != NS_OK)
        return st;
    if (iv != FORMAT_VERSION)
        return ns__jr_fail(r, META_PATH,
                           "format version %lld is not known to netsmith %s (it reads version "
                           "%d); use a newer netsmith",
                           (long long)iv, NS_VERSION_STRING, FORMAT_VERSION);
    if ((st = ns__jr_keys(r, META_PATH, o, keys, (int)(sizeof keys / sizeof keys[0]))) != NS_OK)
        return st;
    if ((st = ns__jr_member_string(r, META_PATH, o, "name", "a string", &m->name)) != NS_OK)
        return st;
    static const char *const want_task = "\"regression\" or \"classification\"";
    const char *task = NULL;
    if ((st = ns__jr_member_string(r, META_PATH, o, "task", want_task, &task)) != NS_OK)
        return st;
    if (strcmp(task, "regression") == 0)
        m->task = NS_TASK_REGRESSION;
    else if (strcmp(task, "classification") == 0)
        m->task = NS_TASK_CLASSIFICATION;
    else
        return ns__jr_member_fail(r, META_PATH, "task", json_object_get(o, "task"), want_task);
    if ((st = ns__jr_member_int64(r, META_PATH, o, "rows", 0, INT64_MAX / 2, &m->rows)) != NS_OK)
        return st;
    json_t *shape = json_object_get(o, "input_shape");
    size_t nd = json_is_array(shape) ? json_array_size(shape) : 0;
    bool ok = nd >= 1 && nd <= NS_MAX_DIMS - 1;
    int64_t features = 1;
    for (size_t d = 0; ok && d < nd; d++) {
        json_t *e = json_array_get(shape, d);
        ok = json_is_integer(e) && json_integer_value(e) >= 1 && json_integer_value(e) <= INT_MAX;
        if (ok) {
            m->x_shape[d] = (int)json_integer_value(e);
            features *= m->x_shape[d];
            ok = features <= INT_MAX;
        }
    }
    if (!ok) {
        char want[96];
        snprintf(want, sizeof want, "a list of 1 to %d positive integers whose product fits an int",
                 NS_MAX_DIMS - 1);
        return ns__jr_member_fail(r, META_PATH, "input_shape", shape, want);
    }
    m->x_ndim = (int)nd;
    m->features = (int)features;
    bool cls = m->task == NS_TASK_CLASSIFICATION;
    if ((st = ns__jr_member_int64(r, META_PATH, o, "targets", 1, cls ? 1 : INT_MAX, &iv)) != NS_OK)
        return st;
    m->targets = (int)iv;
    if ((st = ns__jr_member_int64(r, META_PATH, o, "classes", 0, cls ? INT_MAX : 0, &iv)) != NS_OK)
        return st;
    m->classes = (int)iv;
    if ((st = get_names(r, o, "class_names", m->classes, &m->class_names)) != NS_OK ||
        (st = get_names(r, o, "target_names", m->targets, &m->target_names)) != NS_OK)
        return st;
    json_t *fn = json_object_get(o, "feature_names");
    if (bytes) {
        if (fn != NULL && !json_is_null(fn))
            return ns__jr_member_fail(r, META_PATH, "feature_names", fn,
                                      "null for byte images (x is U8)");
    } else if ((st = get_names(r, o, "feature_names", m->features, &m->feature_names)) != NS_OK) {
        return st;
    }
    json_t *bs = json_object_get(o, "byte_scale");
    if (bytes) {
        m->byte_scale = json_is_real(bs) ? json_real_value(bs) : 0.0;
        if (!(isfinite(m->byte_scale) && m->byte_scale > 0.0 &&
              (double)(float)m->byte_scale == m->byte_scale))
            return ns__jr_member_fail(r, META_PATH, "byte_scale", bs,
                                      "a positive real that is a float (1/255 as a float for "
                                      "images)");
        m->has_byte_scale = true;
    } else if (bs != NULL) {
        return ns__jr_fail(r, META_PATH,
                           "byte_scale is only for byte images, but x is F32; remove it");
    }
    if ((st = ns__jr_member_bool(r, META_PATH, o, "normalized", &m->normalized)) != NS_OK)
        return st;
    json_t *nk = json_object_get(o, "norm_kind");
    if (m->normalized) {
        static const char *const want_norm =
            "\"standard\", \"minmax\" or \"none\" when normalized is true";
        const char *kind = NULL;
        if ((st = ns__jr_member_string(r, META_PATH, o, "norm_kind", want_norm, &kind)) != NS_OK)
            return st;
        if (ns_norm_kind_parse(kind, &m->norm_kind) != NS_OK)
            return ns__jr_member_fail(r, META_PATH, "norm_kind", nk, want_norm);
    } else if (nk != NULL) {
        return ns__jr_fail(r, META_PATH,
                           "norm_kind is only for a normalised dataset (normalized is false); "
                           "remove it");
    }
    return NS_OK;
}

/* ---- load: the tensors
 * --------------------------------------------------------------------------- */

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    buf[0] = '\0';
    for (int d = 0; d < ndim; d++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", d ? ", " : "",
                 (long long)shape[d]);
}

/* Finds tensor `name` and checks it is dtype [shape]: a missing tensor, a different row count
 * (dimension 0) and any other mismatch each get their own message. */
static ns_status want(const ns__json_reader *r, const ns_st_file *f, const char *name,
                      ns_dtype dtype, int ndim, const int64_t *shape, const ns_st_tensor **out)
{
    const ns_st_tensor *t = ns_st_find(f, name);
    *out = t;
    char a[128], b[128];
    shape_text(b, sizeof b, ndim, shape);
    if (t == NULL)
        return ns__jr_fail(r, "", "tensor \"%s\" (%s [%s]) is missing; " RESAVE, name,
                           ns_dtype_name(dtype), b);
    bool same = t->dtype == dtype && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (same)
        return NS_OK;
    shape_text(a, sizeof a, t->ndim, t->shape);
    if (t->dtype == dtype && t->ndim == ndim && ndim >= 1 && t->shape[0] != shape[0] &&
        strcmp(name, T_SHIFT) != 0 && strcmp(name, T_SCALE) != 0)
        return ns__jr_fail(
            r, "", "tensor \"%s\" has %lld rows but " META_DATASET ".rows says %lld; " RESAVE, name,
            (long long)t->shape[0], (long long)shape[0]);
    return ns__jr_fail(r, "",
                       "tensor \"%s\" is %s [%s] but " META_DATASET " describes %s [%s]; " RESAVE,
                       name, ns_dtype_name(t->dtype), a, ns_dtype_name(dtype), b);
}

/* The first non-finite of v[n], or n. */
static size_t first_nonfinite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return n;
}

/* Copies the names of a JSON array into an owned-strings array of the store. */
static ns_status copy_names(ns_ctx *ctx, json_t *a, char **dst, int n)
{
    for (int i = 0; i < n; i++)
        if ((dst[i] = ns_strdup(ctx, json_string_value(json_array_get(a, (size_t)i)))) == NULL)
            return NS_ERR_NOMEM;
    return NS_OK;
}

/* Fills a new store from the checked tensors and metadata, and checks the values. */
static ns_status fill_store(ns_ctx *ctx, const char *path, const meta_info *m, bool bytes,
                            const ns_st_tensor *tx, const ns_st_tensor *ty, ns__data_store **out)
{
    ns__data_store *s = NULL;
    *out = NULL;
    ns_status st =
        ns__store_new(ctx, m->name, m->rows, m->x_ndim, m->x_shape, bytes, m->task, m->targets, &s);
    if (st != NS_OK)
        return st;
    size_t rows = (size_t)m->rows, f = (size_t)m->features, t = (size_t)m->targets;
    if (tx->nbytes > 0)
        memcpy(bytes ? (void *)s->xu : (void *)s->xf, tx->data, tx->nbytes);
    if (ty->nbytes > 0)
        memcpy(m->task == NS_TASK_CLASSIFICATION ? (void *)s->labels : (void *)s->y, ty->data,
               ty->nbytes);
    if (bytes)
        s->u8_scale = (float)m->byte_scale;
    if (s->xf != NULL) {
        size_t bad = first_nonfinite(s->xf, rows * f);
        if (bad < rows * f)
            st = ns_errorf(
                ctx, NS_ERR_INVALID,
                "%s: x[%zu][%zu] is not finite; a dataset holds finite features only (fix the "
                "source data and save it again)",
                path, bad / f, bad % f);
    }
    if (st == NS_OK && s->y != NULL) {
        size_t bad = first_nonfinite(s->y, rows * t);
        if (bad < rows * t)
            st = ns_errorf(
                ctx, NS_ERR_INVALID,
                "%s: y[%zu][%zu] is not finite; a dataset holds finite targets only (fix the "
                "source data and save it again)",
                path, bad / t, bad % t);
    }
    for (size_t r = 0; st == NS_OK && s->labels != NULL && r < rows; r++)
        if (s->labels[r] < 0 || s->labels[r] >= m->classes)
            st = ns_errorf(
                ctx, NS_ERR_INVALID,
                "%s: labels[%zu] is %d, outside the %d classes [0, %d); a label must index "
                "" META_DATASET ".class_names",
                path, r, (int)s->labels[r], m->classes, m->classes);
    if (st == NS_OK && !bytes)
        st = copy_names(ctx, m->feature_names, s->feature_names, m->features);
    if (st == NS_OK)
        st = copy_names(ctx, m->target_names, s->target_names, m->targets);
    if (st == NS_OK && m->classes > 0) {
        const char **names = ns_calloc(ctx, (size_t)m->classes, sizeof *names);
        if (names == NULL) {
            st = NS_ERR_NOMEM;
        } else {
            for (int i = 0; i < m->classes; i++)
                names[i] = json_string_value(json_array_get(m->class_names, (size_t)i));
            st = ns__store_set_classes(s, m->classes, names);
            ns_dealloc(ctx, names);
        }
    }
    if (st != NS_OK) {
        ns__store_release(s);
        return st;
    }
    *out = s;
    return NS_OK;
}

/* Restores the view's normalisation from the checked tensors. */
static ns_status set_norm(ns_ctx *ctx, const char *path, ns_dataset *ds, ns_norm_kind kind,
                          const ns_st_tensor *shift, const ns_st_tensor *scale)
{
    size_t f = (size_t)ds->store->features;
    ds->shift = ns_alloc(ctx, f * sizeof(float));
    ds->scale = ns_alloc(ctx, f * sizeof(float));
    if (ds->shift == NULL || ds->scale == NULL)
        return NS_ERR_NOMEM;
    memcpy(ds->shift, shift->data, f * sizeof(float));
    memcpy(ds->scale, scale->data, f * sizeof(float));
    for (size_t j = 0; j < f; j++)
        if (!isfinite(ds->shift[j]) || !isfinite(ds->scale[j]) || ds->scale[j] == 0.0f)
            return ns_errorf(
                ctx, NS_ERR_INVALID,
                "%s: the normalisation of feature %zu (shift %g, scale %g) is not usable: "
                "shift and scale must be finite and the scale non-zero; fit it again "
                "and save the dataset again",
                path, j, (double)ds->shift[j], (double)ds->scale[j]);
    ds->has_norm = true;
    ds->norm_kind = kind;
    return NS_OK;
}

static ns_status load_open(ns_ctx *ctx, const ns_st_file *f, const char *path, ns_dataset **out)
{
    /* The metadata and the tensors are read as one text, the file: messages name the file. */
    const ns__json_reader rd = {ctx, path, NS_ERR_PARSE, RESAVE}, *r = &rd;
    const char *text = ns_st_meta_find(f, META_DATASET);
    if (text == NULL)
        return ns__jr_fail(r, "",
                           "not a netsmith dataset file: __metadata__ has no \"" META_DATASET
                           "\" entry (a model or checkpoint file? datasets are written by "
                           "ns_dataset_save)");
    const ns_st_tensor *tx = ns_st_find(f, T_X);
    if (tx == NULL)
        return ns__jr_fail(r, "", "tensor \"x\" (the features) is missing; " RESAVE);
    if (tx->dtype != NS_DTYPE_U8 && tx->dtype != NS_DTYPE_F32)
        return ns__jr_fail(r, "",
                           "tensor \"x\" is %s; a dataset's features are U8 (byte images) or "
                           "F32; " RESAVE,
                           ns_dtype_name(tx->dtype));
    bool bytes = tx->dtype == NS_DTYPE_U8;

    json_t *root = NULL;
    ns_status st = ns__jr_load_entry(r, META_PATH, text, &root);
    if (st != NS_OK)
        return st;
    meta_info m;
    memset(&m, 0, sizeof m);
    ns__data_store *s = NULL;
    ns_dataset *ds = NULL;
    st = parse_meta(r, root, bytes, &m);
    if (st != NS_OK)
        goto done;

    /* Tensors: exactly the ones the metadata calls for. */
    bool cls = m.task == NS_TASK_CLASSIFICATION;
    const char *ylabel = cls ? T_LABELS : T_Y;
    int nf = ns_st_count(f);
    for (int i = 0; i < nf; i++) {
        const char *name = ns_st_get(f, i)->name;
        bool expected =
            strcmp(name, T_X) == 0 || strcmp(name, ylabel) == 0 ||
            (m.normalized && (strcmp(name, T_SHIFT) == 0 || strcmp(name, T_SCALE) == 0));
        if (!expected) {
            st = ns__jr_fail(r, "", "unexpected tensor \"%s\" in a %s dataset file%s; " RESAVE,
                             name, cls ? "classification" : "regression",
                             m.normalized ? "" : " without normalisation");
            goto done;
        }
    }
    int64_t xshape[NS_MAX_DIMS] = {m.rows};
    for (int d = 0; d < m.x_ndim; d++)
        xshape[1 + d] = m.x_shape[d];
    const ns_st_tensor *ty = NULL, *shift = NULL, *scale = NULL;
    int64_t yshape[2] = {m.rows, m.targets}, fshape[1] = {m.features};
    if ((st = want(r, f, T_X, tx->dtype, 1 + m.x_ndim, xshape, &tx)) != NS_OK ||
        (st = want(r, f, ylabel, cls ? NS_DTYPE_I32 : NS_DTYPE_F32, cls ? 1 : 2, yshape, &ty)) !=
            NS_OK)
        goto done;
    if (m.normalized && ((st = want(r, f, T_SHIFT, NS_DTYPE_F32, 1, fshape, &shift)) != NS_OK ||
                         (st = want(r, f, T_SCALE, NS_DTYPE_F32, 1, fshape, &scale)) != NS_OK))
        goto done;

    if ((st = fill_store(ctx, path, &m, bytes, tx, ty, &s)) != NS_OK)
        goto done;
    if ((st = ns__dataset_from_store(s, &ds)) != NS_OK)
        goto done;
    if (m.normalized)
        st = set_norm(ctx, path, ds, m.norm_kind, shift, scale);
done:
    ns__store_release(s);
    json_decref(root);
    if (st != NS_OK) {
        ns_dataset_free(ds);
        ds = NULL;
    }
    *out = ds;
    return st;
}

ns_status ns_dataset_load_file(ns_ctx *ctx, const char *path, ns_dataset **out)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL);
    *out = NULL;
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st == NS_OK)
        st = load_open(ctx, f, path, out);
    ns_st_close(f);
    return st;
}
