/* Prepare Batch: batches of a dataset in a seeded per-epoch order, with an optional background
 * thread that prepares the next batches while the caller works on the current one.
 *
 * Order: epoch e visits the rows in the order of a Fisher-Yates permutation of 0..rows-1 (for
 * i = rows-1 down to 1, swap a[i] with a[ns_rng_below(rng, i + 1)]) drawn from the stream
 * (seed, NS_RNG_SHUFFLE, e), or in row order with no_shuffle; batch i holds the rows at
 * order[i*bs .. min((i+1)*bs, rows)).
 *
 * Prefetching: a producer thread fills a ring of `prefetch` batches in (epoch, index) order,
 * crossing epoch boundaries, from where the caller last asked. Every field it shares with the
 * caller is guarded by one mutex; the batch buffers move between the two threads only through
 * slot states changed under that mutex, so the thread filling a buffer is the only one touching
 * it (FILLING belongs to the producer, HELD to the caller). A request that is not the next
 * ready batch is computed by the caller itself and restarts the producer just after it; a
 * generation counter makes the producer drop a batch it was filling for the old position.
 * There are prefetch + 1 slots, so the producer can keep `prefetch` batches ready while the
 * caller holds the one it was given last. The producer neither allocates nor writes messages:
 * a context belongs to one thread. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset_private.h"

/* More prefetched batches than this would only use memory. */
#define MAX_PREFETCH 1024

/* One batch's storage: x[cap, F], y[cap, T] (regression) or labels[cap] (classification). */
typedef struct buffers {
    float *x;
    float *y;
    int32_t *labels;
} buffers;

typedef struct pos {
    int64_t epoch, index;
} pos;

/* An epoch's order, computed when a different epoch is asked for. */
typedef struct order {
    int64_t *perm; /* [rows], or NULL without shuffling */
    int64_t epoch; /* the epoch perm holds, -1 for none */
} order;

typedef enum slot_state {
    SLOT_FREE,    /* nobody's */
    SLOT_FILLING, /* the producer writes it (outside the lock) */
    SLOT_READY,   /* in the ready ring */
    SLOT_HELD     /* handed to the caller until its next get */
} slot_state;

typedef struct slot {
    buffers buf;
    slot_state state;
    pos at;
    int n;
} slot;

struct ns_batcher {
    ns_ctx *ctx;
    const ns_dataset *ds;
    ns_batch_options opts;
    bool classification;
    int64_t rows, count;
    int cap;      /* rows a buffer holds: min(batch_size, rows), at least 1 */
    buffers sync; /* the synchronous path's batch */
    order fg;     /* the caller's order cache */

    /* Prefetching (opts.prefetch > 0 and count > 0); everything below `mu` is guarded by it,
     * except bg, which only the producer touches, and the slots' buffers (see the file
     * comment). */
    bool threaded;
    pthread_t thread;
    order bg;
    int n_slots; /* prefetch + 1 */
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t wake_producer, wake_caller;
    int *ready; /* [prefetch] ring of slot ids, holding the batches at stream, stream + 1, ... */
    int ready_head, ready_len;
    int held;        /* the slot the caller holds, or -1 */
    pos stream;      /* the next position the caller is expected to ask for */
    pos next;        /* the position the producer fills next */
    bool next_valid; /* false once the epochs run out (INT64_MAX) */
    uint64_t gen;    /* bumped whenever the producer is restarted elsewhere */
    bool stop;
};

/* ---- order and gathering (both threads; each passes its own order cache) --------------------- */

static bool pos_equal(pos a, pos b)
{
    return a.epoch == b.epoch && a.index == b.index;
}

/* The position after p, across epoch boundaries; false when the epochs run out. */
static bool advance(const ns_batcher *b, pos *p)
{
    if (p->index + 1 < b->count) {
        p->index++;
        return true;
    }
    if (p->epoch == INT64_MAX)
        return false;
    p->epoch++;
    p->index = 0;
    return true;
}

