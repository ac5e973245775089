/* Running a pipeline: cards in order, loops (epochs, batches, nested), events, cancellation,
 * outputs kept in a state directory and read back to restart from a card; and one card run
 * alone over files. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netsmith/io.h"
#include "pipeline/exec_private.h"

static ns_status run_remote(ns_pipeline *p, ns__node *n, ns_card_call *call);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *const event_names[] = {"started", "finished", "failed", "skipped", "iteration"};

const char *ns_card_event_kind_name(ns_card_event_kind k)
{
    return (unsigned)k < 5 ? event_names[k] : "unknown";
}

/* ---- one card ---------------------------------------------------------------------------- */

typedef struct runner {
    ns_pipeline *p;
    const ns_run_options *o;
} runner;

static void emit(const runner *r, ns_card_event_kind kind, const ns__node *n, int depth, int64_t it,
                 int64_t its, double seconds, const char *msg)
{
    if (r->o == NULL || r->o->on_event == NULL)
        return;
    ns_card_event ev = {kind, n->id, n->def->name, depth, it, its, seconds, msg};
    r->o->on_event(r->o->ud, &ev);
}

static ns_status run_node(runner *r, ns__node *n, int depth, int64_t it, int64_t its);

void ns_card_report_iteration(ns_card_call *c, int64_t done, int64_t total)
{
    if (c->runner != NULL)
        emit(c->runner, NS_CARD_ITERATION, c->node, c->depth, done, total, now_s() - c->t0, NULL);
}

/* The loop card: epochs, and batches of a dataset within each. */
static ns_status run_loop(runner *r, ns__node *n, int depth)
{
    ns_pipeline *p = r->p;
    ns_ctx *ctx = p->ctx;
    ns_card_call call = {.ctx = ctx, .node = n, .base_dir = p->base_dir, .seed = p->seed};
    int64_t epochs = ns_card_int(&call, "epochs");
    bool batches = strcmp(ns_card_string(&call, "over"), "batches") == 0;
    int64_t first = 0;
    ns_value *ev = ns_card_in(&call, "epoch");
    if (ev != NULL && !ns_value_integer(ev, &first))
        return ns_errorf(ctx, NS_ERR_INVALID, "its input 'epoch' must be an integer");
    ns_batch_pos pos = {.batch_size = (int)ns_card_int(&call, "batch_size"),
                        .shuffle = ns_card_bool(&call, "shuffle"),
                        .drop_last = ns_card_bool(&call, "drop_last"),
                        .seed = ns__card_seed(&call, "seed")};
    if (batches) {
        ns_dataset *ds = ns_value_dataset(ns_card_in(&call, "dataset"));
        if (ds == NULL)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "a loop over batches needs a dataset wired to its input 'dataset'");
        int64_t rows = ns_dataset_rows(ds);
        pos.batches =
            pos.drop_last ? rows / pos.batch_size : (rows + pos.batch_size - 1) / pos.batch_size;
        if (pos.batches < 1)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "'%s' has %" PRId64 " rows, too few for one batch of %d; lower "
                             "batch_size or turn drop_last off",
                             ns_dataset_name(ds), rows, pos.batch_size);
    }
    /* an inner loop runs again every outer iteration: its values are made once */
    ns_status st = NS_OK;
    if (n->loop_epoch == NULL)
        st = ns__value_new(ctx, NS_VALUE_INTEGER, &n->loop_epoch);
    if (st == NS_OK && batches && n->loop_pos == NULL)
        st = ns__value_new(ctx, NS_VALUE_BATCH_INDEX, &n->loop_pos);
    if (st != NS_OK)
        return st;
    double t0 = now_s();
    for (int64_t e = 0; e < epochs; e++) {
        n->loop_epoch->u.integer = first + e;
        int64_t inner = batches ? pos.batches : 1;
        for (int64_t b = 0; b < inner; b++) {
            if (batches) {
                pos.epoch = first + e;
                pos.index = b;
                n->loop_pos->u.pos = pos;
            }
            for (int i = 0; i < n->n_body; i++) {
                st = run_node(r, n->body[i], depth + 1, e, epochs);
                if (st != NS_OK)
                    return st;
            }
            if (r->o != NULL && r->o->progress != NULL) {
                st = ns_progress_report(ctx, r->o->progress, n->id, (double)(e * inner + b + 1),
                                        (double)(epochs * inner));
                if (st != NS_OK)
                    return st;
            }
        }
        emit(r, NS_CARD_ITERATION, n, depth, e + 1, epochs, now_s() - t0, NULL);
    }
    return NS_OK;
}

