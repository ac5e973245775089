/* fANOVA importance of a study's settings (Hutter et al. 2014) as Optuna 3.1's
 * FanovaImportanceEvaluator computes it: a random forest of regression trees fitted to the
 * complete trials, and per tree the variance of each setting's main effect as a fraction of the
 * tree's variance, averaged over the trees and normalised to sum to 1. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune_internal.h"

/* The forest's random streams: (0, NS__RNG_TUNE_FOREST, tree index), lane 0 for the bootstrap
 * draw, lane 1 for the order in which a node tries the features. */
#define NS__RNG_TUNE_FOREST 6u

/* RandomForestRegressor(n_estimators=64, max_depth=64, min_samples_split=2,
 * min_samples_leaf=1, bootstrap=True, max_features=1.0), as the evaluator makes it. */
#define FOREST_TREES 64
#define FOREST_MAX_DEPTH 64
/* scikit-learn's splitter: feature values closer than this count as equal (no split between
 * them), and a node whose impurity is within DBL_EPSILON of 0 is a leaf. */
#define FEATURE_THRESHOLD 1e-7

/* The data the forest is fitted to: n samples of F encoded columns. Numeric settings are one
 * column each, in their own scale (Optuna's transform_log=False: a log range is not logged);
 * a choice of k values is k one-hot columns with bounds [0, 1]. Feature values are held in
 * single precision, as scikit-learn's trees hold them. */
typedef struct fv_data {
    int n, F;
    float *x;        /* [F][n] column-major */
    double *y;       /* [n] */
    double *lo, *hi; /* [F] the column's bounds in the search space */
    int *col_group;  /* [F] which setting the column encodes */
    int *sorted;     /* [F][n] sample indices in increasing order of the column's value */
} fv_data;

/* One tree being built and analysed; every array is sized for the largest tree (n leaves). */
typedef struct fv_tree {
    const fv_data *d;
    ns_rng order_rng;
    double *w;           /* [n] bootstrap counts */
    int m;               /* samples drawn at least once */
    int *ord;            /* [F][m] the drawn samples, per column in increasing order of value */
    int *tmp;            /* [m] partition scratch */
    unsigned char *left; /* [n] whether a sample goes to the left child */
    int *feat_order;     /* [F] */
    double *box;         /* [FOREST_MAX_DEPTH + 2][2][F] the node's box at each depth */
    int n_leaves;
    double *leaf_value;        /* [m] */
    double *leaf_lo, *leaf_hi; /* [m][F] each leaf's box */
    int n_splits;
    int *split_feat;   /* [m] each internal node's column */
    double *split_thr; /* [m] and threshold */
    /* fANOVA scratch */
    double *cut;                /* [m + 2] a column's sorted distinct thresholds */
    int *cut_start, *cut_count; /* [F] each column's thresholds: cut_all[cut_start[f] ...] */
    double *cut_all;            /* [m] */
    double *acc_num, *acc_den;  /* [m + 2] */
} fv_tree;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorting sample indices by one column's value (qsort has no context argument, so the pair is
 * sorted and the index taken back). */
typedef struct fv_pair {
    float v;
    int i;
} fv_pair;

static int cmp_pair(const void *a, const void *b)
{
    const fv_pair *p = a, *q = b;
    if (p->v != q->v)
        return (p->v > q->v) - (p->v < q->v);
    return (p->i > q->i) - (p->i < q->i);
}

/* ---- the tree -------------------------------------------------------------------------------- */

/* The best split of the node holding samples ord[f][start, end) as scikit-learn's BestSplitter
 * finds it: features in a random order, each scanned over its sorted values for the largest
 * proxy improvement sum_l^2 / w_l + sum_r^2 / w_r, the first feature found winning ties. Returns
 * the column (or -1: none splits), the split position and threshold. */
