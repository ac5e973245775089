/* safetensors: round trips (memory and disk), the official library's bytes, one test per
 * malformed-file rule, writer argument checks, allocation-failure injection and a
 * deterministic mutation loop that must never crash (run it under ASan). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static ns_ctx *new_ctx(void)
{
    ns_ctx *ctx = NULL;
    assert_int_equal(ns_ctx_new(NULL, &ctx), NS_OK);
    return ctx;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A file image: u64 header length, header, then data_len bytes of data (zeros if NULL). */
static unsigned char *make_file(const char *header, const void *data, size_t data_len, size_t *len)
{
    size_t hlen = strlen(header);
    *len = 8 + hlen + data_len;
    unsigned char *buf = calloc(1, *len);
    assert_non_null(buf);
    put_le64(buf, hlen);
    memcpy(buf + 8, header, hlen);
    if (data != NULL)
        memcpy(buf + 8 + hlen, data, data_len);
    return buf;
}

/* Parses raw bytes as "bad.safetensors" and expects status `want` with needle in the message. */
static void expect_raw(const void *bytes, size_t len, ns_status want, const char *needle)
{
    ns_ctx *ctx = new_ctx();
    ns_st_file *f = (ns_st_file *)&f; /* must be reset to NULL */
    NS_ASSERT_STATUS(ctx, ns_st_parse(ctx, bytes, len, "bad.safetensors", &f), want);
    assert_null(f);
    NS_ASSERT_MSG_HAS(ctx, "bad.safetensors");
    NS_ASSERT_MSG_HAS(ctx, needle);
    ns_ctx_free(ctx);
}

static void expect_status(const char *header, size_t data_len, ns_status want, const char *needle)
{
    size_t len;
    unsigned char *buf = make_file(header, NULL, data_len, &len);
    expect_raw(buf, len, want, needle);
    free(buf);
}

static void expect_format(const char *header, size_t data_len, const char *needle)
{
    expect_status(header, data_len, NS_ERR_FORMAT, needle);
}

/* Parses a header that must be accepted. */
static ns_st_file *parse_ok(ns_ctx *ctx, const char *header, const void *data, size_t data_len)
{
    size_t len;
    unsigned char *buf = make_file(header, data, data_len, &len);
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_parse(ctx, buf, len, "good.safetensors", &f));
    free(buf);
    return f;
}

/* ---- a sample with every kind of entry ------------------------------------------------------- */

static const float s_f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
static const int64_t s_i64[3] = {-1, 0, INT64_MAX};
static const uint8_t s_u8[5] = {0, 1, 127, 128, 255};
static const uint16_t s_f16[3] = {0x3C00, 0xC000, 0x7C00};
static const uint16_t s_bf16[2] = {0x3F80, 0xFF80};
static const double s_f64 = 3.141592653589793;
static const uint8_t s_bool[2] = {1, 0};
static const float s_one = 42.0f;

#define N_SAMPLE 10
#define N_SAMPLE_META 3

static void sample(ns_st_tensor t[N_SAMPLE], ns_st_meta m[N_SAMPLE_META])
{
    const ns_st_tensor ts[N_SAMPLE] = {
        {"w.f32", NS_DTYPE_F32, 2, {2, 3}, s_f32, sizeof s_f32},
        {"idx", NS_DTYPE_I64, 1, {3}, s_i64, sizeof s_i64},
        {"mask", NS_DTYPE_U8, 1, {5}, s_u8, sizeof s_u8},
        {"half", NS_DTYPE_F16, 1, {3}, s_f16, sizeof s_f16},
        {"bf", NS_DTYPE_BF16, 1, {2}, s_bf16, sizeof s_bf16},
        {"scalar", NS_DTYPE_F64, 0, {0}, &s_f64, sizeof s_f64},
        {"empty", NS_DTYPE_F32, 2, {0, 4}, NULL, 0},
        {"empty2", NS_DTYPE_I32, 2, {3, 0}, NULL, 0},
        {"layer.\"0\"\\weight/\xC3\xA9", NS_DTYPE_F32, 1, {1}, &s_one, sizeof s_one},
        {"flags", NS_DTYPE_BOOL, 1, {2}, s_bool, sizeof s_bool},
    };
    const ns_st_meta ms[N_SAMPLE_META] = {
        {"format", "pt"},
        {"note", "he said \"hi\" \\ and\nleft\ttabs /"},
        {"\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87 \xF0\x9F\x99\x82",
         "\xE6\x97\xA5\xE6\x9C\xAC \xE2\x9C\x93"},
    };
    memcpy(t, ts, sizeof ts);
    memcpy(m, ms, sizeof ms);
}

