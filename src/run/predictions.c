/* The Inference card's file: predictions as CSV (the predicted class and each class's
 * probability for a classifier, the values for a regression), named after the model's or the
 * data's classes and targets. */
#include <stdio.h>
#include <string.h>

#include "run/run_internal.h"

/* Writes s as one CSV field: quoted (quotes doubled) when it holds a delimiter, a quote, a
 * line break or blanks at its ends, so any class or column name reads back unchanged. */
static void csv_field(FILE *f, const char *prefix, const char *s)
{
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") != NULL || (n > 0 && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        fprintf(f, "%s%s", prefix, s);
        return;
    }
    fputc('"', f);
    fputs(prefix, f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* The name of class c or target c: the model's, else the data's, else its number. */
static const char *output_name(char **names, int count, const ns_dataset *ds, bool cls, int c,
                               char *buf, size_t cap)
{
    if (names != NULL && c < count && names[c][0] != '\0')
        return names[c];
    const char *d = cls ? ns_dataset_class_name(ds, c) : ns_dataset_target_name(ds, c);
    if (d != NULL && d[0] != '\0')
        return d;
    snprintf(buf, cap, cls ? "%d" : "y%d", c);
    return buf;
}

/* ",<x>" with a '.' decimal point whatever the process locale. */
static void put_number(FILE *f, double x)
{
    char buf[40];
    ns__snprintf_c(buf, sizeof buf, ",%.9g", x);
    fputs(buf, f);
}

void ns_fit_write_predictions(FILE *f, const ns_model_info *info, const ns_dataset *ds,
                              int64_t rows, int k, const float *out, const float *probs)
{
    char buf[32];
    bool cls = info->task == NS_TASK_CLASSIFICATION;
    int width = cls ? (k == 1 ? 2 : k) : k;
    char **names = cls ? info->class_names : info->target_names;
    int count = cls ? info->classes : info->targets;
    fputs(cls ? "row,label" : "row", f);
    for (int c = 0; c < width; c++) {
        fputc(',', f);
        csv_field(f, cls ? "p_" : "", output_name(names, count, ds, cls, c, buf, sizeof buf));
    }
    fputc('\n', f);
    for (int64_t r = 0; r < rows; r++) {
        fprintf(f, "%lld", (long long)r);
        if (cls) {
            const float *p = probs + (size_t)r * (size_t)width;
            int best = 0;
            for (int c = 1; c < width; c++)
                best = p[c] > p[best] ? c : best;
            fputc(',', f);
            csv_field(f, "", output_name(names, count, ds, true, best, buf, sizeof buf));
            for (int c = 0; c < width; c++)
                put_number(f, (double)p[c]);
        } else {
            for (int c = 0; c < k; c++)
                put_number(f, (double)out[(size_t)r * (size_t)k + (size_t)c]);
        }
        fputc('\n', f);
    }
}

