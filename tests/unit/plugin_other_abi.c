/* A plugin that says it was built against another card layout: ns_cards_load_plugin must refuse
 * it before registering anything (test_cards_wiring). */
#include "netsmith/pipeline.h"

const int netsmith_plugin_abi = NS_CARDS_PLUGIN_ABI + 1;

ns_status netsmith_register_cards(ns_cards *cards)
{
    (void)cards;
    return NS_ERR_STATE;
}
