/* Optimizers (SGD, Adam, AdamW, RMSprop) with PyTorch 1.13's update rules, and gradient
 * clipping. A step is one read pass that measures the gradient (global norm, finiteness) and
 * one fused pass that clips, decays, updates the moments and then the weights. */
#include <math.h>
#include <string.h>

#include "core/core_internal.h"
#include "netsmith/metrics.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"
#include "train/optim_internal.h"

/* Adam with amsgrad keeps three moments; no kind keeps more. */
#define NS__OPTIM_MAX_MOMENTS 3

/* PyTorch's clip_grad_norm_ adds this to the norm before dividing, so an all-zero gradient
 * never divides by zero. */
#define NS__CLIP_NORM_EPS 1e-6

struct ns_optim {
    ns_ctx *ctx;
    ns_model *model; /* NULL for an optimizer over raw blocks */
    float *params;   /* [n], borrowed */
    float *grads;    /* [n], borrowed */
    size_t n;
    ns_optim_config cfg;
    int64_t steps;  /* completed steps */
    float *moments; /* [moment_count, n], owned; NULL when either is 0 */
    int moment_count;
    const char *moment_names[NS__OPTIM_MAX_MOMENTS];
};

/* ---- configuration ------------------------------------------------------------- */

void ns_optim_config_default(ns_optim_config *cfg, ns_optim_kind kind)
{
    NS_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    switch (kind) {
    case NS_OPTIM_SGD:
        cfg->lr = 1e-2; /* torch has no default for SGD's lr; 0.01 is the common choice */
        break;
    case NS_OPTIM_ADAM:
        cfg->lr = 1e-3;
        break;
    case NS_OPTIM_ADAMW:
        cfg->lr = 1e-3;
        cfg->weight_decay = 1e-2;
        break;
    case NS_OPTIM_RMSPROP:
    default:
        cfg->lr = 1e-2;
        break;
    }
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    cfg->alpha = 0.99;
}

/* Records "optimizer KIND: SETTING = VALUE: FIX" and returns NS_ERR_INVALID. */
static ns_status bad_setting(ns_ctx *ctx, const ns_optim_config *cfg, const char *setting,
                             double value, const char *fix)
{
    return ns_errorf(ctx, NS_ERR_INVALID, "optimizer %s: %s = %g: %s",
                     ns_optim_kind_name(cfg->kind), setting, value, fix);
}

/* x is finite and in [lo, hi) (hi_closed: [lo, hi]). NaN fails every comparison. */
static bool in_range(double x, double lo, double hi, bool hi_closed)
{
    return isfinite(x) && x >= lo && (hi_closed ? x <= hi : x < hi);
}

/* Checks every setting the kind uses, and rejects settings that only other kinds use and that
 * would otherwise be silently ignored (nesterov on adam, amsgrad on sgd, ...). */
