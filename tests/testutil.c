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

double ns_test_probe_objective(void *probe)
{
    const ns_test_probe *p = probe;
    const float *y = NULL;
    ns_model_set_forward_count(p->m, 0); /* the same dropout mask every time */
    assert_int_equal(ns_model_forward(p->m, p->x, p->batch, true, &y), NS_OK);
    double s = 0;
    for (int i = 0; i < p->batch * p->outputs; i++)
        s += (double)y[i] * (double)p->r[i];
    return s;
}

double ns_test_grad_error(float *v, const float *analytic, size_t n, float h, double floor,
                          ns_test_objective f, void *ud)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + h;
        double up = f(ud);
        v[i] = keep - h;
        double down = f(ud);
        v[i] = keep;
        double num = (up - down) / (2.0 * (double)h);
        double err = fabs((double)analytic[i] - num) / fmax(fabs(num), floor);
        if (err > worst)
            worst = err;
    }
    return worst;
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

/* ---- editing safetensors files ----------------------------------------------------------------
 */

void ns_test_edit_load(ns_ctx *ctx, const char *path, ns_test_edit *e)
{
    memset(e, 0, sizeof *e);
    NS_ASSERT_OK(ctx, ns_st_open(ctx, path, &e->f));
    e->n = ns_st_count(e->f);
    assert_true(e->n <= 63);
    for (int i = 0; i < e->n; i++)
        e->t[i] = *ns_st_get(e->f, i);
    e->nm = ns_st_meta_count(e->f);
    assert_true(e->nm <= 16);
    for (int i = 0; i < e->nm; i++)
        e->m[i] = *ns_st_meta_get(e->f, i);
}

ns_st_tensor *ns_test_edit_find(ns_test_edit *e, const char *name)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->t[i].name, name) == 0)
            return &e->t[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

void ns_test_edit_drop(ns_test_edit *e, const char *name)
{
    ns_st_tensor *t = ns_test_edit_find(e, name);
    int i = (int)(t - e->t);
    memmove(&e->t[i], &e->t[i + 1], (size_t)(e->n - i - 1) * sizeof *t);
    e->n--;
}

void *ns_test_edit_own(ns_test_edit *e, const char *name)
{
    ns_st_tensor *t = ns_test_edit_find(e, name);
    e->data = malloc(t->nbytes);
    assert_non_null(e->data);
    memcpy(e->data, t->data, t->nbytes);
    t->data = e->data;
    return e->data;
}

void ns_test_edit_set_json(ns_test_edit *e, const char *entry, const char *key, json_t *value)
{
    for (int i = 0; i < e->nm; i++) {
        if (strcmp(e->m[i].key, entry) != 0)
            continue;
        json_t *o = json_loads(e->m[i].value, 0, NULL);
        assert_non_null(o);
        if (value != NULL)
            json_object_set_new(o, key, value);
        else
            json_object_del(o, key);
        free(e->json);
        e->json = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        e->m[i].value = e->json;
        return;
    }
    fail_msg("no metadata entry %s", entry);
}

void ns_test_edit_set_text(ns_test_edit *e, const char *entry, const char *text)
{
    for (int i = 0; i < e->nm; i++)
        if (strcmp(e->m[i].key, entry) == 0)
            e->m[i].value = text;
}

void ns_test_edit_write(ns_ctx *ctx, const char *path, ns_test_edit *e)
{
    NS_ASSERT_OK(ctx, ns_st_write(ctx, path, e->t, e->n, e->m, e->nm));
    ns_st_close(e->f);
    free(e->json);
    free(e->data);
    e->f = NULL;
    e->json = NULL;
    e->data = NULL;
}
