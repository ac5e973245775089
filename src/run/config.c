/* The run config as data: one table of settings (name, type, default, range, documentation,
 * aliases) read from YAML/JSON files, flags, card settings and API bodies, and printed as a
 * JSON schema. Values are kept as given (JSON, under their canonical names); readers take
 * the table's default for a setting not given. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/settings.h"
#include "format/json_read.h"
#include "run/run_internal.h"

/* Groups: a mapping under one of these keys holds settings by their short names, as
 * "optimizer_config: {lr: 0.01, betas: [0.9, 0.99]}"; each such name is an alias
 * "group.name" of a setting. */
static const char *const groups[] = {"optimizer_config", "scheduler_config", "early_stopping",
                                     "data_config"};

#define OPT "optimizer_config."
#define SCH "scheduler_config."
#define ES "early_stopping."

/* Every setting of a run. Settings whose default is "null" come from the blueprint (its
 * training section) or from the data when not given. */
const ns_setting_def ns__run_setting_table[] = {
    {"normalize", NS_SETTING_STRING, "\"standard\"", "standard|minmax|none",
     "fitted on the training part only, applied to every part, stored in the model", 0, 0},
    /* the optimizer */
    {"optimizer", NS_SETTING_STRING, "null", "sgd|adam|adamw|rmsprop",
     "the update rule (default: the blueprint's, else adam)", 0, 0},
    {"learning_rate", NS_SETTING_NUMBER, "null", NULL,
     "the (initial) learning rate (default: the blueprint's)", 0, 1e6},
    {"weight_decay", NS_SETTING_NUMBER, "null", NULL,
     "L2 penalty; decoupled for adamw (default: the blueprint's; adamw 0.01 when it says 0)", 0,
     1e6},
    {"momentum", NS_SETTING_NUMBER, "0", NULL, "sgd and rmsprop: momentum in [0, 1)", 0,
     0.999999999},
    {"dampening", NS_SETTING_NUMBER, "0", NULL, "sgd: dampening of the momentum", 0, 1},
    {"nesterov", NS_SETTING_BOOL, "false", NULL, "sgd: Nesterov momentum", 0, 0},
    {"betas", NS_SETTING_LIST, "[0.9, 0.999]", NULL,
     "adam and adamw: the decay rates of the moment averages, two numbers in [0, 1)", 0,
     0.999999999},
    {"eps", NS_SETTING_NUMBER, "1e-8", NULL, "adam, adamw and rmsprop: added to the denominator",
     1e-300, 1},
    {"amsgrad", NS_SETTING_BOOL, "false", NULL, "adam and adamw: the AMSGrad variant", 0, 0},
    {"alpha", NS_SETTING_NUMBER, "0.99", NULL, "rmsprop: the smoothing constant", 0, 0.999999999},
    {"centered", NS_SETTING_BOOL, "false", NULL, "rmsprop: the centered variant", 0, 0},
    /* the loss */
    {"loss", NS_SETTING_STRING, "null", "mse|mae|huber|cross_entropy|bce",
     "default: the blueprint's, else cross_entropy for class labels and mse otherwise", 0, 0},
    {"reduction", NS_SETTING_STRING, "\"mean\"", "mean|sum", "average or sum over the batch", 0, 0},
    {"huber_delta", NS_SETTING_NUMBER, "1.0", NULL, "huber: where it turns linear", 1e-12, 1e12},
    {"label_smoothing", NS_SETTING_NUMBER, "0", NULL, "cross_entropy: in [0, 1]", 0, 1},
    /* the schedule */
    {"schedule", NS_SETTING_STRING, "\"constant\"",
     "constant|step|multistep|exponential|cosine|warmup|onecycle|plateau",
     "how the learning rate changes: per epoch, onecycle per step, plateau on the monitored "
     "metric",
     0, 0},
    {"step_size", NS_SETTING_INT, "null", NULL, "step: epochs between drops (default epochs/3)", 1,
     1e9},
    {"gamma", NS_SETTING_NUMBER, "null", NULL,
     "step, multistep: the drop factor (0.1); exponential: the factor per epoch (0.95)", 1e-12,
     1e12},
    {"milestones", NS_SETTING_LIST, "null", NULL, "multistep: the epochs where the rate drops", 1,
     1e9},
    {"t_max", NS_SETTING_INT, "null", NULL,
     "cosine: the epochs of the half period (default "
     "epochs)",
     1, 1e9},
    {"eta_min", NS_SETTING_NUMBER, "0", NULL, "cosine: the lowest rate", 0, 1e6},
    {"start_factor", NS_SETTING_NUMBER, "0.333333333333333315", NULL,
     "warmup: the first epoch's factor of the rate", 1e-12, 1},
    {"end_factor", NS_SETTING_NUMBER, "1", NULL, "warmup: the last factor", 0, 1},
    {"total_iters", NS_SETTING_INT, "null", NULL,
     "warmup: epochs of the ramp (default "
     "epochs/10)",
     1, 1e9},
    {"max_lr", NS_SETTING_NUMBER, "0", NULL, "onecycle: the peak rate (0: the learning rate)", 0,
     1e6},
    {"total_steps", NS_SETTING_INT, "null", NULL,
     "onecycle: steps of the cycle (default epochs x batches)", 2, 2147483647},
    {"pct_start", NS_SETTING_NUMBER, "0.3", NULL, "onecycle: the rising part of the cycle", 1e-9,
     0.999999999},
    {"div_factor", NS_SETTING_NUMBER, "25", NULL, "onecycle: max_lr / initial rate", 1e-12, 1e12},
    {"final_div_factor", NS_SETTING_NUMBER, "10000", NULL, "onecycle: initial / final rate", 1e-12,
     1e12},
    {"anneal_strategy", NS_SETTING_STRING, "\"cos\"", "cos|linear", "onecycle: the annealing", 0,
     0},
    {"plateau_factor", NS_SETTING_NUMBER, "0.1", NULL, "plateau: the drop factor", 1e-12,
     0.999999999},
    {"plateau_patience", NS_SETTING_INT, "10", NULL,
     "plateau: epochs without improvement before a drop", 0, 1e9},
    {"threshold", NS_SETTING_NUMBER, "1e-4", NULL,
     "plateau: the relative improvement that "
     "counts",
     0, 1e12},
    {"cooldown", NS_SETTING_INT, "0", NULL, "plateau: epochs after a drop that do not count", 0,
     1e9},
    {"min_lr", NS_SETTING_NUMBER, "0", NULL, "plateau: the lowest rate", 0, 1e6},
    /* early stopping and clipping */
    {"early_stopping", NS_SETTING_INT, "0", NULL,
     "stop after this many epochs without improvement of monitor (0: off)", 0, 1e9},
    {"min_delta", NS_SETTING_NUMBER, "0", NULL, "an improvement must beat the best by more", 0,
     1e12},
    {"monitor", NS_SETTING_STRING, "\"val_loss\"", NULL,
     "the metric early stopping and plateau watch: val_loss, val_accuracy, loss, val_rmse, ...", 0,
     0},
    {"restore_best", NS_SETTING_BOOL, "false", NULL, "end with the weights of the best epoch", 0,
     0},
    {"gradient_clip", NS_SETTING_NUMBER, "0", NULL,
     "scale gradients to at most this global L2 norm (0: off)", 0, 1e12},
    {"clip_value", NS_SETTING_NUMBER, "0", NULL, "clamp each gradient to +-this (0: off)", 0, 1e12},
    /* the loop */
    {"epochs", NS_SETTING_INT, "null", NULL,
     "passes over the training rows (default: the "
     "blueprint's)",
     1, 1e9},
    {"batch_size", NS_SETTING_INT, "null", NULL, "rows per step (default: the blueprint's)", 1,
     1e7},
    {"shuffle", NS_SETTING_BOOL, "true", NULL, "a new row order every epoch", 0, 0},
    {"drop_last", NS_SETTING_BOOL, "false", NULL, "skip a final short batch", 0, 0},
    {"eval_batch", NS_SETTING_INT, "256", NULL,
     "rows per forward pass when scoring (and the largest batch the built model takes)", 1, 1e7},
    {"seed", NS_SETTING_INT, "null", NULL,
     "weights, dropout, split and shuffling (default 0; in a pipeline, the pipeline's seed)", 0,
     9.2233720368547748e18},
    /* the run: ns_run alone (the Train card takes the fit settings above) */
    /* the model */
    {"model", NS_SETTING_ANY, NULL, NULL,
     "the blueprint: a spec file (.json), a trained model file (.safetensors) whose weights "
     "are the start, a named blueprint (mlp), or a spec inline",
     0, 0},
    {"model_config", NS_SETTING_ANY, "null", NULL,
     "settings of a named blueprint: mlp takes {nodes: 64, layers: 2, activation: relu, "
     "dropout: 0}",
     0, 0},
    /* the data */
    {"data", NS_SETTING_STRING, NULL, NULL,
     "a built-in dataset name, a CSV file or an IDX images file", 0, 0},
    {"target", NS_SETTING_STRING, "null", NULL,
     "the target column(s) by name or 0-based index, comma-separated (default: the last)", 0, 0},
    {"task", NS_SETTING_STRING, "\"auto\"", "auto|classification|regression",
     "auto: text or few integer values make classes, otherwise regression", 0, 0},
    {"labels", NS_SETTING_STRING, "null", NULL,
     "an IDX labels file (default: found beside the images)", 0, 0},
    {"features", NS_SETTING_STRING, "null", NULL,
     "the feature columns, comma-separated names or indices, in this order (default: all but "
     "the targets)",
     0, 0},
    {"exclude", NS_SETTING_STRING, "null", NULL, "columns to leave out, comma-separated", 0, 0},
    {"one_hot", NS_SETTING_BOOL, "false", NULL,
     "a text feature column becomes one 0/1 column per category", 0, 0},
    {"delimiter", NS_SETTING_STRING, "null", NULL,
     "the CSV delimiter: one character, or tab (default: detected among , ; and tab)", 0, 0},
    {"no_header", NS_SETTING_BOOL, "false", NULL, "the CSV's first row is data", 0, 0},
    {"missing", NS_SETTING_STRING, "\"error\"", "error|drop|fill_mean",
     "what a missing CSV value does: an error, drop its row, or the column's mean", 0, 0},
    {"max_classes", NS_SETTING_INT, "20", NULL,
     "task auto: at most this many distinct integer values make classes", 2, 1e6},
    {"split", NS_SETTING_LIST, "[0.7, 0.15, 0.15]", NULL,
     "train, validation and test ratios (two or three, summing to 1; the test part is the "
     "data's official test set when it has one)",
     0, 1},
    {"seeds", NS_SETTING_LIST, "null", NULL,
     "train once per seed (the report gives the mean and standard deviation)", 0,
     9007199254740991.0},
    {"threads", NS_SETTING_INT, "null", NULL,
     "threads for training and evaluation (results are the same at any count)", 1, NS_MAX_THREADS},
    {"prefetch", NS_SETTING_INT, "0", NULL, "batches prepared ahead by a background thread", 0,
     1024},
    /* checkpoints and the record */
    {"checkpoint_dir", NS_SETTING_STRING, "null", NULL,
     "write checkpoints here (every checkpoint_every epochs, and at the end)", 0, 0},
    {"checkpoint_every", NS_SETTING_INT, "1", NULL, "epochs between checkpoints", 1, 1e9},
    {"checkpoint_steps", NS_SETTING_INT, "0", NULL, "also checkpoint every N steps (0: off)", 0,
     9007199254740991.0},
    {"resume", NS_SETTING_BOOL, "false", NULL,
     "continue from the newest checkpoint in checkpoint_dir (said, and started from the "
     "beginning, when there is none yet)",
     0, 0},
    {"output", NS_SETTING_STRING, "null", NULL,
     "the model file to write (default: RUN_DIR/model.safetensors)", 0, 0},
    {"run_dir", NS_SETTING_STRING, "null", NULL,
     "the run's record: settings, per-epoch metrics, results (default: runs/<time>-<data>; "
     "an existing one is refused unless resuming)",
     0, 0},
    /* training on from a model file (a fine-tune) */
    {"freeze", NS_SETTING_LIST, "null", NULL,
     "training on from a model file: the layers (by their number in the tensor names: 0 is "
     "0.weight and 0.bias) whose weights stay as they are",
     0, 1e6},
    {"new_head", NS_SETTING_BOOL, "false", NULL,
     "training on from a model file with another output size than the data's: a new, freshly "
     "initialised last layer; the other weights are loaded by name",
     0, 0},
    {"refit_normalization", NS_SETTING_BOOL, "false", NULL,
     "training on from a model file: fit the normalisation on the new data (default: keep the "
     "model's, which its weights were trained on)",
     0, 0},
};

