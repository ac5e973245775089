/* The Evaluate card's metrics: an accumulator fed batch by batch (confusion matrix for
 * classification; per-output Welford statistics and compensated error sums for regression),
 * the metric name table and the JSON writer. Definitions follow scikit-learn (see metrics.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "netsmith/metrics.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"

/* ---- the name table ------------------------------------------------------------------ */

static const struct {
    const char *name;
    bool higher_is_better;
    ns_metric_scope scope;
} metric_table[NS_METRIC_COUNT] = {
#define NS__METRIC_ROW(id, field, higher, scope) {#field, higher, scope},
    NS_METRIC_MAP(NS__METRIC_ROW)
#undef NS__METRIC_ROW
};

static bool valid_id(ns_metric_id id)
{
    return (int)id >= 0 && id < NS_METRIC_COUNT;
}

ns_status ns_metric_find(const char *name, ns_metric_id *id)
{
    NS_ASSERT(id != NULL);
    for (int i = 0; name != NULL && i < NS_METRIC_COUNT; i++) {
        if (strcmp(metric_table[i].name, name) == 0) {
            *id = (ns_metric_id)i;
            return NS_OK;
        }
    }
    return NS_ERR_NOTFOUND;
}

const char *ns_metric_name(ns_metric_id id)
{
    return valid_id(id) ? metric_table[id].name : NULL;
}

bool ns_metric_higher_is_better(ns_metric_id id)
{
    return valid_id(id) && metric_table[id].higher_is_better;
}

bool ns_metric_applies(ns_metric_id id, ns_task task)
{
    if (!valid_id(id))
        return false;
    switch (metric_table[id].scope) {
    case NS_METRIC_SCOPE_ANY:
        return true;
    case NS_METRIC_SCOPE_CLASSIFICATION:
        return task == NS_TASK_CLASSIFICATION;
    case NS_METRIC_SCOPE_REGRESSION:
        return task == NS_TASK_REGRESSION;
    }
    return false;
}

double ns_metric_value(const ns_metric_values *v, ns_metric_id id)
{
    NS_ASSERT(v != NULL);
    switch (id) {
#define NS__METRIC_CASE(id, field, higher, scope)                                                  \
    case NS_METRIC_##id:                                                                           \
        return (double)v->field;
        NS_METRIC_MAP(NS__METRIC_CASE)
#undef NS__METRIC_CASE
    case NS_METRIC_COUNT:
        break;
    }
    return (double)NAN;
}

/* ---- the accumulator ------------------------------------------------------------------ */

/* A Neumaier-compensated sum: the error of every addition is carried in c, so a long sum of
 * terms of mixed size keeps nearly full double precision. The value is s + c. */
typedef struct ksum {
    double s, c;
} ksum;

static void ksum_add(ksum *k, double x)
{
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}

static double ksum_value(const ksum *k)
{
    return k->s + k->c;
}

/* Per regression output: Welford's running mean and sum of squared deviations of the target
 * (SS_tot without a second pass and without the cancellation of sum(y^2) - n mean^2), and the
 * sums of squared and absolute residuals. */
typedef struct reg_stat {
    double mean, m2;
    ksum res2, abs;
} reg_stat;

#define REG_STAT_DOUBLES 6 /* mean, m2, res2.s, res2.c, abs.s, abs.c in the flat state */

struct ns_metrics {
    ns_ctx *ctx;
    ns_task task;
    int outputs; /* K: the width of a pred row */
    int classes; /* C: K, or 2 for one logit; 0 for regression */
    int64_t n;
    ksum loss;
    int64_t *confusion; /* classification: [C, C], row = true class */
    reg_stat *reg;      /* regression: [K] */
};

