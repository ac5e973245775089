/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
 * a counter-based generator, so a stream is a pure function of (seed, purpose, step). */
#include <math.h>
#include <string.h>

#include "core/core_internal.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * ctr[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * ctr[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t c0 = hi1 ^ ctr[1] ^ key[0];
    uint32_t c2 = hi0 ^ ctr[3] ^ key[1];
    ctr[0] = c0;
    ctr[1] = lo1;
    ctr[2] = c2;
    ctr[3] = lo0;
}

static void philox10(uint32_t out[4], const uint32_t in[4], const uint32_t key_in[2])
{
    uint32_t c[4] = {in[0], in[1], in[2], in[3]};
    uint32_t k[2] = {key_in[0], key_in[1]};
    for (int r = 0; r < 10; r++) {
        philox_round(c, k);
        k[0] += PHILOX_W0;
        k[1] += PHILOX_W1;
    }
    memcpy(out, c, sizeof c);
}

/* splitmix64: mixes (seed, purpose) into the 64-bit key so nearby seeds are unrelated. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ns_rng_init_lane(ns_rng *rng, uint64_t seed, uint32_t purpose, uint64_t step, uint32_t lane)
{
    uint64_t k = mix64(seed ^ mix64(purpose));
    rng->key[0] = (uint32_t)k;
    rng->key[1] = (uint32_t)(k >> 32);
    /* counter = (block index, lane, step lo, step hi); blocks count up from 0. */
    rng->ctr[0] = 0;
    rng->ctr[1] = lane;
    rng->ctr[2] = (uint32_t)step;
    rng->ctr[3] = (uint32_t)(step >> 32);
    rng->used = 4;
}

void ns_rng_init(ns_rng *rng, uint64_t seed, uint32_t purpose, uint64_t step)
{
    ns_rng_init_lane(rng, seed, purpose, step, 0);
}

uint32_t ns_rng_u32(ns_rng *rng)
{
    if (rng->used >= 4) {
        philox10(rng->buf, rng->ctr, rng->key);
        rng->ctr[0]++; /* 2^32 blocks of 4 words per stream: far more than any use */
        rng->used = 0;
    }
    return rng->buf[rng->used++];
}

float ns_rng_uniform(ns_rng *rng) { return (float)(ns_rng_u32(rng) >> 8) * 0x1.0p-24f; }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NS__PHILOX_X8 1

/* The high halves of the eight 32 x 32-bit products x * m. */
__attribute__((target("avx2"))) static inline __m256i mulhi8(__m256i x, __m256i m)
{
    __m256i even = _mm256_mul_epu32(x, m);                         /* lanes 0, 2, 4, 6 */
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);   /* lanes 1, 3, 5, 7 */
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

/* Eight consecutive blocks (counters ctr[0] + 0..7, wrapping as one at a time would) as
 * uniforms in out[32]: the numbers of eight philox10 calls, eight lanes at a time. */
__attribute__((target("avx2"))) static void philox10_x8_uniform(float *out, const uint32_t ctr[4],
                                                              const uint32_t key[2])
{
    __m256i x0 = _mm256_add_epi32(_mm256_set1_epi32((int)ctr[0]),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i x1 = _mm256_set1_epi32((int)ctr[1]), x2 = _mm256_set1_epi32((int)ctr[2]);
    __m256i x3 = _mm256_set1_epi32((int)ctr[3]);
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        __m256i hi0 = mulhi8(x0, m0), lo0 = _mm256_mullo_epi32(x0, m0);
        __m256i hi1 = mulhi8(x2, m1), lo1 = _mm256_mullo_epi32(x2, m1);
        x0 = _mm256_xor_si256(_mm256_xor_si256(hi1, x1), _mm256_set1_epi32((int)k0));
        x2 = _mm256_xor_si256(_mm256_xor_si256(hi0, x3), _mm256_set1_epi32((int)k1));
        x1 = lo1;
        x3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    const __m256 scale = _mm256_set1_ps(0x1.0p-24f);
    float f[4][8];
    _mm256_storeu_ps(f[0], _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x0, 8)), scale));
    _mm256_storeu_ps(f[1], _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x1, 8)), scale));
    _mm256_storeu_ps(f[2], _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x2, 8)), scale));
    _mm256_storeu_ps(f[3], _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x3, 8)), scale));
    for (int j = 0; j < 8; j++)
        for (int w = 0; w < 4; w++)
            out[4 * j + w] = f[w][j];
}
#endif

void ns_rng_fill_uniform(ns_rng *rng, float *out, size_t n)
{
    size_t i = 0;
    /* Drain the current block, then whole blocks straight into out (eight at a time: the
     * counter wraps as it would block by block), then a partial one. */
    while (i < n && rng->used < 4)
        out[i++] = (float)(rng->buf[rng->used++] >> 8) * 0x1.0p-24f;
#ifdef NS__PHILOX_X8
    if (__builtin_cpu_supports("avx2")) {
        while (n - i >= 32) {
            philox10_x8_uniform(out + i, rng->ctr, rng->key);
            rng->ctr[0] += 8;
            i += 32;
        }
    }
#endif
    while (n - i >= 4) {
        uint32_t b[4];
        philox10(b, rng->ctr, rng->key);
        rng->ctr[0]++;
        for (int k = 0; k < 4; k++)
            out[i + (size_t)k] = (float)(b[k] >> 8) * 0x1.0p-24f;
        i += 4;
    }
    while (i < n)
        out[i++] = ns_rng_uniform(rng);
}

float ns_rng_uniform_range(ns_rng *rng, float lo, float hi)
{
    return lo + (hi - lo) * ns_rng_uniform(rng);
}

float ns_rng_normal(ns_rng *rng)
{
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(ns_rng_u32(rng) >> 8) + 1.0) * 0x1.0p-24;
    double u2 = (double)(ns_rng_u32(rng) >> 8) * 0x1.0p-24;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t ns_rng_below(ns_rng *rng, uint32_t n)
{
    NS_ASSERT(n > 0);
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)ns_rng_u32(rng) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)ns_rng_u32(rng) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}
