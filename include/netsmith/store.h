/* netsmith store: the registry and the job queue, in the library netsmith_store (the core
 * library links no database). One interface over two backends: SQLite, embedded, by default
 * (sqlite:PATH), and PostgreSQL through libpq (postgresql://...), for workers on many
 * machines. Blobs (weights, checkpoints, run records, data files) live in the store with their
 * sha256, so workers need no shared filesystem.
 *
 * The registry's objects: architectures (named specs, by content hash), datasets (named data
 * sources), models (named instances of an architecture) with versions (weights, run record,
 * the job that made it, the parent version it was fine-tuned from) and aliases. Jobs (train,
 * fine-tune, evaluate) are claimed by workers under a lease with a fencing token: every write
 * of a running job names its token, and a worker whose lease was taken over can change
 * nothing. A handle is for one thread; each thread opens its own. */
#ifndef NETSMITH_STORE_H
#define NETSMITH_STORE_H

#include "netsmith/core.h"
#include "netsmith/pipeline.h"
#include "netsmith/run.h"
#include "netsmith/tune.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ns_store ns_store;

/* The store's URL when none is given: $NETSMITH_STORE, else "sqlite:netsmith.db". */
NS_API const char *ns_store_default_url(void);

/* Opens (and creates or migrates to the current schema) the store at url: "sqlite:PATH"
 * (a bare path means the same), "postgresql://..." or "postgres://..." (libpq's URI), or NULL
 * for ns_store_default_url(). *out is the caller's (ns_store_close); NULL on failure. Errors:
 * NS_ERR_INVALID for a URL of another scheme; NS_ERR_IO for a store that cannot be opened or
 * created (a read-only file, a server that does not answer), the message naming it and the
 * cause; NS_ERR_BUSY when it stays locked by another process; NS_ERR_FORMAT for a schema newer
 * than this netsmith knows; NS_ERR_NOMEM. */
NS_API ns_status ns_store_open(ns_ctx *ctx, const char *url, ns_store **out);
/* Closes the store; NULL is a no-op. */
NS_API void ns_store_close(ns_store *store);
/* The backend's name ("sqlite", "postgresql") and the schema version in use. */
NS_API const char *ns_store_backend(const ns_store *store);
NS_API int ns_store_schema_version(const ns_store *store);
/* The context the store reports on. */
NS_API ns_ctx *ns_store_ctx(const ns_store *store);

/* ---- blobs --------------------------------------------------------------------------- */

/* Stores data[n] under its sha256 (once: the same bytes again are a no-op) and writes the
 * hash as 64 hex digits into sha (65 bytes). Errors: NS_ERR_IO, NS_ERR_BUSY, NS_ERR_NOMEM. */
NS_API ns_status ns_store_blob_put(ns_store *store, const void *data, size_t n, char sha[65]);
/* The same for a file's contents. Errors: also NS_ERR_IO for a file that cannot be read. */
NS_API ns_status ns_store_blob_put_file(ns_store *store, const char *path, char sha[65]);
/* The blob of that hash: *data on the store's context (ns_dealloc), *n its size. Errors:
 * NS_ERR_NOTFOUND; NS_ERR_FORMAT when the bytes no longer match the hash; NS_ERR_IO. */
NS_API ns_status ns_store_blob_get(ns_store *store, const char *sha, void **data, size_t *n);
/* Writes the blob into path (atomically). Errors: those of ns_store_blob_get, NS_ERR_IO. */
NS_API ns_status ns_store_blob_get_file(ns_store *store, const char *sha, const char *path);

/* ---- architectures, datasets, models -------------------------------------------------- */

/* An object of the registry as JSON: {"name": ..., "created": ..., ...}. Lists are arrays of
 * them. *json on the store's context (ns_dealloc). */

/* Registers spec_json (either form; checked with ns_spec_parse, kept in canonical form) as
 * architecture name. The same name with the same spec again is a no-op. Errors:
 * NS_ERR_PARSE for a bad spec (the message names source); NS_ERR_STATE when the name holds
 * another spec; NS_ERR_INVALID for a bad name (letters, digits, '-', '_', '.'; 1 to 64). */
