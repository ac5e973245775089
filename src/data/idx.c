/* Data Load for IDX files (the MNIST format): unsigned-byte image and label files, plain or
 * gzipped, read straight into a byte-feature dataset. Every header, size and stream defect is
 * an error naming the file and saying how to fix it.
 *
 * Layout: magic 00 00 TT NN (TT the element type, NN the number of dimensions), NN big-endian
 * u32 dimensions, then the elements row-major. Images are 00 00 08 03 (N, rows, columns),
 * labels 00 00 08 01 (N). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "data/dataset_private.h"

#define IDX_TYPE_U8 0x08
#define IDX_MAX_DIMS 3
#define IN_CAP (64 * 1024)      /* compressed bytes read from disk at a time */
#define CHUNK ((size_t)1 << 20) /* payload bytes between progress reports */
#define DEFLATE_MAX_RATIO 1032u /* deflate never expands data by more than this */

/* ---- reading plain or gzipped bytes -------------------------------------------------------- */

/* One open IDX file. For gzip files the bytes handed out are the decompressed stream (any
 * number of concatenated gzip members, as gzip itself writes them). zlib allocates through the
 * context's hooks, so allocation-failure tests reach it too. */
typedef struct idx_reader {
    ns_ctx *ctx;
    const char *path;
    FILE *fp;
    uint64_t file_size; /* bytes on disk; 0 when unknown (not a regular file) */
    bool gz;
    bool z_ready; /* inflateInit2 succeeded, so inflateEnd is owed */
    bool z_done;  /* the last gzip member ended and nothing follows it */
    z_stream zs;
    unsigned char *in;     /* [IN_CAP] compressed input (gzip only) */
    unsigned char head[2]; /* bytes read to sniff the gzip magic, handed out first (plain) */
    size_t head_len, head_pos;
} idx_reader;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size != 0 && items > SIZE_MAX / size)
        return Z_NULL;
    return ns_alloc(opaque, (size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    ns_dealloc(opaque, p);
}

static void reader_close(idx_reader *r)
{
    if (r->z_ready)
        inflateEnd(&r->zs);
    r->z_ready = false;
    ns_dealloc(r->ctx, r->in);
    r->in = NULL;
    if (r->fp != NULL)
        fclose(r->fp);
    r->fp = NULL;
}

/* Opens path and sniffs the gzip magic (1f 8b). On failure the reader holds nothing. */
static ns_status reader_open(ns_ctx *ctx, const char *path, idx_reader *r)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->path = path;
    r->fp = fopen(path, "rb");
    if (r->fp == NULL)
        return ns_errorf(ctx, NS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(r->fp), &sb) == 0 && S_ISREG(sb.st_mode))
        r->file_size = (uint64_t)sb.st_size;
    r->head_len = fread(r->head, 1, sizeof r->head, r->fp);
    if (ferror(r->fp)) {
        ns_status st = ns_errorf(ctx, NS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        reader_close(r);
        return st;
    }
    if (r->head_len == 2 && r->head[0] == 0x1f && r->head[1] == 0x8b) {
        r->gz = true;
        r->in = ns_alloc(ctx, IN_CAP);
        if (r->in == NULL) {
            reader_close(r);
            return NS_ERR_NOMEM;
        }
        memcpy(r->in, r->head, 2);
        r->zs.next_in = r->in;
        r->zs.avail_in = 2;
        r->zs.zalloc = z_alloc;
        r->zs.zfree = z_free;
        r->zs.opaque = ctx;
        int zst = inflateInit2(&r->zs, 16 + MAX_WBITS); /* gzip wrapper only */
        if (zst != Z_OK) {
            reader_close(r);
            if (zst == Z_MEM_ERROR)
                return ns_errorf(ctx, NS_ERR_NOMEM, "%s: out of memory starting to inflate", path);
            return ns_errorf(ctx, NS_ERR_IO, "%s: cannot start zlib (error %d)", path, zst);
        }
        r->z_ready = true;
    }
    return NS_OK;
}

