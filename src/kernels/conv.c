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
 * in cache between those passes and the GEMMs.
 *
 * Threads (the _ctx variants): the batch is cut into gradient chunks of NS__CONV_GRAD_CHUNK
 * samples, a number that does not depend on the thread count; each chunk is one piece of a
 * parallel call, run on the calling thread (with work's buffers) or on a worker of the
 * context's pool (with that worker's scratch, ns__ctx_reserve). Outputs and input gradients
 * are per sample; weight and bias gradients are summed per chunk and the chunks' sums added
 * in chunk order (see tmp below), so every result is the same at any thread count. */
#include <stdbool.h>
#include <string.h>

#include "core/blas.h"
#include "kernels/kernels_internal.h"
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

/* Weight and bias gradients are summed per gradient chunk of NS__CONV_GRAD_CHUNK samples
 * into partial sums of their own (tmp), and the chunks' partials are then added in chunk
 * order: the chunks do not depend on the thread count, so neither do the sums. Chunks go in
 * rounds of at most round_chunks(g) (a number fixed by the geometry), whose partials tmp holds:
 *   tmp = [round_chunks][OC] doubles (bias partials), [OC] doubles (the bias total),
 *         [round_chunks][OC * C/G * KH * KW] floats (weight partials). */
#define PARTIAL_BUDGET ((size_t)1 << 20) /* floats of weight partials, unless that is < 2 */
#define ROUND_MAX 16

static size_t weight_floats(const ns_conv2d_geom *g)
{
    return (size_t)g->out_c * (col_rows(g) / (size_t)g->groups);
}

static int round_chunks(const ns_conv2d_geom *g)
{
    size_t fit = PARTIAL_BUDGET / (weight_floats(g) + 2 * (size_t)g->out_c);
    return fit < 2 ? 2 : fit > ROUND_MAX ? ROUND_MAX : (int)fit;
}

size_t ns_conv2d_tmp_floats(const ns_conv2d_geom *g, int chunk)
{
    (void)chunk;
    size_t r = (size_t)round_chunks(g);
    return 2 * (size_t)g->out_c * (r + 1) + r * weight_floats(g);
}

/* im2col and col2im copy rows of OW floats, often a dozen or two: NS__ROW_LOOPS, with an
 * AVX2 copy picked at load time where the CPU has it. */

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
NS__ROW_LOOPS static void im2col(float *restrict col, const float *restrict x,
                                 const ns_conv2d_geom *g, int nb)
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
NS__ROW_LOOPS static void col2im_add(float *restrict dx, const float *restrict dcol,
                                     const ns_conv2d_geom *g, int nb)
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

/* One parallel call: pieces are gradient chunks (the forward splits the same way). */
typedef struct conv_task {
    ns_ctx *ctx;
    const ns_conv2d_geom *g;
    const ns_conv2d_work *work; /* the calling thread's buffers */
    int tile;                   /* samples per im2col pass, <= NS__CONV_GRAD_CHUNK */
    size_t colf;                /* floats of col (and of dcol) for `tile` samples */
    int batch, chunk0;          /* chunk0: the first chunk of this call (backward rounds) */
    bool reuse;                 /* backward: work->col already holds the batch's columns */
    float *y;
    const float *x, *w, *b;
    float *dx, *dwp; /* dwp: [round][weight_floats] partials, NULL when dw is not wanted */
    double *dbp;     /* [round][OC] partials, NULL when db is not wanted */
    const float *dy;
} conv_task;

static void task_buffers(const conv_task *t, int tid, float **col, float **dcol)
{
    if (tid == 0) {
        *col = t->work->col;
        *dcol = t->work->dcol;
    } else {
        float *s = ns__ctx_scratch(t->ctx, tid);
        *col = s;
        *dcol = s + t->colf;
    }
}