static void check_same(const ns_st_file *f, const ns_st_tensor *t, int n, const ns_st_meta *m,
                       int n_meta)
{
    assert_int_equal(ns_st_count(f), n);
    for (int i = 0; i < n; i++) {
        const ns_st_tensor *g = ns_st_get(f, i);
        /* Written packed in the given order, so data-offset order is the given order. */
        assert_string_equal(g->name, t[i].name);
        assert_ptr_equal(ns_st_find(f, t[i].name), g);
        assert_int_equal(g->dtype, t[i].dtype);
        assert_int_equal(g->ndim, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++)
            assert_int_equal(g->shape[d], t[i].shape[d]);
        assert_int_equal(g->nbytes, t[i].nbytes);
        assert_non_null(g->data);
        if (t[i].nbytes)
            assert_memory_equal(g->data, t[i].data, t[i].nbytes);
    }
    assert_null(ns_st_find(f, "absent"));
    assert_null(ns_st_find(f, ""));
    assert_int_equal(ns_st_meta_count(f), n_meta);
    for (int i = 0; i < n_meta; i++) {
        assert_string_equal(ns_st_meta_get(f, i)->key, m[i].key);
        assert_string_equal(ns_st_meta_get(f, i)->value, m[i].value);
        assert_string_equal(ns_st_meta_find(f, m[i].key), m[i].value);
    }
    assert_null(ns_st_meta_find(f, "absent"));
}

/* ---- dtypes and round trips ------------------------------------------------------------------ */

static void test_dtype_table(void **state)
{
    (void)state;
    assert_string_equal(ns_dtype_name(NS_DTYPE_F32), "F32");
    assert_string_equal(ns_dtype_name(NS_DTYPE_F8_E4M3), "F8_E4M3");
    assert_int_equal(ns_dtype_size(NS_DTYPE_F32), 4);
    assert_int_equal(ns_dtype_size(NS_DTYPE_BF16), 2);
    assert_int_equal(ns_dtype_size(NS_DTYPE_U64), 8);
    assert_int_equal(ns_dtype_size(NS_DTYPE_BOOL), 1);
    assert_null(ns_dtype_name(NS_DTYPE_COUNT));
    assert_null(ns_dtype_name((ns_dtype)-1));
    assert_int_equal(ns_dtype_size(NS_DTYPE_COUNT), 0);
    for (int d = 0; d < NS_DTYPE_COUNT; d++)
        assert_true(ns_dtype_size((ns_dtype)d) > 0);
}

static void test_roundtrip_memory(void **state)
{
    (void)state;
    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    ns_ctx *ctx = new_ctx();
    unsigned char *buf = NULL;
    size_t len = 0;
    NS_ASSERT_OK(ctx, ns_st_serialize(ctx, t, N_SAMPLE, m, N_SAMPLE_META, &buf, &len));

    /* Header padded with spaces to a multiple of 8, metadata first. */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    assert_int_equal(hlen % 8, 0);
    assert_true(8 + hlen <= len);
    assert_memory_equal(buf + 8, "{\"__metadata__\":{", 17);
    size_t end = 8 + (size_t)hlen;
    while (buf[end - 1] == ' ')
        end--;
    assert_int_equal(buf[end - 1], '}');

    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_parse(ctx, buf, len, "mem", &f));
    check_same(f, t, N_SAMPLE, m, N_SAMPLE_META);
    /* The first tensor starts the byte buffer, which padding keeps 8-byte aligned. */
    assert_int_equal((uintptr_t)ns_st_get(f, 0)->data % 8, 0);
    /* The parse copied the buffer: it no longer depends on it. */
    memset(buf, 0, len);
    ns_dealloc(ctx, buf);
    check_same(f, t, N_SAMPLE, m, N_SAMPLE_META);
    ns_st_close(f);
    ns_st_close(NULL);
    ns_ctx_free(ctx);
}