/* Other names of settings: the names the seed's cards and run configs used, and group keys
 * ("optimizer_config.lr" is the key lr inside a mapping optimizer_config). */
static const char *const aliases[][2] = {
    {"model", "net"},
    {"model_config", "net_config"},
    {"target", "data_config.target"},
    {"task", "data_config.task"},
    {"labels", "data_config.labels"},
    {"features", "data_config.features"},
    {"exclude", "data_config.exclude"},
    {"one_hot", "data_config.one_hot"},
    {"delimiter", "data_config.delimiter|sep"},
    {"no_header", "data_config.no_header"},
    {"missing", "data_config.missing"},
    {"max_classes", "data_config.max_classes"},
    {"normalize", "normalization"},
    {"optimizer", "optimizer_type"},
    {"learning_rate", "lr|" OPT "lr|" OPT "learning_rate"},
    {"weight_decay", OPT "weight_decay"},
    {"momentum", OPT "momentum"},
    {"dampening", OPT "dampening"},
    {"nesterov", OPT "nesterov"},
    {"betas", OPT "betas"},
    {"eps", OPT "eps|" OPT "epsilon"},
    {"amsgrad", OPT "amsgrad"},
    {"alpha", OPT "alpha"},
    {"centered", OPT "centered"},
    {"loss", "loss_type"},
    {"schedule", "scheduler|lr_schedule"},
    {"step_size", SCH "step_size"},
    {"gamma", SCH "gamma"},
    {"milestones", SCH "milestones"},
    {"t_max", SCH "t_max"},
    {"eta_min", SCH "eta_min"},
    {"start_factor", SCH "start_factor"},
    {"end_factor", SCH "end_factor"},
    {"total_iters", SCH "total_iters|" SCH "warmup_epochs"},
    {"max_lr", SCH "max_lr"},
    {"total_steps", SCH "total_steps"},
    {"pct_start", SCH "pct_start"},
    {"div_factor", SCH "div_factor"},
    {"final_div_factor", SCH "final_div_factor"},
    {"anneal_strategy", SCH "anneal_strategy"},
    {"plateau_factor", SCH "factor"},
    {"plateau_patience", SCH "patience"},
    {"threshold", SCH "threshold"},
    {"cooldown", SCH "cooldown"},
    {"min_lr", SCH "min_lr"},
    {"early_stopping", "early_stop|patience|" ES "patience"},
    {"min_delta", ES "min_delta"},
    {"monitor", ES "monitor"},
    {"restore_best", ES "restore_best"},
    {"gradient_clip", "clip_norm|max_grad_norm"},
    {"eval_batch", "max_batch"},
    {"seed", "random_seed"},
    {"checkpoint_every", "checkpoint_epochs"},
};

