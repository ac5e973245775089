/* Data Split: part sizes, the documented unstratified algorithm, stratified class counts,
 * determinism, disjoint covering parts, nested splits, errors and allocation failures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_private.h"
#include "testutil.h"

#define F 2

/* A dataset of n rows whose feature 0 is the row id (feature 1 is id * 10); classification
 * with labels[i] when classes > 0, else regression with y = id. */
static ns_dataset *make_ds(ns_ctx *ctx, int64_t n, const int32_t *labels, int classes)
{
    ns__data_store *s = NULL;
    int shape[1] = {F};
    ns_task task = classes > 0 ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    NS_ASSERT_OK(ctx, ns__store_new(ctx, "ids", n, 1, shape, false, task, 1, &s));
    for (int64_t i = 0; i < n; i++) {
        s->xf[i * F] = (float)i;
        s->xf[i * F + 1] = (float)i * 10.0f;
        if (classes > 0)
            s->labels[i] = labels[i];
        else
            s->y[i] = (float)i;
    }
    if (classes > 0) {
        const char *names[64];
        char buf[64][16];
        for (int c = 0; c < classes; c++) {
            snprintf(buf[c], sizeof buf[c], "c%d", c);
            names[c] = buf[c];
        }
        NS_ASSERT_OK(ctx, ns__store_set_classes(s, classes, names));
    }
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns__dataset_from_store(s, &ds));
    ns__store_release(s);
    return ds;
}

/* Row ids of a view, in its order (malloc'ed; *n rows). */
static int64_t *ids_of(const ns_dataset *ds, int64_t *n)
{
    *n = ds ? ns_dataset_rows(ds) : 0;
    int64_t *ids = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *ids);
    assert_non_null(ids);
    for (int64_t i = 0; i < *n; i++) {
        float x[F];
        ns_dataset_row(ds, i, x, NULL, NULL);
        ids[i] = (int64_t)x[0];
    }
    return ids;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns_split_options opts3(double tr, double va, double te, uint64_t seed)
{
    ns_split_options o;
    ns_split_options_default(&o);
    o.train = tr;
    o.val = va;
    o.test = te;
    o.seed = seed;
    return o;
}

/* Asserts that the parts are disjoint and together hold every row 0..n-1 exactly once. */
static void assert_partition(ns_dataset *const parts[3], int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    int64_t total = 0;
    for (int p = 0; p < 3; p++) {
        int64_t k;
        int64_t *ids = ids_of(parts[p], &k);
        for (int64_t i = 0; i < k; i++) {
            assert_true(ids[i] >= 0 && ids[i] < n);
            assert_int_equal(seen[ids[i]], 0);
            seen[ids[i]] = 1;
        }
        total += k;
        free(ids);
    }
    assert_int_equal(total, n);
    free(seen);
}

static void free_parts(ns_dataset *parts[3])
{
    for (int p = 0; p < 3; p++)
        ns_dataset_free(parts[p]);
}

static void test_defaults(void **state)
{
    (void)state;
    ns_split_options o;
    ns_split_options_default(&o);
    assert_true(o.train == 0.7 && o.val == 0.15 && o.test == 0.15);
    assert_int_equal(o.seed, 0);
    assert_false(o.no_stratify);
}

static void test_counts_three_parts(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 101, NULL, 0);
    ns_split_options o = opts3(0.7, 0.15, 0.15, 1);
    ns_dataset *parts[3] = {NULL, NULL, NULL};
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
    /* cut0 = round(70.7) = 71, cut1 = round(85.85) = 86 */
    assert_int_equal(ns_dataset_rows(parts[0]), 71);
    assert_int_equal(ns_dataset_rows(parts[1]), 15);
    assert_int_equal(ns_dataset_rows(parts[2]), 15);
    assert_partition(parts, 101);
    free_parts(parts);

    /* Ratios are normalised by their sum. */
    o = opts3(7.0, 1.5, 1.5, 1);
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
    assert_int_equal(ns_dataset_rows(parts[0]), 71);
    assert_int_equal(ns_dataset_rows(parts[1]), 15);
    assert_int_equal(ns_dataset_rows(parts[2]), 15);
    free_parts(parts);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_counts_two_parts(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 10, NULL, 0);
    ns_dataset *parts[3] = {NULL, NULL, NULL};
    /* test = 0: the official-test-set case, only train and val. */
    ns_split_options o = opts3(0.75, 0.25, 0.0, 3);
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
    assert_int_equal(ns_dataset_rows(parts[0]), 8); /* round(7.5) = 8 */
    assert_int_equal(ns_dataset_rows(parts[1]), 2);
    assert_null(parts[2]);
    assert_partition(parts, 10);
    free_parts(parts);
    /* val = 0 */
    o = opts3(0.8, 0.0, 0.2, 3);
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
    assert_int_equal(ns_dataset_rows(parts[0]), 8);
    assert_null(parts[1]);
    assert_int_equal(ns_dataset_rows(parts[2]), 2);
    assert_partition(parts, 10);
    free_parts(parts);
    /* Sizes always add up, even where both shares round up (1.5 + 1.5 of 3). */
    ns_dataset *three = make_ds(ctx, 3, NULL, 0);
    o = opts3(0.5, 0.5, 0.0, 3);
    NS_ASSERT_OK(ctx, ns_data_split(three, &o, &parts[0], &parts[1], &parts[2]));
    assert_int_equal(ns_dataset_rows(parts[0]), 2);
    assert_int_equal(ns_dataset_rows(parts[1]), 1);
    free_parts(parts);
    ns_dataset_free(three);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Recomputes the documented unstratified algorithm with ns_rng and compares. */
