/* CSV bytes: RFC 4180 fields, strict locale-free numbers (SWAR and Clinger's fast path, strtod
 * in the C locale otherwise), messages, and the passes over the data rows: the scan (which also
 * writes the rows while they are all numbers), collect and fill. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/csv_private.h"

/* ---- fields ---------------------------------------------------------------------------------- */

void ns__csv_lexer_init(ns__csv_lexer *lx, const char *p, const char *end, int64_t line, char delim)
{
    lx->p = p;
    lx->end = end;
    lx->line = line;
    lx->delim = delim;
    memset(lx->stop, 0, sizeof lx->stop);
    lx->stop[(unsigned char)delim] = 1;
    lx->stop['\n'] = 1;
    lx->stop['\r'] = 1;
    lx->stop['"'] = 1;
}

/* Spaces, and tabs unless tab is the delimiter, may surround a field. */
static inline bool is_blank(char ch, char delim)
{
    return (ch == ' ' || ch == '\t') && ch != delim;
}

/* Whether a '\r' at p (not the last byte) or '\n' at p ends a physical line: "\r\n" counts
 * once, at its '\n'. */
static inline bool ends_line(const char *p, const char *end)
{
    return *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] != '\n'));
}

/* Consumes the delimiter or line end at p (or nothing at the end of the text). */
static inline ns__csv_end take_end(ns__csv_lexer *lx, const char *p)
{
    if (p == lx->end) {
        lx->p = p;
        return NS__CSV_END_FILE;
    }
    char ch = *p++;
    if (ch == lx->delim) {
        lx->p = p;
        return NS__CSV_END_DELIM;
    }
    if (ch == '\r' && p < lx->end && *p == '\n')
        p++;
    lx->line++;
    lx->p = p;
    return NS__CSV_END_ROW;
}

ns__csv_lex ns__csv_read_field(ns__csv_lexer *lx, ns__csv_field *f)
{
    const char *p = lx->p, *end = lx->end;
    char delim = lx->delim;
    f->line = f->err_line = lx->line;
    f->quoted = f->escaped = false;
    while (p < end && is_blank(*p, delim))
        p++;
    if (p < end && *p == '"') {
        const char *content = ++p;
        for (;;) {
            while (p < end && *p != '"') {
                if (ends_line(p, end))
                    lx->line++;
                p++;
            }
            if (p == end)
                return NS__CSV_LEX_UNTERMINATED;
            if (p + 1 < end && p[1] == '"') {
                f->escaped = true;
                p += 2;
                continue;
            }
            break;
        }
        f->quoted = true;
        f->s = content;
        f->n = (size_t)(p - content);
        if (f->n > NS__CSV_MAX_FIELD)
            return NS__CSV_LEX_TOO_LONG;
        p++;
        while (p < end && is_blank(*p, delim))
            p++;
        if (p < end && *p != delim && *p != '\n' && *p != '\r') {
            f->err_line = lx->line;
            return NS__CSV_LEX_AFTER_QUOTE;
        }
    } else {
        const char *s = p;
        while (p < end && !lx->stop[(unsigned char)*p])
            p++;
        if (p < end && *p == '"')
            return NS__CSV_LEX_STRAY_QUOTE;
        const char *e = p;
        while (e > s && is_blank(e[-1], delim))
            e--;
        f->s = s;
        f->n = (size_t)(e - s);
        if (f->n > NS__CSV_MAX_FIELD)
            return NS__CSV_LEX_TOO_LONG;
    }
    f->end = take_end(lx, p);
    return NS__CSV_LEX_OK;
}

bool ns__csv_next_record(ns__csv_lexer *lx)
{
    const char *p = lx->p, *end = lx->end;
    while (p < end && (*p == '\n' || *p == '\r')) {
        if (ends_line(p, end))
            lx->line++;
        p++;
    }
    lx->p = p;
    return p < end;
}

size_t ns__csv_utf8_check(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b >= 0x01 && b < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            if (b == 0xe0)
                lo = 0xa0; /* no overlong forms */
            else if (b == 0xed)
                hi = 0x9f; /* no surrogates */
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            if (b == 0xf0)
                lo = 0x90;
            else if (b == 0xf4)
                hi = 0x8f; /* nothing past U+10FFFF */
        } else {
            return i; /* NUL, a continuation byte, or 0xc0, 0xc1, 0xf5.. */
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += len;
    }
    return n;
}

