/* The JSON reader behind every file and body the library reads: messages that name the text
 * and the path inside it ("spec.json: layers[2].units: expected a positive integer, got -3"),
 * with the known keys or names and a did-you-mean, and typed getters that check ranges. */
#include <ctype.h>
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

/* Records "SOURCE: PATH: what" (or "SOURCE: what" for an empty path) and returns
 * NS_ERR_PARSE. */
ns_status ns__jr_fail(const ns__json_reader *ps, const char *path, const char *fmt, ...)
{
    char what[NS__ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (path[0] == '\0')
        return ns_errorf(ps->ctx, ns__jr_status(ps), "%s: %s", ps->source, what);
    return ns_errorf(ps->ctx, ns__jr_status(ps), "%s: %s: %s", ps->source, path, what);
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
    return ns__jr_fail(ps, path, "unknown key; known keys: %s%s",
                       ns__jr_list(list, sizeof list, known, n),
                       ns__jr_hint(h, sizeof h, key, cands, n_cands));
}

/* "PATH: unknown WHAT 'x'; known WHATs: a, b; did you mean 'y'?" (WHAT a singular noun) */
ns_status ns__jr_unknown_name(const ns__json_reader *ps, const char *path, const char *what,
                              const char *got, const char *const *known, int n)
{
    char list[512], h[NS__JR_HINT_CAP], tmp[NS__JR_SHOW_CAP];
    size_t w = strlen(what);
    return ns__jr_fail(
        ps, path, "unknown %s '%s'; known %s%s: %s%s", what, ns__jr_show(tmp, sizeof tmp, got),
        what, w > 0 && what[w - 1] == 's' ? "es" : "s", ns__jr_list(list, sizeof list, known, n),
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
        return ns__jr_fail(ps, path, "expected %s, got %s", want,
                           ns__jr_describe(got, sizeof got, v));
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
        return ns__jr_fail(ps, path, "expected %s, got %s", want,
                           ns__jr_describe(got, sizeof got, v));
    double d = json_number_value(v);
    if (d < lo || (lo_open && d == lo) || d > hi || (hi_open && d == hi) || !isfinite(d))
        return ns__jr_fail(ps, path, "expected %s, got %s", want,
                           ns__jr_describe(got, sizeof got, v));
    *out = d == 0.0 ? 0.0 : d; /* no negative zero: it would print as "-0.0" */
    return NS_OK;
}

ns_status ns__jr_bool(const ns__json_reader *ps, const char *path, const json_t *v, bool *out)
{
    char got[NS__JR_GOT_CAP];
    if (!json_is_boolean(v))
        return ns__jr_fail(ps, path, "expected true or false, got %s",
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
            return ns__jr_fail(ps, path, "expected %s or [h, w], got an array of %zu", want, n);
        for (size_t i = 0; i < 2; i++) {
            ns_status st = ns__jr_int(ps, ns__jr_index(sub, sizeof sub, path, i),
                                      json_array_get(v, i), min, want, &out[i]);
            if (st != NS_OK)
                return st;
        }
        return NS_OK;
    }
    if (!json_is_number(v))
        return ns__jr_fail(ps, path, "expected %s or [h, w], got %s", want,
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
    return ns__jr_fail(
        ps, path, "expected a%s %s name (one of %s), got %s", strchr("aeiou", what[0]) ? "n" : "",
        what, ns__jr_list(list, sizeof list, known, n), ns__jr_describe(got, sizeof got, v));
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

ns_status ns__jr_load(const ns__json_reader *r, const char *text, size_t len, json_t **out)
{
    json_error_t err;
    *out = json_loadb(text != NULL ? text : "", len, JSON_REJECT_DUPLICATES, &err);
    if (*out != NULL)
        return NS_OK;
    if (json_error_code(&err) == json_error_out_of_memory)
        return ns_errorf(r->ctx, NS_ERR_NOMEM, "%s: out of memory reading the JSON", r->source);
    int line = err.line > 0 ? err.line : 1, col = err.column > 0 ? err.column : 1;
    const char *near = strstr(err.text, "near '");
    if (json_error_code(&err) == json_error_duplicate_key && near != NULL) {
        char key[NS__JR_SHOW_MAX + 8];
        size_t n = strlen(near + 6);
        /* near + 6 is the quoted key followed by a closing quote. */
        snprintf(key, sizeof key, "%.*s", (int)(n > 0 ? n - 1 : 0), near + 6);
        return ns_errorf(r->ctx, ns__jr_status(r),
                         "%s:%d:%d: duplicate key %s; each key may appear once", r->source, line,
                         col, key);
    }
    return ns_errorf(r->ctx, ns__jr_status(r), "%s:%d:%d: %s", r->source, line, col, err.text);
}
