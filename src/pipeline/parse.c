/* Pipeline files: reading the cards (YAML or JSON, with the line of every key), --set
 * overrides, and every check made before anything runs: cards and settings known and typed,
 * inputs wired to outputs that exist, of the right kind, where they are used, and an order
 * without cycles (stable: file order among cards that could run at the same time). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/settings.h"
#include "format/json_read.h"
#include "netsmith/io.h"
#include "pipeline/exec_private.h"

#define MAX_NODES 512

static ns_status fail(ns_pipeline *p, int line, const ns__node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "FILE:LINE: card 'id': message" (card omitted when n is NULL). */
static ns_status fail(ns_pipeline *p, int line, const ns__node *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n != NULL && n->def != NULL)
        return ns_errorf(p->ctx, NS_ERR_INVALID, "%s:%d: %s '%s' %s", p->source, line, n->def->name,
                         n->id, msg);
    if (n != NULL)
        return ns_errorf(p->ctx, NS_ERR_INVALID, "%s:%d: card '%s': %s", p->source, line, n->id,
                         msg);
    return ns_errorf(p->ctx, NS_ERR_INVALID, "%s:%d: %s", p->source, line, msg);
}

static int line_of(const ns_pipeline *p, const json_t *node, const char *key)
{
    return ns__yaml_line(&p->doc, node, key);
}

/* ---- reading the cards ----------------------------------------------------------------------- */

static ns__node *find_node(const ns_pipeline *p, const char *id)
{
    for (int i = 0; i < p->n_nodes; i++)
        if (strcmp(p->nodes[i]->id, id) == 0)
            return p->nodes[i];
    return NULL;
}

static bool valid_id(const char *s)
{
    if (*s == '\0' || strlen(s) > 48)
        return false;
    for (const char *q = s; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '_' || *q == '-'))
            return false;
    return true;
}

static ns_status read_cards(ns_pipeline *p, json_t *list, ns__node *parent, int list_line);

static ns_status read_card(ns_pipeline *p, json_t *obj, ns__node *parent, int list_line)
{
    int line = line_of(p, obj, NULL);
    if (line == 0)
        line = list_line; /* a scalar item: the line of its list */
    if (!json_is_object(obj))
        return fail(p, line, NULL, "a card must be a mapping with id, card, in and with");
    if (p->n_nodes == MAX_NODES)
        return fail(p, line, NULL, "a pipeline may hold at most %d cards", MAX_NODES);
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (id == NULL)
        return fail(p, line, NULL, "a card needs an id (a name of letters, digits, '_' or '-')");
    if (!valid_id(id))
        return fail(p, line_of(p, obj, "id"), NULL,
                    "card id '%s' must be 1 to 48 letters, digits, '_' or '-'", id);
    if (find_node(p, id) != NULL)
        return fail(p, line_of(p, obj, "id"), NULL,
                    "two cards have the id '%s' (line %d and here): give each card its own id", id,
                    find_node(p, id)->line);
    ns__node *n = ns_calloc(p->ctx, 1, sizeof *n);
    if (n == NULL)
        return NS_ERR_NOMEM;
    p->nodes[p->n_nodes++] = n;
    n->id = ns_strdup(p->ctx, id);
    n->line = line;
    n->parent = parent;
    n->json = obj;
    if (n->id == NULL)
        return NS_ERR_NOMEM;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        static const char *const keys[] = {"id", "card", "in", "with", "cards"};
        if (ns__jr_find(keys, 5, key) < 0) {
            char h[96];
            return fail(p, line_of(p, obj, key), n,
                        "has an unknown key '%s'%s; a card has id, card, in, with (and "
                        "cards, for a loop)",
                        key, ns__did_you_mean(h, sizeof h, key, keys, 5));
        }
    }
    const char *card = json_string_value(json_object_get(obj, "card"));
    if (card == NULL)
        return fail(p, line, n,
                    "needs a card name (card: data_load, train, ...; see netsmith cards)");
    n->def = ns_cards_find(p->cards, card);
    if (n->def == NULL) {
        char h[96];
        return fail(p, line_of(p, obj, "card"), n,
                    "uses the unknown card '%s'%s; netsmith cards lists them", card,
                    ns__card_did_you_mean(p->cards, card, h, sizeof h));
    }
    json_t *in = json_object_get(obj, "in"), *with = json_object_get(obj, "with");
    if (in != NULL && !json_is_object(in))
        return fail(p, line_of(p, obj, "in"), n,
                    "'in' must map input names to outputs (in: {model: build.model})");
    if (with != NULL && !json_is_null(with) && !json_is_object(with))
        return fail(p, line_of(p, obj, "with"), n,
                    "'with' must map setting names to values (with: {epochs: 10})");
    json_t *cards = json_object_get(obj, "cards");
    if (cards != NULL && !n->def->is_loop)
        return fail(p, line_of(p, obj, "cards"), n,
                    "only a loop card holds cards; move these to the top level or into a loop");
    if (n->def->is_loop) {
        if (!json_is_array(cards) || json_array_size(cards) == 0)
            return fail(p, line, n, "a loop needs the cards it repeats (cards: [...])");
        return read_cards(p, cards, n, line_of(p, obj, "cards"));
    }
    return NS_OK;
}

