/* The fuzz targets' shared helpers: the limiting allocator, the scratch directory, input parts. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the limiting allocator ------------------------------------------------------------------ */

static struct {
    size_t live_bytes; /* malloc_usable_size of the live blocks */
    long live_blocks;
    int refused;
} alloc_state;

static int admit(size_t size, size_t old_bytes)
{
    if (size > NS_FUZZ_MAX_ALLOC || alloc_state.live_bytes - old_bytes + size > NS_FUZZ_MAX_LIVE) {
        alloc_state.refused = 1;
        return 0;
    }
    return 1;
}

static void *fz_malloc(void *ud, size_t size)
{
    (void)ud;
    if (!admit(size, 0))
        return NULL;
    void *p = malloc(size);
    if (p != NULL) {
        alloc_state.live_bytes += malloc_usable_size(p);
        alloc_state.live_blocks++;
    }
    return p;
}

static void *fz_realloc(void *ud, void *ptr, size_t size)
{
    if (ptr == NULL)
        return fz_malloc(ud, size);
    size_t old = malloc_usable_size(ptr);
    if (!admit(size, old))
        return NULL;
    void *p = realloc(ptr, size);
    if (p != NULL)
        alloc_state.live_bytes = alloc_state.live_bytes - old + malloc_usable_size(p);
    return p;
}

static void fz_free(void *ud, void *ptr)
{
    (void)ud;
    if (ptr == NULL)
        return;
    alloc_state.live_bytes -= malloc_usable_size(ptr);
    alloc_state.live_blocks--;
    free(ptr);
}

ns_ctx *ns_fuzz_ctx(void)
{
    memset(&alloc_state, 0, sizeof alloc_state);
    ns_allocator a = {fz_malloc, fz_realloc, fz_free, NULL};
    ns_ctx *ctx = NULL;
    if (ns_ctx_new(&a, &ctx) != NS_OK)
        ns_fuzz_fail("ns_ctx_new", "cannot make a context");
    return ctx;
}

void ns_fuzz_ctx_free(ns_ctx *ctx)
{
    ns_ctx_free(ctx);
    if (alloc_state.live_blocks != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "%ld block(s), %zu bytes", alloc_state.live_blocks,
                 alloc_state.live_bytes);
        ns_fuzz_fail("blocks of the context's allocator were never freed", msg);
    }
}

int ns_fuzz_refused(void)
{
    return alloc_state.refused;
}

/* ---- the scratch directory ------------------------------------------------------------------- */

#define MAX_FILES 8

static char scratch_dir[64];
static char file_names[MAX_FILES][32];
static char file_paths[MAX_FILES][128];
static int n_files;

static void remove_scratch(void)
{
    for (int i = 0; i < n_files; i++)
        unlink(file_paths[i]);
    /* Parsers that write beside their input (none should) would leave the directory behind. */
    rmdir(scratch_dir);
}

const char *ns_fuzz_path(const char *name)
{
    if (scratch_dir[0] == '\0') {
        snprintf(scratch_dir, sizeof scratch_dir, "/tmp/netsmith-fuzz.%ld", (long)getpid());
        if (mkdir(scratch_dir, 0700) != 0 && access(scratch_dir, W_OK) != 0)
            ns_fuzz_fail("cannot make the scratch directory", scratch_dir);
        atexit(remove_scratch);
    }
    for (int i = 0; i < n_files; i++)
        if (strcmp(file_names[i], name) == 0)
            return file_paths[i];
    if (n_files == MAX_FILES || strlen(name) >= sizeof file_names[0])
        ns_fuzz_fail("too many or too long scratch file names", name);
    snprintf(file_names[n_files], sizeof file_names[0], "%s", name);
    snprintf(file_paths[n_files], sizeof file_paths[0], "%s/%s", scratch_dir, name);
    return file_paths[n_files++];
}

const char *ns_fuzz_write(const char *name, const void *data, size_t size)
{
    const char *path = ns_fuzz_path(name);
    /* Overwritten in place and cut to size rather than opened with O_TRUNC: ext4 flushes a
     * file truncated to 0 when it is closed, which costs milliseconds a run. */
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    if (fd < 0)
        ns_fuzz_fail("cannot create a scratch file", path);
    const char *p = data;
    size_t left = size;
    off_t at = 0;
    while (left > 0) {
        ssize_t k = pwrite(fd, p, left, at);
        if (k <= 0)
            ns_fuzz_fail("cannot write a scratch file", path);
        p += k;
        at += k;
        left -= (size_t)k;
    }
    if (ftruncate(fd, (off_t)size) != 0)
        ns_fuzz_fail("cannot cut a scratch file to size", path);
    close(fd);
    return path;
}

/* ---- inputs ------------------------------------------------------------------------------------
 */

int ns_fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i < size && n < max - 1; i++) {
        if (data[i] == 0) {
            parts[n] = data + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    parts[n] = data + start;
    lens[n++] = size - start;
    return n;
}

char *ns_fuzz_strndup(const uint8_t *part, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        ns_fuzz_fail("malloc", "out of memory copying the input");
    if (len > 0)
        memcpy(s, part, len);
    s[len] = '\0';
    return s;
}

void ns_fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "netsmith fuzz: %s: %s\n", what, detail ? detail : "");
    abort();
}

void ns_fuzz_check_dataset(const ns_dataset *ds, const char *what)
{
    int64_t rows = ns_dataset_rows(ds);
    int nf = ns_dataset_feature_count(ds), nt = ns_dataset_target_count(ds);
    int classes = ns_dataset_class_count(ds);
    bool cls = ns_dataset_task(ds) == NS_TASK_CLASSIFICATION;
    if (rows < 0 || nf < 1 || nt < 1 || (cls && classes < 1))
        ns_fuzz_fail(what, "no features, targets or classes");
    for (int i = 0; i < classes; i++)
        if (ns_dataset_class_name(ds, i) == NULL)
            ns_fuzz_fail("a class has no name", NULL);
    for (int i = 0; i < nf; i++)
        if (ns_dataset_feature_name(ds, i) == NULL)
            ns_fuzz_fail("a feature has no name", NULL);
    for (int i = 0; i < nt; i++)
        if (ns_dataset_target_name(ds, i) == NULL)
            ns_fuzz_fail("a target has no name", NULL);
    float *x = malloc((size_t)nf * sizeof *x), *y = malloc((size_t)nt * sizeof *y);
    if (x == NULL || y == NULL)
        ns_fuzz_fail("malloc", "out of memory");
    for (int64_t r = 0; r < rows; r++) {
        int32_t label = -1;
        ns_dataset_row(ds, r, x, cls ? NULL : y, cls ? &label : NULL);
        if (cls && (label < 0 || label >= classes))
            ns_fuzz_fail("a row's label is not a class", NULL);
    }
    (void)ns_dataset_hash(ds);
    free(x);
    free(y);
}
