/* netsmith pipelines: files of connected cards (YAML or JSON), checked before anything runs,
 * run in dependency order with loops, events per card, progress and cancellation, card
 * outputs kept on disk for restarts, and single cards run alone over files.
 *
 * A card is a C table entry (ns_card_def): typed input and output ports, typed settings with
 * defaults, and a run function. The built-in cards are those of DESIGN.md; an application adds
 * its own with ns_card_register. A registry, a pipeline and a run belong to one thread at a
 * time (their context's); different pipelines on different contexts run concurrently. */
#ifndef NETSMITH_PIPELINE_H
#define NETSMITH_PIPELINE_H

#include "netsmith/core.h"
#include "netsmith/data.h"
#include "netsmith/model.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- values on the wires -------------------------------------------------------------------- */

#define NS_VALUE_KINDS(X)                                                                          \
    X(DATASET, "dataset", "rows of features with targets or class labels")                       \
    X(MODEL_SPEC, "model_spec", "a network blueprint or layer list, not yet built")              \
    X(DATA_SHAPE, "data_shape", "the input shape of the data and the outputs its targets need")  \
    X(MODEL, "model", "a built network: weights, gradients, buffers and its last forward pass")  \
    X(OPTIMIZER, "optimizer", "an optimizer bound to a model: settings, moments, step count")     \
    X(BATCH_INDEX, "batch_index", "a position in the batches: epoch, index, size and order")     \
    X(BATCH_DATA, "batch_data", "one batch of inputs with their targets")                        \
    X(PREDICTIONS, "predictions", "model outputs, one row per sample")                           \
    X(LOSS, "loss", "a loss value with its gradient for the predictions")                        \
    X(METRICS, "metrics", "evaluation or training metrics")                                      \
    X(HISTORY, "history", "metrics of every epoch of a training run")                            \
    X(INTEGER, "integer", "a whole number")                                                      \
    X(FILE, "file", "the path of a written file")

typedef enum ns_value_kind {
    NS_VALUE_NONE = 0,
#define NS__VK_ENUM(e, name, doc) NS_VALUE_##e,
    NS_VALUE_KINDS(NS__VK_ENUM)
#undef NS__VK_ENUM
        NS_VALUE_KIND_COUNT
} ns_value_kind;

/* A kind's name ("dataset", ...) and one line about it (static strings; NULL for an unknown
 * kind). */
NS_API const char *ns_value_kind_name(ns_value_kind kind);
NS_API const char *ns_value_kind_doc(ns_value_kind kind);
/* NS_VALUE_NONE for an unknown name. */
NS_API ns_value_kind ns_value_kind_parse(const char *name);
/* What a file of this kind holds, for an input given as a file (netsmith card --in): the
 * JSON format of the small kinds (a batch_index: {"epoch": 0, "index": 3, "batch_size": 32,
 * ...}), or which command writes the others. A static string. */
NS_API const char *ns_value_kind_file_doc(ns_value_kind kind);

/* A value: reference counted, owned by the run. Models and optimizers are objects changed in
 * place by the training cards: every wire that carries one carries the same object. */
typedef struct ns_value ns_value;

/* Payloads of the plain kinds. */
typedef struct ns_data_shape {
    int ndim;                   /* 1 (features) or 3 (channels, height, width) */
    int shape[NS_MAX_DIMS - 1];
    int outputs;                /* outputs the targets need (classes, or 1 for two classes
                                   with bce, or the target count) */
    ns_task task;
    int classes;
} ns_data_shape;

typedef struct ns_batch_pos {
    int64_t epoch, index; /* this batch */
    int64_t batches;      /* batches per epoch */
    int batch_size;
    bool shuffle, drop_last;
    uint64_t seed;        /* the order of each epoch comes from (seed, epoch) */
} ns_batch_pos;

typedef struct ns_tensor2 { /* rows x cols floats */
    float *data;
    int64_t rows;
    int cols;
} ns_tensor2;

