/* Prepare Batch: counts and sizes, drop_last, the documented per-epoch order, access-order
 * independence, no_shuffle, prefetching (bit-identical to the synchronous path, sequential and
 * random access, freeing mid-epoch), normalised datasets, errors and allocation failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_private.h"
#include "testutil.h"

#define F 3

/* n rows; feature 0 is the row id, the others derived from it; classification (labels id %
 * classes) when classes > 0, else regression with y[i] = {id, -id}. */
static ns_dataset *make_ds(ns_ctx *ctx, int64_t n, int classes)
{
    ns__data_store *s = NULL;
    int shape[1] = {F};
    ns_task task = classes > 0 ? NS_TASK_CLASSIFICATION : NS_TASK_REGRESSION;
    NS_ASSERT_OK(ctx, ns__store_new(ctx, "ids", n, 1, shape, false, task, 2, &s));
    for (int64_t i = 0; i < n; i++) {
        s->xf[i * F] = (float)i;
        s->xf[i * F + 1] = (float)i * 0.5f + 1.0f;
        s->xf[i * F + 2] = -(float)i;
        if (classes > 0) {
            s->labels[i] = (int32_t)(i % classes);
        } else {
            s->y[i * 2] = (float)i;
            s->y[i * 2 + 1] = -(float)i;
        }
    }
    ns_dataset *ds = NULL;
    NS_ASSERT_OK(ctx, ns__dataset_from_store(s, &ds));
    ns__store_release(s);
    return ds;
}

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static ns_batch_options bopts(int bs, uint64_t seed)
{
    ns_batch_options o;
    memset(&o, 0, sizeof o);
    o.batch_size = bs;
    o.seed = seed;
    return o;
}

static ns_batcher *new_batcher(ns_ctx *ctx, const ns_dataset *ds, const ns_batch_options *o)
{
    ns_batcher *b = NULL;
    NS_ASSERT_OK(ctx, ns_batcher_new(ds, o, &b));
    return b;
}

