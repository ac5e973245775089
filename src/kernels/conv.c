/* 2-D convolution (torch.nn.functional.conv2d, NCHW) as im2col + GEMM through OpenBLAS, one
 * GEMM per sample and group.
 *
 * With K = C*KH*KW and P = OH*OW, the im2col matrix of a chunk of nb samples is
 * col[K, nb*P]: row (c, i, j) holds, for every sample and output position, the input under
 * kernel tap (i, j) of channel c (0 in the padding). A group's channels are consecutive, so
 * its rows are one block of col, and sample s's columns are the P columns from s*P on, which
 * the GEMMs read in place (leading dimension nb*P):
 *   forward   y_s,g[OC/G, P]   = W_g[OC/G, K/G] . col_s,g[K/G, P]
 *   backward  dW_g            += dy_s,g . col_s,g^T
 *             dcol_s,g         = W_g^T . dy_s,g,   then dx += col2im(dcol)
 * y_s and dy_s are sample s's NCHW blocks as they are, so nothing is reordered. The chunk only
 * batches the im2col and col2im passes; it is kept small (see conv2d.c) so col and dcol stay
 * in cache between those passes and the GEMMs. */
#include <cblas.h>
#include <stdbool.h>
#include <string.h>

#include "internal.h"
#include "netsmith/kernels.h"

int ns_conv2d_out_len(int in, int kernel, int stride, int padding, int dilation)
{
    long span = (long)dilation * (long)(kernel - 1) + 1;
    long room = (long)in + 2L * (long)padding - span;
    return room < 0 ? 0 : (int)(room / stride + 1);
}

static size_t col_rows(const ns_conv2d_geom *g)
{
    return (size_t)g->in_c * (size_t)g->kernel[0] * (size_t)g->kernel[1];
}

static size_t out_plane(const ns_conv2d_geom *g)
{
    return (size_t)g->out_h * (size_t)g->out_w;
}

size_t ns_conv2d_col_floats(const ns_conv2d_geom *g, int chunk)
{
    return col_rows(g) * (size_t)chunk * out_plane(g);
}

/* No reordering buffer is needed any more (the GEMMs write and read NCHW blocks in place). */
size_t ns_conv2d_tmp_floats(const ns_conv2d_geom *g, int chunk)
{
    (void)g;
    (void)chunk;
    return 0;
}

/* im2col and col2im copy rows of OW floats, often a dozen or two: kept as loops (gcc would
 * otherwise call memcpy for each short row, which costs more than the copy), with an AVX2
 * copy picked at load time where the CPU has it. */
#if defined(__GNUC__) && !defined(__clang__)
#define NS__CONV_LOOPS NS__CPU_CLONES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NS__CONV_LOOPS NS__CPU_CLONES
#endif

/* The output columns [*lo, *hi) whose input column ow * stride + off lies in [0, in). */
static void valid_range(int off, int stride, int in, int out, int *lo, int *hi)
{
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = in - off > 0 ? (in - off + stride - 1) / stride : 0;
    *lo = a < out ? a : out;
    *hi = b < out ? b : out;
    if (*hi < *lo)
        *hi = *lo;
}

/* dst[0..n) = src[0..n): eight floats at a time (fixed-size copies the compiler turns into
 * vector moves), the last eight overlapping the previous ones instead of a scalar tail. */
static inline void copy_row(float *restrict dst, const float *restrict src, int n)
{
    if (n < 8) {
        for (int k = 0; k < n; k++)
            dst[k] = src[k];
        return;
    }
    int k = 0;
    for (; k + 8 <= n; k += 8)
        memcpy(dst + k, src + k, 8 * sizeof *dst);
    if (k < n)
        memcpy(dst + n - 8, src + n - 8, 8 * sizeof *dst);
}

/* col[K, nb*P] from x[nb, C, H, W] (see the file comment). Row by row so the inner loops are
 * plain strided copies with the padding handled by ranges, not per-element tests. */
