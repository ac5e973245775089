/* 2-D convolution (torch.nn.functional.conv2d, NCHW) as im2col + GEMM through OpenBLAS, one
 * GEMM per group, with a chunk of samples folded into each GEMM's N dimension.
 *
 * With K = C*KH*KW and P = OH*OW, the im2col matrix of a chunk of nb samples is
 * col[K, nb*P]: row (c, i, j) holds, for every sample and output position, the input under
 * kernel tap (i, j) of channel c (0 in the padding). A group's channels are consecutive, so
 * its rows are one contiguous block of col and its GEMM reads it in place:
 *   forward   Y_g[OC/G, nb*P]  = W_g[OC/G, K/G] . col_g[K/G, nb*P]
 *   backward  dW_g            += dY_g . col_g^T
 *             dcol_g           = W_g^T . dY_g,   then dx += col2im(dcol)
 * Y and dY are [OC, nb*P] (channel-major) while y and dy are NCHW ([nb, OC, P]); tmp holds
 * the reordering. For one sample the two layouts coincide and tmp is skipped. */
#include <cblas.h>
#include <stdbool.h>
#include <string.h>

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

size_t ns_conv2d_tmp_floats(const ns_conv2d_geom *g, int chunk)
{
    return chunk > 1 ? (size_t)g->out_c * (size_t)chunk * out_plane(g) : 0;
}

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

/* col[K, nb*P] from x[nb, C, H, W] (see the file comment). Row by row so the inner loops are
 * plain strided copies with the padding handled by ranges, not per-element tests. */
static void im2col(float *restrict col, const float *restrict x, const ns_conv2d_geom *g, int nb)
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
                            for (int ow = lo; ow < hi; ow++)
                                r[ow] = xr[ow + woff];
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
static void col2im_add(float *restrict dx, const float *restrict dcol, const ns_conv2d_geom *g,
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

/* Chunks of at most work->chunk samples, balanced: 130 samples in chunks of 120 run as 65 + 65
 * so neither GEMM is short. Chunk c covers samples [c * per, min(batch, (c + 1) * per)). */
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
        /* One sample: [OC, P] is already its NCHW block. */
        float *out = nb == 1 ? y + (size_t)b0 * ys : work->tmp;
        for (int gi = 0; gi < G; gi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ocg, n, kg, 1.0f,
                        w + (size_t)gi * (size_t)ocg * (size_t)kg, kg,
                        work->col + (size_t)gi * (size_t)kg * (size_t)n, n, 0.0f,
                        out + (size_t)gi * (size_t)ocg * (size_t)n, n);
        /* [OC, nb, P] -> [nb, OC, P], adding the bias on the way. */
        for (int s = 0; s < nb; s++) {
            for (int oc = 0; oc < g->out_c; oc++) {
                float *dst = y + (size_t)(b0 + s) * ys + (size_t)oc * P;
                const float *src = out + (size_t)oc * (size_t)n + (size_t)s * P;
                const float bias = b != NULL ? b[oc] : 0.0f;
                if (nb == 1) {
                    if (b != NULL)
                        for (size_t p = 0; p < P; p++)
                            dst[p] += bias;
                } else {
                    for (size_t p = 0; p < P; p++)
                        dst[p] = src[p] + bias;
                }
            }
        }
    }
}

void ns_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const ns_conv2d_geom *g, int batch, ns_conv2d_work *work,
                        int col_ready)
{
    const int G = g->groups;
    const int ocg = g->out_c / G, kg = (int)col_rows(g) / G;
    const size_t P = out_plane(g);
    const size_t xs = (size_t)g->in_c * (size_t)g->in_h * (size_t)g->in_w;
    const size_t ys = (size_t)g->out_c * P;
    if (db != NULL)
        for (int oc = 0; oc < g->out_c; oc++) {
            double sum = 0.0;
            for (int s = 0; s < batch; s++)
                sum += plane_sum(dy + (size_t)s * ys + (size_t)oc * P, P);
            db[oc] += (float)sum;
        }
    if (dw == NULL && dx == NULL)
        return;
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
        /* dY[OC, nb*P]: for one sample, dy's own block. */
        const float *dyc = dy + (size_t)b0 * ys;
        if (nb > 1) {
            for (int s = 0; s < nb; s++)
                for (int oc = 0; oc < g->out_c; oc++)
                    memcpy(work->tmp + (size_t)oc * (size_t)n + (size_t)s * P,
                           dyc + (size_t)s * ys + (size_t)oc * P, P * sizeof(float));
            dyc = work->tmp;
        }
        if (dw != NULL) {
            if (!reuse)
                im2col(work->col, x + (size_t)b0 * xs, g, nb);
            for (int gi = 0; gi < G; gi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ocg, kg, n, 1.0f,
                            dyc + (size_t)gi * (size_t)ocg * (size_t)n, n,
                            work->col + (size_t)gi * (size_t)kg * (size_t)n, n, 1.0f,
                            dw + (size_t)gi * (size_t)ocg * (size_t)kg, kg);
        }
        if (dx != NULL) {
            for (int gi = 0; gi < G; gi++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kg, n, ocg, 1.0f,
                            w + (size_t)gi * (size_t)ocg * (size_t)kg, kg,
                            dyc + (size_t)gi * (size_t)ocg * (size_t)n, n, 0.0f,
                            work->dcol + (size_t)gi * (size_t)kg * (size_t)n, n);
            col2im_add(dx + (size_t)b0 * xs, work->dcol, g, nb);
        }
    }
}