/* Refills the compressed input; *eof is set when the file has no more bytes. */
static ns_status gz_fill(idx_reader *r, bool *eof)
{
    *eof = false;
    if (r->zs.avail_in > 0)
        return NS_OK;
    size_t k = fread(r->in, 1, IN_CAP, r->fp);
    if (k == 0 && ferror(r->fp))
        return ns_errorf(r->ctx, NS_ERR_IO, "%s: cannot read: %s", r->path, strerror(errno));
    r->zs.next_in = r->in;
    r->zs.avail_in = (uInt)k;
    *eof = k == 0;
    return NS_OK;
}

/* Up to n (<= UINT_MAX) decompressed bytes into dst; *got < n only at the end of the data. */
static ns_status gz_read(idx_reader *r, unsigned char *dst, size_t n, size_t *got)
{
    z_stream *zs = &r->zs;
    zs->next_out = dst;
    zs->avail_out = (uInt)n;
    ns_status st = NS_OK;
    while (zs->avail_out > 0 && !r->z_done) {
        bool eof;
        if ((st = gz_fill(r, &eof)) != NS_OK)
            break;
        if (eof) {
            st = ns_errorf(r->ctx, NS_ERR_FORMAT,
                           "%s: the gzip stream ends early: the file stops after %" PRIu64
                           " compressed bytes; download or copy it again",
                           r->path, (uint64_t)zs->total_in);
            break;
        }
        int zst = inflate(zs, Z_NO_FLUSH);
        if (zst == Z_STREAM_END) {
            /* Another gzip member may follow (gzip concatenates them); anything else is junk. */
            if ((st = gz_fill(r, &eof)) != NS_OK)
                break;
            if (eof) {
                r->z_done = true;
            } else if (zs->next_in[0] == 0x1f) {
                inflateReset(zs);
            } else {
                st = ns_errorf(r->ctx, NS_ERR_FORMAT,
                               "%s: non-gzip bytes follow the end of the compressed data; the "
                               "file is damaged: download or copy it again",
                               r->path);
                break;
            }
        } else if (zst == Z_MEM_ERROR) {
            st = ns_errorf(r->ctx, NS_ERR_NOMEM, "%s: out of memory while inflating", r->path);
            break;
        } else if (zst != Z_OK) {
            st = ns_errorf(r->ctx, NS_ERR_FORMAT,
                           "%s: corrupt gzip data after %" PRIu64 " compressed bytes (%s); the "
                           "file is damaged: download or copy it again (gzip -t checks it)",
                           r->path, (uint64_t)zs->total_in, zs->msg ? zs->msg : "inflate failed");
            break;
        }
    }
    *got = n - zs->avail_out;
    return st;
}

/* Up to n bytes into dst; *got < n only at the end of the data (for gzip: its decompressed
 * data). Reads of any size are split for zlib's 32-bit counters. */
static ns_status reader_read(idx_reader *r, void *dst, size_t n, size_t *got)
{
    unsigned char *p = dst;
    *got = 0;
    if (!r->gz) {
        while (*got < n && r->head_pos < r->head_len)
            p[(*got)++] = r->head[r->head_pos++];
        *got += fread(p + *got, 1, n - *got, r->fp);
        if (*got < n && ferror(r->fp))
            return ns_errorf(r->ctx, NS_ERR_IO, "%s: cannot read: %s", r->path, strerror(errno));
        return NS_OK;
    }
    while (*got < n) {
        size_t want = n - *got < UINT_MAX ? n - *got : UINT_MAX, k;
        ns_status st = gz_read(r, p + *got, want, &k);
        *got += k;
        if (st != NS_OK || k < want)
            return st;
    }
    return NS_OK;
}

