/* Export: the plan both writers read (a model and its info walked once), the formats by name,
 * and the export in memory and into files. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "export/export_internal.h"

static const char *const format_names[] = {"onnx", "c"};
#define N_FORMATS 2

const char *ns_export_format_name(ns_export_format format)
{
    return (int)format >= 0 && (int)format < N_FORMATS ? format_names[format] : NULL;
}

ns_status ns_export_format_parse(ns_ctx *ctx, const char *name, ns_export_format *out)
{
    for (int i = 0; name != NULL && i < N_FORMATS; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (ns_export_format)i;
            return NS_OK;
        }
    char hint[64];
    return ns_errorf(
        ctx, NS_ERR_INVALID,
        "unknown export format '%s'%s; the formats are onnx (an ONNX model for "
        "any ONNX runtime) and c (C source: a .c and a .h)",
        name ? name : "",
        ns__did_you_mean(hint, sizeof hint, name ? name : "", format_names, N_FORMATS));
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n > t && strcmp(s + n - t, tail) == 0;
}

bool ns_export_format_of_path(const char *path, ns_export_format *out)
{
    if (path == NULL)
        return false;
    if (ends_with(path, ".onnx")) {
        *out = NS_EXPORT_ONNX;
        return true;
    }
    if (ends_with(path, ".c") || ends_with(path, ".h")) {
        *out = NS_EXPORT_C;
        return true;
    }
    return false;
}

void ns_export_options_default(ns_export_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->format = NS_EXPORT_ONNX;
}

/* ---- names ----------------------------------------------------------------------------------- */

#define NAME_MAX_LEN 48

static bool is_identifier(const char *s)
{
    if (s[0] == '\0' || strlen(s) > NAME_MAX_LEN || isdigit((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p >= 0x80)
            return false;
    return true;
}

/* The C name made from a file's base name: characters an identifier cannot hold become '_',
 * a leading digit gets a '_' before it, at most NAME_MAX_LEN characters. */
static void name_from_file(const char *file, char *out, size_t cap)
{
    size_t n = 0;
    if (isdigit((unsigned char)file[0]) && n + 1 < cap)
        out[n++] = '_';
    for (const char *p = file; *p && n + 1 < cap && n < NAME_MAX_LEN; p++)
        out[n++] = (unsigned char)*p < 0x80 && (isalnum((unsigned char)*p) || *p == '_') ? *p : '_';
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "model");
}

/* The base name of path without its directory and without ext (when it ends so). */
static void base_name(const char *path, const char *ext, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    size_t n = strlen(b);
    if (ext != NULL && ends_with(b, ext))
        n -= strlen(ext);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

/* ---- exports -----------------------------------------------------------------------------------
 */

void ns_export_result_free(ns_ctx *ctx, ns_export_result *out)
{
    if (out == NULL)
        return;
    for (int i = 0; i < out->count && i < 2; i++)
        ns_dealloc(ctx, out->files[i].data);
    memset(out, 0, sizeof *out);
}

/* A file name of the export: the base and its extension, which must fit. */
static ns_status file_name(ns_ctx *ctx, ns_export_file *f, const char *base, const char *ext)
{
    int n = snprintf(f->name, sizeof f->name, "%s%s", base, ext);
    if (n < 0 || (size_t)n >= sizeof f->name)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "the file name '%s%s' is longer than %zu characters; use a shorter one",
                         base, ext, sizeof f->name - 1);
    return NS_OK;
}

ns_status ns_export(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                    const ns_export_options *opts, ns_export_result *out)
{
    memset(out, 0, sizeof *out);
    ns_export_options o;
    if (opts == NULL)
        ns_export_options_default(&o);
    else
        o = *opts;
    if (ns_export_format_name(o.format) == NULL)
        return ns_errorf(ctx, NS_ERR_INVALID, "unknown export format %d", (int)o.format);
    int opset = o.opset == 0 ? NS_EXPORT_OPSET_MAX : o.opset;
    if (o.format == NS_EXPORT_ONNX && (opset < NS_EXPORT_OPSET_MIN || opset > NS_EXPORT_OPSET_MAX))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "opset %d is not one netsmith writes; use an opset from %d to %d (the "
                         "default %d needs onnxruntime 1.13 or later)",
                         o.opset, NS_EXPORT_OPSET_MIN, NS_EXPORT_OPSET_MAX, NS_EXPORT_OPSET_MAX);
    char name[NAME_MAX_LEN + 2];
    const char *file = o.file != NULL && o.file[0] != '\0' ? o.file : NULL;
    if (o.name != NULL && o.name[0] != '\0') {
        if (!is_identifier(o.name))
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "name '%s' is not a C identifier; use letters, digits and '_', "
                             "not starting with a digit, at most %d characters (it prefixes "
                             "%s_predict and the macros)",
                             o.name, NAME_MAX_LEN, o.name);
        snprintf(name, sizeof name, "%s", o.name);
    } else {
        name_from_file(file ? file : "model", name, sizeof name);
    }
    if (file == NULL)
        file = name;
    ns_status st;
    for (const char *p = file; *p; p++)
        if (*p == '/' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "file name '%s' holds a '/', a quote, a backslash or a control "
                             "character; name the export plainly",
                             file);
    ns__xplan plan;
    if ((st = ns__xplan_make(ctx, model, info, &plan)) != NS_OK)
        return st;
    ns__xbuf a, b;
    ns__xbuf_init(&a, ctx);
    ns__xbuf_init(&b, ctx);
    if (o.format == NS_EXPORT_ONNX) {
        st = file_name(ctx, &out->files[0], file, ".onnx");
        if (st == NS_OK)
            st = ns__export_onnx(ctx, &plan, opset, &a);
        if (st == NS_OK && (out->files[0].data = ns__xbuf_take(&a, &out->files[0].size)) == NULL)
            st = NS_ERR_NOMEM;
        out->count = 1;
    } else {
        st = file_name(ctx, &out->files[0], file, ".c");
        if (st == NS_OK)
            st = file_name(ctx, &out->files[1], file, ".h");
        if (st == NS_OK)
            st = ns__export_c(ctx, &plan, name, file, &a, &b);
        if (st == NS_OK && (out->files[0].data = ns__xbuf_take(&a, &out->files[0].size)) == NULL)
            st = NS_ERR_NOMEM;
        if (st == NS_OK && (out->files[1].data = ns__xbuf_take(&b, &out->files[1].size)) == NULL)
            st = NS_ERR_NOMEM;
        out->count = 2;
    }
    ns__xbuf_free(&a);
    ns__xbuf_free(&b);
    ns__xplan_free(ctx, &plan);
    if (st != NS_OK)
        ns_export_result_free(ctx, out);
    return st;
}

