/* Core: status strings, the context's error message and allocation through its hooks, the
 * arena, tensor views and number formatting. The context is made and freed in ctx.c. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx_private.h"

const char *ns_version(void) { return NS_VERSION_STRING; }

const char *ns_status_str(ns_status status)
{
    switch (status) {
#define NS__STATUS_CASE(name, value, desc)                                                         \
    case NS_##name:                                                                                \
        return desc;
        NS_STATUS_MAP(NS__STATUS_CASE)
#undef NS__STATUS_CASE
    }
    return "unknown status";
}

void ns__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "netsmith: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

/* ---- the context's error message and allocation ---------------------------------- */

const char *ns_errmsg(const ns_ctx *ctx) { return ctx ? ctx->msg : "no context"; }
const char *ns_error_path(const ns_ctx *ctx) { return ctx ? ctx->path : ""; }

void ns__error_set_path(ns_ctx *ctx, const char *path)
{
    if (ctx != NULL)
        snprintf(ctx->path, sizeof ctx->path, "%s", path != NULL ? path : "");
}

void ns_errclear(ns_ctx *ctx)
{
    ctx->msg[0] = '\0';
    ctx->path[0] = '\0';
}

ns_status ns_verrorf(ns_ctx *ctx, ns_status status, const char *fmt, va_list ap)
{
    if (ctx != NULL) {
        /* The message may be built from the previous one ("%s", ns_errmsg(ctx)). */
        char tmp[NS__ERRMSG_CAP];
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        /* a message around the previous one is still about its place */
        if (ctx->path[0] != '\0' && (ctx->msg[0] == '\0' || strstr(tmp, ctx->msg) == NULL))
            ctx->path[0] = '\0';
        memcpy(ctx->msg, tmp, sizeof tmp);
    }
    return status;
}