NS_API ns_status ns_store_arch_add(ns_store *store, const char *name, const char *spec_json,
                                   const char *source);
/* {"name", "hash", "spec" (the spec as an object), "created"}. Errors: NS_ERR_NOTFOUND (with
 * a did-you-mean). */
NS_API ns_status ns_store_arch_get(ns_store *store, const char *name, char **json);
NS_API ns_status ns_store_arch_list(ns_store *store, char **json);

/* Registers a data source as dataset name. data_json holds the data settings of a run config
 * (data, target, labels, delimiter, ...: ns_run_settings' names); a "data" that names a file
 * (not a built-in dataset) is stored as a blob with its hash, so that a worker elsewhere reads
 * the same bytes. Or it is {"pipeline": TEXT, "output": "CARD.PORT"}: a pipeline (checked now)
 * whose dataset output is the data, made where the dataset is used. The same name with the same
 * source again is a no-op. Errors: NS_ERR_INVALID for an unknown setting or bad name; NS_ERR_STATE
 * when the name holds another source; NS_ERR_IO for a file that cannot be read. */
NS_API ns_status ns_store_data_add(ns_store *store, const char *name, const char *data_json);
/* {"name", "source" (the settings), "hash", "blob" (the file's sha256 or null), "created"};
 * the list is an array of them by name. *json on the store's context (ns_dealloc). Errors:
 * NS_ERR_NOTFOUND (with a did-you-mean), NS_ERR_IO, NS_ERR_NOMEM. */
NS_API ns_status ns_store_data_get(ns_store *store, const char *name, char **json);
NS_API ns_status ns_store_data_list(ns_store *store, char **json);

/* Dataset name made ready to read: its data settings as a run config's (a JSON object into
 * *settings_json, on the store's context: ns_dealloc), with the files it keeps in the store
 * written into dir (made when missing), or, for a dataset a pipeline makes, that pipeline run
 * (with the store as its host) and its dataset saved into dir. Errors: those of
 * ns_store_data_get, of writing the files, and of the pipeline's run. */
NS_API ns_status ns_store_data_settings(ns_store *store, const char *name, const char *dir,
                                        char **settings_json);

/* Creates model name, an instance of architecture arch ("Convert To Model"). The same again
 * is a no-op. Errors: NS_ERR_NOTFOUND for an unknown architecture; NS_ERR_STATE when the name
 * is a model of another architecture; NS_ERR_INVALID for a bad name. */
NS_API ns_status ns_store_model_create(ns_store *store, const char *name, const char *arch);
/* {"name", "arch", "created", "versions": [{"version", "weights", "record", "job",
 * "parent": "NAME@V" or null, "metrics", "created"}], "aliases": {"production": 3}}; the list
 * is an array of them by name. *json on the store's context (ns_dealloc). Errors:
 * NS_ERR_NOTFOUND (with a did-you-mean), NS_ERR_IO, NS_ERR_NOMEM. */
NS_API ns_status ns_store_model_get(ns_store *store, const char *name, char **json);
NS_API ns_status ns_store_model_list(ns_store *store, char **json);

/* A model version named by "NAME", "NAME@3" or "NAME@ALIAS" (NAME alone: the latest). */
typedef struct ns_store_version {
    int64_t id;
    char model[72];
    char arch[72];
    int version;
    char weights[65]; /* the safetensors blob's sha256 */
    char record[65];  /* the run record blob's sha256, or "" */
    int64_t job;      /* the job that made it, or 0 (imported) */
    int64_t parent;   /* the version it was fine-tuned from (id), or 0 */
} ns_store_version;

/* Resolves ref into *out. Errors: NS_ERR_NOTFOUND (the model, version or alias; the message
 * says which and lists what there is); NS_ERR_INVALID for a malformed ref. */
NS_API ns_status ns_store_version_get(ns_store *store, const char *ref, ns_store_version *out);
/* Loads the model of the version ref names (ns_fit_load_buffer over its weights blob, named
 * "NAME@V" in messages) on ctx, with its info; *version (may be NULL) gets what ref resolved
 * to. Errors: those of ns_store_version_get, ns_store_blob_get and ns_fit_load_buffer, each
 * message on ctx. *model is the caller's (ns_model_free), info's fields are on ctx
 * (ns_model_info_deinit); NULL and zeroed on failure. */
