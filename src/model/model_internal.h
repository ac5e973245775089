/* The model module's library-internal interface (never installed), for the modules above it
 * that save and restore a model's whole state: its blocks and its last forward. The struct
 * itself stays private (model_private.h). */
#ifndef NETSMITH_MODEL_INTERNAL_H
#define NETSMITH_MODEL_INTERNAL_H

#include "core/core_internal.h"
#include "netsmith/model.h"

/* A model's last forward, as a training-state file keeps it (io/train_state.c). */
typedef struct ns__model_forward {
    bool have;                   /* a forward ran and was not forgotten */
    int batch;                   /* its samples (have) */
    bool training;               /* training mode (have) */
    const float *x;              /* its input [batch, input size] (have) */
    const unsigned char *arena;  /* the activation arena's bytes in use */
    size_t arena_bytes;
} ns__model_forward;

/* The last forward of m; views into m, valid until the next forward or ns_model_free. */
void ns__model_last_forward(const ns_model *m, ns__model_forward *out);
/* The bytes of m's activation arena in use: what a restored forward must bring. */
size_t ns__model_arena_bytes(const ns_model *m);
/* Sets the output size m's build options record (0: from the spec), as a state file says. */
void ns__model_set_built_output(ns_model *m, int output_size);
/* Restores a last forward read from a file: copies x [batch, input size] (the model then owns
 * the copy) and the arena's ns__model_arena_bytes bytes, then runs every layer's
 * check_restored over them before backward may rely on them. Errors: NS_ERR_NOMEM,
 * NS_ERR_INVALID for a batch outside [1, max_batch], NS_ERR_FORMAT from a layer's check (the
 * message names the layer); on an error m has no forward. */
ns_status ns__model_restore_forward(ns_model *m, const void *x, int batch, bool training,
                                    const void *arena);

#endif
