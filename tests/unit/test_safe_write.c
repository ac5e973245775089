/* Safe file writes: the atomic writer never follows a symbolic link planted at a temporary
 * name (the old predictable PATH.tmp, or every random name it will try), gives new files the
 * permissions a normal file gets, and on a failed write (a file size limit, in a forked child)
 * reports the file and the system error and leaves the old file whole; directory locks
 * refuse a second holder (another process: fork) naming its pid and command, and free up when
 * the holder closes or dies. Allocation failures leak nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/file_write.h"
#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

/* A fresh directory under the scratch directory. */
static const char *fresh_dir(const char *name)
{
    const char *d = ns_test_tmp(name);
    assert_int_equal(mkdir(d, 0777), 0);
    return d;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* The whole file as a string (static buffer); "" when it cannot be read. */
static const char *slurp(const char *path)
{
    static char buf[1 << 16];
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool is_link_to(const char *link, const char *target)
{
    char got[512];
    ssize_t n = readlink(link, got, sizeof got - 1);
    if (n < 0)
        return false;
    got[n] = '\0';
    return strcmp(got, target) == 0;
}

/* How many entries of dir end in ".tmp". */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0;
    }
    closedir(d);
    return n;
}

static const ns_st_tensor one_tensor = {.name = "w",
                                        .dtype = NS_DTYPE_F32,
                                        .ndim = 1,
                                        .shape = {2},
                                        .data = (const float[]){1.0f, 2.0f},
                                        .nbytes = 8};

/* ---- symbolic links at temporary names ------------------------------------------------------- */

/* A link at the name the writer used to take (PATH.tmp) and one at the hidden pattern's
 * obvious guess: every writer goes around them, and the files they point at stay as they
 * were. */
static void test_links_at_old_names(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("links_old");
    char outside[256], path[256], link1[300], link2[300];
    snprintf(outside, sizeof outside, "%s/outside.txt", ns_test_tmp(""));
    put(outside, "precious");
    const char *names[] = {"model.safetensors", "values.json", "data.csv", "raw.bin"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(link1, sizeof link1, "%s.tmp", path);
        snprintf(link2, sizeof link2, "%s/.%s.tmp", dir, names[i]);
        assert_int_equal(symlink(outside, link1), 0);
        assert_int_equal(symlink(outside, link2), 0);
        if (i == 0) {
            NS_ASSERT_OK(ctx, ns_st_write(ctx, path, &one_tensor, 1, NULL, 0));
            ns_st_file *f = NULL;
            NS_ASSERT_OK(ctx, ns_st_open(ctx, path, &f));
            assert_int_equal(ns_st_count(f), 1);
            ns_st_close(f);
        } else if (i == 1) {
            json_t *j = json_pack("{s:i}", "a", 1);
            NS_ASSERT_OK(ctx, ns_write_json(ctx, path, j, JSON_COMPACT));
            json_decref(j);
            assert_string_equal(slurp(path), "{\"a\":1}");
        } else if (i == 2) {
            ns_file_writer *w = NULL;
            NS_ASSERT_OK(ctx, ns_file_writer_open(ctx, path, &w));
            fprintf(ns_file_writer_stream(w), "x,y\n1,2\n");
            NS_ASSERT_OK(ctx, ns_file_writer_commit(w));
            ns_file_writer_close(w);
            assert_string_equal(slurp(path), "x,y\n1,2\n");
        } else {
            NS_ASSERT_OK(ctx, ns_write_file(ctx, path, "abc", 3));
            assert_string_equal(slurp(path), "abc");
        }
        assert_true(is_link_to(link1, outside));
        assert_true(is_link_to(link2, outside));
        assert_string_equal(slurp(outside), "precious");
    }
    ns_ctx_free(ctx);
}

/* Links planted at every random name but the last that one open will try: it takes the
 * last; with all of them taken it gives up with a message, and writes through none. */
