/* Settings against their definitions: type, choices and range checks, and JSON schemas. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/settings.h"

const char *ns__setting_type_name(ns_setting_type t)
{
    switch (t) {
    case NS_SETTING_INT:
        return "a whole number";
    case NS_SETTING_NUMBER:
        return "a number";
    case NS_SETTING_BOOL:
        return "true or false";
    case NS_SETTING_STRING:
        return "a text";
    case NS_SETTING_LIST:
        return "a list of numbers";
    default:
        return "a value";
    }
}

bool ns__setting_choice_ok(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *q = choices; *q;) {
        const char *bar = strchr(q, '|');
        size_t len = bar ? (size_t)(bar - q) : strlen(q);
        if (len == n && strncmp(q, s, n) == 0)
            return true;
        q += len + (bar != NULL);
    }
    return false;
}

const char *ns__setting_check(const ns_setting_def *s, const json_t *v, char *buf, size_t cap)
{
    if (json_is_null(v))
        return NULL;
    bool ok = true;
    switch (s->type) {
    case NS_SETTING_INT:
        ok = json_is_integer(v) ||
             (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
              fabs(json_real_value(v)) < 9e15);
        break;
    case NS_SETTING_NUMBER:
        ok = json_is_number(v);
        break;
    case NS_SETTING_BOOL:
        ok = json_is_boolean(v);
        break;
    case NS_SETTING_STRING:
        ok = json_is_string(v);
        break;
    case NS_SETTING_LIST:
        ok = json_is_array(v);
        for (size_t i = 0; ok && i < json_array_size(v); i++)
            ok = json_is_number(json_array_get(v, i));
        break;
    default:
        break;
    }
    if (!ok) {
        char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, cap, "must be %s, not %.200s", ns__setting_type_name(s->type),
                 got ? got : "this");
        free(got);
        return buf;
    }
    if (s->type == NS_SETTING_STRING && s->choices != NULL &&
        !ns__setting_choice_ok(s->choices, json_string_value(v))) {
        snprintf(buf, cap, "is '%.200s'; choose one of %s", json_string_value(v), s->choices);
        return buf;
    }
    if ((s->type == NS_SETTING_INT || s->type == NS_SETTING_NUMBER) && s->min < s->max) {
        double x = json_number_value(v);
        if (!(x >= s->min && x <= s->max)) {
            snprintf(buf, cap, "is %.15g; it must be between %.15g and %.15g", x, s->min,
                     s->max);
            return buf;
        }
    }
    if (s->type == NS_SETTING_LIST && s->min < s->max) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            double x = json_number_value(json_array_get(v, i));
            if (!(x >= s->min && x <= s->max)) {
                snprintf(buf, cap, "has %.15g at [%zu]; every element must be between %.15g "
                                   "and %.15g",
                         x, i, s->min, s->max);
                return buf;
            }
        }
    }
    return NULL;
}

json_t *ns__setting_schema(const ns_setting_def *s, const char *aliases)
{
    static const char *const types[] = {"", "integer", "number", "boolean", "string", "array", ""};
    json_t *o = json_object();
    if (s->type != NS_SETTING_ANY)
        json_object_set_new(o, "type", json_string(types[s->type]));
    if (s->type == NS_SETTING_LIST)
        json_object_set_new(o, "items", json_pack("{s:s}", "type", "number"));
    json_object_set_new(o, "description", json_string(s->doc ? s->doc : ""));
    if (s->choices != NULL) {
        json_t *e = json_array();
        const char *p = s->choices;
        while (*p) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            json_array_append_new(e, json_stringn(p, n));
            p += n + (bar != NULL);
        }
        json_object_set_new(o, "enum", e);
    }
    if (s->min < s->max) {
        json_t *lim = s->type == NS_SETTING_LIST ? json_object_get(o, "items") : o;
        json_object_set_new(lim, "minimum", json_real(s->min));
        json_object_set_new(lim, "maximum", json_real(s->max));
    }
    if (s->default_json != NULL) {
        json_error_t err;
        json_t *d = json_loads(s->default_json, JSON_DECODE_ANY, &err);
        if (d != NULL)
            json_object_set_new(o, "default", d);
    }
    if (aliases != NULL) {
        json_t *a = json_array();
        const char *p = aliases;
        while (*p) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            json_array_append_new(a, json_stringn(p, n));
            p += n + (bar != NULL);
        }
        json_object_set_new(o, "aliases", a);
    }
    return o;
}