/* Reads to the end of the data, counting the bytes left (*rest). */
static ns_status reader_count_rest(idx_reader *r, uint64_t *rest)
{
    unsigned char buf[4096];
    size_t k;
    *rest = 0;
    do {
        ns_status st = reader_read(r, buf, sizeof buf, &k);
        if (st != NS_OK)
            return st;
        *rest += k;
    } while (k == sizeof buf);
    return NS_OK;
}

/* ---- headers --------------------------------------------------------------------------------- */

typedef struct idx_header {
    int ndim;
    uint32_t dims[IDX_MAX_DIMS];
    uint64_t payload; /* bytes of data the header announces (product of dims) */
    uint64_t hdr_len; /* 4 + 4 * ndim */
    char what[64];    /* "3 images of 28 x 28 pixels", "3 labels" */
} idx_header;

static const char *type_name(unsigned code)
{
    switch (code) {
    case 0x08:
        return "unsigned byte";
    case 0x09:
        return "signed byte";
    case 0x0B:
        return "int16";
    case 0x0C:
        return "int32";
    case 0x0D:
        return "float32";
    case 0x0E:
        return "float64";
    default:
        return "not an IDX type";
    }
}

/* A short read while reading the header: an empty or cut-off file. */
static ns_status header_short(idx_reader *r, const char *kind, size_t got, size_t want,
                              size_t before)
{
    if (got + before == 0)
        return ns_errorf(r->ctx, NS_ERR_FORMAT,
                         "%s: the file is empty%s; expected an IDX %s file (MNIST format)", r->path,
                         r->gz ? " after decompression" : "", kind);
    return ns_errorf(r->ctx, NS_ERR_FORMAT,
                     "%s: truncated inside the IDX header: %zu of %zu header bytes%s; download "
                     "or extract the file again",
                     r->path, before + got, before + want, r->gz ? " after decompression" : "");
}

/* Reads and checks the header of an images (want_ndim 3) or labels (want_ndim 1) file. */
static ns_status read_header(idx_reader *r, int want_ndim, idx_header *h)
{
    ns_ctx *ctx = r->ctx;
    const char *kind = want_ndim == 3 ? "images" : "labels";
    unsigned char m[4];
    size_t got;
    ns_status st = reader_read(r, m, 4, &got);
    if (st != NS_OK)
        return st;
    if (got < 4)
        return header_short(r, kind, got, 4, 0);
    uint32_t magic = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
    if (m[0] != 0 || m[1] != 0)
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "%s: not an IDX file: it starts with %02x %02x %02x %02x%s, and IDX %s "
                         "files start with 00 00 08 %02x; pass an MNIST-format %s file",
                         r->path, m[0], m[1], m[2], m[3], r->gz ? " after decompression" : "", kind,
                         (unsigned)want_ndim, kind);
    if (m[2] != IDX_TYPE_U8)
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "%s: IDX type code 0x%02x (%s) in magic 0x%08" PRIx32 " is not "
                         "supported; netsmith reads unsigned-byte (0x08) images and labels: "
                         "convert the file to uint8",
                         r->path, m[2], type_name(m[2]), magic);
    if (m[3] != want_ndim) {
        const char *hint = "";
        if (want_ndim == 3 && m[3] == 1)
            hint = "; this looks like a labels file: pass the images file first";
        else if (want_ndim == 1 && m[3] == 3)
            hint = "; this looks like an images file: pass the labels file as the labels";
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "%s: magic 0x%08" PRIx32 " says %u dimension(s), and an IDX %s file "
                         "has %d (magic 0x%08x)%s",
                         r->path, magic, (unsigned)m[3], kind, want_ndim,
                         (unsigned)(0x800 | want_ndim), hint);
    }
    h->ndim = want_ndim;
    h->hdr_len = 4 + 4 * (uint64_t)want_ndim;
    unsigned char d[4 * IDX_MAX_DIMS];
    size_t dlen = 4 * (size_t)want_ndim;
    if ((st = reader_read(r, d, dlen, &got)) != NS_OK)
        return st;
    if (got < dlen)
        return header_short(r, kind, got, dlen, 4);
    static const char *const dim_names[IDX_MAX_DIMS] = {"count", "rows", "columns"};
    for (int i = 0; i < want_ndim; i++) {
        const unsigned char *b = d + 4 * i;
        h->dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (h->dims[i] == 0)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "%s: IDX dimension %d (%s) is 0; every dimension of an IDX %s "
                             "file must be at least 1",
                             r->path, i, dim_names[i], kind);
    }
    if (want_ndim == 3) {
        uint64_t pixels = (uint64_t)h->dims[1] * h->dims[2];
        if (pixels > INT_MAX || pixels * h->dims[0] > SIZE_MAX / 2)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "%s: the IDX header says %" PRIu32 " images of %" PRIu32 " x %" PRIu32
                             " pixels, more than netsmith can hold (at most %d pixels an image); "
                             "the header is probably corrupt",
                             r->path, h->dims[0], h->dims[1], h->dims[2], INT_MAX);
        h->payload = pixels * h->dims[0];
        snprintf(h->what, sizeof h->what, "%" PRIu32 " images of %" PRIu32 " x %" PRIu32 " pixels",
                 h->dims[0], h->dims[1], h->dims[2]);
    } else {
        h->payload = h->dims[0];
        snprintf(h->what, sizeof h->what, "%" PRIu32 " labels", h->dims[0]);
    }
    return NS_OK;
}

