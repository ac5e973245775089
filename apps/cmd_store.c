/* netsmith arch | data | model | job | worker: the registry and the job queue from the command
 * line (netsmith/store.h). Every command takes --store URL (default: $NETSMITH_STORE, else
 * sqlite:netsmith.db) and --json (the store's JSON instead of text). */
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "netsmith/store.h"

int open_session(session *s, const cli_args *a, const char *cmd)
{
    s->cmd = cmd;
    s->store = NULL;
    if (ns_ctx_new(NULL, &s->ctx) != NS_OK) {
        cli_error(cmd, "out of memory");
        return CLI_ERROR;
    }
    if (ns_store_open(s->ctx, cli_get(a, "--store"), &s->store) != NS_OK) {
        int rc = cli_fail(cmd, s->ctx);
        ns_ctx_free(s->ctx);
        s->ctx = NULL;
        return rc;
    }
    return CLI_OK;
}

void close_session(session *s)
{
    ns_store_close(s->store);
    ns_ctx_free(s->ctx);
}

/* Prints text (the store's JSON) and frees it; CLI_OK, or the failure of st. */
static int print_json(session *s, ns_status st, char *text)
{
    if (st != NS_OK)
        return cli_fail(s->cmd, s->ctx);
    printf("%s\n", text);
    ns_dealloc(s->ctx, text);
    return CLI_OK;
}

static json_t *load(const char *text)
{
    json_error_t e;
    return text != NULL ? json_loads(text, 0, &e) : NULL;
}

