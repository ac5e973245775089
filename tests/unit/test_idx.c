/* IDX loading (ns_data_load_idx): hand-made files, plain and gzipped, load with the right
 * shapes, scaled values, labels and classes; one case per malformed-file rule with the message
 * it must give; allocation-failure injection; progress reports and cancellation. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "testutil.h"

#include "data/dataset_private.h"

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ns_test_idx_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
    return 0;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

/* ---- making files ------------------------------------------------------------------------ */

/* What to write: the magic, the dimensions (as many as the magic's last byte says, at most 3)
 * and the data: their product plus delta bytes, or exactly len bytes when len > 0. */
typedef struct idx_spec {
    uint32_t magic;
    uint32_t dims[3];
    long delta;
    long len;
} idx_spec;

/* How a file is stored. */
typedef enum store_mode {
    PLAIN = 0,
    GZ,         /* gzipped */
    GZ_CORRUPT, /* gzipped, then the first deflate block header overwritten */
    GZ_CUT,     /* gzipped, then cut in half */
    GZ_JUNK,    /* gzipped, then bytes that are not gzip appended */
    EMPTY,      /* a file of 0 bytes */
    ABSENT      /* no file at all */
} store_mode;

/* Pixel j of image i, a pattern that includes 0 and 255. */
static unsigned char pixel(size_t k)
{
    return (unsigned char)(k * 37 % 256);
}

static unsigned char *idx_bytes(const idx_spec *s, bool labels, size_t *n)
{
    int ndim = (int)(s->magic & 0xff);
    if (ndim > 3)
        ndim = 3;
    uint64_t prod = 1;
    for (int i = 0; i < ndim; i++)
        prod *= s->dims[i];
    size_t data = s->len > 0 ? (size_t)s->len : (size_t)((long)prod + s->delta);
    *n = 4 + 4 * (size_t)ndim + data;
    unsigned char *b = malloc(*n);
    assert_non_null(b);
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(s->magic >> (24 - 8 * i));
    for (int d = 0; d < ndim; d++)
        for (int i = 0; i < 4; i++)
            b[4 + 4 * d + i] = (unsigned char)(s->dims[d] >> (24 - 8 * i));
    unsigned char *p = b + 4 + 4 * ndim;
    for (size_t k = 0; k < data; k++)
        p[k] = labels ? (unsigned char)(k % 3) : pixel(k);
    return b;
}

static void write_raw(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_raw(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 22);
    assert_non_null(b);
    *n = fread(b, 1, 1 << 22, f);
    fclose(f);
    return b;
}

static void write_gz(const char *path, const void *b, size_t n)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

/* Writes spec as mode to tmpdir/name and returns the path (static storage, one per slot). */
static const char *write_idx(int slot, const char *name, const idx_spec *s, bool labels,
                             store_mode mode)
{
    static char paths[4][512];
    char *path = paths[slot];
    snprintf(path, sizeof paths[slot], "%s/%s", tmpdir, name);
    unlink(path);
    if (mode == ABSENT)
        return path;
    if (mode == EMPTY) {
        write_raw(path, "", 0);
        return path;
    }
    size_t n;
    unsigned char *b = idx_bytes(s, labels, &n);
    if (mode == PLAIN) {
        write_raw(path, b, n);
    } else {
        write_gz(path, b, n);
        size_t zn;
        unsigned char *z = read_raw(path, &zn);
        if (mode == GZ_CORRUPT) {
            memset(z + 10, 0xff, 4); /* BFINAL=1, BTYPE=11: a reserved block type */
        } else if (mode == GZ_CUT) {
            zn /= 2;
        } else if (mode == GZ_JUNK) {
            memcpy(z + zn, "junk", 4);
            zn += 4;
        }
        write_raw(path, z, zn);
        free(z);
    }
    free(b);
    return path;
}

/* Three 2x3 images and their labels 0, 1, 2. */
static const idx_spec good_images = {0x00000803, {3, 2, 3}, 0, 0};
static const idx_spec good_labels = {0x00000801, {3, 0, 0}, 0, 0};

