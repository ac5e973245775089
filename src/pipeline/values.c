/* Values on the wires: kinds, reference counting, accessors, and their files (safetensors for
 * arrays, datasets, models and optimizers; JSON for the small ones). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/json_read.h"
#include "netsmith/io.h"
#include "netsmith/metrics.h"
#include "pipeline/pipeline_private.h"
#include "run/run_internal.h"

static const char *const kind_names[] = {"none",
#define NS__VK_NAME(e, name, doc) name,
                                         NS_VALUE_KINDS(NS__VK_NAME)
#undef NS__VK_NAME
};
static const char *const kind_docs[] = {"nothing",
#define NS__VK_DOC(e, name, doc) doc,
                                        NS_VALUE_KINDS(NS__VK_DOC)
#undef NS__VK_DOC
};

const char *ns_value_kind_name(ns_value_kind k)
{
    return (unsigned)k < NS_VALUE_KIND_COUNT ? kind_names[k] : "unknown";
}

const char *ns_value_kind_doc(ns_value_kind k)
{
    return (unsigned)k < NS_VALUE_KIND_COUNT ? kind_docs[k] : "";
}

ns_value_kind ns_value_kind_parse(const char *name)
{
    for (int k = 1; k < NS_VALUE_KIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0)
            return (ns_value_kind)k;
    return NS_VALUE_NONE;
}

ns_status ns__value_new(ns_ctx *ctx, ns_value_kind kind, ns_value **out)
{
    ns_value *v = ns_calloc(ctx, 1, sizeof *v);
    *out = v;
    if (v == NULL)
        return NS_ERR_NOMEM;
    v->kind = kind;
    v->refs = 1;
    v->ctx = ctx;
    return NS_OK;
}

ns_value *ns__value_ref(ns_value *v)
{
    if (v != NULL)
        v->refs++;
    return v;
}

ns_status ns__value_set_norm(ns_ctx *ctx, ns_value *v, const ns_norm *norm)
{
    ns_norm_deinit(ctx, &v->norm);
    return ns__norm_copy(ctx, norm, &v->norm);
}

void ns_value_release(ns_value *v)
{
    if (v == NULL || --v->refs > 0)
        return;
    ns_norm_deinit(v->ctx, &v->norm);
    ns_ctx *ctx = v->ctx;
    switch (v->kind) {
    case NS_VALUE_DATASET:
        ns_dataset_free(v->u.dataset);
        break;
    case NS_VALUE_MODEL_SPEC:
        ns_spec_free(v->u.spec);
        break;
    case NS_VALUE_MODEL:
        ns_model_free(v->u.model);
        break;
    case NS_VALUE_OPTIMIZER:
        ns_optim_free(v->u.optim);
        break;
    case NS_VALUE_PREDICTIONS:
        ns_dealloc(ctx, v->u.tensor.data);
        break;
    case NS_VALUE_LOSS:
        ns_dealloc(ctx, v->u.loss.grad.data);
        break;
    case NS_VALUE_METRICS:
        ns_dealloc(ctx, v->u.metrics.confusion);
        ns__free_strings(ctx, v->u.metrics.class_names, v->u.metrics.classes);
        break;
    case NS_VALUE_FILE:
        ns_dealloc(ctx, v->u.file);
        break;
    case NS_VALUE_HISTORY:
        ns_dealloc(ctx, v->u.history.reports);
        break;
    default:
        break;
    }
    ns_value_release(v->model);
    ns_dealloc(ctx, v->owned);
    ns_dealloc(ctx, v);
}

ns_value_kind ns_value_get_kind(const ns_value *v)
{
    return v ? v->kind : NS_VALUE_NONE;
}

#define ACCESS(ret, fn, K, expr)                                                                   \
    ret fn(const ns_value *v)                                                                      \
    {                                                                                              \
        return v && v->kind == NS_VALUE_##K ? (expr) : NULL;                                       \
    }
ACCESS(ns_dataset *, ns_value_dataset, DATASET, v->u.dataset)
ACCESS(ns_spec *, ns_value_spec, MODEL_SPEC, v->u.spec)
ACCESS(const ns_data_shape *, ns_value_data_shape, DATA_SHAPE, &v->u.shape)
ACCESS(ns_model *, ns_value_model, MODEL, v->u.model)
ACCESS(ns_optim *, ns_value_optim, OPTIMIZER, v->u.optim)
ACCESS(const ns_batch_pos *, ns_value_batch_pos, BATCH_INDEX, &v->u.pos)
ACCESS(const ns_batch *, ns_value_batch, BATCH_DATA, &v->u.batch)
ACCESS(const ns_tensor2 *, ns_value_tensor, PREDICTIONS, &v->u.tensor)
ACCESS(const ns_loss_value *, ns_value_loss, LOSS, &v->u.loss)
ACCESS(const ns_metrics_value *, ns_value_metrics, METRICS, &v->u.metrics)
ACCESS(const char *, ns_value_file, FILE, v->u.file)
ACCESS(const ns_history_value *, ns_value_history, HISTORY, &v->u.history)
#undef ACCESS

void ns_value_batch_widths(const ns_value *v, int *features, int *targets)
{
    *features = v && v->kind == NS_VALUE_BATCH_DATA ? v->features : 0;
    *targets = v && v->kind == NS_VALUE_BATCH_DATA ? v->targets : 0;
}

bool ns_value_integer(const ns_value *v, int64_t *out)
{
    if (v == NULL || v->kind != NS_VALUE_INTEGER)
        return false;
    *out = v->u.integer;
    return true;
}

const char *ns_value_object(const ns_value *v)
{
    return v && (v->kind == NS_VALUE_MODEL || v->kind == NS_VALUE_OPTIMIZER) ? v->object : "";
}

/* ---- files -------------------------------------------------------------------------------- */