static ns_status run_node(runner *r, ns__node *n, int depth, int64_t it, int64_t its)
{
    ns_pipeline *p = r->p;
    ns_ctx *ctx = p->ctx;
    ns_status st = NS_OK;
    if (r->o != NULL && r->o->progress != NULL && r->o->progress->cancel != NULL &&
        atomic_load(r->o->progress->cancel))
        st = ns_errorf(ctx, NS_ERR_CANCELLED, "cancelled before card '%s'", n->id);
    for (int i = 0; i < n->n_in && st == NS_OK; i++)
        if (ns__input_value(&n->in[i]) == NULL)
            st = ns_errorf(ctx, NS_ERR_STATE, "its input '%s' ('%s') has no value yet",
                           n->in[i].port, n->in[i].ref);
    emit(r, NS_CARD_STARTED, n, depth, it, its, 0, NULL);
    double t0 = now_s();
    if (st == NS_OK) {
        if (n->def->is_loop) {
            st = run_loop(r, n, depth);
        } else {
            ns_card_call call = {.ctx = ctx,
                                 .node = n,
                                 .base_dir = p->base_dir,
                                 .progress = r->o ? r->o->progress : NULL,
                                 .seed = p->seed,
                                 .runner = r,
                                 .depth = depth,
                                 .t0 = t0,
                                 .host = &p->host};
            st = strcmp(ns_card_string(&call, "execution"), "remote") == 0 ? run_remote(p, n, &call)
                                                                           : n->def->run(&call);
            for (int i = 0; i < n->def->n_outputs && st == NS_OK; i++)
                if (n->out[i] == NULL && !n->def->outputs[i].optional)
                    st = ns_errorf(ctx, NS_ERR_STATE, "made no '%s' output",
                                   n->def->outputs[i].name);
        }
    }
    double secs = now_s() - t0;
    if (st != NS_OK) {
        char why[NS__ERRMSG_CAP];
        snprintf(why, sizeof why, "%s", ns_errmsg(ctx));
        /* the innermost failing card names itself; outer loops keep its message */
        if (strncmp(why, p->source, strlen(p->source)) != 0)
            st = ns_errorf(ctx, st, "%s:%d: %s '%s' failed: %s", p->source, n->line, n->def->name,
                           n->id, why);
        emit(r, NS_CARD_FAILED, n, depth, it, its, secs, ns_errmsg(ctx));
        return st;
    }
    n->ran = true;
    emit(r, NS_CARD_FINISHED, n, depth, it, its, secs, NULL);
    return NS_OK;
}

/* ---- the state directory ------------------------------------------------------------------------
 */

/* The values a top-level card leaves: its outputs, or for a loop what it passes on. */
static int node_values(const ns__node *n, const char **names, ns_value **values, int cap)
{
    int k = 0;
    if (n->def->is_loop) {
        for (int i = 0; i < n->n_in && k < cap; i++) {
            names[k] = n->in[i].port;
            values[k++] = ns__input_value(&n->in[i]);
        }
    } else {
        for (int i = 0; i < n->def->n_outputs && k < cap; i++) {
            names[k] = n->def->outputs[i].name;
            values[k++] = n->out[i];
        }
    }
    return k;
}

