/* The JSON reader behind every file and body the library reads: messages that name the text
 * and the path inside it ("spec.json: layers[2].units: expected a positive integer, got -3"),
 * with the known keys or names and a did-you-mean, and typed getters that check ranges. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "format/json_read.h"

static ns_status ns__jr_status(const ns__json_reader *r)
{
    return r->status != NS_OK ? r->status : NS_ERR_PARSE;
}

int ns__jr_find(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* ---- messages ------------------------------------------------------------------------------- */

/* "SOURCE: PATH: what", and "; FIX" after it when with_fix and the reader has one. */
__attribute__((format(printf, 4, 0))) static ns_status
jr_vfail(const ns__json_reader *r, const char *path, bool with_fix, const char *fmt, va_list ap)
{
    char what[NS__ERRMSG_CAP];
    vsnprintf(what, sizeof what, fmt, ap);
    bool fix = with_fix && r->fix != NULL;
    const char *sep = fix ? "; " : "", *how = fix ? r->fix : "";
    ns_status st =
        path[0] == '\0'
            ? ns_errorf(r->ctx, ns__jr_status(r), "%s: %s%s%s", r->source, what, sep, how)
            : ns_errorf(r->ctx, ns__jr_status(r), "%s: %s: %s%s%s", r->source, path, what, sep, how);
    ns__error_set_path(r->ctx, path);
    return st;
}

/* Records "SOURCE: PATH: what" (or "SOURCE: what" for an empty path) and returns the
 * reader's status. */
ns_status ns__jr_fail(const ns__json_reader *ps, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ns_status st = jr_vfail(ps, path, false, fmt, ap);
    va_end(ap);
    return st;
}

/* The reader's own messages: ns__jr_fail's, with the reader's fix after them. */
__attribute__((format(printf, 3, 4))) static ns_status
jr_own(const ns__json_reader *r, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ns_status st = jr_vfail(r, path, true, fmt, ap);
    va_end(ap);
    return st;
}

/* Copies user text for a message: at most NS__JR_SHOW_MAX characters, control characters and quotes
 * replaced, "..." when clipped. buf holds at least NS__JR_SHOW_CAP bytes. */
