/* The layer-type table: one row per layer kind, and helpers layers use during setup. */
#include <string.h>

#include "internal.h"

extern const ns__layer_type ns__linear_type, ns__relu_type, ns__leaky_relu_type, ns__elu_type,
    ns__gelu_type, ns__silu_type, ns__tanh_type, ns__sigmoid_type, ns__softmax_type,
    ns__dropout_type, ns__batchnorm1d_type, ns__layernorm_type, ns__flatten_type;

static const ns__layer_type *const layer_types[NS_LAYER_KIND_COUNT] = {
    [NS_LAYER_LINEAR] = &ns__linear_type,
    [NS_LAYER_RELU] = &ns__relu_type,
    [NS_LAYER_LEAKY_RELU] = &ns__leaky_relu_type,
    [NS_LAYER_ELU] = &ns__elu_type,
    [NS_LAYER_GELU] = &ns__gelu_type,
    [NS_LAYER_SILU] = &ns__silu_type,
    [NS_LAYER_TANH] = &ns__tanh_type,
    [NS_LAYER_SIGMOID] = &ns__sigmoid_type,
    [NS_LAYER_SOFTMAX] = &ns__softmax_type,
    [NS_LAYER_DROPOUT] = &ns__dropout_type,
    [NS_LAYER_BATCHNORM1D] = &ns__batchnorm1d_type,
    [NS_LAYER_LAYERNORM] = &ns__layernorm_type,
    [NS_LAYER_FLATTEN] = &ns__flatten_type,
};

const ns__layer_type *ns__layer_type_get(ns_layer_kind kind)
{
    NS_ASSERT(kind >= 0 && kind < NS_LAYER_KIND_COUNT && layer_types[kind] != NULL);
    return layer_types[kind];
}

void ns__layer_add_param(ns__layer *l, const char *name, int ndim, int64_t d0, int64_t d1)
{
    NS_ASSERT(l->n_params < NS__MAX_LAYER_PARAMS && ndim >= 1 && ndim <= 2);
    ns__tensor_slot *s = &l->params[l->n_params++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = ndim == 2 ? d1 : 0;
    s->numel = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1);
}

void ns__layer_add_buffer(ns__layer *l, const char *name, int64_t d0)
{
    NS_ASSERT(l->n_buffers < NS__MAX_LAYER_BUFFERS);
    ns__tensor_slot *s = &l->buffers[l->n_buffers++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->ndim = 1;
    s->shape[0] = d0;
    s->numel = (size_t)d0;
}

void ns__layer_same_shape(ns__layer *l)
{
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
}

void ns__layer_clear_dx(ns__layer *l, int batch)
{
    if (l->dx != NULL)
        memset(l->dx, 0, (size_t)batch * (size_t)l->in_size * sizeof(float));
}
