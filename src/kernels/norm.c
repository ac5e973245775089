/* Normalisation kernels: LayerNorm over the last dimension and BatchNorm over (batch, spatial)
 * per channel, as torch.nn.LayerNorm / BatchNorm1d (biased variance, eps inside the sqrt).
 * Statistics are reduced in double; outputs stay float. Derivation of the backward pass:
 * with xhat = (x - mean) * rstd and g = dy * gamma over the n normalised elements,
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)). */
#include <math.h>

#include "netsmith/kernels.h"

/* ---- layernorm ----------------------------------------------------------------------- */

/* y[rows,cols] = (x - mean) * rstd * gamma + beta per row; mean[rows], rstd[rows] saved.
 * x[rows,cols], gamma[cols], beta[cols] (either may be NULL). The variance is taken in a
 * second pass around the mean: one-pass E[x^2] - E[x]^2 cancels badly when |mean| >> std. */
void ns_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, int rows, int cols, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)cols;
        float *yr = y + (size_t)r * (size_t)cols;
        double sum = 0.0;
        for (int c = 0; c < cols; c++)
            sum += (double)xr[c];
        double mu = sum / cols;
        double ss = 0.0;
        for (int c = 0; c < cols; c++) {
            double d = (double)xr[c] - mu;
            ss += d * d;
        }
        double rs = 1.0 / sqrt(ss / cols + (double)eps);
        for (int c = 0; c < cols; c++) {
            double v = ((double)xr[c] - mu) * rs;
            if (gamma != NULL)
                v *= (double)gamma[c];
            if (beta != NULL)
                v += (double)beta[c];
            yr[c] = (float)v;
        }
        mean[r] = (float)mu;
        rstd[r] = (float)rs;
    }
}

/* dx[rows,cols] += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma;
 * dgamma[cols] += sum_rows dy * xhat; dbeta[cols] += sum_rows dy. dx, dgamma and dbeta may
 * each be NULL. Parameter gradients sum over rows in double per column before the one
 * float += so that many rows do not lose low bits. */
void ns_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *gamma, int rows,
                           int cols)
{
    if (dx != NULL) {
        for (int r = 0; r < rows; r++) {
            size_t off = (size_t)r * (size_t)cols;
            double mu = (double)mean[r], rs = (double)rstd[r];
            double sum_g = 0.0, sum_gx = 0.0;
            for (int c = 0; c < cols; c++) {
                double g = (double)dy[off + (size_t)c] * (gamma ? (double)gamma[c] : 1.0);
                double xhat = ((double)x[off + (size_t)c] - mu) * rs;
                sum_g += g;
                sum_gx += g * xhat;
            }
            double mean_g = sum_g / cols, mean_gx = sum_gx / cols;
            for (int c = 0; c < cols; c++) {
                size_t i = off + (size_t)c;
                double g = (double)dy[i] * (gamma ? (double)gamma[c] : 1.0);
                double xhat = ((double)x[i] - mu) * rs;
                dx[i] += (float)(rs * (g - mean_g - xhat * mean_gx));
            }
        }
    }
    if (dgamma == NULL && dbeta == NULL)
        return;
    for (int c = 0; c < cols; c++) {
        double sg = 0.0, sb = 0.0;
        for (int r = 0; r < rows; r++) {
            size_t i = (size_t)r * (size_t)cols + (size_t)c;
            double d = (double)dy[i];
            sg += d * ((double)x[i] - (double)mean[r]) * (double)rstd[r];
            sb += d;
        }
        if (dgamma != NULL)
            dgamma[c] += (float)sg;
        if (dbeta != NULL)
            dbeta[c] += (float)sb;
    }
}

/* ---- batchnorm ----------------------------------------------------------------------- */

/* Element (b, c, s) of x[B,C,S]. */
static size_t bn_at(int b, int c, int s, int channels, int spatial)
{
    return ((size_t)b * (size_t)channels + (size_t)c) * (size_t)spatial + (size_t)s;
}