static ns_status save_values(ns_ctx *ctx, const char **names, ns_value **values, int k,
                             const char *dir)
{
    ns_status st = ns_make_dirs(ctx, dir);
    json_t *man = json_object();
    for (int i = 0; i < k && st == NS_OK; i++) {
        if (values[i] == NULL)
            continue;
        char *path = NULL;
        st = ns_value_save(ctx, values[i], dir, names[i], &path);
        if (st != NS_OK)
            break;
        const char *base = strrchr(path, '/');
        json_t *e = json_pack("{s:s, s:s}", "file", base ? base + 1 : path, "kind",
                              ns_value_kind_name(values[i]->kind));
        if (values[i]->object[0])
            json_object_set_new(e, "object", json_string(values[i]->object));
        if (values[i]->model != NULL)
            json_object_set_new(e, "model_object", json_string(values[i]->model->object));
        json_object_set_new(man, names[i], e);
        ns_dealloc(ctx, path);
    }
    if (st == NS_OK) {
        char path[4096];
        snprintf(path, sizeof path, "%s/outputs.json", dir);
        st = ns_write_json(ctx, path, man, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    }
    json_decref(man);
    return st;
}

static ns_status save_node(ns_pipeline *p, const ns__node *n, const char *state_dir)
{
    const char *names[64];
    ns_value *values[64];
    int k = node_values(n, names, values, 64);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", state_dir, n->id);
    return save_values(p->ctx, names, values, k, dir);
}

/* A card with execution: remote, run by the host (a worker of the store): its inputs saved as
 * files, its outputs read back from the files the remote run wrote. The objects it outputs
 * (models, optimizers) come back as new objects. */
static ns_status run_remote(ns_pipeline *p, ns__node *n, ns_card_call *call)
{
    ns_ctx *ctx = p->ctx;
    if (p->host.run_card == NULL)
        return ns_errorf(ctx, NS_ERR_UNSUPPORTED,
                         "execution: remote runs the card as a job of a store: run the pipeline "
                         "with --store URL (and a worker: netsmith worker), or set execution: "
                         "local");
    char dir[] = "/tmp/netsmith-remote-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return ns_errorf(ctx, NS_ERR_IO, "cannot make a directory for a remote card: %s",
                         strerror(errno));
    char in_dir[64], out_dir[64];
    snprintf(in_dir, sizeof in_dir, "%s/in", dir);
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    const char *names[64], *paths[64];
    char *owned[64];
    int k = 0;
    ns_status st = ns_make_dirs(ctx, in_dir);
    for (int i = 0; st == NS_OK && i < n->n_in && k < 64; i++) {
        ns_value *v = ns__input_value(&n->in[i]);
        if (v == NULL)
            continue;
        st = ns_value_save(ctx, v, in_dir, n->in[i].port, &owned[k]);
        if (st == NS_OK) {
            names[k] = n->in[i].port;
            paths[k] = owned[k];
            k++;
        }
    }
    /* the settings as given, to run there in that worker's process */
    json_t *set = json_deep_copy(n->settings);
    json_object_set_new(set, "execution", json_string("local"));
    /* a seed left to the pipeline's is the pipeline's there too */
    static const char *const seeds[] = {"seed", "random_seed"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(set, seeds[i]);
        if (v != NULL && json_is_null(v))
            json_object_set_new(set, seeds[i], json_integer((json_int_t)p->seed));
    }
    char *settings = set != NULL ? json_dumps(set, JSON_COMPACT) : NULL;
    json_decref(set);
    if (st == NS_OK && settings == NULL)
        st = ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    if (st == NS_OK)
        st = p->host.run_card(p->host.ud, ctx, n->def->name, settings,
                              ns_card_string(call, "device"), names, paths, k, out_dir,
                              call->progress);
    free(settings);
    for (int i = 0; i < k; i++)
        ns_dealloc(ctx, owned[i]);
    /* the outputs, by the manifest the remote run wrote; an optimizer binds to the model that
     * came back with it */
    char man_path[128];
    snprintf(man_path, sizeof man_path, "%s/outputs.json", out_dir);
    json_error_t e;
    json_t *man = st == NS_OK ? json_load_file(man_path, 0, &e) : NULL;
    if (st == NS_OK && man == NULL)
        st = ns_errorf(ctx, NS_ERR_FORMAT, "the remote card wrote no outputs.json (%s)", e.text);
    ns_value *model_out = NULL;
    for (int pass = 0; pass < 2 && st == NS_OK; pass++) {
        for (int i = 0; i < n->def->n_outputs && st == NS_OK; i++) {
            json_t *ent = json_object_get(man, n->def->outputs[i].name);
            if (ent == NULL)
                continue;
            ns_value_kind kind =
                ns_value_kind_parse(json_string_value(json_object_get(ent, "kind")));
            if ((pass == 0) != (kind != NS_VALUE_OPTIMIZER))
                continue;
            const char *file = json_string_value(json_object_get(ent, "file"));
            char path[512];
            snprintf(path, sizeof path, "%s/%s", out_dir, file != NULL ? file : "");
            ns_value *v = NULL;
            st = ns_value_load(ctx, kind, path, kind == NS_VALUE_OPTIMIZER ? model_out : NULL, &v);
            if (st == NS_OK) {
                if (kind == NS_VALUE_MODEL)
                    snprintf(v->object, sizeof v->object, "%s", n->id);
                ns_value_release(n->out[i]);
                n->out[i] = v;
                if (kind == NS_VALUE_MODEL && model_out == NULL)
                    model_out = v;
            }
        }
    }
    json_decref(man);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* a leftover temporary directory is only disk space */
    }
    return st;
}

