/* The card registry (the built-in cards, which card_table.c registers, plus an application's
 * own), the palette as JSON schemas, and what a card's run function sees: inputs, settings,
 * outputs, scratch state. */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/settings.h"
#include "pipeline/exec_private.h"
#include "run/run_internal.h"

#define MAX_CARDS 256
#define MAX_PLUGINS 32

struct ns_cards {
    ns_ctx *ctx;
    const ns_card_def *defs[MAX_CARDS];
    int n;
    void *plugins[MAX_PLUGINS]; /* dlopen handles, closed when the registry goes */
    int n_plugins;
    int users;  /* pipelines made from it and not yet freed: they point into its cards */
    bool freed; /* ns_cards_free was called; the last pipeline's free ends it */
};

const ns_setting_def ns__common_settings[] = {
    {"execution", NS_SETTING_STRING, "\"local\"", "local|remote",
     "where the card runs: in this process, or remote: as a job of the store on whichever "
     "worker claims it, its inputs and outputs passing through the store (netsmith run --store)",
     0, 0},
    {"device", NS_SETTING_STRING, "\"cpu\"", "cpu|cuda",
     "the device its math needs: a remote card with cuda goes only to workers that offer it "
     "(netsmith worker --device cuda)",
     0, 0},
};
const int ns__common_setting_count = 2;

static bool valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

ns_status ns_card_register(ns_cards *c, const ns_card_def *d)
{
    ns_ctx *ctx = c->ctx;
    if (d == NULL || !valid_name(d->name))
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "ns_card_register: a card needs a name of lowercase letters, digits "
                         "and '_'");
    if (ns_cards_find(c, d->name) != NULL)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "ns_card_register: a card named '%s' exists (a built-in card or one "
                         "registered before, perhaps by another plugin); give the card another "
                         "name",
                         d->name);
    if ((d->run == NULL) == !d->is_loop)
        return ns_errorf(ctx, NS_ERR_INVALID, "ns_card_register: card '%s' needs a run function",
                         d->name);
    for (int i = 0; i < d->n_inputs + d->n_outputs; i++) {
        const ns_port_def *p = i < d->n_inputs ? &d->inputs[i] : &d->outputs[i - d->n_inputs];
        if (!valid_name(p->name) || p->kind <= NS_VALUE_NONE || p->kind >= NS_VALUE_KIND_COUNT)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "ns_card_register: card '%s' has a port without a valid name and "
                             "kind (port %d)",
                             d->name, i);
    }
    for (int i = 0; i < d->n_settings; i++) {
        const ns_setting_def *s = &d->settings[i];
        json_error_t e;
        json_t *def = s->default_json ? json_loads(s->default_json, JSON_DECODE_ANY, &e) : NULL;
        bool ok = valid_name(s->name) && (s->default_json == NULL || def != NULL);
        json_decref(def);
        if (!ok)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "ns_card_register: card '%s' setting %d needs a name and a JSON "
                             "default (or NULL)",
                             d->name, i);
    }
    if (c->n == MAX_CARDS)
        return ns_errorf(ctx, NS_ERR_INVALID, "ns_card_register: at most %d cards", MAX_CARDS);
    c->defs[c->n++] = d;
    return NS_OK;
}

ns_status ns__cards_empty(ns_ctx *ctx, ns_cards **out)
{
    *out = NULL;
    ns_cards *c = ns_calloc(ctx, 1, sizeof *c);
    if (c == NULL)
        return NS_ERR_NOMEM;
    c->ctx = ctx;
    *out = c;
    return NS_OK;
}

static void cards_destroy(ns_cards *c)
{
    for (int i = c->n_plugins - 1; i >= 0; i--)
        dlclose(c->plugins[i]);
    ns_dealloc(c->ctx, c);
}

/* A plugin's cards live in its shared object: the registry (and so the object) stays until
 * the last pipeline made from it is freed, whichever is freed first. */
void ns_cards_free(ns_cards *c)
{
    if (c == NULL)
        return;
    c->freed = true;
    if (c->users == 0)
        cards_destroy(c);
}

