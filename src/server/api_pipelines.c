/* Pipeline routes: the card palette, checking a pipeline (with its problems by line and card),
 * saved pipelines, running one as a job, and the card outputs of a finished pipeline job.
 *
 * A pipeline that comes through the API reads and writes files only under the server's
 * --data-dir roots: every card setting that names a file must be a relative path that
 * resolves under a root (no "..", no percent-encoded dots or slashes, no absolute path, no
 * symbolic link on the way: ns__req_path), and the job runs with the resolved absolute paths
 * (passed as its "set" overrides). Without a data dir no file setting is taken; built-in
 * datasets and the store's datasets and models still work. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netsmith/pipeline.h"
#include "netsmith/store.h"
#include "server/server_private.h"

#define MAX_SETS 64 /* the overrides a pipeline job takes (the worker's limit) */
#define PREVIEW_ROWS 5

/* ---- shared -------------------------------------------------------------------------- */

/* JSON text (ns_dealloc'd on ctx) as a json_t, or NULL. */
static json_t *take_json(ns_ctx *ctx, char *text)
{
    json_error_t e;
    json_t *j = text != NULL ? json_loads(text, JSON_DECODE_ANY, &e) : NULL;
    ns_dealloc(ctx, text);
    return j;
}

/* ---- the files a pipeline names ------------------------------------------------------- */

/* The settings of the built-in cards that name a file, and whether the card reads it (the
 * file must exist) or writes it. */
typedef struct file_setting {
    const char *card, *setting;
    bool writes;
} file_setting;

static const file_setting file_settings[] = {
    {"data_load", "path", false},    /* a CSV, IDX images or saved dataset */
    {"data_load", "labels", false},  /* an IDX labels file */
    {"model_define", "file", false}, /* a JSON spec file */
    {"load_model", "path", false},   /* a model file */
    {"save_model", "path", true},    /* the model file written */
    {"inference", "path", true},     /* the predictions' CSV written */
};

/* Setting names that name files on any card (a card added later, a plugin's): refused from
 * the API unless the table above knows the card's setting. */
static const char *const file_like[] = {"path",   "file",   "labels",    "dir",
                                        "output", "input",  "directory", "checkpoint_dir",
                                        "log",    "plugin", "filename"};

static const file_setting *find_file_setting(const char *card, const char *setting)
{
    for (size_t i = 0; i < sizeof file_settings / sizeof file_settings[0]; i++)
        if (!strcmp(file_settings[i].card, card) && !strcmp(file_settings[i].setting, setting))
            return &file_settings[i];
    return NULL;
}

static bool is_file_like(const char *setting)
{
    for (size_t i = 0; i < sizeof file_like / sizeof file_like[0]; i++)
        if (!strcmp(file_like[i], setting))
            return true;
    size_t n = strlen(setting);
    return (n > 5 && !strcmp(setting + n - 5, "_path")) ||
           (n > 5 && !strcmp(setting + n - 5, "_file")) ||
           (n > 4 && !strcmp(setting + n - 4, "_dir"));
}

/* A percent-encoded dot, slash or backslash written into the text ("%2e%2e/"): a path the
 * server does not decode, refused so that nothing later decodes it into a climb out. */
static bool has_encoded(const char *s)
{
    for (const char *p = strchr(s, '%'); p != NULL; p = strchr(p + 1, '%'))
        if (isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            int c = (int)strtol((char[]){p[1], p[2], '\0'}, NULL, 16);
            if (c == '.' || c == '/' || c == '\\' || c == '%' || c < 0x20)
                return true;
        }
    return false;
}

/* Checks every file a checked pipeline names and appends to sets the overrides that give the
 * job each file's absolute path under a data dir ("ID.KEY=\"/abs\""). false after answering
 * (403 for a path outside the data dirs or a server without them, 404 for a file to read that
 * is not there, 400 otherwise). */
