/* Models: Build Model (layers, one block each for parameters, gradients and buffers, an
 * activation arena planned for the largest batch), Forward Pass and Backward Pass. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/checked.h"
#include "model/model_private.h"

#define NS__DEFAULT_MAX_BATCH 256

void ns_build_opts_default(ns_build_opts *opts, int input_size)
{
    memset(opts, 0, sizeof *opts);
    opts->input_ndim = 1;
    opts->input_shape[0] = input_size;
    opts->max_batch = NS__DEFAULT_MAX_BATCH;
}

/* shape's values as the factors of ns__product_text */
static void shape_factors(int ndim, const int *shape, int64_t *f)
{
    for (int i = 0; i < ndim; i++)
        f[i] = shape[i];
}

static ns_status check_opts(ns_ctx *ctx, const ns_build_opts *o)
{
    if (o->input_ndim < 1 || o->input_ndim > NS_MAX_DIMS - 1)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "build: the input must have 1 to %d dimensions per sample, got %d",
                         NS_MAX_DIMS - 1, o->input_ndim);
    for (int i = 0; i < o->input_ndim; i++)
        if (o->input_shape[i] <= 0)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "build: input dimension %d must be positive, got %d", i,
                             o->input_shape[i]);
    if (o->max_batch < 0 || o->output_size < 0)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "build: max_batch and output_size must not be "
                         "negative");
    int64_t n;
    if (!ns__numel_i64(o->input_ndim, o->input_shape, &n) || n > NS__MAX_VALUES) {
        char shape[96], count[48];
        int64_t f[NS_MAX_DIMS];
        shape_factors(o->input_ndim, o->input_shape, f);
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "build: the input %s has %s values per sample, more than the %d one "
                         "tensor may hold; use smaller samples",
                         ns__shape_text(shape, sizeof shape, o->input_ndim, o->input_shape),
                         ns__product_text(count, sizeof count, o->input_ndim, f), NS__MAX_VALUES);
    }
    return NS_OK;
}

/* The number of values of a shape that the checks above and the shape rules bounded. */
static int shape_size(int ndim, const int *shape)
{
    int64_t n = 0;
    bool ok = ns__numel_i64(ndim, shape, &n);
    NS_ASSERT(ok && n > 0 && n <= NS__MAX_VALUES);
    return (int)n;
}

/* What makes a layer's output large, for "use ... (or a smaller batch size)". */
static const char *size_hint(ns_layer_kind kind)
{
    const char *hint = ns__layer_type_get(kind)->size_hint;
    return hint != NULL ? hint : "smaller layers before it";
}

/* Checks the spec's optional "input" against the data's shape. */
static ns_status check_spec_input(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *o)
{
    if (spec->input_ndim == 0)
        return NS_OK;
    bool same = spec->input_ndim == o->input_ndim;
    for (int i = 0; same && i < o->input_ndim; i++)
        same = spec->input_shape[i] == o->input_shape[i];
    if (same)
        return NS_OK;
    char a[64] = "", b[64] = "";
    for (int i = 0; i < spec->input_ndim; i++)
        snprintf(a + strlen(a), sizeof a - strlen(a), "%s%d", i ? ", " : "", spec->input_shape[i]);
    for (int i = 0; i < o->input_ndim; i++)
        snprintf(b + strlen(b), sizeof b - strlen(b), "%s%d", i ? ", " : "", o->input_shape[i]);
    return ns_errorf(ctx, NS_ERR_SHAPE,
                     "build: the spec expects input [%s] but the data has [%s]; fix the spec's "
                     "\"input\" or remove it",
                     a, b);
}

void ns_model_free(ns_model *model)
{
    if (model == NULL)
        return;
    ns_ctx *ctx = model->ctx;
    ns_arena_deinit(ctx, &model->arena);
    ns_dealloc(ctx, model->params);
    ns_dealloc(ctx, model->grads);
    ns_dealloc(ctx, model->buffers);
    ns_dealloc(ctx, model->owned_x);
    ns_dealloc(ctx, model->layers);
    ns_spec_free(model->spec);
    ns_dealloc(ctx, model);
}

