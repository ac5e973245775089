/* The SQL layer (src/store/sql.h) on the backend NETSMITH_TEST_STORE names: unset or
 * "sqlite:..." a fresh SQLite file in a scratch directory, "postgresql://..." a PostgreSQL
 * database (tests/store/pg_harness.sh starts a throwaway one), in tables named after this
 * process that are dropped at the end. Values of every type both ways, counts, RETURNING, a
 * unique name refused without a trace (also inside a transaction), transactions, the clock,
 * errors (syntax, a lock held past the busy timeout, files that cannot be used, a server that
 * is not there or goes away), and allocation failures that leak and leave nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/sql.h"
#include "testutil.h"

static const ns__sql_backend *be;
static bool pg;
static char url[512];
static char prefix[48]; /* every table's name starts with it */

/* ---- helpers -------------------------------------------------------------------------- */

/* A formatted statement (four rotating buffers). */
static const char *sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *sqlf(const char *fmt, ...)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf[k], sizeof buf[k], fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof buf[k]);
    return buf[k];
}

/* This test program's table `name`. */
static const char *table(const char *name)
{
    static char buf[4][96];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s%s", prefix, name);
    return buf[k];
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns__sql_conn *connect_to(ns_ctx *ctx)
{
    ns__sql_conn *c = NULL;
    NS_ASSERT_OK(ctx, be->open(ctx, url, &c));
    assert_non_null(c);
    return c;
}

#define EXEC_OK(ctx, c, sql) NS_ASSERT_OK((ctx), be->exec((c), (sql), NULL, 0, NULL, NULL))

static int64_t count_rows(ns_ctx *ctx, ns__sql_conn *c, const char *tbl)
{
    ns__sql_result *r = NULL;
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("SELECT COUNT(*) FROM %s", tbl), NULL, 0, &r, NULL));
    assert_non_null(r);
    assert_int_equal(r->rows, 1);
    assert_int_equal(ns__sql_at(r, 0, 0)->type, NS__SQL_INT);
    int64_t n = ns__sql_at(r, 0, 0)->i;
    ns__sql_result_free(ctx, r);
    return n;
}

/* A table of one unique name column and a number: (id, name UNIQUE, v). */
static void make_names(ns_ctx *ctx, ns__sql_conn *c, const char *tbl)
{
    EXEC_OK(
        ctx, c,
        sqlf("CREATE TABLE %s (id %s, name TEXT NOT NULL UNIQUE, v BIGINT)", tbl, be->id_column));
}

static void insert_name(ns_ctx *ctx, ns__sql_conn *c, const char *tbl, const char *name,
                        ns_status want)
{
    ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_I(1)};
    int64_t changes = -1;
    NS_ASSERT_STATUS(
        ctx, be->exec(c, sqlf("INSERT INTO %s (name, v) VALUES (?, ?)", tbl), a, 2, NULL, &changes),
        want);
    assert_int_equal(changes, want == NS_OK ? 1 : 0);
}

/* ---- values --------------------------------------------------------------------------- */

