/* netsmith kernels: pure math on float32 arrays. No allocation, no state, no errors:
 * shapes are the caller's contract. Forward functions overwrite their output; backward
 * functions accumulate (+=) into dx and parameter gradients unless said otherwise. */
#ifndef NETSMITH_KERNELS_H
#define NETSMITH_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "netsmith/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dense (GEMM through OpenBLAS) ---------------------------------------------- */

/* y[B,out] = x[B,in] . w[out,in]^T + b[out]   (b may be NULL) */
NS_API void ns_dense_forward(float *y, const float *x, const float *w, const float *b, int batch,
                             int in, int out);
/* dx[B,in] += dy . w;  dw[out,in] += dy^T . x;  db[out] += sum_B dy.  Any output may be NULL. */
NS_API void ns_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int batch, int in, int out);

/* ---- elementwise activations, n elements ----------------------------------------------
 * y[n], x[n], dy[n], dx[n]. Backward: dx += dy * f'(.), computed from the forward input x
 * and/or output y (PyTorch's formulas: relu tests y > 0, elu uses y + alpha for x <= 0). */
NS_API void ns_relu_forward(float *y, const float *x, size_t n);
NS_API void ns_relu_backward(float *dx, const float *dy, const float *y, size_t n);
/* As ns_relu_backward, but dx = (not +=) dy * (y > 0): dx needs no clearing first. */
NS_API void ns_relu_backward_set(float *dx, const float *dy, const float *y, size_t n);
NS_API void ns_leaky_relu_forward(float *y, const float *x, size_t n, float slope);
NS_API void ns_leaky_relu_backward(float *dx, const float *dy, const float *x, size_t n, float slope);
NS_API void ns_elu_forward(float *y, const float *x, size_t n, float alpha);
NS_API void ns_elu_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                            float alpha);
/* GELU: exact x * Phi(x), or the tanh approximation. */
NS_API void ns_gelu_forward(float *y, const float *x, size_t n, int tanh_approx);
NS_API void ns_gelu_backward(float *dx, const float *dy, const float *x, size_t n, int tanh_approx);
NS_API void ns_silu_forward(float *y, const float *x, size_t n);
NS_API void ns_silu_backward(float *dx, const float *dy, const float *x, size_t n);
NS_API void ns_tanh_forward(float *y, const float *x, size_t n);
NS_API void ns_tanh_backward(float *dx, const float *dy, const float *y, size_t n);
NS_API void ns_sigmoid_forward(float *y, const float *x, size_t n);
NS_API void ns_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n);

/* Softmax over the last dimension: x, y, dy, dx [rows,cols]; max-subtracted, sums in double. */
NS_API void ns_softmax_forward(float *y, const float *x, int rows, int cols);
NS_API void ns_softmax_backward(float *dx, const float *dy, const float *y, int rows, int cols);

/* Dropout (inverted): y[n] = x * mask. mask[n] holds 0 or 1/(1-p); the caller (the dropout
 * layer's forward) draws it, so the kernels need no random stream. */
NS_API void ns_dropout_apply(float *y, const float *x, const float *mask, size_t n);
NS_API void ns_dropout_backward(float *dx, const float *dy, const float *mask, size_t n);

/* ---- normalisation ---------------------------------------------------------------------- */

/* LayerNorm over the last dimension: x, y, dy, dx [rows,cols]; gamma/beta[cols] may be NULL
 * (no affine). Biased variance, rstd = 1/sqrt(var + eps); mean[rows], rstd[rows] are saved
 * for backward. Backward: dx, dgamma[cols], dbeta[cols] accumulate and each may be NULL. */
NS_API void ns_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                                 const float *beta, int rows, int cols, float eps);
NS_API void ns_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
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
NS_API void ns_batchnorm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                       float *running_var, const float *x, const float *gamma,
                                       const float *beta, int batch, int channels, int spatial,
                                       float eps, float momentum);
NS_API void ns_batchnorm_forward_eval(float *y, const float *x, const float *running_mean,
                                      const float *running_var, const float *gamma, const float *beta,
                                      int batch, int channels, int spatial, float eps);
NS_API void ns_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *mean, const float *rstd,
                                  const float *gamma, int batch, int channels, int spatial);

/* ---- 2-D convolution and pooling (NCHW) --------------------------------------------------
 * A sample is [C, H, W], a batch [B, C, H, W], row-major. One geometry describes conv2d and
 * the pooling windows; pair members are [height, width]. Output lengths follow PyTorch
 * (floor mode): out = (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1. */

typedef struct ns_conv2d_geom {
    int in_c, in_h, in_w;    /* input sample [C, H, W] */
    int out_c, out_h, out_w; /* output sample [OC, OH, OW] (pools: OC = C) */
    int kernel[2];           /* window [KH, KW] */
    int stride[2];           /* >= 1 */
    int padding[2];          /* per side: zeros (conv2d, avgpool2d) or -inf (maxpool2d) */
    int dilation[2];         /* conv2d; pools: (1, 1) */
    int groups;              /* conv2d: divides C and OC; pools: 1 */
} ns_conv2d_geom;