static ns_status read_cards(ns_pipeline *p, json_t *list, ns__node *parent, int list_line)
{
    if (!json_is_array(list))
        return fail(p, list_line, NULL, "'cards' must be a list of cards");
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        ns_status st = read_card(p, c, parent, list_line);
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

/* ---- overrides ------------------------------------------------------------------------------- */

static ns_status apply_override(ns_pipeline *p, const char *ov)
{
    const char *dot = strchr(ov, '.'), *eq = strchr(ov, '=');
    if (dot == NULL || eq == NULL || dot > eq || dot == ov || eq == dot + 1)
        return ns_errorf(p->ctx, NS_ERR_INVALID,
                         "--set '%s': write card.setting=value (e.g. --set train.epochs=5)", ov);
    char id[64], name[64];
    snprintf(id, sizeof id, "%.*s", (int)(dot - ov), ov);
    snprintf(name, sizeof name, "%.*s", (int)(eq - dot - 1), dot + 1);
    ns__node *n = find_node(p, id);
    if (n == NULL) {
        const char *ids[MAX_NODES];
        for (int i = 0; i < p->n_nodes; i++)
            ids[i] = p->nodes[i]->id;
        char h[96];
        return ns_errorf(p->ctx, NS_ERR_INVALID, "--set '%s': %s has no card '%s'%s", ov, p->source,
                         id, ns__did_you_mean(h, sizeof h, id, ids, p->n_nodes));
    }
    ns__yaml_doc d;
    const char *text = eq + 1;
    ns_status st = ns__yaml_load(p->ctx, text, strlen(text), "--set", &d);
    if (st != NS_OK && *text == '\0')
        st = NS_OK, d.root = json_string("");
    if (st != NS_OK)
        return ns_errorf(p->ctx, NS_ERR_INVALID, "--set '%s': the value is not valid YAML", ov);
    json_t *with = json_object_get(n->json, "with");
    if (!json_is_object(with)) {
        with = json_object();
        json_object_set_new(n->json, "with", with);
    }
    json_object_set(with, name, d.root);
    ns__yaml_doc_free(p->ctx, &d);
    if (n->overrides == NULL)
        n->overrides = json_object();
    json_object_set_new(n->overrides, name, json_string(ov));
    return NS_OK;
}

/* ---- settings -----------------------------------------------------------------------------------
 */

static const ns_setting_def *find_setting(const ns_card_def *d, const char *name)
{
    for (int i = 0; i < d->n_settings; i++)
        if (strcmp(d->settings[i].name, name) == 0)
            return &d->settings[i];
    for (int i = 0; i < ns__common_setting_count; i++)
        if (strcmp(ns__common_settings[i].name, name) == 0)
            return &ns__common_settings[i];
    return NULL;
}

/* key: the setting's name as written (it may be one of its other names). */
static ns_status check_setting(ns_pipeline *p, ns__node *n, const ns_setting_def *s,
                               const char *key, json_t *v, int line)
{
    char why[512];
    const char *bad = ns__setting_check(s, v, why, sizeof why);
    return bad == NULL ? NS_OK : fail(p, line, n, "setting '%s' %s", key, bad);
}

static ns_status check_settings(ns_pipeline *p, ns__node *n, bool card_checks)
{
    json_t *with = json_object_get(n->json, "with");
    n->settings = json_object();
    if (n->settings == NULL)
        return NS_ERR_NOMEM;
    const char *key;
    json_t *v;
    if (json_is_object(with)) {
        json_object_foreach(with, key, v)
        {
            /* a value from --set has no line of its own: the card's line, and say so */
            const char *ov = json_string_value(json_object_get(n->overrides, key));
            int line = ov ? n->line : line_of(p, with, key);
            const ns_setting_def *s = find_setting(n->def, key);
            /* one vocabulary: a setting's other names (lr, loss_type, optimizer_type, ...) */
            const ns_setting_def *rs =
                s == NULL && strchr(key, '.') == NULL ? ns_run_setting_find(key) : NULL;
            if (rs != NULL)
                s = find_setting(n->def, rs->name);
            if (s == NULL && !n->def->open_settings) {
                const char *names[96];
                int k = 0;
                for (int i = 0; i < n->def->n_settings && k < 90; i++)
                    names[k++] = n->def->settings[i].name;
                for (int i = 0; i < ns__common_setting_count; i++)
                    names[k++] = ns__common_settings[i].name;
                char h[96], list[512];
                return fail(p, line, n, "has no setting '%s'%s; its settings are %s", key,
                            ns__did_you_mean(h, sizeof h, key, names, k),
                            ns__jr_list(list, sizeof list, names, k));
            }
            if (s != NULL) {
                ns_status st = check_setting(p, n, s, key, v, line);
                if (st != NS_OK && ov != NULL) {
                    char why[NS__ERRMSG_CAP];
                    snprintf(why, sizeof why, "%s", ns_errmsg(p->ctx));
                    st = ns_errorf(p->ctx, st, "%s (set by --set '%s')", why, ov);
                }
                if (st != NS_OK)
                    return st;
            }
            if (s != NULL && json_object_get(n->settings, s->name) != NULL &&
                strcmp(s->name, key) != 0)
                return fail(p, line, n, "sets '%s' twice (as '%s' and '%s'); keep one", s->name,
                            s->name, key);
            json_object_set(n->settings, s ? s->name : key, v);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        const ns_setting_def *ss = pass ? ns__common_settings : n->def->settings;
        int count = pass ? ns__common_setting_count : n->def->n_settings;
        for (int i = 0; i < count; i++) {
            if (json_object_get(n->settings, ss[i].name) != NULL)
                continue;
            if (ss[i].default_json == NULL)
                return fail(p, n->line, n, "needs the setting '%s' (%s): %s", ss[i].name,
                            ns__setting_type_name(ss[i].type), ss[i].doc ? ss[i].doc : "");
            json_error_t e;
            json_object_set_new(n->settings, ss[i].name,
                                json_loads(ss[i].default_json, JSON_DECODE_ANY, &e));
        }
    }
    if (n->def->check != NULL && card_checks) {
        ns_card_call call = {.ctx = p->ctx, .node = n, .base_dir = p->base_dir, .seed = p->seed};
        ns_status st = n->def->check(&call);
        if (st == NS_ERR_NOMEM)
            return st;
        if (st != NS_OK) {
            char why[NS__ERRMSG_CAP];
            snprintf(why, sizeof why, "%s", ns_errmsg(p->ctx));
            return fail(p, line_of(p, n->json, "with"), n, "%s", why);
        }
    }
    return NS_OK;
}

/* ---- wires ---------------------------------------------------------------------------------- */

static const ns_port_def *find_port(const ns_port_def *ports, int n, const char *name, int *index)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ports[i].name, name) == 0) {
            if (index)
                *index = i;
            return &ports[i];
        }
    return NULL;
}