static bool same(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool same_nocase(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lit[i])
            return false;
    return true;
}

bool ns__csv_is_missing(const char *s, size_t n)
{
    if (n == 0 || same(s, n, "NA") || same(s, n, "N/A"))
        return true;
    if (s[0] == '-' || s[0] == '+') /* "-nan", as printf writes it */
        s++, n--;
    return same(s, n, "nan") || same(s, n, "NaN") || same(s, n, "NAN");
}

const char *ns__csv_unescape(ns__csv *c, const ns__csv_field *f, size_t *n)
{
    if (!f->escaped) {
        *n = f->n;
        return f->s;
    }
    size_t o = 0;
    for (size_t i = 0; i < f->n; i++) {
        c->scratch[o++] = f->s[i];
        if (f->s[i] == '"')
            i++; /* the lexer only lets doubled quotes through */
    }
    c->scratch[o] = '\0';
    *n = o;
    return c->scratch;
}

/* ---- numbers --------------------------------------------------------------------------------- */

/* Powers of ten that doubles hold exactly. */
static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline bool is_digit(char ch)
{
    return (unsigned char)(ch - '0') < 10;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
#define SWAR 1
/* Eight bytes at a time (SWAR): fields have varied lengths, and a byte loop pays a branch
 * misprediction at the end of nearly every run of digits; this finds the run's length with
 * bit arithmetic and converts up to 8 digits with three multiplies. */

static const uint64_t pow10_u64[8] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
static const float exact_pow10f[8] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f};

static inline uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* How many of the 8 bytes of w (first byte lowest) are ASCII digits before the first other
 * byte. A byte b is a digit when its high nibble and that of b + 6 are both 3; carries only
 * move towards later bytes, past the first non-digit. */
static inline unsigned digit_run(uint64_t w)
{
    uint64_t t =
        ((w & 0xf0f0f0f0f0f0f0f0u) | (((w + 0x0606060606060606u) & 0xf0f0f0f0f0f0f0f0u) >> 4)) ^
        0x3333333333333333u;
    return t ? (unsigned)__builtin_ctzll(t) >> 3 : 8;
}

/* The value of the first n (1..8) digits of w. */
static inline uint64_t digits_value(uint64_t w, unsigned n)
{
    uint64_t v = (w - 0x3030303030303030u) << (8 * (8 - n)); /* leading zero digits */
    v = v * 10 + (v >> 8);
    v = ((v & 0x000000ff000000ffu) * (100 + (UINT64_C(1000000) << 32)) +
         ((v >> 16) & 0x000000ff000000ffu) * (1 + (UINT64_C(10000) << 32))) >>
        32;
    return v;
}

/* [+-]digits[.digits] with at most 7 digits on each side, ending at the delimiter or a line
 * end (so not at an exponent), when 18 bytes can be read. *m and *nfrac give the value
 * m / 10^nfrac; *pp moves to the end. */
static inline bool swar_decimal(const char **pp, const char *end, char delim, uint64_t *m,
                                unsigned *nfrac, bool *neg, bool *integer)
{
    const char *p = *pp;
    if (end - p < 18)
        return false;
    /* The sign is shifted out of the first word rather than loaded again after it. */
    uint64_t w = load8(p);
    unsigned char c0 = (unsigned char)w;
    unsigned sign = c0 == '-' || c0 == '+';
    *neg = c0 == '-';
    w >>= 8 * sign;
    p += sign;
    unsigned n1 = digit_run(w), n2 = 0;
    if (n1 >= 8 - sign)
        return false;
    uint64_t v = n1 ? digits_value(w, n1) : 0;
    p += n1;
    *integer = *p != '.';
    if (*p == '.') {
        uint64_t w2 = load8(p + 1);
        n2 = digit_run(w2);
        if (n2 == 8)
            return false;
        if (n2)
            v = v * pow10_u64[n2] + digits_value(w2, n2);
        p += 1 + n2;
    }
    if (n1 + n2 == 0 || (*p != delim && *p != '\n' && *p != '\r'))
        return false;
    *m = v;
    *nfrac = n2;
    *pp = p;
    return true;
}
#endif