ns_status ns_metrics_new(ns_ctx *ctx, ns_task task, int outputs, ns_metrics **out)
{
    NS_ASSERT(ctx != NULL && out != NULL);
    *out = NULL;
    if (task != NS_TASK_CLASSIFICATION && task != NS_TASK_REGRESSION)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "metrics: task %s; decide classification or regression first",
                         ns_task_name(task) != NULL ? ns_task_name(task) : "(unknown)");
    if (outputs < 1)
        return ns_errorf(ctx, NS_ERR_INVALID, "metrics: %d outputs; a model has at least 1",
                         outputs);
    ns_metrics *m = ns_calloc(ctx, 1, sizeof *m);
    if (m == NULL)
        return NS_ERR_NOMEM;
    m->ctx = ctx;
    m->task = task;
    m->outputs = outputs;
    if (task == NS_TASK_CLASSIFICATION) {
        int classes = outputs == 1 ? 2 : outputs;
        size_t c = (size_t)classes;
        m->classes = classes;
        m->confusion = c > SIZE_MAX / c ? NULL : ns_calloc(ctx, c * c, sizeof *m->confusion);
        if (m->confusion == NULL) {
            ns_dealloc(ctx, m);
            return ns_errorf(ctx, NS_ERR_NOMEM,
                             "metrics: out of memory for a %d x %d confusion matrix", classes,
                             classes);
        }
    } else {
        m->reg = ns_calloc(ctx, (size_t)outputs, sizeof *m->reg);
        if (m->reg == NULL) {
            ns_dealloc(ctx, m);
            return ns_errorf(ctx, NS_ERR_NOMEM,
                             "metrics: out of memory for the statistics of %d outputs", outputs);
        }
    }
    *out = m;
    return NS_OK;
}

void ns_metrics_free(ns_metrics *m)
{
    if (m == NULL)
        return;
    ns_dealloc(m->ctx, m->confusion);
    ns_dealloc(m->ctx, m->reg);
    ns_dealloc(m->ctx, m);
}

void ns_metrics_reset(ns_metrics *m)
{
    NS_ASSERT(m != NULL);
    m->n = 0;
    m->loss = (ksum){0.0, 0.0};
    if (m->confusion != NULL)
        memset(m->confusion, 0, (size_t)m->classes * (size_t)m->classes * sizeof *m->confusion);
    if (m->reg != NULL)
        memset(m->reg, 0, (size_t)m->outputs * sizeof *m->reg);
}

/* "nan", "inf" or "-inf", for messages. */
static const char *nonfinite_name(float v)
{
    return isnan(v) ? "nan" : (v > 0.0f ? "inf" : "-inf");
}

/* Reads the whole batch before anything is accumulated, so an error leaves m unchanged.
 * Rows are checked in order so the message names the first bad one. */
static ns_status check_batch(const ns_metrics *m, const float *pred, const float *y,
                             const int32_t *labels, int n)
{
    ns_ctx *ctx = m->ctx;
    bool cls = m->task == NS_TASK_CLASSIFICATION;
    int k = m->outputs;
    for (int r = 0; r < n; r++) {
        int64_t sample = m->n + r;
        const float *pr = pred + (size_t)r * (size_t)k;
        const float *yr = cls ? NULL : y + (size_t)r * (size_t)k;
        for (int c = 0; c < k; c++) {
            if (!isfinite(pr[c]))
                return ns_errorf(ctx, NS_ERR_NONFINITE,
                                 "metrics: row %d (sample %" PRId64 "), column %d: prediction is "
                                 "%s; the model diverged or its input holds non-finite values",
                                 r, sample, c, nonfinite_name(pr[c]));
            if (yr != NULL && !isfinite(yr[c]))
                return ns_errorf(ctx, NS_ERR_NONFINITE,
                                 "metrics: row %d (sample %" PRId64 "), column %d: target is %s; "
                                 "clean the dataset's target column",
                                 r, sample, c, nonfinite_name(yr[c]));
        }
        if (cls && (labels[r] < 0 || labels[r] >= m->classes))
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "metrics: row %d (sample %" PRId64 "): label %" PRId32
                             " is outside [0, %d); the model knows %d classes",
                             r, sample, labels[r], m->classes, m->classes);
    }
    return NS_OK;
}

/* The predicted class of one row of logits: the first maximal logit (numpy's and torch's
 * argmax), or logit > 0 for a single logit. */