static ns_status check_config(ns_ctx *ctx, const ns_optim_config *cfg)
{
    if (cfg->kind < 0 || cfg->kind >= NS_OPTIM_KIND_COUNT)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "optimizer kind %d is unknown; use sgd, adam, adamw or rmsprop",
                         (int)cfg->kind);
    if (!in_range(cfg->lr, 0.0, HUGE_VAL, false))
        return bad_setting(ctx, cfg, "lr", cfg->lr,
                           "the learning rate must be finite and >= 0 (e.g. 0.001)");
    if (!in_range(cfg->weight_decay, 0.0, HUGE_VAL, false))
        return bad_setting(ctx, cfg, "weight_decay", cfg->weight_decay,
                           "must be finite and >= 0 (0 turns it off; 1e-4 is common)");

    const bool sgd = cfg->kind == NS_OPTIM_SGD;
    const bool adam = cfg->kind == NS_OPTIM_ADAM || cfg->kind == NS_OPTIM_ADAMW;
    const bool rmsprop = cfg->kind == NS_OPTIM_RMSPROP;

    if (sgd || rmsprop) {
        if (!in_range(cfg->momentum, 0.0, 1.0, false))
            return bad_setting(ctx, cfg, "momentum", cfg->momentum,
                               "must be in [0, 1) (0 turns it off; 0.9 is usual)");
    } else if (cfg->momentum != 0.0) {
        return bad_setting(ctx, cfg, "momentum", cfg->momentum,
                           "adam and adamw take their momentum from beta1; set momentum to 0");
    }
    if (sgd) {
        if (!in_range(cfg->dampening, 0.0, 1.0, true))
            return bad_setting(ctx, cfg, "dampening", cfg->dampening, "must be in [0, 1]");
        if (cfg->nesterov && cfg->momentum == 0.0)
            return bad_setting(ctx, cfg, "momentum", cfg->momentum,
                               "nesterov needs momentum > 0; set momentum (e.g. 0.9) or turn "
                               "nesterov off");
        if (cfg->nesterov && cfg->dampening != 0.0)
            return bad_setting(ctx, cfg, "dampening", cfg->dampening,
                               "nesterov needs dampening = 0; set dampening to 0 or turn "
                               "nesterov off");
    } else {
        if (cfg->nesterov)
            return bad_setting(ctx, cfg, "nesterov", 1.0,
                               "nesterov applies only to sgd; turn it off");
        if (cfg->dampening != 0.0)
            return bad_setting(ctx, cfg, "dampening", cfg->dampening,
                               "dampening applies only to sgd; set it to 0");
    }
    if (adam) {
        if (!in_range(cfg->beta1, 0.0, 1.0, false))
            return bad_setting(ctx, cfg, "beta1", cfg->beta1, "must be in [0, 1) (0.9 is usual)");
        if (!in_range(cfg->beta2, 0.0, 1.0, false))
            return bad_setting(ctx, cfg, "beta2", cfg->beta2, "must be in [0, 1) (0.999 is usual)");
    } else if (cfg->amsgrad) {
        return bad_setting(ctx, cfg, "amsgrad", 1.0,
                           "amsgrad applies only to adam and adamw; turn it off");
    }
    if (rmsprop) {
        if (!in_range(cfg->alpha, 0.0, 1.0, false))
            return bad_setting(ctx, cfg, "alpha", cfg->alpha,
                               "the smoothing constant must be in [0, 1) (0.99 is usual)");
    } else if (cfg->centered) {
        return bad_setting(ctx, cfg, "centered", 1.0,
                           "centered applies only to rmsprop; turn it off");
    }
    if ((adam || rmsprop) && !(isfinite(cfg->eps) && cfg->eps > 0.0))
        return bad_setting(ctx, cfg, "eps", cfg->eps,
                           "must be finite and > 0 so the update never divides by zero "
                           "(1e-8 is usual)");
    return NS_OK;
}

/* Fills the moment names in block order (the order train.h documents) and returns the count.
 * The names are PyTorch's optimizer state keys, so state files read alike. */
static int moment_layout(const ns_optim_config *cfg, const char **names)
{
    int k = 0;
    switch (cfg->kind) {
    case NS_OPTIM_SGD:
        if (cfg->momentum != 0.0)
            names[k++] = "momentum_buffer";
        break;
    case NS_OPTIM_ADAM:
    case NS_OPTIM_ADAMW:
        names[k++] = "exp_avg";
        names[k++] = "exp_avg_sq";
        if (cfg->amsgrad)
            names[k++] = "max_exp_avg_sq";
        break;
    case NS_OPTIM_RMSPROP:
        names[k++] = "square_avg";
        if (cfg->momentum > 0.0)
            names[k++] = "momentum_buffer";
        if (cfg->centered)
            names[k++] = "grad_avg";
        break;
    case NS_OPTIM_KIND_COUNT:
        break;
    }
    return k;
}

/* ---- lifetime ------------------------------------------------------------------- */

