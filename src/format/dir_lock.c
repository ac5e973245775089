/* Locks on the directories one process owns while it runs: flock on DIR/.netsmith-ROLE.lock,
 * which names the holder (pid and command line) for the message a second process gets. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "netsmith/format.h"

struct ns_dir_lock {
    ns_ctx *ctx;
    int fd;
    char path[]; /* the lock file */
};

/* This process's command line as one line ("netsmith train spec.json ..."), the program's
 * directory left out; "" when it cannot be read. */
static void own_command(char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char raw[512];
    ssize_t n = read(fd, raw, sizeof raw - 1);
    close(fd);
    if (n <= 0)
        return;
    bool cut = n == (ssize_t)sizeof raw - 1;
    raw[n] = '\0';
    const char *prog = raw, *slash = strrchr(raw, '/'); /* only within argv[0] */
    if (slash != NULL)
        prog = slash + 1;
    size_t at = 0;
    for (const char *p = prog; p < raw + n && at + 1 < cap; p++)
        buf[at++] = *p == '\0' || *p == '\n' ? ' ' : *p;
    while (at > 0 && buf[at - 1] == ' ')
        at--;
    buf[at] = '\0';
    if (cut && at + 4 < cap)
        strcpy(buf + at, " ...");
}

/* Reads "PID COMMAND" from the lock file; the holder writes it right after it locks, so an
 * empty file is read again for a little while. */
static void read_holder(int fd, long *pid, char *cmd, size_t cap)
{
    *pid = 0;
    cmd[0] = '\0';
    char buf[640];
    for (int tries = 0; tries < 50; tries++) {
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            char *end;
            *pid = strtol(buf, &end, 10);
            if (*end == ' ')
                end++;
            end[strcspn(end, "\n")] = '\0';
            snprintf(cmd, cap, "%s", end);
            return;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

ns_status ns_dir_lock_open(ns_ctx *ctx, const char *dir, const char *role, const char *fix,
                           ns_dir_lock **out)
{
    NS_ASSERT(ctx != NULL && dir != NULL && role != NULL && fix != NULL && out != NULL);
    *out = NULL;
    ns_status st = ns_make_dirs(ctx, dir);
    if (st != NS_OK)
        return st;
    size_t cap = strlen(dir) + strlen(role) + sizeof "/.netsmith-.lock";
    ns_dir_lock *l = ns_alloc(ctx, sizeof *l + cap);
    if (l == NULL)
        return NS_ERR_NOMEM;
    l->ctx = ctx;
    snprintf(l->path, cap, "%s/.netsmith-%s.lock", dir, role);
    l->fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (l->fd < 0) {
        int err = errno;
        st = ns_errorf(ctx, NS_ERR_IO, "%s: cannot open the lock file of the %s directory %s: %s%s",
                       l->path, role, dir, strerror(err),
                       err == ELOOP ? " (a symbolic link is in its place; remove it)" : "");
        ns_dealloc(ctx, l);
        return st;
    }
    /* The holder truncates and writes the file: only a plain file of its own will do (not a
     * hard link to some other file planted at the name). */
    struct stat sb;
    if (fstat(l->fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        st = ns_errorf(ctx, NS_ERR_IO,
                       "%s: the lock file of the %s directory %s is not a plain "
                       "file of its own (a link or a special file); remove it",
                       l->path, role, dir);
        close(l->fd);
        ns_dealloc(ctx, l);
        return st;
    }
    int rc;
    while ((rc = flock(l->fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            long pid;
            char cmd[600];
            read_holder(l->fd, &pid, cmd, sizeof cmd);
            if (pid > 0)
                st = ns_errorf(ctx, NS_ERR_STATE,
                               "%s: the %s directory is in use by process %ld%s (%s); %s", dir,
                               role, pid, pid == (long)getpid() ? ", this one" : "",
                               cmd[0] ? cmd : "command unknown", fix);
            else
                st = ns_errorf(ctx, NS_ERR_STATE,
                               "%s: the %s directory is in use by another process; %s", dir, role,
                               fix);
        } else {
            st = ns_errorf(ctx, NS_ERR_IO, "%s: cannot lock the %s directory: %s", l->path, role,
                           strerror(err));
        }
        close(l->fd);
        ns_dealloc(ctx, l);
        return st;
    }
    /* The holder's name for a second process's message: best effort (a full disk or a file
     * size limit leaves it empty, and the lock holds all the same). */
    char line[640], cmd[560];
    own_command(cmd, sizeof cmd);
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), cmd);
    if (ftruncate(l->fd, 0) == 0 && n > 0)
        (void)!pwrite(l->fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, 0);
    *out = l;
    return NS_OK;
}

void ns_dir_lock_close(ns_dir_lock *l)
{
    if (l == NULL)
        return;
    /* Emptied while still held, so that no one reads a holder that has gone. */
    (void)!ftruncate(l->fd, 0);
    close(l->fd); /* releases the flock */
    ns_dealloc(l->ctx, l);
}
