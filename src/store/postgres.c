/* The SQL layer over PostgreSQL (libpq): `?` placeholders rewritten to $1..$n, arguments sent
 * typed (an INT as bigint, a REAL as double precision, a BLOB as bytea in binary, text as
 * untyped text the server reads as its column wants), results read as text and converted by
 * their columns' types. A statement inside a transaction runs under a savepoint, so that a
 * failed one leaves the transaction as it was (as on SQLite) rather than aborted. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/sql.h"

/* The type OIDs of pg_type.h (catalog/pg_type_d.h is a server header). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700
};

struct ns__sql_conn {
    ns_ctx *ctx;
    PGconn *pg;
    int busy_ms;  /* lock_timeout (ns__sql_busy_ms) */
    bool in_tx;   /* between begin and commit / rollback */
    char where[]; /* the URL with any password masked, for messages */
};

/* ---- text for messages ---------------------------------------------------------------- */

static void put(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
    for (size_t k = 0; k < n && *at + 1 < cap; k++)
        out[(*at)++] = s[k];
    out[*at] = '\0';
}

/* url with its password, if any, written as "***": the user info of a URI
 * ("postgresql://user:SECRET@host/db") and every "password=SECRET" parameter. */
static void mask_url(const char *url, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (scheme != NULL) {
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?#");
        const char *last_at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                last_at = q;
        const char *colon = last_at != NULL ? memchr(auth, ':', (size_t)(last_at - auth)) : NULL;
        if (colon != NULL) {
            put(out, cap, &at, url, (size_t)(colon + 1 - url));
            put(out, cap, &at, "***", 3);
            p = last_at;
        }
    }
    while (*p != '\0') {
        bool starts = p == url || p[-1] == '?' || p[-1] == '&' || isspace((unsigned char)p[-1]);
        if (starts && strncmp(p, "password=", 9) == 0) {
            put(out, cap, &at, p, 9);
            put(out, cap, &at, "***", 3);
            p += 9;
            while (*p != '\0' && *p != '&' && !isspace((unsigned char)*p))
                p++;
            continue;
        }
        put(out, cap, &at, p, 1);
        p++;
    }
}

/* libpq's message on one line, without its trailing newline ("connection to server ...
 * failed: Connection refused Is the server running ...?"). */
static const char *one_line(const char *msg, char *buf, size_t cap)
{
    size_t at = 0;
    bool space = false;
    buf[0] = '\0';
    for (const char *p = msg != NULL ? msg : ""; *p != '\0'; p++) {
        if (isspace((unsigned char)*p)) {
            space = at > 0;
            continue;
        }
        if (space)
            put(buf, cap, &at, " ", 1);
        space = false;
        put(buf, cap, &at, p, 1);
    }
    return buf;
}

/* ---- errors --------------------------------------------------------------------------- */

static bool gone(const ns__sql_conn *c, const char *sqlstate)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return true;
    /* 08: connection exceptions; 57P01..03: the server is shutting down or starting. */
    return sqlstate != NULL &&
           (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P0", 4) == 0);
}

/* The message and status for a failed statement sql: res (may be NULL: nothing came back)
 * holds the server's words. */
static ns_status pg_fail(ns__sql_conn *c, const PGresult *res, const char *sql)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char msg[512], words[64];
    one_line(primary != NULL ? primary : PQerrorMessage(c->pg), msg, sizeof msg);
    ns__sql_head(sql, words, sizeof words);
    if (gone(c, state))
        return ns_errorf(c->ctx, NS_ERR_IO,
                         "%s: the PostgreSQL server is gone (%s); start it again", c->where,
                         msg[0] != '\0' ? msg : "the connection is closed");
    if (res == NULL)
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "%s: out of memory sending \"%s\"", c->where, words);
    char more[512] = "";
    if (detail != NULL || hint != NULL) {
        char d[256], h[256];
        snprintf(more, sizeof more, "%s%s%s%s", detail != NULL ? ": " : "",
                 detail != NULL ? one_line(detail, d, sizeof d) : "", hint != NULL ? "; " : "",
                 hint != NULL ? one_line(hint, h, sizeof h) : "");
    }
    if (state != NULL && strncmp(state, "23", 2) == 0)
        return ns_errorf(c->ctx, NS_ERR_STATE, "%s: %s%s (in \"%s\")", c->where, msg, more, words);
    if (state != NULL &&
        (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0))
        return ns_errorf(c->ctx, NS_ERR_BUSY,
                         "%s: the store is locked by another process (%s, still after %g s, in "
                         "\"%s\"); wait for it to finish, or stop it, and try again",
                         c->where, msg, c->busy_ms / 1000.0, words);
    return ns_errorf(c->ctx, NS_ERR_IO, "%s: %s%s (in \"%s\")", c->where, msg, more, words);
}

