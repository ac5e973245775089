/* CSV tables: options, the header, which columns are features and targets, what each column
 * becomes (numbers, one-hot, classes), and the dataset. The bytes are read by csv.c, the
 * distinct-value sets are csv_set.c's. */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/csv_private.h"

#define MAX_COLUMNS (1 << 24)

void ns_csv_options_default(ns_csv_options *opts)
{
    NS_ASSERT(opts != NULL);
    memset(opts, 0, sizeof *opts);
    opts->delimiter = 0;
    opts->task = NS_TASK_AUTO;
    opts->max_classes = 20;
    opts->missing = NS_MISSING_ERROR;
}

static size_t entry_at_rank(const ns__csv_set *set, int32_t k)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->rank[i] == k)
            return i;
    return 0;
}

/* ---- the header ------------------------------------------------------------------------------ */

/* Picks ',', ';' or tab: the candidate found the same (non-zero) number of times outside
 * quotes in each of the first records, the most frequent such; else the most frequent in the
 * first record; else ','. Looks at up to 8 records within the first 4 MiB. */
static char detect_delimiter(const char *p, const char *end)
{
    static const char cand[3] = {',', ';', '\t'};
    int64_t first[3] = {0, 0, 0}, cnt[3] = {0, 0, 0};
    bool consistent[3] = {true, true, true};
    const char *limit = (size_t)(end - p) > ((size_t)4 << 20) ? p + ((size_t)4 << 20) : end;
    int records = 0;
    bool quoted = false, any = false;
    for (; p < limit && records < 8; p++) {
        char ch = *p;
        if (ch == '"') {
            quoted = !quoted; /* a doubled quote toggles twice */
            any = true;
        } else if (!quoted && (ch == '\n' || ch == '\r')) {
            if (!any)
                continue; /* a blank line */
            for (int k = 0; k < 3; k++) {
                if (records == 0)
                    first[k] = cnt[k];
                else if (cnt[k] != first[k])
                    consistent[k] = false;
                cnt[k] = 0;
            }
            records++;
            any = false;
        } else if (!quoted) {
            any = true;
            for (int k = 0; k < 3; k++)
                cnt[k] += ch == cand[k];
        }
    }
    if (records == 0) /* one record with no line end */
        for (int k = 0; k < 3; k++)
            first[k] = cnt[k];
    int best = -1;
    for (int k = 0; k < 3; k++)
        if (first[k] > 0 && consistent[k] && (best < 0 || first[k] > first[best]))
            best = k;
    for (int k = 0; k < 3 && !(best >= 0 && consistent[best]); k++)
        if (first[k] > 0 && (best < 0 || first[k] > first[best]))
            best = k;
    return best < 0 ? ',' : cand[best];
}