NS__CONV_LOOPS static void im2col(float *restrict col, const float *restrict x, const ns_conv2d_geom *g, int nb)
{
    const int H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
    const int sh = g->stride[0], sw = g->stride[1];
    const size_t plane = (size_t)H * (size_t)W, P = out_plane(g);
    const size_t n = (size_t)nb * P, sample = (size_t)g->in_c * plane;
    for (int c = 0; c < g->in_c; c++) {
        for (int i = 0; i < g->kernel[0]; i++) {
            const int hoff = i * g->dilation[0] - g->padding[0];
            for (int j = 0; j < g->kernel[1]; j++) {
                const int woff = j * g->dilation[1] - g->padding[1];
                int lo, hi;
                valid_range(woff, sw, W, OW, &lo, &hi);
                float *row =
                    col + (((size_t)c * (size_t)g->kernel[0] + (size_t)i) * (size_t)g->kernel[1] +
                           (size_t)j) *
                              n;
                for (int s = 0; s < nb; s++) {
                    const float *xc = x + (size_t)s * sample + (size_t)c * plane;
                    float *r = row + (size_t)s * P;
                    for (int oh = 0; oh < OH; oh++, r += OW) {
                        int ih = oh * sh + hoff;
                        if (ih < 0 || ih >= H) {
                            memset(r, 0, (size_t)OW * sizeof *r);
                            continue;
                        }
                        const float *xr = xc + (size_t)ih * (size_t)W;
                        for (int ow = 0; ow < lo; ow++)
                            r[ow] = 0.0f;
                        if (sw == 1) {
                            copy_row(r + lo, xr + lo + woff, hi - lo);
                        } else {
                            for (int ow = lo; ow < hi; ow++)
                                r[ow] = xr[ow * sw + woff];
                        }
                        for (int ow = hi; ow < OW; ow++)
                            r[ow] = 0.0f;
                    }
                }
            }
        }
    }
}

/* dx[nb, C, H, W] += col2im(dcol[K, nb*P]): the adjoint of im2col. */
NS__CONV_LOOPS static void col2im_add(float *restrict dx, const float *restrict dcol, const ns_conv2d_geom *g,
                       int nb)
{
    const int H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
    const int sh = g->stride[0], sw = g->stride[1];
    const size_t plane = (size_t)H * (size_t)W, P = out_plane(g);
    const size_t n = (size_t)nb * P, sample = (size_t)g->in_c * plane;
    for (int c = 0; c < g->in_c; c++) {
        for (int i = 0; i < g->kernel[0]; i++) {
            const int hoff = i * g->dilation[0] - g->padding[0];
            for (int j = 0; j < g->kernel[1]; j++) {
                const int woff = j * g->dilation[1] - g->padding[1];
                int lo, hi;
                valid_range(woff, sw, W, OW, &lo, &hi);
                const float *row =
                    dcol + (((size_t)c * (size_t)g->kernel[0] + (size_t)i) * (size_t)g->kernel[1] +
                            (size_t)j) *
                               n;
                for (int s = 0; s < nb; s++) {
                    float *xc = dx + (size_t)s * sample + (size_t)c * plane;
                    const float *r = row + (size_t)s * P;
                    for (int oh = 0; oh < OH; oh++, r += OW) {
                        int ih = oh * sh + hoff;
                        if (ih < 0 || ih >= H)
                            continue;
                        float *xr = xc + (size_t)ih * (size_t)W;
                        if (sw == 1) {
                            for (int ow = lo; ow < hi; ow++)
                                xr[ow + woff] += r[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++)
                                xr[ow * sw + woff] += r[ow];
                        }
                    }
                }
            }
        }
    }
}

/* sum(v[n]): eight float lanes (a loop the compiler vectorises, and short enough chains that
 * float rounding stays ~1e-7 of the sum), added up in double. A channel's bias gradient sums
 * batch * OH * OW of these planes in double, so long sums do not drift. */