static char *join(ns_ctx *ctx, const char *dir, const char *port, const char *ext)
{
    size_t n = strlen(dir) + strlen(port) + strlen(ext) + 3;
    char *p = ns_alloc(ctx, n);
    if (p != NULL)
        snprintf(p, n, "%s/%s%s", dir, port, ext);
    return p;
}

/* The file beside a model value's file with the normalisation its Train card fitted:
 * PATH.norm.json. */
static char *norm_path(ns_ctx *ctx, const char *path)
{
    size_t n = strlen(path) + sizeof ".norm.json";
    char *p = ns_alloc(ctx, n);
    if (p != NULL)
        snprintf(p, n, "%s.norm.json", path);
    return p;
}

static ns_status write_json(ns_ctx *ctx, const char *path, json_t *j)
{
    if (j == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing %s", path);
    ns_status st =
        ns_write_json(ctx, path, j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    return st;
}

/* Reads the JSON file of r (any JSON value) into *out. */
static ns_status read_json(const ns__json_reader *r, json_t **out)
{
    char *text = NULL;
    size_t len = 0;
    ns_status st = ns_read_file(r->ctx, r->source, &text, &len);
    if (st == NS_OK)
        st = ns__jr_load(r, text, len, out);
    ns_dealloc(r->ctx, text);
    return st;
}

static json_t *shape_json(const ns_data_shape *s)
{
    json_t *dims = json_array();
    for (int i = 0; i < s->ndim; i++)
        json_array_append_new(dims, json_integer(s->shape[i]));
    return json_pack("{s:o, s:i, s:s, s:i}", "shape", dims, "outputs", s->outputs, "task",
                     ns_task_name(s->task), "classes", s->classes);
}

/* The fields of metric values, for history files (every field, NaN as null). */
#define MV_FIELDS(X)                                                                               \
    X(loss) X(accuracy) X(precision_macro) X(recall_macro) X(f1_macro) X(mse) X(rmse) X(mae) X(r2)

static json_t *num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *values_json(const ns_metric_values *v)
{
    json_t *o = json_pack("{s:I}", "n", (json_int_t)v->n);
#define MV_PUT(f) json_object_set_new(o, #f, num(v->f));
    MV_FIELDS(MV_PUT)
#undef MV_PUT
    return o;
}

static void values_read(const json_t *o, bool cls, ns_metric_values *v)
{
    memset(v, 0, sizeof *v);
    v->is_classification = cls;
    v->n = json_integer_value(json_object_get(o, "n"));
#define MV_GET(f)                                                                                  \
    {                                                                                              \
        json_t *x = json_object_get(o, #f);                                                        \
        v->f = json_is_number(x) ? json_number_value(x) : (double)NAN;                             \
    }
    MV_FIELDS(MV_GET)
#undef MV_GET
}

static json_t *history_json(const ns_history_value *h)
{
    json_t *epochs = json_array();
    for (int i = 0; i < h->epochs; i++) {
        const ns_epoch_report *r = &h->reports[i];
        json_t *e = json_pack("{s:i, s:i, s:I, s:f, s:f, s:o}", "epoch", r->epoch, "epochs",
                              r->epochs, "step", (json_int_t)r->step, "lr", r->lr, "seconds",
                              r->seconds, "train", values_json(&r->train));
        if (r->has_val)
            json_object_set_new(e, "val", values_json(&r->val));
        json_object_set_new(e, "improved", json_boolean(r->improved));
        json_array_append_new(epochs, e);
    }
    return json_pack("{s:s, s:o}", "task", ns_task_name(h->task), "epochs", epochs);
}

static json_t *pos_json(const ns_batch_pos *p)
{
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, p->seed);
    return json_pack("{s:I, s:I, s:I, s:i, s:b, s:b, s:s}", "epoch", (json_int_t)p->epoch, "index",
                     (json_int_t)p->index, "batches", (json_int_t)p->batches, "batch_size",
                     p->batch_size, "shuffle", p->shuffle, "drop_last", p->drop_last, "seed", seed);
}

static ns_status save_batch(ns_ctx *ctx, const ns_value *v, const char *path)
{
    const ns_batch *b = &v->u.batch;
    ns_st_tensor t[2] = {{.name = "x",
                          .dtype = NS_DTYPE_F32,
                          .ndim = 2,
                          .shape = {b->n, v->features},
                          .data = b->x,
                          .nbytes = (size_t)b->n * (size_t)v->features * sizeof(float)}};
    if (b->labels != NULL)
        t[1] = (ns_st_tensor){.name = "labels",
                              .dtype = NS_DTYPE_I32,
                              .ndim = 1,
                              .shape = {b->n},
                              .data = b->labels,
                              .nbytes = (size_t)b->n * sizeof(int32_t)};
    else
        t[1] = (ns_st_tensor){.name = "y",
                              .dtype = NS_DTYPE_F32,
                              .ndim = 2,
                              .shape = {b->n, v->targets},
                              .data = b->y,
                              .nbytes = (size_t)b->n * (size_t)v->targets * sizeof(float)};
    char pos[64];
    snprintf(pos, sizeof pos, "%" PRId64 ",%" PRId64, b->epoch, b->index);
    ns_st_meta meta[] = {{"netsmith.batch", pos}};
    return ns_st_write(ctx, path, t, 2, meta, 1);
}

ns_status ns_value_save(ns_ctx *ctx, const ns_value *v, const char *dir, const char *port,
                        char **path_out)
{
    if (path_out)
        *path_out = NULL;
    bool st_file = v->kind == NS_VALUE_DATASET || v->kind == NS_VALUE_MODEL ||
                   v->kind == NS_VALUE_OPTIMIZER || v->kind == NS_VALUE_BATCH_DATA ||
                   v->kind == NS_VALUE_PREDICTIONS || v->kind == NS_VALUE_LOSS;
    char *path = join(ctx, dir, port, st_file ? ".safetensors" : ".json");
    if (path == NULL)
        return NS_ERR_NOMEM;
    ns_status st = NS_OK;
    switch (v->kind) {
    case NS_VALUE_DATASET:
        st = ns_dataset_save(v->u.dataset, path);
        break;
    case NS_VALUE_MODEL_SPEC: {
        char *json = NULL;
        st = ns_spec_to_json(v->u.spec, &json);
        if (st == NS_OK) {
            json_error_t e;
            json_t *j = json_loads(json, 0, &e);
            st = write_json(ctx, path, j);
        }
        ns_dealloc(ns_spec_ctx(v->u.spec), json);
        break;
    }
    case NS_VALUE_DATA_SHAPE:
        st = write_json(ctx, path, shape_json(&v->u.shape));
        break;
    case NS_VALUE_MODEL:
        st = ns_model_save_state(v->u.model, path);
        /* the normalisation a Train card fitted travels beside it: PATH.norm.json (and an
         * old one of a model saved there before goes) */
        if (st == NS_OK && v->norm.kind == NS_NORM_NONE) {
            char *npath = norm_path(ctx, path);
            if (npath == NULL)
                st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
            else if (unlink(npath) != 0 && errno != ENOENT)
                st = ns_errorf(ctx, NS_ERR_IO, "%s: cannot remove it: %s", npath, strerror(errno));
            ns_dealloc(ctx, npath);
        }
        if (st == NS_OK && v->norm.kind != NS_NORM_NONE) {
            char *npath = norm_path(ctx, path), *text = NULL;
            st = npath ? ns_norm_to_json(ctx, &v->norm, &text)
                       : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
            if (st == NS_OK)
                st = ns_write_file(ctx, npath, text, strlen(text));
            ns_dealloc(ctx, text);
            ns_dealloc(ctx, npath);
        }
        break;
    case NS_VALUE_OPTIMIZER: {
        st = ns_optim_save_state(v->u.optim, path);
        char *mport = join(ctx, "", port, ".model");
        if (st == NS_OK && mport == NULL)
            st = NS_ERR_NOMEM;
        if (st == NS_OK)
            st = ns_value_save(ctx, v->model, dir, mport + 1, NULL);
        ns_dealloc(ctx, mport);
        break;
    }
    case NS_VALUE_BATCH_INDEX:
        st = write_json(ctx, path, pos_json(&v->u.pos));
        break;
    case NS_VALUE_BATCH_DATA:
        st = save_batch(ctx, v, path);
        break;
    case NS_VALUE_PREDICTIONS: {
        const ns_tensor2 *t = &v->u.tensor;
        ns_st_tensor st_t = {.name = "predictions",
                             .dtype = NS_DTYPE_F32,
                             .ndim = 2,
                             .shape = {t->rows, t->cols},
                             .data = t->data,
                             .nbytes = (size_t)t->rows * (size_t)t->cols * sizeof(float)};
        st = ns_st_write(ctx, path, &st_t, 1, NULL, 0);
        break;
    }
    case NS_VALUE_LOSS: {
        const ns_loss_value *l = &v->u.loss;
        ns_st_tensor t[2] = {
            {.name = "value", .dtype = NS_DTYPE_F64, .ndim = 0, .data = &l->value, .nbytes = 8},
            {.name = "grad",
             .dtype = NS_DTYPE_F32,
             .ndim = 2,
             .shape = {l->grad.rows, l->grad.cols},
             .data = l->grad.data,
             .nbytes = (size_t)l->grad.rows * (size_t)l->grad.cols * sizeof(float)}};
        ns_st_meta meta[] = {{"netsmith.loss", ns_loss_kind_name(l->kind)}};
        st = ns_st_write(ctx, path, t, 2, meta, 1);
        break;
    }
    case NS_VALUE_METRICS: {
        const ns_metrics_value *m = &v->u.metrics;
        char *json = NULL;
        st = ns_metrics_to_json(ctx, &m->values, m->confusion, m->classes, &json);
        if (st == NS_OK) {
            json_error_t e;
            json_t *j = json_loads(json, 0, &e);
            if (j != NULL) {
                json_object_set_new(j, "task", json_string(ns_task_name(m->task)));
                if (m->class_names != NULL) {
                    json_t *names = json_array();
                    for (int i = 0; i < m->classes; i++)
                        json_array_append_new(names, json_string(m->class_names[i]));
                    json_object_set_new(j, "class_names", names);
                }
            }
            st = write_json(ctx, path, j);
        }
        ns_dealloc(ctx, json);
        break;
    }
    case NS_VALUE_INTEGER:
        st = write_json(ctx, path, json_integer((json_int_t)v->u.integer));
        break;
    case NS_VALUE_HISTORY:
        st = write_json(ctx, path, history_json(&v->u.history));
        break;
    case NS_VALUE_FILE:
        st = write_json(ctx, path, json_string(v->u.file));
        break;
    default:
        st = ns_errorf(ctx, NS_ERR_INVALID, "cannot save a value of kind %d", (int)v->kind);
    }
    if (st == NS_OK && path_out != NULL)
        *path_out = path;
    else
        ns_dealloc(ctx, path);
    return st;
}

/* ---- reading back ---------------------------------------------------------------------------- */

/* How to repair a value file netsmith writes, and a batch_index file (written by hand too). */
#define REWRITE "write it with netsmith run --state or netsmith card"
#define BATCH_POS_HOW "see 'netsmith cards prepare_batch' for the format"

/* The reader of the value file at path: a file that does not hold its kind is NS_ERR_FORMAT. */
static ns__json_reader value_reader(ns_ctx *ctx, const char *path)
{
    return (ns__json_reader){ctx, path, NS_ERR_FORMAT, REWRITE};
}

static ns_status load_batch(ns_ctx *ctx, const char *path, ns_value *v)
{
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st != NS_OK)
        return st;
    const ns_st_tensor *x = ns_st_find(f, "x"), *y = ns_st_find(f, "y");
    const ns_st_tensor *lab = ns_st_find(f, "labels");
    const char *pos = ns_st_meta_find(f, "netsmith.batch");
    long long ep = 0, ix = 0;
    if (x == NULL || x->dtype != NS_DTYPE_F32 || x->ndim != 2 || (y == NULL) == (lab == NULL) ||
        pos == NULL || sscanf(pos, "%lld,%lld", &ep, &ix) != 2 ||
        (y && (y->dtype != NS_DTYPE_F32 || y->ndim != 2 || y->shape[0] != x->shape[0])) ||
        (lab && (lab->dtype != NS_DTYPE_I32 || lab->ndim != 1 || lab->shape[0] != x->shape[0]))) {
        ns_st_close(f);
        const ns__json_reader r = value_reader(ctx, path);
        return ns__jr_fail(
            &r, "", "not a batch file (tensors x and y or labels, netsmith.batch); %s", r.fix);
    }
    size_t xb = x->nbytes, yb = y ? y->nbytes : lab->nbytes;
    char *mem = ns_alloc(ctx, xb + yb + 8);
    if (mem == NULL) {
        ns_st_close(f);
        return NS_ERR_NOMEM;
    }
    memcpy(mem, x->data, xb);
    memcpy(mem + xb, y ? y->data : lab->data, yb);
    v->owned = mem;
    v->u.batch =
        (ns_batch){.x = (const float *)mem, .n = (int)x->shape[0], .epoch = ep, .index = ix};
    if (y) {
        v->u.batch.y = (const float *)(mem + xb);
        v->targets = (int)y->shape[1];
    } else {
        v->u.batch.labels = (const int32_t *)(mem + xb);
    }
    v->features = (int)x->shape[1];
    ns_st_close(f);
    return NS_OK;
}

static ns_status load_floats(ns_ctx *ctx, const char *path, const char *name, ns_tensor2 *t,
                             double *value, ns_loss_kind *kind)
{
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st != NS_OK)
        return st;
    const ns__json_reader r = value_reader(ctx, path);
    const ns_st_tensor *g = ns_st_find(f, name);
    if (g == NULL || g->dtype != NS_DTYPE_F32 || g->ndim != 2) {
        ns_st_close(f);
        return ns__jr_fail(&r, "", "the F32 matrix \"%s\" is missing; %s", name, r.fix);
    }
    if (value != NULL) {
        const ns_st_tensor *vt = ns_st_find(f, "value");
        const char *k = ns_st_meta_find(f, "netsmith.loss");
        if (vt == NULL || vt->dtype != NS_DTYPE_F64 || vt->nbytes != 8 || k == NULL ||
            ns_loss_kind_parse(k, kind) != NS_OK) {
            ns_st_close(f);
            return ns__jr_fail(&r, "", "not a loss file (value, grad, netsmith.loss); %s", r.fix);
        }
        memcpy(value, vt->data, 8);
    }
    t->rows = g->shape[0];
    t->cols = (int)g->shape[1];
    t->data = ns_alloc(ctx, g->nbytes ? g->nbytes : 1);
    if (t->data == NULL) {
        ns_st_close(f);
        return NS_ERR_NOMEM;
    }
    memcpy(t->data, g->data, g->nbytes);
    ns_st_close(f);
    return NS_OK;
}