static bool confine(ns__req *rq, ns_pipeline *p, json_t *sets)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    char *text = NULL;
    ns_status st = ns_pipeline_cards_json(p, &text);
    if (st != NS_OK) {
        ns_dealloc(ctx, text);
        ns__reply_status(rq, ctx, st, "pipeline");
        return false;
    }
    json_t *cards = take_json(ctx, text);
    bool ok = cards != NULL;
    if (!ok)
        ns__reply_error(rq, 500, NULL, "out of memory reading the pipeline's cards");
    size_t i;
    json_t *c;
    json_array_foreach(cards, i, c)
    {
        if (!ok)
            break;
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *card = json_string_value(json_object_get(c, "card"));
        json_t *settings = json_object_get(c, "settings"), *keys = json_object_get(c, "keys");
        const char *exec = json_string_value(json_object_get(settings, "execution"));
        bool remote = exec != NULL && !strcmp(exec, "remote");
        const char *name;
        json_t *v;
        json_object_foreach(settings, name, v)
        {
            const file_setting *fs = find_file_setting(card, name);
            if (json_is_null(v) || (fs == NULL && !is_file_like(name)))
                continue;
            char what[160];
            snprintf(what, sizeof what, "%s.%s", id, name);
            const char *path = json_string_value(v);
            if (fs == NULL) {
                ns__reply_error(rq, 403, what,
                                "card '%s' (%s): setting '%s' may name a file, which a pipeline "
                                "from the API cannot set on this card",
                                id, card, name);
                ok = false;
            } else if (remote) {
                ns__reply_error(rq, 403, what,
                                "card '%s' (%s): setting '%s' names a file, which a card with "
                                "execution: remote cannot read or write from the API (it runs on "
                                "another worker); run it locally",
                                id, card, name);
                ok = false;
            } else if (path == NULL) {
                ns__reply_error(rq, 400, what, "card '%s' (%s): setting '%s' must be a path", id,
                                card, name);
                ok = false;
            } else if (has_encoded(path)) {
                ns__reply_error(rq, 403, what,
                                "card '%s' (%s): setting '%s': '%.80s' holds a percent-encoded "
                                "'.', '/' or '\\', which a path is not decoded from; give a plain "
                                "path inside a data dir",
                                id, card, name, path);
                ok = false;
            } else if (strchr(path, '\\') != NULL) {
                ns__reply_error(rq, 403, what,
                                "card '%s' (%s): setting '%s': '%.80s' holds a backslash; give a "
                                "path with '/' inside a data dir",
                                id, card, name, path);
                ok = false;
            }
            char abs[PATH_MAX];
            if (ok) {
                char label[200];
                snprintf(label, sizeof label, "card '%s' (%s) setting '%s'", id, card, name);
                ok = ns__req_path(rq, label, path, !fs->writes, abs, sizeof abs);
                if (!ok && rq->answer != NULL) {
                    /* the error's path: the setting as --set names it */
                    json_error_t e;
                    json_t *j = json_loadb(rq->answer, rq->answer_len, 0, &e);
                    json_t *err = json_object_get(j, "error");
                    if (err != NULL) {
                        json_object_set_new(err, "path", json_string(what));
                        ns__reply_json(rq, rq->status, json_incref(j));
                    }
                    json_decref(j);
                }
            }
            if (!ok)
                break;
            const char *key = json_string_value(json_object_get(keys, name));
            json_t *quoted = json_string(abs);
            char *q = quoted != NULL ? json_dumps(quoted, JSON_ENCODE_ANY) : NULL;
            json_decref(quoted);
            size_t n = strlen(id) + strlen(key != NULL ? key : name) + (q ? strlen(q) : 0) + 4;
            char *ov = q != NULL ? malloc(n) : NULL;
            if (ov != NULL) {
                snprintf(ov, n, "%s.%s=%s", id, key != NULL ? key : name, q);
                json_array_append_new(sets, json_string(ov));
            } else {
                ns__reply_error(rq, 500, NULL, "out of memory");
                ok = false;
            }
            free(ov);
            free(q);
            if (!ok)
                break;
        }
    }
    json_decref(cards);
    return ok;
}

/* ---- checking ------------------------------------------------------------------------- */

/* The problem a ns_pipeline_parse message tells: "SOURCE:LINE[:COLUMN]: CARD 'ID' msg",
 * "SOURCE:LINE: card 'ID': msg", or "SOURCE:LINE: msg" (a --set message has no line). */
static json_t *problem_of(const ns_cards *cards, const char *msg, const char *source)
{
    json_t *pr = json_object();
    const char *rest = msg;
    size_t sl = strlen(source);
    long line = 0, column = 0;
    if (strncmp(msg, source, sl) == 0 && msg[sl] == ':' && isdigit((unsigned char)msg[sl + 1])) {
        char *end;
        line = strtol(msg + sl + 1, &end, 10);
        if (*end == ':' && isdigit((unsigned char)end[1]))
            column = strtol(end + 1, &end, 10);
        rest = end;
        if (*rest == ':')
            rest++;
        while (*rest == ' ')
            rest++;
    }
    json_object_set_new(pr, "line", line > 0 ? json_integer(line) : json_null());
    if (column > 0)
        json_object_set_new(pr, "column", json_integer(column));
    /* the card: "card 'ID': " or "CARDNAME 'ID' " */
    json_t *card = json_null(), *type = json_null();
    const char *sp = strchr(rest, ' ');
    if (sp != NULL && sp[1] == '\'') {
        const char *q = strchr(sp + 2, '\'');
        char word[64];
        size_t wl = (size_t)(sp - rest);
        if (q != NULL && wl < sizeof word && (size_t)(q - sp - 2) < 64) {
            memcpy(word, rest, wl);
            word[wl] = '\0';
            bool is_card = !strcmp(word, "card");
            if (is_card || ns_cards_find(cards, word) != NULL) {
                json_decref(card);
                card = json_stringn(sp + 2, (size_t)(q - sp - 2));
                if (!is_card) {
                    json_decref(type);
                    type = json_string(word);
                }
                rest = q + 1;
                if (*rest == ':')
                    rest++;
                while (*rest == ' ')
                    rest++;
            }
        }
    }
    json_object_set_new(pr, "card", card);
    json_object_set_new(pr, "card_type", type);
    json_object_set_new(pr, "message", json_string(rest));
    return pr;
}

/* Parses text (source names it in messages) with the built-in cards and the overrides sets
 * (a JSON array of strings, or NULL): *cards and *p on success; false after answering 400 with
 * the library's message as the error and its problems by line and card. */
