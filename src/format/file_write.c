/* Atomic file writes: a temporary file made exclusively beside the target, written, flushed,
 * fsync'ed, closed, renamed over the target, and the directory fsync'ed. Every file netsmith
 * writes goes through here (safetensors, JSON, CSV). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core_internal.h"
#include "netsmith/format.h"
#include "format/file_write.h"

struct ns_file_writer {
    ns_ctx *ctx;
    FILE *fp;     /* NULL once closed */
    bool done;    /* committed (or the commit failed and cleaned up) */
    char *path;   /* the target */
    char *dir;    /* its directory, for the final sync */
    char *tmp;    /* the temporary file */
    char store[]; /* the three strings */
};

/* ---- temporary names ------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Where the directory part of path ends (the length of "DIR/"), 0 for a bare name. */
static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

bool ns__tmp_name(const char *path, uint64_t seed, int attempt, char *buf, size_t cap)
{
    size_t dl = dir_len(path);
    const char *base = path + dl;
    size_t bl = strlen(base);
    if (bl > 64)
        bl = 64; /* so that the name stays under NAME_MAX */
    int n = snprintf(buf, cap, "%.*s.%.*s.%016llx.tmp", (int)dl, path, (int)bl, base,
                     (unsigned long long)mix64(seed ^ mix64((uint64_t)attempt)));
    return n > 0 && (size_t)n < cap;
}

/* A seed no other process can guess ahead: the kernel's random bytes, or else the clock,
 * the pid and an address. */
static uint64_t random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
        return s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return mix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
           mix64((uint64_t)getpid()) ^ mix64((uint64_t)(uintptr_t)&s);
}

/* ---- the writer ------------------------------------------------------------------------------ */