/* The order of `epoch` (see the file comment), or NULL for row order. */
static const int64_t *epoch_order(const ns_batcher *b, order *o, int64_t epoch)
{
    if (o->perm == NULL)
        return NULL;
    if (o->epoch != epoch) {
        ns_rng rng;
        ns_rng_init(&rng, b->opts.seed, NS_RNG_SHUFFLE, (uint64_t)epoch);
        int64_t *a = o->perm;
        for (int64_t i = 0; i < b->rows; i++)
            a[i] = i;
        ns__shuffle_rows(a, b->rows, &rng);
        o->epoch = epoch;
    }
    return o->perm;
}

/* Gathers the batch at p into buf; returns its row count. */
static int fill(const ns_batcher *b, order *o, pos p, const buffers *buf)
{
    int64_t bs = b->opts.batch_size;
    int64_t first = p.index * bs;
    int n = (int)(b->rows - first < bs ? b->rows - first : bs);
    const int64_t *perm = epoch_order(b, o, p.epoch);
    ns__dataset_gather(b->ds, perm ? perm + first : NULL, first, n, buf->x, buf->y, buf->labels);
    /* shuffled rows are scattered through the data: let the memory system fetch the next
     * batch's while this one is trained on */
    if (perm != NULL && first + n < b->rows) {
        int64_t next = b->rows - (first + n) < bs ? b->rows - (first + n) : bs;
        ns__dataset_prefetch(b->ds, perm + first + n, (int)next);
    }
    return n;
}

/* ---- the producer thread --------------------------------------------------------------------- */