static int best_split(fv_tree *t, int start, int end, int *pos_out, double *thr_out)
{
    const fv_data *d = t->d;
    int F = d->F, m = t->m;
    for (int i = 0; i < F; i++)
        t->feat_order[i] = i;
    for (int i = F - 1; i > 0; i--) {
        int j = (int)ns_rng_below(&t->order_rng, (uint32_t)i + 1u);
        int s = t->feat_order[i];
        t->feat_order[i] = t->feat_order[j];
        t->feat_order[j] = s;
    }
    double w_total = 0.0, s_total = 0.0;
    const int *o0 = t->ord;
    for (int k = start; k < end; k++) {
        w_total += t->w[o0[k]];
        s_total += t->w[o0[k]] * d->y[o0[k]];
    }
    double best = -(double)INFINITY;
    int best_f = -1;
    for (int fi = 0; fi < F; fi++) {
        int f = t->feat_order[fi];
        const int *o = t->ord + (size_t)f * (size_t)m;
        const float *xf = d->x + (size_t)f * (size_t)d->n;
        if ((double)xf[o[end - 1]] <= (double)xf[o[start]] + FEATURE_THRESHOLD)
            continue; /* constant here */
        double wl = 0.0, sl = 0.0;
        int p = start, q = start;
        while (p < end) {
            while (p + 1 < end && (double)xf[o[p + 1]] <= (double)xf[o[p]] + FEATURE_THRESHOLD)
                p++;
            p++;
            if (p >= end)
                break;
            for (; q < p; q++) {
                wl += t->w[o[q]];
                sl += t->w[o[q]] * d->y[o[q]];
            }
            double wr = w_total - wl, sr = s_total - sl;
            double proxy = sl * sl / wl + sr * sr / wr;
            if (proxy > best) {
                best = proxy;
                best_f = f;
                *pos_out = p;
                double a = (double)xf[o[p - 1]], b = (double)xf[o[p]];
                double thr = a / 2.0 + b / 2.0;
                if (thr == b || isinf(thr))
                    thr = a;
                *thr_out = thr;
            }
        }
    }
    return best_f;
}

/* Weighted count, mean and impurity (variance) of the samples o[start, end). */
static void node_stats(const fv_tree *t, const int *o, int start, int end, double *w_out,
                       double *mean_out, double *impurity_out)
{
    double w = 0.0, s = 0.0, q = 0.0;
    for (int k = start; k < end; k++) {
        double wi = t->w[o[k]], yi = t->d->y[o[k]];
        w += wi;
        s += wi * yi;
        q += wi * yi * yi;
    }
    double mean = s / w;
    *w_out = w;
    *mean_out = mean;
    *impurity_out = q / w - mean * mean;
}

/* Grows the node holding ord[.][start, end) at depth, its box at t->box[depth] (depth-first,
 * left child first, as scikit-learn's DepthFirstTreeBuilder). Leaves keep their value (the
 * weighted mean) and box; internal nodes their column and threshold. */
static void grow(fv_tree *t, int start, int end, int depth, double impurity, double w_node)
{
    const fv_data *d = t->d;
    int F = d->F, m = t->m;
    double *lo = t->box + (size_t)depth * 2u * (size_t)F, *hi = lo + F;
    int pos = end, f = -1;
    double thr = 0.0;
    bool leaf = depth >= FOREST_MAX_DEPTH || end - start < 2 || impurity <= DBL_EPSILON;
    double wl = 0.0, ml = 0.0, il = 0.0, wr = 0.0, mr = 0.0, ir = 0.0;
    if (!leaf) {
        f = best_split(t, start, end, &pos, &thr);
        leaf = f < 0;
    }
    if (!leaf) {
        const int *o = t->ord + (size_t)f * (size_t)m;
        node_stats(t, o, start, pos, &wl, &ml, &il);
        node_stats(t, o, pos, end, &wr, &mr, &ir);
        double improvement =
            w_node / (double)d->n * (impurity - wr / w_node * ir - wl / w_node * il);
        leaf = improvement + DBL_EPSILON < 0.0;
    }
    if (leaf) {
        double w, mean, imp;
        node_stats(t, t->ord, start, end, &w, &mean, &imp);
        int k = t->n_leaves++;
        t->leaf_value[k] = mean;
        memcpy(t->leaf_lo + (size_t)k * (size_t)F, lo, (size_t)F * sizeof *lo);
        memcpy(t->leaf_hi + (size_t)k * (size_t)F, hi, (size_t)F * sizeof *hi);
        return;
    }
    t->split_feat[t->n_splits] = f;
    t->split_thr[t->n_splits] = thr;
    t->n_splits++;
    /* The left child is the first pos - start samples in the split column's order; every
     * column's range is partitioned stably so each stays sorted. */
    const int *of = t->ord + (size_t)f * (size_t)m;
    for (int k = start; k < end; k++)
        t->left[of[k]] = k < pos;
    for (int g = 0; g < F; g++) {
        if (g == f)
            continue;
        int *o = t->ord + (size_t)g * (size_t)m;
        int a = start, b = 0;
        for (int k = start; k < end; k++) {
            if (t->left[o[k]])
                o[a++] = o[k];
            else
                t->tmp[b++] = o[k];
        }
        memcpy(o + a, t->tmp, (size_t)b * sizeof *o);
    }
    double *clo = lo + 2u * (size_t)F, *chi = clo + F;
    memcpy(clo, lo, (size_t)F * sizeof *lo);
    memcpy(chi, hi, (size_t)F * sizeof *hi);
    chi[f] = thr;
    grow(t, start, pos, depth + 1, il, wl);
    memcpy(clo, lo, (size_t)F * sizeof *lo);
    memcpy(chi, hi, (size_t)F * sizeof *hi);
    clo[f] = thr;
    grow(t, pos, end, depth + 1, ir, wr);
}

