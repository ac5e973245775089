/* The netsmith command line: shared pieces of the subcommands (flag parsing, data loading,
 * output). Exit status: 0 success, 1 runtime error, 2 usage error. */
#ifndef NETSMITH_APPS_CLI_H
#define NETSMITH_APPS_CLI_H

#include <stdio.h>

#include "netsmith/netsmith.h"
#include "netsmith/store.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* One flag of a subcommand. */
typedef struct cli_flag {
    const char *name;  /* "--epochs" */
    const char *alias; /* "-o" or NULL */
    const char *arg;   /* "N" when the flag takes a value, NULL for a switch */
    const char *help;  /* NULL: another name of a flag whose help names it (not listed) */
    const char *value; /* parsed: the value, or "1" for a switch given; NULL if absent */
} cli_flag;

/* A parsed command line: flags set in place, positional arguments collected. */
typedef struct cli_args {
    const char *cmd;
    cli_flag *flags;
    int n_flags;
    const char *pos[8];
    int n_pos;
} cli_args;

/* Parses argv (after the subcommand name). --help prints usage and returns CLI_OK with
 * *done set; unknown flags or missing values print a one-line message and return CLI_USAGE. */
int cli_parse(cli_args *a, int argc, char **argv, const char *usage, const char *about,
              bool *done);
const char *cli_get(const cli_args *a, const char *name);
bool cli_has(const cli_args *a, const char *name);
/* Strict number parsing of a flag's value; on failure prints the message and returns false. */
bool cli_int(const cli_args *a, const char *name, long long lo, long long hi, long long *out);
bool cli_double(const cli_args *a, const char *name, double lo, double hi, double *out);

/* The help of --threads N, a flag of every command that trains or evaluates (train, eval,
 * predict, run, card); cli_threads reads and applies it. */
#define CLI_THREADS_HELP "threads for training and evaluation (default: CPU count, at most 8)"

/* Threads for ctx: --threads N (1 to NS_MAX_THREADS), else fallback when it is 1 or more (a
 * run config's value), else the online CPU count, at most 8. The context's own pool does the
 * splitting, so OpenBLAS is set to 1 thread (a process-wide setting, which the command may
 * make and the library never does). Results do not depend on N. Returns CLI_OK or, after a
 * message naming --threads, CLI_USAGE. */
int cli_threads(const cli_args *a, int fallback, ns_ctx *ctx);

/* Reads --input-size N or --input-shape A,B,C into bo (ns_build_opts_default, then the shape;
 * neither gives size 1). *given (may be NULL) says whether either flag was. Returns CLI_OK
 * or, after a message, CLI_USAGE: both given, neither when required, or a bad number. */
int cli_input_shape(const cli_args *a, bool required, ns_build_opts *bo, bool *given);

/* Prints "netsmith CMD: message" to stderr (one line). */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the context's message for a failed call and returns CLI_ERROR. */
int cli_fail(const char *cmd, ns_ctx *ctx);

/* Checks the arguments of a subcommand run as "CMD MODEL --data DATA" (eval, predict): one
 * positional MODEL file and --data. Sets *source to --data's value; returns CLI_OK or, after
 * a message, CLI_USAGE. */
int cli_model_and_data(const cli_args *a, const char **source);

/* The data read options from the flags a command has (each the Data Load card's setting of
 * the same name, with dashes): --target, --features, --exclude, --labels, --task, --one-hot,
 * --delimiter, --missing, --no-header, --max-classes; source is the data source. An error
 * (a bad value) names the flag. */
ns_status cli_data_options(ns_ctx *ctx, const cli_args *a, const char *source,
                           ns_data_options *o);

/* The flag table rows of the data read options, for a command's flags[] (eval, predict;
 * train may use them too). */
#define CLI_DATA_FLAGS                                                                        \
    {"--features", NULL, "COLS", "feature columns in order (default: all but target, excluded)", \
     NULL},                                                                                   \
        {"--exclude", NULL, "COLS", "columns to leave out", NULL},                            \
        {"--one-hot", NULL, NULL, "turn text feature columns into one 0/1 column per value",  \
         NULL},                                                                               \
        {"--delimiter", NULL, "CHAR", "the CSV delimiter: ',' ';' or tab (default: detected)", \
         NULL},                                                                               \
        {"--missing", NULL, "HOW", "missing values: error, drop or fill_mean (default: error)", \
         NULL}