const char *ns__jr_show(char *buf, size_t cap, const char *s)
{
    NS_ASSERT(cap >= NS__JR_SHOW_CAP);
    size_t n = 0;
    for (; s[n] != '\0' && n < NS__JR_SHOW_MAX; n++) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = (c < 0x20 || c == 0x7f || c == '\'' || c == '"') ? '?' : (char)c;
    }
    if (s[n] != '\0') {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* "a, b, c" */
const char *ns__jr_list(char *buf, size_t cap, const char *const *names, int n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}

/* "; did you mean 'x'?" or "" */
const char *ns__jr_hint(char *buf, size_t cap, const char *got, const char *const *cands, int n)
{
    const char *s = ns__suggest(got, cands, n);
    if (s == NULL)
        buf[0] = '\0';
    else
        snprintf(buf, cap, "; did you mean '%s'?", s);
    return buf;
}

/* What a JSON value is, for "expected X, got Y". */
const char *ns__jr_describe(char *buf, size_t cap, const json_t *v)
{
    char tmp[NS__JR_SHOW_CAP];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        snprintf(buf, cap, "the string \"%s\"", ns__jr_show(tmp, sizeof tmp, json_string_value(v)));
        return buf;
    case JSON_INTEGER:
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        ns__format_real(buf, cap, json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* "prefix.key", or "key" at the top level. */
const char *ns__jr_join(char *buf, size_t cap, const char *prefix, const char *key)
{
    char tmp[NS__JR_SHOW_CAP];
    snprintf(buf, cap, "%s%s%s", prefix, prefix[0] ? "." : "", ns__jr_show(tmp, sizeof tmp, key));
    return buf;
}

/* "prefix[i]" */
const char *ns__jr_index(char *buf, size_t cap, const char *prefix, size_t i)
{
    snprintf(buf, cap, "%s[%zu]", prefix, i);
    return buf;
}

/* "PATH: unknown key; known keys: a, b; did you mean 'x'?" The suggestion is drawn from
 * cands (which may hold more than the known keys, e.g. the other form's). */
ns_status ns__jr_unknown_key(const ns__json_reader *ps, const char *path, const char *key,
                             const char *const *known, int n, const char *const *cands, int n_cands)
{
    char list[512], h[NS__JR_HINT_CAP];
    return jr_own(ps, path, "unknown key; known keys: %s%s",
                  ns__jr_list(list, sizeof list, known, n),
                  ns__jr_hint(h, sizeof h, key, cands, n_cands));
}

/* "PATH: unknown WHAT 'x'; known WHATs: a, b; did you mean 'y'?" (WHAT a singular noun) */
ns_status ns__jr_unknown_name(const ns__json_reader *ps, const char *path, const char *what,
                              const char *got, const char *const *known, int n)
{
    char list[512], h[NS__JR_HINT_CAP], tmp[NS__JR_SHOW_CAP];
    size_t w = strlen(what);
    return jr_own(ps, path, "unknown %s '%s'; known %s%s: %s%s", what,
                  ns__jr_show(tmp, sizeof tmp, got), what, w > 0 && what[w - 1] == 's' ? "es" : "s",
                  ns__jr_list(list, sizeof list, known, n),
                  ns__jr_hint(h, sizeof h, got, known, n));
}

/* ---- typed values --------------------------------------------------------------------------- */

/* An integer in [min, INT_MAX]. Reals are accepted when integral (64.0), so tools that write
 * every number as a float still work. want describes the range ("a positive integer"). */
ns_status ns__jr_int(const ns__json_reader *ps, const char *path, const json_t *v, int min,
                     const char *want, int *out)
{
    char got[NS__JR_GOT_CAP];
    bool ok = false;
    long long i = 0;
    if (json_is_integer(v)) {
        i = json_integer_value(v);
        ok = true;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && d >= (double)INT_MIN && d <= (double)INT_MAX) {
            i = (long long)d;
            ok = true;
        }
    }
    if (!ok || i < min || i > INT_MAX)
        return jr_own(ps, path, "expected %s, got %s", want, ns__jr_describe(got, sizeof got, v));
    *out = (int)i;
    return NS_OK;
}

/* A number in the range lo..hi, each end open or closed; want describes it ("a number in
 * [0, 1)"). JSON cannot spell NaN or infinity, so every value that parses is finite. */
ns_status ns__jr_real(const ns__json_reader *ps, const char *path, const json_t *v, double lo,
                      bool lo_open, double hi, bool hi_open, const char *want, double *out)
{
    char got[NS__JR_GOT_CAP];
    if (!json_is_number(v))
        return jr_own(ps, path, "expected %s, got %s", want, ns__jr_describe(got, sizeof got, v));
    double d = json_number_value(v);
    if (d < lo || (lo_open && d == lo) || d > hi || (hi_open && d == hi) || !isfinite(d))
        return jr_own(ps, path, "expected %s, got %s", want, ns__jr_describe(got, sizeof got, v));
    *out = d == 0.0 ? 0.0 : d; /* no negative zero: it would print as "-0.0" */
    return NS_OK;
}

ns_status ns__jr_bool(const ns__json_reader *ps, const char *path, const json_t *v, bool *out)
{
    char got[NS__JR_GOT_CAP];
    if (!json_is_boolean(v))
        return jr_own(ps, path, "expected true or false, got %s",
                      ns__jr_describe(got, sizeof got, v));
    *out = json_is_true(v);
    return NS_OK;
}

/* An integer >= min, or a pair [h, w] of them (kernel, stride, padding, ...); one integer
 * means both. want describes one integer ("a positive integer"). */
ns_status ns__jr_pair(const ns__json_reader *ps, const char *path, const json_t *v, int min,
                      const char *want, int out[2])
{
    char got[NS__JR_GOT_CAP], sub[128];
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n != 2)
            return jr_own(ps, path, "expected %s or [h, w], got an array of %zu", want, n);
        for (size_t i = 0; i < 2; i++) {
            ns_status st = ns__jr_int(ps, ns__jr_index(sub, sizeof sub, path, i),
                                      json_array_get(v, i), min, want, &out[i]);
            if (st != NS_OK)
                return st;
        }
        return NS_OK;
    }
    if (!json_is_number(v))
        return jr_own(ps, path, "expected %s or [h, w], got %s", want,
                      ns__jr_describe(got, sizeof got, v));
    char both[64];
    snprintf(both, sizeof both, "%s or [h, w]", want);
    ns_status st = ns__jr_int(ps, path, v, min, both, &out[0]);
    out[1] = out[0];
    return st;
}

