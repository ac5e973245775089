/* netsmith data: datasets (Data Load), splits (Data Split), normalisation (Normalize) and
 * batches (Prepare Batch). */
#ifndef NETSMITH_DATA_H
#define NETSMITH_DATA_H

#include "netsmith/core.h"
#include "netsmith/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- datasets ------------------------------------------------------------------------------ */

/* A table of samples: features x[rows, F] (float32, or uint8 images scaled on the way out),
 * and targets: values y[rows, T] for regression, class indices labels[rows] for
 * classification. A dataset is immutable once made; splits and normalised copies are views
 * that share the storage (reference-counted, so views may outlive their parent and may be
 * read from several threads at once). */
typedef struct ns_dataset ns_dataset;

/* Frees a dataset or view (its reference to the shared storage); NULL is a no-op. */
NS_API void ns_dataset_free(ns_dataset *ds);

/* The dataset's name (a built-in's, or the file's base name), borrowed: valid while ds lives;
 * and its rows (in this view). */
NS_API const char *ns_dataset_name(const ns_dataset *ds);
NS_API int64_t ns_dataset_rows(const ns_dataset *ds);
/* Features per sample (the product of the input shape). */
NS_API int ns_dataset_feature_count(const ns_dataset *ds);
/* The per-sample shape ({13}, or {1, 28, 28} for images); returns ndim. */
NS_API int ns_dataset_input_shape(const ns_dataset *ds, int shape[NS_MAX_DIMS - 1]);
NS_API ns_task ns_dataset_task(const ns_dataset *ds);
/* Regression: target columns; classification: 1. */
NS_API int ns_dataset_target_count(const ns_dataset *ds);
/* Classification: the number of classes (0 for regression). */
NS_API int ns_dataset_class_count(const ns_dataset *ds);
/* Names: "" when unknown; NULL for an index out of range. */
NS_API const char *ns_dataset_class_name(const ns_dataset *ds, int i);
NS_API const char *ns_dataset_feature_name(const ns_dataset *ds, int i);
NS_API const char *ns_dataset_target_name(const ns_dataset *ds, int i);

/* Byte images: the factor their bytes are multiplied by on the way out (1/255: [0, 1]);
 * 0 for float features. */
NS_API float ns_dataset_byte_scale(const ns_dataset *ds);
/* One-hot encoded text columns (CSV with one_hot): how many, and group g's source column
 * name, with its x columns [*first, *first + *width) (named "column=value", the values in
 * their slot order). NULL for g out of range; first and width may be NULL. */
NS_API int ns_dataset_one_hot_count(const ns_dataset *ds);
NS_API const char *ns_dataset_one_hot(const ns_dataset *ds, int g, int *first, int *width);

/* One sample: x[F] (normalised as the dataset is), and y[T] for regression or *label for
 * classification (either may be NULL). row in [0, rows). */
NS_API void ns_dataset_row(const ns_dataset *ds, int64_t row, float *x, float *y, int32_t *label);

/* A hash (FNV-1a 64) of the rows as this view sees them (stored features, targets, order)
 * and of its normalisation, for checkpoints that must refuse other data. */
NS_API uint64_t ns_dataset_hash(const ns_dataset *ds);

/* ---- Data Load ------------------------------------------------------------------------------ */

/* What to do with a missing value: an empty field, or nan, NaN, NAN (optionally signed), NA,
 * N/A (quoted or not). */
typedef enum ns_missing {
    NS_MISSING_ERROR = 0, /* an error naming line and column */
    NS_MISSING_DROP,      /* drop rows with a missing value in a feature or target */
    NS_MISSING_FILL_MEAN  /* a feature gets its column's mean over the loaded rows that have a
                             value (the Train card later refits this on the training split);
                             rows with a missing target are dropped */
} ns_missing;

/* Column lists (target, features, exclude) are comma-separated names or 0-based indices; a
 * name is matched first, so a column named "3" wins over index 3, and spaces around an item
 * are ignored when the exact text is not a name. */
