/* What both backends share: reading a result and freeing it. */
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
