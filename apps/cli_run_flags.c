/* The run settings as flags, for every command that takes a run config (train, job submit): each
 * setting of the settings table is --name-with-dashes, and its plain aliases are flags too
 * (--lr, --clip-norm, --early-stop). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* ---- flags from the settings table ---------------------------------------------------------- */

static void add_flag(cli_run_flags *t, const char *name, const char *alias, const char *arg,
                     const char *help, const char *setting)
{
    if (t->n == CLI_RUN_MAX_FLAGS)
        return;
    int i = t->n++;
    snprintf(t->names[i], sizeof t->names[i], "--%s", name);
    for (char *p = t->names[i] + 2; *p; p++)
        if (*p == '_')
            *p = '-';
    snprintf(t->help[i], sizeof t->help[i], "%s", help);
    t->flags[i] = (cli_flag){t->names[i], alias, arg, t->help[i], NULL};
    t->setting[i] = setting;
}

static const char *arg_of(ns_setting_type type)
{
    switch (type) {
    case NS_SETTING_INT:
        return "N";
    case NS_SETTING_NUMBER:
        return "X";
    case NS_SETTING_BOOL:
        return NULL;
    case NS_SETTING_LIST:
        return "A,B,..";
    default:
        return "VALUE";
    }
}

void cli_run_flags_build(cli_run_flags *t, const char *cmd, const char *positional,
                         const char *const *skip, int n_skip)
{
    t->n = 0;
    t->cmd = cmd;
    add_flag(t, "config", "-c", "FILE", "a run config (YAML or JSON) with the settings below",
             NULL);
    int n;
    const ns_setting_def *defs = ns_run_settings(&n);
    for (int i = 0; i < n; i++) {
        const ns_setting_def *d = &defs[i];
        bool skipped = positional != NULL && strcmp(d->name, positional) == 0;
        for (int k = 0; k < n_skip && !skipped; k++)
            skipped = strcmp(d->name, skip[k]) == 0;
        if (skipped)
            continue; /* the positional argument, or a setting the command sets itself */
        /* the help, with its choices and its other names as flags */
        char help[200], also[80] = "";
        size_t used = 0;
        const char *al = ns_run_setting_aliases(d->name);
        for (const char *p = al; p && *p;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (memchr(p, '.', len) == NULL && used < sizeof also - 2) {
                int k = snprintf(also + used, sizeof also - used, "%s--%.*s", used ? ", " : "",
                                 (int)len, p);
                used += k > 0 ? (size_t)k : 0;
            }
            p += len + (bar != NULL);
        }
        for (char *q = also; *q; q++)
            if (*q == '_')
                *q = '-';
        snprintf(help, sizeof help, "%s%s%s%s%s%s", d->doc, d->choices ? " (" : "",
                 d->choices ? d->choices : "", d->choices ? ")" : "", also[0] ? "; also " : "",
                 also);
        add_flag(t, d->name, strcmp(d->name, "output") == 0 ? "-o" : NULL, arg_of(d->type), help,
                 d->name);
        if (d->type == NS_SETTING_BOOL && d->default_json && strcmp(d->default_json, "true") == 0) {
            char no[48];
            snprintf(no, sizeof no, "no_%s", d->name);
            add_flag(t, no, NULL, NULL, "turn it off", d->name);
            t->negates[t->n - 1] = true;
        }
        /* plain aliases are flags too (listed in the help above); grouped ones
         * (optimizer_config.lr) belong to files */
        for (const char *p = al; p && *p;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            char name[40];
            snprintf(name, sizeof name, "%.*s", (int)len, p);
            if (strchr(name, '.') == NULL) {
                add_flag(t, name, NULL, arg_of(d->type), "", d->name);
                t->flags[t->n - 1].help = NULL;
            }
            p += len + (bar != NULL);
        }
    }
    add_flag(t, "schema", NULL, NULL, "print the run config's settings as a JSON schema and exit",
             NULL);
    add_flag(t, "json", NULL, NULL, "print the metrics as one JSON object", NULL);
    add_flag(t, "quiet", "-q", NULL, "print no progress", NULL);
}

int cli_run_flags_into(ns_ctx *ctx, const cli_run_flags *t, ns_run_config *cfg)
{
    for (int i = 0; i < t->n; i++) {
        const cli_flag *f = &t->flags[i];
        if (t->setting[i] == NULL || f->value == NULL)
            continue;
        const char *text = f->arg != NULL ? f->value : t->negates[i] ? "false" : "true";
        if (ns_run_config_set_text(cfg, t->setting[i], text, f->name) != NS_OK) {
            cli_error(t->cmd, "%s", ns_errmsg(ctx));
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}
