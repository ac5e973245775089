/* Model files with their data description: task, class labels, target names and the
 * normalisation fit, kept in the safetensors __metadata__ next to the weights. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "run/run_internal.h"

#define META_TASK "netsmith.task"
#define META_LABELS "netsmith.labels"
#define META_TARGETS "netsmith.targets"
#define META_NORM "netsmith.norm"

void ns_model_info_deinit(ns_ctx *ctx, ns_model_info *info)
{
    ns__free_strings(ctx, info->class_names, info->classes);
    ns__free_strings(ctx, info->target_names, info->targets);
    ns_norm_deinit(ctx, &info->norm);
    memset(info, 0, sizeof *info);
}

/* A JSON array of strings, allocated on ctx. */
static ns_status names_json(ns_ctx *ctx, char **names, int n, char **out)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(names && names[i] ? names[i] : ""));
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(a);
    *out = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return *out ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory writing names");
}

ns_status ns__model_info_meta(ns_ctx *ctx, const ns_model_info *info, ns_st_meta *meta, int *n,
                              char **owned)
{
    /* owned[0..2] receive the strings to free: labels, targets, norm */
    *n = 0;
    meta[(*n)++] = (ns_st_meta){META_TASK, info->task == NS_TASK_CLASSIFICATION ? "classification"
                                                                                 : "regression"};
    ns_status st = NS_OK;
    if (info->task == NS_TASK_CLASSIFICATION) {
        st = names_json(ctx, info->class_names, info->classes, &owned[0]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_LABELS, owned[0]};
    } else {
        st = names_json(ctx, info->target_names, info->targets, &owned[1]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_TARGETS, owned[1]};
    }
    if (st == NS_OK && info->norm.kind != NS_NORM_NONE) {
        st = ns_norm_to_json(ctx, &info->norm, &owned[2]);
        if (st == NS_OK)
            meta[(*n)++] = (ns_st_meta){META_NORM, owned[2]};
    }
    return st;
}

ns_status ns_fit_save(ns_model *model, const ns_model_info *info, const char *path)
{
    ns_ctx *ctx = ns_model_ctx(model);
    ns_st_meta meta[4];
    char *owned[3] = {NULL, NULL, NULL};
    int n = 0;
    ns_status st = ns__model_info_meta(ctx, info, meta, &n, owned);
    if (st == NS_OK)
        st = ns_model_save(model, path, meta, n);
    for (int i = 0; i < 3; i++)
        ns_dealloc(ctx, owned[i]);
    return st;
}

static ns_status parse_names(ns_ctx *ctx, const char *path, const char *key, const char *text,
                             char ***names, int *count)
{
    json_error_t err;
    json_t *a = json_loads(text, 0, &err);
    if (a == NULL || !json_is_array(a)) {
        json_decref(a);
        return ns_errorf(ctx, NS_ERR_FORMAT, "%s: __metadata__.%s must be a JSON list of names",
                         path, key);
    }
    size_t n = json_array_size(a);
    char **out = ns_calloc(ctx, n ? n : 1, sizeof *out);
    ns_status st = out ? NS_OK : NS_ERR_NOMEM;
    for (size_t i = 0; st == NS_OK && i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s == NULL)
            st = ns_errorf(ctx, NS_ERR_FORMAT, "%s: __metadata__.%s[%zu] is not a string", path,
                           key, i);
        else if ((out[i] = ns_strdup(ctx, s)) == NULL)
            st = NS_ERR_NOMEM;
    }
    json_decref(a);
    if (st != NS_OK) {
        ns__free_strings(ctx, out, (int)n);
        return st;
    }
    *names = out;
    *count = (int)n;
    return NS_OK;
}