typedef struct ns_loss_value {
    double value;
    ns_tensor2 grad; /* d loss / d predictions */
    ns_loss_kind kind;
} ns_loss_value;

typedef struct ns_metrics_value {
    ns_task task;
    ns_metric_values values;
    int classes;
    int64_t *confusion; /* [classes * classes] or NULL */
    char **class_names; /* [classes] or NULL */
} ns_metrics_value;

typedef struct ns_history_value {
    ns_task task;
    int epochs;
    ns_epoch_report *reports; /* [epochs] */
} ns_history_value;

/* The kind of a value. */
NS_API ns_value_kind ns_value_get_kind(const ns_value *v);
/* The payload, or NULL when v is not of that kind. The value keeps ownership. */
NS_API ns_dataset *ns_value_dataset(const ns_value *v);
NS_API ns_spec *ns_value_spec(const ns_value *v);
NS_API const ns_data_shape *ns_value_data_shape(const ns_value *v);
NS_API ns_model *ns_value_model(const ns_value *v);
NS_API ns_optim *ns_value_optim(const ns_value *v);
NS_API const ns_batch_pos *ns_value_batch_pos(const ns_value *v);
NS_API const ns_batch *ns_value_batch(const ns_value *v);
/* A batch value's widths: floats per sample in x and in y (0 with labels). */
NS_API void ns_value_batch_widths(const ns_value *v, int *features, int *targets);
NS_API const ns_tensor2 *ns_value_tensor(const ns_value *v);
NS_API const ns_loss_value *ns_value_loss(const ns_value *v);
NS_API const ns_metrics_value *ns_value_metrics(const ns_value *v);
NS_API const ns_history_value *ns_value_history(const ns_value *v);
NS_API bool ns_value_integer(const ns_value *v, int64_t *out);
NS_API const char *ns_value_file(const ns_value *v);
/* The object a model or optimizer value is (the id of the card that made it); "" otherwise. */
NS_API const char *ns_value_object(const ns_value *v);

/* ---- cards -------------------------------------------------------------------------------- */

typedef struct ns_port_def {
    const char *name;
    ns_value_kind kind;
    bool optional;
    const char *doc;
} ns_port_def;

typedef struct ns_card_call ns_card_call;

typedef struct ns_card_def {
    const char *name;
    const char *doc;
    const ns_port_def *inputs;
    int n_inputs;
    const ns_port_def *outputs;
    int n_outputs;
    const ns_setting_def *settings;
    int n_settings;
    /* The card's own work. Reads inputs and settings from call, sets every output it makes
     * (optional outputs may stay unset). Errors go on the call's context; the run adds the
     * card id, file and line. */
    ns_status (*run)(ns_card_call *call);
    /* Optional: extra checks of settings before anything runs (on the call's settings only;
     * no inputs). */
    ns_status (*check)(ns_card_call *call);
    /* A loop card (the executor runs its nested cards); run is NULL then. */
    bool is_loop;
    /* Settings other than those listed are passed through (checked by check). */
    bool open_settings;
} ns_card_def;

/* Inside run and check. */
NS_API ns_ctx *ns_card_ctx(ns_card_call *c);
NS_API const char *ns_card_id(ns_card_call *c);
/* The value wired to an input port, NULL when an optional port is not wired. */
NS_API ns_value *ns_card_in(ns_card_call *c, const char *port);
/* Settings (after defaults and --set overrides); NS_ERR_NOTFOUND when absent. */
NS_API bool ns_card_has(ns_card_call *c, const char *name);
NS_API int64_t ns_card_int(ns_card_call *c, const char *name);
NS_API double ns_card_number(ns_card_call *c, const char *name);
NS_API bool ns_card_bool(ns_card_call *c, const char *name);
NS_API const char *ns_card_string(ns_card_call *c, const char *name); /* "" when absent */
/* A list setting into out[cap]; returns its length (-1 if absent). */
NS_API int ns_card_list(ns_card_call *c, const char *name, double *out, int cap);
/* An input file named in a setting: a relative path is taken relative to the pipeline
 * file's directory (returns path itself when absolute, or when the card runs alone). Owned by
 * the call until the next ns_card_input_path; NULL when out of memory. */
