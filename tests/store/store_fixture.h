/* What the store's tests share: a scratch directory per test program (setup, teardown) and a
 * fresh store per test on the store the environment names (NETSMITH_TEST_STORE: a
 * postgresql:// URL, emptied first, else a new SQLite file in the directory), its URL in url.
 * Included by one test file each (its functions are static). */
#ifndef NETSMITH_TEST_STORE_FIXTURE_H
#define NETSMITH_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netsmith/store.h"
#include "testutil.h"

static char dir[256];
static char url[512];

__attribute__((unused)) static bool on_postgres(void)
{
    const char *env = getenv("NETSMITH_TEST_STORE");
    return env != NULL && strncmp(env, "postgres", 8) == 0;
}

/* A store of its own per test: a new SQLite file, or the PostgreSQL database emptied (every
 * table the schema has). */
static ns_store *open_fresh(ns_ctx *ctx)
{
    static int n;
    if (on_postgres()) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "psql -q -d '%s' -c 'DROP TABLE IF EXISTS events, pipelines, aliases, versions, "
                 "models, datasets, archs, jobs, blobs, meta CASCADE' >/dev/null 2>&1",
                 getenv("NETSMITH_TEST_STORE"));
        assert_int_equal(system(cmd), 0);
        snprintf(url, sizeof url, "%s", getenv("NETSMITH_TEST_STORE"));
    } else {
        snprintf(url, sizeof url, "sqlite:%s/store-%d.db", dir, n++);
    }
    ns_store *s = NULL;
    NS_ASSERT_OK(ctx, ns_store_open(ctx, url, &s));
    return s;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/netsmith-store-test-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
