/* netsmith export: a trained model in the forms it is deployed in. ONNX (a ModelProto for
 * any ONNX runtime) and C source (one .c and one .h with the weights as static arrays and one
 * predict function, no allocation and nothing beyond <math.h>). Both take the raw features
 * that `netsmith predict` reads (the model's byte scaling and normalisation are part of the
 * export) and give what it reports: each class's probability for a classifier, the values for
 * a regression, in the model's class and target order. Inference form only: dropout is left
 * out and batch norms use their running statistics. docs/export.md tells the details. */
#ifndef NETSMITH_EXPORT_H
#define NETSMITH_EXPORT_H

#include <stddef.h>

#include "netsmith/core.h"
#include "netsmith/model.h"
#include "netsmith/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ns_export_format {
    NS_EXPORT_ONNX = 0, /* "onnx": one .onnx file */
    NS_EXPORT_C = 1     /* "c": NAME.c and NAME.h */
} ns_export_format;

/* "onnx", "c" (static strings); NULL for an unknown format. */
NS_API const char *ns_export_format_name(ns_export_format format);
/* By name; NS_ERR_INVALID (on ctx, naming the formats there are) when unknown. */
NS_API ns_status ns_export_format_parse(ns_ctx *ctx, const char *name, ns_export_format *out);
/* The format a file name asks for by its extension (".onnx", ".c" or ".h"); false for any
 * other. */
NS_API bool ns_export_format_of_path(const char *path, ns_export_format *out);

/* The ONNX opsets written (ai.onnx): 13 to 17; 17 unless asked. Opset 17 writes IR version
 * 8, the others IR version 7. */
#define NS_EXPORT_OPSET_MIN 13
#define NS_EXPORT_OPSET_MAX 17

typedef struct ns_export_options {
    ns_export_format format;
    int opset;        /* ONNX: NS_EXPORT_OPSET_MIN..MAX; 0 = NS_EXPORT_OPSET_MAX */
    const char *name; /* C: the prefix of its names (NAME_predict, NAME_INPUT_SIZE upper-cased):
                       * a C identifier of at most 48 characters; NULL or "": the file's base
                       * name, with characters an identifier cannot hold made '_' */
    const char *file; /* the file's base name the export is named after ("mlp" for mlp.c and
                       * mlp.h, which mlp.c includes); NULL or "": the name, else "model" */
} ns_export_options;

/* format ONNX, opset 0 (the newest), no name or file. */
NS_API void ns_export_options_default(ns_export_options *opts);

/* One file of an export: its name ("mlp.onnx", "mlp.c", "mlp.h") and bytes. */
typedef struct ns_export_file {
    char name[80];
    unsigned char *data; /* [size], on the export's context */
    size_t size;
} ns_export_file;

/* An export in memory: one file (ONNX) or two (C: the source, then the header). */
typedef struct ns_export {
    int count;
    ns_export_file files[2];
} ns_export_result;

/* Exports model (as ns_fit_load gives it with info) in memory. A model never trained (info's
 * task auto) exports its raw outputs as values. Errors (on ctx): NS_ERR_UNSUPPORTED naming the
 * layer ("layers[3] (KIND)") and the format for a layer the format cannot hold;
 * NS_ERR_INVALID for bad options (an opset out of range, a name that is not a C identifier)
 * or a normalisation that does not fit the model's input; NS_ERR_NOMEM. *out's files are on
 * ctx: ns_export_result_free; zeroed on failure. Reads the model only. */
NS_API ns_status ns_export(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                           const ns_export_options *opts, ns_export_result *out);
/* Frees what out holds and zeroes it; out may be zeroed already. */
NS_API void ns_export_result_free(ns_ctx *ctx, ns_export_result *out);

/* Exports into files: ONNX into path; C into path (the .c; a path without ".c" gets it) and
 * the header beside it with ".h". opts->file is taken from path and opts->name, when not
 * given, from it too. Each file is written atomically: a failed export leaves what was there.
 * written[2] (may be NULL) gets the paths written ("" for none), each at most 4096 bytes.
 * Errors: those of ns_export; NS_ERR_IO naming the file. */
NS_API ns_status ns_export_write(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                                 const ns_export_options *opts, const char *path,
                                 char written[2][4096]);

/* Loads a model file (ns_fit_load) and exports it with ns_export_write. Errors: theirs. */
NS_API ns_status ns_export_model_file(ns_ctx *ctx, const char *model_path,
                                      const ns_export_options *opts, const char *path,
                                      char written[2][4096]);

#ifdef __cplusplus
}
#endif
#endif
