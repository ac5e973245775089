/* CSV loading speed: writes a numeric CSV (about 100 MB: 19 float features and a float target,
 * values shaped like real measurements, fixed seed) unless it exists, then times
 * ns_data_load_csv on it, best of 3 by the wall clock.
 *
 *   bench_csv [--mb N] [--runs N] [FILE]     (FILE defaults to /tmp/netsmith_bench.csv)
 *   bench_csv --generate [--mb N] [FILE]     (only (re)writes the file)
 *
 * The last line is machine-readable for bench/bench_csv.sh: "netsmith_mb_per_s <value>". */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "netsmith/netsmith.h"

#define COLUMNS 20

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes rows until the file holds about mb megabytes. Column k has its own scale and number
 * of decimals (0.00632, 18, 396.9, 6.575, ...) so the parser sees the usual mix of lengths. */
static int generate(const char *path, double mb)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        fprintf(stderr, "bench_csv: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (int k = 0; k < COLUMNS - 1; k++)
        fprintf(fp, "f%d,", k);
    fprintf(fp, "target\n");
    ns_rng rng;
    ns_rng_init(&rng, 42, NS_RNG_USER, 0);
    static const double scale[5] = {0.01, 1.0, 10.0, 100.0, 1000.0};
    static const int decimals[5] = {5, 3, 2, 1, 0};
    double target = mb * 1e6;
    long long rows = 0;
    while (ftell(fp) < (long)target) {
        for (int k = 0; k < COLUMNS; k++) {
            int s = k % 5;
            double v = scale[s] * (1.0 + 0.5 * (double)ns_rng_normal(&rng));
            if (k % 7 == 3)
                v = -v;
            fprintf(fp, "%.*f%c", decimals[s], v, k == COLUMNS - 1 ? '\n' : ',');
        }
        rows++;
    }
    if (fclose(fp) != 0) {
        fprintf(stderr, "bench_csv: cannot write %s\n", path);
        return 1;
    }
    fprintf(stderr, "bench_csv: wrote %s (%lld rows)\n", path, rows);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = "/tmp/netsmith_bench.csv";
    double mb = 100.0;
    int runs = 3;
    bool only_generate = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
            mb = atof(argv[++i]);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--generate") == 0) {
            only_generate = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_csv [--generate] [--mb N] [--runs N] [FILE]\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (only_generate)
        return generate(path, mb);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (generate(path, mb) != 0)
            return 1;
        if (stat(path, &sb) != 0)
            return 1;
    }
    double size_mb = (double)sb.st_size / 1e6;

    ns_ctx *ctx = NULL;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return 1;
    ns_csv_options opts;
    ns_csv_options_default(&opts);
    opts.task = NS_TASK_REGRESSION;
    double best = HUGE_VAL;
    for (int r = 0; r < runs; r++) {
        ns_dataset *ds = NULL;
        double t0 = now();
        ns_status st = ns_data_load_csv(ctx, path, &opts, NULL, &ds);
        double t = now() - t0;
        if (st != NS_OK) {
            fprintf(stderr, "bench_csv: %s\n", ns_errmsg(ctx));
            ns_ctx_free(ctx);
            return 1;
        }
        if (r == 0)
            printf("netsmith: %s: %lld rows x %d features, %.1f MB\n", path,
                   (long long)ns_dataset_rows(ds), ns_dataset_feature_count(ds), size_mb);
        printf("netsmith: run %d: %.3f s (%.1f MB/s)\n", r + 1, t, size_mb / t);
        if (t < best)
            best = t;
        ns_dataset_free(ds);
    }
    ns_ctx_free(ctx);
    printf("netsmith: best of %d: %.3f s, %.1f MB/s\n", runs, best, size_mb / best);
    printf("netsmith_mb_per_s %.1f\n", size_mb / best);
    return 0;
}