/* Restores the top-level cards before `from` from the state directory. Objects (models and
 * optimizers) are read once, from the newest card that holds them, and shared. */
static ns_status restore(runner *r, int upto)
{
    ns_pipeline *p = r->p;
    ns_ctx *ctx = p->ctx;
    const char *sd = r->o->state_dir;
    ns_value *objs[128];
    char obj_ids[128][64];
    int n_objs = 0;
    ns_status st = NS_OK;
    /* models first, then optimizers (bound to the shared model), then the rest */
    for (int pass = 0; pass < 3 && st == NS_OK; pass++) {
        for (int t = upto - 1; t >= 0 && st == NS_OK; t--) {
            ns__node *n = p->top[t];
            char path[4096];
            snprintf(path, sizeof path, "%s/%s/outputs.json", sd, n->id);
            json_error_t e;
            json_t *man = json_load_file(path, 0, &e);
            if (man == NULL) {
                st = ns_errorf(ctx, NS_ERR_NOTFOUND,
                               "--from %s: %s is missing or unreadable (%s); run the pipeline "
                               "with --state %s first",
                               r->o->from, path, e.text, sd);
                break;
            }
            const char *names[64];
            ns_value *values[64];
            int k = node_values(n, names, values, 64);
            for (int i = 0; i < k && st == NS_OK; i++) {
                json_t *ent = json_object_get(man, names[i]);
                if (ent == NULL)
                    continue;
                ns_value_kind kind =
                    ns_value_kind_parse(json_string_value(json_object_get(ent, "kind")));
                const char *file = json_string_value(json_object_get(ent, "file"));
                const char *obj = json_string_value(json_object_get(ent, "object"));
                bool is_obj = kind == NS_VALUE_MODEL || kind == NS_VALUE_OPTIMIZER;
                if (kind == NS_VALUE_NONE || file == NULL || (is_obj && obj == NULL)) {
                    st = ns_errorf(ctx, NS_ERR_FORMAT, "%s: entry '%s' is malformed", path,
                                   names[i]);
                    break;
                }
                int want_pass = kind == NS_VALUE_MODEL ? 0 : kind == NS_VALUE_OPTIMIZER ? 1 : 2;
                if (want_pass != pass)
                    continue;
                ns_value *v = NULL;
                for (int j = 0; j < n_objs && is_obj; j++)
                    if (!strcmp(obj_ids[j], obj))
                        v = ns__value_ref(objs[j]);
                if (v == NULL) {
                    char vpath[4096];
                    snprintf(vpath, sizeof vpath, "%s/%s/%s", sd, n->id, file);
                    ns_value *bind = NULL;
                    const char *mobj = json_string_value(json_object_get(ent, "model_object"));
                    for (int j = 0; j < n_objs && mobj; j++)
                        if (!strcmp(obj_ids[j], mobj))
                            bind = objs[j];
                    st = ns_value_load(ctx, kind, vpath, bind, &v);
                    if (st != NS_OK)
                        break;
                    if (is_obj) {
                        snprintf(v->object, sizeof v->object, "%s", obj);
                        if (n_objs < 128) {
                            objs[n_objs] = v;
                            snprintf(obj_ids[n_objs++], 64, "%s", obj);
                        }
                        ns__value_ref(v);
                    }
                }
                if (!n->def->is_loop) {
                    ns_value_release(n->out[i]);
                    n->out[i] = v;
                } else {
                    ns_value_release(v); /* a loop's values are its sources' */
                }
            }
            json_decref(man);
        }
    }
    for (int j = 0; j < n_objs; j++)
        ns_value_release(objs[j]);
    for (int t = 0; t < upto && st == NS_OK; t++) {
        p->top[t]->ran = true;
        emit(r, NS_CARD_SKIPPED, p->top[t], 0, 0, 0, 0, NULL);
    }
    return st;
}

