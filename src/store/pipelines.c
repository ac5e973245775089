/* Saved pipelines: a pipeline file's text kept in the store under a name (checked with the
 * built-in cards before it is kept), with its sha256 and when it was made and last changed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "format/json_read.h"
#include "netsmith/pipeline.h"
#include "netsmith/store.h"
#include "store/store_private.h"

#define PIPELINE_NAME_MAX 64
#define PIPELINE_TEXT_MAX (1 << 20)
#define LIST_CMD "GET /api/v1/pipelines"

/* NS_ERR_INVALID unless name is 1 to 64 letters, digits, '-', '_', '.', starting with a letter
 * or digit (the store's rule for every name). */
static ns_status check_name(ns_store *s, const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    bool ok = n >= 1 && n <= PIPELINE_NAME_MAX && isalnum((unsigned char)name[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("-_.", name[i]) != NULL;
    if (ok)
        return NS_OK;
    char shown[NS__JR_SHOW_CAP];
    return ns_errorf(s->ctx, NS_ERR_INVALID,
                     "'%s' is not a valid pipeline name: use 1 to %d letters, digits, '-', '_' or "
                     "'.', starting with a letter or digit",
                     name != NULL ? ns__jr_show(shown, sizeof shown, name) : "", PIPELINE_NAME_MAX);
}

static const char *text_at(const ns__sql_result *r, int row, int col)
{
    const ns__sql_value *v = ns__sql_at(r, row, col);
    return v->type == NS__SQL_TEXT ? v->s : NULL;
}

static double real_at(const ns__sql_result *r, int row, int col)
{
    const ns__sql_value *v = ns__sql_at(r, row, col);
    return v->type == NS__SQL_REAL ? v->r : v->type == NS__SQL_INT ? (double)v->i : 0.0;
}

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
    ns_status st = check_name(s, name);
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
    } else if (st == NS_OK && (text_at(row, 0, 0) == NULL || strcmp(text_at(row, 0, 0), hash))) {
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
    return json_pack("{s:s?, s:s?, s:s?, s:f, s:f}", "name", text_at(r, i, 0), "text",
                     text_at(r, i, 1), "hash", text_at(r, i, 2), "created", real_at(r, i, 3),
                     "updated", real_at(r, i, 4));
}

/* Gives j (consumed) to the caller as text on the store's context. */
static ns_status give(ns_store *s, json_t *j, char **json)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    *json = text != NULL ? ns_strdup(s->ctx, text) : NULL;
    free(text);
    return *json != NULL ? NS_OK : ns_errorf(s->ctx, NS_ERR_NOMEM, "out of memory writing JSON");
}

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
        st = give(s, row_json(row, 0), json);
    ns__sql_result_free(s->ctx, row);
    return st;
}

ns_status ns_store_pipeline_list(ns_store *s, char **json)
{
    *json = NULL;
    ns__sql_result *r = NULL;
    ns_status st =
        ns__store_exec(s, "SELECT name, text, hash, created, updated FROM pipelines ORDER BY name",
                       NULL, 0, &r, NULL);
    json_t *all = json_array();
    for (int i = 0; st == NS_OK && r != NULL && i < r->rows; i++)
        json_array_append_new(all, row_json(r, i));
    ns__sql_result_free(s->ctx, r);
    if (st != NS_OK) {
        json_decref(all);
        return st;
    }
    return give(s, all, json);
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