/* A layer that may run in place (NS__LAYER_IN_PLACE: relu) after one whose backward never
 * reads its output (NS__LAYER_OUTPUT_UNREAD: linear, conv2d) works in place: its output
 * overwrites that layer's, and its input gradient overwrites the
 * gradient it receives (the next layer's dx, read by nobody else). Values do not change; the
 * arena loses two activation-sized buffers per such relu (a third of a small CNN's). */
static bool shares_y(const ns_model *m, int i)
{
    const ns__layer *l = m->layers;
    return i > 0 && (l[i].type->flags & NS__LAYER_IN_PLACE) &&
           (l[i - 1].type->flags & NS__LAYER_OUTPUT_UNREAD);
}

static bool relu_shares_dx(const ns_model *m, int i)
{
    return shares_y(m, i) && i + 1 < m->n_layers;
}

/* *bytes += the arena bytes of n floats (ns_arena_plan_floats); false on overflow. */
static bool arena_add(size_t *bytes, size_t n)
{
    if (n > (SIZE_MAX - 63) / sizeof(float))
        return false;
    return ns__add_size(*bytes, ns_arena_plan_floats(n), bytes);
}

/* Sets up every layer's shapes and slots; returns the arena size in bytes. */
static ns_status plan_layers(ns_model *m, size_t *arena_bytes)
{
    ns_ctx *ctx = m->ctx;
    int ndim = m->opts.input_ndim;
    int shape[NS_MAX_DIMS - 1] = {0};
    memcpy(shape, m->opts.input_shape, sizeof shape);
    size_t B = (size_t)m->opts.max_batch;
    *arena_bytes = 0;
    /* Every activation holds max_batch samples: the input's (the first layer's x, and its dx)
     * too. Sizes per sample are at most NS__MAX_VALUES (check_opts, the shape rules), so
     * these products fit int64. */
    int64_t batch_values = (int64_t)B * shape_size(ndim, shape);
    if (batch_values > NS__MAX_VALUES) {
        char text[96];
        return ns_errorf(ctx, NS_ERR_SHAPE,
                         "build: the input %s has %d values per sample, %lld for a batch of %d, "
                         "more than the %d one tensor may hold; use smaller samples or a smaller "
                         "batch size",
                         ns__shape_text(text, sizeof text, ndim, shape), shape_size(ndim, shape),
                         (long long)batch_values, m->opts.max_batch, NS__MAX_VALUES);
    }
    for (int i = 0; i < m->n_layers; i++) {
        ns__layer *l = &m->layers[i];
        l->type = ns__layer_type_get(l->spec.kind);
        l->index = i;
        l->in_ndim = ndim;
        memcpy(l->in_shape, shape, sizeof shape);
        l->in_size = shape_size(ndim, shape);
        l->max_batch = m->opts.max_batch;
        /* An input gradient is wanted only where a layer below learns (or on request): a
         * linear or conv2d layer with nothing learning below it skips its input-gradient
         * product, and parameterless layers below the first that learns (the flatten the short
         * form puts first, say) take no part in backward at all. */
        bool learns_below = m->opts.keep_input_grad;
        for (int j = 0; j < i && !learns_below; j++)
            learns_below = m->layers[j].n_params > 0;
        l->need_dx = learns_below || !(l->type->flags & NS__LAYER_DX_OPTIONAL);
        size_t per_sample = 0, fixed = 0;
        ns_status st = l->type->setup(ctx, l, &per_sample, &fixed);
        if (st != NS_OK)
            return st;
        l->no_backward = !learns_below && l->n_params == 0;
        const char *name = ns_layer_kind_name(l->spec.kind);
        char text[96], count[48];
        int64_t out_values, f[NS_MAX_DIMS];
        bool fits = ns__numel_i64(l->out_ndim, l->out_shape, &out_values);
        if (fits && out_values <= 0)
            return ns_errorf(ctx, NS_ERR_SHAPE, "layers[%d] (%s): produces an empty output", i,
                             name);
        if (!fits || out_values > NS__MAX_VALUES) {
            shape_factors(l->out_ndim, l->out_shape, f);
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): its output %s has %s values per sample, more than "
                             "the %d one tensor may hold; use smaller layers",
                             i, name, ns__shape_text(text, sizeof text, l->out_ndim, l->out_shape),
                             ns__product_text(count, sizeof count, l->out_ndim, f), NS__MAX_VALUES);
        }
        l->out_size = (int)out_values;
        batch_values = (int64_t)B * out_values;
        if (batch_values > NS__MAX_VALUES)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): its output %s has %d values per sample, %lld for "
                             "a batch of %d, more than the %d one tensor may hold; use %s (or a "
                             "smaller batch size)",
                             i, name, ns__shape_text(text, sizeof text, l->out_ndim, l->out_shape),
                             l->out_size, (long long)batch_values, m->opts.max_batch,
                             NS__MAX_VALUES, size_hint(l->spec.kind));
        /* Each tensor, activation and scratch is now bounded (the layer's setup bounded its
         * own), so none of the sums below can overflow; they are checked all the same, as
         * every size is. */
        bool ok = true;
        for (int p = 0; p < l->n_params; p++)
            ok = ok && ns__add_size(m->n_params, l->params[p].numel, &m->n_params);
        for (int b = 0; b < l->n_buffers; b++)
            ok = ok && ns__add_size(m->n_buffers, l->buffers[b].numel, &m->n_buffers);
        bool need_dx = l->need_dx;
        size_t scratch = 0;
        ok = ok && ns__mul_size(per_sample, B, &scratch) && ns__add_size(scratch, fixed, &scratch);
        if (ok && !shares_y(m, i))
            ok = arena_add(arena_bytes, B * (size_t)l->out_size);
        if (ok && need_dx && !relu_shares_dx(m, i))
            ok = arena_add(arena_bytes, B * (size_t)l->in_size);
        if (ok && scratch > 0)
            ok = arena_add(arena_bytes, scratch);
        if (!ok)
            return ns_errorf(ctx, NS_ERR_SHAPE,
                             "layers[%d] (%s): the model's memory for a batch of %d does not fit "
                             "in the address space; use a smaller batch size or smaller layers",
                             i, name, m->opts.max_batch);
        l->scratch = (float *)(uintptr_t)scratch; /* size, until carved */
        l->dx = need_dx ? (float *)(uintptr_t)1 : NULL;
        ndim = l->out_ndim;
        memcpy(shape, l->out_shape, sizeof shape);
    }
    return NS_OK;
}