NS_API const char *ns_card_input_path(ns_card_call *c, const char *path);
/* The settings as JSON text, every one (for open-settings cards); owned by the call; NULL
 * when out of memory. */
NS_API const char *ns_card_settings_json(ns_card_call *c);
NS_API const ns_progress *ns_card_progress(ns_card_call *c);
/* Reports that the card finished `done` of `total` iterations (the Train card: epochs), as a
 * loop does: an NS_CARD_ITERATION event for this card. */
NS_API void ns_card_report_iteration(ns_card_call *c, int64_t done, int64_t total);
/* State a card keeps across the iterations of a loop (batchers, buffers): *slot starts NULL;
 * free_fn is called when the run ends. */
NS_API void **ns_card_scratch(ns_card_call *c, void (*free_fn)(void *));

/* Outputs: each puts a new value on the card's output port (replacing one set before). A
 * dataset, spec, model or optimizer passed in becomes the value's: the call takes it over and
 * frees it on failure too, so the card must not free it either way. Plain payloads (shape,
 * position) are copied. Errors (on the call's context): NS_ERR_INVALID when the card has no
 * output of that name and kind; NS_ERR_NOMEM. */
NS_API ns_status ns_card_out_dataset(ns_card_call *c, const char *port, ns_dataset *ds);
NS_API ns_status ns_card_out_spec(ns_card_call *c, const char *port, ns_spec *spec);
NS_API ns_status ns_card_out_data_shape(ns_card_call *c, const char *port, const ns_data_shape *s);
/* A new model object (named after this card); model is taken over. Errors as
 * ns_card_out_dataset's. */
NS_API ns_status ns_card_out_model(ns_card_call *c, const char *port, ns_model *model);
/* A new optimizer object bound to the model value (which it keeps alive); opt is taken over.
 * (ns_card_out_batch_pos copies the position.) Errors as ns_card_out_dataset's. */
NS_API ns_status ns_card_out_optim(ns_card_call *c, const char *port, ns_optim *opt, ns_value *model);
NS_API ns_status ns_card_out_batch_pos(ns_card_call *c, const char *port, const ns_batch_pos *p);
/* Borrowed batch memory: valid until this card runs again (or the run ends). features: floats
 * per sample in x; targets: floats per sample in y (0 when the batch has labels). The batch's
 * arrays stay the caller's (not copied, not freed). Errors as ns_card_out_dataset's. */
NS_API ns_status ns_card_out_batch(ns_card_call *c, const char *port, const ns_batch *b, int features,
                                   int targets);
/* Copies data[rows, cols] (a predictions value); the loss copies grad[rows, cols]. The
 * arrays stay the caller's. Errors as ns_card_out_dataset's. */
NS_API ns_status ns_card_out_tensor(ns_card_call *c, const char *port, const float *data, int64_t rows,
                                    int cols);
NS_API ns_status ns_card_out_loss(ns_card_call *c, const char *port, double value, const float *grad,
                                  int64_t rows, int cols, ns_loss_kind kind);
/* Copies the confusion matrix and class names (either may be NULL). Errors as
 * ns_card_out_dataset's. */
NS_API ns_status ns_card_out_metrics(ns_card_call *c, const char *port, ns_task task,
                                     const ns_metric_values *values, int classes,
                                     const int64_t *confusion, const char *const *class_names);
/* Copies the reports (and the integer, and the path of a file value). Errors as
 * ns_card_out_dataset's. */
NS_API ns_status ns_card_out_history(ns_card_call *c, const char *port, ns_task task,
                                     const ns_epoch_report *reports, int epochs);
NS_API ns_status ns_card_out_integer(ns_card_call *c, const char *port, int64_t v);
NS_API ns_status ns_card_out_file(ns_card_call *c, const char *port, const char *path);
/* Passes an input value on unchanged (the same object, one more reference; v stays the
 * caller's). Errors as ns_card_out_dataset's; NS_ERR_INVALID also for a NULL v. */
