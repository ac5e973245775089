/* netsmith run: one training run over datasets, for every face (the command line, the Train
 * card, a queue worker, a tuner trial). The run config is data: one table of settings read
 * from YAML/JSON files, flags, card settings and API bodies. ns_run loads the data, splits
 * it, normalises it, trains once per seed (ns_fit: the Train card), evaluates every split,
 * saves the model and keeps the run record; events report its progress and a cancel flag
 * stops it. Also the Evaluate and Inference cards over datasets, and model files with their
 * data description. */
#ifndef NETSMITH_RUN_H
#define NETSMITH_RUN_H

#include <stdio.h>

#include "netsmith/core.h"
#include "netsmith/data.h"
#include "netsmith/io.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the run config ------------------------------------------------------------------------ */

/* At most this many seeds in one run. */
#define NS_RUN_MAX_SEEDS 64

/* The settings of a run: every one with its name, type, default, range, documentation and
 * aliases (the names the seed's cards and configs used: optimizer_type, learning_rate / lr,
 * gradient_clip / clip_norm, net / net_config, optimizer_config.betas, ...). A flag is the
 * name with dashes (--batch-size), a key of a YAML/JSON run config the name itself. */
NS_API const ns_setting_def *ns_run_settings(int *count);
/* The setting of a name or alias; NULL when unknown. */
NS_API const ns_setting_def *ns_run_setting_find(const char *name);
/* A setting's other names, '|'-separated ("lr|optimizer_config.lr"); NULL when none. */
NS_API const char *ns_run_setting_aliases(const char *name);
/* Whether a setting (canonical name) says what data a run reads and how (data, target,
 * features, exclude, labels, task, one_hot, delimiter, no_header, missing, max_classes): the
 * settings a registered dataset holds. */
NS_API bool ns_run_setting_is_data(const char *name);
/* Those settings' names, "data" first; *count gets how many. */
NS_API const char *const *ns_run_data_settings(int *count);

/* The settings given for a run, by their canonical names; a setting not given reads as its
 * default. A config belongs to one thread at a time. */
typedef struct ns_run_config ns_run_config;

/* A config with nothing given (every setting reads as its default); *out is the caller's
 * (ns_run_config_free; NULL is a no-op); NS_ERR_NOMEM. A copy holds the same settings
 * (ns_run_config_copy). ns_run_config_ctx: the context it was made on. */
NS_API ns_status ns_run_config_new(ns_ctx *ctx, ns_run_config **out);
NS_API void ns_run_config_free(ns_run_config *cfg);
NS_API ns_status ns_run_config_copy(const ns_run_config *cfg, ns_run_config **out);
NS_API ns_ctx *ns_run_config_ctx(const ns_run_config *cfg);
/* One setting (a name or an alias) from a JSON value ("0.01", "[0.9, 0.99]", "\"adam\"");
 * later values win. Errors (NS_ERR_INVALID) name source and the key and say what is wrong:
 * an unknown key (with a did-you-mean), a wrong type, a value out of range, a wrong choice;
 * NS_ERR_PARSE when json_value is not JSON (the config is unchanged after either);
 * NS_ERR_NOMEM. */
NS_API ns_status ns_run_config_set(ns_run_config *cfg, const char *name, const char *json_value,
                                   const char *source);
/* One setting from a flag's text, read by its type: numbers strictly, booleans
 * true/false/1/0 (or yes/no), lists as "0.7,0.15,0.15", the model as a name or a {...} spec.
 * Errors as ns_run_config_set's (NS_ERR_INVALID for text its type does not read); NS_ERR_PARSE
 * for a {...} that is not a YAML or JSON mapping. */
NS_API ns_status ns_run_config_set_text(ns_run_config *cfg, const char *name, const char *text,
                                        const char *source);
/* A mapping of settings (JSON object text: a card's settings, an API body). A group mapping
 * (optimizer_config, scheduler_config, early_stopping, data_config) holds settings by their
 * short names. Errors: NS_ERR_PARSE for text that is not JSON; NS_ERR_INVALID for JSON that
 * is not an object or an unknown key in a group, and the errors of ns_run_config_set for each
 * key; NS_ERR_NOMEM. The keys before a bad one stay set. */
