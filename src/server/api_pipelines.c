/* pipelines routes. */
#include "server/server_private.h"

void ns__submit_pipeline_job(ns__req *rq, json_t *body)
{
    (void)body;
    ns__reply_error(rq, 400, "kind", "pipeline jobs are not taken yet");
}

const ns__route ns__routes_pipelines[] = {
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