/* A batch_index file (NS__BATCH_POS_FILE_DOC), written by netsmith or by hand; batches is 0
 * when the file leaves it to the dataset. Its messages quote the key ("\"index\" must be ..."). */
static ns_status read_batch_pos(const ns__json_reader *r, json_t *j, ns_batch_pos *p)
{
    static const char *const keys[] = {"epoch",   "index",     "batch_size", "batches",
                                       "shuffle", "drop_last", "seed"};
    enum { N_KEYS = (int)(sizeof keys / sizeof keys[0]) };
    char got[NS__JR_GOT_CAP];
    memset(p, 0, sizeof *p);
    p->shuffle = true;
    if (!json_is_object(j))
        return ns__jr_fail(r, "",
                           "a batch_index file is a JSON object such as {\"epoch\": 0, "
                           "\"index\": 0, \"batch_size\": 32}, got %s; %s",
                           ns__jr_describe(got, sizeof got, j), r->fix);
    ns_status st = ns__jr_keys(r, "", j, keys, N_KEYS);
    if (st != NS_OK)
        return st;
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val)
    {
        int k = ns__jr_find(keys, N_KEYS, key);
        if (k == 4 || k == 5) { /* shuffle, drop_last */
            if (!json_is_boolean(val))
                return ns__jr_fail(r, "", "\"%s\" must be true or false, got %s; %s", key,
                                   ns__jr_describe(got, sizeof got, val), r->fix);
            *(k == 4 ? &p->shuffle : &p->drop_last) = json_is_true(val);
            continue;
        }
        if (k == 6) { /* seed: an integer, or its decimal text (seeds above 2^63) */
            const char *text = json_string_value(val);
            char *end = NULL;
            bool ok = false;
            if (json_is_integer(val) && json_integer_value(val) >= 0) {
                p->seed = (uint64_t)json_integer_value(val);
                ok = true;
            } else if (text != NULL && text[0] >= '0' && text[0] <= '9') {
                errno = 0;
                p->seed = strtoull(text, &end, 10);
                ok = errno == 0 && *end == '\0';
            }
            if (!ok)
                return ns__jr_fail(r, "",
                                   "\"seed\" must be a non-negative integer (or its digits as a "
                                   "string), got %s; %s",
                                   ns__jr_describe(got, sizeof got, val), r->fix);
            continue;
        }
        json_int_t x = json_is_integer(val) ? json_integer_value(val) : -1;
        json_int_t lo = k == 2 || k == 3 ? 1 : 0;
        json_int_t hi = k == 2 ? INT32_MAX : INT64_MAX;
        if (!json_is_integer(val) || x < lo)
            return ns__jr_fail(r, "", "\"%s\" must be an integer of at least %d, got %s; %s", key,
                               (int)lo, ns__jr_describe(got, sizeof got, val), r->fix);
        if (x > hi)
            return ns__jr_fail(r, "", "\"%s\" must be at most %lld, got %s; %s", key, (long long)hi,
                               ns__jr_describe(got, sizeof got, val), r->fix);
        if (k == 0)
            p->epoch = x;
        else if (k == 1)
            p->index = x;
        else if (k == 2)
            p->batch_size = (int)x;
        else
            p->batches = x;
    }
    if (p->batch_size == 0 || !json_object_get(j, "index"))
        return ns__jr_fail(r, "",
                           "a batch_index file needs \"%s\" (e.g. {\"epoch\": 0, \"index\": 0, "
                           "\"batch_size\": 32}); %s",
                           p->batch_size == 0 ? "batch_size" : "index", r->fix);
    if (p->batches > 0 && p->index >= p->batches)
        return ns__jr_fail(r, "",
                           "\"index\" %lld is past the last batch (\"batches\" is %lld; batches "
                           "count from 0)",
                           (long long)p->index, (long long)p->batches);
    return NS_OK;
}

