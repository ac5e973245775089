/* Elementwise activation kernels (relu, leaky_relu, elu, gelu, silu, tanh, sigmoid), softmax
 * over the last dimension and inverted dropout, with PyTorch 1.13's forward and backward
 * formulas. Forward overwrites its output; backward accumulates (+=) into dx. */
#include <math.h>

#include "kernels/kernels_internal.h"
#include "netsmith/kernels.h"

/* The transcendental functions are evaluated in double and rounded once to float: the result
 * is then the correctly rounded float in nearly every case, which keeps us within an ulp of
 * PyTorch's float kernels and avoids the cancellation of float 1 + erf(x) or 1 - tanh^2. */

/* 1 / sqrt(2), 1 / sqrt(2 pi), sqrt(2 / pi) and GELU-tanh's cubic coefficient. */
#define NS_SQRT1_2 0.70710678118654752440
#define NS_INV_SQRT_2PI 0.39894228040143267794
#define NS_SQRT_2_PI 0.79788456080286535588
#define NS_GELU_KAPPA 0.044715

/* ---- relu ---------------------------------------------------------------------------- */

/* y[n] = max(x, 0); written so that a NaN passes through (as torch) and reaches the loss's
 * non-finite check instead of silently becoming 0. */
/* The CPU-cloned loop is file-local (a global target_clones function's resolver would be
 * exported); ns_relu_forward calls it. */
static NS__CPU_CLONES void relu_forward_impl(float *y, const float *x, size_t n);

void ns_relu_forward(float *y, const float *x, size_t n)
{
    relu_forward_impl(y, x, n);
}

static NS__CPU_CLONES void relu_forward_impl(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* dx[n] += dy * (y > 0); torch's threshold_backward tests the output, so x = 0 passes none. */
/* The CPU-cloned loop is file-local (a global target_clones function's resolver would be
 * exported); ns_relu_backward calls it. */
static NS__CPU_CLONES void relu_backward_impl(float *dx, const float *dy, const float *y, size_t n);

void ns_relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
    relu_backward_impl(dx, dy, y, n);
}

static NS__CPU_CLONES void relu_backward_impl(float *dx, const float *dy, const float *y, size_t n)
{
    /* Branch-free so it vectorises (a data-dependent branch mispredicts on real activations). */
    for (size_t i = 0; i < n; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

/* dx[n] = dy * (y > 0), for a dx that needs no accumulation (no clearing pass first). */
/* The CPU-cloned loop is file-local (a global target_clones function's resolver would be
 * exported); ns_relu_backward_set calls it. */
static NS__CPU_CLONES void relu_backward_set_impl(float *dx, const float *dy, const float *y, size_t n);

void ns_relu_backward_set(float *dx, const float *dy, const float *y, size_t n)
{
    relu_backward_set_impl(dx, dy, y, n);
}

static NS__CPU_CLONES void relu_backward_set_impl(float *dx, const float *dy, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---- leaky relu ---------------------------------------------------------------------- */

/* y[n] = x > 0 ? x : slope * x */
void ns_leaky_relu_forward(float *y, const float *x, size_t n, float slope)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
}

/* dx[n] += dy * (x > 0 ? 1 : slope) */
void ns_leaky_relu_backward(float *dx, const float *dy, const float *x, size_t n, float slope)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * slope;
}

/* ---- elu ----------------------------------------------------------------------------- */

/* y[n] = x > 0 ? x : alpha * (exp(x) - 1); expm1 keeps small |x| exact. */
void ns_elu_forward(float *y, const float *x, size_t n, float alpha)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : (float)((double)alpha * expm1((double)x[i]));
}

/* dx[n] += dy * (x > 0 ? 1 : y + alpha). For x <= 0, y + alpha = alpha * exp(x); the saved
 * output gives it without a second exp (torch's in-place ELU does the same). */
void ns_elu_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                     float alpha)
{
    for (size_t i = 0; i < n; i++) {
        if (x[i] > 0.0f)
            dx[i] += dy[i];
        else
            dx[i] += (float)((double)dy[i] * ((double)y[i] + (double)alpha));
    }
}

/* ---- gelu ---------------------------------------------------------------------------- */