#define settings ns__run_setting_table
#define N_SETTINGS ((int)(sizeof settings / sizeof settings[0]))

/* Files a run reads: relative paths in a file are taken from the file's directory. */
static const char *const input_paths[] = {"model", "data", "labels"};

struct ns_run_config {
    ns_ctx *ctx;
    json_t *values; /* canonical name -> value, only those given */
    json_t *cache;  /* canonical name -> default, every setting's */
    json_t *paths;  /* input paths given by the merge under way (name -> true) */
};

const char *ns_run_setting_aliases(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i][0], name) == 0)
            return aliases[i][1];
    return NULL;
}

static const char *const data_settings[] = {"data",      "target",  "task",       "labels",
                                            "features",  "exclude", "one_hot",    "delimiter",
                                            "no_header", "missing", "max_classes"};

const char *const *ns_run_data_settings(int *count)
{
    *count = (int)(sizeof data_settings / sizeof data_settings[0]);
    return data_settings;
}

bool ns_run_setting_is_data(const char *name)
{
    for (size_t i = 0; i < sizeof data_settings / sizeof data_settings[0]; i++)
        if (strcmp(data_settings[i], name) == 0)
            return true;
    return false;
}

const ns_setting_def *ns_run_settings(int *count)
{
    *count = N_SETTINGS;
    return settings;
}