static void test_roundtrip_disk(void **state)
{
    (void)state;
    char dir[] = "/tmp/ns_st_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[160];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    ns_ctx *ctx = new_ctx();
    NS_ASSERT_OK(ctx, ns_st_write(ctx, path, t, N_SAMPLE, m, N_SAMPLE_META));
    assert_int_equal(access(tmp, F_OK), -1);
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_open(ctx, path, &f));
    check_same(f, t, N_SAMPLE, m, N_SAMPLE_META);
    ns_st_close(f);

    /* The file on disk is byte for byte what ns_st_serialize makes. */
    unsigned char *mem = NULL;
    size_t mem_len = 0;
    char *disk = NULL;
    size_t disk_len = 0;
    NS_ASSERT_OK(ctx, ns_st_serialize(ctx, t, N_SAMPLE, m, N_SAMPLE_META, &mem, &mem_len));
    NS_ASSERT_OK(ctx, ns_read_file(ctx, path, &disk, &disk_len));
    assert_int_equal(disk_len, mem_len);
    assert_memory_equal(disk, mem, mem_len);
    ns_dealloc(ctx, mem);
    ns_dealloc(ctx, disk);

    /* Overwriting replaces the file (here with an empty one, no metadata). */
    NS_ASSERT_OK(ctx, ns_st_write(ctx, path, NULL, 0, NULL, 0));
    NS_ASSERT_OK(ctx, ns_st_open(ctx, path, &f));
    assert_int_equal(ns_st_count(f), 0);
    assert_int_equal(ns_st_meta_count(f), 0);
    ns_st_close(f);
    assert_int_equal(access(tmp, F_OK), -1);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    ns_ctx_free(ctx);
}

static void test_empty_file(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    unsigned char *buf = NULL;
    size_t len = 0;
    NS_ASSERT_OK(ctx, ns_st_serialize(ctx, NULL, 0, NULL, 0, &buf, &len));
    static const unsigned char want[] = "\x08\x00\x00\x00\x00\x00\x00\x00{}      ";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(buf, want, len);
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_parse(ctx, buf, len, "empty", &f));
    assert_int_equal(ns_st_count(f), 0);
    assert_int_equal(ns_st_meta_count(f), 0);
    assert_null(ns_st_find(f, "a"));
    ns_st_close(f);
    ns_dealloc(ctx, buf);

    /* Unpadded {} and an empty metadata object are fine too. */
    ns_st_close(parse_ok(ctx, "{}", NULL, 0));
    f = parse_ok(ctx, "{\"__metadata__\":{}}", NULL, 0);
    assert_int_equal(ns_st_meta_count(f), 0);
    ns_st_close(f);
    ns_ctx_free(ctx);
}

/* {"a": torch.tensor([1.0, 2.0])} as safetensors.torch.save_file writes it: compact JSON,
 * no __metadata__ when there is none, padded with spaces to a multiple of 8 bytes. */
static const unsigned char official_a[] = "\x38\x00\x00\x00\x00\x00\x00\x00"
                                          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                                          "\"data_offsets\":[0,8]}}  "
                                          "\x00\x00\x80\x3f\x00\x00\x00\x40";

static void test_official_bytes(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    ns_st_file *f = NULL;
    NS_ASSERT_OK(ctx, ns_st_parse(ctx, official_a, sizeof official_a - 1, "official", &f));
    assert_int_equal(ns_st_count(f), 1);
    const ns_st_tensor *a = ns_st_find(f, "a");
    assert_non_null(a);
    assert_int_equal(a->dtype, NS_DTYPE_F32);
    assert_int_equal(a->ndim, 1);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->nbytes, 8);
    float v[2];
    memcpy(v, a->data, sizeof v);
    assert_true(v[0] == 1.0f && v[1] == 2.0f);
    ns_st_close(f);

    /* And the writer produces exactly those bytes. */
    const float data[2] = {1.0f, 2.0f};
    const ns_st_tensor t = {"a", NS_DTYPE_F32, 1, {2}, data, sizeof data};
    unsigned char *buf = NULL;
    size_t len = 0;
    NS_ASSERT_OK(ctx, ns_st_serialize(ctx, &t, 1, NULL, 0, &buf, &len));
    assert_int_equal(len, sizeof official_a - 1);
    assert_memory_equal(buf, official_a, len);
    ns_dealloc(ctx, buf);
    ns_ctx_free(ctx);
}

/* ---- accepted edge cases --------------------------------------------------------------------- */