ns_status ns_export_write(ns_ctx *ctx, ns_model *model, const ns_model_info *info,
                          const ns_export_options *opts, const char *path, char written[2][4096])
{
    if (written != NULL)
        written[0][0] = written[1][0] = '\0';
    ns_export_options o;
    if (opts == NULL)
        ns_export_options_default(&o);
    else
        o = *opts;
    bool c = o.format == NS_EXPORT_C;
    const char *ext = c ? (ends_with(path, ".h") ? ".h" : ".c") : ".onnx";
    char base[80], stem[4096];
    base_name(path, ext, base, sizeof base);
    /* the path without the extension: the files are STEM.c and STEM.h */
    size_t n = strlen(path);
    if (ends_with(path, ext))
        n -= strlen(ext);
    if (n == 0 || base[0] == '\0' || n + 8 > sizeof stem)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "'%s' does not name a file to export into; give one such as model%s", path,
                         c ? ".c" : ".onnx");
    memcpy(stem, path, n);
    stem[n] = '\0';
    if (o.file == NULL || o.file[0] == '\0')
        o.file = base;
    if ((o.name == NULL || o.name[0] == '\0'))
        o.name = NULL; /* ns_export makes it from the file */
    ns_export_result e;
    ns_status st = ns_export(ctx, model, info, &o, &e);
    if (st != NS_OK)
        return st;
    for (int i = 0; i < e.count && st == NS_OK; i++) {
        char target[4096];
        const char *fext = strrchr(e.files[i].name, '.');
        snprintf(target, sizeof target, "%s%s", stem, fext);
        if (!c)
            snprintf(target, sizeof target, "%s", path); /* ONNX: the path as given */
        st = ns_write_file(ctx, target, e.files[i].data, e.files[i].size);
        if (st == NS_OK && written != NULL)
            snprintf(written[i], 4096, "%s", target);
    }
    ns_export_result_free(ctx, &e);
    return st;
}

ns_status ns_export_model_file(ns_ctx *ctx, const char *model_path, const ns_export_options *opts,
                               const char *path, char written[2][4096])
{
    ns_model *model = NULL;
    ns_model_info info;
    ns_status st = ns_fit_load(ctx, model_path, 1, &model, &info);
    if (st != NS_OK)
        return st;
    st = ns_export_write(ctx, model, &info, opts, path, written);
    ns_model_info_deinit(ctx, &info);
    ns_model_free(model);
    return st;
}
