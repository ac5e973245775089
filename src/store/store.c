/* The registry and the job queue over either backend (sql.h): the schema and its migrations,
 * blobs by sha256, architectures, datasets, models with versions and aliases, and jobs with
 * leases and fencing tokens. Every statement is written once here; the backends differ only
 * in the few words sql.h names. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "format/json_read.h"
#include "netsmith/data.h"
#include "netsmith/format.h"
#include "netsmith/model.h"
#include "netsmith/pipeline.h"
#include "netsmith/store.h"
#include "store/store_private.h"

/* ---- names ------------------------------------------------------------------------------ */

#define NAME_MAX_LEN 64

static const char *const kind_names[] = {
#define NS__JOB_KIND_NAME(E, n) #n,
    NS_JOB_KIND_MAP(NS__JOB_KIND_NAME)
#undef NS__JOB_KIND_NAME
};
static const char *const state_names[] = {
#define NS__JOB_STATE_NAME(E, n) #n,
    NS_JOB_STATE_MAP(NS__JOB_STATE_NAME)
#undef NS__JOB_STATE_NAME
};

const char *ns_job_kind_name(ns_job_kind kind)
{
    return kind >= 0 && kind < NS_JOB_KIND_COUNT ? kind_names[kind] : NULL;
}

const char *ns_job_state_name(ns_job_state state)
{
    return state >= 0 && state < NS_JOB_STATE_COUNT ? state_names[state] : NULL;
}

ns_status ns_job_kind_parse(const char *name, ns_job_kind *out)
{
    int i = name != NULL ? ns__jr_find(kind_names, NS_JOB_KIND_COUNT, name) : -1;
    if (i < 0)
        return NS_ERR_NOTFOUND;
    *out = (ns_job_kind)i;
    return NS_OK;
}

ns_status ns_job_state_parse(const char *name, ns_job_state *out)
{
    int i = name != NULL ? ns__jr_find(state_names, NS_JOB_STATE_COUNT, name) : -1;
    if (i < 0)
        return NS_ERR_NOTFOUND;
    *out = (ns_job_state)i;
    return NS_OK;
}

/* NS_ERR_INVALID unless name is 1 to 64 of letters, digits, '-', '_', '.', not starting with
 * '.' or '-' (what: "model", "architecture"). */
