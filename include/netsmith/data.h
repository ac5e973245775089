/* netsmith data: datasets (Data Load), splits (Data Split), normalisation (Normalize) and
 * batches (Prepare Batch). */
#ifndef NETSMITH_DATA_H
#define NETSMITH_DATA_H

#include <stdatomic.h>

#include "netsmith/core.h"
#include "netsmith/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- progress and cancellation (every long call takes one) ------------------------------ */

/* fn (may be NULL) is called now and then with the work done out of total (total 0 when
 * unknown) and a short stage name ("parse", "inflate", ...); returning false cancels.
 * cancel (may be NULL) may be set non-zero from any thread to cancel. A cancelled call
 * returns NS_ERR_CANCELLED and leaves nothing behind. */
typedef struct ns_progress {
    bool (*fn)(void *ud, const char *stage, double done, double total);
    void *ud;
    const atomic_int *cancel;
} ns_progress;

/* Reports progress; returns NS_ERR_CANCELLED (with a message) when asked to stop.
 * progress may be NULL. */
ns_status ns_progress_report(ns_ctx *ctx, const ns_progress *progress, const char *stage,
                             double done, double total);

/* ---- datasets ------------------------------------------------------------------------------ */

/* A table of samples: features x[rows, F] (float32, or uint8 images scaled on the way out),
 * and targets: values y[rows, T] for regression, class indices labels[rows] for
 * classification. A dataset is immutable once made; splits and normalised copies are views
 * that share the storage (reference-counted, so views may outlive their parent and may be
 * read from several threads at once). */
typedef struct ns_dataset ns_dataset;

void ns_dataset_free(ns_dataset *ds);

const char *ns_dataset_name(const ns_dataset *ds);
int64_t ns_dataset_rows(const ns_dataset *ds);
/* Features per sample (the product of the input shape). */
int ns_dataset_feature_count(const ns_dataset *ds);
/* The per-sample shape ({13}, or {1, 28, 28} for images); returns ndim. */
int ns_dataset_input_shape(const ns_dataset *ds, int shape[NS_MAX_DIMS - 1]);
ns_task ns_dataset_task(const ns_dataset *ds);
/* Regression: target columns; classification: 1. */
int ns_dataset_target_count(const ns_dataset *ds);
/* Classification: the number of classes (0 for regression). */
int ns_dataset_class_count(const ns_dataset *ds);
/* Names: "" when unknown; NULL for an index out of range. */
const char *ns_dataset_class_name(const ns_dataset *ds, int i);
const char *ns_dataset_feature_name(const ns_dataset *ds, int i);
const char *ns_dataset_target_name(const ns_dataset *ds, int i);

/* One sample: x[F] (normalised as the dataset is), and y[T] for regression or *label for
 * classification (either may be NULL). row in [0, rows). */
void ns_dataset_row(const ns_dataset *ds, int64_t row, float *x, float *y, int32_t *label);

/* A hash (FNV-1a 64) of the rows as this view sees them (stored features, targets, order)
 * and of its normalisation, for checkpoints that must refuse other data. */
uint64_t ns_dataset_hash(const ns_dataset *ds);

/* ---- Data Load ------------------------------------------------------------------------------ */

typedef enum ns_missing {
    NS_MISSING_ERROR = 0, /* an empty field or nan is an error naming line and column */
    NS_MISSING_DROP,      /* drop rows with a missing value */
    NS_MISSING_FILL_MEAN  /* fill with the column mean (of the rows that have a value) */
} ns_missing;

typedef struct ns_csv_options {
    char delimiter;        /* ',' ';' '\t', or 0 to detect */
    bool no_header;        /* the first row is data; columns are named by index "0", "1", ... */
    const char *target;    /* comma-separated names (or 0-based indices) of the target
                              column(s); NULL: the last column */
    const char *features;  /* comma-separated names or indices to use; NULL: all but targets */
    const char *exclude;   /* comma-separated names or indices to leave out; may be NULL */
    ns_task task;          /* AUTO: a text target, or an integer target with at most
                              max_classes distinct values, is classification */
    int max_classes;       /* 0 means 20 */
    bool one_hot;          /* text feature columns become one-hot columns (else an error) */
    ns_missing missing;
} ns_csv_options;

void ns_csv_options_default(ns_csv_options *opts);

/* Reads a CSV file (RFC 4180: quoted fields, doubled quotes, CRLF, a UTF-8 byte-order mark).
 * Numbers are parsed strictly (the whole field, no locale; nan, inf and hex floats are
 * rejected unless missing values are allowed, in which case nan and empty fields are
 * missing). Errors are NS_ERR_PARSE naming the file, line and column and saying how to fix
 * it; NS_ERR_IO if the file cannot be read. opts may be NULL for the defaults. */
ns_status ns_data_load_csv(ns_ctx *ctx, const char *path, const ns_csv_options *opts,
                           const ns_progress *progress, ns_dataset **out);
/* The same over text in memory; name is used in messages and as the dataset's name. */
ns_status ns_data_parse_csv(ns_ctx *ctx, const char *text, size_t len, const char *name,
                            const ns_csv_options *opts, const ns_progress *progress,
                            ns_dataset **out);

