/* Training jobs: defaults, --split and --schedule parsing, and run config files (YAML or
 * JSON) in the style of config-driven training templates. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "train_job.h"

void train_job_init(train_job *job)
{
    memset(job, 0, sizeof *job);
    job->split[0] = 0.7;
    job->split[1] = 0.15;
    job->split[2] = 0.15;
    ns_fit_options_default(&job->fit);
    job->fit.normalize = NS_NORM_STANDARD;
}

void train_job_deinit(train_job *job)
{
    free(job->net_json);
    json_decref(job->owned);
    memset(job, 0, sizeof *job);
}

bool parse_split(const char *text, double split[3])
{
    double v[3] = {0, 0, 0};
    int n = 0;
    const char *p = text;
    while (n < 3) {
        char *end;
        v[n] = strtod(p, &end);
        if (end == p || v[n] < 0)
            return false;
        n++;
        if (*end == '\0')
            break;
        if (*end != ',')
            return false;
        p = end + 1;
    }
    if (n < 2 || *p == '\0' || v[0] <= 0)
        return false;
    memcpy(split, v, sizeof v);
    return true;
}

bool parse_schedule(const char *name, int epochs, ns_sched_config *cfg)
{
    ns_sched_kind k;
    if (ns_sched_kind_parse(name, &k) != NS_OK)
        return false;
    ns_sched_config_default(cfg, k);
    /* Sensible defaults for a run of `epochs` epochs. */
    if (k == NS_SCHED_COSINE)
        cfg->t_max = epochs;
    if (k == NS_SCHED_STEP)
        cfg->step_size = epochs / 3 > 0 ? epochs / 3 : 1;
    if (k == NS_SCHED_WARMUP)
        cfg->total_iters = epochs / 10 > 0 ? epochs / 10 : 1;
    return true;
}

/* ---- run configs ----------------------------------------------------------------------------- */

typedef struct cfg_reader {
    const char *path;
    const char *key;
    bool bad;
} cfg_reader;

static void cfg_bad(cfg_reader *r, const char *key, const char *what)
{
    fprintf(stderr, "netsmith train: %s: %s: %s\n", r->path, key, what);
    r->bad = true;
}

static const char *get_str(cfg_reader *r, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        cfg_bad(r, key, "expected a string");
        return NULL;
    }
    return json_string_value(v);
}

