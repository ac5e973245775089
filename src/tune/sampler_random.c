/* The random and grid samplers. Random draws each setting from its own lane of the trial's
 * stream; the grid enumerates the space as a tree (a choice's value decides which of its
 * conditional settings exist), so points that differ only in inactive settings are one
 * point, and walks the points in an order shuffled once by the seed. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tune/tpe.h"
#include "tune/tune_internal.h"

/* ---- random --------------------------------------------------------------------------- */

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

double ns__random_value(const ns_study *s, int number, int i)
{
    const ns__param *p = &s->def->space.p[i];
    ns_rng rng;
    ns_rng_init_lane(&rng, s->def->sampler.seed, NS__RNG_TUNE, (uint64_t)number,
                     NS__LANE_RANDOM + (uint32_t)i);
    double u = ns__uniform53(&rng);
    switch (p->kind) {
    case NS__P_UNIFORM:
        return clamp(p->low + u * (p->high - p->low), p->low, p->high);
    case NS__P_LOG_UNIFORM: {
        double lo = log(p->low), hi = log(p->high);
        return clamp(exp(lo + u * (hi - lo)), p->low, p->high);
    }
    case NS__P_INT_LOG:
    case NS__P_INT:
        /* Optuna's int_log: log-uniform over [low - 0.5, high + 0.5], rounded and clamped (a
         * range reaching below 1 has no log scale: uniform over the values) */
        if (p->kind == NS__P_INT_LOG && p->low >= 1.0) {
            double lo = log(p->low - 0.5), hi = log(p->high + 0.5);
            return clamp(nearbyint(exp(lo + u * (hi - lo))), p->low, p->high);
        }
        return clamp(p->low + floor(u * (p->high - p->low + 1.0)), p->low, p->high);
    case NS__P_CHOICE:
        return clamp(floor(u * p->n_choices), 0.0, p->n_choices - 1.0);
    }
    return (double)NAN;
}

ns_status ns__sample_random(const ns_study *s, int number, double *x)
{
    const ns__space *sp = &s->def->space;
    for (int i = 0; i < sp->n; i++)
        x[i] = (double)NAN;
    for (int i = 0; i < sp->n; i++)
        if (ns__param_active(sp, i, x))
            x[i] = ns__random_value(s, number, i);
    return NS_OK;
}

/* ---- grid ------------------------------------------------------------------------------- */

/* The most points the grid sampler walks; the count saturates above GRID_SAT. */
#define GRID_MAX 1000000
#define GRID_SAT (INT64_C(1) << 62)
/* Integer ranges with at most this many values are enumerated whole. */
#define GRID_ALL_INTS 100

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > GRID_SAT - b ? GRID_SAT : a + b;
}

static int64_t sat_mul(int64_t a, int64_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a > GRID_SAT / b ? GRID_SAT : a * b;
}

/* Param p's grid values, ascending and distinct, into out (NULL: only counted). */
static int grid_values(const ns__param *p, int points, double *out)
{
    if (points < 1)
        points = 1;
    if (p->kind == NS__P_CHOICE) {
        for (int k = 0; out && k < p->n_choices; k++)
            out[k] = k;
        return p->n_choices;
    }
    if (p->low >= p->high) {
        if (out)
            out[0] = p->low;
        return 1;
    }
    bool ints = p->kind == NS__P_INT || p->kind == NS__P_INT_LOG;
    if (ints && p->high - p->low + 1.0 <= GRID_ALL_INTS) {
        int n = (int)(p->high - p->low + 1.0);
        for (int k = 0; out && k < n; k++)
            out[k] = p->low + k;
        return n;
    }
    bool logs = (p->kind == NS__P_LOG_UNIFORM || p->kind == NS__P_INT_LOG) && p->low > 0;
    double lo = logs ? log(p->low) : p->low, hi = logs ? log(p->high) : p->high;
    int n = 0;
    double last = (double)NAN;
    for (int k = 0; k < points; k++) {
        double v;
        if (points == 1)
            v = 0.5 * (lo + hi);
        else if (k == points - 1)
            v = hi;
        else
            v = lo + (hi - lo) * k / (points - 1);
        if (logs)
            v = k == 0 && points > 1 ? p->low : k == points - 1 && points > 1 ? p->high : exp(v);
        if (ints)
            v = nearbyint(v);
        v = clamp(v, p->low, p->high);
        if (n > 0 && v == last)
            continue;
        if (out)
            out[n] = v;
        last = v;
        n++;
    }
    return n;
}