static int predicted_class(const float *logits, int k)
{
    if (k == 1)
        return logits[0] > 0.0f ? 1 : 0;
    int best = 0;
    for (int c = 1; c < k; c++)
        if (logits[c] > logits[best])
            best = c;
    return best;
}

ns_status ns_metrics_add(ns_metrics *m, const float *pred, const float *y, const int32_t *labels,
                         int n, double loss_sum)
{
    NS_ASSERT(m != NULL);
    ns_ctx *ctx = m->ctx;
    bool cls = m->task == NS_TASK_CLASSIFICATION;
    if (n < 0)
        return ns_errorf(ctx, NS_ERR_INVALID, "metrics: batch of %d samples; n must be >= 0", n);
    if (n == 0)
        return NS_OK;
    if (pred == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID, "metrics: missing predictions pred[%d, %d]", n,
                         m->outputs);
    if (cls && labels == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "metrics: missing labels; classification needs labels[%d]", n);
    if (!cls && y == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "metrics: missing targets; regression needs y[%d, %d]", n, m->outputs);
    if (!isfinite(loss_sum))
        return ns_errorf(ctx, NS_ERR_NONFINITE,
                         "metrics: the loss sum of the batch at sample %" PRId64
                         " is %g; the model diverged",
                         m->n, loss_sum);
    ns_status st = check_batch(m, pred, y, labels, n);
    if (st != NS_OK)
        return st;

    int k = m->outputs;
    if (cls) {
        for (int r = 0; r < n; r++) {
            int p = predicted_class(pred + (size_t)r * (size_t)k, k);
            m->confusion[(size_t)labels[r] * (size_t)m->classes + (size_t)p]++;
        }
    } else {
        for (int r = 0; r < n; r++) {
            const float *pr = pred + (size_t)r * (size_t)k;
            const float *yr = y + (size_t)r * (size_t)k;
            double count = (double)(m->n + r + 1);
            for (int j = 0; j < k; j++) {
                reg_stat *s = &m->reg[j];
                double yv = (double)yr[j];
                double d = yv - s->mean;
                s->mean += d / count;
                s->m2 += d * (yv - s->mean);
                double res = yv - (double)pr[j];
                ksum_add(&s->res2, res * res);
                ksum_add(&s->abs, fabs(res));
            }
        }
    }
    ksum_add(&m->loss, loss_sum);
    m->n += n;
    return NS_OK;
}

static void compute_classification(const ns_metrics *m, ns_metric_values *v)
{
    int nc = m->classes;
    const int64_t *cm = m->confusion;
    int64_t correct = 0;
    double precision = 0.0, recall = 0.0, f1 = 0.0;
    for (int c = 0; c < nc; c++) {
        int64_t tp = cm[(size_t)c * (size_t)nc + (size_t)c];
        int64_t predicted = 0, actual = 0; /* tp + fp, tp + fn */
        for (int o = 0; o < nc; o++) {
            predicted += cm[(size_t)o * (size_t)nc + (size_t)c];
            actual += cm[(size_t)c * (size_t)nc + (size_t)o];
        }
        correct += tp;
        /* 0/0 counts 0 (sklearn's zero_division=0). */
        if (predicted > 0)
            precision += (double)tp / (double)predicted;
        if (actual > 0)
            recall += (double)tp / (double)actual;
        if (predicted + actual > 0)
            f1 += 2.0 * (double)tp / (double)(predicted + actual);
    }
    v->accuracy = (double)correct / (double)m->n;
    v->precision_macro = precision / (double)nc;
    v->recall_macro = recall / (double)nc;
    v->f1_macro = f1 / (double)nc;
}

static void compute_regression(const ns_metrics *m, ns_metric_values *v)
{
    double n = (double)m->n, mse = 0.0, mae = 0.0, r2 = 0.0;
    for (int j = 0; j < m->outputs; j++) {
        const reg_stat *s = &m->reg[j];
        double ss_res = ksum_value(&s->res2);
        mse += ss_res / n;
        mae += ksum_value(&s->abs) / n;
        /* A constant target has no variance to explain: sklearn's force_finite scores it 1
         * when predicted exactly, else 0. */
        if (s->m2 > 0.0)
            r2 += 1.0 - ss_res / s->m2;
        else
            r2 += ss_res == 0.0 ? 1.0 : 0.0;
    }
    v->mse = mse / (double)m->outputs;
    v->rmse = sqrt(v->mse);
    v->mae = mae / (double)m->outputs;
    v->r2 = r2 / (double)m->outputs;
}

