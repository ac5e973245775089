/* The context's life: made with its allocation hooks (the standard ones by default) and the
 * default thread count, once OpenBLAS is loaded; freed with its worker pool. Above both
 * core.c (allocation, errors) and threads.c (the pool). */
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/ctx_private.h"

static void *std_malloc(void *ud, size_t size)
{
    (void)ud;
    return malloc(size);
}
static void *std_realloc(void *ud, void *ptr, size_t size)
{
    (void)ud;
    return realloc(ptr, size);
}
static void std_free(void *ud, void *ptr)
{
    (void)ud;
    free(ptr);
}

ns_status ns_ctx_new(const ns_allocator *alloc, ns_ctx **out)
{
    NS_ASSERT(out != NULL);
    *out = NULL;
    ns_status st = ns__blas_load();
    if (st != NS_OK)
        return st;
    ns_allocator a = {std_malloc, std_realloc, std_free, NULL};
    if (alloc != NULL) {
        NS_ASSERT(alloc->malloc && alloc->realloc && alloc->free);
        a = *alloc;
    }
    ns_ctx *ctx = a.malloc(a.ud, sizeof *ctx);
    if (ctx == NULL)
        return NS_ERR_NOMEM;
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = a;
    ctx->threads = ns_ctx_default_threads();
    *out = ctx;
    return NS_OK;
}

void ns_ctx_free(ns_ctx *ctx)
{
    if (ctx == NULL)
        return;
    ns__pool_free(ctx);
    ns_allocator a = ctx->alloc;
    a.free(a.ud, ctx);
}