typedef struct ns_csv_options {
    char delimiter;        /* ',' ';' '\t' (any ASCII byte but a quote or line end), or 0 to
                              detect among ',' ';' and tab from the first lines */
    bool no_header;        /* the first row is data; columns are named by index "0", "1", ...
                              (as is a column whose header name is empty) */
    const char *target;    /* the target column(s); NULL: the last column. Several columns are
                              multi-output regression */
    const char *features;  /* the feature columns, in this order; NULL: all but targets and
                              excluded ones, in file order */
    const char *exclude;   /* columns to leave out; may be NULL */
    ns_task task;          /* AUTO: a text target is classification, and so is a target of
                              integers (written without '.' or exponent) with at most
                              max_classes distinct values; otherwise regression.
                              CLASSIFICATION with a numeric target makes each distinct value a
                              class. A target mixing numbers and text is an error under AUTO */
    int max_classes;       /* 0 means 20 */
    bool one_hot;          /* a text feature becomes one 0/1 column per distinct value (at most
                              1000), named "column=value", values in byte order; without it a
                              text feature is an error naming the column */
    ns_missing missing;
    bool no_target;        /* the file has no target column (data to predict for): target must
                              be NULL, every column may be a feature, and the dataset gets one
                              placeholder regression target of zeros named "" */
} ns_csv_options;

/* The defaults: detect the delimiter, a header row, the last column as target, every other
 * column a feature, AUTO task, max_classes 20, no one-hot, missing values are errors. */
NS_API void ns_csv_options_default(ns_csv_options *opts);

/* Reads a CSV file into a dataset of float features x[rows, F] and either float targets
 * y[rows, T] (regression) or class labels (classification).
 *
 * Format: RFC 4180 (quoted fields, doubled quotes, the delimiter and line ends inside quotes,
 * CRLF, LF or CR line ends), a UTF-8 byte-order mark, blank lines skipped. Spaces (and tabs,
 * unless tab is the delimiter) around a field are ignored outside quotes; inside quotes they
 * are kept (numbers are trimmed either way). Fields may be at most 1 MiB.
 *
 * Numbers: the whole field must be a decimal number ([+-]digits[.digits][e[+-]digits]),
 * whatever the application's locale, rounded correctly to float; hex, inf and infinity are
 * errors, and so is a value beyond the float range (a value too small for a float becomes a
 * subnormal or 0). nan and the other missing markers follow opts->missing.
 *
 * Classes: text classes are sorted in byte order of their UTF-8 text ("benign" = 0,
 * "malignant" = 1); numeric classes in numeric order, named by their value ("-1", "2", "10",
 * or "0.5"). Labels that occur only in dropped rows are not classes. Text values used as
 * classes or one-hot values must be valid UTF-8.
 *
 * Memory and speed: the file is mapped (not copied). When every used column is numeric it is
 * read once, the rows written as they are typed; otherwise twice, or three times when text
 * columns need their values collected. The result costs rows x F x 4 bytes plus the targets,
 * and the parse a small constant beyond that.
 *
 * Errors (*out NULL, nothing left behind): NS_ERR_PARSE for the file's content, naming the
 * file, the physical line (1-based, counting line ends inside quotes) and column (1-based,
 * with its name) and saying how to fix it; NS_ERR_NOTFOUND for a column in opts that is not
 * in the file (the message lists the columns, with a did-you-mean when one is close);
 * NS_ERR_INVALID for contradictory or bad options; NS_ERR_IO if the file cannot be read;
 * NS_ERR_UNSUPPORTED past a size limit (2^24 columns, 2^31 distinct values in a column);
 * NS_ERR_NOMEM; NS_ERR_CANCELLED when progress asks to stop (checked every 65536 rows).
 * opts may be NULL for the defaults. The dataset is named after the file ("data/iris.csv"
 * gives "iris"). On success *out is the caller's: ns_dataset_free. Thread safety: concurrent
 * loads on different contexts are safe. */
NS_API ns_status ns_data_load_csv(ns_ctx *ctx, const char *path, const ns_csv_options *opts,
                                  const ns_progress *progress, ns_dataset **out);
/* The same over text[len] in memory (need not be NUL-terminated; text may be NULL when len is
 * 0); name (NULL: "csv") is used in messages and as the dataset's name. Errors as
 * ns_data_load_csv's, less NS_ERR_IO. *out is the caller's: ns_dataset_free; NULL on
 * failure. */