/* ---- the session ---------------------------------------------------------------------- */

static void discard_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* What every session starts with: NOTICEs ("relation already exists, skipping") kept quiet,
 * and lock waits bounded by the busy timeout (55P03 then, NS_ERR_BUSY). */
static ns_status setup(ns__sql_conn *c)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SET client_min_messages = warning; SET lock_timeout = %d",
             c->busy_ms);
    PGresult *res = PQexec(c->pg, sql);
    ns_status s = PQresultStatus(res) == PGRES_COMMAND_OK ? NS_OK : pg_fail(c, res, sql);
    PQclear(res);
    return s;
}

/* A connection lost outside a transaction (a server restarted between two calls) is made
 * again; inside one, the transaction is lost and its statements fail until the caller rolls
 * back. Errors: NS_ERR_IO when the server still does not answer. */
static ns_status revive(ns__sql_conn *c)
{
    if (c->in_tx || PQstatus(c->pg) == CONNECTION_OK)
        return NS_OK;
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[512];
        return ns_errorf(c->ctx, NS_ERR_IO,
                         "%s: the PostgreSQL server is gone (%s); start it again", c->where,
                         one_line(PQerrorMessage(c->pg), msg, sizeof msg));
    }
    return setup(c);
}

/* Runs a statement without arguments or rows (transaction control). */
static ns_status simple(ns__sql_conn *c, const char *sql)
{
    PGresult *res = PQexec(c->pg, sql);
    ns_status s = PQresultStatus(res) == PGRES_COMMAND_OK ? NS_OK : pg_fail(c, res, sql);
    PQclear(res);
    return s;
}

/* The same, its failure unreported: for undoing after a failure whose message stands. */
static void quiet(ns__sql_conn *c, const char *sql)
{
    PQclear(PQexec(c->pg, sql));
}

/* ---- statements ----------------------------------------------------------------------- */

/* sql with its `?` placeholders numbered $1..$n, into a block on ctx (*out; NULL when there
 * are none, sql then stands as it is). Quoted spans ('...', "...") and -- comments are
 * copied as they are. *count gets the number of placeholders. */
static ns_status number_placeholders(ns_ctx *ctx, const char *sql, char **out, int *count)
{
    *out = NULL;
    *count = 0;
    size_t marks = 0;
    for (const char *p = sql; *p != '\0'; p++)
        marks += *p == '?';
    if (marks == 0)
        return NS_OK;
    size_t cap = strlen(sql) + marks * 11 + 1; /* "?" becomes "$" and up to 10 digits */
    char *buf = ns_alloc(ctx, cap);
    if (buf == NULL)
        return NS_ERR_NOMEM;
    size_t at = 0;
    char quote = 0;
    int k = 0;
    for (const char *p = sql; *p != '\0'; p++) {
        if (quote != 0) {
            quote = *p == quote ? 0 : quote; /* '' closes and opens again */
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            size_t n = strcspn(p, "\n");
            memcpy(buf + at, p, n);
            at += n;
            p += n - 1;
            continue;
        } else if (*p == '?') {
            at += (size_t)snprintf(buf + at, cap - at, "$%d", ++k);
            continue;
        }
        buf[at++] = *p;
    }
    buf[at] = '\0';
    *out = buf;
    *count = k;
    return NS_OK;
}

/* The arguments as libpq takes them, in one block on ctx: values, lengths, formats, types,
 * and the text of the numbers. */
typedef struct pg_params {
    const char **values;
    int *lengths, *formats;
    Oid *types;
    char (*text)[32];
    void *mem;
} pg_params;

static ns_status make_params(ns_ctx *ctx, const ns__sql_value *args, int n, pg_params *p)
{
    memset(p, 0, sizeof *p);
    if (n == 0)
        return NS_OK;
    size_t k = (size_t)n;
    size_t bytes = k * (sizeof(char *) + 2 * sizeof(int) + sizeof(Oid) + 32);
    char *mem = ns_alloc(ctx, bytes);
    if (mem == NULL)
        return NS_ERR_NOMEM;
    p->mem = mem;
    p->values = (const char **)(void *)mem;
    p->text = (char(*)[32])(void *)(mem + k * sizeof(char *));
    p->types = (Oid *)(void *)(mem + k * (sizeof(char *) + 32));
    p->lengths = (int *)(void *)(mem + k * (sizeof(char *) + 32 + sizeof(Oid)));
    p->formats = p->lengths + k;
    for (size_t i = 0; i < k; i++) {
        const ns__sql_value *a = &args[i];
        p->lengths[i] = 0;
        p->formats[i] = 0;
        p->types[i] = 0; /* unknown: the server reads the text as the place wants */
        p->values[i] = NULL;
        switch (a->type) {
        case NS__SQL_INT:
            snprintf(p->text[i], 32, "%lld", (long long)a->i);
            p->values[i] = p->text[i];
            p->types[i] = OID_INT8;
            break;
        case NS__SQL_REAL:
            ns__snprintf_c(p->text[i], 32, "%.17g", a->r);
            p->values[i] = p->text[i];
            p->types[i] = OID_FLOAT8;
            break;
        case NS__SQL_TEXT:
            p->values[i] = a->s;
            break;
        case NS__SQL_BLOB:
            NS_ASSERT((a->s != NULL || a->n == 0) && a->n <= (size_t)0x7fffffff);
            p->values[i] = a->s != NULL ? a->s : ""; /* NULL would send SQL NULL */
            p->lengths[i] = (int)a->n;
            p->formats[i] = 1;
            p->types[i] = OID_BYTEA;
            break;
        default:
            break;
        }
    }
    return NS_OK;
}

