/* libxsmm's JIT small-matrix kernels on the shapes of bench_train --sgemm M N K, for the
 * kernel-path comparison (bench/bench_kernels.sh compiles it against Debian's libxsmm-dev,
 * which ships only a static library, so the library cannot load it at run time as it does
 * BLIS and oneDNN). Row-major C[m,n] = A[m,k] B[k,n] is column-major C^T = B^T A^T. */
#include <libxsmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: xsmm_gemm M N K\n");
        return 2;
    }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]);
    libxsmm_init();
    float alpha = 1.0f, beta = 0.0f;
    libxsmm_smmfunction f = libxsmm_smmdispatch(n, m, k, NULL, NULL, NULL, &alpha, &beta, NULL,
                                                NULL);
    if (f == NULL) {
        printf("kernels libxsmm %s: no JIT kernel for this shape\n", LIBXSMM_CONFIG_VERSION);
        printf("sgemm m=%d n=%d k=%d gflops=0 threads=1\n", m, n, k);
        return 0;
    }
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
    float *c = malloc(sizeof(float) * (size_t)m * n);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) - 3.0f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (float)(i % 5) - 2.0f;
    double flop = 2.0 * m * n * k, best = 1e30;
    int calls = (int)(0.02e9 / flop) + 1;
    for (int r = 0; r < 11; r++) {
        double t0 = now();
        for (int i = 0; i < calls; i++)
            f(b, a, c); /* column-major: C^T[n,m] = B^T[n,k] A^T[k,m] */
        double t = (now() - t0) / calls;
        if (r > 0 && t < best)
            best = t;
    }
    printf("kernels libxsmm %s (JIT for %s)\n", LIBXSMM_CONFIG_VERSION,
           libxsmm_get_target_arch());
    printf("sgemm m=%d n=%d k=%d gflops=%.2f threads=1\n", m, n, k, flop / best / 1e9);
    free(a), free(b), free(c);
    libxsmm_finalize();
    return 0;
}
