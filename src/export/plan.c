/* The plan both export writers read: a model and its info walked once (export_internal.h), and
 * the refusal of a layer a writer has no rule for. */
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "export/export_internal.h"

ns_status ns__export_refuse(ns_ctx *ctx, const ns__xlayer *l, const char *format)
{
    return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                     "layers[%d] (%s): the %s export has no rule for this layer kind, so the "
                     "model cannot be exported to %s; export it in another format, or leave "
                     "the layer out",
                     l->index, ns_layer_kind_name(l->spec->kind), format, format);
}

/* ---- the plan -------------------------------------------------------------------------------- */

void ns__xplan_free(ns_ctx *ctx, ns__xplan *plan)
{
    ns_dealloc(ctx, plan->layers);
    ns__free_strings(ctx, plan->names, plan->width);
    memset(plan, 0, sizeof *plan);
}

/* The tensor "INDEX.NAME" of the model, or NULL when the layer has none. */
static const float *tensor(ns_model *model, int index, const char *name, ns__xlayer *shape_of)
{
    char full[48];
    snprintf(full, sizeof full, "%d.%s", index, name);
    ns_named_tensor t;
    if (ns_model_find_tensor(model, full, &t) != NS_OK)
        return NULL;
    if (shape_of != NULL) {
        shape_of->weight_ndim = t.ndim;
        for (int d = 0; d < t.ndim && d < 4; d++)
            shape_of->weight_shape[d] = t.shape[d];
    }
    return t.data;
}

static bool is_window_kind(ns_layer_kind k)
{
    return k == NS_LAYER_CONV2D || k == NS_LAYER_MAXPOOL2D || k == NS_LAYER_AVGPOOL2D ||
           k == NS_LAYER_ADAPTIVE_AVGPOOL2D || k == NS_LAYER_GLOBAL_AVGPOOL2D;
}

static void walk_layer(ns__xplan *plan, int i, const int *in_shape, int in_ndim)
{
    ns__xlayer *l = &plan->layers[i];
    ns_model *m = plan->model;
    memset(l, 0, sizeof *l);
    l->index = i;
    l->spec = ns_model_layer(m, i);
    l->in_ndim = in_ndim;
    l->in_size = 1;
    for (int d = 0; d < in_ndim; d++) {
        l->in_shape[d] = in_shape[d];
        l->in_size *= in_shape[d];
    }
    ns_layer_shape s;
    ns_model_layer_shape(m, i, &s); /* i is in range */
    l->out_ndim = s.ndim;
    for (int d = 0; d < s.ndim; d++)
        l->out_shape[d] = s.shape[d];
    l->out_size = s.size;
    ns_layer_kind k = l->spec->kind;
    if (is_window_kind(k) && in_ndim == 3) {
        ns_conv2d_geom *g = &l->geom;
        g->in_c = in_shape[0], g->in_h = in_shape[1], g->in_w = in_shape[2];
        g->out_c = s.shape[0], g->out_h = s.shape[1], g->out_w = s.shape[2];
        g->groups = 1;
        for (int a = 0; a < 2; a++) {
            g->dilation[a] = 1;
            if (k == NS_LAYER_CONV2D || k == NS_LAYER_MAXPOOL2D || k == NS_LAYER_AVGPOOL2D) {
                g->kernel[a] = l->spec->kernel[a];
                g->stride[a] = l->spec->stride[a] > 0 ? l->spec->stride[a] : l->spec->kernel[a];
                g->padding[a] = l->spec->padding[a];
            }
        }
        if (k == NS_LAYER_CONV2D) {
            g->dilation[0] = l->spec->dilation[0], g->dilation[1] = l->spec->dilation[1];
            g->groups = l->spec->groups;
        }
    }
    l->weight = tensor(m, i, "weight", l);
    l->bias = tensor(m, i, "bias", NULL);
    l->mean = tensor(m, i, "running_mean", NULL);
    l->var = tensor(m, i, "running_var", NULL);
}

ns_status ns__xplan_make(ns_ctx *ctx, ns_model *model, const ns_model_info *info, ns__xplan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->model = model;
    plan->info = info;
    const ns_build_opts *bo = ns_model_build_opts(model);
    plan->in_ndim = bo->input_ndim;
    plan->in_size = ns_model_input_size(model);
    for (int d = 0; d < bo->input_ndim && d < 3; d++)
        plan->in_shape[d] = bo->input_shape[d];
    plan->input_scale = info->input_scale;
    if (info->norm.kind != NS_NORM_NONE) {
        if (info->norm.features != plan->in_size || info->norm.shift == NULL ||
            info->norm.scale == NULL)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "the model's normalisation has %d features but the model takes %d; "
                             "the file's metadata does not fit its weights",
                             info->norm.features, plan->in_size);
        plan->shift = info->norm.shift;
        plan->scale = info->norm.scale;
    }
    plan->outputs = ns_model_output_size(model);
    bool cls = info->task == NS_TASK_CLASSIFICATION;
    plan->post =
        !cls ? NS__XPOST_VALUES : (plan->outputs == 1 ? NS__XPOST_SIGMOID2 : NS__XPOST_SOFTMAX);
    plan->width = plan->post == NS__XPOST_SIGMOID2 ? 2 : plan->outputs;

    plan->n_layers = ns_model_layer_count(model);
    plan->layers =
        ns_alloc(ctx, (size_t)(plan->n_layers > 0 ? plan->n_layers : 1) * sizeof *plan->layers);
    plan->names = ns_alloc(ctx, (size_t)plan->width * sizeof *plan->names);
    if (plan->layers == NULL || plan->names == NULL) {
        ns_dealloc(ctx, plan->layers);
        ns_dealloc(ctx, plan->names);
        memset(plan, 0, sizeof *plan);
        return NS_ERR_NOMEM;
    }
    memset(plan->names, 0, (size_t)plan->width * sizeof *plan->names);
    plan->max_size = plan->in_size > plan->width ? plan->in_size : plan->width;
    int shape[3], ndim = plan->in_ndim;
    memcpy(shape, plan->in_shape, sizeof shape);
    for (int i = 0; i < plan->n_layers; i++) {
        walk_layer(plan, i, shape, ndim);
        ndim = plan->layers[i].out_ndim;
        memcpy(shape, plan->layers[i].out_shape, sizeof shape);
        if (plan->layers[i].out_size > plan->max_size)
            plan->max_size = plan->layers[i].out_size;
    }
    char **names = cls ? info->class_names : info->target_names;
    int count = cls ? info->classes : info->targets;
    for (int c = 0; c < plan->width; c++) {
        char num[24];
        const char *n = names != NULL && c < count && names[c] != NULL && names[c][0] != '\0'
                            ? names[c]
                            : (snprintf(num, sizeof num, cls ? "%d" : "y%d", c), num);
        if ((plan->names[c] = ns_strdup(ctx, n)) == NULL) {
            ns__xplan_free(ctx, plan);
            return NS_ERR_NOMEM;
        }
    }
    return NS_OK;
}

