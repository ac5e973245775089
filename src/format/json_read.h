/* The JSON reader of the library (never installed): path-aware messages with did-you-mean
 * suggestions and typed, range-checked getters over jansson values. Every text the library
 * reads as JSON goes through it: specs, dataset files, training state, pipeline values, run
 * configs. A message reads "SOURCE: PATH: what, and how to fix it". */
#ifndef NETSMITH_JSON_READ_H
#define NETSMITH_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core_internal.h"

/* What is read: the context that receives messages, the text's name in them ("spec.json"),
 * the status a failure returns (NS_OK stands for NS_ERR_PARSE), and how to repair the text
 * ("the file is damaged: save it again"; NULL for nothing to say). The reader's own messages
 * (its getters', unknown keys', syntax errors') end with "; FIX"; a message the caller writes
 * with ns__jr_fail names its own fix (r->fix where it is the usual one). */
typedef struct ns__json_reader {
    ns_ctx *ctx;
    const char *source;
    ns_status status;
    const char *fix;
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
 * reader's status. The fix is the caller's to write: r->fix is not added. */
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
/* Checks that every key of the object o (at path) is one of known[n]. The first that is not:
 * "PATH: unknown key "k" (did you mean 'x'?); known keys: a, b". The path is the object's, so
 * the message quotes the key (ns__jr_unknown_key's path ends with it). */
ns_status ns__jr_keys(const ns__json_reader *r, const char *path, json_t *o,
                      const char *const *known, int n);

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

/* Members of the object at path, named in the message rather than in the path (files whose
 * messages say "PATH: max_batch must be an integer in [1, 64], got 0"): "PATH: KEY must be
 * WANT, got Y", or "PATH: KEY must be WANT, but it is missing" for v NULL. The getters below
 * give this message; callers give it for a value they check further. */
ns_status ns__jr_member_fail(const ns__json_reader *r, const char *path, const char *key,
                             const json_t *v, const char *want);
/* Member key of o: an integer in [lo, hi] (integral reals count), described as "an integer in
 * [lo, hi]", or "an integer of at least LO" when hi is INT64_MAX. */
ns_status ns__jr_member_int64(const ns__json_reader *r, const char *path, const json_t *o,
                              const char *key, int64_t lo, int64_t hi, int64_t *out);
/* Member key of o: true or false. */
ns_status ns__jr_member_bool(const ns__json_reader *r, const char *path, const json_t *o,
                             const char *key, bool *out);
/* Member key of o: a string, which *out points to (it lives as long as o); want describes the
 * string expected ("a string", "\"regression\" or \"classification\""), for this message and
 * for the caller's ns__jr_member_fail when the string is not one it knows. */
ns_status ns__jr_member_string(const ns__json_reader *r, const char *path, const json_t *o,
                               const char *key, const char *want, const char **out);

/* Parses text[len] (need not be NUL-terminated; NULL is empty) into *out (the caller's:
 * json_decref): any JSON value, whose type the caller checks; duplicate keys are rejected.
 * Errors: "SOURCE:LINE:COL: what" with the reader's status, "duplicate key \"k\"; each key
 * may appear once", NS_ERR_NOMEM. */
ns_status ns__jr_load(const ns__json_reader *r, const char *text, size_t len, json_t **out);
/* ns__jr_load for a text in which a key given again replaces its earlier value (a run
 * config's mapping, where later values win). */
ns_status ns__jr_load_last_wins(const ns__json_reader *r, const char *text, size_t len,
                                json_t **out);
/* Parses JSON text that sits inside the source at path (a metadata entry of a safetensors
 * file: "__metadata__.netsmith.state") and must be an object, into *out (the caller's:
 * json_decref); duplicate keys are rejected. Errors: "SOURCE: PATH is not valid JSON (line L,
 * column C: what)", "SOURCE: PATH: expected a JSON object, got Y", NS_ERR_NOMEM. */
ns_status ns__jr_load_entry(const ns__json_reader *r, const char *path, const char *text,
                            json_t **out);

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
