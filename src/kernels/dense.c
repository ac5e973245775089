/* Dense (fully connected) forward and backward, with the products done by OpenBLAS. */
#include <cblas.h>

#include "netsmith/kernels.h"

/* y[B,out] = x[B,in] . w[out,in]^T + b[out] */
void ns_dense_forward(float *y, const float *x, const float *w, const float *b, int batch,
                      int in, int out)
{
    float beta = 0.0f;
    if (b != NULL) {
        /* Seed every row with the bias so the GEMM adds onto it (beta = 1). */
        for (int i = 0; i < batch; i++) {
            float *row = y + (size_t)i * (size_t)out;
            for (int j = 0; j < out; j++)
                row[j] = b[j];
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, x, in, w, in, beta,
                y, out);
}

/* dx[B,in] += dy[B,out] . w[out,in];  dw[out,in] += dy^T . x[B,in];  db[out] += sum_B dy */
void ns_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, int batch, int in, int out)
{
    if (dx != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.0f, dy, out, w,
                    in, 1.0f, dx, in);
    if (dw != NULL)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, 1.0f, dy, out, x, in,
                    1.0f, dw, in);
    if (db != NULL) {
        for (int i = 0; i < batch; i++) {
            const float *row = dy + (size_t)i * (size_t)out;
            for (int j = 0; j < out; j++)
                db[j] += row[j];
        }
    }
}
