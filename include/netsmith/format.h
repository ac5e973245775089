/* netsmith format: the generic file formats, below everything that reads or writes files:
 * safetensors files (read, validate, write atomically), atomic writes of any file, locks on
 * the directories a process owns while it runs, YAML (to JSON) and file helpers. */
#ifndef NETSMITH_FORMAT_H
#define NETSMITH_FORMAT_H

#include <stdio.h>

#include "netsmith/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors ------------------------------------------------------------------- */

#define NS_ST_DTYPE_MAP(X)                                                                         \
    X(BOOL, "BOOL", 1)                                                                             \
    X(U8, "U8", 1)                                                                                 \
    X(I8, "I8", 1)                                                                                 \
    X(F8_E5M2, "F8_E5M2", 1)                                                                       \
    X(F8_E4M3, "F8_E4M3", 1)                                                                       \
    X(I16, "I16", 2)                                                                               \
    X(U16, "U16", 2)                                                                               \
    X(F16, "F16", 2)                                                                               \
    X(BF16, "BF16", 2)                                                                             \
    X(I32, "I32", 4)                                                                               \
    X(U32, "U32", 4)                                                                               \
    X(F32, "F32", 4)                                                                               \
    X(F64, "F64", 8)                                                                               \
    X(I64, "I64", 8)                                                                               \
    X(U64, "U64", 8)

typedef enum ns_dtype {
#define NS__DTYPE_ENUM(name, str, size) NS_DTYPE_##name,
    NS_ST_DTYPE_MAP(NS__DTYPE_ENUM)
#undef NS__DTYPE_ENUM
        NS_DTYPE_COUNT
} ns_dtype;

/* The format's name of a dtype ("F32"), a static string; NULL when out of range. */
NS_API const char *ns_dtype_name(ns_dtype dtype);
/* Bytes per element; 0 when out of range. */
NS_API size_t ns_dtype_size(ns_dtype dtype);

/* The header may be at most this many bytes. */
#define NS_ST_MAX_HEADER 100000000ULL
/* Most dimensions a tensor may have here (the format has no limit; more is NS_ERR_UNSUPPORTED). */
#define NS_ST_MAX_DIMS 8

/* One tensor of a safetensors file (read) or to write. */
typedef struct ns_st_tensor {
    const char *name;
    ns_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[NS_ST_MAX_DIMS];
    /* read: points into the file's buffer (little-endian), never NULL; 8-byte aligned when the
     * header was padded as the official library and ns_st_write pad it, otherwise use memcpy.
     * write: may be NULL when nbytes is 0. */
    const void *data;
    size_t nbytes; /* numel x ns_dtype_size(dtype); checked on write */
} ns_st_tensor;

/* A metadata entry (__metadata__ is a string -> string map). */
typedef struct ns_st_meta {
    const char *key;
    const char *value;
} ns_st_meta;

/* A parsed safetensors file held in memory. Tensors are listed in data-offset order. It owns
 * a copy of the file's bytes and every name, key and value string; the pointers handed out
 * stay valid until ns_st_close. Read-only after open, so it may be shared between threads;
 * it keeps the context it was made from (used again only by ns_st_close). */
typedef struct ns_st_file ns_st_file;

/* Reads and validates a whole file. Every defect named by the format is an NS_ERR_FORMAT
 * with a message naming the file and the tensor: header length over NS_ST_MAX_HEADER or past
 * the end, a header that is not a JSON object, duplicate names, unknown dtype, a shape whose
 * product overflows, overlapping or gapped offsets, a byte range that does not match
 * shape x dtype, trailing or missing bytes, a NUL in a name. An empty header ({}), scalar
 * shapes ([]) and zero-size tensors are accepted. The result is owned by the caller.
 * A file that cannot be read is NS_ERR_IO; a tensor of more than NS_ST_MAX_DIMS dimensions is
 * NS_ERR_UNSUPPORTED; NS_ERR_NOMEM. *out is the caller's: ns_st_close; NULL on failure. */
NS_API ns_status ns_st_open(ns_ctx *ctx, const char *path, ns_st_file **out);
/* The same over a buffer (copied); name is used in messages (NULL: "(buffer)"). Errors as
 * ns_st_open's, less NS_ERR_IO. *out is the caller's: ns_st_close; NULL on failure. */