NS_API ns_status ns_run_config_merge(ns_run_config *cfg, const char *json_object, const char *source);
/* A run config file (YAML or JSON). Relative paths of files it reads (model, data, labels)
 * are taken from the file's directory, as a pipeline's are; files it writes from the current
 * directory. Errors: ns_read_file's (NS_ERR_IO) and ns_yaml_to_json's (NS_ERR_PARSE), then as
 * ns_run_config_merge's; NS_ERR_NOTFOUND for a relative input path that names no file in the
 * config's directory but does from the current one (the message says how to write it). */
NS_API ns_status ns_run_config_load(ns_run_config *cfg, const char *path);
/* The rules between settings a run needs: a model and data, resume with a checkpoint_dir,
 * no single output for several seeds. NS_ERR_INVALID naming the settings. ns_run checks them
 * too; a face calls it to refuse a config before it starts. */
NS_API ns_status ns_run_config_check(const ns_run_config *cfg);
/* Whether a setting was given (not null). */
NS_API bool ns_run_config_has(const ns_run_config *cfg, const char *name);
/* A setting's value, given or its default (0, false, "" or -1 when it has none). */
NS_API int64_t ns_run_config_int(const ns_run_config *cfg, const char *name);
NS_API double ns_run_config_number(const ns_run_config *cfg, const char *name);
NS_API bool ns_run_config_bool(const ns_run_config *cfg, const char *name);
NS_API const char *ns_run_config_string(const ns_run_config *cfg, const char *name);
/* A list setting into out[cap]; returns its length (-1 when it has none). */
NS_API int ns_run_config_list(const ns_run_config *cfg, const char *name, double *out, int cap);
/* The settings given as a JSON object under their canonical names (reads back with
 * ns_run_config_merge to the same config). *json on the config's context (ns_dealloc); NULL
 * on failure. Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_run_config_to_json(const ns_run_config *cfg, char **json);
/* The run config's JSON schema (every setting: type, range, default, description, aliases),
 * for a web form or a tuner's search space. *json on ctx (ns_dealloc); NULL on failure.
 * Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_run_config_schema(ns_ctx *ctx, char **json);

/* ---- events ------------------------------------------------------------------------------ */

typedef enum ns_run_event_kind {
    NS_RUN_STARTED = 0,  /* the run starts: data loaded and split (rows of each part) */
    NS_RUN_SEED_STARTED, /* a seed's training starts */
    NS_RUN_RESUMED,      /* it continues from a checkpoint (path, epoch, batch) */
    NS_RUN_NO_CHECKPOINT, /* resume was asked but path holds no checkpoint: it starts afresh */
    NS_RUN_BATCH,        /* a training batch finished (epoch, batch, batches, loss) */
    NS_RUN_EPOCH,        /* an epoch finished (report) */
    NS_RUN_CHECKPOINT,   /* a checkpoint was written (path) */
    NS_RUN_SAVED,        /* the model file was written (path) */
    NS_RUN_SEED_FINISHED, /* a seed's training and evaluation finished (seed_result) */
    NS_RUN_FINISHED,     /* the run finished; the record is complete */
    NS_RUN_FAILED        /* the run failed or was cancelled (message) */
} ns_run_event_kind;

/* The event's name ("started", "epoch", ...; a static string, "unknown" out of range). */
NS_API const char *ns_run_event_kind_name(ns_run_event_kind kind);

typedef struct ns_run_seed ns_run_seed;

typedef struct ns_run_event {
    ns_run_event_kind kind;
    int seed_index, seeds;      /* which seed of how many */
    uint64_t seed;
    int64_t epoch, epochs;      /* BATCH, EPOCH, RESUMED: 0-based epoch and the planned count */
    int64_t batch, batches;     /* BATCH, RESUMED: batches done in the epoch, per epoch */
    double loss;                /* BATCH: its loss */
    const ns_epoch_report *report; /* EPOCH */
    const char *path;           /* RESUMED, CHECKPOINT, SAVED: the file; STARTED: the run dir */
    int64_t rows;               /* STARTED: the data's rows (the official test set apart) */
    int64_t train_rows, val_rows, test_rows; /* SEED_STARTED: each part's rows (each seed
                                                splits the data with its seed); STARTED:
                                                test_rows, an official test set's */
    const ns_run_seed *result;  /* SEED_FINISHED */
    const char *message;        /* FAILED: the error */
} ns_run_event;

/* How a caller follows a run: events (may be NULL) and a progress hook (may be NULL) that
 * gets (steps done, steps planned) per batch and whose cancel flag stops the run at the next
 * batch: a checkpoint is written first when the run keeps them, so it can resume. */