/* y[B,C,S] from x[B,C,S] with the batch statistics of each channel over its n = B*S values;
 * mean[C], rstd[C] saved; running_mean[C], running_var[C] <- (1 - momentum) * running
 * + momentum * batch statistic, the variance unbiased (n / (n - 1)) as torch. torch refuses
 * n = 1 in training; here the biased variance is used then, so no division by zero. */
void ns_batchnorm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                float *running_var, const float *x, const float *gamma,
                                const float *beta, int batch, int channels, int spatial, float eps,
                                float momentum)
{
    double n = (double)batch * (double)spatial;
    double m = (double)momentum;
    for (int c = 0; c < channels; c++) {
        double sum = 0.0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++)
                sum += (double)x[bn_at(b, c, s, channels, spatial)];
        double mu = sum / n;
        double ss = 0.0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                double d = (double)x[bn_at(b, c, s, channels, spatial)] - mu;
                ss += d * d;
            }
        double var = ss / n;
        double rs = 1.0 / sqrt(var + (double)eps);
        double g = gamma ? (double)gamma[c] : 1.0;
        double bt = beta ? (double)beta[c] : 0.0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                size_t i = bn_at(b, c, s, channels, spatial);
                y[i] = (float)(((double)x[i] - mu) * rs * g + bt);
            }
        mean[c] = (float)mu;
        rstd[c] = (float)rs;
        double unbiased = n > 1.0 ? ss / (n - 1.0) : var;
        running_mean[c] = (float)((1.0 - m) * (double)running_mean[c] + m * mu);
        running_var[c] = (float)((1.0 - m) * (double)running_var[c] + m * unbiased);
    }
}

/* y[B,C,S] = (x - running_mean) / sqrt(running_var + eps) * gamma + beta per channel. */
void ns_batchnorm_forward_eval(float *y, const float *x, const float *running_mean,
                               const float *running_var, const float *gamma, const float *beta,
                               int batch, int channels, int spatial, float eps)
{
    for (int c = 0; c < channels; c++) {
        double rs = 1.0 / sqrt((double)running_var[c] + (double)eps);
        double scale = rs * (gamma ? (double)gamma[c] : 1.0);
        double shift = (beta ? (double)beta[c] : 0.0) - (double)running_mean[c] * scale;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                size_t i = bn_at(b, c, s, channels, spatial);
                y[i] = (float)((double)x[i] * scale + shift);
            }
    }
}

/* Backward of the training forward (batch statistics): per channel over its n values,
 * dx[B,C,S] += gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat));
 * dgamma[C] += sum dy * xhat; dbeta[C] += sum dy. dx, dgamma, dbeta may each be NULL. */
void ns_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *mean, const float *rstd, const float *gamma, int batch,
                           int channels, int spatial)
{
    double n = (double)batch * (double)spatial;
    for (int c = 0; c < channels; c++) {
        double mu = (double)mean[c], rs = (double)rstd[c];
        double sum_dy = 0.0, sum_dyx = 0.0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                size_t i = bn_at(b, c, s, channels, spatial);
                double d = (double)dy[i];
                sum_dy += d;
                sum_dyx += d * ((double)x[i] - mu) * rs;
            }
        if (dgamma != NULL)
            dgamma[c] += (float)sum_dyx;
        if (dbeta != NULL)
            dbeta[c] += (float)sum_dy;
        if (dx == NULL)
            continue;
        double k = rs * (gamma ? (double)gamma[c] : 1.0);
        double mean_dy = sum_dy / n, mean_dyx = sum_dyx / n;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                size_t i = bn_at(b, c, s, channels, spatial);
                double xhat = ((double)x[i] - mu) * rs;
                dx[i] += (float)(k * ((double)dy[i] - mean_dy - xhat * mean_dyx));
            }
    }
}