const char *ns_value_kind_file_doc(ns_value_kind k)
{
    switch (k) {
    case NS_VALUE_DATASET:
        return "a dataset file (.safetensors, from netsmith run --state or netsmith card)";
    case NS_VALUE_MODEL_SPEC:
        return "a model spec (JSON, either form; see netsmith define)";
    case NS_VALUE_MODEL:
        return "a model state file (.safetensors, from netsmith run --state or netsmith card)";
    case NS_VALUE_OPTIMIZER:
        return "an optimizer state file (.safetensors), its model beside it as "
               "NAME.model.safetensors unless --in model=... is given";
    case NS_VALUE_BATCH_INDEX:
        return NS__BATCH_POS_FILE_DOC;
    case NS_VALUE_DATA_SHAPE:
        return "JSON: {\"shape\": [13], \"outputs\": 1, \"task\": \"regression\", "
               "\"classes\": 0}";
    case NS_VALUE_INTEGER:
        return "JSON: a whole number";
    case NS_VALUE_FILE:
        return "JSON: a path as a string";
    default:
        return "a file another card wrote (netsmith run --state or netsmith card)";
    }
}

/* A data_shape file: {"shape": [13], "outputs": 1, "task": "regression", "classes": 0}. */
static ns_status read_data_shape(const ns__json_reader *r, const json_t *j, ns_data_shape *s)
{
    json_t *dims = json_object_get(j, "shape");
    char want[64], path[32];
    snprintf(want, sizeof want, "a list of 1 to %d positive integers", NS_MAX_DIMS - 1);
    if (!json_is_array(dims) || json_array_size(dims) < 1 ||
        json_array_size(dims) > NS_MAX_DIMS - 1)
        return ns__jr_member_fail(r, "", "shape", dims, want);
    ns_status st = NS_OK;
    for (size_t i = 0; st == NS_OK && i < json_array_size(dims); i++)
        st = ns__jr_int(r, ns__jr_index(path, sizeof path, "shape", i), json_array_get(dims, i), 1,
                        "a positive integer", &s->shape[i]);
    s->ndim = (int)json_array_size(dims);
    int64_t outputs = 0, classes = 0;
    if (st != NS_OK ||
        (st = ns__jr_member_int64(r, "", j, "outputs", 0, INT_MAX, &outputs)) != NS_OK ||
        (st = ns__jr_member_int64(r, "", j, "classes", 0, INT_MAX, &classes)) != NS_OK)
        return st;
    s->outputs = (int)outputs;
    s->classes = (int)classes;
    s->task = NS_TASK_AUTO;
    json_t *task = json_object_get(j, "task");
    static const char *const want_task = "\"auto\", \"regression\" or \"classification\"";
    if (task != NULL &&
        (!json_is_string(task) || ns_task_parse(json_string_value(task), &s->task) != NS_OK))
        return ns__jr_member_fail(r, "", "task", task, want_task);
    return NS_OK;
}