NS_API ns_status ns_card_out_same(ns_card_call *c, const char *port, ns_value *v);

/* ---- the registry ------------------------------------------------------------------------ */

typedef struct ns_cards ns_cards;

/* A registry holding the built-in cards. Errors: NS_ERR_NOMEM (NS_ERR_INVALID from
 * ns_card_register only if a built-in card were malformed). *out is the caller's:
 * ns_cards_free; NULL on failure. */
NS_API ns_status ns_cards_new(ns_ctx *ctx, ns_cards **out);
/* Frees the registry; with pipelines made from it still alive, it (and its plugins, whose code
 * their cards run) goes when the last of them is freed. */
NS_API void ns_cards_free(ns_cards *cards);
/* Adds a card (def and everything it points to must outlive the registry). NS_ERR_INVALID
 * for a duplicate name or a malformed definition (naming what is wrong). */
NS_API ns_status ns_card_register(ns_cards *cards, const ns_card_def *def);
NS_API int ns_cards_count(const ns_cards *cards);

/* Plugins: an application's own cards in a shared object, for netsmith run and netsmith card
 * (--plugin FILE.so, or NETSMITH_PLUGINS). The object defines, with C linkage,
 *     ns_status netsmith_register_cards(ns_cards *cards);
 * which calls ns_card_register for each of its cards (their definitions live in the object).
 * It is built against these headers and linked against nothing of netsmith: the ns_*
 * functions it calls are the host's (the netsmith command exports them), so a plugin and its
 * host share one library. See examples/plugins/. */
#define NS_CARDS_PLUGIN_SYMBOL "netsmith_register_cards"
typedef ns_status (*ns_cards_plugin_fn)(ns_cards *cards);
/* What a plugin defines (not the library): registers the plugin's cards. Its errors are its
 * own; ns_card_register's (NS_ERR_INVALID) are the usual ones. */
NS_API ns_status netsmith_register_cards(ns_cards *cards);
/* The layout of ns_card_def and what it points to, as a plugin was built against it: a plugin
 * also defines NS_CARDS_PLUGIN_ABI_DEFINE (one line at file scope), and one built against
 * another layout is refused instead of read as garbage. */
#define NS_CARDS_PLUGIN_ABI 1
#define NS_CARDS_PLUGIN_ABI_SYMBOL "netsmith_plugin_abi"
#define NS_CARDS_PLUGIN_ABI_DEFINE const int netsmith_plugin_abi = NS_CARDS_PLUGIN_ABI
extern const int netsmith_plugin_abi;
/* Loads the plugin at path (a name without '/' is taken in the current directory, not
 * searched for) and runs its registration function; the object stays loaded until
 * ns_cards_free. Errors (the registry is then as before): NS_ERR_IO when the file cannot be
 * read, NS_ERR_FORMAT when it is not a loadable shared object (with the loader's reason:
 * dlerror), NS_ERR_NOTFOUND when it has no netsmith_register_cards, and the function's own
 * status when it fails (a duplicate card name is NS_ERR_INVALID naming the card), with the
 * message of ns_card_register; NS_ERR_INVALID when it registers nothing, for an empty path,
 * a path of 4096 bytes or more, or more plugins than the registry holds; NS_ERR_FORMAT also
 * when the plugin lacks NS_CARDS_PLUGIN_ABI_DEFINE or was built against another layout.
 * Every message names the file. Not thread safe (as the registry). */
NS_API ns_status ns_cards_load_plugin(ns_cards *cards, const char *path);
/* Every plugin of a ':'-separated list (the NETSMITH_PLUGINS form; empty entries skipped;
 * NULL or "" loads nothing), in order, stopping at the first error. Errors as
 * ns_cards_load_plugin's (the plugins loaded before the failing one stay loaded);
 * NS_ERR_INVALID for an entry of 4096 bytes or more. */