NS_API ns_status ns_store_version_load(ns_store *store, const char *ref, ns_ctx *ctx,
                                       ns_model **model, ns_model_info *info,
                                       ns_store_version *version);
/* Adds a version of model from a safetensors file (a trained netsmith model or one PyTorch
 * wrote with nn.Sequential names), checked against the model's architecture: every tensor's
 * name and shape. *version (may be NULL) gets its number. Errors: NS_ERR_NOTFOUND;
 * NS_ERR_FORMAT or NS_ERR_SHAPE naming the tensor that does not fit; NS_ERR_IO. */
NS_API ns_status ns_store_model_import(ns_store *store, const char *model, const char *path,
                                       int *version);
/* Points alias (letters, digits, '-', '_') of model at the version ref names. Errors: those of
 * ns_store_version_get; NS_ERR_INVALID for a bad alias or a number as alias. */
NS_API ns_status ns_store_alias_set(ns_store *store, const char *ref, const char *alias);

/* Makes the objects of a YAML or JSON text exist in the store, as `netsmith apply -f` does: a
 * list of {kind, metadata: {name}, spec} with kind Architecture ({file: SPEC.json} or the spec
 * itself), Dataset (run data settings), Model ({arch, source: {file} | {model: NAME[@V]}}) or
 * ModelJob ({destinationModel, data, training, sourceModel, freeze, newHead}). Applying the
 * same text again changes nothing (a ModelJob is submitted once, by its name). Relative paths
 * are from base_dir. *report (ns_dealloc) lists what was done: [{"kind", "name", "action"}].
 * Objects before a failing one stay applied. Errors: NS_ERR_PARSE naming source, line and key
 * (an unknown kind or key, a missing name); those of the objects' own calls (NS_ERR_NOTFOUND
 * for a missing architecture, ...). */
NS_API ns_status ns_store_apply(ns_store *store, const char *text, size_t len, const char *source,
                                const char *base_dir, char **report);

/* The store as a pipeline's host (ns_pipeline_set_host): load_model's model (NAME[@VERSION])
 * and data_load's dataset (a registered name) come out of the store, their files written into
 * dir (made when missing). *state (ns_store_pipeline_host_free) holds what host points to; the
 * store must outlive both. Errors: NS_ERR_INVALID for a name too long, those of making dir,
 * NS_ERR_NOMEM. */
NS_API ns_status ns_store_pipeline_host(ns_store *store, const char *dir, ns_pipeline_host *host,
                                        void **state);
/* Frees a host's state; NULL is a no-op. */
NS_API void ns_store_pipeline_host_free(ns_store *store, void *state);

/* ---- jobs ----------------------------------------------------------------------------- */

#define NS_JOB_KIND_MAP(X)                                                                         \
    X(TRAIN, train)                                                                                \
    X(FINETUNE, finetune)                                                                          \
    X(EVALUATE, evaluate)                                                                          \
    X(CARD, card)                                                                                  \
    X(PIPELINE, pipeline)                                                                          \
    X(TRIAL, trial)

typedef enum ns_job_kind {
#define NS__JOB_KIND_ENUM(E, n) NS_JOB_##E,
    NS_JOB_KIND_MAP(NS__JOB_KIND_ENUM)
#undef NS__JOB_KIND_ENUM
        NS_JOB_KIND_COUNT
} ns_job_kind;

#define NS_JOB_STATE_MAP(X)                                                                        \
    X(QUEUED, queued)                                                                              \
    X(RUNNING, running)                                                                            \
    X(SUCCEEDED, succeeded)                                                                        \
    X(FAILED, failed)                                                                              \
    X(CANCELLED, cancelled)

typedef enum ns_job_state {
#define NS__JOB_STATE_ENUM(E, n) NS_JOB_##E,
    NS_JOB_STATE_MAP(NS__JOB_STATE_ENUM)
#undef NS__JOB_STATE_ENUM
        NS_JOB_STATE_COUNT
} ns_job_state;