ns_status ns__optim_new_raw(ns_ctx *ctx, float *params, float *grads, size_t n,
                            const ns_optim_config *cfg, ns_optim **out)
{
    NS_ASSERT(ctx != NULL && cfg != NULL && out != NULL);
    NS_ASSERT(n == 0 || (params != NULL && grads != NULL));
    *out = NULL;
    ns_status st = check_config(ctx, cfg);
    if (st != NS_OK)
        return st;

    ns_optim *opt = ns_calloc(ctx, 1, sizeof *opt);
    if (opt == NULL)
        return NS_ERR_NOMEM;
    opt->ctx = ctx;
    opt->params = params;
    opt->grads = grads;
    opt->n = n;
    opt->cfg = *cfg;
    opt->moment_count = moment_layout(cfg, opt->moment_names);

    size_t count = (size_t)opt->moment_count;
    if (count > 0 && n > 0) {
        if (n > SIZE_MAX / count) {
            ns_dealloc(ctx, opt);
            return ns_errorf(ctx, NS_ERR_NOMEM,
                             "optimizer %s: %zu parameters x %zu moments do not fit in memory",
                             ns_optim_kind_name(cfg->kind), n, count);
        }
        /* One zeroed block for every moment: PyTorch starts each state tensor at zeros. */
        opt->moments = ns_calloc(ctx, count * n, sizeof(float));
        if (opt->moments == NULL) {
            ns_dealloc(ctx, opt);
            return NS_ERR_NOMEM;
        }
    }
    *out = opt;
    return NS_OK;
}

ns_status ns_optim_new(ns_model *model, const ns_optim_config *cfg, ns_optim **out)
{
    NS_ASSERT(model != NULL && cfg != NULL && out != NULL);
    ns_status st = ns__optim_new_raw(ns_model_ctx(model), ns_model_params(model),
                                     ns_model_grads(model), ns_model_param_count(model), cfg, out);
    if (st == NS_OK)
        (*out)->model = model;
    return st;
}

void ns_optim_free(ns_optim *opt)
{
    if (opt == NULL)
        return;
    ns_dealloc(opt->ctx, opt->moments);
    ns_dealloc(opt->ctx, opt);
}

/* ---- accessors -------------------------------------------------------------------- */

void ns_optim_zero_grad(ns_optim *opt)
{
    NS_ASSERT(opt != NULL);
    if (opt->model != NULL)
        ns_model_zero_grad(opt->model);
    else
        ns__parallel_zero(opt->ctx, opt->grads, opt->n);
}

double ns_optim_lr(const ns_optim *opt)
{
    return opt->cfg.lr;
}

void ns_optim_set_lr(ns_optim *opt, double lr)
{
    /* Schedules are validated and only produce finite, non-negative rates. */
    NS_ASSERT(isfinite(lr) && lr >= 0.0);
    opt->cfg.lr = lr;
}

ns_model *ns_optim_model(const ns_optim *opt)
{
    return opt->model;
}

const ns_optim_config *ns_optim_get_config(const ns_optim *opt)
{
    return &opt->cfg;
}

int64_t ns_optim_step_count(const ns_optim *opt)
{
    return opt->steps;
}

void ns_optim_set_step_count(ns_optim *opt, int64_t steps)
{
    NS_ASSERT(steps >= 0);
    opt->steps = steps;
}

float *ns_optim_moments(ns_optim *opt)
{
    return opt->moments;
}

int ns_optim_moment_count(const ns_optim *opt)
{
    return opt->moment_count;
}

const char *ns_optim_moment_name(const ns_optim *opt, int i)
{
    return (i >= 0 && i < opt->moment_count) ? opt->moment_names[i] : NULL;
}

/* ---- gradient norm and clipping ------------------------------------------------------ */

/* The CPU-cloned loop is file-local (a global target_clones function's resolver would be
 * exported); ns_grad_norm calls it. */
static NS__CPU_CLONES double grad_norm_impl(const float *g, size_t n);

double ns_grad_norm(const float *g, size_t n)
{
    return grad_norm_impl(g, n);
}

