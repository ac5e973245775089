/* The export module's byte buffer and protobuf fields (xbuf.h). */
#include "export/xbuf.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"

void ns__xbuf_init(ns__xbuf *b, ns_ctx *ctx)
{
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
}

void ns__xbuf_free(ns__xbuf *b)
{
    ns_dealloc(b->ctx, b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static bool reserve(ns__xbuf *b, size_t n);

unsigned char *ns__xbuf_take(ns__xbuf *b, size_t *size)
{
    *size = 0;
    if (b->p == NULL) /* an empty buffer still hands over a block */
        reserve(b, 1);
    if (b->failed) {
        ns__xbuf_free(b);
        ns_errorf(b->ctx, NS_ERR_NOMEM, "out of memory writing the export");
        return NULL;
    }
    unsigned char *p = b->p;
    *size = b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

/* Room for n more bytes; false (and the buffer failed) when there is none. */
static bool reserve(ns__xbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n <= b->cap - b->n)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    unsigned char *p = ns__realloc_quiet(b->ctx, b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void ns__xbuf_put(ns__xbuf *b, const void *data, size_t n)
{
    if (n == 0 || !reserve(b, n))
        return;
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

void ns__xbuf_puts(ns__xbuf *b, const char *s)
{
    ns__xbuf_put(b, s, strlen(s));
}

void ns__xbuf_printf(ns__xbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
    } else if ((size_t)n < sizeof small) {
        ns__xbuf_put(b, small, (size_t)n);
    } else if (reserve(b, (size_t)n + 1)) {
        va_start(ap, fmt);
        vsnprintf((char *)b->p + b->n, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->n += (size_t)n;
    }
}

ns__c_locale ns__c_locale_begin(void)
{
    ns__c_locale l = {newlocale(LC_NUMERIC_MASK, "C", (locale_t)0), (locale_t)0};
    if (l.c != (locale_t)0)
        l.old = uselocale(l.c);
    return l;
}

void ns__c_locale_end(ns__c_locale l)
{
    if (l.c != (locale_t)0) {
        uselocale(l.old);
        freelocale(l.c);
    }
}

/* ---- protobuf ------------------------------------------------------------------------------- */

static void raw_varint(ns__xbuf *b, uint64_t v)
{
    unsigned char out[10];
    size_t n = 0;
    do {
        unsigned char byte = (unsigned char)(v & 0x7f);
        v >>= 7;
        out[n++] = (unsigned char)(byte | (v ? 0x80 : 0));
    } while (v);
    ns__xbuf_put(b, out, n);
}

static void tag(ns__xbuf *b, int field, int wire)
{
    raw_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void ns__pb_varint(ns__xbuf *b, int field, uint64_t v)
{
    tag(b, field, 0);
    raw_varint(b, v);
}

void ns__pb_float(ns__xbuf *b, int field, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                           (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
    tag(b, field, 5);
    ns__xbuf_put(b, le, 4);
}

void ns__pb_bytes(ns__xbuf *b, int field, const void *data, size_t n)
{
    tag(b, field, 2);
    raw_varint(b, (uint64_t)n);
    ns__xbuf_put(b, data, n);
}

void ns__pb_string(ns__xbuf *b, int field, const char *s)
{
    ns__pb_bytes(b, field, s, strlen(s));
}

void ns__pb_message(ns__xbuf *b, int field, const ns__xbuf *sub)
{
    if (sub->failed) {
        b->failed = true;
        return;
    }
    ns__pb_bytes(b, field, sub->p, sub->n);
}