void ns__cards_retain(ns_cards *c)
{
    c->users++;
}

void ns__cards_release(ns_cards *c)
{
    if (--c->users == 0 && c->freed)
        cards_destroy(c);
}

/* ---- plugins --------------------------------------------------------------------------- */

ns_status ns_cards_load_plugin(ns_cards *c, const char *path)
{
    ns_ctx *ctx = c->ctx;
    const char *fix = "build it as a shared object (add_library(NAME MODULE ...)) that "
                      "defines " NS_CARDS_PLUGIN_SYMBOL;
    if (path == NULL || *path == '\0')
        return ns_errorf(ctx, NS_ERR_INVALID, "plugin: give the path of a shared object (.so)");
    if (access(path, R_OK) != 0)
        return ns_errorf(ctx, NS_ERR_IO, "plugin %s: cannot read it (%s); check the path", path,
                         strerror(errno));
    if (c->n_plugins == MAX_PLUGINS)
        return ns_errorf(ctx, NS_ERR_INVALID, "plugin %s: at most %d plugins", path, MAX_PLUGINS);
    /* dlopen searches the library path for a name without '/': a plugin is a file */
    char local[4096];
    if (strchr(path, '/') == NULL) {
        if (snprintf(local, sizeof local, "./%s", path) >= (int)sizeof local)
            return ns_errorf(ctx, NS_ERR_INVALID, "plugin %s: the path is too long", path);
    } else if (snprintf(local, sizeof local, "%s", path) >= (int)sizeof local) {
        return ns_errorf(ctx, NS_ERR_INVALID, "plugin %s: the path is too long", path);
    }
    dlerror();
    void *h = dlopen(local, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        if (why != NULL && strstr(why, "undefined symbol: ns_") != NULL)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "plugin %s: %s; the program loading it must export netsmith's "
                             "functions (link libnetsmith.so, or the static library with "
                             "ENABLE_EXPORTS and WHOLE_ARCHIVE, as the netsmith command does)",
                             path, why);
        return ns_errorf(ctx, NS_ERR_FORMAT, "plugin %s: not a loadable shared object (%s); %s",
                         path, why ? why : "dlopen failed", fix);
    }
    dlerror();
    void *sym = dlsym(h, NS_CARDS_PLUGIN_SYMBOL);
    if (sym == NULL) {
        dlclose(h);
        return ns_errorf(ctx, NS_ERR_NOTFOUND,
                         "plugin %s: has no function " NS_CARDS_PLUGIN_SYMBOL
                         " (ns_status " NS_CARDS_PLUGIN_SYMBOL "(ns_cards *cards)); define it "
                         "with C linkage and default visibility",
                         path);
    }
    const int *abi = dlsym(h, NS_CARDS_PLUGIN_ABI_SYMBOL);
    if (abi == NULL || *abi != NS_CARDS_PLUGIN_ABI) {
        int got = abi ? *abi : 0;
        dlclose(h);
        if (got == 0)
            return ns_errorf(ctx, NS_ERR_FORMAT,
                             "plugin %s: does not say which card layout it was built against; "
                             "add the line NS_CARDS_PLUGIN_ABI_DEFINE; (from netsmith/pipeline.h) "
                             "and rebuild it",
                             path);
        return ns_errorf(ctx, NS_ERR_FORMAT,
                         "plugin %s: was built against card layout %d, this netsmith has %d; "
                         "rebuild it against this netsmith's headers",
                         path, got, NS_CARDS_PLUGIN_ABI);
    }
    ns_cards_plugin_fn fn;
    memcpy(&fn, &sym, sizeof fn);
    int before = c->n;
    ns_errclear(ctx);
    ns_status st = fn(c);
    if (st != NS_OK) {
        char why[NS__ERRMSG_CAP];
        snprintf(why, sizeof why, "%s", ns_errmsg(ctx)[0] ? ns_errmsg(ctx) : ns_status_str(st));
        c->n = before; /* its cards point into the object about to be closed */
        dlclose(h);
        return ns_errorf(ctx, st, "plugin %s: " NS_CARDS_PLUGIN_SYMBOL " failed: %s", path, why);
    }
    if (c->n == before) {
        dlclose(h);
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "plugin %s: " NS_CARDS_PLUGIN_SYMBOL " added no card; call "
                         "ns_card_register for each of its cards",
                         path);
    }
    c->plugins[c->n_plugins++] = h;
    return NS_OK;
}