/* Points every slot into the blocks and carves the arena. */
static void carve(ns_model *m)
{
    size_t po = 0, bo = 0;
    size_t B = (size_t)m->opts.max_batch;
    for (int i = 0; i < m->n_layers; i++) {
        ns__layer *l = &m->layers[i];
        for (int p = 0; p < l->n_params; p++) {
            l->params[p].data = m->params + po;
            l->params[p].grad = m->grads + po;
            po += l->params[p].numel;
        }
        for (int b = 0; b < l->n_buffers; b++) {
            l->buffers[b].data = m->buffers + bo;
            bo += l->buffers[b].numel;
        }
        size_t scratch = (size_t)(uintptr_t)l->scratch;
        l->y = shares_y(m, i) ? m->layers[i - 1].y
                              : ns_arena_floats(&m->arena, B * (size_t)l->out_size);
        l->dx = l->dx && !relu_shares_dx(m, i) ? ns_arena_floats(&m->arena, B * (size_t)l->in_size)
                                               : NULL;
        l->scratch = scratch ? ns_arena_floats(&m->arena, scratch) : NULL;
        NS_ASSERT(l->y != NULL);
    }
    /* A shared dx is the next layer's, carved after this one. */
    for (int i = 0; i < m->n_layers; i++)
        if (relu_shares_dx(m, i) && m->layers[i].need_dx) {
            m->layers[i].dx = m->layers[i + 1].dx;
            NS_ASSERT(m->layers[i].dx != NULL);
        }
}