ns_status ns__store_check_name(ns_store *s, const char *what, const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    bool ok = n >= 1 && n <= NAME_MAX_LEN && isalnum((unsigned char)name[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("-_.", name[i]) != NULL;
    if (ok)
        return NS_OK;
    char shown[NS__JR_SHOW_CAP];
    return ns_errorf(s->ctx, NS_ERR_INVALID,
                     "'%s' is not a valid %s name: use 1 to %d letters, digits, '-', '_' or '.', "
                     "starting with a letter or digit",
                     name != NULL ? ns__jr_show(shown, sizeof shown, name) : "", what,
                     NAME_MAX_LEN);
}

/* ---- SQL helpers ------------------------------------------------------------------------- */

/* sql with every "{now}" replaced by the backend's clock and "{id}", "{blob}", "{real}" by its
 * column types, into buf. */
static const char *dialect(const ns_store *s, char *buf, size_t cap, const char *sql)
{
    const ns__sql_backend *b = s->backend;
    static const char *const keys[] = {"{now}", "{id}", "{blob}", "{real}", "{skip_locked}"};
    const char *vals[] = {b->now, b->id_column, b->blob_type, b->real_type, b->skip_locked};
    size_t len = 0;
    for (const char *p = sql; *p != '\0';) {
        int k = -1;
        for (int i = 0; i < 5 && k < 0; i++)
            if (strncmp(p, keys[i], strlen(keys[i])) == 0)
                k = i;
        const char *piece = k >= 0 ? vals[k] : p;
        size_t n = k >= 0 ? strlen(vals[k]) : 1;
        NS_ASSERT(len + n < cap);
        memcpy(buf + len, piece, n);
        len += n;
        p += k >= 0 ? strlen(keys[k]) : 1;
    }
    buf[len] = '\0';
    return buf;
}

ns_status ns__store_exec(ns_store *s, const char *sql, const ns__sql_value *args, int n,
                         ns__sql_result **result, int64_t *changes)
{
    char text[4096];
    return s->backend->exec(s->conn, dialect(s, text, sizeof text, sql), args, n, result, changes);
}

ns_status ns__store_query_row(ns_store *s, const char *sql, const ns__sql_value *args, int n,
                              ns__sql_result **row)
{
    *row = NULL;
    ns__sql_result *r = NULL;
    ns_status st = ns__store_exec(s, sql, args, n, &r, NULL);
    if (st != NS_OK)
        return st;
    if (r != NULL && r->rows == 0) {
        ns__sql_result_free(s->ctx, r);
        r = NULL;
    }
    *row = r;
    return NS_OK;
}

static ns_status query_row(ns_store *s, const char *sql, const ns__sql_value *args, int n,
                           ns__sql_result **row)
{
    return ns__store_query_row(s, sql, args, n, row);
}

static int64_t int_at(const ns__sql_result *r, int row, int col)
{
    const ns__sql_value *v = ns__sql_at(r, row, col);
    return v->type == NS__SQL_INT ? v->i : v->type == NS__SQL_REAL ? (int64_t)v->r : 0;
}

double ns__store_real_at(const ns__sql_result *r, int row, int col)
{
    const ns__sql_value *v = ns__sql_at(r, row, col);
    return v->type == NS__SQL_REAL ? v->r : v->type == NS__SQL_INT ? (double)v->i : 0.0;
}

const char *ns__store_text_at(const ns__sql_result *r, int row, int col)
{
    const ns__sql_value *v = ns__sql_at(r, row, col);
    return v->type == NS__SQL_TEXT ? v->s : NULL;
}

ns_status ns__store_begin(ns_store *s)
{
    if (s->tx_depth > 0) {
        s->tx_depth++;
        return NS_OK;
    }
    ns_status st = s->backend->begin(s->conn);
    if (st == NS_OK)
        s->tx_depth = 1;
    return st;
}

ns_status ns__store_end(ns_store *s, ns_status st)
{
    NS_ASSERT(s->tx_depth > 0);
    if (--s->tx_depth > 0)
        return st;
    if (st == NS_OK)
        return s->backend->commit(s->conn);
    s->backend->rollback(s->conn);
    return st;
}

static ns_status begin(ns_store *s)
{
    return ns__store_begin(s);
}

/* Commits when st is NS_OK, else rolls back; returns the first failure. */
static ns_status end(ns_store *s, ns_status st)
{
    return ns__store_end(s, st);
}

/* A JSON value as a string on the store's context (NULL when out of memory). */
static char *dump(ns_store *s, const json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
    char *out = text != NULL ? ns_strdup(s->ctx, text) : NULL;
    free(text);
    return out;
}

/* Gives j (consumed) to the caller as text in *json. */
ns_status ns__store_give_json(ns_store *s, json_t *j, char **json)
{
    *json = dump(s, j);
    json_decref(j);
    return *json != NULL ? NS_OK : ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory writing JSON");
}

/* ---- the schema -------------------------------------------------------------------------- */

/* Each version's statements, applied in order from the one the store is at. A released
 * version is never edited: a change is a new version's statements. */
static const char *const schema_v1[] = {
    "CREATE TABLE IF NOT EXISTS blobs (sha TEXT PRIMARY KEY, size BIGINT NOT NULL, "
    "data {blob} NOT NULL, created {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS archs (id {id}, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, "
    "spec TEXT NOT NULL, created {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS datasets (id {id}, name TEXT NOT NULL UNIQUE, source TEXT NOT "
    "NULL, hash TEXT NOT NULL, blob TEXT, created {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS models (id {id}, name TEXT NOT NULL UNIQUE, arch_id BIGINT NOT "
    "NULL REFERENCES archs(id), created {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS versions (id {id}, model_id BIGINT NOT NULL REFERENCES "
    "models(id), version INTEGER NOT NULL, weights TEXT NOT NULL, record TEXT, job_id BIGINT, "
    "parent_id BIGINT REFERENCES versions(id), metrics TEXT, created {real} NOT NULL, "
    "UNIQUE (model_id, version))",
    "CREATE TABLE IF NOT EXISTS aliases (model_id BIGINT NOT NULL REFERENCES models(id), alias "
    "TEXT NOT NULL, version_id BIGINT NOT NULL REFERENCES versions(id), PRIMARY KEY (model_id, "
    "alias))",
    "CREATE TABLE IF NOT EXISTS jobs (id {id}, name TEXT, kind TEXT NOT NULL, state TEXT NOT NULL, "
    "priority "
    "INTEGER NOT NULL DEFAULT 0, params TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
    "lease_token BIGINT NOT NULL DEFAULT 0, lease_expires {real} NOT NULL DEFAULT 0, worker TEXT "
    "NOT NULL DEFAULT '', epoch BIGINT NOT NULL DEFAULT 0, epochs BIGINT NOT NULL DEFAULT 0, "
    "cancel_requested INTEGER NOT NULL DEFAULT 0, device TEXT NOT NULL DEFAULT 'cpu', metrics "
    "TEXT, error TEXT, checkpoint TEXT, "
    "result TEXT, created {real} NOT NULL, started {real} NOT NULL DEFAULT 0, finished {real} "
    "NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, priority, id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_name ON jobs (name) WHERE name IS NOT NULL",
    NULL,
};
/* Version 2: the event log (events), saved pipelines, and each job's per-epoch history (one
 * JSON object per line, {"epoch", "metrics"}: a resumed job's epochs again replace theirs). */
static const char *const schema_v2[] = {
    "CREATE TABLE IF NOT EXISTS events (id {id}, job_id BIGINT, type TEXT NOT NULL, data TEXT "
    "NOT NULL, created {real} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_job ON events (job_id, id)",
    "ALTER TABLE jobs ADD COLUMN history TEXT",
    "CREATE TABLE IF NOT EXISTS pipelines (id {id}, name TEXT NOT NULL UNIQUE, text TEXT NOT "
    "NULL, hash TEXT NOT NULL, created {real} NOT NULL, updated {real} NOT NULL)",
    NULL,
};
/* Version 3: studies (the tuner's definitions) and their trials, each a row of settings and a
 * trial job (state: 'pruned' for a trial paused at a rung and never promoted before its study
 * ended; NULL: the job's state tells). */
static const char *const schema_v3[] = {
    "CREATE TABLE IF NOT EXISTS studies (id {id}, name TEXT NOT NULL UNIQUE, definition TEXT NOT "
    "NULL, state TEXT NOT NULL DEFAULT 'running', model TEXT, model_version INTEGER, created "
    "{real} NOT NULL, updated {real} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS trials (id {id}, study_id BIGINT NOT NULL REFERENCES "
    "studies(id), number INTEGER NOT NULL, job_id BIGINT NOT NULL, params TEXT NOT NULL, state "
    "TEXT, created {real} NOT NULL, UNIQUE (study_id, number))",
    NULL,
};

static const char *const *const schema_versions[] = {schema_v1, schema_v2, schema_v3};
#define SCHEMA_VERSION ((int)(sizeof schema_versions / sizeof schema_versions[0]))

static ns_status migrate(ns_store *s)
{
    ns_status st = begin(s);
    if (st != NS_OK)
        return st;
    st = ns__store_exec(s,
                        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT "
                        "NOT NULL)",
                        NULL, 0, NULL, NULL);
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = query_row(s, "SELECT value FROM meta WHERE key = 'schema_version'", NULL, 0, &row);
    int at = row != NULL && ns__store_text_at(row, 0, 0) != NULL
                 ? atoi(ns__store_text_at(row, 0, 0))
                 : 0;
    ns__sql_result_free(s->ctx, row);
    if (st == NS_OK && at > SCHEMA_VERSION)
        st = ns_errorf(s->ctx, NS_ERR_FORMAT,
                       "the store's schema is version %d, newer than this netsmith knows (%d); "
                       "use a newer netsmith",
                       at, SCHEMA_VERSION);
    for (int v = at; st == NS_OK && v < SCHEMA_VERSION; v++)
        for (int i = 0; st == NS_OK && schema_versions[v][i] != NULL; i++)
            st = ns__store_exec(s, schema_versions[v][i], NULL, 0, NULL, NULL);
    if (st == NS_OK && at < SCHEMA_VERSION) {
        char v[16];
        snprintf(v, sizeof v, "%d", SCHEMA_VERSION);
        ns__sql_value a[] = {NS__SQL_T(v)};
        st = ns__store_exec(s,
                            at == 0 ? "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                                    : "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                            a, 1, NULL, NULL);
    }
    if (st == NS_OK)
        s->schema = SCHEMA_VERSION;
    return end(s, st);
}

/* ---- opening ------------------------------------------------------------------------------ */

const char *ns_store_default_url(void)
{
    const char *env = getenv("NETSMITH_STORE");
    return env != NULL && env[0] != '\0' ? env : "sqlite:netsmith.db";
}

ns_status ns_store_open(ns_ctx *ctx, const char *url, ns_store **out)
{
    NS_ASSERT(ctx != NULL && out != NULL);
    *out = NULL;
    if (url == NULL)
        url = ns_store_default_url();
    const ns__sql_backend *b = NULL;
    const char *where = url;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        b = &ns__postgres_backend;
    } else if (strncmp(url, "sqlite:", 7) == 0) {
        b = &ns__sqlite_backend;
        where = url + 7;
    } else if (strstr(url, "://") == NULL) {
        b = &ns__sqlite_backend; /* a bare path */
    }
    if (b == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "store '%s': unknown kind of store; use sqlite:PATH or "
                         "postgresql://USER@HOST/DB",
                         url);
    if (where[0] == '\0')
        return ns_errorf(ctx, NS_ERR_INVALID, "store '%s': no file named; use sqlite:PATH", url);
    ns_store *s = ns_calloc(ctx, 1, sizeof *s);
    if (s == NULL)
        return NS_ERR_NOMEM;
    s->ctx = ctx;
    s->backend = b;
    s->url = ns_strdup(ctx, url);
    const char *keep = getenv("NETSMITH_STORE_EVENTS_KEEP");
    s->events_keep = keep != NULL && atoll(keep) > 0 ? atoll(keep) : NS_STORE_EVENTS_KEEP;
    ns_status st = s->url != NULL ? b->open(ctx, where, &s->conn) : NS_ERR_NOMEM;
    if (st == NS_OK)
        st = migrate(s);
    if (st != NS_OK) {
        ns_store_close(s);
        return st;
    }
    *out = s;
    return NS_OK;
}

void ns_store_close(ns_store *s)
{
    if (s == NULL)
        return;
    if (s->conn != NULL)
        s->backend->close(s->conn);
    ns_dealloc(s->ctx, s->url);
    ns_dealloc(s->ctx, s);
}

const char *ns_store_backend(const ns_store *s)
{
    return s->backend->name;
}
int ns_store_schema_version(const ns_store *s)
{
    return s->schema;
}
ns_ctx *ns_store_ctx(const ns_store *s)
{
    return s->ctx;
}

/* ---- blobs ------------------------------------------------------------------------------ */

void ns__sha256_hex(const void *data, size_t n, char sha[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", md[i]);
    sha[64] = '\0';
}

ns_status ns_store_blob_put(ns_store *s, const void *data, size_t n, char sha[65])
{
    ns__sha256_hex(data, n, sha);
    ns__sql_value a[] = {NS__SQL_T(sha), NS__SQL_I(n), NS__SQL_B(data, n)};
    return ns__store_exec(s,
                          "INSERT INTO blobs (sha, size, data, created) VALUES (?, ?, ?, {now}) "
                          "ON CONFLICT (sha) DO NOTHING",
                          a, 3, NULL, NULL);
}

ns_status ns_store_blob_put_file(ns_store *s, const char *path, char sha[65])
{
    char *data = NULL;
    size_t n = 0;
    ns_status st = ns_read_file(s->ctx, path, &data, &n);
    if (st == NS_OK)
        st = ns_store_blob_put(s, data, n, sha);
    ns_dealloc(s->ctx, data);
    return st;
}

ns_status ns_store_blob_get(ns_store *s, const char *sha, void **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    ns__sql_value a[] = {NS__SQL_T(sha)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s, "SELECT data FROM blobs WHERE sha = ?", a, 1, &row);
    if (st != NS_OK)
        return st;
    if (row == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOTFOUND, "the store holds no blob %.64s", sha);
    const ns__sql_value *v = ns__sql_at(row, 0, 0);
    char got[65];
    ns__sha256_hex(v->s, v->n, got);
    if (strcmp(got, sha) != 0) {
        ns__sql_result_free(s->ctx, row);
        return ns_errorf(s->ctx, NS_ERR_FORMAT,
                         "blob %.64s in the store is damaged: its bytes hash to %s", sha, got);
    }
    *data = ns_alloc(s->ctx, v->n > 0 ? v->n : 1);
    if (*data == NULL) {
        ns__sql_result_free(s->ctx, row);
        return NS_ERR_NOMEM;
    }
    memcpy(*data, v->s, v->n);
    *n = v->n;
    ns__sql_result_free(s->ctx, row);
    return NS_OK;
}

ns_status ns_store_blob_get_file(ns_store *s, const char *sha, const char *path)
{
    void *data = NULL;
    size_t n = 0;
    ns_status st = ns_store_blob_get(s, sha, &data, &n);
    if (st == NS_OK)
        st = ns_write_file(s->ctx, path, data, n);
    ns_dealloc(s->ctx, data);
    return st;
}

ns_status ns_store_version_load(ns_store *s, const char *ref, ns_ctx *ctx, ns_model **model,
                                ns_model_info *info, ns_store_version *version)
{
    *model = NULL;
    memset(info, 0, sizeof *info);
    ns_store_version v;
    ns_status st = ns_store_version_get(s, ref, &v);
    void *data = NULL;
    size_t n = 0;
    if (st == NS_OK)
        st = ns_store_blob_get(s, v.weights, &data, &n);
    if (st != NS_OK) {
        if (ctx != s->ctx)
            ns_errorf(ctx, st, "%s", ns_errmsg(s->ctx));
        return st;
    }
    char name[96];
    snprintf(name, sizeof name, "%s@%d", v.model, v.version);
    st = ns_fit_load_buffer(ctx, data, n, name, 0, model, info);
    ns_dealloc(s->ctx, data);
    if (st == NS_OK && version != NULL)
        *version = v;
    return st;
}

/* ---- finding by name, with a did-you-mean ------------------------------------------------- */

/* NS_ERR_NOTFOUND "no WHAT named 'x' in the store (did you mean 'y'?); 'netsmith LIST' lists
 * them", the suggestion drawn from table's names. */
static ns_status not_found(ns_store *s, const char *table, const char *what, const char *name,
                           const char *list_cmd)
{
    char sql[96], h[NS__JR_HINT_CAP] = "", shown[NS__JR_SHOW_CAP];
    snprintf(sql, sizeof sql, "SELECT name FROM %s ORDER BY name", table);
    ns__sql_result *r = NULL;
    if (ns__store_exec(s, sql, NULL, 0, &r, NULL) == NS_OK && r != NULL && r->rows > 0) {
        const char **names = ns_calloc(s->ctx, (size_t)r->rows, sizeof *names);
        if (names != NULL) {
            for (int i = 0; i < r->rows; i++)
                names[i] = ns__store_text_at(r, i, 0) != NULL ? ns__store_text_at(r, i, 0) : "";
            ns__jr_hint(h, sizeof h, name, names, r->rows);
            ns_dealloc(s->ctx, names);
        }
    }
    ns__sql_result_free(s->ctx, r);
    return ns_errorf(s->ctx, NS_ERR_NOTFOUND, "no %s named '%s' in the store%s; '%s' lists them",
                     what, ns__jr_show(shown, sizeof shown, name), h, list_cmd);
}

/* The id of table's row called name, or a not_found error. */
ns_status ns__store_id_of(ns_store *s, const char *table, const char *what, const char *name,
                          const char *list_cmd, int64_t *id)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE name = ?", table);
    ns__sql_value a[] = {NS__SQL_T(name)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s, sql, a, 1, &row);
    if (st == NS_OK && row == NULL)
        st = not_found(s, table, what, name, list_cmd);
    if (st == NS_OK)
        *id = int_at(row, 0, 0);
    ns__sql_result_free(s->ctx, row);
    return st;
}

/* Inserts a named row (name, hash, ...) unless one with that name exists: with the same hash
 * that is a no-op, with another an NS_ERR_STATE naming what. */
static ns_status add_named(ns_store *s, const char *table, const char *what, const char *name,
                           const char *hash, const char *insert, const ns__sql_value *args, int n)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT hash FROM %s WHERE name = ?", table);
    ns__sql_value a[] = {NS__SQL_T(name)};
    ns_status st = begin(s);
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = query_row(s, sql, a, 1, &row);
    if (st == NS_OK && row != NULL) {
        const char *had = ns__store_text_at(row, 0, 0);
        if (had == NULL || strcmp(had, hash) != 0)
            st = ns_errorf(s->ctx, NS_ERR_STATE,
                           "%s '%s' is already in the store with other contents (hash %.12s, "
                           "these are %.12s); give the new one another name",
                           what, name, had != NULL ? had : "?", hash);
    } else if (st == NS_OK) {
        st = ns__store_exec(s, insert, args, n, NULL, NULL);
    }
    ns__sql_result_free(s->ctx, row);
    return end(s, st);
}