/* The float nearest the double d, or false where rounding twice could differ from rounding
 * the decimal once (d exactly halfway between two floats) or d is outside the normal float
 * range: those go to strtof. */
static inline bool to_float(double d, float *f)
{
    if (d > (double)FLT_MAX || (d < (double)FLT_MIN && d != 0.0))
        return false;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    if ((bits & 0x1fffffffu) == 0x10000000u)
        return false;
    *f = (float)d;
    return true;
}

/* The common field, fast: an unquoted decimal ([+-]digits[.digits][e[+-]digits], at most 19
 * digits, exponent of at most 4 digits) ending right at the delimiter, a line end or `end`.
 * Clinger's fast path gives the correctly rounded double: with the mantissa below 2^53 and
 * |exp10| <= 22 both operands are exact, so one IEEE multiply or divide rounds once. The
 * float is that double rounded again, which is exact except when the double lands exactly
 * halfway between two floats (or out of the normal float range): those go the slow way.
 * On success *pp moves to the end of the number. False: take the general path. */
static inline bool fast_number(const char **pp, const char *end, char delim, double *dv, float *fv,
                               bool *integer)
{
    const char *p = *pp;
    bool neg = false;
    float f;
#ifdef SWAR
    uint64_t sm;
    unsigned sfrac;
    if (swar_decimal(&p, end, delim, &sm, &sfrac, &neg, integer)) {
        double d = (double)sm / exact_pow10[sfrac];
        if (sm < (UINT64_C(1) << 24))
            f = (float)sm / exact_pow10f[sfrac]; /* both exact in float: rounded once */
        else if (!to_float(d, &f))
            return false;
        *dv = neg ? -d : d;
        *fv = neg ? -f : f;
        *pp = p;
        return true;
    }
    p = *pp;
    neg = false;
#endif
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    uint64_t m = 0;
    const char *d0 = p;
    while (p < end && is_digit(*p))
        m = m * 10 + (uint64_t)(*p++ - '0');
    size_t ndig = (size_t)(p - d0), nfrac = 0;
    bool isint = true;
    if (p < end && *p == '.') {
        isint = false;
        const char *f0 = ++p;
        while (p < end && is_digit(*p))
            m = m * 10 + (uint64_t)(*p++ - '0');
        nfrac = (size_t)(p - f0);
        ndig += nfrac;
    }
    if (ndig == 0 || ndig > 19)
        return false;
    int e10 = -(int)nfrac;
    if (p < end && (*p == 'e' || *p == 'E')) {
        isint = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '-' || *p == '+')) {
            eneg = *p == '-';
            p++;
        }
        const char *x0 = p;
        int ev = 0;
        while (p < end && is_digit(*p) && p - x0 < 4)
            ev = ev * 10 + (*p++ - '0');
        if (p == x0 || (p < end && is_digit(*p)))
            return false;
        e10 += eneg ? -ev : ev;
    }
    if (p < end && *p != delim && *p != '\n' && *p != '\r')
        return false;
    if (m > (UINT64_C(1) << 53) || e10 < -22 || e10 > 22)
        return false;
    double d = (double)m;
    d = e10 < 0 ? d / exact_pow10[-e10] : d * exact_pow10[e10];
    if (!to_float(d, &f))
        return false;
    *dv = neg ? -d : d;
    *fv = neg ? -f : f;
    *integer = isint;
    *pp = p;
    return true;
}

/* The scan's fast path: whether the field at *pp is a plain decimal ([+-]digits[.digits], at
 * most 19 digits, no exponent) ending at the delimiter, a line end or `end`, without converting
 * it (the scan needs only the type). Such a number is always within the float range. */
static inline bool fast_check(const char **pp, const char *end, char delim, bool *integer)
{
    const char *p = *pp;
#ifdef SWAR
    uint64_t m;
    unsigned nfrac;
    bool neg;
    if (swar_decimal(pp, end, delim, &m, &nfrac, &neg, integer))
        return true;
#endif
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    const char *d0 = p;
    while (p < end && is_digit(*p))
        p++;
    size_t ndig = (size_t)(p - d0);
    *integer = true;
    if (p < end && *p == '.') {
        *integer = false;
        const char *f0 = ++p;
        while (p < end && is_digit(*p))
            p++;
        ndig += (size_t)(p - f0);
    }
    if (ndig == 0 || ndig > 19 || (p < end && *p != delim && *p != '\n' && *p != '\r'))
        return false;
    *pp = p;
    return true;
}

