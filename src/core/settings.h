/* Settings checked against their definitions, and their JSON schemas: shared by the cards'
 * settings (pipeline) and the run config (run). */
#ifndef NETSMITH_CORE_SETTINGS_H
#define NETSMITH_CORE_SETTINGS_H

#include <jansson.h>

#include "core/core_internal.h"

/* "a whole number", "a number", ... */
const char *ns__setting_type_name(ns_setting_type t);
/* Whether s is one of the '|'-separated choices. */
bool ns__setting_choice_ok(const char *choices, const char *s);
/* NULL when v fits s (JSON null always fits: "absent"); else a message into buf saying what is
 * wrong ("must be a whole number, not \"x\"", "is 'foo'; choose one of a|b",
 * "is 7; it must be between 0 and 1"), without the setting's name. */
const char *ns__setting_check(const ns_setting_def *s, const json_t *v, char *buf, size_t cap);
/* The setting as a JSON schema object (type, description, enum, minimum, maximum, default, and
 * aliases: '|'-separated other names, may be NULL). */
json_t *ns__setting_schema(const ns_setting_def *s, const char *aliases);

#endif