/* ---- listing and showing named objects ------------------------------------------------------ */

/* Every row sql selects, each as row_json makes it, as a JSON array in *json. */
ns_status ns__store_list_rows(ns_store *s, const char *sql, ns__row_json_fn row_json, char **json)
{
    *json = NULL;
    ns__sql_result *r = NULL;
    ns_status st = ns__store_exec(s, sql, NULL, 0, &r, NULL);
    json_t *all = json_array();
    for (int i = 0; st == NS_OK && r != NULL && i < r->rows; i++)
        json_array_append_new(all, row_json(r, i));
    ns__sql_result_free(s->ctx, r);
    if (st != NS_OK) {
        json_decref(all);
        return st;
    }
    return ns__store_give_json(s, all, json);
}

/* The row sql selects for name, as row_json makes it, in *json; not_found's message when there
 * is none. */
static ns_status get_row(ns_store *s, const char *sql, const char *name, const char *table,
                         const char *what, const char *list_cmd, ns__row_json_fn row_json,
                         char **json)
{
    *json = NULL;
    ns__sql_value a[] = {NS__SQL_T(name)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s, sql, a, 1, &row);
    if (st == NS_OK && row == NULL)
        st = not_found(s, table, what, name, list_cmd);
    if (st == NS_OK)
        st = ns__store_give_json(s, row_json(row, 0), json);
    ns__sql_result_free(s->ctx, row);
    return st;
}

/* ---- architectures ------------------------------------------------------------------------ */

ns_status ns_store_arch_add(ns_store *s, const char *name, const char *spec_json,
                            const char *source)
{
    ns_status st = ns__store_check_name(s, "architecture", name);
    if (st != NS_OK)
        return st;
    ns_spec *spec = NULL;
    char *canon = NULL;
    st = ns_spec_parse(s->ctx, spec_json, strlen(spec_json), source != NULL ? source : name, &spec);
    if (st == NS_OK)
        st = ns_spec_to_json(spec, &canon);
    ns_spec_free(spec);
    if (st != NS_OK)
        return st;
    char hash[65];
    ns__sha256_hex(canon, strlen(canon), hash);
    ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_T(hash), NS__SQL_T(canon)};
    st = add_named(s, "archs", "architecture", name, hash,
                   "INSERT INTO archs (name, hash, spec, created) VALUES (?, ?, ?, {now})", a, 3);
    ns_dealloc(s->ctx, canon);
    return st;
}

/* {"name", "hash", "spec", "created"} of an architecture row (name, hash, spec, created). */
static json_t *arch_json(const ns__sql_result *r, int i)
{
    json_error_t e;
    json_t *spec =
        json_loads(ns__store_text_at(r, i, 2) != NULL ? ns__store_text_at(r, i, 2) : "null",
                   JSON_DECODE_ANY, &e);
    return json_pack("{s:s?, s:s?, s:o?, s:f}", "name", ns__store_text_at(r, i, 0), "hash",
                     ns__store_text_at(r, i, 1), "spec", spec, "created",
                     ns__store_real_at(r, i, 3));
}

ns_status ns_store_arch_get(ns_store *s, const char *name, char **json)
{
    return get_row(s, "SELECT name, hash, spec, created FROM archs WHERE name = ?", name, "archs",
                   "architecture", "netsmith arch list", arch_json, json);
}

ns_status ns_store_arch_list(ns_store *s, char **json)
{
    return ns__store_list_rows(s, "SELECT name, hash, spec, created FROM archs ORDER BY name",
                               arch_json, json);
}

/* ---- datasets ------------------------------------------------------------------------------ */

/* A dataset a pipeline makes: the pipeline checked, its text and output kept. */
static ns_status add_pipeline_dataset(ns_store *s, const char *name, json_t *src)
{
    const char *text = json_string_value(json_object_get(src, "pipeline"));
    const char *ref = json_string_value(json_object_get(src, "output"));
    if (text == NULL || ref == NULL || strchr(ref, '.') == NULL || json_object_size(src) != 2)
        return ns_errorf(s->ctx, NS_ERR_INVALID,
                         "dataset '%s': a pipeline source is {\"pipeline\": TEXT, \"output\": "
                         "\"CARD.PORT\"} (its dataset output, e.g. load.dataset)",
                         name);
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    ns_status st = ns_cards_new(s->ctx, &cards);
    if (st == NS_OK)
        st = ns_pipeline_parse(cards, text, strlen(text), name, NULL, 0, &p);
    ns_pipeline_free(p);
    ns_cards_free(cards);
    char *canon = st == NS_OK ? json_dumps(src, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char hash[65];
    if (st == NS_OK && canon == NULL)
        st = NS_ERR_NOMEM;
    if (st == NS_OK) {
        ns__sha256_hex(canon, strlen(canon), hash);
        ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_T(canon), NS__SQL_T(hash), NS__SQL_N};
        st = add_named(s, "datasets", "dataset", name, hash,
                       "INSERT INTO datasets (name, source, hash, blob, created) VALUES (?, ?, "
                       "?, ?, {now})",
                       a, 4);
    }
    free(canon);
    return st;
}