static void test_links_at_every_guessed_name(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("links_guessed");
    char outside[256], path[256], name[512];
    snprintf(outside, sizeof outside, "%s/outside2.txt", ns_test_tmp(""));
    put(outside, "precious");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const uint64_t seed = 0x5eed;
    for (int i = 0; i < NS__TMP_ATTEMPTS - 1; i++) {
        assert_true(ns__tmp_name(path, seed, i, name, sizeof name));
        assert_int_equal(symlink(outside, name), 0);
    }
    ns_file_writer *w = NULL;
    NS_ASSERT_OK(ctx, ns__file_writer_open_seeded(ctx, path, seed, &w));
    fputs("new", ns_file_writer_stream(w));
    NS_ASSERT_OK(ctx, ns_file_writer_commit(w));
    ns_file_writer_close(w);
    assert_string_equal(slurp(path), "new");
    assert_string_equal(slurp(outside), "precious");
    for (int i = 0; i < NS__TMP_ATTEMPTS - 1; i++) {
        assert_true(ns__tmp_name(path, seed, i, name, sizeof name));
        assert_true(is_link_to(name, outside));
    }

    /* Every name taken. */
    assert_true(ns__tmp_name(path, seed, NS__TMP_ATTEMPTS - 1, name, sizeof name));
    assert_int_equal(symlink(outside, name), 0);
    NS_ASSERT_STATUS(ctx, ns__file_writer_open_seeded(ctx, path, seed, &w), NS_ERR_IO);
    assert_null(w);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, "cannot create a temporary file");
    NS_ASSERT_MSG_HAS(ctx, "every name tried was taken");
    assert_string_equal(slurp(outside), "precious");
    assert_string_equal(slurp(path), "new");

    /* The names differ by seed and attempt, and stay in the target's directory, hidden. */
    char a[512], b[512], c[512];
    assert_true(ns__tmp_name(path, 1, 0, a, sizeof a));
    assert_true(ns__tmp_name(path, 2, 0, b, sizeof b));
    assert_true(ns__tmp_name(path, 1, 1, c, sizeof c));
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s/.model.safetensors.", dir);
    assert_int_equal(strncmp(a, prefix, strlen(prefix)), 0);
    assert_true(ns__tmp_name("bare.json", 1, 0, a, sizeof a));
    assert_int_equal(strncmp(a, ".bare.json.", 11), 0);
    ns_ctx_free(ctx);
}

/* A link at the target itself is replaced by the new file, never written through. */
static void test_link_at_target(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("link_target");
    char outside[256], path[256];
    snprintf(outside, sizeof outside, "%s/outside3.txt", ns_test_tmp(""));
    put(outside, "precious");
    snprintf(path, sizeof path, "%s/settings.json", dir);
    assert_int_equal(symlink(outside, path), 0);
    NS_ASSERT_OK(ctx, ns_write_file(ctx, path, "{}", 2));
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_string_equal(slurp(path), "{}");
    assert_string_equal(slurp(outside), "precious");
    ns_ctx_free(ctx);
}

/* ---- permissions, abandoning, bad paths ------------------------------------------------------ */

static void test_permissions_follow_umask(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("modes");
    char path[256];
    snprintf(path, sizeof path, "%s/a.json", dir);
    mode_t old = umask(022);
    NS_ASSERT_OK(ctx, ns_write_file(ctx, path, "1", 1));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    umask(027);
    NS_ASSERT_OK(ctx, ns_st_write(ctx, path, &one_tensor, 1, NULL, 0));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    umask(0);
    NS_ASSERT_OK(ctx, ns_write_file(ctx, path, "1", 1));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666);
    umask(old);
    ns_ctx_free(ctx);
}

/* Making directories: a file in the way is an error, not a directory made; a path too long
 * for the buffer is refused, never cut short. */
static void test_make_dirs(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("dirs");
    char path[512], file[512];
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    NS_ASSERT_OK(ctx, ns_make_dirs(ctx, path));
    NS_ASSERT_OK(ctx, ns_make_dirs(ctx, path)); /* there already: fine */
    snprintf(file, sizeof file, "%s/a/f", dir);
    put(file, "x");
    NS_ASSERT_STATUS(ctx, ns_make_dirs(ctx, file), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "a file of that name is in the way");
    snprintf(path, sizeof path, "%s/a/f/g", dir);
    NS_ASSERT_STATUS(ctx, ns_make_dirs(ctx, path), NS_ERR_IO);
    char *longer = malloc(6000);
    assert_non_null(longer);
    memset(longer, 'd', 5999);
    longer[0] = '/';
    longer[5998] = '/';
    longer[5999] = '\0';
    NS_ASSERT_STATUS(ctx, ns_make_parent_dirs(ctx, longer), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "is too long");
    free(longer);
    ns_ctx_free(ctx);
}