/* A model with its layers set up (shapes, parameter and buffer counts, the arena's size) but
 * no blocks or arena yet; ns_model_free frees it. */
static ns_status plan_model(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *opts,
                            ns_model **out, size_t *arena_bytes)
{
    *out = NULL;
    ns_status st = check_opts(ctx, opts);
    if (st == NS_OK)
        st = check_spec_input(ctx, spec, opts);
    if (st != NS_OK)
        return st;
    ns_model *m = ns_calloc(ctx, 1, sizeof *m);
    if (m == NULL)
        return NS_ERR_NOMEM;
    m->ctx = ctx;
    m->opts = *opts;
    if (m->opts.max_batch == 0)
        m->opts.max_batch = NS__DEFAULT_MAX_BATCH;

    ns_layer_spec *ls = NULL;
    int n = 0;
    /* The model keeps its own copy, in its own context, and expands that copy so every
     * allocation below belongs to ctx. */
    st = ns__spec_clone_ctx(ctx, spec, &m->spec);
    if (st == NS_OK)
        st = ns_spec_expand_input(m->spec, opts->input_ndim, opts->output_size, &ls, &n);
    if (st == NS_OK) {
        m->n_layers = n;
        m->layers = ns_calloc(ctx, (size_t)n, sizeof *m->layers);
        if (m->layers == NULL)
            st = NS_ERR_NOMEM;
    }
    for (int i = 0; st == NS_OK && i < n; i++)
        m->layers[i].spec = ls[i];
    ns_dealloc(ctx, ls);
    if (st == NS_OK)
        st = plan_layers(m, arena_bytes);
    if (st != NS_OK) {
        /* Slots were not carved: nothing but the layer table and the spec to free. */
        ns_model_free(m);
        return st;
    }
    *out = m;
    return NS_OK;
}

ns_status ns_model_build(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *opts,
                         ns_model **out)
{
    NS_ASSERT(ctx && spec && opts && out);
    *out = NULL;
    ns_model *m = NULL;
    size_t arena_bytes = 0;
    ns_status st = plan_model(ctx, spec, opts, &m, &arena_bytes);
    if (st != NS_OK)
        return st;
    int n = m->n_layers;
    m->input_size = shape_size(opts->input_ndim, opts->input_shape);
    m->output_size = m->layers[n - 1].out_size;
    m->params = ns_calloc(ctx, m->n_params ? m->n_params : 1, sizeof(float));
    m->grads = ns_calloc(ctx, m->n_params ? m->n_params : 1, sizeof(float));
    m->buffers = ns_calloc(ctx, m->n_buffers ? m->n_buffers : 1, sizeof(float));
    if (m->params == NULL || m->grads == NULL || m->buffers == NULL) {
        st = ns_errorf(ctx, NS_ERR_NOMEM,
                       "build: out of memory for the model's %zu parameters (%zu MiB, and as "
                       "much for their gradients); use smaller layers",
                       m->n_params, (m->n_params * sizeof(float)) >> 20);
        goto fail;
    }
    st = ns_arena_init(ctx, &m->arena, arena_bytes);
    if (st != NS_OK) {
        st = ns_errorf(ctx, st,
                       "build: out of memory for the activations of a batch of %d (%zu MiB); use "
                       "a smaller batch size or smaller layers",
                       m->opts.max_batch, arena_bytes >> 20);
        goto fail;
    }
    carve(m);
    for (int i = 0; i < n; i++) {
        ns__layer *l = &m->layers[i];
        if (l->type->init != NULL) {
            ns_rng rng;
            ns_rng_init(&rng, opts->seed, NS_RNG_INIT, (uint64_t)i);
            l->type->init(l, &rng);
        }
    }
    *out = m;
    return NS_OK;
fail:
    ns_model_free(m);
    return st;
}