static bool is_ancestor(const ns__node *a, const ns__node *n)
{
    for (const ns__node *q = n->parent; q != NULL; q = q->parent)
        if (q == a)
            return true;
    return false;
}

/* "a" or "an" before a kind's name. */
static const char *article(const char *word)
{
    return strchr("aeiou", word[0]) ? "an" : "a";
}

static ns_value_kind ref_kind(const ns__input *in, int depth);

static ns_value_kind loop_kind(const ns__node *loop, const char *name, int depth)
{
    if (strcmp(name, "epoch") == 0)
        return NS_VALUE_INTEGER;
    if (strcmp(name, "batch_index") == 0)
        return NS_VALUE_BATCH_INDEX;
    const ns__input *in = ns__loop_input(loop, name);
    return in ? ref_kind(in, depth + 1) : NS_VALUE_NONE;
}

static ns_value_kind ref_kind(const ns__input *in, int depth)
{
    if (in->src == NULL || depth > 64)
        return NS_VALUE_NONE;
    if (in->src_port >= 0)
        return in->src->def->outputs[in->src_port].kind;
    return loop_kind(in->src, in->src_name, depth);
}

static ns_status read_inputs(ns_pipeline *p, ns__node *n)
{
    json_t *in = json_object_get(n->json, "in");
    int count = json_is_object(in) ? (int)json_object_size(in) : 0;
    n->in = ns_calloc(p->ctx, (size_t)(count ? count : 1), sizeof *n->in);
    if (n->in == NULL)
        return NS_ERR_NOMEM;
    const char *key;
    json_t *v;
    if (count == 0)
        return NS_OK;
    json_object_foreach(in, key, v)
    {
        ns__input *w = &n->in[n->n_in++];
        w->line = line_of(p, in, key);
        w->port = key; /* owned by the document */
        if (!n->def->is_loop && !find_port(n->def->inputs, n->def->n_inputs, key, NULL)) {
            const char *names[32];
            char list[256], h[96];
            int k = 0;
            for (; k < n->def->n_inputs && k < 32; k++)
                names[k] = n->def->inputs[k].name;
            return fail(p, w->line, n, "has no input '%s'%s; its inputs are %s", key,
                        ns__did_you_mean(h, sizeof h, key, names, k),
                        k ? ns__jr_list(list, sizeof list, names, k) : "none");
        }
        if (n->def->is_loop && strcmp(key, "batch_index") == 0)
            return fail(p, w->line, n, "'%s' is made by the loop itself; do not wire it", key);
        const char *ref = json_string_value(v);
        const char *dot = ref ? strchr(ref, '.') : NULL;
        if (dot == NULL || dot == ref || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
            return fail(p, w->line, n,
                        "input '%s' must name an output as card.output (e.g. build.model)", key);
        w->ref = ns_strdup(p->ctx, ref);
        w->src_name = ns_strdup(p->ctx, dot + 1);
        if (w->ref == NULL || w->src_name == NULL)
            return NS_ERR_NOMEM;
        char sid[64];
        snprintf(sid, sizeof sid, "%.*s", (int)(dot - ref), ref);
        w->src = find_node(p, sid);
        if (w->src == NULL) {
            const char *ids[MAX_NODES];
            for (int i = 0; i < p->n_nodes; i++)
                ids[i] = p->nodes[i]->id;
            char h[96];
            return fail(p, w->line, n, "input '%s' names '%s', but there is no card '%s'%s", key,
                        ref, sid, ns__did_you_mean(h, sizeof h, sid, ids, p->n_nodes));
        }
    }
    return NS_OK;
}

static ns_status check_wire(ns_pipeline *p, ns__node *n, ns__input *w)
{
    ns__node *s = w->src;
    if (s == n)
        return fail(p, w->line, n, "input '%s' uses the card's own output '%s': that is a cycle",
                    w->port, w->ref);
    w->src_port = -1;
    if (s->def->is_loop) {
        bool inside = is_ancestor(s, n);
        bool own = !strcmp(w->src_name, "epoch") || !strcmp(w->src_name, "batch_index");
        if (!strcmp(w->src_name, "batch_index") &&
            strcmp(json_string_value(json_object_get(s->settings, "over")), "batches") != 0)
            return fail(p, w->line, n,
                        "input '%s' uses '%s', but loop '%s' runs over epochs and has no batch "
                        "position; set its over: batches (with a dataset) or use a loop over "
                        "batches inside it",
                        w->port, w->ref, s->id);
        if (own && !inside)
            return fail(p, w->line, n,
                        "input '%s' uses '%s', which exists only inside loop '%s' while it "
                        "runs; move this card into the loop",
                        w->port, w->ref, s->id);
        if (!own && ns__loop_input(s, w->src_name) == NULL) {
            char list[256] = "epoch, batch_index";
            size_t used = strlen(list);
            for (int i = 0; i < s->n_in; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, ", %s", s->in[i].port);
            return fail(p, w->line, n,
                        "input '%s' names '%s', but loop '%s' passes on only what is wired into "
                        "it (%s); wire %s into the loop first",
                        w->port, w->ref, s->id, list, w->src_name);
        }
    } else {
        if (!find_port(s->def->outputs, s->def->n_outputs, w->src_name, &w->src_port)) {
            const char *names[32];
            char list[256], h[96];
            int k = 0;
            for (; k < s->def->n_outputs && k < 32; k++)
                names[k] = s->def->outputs[k].name;
            return fail(p, w->line, n,
                        "input '%s' names '%s', but %s '%s' has no output '%s'%s; its outputs "
                        "are %s",
                        w->port, w->ref, s->def->name, s->id, w->src_name,
                        ns__did_you_mean(h, sizeof h, w->src_name, names, k),
                        ns__jr_list(list, sizeof list, names, k));
        }
    }
    if (is_ancestor(n, s))
        return fail(p, w->line, n,
                    "input '%s' uses '%s' from inside this loop: a loop's inputs must come "
                    "from before it (what its cards make stays inside it)",
                    w->port, w->ref);
    /* Where it exists: s must be in n's scope or an enclosing one (or be an enclosing loop). */
    if (!is_ancestor(s, n) && s->parent != NULL && !is_ancestor(s->parent, n) &&
        s->parent != n->parent)
        return fail(p, w->line, n,
                    "input '%s' uses '%s', which exists only inside loop '%s' while it runs; "
                    "use what the loop passes on (e.g. '%s.model') or move this card into it",
                    w->port, w->ref, s->parent->id, s->parent->id);
    /* Kinds. */
    ns_value_kind got = ref_kind(w, 0);
    const ns_port_def *want = find_port(n->def->inputs, n->def->n_inputs, w->port, NULL);
    if (want == NULL) /* a loop passes any other input on as it is */
        return NS_OK;
    if (got != want->kind) {
        char hint[256];
        return fail(p, w->line, n, "needs %s %s on '%s', but '%s' is %s %s: %s",
                    article(ns_value_kind_name(want->kind)), ns_value_kind_name(want->kind),
                    w->port, w->ref, article(ns_value_kind_name(got)), ns_value_kind_name(got),
                    ns__wire_hint(p->cards, want->kind, got, hint, sizeof hint));
    }
    return NS_OK;
}

static ns_status check_required(ns_pipeline *p, ns__node *n)
{
    if (n->def->is_loop &&
        strcmp(json_string_value(json_object_get(n->settings, "over")), "batches") == 0) {
        bool has = false;
        for (int j = 0; j < n->n_in; j++)
            has |= strcmp(n->in[j].port, "dataset") == 0;
        if (!has)
            return fail(p, n->line, n,
                        "runs over batches, so it needs the dataset they come from: wire it "
                        "(in: {dataset: split.train_dataset}) or set over: epochs");
    }
    for (int i = 0; i < n->def->n_inputs; i++) {
        const ns_port_def *pd = &n->def->inputs[i];
        bool wired = false;
        for (int j = 0; j < n->n_in; j++)
            wired |= strcmp(n->in[j].port, pd->name) == 0;
        if (wired || pd->optional)
            continue;
        /* suggest the nearest earlier output of that kind that n can see */
        char ex[160] = "";
        for (int j = 0; j < p->n_nodes && p->nodes[j] != n; j++) {
            const ns__node *s = p->nodes[j];
            bool visible = s->parent == n->parent || (s->parent && is_ancestor(s->parent, n));
            if (s->def->is_loop || !visible)
                continue;
            for (int k = 0; k < s->def->n_outputs; k++)
                if (s->def->outputs[k].kind == pd->kind)
                    snprintf(ex, sizeof ex, ", e.g. in: {%s: %s.%s}", pd->name, s->id,
                             s->def->outputs[k].name);
        }
        return fail(p, n->line, n, "needs its input '%s' (%s %s) wired%s", pd->name,
                    article(ns_value_kind_name(pd->kind)), ns_value_kind_name(pd->kind), ex);
    }
    return NS_OK;
}

/* ---- order --------------------------------------------------------------------------------- */

/* The card of scope `loop` (NULL: top) that contains s, or NULL. */
static ns__node *in_scope(ns__node *s, const ns__node *loop)
{
    for (ns__node *q = s; q != NULL; q = q->parent)
        if (q->parent == loop)
            return q;
    return NULL;
}

static bool depends(ns__node *a, ns__node *b, const ns__node *loop, const ns_pipeline *p)
{
    /* does a (or anything inside it) use b (or anything inside it)? */
    for (int i = 0; i < p->n_nodes; i++) {
        ns__node *x = p->nodes[i];
        if (x != a && !is_ancestor(a, x))
            continue;
        for (int j = 0; j < x->n_in; j++) {
            ns__node *s = x->in[j].src;
            if (s == NULL || is_ancestor(s, x))
                continue; /* an enclosing loop's exposed value */
            if (in_scope(s, loop) == b)
                return true;
        }
    }
    return false;
}

static ns_status order_scope(ns_pipeline *p, ns__node *loop, ns__node ***out, int *n_out)
{
    ns__node *members[MAX_NODES];
    int m = 0;
    for (int i = 0; i < p->n_nodes; i++)
        if (p->nodes[i]->parent == loop)
            members[m++] = p->nodes[i];
    ns__node **ord = ns_calloc(p->ctx, (size_t)(m ? m : 1), sizeof *ord);
    if (ord == NULL)
        return NS_ERR_NOMEM;
    bool done[MAX_NODES] = {false};
    int k = 0;
    while (k < m) {
        int pick = -1;
        for (int i = 0; i < m && pick < 0; i++) {
            if (done[i])
                continue;
            bool ready = true;
            for (int j = 0; j < m && ready; j++)
                if (!done[j] && j != i && depends(members[i], members[j], loop, p))
                    ready = false;
            if (ready)
                pick = i;
        }
        if (pick < 0) {
            char list[256] = "";
            size_t used = 0;
            int first = -1;
            for (int i = 0; i < m; i++)
                if (!done[i]) {
                    if (first < 0)
                        first = i;
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'",
                                             used ? ", " : "", members[i]->id);
                }
            ns__node *f = members[first];
            ns_dealloc(p->ctx, ord);
            if (loop != NULL)
                return fail(p, f->line, f,
                            "is part of a cycle inside loop '%s' (%s use each other's outputs "
                            "in the same iteration); what a card makes in one iteration is "
                            "passed to the next through the loop's inputs, not by a wire back",
                            loop->id, list);
            return fail(p, f->line, f,
                        "is part of a cycle outside a loop (%s use each other's outputs); to "
                        "repeat cards, put them in a loop card",
                        list);
        }
        done[pick] = true;
        members[pick]->order = k;
        ord[k++] = members[pick];
    }
    *out = ord;
    *n_out = m;
    return NS_OK;
}