NS_API ns_status ns_data_parse_csv(ns_ctx *ctx, const char *text, size_t len, const char *name,
                                   const ns_csv_options *opts, const ns_progress *progress,
                                   ns_dataset **out);

/* The column names of a CSV file's header (what ns_data_load_csv would name them: "0", "1",
 * ... with no_header or for an empty name), without reading the rows. Only opts->delimiter
 * and opts->no_header are used (opts may be NULL). *names (count of them) is allocated on ctx:
 * free each name and the array with ns_dealloc. Errors as ns_data_load_csv's for the header. */
NS_API ns_status ns_data_csv_columns(ns_ctx *ctx, const char *path, const ns_csv_options *opts,
                                     char ***names, int *count);

/* What kind of source ns_data_load would take a source for. */
typedef enum ns_data_source_kind {
    NS_DATA_SOURCE_BUILTIN = 0,
    NS_DATA_SOURCE_CSV,
    NS_DATA_SOURCE_IDX,
    NS_DATA_SOURCE_DATASET_FILE, /* written by ns_dataset_save */
    NS_DATA_SOURCE_MISSING       /* neither a built-in nor a file that can be opened */
} ns_data_source_kind;
/* What a data source names: a built-in, an IDX, CSV or saved-dataset file, or nothing that
 * can be opened (no error is set; it only looks). */
NS_API ns_data_source_kind ns_data_source_kind_of(const char *source);

/* Reads IDX files (MNIST format, gzipped or not): images [N, H, W] uint8 become samples of
 * shape [1, H, W] scaled to [0, 1] (kept as bytes, converted per batch); labels [N] uint8
 * become classes "0".."9" (or up to 255). labels_path NULL looks beside the images for the
 * matching "labels" file. Magic, dimensions and truncation are checked (NS_ERR_FORMAT).
 * Errors: NS_ERR_FORMAT also for label and image counts that differ; NS_ERR_IO for a file
 * that cannot be opened or read, or no labels file beside the images; NS_ERR_CANCELLED;
 * NS_ERR_NOMEM. *out is the caller's: ns_dataset_free; NULL on failure. */
NS_API ns_status ns_data_load_idx(ns_ctx *ctx, const char *images_path, const char *labels_path,
                                  const ns_progress *progress, ns_dataset **out);

/* A built-in dataset. */
typedef struct ns_builtin_info {
    const char *name;        /* "boston_housing", "wine", "iris", "breast_cancer", "fashion-mnist" */
    const char *description;
    int64_t rows;            /* all rows (train + official test) */
    int features;
    ns_task task;
    int classes;             /* 0 for regression */
    const char *target;      /* target column name */
    bool has_test_split;     /* an official train/test split */
} ns_builtin_info;

/* The built-in datasets: how many, and the i-th (0 <= i < count; static data, not to be
 * freed). */
NS_API int ns_data_builtin_count(void);
NS_API const ns_builtin_info *ns_data_builtin(int i);
/* NULL if no built-in has this name. */
NS_API const ns_builtin_info *ns_data_builtin_find(const char *name);

/* Data Load by source: a built-in name, an IDX images file (".idx", "-ubyte", "-ubyte.gz"),
 * a dataset file written by ns_dataset_save (".safetensors", or any file that starts as a
 * safetensors file does; loaded with ns_dataset_load_file, opts not used), or a CSV path.
 * *test receives the official test set when the source has one
 * (fashion-mnist), else NULL; test may be NULL to ignore it. A missing fashion-mnist says
 * which Debian package to install. opts (may be NULL) applies to CSV sources. Errors: those
 * of the loader the source goes to (ns_data_parse_csv for a built-in CSV, ns_data_load_csv,
 * ns_data_load_idx, ns_dataset_load_file); NS_ERR_NOTFOUND for a source that is neither a
 * file nor a built-in (listing the built-ins) and for a missing fashion-mnist package;
 * NS_ERR_IO for a file that exists but cannot be opened. *out and *test are the caller's:
 * ns_dataset_free each; both NULL on failure. */
NS_API ns_status ns_data_load(ns_ctx *ctx, const char *source, const ns_csv_options *opts,
                              const ns_progress *progress, ns_dataset **out, ns_dataset **test);

/* ---- features as a model takes them ---------------------------------------------------------- */

