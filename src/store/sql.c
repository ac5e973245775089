/* What both backends share: building a result, reading it and freeing it, and the few helpers
 * their messages and timeouts use. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"

const ns__sql_value *ns__sql_at(const ns__sql_result *r, int row, int col)
{
    NS_ASSERT(r != NULL && row >= 0 && row < r->rows && col >= 0 && col < r->cols);
    return &r->v[(size_t)row * (size_t)r->cols + (size_t)col];
}

void ns__sql_result_free(ns_ctx *ctx, ns__sql_result *r)
{
    if (r == NULL)
        return;
    ns_dealloc(ctx, r->mem);
    ns_dealloc(ctx, r->v);
    ns_dealloc(ctx, r->names);
    ns_dealloc(ctx, r);
}

/* ---- building a result ---------------------------------------------------------------- */

/* The column names in one block (sql.c frees r->names alone): cols pointers, then the names. */
ns_status ns__sql_build_start(ns__sql_build *b, ns_ctx *ctx, int cols,
                              const char *(*name)(void *src, int col), void *src)
{
    NS_ASSERT(b != NULL && ctx != NULL && cols >= 1 && name != NULL);
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
    size_t bytes = (size_t)cols * sizeof(char *);
    for (int i = 0; i < cols; i++) {
        const char *n = name(src, i);
        bytes += strlen(n != NULL ? n : "") + 1;
    }
    ns__sql_result *r = ns_calloc(ctx, 1, sizeof *r);
    if (r == NULL)
        return NS_ERR_NOMEM;
    r->names = ns_alloc(ctx, bytes);
    if (r->names == NULL) {
        ns_dealloc(ctx, r);
        return NS_ERR_NOMEM;
    }
    char *at = (char *)(r->names + cols);
    for (int i = 0; i < cols; i++) {
        const char *n = name(src, i);
        size_t len = strlen(n != NULL ? n : "");
        memcpy(at, n != NULL ? n : "", len + 1);
        r->names[i] = at;
        at += len + 1;
    }
    r->cols = cols;
    b->r = r;
    return NS_OK;
}

ns_status ns__sql_build_add(ns__sql_build *b, const ns__sql_value *v)
{
    NS_ASSERT(b != NULL && b->r != NULL && v != NULL);
    ns__sql_result *r = b->r;
    if (b->count == b->vcap) {
        size_t cap = b->vcap != 0 ? 2 * b->vcap : (size_t)r->cols * 8;
        ns__sql_value *nv = ns_realloc(b->ctx, r->v, cap * sizeof *nv);
        if (nv == NULL)
            return NS_ERR_NOMEM;
        r->v = nv;
        b->vcap = cap;
    }
    ns__sql_value out = *v;
    if (v->type == NS__SQL_TEXT || v->type == NS__SQL_BLOB) {
        size_t n = v->type == NS__SQL_TEXT ? strlen(v->s) : v->n;
        if (b->cap - b->used < n + 1) {
            size_t cap = b->cap != 0 ? b->cap : 256;
            while (cap - b->used < n + 1)
                cap *= 2;
            char *nm = ns_realloc(b->ctx, r->mem, cap);
            if (nm == NULL)
                return NS_ERR_NOMEM;
            r->mem = nm;
            b->cap = cap;
        }
        char *at = (char *)r->mem + b->used;
        if (n > 0)
            memcpy(at, v->s, n);
        at[n] = '\0';
        out.s = NULL;
        out.n = n;
        out.i = (int64_t)b->used; /* the offset, until the block stops moving */
        b->used += n + 1;
    }
    r->v[b->count++] = out;
    return NS_OK;
}

ns__sql_result *ns__sql_build_finish(ns__sql_build *b)
{
    NS_ASSERT(b != NULL && b->r != NULL && b->count % (size_t)b->r->cols == 0);
    ns__sql_result *r = b->r;
    r->rows = (int)(b->count / (size_t)r->cols);
    for (size_t k = 0; k < b->count; k++) {
        ns__sql_value *v = &r->v[k];
        if (v->type == NS__SQL_TEXT || v->type == NS__SQL_BLOB) {
            v->s = (const char *)r->mem + v->i;
            v->i = 0;
        }
    }
    b->r = NULL;
    return r;
}

void ns__sql_build_abandon(ns__sql_build *b)
{
    if (b == NULL || b->r == NULL)
        return;
    ns__sql_result_free(b->ctx, b->r);
    b->r = NULL;
}

/* ---- helpers -------------------------------------------------------------------------- */

const char *ns__sql_head(const char *sql, char *buf, size_t cap)
{
    NS_ASSERT(sql != NULL && buf != NULL && cap >= 8);
    size_t at = 0, word_end = 0;
    bool cut = false, space = false;
    for (const char *p = sql; *p != '\0'; p++) {
        if (isspace((unsigned char)*p)) {
            space = at > 0;
            continue;
        }
        if (space) {
            word_end = at;
            if (at + 1 >= cap - 4) {
                cut = true;
                break;
            }
            buf[at++] = ' ';
            space = false;
        }
        if (at + 1 >= cap - 4) {
            cut = true;
            break;
        }
        buf[at++] = *p;
    }
    if (cut) {
        at = word_end > 0 ? word_end : at;
        memcpy(buf + at, " ...", 4);
        at += 4;
    }
    buf[at] = '\0';
    return buf;
}

int ns__sql_busy_ms(void)
{
    const char *env = getenv("NETSMITH_STORE_BUSY_MS");
    if (env == NULL || *env == '\0')
        return 10000;
    char *end;
    long ms = strtol(env, &end, 10);
    return *end == '\0' && ms > 0 && ms <= 3600000 ? (int)ms : 10000;
}