ns_status ns_pipeline_run(ns_pipeline *p, const ns_run_options *opts)
{
    ns_ctx *ctx = p->ctx;
    if (p->ran)
        return ns_errorf(ctx, NS_ERR_STATE, "%s: a pipeline runs once; load it again to rerun",
                         p->source);
    p->ran = true;
    ns_run_options none = {0};
    runner r = {p, opts ? opts : &none};
    int start = 0;
    if (r.o->from != NULL) {
        start = -1;
        for (int i = 0; i < p->n_top; i++)
            if (strcmp(p->top[i]->id, r.o->from) == 0)
                start = i;
        if (start < 0) {
            for (int i = 0; i < p->n_nodes; i++)
                if (!strcmp(p->nodes[i]->id, r.o->from))
                    return ns_errorf(ctx, NS_ERR_INVALID,
                                     "--from %s: the card is inside loop '%s'; restart from "
                                     "the loop",
                                     r.o->from, p->nodes[i]->parent->id);
            return ns_errorf(ctx, NS_ERR_NOTFOUND, "--from %s: %s has no card '%s'", r.o->from,
                             p->source, r.o->from);
        }
        if (r.o->state_dir == NULL)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "--from %s needs --state DIR (where an earlier run kept its outputs)",
                             r.o->from);
    }
    /* The state directory is this run's until it ends: another run writing the same cards'
     * outputs there would mix two runs' values. */
    ns_dir_lock *lock = NULL;
    ns_status st = NS_OK;
    if (r.o->state_dir != NULL)
        st = ns_dir_lock_open(ctx, r.o->state_dir, "state",
                              "wait for it to finish, or use another state directory", &lock);
    if (st == NS_OK && r.o->from != NULL)
        st = restore(&r, start);
    for (int i = start; i < p->n_top && st == NS_OK; i++) {
        st = run_node(&r, p->top[i], 0, i + 1, p->n_top);
        if (st == NS_OK && r.o->state_dir != NULL)
            st = save_node(p, p->top[i], r.o->state_dir);
    }
    ns_dir_lock_close(lock);
    return st;
}