/* Tree `tree`: the bootstrap draw (n draws with replacement, kept as counts), then the tree. */
static void build_tree(fv_tree *t, int tree)
{
    const fv_data *d = t->d;
    int n = d->n, F = d->F;
    ns_rng rng;
    ns_rng_init_lane(&rng, 0, NS__RNG_TUNE_FOREST, (uint64_t)tree, 0);
    ns_rng_init_lane(&t->order_rng, 0, NS__RNG_TUNE_FOREST, (uint64_t)tree, 1);
    memset(t->w, 0, (size_t)n * sizeof *t->w);
    for (int i = 0; i < n; i++)
        t->w[ns_rng_below(&rng, (uint32_t)n)] += 1.0;
    int m = 0;
    for (int i = 0; i < n; i++)
        m += t->w[i] > 0.0;
    t->m = m;
    for (int f = 0; f < F; f++) {
        const int *src = d->sorted + (size_t)f * (size_t)n;
        int *dst = t->ord + (size_t)f * (size_t)m, k = 0;
        for (int i = 0; i < n; i++)
            if (t->w[src[i]] > 0.0)
                dst[k++] = src[i];
    }
    memcpy(t->box, d->lo, (size_t)F * sizeof *t->box);
    memcpy(t->box + F, d->hi, (size_t)F * sizeof *t->box);
    t->n_leaves = 0;
    t->n_splits = 0;
    double w, mean, impurity;
    node_stats(t, t->ord, 0, m, &w, &mean, &impurity);
    grow(t, 0, m, 0, impurity, w);
}

/* ---- fANOVA of one tree ---------------------------------------------------------------------- */

/* Weighted mean and variance of v[n] with weights w[n] (numpy.average's two passes). */
static double weighted_variance(const double *v, const double *w, int n)
{
    double sw = 0.0, swv = 0.0;
    for (int i = 0; i < n; i++) {
        sw += w[i];
        swv += w[i] * v[i];
    }
    if (!(sw > 0.0))
        return 0.0;
    double avg = swv / sw, var = 0.0;
    for (int i = 0; i < n; i++)
        var += w[i] * (v[i] - avg) * (v[i] - avg);
    return var / sw;
}

/* The tree's variance: of its leaf values, each weighted by its box's volume. */
static double tree_variance(fv_tree *t)
{
    int F = t->d->F;
    double *vol = t->acc_den;
    for (int k = 0; k < t->n_leaves; k++) {
        double v = 1.0;
        for (int f = 0; f < F; f++)
            v *= t->leaf_hi[(size_t)k * F + f] - t->leaf_lo[(size_t)k * F + f];
        vol[k] = v;
    }
    return weighted_variance(t->leaf_value, vol, t->n_leaves);
}

/* Each column's sorted distinct split thresholds, into cut_all. */
static void collect_cuts(fv_tree *t)
{
    int F = t->d->F, at = 0;
    for (int f = 0; f < F; f++) {
        int c = 0;
        t->cut_start[f] = at;
        for (int k = 0; k < t->n_splits; k++)
            if (t->split_feat[k] == f)
                t->cut_all[at + c++] = t->split_thr[k];
        qsort(t->cut_all + at, (size_t)c, sizeof *t->cut_all, cmp_double);
        int u = 0;
        for (int k = 0; k < c; k++)
            if (u == 0 || t->cut_all[at + k] != t->cut_all[at + u - 1])
                t->cut_all[at + u++] = t->cut_all[at + k];
        t->cut_count[f] = u;
        at += u;
    }
}

