/* The store's view of a database (never installed): one connection, statements with `?`
 * placeholders and typed values, transactions, and the few words of SQL the two dialects spell
 * differently. src/store/sqlite.c and src/store/postgres.c implement it; src/store/store.c
 * writes every statement once, over it. */
#ifndef NETSMITH_STORE_SQL_H
#define NETSMITH_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core_internal.h"

typedef enum ns__sql_type {
    NS__SQL_NULL,
    NS__SQL_INT,  /* i */
    NS__SQL_REAL, /* r */
    NS__SQL_TEXT, /* s, NUL-terminated (n its length) */
    NS__SQL_BLOB  /* s[n] */
} ns__sql_type;

typedef struct ns__sql_value {
    ns__sql_type type;
    int64_t i;
    double r;
    const char *s;
    size_t n;
} ns__sql_value;

/* Arguments, written in place: NS__SQL_I(3), NS__SQL_T("x"), NS__SQL_B(p, n), NS__SQL_N. */
#define NS__SQL_I(v) ((ns__sql_value){.type = NS__SQL_INT, .i = (int64_t)(v)})
#define NS__SQL_R(v) ((ns__sql_value){.type = NS__SQL_REAL, .r = (double)(v)})
#define NS__SQL_T(v) ((ns__sql_value){.type = (v) != NULL ? NS__SQL_TEXT : NS__SQL_NULL, .s = (v)})
#define NS__SQL_B(p, len)                                                                          \
    ((ns__sql_value){.type = NS__SQL_BLOB, .s = (const char *)(p), .n = (len)})
#define NS__SQL_N ((ns__sql_value){.type = NS__SQL_NULL})

/* The rows a statement returned: values owned by the result (text NUL-terminated, blobs with
 * their length; INTEGER / BIGINT columns as INT, REAL / DOUBLE PRECISION as REAL, BLOB / BYTEA
 * as BLOB, NULL as NULL, everything else as TEXT). */
typedef struct ns__sql_result {
    int rows, cols;
    ns__sql_value *v; /* [rows * cols], row-major */
    char **names;     /* [cols] the columns' names */
    void *mem;        /* the backend's storage behind v (freed by ns__sql_result_free) */
} ns__sql_result;

/* The value at (row, col); asserts both are in range. */
const ns__sql_value *ns__sql_at(const ns__sql_result *r, int row, int col);
/* Frees a result made on ctx; NULL is a no-op. */
void ns__sql_result_free(ns_ctx *ctx, ns__sql_result *r);

typedef struct ns__sql_conn ns__sql_conn;

typedef struct ns__sql_backend {
    const char *name; /* "sqlite", "postgresql" */
    /* Opens the database of url (the part after "sqlite:", or the whole postgresql:// URI),
     * creating an SQLite file. The connection reports on ctx. Errors: NS_ERR_IO naming the
     * database and the cause (a read-only file, a server that does not answer, bad
     * credentials); NS_ERR_NOMEM. */
    ns_status (*open)(ns_ctx *ctx, const char *url, ns__sql_conn **out);
    void (*close)(ns__sql_conn *c);
    /* Runs one statement, its `?` placeholders bound to args[n] in order. *result (may be NULL)
     * receives its rows (NULL when it returns none), *changes (may be NULL) the rows it
     * inserted, updated or deleted. Errors: NS_ERR_BUSY when the database stays locked past the
     * busy timeout (10 s); NS_ERR_STATE for a constraint that refused the write (a unique
     * name), the message naming it; NS_ERR_IO for everything else the database refuses (the
     * message quotes the database's own words and names the statement's first words);
     * NS_ERR_NOMEM. Nothing is left half-done: a failed statement changes nothing. */
    ns_status (*exec)(ns__sql_conn *c, const char *sql, const ns__sql_value *args, int n,
                      ns__sql_result **result, int64_t *changes);
    /* Starts a transaction that is going to write: BEGIN IMMEDIATE on SQLite (the write lock
     * at once, so two claims never both read the same queued job), BEGIN ISOLATION LEVEL READ
     * COMMITTED on PostgreSQL. Errors: those of exec. */
    ns_status (*begin)(ns__sql_conn *c);
    ns_status (*commit)(ns__sql_conn *c);
    /* Rolls back the open transaction, if any (never fails: a connection that is gone has
     * nothing to roll back). */
    void (*rollback)(ns__sql_conn *c);

    /* Dialect. */
    const char *id_column;   /* "INTEGER PRIMARY KEY AUTOINCREMENT" / "BIGSERIAL PRIMARY KEY" */
    const char *blob_type;   /* "BLOB" / "BYTEA" */
    const char *real_type;   /* "REAL" / "DOUBLE PRECISION" */
    const char *now;         /* the database's clock in seconds since the epoch, as an
                              * expression: "(julianday('now') - 2440587.5) * 86400.0" /
                              * "extract(epoch from clock_timestamp())" */
    const char *skip_locked; /* appended to the claim's SELECT: "" / " FOR UPDATE SKIP LOCKED" */
} ns__sql_backend;

/* ---- for the backends ------------------------------------------------------------------ */

/* A result being built value by value, row-major: the values in r->v, their text and blob
 * bytes (each followed by a NUL) in one growing block r->mem, whose offsets stand in the
 * values' `i` until ns__sql_build_finish points `s` into it. */
typedef struct ns__sql_build {
    ns_ctx *ctx;
    ns__sql_result *r;
    size_t count, vcap; /* values appended, and room in r->v */
    size_t used, cap;   /* bytes of r->mem in use, and allocated */
} ns__sql_build;

/* Starts a result of cols (>= 1) columns, column i named name(src, i) (copied). Errors:
 * NS_ERR_NOMEM (b then holds nothing). */
ns_status ns__sql_build_start(ns__sql_build *b, ns_ctx *ctx, int cols,
                              const char *(*name)(void *src, int col), void *src);
/* Appends the next value; text (v->s NUL-terminated) and blob bytes (v->s[v->n]) are copied.
 * Errors: NS_ERR_NOMEM (b stays as it was: ns__sql_build_abandon frees it). */
ns_status ns__sql_build_add(ns__sql_build *b, const ns__sql_value *v);
/* The finished result, the caller's (ns__sql_result_free); the values appended must fill
 * whole rows. b is spent. */
ns__sql_result *ns__sql_build_finish(ns__sql_build *b);
/* Frees what b holds (after a failure); b is spent. */
void ns__sql_build_abandon(ns__sql_build *b);

/* The statement's first words for a message, whitespace collapsed: "INSERT INTO jobs (kind,
 * params, ..." (written into buf, cut to cap bytes at a word). */
const char *ns__sql_head(const char *sql, char *buf, size_t cap);
/* The busy timeout in milliseconds: 10000, or $NETSMITH_STORE_BUSY_MS when it holds a
 * positive number (for tests that wait on a lock and should not wait 10 s). */
int ns__sql_busy_ms(void);

extern const ns__sql_backend ns__sqlite_backend;
extern const ns__sql_backend ns__postgres_backend;

#endif