static bool parse_pipeline(ns__req *rq, const char *text, const char *source, json_t *sets,
                           bool card_checks, ns_cards **cards, ns_pipeline **p)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    *cards = NULL;
    *p = NULL;
    const char *over[MAX_SETS];
    int n = 0;
    size_t i;
    json_t *s;
    json_array_foreach(sets, i, s)
    {
        if (n == MAX_SETS) {
            ns__reply_error(rq, 400, "set", "set: at most %d overrides (with the data dirs' paths)",
                            MAX_SETS);
            return false;
        }
        over[n++] = json_string_value(s);
    }
    ns_status st = ns_cards_new(ctx, cards);
    if (st != NS_OK) {
        ns__reply_status(rq, ctx, st, NULL);
        return false;
    }
    st = card_checks ? ns_pipeline_parse(*cards, text, strlen(text), source, over, n, p)
                     : ns_pipeline_parse_unchecked(*cards, text, strlen(text), source, over, n, p);
    if (st == NS_OK)
        return true;
    const char *msg = ns_errmsg(ctx);
    int status = st == NS_ERR_NOMEM ? 500 : 400;
    json_t *problems = json_array();
    json_array_append_new(problems, problem_of(*cards, msg, source));
    ns__reply_problems(rq, status, "pipeline", msg, problems);
    ns_cards_free(*cards);
    *cards = NULL;
    return false;
}

/* Checks text as a job would run it, its files first: parsed without the cards' own checks
 * (which may read files), its files confined to the data dirs (their absolute paths appended
 * to sets), then parsed again with every check and override. *cards and *p (checked) on
 * success; false after answering. */
static bool prepare(ns__req *rq, const char *text, const char *source, json_t *sets,
                    ns_cards **cards, ns_pipeline **p)
{
    bool ok = parse_pipeline(rq, text, source, sets, false, cards, p) && confine(rq, *p, sets);
    ns_pipeline_free(*p);
    ns_cards_free(*cards);
    *p = NULL;
    *cards = NULL;
    return ok && parse_pipeline(rq, text, source, sets, true, cards, p);
}

/* The name a pipeline's messages give it: a source's last component (a source's directory
 * would be where relative paths are read from). */
static const char *source_name(const char *source)
{
    const char *slash = source != NULL ? strrchr(source, '/') : NULL;
    return source == NULL || source[0] == '\0' ? "pipeline" : slash != NULL ? slash + 1 : source;
}

/* A "set" member: an array of "CARD.SETTING=VALUE" strings (a copy), an empty one when
 * missing; NULL after answering 400. */
static json_t *sets_of(ns__req *rq, json_t *body)
{
    json_t *set = json_object_get(body, "set");
    if (set == NULL || json_is_null(set))
        return json_array();
    bool ok = json_is_array(set) && json_array_size(set) <= MAX_SETS;
    size_t i;
    json_t *s;
    json_array_foreach(set, i, s) ok = ok && json_is_string(s) && strchr(json_string_value(s), '=');
    if (!ok) {
        ns__reply_error(rq, 400, "set",
                        "'set' must be a list of at most %d \"card.setting=value\" strings "
                        "(e.g. [\"train.epochs=5\"])",
                        MAX_SETS);
        return NULL;
    }
    return json_deep_copy(set);
}

/* GET /api/v1/cards */
static void list_cards(ns__req *rq)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_cards *cards = NULL;
    char *json = NULL;
    ns_status st = ns_cards_new(ctx, &cards);
    if (st == NS_OK)
        st = ns_cards_to_json(cards, &json);
    ns_cards_free(cards);
    ns__reply_store_json(rq, st, 200, json, NULL);
}

/* POST /api/v1/pipelines/check {"pipeline": TEXT, "source": NAME?, "set": [...]?} */
static void check_pipeline(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"pipeline", "source", "set"};
    const char *text = NULL, *source = NULL;
    json_t *sets = NULL;
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    if (ns__req_keys(rq, body, known, 3) &&
        (text = ns__req_string(rq, body, "pipeline", false)) != NULL &&
        (json_object_get(body, "source") == NULL ||
         (source = ns__req_string(rq, body, "source", false)) != NULL) &&
        (sets = sets_of(rq, body)) != NULL &&
        prepare(rq, text, source_name(source), sets, &cards, &p)) {
        json_t *order = json_array();
        for (int i = 0; i < ns_pipeline_card_count(p); i++)
            json_array_append_new(order, json_string(ns_pipeline_card_id(p, i)));
        ns__reply_json(
            rq, 200,
            json_pack("{s:b, s:s, s:o}", "ok", 1, "name", ns_pipeline_name(p), "cards", order));
    }
    ns_pipeline_free(p);
    ns_cards_free(cards);
    json_decref(sets);
    json_decref(body);
}

/* ---- jobs ----------------------------------------------------------------------------- */

/* Submits text as a pipeline job with the overrides user_sets (checked, then the data dirs'
 * paths added): 201 with the job, or the error. */