ns_status ns_metrics_compute(const ns_metrics *m, ns_metric_values *out)
{
    NS_ASSERT(m != NULL && out != NULL);
    if (m->n == 0)
        return ns_errorf(m->ctx, NS_ERR_STATE,
                         "metrics: no samples yet; add batches with ns_metrics_add first");
    ns_metric_values v;
    double nan = (double)NAN;
    v.n = m->n;
    v.loss = ksum_value(&m->loss) / (double)m->n;
    v.accuracy = v.precision_macro = v.recall_macro = v.f1_macro = nan;
    v.mse = v.rmse = v.mae = v.r2 = nan;
    v.is_classification = m->task == NS_TASK_CLASSIFICATION;
    if (v.is_classification)
        compute_classification(m, &v);
    else
        compute_regression(m, &v);
    *out = v;
    return NS_OK;
}

const int64_t *ns_metrics_confusion(const ns_metrics *m, int *classes)
{
    NS_ASSERT(m != NULL);
    if (classes != NULL)
        *classes = m->classes;
    return m->confusion;
}

/* ---- state for checkpoints -------------------------------------------------------------- */

/* Layout: n, loss.s, loss.c, then the confusion matrix [C * C] (classification) or
 * REG_STAT_DOUBLES per output (regression). */
#define STATE_HEAD 3

size_t ns_metrics_state_len(const ns_metrics *m)
{
    NS_ASSERT(m != NULL);
    if (m->task == NS_TASK_CLASSIFICATION)
        return STATE_HEAD + (size_t)m->classes * (size_t)m->classes;
    return STATE_HEAD + (size_t)m->outputs * REG_STAT_DOUBLES;
}

void ns_metrics_state_get(const ns_metrics *m, double *out)
{
    NS_ASSERT(m != NULL && out != NULL);
    out[0] = (double)m->n;
    out[1] = m->loss.s;
    out[2] = m->loss.c;
    double *p = out + STATE_HEAD;
    if (m->task == NS_TASK_CLASSIFICATION) {
        size_t cells = (size_t)m->classes * (size_t)m->classes;
        for (size_t i = 0; i < cells; i++)
            p[i] = (double)m->confusion[i];
        return;
    }
    for (int j = 0; j < m->outputs; j++, p += REG_STAT_DOUBLES) {
        const reg_stat *s = &m->reg[j];
        p[0] = s->mean;
        p[1] = s->m2;
        p[2] = s->res2.s;
        p[3] = s->res2.c;
        p[4] = s->abs.s;
        p[5] = s->abs.c;
    }
}

/* A count as a double: a non-negative integer that converts to int64 exactly. */
static bool is_count(double x)
{
    return x >= 0.0 && x <= 9007199254740992.0 /* 2^53 */ && floor(x) == x;
}

