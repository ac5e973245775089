/* Dense (fully connected) forward and backward, with the products done by OpenBLAS.
 *
 * A context with more than one thread (ns_ctx_set_threads) splits a large product into
 * bands of rows of its output, each one sgemm call on a thread of the context's pool (meant
 * for OpenBLAS at 1 thread, see ns_ctx_set_threads):
 * the batch rows for the forward pass and the input gradient, the output-unit rows for the
 * weight gradient. A band of rows is computed exactly as those rows of the whole product
 * are (same kernels, same order of the K sums), so the thread count never changes a result;
 * bands are kept above MIN_PIECE_WORK multiply-adds, where OpenBLAS uses the same kernel path
 * as for the whole product (on AVX-512 CPUs it has separate "small matrix" kernels, summing
 * in another order, for products of at most 1 M multiply-adds). */
#include <cblas.h>

#include "internal.h"
#include "netsmith/kernels.h"

/* Least multiply-adds (M*N*K) of one piece: about 25 us of one core, well above the cost of a
 * hand-off (~1 us to a spinning worker) and above OpenBLAS's small-matrix cutoff (1e6). */
#define MIN_PIECE_WORK 2000000.0
/* Pieces per thread. Any thread claims any piece, so a worker that is late (its core taken)
 * leaves its piece to the caller; two per thread measured no better than one on network c
 * (each piece packs the shared operand again). */
#define PIECES_PER_THREAD 1
/* Rows per piece are a multiple of this (the sgemm kernels' row blocking). */
#define ROW_ALIGN 16

typedef struct gemm_task {
    enum CBLAS_TRANSPOSE ta, tb;
    int m, n, k, rows; /* rows per piece */
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} gemm_task;

static void gemm_piece(void *arg, int piece, int pieces)
{
    (void)pieces;
    const gemm_task *t = arg;
    int r0 = piece * t->rows;
    int r1 = r0 + t->rows < t->m ? r0 + t->rows : t->m;
    if (r0 >= r1)
        return;
    /* Row r of op(A): row r of A (no transpose) or column r (transposed). */
    const float *a = t->ta == CblasNoTrans ? t->a + (size_t)r0 * (size_t)t->lda : t->a + r0;
    cblas_sgemm(CblasRowMajor, t->ta, t->tb, r1 - r0, t->n, t->k, t->alpha, a, t->lda, t->b, t->ldb,
                t->beta, t->c + (size_t)r0 * (size_t)t->ldc, t->ldc);
}

/* C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, row-major, split into bands of rows of C
 * over ctx's threads when large enough (ctx may be NULL: one call). */
static void sgemm_rows(ns_ctx *ctx, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n,
                       int k, float alpha, const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc)
{
    int width = ns__gemm_width(ctx);
    double work = (double)m * (double)n * (double)k;
    int pieces = 1, rows = m;
    if (width > 1 && work >= 2.0 * MIN_PIECE_WORK) {
        /* As many pieces as threads (PIECES_PER_THREAD each), fewer when a piece would fall
         * under MIN_PIECE_WORK; rows per piece a multiple of ROW_ALIGN, the last piece the
         * rest, and that rest must not fall under MIN_PIECE_WORK either. */
        double row_work = (double)n * (double)k;
        for (pieces = width * PIECES_PER_THREAD; pieces > 1; pieces--) {
            rows = (m + pieces - 1) / pieces;
            rows = (rows + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
            int used = (m + rows - 1) / rows;
            int last = m - (used - 1) * rows;
            if (used > 1 && (double)last * row_work >= MIN_PIECE_WORK) {
                pieces = used;
                break;
            }
        }
    }
    if (pieces < 2) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_task t = {ta, tb, m, n, k, rows, alpha, beta, a, b, c, lda, ldb, ldc};
    ns__parallel(ctx, pieces, gemm_piece, &t);
}

/* y[B,out] = x[B,in] . w[out,in]^T + b[out] */
void ns__dense_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                           int batch, int in, int out)
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
    sgemm_rows(ctx, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, x, in, w, in, beta, y, out);
}

/* dx[B,in] += dy[B,out] . w[out,in];  dw[out,in] += dy^T . x[B,in];  db[out] += sum_B dy */
void ns__dense_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int batch, int in, int out)
{
    if (dx != NULL)
        sgemm_rows(ctx, CblasNoTrans, CblasNoTrans, batch, in, out, 1.0f, dy, out, w, in, 1.0f, dx,
                   in);
    if (dw != NULL)
        sgemm_rows(ctx, CblasTrans, CblasNoTrans, out, in, batch, 1.0f, dy, out, x, in, 1.0f, dw,
                   in);
    if (db != NULL) {
        for (int i = 0; i < batch; i++) {
            const float *row = dy + (size_t)i * (size_t)out;
            for (int j = 0; j < out; j++)
                db[j] += row[j];
        }
    }
}

void ns_dense_forward(float *y, const float *x, const float *w, const float *b, int batch, int in,
                      int out)
{
    ns__dense_forward_ctx(NULL, y, x, w, b, batch, in, out);
}

void ns_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, int batch, int in, int out)
{
    ns__dense_backward_ctx(NULL, dx, dw, db, dy, x, w, batch, in, out);
}