static void submit(ns__req *rq, const char *text, const char *source, json_t *user_sets,
                   int priority)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    json_t *sets = json_deep_copy(user_sets);
    source = source_name(source);
    bool ok = prepare(rq, text, source, sets, &cards, &p);
    ns_pipeline_free(p);
    ns_cards_free(cards);
    ns_store *store = ok ? ns__req_store(rq) : NULL;
    if (store == NULL) {
        json_decref(sets);
        return;
    }
    json_t *params = json_pack("{s:s, s:s, s:O}", "pipeline", text, "source", source, "set", sets);
    char *ptext = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    json_decref(sets);
    int64_t id = 0;
    ns_status st = ptext != NULL ? ns_job_submit(store, NS_JOB_PIPELINE, ptext, priority, &id)
                                 : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    free(ptext);
    ns_job job;
    memset(&job, 0, sizeof job);
    char *json = NULL;
    if (st == NS_OK)
        st = ns_job_get(store, id, &job);
    if (st == NS_OK)
        st = ns_job_to_json(ctx, &job, &json);
    ns_job_clear(&job);
    if (st == NS_OK)
        snprintf(rq->location, sizeof rq->location, "/api/v1/jobs/%lld", (long long)id);
    ns__reply_store_json(rq, st, 201, json, "pipeline");
}

void ns__submit_pipeline_job(ns__req *rq, json_t *body)
{
    static const char *const known[] = {"kind", "pipeline", "name", "source", "set", "priority"};
    if (!ns__req_keys(rq, body, known, 6))
        return;
    json_t *text = json_object_get(body, "pipeline"), *name = json_object_get(body, "name");
    json_t *prio = json_object_get(body, "priority");
    if ((text == NULL) == (name == NULL) || (text != NULL && !json_is_string(text)) ||
        (name != NULL && !json_is_string(name))) {
        ns__reply_error(rq, 400, text != NULL ? "pipeline" : "name",
                        "a pipeline job needs exactly one of 'pipeline' (a pipeline file's text) "
                        "and 'name' (a saved pipeline), as a string");
        return;
    }
    if (prio != NULL && !json_is_null(prio) &&
        (!json_is_integer(prio) || json_integer_value(prio) < -1000000 ||
         json_integer_value(prio) > 1000000)) {
        ns__reply_error(rq, 400, "priority",
                        "'priority' must be a whole number (higher runs "
                        "first)");
        return;
    }
    const char *source = NULL;
    if (json_object_get(body, "source") != NULL &&
        (source = ns__req_string(rq, body, "source", true)) == NULL)
        return;
    int priority = json_is_integer(prio) ? (int)json_integer_value(prio) : 0;
    json_t *sets = sets_of(rq, body);
    if (sets == NULL)
        return;
    if (text != NULL) {
        submit(rq, json_string_value(text), source != NULL ? source : "pipeline", sets, priority);
        json_decref(sets);
        return;
    }
    ns_store *store = ns__req_store(rq);
    ns_ctx *ctx = ns__req_ctx(rq);
    char *json = NULL;
    ns_status st =
        store != NULL ? ns_store_pipeline_get(store, json_string_value(name), &json) : NS_OK;
    if (store == NULL) {
        json_decref(sets);
        return;
    }
    if (st != NS_OK) {
        ns_dealloc(ctx, json);
        ns__reply_status(rq, ctx, st, NULL);
        json_decref(sets);
        return;
    }
    json_t *saved = take_json(ctx, json);
    const char *saved_text = json_string_value(json_object_get(saved, "text"));
    if (saved_text == NULL)
        ns__reply_error(rq, 500, NULL, "out of memory reading the pipeline");
    else
        submit(rq, saved_text, source != NULL ? source : json_string_value(name), sets, priority);
    json_decref(saved);
    json_decref(sets);
}

/* POST /api/v1/pipelines/{name}/run {"set": [...], "priority": N} */
static void run_saved(ns__req *rq)
{
    json_t *body = rq->body != NULL && rq->body_len > 0 ? ns__req_json(rq) : json_object();
    if (body == NULL)
        return;
    static const char *const known[] = {"set", "priority"};
    if (ns__req_keys(rq, body, known, 2)) {
        json_object_set_new(body, "kind", json_string("pipeline"));
        json_object_set_new(body, "name", json_string(ns__req_param(rq, 0)));
        ns__submit_pipeline_job(rq, body);
    }
    json_decref(body);
}

/* ---- saved pipelines ---------------------------------------------------------------------- */

