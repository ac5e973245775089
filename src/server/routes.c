/* The route table: each resource's rows (api_*.c), in order, and the one matcher. A new
 * route is a row in its resource's file; a new resource is its file and a line here. */
#include <stdio.h>
#include <string.h>

#include "server/server_private.h"

const ns__route *const ns__route_tables[] = {
    ns__routes_system,    /* the server itself, the description, logins */
    ns__routes_registry,  /* architectures, datasets, models */
    ns__routes_jobs,      /* the job queue */
    ns__routes_pipelines, /* saved pipelines and their runs */
    ns__routes_predict,   /* inference */
    ns__routes_studies,   /* the tuner's studies */
    ns__routes_events,    /* the live event stream */
    NULL,
};

/* Whether path matches pattern segment by segment, a "{name}" taking one segment (not empty);
 * the values into rq->params (when rq is not NULL). */
static bool match(const char *pattern, const char *path, ns__req *rq)
{
    int n = 0;
    const char *p = pattern, *u = path;
    while (*p != '\0' && *u != '\0') {
        if (*p != '/' || *u != '/')
            return false;
        p++, u++;
        const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
        size_t pl = pe != NULL ? (size_t)(pe - p) : strlen(p);
        size_t ul = ue != NULL ? (size_t)(ue - u) : strlen(u);
        if (pl > 1 && p[0] == '{') {
            if (ul == 0 || n >= NS__MAX_PARAMS || ul >= sizeof rq->params[0])
                return false;
            if (rq != NULL)
                memcpy(rq->params[n], u, ul), rq->params[n][ul] = '\0';
            n++;
        } else if (pl != ul || strncmp(p, u, pl) != 0) {
            return false;
        }
        p += pl, u += ul;
    }
    if (*p != '\0' || *u != '\0')
        return false;
    if (rq != NULL)
        rq->n_params = n;
    return true;
}

const ns__route *ns__route_find(ns__req *rq, const char *method, const char *path, char *allowed,
                                size_t cap)
{
    allowed[0] = '\0';
    size_t used = 0;
    for (int t = 0; ns__route_tables[t] != NULL; t++)
        for (const ns__route *r = ns__route_tables[t]; r->method != NULL; r++) {
            if (!match(r->pattern, path, NULL))
                continue;
            if (strcmp(r->method, method) == 0 ||
                (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
                match(r->pattern, path, rq);
                return r;
            }
            if (strstr(allowed, r->method) == NULL) {
                int k =
                    snprintf(allowed + used, cap - used, "%s%s", used > 0 ? ", " : "", r->method);
                if (k > 0 && (size_t)k < cap - used)
                    used += (size_t)k;
            }
        }
    return NULL;
}