/* The documented order of an epoch: Fisher-Yates with (seed, NS_RNG_SHUFFLE, epoch). */
static void reference_order(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    ns_rng rng;
    ns_rng_init(&rng, seed, NS_RNG_SHUFFLE, (uint64_t)epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = ns_rng_below(&rng, (uint32_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void test_counts_and_sizes(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 10, 0);
    ns_batch_options o = bopts(3, 1);
    ns_batcher *b = new_batcher(ctx, ds, &o);
    assert_int_equal(ns_batcher_count(b), 4);
    const int sizes[4] = {3, 3, 3, 1};
    for (int i = 0; i < 4; i++) {
        ns_batch bt;
        NS_ASSERT_OK(ctx, ns_batcher_get(b, 0, i, &bt));
        assert_int_equal(bt.n, sizes[i]);
        assert_int_equal(bt.epoch, 0);
        assert_int_equal(bt.index, i);
        assert_non_null(bt.x);
        assert_non_null(bt.y);
        assert_null(bt.labels);
        for (int r = 0; r < bt.n; r++) {
            /* targets travel with their rows */
            assert_true(bt.y[r * 2] == bt.x[r * F]);
            assert_true(bt.y[r * 2 + 1] == -bt.x[r * F]);
            assert_true(bt.x[r * F + 1] == bt.x[r * F] * 0.5f + 1.0f);
        }
    }
    ns_batcher_free(b);

    o.drop_last = true;
    b = new_batcher(ctx, ds, &o);
    assert_int_equal(ns_batcher_count(b), 3);
    ns_batch bt;
    NS_ASSERT_STATUS(ctx, ns_batcher_get(b, 0, 3, &bt), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "3 batches");
    ns_batcher_free(b);

    /* Exact multiple: drop_last changes nothing. */
    o = bopts(5, 1);
    b = new_batcher(ctx, ds, &o);
    assert_int_equal(ns_batcher_count(b), 2);
    ns_batcher_free(b);
    o.drop_last = true;
    b = new_batcher(ctx, ds, &o);
    assert_int_equal(ns_batcher_count(b), 2);
    ns_batcher_free(b);

    /* A batch larger than the dataset: one short batch, or none with drop_last. */
    o = bopts(64, 1);
    b = new_batcher(ctx, ds, &o);
    assert_int_equal(ns_batcher_count(b), 1);
    NS_ASSERT_OK(ctx, ns_batcher_get(b, 0, 0, &bt));
    assert_int_equal(bt.n, 10);
    ns_batcher_free(b);
    o.drop_last = true;
    o.prefetch = 2;
    b = new_batcher(ctx, ds, &o);
    assert_int_equal(ns_batcher_count(b), 0);
    NS_ASSERT_STATUS(ctx, ns_batcher_get(b, 0, 0, &bt), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "no batch of 64 with drop_last");
    ns_batcher_free(b);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Ids (feature 0) of every row of an epoch, in batch order. */
static void epoch_ids(ns_ctx *ctx, ns_batcher *b, int64_t epoch, int64_t *ids)
{
    int64_t k = 0;
    for (int64_t i = 0; i < ns_batcher_count(b); i++) {
        ns_batch bt;
        NS_ASSERT_OK(ctx, ns_batcher_get(b, epoch, i, &bt));
        for (int r = 0; r < bt.n; r++)
            ids[k++] = (int64_t)bt.x[r * F];
    }
}

static void test_order(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    enum { N = 103 };
    ns_dataset *ds = make_ds(ctx, N, 4);
    ns_batch_options o = bopts(8, 77);
    ns_batcher *b = new_batcher(ctx, ds, &o);
    int64_t ids[N], prev[N], ref[N];
    for (int64_t e = 0; e < 3; e++) {
        epoch_ids(ctx, b, e, ids);
        /* a permutation ... */
        char seen[N] = {0};
        for (int i = 0; i < N; i++) {
            assert_true(ids[i] >= 0 && ids[i] < N);
            assert_int_equal(seen[ids[i]], 0);
            seen[ids[i]] = 1;
        }
        /* ... exactly the documented one ... */
        reference_order(ref, N, 77, e);
        assert_memory_equal(ids, ref, sizeof ids);
        /* ... and another each epoch. */
        if (e > 0)
            assert_true(memcmp(ids, prev, sizeof ids) != 0);
        memcpy(prev, ids, sizeof ids);
    }
    /* Labels travel with their rows. */
    ns_batch bt;
    NS_ASSERT_OK(ctx, ns_batcher_get(b, 1, 2, &bt));
    assert_null(bt.y);
    assert_non_null(bt.labels);
    for (int r = 0; r < bt.n; r++)
        assert_int_equal(bt.labels[r], (int64_t)bt.x[r * F] % 4);
    ns_batcher_free(b);

    /* no_shuffle keeps the dataset's order, every epoch. */
    o.no_shuffle = true;
    b = new_batcher(ctx, ds, &o);
    for (int64_t e = 0; e < 2; e++) {
        epoch_ids(ctx, b, e, ids);
        for (int i = 0; i < N; i++)
            assert_int_equal(ids[i], i);
    }
    ns_batcher_free(b);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* A copy of every batch of epochs 0..epochs-1: x then y or labels, per batch. */
typedef struct snapshot {
    int64_t count;
    int bs;
    float *x;     /* [epochs, count, bs, F] */
    float *y;     /* [epochs, count, bs, 2] */
    int32_t *lab; /* [epochs, count, bs] */
    int *n;       /* [epochs, count] */
} snapshot;

static void snap_take(ns_ctx *ctx, ns_batcher *b, snapshot *s, int epochs)
{
    s->count = ns_batcher_count(b);
    size_t slots = (size_t)epochs * (size_t)s->count;
    s->x = calloc(slots * (size_t)s->bs * F, sizeof(float));
    s->y = calloc(slots * (size_t)s->bs * 2, sizeof(float));
    s->lab = calloc(slots * (size_t)s->bs, sizeof(int32_t));
    s->n = calloc(slots, sizeof(int));
    assert_true(s->x && s->y && s->lab && s->n);
    for (int e = 0; e < epochs; e++) {
        for (int64_t i = 0; i < s->count; i++) {
            ns_batch bt;
            NS_ASSERT_OK(ctx, ns_batcher_get(b, e, i, &bt));
            size_t k = (size_t)e * (size_t)s->count + (size_t)i;
            s->n[k] = bt.n;
            memcpy(s->x + k * (size_t)s->bs * F, bt.x, (size_t)bt.n * F * sizeof(float));
            if (bt.y)
                memcpy(s->y + k * (size_t)s->bs * 2, bt.y, (size_t)bt.n * 2 * sizeof(float));
            if (bt.labels)
                memcpy(s->lab + k * (size_t)s->bs, bt.labels, (size_t)bt.n * sizeof(int32_t));
        }
    }
}

static void snap_free(snapshot *s)
{
    free(s->x);
    free(s->y);
    free(s->lab);
    free(s->n);
}

/* Asserts that bt is, bit for bit, the snapshot's batch (e, i). */
static void snap_check(const snapshot *s, const ns_batch *bt, int64_t e, int64_t i)
{
    size_t k = (size_t)e * (size_t)s->count + (size_t)i;
    assert_int_equal(bt->epoch, e);
    assert_int_equal(bt->index, i);
    assert_int_equal(bt->n, s->n[k]);
    assert_memory_equal(bt->x, s->x + k * (size_t)s->bs * F, (size_t)bt->n * F * sizeof(float));
    if (bt->y)
        assert_memory_equal(bt->y, s->y + k * (size_t)s->bs * 2, (size_t)bt->n * 2 * sizeof(float));
    if (bt->labels)
        assert_memory_equal(bt->labels, s->lab + k * (size_t)s->bs,
                            (size_t)bt->n * sizeof(int32_t));
}

/* Random (epoch, index) pairs: jumps, repeats, going back, and runs in order. */
static void random_access(ns_ctx *ctx, ns_batcher *b, const snapshot *s, int epochs, uint64_t seed,
                          int steps)
{
    ns_rng rng;
    ns_rng_init(&rng, seed, NS_RNG_USER, 3);
    int64_t e = 0, i = 0;
    for (int t = 0; t < steps; t++) {
        uint32_t move = ns_rng_below(&rng, 4);
        if (move == 0) { /* jump anywhere */
            e = ns_rng_below(&rng, (uint32_t)epochs);
            i = ns_rng_below(&rng, (uint32_t)s->count);
        } else if (move == 1) { /* skip ahead a little */
            i += 1 + ns_rng_below(&rng, 3);
        } else if (move == 2 && t % 7 == 0) { /* the same batch again */
        } else {                              /* the next one */
            i++;
        }
        if (i >= s->count) {
            i = 0;
            e = (e + 1) % epochs;
        }
        ns_batch bt;
        NS_ASSERT_OK(ctx, ns_batcher_get(b, e, i, &bt));
        snap_check(s, &bt, e, i);
    }
}

/* The same (epoch, index) gives the same batch whatever was fetched before. */
static void test_access_order_independent(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 50, 3);
    ns_batch_options o = bopts(7, 5);
    ns_batcher *b = new_batcher(ctx, ds, &o);
    snapshot s = {.bs = 7};
    snap_take(ctx, b, &s, 3);
    /* backwards */
    for (int64_t e = 2; e >= 0; e--) {
        for (int64_t i = s.count - 1; i >= 0; i--) {
            ns_batch bt;
            NS_ASSERT_OK(ctx, ns_batcher_get(b, e, i, &bt));
            snap_check(&s, &bt, e, i);
        }
    }
    random_access(ctx, b, &s, 3, 1, 300);
    /* A fresh batcher asked out of order from the start agrees too. */
    ns_batcher *c = new_batcher(ctx, ds, &o);
    random_access(ctx, c, &s, 3, 2, 100);
    ns_batcher_free(c);
    ns_batcher_free(b);
    snap_free(&s);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void prefetch_matches(int classes, int64_t rows, int bs, bool drop_last, bool no_shuffle)
{
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, rows, classes);
    ns_batch_options o = bopts(bs, 1234);
    o.drop_last = drop_last;
    o.no_shuffle = no_shuffle;
    enum { EPOCHS = 5 };
    ns_batcher *sync = new_batcher(ctx, ds, &o);
    snapshot s = {.bs = bs};
    snap_take(ctx, sync, &s, EPOCHS);
    ns_batcher_free(sync);
    const int depths[] = {1, 2, 3, 8};
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        o.prefetch = depths[d];
        ns_batcher *b = new_batcher(ctx, ds, &o);
        assert_int_equal(ns_batcher_count(b), s.count);
        /* sequentially over 5 epochs (the prefetcher crosses epoch boundaries) */
        const float *used[EPOCHS * 64];
        int n_used = 0;
        for (int64_t e = 0; e < EPOCHS; e++) {
            for (int64_t i = 0; i < s.count; i++) {
                ns_batch bt;
                NS_ASSERT_OK(ctx, ns_batcher_get(b, e, i, &bt));
                snap_check(&s, &bt, e, i);
                if (n_used < EPOCHS * 64)
                    used[n_used++] = bt.x;
            }
        }
        /* Batches asked for in order all came from the ring, never from the synchronous
         * path's buffer (which going back to (0, 0) must use). */
        ns_batch back;
        NS_ASSERT_OK(ctx, ns_batcher_get(b, 0, 0, &back));
        snap_check(&s, &back, 0, 0);
        for (int k = 0; k < n_used; k++)
            assert_true(used[k] != back.x);
        /* then random access, then in order again from the middle */
        random_access(ctx, b, &s, EPOCHS, (uint64_t)d, 400);
        for (int64_t e = 2; e < EPOCHS; e++) {
            for (int64_t i = e == 2 ? s.count / 2 : 0; i < s.count; i++) {
                ns_batch bt;
                NS_ASSERT_OK(ctx, ns_batcher_get(b, e, i, &bt));
                snap_check(&s, &bt, e, i);
            }
        }
        ns_batcher_free(b);
    }
    snap_free(&s);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_prefetch_bit_identical(void **state)
{
    (void)state;
    prefetch_matches(0, 103, 8, false, false); /* regression, short last batch */
    prefetch_matches(5, 103, 8, true, false);  /* classification, drop_last */
    prefetch_matches(3, 64, 16, false, false); /* exact multiple */
    prefetch_matches(0, 40, 6, false, true);   /* no_shuffle */
    prefetch_matches(2, 5, 1, false, false);   /* one-row batches */
    prefetch_matches(2, 9, 32, false, false);  /* one batch per epoch */
}

static void test_prefetch_free_mid_epoch(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 1000, 0);
    ns_batch_options o = bopts(4, 9);
    o.prefetch = 6;
    for (int k = 0; k < 20; k++) {
        ns_batcher *b = new_batcher(ctx, ds, &o);
        for (int i = 0; i < k; i++) {
            ns_batch bt;
            NS_ASSERT_OK(ctx, ns_batcher_get(b, 0, i * (k % 3 == 0 ? 2 : 1), &bt));
        }
        ns_batcher_free(b); /* the producer may be filling a batch right now */
    }
    ns_batcher_free(NULL);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

/* Batches of a normalised view are normalised, exactly as its rows are. */
static void test_normalised_view(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 30, 2);
    ns_norm nm;
    NS_ASSERT_OK(ctx, ns_norm_fit(ctx, ds, NS_NORM_STANDARD, &nm));
    ns_dataset *norm = NULL;
    NS_ASSERT_OK(ctx, ns_data_normalize(ds, &nm, &norm));
    ns_batch_options o = bopts(4, 3);
    o.no_shuffle = true;
    o.prefetch = 2;
    ns_batcher *b = new_batcher(ctx, norm, &o);
    for (int64_t i = 0; i < ns_batcher_count(b); i++) {
        ns_batch bt;
        NS_ASSERT_OK(ctx, ns_batcher_get(b, 0, i, &bt));
        for (int r = 0; r < bt.n; r++) {
            float x[F];
            int32_t label;
            ns_dataset_row(norm, i * 4 + r, x, NULL, &label);
            assert_memory_equal(bt.x + r * F, x, sizeof x);
            assert_int_equal(bt.labels[r], label);
        }
    }
    ns_batcher_free(b);
    ns_dataset_free(norm);
    ns_norm_deinit(ctx, &nm);
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_dataset *ds = make_ds(ctx, 10, 0);
    ns_batcher *b = (ns_batcher *)(void *)ds; /* must be reset */
    ns_batch_options o = bopts(0, 0);
    NS_ASSERT_STATUS(ctx, ns_batcher_new(ds, &o, &b), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "batch_size must be >= 1, got 0");
    assert_null(b);
    o = bopts(2, 0);
    o.prefetch = -1;
    NS_ASSERT_STATUS(ctx, ns_batcher_new(ds, &o, &b), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, "prefetch");
    o.prefetch = 100000;
    NS_ASSERT_STATUS(ctx, ns_batcher_new(ds, &o, &b), NS_ERR_INVALID);

    for (int pf = 0; pf <= 1; pf++) {
        o.prefetch = pf;
        b = new_batcher(ctx, ds, &o);
        ns_batch bt;
        NS_ASSERT_STATUS(ctx, ns_batcher_get(b, 0, 5, &bt), NS_ERR_INVALID);
        NS_ASSERT_MSG_HAS(ctx, "index 5 is out of range");
        NS_ASSERT_MSG_HAS(ctx, "5 batches (0..4)");
        assert_null(bt.x);
        NS_ASSERT_STATUS(ctx, ns_batcher_get(b, 0, -1, &bt), NS_ERR_INVALID);
        NS_ASSERT_STATUS(ctx, ns_batcher_get(b, -1, 0, &bt), NS_ERR_INVALID);
        NS_ASSERT_MSG_HAS(ctx, "epoch -1");
        /* still usable afterwards */
        NS_ASSERT_OK(ctx, ns_batcher_get(b, 0, 4, &bt));
        assert_int_equal(bt.n, 2);
        ns_batcher_free(b);
    }
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    ns_test_alloc ta = {0};
    ns_allocator al = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&al, &ctx), NS_OK);
    ns_dataset *ds = make_ds(ctx, 20, 2);
    long live = ta.live;
    for (int pf = 0; pf <= 3; pf += 3) {
        ns_batch_options o = bopts(6, 1);
        o.prefetch = pf;
        bool done = false;
        for (size_t k = 1; !done; k++) {
            assert_true(k < 100);
            ta.fail_at = ta.calls + k;
            ns_batcher *b = NULL;
            ns_status st = ns_batcher_new(ds, &o, &b);
            ta.fail_at = 0;
            if (st == NS_OK) {
                done = true;
                ns_batch bt;
                NS_ASSERT_OK(ctx, ns_batcher_get(b, 1, 3, &bt));
                ns_batcher_free(b);
            } else {
                NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
                assert_null(b);
            }
            assert_int_equal(ta.live, live);
        }
    }
    ns_dataset_free(ds);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_sizes),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_access_order_independent),
        cmocka_unit_test(test_prefetch_bit_identical),
        cmocka_unit_test(test_prefetch_free_mid_epoch),
        cmocka_unit_test(test_normalised_view),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