/* GET /api/v1/pipelines */
static void list_pipelines(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    ns_ctx *ctx = ns__req_ctx(rq);
    char *json = NULL;
    ns_status st = ns_store_pipeline_list(store, &json);
    if (st != NS_OK) {
        ns_dealloc(ctx, json);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    ns__reply_list(rq, take_json(ctx, json));
}

/* GET /api/v1/pipelines/{name} */
static void get_pipeline(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_pipeline_get(store, ns__req_param(rq, 0), &json);
    ns__reply_store_json(rq, st, 200, json, NULL);
}

/* Saves text as pipeline name after the checks (its files under the data dirs), creating it
 * (POST: 201, 409 when the name holds another text) or replacing it (PUT: 200, 404 when
 * missing). */
static void save(ns__req *rq, const char *name, const char *text, bool create)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    ns_cards *cards = NULL;
    ns_pipeline *p = NULL;
    json_t *sets = json_array();
    bool ok = prepare(rq, text, name, sets, &cards, &p);
    ns_pipeline_free(p);
    ns_cards_free(cards);
    json_decref(sets);
    ns_store *store = ok ? ns__req_store(rq) : NULL;
    if (store == NULL)
        return;
    char *json = NULL;
    ns_status st = ns_store_pipeline_get(store, name, &json);
    if (st == NS_OK) {
        json_t *had = take_json(ctx, json);
        const char *old = json_string_value(json_object_get(had, "text"));
        bool other = old == NULL || strcmp(old, text) != 0;
        json_decref(had);
        if (create && other) {
            ns__reply_error(rq, 409, "name",
                            "pipeline '%s' is already in the store with another text; change it "
                            "with PUT /api/v1/pipelines/%s, or give the new one another name",
                            name, name);
            return;
        }
    } else if (st != NS_ERR_NOTFOUND || !create) {
        ns_dealloc(ctx, json);
        ns__reply_status(rq, ctx, st, NULL);
        return;
    }
    json = NULL;
    st = ns_store_pipeline_save(store, name, text, name);
    if (st == NS_OK)
        st = ns_store_pipeline_get(store, name, &json);
    if (st == NS_OK && create)
        snprintf(rq->location, sizeof rq->location, "/api/v1/pipelines/%s", name);
    ns__reply_store_json(rq, st, create ? 201 : 200, json,
                         st == NS_ERR_INVALID ? "pipeline" : NULL);
}

/* POST /api/v1/pipelines {"name", "pipeline"} */
static void add_pipeline(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"name", "pipeline"};
    const char *name = NULL, *text = NULL;
    if (ns__req_keys(rq, body, known, 2) &&
        (name = ns__req_string(rq, body, "name", false)) != NULL &&
        (text = ns__req_string(rq, body, "pipeline", false)) != NULL)
        save(rq, name, text, true);
    json_decref(body);
}

/* PUT /api/v1/pipelines/{name} {"pipeline"} */
static void put_pipeline(ns__req *rq)
{
    json_t *body = ns__req_json(rq);
    if (body == NULL)
        return;
    static const char *const known[] = {"pipeline"};
    const char *text = NULL;
    if (ns__req_keys(rq, body, known, 1) &&
        (text = ns__req_string(rq, body, "pipeline", false)) != NULL)
        save(rq, ns__req_param(rq, 0), text, false);
    json_decref(body);
}

/* DELETE /api/v1/pipelines/{name} */
static void delete_pipeline(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    if (store == NULL)
        return;
    ns_status st = ns_store_pipeline_delete(store, ns__req_param(rq, 0));
    if (st != NS_OK)
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
    else
        ns__reply_bytes(rq, 204, "application/json", "", 0);
}

/* ---- a finished job's card outputs ---------------------------------------------------------- */

/* The outputs of pipeline job {id} ({"CARD/FILE": sha256}, the caller's), or NULL after
 * answering (400 for a bad id or a job of another kind, 404, 409 for a job not succeeded). */
static json_t *job_outputs(ns__req *rq, ns_store *store)
{
    const char *ids = ns__req_param(rq, 0);
    char *end;
    long long id = strtoll(ids, &end, 10);
    if (end == ids || *end != '\0' || id < 1) {
        ns__reply_error(rq, 400, "id", "a job id is a whole number from 1, got '%.40s'", ids);
        return NULL;
    }
    ns_job job;
    memset(&job, 0, sizeof job);
    ns_status st = ns_job_get(store, id, &job);
    if (st != NS_OK) {
        ns__reply_status(rq, ns__req_ctx(rq), st, NULL);
        return NULL;
    }
    json_t *outputs = NULL;
    if (job.kind != NS_JOB_PIPELINE) {
        ns__reply_error(rq, 400, "id", "job %lld is a %s job; only pipeline jobs have card outputs",
                        id, ns_job_kind_name(job.kind));
    } else if (job.state != NS_JOB_SUCCEEDED) {
        ns__reply_error(rq, 409, "id",
                        "job %lld is %s; its card outputs are there once it has succeeded", id,
                        ns_job_state_name(job.state));
    } else {
        json_error_t e;
        json_t *result = job.result != NULL ? json_loads(job.result, 0, &e) : NULL;
        outputs = json_incref(json_object_get(result, "outputs"));
        json_decref(result);
        if (!json_is_object(outputs)) {
            json_decref(outputs);
            outputs = NULL;
            ns__reply_error(rq, 500, NULL, "job %lld's result holds no outputs", id);
        }
    }
    ns_job_clear(&job);
    return outputs;
}

/* A blob as JSON, or NULL. */
static json_t *blob_json(ns_store *store, const char *sha)
{
    void *data = NULL;
    size_t n = 0;
    if (sha == NULL || ns_store_blob_get(store, sha, &data, &n) != NS_OK)
        return NULL;
    json_error_t e;
    json_t *j = json_loadb(data, n, JSON_DECODE_ANY, &e);
    ns_dealloc(ns_store_ctx(store), data);
    return j;
}

/* {CARD: {FILE: sha}} of the outputs. */
static json_t *by_card(json_t *outputs)
{
    json_t *cards = json_object();
    const char *key;
    json_t *sha;
    json_object_foreach(outputs, key, sha)
    {
        const char *slash = strchr(key, '/');
        if (slash == NULL || slash == key)
            continue;
        char card[256];
        snprintf(card, sizeof card, "%.*s", (int)(slash - key), key);
        json_t *files = json_object_get(cards, card);
        if (files == NULL) {
            files = json_object();
            json_object_set_new(cards, card, files);
        }
        json_object_set(files, slash + 1, sha);
    }
    return cards;
}

