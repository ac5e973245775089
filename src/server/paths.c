/* Paths that requests name (a dataset's file, a pipeline's files): each is taken relative to
 * the server's --data-dir roots and walked one component at a time from the root's directory,
 * refusing "..", absolute paths and symbolic links on the way, so no request reads or writes
 * outside the roots (the path-traversal failures of other ML servers). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_private.h"

/* Walks rel's components (normalised into norm) under root: 0 when it lies there (the last
 * component existing unless !must_exist), else an errno-like reason: ELOOP for a symbolic
 * link, ENOENT for a missing part, ENOTDIR for a file in the middle. */
static int walk(const char *root, const char *rel, bool must_exist, char *norm, size_t cap)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return ENOENT;
    size_t used = 0;
    norm[0] = '\0';
    int why = 0;
    const char *p = rel;
    while (*p != '\0' && why == 0) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        char part[NAME_MAX + 1];
        if (n > NAME_MAX) {
            why = ENAMETOOLONG;
            break;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        p += n + (slash != NULL);
        if (n == 0 || strcmp(part, ".") == 0)
            continue;
        bool last = *p == '\0';
        struct stat sb;
        if (fstatat(dir, part, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            why = last && !must_exist && errno == ENOENT ? 0 : ENOENT;
        } else if (S_ISLNK(sb.st_mode)) {
            why = ELOOP;
        } else if (!last) {
            if (!S_ISDIR(sb.st_mode)) {
                why = ENOTDIR;
            } else {
                int next = openat(dir, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(dir);
                dir = next;
                if (dir < 0)
                    why = ELOOP;
            }
        }
        if (why == 0) {
            int k = snprintf(norm + used, cap - used, "%s%s", used > 0 ? "/" : "", part);
            if (k < 0 || (size_t)k >= cap - used)
                why = ENAMETOOLONG;
            else
                used += (size_t)k;
        }
    }
    if (dir >= 0)
        close(dir);
    if (why == 0 && used == 0)
        why = EISDIR; /* the root itself */
    return why;
}

bool ns__req_path(ns__req *rq, const char *what, const char *path, bool must_exist, char *out,
                  size_t cap)
{
    const ns_server_options *o = &rq->srv->opts;
    if (o->n_data_dirs == 0) {
        ns__reply_error(rq, 403, what,
                        "%s: this server reads no files (it was started without --data-dir); "
                        "use a built-in dataset, or start it with --data-dir DIR",
                        what);
        return false;
    }
    size_t len = strlen(path);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) {
            ns__reply_error(rq, 400, what, "%s: the path holds a control character", what);
            return false;
        }
    if (len == 0 || len >= PATH_MAX / 2) {
        ns__reply_error(rq, 400, what, "%s: the path is empty or too long", what);
        return false;
    }
    if (path[0] == '/' || path[0] == '~') {
        ns__reply_error(rq, 403, what,
                        "%s: '%.80s' is an absolute path; give a path relative to a data dir", what,
                        path);
        return false;
    }
    for (const char *p = path; p != NULL; p = strchr(p, '/')) {
        p += *p == '/';
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0')) {
            ns__reply_error(rq, 403, what,
                            "%s: '%.80s' climbs out with '..'; give a path inside a data dir", what,
                            path);
            return false;
        }
    }
    /* the first root that has it; a file to be made goes under the first root */
    int why = ENOENT, root = 0;
    char norm[PATH_MAX];
    for (int i = 0; i < o->n_data_dirs && why == ENOENT; i++) {
        why = walk(o->data_dirs[i], path, true, norm, sizeof norm);
        root = i;
    }
    if (why == ENOENT && !must_exist) {
        root = 0;
        why = walk(o->data_dirs[0], path, false, norm, sizeof norm);
    }
    if (why == 0 && snprintf(out, cap, "%s/%s", o->data_dirs[root], norm) >= (int)cap)
        why = ENAMETOOLONG;
    switch (why) {
    case 0:
        return true;
    case ELOOP:
        ns__reply_error(rq, 403, what,
                        "%s: '%.80s' goes through a symbolic link, which could lead outside the "
                        "data dirs; give the file's real path inside one",
                        what, path);
        return false;
    case ENOENT:
        ns__reply_error(rq, 404, what, "%s: no file '%.80s' in the data dirs", what, path);
        return false;
    default:
        ns__reply_error(rq, 400, what, "%s: '%.80s' is not a file in a data dir (%s)", what, path,
                        strerror(why));
        return false;
    }
}
