/* predict routes. */
#include "server/server_private.h"

const ns__route ns__routes_predict[] = {
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, false},
};