/* Gives each read-option flag (--one-hot, --features, ...) its run setting's documentation as
 * its help: one text for a setting in every command's --help. */
void cli_data_help(cli_flag *flags, int n);

/* Loads DATA (built-in name, CSV path, or IDX images file) with the read options of
 * cli_data_options (ns_data_open). *test gets an official test set when there is one. */
ns_status cli_load_data(ns_ctx *ctx, const cli_args *a, const char *source, ns_dataset **data,
                        ns_dataset **test);

/* Prints metrics as an aligned table row set: "name  value" per metric that applies. */
void cli_print_metrics(FILE *f, const char *title, const ns_metric_values *v);

/* The run settings as flags (cli_run_flags.c): -c FILE, every setting of the settings table as
 * --name-with-dashes (and --no-NAME for a switch on by default), its plain aliases, and
 * --schema, --json, --quiet. */
#define CLI_RUN_MAX_FLAGS 160
typedef struct cli_run_flags {
    const char *cmd;                        /* the command, for messages */
    cli_flag flags[CLI_RUN_MAX_FLAGS];
    const char *setting[CLI_RUN_MAX_FLAGS]; /* the setting a flag sets (NULL: the command's own) */
    bool negates[CLI_RUN_MAX_FLAGS];        /* a switch --no-NAME that turns NAME off */
    char names[CLI_RUN_MAX_FLAGS][64];
    char help[CLI_RUN_MAX_FLAGS][200];
    int n;
} cli_run_flags;
/* Builds the table for cmd, leaving out positional (the setting a positional argument gives,
 * or NULL) and the settings skip[n_skip] (the command sets them itself). */
void cli_run_flags_build(cli_run_flags *t, const char *cmd, const char *positional,
                         const char *const *skip, int n_skip);
/* The settings flags given, into cfg (after a file, so they win). CLI_OK or, after a message,
 * CLI_USAGE. */
int cli_run_flags_into(ns_ctx *ctx, const cli_run_flags *t, ns_run_config *cfg);

/* Prints a spec's layers (with output shapes and parameter counts when have_input; bo holds
 * the input and output sizes) and its training settings under title ("spec PATH"), as
 * `netsmith inspect` does. Returns CLI_OK or, after cmd's message, CLI_ERROR. */
int cli_print_spec(ns_ctx *ctx, const char *cmd, const char *title, const ns_spec *spec,
                   ns_build_opts *bo, bool have_input);

/* Subcommands. */
int cmd_define(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_datasets(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_card(int argc, char **argv);
int cmd_cards(int argc, char **argv);
int cmd_arch(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_job(int argc, char **argv);
/* ---- the store's commands (cmd_store.c) ---- */
#define STORE_FLAG                                                                                 \
    {                                                                                              \
        "--store", NULL, "URL",                                                                    \
            "the store: sqlite:PATH or postgresql://... (default: $NETSMITH_STORE, else "          \
            "sqlite:netsmith.db)",                                                                 \
            NULL                                                                                   \
    }
#define JSON_FLAG                                                                                  \
    {                                                                                              \
        "--json", NULL, NULL, "print the store's JSON", NULL                                       \
    }

/* A command's context and store, opened from --store. */
typedef struct session {
    const char *cmd;
    ns_ctx *ctx;
    ns_store *store;
} session;

int open_session(session *s, const cli_args *a, const char *cmd);
void close_session(session *s);

/* ---- export (cmd_export.c), for `netsmith export` and `netsmith model export` ---- */
#define EXPORT_FLAGS                                                                               \
    {"--format", NULL, "FORMAT", "onnx or c (default: from OUT's extension)", NULL},             \
        {"--name", NULL, "NAME", "c: the prefix of the C names (default: OUT's base name)",       \
         NULL},                                                                                    \
        {"--opset", NULL, "N", "onnx: the opset, 13 to 17 (default 17)", NULL}
/* The export options from --format (else out's extension), --name and --opset. CLI_OK or,
 * after a message naming the flag, CLI_USAGE. */
int cli_export_options(const cli_args *a, const char *cmd, const char *out, ns_ctx *ctx,
                       ns_export_options *o);
/* "exported WHAT to A and B" on stderr, from ns_export_write's written paths. */
void cli_export_report(const char *what, char written[2][4096]);

int cmd_worker(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_study(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_apply(int argc, char **argv);

#endif