static void test_abandon_and_bad_paths(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("abandon");
    char path[256];
    snprintf(path, sizeof path, "%s/p.csv", dir);
    put(path, "old");
    ns_file_writer *w = NULL;
    NS_ASSERT_OK(ctx, ns_file_writer_open(ctx, path, &w));
    fputs("half a fi", ns_file_writer_stream(w));
    fflush(ns_file_writer_stream(w));
    assert_int_equal(count_tmp(dir), 1);
    ns_file_writer_close(w); /* not committed: dropped */
    assert_int_equal(count_tmp(dir), 0);
    assert_string_equal(slurp(path), "old");
    ns_file_writer_close(NULL);

    /* No directory, a directory's name, a directory in the way. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.json", dir);
    NS_ASSERT_STATUS(ctx, ns_write_file(ctx, missing, "1", 1), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, missing);
    NS_ASSERT_MSG_HAS(ctx, "No such file or directory");
    char slash[300];
    snprintf(slash, sizeof slash, "%s/", dir);
    NS_ASSERT_STATUS(ctx, ns_write_file(ctx, slash, "1", 1), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "names a directory");
    char taken[300];
    snprintf(taken, sizeof taken, "%s/taken", dir);
    assert_int_equal(mkdir(taken, 0777), 0);
    NS_ASSERT_STATUS(ctx, ns_write_file(ctx, taken, "1", 1), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "cannot rename");
    assert_int_equal(count_tmp(dir), 0);
    ns_ctx_free(ctx);
}

/* ---- write failures -------------------------------------------------------------------------- */

static int child_failed(const char *what, ns_ctx *ctx)
{
    fprintf(stderr, "child: %s (message: %s)\n", what, ctx ? ns_errmsg(ctx) : "");
    return 1;
}

/* In a child under a 1 KiB file size limit (SIGXFSZ ignored, so writes fail with EFBIG):
 * every writer fails with the file and "File too large" named, and leaves "old" whole. */
static int write_under_limit(const char *dir)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit r = {1024, 1024};
    if (setrlimit(RLIMIT_FSIZE, &r) != 0)
        return child_failed("setrlimit", NULL);
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return 1;
    static char big[64 * 1024];
    memset(big, 'x', sizeof big);
    float *w = calloc(4096, sizeof *w);
    const char *names[] = {"buf.bin", "model.safetensors", "out.json", "pred.csv"};
    for (int i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ns_status st;
        if (i == 0) {
            st = ns_write_file(ctx, path, big, sizeof big);
        } else if (i == 1) {
            ns_st_tensor t = {.name = "w",
                              .dtype = NS_DTYPE_F32,
                              .ndim = 1,
                              .shape = {4096},
                              .data = w,
                              .nbytes = 4096 * sizeof(float)};
            st = ns_st_write(ctx, path, &t, 1, NULL, 0);
        } else if (i == 2) {
            json_t *a = json_array();
            for (int k = 0; k < 2000; k++)
                json_array_append_new(a, json_integer(k));
            st = ns_write_json(ctx, path, a, 0);
            json_decref(a);
        } else {
            ns_file_writer *fw = NULL;
            st = ns_file_writer_open(ctx, path, &fw);
            if (st == NS_OK) {
                for (int k = 0; k < 2000; k++)
                    fprintf(ns_file_writer_stream(fw), "%d,%d\n", k, k * k);
                st = ns_file_writer_commit(fw);
            }
            ns_file_writer_close(fw);
        }
        if (st != NS_ERR_IO)
            return child_failed("a write over the limit did not fail with NS_ERR_IO", ctx);
        if (strstr(ns_errmsg(ctx), path) == NULL ||
            strstr(ns_errmsg(ctx), "File too large") == NULL)
            return child_failed("the message does not name the file and the error", ctx);
        if (strcmp(slurp(path), "old") != 0)
            return child_failed("the old file changed", ctx);
    }
    free(w);
    if (count_tmp(dir) != 0)
        return child_failed("a temporary file was left behind", ctx);
    /* A small file still fits. */
    char small[512];
    snprintf(small, sizeof small, "%s/small.json", dir);
    if (ns_write_file(ctx, small, "{}", 2) != NS_OK || strcmp(slurp(small), "{}") != 0)
        return child_failed("a small write under the limit failed", ctx);
    ns_ctx_free(ctx);
    return 0;
}

