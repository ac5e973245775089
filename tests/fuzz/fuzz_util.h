/* Helpers shared by the libFuzzer targets: a context whose allocator refuses huge requests and
 * checks that every block comes back, a per-process scratch directory for parsers that read
 * from paths, and a splitter for inputs made of several NUL-separated parts. */
#ifndef NS_FUZZ_UTIL_H
#define NS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "netsmith/netsmith.h"

/* One allocation may be at most this many bytes, and the context's live blocks at most
 * NS_FUZZ_MAX_LIVE together: larger requests fail as out of memory, so a file that declares
 * a legitimately huge size is an NS_ERR_NOMEM, not an out-of-memory report of the fuzzer. */
#define NS_FUZZ_MAX_ALLOC ((size_t)32 << 20)
#define NS_FUZZ_MAX_LIVE ((size_t)256 << 20)

/* A new context over the limiting allocator (aborts if it cannot be made). One at a time. */
ns_ctx *ns_fuzz_ctx(void);
/* Frees the context and aborts (a finding) when a block allocated through it was not freed. */
void ns_fuzz_ctx_free(ns_ctx *ctx);
/* Whether the allocator refused a request since ns_fuzz_ctx (then NS_ERR_NOMEM is expected). */
int ns_fuzz_refused(void);

/* Writes data[size] to `name` in this process's scratch directory (/tmp/netsmith-fuzz.PID, made
 * on first use and removed at exit) and returns its path, which stays valid and the same for
 * that name. Aborts when the file cannot be written. */
const char *ns_fuzz_write(const char *name, const void *data, size_t size);
/* The path of `name` in the scratch directory (without writing it). */
const char *ns_fuzz_path(const char *name);

/* Splits data[size] at NUL bytes into at most max parts (the last keeps any further NULs);
 * returns the number of parts (at least 1). */
int ns_fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, int max);

/* A copy of part[len] with a NUL after it (malloc'ed; free it). */
char *ns_fuzz_strndup(const uint8_t *part, size_t len);

/* Aborts with a message: a property the library promises does not hold. */
_Noreturn void ns_fuzz_fail(const char *what, const char *detail);

/* The promises of a dataset that loaded (what: "a loaded CSV", ...): features and targets,
 * classes for a classification, a name for each, and every row readable with its label among
 * the classes; aborts through ns_fuzz_fail otherwise. Also hashes it. */
void ns_fuzz_check_dataset(const ns_dataset *ds, const char *what);

#endif
