/* Data Split: seeded train/val/test views of a dataset by ratios, stratified by class for
 * classification.
 *
 * The algorithm, exactly (fixtures depend on it; n = the view's rows, r = ratios / their sum):
 *
 * 1. Part sizes: cumulative rounding of the cut points, cut_0 = round(n * r_train),
 *    cut_1 = round(n * (r_train + r_val)) (round half away from zero), so train = cut_0,
 *    val = cut_1 - cut_0, test = n - cut_1. Every size is the floor or ceiling of its ideal
 *    share, they add up to n, and a part with ratio 0 gets exactly 0 rows.
 * 2. Unstratified: the rows 0..n-1 are permuted by Fisher-Yates (for i = n-1 down to 1, swap
 *    a[i] with a[ns_rng_below(rng, i + 1)]) with the stream (seed, NS_RNG_SPLIT, 0); train is
 *    the first cut_0 rows of the permutation, val the next, test the rest.
 * 3. Stratified (classification unless no_stratify): the rows of class c, in row order, are
 *    permuted by Fisher-Yates with the stream (seed, NS_RNG_SPLIT, 1 + c). Class c gives
 *    a[c][p] rows to part p, taken from the front of its permutation in part order. a[c][p]
 *    is the floor or the ceiling of the class's share of the part, q = n_c * size_p / n
 *    (computed exactly in integers), such that each class gives all its rows and each part
 *    gets exactly its size from step 1 (so a stratified split has the same part sizes as an
 *    unstratified one). The ceilings go by largest remainder: cells with a fractional share
 *    in order of decreasing remainder (ties: lower part, then lower class) take one extra row
 *    while both their class and their part still lack rows; if that greedy pass leaves rows
 *    unplaced, breadth-first alternating paths (classes and parts in index order) move
 *    ceilings until it fits. Such a rounding always exists because the exact shares q are a
 *    fractional one. Each part's rows, gathered class by class, are then permuted by
 *    Fisher-Yates with the stream (seed, NS_RNG_SPLIT, 1000 + part) on lane 1 (the lane keeps
 *    these streams apart from the class streams whatever the class count), so classes mix.
 *
 * The parts are views (ns__dataset_view) in that shuffled order. A dataset with an official
 * test set is split with test = 0: only its training rows are divided into train and val. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_private.h"

#define PARTS 3
#define SUM_TOLERANCE 1e-6 /* exact_sum: how far from 1 the ratios may add up */

/* Stream steps (purpose NS_RNG_SPLIT): step 0 the unstratified permutation, 1 + c class c,
 * PART_STEP + p the shuffle of part p (on PART_LANE). */
#define CLASS_STEP 1
#define PART_STEP 1000
#define PART_LANE 1

static const char *const part_names[PARTS] = {"train", "val", "test"};

void ns_split_options_default(ns_split_options *opts)
{
    NS_ASSERT(opts != NULL);
    memset(opts, 0, sizeof *opts);
    opts->train = 0.7;
    opts->val = 0.15;
    opts->test = 0.15;
    opts->seed = 0;
    opts->no_stratify = false;
}

/* Part sizes by cumulative rounding of the cut points (see the file comment). */
static void part_sizes(int64_t n, const double r[PARTS], double sum, int64_t size[PARTS])
{
    int64_t cut0 = (int64_t)llround((double)n * (r[0] / sum));
    int64_t cut1 = (int64_t)llround((double)n * ((r[0] + r[1]) / sum));
    /* Guard against rounding past the ends (cannot happen for ratios that sum to `sum`). */
    cut0 = cut0 < 0 ? 0 : cut0 > n ? n : cut0;
    cut1 = cut1 < cut0 ? cut0 : cut1 > n ? n : cut1;
    size[0] = cut0;
    size[1] = cut1 - cut0;
    size[2] = n - cut1;
}

/* ---- stratified rounding --------------------------------------------------------------------- */

/* One cell (class, part) whose exact share has a fractional part. */
typedef struct cell {
    uint64_t rem; /* numerator of the fractional part (over n) */
    int cls, part;
} cell;