const ns_setting_def *ns_run_setting_find(const char *name)
{
    for (int i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (ns__setting_choice_ok(aliases[i][1], name))
            return ns_run_setting_find(aliases[i][0]);
    return NULL;
}

ns_status ns_run_config_new(ns_ctx *ctx, ns_run_config **out)
{
    *out = NULL;
    ns_run_config *c = ns_calloc(ctx, 1, sizeof *c);
    if (c == NULL || (c->values = json_object()) == NULL || (c->cache = json_object()) == NULL ||
        (c->paths = json_object()) == NULL) {
        if (c != NULL) {
            json_decref(c->values);
            json_decref(c->cache);
        }
        ns_dealloc(ctx, c);
        return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
    }
    /* every default, parsed once: reading a config never changes it */
    for (int i = 0; i < N_SETTINGS; i++) {
        json_error_t err;
        json_t *d = settings[i].default_json
                        ? json_loads(settings[i].default_json, JSON_DECODE_ANY, &err)
                        : json_null();
        if (d == NULL || json_object_set_new(c->cache, settings[i].name, d) != 0) {
            c->ctx = ctx;
            ns_run_config_free(c);
            return ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
        }
    }
    c->ctx = ctx;
    *out = c;
    return NS_OK;
}

void ns_run_config_free(ns_run_config *c)
{
    if (c == NULL)
        return;
    json_decref(c->values);
    json_decref(c->cache);
    json_decref(c->paths);
    ns_dealloc(c->ctx, c);
}

ns_status ns_run_config_check(const ns_run_config *c)
{
    if (!ns_run_config_has(c, "model"))
        return ns_errorf(c->ctx, NS_ERR_INVALID,
                         "model: missing; give a spec file (.json), a model file "
                         "(.safetensors), a named blueprint (mlp) or a spec mapping");
    if (!ns_run_config_has(c, "data"))
        return ns_errorf(c->ctx, NS_ERR_INVALID,
                         "data: missing; give a built-in dataset name, a CSV file or an IDX "
                         "images file");
    if (ns_run_config_bool(c, "resume") && !ns_run_config_has(c, "checkpoint_dir"))
        return ns_errorf(c->ctx, NS_ERR_INVALID,
                         "resume: needs checkpoint_dir, the directory to resume from");
    double seeds[NS_RUN_MAX_SEEDS];
    int n = ns_run_config_list(c, "seeds", seeds, NS_RUN_MAX_SEEDS);
    if (n > 1 && ns_run_config_has(c, "output"))
        return ns_errorf(c->ctx, NS_ERR_INVALID,
                         "output: a run of %d seeds writes a model per seed, into "
                         "RUN_DIR/seed-N/model.safetensors; leave output out, or give one seed",
                         n);
    return NS_OK;
}

ns_ctx *ns_run_config_ctx(const ns_run_config *c)
{
    return c->ctx;
}

ns_status ns_run_config_copy(const ns_run_config *src, ns_run_config **out)
{
    ns_status st = ns_run_config_new(src->ctx, out);
    if (st != NS_OK)
        return st;
    if (json_object_update((*out)->values, src->values) != 0) {
        ns_run_config_free(*out);
        *out = NULL;
        return ns_errorf(src->ctx, NS_ERR_NOMEM, "out of memory");
    }
    return NS_OK;
}

/* The reader of settings from source ("run.yaml", "--epochs"): "SOURCE: NAME: what". */
static ns__json_reader reader(const ns_run_config *c, const char *source)
{
    return (ns__json_reader){c->ctx, source, NS_ERR_INVALID, NULL};
}

/* An unknown name: the message with a did-you-mean over names and aliases. */
static ns_status unknown(ns_run_config *c, const char *source, const char *key)
{
    const char *names[N_SETTINGS * 5];
    char storage[4096];
    size_t used = 0;
    int k = 0;
    for (int i = 0; i < N_SETTINGS; i++) {
        names[k++] = settings[i].name;
        for (const char *p = ns_run_setting_aliases(settings[i].name);
             p && *p && k < N_SETTINGS * 5;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            if (used + n + 1 <= sizeof storage) {
                memcpy(storage + used, p, n);
                storage[used + n] = '\0';
                names[k++] = storage + used;
                used += n + 1;
            }
            p += n + (bar != NULL);
        }
    }
    char hint[160], shown[NS__JR_SHOW_CAP];
    const ns__json_reader r = reader(c, source);
    return ns__jr_fail(&r, "",
                       "unknown setting '%s'%s; the settings are listed by 'netsmith train "
                       "--help' (and as a JSON schema by 'netsmith train --schema')",
                       ns__jr_show(shown, sizeof shown, key),
                       ns__did_you_mean(hint, sizeof hint, key, names, k));
}

/* Sets one setting from a JSON value (borrowed). key may be an alias. */
static ns_status set_value(ns_run_config *c, const char *source, const char *key, json_t *v)
{
    const ns_setting_def *s = ns_run_setting_find(key);
    if (s == NULL)
        return unknown(c, source, key);
    const ns__json_reader rd = reader(c, source), *r = &rd;
    char why[400];
    const char *bad = ns__setting_check(s, v, why, sizeof why);
    bool flag = strncmp(source, "--", 2) == 0;
    if (bad != NULL && (s->type == NS_SETTING_INT || s->type == NS_SETTING_NUMBER)) {
        char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *g = got ? got : "?";
        size_t gl = strlen(g);
        bool quoted = gl >= 2 && g[0] == '"';
        snprintf(why, sizeof why, "expected %s in [%.15g, %.15g], got '%.*s'",
                 s->type == NS_SETTING_INT ? "an integer" : "a number",
                 s->min < s->max ? s->min : -HUGE_VAL, s->min < s->max ? s->max : HUGE_VAL,
                 (int)(quoted ? gl - 2 : gl), quoted ? g + 1 : g);
        free(got);
    }
    if (bad != NULL) /* a flag names itself */
        return ns__jr_fail(r, flag ? "" : key, "%s", why);
    /* Shapes the table cannot say. */
    if (strcmp(s->name, "split") == 0 && json_is_array(v) &&
        (json_array_size(v) < 2 || json_array_size(v) > 3))
        return ns__jr_fail(r, "split",
                           "must be [train, val] or [train, val, test] ratios, not %zu numbers",
                           json_array_size(v));
    if (strcmp(s->name, "split") == 0 && json_is_array(v)) {
        double sum = 0, ratio[3] = {0, 0, 0};
        for (size_t i = 0; i < json_array_size(v); i++)
            sum += ratio[i] = json_number_value(json_array_get(v, i));
        if (fabs(sum - 1.0) > 1e-6)
            return ns__jr_fail(r, "split",
                               "the ratios %g, %g, %g sum to %g, not 1; give ratios that sum to "
                               "1, like 0.7,0.15,0.15",
                               ratio[0], ratio[1], ratio[2], sum);
        if (!(ratio[0] > 0))
            return ns__jr_fail(r, "split", "the training ratio must be above 0");
    }
    if (strcmp(s->name, "betas") == 0 && json_is_array(v) && json_array_size(v) != 2)
        return ns__jr_fail(r, "betas", "must be two numbers [beta1, beta2], like [0.9, 0.999]");
    if (strcmp(s->name, "seeds") == 0 && json_is_array(v)) {
        if (json_array_size(v) < 1 || json_array_size(v) > NS_RUN_MAX_SEEDS)
            return ns__jr_fail(r, "seeds", "must list 1 to %d seeds, not %zu", NS_RUN_MAX_SEEDS,
                               json_array_size(v));
        for (size_t i = 0; i < json_array_size(v); i++) {
            double x = json_number_value(json_array_get(v, i));
            if (x != floor(x))
                return ns__jr_fail(r, "", "seeds[%zu] is %.15g; every seed is a whole number", i,
                                   x);
            for (size_t k = 0; k < i; k++)
                if (json_number_value(json_array_get(v, k)) == x)
                    return ns__jr_fail(r, "", "seeds[%zu] repeats seed %.15g; give each seed once",
                                       i, x);
        }
    }
    if (strcmp(s->name, "milestones") == 0 && json_is_array(v) &&
        json_array_size(v) > NS_SCHED_MAX_MILESTONES)
        return ns__jr_fail(r, "milestones", "holds at most %d epochs", NS_SCHED_MAX_MILESTONES);
    if (strcmp(s->name, "model") == 0 && !json_is_string(v) && !json_is_object(v))
        return ns__jr_fail(r, "model",
                           "must be a file name, a named blueprint (mlp) or a spec mapping");
    if (strcmp(s->name, "model_config") == 0 && !json_is_object(v) && !json_is_null(v))
        return ns__jr_fail(r, "model_config", "must be a mapping like {nodes: 64, layers: 2}");
    json_t *copy = json_deep_copy(v);
    if (copy == NULL || json_object_set_new(c->values, s->name, copy) != 0)
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof input_paths / sizeof input_paths[0]; i++)
        if (strcmp(input_paths[i], s->name) == 0 &&
            json_object_set_new(c->paths, s->name, json_true()) != 0)
            return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory");
    return NS_OK;
}