static ns_status truncated(idx_reader *r, const idx_header *h, uint64_t actual)
{
    const char *unz = r->gz ? ", after decompression" : "";
    return ns_errorf(r->ctx, NS_ERR_FORMAT,
                     "%s: truncated: the IDX header says %s, %" PRIu64 " bytes of data (%" PRIu64
                     " with the header%s), but the file holds only %" PRIu64 " (%" PRIu64
                     " with the header); download or extract it again",
                     r->path, h->what, h->payload, h->hdr_len + h->payload, unz, actual,
                     h->hdr_len + actual);
}

static ns_status trailing(idx_reader *r, const idx_header *h, uint64_t extra)
{
    const char *unz = r->gz ? ", after decompression" : "";
    return ns_errorf(r->ctx, NS_ERR_FORMAT,
                     "%s: %" PRIu64 " bytes of trailing data: the IDX header says %s, %" PRIu64
                     " bytes of data (%" PRIu64 " with the header%s), but the file holds %" PRIu64
                     "; the file is corrupt or its header is wrong",
                     r->path, extra, h->what, h->payload, h->hdr_len + h->payload, unz,
                     h->payload + extra);
}

/* Checks the announced size against the file before anything is allocated for it, so a
 * corrupt header cannot ask for terabytes: exact for plain files; for gzip files only when
 * even the best possible compression could not hold the data (then the true size is counted). */
static ns_status check_size(idx_reader *r, const idx_header *h)
{
    if (r->file_size == 0)
        return NS_OK;
    if (!r->gz) {
        uint64_t actual = r->file_size > h->hdr_len ? r->file_size - h->hdr_len : 0;
        if (actual < h->payload)
            return truncated(r, h, actual);
        if (actual > h->payload)
            return trailing(r, h, actual - h->payload);
        return NS_OK;
    }
    if (h->payload / DEFLATE_MAX_RATIO <= r->file_size)
        return NS_OK;
    uint64_t actual;
    ns_status st = reader_count_rest(r, &actual);
    return st != NS_OK ? st : truncated(r, h, actual);
}

/* After the data: nothing may follow. */
static ns_status check_end(idx_reader *r, const idx_header *h)
{
    uint64_t extra;
    ns_status st = reader_count_rest(r, &extra);
    if (st != NS_OK)
        return st;
    return extra > 0 ? trailing(r, h, extra) : NS_OK;
}

/* ---- the labels file beside the images ------------------------------------------------------ */