/* ---- loading good files ------------------------------------------------------------------- */

static void check_small(const ns_dataset *ds, const char *images_path)
{
    assert_int_equal(ns_dataset_rows(ds), 3);
    int shape[NS_MAX_DIMS - 1];
    assert_int_equal(ns_dataset_input_shape(ds, shape), 3);
    assert_int_equal(shape[0], 1);
    assert_int_equal(shape[1], 2);
    assert_int_equal(shape[2], 3);
    assert_int_equal(ns_dataset_feature_count(ds), 6);
    assert_int_equal(ns_dataset_task(ds), NS_TASK_CLASSIFICATION);
    assert_int_equal(ns_dataset_target_count(ds), 1);
    assert_int_equal(ns_dataset_class_count(ds), 3);
    assert_string_equal(ns_dataset_class_name(ds, 0), "0");
    assert_string_equal(ns_dataset_class_name(ds, 2), "2");
    assert_null(ns_dataset_class_name(ds, 3));
    assert_string_equal(ns_dataset_target_name(ds, 0), "label");
    assert_string_equal(ns_dataset_name(ds), images_path);
    /* Bytes are kept as bytes and scaled by 1/255 when gathered. */
    assert_non_null(ds->store->xu);
    assert_null(ds->store->xf);
    float x[6];
    int32_t label = -1;
    for (int64_t r = 0; r < 3; r++) {
        ns_dataset_row(ds, r, x, NULL, &label);
        assert_int_equal(label, r);
        for (int j = 0; j < 6; j++) {
            NS_ASSERT_CLOSE(x[j], pixel((size_t)r * 6 + (size_t)j) / 255.0, 1e-6, 1e-7);
            assert_true(x[j] >= 0.0f && x[j] <= 1.0f);
        }
    }
    ns_dataset_row(ds, 0, x, NULL, NULL);
    assert_true(x[0] == 0.0f); /* pixel 0 is 0 */
}

static void test_load_plain(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *img = write_idx(0, "p-images-idx3-ubyte", &good_images, false, PLAIN);
    const char *lab = write_idx(1, "p-labels-idx1-ubyte", &good_labels, true, PLAIN);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, lab, NULL, &ds));
    check_small(ds, img);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Gzipped files load to the same rows, and the labels are found beside the images. */
static void test_load_gz_and_find_labels(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *img = write_idx(0, "q-images-idx3-ubyte", &good_images, false, PLAIN);
    const char *lab = write_idx(1, "q-labels-idx1-ubyte", &good_labels, true, PLAIN);
    ns_dataset *plain = NULL, *gz = NULL, *mixed = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, lab, NULL, &plain));

    img = write_idx(0, "train-images-idx3-ubyte.gz", &good_images, false, GZ);
    write_idx(1, "train-labels-idx1-ubyte.gz", &good_labels, true, GZ);
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, NULL, NULL, &gz));
    check_small(gz, img);
    assert_true(ns_dataset_hash(gz) == ns_dataset_hash(plain));

    /* Gzipped images beside unpacked labels (and the other way round) are found too. */
    img = write_idx(0, "t10k-images-idx3-ubyte.gz", &good_images, false, GZ);
    write_idx(1, "t10k-labels-idx1-ubyte", &good_labels, true, PLAIN);
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, NULL, NULL, &mixed));
    assert_true(ns_dataset_hash(mixed) == ns_dataset_hash(plain));
    ns_dataset_free(mixed);
    img = write_idx(0, "x-images.idx3-ubyte", &good_images, false, PLAIN);
    write_idx(1, "x-labels.idx1-ubyte.gz", &good_labels, true, GZ);
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, NULL, NULL, &mixed));
    assert_true(ns_dataset_hash(mixed) == ns_dataset_hash(plain));

    ns_dataset_free(mixed);
    ns_dataset_free(gz);
    ns_dataset_free(plain);
    ns_ctx_free(ctx);
}