typedef struct ns_run_hooks {
    void (*on_event)(void *ud, const ns_run_event *ev);
    void *ud;
    const ns_progress *progress;
} ns_run_hooks;

/* What a run produced. Owned by the caller: ns_fit_result_free. */
typedef struct ns_fit_result {
    ns_model *model;             /* the trained model (normalisation and labels travel with it) */
    ns_task task;
    int classes;
    ns_norm norm;                /* the fitted normalisation (kind NONE if none) */
    ns_epoch_report *history;    /* per epoch */
    int epochs_run;
    ns_stop_reason stop_reason;
    bool resumed;                /* started from a checkpoint */
    int64_t resumed_epoch, resumed_batch;
    char loss[24], optimizer[16];
    bool borrowed;               /* model is the borrowed optimizer's (not freed with the result) */
    char *settings_json;         /* every training setting as used (JSON object) */
    char *transfer_json;         /* trained on from a model or with frozen layers: {"loaded":
                                    [names], "new": [names] (new_head), "frozen": [layers]};
                                    else NULL */
} ns_fit_result;

/* Frees what a result owns (the model unless borrowed, the history, the settings) and zeroes
 * it; r may be NULL or freed already. */
NS_API void ns_fit_result_free(ns_ctx *ctx, ns_fit_result *r);

/* What ns_fit trains: spec (a blueprint, built for train's shape with cfg's seed) or model
 * (already built; its weights are the start) — exactly one non-NULL. optim (may be NULL) is
 * an optimizer of model that the run borrows (its settings, moments and step count go on);
 * NULL makes one from cfg. train and val (may be NULL) are datasets; cfg's normalize is fitted
 * on train, unless train is normalised already, and applied to both. */
typedef struct ns_fit_input {
    const ns_spec *spec;
    ns_model *model;
    ns_optim *optim;
    const ns_dataset *train, *val;
    bool in_place; /* train model itself (as with optim), not a copy of it */
} ns_fit_input;

/* The Train card: settings from cfg, else from the blueprint's training section, else the
 * defaults. callbacks (may be NULL) can stop training after a batch or an epoch; hooks (may
 * be NULL) get the batch, epoch and checkpoint events and the progress. On NS_OK *result
 * holds the model; on NS_ERR_NONFINITE or NS_ERR_CANCELLED *result still holds the model and
 * history so far (the model's weights are finite). A borrowed optimizer's model is trained in
 * place (result->model is then that model, not owned by the result). Other errors: the
 * trainer's, and NS_ERR_INVALID for bad settings, a train set without rows, an optimizer of
 * another model or one given with resume; NS_ERR_SHAPE for a model whose inputs or outputs do
 * not fit the data; NS_ERR_STATE for a checkpoint_dir another run holds, or when resuming
 * from a checkpoint made for another spec, settings or data; those of building the model and
 * of reading or writing checkpoints; NS_ERR_NOMEM. *result is the caller's whatever the
 * status: ns_fit_result_free (a failure that leaves no model leaves nothing else to free). */
NS_API ns_status ns_fit(ns_ctx *ctx, const ns_run_config *cfg, const ns_fit_input *in,
                        const ns_train_callbacks *callbacks, const ns_run_hooks *hooks,
                        ns_fit_result *result);

/* ---- a whole run ------------------------------------------------------------------------- */

/* One seed's training: what it did and how it scored. */
struct ns_run_seed {
    uint64_t seed;
    char *dir;                /* its record directory (the run's, or seed-N/ below it) */
    char *model_path;         /* the model file written */
    ns_epoch_report *history; /* [epochs_run]: every epoch once, also across resumes */
    int epochs_run;
    ns_stop_reason stop_reason;
    bool resumed;
    int64_t resumed_epoch, resumed_batch;
    ns_metric_values train, val, test;
    bool has_val, has_test;
    /* classification: the confusion matrix of the last part evaluated (test, else val, else
     * train), [classes * classes] counts, row = true class; NULL and 0 for regression */
    int64_t *confusion;
    int classes;
    double seconds;
};