/* Name parts that turn an images file name into its labels file name, first match wins. */
static const struct {
    const char *images, *labels;
} sibling_names[] = {
    {"images-idx3", "labels-idx1"}, /* train-images-idx3-ubyte.gz (the official names) */
    {"images.idx3", "labels.idx1"}, /* train-images.idx3-ubyte (a common re-upload) */
    {"images", "labels"},
};

/* *out (allocated on ctx) = path with `from` (at offset at) replaced by `to`, and ".gz"
 * added or removed when toggle_gz. */
static ns_status replace_part(ns_ctx *ctx, const char *path, size_t at, const char *from,
                              const char *to, bool toggle_gz, char **out)
{
    size_t len = strlen(path), flen = strlen(from), tlen = strlen(to);
    bool has_gz = len >= 3 && strcmp(path + len - 3, ".gz") == 0;
    size_t keep = toggle_gz && has_gz ? len - 3 : len;
    NS_ASSERT(at + flen <= keep); /* no name part ends in ".gz" */
    char *s = ns_alloc(ctx, keep - flen + tlen + 4);
    if (s == NULL)
        return NS_ERR_NOMEM;
    memcpy(s, path, at);
    memcpy(s + at, to, tlen);
    memcpy(s + at + tlen, path + at + flen, keep - at - flen);
    s[keep - flen + tlen] = '\0';
    if (toggle_gz && !has_gz)
        strcat(s, ".gz");
    *out = s;
    return NS_OK;
}

/* Finds the labels file beside images_path: *out is allocated on ctx. */
static ns_status find_labels(ns_ctx *ctx, const char *images_path, char **out)
{
    *out = NULL;
    const char *base = strrchr(images_path, '/');
    base = base ? base + 1 : images_path;
    for (size_t i = 0; i < sizeof sibling_names / sizeof sibling_names[0]; i++) {
        const char *hit = strstr(base, sibling_names[i].images);
        if (hit == NULL)
            continue;
        size_t at = (size_t)(hit - images_path);
        char *cand[2] = {NULL, NULL}; /* as named, then with ".gz" toggled */
        ns_status st = NS_OK;
        for (int k = 0; k < 2 && st == NS_OK; k++) {
            st = replace_part(ctx, images_path, at, sibling_names[i].images,
                              sibling_names[i].labels, k == 1, &cand[k]);
            if (st == NS_OK && access(cand[k], F_OK) == 0) {
                *out = cand[k];
                cand[k] = NULL;
                break;
            }
        }
        if (st == NS_OK && *out == NULL)
            st = ns_errorf(ctx, NS_ERR_IO,
                           "%s: no labels file given and none beside it: looked for %s and %s; "
                           "put the labels file there or pass its path",
                           images_path, cand[0], cand[1]);
        ns_dealloc(ctx, cand[0]);
        ns_dealloc(ctx, cand[1]);
        return st;
    }
    return ns_errorf(ctx, NS_ERR_IO,
                     "%s: no labels file given, and the name has no \"images-idx3\" to find one "
                     "by (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz); pass the "
                     "labels file's path",
                     images_path);
}

/* ---- loading -------------------------------------------------------------------------------- */

/* Reads the labels into s->labels and names the classes "0".."max label". */
static ns_status read_labels(idx_reader *r, const idx_header *h, ns__data_store *s,
                             const ns_progress *progress, const char *stage, double done,
                             double total)
{
    unsigned char buf[4096];
    int64_t n = s->rows, i = 0;
    int max_label = 0;
    while (i < n) {
        size_t want = (size_t)(n - i < (int64_t)sizeof buf ? n - i : (int64_t)sizeof buf), got;
        ns_status st = reader_read(r, buf, want, &got);
        if (st != NS_OK)
            return st;
        for (size_t k = 0; k < got; k++) {
            s->labels[i + (int64_t)k] = buf[k];
            if (buf[k] > max_label)
                max_label = buf[k];
        }
        i += (int64_t)got;
        if (got < want)
            return truncated(r, h, (uint64_t)i);
        if ((st = ns_progress_report(s->ctx, progress, stage, done + (double)i, total)) != NS_OK)
            return st;
    }
    char text[256][12];
    const char *names[256];
    for (int c = 0; c <= max_label; c++) {
        snprintf(text[c], sizeof text[c], "%d", c);
        names[c] = text[c];
    }
    return ns__store_set_classes(s, max_label + 1, names);
}