ns_status ns_run_config_set(ns_run_config *c, const char *name, const char *json_value,
                            const char *source)
{
    /* the value's syntax errors name the setting: "SOURCE: NAME:1:4: what" */
    char where[256];
    snprintf(where, sizeof where, "%.120s: %.120s", source, name);
    const ns__json_reader text = {c->ctx, where, NS_ERR_PARSE, NULL};
    json_t *v = NULL;
    ns_status st = ns__jr_load(&text, json_value, strlen(json_value), &v);
    if (st != NS_OK)
        return st;
    st = set_value(c, source, name, v);
    json_decref(v);
    return st;
}

/* Strict number parsing of a flag value (C locale; no trailing text). */
static bool parse_number(const char *t, double *out)
{
    char *end;
    errno = 0;
    double x = ns__strtod(t, &end);
    if (end == t || *end != '\0' || errno == ERANGE || !isfinite(x))
        return false;
    *out = x;
    return true;
}

ns_status ns_run_config_set_text(ns_run_config *c, const char *name, const char *text,
                                 const char *source)
{
    const ns_setting_def *s = ns_run_setting_find(name);
    if (s == NULL)
        return unknown(c, source, name);
    json_t *v = NULL;
    double x;
    switch (s->type) {
    case NS_SETTING_INT:
    case NS_SETTING_NUMBER:
        if (!parse_number(text, &x))
            return ns_errorf(c->ctx, NS_ERR_INVALID, "%s: expected %s in [%.15g, %.15g], got '%s'",
                             source, s->type == NS_SETTING_INT ? "an integer" : "a number",
                             s->min < s->max ? s->min : -HUGE_VAL,
                             s->min < s->max ? s->max : HUGE_VAL, text);
        v = s->type == NS_SETTING_INT && x == floor(x) && fabs(x) < 9e15
                ? json_integer((json_int_t)x)
                : json_real(x);
        break;
    case NS_SETTING_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0)
            v = json_true();
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0)
            v = json_false();
        else
            return ns_errorf(c->ctx, NS_ERR_INVALID, "%s: must be true or false, not '%s'", source,
                             text);
        break;
    case NS_SETTING_LIST: {
        v = json_array();
        /* "0.9,0.99", also written as a list: "[0.9, 0.99]" */
        char inner[512];
        size_t tl = strlen(text);
        if (tl >= 2 && tl < sizeof inner && text[0] == '[' && text[tl - 1] == ']') {
            size_t k = 0;
            for (size_t i = 1; i + 1 < tl; i++)
                if (text[i] != ' ')
                    inner[k++] = text[i];
            inner[k] = '\0';
            text = inner;
        }
        const char *p = text;
        for (int i = 0; v != NULL; i++) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            char part[64];
            if (n == 0 || n >= sizeof part) {
                json_decref(v);
                return ns_errorf(c->ctx, NS_ERR_INVALID,
                                 "%s: must be comma-separated numbers like 0.7,0.15,0.15, "
                                 "not '%s'",
                                 source, text);
            }
            memcpy(part, p, n);
            part[n] = '\0';
            if (!parse_number(part, &x)) {
                json_decref(v);
                return ns_errorf(c->ctx, NS_ERR_INVALID, "%s: element %d ('%s') is not a number",
                                 source, i + 1, part);
            }
            json_array_append_new(v, x == floor(x) && fabs(x) < 9e15 ? json_integer((json_int_t)x)
                                                                     : json_real(x));
            if (comma == NULL)
                break;
            p = comma + 1;
        }
        break;
    }
    case NS_SETTING_ANY:
        /* a mapping given inline ({...}) is JSON, anything else a name */
        if (text[0] == '{') { /* JSON, or YAML's flow style: {nodes: 32, layers: 2} */
            char *json = NULL;
            ns_status st = ns_yaml_to_json(c->ctx, text, strlen(text), source, &json);
            if (st != NS_OK)
                return st;
            const ns__json_reader r = {c->ctx, source, NS_ERR_PARSE, NULL};
            st = ns__jr_load(&r, json, strlen(json), &v);
            ns_dealloc(c->ctx, json);
            if (st != NS_OK)
                return st;
        } else {
            v = json_string(text);
        }
        break;
    default:
        v = json_string(text);
        break;
    }
    if (v == NULL)
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory");
    ns_status st = set_value(c, source, name, v);
    json_decref(v);
    return st;
}