NS_API ns_status ns_st_parse(ns_ctx *ctx, const void *buf, size_t len, const char *name,
                             ns_st_file **out);
/* Frees the file and everything handed out from it. NULL is a no-op. */
NS_API void ns_st_close(ns_st_file *f);

/* The number of tensors in the file. */
NS_API int ns_st_count(const ns_st_file *f);
/* 0 <= i < ns_st_count(f) (asserted). */
NS_API const ns_st_tensor *ns_st_get(const ns_st_file *f, int i);
/* NULL if absent. O(log n). */
NS_API const ns_st_tensor *ns_st_find(const ns_st_file *f, const char *name);
NS_API int ns_st_meta_count(const ns_st_file *f);
/* 0 <= i < ns_st_meta_count(f) (asserted); entries in header order. */
NS_API const ns_st_meta *ns_st_meta_get(const ns_st_file *f, int i);
/* NULL if absent. */
NS_API const char *ns_st_meta_find(const ns_st_file *f, const char *key);

/* Writes tensors (in the given order, data packed back to back) and metadata to path,
 * atomically (ns_file_writer: a temporary file of its own beside path, flushed, fsync'ed,
 * renamed over path, and the directory synced).
 * "__metadata__" comes first when n_meta > 0; the header is space-padded so the data starts
 * 8-byte aligned. Tensor names must be unique, valid UTF-8 and not "__metadata__", metadata
 * keys unique and keys and values valid UTF-8, and nbytes must match shape x dtype: else
 * NS_ERR_INVALID naming the tensor, and nothing is written. A failed write is NS_ERR_IO naming
 * the path and the system error, removes the temporary file and leaves an old file at path
 * as it was; when only the final directory sync fails, the new file is already in place and
 * the message says so. NS_ERR_NOMEM when building the header runs out of memory. */
NS_API ns_status ns_st_write(ns_ctx *ctx, const char *path, const ns_st_tensor *tensors, int n,
                             const ns_st_meta *meta, int n_meta);
/* The same into a buffer allocated with the context's hooks (*out, *len). Errors:
 * NS_ERR_INVALID as for ns_st_write (also a header over NS_ST_MAX_HEADER), NS_ERR_NOMEM.
 * *out is the caller's: ns_dealloc; NULL (and *len 0) on failure. */
NS_API ns_status ns_st_serialize(ns_ctx *ctx, const ns_st_tensor *tensors, int n,
                                 const ns_st_meta *meta, int n_meta, unsigned char **out,
                                 size_t *len);

/* ---- atomic file writes -------------------------------------------------------------- */

/* A file being written atomically: every byte goes into a temporary file of its own in the
 * target's directory, and only a commit puts it in place. A reader, or a crash or kill at
 * any instant, sees the old file (or none) or the whole new one, never a part. The
 * temporary file "DIR/.BASE.<16 random hex digits>.tmp" is made exclusively (O_CREAT |
 * O_EXCL | O_NOFOLLOW), so nothing planted at its name (a symbolic link, a file) is ever
 * followed or written into: a name taken is skipped for another. It gets the permissions a
 * new file would (0666 less the umask). One writer belongs to one thread. */
typedef struct ns_file_writer ns_file_writer;

/* Makes the temporary file for path (the directory must exist; ns_make_parent_dirs makes
 * it). Errors: NS_ERR_IO naming path, the directory and the system error (no directory, no
 * permission, no free name after many tries); NS_ERR_NOMEM. On success *out is owned by the
 * caller (ns_file_writer_close); on failure it is NULL and nothing is left behind. */
NS_API ns_status ns_file_writer_open(ns_ctx *ctx, const char *path, ns_file_writer **out);
/* The stream to write into (binary; do not fclose it). Valid until commit or close. */
NS_API FILE *ns_file_writer_stream(ns_file_writer *w);
/* Puts the file in place: flushes and checks the stream (any earlier failed write counts),
 * fsyncs and closes the file, renames it over path and fsyncs the directory. Errors:
 * NS_ERR_IO naming path, the step and the system error (a full disk, a file size limit:
 * "No space left on device", "File too large"); the temporary file is then removed and an old
 * file at path is left as it was, except when only the directory sync failed: the new file
 * is then in place and the message says so. Call it once; close the writer either way. */
