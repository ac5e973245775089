/* pipelines routes. */
#include "server/server_private.h"

const ns__route ns__routes_pipelines[] = {
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