static bool is_group(const char *key)
{
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(groups[i], key) == 0)
            return true;
    return false;
}

/* A relative input path in a file in base_dir is taken from base_dir: one rule, a pipeline's.
 * Names that are not files stay: a built-in dataset (data: iris) and a named blueprint
 * (model: mlp). A path that names no file there but does from the current directory (a config
 * written for the old rule) is an error saying how to write it. */
static ns_status rebase(ns_run_config *c, const char *name, const char *base_dir,
                        const char *source)
{
    json_t *v = json_object_get(c->values, name);
    if (v == NULL || !json_is_string(v) || base_dir == NULL || base_dir[0] == '\0')
        return NS_OK;
    const char *p = json_string_value(v);
    if (p[0] == '/' || p[0] == '\0')
        return NS_OK;
    if (strcmp(name, "data") == 0 && ns_data_builtin_find(p) != NULL)
        return NS_OK;
    if (strcmp(name, "model") == 0 &&
        (strcmp(p, "mlp") == 0 || strcmp(p, "deep_neural_network") == 0))
        return NS_OK;
    size_t n = strlen(base_dir) + strlen(p) + 2;
    char *joined = ns_alloc(c->ctx, n);
    if (joined == NULL)
        return ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory");
    snprintf(joined, n, "%s/%s", base_dir, p);
    struct stat sb;
    ns_status st = NS_OK;
    if (stat(joined, &sb) != 0 && stat(p, &sb) == 0)
        st = ns_errorf(c->ctx, NS_ERR_NOTFOUND,
                       "%s: %s: '%s' is no file in %s/, the config's directory, where the files "
                       "a run config reads are found; give the path from there, or an absolute "
                       "one",
                       source, name, p, base_dir);
    else if (json_object_set_new(c->values, name, json_string(joined)) != 0)
        st = ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory");
    ns_dealloc(c->ctx, joined);
    return st;
}

