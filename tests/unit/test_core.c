/* Core: status strings, context messages, allocation hooks, arena, random streams. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static void test_status_strings(void **state)
{
    (void)state;
    assert_string_equal(ns_status_str(NS_OK), "ok");
    assert_string_equal(ns_status_str(NS_ERR_NOMEM), "out of memory");
    assert_string_equal(ns_status_str(NS_ERR_NOTFOUND), "not found");
    assert_string_equal(ns_status_str((ns_status)-999), "unknown status");
}

static void test_ctx_messages(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    assert_string_equal(ns_errmsg(ctx), "");
    assert_int_equal(ns_errorf(ctx, NS_ERR_PARSE, "spec.json: %s[%d]", "hidden_layers", 1),
                     NS_ERR_PARSE);
    assert_string_equal(ns_errmsg(ctx), "spec.json: hidden_layers[1]");
    /* A message may wrap the previous one. */
    ns_errorf(ctx, NS_ERR_IO, "outer: %s", ns_errmsg(ctx));
    assert_string_equal(ns_errmsg(ctx), "outer: spec.json: hidden_layers[1]");
    ns_errclear(ctx);
    assert_string_equal(ns_errmsg(ctx), "");
    ns_ctx_free(ctx);
    ns_ctx_free(NULL);
}

static void test_alloc_hooks_fail_nth(void **state)
{
    (void)state;
    ns_test_alloc ta = {0};
    ns_allocator a = ns_test_allocator(&ta);
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
    ta.fail_at = ta.calls + 2;
    void *p1 = ns_alloc(ctx, 16);
    assert_non_null(p1);
    void *p2 = ns_alloc(ctx, 16);
    assert_null(p2);
    NS_ASSERT_MSG_HAS(ctx, "out of memory");
    ns_dealloc(ctx, p1);
    ns_ctx_free(ctx);
    assert_int_equal(ta.live, 0);
}

static void test_arena_alignment_and_bounds(void **state)
{
    (void)state;
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    ns_arena ar;
    size_t cap = ns_arena_plan_floats(3) + ns_arena_plan_floats(100);
    assert_int_equal(ns_arena_init(ctx, &ar, cap), NS_OK);
    float *a = ns_arena_floats(&ar, 3);
    float *b = ns_arena_floats(&ar, 100);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)b % 64, 0);
    assert_null(ns_arena_floats(&ar, 1)); /* plan exhausted */
    ns_arena_reset(&ar);
    assert_ptr_equal(ns_arena_floats(&ar, 3), a);
    ns_arena_deinit(ctx, &ar);
    ns_ctx_free(ctx);
}

static void test_rng_streams(void **state)
{
    (void)state;
    ns_rng a, b, c;
    ns_rng_init(&a, 42, NS_RNG_DROPOUT, 7);
    ns_rng_init(&b, 42, NS_RNG_DROPOUT, 7);
    ns_rng_init(&c, 42, NS_RNG_DROPOUT, 8);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = ns_rng_u32(&a), y = ns_rng_u32(&b), z = ns_rng_u32(&c);
        assert_int_equal(x, y);
        same_c += (x == z);
    }
    assert_true(same_c < 3);
    /* Uniform moments and range. */
    ns_rng r;
    ns_rng_init(&r, 1, NS_RNG_USER, 0);
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = ns_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += (double)u;
        sq += (double)u * (double)u;
    }
    NS_ASSERT_CLOSE(sum / n, 0.5, 0, 0.005);
    NS_ASSERT_CLOSE(sq / n - (sum / n) * (sum / n), 1.0 / 12, 0, 0.002);
    /* Normal moments. */
    sum = sq = 0;
    for (int i = 0; i < n; i++) {
        float z = ns_rng_normal(&r);
        assert_true(isfinite(z));
        sum += (double)z;
        sq += (double)z * (double)z;
    }
    NS_ASSERT_CLOSE(sum / n, 0.0, 0, 0.01);
    NS_ASSERT_CLOSE(sq / n, 1.0, 0, 0.02);
    /* below(n) stays in range and hits every value. */
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t v = ns_rng_below(&r, 7);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(seen[i] > 800);
}

static void test_rng_copy_resumes_stream(void **state)
{
    (void)state;
    ns_rng a;
    ns_rng_init(&a, 5, NS_RNG_SHUFFLE, 0);
    for (int i = 0; i < 5; i++)
        (void)ns_rng_u32(&a);
    ns_rng saved = a;
    uint32_t next[10];
    for (int i = 0; i < 10; i++)
        next[i] = ns_rng_u32(&a);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ns_rng_u32(&saved), next[i]);
}

/* The bulk fill gives exactly the values of one-by-one draws, from any stream position. */
static void test_rng_fill_matches_single_draws(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 12, 13, 31, 32, 33, 36, 64, 100, 1000};
    for (int wrap = 0; wrap < 2; wrap++)
        for (int skip = 0; skip < 6; skip++) {
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                size_t n = sizes[s];
                ns_rng a, b;
                ns_rng_init(&a, 9, NS_RNG_DROPOUT, 3);
                if (wrap)
                    a.ctr[0] = UINT32_MAX - 5; /* the counter wraps inside the bulk path */
                for (int k = 0; k < skip; k++)
                    (void)ns_rng_u32(&a);
                b = a;
                float bulk[1000], one[1000];
                ns_rng_fill_uniform(&a, bulk, n);
                for (size_t i = 0; i < n; i++)
                    one[i] = ns_rng_uniform(&b);
                assert_memory_equal(bulk, one, n * sizeof(float));
                assert_int_equal(ns_rng_u32(&a), ns_rng_u32(&b)); /* and the streams go on alike */
            }
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_ctx_messages),
        cmocka_unit_test(test_alloc_hooks_fail_nth),
        cmocka_unit_test(test_arena_alignment_and_bounds),
        cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_rng_copy_resumes_stream),
        cmocka_unit_test(test_rng_fill_matches_single_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