ns_status ns_cards_load_plugins(ns_cards *c, const char *paths)
{
    if (paths == NULL)
        return NS_OK;
    const char *p = paths;
    while (*p) {
        size_t n = strcspn(p, ":");
        if (n > 0) {
            char path[4096];
            if (n >= sizeof path)
                return ns_errorf(c->ctx, NS_ERR_INVALID, "plugin %.64s...: the path is too long",
                                 p);
            memcpy(path, p, n);
            path[n] = '\0';
            ns_status st = ns_cards_load_plugin(c, path);
            if (st != NS_OK)
                return st;
        }
        p += n + (p[n] == ':');
    }
    return NS_OK;
}

int ns_cards_count(const ns_cards *c)
{
    return c->n;
}
const ns_card_def *ns_cards_get(const ns_cards *c, int i)
{
    return i >= 0 && i < c->n ? c->defs[i] : NULL;
}

const ns_card_def *ns_cards_find(const ns_cards *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->defs[i]->name, name) == 0)
            return c->defs[i];
    return NULL;
}

ns_ctx *ns__cards_ctx(const ns_cards *c)
{
    return c->ctx;
}

/* Names other card-based tools (and people) give the built-in cards, written as
 * ns_cards_suggest compares them: lowercase, words joined by '_'. Edit distance alone cannot
 * get from "zero_gradients" to "zero_grad", so these are looked up first. */
static const struct {
    const char *alias, *card;
} card_aliases[] = {
    {"load_data", "data_load"},
    {"data_loader", "data_load"},
    {"load_dataset", "data_load"},
    {"dataset_loader", "data_load"},
    {"read_csv", "data_load"},
    {"load_csv", "data_load"},
    {"dataset", "data_load"},
    {"split_data", "data_split"},
    {"data_splitter", "data_split"},
    {"train_test_split", "data_split"},
    {"split", "data_split"},
    {"split_dataset", "data_split"},
    {"normalise", "normalize"},
    {"normalization", "normalize"},
    {"normalisation", "normalize"},
    {"standardize", "normalize"},
    {"standardise", "normalize"},
    {"standard_scaler", "normalize"},
    {"scaler", "normalize"},
    {"define_model", "model_define"},
    {"model_definition", "model_define"},
    {"blueprint", "model_define"},
    {"build", "build_model"},
    {"create_model", "build_model"},
    {"model_build", "build_model"},
    {"make_model", "build_model"},
    {"optimizer", "init_optimizer"},
    {"initialize_optimizer", "init_optimizer"},
    {"initialise_optimizer", "init_optimizer"},
    {"create_optimizer", "init_optimizer"},
    {"make_optimizer", "init_optimizer"},
    {"optimizer_init", "init_optimizer"},
    {"init_optim", "init_optimizer"},
    {"optim", "init_optimizer"},
    {"zero_gradients", "zero_grad"},
    {"zero_grads", "zero_grad"},
    {"zerograd", "zero_grad"},
    {"clear_gradients", "zero_grad"},
    {"clear_grads", "zero_grad"},
    {"optimizer_zero_grad", "zero_grad"},
    {"reset_gradients", "zero_grad"},
    {"forward_pass", "forward"},
    {"model_forward", "forward"},
    {"forward_propagation", "forward"},
    {"backward_pass", "backward"},
    {"loss_backward", "backward"},
    {"backprop", "backward"},
    {"backpropagation", "backward"},
    {"backward_propagation", "backward"},
    {"compute_gradients", "backward"},
    {"loss", "calculate_loss"},
    {"compute_loss", "calculate_loss"},
    {"calc_loss", "calculate_loss"},
    {"loss_function", "calculate_loss"},
    {"criterion", "calculate_loss"},
    {"get_loss", "calculate_loss"},
    {"step", "optimizer_step"},
    {"optim_step", "optimizer_step"},
    {"update_weights", "optimizer_step"},
    {"optimizer_update", "optimizer_step"},
    {"batch", "prepare_batch"},
    {"get_batch", "prepare_batch"},
    {"next_batch", "prepare_batch"},
    {"make_batch", "prepare_batch"},
    {"batcher", "prepare_batch"},
    {"evaluate_model", "evaluate"},
    {"eval", "evaluate"},
    {"evaluation", "evaluate"},
    {"test_model", "evaluate"},
    {"metrics", "evaluate"},
    {"predict", "inference"},
    {"prediction", "inference"},
    {"predictions", "inference"},
    {"run_inference", "inference"},
    {"model_predict", "inference"},
    {"infer", "inference"},
    {"save", "save_model"},
    {"export", "save_model"},
    {"export_model", "save_model"},
    {"model_save", "save_model"},
    {"save_weights", "save_model"},
    {"fit", "train"},
    {"train_model", "train"},
    {"training", "train"},
    {"fit_model", "train"},
    {"repeat", "loop"},
    {"for_each", "loop"},
    {"epoch_loop", "loop"},
    {"for_loop", "loop"},
};