ns_status ns__run_config_merge_json(ns_run_config *c, json_t *obj, const char *source,
                                    const char *base_dir)
{
    json_object_clear(c->paths);
    const ns__json_reader r = reader(c, source);
    char got[NS__JR_GOT_CAP], shown[NS__JR_SHOW_CAP];
    if (!json_is_object(obj))
        return ns__jr_fail(&r, "",
                           "a run config is a mapping of settings (epochs: 10, ...), got %s",
                           ns__jr_describe(got, sizeof got, obj));
    const char *key;
    json_t *v;
    char where[600], alias[160];
    json_object_foreach(obj, key, v)
    {
        ns_status st;
        /* "early_stopping: 10" is the setting; "early_stopping: {patience: 10}" the group */
        if (is_group(key) && json_is_object(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                snprintf(alias, sizeof alias, "%.70s.%.70s", key, k2);
                snprintf(where, sizeof where, "%.400s", source);
                const ns_setting_def *s = ns_run_setting_find(alias);
                if (s == NULL)
                    return ns__jr_fail(&r, "",
                                       "unknown setting '%s' in %s; see 'netsmith train --help' "
                                       "for what %s holds",
                                       ns__jr_show(shown, sizeof shown, k2), key, key);
                st = set_value(c, where, alias, v2);
                if (st != NS_OK)
                    return st;
            }
            continue;
        }
        st = set_value(c, source, key, v);
        if (st != NS_OK)
            return st;
    }
    /* the input paths this mapping gave, under any name or in a group */
    const char *name;
    json_t *flag;
    json_object_foreach(c->paths, name, flag)
    {
        ns_status st = rebase(c, name, base_dir, source);
        if (st != NS_OK)
            return st;
    }
    return NS_OK;
}

