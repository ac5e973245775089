/* The kernels' library-internal interface: the dense and conv2d products split over a context's
 * threads (kernels/dense.c, kernels/conv.c), for the layers that run them. */
#ifndef NETSMITH_KERNELS_INTERNAL_H
#define NETSMITH_KERNELS_INTERNAL_H

#include "core/core_internal.h"
#include "netsmith/kernels.h"

/* ns_dense_forward / ns_dense_backward with their large GEMMs split over ctx's threads
 * (kernels/dense.c); the same results at any thread count. ctx may be NULL (one thread). */
void ns__dense_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                           int batch, int in, int out);
void ns__dense_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int batch, int in, int out);

/* ns_conv2d_forward / ns_conv2d_backward with the batch split over ctx's threads in gradient
 * chunks of NS__CONV_GRAD_CHUNK samples (kernels/conv.c); the same results at any thread
 * count. ctx may be NULL (one thread). */
#define NS__CONV_GRAD_CHUNK 8
void ns__conv2d_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                            const ns_conv2d_geom *g, int batch, ns_conv2d_work *work);
void ns__conv2d_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                             const float *x, const float *w, const ns_conv2d_geom *g, int batch,
                             ns_conv2d_work *work, int col_ready);

#endif