ns__csv_num ns__csv_number(ns__csv *c, const char *s, size_t n, double *d, float *f, bool *integer)
{
    while (n > 0 && is_blank(*s, c->delim))
        s++, n--;
    while (n > 0 && is_blank(s[n - 1], c->delim))
        n--;
    if (ns__csv_is_missing(s, n))
        return NS__CSV_NUM_MISSING;
    const char *p = s;
    if (fast_number(&p, s + n, c->delim, d, f, integer) && p == s + n)
        return NS__CSV_NUM_OK;
    /* Check the syntax ourselves; strtod would also take hex, inf, nan and locale forms. */
    size_t i = 0;
    if (s[0] == '+' || s[0] == '-')
        i++;
    if (same_nocase(s + i, n - i, "inf") || same_nocase(s + i, n - i, "infinity"))
        return NS__CSV_NUM_INF;
    if (n - i >= 2 && s[i] == '0' && (s[i + 1] | 0x20) == 'x')
        return NS__CSV_NUM_HEX;
    size_t digits = 0;
    bool isint = true;
    for (; i < n && is_digit(s[i]); i++)
        digits++;
    if (i < n && s[i] == '.') {
        isint = false;
        for (i++; i < n && is_digit(s[i]); i++)
            digits++;
    }
    if (digits == 0)
        return NS__CSV_NUM_TEXT;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        isint = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t x0 = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == x0)
            return NS__CSV_NUM_TEXT;
    }
    if (i != n)
        return NS__CSV_NUM_TEXT;
    /* Valid: let the C library round it (correctly, in glibc), in the C locale whatever the
     * application set, through this thread's locale only. */
    memcpy(c->scratch, s, n);
    c->scratch[n] = '\0';
    locale_t old = uselocale(c->c_locale);
    double dd = strtod(c->scratch, NULL);
    float ff = strtof(c->scratch, NULL);
    uselocale(old);
    if (isinf(ff))
        return NS__CSV_NUM_RANGE;
    *d = dd;
    *f = ff;
    *integer = isint;
    return NS__CSV_NUM_OK;
}

/* ---- messages -------------------------------------------------------------------------------- */

void ns__csv_quote(char *buf, size_t cap, const char *s, size_t n)
{
    NS_ASSERT(cap >= 64);
    size_t o = 0, limit = n > 40 ? 40 : n;
    buf[o++] = '"';
    for (size_t i = 0; i < limit && o + 16 < cap;) {
        unsigned char b = (unsigned char)s[i];
        if (b >= 0x80) {
            size_t ok = ns__csv_utf8_check(s + i, n - i > 4 ? 4 : n - i);
            size_t len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
            if (ok >= len) {
                memcpy(buf + o, s + i, len);
                o += len;
                i += len;
                continue;
            }
        }
        if (b == '"' || b == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)b;
        } else if (b >= 0x20 && b < 0x7f) {
            buf[o++] = (char)b;
        } else {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", b);
        }
        i++;
    }
    if (limit < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

ns_status ns__csv_fail(ns__csv *c, ns_status status, int64_t line, int col, const char *fmt, ...)
{
    char what[NS__ERRMSG_CAP], where[320] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line > 0 && col >= 0 && c->cols != NULL && col < c->ncols && c->cols[col].name) {
        char q[256];
        ns__csv_quote(q, sizeof q, c->cols[col].name, strlen(c->cols[col].name));
        snprintf(where, sizeof where, "line %lld, column %d (%s): ", (long long)line, col + 1, q);
    } else if (line > 0 && col >= 0) {
        snprintf(where, sizeof where, "line %lld, column %d: ", (long long)line, col + 1);
    } else if (line > 0) {
        snprintf(where, sizeof where, "line %lld: ", (long long)line);
    }
    return ns_errorf(c->ctx, status, "%s: %s%s", c->name, where, what);
}