/* "PATH: expected a WHAT name (one of a, b), got Y" for a value that is not a string. */
ns_status ns__jr_not_name(const ns__json_reader *ps, const char *path, const json_t *v,
                          const char *what, const char *const *known, int n)
{
    char got[NS__JR_GOT_CAP], list[512];
    return jr_own(ps, path, "expected a%s %s name (one of %s), got %s",
                  strchr("aeiou", what[0]) ? "n" : "", what,
                  ns__jr_list(list, sizeof list, known, n), ns__jr_describe(got, sizeof got, v));
}

/* A string naming one of known[] (what: "activation"); *index receives its position. */
ns_status ns__jr_name(const ns__json_reader *ps, const char *path, const json_t *v,
                      const char *what, const char *const *known, int n, int *index)
{
    if (!json_is_string(v))
        return ns__jr_not_name(ps, path, v, what, known, n);
    int i = ns__jr_find(known, n, json_string_value(v));
    if (i < 0)
        return ns__jr_unknown_name(ps, path, what, json_string_value(v), known, n);
    *index = i;
    return NS_OK;
}

/* Checks that every key of the object o is one of known[n]. */
ns_status ns__jr_keys(const ns__json_reader *r, const char *path, json_t *o,
                      const char *const *known, int n)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (ns__jr_find(known, n, key) >= 0)
            continue;
        char list[512], h[NS__JR_HINT_CAP], tmp[NS__JR_SHOW_CAP];
        return jr_own(
            r, path, "unknown key \"%s\"%s; known keys: %s", ns__jr_show(tmp, sizeof tmp, key),
            ns__did_you_mean(h, sizeof h, key, known, n), ns__jr_list(list, sizeof list, known, n));
    }
    return NS_OK;
}

/* ---- members named in the message ----------------------------------------------------------- */

/* "PATH: KEY must be WANT, got Y", or "..., but it is missing" for v NULL. */
ns_status ns__jr_member_fail(const ns__json_reader *r, const char *path, const char *key,
                             const json_t *v, const char *want)
{
    char got[NS__JR_GOT_CAP], tmp[NS__JR_SHOW_CAP];
    if (v == NULL)
        return jr_own(r, path, "%s must be %s, but it is missing",
                      ns__jr_show(tmp, sizeof tmp, key), want);
    return jr_own(r, path, "%s must be %s, got %s", ns__jr_show(tmp, sizeof tmp, key), want,
                  ns__jr_describe(got, sizeof got, v));
}

/* An integer member in [lo, hi]; integral reals count, as in ns__jr_int. */
ns_status ns__jr_member_int64(const ns__json_reader *r, const char *path, const json_t *o,
                              const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    bool ok = false;
    int64_t i = 0;
    if (json_is_integer(v)) {
        i = (int64_t)json_integer_value(v);
        ok = true;
    } else if (json_is_real(v)) {
        /* 2^63 itself is out of range: (double)INT64_MAX rounds up to it */
        double d = json_real_value(v);
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            i = (int64_t)d;
            ok = true;
        }
    }
    if (ok && i >= lo && i <= hi) {
        *out = i;
        return NS_OK;
    }
    char want[96];
    if (hi == INT64_MAX)
        snprintf(want, sizeof want, "an integer of at least %" PRId64, lo);
    else
        snprintf(want, sizeof want, "an integer in [%" PRId64 ", %" PRId64 "]", lo, hi);
    return ns__jr_member_fail(r, path, key, v, want);
}