static void *producer(void *arg)
{
    ns_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && !(b->next_valid && b->ready_len < b->opts.prefetch))
            pthread_cond_wait(&b->wake_producer, &b->mu);
        if (b->stop)
            break;
        /* At most prefetch - 1 ready and one held, so one of the prefetch + 1 slots is free. */
        slot *s = NULL;
        for (int i = 0; i < b->n_slots && s == NULL; i++)
            if (b->slots[i].state == SLOT_FREE)
                s = &b->slots[i];
        NS_ASSERT(s != NULL);
        s->state = SLOT_FILLING;
        pos at = b->next;
        uint64_t gen = b->gen;
        b->next_valid = advance(b, &b->next);
        pthread_mutex_unlock(&b->mu);

        int n = fill(b, &b->bg, at, &s->buf);

        pthread_mutex_lock(&b->mu);
        if (gen == b->gen) {
            s->at = at;
            s->n = n;
            s->state = SLOT_READY;
            b->ready[(b->ready_head + b->ready_len) % b->opts.prefetch] = (int)(s - b->slots);
            b->ready_len++;
            pthread_cond_signal(&b->wake_caller);
        } else {
            s->state = SLOT_FREE; /* the caller moved elsewhere meanwhile */
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Frees the first k ready slots (caller holds the lock). */
static void drop_ready(ns_batcher *b, int k)
{
    for (int i = 0; i < k; i++) {
        b->slots[b->ready[b->ready_head]].state = SLOT_FREE;
        b->ready_head = (b->ready_head + 1) % b->opts.prefetch;
        b->ready_len--;
    }
}

/* Takes the batch at `want` from the ready ring, waiting for it when it is the next one due;
 * returns NULL (and restarts the producer after `want`) when it is not there. */
static const slot *take_prefetched(ns_batcher *b, pos want)
{
    const slot *got = NULL;
    pthread_mutex_lock(&b->mu);
    if (b->held >= 0) {
        b->slots[b->held].state = SLOT_FREE;
        b->held = -1;
    }
    int hit = -1;
    if (pos_equal(b->stream, want)) {
        /* It is ready or the producer is filling it (or about to): waiting beats recomputing. */
        while (b->ready_len == 0)
            pthread_cond_wait(&b->wake_caller, &b->mu);
        hit = 0;
    } else {
        /* The ready ring holds stream, stream + 1, ...: a skip ahead may still hit. */
        for (int k = 1; k < b->ready_len && hit < 0; k++)
            if (pos_equal(b->slots[b->ready[(b->ready_head + k) % b->opts.prefetch]].at, want))
                hit = k;
    }
    if (hit >= 0) {
        drop_ready(b, hit);
        int id = b->ready[b->ready_head];
        b->ready_head = (b->ready_head + 1) % b->opts.prefetch;
        b->ready_len--;
        NS_ASSERT(pos_equal(b->slots[id].at, want));
        b->slots[id].state = SLOT_HELD;
        b->held = id;
        got = &b->slots[id];
    } else {
        drop_ready(b, b->ready_len);
        b->gen++;
        b->next = want;
        b->next_valid = advance(b, &b->next);
    }
    b->stream = want;
    advance(b, &b->stream); /* want.epoch < INT64_MAX, so this cannot run out */
    pthread_cond_signal(&b->wake_producer);
    pthread_mutex_unlock(&b->mu);
    return got;
}

/* ---- the handle ------------------------------------------------------------------------------ */

static bool alloc_buffers(ns_ctx *ctx, buffers *buf, int cap, int features, int targets,
                          bool classification)
{
    size_t rows = (size_t)cap, f = features > 0 ? (size_t)features : 1;
    buf->x = ns_alloc(ctx, rows * f * sizeof(float));
    if (classification)
        buf->labels = ns_alloc(ctx, rows * sizeof(int32_t));
    else
        buf->y = ns_alloc(ctx, rows * (size_t)targets * sizeof(float));
    return buf->x != NULL && (classification ? buf->labels != NULL : buf->y != NULL);
}

static void free_buffers(ns_ctx *ctx, buffers *buf)
{
    ns_dealloc(ctx, buf->x);
    ns_dealloc(ctx, buf->y);
    ns_dealloc(ctx, buf->labels);
}

/* Allocates the slots and the producer's order, and starts the thread. */
static ns_status start_prefetch(ns_batcher *b)
{
    ns_ctx *ctx = b->ctx;
    const ns__data_store *s = b->ds->store;
    b->n_slots = b->opts.prefetch + 1;
    b->slots = ns_calloc(ctx, (size_t)b->n_slots, sizeof *b->slots);
    b->ready = ns_alloc(ctx, (size_t)b->opts.prefetch * sizeof *b->ready);
    if (b->slots == NULL || b->ready == NULL)
        return NS_ERR_NOMEM;
    for (int i = 0; i < b->n_slots; i++)
        if (!alloc_buffers(ctx, &b->slots[i].buf, b->cap, s->features, s->targets,
                           b->classification))
            return NS_ERR_NOMEM;
    if (!b->opts.no_shuffle) {
        b->bg.perm = ns_alloc(ctx, (size_t)b->rows * sizeof *b->bg.perm);
        if (b->bg.perm == NULL)
            return NS_ERR_NOMEM;
    }
    b->held = -1;
    b->next_valid = true; /* stream = next = (0, 0) */
    int rc = pthread_mutex_init(&b->mu, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&b->wake_producer, NULL);
        if (rc == 0) {
            rc = pthread_cond_init(&b->wake_caller, NULL);
            if (rc == 0) {
                rc = pthread_create(&b->thread, NULL, producer, b);
                if (rc == 0) {
                    b->threaded = true;
                    return NS_OK;
                }
                pthread_cond_destroy(&b->wake_caller);
            }
            pthread_cond_destroy(&b->wake_producer);
        }
        pthread_mutex_destroy(&b->mu);
    }
    return ns_errorf(ctx, NS_ERR_NOMEM, "batch: cannot start the prefetch thread: %s",
                     strerror(rc));
}