ns_status ns_store_data_add(ns_store *s, const char *name, const char *data_json)
{
    ns_status st = ns__store_check_name(s, "dataset", name);
    if (st != NS_OK)
        return st;
    {
        json_error_t pe;
        json_t *pj = json_loads(data_json, 0, &pe);
        if (json_is_object(pj) && json_object_get(pj, "pipeline") != NULL) {
            st = add_pipeline_dataset(s, name, pj);
            json_decref(pj);
            return st;
        }
        json_decref(pj);
    }
    /* Only the data settings of a run config (a dataset must not carry a job's model, output
     * or training settings), checked then by the run config's table. */
    int n_data_keys = 0;
    const char *const *data_keys = ns_run_data_settings(&n_data_keys);
    {
        json_error_t ke;
        json_t *kj = json_loads(data_json, 0, &ke);
        ns__json_reader r = {s->ctx, name, NS_ERR_INVALID, NULL};
        if (json_is_object(kj))
            st = ns__jr_keys(&r, "", kj, data_keys, n_data_keys);
        json_decref(kj);
        if (st != NS_OK)
            return st;
    }
    ns_run_config *cfg = NULL;
    st = ns_run_config_new(s->ctx, &cfg);
    if (st == NS_OK)
        st = ns_run_config_merge(cfg, data_json, name);
    const char *data = st == NS_OK ? ns_run_config_string(cfg, "data") : NULL;
    if (st == NS_OK && (data == NULL || data[0] == '\0'))
        st = ns_errorf(s->ctx, NS_ERR_INVALID,
                       "dataset '%s': no \"data\"; give a built-in dataset's name or a file", name);
    char blob[65] = "", hash[65];
    json_error_t e;
    json_t *src = st == NS_OK ? json_loads(data_json, 0, &e) : NULL;
    if (st == NS_OK && !json_is_object(src))
        st =
            ns_errorf(s->ctx, NS_ERR_PARSE, "dataset '%s': the source must be a JSON object", name);
    if (st == NS_OK && ns_data_builtin_find(data) == NULL) {
        /* a file: its bytes go into the store, and the source names the file alone */
        st = ns_store_blob_put_file(s, data, blob);
        const char *slash = strrchr(data, '/');
        if (st == NS_OK)
            json_object_set_new(src, "data", json_string(slash != NULL ? slash + 1 : data));
        /* an IDX images file's labels travel too */
        const char *labels =
            ns_run_config_has(cfg, "labels") ? ns_run_config_string(cfg, "labels") : NULL;
        if (st == NS_OK && labels != NULL) {
            char lsha[65];
            st = ns_store_blob_put_file(s, labels, lsha);
            const char *ls = strrchr(labels, '/');
            if (st == NS_OK) {
                json_object_set_new(src, "labels", json_string(ls != NULL ? ls + 1 : labels));
                json_object_set_new(src, "labels_blob", json_string(lsha));
            }
        }
    }
    char *text = NULL;
    if (st == NS_OK) {
        char *t = json_dumps(src, JSON_COMPACT | JSON_SORT_KEYS);
        text = t != NULL ? ns_strdup(s->ctx, t) : NULL;
        free(t);
        if (text == NULL)
            st = NS_ERR_NOMEM;
    }
    if (st == NS_OK) {
        /* the content hash: the source's settings and the file's bytes */
        size_t tl = strlen(text);
        char *both = ns_alloc(s->ctx, tl + 66);
        if (both == NULL) {
            st = NS_ERR_NOMEM;
        } else {
            memcpy(both, text, tl);
            memcpy(both + tl, blob, strlen(blob) + 1);
            ns__sha256_hex(both, strlen(both), hash);
            ns_dealloc(s->ctx, both);
        }
    }
    if (st == NS_OK) {
        ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_T(text), NS__SQL_T(hash),
                             blob[0] ? NS__SQL_T(blob) : NS__SQL_N};
        st = add_named(s, "datasets", "dataset", name, hash,
                       "INSERT INTO datasets (name, source, hash, blob, created) VALUES (?, ?, "
                       "?, ?, {now})",
                       a, 4);
    }
    ns_dealloc(s->ctx, text);
    json_decref(src);
    ns_run_config_free(cfg);
    return st;
}

static json_t *data_json_row(const ns__sql_result *r, int i)
{
    json_error_t e;
    json_t *src =
        json_loads(ns__store_text_at(r, i, 1) != NULL ? ns__store_text_at(r, i, 1) : "{}", 0, &e);
    return json_pack("{s:s?, s:o?, s:s?, s:s?, s:f}", "name", ns__store_text_at(r, i, 0), "source",
                     src, "hash", ns__store_text_at(r, i, 2), "blob", ns__store_text_at(r, i, 3),
                     "created", ns__store_real_at(r, i, 4));
}

ns_status ns_store_data_get(ns_store *s, const char *name, char **json)
{
    return get_row(s, "SELECT name, source, hash, blob, created FROM datasets WHERE name = ?", name,
                   "datasets", "dataset", "netsmith data list", data_json_row, json);
}

ns_status ns_store_data_list(ns_store *s, char **json)
{
    return ns__store_list_rows(
        s, "SELECT name, source, hash, blob, created FROM datasets ORDER BY name", data_json_row,
        json);
}

/* ---- models, versions, aliases --------------------------------------------------------------- */

ns_status ns_store_model_create(ns_store *s, const char *name, const char *arch)
{
    ns_status st = ns__store_check_name(s, "model", name);
    int64_t arch_id = 0;
    if (st == NS_OK)
        st = ns__store_id_of(s, "archs", "architecture", arch, "netsmith arch list", &arch_id);
    if (st != NS_OK)
        return st;
    /* models have no hash: the architecture's id stands in for it */
    ns__sql_value q[] = {NS__SQL_T(name)};
    st = begin(s);
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = query_row(s,
                       "SELECT m.arch_id, a.name FROM models m JOIN archs a ON a.id = "
                       "m.arch_id WHERE m.name = ?",
                       q, 1, &row);
    if (st == NS_OK && row != NULL && int_at(row, 0, 0) != arch_id)
        st = ns_errorf(s->ctx, NS_ERR_STATE,
                       "model '%s' is already in the store, an instance of architecture '%s'; "
                       "give the new one another name",
                       name,
                       ns__store_text_at(row, 0, 1) != NULL ? ns__store_text_at(row, 0, 1) : "?");
    if (st == NS_OK && row == NULL) {
        ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_I(arch_id)};
        st = ns__store_exec(s, "INSERT INTO models (name, arch_id, created) VALUES (?, ?, {now})",
                            a, 2, NULL, NULL);
    }
    ns__sql_result_free(s->ctx, row);
    return end(s, st);
}

/* "NAME@V" of a version id, into buf ("" when id is 0 or unknown). */
static ns_status version_ref(ns_store *s, int64_t id, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (id == 0)
        return NS_OK;
    ns__sql_value a[] = {NS__SQL_I(id)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s,
                             "SELECT m.name, v.version FROM versions v JOIN models m ON m.id = "
                             "v.model_id WHERE v.id = ?",
                             a, 1, &row);
    if (st == NS_OK && row != NULL)
        snprintf(buf, cap, "%s@%lld", ns__store_text_at(row, 0, 0), (long long)int_at(row, 0, 1));
    ns__sql_result_free(s->ctx, row);
    return st;
}

