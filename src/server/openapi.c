/* The API's OpenAPI 3.1 description, made from the route table: every row's method, path,
 * summary, statuses and schemas. The description cannot list a route the server lacks or
 * miss one it has; the API test checks that every answer it sees is one the row declares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

static json_t *error_schema(void)
{
    return json_pack("{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:[ss]}}, s:[sss]}}}",
                     "type", "object", "properties", "error", "type", "object", "properties",
                     "status", "type", "integer", "code", "type", "string", "message", "type",
                     "string", "path", "type", "string", "null", "required", "status", "message",
                     "path");
}

/* A schema text of the row, or {} when it is none or not JSON. */
static json_t *schema(const char *text)
{
    json_error_t e;
    json_t *j = text != NULL && text[0] == '{' ? json_loads(text, 0, &e) : NULL;
    return j != NULL ? j : json_object();
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No content";
    case 303:
        return "See other";
    case 400:
        return "Bad request: the error says what, where (path) and how to fix it";
    case 401:
        return "No token, or a wrong one";
    case 403:
        return "Forbidden: a Host header that does not name the server, or a path "
               "outside the data dirs";
    case 404:
        return "Not found";
    case 405:
        return "Method not allowed";
    case 409:
        return "Conflict with the object's state";
    case 413:
        return "Body too large";
    case 415:
        return "Not JSON (or CSV where taken)";
    case 503:
        return "The store is not answering";
    default:
        return "Error";
    }
}

static json_t *operation(const ns__route *r)
{
    json_t *op = json_object();
    json_object_set_new(op, "summary", json_string(r->summary));
    char id[160];
    snprintf(id, sizeof id, "%s %s", r->method, r->pattern);
    json_object_set_new(op, "operationId", json_string(id));
    json_t *params = json_array();
    for (const char *p = strchr(r->pattern, '{'); p != NULL; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1,
                                                (size_t)(e - p - 1), "in", "path", "required", 1,
                                                "schema", "type", "string"));
    }
    if (json_array_size(params) > 0)
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    if (r->body != NULL) {
        const char *type = r->body[0] == '{' ? "application/json" : r->body;
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content", type,
                                      "schema", schema(r->body)));
    }
    json_t *responses = json_object();
    char codes[128];
    snprintf(codes, sizeof codes, "%s%s", r->statuses, r->open ? "" : " 401 403");
    for (char *save = NULL, *tok = strtok_r(codes, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        int status = atoi(tok);
        json_t *resp = json_pack("{s:s}", "description", reason(status));
        if (status >= 400) {
            json_object_set_new(
                resp, "content",
                json_pack("{s:{s:o}}", "application/json", "schema", error_schema()));
        } else if (status < 300 && status != 204 && r->answer != NULL) {
            const char *type = r->answer[0] == '{' ? "application/json" : r->answer;
            json_object_set_new(resp, "content",
                                json_pack("{s:{s:o}}", type, "schema", schema(r->answer)));
        }
        json_object_set_new(responses, tok, resp);
    }
    json_object_set_new(op, "responses", responses);
    if (r->open)
        json_object_set_new(op, "security", json_array());
    return op;
}

json_t *ns__openapi(const ns__server *srv)
{
    json_t *paths = json_object();
    for (int t = 0; srv->routes[t] != NULL; t++)
        for (const ns__route *r = srv->routes[t]; r->method != NULL; r++) {
            json_t *item = json_object_get(paths, r->pattern);
            if (item == NULL) {
                item = json_object();
                json_object_set_new(paths, r->pattern, item);
            }
            char method[16];
            size_t i = 0;
            for (; r->method[i] != '\0' && i < sizeof method - 1; i++)
                method[i] = (char)(r->method[i] | 0x20);
            method[i] = '\0';
            json_object_set_new(item, method, operation(r));
        }
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}, s:{s:s, s:s, s:s}}}, s:[{s:[]}, "
        "{s:[]}]}",
        "openapi", "3.1.0", "info", "title", "netsmith", "version", "1", "description",
        "The netsmith server's API: the registry (architectures, datasets, models and their "
        "versions), the job queue, pipelines, inference, the tuner's studies and live events. "
        "Every route but this description needs the token, as 'Authorization: Bearer TOKEN', "
        "or the session cookie the login link sets.",
        "paths", paths, "components", "securitySchemes", "bearer", "type", "http", "scheme",
        "bearer", "cookie", "type", "apiKey", "in", "cookie", "name", "netsmith_session",
        "security", "bearer", "cookie");
}