NS_API ns_status ns_cards_load_plugins(ns_cards *cards, const char *paths);
NS_API const ns_card_def *ns_cards_get(const ns_cards *cards, int i);
NS_API const ns_card_def *ns_cards_find(const ns_cards *cards, const char *name);
/* The registered card an unknown name most likely means, or NULL: the same name in other
 * spelling ("ZeroGrad", "zero-grad"), the name another card-based tool gives it
 * ("zero_gradients", "forward_pass", "compute_loss", "split_data", "predict", ...), or a
 * card name (or such a name) within a typo or two. The result is the card's own name (owned
 * by its definition). */
NS_API const char *ns_cards_suggest(const ns_cards *cards, const char *name);
/* The palette as JSON: every card with its inputs, outputs and settings as JSON schemas,
 * the value kinds, and "wire_hints": {WANT: {GOT: "add a build_model card between them"}}, how
 * the message for a wire of kind GOT into an input of kind WANT ends. *json allocated on the registry's context (ns_dealloc); NULL on failure. Errors:
 * NS_ERR_NOMEM. */
NS_API ns_status ns_cards_to_json(const ns_cards *cards, char **json);

/* ---- pipelines --------------------------------------------------------------------------- */

typedef struct ns_pipeline ns_pipeline;

/* Reads a pipeline (YAML or JSON text) and checks it: every card known, every setting known
 * and of its type, every required input wired, every wire naming an existing output of the
 * right kind that exists where it is used, no cycles. Messages name the file, line and card
 * id and say how to fix it. overrides (may be NULL) are "card.setting=value" strings applied
 * before the checks (value parsed as YAML). Errors (on the registry's context): NS_ERR_PARSE
 * for text that is not YAML (naming file, line and column); NS_ERR_INVALID for every failed
 * check and bad override; a card's own check function's status; NS_ERR_NOMEM. *out is the
 * caller's: ns_pipeline_free (the pipeline keeps the registry alive); NULL on failure.
 * ns_pipeline_load reads the file first: its errors are also ns_read_file's (NS_ERR_IO). */
NS_API ns_status ns_pipeline_parse(ns_cards *cards, const char *text, size_t len, const char *source,
                                   const char *const *overrides, int n_overrides, ns_pipeline **out);
NS_API ns_status ns_pipeline_load(ns_cards *cards, const char *path, const char *const *overrides,
                                  int n_overrides, ns_pipeline **out);
/* ns_pipeline_parse without the cards' own check functions, which may read the files that
 * settings name (model_define reads its spec file): for an application that confines what a
 * pipeline reads and writes (ns_pipeline_cards_json) before anything is read, and then parses
 * it again with ns_pipeline_parse. The pipeline is not for running. Errors: those of
 * ns_pipeline_parse but a card's own check's. */
NS_API ns_status ns_pipeline_parse_unchecked(ns_cards *cards, const char *text, size_t len,
                                             const char *source, const char *const *overrides,
                                             int n_overrides, ns_pipeline **out);
/* Frees the pipeline with the values its cards made (ns_pipeline_output's pointers go with
 * it). NULL is a no-op. */
NS_API void ns_pipeline_free(ns_pipeline *p);

/* What a pipeline may ask of the application that runs it: models and datasets by name from a
 * registry (netsmith_store's ns_store_pipeline_host gives both). Either function may be NULL. */