/* ---- layer shapes ------------------------------------------------------------------------ */

static void layer_shape_of(const ns__layer *l, ns_layer_shape *out)
{
    memset(out, 0, sizeof *out);
    out->kind = l->spec.kind;
    out->ndim = l->out_ndim;
    memcpy(out->shape, l->out_shape, sizeof out->shape);
    out->size = l->out_size;
    for (int p = 0; p < l->n_params; p++)
        out->params += l->params[p].numel;
}

ns_status ns_model_layer_shape(const ns_model *model, int i, ns_layer_shape *out)
{
    NS_ASSERT(model != NULL && out != NULL);
    if (i < 0 || i >= model->n_layers) {
        memset(out, 0, sizeof *out);
        return ns_errorf(model->ctx, NS_ERR_INVALID,
                         "ns_model_layer_shape: layer %d does not exist (the model has %d, "
                         "numbered from 0)",
                         i, model->n_layers);
    }
    layer_shape_of(&model->layers[i], out);
    return NS_OK;
}

ns_status ns_spec_layer_shapes(ns_ctx *ctx, const ns_spec *spec, const ns_build_opts *opts,
                               ns_layer_shape **out, int *count)
{
    NS_ASSERT(ctx && spec && opts && out && count);
    *out = NULL;
    *count = 0;
    ns_model *m = NULL;
    size_t arena_bytes = 0;
    ns_status st = plan_model(ctx, spec, opts, &m, &arena_bytes);
    if (st != NS_OK)
        return st;
    ns_layer_shape *s = ns_calloc(ctx, (size_t)m->n_layers, sizeof *s);
    if (s == NULL) {
        ns_model_free(m);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory for the layer shapes");
    }
    for (int i = 0; i < m->n_layers; i++)
        layer_shape_of(&m->layers[i], &s[i]);
    *count = m->n_layers;
    *out = s;
    ns_model_free(m);
    return NS_OK;
}

/* ---- accessors ----------------------------------------------------------------------- */

ns_ctx *ns_model_ctx(const ns_model *model)
{
    return model->ctx;
}
const ns_spec *ns_model_spec(const ns_model *model)
{
    return model->spec;
}
int ns_model_input_size(const ns_model *model)
{
    return model->input_size;
}
int ns_model_output_size(const ns_model *model)
{
    return model->output_size;
}
int ns_model_max_batch(const ns_model *model)
{
    return model->opts.max_batch;
}
int ns_model_layer_count(const ns_model *model)
{
    return model->n_layers;
}
float *ns_model_params(ns_model *model)
{
    return model->params;
}
float *ns_model_grads(ns_model *model)
{
    return model->grads;
}
size_t ns_model_param_count(const ns_model *model)
{
    return model->n_params;
}
float *ns_model_buffers(ns_model *model)
{
    return model->buffers;
}
size_t ns_model_buffer_count(const ns_model *model)
{
    return model->n_buffers;
}
uint64_t ns_model_forward_count(const ns_model *model)
{
    return model->forward_count;
}
void ns_model_set_forward_count(ns_model *model, uint64_t n)
{
    model->forward_count = n;
}
uint64_t ns_model_seed(const ns_model *model)
{
    return model->opts.seed;
}

const ns_layer_spec *ns_model_layer(const ns_model *model, int i)
{
    NS_ASSERT(i >= 0 && i < model->n_layers);
    return &model->layers[i].spec;
}

const ns_build_opts *ns_model_build_opts(const ns_model *model)
{
    return &model->opts;
}

int ns_model_tensor_count(const ns_model *model)
{
    int n = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const ns__layer *l = &model->layers[i];
        n += l->n_params + l->n_buffers + (l->has_counter ? 1 : 0);
    }
    return n;
}