/* A metrics file, as ns_metrics_to_json writes it with the task and the class names; a
 * metric it lacks (or gives as null) reads as NaN. */
static ns_status read_metrics(const ns__json_reader *r, const json_t *j, ns_metrics_value *m)
{
    ns_ctx *ctx = r->ctx;
    const char *task = json_string_value(json_object_get(j, "task"));
    m->task = task && !strcmp(task, "classification") ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    values_read(j, m->task == NS_TASK_CLASSIFICATION, &m->values);
    json_t *cm = json_object_get(j, "confusion_matrix"), *names = json_object_get(j, "class_names");
    int k = json_is_array(cm) ? (int)json_array_size(cm) : 0;
    if (k == 0 || k > 65536)
        return NS_OK;
    m->confusion = ns_calloc(ctx, (size_t)k * (size_t)k, sizeof(int64_t));
    m->classes = k;
    if (m->confusion == NULL)
        return NS_ERR_NOMEM;
    for (int row = 0; row < k; row++) {
        json_t *cells = json_array_get(cm, (size_t)row);
        if (!json_is_array(cells) || json_array_size(cells) != (size_t)k) {
            char path[48], got[NS__JR_GOT_CAP];
            return ns__jr_fail(r, ns__jr_index(path, sizeof path, "confusion_matrix", (size_t)row),
                               "expected a row of %d counts, got %s; %s", k,
                               ns__jr_describe(got, sizeof got, cells), r->fix);
        }
        for (int c = 0; c < k; c++)
            m->confusion[row * k + c] = json_integer_value(json_array_get(cells, (size_t)c));
    }
    if (json_is_array(names) && json_array_size(names) == (size_t)k) {
        m->class_names = ns_calloc(ctx, (size_t)k, sizeof(char *));
        for (int c = 0; m->class_names && c < k; c++) {
            const char *s = json_string_value(json_array_get(names, (size_t)c));
            m->class_names[c] = ns_strdup(ctx, s ? s : "");
        }
    }
    return NS_OK;
}