static bool get_num(cfg_reader *r, json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return false;
    if (!json_is_number(v)) {
        cfg_bad(r, key, "expected a number");
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static bool get_int(cfg_reader *r, json_t *o, const char *key, long long lo, long long hi,
                    long long *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return false;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected an integer in [%lld, %lld]", lo, hi);
        cfg_bad(r, key, msg);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* "mlp" with net_config {nodes, layers, activation, dropout}: a short-form spec. */
static char *named_blueprint(cfg_reader *r, const char *name, json_t *nc)
{
    if (strcmp(name, "mlp") != 0 && strcmp(name, "deep_neural_network") != 0) {
        cfg_bad(r, "net", "not a file and not a named blueprint; the named blueprint is 'mlp' "
                          "(net_config: {nodes: 64, layers: 4, activation: relu, dropout: 0})");
        return NULL;
    }
    static const char *const keys[] = {"nodes", "layers", "activation", "dropout"};
    const char *key;
    json_t *val;
    json_object_foreach(nc, key, val)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            known = known || strcmp(key, keys[i]) == 0;
        if (!known) {
            cfg_bad(r, "net_config", "unknown key; known keys: nodes, layers, activation, "
                                     "dropout");
            return NULL;
        }
    }
    long long nodes = 64, layers = 2;
    double dropout = 0;
    get_int(r, nc, "nodes", 1, 1 << 20, &nodes);
    get_int(r, nc, "layers", 0, 64, &layers);
    get_num(r, nc, "dropout", &dropout);
    const char *act = get_str(r, nc, "activation");
    if (r->bad)
        return NULL;
    json_t *hidden = json_array();
    for (long long i = 0; i < layers; i++)
        json_array_append_new(hidden, json_integer(nodes));
    json_t *spec = json_pack("{ss so ss sf}", "model_type", "deep_neural_network",
                             "hidden_layers", hidden, "activation", act ? act : "relu", "dropout",
                             dropout);
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    return text;
}

int train_job_from_config(train_job *job, const char *path)
{
    ns_ctx *ctx = NULL;
    char *text = NULL, *json = NULL;
    size_t len = 0;
    int rc = CLI_USAGE;
    if (ns_ctx_new(NULL, &ctx) != NS_OK)
        return CLI_ERROR;
    if (ns_read_file(ctx, path, &text, &len) != NS_OK ||
        ns_yaml_to_json(ctx, text, len, path, &json) != NS_OK) {
        cli_error("train", "%s", ns_errmsg(ctx));
        goto out;
    }
    json_error_t err;
    json_t *root = json_loads(json, 0, &err);
    cfg_reader r = {path, NULL, false};
    if (root == NULL || !json_is_object(root)) {
        cli_error("train", "%s: a run config must be a mapping of settings", path);
        json_decref(root);
        goto out;
    }
    job->owned = root;
    static const char *const known[] = {
        "net",       "net_config", "data",      "target",       "task",
        "split",     "seed",       "seeds",     "epochs",       "batch_size",
        "optimizer", "optimizer_config",        "loss",         "normalize",
        "scheduler", "scheduler_config",        "early_stopping", "gradient_clip",
        "checkpoint_dir", "checkpoint_every",   "output",       "run_dir",
        "threads"};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok)
            cfg_bad(&r, key, "unknown key; known keys: net, net_config, data, target, task, "
                             "split, seed, seeds, epochs, batch_size, optimizer, "
                             "optimizer_config, loss, normalize, scheduler, scheduler_config, "
                             "early_stopping, gradient_clip, checkpoint_dir, checkpoint_every, "
                             "output, run_dir, threads");
    }
    const char *net = get_str(&r, root, "net");
    if (net != NULL) {
        FILE *f = fopen(net, "r");
        if (f != NULL) {
            fclose(f);
            job->net = net;
        } else {
            json_t *nc = json_object_get(root, "net_config");
            json_t *empty = json_object();
            job->net_json = named_blueprint(&r, net, nc ? nc : empty);
            json_decref(empty);
        }
    }
    job->data = get_str(&r, root, "data");
    job->target = get_str(&r, root, "target");
    job->task = get_str(&r, root, "task");
    json_t *split = json_object_get(root, "split");
    if (split != NULL) {
        bool ok = json_is_array(split) && json_array_size(split) >= 2 &&
                  json_array_size(split) <= 3;
        for (size_t i = 0; ok && i < json_array_size(split); i++) {
            ok = json_is_number(json_array_get(split, i));
            job->split[i] = ok ? json_number_value(json_array_get(split, i)) : 0;
        }
        if (json_array_size(split) == 2)
            job->split[2] = 0;
        if (!ok)
            cfg_bad(&r, "split", "expected [train, val] or [train, val, test] ratios");
    }
    long long x;
    if (get_int(&r, root, "seed", 0, INT64_MAX, &x)) {
        job->seeds[0] = (uint64_t)x;
        job->n_seeds = 1;
    }
    json_t *seeds = json_object_get(root, "seeds");
    if (seeds != NULL) {
        size_t n = json_is_array(seeds) ? json_array_size(seeds) : 0;
        if (n == 0 || n > JOB_MAX_SEEDS)
            cfg_bad(&r, "seeds", "expected a list of 1 to 32 integer seeds");
        for (size_t i = 0; i < n && !r.bad; i++) {
            json_t *s = json_array_get(seeds, i);
            if (!json_is_integer(s) || json_integer_value(s) < 0)
                cfg_bad(&r, "seeds", "every seed must be a non-negative integer");
            else
                job->seeds[i] = (uint64_t)json_integer_value(s);
        }
        job->n_seeds = (int)n;
    }
    ns_fit_options *fo = &job->fit;
    if (get_int(&r, root, "epochs", 1, 1000000, &x))
        fo->epochs = (int)x;
    if (get_int(&r, root, "batch_size", 1, 1 << 20, &x))
        fo->batch_size = (int)x;
    const char *s;
    if ((s = get_str(&r, root, "optimizer")))
        snprintf(fo->optimizer, sizeof fo->optimizer, "%s", s);
    json_t *oc = json_object_get(root, "optimizer_config");
    if (oc != NULL) {
        get_num(&r, oc, "lr", &fo->lr);
        get_num(&r, oc, "learning_rate", &fo->lr);
        get_num(&r, oc, "weight_decay", &fo->weight_decay);
    }
    if ((s = get_str(&r, root, "loss")))
        snprintf(fo->loss, sizeof fo->loss, "%s", s);
    if ((s = get_str(&r, root, "normalize")) && ns_norm_kind_parse(s, &fo->normalize) != NS_OK)
        cfg_bad(&r, "normalize", "expected standard, minmax or none");
    if ((s = get_str(&r, root, "scheduler"))) {
        int epochs = fo->epochs ? fo->epochs : 50;
        if (!parse_schedule(s, epochs, &fo->sched))
            cfg_bad(&r, "scheduler", "expected step, multistep, exponential, cosine, warmup, "
                                     "onecycle or plateau");
        json_t *sc = json_object_get(root, "scheduler_config");
        if (sc != NULL && !r.bad) {
            double d;
            if (get_int(&r, sc, "step_size", 1, 1000000, &x))
                fo->sched.step_size = (int)x;
            if (get_int(&r, sc, "t_max", 1, 1000000, &x))
                fo->sched.t_max = (int)x;
            if (get_int(&r, sc, "total_iters", 1, 1000000, &x))
                fo->sched.total_iters = (int)x;
            if (get_int(&r, sc, "total_steps", 1, INT32_MAX, &x))
                fo->sched.total_steps = (int)x;
            if (get_int(&r, sc, "patience", 0, 1000000, &x))
                fo->sched.patience = (int)x;
            if (get_num(&r, sc, "gamma", &d))
                fo->sched.gamma = d;
            if (get_num(&r, sc, "eta_min", &d))
                fo->sched.eta_min = d;
            if (get_num(&r, sc, "factor", &d))
                fo->sched.factor = d;
            if (get_num(&r, sc, "max_lr", &d))
                fo->sched.max_lr = d;
            if (get_num(&r, sc, "start_factor", &d))
                fo->sched.start_factor = d;
        }
    }
    json_t *es = json_object_get(root, "early_stopping");
    if (es != NULL) {
        if (get_int(&r, es, "patience", 1, 1000000, &x))
            fo->early.patience = (int)x;
        get_num(&r, es, "min_delta", &fo->early.min_delta);
        if ((s = get_str(&r, es, "monitor")))
            snprintf(fo->early.monitor, sizeof fo->early.monitor, "%s", s);
        json_t *rb = json_object_get(es, "restore_best");
        fo->early.restore_best = rb && json_is_true(rb);
    }
    get_num(&r, root, "gradient_clip", &fo->clip.max_norm);
    if ((s = get_str(&r, root, "checkpoint_dir"))) {
        fo->checkpoint_dir = s;
        fo->checkpoint_epochs = 1;
    }
    if (get_int(&r, root, "checkpoint_every", 1, 1000000, &x))
        fo->checkpoint_epochs = (int)x;
    if (get_int(&r, root, "threads", 1, NS_MAX_THREADS, &x))
        job->threads = (int)x;
    job->out = get_str(&r, root, "output");
    job->run_dir = get_str(&r, root, "run_dir");
    rc = r.bad ? CLI_USAGE : CLI_OK;
out:
    ns_dealloc(ctx, text);
    ns_dealloc(ctx, json);
    ns_ctx_free(ctx);
    return rc;
}