/* ---- the whole file ------------------------------------------------------------------------ */

void ns_pipeline_free(ns_pipeline *p)
{
    if (p == NULL)
        return;
    ns_ctx *ctx = p->ctx;
    ns__pipeline_release_values(p);
    for (int i = 0; i < p->n_nodes; i++) {
        ns__node *n = p->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            ns_dealloc(ctx, n->in[j].ref);
            ns_dealloc(ctx, n->in[j].src_name);
        }
        ns_dealloc(ctx, n->in);
        ns_dealloc(ctx, n->body);
        ns_dealloc(ctx, n->out);
        json_decref(n->settings);
        json_decref(n->overrides);
        ns_dealloc(ctx, n->settings_json);
        ns_dealloc(ctx, n->id);
        ns_dealloc(ctx, n);
    }
    ns_dealloc(ctx, p->nodes);
    ns_dealloc(ctx, p->top);
    ns__yaml_doc_free(ctx, &p->doc);
    ns_dealloc(ctx, p->source);
    ns_dealloc(ctx, p->base_dir);
    ns_dealloc(ctx, p->name);
    ns_cards *cards = p->cards;
    ns_dealloc(ctx, p);
    if (cards != NULL)
        ns__cards_release(cards);
}

static ns_status parse_doc(ns_pipeline *p, const char *const *ov, int n_ov, bool card_checks)
{
    json_t *root = p->doc.root;
    if (!json_is_object(root))
        return fail(p, 1, NULL, "a pipeline is a mapping with 'pipeline' (its name) and 'cards'");
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        static const char *const keys[] = {"pipeline", "description", "seed", "cards"};
        if (ns__jr_find(keys, 4, key) < 0) {
            char h[96];
            return fail(p, line_of(p, root, key), NULL,
                        "unknown key '%s'%s; a pipeline has pipeline, description, seed and "
                        "cards",
                        key, ns__did_you_mean(h, sizeof h, key, keys, 4));
        }
    }
    const char *name = json_string_value(json_object_get(root, "pipeline"));
    p->name = ns_strdup(p->ctx, name ? name : "pipeline");
    json_t *seed = json_object_get(root, "seed");
    if (seed != NULL && !(json_is_integer(seed) && json_integer_value(seed) >= 0))
        return fail(p, line_of(p, root, "seed"), NULL, "seed must be a whole number >= 0");
    p->seed = seed ? (uint64_t)json_integer_value(seed) : 0;
    json_t *cards = json_object_get(root, "cards");
    if (!json_is_array(cards) || json_array_size(cards) == 0)
        return fail(p, line_of(p, root, "cards"), NULL,
                    "a pipeline needs a non-empty list of cards (cards: [...])");
    p->nodes = ns_calloc(p->ctx, MAX_NODES, sizeof *p->nodes);
    if (p->nodes == NULL || p->name == NULL)
        return NS_ERR_NOMEM;
    ns_status st = read_cards(p, cards, NULL, line_of(p, root, "cards"));
    for (int i = 0; i < n_ov && st == NS_OK; i++)
        st = apply_override(p, ov[i]);
    for (int i = 0; i < p->n_nodes && st == NS_OK; i++)
        st = check_settings(p, p->nodes[i], card_checks);
    for (int i = 0; i < p->n_nodes && st == NS_OK; i++)
        st = p->standalone ? NS_OK : read_inputs(p, p->nodes[i]);
    for (int i = 0; i < p->n_nodes && st == NS_OK; i++)
        for (int j = 0; j < p->nodes[i]->n_in && st == NS_OK; j++)
            st = check_wire(p, p->nodes[i], &p->nodes[i]->in[j]);
    for (int i = 0; i < p->n_nodes && st == NS_OK && !p->standalone; i++)
        st = check_required(p, p->nodes[i]);
    if (st == NS_OK)
        st = order_scope(p, NULL, &p->top, &p->n_top);
    for (int i = 0; i < p->n_nodes && st == NS_OK; i++) {
        ns__node *n = p->nodes[i];
        if (n->def->is_loop)
            st = order_scope(p, n, &n->body, &n->n_body);
    }
    for (int i = 0; i < p->n_nodes && st == NS_OK; i++) {
        ns__node *n = p->nodes[i];
        n->out = ns_calloc(p->ctx, (size_t)(n->def->n_outputs + 1), sizeof *n->out);
        if (n->out == NULL)
            st = NS_ERR_NOMEM;
    }
    return st;
}