static int cell_order(const void *pa, const void *pb)
{
    const cell *a = pa, *b = pb;
    if (a->rem != b->rem)
        return a->rem > b->rem ? -1 : 1;
    if (a->part != b->part)
        return a->part - b->part;
    return a->cls - b->cls;
}

/* Working state of the rounding: extra[c * PARTS + p] is 1 where cell (c, p) takes its
 * ceiling; row_need[c] and col_need[p] are the extra rows class c must still give and part p
 * must still get. */
typedef struct rounding {
    int classes;
    const uint64_t *rem; /* [classes * PARTS] */
    unsigned char *extra;
    int64_t *row_need;
    int64_t col_need[PARTS];
    int *prev;  /* [classes + PARTS] BFS parent (node numbering: classes, then parts) */
    int *queue; /* [classes + PARTS] */
} rounding;

/* Finds one breadth-first alternating path from a class that still owes rows to a part that
 * still lacks some (class -> part over a cell without its extra row, part -> class over a cell
 * with one) and flips the cells along it. Returns false when there is none. */
static bool augment(rounding *rd)
{
    int nodes = rd->classes + PARTS, head = 0, tail = 0;
    for (int v = 0; v < nodes; v++)
        rd->prev[v] = -2; /* unvisited */
    for (int c = 0; c < rd->classes; c++) {
        if (rd->row_need[c] > 0) {
            rd->prev[c] = -1;
            rd->queue[tail++] = c;
        }
    }
    while (head < tail) {
        int v = rd->queue[head++];
        if (v < rd->classes) {
            for (int p = 0; p < PARTS; p++) {
                size_t k = (size_t)v * PARTS + (size_t)p;
                int w = rd->classes + p;
                if (rd->rem[k] == 0 || rd->extra[k] || rd->prev[w] != -2)
                    continue;
                rd->prev[w] = v;
                if (rd->col_need[p] > 0) {
                    /* Flip the path back to its source class. */
                    rd->col_need[p]--;
                    for (int x = w; rd->prev[x] != -1; x = rd->prev[x]) {
                        int y = rd->prev[x];
                        if (y < rd->classes) /* class y -> part x: take the extra row */
                            rd->extra[(size_t)y * PARTS + (size_t)(x - rd->classes)] = 1;
                        else /* part y -> class x: give it back */
                            rd->extra[(size_t)x * PARTS + (size_t)(y - rd->classes)] = 0;
                        if (rd->prev[y] == -1)
                            rd->row_need[y]--;
                    }
                    return true;
                }
                rd->queue[tail++] = w;
            }
        } else {
            int p = v - rd->classes;
            for (int c = 0; c < rd->classes; c++) {
                size_t k = (size_t)c * PARTS + (size_t)p;
                if (rd->extra[k] && rd->prev[c] == -2) {
                    rd->prev[c] = v;
                    rd->queue[tail++] = c;
                }
            }
        }
    }
    return false;
}

/* Per-class part counts a[c][p] (see the file comment). count[c] rows in class c; size[p]
 * the part sizes; out[c * PARTS + p]. */