ns_status ns__csv_lex_fail(ns__csv *c, ns__csv_lex lex, const ns__csv_field *f, int col)
{
    switch (lex) {
    case NS__CSV_LEX_UNTERMINATED:
        return ns__csv_fail(c, NS_ERR_PARSE, f->line, col,
                            "a quoted field starts here and its closing quote is missing; "
                            "close the quote (a quote inside a quoted field is written twice: "
                            "\"\")");
    case NS__CSV_LEX_STRAY_QUOTE:
        return ns__csv_fail(c, NS_ERR_PARSE, f->line, col,
                            "a quote in the middle of an unquoted field; quote the whole field "
                            "and double the quotes inside it (\"say \"\"hi\"\"\")");
    case NS__CSV_LEX_AFTER_QUOTE:
        return ns__csv_fail(c, NS_ERR_PARSE, f->err_line, col,
                            "text after the closing quote of a quoted field; a quote inside a "
                            "quoted field is written twice (\"\")");
    case NS__CSV_LEX_TOO_LONG:
        return ns__csv_fail(c, NS_ERR_PARSE, f->line, col,
                            "the field is longer than 1 MiB; is a closing quote missing before "
                            "it?");
    case NS__CSV_LEX_OK:
        break;
    }
    return NS_OK;
}

/* ---- the passes ------------------------------------------------------------------------------ */

/* The message for a row with a field count other than the header's. Reads the rest of a
 * long row to count its fields. */
static ns_status ragged(ns__csv *c, ns__csv_lexer *lx, int64_t line, int64_t have, bool more)
{
    if (more) {
        ns__csv_field f;
        do {
            ns__csv_lex lex = ns__csv_read_field(lx, &f);
            if (lex != NS__CSV_LEX_OK)
                return ns__csv_lex_fail(c, lex, &f, (int)(have < INT32_MAX ? have : -1));
            have++;
        } while (f.end == NS__CSV_END_DELIM);
    }
    return ns__csv_fail(c, NS_ERR_PARSE, 0, -1, "line %lld has %lld field%s, the %s has %d; %s",
                        (long long)line, (long long)have, have == 1 ? "" : "s",
                        c->opts.no_header ? "first row" : "header", c->ncols,
                        more ? "quote fields that contain the delimiter, or remove the extra "
                               "delimiters"
                             : "add the missing fields (an empty field is nothing between two "
                               "delimiters)");
}

/* Checks that field j ended as field j of ncols must. */
static inline ns_status check_end(ns__csv *c, ns__csv_lexer *lx, int j, ns__csv_end end,
                                  int64_t line)
{
    if (j < c->ncols - 1) {
        if (end != NS__CSV_END_DELIM)
            return ragged(c, lx, line, j + 1, false);
    } else if (end == NS__CSV_END_DELIM) {
        return ragged(c, lx, line, j + 1, true);
    }
    return NS_OK;
}

static ns_status report(ns__csv *c, const char *stage, const ns__csv_lexer *lx)
{
    if (c->progress == NULL)
        return NS_OK;
    ns_status st = ns_progress_report(c->ctx, c->progress, stage, (double)(lx->p - c->text),
                                      (double)(c->end - c->text));
    if (st == NS_ERR_CANCELLED)
        return ns_errorf(c->ctx, st, "%s: loading cancelled (during the %s)", c->name, stage);
    return st;
}

static void seen(ns__csv_seen *at, int64_t line, const char *s, size_t n)
{
    if (at->line == 0) {
        at->line = line;
        at->s = s;
        at->n = n;
    }
}

/* A double as a set key: -0 and 0 are the same class. */
static inline double key_of(double d)
{
    return d == 0.0 ? 0.0 : d;
}

/* Reads field j as a number: the fast path, else the lexer and the strict parser. */
static inline ns_status number_field(ns__csv *c, ns__csv_lexer *lx, int j, ns__csv_num *kind,
                                     double *d, float *f, bool *integer, ns__csv_seen *at,
                                     ns__csv_end *end)
{
    const char *q = lx->p;
    if (fast_number(&q, lx->end, c->delim, d, f, integer)) {
        at->line = lx->line;
        at->s = lx->p;
        at->n = (size_t)(q - lx->p);
        *kind = NS__CSV_NUM_OK;
        *end = take_end(lx, q);
        return NS_OK;
    }
    ns__csv_field fl;
    ns__csv_lex lex = ns__csv_read_field(lx, &fl);
    if (lex != NS__CSV_LEX_OK)
        return ns__csv_lex_fail(c, lex, &fl, j);
    at->line = fl.line;
    at->s = fl.s;
    at->n = fl.n;
    *kind = fl.escaped ? NS__CSV_NUM_TEXT : ns__csv_number(c, fl.s, fl.n, d, f, integer);
    *end = fl.end;
    return NS_OK;
}