static ns_status parse(ns_cards *cards, const char *text, size_t len, const char *source,
                       const char *const *overrides, int n_overrides, bool alone, bool card_checks,
                       ns_pipeline **out)
{
    *out = NULL;
    ns_ctx *ctx = ns__cards_ctx(cards);
    ns_pipeline *p = ns_calloc(ctx, 1, sizeof *p);
    if (p == NULL)
        return NS_ERR_NOMEM;
    p->ctx = ctx;
    p->cards = cards;
    ns__cards_retain(cards);
    p->standalone = alone;
    p->source = ns_strdup(ctx, source ? source : "pipeline");
    const char *slash = source ? strrchr(source, '/') : NULL;
    p->base_dir = slash ? ns_alloc(ctx, (size_t)(slash - source) + 1) : ns_strdup(ctx, ".");
    if (p->source == NULL || p->base_dir == NULL) {
        ns_pipeline_free(p);
        return NS_ERR_NOMEM;
    }
    if (slash)
        snprintf(p->base_dir, (size_t)(slash - source) + 1, "%s", source);
    ns_status st = ns__yaml_load(ctx, text, len, p->source, &p->doc);
    if (st == NS_OK)
        st = parse_doc(p, overrides, n_overrides, card_checks);
    if (st != NS_OK) {
        ns_pipeline_free(p);
        return st;
    }
    *out = p;
    return NS_OK;
}

