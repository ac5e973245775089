/* The values a pipeline's cards hold: what an input reads (a card's output, a loop's exposed
 * value, or a value loaded from a file) and releasing them all. Below the card registry, the
 * parser and the executor, which all read them. */
#include <string.h>

#include "pipeline/exec_private.h"

const ns__input *ns__loop_input(const ns__node *loop, const char *name)
{
    for (int i = 0; i < loop->n_in; i++)
        if (strcmp(loop->in[i].port, name) == 0)
            return &loop->in[i];
    return NULL;
}

ns_value *ns__input_value(const ns__input *in)
{
    if (in->value != NULL)
        return in->value;
    if (in->src == NULL)
        return NULL;
    if (in->src_port >= 0)
        return in->src->out[in->src_port];
    if (strcmp(in->src_name, "epoch") == 0)
        return in->src->loop_epoch;
    if (strcmp(in->src_name, "batch_index") == 0)
        return in->src->loop_pos;
    const ns__input *li = ns__loop_input(in->src, in->src_name);
    return li ? ns__input_value(li) : NULL;
}

void ns__pipeline_release_values(ns_pipeline *p)
{
    for (int i = 0; i < p->n_nodes; i++) {
        ns__node *n = p->nodes[i];
        for (int j = 0; n->out && j < n->def->n_outputs; j++) {
            ns_value_release(n->out[j]);
            n->out[j] = NULL;
        }
        for (int j = 0; j < n->n_in; j++) {
            ns_value_release(n->in[j].value);
            n->in[j].value = NULL;
        }
        ns_value_release(n->loop_epoch);
        ns_value_release(n->loop_pos);
        n->loop_epoch = n->loop_pos = NULL;
        if (n->scratch != NULL && n->scratch_free != NULL)
            n->scratch_free(n->scratch);
        n->scratch = NULL;
    }
}