static void forward_piece(void *arg, int piece, int pieces, int tid)
{
    (void)pieces;
    const conv_task *t = arg;
    const ns_conv2d_geom *g = t->g;
    const int G = g->groups;
    const int ocg = g->out_c / G, kg = (int)col_rows(g) / G;
    const size_t P = out_plane(g);
    const size_t xs = (size_t)g->in_c * (size_t)g->in_h * (size_t)g->in_w;
    const size_t ys = (size_t)g->out_c * P;
    float *col, *dcol;
    task_buffers(t, tid, &col, &dcol);
    const int s0 = piece * NS__CONV_GRAD_CHUNK;
    const int s1 = t->batch - s0 < NS__CONV_GRAD_CHUNK ? t->batch : s0 + NS__CONV_GRAD_CHUNK;
    const int per = chunk_size(s1 - s0, t->tile);
    for (int b0 = s0; b0 < s1; b0 += per) {
        const int nb = s1 - b0 < per ? s1 - b0 : per;
        const int n = nb * (int)P;
        im2col(col, t->x + (size_t)b0 * xs, g, nb);
        for (int s = 0; s < nb; s++) {
            float *yb = t->y + (size_t)(b0 + s) * ys;
            for (int gi = 0; gi < G; gi++)
                ns__sgemm(CblasNoTrans, CblasNoTrans, ocg, (int)P, kg, 1.0f,
                            t->w + (size_t)gi * (size_t)ocg * (size_t)kg, kg,
                            col + (size_t)gi * (size_t)kg * (size_t)n + (size_t)s * P, n, 0.0f,
                            yb + (size_t)gi * (size_t)ocg * P, (int)P);
            if (t->b != NULL)
                for (int oc = 0; oc < g->out_c; oc++) {
                    float *dst = yb + (size_t)oc * P;
                    const float bias = t->b[oc];
                    for (size_t p = 0; p < P; p++)
                        dst[p] += bias;
                }
        }
    }
}

/* Samples per im2col pass: the caller's chunk, at most a gradient chunk. */
static int tile_samples(const ns_conv2d_work *work)
{
    return work->chunk < NS__CONV_GRAD_CHUNK ? work->chunk : NS__CONV_GRAD_CHUNK;
}

/* How many threads a call may use: ctx's, once every worker holds `floats` of scratch. */
static ns_ctx *task_ctx(ns_ctx *ctx, int pieces, size_t floats)
{
    if (ctx == NULL || pieces < 2 || ns__gemm_width(ctx) < 2)
        return NULL;
    return ns__ctx_reserve(ctx, floats) > 1 ? ctx : NULL;
}

void ns__conv2d_forward_ctx(ns_ctx *ctx, float *y, const float *x, const float *w, const float *b,
                            const ns_conv2d_geom *g, int batch, ns_conv2d_work *work)
{
    if (batch <= 0)
        return;
    const int tile = tile_samples(work);
    const int pieces = (batch + NS__CONV_GRAD_CHUNK - 1) / NS__CONV_GRAD_CHUNK;
    conv_task t = {.ctx = NULL,
                   .g = g,
                   .work = work,
                   .tile = tile,
                   .colf = ns_conv2d_col_floats(g, tile),
                   .batch = batch,
                   .y = y,
                   .x = x,
                   .w = w,
                   .b = b};
    t.ctx = task_ctx(ctx, pieces, t.colf);
    ns__parallel_tid(t.ctx, pieces, forward_piece, &t);
}

void ns_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const ns_conv2d_geom *g, int batch, ns_conv2d_work *work)
{
    ns__conv2d_forward_ctx(NULL, y, x, w, b, g, batch, work);
}

