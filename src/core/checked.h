/* Overflow-checked integer arithmetic for sizes and shapes (private to the library). Each
 * helper returns true and stores the exact result, or returns false when it does not fit
 * the type (the stored value is then unspecified). */
#ifndef NETSMITH_CHECKED_H
#define NETSMITH_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static inline bool ns__add_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline bool ns__mul_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool ns__add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline bool ns__mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* The product of shape[0..ndim) (1 for ndim 0) into *out; false when it overflows int64. */
static inline bool ns__numel_i64(int ndim, const int *shape, int64_t *out)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (!ns__mul_i64(n, shape[i], &n))
            return false;
    *out = n;
    return true;
}

/* The product of f[0..n) into *out; false when it overflows int64. */
static inline bool ns__product_i64(int n, const int64_t *f, int64_t *out)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (!ns__mul_i64(p, f[i], &p))
            return false;
    *out = p;
    return true;
}

/* That product as text for a message: exact ("67600000000"), or "about 4e+18" when it does
 * not fit int64. buf >= 32 bytes. */
static inline const char *ns__product_text(char *buf, size_t cap, int n, const int64_t *f)
{
    int64_t p;
    if (ns__product_i64(n, f, &p)) {
        snprintf(buf, cap, "%lld", (long long)p);
    } else {
        double d = 1.0;
        for (int i = 0; i < n; i++)
            d *= (double)f[i];
        snprintf(buf, cap, "about %.3g", d);
    }
    return buf;
}

#endif