/* A text column that training data one-hot encoded: the source column's name and its values,
 * which fill the x columns [first, first + count) named "column=value". */
typedef struct ns_one_hot_column {
    char *column;
    int first;
    int count;
    char **values; /* [count] */
} ns_one_hot_column;

/* A copy of ds (its rows, in its order, raw: any normalisation of the view is not kept) whose
 * features are names[n], in that order, taken from ds's features of those names; the x
 * columns of each one-hot group (groups[n_groups], inside [0, n)) are encoded with the
 * group's values: ds's column "column=value" where ds has it, zeros where it lacks the value
 * (data with fewer or other categories encodes as the training data did). Targets, classes
 * and the dataset's name are kept. source (NULL: the dataset's name) names the data in
 * messages. Errors (on ds's context; *out NULL): NS_ERR_NOTFOUND for a feature ds lacks
 * ("data.csv has no column 'RM' that the model takes; ..."); NS_ERR_INVALID for a value of a
 * one-hot column that the group does not list (an unseen category, naming value, column and
 * row: refused rather than encoded as zeros, which would predict silently from nothing), a
 * column that is text where a number is taken or numbers where text is, or byte images;
 * NS_ERR_NOMEM. *out is the caller's (on ds's context): ns_dataset_free. Thread safety: reads
 * ds only. */
NS_API ns_status ns_data_arrange(const ns_dataset *ds, const char *source, const char *const *names,
                                 int n, const ns_one_hot_column *groups, int n_groups, ns_dataset **out);

/* ---- dataset files --------------------------------------------------------------------------- */

/* Saves a dataset (the view: only its rows, in its order) as a safetensors file, so a card
 * running in another process gets exactly this dataset back. Tensors:
 *   "x"          U8 (byte images) or F32, [rows, ...input shape]: the raw stored values (not
 *                normalised, bytes not scaled), so nothing is lost;
 *   "y"          F32 [rows, targets] (regression), or "labels" I32 [rows] (classification);
 *   "norm.shift", "norm.scale"  F32 [features], only when the view is normalised.
 * Metadata: "netsmith.version", and "netsmith.dataset", a JSON object {"version": 1, "name",
 * "task" ("regression" | "classification"), "rows", "input_shape": [...], "targets",
 * "classes", "class_names": [...], "feature_names": [...] (null for byte images),
 * "target_names": [...], "byte_scale" (bytes only; the factor bytes are multiplied by),
 * "normalized" (bool), "norm_kind" (how the normalisation was fitted: "standard", "minmax";
 * only when normalized)}. Unknown names are saved as "". The file is written atomically (a
 * temporary file, fsync, rename; see ns_st_write). Errors (on ds's context): NS_ERR_INVALID
 * for a name that is not valid UTF-8, NS_ERR_IO naming the path, NS_ERR_NOMEM. Memory: a view
 * of some rows is gathered into a copy first (rows x features bytes or floats); a dataset over
 * all its store's rows in order is written straight from the store. Thread safety: reads ds
 * only (like any dataset reader), uses ds's context. */
NS_API ns_status ns_dataset_save(const ns_dataset *ds, const char *path);
/* Reads a file written by ns_dataset_save into a new dataset on ctx (its own store, with the
 * normalisation restored on the view): same rows, order, names, task, classes, byte scale,
 * and so the same ns_dataset_hash, rows (ns_dataset_row) and batches. The file goes through
 * the validating reader (ns_st_open: NS_ERR_IO, NS_ERR_FORMAT as it says). Then every defect
 * is an error naming the file and what to fix: NS_ERR_PARSE for a file without the
 * "netsmith.dataset" entry, bad JSON, a missing or unknown key, a missing or unexpected
 * tensor, a wrong dtype or shape, a row count that disagrees; NS_ERR_INVALID for a label
 * outside [0, classes), a non-finite x, y, shift or scale, or a zero scale; NS_ERR_NOMEM
 * (nothing leaks). On success *out is owned by the caller (ns_dataset_free); on failure it is
 * NULL. Thread safety: concurrent loads on different contexts are safe. */
NS_API ns_status ns_dataset_load_file(ns_ctx *ctx, const char *path, ns_dataset **out);

/* ---- Data Split ---------------------------------------------------------------------------- */