static void test_values_both_ways(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = connect_to(ctx);
    const char *t = table("values");
    EXEC_OK(ctx, c,
            sqlf("CREATE TABLE %s (id %s, i BIGINT, r %s, s TEXT, b %s, n TEXT)", t, be->id_column,
                 be->real_type, be->blob_type));
    static const char blob[] = {'a', '\0', 'b', '\0', '\xff'};
    const char *text = "h\xc3\xa9llo 'quoted' \"and\" a ? mark";
    ns__sql_value rows[3][5] = {
        {NS__SQL_I(INT64_MAX), NS__SQL_R(0.1), NS__SQL_T(text), NS__SQL_B(blob, sizeof blob),
         NS__SQL_N},
        {NS__SQL_I(INT64_MIN), NS__SQL_R(-1e300), NS__SQL_T(""), NS__SQL_B(NULL, 0), NS__SQL_N},
        {NS__SQL_N, NS__SQL_N, NS__SQL_T(NULL), NS__SQL_N, NS__SQL_N},
    };
    for (int k = 0; k < 3; k++) {
        int64_t changes = -1;
        NS_ASSERT_OK(ctx,
                     be->exec(c, sqlf("INSERT INTO %s (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)", t),
                              rows[k], 5, NULL, &changes));
        assert_int_equal(changes, 1);
    }
    ns__sql_result *r = NULL;
    int64_t changes = -1;
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("SELECT i, r, s, b, n FROM %s ORDER BY id", t), NULL, 0, &r,
                               &changes));
    assert_int_equal(changes, 0); /* a query changes nothing */
    assert_non_null(r);
    assert_int_equal(r->rows, 3);
    assert_int_equal(r->cols, 5);
    static const char *const names[] = {"i", "r", "s", "b", "n"};
    for (int j = 0; j < 5; j++)
        assert_string_equal(r->names[j], names[j]);
    /* row 0 */
    assert_int_equal(ns__sql_at(r, 0, 0)->type, NS__SQL_INT);
    assert_true(ns__sql_at(r, 0, 0)->i == INT64_MAX);
    assert_int_equal(ns__sql_at(r, 0, 1)->type, NS__SQL_REAL);
    assert_true(ns__sql_at(r, 0, 1)->r == 0.1);
    assert_int_equal(ns__sql_at(r, 0, 2)->type, NS__SQL_TEXT);
    assert_string_equal(ns__sql_at(r, 0, 2)->s, text);
    assert_int_equal(ns__sql_at(r, 0, 2)->n, strlen(text));
    assert_int_equal(ns__sql_at(r, 0, 3)->type, NS__SQL_BLOB);
    assert_int_equal(ns__sql_at(r, 0, 3)->n, sizeof blob);
    assert_memory_equal(ns__sql_at(r, 0, 3)->s, blob, sizeof blob);
    assert_int_equal(ns__sql_at(r, 0, 4)->type, NS__SQL_NULL);
    /* row 1: the extremes, empty text and an empty blob (not NULL) */
    assert_true(ns__sql_at(r, 1, 0)->i == INT64_MIN);
    assert_true(ns__sql_at(r, 1, 1)->r == -1e300);
    assert_int_equal(ns__sql_at(r, 1, 2)->type, NS__SQL_TEXT);
    assert_string_equal(ns__sql_at(r, 1, 2)->s, "");
    assert_int_equal(ns__sql_at(r, 1, 3)->type, NS__SQL_BLOB);
    assert_int_equal(ns__sql_at(r, 1, 3)->n, 0);
    assert_non_null(ns__sql_at(r, 1, 3)->s);
    /* row 2: NULL everywhere (NS__SQL_T(NULL) binds NULL) */
    for (int j = 0; j < 5; j++)
        assert_int_equal(ns__sql_at(r, 2, j)->type, NS__SQL_NULL);
    ns__sql_result_free(ctx, r);

    /* A query without rows gives no result; counts of updates and deletes. */
    r = (ns__sql_result *)&r;
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("SELECT i FROM %s WHERE i = 5", t), NULL, 0, &r, NULL));
    assert_null(r);
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("UPDATE %s SET n = 'x'", t), NULL, 0, NULL, &changes));
    assert_int_equal(changes, 3);
    ns__sql_value none = NS__SQL_I(-5);
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("DELETE FROM %s WHERE i = ?", t), &none, 1, NULL, &changes));
    assert_int_equal(changes, 0);
    /* A schema change after a write counts nothing (SQLite keeps the last write's count). */
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("CREATE INDEX %s ON %s (i)", table("values_i"), t), NULL, 0,
                               NULL, &changes));
    assert_int_equal(changes, 0);

    /* Arguments without a column to give them a type; a '?' inside a literal stays. */
    ns__sql_value args[] = {NS__SQL_I(7), NS__SQL_R(2.5), NS__SQL_T("x")};
    NS_ASSERT_OK(ctx, be->exec(c, "SELECT 'a?b', ?, ? -- a comment? yes\n, ?", args, 3, &r, NULL));
    assert_int_equal(r->rows, 1);
    assert_int_equal(ns__sql_at(r, 0, 0)->type, NS__SQL_TEXT);
    assert_string_equal(ns__sql_at(r, 0, 0)->s, "a?b");
    assert_int_equal(ns__sql_at(r, 0, 1)->type, NS__SQL_INT);
    assert_int_equal(ns__sql_at(r, 0, 1)->i, 7);
    assert_int_equal(ns__sql_at(r, 0, 2)->type, NS__SQL_REAL);
    assert_true(ns__sql_at(r, 0, 2)->r == 2.5);
    assert_int_equal(ns__sql_at(r, 0, 3)->type, NS__SQL_TEXT);
    assert_string_equal(ns__sql_at(r, 0, 3)->s, "x");
    ns__sql_result_free(ctx, r);
    ns__sql_result_free(ctx, NULL);

    be->close(c);
    be->close(NULL);
    ns_ctx_free(ctx);
}

