/* The one small test header: cmocka plus helpers for tolerances, fixtures, random data,
 * gradient checks and allocation-failure injection. */
#ifndef NS_TESTUTIL_H
#define NS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the above first. */
#include <cmocka.h>

#include <jansson.h>

#include "netsmith/netsmith.h"

/* |a - b| <= atol + rtol * |b|, printing both values (and where) on failure. */
#define NS_ASSERT_CLOSE(a, b, rtol, atol)                                                          \
    ns_test_assert_close((double)(a), (double)(b), (rtol), (atol), #a, __FILE__, __LINE__)
void ns_test_assert_close(double a, double b, double rtol, double atol, const char *what,
                          const char *file, int line);
/* Element-wise over arrays; names the first bad index. */
#define NS_ASSERT_ALL_CLOSE(a, b, n, rtol, atol)                                                   \
    ns_test_assert_all_close((a), (b), (n), (rtol), (atol), #a, __FILE__, __LINE__)
void ns_test_assert_all_close(const float *a, const float *b, size_t n, double rtol, double atol,
                              const char *what, const char *file, int line);
/* Asserts a status, printing the context's message when it differs. */
#define NS_ASSERT_OK(ctx, expr)                                                                    \
    ns_test_assert_status((ctx), (expr), NS_OK, #expr, __FILE__, __LINE__)
#define NS_ASSERT_STATUS(ctx, expr, want)                                                          \
    ns_test_assert_status((ctx), (expr), (want), #expr, __FILE__, __LINE__)
void ns_test_assert_status(ns_ctx *ctx, ns_status got, ns_status want, const char *what,
                           const char *file, int line);
/* Asserts that the context's message contains needle. */
#define NS_ASSERT_MSG_HAS(ctx, needle) ns_test_assert_msg_has((ctx), (needle), __FILE__, __LINE__)
void ns_test_assert_msg_has(ns_ctx *ctx, const char *needle, const char *file, int line);

/* A path under tests/fixtures/ (tests run with tests/ as working directory). */
const char *ns_test_fixture(const char *name);

/* JSON fixtures: {"tensor name": {"shape": [...], "data": [...]}, "other": value, ...}.
 * ns_test_json_load fails the test if the file cannot be read. */
json_t *ns_test_json_load(const char *fixture_name);
/* A malloc'ed float copy of fixture tensor `name`; *n receives the element count and
 * shape/ndim (may be NULL) the shape. Fails the test if absent. */
float *ns_test_json_tensor(json_t *root, const char *name, size_t *n, int64_t *shape, int *ndim);
double ns_test_json_number(json_t *obj, const char *name);
/* Case `name` of a fixture file's root object (file names it in the failure message). */
json_t *ns_test_json_case(json_t *root, const char *file, const char *name);

/* A central-difference gradient check of f (an objective in double) over v[n]: the largest
 * |analytic - numeric| / max(|numeric|, floor) with step h. v is changed and put back. */
typedef double (*ns_test_objective)(void *ud);
double ns_test_grad_error(float *v, const float *analytic, size_t n, float h, double floor,
                          ns_test_objective f, void *ud);

/* A model's objective for ns_test_grad_error: L = sum(y * r) over a training-mode forward of
 * batch samples x with the dropout mask held (the forward count set back to 0 each time). */
typedef struct ns_test_probe {
    ns_model *m;
    const float *x, *r;
    int batch, outputs;
} ns_test_probe;
double ns_test_probe_objective(void *probe);

/* Deterministic test data: uniform in [lo, hi). */
void ns_test_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* An allocator that counts allocations and fails the fail_at-th one (1-based; 0 = never),
 * and tracks live blocks so a test can assert nothing leaked. */
typedef struct ns_test_alloc {
    size_t calls;   /* malloc + realloc calls so far */
    size_t fail_at; /* which call fails (0: none) */
    long live;      /* blocks allocated and not freed */
} ns_test_alloc;
ns_allocator ns_test_allocator(ns_test_alloc *state);

/* A scratch directory for a test program's files: cmocka group setup and teardown (made
 * under /tmp, removed with everything in it), and paths inside it (four rotating buffers, so
 * a few can be live at once). */
/* A safetensors file's tensors and metadata copied so that a test can damage them and write
 * the result elsewhere (for bad-file tests). */
typedef struct ns_test_edit {
    ns_st_file *f; /* the file the tensors point into (closed by ns_test_edit_write) */
    ns_st_tensor t[64];
    int n;
    ns_st_meta m[16];
    int nm;
    char *json; /* a replaced metadata value (malloc'ed) */
    void *data; /* a replaced tensor's bytes (malloc'ed) */
} ns_test_edit;
void ns_test_edit_load(ns_ctx *ctx, const char *path, ns_test_edit *e);
/* The tensor named name (the test fails when there is none). */
ns_st_tensor *ns_test_edit_find(ns_test_edit *e, const char *name);
void ns_test_edit_drop(ns_test_edit *e, const char *name);
/* A copy of the tensor's bytes to modify (kept in e->data). */
void *ns_test_edit_own(ns_test_edit *e, const char *name);
/* Sets key of the JSON metadata entry (deletes it when value is NULL). */
void ns_test_edit_set_json(ns_test_edit *e, const char *entry, const char *key, json_t *value);
/* Replaces the text of a metadata entry (text must outlive the write). */
void ns_test_edit_set_text(ns_test_edit *e, const char *entry, const char *text);
/* Writes the edited file to path, closes the original and frees the edit's copies. */
void ns_test_edit_write(ns_ctx *ctx, const char *path, ns_test_edit *e);

int ns_test_tmpdir_setup(void **state);
int ns_test_tmpdir_teardown(void **state);
const char *ns_test_tmp(const char *name);

#endif
