/* Dense (fully connected) forward and backward, with the products done by OpenBLAS.
 *
 * A large product is computed in bands of its output, each one sgemm call: bands of columns
 * when the output is at least as wide as it is tall, else bands of rows, so that the larger
 * operand is the one divided (each piece packs its own copy of the operand it shares; on
 * network c, 784-256-128-10 at batch 128, columns measured ~12% faster than rows). A context
 * with more than one thread (ns_ctx_set_threads) runs the bands on its pool (meant for the
 * BLAS at 1 thread). The bands depend on the shape alone, never on the thread count: a BLAS
 * computes a band with the kernels for the band's size, and those sum in another order than
 * the whole product's where the band's edge falls inside the whole product's register block
 * (OpenBLAS's Haswell and Zen kernels: rows in blocks of 24, so a band of 64 rows differs from
 * the same rows of the whole product in about 1 of 20 elements). With the same bands at every
 * thread count, one thread or eight compute each element with the same calls, on any BLAS. */

#include "core/blas.h"
#include "kernels/kernels_internal.h"
#include "netsmith/kernels.h"

/* Least multiply-adds (M*N*K) of one piece: about 25 us of one core, well above the cost of a
 * hand-off (~1 us to a spinning worker) and above OpenBLAS's small-matrix cutoff (1e6). */
#define MIN_PIECE_WORK 2000000.0
/* Most pieces of one product, so at most this many threads share a dense product. Each piece
 * packs the operand it shares again: on network c (784-256-128-10, batch 128) at 2 threads, 8
 * pieces measured 12% slower a step than 2, 4 pieces within 2%; at 1 thread any split costs
 * about 10% there against one whole call. Any thread claims any piece, so a worker that is
 * late (its core taken) leaves its piece to the caller. */
#define MAX_PIECES 4
/* Rows or columns per piece are a multiple of this (the sgemm kernels' blocking; a column
 * band then starts 64 bytes into a row). */
#define BAND_ALIGN 16

typedef struct gemm_task {
    enum CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    bool cols; /* bands of columns of C, else of rows */
    int band;  /* rows or columns per piece */
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} gemm_task;

static void gemm_piece(void *arg, int piece, int pieces)
{
    (void)pieces;
    const gemm_task *t = arg;
    int len = t->cols ? t->n : t->m;
    int i0 = piece * t->band;
    int i1 = i0 + t->band < len ? i0 + t->band : len;
    if (i0 >= i1)
        return;
    if (t->cols) {
        /* Column j of op(B): column j of B (no transpose) or row j (transposed). */
        const float *b = t->tb == CblasNoTrans ? t->b + i0 : t->b + (size_t)i0 * (size_t)t->ldb;
        ns__sgemm(t->ta, t->tb, t->m, i1 - i0, t->k, t->alpha, t->a, t->lda, b,
                    t->ldb, t->beta, t->c + i0, t->ldc);
    } else {
        /* Row r of op(A): row r of A (no transpose) or column r (transposed). */
        const float *a = t->ta == CblasNoTrans ? t->a + (size_t)i0 * (size_t)t->lda : t->a + i0;
        ns__sgemm(t->ta, t->tb, i1 - i0, t->n, t->k, t->alpha, a, t->lda, t->b,
                    t->ldb, t->beta, t->c + (size_t)i0 * (size_t)t->ldc, t->ldc);
    }
}

/* C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, row-major, in bands of columns (n >= m) or
 * rows of C, run over ctx's threads when it has them (ctx may be NULL: one thread). */
static void sgemm_split(ns_ctx *ctx, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n,
                        int k, float alpha, const float *a, int lda, const float *b, int ldb,
                        float beta, float *c, int ldc)
{
    double work = (double)m * (double)n * (double)k;
    bool cols = n >= m;
    int len = cols ? n : m, pieces = 1, band = len;
    if (work >= 2.0 * MIN_PIECE_WORK) {
        /* MAX_PIECES pieces, fewer when a piece would fall under MIN_PIECE_WORK; a band is a
         * multiple of BAND_ALIGN, the last piece the rest, and that rest must not fall under
         * MIN_PIECE_WORK either. */
        double line_work = work / (double)len;
        for (pieces = MAX_PIECES; pieces > 1; pieces--) {
            band = (len + pieces - 1) / pieces;
            band = (band + BAND_ALIGN - 1) / BAND_ALIGN * BAND_ALIGN;
            int used = (len + band - 1) / band;
            int last = len - (used - 1) * band;
            if (used > 1 && (double)last * line_work >= MIN_PIECE_WORK) {
                pieces = used;
                break;
            }
        }
    }
    if (pieces < 2) {
        ns__sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_task t = {ta, tb, m, n, k, cols, band, alpha, beta, a, b, c, lda, ldb, ldc};
    if (ns__gemm_width(ctx) > 1) {
        ns__parallel(ctx, pieces, gemm_piece, &t);
    } else {
        for (int i = 0; i < pieces; i++)
            gemm_piece(&t, i, pieces);
    }
}

/* Every row of y[batch, out] = b[out]. */
NS__ROW_LOOPS static void seed_rows(float *restrict y, const float *restrict b, int batch, int out)
{
    for (int i = 0; i < batch; i++) {
        float *restrict row = y + (size_t)i * (size_t)out;
        for (int j = 0; j < out; j++)
            row[j] = b[j];
    }
}

/* db[out] += the sum of the rows of dy[batch, out], row by row (the order of the sums is that
 * of the batch). */
NS__ROW_LOOPS static void add_rows(float *restrict db, const float *restrict dy, int batch, int out)
{
    for (int i = 0; i < batch; i++) {
        const float *restrict row = dy + (size_t)i * (size_t)out;
        for (int j = 0; j < out; j++)
            db[j] += row[j];
    }
}

/* y[B,out] = x[B,in] . w[out,in]^T + b[out] */
void ns__dense_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                           int batch, int in, int out)
{
    float beta = 0.0f;
    if (b != NULL) {
        /* Seed every row with the bias so the GEMM adds onto it (beta = 1). */
        seed_rows(y, b, batch, out);
        beta = 1.0f;
    }
    sgemm_split(ctx, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, x, in, w, in, beta, y, out);
}

/* dx[B,in] += dy[B,out] . w[out,in];  dw[out,in] += dy^T . x[B,in];  db[out] += sum_B dy */
void ns__dense_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int batch, int in, int out)
{
    if (dx != NULL)
        sgemm_split(ctx, CblasNoTrans, CblasNoTrans, batch, in, out, 1.0f, dy, out, w, in, 1.0f, dx,
                    in);
    if (dw != NULL)
        sgemm_split(ctx, CblasTrans, CblasNoTrans, out, in, batch, 1.0f, dy, out, x, in, 1.0f, dw,
                    in);
    if (db != NULL)
        add_rows(db, dy, batch, out);
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