/* A history file: {"task": ..., "epochs": [{"epoch": 1, ..., "train": {...}}, ...]}. */
static ns_status read_history(const ns__json_reader *r, const json_t *j, ns_history_value *h)
{
    static const char *const want_task = "\"regression\" or \"classification\"";
    const char *task = NULL;
    ns_task t = NS_TASK_AUTO;
    ns_status st = ns__jr_member_string(r, "", j, "task", want_task, &task);
    if (st != NS_OK)
        return st;
    if (ns_task_parse(task, &t) != NS_OK)
        return ns__jr_member_fail(r, "", "task", json_object_get(j, "task"), want_task);
    json_t *eps = json_object_get(j, "epochs");
    if (!json_is_array(eps))
        return ns__jr_member_fail(r, "", "epochs", eps, "a list of epoch reports");
    h->task = t == NS_TASK_CLASSIFICATION ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    h->epochs = (int)json_array_size(eps);
    h->reports = ns_calloc(r->ctx, (size_t)(h->epochs ? h->epochs : 1), sizeof *h->reports);
    if (h->reports == NULL)
        return NS_ERR_NOMEM;
    bool cls = h->task == NS_TASK_CLASSIFICATION;
    for (int i = 0; i < h->epochs; i++) {
        json_t *e = json_array_get(eps, (size_t)i);
        ns_epoch_report *rep = &h->reports[i];
        if (!json_is_object(e) || !json_is_object(json_object_get(e, "train"))) {
            char path[48], got[NS__JR_GOT_CAP];
            return ns__jr_fail(r, ns__jr_index(path, sizeof path, "epochs", (size_t)i),
                               "expected an epoch report with a \"train\" object, got %s; %s",
                               ns__jr_describe(got, sizeof got, e), r->fix);
        }
        rep->epoch = (int)json_integer_value(json_object_get(e, "epoch"));
        rep->epochs = (int)json_integer_value(json_object_get(e, "epochs"));
        rep->step = json_integer_value(json_object_get(e, "step"));
        rep->lr = json_number_value(json_object_get(e, "lr"));
        rep->seconds = json_number_value(json_object_get(e, "seconds"));
        rep->improved = json_is_true(json_object_get(e, "improved"));
        values_read(json_object_get(e, "train"), cls, &rep->train);
        json_t *val = json_object_get(e, "val");
        rep->has_val = json_is_object(val);
        if (rep->has_val)
            values_read(val, cls, &rep->val);
    }
    return NS_OK;
}