static void test_returning_id(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = connect_to(ctx);
    const char *t = table("returning");
    make_names(ctx, c, t);
    int64_t ids[2];
    for (int k = 0; k < 2; k++) {
        ns__sql_value a = NS__SQL_T(k == 0 ? "first" : "second");
        ns__sql_result *r = NULL;
        int64_t changes = -1;
        NS_ASSERT_OK(ctx, be->exec(c, sqlf("INSERT INTO %s (name) VALUES (?) RETURNING id", t), &a,
                                   1, &r, &changes));
        assert_int_equal(changes, 1);
        assert_non_null(r);
        assert_int_equal(r->rows, 1);
        assert_int_equal(r->cols, 1);
        assert_string_equal(r->names[0], "id");
        assert_int_equal(ns__sql_at(r, 0, 0)->type, NS__SQL_INT);
        ids[k] = ns__sql_at(r, 0, 0)->i;
        ns__sql_result_free(ctx, r);
    }
    assert_true(ids[0] >= 1 && ids[1] > ids[0]);
    be->close(c);
    ns_ctx_free(ctx);
}

/* ---- constraints and transactions ----------------------------------------------------- */

static void test_unique_name_refused(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = connect_to(ctx);
    const char *t = table("unique");
    make_names(ctx, c, t);
    insert_name(ctx, c, t, "a", NS_OK);
    insert_name(ctx, c, t, "a", NS_ERR_STATE);
    assert_true(strlen(ns_errmsg(ctx)) > 0);
    NS_ASSERT_MSG_HAS(ctx, "INSERT INTO"); /* names the statement */
    assert_int_equal(count_rows(ctx, c, t), 1);

    /* Inside a transaction the refusal leaves the transaction usable (on PostgreSQL a failed
     * statement would otherwise abort it). */
    NS_ASSERT_OK(ctx, be->begin(c));
    insert_name(ctx, c, t, "b", NS_OK);
    insert_name(ctx, c, t, "a", NS_ERR_STATE);
    insert_name(ctx, c, t, "c", NS_OK);
    NS_ASSERT_OK(ctx, be->commit(c));
    assert_int_equal(count_rows(ctx, c, t), 3);
    be->close(c);
    ns_ctx_free(ctx);
}

static void test_transactions(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = connect_to(ctx);
    ns__sql_conn *other = connect_to(ctx);
    const char *t = table("tx");
    make_names(ctx, c, t);

    NS_ASSERT_OK(ctx, be->begin(c));
    insert_name(ctx, c, t, "gone", NS_OK);
    assert_int_equal(count_rows(ctx, c, t), 1);
    /* rollback leaves the message of the failure that made the caller roll back */
    ns_errorf(ctx, NS_ERR_IO, "the failure");
    be->rollback(c);
    assert_string_equal(ns_errmsg(ctx), "the failure");
    assert_int_equal(count_rows(ctx, c, t), 0);
    be->rollback(c); /* none open: nothing to do */

    NS_ASSERT_OK(ctx, be->begin(c));
    insert_name(ctx, c, t, "kept", NS_OK);
    NS_ASSERT_OK(ctx, be->commit(c));
    assert_int_equal(count_rows(ctx, c, t), 1);
    assert_int_equal(count_rows(ctx, other, t), 1);

    be->close(other);
    be->close(c);
    ns_ctx_free(ctx);
}