/* The record of a run: what a run directory holds, and the row a registry stores. */
typedef struct ns_run_record {
    ns_ctx *ctx;         /* the context it was made on */
    char *run_dir;
    char *settings_json; /* every setting as used (the blueprint's values resolved) */
    char *spec_json;     /* the blueprint (canonical JSON) */
    char *data;          /* the data source as given */
    char *data_name;
    uint64_t data_hash;  /* of the loaded rows (before the split) */
    int64_t rows, train_rows, val_rows, test_rows;
    bool official_test;  /* the test part is the data's own test set */
    ns_task task;
    int classes;
    int n_seeds;
    ns_run_seed *seeds;  /* [n_seeds] (those run so far) */
    int seeds_planned;
    /* Several seeds: mean and sample standard deviation of each metric over the seeds, on the
     * test part (or the validation part when there is no test part). */
    ns_metric_values mean, std;
    bool summary_of_test;
    /* provenance */
    char version[16];
    char *kernels;       /* ns_kernel_path() */
    int threads;
    char started[32];    /* UTC, ISO 8601 */
    double seconds;
    ns_status status;    /* NS_OK, or why it failed */
    char *error;         /* the message when it failed */
    /* A cancelled run: the checkpoint_dir to give (with resume and the same settings and
     * run_dir) to go on from where it stopped; NULL otherwise. */
    char *resume_dir;
    /* Trained on from a model file or with frozen layers: {"loaded": [tensor names], "new":
     * [tensor names of a new head], "frozen": [layers]} (the first seed's); else NULL. */
    char *transfer_json;
} ns_run_record;

/* A run: loads the config's data and for each seed splits it (with that seed), normalises, trains
 * (ns_fit, with checkpoints when checkpoint_dir is set), evaluates every part and saves the
 * model; the record goes into run_dir (settings.json, metrics.csv per seed, record.json, and
 * summary.json for several seeds), written atomically as the run goes. The run directory is
 * locked while the run uses it; an existing run_dir is refused unless resuming, and a default
 * one (runs/<time>-<data>) gets a -2, -3, ... suffix when taken. A model file as the model is
 * trained on from, its data read by its columns, categories and targets. A threads setting is
 * set on ctx (ns_ctx_set_threads). *record (may be NULL) gets the
 * record also when the run fails (record->status, record->error); free it with
 * ns_run_record_free (it is NULL only when the record itself ran out of memory). Errors:
 * NS_ERR_INVALID for settings ns_run_config_check or the split refuses, or a bad threads or
 * model_config; NS_ERR_NOTFOUND for a model that is neither a file nor a named blueprint; the
 * errors of loading the model (ns_spec_load, ns_fit_load) and the data (ns_data_open), of
 * ns_data_split and ns_fit (NS_ERR_NONFINITE, NS_ERR_CANCELLED, ...), of evaluating and of
 * saving the model; NS_ERR_STATE for a run_dir another run holds or that holds another run's
 * record (without resume); NS_ERR_IO for directories and files it cannot write;
 * NS_ERR_NOMEM. */
NS_API ns_status ns_run(ns_ctx *ctx, const ns_run_config *cfg, const ns_run_hooks *hooks,
                        ns_run_record **record);
/* Frees a record and everything it holds. NULL is a no-op. */
NS_API void ns_run_record_free(ns_run_record *record);
/* The record as JSON (settings, data, per-seed history and metrics, summary, provenance).
 * *json on ctx (ns_dealloc); NULL on failure. Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_run_record_to_json(ns_ctx *ctx, const ns_run_record *record, char **json);

/* Model files with their data description: the normalisation, the task, class labels and
 * target names (all in __metadata__), next to the weights. */
typedef struct ns_model_info {
    ns_task task;
    int classes;
    char **class_names; /* [classes] or NULL */
    int targets;
    char **target_names; /* [targets] or NULL */
    ns_norm norm;
    /* The training data's columns (see "data for a run" below); 0 and NULL in files written
     * before they were stored, and (features) for images: */
    int features;
    char **feature_names;        /* [features] the feature columns, in input order */
    int one_hot_count;
    ns_one_hot_column *one_hot;  /* [one_hot_count] text columns and their categories */
    int target_columns;
    char **target_column_names;  /* [target_columns] the target column(s) */
    float input_scale;           /* byte images: the factor bytes were multiplied by; else 0 */
} ns_model_info;

/* Saves model + info (+ extra metadata). Errors (on the model's context): those of
 * ns_model_save (NS_ERR_NONFINITE, NS_ERR_IO, ...); NS_ERR_INVALID for a normalisation
 * ns_norm_to_json refuses; NS_ERR_NOMEM. */