/* The model as JSON into *out, its versions and aliases read now. */
static ns_status model_json(ns_store *s, const char *name, const char *arch, double created,
                            int64_t model_id, json_t **out)
{
    *out = NULL;
    json_t *versions = json_array(), *aliases = json_object();
    ns__sql_value a[] = {NS__SQL_I(model_id)};
    ns__sql_result *r = NULL;
    ns_status st = ns__store_exec(s,
                                  "SELECT version, weights, record, job_id, parent_id, metrics, "
                                  "created FROM versions WHERE model_id = ? ORDER BY version",
                                  a, 1, &r, NULL);
    for (int i = 0; st == NS_OK && r != NULL && i < r->rows; i++) {
        char parent[96];
        json_error_t e;
        json_t *metrics = ns__store_text_at(r, i, 5) != NULL
                              ? json_loads(ns__store_text_at(r, i, 5), 0, &e)
                              : json_null();
        st = version_ref(s, int_at(r, i, 4), parent, sizeof parent);
        json_array_append_new(
            versions,
            json_pack("{s:I, s:s?, s:s?, s:o, s:s?, s:o?, s:f}", "version",
                      (json_int_t)int_at(r, i, 0), "weights", ns__store_text_at(r, i, 1), "record",
                      ns__store_text_at(r, i, 2), "job",
                      int_at(r, i, 3) ? json_integer((json_int_t)int_at(r, i, 3)) : json_null(),
                      "parent", parent[0] ? parent : NULL, "metrics", metrics, "created",
                      ns__store_real_at(r, i, 6)));
    }
    ns__sql_result_free(s->ctx, r);
    r = NULL;
    if (st == NS_OK)
        st = ns__store_exec(s,
                            "SELECT l.alias, v.version FROM aliases l JOIN versions v ON v.id = "
                            "l.version_id WHERE l.model_id = ? ORDER BY l.alias",
                            a, 1, &r, NULL);
    for (int i = 0; st == NS_OK && r != NULL && i < r->rows; i++)
        json_object_set_new(aliases, ns__store_text_at(r, i, 0), json_integer(int_at(r, i, 1)));
    ns__sql_result_free(s->ctx, r);
    if (st != NS_OK) {
        json_decref(versions);
        json_decref(aliases);
        return st;
    }
    *out = json_pack("{s:s, s:s, s:f, s:o, s:o}", "name", name, "arch", arch, "created", created,
                     "versions", versions, "aliases", aliases);
    return *out != NULL ? NS_OK : ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory writing JSON");
}