/* Names ("train", "queued"; static; NULL out of range) and back (NS_ERR_NOTFOUND). */
NS_API const char *ns_job_kind_name(ns_job_kind kind);
NS_API ns_status ns_job_kind_parse(const char *name, ns_job_kind *out);
NS_API const char *ns_job_state_name(ns_job_state state);
NS_API ns_status ns_job_state_parse(const char *name, ns_job_state *out);

/* Submits a job. params_json by kind:
 *   train:    {"model": NAME, "data": DATASET, "config": {run settings}}
 *   finetune: {"from": "NAME[@V]", "to": NAME, "data": DATASET, "freeze": [0, 2],
 *              "new_head": false, "refit_normalization": false, "config": {...}}
 *   evaluate: {"model": "NAME[@V]", "data": DATASET}
 *   card:     {"card": NAME, "settings": {...}, "device": "cpu" | "cuda", "files": {FILE: sha256
 *              of a blob}, "inputs": {PORT: FILE}} (a pipeline's remote card)
 *   pipeline: {"pipeline": TEXT (a pipeline file's YAML or JSON), "source": NAME (for
 *              messages), "set": ["CARD.SETTING=VALUE", ...]}: run on a worker with the store
 *              as its host (its models and datasets by name), every top-level card's outputs
 *              put into the store (result: {"outputs": {"CARD/FILE": sha256}})
 *   trial:    made by the tuner only (ns_tune), never submitted: {"study": NAME, "trial": N,
 *              "data": DATASET, "config": {run settings}}; its result is {"trial", "state":
 *              "complete" | "pruned" | "paused", "value", "epoch", "weights", "record",
 *              "metrics"}
 * The objects named must exist (a finetune's destination is created, an instance of the
 * source's architecture, when missing) and the run settings are checked now, so a bad job is
 * refused at submission rather than failing on a worker. *id gets the job's number. Errors:
 * NS_ERR_INVALID or NS_ERR_PARSE for bad parameters (naming the key), NS_ERR_NOTFOUND for an
 * unknown object, NS_ERR_IO, NS_ERR_BUSY. */
NS_API ns_status ns_job_submit(ns_store *store, ns_job_kind kind, const char *params_json,
                               int priority, int64_t *id);

/* A job as the store holds it. Strings are the caller's: ns_job_clear. */
typedef struct ns_job {
    ns_ctx *ctx; /* the context its strings are on */
    int64_t id;
    ns_job_kind kind;
    ns_job_state state;
    int priority;
    int attempts;          /* claims so far */
    int64_t lease_token;   /* the fencing token of the latest claim */
    double lease_expires;  /* seconds since the epoch, by the store's clock */
    char worker[64];       /* the latest claimant */
    int64_t epoch, epochs; /* progress: epochs done and planned */
    bool cancel_requested;
    char *params;     /* the submitted parameters (JSON) */
    char *metrics;    /* the last epoch's metrics (JSON object) or NULL */
    char *error;      /* a failed job's message, or NULL */
    char *checkpoint; /* the last checkpoint: {"file": sha256, ...} (JSON) or NULL */
    char *result;     /* a finished job's result: {"model": NAME, "version": V, ...} */
    char *history; /* the epochs' metrics: one {"epoch", "metrics"} JSON object a line, or NULL */
    double created, started, finished; /* seconds since the epoch; 0 when not yet */
} ns_job;

/* Frees a job's strings and zeroes it. */
NS_API void ns_job_clear(ns_job *job);
/* Reads job id. Errors: NS_ERR_NOTFOUND, NS_ERR_IO. */
NS_API ns_status ns_job_get(ns_store *store, int64_t id, ns_job *out);
/* The job as JSON (every field above, by name; "history" an array of {"epoch", "metrics"} by
 * epoch, an epoch run again after a resume given once), *json on ctx (ns_dealloc). Errors:
 * NS_ERR_NOMEM. */
NS_API ns_status ns_job_to_json(ns_ctx *ctx, const ns_job *job, char **json);
/* The jobs (newest first), those in state `state` only when it is not NS_JOB_STATE_COUNT, as a
 * JSON array on the store's context (ns_dealloc). Errors: NS_ERR_IO, NS_ERR_NOMEM. */