ns_status ns_pipeline_parse(ns_cards *cards, const char *text, size_t len, const char *source,
                            const char *const *overrides, int n_overrides, ns_pipeline **out)
{
    return parse(cards, text, len, source, overrides, n_overrides, false, true, out);
}

ns_status ns_pipeline_parse_unchecked(ns_cards *cards, const char *text, size_t len,
                                      const char *source, const char *const *overrides,
                                      int n_overrides, ns_pipeline **out)
{
    return parse(cards, text, len, source, overrides, n_overrides, false, false, out);
}

ns_status ns__pipeline_parse_alone(ns_cards *cards, const char *text, size_t len, ns_pipeline **out)
{
    return parse(cards, text, len, "card", NULL, 0, true, true, out);
}

ns_status ns_pipeline_load(ns_cards *cards, const char *path, const char *const *overrides,
                           int n_overrides, ns_pipeline **out)
{
    *out = NULL;
    ns_ctx *ctx = ns__cards_ctx(cards);
    char *text = NULL;
    size_t len = 0;
    ns_status st = ns_read_file(ctx, path, &text, &len);
    if (st != NS_OK)
        return st;
    st = ns_pipeline_parse(cards, text, len, path, overrides, n_overrides, out);
    ns_dealloc(ctx, text);
    return st;
}