ns_status ns__csv_scan(ns__csv *c)
{
    ns__csv_lexer lx;
    ns__csv_lexer_init(&lx, c->data, c->end, c->data_line, c->delim);
    bool drop_any = c->opts.missing == NS_MISSING_DROP;
    int64_t rows = 0, dropped = 0;
    size_t nf = (size_t)c->n_features, nt = (size_t)c->n_targets;
    ns_status st = NS_OK;
    while (ns__csv_next_record(&lx)) {
        int64_t line = lx.line, r = rows - dropped;
        bool drop = false, pending = false;
        double pending_key = 0.0;
        ns__csv_col *pending_col = NULL;
        /* this row's place in the speculative buffers, or none */
        bool write = c->spec && r < c->spec_cap;
        float *xr = write ? c->spec_x + (size_t)r * nf : NULL;
        float *yr = write ? c->spec_y + (size_t)r * nt : NULL;
        for (int j = 0; j < c->ncols; j++) {
            ns__csv_col *col = &c->cols[j];
            ns__csv_end end = NS__CSV_END_FILE;
            if (col->kind == NS__CSV_SKIP) {
                ns__csv_field f;
                ns__csv_lex lex = ns__csv_read_field(&lx, &f);
                if (lex != NS__CSV_LEX_OK)
                    return ns__csv_lex_fail(c, lex, &f, j);
                end = f.end;
            } else {
                ns__csv_num kind = NS__CSV_NUM_TEXT;
                double d = 0.0;
                float v = 0.0f;
                bool integer = false;
                ns__csv_seen at = {0, NULL, 0};
                const char *q = lx.p;
                if (!c->spec && !col->collect && fast_check(&q, lx.end, c->delim, &integer)) {
                    kind = NS__CSV_NUM_OK;
                    at = (ns__csv_seen){lx.line, lx.p, (size_t)(q - lx.p)};
                    end = take_end(&lx, q);
                } else if ((st = number_field(c, &lx, j, &kind, &d, &v, &integer, &at, &end)) !=
                           NS_OK) {
                    return st;
                }
                switch (kind) {
                case NS__CSV_NUM_OK:
                    col->n_number++;
                    col->all_integer = col->all_integer && integer;
                    seen(&col->first_number, at.line, at.s, at.n);
                    if (write && col->target >= 0)
                        yr[col->target] = v;
                    else if (write)
                        xr[col->slot] = v;
                    if (col->collect) {
                        pending = true;
                        pending_key = key_of(d);
                        pending_col = col;
                    }
                    break;
                case NS__CSV_NUM_MISSING:
                    col->n_missing++;
                    seen(&col->first_missing, at.line, at.s, at.n);
                    drop = drop || drop_any || col->target >= 0;
                    if (write && col->target < 0)
                        xr[col->slot] = NAN; /* filled with the mean later, or dropped */
                    break;
                case NS__CSV_NUM_TEXT:
                    col->n_text++;
                    seen(&col->first_text, at.line, at.s, at.n);
                    c->spec = false;
                    break;
                default: /* inf, hex, out of range */
                    c->spec = false;
                    if (col->first_bad.line == 0)
                        col->bad = kind;
                    seen(&col->first_bad, at.line, at.s, at.n);
                    break;
                }
            }
            if ((st = check_end(c, &lx, j, end, line)) != NS_OK)
                return st;
        }
        /* Distinct numbers of a class target, over the rows that stay, up to the limit. */
        if (!drop && c->spec && !write)
            c->spec = false; /* more rows than line ends: lone CRs */
        if (drop) {
            dropped++;
        } else if (pending && pending_col->collect) {
            ns__csv_col *col = pending_col;
            if (c->task == NS_TASK_AUTO && !col->all_integer) {
                col->collect = false;
            } else {
                if ((st = ns__csv_set_add(c->ctx, &col->values, &pending_key, 8)) != NS_OK)
                    return st;
                if (c->task == NS_TASK_AUTO && col->values.n > (size_t)c->max_classes) {
                    col->collect = false;
                    col->too_many = true;
                }
            }
        }
        if (++rows % NS__CSV_PROGRESS_ROWS == 0 && (st = report(c, "scan", &lx)) != NS_OK)
            return st;
    }
    c->rows = rows;
    c->kept = rows - dropped;
    return NS_OK;
}