static void test_write_failure_keeps_old_file(void **state)
{
    (void)state;
    const char *d = fresh_dir("limit");
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d);
    const char *names[] = {"buf.bin", "model.safetensors", "out.json", "pred.csv"};
    for (int i = 0; i < 4; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        put(path, "old");
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(write_under_limit(dir));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < 4; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        assert_string_equal(slurp(path), "old");
    }
}

/* ---- directory locks ------------------------------------------------------------------------- */

/* A child that locks dir for role, says so on ready[1], and holds the lock until go[0] gets
 * a byte (or closes), then exits; kill -9 ends it as well. */
static pid_t spawn_holder(const char *dir, const char *role, int *go_fd)
{
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        ns_ctx *ctx = NULL;
        ns_dir_lock *l = NULL;
        char ok = ns_ctx_new(NULL, &ctx) == NS_OK &&
                          ns_dir_lock_open(ctx, dir, role, "try later", &l) == NS_OK
                      ? 'y'
                      : 'n';
        if (ok != 'y')
            fprintf(stderr, "child: %s\n", ctx ? ns_errmsg(ctx) : "no context");
        if (write(ready[1], &ok, 1) != 1)
            _exit(2);
        char c;
        (void)!read(go[0], &c, 1);
        ns_dir_lock_close(l);
        ns_ctx_free(ctx);
        _exit(ok == 'y' ? 0 : 1);
    }
    close(ready[1]);
    close(go[0]);
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    close(ready[0]);
    *go_fd = go[1];
    return pid;
}

static void test_lock_refuses_a_second_process(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *d = ns_test_tmp("locked/ckpt"); /* made, parents too, by the lock */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d);
    int go = -1;
    pid_t pid = spawn_holder(dir, "checkpoint", &go);

    ns_dir_lock *l = NULL;
    NS_ASSERT_STATUS(ctx,
                     ns_dir_lock_open(ctx, dir, "checkpoint",
                                      "wait for it to finish, or use another checkpoint directory",
                                      &l),
                     NS_ERR_STATE);
    assert_null(l);
    char want[128];
    snprintf(want, sizeof want, "the checkpoint directory is in use by process %ld (", (long)pid);
    NS_ASSERT_MSG_HAS(ctx, dir);
    NS_ASSERT_MSG_HAS(ctx, want);
    NS_ASSERT_MSG_HAS(ctx, "test_safe_write"); /* the holder's command */
    NS_ASSERT_MSG_HAS(ctx, "); wait for it to finish, or use another checkpoint directory");

    /* Another role on the same directory is another lock. */
    NS_ASSERT_OK(ctx, ns_dir_lock_open(ctx, dir, "run", "x", &l));
    ns_dir_lock_close(l);
    l = NULL;

    /* The holder finishes: the directory is free. */
    assert_int_equal(write(go, "x", 1), 1);
    close(go);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    NS_ASSERT_OK(ctx, ns_dir_lock_open(ctx, dir, "checkpoint", "x", &l));
    char lockfile[300];
    snprintf(lockfile, sizeof lockfile, "%s/.netsmith-checkpoint.lock", dir);
    char mine[32];
    snprintf(mine, sizeof mine, "%ld ", (long)getpid());
    assert_int_equal(strncmp(slurp(lockfile), mine, strlen(mine)), 0);

    /* A second lock in this very process is refused too, and says it is this one. */
    ns_dir_lock *again = NULL;
    NS_ASSERT_STATUS(ctx, ns_dir_lock_open(ctx, dir, "checkpoint", "x", &again), NS_ERR_STATE);
    NS_ASSERT_MSG_HAS(ctx, ", this one (");
    ns_dir_lock_close(l);
    assert_string_equal(slurp(lockfile), ""); /* emptied on release */
    NS_ASSERT_OK(ctx, ns_dir_lock_open(ctx, dir, "checkpoint", "x", &again));
    ns_dir_lock_close(again);
    ns_dir_lock_close(NULL);
    ns_ctx_free(ctx);
}

