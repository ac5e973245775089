/* The SQL layer over SQLite (libsqlite3): one file in WAL mode, written with full syncs, foreign
 * keys on, and a busy timeout so that processes sharing the file wait for each other's writes
 * instead of failing at once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sql.h"

struct ns__sql_conn {
    ns_ctx *ctx;
    sqlite3 *db;
    int busy_ms; /* the busy timeout (ns__sql_busy_ms) */
    char path[]; /* the database file, for messages */
};

/* A statement is guarded by a savepoint when SQLite cannot undo it for us: a write whose rows
 * (RETURNING) are being copied when a copy runs out of memory. SQLite makes all of such a
 * statement's changes at its first step, so stopping there would keep them. */
static const char SAVEPOINT[] = "SAVEPOINT ns__stmt";
static const char RELEASE[] = "RELEASE ns__stmt";
static const char UNDO[] = "ROLLBACK TO ns__stmt; RELEASE ns__stmt";

/* ---- errors --------------------------------------------------------------------------- */

/* The message and status for SQLite's result code rc from statement sql (NULL: opening the
 * file). Every one names the file; most say what to do. */
static ns_status sqlite_fail(ns__sql_conn *c, int rc, const char *sql)
{
    /* where it happened: the statement's first words, or the opening */
    char head[80] = "", words[64];
    const char *doing = sql != NULL ? "" : "cannot open or create the SQLite store: ";
    if (sql != NULL)
        snprintf(head, sizeof head, " (in \"%s\")", ns__sql_head(sql, words, sizeof words));
    const char *msg = c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    int sys = c->db != NULL ? sqlite3_system_errno(c->db) : 0;
    char cause[160] = "";
    if (sys != 0)
        snprintf(cause, sizeof cause, ": %s", strerror(sys));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ns_errorf(c->ctx, NS_ERR_BUSY,
                         "%s: %sthe store is locked by another process (still after %g s%s); "
                         "wait for it to finish, or stop it, and try again",
                         c->path, doing, c->busy_ms / 1000.0, head);
    case SQLITE_CONSTRAINT:
        return ns_errorf(c->ctx, NS_ERR_STATE, "%s: %s%s", c->path, msg, head);
    case SQLITE_NOMEM:
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "%s: %sSQLite ran out of memory%s", c->path, doing,
                         head);
    case SQLITE_READONLY:
        return ns_errorf(c->ctx, NS_ERR_IO,
                         "%s: %sthe store cannot be written (%s%s)%s; make the file and its "
                         "directory writable by this user, or name another store",
                         c->path, doing, msg, cause, head);
    case SQLITE_FULL:
        return ns_errorf(c->ctx, NS_ERR_IO, "%s: %s%s%s; free some space on its disk", c->path,
                         doing, msg, head);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return ns_errorf(c->ctx, NS_ERR_IO,
                         "%s: %s%s%s: it is not an SQLite database, or a damaged one; name "
                         "another file, or put back a copy",
                         c->path, doing, msg, head);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
        return ns_errorf(c->ctx, NS_ERR_IO,
                         "%s: %s%s%s%s; check that its directory exists and that this user may "
                         "read and write the file and the directory",
                         c->path, doing, msg, cause, head);
    default:
        return ns_errorf(c->ctx, NS_ERR_IO, "%s: %s%s%s", c->path, doing, msg, head);
    }
}

/* ---- statements ----------------------------------------------------------------------- */

static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ';')
        s++;
    return *s == '\0';
}