static double plane_sum(const float *v, size_t n)
{
    float lane[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            lane[k] += v[i + (size_t)k];
    double sum = 0.0;
    for (int k = 0; k < 8; k++)
        sum += (double)lane[k];
    for (; i < n; i++)
        sum += (double)v[i];
    return sum;
}

/* Chunks of at most work->chunk samples, balanced: 130 samples in chunks of 120 run as 65 + 65.
 * Chunk c covers samples [c * per, min(batch, (c + 1) * per)). */
static int chunk_size(int batch, int chunk)
{
    int n = (batch + chunk - 1) / chunk;
    return (batch + n - 1) / n;
}

void ns_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const ns_conv2d_geom *g, int batch, ns_conv2d_work *work)
{
    const int G = g->groups;
    const int ocg = g->out_c / G, kg = (int)col_rows(g) / G;
    const size_t P = out_plane(g);
    const size_t xs = (size_t)g->in_c * (size_t)g->in_h * (size_t)g->in_w;
    const size_t ys = (size_t)g->out_c * P;
    const int per = chunk_size(batch, work->chunk);
    for (int b0 = 0; b0 < batch; b0 += per) {
        const int nb = batch - b0 < per ? batch - b0 : per;
        const int n = nb * (int)P;
        im2col(work->col, x + (size_t)b0 * xs, g, nb);
        for (int s = 0; s < nb; s++) {
            float *yb = y + (size_t)(b0 + s) * ys;
            for (int gi = 0; gi < G; gi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ocg, (int)P, kg, 1.0f,
                            w + (size_t)gi * (size_t)ocg * (size_t)kg, kg,
                            work->col + (size_t)gi * (size_t)kg * (size_t)n + (size_t)s * P, n,
                            0.0f, yb + (size_t)gi * (size_t)ocg * P, (int)P);
            if (b != NULL)
                for (int oc = 0; oc < g->out_c; oc++) {
                    float *dst = yb + (size_t)oc * P;
                    const float bias = b[oc];
                    for (size_t p = 0; p < P; p++)
                        dst[p] += bias;
                }
        }
    }
}

/* Channels whose bias gradient is summed sample by sample inside the backward's loop (a
 * stack array of partial sums); wider layers sum it in a pass of its own. Either way each
 * channel adds its per-sample plane sums in sample order, so the result is the same. */
#define FUSED_DB_MAX 512

void ns_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const ns_conv2d_geom *g, int batch, ns_conv2d_work *work,
                        int col_ready)
{
    const int G = g->groups;
    const int ocg = g->out_c / G, kg = (int)col_rows(g) / G;
    const size_t P = out_plane(g);
    const size_t xs = (size_t)g->in_c * (size_t)g->in_h * (size_t)g->in_w;
    const size_t ys = (size_t)g->out_c * P;
    double dbsum[FUSED_DB_MAX];
    const bool fused_db = db != NULL && g->out_c <= FUSED_DB_MAX;
    if (db != NULL && !fused_db)
        for (int oc = 0; oc < g->out_c; oc++) {
            double sum = 0.0;
            for (int s = 0; s < batch; s++)
                sum += plane_sum(dy + (size_t)s * ys + (size_t)oc * P, P);
            db[oc] += (float)sum;
        }
    if (fused_db)
        for (int oc = 0; oc < g->out_c; oc++)
            dbsum[oc] = 0.0;
    const int per = chunk_size(batch, work->chunk);
    const int last = (batch - 1) / per;
    /* The forward's im2col is reused only when the batch is one chunk: with more, this loop
     * overwrites work->col, and a second backward after the same forward must not find
     * another chunk's columns there. */
    const bool reuse = col_ready && last == 0;
    for (int c = 0; c <= last; c++) {
        const int b0 = c * per;
        const int nb = batch - b0 < per ? batch - b0 : per;
        const int n = nb * (int)P;
        if (dw != NULL && !reuse)
            im2col(work->col, x + (size_t)b0 * xs, g, nb);
        for (int s = 0; s < nb; s++) {
            const float *dyb = dy + (size_t)(b0 + s) * ys;
            if (fused_db)
                for (int oc = 0; oc < g->out_c; oc++)
                    dbsum[oc] += plane_sum(dyb + (size_t)oc * P, P);
            for (int gi = 0; gi < G; gi++) {
                const float *dyg = dyb + (size_t)gi * (size_t)ocg * P;
                const size_t at = (size_t)gi * (size_t)kg * (size_t)n + (size_t)s * P;
                if (dw != NULL)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ocg, kg, (int)P, 1.0f,
                                dyg, (int)P, work->col + at, n, 1.0f,
                                dw + (size_t)gi * (size_t)ocg * (size_t)kg, kg);
                if (dx != NULL)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kg, (int)P, ocg, 1.0f,
                                w + (size_t)gi * (size_t)ocg * (size_t)kg, kg, dyg, (int)P, 0.0f,
                                work->dcol + at, n);
            }
        }
        if (dx != NULL)
            col2im_add(dx + (size_t)b0 * xs, work->dcol, g, nb);
    }
    if (fused_db)
        for (int oc = 0; oc < g->out_c; oc++)
            db[oc] += (float)dbsum[oc];
}