static ns_status load_json_value(ns_ctx *ctx, const char *path, ns_value *v)
{
    /* A syntax error, and any defect of a batch_index file (written by hand too), is a parse
     * error; a file netsmith writes that does not hold its kind is a format error. */
    bool pos = v->kind == NS_VALUE_BATCH_INDEX;
    const ns__json_reader text = {ctx, path, NS_ERR_PARSE, pos ? BATCH_POS_HOW : REWRITE};
    const ns__json_reader r = value_reader(ctx, path);
    json_t *j = NULL;
    ns_status st = read_json(&text, &j);
    if (st != NS_OK)
        return st;
    char got[NS__JR_GOT_CAP];
    bool object = v->kind == NS_VALUE_DATA_SHAPE || v->kind == NS_VALUE_METRICS ||
                  v->kind == NS_VALUE_HISTORY;
    if (object && !json_is_object(j))
        st = ns__jr_fail(&r, "", "expected %s, got %s; %s",
                         v->kind == NS_VALUE_DATA_SHAPE
                             ? "an object such as {\"shape\": [13], \"outputs\": 1, \"task\": "
                               "\"regression\", \"classes\": 0}"
                         : v->kind == NS_VALUE_METRICS ? "an object of metrics"
                                                       : "an object with the task and the epochs",
                         ns__jr_describe(got, sizeof got, j), r.fix);
    else if (v->kind == NS_VALUE_DATA_SHAPE)
        st = read_data_shape(&r, j, &v->u.shape);
    else if (v->kind == NS_VALUE_BATCH_INDEX)
        st = read_batch_pos(&text, j, &v->u.pos);
    else if (v->kind == NS_VALUE_METRICS)
        st = read_metrics(&r, j, &v->u.metrics);
    else if (v->kind == NS_VALUE_HISTORY)
        st = read_history(&r, j, &v->u.history);
    else if (v->kind == NS_VALUE_INTEGER && json_is_integer(j))
        v->u.integer = json_integer_value(j);
    else if (v->kind == NS_VALUE_FILE && json_is_string(j))
        st = (v->u.file = ns_strdup(ctx, json_string_value(j))) != NULL ? NS_OK : NS_ERR_NOMEM;
    else if (v->kind == NS_VALUE_INTEGER || v->kind == NS_VALUE_FILE)
        st = ns__jr_fail(&r, "", "expected %s, got %s; %s",
                         v->kind == NS_VALUE_INTEGER ? "a whole number" : "a path as a string",
                         ns__jr_describe(got, sizeof got, j), r.fix);
    else
        st = ns__jr_fail(&r, "", "a %s value is not read from JSON; %s",
                         ns_value_kind_name(v->kind), r.fix);
    json_decref(j);
    return st;
}