/* got as the aliases are written: "ZeroGradients", "zero-gradients" and "Zero Gradients" all
 * become "zero_gradients". false when it does not fit. */
static bool alias_key(const char *got, char *key, size_t cap)
{
    size_t n = 0;
    for (const char *p = got; *p; p++) {
        char ch = *p;
        bool upper = ch >= 'A' && ch <= 'Z';
        if (ch == '-' || ch == ' ' || ch == '.')
            ch = '_';
        if (upper && p > got && p[-1] >= 'a' && p[-1] <= 'z' && n + 1 < cap)
            key[n++] = '_';
        if (upper)
            ch = (char)(ch - 'A' + 'a');
        if (n + 1 >= cap)
            return false;
        key[n++] = ch;
    }
    key[n] = '\0';
    return true;
}

const char *ns_cards_suggest(const ns_cards *c, const char *got)
{
    if (got == NULL || *got == '\0')
        return NULL;
    const char *names[MAX_CARDS];
    for (int i = 0; i < c->n; i++)
        names[i] = c->defs[i]->name;
    char key[64];
    bool have_key = alias_key(got, key, sizeof key);
    if (have_key && strcmp(key, got) != 0 && ns_cards_find(c, key) != NULL)
        return ns_cards_find(c, key)->name;
    for (size_t i = 0; have_key && i < sizeof card_aliases / sizeof card_aliases[0]; i++)
        if (strcmp(key, card_aliases[i].alias) == 0 && ns_cards_find(c, card_aliases[i].card))
            return ns_cards_find(c, card_aliases[i].card)->name;
    const char *s = ns__suggest(got, names, c->n);
    if (s == NULL && have_key)
        s = ns__suggest(key, names, c->n);
    /* a typo of another tool's name: "zero_gradient" */
    for (size_t i = 0; s == NULL && have_key && i < sizeof card_aliases / sizeof card_aliases[0];
         i++) {
        const char *one[1] = {card_aliases[i].alias};
        if (ns__suggest(key, one, 1) != NULL && ns_cards_find(c, card_aliases[i].card))
            s = ns_cards_find(c, card_aliases[i].card)->name;
    }
    return s;
}

const char *ns__card_did_you_mean(const ns_cards *c, const char *got, char *buf, size_t cap)
{
    const char *s = ns_cards_suggest(c, got);
    if (s == NULL)
        buf[0] = '\0';
    else
        snprintf(buf, cap, " (did you mean '%s'?)", s);
    return buf;
}

/* ---- the palette ----------------------------------------------------------------------------- */

static json_t *ports_json(const ns_port_def *p, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a,
                              json_pack("{s:s, s:s, s:b, s:s}", "name", p[i].name, "kind",
                                        ns_value_kind_name(p[i].kind), "required", !p[i].optional,
                                        "description", p[i].doc ? p[i].doc : ""));
    return a;
}