/* Output length along one axis; 0 when not even one window fits. */
NS_API int ns_conv2d_out_len(int in, int kernel, int stride, int padding, int dilation);

/* Work buffers of a convolution, caller-owned (a layer carves them from its arena scratch).
 * The batch is processed `chunk` samples at a time, each chunk folded into the GEMMs' N
 * dimension (N = chunk * OH * OW), so small images still give long GEMMs. */
typedef struct ns_conv2d_work {
    int chunk;   /* samples per GEMM, >= 1 */
    float *col;  /* [C*KH*KW, chunk*OH*OW] the im2col matrix of a chunk of x */
    float *dcol; /* [C*KH*KW, chunk*OH*OW] its gradient (backward with dx only; may be NULL
                  * otherwise) */
    float *tmp;  /* per-chunk weight and bias gradient partials, summed in chunk order
                    (needed whenever a weight or bias gradient is wanted) */
} ns_conv2d_work;

/* Floats of each work buffer for chunks of `chunk` samples: col and dcol, and tmp. */
NS_API size_t ns_conv2d_col_floats(const ns_conv2d_geom *g, int chunk);
NS_API size_t ns_conv2d_tmp_floats(const ns_conv2d_geom *g, int chunk);

/* y[B,OC,OH,OW] = sum over the group's channels and the window of w[OC,C/G,KH,KW] * x[B,C,H,W]
 * (zero padding) + b[OC]; b may be NULL. PyTorch's conv2d (cross-correlation). On return
 * work->col holds the im2col matrix of the last chunk of x, which backward can reuse when
 * that chunk is the whole batch. */
NS_API void ns_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                              const ns_conv2d_geom *g, int batch, ns_conv2d_work *work);
/* Backward of ns_conv2d_forward for upstream dy[B,OC,OH,OW]: dx[B,C,H,W] += ..., dw[OC,C/G,
 * KH,KW] += ..., db[OC] += sum dy. Any of dx, dw, db may be NULL (dx NULL: work->dcol is not
 * touched). col_ready says work->col still holds what a forward or backward on the same x,
 * batch and chunk left there; when the batch is one chunk that saves an im2col (work->col is
 * then left as it is, so col_ready stays true for a second backward). */
NS_API void ns_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *w, const ns_conv2d_geom *g, int batch, ns_conv2d_work *work,
                               int col_ready);

/* Max pooling, padding counting as -infinity (padding <= kernel / 2 so every window holds
 * an input). y[B,C,OH,OW]; argmax[B,C,OH,OW] receives the index (h * W + w) of the chosen
 * input in its [H, W] plane: the first maximum in row-major window order, or the first NaN
 * (PyTorch's choice). Backward: dx[B,C,H,W] += dy routed to the saved argmax. */
NS_API void ns_maxpool2d_forward(float *y, int32_t *argmax, const float *x, const ns_conv2d_geom *g,
                                 int batch);
NS_API void ns_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax,
                                  const ns_conv2d_geom *g, int batch);
/* As ns_maxpool2d_backward, but dx = (not +=) the routed dy: dx needs no clearing first. */
NS_API void ns_maxpool2d_backward_set(float *dx, const float *dy, const int32_t *argmax,
                                      const ns_conv2d_geom *g, int batch);

/* Average pooling with zero padding: the divisor is the window clipped to the padded input
 * when count_include_pad (PyTorch's default), else the number of real inputs in it.
 * y[B,C,OH,OW], x and dx [B,C,H,W]; backward spreads dy / divisor over the window (+=). */
NS_API void ns_avgpool2d_forward(float *y, const float *x, const ns_conv2d_geom *g, int batch,
                                 int count_include_pad);
NS_API void ns_avgpool2d_backward(float *dx, const float *dy, const ns_conv2d_geom *g, int batch,
                                  int count_include_pad);

/* Adaptive average pooling to [OH, OW] (kernel, stride and padding of g are ignored): output
 * (i, j) averages rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 and the same for columns, as
 * PyTorch. OH = OW = 1 is global average pooling. Backward accumulates (+=). */
NS_API void ns_adaptive_avgpool2d_forward(float *y, const float *x, const ns_conv2d_geom *g, int batch);
NS_API void ns_adaptive_avgpool2d_backward(float *dx, const float *dy, const ns_conv2d_geom *g, int batch);

/* Channel dropout (torch.nn.Dropout2d): y[rows,spatial] = x * mask[rows], one mask value per
 * (sample, channel) row (0 or 1/(1-p), drawn by the layer). Backward: dx += dy * mask. */
NS_API void ns_dropout2d_apply(float *y, const float *x, const float *mask, size_t rows, size_t spatial);
NS_API void ns_dropout2d_backward(float *dx, const float *dy, const float *mask, size_t rows,
                                  size_t spatial);

#ifdef __cplusplus
}
#endif
#endif
