/* The context's struct and its pool, private to core (core.c, ctx.c, threads.c). Other
 * modules use the context only through netsmith/core.h and core/core_internal.h. */
#ifndef NETSMITH_CTX_PRIVATE_H
#define NETSMITH_CTX_PRIVATE_H

#include "core/core_internal.h"

/* The context's worker pool (core/threads.c). */
typedef struct ns__pool ns__pool;

struct ns_ctx {
    ns_allocator alloc;
    char msg[NS__ERRMSG_CAP];
    char path[256]; /* the JSON path of the error in msg, or "" (ns_error_path) */
    int threads;      /* ns_ctx_set_threads: 1 = the calling thread only */
    ns__pool *pool;   /* threads - 1 workers, made on first use; NULL until then */
    bool pool_failed; /* the pool could not be made (memory, threads): run on the caller */
};

/* Stops and frees ctx's pool, if any (ns_ctx_free, ns_ctx_set_threads). */
void ns__pool_free(ns_ctx *ctx);

#endif