/* A text field waiting for the end of its row (kept rows only add their values). */
typedef struct pending_text {
    ns__csv_field f;
    int col;
} pending_text;

ns_status ns__csv_collect(ns__csv *c)
{
    int n_text = 0;
    for (int j = 0; j < c->ncols; j++)
        n_text += c->cols[j].kind == NS__CSV_ONE_HOT || c->cols[j].kind == NS__CSV_CLASS_TEXT;
    pending_text *pend = ns_calloc(c->ctx, (size_t)n_text, sizeof *pend);
    if (pend == NULL)
        return NS_ERR_NOMEM;
    ns__csv_lexer lx;
    ns__csv_lexer_init(&lx, c->data, c->end, c->data_line, c->delim);
    bool drop_any = c->opts.missing == NS_MISSING_DROP;
    int64_t rows = 0;
    ns_status st = NS_OK;
    while (st == NS_OK && ns__csv_next_record(&lx)) {
        int64_t line = lx.line;
        bool drop = false;
        int np = 0;
        for (int j = 0; j < c->ncols && st == NS_OK; j++) {
            ns__csv_col *col = &c->cols[j];
            ns__csv_field f;
            ns__csv_lex lex = ns__csv_read_field(&lx, &f);
            if (lex != NS__CSV_LEX_OK) {
                st = ns__csv_lex_fail(c, lex, &f, j);
                break;
            }
            if (col->kind != NS__CSV_SKIP) {
                const char *s = f.s;
                size_t n = f.n;
                while (n > 0 && is_blank(*s, c->delim))
                    s++, n--;
                while (n > 0 && is_blank(s[n - 1], c->delim))
                    n--;
                if (!f.escaped && ns__csv_is_missing(s, n))
                    drop = drop || drop_any || col->target >= 0;
                else if (col->kind != NS__CSV_NUMBER && col->kind != NS__CSV_CLASS_NUMBER)
                    pend[np++] = (pending_text){f, j};
            }
            st = check_end(c, &lx, j, f.end, line);
        }
        for (int k = 0; k < np && !drop && st == NS_OK; k++) {
            ns__csv_col *col = &c->cols[pend[k].col];
            size_t n;
            const char *s = ns__csv_unescape(c, &pend[k].f, &n);
            size_t bad = ns__csv_utf8_check(s, n);
            if (bad < n) {
                st = ns__csv_fail(c, NS_ERR_PARSE, pend[k].f.line, pend[k].col,
                                  "%s at byte %zu of the value; save the file as UTF-8",
                                  s[bad] == '\0' ? "a NUL byte" : "invalid UTF-8", bad + 1);
                break;
            }
            st = ns__csv_set_add(c->ctx, &col->values, s, n);
            if (st == NS_OK && col->kind == NS__CSV_ONE_HOT && col->values.n > NS__CSV_MAX_ONE_HOT)
                st = ns__csv_fail(c, NS_ERR_PARSE, pend[k].f.line, pend[k].col,
                                  "the column has more than %d distinct values, too many for "
                                  "one-hot columns; exclude it",
                                  NS__CSV_MAX_ONE_HOT);
        }
        if (st == NS_OK && ++rows % NS__CSV_PROGRESS_ROWS == 0)
            st = report(c, "collect", &lx);
    }
    ns_dealloc(c->ctx, pend);
    return st;
}

static ns_status lost(ns__csv *c, int64_t line, int col)
{
    /* The scan typed every field of this text; reaching here means a bug, not bad input. */
    return ns__csv_fail(c, NS_ERR_STATE, line, col,
                        "internal error: the field changed type between passes");
}

