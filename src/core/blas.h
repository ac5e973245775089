/* The BLAS that netsmith's products run on, loaded at run time (blas.c): the one sgemm every
 * kernel calls, and the library's own thread setting. Private to the library. */
#ifndef NS_CORE_BLAS_H
#define NS_CORE_BLAS_H

#include <cblas.h>

#include "netsmith/core.h"

/* C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, row-major, as cblas_sgemm. Loads the BLAS on
 * first use (ns_ctx_new already has); a process that cannot load one stops here with a
 * message, since no product can run. Thread-safe. */
void ns__sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc);

/* The BLAS's own thread count (1 for a library without one). */
int ns__blas_threads(void);

/* Loads the BLAS once per process; NS_OK, or NS_ERR_UNSUPPORTED when none can be loaded
 * (ns_kernel_path says why). Thread-safe. */
ns_status ns__blas_load(void);

#endif