static void test_accept_scalar_zero_size_and_order(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    /* Listed out of offset order, zero-size tensors at 0 and at the very end, trailing
     * spaces after the JSON, whitespace inside it. */
    const double pi = 3.5;
    ns_st_file *f =
        parse_ok(ctx,
                 "{ \"z_end\": {\"dtype\": \"F32\", \"shape\": [3, 0], "
                 "\"data_offsets\": [8, 8]},\n"
                 "  \"s\": {\"shape\": [], \"dtype\": \"F64\", \"data_offsets\": [0, 8]},\n"
                 "  \"z0\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0]} }"
                 "      ",
                 &pi, sizeof pi);
    assert_int_equal(ns_st_count(f), 3);
    assert_string_equal(ns_st_get(f, 0)->name, "z0");
    assert_string_equal(ns_st_get(f, 1)->name, "s");
    assert_string_equal(ns_st_get(f, 2)->name, "z_end");
    const ns_st_tensor *s = ns_st_find(f, "s");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->nbytes, 8);
    double got;
    memcpy(&got, s->data, sizeof got);
    assert_true(got == pi);
    const ns_st_tensor *z = ns_st_find(f, "z_end");
    assert_int_equal(z->nbytes, 0);
    assert_non_null(z->data);
    assert_int_equal(z->shape[0], 3);
    assert_int_equal(z->shape[1], 0);
    ns_st_close(f);
    ns_ctx_free(ctx);
}

/* ---- malformed files: one test per rule ------------------------------------------------------ */

#define A8 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static void test_reject_short_file(void **state)
{
    (void)state;
    expect_raw("\x02\x00\x00", 3, NS_ERR_FORMAT, "shorter than the 8-byte header length");
    expect_raw("", 0, NS_ERR_FORMAT, "the file is 0 bytes");
}

static void test_reject_header_too_long(void **state)
{
    (void)state;
    unsigned char buf[16] = {0};
    put_le64(buf, NS_ST_MAX_HEADER + 1);
    memcpy(buf + 8, "{}", 2);
    expect_raw(buf, sizeof buf, NS_ERR_FORMAT, "over the limit of 100000000");
    put_le64(buf, UINT64_MAX);
    expect_raw(buf, sizeof buf, NS_ERR_FORMAT, "over the limit");
}

static void test_reject_header_past_end(void **state)
{
    (void)state;
    unsigned char buf[10] = {0};
    put_le64(buf, 100);
    memcpy(buf + 8, "{}", 2);
    expect_raw(buf, sizeof buf, NS_ERR_FORMAT, "only 2 bytes follow the length");
}

static void test_reject_invalid_json(void **state)
{
    (void)state;
    expect_format("{\"a\": {\"dtype\": \"F32\",", 0, "the header is not valid JSON");
    expect_format("{\n  \"a\": ]\n}", 0, "line 2");
    expect_format("", 0, "not valid JSON");
    expect_format("{} x", 0, "not valid JSON");
    expect_format("{\"a\":\"\xff\"}", 0, "not valid JSON"); /* bad UTF-8 */
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                  "\"data_offsets\":[0,8]}}",
                  8, "not valid JSON");
}

static void test_reject_not_object(void **state)
{
    (void)state;
    expect_format("[1, 2]", 0, "the header is an array, not a JSON object");
    expect_format("\"x\"", 0, "the header is not valid JSON"); /* jansson wants a container */
}

static void test_reject_bad_metadata(void **state)
{
    (void)state;
    expect_format("{\"__metadata__\": [1]}", 0, "__metadata__ is an array");
    expect_format("{\"__metadata__\": null}", 0, "__metadata__ is null");
    expect_format("{\"__metadata__\": {\"k\": 1}}", 0,
                  "__metadata__ entry \"k\" is an integer; metadata values must be strings");
    expect_format("{\"__metadata__\": {\"k\": \"a\\u0000b\"}}", 0, "contains a NUL character");
}

static void test_reject_duplicate_name(void **state)
{
    (void)state;
    expect_format("{" A8 "," A8 "}", 8, "duplicate object key near '\"a\"'");
    expect_format("{" A8 "," A8 "}", 8, "must be unique");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],"
                  "\"data_offsets\":[0,8]}}",
                  8, "duplicate object key near '\"dtype\"'");
}

static void test_reject_entry_not_object(void **state)
{
    (void)state;
    expect_format("{\"a\": 5}", 0, "tensor \"a\": the entry is an integer; expected {\"dtype\"");
    expect_format("{\"a\": [0, 8]}", 8, "the entry is an array");
}

static void test_reject_missing_key(void **state)
{
    (void)state;
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
                  "tensor \"a\": the entry has no \"data_offsets\"");
    expect_format("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "has no \"dtype\"");
    expect_format("{\"a\":{}}", 0, "has no \"dtype\"");
}