ns_status ns_value_load(ns_ctx *ctx, ns_value_kind kind, const char *path, ns_value *bind_model,
                        ns_value **out)
{
    *out = NULL;
    ns_value *v = NULL;
    ns_status st = ns__value_new(ctx, kind, &v);
    if (st != NS_OK)
        return st;
    switch (kind) {
    case NS_VALUE_DATASET:
        st = ns_dataset_load_file(ctx, path, &v->u.dataset);
        break;
    case NS_VALUE_MODEL_SPEC:
        st = ns_spec_load(ctx, path, &v->u.spec);
        break;
    case NS_VALUE_MODEL: {
        st = ns_model_load_state(ctx, path, &v->u.model);
        snprintf(v->object, sizeof v->object, "%s", path);
        char *npath = st == NS_OK ? norm_path(ctx, path) : NULL, *text = NULL;
        size_t len = 0;
        struct stat sb;
        if (st == NS_OK && npath == NULL)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        int found = st == NS_OK ? stat(npath, &sb) : -1;
        if (st == NS_OK && found != 0 && errno != ENOENT)
            st = ns_errorf(ctx, NS_ERR_IO, "%s: %s", npath, strerror(errno));
        if (st == NS_OK && found == 0) {
            st = ns_read_file(ctx, npath, &text, &len);
            if (st == NS_OK)
                st = ns_norm_from_json(ctx, text, npath, &v->norm);
        }
        ns_dealloc(ctx, text);
        ns_dealloc(ctx, npath);
        break;
    }
    case NS_VALUE_OPTIMIZER: {
        ns_value *model = ns__value_ref(bind_model);
        if (model == NULL) {
            /* the model file written beside it */
            size_t n = strlen(path);
            const char *ext = ".safetensors";
            size_t base =
                n >= strlen(ext) && !strcmp(path + n - strlen(ext), ext) ? n - strlen(ext) : n;
            char *mpath = ns_alloc(ctx, base + 32);
            if (mpath == NULL) {
                st = NS_ERR_NOMEM;
                break;
            }
            snprintf(mpath, base + 32, "%.*s.model.safetensors", (int)base, path);
            st = ns_value_load(ctx, NS_VALUE_MODEL, mpath, NULL, &model);
            ns_dealloc(ctx, mpath);
        }
        if (st == NS_OK)
            st = ns_optim_load_state(model->u.model, path, &v->u.optim);
        v->model = model;
        if (model != NULL)
            snprintf(v->object, sizeof v->object, "%s", path);
        break;
    }
    case NS_VALUE_BATCH_DATA:
        st = load_batch(ctx, path, v);
        break;
    case NS_VALUE_PREDICTIONS:
        st = load_floats(ctx, path, "predictions", &v->u.tensor, NULL, NULL);
        break;
    case NS_VALUE_LOSS:
        st = load_floats(ctx, path, "grad", &v->u.loss.grad, &v->u.loss.value, &v->u.loss.kind);
        break;
    default:
        st = load_json_value(ctx, path, v);
    }
    if (st != NS_OK) {
        ns_value_release(v);
        return st;
    }
    *out = v;
    return NS_OK;
}