/* MNIST-like labels 0..9 give ten classes "0".."9"; classes = the largest label + 1. */
static void test_class_count(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    unsigned char labels[8 + 10];
    const unsigned char head[8] = {0, 0, 8, 1, 0, 0, 0, 10};
    memcpy(labels, head, 8);
    for (int i = 0; i < 10; i++)
        labels[8 + i] = (unsigned char)(9 - i);
    const idx_spec images = {0x00000803, {10, 1, 1}, 0, 0};
    const char *img = write_idx(0, "ten-images-idx3-ubyte", &images, false, PLAIN);
    char lab[512];
    snprintf(lab, sizeof lab, "%s/ten-labels-idx1-ubyte", tmpdir);
    write_raw(lab, labels, sizeof labels);
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, NULL, NULL, &ds));
    assert_int_equal(ns_dataset_class_count(ds), 10);
    assert_string_equal(ns_dataset_class_name(ds, 9), "9");
    int32_t label;
    ns_dataset_row(ds, 0, NULL, NULL, &label);
    assert_int_equal(label, 9);
    ns_dataset_free(ds);

    /* Labels 0..4 only: five classes. */
    for (int i = 0; i < 10; i++)
        labels[8 + i] = (unsigned char)(i % 5);
    write_raw(lab, labels, sizeof labels);
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, lab, NULL, &ds));
    assert_int_equal(ns_dataset_class_count(ds), 5);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* ---- malformed files ------------------------------------------------------------------------ */

typedef struct bad_case {
    const char *what;
    idx_spec images, labels;
    store_mode images_mode, labels_mode;
    const char *images_name; /* NULL: "bad-images-idx3-ubyte" (+ ".gz" when gzipped) */
    bool derive_labels;      /* pass labels_path NULL */
    ns_status want;
    const char *needle, *needle2; /* both must be in the message (needle2 may be NULL) */
    bool labels_at_fault;         /* the message names the labels file, not the images */
} bad_case;

#define IMG(n, r, c)                                                                               \
    {                                                                                              \
        0x00000803, {n, r, c}, 0, 0                                                                \
    }
#define LAB(n)                                                                                     \
    {                                                                                              \
        0x00000801, {n, 0, 0}, 0, 0                                                                \
    }