typedef struct ns_split_options {
    double train, val, test; /* ratios; they are normalised by their sum; val or test may be 0 */
    uint64_t seed;
    bool no_stratify;        /* classification splits are stratified unless this is set */
    bool exact_sum;          /* the ratios must add up to 1 (within 1e-6) instead of being
                                normalised by their sum, so that a mistyped "0.8,0.3" is an
                                error and not a silently rescaled split. Every face sets it;
                                with an official test set the caller passes train and val
                                ratios that add up to 1 itself (test 0) */
} ns_split_options;

/* Fills opts with the defaults: ratios 0.7 / 0.15 / 0.15, seed 0, stratified. */
NS_API void ns_split_options_default(ns_split_options *opts);

/* Data Split: divides ds's rows into train/val/test views (sharing ds's storage and keeping
 * its normalisation; rows in shuffled order), deterministic for a seed. Part sizes: cut points
 * round(n * r_train) and round(n * (r_train + r_val)) with r the ratios over their sum, so the
 * sizes add up to n and a part with ratio 0 gets no rows and is returned as NULL. Stratified
 * splits (classification, unless no_stratify) give every part the same sizes, and each class
 * the floor or ceiling of its share of every part. The exact algorithm (and so which rows go
 * where for a seed) is documented in src/data/split.c. Row counts come from
 * ns_dataset_rows. For a dataset with an official test set, split its training set with
 * test = 0. opts NULL means the defaults; out-parameters may be NULL to drop a part.
 * Errors (on ds's context; all outputs NULL): NS_ERR_INVALID for a negative, non-finite or
 * all-zero ratio, ratios that do not add up to 1 under exact_sum (naming them and their sum),
 * or a part with a positive ratio that would get 0 rows (naming the part and the row count);
 * NS_ERR_UNSUPPORTED beyond 2^32 - 1 rows; NS_ERR_NOMEM. Each part returned is the caller's:
 * ns_dataset_free. */
NS_API ns_status ns_data_split(const ns_dataset *ds, const ns_split_options *opts, ns_dataset **train,
                               ns_dataset **val, ns_dataset **test);

/* ---- Normalize ----------------------------------------------------------------------------- */

typedef enum ns_norm_kind { NS_NORM_NONE = 0, NS_NORM_STANDARD, NS_NORM_MINMAX } ns_norm_kind;

/* "none", "standard", "minmax"; NULL for another value. */
NS_API const char *ns_norm_kind_name(ns_norm_kind kind);
/* Those names, and "zscore", "min-max", "min_max"; NS_ERR_NOTFOUND otherwise (no message). */
NS_API ns_status ns_norm_kind_parse(const char *name, ns_norm_kind *out);

/* A fitted normalisation: x' = (x - shift[j]) * scale[j] per feature. Plain data owned by
 * the caller (ns_norm_deinit). standard: shift = mean, scale = 1/std (population std, as
 * numpy's default; a constant feature gets scale 1); minmax: shift = min, scale =
 * 1/(max - min) (1 for a constant feature). */
typedef struct ns_norm {
    ns_norm_kind kind;
    int features;
    float *shift; /* [features] */
    float *scale; /* [features] */
} ns_norm;

/* Fits on a (training) dataset: the raw stored features of its rows (a normalisation the view
 * already has is ignored; byte images are fitted on x/255, the values batches hold), summed in
 * double. A constant feature (min == max) gets shift = its value and scale 1. NS_NORM_NONE
 * gives shift 0 and scale 1. *out's arrays are allocated on ctx and are the caller's:
 * ns_norm_deinit(ctx, out); *out is zeroed on failure.
 * Errors: NS_ERR_INVALID (unknown kind, no rows), NS_ERR_NONFINITE (a non-finite value,
 * naming the feature), NS_ERR_NOMEM. */
NS_API ns_status ns_norm_fit(ns_ctx *ctx, const ns_dataset *train, ns_norm_kind kind, ns_norm *out);
/* Frees the arrays and zeroes *norm; norm may be NULL or already deinitialised. */
NS_API void ns_norm_deinit(ns_ctx *ctx, ns_norm *norm);
/* A view of ds (same rows, same storage) with the normalisation applied to every row it
 * yields, replacing any earlier one (NS_NORM_NONE: a view without normalisation). The view
 * copies the fit, so norm may be deinitialised afterwards. Errors (on ds's context):
 * NS_ERR_SHAPE if the feature counts differ, NS_ERR_INVALID for a non-finite value or a zero
 * scale, NS_ERR_NOMEM. *out is the caller's: ns_dataset_free; NULL on failure. */