ns_status ns_run_config_merge(ns_run_config *c, const char *json_object_text, const char *source)
{
    const ns__json_reader r = {c->ctx, source, NS_ERR_PARSE, NULL};
    json_t *obj = NULL;
    /* a key given twice: the later value wins, as with two calls */
    ns_status st = ns__jr_load_last_wins(&r, json_object_text, strlen(json_object_text), &obj);
    if (st != NS_OK)
        return st;
    st = ns__run_config_merge_json(c, obj, source, NULL);
    json_decref(obj);
    return st;
}

ns_status ns_run_config_load(ns_run_config *c, const char *path)
{
    char *text = NULL, *json = NULL;
    size_t len = 0;
    ns_status st = ns_read_file(c->ctx, path, &text, &len);
    if (st == NS_OK)
        st = ns_yaml_to_json(c->ctx, text, len, path, &json);
    ns_dealloc(c->ctx, text);
    if (st != NS_OK)
        return st;
    /* the YAML reader has checked the syntax (with the file's lines) and writes valid JSON */
    const ns__json_reader r = {c->ctx, path, NS_ERR_PARSE, NULL};
    json_t *obj = NULL;
    st = ns__jr_load(&r, json, strlen(json), &obj);
    ns_dealloc(c->ctx, json);
    if (st != NS_OK)
        return st;
    /* relative input paths are taken from the file's directory */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        dir[0] = '\0';
    st = ns__run_config_merge_json(c, obj, path, dir);
    json_decref(obj);
    return st;
}

/* ---- reading ----------------------------------------------------------------------------------
 */

bool ns_run_config_has(const ns_run_config *c, const char *name)
{
    json_t *v = json_object_get(c->values, name);
    return v != NULL && !json_is_null(v);
}

/* A setting's value: given, or its default; NULL when neither. */
static json_t *value_of(const ns_run_config *c, const char *name)
{
    json_t *v = json_object_get(c->values, name);
    if (v == NULL)
        v = json_object_get(c->cache, name);
    NS_ASSERT(v != NULL || ns_run_setting_find(name) == NULL);
    return v == NULL || json_is_null(v) ? NULL : v;
}

const json_t *ns__run_config_get(const ns_run_config *c, const char *name)
{
    return value_of(c, name);
}

int64_t ns_run_config_int(const ns_run_config *c, const char *name)
{
    json_t *v = value_of(c, name);
    return v == NULL            ? 0
           : json_is_integer(v) ? (int64_t)json_integer_value(v)
                                : (int64_t)json_number_value(v);
}

double ns_run_config_number(const ns_run_config *c, const char *name)
{
    json_t *v = value_of(c, name);
    return v == NULL ? 0 : json_number_value(v);
}

bool ns_run_config_bool(const ns_run_config *c, const char *name)
{
    json_t *v = value_of(c, name);
    return v != NULL && json_is_true(v);
}

const char *ns_run_config_string(const ns_run_config *c, const char *name)
{
    json_t *v = value_of(c, name);
    return v != NULL && json_is_string(v) ? json_string_value(v) : "";
}

int ns_run_config_list(const ns_run_config *c, const char *name, double *out, int cap)
{
    json_t *v = value_of(c, name);
    if (v == NULL || !json_is_array(v))
        return -1;
    int n = (int)json_array_size(v);
    for (int i = 0; i < n && i < cap; i++)
        out[i] = json_number_value(json_array_get(v, i));
    return n;
}

ns_status ns_run_config_to_json(const ns_run_config *c, char **json)
{
    char *text = json_dumps(c->values, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    *json = text ? ns_strdup(c->ctx, text) : NULL;
    free(text);
    return *json ? NS_OK : ns_errorf(c->ctx, NS_ERR_NOMEM, "out of memory");
}

ns_status ns_run_config_schema(ns_ctx *ctx, char **json)
{
    json_t *props = json_object(), *req = json_array();
    for (int i = 0; i < N_SETTINGS; i++) {
        json_object_set_new(
            props, settings[i].name,
            ns__setting_schema(&settings[i], ns_run_setting_aliases(settings[i].name)));
        if (settings[i].default_json == NULL)
            json_array_append_new(req, json_string(settings[i].name));
    }
    json_t *schema = json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "$schema",
                               "https://json-schema.org/draft/2020-12/schema", "title",
                               "netsmith run config", "type", "object", "properties", props,
                               "required", req, "additionalProperties", 0);
    char *text = schema ? json_dumps(schema, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(schema);
    *json = text ? ns_strdup(ctx, text) : NULL;
    free(text);
    return *json ? NS_OK : ns_errorf(ctx, NS_ERR_NOMEM, "out of memory");
}