static NS__CPU_CLONES double grad_norm_impl(const float *g, size_t n)
{
    /* Sixteen partial sums (four vectors of four doubles) keep the adds' latency off the
     * critical path; the order is fixed, so the result is the same on every run and at any
     * thread count. Squares of floats summed in double cannot overflow for any realistic n,
     * so the norm is non-finite exactly when some element is. */
    double s[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            s[j] += (double)g[i + j] * (double)g[i + j];
    for (; i < n; i++)
        s[0] += (double)g[i] * (double)g[i];
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            s[j] += s[j + w];
    return sqrt(s[0]);
}

/* The factor clip_grad_norm_ multiplies the gradients by: max_norm / (norm + 1e-6), clamped to
 * at most 1. PyTorch forms it from its float32 norm with float32 tensor ops (x.reciprocal() *
 * max_norm for max_norm / x); doing the same keeps clipped gradients bit-identical. */
static float clip_norm_scale(double norm, double max_norm)
{
    float denom = (float)norm + (float)NS__CLIP_NORM_EPS;
    float coef = (1.0f / denom) * (float)max_norm;
    return coef < 1.0f ? coef : 1.0f;
}

/* clamp(x, -limit, limit) that lets NaN through, as torch.clamp does. */
static inline float clamp_abs(float x, float limit)
{
    return x > limit ? limit : (x < -limit ? -limit : x);
}

double ns_clip_grad_norm(float *g, size_t n, double max_norm)
{
    double norm = ns_grad_norm(g, n);
    if (!(max_norm > 0.0) || !isfinite(norm))
        return norm;
    float scale = clip_norm_scale(norm, max_norm);
    if (scale < 1.0f)
        for (size_t i = 0; i < n; i++)
            g[i] *= scale;
    return norm;
}

void ns_clip_grad_value(float *g, size_t n, double max_value)
{
    if (!(max_value > 0.0))
        return;
    const float limit = (float)max_value;
    for (size_t i = 0; i < n; i++)
        g[i] = clamp_abs(g[i], limit);
}

/* ---- the fused update passes ------------------------------------------------------------ */

/* How the fused pass prepares each gradient: clip_grad_norm_ (multiply by scale), then
 * clip_grad_value_ (clamp to [-limit, limit]). The clipped value is written back, since
 * PyTorch clips p.grad in place and callers may read the gradients after the step. */
typedef struct grad_clip {
    bool on;
    float scale; /* 1 when the norm is within max_norm */
    float limit; /* +inf: no clamp */
} grad_clip;

/* Each update loop below is written once, with the optional parts (clipping, each optional
 * moment) as bool parameters, and is only ever called with constants for them. Forced
 * inlining then gives every combination its own copy of the loop with those branches folded
 * away: a store under a branch (g[i] when clipping, buf[i] when there is momentum) would
 * otherwise keep the compiler from vectorising the loop. Branches that only pick a value
 * (weight decay, nesterov, the first step) stay; they become selects. */
#define NS__SPECIALISED static inline __attribute__((always_inline))

NS__SPECIALISED float take_grad(float *restrict g, size_t i, grad_clip clip, const bool clip_on)
{
    float x = g[i];
    if (clip_on) {
        x = clamp_abs(x * clip.scale, clip.limit);
        g[i] = x;
    }
    return x;
}

/* The float expressions below follow PyTorch's CPU tensor ops one for one, so results agree to
 * the bit (PyTorch 1.13, AVX2 kernels, checked by the golden tests):
 *   x.mul_(s)               x * s             scalars are rounded to float first
 *   x.add_(y, alpha=s)      fmaf(y, s, x)     ATen fuses it (vec::fmadd)
 *   x.addcmul_(y, z, s)     fmaf(s * y, z, x)
 *   x.addcdiv_(y, z, s)     x + (s * y) / z
 * fmaf and sqrtf are exactly specified (one rounding), so results do not depend on the machine
 * or on vectorisation. Speed does: with -O3 -mfma -fno-math-errno every loop vectorises and
 * runs at memory speed (Adam ~0.6 ns a parameter); without -mfma each fmaf is a libm call and
 * the loops stay scalar (~3.6 ns). Nothing else may be contracted: ISO C mode (-std=c17) keeps
 * -ffp-contract=off. */

/* SGD (torch.optim.sgd._single_tensor_sgd); buf is used only with has_buf (momentum > 0):
 *   d = g + wd*p
 *   buf = d on the first step, else momentum*buf + (1 - dampening)*d
 *   d = nesterov ? d + momentum*buf : buf
 *   p = p - lr*d                                             p, g, buf: [n] */
NS__SPECIALISED void sgd_loop(float *restrict p, float *restrict g, float *restrict buf, size_t n,
                              const ns_optim_config *cfg, bool first, grad_clip clip,
                              const bool clip_on, const bool has_buf)
{
    const float lr = (float)cfg->lr;
    const float wd = (float)cfg->weight_decay;
    const float mom = (float)cfg->momentum;
    const float keep = (float)(1.0 - cfg->dampening);
    const bool decay = cfg->weight_decay != 0.0;
    const bool nesterov = cfg->nesterov;
    for (size_t i = 0; i < n; i++) {
        float d = take_grad(g, i, clip, clip_on);
        if (decay)
            d = fmaf(p[i], wd, d);
        if (has_buf) {
            /* PyTorch creates the buffer as a copy of d, so dampening skips the first step. */
            float b = first ? d : fmaf(d, keep, buf[i] * mom);
            buf[i] = b;
            d = nesterov ? fmaf(b, mom, d) : b;
        }
        p[i] = fmaf(d, -lr, p[i]);
    }
}

NS__CPU_CLONES static void sgd_update(float *restrict p, float *restrict g, float *restrict buf,
                                      size_t n, const ns_optim_config *cfg, bool first,
                                      grad_clip clip)
{
    switch (clip.on * 2 + (buf != NULL)) {
    case 0:
        sgd_loop(p, g, buf, n, cfg, first, clip, false, false);
        break;
    case 1:
        sgd_loop(p, g, buf, n, cfg, first, clip, false, true);
        break;
    case 2:
        sgd_loop(p, g, buf, n, cfg, first, clip, true, false);
        break;
    default:
        sgd_loop(p, g, buf, n, cfg, first, clip, true, true);
        break;
    }
}

/* Adam and AdamW (torch.optim.adam/adamw._single_tensor_*); vmax only with has_vmax (amsgrad):
 *   adam:  g = g + wd*p              adamw: p = p * (1 - lr*wd)   (decoupled, before the update)
 *   m = beta1*m + (1 - beta1)*g;  v = beta2*v + (1 - beta2)*g*g;  vmax = max(vmax, v)
 *   p = p - (lr / bc1) * m / (sqrt(v or vmax) / sqrt(bc2) + eps)
 * with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t in double, t the 1-based step.
 *                                                         p, g, m, v, vmax: [n] */
NS__SPECIALISED void adam_loop(float *restrict p, float *restrict g, float *restrict m,
                               float *restrict v, float *restrict vmax, size_t n,
                               const ns_optim_config *cfg, int64_t t, grad_clip clip,
                               const bool clip_on, const bool has_vmax)
{
    const bool decoupled = cfg->kind == NS_OPTIM_ADAMW;
    const double bc1 = 1.0 - pow(cfg->beta1, (double)t);
    const double bc2 = 1.0 - pow(cfg->beta2, (double)t);
    const float neg_step_size = (float)-(cfg->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)cfg->beta1, c1 = (float)(1.0 - cfg->beta1);
    const float b2 = (float)cfg->beta2, c2 = (float)(1.0 - cfg->beta2);
    const float eps = (float)cfg->eps;
    const float wd = (float)cfg->weight_decay;
    /* PyTorch's AdamW multiplies even when weight_decay is 0, by exactly 1. */
    const float shrink = decoupled ? (float)(1.0 - cfg->lr * cfg->weight_decay) : 1.0f;
    const bool l2 = !decoupled && cfg->weight_decay != 0.0;
    for (size_t i = 0; i < n; i++) {
        float gi = take_grad(g, i, clip, clip_on);
        float pi = p[i];
        pi = pi * shrink; /* exact when shrink is 1 */
        if (l2)
            gi = fmaf(pi, wd, gi);
        float mi = fmaf(gi, c1, m[i] * b1);
        float vi = fmaf(c2 * gi, gi, v[i] * b2);
        m[i] = mi;
        v[i] = vi;
        if (has_vmax) {
            float mx = vmax[i];
            vi = mx > vi ? mx : vi;
            vmax[i] = vi;
        }
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi + (neg_step_size * mi) / denom;
    }
}

NS__CPU_CLONES static void adam_update(float *restrict p, float *restrict g, float *restrict m,
                                       float *restrict v, float *restrict vmax, size_t n,
                                       const ns_optim_config *cfg, int64_t t, grad_clip clip)
{
    switch (clip.on * 2 + (vmax != NULL)) {
    case 0:
        adam_loop(p, g, m, v, vmax, n, cfg, t, clip, false, false);
        break;
    case 1:
        adam_loop(p, g, m, v, vmax, n, cfg, t, clip, false, true);
        break;
    case 2:
        adam_loop(p, g, m, v, vmax, n, cfg, t, clip, true, false);
        break;
    default:
        adam_loop(p, g, m, v, vmax, n, cfg, t, clip, true, true);
        break;
    }
}

/* RMSprop (torch.optim.rmsprop._single_tensor_rmsprop); buf only with has_buf (momentum > 0),
 * gavg only with has_gavg (centered):
 *   g = g + wd*p;  sq = alpha*sq + (1 - alpha)*g*g
 *   centered: gavg = alpha*gavg + (1 - alpha)*g;  avg = sqrt(sq - gavg^2) + eps
 *   else:     avg = sqrt(sq) + eps
 *   momentum: buf = momentum*buf + g/avg;  p = p - lr*buf      else p = p - lr*g/avg
 *                                                        p, g, sq, buf, gavg: [n] */
NS__SPECIALISED void rmsprop_loop(float *restrict p, float *restrict g, float *restrict sq,
                                  float *restrict buf, float *restrict gavg, size_t n,
                                  const ns_optim_config *cfg, grad_clip clip, const bool clip_on,
                                  const bool has_buf, const bool has_gavg)
{
    const float lr = (float)cfg->lr;
    const float wd = (float)cfg->weight_decay;
    const float a = (float)cfg->alpha, c = (float)(1.0 - cfg->alpha);
    const float eps = (float)cfg->eps;
    const float mom = (float)cfg->momentum;
    const bool decay = cfg->weight_decay != 0.0;
    for (size_t i = 0; i < n; i++) {
        float gi = take_grad(g, i, clip, clip_on);
        if (decay)
            gi = fmaf(p[i], wd, gi);
        float s = fmaf(c * gi, gi, sq[i] * a);
        sq[i] = s;
        float avg;
        if (has_gavg) {
            float ga = fmaf(gi, c, gavg[i] * a);
            gavg[i] = ga;
            /* sq >= gavg^2 in exact arithmetic; rounding can dip below 0 when the gradient is
             * nearly constant, where PyTorch would produce NaN. Clamping changes nothing else. */
            avg = sqrtf(fmaxf(fmaf(-ga, ga, s), 0.0f));
        } else {
            avg = sqrtf(s);
        }
        avg = avg + eps;
        if (has_buf) {
            float b = buf[i] * mom + gi / avg;
            buf[i] = b;
            p[i] = fmaf(b, -lr, p[i]);
        } else {
            p[i] = p[i] + (-lr * gi) / avg;
        }
    }
}

NS__CPU_CLONES static void rmsprop_update(float *restrict p, float *restrict g, float *restrict sq,
                                          float *restrict buf, float *restrict gavg, size_t n,
                                          const ns_optim_config *cfg, grad_clip clip)
{
    switch (clip.on * 4 + (buf != NULL) * 2 + (gavg != NULL)) {
    case 0:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, false, false, false);
        break;
    case 1:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, false, false, true);
        break;
    case 2:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, false, true, false);
        break;
    case 3:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, false, true, true);
        break;
    case 4:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, true, false, false);
        break;
    case 5:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, true, false, true);
        break;
    case 6:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, true, true, false);
        break;
    default:
        rmsprop_loop(p, g, sq, buf, gavg, n, cfg, clip, true, true, true);
        break;
    }
}