NS_API ns_status ns_job_list(ns_store *store, ns_job_state state, char **json);
/* Cancels a queued job at once; asks a running one to stop (its worker sees it at its next
 * heartbeat and stops within one batch, keeping its last checkpoint). Finished jobs are left
 * as they are (NS_ERR_STATE). Errors: NS_ERR_NOTFOUND, NS_ERR_STATE. */
NS_API ns_status ns_job_cancel(ns_store *store, int64_t id);
/* Queues a failed or cancelled job again; it resumes from its last checkpoint. Errors:
 * NS_ERR_NOTFOUND; NS_ERR_STATE for a job that is not failed or cancelled. */
NS_API ns_status ns_job_retry(ns_store *store, int64_t id);
/* A new job with a finished job's parameters; from_weights makes it a fine-tune of the
 * version the job made (continuing training from its weights). *id the new job. Errors:
 * NS_ERR_NOTFOUND; NS_ERR_STATE for a job without a version to start from. */
NS_API ns_status ns_job_retrain(ns_store *store, int64_t id, bool from_weights, int64_t *new_id);

/* ---- claiming (workers) --------------------------------------------------------------- */

/* What a claim holds: the job and the fencing token every later write must name. */
typedef struct ns_lease {
    int64_t job;
    int64_t token;
} ns_lease;

/* Claims the most urgent job (highest priority, then oldest) that is queued, or running with
 * an expired lease (its worker died), for lease_seconds: attempts + 1, a new token. *claimed
 * says whether there was one; *job (ns_job_clear) and *lease then describe it. Never gives one
 * job to two workers: the claim is one transaction (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP
 * LOCKED at READ COMMITTED on PostgreSQL). Errors: NS_ERR_IO, NS_ERR_BUSY. */
NS_API ns_status ns_job_claim(ns_store *store, const char *worker, double lease_seconds,
                              ns_job *job, ns_lease *lease, bool *claimed);
/* ns_job_claim for a worker that offers the devices of a comma-separated list ("cpu,cuda"):
 * a job that needs cuda goes only to a worker offering it; every worker offers cpu. Errors:
 * those of ns_job_claim. */
NS_API ns_status ns_job_claim_on(ns_store *store, const char *worker, double lease_seconds,
                                 const char *devices, ns_job *job, ns_lease *lease, bool *claimed);
/* ns_job_claim_on for the jobs whose name starts with prefix only (NULL or "": any job).
 * Errors: those of ns_job_claim. */
NS_API ns_status ns_job_claim_named(ns_store *store, const char *worker, double lease_seconds,
                                    const char *devices, const char *prefix, ns_job *job,
                                    ns_lease *lease, bool *claimed);
/* Extends the lease by lease_seconds from now; *cancel (may be NULL) says whether the job was
 * asked to stop. Errors: NS_ERR_STATE when the lease is no longer this one's (taken over, or
 * the job ended): the worker must stop and write nothing more; NS_ERR_IO. */
NS_API ns_status ns_job_heartbeat(ns_store *store, const ns_lease *lease, double lease_seconds,
                                  bool *cancel);
/* Records progress: epochs done of planned, and the last epoch's metrics (JSON or NULL).
 * Errors: NS_ERR_STATE for a lost lease; NS_ERR_IO. */
NS_API ns_status ns_job_progress(ns_store *store, const ns_lease *lease, int64_t epoch,
                                 int64_t epochs, const char *metrics_json);
/* Records the job's checkpoint (a directory's files, stored as blobs first: {"name": sha}).
 * Errors: NS_ERR_STATE for a lost lease; NS_ERR_IO. */
NS_API ns_status ns_job_checkpoint(ns_store *store, const ns_lease *lease,
                                   const char *checkpoint_json);
/* Ends the job: succeeded (result_json: what it made), failed (error: the message; the
 * checkpoint stays) or cancelled. Errors: NS_ERR_STATE for a lost lease; NS_ERR_IO. */
NS_API ns_status ns_job_finish(ns_store *store, const ns_lease *lease, ns_job_state state,
                               const char *result_json, const char *error);
/* Gives a running job back to the queue (its worker is stopping): queued again, claimable at
 * once, its checkpoint kept so the next worker resumes from it. Errors: NS_ERR_STATE for a lost
 * lease; NS_ERR_IO. */