ns_status ns__jr_member_bool(const ns__json_reader *r, const char *path, const json_t *o,
                             const char *key, bool *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        return ns__jr_member_fail(r, path, key, v, "true or false");
    *out = json_is_true(v);
    return NS_OK;
}

ns_status ns__jr_member_string(const ns__json_reader *r, const char *path, const json_t *o,
                               const char *key, const char *want, const char **out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return ns__jr_member_fail(r, path, key, v, want);
    *out = json_string_value(v);
    return NS_OK;
}

/* ---- parsing -------------------------------------------------------------------------------- */

/* Parses text[len] with json_loadb's flags. On a syntax error *out is NULL and what (cap
 * bytes) says what is wrong, a duplicate key in the reader's words; running out of memory is
 * reported here. */
static ns_status jr_parse(const ns__json_reader *r, const char *text, size_t len, size_t flags,
                          json_t **out, json_error_t *err, char *what, size_t cap)
{
    *out = json_loadb(text != NULL ? text : "", len, flags, err);
    if (*out != NULL)
        return NS_OK;
    if (json_error_code(err) == json_error_out_of_memory)
        return ns_errorf(r->ctx, NS_ERR_NOMEM, "%s: out of memory reading the JSON", r->source);
    const char *near = strstr(err->text, "near '");
    if (json_error_code(err) == json_error_duplicate_key && near != NULL) {
        char key[NS__JR_SHOW_MAX + 8];
        size_t n = strlen(near + 6);
        /* near + 6 is the quoted key followed by a closing quote. */
        snprintf(key, sizeof key, "%.*s", (int)(n > 0 ? n - 1 : 0), near + 6);
        snprintf(what, cap, "duplicate key %s; each key may appear once", key);
    } else {
        snprintf(what, cap, "%s", err->text);
    }
    return ns__jr_status(r);
}

/* ns__jr_load with json_loadb's flags. */
static ns_status jr_load(const ns__json_reader *r, const char *text, size_t len, size_t flags,
                         json_t **out)
{
    json_error_t err;
    char what[JSON_ERROR_TEXT_LENGTH + NS__JR_SHOW_MAX + 48];
    ns_status st = jr_parse(r, text, len, flags, out, &err, what, sizeof what);
    if (st == NS_OK || st == NS_ERR_NOMEM)
        return st;
    /* "SOURCE:LINE:COL: what", the form of compilers and of jq */
    bool fix = r->fix != NULL;
    return ns_errorf(r->ctx, st, "%s:%d:%d: %s%s%s", r->source, err.line > 0 ? err.line : 1,
                     err.column > 0 ? err.column : 1, what, fix ? "; " : "", fix ? r->fix : "");
}

ns_status ns__jr_load(const ns__json_reader *r, const char *text, size_t len, json_t **out)
{
    return jr_load(r, text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, out);
}

ns_status ns__jr_load_last_wins(const ns__json_reader *r, const char *text, size_t len,
                                json_t **out)
{
    return jr_load(r, text, len, JSON_DECODE_ANY, out);
}

ns_status ns__jr_load_entry(const ns__json_reader *r, const char *path, const char *text,
                            json_t **out)
{
    json_error_t err;
    char what[JSON_ERROR_TEXT_LENGTH + NS__JR_SHOW_MAX + 48];
    ns_status st = jr_parse(r, text, text != NULL ? strlen(text) : 0,
                            JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, out, &err, what, sizeof what);
    if (st == NS_ERR_NOMEM)
        return st;
    if (st != NS_OK)
        return jr_own(r, "", "%s is not valid JSON (line %d, column %d: %s)", path,
                      err.line > 0 ? err.line : 1, err.column > 0 ? err.column : 1, what);
    if (!json_is_object(*out)) {
        char got[NS__JR_GOT_CAP];
        st = jr_own(r, path, "expected a JSON object, got %s",
                    ns__jr_describe(got, sizeof got, *out));
        json_decref(*out);
        *out = NULL;
    }
    return st;
}