ns_value *ns_pipeline_output(ns_pipeline *p, const char *ref)
{
    const char *dot = strchr(ref, '.');
    if (dot == NULL)
        return NULL;
    for (int i = 0; i < p->n_nodes; i++) {
        ns__node *n = p->nodes[i];
        if (strlen(n->id) != (size_t)(dot - ref) || strncmp(n->id, ref, (size_t)(dot - ref)))
            continue;
        if (n->def->is_loop) {
            const ns__input *li = ns__loop_input(n, dot + 1);
            return li ? ns__input_value(li) : NULL;
        }
        for (int j = 0; j < n->def->n_outputs; j++)
            if (!strcmp(n->def->outputs[j].name, dot + 1))
                return n->out[j];
    }
    return NULL;
}

int ns_pipeline_outputs(ns_pipeline *p, const char *card, const char **names, ns_value **values,
                        int cap)
{
    for (int i = 0; i < p->n_nodes; i++)
        if (p->nodes[i]->parent == NULL && strcmp(p->nodes[i]->id, card) == 0)
            return node_values(p->nodes[i], names, values, cap);
    return -1;
}

/* ---- one card alone ---------------------------------------------------------------------------
 */

/* A batch_index read from a file next to a dataset: its batches per epoch, counted from the
 * dataset when the file leaves them out, and checked against it when it gives them. */
static ns_status count_batches(ns_ctx *ctx, ns__node *n, const char *const *in_names,
                               const char *const *in_paths, int n_in)
{
    const ns_dataset *ds = NULL;
    for (int i = 0; i < n->n_in; i++)
        if (ns_value_get_kind(n->in[i].value) == NS_VALUE_DATASET)
            ds = ns_value_dataset(n->in[i].value);
    for (int i = 0; i < n->n_in && ds != NULL; i++) {
        ns_value *v = n->in[i].value;
        if (ns_value_get_kind(v) != NS_VALUE_BATCH_INDEX)
            continue;
        const char *path = "";
        for (int k = 0; k < n_in; k++)
            if (strcmp(in_names[k], n->in[i].port) == 0)
                path = in_paths[k];
        ns_batch_pos *pos = &v->u.pos;
        ns_batch_options o = {.batch_size = pos->batch_size,
                              .no_shuffle = !pos->shuffle,
                              .drop_last = pos->drop_last,
                              .seed = pos->seed};
        ns_batcher *b = NULL;
        ns_status st = ns_batcher_new(ds, &o, &b);
        if (st != NS_OK)
            return st;
        int64_t count = ns_batcher_count(b);
        ns_batcher_free(b);
        if (pos->batches > 0 && pos->batches != count)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "input '%s': %s: \"batches\" is %lld but dataset '%s' (%lld rows) "
                             "makes %lld batches of %d%s; fix \"batches\" or leave it out",
                             n->in[i].port, path, (long long)pos->batches, ns_dataset_name(ds),
                             (long long)ns_dataset_rows(ds), (long long)count, pos->batch_size,
                             pos->drop_last ? " (drop_last)" : "");
        if (pos->index >= count)
            return ns_errorf(ctx, NS_ERR_INVALID,
                             "input '%s': %s: \"index\" %lld is past the last batch: dataset "
                             "'%s' (%lld rows) makes %lld batches of %d, numbered from 0",
                             n->in[i].port, path, (long long)pos->index, ns_dataset_name(ds),
                             (long long)ns_dataset_rows(ds), (long long)count, pos->batch_size);
        pos->batches = count;
    }
    return NS_OK;
}