/* Which interval of column f (0: below its first threshold) starts at box edge x: an edge is
 * the column's lower bound or one of its thresholds. */
static int interval_of_edge(const fv_tree *t, int f, double x)
{
    const double *c = t->cut_all + t->cut_start[f];
    int lo = 0, hi = t->cut_count[f];
    while (lo < hi) { /* the number of thresholds <= x */
        int mid = (lo + hi) / 2;
        if (c[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The variance of the main effect of one numeric column f (Optuna's get_marginal_variance of
 * one feature): over the intervals between f's thresholds, the prediction averaged over the
 * other columns (each leaf covering the interval weighted by its box's volume in the other
 * columns), weighted by the interval's width. One sweep over the leaves gives every interval's
 * average; Optuna walks the tree once per interval to the same sums. */
static double marginal_variance_column(fv_tree *t, int f)
{
    int F = t->d->F, k = t->cut_count[f];
    const double *c = t->cut_all + t->cut_start[f];
    double *num = t->acc_num, *den = t->acc_den;
    memset(num, 0, (size_t)(k + 2) * sizeof *num);
    memset(den, 0, (size_t)(k + 2) * sizeof *den);
    for (int L = 0; L < t->n_leaves; L++) {
        const double *lo = t->leaf_lo + (size_t)L * F, *hi = t->leaf_hi + (size_t)L * F;
        double w = 1.0;
        for (int g = 0; g < F; g++)
            if (g != f)
                w *= hi[g] - lo[g];
        int a = lo[f] == t->d->lo[f] ? 0 : interval_of_edge(t, f, lo[f]);
        int b = hi[f] == t->d->hi[f] ? k + 1 : interval_of_edge(t, f, hi[f]);
        num[a] += w * t->leaf_value[L];
        den[a] += w;
        num[b] -= w * t->leaf_value[L];
        den[b] -= w;
    }
    /* Prefix sums give each interval's sums; the interval's value and weight (its leaves' weight
     * times its width) reuse the arrays. */
    double sn = 0.0, sd = 0.0;
    for (int j = 0; j <= k; j++) {
        sn += num[j];
        sd += den[j];
        double left = j == 0 ? t->d->lo[f] : c[j - 1];
        double right = j == k ? t->d->hi[f] : c[j];
        num[j] = sd > 0.0 ? sn / sd : 0.0;
        den[j] = sd > 0.0 ? sd * (right - left) : 0.0;
    }
    return weighted_variance(num, den, k + 1);
}

/* marginal_variance_group without enumerating the combinations, for a choice whose
 * combinations outnumber the leaves. The average prediction at a point b of the group's columns
 * is g(b) = sum_L a_L [b in L] / D (a_L a leaf's value times its volume in the other columns, D
 * the other columns' volume); with b drawn in proportion to the intervals' widths, its variance
 * is (sum_{L,L'} a_L a_L' P(b in L and L') - (sum_L a_L P(b in L))^2) / D^2, each P a product
 * over the group's columns of the boxes' overlap. Values are centred on the tree's mean and
 * leaves spanning the whole group (they shift g by a constant) are left out. */
static double marginal_variance_group_pairs(const fv_tree *t, int first, int nc, ns_ctx *ctx,
                                            ns_status *st)
{
    const fv_data *d = t->d;
    int F = d->F, nl = t->n_leaves;
    int *r = ns_alloc(ctx, (size_t)nl * sizeof *r);
    double *a = ns_alloc(ctx, (size_t)nl * sizeof *a);
    if (!r || !a) {
        ns_dealloc(ctx, r);
        ns_dealloc(ctx, a);
        *st = NS_ERR_NOMEM;
        return 0.0;
    }
    double D = 1.0, sw = 0.0, swv = 0.0;
    for (int g = 0; g < F; g++)
        if (g < first || g >= first + nc)
            D *= d->hi[g] - d->lo[g];
    for (int L = 0; L < nl; L++) {
        const double *lo = t->leaf_lo + (size_t)L * F, *hi = t->leaf_hi + (size_t)L * F;
        double v = 1.0;
        for (int g = 0; g < F; g++)
            v *= hi[g] - lo[g];
        sw += v;
        swv += v * t->leaf_value[L];
    }
    double mean = swv / sw;
    int R = 0;
    for (int L = 0; L < nl; L++) {
        const double *lo = t->leaf_lo + (size_t)L * F, *hi = t->leaf_hi + (size_t)L * F;
        bool restricted = false;
        double w = 1.0;
        for (int g = 0; g < F; g++) {
            if (g < first || g >= first + nc)
                w *= hi[g] - lo[g];
            else
                restricted |= lo[g] != d->lo[g] || hi[g] != d->hi[g];
        }
        if (restricted) {
            r[R] = L;
            a[R++] = (t->leaf_value[L] - mean) * w;
        }
    }
    double m1 = 0.0, m2 = 0.0;
    for (int i = 0; i < R; i++) {
        const double *lo_i = t->leaf_lo + (size_t)r[i] * F, *hi_i = t->leaf_hi + (size_t)r[i] * F;
        double p = 1.0;
        for (int c = first; c < first + nc; c++)
            p *= (hi_i[c] - lo_i[c]) / (d->hi[c] - d->lo[c]);
        m1 += a[i] * p;
        m2 += a[i] * a[i] * p;
        for (int j = 0; j < i; j++) {
            const double *lo_j = t->leaf_lo + (size_t)r[j] * F;
            const double *hi_j = t->leaf_hi + (size_t)r[j] * F;
            double q = 1.0;
            for (int c = first; c < first + nc && q > 0.0; c++) {
                double o = fmin(hi_i[c], hi_j[c]) - fmax(lo_i[c], lo_j[c]);
                q *= o > 0.0 ? o / (d->hi[c] - d->lo[c]) : 0.0;
            }
            m2 += 2.0 * a[i] * a[j] * q;
        }
    }
    ns_dealloc(ctx, r);
    ns_dealloc(ctx, a);
    double var = (m2 - m1 * m1) / (D * D);
    return var > 0.0 ? var : 0.0;
}

/* The main effect's variance of a choice, its one-hot columns [first, first + nc) taken together
 * (Optuna's get_marginal_variance of several features): over every combination of one interval per
 * column, the average prediction of the leaves whose box holds the combination's midpoints
 * (each weighted by its volume in the other columns), weighted by the product of the
 * intervals' widths. Columns the tree never splits on have one interval and are left out of the
 * enumeration. */
static double marginal_variance_group(fv_tree *t, int first, int nc, ns_ctx *ctx, ns_status *st)
{
    int F = t->d->F, ns = 0;
    double n_combos = 1.0;
    for (int f = first; f < first + nc; f++)
        if (t->cut_count[f] > 0) {
            ns++;
            n_combos *= (double)t->cut_count[f] + 1.0;
        }
    if (ns == 0)
        return 0.0; /* one combination: no variance */
    if (n_combos > (double)t->n_leaves)
        return marginal_variance_group_pairs(t, first, nc, ctx, st);
    size_t nl = (size_t)t->n_leaves, combos = (size_t)n_combos;
    int *split_cols = ns_alloc(ctx, (size_t)ns * sizeof *split_cols);
    /* Per leaf: its weight and, per split column, the range [a, b] of intervals it covers. */
    double *lw = ns_alloc(ctx, nl * sizeof *lw);
    int *ra = ns_alloc(ctx, nl * (size_t)ns * 2u * sizeof *ra);
    double *val = ns_alloc(ctx, combos * sizeof *val), *wt = ns_alloc(ctx, combos * sizeof *wt);
    int *idx = ns_alloc(ctx, (size_t)ns * sizeof *idx);
    double var = 0.0;
    if (!split_cols || !lw || !ra || !val || !wt || !idx) {
        *st = NS_ERR_NOMEM;
        goto done;
    }
    for (int f = first, i = 0; f < first + nc; f++)
        if (t->cut_count[f] > 0)
            split_cols[i++] = f;
    for (size_t L = 0; L < nl; L++) {
        const double *lo = t->leaf_lo + L * (size_t)F, *hi = t->leaf_hi + L * (size_t)F;
        double w = 1.0;
        for (int g = 0; g < F; g++)
            if (g < first || g >= first + nc)
                w *= hi[g] - lo[g];
        lw[L] = w;
        for (int i = 0; i < ns; i++) {
            int f = split_cols[i], k = t->cut_count[f];
            int a = lo[f] == t->d->lo[f] ? 0 : interval_of_edge(t, f, lo[f]);
            int b = hi[f] == t->d->hi[f] ? k + 1 : interval_of_edge(t, f, hi[f]);
            ra[(L * (size_t)ns + (size_t)i) * 2u] = a;
            ra[(L * (size_t)ns + (size_t)i) * 2u + 1u] = b;
        }
    }
    memset(idx, 0, (size_t)ns * sizeof *idx);
    for (size_t cmb = 0; cmb < combos; cmb++) {
        double size = 1.0;
        for (int i = 0; i < ns; i++) {
            int f = split_cols[i], k = t->cut_count[f];
            const double *c = t->cut_all + t->cut_start[f];
            double left = idx[i] == 0 ? t->d->lo[f] : c[idx[i] - 1];
            double right = idx[i] == k ? t->d->hi[f] : c[idx[i]];
            size *= right - left;
        }
        double sn = 0.0, sd = 0.0;
        for (size_t L = 0; L < nl; L++) {
            const int *r = ra + L * (size_t)ns * 2u;
            bool in = true;
            for (int i = 0; i < ns && in; i++)
                in = idx[i] >= r[2 * i] && idx[i] < r[2 * i + 1];
            if (in) {
                sn += lw[L] * t->leaf_value[L];
                sd += lw[L];
            }
        }
        val[cmb] = sd > 0.0 ? sn / sd : 0.0;
        wt[cmb] = sd > 0.0 ? sd * size : 0.0;
        for (int i = 0; i < ns; i++) { /* the next combination (mixed radix) */
            if (++idx[i] <= t->cut_count[split_cols[i]])
                break;
            idx[i] = 0;
        }
    }
    var = weighted_variance(val, wt, (int)combos);
done:
    ns_dealloc(ctx, split_cols);
    ns_dealloc(ctx, lw);
    ns_dealloc(ctx, ra);
    ns_dealloc(ctx, val);
    ns_dealloc(ctx, wt);
    ns_dealloc(ctx, idx);
    return var;
}

/* ---- the data -------------------------------------------------------------------------------- */

static bool param_single(const ns__param *p)
{
    return p->kind == NS__P_CHOICE ? p->n_choices <= 1 : !(p->high > p->low);
}

/* The used settings (active in every complete trial, with more than one value in the space):
 * use[space.n]; returns how many encoded columns they need. */
static int choose_settings(const ns_study *s, bool *use)
{
    const ns__space *sp = &s->def->space;
    int F = 0;
    for (int i = 0; i < sp->n; i++) {
        const ns__param *p = &sp->p[i];
        use[i] = !param_single(p);
        for (int t = 0; t < s->n && use[i]; t++) {
            const ns__trial *tr = &s->trials[t];
            if (tr->state == NS_TRIAL_COMPLETE && isfinite(tr->value) && isnan(tr->x[i]))
                use[i] = false;
        }
        if (use[i])
            F += p->kind == NS__P_CHOICE ? p->n_choices : 1;
    }
    return F;
}

static void data_free(ns_ctx *ctx, fv_data *d)
{
    ns_dealloc(ctx, d->x);
    ns_dealloc(ctx, d->y);
    ns_dealloc(ctx, d->lo);
    ns_dealloc(ctx, d->hi);
    ns_dealloc(ctx, d->col_group);
    ns_dealloc(ctx, d->sorted);
}

/* The encoded samples of the complete trials (values clamped into their ranges, so a box never
 * reaches outside the space) and every column's sorted order. */
static ns_status data_make(const ns_study *s, const bool *use, int n, int F, fv_data *d)
{
    ns_ctx *ctx = s->ctx;
    const ns__space *sp = &s->def->space;
    d->n = n;
    d->F = F;
    d->x = ns_alloc(ctx, (size_t)F * (size_t)n * sizeof *d->x);
    d->y = ns_alloc(ctx, (size_t)n * sizeof *d->y);
    d->lo = ns_alloc(ctx, (size_t)F * sizeof *d->lo);
    d->hi = ns_alloc(ctx, (size_t)F * sizeof *d->hi);
    d->col_group = ns_alloc(ctx, (size_t)F * sizeof *d->col_group);
    d->sorted = ns_alloc(ctx, (size_t)F * (size_t)n * sizeof *d->sorted);
    fv_pair *pairs = ns_alloc(ctx, (size_t)n * sizeof *pairs);
    if (!d->x || !d->y || !d->lo || !d->hi || !d->col_group || !d->sorted || !pairs) {
        ns_dealloc(ctx, pairs);
        return NS_ERR_NOMEM;
    }
    int col = 0;
    for (int i = 0; i < sp->n; i++) {
        if (!use[i])
            continue;
        const ns__param *p = &sp->p[i];
        int width = p->kind == NS__P_CHOICE ? p->n_choices : 1;
        for (int c = 0; c < width; c++) {
            d->lo[col + c] = p->kind == NS__P_CHOICE ? 0.0 : p->low;
            d->hi[col + c] = p->kind == NS__P_CHOICE ? 1.0 : p->high;
            d->col_group[col + c] = i;
        }
        int r = 0;
        for (int t = 0; t < s->n; t++) {
            const ns__trial *tr = &s->trials[t];
            if (tr->state != NS_TRIAL_COMPLETE || !isfinite(tr->value))
                continue;
            double v = tr->x[i];
            if (p->kind == NS__P_CHOICE) {
                int k = (int)v;
                k = k < 0 ? 0 : k >= p->n_choices ? p->n_choices - 1 : k;
                for (int c = 0; c < width; c++)
                    d->x[(size_t)(col + c) * (size_t)n + (size_t)r] = c == k ? 1.0f : 0.0f;
            } else {
                v = v < p->low ? p->low : v > p->high ? p->high : v;
                d->x[(size_t)col * (size_t)n + (size_t)r] = (float)v;
            }
            d->y[r] = tr->value;
            r++;
        }
        col += width;
    }
    for (int f = 0; f < F; f++) {
        for (int i = 0; i < n; i++) {
            pairs[i].v = d->x[(size_t)f * (size_t)n + (size_t)i];
            pairs[i].i = i;
        }
        qsort(pairs, (size_t)n, sizeof *pairs, cmp_pair);
        for (int i = 0; i < n; i++)
            d->sorted[(size_t)f * (size_t)n + (size_t)i] = pairs[i].i;
    }
    ns_dealloc(ctx, pairs);
    return NS_OK;
}

static void tree_free(ns_ctx *ctx, fv_tree *t)
{
    ns_dealloc(ctx, t->w);
    ns_dealloc(ctx, t->ord);
    ns_dealloc(ctx, t->tmp);
    ns_dealloc(ctx, t->left);
    ns_dealloc(ctx, t->feat_order);
    ns_dealloc(ctx, t->box);
    ns_dealloc(ctx, t->leaf_value);
    ns_dealloc(ctx, t->leaf_lo);
    ns_dealloc(ctx, t->leaf_hi);
    ns_dealloc(ctx, t->split_feat);
    ns_dealloc(ctx, t->split_thr);
    ns_dealloc(ctx, t->cut_start);
    ns_dealloc(ctx, t->cut_count);
    ns_dealloc(ctx, t->cut_all);
    ns_dealloc(ctx, t->acc_num);
    ns_dealloc(ctx, t->acc_den);
}

static ns_status tree_alloc(ns_ctx *ctx, const fv_data *d, fv_tree *t)
{
    size_t n = (size_t)d->n, F = (size_t)d->F;
    t->d = d;
    t->w = ns_alloc(ctx, n * sizeof *t->w);
    t->ord = ns_alloc(ctx, F * n * sizeof *t->ord);
    t->tmp = ns_alloc(ctx, n * sizeof *t->tmp);
    t->left = ns_alloc(ctx, n);
    t->feat_order = ns_alloc(ctx, F * sizeof *t->feat_order);
    t->box = ns_alloc(ctx, (FOREST_MAX_DEPTH + 2u) * 2u * F * sizeof *t->box);
    t->leaf_value = ns_alloc(ctx, n * sizeof *t->leaf_value);
    t->leaf_lo = ns_alloc(ctx, n * F * sizeof *t->leaf_lo);
    t->leaf_hi = ns_alloc(ctx, n * F * sizeof *t->leaf_hi);
    t->split_feat = ns_alloc(ctx, n * sizeof *t->split_feat);
    t->split_thr = ns_alloc(ctx, n * sizeof *t->split_thr);
    t->cut_start = ns_alloc(ctx, F * sizeof *t->cut_start);
    t->cut_count = ns_alloc(ctx, F * sizeof *t->cut_count);
    t->cut_all = ns_alloc(ctx, n * sizeof *t->cut_all);
    t->acc_num = ns_alloc(ctx, (n + 2u) * sizeof *t->acc_num);
    t->acc_den = ns_alloc(ctx, (n + 2u) * sizeof *t->acc_den);
    if (!t->w || !t->ord || !t->tmp || !t->left || !t->feat_order || !t->box || !t->leaf_value ||
        !t->leaf_lo || !t->leaf_hi || !t->split_feat || !t->split_thr || !t->cut_start ||
        !t->cut_count || !t->cut_all || !t->acc_num || !t->acc_den)
        return NS_ERR_NOMEM;
    return NS_OK;
}

/* ---- the evaluator --------------------------------------------------------------------------- */

ns_status ns__importance_fanova(const ns_study *s, double *importance)
{
    ns_ctx *ctx = s->ctx;
    const ns__space *sp = &s->def->space;
    int n_set = sp->n;
    for (int i = 0; i < n_set; i++)
        importance[i] = 0.0;
    int n = 0;
    for (int t = 0; t < s->n; t++)
        n += s->trials[t].state == NS_TRIAL_COMPLETE && isfinite(s->trials[t].value);
    if (n < 2 || n_set == 0)
        return NS_OK;

    bool *use = ns_alloc(ctx, (size_t)n_set * sizeof *use);
    double *frac = ns_calloc(ctx, (size_t)n_set, sizeof *frac);
    int *cols = ns_alloc(ctx, (size_t)n_set * sizeof *cols); /* first column of each setting */
    fv_data d = {0};
    fv_tree t = {0};
    ns_status st = NS_OK;
    if (!use || !frac || !cols) {
        st = NS_ERR_NOMEM;
        goto done;
    }
    int F = choose_settings(s, use);
    if (F == 0)
        goto done;
    st = data_make(s, use, n, F, &d);
    if (st == NS_OK)
        st = tree_alloc(ctx, &d, &t);
    if (st != NS_OK)
        goto done;
    for (int i = 0, c = 0; i < n_set; i++) {
        cols[i] = c;
        if (use[i])
            c += sp->p[i].kind == NS__P_CHOICE ? sp->p[i].n_choices : 1;
    }

    /* Each setting's fraction averaged over the trees whose variance is positive. */
    int counted = 0;
    for (int tree = 0; tree < FOREST_TREES && st == NS_OK; tree++) {
        build_tree(&t, tree);
        double var = tree_variance(&t);
        if (!(var > 0.0))
            continue;
        collect_cuts(&t);
        counted++;
        for (int i = 0; i < n_set && st == NS_OK; i++) {
            if (!use[i])
                continue;
            double mv;
            if (sp->p[i].kind == NS__P_CHOICE) {
                mv = marginal_variance_group(&t, cols[i], sp->p[i].n_choices, ctx, &st);
            } else {
                mv = marginal_variance_column(&t, cols[i]);
            }
            frac[i] += (mv > 0.0 ? mv : 0.0) / var;
        }
    }
    if (st != NS_OK || counted == 0)
        goto done;
    double sum = 0.0;
    for (int i = 0; i < n_set; i++) {
        frac[i] /= (double)counted;
        sum += frac[i];
    }
    /* All variance in interactions leaves nothing to share out (Optuna divides by zero). */
    if (sum > 0.0)
        for (int i = 0; i < n_set; i++)
            importance[i] = frac[i] / sum;
done:
    if (st != NS_OK) {
        for (int i = 0; i < n_set; i++)
            importance[i] = 0.0;
        st = ns_errorf(ctx, st, "study importance: out of memory fitting the forest");
    }
    tree_free(ctx, &t);
    data_free(ctx, &d);
    ns_dealloc(ctx, use);
    ns_dealloc(ctx, frac);
    ns_dealloc(ctx, cols);
    return st;
}