ns_status ns__csv_fill(ns__csv *c)
{
    ns__data_store *s = c->store;
    size_t nf = (size_t)c->n_features, nt = (size_t)s->targets;
    /* Rows that get dropped are written to a spare row, so a dropped last row stays in bounds. */
    float *spare = ns_calloc(c->ctx, nf + nt, sizeof(float));
    if (spare == NULL)
        return NS_ERR_NOMEM;
    int32_t spare_label = 0;
    bool drop_any = c->opts.missing != NS_MISSING_FILL_MEAN, any_one_hot = false;
    for (int j = 0; j < c->ncols; j++)
        any_one_hot = any_one_hot || c->cols[j].kind == NS__CSV_ONE_HOT;
    ns__csv_lexer lx;
    ns__csv_lexer_init(&lx, c->data, c->end, c->data_line, c->delim);
    int64_t r = 0, rows = 0;
    ns_status st = NS_OK;
    while (st == NS_OK && ns__csv_next_record(&lx)) {
        int64_t line = lx.line;
        bool in = r < c->kept, drop = false;
        float *xr = in ? s->xf + (size_t)r * nf : spare;
        float *yr = s->y == NULL ? NULL : in ? s->y + (size_t)r * nt : spare + nf;
        int32_t *label = s->labels == NULL ? NULL : in ? s->labels + r : &spare_label;
        if (any_one_hot)
            memset(xr, 0, nf * sizeof(float));
        for (int j = 0; j < c->ncols && st == NS_OK; j++) {
            ns__csv_col *col = &c->cols[j];
            ns__csv_end end = NS__CSV_END_FILE;
            if (col->kind == NS__CSV_NUMBER || col->kind == NS__CSV_CLASS_NUMBER) {
                ns__csv_num kind = NS__CSV_NUM_TEXT;
                double d = 0.0;
                float v = 0.0f;
                bool integer;
                ns__csv_seen at = {0, NULL, 0};
                if ((st = number_field(c, &lx, j, &kind, &d, &v, &integer, &at, &end)) != NS_OK)
                    break;
                if (kind == NS__CSV_NUM_MISSING) {
                    if (col->target >= 0 || drop_any)
                        drop = true;
                    else
                        xr[col->slot] = NAN;
                } else if (kind != NS__CSV_NUM_OK) {
                    st = lost(c, at.line, j);
                } else if (col->kind == NS__CSV_CLASS_NUMBER) {
                    double key = key_of(d);
                    int32_t e = ns__csv_set_find(&col->values, &key, 8);
                    if (e >= 0)
                        *label = col->values.rank[e];
                    else
                        drop = true; /* seen only in rows the scan drops */
                } else if (col->target >= 0) {
                    yr[col->slot] = v;
                } else {
                    xr[col->slot] = v;
                }
            } else {
                ns__csv_field f;
                ns__csv_lex lex = ns__csv_read_field(&lx, &f);
                if (lex != NS__CSV_LEX_OK) {
                    st = ns__csv_lex_fail(c, lex, &f, j);
                    break;
                }
                end = f.end;
                if (col->kind != NS__CSV_SKIP) {
                    size_t n;
                    const char *t = ns__csv_unescape(c, &f, &n);
                    const char *u = t;
                    size_t m = n;
                    while (m > 0 && is_blank(*u, c->delim))
                        u++, m--;
                    while (m > 0 && is_blank(u[m - 1], c->delim))
                        m--;
                    bool missing = !f.escaped && ns__csv_is_missing(u, m);
                    /* Values seen only in rows the scan drops are not in the set; the row
                     * count check below catches any other miss. */
                    int32_t e = missing ? -1 : ns__csv_set_find(&col->values, t, n);
                    if (e >= 0) {
                        if (col->kind == NS__CSV_CLASS_TEXT)
                            *label = col->values.rank[e];
                        else
                            xr[col->slot + col->values.rank[e]] = 1.0f;
                    } else if (!missing || drop_any || col->target >= 0) {
                        drop = true;
                    } else {
                        for (int k = 0; k < col->width; k++)
                            xr[col->slot + k] = NAN;
                    }
                }
            }
            if (st == NS_OK)
                st = check_end(c, &lx, j, end, line);
        }
        if (st == NS_OK && !drop)
            r++;
        if (st == NS_OK && ++rows % NS__CSV_PROGRESS_ROWS == 0)
            st = report(c, "parse", &lx);
    }
    if (st == NS_OK && r != c->kept)
        st = lost(c, 0, -1);
    ns_dealloc(c->ctx, spare);
    return st;
}
