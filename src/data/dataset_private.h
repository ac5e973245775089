/* Internals of datasets shared by the data module's files: the reference-counted storage,
 * views over it, and row gathering. */
#ifndef NETSMITH_DATA_DATASET_H
#define NETSMITH_DATA_DATASET_H

#include <stdatomic.h>

#include "core/core_internal.h"
#include "netsmith/format.h"
#include "netsmith/data.h"

/* The rows as loaded. Shared by every view; freed with the last one. Its memory belongs to
 * the context that loaded it, so that context must outlive every view. */
typedef struct ns__data_store {
    atomic_int refs;
    ns_ctx *ctx;
    char *name;
    int64_t rows;
    int x_ndim;
    int x_shape[NS_MAX_DIMS - 1];
    int features;    /* product of x_shape */
    float *xf;       /* [rows, features] float features, or NULL */
    uint8_t *xu;     /* [rows, features] byte features (images), or NULL */
    float u8_scale;  /* bytes are multiplied by this on the way out (1/255) */
    ns_task task;
    int targets;     /* regression: columns of y; classification: 1 */
    float *y;        /* [rows, targets] (regression) */
    int32_t *labels; /* [rows] (classification) */
    int classes;
    char **class_names;   /* [classes], each owned */
    char **feature_names; /* [features], each owned, or NULL for images */
    char **target_names;  /* [targets], each owned */
    /* one-hot encoded text columns, in x-column order: group g fills the x columns
     * [one_hot_first[g], one_hot_first[g] + one_hot_width[g]) named "column=value" */
    int one_hot_count;
    char **one_hot_column; /* [one_hot_count] the source columns' names, each owned */
    int *one_hot_first, *one_hot_width;
} ns__data_store;

struct ns_dataset {
    ns_ctx *ctx;
    ns__data_store *store;
    int64_t rows;
    int64_t *index; /* [rows] store rows of this view, or NULL for all rows in order */
    bool has_norm;
    ns_norm_kind norm_kind; /* how shift and scale were fitted (for model files) */
    float *shift, *scale;   /* [features] */
};

/* A new store with x (float or bytes) and y or labels allocated (zeroed); name arrays are
 * allocated with NULL entries for the loader to fill (features names only for float x).
 * classes may be 0 and set later with ns__store_set_classes. refs = 1 (the caller's). */
ns_status ns__store_new(ns_ctx *ctx, const char *name, int64_t rows, int x_ndim,
                        const int *x_shape, bool bytes, ns_task task, int targets,
                        ns__data_store **out);
/* Records a one-hot group (the source column's name and its x columns) in the store. */
ns_status ns__store_add_one_hot(ns__data_store *s, const char *column, int first, int width);
/* Copies class names (count of them) into the store. */
ns_status ns__store_set_classes(ns__data_store *s, int count, const char *const *names);
void ns__store_release(ns__data_store *s);

/* A dataset over every row of the store (takes a reference). */
ns_status ns__dataset_from_store(ns__data_store *s, ns_dataset **out);
/* Asks the CPU to start loading the features of rows[n] (numbered in ds's view), so that a
 * later gather of them (the next batch) finds them in cache. */
void ns__dataset_prefetch(const ns_dataset *ds, const int64_t *rows, int n);
/* A view of rows[n] (numbered in parent's view) of parent, keeping parent's normalisation. */
ns_status ns__dataset_view(const ns_dataset *parent, const int64_t *rows, int64_t n,
                           ns_dataset **out);

static inline int64_t ns__ds_store_row(const ns_dataset *ds, int64_t i)
{
    return ds->index ? ds->index[i] : i;
}

/* Gathers rows[n] (view numbering; NULL means rows first..first+n-1) into x[n, F] (float,
 * normalised), y[n, T] and labels[n] (each may be NULL). */
void ns__dataset_gather(const ns_dataset *ds, const int64_t *rows, int64_t first, int n,
                        float *x, float *y, int32_t *labels);

/* Fisher-Yates: for i = n-1 down to 1, swap a[i] with a[ns_rng_below(rng, i + 1)] (the
 * order splits and batch epochs use). n <= UINT32_MAX + 1 (checked by the caller). */
void ns__shuffle_rows(int64_t *a, int64_t n, ns_rng *rng);

/* Loads built-in dataset info (builtin.c's table) into *out, and its official test set into
 * *test when it has one and test is not NULL (else *test = NULL). opts applies to the CSV
 * sets (NULL: defaults; the target defaults to info->target). Errors: those of the CSV and
 * IDX loaders; NS_ERR_NOTFOUND when Fashion-MNIST's package is not installed. Defined in
 * builtin.c, called by ns_data_load (load.c). */
ns_status ns__data_load_builtin(ns_ctx *ctx, const ns_builtin_info *info,
                                const ns_csv_options *opts, const ns_progress *progress,
                                ns_dataset **out, ns_dataset **test);

#endif
