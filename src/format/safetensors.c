/* safetensors files (https://github.com/huggingface/safetensors): a validating reader, an
 * atomic writer (over ns_file_writer), the dtype table, and ns_read_file. Layout: u64
 * little-endian header length N, N bytes of JSON header (space-padded), then the byte buffer
 * the data_offsets point into. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "netsmith/format.h"

/* ---- dtypes ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
#define NS__DTYPE_ROW(name, str, size) {str, size},
    NS_ST_DTYPE_MAP(NS__DTYPE_ROW)
#undef NS__DTYPE_ROW
};

/* ", BOOL, U8, ..." for messages; print from known_dtypes + 2. */
static const char known_dtypes[] =
#define NS__DTYPE_LIST(name, str, size) ", " str
    NS_ST_DTYPE_MAP(NS__DTYPE_LIST)
#undef NS__DTYPE_LIST
    ;

const char *ns_dtype_name(ns_dtype dtype)
{
    return (unsigned)dtype < NS_DTYPE_COUNT ? dtype_table[dtype].name : NULL;
}

size_t ns_dtype_size(ns_dtype dtype)
{
    return (unsigned)dtype < NS_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

/* ---- the file handle ------------------------------------------------------------------------- */

struct ns_st_file {
    ns_ctx *ctx;
    unsigned char *bytes; /* the whole file: length prefix, header, byte buffer */
    size_t len;
    char *strings; /* every name, metadata key and value, NUL-terminated back to back */
    int n_tensors;
    ns_st_tensor *tensors;        /* in data-offset order */
    const ns_st_tensor **by_name; /* the same, sorted by name for ns_st_find */
    int n_meta;
    ns_st_meta *meta; /* in header order */
};

void ns_st_close(ns_st_file *f)
{
    if (f == NULL)
        return;
    ns_ctx *ctx = f->ctx;
    ns_dealloc(ctx, f->bytes);
    ns_dealloc(ctx, f->strings);
    ns_dealloc(ctx, f->tensors);
    ns_dealloc(ctx, f->by_name);
    ns_dealloc(ctx, f->meta);
    ns_dealloc(ctx, f);
}

int ns_st_count(const ns_st_file *f)
{
    NS_ASSERT(f != NULL);
    return f->n_tensors;
}

const ns_st_tensor *ns_st_get(const ns_st_file *f, int i)
{
    NS_ASSERT(f != NULL && i >= 0 && i < f->n_tensors);
    return &f->tensors[i];
}

const ns_st_tensor *ns_st_find(const ns_st_file *f, const char *name)
{
    NS_ASSERT(f != NULL && name != NULL);
    int lo = 0, hi = f->n_tensors; /* binary search over by_name[lo, hi) */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int ns_st_meta_count(const ns_st_file *f)
{
    NS_ASSERT(f != NULL);
    return f->n_meta;
}

const ns_st_meta *ns_st_meta_get(const ns_st_file *f, int i)
{
    NS_ASSERT(f != NULL && i >= 0 && i < f->n_meta);
    return &f->meta[i];
}

const char *ns_st_meta_find(const ns_st_file *f, const char *key)
{
    NS_ASSERT(f != NULL && key != NULL);
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

/* ---- messages -------------------------------------------------------------------------------- */

#define QUOTE_CAP 80
#define QUOTE_LIMIT (QUOTE_CAP - 8) /* room for an escape, "..." and the closing quote */

/* s in double quotes for a message, cut near 72 bytes (at a UTF-8 boundary) with control
 * characters as \xNN: names come from the file, and a hostile one must neither swamp the
 * message (which would lose the advice at its end) nor garble a terminal. */
static const char *quote(char *buf, const char *s)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o >= QUOTE_LIMIT) {
            /* Do not leave half a UTF-8 sequence before the "...". */
            if ((c & 0xC0) == 0x80) {
                while (o > 1 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
                    o--;
                if (o > 1 && (unsigned char)buf[o - 1] >= 0xC0)
                    o--;
            }
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F) {
            snprintf(buf + o, QUOTE_CAP - o, "\\x%02x", c);
            o += 4;
        } else if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* "[2, 3]" for messages. */
static const char *shape_str(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
    return buf;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* Records "FILE: <message>" with the given status. */
__attribute__((format(printf, 4, 5))) static ns_status
file_error(ns_ctx *ctx, ns_status status, const char *file, const char *fmt, ...)
{
    char msg[NS__ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ns_errorf(ctx, status, "%s: %s", file, msg);
}

/* Records "FILE: tensor "NAME": <message>" as NS_ERR_FORMAT. */
__attribute__((format(printf, 4, 5))) static ns_status
tensor_error(ns_ctx *ctx, const char *file, const char *name, const char *fmt, ...)
{
    char msg[NS__ERRMSG_CAP], q[QUOTE_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ns_errorf(ctx, NS_ERR_FORMAT, "%s: tensor %s: %s", file, quote(q, name), msg);
}

/* ---- reading --------------------------------------------------------------------------------- */

#define ENTRY_FORM "{\"dtype\": ..., \"shape\": [...], \"data_offsets\": [BEGIN, END]}"

/* One tensor while the header is validated: its name still points into the JSON tree. */
typedef struct st_span {
    uint64_t begin, end; /* relative to the byte buffer */
    int order;           /* position in the header, to order empty tensors at one offset */
    ns_st_tensor t;
} st_span;

static int cmp_span(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    /* An empty tensor at offset k sorts before the tensor that starts at k. */
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int cmp_by_name(const void *a, const void *b)
{
    const ns_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void write_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Turns a failed json_loadb into a message; jansson's text already quotes the token. */
static ns_status json_load_error(ns_ctx *ctx, const char *file, const json_error_t *err)
{
    switch (json_error_code(err)) {
    case json_error_out_of_memory:
        return file_error(ctx, NS_ERR_NOMEM, file, "out of memory parsing the header");
    case json_error_duplicate_key:
        return file_error(ctx, NS_ERR_FORMAT, file,
                          "%s (header line %d, column %d): tensor names, metadata keys and the "
                          "keys of each entry must be unique",
                          err->text, err->line, err->column);
    case json_error_null_byte_in_key:
        return file_error(ctx, NS_ERR_FORMAT, file,
                          "a name in the header contains a NUL character (\\u0000): %s (header "
                          "line %d, column %d); tensor names and metadata keys must not "
                          "contain NUL",
                          err->text, err->line, err->column);
    default:
        return file_error(ctx, NS_ERR_FORMAT, file,
                          "the header is not valid JSON: %s (header line %d, column %d)", err->text,
                          err->line, err->column);
    }
}

/* Validates __metadata__ (a {str: str} object) and counts its entries and string bytes. */
static ns_status check_metadata(ns_ctx *ctx, const char *file, json_t *meta, int *n_meta,
                                size_t *pool)
{
    if (!json_is_object(meta))
        return file_error(ctx, NS_ERR_FORMAT, file,
                          "__metadata__ is %s; it must be an object of strings, "
                          "{\"key\": \"value\", ...}",
                          json_kind(meta));
    const char *key;
    json_t *v;
    char q[QUOTE_CAP];
    json_object_foreach(meta, key, v)
    {
        if (!json_is_string(v))
            return file_error(ctx, NS_ERR_FORMAT, file,
                              "__metadata__ entry %s is %s; metadata values must be strings",
                              quote(q, key), json_kind(v));
        size_t vlen = json_string_length(v);
        /* Allowed in by JSON_ALLOW_NUL so that it can be named here; C strings cannot hold it. */
        if (memchr(json_string_value(v), '\0', vlen) != NULL)
            return file_error(ctx, NS_ERR_FORMAT, file,
                              "__metadata__ entry %s: the value contains a NUL character "
                              "(\\u0000), which netsmith cannot represent",
                              quote(q, key));
        *pool += strlen(key) + 1 + vlen + 1;
    }
    *n_meta = (int)json_object_size(meta);
    return NS_OK;
}

/* A non-negative JSON integer, or false. */
static bool get_count(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Validates one entry {"dtype", "shape", "data_offsets"} into span (everything but the
 * placement in the buffer, which needs all entries). */
static ns_status check_entry(ns_ctx *ctx, const char *file, const char *name, json_t *e,
                             st_span *span)
{
    if (!json_is_object(e))
        return tensor_error(ctx, file, name, "the entry is %s; expected " ENTRY_FORM, json_kind(e));
    const char *key;
    json_t *v;
    char q[QUOTE_CAP];
    json_object_foreach(e, key, v)
    {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
            strcmp(key, "data_offsets") != 0)
            return tensor_error(ctx, file, name,
                                "unknown key %s in the entry; the keys are dtype, shape and "
                                "data_offsets",
                                quote(q, key));
    }
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    for (int k = 0; k < 3; k++)
        if (json_object_get(e, keys[k]) == NULL)
            return tensor_error(ctx, file, name, "the entry has no \"%s\"; expected " ENTRY_FORM,
                                keys[k]);

    /* dtype: compared with its length so that "F32\u0000" is not F32. */
    const json_t *jd = json_object_get(e, "dtype");
    if (!json_is_string(jd))
        return tensor_error(ctx, file, name, "dtype is %s, not a string such as \"F32\"",
                            json_kind(jd));
    int dtype = -1;
    for (int d = 0; d < NS_DTYPE_COUNT; d++)
        if (json_string_length(jd) == strlen(dtype_table[d].name) &&
            memcmp(json_string_value(jd), dtype_table[d].name, json_string_length(jd)) == 0)
            dtype = d;
    if (dtype < 0)
        return tensor_error(ctx, file, name, "unknown dtype %s; known dtypes: %s",
                            quote(q, json_string_value(jd)), known_dtypes + 2);
    span->t.dtype = (ns_dtype)dtype;

    /* shape */
    const json_t *js = json_object_get(e, "shape");
    if (!json_is_array(js))
        return tensor_error(ctx, file, name,
                            "shape is %s; it must be an array of non-negative integers ([] for "
                            "a scalar)",
                            json_kind(js));
    size_t ndim = json_array_size(js);
    if (ndim > NS_ST_MAX_DIMS)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                         "%s: tensor %s: shape has %zu dimensions; netsmith reads at most %d", file,
                         quote(q, name), ndim, NS_ST_MAX_DIMS);
    span->t.ndim = (int)ndim;
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t dim;
        const json_t *jv = json_array_get(js, d);
        if (!get_count(jv, &dim))
            return tensor_error(ctx, file, name,
                                "shape[%zu] is %s; dimensions must be non-negative integers", d,
                                json_is_integer(jv) ? "negative" : json_kind(jv));
        span->t.shape[d] = (int64_t)dim;
        overflow |= __builtin_mul_overflow(numel, dim, &numel);
    }
    char sbuf[160];
    shape_str(sbuf, sizeof sbuf, span->t.shape, span->t.ndim);
    uint64_t nbytes;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)dtype_table[dtype].size, &nbytes) ||
        nbytes > SIZE_MAX)
        return tensor_error(ctx, file, name,
                            "shape %s x %s: the size in bytes overflows 64 bits; the shape is "
                            "corrupt",
                            sbuf, dtype_table[dtype].name);
    span->t.nbytes = (size_t)nbytes;

    /* data_offsets */
    const json_t *jo = json_object_get(e, "data_offsets");
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !get_count(json_array_get(jo, 0), &span->begin) ||
        !get_count(json_array_get(jo, 1), &span->end))
        return tensor_error(ctx, file, name,
                            "data_offsets must be two non-negative integers [BEGIN, END]");
    if (span->begin > span->end)
        return tensor_error(ctx, file, name,
                            "data_offsets [%" PRIu64 ", %" PRIu64 "]: BEGIN is after END",
                            span->begin, span->end);
    if (span->end - span->begin != nbytes)
        return tensor_error(ctx, file, name,
                            "data_offsets [%" PRIu64 ", %" PRIu64 "] cover %" PRIu64
                            " bytes, but shape %s x %s (%zu bytes each) needs %" PRIu64 " bytes",
                            span->begin, span->end, span->end - span->begin, sbuf,
                            dtype_table[dtype].name, dtype_table[dtype].size, nbytes);
    return NS_OK;
}

/* Checks that the sorted spans tile the byte buffer [0, data_len) exactly. */
static ns_status check_tiling(ns_ctx *ctx, const char *file, const st_span *spans, int n,
                              uint64_t data_len)
{
    uint64_t at = 0; /* where the next tensor must start */
    char q[QUOTE_CAP];
    for (int i = 0; i < n; i++) {
        const st_span *s = &spans[i];
        if (s->begin > at) {
            if (i == 0)
                return tensor_error(ctx, file, s->t.name,
                                    "the first tensor starts at byte %" PRIu64
                                    ", not 0; the tensors must fill the byte buffer from its "
                                    "start without gaps",
                                    s->begin);
            return tensor_error(ctx, file, s->t.name,
                                "data_offsets [%" PRIu64 ", %" PRIu64 "] leave a gap of %" PRIu64
                                " bytes after tensor %s, which ends at %" PRIu64
                                "; the tensors must fill the byte buffer without gaps",
                                s->begin, s->end, s->begin - at, quote(q, spans[i - 1].t.name), at);
        }
        if (s->begin < at) {
            const st_span *p = &spans[i - 1]; /* i > 0 since at > 0 */
            return tensor_error(ctx, file, s->t.name,
                                "data_offsets [%" PRIu64 ", %" PRIu64
                                "] overlap tensor %s at [%" PRIu64 ", %" PRIu64
                                "]; each byte belongs to one tensor",
                                s->begin, s->end, quote(q, p->t.name), p->begin, p->end);
        }
        if (s->end > data_len)
            return tensor_error(ctx, file, s->t.name,
                                "data_offsets [%" PRIu64 ", %" PRIu64
                                "] run past the end of the file: the byte buffer after the "
                                "header holds only %" PRIu64 " bytes (is the file truncated?)",
                                s->begin, s->end, data_len);
        at = s->end;
    }
    if (at < data_len) {
        if (n == 0)
            return file_error(ctx, NS_ERR_FORMAT, file,
                              "the header lists no tensors but %" PRIu64
                              " bytes of data follow it; trailing bytes are not allowed",
                              data_len);
        return file_error(ctx, NS_ERR_FORMAT, file,
                          "%" PRIu64
                          " trailing bytes after the last tensor (%s ends at byte %" PRIu64
                          " of a %" PRIu64 "-byte buffer); trailing bytes are not allowed",
                          data_len - at, quote(q, spans[n - 1].t.name), at, data_len);
    }
    return NS_OK;
}

static char *pool_put(char **pool, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = *pool;
    memcpy(d, s, n);
    *pool += n;
    return d;
}

/* Validates the parsed header and fills f (its bytes are already set). */
static ns_status load_header(ns_st_file *f, const char *file, json_t *root, size_t data_off)
{
    ns_ctx *ctx = f->ctx;
    if (!json_is_object(root))
        return file_error(ctx, NS_ERR_FORMAT, file,
                          "the header is %s, not a JSON object; expected {\"NAME\": " ENTRY_FORM
                          ", ...}",
                          json_kind(root));
    size_t pool_len = 0;
    json_t *meta = json_object_get(root, "__metadata__");
    if (meta != NULL) {
        ns_status st = check_metadata(ctx, file, meta, &f->n_meta, &pool_len);
        if (st != NS_OK)
            return st;
    }
    /* Cannot exceed INT_MAX within NS_ST_MAX_HEADER bytes, but an int is the interface. */
    size_t n = json_object_size(root) - (meta != NULL);
    if (n > INT_MAX)
        return file_error(ctx, NS_ERR_FORMAT, file, "%zu tensors are too many", n);

    st_span *spans = n ? ns_calloc(ctx, n, sizeof *spans) : NULL;
    if (n && spans == NULL)
        return NS_ERR_NOMEM;
    ns_status st = NS_OK;
    int k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        spans[k].order = k;
        spans[k].t.name = key;
        st = check_entry(ctx, file, key, v, &spans[k]);
        if (st != NS_OK)
            goto done;
        pool_len += strlen(key) + 1;
        k++;
    }
    if (n > 1)
        qsort(spans, n, sizeof *spans, cmp_span);
    st = check_tiling(ctx, file, spans, (int)n, f->len - data_off);
    if (st != NS_OK)
        goto done;

    /* Valid: copy the strings out of the JSON tree and lay out the tables. */
    st = NS_ERR_NOMEM;
    if (pool_len && (f->strings = ns_alloc(ctx, pool_len)) == NULL)
        goto done;
    if (n && ((f->tensors = ns_calloc(ctx, n, sizeof *f->tensors)) == NULL ||
              (f->by_name = ns_calloc(ctx, n, sizeof *f->by_name)) == NULL))
        goto done;
    if (f->n_meta && (f->meta = ns_calloc(ctx, (size_t)f->n_meta, sizeof *f->meta)) == NULL)
        goto done;
    char *pool = f->strings;
    if (meta != NULL) {
        int m = 0;
        json_object_foreach(meta, key, v)
        {
            f->meta[m].key = pool_put(&pool, key);
            f->meta[m].value = pool_put(&pool, json_string_value(v));
            m++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        ns_st_tensor *t = &f->tensors[i];
        *t = spans[i].t;
        t->name = pool_put(&pool, spans[i].t.name);
        t->data = f->bytes + data_off + spans[i].begin;
        f->by_name[i] = t;
    }
    f->n_tensors = (int)n;
    if (n > 1)
        qsort(f->by_name, n, sizeof *f->by_name, cmp_by_name);
    st = NS_OK;
done:
    ns_dealloc(ctx, spans);
    return st;
}

/* Parses bytes[0, len), which the result takes over (freed on failure). */
static ns_status parse_owned(ns_ctx *ctx, unsigned char *bytes, size_t len, const char *file,
                             ns_st_file **out)
{
    ns_st_file *f = ns_calloc(ctx, 1, sizeof *f);
    if (f == NULL) {
        ns_dealloc(ctx, bytes);
        return NS_ERR_NOMEM;
    }
    f->ctx = ctx;
    f->bytes = bytes;
    f->len = len;

    ns_status st;
    if (len < 8) {
        st = file_error(ctx, NS_ERR_FORMAT, file,
                        "the file is %zu bytes, shorter than the 8-byte header length that "
                        "starts a safetensors file (empty or truncated?)",
                        len);
        goto fail;
    }
    uint64_t hlen = read_le64(bytes);
    if (hlen > NS_ST_MAX_HEADER) {
        st = file_error(ctx, NS_ERR_FORMAT, file,
                        "the header length is %" PRIu64 " bytes, over the limit of %llu; the "
                        "file is corrupt or not a safetensors file",
                        hlen, NS_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > len - 8) {
        st = file_error(ctx, NS_ERR_FORMAT, file,
                        "the header length is %" PRIu64 " bytes but only %zu bytes follow the "
                        "length; the file is truncated or not a safetensors file",
                        hlen, len - 8);
        goto fail;
    }
    /* ALLOW_NUL so that a NUL in a value is reported by name rather than as bad JSON. */
    json_error_t jerr;
    json_t *root = json_loadb((const char *)bytes + 8, (size_t)hlen,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        st = json_load_error(ctx, file, &jerr);
        goto fail;
    }
    st = load_header(f, file, root, 8 + (size_t)hlen);
    json_decref(root);
    if (st != NS_OK)
        goto fail;
    *out = f;
    return NS_OK;
fail:
    ns_st_close(f);
    return st;
}

ns_status ns_st_parse(ns_ctx *ctx, const void *buf, size_t len, const char *name, ns_st_file **out)
{
    NS_ASSERT(ctx != NULL && out != NULL && (buf != NULL || len == 0));
    *out = NULL;
    if (name == NULL)
        name = "(buffer)";
    unsigned char *copy = ns_alloc(ctx, len ? len : 1);
    if (copy == NULL)
        return NS_ERR_NOMEM;
    if (len)
        memcpy(copy, buf, len);
    return parse_owned(ctx, copy, len, name, out);
}

ns_status ns_st_open(ns_ctx *ctx, const char *path, ns_st_file **out)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL);
    *out = NULL;
    char *buf;
    size_t len;
    ns_status st = ns_read_file(ctx, path, &buf, &len);
    if (st != NS_OK)
        return st;
    return parse_owned(ctx, (unsigned char *)buf, len, path, out);
}

ns_status ns_read_file(ns_ctx *ctx, const char *path, char **out, size_t *len)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL && len != NULL);
    *out = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return ns_errorf(ctx, NS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    /* The size is a hint (pipes and /proc report 0); the loop grows past it. One byte of
     * slack beyond the NUL lets a file of exactly that size reach end-of-file unmoved. */
    struct stat sb;
    size_t cap = 4096;
    if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size < SIZE_MAX - 2)
        cap = (size_t)sb.st_size + 2;
    char *buf = ns_alloc(ctx, cap);
    size_t n = 0;
    if (buf == NULL)
        goto nomem;
    for (;;) {
        if (cap - n < 2) {
            if (cap > SIZE_MAX / 2)
                goto nomem;
            char *grown = ns_realloc(ctx, buf, cap * 2);
            if (grown == NULL)
                goto nomem;
            buf = grown;
            cap *= 2;
        }
        size_t want = cap - 1 - n;
        size_t got = fread(buf + n, 1, want, fp);
        n += got;
        if (got < want) { /* end of file or an error */
            if (ferror(fp)) {
                int err = errno;
                fclose(fp);
                ns_dealloc(ctx, buf);
                return ns_errorf(ctx, NS_ERR_IO, "%s: cannot read: %s", path, strerror(err));
            }
            break;
        }
    }
    fclose(fp);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return NS_OK;