static char *dup_bytes(ns_ctx *ctx, const char *s, size_t n)
{
    char *d = ns_alloc(ctx, n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static ns_status add_column(ns__csv *c, size_t *cap, int64_t line)
{
    if (c->ncols >= MAX_COLUMNS)
        return ns__csv_fail(c, NS_ERR_UNSUPPORTED, line, -1,
                            "more than %d columns; is the delimiter right?", MAX_COLUMNS);
    if (!ns__csv_grow(c->ctx, (void **)&c->cols, cap, (size_t)c->ncols + 1, sizeof *c->cols))
        return NS_ERR_NOMEM;
    memset(&c->cols[c->ncols], 0, sizeof *c->cols);
    c->cols[c->ncols].target = -1;
    c->cols[c->ncols].all_integer = true;
    c->ncols++;
    return NS_OK;
}

/* Reads the header (or counts the first row's fields when there is none), names the columns
 * and sets where the data starts. names receives every name, for look-ups. */
static ns_status read_header(ns__csv *c, ns__csv_set *names)
{
    ns__csv_lexer lx;
    ns__csv_lexer_init(&lx, c->text, c->end, 1, c->delim);
    if (!ns__csv_next_record(&lx))
        return ns__csv_fail(c, NS_ERR_PARSE, 0, -1,
                            "the file is empty; a CSV needs a header row and data rows");
    const char *first = lx.p;
    int64_t first_line = lx.line;
    size_t cap = 0;
    ns__csv_field f;
    ns_status st;
    do {
        ns__csv_lex lex = ns__csv_read_field(&lx, &f);
        if (lex != NS__CSV_LEX_OK)
            return ns__csv_lex_fail(c, lex, &f, c->ncols);
        if ((st = add_column(c, &cap, f.line)) != NS_OK)
            return st;
        ns__csv_col *col = &c->cols[c->ncols - 1];
        char num[24];
        size_t n;
        const char *s = ns__csv_unescape(c, &f, &n);
        if (c->opts.no_header || n == 0) {
            n = (size_t)snprintf(num, sizeof num, "%d", c->ncols - 1);
            s = num;
        } else {
            size_t bad = ns__csv_utf8_check(s, n);
            if (bad < n)
                return ns__csv_fail(c, NS_ERR_PARSE, f.line, c->ncols - 1,
                                    "the column name has %s at byte %zu; save the file as "
                                    "UTF-8",
                                    s[bad] == '\0' ? "a NUL byte" : "invalid UTF-8", bad + 1);
        }
        if ((col->name = dup_bytes(c->ctx, s, n)) == NULL)
            return NS_ERR_NOMEM;
        int32_t prev = ns__csv_set_find(names, s, n);
        if (prev >= 0) {
            char q[256];
            ns__csv_quote(q, sizeof q, s, n);
            return ns__csv_fail(c, NS_ERR_PARSE, f.line, -1,
                                "columns %d and %d are both named %s; rename one (column "
                                "names must be unique)",
                                (int)prev + 1, c->ncols, q);
        }
        if ((st = ns__csv_set_add(c->ctx, names, s, n)) != NS_OK)
            return st;
    } while (f.end == NS__CSV_END_DELIM);
    if (c->opts.no_header) {
        c->data = first;
        c->data_line = first_line;
    } else {
        c->data = lx.p;
        c->data_line = lx.line;
        if (!ns__csv_next_record(&lx))
            return ns__csv_fail(c, NS_ERR_PARSE, 0, -1,
                                "the file has a header row but no data rows; add rows below "
                                "the header (or set no_header if the first row is data)");
    }
    if (c->ncols == 1) {
        char q[256], d[8] = "tab";
        ns__csv_quote(q, sizeof q, c->cols[0].name, strlen(c->cols[0].name));
        if (c->delim != '\t')
            snprintf(d, sizeof d, "'%c'", c->delim);
        return ns__csv_fail(c, NS_ERR_PARSE, 0, -1,
                            "the file has a single column (%s); a dataset needs feature columns "
                            "and a target. If the columns are separated by something other than "
                            "%s, give it as the delimiter option",
                            q, d);
    }
    return NS_OK;
}

/* ---- choosing columns ------------------------------------------------------------------------ */

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

/* Column j's name quoted for a message, in buf[256]. */
static const char *quote_name(const ns__csv *c, int j, char *buf)
{
    ns__csv_quote(buf, 256, c->cols[j].name, strlen(c->cols[j].name));
    return buf;
}

/* Edit distance (case-insensitive; a swap of neighbours counts one), for did-you-mean; large
 * for long strings. */
static size_t distance(const char *a, size_t na, const char *b, size_t nb)
{
    if (na > 64 || nb > 64)
        return SIZE_MAX;
    size_t d[65][65];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            char x = lower(a[i - 1]), y = lower(b[j - 1]);
            size_t best = d[i - 1][j - 1] + (x != y);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && x == lower(b[j - 2]) && lower(a[i - 2]) == y &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[na][nb];
}

/* The message for an unknown column name: a did-you-mean when one is close, and the columns. */
static ns_status unknown_column(ns__csv *c, const char *what, const char *s, size_t n)
{
    char q[256], hint[320] = "", list[600];
    ns__csv_quote(q, sizeof q, s, n);
    size_t best = SIZE_MAX;
    int best_j = -1;
    for (int j = 0; j < c->ncols; j++) {
        size_t d = distance(s, n, c->cols[j].name, strlen(c->cols[j].name));
        if (d < best) {
            best = d;
            best_j = j;
        }
    }
    if (best_j >= 0 && best <= (n + 2) / 3) {
        char qn[256];
        ns__csv_quote(qn, sizeof qn, c->cols[best_j].name, strlen(c->cols[best_j].name));
        snprintf(hint, sizeof hint, " (did you mean %s?)", qn);
    }
    size_t o = 0;
    int j = 0;
    for (; j < c->ncols && o + 64 < sizeof list; j++) {
        char qn[256];
        ns__csv_quote(qn, sizeof qn, c->cols[j].name, strlen(c->cols[j].name));
        if (o + strlen(qn) + 64 >= sizeof list)
            break;
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", j ? ", " : "", qn);
    }
    if (j < c->ncols)
        snprintf(list + o, sizeof list - o, " and %d more", c->ncols - j);
    return ns__csv_fail(c, NS_ERR_NOTFOUND, 0, -1,
                        "%s: no column named %s%s; the columns are %s (a 0-based index works "
                        "too)",
                        what, q, hint, list);
}

/* Resolves a comma-separated list of names or 0-based indices into columns, in the list's
 * order. *out is allocated (at least one element). */
static ns_status resolve(ns__csv *c, const ns__csv_set *names, const char *spec, const char *what,
                         int **out, int *count)
{
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    int *idx = ns_alloc(c->ctx, cap * sizeof *idx);
    if (idx == NULL)
        return NS_ERR_NOMEM;
    char q[256];
    *out = idx;
    *count = 0;
    const char *p = spec;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int32_t j = ns__csv_set_find(names, p, n);
        const char *s = p;
        size_t m = n;
        while (j < 0 && m > 0 && (*s == ' ' || *s == '\t'))
            s++, m--;
        while (j < 0 && m > 0 && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        if (j < 0)
            j = ns__csv_set_find(names, s, m);
        if (j < 0 && m == 0)
            return ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                                "%s: an empty column name in \"%s\"; list names or 0-based "
                                "indices separated by commas",
                                what, spec);
        if (j < 0 && m <= 9 && strspn(s, "0123456789") >= m) {
            long v = strtol(s, NULL, 10);
            if (v >= c->ncols)
                return ns__csv_fail(c, NS_ERR_NOTFOUND, 0, -1,
                                    "%s: column index %ld is out of range; the file has %d "
                                    "columns (0 to %d)",
                                    what, v, c->ncols, c->ncols - 1);
            j = (int32_t)v;
        }
        if (j < 0)
            return unknown_column(c, what, s, m);
        for (int k = 0; k < *count; k++)
            if (idx[k] == j)
                return ns__csv_fail(c, NS_ERR_INVALID, 0, -1, "%s: column %s is listed twice", what,
                                    quote_name(c, j, q));
        idx[(*count)++] = (int)j;
        if (e == NULL)
            break;
        p = e + 1;
    }
    return NS_OK;
}

/* Marks targets and features from the options. order receives the feature columns in the
 * order their x columns take. */
static ns_status choose_columns(ns__csv *c, const ns__csv_set *names, int **order, int *n_order)
{
    char q[256];
    int *tg = NULL, *ex = NULL, n_tg = 0, n_ex = 0;
    ns_status st = NS_OK;
    if (c->opts.no_target) {
        if (c->opts.target != NULL)
            st = ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                              "a target column (%s) is given but no_target is set; drop one",
                              c->opts.target);
    } else if (c->opts.target != NULL) {
        st = resolve(c, names, c->opts.target, "target", &tg, &n_tg);
    } else if ((tg = ns_alloc(c->ctx, sizeof *tg)) == NULL) {
        st = NS_ERR_NOMEM;
    } else {
        tg[0] = c->ncols - 1;
        n_tg = 1;
    }
    if (st == NS_OK && c->opts.exclude != NULL)
        st = resolve(c, names, c->opts.exclude, "exclude", &ex, &n_ex);
    if (st == NS_OK && c->opts.features != NULL)
        st = resolve(c, names, c->opts.features, "features", order, n_order);
    for (int t = 0; st == NS_OK && t < n_tg; t++) {
        c->cols[tg[t]].target = t;
        c->cols[tg[t]].slot = t;
    }
    c->n_targets = c->opts.no_target ? 1 : n_tg; /* a placeholder target of zeros */
    for (int k = 0; st == NS_OK && k < n_ex; k++) {
        ns__csv_col *col = &c->cols[ex[k]];
        if (col->target >= 0)
            st = ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                              "column %s is both a target and excluded; pick one",
                              quote_name(c, ex[k], q));
        for (int i = 0; st == NS_OK && i < *n_order; i++)
            if ((*order)[i] == ex[k])
                st = ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                                  "column %s is both in features and in exclude; pick one",
                                  quote_name(c, ex[k], q));
        col->excluded = true;
    }
    if (st == NS_OK && c->opts.features == NULL) {
        if ((*order = ns_alloc(c->ctx, (size_t)c->ncols * sizeof **order)) == NULL)
            st = NS_ERR_NOMEM;
        for (int j = 0; st == NS_OK && j < c->ncols; j++)
            if (c->cols[j].target < 0 && !c->cols[j].excluded)
                (*order)[(*n_order)++] = j;
    }
    for (int i = 0; st == NS_OK && i < *n_order; i++) {
        ns__csv_col *col = &c->cols[(*order)[i]];
        if (col->target >= 0)
            st = ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                              "column %s is both a feature and a target; pick one",
                              quote_name(c, (*order)[i], q));
        col->feature = true;
    }
    for (int j = 0; j < c->ncols; j++) /* numbers until the scan shows otherwise */
        c->cols[j].kind =
            c->cols[j].feature || c->cols[j].target >= 0 ? NS__CSV_NUMBER : NS__CSV_SKIP;
    if (st == NS_OK && *n_order == 0)
        st = ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                          "no feature columns are left once the target%s and excluded columns "
                          "are taken out; keep at least one feature",
                          n_tg > 1 ? "s" : "");
    if (st == NS_OK && n_tg > 1 && c->task == NS_TASK_CLASSIFICATION)
        st = ns__csv_fail(c, NS_ERR_INVALID, 0, -1,
                          "classification takes one target column, not %d; several targets "
                          "are for (multi-output) regression",
                          n_tg);
    ns_dealloc(c->ctx, tg);
    ns_dealloc(c->ctx, ex);
    return st;
}

