/* Features arranged as a model was trained: columns picked and ordered by name, one-hot
 * columns re-encoded with the training data's categories. */
#include <stdio.h>
#include <string.h>

#include "data/dataset_private.h"

/* ds's feature named name, or -1. */
static int feature_index(const ns__data_store *s, const char *name)
{
    for (int j = 0; s->feature_names != NULL && j < s->features; j++)
        if (s->feature_names[j] != NULL && strcmp(s->feature_names[j], name) == 0)
            return j;
    return -1;
}

/* ds's one-hot group of column, or -1. */
static int group_index(const ns__data_store *s, const char *column)
{
    for (int g = 0; g < s->one_hot_count; g++)
        if (strcmp(s->one_hot_column[g], column) == 0)
            return g;
    return -1;
}

static void list_values(char *buf, size_t cap, const ns_one_hot_column *want)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 0; v < want->count && used < cap; v++)
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s'", v ? ", " : "", want->values[v]);
}

/* src[j] receives, for result column j, ds's x column (or -1 for a column of zeros). */
static ns_status plan(const ns_dataset *ds, const char *source, const char *const *names, int n,
                      const ns_one_hot_column *groups, int n_groups, int *src)
{
    const ns__data_store *s = ds->store;
    ns_ctx *ctx = ds->ctx;
    for (int j = 0; j < n; j++)
        src[j] = -2; /* not yet placed */
    for (int g = 0; g < n_groups; g++) {
        const ns_one_hot_column *want = &groups[g];
        if (want->first < 0 || want->first + want->count > n)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "the one-hot column '%s' lies outside the %d features", want->column,
                             n);
        int dg = group_index(s, want->column);
        size_t cl = strlen(want->column);
        if (dg < 0 && feature_index(s, want->column) >= 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "%s: column '%s' holds numbers only, but the model one-hot "
                             "encodes it as text (values like '%s'); give the column's text "
                             "values",
                             source, want->column, want->count > 0 ? want->values[0] : "");
        for (int v = 0; v < want->count; v++)
            src[want->first + v] = -1;
        if (dg < 0) {
            /* no text column to encode: the data holds the 0/1 columns already (a saved
             * dataset), found by their names; a category no row had is all zeros */
            int found = 0;
            for (int v = 0; v < want->count; v++) {
                int k = feature_index(s, names[want->first + v]);
                src[want->first + v] = k;
                found += k >= 0;
            }
            if (found == 0)
                return ns_errorf(ctx, NS_ERR_NOTFOUND,
                                 "%s has no column '%s' (nor its one-hot columns like '%s') "
                                 "that the model takes; give data with the model's columns",
                                 source, want->column, names[want->first]);
            continue;
        }
        int first = s->one_hot_first[dg], width = s->one_hot_width[dg];
        for (int k = first; k < first + width; k++) {
            const char *value = s->feature_names[k] + cl + 1; /* after "column=" */
            int at = -1;
            for (int v = 0; v < want->count && at < 0; v++)
                if (strcmp(want->values[v], value) == 0)
                    at = v;
            if (at >= 0) {
                src[want->first + at] = k;
                continue;
            }
            /* an unseen category: refused, naming the first row that holds it */
            for (int64_t r = 0; r < ds->rows; r++) {
                size_t sr = (size_t)ns__ds_store_row(ds, r);
                if (s->xf[sr * (size_t)s->features + (size_t)k] != 0.0f) {
                    char known[512];
                    list_values(known, sizeof known, want);
                    return ns_errorf(ctx, NS_ERR_INVALID,
                                     "%s: column '%s' has the value '%s' (data row %lld), which "
                                     "the model did not see in training (its values: %s); "
                                     "use rows with known values",
                                     source, want->column, value, (long long)r + 1, known);
                }
            }
        }
    }
    for (int j = 0; j < n; j++) {
        if (src[j] != -2)
            continue;
        src[j] = feature_index(s, names[j]);
        if (src[j] >= 0)
            continue;
        if (group_index(s, names[j]) >= 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "%s: column '%s' holds text, but the model takes it as a number; "
                             "fix its values",
                             source, names[j]);
        return ns_errorf(ctx, NS_ERR_NOTFOUND,
                         "%s has no column '%s' that the model takes; give data with the "
                         "model's columns",
                         source, names[j]);
    }
    return NS_OK;
}

ns_status ns_data_arrange(const ns_dataset *ds, const char *source, const char *const *names,
                          int n, const ns_one_hot_column *groups, int n_groups, ns_dataset **out)
{
    NS_ASSERT(ds != NULL && out != NULL && n >= 1 && (names != NULL));
    *out = NULL;
    ns_ctx *ctx = ds->ctx;
    const ns__data_store *s = ds->store;
    if (source == NULL)
        source = s->name;
    if (s->xf == NULL && s->rows > 0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "%s holds images, whose pixels have no column names to arrange by",
                         source);
    int *src = ns_alloc(ctx, (size_t)n * sizeof *src);
    if (src == NULL)
        return NS_ERR_NOMEM;
    ns_status st = plan(ds, source, names, n, groups, n_groups, src);
    ns__data_store *d = NULL;
    int shape[1] = {n};
    if (st == NS_OK)
        st = ns__store_new(ctx, s->name, ds->rows, 1, shape, false, s->task, s->targets, &d);
    for (int j = 0; st == NS_OK && j < n; j++)
        if ((d->feature_names[j] = ns_strdup(ctx, names[j])) == NULL)
            st = NS_ERR_NOMEM;
    for (int t = 0; st == NS_OK && t < s->targets; t++)
        if ((d->target_names[t] = ns_strdup(ctx, s->target_names && s->target_names[t]
                                                     ? s->target_names[t]
                                                     : "")) == NULL)
            st = NS_ERR_NOMEM;
    if (st == NS_OK && s->classes > 0)
        st = ns__store_set_classes(d, s->classes, (const char *const *)s->class_names);
    for (int g = 0; st == NS_OK && g < n_groups; g++)
        st = ns__store_add_one_hot(d, groups[g].column, groups[g].first, groups[g].count);
    if (st == NS_OK) {
        size_t f = (size_t)s->features, t = (size_t)s->targets;
        for (int64_t r = 0; r < ds->rows; r++) {
            size_t sr = (size_t)ns__ds_store_row(ds, r);
            float *x = d->xf + (size_t)r * (size_t)n;
            for (int j = 0; j < n; j++)
                x[j] = src[j] >= 0 ? s->xf[sr * f + (size_t)src[j]] : 0.0f;
            if (s->labels != NULL)
                d->labels[r] = s->labels[sr];
            else if (s->y != NULL && d->y != NULL)
                memcpy(d->y + (size_t)r * t, s->y + sr * t, t * sizeof(float));
        }
        st = ns__dataset_from_store(d, out);
    }
    ns__store_release(d);
    ns_dealloc(ctx, src);
    return st;
}