static ns_status stratified_counts(ns_ctx *ctx, int classes, const int64_t *count, int64_t n,
                                   const int64_t size[PARTS], int64_t *out)
{
    size_t cells = (size_t)classes * PARTS;
    uint64_t *rem = ns_alloc(ctx, cells * sizeof *rem);
    unsigned char *extra = ns_calloc(ctx, cells, 1);
    cell *order = ns_alloc(ctx, cells * sizeof *order);
    int64_t *row_need = ns_alloc(ctx, (size_t)classes * sizeof *row_need);
    int *prev = ns_alloc(ctx, (size_t)(classes + PARTS) * sizeof *prev);
    int *queue = ns_alloc(ctx, (size_t)(classes + PARTS) * sizeof *queue);
    ns_status st = NS_ERR_NOMEM;
    if (!rem || !extra || !order || !row_need || !prev || !queue)
        goto done;

    rounding rd = {classes, rem, extra, row_need, {0}, prev, queue};
    uint64_t un = (uint64_t)n, col_rem[PARTS] = {0};
    size_t n_order = 0;
    for (int c = 0; c < classes; c++) {
        uint64_t row_rem = 0;
        for (int p = 0; p < PARTS; p++) {
            size_t k = (size_t)c * PARTS + (size_t)p;
            /* n <= 2^32 - 1, so the product fits in 64 bits. */
            uint64_t share = (uint64_t)count[c] * (uint64_t)size[p];
            out[k] = (int64_t)(share / un);
            rem[k] = share % un;
            row_rem += rem[k];
            col_rem[p] += rem[k];
            if (rem[k] > 0)
                order[n_order++] = (cell){rem[k], c, p};
        }
        /* The shares of a class add up to count[c], so the remainders add up to a multiple
         * of n: the number of ceilings the class must take. */
        NS_ASSERT(row_rem % un == 0);
        row_need[c] = (int64_t)(row_rem / un);
    }
    for (int p = 0; p < PARTS; p++) {
        NS_ASSERT(col_rem[p] % un == 0);
        rd.col_need[p] = (int64_t)(col_rem[p] / un);
    }
    qsort(order, n_order, sizeof *order, cell_order);
    for (size_t i = 0; i < n_order; i++) {
        const cell *e = &order[i];
        if (row_need[e->cls] > 0 && rd.col_need[e->part] > 0) {
            extra[(size_t)e->cls * PARTS + (size_t)e->part] = 1;
            row_need[e->cls]--;
            rd.col_need[e->part]--;
        }
    }
    while (augment(&rd)) {
    }
    for (int p = 0; p < PARTS; p++)
        NS_ASSERT(rd.col_need[p] == 0);
    for (size_t k = 0; k < cells; k++)
        out[k] += extra[k];
    st = NS_OK;
done:
    ns_dealloc(ctx, rem);
    ns_dealloc(ctx, extra);
    ns_dealloc(ctx, order);
    ns_dealloc(ctx, row_need);
    ns_dealloc(ctx, prev);
    ns_dealloc(ctx, queue);
    return st;
}

/* Fills rows[n] with the stratified split: part 0's rows first, then part 1's, then part 2's
 * (each already shuffled). */
static ns_status stratify(const ns_dataset *ds, uint64_t seed, const int64_t size[PARTS],
                          int64_t *rows)
{
    ns_ctx *ctx = ds->ctx;
    const ns__data_store *s = ds->store;
    int classes = s->classes;
    int64_t n = ds->rows;
    /* count[c] rows of class c, then start[c]: where they begin in byclass */
    int64_t *count = ns_calloc(ctx, (size_t)classes * 2, sizeof *count);
    int64_t *take = ns_alloc(ctx, (size_t)classes * PARTS * sizeof *take);
    int64_t *byclass = ns_alloc(ctx, (size_t)n * sizeof *byclass);
    ns_status st = NS_ERR_NOMEM;
    if (!count || !take || !byclass)
        goto done;
    int64_t *start = count + classes;

    for (int64_t i = 0; i < n; i++) {
        int32_t label = s->labels[ns__ds_store_row(ds, i)];
        NS_ASSERT(label >= 0 && label < classes);
        count[label]++;
    }
    for (int c = 1; c < classes; c++)
        start[c] = start[c - 1] + count[c - 1];
    /* Counting sort by class keeps row order within a class. */
    for (int64_t i = 0; i < n; i++) {
        int32_t label = s->labels[ns__ds_store_row(ds, i)];
        byclass[start[label]++] = i;
    }
    for (int c = 0; c < classes; c++)
        start[c] -= count[c];

    st = stratified_counts(ctx, classes, count, n, size, take);
    if (st != NS_OK)
        goto done;

    int64_t cursor[PARTS] = {0, size[0], size[0] + size[1]};
    for (int c = 0; c < classes; c++) {
        int64_t *mine = byclass + start[c];
        ns_rng rng;
        ns_rng_init(&rng, seed, NS_RNG_SPLIT, CLASS_STEP + (uint64_t)c);
        ns__shuffle_rows(mine, count[c], &rng);
        for (int p = 0; p < PARTS; p++) {
            int64_t k = take[(size_t)c * PARTS + (size_t)p];
            memcpy(rows + cursor[p], mine, (size_t)k * sizeof *rows);
            cursor[p] += k;
            mine += k;
        }
    }
    int64_t first = 0;
    for (int p = 0; p < PARTS; p++) {
        NS_ASSERT(cursor[p] == first + size[p]);
        ns_rng rng;
        ns_rng_init_lane(&rng, seed, NS_RNG_SPLIT, PART_STEP + (uint64_t)p, PART_LANE);
        ns__shuffle_rows(rows + first, size[p], &rng);
        first += size[p];
    }
    st = NS_OK;
done:
    ns_dealloc(ctx, count);
    ns_dealloc(ctx, take);
    ns_dealloc(ctx, byclass);
    return st;
}

