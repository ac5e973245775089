/* Internals of the atomic file writer (format/file_write.c) that the tests reach: the temporary
 * names it tries, and an open that draws them from a given seed instead of a random one. */
#ifndef NETSMITH_IO_FILE_WRITE_H
#define NETSMITH_IO_FILE_WRITE_H

#include "netsmith/format.h"

/* How many temporary names an open tries before it gives up (each taken name is skipped). */
#define NS__TMP_ATTEMPTS 64

/* The attempt-th temporary name for path from seed: "DIR/.BASE.<16 hex digits>.tmp" (BASE cut
 * to 64 bytes). Returns false when it does not fit in cap. */
bool ns__tmp_name(const char *path, uint64_t seed, int attempt, char *buf, size_t cap);

/* ns_file_writer_open with the names ns__tmp_name(path, seed, 0 .. NS__TMP_ATTEMPTS-1). */
ns_status ns__file_writer_open_seeded(ns_ctx *ctx, const char *path, uint64_t seed,
                                      ns_file_writer **out);

#endif
