/* Per-plane kernels on NCHW data: max, average and adaptive average pooling
 * (torch.nn.functional.max_pool2d / avg_pool2d / adaptive_avg_pool2d, floor mode) and
 * channel dropout. Every [H, W] plane of every (sample, channel) is independent, so each
 * kernel loops over B*C planes; windows are clipped to the input once per output row and
 * column, never tested per element. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "netsmith/kernels.h"

static int imax(int a, int b)
{
    return a > b ? a : b;
}
static int imin(int a, int b)
{
    return a < b ? a : b;
}

/* The geometry is as ns_model_build checked it (layers/layer.c): every length along an axis
 * (input, padded input, window, stride, output) is at most NS__MAX_AXIS and a plane at most
 * NS__MAX_VALUES, so the int sums and products below cannot overflow, and padding is at
 * most half the kernel, so every window holds an input. */

/* ---- max pooling ------------------------------------------------------------------------ */

/* The output columns [*lo, *hi) whose input column ow * stride + off lies in [0, in). */
static void valid_cols(int off, int stride, int in, int out, int *lo, int *hi)
{
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = in - off > 0 ? (in - off + stride - 1) / stride : 0;
    *lo = imin(a, out);
    *hi = imax(imin(b, out), *lo);
}

/* One output row: windows at input rows [h0, h1). Loops run tap by tap (row-major window
 * order) with output columns innermost: those are independent, so the loop pipelines and
 * vectorises, and every update is a select rather than a branch (on real data whether an
 * element beats the running maximum is a coin flip a branch predictor loses). Taps that read
 * only padding for every output column are skipped (they would update nothing), so a window
 * much wider than the input costs what the input does. Returns whether a NaN was seen. */
static int maxpool_row(float *restrict yr, int32_t *restrict ar, const float *restrict xp,
                       const ns_conv2d_geom *g, int h0, int h1)
{
    const int W = g->in_w, OW = g->out_w, sw = g->stride[1], pw = g->padding[1];
    for (int ow = 0; ow < OW; ow++) {
        yr[ow] = -INFINITY;
        ar[ow] = (int32_t)(h0 * W + imax(ow * sw - pw, 0)); /* all -inf: the first input */
    }
    /* Tap j reads input column ow * sw + j - pw: at or past W for every ow once j >= W + pw,
     * before 0 for every ow < OW while j < pw - (OW - 1) * sw. */
    const int j0 = imax(pw - (OW - 1) * sw, 0), j1 = imin(g->kernel[1], W + pw);
    int nan = 0;
    for (int h = h0; h < h1; h++) {
        const float *xr = xp + (size_t)h * (size_t)W;
        for (int j = j0; j < j1; j++) {
            const int off = j - pw;
            int lo, hi;
            valid_cols(off, sw, W, OW, &lo, &hi);
            for (int ow = lo; ow < hi; ow++) {
                const int w = ow * sw + off;
                const float v = xr[w], cur = yr[ow];
                /* A mask, not ?:, for the index: gcc turns a pair of ?: into a branch. */
                const uint32_t take = 0u - (uint32_t)(v > cur);
                ar[ow] = (int32_t)(((uint32_t)(h * W + w) & take) | ((uint32_t)ar[ow] & ~take));
                yr[ow] = v > cur ? v : cur; /* maxss */
                nan |= v != v;
            }
        }
    }
    return nan;
}

/* The common 2x2, stride 2, unpadded window, as maxpool_row computes it: taps in row-major
 * order, each replacing the running maximum only when strictly larger, so the first maximum
 * wins; x0 and x1 are the window's two input rows (row h0 and h0 + 1, offsets base and
 * base + W). Returns whether a NaN was seen (the caller then redoes the row). */
NS__CPU_CLONES static int maxpool_row_2x2(float *restrict yr, int32_t *restrict ar,
                                          const float *restrict x0, const float *restrict x1,
                                          int OW, int32_t base, int32_t W)
{
    int nan = 0;
    for (int ow = 0; ow < OW; ow++) {
        const int i = 2 * ow;
        const float a = x0[i], b = x0[i + 1], c = x1[i], d = x1[i + 1];
        float best = a;
        int32_t at = base + i;
        at = b > best ? base + i + 1 : at;
        best = b > best ? b : best;
        at = c > best ? base + W + i : at;
        best = c > best ? c : best;
        at = d > best ? base + W + i + 1 : at;
        best = d > best ? d : best;
        yr[ow] = best;
        ar[ow] = at;
        nan |= (a != a) | (b != b) | (c != c) | (d != d);
    }
    return nan;
}