static void backward_piece(void *arg, int piece, int pieces, int tid)
{
    (void)pieces;
    const conv_task *t = arg;
    const ns_conv2d_geom *g = t->g;
    const int G = g->groups;
    const int ocg = g->out_c / G, kg = (int)col_rows(g) / G;
    const size_t P = out_plane(g);
    const size_t xs = (size_t)g->in_c * (size_t)g->in_h * (size_t)g->in_w;
    const size_t ys = (size_t)g->out_c * P;
    const size_t wf = weight_floats(g);
    float *col, *dcol;
    task_buffers(t, tid, &col, &dcol);
    float *dw = t->dwp != NULL ? t->dwp + (size_t)piece * wf : NULL;
    double *db = t->dbp != NULL ? t->dbp + (size_t)piece * (size_t)g->out_c : NULL;
    if (dw != NULL)
        memset(dw, 0, wf * sizeof *dw);
    if (db != NULL)
        for (int oc = 0; oc < g->out_c; oc++)
            db[oc] = 0.0;
    const int s0 = (t->chunk0 + piece) * NS__CONV_GRAD_CHUNK;
    const int s1 = t->batch - s0 < NS__CONV_GRAD_CHUNK ? t->batch : s0 + NS__CONV_GRAD_CHUNK;
    const int per = chunk_size(s1 - s0, t->tile);
    for (int b0 = s0; b0 < s1; b0 += per) {
        const int nb = s1 - b0 < per ? s1 - b0 : per;
        const int n = nb * (int)P;
        if (dw != NULL && !t->reuse)
            im2col(col, t->x + (size_t)b0 * xs, g, nb);
        for (int s = 0; s < nb; s++) {
            const float *dyb = t->dy + (size_t)(b0 + s) * ys;
            if (db != NULL)
                for (int oc = 0; oc < g->out_c; oc++)
                    db[oc] += plane_sum(dyb + (size_t)oc * P, P);
            for (int gi = 0; gi < G; gi++) {
                const float *dyg = dyb + (size_t)gi * (size_t)ocg * P;
                const size_t at = (size_t)gi * (size_t)kg * (size_t)n + (size_t)s * P;
                if (dw != NULL)
                    ns__sgemm(CblasNoTrans, CblasTrans, ocg, kg, (int)P, 1.0f, dyg,
                                (int)P, col + at, n, 1.0f,
                                dw + (size_t)gi * (size_t)ocg * (size_t)kg, kg);
                if (t->dx != NULL)
                    ns__sgemm(CblasTrans, CblasNoTrans, kg, (int)P, ocg, 1.0f,
                                t->w + (size_t)gi * (size_t)ocg * (size_t)kg, kg, dyg, (int)P, 0.0f,
                                dcol + at, n);
            }
        }
        if (t->dx != NULL)
            col2im_add(t->dx + (size_t)b0 * xs, dcol, g, nb);
    }
}

void ns__conv2d_backward_ctx(ns_ctx *ctx, float *dx, float *dw, float *db, const float *dy,
                             const float *x, const float *w, const ns_conv2d_geom *g, int batch,
                             ns_conv2d_work *work, int col_ready)
{
    if (batch <= 0 || (dx == NULL && dw == NULL && db == NULL))
        return;
    const int tile = tile_samples(work);
    const int chunks = (batch + NS__CONV_GRAD_CHUNK - 1) / NS__CONV_GRAD_CHUNK;
    const int R = round_chunks(g);
    const size_t wf = weight_floats(g), OC = (size_t)g->out_c;
    NS_ASSERT((dw == NULL && db == NULL) || work->tmp != NULL);
    double *dbp = (double *)(void *)work->tmp, *dbt = dbp + (size_t)R * OC;
    float *dwp = work->tmp + 2 * OC * ((size_t)R + 1);
    conv_task t = {.g = g,
                   .work = work,
                   .tile = tile,
                   .colf = ns_conv2d_col_floats(g, tile),
                   .batch = batch,
                   .x = x,
                   .w = w,
                   .dx = dx,
                   .dwp = dw != NULL ? dwp : NULL,
                   .dbp = db != NULL ? dbp : NULL,
                   .dy = dy};
    /* The forward's im2col is reused only when the batch is one pass: with more, this call
     * overwrites work->col, and a second backward after the same forward must not find
     * another pass's columns there. */
    t.reuse = col_ready && batch <= tile;
    t.ctx = task_ctx(ctx, chunks, t.colf * (dx != NULL ? 2 : 1));
    if (db != NULL)
        for (size_t oc = 0; oc < OC; oc++)
            dbt[oc] = 0.0;
    for (int c0 = 0; c0 < chunks; c0 += R) {
        const int nr = chunks - c0 < R ? chunks - c0 : R;
        t.chunk0 = c0;
        ns__parallel_tid(t.ctx, nr, backward_piece, &t);
        /* The round's partials, added in chunk order. */
        if (dw != NULL) {
            for (int r = 1; r < nr; r++) {
                const float *part = dwp + (size_t)r * wf;
                for (size_t i = 0; i < wf; i++)
                    dwp[i] += part[i];
            }
            for (size_t i = 0; i < wf; i++)
                dw[i] += dwp[i];
        }
        if (db != NULL)
            for (int r = 0; r < nr; r++)
                for (size_t oc = 0; oc < OC; oc++)
                    dbt[oc] += dbp[(size_t)r * OC + oc];
    }
    if (db != NULL)
        for (size_t oc = 0; oc < OC; oc++)
            db[oc] += (float)dbt[oc];
}

void ns_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const ns_conv2d_geom *g, int batch, ns_conv2d_work *work,
                        int col_ready)
{
    ns__conv2d_backward_ctx(NULL, dx, dw, db, dy, x, w, g, batch, work, col_ready);
}