ns_status ns_metrics_state_set(ns_metrics *m, const double *in, size_t n)
{
    NS_ASSERT(m != NULL && (in != NULL || n == 0));
    ns_ctx *ctx = m->ctx;
    size_t want = ns_metrics_state_len(m);
    if (n != want)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "metrics state: %zu values, this accumulator (%s, %d outputs) has %zu", n,
                         ns_task_name(m->task), m->outputs, want);
    if (!is_count(in[0]) || !isfinite(in[1]) || !isfinite(in[2]))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "metrics state: the sample count or loss sum is not valid");
    const double *p = in + STATE_HEAD;
    if (m->task == NS_TASK_CLASSIFICATION) {
        size_t cells = want - STATE_HEAD;
        double total = 0.0; /* exact: every count and the total stay below 2^53 */
        for (size_t i = 0; i < cells; i++) {
            if (!is_count(p[i]))
                return ns_errorf(ctx, NS_ERR_INVALID,
                                 "metrics state: confusion cell %zu is %g, not a count", i, p[i]);
            total += p[i];
        }
        if (total != in[0])
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "metrics state: the confusion matrix counts %.17g samples, the "
                             "state says %.17g",
                             total, in[0]);
        for (size_t i = 0; i < cells; i++)
            m->confusion[i] = (int64_t)p[i];
    } else {
        for (size_t i = 0; i < want - STATE_HEAD; i++)
            if (!isfinite(p[i]) || (i % REG_STAT_DOUBLES == 1 && p[i] < 0.0))
                return ns_errorf(ctx, NS_ERR_INVALID,
                                 "metrics state: value %zu (output %zu) is %g; a sum of squares "
                                 "is finite and non-negative, every other value finite",
                                 STATE_HEAD + i, i / REG_STAT_DOUBLES, p[i]);
        for (int j = 0; j < m->outputs; j++, p += REG_STAT_DOUBLES) {
            reg_stat *s = &m->reg[j];
            s->mean = p[0];
            s->m2 = p[1];
            s->res2 = (ksum){p[2], p[3]};
            s->abs = (ksum){p[4], p[5]};
        }
    }
    m->n = (int64_t)in[0];
    m->loss = (ksum){in[1], in[2]};
    return NS_OK;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* Text written into a fixed buffer that counts what would be written beyond its end, so one
 * pass with cap 0 measures and a second fills a buffer of the right size. */
typedef struct textbuf {
    char *buf;
    size_t cap, len;
} textbuf;

static void tb_puts(textbuf *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len < t->cap) {
        size_t room = t->cap - t->len;
        memcpy(t->buf + t->len, s, n < room ? n : room);
    }
    t->len += n;
}

static void tb_double(textbuf *t, double v)
{
    char num[40];
    if (!isfinite(v)) {
        tb_puts(t, "null"); /* JSON has no NaN or infinity */
        return;
    }
    ns__format_double(num, sizeof num, v);
    tb_puts(t, num);
}

static void tb_int(textbuf *t, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    tb_puts(t, num);
}

static void write_json(textbuf *t, const ns_metric_values *v, const int64_t *confusion, int classes)
{
    ns_task task = v->is_classification ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    bool first = true;
    tb_puts(t, "{");
    for (int i = 0; i < NS_METRIC_COUNT; i++) {
        ns_metric_id id = (ns_metric_id)i;
        if (!ns_metric_applies(id, task))
            continue;
        tb_puts(t, first ? "\"" : ", \"");
        tb_puts(t, metric_table[i].name);
        tb_puts(t, "\": ");
        if (id == NS_METRIC_N)
            tb_int(t, v->n);
        else
            tb_double(t, ns_metric_value(v, id));
        first = false;
    }
    if (confusion != NULL) {
        tb_puts(t, ", \"confusion_matrix\": [");
        for (int r = 0; r < classes; r++) {
            tb_puts(t, r == 0 ? "[" : ", [");
            for (int c = 0; c < classes; c++) {
                if (c > 0)
                    tb_puts(t, ", ");
                tb_int(t, confusion[(size_t)r * (size_t)classes + (size_t)c]);
            }
            tb_puts(t, "]");
        }
        tb_puts(t, "]");
    }
    tb_puts(t, "}");
}

ns_status ns_metrics_to_json(ns_ctx *ctx, const ns_metric_values *values, const int64_t *confusion,
                             int classes, char **json)
{
    NS_ASSERT(ctx != NULL && values != NULL && json != NULL);
    NS_ASSERT(confusion == NULL || classes >= 1);
    *json = NULL;
    textbuf measure = {NULL, 0, 0};
    write_json(&measure, values, confusion, classes);
    char *buf = ns_alloc(ctx, measure.len + 1);
    if (buf == NULL)
        return NS_ERR_NOMEM;
    textbuf t = {buf, measure.len + 1, 0};
    write_json(&t, values, confusion, classes);
    NS_ASSERT(t.len == measure.len);
    buf[t.len] = '\0';
    *json = buf;
    return NS_OK;
}
