/* Distinct-value sets of the CSV loader (text values, or the bytes of numbers), in insertion
 * order with an open-addressing index; used by the byte passes (csv.c) and the table
 * (csv_table.c), and below both. */
#include <stdlib.h>
#include <string.h>

#include "data/csv_private.h"

/* ---- distinct-value sets --------------------------------------------------------------------- */

static uint32_t hash_key(const void *key, size_t len)
{
    const unsigned char *b = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static int32_t set_find_hashed(const ns__csv_set *set, const void *key, size_t len, uint32_t h)
{
    if (set->cap == 0)
        return -1;
    size_t mask = set->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t e = set->slots[i];
        if (e == 0)
            return -1;
        e--;
        if (set->hash[e] == h && set->len[e] == len &&
            memcmp(set->bytes + set->off[e], key, len) == 0)
            return (int32_t)e;
    }
}

int32_t ns__csv_set_find(const ns__csv_set *set, const void *key, size_t len)
{
    return set_find_hashed(set, key, len, hash_key(key, len));
}

/* Grows *p (of *cap elements of size) to hold need elements. */
bool ns__csv_grow(ns_ctx *ctx, void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = ns_realloc(ctx, *p, n * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = n;
    return true;
}

ns_status ns__csv_set_add(ns_ctx *ctx, ns__csv_set *set, const void *key, size_t len)
{
    uint32_t h = hash_key(key, len);
    if (set_find_hashed(set, key, len, h) >= 0)
        return NS_OK;
    if (set->n >= INT32_MAX - 1)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED, "more than 2^31 distinct values");
    /* The entry arrays grow together, so each keeps the same capacity. */
    size_t cap = set->ents_cap;
    if (set->n + 1 > cap) {
        size_t c1 = cap, c2 = cap, c3 = cap;
        if (!ns__csv_grow(ctx, (void **)&set->off, &c1, set->n + 1, sizeof *set->off) ||
            !ns__csv_grow(ctx, (void **)&set->len, &c2, c1, sizeof *set->len) ||
            !ns__csv_grow(ctx, (void **)&set->hash, &c3, c1, sizeof *set->hash))
            return NS_ERR_NOMEM;
        set->ents_cap = c1;
    }
    if (!ns__csv_grow(ctx, (void **)&set->bytes, &set->bytes_cap, set->nbytes + len + 1, 1))
        return NS_ERR_NOMEM;
    if ((set->n + 1) * 2 > set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 32;
        uint32_t *slots = ns_calloc(ctx, ncap, sizeof *slots);
        if (slots == NULL)
            return NS_ERR_NOMEM;
        for (size_t e = 0; e < set->n; e++) {
            size_t i = set->hash[e] & (ncap - 1);
            while (slots[i] != 0)
                i = (i + 1) & (ncap - 1);
            slots[i] = (uint32_t)e + 1;
        }
        ns_dealloc(ctx, set->slots);
        set->slots = slots;
        set->cap = ncap;
    }
    size_t e = set->n++;
    set->off[e] = set->nbytes;
    set->len[e] = (uint32_t)len;
    set->hash[e] = h;
    if (len > 0)
        memcpy(set->bytes + set->nbytes, key, len);
    set->bytes[set->nbytes + len] = '\0';
    set->nbytes += len + 1;
    size_t i = h & (set->cap - 1);
    while (set->slots[i] != 0)
        i = (i + 1) & (set->cap - 1);
    set->slots[i] = (uint32_t)e + 1;
    return NS_OK;
}

typedef struct sort_item {
    const char *s;
    uint32_t len;
    uint32_t entry;
} sort_item;

static int cmp_text(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_number(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    double u, v;
    memcpy(&u, x->s, sizeof u);
    memcpy(&v, y->s, sizeof v);
    return (u > v) - (u < v);
}

ns_status ns__csv_set_sort(ns_ctx *ctx, ns__csv_set *set, bool numeric)
{
    if (set->n == 0)
        return NS_OK;
    sort_item *items = ns_alloc(ctx, set->n * sizeof *items);
    int32_t *rank = ns_alloc(ctx, set->n * sizeof *rank);
    if (items == NULL || rank == NULL) {
        ns_dealloc(ctx, items);
        ns_dealloc(ctx, rank);
        return NS_ERR_NOMEM;
    }
    for (size_t i = 0; i < set->n; i++)
        items[i] = (sort_item){ns__csv_set_key(set, i), set->len[i], (uint32_t)i};
    qsort(items, set->n, sizeof *items, numeric ? cmp_number : cmp_text);
    for (size_t i = 0; i < set->n; i++)
        rank[items[i].entry] = (int32_t)i;
    ns_dealloc(ctx, items);
    ns_dealloc(ctx, set->rank);
    set->rank = rank;
    return NS_OK;
}

void ns__csv_set_free(ns_ctx *ctx, ns__csv_set *set)
{
    ns_dealloc(ctx, set->slots);
    ns_dealloc(ctx, set->off);
    ns_dealloc(ctx, set->len);
    ns_dealloc(ctx, set->hash);
    ns_dealloc(ctx, set->bytes);
    ns_dealloc(ctx, set->rank);
    memset(set, 0, sizeof *set);
}

/* The entry of sorted position k. */