/* ---- typing ---------------------------------------------------------------------------------- */

static ns_status bad_number(ns__csv *c, int j)
{
    const ns__csv_col *col = &c->cols[j];
    char q[256];
    ns__csv_quote(q, sizeof q, col->first_bad.s, col->first_bad.n);
    const char *why = col->bad == NS__CSV_NUM_INF
                          ? "is not a finite number; replace it with a number (an empty field "
                            "or nan counts as missing when the missing option allows it)"
                      : col->bad == NS__CSV_NUM_HEX
                          ? "is a hexadecimal number; write it in decimal"
                          : "is too large for a 32-bit float (at most about 3.4e38); rescale "
                            "the column";
    return ns__csv_fail(c, NS_ERR_PARSE, col->first_bad.line, j, "%s %s", q, why);
}

/* Decides what every used column becomes, and the task. */
static ns_status decide(ns__csv *c)
{
    char q[256], qn[256];
    for (int j = 0; j < c->ncols; j++) {
        ns__csv_col *col = &c->cols[j];
        bool empty = col->n_number + col->n_text == 0 && col->first_bad.line == 0;
        if (col->target >= 0 && empty)
            return ns__csv_fail(c, NS_ERR_PARSE, 0, -1,
                                "the target column %s has no valid rows (every value is "
                                "missing); pick another target",
                                quote_name(c, j, q));
        if (col->feature && empty && c->opts.missing == NS_MISSING_FILL_MEAN)
            return ns__csv_fail(c, NS_ERR_PARSE, 0, -1,
                                "column %s has no values to take a mean of; exclude it",
                                quote_name(c, j, q));
    }
    for (int j = 0; j < c->ncols; j++) {
        ns__csv_col *col = &c->cols[j];
        if (col->kind == NS__CSV_SKIP)
            continue;
        if (col->n_text == 0 && col->first_bad.line != 0)
            return bad_number(c, j);
        if (col->n_text > 0) {
            ns__csv_quote(q, sizeof q, col->first_text.s, col->first_text.n);
            if (col->n_number > 0)
                ns__csv_quote(qn, sizeof qn, col->first_number.s, col->first_number.n);
        }
        if (col->feature && col->n_text > 0) {
            if (col->n_number > 0 && !c->opts.one_hot)
                return ns__csv_fail(c, NS_ERR_PARSE, col->first_text.line, j,
                                    "%s is not a number, but the column holds numbers (line "
                                    "%lld: %s); fix the value, leave it empty for a missing "
                                    "value, or leave the column out (setting exclude, flag "
                                    "--exclude)",
                                    q, (long long)col->first_number.line, qn);
            if (!c->opts.one_hot)
                return ns__csv_fail(c, NS_ERR_PARSE, col->first_text.line, j,
                                    "the column is text (%s); turn it into one 0/1 column per "
                                    "value (setting one_hot: true, flag --one-hot) or leave it "
                                    "out (setting exclude, flag --exclude)",
                                    q);
            col->kind = NS__CSV_ONE_HOT;
        } else if (col->target >= 0 && col->n_text > 0) {
            if (c->n_targets > 1)
                return ns__csv_fail(c, NS_ERR_PARSE, col->first_text.line, j,
                                    "%s is text, but several target columns mean multi-output "
                                    "regression, which needs numbers; fix the column or use "
                                    "one target",
                                    q);
            if (c->task == NS_TASK_REGRESSION)
                return ns__csv_fail(c, NS_ERR_PARSE, col->first_text.line, j,
                                    "%s is text, so the target cannot be a regression target; "
                                    "set task to classification (or auto), or pick a numeric "
                                    "target",
                                    q);
            if (c->task == NS_TASK_AUTO && col->n_number > 0)
                return ns__csv_fail(c, NS_ERR_PARSE, col->first_text.line, j,
                                    "the target holds text (%s) and numbers (line %lld: %s); "
                                    "fix the value, or set task to classification to take "
                                    "every value as a class name",
                                    q, (long long)col->first_number.line, qn);
            col->kind = NS__CSV_CLASS_TEXT;
        } else if (col->target >= 0 && c->n_targets == 1 && c->task != NS_TASK_REGRESSION) {
            bool classes = c->task == NS_TASK_CLASSIFICATION ||
                           (col->all_integer && !col->too_many && col->values.n > 0);
            col->kind = classes ? NS__CSV_CLASS_NUMBER : NS__CSV_NUMBER;
        }
        if (col->kind != NS__CSV_CLASS_NUMBER)
            ns__csv_set_free(c->ctx, &col->values);
    }
    if (c->opts.missing == NS_MISSING_ERROR) {
        int first = -1;
        for (int j = 0; j < c->ncols; j++) {
            const ns__csv_seen *m = &c->cols[j].first_missing;
            if (c->cols[j].kind != NS__CSV_SKIP && m->line > 0 &&
                (first < 0 || m->line < c->cols[first].first_missing.line))
                first = j;
        }
        if (first >= 0) {
            const ns__csv_col *col = &c->cols[first];
            if (col->first_missing.n > 0)
                ns__csv_quote(q, sizeof q, col->first_missing.s, col->first_missing.n);
            return ns__csv_fail(c, NS_ERR_PARSE, col->first_missing.line, first,
                                "missing value%s%s; fill it in, or set the missing option to "
                                "drop (drops such rows)%s",
                                col->first_missing.n > 0 ? " " : " (an empty field)",
                                col->first_missing.n > 0 ? q : "",
                                col->target >= 0 ? "" : " or fill_mean (uses the column mean)");
        }
    }
    c->task = NS_TASK_REGRESSION;
    for (int j = 0; j < c->ncols; j++)
        if (c->cols[j].kind == NS__CSV_CLASS_TEXT || c->cols[j].kind == NS__CSV_CLASS_NUMBER)
            c->task = NS_TASK_CLASSIFICATION;
    if (c->kept == 0)
        return ns__csv_fail(c, NS_ERR_PARSE, 0, -1,
                            "every one of the %lld rows has a missing value, so none is left; "
                            "fill in values, exclude the columns with gaps%s",
                            (long long)c->rows,
                            c->opts.missing == NS_MISSING_DROP ? ", or set missing to fill_mean"
                                                               : "");
    return NS_OK;
}

