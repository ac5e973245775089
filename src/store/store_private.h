/* The store's struct and what its files share (never installed; the store's files alone). */
#ifndef NETSMITH_STORE_PRIVATE_H
#define NETSMITH_STORE_PRIVATE_H

#include "netsmith/store.h"
#include "store/sql.h"

#include <jansson.h>

struct ns_store {
    ns_ctx *ctx;
    const ns__sql_backend *backend;
    ns__sql_conn *conn;
    char *url;
    int schema;          /* the schema version in use */
    int tx_depth;        /* open ns__store_begin calls: only the outermost begins and commits */
    int64_t events_keep; /* how many events the log keeps */
};

/* Runs sql with the dialect's words put in ({now}, {id}, {blob}, {real}, {skip_locked});
 * otherwise the backend's exec. */
ns_status ns__store_exec(ns_store *s, const char *sql, const ns__sql_value *args, int n,
                         ns__sql_result **result, int64_t *changes);
/* Starts a transaction, or joins the one already open (the outermost commits). */
ns_status ns__store_begin(ns_store *s);
/* Ends what ns__store_begin started: the outermost commits when st is NS_OK, else rolls back;
 * an inner one only passes st on. Returns the first failure. */
ns_status ns__store_end(ns_store *s, ns_status st);
/* Runs a statement that returns at most one row; *row gets it or NULL. */
ns_status ns__store_query_row(ns_store *s, const char *sql, const ns__sql_value *args, int n,
                              ns__sql_result **row);
/* Adds an event of type about job (0: none) with data (a JSON object, consumed; NULL: {}) to
 * the log, in the transaction open (events.c). */
ns_status ns__store_event(ns_store *s, int64_t job, const char *type, json_t *data);

/* NS_ERR_INVALID unless name (of a what: "architecture") is 1 to 64 letters, digits, '-', '_'
 * or '.', starting with a letter or digit: the rule of every name in the store. */
ns_status ns__store_check_name(ns_store *s, const char *what, const char *name);
/* A result's text at (row, col), or NULL when it is not text; a number there as a double (0
 * when it is neither). */
const char *ns__store_text_at(const ns__sql_result *r, int row, int col);
double ns__store_real_at(const ns__sql_result *r, int row, int col);
/* Gives j (consumed) to the caller as text in *json, on the store's context. */
ns_status ns__store_give_json(ns_store *s, json_t *j, char **json);
/* One row of a result as a JSON object. */
typedef json_t *(*ns__row_json_fn)(const ns__sql_result *r, int i);
/* Every row sql selects, each as row_json makes it, as a JSON array in *json. */
ns_status ns__store_list_rows(ns_store *s, const char *sql, ns__row_json_fn row_json, char **json);

/* NS_ERR_STATE: the lease of job `lease` is not this one's any more. */
ns_status ns__store_lost(ns_store *s, const ns_lease *lease);

/* The id of table's row called name ("models", "model", NAME, "netsmith model list"); an
 * NS_ERR_NOTFOUND naming it, with a did-you-mean and the command that lists them, otherwise. */
ns_status ns__store_id_of(ns_store *s, const char *table, const char *what, const char *name,
                          const char *list_cmd, int64_t *id);
/* The sha256 of data[n] as 64 hex digits (sha: 65 bytes). */
void ns__sha256_hex(const void *data, size_t n, char sha[65]);
/* Inserts a queued job of kind with params (JSON, already checked), named name (NULL: no name;
 * names are unique), for device (NULL: "cpu"); *id its number. */
ns_status ns__job_insert(ns_store *s, const char *name, ns_job_kind kind, const char *params,
                         int priority, const char *device, int64_t *id);
/* The job named name, or *id 0 when there is none. */
ns_status ns__job_named(ns_store *s, const char *name, int64_t *id);
/* Submits a job as ns_job_submit does, named name (NULL: none). */
ns_status ns__job_submit_named(ns_store *s, const char *name, ns_job_kind kind,
                               const char *params_json, int priority, int64_t *id);
/* Checks that the safetensors file at path holds the weights of architecture arch (spec_json
 * its canonical spec): every tensor's name and shape (jobs.c). Errors: NS_ERR_FORMAT or
 * NS_ERR_SHAPE naming the tensor; NS_ERR_IO. */
ns_status ns__check_weights(ns_ctx *ctx, const char *spec_json, const char *arch, const char *path);

/* Adds a version of model holding from's weights and record, fine-tuned from nothing but
 * sourced from it (its parent). */
ns_status ns__store_version_copy(ns_store *s, const char *model, const ns_store_version *from);

/* Adds version (max + 1) of model model_id (in the transaction open): weights and record
 * blobs' sha256 (record may be NULL or ""), the job that made it and the parent version (0:
 * none); *version its number, *id its row. */
ns_status ns__store_insert_version(ns_store *s, int64_t model_id, const char *weights,
                                   const char *record, int64_t job, int64_t parent,
                                   const char *metrics, int *version, int64_t *id);

#endif