static void test_reject_extra_key(void **state)
{
    (void)state;
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
                  "tensor \"a\": unknown key \"x\" in the entry");
}

static void test_reject_unknown_dtype(void **state)
{
    (void)state;
    expect_format("{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                  "unknown dtype \"F128\"; known dtypes: BOOL, U8, I8");
    expect_format("{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                  "unknown dtype");
    /* A NUL after a known name is not that name. */
    expect_format("{\"a\":{\"dtype\":\"F32\\u0000\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                  "unknown dtype");
    expect_format("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                  "dtype is an integer, not a string");
}

static void test_reject_bad_shape(void **state)
{
    (void)state;
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
                  "shape is an integer; it must be an array");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                  "shape[0] is negative");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2.0],\"data_offsets\":[0,8]}}", 8,
                  "shape[1] is a real number");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                  "shape[0] is a string");
}

static void test_reject_shape_overflow(void **state)
{
    (void)state;
    /* The element count overflows... */
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                  "\"data_offsets\":[0,0]}}",
                  0, "overflows 64 bits");
    /* ...and even with a zero later on, which would bring an unchecked product back to 0. */
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],"
                  "\"data_offsets\":[0,0]}}",
                  0, "overflows 64 bits");
    /* The count fits, the bytes do not. */
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                  "\"data_offsets\":[0,0]}}",
                  0, "overflows 64 bits");
}

static void test_reject_too_many_dims(void **state)
{
    (void)state;
    expect_status("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                  "\"data_offsets\":[0,1]}}",
                  1, NS_ERR_UNSUPPORTED, "9 dimensions; netsmith reads at most 8");
}

static void test_reject_bad_offsets(void **state)
{
    (void)state;
    const char *want = "data_offsets must be two non-negative integers";
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, want);
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, want);
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8, want);
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, want);
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}}}", 8, want);
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
                  "data_offsets [8, 0]: BEGIN is after END");
}

static void test_reject_range_mismatch(void **state)
{
    (void)state;
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
                  "cover 20 bytes, but shape [2, 3] x F32 (4 bytes each) needs 24 bytes");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,4]}}", 4,
                  "needs 0 bytes");
}

static void test_reject_overlap(void **state)
{
    (void)state;
    expect_format("{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                  "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\" at [0, 8]");
    /* Two tensors on the same bytes. */
    expect_format("{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                  "overlap");
    /* An empty tensor inside another one. */
    expect_format("{" A8 ",\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8,
                  "tensor \"z\": data_offsets [4, 4] overlap");
}

static void test_reject_gap(void **state)
{
    (void)state;
    expect_format("{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
                  "tensor \"b\": data_offsets [12, 20] leave a gap of 4 bytes after tensor \"a\"");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                  "the first tensor starts at byte 4, not 0");
}

static void test_reject_trailing_bytes(void **state)
{
    (void)state;
    expect_format("{" A8 "}", 10, "2 trailing bytes after the last tensor (\"a\" ends at byte 8");
    expect_format("{}", 3, "the header lists no tensors but 3 bytes of data follow it");
}

static void test_reject_missing_bytes(void **state)
{
    (void)state;
    expect_format("{" A8 "}", 4, "tensor \"a\": data_offsets [0, 8] run past the end of the file");
    expect_format("{" A8 "}", 0, "holds only 0 bytes (is the file truncated?)");
}