ns_status ns__file_writer_open_seeded(ns_ctx *ctx, const char *path, uint64_t seed,
                                      ns_file_writer **out)
{
    NS_ASSERT(ctx != NULL && path != NULL && out != NULL);
    *out = NULL;
    size_t plen = strlen(path), dl = dir_len(path);
    if (plen == 0 || dl == plen)
        return ns_errorf(ctx, NS_ERR_IO,
                         "'%s': cannot write a file there: the path names a directory, not a file",
                         path);
    size_t tcap = plen + 64;
    ns_file_writer *w = ns_alloc(ctx, sizeof *w + (plen + 1) + (dl + 2) + tcap);
    if (w == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory", path);
    memset(w, 0, sizeof *w);
    w->ctx = ctx;
    w->path = w->store;
    memcpy(w->path, path, plen + 1);
    w->dir = w->path + plen + 1;
    if (dl == 0)
        strcpy(w->dir, ".");
    else if (dl == 1)
        strcpy(w->dir, "/");
    else
        snprintf(w->dir, dl, "%s", path); /* without the slash */
    w->tmp = w->dir + dl + 2;

    int fd = -1, err = EEXIST;
    for (int i = 0; i < NS__TMP_ATTEMPTS && fd < 0 && err == EEXIST; i++) {
        NS_ASSERT(ns__tmp_name(path, seed, i, w->tmp, tcap));
        /* O_EXCL with O_CREAT never follows a symbolic link, O_NOFOLLOW says so twice */
        fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        err = fd < 0 ? errno : 0;
    }
    if (fd < 0) {
        ns_status st =
            ns_errorf(ctx, NS_ERR_IO, "%s: cannot create a temporary file in %s: %s%s", path,
                      w->dir, strerror(err), err == EEXIST ? " (every name tried was taken)" : "");
        ns_dealloc(ctx, w);
        return st;
    }
    w->fp = fdopen(fd, "wb");
    if (w->fp == NULL) {
        err = errno;
        close(fd);
        unlink(w->tmp);
        ns_status st =
            ns_errorf(ctx, NS_ERR_IO, "%s: cannot open a stream on the temporary file %s: %s", path,
                      w->tmp, strerror(err));
        ns_dealloc(ctx, w);
        return st;
    }
    *out = w;
    return NS_OK;
}

ns_status ns_file_writer_open(ns_ctx *ctx, const char *path, ns_file_writer **out)
{
    return ns__file_writer_open_seeded(ctx, path, random_seed(), out);
}

FILE *ns_file_writer_stream(ns_file_writer *w)
{
    NS_ASSERT(w != NULL && w->fp != NULL);
    return w->fp;
}

/* fsync of a directory, so that a rename in it survives a crash. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* Some file systems cannot sync a directory (EINVAL); there is nothing more to do there. */
    int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

ns_status ns_file_writer_commit(ns_file_writer *w)
{
    NS_ASSERT(w != NULL && !w->done && w->fp != NULL);
    ns_ctx *ctx = w->ctx;
    w->done = true;
    const char *step = "write";
    /* A failed buffered write leaves its bytes in the buffer, so the flush fails again and
     * says why. A large fwrite goes to the file directly and its errno may be gone: then one
     * byte more, into a file that is dropped anyway, finds the reason (EIO if it passes). */
    errno = 0;
    bool bad = fflush(w->fp) != 0 || ferror(w->fp);
    int err = errno;
    if (bad && err == 0) {
        char probe = 0;
        err = write(fileno(w->fp), &probe, 1) < 0 ? errno : EIO;
    }
    if (!bad) {
        step = "sync";
        bad = fsync(fileno(w->fp)) != 0;
        err = errno;
    }
    int rc = fclose(w->fp);
    w->fp = NULL;
    if (!bad && rc != 0) {
        step = "close";
        bad = true;
        err = errno;
    }
    if (!bad && rename(w->tmp, w->path) != 0) {
        err = errno;
        unlink(w->tmp);
        return ns_errorf(ctx, NS_ERR_IO, "%s: cannot rename the temporary file %s into place: %s",
                         w->path, w->tmp, strerror(err));
    }
    if (bad) {
        unlink(w->tmp);
        return ns_errorf(ctx, NS_ERR_IO,
                         "%s: cannot %s the temporary file %s: %s; the file is unchanged", w->path,
                         step, w->tmp, strerror(err));
    }
    if (sync_dir(w->dir) != 0)
        return ns_errorf(ctx, NS_ERR_IO, "%s: written, but syncing its directory failed: %s",
                         w->path, strerror(errno));
    return NS_OK;
}

void ns_file_writer_close(ns_file_writer *w)
{
    if (w == NULL)
        return;
    if (w->fp != NULL)
        fclose(w->fp);
    if (!w->done)
        unlink(w->tmp);
    ns_dealloc(w->ctx, w);
}

/* ---- conveniences ---------------------------------------------------------------------------- */

/* Writes path atomically with put(fp, arg), which returns 0 or the errno of its failure
 * (ENOMEM: out of memory). */
static ns_status write_with(ns_ctx *ctx, const char *path, int (*put)(FILE *fp, const void *arg),
                            const void *arg)
{
    ns_file_writer *w = NULL;
    ns_status st = ns_file_writer_open(ctx, path, &w);
    if (st != NS_OK)
        return st;
    int err = put(w->fp, arg);
    if (err != 0)
        st = ns_errorf(ctx, err == ENOMEM ? NS_ERR_NOMEM : NS_ERR_IO,
                       "%s: cannot write the temporary file %s: %s; the file is unchanged", path,
                       w->tmp, strerror(err));
    if (st == NS_OK)
        st = ns_file_writer_commit(w);
    ns_file_writer_close(w);
    return st;
}

typedef struct bytes {
    const void *data;
    size_t len;
} bytes;

static int put_bytes(FILE *fp, const void *arg)
{
    const bytes *b = arg;
    return b->len > 0 && fwrite(b->data, 1, b->len, fp) != b->len ? errno : 0;
}

ns_status ns_write_file(ns_ctx *ctx, const char *path, const void *data, size_t len)
{
    bytes b = {data, len};
    return write_with(ctx, path, put_bytes, &b);
}

typedef struct json_out {
    const json_t *json;
    size_t flags;
} json_out;

static int put_json(FILE *fp, const void *arg)
{
    const json_out *j = arg;
    errno = 0;
    if (json_dumpf(j->json, fp, j->flags) == 0)
        return 0;
    return errno ? errno : ENOMEM; /* jansson fails without errno only for memory */
}

ns_status ns_write_json(ns_ctx *ctx, const char *path, const json_t *json, size_t flags)
{
    if (json == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory making its JSON", path);
    json_out j = {json, flags};
    return write_with(ctx, path, put_json, &j);
}