/* ---- the card -------------------------------------------------------------------------------- */

ns_status ns_data_split(const ns_dataset *ds, const ns_split_options *opts, ns_dataset **train,
                        ns_dataset **val, ns_dataset **test)
{
    NS_ASSERT(ds != NULL);
    ns_dataset **out[PARTS] = {train, val, test};
    for (int p = 0; p < PARTS; p++)
        if (out[p] != NULL)
            *out[p] = NULL;
    ns_split_options defaults;
    if (opts == NULL) {
        ns_split_options_default(&defaults);
        opts = &defaults;
    }
    ns_ctx *ctx = ds->ctx;
    const double r[PARTS] = {opts->train, opts->val, opts->test};
    double sum = 0.0;
    for (int p = 0; p < PARTS; p++) {
        if (!isfinite(r[p]) || r[p] < 0.0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "split: the %s ratio is %g; ratios must be finite and >= 0",
                             part_names[p], r[p]);
        sum += r[p];
    }
    if (!(sum > 0.0) || !isfinite(sum))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "split: the ratios train %g, val %g, test %g must have a positive, "
                         "finite sum",
                         r[0], r[1], r[2]);
    if (opts->exact_sum && fabs(sum - 1.0) > SUM_TOLERANCE)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "split: the ratios train %g, val %g, test %g add up to %.10g, not 1; "
                         "give ratios that add up to 1 (e.g. 0.7,0.15,0.15 or 0.8,0.2)",
                         r[0], r[1], r[2], sum);
    int64_t n = ds->rows;
    if ((uint64_t)n > UINT32_MAX)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED, "split: %lld rows; at most %lu rows can be split",
                         (long long)n, (unsigned long)UINT32_MAX);
    int64_t size[PARTS];
    part_sizes(n, r, sum, size);
    for (int p = 0; p < PARTS; p++) {
        if (r[p] > 0.0 && size[p] == 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "split: the %s part (ratio %g of %g) would get 0 of %lld rows; "
                             "raise its ratio or set it to 0",
                             part_names[p], r[p], sum, (long long)n);
    }

    int64_t *rows = NULL;
    ns_status st = NS_OK;
    if (n > 0) {
        rows = ns_alloc(ctx, (size_t)n * sizeof *rows);
        if (rows == NULL)
            return NS_ERR_NOMEM;
    }
    const ns__data_store *s = ds->store;
    bool stratified = !opts->no_stratify && s->task == NS_TASK_CLASSIFICATION &&
                      s->labels != NULL && s->classes > 0 && n > 0;
    if (stratified) {
        st = stratify(ds, opts->seed, size, rows);
    } else {
        for (int64_t i = 0; i < n; i++)
            rows[i] = i;
        ns_rng rng;
        ns_rng_init(&rng, opts->seed, NS_RNG_SPLIT, 0);
        ns__shuffle_rows(rows, n, &rng);
    }

    ns_dataset *made[PARTS] = {NULL, NULL, NULL};
    int64_t first = 0;
    for (int p = 0; st == NS_OK && p < PARTS; p++) {
        if (out[p] != NULL && r[p] > 0.0)
            st = ns__dataset_view(ds, rows + first, size[p], &made[p]);
        first += size[p];
    }
    ns_dealloc(ctx, rows);
    for (int p = 0; p < PARTS; p++) {
        if (st != NS_OK)
            ns_dataset_free(made[p]);
        else if (out[p] != NULL)
            *out[p] = made[p];
    }
    return st;
}