/* clang-format off */
static const bad_case bad_cases[] = {
    {"bad magic", {0x504b0304, {3, 2, 3}, 0, 0}, LAB(3), PLAIN, PLAIN, NULL, false,
     NS_ERR_FORMAT, "not an IDX file", "50 4b 03 04", false},
    {"wrong type code (float32)", {0x00000d03, {3, 2, 3}, 0, 0}, LAB(3), PLAIN, PLAIN, NULL,
     false, NS_ERR_FORMAT, "type code 0x0d (float32)", "convert", false},
    {"wrong type code (int32), gzipped", {0x00000c03, {3, 2, 3}, 0, 0}, LAB(3), GZ, PLAIN, NULL,
     false, NS_ERR_FORMAT, "type code 0x0c (int32)", NULL, false},
    {"labels file given as images", LAB(3), LAB(3), PLAIN, PLAIN, NULL, false, NS_ERR_FORMAT,
     "looks like a labels file", "0x00000803", false},
    {"images file given as labels", IMG(3, 2, 3), IMG(3, 2, 3), PLAIN, PLAIN, NULL, false,
     NS_ERR_FORMAT, "looks like an images file", NULL, true},
    {"zero rows", IMG(3, 0, 3), LAB(3), PLAIN, PLAIN, NULL, false, NS_ERR_FORMAT,
     "dimension 1 (rows) is 0", NULL, false},
    {"zero images", IMG(0, 2, 3), LAB(0), PLAIN, PLAIN, NULL, false, NS_ERR_FORMAT,
     "dimension 0 (count) is 0", NULL, false},
    {"zero labels", IMG(3, 2, 3), LAB(0), PLAIN, PLAIN, NULL, false, NS_ERR_FORMAT,
     "dimension 0 (count) is 0", NULL, true},
    {"dimensions too large", {0x00000803, {0xffffffffu, 0xffffffffu, 0xffffffffu}, 0, 100},
     LAB(3), PLAIN, PLAIN, NULL, false, NS_ERR_FORMAT, "more than netsmith can hold", NULL,
     false},
    {"truncated images", {0x00000803, {3, 2, 3}, -5, 0}, LAB(3), PLAIN, PLAIN, NULL, false,
     NS_ERR_FORMAT, "truncated: the IDX header says 3 images of 2 x 3 pixels, 18 bytes",
     "only 13 (29 with the header)", false},
    {"truncated images, gzipped", {0x00000803, {3, 2, 3}, -5, 0}, LAB(3), GZ, PLAIN, NULL,
     false, NS_ERR_FORMAT, "(34 with the header, after decompression)", "only 13", false},
    {"huge count on a small file", {0x00000803, {0x7fffffff, 28, 28}, 0, 100}, LAB(3), PLAIN,
     PLAIN, NULL, false, NS_ERR_FORMAT, "truncated", "only 100", false},
    {"huge count on a small gzip file", {0x00000803, {0x7fffffff, 28, 28}, 0, 100}, LAB(3), GZ,
     PLAIN, NULL, false, NS_ERR_FORMAT, "truncated", "only 100", false},
    {"truncated labels", IMG(3, 2, 3), {0x00000801, {3, 0, 0}, -1, 0}, PLAIN, PLAIN, NULL,
     false, NS_ERR_FORMAT, "3 labels, 3 bytes", "only 2", true},
    {"truncated labels, gzipped", IMG(3, 2, 3), {0x00000801, {3, 0, 0}, -1, 0}, PLAIN, GZ,
     NULL, false, NS_ERR_FORMAT, "truncated", "only 2", true},
    {"trailing bytes after images", {0x00000803, {3, 2, 3}, 3, 0}, LAB(3), PLAIN, PLAIN, NULL,
     false, NS_ERR_FORMAT, "3 bytes of trailing data", "holds 21", false},
    {"trailing bytes after images, gzipped", {0x00000803, {3, 2, 3}, 3, 0}, LAB(3), GZ, PLAIN,
     NULL, false, NS_ERR_FORMAT, "3 bytes of trailing data", NULL, false},
    {"trailing bytes after labels", IMG(3, 2, 3), {0x00000801, {3, 0, 0}, 2, 0}, PLAIN, PLAIN,
     NULL, false, NS_ERR_FORMAT, "2 bytes of trailing data", NULL, true},
    {"label count differs", IMG(3, 2, 3), LAB(2), PLAIN, PLAIN, NULL, false, NS_ERR_FORMAT,
     "2 labels", "has 3 images", true},
    {"corrupted gzip", IMG(3, 2, 3), LAB(3), GZ_CORRUPT, PLAIN, NULL, false, NS_ERR_FORMAT,
     "corrupt gzip data", "download", false},
    {"gzip cut short", IMG(3, 2, 3), LAB(3), GZ_CUT, PLAIN, NULL, false, NS_ERR_FORMAT,
     "gzip stream ends early", NULL, false},
    {"junk after the gzip stream", IMG(3, 2, 3), LAB(3), GZ_JUNK, PLAIN, NULL, false,
     NS_ERR_FORMAT, "non-gzip bytes follow", NULL, false},
    {"empty images file", IMG(3, 2, 3), LAB(3), EMPTY, PLAIN, NULL, false, NS_ERR_FORMAT,
     "the file is empty", "images", false},
    {"empty labels file", IMG(3, 2, 3), LAB(3), PLAIN, EMPTY, NULL, false, NS_ERR_FORMAT,
     "the file is empty", "labels", true},
    {"header cut short", IMG(3, 2, 3), LAB(3), PLAIN, PLAIN, "short-images-idx3-ubyte", false,
     NS_ERR_FORMAT, "inside the IDX header", NULL, false},
    {"missing images file", IMG(3, 2, 3), LAB(3), ABSENT, PLAIN, NULL, false, NS_ERR_IO,
     "cannot open", NULL, false},
    {"missing labels file", IMG(3, 2, 3), LAB(3), PLAIN, ABSENT, NULL, true, NS_ERR_IO,
     "looked for", "bad-labels-idx1-ubyte", false},
    {"no labels name to derive", IMG(3, 2, 3), LAB(3), PLAIN, ABSENT, "digits.idx", true,
     NS_ERR_IO, "no labels file given", "pass the labels file", false},
};
/* clang-format on */