/* argmax holds plane offsets h * W + w as int32: planes are far smaller than 2^31. */
void ns_maxpool2d_forward(float *y, int32_t *argmax, const float *x, const ns_conv2d_geom *g,
                          int batch)
{
    const int H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
    const size_t plane = (size_t)H * (size_t)W, P = (size_t)OH * (size_t)OW;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    const bool win2x2 = g->kernel[1] == 2 && g->stride[1] == 2 && g->padding[1] == 0;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * plane;
        for (int oh = 0; oh < OH; oh++) {
            const int hs = oh * g->stride[0] - g->padding[0];
            const int h0 = imax(hs, 0), h1 = imin(hs + g->kernel[0], H);
            float *yr = y + pl * P + (size_t)oh * (size_t)OW;
            int32_t *ar = argmax + pl * P + (size_t)oh * (size_t)OW;
            if (win2x2 && h1 - h0 == 2) {
                if (!maxpool_row_2x2(yr, ar, xp + (size_t)h0 * (size_t)W,
                                     xp + (size_t)(h0 + 1) * (size_t)W, OW, (int32_t)(h0 * W),
                                     (int32_t)W))
                    continue;
            } else if (!maxpool_row(yr, ar, xp, g, h0, h1))
                continue;
            /* PyTorch's rule where a NaN is involved: the first maximum wins ties and a NaN
             * wins over numbers (its loop keeps replacing, so the last NaN). Rare: redone
             * window by window. */
            for (int ow = 0; ow < OW; ow++) {
                const int ws = ow * g->stride[1] - g->padding[1];
                const int w0 = imax(ws, 0), w1 = imin(ws + g->kernel[1], W);
                float best = -INFINITY;
                int32_t at = (int32_t)(h0 * W + w0);
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        if (xp[h * W + w] > best || isnan(xp[h * W + w])) {
                            best = xp[h * W + w];
                            at = (int32_t)(h * W + w);
                        }
                yr[ow] = best;
                ar[ow] = at;
            }
        }
    }
}

void ns_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax,
                           const ns_conv2d_geom *g, int batch)
{
    const size_t plane = (size_t)g->in_h * (size_t)g->in_w;
    const size_t P = (size_t)g->out_h * (size_t)g->out_w;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * plane;
        const float *dyp = dy + pl * P;
        const int32_t *ap = argmax + pl * P;
        for (size_t o = 0; o < P; o++)
            dxp[ap[o]] += dyp[o];
    }
}

void ns_maxpool2d_backward_set(float *dx, const float *dy, const int32_t *argmax,
                               const ns_conv2d_geom *g, int batch)
{
    const size_t plane = (size_t)g->in_h * (size_t)g->in_w;
    const size_t P = (size_t)g->out_h * (size_t)g->out_w;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * plane;
        const float *dyp = dy + pl * P;
        const int32_t *ap = argmax + pl * P;
        /* Cleared plane by plane, so the scatter below finds it in cache. */
        memset(dxp, 0, plane * sizeof *dxp);
        for (size_t o = 0; o < P; o++)
            dxp[ap[o]] += dyp[o];
    }
}

/* ---- average pooling -------------------------------------------------------------------- */

/* The window of output (oh, ow) clipped to the input, and its divisor. PyTorch clips the
 * window to the padded input first (that size is the divisor with count_include_pad), then
 * to the input itself. */
typedef struct window {
    int h0, h1, w0, w1;
    int64_t divisor; /* the padded window's area may pass INT_MAX (each side <= NS__MAX_AXIS) */
} window;

