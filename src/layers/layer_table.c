/* The table of layer kinds: one row of NS_LAYER_KIND_MAP (netsmith/layers.h) each, pointing at
 * the ns__NAME_type its file defines. Above the layer files; nothing here changes when a kind
 * is added. */
#include "layers/layer.h"

#define NS__TYPE_DECL(ENUM, name) extern const ns__layer_type ns__##name##_type;
NS_LAYER_KIND_MAP(NS__TYPE_DECL)
#undef NS__TYPE_DECL

#define NS__TYPE_ROW(ENUM, name) [NS_LAYER_##ENUM] = &ns__##name##_type,
static const ns__layer_type *const layer_types[NS_LAYER_KIND_COUNT] = {
    NS_LAYER_KIND_MAP(NS__TYPE_ROW)};
#undef NS__TYPE_ROW

const ns__layer_type *ns__layer_type_get(ns_layer_kind kind)
{
    NS_ASSERT(kind >= 0 && kind < NS_LAYER_KIND_COUNT && layer_types[kind] != NULL &&
              layer_types[kind]->kind == kind);
    return layer_types[kind];
}
