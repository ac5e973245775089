/* YAML (and JSON, read as YAML) parsed into jansson values with the line and column of every
 * collection and mapping key, so that later checks can name the place of what they reject. */
#ifndef NETSMITH_IO_YAML_DOC_H
#define NETSMITH_IO_YAML_DOC_H

#include <stdarg.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "netsmith/format.h"

typedef struct ns__ypos {
    const json_t *node; /* a mapping or sequence */
    char *key;          /* a key of the mapping, or NULL for the node itself */
    int line, col;      /* 1-based */
} ns__ypos;

typedef struct ns__yaml_doc {
    json_t *root;
    ns__ypos *pos;
    int n, cap;
} ns__yaml_doc;

/* Parses one document; errors (NS_ERR_PARSE) name source, line and column. */
ns_status ns__yaml_load(ns_ctx *ctx, const char *text, size_t len, const char *source,
                        ns__yaml_doc *doc);
void ns__yaml_doc_free(ns_ctx *ctx, ns__yaml_doc *doc);
/* The line of key in the mapping node (key NULL: of node itself; a key not found gives the
 * node's line); 0 when unknown. */
int ns__yaml_line(const ns__yaml_doc *doc, const json_t *node, const char *key);
/* Records "SOURCE:LINE: PATH: what" with status st, LINE that of key in node (1 when unknown),
 * and returns st. */
ns_status ns__yaml_vfail(ns_ctx *ctx, ns_status st, const ns__yaml_doc *doc, const char *source,
                         const json_t *node, const char *key, const char *path, const char *fmt,
                         va_list ap) __attribute__((format(printf, 8, 0)));
/* Checks that every key of the mapping o (at path) is one of known[n]; the first that is not
 * fails as ns__yaml_vfail does: "unknown key 'k'; did you mean 'x'?; known keys: a, b". */
ns_status ns__yaml_keys(ns_ctx *ctx, ns_status st, const ns__yaml_doc *doc, const char *source,
                        const json_t *o, const char *path, const char *const *known, int n);

#endif