/* ---- the dataset ----------------------------------------------------------------------------- */

/* A numeric class name: integers as integers ("2", "-1"), others as the shortest text that
 * reads back ("0.5"), in the C locale. */
static void class_name(ns__csv *c, double v, char *buf, size_t cap)
{
    locale_t old = uselocale(c->c_locale);
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, cap, "%.0f", v);
    else
        ns__format_double(buf, cap, v);
    uselocale(old);
}

static ns_status name_features(ns__csv *c, const int *order, int n_order)
{
    ns__data_store *s = c->store;
    for (int i = 0; i < n_order; i++) {
        const ns__csv_col *col = &c->cols[order[i]];
        if (col->kind == NS__CSV_NUMBER) {
            if ((s->feature_names[col->slot] = ns_strdup(c->ctx, col->name)) == NULL)
                return NS_ERR_NOMEM;
            continue;
        }
        size_t nl = strlen(col->name);
        ns_status st = ns__store_add_one_hot(s, col->name, col->slot, col->width);
        if (st != NS_OK)
            return st;
        for (int k = 0; k < col->width; k++) {
            size_t e = entry_at_rank(&col->values, k);
            size_t vl = col->values.len[e];
            char *name = ns_alloc(c->ctx, nl + vl + 2);
            if (name == NULL)
                return NS_ERR_NOMEM;
            memcpy(name, col->name, nl);
            name[nl] = '=';
            memcpy(name + nl + 1, ns__csv_set_key(&col->values, e), vl);
            name[nl + 1 + vl] = '\0';
            s->feature_names[col->slot + k] = name;
        }
    }
    for (int j = 0; j < c->ncols; j++)
        if (c->cols[j].target >= 0 &&
            (s->target_names[c->cols[j].target] = ns_strdup(c->ctx, c->cols[j].name)) == NULL)
            return NS_ERR_NOMEM;
    return NS_OK;
}