/* A holder killed with SIGKILL leaves its lock file (with its pid) behind; it does not block. */
static void test_lock_of_a_killed_holder_is_free(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *d = ns_test_tmp("killed");
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d);
    int go = -1;
    pid_t pid = spawn_holder(dir, "state", &go);
    ns_dir_lock *l = NULL;
    NS_ASSERT_STATUS(ctx, ns_dir_lock_open(ctx, dir, "state", "x", &l), NS_ERR_STATE);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(go);
    char lockfile[300], theirs[32];
    snprintf(lockfile, sizeof lockfile, "%s/.netsmith-state.lock", dir);
    snprintf(theirs, sizeof theirs, "%ld ", (long)pid);
    assert_int_equal(strncmp(slurp(lockfile), theirs, strlen(theirs)), 0); /* stale, left */
    NS_ASSERT_OK(ctx, ns_dir_lock_open(ctx, dir, "state", "x", &l));
    ns_dir_lock_close(l);
    ns_ctx_free(ctx);
}

/* A symbolic link at the lock file's name is refused, never followed; a hard link too. */
static void test_lock_file_link_refused(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("lock_link");
    char outside[256], lockfile[300];
    snprintf(outside, sizeof outside, "%s/outside4.txt", ns_test_tmp(""));
    put(outside, "precious");
    snprintf(lockfile, sizeof lockfile, "%s/.netsmith-run.lock", dir);
    assert_int_equal(symlink(outside, lockfile), 0);
    ns_dir_lock *l = NULL;
    NS_ASSERT_STATUS(ctx, ns_dir_lock_open(ctx, dir, "run", "x", &l), NS_ERR_IO);
    assert_null(l);
    NS_ASSERT_MSG_HAS(ctx, lockfile);
    NS_ASSERT_MSG_HAS(ctx, "symbolic link");
    assert_string_equal(slurp(outside), "precious");

    /* A hard link to another file, planted there: refused, the file not truncated. */
    assert_int_equal(unlink(lockfile), 0);
    assert_int_equal(link(outside, lockfile), 0);
    NS_ASSERT_STATUS(ctx, ns_dir_lock_open(ctx, dir, "run", "x", &l), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "not a plain file of its own");
    assert_string_equal(slurp(outside), "precious");
    ns_ctx_free(ctx);
}

/* ---- allocation failures --------------------------------------------------------------------- */

static void test_out_of_memory(void **state)
{
    (void)state;
    const char *dir = fresh_dir("oom");
    char path[256], ldir[256];
    snprintf(path, sizeof path, "%s/f.json", dir);
    snprintf(ldir, sizeof ldir, "%s/held", dir);
    put(path, "old");
    for (size_t fail_at = 1; fail_at <= 3; fail_at++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        ta.fail_at = ta.calls + fail_at;
        json_t *j = json_pack("{s:i}", "k", 1);
        ns_status st = ns_write_json(ctx, path, j, 0);
        json_decref(j);
        if (st == NS_OK) {
            assert_string_equal(slurp(path), "{\"k\": 1}");
            put(path, "old");
        } else {
            assert_int_equal(st, NS_ERR_NOMEM);
            assert_string_equal(slurp(path), "old");
        }
        ta.fail_at = ta.calls + fail_at;
        ns_dir_lock *l = NULL;
        st = ns_dir_lock_open(ctx, ldir, "run", "x", &l);
        assert_true(st == NS_OK || st == NS_ERR_NOMEM);
        assert_true((st == NS_OK) == (l != NULL));
        ns_dir_lock_close(l);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        assert_int_equal(count_tmp(dir), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_at_old_names),
        cmocka_unit_test(test_links_at_every_guessed_name),
        cmocka_unit_test(test_link_at_target),
        cmocka_unit_test(test_permissions_follow_umask),
        cmocka_unit_test(test_abandon_and_bad_paths),
        cmocka_unit_test(test_write_failure_keeps_old_file),
        cmocka_unit_test(test_lock_refuses_a_second_process),
        cmocka_unit_test(test_lock_of_a_killed_holder_is_free),
        cmocka_unit_test(test_lock_file_link_refused),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_make_dirs),
    };
    return cmocka_run_group_tests(tests, ns_test_tmpdir_setup, ns_test_tmpdir_teardown);
}
