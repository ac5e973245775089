/* Creating directories for the files netsmith writes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_internal.h"
#include "netsmith/format.h"

ns_status ns_make_dirs(ns_ctx *ctx, const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ns_errorf(ctx, NS_ERR_IO, "the path %.64s... is too long", path);
    for (char *q = buf + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ns_errorf(ctx, NS_ERR_IO, "cannot create directory %s: %s", buf,
                             strerror(errno));
        *q = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return ns_errorf(ctx, NS_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ns_errorf(ctx, NS_ERR_IO,
                         "cannot create directory %s: a file of that name is in the way; remove "
                         "it or choose another path",
                         buf);
    return NS_OK;
}

ns_status ns_make_parent_dirs(ns_ctx *ctx, const char *file_path)
{
    const char *slash = strrchr(file_path, '/');
    if (slash == NULL || slash == file_path)
        return NS_OK;
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%.*s", (int)(slash - file_path), file_path) >= (int)sizeof buf)
        return ns_errorf(ctx, NS_ERR_IO, "the path %.64s... is too long", file_path);
    return ns_make_dirs(ctx, buf);
}