NS_API ns_status ns_data_normalize(const ns_dataset *ds, const ns_norm *norm, ns_dataset **out);
/* The normalisation a view of ds applies (a Normalize card's, or a split's), borrowed: valid
 * while ds lives. false (and *out of kind NONE) when it applies none. */
NS_API bool ns_dataset_normalization(const ns_dataset *ds, ns_norm *out);
/* The fit as JSON text ({"kind": "standard", "shift": [...], "scale": [...]}), for model
 * metadata; every float prints as the shortest text that reads back to the same bits (-0
 * included). *json is allocated on ctx (free with ns_dealloc); NULL on failure. NS_ERR_INVALID
 * for an unknown kind, missing arrays, a non-finite shift or scale or a zero scale;
 * NS_ERR_NOMEM. */
NS_API ns_status ns_norm_to_json(ns_ctx *ctx, const ns_norm *norm, char **json);
/* Reads what ns_norm_to_json writes, checking it: the three keys and no others, a known kind,
 * non-empty arrays of the same length, every value a finite float and every scale non-zero.
 * Errors are NS_ERR_PARSE with a message naming source (NULL: "normalisation") and the key
 * or element ("model.safetensors: "scale"[3] is 0; ..."), or NS_ERR_NOMEM. *out's arrays are
 * the caller's: ns_norm_deinit(ctx, out); *out is zeroed on failure. */
NS_API ns_status ns_norm_from_json(ns_ctx *ctx, const char *json, const char *source, ns_norm *out);

/* ---- Prepare Batch ---------------------------------------------------------------------------- */

typedef struct ns_batch_options {
    int batch_size;    /* >= 1 */
    bool no_shuffle;   /* keep the dataset's order */
    bool drop_last;    /* skip a final short batch */
    uint64_t seed;     /* the epoch's order comes from the stream (seed, NS_RNG_SHUFFLE, epoch) */
    int prefetch;      /* 0: synchronous; 1..1024: a background thread keeps that many
                          batches ready */
} ns_batch_options;

/* Batches are ns_batch (core.h); a batcher's batch is valid until its next ns_batcher_get. */

typedef struct ns_batcher ns_batcher;

/* A batcher over ds: allocates every buffer up front (nothing is allocated per batch) and,
 * with prefetch > 0, starts its thread. The dataset must outlive the batcher. Like every
 * handle it belongs to the thread that uses ds's context; its own thread only reads the
 * dataset and writes its buffers (never the context). Errors (on ds's context):
 * NS_ERR_INVALID for bad options, NS_ERR_UNSUPPORTED beyond 2^32 rows, NS_ERR_NOMEM (also when
 * the thread cannot start). *out is the caller's: ns_batcher_free; NULL on failure. */
NS_API ns_status ns_batcher_new(const ns_dataset *ds, const ns_batch_options *opts, ns_batcher **out);
/* Stops and joins the thread, frees everything. NULL is a no-op. */
NS_API void ns_batcher_free(ns_batcher *b);
/* Batches in one epoch: ceil(rows / batch_size), or floor with drop_last. */
NS_API int64_t ns_batcher_count(const ns_batcher *b);
/* Prepare Batch: batch `index` of `epoch` (epoch >= 0): the rows order[index * bs ..
 * min((index + 1) * bs, rows)) of the epoch's order, a Fisher-Yates permutation drawn from
 * (seed, NS_RNG_SHUFFLE, epoch) (row order with no_shuffle), normalised as ds is. Any order
 * of calls gives the same batch for the same (epoch, index); the prefetching path yields
 * exactly what the synchronous path does and is fastest when batches are read in order
 * (across epochs too). out's pointers are valid until the next get or free. NS_ERR_INVALID
 * for an index outside [0, count) or a negative epoch (message on ds's context). */
NS_API ns_status ns_batcher_get(ns_batcher *b, int64_t epoch, int64_t index, ns_batch *out);

#ifdef __cplusplus
}
#endif
#endif