/* The i-th moment of the block, or NULL when the optimizer has fewer. */
static float *moment(ns_optim *opt, int i)
{
    return (i < opt->moment_count && opt->moments != NULL) ? opt->moments + (size_t)i * opt->n
                                                           : NULL;
}

/* Index of the first non-finite gradient (the norm said there is one). */
static size_t first_nonfinite(const float *g, size_t n)
{
    size_t i = 0;
    while (i < n && isfinite(g[i]))
        i++;
    return i;
}

typedef struct update_task {
    ns_optim *opt;
    grad_clip gc;
} update_task;

static void update_range(void *arg, size_t lo, size_t hi);

/* p + lo, or NULL for a missing moment. */
static float *at(float *p, size_t lo)
{
    return p != NULL ? p + lo : NULL;
}

ns_status ns_optim_step(ns_optim *opt, const ns_clip *clip, double *grad_norm)
{
    NS_ASSERT(opt != NULL);
    const ns_optim_config *cfg = &opt->cfg;
    double max_norm = clip != NULL ? clip->max_norm : 0.0;
    double max_value = clip != NULL ? clip->max_value : 0.0;
    if (!in_range(max_norm, 0.0, HUGE_VAL, false))
        return ns_errorf(opt->ctx, NS_ERR_INVALID,
                         "optimizer %s: clip max_norm = %g: must be finite and >= 0 (0 turns "
                         "norm clipping off; 1.0 is common)",
                         ns_optim_kind_name(cfg->kind), max_norm);
    if (!in_range(max_value, 0.0, HUGE_VAL, false))
        return ns_errorf(opt->ctx, NS_ERR_INVALID,
                         "optimizer %s: clip max_value = %g: must be finite and >= 0 (0 turns "
                         "value clipping off)",
                         ns_optim_kind_name(cfg->kind), max_value);

    /* One read pass: the norm is both the clipping input and the finiteness check. */
    double norm = ns_grad_norm(opt->grads, opt->n);
    if (grad_norm != NULL)
        *grad_norm = norm;
    if (!isfinite(norm)) {
        size_t i = first_nonfinite(opt->grads, opt->n);
        float gi = opt->grads[i];
        return ns_errorf(opt->ctx, NS_ERR_NONFINITE,
                         "optimizer %s: step %lld: gradient[%zu] of %zu is %s; weights left "
                         "unchanged. Check the loss and inputs for NaN/Inf, lower the learning "
                         "rate, or clip gradients (max_norm)",
                         ns_optim_kind_name(cfg->kind), (long long)(opt->steps + 1), i, opt->n,
                         isnan(gi) ? "nan" : (gi > 0.0f ? "inf" : "-inf"));
    }

    /* Norm clipping first, from the norm just measured; value clipping after it, so the result
     * honours both bounds (clamping can only lower the norm) with a single norm pass. */
    grad_clip gc = {false, 1.0f, INFINITY};
    if (max_norm > 0.0) {
        gc.on = true;
        gc.scale = clip_norm_scale(norm, max_norm);
    }
    if (max_value > 0.0) {
        gc.on = true;
        gc.limit = (float)max_value;
    }

    /* The update is elementwise, so it splits over the context's threads into fixed blocks
     * with the same result at any thread count. */
    update_task t = {opt, gc};
    ns__parallel_range(opt->ctx, opt->n, NS__PARALLEL_BLOCK, update_range, &t);
    opt->steps++;
    return NS_OK;
}