static const char *when(double t, char *buf, size_t cap)
{
    if (t <= 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* "netsmith CMD SUB": the first positional argument names the subcommand. */
static int need_sub(const cli_args *a, const char *cmd, const char *const *subs, int n)
{
    for (int i = 0; a->n_pos > 0 && i < n; i++)
        if (strcmp(a->pos[0], subs[i]) == 0)
            return i;
    char list[160] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", subs[i]);
    if (a->n_pos == 0)
        cli_error(cmd, "say what to do: %s (see 'netsmith %s --help')", list, cmd);
    else
        cli_error(cmd, "unknown command '%s'; use %s", a->pos[0], list);
    return -1;
}

/* The subcommand (its index in subs[n]) when it has its npos[i] positional arguments (the
 * subcommand's own name included), else -1 after a message showing forms[i]. */
static int parse_sub(const cli_args *a, const char *cmd, const char *const *subs, const int *npos,
                     const char *const *forms, int n)
{
    int sub = need_sub(a, cmd, subs, n);
    if (sub >= 0 && a->n_pos != npos[sub]) {
        cli_error(cmd, "expected %s", forms[sub]);
        return -1;
    }
    return sub;
}

/* ---- arch ---------------------------------------------------------------------------------- */

int cmd_arch(int argc, char **argv)
{
    static const char arch_usage[] = "add NAME SPEC.json | list | show NAME [--input-size N | "
                                     "--input-shape C,H,W] [--store URL] [--json]";
    static const char arch_about[] =
        "Architectures: named model specs (either form) in the store, kept by content hash.\n"
        "'show' prints the layers, each layer's output shape and the parameter count for an\n"
        "input size.";
    cli_flag flags[] = {STORE_FLAG,
                        JSON_FLAG,
                        {"--input-size", NULL, "N", "features per sample (show)", NULL},
                        {"--input-shape", NULL, "C,H,W", "the shape of a sample (show)", NULL},
                        {"--output-size", NULL, "K", "outputs (show; default: the spec's)", NULL}};
    cli_args a = {"arch", flags, 5, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, arch_usage, arch_about, &done);
    if (rc != CLI_OK || done)
        return rc;
    static const char *const subs[] = {"add", "list", "show"};
    static const int npos[] = {3, 1, 2};
    static const char *const forms[] = {"arch add NAME SPEC.json", "arch list", "arch show NAME"};
    int sub = parse_sub(&a, "arch", subs, npos, forms, 3);
    if (sub < 0)
        return CLI_USAGE;
    session s;
    if ((rc = open_session(&s, &a, "arch")) != CLI_OK)
        return rc;
    char *text = NULL;
    if (sub == 0) {
        size_t n = 0;
        if (ns_read_file(s.ctx, a.pos[2], &text, &n) != NS_OK ||
            ns_store_arch_add(s.store, a.pos[1], text, a.pos[2]) != NS_OK) {
            rc = cli_fail("arch", s.ctx);
        } else {
            printf("architecture %s added\n", a.pos[1]);
        }
        ns_dealloc(s.ctx, text);
    } else if (sub == 1) {
        ns_status st = ns_store_arch_list(s.store, &text);
        if (cli_has(&a, "--json") || st != NS_OK) {
            rc = print_json(&s, st, text);
        } else {
            json_t *all = load(text);
            size_t i;
            json_t *v;
            char buf[32];
            printf("%-24s %-14s %s\n", "name", "hash", "added");
            json_array_foreach(all, i, v)
                printf("%-24s %-14.12s %s\n", json_string_value(json_object_get(v, "name")),
                       json_string_value(json_object_get(v, "hash")),
                       when(json_real_value(json_object_get(v, "created")), buf, sizeof buf));
            json_decref(all);
            ns_dealloc(s.ctx, text);
        }
    } else {
        ns_status st = ns_store_arch_get(s.store, a.pos[1], &text);
        if (cli_has(&a, "--json") || st != NS_OK) {
            rc = print_json(&s, st, text);
        } else {
            json_t *j = load(text);
            char *spec_text = json_dumps(json_object_get(j, "spec"), JSON_COMPACT);
            ns_spec *spec = NULL;
            ns_build_opts bo;
            bool have_input = false;
            rc = cli_input_shape(&a, false, &bo, &have_input);
            long long outputs = 0;
            if (rc == CLI_OK && cli_has(&a, "--output-size") &&
                !cli_int(&a, "--output-size", 1, 1 << 24, &outputs))
                rc = CLI_USAGE;
            bo.output_size = (int)outputs;
            if (rc == CLI_OK &&
                ns_spec_parse(s.ctx, spec_text, strlen(spec_text), a.pos[1], &spec) != NS_OK)
                rc = cli_fail("arch", s.ctx);
            if (rc == CLI_OK) {
                char title[160];
                snprintf(title, sizeof title, "architecture %s, hash %.12s", a.pos[1],
                         json_string_value(json_object_get(j, "hash")));
                rc = cli_print_spec(s.ctx, "arch", title, spec, &bo, have_input);
            }
            ns_spec_free(spec);
            free(spec_text);
            json_decref(j);
            ns_dealloc(s.ctx, text);
        }
    }
    close_session(&s);
    return rc;
}

/* ---- data ---------------------------------------------------------------------------------- */

int cmd_data(int argc, char **argv)
{
    static const char data_usage[] =
        "add NAME --data DATA [--target COL ...] | list | show NAME [--store URL] [--json]";
    static const char data_about[] =
        "Datasets: named data sources in the store (a built-in, or a CSV or IDX file, whose\n"
        "bytes go into the store with their hash so that a worker elsewhere reads the same),\n"
        "with their read options. Jobs train on them by name.";
    cli_flag flags[] = {
        STORE_FLAG,
        JSON_FLAG,
        {"--data", NULL, "DATA", "a built-in dataset's name, a CSV or an IDX file", NULL},
        {"--target", NULL, "COLS", "the target column(s)", NULL},
        {"--task", NULL, "TASK", "classification, regression or auto", NULL},
        {"--labels", NULL, "FILE", "an IDX images file's labels", NULL},
        {"--no-header", NULL, NULL, "the CSV's first row is data", NULL},
        {"--max-classes", NULL, "N", "task auto: integer values as classes", NULL},
        {"--pipeline", NULL, "FILE.yaml", "or a pipeline that makes the data, with --output", NULL},
        {"--output", NULL, "CARD.PORT", "the pipeline's dataset output, e.g. split.train_dataset",
         NULL},
        CLI_DATA_FLAGS};
    int nf = (int)(sizeof flags / sizeof flags[0]);
    cli_data_help(flags, nf);
    cli_args a = {"data", flags, nf, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, data_usage, data_about, &done);
    if (rc != CLI_OK || done)
        return rc;
    static const char *const subs[] = {"add", "list", "show"};
    static const int npos[] = {2, 1, 2};
    static const char *const forms[] = {"data add NAME --data DATA", "data list", "data show NAME"};
    int sub = parse_sub(&a, "data", subs, npos, forms, 3);
    if (sub < 0)
        return CLI_USAGE;
    if (sub == 0 && cli_has(&a, "--data") == cli_has(&a, "--pipeline")) {
        cli_error("data", "data add needs --data DATA (a built-in name, a CSV or an IDX file) or "
                          "--pipeline FILE.yaml --output CARD.PORT");
        return CLI_USAGE;
    }
    if (sub == 0 && cli_has(&a, "--pipeline") != cli_has(&a, "--output")) {
        cli_error("data", "--pipeline and --output go together: the pipeline and its dataset "
                          "output (e.g. split.train_dataset)");
        return CLI_USAGE;
    }
    session s;
    if ((rc = open_session(&s, &a, "data")) != CLI_OK)
        return rc;
    char *text = NULL;
    if (sub == 0 && cli_has(&a, "--pipeline")) {
        size_t n = 0;
        json_t *src = NULL;
        if (ns_read_file(s.ctx, cli_get(&a, "--pipeline"), &text, &n) == NS_OK)
            src = json_pack("{s:s%, s:s}", "pipeline", text, n, "output", cli_get(&a, "--output"));
        char *j = src != NULL ? json_dumps(src, JSON_COMPACT) : NULL;
        if (j == NULL || ns_store_data_add(s.store, a.pos[1], j) != NS_OK)
            rc = cli_fail("data", s.ctx);
        else
            printf("dataset %s added (made by %s)\n", a.pos[1], cli_get(&a, "--pipeline"));
        free(j);
        json_decref(src);
        ns_dealloc(s.ctx, text);
        text = NULL;
    } else if (sub == 0) {
        /* the read options by their run setting names */
        json_t *src = json_object();
        static const char *const keys[][2] = {
            {"--data", "data"},           {"--target", "target"},     {"--task", "task"},
            {"--labels", "labels"},       {"--features", "features"}, {"--exclude", "exclude"},
            {"--delimiter", "delimiter"}, {"--missing", "missing"}};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (cli_has(&a, keys[i][0]))
                json_object_set_new(src, keys[i][1], json_string(cli_get(&a, keys[i][0])));
        if (cli_has(&a, "--one-hot"))
            json_object_set_new(src, "one_hot", json_true());
        if (cli_has(&a, "--no-header"))
            json_object_set_new(src, "no_header", json_true());
        long long mc = 0;
        if (cli_has(&a, "--max-classes")) {
            if (!cli_int(&a, "--max-classes", 2, 1000000, &mc)) {
                json_decref(src);
                close_session(&s);
                return CLI_USAGE;
            }
            json_object_set_new(src, "max_classes", json_integer(mc));
        }
        char *j = json_dumps(src, JSON_COMPACT);
        json_decref(src);
        if (j == NULL || ns_store_data_add(s.store, a.pos[1], j) != NS_OK)
            rc = cli_fail("data", s.ctx);
        else
            printf("dataset %s added\n", a.pos[1]);
        free(j);
    } else if (sub == 1) {
        ns_status st = ns_store_data_list(s.store, &text);
        if (cli_has(&a, "--json") || st != NS_OK) {
            rc = print_json(&s, st, text);
        } else {
            json_t *all = load(text);
            size_t i;
            json_t *v;
            printf("%-24s %-14s %s\n", "name", "hash", "data");
            json_array_foreach(all, i, v)
                printf("%-24s %-14.12s %s%s\n", json_string_value(json_object_get(v, "name")),
                       json_string_value(json_object_get(v, "hash")),
                       json_string_value(json_object_get(json_object_get(v, "source"), "data")),
                       json_is_string(json_object_get(v, "blob")) ? " (in the store)" : "");
            json_decref(all);
            ns_dealloc(s.ctx, text);
        }
    } else {
        ns_status st = ns_store_data_get(s.store, a.pos[1], &text);
        rc = print_json(&s, st, text);
    }
    close_session(&s);
    return rc;
}

/* ---- model --------------------------------------------------------------------------------- */

static void print_model(const json_t *m)
{
    printf("model %s (architecture %s)\n", json_string_value(json_object_get(m, "name")),
           json_string_value(json_object_get(m, "arch")));
    json_t *versions = json_object_get(m, "versions");
    if (json_array_size(versions) == 0) {
        printf("  no versions yet: train it (netsmith job submit train --model %s --data NAME) "
               "or import one (netsmith model import)\n",
               json_string_value(json_object_get(m, "name")));
        return;
    }
    printf("  %-8s %-14s %-8s %-16s %s\n", "version", "weights", "job", "parent", "metrics");
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        char *metrics = json_dumps(json_object_get(v, "metrics"), JSON_COMPACT | JSON_ENCODE_ANY);
        json_t *job = json_object_get(v, "job");
        char jobtxt[24] = "import";
        if (json_is_integer(job))
            snprintf(jobtxt, sizeof jobtxt, "%lld", (long long)json_integer_value(job));
        printf("  %-8lld %-14.12s %-8s %-16s %s\n",
               (long long)json_integer_value(json_object_get(v, "version")),
               json_string_value(json_object_get(v, "weights")), jobtxt,
               json_is_string(json_object_get(v, "parent"))
                   ? json_string_value(json_object_get(v, "parent"))
                   : "-",
               metrics != NULL ? metrics : "null");
        free(metrics);
    }
    const char *alias;
    json_t *num;
    json_object_foreach(json_object_get(m, "aliases"), alias, num)
        printf("  @%s -> version %lld\n", alias, (long long)json_integer_value(num));
}

int cmd_model(int argc, char **argv)
{
    static const char model_usage[] =
        "create NAME --arch ARCH | list | show NAME | import NAME FILE.safetensors | export "
        "NAME[@VERSION|@ALIAS] -o FILE [--format safetensors|onnx|c] | alias NAME@VERSION ALIAS "
        "[--store URL] [--json]";
    static const char model_about[] =
        "Models: named instances of an architecture, with versions (weights, the run record,\n"
        "the job that made each and the version it was fine-tuned from) and aliases.\n"
        "export writes a version's weights file (.safetensors), or exports it as `netsmith\n"
        "export` does: --format onnx or c, or FILE named .onnx or .c.";
    cli_flag flags[] = {STORE_FLAG,
                        JSON_FLAG,
                        {"--arch", NULL, "ARCH", "the architecture (create)", NULL},
                        {"--output", "-o", "FILE", "the file to write (export)", NULL},
                        EXPORT_FLAGS};
    cli_args a = {"model", flags, (int)(sizeof flags / sizeof flags[0]), {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, model_usage, model_about, &done);
    if (rc != CLI_OK || done)
        return rc;
    static const char *const subs[] = {"create", "list", "show", "import", "export", "alias"};
    static const int npos[] = {2, 1, 2, 3, 2, 3};
    static const char *const forms[] = {"model create NAME --arch ARCH",
                                        "model list",
                                        "model show NAME",
                                        "model import NAME FILE.safetensors",
                                        "model export NAME[@VERSION] -o FILE",
                                        "model alias NAME@VERSION ALIAS"};
    int sub = parse_sub(&a, "model", subs, npos, forms, 6);
    if (sub < 0)
        return CLI_USAGE;
    if ((sub == 0 && !cli_has(&a, "--arch")) || (sub == 4 && !cli_has(&a, "--output"))) {
        cli_error("model", "expected %s", forms[sub]);
        return CLI_USAGE;
    }
    session s;
    if ((rc = open_session(&s, &a, "model")) != CLI_OK)
        return rc;
    char *text = NULL;
    ns_status st = NS_OK;
    switch (sub) {
    case 0:
        if ((st = ns_store_model_create(s.store, a.pos[1], cli_get(&a, "--arch"))) == NS_OK)
            printf("model %s created (architecture %s)\n", a.pos[1], cli_get(&a, "--arch"));
        break;
    case 1:
    case 2:
        st = sub == 1 ? ns_store_model_list(s.store, &text)
                      : ns_store_model_get(s.store, a.pos[1], &text);
        if (st == NS_OK && cli_has(&a, "--json")) {
            printf("%s\n", text);
        } else if (st == NS_OK) {
            json_t *j = load(text);
            if (sub == 2) {
                print_model(j);
            } else {
                size_t i;
                json_t *m;
                json_array_foreach(j, i, m) printf("%-24s %-20s %zu versions\n",
                                                   json_string_value(json_object_get(m, "name")),
                                                   json_string_value(json_object_get(m, "arch")),
                                                   json_array_size(json_object_get(m, "versions")));
            }
            json_decref(j);
        }
        ns_dealloc(s.ctx, text);
        break;
    case 3: {
        int v = 0;
        if ((st = ns_store_model_import(s.store, a.pos[1], a.pos[2], &v)) == NS_OK)
            printf("%s imported as %s@%d\n", a.pos[2], a.pos[1], v);
        break;
    }
    case 4: {
        const char *out = cli_get(&a, "--output"), *format = cli_get(&a, "--format");
        ns_export_format f;
        ns_store_version v;
        if ((format != NULL && strcmp(format, "safetensors") == 0) ||
            (format == NULL && !ns_export_format_of_path(out, &f))) {
            if (cli_has(&a, "--opset") || cli_has(&a, "--name")) {
                cli_error("model", "--opset and --name are export settings; a safetensors "
                                   "file takes neither (export with --format onnx or c)");
                rc = CLI_USAGE;
                break;
            }
            if ((st = ns_store_version_get(s.store, a.pos[1], &v)) == NS_OK &&
                (st = ns_store_blob_get_file(s.store, v.weights, out)) == NS_OK)
                printf("%s@%d written to %s\n", v.model, v.version, out);
            break;
        }
        ns_export_options o;
        if ((rc = cli_export_options(&a, "model", out, s.ctx, &o)) != CLI_OK)
            break;
        ns_model *model = NULL;
        ns_model_info info;
        char written[2][4096], what[96];
        if ((st = ns_store_version_load(s.store, a.pos[1], s.ctx, &model, &info, &v)) == NS_OK &&
            (st = ns_export_write(s.ctx, model, &info, &o, out, written)) == NS_OK) {
            snprintf(what, sizeof what, "%s@%d", v.model, v.version);
            cli_export_report(what, written);
        }
        ns_model_info_deinit(s.ctx, &info);
        ns_model_free(model);
        break;
    }
    default:
        if ((st = ns_store_alias_set(s.store, a.pos[1], a.pos[2])) == NS_OK)
            printf("@%s now points at %s\n", a.pos[2], a.pos[1]);
        break;
    }
    if (st != NS_OK)
        rc = cli_fail("model", s.ctx);
    close_session(&s);
    return rc;
}

/* ---- job ----------------------------------------------------------------------------------- */

static void print_job(const ns_job *j)
{
    char a[32], b[32], c[32];
    printf("job %lld: %s, %s", (long long)j->id, ns_job_kind_name(j->kind),
           ns_job_state_name(j->state));
    if (j->epochs > 0)
        printf(", epoch %lld/%lld", (long long)j->epoch, (long long)j->epochs);
    printf("\n  params    %s\n", j->params);
    printf("  attempts  %d (lease token %lld%s%s)\n", j->attempts, (long long)j->lease_token,
           j->worker[0] ? ", worker " : "", j->worker);
    printf("  created   %s, started %s, finished %s\n", when(j->created, a, sizeof a),
           when(j->started, b, sizeof b), when(j->finished, c, sizeof c));
    if (j->metrics != NULL)
        printf("  metrics   %s\n", j->metrics);
    if (j->checkpoint != NULL)
        printf("  checkpoint %s\n", j->checkpoint);
    if (j->result != NULL)
        printf("  result    %s\n", j->result);
    if (j->error != NULL)
        printf("  error     %s\n", j->error);
}

static bool job_id(const cli_args *a, int i, int64_t *id)
{
    char *end = NULL;
    long long v = a->n_pos > i ? strtoll(a->pos[i], &end, 10) : 0;
    if (a->n_pos <= i || end == a->pos[i] || *end != '\0' || v < 1) {
        cli_error("job", "expected a job number, got '%s'", a->n_pos > i ? a->pos[i] : "");
        return false;
    }
    *id = v;
    return true;
}

/* job submit KIND ...: the parameters from the flags, the run settings as for train. */
static int job_submit(session *s, cli_args *a, cli_run_flags *t)
{
    static const char *const kinds[] = {"train", "finetune", "evaluate", "pipeline"};
    if (a->n_pos != 2) {
        cli_error("job", "expected job submit train|finetune|evaluate|pipeline [options]");
        return CLI_USAGE;
    }
    ns_job_kind kind;
    if (ns_job_kind_parse(a->pos[1], &kind) != NS_OK) {
        cli_error("job", "unknown kind of job '%s'; use %s, %s, %s or %s", a->pos[1], kinds[0],
                  kinds[1], kinds[2], kinds[3]);
        return CLI_USAGE;
    }
    if (kind == NS_JOB_CARD) {
        cli_error("job", "card jobs are made by a pipeline's remote cards (execution: remote); "
                         "submit the pipeline instead (job submit pipeline --file P.yaml)");
        return CLI_USAGE;
    }
    ns_run_config *cfg = NULL;
    int rc = CLI_OK;
    if (ns_run_config_new(s->ctx, &cfg) != NS_OK)
        return cli_fail("job", s->ctx);
    if (cli_has(a, "--config") && ns_run_config_load(cfg, cli_get(a, "--config")) != NS_OK) {
        cli_error("job", "%s", ns_errmsg(s->ctx));
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK)
        rc = cli_run_flags_into(s->ctx, t, cfg);
    char *config = NULL;
    if (rc == CLI_OK && ns_run_config_to_json(cfg, &config) != NS_OK)
        rc = cli_fail("job", s->ctx);
    json_t *p = json_object();
    if (rc == CLI_OK) {
        json_t *c = load(config);
        json_object_set_new(p, "config", c != NULL ? c : json_object());
        static const char *const keys[][2] = {
            {"--model", "model"}, {"--data", "data"}, {"--from", "from"}, {"--to", "to"}};
        for (int i = 0; i < 4; i++)
            if (cli_has(a, keys[i][0]))
                json_object_set_new(p, keys[i][1], json_string(cli_get(a, keys[i][0])));
        if (cli_has(a, "--new-head"))
            json_object_set_new(p, "new_head", json_true());
        if (cli_has(a, "--refit-normalization"))
            json_object_set_new(p, "refit_normalization", json_true());
        if (cli_has(a, "--freeze")) {
            json_t *list = json_array();
            const char *f = cli_get(a, "--freeze");
            for (char *end = NULL; *f != '\0'; f = *end == ',' ? end + 1 : end) {
                long v = strtol(f, &end, 10);
                if (end == f || (*end != ',' && *end != '\0')) {
                    cli_error("job", "--freeze: expected layer numbers like 0,2, got '%s'",
                              cli_get(a, "--freeze"));
                    rc = CLI_USAGE;
                    break;
                }
                json_array_append_new(list, json_integer(v));
            }
            json_object_set_new(p, "freeze", list);
        }
        if (kind == NS_JOB_EVALUATE || kind == NS_JOB_PIPELINE)
            json_object_del(p, "config");
        if (kind == NS_JOB_PIPELINE) {
            char *text = NULL;
            size_t len = 0;
            if (!cli_has(a, "--file")) {
                cli_error("job", "job submit pipeline needs --file PIPELINE.yaml");
                rc = CLI_USAGE;
            } else if (ns_read_file(s->ctx, cli_get(a, "--file"), &text, &len) != NS_OK) {
                rc = cli_fail("job", s->ctx);
            } else {
                json_object_set_new(p, "pipeline", json_stringn(text, len));
                json_object_set_new(p, "source", json_string(cli_get(a, "--file")));
                if (cli_has(a, "--set"))
                    json_object_set_new(p, "set", json_pack("[s]", cli_get(a, "--set")));
            }
            ns_dealloc(s->ctx, text);
        }
    }
    long long priority = 0;
    if (rc == CLI_OK && cli_has(a, "--priority") &&
        !cli_int(a, "--priority", -1000000, 1000000, &priority))
        rc = CLI_USAGE;
    char *params = rc == CLI_OK ? json_dumps(p, JSON_COMPACT) : NULL;
    int64_t id = 0;
    if (rc == CLI_OK &&
        (params == NULL || ns_job_submit(s->store, kind, params, (int)priority, &id) != NS_OK))
        rc = cli_fail("job", s->ctx);
    if (rc == CLI_OK) {
        if (cli_has(a, "--json"))
            printf("{\"id\": %lld}\n", (long long)id);
        else
            printf("job %lld queued\n", (long long)id);
    }
    free(params);
    json_decref(p);
    ns_dealloc(s->ctx, config);
    ns_run_config_free(cfg);
    return rc;
}

static atomic_int stop_requested;
static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&stop_requested, 1);
}