static ns_status set_classes(ns__csv *c, const ns__csv_col *col)
{
    const ns__csv_set *set = &col->values;
    char **names = ns_calloc(c->ctx, set->n, sizeof *names);
    if (names == NULL)
        return NS_ERR_NOMEM;
    ns_status st = NS_OK;
    for (size_t e = 0; e < set->n && st == NS_OK; e++) {
        char buf[64];
        const char *s = ns__csv_set_key(set, e);
        if (col->kind == NS__CSV_CLASS_NUMBER) {
            double v;
            memcpy(&v, s, sizeof v);
            class_name(c, v, buf, sizeof buf);
            s = buf;
        }
        if ((names[set->rank[e]] = ns_strdup(c->ctx, s)) == NULL)
            st = NS_ERR_NOMEM;
    }
    if (st == NS_OK)
        st = ns__store_set_classes(c->store, (int)set->n, (const char *const *)names);
    for (size_t i = 0; i < set->n; i++)
        ns_dealloc(c->ctx, names[i]);
    ns_dealloc(c->ctx, names);
    return st;
}

/* Fills the marked (NaN) gaps of features with the mean of the kept rows that have a value. */
static ns_status fill_means(ns__csv *c)
{
    const ns__data_store *s = c->store;
    size_t nf = (size_t)c->n_features;
    char q[256];
    for (int j = 0; j < c->ncols; j++) {
        const ns__csv_col *col = &c->cols[j];
        if (!col->feature || col->n_missing == 0)
            continue;
        for (int k = 0; k < col->width; k++) {
            float *x = s->xf + col->slot + k;
            double sum = 0.0;
            int64_t n = 0;
            for (int64_t r = 0; r < s->rows; r++)
                if (!isnan(x[(size_t)r * nf])) {
                    sum += (double)x[(size_t)r * nf];
                    n++;
                }
            if (n == 0)
                return ns__csv_fail(c, NS_ERR_PARSE, 0, j,
                                    "column %s has no values to take a mean of; exclude "
                                    "it",
                                    quote_name(c, j, q));
            float mean = (float)(sum / (double)n);
            for (int64_t r = 0; r < s->rows; r++)
                if (isnan(x[(size_t)r * nf]))
                    x[(size_t)r * nf] = mean;
        }
    }
    return NS_OK;
}

