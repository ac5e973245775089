/* Reading the store's event log (written by store.c's ns__store_event in the transaction of
 * each change it tells), and a running job's own events. */
#include <stdlib.h>
#include <string.h>

#include "store/store_private.h"

ns_status ns_store_events(ns_store *s, int64_t after, int64_t job, int limit, char **json,
                          int64_t *first)
{
    NS_ASSERT(s != NULL && json != NULL);
    *json = NULL;
    if (first != NULL)
        *first = 0;
    if (limit <= 0 || limit > 100000)
        limit = 100000;
    ns__sql_value a[] = {NS__SQL_I(after), NS__SQL_I(job), NS__SQL_I(limit)};
    ns__sql_result *r = NULL;
    ns_status st = ns__store_exec(s,
                                  job > 0 ? "SELECT id, job_id, type, data, created FROM events "
                                            "WHERE id > ? AND job_id = ? ORDER BY id LIMIT ?"
                                          : "SELECT id, job_id, type, data, created FROM events "
                                            "WHERE id > ? AND ? = 0 ORDER BY id LIMIT ?",
                                  a, 3, &r, NULL);
    json_t *list = json_array();
    for (int i = 0; st == NS_OK && list != NULL && r != NULL && i < r->rows; i++) {
        const ns__sql_value *job_id = ns__sql_at(r, i, 1);
        json_error_t e;
        json_t *data = json_loads(ns__sql_at(r, i, 3)->s, 0, &e);
        json_t *ev =
            json_pack("{s:I, s:o, s:s, s:o, s:f}", "id", (json_int_t)ns__sql_at(r, i, 0)->i, "job",
                      job_id->type == NS__SQL_INT ? json_integer(job_id->i) : json_null(), "type",
                      ns__sql_at(r, i, 2)->s, "data", data != NULL ? data : json_object(), "time",
                      ns__sql_at(r, i, 4)->r);
        if (ev == NULL || json_array_append_new(list, ev) != 0)
            st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory reading the event log");
    }
    ns__sql_result_free(s->ctx, r);
    r = NULL;
    if (st == NS_OK && first != NULL)
        st = ns__store_query_row(s, "SELECT MIN(id) FROM events", NULL, 0, &r);
    if (st == NS_OK && first != NULL && r != NULL && ns__sql_at(r, 0, 0)->type == NS__SQL_INT)
        *first = ns__sql_at(r, 0, 0)->i;
    ns__sql_result_free(s->ctx, r);
    char *text = st == NS_OK && list != NULL ? json_dumps(list, JSON_REAL_PRECISION(17)) : NULL;
    json_decref(list);
    if (st == NS_OK && text == NULL)
        st = ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory writing the event log");
    if (st == NS_OK && (*json = ns_strdup(s->ctx, text)) == NULL)
        st = NS_ERR_NOMEM;
    free(text);
    return st;
}

ns_status ns_store_event_last(ns_store *s, int64_t *id)
{
    *id = 0;
    ns__sql_result *r = NULL;
    ns_status st = ns__store_query_row(s, "SELECT MAX(id) FROM events", NULL, 0, &r);
    if (st == NS_OK && r != NULL && ns__sql_at(r, 0, 0)->type == NS__SQL_INT)
        *id = ns__sql_at(r, 0, 0)->i;
    ns__sql_result_free(s->ctx, r);
    return st;
}

ns_status ns_job_event(ns_store *s, const ns_lease *lease, const char *type, const char *data_json)
{
    json_error_t e;
    json_t *data = data_json != NULL ? json_loads(data_json, 0, &e) : json_object();
    if (!json_is_object(data)) {
        json_decref(data);
        return ns_errorf(s->ctx, NS_ERR_INVALID, "job %lld: an event's data must be a JSON object",
                         (long long)lease->job);
    }
    ns_status st = ns__store_begin(s);
    ns__sql_value q[] = {NS__SQL_I(lease->job), NS__SQL_I(lease->token)};
    ns__sql_result *row = NULL;
    if (st == NS_OK)
        st = ns__store_query_row(
            s, "SELECT id FROM jobs WHERE id = ? AND lease_token = ? AND state = 'running'", q, 2,
            &row);
    if (st == NS_OK && row == NULL)
        st = ns__store_lost(s, lease);
    ns__sql_result_free(s->ctx, row);
    if (st == NS_OK) {
        st = ns__store_event(s, lease->job, type, data);
        data = NULL;
    }
    json_decref(data);
    return ns__store_end(s, st);
}