ns_status ns_batcher_new(const ns_dataset *ds, const ns_batch_options *opts, ns_batcher **out)
{
    NS_ASSERT(ds != NULL && opts != NULL && out != NULL);
    *out = NULL;
    ns_ctx *ctx = ds->ctx;
    if (opts->batch_size < 1)
        return ns_errorf(ctx, NS_ERR_INVALID, "batch: batch_size must be >= 1, got %d",
                         opts->batch_size);
    if (opts->prefetch < 0 || opts->prefetch > MAX_PREFETCH)
        return ns_errorf(ctx, NS_ERR_INVALID, "batch: prefetch must be 0 to %d batches, got %d",
                         MAX_PREFETCH, opts->prefetch);
    if ((uint64_t)ds->rows > (uint64_t)UINT32_MAX + 1)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                         "batch: '%s' has %lld rows; at most 2^32 rows can be shuffled",
                         ds->store->name, (long long)ds->rows);
    ns_batcher *b = ns_calloc(ctx, 1, sizeof *b);
    if (b == NULL)
        return NS_ERR_NOMEM;
    const ns__data_store *s = ds->store;
    b->ctx = ctx;
    b->ds = ds;
    b->opts = *opts;
    b->classification = s->task == NS_TASK_CLASSIFICATION;
    b->rows = ds->rows;
    int64_t bs = opts->batch_size;
    b->count = opts->drop_last ? b->rows / bs : b->rows / bs + (b->rows % bs != 0);
    b->cap = (int)(b->rows < bs ? (b->rows > 0 ? b->rows : 1) : bs);
    b->fg.epoch = b->bg.epoch = -1;

    ns_status st = NS_ERR_NOMEM;
    if (!alloc_buffers(ctx, &b->sync, b->cap, s->features, s->targets, b->classification))
        goto fail;
    if (!opts->no_shuffle && b->rows > 0) {
        b->fg.perm = ns_alloc(ctx, (size_t)b->rows * sizeof *b->fg.perm);
        if (b->fg.perm == NULL)
            goto fail;
    }
    if (opts->prefetch > 0 && b->count > 0) {
        st = start_prefetch(b);
        if (st != NS_OK)
            goto fail;
    }
    *out = b;
    return NS_OK;
fail:
    ns_batcher_free(b);
    return st;
}

void ns_batcher_free(ns_batcher *b)
{
    if (b == NULL)
        return;
    ns_ctx *ctx = b->ctx;
    if (b->threaded) {
        pthread_mutex_lock(&b->mu);
        b->stop = true;
        pthread_cond_signal(&b->wake_producer);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
        pthread_cond_destroy(&b->wake_caller);
        pthread_cond_destroy(&b->wake_producer);
        pthread_mutex_destroy(&b->mu);
    }
    if (b->slots != NULL)
        for (int i = 0; i < b->n_slots; i++)
            free_buffers(ctx, &b->slots[i].buf);
    ns_dealloc(ctx, b->slots);
    ns_dealloc(ctx, b->ready);
    ns_dealloc(ctx, b->bg.perm);
    ns_dealloc(ctx, b->fg.perm);
    free_buffers(ctx, &b->sync);
    ns_dealloc(ctx, b);
}

int64_t ns_batcher_count(const ns_batcher *b)
{
    return b->count;
}

ns_status ns_batcher_get(ns_batcher *b, int64_t epoch, int64_t index, ns_batch *out)
{
    NS_ASSERT(b != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (epoch < 0 || epoch == INT64_MAX)
        return ns_errorf(b->ctx, NS_ERR_INVALID, "batch: epoch %lld is out of range (0 or more)",
                         (long long)epoch);
    if (index < 0 || index >= b->count) {
        if (b->count == 0)
            return ns_errorf(b->ctx, NS_ERR_INVALID,
                             "batch: index %lld is out of range: '%s' has %lld rows, which make "
                             "no batch of %d%s",
                             (long long)index, b->ds->store->name, (long long)b->rows,
                             b->opts.batch_size, b->opts.drop_last ? " with drop_last" : "");
        return ns_errorf(b->ctx, NS_ERR_INVALID,
                         "batch: index %lld is out of range: an epoch has %lld batches "
                         "(0..%lld)",
                         (long long)index, (long long)b->count, (long long)b->count - 1);
    }
    pos want = {epoch, index};
    const buffers *buf = &b->sync;
    int n;
    const slot *s = b->threaded ? take_prefetched(b, want) : NULL;
    if (s != NULL) {
        buf = &s->buf;
        n = s->n;
    } else {
        n = fill(b, &b->fg, want, &b->sync);
    }
    out->x = buf->x;
    out->y = b->classification ? NULL : buf->y;
    out->labels = b->classification ? buf->labels : NULL;
    out->n = n;
    out->epoch = epoch;
    out->index = index;
    return NS_OK;
}