/* GET /api/v1/jobs/{id}/outputs */
static void list_outputs(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    json_t *outputs = store != NULL ? job_outputs(rq, store) : NULL;
    if (outputs == NULL)
        return;
    json_t *cards = by_card(outputs), *list = json_array();
    const char *card;
    json_t *files;
    json_object_foreach(cards, card, files)
    {
        json_t *manifest =
            blob_json(store, json_string_value(json_object_get(files, "outputs.json")));
        json_t *ports = json_array();
        const char *port;
        json_t *e;
        json_object_foreach(manifest, port, e)
        {
            json_array_append_new(ports, json_pack("{s:s, s:O?, s:O?}", "port", port, "kind",
                                                   json_object_get(e, "kind"), "file",
                                                   json_object_get(e, "file")));
        }
        json_decref(manifest);
        json_array_append_new(
            list, json_pack("{s:s, s:o, s:O}", "card", card, "outputs", ports, "files", files));
    }
    json_decref(cards);
    json_decref(outputs);
    ns__reply_json(rq, 200,
                   json_pack("{s:I, s:o}", "job",
                             (json_int_t)strtoll(ns__req_param(rq, 0), NULL, 10), "cards", list));
}

/* A temporary directory for a card's files (removed with rm_dir). */
static bool temp_dir(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/netsmith-outputs-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    return mkdtemp(dir) != NULL;
}

static void rm_dir(const char *dir, json_t *files)
{
    const char *file;
    json_t *sha;
    json_object_foreach(files, file, sha)
    {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, file) < (int)sizeof path)
            unlink(path);
    }
    rmdir(dir);
}

static json_t *dataset_summary(const ns_dataset *ds)
{
    int f = ns_dataset_feature_count(ds), t = ns_dataset_target_count(ds);
    int classes = ns_dataset_class_count(ds);
    int64_t rows = ns_dataset_rows(ds);
    json_t *features = json_array(), *targets = json_array(), *class_names = json_array();
    for (int i = 0; i < f && i < 4096; i++) {
        const char *n = ns_dataset_feature_name(ds, i);
        json_array_append_new(features, json_string(n != NULL ? n : ""));
    }
    for (int i = 0; i < t; i++) {
        const char *n = ns_dataset_target_name(ds, i);
        json_array_append_new(targets, json_string(n != NULL ? n : ""));
    }
    for (int i = 0; i < classes; i++) {
        const char *n = ns_dataset_class_name(ds, i);
        json_array_append_new(class_names, json_string(n != NULL ? n : ""));
    }
    int shape[NS_MAX_DIMS - 1];
    int nd = ns_dataset_input_shape(ds, shape);
    json_t *js = json_array();
    for (int i = 0; i < nd; i++)
        json_array_append_new(js, json_integer(shape[i]));
    bool cls = ns_dataset_task(ds) == NS_TASK_CLASSIFICATION;
    json_t *head = json_array();
    float *x = malloc(sizeof(float) * (size_t)(f > 0 ? f : 1));
    float *y = malloc(sizeof(float) * (size_t)(t > 0 ? t : 1));
    int shown = f > 64 ? 64 : f; /* images: the first pixels */
    for (int64_t r = 0; x != NULL && y != NULL && r < rows && r < PREVIEW_ROWS; r++) {
        int32_t label = 0;
        ns_dataset_row(ds, r, x, cls ? NULL : y, cls ? &label : NULL);
        json_t *xs = json_array();
        for (int i = 0; i < shown; i++)
            json_array_append_new(xs, json_real(x[i]));
        json_t *row = json_pack("{s:o}", "x", xs);
        if (cls) {
            json_object_set_new(row, "label", json_integer(label));
            const char *cn = ns_dataset_class_name(ds, label);
            if (cn != NULL && cn[0])
                json_object_set_new(row, "class", json_string(cn));
        } else {
            json_t *ys = json_array();
            for (int i = 0; i < t; i++)
                json_array_append_new(ys, json_real(y[i]));
            json_object_set_new(row, "y", ys);
        }
        json_array_append_new(head, row);
    }
    free(x);
    free(y);
    return json_pack("{s:I, s:i, s:o, s:s, s:i, s:o, s:o, s:o, s:o}", "rows", (json_int_t)rows,
                     "features", f, "input_shape", js, "task", ns_task_name(ns_dataset_task(ds)),
                     "classes", classes, "feature_names", features, "target_names", targets,
                     "class_names", class_names, "head", head);
}

static json_t *model_summary(ns_model *m)
{
    json_t *layers = json_array();
    for (int i = 0; i < ns_model_layer_count(m); i++) {
        ns_layer_shape s;
        if (ns_model_layer_shape(m, i, &s) != NS_OK)
            continue;
        json_t *shape = json_array();
        for (int d = 0; d < s.ndim; d++)
            json_array_append_new(shape, json_integer(s.shape[d]));
        json_array_append_new(layers, json_pack("{s:i, s:s, s:o, s:I}", "index", i, "kind",
                                                ns_layer_kind_name(s.kind), "shape", shape,
                                                "params", (json_int_t)s.params));
    }
    return json_pack("{s:i, s:i, s:I, s:o}", "input_size", ns_model_input_size(m), "output_size",
                     ns_model_output_size(m), "params", (json_int_t)ns_model_param_count(m),
                     "layers", layers);
}