ns_status ns_errorf(ns_ctx *ctx, ns_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ns_verrorf(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

void *ns_alloc(ns_ctx *ctx, size_t size)
{
    if (size == 0)
        return NULL;
    void *p = ctx->alloc.malloc(ctx->alloc.ud, size);
    if (p == NULL)
        ns_errorf(ctx, NS_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *ns_calloc(ns_ctx *ctx, size_t count, size_t size)
{
    if (count == 0 || size == 0)
        return NULL;
    if (count > SIZE_MAX / size) {
        ns_errorf(ctx, NS_ERR_NOMEM, "out of memory: %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = ns_alloc(ctx, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *ns_realloc(ns_ctx *ctx, void *ptr, size_t size)
{
    NS_ASSERT(size > 0);
    void *p = ctx->alloc.realloc(ctx->alloc.ud, ptr, size);
    if (p == NULL)
        ns_errorf(ctx, NS_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *ns__realloc_quiet(ns_ctx *ctx, void *ptr, size_t size)
{
    NS_ASSERT(size > 0);
    return ctx->alloc.realloc(ctx->alloc.ud, ptr, size);
}

void ns_dealloc(ns_ctx *ctx, void *ptr)
{
    if (ptr != NULL)
        ctx->alloc.free(ctx->alloc.ud, ptr);
}

void ns__free_strings(ns_ctx *ctx, char **strings, int n)
{
    if (strings == NULL)
        return;
    for (int i = 0; i < n; i++)
        ns_dealloc(ctx, strings[i]);
    ns_dealloc(ctx, strings);
}

char *ns_strdup(ns_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ns_alloc(ctx, n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* ---- arena ------------------------------------------------------------------------- */

#define NS__ARENA_ALIGN 64

size_t ns_arena_plan_floats(size_t n)
{
    size_t bytes = n * sizeof(float);
    return (bytes + NS__ARENA_ALIGN - 1) / NS__ARENA_ALIGN * NS__ARENA_ALIGN;
}

ns_status ns_arena_init(ns_ctx *ctx, ns_arena *arena, size_t cap)
{
    memset(arena, 0, sizeof *arena);
    if (cap == 0)
        return NS_OK;
    /* Over-allocate so the base can be aligned; remember the raw pointer just before it. */
    unsigned char *raw = ns_alloc(ctx, cap + NS__ARENA_ALIGN + sizeof(void *));
    if (raw == NULL)
        return NS_ERR_NOMEM;
    uintptr_t p = (uintptr_t)(raw + sizeof(void *));
    p = (p + NS__ARENA_ALIGN - 1) & ~(uintptr_t)(NS__ARENA_ALIGN - 1);
    unsigned char *base = (unsigned char *)p;
    memcpy(base - sizeof(void *), &raw, sizeof raw);
    memset(base, 0, cap);
    arena->base = base;
    arena->cap = cap;
    return NS_OK;
}

void ns_arena_deinit(ns_ctx *ctx, ns_arena *arena)
{
    if (arena->base != NULL) {
        void *raw;
        memcpy(&raw, arena->base - sizeof(void *), sizeof raw);
        ns_dealloc(ctx, raw);
    }
    memset(arena, 0, sizeof *arena);
}

float *ns_arena_floats(ns_arena *arena, size_t n)
{
    size_t need = ns_arena_plan_floats(n);
    if (n == 0 || need > arena->cap - arena->used)
        return NULL;
    float *p = (float *)(void *)(arena->base + arena->used);
    arena->used += need;
    return p;
}

/* ---- tensors -------------------------------------------------------------------------- */

int64_t ns_tensor_numel(const ns_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

ns_tensor ns_tensor_view(float *data, int ndim, const int64_t *shape)
{
    NS_ASSERT(ndim >= 0 && ndim <= NS_MAX_DIMS);
    ns_tensor t = {.data = data, .ndim = ndim};
    for (int i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    return t;
}

/* ---- numbers --------------------------------------------------------------------------- */

/* The C locale for this thread until c_locale_end; (locale_t)0 when none could be made (the
 * calls then run in the thread's locale, as before). newlocale of "C" allocates nothing in
 * glibc. */
static locale_t c_locale_begin(locale_t *c)
{
    *c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return *c != (locale_t)0 ? uselocale(*c) : (locale_t)0;
}

static void c_locale_end(locale_t c, locale_t old)
{
    if (c != (locale_t)0) {
        uselocale(old);
        freelocale(c);
    }
}

double ns__strtod(const char *s, char **end)
{
    locale_t c, old = c_locale_begin(&c);
    double v = strtod(s, end);
    int saved = errno;
    c_locale_end(c, old);
    errno = saved;
    return v;
}

int ns__snprintf_c(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    locale_t c, old = c_locale_begin(&c);
    int n = vsnprintf(buf, cap, fmt, ap);
    c_locale_end(c, old);
    va_end(ap);
    return n;
}

/* Doubles as they print in canonical JSON: integral values keep a ".0" so they read as reals. */
void ns__format_real(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e16) {
        ns__snprintf_c(buf, cap, "%.1f", v); /* "0.0" under any locale */
        return;
    }
    ns__format_double(buf, cap, v);
}

void ns__format_double(char *buf, size_t cap, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, cap, "%s", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return;
    }
    locale_t c, old = c_locale_begin(&c);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    c_locale_end(c, old);
    /* Integers keep a ".0" only when they would otherwise read as integers in JSON and the
     * caller wants a real; callers decide. */
}

/* ---- progress ------------------------------------------------------------------------------------- */

ns_status ns_progress_report(ns_ctx *ctx, const ns_progress *progress, const char *stage,
                             double done, double total)
{
    if (progress == NULL)
        return NS_OK;
    bool go_on = true;
    if (progress->cancel != NULL && atomic_load(progress->cancel) != 0)
        go_on = false;
    else if (progress->fn != NULL)
        go_on = progress->fn(progress->ud, stage, done, total);
    if (!go_on)
        return ns_errorf(ctx, NS_ERR_CANCELLED, "%s: cancelled", stage);
    return NS_OK;
}