static json_t *card_json(const ns_card_def *d)
{
    json_t *props = json_object(), *req = json_array();
    for (int pass = 0; pass < 2; pass++) {
        const ns_setting_def *s = pass ? ns__common_settings : d->settings;
        int n = pass ? ns__common_setting_count : d->n_settings;
        for (int i = 0; i < n; i++) {
            json_object_set_new(props, s[i].name, ns__setting_schema(&s[i], NULL));
            if (s[i].default_json == NULL)
                json_array_append_new(req, json_string(s[i].name));
        }
    }
    json_t *settings = json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props,
                                 "required", req, "additionalProperties", d->open_settings ? 1 : 0);
    return json_pack("{s:s, s:s, s:b, s:o, s:o, s:o}", "card", d->name, "description",
                     d->doc ? d->doc : "", "loop", d->is_loop, "inputs",
                     ports_json(d->inputs, d->n_inputs), "outputs",
                     ports_json(d->outputs, d->n_outputs), "settings", settings);
}

/* How to turn what is wired into what is wanted (the end of a wrong wire's message). */
const char *ns__wire_hint(const ns_cards *cards, ns_value_kind want, ns_value_kind got, char *buf,
                          size_t cap)
{
    static const struct {
        ns_value_kind want, got;
        const char *card;
    } bridges[] = {
        {NS_VALUE_MODEL, NS_VALUE_MODEL_SPEC, "build_model"},
        {NS_VALUE_OPTIMIZER, NS_VALUE_MODEL, "init_optimizer"},
        {NS_VALUE_OPTIMIZER, NS_VALUE_MODEL_SPEC, "build_model and an init_optimizer"},
        {NS_VALUE_BATCH_DATA, NS_VALUE_DATASET, "prepare_batch (inside a loop over batches)"},
        {NS_VALUE_PREDICTIONS, NS_VALUE_MODEL, "forward"},
        {NS_VALUE_LOSS, NS_VALUE_PREDICTIONS, "calculate_loss"},
        {NS_VALUE_DATA_SHAPE, NS_VALUE_DATASET, "data_split"},
        {NS_VALUE_DATASET, NS_VALUE_FILE, "data_load"},
    };
    for (size_t i = 0; i < sizeof bridges / sizeof bridges[0]; i++)
        if (bridges[i].want == want && bridges[i].got == got) {
            snprintf(buf, cap, "add a %s card between them", bridges[i].card);
            return buf;
        }
    /* otherwise: the cards that make one */
    size_t used =
        (size_t)snprintf(buf, cap, "wire an output of kind %s (made by", ns_value_kind_name(want));
    int found = 0;
    for (int i = 0; i < ns_cards_count(cards) && used < cap - 40; i++) {
        const ns_card_def *d = ns_cards_get(cards, i);
        for (int j = 0; j < d->n_outputs; j++)
            if (d->outputs[j].kind == want) {
                used += (size_t)snprintf(buf + used, cap - used, "%s %s.%s", found ? "," : "",
                                         d->name, d->outputs[j].name);
                found++;
                break;
            }
    }
    snprintf(buf + used, cap - used, "%s)", found ? "" : " no card");
    return buf;
}

ns_status ns_cards_to_json(const ns_cards *c, char **json)
{
    *json = NULL;
    json_t *kinds = json_object();
    for (int k = 1; k < NS_VALUE_KIND_COUNT; k++)
        json_object_set_new(kinds, ns_value_kind_name((ns_value_kind)k),
                            json_string(ns_value_kind_doc((ns_value_kind)k)));
    json_t *cards = json_array();
    for (int i = 0; i < c->n; i++)
        json_array_append_new(cards, card_json(c->defs[i]));
    /* what a wire of kind got into an input of kind want is told: {want: {got: hint}} */
    json_t *hints = json_object();
    for (int want = 1; want < NS_VALUE_KIND_COUNT; want++) {
        json_t *row = json_object();
        for (int got = 1; got < NS_VALUE_KIND_COUNT; got++) {
            char hint[256];
            if (got != want)
                json_object_set_new(
                    row, ns_value_kind_name((ns_value_kind)got),
                    json_string(ns__wire_hint(c, (ns_value_kind)want, (ns_value_kind)got, hint,
                                              sizeof hint)));
        }
        json_object_set_new(hints, ns_value_kind_name((ns_value_kind)want), row);
    }
    json_t *root =
        json_pack("{s:o, s:o, s:o}", "kinds", kinds, "cards", cards, "wire_hints", hints);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (text != NULL)
        *json = ns_strdup(c->ctx, text);
    free(text);
    return *json ? NS_OK : ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory writing the cards");
}