NS_API ns_status ns_fit_save(ns_model *model, const ns_model_info *info, const char *path);
/* Loads a model file and its info. Errors: those of ns_model_load; NS_ERR_FORMAT naming the
 * file for metadata that is malformed or does not fit the model (task, labels, targets,
 * columns, input scale, a normalisation of another width); ns_norm_from_json's NS_ERR_PARSE;
 * NS_ERR_NOMEM. *model is the caller's: ns_model_free; info's fields are allocated on ctx:
 * ns_model_info_deinit(ctx, info). On failure *model is NULL and *info zeroed. */
NS_API ns_status ns_fit_load(ns_ctx *ctx, const char *path, int max_batch, ns_model **model,
                             ns_model_info *info);
/* The same from a model file's bytes in memory (buf[len], copied; a blob from the store),
 * named name in messages (NULL: "(buffer)"). Errors as ns_fit_load's, less NS_ERR_IO. */
NS_API ns_status ns_fit_load_buffer(ns_ctx *ctx, const void *buf, size_t len, const char *name,
                                    int max_batch, ns_model **model, ns_model_info *info);
/* Frees what info's fields hold and zeroes it. */
NS_API void ns_model_info_deinit(ns_ctx *ctx, ns_model_info *info);
/* The info of a training result and its training dataset: copies, the caller's
 * (ns_model_info_deinit). Errors: NS_ERR_NOMEM (*info zeroed). */
NS_API ns_status ns_model_info_from(ns_ctx *ctx, const ns_fit_result *r, const ns_dataset *ds,
                                    ns_model_info *info);

/* The Evaluate card over a raw dataset: applies info's normalisation, runs the model in
 * evaluation mode with info's task loss, and accumulates into acc (made by the caller with
 * ns_metrics_new for info's task; reset first). Read it with ns_metrics_compute and
 * ns_metrics_confusion. batch 0 means the model's max_batch. A classifier's data classes are
 * matched to the model's by name (ns_fit_class_map), so data with some of the classes, or in
 * another order, scores right; a class the model does not know is NS_ERR_INVALID. progress (may
 * be NULL) gets (batches done, batches) under the stage "evaluate" and can cancel
 * (NS_ERR_CANCELLED). NS_ERR_SHAPE when data's features or regression targets do not match
 * the model; NS_ERR_INVALID when data's task is not the model's. */
NS_API ns_status ns_fit_evaluate(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                                 int batch, ns_metrics *acc, const ns_progress *progress);

/* Inference: out[rows, outputs] model outputs in evaluation mode for every row of data
 * (normalised by info's fit). For classification also probabilities (softmax, or sigmoid for
 * one logit) when probs is non-NULL: probs[rows, classes]. progress (may be NULL) gets (batches
 * done, batches) under the stage "predict" and can cancel (NS_ERR_CANCELLED). NS_ERR_SHAPE
 * when data's feature count is not the model's input size; the errors of ns_data_normalize
 * for info's fit; NS_ERR_NOMEM. */
NS_API ns_status ns_fit_predict(ns_model *model, const ns_model_info *info, const ns_dataset *data,
                                float *out, float *probs, const ns_progress *progress);

/* Writes predictions as CSV to f: for a classifier "row,label,p_<class>,..." from
 * probs[rows, C] (C = k, or 2 for one logit), for a regression "row,<target>,..." from
 * out[rows, k]. Names come from info, else from ds, else numbers; fields are quoted as
 * RFC 4180 needs. Check ferror(f) afterwards. */
NS_API void ns_fit_write_predictions(FILE *f, const ns_model_info *info, const ns_dataset *ds,
                                     int64_t rows, int k, const float *out, const float *probs);

/* The Inference card's answer for every face (netsmith predict, the server's predict route):
 * the predictions of a model over a dataset with the names to show them by. */
typedef struct ns_predictions {
    ns_task task;     /* NS_TASK_CLASSIFICATION or NS_TASK_REGRESSION */
    int64_t rows;
    int outputs;      /* the model's outputs per row */
    int width;        /* classification: classes per row of probs (outputs, or 2 for one
                         logit); regression: outputs */
    float *out;       /* [rows, outputs] the model's outputs */
    float *probs;     /* classification: [rows, width] probabilities; else NULL */
    int32_t *labels;  /* classification: [rows] the predicted class (most probable); else NULL */
    char **names;     /* [width] the class names, or the target names: the model's, else the
                         data's, else numbers ("0", "1", ... for classes, "y0", ... for targets) */
} ns_predictions;

