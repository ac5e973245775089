/* The netsmith command line: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} commands[] = {
    {"define", cmd_define, "write a model spec (the Model Define card)"},
    {"build", cmd_build, "build a model from a spec for an input size"},
    {"train", cmd_train, "train a spec or model on data (the Train card)"},
    {"eval", cmd_eval, "evaluate a model on data"},
    {"predict", cmd_predict, "predict with a model"},
    {"export", cmd_export, "export a model as ONNX or as C source"},
    {"inspect", cmd_inspect, "show a spec's or model's layers, shapes and settings"},
    {"layers", cmd_layers, "list the layer kinds and their settings"},
    {"datasets", cmd_datasets, "list the built-in datasets"},
    {"run", cmd_run, "check and run a pipeline file of cards"},
    {"card", cmd_card, "run one card alone over files"},
    {"cards", cmd_cards, "list the cards pipelines can use"},
    {"arch", cmd_arch, "architectures in the store: add, list, show"},
    {"data", cmd_data, "datasets in the store: add, list, show"},
    {"model", cmd_model, "models in the store: create, import, export, versions, aliases"},
    {"job", cmd_job, "jobs in the queue: submit, list, show, wait, cancel, retry, retrain"},
    {"worker", cmd_worker, "claim and run jobs from the store"},
    {"tune", cmd_tune, "run a study: trials from a search space, sampled and pruned"},
    {"study", cmd_study, "studies in the store: list, show, best"},
    {"apply", cmd_apply, "make the objects of a file exist in the store"},
    {"serve", cmd_serve, "serve the JSON API, live events and the web UI, with workers"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: netsmith [--version] [--help] COMMAND [ARGS]\n\n"
               "Build and train neural networks from small JSON blueprints.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].about);
    fprintf(f, "\n'netsmith COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("netsmith %s\nkernels: %s\n", ns_version(), ns_kernel_path());
        return CLI_OK;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "netsmith: unknown command '%s'; see 'netsmith --help'\n", argv[1]);
    return CLI_USAGE;
}