NS_API ns_status ns_job_release(ns_store *store, const ns_lease *lease);
/* Ends a job that made a model version, in one transaction: adds version (max + 1) of model
 * with the weights and the run record (blobs stored first), made by this job, fine-tuned from
 * parent (a version id; 0: none), and marks the job succeeded with result {"model", "version"}.
 * A worker that lost its lease adds nothing. *version (may be NULL) gets the number. Errors:
 * NS_ERR_STATE for a lost lease; NS_ERR_NOTFOUND for an unknown model; NS_ERR_IO. */
NS_API ns_status ns_job_succeed(ns_store *store, const ns_lease *lease, const char *model,
                                const char *weights_sha, const char *record_sha, int64_t parent,
                                const char *metrics_json, int *version);

/* ---- events --------------------------------------------------------------------------- */

/* The store keeps a log of what happens to jobs, for the faces that show it live: "job" (a
 * state change: {"state", "kind", and "worker", "attempt" when running, "result", "error" when
 * ended}), "cancel_requested", "epoch" ({"epoch", "epochs", "metrics"}), "checkpoint"
 * ({"epoch"}) and "card" (a pipeline job's card event: {"event", "id", "card", "depth",
 * "iteration", "iterations", "seconds", "message"}). Each is written in the transaction of the
 * change it tells, with an id that only grows (ids commit in order, also on PostgreSQL), so a
 * reader that asks for the ids after the last it saw misses none. The log keeps the newest
 * NS_STORE_EVENTS_KEEP events ($NETSMITH_STORE_EVENTS_KEEP overrides). */
#define NS_STORE_EVENTS_KEEP 10000

/* The events after id `after` (0: from the oldest kept), of job `job` only when job > 0, at
 * most limit (1 to 100000; others mean 100000), oldest first, as a JSON array on the store's
 * context (ns_dealloc): [{"id", "job" (or null), "type", "data", "time"}]. *first (may be
 * NULL) gets the oldest id the log still keeps (0 when it is empty): a reader whose `after` is
 * below first - 1 has missed events that are gone. Errors: NS_ERR_IO, NS_ERR_NOMEM. */
NS_API ns_status ns_store_events(ns_store *store, int64_t after, int64_t job, int limit,
                                 char **json, int64_t *first);
/* The newest event's id into *id (0 when the log is empty). Errors: NS_ERR_IO. */
NS_API ns_status ns_store_event_last(ns_store *store, int64_t *id);
/* Adds an event of type with data (a JSON object, or NULL for {}) about a running job, from
 * its worker (a pipeline job's card events). Errors: NS_ERR_STATE for a lost lease;
 * NS_ERR_INVALID for data that is not a JSON object; NS_ERR_IO. */
NS_API ns_status ns_job_event(ns_store *store, const ns_lease *lease, const char *type,
                              const char *data_json);

/* ---- saved pipelines ------------------------------------------------------------------ */

/* Keeps a pipeline file's text (YAML or JSON) as pipeline name, checked first over the
 * built-in cards (ns_cards_new) as ns_pipeline_parse_unchecked checks it: everything but the
 * cards' own checks, which may read the files its settings name and run with the pipeline
 * (messages naming source, or name when source is NULL). The same name with the same text
 * again is a no-op; a new text for a name replaces the old one and its "updated" time.
 * Errors: NS_ERR_INVALID for a bad name (letters, digits, '-', '_', '.'; 1 to 64, starting
 * with a letter or digit), an empty text or one over 1 MiB, and every failed check of the
 * pipeline (the message names source, line and card); NS_ERR_PARSE for text that is not YAML
 * (naming source, line and column); NS_ERR_IO, NS_ERR_BUSY, NS_ERR_NOMEM. */
NS_API ns_status ns_store_pipeline_save(ns_store *store, const char *name, const char *text,
                                        const char *source);
/* {"name", "text", "hash" (the text's sha256), "created", "updated"}; the list is an array of
 * them by name. *json on the store's context (ns_dealloc). Errors: NS_ERR_NOTFOUND (with a
 * did-you-mean), NS_ERR_IO, NS_ERR_NOMEM. */