/* Reads IDX files (MNIST format, gzipped or not): images [N, H, W] uint8 become samples of
 * shape [1, H, W] scaled to [0, 1] (kept as bytes, converted per batch); labels [N] uint8
 * become classes "0".."9" (or up to 255). labels_path NULL looks beside the images for the
 * matching "labels" file. Magic, dimensions and truncation are checked (NS_ERR_FORMAT). */
ns_status ns_data_load_idx(ns_ctx *ctx, const char *images_path, const char *labels_path,
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

int ns_data_builtin_count(void);
const ns_builtin_info *ns_data_builtin(int i);
/* NULL if no built-in has this name. */
const ns_builtin_info *ns_data_builtin_find(const char *name);

/* Data Load by source: a built-in name, an IDX images file (".idx", "-ubyte", "-ubyte.gz"),
 * or a CSV path. *test receives the official test set when the source has one
 * (fashion-mnist), else NULL; test may be NULL to ignore it. A missing fashion-mnist says
 * which Debian package to install. opts (may be NULL) applies to CSV sources. */
ns_status ns_data_load(ns_ctx *ctx, const char *source, const ns_csv_options *opts,
                       const ns_progress *progress, ns_dataset **out, ns_dataset **test);

/* ---- Data Split ---------------------------------------------------------------------------- */

typedef struct ns_split_options {
    double train, val, test; /* ratios; they are normalised by their sum; val or test may be 0 */
    uint64_t seed;
    bool no_stratify;        /* classification splits are stratified unless this is set */
} ns_split_options;

void ns_split_options_default(ns_split_options *opts); /* 0.7 / 0.15 / 0.15, seed 0 */

/* Splits rows into train/val/test views, deterministic for a seed; a part with ratio 0 is
 * NULL. Stratified splits keep each class's share in every part (per class, rows are
 * shuffled and cut by the ratios, rounding so every part's total matches the unstratified
 * counts as closely as possible). Out-parameters may be NULL to drop a part. */
ns_status ns_data_split(const ns_dataset *ds, const ns_split_options *opts, ns_dataset **train,
                        ns_dataset **val, ns_dataset **test);

/* ---- Normalize ----------------------------------------------------------------------------- */

typedef enum ns_norm_kind { NS_NORM_NONE = 0, NS_NORM_STANDARD, NS_NORM_MINMAX } ns_norm_kind;

const char *ns_norm_kind_name(ns_norm_kind kind);
ns_status ns_norm_kind_parse(const char *name, ns_norm_kind *out);

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

/* Fits on a (training) dataset. */
ns_status ns_norm_fit(ns_ctx *ctx, const ns_dataset *train, ns_norm_kind kind, ns_norm *out);
void ns_norm_deinit(ns_ctx *ctx, ns_norm *norm);
/* A view of ds with the normalisation applied to every row it yields (replacing any earlier
 * one). NS_ERR_SHAPE if the feature counts differ. */
ns_status ns_data_normalize(const ns_dataset *ds, const ns_norm *norm, ns_dataset **out);
/* The fit as JSON text ({"kind": "standard", "shift": [...], "scale": [...]}), for model
 * metadata; floats print so they read back exactly. *json is allocated on ctx. */
ns_status ns_norm_to_json(ns_ctx *ctx, const ns_norm *norm, char **json);
ns_status ns_norm_from_json(ns_ctx *ctx, const char *json, const char *source, ns_norm *out);

/* ---- Prepare Batch ---------------------------------------------------------------------------- */

typedef struct ns_batch_options {
    int batch_size;    /* >= 1 */
    bool no_shuffle;   /* keep the dataset's order */
    bool drop_last;    /* skip a final short batch */
    uint64_t seed;     /* the epoch's order comes from the stream (seed, NS_RNG_SHUFFLE, epoch) */
    int prefetch;      /* 0: synchronous; N > 0: a background thread keeps N batches ready */
} ns_batch_options;

/* One batch: x[n, F] normalised float features; y[n, T] (regression) or labels[n]
 * (classification). Valid until the next ns_batcher_get on the same batcher. */
typedef struct ns_batch {
    const float *x;
    const float *y;
    const int32_t *labels;
    int n;
    int64_t epoch, index;
} ns_batch;

typedef struct ns_batcher ns_batcher;

/* The dataset must outlive the batcher. Errors: NS_ERR_INVALID for bad options. */
ns_status ns_batcher_new(const ns_dataset *ds, const ns_batch_options *opts, ns_batcher **out);
void ns_batcher_free(ns_batcher *b);
/* Batches in one epoch. */
int64_t ns_batcher_count(const ns_batcher *b);
/* Prepare Batch: batch `index` of `epoch`. Any order of calls gives the same batch for the
 * same (epoch, index); the prefetching path yields exactly what the synchronous path does
 * and is fastest when batches are read in order. */
ns_status ns_batcher_get(ns_batcher *b, int64_t epoch, int64_t index, ns_batch *out);

#ifdef __cplusplus
}
#endif
#endif