static void test_unstratified_algorithm(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const int64_t n = 57;
    int32_t labels[57];
    for (int i = 0; i < n; i++)
        labels[i] = i % 3;
    ns_dataset *reg = make_ds(ctx, n, NULL, 0);
    ns_dataset *cls = make_ds(ctx, n, labels, 3);
    int64_t perm[57];
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    ns_rng rng;
    ns_rng_init(&rng, 99, NS_RNG_SPLIT, 0);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = ns_rng_below(&rng, (uint32_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t cut0 = llround(57 * 0.6), cut1 = llround(57 * (0.6 + 0.3));
    ns_split_options o = opts3(0.6, 0.3, 0.1, 99);
    for (int pass = 0; pass < 2; pass++) {
        /* Regression, and classification with no_stratify, take the same path. */
        o.no_stratify = pass == 1;
        ns_dataset *parts[3] = {NULL, NULL, NULL};
        NS_ASSERT_OK(ctx,
                     ns_data_split(pass == 0 ? reg : cls, &o, &parts[0], &parts[1], &parts[2]));
        const int64_t start[3] = {0, cut0, cut1}, end[3] = {cut0, cut1, n};
        for (int p = 0; p < 3; p++) {
            int64_t k;
            int64_t *ids = ids_of(parts[p], &k);
            assert_int_equal(k, end[p] - start[p]);
            for (int64_t i = 0; i < k; i++)
                assert_int_equal(ids[i], perm[start[p] + i]);
            free(ids);
        }
        free_parts(parts);
    }
    ns_dataset_free(reg);
    ns_dataset_free(cls);
    ns_ctx_free(ctx);
}

/* Per-class counts of a part: counts[c]. */
static void class_counts(const ns_dataset *part, int classes, int64_t *counts)
{
    for (int c = 0; c < classes; c++)
        counts[c] = 0;
    for (int64_t i = 0; part && i < ns_dataset_rows(part); i++) {
        int32_t label;
        ns_dataset_row(part, i, NULL, NULL, &label);
        assert_true(label >= 0 && label < classes);
        counts[label]++;
    }
}

static void test_stratified_counts(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const int classes = 3, n = 100;
    const int64_t per_class[3] = {50, 30, 20};
    int32_t labels[100];
    /* Every 10 rows: 5 of class 0, 3 of class 1, 2 of class 2. */
    for (int i = 0; i < n; i++)
        labels[i] = i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2;
    int64_t check[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        check[labels[i]]++;
    assert_true(check[0] == 50 && check[1] == 30 && check[2] == 20);

    ns_dataset *ds = make_ds(ctx, n, labels, classes);
    ns_split_options o = opts3(0.7, 0.15, 0.15, 5);
    ns_dataset *parts[3] = {NULL, NULL, NULL};
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]));
    assert_partition(parts, n);
    const int64_t size[3] = {70, 15, 15};
    for (int p = 0; p < 3; p++) {
        assert_int_equal(ns_dataset_rows(parts[p]), size[p]);
        int64_t counts[3];
        class_counts(parts[p], classes, counts);
        for (int c = 0; c < classes; c++) {
            double ideal = (double)per_class[c] * (double)size[p] / n;
            if (fabs((double)counts[c] - ideal) >= 1.0) {
                fprintf(stderr, "part %d class %d: %lld rows, ideal %g\n", p, c,
                        (long long)counts[c], ideal);
                fail();
            }
        }
    }
    /* train: 35/21/14 exactly */
    int64_t counts[3];
    class_counts(parts[0], classes, counts);
    assert_true(counts[0] == 35 && counts[1] == 21 && counts[2] == 14);
    /* Classes are mixed within a part, not laid out class by class. */
    int changes = 0;
    for (int64_t i = 1; i < ns_dataset_rows(parts[0]); i++) {
        int32_t a, b;
        ns_dataset_row(parts[0], i - 1, NULL, NULL, &a);
        ns_dataset_row(parts[0], i, NULL, NULL, &b);
        changes += a != b;
    }
    assert_true(changes > 10);
    free_parts(parts);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Many small random cases, where largest remainder alone often cannot place every row: each
 * class gives all its rows, each part gets the unstratified size, and each count is the floor
 * or ceiling of the class's share n_c * size_p / n. */
static void test_stratified_rounding_sweep(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    static const double choices[] = {0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0};
    ns_rng rng;
    ns_rng_init(&rng, 2024, NS_RNG_USER, 0);
    int cases = 0;
    for (int t = 0; t < 3000; t++) {
        int classes = 1 + (int)ns_rng_below(&rng, 6);
        int64_t per_class[6], n = 0;
        for (int c = 0; c < classes; c++) {
            per_class[c] = ns_rng_below(&rng, 13);
            n += per_class[c];
        }
        double r[3];
        for (int p = 0; p < 3; p++)
            r[p] = choices[ns_rng_below(&rng, 9)];
        double sum = r[0] + r[1] + r[2];
        if (n == 0 || sum == 0.0)
            continue;
        int32_t labels[72];
        for (int c = 0, i = 0; c < classes; c++)
            for (int64_t k = 0; k < per_class[c]; k++, i++)
                labels[i] = c;
        ns_dataset *ds = make_ds(ctx, n, labels, classes);
        ns_split_options o = opts3(r[0], r[1], r[2], (uint64_t)t);
        ns_dataset *parts[3] = {NULL, NULL, NULL}, *flat[3] = {NULL, NULL, NULL};
        ns_status st = ns_data_split(ds, &o, &parts[0], &parts[1], &parts[2]);
        o.no_stratify = true;
        ns_status st_flat = ns_data_split(ds, &o, &flat[0], &flat[1], &flat[2]);
        assert_int_equal(st, st_flat);
        if (st != NS_OK) {
            /* Only a part too small to get a row fails. */
            assert_int_equal(st, NS_ERR_INVALID);
            NS_ASSERT_MSG_HAS(ctx, "would get 0 of");
            ns_dataset_free(ds);
            continue;
        }
        cases++;
        assert_partition(parts, n);
        int64_t got[3][6];
        for (int p = 0; p < 3; p++) {
            int64_t size = flat[p] ? ns_dataset_rows(flat[p]) : 0;
            assert_int_equal(parts[p] ? ns_dataset_rows(parts[p]) : 0, size);
            class_counts(parts[p], classes, got[p]);
            for (int c = 0; c < classes; c++) {
                int64_t share = per_class[c] * size;
                int64_t lo = share / n, hi = lo + (share % n != 0);
                if (got[p][c] < lo || got[p][c] > hi) {
                    fprintf(stderr, "case %d part %d class %d: %lld rows, share %lld/%lld\n", t, p,
                            c, (long long)got[p][c], (long long)share, (long long)n);
                    fail();
                }
            }
        }
        free_parts(parts);
        free_parts(flat);
        ns_dataset_free(ds);
    }
    assert_true(cases > 2000);
    ns_ctx_free(ctx);
}

static void test_determinism(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    int32_t labels[200];
    for (int i = 0; i < 200; i++)
        labels[i] = (i * 7) % 4;
    ns_dataset *ds = make_ds(ctx, 200, labels, 4);
    for (int strat = 0; strat < 2; strat++) {
        ns_split_options o = opts3(0.6, 0.2, 0.2, 42);
        o.no_stratify = strat == 0;
        ns_dataset *a[3], *b[3], *c[3];
        NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &a[0], &a[1], &a[2]));
        NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &b[0], &b[1], &b[2]));
        o.seed = 43;
        NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &c[0], &c[1], &c[2]));
        for (int p = 0; p < 3; p++) {
            int64_t na, nb, nc;
            int64_t *ia = ids_of(a[p], &na), *ib = ids_of(b[p], &nb), *ic = ids_of(c[p], &nc);
            assert_int_equal(na, nb);
            assert_memory_equal(ia, ib, (size_t)na * sizeof *ia);
            assert_int_equal(ns_dataset_hash(a[p]), ns_dataset_hash(b[p]));
            /* Another seed: same sizes, other rows. */
            assert_int_equal(na, nc);
            assert_true(memcmp(ia, ic, (size_t)na * sizeof *ia) != 0);
            assert_true(ns_dataset_hash(a[p]) != ns_dataset_hash(c[p]));
            free(ia);
            free(ib);
            free(ic);
        }
        free_parts(a);
        free_parts(b);
        free_parts(c);
    }
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_null_outputs_and_nested(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 40, NULL, 0);
    ns_split_options o = opts3(0.5, 0.25, 0.25, 8);
    ns_dataset *all[3];
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, &all[0], &all[1], &all[2]));
    /* Dropping a part does not change the others. */
    ns_dataset *val = NULL;
    NS_ASSERT_OK(ctx, ns_data_split(ds, &o, NULL, &val, NULL));
    assert_int_equal(ns_dataset_hash(val), ns_dataset_hash(all[1]));
    ns_dataset_free(val);
    /* A split of a part numbers rows in the part and covers exactly its rows. */
    ns_dataset *inner[3] = {NULL, NULL, NULL};
    ns_split_options o2 = opts3(0.75, 0.25, 0.0, 9);
    NS_ASSERT_OK(ctx, ns_data_split(all[0], &o2, &inner[0], &inner[1], &inner[2]));
    assert_int_equal(ns_dataset_rows(inner[0]) + ns_dataset_rows(inner[1]), 20);
    int64_t k0, k1, kp;
    int64_t *i0 = ids_of(inner[0], &k0), *i1 = ids_of(inner[1], &k1), *ip = ids_of(all[0], &kp);
    int hits = 0;
    for (int64_t i = 0; i < kp; i++) {
        for (int64_t j = 0; j < k0; j++)
            hits += i0[j] == ip[i];
        for (int64_t j = 0; j < k1; j++)
            hits += i1[j] == ip[i];
    }
    assert_int_equal(hits, 20);
    free(i0);
    free(i1);
    free(ip);
    /* Views outlive their parent. */
    ns_dataset_free(all[0]);
    all[0] = NULL;
    float x[F];
    ns_dataset_row(inner[0], 0, x, NULL, NULL);
    free_parts(inner);
    free_parts(all);
    /* opts NULL: the defaults. */
    ns_dataset *t = NULL;
    NS_ASSERT_OK(ctx, ns_data_split(ds, NULL, &t, NULL, NULL));
    assert_int_equal(ns_dataset_rows(t), 28);
    ns_dataset_free(t);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 5, NULL, 0);
    ns_dataset *a = ds, *b = ds, *c = ds;
    ns_split_options o = opts3(0.7, -0.1, 0.3, 0);
    NS_ASSERT_STATUS(ctx, ns_data_split(ds, &o, &a, &b, &c), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "val ratio is -0.1");
    assert_true(a == NULL && b == NULL && c == NULL);
    o = opts3(0.7, (double)NAN, 0.3, 0);
    NS_ASSERT_STATUS(ctx, ns_data_split(ds, &o, &a, &b, &c), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "finite");
    o = opts3(HUGE_VAL, 0.0, 0.0, 0);
    NS_ASSERT_STATUS(ctx, ns_data_split(ds, &o, &a, &b, &c), NS_ERR_INVALID);
    o = opts3(0.0, 0.0, 0.0, 0);
    NS_ASSERT_STATUS(ctx, ns_data_split(ds, &o, &a, &b, &c), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "positive");
    /* round(5 * 0.95) = 5 leaves val nothing. */
    o = opts3(0.95, 0.05, 0.0, 0);
    NS_ASSERT_STATUS(ctx, ns_data_split(ds, &o, &a, &b, &c), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "the val part");
    NS_ASSERT_MSG_HAS(ctx, "would get 0 of 5 rows");
    assert_true(a == NULL && b == NULL && c == NULL);
    ns_dataset_free(ds);
    /* An empty dataset has no rows to give. */
    ns_dataset *empty = make_ds(ctx, 0, NULL, 0);
    o = opts3(1.0, 0.0, 0.0, 0);
    NS_ASSERT_STATUS(ctx, ns_data_split(empty, &o, &a, NULL, NULL), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "the train part");
    ns_dataset_free(empty);
    ns_ctx_free(ctx);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    ns_test_alloc ta = {0};
    ns_allocator al = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
    int32_t labels[30];
    for (int i = 0; i < 30; i++)
        labels[i] = i % 3;
    ns_dataset *ds = make_ds(ctx, 30, labels, 3);
    long live = ta.live;
    ns_split_options o = opts3(0.6, 0.2, 0.2, 1);
    bool done = false;
    for (size_t k = 1; !done && k < 100; k++) {
        ta.fail_at = ta.calls + k;
        ns_dataset *p[3] = {NULL, NULL, NULL};
        ns_status st = ns_data_split(ds, &o, &p[0], &p[1], &p[2]);
        ta.fail_at = 0;
        if (st == NS_OK) {
            done = true;
            free_parts(p);
        } else {
            assert_int_equal(st, NS_ERR_NOMEM);
            assert_true(p[0] == NULL && p[1] == NULL && p[2] == NULL);
        }
        assert_int_equal(ta.live, live);
    }
    assert_true(done);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_counts_three_parts),
        cmocka_unit_test(test_counts_two_parts),
        cmocka_unit_test(test_unstratified_algorithm),
        cmocka_unit_test(test_stratified_counts),
        cmocka_unit_test(test_stratified_rounding_sweep),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_null_outputs_and_nested),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