static ns_status bind_args(ns__sql_conn *c, sqlite3_stmt *st, const char *sql,
                           const ns__sql_value *args, int n)
{
    NS_ASSERT(sqlite3_bind_parameter_count(st) == n && (n == 0 || args != NULL));
    for (int k = 0; k < n; k++) {
        const ns__sql_value *a = &args[k];
        int rc;
        switch (a->type) {
        case NS__SQL_INT:
            rc = sqlite3_bind_int64(st, k + 1, a->i);
            break;
        case NS__SQL_REAL:
            rc = sqlite3_bind_double(st, k + 1, a->r);
            break;
        case NS__SQL_TEXT:
            rc = sqlite3_bind_text(st, k + 1, a->s, -1, SQLITE_TRANSIENT);
            break;
        case NS__SQL_BLOB:
            /* A NULL pointer would bind NULL: an empty blob is "" of length 0. */
            NS_ASSERT(a->s != NULL || a->n == 0);
            NS_ASSERT(a->n <= (size_t)0x7fffffff);
            rc =
                sqlite3_bind_blob(st, k + 1, a->s != NULL ? a->s : "", (int)a->n, SQLITE_TRANSIENT);
            break;
        default:
            rc = sqlite3_bind_null(st, k + 1);
            break;
        }
        if (rc != SQLITE_OK)
            return sqlite_fail(c, rc, sql);
    }
    return NS_OK;
}

static const char *column_name(void *src, int col)
{
    return sqlite3_column_name((sqlite3_stmt *)src, col);
}

/* Copies the current row of st into b (started on the first row). */
static ns_status copy_row(ns__sql_conn *c, sqlite3_stmt *st, const char *sql, ns__sql_build *b)
{
    int cols = sqlite3_column_count(st);
    if (b->r == NULL) {
        ns_status s = ns__sql_build_start(b, c->ctx, cols, column_name, st);
        if (s != NS_OK)
            return s;
    }
    for (int i = 0; i < cols; i++) {
        ns__sql_value v = NS__SQL_N;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = NS__SQL_I(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = NS__SQL_R(sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            v.type = NS__SQL_TEXT;
            v.s = (const char *)sqlite3_column_text(st, i);
            if (v.s == NULL)
                return sqlite_fail(c, SQLITE_NOMEM, sql);
            break;
        case SQLITE_BLOB:
            v.type = NS__SQL_BLOB;
            v.s = sqlite3_column_blob(st, i);
            v.n = (size_t)sqlite3_column_bytes(st, i);
            if (v.s == NULL && v.n > 0)
                return sqlite_fail(c, SQLITE_NOMEM, sql);
            break;
        default:
            break;
        }
        ns_status s = ns__sql_build_add(b, &v);
        if (s != NS_OK)
            return s;
    }
    return NS_OK;
}

/* Steps st to its end, its rows into *result when result is not NULL. */
static ns_status run(ns__sql_conn *c, sqlite3_stmt *st, const char *sql, ns__sql_result **result)
{
    ns__sql_build b = {0};
    ns_status s = NS_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (result != NULL && (s = copy_row(c, st, sql, &b)) != NS_OK)
            break;
    }
    if (s == NS_OK && rc != SQLITE_DONE)
        s = sqlite_fail(c, rc, sql);
    if (s != NS_OK) {
        ns__sql_build_abandon(&b);
        return s;
    }
    if (result != NULL && b.r != NULL)
        *result = ns__sql_build_finish(&b);
    return NS_OK;
}

static ns_status sqlite_exec(ns__sql_conn *c, const char *sql, const ns__sql_value *args, int n,
                             ns__sql_result **result, int64_t *changes)
{
    NS_ASSERT(c != NULL && sql != NULL && n >= 0);
    if (result != NULL)
        *result = NULL;
    if (changes != NULL)
        *changes = 0;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK)
        return sqlite_fail(c, rc, sql);
    if (st == NULL)
        return NS_OK; /* nothing but blanks or comments */
    ns_status s = NS_OK;
    if (tail != NULL && !blank(tail)) {
        char words[64];
        s = ns_errorf(c->ctx, NS_ERR_IO,
                      "%s: \"%s\" holds more than one statement; run them one at a time", c->path,
                      ns__sql_head(sql, words, sizeof words));
        sqlite3_finalize(st);
        return s;
    }
    if ((s = bind_args(c, st, sql, args, n)) != NS_OK) {
        sqlite3_finalize(st);
        return s;
    }
    bool guard = result != NULL && !sqlite3_stmt_readonly(st);
    if (guard && (rc = sqlite3_exec(c->db, SAVEPOINT, NULL, NULL, NULL)) != SQLITE_OK) {
        s = sqlite_fail(c, rc, SAVEPOINT);
        sqlite3_finalize(st);
        return s;
    }
    sqlite3_int64 before = sqlite3_total_changes64(c->db);
    s = run(c, st, sql, result);
    /* sqlite3_changes64 keeps the count of the last write: a statement that changed nothing
     * (a query, a schema change) counts none. */
    int64_t changed = sqlite3_total_changes64(c->db) != before ? sqlite3_changes64(c->db) : 0;
    sqlite3_finalize(st);
    if (guard) {
        if (s != NS_OK) {
            sqlite3_exec(c->db, UNDO, NULL, NULL, NULL);
        } else if ((rc = sqlite3_exec(c->db, RELEASE, NULL, NULL, NULL)) != SQLITE_OK) {
            s = sqlite_fail(c, rc, RELEASE);
            sqlite3_exec(c->db, UNDO, NULL, NULL, NULL);
            ns__sql_result_free(c->ctx, *result);
            *result = NULL;
        }
    }
    if (s == NS_OK && changes != NULL)
        *changes = changed;
    return s;
}