static void test_reject_nul_in_name(void **state)
{
    (void)state;
    expect_format("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                  "a name in the header contains a NUL character");
    expect_format("{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0, "contains a NUL character");
}

static void test_message_quotes_hostile_names(void **state)
{
    (void)state;
    /* Control characters are escaped and a long name is cut, keeping the advice visible. */
    char header[600];
    char name[400];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(header, sizeof header, "{\"\\n%s\": 5}", name);
    expect_format(header, 0, "tensor \"\\x0axxxx");
    expect_format(header, 0, "...\": the entry is an integer");
}

/* ---- writer argument checks ------------------------------------------------------------------ */

static void expect_invalid_write(const ns_st_tensor *t, int n, const ns_st_meta *m, int n_meta,
                                 const char *needle)
{
    ns_ctx *ctx = new_ctx();
    unsigned char *buf = (unsigned char *)&buf;
    size_t len = 1;
    NS_ASSERT_STATUS(ctx, ns_st_serialize(ctx, t, n, m, n_meta, &buf, &len), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, needle);
    assert_null(buf);
    assert_int_equal(len, 0);

    char dir[] = "/tmp/ns_st_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    NS_ASSERT_STATUS(ctx, ns_st_write(ctx, path, t, n, m, n_meta), NS_ERR_INVALID);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, needle);
    assert_int_equal(rmdir(dir), 0); /* nothing was left behind */
    ns_ctx_free(ctx);
}

static void test_write_rejects_bad_input(void **state)
{
    (void)state;
    const float d[2] = {1, 2};
    ns_st_tensor t[2] = {{"a", NS_DTYPE_F32, 1, {2}, d, sizeof d},
                         {"a", NS_DTYPE_F32, 1, {2}, d, sizeof d}};
    expect_invalid_write(t, 2, NULL, 0, "tensor name \"a\" appears twice");
    t[1].name = "__metadata__";
    expect_invalid_write(t, 2, NULL, 0, "reserves");
    t[1].name = "bad\xff";
    expect_invalid_write(t, 2, NULL, 0, "not valid UTF-8");
    t[1].name = "b";
    t[1].nbytes = 4;
    expect_invalid_write(t, 2, NULL, 0, "tensor \"b\": nbytes is 4 but shape [2] x F32 needs 8");
    t[1].nbytes = 8;
    t[1].shape[0] = -2;
    expect_invalid_write(t, 2, NULL, 0, "shape[0] is negative");
    t[1].shape[0] = 2;
    t[1].ndim = 9;
    expect_invalid_write(t, 2, NULL, 0, "ndim is 9");
    t[1].ndim = 1;
    t[1].data = NULL;
    expect_invalid_write(t, 2, NULL, 0, "data is NULL");
    t[1].data = d;
    t[1].dtype = NS_DTYPE_COUNT;
    expect_invalid_write(t, 2, NULL, 0, "bad dtype");
    t[1].dtype = NS_DTYPE_F32;
    const ns_st_meta m[2] = {{"k", "v"}, {"k", "w"}};
    expect_invalid_write(t, 2, m, 2, "metadata key \"k\" appears twice");
    const ns_st_meta bad[1] = {{"k", "\xc0\x80"}}; /* overlong NUL */
    expect_invalid_write(t, 2, bad, 1, "not valid UTF-8");
}

static void test_write_io_errors(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    const char *path = "/tmp/ns_st_no_such_dir_6f1c/x.safetensors";
    NS_ASSERT_STATUS(ctx, ns_st_write(ctx, path, NULL, 0, NULL, 0), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, path);
    NS_ASSERT_MSG_HAS(ctx, "No such file or directory");

    /* A directory in the way of the rename: the temporary file is removed again. */
    char dir[] = "/tmp/ns_st_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char target[128], tmp[160];
    snprintf(target, sizeof target, "%s/taken", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", target);
    assert_int_equal(mkdir(target, 0700), 0);
    NS_ASSERT_STATUS(ctx, ns_st_write(ctx, target, NULL, 0, NULL, 0), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "cannot rename");
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(rmdir(target), 0);
    assert_int_equal(rmdir(dir), 0);
    ns_ctx_free(ctx);
}

static void test_read_file(void **state)
{
    (void)state;
    ns_ctx *ctx = new_ctx();
    char dir[] = "/tmp/ns_st_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("ab\0cd", 1, 5, fp), 5);
    assert_int_equal(fclose(fp), 0);

    char *buf = NULL;
    size_t len = 0;
    NS_ASSERT_OK(ctx, ns_read_file(ctx, path, &buf, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "ab\0cd", 6); /* and NUL-terminated */
    ns_dealloc(ctx, buf);

    NS_ASSERT_STATUS(ctx, ns_read_file(ctx, dir, &buf, &len), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, dir);
    NS_ASSERT_MSG_HAS(ctx, "Is a directory");
    assert_null(buf);

    assert_int_equal(unlink(path), 0);
    NS_ASSERT_STATUS(ctx, ns_read_file(ctx, path, &buf, &len), NS_ERR_IO);
    NS_ASSERT_MSG_HAS(ctx, "f.txt: cannot open: No such file or directory");
    ns_st_file *f = NULL;
    NS_ASSERT_STATUS(ctx, ns_st_open(ctx, path, &f), NS_ERR_IO);
    assert_null(f);
    assert_int_equal(rmdir(dir), 0);

    /* A file whose size stat does not know (0 here) is read all the same. */
    NS_ASSERT_OK(ctx, ns_read_file(ctx, "/proc/self/status", &buf, &len));
    assert_true(len > 0 && strlen(buf) == len);
    ns_dealloc(ctx, buf);
    ns_ctx_free(ctx);
}

/* ---- allocation failures --------------------------------------------------------------------- */

typedef ns_status (*alloc_op)(ns_ctx *ctx, void *arg);

/* Runs op with the Nth allocation failing for N = 1, 2, ... until it succeeds: each failure
 * must be NS_ERR_NOMEM with a message, and nothing may leak either way. */
static void fail_each_allocation(alloc_op op, void *arg)
{
    for (size_t nth = 1;; nth++) {
        ns_test_alloc ta = {0};
        ns_allocator a = ns_test_allocator(&ta);
        ns_ctx *ctx = NULL;
        assert_int_equal(ns_ctx_new(&a, &ctx), NS_OK);
        ta.fail_at = ta.calls + nth;
        ns_status st = op(ctx, arg);
        if (st != NS_OK) {
            NS_ASSERT_STATUS(ctx, st, NS_ERR_NOMEM);
            NS_ASSERT_MSG_HAS(ctx, "out of memory");
        }
        ns_ctx_free(ctx);
        assert_int_equal(ta.live, 0);
        if (st == NS_OK) {
            assert_true(nth > 1); /* at least one failure was exercised */
            return;
        }
        assert_true(nth < 1000);
    }
}

typedef struct sample_bytes {
    unsigned char *buf;
    size_t len;
    char path[128];
} sample_bytes;

static ns_status op_parse(ns_ctx *ctx, void *arg)
{
    sample_bytes *s = arg;
    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    ns_st_file *f = NULL;
    ns_status st = ns_st_parse(ctx, s->buf, s->len, "sample", &f);
    if (st == NS_OK)
        check_same(f, t, N_SAMPLE, m, N_SAMPLE_META);
    else
        assert_null(f);
    ns_st_close(f);
    return st;
}

static ns_status op_serialize(ns_ctx *ctx, void *arg)
{
    (void)arg;
    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    unsigned char *buf = NULL;
    size_t len = 0;
    ns_status st = ns_st_serialize(ctx, t, N_SAMPLE, m, N_SAMPLE_META, &buf, &len);
    ns_dealloc(ctx, buf);
    return st;
}

static ns_status op_write_open(ns_ctx *ctx, void *arg)
{
    sample_bytes *s = arg;
    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    ns_status st = ns_st_write(ctx, s->path, t, N_SAMPLE, m, N_SAMPLE_META);
    if (st != NS_OK)
        return st;
    ns_st_file *f = NULL;
    st = ns_st_open(ctx, s->path, &f);
    if (st == NS_OK)
        check_same(f, t, N_SAMPLE, m, N_SAMPLE_META);
    ns_st_close(f);
    unlink(s->path);
    return st;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    ns_ctx *ctx = new_ctx();
    sample_bytes s = {0};
    NS_ASSERT_OK(ctx, ns_st_serialize(ctx, t, N_SAMPLE, m, N_SAMPLE_META, &s.buf, &s.len));
    fail_each_allocation(op_parse, &s);
    fail_each_allocation(op_serialize, NULL);

    char dir[] = "/tmp/ns_st_XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(s.path, sizeof s.path, "%s/m.safetensors", dir);
    fail_each_allocation(op_write_open, &s);
    assert_int_equal(rmdir(dir), 0);
    ns_dealloc(ctx, s.buf);
    ns_ctx_free(ctx);
}

/* ---- robustness ------------------------------------------------------------------------------ */

static void test_mutations_never_crash(void **state)
{
    (void)state;
    ns_st_tensor t[N_SAMPLE];
    ns_st_meta m[N_SAMPLE_META];
    sample(t, m);
    ns_ctx *ctx = new_ctx();
    unsigned char *orig = NULL;
    size_t len = 0;
    NS_ASSERT_OK(ctx, ns_st_serialize(ctx, t, N_SAMPLE, m, N_SAMPLE_META, &orig, &len));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | orig[i];
    static const char syntax[] = "{}[],:\"0123456789-.e \\u";

    unsigned char *buf = malloc(len + 16);
    assert_non_null(buf);
    ns_rng rng;
    ns_rng_init(&rng, 20240611, NS_RNG_USER, 0);
    int n_ok = 0, n_bad = 0;
    for (int iter = 0; iter < 5000; iter++) {
        memcpy(buf, orig, len);
        size_t n = len;
        int edits = 1 + (int)ns_rng_below(&rng, 3);
        for (int e = 0; e < edits; e++) {
            uint32_t kind = ns_rng_below(&rng, 6);
            size_t hpos = 8 + ns_rng_below(&rng, (uint32_t)hlen);
            if (hpos >= n)
                hpos = n ? n - 1 : 0;
            if (n == 0)
                break;
            switch (kind) {
            case 0: /* any byte, any value */
                buf[ns_rng_below(&rng, (uint32_t)n)] = (unsigned char)ns_rng_u32(&rng);
                break;
            case 1: /* a header byte, any value */
                buf[hpos] = (unsigned char)ns_rng_u32(&rng);
                break;
            case 2: /* a header byte becomes JSON syntax or a digit */
                buf[hpos] = (unsigned char)syntax[ns_rng_below(&rng, sizeof syntax - 1)];
                break;
            case 3: /* truncate */
                n = ns_rng_below(&rng, (uint32_t)n);
                break;
            case 4: /* the length prefix */
                buf[ns_rng_below(&rng, 8)] = (unsigned char)ns_rng_u32(&rng);
                break;
            default: /* grow by a few bytes */
                if (n == len) {
                    size_t extra = 1 + ns_rng_below(&rng, 16);
                    for (size_t i = 0; i < extra; i++)
                        buf[n + i] = (unsigned char)ns_rng_u32(&rng);
                    n += extra;
                }
                break;
            }
        }
        ns_errclear(ctx);
        ns_st_file *f = NULL;
        ns_status st = ns_st_parse(ctx, buf, n, "mutant", &f);
        if (st == NS_OK) {
            n_ok++;
            /* Touch every byte of every tensor so ASan sees any range that escaped the file. */
            unsigned sum = 0;
            for (int i = 0; i < ns_st_count(f); i++) {
                const ns_st_tensor *x = ns_st_get(f, i);
                assert_ptr_equal(ns_st_find(f, x->name), x);
                for (size_t b = 0; b < x->nbytes; b++)
                    sum += ((const unsigned char *)x->data)[b];
            }
            for (int i = 0; i < ns_st_meta_count(f); i++)
                sum += (unsigned)strlen(ns_st_meta_get(f, i)->value);
            (void)sum;
            ns_st_close(f);
        } else {
            n_bad++;
            if (st != NS_ERR_FORMAT)
                fprintf(stderr, "iteration %d: %s\n", iter, ns_errmsg(ctx));
            NS_ASSERT_STATUS(ctx, st, NS_ERR_FORMAT);
            assert_null(f);
            assert_true(strlen(ns_errmsg(ctx)) > strlen("mutant: "));
        }
    }
    /* Both outcomes must have been exercised, or the loop tests little. */
    assert_true(n_ok > 100);
    assert_true(n_bad > 1000);
    free(buf);
    ns_dealloc(ctx, orig);
    ns_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_table),
        cmocka_unit_test(test_roundtrip_memory),
        cmocka_unit_test(test_roundtrip_disk),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_official_bytes),
        cmocka_unit_test(test_accept_scalar_zero_size_and_order),
        cmocka_unit_test(test_reject_short_file),
        cmocka_unit_test(test_reject_header_too_long),
        cmocka_unit_test(test_reject_header_past_end),
        cmocka_unit_test(test_reject_invalid_json),
        cmocka_unit_test(test_reject_not_object),
        cmocka_unit_test(test_reject_bad_metadata),
        cmocka_unit_test(test_reject_duplicate_name),
        cmocka_unit_test(test_reject_entry_not_object),
        cmocka_unit_test(test_reject_missing_key),
        cmocka_unit_test(test_reject_extra_key),
        cmocka_unit_test(test_reject_unknown_dtype),
        cmocka_unit_test(test_reject_bad_shape),
        cmocka_unit_test(test_reject_shape_overflow),
        cmocka_unit_test(test_reject_too_many_dims),
        cmocka_unit_test(test_reject_bad_offsets),
        cmocka_unit_test(test_reject_range_mismatch),
        cmocka_unit_test(test_reject_overlap),
        cmocka_unit_test(test_reject_gap),
        cmocka_unit_test(test_reject_trailing_bytes),
        cmocka_unit_test(test_reject_missing_bytes),
        cmocka_unit_test(test_reject_nul_in_name),
        cmocka_unit_test(test_message_quotes_hostile_names),
        cmocka_unit_test(test_write_rejects_bad_input),
        cmocka_unit_test(test_write_io_errors),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
