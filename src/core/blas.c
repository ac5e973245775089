/* Loading the BLAS at run time, with OpenBLAS's kernel chosen from the CPU's features.
 *
 * Why at run time. OpenBLAS picks its kernel set (its "core") once, while it is being loaded,
 * from a table of CPU models. A CPU newer than the table (for Debian's 0.3.21, an Intel Xeon
 * of family 6 model 207) gets the generic Prescott (SSE3) kernels, about 5x slower, and only
 * OPENBLAS_CORETYPE, read from the environment while OpenBLAS loads, changes that. So
 * netsmith does not link OpenBLAS: it loads it here, once per process (the first ns_ctx_new),
 * with OPENBLAS_CORETYPE set for that moment to the core the CPU's instruction sets call for,
 * and every program built on the library gets the fast kernels, not only the command line.
 *
 * The choice, in order:
 * - NETSMITH_BLAS_CORE=<core> forces that OpenBLAS core (the tests force Prescott with it, to
 *   hold the numerics to every correct kernel);
 * - an OPENBLAS_CORETYPE already in the environment is kept, unless it names kernels for an
 *   older instruction set than the CPU has: a generic kernel never runs where AVX2 or AVX-512
 *   is there;
 * - otherwise the core for the CPU's widest instruction set: SkylakeX for AVX-512, Zen (AMD)
 *   or Haswell for AVX2 with FMA, Sandybridge for AVX; an older CPU keeps OpenBLAS's own pick.
 *   These are the cores OpenBLAS itself picks for the CPUs it knows, so only CPUs it does not
 *   know change.
 * NETSMITH_BLAS=<library> loads another library with the CBLAS interface instead (BLIS:
 * libblis.so.4), or oneDNN (libdnnl.so.2) through its row-major dnnl_sgemm.
 *
 * The environment is restored right after the load. setenv is not safe against a getenv
 * running at the same moment in another thread, so the first context should be made before a
 * program starts threads of its own that read the environment. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/blas.h"

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, int, int,
                         int, float, const float *, int, const float *, int, float, float *,
                         int);
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *,
                             int64_t, const float *, int64_t, float, float *, int64_t);

static struct {
    pthread_once_t once;
    ns_status status;
    sgemm_fn sgemm;
    dnnl_sgemm_fn dnnl_sgemm;
    int (*get_threads)(void);
    void (*set_threads)(int);
    long (*blis_get_threads)(void);
    void (*blis_set_threads)(long);
    char path[512];
} blas = {.once = PTHREAD_ONCE_INIT};

/* ---- instruction sets ----------------------------------------------------------------- */

enum { ISA_UNKNOWN = -1, ISA_SSE = 1, ISA_AVX = 2, ISA_AVX2 = 3, ISA_AVX512 = 4 };

/* The widest instruction set OpenBLAS has kernels for that this CPU (and its OS) runs. */
static int cpu_isa(const char **features)
{
    *features = "";
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl")) {
        *features = "AVX-512 F/CD/BW/DQ/VL";
        return ISA_AVX512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *features = "AVX2 and FMA";
        return ISA_AVX2;
    }
    if (__builtin_cpu_supports("avx")) {
        *features = "AVX";
        return ISA_AVX;
    }
    return ISA_SSE;
#else
    return ISA_UNKNOWN;
#endif
}

/* The core OpenBLAS has for isa on this CPU; NULL where OpenBLAS's own pick is kept. */
static const char *isa_core(int isa)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    switch (isa) {
    case ISA_AVX512:
        return "SkylakeX";
    case ISA_AVX2:
        return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
    case ISA_AVX:
        return "Sandybridge";
    default:
        return NULL;
    }
#else
    (void)isa;
    return NULL;
#endif
}

/* The instruction set an OpenBLAS x86-64 core's kernels use (ISA_UNKNOWN for other names). */
static int core_isa(const char *core)
{
    static const struct {
        const char *name;
        int isa;
    } cores[] = {
        {"skylakex", ISA_AVX512},   {"cooperlake", ISA_AVX512}, {"sapphirerapids", ISA_AVX512},
        {"haswell", ISA_AVX2},      {"zen", ISA_AVX2},          {"excavator", ISA_AVX2},
        {"sandybridge", ISA_AVX},   {"bulldozer", ISA_AVX},     {"piledriver", ISA_AVX},
        {"steamroller", ISA_AVX},   {"prescott", ISA_SSE},      {"core2", ISA_SSE},
        {"penryn", ISA_SSE},        {"dunnington", ISA_SSE},    {"nehalem", ISA_SSE},
        {"atom", ISA_SSE},          {"opteron", ISA_SSE},       {"opteron_sse3", ISA_SSE},
        {"barcelona", ISA_SSE},     {"bobcat", ISA_SSE},        {"nano", ISA_SSE},
        {"katmai", ISA_SSE},        {"coppermine", ISA_SSE},    {"northwood", ISA_SSE},
        {"banias", ISA_SSE},        {"athlon", ISA_SSE},
    };
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (strcasecmp(core, cores[i].name) == 0)
            return cores[i].isa;
    return ISA_UNKNOWN;
}