const char *ns_pipeline_name(const ns_pipeline *p)
{
    return p->name;
}
int ns_pipeline_card_count(const ns_pipeline *p)
{
    return p->n_top;
}
const char *ns_pipeline_card_id(const ns_pipeline *p, int i)
{
    return i >= 0 && i < p->n_top ? p->top[i]->id : NULL;
}

ns_status ns_pipeline_cards_json(const ns_pipeline *p, char **json)
{
    *json = NULL;
    json_t *all = json_array();
    for (int i = 0; all != NULL && i < p->n_nodes; i++) {
        const ns__node *n = p->nodes[i];
        json_t *keys = json_object();
        json_t *with = json_object_get(n->json, "with");
        const char *key;
        json_t *v;
        if (json_is_object(with)) {
            json_object_foreach(with, key, v)
            {
                const ns_setting_def *s = find_setting(n->def, key);
                const ns_setting_def *rs =
                    s == NULL && strchr(key, '.') == NULL ? ns_run_setting_find(key) : NULL;
                if (rs != NULL)
                    s = find_setting(n->def, rs->name);
                json_object_set_new(keys, s != NULL ? s->name : key, json_string(key));
            }
        }
        int depth = 0;
        for (const ns__node *q = n->parent; q != NULL; q = q->parent)
            depth++;
        json_array_append_new(all, json_pack("{s:s, s:s, s:i, s:i, s:O?, s:o}", "id", n->id, "card",
                                             n->def->name, "line", n->line, "depth", depth,
                                             "settings", n->settings, "keys", keys));
    }
    char *text = all != NULL ? json_dumps(all, JSON_COMPACT) : NULL;
    json_decref(all);
    *json = text != NULL ? ns_strdup(p->ctx, text) : NULL;
    free(text);
    return *json != NULL ? NS_OK : ns_errorf(p->ctx, NS_ERR_NOMEM, "out of memory");
}