/* Predictions of model (with info, as ns_fit_load gives them) for every row of data, read
 * raw: info's normalisation is applied. A model built but never trained (info->task AUTO)
 * takes the data's task (its classes then the model's outputs, 2 for one logit). info is
 * not changed, so one loaded model serves many calls (but one at a time: prediction uses the
 * model's buffers). *p is on ctx, the caller's: ns_predictions_free (zeroed on failure).
 * Errors on ctx (also those reported on the model's context): NS_ERR_SHAPE when data's
 * feature count is not the model's input size; those of ns_fit_predict; NS_ERR_NOMEM. */
NS_API ns_status ns_fit_predictions(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                                    const ns_dataset *data, const ns_progress *progress,
                                    ns_predictions *p);

/* Frees what p holds and zeroes it; p may be zeroed already. */
NS_API void ns_predictions_free(ns_ctx *ctx, ns_predictions *p);

/* Writes p as CSV to f, as ns_fit_write_predictions does: "row,label,p_<class>,..." for a
 * classifier, "row,<target>,..." for a regression. Check ferror(f) afterwards. */
NS_API void ns_predictions_write_csv(FILE *f, const ns_predictions *p);

/* p as JSON (numbers to 9 significant digits, a float's full precision; a non-finite value as
 * null):
 *   classification: {"task": "classification", "classes": [names], "predictions":
 *                    [{"label": "setosa", "probabilities": {"setosa": 0.9, ...}}, ...]}
 *   regression:     {"task": "regression", "targets": [names], "predictions":
 *                    [{"MEDV": 21.3, ...}, ...]}
 * one prediction per row, in the data's order. *json on ctx (ns_dealloc); NULL on failure.
 * Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_predictions_to_json(ns_ctx *ctx, const ns_predictions *p, char **json);

/* The columns a CSV for the model has (by info's feature names): a plain feature by its
 * name, a one-hot group once by its text column, in input order. Up to cap names
 * (borrowed from info) into names; returns how many there are (0 for a model without
 * feature names). */
NS_API int ns_model_info_input_columns(const ns_model_info *info, const char **names, int cap);

/* ==== data for a run ============================================================================
 * How every face reads data: the Data Load card (settings target, task, labels, features,
 * exclude, one_hot, delimiter, missing, max_classes), netsmith eval, predict and train (the
 * flags of the same names with dashes: --one-hot, --exclude, --features). */

typedef struct ns_data_options {
    const char *source;   /* a built-in name, a CSV or IDX images file, or a saved dataset */
    const char *target;   /* CSV target column(s) by name or 0-based index, comma-separated;
                             NULL: the last column (for a model: its target columns) */
    const char *features; /* CSV feature columns in order; NULL: all but target and exclude */
    const char *exclude;  /* CSV columns to leave out; may be NULL */
    const char *labels;   /* IDX labels file; NULL: found beside the images */
    ns_task task;         /* AUTO: from the target (for a model: the model's task) */
    bool one_hot;         /* text features become one 0/1 column per value */
    char delimiter;       /* 0: detected */
    bool no_header;
    ns_missing missing;
    int max_classes;      /* 0: 20 */
} ns_data_options;

/* Everything unset: no source, CSV defaults (ns_csv_options_default). */
NS_API void ns_data_options_default(ns_data_options *opts);

/* Sets one option from its text, by the Data Load card's setting name: "source", "target",
 * "features", "exclude", "labels" (strings, borrowed: they must outlive opts), "task"
 * (auto|classification|regression), "one_hot" and "no_header" (true|false), "delimiter"
 * (one character, or "\t" / "tab"), "missing" (error|drop|fill_mean), "max_classes" (an
 * integer >= 2). NS_ERR_INVALID names the setting and its allowed values; NS_ERR_NOTFOUND
 * for an unknown name. */
NS_API ns_status ns_data_options_set(ns_ctx *ctx, ns_data_options *opts, const char *name,
                                     const char *value);

/* Data Load by the options: ns_data_load (or ns_data_load_idx with labels). *test receives an
 * official test set when the source has one, else NULL (test may be NULL). Errors as those
 * loaders', NS_ERR_INVALID for a missing source. *data and *test are the caller's:
 * ns_dataset_free each; NULL on failure. */