nomem:
    fclose(fp);
    ns_dealloc(ctx, buf);
    return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory reading the file", path);
}

/* ---- writing --------------------------------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as JSON and the
 * official reader (a Rust String) require. */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int extra;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        for (int i = 1; i <= extra; i++) {
            if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
                return false;
            c = c << 6 | (s[i] & 0x3Fu);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        s += extra + 1;
    }
    return true;
}

/* Validates what is to be written; messages start with `what` (the path or the function). */
static ns_status check_input(ns_ctx *ctx, const char *what, const ns_st_tensor *tensors, int n,
                             const ns_st_meta *meta, int n_meta, size_t *data_len)
{
    char q[QUOTE_CAP];
    if (n < 0 || n_meta < 0 || (n > 0 && tensors == NULL) || (n_meta > 0 && meta == NULL))
        return ns_errorf(ctx, NS_ERR_INVALID, "%s: bad tensor (%d) or metadata (%d) count", what, n,
                         n_meta);
    for (int i = 0; i < n_meta; i++) {
        if (meta[i].key == NULL || meta[i].value == NULL)
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: metadata entry %d has a NULL key or value",
                             what, i);
        if (!utf8_valid(meta[i].key) || !utf8_valid(meta[i].value))
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "%s: metadata entry %s: the key or value is not valid UTF-8", what,
                             quote(q, meta[i].key));
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const ns_st_tensor *t = &tensors[i];
        if (t->name == NULL)
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: tensor %d has a NULL name", what, i);
        const char *qn = quote(q, t->name);
        if (strcmp(t->name, "__metadata__") == 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "%s: tensor %d is named \"__metadata__\", which the format "
                             "reserves for metadata",
                             what, i);
        if (!utf8_valid(t->name))
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: tensor %s: the name is not valid UTF-8",
                             what, qn);
        if ((unsigned)t->dtype >= NS_DTYPE_COUNT)
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: tensor %s: bad dtype %d", what, qn,
                             (int)t->dtype);
        if (t->ndim < 0 || t->ndim > NS_ST_MAX_DIMS)
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: tensor %s: ndim is %d; it must be 0 to %d",
                             what, qn, t->ndim, NS_ST_MAX_DIMS);
        uint64_t numel = 1;
        bool overflow = false;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return ns_errorf(ctx, NS_ERR_INVALID,
                                 "%s: tensor %s: shape[%d] is negative (%" PRId64 ")", what, qn, d,
                                 t->shape[d]);
            overflow |= __builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel);
        }
        uint64_t nbytes;
        overflow |= __builtin_mul_overflow(numel, (uint64_t)ns_dtype_size(t->dtype), &nbytes);
        if (overflow || nbytes != t->nbytes) {
            char sbuf[160];
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "%s: tensor %s: nbytes is %zu but shape %s x %s needs %s%" PRIu64
                             " bytes",
                             what, qn, t->nbytes, shape_str(sbuf, sizeof sbuf, t->shape, t->ndim),
                             ns_dtype_name(t->dtype), overflow ? "more than " : "",
                             overflow ? UINT64_MAX : nbytes);
        }
        if (t->nbytes > 0 && t->data == NULL)
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: tensor %s: data is NULL", what, qn);
        /* Offsets go into JSON as json_int_t (long long). */
        if (__builtin_add_overflow(total, t->nbytes, &total) || total > (uint64_t)LLONG_MAX)
            return ns_errorf(ctx, NS_ERR_INVALID, "%s: the tensors total more than 2^63 bytes",
                             what);
    }
    *data_len = total;
    return NS_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [begin, end]} or NULL on out of memory. */