/* Updates parameters [lo, hi) of the block (arg: an update_task). */
static void update_range(void *arg, size_t lo, size_t hi)
{
    const update_task *t = arg;
    ns_optim *opt = t->opt;
    grad_clip gc = t->gc;
    const ns_optim_config *cfg = &opt->cfg;
    float *p = opt->params + lo, *g = opt->grads + lo;
    size_t n = hi - lo;
    switch (cfg->kind) {
    case NS_OPTIM_SGD:
        /* The momentum buffer counts as empty before the first step (PyTorch's "buf is None"). */
        sgd_update(p, g, at(moment(opt, 0), lo), n, cfg, opt->steps == 0, gc);
        break;
    case NS_OPTIM_ADAM:
    case NS_OPTIM_ADAMW:
        adam_update(p, g, at(moment(opt, 0), lo), at(moment(opt, 1), lo),
                    cfg->amsgrad ? at(moment(opt, 2), lo) : NULL, n, cfg, opt->steps + 1, gc);
        break;
    case NS_OPTIM_RMSPROP: {
        bool has_buf = cfg->momentum > 0.0;
        float *buf = has_buf ? at(moment(opt, 1), lo) : NULL;
        float *gavg = cfg->centered ? at(moment(opt, has_buf ? 2 : 1), lo) : NULL;
        rmsprop_update(p, g, at(moment(opt, 0), lo), buf, gavg, n, cfg, gc);
        break;
    }
    case NS_OPTIM_KIND_COUNT:
        NS_ASSERT(cfg->kind < NS_OPTIM_KIND_COUNT); /* validated at creation */
    }
}

size_t ns_optim_param_count(const ns_optim *opt)
{
    return opt->n;
}

ns_ctx *ns_optim_ctx(const ns_optim *opt)
{
    return opt->ctx;
}
