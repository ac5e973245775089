/* The BLAS loaded at run time (src/core/blas.c): the kernel chosen from the CPU's features,
 * the environment's say in it, the report of ns_kernel_path, and a library that cannot be
 * loaded. The choice is made once per process, so each case runs this binary again as a
 * child with its own environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/blas.h"
#include "testutil.h"

/* Runs this binary with "--child" and the given environment changes ("NAME=value", or
 * "NAME" to unset); its one line of output goes to out. Returns its exit status. */
static int run_child(const char *const *env, char *out, size_t cap)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        unsetenv("NETSMITH_BLAS");
        unsetenv("NETSMITH_BLAS_CORE");
        unsetenv("OPENBLAS_CORETYPE");
        for (int i = 0; env[i] != NULL; i++) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", env[i]);
            char *eq = strchr(buf, '=');
            if (eq != NULL) {
                *eq = '\0';
                setenv(buf, eq + 1, 1);
            }
        }
        execl("/proc/self/exe", "test_blas", "--child", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The child: makes a context, prints the kernel path and whether a product is right. */
static int child_main(void)
{
    ns_ctx *ctx = NULL;
    ns_status st = ns_ctx_new(NULL, &ctx);
    printf("status=%d env=%s path=%s", (int)st,
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
           ns_kernel_path());
    if (st != NS_OK)
        return 3;
    /* C[3,2] = A[3,4] B[4,2] against sums in double. */
    enum { M = 3, N = 2, K = 4 };
    float a[M * K], b[K * N], c[M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = (float)(i % 5) - 1.5f;
    for (int i = 0; i < K * N; i++)
        b[i] = 0.25f * (float)(i % 3) + 0.5f;
    ns__sgemm(CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double want = 0;
            for (int k = 0; k < K; k++)
                want += (double)a[i * K + k] * (double)b[k * N + j];
            if (c[i * N + j] != (float)want)
                return 4;
        }
    ns_ctx_free(ctx);
    return 0;
}

static bool cpu_has_avx2(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* With no say from the environment, the kernels are the CPU's own, and the environment the
 * program sees afterwards is as it was. */
static void test_chosen_from_features(void **state)
{
    (void)state;
    char out[1024];
    const char *env[] = {NULL};
    assert_int_equal(run_child(env, out, sizeof out), 0);
    fprintf(stderr, "  default: %s\n", out);
    assert_non_null(strstr(out, "status=0 env=(unset) path="));
    assert_non_null(strstr(out, "(libopenblas.so.0), core "));
    if (cpu_has_avx2()) {
        assert_null(strstr(out, "core Prescott"));
        assert_non_null(strstr(out, "chosen from the CPU's"));
    }
}

/* An OPENBLAS_CORETYPE naming a generic kernel is overridden on a CPU with AVX2 (and said so),
 * and restored for the rest of the program. */
static void test_generic_core_overridden(void **state)
{
    (void)state;
    char out[1024];
    const char *env[] = {"OPENBLAS_CORETYPE=Prescott", NULL};
    assert_int_equal(run_child(env, out, sizeof out), 0);
    fprintf(stderr, "  OPENBLAS_CORETYPE=Prescott: %s\n", out);
    assert_non_null(strstr(out, "env=Prescott path="));
    if (cpu_has_avx2()) {
        assert_null(strstr(out, "core Prescott"));
        assert_non_null(strstr(out, "OPENBLAS_CORETYPE=Prescott is overridden, since this CPU has"));
        assert_non_null(strstr(out, "NETSMITH_BLAS_CORE=Prescott would force it"));
    }
}

/* NETSMITH_BLAS_CORE forces a core, generic or not, and products stay right on it. */
static void test_forced_core(void **state)
{
    (void)state;
    char out[1024];
    const char *env[] = {"NETSMITH_BLAS_CORE=Prescott", NULL};
    assert_int_equal(run_child(env, out, sizeof out), 0);
    fprintf(stderr, "  NETSMITH_BLAS_CORE=Prescott: %s\n", out);
    assert_non_null(strstr(out, "env=(unset) path="));
#if defined(__x86_64__)
    assert_non_null(strstr(out, "core Prescott: forced by NETSMITH_BLAS_CORE=Prescott"));
#endif
}

/* Whether the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use. */
static bool cpu_has_avx512(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

/* An OPENBLAS_CORETYPE naming kernels as new as the CPU's is kept: SkylakeX on a CPU with
 * AVX-512, Haswell on one with AVX2 only. (Haswell on an AVX-512 CPU is older than it, and is
 * overridden: test_generic_core_overridden's rule.) */
static void test_capable_core_kept(void **state)
{
    (void)state;
    if (!cpu_has_avx2())
        skip();
    bool wide = cpu_has_avx512();
    char out[1024];
    const char *env[] = {wide ? "OPENBLAS_CORETYPE=SkylakeX" : "OPENBLAS_CORETYPE=Haswell", NULL};
    assert_int_equal(run_child(env, out, sizeof out), 0);
    fprintf(stderr, "  %s: %s\n", env[0], out);
    assert_non_null(strstr(out, wide ? "core SkylakeX: as OPENBLAS_CORETYPE=SkylakeX says"
                                     : "core Haswell: as OPENBLAS_CORETYPE=Haswell says"));
}

/* A core for an instruction set the CPU lacks would stop the program at its first product
 * (OpenBLAS runs a forced core unchecked): netsmith refuses it and says so, whether it comes
 * from NETSMITH_BLAS_CORE or from OPENBLAS_CORETYPE. */
static void test_core_the_cpu_cannot_run(void **state)
{
    (void)state;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!cpu_has_avx2() || __builtin_cpu_supports("avx512f"))
        skip();
    char out[1024];
    const char *env[] = {"NETSMITH_BLAS_CORE=SkylakeX", NULL};
    assert_int_equal(run_child(env, out, sizeof out), 0);
    fprintf(stderr, "  NETSMITH_BLAS_CORE=SkylakeX: %s\n", out);
    assert_null(strstr(out, "core SkylakeX"));
    assert_non_null(strstr(out, "NETSMITH_BLAS_CORE=SkylakeX is not used, since this CPU lacks "
                                "the instructions its kernels need; chosen from the CPU's AVX2"));
    const char *env2[] = {"OPENBLAS_CORETYPE=SkylakeX", NULL};
    assert_int_equal(run_child(env2, out, sizeof out), 0);
    fprintf(stderr, "  OPENBLAS_CORETYPE=SkylakeX: %s\n", out);
    assert_null(strstr(out, "core SkylakeX"));
    assert_non_null(strstr(out, "OPENBLAS_CORETYPE=SkylakeX is overridden, since this CPU lacks"));
#else
    skip();
#endif
}

/* A library that cannot be loaded: no context, and the path says which and why. */
static void test_missing_library(void **state)
{
    (void)state;
    char out[1024];
    const char *env[] = {"NETSMITH_BLAS=/nonexistent/libnoblas.so", NULL};
    assert_int_equal(run_child(env, out, sizeof out), 3);
    fprintf(stderr, "  missing: %s\n", out);
    assert_non_null(strstr(out, "status=-7"));
    assert_non_null(strstr(out, "no BLAS: NETSMITH_BLAS=/nonexistent/libnoblas.so could not be "
                                "loaded (/nonexistent/libnoblas.so: cannot open shared object"));
    /* A library without sgemm is refused too. */
    const char *env2[] = {"NETSMITH_BLAS=libz.so.1", NULL};
    assert_int_equal(run_child(env2, out, sizeof out), 3);
    assert_non_null(strstr(out, "NETSMITH_BLAS=libz.so.1 has neither cblas_sgemm nor dnnl_sgemm"));
}

/* Other BLAS libraries, where the machine has them (make bench installs them). */
static void test_other_libraries(void **state)
{
    (void)state;
    char out[1024];
    int tried = 0;
    if (access("/usr/lib/x86_64-linux-gnu/libblis.so.4", R_OK) == 0) {
        const char *env[] = {"NETSMITH_BLAS=libblis.so.4", NULL};
        assert_int_equal(run_child(env, out, sizeof out), 0);
        fprintf(stderr, "  %s\n", out);
        assert_non_null(strstr(out, "path=BLIS "));
        tried++;
    }
    if (access("/usr/lib/x86_64-linux-gnu/libdnnl.so.2", R_OK) == 0) {
        const char *env[] = {"NETSMITH_BLAS=libdnnl.so.2", NULL};
        assert_int_equal(run_child(env, out, sizeof out), 0);
        fprintf(stderr, "  %s\n", out);
        assert_non_null(strstr(out, "path=oneDNN "));
        tried++;
    }
    if (tried == 0)
        skip();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chosen_from_features), cmocka_unit_test(test_generic_core_overridden),
        cmocka_unit_test(test_forced_core),          cmocka_unit_test(test_capable_core_kept),
        cmocka_unit_test(test_core_the_cpu_cannot_run),
        cmocka_unit_test(test_missing_library),      cmocka_unit_test(test_other_libraries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