static void test_bad_inputs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        bool img_gz =
            c->images_mode != PLAIN && c->images_mode != EMPTY && c->images_mode != ABSENT;
        bool lab_gz = c->labels_mode == GZ;
        char img_name[64], lab_name[64];
        snprintf(img_name, sizeof img_name, "%s",
                 c->images_name ? c->images_name
                 : img_gz       ? "bad-images-idx3-ubyte.gz"
                                : "bad-images-idx3-ubyte");
        snprintf(lab_name, sizeof lab_name, "%s",
                 lab_gz ? "bad-labels-idx1-ubyte.gz" : "bad-labels-idx1-ubyte");
        const char *img = write_idx(0, img_name, &c->images, false, c->images_mode);
        const char *lab = write_idx(1, lab_name, &c->labels, true, c->labels_mode);
        if (c->images_name && strcmp(c->images_name, "short-images-idx3-ubyte") == 0)
            write_raw(img, "\0\0\x08\x03\0\0", 6);

        ns_ctx *ctx = new_ctx();
        ns_dataset *ds = (ns_dataset *)&ds; /* must be reset to NULL */
        ns_status st = ns_data_load_idx(ctx, img, c->derive_labels ? NULL : lab, NULL, &ds);
        if (st != c->want || strstr(ns_errmsg(ctx), c->needle) == NULL ||
            (c->needle2 && strstr(ns_errmsg(ctx), c->needle2) == NULL) ||
            strstr(ns_errmsg(ctx), c->labels_at_fault ? lab : img) == NULL)
            print_error("case \"%s\": got %s \"%s\"; want %s with \"%s\"%s%s\n", c->what,
                        ns_status_str(st), ns_errmsg(ctx), ns_status_str(c->want), c->needle,
                        c->needle2 ? " and " : "", c->needle2 ? c->needle2 : "");
        NS_ASSERT_STATUS(ctx, st, c->want);
        NS_ASSERT_MSG_HAS(ctx, c->needle);
        if (c->needle2)
            NS_ASSERT_MSG_HAS(ctx, c->needle2);
        NS_ASSERT_MSG_HAS(ctx, c->labels_at_fault ? lab : img);
        assert_null(ds);
        ns_ctx_free(ctx);
        unlink(img);
        unlink(lab);
    }
}

/* ---- allocation failures ----------------------------------------------------------------- */

/* Fails the 1st, 2nd, ... allocation of a load until it succeeds: every failure must be
 * NS_ERR_NOMEM with nothing leaked (zlib's allocations go through the same hooks). */
static void alloc_failures(const char *images, const char *labels)
{
    for (size_t nth = 1;; nth++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        ta.fail_at = ta.calls + nth;
        ns_dataset *ds = NULL;
        ns_status st = ns_data_load_idx(ctx, images, labels, NULL, &ds);
        if (st != NS_OK) {
            NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
            NS_ASSERT_MSG_HAS(ctx, "out of memory");
            assert_null(ds);
        } else {
            assert_int_equal(ns_dataset_rows(ds), 3);
        }
        ns_dataset_free(ds);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        if (st == NS_OK) {
            assert_true(nth > 5); /* the load allocates several times: all were exercised */
            return;
        }
        assert_true(nth < 1000);
    }
}

static void test_alloc_failures(void **state)
{
    (void)state;
    const char *img = write_idx(0, "oom-images-idx3-ubyte.gz", &good_images, false, GZ);
    write_idx(1, "oom-labels-idx1-ubyte.gz", &good_labels, true, GZ);
    alloc_failures(img, NULL);
    img = write_idx(0, "oomp-images-idx3-ubyte", &good_images, false, PLAIN);
    const char *lab = write_idx(1, "oomp-labels-idx1-ubyte", &good_labels, true, PLAIN);
    alloc_failures(img, lab);
}