ns_status ns__model_info_read(ns_ctx *ctx, const ns_st_file *f, const char *path,
                              const ns_model *model, ns_model_info *info)
{
    memset(info, 0, sizeof *info);
    const char *task = ns_st_meta_find(f, META_TASK);
    const char *labels = ns_st_meta_find(f, META_LABELS);
    const char *targets = ns_st_meta_find(f, META_TARGETS);
    const char *norm = ns_st_meta_find(f, META_NORM);
    ns_status st = NS_OK;
    if (task == NULL)
        info->task = ns_spec_training(ns_model_spec(model))->task;
    else if (strcmp(task, "classification") == 0)
        info->task = NS_TASK_CLASSIFICATION;
    else if (strcmp(task, "regression") == 0)
        info->task = NS_TASK_REGRESSION;
    else
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "%s: __metadata__." META_TASK " must be classification or regression, "
                         "got '%s'",
                         path, task);
    if (labels != NULL)
        st = parse_names(ctx, path, META_LABELS, labels, &info->class_names, &info->classes);
    if (st == NS_OK && targets != NULL)
        st = parse_names(ctx, path, META_TARGETS, targets, &info->target_names, &info->targets);
    if (st == NS_OK && norm != NULL) {
        char source[512];
        snprintf(source, sizeof source, "%s: __metadata__." META_NORM, path);
        st = ns_norm_from_json(ctx, norm, source, &info->norm);
        if (st == NS_OK && info->norm.features != ns_model_input_size(model))
            st = ns_errorf(ctx, NS_ERR_FORMAT,
                           "%s: the normalisation has %d features but the model takes %d", path,
                           info->norm.features, ns_model_input_size(model));
    }
    int outputs = ns_model_output_size(model);
    if (st == NS_OK && info->task == NS_TASK_CLASSIFICATION && info->classes == 0)
        info->classes = outputs == 1 ? 2 : outputs;
    if (st == NS_OK && info->task != NS_TASK_CLASSIFICATION && info->targets == 0)
        info->targets = outputs;
    if (st != NS_OK)
        ns_model_info_deinit(ctx, info);
    return st;
}

ns_status ns_fit_load(ns_ctx *ctx, const char *path, int max_batch, ns_model **model,
                      ns_model_info *info)
{
    *model = NULL;
    memset(info, 0, sizeof *info);
    ns_st_file *f = NULL;
    ns_status st = ns_st_open(ctx, path, &f);
    if (st == NS_OK)
        st = ns__model_from_file(ctx, f, path, max_batch, model);
    if (st == NS_OK)
        st = ns__model_info_read(ctx, f, path, *model, info);
    if (st != NS_OK) {
        ns_model_free(*model);
        *model = NULL;
    }
    ns_st_close(f);
    return st;
}

static ns_status copy_names(ns_ctx *ctx, int n, const char *(*get)(const ns_dataset *, int),
                            const ns_dataset *ds, char ***out)
{
    *out = ns_calloc(ctx, (size_t)(n > 0 ? n : 1), sizeof **out);
    if (*out == NULL)
        return NS_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const char *name = get(ds, i);
        if (((*out)[i] = ns_strdup(ctx, name ? name : "")) == NULL)
            return NS_ERR_NOMEM;
    }
    return NS_OK;
}

ns_status ns__norm_copy(ns_ctx *ctx, const ns_norm *src, ns_norm *dst)
{
    memset(dst, 0, sizeof *dst);
    if (src->kind == NS_NORM_NONE || src->features <= 0)
        return NS_OK;
    size_t bytes = (size_t)src->features * sizeof(float);
    dst->shift = ns_alloc(ctx, bytes);
    dst->scale = ns_alloc(ctx, bytes);
    if (dst->shift == NULL || dst->scale == NULL) {
        ns_norm_deinit(ctx, dst);
        return NS_ERR_NOMEM;
    }
    memcpy(dst->shift, src->shift, bytes);
    memcpy(dst->scale, src->scale, bytes);
    dst->kind = src->kind;
    dst->features = src->features;
    return NS_OK;
}

ns_status ns_model_info_from(ns_ctx *ctx, const ns_fit_result *r, const ns_dataset *ds,
                             ns_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->task = r->task;
    ns_status st = ns__norm_copy(ctx, &r->norm, &info->norm);
    if (st == NS_OK && r->task == NS_TASK_CLASSIFICATION) {
        info->classes = r->classes;
        st = copy_names(ctx, info->classes, ns_dataset_class_name, ds, &info->class_names);
    } else if (st == NS_OK) {
        info->targets = ns_dataset_target_count(ds);
        st = copy_names(ctx, info->targets, ns_dataset_target_name, ds, &info->target_names);
    }
    if (st != NS_OK)
        ns_model_info_deinit(ctx, info);
    return st;
}
