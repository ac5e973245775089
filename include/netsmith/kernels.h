/* netsmith kernels: pure math on float32 arrays. No allocation, no state, no errors:
 * shapes are the caller's contract. Forward functions overwrite their output; backward
 * functions accumulate (+=) into dx and parameter gradients unless said otherwise. */
#ifndef NETSMITH_KERNELS_H
#define NETSMITH_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dense (GEMM through OpenBLAS) ---------------------------------------------- */

/* y[B,out] = x[B,in] . w[out,in]^T + b[out]   (b may be NULL) */
void ns_dense_forward(float *y, const float *x, const float *w, const float *b, int batch,
                      int in, int out);
/* dx[B,in] += dy . w;  dw[out,in] += dy^T . x;  db[out] += sum_B dy.  Any output may be NULL. */
void ns_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, int batch, int in, int out);

/* ---- elementwise activations, n elements ----------------------------------------------
 * y[n], x[n], dy[n], dx[n]. Backward: dx += dy * f'(.), computed from the forward input x
 * and/or output y (PyTorch's formulas: relu tests y > 0, elu uses y + alpha for x <= 0). */
void ns_relu_forward(float *y, const float *x, size_t n);
void ns_relu_backward(float *dx, const float *dy, const float *y, size_t n);
void ns_leaky_relu_forward(float *y, const float *x, size_t n, float slope);
void ns_leaky_relu_backward(float *dx, const float *dy, const float *x, size_t n, float slope);
void ns_elu_forward(float *y, const float *x, size_t n, float alpha);
void ns_elu_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                     float alpha);
/* GELU: exact x * Phi(x), or the tanh approximation. */
void ns_gelu_forward(float *y, const float *x, size_t n, int tanh_approx);
void ns_gelu_backward(float *dx, const float *dy, const float *x, size_t n, int tanh_approx);
void ns_silu_forward(float *y, const float *x, size_t n);
void ns_silu_backward(float *dx, const float *dy, const float *x, size_t n);
void ns_tanh_forward(float *y, const float *x, size_t n);
void ns_tanh_backward(float *dx, const float *dy, const float *y, size_t n);
void ns_sigmoid_forward(float *y, const float *x, size_t n);
void ns_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n);

/* Softmax over the last dimension: x, y, dy, dx [rows,cols]; max-subtracted, sums in double. */
void ns_softmax_forward(float *y, const float *x, int rows, int cols);
void ns_softmax_backward(float *dx, const float *dy, const float *y, int rows, int cols);

/* Dropout (inverted): y[n] = x * mask. mask[n] holds 0 or 1/(1-p); the caller (the dropout
 * layer's forward) draws it, so the kernels need no random stream. */
void ns_dropout_apply(float *y, const float *x, const float *mask, size_t n);
void ns_dropout_backward(float *dx, const float *dy, const float *mask, size_t n);

/* ---- normalisation ---------------------------------------------------------------------- */

/* LayerNorm over the last dimension: x, y, dy, dx [rows,cols]; gamma/beta[cols] may be NULL
 * (no affine). Biased variance, rstd = 1/sqrt(var + eps); mean[rows], rstd[rows] are saved
 * for backward. Backward: dx, dgamma[cols], dbeta[cols] accumulate and each may be NULL. */
void ns_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, int rows, int cols, float eps);
void ns_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int rows, int cols);

/* BatchNorm over the batch for each of C features, x, y, dy, dx [B,C,S] with S = spatial size
 * (1 for batchnorm1d on vectors). Training: uses batch statistics (biased variance over the
 * n = B*S values), saves mean[C], rstd[C] and updates running = (1 - momentum) * running
 * + momentum * stat for running_mean/var[C], the variance unbiased (n/(n-1)) as PyTorch;
 * n = 1 (which PyTorch refuses) falls back to the biased variance.
 * Evaluation: uses running statistics. gamma/beta[C] may be NULL.
 * Backward is that of the training forward; dx, dgamma[C], dbeta[C] accumulate and each may
 * be NULL. */
void ns_batchnorm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                float *running_var, const float *x, const float *gamma,
                                const float *beta, int batch, int channels, int spatial,
                                float eps, float momentum);
void ns_batchnorm_forward_eval(float *y, const float *x, const float *running_mean,
                               const float *running_var, const float *gamma, const float *beta,
                               int batch, int channels, int spatial, float eps);
void ns_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int batch, int channels, int spatial);

#ifdef __cplusplus
}
#endif
#endif
