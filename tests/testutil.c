/* Helpers shared by the test binaries (see testutil.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

void ns_test_assert_close(double a, double b, double rtol, double atol, const char *what,
                          const char *file, int line)
{
    double tol = atol + rtol * fabs(b);
    if (!(fabs(a - b) <= tol)) {
        fprintf(stderr, "%s:%d: %s: got %.9g, expected %.9g (|diff| %.3g > tol %.3g)\n", file, line,
                what, a, b, fabs(a - b), tol);
        fail();
    }
}

void ns_test_assert_all_close(const float *a, const float *b, size_t n, double rtol, double atol,
                              const char *what, const char *file, int line)
{
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs((double)b[i]);
        if (!(fabs((double)a[i] - (double)b[i]) <= tol)) {
            fprintf(stderr, "%s:%d: %s[%zu]: got %.9g, expected %.9g (|diff| %.3g > tol %.3g)\n",
                    file, line, what, i, (double)a[i], (double)b[i],
                    fabs((double)a[i] - (double)b[i]), tol);
            fail();
        }
    }
}

void ns_test_assert_status(ns_ctx *ctx, ns_status got, ns_status want, const char *what,
                           const char *file, int line)
{
    if (got != want) {
        fprintf(stderr, "%s:%d: %s: got status %d (%s), expected %d (%s); message: %s\n", file,
                line, what, got, ns_status_str(got), want, ns_status_str(want),
                ctx ? ns_errmsg(ctx) : "(no context)");
        fail();
    }
}

void ns_test_assert_msg_has(ns_ctx *ctx, const char *needle, const char *file, int line)
{
    const char *msg = ns_errmsg(ctx);
    if (strstr(msg, needle) == NULL) {
        fprintf(stderr, "%s:%d: message \"%s\" does not contain \"%s\"\n", file, line, msg, needle);
        fail();
    }
}

const char *ns_test_fixture(const char *name)
{
    static _Thread_local char buf[1024];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/%s", NS_SOURCE_DIR, name);
    return buf;
}

json_t *ns_test_json_load(const char *fixture_name)
{
    json_error_t err;
    json_t *root = json_load_file(ns_test_fixture(fixture_name), 0, &err);
    if (root == NULL) {
        fprintf(stderr, "cannot load fixture %s: %s (line %d)\n", fixture_name, err.text, err.line);
        fail();
    }
    return root;
}

float *ns_test_json_tensor(json_t *root, const char *name, size_t *n, int64_t *shape, int *ndim)
{
    json_t *t = json_object_get(root, name);
    json_t *data = t ? json_object_get(t, "data") : NULL;
    if (data == NULL || !json_is_array(data)) {
        fprintf(stderr, "fixture has no tensor \"%s\"\n", name);
        fail();
    }
    json_t *shp = json_object_get(t, "shape");
    if (ndim != NULL)
        *ndim = shp ? (int)json_array_size(shp) : 1;
    if (shape != NULL && shp != NULL)
        for (size_t i = 0; i < json_array_size(shp) && i < 8; i++)
            shape[i] = json_integer_value(json_array_get(shp, i));
    size_t count = json_array_size(data);
    float *out = malloc((count ? count : 1) * sizeof *out);
    assert_non_null(out);
    for (size_t i = 0; i < count; i++)
        out[i] = (float)json_number_value(json_array_get(data, i));
    *n = count;
    return out;
}

json_t *ns_test_json_case(json_t *root, const char *file, const char *name)
{
    json_t *c = json_object_get(root, name);
    if (c == NULL) {
        fprintf(stderr, "%s has no case \"%s\"\n", file, name);
        fail();
    }
    return c;
}

double ns_test_json_number(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (v == NULL || !json_is_number(v)) {
        fprintf(stderr, "fixture has no number \"%s\"\n", name);
        fail();
    }
    return json_number_value(v);
}

void ns_test_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    ns_rng rng;
    ns_rng_init(&rng, seed, NS_RNG_USER, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = ns_rng_uniform_range(&rng, lo, hi);
}

static int ta_should_fail(ns_test_alloc *s)
{
    s->calls++;
    return s->fail_at != 0 && s->calls == s->fail_at;
}
static void *ta_malloc(void *ud, size_t size)
{
    ns_test_alloc *s = ud;
    if (ta_should_fail(s))
        return NULL;
    void *p = malloc(size);
    if (p)
        s->live++;
    return p;
}
static void *ta_realloc(void *ud, void *ptr, size_t size)
{
    ns_test_alloc *s = ud;
    if (ta_should_fail(s))
        return NULL;
    void *p = realloc(ptr, size);
    if (p && ptr == NULL)
        s->live++;
    return p;
}
static void ta_free(void *ud, void *ptr)
{
    ns_test_alloc *s = ud;
    if (ptr) {
        s->live--;
        free(ptr);
    }
}

ns_allocator ns_test_allocator(ns_test_alloc *state)
{
    ns_allocator a = {ta_malloc, ta_realloc, ta_free, state};
    return a;
}

/* ---- a scratch directory -------------------------------------------------------------------- */

static char tmpdir[64];

int ns_test_tmpdir_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ns_test_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

int ns_test_tmpdir_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

const char *ns_test_tmp(const char *name)
{
    static char buf[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}