NS_API ns_status ns_store_pipeline_get(ns_store *store, const char *name, char **json);
NS_API ns_status ns_store_pipeline_list(ns_store *store, char **json);
/* Forgets pipeline name (jobs that ran it keep their own copy of the text). Errors:
 * NS_ERR_NOTFOUND (with a did-you-mean), NS_ERR_IO, NS_ERR_BUSY. */
NS_API ns_status ns_store_pipeline_delete(ns_store *store, const char *name);

/* ---- studies (the tuner) --------------------------------------------------------------- */

/* A study in the store: its definition (ns_study_def_to_json: the sampler's and pruner's
 * settings, the space, the base run config), and its trials, each a row (number, settings)
 * and a trial job on the queue. A trial's state, step values and value are its job's: running
 * while the job is queued or running, then the job's result ("complete" with the objective's
 * value, "pruned", or "paused" at a rung until the tuner promotes it, when the job is queued
 * again and resumes from its checkpoint), failed with the job. Everything a trial changes is
 * written in its job's own fenced transactions, so a kill -9 anywhere loses nothing and
 * repeats nothing. */

/* Creates study def, with its data registered as dataset "study-NAME" (so a worker elsewhere
 * reads the same bytes). Errors: NS_ERR_STATE when a study of that name exists (the message
 * says to resume it); those of ns_store_data_add; NS_ERR_IO, NS_ERR_BUSY. */
NS_API ns_status ns_store_study_create(ns_store *store, const ns_study_def *def);
/* Study name's definition. *def is the caller's (ns_study_def_free). Errors: NS_ERR_NOTFOUND
 * (with a did-you-mean); NS_ERR_IO. */
NS_API ns_status ns_store_study_def(ns_store *store, const char *name, ns_study_def **def);
/* Study name with every trial as the store holds it now. *study is the caller's
 * (ns_study_free); *jobs (may be NULL) gets the trials' job ids, [ns_study_size] on the
 * store's context (ns_dealloc). Errors: those of ns_store_study_def; NS_ERR_IO. */
NS_API ns_status ns_store_study_load(ns_store *store, const char *name, ns_study **study,
                                     int64_t **jobs);
/* The studies, newest first: [{"name", "state" ("running" or "complete"), "trial_count",
 * "budget", "complete", "pruned", "paused", "running", "failed" (trials in each state),
 * "best_value", "best_trial" (null when none is complete), "metric", "direction", "sampler",
 * "pruner", "created", "updated", "model": {"name", "version"} (the best trial's, once
 * registered) or null}]. *json on the store's context (ns_dealloc). Errors: NS_ERR_IO,
 * NS_ERR_NOMEM. */
NS_API ns_status ns_store_study_list(ns_store *store, char **json);
/* One study in full: the list's fields, "definition", "trials": [{"number", "state",
 * "params", "value", "job", "steps": [values by epoch, null where none], "epoch" (of a
 * paused or pruned trial, the epochs of a complete one), "attempts"}], "best": {"number",
 * "value", "params", "job"} or null, and "importance" (ns_study_importance's). Errors:
 * NS_ERR_NOTFOUND; NS_ERR_IO; NS_ERR_NOMEM. */
NS_API ns_status ns_store_study_get(ns_store *store, const char *name, char **json);

/* What ns_tune tells a face as the study goes. */
typedef enum ns_tune_event_kind {
    NS_TUNE_TRIAL_STARTED = 0, /* a trial was asked for and queued (trial, params) */
    NS_TUNE_TRIAL_PROMOTED,    /* a paused trial was queued again (trial) */
    NS_TUNE_TRIAL_ENDED,       /* a trial ended (trial, state, value) */
    NS_TUNE_FINISHED           /* every trial ended (best, best_value) */
} ns_tune_event_kind;

typedef struct ns_tune_event {
    ns_tune_event_kind kind;
    int trial;
    ns_trial_state state;
    double value;
    const char *params; /* TRIAL_STARTED: {SETTING: value} */
    int done, total;    /* trials ended so far, and the study's budget */
    int best;           /* the best complete trial so far, or -1 */
    double best_value;
} ns_tune_event;