/* One output port's summary: what its file holds, read with the library's readers. */
static json_t *port_summary(ns__req *rq, ns_store *store, const char *dir, const char *port,
                            json_t *entry, json_t *files)
{
    ns_ctx *ctx = ns__req_ctx(rq);
    const char *kind_name = json_string_value(json_object_get(entry, "kind"));
    const char *file = json_string_value(json_object_get(entry, "file"));
    ns_value_kind kind = kind_name != NULL ? ns_value_kind_parse(kind_name) : NS_VALUE_NONE;
    json_t *out = json_pack("{s:s, s:s?, s:s?}", "port", port, "kind", kind_name, "file", file);
    const char *sha = file != NULL ? json_string_value(json_object_get(files, file)) : NULL;
    if (sha == NULL) {
        json_object_set_new(out, "error", json_string("the job kept no file for it"));
        return out;
    }
    size_t fl = strlen(file);
    if (fl > 5 && !strcmp(file + fl - 5, ".json")) { /* the small kinds: their JSON */
        json_t *v = blob_json(store, sha);
        json_object_set_new(out, "value", v != NULL ? v : json_null());
        return out;
    }
    if (kind != NS_VALUE_DATASET && kind != NS_VALUE_MODEL)
        return out;
    /* the file (and a model's normalisation beside it) into dir, read as its kind */
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return out;
    ns_status st = ns_store_blob_get_file(store, sha, path);
    char norm[PATH_MAX + 16];
    snprintf(norm, sizeof norm, "%s.norm.json", file);
    const char *nsha = json_string_value(json_object_get(files, norm));
    if (st == NS_OK && nsha != NULL) {
        snprintf(norm, sizeof norm, "%s/%s.norm.json", dir, file);
        st = ns_store_blob_get_file(store, nsha, norm);
    }
    ns_value *v = NULL;
    if (st == NS_OK)
        st = ns_value_load(ctx, kind, path, NULL, &v);
    if (st != NS_OK)
        json_object_set_new(out, "error", json_string(ns_errmsg(ctx)));
    else if (kind == NS_VALUE_DATASET)
        json_object_set_new(out, "dataset", dataset_summary(ns_value_dataset(v)));
    else
        json_object_set_new(out, "model", model_summary(ns_value_model(v)));
    ns_value_release(v);
    return out;
}

/* The files of card {card} of the outputs, or NULL after answering 404 naming the cards. */
static json_t *card_files(ns__req *rq, json_t *outputs, const char *card)
{
    json_t *cards = by_card(outputs);
    json_t *files = json_incref(json_object_get(cards, card));
    if (files == NULL) {
        char names[512] = "";
        size_t used = 0;
        const char *k;
        json_t *v;
        json_object_foreach(cards, k, v)
        {
            int n = snprintf(names + used, sizeof names - used, "%s'%s'", used ? ", " : "", k);
            if (n < 0 || (size_t)n >= sizeof names - used)
                break;
            used += (size_t)n;
        }
        ns__reply_error(rq, 404, "card",
                        "the job has no outputs of a card '%.64s'; its cards are %s", card,
                        used ? names : "none");
    }
    json_decref(cards);
    return files;
}

/* GET /api/v1/jobs/{id}/outputs/{card} */
static void card_outputs(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    json_t *outputs = store != NULL ? job_outputs(rq, store) : NULL;
    json_t *files = outputs != NULL ? card_files(rq, outputs, ns__req_param(rq, 1)) : NULL;
    json_decref(outputs);
    if (files == NULL)
        return;
    json_t *manifest = blob_json(store, json_string_value(json_object_get(files, "outputs.json")));
    char dir[PATH_MAX];
    if (!json_is_object(manifest)) {
        ns__reply_error(rq, 500, NULL, "card '%s' kept no readable outputs.json",
                        ns__req_param(rq, 1));
    } else if (!temp_dir(dir, sizeof dir)) {
        ns__reply_error(rq, 500, NULL, "cannot make a temporary directory: %s", strerror(errno));
    } else {
        json_t *ports = json_array();
        const char *port;
        json_t *e;
        json_object_foreach(manifest, port, e)
        {
            json_array_append_new(ports, port_summary(rq, store, dir, port, e, files));
        }
        rm_dir(dir, files);
        ns__reply_json(rq, 200,
                       json_pack("{s:s, s:o, s:O}", "card", ns__req_param(rq, 1), "outputs", ports,
                                 "files", files));
    }
    json_decref(manifest);
    json_decref(files);
}