ns_status ns_card_run_files(ns_cards *cards, const char *card, const char *const *in_names,
                            const char *const *in_paths, int n_in, const char *settings_json,
                            const char *out_dir, const ns_progress *progress)
{
    ns_ctx *ctx = ns__cards_ctx(cards);
    const ns_card_def *def = ns_cards_find(cards, card);
    if (def == NULL) {
        char h[96];
        return ns_errorf(ctx, NS_ERR_NOTFOUND, "no card '%s'%s; netsmith cards lists them", card,
                         ns__card_did_you_mean(cards, card, h, sizeof h));
    }
    if (def->is_loop)
        return ns_errorf(ctx, NS_ERR_INVALID,
                         "a %s card repeats other cards, so it runs only inside a pipeline", card);
    json_error_t e;
    json_t *with = settings_json ? json_loads(settings_json, 0, &e) : json_object();
    if (!json_is_object(with)) {
        json_decref(with);
        return ns_errorf(ctx, NS_ERR_PARSE, "the settings must be a JSON object (%s)",
                         settings_json ? e.text : "");
    }
    json_t *doc = json_pack("{s:s, s:[{s:s, s:s, s:o}]}", "pipeline", card, "cards", "id", card,
                            "card", card, "with", with);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    ns_pipeline *p = NULL;
    ns_status st = ns__pipeline_parse_alone(cards, text, strlen(text), &p);
    free(text);
    if (st != NS_OK)
        return st;
    ns__node *n = p->nodes[0];
    /* inputs: models first, so that an optimizer binds to the card's model */
    ns_dealloc(ctx, n->in);
    n->in = ns_calloc(ctx, (size_t)(n_in ? n_in : 1), sizeof *n->in);
    if (n->in == NULL)
        st = NS_ERR_NOMEM;
    ns_value *model = NULL;
    for (int pass = 0; pass < 2 && st == NS_OK; pass++) {
        for (int i = 0; i < n_in && st == NS_OK; i++) {
            const ns_port_def *pd = NULL;
            for (int j = 0; j < def->n_inputs; j++)
                if (!strcmp(def->inputs[j].name, in_names[i]))
                    pd = &def->inputs[j];
            if (pd == NULL) {
                st = ns_errorf(ctx, NS_ERR_INVALID, "card %s has no input '%s'", card, in_names[i]);
                break;
            }
            if ((pass == 0) != (pd->kind == NS_VALUE_MODEL))
                continue;
            ns__input *w = &n->in[n->n_in++];
            w->port = pd->name;
            w->src_port = -1;
            st = ns_value_load(ctx, pd->kind, in_paths[i],
                               pd->kind == NS_VALUE_OPTIMIZER ? model : NULL, &w->value);
            if (st == NS_OK && pd->kind == NS_VALUE_MODEL)
                model = w->value;
            if (st != NS_OK) {
                char why[NS__ERRMSG_CAP];
                snprintf(why, sizeof why, "%s", ns_errmsg(ctx));
                st = ns_errorf(ctx, st, "input '%s': %s", in_names[i], why);
            }
        }
    }
    for (int j = 0; j < def->n_inputs && st == NS_OK; j++) {
        bool given = false;
        for (int i = 0; i < n->n_in; i++)
            given |= !strcmp(n->in[i].port, def->inputs[j].name);
        if (!given && !def->inputs[j].optional)
            st = ns_errorf(ctx, NS_ERR_INVALID, "card %s needs --in %s=FILE (a %s)", card,
                           def->inputs[j].name, ns_value_kind_name(def->inputs[j].kind));
    }
    if (st == NS_OK)
        st = count_batches(ctx, n, in_names, in_paths, n_in);
    if (st == NS_OK) {
        ns_run_options o = {.progress = progress};
        runner r = {p, &o};
        st = run_node(&r, n, 0, 1, 1);
    }
    ns_dir_lock *lock = NULL;
    if (st == NS_OK)
        st = ns_dir_lock_open(ctx, out_dir, "output",
                              "wait for it to finish, or write into another directory", &lock);
    if (st == NS_OK) {
        const char *names[64];
        ns_value *values[64];
        int k = node_values(n, names, values, 64);
        st = save_values(ctx, names, values, k, out_dir);
    }
    ns_dir_lock_close(lock);
    ns_pipeline_free(p);
    return st;
}

void ns_pipeline_set_host(ns_pipeline *p, const ns_pipeline_host *host)
{
    if (host != NULL)
        p->host = *host;
    else
        memset(&p->host, 0, sizeof p->host);
}
