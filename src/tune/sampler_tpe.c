/* The TPE sampler as Optuna 3.1 has it for one objective: the split of the finished trials
 * into a good and a bad group, a Parzen estimator of truncated normals (categorical kernels
 * for choices) fitted to each, ei_candidates draws from the good one, and the draw with the
 * largest log l(x) - log g(x). The truncated normal follows Optuna's _truncnorm.py, with
 * Newton steps on log Phi in place of its bisection. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tpe.h"
#include "tune/tune_internal.h"

#define SQRT2 1.41421356237309504880
#define LOG_SQRT_2PI 0.91893853320467274178 /* log(sqrt(2 pi)) */
#define LOG_2PI 1.83787706640934548356
#define LN2 0.69314718055994530942
/* Optuna's multivariate bandwidth factor (BOHB's Scott-like rule). */
#define SIGMA0_MAGNITUDE 0.2
/* Kernels whose log contribution lies this far below the largest one change the mixture by
 * less than exp(-60) relative, far under a double's precision: they are left out. */
#define LOG_PDF_CUTOFF 60.0

/* ---- the truncated normal --------------------------------------------------------------- */

/* Phi(a) from erfc in the tails (Optuna's _ndtr_single). */
static double ndtr_single(double a)
{
    double x = a / SQRT2;
    if (x < -1.0 / SQRT2)
        return 0.5 * erfc(-x);
    if (x < 1.0 / SQRT2)
        return 0.5 + 0.5 * erf(x);
    return 1.0 - 0.5 * erfc(x);
}

/* Phi(a) through erf (Optuna's _ndtr, used for the central mass). */
static double ndtr_erf(double a)
{
    return 0.5 + 0.5 * erf(a / SQRT2);
}

double ns__log_ndtr(double a)
{
    if (a > 6)
        return -ndtr_single(-a);
    if (a > -20)
        return log(ndtr_single(a));
    /* log Phi(a) = -a^2/2 - log(-a) - log(2 pi)/2 + log(1 - 1/a^2 + 3/a^4 - ...), summed
     * until it stops changing */
    double log_lhs = -0.5 * a * a - log(-a) - 0.5 * LOG_2PI;
    double last = 0.0, rhs = 1.0, numerator = 1.0, denom_factor = 1.0;
    double denom_cons = 1.0 / (a * a);
    double sign = 1.0;
    for (int i = 1; fabs(last - rhs) > 2.220446049250313e-16 && i < 100; i++) {
        last = rhs;
        sign = -sign;
        denom_factor *= denom_cons;
        numerator *= 2 * i - 1;
        rhs += sign * numerator * denom_factor;
    }
    return log_lhs + log(rhs);
}

/* log(p - q) from log p and log q, p >= q. */
static double log_diff(double log_p, double log_q)
{
    return log_p + log1p(-exp(log_q - log_p));
}

/* numpy's logaddexp. */
static double log_add(double x, double y)
{
    if (x == y)
        return x + LN2;
    double d = x - y;
    if (d > 0)
        return x + log1p(exp(-d));
    if (d <= 0)
        return y + log1p(exp(d));
    return d; /* (double)NAN */
}

double ns__log_gauss_mass(double a, double b)
{
    if (b <= 0)
        return log_diff(ns__log_ndtr(b), ns__log_ndtr(a));
    if (a > 0)
        return log_diff(ns__log_ndtr(-a), ns__log_ndtr(-b));
    return log1p(-ndtr_erf(a) - ndtr_erf(-b));
}

static double norm_logpdf(double z)
{
    return -(z * z) / 2.0 - LOG_SQRT_2PI;
}