/* Whether child c is active when its parent took value v (ns__param_active's test). */
static bool when_holds(const ns__param *c, double v)
{
    for (int k = 0; k < c->n_when; k++)
        if ((int)v == c->when_idx[k])
            return true;
    return false;
}

/* The grid as a tree: param p's values vals[off[p] .. off[p] + nv[p]), the points of p's
 * subtree under each value cnt[off[p] + v] (the product of its active children's subtree
 * sizes) and in all sub[p]. Children have larger indices than their parent. */
typedef struct grid {
    const ns__space *sp;
    int *off, *nv;
    double *vals;
    int64_t *cnt, *sub;
    int64_t total; /* saturated at GRID_SAT */
} grid;

static void grid_free(ns_ctx *ctx, grid *g)
{
    ns_dealloc(ctx, g->off);
    ns_dealloc(ctx, g->vals);
    ns_dealloc(ctx, g->cnt);
}

static ns_status grid_build(const ns_study *s, grid *g)
{
    ns_ctx *ctx = s->ctx;
    const ns__space *sp = &s->def->space;
    int points = s->def->sampler.points;
    memset(g, 0, sizeof *g);
    g->sp = sp;
    int n = sp->n;
    g->off = ns_alloc(ctx, (size_t)(2 * n + 1) * sizeof *g->off);
    if (!g->off)
        return NS_ERR_NOMEM;
    g->nv = g->off + n + 1;
    int total_vals = 0;
    for (int i = 0; i < n; i++) {
        g->off[i] = total_vals;
        g->nv[i] = grid_values(&sp->p[i], points, NULL);
        total_vals += g->nv[i];
    }
    g->off[n] = total_vals;
    g->vals = ns_alloc(ctx, (size_t)(total_vals + 1) * sizeof *g->vals);
    g->cnt = ns_alloc(ctx, (size_t)(total_vals + n + 1) * sizeof *g->cnt);
    if (!g->vals || !g->cnt) {
        grid_free(ctx, g);
        return NS_ERR_NOMEM;
    }
    g->sub = g->cnt + total_vals;
    for (int i = 0; i < n; i++)
        grid_values(&sp->p[i], points, g->vals + g->off[i]);
    /* children after parents: fill from the last param back */
    for (int p = n - 1; p >= 0; p--) {
        int64_t sum = 0;
        for (int v = 0; v < g->nv[p]; v++) {
            int64_t prod = 1;
            for (int c = p + 1; c < n; c++)
                if (sp->p[c].when_param == p && when_holds(&sp->p[c], g->vals[g->off[p] + v]))
                    prod = sat_mul(prod, g->sub[c]);
            g->cnt[g->off[p] + v] = prod;
            sum = sat_add(sum, prod);
        }
        g->sub[p] = sum;
    }
    int64_t total = 1;
    for (int p = 0; p < n; p++)
        if (sp->p[p].when_param < 0)
            total = sat_mul(total, g->sub[p]);
    g->total = total;
    return NS_OK;
}

/* Writes point r of p's subtree (0 <= r < sub[p]) into x (inactive entries stay (double)NAN). */
static void grid_unrank(const grid *g, int p, int64_t r, double *x)
{
    const ns__space *sp = g->sp;
    int v = 0;
    while (v < g->nv[p] - 1 && r >= g->cnt[g->off[p] + v]) {
        r -= g->cnt[g->off[p] + v];
        v++;
    }
    double val = g->vals[g->off[p] + v];
    x[p] = val;
    for (int c = p + 1; c < sp->n; c++)
        if (sp->p[c].when_param == p && when_holds(&sp->p[c], val)) {
            grid_unrank(g, c, r % g->sub[c], x);
            r /= g->sub[c];
        }
}

/* The rank of p's subtree point in x (-1: x is not a point of the grid there). */
static int64_t grid_rank(const grid *g, int p, const double *x)
{
    const ns__space *sp = g->sp;
    /* values ascend: a binary search */
    const double *vals = g->vals + g->off[p];
    int lo = 0, hi = g->nv[p];
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (vals[mid] < x[p])
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == g->nv[p] || !(vals[lo] == x[p]))
        return -1;
    int v = lo;
    int64_t base = 0;
    for (int k = 0; k < v; k++)
        base += g->cnt[g->off[p] + k];
    int64_t r = 0, radix = 1;
    for (int c = p + 1; c < sp->n; c++)
        if (sp->p[c].when_param == p && when_holds(&sp->p[c], x[p])) {
            int64_t rc = grid_rank(g, c, x);
            if (rc < 0)
                return -1;
            r += rc * radix;
            radix *= g->sub[c];
        }
    return base + r;
}