/* y[n] = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), or with tanh_approx
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (torch's approximate='tanh'). */
void ns_gelu_forward(float *y, const float *x, size_t n, int tanh_approx)
{
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        double cdf;
        if (tanh_approx)
            cdf = 0.5 * (1.0 + tanh(NS_SQRT_2_PI * (v + NS_GELU_KAPPA * v * v * v)));
        else
            cdf = 0.5 * erfc(-v * NS_SQRT1_2); /* = 0.5 (1 + erf(x/sqrt2)), exact for x << 0 */
        y[i] = (float)(v * cdf);
    }
}

/* dx[n] += dy * gelu'(x): exact Phi(x) + x phi(x); tanh form differentiates the approximation
 * itself (torch's gelu_backward with approximate='tanh'). */
void ns_gelu_backward(float *dx, const float *dy, const float *x, size_t n, int tanh_approx)
{
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        double d;
        if (tanh_approx) {
            double t = tanh(NS_SQRT_2_PI * (v + NS_GELU_KAPPA * v * v * v));
            double dinner = NS_SQRT_2_PI * (1.0 + 3.0 * NS_GELU_KAPPA * v * v);
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * dinner;
        } else {
            d = 0.5 * erfc(-v * NS_SQRT1_2) + v * NS_INV_SQRT_2PI * exp(-0.5 * v * v);
        }
        dx[i] += (float)((double)dy[i] * d);
    }
}

/* ---- silu, tanh, sigmoid ------------------------------------------------------------- */

/* Logistic function without overflow: exp is only taken of a non-positive number. */
static double sigmoid_d(double v)
{
    if (v >= 0.0)
        return 1.0 / (1.0 + exp(-v));
    double e = exp(v);
    return e / (1.0 + e);
}

/* y[n] = x * sigmoid(x) */
void ns_silu_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        y[i] = (float)(v * sigmoid_d(v));
    }
}

/* dx[n] += dy * s (1 + x (1 - s)), s = sigmoid(x) */
void ns_silu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        double s = sigmoid_d(v);
        dx[i] += (float)((double)dy[i] * s * (1.0 + v * (1.0 - s)));
    }
}

/* y[n] = tanh(x) */
void ns_tanh_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)tanh((double)x[i]);
}

/* dx[n] += dy * (1 - y^2), from the saved output as torch's tanh_backward */
void ns_tanh_backward(float *dx, const float *dy, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double t = (double)y[i];
        dx[i] += (float)((double)dy[i] * (1.0 - t * t));
    }
}

/* y[n] = 1 / (1 + exp(-x)) */
void ns_sigmoid_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)sigmoid_d((double)x[i]);
}

/* dx[n] += dy * y (1 - y), from the saved output as torch's sigmoid_backward */
void ns_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = (double)y[i];
        dx[i] += (float)((double)dy[i] * s * (1.0 - s));
    }
}

/* ---- softmax ------------------------------------------------------------------------- */

/* y[rows,cols] = exp(x - max) / sum exp(x - max) per row: subtracting the row maximum keeps
 * every exp in (0, 1], so large logits cannot overflow. */
void ns_softmax_forward(float *y, const float *x, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)cols;
        float *yr = y + (size_t)r * (size_t)cols;
        float mx = xr[0];
        for (int c = 1; c < cols; c++)
            if (xr[c] > mx)
                mx = xr[c];
        double sum = 0.0;
        for (int c = 0; c < cols; c++)
            sum += exp((double)xr[c] - (double)mx);
        double inv = 1.0 / sum;
        for (int c = 0; c < cols; c++)
            yr[c] = (float)(exp((double)xr[c] - (double)mx) * inv);
    }
}

/* dx[rows,cols] += y * (dy - sum_c dy_c y_c) per row (the Jacobian diag(y) - y y^T applied
 * to dy), from the saved output dy[rows,cols], y[rows,cols]. */
void ns_softmax_backward(float *dx, const float *dy, const float *y, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        size_t off = (size_t)r * (size_t)cols;
        double dot = 0.0;
        for (int c = 0; c < cols; c++)
            dot += (double)dy[off + (size_t)c] * (double)y[off + (size_t)c];
        for (int c = 0; c < cols; c++) {
            size_t i = off + (size_t)c;
            dx[i] += (float)((double)y[i] * ((double)dy[i] - dot));
        }
    }
}

/* ---- dropout ------------------------------------------------------------------------- */

/* y[n] = x * mask; the caller drew mask[n] (0 or 1/(1-p)), so the kernel stays random-free. */
void ns_dropout_apply(float *y, const float *x, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * mask[i];
}

/* dx[n] += dy * mask */
void ns_dropout_backward(float *dx, const float *dy, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * mask[i];
}