/* Acklam's rational approximation of the normal quantile (relative error 1.2e-9). */
static double ndtri_acklam(double p)
{
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                -2.759285104469687e+02, 1.383577518672690e+02,
                                -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                -1.556989798598866e+02, 6.680131188771972e+01,
                                -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                -2.400758277161838e+00, -2.549732539343734e+00,
                                4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    const double p_low = 0.02425;
    if (p < p_low) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p <= 1 - p_low) {
        double q = p - 0.5, r = q * q;
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
               (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double q = sqrt(-2 * log1p(-p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
}

/* Newton steps on log Phi(x) = y from a close start: log Phi is concave, so the steps settle
 * from below in two or three. */
static double refine_log_ndtr(double x, double y)
{
    for (int it = 0; it < 8 && isfinite(x); it++) {
        double lp = ns__log_ndtr(x);
        double step = (lp - y) / exp(norm_logpdf(x) - lp);
        if (!isfinite(step))
            break;
        x -= step;
        if (fabs(step) <= 1e-15 * fmax(1.0, fabs(x)))
            break;
    }
    return x;
}

double ns__ndtri(double p)
{
    if (!(p > 0))
        return p == 0 ? -(double)INFINITY : (double)NAN;
    if (!(p < 1))
        return p == 1 ? (double)INFINITY : (double)NAN;
    if (p > 0.5)
        return -refine_log_ndtr(-ndtri_acklam(1 - p), log1p(-p));
    return refine_log_ndtr(ndtri_acklam(p), log(p));
}

double ns__ndtri_exp(double y)
{
    if (isnan(y) || y >= 0)
        return y >= 0 ? (double)INFINITY : (double)NAN;
    if (isinf(y))
        return y;
    double x;
    if (y > -LN2) {
        /* Phi(x) > 1/2: from the upper tail's 1 - Phi(x) = -expm1(y), kept accurate */
        x = -ndtri_acklam(-expm1(y));
    } else if (y > -700) {
        x = ndtri_acklam(exp(y));
    } else {
        /* exp(y) underflows: invert the leading asymptotic term, then refine */
        x = -sqrt(-2 * y);
        for (int it = 0; it < 4; it++)
            x = -sqrt(fmax(-2 * y - 2 * log(-x) - LOG_2PI, 1.0));
    }
    return refine_log_ndtr(x, y);
}

double ns__truncnorm_ppf(double q, double a, double b)
{
    if (a == b)
        return (double)NAN;
    if (q == 0)
        return a;
    if (q == 1)
        return b;
    if (a < 0) {
        double log_phi = log_add(ns__log_ndtr(a), log(q) + ns__log_gauss_mass(a, b));
        return ns__ndtri_exp(log_phi);
    }
    double log_phi = log_add(ns__log_ndtr(-b), log1p(-q) + ns__log_gauss_mass(a, b));
    return -ns__ndtri_exp(log_phi);
}

/* ---- the split ------------------------------------------------------------------------- */

typedef struct split_item {
    double step; /* -last step of a pruned trial; -inf complete; 1 pruned with no step; +inf
                    running */
    double loss;
    int t;
} split_item;

static int split_cmp(const void *pa, const void *pb)
{
    const split_item *a = pa, *b = pb;
    if (a->step != b->step)
        return a->step < b->step ? -1 : 1;
    if (a->loss != b->loss)
        return a->loss < b->loss ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}

static bool finished(ns_trial_state st)
{
    return st == NS_TRIAL_COMPLETE || st == NS_TRIAL_PRUNED || st == NS_TRIAL_PAUSED;
}

/* Fills items (m) with the observed trials and marks below/observed[m]; returns the count of
 * finished ones. Paused trials stopped at a rung are ranked as pruned ones. */
static int split_run(const ns_study *s, int m, split_item *items, bool *below, bool *observed)
{
    const ns__sampler_cfg *cfg = &s->def->sampler;
    int k = 0, n = 0;
    for (int t = 0; t < m; t++) {
        const ns__trial *tr = &s->trials[t];
        below[t] = observed[t] = false;
        split_item it = {0, 0, t};
        if (tr->state == NS_TRIAL_COMPLETE) {
            it.step = -(double)INFINITY;
            it.loss = ns__trial_loss(s, tr);
        } else if (tr->state == NS_TRIAL_PRUNED || tr->state == NS_TRIAL_PAUSED) {
            int last = tr->n_steps;
            while (last > 0 && isnan(tr->steps[last - 1]))
                last--;
            if (last > 0) {
                it.step = -(double)last;
                it.loss = ns__step_loss(s, tr->steps[last - 1]);
            } else {
                it.step = 1.0;
                it.loss = 0.0;
            }
        } else if (tr->state == NS_TRIAL_RUNNING && cfg->constant_liar) {
            it.step = (double)INFINITY;
            it.loss = (double)INFINITY;
        } else {
            continue;
        }
        if (isnan(it.loss))
            it.loss = (double)INFINITY;
        observed[t] = true;
        if (finished(tr->state))
            n++;
        items[k++] = it;
    }
    qsort(items, (size_t)k, sizeof *items, split_cmp);
    int n_below = (int)ceil(cfg->gamma * (double)n);
    if (n_below > cfg->gamma_max)
        n_below = cfg->gamma_max;
    if (n_below > k)
        n_below = k;
    for (int i = 0; i < n_below; i++)
        below[items[i].t] = true;
    return n;
}

/* ---- the Parzen estimator ---------------------------------------------------------------- */

typedef enum dim_kind { DIM_REAL = 0, DIM_INT, DIM_CAT } dim_kind;

typedef struct pdim {
    const ns__param *p;
    dim_kind kind;
    bool logs;                 /* kernels in log units */
    double low, high;          /* the kernels' support, in those units */
    double *mu, *sigma, *logz; /* [n_comp]; logz: log of each kernel's mass on [low, high] */
    double *lsig;              /* [n_comp]: log sigma (integer settings) */
    /* choices: each observation's kernel puts (v + 1) / (k v + 1) on its choice and
     * v / (k v + 1) on the others, v = prior_weight / (n_obs + 1); the prior's is uniform */
    double p_hit, p_miss, p_prior, lp_hit, lp_miss, lp_prior;
} pdim;

typedef struct parzen {
    int n_obs, n_comp, n_dims;
    pdim *dim;          /* [n_dims] */
    double *logw, *cdf; /* [n_comp]: log weight, cumulative normalised weight */
} parzen;

typedef struct sort_item {
    double v;
    int i;
} sort_item;

static int sort_cmp(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    if (a->v != b->v)
        return a->v < b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static bool param_single(const ns__param *p)
{
    return p->kind == NS__P_CHOICE ? p->n_choices <= 1 : !(p->low < p->high);
}

static void dim_setup(pdim *d, const ns__param *p)
{
    d->p = p;
    d->logs = false;
    switch (p->kind) {
    case NS__P_UNIFORM:
        d->kind = DIM_REAL;
        d->low = p->low;
        d->high = p->high;
        break;
    case NS__P_LOG_UNIFORM:
        d->kind = DIM_REAL;
        d->logs = true;
        d->low = log(p->low);
        d->high = log(p->high);
        break;
    case NS__P_INT_LOG:
    case NS__P_INT:
        if (p->kind == NS__P_INT_LOG && p->low >= 1.0) {
            d->kind = DIM_REAL;
            d->logs = true;
            d->low = log(p->low - 0.5);
            d->high = log(p->high + 0.5);
        } else { /* a range reaching below 1 has no log scale */
            d->kind = DIM_INT;
            d->low = p->low - 0.5;
            d->high = p->high + 0.5;
        }
        break;
    case NS__P_CHOICE:
        d->kind = DIM_CAT;
        d->low = 0;
        d->high = p->n_choices;
        break;
    }
}

/* A value of the setting in the kernels' units. */
static double to_kernel(const pdim *d, double v)
{
    return d->logs ? log(v) : v;
}

/* A draw in the kernels' units back to the setting's value (Optuna's rounding: half to
 * even). */
static double from_kernel(const pdim *d, double v)
{
    const ns__param *p = d->p;
    switch (p->kind) {
    case NS__P_UNIFORM:
        return fmin(fmax(v, p->low), p->high);
    case NS__P_LOG_UNIFORM:
        return fmin(fmax(exp(v), p->low), p->high);
    case NS__P_INT_LOG:
    case NS__P_INT:
        if (d->logs)
            return fmin(fmax(nearbyint(exp(v)), p->low), p->high);
        return fmin(fmax(nearbyint(v - p->low) + p->low, p->low), p->high);
    case NS__P_CHOICE:
        return v;
    }
    return v;
}

/* Optuna's default_weights(n): ones for n < 25, else a ramp from 1/n to 1 over the first
 * n - 25 observations (numpy's linspace) and ones over the last 25. */
static double default_weight(int n, int j)
{
    if (n < 25 || j >= n - 25)
        return 1.0;
    int num = n - 25;
    double start = 1.0 / n;
    if (num == 1)
        return start;
    if (j == num - 1)
        return 1.0;
    double step = (1.0 - start) / (num - 1);
    return j * step + start;
}

/* Fits pz to n observations: dimension d of observation j is rows[j][cols[d]]. multivariate:
 * the joint bandwidth rule; else the neighbour rule (n_dims 1). scratch[n + 1]. */
static void parzen_fit(parzen *pz, const double *const *rows, const int *cols, int n,
                       bool multivariate, double prior_weight, sort_item *scratch)
{
    int nc = n + 1;
    pz->n_obs = n;
    pz->n_comp = nc;
    double sum = 0;
    for (int j = 0; j < n; j++)
        sum += default_weight(n, j);
    sum += prior_weight;
    double acc = 0;
    for (int j = 0; j < nc; j++) {
        double w = (j < n ? default_weight(n, j) : prior_weight) / sum;
        pz->logw[j] = log(w);
        acc += w;
        pz->cdf[j] = acc;
    }
    for (int j = 0; j < nc; j++)
        pz->cdf[j] /= acc;
    double sigma0 = SIGMA0_MAGNITUDE * pow(n > 1 ? n : 1, -1.0 / (pz->n_dims + 4));
    for (int k = 0; k < pz->n_dims; k++) {
        pdim *d = &pz->dim[k];
        if (d->kind == DIM_CAT) {
            int nch = d->p->n_choices;
            double v = prior_weight / nc, rs = nch * v + 1.0;
            d->p_hit = (v + 1.0) / rs;
            d->p_miss = v / rs;
            d->p_prior = v / (nch * v);
            d->lp_hit = log(d->p_hit);
            d->lp_miss = log(d->p_miss);
            d->lp_prior = log(d->p_prior);
            for (int j = 0; j < n; j++) {
                d->mu[j] = rows[j][cols[k]];
                d->sigma[j] = d->logz[j] = 0;
            }
            d->mu[n] = -1;
            d->sigma[n] = d->logz[n] = 0;
            continue;
        }
        double lo = d->low, hi = d->high;
        for (int j = 0; j < n; j++)
            d->mu[j] = to_kernel(d, rows[j][cols[k]]);
        d->mu[n] = 0.5 * (lo + hi);
        if (multivariate) {
            for (int j = 0; j < nc; j++)
                d->sigma[j] = sigma0 * (hi - lo);
        } else {
            /* the larger gap to a neighbour in sorted order (the range's ends count as
             * neighbours), except the two outer kernels, which take their inner gap */
            for (int j = 0; j < nc; j++)
                scratch[j] = (sort_item){d->mu[j], j};
            qsort(scratch, (size_t)nc, sizeof *scratch, sort_cmp);
            for (int t = 0; t < nc; t++) {
                double left = scratch[t].v - (t > 0 ? scratch[t - 1].v : lo);
                double right = (t + 1 < nc ? scratch[t + 1].v : hi) - scratch[t].v;
                if (nc >= 2 && t == 0)
                    d->sigma[scratch[t].i] = right;
                else if (nc >= 2 && t == nc - 1)
                    d->sigma[scratch[t].i] = left;
                else
                    d->sigma[scratch[t].i] = fmax(left, right);
            }
        }
        double maxsigma = hi - lo, minsigma = (hi - lo) / fmin(100.0, 1.0 + nc);
        for (int j = 0; j < nc; j++)
            d->sigma[j] = fmin(fmax(d->sigma[j], minsigma), maxsigma);
        d->sigma[n] = hi - lo;
        for (int j = 0; j < nc; j++) {
            d->logz[j] =
                ns__log_gauss_mass((lo - d->mu[j]) / d->sigma[j], (hi - d->mu[j]) / d->sigma[j]);
            d->lsig[j] = log(d->sigma[j]);
        }
    }
}

/* The log density at y[n_dims] (kernel units; a choice's index) as Optuna 3.1 computes it:
 * a truncated normal's log density is taken of the standardised value, without -log sigma.
 * Integer settings take each kernel's mass on [y - 0.5, y + 0.5]; bounds on those masses
 * let far kernels go uncomputed. ub, ex: scratch[n_comp]; lwidth: scratch[n_dims]. */
static double parzen_log_pdf(const parzen *pz, const double *y, double *ub, double *ex,
                             double *lwidth)
{
    bool has_int = false;
    for (int k = 0; k < pz->n_dims; k++) {
        const pdim *d = &pz->dim[k];
        if (d->kind == DIM_CAT) {
            if (!(y[k] >= 0 && y[k] < d->p->n_choices))
                return -(double)INFINITY;
        } else if (!(y[k] >= d->low && y[k] <= d->high)) {
            return -(double)INFINITY;
        }
        has_int |= d->kind == DIM_INT;
    }
    for (int k = 0; k < pz->n_dims; k++) {
        const pdim *d = &pz->dim[k];
        lwidth[k] =
            d->kind == DIM_INT ? log(fmin(y[k] + 0.5, d->high) - fmax(y[k] - 0.5, d->low)) : 0;
    }
    double max_lb = -(double)INFINITY;
    for (int j = 0; j < pz->n_comp; j++) {
        double base = pz->logw[j], up = 0, lw = 0;
        for (int k = 0; k < pz->n_dims; k++) {
            const pdim *d = &pz->dim[k];
            if (d->kind == DIM_REAL) {
                double z = (y[k] - d->mu[j]) / d->sigma[j];
                base += norm_logpdf(z) - d->logz[j];
            } else if (d->kind == DIM_CAT) {
                base += j == pz->n_obs               ? d->lp_prior
                        : (int)y[k] == (int)d->mu[j] ? d->lp_hit
                                                     : d->lp_miss;
            } else {
                double a = (fmax(y[k] - 0.5, d->low) - d->mu[j]) / d->sigma[j];
                double b = (fmin(y[k] + 0.5, d->high) - d->mu[j]) / d->sigma[j];
                double near = a > 0 ? a : b < 0 ? b : 0, far = fabs(a) > fabs(b) ? a : b;
                /* log(b - a), up to rounding, which the cutoff's margin absorbs */
                double lw_ = lwidth[k] - d->lsig[j] - d->logz[j];
                up += lw_ + norm_logpdf(near);
                lw += lw_ + norm_logpdf(far);
            }
        }
        ex[j] = base;
        if (has_int) {
            ub[j] = base + up;
            if (base + lw > max_lb)
                max_lb = base + lw;
        }
    }
    if (has_int) {
        for (int j = 0; j < pz->n_comp; j++) {
            if (ub[j] < max_lb - LOG_PDF_CUTOFF) {
                ex[j] = -(double)INFINITY;
                continue;
            }
            for (int k = 0; k < pz->n_dims; k++) {
                const pdim *d = &pz->dim[k];
                if (d->kind != DIM_INT)
                    continue;
                double a = (fmax(y[k] - 0.5, d->low) - d->mu[j]) / d->sigma[j];
                double b = (fmin(y[k] + 0.5, d->high) - d->mu[j]) / d->sigma[j];
                ex[j] += ns__log_gauss_mass(a, b) - d->logz[j];
            }
        }
    }
    double mx = -(double)INFINITY;
    for (int j = 0; j < pz->n_comp; j++)
        if (ex[j] > mx)
            mx = ex[j];
    if (!isfinite(mx))
        return mx;
    double sum = 0;
    for (int j = 0; j < pz->n_comp; j++)
        if (ex[j] - mx > -746) /* exp is exactly 0 below */
            sum += exp(ex[j] - mx);
    return log(sum) + mx;
}

/* One draw from pz: a kernel by weight, then each dimension from it; ext[n_dims] gets the
 * settings' values, y[n_dims] the same in kernel units. */
static void parzen_draw(const parzen *pz, ns_rng *rng, double *ext, double *y)
{
    double u = ns__uniform53(rng);
    int lo = 0, hi = pz->n_comp - 1;
    while (lo < hi) { /* the first kernel whose cumulative weight exceeds u */
        int mid = lo + (hi - lo) / 2;
        if (pz->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    int j = lo;
    for (int k = 0; k < pz->n_dims; k++) {
        const pdim *d = &pz->dim[k];
        double q = ns__uniform53(rng);
        if (d->kind == DIM_CAT) {
            int nch = d->p->n_choices, c = 0;
            double cum = 0;
            for (int v = 0; v < nch; v++) {
                cum += j == pz->n_obs ? d->p_prior : v == (int)d->mu[j] ? d->p_hit : d->p_miss;
                c += cum < q;
            }
            ext[k] = y[k] = c < nch ? c : nch - 1;
            continue;
        }
        double mu = d->mu[j], sg = d->sigma[j];
        double v = ns__truncnorm_ppf(q, (d->low - mu) / sg, (d->high - mu) / sg) * sg + mu;
        v = fmin(fmax(v, d->low), d->high);
        ext[k] = from_kernel(d, v);
        y[k] = to_kernel(d, ext[k]);
    }
}

/* ---- one call's memory ----------------------------------------------------------------- */

typedef struct work {
    split_item *items;   /* [m] */
    bool *below, *obs;   /* [m] */
    const double **rows; /* [m] */
    int *cols;           /* [dims] */
    parzen l, g;
    sort_item *sort; /* [m + 1] */
    double *ext, *y; /* [cands * dims] */
    double *ub, *ex; /* [m + 1] */
    double *lwidth;  /* [dims] */
    double *best;    /* [dims] */
    int *jset;       /* [dims]: the joint settings */
    double *jvals;   /* [dims]: their chosen values */
} work;

typedef struct bump {
    char *base;
    size_t used;
} bump;

static void *take(bump *b, size_t bytes)
{
    void *p = b->base ? b->base + b->used : NULL;
    b->used += (bytes + 15) & ~(size_t)15;
    return p;
}

static void carve_parzen(bump *b, parzen *pz, int nc, int dims)
{
    pz->n_dims = dims;
    pz->dim = take(b, (size_t)dims * sizeof *pz->dim);
    pz->logw = take(b, (size_t)nc * sizeof(double));
    pz->cdf = take(b, (size_t)nc * sizeof(double));
    for (int k = 0; pz->dim && k < dims; k++) {
        pz->dim[k].mu = take(b, (size_t)nc * sizeof(double));
        pz->dim[k].sigma = take(b, (size_t)nc * sizeof(double));
        pz->dim[k].logz = take(b, (size_t)nc * sizeof(double));
        pz->dim[k].lsig = take(b, (size_t)nc * sizeof(double));
    }
    if (!pz->dim)
        take(b, 4 * (size_t)dims * (((size_t)nc * sizeof(double) + 15) & ~(size_t)15));
}

/* Lays out (or with b->base NULL, measures) the memory for m trials, dims joint
 * dimensions and cands draws. */
static void carve(bump *b, work *w, int m, int dims, int cands)
{
    size_t nm = (size_t)(m > 0 ? m : 1), nc = nm + 1;
    w->items = take(b, nm * sizeof *w->items);
    w->below = take(b, nm * sizeof *w->below);
    w->obs = take(b, nm * sizeof *w->obs);
    w->rows = take(b, nm * sizeof *w->rows);
    w->cols = take(b, (size_t)dims * sizeof *w->cols);
    carve_parzen(b, &w->l, (int)nc, dims);
    carve_parzen(b, &w->g, (int)nc, dims);
    w->sort = take(b, nc * sizeof *w->sort);
    w->ext = take(b, (size_t)cands * (size_t)dims * sizeof(double));
    w->y = take(b, (size_t)cands * (size_t)dims * sizeof(double));
    w->ub = take(b, nc * sizeof(double));
    w->ex = take(b, nc * sizeof(double));
    w->lwidth = take(b, (size_t)dims * sizeof(double));
    w->best = take(b, (size_t)dims * sizeof(double));
    w->jset = take(b, (size_t)dims * sizeof *w->jset);
    w->jvals = take(b, (size_t)dims * sizeof(double));
}

static ns_status work_new(ns_ctx *ctx, work *w, int m, int dims, int cands, void **block)
{
    bump b = {NULL, 0};
    carve(&b, w, m, dims, cands);
    *block = ns_alloc(ctx, b.used);
    if (!*block)
        return NS_ERR_NOMEM;
    b = (bump){*block, 0};
    carve(&b, w, m, dims, cands);
    return NS_OK;
}

/* Fits l and g to the good and bad trials that have every setting of params[dims] active,
 * draws cands candidates from l on stream rng and puts the best into w->best. */
static void tpe_choose(const ns_study *s, work *w, int m, const int *params, int dims,
                       bool multivariate, ns_rng *rng)
{
    const ns__sampler_cfg *cfg = &s->def->sampler;
    for (int k = 0; k < dims; k++) {
        w->cols[k] = params[k];
        dim_setup(&w->l.dim[k], &s->def->space.p[params[k]]);
        dim_setup(&w->g.dim[k], &s->def->space.p[params[k]]);
    }
    w->l.n_dims = w->g.n_dims = dims;
    for (int group = 0; group < 2; group++) {
        parzen *pz = group == 0 ? &w->l : &w->g;
        int n = 0;
        for (int t = 0; t < m; t++) {
            if (!w->obs[t] || w->below[t] != (group == 0))
                continue;
            bool all = true;
            for (int k = 0; k < dims && all; k++)
                all = !isnan(s->trials[t].x[params[k]]);
            if (all)
                w->rows[n++] = s->trials[t].x;
        }
        parzen_fit(pz, w->rows, w->cols, n, multivariate, cfg->prior_weight, w->sort);
    }
    int cands = cfg->ei_candidates > 0 ? cfg->ei_candidates : 1;
    double best = -(double)INFINITY;
    int best_c = 0;
    for (int c = 0; c < cands; c++) {
        double *ext = w->ext + (size_t)c * dims, *y = w->y + (size_t)c * dims;
        parzen_draw(&w->l, rng, ext, y);
        double score = parzen_log_pdf(&w->l, y, w->ub, w->ex, w->lwidth) -
                       parzen_log_pdf(&w->g, y, w->ub, w->ex, w->lwidth);
        if (score > best) {
            best = score;
            best_c = c;
        }
    }
    memcpy(w->best, w->ext + (size_t)best_c * dims, (size_t)dims * sizeof(double));
}

ns_status ns__sample_tpe(const ns_study *s, int number, double *x)
{
    const ns__space *sp = &s->def->space;
    const ns__sampler_cfg *cfg = &s->def->sampler;
    ns_ctx *ctx = s->ctx;
    int m = number < s->n ? number : s->n;
    if (m < 0)
        m = 0;
    int dims = 0;
    for (int i = 0; i < sp->n; i++)
        if (!param_single(&sp->p[i]))
            dims++;
    int cands = cfg->ei_candidates > 0 ? cfg->ei_candidates : 1;
    work w;
    void *block = NULL;
    ns_status st = work_new(ctx, &w, m, dims > 0 ? dims : 1, cands, &block);
    if (st != NS_OK)
        return st;
    int n = split_run(s, m, w.items, w.below, w.obs);
    if (n < cfg->startup_trials) {
        ns_dealloc(ctx, block);
        return ns__sample_random(s, number, x);
    }
    int n_joint = 0;
    if (cfg->multivariate) {
        /* Optuna's group-less search space: the settings active in every finished trial
         * (none before the first) */
        bool any = false;
        for (int t = 0; t < m; t++)
            any |= finished(s->trials[t].state);
        for (int i = 0; any && i < sp->n; i++) {
            if (param_single(&sp->p[i]))
                continue;
            bool all = true;
            for (int t = 0; t < m && all; t++)
                if (finished(s->trials[t].state))
                    all = !isnan(s->trials[t].x[i]);
            if (all)
                w.jset[n_joint++] = i;
        }
    }
    if (n_joint > 0) {
        ns_rng rng;
        ns_rng_init_lane(&rng, cfg->seed, NS__RNG_TUNE, (uint64_t)number, NS__LANE_TPE_JOINT);
        tpe_choose(s, &w, m, w.jset, n_joint, true, &rng);
        memcpy(w.jvals, w.best, (size_t)n_joint * sizeof *w.jvals);
    }
    for (int i = 0; i < sp->n; i++)
        x[i] = (double)NAN;
    for (int i = 0; i < sp->n; i++) {
        if (!ns__param_active(sp, i, x))
            continue;
        const ns__param *p = &sp->p[i];
        if (param_single(p)) {
            x[i] = p->kind == NS__P_CHOICE ? 0 : p->low;
            continue;
        }
        int pos = -1;
        for (int k = 0; k < n_joint && pos < 0; k++)
            if (w.jset[k] == i)
                pos = k;
        if (pos >= 0) {
            x[i] = w.jvals[pos];
            continue;
        }
        ns_rng rng;
        ns_rng_init_lane(&rng, cfg->seed, NS__RNG_TUNE, (uint64_t)number,
                         NS__LANE_TPE + (uint32_t)i);
        tpe_choose(s, &w, m, &i, 1, false, &rng);
        x[i] = w.best[0];
    }
    ns_dealloc(ctx, block);
    return NS_OK;
}

/* ---- the pieces, for the tests --------------------------------------------------------- */

int ns__tpe_split(const ns_study *s, int number, bool *below, bool *observed)
{
    int m = number < s->n ? number : s->n;
    size_t nm = (size_t)(m > 0 ? m : 1);
    split_item *items = ns_alloc(s->ctx, nm * sizeof *items);
    bool *b = ns_alloc(s->ctx, 2 * nm * sizeof *b);
    if (!items || !b) {
        ns_dealloc(s->ctx, items);
        ns_dealloc(s->ctx, b);
        return -1;
    }
    int n = split_run(s, m, items, b, b + nm);
    for (int t = 0; t < m; t++) {
        if (below)
            below[t] = b[t];
        if (observed)
            observed[t] = b[nm + (size_t)t];
    }
    ns_dealloc(s->ctx, items);
    ns_dealloc(s->ctx, b);
    return n;
}

ns_status ns__parzen_eval(ns_ctx *ctx, const ns__param *params, int n_params, bool multivariate,
                          double prior_weight, const double *obs, int n_obs, const double *points,
                          int n_points, double *log_pdf, double *mus, double *sigmas,
                          double *weights)
{
    work w;
    void *block = NULL;
    int m = n_obs > 0 ? n_obs : 1;
    ns_status st = work_new(ctx, &w, m, n_params, 1, &block);
    if (st != NS_OK)
        return st;
    w.l.n_dims = n_params;
    for (int k = 0; k < n_params; k++) {
        dim_setup(&w.l.dim[k], &params[k]);
        w.cols[k] = k;
    }
    for (int j = 0; j < n_obs; j++)
        w.rows[j] = obs + (size_t)j * (size_t)n_params;
    parzen_fit(&w.l, w.rows, w.cols, n_obs, multivariate, prior_weight, w.sort);
    double *y = w.y;
    for (int i = 0; i < n_points; i++) {
        for (int k = 0; k < n_params; k++)
            y[k] = to_kernel(&w.l.dim[k], points[(size_t)i * (size_t)n_params + (size_t)k]);
        log_pdf[i] = parzen_log_pdf(&w.l, y, w.ub, w.ex, w.lwidth);
    }
    for (int j = 0; j < w.l.n_comp; j++) {
        for (int k = 0; k < n_params; k++) {
            if (mus)
                mus[(size_t)j * (size_t)n_params + (size_t)k] = w.l.dim[k].mu[j];
            if (sigmas)
                sigmas[(size_t)j * (size_t)n_params + (size_t)k] = w.l.dim[k].sigma[j];
        }
        if (weights)
            weights[j] = exp(w.l.logw[j]);
    }
    ns_dealloc(ctx, block);
    return NS_OK;
}
