/* A growing byte buffer for the writers of the export module: protobuf fields for ONNX
 * (wire format from https://protobuf.dev/programming-guides/encoding/) and text for C source.
 * A failed allocation marks the buffer failed; later appends do nothing and the writer checks
 * once at the end (NS_ERR_NOMEM), so the writers need no check per field. */
#ifndef NETSMITH_EXPORT_XBUF_H
#define NETSMITH_EXPORT_XBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <locale.h>
#include <stdint.h>

#include "netsmith/core.h"

typedef struct ns__xbuf {
    ns_ctx *ctx;
    unsigned char *p;
    size_t n, cap;
    bool failed;
} ns__xbuf;

void ns__xbuf_init(ns__xbuf *b, ns_ctx *ctx);
void ns__xbuf_free(ns__xbuf *b);
/* Hands the bytes over (*size of them, the caller's: ns_dealloc on the buffer's context)
 * and leaves the buffer empty; NULL when it failed (NS_ERR_NOMEM on the context). */
unsigned char *ns__xbuf_take(ns__xbuf *b, size_t *size);
void ns__xbuf_put(ns__xbuf *b, const void *data, size_t n);
void ns__xbuf_puts(ns__xbuf *b, const char *s);
/* printf into the buffer, in the thread's locale: numbers go between ns__c_locale_begin and
 * _end, so that they always print with a '.'. */
void ns__xbuf_printf(ns__xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The C locale for the calling thread, for a whole text (one switch, not one per number). */
typedef struct ns__c_locale {
    locale_t c, old;
} ns__c_locale;
ns__c_locale ns__c_locale_begin(void);
void ns__c_locale_end(ns__c_locale l);

/* ---- protobuf fields (field numbers are the .proto's; wire types 0, 2 and 5) ---------------- */

/* A varint field: int32, int64 (a negative value as its 10-byte two's complement), enum. */
void ns__pb_varint(ns__xbuf *b, int field, uint64_t v);
/* A fixed32 float field. */
void ns__pb_float(ns__xbuf *b, int field, float v);
/* A length-delimited field: bytes, a string, an embedded message (sub's bytes). */
void ns__pb_bytes(ns__xbuf *b, int field, const void *data, size_t n);
void ns__pb_string(ns__xbuf *b, int field, const char *s);
void ns__pb_message(ns__xbuf *b, int field, const ns__xbuf *sub);

#endif
