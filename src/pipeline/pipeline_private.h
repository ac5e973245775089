/* Internals shared by the pipeline files: values, card calls, the parsed pipeline. */
#ifndef NETSMITH_PIPELINE_INTERNAL_H
#define NETSMITH_PIPELINE_INTERNAL_H

#include <jansson.h>

#include "core/core_internal.h"
#include "format/yaml_doc.h"
#include "netsmith/data.h"
#include "netsmith/format.h"
#include "netsmith/io.h"
#include "netsmith/metrics.h"
#include "netsmith/model.h"
#include "netsmith/pipeline.h"
#include "netsmith/run.h"
#include "netsmith/train.h"
#include "netsmith/trainer.h"

struct ns_value {
    ns_value_kind kind;
    int refs;
    ns_ctx *ctx;
    char object[64]; /* models and optimizers: the id of the card that made the object */
    ns_value *model; /* optimizer: the model value it updates (one reference) */
    union {
        ns_dataset *dataset;
        ns_spec *spec;
        ns_data_shape shape;
        ns_model *model;
        ns_optim *optim;
        ns_batch_pos pos;
        ns_batch batch;
        ns_tensor2 tensor;
        ns_loss_value loss;
        ns_metrics_value metrics;
        ns_history_value history;
        int64_t integer;
        char *file;
    } u;
    ns_norm norm;          /* model: the normalisation its Train card fitted (kind NONE when
                              none); evaluate, inference and save_model apply and keep it */
    void *owned;           /* memory behind a batch read from a file */
    int features, targets; /* a batch's widths */
};

/* The format of a batch_index file (ns_value_kind_file_doc). */
#define NS__BATCH_POS_FILE_DOC                                                                     \
    "JSON: {\"epoch\": 0, \"index\": 3, \"batch_size\": 32} and optionally \"batches\" "           \
    "(batches per epoch; left out, netsmith card counts them from the dataset input), "            \
    "\"shuffle\" (true: a new row order every epoch, from the seed), \"drop_last\" (false), "      \
    "\"seed\" (0; an integer or its digits as a string). epoch and index count from 0. A "         \
    "loop over batches writes such a file per batch (netsmith run --state)"

ns_status ns__value_new(ns_ctx *ctx, ns_value_kind kind, ns_value **out);
ns_value *ns__value_ref(ns_value *v);

/* A card in a pipeline (or alone, for ns_card_run_files). */
typedef struct ns__node ns__node;

typedef struct ns__input {
    const char *port; /* the input's name (a port of the card, or any name on a loop) */
    char *ref;        /* "card.port" as written */
    int line;
    ns__node *src;   /* the card it names */
    int src_port;    /* index into src's outputs, or -1 for a loop's exposed value */
    char *src_name;  /* the port name after the dot */
    ns_value *value; /* ns_card_run_files: the value loaded from a file */
} ns__input;

struct ns__node {
    char *id;
    const ns_card_def *def;
    int line;
    json_t *json;      /* the card as written (owned by the document) */
    json_t *settings;  /* with defaults filled in */
    json_t *overrides; /* setting -> the --set text that gave it */
    char *settings_json;
    ns__input *in;
    int n_in;
    ns__node *parent; /* the enclosing loop, or NULL */
    ns__node **body;  /* a loop's cards in run order */
    int n_body;
    ns_value **out; /* [def->n_outputs] */
    /* a loop: the values it exposes inside (its inputs by name, epoch, batch_index) */
    ns_value *loop_epoch, *loop_pos;
    void *scratch;
    void (*scratch_free)(void *);
    int order; /* position in the run order of its scope */
    bool ran;
};

struct ns_card_call {
    ns_ctx *ctx;
    ns__node *node;
    const char *base_dir;
    const ns_progress *progress;
    uint64_t seed;      /* the pipeline's seed (for settings left at null) */
    char path[4096];    /* ns_card_input_path's result */
    const void *runner; /* the run's executor, for ns_card_report_iteration (NULL: none) */
    int depth;
    double t0;                    /* when the card started (monotonic seconds) */
    const ns_pipeline_host *host; /* the application's registry, or NULL */
};

/* Gives a model value the normalisation its training fitted (a copy). */
ns_status ns__value_set_norm(ns_ctx *ctx, ns_value *v, const ns_norm *norm);

/* A card's settings (those of defs[n], a slice of the run config's table, that are not null)
 * as a run config; with seed, also the card's seed (its setting, else the pipeline's). */
ns_status ns__card_run_config(ns_card_call *c, const ns_setting_def *defs, int n, bool seed,
                              ns_run_config **out);

/* The loop card's definition (the executor runs it). */
extern const ns_card_def ns__loop_card;

/* A registry with no cards yet (cards.c); ns_cards_new (card_table.c) registers the built-in
 * ones in it. */
ns_status ns__cards_empty(ns_ctx *ctx, ns_cards **out);

/* Built-in card tables (one per file; card_table.c registers them). */
extern const ns_card_def ns__data_cards[];
extern const int ns__data_card_count;
extern const ns_card_def ns__model_cards[];
extern const int ns__model_card_count;
extern const ns_card_def ns__step_cards[];
extern const int ns__step_card_count;

/* The value of a node's output or exposed loop value for an input, or NULL if not made yet
 * (node_values.c). */
ns_value *ns__input_value(const ns__input *in);
/* A loop's input named name, or NULL (a loop exposes its inputs by name, and inside it epoch
 * and batch_index). */
const ns__input *ns__loop_input(const ns__node *loop, const char *name);

/* Settings shared by every card (execution place). */
/* The end of the message for a wire of kind got into an input of kind want ("add a
 * build_model card between them"), written into buf[cap] (cards.c). */
const char *ns__wire_hint(const ns_cards *cards, ns_value_kind want, ns_value_kind got, char *buf,
                          size_t cap);
extern const ns_setting_def ns__common_settings[];
extern const int ns__common_setting_count;

/* A setting's JSON value (NULL if absent or null). */
json_t *ns__card_setting(ns_card_call *c, const char *name);
/* The seed setting `name`, or the pipeline's seed when it is null. */
uint64_t ns__card_seed(ns_card_call *c, const char *name);
/* Writes/reads the outputs manifest (dir/outputs.json). */
ns_status ns__write_outputs(ns_ctx *ctx, const ns__node *n, const char *dir);

#endif