NS_API ns_status ns_data_open(ns_ctx *ctx, const ns_data_options *opts, const ns_progress *progress,
                              ns_dataset **data, ns_dataset **test);

/* Data Load for a trained model (eval, predict): the data read the way the model was trained.
 * With the model's feature names (info->features > 0): the features are selected and ordered
 * by name (other columns are ignored, so swapped columns give the same rows), text columns
 * are one-hot encoded with the stored categories (ns_data_arrange: an unseen category is an
 * error), and the target is the model's target columns unless opts->target names others.
 * need_target false (predict): a CSV without the target columns is read without a target
 * (the rows get a placeholder target). need_target true (eval): missing target columns are
 * NS_ERR_NOTFOUND naming them. Without feature names (older files, images) the data is read
 * by position as ns_data_open does, with the model's task. opts->task AUTO means the model's.
 * Messages name the source: "data.csv has no column 'RM' that the model takes; ...".
 * Outputs and ownership as ns_data_open's. */
NS_API ns_status ns_data_open_for_model(ns_ctx *ctx, const ns_data_options *opts,
                                        const ns_model_info *info, bool need_target,
                                        const ns_progress *progress, ns_dataset **data,
                                        ns_dataset **test);

/* ns_fit_predictions over data read by opts as the model was trained (ns_data_open_for_model without
 * a target: its columns, categories and target, which may be left out), on a built-in's
 * official test split when it has one: what `netsmith predict` does. Errors: those of
 * ns_data_open_for_model (NS_ERR_NOTFOUND naming a column the model takes that the data
 * lacks, NS_ERR_INVALID for an unseen category, ...); NS_ERR_INVALID, saying to add a
 * placeholder target column, for a model file without feature names (older files) whose CSV
 * has only the model's input columns (the loader takes one of them as the target); then
 * those of ns_fit_predictions. */
NS_API ns_status ns_fit_predictions_open(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                                         const ns_data_options *opts, const ns_progress *progress,
                                         ns_predictions *p);

/* The data settings of a run config (data, target, features, exclude, labels, task, one_hot,
 * delimiter, no_header, missing, max_classes) as read options; strings are borrowed from cfg
 * (it must outlive o). Errors: NS_ERR_INVALID for a config without data (the message says
 * what to give) or a value ns_data_options_set refuses. */
NS_API ns_status ns_run_config_data_options(const ns_run_config *cfg, ns_data_options *o);

/* A model file evaluated on data, as `netsmith eval` and an evaluate job do it: the model and its
 * description (ns_fit_load), the data read as the model was trained (ns_data_open_for_model:
 * its columns, categories and target; a built-in's official test split when it has one), and
 * the metrics accumulated over it. A model that was built but never trained takes the data's
 * task. On NS_OK the caller owns *model (ns_model_free), *info (ns_model_info_deinit), *data
 * (ns_dataset_free: the rows evaluated) and *acc (ns_metrics_free; read it with
 * ns_metrics_compute and ns_metrics_confusion); on failure all are NULL or empty. Errors:
 * those of ns_fit_load, ns_data_open_for_model, ns_metrics_new and ns_fit_evaluate. */
NS_API ns_status ns_fit_evaluate_file(ns_ctx *ctx, const char *path, const ns_data_options *opts,
                                      const ns_progress *progress, ns_model **model,
                                      ns_model_info *info, ns_dataset **data, ns_metrics **acc);

/* The training data's columns of ds (feature names unless images or unnamed, one-hot groups,
 * target columns, byte scale) into info's column fields (copies, freed by
 * ns_model_info_deinit); other fields are left alone. NS_ERR_NOMEM; what was copied before
 * the failure stays in info, for ns_model_info_deinit. */
NS_API ns_status ns_model_info_columns(ns_ctx *ctx, const ns_dataset *ds, ns_model_info *info);

/* map[i] receives the model's class for data class i (map holds ns_dataset_class_count(ds)
 * entries), matched by name, or by number when the model has no class names or the data's
 * names are only numbers ("0", "1", ...). *identity says whether map[i] == i throughout.
 * NS_ERR_INVALID names a class the model does not know (and the model's classes). */
NS_API ns_status ns_fit_class_map(ns_ctx *ctx, const ns_model_info *info, const ns_dataset *ds,
                                  int32_t *map, bool *identity);

#ifdef __cplusplus
}
#endif
#endif
