/* Saved pipelines: a pipeline file's text kept in the store under a name (checked with the
 * built-in cards before it is kept), with its sha256 and when it was made and last changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/json_read.h"
#include "netsmith/pipeline.h"
#include "netsmith/store.h"
#include "store/store_private.h"

#define PIPELINE_TEXT_MAX (1 << 20)
#define LIST_CMD "GET /api/v1/pipelines"

/* Checks text as a pipeline of the built-in cards (messages naming source): everything
 * ns_pipeline_parse checks but the cards' own checks, which may read the files settings name
 * (relative to wherever the pipeline will run, not to here). */
static ns_status check_text(ns_store *s, const char *text, const char *source)
{
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    ns_status st = ns_cards_new(s->ctx, &cards);
    if (st == NS_OK)
        st = ns_pipeline_parse_unchecked(cards, text, strlen(text), source, NULL, 0, &p);
    ns_pipeline_free(p);
    ns_cards_free(cards);
    return st;
}

ns_status ns_store_pipeline_save(ns_store *s, const char *name, const char *text,
                                 const char *source)
{
    ns_status st = ns__store_check_name(s, "pipeline", name);
    if (st != NS_OK)
        return st;
    if (text == NULL || text[0] == '\0')
        return ns_errorf(s->ctx, NS_ERR_INVALID, "pipeline '%s': the text is empty", name);
    if (strlen(text) > PIPELINE_TEXT_MAX)
        return ns_errorf(s->ctx, NS_ERR_INVALID, "pipeline '%s': the text is longer than %d bytes",
                         name, PIPELINE_TEXT_MAX);
    st = check_text(s, text, source != NULL ? source : name);
    if (st != NS_OK)
        return st;
    char hash[65];
    ns__sha256_hex(text, strlen(text), hash);
    ns__sql_value a[] = {NS__SQL_T(name)};
    ns__sql_result *row = NULL;
    st = ns__store_begin(s);
    if (st == NS_OK)
        st = ns__store_query_row(s, "SELECT hash FROM pipelines WHERE name = ?", a, 1, &row);
    if (st == NS_OK && row == NULL) {
        ns__sql_value b[] = {NS__SQL_T(name), NS__SQL_T(text), NS__SQL_T(hash)};
        st = ns__store_exec(s,
                            "INSERT INTO pipelines (name, text, hash, created, updated) VALUES (?, "
                            "?, ?, {now}, {now})",
                            b, 3, NULL, NULL);
    } else if (st == NS_OK && (ns__store_text_at(row, 0, 0) == NULL ||
                               strcmp(ns__store_text_at(row, 0, 0), hash))) {
        ns__sql_value b[] = {NS__SQL_T(text), NS__SQL_T(hash), NS__SQL_T(name)};
        st = ns__store_exec(
            s, "UPDATE pipelines SET text = ?, hash = ?, updated = {now} WHERE name = ?", b, 3,
            NULL, NULL);
    }
    ns__sql_result_free(s->ctx, row);
    return ns__store_end(s, st);
}

/* {"name", "text", "hash", "created", "updated"} of a row (name, text, hash, created, updated). */
static json_t *row_json(const ns__sql_result *r, int i)
{
    return json_pack("{s:s?, s:s?, s:s?, s:f, s:f}", "name", ns__store_text_at(r, i, 0), "text",
                     ns__store_text_at(r, i, 1), "hash", ns__store_text_at(r, i, 2), "created",
                     ns__store_real_at(r, i, 3), "updated", ns__store_real_at(r, i, 4));
}

/* Gives j (consumed) to the caller as text on the store's context. */
ns_status ns_store_pipeline_get(ns_store *s, const char *name, char **json)
{
    *json = NULL;
    int64_t id = 0;
    ns_status st = ns__store_id_of(s, "pipelines", "pipeline", name, LIST_CMD, &id);
    if (st != NS_OK)
        return st;
    ns__sql_value a[] = {NS__SQL_I(id)};
    ns__sql_result *row = NULL;
    st = ns__store_query_row(
        s, "SELECT name, text, hash, created, updated FROM pipelines WHERE id = ?", a, 1, &row);
    if (st == NS_OK && row == NULL) /* deleted in between */
        st = ns__store_id_of(s, "pipelines", "pipeline", name, LIST_CMD, &id);
    if (st == NS_OK)
        st = ns__store_give_json(s, row_json(row, 0), json);
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_store_pipeline_list(ns_store *s, char **json)
{
    return ns__store_list_rows(
        s, "SELECT name, text, hash, created, updated FROM pipelines ORDER BY name", row_json,
        json);
}

ns_status ns_store_pipeline_delete(ns_store *s, const char *name)
{
    int64_t id = 0;
    ns_status st = ns__store_begin(s);
    if (st == NS_OK)
        st = ns__store_id_of(s, "pipelines", "pipeline", name, LIST_CMD, &id);
    if (st == NS_OK) {
        ns__sql_value a[] = {NS__SQL_I(id)};
        st = ns__store_exec(s, "DELETE FROM pipelines WHERE id = ?", a, 1, NULL, NULL);
    }
    return ns__store_end(s, st);
}