typedef struct ns_pipeline_host {
    /* A model reference ("NAME", "NAME@VERSION", "NAME@ALIAS") as a model file: writes the
     * file's path into path[cap] (load_model's model setting). Errors with a message, e.g.
     * NS_ERR_NOTFOUND for an unknown model. */
    ns_status (*model_file)(void *ud, ns_ctx *ctx, const char *ref, char *path, size_t cap);
    /* A registered dataset as data settings: *settings_json (on ctx: ns_dealloc) is a JSON
     * object of the run config's data settings (data: a local file or a built-in name, target,
     * ...) (data_load's dataset setting). Errors with a message. */
    ns_status (*dataset)(void *ud, ns_ctx *ctx, const char *name, char **settings_json);
    /* Runs card elsewhere (a card with execution: remote): its inputs are the files in_paths[n]
     * (ns_value_save's, with whatever it wrote beside them) for the ports in_names[n], its
     * settings settings_json; device the device it needs ("cpu", "cuda"). Returns once it has
     * ended, with out_dir holding what ns_card_run_files writes (outputs.json and the files).
     * progress's cancel flag stops it. Errors with a message (the remote card's own). */
    ns_status (*run_card)(void *ud, ns_ctx *ctx, const char *card, const char *settings_json,
                          const char *device, const char *const *in_names,
                          const char *const *in_paths, int n, const char *out_dir,
                          const ns_progress *progress);
    void *ud;
} ns_pipeline_host;

/* Gives the pipeline a host for its runs (copied; NULL: none). Without one, load_model's
 * model and data_load's dataset settings fail with a message saying to run with a store. */
NS_API void ns_pipeline_set_host(ns_pipeline *p, const ns_pipeline_host *host);
/* The pipeline's name (its "pipeline" key, else "pipeline"), borrowed. */
NS_API const char *ns_pipeline_name(const ns_pipeline *p);
/* Top-level cards in run order. */
NS_API int ns_pipeline_card_count(const ns_pipeline *p);
NS_API const char *ns_pipeline_card_id(const ns_pipeline *p, int i);
/* Every card of a checked pipeline, those inside loops too, in file order, as a JSON array
 * [{"id", "card" (its card name), "line", "depth" (0 at the top), "settings" (every setting by
 * its own name, defaults filled in, null where unset), "keys" ({NAME: the key the file or an
 * override wrote it under, which may be another of its names})}] (for an application that
 * checks what a pipeline reads and writes). *json on the registry's context (ns_dealloc); NULL
 * on failure. Errors: NS_ERR_NOMEM. */
NS_API ns_status ns_pipeline_cards_json(const ns_pipeline *p, char **json);

typedef enum ns_card_event_kind {
    NS_CARD_STARTED = 0,
    NS_CARD_FINISHED,
    NS_CARD_FAILED,
    NS_CARD_SKIPPED, /* restored from the state directory */
    NS_CARD_ITERATION /* a loop finished an iteration (epoch, or batch of a batch loop) */
} ns_card_event_kind;

/* The event's name ("started", "finished", ...; a static string). */
NS_API const char *ns_card_event_kind_name(ns_card_event_kind kind);

typedef struct ns_card_event {
    ns_card_event_kind kind;
    const char *id;    /* the card's id */
    const char *card;  /* its card name */
    int depth;         /* 0 at the top, 1 inside a loop, ... */
    int64_t iteration, iterations; /* loops: done and planned; inner cards: the loop's */
    double seconds;    /* FINISHED / FAILED: the card's run time; ITERATION: the loop's so far */
    const char *message; /* FAILED: the error */
} ns_card_event;

typedef struct ns_run_options {
    const char *state_dir; /* keep every top-level card's outputs here (NULL: none); locked
                            * for the run, so a second run on it fails with NS_ERR_STATE */
    const char *from;      /* restart at this top-level card; earlier ones load from state_dir */
    void (*on_event)(void *ud, const ns_card_event *ev);
    void *ud;
    const ns_progress *progress; /* cancellation; stage = the running card's id */
} ns_run_options;

/* Runs the pipeline. On failure the message names the card; outputs made so far stay
 * readable with ns_pipeline_output. A pipeline can run once per ns_pipeline_parse. Errors:
 * a failing card's own status, its message prefixed with file, line and card; NS_ERR_STATE
 * for a second run, a state_dir another run holds, a card input with no value or a card that
 * made no required output; NS_ERR_NOTFOUND for a `from` card the pipeline lacks or saved
 * outputs missing from state_dir; NS_ERR_INVALID for a `from` card inside a loop, `from`
 * without state_dir, or a loop with too few rows for a batch; NS_ERR_CANCELLED; the errors of
 * ns_value_load and ns_value_save for state_dir (NS_ERR_IO, NS_ERR_FORMAT, NS_ERR_NOMEM). */