/* GET /api/v1/jobs/{id}/outputs/{card}/{file} */
static void output_file(ns__req *rq)
{
    ns_store *store = ns__req_store(rq);
    json_t *outputs = store != NULL ? job_outputs(rq, store) : NULL;
    json_t *files = outputs != NULL ? card_files(rq, outputs, ns__req_param(rq, 1)) : NULL;
    json_decref(outputs);
    if (files == NULL)
        return;
    const char *file = ns__req_param(rq, 2);
    const char *sha = json_string_value(json_object_get(files, file));
    if (sha == NULL) {
        ns__reply_error(rq, 404, "file", "card '%s' of the job has no file '%.64s'",
                        ns__req_param(rq, 1), file);
    } else {
        size_t n = strlen(file);
        bool js = n > 5 && !strcmp(file + n - 5, ".json");
        ns__reply_blob(rq, store, sha, js ? "application/json" : "application/octet-stream", file);
    }
    json_decref(files);
}

/* ---- the table ---------------------------------------------------------------------------- */

#define PIPELINE_SCHEMA                                                                            \
    "{\"type\":\"object\",\"required\":[\"name\",\"text\",\"hash\",\"created\",\"updated\"],"      \
    "\"properties\":{\"name\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"},\"hash\":{"     \
    "\"type\":\"string\"},\"created\":{\"type\":\"number\"},\"updated\":{\"type\":\"number\"}}}"
#define SET_SCHEMA "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"
#define JOB_SCHEMA                                                                                 \
    "{\"type\":\"object\",\"required\":[\"id\",\"kind\",\"state\"],\"properties\":{\"id\":{"       \
    "\"type\":\"integer\"},\"kind\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"}}}"

const ns__route ns__routes_pipelines[] = {
    {"GET", "/api/v1/cards", list_cards,
     "The card palette: every card with its inputs, outputs and settings as JSON schemas.", "200",
     NULL, NULL, false},
    {"POST", "/api/v1/pipelines/check", check_pipeline,
     "Checks a pipeline (YAML or JSON text) as a job would run it: 200 with its cards in run "
     "order, or 400 with the problem by line and card; files it names must lie under the data "
     "dirs (403).",
     "200 400 404 415",
     "{\"type\":\"object\",\"required\":[\"pipeline\"],\"properties\":{\"pipeline\":{\"type\":"
     "\"string\"},\"source\":{\"type\":\"string\"},\"set\":" SET_SCHEMA "}}",
     "{\"type\":\"object\",\"required\":[\"ok\",\"cards\"],\"properties\":{\"ok\":{\"type\":"
     "\"boolean\"},\"name\":{\"type\":\"string\"},\"cards\":{\"type\":\"array\",\"items\":{"
     "\"type\":\"string\"}}}}",
     false},
    {"GET", "/api/v1/pipelines", list_pipelines, "The saved pipelines.", "200 400 503", NULL,
     LIST_OF(PIPELINE_SCHEMA), false},
    {"POST", "/api/v1/pipelines", add_pipeline,
     "Saves a pipeline under a name (checked first); the same name and text again changes "
     "nothing, another text for the name is a 409 (PUT changes it).",
     "201 400 404 409 415 503",
     "{\"type\":\"object\",\"required\":[\"name\",\"pipeline\"],\"properties\":{\"name\":{"
     "\"type\":\"string\"},\"pipeline\":{\"type\":\"string\"}}}",
     PIPELINE_SCHEMA, false},
    {"GET", "/api/v1/pipelines/{name}", get_pipeline, "One saved pipeline with its text.",
     "200 404 503", NULL, PIPELINE_SCHEMA, false},
    {"PUT", "/api/v1/pipelines/{name}", put_pipeline,
     "Replaces a saved pipeline's text (checked first).", "200 400 404 415 503",
     "{\"type\":\"object\",\"required\":[\"pipeline\"],\"properties\":{\"pipeline\":{\"type\":"
     "\"string\"}}}",
     PIPELINE_SCHEMA, false},
    {"DELETE", "/api/v1/pipelines/{name}", delete_pipeline, "Forgets a saved pipeline.",
     "204 404 503", NULL, NULL, false},
    {"POST", "/api/v1/pipelines/{name}/run", run_saved,
     "Runs a saved pipeline as a job (with \"card.setting=value\" overrides): 201 with the job.",
     "201 400 404 415 503",
     "{\"type\":\"object\",\"properties\":{\"set\":" SET_SCHEMA
     ",\"priority\":{\"type\":\"integer\"}}}",
     JOB_SCHEMA, false},
    {"GET", "/api/v1/jobs/{id}/outputs", list_outputs,
     "The cards of a succeeded pipeline job with their output ports and files.",
     "200 400 404 409 503", NULL,
     "{\"type\":\"object\",\"required\":[\"job\",\"cards\"],\"properties\":{\"job\":{\"type\":"
     "\"integer\"},\"cards\":{\"type\":\"array\"}}}",
     false},
    {"GET", "/api/v1/jobs/{id}/outputs/{card}", card_outputs,
     "A card's outputs summarised: a dataset's rows, columns and first rows, metrics with the "
     "confusion matrix, history, a model's layers and parameters.",
     "200 400 404 409 503", NULL,
     "{\"type\":\"object\",\"required\":[\"card\",\"outputs\"],\"properties\":{\"card\":{"
     "\"type\":\"string\"},\"outputs\":{\"type\":\"array\"},\"files\":{\"type\":\"object\"}}}",
     false},
    {"GET", "/api/v1/jobs/{id}/outputs/{card}/{file}", output_file,
     "One file a card of the job wrote, as it is.", "200 400 404 409 503", NULL,
     "application/octet-stream", false},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