/* ---- loading ---------------------------------------------------------------------------- */

typedef void (*any_fn)(void);

/* dlsym's function as a function pointer (POSIX guarantees the conversion; ISO C spells it
 * with a copy). NULL for a NULL library or a missing name. */
static any_fn sym(void *lib, const char *name)
{
    void *p = lib ? dlsym(lib, name) : NULL;
    any_fn f;
    memcpy(&f, &p, sizeof f);
    return f;
}

/* Takes lib's OpenBLAS entry points and writes the kernel path; want is the core asked for
 * (NULL: none), which OpenBLAS replaces by another where the CPU cannot run it. */
static void adopt_openblas(void *lib, const char *soname, const char *want, const char *why)
{
    blas.get_threads = (int (*)(void))sym(lib, "openblas_get_num_threads");
    blas.set_threads = (void (*)(int))sym(lib, "openblas_set_num_threads");
    char *(*config)(void) = (char *(*)(void))sym(lib, "openblas_get_config");
    char *(*corename)(void) = (char *(*)(void))sym(lib, "openblas_get_corename");
    /* "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64": the first two words. */
    char version[64];
    snprintf(version, sizeof version, "%s", config ? config() : "OpenBLAS");
    char *sp = strchr(version, ' ');
    if (sp != NULL && (sp = strchr(sp + 1, ' ')) != NULL)
        *sp = '\0';
    const char *core = corename ? corename() : "unknown";
    int n = snprintf(blas.path, sizeof blas.path, "%s (%s), core %s: %s", version, soname, core,
                     why);
    if (want != NULL && strcasecmp(want, core) != 0 && n > 0 && (size_t)n < sizeof blas.path)
        snprintf(blas.path + n, sizeof blas.path - (size_t)n,
                 " (OpenBLAS runs %s instead: it has no core %s for this CPU)", core, want);
}

static void load_openblas(void)
{
    const char *soname = "libopenblas.so.0";
    const char *features;
    int isa = cpu_isa(&features);
    const char *want = NULL; /* the core to ask OpenBLAS for */
    char why[256];

    /* A program that linked OpenBLAS itself has it loaded, with its choice made. */
    void *lib = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    if (lib != NULL) {
        char *(*corename)(void) = (char *(*)(void))sym(lib, "openblas_get_corename");
        int have = corename ? core_isa(corename()) : ISA_UNKNOWN;
        if (have != ISA_UNKNOWN && have < isa && isa_core(isa) != NULL)
            snprintf(why, sizeof why,
                     "OpenBLAS was loaded by the program before netsmith, with kernels older than "
                     "this CPU's %s; set OPENBLAS_CORETYPE=%s before the program starts",
                     features, isa_core(isa));
        else
            snprintf(why, sizeof why,
                     "OpenBLAS was loaded by the program before netsmith, with its own choice");
    } else {
        const char *forced = getenv("NETSMITH_BLAS_CORE");
        const char *given = getenv("OPENBLAS_CORETYPE");
        /* A core for a wider instruction set than the CPU has would stop the program at its
         * first product (SIGILL): OpenBLAS 0.3.21 runs a forced core unchecked. */
        bool forced_runs = forced != NULL && forced[0] != '\0' &&
                           (core_isa(forced) == ISA_UNKNOWN || isa == ISA_UNKNOWN ||
                            core_isa(forced) <= isa);
        bool given_kept = given != NULL && given[0] != '\0' &&
                          (core_isa(given) == ISA_UNKNOWN || isa_core(isa) == NULL ||
                           core_isa(given) == isa);
        if (forced_runs) {
            want = forced;
            snprintf(why, sizeof why, "forced by NETSMITH_BLAS_CORE=%s", forced);
        } else if (forced != NULL && forced[0] != '\0') {
            want = isa_core(isa);
            snprintf(why, sizeof why,
                     "NETSMITH_BLAS_CORE=%s is not used, since this CPU lacks the instructions "
                     "its kernels need; chosen from the CPU's %s instead",
                     forced, features);
        } else if (given_kept) {
            snprintf(why, sizeof why, "as OPENBLAS_CORETYPE=%s says", given);
        } else if (isa_core(isa) != NULL) {
            want = isa_core(isa);
            if (given != NULL && given[0] != '\0' && core_isa(given) < isa)
                snprintf(why, sizeof why,
                         "OPENBLAS_CORETYPE=%s is overridden, since this CPU has %s "
                         "(NETSMITH_BLAS_CORE=%s would force it)",
                         given, features, given);
            else if (given != NULL && given[0] != '\0')
                snprintf(why, sizeof why,
                         "OPENBLAS_CORETYPE=%s is overridden, since this CPU lacks the "
                         "instructions its kernels need; chosen from the CPU's %s",
                         given, features);
            else
                snprintf(why, sizeof why, "chosen from the CPU's %s", features);
        } else {
            snprintf(why, sizeof why, "OpenBLAS's own choice for this CPU");
        }
        char *saved = given ? strdup(given) : NULL;
        if (want != NULL)
            setenv("OPENBLAS_CORETYPE", want, 1);
        lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (want != NULL) {
            if (saved != NULL)
                setenv("OPENBLAS_CORETYPE", saved, 1);
            else
                unsetenv("OPENBLAS_CORETYPE");
        }
        free(saved);
    }
    blas.sgemm = (sgemm_fn)sym(lib, "cblas_sgemm");
    if (blas.sgemm == NULL) {
        snprintf(blas.path, sizeof blas.path,
                 "no BLAS: %s could not be loaded (%s); install Debian's libopenblas0", soname,
                 lib ? "it has no cblas_sgemm" : dlerror());
        blas.status = NS_ERR_UNSUPPORTED;
        return;
    }
    adopt_openblas(lib, soname, want, why);
}