typedef struct ns_tune_options {
    bool resume;             /* go on with the stored study of that name */
    bool remote;             /* only queue trials: workers elsewhere run them */
    int trials;              /* overrides the study's budget (0: keep) */
    int parallel;            /* overrides the trials running at once (0: keep) */
    double poll_seconds;     /* 0.2 */
    double lease_seconds;    /* the local workers' leases (30) */
    const char *work_dir;    /* the local workers' directory (default: a temporary one) */
    const ns_progress *stop; /* its cancel flag stops the tuner (trials stay queued) */
    void (*on_event)(void *ud, const ns_tune_event *ev);
    void *ud;
} ns_tune_options;

/* The defaults above, everything else zero or NULL. */
NS_API void ns_tune_options_default(ns_tune_options *opts);
/* Runs a study to its end: creates it (def; or with opts->resume and def NULL, the stored
 * study `name`), keeps `parallel` trials queued or running, each trial's settings asked of the
 * sampler when a slot frees, paused trials promoted before new ones are started, and runs
 * `parallel` local workers itself unless opts->remote. A resumed study first frees the jobs of
 * workers on this machine whose process is gone (their leases expired at once), then goes on:
 * no trial is lost or run twice, and the budget is exact. At the end paused trials that were
 * never promoted count as pruned (a later resume makes them paused again, for the trials to
 * come to promote) and the best trial's model is registered as a version of the
 * model named after the study (or NAME-trial-N when that model has another architecture).
 * *summary (may be NULL; ns_dealloc) gets ns_store_study_get's JSON. Errors: NS_ERR_STATE for
 * a study that exists without resume, or resume of another definition's name;
 * NS_ERR_NOTFOUND for resume of an unknown study; NS_ERR_CANCELLED when opts->stop stopped
 * it (resume goes on); those of the store. */
NS_API ns_status ns_tune(ns_store *store, const ns_study_def *def, const char *name,
                         const ns_tune_options *opts, char **summary);

/* Jobs running under workers of this machine whose process has exited (a kill -9): their
 * leases expire now, so the next claim resumes them from their checkpoints. *count (may be
 * NULL) gets how many. Workers are recognised by their default names (host:pid). Errors:
 * NS_ERR_IO. */
NS_API ns_status ns_job_reclaim_local(ns_store *store, int *count);

/* ---- workers -------------------------------------------------------------------------- */

typedef struct ns_worker_options {
    const char *name;         /* the worker's name in the store (default: host:pid) */
    double lease_seconds;     /* 30 */
    int jobs;                 /* stop after this many jobs (0: never) */
    bool once;                /* stop when no job is waiting */
    double poll_seconds;      /* how long to wait between empty claims (0.5) */
    const char *work_dir;     /* where jobs run (default: a temporary directory) */
    int64_t checkpoint_steps; /* also checkpoint every this many batches (0: every epoch) */
    const char *devices;      /* what it offers, comma-separated ("cpu,cuda"; NULL: "cpu") */
    const char *name_prefix;  /* claim only jobs whose name starts with this (a study's trials:
                                 "study:NAME:"); NULL: any job */
    const ns_progress *stop;  /* its cancel flag stops the worker (may be NULL) */
    /* Each job's events, for a face that shows them (may be NULL). */
    void (*on_event)(void *ud, const ns_job *job, const ns_run_event *ev);
    void *ud;
} ns_worker_options;

/* The defaults above, everything else zero or NULL. */
NS_API void ns_worker_options_default(ns_worker_options *opts);
/* Claims and runs jobs until opts says to stop: each job runs one ns_run (train, fine-tune) or
 * an evaluation, checkpointing into the store every epoch, renewing its lease, stopping within
 * one batch when cancelled or when the lease is lost. A re-claimed job resumes from its last
 * checkpoint, and its final weights are byte-identical to an uninterrupted run's. A job's own
 * failure is recorded on the job (its message kept) and the worker goes on. *done (may be
 * NULL) counts the jobs it ran. Errors: the store's (NS_ERR_IO, NS_ERR_BUSY) when it cannot go
 * on, NS_ERR_CANCELLED when opts->stop stopped it. */
NS_API ns_status ns_worker_run(ns_store *store, const ns_worker_options *opts, int *done);

#ifdef __cplusplus
}
#endif

#endif
