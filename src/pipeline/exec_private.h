/* The parsed pipeline, shared by the parser and the executor. */
#ifndef NETSMITH_PIPELINE_EXEC_H
#define NETSMITH_PIPELINE_EXEC_H

#include "pipeline/pipeline_private.h"

struct ns_pipeline {
    ns_ctx *ctx;
    ns_cards *cards;
    char *source, *base_dir, *name;
    uint64_t seed;
    ns__yaml_doc doc;
    ns__node **nodes; /* every card, in file order */
    int n_nodes;
    ns__node **top;   /* top-level cards in run order */
    int n_top;
    bool ran;
    bool standalone; /* one card run alone: inputs come from files */
    ns_pipeline_host host; /* the application's registry (functions NULL: none) */
};

ns_ctx *ns__cards_ctx(const ns_cards *cards);
/* A pipeline holds its registry (whose plugins hold its cards' definitions) while it lives. */
void ns__cards_retain(ns_cards *cards);
void ns__cards_release(ns_cards *cards);
/* " (did you mean 'x'?)" for the closest card name, or "" (into buf). */
const char *ns__card_did_you_mean(const ns_cards *cards, const char *got, char *buf, size_t cap);
/* Parses a one-card pipeline whose inputs will be set from files. */
ns_status ns__pipeline_parse_alone(ns_cards *cards, const char *text, size_t len,
                                   ns_pipeline **out);
/* Releases every output value and card scratch state. */
void ns__pipeline_release_values(ns_pipeline *p);

#endif