/* ---- inside a card ------------------------------------------------------------------------- */

ns_ctx *ns_card_ctx(ns_card_call *c)
{
    return c->ctx;
}
const char *ns_card_id(ns_card_call *c)
{
    return c->node->id;
}
const ns_progress *ns_card_progress(ns_card_call *c)
{
    return c->progress;
}

ns_value *ns_card_in(ns_card_call *c, const char *port)
{
    for (int i = 0; i < c->node->n_in; i++)
        if (strcmp(c->node->in[i].port, port) == 0)
            return ns__input_value(&c->node->in[i]);
    return NULL;
}

json_t *ns__card_setting(ns_card_call *c, const char *name)
{
    json_t *v = json_object_get(c->node->settings, name);
    return json_is_null(v) ? NULL : v;
}

bool ns_card_has(ns_card_call *c, const char *name)
{
    return ns__card_setting(c, name) != NULL;
}

int64_t ns_card_int(ns_card_call *c, const char *name)
{
    json_t *v = ns__card_setting(c, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_number_value(v);
}

double ns_card_number(ns_card_call *c, const char *name)
{
    return json_number_value(ns__card_setting(c, name));
}

bool ns_card_bool(ns_card_call *c, const char *name)
{
    return json_is_true(ns__card_setting(c, name));
}

const char *ns_card_string(ns_card_call *c, const char *name)
{
    const char *s = json_string_value(ns__card_setting(c, name));
    return s ? s : "";
}

int ns_card_list(ns_card_call *c, const char *name, double *out, int cap)
{
    json_t *v = ns__card_setting(c, name);
    if (!json_is_array(v))
        return -1;
    int n = (int)json_array_size(v);
    for (int i = 0; i < n && i < cap; i++)
        out[i] = json_number_value(json_array_get(v, (size_t)i));
    return n;
}

const char *ns_card_settings_json(ns_card_call *c)
{
    if (c->node->settings_json == NULL) {
        char *t = json_dumps(c->node->settings, JSON_COMPACT | JSON_PRESERVE_ORDER);
        c->node->settings_json = t ? ns_strdup(c->ctx, t) : NULL;
        free(t);
    }
    return c->node->settings_json;
}

const char *ns_card_input_path(ns_card_call *c, const char *path)
{
    if (path[0] == '/' || c->base_dir == NULL || strcmp(c->base_dir, ".") == 0)
        return path;
    if (snprintf(c->path, sizeof c->path, "%s/%s", c->base_dir, path) >= (int)sizeof c->path)
        return NULL;
    return c->path;
}

uint64_t ns__card_seed(ns_card_call *c, const char *name)
{
    json_t *v = ns__card_setting(c, name);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : c->seed;
}

void **ns_card_scratch(ns_card_call *c, void (*free_fn)(void *))
{
    c->node->scratch_free = free_fn;
    return &c->node->scratch;
}

/* ---- outputs ------------------------------------------------------------------------------------
 */

static int out_index(ns_card_call *c, const char *port)
{
    const ns_card_def *d = c->node->def;
    for (int i = 0; i < d->n_outputs; i++)
        if (strcmp(d->outputs[i].name, port) == 0)
            return i;
    return -1;
}

/* Puts v on the port (taking v's reference). */
static ns_status put(ns_card_call *c, const char *port, ns_value *v)
{
    int i = out_index(c, port);
    if (i < 0 || c->node->def->outputs[i].kind != v->kind) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_INVALID, "card '%s' has no %s output '%s'",
                         c->node->def->name, ns_value_kind_name(v->kind), port);
    }
    ns_value_release(c->node->out[i]);
    c->node->out[i] = v;
    return NS_OK;
}