static void fill_named(ns_named_tensor *out, int layer, const ns__tensor_slot *s, bool trainable)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%d.%s", layer, s->name);
    out->data = s->data;
    out->ndim = s->ndim;
    for (int d = 0; d < NS_MAX_DIMS; d++)
        out->shape[d] = s->shape[d];
    out->trainable = trainable;
}

ns_status ns_model_tensor(ns_model *model, int i, ns_named_tensor *out)
{
    const int asked = i;
    if (i < 0)
        return ns_errorf(model->ctx, NS_ERR_NOTFOUND,
                         "model has no tensor number %d; tensors are numbered from 0 to %d", i,
                         ns_model_tensor_count(model) - 1);
    for (int li = 0; li < model->n_layers; li++) {
        ns__layer *l = &model->layers[li];
        if (i < l->n_params) {
            fill_named(out, li, &l->params[i], true);
            return NS_OK;
        }
        i -= l->n_params;
        if (i < l->n_buffers) {
            fill_named(out, li, &l->buffers[i], false);
            return NS_OK;
        }
        i -= l->n_buffers;
        if (l->has_counter) {
            if (i == 0) {
                memset(out, 0, sizeof *out);
                snprintf(out->name, sizeof out->name, "%d.num_batches_tracked", li);
                out->count = &l->counter;
                out->ndim = 0;
                return NS_OK;
            }
            i--;
        }
    }
    return ns_errorf(model->ctx, NS_ERR_NOTFOUND,
                     "model has no tensor number %d; tensors are numbered from 0 to %d", asked,
                     ns_model_tensor_count(model) - 1);
}

ns_status ns_model_find_tensor(ns_model *model, const char *name, ns_named_tensor *out)
{
    int n = ns_model_tensor_count(model);
    for (int i = 0; i < n; i++) {
        ns_model_tensor(model, i, out);
        if (strcmp(out->name, name) == 0)
            return NS_OK;
    }
    return ns_errorf(model->ctx, NS_ERR_NOTFOUND, "model has no tensor named '%s'", name);
}

ns_status ns_model_copy_weights(ns_model *dst, const ns_model *src)
{
    bool same = dst->n_params == src->n_params && dst->n_buffers == src->n_buffers &&
                dst->n_layers == src->n_layers;
    for (int i = 0; same && i < dst->n_layers; i++)
        same = dst->layers[i].spec.kind == src->layers[i].spec.kind &&
               dst->layers[i].in_size == src->layers[i].in_size &&
               dst->layers[i].out_size == src->layers[i].out_size;
    if (!same)
        return ns_errorf(dst->ctx, NS_ERR_SHAPE,
                         "copy weights: the two models have different architectures");
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    memcpy(dst->buffers, src->buffers, src->n_buffers * sizeof(float));
    for (int i = 0; i < dst->n_layers; i++)
        dst->layers[i].counter = src->layers[i].counter;
    return NS_OK;
}

/* ---- forward and backward ---------------------------------------------------------------- */

ns_status ns_model_forward(ns_model *model, const float *x, int batch, bool training,
                           const float **y)
{
    NS_ASSERT(model && x && y);
    if (batch < 1 || batch > model->opts.max_batch)
        return ns_errorf(model->ctx, NS_ERR_INVALID,
                         "forward: batch size %d is outside [1, %d] (the model's max_batch)", batch,
                         model->opts.max_batch);
    if (training) {
        for (int i = 0; i < model->n_layers; i++) {
            const ns__layer *l = &model->layers[i];
            /* Batch statistics need more than one value per channel: batch * H * W > 1. */
            bool stats = (l->type->flags & NS__LAYER_BATCH_STATS) != 0;
            if (stats && batch * (l->in_size / l->in_shape[0]) < 2)
                return ns_errorf(model->ctx, NS_ERR_SHAPE,
                                 "forward: layers[%d] (%s) needs more than one value per "
                                 "feature in training mode; use a batch of at least 2 (or "
                                 "drop_last)",
                                 i, ns_layer_kind_name(l->spec.kind));
        }
    }
    model->have_forward = false;
    const float *in = x;
    for (int i = 0; i < model->n_layers; i++) {
        ns__layer *l = &model->layers[i];
        ns_rng rng;
        /* The dropout stream of this forward and this layer: (seed, purpose, forward count). */
        ns_rng_init_lane(&rng, model->opts.seed, NS_RNG_DROPOUT, model->forward_count, (uint32_t)i);
        l->type->forward(l, in, batch, training, &rng);
        in = l->y;
    }
    if (training)
        model->forward_count++;
    model->last_x = x;
    model->last_batch = batch;
    model->last_training = training;
    model->have_forward = true;
    *y = in;
    return NS_OK;
}

