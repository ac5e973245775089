/* Did-you-mean suggestions for misspelt names. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"

/* Names longer than this get no suggestion. */
#define SUGGEST_MAX 32

/* Optimal-string-alignment distance (edits plus adjacent swaps), ignoring case. */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > SUGGEST_MAX || m > SUGGEST_MAX)
        return INT_MAX;
    int d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* The candidate closest to got when it is close enough to be a likely typo, else NULL. */
const char *ns__suggest(const char *got, const char *const *cands, int n)
{
    const char *best = NULL;
    int best_d = INT_MAX;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(got, cands[i]);
        int limit = strlen(cands[i]) >= 5 ? 2 : 1;
        if (d <= limit && (size_t)d < strlen(got) && d < best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

const char *ns__did_you_mean(char *buf, size_t cap, const char *got, const char *const *cands,
                             int n)
{
    const char *s = ns__suggest(got, cands, n);
    if (s == NULL)
        buf[0] = '\0';
    else
        snprintf(buf, cap, " (did you mean '%s'?)", s);
    return buf;
}