static void test_clock(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = connect_to(ctx);
    ns__sql_result *r = NULL;
    NS_ASSERT_OK(ctx, be->exec(c, sqlf("SELECT %s", be->now), NULL, 0, &r, NULL));
    assert_non_null(r);
    assert_int_equal(ns__sql_at(r, 0, 0)->type, NS__SQL_REAL);
    double now = ns__sql_at(r, 0, 0)->r, here = (double)time(NULL);
    NS_ASSERT_CLOSE(now, here, 0.0, 5.0);
    ns__sql_result_free(ctx, r);
    be->close(c);
    ns_ctx_free(ctx);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_bad_statements(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = connect_to(ctx);
    NS_ASSERT_STATUS(ctx, be->exec(c, "SELEC 1 FROM nowhere", NULL, 0, NULL, NULL), NS_ERR_IO);
    assert_true(strlen(ns_errmsg(ctx)) > 0);
    NS_ASSERT_MSG_HAS(ctx, "SELEC 1");
    NS_ASSERT_STATUS(ctx,
                     be->exec(c, sqlf("SELECT * FROM %s", table("missing")), NULL, 0, NULL, NULL),
                     NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, table("missing"));
    NS_ASSERT_STATUS(ctx, be->exec(c, "SELECT 1; SELECT 2", NULL, 0, NULL, NULL), NS_ERR_IO);
    /* The connection goes on after each. */
    ns__sql_result *r = NULL;
    NS_ASSERT_OK(ctx, be->exec(c, "SELECT 1", NULL, 0, &r, NULL));
    assert_int_equal(ns__sql_at(r, 0, 0)->i, 1);
    ns__sql_result_free(ctx, r);
    be->close(c);
    ns_ctx_free(ctx);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One connection holds the write lock (SQLite: its BEGIN IMMEDIATE; PostgreSQL: a row it
 * updated); the other waits for the busy timeout (shortened to 0.2 s through
 * NETSMITH_STORE_BUSY_MS) and gets NS_ERR_BUSY. */
static void test_locked_past_busy_timeout(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *a = connect_to(ctx);
    const char *t = table("locked");
    make_names(ctx, a, t);
    insert_name(ctx, a, t, "row", NS_OK);
    assert_int_equal(setenv("NETSMITH_STORE_BUSY_MS", "200", 1), 0);
    ns__sql_conn *b = connect_to(ctx);
    assert_int_equal(unsetenv("NETSMITH_STORE_BUSY_MS"), 0);

    NS_ASSERT_OK(ctx, be->begin(a));
    EXEC_OK(ctx, a, sqlf("UPDATE %s SET v = 2 WHERE name = 'row'", t));
    double t0 = seconds();
    ns_status st = be->begin(b);
    if (pg) {
        NS_ASSERT_OK(ctx, st);
        st = be->exec(b, sqlf("UPDATE %s SET v = 3 WHERE name = 'row'", t), NULL, 0, NULL, NULL);
    }
    double waited = seconds() - t0;
    NS_ASSERT_STATUS(ctx, st, NS_ERR_BUSY);
    NS_ASSERT_MSG_HAS(ctx, "locked by another process");
    NS_ASSERT_MSG_HAS(ctx, "0.2 s");
    assert_true(waited >= 0.15 && waited < 5.0);
    be->rollback(b);
    be->rollback(a);

    /* Free again: b goes ahead. */
    NS_ASSERT_OK(ctx, be->begin(b));
    EXEC_OK(ctx, b, sqlf("UPDATE %s SET v = 3 WHERE name = 'row'", t));
    NS_ASSERT_OK(ctx, be->commit(b));
    be->close(b);
    be->close(a);
    ns_ctx_free(ctx);
}

/* Files SQLite cannot use: in a directory that does not exist, not a database, read-only. */
static void test_sqlite_bad_files(void **state)
{
    (void)state;
    if (pg)
        skip();
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = (ns__sql_conn *)&c;
    const char *path = ns_test_tmp("no/such/dir/store.db");
    NS_ASSERT_STATUS(ctx, be->open(ctx, path, &c), NS_ERR_IO);
    assert_null(c);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, "directory exists");

    path = ns_test_tmp("text.db");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("this is a text file, not a database; it is long enough to hold a header\n", f);
    fclose(f);
    NS_ASSERT_STATUS(ctx, be->open(ctx, path, &c), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, "not an SQLite database");

    NS_ASSERT_STATUS(ctx, be->open(ctx, "", &c), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "sqlite:PATH");

    /* Permissions do not stop root: the read-only case needs another user. */
    if (geteuid() != 0) {
        path = ns_test_tmp("readonly.db");
        NS_ASSERT_OK(ctx, be->open(ctx, path, &c));
        EXEC_OK(ctx, c, "CREATE TABLE t (x BIGINT)");
        be->close(c);
        assert_int_equal(chmod(path, 0444), 0);
        NS_ASSERT_STATUS(ctx, be->open(ctx, path, &c), NS_ERR_IO);
        NS_ASSERT_MSG_HAS(ctx, path);
        NS_ASSERT_MSG_HAS(ctx, "read-only");
        NS_ASSERT_MSG_HAS(ctx, "chmod u+w");
    }
    ns_ctx_free(ctx);
}

/* A server nobody runs (the message names it, its password masked), and one that goes away
 * under an open connection: inside a transaction the statement fails saying so, outside one
 * the connection is made again. */
static void test_postgres_gone(void **state)
{
    (void)state;
    if (!pg)
        skip();
    ns_ctx *ctx = new_ctx();
    ns__sql_conn *c = (ns__sql_conn *)&c;
    NS_ASSERT_STATUS(
        ctx, be->open(ctx, "postgresql://nsuser:secret@127.0.0.1:1/netsmith?connect_timeout=5", &c),
        NS_ERR_IO);
    assert_null(c);
    NS_ASSERT_MSG_HAS(ctx, "postgresql://nsuser:***@127.0.0.1:1/netsmith");
    NS_ASSERT_MSG_HAS(ctx, "cannot connect");
    assert_null(strstr(ns_errmsg(ctx), "secret"));
    NS_ASSERT_STATUS(
        ctx, be->open(ctx, "postgresql://127.0.0.1:1/x?password=hunter2&connect_timeout=5", &c),
        NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "password=***&connect_timeout=5");
    assert_null(strstr(ns_errmsg(ctx), "hunter2"));

    c = connect_to(ctx);
    ns__sql_conn *killer = connect_to(ctx);
    ns__sql_result *r = NULL;
    NS_ASSERT_OK(ctx, be->exec(c, "SELECT pg_backend_pid()", NULL, 0, &r, NULL));
    ns__sql_value pid = *ns__sql_at(r, 0, 0);
    ns__sql_result_free(ctx, r);
    NS_ASSERT_OK(ctx, be->begin(c));
    NS_ASSERT_OK(ctx, be->exec(killer, "SELECT pg_terminate_backend(?::integer, 5000)", &pid, 1,
                               NULL, NULL));
    NS_ASSERT_STATUS(ctx, be->exec(c, "SELECT 1", NULL, 0, NULL, NULL), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "the PostgreSQL server is gone");
    NS_ASSERT_MSG_HAS(ctx, "start it again");
    be->rollback(c);
    NS_ASSERT_OK(ctx, be->exec(c, "SELECT 1", NULL, 0, &r, NULL));
    assert_int_equal(ns__sql_at(r, 0, 0)->i, 1);
    ns__sql_result_free(ctx, r);
    be->close(killer);
    be->close(c);
    ns_ctx_free(ctx);
}

/* ---- allocation failures -------------------------------------------------------------- */

/* One session's work; stops at the first failure, which it returns. *inserted says whether
 * the insert went through. */
static ns_status session(ns_ctx *ctx, const char *t, bool *inserted)
{
    *inserted = false;
    ns__sql_conn *c = NULL;
    ns_status st = be->open(ctx, url, &c);
    if (st != NS_OK) {
        assert_null(c);
        return st;
    }
    static const char blob[] = {1, 0, 2, 0, 3};
    ns__sql_value args[] = {NS__SQL_T("name"), NS__SQL_B(blob, sizeof blob), NS__SQL_R(0.5)};
    ns__sql_result *r = NULL;
    st = be->exec(c, sqlf("INSERT INTO %s (s, b, r) VALUES (?, ?, ?) RETURNING id, s, b", t), args,
                  3, &r, NULL);
    if (st == NS_OK) {
        *inserted = true;
        assert_int_equal(r->rows, 1);
        assert_string_equal(ns__sql_at(r, 0, 1)->s, "name");
        ns__sql_result_free(ctx, r);
        st = be->begin(c);
    }
    if (st == NS_OK) {
        ns__sql_value id = NS__SQL_I(1);
        st = be->exec(c, sqlf("SELECT id, s, b, r FROM %s WHERE id >= ?", t), &id, 1, &r, NULL);
        if (st == NS_OK) {
            assert_int_equal(r->rows, 1);
            assert_memory_equal(ns__sql_at(r, 0, 2)->s, blob, sizeof blob);
            ns__sql_result_free(ctx, r);
            st = be->commit(c);
        }
        be->rollback(c);
    }
    be->close(c);
    return st;
}

static void test_allocation_failures(void **state)
{
    (void)state;
    ns_ctx *plain = new_ctx();
    ns__sql_conn *check = connect_to(plain);
    const char *t = table("oom");
    EXEC_OK(plain, check,
            sqlf("CREATE TABLE %s (id %s, s TEXT, b %s, r %s)", t, be->id_column, be->blob_type,
                 be->real_type));

    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    long base = ta.live;
    int failures = 0;
    for (size_t k = 1;; k++) {
        EXEC_OK(plain, check, sqlf("DELETE FROM %s", t));
        ta.fail_at = ta.calls + k;
        bool inserted;
        ns_status st = session(ctx, t, &inserted);
        ta.fail_at = 0;
        assert_int_equal(ta.live, base);
        /* A failed insert left no row behind. */
        assert_int_equal(count_rows(plain, check, t), inserted ? 1 : 0);
        if (st == NS_OK)
            break;
        NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
        failures++;
        assert_true(k < 1000);
    }
    assert_true(failures >= 5);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
    be->close(check);
    ns_ctx_free(plain);
}

static void test_statement_head(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(ns__sql_head("  SELECT\n\t 1  ", buf, sizeof buf), "SELECT 1");
    ns__sql_head("INSERT INTO jobs (kind, params, priority, state) VALUES (?, ?, ?, ?)", buf,
                 sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
    assert_string_equal(buf, "INSERT INTO jobs (kind, ...");
}

/* ---- the backend ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
    const char *env = getenv("NETSMITH_TEST_STORE");
    if (ns_test_tmpdir_setup(state) != 0)
        return -1;
    if (env == NULL || *env == '\0' || strncmp(env, "sqlite:", 7) == 0) {
        be = &ns__sqlite_backend;
        snprintf(url, sizeof url, "%s", ns_test_tmp("store.db"));
    } else if (strncmp(env, "postgresql://", 13) == 0 || strncmp(env, "postgres://", 11) == 0) {
        be = &ns__postgres_backend;
        pg = true;
        snprintf(url, sizeof url, "%s", env);
    } else {
        fprintf(stderr,
                "NETSMITH_TEST_STORE=%s: not a store these tests know; leave it unset, or set "
                "sqlite: or postgresql://...\n",
                env);
        return -1;
    }
    snprintf(prefix, sizeof prefix, "ns_t%ld_%ld_", (long)getpid(), (long)(time(NULL) % 100000));
    return 0;
}

/* Drops this program's tables (PostgreSQL; the SQLite file goes with the scratch directory). */
static int group_teardown(void **state)
{
    if (pg) {
        ns_ctx *ctx = NULL;
        ns__sql_conn *c = NULL;
        if (ns_ctx_new(NULL, &ctx) != NS_OK || be->open(ctx, url, &c) != NS_OK) {
            fprintf(stderr, "cannot drop the tables %s*: %s\n", prefix, ns_errmsg(ctx));
            ns_ctx_free(ctx);
            return -1;
        }
        ns__sql_value p = NS__SQL_T(prefix);
        ns__sql_result *r = NULL;
        if (be->exec(c, "SELECT tablename FROM pg_tables WHERE starts_with(tablename, ?)", &p, 1,
                     &r, NULL) == NS_OK) {
            for (int i = 0; r != NULL && i < r->rows; i++)
                if (be->exec(c, sqlf("DROP TABLE IF EXISTS %s CASCADE", ns__sql_at(r, i, 0)->s),
                             NULL, 0, NULL, NULL) != NS_OK)
                    fprintf(stderr, "%s\n", ns_errmsg(ctx));
        }
        ns__sql_result_free(ctx, r);
        be->close(c);
        ns_ctx_free(ctx);
    }
    return ns_test_tmpdir_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_both_ways),
        cmocka_unit_test(test_returning_id),
        cmocka_unit_test(test_unique_name_refused),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_bad_statements),
        cmocka_unit_test(test_locked_past_busy_timeout),
        cmocka_unit_test(test_sqlite_bad_files),
        cmocka_unit_test(test_postgres_gone),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_statement_head),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