static window avg_window(const ns_conv2d_geom *g, int oh, int ow, int count_include_pad)
{
    int hs = oh * g->stride[0] - g->padding[0], ws = ow * g->stride[1] - g->padding[1];
    int he = imin(hs + g->kernel[0], g->in_h + g->padding[0]);
    int we = imin(ws + g->kernel[1], g->in_w + g->padding[1]);
    int64_t padded = (int64_t)(he - hs) * (int64_t)(we - ws);
    window win = {imax(hs, 0), imin(he, g->in_h), imax(ws, 0), imin(we, g->in_w), 0};
    win.divisor =
        count_include_pad ? padded : (int64_t)(win.h1 - win.h0) * (int64_t)(win.w1 - win.w0);
    return win;
}

void ns_avgpool2d_forward(float *y, const float *x, const ns_conv2d_geom *g, int batch,
                          int count_include_pad)
{
    const int W = g->in_w, OH = g->out_h, OW = g->out_w;
    const size_t plane = (size_t)g->in_h * (size_t)W, P = (size_t)OH * (size_t)OW;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * plane;
        float *yp = y + pl * P;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                window win = avg_window(g, oh, ow, count_include_pad);
                float sum = 0.0f;
                for (int h = win.h0; h < win.h1; h++)
                    for (int w = win.w0; w < win.w1; w++)
                        sum += xp[h * W + w];
                /* A float sum divided once, as PyTorch. */
                yp[oh * OW + ow] = sum / (float)win.divisor;
            }
        }
    }
}

void ns_avgpool2d_backward(float *dx, const float *dy, const ns_conv2d_geom *g, int batch,
                           int count_include_pad)
{
    const int W = g->in_w, OH = g->out_h, OW = g->out_w;
    const size_t plane = (size_t)g->in_h * (size_t)W, P = (size_t)OH * (size_t)OW;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * plane;
        const float *dyp = dy + pl * P;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                window win = avg_window(g, oh, ow, count_include_pad);
                float d = dyp[oh * OW + ow] / (float)win.divisor;
                for (int h = win.h0; h < win.h1; h++)
                    for (int w = win.w0; w < win.w1; w++)
                        dxp[h * W + w] += d;
            }
        }
    }
}

/* ---- adaptive average pooling ------------------------------------------------------------- */

/* Rows floor(i * in / out) .. ceil((i + 1) * in / out) - 1, in integers. */
static int adaptive_start(int i, int in, int out)
{
    return (int)(((long)i * in) / out);
}
static int adaptive_end(int i, int in, int out)
{
    return (int)(((long)(i + 1) * in + out - 1) / out);
}

void ns_adaptive_avgpool2d_forward(float *y, const float *x, const ns_conv2d_geom *g, int batch)
{
    const int H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
    const size_t plane = (size_t)H * (size_t)W, P = (size_t)OH * (size_t)OW;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * plane;
        float *yp = y + pl * P;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
            for (int ow = 0; ow < OW; ow++) {
                int w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
                /* In double: global pooling sums a whole plane. */
                double sum = 0.0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        sum += (double)xp[h * W + w];
                yp[oh * OW + ow] = (float)(sum / (double)((h1 - h0) * (w1 - w0)));
            }
        }
    }
}

void ns_adaptive_avgpool2d_backward(float *dx, const float *dy, const ns_conv2d_geom *g, int batch)
{
    const int H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
    const size_t plane = (size_t)H * (size_t)W, P = (size_t)OH * (size_t)OW;
    const size_t planes = (size_t)batch * (size_t)g->in_c;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * plane;
        const float *dyp = dy + pl * P;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
            for (int ow = 0; ow < OW; ow++) {
                int w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
                float d = dyp[oh * OW + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        dxp[h * W + w] += d;
            }
        }
    }
}

/* ---- channel dropout ---------------------------------------------------------------------- */

void ns_dropout2d_apply(float *y, const float *x, const float *mask, size_t rows, size_t spatial)
{
    for (size_t r = 0; r < rows; r++) {
        const float m = mask[r];
        const float *xr = x + r * spatial;
        float *yr = y + r * spatial;
        for (size_t i = 0; i < spatial; i++)
            yr[i] = xr[i] * m;
    }
}

void ns_dropout2d_backward(float *dx, const float *dy, const float *mask, size_t rows,
                           size_t spatial)
{
    for (size_t r = 0; r < rows; r++) {
        const float m = mask[r];
        const float *dr = dy + r * spatial;
        float *xr = dx + r * spatial;
        for (size_t i = 0; i < spatial; i++)
            xr[i] += dr[i] * m;
    }
}