/* Reads the images into s->xu, reporting progress every CHUNK bytes. */
static ns_status read_images(idx_reader *r, const idx_header *h, ns__data_store *s,
                             const ns_progress *progress, const char *stage, double total)
{
    uint64_t done = 0;
    while (done < h->payload) {
        size_t want = h->payload - done < CHUNK ? (size_t)(h->payload - done) : CHUNK, got;
        ns_status st = reader_read(r, s->xu + done, want, &got);
        if (st != NS_OK)
            return st;
        done += got;
        if (got < want)
            return truncated(r, h, done);
        if ((st = ns_progress_report(s->ctx, progress, stage, (double)done, total)) != NS_OK)
            return st;
    }
    return NS_OK;
}

ns_status ns_data_load_idx(ns_ctx *ctx, const char *images_path, const char *labels_path,
                           const ns_progress *progress, ns_dataset **out)
{
    NS_ASSERT(ctx != NULL && images_path != NULL && out != NULL);
    *out = NULL;
    idx_reader ri, rl;
    idx_header hi, hl;
    char *found = NULL;
    ns__data_store *s = NULL;
    bool have_labels = false;
    ns_status st = reader_open(ctx, images_path, &ri);
    if (st != NS_OK)
        return st;
    if ((st = read_header(&ri, 3, &hi)) != NS_OK || (st = check_size(&ri, &hi)) != NS_OK)
        goto done;
    if (labels_path == NULL) {
        if ((st = find_labels(ctx, images_path, &found)) != NS_OK)
            goto done;
        labels_path = found;
    }
    if ((st = reader_open(ctx, labels_path, &rl)) != NS_OK)
        goto done;
    have_labels = true;
    if ((st = read_header(&rl, 1, &hl)) != NS_OK || (st = check_size(&rl, &hl)) != NS_OK)
        goto done;
    if (hl.dims[0] != hi.dims[0]) {
        st = ns_errorf(ctx, NS_ERR_FORMAT,
                       "%s: %" PRIu32 " labels, but %s has %" PRIu32 " images; pass the labels "
                       "file that belongs to these images",
                       labels_path, hl.dims[0], images_path, hi.dims[0]);
        goto done;
    }

    const char *stage = ri.gz || rl.gz ? "inflate" : "read";
    double total = (double)hi.payload + (double)hl.payload;
    if ((st = ns_progress_report(ctx, progress, stage, 0, total)) != NS_OK)
        goto done;
    int shape[3] = {1, (int)hi.dims[1], (int)hi.dims[2]};
    st = ns__store_new(ctx, images_path, (int64_t)hi.dims[0], 3, shape, true,
                       NS_TASK_CLASSIFICATION, 1, &s);
    if (st != NS_OK)
        goto done;
    if ((st = read_images(&ri, &hi, s, progress, stage, total)) != NS_OK ||
        (st = check_end(&ri, &hi)) != NS_OK)
        goto done;
    if ((st = read_labels(&rl, &hl, s, progress, stage, (double)hi.payload, total)) != NS_OK ||
        (st = check_end(&rl, &hl)) != NS_OK)
        goto done;
    if ((s->target_names[0] = ns_strdup(ctx, "label")) == NULL) {
        st = NS_ERR_NOMEM;
        goto done;
    }
    st = ns__dataset_from_store(s, out);

done:
    if (st == NS_ERR_CANCELLED)
        ns_errorf(ctx, st, "%s: loading cancelled", images_path);
    ns__store_release(s);
    if (have_labels)
        reader_close(&rl);
    reader_close(&ri);
    ns_dealloc(ctx, found);
    return st;
}