/* ---- progress and cancellation ------------------------------------------------------------ */

typedef struct progress_log {
    int calls;
    int cancel_at; /* return false on this call (0: never) */
    double last_done, total;
    bool monotonic, stage_ok;
    const char *want_stage;
} progress_log;

static bool on_progress(void *ud, const char *stage, double done, double total)
{
    progress_log *p = ud;
    p->calls++;
    if (done < p->last_done || done > total)
        p->monotonic = false;
    if (strcmp(stage, p->want_stage) != 0)
        p->stage_ok = false;
    p->last_done = done;
    p->total = total;
    return p->calls != p->cancel_at;
}

/* 3000 images of 28x28 (2.3 MB: several progress chunks). */
static const idx_spec big_images = {0x00000803, {3000, 28, 28}, 0, 0};
static const idx_spec big_labels = {0x00000801, {3000, 0, 0}, 0, 0};

static void test_progress(void **state)
{
    (void)state;
    const char *img = write_idx(0, "big-images-idx3-ubyte.gz", &big_images, false, GZ);
    write_idx(1, "big-labels-idx1-ubyte.gz", &big_labels, true, GZ);
    ns_ctx *ctx = new_ctx();
    progress_log log = {.monotonic = true, .stage_ok = true, .want_stage = "inflate"};
    ns_progress pr = {on_progress, &log, NULL};
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, NULL, &pr, &ds));
    assert_true(log.calls >= 4);
    assert_true(log.monotonic);
    assert_true(log.stage_ok);
    NS_ASSERT_CLOSE(log.total, 3000.0 * 784 + 3000, 0, 0);
    NS_ASSERT_CLOSE(log.last_done, log.total, 0, 0);
    assert_int_equal(ns_dataset_rows(ds), 3000);
    ns_dataset_free(ds);

    /* Plain files report the stage "read". */
    img = write_idx(0, "bigp-images-idx3-ubyte", &big_images, false, PLAIN);
    write_idx(1, "bigp-labels-idx1-ubyte", &big_labels, true, PLAIN);
    log = (progress_log){.monotonic = true, .stage_ok = true, .want_stage = "read"};
    NS_ASSERT_OK(ctx, ns_data_load_idx(ctx, img, NULL, &pr, &ds));
    assert_true(log.stage_ok);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_cancel(void **state)
{
    (void)state;
    const char *img = write_idx(0, "cancel-images-idx3-ubyte.gz", &big_images, false, GZ);
    write_idx(1, "cancel-labels-idx1-ubyte.gz", &big_labels, true, GZ);
    /* Cancelled by the callback at its 1st, 2nd and 3rd report: nothing is left behind. */
    for (int at = 1; at <= 3; at++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        progress_log log = {
            .cancel_at = at, .monotonic = true, .stage_ok = true, .want_stage = "inflate"};
        ns_progress pr = {on_progress, &log, NULL};
        ns_dataset *ds = NULL;
        NS_ASSERT_STATUS(ctx, ns_data_load_idx(ctx, img, NULL, &pr, &ds), NS_ERR_CANCELLED);
        NS_ASSERT_MSG_HAS(ctx, "cancelled");
        NS_ASSERT_MSG_HAS(ctx, img);
        assert_int_equal(log.calls, at);
        assert_null(ds);
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
    }
    /* The cancel flag, set before the call (as another thread would), stops it too. */
    ns_ctx *ctx = new_ctx();
    atomic_int flag;
    atomic_init(&flag, 1);
    ns_progress pr = {NULL, NULL, &flag};
    ns_dataset *ds = NULL;
    NS_ASSERT_STATUS(ctx, ns_data_load_idx(ctx, img, NULL, &pr, &ds), NS_ERR_CANCELLED);
    assert_null(ds);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_plain),     cmocka_unit_test(test_load_gz_and_find_labels),
        cmocka_unit_test(test_class_count),    cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_progress),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