static ns_status check_options(ns__csv *c, const ns_csv_options *o)
{
    unsigned char d = (unsigned char)o->delimiter;
    if (d != 0 && (d == '"' || d == '\n' || d == '\r' || d >= 0x80))
        return ns_errorf(c->ctx, NS_ERR_INVALID,
                         "%s: the delimiter cannot be a quote, a line end or a non-ASCII byte "
                         "(use ',', ';' or tab, or 0 to detect it)",
                         c->name);
    if (o->task != NS_TASK_AUTO && o->task != NS_TASK_REGRESSION &&
        o->task != NS_TASK_CLASSIFICATION)
        return ns_errorf(c->ctx, NS_ERR_INVALID, "%s: unknown task %d", c->name, (int)o->task);
    if (o->missing != NS_MISSING_ERROR && o->missing != NS_MISSING_DROP &&
        o->missing != NS_MISSING_FILL_MEAN)
        return ns_errorf(c->ctx, NS_ERR_INVALID, "%s: unknown missing-value policy %d", c->name,
                         (int)o->missing);
    if (o->max_classes < 0)
        return ns_errorf(c->ctx, NS_ERR_INVALID,
                         "%s: max_classes is %d; it must be >= 0 (0 "
                         "means 20)",
                         c->name, o->max_classes);
    return NS_OK;
}

/* Line ends in [p, end): at least the number of records that follow (rows split by lone CRs
 * aside, which the scan notices). */
