/* The JSON reader of the library (never installed): path-aware messages with did-you-mean
 * suggestions and typed, range-checked getters over jansson values. Every text the library
 * reads as JSON goes through it: specs, dataset files, training state, pipeline values, run
 * configs. A message reads "SOURCE: PATH: what, and how to fix it". */
#ifndef NETSMITH_JSON_READ_H
#define NETSMITH_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/core_internal.h"

/* What is read: the context that receives messages, the text's name in them ("spec.json"),
 * and the status a failure returns (NS_OK stands for NS_ERR_PARSE). */
typedef struct ns__json_reader {
    ns_ctx *ctx;
    const char *source;
    ns_status status;
} ns__json_reader;

/* User text (keys, names) quoted in a message is clipped to this many characters. */
#define NS__JR_SHOW_MAX 48
/* Room for ns__jr_show: the clipped text and "...". */
#define NS__JR_SHOW_CAP (NS__JR_SHOW_MAX + 4)
/* Room for ns__jr_describe: a quoted, clipped string or a number. */
#define NS__JR_GOT_CAP (NS__JR_SHOW_MAX + 32)
/* Room for ns__jr_hint. */
#define NS__JR_HINT_CAP 64

/* Records "SOURCE: PATH: what" (or "SOURCE: what" for an empty path) and returns the
 * reader's status. */
ns_status ns__jr_fail(const ns__json_reader *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "PATH: unknown key; known keys: a, b; did you mean 'x'?" The suggestion is drawn from
 * cands (which may hold more than the known keys). */
ns_status ns__jr_unknown_key(const ns__json_reader *r, const char *path, const char *key,
                             const char *const *known, int n, const char *const *cands,
                             int n_cands);
/* "PATH: unknown WHAT 'x'; known WHATs: a, b; did you mean 'y'?" (WHAT a singular noun). */
ns_status ns__jr_unknown_name(const ns__json_reader *r, const char *path, const char *what,
                              const char *got, const char *const *known, int n);
/* "PATH: expected a WHAT name (one of a, b), got Y" for a value that is not a string. */
ns_status ns__jr_not_name(const ns__json_reader *r, const char *path, const json_t *v,
                          const char *what, const char *const *known, int n);

/* An integer in [min, INT_MAX]; integral reals (64.0) count. want describes the range ("a
 * positive integer"). */
ns_status ns__jr_int(const ns__json_reader *r, const char *path, const json_t *v, int min,
                     const char *want, int *out);
/* A number in lo..hi, each end open or closed; want describes it ("a number in [0, 1)").
 * Negative zero reads as zero. */
ns_status ns__jr_real(const ns__json_reader *r, const char *path, const json_t *v, double lo,
                      bool lo_open, double hi, bool hi_open, const char *want, double *out);
ns_status ns__jr_bool(const ns__json_reader *r, const char *path, const json_t *v, bool *out);
/* An integer >= min or a pair [h, w] of them; one integer means both. */
ns_status ns__jr_pair(const ns__json_reader *r, const char *path, const json_t *v, int min,
                      const char *want, int out[2]);
/* A string naming one of known[n] (what: "activation"); *index receives its position. */
ns_status ns__jr_name(const ns__json_reader *r, const char *path, const json_t *v, const char *what,
                      const char *const *known, int n, int *index);

/* Parses text[len] (need not be NUL-terminated; NULL is empty) into *out (the caller's:
 * json_decref), rejecting duplicate keys. Errors: "SOURCE:LINE:COL: what" with the reader's
 * status, "duplicate key \"k\"; each key may appear once", NS_ERR_NOMEM. */
ns_status ns__jr_load(const ns__json_reader *r, const char *text, size_t len, json_t **out);

/* The position of name in names[n], or -1. */
int ns__jr_find(const char *const *names, int n, const char *name);
/* User text for a message: at most NS__JR_SHOW_MAX characters, control characters and quotes
 * replaced, "..." when clipped (buf: NS__JR_SHOW_CAP bytes at least). */
const char *ns__jr_show(char *buf, size_t cap, const char *s);
/* "a, b, c" */
const char *ns__jr_list(char *buf, size_t cap, const char *const *names, int n);
/* "; did you mean 'x'?" or "" */
const char *ns__jr_hint(char *buf, size_t cap, const char *got, const char *const *cands, int n);
/* What a JSON value is, for "expected X, got Y": "an object", "the string \"x\"", "3". */
const char *ns__jr_describe(char *buf, size_t cap, const json_t *v);
/* "prefix.key", or "key" at the top level (the key clipped for the message). */
const char *ns__jr_join(char *buf, size_t cap, const char *prefix, const char *key);
/* "prefix[i]" */
const char *ns__jr_index(char *buf, size_t cap, const char *prefix, size_t i);

#endif