NS_API ns_status ns_pipeline_run(ns_pipeline *p, const ns_run_options *opts);
/* An output of a top-level card after a run ("card.port"), or NULL. Borrowed: the
 * pipeline's until ns_pipeline_free. */
NS_API ns_value *ns_pipeline_output(ns_pipeline *p, const char *ref);
/* Every output of a top-level card (a loop: what it passes on) into names/values[cap] (values
 * NULL where none was made); returns the count, -1 for an unknown card. Names and values are
 * borrowed, as ns_pipeline_output's. */
NS_API int ns_pipeline_outputs(ns_pipeline *p, const char *card, const char **names, ns_value **values,
                               int cap);

/* ---- values as files (--state, netsmith card) ------------------------------------------ */

/* Writes a value into dir as <port>.<ext> (safetensors for datasets, models, optimizers,
 * batches, tensors and losses; JSON for specs, shapes, positions, metrics, integers and
 * files); dir must exist. *path_out (may be NULL) receives the file's path, the caller's:
 * ns_dealloc(ctx, *path_out); NULL on failure. An optimizer's model is written beside it as
 * <port>.model.safetensors, where ns_value_load looks for it. A model's normalisation goes
 * beside it as <port>.safetensors.norm.json. Errors: those of the kind's writer
 * (ns_dataset_save, ns_model_save_state, ns_optim_save_state, ns_st_write, ns_write_json):
 * NS_ERR_IO, NS_ERR_INVALID, NS_ERR_NONFINITE for a model with non-finite weights,
 * NS_ERR_NOMEM; NS_ERR_INVALID for a value of no known kind. */
NS_API ns_status ns_value_save(ns_ctx *ctx, const ns_value *v, const char *dir, const char *port,
                               char **path_out);
/* Reads a value file of the given kind. An optimizer binds to bind_model (a model value)
 * when given, else to the model file beside it (<name>.model.safetensors). Errors: those of
 * the kind's reader (ns_dataset_load_file, ns_spec_load, ns_model_load_state,
 * ns_optim_load_state, ns_st_open, ns_norm_from_json); NS_ERR_PARSE for a JSON kind's file
 * that cannot be read or parsed or holds bad fields; NS_ERR_FORMAT for a file that does not
 * describe a value of the kind; NS_ERR_IO; NS_ERR_NOMEM. *out is the caller's:
 * ns_value_release; NULL on failure. */
NS_API ns_status ns_value_load(ns_ctx *ctx, ns_value_kind kind, const char *path, ns_value *bind_model,
                               ns_value **out);
/* Drops one reference; the last frees the value and its payload. NULL is a no-op. */
NS_API void ns_value_release(ns_value *v);

/* Runs one card alone: inputs from files (name=path pairs), outputs written into out_dir,
 * with a manifest (out_dir/outputs.json: port -> file, kind). settings is a JSON object text
 * (may be NULL). Models and optimizers passed in are written back under out_dir as well.
 * Errors (on the registry's context): NS_ERR_NOTFOUND for an unknown card; NS_ERR_INVALID for
 * a loop card, an input the card lacks, a required input not given, a batch position that
 * does not fit its dataset, or settings the card refuses; NS_ERR_PARSE for settings_json
 * that is not a JSON object; an input file's ns_value_load errors (the message names the
 * input); the card's own status; NS_ERR_STATE when out_dir is locked by another run; the
 * errors of writing the outputs (NS_ERR_IO, NS_ERR_NOMEM). */
NS_API ns_status ns_card_run_files(ns_cards *cards, const char *card, const char *const *in_names,
                                   const char *const *in_paths, int n_in, const char *settings_json,
                                   const char *out_dir, const ns_progress *progress);

#ifdef __cplusplus
}
#endif
#endif