ns_status ns_store_model_get(ns_store *s, const char *name, char **json)
{
    *json = NULL;
    ns__sql_value a[] = {NS__SQL_T(name)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s,
                             "SELECT m.name, a.name, m.created, m.id FROM models m JOIN archs a "
                             "ON a.id = m.arch_id WHERE m.name = ?",
                             a, 1, &row);
    if (st == NS_OK && row == NULL)
        st = not_found(s, "models", "model", name, "netsmith model list");
    json_t *m = NULL;
    if (st == NS_OK)
        st = model_json(s, ns__store_text_at(row, 0, 0), ns__store_text_at(row, 0, 1),
                        ns__store_real_at(row, 0, 2), int_at(row, 0, 3), &m);
    if (st == NS_OK)
        st = ns__store_give_json(s, m, json);
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_store_model_list(ns_store *s, char **json)
{
    *json = NULL;
    ns__sql_result *r = NULL;
    ns_status st = ns__store_exec(s,
                                  "SELECT m.name, a.name, m.created, m.id FROM models m JOIN "
                                  "archs a ON a.id = m.arch_id ORDER BY m.name",
                                  NULL, 0, &r, NULL);
    json_t *all = json_array();
    for (int i = 0; st == NS_OK && r != NULL && i < r->rows; i++) {
        json_t *m = NULL;
        st = model_json(s, ns__store_text_at(r, i, 0), ns__store_text_at(r, i, 1),
                        ns__store_real_at(r, i, 2), int_at(r, i, 3), &m);
        if (st == NS_OK)
            json_array_append_new(all, m);
    }
    ns__sql_result_free(s->ctx, r);
    if (st != NS_OK) {
        json_decref(all);
        return st;
    }
    return ns__store_give_json(s, all, json);
}

ns_status ns_store_version_get(ns_store *s, const char *ref, ns_store_version *out)
{
    memset(out, 0, sizeof *out);
    char name[NAME_MAX_LEN + 1];
    const char *at = strchr(ref, '@');
    size_t n = at != NULL ? (size_t)(at - ref) : strlen(ref);
    if (n == 0 || n > NAME_MAX_LEN || (at != NULL && at[1] == '\0'))
        return ns_errorf(s->ctx, NS_ERR_INVALID,
                         "'%s' is not a model version; write NAME, NAME@VERSION or NAME@ALIAS",
                         ref);
    memcpy(name, ref, n);
    name[n] = '\0';
    int64_t model_id = 0;
    ns_status st = ns__store_id_of(s, "models", "model", name, "netsmith model list", &model_id);
    if (st != NS_OK)
        return st;
    const char *sel = "SELECT v.id, v.version, v.weights, v.record, v.job_id, v.parent_id, "
                      "a.name FROM versions v JOIN models m ON m.id = v.model_id JOIN archs a ON "
                      "a.id = m.arch_id ";
    char sql[512];
    ns__sql_value args[2] = {NS__SQL_I(model_id), NS__SQL_N};
    const char *what = at != NULL ? at + 1 : NULL;
    char *end_num = NULL;
    long long num = what != NULL ? strtoll(what, &end_num, 10) : 0;
    if (what == NULL) {
        snprintf(sql, sizeof sql, "%sWHERE v.model_id = ? ORDER BY v.version DESC LIMIT 1", sel);
    } else if (end_num != NULL && *end_num == '\0' && num > 0) {
        snprintf(sql, sizeof sql, "%sWHERE v.model_id = ? AND v.version = ?", sel);
        args[1] = NS__SQL_I(num);
    } else {
        snprintf(sql, sizeof sql,
                 "%sJOIN aliases l ON l.version_id = v.id WHERE v.model_id = ? AND l.alias = ?",
                 sel);
        args[1] = NS__SQL_T(what);
    }
    ns__sql_result *row = NULL;
    st = query_row(s, sql, args, what != NULL ? 2 : 1, &row);
    if (st == NS_OK && row == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOTFOUND,
                       what == NULL ? "model '%s' has no versions yet%s; train it (netsmith job "
                                      "submit train) or import one (netsmith model import)"
                                    : "model '%s' has no version or alias '%s'; 'netsmith model "
                                      "show %s' lists them",
                       name, what != NULL ? what : "", name);
    if (st == NS_OK) {
        out->id = int_at(row, 0, 0);
        snprintf(out->model, sizeof out->model, "%s", name);
        snprintf(out->arch, sizeof out->arch, "%s", ns__store_text_at(row, 0, 6));
        out->version = (int)int_at(row, 0, 1);
        snprintf(out->weights, sizeof out->weights, "%s",
                 ns__store_text_at(row, 0, 2) != NULL ? ns__store_text_at(row, 0, 2) : "");
        snprintf(out->record, sizeof out->record, "%s",
                 ns__store_text_at(row, 0, 3) != NULL ? ns__store_text_at(row, 0, 3) : "");
        out->job = int_at(row, 0, 4);
        out->parent = int_at(row, 0, 5);
    }
    ns__sql_result_free(s->ctx, row);
    return st;
}

/* Adds version (max + 1) of model_id inside the open transaction; *version its number, *id
 * its row. */
ns_status ns__store_insert_version(ns_store *s, int64_t model_id, const char *weights,
                                   const char *record, int64_t job, int64_t parent,
                                   const char *metrics, int *version, int64_t *id)
{
    ns__sql_value q[] = {NS__SQL_I(model_id)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(
        s, "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model_id = ?", q, 1, &row);
    int v = st == NS_OK && row != NULL ? (int)int_at(row, 0, 0) : 1;
    ns__sql_result_free(s->ctx, row);
    row = NULL;
    if (st != NS_OK)
        return st;
    ns__sql_value a[] = {NS__SQL_I(model_id),
                         NS__SQL_I(v),
                         NS__SQL_T(weights),
                         record != NULL && record[0] ? NS__SQL_T(record) : NS__SQL_N,
                         job ? NS__SQL_I(job) : NS__SQL_N,
                         parent ? NS__SQL_I(parent) : NS__SQL_N,
                         NS__SQL_T(metrics)};
    st = query_row(s,
                   "INSERT INTO versions (model_id, version, weights, record, job_id, parent_id, "
                   "metrics, created) VALUES (?, ?, ?, ?, ?, ?, ?, {now}) RETURNING id",
                   a, 7, &row);
    if (st == NS_OK && row != NULL) {
        *id = int_at(row, 0, 0);
        *version = v;
    }
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_store_model_import(ns_store *s, const char *model, const char *path, int *version)
{
    int64_t model_id = 0;
    ns_status st = ns__store_id_of(s, "models", "model", model, "netsmith model list", &model_id);
    ns__sql_value q[] = {NS__SQL_I(model_id)};
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = query_row(s,
                       "SELECT a.spec, a.name FROM archs a JOIN models m ON m.arch_id = a.id "
                       "WHERE m.id = ?",
                       q, 1, &row);
    if (st == NS_OK && row != NULL)
        st = ns__check_weights(s->ctx, ns__store_text_at(row, 0, 0), ns__store_text_at(row, 0, 1),
                               path);
    ns__sql_result_free(s->ctx, row);
    char sha[65];
    if (st == NS_OK)
        st = ns_store_blob_put_file(s, path, sha);
    int v = 0;
    int64_t id = 0;
    if (st == NS_OK && (st = begin(s)) == NS_OK)
        st = end(s, ns__store_insert_version(s, model_id, sha, NULL, 0, 0, NULL, &v, &id));
    if (st == NS_OK && version != NULL)
        *version = v;
    return st;
}

ns_status ns__store_version_copy(ns_store *s, const char *model, const ns_store_version *from)
{
    int64_t model_id = 0, id = 0;
    int v = 0;
    ns_status st = ns__store_id_of(s, "models", "model", model, "netsmith model list", &model_id);
    if (st == NS_OK && (st = begin(s)) == NS_OK)
        st = end(s, ns__store_insert_version(s, model_id, from->weights, from->record, 0, from->id,
                                             NULL, &v, &id));
    return st;
}

ns_status ns_store_alias_set(ns_store *s, const char *ref, const char *alias)
{
    bool ok = alias != NULL && alias[0] != '\0' && strlen(alias) <= NAME_MAX_LEN &&
              !isdigit((unsigned char)alias[0]);
    for (const char *p = alias; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '-' || *p == '_';
    if (!ok)
        return ns_errorf(s->ctx, NS_ERR_INVALID,
                         "'%s' is not a valid alias: use letters, digits, '-' and '_', starting "
                         "with a letter",
                         alias != NULL ? alias : "");
    ns_store_version v;
    ns_status st = ns_store_version_get(s, ref, &v);
    if (st != NS_OK)
        return st;
    int64_t model_id = 0;
    st = ns__store_id_of(s, "models", "model", v.model, "netsmith model list", &model_id);
    if (st == NS_OK && (st = begin(s)) == NS_OK) {
        ns__sql_value d[] = {NS__SQL_I(model_id), NS__SQL_T(alias)};
        st = ns__store_exec(s, "DELETE FROM aliases WHERE model_id = ? AND alias = ?", d, 2, NULL,
                            NULL);
        ns__sql_value a[] = {NS__SQL_I(model_id), NS__SQL_T(alias), NS__SQL_I(v.id)};
        if (st == NS_OK)
            st = ns__store_exec(
                s, "INSERT INTO aliases (model_id, alias, version_id) VALUES (?, ?, ?)", a, 3, NULL,
                NULL);
        st = end(s, st);
    }
    return st;
}

/* ---- the event log ------------------------------------------------------------------------ */

/* What happens to jobs (state changes, epoch ends, checkpoints, a pipeline job's card events)
 * is written in the transaction of the change it tells, so a face that shows them live (the
 * server's event stream) misses none, and one that reconnects reads what it missed (events.c
 * reads them). Ids only grow; the log keeps the newest events_keep.
 *
 * PostgreSQL hands out ids from a sequence when a row is inserted, not when it commits: two
 * transactions may commit ids 11 and 10 in that order, and a reader that saw 11 would skip 10.
 * Inserting events under one transaction-scoped advisory lock makes them commit in id order.
 * (SQLite has one writer at a time already.) */
#define EVENT_LOCK_KEY "7316417"

ns_status ns__store_event(ns_store *s, int64_t job, const char *type, json_t *data)
{
    if (data == NULL)
        data = json_object();
    char *text = data != NULL ? json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(data);
    if (text == NULL)
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory writing an event");
    ns_status st = ns__store_begin(s);
    if (st == NS_OK && strcmp(s->backend->name, "postgresql") == 0)
        st = ns__store_exec(s, "SELECT pg_advisory_xact_lock(" EVENT_LOCK_KEY ")", NULL, 0, NULL,
                            NULL);
    ns__sql_value a[] = {job > 0 ? NS__SQL_I(job) : NS__SQL_N, NS__SQL_T(type), NS__SQL_T(text)};
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = ns__store_query_row(
            s,
            "INSERT INTO events (job_id, type, data, created) VALUES (?, ?, ?, {now}) RETURNING id",
            a, 3, &row);
    int64_t id = row != NULL ? ns__sql_at(row, 0, 0)->i : 0;
    ns__sql_result_free(s->ctx, row);
    free(text);
    /* the window: every 64th event drops those that fell out of it */
    if (st == NS_OK && id % 64 == 0 && id > s->events_keep) {
        ns__sql_value d[] = {NS__SQL_I(id - s->events_keep)};
        st = ns__store_exec(s, "DELETE FROM events WHERE id <= ?", d, 1, NULL, NULL);
    }
    return ns__store_end(s, st);
}

/* ---- jobs --------------------------------------------------------------------------------- */

static ns_status state_event(ns_store *s, int64_t id, ns_job_kind kind, ns_job_state state,
                             json_t *extra);

#define JOB_COLUMNS                                                                                \
    "id, kind, state, priority, attempts, lease_token, lease_expires, worker, epoch, epochs, "     \
    "cancel_requested, params, metrics, error, checkpoint, result, created, started, finished, "   \
    "history"

/* A copy of a text column (NULL for NULL); *failed is set when the copy could not be made. */
static char *dup_text(ns_store *s, const ns__sql_result *r, int i, int col, bool *failed)
{
    const char *t = ns__store_text_at(r, i, col);
    char *c = t != NULL ? ns_strdup(s->ctx, t) : NULL;
    *failed |= t != NULL && c == NULL;
    return c;
}

/* Fills job from row i of a JOB_COLUMNS result. */
static ns_status job_from(ns_store *s, const ns__sql_result *r, int i, ns_job *job)
{
    memset(job, 0, sizeof *job);
    job->ctx = s->ctx;
    job->id = int_at(r, i, 0);
    if (ns_job_kind_parse(ns__store_text_at(r, i, 1), &job->kind) != NS_OK ||
        ns_job_state_parse(ns__store_text_at(r, i, 2), &job->state) != NS_OK)
        return ns_errorf(s->ctx, NS_ERR_FORMAT,
                         "job %lld in the store has an unknown kind or state", (long long)job->id);
    job->priority = (int)int_at(r, i, 3);
    job->attempts = (int)int_at(r, i, 4);
    job->lease_token = int_at(r, i, 5);
    job->lease_expires = ns__store_real_at(r, i, 6);
    snprintf(job->worker, sizeof job->worker, "%s",
             ns__store_text_at(r, i, 7) ? ns__store_text_at(r, i, 7) : "");
    job->epoch = int_at(r, i, 8);
    job->epochs = int_at(r, i, 9);
    job->cancel_requested = int_at(r, i, 10) != 0;
    bool failed = false;
    job->params = dup_text(s, r, i, 11, &failed);
    job->metrics = dup_text(s, r, i, 12, &failed);
    job->error = dup_text(s, r, i, 13, &failed);
    job->checkpoint = dup_text(s, r, i, 14, &failed);
    job->result = dup_text(s, r, i, 15, &failed);
    job->created = ns__store_real_at(r, i, 16);
    job->started = ns__store_real_at(r, i, 17);
    job->finished = ns__store_real_at(r, i, 18);
    job->history = dup_text(s, r, i, 19, &failed);
    if (failed || job->params == NULL) {
        ns_job_clear(job);
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory reading job %lld",
                         (long long)int_at(r, i, 0));
    }
    return NS_OK;
}

void ns_job_clear(ns_job *job)
{
    if (job == NULL || job->ctx == NULL)
        return;
    ns_ctx *ctx = job->ctx;
    ns_dealloc(ctx, job->params);
    ns_dealloc(ctx, job->metrics);
    ns_dealloc(ctx, job->error);
    ns_dealloc(ctx, job->checkpoint);
    ns_dealloc(ctx, job->result);
    ns_dealloc(ctx, job->history);
    memset(job, 0, sizeof *job);
}

ns_status ns_job_get(ns_store *s, int64_t id, ns_job *out)
{
    memset(out, 0, sizeof *out);
    ns__sql_value a[] = {NS__SQL_I(id)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", a, 1, &row);
    if (st == NS_OK && row == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOTFOUND,
                       "no job %lld in the store; 'netsmith job list' "
                       "lists them",
                       (long long)id);
    if (st == NS_OK)
        st = job_from(s, row, 0, out);
    ns__sql_result_free(s->ctx, row);
    return st;
}

static json_t *parse_or_null(const char *text)
{
    json_error_t e;
    json_t *j = text != NULL ? json_loads(text, JSON_DECODE_ANY, &e) : NULL;
    return j != NULL ? j : json_null();
}

/* A job's history lines as an array by epoch: a later line of an epoch (run again after a
 * resume from an earlier checkpoint) replaces the earlier one, and drops the epochs after it. */
static json_t *history_json(const char *text)
{
    json_t *list = json_array();
    for (const char *p = text; list != NULL && p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        json_error_t e;
        json_t *line = json_loadb(p, n, 0, &e);
        json_int_t epoch = json_integer_value(json_object_get(line, "epoch"));
        if (line != NULL && epoch >= 1) {
            while ((json_int_t)json_array_size(list) >= epoch)
                json_array_remove(list, json_array_size(list) - 1);
            if ((json_int_t)json_array_size(list) == epoch - 1)
                json_array_append(list, line);
        }
        json_decref(line);
        p = nl != NULL ? nl + 1 : NULL;
    }
    return list;
}

static json_t *job_json(const ns_job *j)
{
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:i, s:i, s:I, s:f, s:s, s:I, s:I, s:b, s:o, s:o, s:s?, "
                  "s:o, s:o, s:f, s:f, s:f}",
                  "id", (json_int_t)j->id, "kind", ns_job_kind_name(j->kind), "state",
                  ns_job_state_name(j->state), "priority", j->priority, "attempts", j->attempts,
                  "lease_token", (json_int_t)j->lease_token, "lease_expires", j->lease_expires,
                  "worker", j->worker, "epoch", (json_int_t)j->epoch, "epochs",
                  (json_int_t)j->epochs, "cancel_requested", j->cancel_requested, "params",
                  parse_or_null(j->params), "metrics", parse_or_null(j->metrics), "error", j->error,
                  "checkpoint", parse_or_null(j->checkpoint), "result", parse_or_null(j->result),
                  "created", j->created, "started", j->started, "finished", j->finished);
    if (o != NULL)
        json_object_set_new(o, "history", history_json(j->history));
    return o;
}

ns_status ns_job_to_json(ns_ctx *ctx, const ns_job *job, char **json)
{
    json_t *j = job_json(job);
    char *text = j != NULL ? json_dumps(j, JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    *json = text != NULL ? ns_strdup(ctx, text) : NULL;
    free(text);
    return *json != NULL ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing a job");
}

ns_status ns_job_list(ns_store *s, ns_job_state state, char **json)
{
    *json = NULL;
    ns__sql_result *r = NULL;
    ns__sql_value a[] = {NS__SQL_T(ns_job_state_name(state))};
    bool all_states = state < 0 || state >= NS_JOB_STATE_COUNT;
    ns_status st = ns__store_exec(s,
                                  all_states ? "SELECT " JOB_COLUMNS " FROM jobs ORDER BY id DESC"
                                             : "SELECT " JOB_COLUMNS
                                               " FROM jobs WHERE state = ? ORDER BY id DESC",
                                  a, all_states ? 0 : 1, &r, NULL);
    json_t *list = json_array();
    for (int i = 0; st == NS_OK && r != NULL && i < r->rows; i++) {
        ns_job job;
        st = job_from(s, r, i, &job);
        if (st == NS_OK)
            json_array_append_new(list, job_json(&job));
        ns_job_clear(&job);
    }
    ns__sql_result_free(s->ctx, r);
    if (st != NS_OK) {
        json_decref(list);
        return st;
    }
    return ns__store_give_json(s, list, json);
}

ns_status ns_job_cancel(ns_store *s, int64_t id)
{
    ns_job job;
    ns_status st = begin(s);
    if (st == NS_OK)
        st = ns_job_get(s, id, &job);
    if (st == NS_OK) {
        ns__sql_value a[] = {NS__SQL_I(id)};
        if (job.state == NS_JOB_QUEUED) {
            st = ns__store_exec(
                s, "UPDATE jobs SET state = 'cancelled', finished = {now} WHERE id = ?", a, 1, NULL,
                NULL);
            if (st == NS_OK)
                st = state_event(s, id, job.kind, NS_JOB_CANCELLED, NULL);
        } else if (job.state == NS_JOB_RUNNING) {
            st = ns__store_exec(s, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", a, 1, NULL,
                                NULL);
            if (st == NS_OK)
                st = ns__store_event(s, id, "cancel_requested", NULL);
        } else
            st = ns_errorf(s->ctx, NS_ERR_STATE, "job %lld has ended (%s); nothing to cancel",
                           (long long)id, ns_job_state_name(job.state));
        ns_job_clear(&job);
    }
    return end(s, st);
}

ns_status ns__job_named(ns_store *s, const char *name, int64_t *id)
{
    *id = 0;
    ns__sql_value a[] = {NS__SQL_T(name)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s, "SELECT id FROM jobs WHERE name = ?", a, 1, &row);
    if (st == NS_OK && row != NULL)
        *id = int_at(row, 0, 0);
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_job_retry(ns_store *s, int64_t id)
{
    ns_job job;
    ns_status st = begin(s);
    if (st == NS_OK)
        st = ns_job_get(s, id, &job);
    if (st == NS_OK) {
        if (job.state != NS_JOB_FAILED && job.state != NS_JOB_CANCELLED)
            st = ns_errorf(s->ctx, NS_ERR_STATE,
                           "job %lld is %s; only a failed or cancelled job is retried (use "
                           "'netsmith job retrain %lld' for a new run of a finished one)",
                           (long long)id, ns_job_state_name(job.state), (long long)id);
        ns__sql_value a[] = {NS__SQL_I(id)};
        if (st == NS_OK)
            st = ns__store_exec(s,
                                "UPDATE jobs SET state = 'queued', cancel_requested = 0, error = "
                                "NULL, finished = 0, lease_expires = 0 WHERE id = ?",
                                a, 1, NULL, NULL);
        if (st == NS_OK)
            st = state_event(s, id, job.kind, NS_JOB_QUEUED, NULL);
        ns_job_clear(&job);
    }
    return end(s, st);
}

ns_status ns__job_insert(ns_store *s, const char *name, ns_job_kind kind, const char *params,
                         int priority, const char *device, int64_t *id)
{
    ns__sql_value a[] = {NS__SQL_T(name), NS__SQL_T(ns_job_kind_name(kind)), NS__SQL_I(priority),
                         NS__SQL_T(params), NS__SQL_T(device != NULL ? device : "cpu")};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s,
                             "INSERT INTO jobs (name, kind, state, priority, params, device, "
                             "created) VALUES (?, ?, 'queued', ?, ?, ?, {now}) RETURNING id",
                             a, 5, &row);
    if (st == NS_OK && row != NULL)
        *id = int_at(row, 0, 0);
    ns__sql_result_free(s->ctx, row);
    if (st == NS_OK)
        st = state_event(s, *id, kind, NS_JOB_QUEUED, NULL);
    return st;
}

/* ---- claiming ----------------------------------------------------------------------------- */

ns_status ns_job_claim(ns_store *s, const char *worker, double lease_seconds, ns_job *job,
                       ns_lease *lease, bool *claimed)
{
    return ns_job_claim_on(s, worker, lease_seconds, "cpu", job, lease, claimed);
}

ns_status ns_job_claim_on(ns_store *s, const char *worker, double lease_seconds,
                          const char *devices, ns_job *job, ns_lease *lease, bool *claimed)
{
    return ns_job_claim_named(s, worker, lease_seconds, devices, NULL, job, lease, claimed);
}

ns_status ns_job_claim_named(ns_store *s, const char *worker, double lease_seconds,
                             const char *devices, const char *prefix, ns_job *job, ns_lease *lease,
                             bool *claimed)
{
    *claimed = false;
    memset(job, 0, sizeof *job);
    /* the prefix as a LIKE pattern: its '_', '%' and '\' taken as themselves */
    char like[200];
    size_t k = 0;
    for (const char *c = prefix != NULL ? prefix : ""; *c != '\0' && k + 3 < sizeof like; c++) {
        if (*c == '_' || *c == '%' || *c == '\\')
            like[k++] = '\\';
        like[k++] = *c;
    }
    like[k++] = '%';
    like[k] = '\0';
    ns__sql_value offer[] = {NS__SQL_I(devices != NULL && strstr(devices, "cuda") != NULL),
                             NS__SQL_I(prefix == NULL || prefix[0] == '\0'), NS__SQL_T(like)};
    ns_status st = begin(s);
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = query_row(s,
                       "SELECT id FROM jobs WHERE (state = 'queued' OR (state = 'running' AND "
                       "lease_expires < {now})) AND (device = 'cpu' OR ? = 1) AND (? = 1 OR name "
                       "LIKE ? ESCAPE '\\') ORDER BY priority DESC, id LIMIT 1{skip_locked}",
                       offer, 3, &row);
    int64_t id = row != NULL ? int_at(row, 0, 0) : 0;
    ns__sql_result_free(s->ctx, row);
    row = NULL;
    if (st == NS_OK && id != 0) {
        ns__sql_value a[] = {NS__SQL_R(lease_seconds), NS__SQL_T(worker), NS__SQL_I(id)};
        st = query_row(
            s,
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = "
            "lease_token + 1, lease_expires = {now} + ?, worker = ?, started = CASE "
            "WHEN started = 0 THEN {now} ELSE started END WHERE id = ? RETURNING " JOB_COLUMNS,
            a, 3, &row);
        if (st == NS_OK && row != NULL && (st = job_from(s, row, 0, job)) == NS_OK) {
            lease->job = job->id;
            lease->token = job->lease_token;
            *claimed = true;
            json_t *d = json_pack("{s:s, s:i}", "worker", worker, "attempt", job->attempts);
            st = state_event(s, job->id, job->kind, NS_JOB_RUNNING, d);
        }
    }
    ns__sql_result_free(s->ctx, row);
    st = end(s, st);
    if (st != NS_OK && *claimed) {
        ns_job_clear(job);
        *claimed = false;
    }
    return st;
}

ns_status ns__store_lost(ns_store *s, const ns_lease *lease)
{
    return ns_errorf(s->ctx, NS_ERR_STATE,
                     "job %lld: this worker's lease (token %lld) was taken over or the job ended; "
                     "it writes nothing more",
                     (long long)lease->job, (long long)lease->token);
}

/* An update of job `lease` that only its lease holder may make: `set` is the SET clause. */
static ns_status fenced(ns_store *s, const ns_lease *lease, const char *set,
                        const ns__sql_value *args, int n)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET %s WHERE id = ? AND lease_token = ? AND state = 'running'", set);
    ns__sql_value all[8];
    NS_ASSERT(n >= 0 && n + 2 <= 8);
    for (int i = 0; i < n; i++)
        all[i] = args[i];
    all[n] = NS__SQL_I(lease->job);
    all[n + 1] = NS__SQL_I(lease->token);
    int64_t changed = 0;
    ns_status st = ns__store_exec(s, sql, all, n + 2, NULL, &changed);
    return st != NS_OK ? st : changed == 1 ? NS_OK : ns__store_lost(s, lease);
}

ns_status ns_job_heartbeat(ns_store *s, const ns_lease *lease, double lease_seconds, bool *cancel)
{
    ns__sql_value a[] = {NS__SQL_R(lease_seconds), NS__SQL_I(lease->job), NS__SQL_I(lease->token)};
    ns__sql_result *row = NULL;
    ns_status st = query_row(s,
                             "UPDATE jobs SET lease_expires = {now} + ? WHERE id = ? AND "
                             "lease_token = ? AND state = 'running' RETURNING cancel_requested",
                             a, 3, &row);
    if (st == NS_OK && row == NULL)
        st = ns__store_lost(s, lease);
    if (st == NS_OK && cancel != NULL)
        *cancel = int_at(row, 0, 0) != 0;
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_job_progress(ns_store *s, const ns_lease *lease, int64_t epoch, int64_t epochs,
                          const char *metrics_json)
{
    json_error_t e;
    json_t *metrics = metrics_json != NULL ? json_loads(metrics_json, 0, &e) : NULL;
    if (metrics_json != NULL && metrics == NULL)
        return ns_errorf(s->ctx, NS_ERR_INVALID, "job %lld: epoch %lld's metrics are not JSON: %s",
                         (long long)lease->job, (long long)epoch, e.text);
    /* the history line: {"epoch", "metrics"} */
    json_t *line = json_pack("{s:I, s:O?}", "epoch", (json_int_t)epoch, "metrics", metrics);
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(line);
    size_t n = text != NULL ? strlen(text) : 0;
    char *lf = text != NULL ? realloc(text, n + 2) : NULL;
    if (lf == NULL) {
        free(text);
        json_decref(metrics);
        return ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory recording job progress");
    }
    text = lf;
    memcpy(text + n, "\n", 2);
    ns__sql_value a[] = {NS__SQL_I(epoch), NS__SQL_I(epochs), NS__SQL_T(metrics_json),
                         NS__SQL_T(metrics_json != NULL ? text : "")};
    ns_status st = begin(s);
    if (st == NS_OK)
        st = fenced(s, lease,
                    "epoch = ?, epochs = ?, metrics = COALESCE(?, metrics), history = "
                    "COALESCE(history, '') || ?",
                    a, 4);
    free(text);
    if (st == NS_OK)
        st = ns__store_event(s, lease->job, "epoch",
                             json_pack("{s:I, s:I, s:o?}", "epoch", (json_int_t)epoch, "epochs",
                                       (json_int_t)epochs, "metrics", metrics));
    else
        json_decref(metrics);
    return end(s, st);
}

ns_status ns_job_checkpoint(ns_store *s, const ns_lease *lease, const char *checkpoint_json)
{
    ns__sql_value a[] = {NS__SQL_T(checkpoint_json)};
    ns_status st = begin(s);
    if (st == NS_OK)
        st = fenced(s, lease, "checkpoint = ?", a, 1);
    ns__sql_value q[] = {NS__SQL_I(lease->job)};
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = query_row(s, "SELECT epoch FROM jobs WHERE id = ?", q, 1, &row);
    if (st == NS_OK)
        st =
            ns__store_event(s, lease->job, "checkpoint",
                            json_pack("{s:I}", "epoch", (json_int_t)(row ? int_at(row, 0, 0) : 0)));
    ns__sql_result_free(s->ctx, row);
    return end(s, st);
}

/* A job's state change into the log: {"state", "kind", ...extra} (extra consumed; may be
 * NULL). */
static ns_status state_event(ns_store *s, int64_t id, ns_job_kind kind, ns_job_state state,
                             json_t *extra)
{
    json_t *d = extra != NULL ? extra : json_object();
    if (d != NULL) {
        json_object_set_new(d, "state", json_string(ns_job_state_name(state)));
        json_object_set_new(d, "kind", json_string(ns_job_kind_name(kind)));
    }
    return ns__store_event(s, id, "job", d);
}

/* The kind of job id (for its events) into *kind. */
static ns_status kind_of(ns_store *s, int64_t id, ns_job_kind *kind)
{
    ns__sql_value q[] = {NS__SQL_I(id)};
    ns__sql_result *row = NULL;
    *kind = NS_JOB_TRAIN;
    ns_status st = query_row(s, "SELECT kind FROM jobs WHERE id = ?", q, 1, &row);
    if (st == NS_OK && row != NULL && ns__store_text_at(row, 0, 0) != NULL)
        ns_job_kind_parse(ns__store_text_at(row, 0, 0), kind);
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_job_finish(ns_store *s, const ns_lease *lease, ns_job_state state,
                        const char *result_json, const char *error)
{
    NS_ASSERT(state == NS_JOB_SUCCEEDED || state == NS_JOB_FAILED || state == NS_JOB_CANCELLED);
    ns__sql_value a[] = {NS__SQL_T(ns_job_state_name(state)), NS__SQL_T(result_json),
                         NS__SQL_T(error)};
    ns_status st = begin(s);
    if (st == NS_OK)
        st = fenced(s, lease,
                    "state = ?, result = ?, error = ?, finished = {now}, lease_expires = 0", a, 3);
    ns_job_kind kind;
    if (st == NS_OK)
        st = kind_of(s, lease->job, &kind);
    if (st == NS_OK) {
        json_error_t e;
        json_t *result = result_json != NULL ? json_loads(result_json, 0, &e) : NULL;
        st = state_event(s, lease->job, kind, state,
                         json_pack("{s:o?, s:s?}", "result", result, "error", error));
    }
    return end(s, st);
}

ns_status ns_job_release(ns_store *s, const ns_lease *lease)
{
    ns_status st = begin(s);
    if (st == NS_OK)
        st = fenced(s, lease, "state = 'queued', lease_expires = 0", NULL, 0);
    ns_job_kind kind;
    if (st == NS_OK)
        st = kind_of(s, lease->job, &kind);
    if (st == NS_OK)
        st = state_event(s, lease->job, kind, NS_JOB_QUEUED, NULL);
    return end(s, st);
}

ns_status ns_job_succeed(ns_store *s, const ns_lease *lease, const char *model,
                         const char *weights_sha, const char *record_sha, int64_t parent,
                         const char *metrics_json, int *version)
{
    int64_t model_id = 0;
    ns_status st = ns__store_id_of(s, "models", "model", model, "netsmith model list", &model_id);
    if (st != NS_OK)
        return st;
    st = begin(s);
    ns__sql_value q[] = {NS__SQL_I(lease->job), NS__SQL_I(lease->token)};
    ns__sql_result *row = NULL;
    /* the fence first: a worker that lost its lease adds no version */
    if (st == NS_OK)
        st = query_row(s,
                       "SELECT id FROM jobs WHERE id = ? AND lease_token = ? AND state = "
                       "'running'",
                       q, 2, &row);
    if (st == NS_OK && row == NULL)
        st = ns__store_lost(s, lease);
    ns__sql_result_free(s->ctx, row);
    int v = 0;
    int64_t vid = 0;
    if (st == NS_OK)
        st = ns__store_insert_version(s, model_id, weights_sha, record_sha, lease->job, parent,
                                      metrics_json, &v, &vid);
    char result[160];
    snprintf(result, sizeof result, "{\"model\": \"%s\", \"version\": %d}", model, v);
    if (st == NS_OK)
        st = ns_job_finish(s, lease, NS_JOB_SUCCEEDED, result, NULL);
    st = end(s, st);
    if (st == NS_OK && version != NULL)
        *version = v;
    return st;
}
