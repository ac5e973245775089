/* The built-in cards: every card file's table, registered in a new registry. Above the card
 * files, which use the registry's helpers (cards.c). */
#include "pipeline/pipeline_private.h"

ns_status ns_cards_new(ns_ctx *ctx, ns_cards **out)
{
    *out = NULL;
    ns_cards *c;
    ns_status st = ns__cards_empty(ctx, &c);
    if (st != NS_OK)
        return st;
    const ns_card_def *tables[] = {ns__data_cards, ns__model_cards, ns__step_cards};
    const int counts[] = {ns__data_card_count, ns__model_card_count, ns__step_card_count};
    for (int t = 0; t < 3 && st == NS_OK; t++)
        for (int i = 0; i < counts[t] && st == NS_OK; i++)
            st = ns_card_register(c, &tables[t][i]);
    if (st == NS_OK)
        st = ns_card_register(c, &ns__loop_card);
    if (st != NS_OK) {
        ns_cards_free(c);
        return st;
    }
    *out = c;
    return NS_OK;
}