/* job wait ID: until the job ends; 0 only if it succeeded. */
static int job_wait(session *s, const cli_args *a, int64_t id)
{
    signal(SIGINT, on_sigint);
    int64_t shown = -1;
    for (;;) {
        ns_job j;
        if (ns_job_get(s->store, id, &j) != NS_OK)
            return cli_fail("job", s->ctx);
        bool ended =
            j.state == NS_JOB_SUCCEEDED || j.state == NS_JOB_FAILED || j.state == NS_JOB_CANCELLED;
        if (!cli_has(a, "--json") && j.epoch != shown && j.epochs > 0 && !ended) {
            fprintf(stderr, "job %lld: epoch %lld/%lld\n", (long long)id, (long long)j.epoch,
                    (long long)j.epochs);
            shown = j.epoch;
        }
        if (ended) {
            if (cli_has(a, "--json")) {
                char *text = NULL;
                if (ns_job_to_json(s->ctx, &j, &text) == NS_OK)
                    printf("%s\n", text);
                ns_dealloc(s->ctx, text);
            } else {
                print_job(&j);
            }
            int rc = j.state == NS_JOB_SUCCEEDED ? CLI_OK : CLI_ERROR;
            ns_job_clear(&j);
            return rc;
        }
        ns_job_clear(&j);
        if (atomic_load(&stop_requested))
            return 130;
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
}

int cmd_job(int argc, char **argv)
{
    static const char job_usage[] =
        "submit train --model NAME --data NAME [-c run.yaml] [run settings as for train]\n"
        "       netsmith job submit finetune --from NAME[@V] --to NAME --data NAME [--freeze "
        "0,2] [--new-head] [-c run.yaml]\n"
        "       netsmith job submit evaluate --model NAME[@V] --data NAME\n"
        "       netsmith job submit pipeline --file PIPELINE.yaml [--set CARD.SETTING=VALUE]\n"
        "       netsmith job list [--state S] | show ID | cancel ID | retry ID | retrain ID "
        "[--from-weights] | wait ID";
    static const char job_about[] =
        "Jobs: trainings, fine-tunes and evaluations queued in the store and run by workers\n"
        "('netsmith worker'). A job is checked when it is submitted; a worker that dies leaves\n"
        "it to the next one, which resumes it from its last checkpoint. 'wait' blocks until\n"
        "the job ends and exits 0 only if it succeeded.";
    static const char *const owned[] = {"data", "run_dir", "checkpoint_dir", "resume", "output"};
    cli_run_flags *t = calloc(1, sizeof *t);
    if (t == NULL) {
        cli_error("job", "out of memory");
        return CLI_ERROR;
    }
    cli_run_flags_build(t, "job", "model", owned, 5);
    /* the job's own flags after the run settings' (--json is among those) */
    static const cli_flag own[] = {
        STORE_FLAG,
        {"--model", NULL, "NAME", "the model to train (train) or NAME[@V] to evaluate", NULL},
        {"--data", NULL, "NAME", "the dataset (by its name in the store)", NULL},
        {"--from", NULL, "NAME[@V]", "the version to fine-tune from (finetune)", NULL},
        {"--to", NULL, "NAME", "the model to fine-tune into, made if missing (finetune)", NULL},
        {"--freeze", NULL, "0,2", "layers whose weights stay as they are (finetune)", NULL},
        {"--new-head", NULL, NULL, "a new output layer when the output size differs (finetune)",
         NULL},
        {"--refit-normalization", NULL, NULL, "fit the normalisation on the new data (finetune)",
         NULL},
        {"--priority", NULL, "N", "higher runs first (default 0)", NULL},
        {"--state", NULL, "STATE", "list only jobs in this state", NULL},
        {"--from-weights", NULL, NULL, "retrain from the job's trained version", NULL},
        {"--file", NULL, "PIPELINE.yaml", "the pipeline a pipeline job runs", NULL},
        {"--set", NULL, "CARD.SETTING=VALUE", "change a setting of the pipeline (pipeline)", NULL}};
    for (size_t i = 0; i < sizeof own / sizeof own[0] && t->n < CLI_RUN_MAX_FLAGS; i++)
        t->flags[t->n++] = own[i];
    cli_args a = {"job", t->flags, t->n, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, job_usage, job_about, &done);
    if (rc != CLI_OK || done) {
        free(t);
        return rc;
    }
    static const char *const subs[] = {"submit", "list",    "show", "cancel",
                                       "retry",  "retrain", "wait"};
    int sub = need_sub(&a, "job", subs, 7);
    int64_t id = 0;
    if (sub < 0 || (sub >= 2 && !job_id(&a, 1, &id))) {
        free(t);
        return CLI_USAGE;
    }
    ns_job_state state = NS_JOB_STATE_COUNT;
    if (sub == 1 && cli_has(&a, "--state") &&
        ns_job_state_parse(cli_get(&a, "--state"), &state) != NS_OK) {
        cli_error("job",
                  "--state: unknown state '%s'; use queued, running, succeeded, failed or "
                  "cancelled",
                  cli_get(&a, "--state"));
        free(t);
        return CLI_USAGE;
    }
    session s;
    if ((rc = open_session(&s, &a, "job")) != CLI_OK) {
        free(t);
        return rc;
    }
    ns_status st = NS_OK;
    char *text = NULL;
    ns_job j;
    int64_t new_id = 0;
    switch (sub) {
    case 0:
        rc = job_submit(&s, &a, t);
        break;
    case 1:
        st = ns_job_list(s.store, state, &text);
        if (st == NS_OK && cli_has(&a, "--json")) {
            printf("%s\n", text);
        } else if (st == NS_OK) {
            json_t *all = load(text);
            size_t i;
            json_t *v;
            printf("%-6s %-9s %-10s %-12s %s\n", "id", "kind", "state", "progress", "params");
            json_array_foreach(all, i, v)
            {
                char prog[32] = "-",
                     *params = json_dumps(json_object_get(v, "params"), JSON_COMPACT);
                json_int_t e = json_integer_value(json_object_get(v, "epoch")),
                           n = json_integer_value(json_object_get(v, "epochs"));
                if (n > 0)
                    snprintf(prog, sizeof prog, "%lld/%lld", (long long)e, (long long)n);
                printf("%-6lld %-9s %-10s %-12s %.80s\n",
                       (long long)json_integer_value(json_object_get(v, "id")),
                       json_string_value(json_object_get(v, "kind")),
                       json_string_value(json_object_get(v, "state")), prog,
                       params != NULL ? params : "");
                free(params);
            }
            json_decref(all);
        }
        ns_dealloc(s.ctx, text);
        break;
    case 2:
        if ((st = ns_job_get(s.store, id, &j)) == NS_OK) {
            if (cli_has(&a, "--json")) {
                if ((st = ns_job_to_json(s.ctx, &j, &text)) == NS_OK)
                    printf("%s\n", text);
                ns_dealloc(s.ctx, text);
            } else {
                print_job(&j);
            }
            ns_job_clear(&j);
        }
        break;
    case 3:
        if ((st = ns_job_cancel(s.store, id)) == NS_OK)
            printf("job %lld: cancel asked\n", (long long)id);
        break;
    case 4:
        if ((st = ns_job_retry(s.store, id)) == NS_OK)
            printf("job %lld queued again (it resumes from its last checkpoint)\n", (long long)id);
        break;
    case 5:
        if ((st = ns_job_retrain(s.store, id, cli_has(&a, "--from-weights"), &new_id)) == NS_OK)
            printf("job %lld queued (a %s of job %lld)\n", (long long)new_id,
                   cli_has(&a, "--from-weights") ? "fine-tune from the version" : "retraining",
                   (long long)id);
        break;
    default:
        rc = job_wait(&s, &a, id);
        break;
    }
    if (st != NS_OK)
        rc = cli_fail("job", s.ctx);
    close_session(&s);
    free(t);
    return rc;
}

/* ---- worker -------------------------------------------------------------------------------- */

static atomic_int worker_stop;
static void on_worker_signal(int sig)
{
    (void)sig;
    atomic_store(&worker_stop, 1);
}

static void on_worker_event(void *ud, const ns_job *job, const ns_run_event *ev)
{
    (void)ud;
    if (ev->kind == NS_RUN_EPOCH && ev->report != NULL)
        fprintf(stderr, "job %lld: epoch %d/%d  loss %.4f\n", (long long)job->id,
                ev->report->epoch + 1, ev->report->epochs, ev->report->train.loss);
    else if (ev->kind == NS_RUN_RESUMED)
        fprintf(stderr, "job %lld: resumed from %s (epoch %lld)\n", (long long)job->id,
                ev->path != NULL ? ev->path : "its checkpoint", (long long)ev->epoch);
    else if (ev->kind == NS_RUN_FINISHED)
        fprintf(stderr, "job %lld: finished\n", (long long)job->id);
}

int cmd_worker(int argc, char **argv)
{
    static const char worker_usage[] =
        "[--store URL] [--jobs N] [--once] [--lease SECONDS] [--name NAME] [--work-dir DIR]";
    static const char worker_about[] =
        "Claims jobs from the store and runs them, one at a time, until stopped (SIGINT or\n"
        "SIGTERM stop it at the next batch; the job resumes on the next worker from its last\n"
        "checkpoint). --once stops when no job is waiting; --jobs N after N jobs.";
    cli_flag flags[] = {
        STORE_FLAG,
        {"--jobs", NULL, "N", "stop after N jobs (default: never)", NULL},
        {"--once", NULL, NULL, "stop when no job is waiting", NULL},
        {"--lease", NULL, "SECONDS", "the lease a claim holds (default 30)", NULL},
        {"--name", NULL, "NAME", "this worker's name (default: host:pid)", NULL},
        {"--work-dir", NULL, "DIR", "where jobs run (default: a temporary dir)", NULL},
        {"--checkpoint-steps", NULL, "N", "also checkpoint every N batches (default: every epoch)",
         NULL},
        {"--threads", NULL, "N", CLI_THREADS_HELP, NULL},
        {"--quiet", "-q", NULL, "print no progress", NULL}};
    cli_args a = {"worker", flags, 9, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, worker_usage, worker_about, &done);
    if (rc != CLI_OK || done)
        return rc;
    ns_worker_options o;
    ns_worker_options_default(&o);
    long long jobs = 0, steps = 0;
    if ((cli_has(&a, "--jobs") && !cli_int(&a, "--jobs", 1, 1000000000, &jobs)) ||
        (cli_has(&a, "--lease") && !cli_double(&a, "--lease", 0.5, 86400, &o.lease_seconds)) ||
        (cli_has(&a, "--checkpoint-steps") &&
         !cli_int(&a, "--checkpoint-steps", 1, 1000000000000LL, &steps)))
        return CLI_USAGE;
    o.jobs = (int)jobs;
    o.checkpoint_steps = steps;
    o.once = cli_has(&a, "--once");
    o.name = cli_get(&a, "--name");
    o.work_dir = cli_get(&a, "--work-dir");
    o.devices = cli_get(&a, "--device");
    if (!cli_has(&a, "--quiet"))
        o.on_event = on_worker_event;
    session s;
    if ((rc = open_session(&s, &a, "worker")) != CLI_OK)
        return rc;
    if ((rc = cli_threads(&a, 0, s.ctx)) != CLI_OK) {
        close_session(&s);
        return rc;
    }
    signal(SIGINT, on_worker_signal);
    signal(SIGTERM, on_worker_signal);
    ns_progress stop = {NULL, NULL, &worker_stop};
    o.stop = &stop;
    int ran = 0;
    ns_status st = ns_worker_run(s.store, &o, &ran);
    if (st == NS_ERR_CANCELLED)
        rc = 130;
    else if (st != NS_OK)
        rc = cli_fail("worker", s.ctx);
    if (!cli_has(&a, "--quiet"))
        fprintf(stderr, "worker: %d job%s run\n", ran, ran == 1 ? "" : "s");
    close_session(&s);
    return rc;
}

/* ---- apply --------------------------------------------------------------------------------- */

int cmd_apply(int argc, char **argv)
{
    static const char apply_usage[] = "-f OBJECTS.yaml [--store URL] [--json]";
    static const char apply_about[] =
        "Makes the objects of a file exist in the store: a YAML (or JSON) list of\n"
        "{kind, metadata: {name}, spec}, kind Architecture, Dataset, Model or ModelJob.\n"
        "Applying the same file again changes nothing; paths are from the file's directory.";
    cli_flag flags[] = {
        STORE_FLAG, JSON_FLAG, {"--file", "-f", "FILE", "the objects (YAML or JSON)", NULL}};
    cli_args a = {"apply", flags, 3, {0}, 0};
    bool done;
    int rc = cli_parse(&a, argc, argv, apply_usage, apply_about, &done);
    if (rc != CLI_OK || done)
        return rc;
    if (!cli_has(&a, "--file") || a.n_pos != 0) {
        cli_error("apply", "expected apply -f OBJECTS.yaml");
        return CLI_USAGE;
    }
    session s;
    if ((rc = open_session(&s, &a, "apply")) != CLI_OK)
        return rc;
    const char *path = cli_get(&a, "--file");
    char *text = NULL, *report = NULL;
    size_t n = 0;
    char base[1024] = "";
    const char *slash = strrchr(path, '/');
    if (slash != NULL)
        snprintf(base, sizeof base, "%.*s", (int)(slash - path), path);
    if (ns_read_file(s.ctx, path, &text, &n) != NS_OK ||
        ns_store_apply(s.store, text, n, path, base, &report) != NS_OK) {
        rc = cli_fail("apply", s.ctx);
    } else if (cli_has(&a, "--json")) {
        printf("%s\n", report);
    } else {
        json_t *all = load(report);
        size_t i;
        json_t *v;
        json_array_foreach(all, i, v)
            printf("%-13s %-24s %s\n", json_string_value(json_object_get(v, "kind")),
                   json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "action")));
        json_decref(all);
    }
    ns_dealloc(s.ctx, text);
    ns_dealloc(s.ctx, report);
    close_session(&s);
    return rc;
}