static ns_status make(ns_card_call *c, ns_value_kind k, ns_value **v)
{
    ns_status st = ns__value_new(c->ctx, k, v);
    return st == NS_OK ? NS_OK : ns_errorf(c->ctx, st, "out of memory in card '%s'", c->node->id);
}

ns_status ns_card_out_dataset(ns_card_call *c, const char *port, ns_dataset *ds)
{
    ns_value *v;
    if (make(c, NS_VALUE_DATASET, &v) != NS_OK) {
        ns_dataset_free(ds);
        return NS_ERR_NOMEM;
    }
    v->u.dataset = ds;
    return put(c, port, v);
}

ns_status ns_card_out_spec(ns_card_call *c, const char *port, ns_spec *spec)
{
    ns_value *v;
    if (make(c, NS_VALUE_MODEL_SPEC, &v) != NS_OK) {
        ns_spec_free(spec);
        return NS_ERR_NOMEM;
    }
    v->u.spec = spec;
    return put(c, port, v);
}

ns_status ns_card_out_data_shape(ns_card_call *c, const char *port, const ns_data_shape *s)
{
    ns_value *v;
    if (make(c, NS_VALUE_DATA_SHAPE, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.shape = *s;
    return put(c, port, v);
}

ns_status ns_card_out_model(ns_card_call *c, const char *port, ns_model *model)
{
    ns_value *v;
    if (make(c, NS_VALUE_MODEL, &v) != NS_OK) {
        ns_model_free(model);
        return NS_ERR_NOMEM;
    }
    v->u.model = model;
    snprintf(v->object, sizeof v->object, "%s", c->node->id);
    return put(c, port, v);
}

ns_status ns_card_out_optim(ns_card_call *c, const char *port, ns_optim *opt, ns_value *model)
{
    ns_value *v;
    if (make(c, NS_VALUE_OPTIMIZER, &v) != NS_OK) {
        ns_optim_free(opt);
        return NS_ERR_NOMEM;
    }
    v->u.optim = opt;
    v->model = ns__value_ref(model);
    snprintf(v->object, sizeof v->object, "%s", c->node->id);
    return put(c, port, v);
}

ns_status ns_card_out_batch_pos(ns_card_call *c, const char *port, const ns_batch_pos *p)
{
    ns_value *v;
    if (make(c, NS_VALUE_BATCH_INDEX, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.pos = *p;
    return put(c, port, v);
}

ns_status ns_card_out_batch(ns_card_call *c, const char *port, const ns_batch *b, int features,
                            int targets)
{
    ns_value *v;
    if (make(c, NS_VALUE_BATCH_DATA, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.batch = *b;
    v->features = features;
    v->targets = targets;
    return put(c, port, v);
}

static float *copy_floats(ns_ctx *ctx, const float *src, size_t n)
{
    float *p = ns_alloc(ctx, (n ? n : 1) * sizeof(float));
    if (p != NULL && n > 0)
        memcpy(p, src, n * sizeof(float));
    return p;
}

ns_status ns_card_out_tensor(ns_card_call *c, const char *port, const float *data, int64_t rows,
                             int cols)
{
    ns_value *v;
    if (make(c, NS_VALUE_PREDICTIONS, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.tensor = (ns_tensor2){copy_floats(c->ctx, data, (size_t)rows * (size_t)cols), rows, cols};
    if (v->u.tensor.data == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_loss(ns_card_call *c, const char *port, double value, const float *grad,
                           int64_t rows, int cols, ns_loss_kind kind)
{
    ns_value *v;
    if (make(c, NS_VALUE_LOSS, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.loss = (ns_loss_value){
        value, {copy_floats(c->ctx, grad, (size_t)rows * (size_t)cols), rows, cols}, kind};
    if (v->u.loss.grad.data == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_metrics(ns_card_call *c, const char *port, ns_task task,
                              const ns_metric_values *values, int classes, const int64_t *confusion,
                              const char *const *class_names)
{
    ns_value *v;
    if (make(c, NS_VALUE_METRICS, &v) != NS_OK)
        return NS_ERR_NOMEM;
    ns_metrics_value *m = &v->u.metrics;
    m->task = task;
    m->values = *values;
    m->classes = classes;
    bool ok = true;
    if (confusion != NULL && classes > 0) {
        size_t n = (size_t)classes * (size_t)classes;
        m->confusion = ns_alloc(c->ctx, n * sizeof(int64_t));
        ok = m->confusion != NULL;
        if (ok)
            memcpy(m->confusion, confusion, n * sizeof(int64_t));
    }
    if (ok && class_names != NULL && classes > 0) {
        m->class_names = ns_calloc(c->ctx, (size_t)classes, sizeof(char *));
        ok = m->class_names != NULL;
        for (int i = 0; ok && i < classes; i++)
            ok = (m->class_names[i] = ns_strdup(c->ctx, class_names[i] ? class_names[i] : ""));
    }
    if (!ok) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_history(ns_card_call *c, const char *port, ns_task task,
                              const ns_epoch_report *reports, int epochs)
{
    ns_value *v;
    if (make(c, NS_VALUE_HISTORY, &v) != NS_OK)
        return NS_ERR_NOMEM;
    ns_history_value *h = &v->u.history;
    h->task = task;
    h->epochs = epochs;
    h->reports = ns_alloc(c->ctx, (size_t)(epochs > 0 ? epochs : 1) * sizeof *reports);
    if (h->reports == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    if (epochs > 0)
        memcpy(h->reports, reports, (size_t)epochs * sizeof *reports);
    return put(c, port, v);
}

ns_status ns_card_out_integer(ns_card_call *c, const char *port, int64_t x)
{
    ns_value *v;
    if (make(c, NS_VALUE_INTEGER, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.integer = x;
    return put(c, port, v);
}

ns_status ns_card_out_file(ns_card_call *c, const char *port, const char *path)
{
    ns_value *v;
    if (make(c, NS_VALUE_FILE, &v) != NS_OK)
        return NS_ERR_NOMEM;
    v->u.file = ns_strdup(c->ctx, path);
    if (v->u.file == NULL) {
        ns_value_release(v);
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory in card '%s'", c->node->id);
    }
    return put(c, port, v);
}

ns_status ns_card_out_same(ns_card_call *c, const char *port, ns_value *v)
{
    if (v == NULL)
        return ns_errorf(c->ctx, NS_ERR_INVALID, "card '%s': nothing to pass on to '%s'",
                         c->node->id, port);
    return put(c, port, ns__value_ref(v));
}

/* ---- settings shared with the run config --------------------------------------------------- */

ns_status ns__card_run_config(ns_card_call *c, const ns_setting_def *defs, int n, bool seed,
                              ns_run_config **out)
{
    ns_ctx *ctx = ns_card_ctx(c);
    ns_status st = ns_run_config_new(ctx, out);
    const char *text = st == NS_OK ? ns_card_settings_json(c) : NULL;
    if (st == NS_OK && text == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    json_error_t err;
    json_t *all = st == NS_OK ? json_loads(text, 0, &err) : NULL;
    json_t *mine = all != NULL ? json_object() : NULL;
    if (st == NS_OK && mine == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    for (int i = 0; st == NS_OK && i < n; i++) {
        json_t *v = json_object_get(all, defs[i].name);
        if (v != NULL && !json_is_null(v) && json_object_set(mine, defs[i].name, v) != 0)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    if (st == NS_OK && seed) {
        json_t *sv = json_integer((json_int_t)ns__card_seed(c, "seed"));
        if (sv == NULL || json_object_set_new(mine, "seed", sv) != 0)
            st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    if (st == NS_OK)
        st = ns__run_config_merge_json(*out, mine, ns_card_id(c), NULL);
    json_decref(mine);
    json_decref(all);
    if (st != NS_OK) {
        ns_run_config_free(*out);
        *out = NULL;
    }
    return st;
}