static ns_status sqlite_begin(ns__sql_conn *c)
{
    return sqlite_exec(c, "BEGIN IMMEDIATE", NULL, 0, NULL, NULL);
}

static ns_status sqlite_commit(ns__sql_conn *c)
{
    return sqlite_exec(c, "COMMIT", NULL, 0, NULL, NULL);
}

/* Rolls back without touching the context's message: it runs after a failure, whose message
 * the caller is about to report. */
static void sqlite_rollback(ns__sql_conn *c)
{
    if (c != NULL && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- opening and closing -------------------------------------------------------------- */

static void sqlite_close(ns__sql_conn *c)
{
    if (c == NULL)
        return;
    sqlite3_close_v2(c->db);
    ns_dealloc(c->ctx, c);
}

/* Opens (creating) the file url names. The busy timeout is set first, so that a file another
 * process is writing is waited for already while the pragmas run. */
static ns_status sqlite_open(ns_ctx *ctx, const char *url, ns__sql_conn **out)
{
    NS_ASSERT(ctx != NULL && url != NULL && out != NULL);
    *out = NULL;
    if (*url == '\0')
        return ns_errorf(ctx, NS_ERR_IO,
                         "sqlite: no database file named; write sqlite:PATH (sqlite:netsmith.db)");
    size_t len = strlen(url);
    ns__sql_conn *c = ns_alloc(ctx, sizeof *c + len + 1);
    if (c == NULL)
        return NS_ERR_NOMEM;
    c->ctx = ctx;
    c->db = NULL;
    c->busy_ms = ns__sql_busy_ms();
    memcpy(c->path, url, len + 1);
    int rc = sqlite3_open_v2(
        url, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (c->db == NULL) {
        ns_dealloc(ctx, c);
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory opening the SQLite store", url);
    }
    ns_status s = NS_OK;
    if (rc != SQLITE_OK) {
        s = sqlite_fail(c, rc, NULL);
        sqlite_close(c);
        return s;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, c->busy_ms);
    /* SQLite opens a file it may not write read-only, without a word. */
    if (sqlite3_db_readonly(c->db, "main") == 1) {
        s = ns_errorf(ctx, NS_ERR_IO,
                      "%s: the store is read-only for this user (the file's permissions); "
                      "make it writable (chmod u+w %s) or name another store",
                      url, url);
        sqlite_close(c);
        return s;
    }
    static const char *const pragmas[] = {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                                          "PRAGMA foreign_keys=ON"};
    for (size_t k = 0; k < sizeof pragmas / sizeof pragmas[0]; k++) {
        if ((s = sqlite_exec(c, pragmas[k], NULL, 0, NULL, NULL)) != NS_OK) {
            sqlite_close(c);
            return s;
        }
    }
    *out = c;
    return NS_OK;
}

const ns__sql_backend ns__sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .id_column = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .blob_type = "BLOB",
    .real_type = "REAL",
    .now = "(julianday('now') - 2440587.5) * 86400.0",
    .skip_locked = "",
};
