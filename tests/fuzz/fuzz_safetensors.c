/* Fuzz target: safetensors files. The input is a whole file: it is parsed from memory
 * (ns_st_parse) and read from a scratch file (ns_st_open), which must agree; a file that
 * parses is walked (every tensor, lookup and metadata entry), written back with
 * ns_st_serialize and parsed again, which must give the same tensors and metadata. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static void check_same(const ns_st_file *a, const ns_st_file *b)
{
    if (ns_st_count(a) != ns_st_count(b) || ns_st_meta_count(a) != ns_st_meta_count(b))
        ns_fuzz_fail("round trip", "tensor or metadata count changed");
    for (int i = 0; i < ns_st_count(a); i++) {
        const ns_st_tensor *t = ns_st_get(a, i), *u = ns_st_get(b, i);
        if (strcmp(t->name, u->name) != 0 || t->dtype != u->dtype || t->ndim != u->ndim ||
            t->nbytes != u->nbytes || memcmp(t->shape, u->shape, sizeof t->shape) != 0 ||
            (t->nbytes > 0 && memcmp(t->data, u->data, t->nbytes) != 0))
            ns_fuzz_fail("round trip: tensor differs", t->name);
    }
    for (int i = 0; i < ns_st_meta_count(a); i++) {
        const char *v = ns_st_meta_find(b, ns_st_meta_get(a, i)->key);
        if (v == NULL || strcmp(v, ns_st_meta_get(a, i)->value) != 0)
            ns_fuzz_fail("round trip: metadata differs", ns_st_meta_get(a, i)->key);
    }
}

static void walk(ns_ctx *ctx, const ns_st_file *f)
{
    int n = ns_st_count(f), nm = ns_st_meta_count(f);
    ns_st_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    ns_st_meta *ms = calloc((size_t)nm + 1, sizeof *ms);
    if (ts == NULL || ms == NULL)
        ns_fuzz_fail("calloc", "out of memory");
    for (int i = 0; i < n; i++) {
        const ns_st_tensor *t = ns_st_get(f, i);
        if (ns_st_find(f, t->name) != t)
            ns_fuzz_fail("ns_st_find does not find a listed tensor", t->name);
        if (t->ndim < 0 || t->ndim > NS_ST_MAX_DIMS || ns_dtype_name(t->dtype) == NULL)
            ns_fuzz_fail("a parsed tensor has a bad ndim or dtype", t->name);
        /* Touch the bytes so ASan sees a range that lies outside the buffer. */
        volatile unsigned char sink = 0;
        if (t->nbytes > 0)
            sink ^= ((const unsigned char *)t->data)[0] ^
                    ((const unsigned char *)t->data)[t->nbytes - 1];
        (void)sink;
        ts[i] = *t;
    }
    for (int i = 0; i < nm; i++) {
        const ns_st_meta *m = ns_st_meta_get(f, i);
        if (ns_st_meta_find(f, m->key) == NULL)
            ns_fuzz_fail("ns_st_meta_find does not find a listed key", m->key);
        ms[i] = *m;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    ns_status st = ns_st_serialize(ctx, ts, n, ms, nm, &buf, &len);
    if (st == NS_OK) {
        ns_st_file *g = NULL;
        st = ns_st_parse(ctx, buf, len, "round trip", &g);
        if (st == NS_OK)
            check_same(f, g);
        else if (st != NS_ERR_NOMEM)
            ns_fuzz_fail("a serialized file does not parse", ns_errmsg(ctx));
        ns_st_close(g);
        ns_dealloc(ctx, buf);
    } else if (st != NS_ERR_NOMEM) {
        ns_fuzz_fail("ns_st_serialize refuses what ns_st_parse accepted", ns_errmsg(ctx));
    }
    free(ts);
    free(ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ns_ctx *ctx = ns_fuzz_ctx();
    ns_st_file *f = NULL, *g = NULL;
    ns_status st = ns_st_parse(ctx, size ? data : NULL, size, "fuzz.safetensors", &f);
    if (st == NS_OK)
        walk(ctx, f);
    ns_status st2 = ns_st_open(ctx, ns_fuzz_write("fuzz.safetensors", data, size), &g);
    if (st != NS_ERR_NOMEM && st2 != NS_ERR_NOMEM &&
        (st2 != st || (st == NS_OK && ns_st_count(f) != ns_st_count(g))))
        ns_fuzz_fail("ns_st_open and ns_st_parse disagree", ns_errmsg(ctx));
    ns_st_close(f);
    ns_st_close(g);
    ns_fuzz_ctx_free(ctx);
    return 0;
}