static void grid_point(const grid *g, int64_t r, double *x)
{
    for (int i = 0; i < g->sp->n; i++)
        x[i] = (double)NAN;
    for (int p = 0; p < g->sp->n; p++)
        if (g->sp->p[p].when_param < 0) {
            grid_unrank(g, p, r % g->sub[p], x);
            r /= g->sub[p];
        }
}

/* The point x is (its rank), or -1 when x is no point of the grid: every entry equal,
 * (double)NAN equal to (double)NAN. scratch[space.n]. */
static int64_t grid_index(const grid *g, const double *x, double *scratch)
{
    int64_t r = 0, radix = 1;
    for (int p = 0; p < g->sp->n; p++)
        if (g->sp->p[p].when_param < 0) {
            int64_t rp = grid_rank(g, p, x);
            if (rp < 0)
                return -1;
            r += rp * radix;
            radix *= g->sub[p];
        }
    grid_point(g, r, scratch);
    for (int i = 0; i < g->sp->n; i++)
        if (!(scratch[i] == x[i] || (isnan(scratch[i]) && isnan(x[i]))))
            return -1;
    return r;
}

int ns__grid_size(const ns_study *s)
{
    grid g;
    if (grid_build(s, &g) != NS_OK)
        return -1;
    int64_t total = g.total;
    grid_free(s->ctx, &g);
    return total > INT_MAX / 2 ? INT_MAX / 2 : (int)total;
}

ns_status ns__sample_grid(const ns_study *s, int number, double *x)
{
    ns_ctx *ctx = s->ctx;
    int n = s->def->space.n;
    grid g;
    ns_status st = grid_build(s, &g);
    if (st != NS_OK)
        return st;
    if (g.total > GRID_MAX) {
        grid_free(ctx, &g);
        if (g.total >= GRID_SAT)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "sampler: the grid has more than %d points (over 2^62): give fewer "
                             "points, fewer choices or narrower integer ranges",
                             GRID_MAX);
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "sampler: the grid has %lld points, more than %d: give fewer points, "
                         "fewer choices or narrower integer ranges",
                         (long long)g.total, GRID_MAX);
    }
    int total = (int)g.total;
    if (total == 0) {
        grid_free(ctx, &g);
        return ns_errorf(ctx, NS_ERR_STATE, "sampler: the grid's 0 points are all taken");
    }
    int32_t *perm = ns_alloc(ctx, (size_t)total * sizeof *perm);
    unsigned char *taken = ns_calloc(ctx, (size_t)total, 1);
    double *scratch = ns_alloc(ctx, (size_t)(n + 1) * sizeof *scratch);
    if (!perm || !taken || !scratch) {
        ns_dealloc(ctx, perm);
        ns_dealloc(ctx, taken);
        ns_dealloc(ctx, scratch);
        grid_free(ctx, &g);
        return NS_ERR_NOMEM;
    }
    for (int t = 0; t < number && t < s->n; t++) {
        int64_t r = grid_index(&g, s->trials[t].x, scratch);
        if (r >= 0)
            taken[r] = 1;
    }
    /* A forward Fisher-Yates shuffle: position k is final once step k is done, so the walk
     * stops at the first free point without shuffling the rest. */
    for (int k = 0; k < total; k++)
        perm[k] = k;
    ns_rng rng;
    ns_rng_init_lane(&rng, s->def->sampler.seed, NS__RNG_TUNE, 0, NS__LANE_GRID);
    int found = -1;
    for (int k = 0; k < total && found < 0; k++) {
        int j = k + (int)ns_rng_below(&rng, (uint32_t)(total - k));
        int32_t tmp = perm[k];
        perm[k] = perm[j];
        perm[j] = tmp;
        if (!taken[perm[k]])
            found = perm[k];
    }
    if (found >= 0)
        grid_point(&g, found, x);
    ns_dealloc(ctx, perm);
    ns_dealloc(ctx, taken);
    ns_dealloc(ctx, scratch);
    grid_free(ctx, &g);
    if (found < 0)
        return ns_errorf(ctx, NS_ERR_STATE, "sampler: the grid's %d points are all taken", total);
    return NS_OK;
}