ns_status ns_model_backward(ns_model *model, const float *dy)
{
    NS_ASSERT(model && dy);
    if (!model->have_forward || !model->last_training)
        return ns_errorf(model->ctx, NS_ERR_STATE,
                         "backward: needs a training-mode forward pass first (forward with "
                         "training = true)");
    const float *d = dy;
    for (int i = model->n_layers - 1; i >= 0; i--) {
        ns__layer *l = &model->layers[i];
        if (l->no_backward)
            break; /* nothing at or below it learns */
        const float *x = i == 0 ? model->last_x : model->layers[i - 1].y;
        l->type->backward(l, x, d, model->last_batch);
        d = l->dx;
    }
    return NS_OK;
}

const float *ns_model_input_grad(const ns_model *model)
{
    return model->opts.keep_input_grad ? model->layers[0].dx : NULL;
}

void ns_model_zero_grad(ns_model *model)
{
    ns__parallel_zero(model->ctx, model->grads, model->n_params);
}

void ns_model_forget_forward(ns_model *model)
{
    model->have_forward = false;
    model->last_x = NULL;
    model->last_batch = 0;
}

void ns__model_last_forward(const ns_model *m, ns__model_forward *out)
{
    *out = (ns__model_forward){.have = m->have_forward,
                               .batch = m->have_forward ? m->last_batch : 0,
                               .training = m->have_forward && m->last_training,
                               .x = m->have_forward ? m->last_x : NULL,
                               .arena = m->arena.base,
                               .arena_bytes = m->arena.used};
}

size_t ns__model_arena_bytes(const ns_model *m)
{
    return m->arena.used;
}

void ns__model_set_built_output(ns_model *m, int output_size)
{
    m->opts.output_size = output_size;
}

ns_status ns__model_restore_forward(ns_model *m, const void *x, int batch, bool training,
                                    const void *arena)
{
    ns_model_forget_forward(m);
    if (batch < 1 || batch > m->opts.max_batch)
        return ns_errorf(m->ctx, NS_ERR_INVALID,
                         "a restored forward of %d samples is outside [1, %d] (the model's "
                         "max_batch)",
                         batch, m->opts.max_batch);
    size_t bytes = (size_t)batch * (size_t)m->input_size * sizeof(float);
    float *copy = ns_alloc(m->ctx, bytes);
    if (copy == NULL)
        return NS_ERR_NOMEM;
    memcpy(copy, x, bytes);
    ns_dealloc(m->ctx, m->owned_x);
    m->owned_x = copy;
    if (m->arena.used > 0)
        memcpy(m->arena.base, arena, m->arena.used);
    m->last_x = m->owned_x;
    m->last_batch = batch;
    m->last_training = training;
    /* The arena is the file's bytes: what backward would index by is checked first. */
    for (int i = 0; i < m->n_layers; i++) {
        const ns__layer *l = &m->layers[i];
        if (l->type->check_restored != NULL) {
            ns_status st = l->type->check_restored(m->ctx, l, batch);
            if (st != NS_OK) {
                ns_model_forget_forward(m);
                return st;
            }
        }
    }
    m->have_forward = true;
    return NS_OK;
}