static json_t *entry_json(const ns_st_tensor *t, size_t begin)
{
    json_t *e = json_object(), *shape = json_array(), *offsets = json_array();
    bool ok = e != NULL && shape != NULL && offsets != NULL;
    /* The _new calls take over (or on failure free) the value they are handed. */
    for (int d = 0; ok && d < t->ndim; d++)
        ok = json_array_append_new(shape, json_integer(t->shape[d])) == 0;
    ok = ok && json_array_append_new(offsets, json_integer((json_int_t)begin)) == 0 &&
         json_array_append_new(offsets, json_integer((json_int_t)(begin + t->nbytes))) == 0 &&
         json_object_set_new_nocheck(e, "dtype", json_string_nocheck(ns_dtype_name(t->dtype))) ==
             0 &&
         json_object_set_nocheck(e, "shape", shape) == 0 &&
         json_object_set_nocheck(e, "data_offsets", offsets) == 0;
    json_decref(shape);
    json_decref(offsets);
    if (!ok) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* Builds the length prefix and the space-padded header into one buffer of *len bytes plus
 * `extra` bytes of room after it (for the data, when serializing). The input is valid. */
static ns_status build_header(ns_ctx *ctx, const char *what, const ns_st_tensor *tensors, int n,
                              const ns_st_meta *meta, int n_meta, size_t extra, unsigned char **out,
                              size_t *len)
{
    char q[QUOTE_CAP];
    ns_status st = NS_OK;
    unsigned char *buf = NULL;
    json_t *root = json_object();
    if (root == NULL)
        goto nomem;
    if (n_meta > 0) {
        json_t *m = json_object();
        if (m == NULL || json_object_set_new_nocheck(root, "__metadata__", m) != 0)
            goto nomem;
        for (int i = 0; i < n_meta; i++) {
            if (json_object_get(m, meta[i].key) != NULL) {
                st = ns_errorf(ctx, NS_ERR_INVALID, "%s: metadata key %s appears twice", what,
                               quote(q, meta[i].key));
                goto out;
            }
            if (json_object_set_new_nocheck(m, meta[i].key, json_string_nocheck(meta[i].value)) !=
                0)
                goto nomem;
        }
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        if (json_object_get(root, tensors[i].name) != NULL) {
            st = ns_errorf(ctx, NS_ERR_INVALID,
                           "%s: tensor name %s appears twice; names must be unique", what,
                           quote(q, tensors[i].name));
            goto out;
        }
        if (json_object_set_new_nocheck(root, tensors[i].name, entry_json(&tensors[i], offset)))
            goto nomem;
        offset += tensors[i].nbytes;
    }
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    size_t hlen = json_dumpb(root, NULL, 0, flags);
    if (hlen == 0)
        goto nomem;
    /* Pad with spaces so the byte buffer starts 8-byte aligned, as the official writer does:
     * a reader that maps the file can then use the tensors in place. */
    size_t padded = (hlen + 7) / 8 * 8;
    if (padded > NS_ST_MAX_HEADER) {
        st = ns_errorf(ctx, NS_ERR_INVALID,
                       "%s: the header would be %zu bytes, over the format's limit of %llu", what,
                       padded, NS_ST_MAX_HEADER);
        goto out;
    }
    if (extra > SIZE_MAX - 8 - padded)
        goto nomem;
    buf = ns_alloc(ctx, 8 + padded + extra);
    if (buf == NULL) {
        st = NS_ERR_NOMEM;
        goto out;
    }
    write_le64(buf, padded);
    if (json_dumpb(root, (char *)buf + 8, hlen, flags) != hlen)
        goto nomem;
    memset(buf + 8 + hlen, ' ', padded - hlen);
    *out = buf;
    *len = 8 + padded;
    buf = NULL;
    goto out;
nomem:
    st = ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory building the header", what);
out:
    ns_dealloc(ctx, buf);
    json_decref(root);
    return st;
}

ns_status ns_st_serialize(ns_ctx *ctx, const ns_st_tensor *tensors, int n, const ns_st_meta *meta,
                          int n_meta, unsigned char **out, size_t *len)
{
    NS_ASSERT(ctx != NULL && out != NULL && len != NULL);
    *out = NULL;
    *len = 0;
    const char *what = "ns_st_serialize";
    size_t data_len, hdr_len = 0;
    unsigned char *buf = NULL;
    ns_status st = check_input(ctx, what, tensors, n, meta, n_meta, &data_len);
    if (st == NS_OK)
        st = build_header(ctx, what, tensors, n, meta, n_meta, data_len, &buf, &hdr_len);
    if (st != NS_OK)
        return st;
    size_t at = hdr_len;
    for (int i = 0; i < n; i++) {
        if (tensors[i].nbytes > 0)
            memcpy(buf + at, tensors[i].data, tensors[i].nbytes);
        at += tensors[i].nbytes;
    }
    *out = buf;
    *len = at;
    return NS_OK;
}

ns_status ns_st_write(ns_ctx *ctx, const char *path, const ns_st_tensor *tensors, int n,
                      const ns_st_meta *meta, int n_meta)
{
    NS_ASSERT(ctx != NULL && path != NULL);
    size_t data_len, hdr_len;
    unsigned char *hdr = NULL;
    ns_status st = check_input(ctx, path, tensors, n, meta, n_meta, &data_len);
    if (st == NS_OK)
        st = build_header(ctx, path, tensors, n, meta, n_meta, 0, &hdr, &hdr_len);
    if (st != NS_OK)
        return st;
    /* Written beside the target and renamed over it, so a reader never sees half a file and
     * a crash leaves either the old file or the new one. */
    ns_file_writer *w = NULL;
    st = ns_file_writer_open(ctx, path, &w);
    if (st == NS_OK) {
        FILE *fp = ns_file_writer_stream(w);
        bool ok = fwrite(hdr, 1, hdr_len, fp) == hdr_len;
        for (int i = 0; ok && i < n; i++)
            ok = tensors[i].nbytes == 0 ||
                 fwrite(tensors[i].data, 1, tensors[i].nbytes, fp) == tensors[i].nbytes;
        if (!ok)
            st = ns_errorf(ctx, NS_ERR_IO, "%s: cannot write the temporary file: %s; the file "
                                           "is unchanged",
                           path, strerror(errno));
        else
            st = ns_file_writer_commit(w);
    }
    ns_file_writer_close(w);
    ns_dealloc(ctx, hdr);
    return st;
}