NS_API ns_status ns_file_writer_commit(ns_file_writer *w);
/* Frees the writer; a writer not committed is abandoned (its temporary file removed, path
 * untouched). NULL is a no-op. */
NS_API void ns_file_writer_close(ns_file_writer *w);

/* Writes len bytes (data may be NULL when len is 0) to path atomically, as above. Errors as
 * ns_file_writer_open's and ns_file_writer_commit's (NS_ERR_IO, NS_ERR_NOMEM); NS_ERR_IO
 * also when a write into the temporary file fails (path is then unchanged). */
NS_API ns_status ns_write_file(ns_ctx *ctx, const char *path, const void *data, size_t len);
/* jansson's value type (format.h does not include jansson.h). */
struct json_t;
/* Writes a JSON value (jansson's json_t) to path atomically, dumped with jansson's flags (as
 * json_dump_file would, which is not atomic). Errors as ns_write_file's; NS_ERR_NOMEM also
 * for a NULL json, naming path (the result of a json_pack that ran out of memory), and when
 * jansson runs out of memory dumping it. */
NS_API ns_status ns_write_json(ns_ctx *ctx, const char *path, const struct json_t *json, size_t flags);

/* ---- directory locks ---------------------------------------------------------------------- */

/* A directory one process owns while it runs (a checkpoint, run or state directory): an
 * exclusive flock on DIR/.netsmith-ROLE.lock, which holds the holder's pid and command line.
 * The kernel releases it when the holder exits, however it ends (a kill -9 too), so a lock
 * file left behind never blocks; only a live holder does. The lock belongs to the open file,
 * so a second lock of the same directory and role fails also within one process. Locks of
 * other roles on the same directory are independent (a run directory may also be the
 * checkpoint directory). Not for network file systems without flock. */
typedef struct ns_dir_lock ns_dir_lock;

/* Creates dir (and its parents) if needed and locks it for role (a word: "checkpoint",
 * "run", "state"; the lock file's name and the message say it). When another process (or
 * another lock in this one) holds it: NS_ERR_STATE "DIR: the ROLE directory is in use by
 * process PID (COMMAND); FIX", where fix says what to do instead (e.g. "wait for it to
 * finish, or use another checkpoint directory"). Errors: NS_ERR_IO naming the directory or
 * the lock file (a symbolic link, a hard link or a special file at the lock file's name is
 * refused, never followed or truncated); NS_ERR_NOMEM. On success *out is owned by the
 * caller (ns_dir_lock_close); on failure NULL. Thread safety: as any call on ctx. */
NS_API ns_status ns_dir_lock_open(ns_ctx *ctx, const char *dir, const char *role, const char *fix,
                                  ns_dir_lock **out);
/* Releases the lock (the lock file stays, emptied) and frees it. NULL is a no-op. */
NS_API void ns_dir_lock_close(ns_dir_lock *lock);

/* ---- YAML ----------------------------------------------------------------------------------- */

/* Converts a YAML document (mappings, sequences, scalars; JSON is YAML too) to JSON text.
 * Plain scalars become null (null, ~, empty), booleans (true/false), integers, reals or
 * strings; quoted scalars stay strings. Anchors, aliases, tags and several documents are
 * refused. Errors: NS_ERR_PARSE naming source, line and column (also for an empty document);
 * NS_ERR_NOMEM. *json is the caller's: ns_dealloc; NULL on failure. */
NS_API ns_status ns_yaml_to_json(ns_ctx *ctx, const char *text, size_t len, const char *source,
                                 char **json);

/* Reads a whole file into memory allocated with the context's hooks (plus a NUL, not counted
 * in *len); the caller frees *out with ns_dealloc. NS_ERR_IO names the file and the system
 * error; NS_ERR_NOMEM names the file. *out is NULL and *len 0 on failure. */
NS_API ns_status ns_read_file(ns_ctx *ctx, const char *path, char **out, size_t *len);
/* Creates a directory and its missing parents (as mkdir -p). NS_ERR_IO names the directory
 * that could not be made and why, or a path of 4096 bytes or more. */
NS_API ns_status ns_make_dirs(ns_ctx *ctx, const char *path);
/* Creates the directory a file path lies in (nothing for a bare file name). Errors as
 * ns_make_dirs's. */
NS_API ns_status ns_make_parent_dirs(ns_ctx *ctx, const char *file_path);

#ifdef __cplusplus
}
#endif
#endif