static int64_t count_lines(const char *p, const char *end)
{
    int64_t n = 0;
    char nl = memchr(p, '\n', (size_t)(end - p)) ? '\n' : '\r';
    while ((p = memchr(p, nl, (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* Sets up the scan's speculative fill (see ns__csv.spec): features at their provisional slots
 * (their order, one column each), buffers for every line. Not for forced classification,
 * whose float targets could not be told apart again. The buffers are not zeroed, so pages
 * past the rows are never touched. */
static ns_status start_spec(ns__csv *c, const int *order, int n_order)
{
    for (int i = 0; i < n_order; i++)
        c->cols[order[i]].slot = i;
    c->n_features = n_order;
    if (c->task == NS_TASK_CLASSIFICATION)
        return NS_OK;
    int64_t cap = count_lines(c->data, c->end) + 1;
    if ((uint64_t)cap > SIZE_MAX / sizeof(float) / (size_t)(n_order + c->n_targets))
        return NS_OK;
    c->spec_x = ns_alloc(c->ctx, (size_t)cap * (size_t)n_order * sizeof(float));
    c->spec_y = ns_alloc(c->ctx, (size_t)cap * (size_t)c->n_targets * sizeof(float));
    if (c->spec_x == NULL || c->spec_y == NULL)
        return NS_ERR_NOMEM;
    if (c->opts.no_target) /* no column writes the placeholder target */
        memset(c->spec_y, 0, (size_t)cap * sizeof(float));
    c->spec_cap = cap;
    c->spec = true;
    return NS_OK;
}

/* p cut to size bytes (> 0); p itself when the allocator will not shrink it, which is no
 * error (and leaves no message behind). */
static float *shrink(ns__csv *c, float *p, size_t size)
{
    float *q = ns__realloc_quiet(c->ctx, p, size);
    return q != NULL ? q : p;
}

/* Makes the store from the scan's rows when every used column is numeric (and the class
 * targets' floats map back to their classes); *adopted false leaves the fill pass to do it. */
static ns_status adopt_spec(ns__csv *c, const char *ds_name, bool *adopted)
{
    *adopted = false;
    ns__csv_col *class_col = NULL;
    for (int j = 0; j < c->ncols; j++) {
        ns__csv_kind k = c->cols[j].kind;
        if (k != NS__CSV_SKIP && k != NS__CSV_NUMBER && k != NS__CSV_CLASS_NUMBER)
            return NS_OK;
        if (k == NS__CSV_CLASS_NUMBER)
            class_col = &c->cols[j];
    }
    if (!c->spec || c->kept > c->spec_cap)
        return NS_OK;
    size_t nf = (size_t)c->n_features, nt = (size_t)c->n_targets, kept = (size_t)c->kept;
    int32_t *labels = NULL;
    if (class_col != NULL) {
        if ((labels = ns_alloc(c->ctx, kept * sizeof *labels)) == NULL)
            return NS_ERR_NOMEM;
        for (size_t r = 0; r < kept; r++) {
            double key = c->spec_y[r] == 0.0f ? 0.0 : (double)c->spec_y[r]; /* -0 is 0 */
            int32_t e = ns__csv_set_find(&class_col->values, &key, sizeof key);
            if (e < 0) { /* an integer beyond 2^24 lost digits as a float */
                ns_dealloc(c->ctx, labels);
                return NS_OK;
            }
            labels[r] = class_col->values.rank[e];
        }
    }
    int shape[1] = {c->n_features};
    ns_status st =
        ns__store_new(c->ctx, ds_name, 0, 1, shape, false, c->task, c->n_targets, &c->store);
    if (st != NS_OK) {
        ns_dealloc(c->ctx, labels);
        return st;
    }
    /* A store of 0 rows has no arrays; it takes the scan's, cut to the rows kept. */
    c->store->xf = shrink(c, c->spec_x, kept * nf * sizeof(float));
    c->spec_x = NULL;
    if (labels != NULL) {
        c->store->labels = labels;
    } else {
        c->store->y = shrink(c, c->spec_y, kept * nt * sizeof(float));
        c->spec_y = NULL;
    }
    c->store->rows = c->kept;
    *adopted = true;
    return NS_OK;
}

static ns_status build(ns__csv *c, const char *ds_name)
{
    ns__csv_set names = {0};
    int *order = NULL, n_order = 0;
    ns_status st = read_header(c, &names);
    if (c->header_only) {
        ns__csv_set_free(c->ctx, &names);
        return st;
    }
    if (st == NS_OK)
        st = choose_columns(c, &names, &order, &n_order);
    ns__csv_set_free(c->ctx, &names);
    for (int j = 0; st == NS_OK && j < c->ncols; j++)
        c->cols[j].collect =
            c->cols[j].target >= 0 && c->n_targets == 1 && c->task != NS_TASK_REGRESSION;
    if (st == NS_OK)
        st = start_spec(c, order, n_order);
    if (st == NS_OK)
        st = ns__csv_scan(c);
    if (st == NS_OK)
        st = decide(c);
    bool text = false;
    for (int j = 0; st == NS_OK && j < c->ncols; j++)
        text = text || c->cols[j].kind == NS__CSV_ONE_HOT || c->cols[j].kind == NS__CSV_CLASS_TEXT;
    if (st == NS_OK && text)
        st = ns__csv_collect(c);
    for (int j = 0; st == NS_OK && j < c->ncols; j++)
        if (c->cols[j].values.n > 0)
            st = ns__csv_set_sort(c->ctx, &c->cols[j].values,
                                  c->cols[j].kind == NS__CSV_CLASS_NUMBER);
    /* x columns in feature order; one-hot columns take one per value */
    int64_t nf = 0;
    for (int i = 0; st == NS_OK && i < n_order; i++) {
        ns__csv_col *col = &c->cols[order[i]];
        col->slot = (int)nf;
        col->width = col->kind == NS__CSV_ONE_HOT ? (int)col->values.n : 1;
        nf += col->width;
        if (nf > INT_MAX / 2)
            st = ns__csv_fail(c, NS_ERR_UNSUPPORTED, 0, -1, "too many feature columns");
    }
    if (st == NS_OK && nf == 0)
        st = ns__csv_fail(c, NS_ERR_PARSE, 0, -1, "no feature columns have values");
    c->n_features = (int)nf;
    bool adopted = false;
    if (st == NS_OK)
        st = adopt_spec(c, ds_name, &adopted);
    /* Not taken: free them before the store is made, so the rows are never held twice. */
    ns_dealloc(c->ctx, c->spec_x);
    ns_dealloc(c->ctx, c->spec_y);
    c->spec_x = c->spec_y = NULL;
    if (st == NS_OK && !adopted) {
        int shape[1] = {c->n_features};
        st = ns__store_new(c->ctx, ds_name, c->kept, 1, shape, false, c->task, c->n_targets,
                           &c->store);
    }
    if (st == NS_OK)
        st = name_features(c, order, n_order);
    for (int j = 0; st == NS_OK && j < c->ncols; j++)
        if (c->cols[j].kind == NS__CSV_CLASS_TEXT || c->cols[j].kind == NS__CSV_CLASS_NUMBER)
            st = set_classes(c, &c->cols[j]);
    if (st == NS_OK && !adopted)
        st = ns__csv_fill(c);
    if (st == NS_OK && c->opts.missing == NS_MISSING_FILL_MEAN)
        st = fill_means(c);
    ns_dealloc(c->ctx, order);
    return st;
}

/* Parses text[len]; name is for messages, ds_name the dataset's name. */
static ns_status parse(ns_ctx *ctx, const char *text, size_t len, const char *name,
                       const char *ds_name, const ns_csv_options *opts, const ns_progress *progress,
                       ns_dataset **out, char ***header, int *header_count)
{
    ns__csv c;
    memset(&c, 0, sizeof c);
    c.ctx = ctx;
    c.name = name;
    c.progress = progress;
    if (opts != NULL)
        c.opts = *opts;
    else
        ns_csv_options_default(&c.opts);
    ns_status st = check_options(&c, &c.opts);
    if (st != NS_OK)
        return st;
    c.task = c.opts.task;
    c.max_classes = c.opts.max_classes ? c.opts.max_classes : 20;
    c.text = text ? text : "";
    c.end = c.text + len;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        c.text += 3;
    c.delim = c.opts.delimiter ? c.opts.delimiter : detect_delimiter(c.text, c.end);
    c.c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c.c_locale == (locale_t)0)
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: cannot make the C locale", name);
    c.header_only = header != NULL;
    c.scratch = ns_alloc(ctx, NS__CSV_MAX_FIELD + 1);
    st = c.scratch == NULL ? NS_ERR_NOMEM : build(&c, ds_name);
    if (st == NS_OK && header != NULL) {
        /* the names move to the caller */
        char **names = ns_calloc(ctx, (size_t)(c.ncols > 0 ? c.ncols : 1), sizeof *names);
        if (names == NULL)
            st = NS_ERR_NOMEM;
        for (int j = 0; st == NS_OK && j < c.ncols; j++) {
            names[j] = c.cols[j].name;
            c.cols[j].name = NULL;
        }
        *header = names;
        *header_count = st == NS_OK ? c.ncols : 0;
    } else if (st == NS_OK) {
        st = ns__dataset_from_store(c.store, out);
    }
    ns__store_release(c.store);
    for (int j = 0; j < c.ncols; j++) {
        ns_dealloc(ctx, c.cols[j].name);
        ns__csv_set_free(ctx, &c.cols[j].values);
    }
    ns_dealloc(ctx, c.cols);
    ns_dealloc(ctx, c.scratch);
    ns_dealloc(ctx, c.spec_x);
    ns_dealloc(ctx, c.spec_y);
    freelocale(c.c_locale);
    return st;
}

ns_status ns_data_parse_csv(ns_ctx *ctx, const char *text, size_t len, const char *name,
                            const ns_csv_options *opts, const ns_progress *progress,
                            ns_dataset **out)
{
    NS_ASSERT(ctx != NULL && out != NULL && (text != NULL || len == 0));
    *out = NULL;
    if (name == NULL)
        name = "csv";
    return parse(ctx, text, len, name, name, opts, progress, out, NULL, NULL);
}

/* Loads path's CSV into *out, or (header non-NULL) reads only its column names. */
static ns_status load_csv(ns_ctx *ctx, const char *path, const ns_csv_options *opts,
                          const ns_progress *progress, ns_dataset **out, char ***header,
                          int *header_count)
{
    /* The dataset is named after the file: "data/iris.csv" gives "iris". */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *ds_name = dup_bytes(ctx, base, n);
    if (ds_name == NULL)
        return NS_ERR_NOMEM;
    ns_status st;
    /* A regular file is mapped, not copied: the parse reads it twice, and the pages are the
     * page cache's. Anything else (a pipe) is read into memory. */
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size < SIZE_MAX) {
        size_t len = (size_t)sb.st_size;
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            close(fd);
            posix_madvise(map, len, POSIX_MADV_SEQUENTIAL);
            st = parse(ctx, map, len, path, ds_name, opts, progress, out, header, header_count);
            munmap(map, len);
            ns_dealloc(ctx, ds_name);
            return st;
        }
    }
    if (fd >= 0)
        close(fd);
    char *buf = NULL;
    size_t len = 0;
    st = ns_read_file(ctx, path, &buf, &len);
    if (st == NS_OK)
        st = parse(ctx, buf, len, path, ds_name, opts, progress, out, header, header_count);
    ns_dealloc(ctx, buf);
    ns_dealloc(ctx, ds_name);
    return st;
}

ns_status ns_data_load_csv(ns_ctx *ctx, const char *path, const ns_csv_options *opts,
                           const ns_progress *progress, ns_dataset **out)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL);
    *out = NULL;
    return load_csv(ctx, path, opts, progress, out, NULL, NULL);
}

ns_status ns_data_csv_columns(ns_ctx *ctx, const char *path, const ns_csv_options *opts,
                              char ***names, int *count)
{
    NS_ASSERT(ctx != NULL && path != NULL && names != NULL && count != NULL);
    *names = NULL;
    *count = 0;
    ns_csv_options o;
    ns_csv_options_default(&o);
    if (opts != NULL) {
        o.delimiter = opts->delimiter;
        o.no_header = opts->no_header;
    }
    return load_csv(ctx, path, &o, NULL, NULL, names, count);
}