static const char *field_name(void *src, int col)
{
    return PQfname((const PGresult *)src, col);
}

/* The rows of res (text format) converted by their columns' types, into *out (NULL when
 * there are none). */
static ns_status copy_rows(ns__sql_conn *c, const PGresult *res, ns__sql_result **out)
{
    int rows = PQntuples(res), cols = PQnfields(res);
    if (rows == 0 || cols == 0)
        return NS_OK;
    ns__sql_build b;
    ns_status s = ns__sql_build_start(&b, c->ctx, cols, field_name, (void *)res);
    if (s != NS_OK)
        return s;
    for (int i = 0; i < rows && s == NS_OK; i++) {
        for (int j = 0; j < cols && s == NS_OK; j++) {
            ns__sql_value v = NS__SQL_N;
            const char *text = PQgetvalue(res, i, j);
            unsigned char *bytes = NULL;
            if (!PQgetisnull(res, i, j)) {
                switch (PQftype(res, j)) {
                case OID_INT8:
                case OID_INT4:
                case OID_INT2:
                    v = NS__SQL_I(strtoll(text, NULL, 10));
                    break;
                case OID_FLOAT8:
                case OID_FLOAT4:
                case OID_NUMERIC:
                    v = NS__SQL_R(ns__strtod(text, NULL));
                    break;
                case OID_BOOL:
                    v = NS__SQL_I(text[0] == 't');
                    break;
                case OID_BYTEA: {
                    size_t n = 0;
                    bytes = PQunescapeBytea((const unsigned char *)text, &n);
                    if (bytes == NULL) {
                        s = ns_errorf(c->ctx, NS_ERR_NOMEM,
                                      "%s: out of memory decoding a bytea value", c->where);
                        break;
                    }
                    v = NS__SQL_B(bytes, n);
                    break;
                }
                default:
                    v = NS__SQL_T(text);
                    break;
                }
            }
            if (s == NS_OK)
                s = ns__sql_build_add(&b, &v);
            PQfreemem(bytes);
        }
    }
    if (s != NS_OK) {
        ns__sql_build_abandon(&b);
        return s;
    }
    *out = ns__sql_build_finish(&b);
    return NS_OK;
}

/* Whether a statement writes (and may return rows with RETURNING), by its first word. */
static bool writes(const char *sql)
{
    static const char *const verbs[] = {"INSERT", "UPDATE", "DELETE", "MERGE", "WITH"};
    while (isspace((unsigned char)*sql))
        sql++;
    for (size_t k = 0; k < sizeof verbs / sizeof verbs[0]; k++) {
        size_t n = strlen(verbs[k]);
        bool same = true;
        for (size_t i = 0; i < n && same; i++)
            same = toupper((unsigned char)sql[i]) == verbs[k][i];
        if (same && !isalnum((unsigned char)sql[n]) && sql[n] != '_')
            return true;
    }
    return false;
}

/* Sends one statement and takes its rows and count. */
static ns_status run(ns__sql_conn *c, const char *sql, const ns__sql_value *args, int n,
                     ns__sql_result **result, int64_t *changes)
{
    char *numbered;
    int count;
    ns_status s = number_placeholders(c->ctx, sql, &numbered, &count);
    if (s != NS_OK)
        return s;
    NS_ASSERT(count == n && (n == 0 || args != NULL));
    pg_params p;
    if ((s = make_params(c->ctx, args, n, &p)) != NS_OK) {
        ns_dealloc(c->ctx, numbered);
        return s;
    }
    PGresult *res = PQexecParams(c->pg, numbered != NULL ? numbered : sql, n, p.types, p.values,
                                 p.lengths, p.formats, 0);
    ns_dealloc(c->ctx, p.mem);
    ns_dealloc(c->ctx, numbered);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK && rs != PGRES_EMPTY_QUERY) {
        s = pg_fail(c, res, sql);
        PQclear(res);
        return s;
    }
    if (result != NULL && rs == PGRES_TUPLES_OK)
        s = copy_rows(c, res, result);
    /* PQcmdTuples also counts a SELECT's rows: only writes count as changes. */
    if (s == NS_OK && changes != NULL && writes(PQcmdStatus(res)))
        *changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return s;
}