/* NETSMITH_BLAS names a library with cblas_sgemm (BLIS and others) or oneDNN's dnnl_sgemm. */
static void load_named(const char *name)
{
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(blas.path, sizeof blas.path, "no BLAS: NETSMITH_BLAS=%s could not be loaded (%s)",
                 name, dlerror());
        blas.status = NS_ERR_UNSUPPORTED;
        return;
    }
    blas.sgemm = (sgemm_fn)sym(lib, "cblas_sgemm");
    blas.dnnl_sgemm = blas.sgemm ? NULL : (dnnl_sgemm_fn)sym(lib, "dnnl_sgemm");
    if (blas.sgemm == NULL && blas.dnnl_sgemm == NULL) {
        snprintf(blas.path, sizeof blas.path,
                 "no BLAS: NETSMITH_BLAS=%s has neither cblas_sgemm nor dnnl_sgemm", name);
        blas.status = NS_ERR_UNSUPPORTED;
        return;
    }
    if (dlsym(lib, "openblas_get_config") != NULL) {
        adopt_openblas(lib, name, NULL, "named by NETSMITH_BLAS");
        return;
    }
    const char *(*blis_version)(void) = (const char *(*)(void))sym(lib, "bli_info_get_version_str");
    if (blis_version != NULL) {
        blas.blis_get_threads = (long (*)(void))sym(lib, "bli_thread_get_num_threads");
        blas.blis_set_threads = (void (*)(long))sym(lib, "bli_thread_set_num_threads");
        snprintf(blas.path, sizeof blas.path, "BLIS %s (%s): named by NETSMITH_BLAS",
                 blis_version(), name);
        return;
    }
    typedef struct {
        int major, minor, patch;
    } dnnl_version;
    const dnnl_version *(*dv)(void) = (const dnnl_version *(*)(void))sym(lib, "dnnl_version");
    if (blas.dnnl_sgemm != NULL && dv != NULL) {
        const dnnl_version *v = dv();
        snprintf(blas.path, sizeof blas.path, "oneDNN %d.%d.%d (%s, dnnl_sgemm): named by "
                 "NETSMITH_BLAS", v->major, v->minor, v->patch, name);
        return;
    }
    snprintf(blas.path, sizeof blas.path, "%s: named by NETSMITH_BLAS", name);
}

static void load_once(void)
{
    blas.status = NS_OK;
    const char *name = getenv("NETSMITH_BLAS");
    if (name != NULL && name[0] != '\0')
        load_named(name);
    else
        load_openblas();
}

ns_status ns__blas_load(void)
{
    pthread_once(&blas.once, load_once);
    return blas.status;
}

const char *ns_kernel_path(void)
{
    ns__blas_load();
    return blas.path;
}

/* ---- calls -------------------------------------------------------------------------------- */

void ns__sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc)
{
    if (ns__blas_load() != NS_OK) {
        fprintf(stderr, "netsmith: %s\n", blas.path);
        abort();
    }
    if (blas.sgemm != NULL) {
        blas.sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    blas.dnnl_sgemm(ta == CblasTrans ? 'T' : 'N', tb == CblasTrans ? 'T' : 'N', m, n, k, alpha,
                    a, lda, b, ldb, beta, c, ldc);
}

int ns__blas_threads(void)
{
    if (ns__blas_load() != NS_OK)
        return 1;
    if (blas.get_threads != NULL)
        return blas.get_threads();
    if (blas.blis_get_threads != NULL) {
        long n = blas.blis_get_threads();
        return n > 1 ? (int)n : 1;
    }
    return 1;
}

void ns_blas_set_threads(int n)
{
    if (ns__blas_load() != NS_OK || n < 1)
        return;
    if (blas.set_threads != NULL)
        blas.set_threads(n);
    else if (blas.blis_set_threads != NULL)
        blas.blis_set_threads(n);
}