static ns_status pg_exec(ns__sql_conn *c, const char *sql, const ns__sql_value *args, int n,
                         ns__sql_result **result, int64_t *changes)
{
    NS_ASSERT(c != NULL && sql != NULL && n >= 0);
    if (result != NULL)
        *result = NULL;
    if (changes != NULL)
        *changes = 0;
    ns_status s = revive(c);
    if (s != NS_OK)
        return s;
    /* In a transaction, a savepoint: a failure would otherwise abort the whole transaction.
     * Outside one, a write whose rows are copied runs in a transaction of its own, so that
     * running out of memory while copying them undoes it. */
    bool in_tx = PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
    const char *guard = NULL;
    if (in_tx)
        guard = "SAVEPOINT ns__stmt";
    else if (result != NULL && writes(sql))
        guard = "BEGIN";
    if (guard != NULL && (s = simple(c, guard)) != NS_OK)
        return s;
    s = run(c, sql, args, n, result, changes);
    if (guard == NULL)
        return s;
    if (s == NS_OK) {
        s = simple(c, in_tx ? "RELEASE SAVEPOINT ns__stmt" : "COMMIT");
        if (s != NS_OK && result != NULL) {
            ns__sql_result_free(c->ctx, *result);
            *result = NULL;
        }
        if (s != NS_OK && changes != NULL)
            *changes = 0;
    }
    if (s != NS_OK)
        quiet(c, in_tx ? "ROLLBACK TO SAVEPOINT ns__stmt; RELEASE SAVEPOINT ns__stmt" : "ROLLBACK");
    return s;
}

static ns_status pg_begin(ns__sql_conn *c)
{
    ns_status s = revive(c);
    if (s == NS_OK)
        s = simple(c, "BEGIN ISOLATION LEVEL READ COMMITTED");
    c->in_tx = s == NS_OK;
    return s;
}

static ns_status pg_commit(ns__sql_conn *c)
{
    ns_status s;
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        /* COMMIT would answer ROLLBACK without an error. */
        quiet(c, "ROLLBACK");
        s = ns_errorf(c->ctx, NS_ERR_IO,
                      "%s: the transaction was aborted by an earlier error and is rolled back",
                      c->where);
    } else {
        s = simple(c, "COMMIT");
    }
    c->in_tx = false;
    return s;
}

/* Rolls back without touching the context's message (it runs after a failure). */
static void pg_rollback(ns__sql_conn *c)
{
    if (c == NULL)
        return;
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        quiet(c, "ROLLBACK");
    c->in_tx = false;
}

/* ---- opening and closing -------------------------------------------------------------- */

static void pg_close(ns__sql_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->pg);
    ns_dealloc(c->ctx, c);
}

static ns_status pg_open(ns_ctx *ctx, const char *url, ns__sql_conn **out)
{
    NS_ASSERT(ctx != NULL && url != NULL && out != NULL);
    *out = NULL;
    size_t cap = 4 * strlen(url) + 8; /* room for every "***" */
    ns__sql_conn *c = ns_alloc(ctx, sizeof *c + cap);
    if (c == NULL)
        return NS_ERR_NOMEM;
    c->ctx = ctx;
    c->busy_ms = ns__sql_busy_ms();
    c->in_tx = false;
    mask_url(url, c->where, cap);
    c->pg = PQconnectdb(url);
    if (c->pg == NULL) {
        ns_dealloc(ctx, c);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory connecting to PostgreSQL");
    }
    PQsetNoticeProcessor(c->pg, discard_notice, NULL);
    ns_status s = NS_OK;
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[512];
        s = ns_errorf(ctx, NS_ERR_IO,
                      "%s: cannot connect to the PostgreSQL server: %s; start the server, or "
                      "check the URL (host, port, user, password, database)",
                      c->where, one_line(PQerrorMessage(c->pg), msg, sizeof msg));
    } else {
        s = setup(c);
    }
    if (s != NS_OK) {
        pg_close(c);
        return s;
    }
    *out = c;
    return NS_OK;
}

const ns__sql_backend ns__postgres_backend = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .id_column = "BIGSERIAL PRIMARY KEY",
    .blob_type = "BYTEA",
    .real_type = "DOUBLE PRECISION",
    .now = "extract(epoch from clock_timestamp())",
    .skip_locked = " FOR UPDATE SKIP LOCKED",
};
